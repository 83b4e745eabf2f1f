# The PD/TiKV test cluster (tests/tikv/README.md): cluster.py, a Python
# gRPC fixture on Debian's python3-grpcio, and tikv_harness, the C library
# that starts it for the TiKV provider's tests (link orbit_tikv_harness).
# tikv_cluster is the CTest fixture program for suites that take a store
# URI. Everything here is labelled "tikv". RESOURCE_LOCK keeps clusters from
# competing for the CPU.
set(TIKV_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

add_library(orbit_tikv_harness STATIC ${TIKV_TEST_DIR}/tikv_harness.c)
target_include_directories(orbit_tikv_harness PUBLIC ${TIKV_TEST_DIR} ${CMAKE_SOURCE_DIR}/src)
target_include_directories(orbit_tikv_harness PUBLIC
                           $<TARGET_PROPERTY:orbit,INTERFACE_INCLUDE_DIRECTORIES>)
target_compile_definitions(orbit_tikv_harness PRIVATE TH_CLUSTER_PY="${TIKV_TEST_DIR}/cluster.py")
target_link_libraries(orbit_tikv_harness PUBLIC PkgConfig::JANSSON)
add_dependencies(orbit_tikv_harness orbit)

add_executable(tikv_cluster ${TIKV_TEST_DIR}/tikv_cluster_main.c)
target_link_libraries(tikv_cluster PRIVATE orbit_tikv_harness)

# The fixture's own test, over gRPC from Python: routing errors, Percolator
# 2PC, conflicts, lock resolution, 1PC, async commit, pessimistic locks,
# RawKV and every fault.
add_test(NAME tikv/cluster-selftest COMMAND /usr/bin/python3 ${TIKV_TEST_DIR}/test_cluster.py)
set_tests_properties(tikv/cluster-selftest PROPERTIES TIMEOUT 120 LABELS tikv RESOURCE_LOCK tikv)

# The harness and the protoc-c messages against the cluster, through src/rpc.
orbit_test_exe(test_tikv_harness ${TIKV_TEST_DIR}/test_tikv_harness.c)
target_link_libraries(test_tikv_harness PRIVATE orbit_tikv_harness)
add_test(NAME tikv/harness COMMAND test_tikv_harness)
set_tests_properties(tikv/harness PROPERTIES TIMEOUT 120 LABELS tikv RESOURCE_LOCK tikv)

# The shared cluster for URI-driven suites (the contract suite on the TiKV
# provider): started before, killed after, also when they fail. A suite
# registers with FIXTURES_REQUIRED tikv_cluster and runs through
#   tikv_cluster run ${TIKV_CLUSTER_FILE} -- CMD ... "tikv://{pd}" ...
# which also lets tikv_harness in CMD attach to it (faults and counters).
# Three stores, regions split at "g" and "t" (transactional keys).
set(TIKV_CLUSTER_FILE ${CMAKE_CURRENT_BINARY_DIR}/tikv_cluster.txt)
add_test(NAME tikv/cluster-start COMMAND tikv_cluster start ${TIKV_CLUSTER_FILE} --split g,t)
set_tests_properties(tikv/cluster-start PROPERTIES FIXTURES_SETUP tikv_cluster
                     TIMEOUT 60 LABELS tikv RESOURCE_LOCK tikv)
add_test(NAME tikv/cluster-stop COMMAND tikv_cluster stop ${TIKV_CLUSTER_FILE})
set_tests_properties(tikv/cluster-stop PROPERTIES FIXTURES_CLEANUP tikv_cluster
                     TIMEOUT 60 LABELS tikv)

# ---- TiKV transactions (tk-txn): src/providers/tikv/txn*.c on the test
# cluster (tests/tikv/test_tikv_txn.c): round trips of 1PC, async commit
# and 2PC, clients killed between prewrite and commit, conflicts, lock
# waits, heartbeats, versions and bank transfers. It starts its own cluster
# (regions split at F, P and Z) unless ORBIT_TEST_TIKV_PD names a real one.
orbit_test_exe(test_tikv_txn ${TIKV_TEST_DIR}/test_tikv_txn.c)
target_link_libraries(test_tikv_txn PRIVATE orbit_tikv_harness)
add_test(NAME tikv/txn COMMAND test_tikv_txn)
set_tests_properties(tikv/txn PROPERTIES TIMEOUT 300 LABELS tikv RESOURCE_LOCK tikv)
# ---- end TiKV transactions

# ---- the contract suite and the model tests on txn mode, on the shared
# cluster; each store gets its own namespace, so cases share the cluster.
foreach(m optimistic pessimistic)
  set(_tk_store "tikv://{pd}?txn=${m}&namespace={uniq}/")
  if(TARGET contract_suite)
    add_test(NAME contract/tikv-${m}
             COMMAND tikv_cluster run ${TIKV_CLUSTER_FILE} -- $<TARGET_FILE:contract_suite>
                     --store ${_tk_store} --oracle "memory:?txn=${m}" --txn-mode ${m}
                     --filter "test_*")
    add_test(NAME contract-random/tikv-${m}
             COMMAND tikv_cluster run ${TIKV_CLUSTER_FILE} -- $<TARGET_FILE:contract_suite>
                     --store ${_tk_store} --oracle "memory:?txn=${m}" --txn-mode ${m}
                     --filter "ct_test_random*" --steps 3000)
    set_tests_properties(contract/tikv-${m} contract-random/tikv-${m} PROPERTIES
                         FIXTURES_REQUIRED tikv_cluster TIMEOUT 400 LABELS "contract;tikv"
                         RESOURCE_LOCK tikv)
  endif()
  if(TARGET contract_concurrency)
    add_test(NAME contract-concurrency/tikv-${m}
             COMMAND tikv_cluster run ${TIKV_CLUSTER_FILE} -- $<TARGET_FILE:contract_concurrency>
                     --store ${_tk_store} --txn-mode ${m} --iters 200)
    set_tests_properties(contract-concurrency/tikv-${m} PROPERTIES
                         FIXTURES_REQUIRED tikv_cluster TIMEOUT 300 LABELS "contract;tikv"
                         RESOURCE_LOCK tikv)
  endif()
endforeach()
foreach(src ${ORBIT_MODEL_TESTS})
  get_filename_component(name ${src} NAME_WE)
  string(REGEX REPLACE "^test_" "" name ${name})
  add_test(NAME model/${name}/tikv
           COMMAND tikv_cluster run ${TIKV_CLUSTER_FILE} -- $<TARGET_FILE:model_${name}>
                   --store "tikv://{pd}?txn=pessimistic&namespace={uniq}/" --txn-mode pessimistic)
  set_tests_properties(model/${name}/tikv PROPERTIES FIXTURES_REQUIRED tikv_cluster TIMEOUT 300
                       LABELS "model;tikv" RESOURCE_LOCK tikv)
endforeach()
# ---- end contract and model tests on TiKV txn mode

# ---- TiKV faults (tk-faults): txn mode under region splits and leader
# moves with concurrent load, a stopped store, a randomized comparison with
# the memory: provider while faults are injected, and the GC safe point
# (tests/tikv/test_tikv_faults.c). It starts its own cluster (regions split
# at F, P and Z); on a real cluster (ORBIT_TEST_TIKV_PD) every case skips.
# ORBIT_TEST_SEED replays the randomized parts.
orbit_test_exe(test_tikv_faults ${TIKV_TEST_DIR}/test_tikv_faults.c)
target_link_libraries(test_tikv_faults PRIVATE orbit_tikv_harness)
add_test(NAME tikv/faults COMMAND test_tikv_faults)
set_tests_properties(tikv/faults PROPERTIES TIMEOUT 180 LABELS tikv RESOURCE_LOCK tikv)
# ---- end TiKV faults

# ---- orbitd on TiKV txn mode: the server's black-box suites
# (tests/server/) against the shared cluster, where orbitd takes the
# asynchronous path (the provider's native submit, async.c). As on etcd,
# the provider-independent process cases are left out (--skip-process);
# test_cli.sh runs a shorter redis-benchmark here (the cluster is a Python
# process serving a few hundred requests a second).
if(TARGET orbitd)
  set(_srv_tikv "tikv://{pd}?namespace={uniq}/")
  add_test(NAME server/python/tikv
           COMMAND tikv_cluster run ${TIKV_CLUSTER_FILE} -- /usr/bin/python3
                   ${CMAKE_SOURCE_DIR}/tests/server/test_server.py $<TARGET_FILE:orbitd>
                   --store ${_srv_tikv} --skip-process)
  add_test(NAME server/cli/tikv
           COMMAND tikv_cluster run ${TIKV_CLUSTER_FILE} -- bash
                   ${CMAKE_SOURCE_DIR}/tests/server/test_cli.sh $<TARGET_FILE:orbitd> ${_srv_tikv})
  add_test(NAME server/models/tikv
           COMMAND tikv_cluster run ${TIKV_CLUSTER_FILE} -- /usr/bin/python3
                   ${CMAKE_SOURCE_DIR}/tests/server/test_models.py $<TARGET_FILE:orbitd>
                   --store ${_srv_tikv})
  set_tests_properties(server/python/tikv server/cli/tikv server/models/tikv PROPERTIES
                       FIXTURES_REQUIRED tikv_cluster TIMEOUT 300
                       LABELS "server;tikv" RESOURCE_LOCK tikv)
endif()
# ---- end orbitd on TiKV

# ---- ThreadSanitizer (s3-tsan): these also run in the TSan build (label
# "tsan"; tests/tsan.supp hides only what happens inside the uninstrumented
# gRPC/Abseil/OpenSSL libraries): the transport over TLS and plaintext
# (tikv/harness), the transaction paths (TSO stream, heartbeats,
# background commits), the contract suite on one mode and concurrent
# contract clients on both. tikv/routing and the raw contract cases are
# labelled in tests/CMakeLists.txt, where they are registered; tikv/faults
# (lost answers, resends, splits and leader moves under load) too.
foreach(t tikv/harness tikv/txn tikv/faults contract/tikv-optimistic
          contract-concurrency/tikv-optimistic
          contract-concurrency/tikv-pessimistic)
  if(TEST ${t})
    set_property(TEST ${t} APPEND PROPERTY LABELS tsan)
  endif()
endforeach()
# ---- end ThreadSanitizer
