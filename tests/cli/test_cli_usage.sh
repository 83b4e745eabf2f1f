#!/usr/bin/env bash
# Black-box tests of the `orbit` command line as a new user meets it:
#  - --help and -h on every command and subcommand: exit 0, usage on stdout,
#    nothing on stderr, no store opened or created; each help lists its
#    defaults;
#  - --version: the project's version and the providers built in;
#  - one exit-status rule: 0 success, 1 not found, 2 bad usage (including
#    a malformed URI, an unknown provider or option), 3 the store or the
#    operation failed;
#  - commands that only read (kv get, kv scan) never create a store: a
#    missing one is exit 3 naming the path, and no directory appears;
#  - URIs that are surely mistakes (rocksdb://tmp/x, rocksdb:~/x, port
#    99999) are refused with a hint and create nothing;
#  - --read-only and `store repair` on rocksdb: stores.
#
# Usage: test_cli_usage.sh PATH_TO_ORBIT VERSION. Exits non-zero after the
# first failed check, naming it.
set -uo pipefail

ORBIT=${1:?usage: test_cli_usage.sh PATH_TO_ORBIT VERSION}
VERSION=${2:?usage: test_cli_usage.sh PATH_TO_ORBIT VERSION}
case "$ORBIT" in /*) ;; *) ORBIT="$PWD/$ORBIT" ;; esac
TMP=$(mktemp -d "${TMPDIR:-/tmp}/orbit-cli-usage-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
unset ORBIT_STORE
mkdir "$TMP/cwd"
cd "$TMP/cwd" || exit 1
checks=0

fail() {
  echo "FAIL: $*" >&2
  if [ -s "$TMP/out" ]; then echo "--- stdout:" >&2; head -30 "$TMP/out" >&2; fi
  if [ -s "$TMP/err" ]; then echo "--- stderr:" >&2; head -30 "$TMP/err" >&2; fi
  exit 1
}

# orbit EXPECTED_STATUS ARGS...: run orbit as given (no --store added).
orbit() {
  local want=$1; shift
  "$ORBIT" "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  checks=$((checks + 1))
  [ "$got" -eq "$want" ] || fail "orbit $* exited $got, expected $want"
}

out_has() { grep -qF -- "$1" "$TMP/out" || fail "stdout lacks [$1]"; }
err_has() { grep -qF -- "$1" "$TMP/err" || fail "stderr lacks [$1]"; }
nothing_created() {
  local left
  left=$(ls -A "$TMP/cwd")
  [ -z "$left" ] || fail "the working directory gained [$left]"
}

# ---- --help and -h everywhere --------------------------------------------------
helps=(
  "--help" "-h" "help" "help kv" "help store" "help demo" "help bench"
  "kv --help" "kv -h" "kv put --help" "kv put -h" "kv put KEY --help" "kv get --help"
  "kv get -h" "kv get --raw -h" "kv del --help" "kv scan --help" "kv scan --limit 3 -h"
  "store --help" "store -h" "store repair --help" "store repair -h"
  "demo --help" "demo -h"
  "bench --help" "bench -h" "bench kv --help" "bench kv -h" "bench kv --keys 10 --help"
  "--store memory: bench kv --help" "--store etcd://127.0.0.1:1 bench kv --help"
  "--store etcd://127.0.0.1:1 kv get --help" "--store rocksdb:nosuchdir kv scan -h"
  "--read-only kv get -h"
)
for h in "${helps[@]}"; do
  # shellcheck disable=SC2086 # each entry is a word list
  orbit 0 $h
  head -1 "$TMP/out" | grep -q '^usage:' || fail "orbit $h: stdout does not start with usage:"
  [ ! -s "$TMP/err" ] || fail "orbit $h wrote to stderr"
  nothing_created
done
# Each help lists its defaults.
orbit 0 --help;               out_has 'default: $ORBIT_STORE, else rocksdb:./data'; out_has 'Exit status'
orbit 0 bench kv --help;      out_has '--keys 1000000'; out_has '--compression lz4'; out_has '--ops 10000 --depth 64'
orbit 0 kv --help;            out_has 'default: every key, no limit, ascending'; out_has '64 MiB'
orbit 0 store repair --help;  out_has 'default: the global --store'
# After "--" a "-h" is an argument, not a request for help.
STORE="rocksdb:$TMP/db"
orbit 0 --store "$STORE" kv put -- -h dash-h
orbit 0 --store "$STORE" kv get -- -h;  [ "$(cat "$TMP/out")" = dash-h ] || fail "key -h"
orbit 0 --store "$STORE" kv put k -5;   # a value starting with one '-' is a value
orbit 0 --store "$STORE" kv get k;      [ "$(cat "$TMP/out")" = -5 ] || fail "value -5"

# ---- --version -------------------------------------------------------------------
for v in --version -V; do
  orbit 0 $v
  [ "$(head -1 "$TMP/out")" = "orbit $VERSION" ] || fail "$v said [$(head -1 "$TMP/out")], expected [orbit $VERSION]"
  grep -Eq '^providers:( [a-z]+)+$' "$TMP/out" || fail "$v does not list the providers"
  out_has ' memory'
done
orbit 0 --version; out_has ' rocksdb'; out_has ' etcd'   # this build has both

# ---- exit status: 0 / 1 / 2 / 3 -------------------------------------------------
orbit 0 --store "$STORE" kv put a 1
orbit 1 --store "$STORE" kv get nosuchkey;   err_has 'not found'
[ ! -s "$TMP/out" ] || fail "a missing key printed on stdout"
orbit 2 frobnicate;                          err_has 'unknown command frobnicate'
orbit 2 --nosuchoption kv get a
orbit 2 kv;  orbit 2 kv jump;  orbit 2 kv get;  orbit 2 kv get a b;  orbit 2 kv put onlykey
orbit 2 kv get --sideways a;  orbit 2 store;  orbit 2 store fix;  orbit 2 bench;  orbit 2 help nosuch
orbit 2 --store "$STORE" kv get 'bad\q';     err_has 'bad KEY'
orbit 2 --store "$STORE?bogus_option=1" kv get a;  err_has 'bogus_option'
orbit 2 --store "$STORE?bogus_option=1" kv put a 1
orbit 2 --store nosuchprovider:x kv get a;   err_has 'nosuchprovider'
orbit 2 --store 'memory:?txn=sideways' kv get a
orbit 2 --store memory: bench kv;            err_has 'no benchmark for it'
orbit 2 --read-only --store memory: kv get a; err_has 'read-only'
orbit 1 --store memory: kv get a             # a fresh in-memory store is empty
nothing_created

# Bad URIs: refused with a hint, creating nothing.
orbit 2 --store rocksdb://tmp/x kv put a 1;  err_has 'rocksdb:/tmp/x'; err_has 'rocksdb:tmp/x'
orbit 2 --store rocksdb://tmp/x kv get a
orbit 2 --store 'rocksdb:~/x' kv put a 1;    err_has '$HOME/x'
orbit 2 --store 'rocksdb:~' kv get a
for uri in etcd://127.0.0.1:99999 etcd://127.0.0.1:0 etcd://127.0.0.1:http etcd://:2379 etcd://127.0.0.1; do
  orbit 2 --store "$uri" kv get a;           err_has 'malformed store URI'
done
err_has 'has no port'
nothing_created

# An unreachable store is a store failure, reported within its connect
# deadline (well before the operation timeout of 60 s given here).
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
orbit 3 --store "etcd://127.0.0.1:$port?timeout_ms=60000&connect_timeout_ms=300" kv get a
err_has 'service unavailable'; err_has "127.0.0.1:$port"; err_has 'connect deadline'

# ---- reads never create a store ---------------------------------------------------------
orbit 3 kv get a                             # the default store, ./data, is missing
err_has 'data'; err_has 'never create a store'
nothing_created
orbit 3 kv scan
nothing_created
orbit 3 --store rocksdb:typo kv get a;       err_has 'typo'
orbit 3 --store rocksdb:typo kv scan --prefix p
orbit 3 --store "rocksdb:$TMP/missing" kv get a;  err_has "$TMP/missing"
orbit 3 --store "rocksdb:$TMP/missing?sync=off" kv scan   # options already there
[ ! -e "$TMP/missing" ] || fail "a read created $TMP/missing"
nothing_created
ORBIT_STORE="rocksdb:$TMP/missing" "$ORBIT" kv get a >"$TMP/out" 2>"$TMP/err"
[ $? -eq 3 ] || fail "get through \$ORBIT_STORE on a missing store"
[ ! -e "$TMP/missing" ] || fail "a read through \$ORBIT_STORE created the store"
# A write creates it; reads then work.
orbit 0 kv put a 1
[ -d data ] || fail "kv put did not create ./data"
orbit 0 kv get a;  [ "$(cat "$TMP/out")" = 1 ] || fail "get after put"
orbit 0 kv scan
rm -rf data

# ---- --read-only -----------------------------------------------------------------------------
orbit 0 --read-only --store "$STORE" kv get a;    [ "$(cat "$TMP/out")" = 1 ] || fail "read-only get"
orbit 0 --read-only --store "$STORE" kv scan;     out_has 'a'
orbit 3 --read-only --store "$STORE" kv put a 2
orbit 0 --store "$STORE" kv get a;                [ "$(cat "$TMP/out")" = 1 ] || fail "a read-only put changed the value"
orbit 3 --read-only --store "rocksdb:$TMP/missing" kv get a
[ ! -e "$TMP/missing" ] || fail "a read-only open created the store"

# ---- store repair ------------------------------------------------------------------------
orbit 0 store repair --store "$STORE";            out_has 'wal_recovery=salvage'; out_has 'recovery:'
orbit 0 --store "$STORE" kv get a;                [ "$(cat "$TMP/out")" = 1 ] || fail "data after repair"
orbit 0 store repair "$TMP/db"
orbit 0 --store "$STORE" store repair
orbit 3 store repair "$TMP/missing"
[ ! -e "$TMP/missing" ] || fail "store repair created a missing store"
orbit 2 store repair --store memory:;             err_has 'rocksdb:'
orbit 2 store repair --store "$STORE?wal_recovery=strict"
orbit 2 store repair a b

echo "cli usage: all $checks checks passed"
