#!/usr/bin/python3
"""Black-box tests of orbitd's placement over several providers
(src/server/placement.c, config.c; the storage manager of
include/orbit/manager.h).

Usage: test_placement.py ORBITD --orbit-cli ORBIT

Spawns orbitd on two RocksDB directories (and memory:), with routes, and
checks where the data lands by opening each directory read-only with the
CLI (`orbit --read-only kv get|scan`) after a graceful stop: the Redis
database is the actor orbit/default (keyspace 1, what `orbit kv` reads),
the model objects the models-actor. Also: a MULTI block or POST /v1/txn
touching both actors on two providers is refused whole; a stored placement
wins over changed routes after a restart; GET /v1/providers and INFO
placement; config precedence (file < environment < flags) for providers and
the default provider; bad configurations exit 2 naming the problem.
Runs under Debian's /usr/bin/python3 (python3-redis).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import redis  # noqa: E402

OPTS = None
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def eq(a, b):
    assert a == b, "%r != %r" % (a, b)


class Placed(harness.Server):
    """An orbitd with its own placement arguments instead of --store."""

    def __init__(self, tmp, args, env=None, config=None):
        super().__init__(OPTS.orbitd, "memory:", env=env)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = tempfile.mkdtemp(prefix="orbitd-srv-", dir=tmp)
        self.log = os.path.join(self.tmp, "orbitd.log")
        self.place_args = list(args)
        if config is not None:
            path = os.path.join(self.tmp, "orbitd.conf")
            with open(path, "w") as f:
                f.write(config)
            self.place_args += ["--config", path]

    def cmdline(self):
        return [self.binary, "--port", str(self.port), "--http-port", str(self.http_port)] + \
            self.place_args

    def http(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http_port, path),
                                     data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, json.loads(raw) if raw else None


def cli(store, *args):
    """orbit --store STORE --read-only ARGS: (exit code, stdout bytes)."""
    p = subprocess.run([OPTS.orbit_cli, "--store", store, "--read-only"] + list(args),
                       capture_output=True, timeout=60)
    return p.returncode, p.stdout


def holds(path, mark):
    """Whether any file of the RocksDB directory holds the bytes mark: the
    write-ahead log (and, after a flush, the table files) keep a short,
    unrepeated marker literally, so this shows which store a document
    went to (`orbit kv scan` lists only the plain strings of keyspace 1)."""
    for dp, _, files in os.walk(path):
        for f in files:
            with open(os.path.join(dp, f), "rb") as fh:
                if mark in fh.read():
                    return True
    return False


def run_bad(args, env=None, config=None, tmp=None):
    """orbitd with a bad configuration: (exit code, stderr text)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("ORBIT_")}
    if env:
        e.update(env)
    argv = [OPTS.orbitd, "--port", str(harness.free_port()), "--http-port", "0"] + list(args)
    if config is not None:
        path = os.path.join(tmp, "bad.conf")
        with open(path, "w") as f:
            f.write(config)
        argv += ["--config", path]
    p = subprocess.run(argv, env=e, capture_output=True, timeout=60)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def two(tmp, extra=(), env=None):
    m, s = os.path.join(tmp, "main"), os.path.join(tmp, "side")
    args = ["--provider", "main=rocksdb:" + m, "--provider", "side=rocksdb:" + s,
            "--models-actor", "app/models", "--route", "app=side"] + list(extra)
    return m, s, args


