#!/usr/bin/env bash
# Builds and tests Orbit in several configurations, warnings as errors in
# every one (-DORBIT_WERROR=ON; a user's build does not make them errors):
#   1. RelWithDebInfo, every test                                (build/)
#   2. AddressSanitizer + UBSan, every test                      (build-asan/)
#   3. ThreadSanitizer, tests labelled "tsan" (also etcd, TiKV)  (build-tsan/)
#   4. true Release (-O3, NDEBUG): unit tests, the contract suite on memory
#      and rocksdb, the install test                             (build-release/)
#   5. no optional provider (ORBIT_WITH_ROCKSDB=OFF, ORBIT_WITH_ETCD=OFF):
#      the library, the CLI and a few tests that need neither    (build-minimal/)
#   6. clang + libFuzzer: short deterministic runs of the fuzz targets (build-fuzz/)
# Exits non-zero if any build or test fails.
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
fail=0

# run_suite DIR LABEL CMAKE_ARGS...: configure with warnings as errors, build
# ($BUILD_TARGETS, or everything), run the tests ($CTEST_LABEL: only those
# with that label; $CTEST_REGEX: only those matching it).
run_suite() {
  local dir=$1 label=$2; shift 2
  echo "=== $label: configure and build ($dir)"
  local build_args=(--build "$dir" -j "$JOBS")
  if [ -n "${BUILD_TARGETS:-}" ]; then
    # shellcheck disable=SC2206  # a list of target names
    build_args+=(--target $BUILD_TARGETS)
  fi
  if ! cmake -S . -B "$dir" -DORBIT_WERROR=ON "$@" >/dev/null || ! cmake "${build_args[@]}" >"$dir.build.log" 2>&1; then
    cat "$dir.build.log" 2>/dev/null | tail -50
    echo "=== $label: BUILD FAILED"
    fail=1
    return
  fi
  echo "=== $label: tests"
  local ctest_args=(--test-dir "$dir" --output-on-failure -j "$JOBS")
  if [ -n "${CTEST_LABEL:-}" ]; then ctest_args+=(-L "$CTEST_LABEL"); fi
  if [ -n "${CTEST_REGEX:-}" ]; then ctest_args+=(-R "$CTEST_REGEX"); fi
  if ! ctest "${ctest_args[@]}"; then
    echo "=== $label: TESTS FAILED"
    fail=1
  fi
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"

run_suite build release -DCMAKE_BUILD_TYPE=RelWithDebInfo
run_suite build-asan asan+ubsan -DCMAKE_BUILD_TYPE=Debug -DORBIT_SANITIZE=ON
CTEST_LABEL=tsan run_suite build-tsan tsan -DCMAKE_BUILD_TYPE=Debug -DORBIT_TSAN=ON
CTEST_REGEX='^(unit/|contract/(memory|rocksdb)|install/)' \
  run_suite build-release release-O3 -DCMAKE_BUILD_TYPE=Release
BUILD_TARGETS="orbit_shared orbit_cli orbitd contract_suite unit_codec_test_tuple unit_codec_test_record" \
CTEST_REGEX='^(unit/codec/test_(tuple|record)$|contract/memory-|install/)' \
  run_suite build-minimal no-optional-providers -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DORBIT_WITH_ROCKSDB=OFF -DORBIT_WITH_ETCD=OFF

echo "=== fuzz: configure and build (build-fuzz)"
if CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DORBIT_WERROR=ON >/dev/null &&
   cmake --build build-fuzz -j "$JOBS" --target fuzz_tuple fuzz_record fuzz_unescape fuzz_resp fuzz_jsonpath fuzz_http >build-fuzz.build.log 2>&1; then
  echo "=== fuzz: tests"
  ctest --test-dir build-fuzz --output-on-failure -R '^fuzz/' || { echo "=== fuzz: TESTS FAILED"; fail=1; }
else
  tail -50 build-fuzz.build.log 2>/dev/null
  echo "=== fuzz: BUILD FAILED"
  fail=1
fi

if [ $fail -ne 0 ]; then
  echo "make test: FAILED"
  exit 1
fi
echo "make test: all suites passed"
