#!/usr/bin/env python3
"""Cost and order tests of orbitd's plain GET/SET path (src/server/net.c,
the worker's turn batch): on a store holding thousands of unrelated keys,
counted with the store's counters in /metrics (orbit_kv_stats):

- a GET is exactly one provider read: one multi-get of its one key
  (orbit_store_gets counts the keys point-read, multi-gets included), no
  write;
- a SET is exactly one write batch, no read (no read-before-write);
- a pipeline of plain SETs (GETs) sent in one write is one or two write
  batches (multi-gets), not one per command;
- replies keep each client's order when SETs, GETs and other commands
  (INCR, DEL, SET with options, GET of a hash, of an expired key) are mixed
  in one pipeline, and when several clients pipeline into the same keys.

Background work reads the store too (the active expiry cycle and the key
count of /metrics open iterators), so the tests count point reads, multi-
gets and write batches, which only commands make.

Usage: test_cost.py ORBITD [--store URI]   (Debian's /usr/bin/python3)
"""
import argparse
import os
import socket
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server  # noqa: E402

FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, flush=True)


def metrics(srv):
    url = "http://127.0.0.1:%d/metrics" % srv.http_port
    with urllib.request.urlopen(url, timeout=20) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("orbit_store_") and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            out[name] = out.get(name, 0) + float(line.rsplit(" ", 1)[1])
    return out


COUNTED = ("gets", "multi_gets", "batches", "puts", "deletes", "txns_begun")


def counted(srv):
    m = metrics(srv)
    return {k: int(m.get("orbit_store_%s_total" % k, 0)) for k in COUNTED}


def delta(a, b):
    return {k: b[k] - a[k] for k in COUNTED}


def resp_cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_replies(sock, n):
    """Read n RESP2 replies (simple, error, integer, bulk) as Python values."""
    buf = b""
    out = []
    while len(out) < n:
        while True:
            i = buf.find(b"\r\n")
            if i < 0:
                break
            t, line = buf[:1], buf[1:i]
            if t in (b"+", b"-", b":"):
                out.append({b"+": lambda v: v.decode(), b"-": lambda v: ("ERR", v.decode()),
                            b":": lambda v: int(v)}[t](line))
                buf = buf[i + 2:]
            elif t == b"$":
                ln = int(line)
                if ln < 0:
                    out.append(None)
                    buf = buf[i + 2:]
                elif len(buf) >= i + 2 + ln + 2:
                    out.append(buf[i + 2:i + 2 + ln].decode())
                    buf = buf[i + 2 + ln + 2:]
                else:
                    break
            else:
                raise AssertionError("unexpected reply %r" % buf[:40])
            if len(out) == n:
                break
        if len(out) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("connection closed after %d replies" % len(out))
            buf += chunk
    return out


def test_costs(srv):
    r = srv.client()
    # unrelated data: 5000 keys
    for base in range(0, 5000, 500):
        r.mset({"other:%d" % i: "v%d" % i for i in range(base, base + 500)})
    r.set("k", "hello")

    a = counted(srv)
    check(r.get("k") == b"hello", "GET reads the value")
    d = delta(a, counted(srv))
    check(d["multi_gets"] == 1 and d["gets"] == 1,
          "a GET is one provider read call (a multi-get of its one key): %r" % d)
    check(d["batches"] + d["puts"] + d["deletes"] == 0, "a GET writes nothing: %r" % d)

    a = counted(srv)
    check(r.get("absent") is None, "GET of an absent key")
    d = delta(a, counted(srv))
    check(d["multi_gets"] == 1 and d["gets"] == 1,
          "a GET of an absent key is one read call: %r" % d)

    a = counted(srv)
    check(r.set("k", "world") is True, "SET replies OK")
    d = delta(a, counted(srv))
    check(d["batches"] == 1 and d["puts"] == 0, "a SET is one write batch: %r" % d)
    check(d["multi_gets"] + d["gets"] == 0, "a SET reads nothing (no read-before-write): %r" % d)
    check(d["txns_begun"] == 0, "a plain SET opens no transaction: %r" % d)

    # a pipeline of 50 SETs, then one of 50 GETs, each sent in one write
    s = srv.raw()
    a = counted(srv)
    s.sendall(b"".join(resp_cmd("SET", "p%d" % i, "v%d" % i) for i in range(50)))
    check(read_replies(s, 50) == ["OK"] * 50, "50 pipelined SETs reply OK")
    d = delta(a, counted(srv))
    check(1 <= d["batches"] <= 2 and d["puts"] == 0,
          "50 pipelined SETs are one or two write batches: %r" % d)
    a = counted(srv)
    s.sendall(b"".join(resp_cmd("GET", "p%d" % i) for i in range(50)))
    check(read_replies(s, 50) == ["v%d" % i for i in range(50)], "50 pipelined GETs in order")
    d = delta(a, counted(srv))
    check(1 <= d["multi_gets"] <= 2 and d["gets"] == 50,
          "50 pipelined GETs are one or two multi-gets: %r" % d)
    s.close()


