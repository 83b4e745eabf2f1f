#!/usr/bin/env bash
# `make bench`: run `orbit bench kv` from an existing build, first the
# RocksDB comparison, then the etcd benchmark on a 3-member etcd cluster
# started here with the build's tests/etcd_cluster tool (and always stopped
# again), and write the results, with the date, the machine and the exact
# commands, to docs/benchmarks.md. The figures in that file are whatever
# this run measured; nothing is edited by hand.
#
# Usage: bench/run.sh [BUILD_DIR]   (default: build)
# Environment: BENCH_KEYS (default 1000000), BENCH_ROUNDS (default 3),
#              BENCH_DIR (where the stores go; default BUILD_DIR, so they
#              sit on the same disk as the build rather than on a tmpfs),
#              BENCH_ETCD_OPS1 / BENCH_ETCD_OPS64 (operations per etcd
#              workload at depth 1 / 64; defaults 5000 / 20000).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${1:-build}
ORBIT="$BUILD/orbit"
KEYS=${BENCH_KEYS:-1000000}
ROUNDS=${BENCH_ROUNDS:-3}
DIR=${BENCH_DIR:-$BUILD}
ETCD_OPS1=${BENCH_ETCD_OPS1:-5000}
ETCD_OPS64=${BENCH_ETCD_OPS64:-20000}
OUT=docs/benchmarks.md
TMP=docs/benchmarks.tmp
# `bench kv` on an etcd store is the etcd benchmark: the RocksDB comparison
# must not pick up a store from the environment.
unset ORBIT_STORE

if [ ! -x "$ORBIT" ]; then
  echo "bench: $ORBIT not found; build first (make build)" >&2
  exit 1
fi
mkdir -p "$DIR" docs

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

load=$(loadavg)
cmd=("$ORBIT" bench kv --keys "$KEYS" --rounds "$ROUNDS" --dir "$DIR")
echo "bench: ${cmd[*]}" >&2
result=$("${cmd[@]}")
echo "$result"

# ---- etcd: a 3-member cluster on free loopback ports ----------------------
# etcd_cluster is built with the tests; it puts the members' data on
# /dev/shm when that has room (else $TMPDIR or /tmp). The trap stops the
# cluster however this script ends.
CLUSTER_BIN="$BUILD/tests/etcd_cluster"
if [ ! -x "$CLUSTER_BIN" ]; then
  CLUSTER_BIN=$(find "$BUILD" -name etcd_cluster -type f -perm -u+x 2>/dev/null | head -n 1)
fi
CLUSTER_FILE=
stop_cluster() {
  if [ -n "$CLUSTER_FILE" ]; then
    "$CLUSTER_BIN" stop "$CLUSTER_FILE" >/dev/null 2>&1 || true
    rm -f "$CLUSTER_FILE" "$CLUSTER_FILE.err"
    CLUSTER_FILE=
  fi
}
trap stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

etcd_skip=
etcd_failed=
etcd_version=
etcd_data=
etcd_fs=
etcd_loads=()
etcd_cmds=()
etcd_results=()
if [ -z "$CLUSTER_BIN" ]; then
  etcd_skip="this build has no tests/etcd_cluster (configured without tests), so the etcd benchmark was not run"
elif ! command -v etcd >/dev/null; then
  etcd_skip="etcd is not installed (scripts/deps.sh installs it), so the etcd benchmark was not run"
