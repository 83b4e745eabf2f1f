#!/usr/bin/env bash
# Builds and runs every test three ways:
#   1. release build, warnings as errors      (build/)
#   2. AddressSanitizer + UBSan               (build-asan/)
#   3. ThreadSanitizer, tests labelled "tsan" (build-tsan/)
#   4. clang + libFuzzer: short deterministic runs of the fuzz targets (build-fuzz/)
# Exits non-zero if any build or test fails.
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
fail=0

run_suite() {
  local dir=$1 label=$2; shift 2
  echo "=== $label: configure and build ($dir)"
  if ! cmake -S . -B "$dir" "$@" >/dev/null || ! cmake --build "$dir" -j "$JOBS" >"$dir.build.log" 2>&1; then
    cat "$dir.build.log" 2>/dev/null | tail -50
    echo "=== $label: BUILD FAILED"
    fail=1
    return
  fi
  echo "=== $label: tests"
  local ctest_args=(--test-dir "$dir" --output-on-failure -j "$JOBS")
  if [ -n "${CTEST_LABEL:-}" ]; then ctest_args+=(-L "$CTEST_LABEL"); fi
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

echo "=== fuzz: configure and build (build-fuzz)"
if CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
   cmake --build build-fuzz -j "$JOBS" --target fuzz_tuple fuzz_record fuzz_unescape >build-fuzz.build.log 2>&1; then
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
