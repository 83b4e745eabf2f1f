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
# Then orbitd on a 3-member etcd cluster (started here with the build's
# tests/etcd_cluster, on free loopback ports in a temp dir, stopped by PID
# however the script ends): `redis-benchmark -c 64 -t set,get` against it,
# next to `orbit bench kv --depth 64` on the same cluster (target: orbitd
# >= 0.8 of Orbit's own put and get at 64 in flight). A second section.
#
# Usage: bench/server.sh [BUILD_DIR]   (default: build)
# Environment: BENCH_SERVER_N (requests per run, default 1000000; e.g.
#              100000 for a quick run), BENCH_DIR (where orbitd's store
#              goes; default BUILD_DIR), BENCH_SERVER_THREADS (orbitd
#              worker threads, default 2), BENCH_SERVER_PARTS ("redis etcd"
#              by default; either alone runs one section),
#              BENCH_SERVER_ETCD_N (requests per redis-benchmark test on
#              etcd, default 100000), BENCH_SERVER_ETCD_OPS (`orbit bench
#              kv --ops`, default 20000).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${1:-build}
ORBITD="$BUILD/orbitd"
ORBIT="$BUILD/orbit"
N=${BENCH_SERVER_N:-1000000}
DIR=${BENCH_DIR:-$BUILD}
THREADS=${BENCH_SERVER_THREADS:-2}
PARTS=${BENCH_SERVER_PARTS:-redis etcd}
ETCD_N=${BENCH_SERVER_ETCD_N:-100000}
ETCD_OPS=${BENCH_SERVER_ETCD_OPS:-20000}
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
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
part() { [[ " $PARTS " == *" $1 "* ]]; }

