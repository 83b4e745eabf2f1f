# etcd tests: the provider and transport against real 3-member clusters of
# Debian's etcd (3.4), all labelled "etcd". Each test executable starts its
# own cluster on free loopback ports (etcd_harness.c) and stops it by PID;
# the contract suite, which only takes a store URI, runs inside a CTest
# fixture that starts a cluster before it and kills it after it, also when
# it fails. RESOURCE_LOCK keeps the clusters from competing for the CPU.
set(ETCD_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

add_library(orbit_etcd_harness STATIC ${ETCD_TEST_DIR}/etcd_harness.c)
target_include_directories(orbit_etcd_harness PUBLIC ${ETCD_TEST_DIR} ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(orbit_etcd_harness PUBLIC orbit)

add_executable(etcd_cluster ${ETCD_TEST_DIR}/etcd_cluster_main.c)
target_link_libraries(etcd_cluster PRIVATE orbit_etcd_harness)

foreach(t basic)
  orbit_test_exe(test_etcd_${t} ${ETCD_TEST_DIR}/test_etcd_${t}.c)
  target_link_libraries(test_etcd_${t} PRIVATE orbit_etcd_harness)
  add_test(NAME etcd/${t} COMMAND test_etcd_${t})
  set_tests_properties(etcd/${t} PROPERTIES TIMEOUT 240 LABELS etcd RESOURCE_LOCK etcd)
endforeach()
