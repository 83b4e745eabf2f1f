#!/usr/bin/python3
"""Black-box tests of orbitd's HTTP API with curl (and raw sockets for
malformed input), against a spawned server on free loopback ports.

Usage: test_http.py SERVER --store URI [--only NAME,...] [--providers etcd]
SERVER is orbitd; URI may hold
{dir} (a fresh directory per server) and {uniq} (a fresh etcd namespace). Covers every resource and status
code (200 201 400 401 404 405 409 413 503), the Prometheus text format of
/metrics (a strict line-by-line check), limits (body size before the body
is read, header size, idle timeout), authentication, a malformed-HTTP
flood after which /health answers and the data is intact, the same keys
through redis-cli and curl, and a graceful SIGTERM.
"""
import argparse
import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

OPTS = None
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def eq(a, b, what=""):
    assert a == b, "%s%r != %r" % (what + ": " if what else "", a, b)


class Server:
    def __init__(self, args=(), store=None):
        self.tmp = tempfile.mkdtemp(prefix="orbitd-http-")
        self.store = (store or OPTS.store).replace("{dir}", os.path.join(self.tmp, "data")).replace(
            "{uniq}", "h" + uuid.uuid4().hex[:12])
        self.port = free_port()
        self.http_port = free_port()
        self.args = list(args)
        self.log = os.path.join(self.tmp, "log")
        self.proc = None
        self.password = None
        if "--requirepass" in self.args:
            self.password = self.args[self.args.index("--requirepass") + 1]

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORBIT_")}
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [OPTS.server, "--store", self.store, "--port", str(self.port),
             "--http-port", str(self.http_port)] + self.args,
            stdout=logf, stderr=logf, env=env)
        logf.close()
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited %s:\n%s" % (self.proc.returncode, self.read_log()))
            try:
                socket.create_connection(("127.0.0.1", self.http_port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not listen:\n" + self.read_log())

    def read_log(self):
        try:
            return open(self.log, "rb").read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.http_port, path)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        if rc != 0:
            print("server exit code %s; its log:\n%s" % (rc, self.read_log()))
        shutil.rmtree(self.tmp, ignore_errors=True)
        return rc

    def curl(self, method, path, body=None, headers=None, auth=True):
        """(status, headers dict (lower-case names), body bytes), with curl."""
        cmd = ["curl", "-g", "-s", "-S", "-X", method, "-D", "-", "--max-time", "30"]
        if method == "HEAD":
            cmd = ["curl", "-g", "-s", "-S", "-I", "-D", "-", "--max-time", "30"]
        hdrs = dict(headers or {})
        if auth and self.password and "Authorization" not in hdrs:
            hdrs["Authorization"] = "Bearer " + self.password
        for k, v in hdrs.items():
            cmd += ["-H", "%s: %s" % (k, v)]
        bodyfile = None
        if body is not None:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            elif isinstance(body, str):
                body = body.encode()
            bodyfile = os.path.join(self.tmp, "body")
            with open(bodyfile, "wb") as f:
                f.write(body)
            cmd += ["--data-binary", "@" + bodyfile]
            if "Content-Type" not in hdrs:
                cmd += ["-H", "Content-Type: application/octet-stream"]
        cmd.append(self.url(path))
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        assert out.returncode == 0, "curl failed: %s %s" % (out.returncode, out.stderr)
        raw = out.stdout
        head, _, rest = raw.partition(b"\r\n\r\n")
        while head.startswith(b"HTTP/1.1 100"):
            head, _, rest = rest.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        h = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            h[k.strip().lower()] = v.strip()
        return status, h, rest

    def j(self, method, path, body=None, status=None, **kw):
        st, h, b = self.curl(method, path, body, **kw)
        if status is not None:
            assert st == status, "%s %s: status %d, expected %d: %r" % (method, path, st, status, b)
        if h.get("content-type", "").startswith("application/json"):
            return st, json.loads(b)
        return st, b

    def resp(self, *args):
        """One RESP command with redis-cli; its output."""
        cmd = ["redis-cli", "-p", str(self.port)]
        if self.password:
            cmd += ["--no-auth-warning", "-a", self.password]
        out = subprocess.run(cmd + list(args), stdout=subprocess.PIPE, check=True)
        return out.stdout.rstrip(b"\n")


SHARED = None


def shared():
    global SHARED
    if SHARED is None:
        SHARED = Server().start()
    return SHARED


def err_code(s, method, path, body, status, code):
    st, j = s.j(method, path, body, status=status)
    assert isinstance(j, dict) and j.get("code") == code and j.get("error"), j
    return j


# ---- small resources ---------------------------------------------------------

@case
def health_and_providers():
    s = shared()
    st, j = s.j("GET", "/health", status=200)
    eq(j["status"], "ok")
    st, h, b = s.curl("HEAD", "/health")
    eq(st, 200)
    st, j = s.j("GET", "/v1/providers", status=200)
    p = j["providers"][0]
    assert p["name"] in ("rocksdb", "memory", "etcd"), p
    for k in ("type", "durable", "transactions", "isolation_levels", "native_async",
              "max_value_size", "max_txn_keys"):
        assert k in p, (k, p)
    err_code(s, "GET", "/nope", None, 404, "NOTFOUND")
    err_code(s, "GET", "/v1/kv/%zz", None, 400, "EINVAL")
    err_code(s, "GET", "/v1//kv", None, 400, "EINVAL")
    st, h, b = s.curl("POST", "/health", "")
    eq(st, 405)
    assert "GET" in h.get("allow", ""), h
    eq(json.loads(b)["code"], "EINVAL")


# ---- plain keys -------------------------------------------------------------------

@case
def kv_bytes_and_redis():
    s = shared()
    blob = bytes(range(256)) * 3
    st, j = s.j("PUT", "/v1/kv/bin%2Fkey", blob, status=201)
    eq(j, {"created": True})
    st, j = s.j("PUT", "/v1/kv/bin%2Fkey", blob, status=200)
    eq(j, {"created": False})
    st, h, b = s.curl("GET", "/v1/kv/bin/key")  # '/' and %2F name the same key
    eq(st, 200)
    eq(h["content-type"], "application/octet-stream")
    eq(b, blob)
    st, h, b = s.curl("HEAD", "/v1/kv/bin/key")
    eq(st, 200)
    # curl PUT -> redis-cli GET, and redis-cli SET -> curl GET
    s.j("PUT", "/v1/kv/fromhttp", "héllo", status=201)
    eq(s.resp("GET", "fromhttp"), "héllo".encode())
    eq(s.resp("SET", "fromresp", "v1"), b"OK")
    st, h, b = s.curl("GET", "/v1/kv/fromresp")
    eq((st, b), (200, b"v1"))
    # a PUT replaces an expiring value and its TTL, as SET does
    s.resp("SET", "ttl", "x", "EX", "1000")
    s.j("PUT", "/v1/kv/ttl", "y", status=200)
    eq(s.resp("TTL", "ttl"), b"-1")
    # a key with a NUL byte and the empty value
    s.j("PUT", "/v1/kv/nul%00byte", b"", status=201)
    st, h, b = s.curl("GET", "/v1/kv/nul%00byte")
    eq((st, b), (200, b""))
    # a hash is not a string
    s.resp("HSET", "ahash", "f", "v")
    err_code(s, "GET", "/v1/kv/ahash", None, 409, "WRONGTYPE")
    # a PUT over the hash replaces it
    s.j("PUT", "/v1/kv/ahash", "now a string", status=200)
    eq(s.resp("TYPE", "ahash"), b"string")
    # delete
    st, j = s.j("DELETE", "/v1/kv/fromresp", status=200)
    eq(j, {"deleted": 1})
    eq(s.resp("EXISTS", "fromresp"), b"0")
    err_code(s, "DELETE", "/v1/kv/fromresp", None, 404, "NOTFOUND")
    err_code(s, "GET", "/v1/kv/fromresp", None, 404, "NOTFOUND")
    err_code(s, "POST", "/v1/kv/x", "", 405, "EINVAL")


@case
def kv_scan():
    s = shared()
    names = ["scan:%03d" % i for i in range(25)]
    for n in names:
        s.resp("SET", n, "v" + n)
    s.resp("HSET", "scan:hash", "f", "v")
    s.j("PUT", "/v1/kv/scan:%FF%FE", b"\xff\x00", status=201)
    st, j = s.j("GET", "/v1/kv?prefix=scan:&limit=1000", status=200)
    keys = [k.get("key") for k in j["keys"]]
    eq(keys[:25], names)
    assert "next" not in j
    hk = [k for k in j["keys"] if k.get("key") == "scan:hash"][0]
    eq(hk["type"], "hash")
    assert "value" not in hk
    raw = [k for k in j["keys"] if "key_base64" in k][0]
    eq(base64.b64decode(raw["key_base64"]), b"scan:\xff\xfe")
    eq(base64.b64decode(raw["value_base64"]), b"\xff\x00")
    # paging: limit 10, resume from next
    got, start = [], None
    for _ in range(10):
        q = "/v1/kv?prefix=scan:0&limit=10"
        if start is not None:
            q += "&start=" + "".join("%%%02X" % c for c in start.encode("utf-8"))
        st, j = s.j("GET", q, status=200)
        got += [k["key"] for k in j["keys"]]
        if "next" not in j:
            break
        start = j["next"]
    eq(got, names[:25])
    err_code(s, "GET", "/v1/kv?limit=abc", None, 400, "EINVAL")
    err_code(s, "GET", "/v1/kv?limit=999999", None, 400, "EINVAL")


# ---- tables -------------------------------------------------------------------------

SCHEMA = {
    "columns": [
        {"name": "id", "type": "int64", "nullable": False},
        {"name": "name", "type": "text"},
        {"name": "age", "type": "int64"},
        {"name": "score", "type": "float64", "default": 1.5},
        {"name": "ok", "type": "bool"},
        {"name": "pic", "type": "bytes"},
        {"name": "meta", "type": "json"},
    ],
    "primary_key": ["id"],
    "indexes": [{"name": "by_age", "columns": ["age"]},
                {"name": "by_name", "columns": ["name"], "unique": True}],
}


@case
def tables():
    s = shared()
    st, j = s.j("PUT", "/v1/tables/people", SCHEMA, status=201)
    eq([c["name"] for c in j["columns"]], [c["name"] for c in SCHEMA["columns"]])
    err_code(s, "PUT", "/v1/tables/people", SCHEMA, 409, "EEXIST")
    err_code(s, "PUT", "/v1/tables/bad", {"columns": []}, 400, "EINVAL")
    err_code(s, "PUT", "/v1/tables/bad", "{not json", 400, "EINVAL")
    err_code(s, "PUT", "/v1/tables/bad", {"columns": [{"name": "a", "type": "nope"}],
                                          "primary_key": ["a"]}, 400, "EINVAL")
    st, j = s.j("GET", "/v1/tables", status=200)
    assert "people" in j["tables"], j
    st, j = s.j("GET", "/v1/tables/people", status=200)
    eq(j["name"], "people")
    err_code(s, "GET", "/v1/tables/ghost", None, 404, "NOTFOUND")
    err_code(s, "GET", "/v1/tables/ghost/rows", None, 404, "NOTFOUND")

    rows = [{"id": i, "name": "n%d" % i, "age": 20 + i % 5, "ok": i % 2 == 0,
             "pic": base64.b64encode(bytes([i, 0, 255])).decode(), "meta": {"i": [i]}}
            for i in range(1, 11)]
    st, j = s.j("POST", "/v1/tables/people/rows", rows, status=201)
    eq(j, {"inserted": 10})
    err_code(s, "POST", "/v1/tables/people/rows", {"id": 1, "name": "zz"}, 409, "EEXIST")
    err_code(s, "POST", "/v1/tables/people/rows", {"id": 99, "name": "n1"}, 409, "EEXIST")
    err_code(s, "POST", "/v1/tables/people/rows", {"id": "x"}, 400, "EINVAL")
    err_code(s, "POST", "/v1/tables/people/rows", {"id": 50, "nosuch": 1}, 400, "EINVAL")
    err_code(s, "POST", "/v1/tables/people/rows", [], 400, "EINVAL")
    # a failing batch leaves nothing
    err_code(s, "POST", "/v1/tables/people/rows", [{"id": 60}, {"id": 1}], 409, "EEXIST")
    err_code(s, "GET", "/v1/tables/people/row?id=60", None, 404, "NOTFOUND")

    st, j = s.j("GET", "/v1/tables/people/row?id=3", status=200)
    eq(j["name"], "n3")
    eq(j["score"], 1.5)
    eq(j["ok"], False)
    eq(base64.b64decode(j["pic"]), bytes([3, 0, 255]))
    eq(j["meta"], {"i": [3]})
    err_code(s, "GET", "/v1/tables/people/row?id=abc", None, 400, "EINVAL")
    err_code(s, "GET", "/v1/tables/people/row", None, 400, "EINVAL")
    err_code(s, "GET", "/v1/tables/people/row?id=999", None, 404, "NOTFOUND")

    st, j = s.j("GET", "/v1/tables/people/query?index=by_age&eq=22", status=200)
    eq(sorted(r["id"] for r in j["rows"]), [2, 7])
    st, j = s.j("GET", "/v1/tables/people/query?index=by_name&eq=%22n4%22", status=200)
    eq([r["id"] for r in j["rows"]], [4])
    st, j = s.j("GET", "/v1/tables/people/query?index=by_age&gte=23&lt=24", status=200)
    eq(sorted(r["id"] for r in j["rows"]), [3, 8])
    st, j = s.j("GET", "/v1/tables/people/query?index=by_age&gt=23&limit=1&reverse=1",
                status=200)
    eq([r["age"] for r in j["rows"]], [24])
    err_code(s, "GET", "/v1/tables/people/query?index=nosuch&eq=1", None, 400, "EINVAL")
    err_code(s, "GET", "/v1/tables/people/query?eq=1", None, 400, "EINVAL")

    st, j = s.j("PATCH", "/v1/tables/people/row?id=3", {"age": 99}, status=200)
    st, j = s.j("GET", "/v1/tables/people/query?index=by_age&eq=99", status=200)
    eq([r["id"] for r in j["rows"]], [3])
    err_code(s, "PATCH", "/v1/tables/people/row?id=555", {"age": 1}, 404, "NOTFOUND")
    st, j = s.j("PUT", "/v1/tables/people/rows", {"id": 3, "name": "three"}, status=200)
    st, j = s.j("GET", "/v1/tables/people/row?id=3", status=200)
    eq((j["name"], j["age"]), ("three", 99))
    st, j = s.j("DELETE", "/v1/tables/people/row?id=3", status=200)
    err_code(s, "DELETE", "/v1/tables/people/row?id=3", None, 404, "NOTFOUND")
    st, j = s.j("GET", "/v1/tables/people/rows?limit=3", status=200)
    eq([r["id"] for r in j["rows"]], [1, 2, 4])
    st, j = s.j("GET", "/v1/tables/people/rows?reverse=1&limit=1", status=200)
    eq([r["id"] for r in j["rows"]], [10])
    st, j = s.j("POST", "/v1/tables/people/indexes", {"name": "by_ok", "columns": ["ok"]},
                status=201)
    st, j = s.j("GET", "/v1/tables/people/query?index=by_ok&eq=true", status=200)
    eq(sorted(r["id"] for r in j["rows"]), [2, 4, 6, 8, 10])
    err_code(s, "POST", "/v1/tables/people/indexes", {"name": "by_ok", "columns": ["ok"]},
             409, "EEXIST")
    err_code(s, "POST", "/v1/tables/people/indexes", {"name": "u", "columns": ["age"],
                                                      "unique": True}, 409, "EEXIST")


@case
def txn():
    s = shared()
    s.j("PUT", "/v1/tables/acct", {"columns": [{"name": "id", "type": "text", "nullable": False},
                                                {"name": "bal", "type": "int64"}],
                                    "primary_key": ["id"]}, status=201)
    st, j = s.j("POST", "/v1/txn", {"ops": [
        {"op": "kv.put", "key": "tx:a", "value": "1"},
        {"op": "kv.put", "key_base64": base64.b64encode(b"tx:\xff").decode(),
         "value_base64": base64.b64encode(b"\x00").decode()},
        {"op": "row.insert", "table": "acct", "row": {"id": "alice", "bal": 10}},
        {"op": "kv.get", "key": "tx:a"},
        {"op": "row.get", "table": "acct", "key": {"id": "alice"}},
        {"op": "row.update", "table": "acct", "row": {"id": "alice", "bal": 11}},
        {"op": "kv.get", "key": "tx:none"},
    ]}, status=200)
    eq(j["results"][3], {"value": "1"})
    eq(j["results"][4]["bal"], 10)
    eq(j["results"][6], None)
    eq(s.resp("GET", "tx:a"), b"1")
    st, j = s.j("GET", "/v1/tables/acct/row?id=alice", status=200)
    eq(j["bal"], 11)
    # all or nothing: the duplicate row rolls back the put and the delete
    j = err_code(s, "POST", "/v1/txn", {"ops": [
        {"op": "kv.put", "key": "tx:b", "value": "2"},
        {"op": "kv.delete", "key": "tx:a"},
        {"op": "row.insert", "table": "acct", "row": {"id": "alice", "bal": 1}},
    ]}, 409, "EEXIST")
    eq(j["op"], 2)
    eq(s.resp("EXISTS", "tx:b"), b"0")
    eq(s.resp("GET", "tx:a"), b"1")
    j = err_code(s, "POST", "/v1/txn", {"ops": [{"op": "kv.put", "key": "tx:c", "value": "3"},
                                               {"op": "nope"}]}, 400, "EINVAL")
    eq(j["op"], 1)
    eq(s.resp("EXISTS", "tx:c"), b"0")
    err_code(s, "POST", "/v1/txn", {"ops": []}, 400, "EINVAL")
    err_code(s, "POST", "/v1/txn", {"ops": [{"op": "row.get", "table": "ghost",
                                             "key": {"id": 1}}]}, 404, "NOTFOUND")
    err_code(s, "POST", "/v1/txn", {"ops": [{"op": "kv.put", "key": "x"}]}, 400, "EINVAL")
    err_code(s, "POST", "/v1/txn", {"ops": [{"op": "kv.get", "key": "x"}],
                                    "isolation": "bogus"}, 400, "EINVAL")
    st, j = s.j("POST", "/v1/txn", {"ops": [{"op": "kv.delete", "key": "tx:a"}]}, status=200)
    eq(s.resp("EXISTS", "tx:a"), b"0")


@case
def documents():
    s = shared()
    err_code(s, "GET", "/v1/collections/ghost/docs/x", None, 404, "NOTFOUND")
    err_code(s, "GET", "/v1/collections/ghost/docs", None, 404, "NOTFOUND")
    st, j = s.j("PUT", "/v1/collections/cats/docs/tom", {"name": "Tom", "age": 3,
                                                          "toys": ["ball"]}, status=200)
    st, j = s.j("GET", "/v1/collections/cats/docs/tom", status=200)
    eq(j, {"name": "Tom", "age": 3, "toys": ["ball"]})
    st, j = s.j("GET", "/v1/collections/cats/docs/tom?path=$.toys[0]", status=200)
    eq(j, ["ball"])
    st, j = s.j("PATCH", "/v1/collections/cats/docs/tom", {"age": 4, "toys": None,
                                                           "color": "grey"}, status=200)
    st, j = s.j("GET", "/v1/collections/cats/docs/tom", status=200)
    eq(j, {"name": "Tom", "age": 4, "color": "grey"})
    err_code(s, "PUT", "/v1/collections/cats/docs/bad", "{nope", 400, "EINVAL")
    err_code(s, "GET", "/v1/collections/cats/docs/tom?path=$[", None, 400, "EINVAL")
    err_code(s, "GET", "/v1/collections/cats/docs/nobody", None, 404, "NOTFOUND")
    st, j = s.j("DELETE", "/v1/collections/cats/docs/tom?path=$.color", status=200)
    eq(j, {"deleted": 1})
    st, j = s.j("GET", "/v1/collections/cats/docs/tom", status=200)
    assert "color" not in j
    for i in range(5):
        s.j("PUT", "/v1/collections/cats/docs/c%d" % i, {"i": i}, status=200)
    st, j = s.j("GET", "/v1/collections/cats/docs?limit=3", status=200)
    eq([d["id"] for d in j["docs"]], ["c0", "c1", "c2"])
    st, j = s.j("GET", "/v1/collections/cats/docs?limit=10&start=" + j["next"], status=200)
    eq([d["id"] for d in j["docs"]], ["c3", "c4", "tom"])
    assert "next" not in j
    st, j = s.j("DELETE", "/v1/collections/cats/docs/tom", status=200)
    err_code(s, "DELETE", "/v1/collections/cats/docs/tom", None, 404, "NOTFOUND")
    # documents in a cross-model transaction, all or nothing
    st, j = s.j("POST", "/v1/txn", {"ops": [
        {"op": "doc.put", "collection": "cats", "id": "kit", "doc": {"n": 1}},
        {"op": "doc.merge", "collection": "cats", "id": "kit", "patch": {"m": 2}},
        {"op": "doc.get", "collection": "cats", "id": "kit"},
        {"op": "kv.put", "key": "doc:side", "value": "x"},
    ]}, status=200)
    eq(j["results"][2], {"n": 1, "m": 2})
    j = err_code(s, "POST", "/v1/txn", {"ops": [
        {"op": "doc.delete", "collection": "cats", "id": "kit"},
        {"op": "doc.put", "collection": "cats", "id": "bad", "doc": {"a": 1}},
        {"op": "doc.delete", "collection": "cats", "id": "nobody"},
    ]}, 404, "NOTFOUND")
    eq(j["op"], 2)
    st, j = s.j("GET", "/v1/collections/cats/docs/kit", status=200)
    eq(j, {"n": 1, "m": 2})
    err_code(s, "GET", "/v1/collections/cats/docs/bad", None, 404, "NOTFOUND")


@case
def vectors():
    s = shared()
    err_code(s, "GET", "/v1/vectors/ghost", None, 404, "NOTFOUND")
    st, j = s.j("PUT", "/v1/vectors/emb", {"dim": 3, "metric": "l2"}, status=201)
    err_code(s, "PUT", "/v1/vectors/emb", {"dim": 3}, 409, "EEXIST")
    err_code(s, "PUT", "/v1/vectors/bad", {"dim": 0}, 400, "EINVAL")
    err_code(s, "PUT", "/v1/vectors/bad", {"dim": 3, "metric": "manhattan"}, 400, "EINVAL")
    pts = {"a": [0, 0, 0], "b": [1, 0, 0], "c": [5, 5, 5], "d": [0.9, 0.1, 0]}
    for k, v in pts.items():
        s.j("PUT", "/v1/vectors/emb/items/" + k, {"vector": v, "meta": {"g": k in "ab"}},
            status=200)
    err_code(s, "PUT", "/v1/vectors/emb/items/x", {"vector": [1, 2]}, 400, "EINVAL")
    err_code(s, "PUT", "/v1/vectors/emb/items/x", {"vector": "no"}, 400, "EINVAL")
    st, j = s.j("GET", "/v1/vectors/emb", status=200)
    eq((j["dim"], j["metric"], j["count"]), (3, "l2", 4))
    st, j = s.j("GET", "/v1/vectors/emb/items/d", status=200)
    eq([round(x, 5) for x in j["vector"]], [0.9, 0.1, 0.0])
    eq(j["meta"], {"g": False})
    st, j = s.j("POST", "/v1/vectors/emb/search", {"vector": [1, 0, 0], "k": 2}, status=200)
    eq([h["id"] for h in j["hits"]], ["b", "d"])
    st, j = s.j("POST", "/v1/vectors/emb/search",
                {"vector": [1, 0, 0], "k": 3, "filter": {"path": "$.g", "value": True}},
                status=200)
    eq([h["id"] for h in j["hits"]], ["b", "a"])
    err_code(s, "POST", "/v1/vectors/emb/search", {"vector": [1, 0]}, 400, "EINVAL")
    err_code(s, "POST", "/v1/vectors/emb/search", {"vector": [1, 0, 0], "k": 0}, 400, "EINVAL")
    st, j = s.j("DELETE", "/v1/vectors/emb/items/a", status=200)
    err_code(s, "DELETE", "/v1/vectors/emb/items/a", None, 404, "NOTFOUND")
    err_code(s, "GET", "/v1/vectors/emb/items/a", None, 404, "NOTFOUND")


@case
def graph():
    s = shared()
    err_code(s, "GET", "/v1/graphs/ghost/nodes/a", None, 404, "NOTFOUND")
    st, j = s.j("PUT", "/v1/graphs/social", None, status=201)
    err_code(s, "PUT", "/v1/graphs/social", None, 409, "EEXIST")
    for n in "abcde":
        s.j("PUT", "/v1/graphs/social/nodes/" + n, {"labels": ["person"], "props": {"n": n}},
            status=200)
    st, j = s.j("GET", "/v1/graphs/social/nodes/a", status=200)
    eq((j["id"], j["labels"], j["props"]), ("a", ["person"], {"n": "a"}))
    err_code(s, "GET", "/v1/graphs/social/nodes/zz", None, 404, "NOTFOUND")
    err_code(s, "PUT", "/v1/graphs/social/nodes/x", {"labels": "no"}, 400, "EINVAL")
    for f, t, w in [("a", "b", 1), ("b", "c", 1), ("a", "d", 5), ("d", "c", 1), ("c", "e", 1)]:
        s.j("POST", "/v1/graphs/social/edges", {"from": f, "rel": "knows", "to": t, "weight": w},
            status=201)
    err_code(s, "POST", "/v1/graphs/social/edges", {"from": "a", "rel": "knows", "to": "b"},
             409, "EEXIST")
    err_code(s, "POST", "/v1/graphs/social/edges", {"from": "a", "to": "b"}, 400, "EINVAL")
    st, j = s.j("GET", "/v1/graphs/social/nodes/a/neighbors", status=200)
    eq([(x["id"], x["rel"], x["dir"]) for x in j["neighbors"]],
       [("b", "knows", "out"), ("d", "knows", "out")])
    st, j = s.j("GET", "/v1/graphs/social/nodes/c/neighbors?dir=in", status=200)
    eq(sorted(x["id"] for x in j["neighbors"]), ["b", "d"])
    st, j = s.j("GET", "/v1/graphs/social/nodes/a/neighbors?depth=2", status=200)
    eq([(x["id"], x["depth"]) for x in j["nodes"]], [("b", 1), ("d", 1), ("c", 2)])
    err_code(s, "GET", "/v1/graphs/social/nodes/a/neighbors?dir=up", None, 400, "EINVAL")
    st, j = s.j("GET", "/v1/graphs/social/path?from=a&to=e", status=200)
    eq(len(j["path"]), 4)
    eq((j["path"][0], j["path"][-1], j["cost"]), ("a", "e", 3))
    st, j = s.j("GET", "/v1/graphs/social/path?from=a&to=e&weighted=1", status=200)
    eq((j["path"], j["cost"]), (["a", "b", "c", "e"], 3))
    st, j = s.j("GET", "/v1/graphs/social/path?from=e&to=a", status=200)
    eq(j, {"path": [], "cost": None})
    st, j = s.j("DELETE", "/v1/graphs/social/edges?from=a&rel=knows&to=b", status=200)
    err_code(s, "DELETE", "/v1/graphs/social/edges?from=a&rel=knows&to=b", None, 404,
             "NOTFOUND")
    st, j = s.j("DELETE", "/v1/graphs/social/nodes/c", status=200)
    eq(j["edges_removed"], 3)
    st, j = s.j("GET", "/v1/graphs/social/path?from=a&to=e", status=200)
    eq(j["path"], [])


@case
def series():
    s = shared()
    err_code(s, "GET", "/v1/series/ghost", None, 404, "NOTFOUND")
    st, j = s.j("PUT", "/v1/series/temp", {"type": "float64", "labels": {"room": "k"}},
                status=201)
    err_code(s, "PUT", "/v1/series/temp", {}, 409, "EEXIST")
    err_code(s, "PUT", "/v1/series/bad", {"type": "complex"}, 400, "EINVAL")
    err_code(s, "GET", "/v1/series/temp/last", None, 404, "NOTFOUND")
    pts = [[t * 1000, float(t)] for t in range(10)]
    st, j = s.j("POST", "/v1/series/temp/points", {"points": pts}, status=200)
    eq(j, {"written": 10})
    err_code(s, "POST", "/v1/series/temp/points", {"points": [[1, "x"]]}, 400, "EINVAL")
    err_code(s, "POST", "/v1/series/temp/points", {"points": [[0, 5.0]],
                                                   "on_duplicate": "block"}, 409, "EEXIST")
    st, j = s.j("GET", "/v1/series/temp", status=200)
    eq((j["type"], j["labels"], j["count"], j["first_ts"], j["last_ts"]),
       ("float64", {"room": "k"}, 10, 0, 9000))
    st, j = s.j("GET", "/v1/series/temp/points?from=2000&to=4000", status=200)
    eq(j["points"], [[2000, 2.0], [3000, 3.0], [4000, 4.0]])
    st, j = s.j("GET", "/v1/series/temp/points?reverse=1&limit=2", status=200)
    eq(j["points"], [[9000, 9.0], [8000, 8.0]])
    st, j = s.j("GET", "/v1/series/temp/points?agg=avg&bucket_ms=5000", status=200)
    eq([(b["start"], b["count"], b["value"]) for b in j["buckets"]],
       [(0, 5, 2.0), (5000, 5, 7.0)])
    st, j = s.j("GET", "/v1/series/temp/points?agg=max&bucket_ms=3000&from=1000", status=200)
    eq([b["value"] for b in j["buckets"]], [2.0, 5.0, 8.0, 9.0])
    err_code(s, "GET", "/v1/series/temp/points?agg=median&bucket_ms=10", None, 400, "EINVAL")
    err_code(s, "GET", "/v1/series/temp/points?from=x", None, 400, "EINVAL")
    st, j = s.j("GET", "/v1/series/temp/last", status=200)
    eq(j, {"ts": 9000, "value": 9.0})
    st, j = s.j("DELETE", "/v1/series/temp/points?from=0&to=4999", status=200)
    eq(j, {"deleted": 5})
    st, j = s.j("GET", "/v1/series/temp/points", status=200)
    eq([p[0] for p in j["points"]], [5000, 6000, 7000, 8000, 9000])


# ---- metrics --------------------------------------------------------------------------

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"')


def parse_metrics(text):
    """Strict check of the text exposition format 0.0.4; returns
    {family: (type, [(name, labels, value)])}."""
    fams, helps = {}, set()
    assert text.endswith("\n"), "the exposition ends with a newline"
    for ln in text.split("\n")[:-1]:
        if ln.startswith("# HELP "):
            name = ln.split(" ", 3)[2]
            assert NAME.match(name), ln
            assert name not in helps, "HELP twice: " + name
            helps.add(name)
            continue
        if ln.startswith("# TYPE "):
            parts = ln.split(" ")
            assert len(parts) == 4, ln
            name, typ = parts[2], parts[3]
            assert NAME.match(name), ln
            assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), ln
            assert name not in fams, "TYPE twice: " + name
            fams[name] = (typ, [])
            continue
        assert ln and not ln.startswith("#"), "unexpected line %r" % ln
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})? (\S+)$', ln)
        assert m, "bad sample line %r" % ln
        name, lab, val = m.group(1), m.group(2), m.group(3)
        labels = {}
        if lab:
            body = lab[1:-1]
            pos = 0
            while pos < len(body):
                lm = LABEL.match(body, pos)
                assert lm, "bad labels in %r" % ln
                assert lm.group(1) not in labels, "label twice in %r" % ln
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
                if pos < len(body):
                    assert body[pos] == ",", "bad labels in %r" % ln
                    pos += 1
        v = float(val)
        fam = name
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf) and name[: -len(suf)] in fams and \
                    fams[name[: -len(suf)]][0] == "histogram":
                fam = name[: -len(suf)]
        assert fam in fams, "sample before its TYPE: %r" % ln
        typ = fams[fam][0]
        if typ == "counter":
            assert name.endswith("_total"), "counter without _total: " + name
            assert v >= 0, ln
        if typ == "histogram":
            assert name != fam, "histogram sample without a suffix: %r" % ln
            if name.endswith("_bucket"):
                assert "le" in labels, ln
        fams[fam][1].append((name, labels, v))
    for fam, (typ, samples) in fams.items():
        assert fam in helps, "no HELP for " + fam
        if typ != "histogram":
            continue
        series = {}
        for name, labels, v in samples:
            key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
            series.setdefault(key, {"b": [], "sum": None, "count": None})
            if name.endswith("_bucket"):
                series[key]["b"].append((labels["le"], v))
            elif name.endswith("_sum"):
                series[key]["sum"] = v
            else:
                series[key]["count"] = v
        for key, sr in series.items():
            b = sr["b"]
            assert b and b[-1][0] == "+Inf", (fam, key)
            les = [float(x) for x, _ in b[:-1]]
            assert les == sorted(les), (fam, key)
            counts = [c for _, c in b]
            assert counts == sorted(counts), "buckets not cumulative: %s %s" % (fam, key)
            eq(sr["count"], counts[-1], "count = +Inf bucket")
            assert sr["sum"] is not None and sr["sum"] >= 0
    return fams


