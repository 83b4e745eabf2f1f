# Model tests (tests/model/): every data model and the cross-model
# transactions, through the contract only, on every provider.
#
# Each test_<name>.c here is one executable (model_<name>) driven by a store
# URI template (mt.h), registered once per provider below:
#   model/<name>/memory     memory:?txn=optimistic
#   model/<name>/rocksdb    rocksdb:{tmp}?txn=pessimistic
#   model/<name>/rocksdb-optimistic   rocksdb:{tmp}?txn=optimistic (the default)
#   model/<name>/etcd       the etcd fixture cluster (tests/etcd), optimistic
# A new provider (TiKV) is one more add_test in the loop below.
set(_mt ${CMAKE_CURRENT_LIST_DIR})
add_library(orbit_model_harness STATIC ${_mt}/mt.c ${CMAKE_SOURCE_DIR}/tests/contract/suite.c)
target_include_directories(orbit_model_harness PUBLIC ${_mt} ${CMAKE_SOURCE_DIR}/tests/contract)
target_link_libraries(orbit_model_harness PUBLIC orbit_test_support)
add_dependencies(orbit_model_harness orbit)

file(GLOB ORBIT_MODEL_TESTS CONFIGURE_DEPENDS ${_mt}/test_*.c)
foreach(src ${ORBIT_MODEL_TESTS})
  get_filename_component(name ${src} NAME_WE)
  string(REGEX REPLACE "^test_" "" name ${name})
  orbit_test_exe(model_${name} ${src})
  target_link_libraries(model_${name} PRIVATE orbit_model_harness)

  add_test(NAME model/${name}/memory
           COMMAND model_${name} --store "memory:?txn=optimistic")
  set_tests_properties(model/${name}/memory PROPERTIES TIMEOUT 300 LABELS "model;tsan")
  add_test(NAME model/${name}/rocksdb
           COMMAND model_${name} --store "rocksdb:{tmp}?txn=pessimistic")
  set_tests_properties(model/${name}/rocksdb PROPERTIES TIMEOUT 300 LABELS "model")
  # RocksDB's default mode, where the models' untracked writes skip validation
  add_test(NAME model/${name}/rocksdb-optimistic
           COMMAND model_${name} --store "rocksdb:{tmp}?txn=optimistic")
  set_tests_properties(model/${name}/rocksdb-optimistic PROPERTIES TIMEOUT 300 LABELS "model")
  if(ORBIT_WITH_ETCD AND TARGET etcd_cluster)
    add_test(NAME model/${name}/etcd
             COMMAND etcd_cluster run ${ETCD_CLUSTER_FILE} -- $<TARGET_FILE:model_${name}>
                     --store ${ETCD_CT_STORE} --txn-mode optimistic)
    set_tests_properties(model/${name}/etcd PROPERTIES FIXTURES_REQUIRED etcd_cluster
                         TIMEOUT 400 LABELS "model;etcd" RESOURCE_LOCK etcd)
  endif()
endforeach()
