#!/usr/bin/env bash
# Black-box test of orbitd with Redis's own tools: redis-cli over every
# built command family (replies and error texts as redis-cli prints them),
# then redis-benchmark -t set,get,incr,lpush,rpush,lpop,sadd,hset,zadd,mset
# (the issue's list; every family is built), which must finish
# with no error replies.
#
# Usage: test_cli.sh ORBITD STORE_URI   ({dir} in the URI: a fresh directory;
#                                        {uniq}: a fresh namespace)
set -euo pipefail
ORBITD=$1
STORE=${2:-}
[ -n "$STORE" ] || STORE='rocksdb:{dir}'
TMP=$(mktemp -d "${TMPDIR:-/tmp}/orbitd-cli-XXXXXX")
dir_ph='{dir}'
uniq_ph='{uniq}'
STORE=${STORE//"$dir_ph"/$TMP/data}
STORE=${STORE//"$uniq_ph"/cli$$-$RANDOM}
# etcd and the TiKV test cluster answer slowly: fewer benchmark requests there
BENCH_N=10000
case $STORE in etcd:*) BENCH_N=500 ;; tikv:*) BENCH_N=300 ;; esac
PID=
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID"; wait "$PID" || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
env -u ORBIT_STORE -u ORBIT_PORT "$ORBITD" --store "$STORE" --port "$PORT" --http-port 0 2>"$TMP/log" &
PID=$!
for _ in $(seq 200); do
  if [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ]; then break; fi
  sleep 0.05
done

fail=0
# check "expected output" redis-cli-args...
check() {
  local want=$1; shift
  local got
  got=$(redis-cli -p "$PORT" "$@" 2>&1) || got="$got (redis-cli exit $?)"
  if [ "$got" != "$want" ]; then
    echo "FAIL: redis-cli $*"
    echo "  want: $(printf %q "$want")"
    echo "  got:  $(printf %q "$got")"
    fail=1
  fi
}

check OK flushdb
check PONG ping
check hello echo hello
check OK set k v
check v get k
check "" get nosuch
check OK set n 10
check 11 incr n
check 6 decrby n 5
check 7.5 incrbyfloat n 1.5
check "ERR value is not an integer or out of range" incr k
check 3 append k ab
check vab get k
check 3 strlen k
check ab getrange k 1 -1
check OK mset a 1 b 2
check $'1\n2' mget a b nosuch
check OK set e x ex 100
check 100 ttl e
check 1 persist e
check -1 ttl e
check string type k
check 2 del a b
check 0 exists a b
check OK rename k k2
check "ERR no such key" rename k k3
check 2 hset h f1 v1 f2 v2
check v1 hget h f1
check $'f1\nv1\nf2\nv2' hgetall h
check 2 hlen h
check 5 hincrby h cnt 5
check hash type h
check 2 sadd st x y
check $'x\ny' smembers st
check 1 sismember st x
check 2 rpush li a b
check $'a\nb' lrange li 0 -1
check a lpop li
check 2 zadd zs 1 a 2 b
check $'a\n1\nb\n2' zrange zs 0 -1 withscores
check "WRONGTYPE Operation against a key holding the wrong kind of value" get h
check "ERR unknown command 'nosuch', with args beginning with: 'x' " nosuch x
check "ERR wrong number of arguments for 'get' command" get
check "ERR syntax error" set k v bogus
check "ERR unknown command 'sort', with args beginning with: 'l' 'x' " sort l x
check $'e\nh\nk2\nli\nn\nst\nzs' --scan
check 7 dbsize
# MULTI/EXEC through redis-cli's interactive pipe
got=$(printf 'MULTI\nINCR m\nINCR m\nEXEC\n' | redis-cli -p "$PORT") || true
if [ "$got" != $'OK\nQUEUED\nQUEUED\n1\n2' ]; then echo "FAIL: multi/exec: $(printf %q "$got")"; fail=1; fi
# COMMAND DOCS is what redis-cli builds its hints from
got=$(redis-cli -p "$PORT" command docs get | head -n 2) || true
if [ "$got" != $'get\nsummary' ]; then echo "FAIL: command docs: $(printf %q "$got")"; fail=1; fi
check OK flushdb

# redis-benchmark over the built families: no error replies.
bench_rc=0
out=$(redis-benchmark -p "$PORT" -t set,get,incr,lpush,rpush,lpop,sadd,hset,zadd,mset -n "$BENCH_N" -c 20 -q 2>&1 | tr '\r' '\n') || bench_rc=$?
if [ "$bench_rc" != 0 ] || ! grep -q "MSET (10 keys):.*requests per second" <<<"$out" || grep -qi "error" <<<"$out"; then
  echo "FAIL: redis-benchmark (exit $bench_rc):"; echo "$out" | grep -v "rps=" | tail -20; fail=1
fi
echo "$out" | grep "requests per second" || true
check "$BENCH_N" get counter:__rand_int__

kill -TERM "$PID"
if ! wait "$PID"; then echo "FAIL: orbitd did not exit 0 on SIGTERM"; fail=1; fi
PID=
if [ "$fail" != 0 ]; then echo "--- orbitd log ---"; tail -50 "$TMP/log"; exit 1; fi
echo "all redis-cli and redis-benchmark checks passed"
