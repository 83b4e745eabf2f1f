# Black-box tests of the `orbit` command: a shell script drives the built
# binary against temporary stores (see tests/cli/test_cli.sh).
if(TARGET orbit_cli)
  add_test(NAME cli/kv
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_cli.sh $<TARGET_FILE:orbit_cli>)
  set_tests_properties(cli/kv PROPERTIES TIMEOUT ${ORBIT_TEST_TIMEOUT})
endif()

# Many one-shot writers (issue 7): test_oneshot.sh, owned by the rocksdb
# provider's work. 2,000 processes: the store must stay small and open under
# `ulimit -n 128`.
if(TARGET orbit_cli)
  add_test(NAME cli/oneshot
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_oneshot.sh $<TARGET_FILE:orbit_cli>)
  set_tests_properties(cli/oneshot PROPERTIES TIMEOUT ${ORBIT_TEST_TIMEOUT})
endif()
