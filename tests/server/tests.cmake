# Black-box tests of orbitd (src/server) against spawned servers on free
# loopback ports, with real clients: python3-redis and raw sockets
# (test_server.py: every command family, errors, RESP3, inline commands,
# protocol errors and a fuzz-style flood, limits, auth, protected mode,
# settings precedence, crash durability under SIGKILL, SIGTERM/SIGINT),
# and redis-cli plus redis-benchmark (test_cli.sh). Debian's Python
# modules load only in /usr/bin/python3. On RocksDB, and on the etcd
# fixture cluster (tests/etcd/tests.cmake) where orbitd takes the
# asynchronous path; the etcd run leaves out the provider-independent
# process cases (--skip-process).
if(TARGET orbitd)
  set(SERVER_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
  set(_orbit_cli_arg)
  if(TARGET orbit_cli)
    set(_orbit_cli_arg --orbit-cli $<TARGET_FILE:orbit_cli>)
  endif()
  add_test(NAME server/python/rocksdb
           COMMAND /usr/bin/python3 ${SERVER_TEST_DIR}/test_server.py $<TARGET_FILE:orbitd>
                   --store "rocksdb:{dir}" ${_orbit_cli_arg})
  add_test(NAME server/cli/rocksdb
           COMMAND bash ${SERVER_TEST_DIR}/test_cli.sh $<TARGET_FILE:orbitd> "rocksdb:{dir}")
  set_tests_properties(server/python/rocksdb server/cli/rocksdb PROPERTIES
                       TIMEOUT 300 LABELS server)
  if(NOT ORBIT_WITH_ROCKSDB)
    set_tests_properties(server/python/rocksdb server/cli/rocksdb PROPERTIES DISABLED TRUE)
  endif()
  if(ORBIT_WITH_ETCD AND TARGET etcd_cluster)
    set(_srv_etcd "etcd://{endpoints}?namespace={uniq}/")
    add_test(NAME server/python/etcd
             COMMAND etcd_cluster run ${ETCD_CLUSTER_FILE} -- /usr/bin/python3
                     ${SERVER_TEST_DIR}/test_server.py $<TARGET_FILE:orbitd>
                     --store ${_srv_etcd} --skip-process)
    add_test(NAME server/cli/etcd
             COMMAND etcd_cluster run ${ETCD_CLUSTER_FILE} -- bash
                     ${SERVER_TEST_DIR}/test_cli.sh $<TARGET_FILE:orbitd> ${_srv_etcd})
    set_tests_properties(server/python/etcd server/cli/etcd PROPERTIES
                         FIXTURES_REQUIRED etcd_cluster TIMEOUT 300
                         LABELS "server;etcd" RESOURCE_LOCK etcd)
  endif()
endif()

# ---- the model command families (t_json.c, t_ts.c, t_vector.c,
# t_graph.c, t_table.c): test_models.py, on RocksDB and on the etcd
# fixture cluster.
if(TARGET orbitd)
  add_test(NAME server/models/rocksdb
           COMMAND /usr/bin/python3 ${SERVER_TEST_DIR}/test_models.py $<TARGET_FILE:orbitd>
                   --store "rocksdb:{dir}")
  set_tests_properties(server/models/rocksdb PROPERTIES TIMEOUT 120 LABELS server)
  if(NOT ORBIT_WITH_ROCKSDB)
    set_tests_properties(server/models/rocksdb PROPERTIES DISABLED TRUE)
  endif()
  if(ORBIT_WITH_ETCD AND TARGET etcd_cluster)
    add_test(NAME server/models/etcd
             COMMAND etcd_cluster run ${ETCD_CLUSTER_FILE} -- /usr/bin/python3
                     ${SERVER_TEST_DIR}/test_models.py $<TARGET_FILE:orbitd>
                     --store "etcd://{endpoints}?namespace={uniq}/")
    set_tests_properties(server/models/etcd PROPERTIES FIXTURES_REQUIRED etcd_cluster
                         TIMEOUT 120 LABELS "server;etcd" RESOURCE_LOCK etcd)
  endif()
endif()

# ---- placement over several providers (placement.c, config.c):
# test_placement.py runs orbitd on two RocksDB directories and memory:,
# with routes, and opens the directories read-only with the CLI to see
# where the data went; also config precedence and bad configurations.
if(TARGET orbitd AND TARGET orbit_cli AND ORBIT_WITH_ROCKSDB)
  add_test(NAME server/placement
           COMMAND /usr/bin/python3 ${SERVER_TEST_DIR}/test_placement.py $<TARGET_FILE:orbitd>
                   --orbit-cli $<TARGET_FILE:orbit_cli>)
  set_tests_properties(server/placement PROPERTIES TIMEOUT 180 LABELS server)
endif()

# ---- cost and order of the plain GET/SET path (net.c's turn batch):
# test_cost.py counts the store's calls through /metrics, on RocksDB.
if(TARGET orbitd)
  add_test(NAME server/cost/rocksdb
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_cost.py $<TARGET_FILE:orbitd>
                   --store "rocksdb:{dir}")
  set_tests_properties(server/cost/rocksdb PROPERTIES TIMEOUT 120 LABELS server)
  if(NOT ORBIT_WITH_ROCKSDB)
    set_tests_properties(server/cost/rocksdb PROPERTIES DISABLED TRUE)
  endif()
endif()
