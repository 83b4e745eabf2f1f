# The provider contract suite: the same tests against every provider.
#
# Three executables, each driven by a store URI template ({tmp}: a fresh temp
# directory per store, removed afterwards; {uniq}: a unique token per store,
# for a remote provider's namespace option):
#   contract_suite        deterministic cases ("test_*", every call of kv.h,
#                         contract v2 included, honouring the capabilities)
#                         + randomized lockstep comparison ("ct_test_random*")
#                         with an oracle store (--oracle), which is itself
#                         checked against an independent model in the test
#   contract_concurrency  threads hammering one handle, checked against models
#   contract_crash        SIGKILLed writer, acknowledged writes must survive
#                         (skips, exit 77, for a non-durable provider)
# The conflict rule (pessimistic / optimistic) is read from the URI's txn=
# option; a provider without that option passes --txn-mode to say which. A
# provider whose changes to absent keys do not conflict with transactions
# (etcd: a delete of an absent key makes no revision) passes
# --absent-changes-conflict no; the randomized comparison then accepts that
# one difference, checked key by key (contract_random.c).
#
# Adding a provider is one line per function, e.g. for etcd:
#   orbit_contract_suite(etcd "etcd://127.0.0.1:2379?namespace={uniq}"
#                        "memory:?txn=optimistic" --txn-mode optimistic)
# and set_tests_properties(contract/etcd PROPERTIES FIXTURES_REQUIRED ...)
# for whatever starts the server.

set(_ct ${CMAKE_CURRENT_LIST_DIR})

orbit_test_exe(contract_suite ${_ct}/contract.c ${_ct}/contract_random.c
               ${_ct}/suite.c)
orbit_test_exe(contract_concurrency ${_ct}/contract_concurrency.c ${_ct}/suite.c)
orbit_test_exe(contract_crash ${_ct}/contract_crash.c ${_ct}/suite.c)

# orbit_contract_suite(NAME STORE_TEMPLATE ORACLE_TEMPLATE [EXTRA_ARGS...])
function(orbit_contract_suite name store oracle)
  add_test(NAME contract/${name}
           COMMAND contract_suite --store ${store} --oracle ${oracle} ${ARGN})
  set_tests_properties(contract/${name} PROPERTIES TIMEOUT 300
                       LABELS "contract")
endfunction()

# orbit_contract_concurrency(NAME STORE_TEMPLATE [EXTRA_ARGS...])
function(orbit_contract_concurrency name store)
  add_test(NAME contract-concurrency/${name}
           COMMAND contract_concurrency --store ${store} ${ARGN})
  set_tests_properties(contract-concurrency/${name} PROPERTIES TIMEOUT 300
                       LABELS "contract;tsan")
endfunction()

# orbit_contract_crash(NAME STORE_TEMPLATE [EXTRA_ARGS...])
function(orbit_contract_crash name store)
  add_test(NAME contract-crash/${name}
           COMMAND contract_crash --store ${store} ${ARGN})
  set_tests_properties(contract-crash/${name} PROPERTIES TIMEOUT 300
                       LABELS "contract" SKIP_RETURN_CODE 77)
endfunction()

orbit_contract_suite(memory-pessimistic "memory:?txn=pessimistic"
                     "memory:?txn=pessimistic")
orbit_contract_suite(memory-optimistic "memory:?txn=optimistic"
                     "memory:?txn=optimistic")
orbit_contract_suite(rocksdb-pessimistic "rocksdb:{tmp}?txn=pessimistic"
                     "memory:?txn=pessimistic")
orbit_contract_suite(rocksdb-optimistic "rocksdb:{tmp}?txn=optimistic"
                     "memory:?txn=optimistic")

orbit_contract_concurrency(memory-pessimistic "memory:?txn=pessimistic")
orbit_contract_concurrency(memory-optimistic "memory:?txn=optimistic")
orbit_contract_concurrency(rocksdb-pessimistic "rocksdb:{tmp}?txn=pessimistic")
orbit_contract_concurrency(rocksdb-optimistic "rocksdb:{tmp}?txn=optimistic")

orbit_contract_crash(rocksdb-pessimistic "rocksdb:{tmp}?txn=pessimistic")
orbit_contract_crash(rocksdb-optimistic "rocksdb:{tmp}?txn=optimistic")