def test_order(srv):
    r = srv.client()
    r.hset("h", "f", "v")
    r.set("gone", "x", px=1)
    time.sleep(0.01)
    s = srv.raw()
    cmds = [("SET", "a", "1"), ("GET", "a"), ("SET", "a", "2"), ("GET", "a"),
            ("INCR", "a"), ("GET", "a"), ("SET", "b", "x"), ("SET", "b", "y"), ("GET", "b"),
            ("DEL", "a"), ("GET", "a"), ("SET", "a", "z", "NX"), ("GET", "a"),
            ("GET", "h"), ("SET", "c", "1"), ("GET", "gone"), ("GET", "c"),
            ("SET", "d", "5", "EX", "100"), ("GET", "d"), ("SET", "h", "plain"), ("GET", "h"),
            ("PING",)]
    s.sendall(b"".join(resp_cmd(*c) for c in cmds))
    got = read_replies(s, len(cmds))
    want = ["OK", "1", "OK", "2", 3, "3", "OK", "OK", "y", 1, None, "OK", "z",
            ("ERR", "WRONGTYPE Operation against a key holding the wrong kind of value"),
            "OK", None, "1", "OK", "5", "OK", "plain", "PONG"]
    check(got == want, "mixed pipeline replies in order:\n got  %r\n want %r" % (got, want))
    s.close()

    # several clients pipelining into the same keys: each sees its own
    # writes in order, and the final values are some client's last write
    socks = [srv.raw() for _ in range(8)]
    n = 200
    for ci, so in enumerate(socks):
        body = b""
        for i in range(n):
            body += resp_cmd("SET", "shared%d" % (i % 5), "c%d-%d" % (ci, i))
            body += resp_cmd("SET", "own%d" % ci, str(i))
            body += resp_cmd("GET", "own%d" % ci)
        so.sendall(body)
    for ci, so in enumerate(socks):
        got = read_replies(so, 3 * n)
        want = []
        for i in range(n):
            want += ["OK", "OK", str(i)]
        check(got == want, "client %d: its own writes read back in order" % ci)
        so.close()
    for k in range(5):
        v = r.get("shared%d" % k).decode()
        ci, i = v[1:].split("-")
        check(int(i) % 5 == k and int(i) >= n - 5, "shared%d ends with a last write: %s" % (k, v))


def test_disconnect(srv):
    """A client that sends a pipeline of SETs and closes at once: every
    SET still applies (the batch is executed), and the server goes on."""
    s = srv.raw()
    s.sendall(b"".join(resp_cmd("SET", "dc%d" % i, "v") for i in range(100)))
    s.shutdown(socket.SHUT_RDWR)
    s.close()
    r = srv.client()
    deadline = time.time() + 10
    while time.time() < deadline and r.exists(*["dc%d" % i for i in range(100)]) < 100:
        time.sleep(0.05)
    # the server may have read all, some or none of it before the close
    check(r.ping(), "the server answers after a client left mid-pipeline")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("orbitd")
    ap.add_argument("--store", default="rocksdb:{dir}")
    o = ap.parse_args()
    srv = Server(o.orbitd, o.store, args=["--threads", "2"]).start()
    try:
        test_costs(srv)
        test_order(srv)
        test_disconnect(srv)
        rc = srv.stop()
        check(rc == 0, "SIGTERM exits 0 (got %r)" % rc)
    finally:
        srv.cleanup()
    if FAILS:
        print("%d failure(s)" % len(FAILS))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
