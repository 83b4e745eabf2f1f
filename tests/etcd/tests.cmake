# etcd tests: the provider and transport against real 3-member clusters of
# Debian's etcd (3.4), all labelled "etcd". Each test executable starts its
# own cluster on free loopback ports (etcd_harness.c) and stops it by PID;
# the contract suite, which only takes a store URI, runs inside a CTest
# fixture that starts a cluster before it and kills it after it, also when
# it fails. RESOURCE_LOCK keeps the clusters from competing for the CPU.
set(ETCD_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

add_library(orbit_etcd_harness STATIC ${ETCD_TEST_DIR}/etcd_harness.c)
target_include_directories(orbit_etcd_harness PUBLIC ${ETCD_TEST_DIR} ${CMAKE_SOURCE_DIR}/src)
target_include_directories(orbit_etcd_harness PUBLIC
                           $<TARGET_PROPERTY:orbit,INTERFACE_INCLUDE_DIRECTORIES>)

add_executable(etcd_cluster ${ETCD_TEST_DIR}/etcd_cluster_main.c)
# It takes only orbit's usage requirements, so say that the generated proto
# headers it includes come first.
add_dependencies(orbit_etcd_harness orbit)
target_link_libraries(etcd_cluster PRIVATE orbit_etcd_harness orbit)

foreach(t basic faults writes compact)
  orbit_test_exe(test_etcd_${t} ${ETCD_TEST_DIR}/test_etcd_${t}.c)
  target_link_libraries(test_etcd_${t} PRIVATE orbit_etcd_harness)
  add_test(NAME etcd/${t} COMMAND test_etcd_${t})
  set_tests_properties(etcd/${t} PROPERTIES TIMEOUT 240 LABELS etcd RESOURCE_LOCK etcd)
endforeach()

# Failing fast (test_etcd_connect.c): refused ports, bad endpoints, a failed
# DNS lookup, and one single-member cluster whose member is killed.
orbit_test_exe(test_etcd_connect ${ETCD_TEST_DIR}/test_etcd_connect.c)
target_link_libraries(test_etcd_connect PRIVATE orbit_etcd_harness)
add_test(NAME etcd/connect COMMAND test_etcd_connect)
set_tests_properties(etcd/connect PROPERTIES TIMEOUT 120 LABELS etcd RESOURCE_LOCK etcd)

# The shared cluster for URI-driven suites: started before, killed after.
set(ETCD_CLUSTER_FILE ${CMAKE_CURRENT_BINARY_DIR}/etcd_cluster.txt)
add_test(NAME etcd/cluster-start COMMAND etcd_cluster start ${ETCD_CLUSTER_FILE})
set_tests_properties(etcd/cluster-start PROPERTIES FIXTURES_SETUP etcd_cluster
                     TIMEOUT 90 LABELS etcd RESOURCE_LOCK etcd)
add_test(NAME etcd/cluster-stop COMMAND etcd_cluster stop ${ETCD_CLUSTER_FILE})
set_tests_properties(etcd/cluster-stop PROPERTIES FIXTURES_CLEANUP etcd_cluster
                     TIMEOUT 60 LABELS etcd)

# The cross-provider contract suites (tests/contract) on the fixture cluster.
# etcd transactions are optimistic (the commit reports ECONFLICT). The
# fixture runs etcd with --max-request-bytes 8 MiB and the URI says so,
# because the suite writes two 1 MiB values in one atomic batch, over etcd's
# default 1.5 MiB request limit (that limit itself is tested in etcd/basic).
# contract/etcd runs the deterministic cases ("test_*"); the randomized
# comparison with the memory oracle (the "ct_test_random*" cases) is
# contract-random/etcd, with more steps than the default.
#
# etcd differs from the oracle in one documented way, and whether it does
# is provider-defined. A change that leaves a key absent does not conflict
# with a transaction that saw the key absent and writes it or reads it for
# update. Two changes do this: a delete of an absent key, which makes no
# revision, and a create then delete, after which mod_revision is 0 again.
# The oracle writes a tombstone for each delete and reports ECONFLICT.
# --absent-changes-conflict no accepts exactly that difference: each key
# that conflicted in the oracle must be absent both at the transaction's
# begin and now. Every other difference still fails. Each run prints how
# many commits it accepted that way (see contract_random.c).
set(ETCD_CT_STORE "etcd://{endpoints}?namespace={uniq}/&max_request_bytes=8388608")
if(TARGET contract_suite)
  add_test(NAME contract/etcd
           COMMAND etcd_cluster run ${ETCD_CLUSTER_FILE} -- $<TARGET_FILE:contract_suite>
                   --store ${ETCD_CT_STORE} --oracle "memory:?txn=optimistic"
                   --txn-mode optimistic --filter "test_*")
  set_tests_properties(contract/etcd PROPERTIES FIXTURES_REQUIRED etcd_cluster
                       TIMEOUT 400 LABELS "contract;etcd" RESOURCE_LOCK etcd)
  add_test(NAME contract-random/etcd
           COMMAND etcd_cluster run ${ETCD_CLUSTER_FILE} -- $<TARGET_FILE:contract_suite>
                   --store ${ETCD_CT_STORE} --oracle "memory:?txn=optimistic"
                   --txn-mode optimistic --absent-changes-conflict no
                   --filter "ct_test_random*" --steps 20000)
  set_tests_properties(contract-random/etcd PROPERTIES FIXTURES_REQUIRED etcd_cluster
                       TIMEOUT 300 LABELS "contract;etcd" RESOURCE_LOCK etcd)
endif()
if(TARGET contract_concurrency)
  add_test(NAME contract-concurrency/etcd
           COMMAND etcd_cluster run ${ETCD_CLUSTER_FILE} -- $<TARGET_FILE:contract_concurrency>
                   --store ${ETCD_CT_STORE} --txn-mode optimistic --iters 1000)
  set_tests_properties(contract-concurrency/etcd PROPERTIES FIXTURES_REQUIRED etcd_cluster
                       TIMEOUT 300 LABELS "contract;etcd" RESOURCE_LOCK etcd)
endif()
if(TARGET contract_crash)
  add_test(NAME contract-crash/etcd
           COMMAND etcd_cluster run ${ETCD_CLUSTER_FILE} -- $<TARGET_FILE:contract_crash>
                   --store ${ETCD_CT_STORE})
  set_tests_properties(contract-crash/etcd PROPERTIES FIXTURES_REQUIRED etcd_cluster
                       TIMEOUT 300 LABELS "contract;etcd" RESOURCE_LOCK etcd
                       SKIP_RETURN_CODE 77)
endif()

# ---- ThreadSanitizer (s3-tsan): these also run in the TSan build (label
# "tsan"; tests/tsan.supp hides only what happens inside the uninstrumented
# gRPC/Abseil/OpenSSL libraries): group commit and async calls from many
# threads, concurrent contract clients, and load while the leader is killed.
foreach(t etcd/writes contract-concurrency/etcd etcd/faults)
  if(TEST ${t})
    set_property(TEST ${t} APPEND PROPERTY LABELS tsan)
  endif()
endforeach()
# ---- end ThreadSanitizer