def sample(fams, fam, name=None, **labels):
    for n, lab, v in fams[fam][1]:
        if (name is None or n == name) and all(lab.get(k) == x for k, x in labels.items()):
            return v
    return None


@case
def metrics_format():
    s = shared()
    s.resp("SET", "m1", "x")
    s.curl("GET", "/v1/kv/m1")
    s.curl("GET", "/v1/kv/none")
    st, h, b = s.curl("GET", "/metrics")
    eq(st, 200)
    assert h["content-type"].startswith("text/plain; version=0.0.4"), h
    fams = parse_metrics(b.decode("utf-8"))
    for fam, typ in [("orbitd_requests_total", "counter"),
                     ("orbitd_request_errors_total", "counter"),
                     ("orbitd_request_duration_seconds", "histogram"),
                     ("orbitd_provider_requests_total", "counter"),
                     ("orbitd_provider_request_duration_seconds", "histogram"),
                     ("orbitd_http_responses_total", "counter"),
                     ("orbitd_auth_failures_total", "counter"),
                     ("orbitd_connected_clients", "gauge"),
                     ("orbitd_keys", "gauge"),
                     ("orbitd_keyspace_hit_ratio", "gauge"),
                     ("orbit_store_gets_total", "counter"),
                     ("orbit_store_keys_read_total", "counter")]:
        assert fam in fams, fam
        eq(fams[fam][0], typ, fam)
    n = sample(fams, "orbitd_requests_total", proto="http", command="GET /v1/kv/{key}")
    assert n and n >= 2, n
    e = sample(fams, "orbitd_request_errors_total", proto="http", command="GET /v1/kv/{key}")
    assert e and e >= 1, e
    c = sample(fams, "orbitd_request_duration_seconds",
               "orbitd_request_duration_seconds_count", proto="http",
               command="GET /v1/kv/{key}")
    eq(c, n)
    assert sample(fams, "orbitd_http_responses_total", code="404") >= 1
    assert sample(fams, "orbitd_keys") >= 1
    # the metrics of the scrape itself come with the next one
    st, h, b2 = s.curl("GET", "/metrics")
    fams2 = parse_metrics(b2.decode("utf-8"))
    assert sample(fams2, "orbitd_requests_total", proto="http", command="GET /metrics") >= 1


