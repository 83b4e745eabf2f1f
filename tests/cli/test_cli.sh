#!/usr/bin/env bash
# Black-box tests of the `orbit` CLI (src/cli): kv put/get/del/scan with
# escapes, scan bounds and order, exit statuses (0 ok, 1 missing key,
# 2 usage or a bad store URI, 3 failure), store URI errors, `orbit demo` run twice on one store, and
# a tiny functional `orbit bench kv`: on RocksDB, and on a one-node etcd
# started here when etcd is installed (no speed is ever asserted).
#
# Usage: test_cli.sh PATH_TO_ORBIT. Exits non-zero after the first failed
# check, naming it.
set -uo pipefail

ORBIT=${1:?usage: test_cli.sh PATH_TO_ORBIT}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/orbit-cli-XXXXXX")
ETCD_PID=
cleanup() {
  if [ -n "$ETCD_PID" ]; then kill "$ETCD_PID" 2>/dev/null; wait "$ETCD_PID" 2>/dev/null; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
unset ORBIT_STORE
STORE="rocksdb:$TMP/db"
checks=0

fail() {
  echo "FAIL: $*" >&2
  if [ -s "$TMP/out" ]; then echo "--- stdout:" >&2; head -50 "$TMP/out" >&2; fi
  if [ -s "$TMP/err" ]; then echo "--- stderr:" >&2; head -50 "$TMP/err" >&2; fi
  exit 1
}

# run EXPECTED_STATUS ARGS...: run orbit on $STORE, capture out/err.
run() {
  local want=$1; shift
  "$ORBIT" --store "$STORE" "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  checks=$((checks + 1))
  [ "$got" -eq "$want" ] || fail "orbit $* exited $got, expected $want"
}

# expect_out TEXT: stdout is exactly TEXT (plus the final newline).
expect_out() {
  local want got
  want=$(printf '%s' "$1")
  got=$(cat "$TMP/out")
  [ "$got" = "$want" ] || fail "stdout was [$got], expected [$want]"
}

expect_err_has() {
  grep -qF -- "$1" "$TMP/err" || fail "stderr lacks [$1]"
}

expect_out_has() {
  grep -qF -- "$1" "$TMP/out" || fail "stdout lacks [$1]"
}

# ---- put / get / del round trips ----------------------------------------
run 0 kv put 'user:1' 'Ada Lovelace'
run 0 kv get 'user:1';                 expect_out 'Ada Lovelace'
run 0 kv put 'with space:and:colons' 'a b:c'
run 0 kv get 'with space:and:colons';  expect_out 'a b:c'
run 0 kv put 'nul\0key' 'v\0\xff\x01'
run 0 kv get 'nul\0key';               expect_out 'v\x00\xff\x01'
run 0 kv get 'nul\x00key';             expect_out 'v\x00\xff\x01'
run 1 kv get 'nul';                    # a prefix of the key is another key
run 0 kv put '\xff\xfe' 'back\\slash'
run 0 kv get '\xFF\xfe';               expect_out 'back\\slash'
run 0 kv put 'empty' ''
run 0 kv get 'empty';                  expect_out ''
run 0 kv put -- '--dashes' 'x'
run 0 kv get -- '--dashes';            expect_out 'x'
run 0 kv put 'user:1' 'overwritten'
run 0 kv get 'user:1';                 expect_out 'overwritten'

# ---- missing keys and deletes -------------------------------------------
run 1 kv get 'no such key'
expect_err_has 'not found'
[ ! -s "$TMP/out" ] || fail "a missing key printed something on stdout"
run 0 kv del 'user:1'
run 1 kv get 'user:1'
run 0 kv del 'user:1'                  # deleting an absent key succeeds

# ---- scans ---------------------------------------------------------------
STORE="rocksdb:$TMP/scan"
for k in b a 'c:1' 'c:2' 'c:3' 'd' ; do
  run 0 kv put "$k" "val-$k"
done
run 0 kv put 'c:\x00' 'tab\there'
run 0 kv scan
expect_out "$(printf 'a\tval-a\nb\tval-b\nc:\\x00\ttab\\x09here\nc:1\tval-c:1\nc:2\tval-c:2\nc:3\tval-c:3\nd\tval-d')"
run 0 kv scan --prefix 'c:'
expect_out "$(printf 'c:\\x00\ttab\\x09here\nc:1\tval-c:1\nc:2\tval-c:2\nc:3\tval-c:3')"
run 0 kv scan --prefix 'c:' --reverse --limit 2
expect_out "$(printf 'c:3\tval-c:3\nc:2\tval-c:2')"
run 0 kv scan --start b --end c:2
expect_out "$(printf 'b\tval-b\nc:\\x00\ttab\\x09here\nc:1\tval-c:1')"
run 0 kv scan --start=c:1 --end=d --reverse
expect_out "$(printf 'c:3\tval-c:3\nc:2\tval-c:2\nc:1\tval-c:1')"
run 0 kv scan --limit 1
expect_out "$(printf 'a\tval-a')"
run 0 kv scan --prefix 'zzz'
expect_out ''
run 0 kv scan --prefix 'c:\x00'
expect_out "$(printf 'c:\\x00\ttab\\x09here')"
# Every line of a scan unescapes back to the stored key.
run 0 kv scan --prefix 'c:'
while IFS=$'\t' read -r k v; do
  "$ORBIT" --store "$STORE" kv get "$k" >"$TMP/one" 2>/dev/null ||
    fail "scanned key [$k] does not get back"
  [ "$(cat "$TMP/one")" = "$v" ] || fail "scanned [$k] has [$v], get says [$(cat "$TMP/one")]"
done <"$TMP/out"

# ---- usage errors exit 2 ---------------------------------------------------
run 2
run 2 frobnicate
expect_err_has 'unknown command frobnicate'
run 2 kv
run 2 kv jump
run 2 kv put onlykey
run 2 kv get a b
run 2 kv get 'bad\q'
expect_err_has 'bad KEY'
run 2 kv put k 'bad\x4'
run 2 kv scan --limit many
run 2 kv scan --limit
run 2 kv scan --sideways
run 2 kv get --nokey
run 2 --nosuchoption kv get a
run 2 demo extra
run 2 bench
run 2 bench kv --keys 0
run 2 bench kv --keys
run 0 help;   expect_out_has 'kv scan'
run 0 --help; expect_out_has 'kv put KEY VALUE'

# ---- store URI errors exit 2 with a clear message ----------------------------
STORE="rocksdb:$TMP/db?bogus_option=1"
run 2 kv get a
expect_err_has 'bogus_option'
expect_err_has 'orbit: cannot open store'
STORE="nosuchprovider:x"
run 2 kv get a
expect_err_has 'nosuchprovider'
STORE="memory:"
run 1 kv get a                         # a fresh in-memory store is empty

# ---- $ORBIT_STORE and --store= -----------------------------------------------
ORBIT_STORE="rocksdb:$TMP/env" "$ORBIT" kv put envkey envval >"$TMP/out" 2>"$TMP/err" ||
  fail "put through \$ORBIT_STORE"
"$ORBIT" --store="rocksdb:$TMP/env" kv get envkey >"$TMP/out" 2>"$TMP/err" ||
  fail "get through --store="
expect_out 'envval'

# ---- demo twice on one store -------------------------------------------------
STORE="rocksdb:$TMP/demo"
run 0 demo
expect_out_has 'committed'
expect_out_has 'conflict'
run 0 demo
expect_out_has 'snapshot'
run 0 kv get 'demo:greeting';          expect_out 'hello, orbit'
run 0 kv get 'demo:counter'
[ "$(cat "$TMP/out")" -gt 0 ] 2>/dev/null || fail "demo:counter is not a positive number"

# ---- bench, functional only ----------------------------------------------------
run 0 bench kv --keys 2000 --dir "$TMP"
expect_out_has 'raw RocksDB, DB'
expect_out_has 'raw RocksDB, TransactionDB'
expect_out_has 'Orbit, rocksdb default'
expect_out_has 'Orbit, rocksdb pessimistic'
expect_out_has 'ratio Orbit (default) / raw DB:'
expect_out_has 'ratio Orbit pessimistic / raw TransactionDB:'
grep -Eq '^Orbit, rocksdb default( +[0-9]+){4}$' "$TMP/out" ||
  fail "no Orbit put/get figures"
grep -Eq '^Orbit, rocksdb pessimistic( +[0-9]+){4}$' "$TMP/out" ||
  fail "no Orbit pessimistic put/get figures"
grep -Eq '^raw RocksDB, TransactionDB( +[0-9]+){4}$' "$TMP/out" ||
  fail "no raw put/get figures"
ls -d "$TMP"/orbit-bench-* >/dev/null 2>&1 && fail "bench left its directory behind"
run 0 bench kv --keys 500 --dir "$TMP" --only orbit
expect_out_has 'orbit'
grep -q 'raw-db' "$TMP/out" && fail "--only orbit ran the raw engines"
run 2 bench kv --only nosuch
run 2 bench kv --compression brotli
run 2 bench kv --random-pct 0
run 0 bench kv --keys 300 --dir "$TMP" --compression none --random-pct 100 --rounds 2
expect_out_has 'none compression'
expect_out_has 'medians of 2 rounds'

# ---- bench kv on an etcd store: a one-node cluster started here ----------------
# The store's scheme picks the benchmark: on rocksdb, --ops is not an option.
run 2 bench kv --ops 10
expect_err_has 'unexpected argument --ops'
run 2 bench etcd --ops 10              # one subcommand: there is no `bench etcd`
if command -v etcd >/dev/null && command -v python3 >/dev/null; then
  # Free ports are picked, then bound by etcd: another test picking ports at
  # the same moment can take one first, so a member that dies or never
  # answers is replaced on fresh ports (three tries), and each probe has a
  # short deadline.
  start_etcd() {
    read -r CPORT PPORT < <(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
    rm -rf "$TMP/etcd"
    etcd --name cli --data-dir "$TMP/etcd" \
      --listen-client-urls "http://127.0.0.1:$CPORT" --advertise-client-urls "http://127.0.0.1:$CPORT" \
      --listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
      --initial-cluster "cli=http://127.0.0.1:$PPORT" >"$TMP/etcd.log" 2>&1 &
    ETCD_PID=$!
    for _ in $(seq 100); do
      kill -0 "$ETCD_PID" 2>/dev/null || return 1
      "$ORBIT" --store "etcd://127.0.0.1:$CPORT?namespace=cli-test/&timeout_ms=1000" \
        kv put ping pong >/dev/null 2>&1 && return 0
      sleep 0.2
    done
    return 1
  }
  up=0
  for _ in 1 2 3; do
    if start_etcd; then up=1; break; fi
    kill "$ETCD_PID" 2>/dev/null; wait "$ETCD_PID" 2>/dev/null; ETCD_PID=
  done
  [ $up = 1 ] || { tail -20 "$TMP/etcd.log"; fail "etcd did not start on free ports (3 tries)"; }
  STORE="etcd://127.0.0.1:$CPORT?namespace=cli-test/"
  run 0 kv get ping;                   expect_out 'pong'
  run 0 bench kv --ops 100 --depth 4
  expect_out_has '100 operations per workload, 4 in flight'
  for w in 'bare  KV.Put' "bare  KV.Txn, as Orbit's guarded put" \
           'Orbit put (writes=guarded, default)' 'Orbit put (writes=plain)' \
           'bare  KV.Range, linearizable' 'Orbit get (read=linearizable, default)' \
           'bare  KV.Range, serializable' 'Orbit get (read=serializable)'; do
    grep -q "^$w  *[0-9][0-9]*  *[0-9][0-9.]*\$" "$TMP/out" || fail "no figures for [$w]"
  done
  expect_out_has 'put, guarded: Orbit put (grouped) / bare KV.Txn'
  expect_out_has 'put, writes=plain: Orbit put / bare KV.Put'
  expect_out_has 'get, linearizable: Orbit get / bare KV.Range'
  expect_out_has 'get, serializable: Orbit get / bare KV.Range'
  expect_out_has 'bare KV.Txn / bare KV.Put'
  expect_out_has 'Orbit put (guarded, grouped) / bare KV.Put'
  expect_out_has 'cleanup: deleted 100 keys under "cli-test/bench/"'
  run 0 kv scan --prefix 'bench/';     expect_out ''   # the benchmark's keys are gone
  run 0 kv get ping;                   expect_out 'pong' # and nothing else is
  run 2 bench kv --keys 10               # a RocksDB option, not an etcd one
  run 2 bench kv --depth 0
  run 2 bench kv --ops
  STORE="etcd://127.0.0.1:$CPORT?namespace=cli-test/&read=serializable"
  run 3 bench kv --ops 10                # it measures both read modes itself
  expect_err_has 'leave them out'
else
  echo "cli: etcd or python3 not installed, bench kv on etcd not run"
fi

echo "cli: all $checks checks passed"
