#!/usr/bin/env bash
# The TiKV provider's benchmark (bench/bench_tikv.c) from an existing build,
# on the PD/TiKV test cluster (tests/tikv/cluster.py: a Python gRPC fixture
# on Debian's python3-grpcio, not TiKV). The cluster is started here with the
# build's tests/tikv_cluster tool (one PD, 3 stores on free loopback ports,
# regions split at "g" and "t", its files in a fresh temp directory) and is
# always stopped again, its directory removed. Prints a Markdown section (for
# docs/benchmarks.md; bench/run.sh appends it) with the exact command, the
# load average and what was measured.
#
# Usage: bench/tikv.sh [BUILD_DIR]   (default: build)
# Environment: BENCH_TIKV_OPS1 / BENCH_TIKV_OPS64 (operations per workload at
#   depth 1 / 64; defaults 1800 / 3840), BENCH_TIKV_TXNS (transactions per
#   round-trip count; default 20).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${1:-build}
BIN="$BUILD/bench_tikv"
CLUSTER_BIN="$BUILD/tests/tikv_cluster"
OPS1=${BENCH_TIKV_OPS1:-1800}
OPS64=${BENCH_TIKV_OPS64:-3840}
TXNS=${BENCH_TIKV_TXNS:-20}

echo
echo "## TiKV provider on the PD/TiKV test cluster (bench/tikv.sh)"
echo
if [ ! -x "$BIN" ] || [ ! -x "$CLUSTER_BIN" ]; then
  echo "Not measured: this build has no bench_tikv or tests/tikv_cluster (it needs"
  echo "the tests and the TiKV provider)."
  echo "bench tikv: $BIN or $CLUSTER_BIN not found" >&2
  exit 1
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

CLUSTER_FILE=$(mktemp "${TMPDIR:-/tmp}/orbit-bench-tikv-XXXXXX")
echo "bench tikv: $CLUSTER_BIN start $CLUSTER_FILE --split g,t" >&2
if ! "$CLUSTER_BIN" start "$CLUSTER_FILE" --split g,t >&2; then
  echo "**Not complete:** the PD/TiKV test cluster did not start (\`$CLUSTER_BIN start\`)."
  exit 1
fi
cmd=("$BIN" --ops1 "$OPS1" --ops64 "$OPS64" --txns "$TXNS")
echo "bench tikv: $CLUSTER_BIN run FILE -- ${cmd[*]}" >&2
load=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
if ! r=$("$CLUSTER_BIN" run "$CLUSTER_FILE" -- "${cmd[@]}" 2>"$CLUSTER_FILE.err"); then
  cat "$CLUSTER_FILE.err" >&2
  echo "**Not complete:** \`${cmd[*]}\` failed:"
  echo
  echo '```'
  echo "$r"
  cat "$CLUSTER_FILE.err"
  echo '```'
  exit 1
fi
secs=$(( $(date +%s) - start ))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
stop_cluster
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); Orbit commit $commit; $(nproc) CPUs"
echo "- Cluster: \`$CLUSTER_BIN start FILE --split g,t\` (one PD, 3 stores, 3 regions"
echo "  with leaders on different stores), on loopback on this machine"
echo "- Driver: \`bash bench/tikv.sh $BUILD\`, which ran \`$CLUSTER_BIN run FILE -- ${cmd[*]}\`"
echo "  (${secs} s)"
echo "- Load average before: $load; after: $load_after"
echo
echo "The server side is a Python fixture (tests/tikv/cluster.py), not TiKV: the"
echo "absolute figures are the fixture's (a Python process serving at most a few"
echo "thousand requests a second here, on the same CPUs as the client). The ratio"
echo "Orbit / bare of the same calls within one run is the figure that matters"
echo "(target >= 0.9). Orbit sends exactly the requests the bare loops send (the"
echo "last tables count them), so the ratio is the client's own cost; on a loaded"
echo "machine it also moves from run to run by more than 10%, so compare reruns"
echo "before reading a small difference into it."
echo
echo "$r"
echo
echo "### What is measured"
echo
echo "Depth D is D client threads, each with one synchronous operation at a time,"
echo "as the bare loops are (\`orbit_kv_submit\` runs each op the same way on a"
echo "thread of the provider's own pool). Keys \`bench/%08u\` (1024 of them, all"
echo "in one region, written once before timing), 100-byte values; thread s of D"
echo "touches only keys = s mod D. The workloads take turns in 10 slices, in table"
echo "order and in reverse, so drift and other load fall on all of them alike."
echo "ops/s is by wall clock; client CPU is the benchmark process's CPU time (all"
echo "its threads; the cluster is another process) per operation."
echo "The median column is the median over the 10 slices of each slice's"
echo "bare / Orbit time ratio (the two ran one after the other), which a burst"
echo "of other load moves less than the ratio of the totals."
echo
echo "- **bare put, GetTs + KvPrewrite**: what Orbit's plain put sends, built by the"
echo "  benchmark with the protoc-c messages of proto/ on Orbit's gRPC transport"
echo "  (src/rpc), no Orbit layer: a TsoRequest (count 1) on the thread's own"
echo "  \`/pdpb.PD/Tso\` stream, then one \`KvPrewrite\` with \`try_one_pc\` (a 1PC"
echo "  transaction) to the leader of the key's region, located once before."
echo "- **bare put, pre-fetched ts**: the \`KvPrewrite\` alone, its start_ts from"
echo "  one untimed TsoRequest for the whole slice: the floor of the store's work."
echo "- **Orbit put**: \`orbit_kv_put\` on \`orbit_kv_open(\"tikv://PD\")\`: the"
echo "  contract layer, the provider's batched TSO (concurrent transactions share"
echo "  a TsoRequest), region cache and send loop."
echo "- **bare get / Orbit get**: GetTs then a snapshot \`KvGet\` at it (or at a"
echo "  pre-fetched ts); \`orbit_kv_get\`. Every value is checked for its length."
echo
echo "TSO batching is the cluster's TsoRequest count over the Orbit puts at"
echo "depth 64. Requests per transaction are the cluster's per-method counters"
echo "over \`orbit_kv_write\` batches, one transaction at a time: \"before the ack\""
echo "is read when the write returned, with async commit's background commits"
echo "held back by the provider's test hook; \"after the ack\" is what those"
echo "background commits sent once released. \"path taken\" is the provider's own"
echo "count of commits by path. A 3-region transaction's prewrites (and 2PC's"
echo "commits of the secondaries, after the primary's) go out in parallel, one per region."
