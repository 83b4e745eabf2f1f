#!/usr/bin/env bash
# Black-box tests of how `orbit kv` takes values in and gives them back:
# `kv put KEY -` (stdin) and `--value-file F`, any bytes and any size up to
# the store's 64 MiB value limit (inclusive: docs/ARCHITECTURE.md, "values
# over 64 MiB are ETOOBIG"), one byte more refused with ETOOBIG naming the
# limit and nothing written; `kv get --raw` byte-exact (compared with cmp);
# the escaped default, also when stdout is a pipe, printing printable UTF-8
# as itself and everything else as \xhh, and reading back through
# orbit_unescape to the same bytes.
#
# Usage: test_cli_io.sh PATH_TO_ORBIT. Exits non-zero after the first
# failed check, naming it.
set -uo pipefail

ORBIT=${1:?usage: test_cli_io.sh PATH_TO_ORBIT}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/orbit-cli-io-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
unset ORBIT_STORE
STORE="rocksdb:$TMP/db"
LIMIT=$((64 * 1024 * 1024))
checks=0

fail() {
  echo "FAIL: $*" >&2
  if [ -s "$TMP/err" ]; then echo "--- stderr:" >&2; head -c 2000 "$TMP/err" >&2; fi
  exit 1
}

# run EXPECTED_STATUS ARGS... (stdin is the caller's): out/err captured.
run() {
  local want=$1; shift
  "$ORBIT" --store "$STORE" "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  checks=$((checks + 1))
  [ "$got" -eq "$want" ] || fail "orbit $* exited $got, expected $want"
}

same() { # same FILE_A FILE_B WHAT
  checks=$((checks + 1))
  cmp -s "$1" "$2" || fail "$3: the bytes differ ($(cmp "$1" "$2" 2>&1 | head -1))"
}

# ---- every byte value, through stdin, back through --raw -------------------
/usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 3)' >"$TMP/all"
run 0 kv put allbytes - <"$TMP/all"
run 0 kv get --raw allbytes;           same "$TMP/out" "$TMP/all" "stdin -> get --raw"
# --raw writes no newline, even for a value that ends without one
printf 'abc' >"$TMP/abc"
run 0 kv put abc - <"$TMP/abc"
run 0 kv get --raw abc;                same "$TMP/out" "$TMP/abc" "get --raw adds nothing"
# an empty stdin is an empty value
run 0 kv put empty - </dev/null
run 0 kv get --raw empty
[ ! -s "$TMP/out" ] || fail "an empty stdin did not store an empty value"
# the escaped form (the default; stdout is a file here, not a terminal)
# reads back to the same bytes
run 0 kv get allbytes
esc=$(cat "$TMP/out")
run 0 kv put allbytes-again "$esc"
run 0 kv get --raw allbytes-again;     same "$TMP/out" "$TMP/all" "escaped output pasted back"
run 0 kv get --escape abc
[ "$(cat "$TMP/out")" = "abc" ] || fail "--escape abc printed [$(cat "$TMP/out")]"

# ---- --value-file -----------------------------------------------------------
run 0 kv put fromfile --value-file "$TMP/all"
run 0 kv get --raw fromfile;           same "$TMP/out" "$TMP/all" "--value-file"
run 0 kv put fromfile2 --value-file="$TMP/abc"
run 0 kv get --raw fromfile2;          same "$TMP/out" "$TMP/abc" "--value-file="
run 3 kv put nofile --value-file "$TMP/does-not-exist"
grep -qF "$TMP/does-not-exist" "$TMP/err" || fail "a missing value file is not named"
run 1 kv get nofile
run 2 kv put k --value-file "$TMP/abc" extra
run 2 kv put k --value-file

# ---- printable UTF-8 prints as itself, the rest escaped -----------------------
run 0 kv put utf8 'héllo wörld — ✓ 日本語 🚀'
run 0 kv get utf8
[ "$(cat "$TMP/out")" = 'héllo wörld — ✓ 日本語 🚀' ] || fail "UTF-8 printed as [$(cat "$TMP/out")]"
run 0 kv get utf8 </dev/null           # also through a pipe
"$ORBIT" --store "$STORE" kv get utf8 | cat >"$TMP/piped"
[ "$(cat "$TMP/piped")" = 'héllo wörld — ✓ 日本語 🚀' ] || fail "UTF-8 through a pipe printed as [$(cat "$TMP/piped")]"
# invalid UTF-8 (a lone continuation byte, a truncated sequence, an overlong
# '/', a surrogate), a C1 control and a bidi override are escaped
run 0 kv put notutf8 'a\x80b\xc3c\xc0\xafd\xed\xa0\x80e\xc2\x85f\xe2\x80\xaeg'
run 0 kv get notutf8
[ "$(cat "$TMP/out")" = 'a\x80b\xc3c\xc0\xafd\xed\xa0\x80e\xc2\x85f\xe2\x80\xaeg' ] ||
  fail "invalid UTF-8 printed as [$(cat "$TMP/out")]"
run 0 kv put utf8key:é 'v'
run 0 kv scan --prefix 'utf8key:'
[ "$(cat "$TMP/out")" = "$(printf 'utf8key:é\tv')" ] || fail "scan printed [$(cat "$TMP/out")]"

# ---- big values: 10 MiB through stdin, exactly the limit, one byte over --------
head -c $((10 * 1024 * 1024)) /dev/urandom >"$TMP/ten"
run 0 kv put ten - <"$TMP/ten"
run 0 kv get --raw ten;                same "$TMP/out" "$TMP/ten" "10 MiB through stdin"
rm -f "$TMP/ten" "$TMP/out"

# Exactly the limit is accepted (the limit is on the user's value, not the
# value with its record envelope).
head -c $LIMIT /dev/urandom >"$TMP/max"
run 0 kv put max - <"$TMP/max"
run 0 kv get --raw max;                same "$TMP/out" "$TMP/max" "a value of exactly 64 MiB"
rm -f "$TMP/out"
# One byte more is refused before anything is written, naming the limit.
{ cat "$TMP/max"; printf 'x'; } | "$ORBIT" --store "$STORE" kv put over - >"$TMP/out" 2>"$TMP/err"
st=$?; checks=$((checks + 1))
[ $st -eq 3 ] || fail "a value of 64 MiB + 1 exited $st, expected 3"
grep -qF "value or request too large" "$TMP/err" || fail "64 MiB + 1 is not ETOOBIG"
grep -qF "$LIMIT" "$TMP/err" || fail "the ETOOBIG message does not name the limit $LIMIT"
run 1 kv get over
run 3 kv put over2 --value-file /dev/zero   # an endless file stops at the limit
grep -qF "$LIMIT" "$TMP/err" || fail "an endless --value-file is not refused at the limit"
rm -f "$TMP/max"

echo "cli io: all $checks checks passed"
