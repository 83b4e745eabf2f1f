#!/usr/bin/env bash
# `make bench`: run `orbit bench kv` from an existing build and write the
# result, with the date, the machine and the exact command, to
# docs/benchmarks.md. The figures in that file are whatever this run
# measured; nothing is edited by hand.
#
# Usage: bench/run.sh [BUILD_DIR]   (default: build)
# Environment: BENCH_KEYS (default 1000000), BENCH_ROUNDS (default 3),
#              BENCH_DIR (where the stores go; default BUILD_DIR, so they
#              sit on the same disk as the build rather than on a tmpfs).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${1:-build}
ORBIT="$BUILD/orbit"
KEYS=${BENCH_KEYS:-1000000}
ROUNDS=${BENCH_ROUNDS:-3}
DIR=${BENCH_DIR:-$BUILD}
OUT=docs/benchmarks.md
TMP=docs/benchmarks.tmp

if [ ! -x "$ORBIT" ]; then
  echo "bench: $ORBIT not found; build first (make build)" >&2
  exit 1
fi
mkdir -p "$DIR" docs

cmd=("$ORBIT" bench kv --keys "$KEYS" --rounds "$ROUNDS" --dir "$DIR")
echo "bench: ${cmd[*]}" >&2
result=$("${cmd[@]}")
echo "$result"

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
  echo "Written by \`make bench\` (bench/run.sh) from one run of \`orbit bench kv\`;"
  echo "the figures are that run's measurements. Rerun \`make bench\` to refresh."
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Machine: $(nproc) CPUs, ${cpu:-unknown CPU}; Linux $(uname -r);" \
       "$(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
  echo "- Stores on: $DIR (${fs:-unknown} file system)"
  echo "- RocksDB: librocksdb-dev $rocksdb (Debian package)"
  echo "- Orbit: commit $commit, build type ${build_type:-unknown}${sanitize:+, sanitizers $sanitize}"
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
  echo "for the tuple encoding, 28 bytes of record header and checksum)."
  echo "With several rounds, the engine that goes first rotates, and each figure"
  echo "is the median over rounds. One put or get at a time, one thread."
  echo
  echo "Two kinds of figure: operations per wall-clock second (the headline),"
  echo "and operations per CPU-second of the calling thread. The CPU figure"
  echo "leaves out time the thread was descheduled by other load on the machine"
  echo "and RocksDB's background flushes and compactions, so it is the steadier"
  echo "measure of what a call costs its caller; the wall-clock figure includes"
  echo "everything, and on a shared machine it varies from run to run."
} >"$TMP"
mv "$TMP" "$OUT"
echo "bench: wrote $OUT" >&2
