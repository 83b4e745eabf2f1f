# Black-box tests of orbitd's HTTP API (src/server/http*.c, metrics.c):
# curl against a spawned server on free loopback ports, a Prometheus
# text-format check of /metrics, and a malformed-HTTP flood
# (test_http.py, Debian's /usr/bin/python3), against orbitd itself.
if(TARGET orbitd)
  # the 503 case runs orbitd on an etcd it starts and kills (once, with
  # the rocksdb run)
  set(_http_providers "")
  if(ORBIT_WITH_ETCD)
    set(_http_providers etcd)
  endif()
  add_test(NAME http/rocksdb
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_http.py
                   $<TARGET_FILE:orbitd> --store "rocksdb:{dir}"
                   "--providers=${_http_providers}")
  add_test(NAME http/memory
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_http.py
                   $<TARGET_FILE:orbitd> --store "memory:" --providers=)
  set_tests_properties(http/rocksdb http/memory PROPERTIES TIMEOUT 300 LABELS "server;http")
  if(NOT ORBIT_WITH_ROCKSDB)
    set_tests_properties(http/rocksdb PROPERTIES DISABLED TRUE)
  endif()
  # the same on the etcd fixture cluster (tests/etcd/tests.cmake)
  if(ORBIT_WITH_ETCD AND TARGET etcd_cluster)
    add_test(NAME http/etcd
             COMMAND etcd_cluster run ${ETCD_CLUSTER_FILE} -- /usr/bin/python3
                     ${CMAKE_CURRENT_LIST_DIR}/test_http.py $<TARGET_FILE:orbitd>
                     --store "etcd://{endpoints}?namespace={uniq}/" --providers=)
    set_tests_properties(http/etcd PROPERTIES FIXTURES_REQUIRED etcd_cluster TIMEOUT 300
                         LABELS "server;http;etcd" RESOURCE_LOCK etcd)
  endif()
endif()

# libFuzzer target for the HTTP target parser and router (clang only;
# http_route.c depends on libc alone, so it builds here, instrumented).
if(CMAKE_C_COMPILER_ID MATCHES Clang)
  set(_fuzz_flags -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer)
  add_executable(fuzz_http ${CMAKE_SOURCE_DIR}/fuzz/fuzz_http.c
                 ${CMAKE_SOURCE_DIR}/src/server/http_route.c)
  target_include_directories(fuzz_http PRIVATE ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(fuzz_http PRIVATE ${_fuzz_flags})
  target_link_options(fuzz_http PRIVATE ${_fuzz_flags})
  add_test(NAME fuzz/http COMMAND fuzz_http -runs=20000 -seed=1)
  set_tests_properties(fuzz/http PROPERTIES TIMEOUT 300)
endif()
