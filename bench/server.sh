#!/usr/bin/env bash
# orbitd against redis-server with the same redis-benchmark runs, on
# loopback: redis-server (Debian; --save '' --appendonly no: nothing
# persisted) and orbitd on RocksDB (WAL on, sync off: the provider's
# defaults), each `redis-benchmark -c 50 -n N -r N -d 100 -t set,get` at
# -P 1 and at -P 16, the two servers taking turns. Prints a Markdown
# section: requests/s of each, the ratio orbitd/redis-server (targets:
# >= 0.8 at -P 1, >= 0.5 at -P 16) and orbitd's resident memory after the
# runs. bench/run.sh appends it to docs/benchmarks.md.
#
# Usage: bench/server.sh [BUILD_DIR]   (default: build)
# Environment: BENCH_SERVER_N (requests per run, default 1000000; e.g.
#              100000 for a quick run), BENCH_DIR (where orbitd's store
#              goes; default BUILD_DIR), BENCH_SERVER_THREADS (orbitd
#              worker threads, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${1:-build}
ORBITD="$BUILD/orbitd"
N=${BENCH_SERVER_N:-1000000}
DIR=${BENCH_DIR:-$BUILD}
THREADS=${BENCH_SERVER_THREADS:-2}
for t in redis-server redis-benchmark redis-cli; do
  command -v "$t" >/dev/null || { echo "bench/server.sh: $t not found (scripts/deps.sh installs it)" >&2; exit 1; }
done
[ -x "$ORBITD" ] || { echo "bench/server.sh: $ORBITD not found; build first" >&2; exit 1; }

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ping() {
  for _ in $(seq 400); do
    [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.05
  done
  echo "bench/server.sh: no server on port $1" >&2
  return 1
}

STORE_DIR=$(mktemp -d "$DIR/orbitd-bench-XXXXXX")
STORE_DIR=$(cd "$STORE_DIR" && pwd)
RPORT=$(free_port)
OPORT=$(free_port)
RPID=
OPID=
cleanup() {
  [ -n "$RPID" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null || true
  [ -n "$OPID" ] && kill "$OPID" 2>/dev/null && wait "$OPID" 2>/dev/null || true
  rm -rf "$STORE_DIR"
}
trap cleanup EXIT

redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$STORE_DIR" --logfile "$STORE_DIR/redis.log" &
RPID=$!
env -u ORBIT_STORE "$ORBITD" --store "rocksdb:$STORE_DIR/orbitd?wal=on&sync=off" \
  --port "$OPORT" --threads "$THREADS" 2>"$STORE_DIR/orbitd.log" &
OPID=$!
wait_ping "$RPORT"
wait_ping "$OPORT"

# rps PORT PIPELINE -> "SET GET" requests per second
rps() {
  local out
  out=$(redis-benchmark -p "$1" -c 50 -n "$N" -r "$N" -d 100 -t set,get -P "$2" -q 2>&1 | tr '\r' '\n')
  if grep -qi "error" <<<"$out"; then
    echo "bench/server.sh: redis-benchmark reported errors on port $1:" >&2
    grep -i error <<<"$out" | head -5 >&2
    return 1
  fi
  local set get
  set=$(sed -n 's/^SET: \([0-9.]*\) requests per second.*/\1/p' <<<"$out" | tail -1)
  get=$(sed -n 's/^GET: \([0-9.]*\) requests per second.*/\1/p' <<<"$out" | tail -1)
  echo "$set $get"
}

declare -A R
for p in 1 16; do
  echo "bench/server.sh: -P $p redis-server" >&2
  R[redis,$p]=$(rps "$RPORT" "$p")
  echo "bench/server.sh: -P $p orbitd" >&2
  R[orbitd,$p]=$(rps "$OPORT" "$p")
done
rss_kb=$(awk '/VmRSS/ { print $2 }' "/proc/$OPID/status")
redis_rss_kb=$(awk '/VmRSS/ { print $2 }' "/proc/$RPID/status")
load=$(cut -d' ' -f1-3 /proc/loadavg)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "## orbitd and redis-server"
echo
echo "Written by bench/server.sh: \`redis-benchmark -c 50 -n $N -r $N -d 100 -t set,get -P 1|16\`"
echo "against redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') (\`--save '' --appendonly no\`)"
echo "and orbitd (RocksDB, WAL on, sync off, $THREADS worker threads), both on loopback,"
echo "the servers taking turns. Load average after the runs: $load. Targets: orbitd/redis"
echo ">= 0.8 at -P 1, >= 0.5 at -P 16."
echo
echo "| run | redis-server req/s | orbitd req/s | orbitd/redis |"
echo "|---|---:|---:|---:|"
for p in 1 16; do
  read -r rs rg <<<"${R[redis,$p]}"
  read -r os og <<<"${R[orbitd,$p]}"
  echo "| SET -P $p | $rs | $os | $(ratio "$os" "$rs") |"
  echo "| GET -P $p | $rg | $og | $(ratio "$og" "$rg") |"
done
echo
echo "Resident memory after the runs: orbitd $((rss_kb / 1024)) MiB, redis-server $((redis_rss_kb / 1024)) MiB."
