# The install, as a user sees it: test_install.sh installs this build into
# a temporary prefix (cmake --install), compiles hello.c with only
# `pkg-config --cflags --libs orbit`, runs it against the installed
# liborbit.so on memory: (and rocksdb: when built), and runs the installed
# `orbit`. A sanitizer build passes its flags on to hello.c, which links a
# sanitized library.
set(_inst_stores "memory:")
if(ORBIT_WITH_ROCKSDB)
  list(APPEND _inst_stores "rocksdb:{tmp}")
endif()
set(_inst_cflags "")
if(ORBIT_SANITIZE)
  set(_inst_cflags "-fsanitize=address,undefined")
elseif(ORBIT_TSAN)
  set(_inst_cflags "-fsanitize=thread")
endif()
add_test(NAME install/pkg-config
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_install.sh ${CMAKE_BINARY_DIR}
                 ${CMAKE_C_COMPILER} ${PROJECT_VERSION} ${_inst_stores})
set_tests_properties(install/pkg-config PROPERTIES TIMEOUT 120
                     ENVIRONMENT "ORBIT_INSTALL_CFLAGS=${_inst_cflags}")