@case
def test_models_routed_to_second_provider(tmp):
    m, s, args = two(tmp)
    srv = Placed(tmp, args).start()
    try:
        r = srv.client()
        eq(r.set("k", "v"), True)
        eq(r.hset("h", "f", "x"), 1)
        eq(r.execute_command("JSON.SET", "doc", "$", '{"mark":"PLACEMARK1"}'), b"OK")
        st, _ = srv.http("PUT", "/v1/collections/c/docs/d1", {"mark": "PLACEMARK2"})
        assert st in (200, 201), st
        # a block of model commands only binds to the models' store
        p = r.pipeline(transaction=True)
        p.execute_command("JSON.SET", "doc2", "$", '{"mark":"PLACEMARK3"}')
        p.execute_command("JSON.SET", "doc3", "$", '{"n":1}')
        eq(p.execute(), [b"OK", b"OK"])
        # and one of Redis commands only to the Redis database's
        p = r.pipeline(transaction=True)
        p.set("k2", "v2")
        p.incr("n")
        eq(p.execute(), [True, 1])

        st, j = srv.http("GET", "/v1/providers")
        eq(st, 200)
        ps = {p["provider"]: p for p in j["providers"]}
        eq(sorted(ps), ["main", "side"])
        eq(ps["main"]["default"], True)
        eq(ps["side"]["default"], False)
        eq(ps["main"]["name"], "rocksdb")
        eq([a["actor"] for a in ps["main"]["actors"]], ["orbit/default"])
        eq([a["actor"] for a in ps["side"]["actors"]], ["app/models"])
        eq(j["placement"]["strategy"], "by_actor_type")
        eq(j["placement"]["routes"], {"app": "side"})
        info = r.info("placement")
        eq(info["orbit_providers"], 2)
        eq(info["orbit_default_provider"], "main")
        eq(info["orbit_models_actor"], {"actor": "app/models", "provider": "side"})
        eq(info["orbit_redis_actor"], {"actor": "orbit/default", "provider": "main"})
        eq(info["orbit_provider_1"]["name"], "side")
        r.close()
        eq(srv.stop(), 0)

        # where it landed: Redis keys on main (keyspace 1, what `orbit kv`
        # reads), documents on side
        eq(cli("rocksdb:" + m, "kv", "get", "--raw", "k"), (0, b"v"))
        eq(cli("rocksdb:" + m, "kv", "get", "--raw", "k2"), (0, b"v2"))
        eq(cli("rocksdb:" + s, "kv", "get", "--raw", "k")[0], 1)
        for mark in (b"PLACEMARK1", b"PLACEMARK2", b"PLACEMARK3"):
            assert holds(s, mark), mark
            assert not holds(m, mark), mark

        # the same configuration reads it all back
        srv.start()
        r = srv.client()
        eq(r.get("k"), b"v")
        eq(r.hget("h", "f"), b"x")
        eq(json.loads(r.execute_command("JSON.GET", "doc", "$")), [{"mark": "PLACEMARK1"}])
        st, j = srv.http("GET", "/v1/collections/c/docs/d1")
        eq(st, 200)
        r.close()
        eq(srv.stop(), 0)

        # a stored placement wins over a changed route: the models stay on side
        srv2 = Placed(tmp, args[:-2] + ["--route", "app=main"]).start()
        try:
            r = srv2.client()
            eq(json.loads(r.execute_command("JSON.GET", "doc", "$")), [{"mark": "PLACEMARK1"}])
            r.close()
        finally:
            srv2.cleanup()
    finally:
        srv.cleanup()


