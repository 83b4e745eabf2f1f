#!/usr/bin/env bash
# The model benchmark (bench/bench_models.c) from an existing build: the
# time-series, relational and vector write paths against raw batch puts on
# RocksDB, exact top-10 vector search next to numpy, and 3-hop traversals
# on a 3-member etcd cluster started here with the build's
# tests/etcd_cluster tool (and always stopped again). Prints a Markdown
# section (for docs/benchmarks.md; bench/run.sh appends it) with the exact
# command and what it measured.
#
# Usage: bench/models.sh [BUILD_DIR]   (default: build)
# Environment: the sizes bench_models reads (BM_TS_POINTS, BM_REL_ROWS,
#   BM_VEC_N, BM_VEC_DIM, BM_QUERIES, BM_GRAPH_NODES, BM_GRAPH_DEGREE,
#   BM_HOP_QUERIES; see bench/bench_models.c) and BENCH_DIR (where the
#   RocksDB stores go; default BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${1:-build}
BIN="$BUILD/bench_models"
DIR=${BENCH_DIR:-$BUILD}
if [ ! -x "$BIN" ]; then
  echo "bench models: $BIN not found; build first (make build)" >&2
  exit 1
fi

CLUSTER_BIN="$BUILD/tests/etcd_cluster"
CLUSTER_FILE=
stop_cluster() {
  if [ -n "$CLUSTER_FILE" ]; then
    "$CLUSTER_BIN" stop "$CLUSTER_FILE" >/dev/null 2>&1 || true
    rm -f "$CLUSTER_FILE"
    CLUSTER_FILE=
  fi
}
trap stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

etcd_note=
uri=
if [ ! -x "$CLUSTER_BIN" ]; then
  etcd_note="this build has no tests/etcd_cluster, so the traversal was not measured"
elif ! command -v etcd >/dev/null; then
  etcd_note="etcd is not installed, so the traversal was not measured"
else
  CLUSTER_FILE=$(mktemp "${TMPDIR:-/tmp}/orbit-bench-models-XXXXXX")
  echo "bench models: $CLUSTER_BIN start $CLUSTER_FILE" >&2
  if "$CLUSTER_BIN" start "$CLUSTER_FILE" >&2; then
    uri="etcd://$(sed -n 1p "$CLUSTER_FILE")?namespace=bench-models/"
  else
    etcd_note="the 3-member etcd cluster did not start, so the traversal was not measured"
    CLUSTER_FILE=
  fi
fi

sizes=()
for v in BM_TS_POINTS BM_REL_ROWS BM_VEC_N BM_VEC_DIM BM_QUERIES BM_GRAPH_NODES \
         BM_GRAPH_DEGREE BM_HOP_QUERIES; do
  if [ -n "${!v:-}" ]; then sizes+=("$v=${!v}"); fi
done
cmd=(env BM_DIR="$DIR" ${uri:+BM_ETCD_URI="$uri"} "${sizes[@]}" "$BIN")
echo "bench models: ${cmd[*]}" >&2
load=$(cut -d' ' -f1-3 /proc/loadavg)
result=$("${cmd[@]}")
echo "$result" >&2
stop_cluster

echo
echo "## Models (bench/models.sh)"
echo
echo "- Load average before the run: $load"
echo "- Command: \`${cmd[*]}\`"
if [ -n "$etcd_note" ]; then
  echo "- etcd: $etcd_note."
else
  echo "- etcd: a fresh 3-member cluster on loopback, started by \`$CLUSTER_BIN start\`"
fi
echo
echo '```'
echo "$result"
echo '```'
echo
echo "### What is measured"
echo
echo "Each write workload runs on a fresh RocksDB store (the provider's defaults,"
echo "\`txn=optimistic\`), then the same number of keys and bytes, in the same"
echo "number of batches, is written raw twice, each on a fresh store: as"
echo "\`orbit_kv_write\` batches (the target's baseline) and as contract"
echo "transactions of \`orbit_txn_put\` + commit. Keys written are the keys the"
echo "workload leaves in its object's key range, counted by a scan afterwards"
echo "(time series: points and rollups; relational: rows and the two index"
echo "entries; vectors: one per vector); their key and value bytes are the raw"
echo "runs' bytes. Figures are keys per wall-clock second on a shared machine."
echo
echo "- Time series: \`orbit_ts_madd\` of 1000 float64 points per call, no caller"
echo "  transaction (each call its own), one point per 10 ms, 60 s rollup buckets."
echo "- Relational: \`orbit_table_insert\` of rows (int64 key, unique text, text, float)"
echo "  into a table with a unique and a non-unique index, 1000 rows per \`orbit_tx\`."
echo "- Vectors: \`orbit_vec_put_many\` of 1000 vectors of 128 float32 dims."
echo "- Search: \`orbit_vec_search\` k=10, L2, no filter, over the vectors just put,"
echo "  one thread, after one untimed query; numpy (Debian's, /usr/bin/python3)"
echo "  loads the same vectors and queries from files this run wrote and scans"
echo "  them with \`norms - 2 X @ q\` and argpartition; the top-10 ids are compared."
echo "- Traversal: \`orbit_graph_traverse\` depth 3, out-edges, no tx, from random"
echo "  start nodes of a random graph on etcd; read calls are the contract"
echo "  counters (each a provider round trip), plus one snapshot per query, which"
echo "  the counters do not count."