# ---- security and limits ------------------------------------------------------------------

@case
def auth():
    s = Server(["--requirepass", "s3cret"]).start()
    try:
        st, j = s.j("GET", "/health", auth=False, status=200)
        for path in ("/metrics", "/v1/providers", "/v1/kv/x", "/v1/tables", "/v1/kv"):
            st, h, b = s.curl("GET", path, auth=False)
            eq(st, 401, path)
            eq(json.loads(b)["code"], "NOAUTH")
            assert h.get("www-authenticate", "").startswith("Bearer"), h
        for bad in ("Bearer wrong", "Bearer s3cre", "Bearer s3cret2", "Basic czNjcmV0"):
            st, h, b = s.curl("PUT", "/v1/kv/x", "v", headers={"Authorization": bad})
            eq(st, 401, bad)
        err_code(s, "GET", "/v1/kv/x", None, 404, "NOTFOUND")  # nothing was written
        s.j("PUT", "/v1/kv/x", "v", status=201)
        st, h, b = s.curl("GET", "/metrics")
        fams = parse_metrics(b.decode())
        eq(sample(fams, "orbitd_auth_failures_total", proto="http"), 4.0)
    finally:
        eq(s.stop(), 0)


def raw(s, data, read=True, timeout=5):
    c = socket.create_connection(("127.0.0.1", s.http_port), timeout=timeout)
    try:
        c.sendall(data)
        if not read:
            return b""
        out = b""
        while True:
            try:
                d = c.recv(65536)
            except socket.timeout:
                break
            if not d:
                break
            out += d
        return out
    finally:
        c.close()