@case
def test_cross_provider_transactions_refused(tmp):
    m, s, args = two(tmp)
    srv = Placed(tmp, args).start()
    try:
        r = srv.client()
        p = r.pipeline(transaction=True)
        p.set("tk", "v")
        p.execute_command("JSON.SET", "tdoc", "$", '{"a":1}')
        try:
            res = p.execute()
        except redis.ResponseError as e:
            assert "spans providers" in str(e), str(e)
        else:
            raise AssertionError("EXEC across providers succeeded: %r" % (res,))
        eq(r.get("tk"), None)
        eq(r.execute_command("JSON.GET", "tdoc"), None)
        # the model command first: the same
        p = r.pipeline(transaction=True)
        p.execute_command("JSON.SET", "tdoc", "$", '{"a":1}')
        p.set("tk", "v")
        try:
            res = p.execute()
        except redis.ResponseError as e:
            assert "spans providers" in str(e), str(e)
        else:
            raise AssertionError("EXEC across providers succeeded: %r" % (res,))
        eq(r.get("tk"), None)
        eq(r.execute_command("JSON.GET", "tdoc"), None)

        # WATCH binds the block to the Redis database's store: the model
        # command is refused, nothing written
        p = r.pipeline(transaction=True)
        p.watch("w")
        p.multi()
        p.execute_command("JSON.SET", "tdoc", "$", '{"a":1}')
        try:
            res = p.execute()
        except redis.ResponseError as e:
            assert "spans providers" in str(e), str(e)
        else:
            raise AssertionError("EXEC across providers succeeded: %r" % (res,))
        eq(r.execute_command("JSON.GET", "tdoc"), None)

        st, j = srv.http("POST", "/v1/txn", {"ops": [
            {"op": "kv.put", "key": "hk", "value": "v"},
            {"op": "doc.put", "collection": "c", "id": "hd", "doc": {"a": 1}}]})
        assert st >= 400, (st, j)
        assert "spans providers" in json.dumps(j), j
        eq(r.get("hk"), None)
        st, _ = srv.http("GET", "/v1/collections/c/docs/hd")
        eq(st, 404)
        # each side alone is fine
        st, j = srv.http("POST", "/v1/txn", {"ops": [
            {"op": "doc.put", "collection": "c", "id": "hd", "doc": {"a": 1}},
            {"op": "doc.get", "collection": "c", "id": "hd"}]})
        eq(st, 200)
        st, j = srv.http("POST", "/v1/txn", {"ops": [{"op": "kv.put", "key": "hk", "value": "v"}]})
        eq(st, 200)
        eq(r.get("hk"), b"v")
        r.close()
    finally:
        srv.cleanup()


@case
def test_redis_database_routed(tmp):
    m, s = os.path.join(tmp, "main"), os.path.join(tmp, "side")
    srv = Placed(tmp, ["--provider", "main=rocksdb:" + m, "--provider", "side=rocksdb:" + s,
                       "--route", "orbit=side"]).start()
    try:
        r = srv.client()
        eq(r.set("rk", "rv"), True)
        eq(r.execute_command("JSON.SET", "rdoc", "$", '{"mark":"PLACEMARK4"}'), b"OK")
        # both actors are orbit/default, on one store: a mixed block commits
        p = r.pipeline(transaction=True)
        p.set("rk2", "v")
        p.execute_command("JSON.SET", "rdoc2", "$", '{"a":1}')
        eq(p.execute(), [True, b"OK"])
        r.close()
        eq(srv.stop(), 0)
        eq(cli("rocksdb:" + s, "kv", "get", "--raw", "rk"), (0, b"rv"))
        eq(cli("rocksdb:" + m, "kv", "get", "--raw", "rk")[0], 1)
        # side alone, as a plain --store, serves the Redis database as before
        one = Placed(tmp, ["--store", "rocksdb:" + s]).start()
        try:
            r = one.client()
            eq(r.get("rk"), b"rv")
            eq(r.get("rk2"), b"v")
            eq(json.loads(r.execute_command("JSON.GET", "rdoc", "$")), [{"mark": "PLACEMARK4"}])
            assert holds(s, b"PLACEMARK4") and not holds(m, b"PLACEMARK4")
            st, j = one.http("GET", "/v1/providers")
            eq([(p["provider"], p["default"]) for p in j["providers"]], [("default", True)])
            r.close()
        finally:
            one.cleanup()
    finally:
        srv.cleanup()