else
  etcd_version=$(dpkg-query -W -f='etcd-server ${Version} (Debian package)' etcd-server 2>/dev/null ||
                 etcd --version 2>/dev/null | sed -n 's/^etcd Version: /etcd /p')
  # A fresh cluster for each depth: etcd's Txn and Range slow down as its
  # history grows (Orbit keeps 5 minutes of it, longer than a run), so the second run must not
  # inherit the first one's.
  for run in "1 $ETCD_OPS1" "64 $ETCD_OPS64"; do
    read -r depth ops <<<"$run"
    CLUSTER_FILE=$(mktemp "${TMPDIR:-/tmp}/orbit-bench-cluster-XXXXXX")
    echo "bench: $CLUSTER_BIN start $CLUSTER_FILE" >&2
    if ! "$CLUSTER_BIN" start "$CLUSTER_FILE" >&2; then
      etcd_failed="the 3-member etcd cluster did not start (\`$CLUSTER_BIN start\`)"
      break
    fi
    endpoints=$(sed -n 1p "$CLUSTER_FILE")
    etcd_data=$(sed -n 2p "$CLUSTER_FILE")
    etcd_fs=$(df -T "$etcd_data" 2>/dev/null | awk 'NR == 2 { print $2 }')
    c=("$ORBIT" --store "etcd://$endpoints?namespace=bench" bench kv --ops "$ops" --depth "$depth")
    echo "bench: ${c[*]}" >&2
    etcd_loads+=("$(loadavg)")
    if ! r=$("${c[@]}" 2>"$CLUSTER_FILE.err"); then
      cat "$CLUSTER_FILE.err" >&2
      etcd_failed="\`${c[*]}\` failed:"$'\n\n```\n'"$r"$'\n'"$(cat "$CLUSTER_FILE.err")"$'\n```'
      break
    fi
    cat "$CLUSTER_FILE.err" >&2
    echo "$r"
    etcd_cmds+=("${c[*]}")
    etcd_results+=("$r")
    stop_cluster
  done
  stop_cluster
fi