@case
def limits():
    s = Server(["--http-max-body", "1000", "--http-max-header", "2048",
                "--http-timeout", "1"]).start()
    try:
        s.j("PUT", "/v1/kv/small", b"x" * 1000, status=201)
        st, h, b = s.curl("PUT", "/v1/kv/big", b"x" * 1001)
        eq(st, 413)
        err_code(s, "GET", "/v1/kv/big", None, 404, "NOTFOUND")
        # refused on the declared length, before any body is sent
        out = raw(s, b"PUT /v1/kv/huge HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 99999999999999\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 413"), out[:100]
        # a chunked body growing past the limit
        out = raw(s, b"PUT /v1/kv/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + (b"200\r\n" + b"y" * 512 + b"\r\n") * 4 + b"0\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 413"), out[:100]
        err_code(s, "GET", "/v1/kv/chunked", None, 404, "NOTFOUND")
        # headers over the limit: refused, nothing served
        out = raw(s, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4096 + b"\r\n\r\n")
        assert not out.startswith(b"HTTP/1.1 200"), out[:100]
        # an idle connection is closed by the server (recv sees the end)
        c = socket.create_connection(("127.0.0.1", s.http_port), timeout=30)
        c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never finished
        eq(c.recv(100), b"")
        c.close()
        st, j = s.j("GET", "/health", status=200)
    finally:
        eq(s.stop(), 0)


@case
def malformed_flood():
    s = Server(["--http-max-body", "100000", "--http-timeout", "1"]).start()
    try:
        s.j("PUT", "/v1/kv/keep", b"precious", status=201)
        s.resp("SET", "keep2", "also")
        rnd = random.Random(7)
        probes = [
            b"\x00\xff\r\n\r\n",
            b"GET\r\n\r\n",
            b"GET / HTTP/9.9\r\n\r\n",
            b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
            b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            b"PUT /v1/kv/keep HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nonly part",
            b"PUT /v1/kv/keep HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"PUT /v1/kv/keep HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551616\r\n\r\n",
            b"POST /v1/txn HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{\"ops",
            b"POST /v1/txn HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n[1]",
            b"PUT /v1/tables/t HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nnull",
            b"GET /v1/kv?" + b"a=1&" * 100 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /" + b"a/" * 100 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET http://evil/v1/kv/keep HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /v1/kv/%G0 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /v1/kv/% HTTP/1.1\r\nHost: x\r\n\r\n",
            b"DELETE /v1/kv/ HTTP/1.1\r\nHost: x\r\n\r\n",
            b"BREW /coffee HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /health HTTP/1.1\r\n" + b"X: y\r\n" * 2000 + b"\r\n",
        ]
        for p in probes:
            raw(s, p, timeout=0.5)
        for i in range(150):
            kind = rnd.randrange(4)
            if kind == 0:
                data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 400)))
            elif kind == 1:
                p = rnd.choice(probes)
                data = p[: rnd.randrange(1, len(p) + 1)]
            elif kind == 2:
                p = bytearray(rnd.choice(probes))
                for _ in range(rnd.randrange(1, 6)):
                    p[rnd.randrange(len(p))] = rnd.randrange(256)
                data = bytes(p)
            else:
                data = b"PUT /v1/kv/fz%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (
                    i, rnd.choice([10 ** 12, 2 ** 63, 100001, 7])) + b"abc"
            raw(s, data, read=rnd.random() < 0.2, timeout=0.2)
        st, j = s.j("GET", "/health", status=200)
        st, h, b = s.curl("GET", "/v1/kv/keep")
        eq((st, b), (200, b"precious"))
        eq(s.resp("GET", "keep2"), b"also")
        eq(s.resp("PING"), b"PONG")
    finally:
        eq(s.stop(), 0)