@case
def test_memory_provider(tmp):
    d = os.path.join(tmp, "disk")
    args = ["--provider", "disk=rocksdb:" + d, "--provider", "hot=memory:",
            "--models-actor", "cache/models", "--route", "cache=hot"]
    srv = Placed(tmp, args).start()
    try:
        r = srv.client()
        eq(r.set("mk", "mv"), True)
        eq(r.execute_command("JSON.SET", "mdoc", "$", '{"a":1}'), b"OK")
        r.close()
        srv.restart()
        r = srv.client()
        eq(r.get("mk"), b"mv")            # on disk
        eq(r.execute_command("JSON.GET", "mdoc"), None)  # was in memory
        r.close()
    finally:
        srv.cleanup()
    # a memory default with two providers would lose the catalog: refused,
    # unless asked for
    rc, err = run_bad(["--provider", "hot=memory:", "--provider", "disk=rocksdb:" + d])
    eq(rc, 2)
    assert "not durable" in err, err
    srv = Placed(tmp, ["--provider", "hot=memory:", "--provider", "disk=rocksdb:" + d,
                       "--catalog", "volatile"]).start()
    try:
        eq(srv.client().set("x", "y"), True)
    finally:
        srv.cleanup()


@case
def test_precedence(tmp):
    a = os.path.join(tmp, "pa")
    b1, b2, b3 = (os.path.join(tmp, "pb%d" % i) for i in (1, 2, 3))
    conf = "# placement\nprovider b rocksdb:%s\nprovider a rocksdb:%s\ndefault-provider b\n" % (
        b1, a)
    env = {"ORBIT_PROVIDERS": "b=rocksdb:%s" % b2, "ORBIT_DEFAULT_PROVIDER": "a"}

    def default_of(srv):
        st, j = srv.http("GET", "/v1/providers")
        eq(st, 200)
        return [p["provider"] for p in j["providers"] if p["default"]]

    # file only
    srv = Placed(tmp, [], config=conf).start()
    try:
        eq(default_of(srv), ["b"])
    finally:
        srv.cleanup()
    assert os.path.isdir(b1) and not os.path.exists(b2) and not os.path.exists(b3)
    # the environment over the file
    srv = Placed(tmp, [], env=env, config=conf).start()
    try:
        eq(default_of(srv), ["a"])
    finally:
        srv.cleanup()
    assert os.path.isdir(b2) and not os.path.exists(b3)
    # flags over the environment
    srv = Placed(tmp, ["--provider", "b=rocksdb:" + b3, "--default-provider", "b"], env=env,
                 config=conf).start()
    try:
        eq(default_of(srv), ["b"])
        r = srv.client()
        eq(r.set("pk", "pv"), True)
        r.close()
        eq(srv.stop(), 0)
    finally:
        srv.cleanup()
    eq(cli("rocksdb:" + b3, "kv", "get", "--raw", "pk"), (0, b"pv"))
    # routes by environment: ORBIT_ROUTES (on a fresh catalog: pa's already
    # places orbit/default on a, and a stored placement wins over routes)
    a2, c = os.path.join(tmp, "pa2"), os.path.join(tmp, "pc")
    srv = Placed(tmp, ["--provider", "a=rocksdb:" + a2, "--provider", "c=rocksdb:" + c],
                 env={"ORBIT_ROUTES": "orbit=c"}).start()
    try:
        r = srv.client()
        eq(r.set("rk", "c"), True)
        r.close()
        eq(srv.stop(), 0)
    finally:
        srv.cleanup()
    eq(cli("rocksdb:" + c, "kv", "get", "--raw", "rk"), (0, b"c"))