cpu=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*:[[:space:]]*//' || true)
rocksdb=$(dpkg-query -W -f='${Version}' librocksdb-dev 2>/dev/null || echo unknown)
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
sanitize=$(sed -n 's/^ORBIT_SANITIZE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit (with uncommitted changes)"
fi
fs=$(df -T "$DIR" 2>/dev/null | awk 'NR == 2 { print $2 }')

{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` (bench/run.sh) from one run of \`orbit bench kv\` on"
  echo "RocksDB and two on etcd; the figures are that run's measurements. Rerun"
  echo "\`make bench\` to refresh."
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Machine: $(nproc) CPUs, ${cpu:-unknown CPU}; Linux $(uname -r);" \
       "$(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
  echo "- Stores on: $DIR (${fs:-unknown} file system)"
  echo "- RocksDB: librocksdb-dev $rocksdb (Debian package)"
  echo "- Orbit: commit $commit, build type ${build_type:-unknown}${sanitize:+, sanitizers $sanitize}"
  echo "- Load average before the RocksDB comparison: $load"
  echo "- Command: \`${cmd[*]}\`"
  echo
  echo "## Result"
  echo
  echo '```'
  echo "$result"
  echo '```'
  echo
  echo "## What is measured"
  echo
  echo "Four engines run the same workload in one process, each on a fresh"
  echo "directory with the same RocksDB settings, which are those of Orbit's"
  echo "rocksdb provider: WAL on, sync off, one 64 MiB LRU block cache, LZ4"
  echo "compression, a 10-bit bloom filter, at most 4 info logs."
  echo
  echo "- **raw RocksDB, DB**: \`rocksdb_open\`, \`rocksdb_put\`, \`rocksdb_get_pinned\`."
  echo "- **raw RocksDB, TransactionDB**: \`rocksdb_transactiondb_open\` (lock"
  echo "  timeout 0), \`rocksdb_transactiondb_put\`, \`rocksdb_transactiondb_get_pinned\`."
  echo "- **Orbit, rocksdb default**: \`orbit_kv_open(\"rocksdb:DIR?...\")\`,"
  echo "  \`orbit_str_put\`, \`orbit_str_get_with\`: the contract layer, the"
  echo "  (\"kv\", key) tuple encoding, the record envelope with its XXH3 checksum"
  echo "  (verified on every read), on the provider's default \`txn=optimistic\`"
  echo "  (an OptimisticTransactionDB, whose plain writes and reads go to its base DB)."
  echo "- **Orbit, rocksdb pessimistic**: the same with \`txn=pessimistic\` (a"
  echo "  TransactionDB, whose plain writes take the key locks of transactions)."
  echo
  echo "Each Orbit mode is compared with the raw engine of the same settings:"
  echo "the default with the raw DB, pessimistic with the raw TransactionDB; the"
  echo "ratio is the cost of Orbit's own layers. The last ratio shows what a"
  echo "TransactionDB itself costs a plain write; that cost is RocksDB's."
  echo
  echo "Workload per engine: untimed warm-up puts to separate keys, then"
  echo "N puts of \`key%010u\` in key order with 100-byte values, untimed"
  echo "warm-up gets, then N gets in a seeded shuffled order, each checked to"
  echo "find a value of the right length. Values are the same bytes for every"
  echo "engine: half random, half a repeat of it, as RocksDB's db_bench makes"
  echo "them, so LZ4 compresses every engine's blocks alike. (With wholly random"
  echo "values, \`--random-pct 100\`, the raw engines' blocks do not compress and"
  echo "RocksDB stores them as they are, while Orbit's record headers make its"
  echo "blocks just compressible enough to be stored compressed, so Orbit alone"
  echo "pays LZ4 decompression on block-cache misses.)"
  echo "Orbit stores more bytes per entry than the raw engines (6 more key bytes"
  echo "for the tuple encoding, 23 bytes of record header and checksum)."
  echo "With several rounds, the engine that goes first rotates, and each figure"
  echo "is the median over rounds. One put or get at a time, one thread."
  echo
  echo "Two kinds of figure: operations per wall-clock second (the headline),"
  echo "and operations per CPU-second of the calling thread. The CPU figure"
  echo "leaves out time the thread was descheduled by other load on the machine"
  echo "and RocksDB's background flushes and compactions, so it is the steadier"
  echo "measure of what a call costs its caller; the wall-clock figure includes"
  echo "everything, and on a shared machine it varies from run to run."
  echo
  echo "## etcd"
  echo
  if [ -n "$etcd_skip" ]; then
    echo "Not measured: $etcd_skip."
  else
    echo "- Cluster: 3 members, ${etcd_version:-etcd, version unknown}, on loopback on"
    echo "  this machine; a fresh one for each run, started by"
    echo "  \`$CLUSTER_BIN start\` and stopped after it; data on"
    echo "  ${etcd_data%/*}/ (${etcd_fs:-unknown} file system)"
    for i in "${!etcd_cmds[@]}"; do
      echo "- Command: \`${etcd_cmds[$i]}\`"
    done
    for i in "${!etcd_results[@]}"; do
      echo
      d=${etcd_cmds[$i]##*--depth }
      echo "### Depth $d ($d operation$([ "$d" = 1 ] || echo s) in flight)"
      echo
      echo "Load average before this run: ${etcd_loads[$i]}"
      echo
      echo '```'
      echo "${etcd_results[$i]}"
      echo '```'
    done
    if [ -n "$etcd_failed" ]; then
      echo
      echo "**Not complete:** $etcd_failed"
    fi
  fi
  echo
  echo "### What is measured"
  echo
  echo "\`orbit --store etcd://... bench kv --ops N --depth D\` runs eight workloads"
  echo "in one process on the same cluster, each of N operations with D in flight"
  echo "(a new one starts as each completes), over the same keys (the URI's"
  echo "namespace, then \`bench/%08u\`, 100-byte values), every key written once"
  echo "before timing so each put overwrites and each get finds its key:"
  echo
  echo "- **bare KV.Put**: etcd's plain \`Put\`, sent on Orbit's gRPC transport"
  echo "  (src/rpc) with no Orbit layer: what a client without exactly-once sends."
  echo "- **bare KV.Txn**: the \`Txn\` Orbit's provider sends for a guarded put, built"
  echo "  by the benchmark on the same transport: compare a commit marker's"
  echo "  \`mod_revision\`, put the key, put the marker (a sequence number), with"
  echo "  the marker read as the failure branch; one marker per operation in"
  echo "  flight, its revision taken from each answer, as the provider does."
  echo "- **Orbit put**: \`orbit_kv_submit\` on the store, through the contract"
  echo "  layer and the etcd provider: that same \`Txn\` by default"
  echo "  (\`writes=guarded\`), a plain \`Put\` with \`writes=plain\`."
  echo "- **bare KV.Range** and **Orbit get**: linearizable (the default), then"
  echo "  serializable (\`read=serializable\`: a member answers from its own state)."
  echo
  echo "Orbit / bare of the same calls is the cost of Orbit's own layers; the"
  echo "project's target is at least 0.9 at both depths. Bare KV.Txn / bare KV.Put"
  echo "is the cost of the exactly-once guard (a compare and a second put in one"
  echo "raft entry), which is etcd's work, not Orbit's layers. The bare loops use"
  echo "the call options the provider takes from the same URI (deadline, attempt"
  echo "deadline, retries) and decode what any client must (a \`Txn\`'s outcome and"
  echo "revision; a \`Range\`'s value, checked as Orbit's gets are). Every call goes"
  echo "to the first endpoint, which need not be the leader; Orbit and bare alike."
  echo "The workloads take turns in slices (puts, then gets; table order and"
  echo "reverse order alternately), so drift in the cluster and other load on the"
  echo "machine fall on all of them alike. ops/s is by wall clock; client CPU is"
  echo "the CPU time of the benchmark process, all its threads, per operation (the"
  echo "etcd members' CPU is not in it). Client and cluster share this machine's"
  echo "CPUs, so the absolute figures are low and move with other load; the ratios"
  echo "within one run are the figures to compare. Each depth runs on a fresh"
  echo "cluster, because etcd's Txn and Range get slower as its history grows"
  echo "(nothing compacts it here); the \"cluster history\" line gives the"
  echo "revisions before and after each run. At the end the benchmark deletes"
  echo "its keys."
} >"$TMP"
mv "$TMP" "$OUT"
echo "bench: wrote $OUT" >&2

# ---- the model benchmark (bench/models.sh): its own section -------------
# Time-series, relational and vector writes against raw batch puts, exact
# vector search next to numpy, 3-hop traversal on its own etcd cluster.
if [ -x "$BUILD/bench_models" ]; then
  if models=$(BENCH_DIR="$DIR" bash bench/models.sh "$BUILD"); then
    echo "$models" >>"$OUT"
  else
    printf '\n## Models (bench/models.sh)\n\n**Not complete:** `bench/models.sh %s` failed.\n' \
      "$BUILD" >>"$OUT"
    echo "bench: bench/models.sh failed (see $OUT)" >&2
    etcd_failed=${etcd_failed:-"bench/models.sh failed"} # exit 1 below
  fi
  echo "bench: appended the model benchmark to $OUT" >&2
fi

if [ -x "$BUILD/bench_tikv" ]; then bash bench/tikv.sh "$BUILD" >>"$OUT" || etcd_failed=${etcd_failed:-"bench/tikv.sh failed (see $OUT)"}; fi # TiKV provider on the PD/TiKV test cluster
# ---- orbitd against redis-server (bench/server.sh), appended to $OUT ------
if [ -x "$BUILD/orbitd" ]; then
  echo "bench: bench/server.sh $BUILD" >&2
  if ! bash bench/server.sh "$BUILD" >>"$OUT"; then
    echo "bench: bench/server.sh failed" >&2
    exit 1
  fi
fi
if [ -n "$etcd_failed" ]; then
  echo "bench: the etcd benchmark did not complete (see $OUT)" >&2
  exit 1
fi