@case
def store_unavailable():
    """503 when the store stops answering: orbitd on a one-member etcd that
    is then killed."""
    if "etcd" not in OPTS.providers or not shutil.which("etcd"):
        print("  (skipped: no etcd)")
        return
    tmp = tempfile.mkdtemp(prefix="orbit-http-etcd-")
    cport, pport = free_port(), free_port()
    etcd = subprocess.Popen(
        ["etcd", "--data-dir", os.path.join(tmp, "d"), "--name", "e0",
         "--listen-client-urls", "http://127.0.0.1:%d" % cport,
         "--advertise-client-urls", "http://127.0.0.1:%d" % cport,
         "--listen-peer-urls", "http://127.0.0.1:%d" % pport,
         "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % pport,
         "--initial-cluster", "e0=http://127.0.0.1:%d" % pport],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s = None
    try:
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", cport), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "etcd did not start"
                time.sleep(0.1)
        s = Server(store="etcd://127.0.0.1:%d?namespace=http/" % cport)
        for _ in range(50):
            try:
                s.start()
                break
            except RuntimeError:  # etcd not serving yet
                time.sleep(0.2)
        st, j = s.j("GET", "/health", status=200)
        s.j("PUT", "/v1/kv/e", "v", status=201)
        etcd.kill()
        etcd.wait()
        st, j = s.j("GET", "/health")
        eq(st, 503)
        assert j["code"] in ("EUNAVAIL", "ETIMEDOUT"), j
        st, j = s.j("GET", "/v1/kv/e")
        eq(st, 503)
    finally:
        if etcd.poll() is None:
            etcd.kill()
            etcd.wait()
        if s:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@case
def graceful_stop():
    s = Server().start()
    s.j("PUT", "/v1/kv/a", "b", status=201)
    eq(s.stop(signal.SIGTERM), 0)


# ---- store figures in /metrics; graph, vector and series ops in /v1/txn ---------------

def store_figures(s):
    st, h, b = s.curl("GET", "/metrics")
    eq(st, 200)
    return parse_metrics(b.decode("utf-8"))


@case
def metrics_store_figures():
    s = Server().start()
    try:
        st, j = s.j("GET", "/v1/providers", status=200)
        # metrics are labelled with the provider's configured name ("default"
        # for --store); what it reports depends on its kind
        prov = j["providers"][0]["provider"]
        kind = j["providers"][0]["name"]
        f0 = store_figures(s)
        eq(sample(f0, "orbit_store_stats_up", provider=prov), 1.0)
        for fam in ("orbit_store_size_bytes", "orbit_store_keys"):
            assert fam in f0, fam
            eq(f0[fam][0], "gauge", fam)
        k0 = sample(f0, "orbit_store_keys", provider=prov)
        z0 = sample(f0, "orbit_store_size_bytes", provider=prov)
        val = "v" * 400
        for i in range(100):
            s.resp("SET", "fig:%03d" % i, val)
        f1 = store_figures(s)
        assert sample(f1, "orbit_store_keys", provider=prov) >= k0 + 100
        if kind != "etcd":  # etcd's size is a member's file, which need not grow
            assert sample(f1, "orbit_store_size_bytes", provider=prov) >= z0 + 100 * 400
        live = sample(f1, "orbit_store_live_bytes", provider=prov)
        if live is not None:
            assert live <= sample(f1, "orbit_store_size_bytes", provider=prov)
        if kind == "rocksdb":
            for fam, typ in (("orbit_cache_hits_total", "counter"),
                             ("orbit_cache_misses_total", "counter"),
                             ("orbit_cache_hit_ratio", "gauge"),
                             ("orbit_cache_capacity_bytes", "gauge"),
                             ("orbit_store_memtable_bytes", "gauge")):
                assert fam in f1, fam
                eq(f1[fam][0], typ, fam)
            r = sample(f1, "orbit_cache_hit_ratio", provider=prov)
            assert r != r or 0 <= r <= 1, r  # NaN before any lookup
        else:
            assert "orbit_cache_hits_total" not in f1  # no read cache to report
    finally:
        eq(s.stop(), 0)


@case
def txn_models():
    """POST /v1/txn with graph, vector and series ops next to rows and kv: one
    transaction that commits all of them, and ones whose failing op (a wrong
    vector dimension, a missing edge endpoint, a bad series value) leaves
    none of them."""
    s = shared()
    s.j("PUT", "/v1/tables/tm_acct", {"columns": [{"name": "id", "type": "text",
                                                    "nullable": False},
                                                   {"name": "bal", "type": "int64"}],
                                       "primary_key": ["id"]}, status=201)
    s.j("PUT", "/v1/vectors/tm_emb", {"dim": 3, "metric": "l2"}, status=201)
    s.j("PUT", "/v1/graphs/tm_g", None, status=201)
    s.j("PUT", "/v1/series/tm_ts", {"type": "float64"}, status=201)
    st, j = s.j("POST", "/v1/txn", {"ops": [
        {"op": "row.insert", "table": "tm_acct", "row": {"id": "u1", "bal": 5}},
        {"op": "vector.put", "collection": "tm_emb", "id": "u1", "vector": [1, 2, 3],
         "meta": {"who": "u1"}},
        {"op": "graph.add_node", "graph": "tm_g", "id": "u1", "labels": ["user"],
         "props": {"n": 1}},
        {"op": "graph.add_node", "graph": "tm_g", "id": "u2"},
        {"op": "graph.add_edge", "graph": "tm_g", "from": "u1", "rel": "follows", "to": "u2",
         "weight": 2},
        {"op": "series.add", "series": "tm_ts", "points": [[1000, 1.5], [2000, 2.5]]},
        {"op": "kv.put", "key": "tm:k", "value": "v"},
    ]}, status=200)
    eq(j["results"][5], {"written": 2})
    st, j = s.j("GET", "/v1/tables/tm_acct/row?id=u1", status=200)
    eq(j["bal"], 5)
    st, j = s.j("GET", "/v1/vectors/tm_emb/items/u1", status=200)
    eq([round(x, 5) for x in j["vector"]], [1.0, 2.0, 3.0])
    eq(j["meta"], {"who": "u1"})
    st, j = s.j("GET", "/v1/graphs/tm_g/nodes/u1", status=200)
    eq((j["labels"], j["props"]), (["user"], {"n": 1}))
    st, j = s.j("GET", "/v1/graphs/tm_g/nodes/u1/neighbors", status=200)
    eq([(x["id"], x["rel"]) for x in j["neighbors"]], [("u2", "follows")])
    st, j = s.j("GET", "/v1/series/tm_ts/points", status=200)
    eq(j["points"], [[1000, 1.5], [2000, 2.5]])
    eq(s.resp("GET", "tm:k"), b"v")

    def untouched():
        err_code(s, "GET", "/v1/tables/tm_acct/row?id=u9", None, 404, "NOTFOUND")
        err_code(s, "GET", "/v1/vectors/tm_emb/items/u9", None, 404, "NOTFOUND")
        err_code(s, "GET", "/v1/graphs/tm_g/nodes/u9", None, 404, "NOTFOUND")
        st, j = s.j("GET", "/v1/graphs/tm_g/nodes/u1/neighbors", status=200)
        eq([x["id"] for x in j["neighbors"]], ["u2"])
        st, j = s.j("GET", "/v1/series/tm_ts/points", status=200)
        eq(j["points"], [[1000, 1.5], [2000, 2.5]])
        st, j = s.j("GET", "/v1/vectors/tm_emb", status=200)
        eq(j["count"], 1)
        eq(s.resp("EXISTS", "tm:k9"), b"0")

    # a wrong vector dimension: nothing of the list is applied
    writes = [
        {"op": "row.insert", "table": "tm_acct", "row": {"id": "u9", "bal": 1}},
        {"op": "graph.add_node", "graph": "tm_g", "id": "u9"},
        {"op": "graph.add_edge", "graph": "tm_g", "from": "u9", "rel": "follows", "to": "u1"},
        {"op": "series.add", "series": "tm_ts", "points": [[3000, 3.5]]},
        {"op": "series.delete_range", "series": "tm_ts", "from": 0, "to": 1500},
        {"op": "kv.put", "key": "tm:k9", "value": "x"},
        {"op": "vector.put", "collection": "tm_emb", "id": "u8", "vector": [1, 1, 1]},
    ]
    j = err_code(s, "POST", "/v1/txn", {"ops": writes + [
        {"op": "vector.put", "collection": "tm_emb", "id": "u9", "vector": [1, 2]}]},
        400, "EINVAL")
    eq(j["op"], len(writes))
    assert "dim" in j["error"], j
    untouched()
    # an edge to a node that does not exist fails at commit (the graph's check)
    j = err_code(s, "POST", "/v1/txn", {"ops": writes + [
        {"op": "graph.add_edge", "graph": "tm_g", "from": "u1", "rel": "follows",
         "to": "ghost"}]}, 409, "ECONSTRAINT")
    untouched()
    # a value that is not of the series' type; a delete of an absent vector
    j = err_code(s, "POST", "/v1/txn", {"ops": writes + [
        {"op": "series.add", "series": "tm_ts", "points": [[4000, "warm"]]}]}, 400, "EINVAL")
    eq(j["op"], len(writes))
    untouched()
    j = err_code(s, "POST", "/v1/txn", {"ops": writes + [
        {"op": "vector.delete", "collection": "tm_emb", "id": "nobody"}]}, 404, "NOTFOUND")
    untouched()
    # objects that do not exist, and malformed ops
    for op, code, status in [
            ({"op": "vector.put", "collection": "ghost", "id": "a", "vector": [1]},
             "NOTFOUND", 404),
            ({"op": "graph.add_node", "graph": "ghost", "id": "a"}, "NOTFOUND", 404),
            ({"op": "series.add", "series": "ghost", "points": [[1, 1.0]]}, "NOTFOUND", 404),
            ({"op": "graph.add_edge", "graph": "tm_g", "from": "u1", "to": "u2"}, "EINVAL", 400),
            ({"op": "graph.add_node", "graph": "tm_g", "id": "x", "labels": "no"},
             "EINVAL", 400),
            ({"op": "vector.put", "collection": "tm_emb", "id": "x", "vector": "no"},
             "EINVAL", 400),
            ({"op": "series.add", "series": "tm_ts", "points": []}, "EINVAL", 400),
            ({"op": "series.add", "series": "tm_ts", "points": [[1, 1.0]],
              "on_duplicate": "never"}, "EINVAL", 400),
            ({"op": "series.delete_range", "series": "tm_ts", "from": "x"}, "EINVAL", 400)]:
        j = err_code(s, "POST", "/v1/txn", {"ops": [
            {"op": "kv.put", "key": "tm:k9", "value": "x"}, op]}, status, code)
        eq(j["op"], 1)
    untouched()
    # deletes of each kind in one transaction
    st, j = s.j("POST", "/v1/txn", {"ops": [
        {"op": "graph.delete_edge", "graph": "tm_g", "from": "u1", "rel": "follows", "to": "u2"},
        {"op": "graph.delete_node", "graph": "tm_g", "id": "u2"},
        {"op": "vector.delete", "collection": "tm_emb", "id": "u1"},
        {"op": "series.delete_range", "series": "tm_ts", "from": 0, "to": 1500},
        {"op": "row.delete", "table": "tm_acct", "key": {"id": "u1"}},
    ]}, status=200)
    eq(j["results"][1], {"edges_removed": 0})
    eq(j["results"][3], {"deleted": 1})
    err_code(s, "GET", "/v1/graphs/tm_g/nodes/u2", None, 404, "NOTFOUND")
    err_code(s, "GET", "/v1/vectors/tm_emb/items/u1", None, 404, "NOTFOUND")
    st, j = s.j("GET", "/v1/series/tm_ts/points", status=200)
    eq(j["points"], [[2000, 2.5]])
    err_code(s, "GET", "/v1/tables/tm_acct/row?id=u1", None, 404, "NOTFOUND")
    st, j = s.j("GET", "/v1/graphs/tm_g/nodes/u1/neighbors", status=200)
    eq(j["neighbors"], [])


def main():
    global OPTS
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("--store", required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--providers", default="etcd",
                    help="optional providers the 503 case may use (etcd)")
    OPTS = ap.parse_args()
    only = set(filter(None, OPTS.only.split(",")))
    failed = 0
    for fn in CASES:
        if only and fn.__name__ not in only:
            continue
        t0 = time.time()
        try:
            fn()
            print("ok   %s (%.1fs)" % (fn.__name__, time.time() - t0))
        except Exception:
            failed += 1
            print("FAIL %s" % fn.__name__)
            traceback.print_exc()
            if SHARED:
                print(SHARED.read_log())
    if SHARED:
        rc = SHARED.stop()
        if rc != 0:
            print("FAIL shared server exit code %s" % rc)
            failed += 1
    print("%d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