STORE_DIR=$(mktemp -d "$DIR/orbitd-bench-XXXXXX")
STORE_DIR=$(cd "$STORE_DIR" && pwd)
RPID=
OPID=
CLUSTER_BIN=
CLUSTER_FILE=
stop_pid() { # stop_pid PID: SIGTERM, wait for it
  [ -n "$1" ] && kill "$1" 2>/dev/null && wait "$1" 2>/dev/null || true
}
stop_cluster() {
  if [ -n "$CLUSTER_FILE" ]; then
    "$CLUSTER_BIN" stop "$CLUSTER_FILE" >/dev/null 2>&1 || true
    rm -f "$CLUSTER_FILE"
    CLUSTER_FILE=
  fi
}
cleanup() {
  stop_pid "$RPID"
  stop_pid "$OPID"
  stop_cluster
  rm -rf "$STORE_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bench_out PORT ARGS... -> redis-benchmark's -q output (errors: fail)
bench_out() {
  local port=$1 out
  shift
  out=$(redis-benchmark -p "$port" "$@" -q 2>&1 | tr '\r' '\n')
  if grep -qi "error" <<<"$out"; then
    echo "bench/server.sh: redis-benchmark reported errors on port $port:" >&2
    grep -i error <<<"$out" | head -5 >&2
    return 1
  fi
  echo "$out"
}
# rps_of OUTPUT CMD -> that command's requests per second
rps_of() { sed -n "s/^$2: \([0-9.]*\) requests per second.*/\1/p" <<<"$1" | tail -1; }

# ---- orbitd (RocksDB) against redis-server --------------------------------
redis_section() {
  local RPORT OPORT
  RPORT=$(free_port)
  OPORT=$(free_port)
  redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$STORE_DIR" --logfile "$STORE_DIR/redis.log" &
  RPID=$!
  env -u ORBIT_STORE "$ORBITD" --store "rocksdb:$STORE_DIR/orbitd?wal=on&sync=off" \
    --port "$OPORT" --http-port 0 --threads "$THREADS" 2>"$STORE_DIR/orbitd.log" &
  OPID=$!
  wait_ping "$RPORT"
  wait_ping "$OPORT"

  # rps PORT PIPELINE -> "SET GET" requests per second
  rps() {
    local out
    out=$(bench_out "$1" -c 50 -n "$N" -r "$N" -d 100 -t set,get -P "$2")
    echo "$(rps_of "$out" SET) $(rps_of "$out" GET)"
  }

  declare -A R
  for p in 1 16; do
    echo "bench/server.sh: -P $p redis-server" >&2
    R[redis,$p]=$(rps "$RPORT" "$p")
    echo "bench/server.sh: -P $p orbitd" >&2
    R[orbitd,$p]=$(rps "$OPORT" "$p")
  done
  local rss_kb redis_rss_kb load
  rss_kb=$(awk '/VmRSS/ { print $2 }' "/proc/$OPID/status")
  redis_rss_kb=$(awk '/VmRSS/ { print $2 }' "/proc/$RPID/status")
  load=$(loadavg)
  stop_pid "$RPID"
  RPID=
  stop_pid "$OPID"
  OPID=

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
}

# ---- orbitd on a 3-member etcd cluster, next to `orbit bench kv` ----------
# One cluster for all three runs: orbitd, then `orbit bench kv`, then orbitd
# again; orbitd's figure is the mean of its two runs, so the growth of the
# cluster's history during the runs (etcd's Txn and Range slow down with it)
# falls on both sides alike. Before each run the cluster's history is
# compacted and its members defragmented (etcdctl, when installed), so no
# run inherits the previous one's. orbitd's CPU time per request (user +
# system, from /proc) is reported next to bench kv's client CPU per op.
etcd_section() {
  CLUSTER_BIN="$BUILD/tests/etcd_cluster"
  [ -x "$CLUSTER_BIN" ] ||
    CLUSTER_BIN=$(find "$BUILD" -name etcd_cluster -type f -perm -u+x 2>/dev/null | head -n 1)
  echo
  echo "## orbitd on etcd"
  echo
  if [ -z "$CLUSTER_BIN" ] || [ ! -x "$ORBIT" ] || ! command -v etcd >/dev/null; then
    echo "Not measured: this needs etcd (scripts/deps.sh installs it), $ORBIT and"
    echo "the build's tests/etcd_cluster (a build configured with tests)."
    return 0
  fi
  local version eps data fs OPORT load0 load1 load2 load3 uri c1 c2 c3
  version=$(dpkg-query -W -f='etcd-server ${Version} (Debian package)' etcd-server 2>/dev/null ||
            etcd --version 2>/dev/null | sed -n 's/^etcd Version: /etcd /p')
  CLUSTER_FILE=$(mktemp "${TMPDIR:-/tmp}/orbit-bench-cluster-XXXXXX")
  echo "bench/server.sh: $CLUSTER_BIN start $CLUSTER_FILE" >&2
  "$CLUSTER_BIN" start "$CLUSTER_FILE" >&2
  eps=$(sed -n 1p "$CLUSTER_FILE")
  data=$(sed -n 2p "$CLUSTER_FILE")
  fs=$(df -T "$data" 2>/dev/null | awk 'NR == 2 { print $2 }')
  OPORT=$(free_port)
  uri="etcd://$eps?namespace=orbitd"
  "$ORBITD" --store "$uri" --port "$OPORT" --http-port 0 --threads "$THREADS" \
    2>"$STORE_DIR/orbitd-etcd.log" &
  OPID=$!
  wait_ping "$OPORT"
  local async
  async=$(redis-cli -p "$OPORT" info server 2>/dev/null | tr -d '\r' | sed -n 's/^orbit_async_path://p')

  # compact the cluster's history to now and defragment every member
  compact() {
    command -v etcdctl >/dev/null || return 0
    local rev
    rev=$(ETCDCTL_API=3 etcdctl --endpoints="$eps" endpoint status -w json 2>/dev/null |
          /usr/bin/python3 -c 'import json,sys; print(max(e["Status"]["header"]["revision"] for e in json.load(sys.stdin)))' 2>/dev/null) || return 0
    ETCDCTL_API=3 etcdctl --endpoints="$eps" compact "$rev" >/dev/null 2>&1 || true
    ETCDCTL_API=3 etcdctl --endpoints="$eps" defrag --cluster >/dev/null 2>&1 || true
  }
  # orbitd's CPU seconds (user + system) so far
  cpu_s() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$OPID/stat"; }
  # orbitd_run -> "SET_rps GET_rps SET_cpu_us GET_cpu_us" (SET, then GET)
  orbitd_run() {
    local out c0 c1 c2 srps grps
    c0=$(cpu_s)
    out=$(bench_out "$OPORT" -c 64 -n "$ETCD_N" -r 20000 -d 100 -t set) || return 1
    srps=$(rps_of "$out" SET)
    c1=$(cpu_s)
    out=$(bench_out "$OPORT" -c 64 -n "$ETCD_N" -r 20000 -d 100 -t get) || return 1
    grps=$(rps_of "$out" GET)
    c2=$(cpu_s)
    awk -v s="$srps" -v g="$grps" -v a="$c0" -v b="$c1" -v c="$c2" -v n="$ETCD_N" \
      'BEGIN { printf "%s %s %.1f %.1f\n", s, g, (b - a) * 1e6 / n, (c - b) * 1e6 / n }'
  }
  c1="redis-benchmark -p PORT -c 64 -n $ETCD_N -r 20000 -d 100 -t set|get (SET, then GET)"
  local o1 o2 k
  echo "bench/server.sh: orbitd on etcd: $c1" >&2
  compact
  load0=$(loadavg)
  o1=$(orbitd_run)
  local -a kcmd=("$ORBIT" --store "etcd://$eps?namespace=bench" bench kv --ops "$ETCD_OPS" --depth 64)
  c2="${kcmd[*]}"
  echo "bench/server.sh: $c2" >&2
  compact
  load1=$(loadavg)
  k=$("${kcmd[@]}")
  echo "bench/server.sh: orbitd on etcd again: $c1" >&2
  compact
  load2=$(loadavg)
  o2=$(orbitd_run)
  load3=$(loadavg)
  local async_ops rss_kb
  async_ops=$(redis-cli -p "$OPORT" info stats 2>/dev/null | tr -d '\r' | sed -n 's/^orbit_async_ops://p')
  rss_kb=$(awk '/VmRSS/ { print $2 }' "/proc/$OPID/status")
  stop_pid "$OPID"
  OPID=
  stop_cluster

  # Orbit's own put and get at depth 64: the default URI options, as orbitd's
  local kput kget kputc kgetc s1 s2 g1 g2 sc1 sc2 gc1 gc2 sm gm
  kput=$(awk '/^Orbit put \(writes=guarded, default\)/ { print $(NF-1) }' <<<"$k")
  kget=$(awk '/^Orbit get \(read=linearizable, default\)/ { print $(NF-1) }' <<<"$k")
  kputc=$(awk '/^Orbit put \(writes=guarded, default\)/ { print $NF }' <<<"$k")
  kgetc=$(awk '/^Orbit get \(read=linearizable, default\)/ { print $NF }' <<<"$k")
  read -r s1 g1 sc1 gc1 <<<"$o1"
  read -r s2 g2 sc2 gc2 <<<"$o2"
  sm=$(awk -v a="$s1" -v b="$s2" 'BEGIN { printf "%.0f", (a + b) / 2 }')
  gm=$(awk -v a="$g1" -v b="$g2" 'BEGIN { printf "%.0f", (a + b) / 2 }')

  echo "Written by bench/server.sh: orbitd (\`--store $uri\`, $THREADS worker"
  echo "threads, asynchronous path: ${async:-unknown}) under \`$c1\`, next to"
  echo "\`$c2\` on the same 3-member cluster (${version:-etcd, version unknown},"
  echo "on loopback on this machine, started by \`$CLUSTER_BIN start\`, data on"
  echo "${data%/*}/, ${fs:-unknown} file system). Order: orbitd, \`orbit bench kv\`,"
  echo "orbitd again; orbitd's figure is the mean of its two runs. Before each run the"
  echo "cluster's history was compacted and its members defragmented (\`etcdctl compact\`,"
  echo "\`defrag --cluster\`$(command -v etcdctl >/dev/null || echo '; not done here: no etcdctl')). Target: orbitd"
  echo ">= 0.8 of Orbit's own put (get) at 64 in flight, with the same URI defaults"
  echo "(\`writes=guarded\`, \`read=linearizable\`)."
  echo
  echo "Load average before each run: $load0 (orbitd), $load1 (\`orbit bench kv\`),"
  echo "$load2 (orbitd again); after: $load3."
  echo
  echo "| operation | orbitd req/s (run 1, run 2) | \`orbit bench kv --depth 64\` ops/s | orbitd / bench kv | orbitd CPU us/request (run 1, run 2) | bench kv client CPU us/op |"
  echo "|---|---:|---:|---:|---:|---:|"
  echo "| SET / Orbit put (guarded) | $sm ($s1, $s2) | $kput | $(ratio "$sm" "$kput") | $sc1, $sc2 | $kputc |"
  echo "| GET / Orbit get (linearizable) | $gm ($g1, $g2) | $kget | $(ratio "$gm" "$kget") | $gc1, $gc2 | $kgetc |"
  echo
  echo "orbitd started ${async_ops:-?} operations on the asynchronous path (\`orbit_async_ops\`);"
  echo "its resident memory after the runs: $((rss_kb / 1024)) MiB."
  echo
  echo "What is compared: each SET is one \`orbit_kv_submit\` PUT on orbitd's asynchronous"
  echo "path (a guarded etcd Txn, grouped with the others in flight), each GET one read;"
  echo "64 clients keep 64 requests in flight, as \`--depth 64\` does in-process. The"
  echo "difference is orbitd's own work per request (RESP parsing and replies, libevent, the"
  echo "hand-off of each completion to its worker) and redis-benchmark's CPU, which share"
  echo "the machine's CPUs with the etcd members; \`orbit bench kv\` has neither. Client"
  echo "CPU is the benchmark process's, orbitd CPU the server's (redis-benchmark not counted)."
  echo
  echo "\`orbit bench kv\` on the same cluster:"
  echo
  echo '```'
  echo "$k"
  echo '```'
}

part redis && redis_section
part etcd && etcd_section
exit 0
