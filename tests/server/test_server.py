#!/usr/bin/python3
"""Black-box tests of orbitd with python3-redis and raw sockets.

Usage: test_server.py ORBITD --store URI [--orbit-cli ORBIT] [--only NAME,...]
                      [--skip-process]
URI may hold {dir} (a fresh directory per server) and {uniq} (a fresh
namespace, for etcd). Each case starts from an empty database (FLUSHDB) on
one shared server unless it needs its own. --skip-process leaves out the
provider-independent process cases (config precedence, protected mode,
limits), which the etcd run does not repeat.
"""
import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import redis  # noqa: E402

OPTS = None
SHARED = None
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def new_server(args=(), env=None, start=True):
    s = harness.Server(OPTS.orbitd, OPTS.store, args=args, env=env)
    if start:
        s.start()
    return s


def raises(fn, text):
    try:
        fn()
    except redis.RedisError as e:
        assert text in str(e), "expected %r in %r" % (text, str(e))
        return str(e)
    raise AssertionError("expected an error containing %r" % text)


def eq(a, b):
    assert a == b, "%r != %r" % (a, b)


def until(pred, timeout=10.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def send_raw(port, data, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if data:
        s.sendall(data)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    s.close()
    return out


def exchange(sock, data, want):
    """Send data and read until `want` bytes of reply arrived."""
    sock.sendall(data)
    out = b""
    while len(out) < want:
        chunk = sock.recv(65536)
        if not chunk:
            break
        out += chunk
    return out


# ---- connection and server ------------------------------------------------


@case
def test_connection(r):
    eq(r.ping(), True)
    eq(r.echo("hi"), b"hi")
    eq(send_raw(SHARED.port, b"PING x\r\nQUIT\r\n", timeout=2), b"$1\r\nx\r\n+OK\r\n")
    eq(r.execute_command("SELECT", 0), True)
    raises(lambda: r.execute_command("SELECT", 1), "DB index is out of range")
    raises(lambda: r.execute_command("SELECT", "x"), "value is not an integer or out of range")
    t = r.time()
    assert abs(t[0] - time.time()) < 60
    eq(r.client_setname("alice"), True)
    eq(r.client_getname(), "alice")
    cid = r.client_id()
    assert cid > 0
    info = r.execute_command("CLIENT", "INFO").decode()
    assert "name=alice" in info and "id=%d" % cid in info
    assert any(c.get("name") == "alice" for c in r.client_list())
    raises(lambda: r.execute_command("CLIENT", "SETNAME", "a b"), "Client names cannot contain spaces")
    raises(lambda: r.execute_command("CLIENT", "NOPE"), "unknown subcommand")
    n = r.command_count()
    assert n >= 60, n
    cmds = r.command()
    eq(cmds["get"]["arity"], 2)
    eq(cmds["set"]["arity"], -3)
    out = send_raw(SHARED.port, b"COMMAND INFO get nosuch\r\nQUIT\r\n", timeout=2)
    assert out.startswith(b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n"), out
    assert b"$-1\r\n+OK" in out, out
    out = send_raw(SHARED.port, b"COMMAND DOCS set\r\nQUIT\r\n", timeout=2)
    assert out.startswith(b"*2\r\n$3\r\nset\r\n*8\r\n$7\r\nsummary"), out
    assert b"arguments" in out and b"KEEPTTL" in out and b"optional" in out
    i = r.info()
    for k in ("redis_version", "connected_clients", "total_commands_processed", "loading"):
        assert k in i, k
    for sec in ("server", "clients", "stats", "keyspace", "persistence"):
        assert r.info(sec) is not None
    eq(r.dbsize(), 0)
    r.set("a", "1")
    eq(r.dbsize(), 1)
    assert r.info("keyspace")["db0"]["keys"] == 1
    eq(r.flushdb(), True)
    eq(r.dbsize(), 0)


@case
def test_errors(r):
    eq(raises(lambda: r.execute_command("NOSUCH", "a", "b"), "unknown command"),
       "unknown command 'NOSUCH', with args beginning with: 'a' 'b' ")
    eq(raises(lambda: r.execute_command("GET"), "wrong number"),
       "wrong number of arguments for 'get' command")
    r.hset("h", "f", "v")
    eq(raises(lambda: r.get("h"), "WRONGTYPE"),
       "WRONGTYPE Operation against a key holding the wrong kind of value")
    raises(lambda: r.execute_command("SET", "k", "v", "BOGUS"), "syntax error")
    raises(lambda: r.execute_command("SET", "k", "v", "EX", "0"), "invalid expire time in 'set' command")
    raises(lambda: r.execute_command("SET", "k", "v", "NX", "XX"), "syntax error")


@case
def test_resp3_and_inline(r):
    s = SHARED.raw()
    out = exchange(s, b"HELLO 3\r\n", 10)
    while not out.endswith(b"*0\r\n"):
        out += s.recv(4096)
    assert out.startswith(b"%7\r\n"), out
    assert b"proto\r\n:3" in out
    eq(exchange(s, b"HSET h3 f v\r\n", 4), b":1\r\n")
    eq(exchange(s, b"HGETALL h3\r\n", 18), b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n")
    eq(exchange(s, b"GET nosuch\r\n", 3), b"_\r\n")
    eq(exchange(s, b"HELLO 4\r\n", 10)[:8], b"-NOPROTO")
    s.close()
    s = SHARED.raw()
    # inline commands, with Redis's quoting
    eq(exchange(s, b'SET "a b" \'c d\'\r\n', 5), b"+OK\r\n")
    eq(exchange(s, b"GET \"a b\"\n", 9), b"$3\r\nc d\r\n")
    eq(exchange(s, b'SET q "x\\x41\\n"\r\n', 5), b"+OK\r\n")
    eq(r.get("q"), b"xA\n")
    out = exchange(s, b'SET "bad\r\n', 40)
    assert out.startswith(b"-ERR Protocol error: unbalanced quotes"), out
    assert s.recv(10) == b""  # closed after a protocol error
    s.close()


# ---- strings and keys ----------------------------------------------------------


@case
def test_strings(r):
    eq(r.set("s", "v"), True)
    eq(r.get("s"), b"v")
    eq(r.set("s", "w", nx=True), None)
    eq(r.set("t", "w", xx=True), None)
    eq(r.set("s", "w", xx=True), True)
    eq(r.set("s", "x", get=True), b"w")
    eq(r.set("new", "x", get=True), None)
    eq(r.set("s", "y", nx=True, get=True), b"x")
    r.set("e", "1", ex=100)
    assert 98 <= r.ttl("e") <= 100
    r.set("e", "2", keepttl=True)
    assert r.ttl("e") > 90
    r.set("e", "3")
    eq(r.ttl("e"), -1)
    r.set("p", "1", px=100000)
    assert 99000 <= r.pttl("p") <= 100000
    r.set("ea", "1", exat=int(time.time()) + 50)
    assert 48 <= r.ttl("ea") <= 50
    r.set("pa", "1", pxat=int(time.time() * 1000) + 50000)
    assert 48 <= r.ttl("pa") <= 50
    eq(r.setnx("s", "z"), False)
    eq(r.setnx("nx1", "z"), True)
    eq(r.setex("se", 100, "v"), True)
    assert r.ttl("se") > 90
    eq(r.psetex("pse", 100000, "v"), True)
    assert r.pttl("pse") > 90000
    raises(lambda: r.setex("se", 0, "v"), "invalid expire time in 'setex' command")
    eq(r.getset("s", "g"), b"x")
    eq(r.getset("gs-new", "g"), None)
    eq(r.getdel("s"), b"g")
    eq(r.getdel("s"), None)
    r.set("gx", "v")
    eq(r.getex("gx", ex=100), b"v")
    assert r.ttl("gx") > 90
    eq(r.getex("gx", persist=True), b"v")
    eq(r.ttl("gx"), -1)
    eq(r.getex("nosuch"), None)
    eq(r.mset({"m1": "a", "m2": "b"}), True)
    eq(r.mget("m1", "nosuch", "m2"), [b"a", None, b"b"])
    eq(r.msetnx({"m1": "x", "m3": "c"}), False)
    eq(r.get("m3"), None)
    eq(r.msetnx({"m3": "c", "m4": "d"}), True)
    raises(lambda: r.execute_command("MSET", "a", "b", "c"), "wrong number of arguments for 'mset'")
    # counters
    eq(r.incr("n"), 1)
    eq(r.incrby("n", 10), 11)
    eq(r.decr("n"), 10)
    eq(r.decrby("n", 20), -10)
    r.set("big", str(2**63 - 1))
    raises(lambda: r.incr("big"), "increment or decrement would overflow")
    r.set("str", "abc")
    raises(lambda: r.incr("str"), "value is not an integer or out of range")
    raises(lambda: r.incrby("n", "x"), "value is not an integer or out of range")
    eq(r.incrbyfloat("f", 1.5), 1.5)
    eq(r.incrbyfloat("f", "0.25"), 1.75)
    eq(r.get("f"), b"1.75")
    raises(lambda: r.incrbyfloat("str", 1), "value is not a valid float")
    r.set("cnt", "5", ex=100)
    r.incr("cnt")
    assert r.ttl("cnt") > 90  # INCR keeps the expiry
    # append, ranges
    eq(r.append("ap", "hello"), 5)
    eq(r.append("ap", " world"), 11)
    eq(r.strlen("ap"), 11)
    eq(r.strlen("nosuch"), 0)
    eq(r.getrange("ap", 0, 4), b"hello")
    eq(r.getrange("ap", -5, -1), b"world")
    eq(r.getrange("ap", 5, 2), b"")
    eq(r.getrange("nosuch", 0, 10), b"")
    eq(r.setrange("ap", 6, "WORLD"), 11)
    eq(r.get("ap"), b"hello WORLD")
    eq(r.setrange("sr", 3, "x"), 4)
    eq(r.get("sr"), b"\x00\x00\x00x")
    raises(lambda: r.setrange("sr", -1, "x"), "offset is out of range")
    # binary-safe keys and values
    k = b"bin\x00\r\nkey\xff"
    v = bytes(range(256)) * 10
    r.set(k, v)
    eq(r.get(k), v)
    r.hset("wt", "f", "v")
    for fn in (lambda: r.append("wt", "x"), lambda: r.incr("wt"), lambda: r.strlen("wt"),
               lambda: r.getset("wt", "x"), lambda: r.getrange("wt", 0, 1)):
        raises(fn, "WRONGTYPE")


@case
def test_pipelined(r):
    """Runs of SETs and GETs in one pipeline are batched by the server;
    replies stay in order and each GET sees the SETs before it."""
    r.hset("ph", "f", "v")
    p = r.pipeline(transaction=False)
    for i in range(200):
        p.set("p%d" % (i % 7), i)
        p.get("p%d" % (i % 7))
        if i % 50 == 0:
            p.get("ph")
            p.get("nosuch")
    res = p.execute(raise_on_error=False)
    j = 0
    for i in range(200):
        eq(res[j], True)
        eq(res[j + 1], str(i).encode())
        j += 2
        if i % 50 == 0:
            assert isinstance(res[j], redis.ResponseError) and "WRONGTYPE" in str(res[j])
            eq(res[j + 1], None)
            j += 2
    eq(r.mget(["p%d" % k for k in range(7)]),
       [str(max(i for i in range(200) if i % 7 == k)).encode() for k in range(7)])


@case
def test_keys(r):
    r.mset({"k1": "1", "k2": "2", "k3": "3"})
    r.hset("hk", "f", "v")
    eq(r.exists("k1", "k2", "nosuch", "k1"), 3)
    eq(r.type("k1"), b"string")
    eq(r.type("hk"), b"hash")
    eq(r.type("nosuch"), b"none")
    eq(r.delete("k1", "nosuch", "hk"), 2)
    eq(r.exists("k1", "hk"), 0)
    eq(r.unlink("k2"), 1)
    eq(r.rename("k3", "k4"), True)
    eq(r.get("k4"), b"3")
    eq(r.get("k3"), None)
    raises(lambda: r.rename("nosuch", "x"), "no such key")
    r.set("k5", "5")
    eq(r.renamenx("k4", "k5"), False)
    eq(r.renamenx("k4", "k6"), True)
    r.hset("hr", mapping={"a": "1", "b": "2"})
    r.expire("hr", 100)
    r.rename("hr", "hr2")
    eq(r.hgetall("hr2"), {b"a": b"1", b"b": b"2"})
    assert r.ttl("hr2") > 90
    eq(r.exists("hr"), 0)
    # expiry commands
    r.set("x", "1")
    eq(r.expire("nosuch", 10), False)
    eq(r.expire("x", 100), True)
    assert 99 <= r.ttl("x") <= 100
    eq(r.pexpire("x", 200000), True)
    assert r.pttl("x") > 199000
    eq(r.expireat("x", int(time.time()) + 300), True)
    assert r.ttl("x") > 290
    eq(r.pexpireat("x", int(time.time() * 1000) + 400000), True)
    assert r.ttl("x") > 390
    eq(r.execute_command("EXPIRE", "x", 10, "GT"), 0)
    eq(r.execute_command("EXPIRE", "x", 1000, "GT"), 1)
    eq(r.execute_command("EXPIRE", "x", 2000, "LT"), 0)
    eq(r.execute_command("EXPIRE", "x", 5, "NX"), 0)
    eq(r.persist("x"), True)
    eq(r.persist("x"), False)
    eq(r.ttl("x"), -1)
    eq(r.ttl("nosuch"), -2)
    eq(r.pttl("nosuch"), -2)
    eq(r.execute_command("EXPIRE", "x", 5, "XX"), 0)
    eq(r.expire("x", -1), True)  # a time in the past deletes
    eq(r.exists("x"), 0)
    raises(lambda: r.execute_command("EXPIRE", "x", "a"), "value is not an integer")


@case
def test_scan(r):
    keys = set()
    for i in range(120):
        k = "user:%03d" % i
        keys.add(k.encode())
        r.set(k, i)
    r.hset("other:h", "f", "v")
    got = set()
    cursor = 0
    rounds = 0
    while True:
        cursor, batch = r.scan(cursor, match="user:*", count=7)
        got.update(batch)
        rounds += 1
        if cursor == 0:
            break
    eq(got, keys)
    assert rounds > 5
    eq(set(r.scan_iter(_type="hash")), {b"other:h"})
    eq(set(r.scan_iter(match="user:00?")), {("user:00%d" % i).encode() for i in range(10)})
    eq(set(r.keys("user:11*")), {("user:11%d" % i).encode() for i in range(10)})
    eq(len(r.keys("*")), 121)
    eq(r.keys("nomatch*"), [])
    assert r.randomkey() in keys | {b"other:h"}
    raises(lambda: r.execute_command("SCAN", "abc"), "invalid cursor")
    r.flushdb()
    eq(r.randomkey(), None)


@case
def test_expiry(r):
    # lazy: a read after the time sees nothing
    r.set("lazy", "v", px=150)
    eq(r.get("lazy"), b"v")
    until(lambda: r.get("lazy") is None, what="lazy expiry")
    eq(r.exists("lazy"), 0)
    eq(r.ttl("lazy"), -2)
    # active: keys nobody reads are deleted by the background cycle, found
    # through the expiry index
    for i in range(50):
        r.set("act:%d" % i, "v", px=100)
    r.hset("acth", "f", "v")
    r.pexpire("acth", 100)
    r.set("keep", "v")
    until(lambda: r.dbsize() == 1, what="active expiry")
    eq(r.get("keep"), b"v")
    # counted as each deletion commits (another thread's reply may come
    # between a commit and its count: wait, do not race it)
    until(lambda: int(r.info("stats")["expired_keys"]) >= 51, what="expired_keys counted")
    # an overwritten key's stale index entry does not delete it
    r.set("ow", "v", px=100)
    r.set("ow", "w")
    time.sleep(0.4)
    eq(r.get("ow"), b"w")


# ---- hashes --------------------------------------------------------------------


@case
def test_hashes(r):
    eq(r.hset("h", "a", "1"), 1)
    eq(r.hset("h", mapping={"a": "2", "b": "3", "c": "4"}), 2)
    eq(r.hget("h", "a"), b"2")
    eq(r.hget("h", "nosuch"), None)
    eq(r.hget("nosuch", "a"), None)
    eq(r.hmget("h", "a", "x", "c"), [b"2", None, b"4"])
    eq(r.hlen("h"), 3)
    eq(r.hexists("h", "b"), True)
    eq(r.hexists("h", "x"), False)
    eq(sorted(r.hkeys("h")), [b"a", b"b", b"c"])
    eq(sorted(r.hvals("h")), [b"2", b"3", b"4"])
    eq(r.hgetall("h"), {b"a": b"2", b"b": b"3", b"c": b"4"})
    eq(r.hstrlen("h", "a"), 1)
    eq(r.hstrlen("h", "x"), 0)
    eq(r.hsetnx("h", "a", "9"), False)
    eq(r.hsetnx("h", "d", "9"), True)
    eq(r.hincrby("h", "a", 5), 7)
    eq(r.hincrby("h", "n", -3), -3)
    eq(r.hincrbyfloat("h", "fl", 1.5), 1.5)
    eq(r.hincrbyfloat("h", "fl", 1), 2.5)
    raises(lambda: r.hincrby("h", "fl", 1), "hash value is not an integer")
    r.hset("h", "word", "abc")
    raises(lambda: r.hincrbyfloat("h", "word", 1), "hash value is not a float")
    eq(r.execute_command("HMSET", "h", "z", "26"), True)
    eq(r.hdel("h", "a", "nosuch", "b"), 2)
    eq(r.hlen("h"), 6)
    eq(r.hdel("h", "c", "d", "n", "fl", "word", "z"), 6)
    eq(r.exists("h"), 0)  # the last field deleted the hash
    raises(lambda: r.execute_command("HSET", "h", "a"), "wrong number of arguments for 'hset'")
    r.set("s", "v")
    for fn in (lambda: r.hset("s", "a", "1"), lambda: r.hget("s", "a"), lambda: r.hgetall("s"),
               lambda: r.hlen("s"), lambda: r.hincrby("s", "a", 1), lambda: r.hdel("s", "a")):
        raises(fn, "WRONGTYPE")
    # HSCAN over many fields, small pages
    fields = {("f%03d" % i).encode(): str(i).encode() for i in range(60)}
    r.hset("big", mapping=fields)
    got = {}
    cursor = 0
    while True:
        cursor, page = r.hscan("big", cursor, count=7)
        got.update(page)
        if cursor == 0:
            break
    eq(got, fields)
    eq(dict(r.hscan_iter("big", match="f00*")), {k: v for k, v in fields.items() if k.startswith(b"f00")})
    # DEL of a hash and re-creation: old fields never come back
    r.delete("big")
    r.hset("big", "new", "1")
    eq(r.hgetall("big"), {b"new": b"1"})
    # SET over a hash makes it a string; HSET after that sees a string
    r.set("big", "str")
    eq(r.get("big"), b"str")
    r.delete("big")
    r.hset("big", "again", "2")
    eq(r.hgetall("big"), {b"again": b"2"})


@case
def test_sets(r):
    eq(r.sadd("s1", "a", "b", "c", "a"), 3)
    eq(r.sadd("s1", "c", "d"), 1)
    eq(r.scard("s1"), 4)
    eq(r.smembers("s1"), {b"a", b"b", b"c", b"d"})
    eq(r.sismember("s1", "a"), True)
    eq(r.sismember("s1", "z"), False)
    eq(r.sismember("nosuch", "a"), False)
    eq(r.scard("nosuch"), 0)
    eq(r.smembers("nosuch"), set())
    r.sadd("s2", "c", "d", "e")
    eq(r.sinter("s1", "s2"), {b"c", b"d"})
    eq(r.sunion("s1", "s2", "nosuch"), {b"a", b"b", b"c", b"d", b"e"})
    eq(r.sdiff("s1", "s2"), {b"a", b"b"})
    eq(r.sinter("s1", "nosuch"), set())
    eq(r.srem("s1", "a", "z", "a"), 1)
    eq(r.type("s1"), b"set")
    eq(r.srem("s1", "b", "c", "d"), 3)
    eq(r.exists("s1"), 0)  # the last member deleted the set
    r.set("str", "v")
    for fn in (lambda: r.sadd("str", "a"), lambda: r.smembers("str"), lambda: r.scard("str"),
               lambda: r.sinter("s2", "str"), lambda: r.sismember("str", "a")):
        raises(fn, "WRONGTYPE")
    members = {("m%03d" % i).encode() for i in range(50)}
    r.sadd("big", *members)
    got = set()
    cursor = 0
    while True:
        cursor, page = r.sscan("big", cursor, count=6)
        got.update(page)
        if cursor == 0:
            break
    eq(got, members)
    eq(set(r.sscan_iter("big", match="m00*")), {m for m in members if m.startswith(b"m00")})
    eq(set(r.scan_iter(_type="set")), {b"s2", b"big"})
    r.expire("big", 100)
    r.rename("big", "big2")
    eq(r.scard("big2"), 50)
    assert r.ttl("big2") > 90
    r.delete("big2")
    r.sadd("big2", "only")
    eq(r.smembers("big2"), {b"only"})


@case
def test_lists(r):
    eq(r.rpush("l", "a", "b", "c"), 3)
    eq(r.lpush("l", "z", "y"), 5)
    eq(r.lrange("l", 0, -1), [b"y", b"z", b"a", b"b", b"c"])
    eq(r.llen("l"), 5)
    eq(r.lindex("l", 0), b"y")
    eq(r.lindex("l", -1), b"c")
    eq(r.lindex("l", 99), None)
    eq(r.lrange("l", 1, 2), [b"z", b"a"])
    eq(r.lrange("l", -2, 100), [b"b", b"c"])
    eq(r.lrange("l", 3, 1), [])
    eq(r.lrange("nosuch", 0, -1), [])
    eq(r.lset("l", 1, "Z"), True)
    eq(r.lindex("l", 1), b"Z")
    raises(lambda: r.lset("l", 10, "x"), "index out of range")
    raises(lambda: r.lset("nosuch", 0, "x"), "no such key")
    eq(r.lpop("l"), b"y")
    eq(r.rpop("l"), b"c")
    eq(r.lpop("l", 2), [b"Z", b"a"])
    eq(r.lpop("nosuch"), None)
    eq(r.lpop("nosuch", 2), None)
    eq(r.rpop("l", 5), [b"b"])
    eq(r.exists("l"), 0)  # the last pop deleted the list
    eq(r.lpushx("l", "a"), 0)
    eq(r.rpush("l", "a", "x", "a", "y", "a", "z"), 6)
    eq(r.rpushx("l", "a"), 7)
    eq(r.lrem("l", 2, "a"), 2)
    eq(r.lrange("l", 0, -1), [b"x", b"y", b"a", b"z", b"a"])
    eq(r.lrem("l", -1, "a"), 1)
    eq(r.lrange("l", 0, -1), [b"x", b"y", b"a", b"z"])
    eq(r.lrem("l", 0, "nosuch"), 0)
    eq(r.lpush("l", "first"), 5)
    eq(r.lrange("l", 0, -1), [b"first", b"x", b"y", b"a", b"z"])
    eq(r.ltrim("l", 1, -2), True)
    eq(r.lrange("l", 0, -1), [b"x", b"y", b"a"])
    eq(r.ltrim("l", 5, 10), True)
    eq(r.exists("l"), 0)
    eq(r.type("l"), b"none")
    r.rpush("l2", *[str(i) for i in range(100)])
    eq(r.lrange("l2", 50, 52), [b"50", b"51", b"52"])
    eq(r.lrem("l2", 0, "7"), 1)
    eq(r.llen("l2"), 99)
    eq(r.lindex("l2", 7), b"8")
    eq(r.type("l2"), b"list")
    r.set("str", "v")
    for fn in (lambda: r.lpush("str", "a"), lambda: r.lrange("str", 0, 1), lambda: r.llen("str"),
               lambda: r.lpop("str")):
        raises(fn, "WRONGTYPE")
    r.rename("l2", "l3")
    eq(r.llen("l3"), 99)
    eq(r.lindex("l3", -1), b"99")


@case
def test_sorted_sets(r):
    eq(r.zadd("z", {"a": 1, "b": 2, "c": 3}), 3)
    eq(r.zadd("z", {"a": 5, "d": 0}), 1)
    eq(r.zadd("z", {"a": 6, "e": 7}, ch=True), 2)
    eq(r.zcard("z"), 5)
    eq(r.zscore("z", "a"), 6.0)
    eq(r.zscore("z", "nosuch"), None)
    eq(r.zrange("z", 0, -1), [b"d", b"b", b"c", b"a", b"e"])
    eq(r.zrange("z", 0, 1, withscores=True), [(b"d", 0.0), (b"b", 2.0)])
    eq(r.zrevrange("z", 0, 1), [b"e", b"a"])
    eq(r.zrangebyscore("z", 2, 6), [b"b", b"c", b"a"])
    eq(r.zrangebyscore("z", "(2", "+inf"), [b"c", b"a", b"e"])
    eq(r.zrangebyscore("z", "-inf", "(3"), [b"d", b"b"])
    eq(r.zrangebyscore("z", 0, 10, start=1, num=2), [b"b", b"c"])
    eq(r.zrevrangebyscore("z", 6, 2), [b"a", b"c", b"b"])
    eq(r.execute_command("ZRANGE", "z", 6, 2, "BYSCORE", "REV"), [b"a", b"c", b"b"])
    eq(r.execute_command("ZRANGE", "z", 0, 100, "BYSCORE", "LIMIT", 1, 1), [b"b"])
    eq(r.zrank("z", "c"), 2)
    eq(r.zrevrank("z", "c"), 2)
    eq(r.zrank("z", "nosuch"), None)
    eq(r.zcount("z", 2, 6), 3)
    eq(r.zcount("z", "(2", "(6"), 1)
    eq(r.zincrby("z", 10, "d"), 10.0)
    eq(r.zrange("z", -1, -1), [b"d"])
    eq(r.zadd("z", {"d": 1}, gt=True), 0)
    eq(r.zscore("z", "d"), 10.0)
    eq(r.zadd("z", {"d": 1}, lt=True), 0)
    eq(r.zscore("z", "d"), 1.0)
    eq(r.zadd("z", {"d": 99}, nx=True), 0)
    eq(r.zadd("z", {"new": 1}, xx=True), 0)
    eq(r.zscore("z", "new"), None)
    eq(r.zadd("z", {"b": 0.5}, incr=True), 2.5)
    eq(r.zadd("z", {"f": 0.1}), 1)
    eq(r.zscore("z", "f"), 0.1)
    eq(r.zrem("z", "a", "nosuch"), 1)
    eq(r.type("z"), b"zset")
    raises(lambda: r.execute_command("ZADD", "z", "x", "m"), "value is not a valid float")
    raises(lambda: r.execute_command("ZADD", "z", "NX", "XX", 1, "m"), "not compatible")
    raises(lambda: r.execute_command("ZRANGEBYSCORE", "z", "a", 1), "min or max is not a float")
    # negative scores order before positive ones
    r.zadd("neg", {"m1": -5, "m2": -0.5, "m3": 0, "m4": 2.5e10, "m5": float("-inf")})
    eq(r.zrange("neg", 0, -1), [b"m5", b"m1", b"m2", b"m3", b"m4"])
    eq(r.zrangebyscore("neg", -10, -1), [b"m1"])
    # BYLEX over equal scores
    r.zadd("lex", {"a": 0, "b": 0, "c": 0, "d": 0})
    eq(r.zrangebylex("lex", "[b", "(d"), [b"b", b"c"])
    eq(r.zrangebylex("lex", "-", "+"), [b"a", b"b", b"c", b"d"])
    # ZSCAN
    members = {("m%03d" % i).encode(): float(i) for i in range(40)}
    r.zadd("big", members)
    got = {}
    cursor = 0
    while True:
        cursor, page = r.zscan("big", cursor, count=7)
        got.update(dict(page))
        if cursor == 0:
            break
    eq(got, members)
    eq(r.zrem("big", *members), 40)
    eq(r.exists("big"), 0)
    r.set("str", "v")
    for fn in (lambda: r.zadd("str", {"a": 1}), lambda: r.zrange("str", 0, 1),
               lambda: r.zscore("str", "a"), lambda: r.zcard("str")):
        raises(fn, "WRONGTYPE")
    r.rename("neg", "neg2")
    eq(r.zrange("neg2", 0, 0), [b"m5"])


# ---- transactions --------------------------------------------------------------


@case
def test_multi(r):
    p = r.pipeline(transaction=True)
    p.set("a", "1").incr("a").get("a").hset("h", "f", "v")
    eq(p.execute(), [True, 2, b"2", 1])
    # a command's own error is its reply; the others apply
    p = r.pipeline(transaction=True)
    p.set("b", "1").hget("a", "f").incr("b")
    res = p.execute(raise_on_error=False)
    eq(res[0], True)
    assert isinstance(res[1], redis.ResponseError) and "WRONGTYPE" in str(res[1])
    eq(res[2], 2)
    # queueing errors abort EXEC
    s = SHARED.raw()
    eq(exchange(s, b"MULTI\r\n", 5), b"+OK\r\n")
    eq(exchange(s, b"SET x 1\r\n", 9), b"+QUEUED\r\n")
    assert exchange(s, b"NOSUCH\r\n", 10).startswith(b"-ERR unknown command")
    out = exchange(s, b"EXEC\r\n", 10)
    assert out.startswith(b"-EXECABORT Transaction discarded because of previous errors."), out
    eq(exchange(s, b"MULTI\r\n", 5), b"+OK\r\n")
    assert exchange(s, b"MULTI\r\n", 10).startswith(b"-ERR MULTI calls can not be nested")
    eq(exchange(s, b"SET x 1\r\n", 9), b"+QUEUED\r\n")
    eq(exchange(s, b"DISCARD\r\n", 5), b"+OK\r\n")
    assert exchange(s, b"EXEC\r\n", 10).startswith(b"-ERR EXEC without MULTI")
    assert exchange(s, b"DISCARD\r\n", 10).startswith(b"-ERR DISCARD without MULTI")
    s.close()
    eq(r.get("x"), None)
    # WATCH: a change by another client aborts EXEC and nothing is applied
    r.set("w", "0")
    other = SHARED.client()
    with r.pipeline() as p:
        p.watch("w")
        p.multi()
        p.set("w", "mine").set("w-side", "1").hset("w-h", "f", "v")
        other.set("w", "theirs")
        try:
            p.execute()
            raise AssertionError("EXEC should have aborted")
        except redis.WatchError:
            pass
    eq(r.get("w"), b"theirs")
    eq(r.exists("w-side", "w-h"), 0)
    # WATCH of an absent key that another client creates
    with r.pipeline() as p:
        p.watch("absent")
        other.set("absent", "now")
        p.multi()
        p.set("absent", "mine")
        try:
            p.execute()
            raise AssertionError("EXEC should have aborted")
        except redis.WatchError:
            pass
    eq(r.get("absent"), b"now")
    # WATCH with no change commits
    with r.pipeline() as p:
        p.watch("w")
        p.multi()
        p.incr("wc")
        eq(p.execute(), [1])
    # UNWATCH forgets
    with r.pipeline() as p:
        p.watch("w")
        other.set("w", "again")
        p.unwatch()
        p.multi()
        p.set("w", "after-unwatch")
        p.execute()
    eq(r.get("w"), b"after-unwatch")
    other.close()


@case
def test_concurrent_incr(r):
    """Read-modify-write commands from many clients lose no update."""
    def work():
        c = SHARED.client()
        for _ in range(100):
            c.incr("ctr")
            c.hincrby("hctr", "f", 1)
        c.close()
    ts = [threading.Thread(target=work) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    eq(r.get("ctr"), b"800")
    eq(r.hget("hctr", "f"), b"800")


# ---- bad input -------------------------------------------------------------------


@case
def test_protocol_errors(r):
    port = SHARED.port
    out = send_raw(port, b"*1\r\n$99999999999999\r\n")
    eq(out, b"-ERR Protocol error: invalid bulk length\r\n")
    out = send_raw(port, b"*99999999999\r\n")
    eq(out, b"-ERR Protocol error: invalid multibulk length\r\n")
    out = send_raw(port, b"*2\r\n$3\r\nGET\r\n:1\r\n")
    eq(out, b"-ERR Protocol error: expected '$', got ':'\r\n")
    out = send_raw(port, b"*1\r\n$-5\r\n")
    eq(out, b"-ERR Protocol error: invalid bulk length\r\n")
    out = send_raw(port, b"*abc\r\n")
    eq(out, b"-ERR Protocol error: invalid multibulk length\r\n")
    # pipelined: replies before the bad frame are kept
    out = send_raw(port, b"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n")
    eq(out, b"+PONG\r\n+PONG\r\n-ERR Protocol error: invalid bulk length\r\n")
    # empty multibulk and blank lines are skipped
    out = send_raw(port, b"*0\r\n\r\n*-1\r\nPING\r\n", timeout=1)
    eq(out, b"+PONG\r\n")
    assert int(r.info("stats")["protocol_errors"]) >= 6


@case
def test_fuzz(r):
    """Random bytes, huge lengths and half frames; afterwards the server
    answers and data written before is intact."""
    r.set("before", "intact")
    r.hset("before-h", mapping={"a": "1", "b": "2"})
    rng = random.Random(1234)
    frames = [b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n", b"*1\r\n$4\r\nPING\r\n",
              b"*2\r\n$3\r\nGET\r\n$6\r\nbefore\r\n"]
    port = SHARED.port
    for i in range(150):
        kind = i % 5
        if kind == 0:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
        elif kind == 1:
            data = b"*%d\r\n$%d\r\n" % (rng.randint(-5, 2**40), rng.randint(-5, 2**62))
        elif kind == 2:
            f = rng.choice(frames)
            data = f[:rng.randint(1, len(f) - 1)]
        elif kind == 3:
            f = bytearray(rng.choice(frames) * 3)
            for _ in range(3):
                f[rng.randrange(len(f))] = rng.getrandbits(8)
            data = bytes(f)
        else:
            data = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1000000000\r\n" + b"x" * rng.randint(0, 5000)
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=0.2)
            s.sendall(data)
            if rng.random() < 0.5:
                try:
                    s.recv(1000)
                except socket.timeout:
                    pass
            s.close()
        except OSError:
            pass
    eq(r.ping(), True)
    eq(r.get("before"), b"intact")
    eq(r.hgetall("before-h"), {b"a": b"1", b"b": b"2"})
    eq(r.get("big"), None)


@case
def test_disconnect_mid_command(r):
    """A client that drops mid-command loses nothing acknowledged before."""
    s = SHARED.raw()
    eq(exchange(s, b"*3\r\n$3\r\nSET\r\n$3\r\nack\r\n$1\r\n1\r\n", 5), b"+OK\r\n")
    s.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nack\r\n$100\r\nhalf")
    s.close()
    time.sleep(0.1)
    eq(r.get("ack"), b"1")


# ---- durability and stopping ----------------------------------------------------


@case
def test_crash_durability(r):
    srv = new_server()
    try:
        acked = {}
        stop = threading.Event()

        def writer(tid):
            c = srv.client(socket_timeout=5)
            i = 0
            while not stop.is_set():
                k = "crash:%d:%d" % (tid, i)
                v = "v%d-%d" % (i, tid) * 3
                try:
                    c.set(k, v)
                except (redis.ConnectionError, redis.TimeoutError, ConnectionError):
                    return
                acked[k] = v.encode()
                i += 1

        ts = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
        for t in ts:
            t.start()
        until(lambda: len(acked) >= 400, timeout=60, what="acknowledged writes")
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        stop.set()
        for t in ts:
            t.join()
        srv.start()
        c = srv.client()
        keys = list(acked)
        for i in range(0, len(keys), 200):
            chunk = keys[i:i + 200]
            vals = c.mget(chunk)
            for k, v in zip(chunk, vals):
                assert v == acked[k], "acknowledged key %s lost after SIGKILL: %r" % (k, v)
        c.close()
        # graceful stop with clients connected exits 0
        c = srv.client()
        c.set("last", "1")
        eq(srv.stop(signal.SIGTERM), 0)
        srv.start()
        eq(srv.client().get("last"), b"1")
        eq(srv.stop(signal.SIGINT), 0)
    finally:
        srv.cleanup()


@case
def test_orbit_cli_reads_strings(r):
    """Plain strings are what `orbit kv` stores: each reads the other's."""
    if not OPTS.orbit_cli or not OPTS.store.startswith("rocksdb:"):
        return
    srv = new_server()
    try:
        c = srv.client()
        c.set("shared", "from-redis")
        c.close()
        eq(srv.stop(), 0)
        out = subprocess.run([OPTS.orbit_cli, "--store", srv.store, "kv", "get", "shared"],
                             capture_output=True, timeout=30)
        eq(out.stdout.strip(), b"from-redis")
        subprocess.run([OPTS.orbit_cli, "--store", srv.store, "kv", "put", "cli", "from-cli"],
                       check=True, capture_output=True, timeout=30)
        srv.start()
        eq(srv.client().get("cli"), b"from-cli")
    finally:
        srv.cleanup()


# ---- process: security, settings, limits ----------------------------------------


@case
def test_auth(r):
    srv = new_server(args=["--requirepass", "s3cret"])
    try:
        c = srv.client()
        raises(lambda: c.set("a", "1"), "Authentication required")
        raises(lambda: c.execute_command("AUTH", "wrong"), "invalid username-password pair")
        raises(lambda: c.execute_command("AUTH", "bob", "s3cret"), "invalid username-password pair")
        eq(c.execute_command("AUTH", "s3cret"), True)
        eq(c.set("a", "1"), True)
        eq(int(c.info("stats")["auth_failures"]), 2)
        c2 = srv.client(password="s3cret")
        eq(c2.get("a"), b"1")
        s = srv.raw()
        out = exchange(s, b"GET a\r\n", 10)
        eq(out, b"-NOAUTH Authentication required.\r\n")
        out = exchange(s, b"HELLO 3\r\n", 10)
        assert out.startswith(b"-NOAUTH HELLO must be called"), out
        out = exchange(s, b"HELLO 3 AUTH default s3cret\r\n", 10)
        assert out.startswith(b"%7"), out
        s.close()
        s = srv.raw()
        eq(exchange(s, b"QUIT\r\n", 5), b"+OK\r\n")
        s.close()
    finally:
        srv.cleanup()
    srv = new_server()
    try:
        raises(lambda: srv.client().execute_command("AUTH", "x"), "called without any password configured")
    finally:
        srv.cleanup()


@case
def test_protected_mode(r):
    if OPTS.skip_process:
        return
    srv = new_server(args=["--bind", "0.0.0.0"], start=False)
    try:
        srv.start(wait=False)
        rc = srv.proc.wait(30)
        assert rc != 0
        assert "protected mode" in srv.read_log()
        srv.args = ["--bind", "0.0.0.0", "--protected-mode", "no"]
        srv.start()
        eq(srv.client().ping(), True)
    finally:
        srv.cleanup()


@case
def test_settings_precedence(r):
    if OPTS.skip_process:
        return
    srv = new_server(start=False)
    try:
        pf, pe, pa = harness.free_port(), harness.free_port(), harness.free_port()
        conf = os.path.join(srv.tmp, "orbitd.conf")
        with open(conf, "w") as f:
            f.write("# test config\nport %d\nmaxclients 50\nloglevel debug\n" % pf)
        base = [OPTS.orbitd, "--store", srv.store, "--config", conf, "--http-port", "0"]
        for env, extra, want in (({}, [], pf), ({"ORBIT_PORT": str(pe)}, [], pe),
                                 ({"ORBIT_PORT": str(pe)}, ["--port", str(pa)], pa)):
            e = dict(srv.env)
            e.update(env)
            p = subprocess.Popen(base + extra, env=e, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            try:
                c = redis.Redis(port=want, socket_timeout=5)
                until(lambda: _pings(c), timeout=20, what="orbitd on port %d" % want)
                eq(c.info("clients")["maxclients"], 50)
            finally:
                p.send_signal(signal.SIGTERM)
                eq(p.wait(30), 0)
        bad = subprocess.run([OPTS.orbitd, "--port", "x"], capture_output=True, timeout=10)
        eq(bad.returncode, 2)
        bad = subprocess.run([OPTS.orbitd, "--nosuch", "1"], capture_output=True, timeout=10)
        eq(bad.returncode, 2)
    finally:
        srv.cleanup()


def _nclients(srv):
    c = srv.client()
    try:
        return c.info("clients")["connected_clients"]
    except redis.RedisError:
        return -1
    finally:
        c.close()


def _pings(c):
    try:
        return c.ping()
    except redis.ConnectionError:
        return False


@case
def test_limits(r):
    if OPTS.skip_process:
        return
    srv = new_server(args=["--proto-max-bulk-len", "1kb", "--client-query-buffer-limit", "64kb",
                           "--maxclients", "3", "--timeout", "1"])
    try:
        c = srv.client()
        eq(c.set("small", "x" * 1000), True)
        raises(lambda: c.set("large", "x" * 2000), "Protocol error: invalid bulk length")
        c.close()
        c = srv.client()
        eq(c.get("small"), b"x" * 1000)
        c.close()
        # over the query buffer limit: closed
        s = srv.raw()
        try:
            s.sendall(b"*100000\r\n" + b"$1\r\nx\r\n" * 20000)
        except OSError:
            pass
        time.sleep(0.3)
        try:
            closed = s.recv(10) == b""
        except OSError:
            closed = True
        assert closed
        s.close()
        # max clients (wait for the connections above to be gone)
        until(lambda: _nclients(srv) == 1, what="earlier clients to close")
        held = []
        while len(held) < 3:
            # a slot frees once the server has seen an earlier close: retry
            deadline = time.time() + 10
            while True:
                h = srv.raw()
                out = exchange(h, b"PING\r\n", 7)
                if out == b"+PONG\r\n":
                    held.append(h)
                    break
                h.close()
                assert out.startswith(b"-ERR max number of clients reached"), out
                assert time.time() < deadline, "no free client slot"
                time.sleep(0.05)
        # (nothing is sent: the refusal closes the socket, and unread input
        # would turn that close into a reset that can discard the reply)
        out = send_raw(srv.port, b"", timeout=3)
        eq(out, b"-ERR max number of clients reached\r\n")
        for h in held:
            h.close()
        # idle timeout closes a silent client
        until(lambda: _pings(srv.client()), timeout=10, what="a free slot")
        s = srv.raw()
        eq(exchange(s, b"PING\r\n", 7), b"+PONG\r\n")
        s.settimeout(10)
        eq(s.recv(10), b"")
        s.close()
    finally:
        srv.cleanup()


# ---- s-bench: FLUSHDB inside MULTI, TS retention on write ------------------


@case
def test_flushdb_in_multi(r):
    # queued, and executed in EXEC's transaction: the commands after it see
    # the empty database, and the block commits as a whole
    r.set("f-old", "1")
    r.hset("f-h", "a", "1")
    r.rpush("f-l", "x", "y")
    r.set("f-ttl", "v", ex=100)
    p = r.pipeline(transaction=True)
    p.set("f-before", "1").flushdb().get("f-old").exists("f-h", "f-l").set("f-after", "2")
    eq(p.execute(), [True, True, None, 0, True])
    eq(sorted(r.keys("*")), [b"f-after"])
    eq(r.dbsize(), 1)
    eq(r.hgetall("f-h"), {})
    # a hash created again after the flush has only its new fields
    r.hset("f-h", "b", "2")
    eq(r.hgetall("f-h"), {b"b": b"2"})
    # a block aborted by WATCH flushes nothing
    other = SHARED.client()
    r.set("f-w", "0")
    with r.pipeline() as p:
        p.watch("f-w")
        p.multi()
        p.flushdb()
        other.set("f-w", "theirs")
        try:
            p.execute()
            raise AssertionError("EXEC should have aborted")
        except redis.WatchError:
            pass
    eq(r.get("f-w"), b"theirs")
    eq(r.get("f-after"), b"2")
    # DISCARD: nothing flushed
    p = SHARED.raw()
    eq(exchange(p, b"MULTI\r\n", 5), b"+OK\r\n")
    eq(exchange(p, b"FLUSHDB\r\n", 9), b"+QUEUED\r\n")
    eq(exchange(p, b"DISCARD\r\n", 5), b"+OK\r\n")
    p.close()
    eq(r.get("f-after"), b"2")
    # a bad argument is refused in the block, the rest applies
    p = r.pipeline(transaction=True)
    p.execute_command("FLUSHDB", "NOW").set("f-x", "1")
    res = p.execute(raise_on_error=False)
    assert isinstance(res[0], redis.ResponseError) and "syntax" in str(res[0]), res
    eq(r.get("f-x"), b"1")
    eq(r.get("f-after"), b"2")
    # FLUSHDB ASYNC inside MULTI, then nothing is left
    p = r.pipeline(transaction=True)
    p.flushdb(asynchronous=True)
    eq(p.execute(), [True])
    eq(r.dbsize(), 0)
    other.close()


@case
def test_ts_retention_on_write(r):
    key = "ret-%d" % random.randrange(1 << 30)  # series outlive FLUSHDB
    eq(r.execute_command("TS.ADD", key, 100000, 1, "RETENTION", 1000), 100000)
    for t in range(100100, 103001, 100):
        eq(r.execute_command("TS.ADD", key, t, t % 7), t)
    # newest 103000, retention 1000: samples before 102000 are expired, but
    # deleted in whole 60 s buckets (the series' granularity): only once the
    # cutoff passes 120000 does the bucket [60000, 120000) go
    eq(r.execute_command("TS.ADD", key, 120500, 5), 120500)
    eq(len(r.execute_command("TS.RANGE", key, "-", "+")), 32)
    eq(r.execute_command("TS.ADD", key, 121500, 6), 121500)
    # (on etcd a write deletes at most a quarter of a transaction's keys:
    # the 31 expired samples go over a few writes)
    for i in range(1, 6):
        if int(r.execute_command("TS.RANGE", key, "-", "+")[0][0]) >= 120000:
            break
        eq(r.execute_command("TS.ADD", key, 121500 - i, i), 121500 - i)
        r.execute_command("TS.DEL", key, 121500 - i, 121500 - i)
    raises(lambda: r.execute_command("TS.ADD", key, 120499, 1),
           "TSDB: Timestamp is older than retention")
    eq(r.execute_command("TS.ADD", key, 120500, 2, "ON_DUPLICATE", "LAST"), 120500)
    got = r.execute_command("TS.RANGE", key, "-", "+")
    eq([(int(ts), float(v)) for ts, v in got], [(120500, 2.0), (121500, 6.0)])
    info = r.execute_command("TS.INFO", key)
    d = dict(zip(info[::2], info[1::2]))
    eq(d[b"retentionTime"], 1000)
    eq(d[b"totalSamples"], 2)
    # TS.MADD: an expired sample is an error in its place, the others apply
    res = r.execute_command("TS.MADD", key, 100, 1, key, 122000, 3)
    assert isinstance(res[0], redis.ResponseError) and "older than retention" in str(res[0]), res
    eq(res[1], 122000)
    eq(len(r.execute_command("TS.RANGE", key, "-", "+")), 3)


def main():
    global OPTS, SHARED
    ap = argparse.ArgumentParser()
    ap.add_argument("orbitd")
    ap.add_argument("--store", default="rocksdb:{dir}")
    ap.add_argument("--orbit-cli")
    ap.add_argument("--only")
    ap.add_argument("--skip-process", action="store_true")
    OPTS = ap.parse_args()
    SHARED = new_server()
    failed = 0
    try:
        only = set(OPTS.only.split(",")) if OPTS.only else None
        for fn in CASES:
            if only and fn.__name__ not in only:
                continue
            r = SHARED.client()
            r.flushdb()
            t0 = time.time()
            try:
                fn(r)
                print("ok   %s (%.1fs)" % (fn.__name__, time.time() - t0), flush=True)
            except Exception:
                failed += 1
                print("FAIL %s" % fn.__name__, flush=True)
                traceback.print_exc()
            finally:
                r.close()
        eq(SHARED.stop(), 0)
    finally:
        if failed:
            print("--- orbitd log ---\n" + SHARED.read_log())
        SHARED.cleanup()
    print("%d of %d cases failed" % (failed, len(CASES)) if failed else "all cases passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
