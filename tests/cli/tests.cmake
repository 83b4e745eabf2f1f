# Black-box tests of the `orbit` command: shell scripts drive the built
# binary against temporary stores (see each script's header):
#   cli/kv     kv put/get/del/scan, escapes, demo, bench kv on rocksdb and etcd
#   cli/io     stdin and --value-file values up to the 64 MiB limit, --raw, UTF-8
#   cli/usage  --help everywhere, --version, exit statuses, reads that never
#              create a store, bad URIs, --read-only, store repair
#   cli/bench  an interrupted bench kv (SIGINT, SIGTERM, a closed pipe)
#              removes its directories
if(TARGET orbit_cli)
  add_test(NAME cli/kv
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_cli.sh $<TARGET_FILE:orbit_cli>)
  set_tests_properties(cli/kv PROPERTIES TIMEOUT ${ORBIT_TEST_TIMEOUT})
  add_test(NAME cli/io
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_cli_io.sh $<TARGET_FILE:orbit_cli>)
  set_tests_properties(cli/io PROPERTIES TIMEOUT ${ORBIT_TEST_TIMEOUT})
  add_test(NAME cli/usage
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_cli_usage.sh $<TARGET_FILE:orbit_cli>
                   ${PROJECT_VERSION})
  set_tests_properties(cli/usage PROPERTIES TIMEOUT ${ORBIT_TEST_TIMEOUT})
  add_test(NAME cli/bench
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_cli_bench.sh $<TARGET_FILE:orbit_cli>)
  set_tests_properties(cli/bench PROPERTIES TIMEOUT ${ORBIT_TEST_TIMEOUT})
endif()

# Many one-shot writers (issue 7): test_oneshot.sh, owned by the rocksdb
# provider's work. 2,000 processes: the store must stay small and open under
# `ulimit -n 128`.
if(TARGET orbit_cli)
  add_test(NAME cli/oneshot
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_oneshot.sh $<TARGET_FILE:orbit_cli>)
  set_tests_properties(cli/oneshot PROPERTIES TIMEOUT ${ORBIT_TEST_TIMEOUT})
  # Under the sanitizers each process costs several times more; 300
  # one-shot writers still exceed what broke the old store under the limit.
  if(ORBIT_SANITIZE OR ORBIT_TSAN)
    set_tests_properties(cli/oneshot PROPERTIES ENVIRONMENT ORBIT_ONESHOT_N=300)
  endif()
endif()