@case
def test_bad_configs(tmp):
    x = "rocksdb:" + os.path.join(tmp, "bx")
    y = "rocksdb:" + os.path.join(tmp, "by")
    cases = [
        (["--provider", "a=" + x, "--route", "t=nosuch"], None, None,
         "route t -> nosuch: no provider is named nosuch"),
        (["--provider", "a=" + x, "--provider", "a=" + y], None, None,
         "provider a given twice"),
        ([], None, "provider a %s\nprovider a %s\n" % (x, y),
         "bad.conf:2: provider a given twice (first at "),
        ([], None, "provider a %s\nroute t a\nroute t a\n" % x, "route t given twice"),
        (["--provider", "a=nosuch:whatever"], None, None, "cannot open provider a"),
        (["--provider", "noequals"], None, None, "expected NAME=URI"),
        (["--provider", "a=" + x, "--default-provider", "zz"], None, None,
         "default-provider zz: no provider is named zz"),
        (["--provider", "a=" + x, "--models-actor", "nosep"], None, None, "expected TYPE/ID"),
        (["--provider", "a=" + x, "--models-actor", "orbit/other"], None, None,
         "reserved"),
        (["--provider", "a=" + x, "--placement", "by_data_pattern"], None, None,
         "not available in orbitd"),
        (["--provider", "a=" + x, "--placement", "default", "--route", "t=a"], None, None,
         "placement default ignores routes"),
        (["--provider", "a=" + x, "--catalog", "maybe"], None, None,
         "catalog: expected durable or volatile"),
        (["--provider", "a=" + x], {"ORBIT_ROUTES": "t=zz"}, None,
         "ORBIT_ROUTES: route t -> zz"),
        ([], {"ORBIT_PROVIDERS": "a=%s;a=%s" % (x, y)}, None,
         "ORBIT_PROVIDERS: provider a given twice"),
        ([], {"ORBIT_TIKV_ENDPOINTS": "tikv://127.0.0.1:1"}, None,
         "tikv-endpoints: expected HOST:PORT"),
        (["--tikv-endpoints", "127.0.0.1:99999"], None, None, "cannot open provider tikv"),
    ]
    for args, env, conf, want in cases:
        rc, err = run_bad(args, env=env, config=conf, tmp=tmp)
        assert rc == 2, (args, env, conf, rc, err)
        assert want in err, (args, want, err)
    # the bad URI names the scheme
    rc, err = run_bad(["--provider", "a=nosuch:whatever"])
    assert "nosuch" in err, err


@case
def test_store_alone(tmp):
    d = os.path.join(tmp, "alone")
    srv = Placed(tmp, ["--store", "rocksdb:" + d]).start()
    try:
        r = srv.client()
        eq(r.set("ak", "av"), True)
        eq(r.execute_command("JSON.SET", "adoc", "$", '{"mark":"PLACEMARK5"}'), b"OK")
        eq(r.info("placement")["orbit_providers"], 1)
        st, j = srv.http("GET", "/v1/providers")
        eq(len(j["providers"]), 1)
        eq(j["providers"][0]["provider"], "default")
        eq(j["placement"]["default"], "default")
        r.close()
        eq(srv.stop(), 0)
    finally:
        srv.cleanup()
    eq(cli("rocksdb:" + d, "kv", "get", "--raw", "ak"), (0, b"av"))
    assert holds(d, b"PLACEMARK5")
    # memory: alone needs no `catalog volatile`: the catalog shares its fate
    srv = Placed(tmp, ["--store", "memory:"]).start()
    try:
        eq(srv.client().set("m", "1"), True)
    finally:
        srv.cleanup()


def main():
    global OPTS
    ap = argparse.ArgumentParser()
    ap.add_argument("orbitd")
    ap.add_argument("--orbit-cli", required=True)
    ap.add_argument("--only")
    OPTS = ap.parse_args()
    failed = 0
    only = set(OPTS.only.split(",")) if OPTS.only else None
    for fn in CASES:
        if only and fn.__name__ not in only:
            continue
        tmp = tempfile.mkdtemp(prefix="orbitd-place-")
        try:
            fn(tmp)
            print("ok   %s" % fn.__name__, flush=True)
        except Exception:
            failed += 1
            print("FAIL %s" % fn.__name__, flush=True)
            traceback.print_exc()
            for dp, _, files in os.walk(tmp):
                for f in files:
                    if f == "orbitd.log":
                        with open(os.path.join(dp, f), "rb") as lf:
                            print("--- %s ---\n%s" % (dp, lf.read().decode("utf-8", "replace")[-3000:]))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d of %d cases failed" % (failed, len(CASES)) if failed else "all cases passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
