#!/usr/bin/env bash
# A store written by many short-lived processes stays small and opens under
# a low descriptor limit (issue 7, item 2). Runs N one-shot
# `orbit --store rocksdb:DIR kv put kI vI` invocations (N = $ORBIT_ONESHOT_N,
# default 2000), then checks that DIR holds a small, bounded number of files
# and that, under `ulimit -n 128`, one-shot reads find a sample of the keys,
# a scan counts all N, and one more write works.
#
# Each open flushes the previous process's WAL into a tiny level-0 file; the
# rocksdb provider compacts level 0 (and small level-1 files) at a writable
# open, so without that the store would hold N table files and fail to open
# once N exceeds the descriptor limit.
#
# Usage: test_oneshot.sh path/to/orbit
set -u

ORBIT=${1:?usage: test_oneshot.sh path/to/orbit}
N=${ORBIT_ONESHOT_N:-2000}
# The bound on files in the store directory: a handful of table files, the
# WAL, MANIFEST, CURRENT, IDENTITY, LOCK, two OPTIONS files and a few info
# LOGs. It does not depend on N.
MAX_FILES=40
MAX_SST=16

dir=$(mktemp -d "${TMPDIR:-/tmp}/orbit-oneshot.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
store="rocksdb:$dir/db"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

for ((i = 1; i <= N; i++)); do
    "$ORBIT" --store "$store" kv put "k$i" "v$i" >/dev/null 2>"$dir/err" ||
        fail "put #$i: $(cat "$dir/err")"
    # The bound holds all along, not only at the end.
    if ((i % 250 == 0)); then
        n=$(find "$dir/db" -maxdepth 1 -type f | wc -l)
        ((n <= MAX_FILES)) || fail "after $i puts the store holds $n files (bound $MAX_FILES)"
    fi
done

files=$(find "$dir/db" -maxdepth 1 -type f | wc -l)
ssts=$(find "$dir/db" -maxdepth 1 -name '*.sst' | wc -l)
echo "after $N one-shot puts: $files files, $ssts table files"
((files <= MAX_FILES)) || fail "$files files in the store (bound $MAX_FILES)"
((ssts <= MAX_SST)) || fail "$ssts table files in the store (bound $MAX_SST)"

(
    ulimit -n 128 || exit 2
    step=$((N / 50 > 0 ? N / 50 : 1))
    for ((i = 1; i <= N; i += step)); do
        got=$("$ORBIT" --store "$store" kv get "k$i" 2>"$dir/err") ||
            { echo "get k$i under ulimit -n 128: $(cat "$dir/err")" >&2; exit 1; }
        [[ $got == "v$i" ]] || { echo "get k$i gave '$got'" >&2; exit 1; }
    done
    got=$("$ORBIT" --store "$store" kv get "k$N") || exit 1
    [[ $got == "v$N" ]] || { echo "get k$N gave '$got'" >&2; exit 1; }
    count=$("$ORBIT" --store "$store" kv scan --prefix k | wc -l)
    [[ $count -eq $N ]] || { echo "scan under ulimit -n 128 found $count keys, want $N" >&2; exit 1; }
    "$ORBIT" --store "$store" kv put extra 1 >/dev/null || exit 1
) || fail "reads under ulimit -n 128"

echo "ok: $N one-shot puts, bounded files, reads under ulimit -n 128"
