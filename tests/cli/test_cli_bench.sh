#!/usr/bin/env bash
# Black-box tests that an interrupted `orbit bench kv` (the RocksDB
# comparison) removes its directories: on SIGINT and SIGTERM (it then ends
# as the signal would, status 128+N), and when its output pipe closes
# (`| head -1`: it stops at once rather than run to the end, and ends by
# SIGPIPE). The runs are sized to take far longer than the test if they
# did not stop; `timeout` bounds them anyway. No speed is asserted.
#
# Usage: test_cli_bench.sh PATH_TO_ORBIT. Exits non-zero after the first
# failed check, naming it.
set -uo pipefail

ORBIT=${1:?usage: test_cli_bench.sh PATH_TO_ORBIT}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/orbit-cli-bench-XXXXXX")
PID=
cleanup() {
  if [ -n "$PID" ]; then kill -KILL "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
unset ORBIT_STORE
KEYS=5000000    # far more than the test waits for: the run must be stopped, not finish
checks=0

fail() {
  echo "FAIL: $*" >&2
  for f in "$TMP"/err*; do [ -s "$f" ] && { echo "--- $f:" >&2; head -20 "$f" >&2; }; done
  exit 1
}

# Wait (10 s at most) until the benchmark has made its directory under $1.
wait_dir() {
  for _ in $(seq 200); do
    ls -d "$1"/orbit-bench-* >/dev/null 2>&1 && return 0
    kill -0 "$PID" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

for sig in INT TERM; do
  d="$TMP/$sig"; mkdir "$d"
  "$ORBIT" bench kv --keys $KEYS --dir "$d" >"$TMP/out-$sig" 2>"$TMP/err-$sig" &
  PID=$!
  wait_dir "$d" || fail "SIG$sig: the benchmark made no directory in $d"
  sleep 0.3                            # inside the workload
  kill -"$sig" "$PID"
  timeout 60 tail --pid="$PID" -f /dev/null
  wait "$PID"; st=$?; PID=
  checks=$((checks + 1))
  want=$((128 + $(kill -l "$sig")))
  [ "$st" -eq "$want" ] || fail "SIG$sig: exited $st, expected $want"
  checks=$((checks + 1))
  [ -z "$(ls -A "$d")" ] || fail "SIG$sig: left [$(ls -A "$d")] behind"
  grep -q 'removed' "$TMP/err-$sig" || fail "SIG$sig: no message saying what was removed"
done

# The output pipe closes after the first line.
d="$TMP/pipe"; mkdir "$d"
timeout 60 "$ORBIT" bench kv --keys $KEYS --dir "$d" 2>"$TMP/err-pipe" | head -1 >"$TMP/out-pipe"
st=("${PIPESTATUS[@]}")
checks=$((checks + 1))
[ "${st[0]}" -eq 141 ] || fail "| head -1: orbit exited ${st[0]}, expected 141 (SIGPIPE; 124 is the timeout)"
grep -q '^orbit bench kv:' "$TMP/out-pipe" || fail "| head -1: the first line was [$(cat "$TMP/out-pipe")]"
checks=$((checks + 1))
[ -z "$(ls -A "$d")" ] || fail "| head -1: left [$(ls -A "$d")] behind"

# A run that completes also leaves nothing.
d="$TMP/done"; mkdir "$d"
"$ORBIT" bench kv --keys 300 --dir "$d" --only orbit >"$TMP/out-done" 2>"$TMP/err-done" || fail "a small run failed"
checks=$((checks + 1))
[ -z "$(ls -A "$d")" ] || fail "a completed run left [$(ls -A "$d")] behind"

echo "cli bench: all $checks checks passed"
