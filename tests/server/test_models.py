#!/usr/bin/python3
"""Black-box tests of orbitd's model command families (JSON.*, TS.*,
VECTOR.*, GRAPH.*, TABLE.*) with python3-redis, and of MULTI/EXEC as one
transaction across a string command and model commands.

Usage: test_models.py ORBITD --store URI [--only NAME,...]
URI may hold {dir} (a fresh directory) and {uniq} (a fresh namespace, for
etcd). One server for all cases; each case uses its own object names
(FLUSHDB does not clear model objects).
"""
import argparse
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import redis  # noqa: E402

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def eq(a, b):
    assert a == b, "%r != %r" % (a, b)


def raises(fn, text):
    try:
        fn()
    except redis.RedisError as e:
        assert text in str(e), "expected %r in %r" % (text, str(e))
        return str(e)
    raise AssertionError("expected an error containing %r" % text)


def arity(r, *args):
    raises(lambda: r.execute_command(*args),
           "wrong number of arguments for '%s' command" % args[0].lower())


# ---- JSON ------------------------------------------------------------------


@case
def json_commands(r):
    x = r.execute_command
    eq(x("JSON.SET", "j1", "$", '{"a":1,"b":[1,2],"c":{"x":"y"},"s":"t"}'), "OK")
    eq(x("JSON.GET", "j1"), '{"a":1,"b":[1,2],"c":{"x":"y"},"s":"t"}')
    eq(x("JSON.GET", "j1", "$.a"), "[1]")
    eq(x("JSON.GET", "j1", ".a"), "1")
    eq(x("JSON.GET", "j1", "$.a", "$.b"), '{"$.a":[1],"$.b":[[1,2]]}')
    eq(x("JSON.GET", "j1", ".a", ".s"), '{".a":1,".s":"t"}')
    eq(x("JSON.GET", "j1", "$.nope"), "[]")
    raises(lambda: x("JSON.GET", "j1", ".nope"), "does not exist")
    eq(x("JSON.GET", "missing"), None)
    # NX / XX
    eq(x("JSON.SET", "j1", "$", "1", "NX"), None)
    eq(x("JSON.SET", "jn", "$", "1", "XX"), None)
    eq(x("JSON.SET", "j1", "$.a", "5", "XX"), "OK")
    eq(x("JSON.SET", "j1", "$.new", '"v"', "NX"), "OK")
    eq(x("JSON.GET", "j1", "$.new"), '["v"]')
    raises(lambda: x("JSON.SET", "j1", "$", "1", "ZZ"), "syntax error")
    raises(lambda: x("JSON.SET", "nodoc", "$.a", "1"), "new objects must be created at the root")
    raises(lambda: x("JSON.SET", "j1", "$", "{bad"), "invalid JSON")
    raises(lambda: x("JSON.SET", "j1", "$.a.b.c", "1"), "does not exist")
    # TYPE
    eq(x("JSON.TYPE", "j1"), "object")
    eq(x("JSON.TYPE", "j1", "$.a"), ["integer"])
    eq(x("JSON.TYPE", "j1", ".b"), "array")
    eq(x("JSON.TYPE", "missing"), None)
    # NUMINCRBY
    eq(x("JSON.NUMINCRBY", "j1", ".a", "2"), "7")
    eq(x("JSON.NUMINCRBY", "j1", "$.a", "0.5"), "[7.5]")
    eq(x("JSON.NUMINCRBY", "j1", "$.s", "1"), "[null]")
    raises(lambda: x("JSON.NUMINCRBY", "j1", ".s", "1"), "not a number")
    raises(lambda: x("JSON.NUMINCRBY", "j1", "$.a", "abc"), "invalid JSON increment")
    raises(lambda: x("JSON.NUMINCRBY", "missing", "$.a", "1"), "doesn't exist")
    # ARRAPPEND
    eq(x("JSON.ARRAPPEND", "j1", ".b", "3", '"four"'), 4)
    eq(x("JSON.ARRAPPEND", "j1", "$.b", "5"), [5])
    eq(x("JSON.ARRAPPEND", "j1", "$.s", "5"), [None])
    raises(lambda: x("JSON.ARRAPPEND", "j1", ".s", "5"), "not an array")
    raises(lambda: x("JSON.ARRAPPEND", "j1", "$.b", "{x"), "invalid JSON")
    eq(x("JSON.GET", "j1", "$.b"), '[[1,2,3,"four",5]]')
    # OBJKEYS
    eq(x("JSON.OBJKEYS", "j1"), ["a", "b", "c", "s", "new"])
    eq(x("JSON.OBJKEYS", "j1", "$.c"), [["x"]])
    eq(x("JSON.OBJKEYS", "j1", "$.a"), [None])
    eq(x("JSON.OBJKEYS", "missing"), None)
    # MGET
    x("JSON.SET", "j2", "$", '{"a":"two"}')
    eq(x("JSON.MGET", "j1", "j2", "missing", "$.a"), ["[7.5]", '["two"]', None])
    eq(x("JSON.MGET", "j1", "j2", ".a"), ["7.5", '"two"'])
    # DEL
    eq(x("JSON.DEL", "j1", "$.c"), 1)
    eq(x("JSON.DEL", "j1", "$.c"), 0)
    eq(x("JSON.FORGET", "j1", "$.new"), 1)
    eq(x("JSON.DEL", "j2"), 1)
    eq(x("JSON.GET", "j2"), None)
    eq(x("JSON.DEL", "missing"), 0)
    # WRONGTYPE against a Redis string
    r.set("str1", "v")
    raises(lambda: x("JSON.SET", "str1", "$", "1"), "WRONGTYPE")
    # arity
    arity(r, "JSON.SET", "k", "$")
    arity(r, "JSON.GET")
    arity(r, "JSON.MGET", "k")
    arity(r, "JSON.NUMINCRBY", "k", "$")
    arity(r, "JSON.ARRAPPEND", "k", "$")
    arity(r, "JSON.DEL", "k", "$", "x")


# ---- time series ---------------------------------------------------------


@case
def ts_commands(r):
    x = r.execute_command
    eq(x("TS.CREATE", "t1", "RETENTION", "100000", "LABELS", "room", "kitchen", "kind", "temp"), "OK")
    raises(lambda: x("TS.CREATE", "t1"), "TSDB: key already exists")
    raises(lambda: x("TS.CREATE", "t9", "RETENTION", "-1"), "invalid RETENTION")
    raises(lambda: x("TS.CREATE", "t9", "DUPLICATE_POLICY", "LAST"), "not supported")
    raises(lambda: x("TS.CREATE", "t9", "LABELS", "a"), "LABELS")
    eq(x("TS.ADD", "t1", "1000", "1.5"), 1000)
    eq(x("TS.ADD", "t1", "2000", "2.5"), 2000)
    raises(lambda: x("TS.ADD", "t1", "2000", "9"), "DUPLICATE_POLICY")
    eq(x("TS.ADD", "t1", "2000", "3.5", "ON_DUPLICATE", "LAST"), 2000)
    raises(lambda: x("TS.ADD", "t1", "abc", "1"), "TSDB: invalid timestamp")
    raises(lambda: x("TS.ADD", "t1", "-5", "1"), "TSDB: invalid timestamp")
    raises(lambda: x("TS.ADD", "t1", "3000", "x"), "TSDB: invalid value")
    now = x("TS.ADD", "auto1", "*", "7", "LABELS", "a", "b")  # auto-create
    assert abs(now - time.time() * 1000) < 60000
    eq(x("TS.MADD", "t1", "61000", "10", "auto1", "5", "1", "t1", "62000", "0.1"), [61000, 5, 62000])
    res = x("TS.MADD", "t1", "61000", "10", "t1", "63000", "4")
    assert isinstance(res[0], redis.ResponseError) and res[1] == 63000, res
    raises(lambda: x("TS.MADD", "t1", "1", "x"), "TSDB: invalid value")
    arity(r, "TS.MADD", "t1", "1")
    eq(x("TS.GET", "t1"), [63000, "4"])
    eq(x("TS.GET", "auto1"), [now, "7"])
    raises(lambda: x("TS.GET", "nots"), "TSDB: the key does not exist")
    x("TS.CREATE", "empty1")
    eq(x("TS.GET", "empty1"), [])
    eq(x("TS.RANGE", "t1", "-", "+"),
       [[1000, "1.5"], [2000, "3.5"], [61000, "10"], [62000, "0.1"], [63000, "4"]])
    eq(x("TS.RANGE", "t1", "1500", "61000"), [[2000, "3.5"], [61000, "10"]])
    eq(x("TS.RANGE", "t1", "-", "+", "COUNT", "2"), [[1000, "1.5"], [2000, "3.5"]])
    eq(x("TS.REVRANGE", "t1", "-", "+", "COUNT", "2"), [[63000, "4"], [62000, "0.1"]])
    eq(x("TS.RANGE", "t1", "-", "+", "AGGREGATION", "avg", "60000"), [[0, "2.5"], [60000, "4.7"]])
    eq(x("TS.RANGE", "t1", "-", "+", "AGGREGATION", "sum", "60000"), [[0, "5"], [60000, "14.1"]])
    eq(x("TS.RANGE", "t1", "-", "+", "AGGREGATION", "count", "60000"), [[0, "2"], [60000, "3"]])
    eq(x("TS.RANGE", "t1", "-", "+", "AGGREGATION", "max", "60000"), [[0, "3.5"], [60000, "10"]])
    eq(x("TS.RANGE", "t1", "-", "+", "AGGREGATION", "min", "60000"), [[0, "1.5"], [60000, "0.1"]])
    eq(x("TS.RANGE", "t1", "-", "+", "AGGREGATION", "first", "60000"), [[0, "1.5"], [60000, "10"]])
    eq(x("TS.RANGE", "t1", "-", "+", "AGGREGATION", "last", "60000"), [[0, "3.5"], [60000, "4"]])
    eq(x("TS.REVRANGE", "t1", "-", "+", "AGGREGATION", "count", "60000"), [[60000, "3"], [0, "2"]])
    eq(x("TS.RANGE", "t1", "-", "+", "ALIGN", "500", "AGGREGATION", "count", "1000"),
       [[500, "1"], [1500, "1"], [60500, "1"], [61500, "1"], [62500, "1"]])
    eq(x("TS.RANGE", "t1", "1000", "+", "ALIGN", "start", "AGGREGATION", "count", "61000"),
       [[1000, "3"], [62000, "2"]])
    raises(lambda: x("TS.RANGE", "t1", "-", "+", "AGGREGATION", "twa", "10"), "not supported")
    raises(lambda: x("TS.RANGE", "t1", "-", "+", "AGGREGATION", "avg", "0"), "bucketDuration")
    raises(lambda: x("TS.RANGE", "t1", "x", "+"), "TSDB: invalid fromTimestamp")
    raises(lambda: x("TS.RANGE", "t1", "-", "+", "COUNT", "0"), "COUNT")
    raises(lambda: x("TS.RANGE", "t1", "-", "+", "ALIGN", "0"), "ALIGN requires AGGREGATION")
    raises(lambda: x("TS.RANGE", "t1", "-", "+", "FILTER_BY_TS", "1"), "not supported")
    raises(lambda: x("TS.RANGE", "nots", "-", "+"), "TSDB: the key does not exist")
    info = x("TS.INFO", "t1")
    d = dict(zip(info[::2], info[1::2]))
    eq(d["totalSamples"], 5)
    eq(d["firstTimestamp"], 1000)
    eq(d["lastTimestamp"], 63000)
    eq(d["retentionTime"], 100000)
    eq(sorted(map(tuple, d["labels"])), [("kind", "temp"), ("room", "kitchen")])
    eq(d["rules"], [])
    raises(lambda: x("TS.INFO", "nots"), "TSDB: the key does not exist")
    eq(x("TS.DEL", "t1", "0", "2000"), 2)
    eq(x("TS.DEL", "t1", "0", "2000"), 0)
    eq(x("TS.RANGE", "t1", "-", "+"), [[61000, "10"], [62000, "0.1"], [63000, "4"]])
    raises(lambda: x("TS.DEL", "nots", "0", "1"), "TSDB: the key does not exist")
    arity(r, "TS.DEL", "t1", "0")
    arity(r, "TS.ADD", "t1", "1")
    arity(r, "TS.GET")
    arity(r, "TS.RANGE", "t1", "-")


# ---- vectors ---------------------------------------------------------------


@case
def vector_commands(r):
    x = r.execute_command
    eq(x("VECTOR.CREATE", "v1", "DIM", "3", "DISTANCE_METRIC", "L2"), "OK")
    raises(lambda: x("VECTOR.CREATE", "v1", "DIM", "3"), "already exists")
    raises(lambda: x("VECTOR.CREATE", "v9", "DIM", "0"), "DIM")
    raises(lambda: x("VECTOR.CREATE", "v9", "DIM", "x"), "DIM")
    raises(lambda: x("VECTOR.CREATE", "v9", "DIM", "3", "DISTANCE_METRIC", "HAMMING"), "DISTANCE_METRIC")
    raises(lambda: x("VECTOR.CREATE", "v9", "DISTANCE_METRIC", "L2"), "needs DIM")
    eq(x("VECTOR.ADD", "v1", "a", "0,0,0", "genre", "rock"), "OK")
    eq(x("VECTOR.ADD", "v1", "b", "1,0,0", "genre", "jazz", "year", "1999"), "OK")
    eq(x("VECTOR.ADD", "v1", "c", "3,0,0", "genre", "rock"), "OK")
    eq(x("VECTOR.ADD", "v1", "d", "0.5, 0.25, 0"), "OK")
    raises(lambda: x("VECTOR.ADD", "v1", "e", "1,2"), "dimension")
    raises(lambda: x("VECTOR.ADD", "v1", "e", "1,x,3"), "invalid vector component at position 1")
    raises(lambda: x("VECTOR.ADD", "v1", "e", "1,2,3", "f"), "wrong number of arguments")
    raises(lambda: x("VECTOR.ADD", "nov", "e", "1,2,3"), "no such vector index")
    eq(x("VECTOR.GET", "v1", "b"), ["vector", "1,0,0", "genre", "jazz", "year", "1999"])
    eq(x("VECTOR.GET", "v1", "d"), ["vector", "0.5,0.25,0"])
    eq(x("VECTOR.GET", "v1", "zz"), None)
    res = x("VECTOR.SEARCH", "v1", "0.9,0,0", "K", "2")
    eq(res[0], 2)
    eq(res[1], "b")
    eq(res[2][0], "__vector_score")
    assert abs(float(res[2][1]) - 0.01) < 1e-6, res
    eq(res[2][2:], ["genre", "jazz", "year", "1999"])
    eq(res[3], "d")
    res = x("VECTOR.SEARCH", "v1", "2.9,0,0", "FILTER", "genre", "rock")
    eq(res[0], 2)
    eq([res[1], res[3]], ["c", "a"])
    eq(x("VECTOR.SEARCH", "v1", "1,1,1", "FILTER", "genre", "pop"), [0])
    raises(lambda: x("VECTOR.SEARCH", "v1", "1,1"), "dimension")
    raises(lambda: x("VECTOR.SEARCH", "v1", "1,1,1", "K", "0"), "K must be")
    raises(lambda: x("VECTOR.SEARCH", "v1", "1,1,1", "BOGUS"), "syntax error")
    info = x("VECTOR.INFO", "v1")
    eq(dict(zip(info[::2], info[1::2])), {"name": "v1", "dim": 3, "distance_metric": "L2", "num_vectors": 4})
    eq(x("VECTOR.DEL", "v1", "a"), 1)
    eq(x("VECTOR.DEL", "v1", "a"), 0)
    x("VECTOR.CREATE", "vc", "DIM", "2", "DISTANCE_METRIC", "COSINE")
    raises(lambda: x("VECTOR.ADD", "vc", "z", "0,0"), "zero vector")  # zero vector under cosine
    x("VECTOR.ADD", "vc", "p", "1,0")
    x("VECTOR.ADD", "vc", "q", "0,1")
    eq(x("VECTOR.SEARCH", "vc", "1,0.1", "K", "1")[1], "p")
    x("VECTOR.CREATE", "vi", "DIM", "2", "DISTANCE_METRIC", "IP")
    x("VECTOR.ADD", "vi", "p", "1,0")
    x("VECTOR.ADD", "vi", "q", "5,0")
    res = x("VECTOR.SEARCH", "vi", "1,0")
    eq([res[0], res[1], res[3]], [2, "q", "p"])
    eq(x("VECTOR.DROP", "v1"), "OK")
    raises(lambda: x("VECTOR.INFO", "v1"), "no such vector index")
    raises(lambda: x("VECTOR.DROP", "v1"), "no such vector index")
    # created again with another dimension: the cached handle follows
    eq(x("VECTOR.CREATE", "v1", "DIM", "2"), "OK")
    eq(x("VECTOR.ADD", "v1", "n", "1,2"), "OK")
    eq(x("VECTOR.SEARCH", "v1", "1,2")[:2], [1, "n"])
    arity(r, "VECTOR.ADD", "v1", "x")
    arity(r, "VECTOR.GET", "v1")
    arity(r, "VECTOR.INFO")
    arity(r, "VECTOR.CREATE", "v1", "DIM")


# ---- graph -----------------------------------------------------------------


@case
def graph_commands(r):
    x = r.execute_command
    for n in "abcde":
        eq(x("GRAPH.ADDNODE", "g1", n, "LABELS", "person,user", "PROPS", '{"name":"%s"}' % n), 1)
    eq(x("GRAPH.ADDNODE", "g1", "a", "PROPS", '{"name":"A"}'), 0)  # replaced
    eq(x("GRAPH.ADDEDGE", "g1", "a", "knows", "b", "WEIGHT", "5"), 1)
    eq(x("GRAPH.ADDEDGE", "g1", "b", "knows", "c", "WEIGHT", "1"), 1)
    eq(x("GRAPH.ADDEDGE", "g1", "a", "likes", "c", "WEIGHT", "10"), 1)
    eq(x("GRAPH.ADDEDGE", "g1", "c", "knows", "d", "PROPS", '{"since":2020}'), 1)
    eq(x("GRAPH.ADDEDGE", "g1", "c", "knows", "d", "WEIGHT", "2"), 0)
    raises(lambda: x("GRAPH.ADDEDGE", "g1", "a", "knows", "zz"), "node 'zz' does not exist")
    raises(lambda: x("GRAPH.ADDEDGE", "g1", "a", "knows", "b", "WEIGHT", "-1"), "WEIGHT")
    raises(lambda: x("GRAPH.ADDEDGE", "g1", "a", "knows", "b", "WEIGHT", "x"), "WEIGHT")
    raises(lambda: x("GRAPH.ADDNODE", "g1", "f", "PROPS", "[1]"), "JSON object")
    raises(lambda: x("GRAPH.ADDNODE", "g1", "f", "PROPS", "{bad"), "not valid JSON")
    raises(lambda: x("GRAPH.ADDNODE", "g1", "f", "LABELS", "a,,b"), "must not be empty")
    raises(lambda: x("GRAPH.ADDNODE", "g1", "f", "COLOR", "red"), "syntax error")
    eq(x("GRAPH.NEIGHBORS", "g1", "a"), ["b", "c"])
    eq(x("GRAPH.NEIGHBORS", "g1", "a", "REL", "knows"), ["b"])
    eq(x("GRAPH.NEIGHBORS", "g1", "a", "REL", "knows", "DEPTH", "3"), ["b", "c", "d"])
    eq(x("GRAPH.NEIGHBORS", "g1", "c", "IN"), ["a", "b"])
    eq(x("GRAPH.NEIGHBORS", "g1", "c", "BOTH"), ["a", "b", "d"])
    eq(x("GRAPH.NEIGHBORS", "g1", "e"), [])
    eq(x("GRAPH.NEIGHBORS", "nograph", "a"), [])
    raises(lambda: x("GRAPH.NEIGHBORS", "g1", "a", "DEPTH", "0"), "DEPTH")
    raises(lambda: x("GRAPH.NEIGHBORS", "g1", "a", "SIDEWAYS"), "syntax error")
    eq(x("GRAPH.PATH", "g1", "a", "d"), ["a", "c", "d"])
    eq(x("GRAPH.PATH", "g1", "a", "d", "REL", "knows"), ["a", "b", "c", "d"])
    eq(x("GRAPH.PATH", "g1", "a", "c", "WEIGHTED"), ["a", "b", "c"])
    eq(x("GRAPH.PATH", "g1", "d", "a"), [])
    eq(x("GRAPH.PATH", "g1", "d", "a", "BOTH"), ["d", "c", "a"])
    eq(x("GRAPH.PATH", "g1", "a", "e"), [])
    eq(x("GRAPH.PATH", "nograph", "a", "b"), [])
    eq(x("GRAPH.DELEDGE", "g1", "a", "likes", "c"), 1)
    eq(x("GRAPH.DELEDGE", "g1", "a", "likes", "c"), 0)
    eq(x("GRAPH.DELEDGE", "nograph", "a", "likes", "c"), 0)
    eq(x("GRAPH.PATH", "g1", "a", "d"), ["a", "b", "c", "d"])
    eq(x("GRAPH.DELNODE", "g1", "b"), 1)
    eq(x("GRAPH.DELNODE", "g1", "b"), 0)
    eq(x("GRAPH.NEIGHBORS", "g1", "a"), [])
    eq(x("GRAPH.NEIGHBORS", "g1", "c", "IN"), [])
    eq(x("GRAPH.PATH", "g1", "a", "d"), [])
    # nodes and an edge between them in one MULTI: endpoints exist at commit
    p = r.pipeline(transaction=True)
    p.execute_command("GRAPH.ADDEDGE", "g2", "m", "r", "n")
    p.execute_command("GRAPH.ADDNODE", "g2", "m")
    p.execute_command("GRAPH.ADDNODE", "g2", "n")
    eq(p.execute(), [1, 1, 1])
    eq(x("GRAPH.NEIGHBORS", "g2", "m"), ["n"])
    arity(r, "GRAPH.ADDNODE", "g1")
    arity(r, "GRAPH.ADDEDGE", "g1", "a", "r")
    arity(r, "GRAPH.DELEDGE", "g1", "a", "r")
    arity(r, "GRAPH.PATH", "g1", "a")


# ---- tables ----------------------------------------------------------------


@case
def table_commands(r):
    x = r.execute_command
    eq(x("TABLE.CREATE", "users", "id:int64", "name:text", "age:int64:null", "score:float64:null",
         "admin:bool:null", "PRIMARY", "KEY", "id"), "OK")
    raises(lambda: x("TABLE.CREATE", "users", "id:int64", "PRIMARY", "KEY", "id"), "already exists")
    raises(lambda: x("TABLE.CREATE", "t9", "id:wat", "PRIMARY", "KEY", "id"), "unknown type")
    raises(lambda: x("TABLE.CREATE", "t9", "id", "PRIMARY", "KEY", "id"), "name:type")
    raises(lambda: x("TABLE.CREATE", "t9", "id:int", "x:int", "y:int", "z:int"), "primary key")
    raises(lambda: x("TABLE.CREATE", "t9", "id:int", "PRIMARY", "KEY", "nope"), "is not a column")
    eq(x("TABLE.INSERT", "users", "id", "1", "name", "ann", "age", "30", "score", "1.5", "admin", "true"), "OK")
    eq(x("TABLE.INSERT", "users", "id", "2", "name", "bob", "age", "40"), "OK")
    eq(x("TABLE.INSERT", "users", "id", "3", "name", "cat", "age", "30"), "OK")
    raises(lambda: x("TABLE.INSERT", "users", "id", "1", "name", "dup"), "primary key (1) exists")
    raises(lambda: x("TABLE.INSERT", "users", "id", "x", "name", "q"), "is int64")
    raises(lambda: x("TABLE.INSERT", "users", "id", "9", "nope", "1"), "no column 'nope'")
    raises(lambda: x("TABLE.INSERT", "users", "id", "9"), "name")  # not-null column missing
    raises(lambda: x("TABLE.INSERT", "users", "id", "9", "name"), "wrong number of arguments")
    raises(lambda: x("TABLE.INSERT", "nosuch", "id", "1"), "no such table")
    eq(x("TABLE.GET", "users", "id", "1"),
       ["id", 1, "name", "ann", "age", 30, "score", "1.5", "admin", "true"])
    eq(x("TABLE.GET", "users", "id", "2"),
       ["id", 2, "name", "bob", "age", 40, "score", None, "admin", None])
    eq(x("TABLE.GET", "users", "id", "7"), None)
    raises(lambda: x("TABLE.GET", "users", "id", "x"), "is int64")
    eq(x("TABLE.INDEX", "users", "by_age", "age"), "OK")
    eq(x("TABLE.INDEX", "users", "by_name", "UNIQUE", "name"), "OK")
    raises(lambda: x("TABLE.INDEX", "users", "by_age", "age"), "index by_age exists")
    raises(lambda: x("TABLE.INDEX", "users", "by_x", "nope"), "no column 'nope'")
    ids = lambda rows: [row[1] for row in rows]  # noqa: E731
    eq(ids(x("TABLE.QUERY", "users", "by_age", "EQ", "30")), [1, 3])
    eq(ids(x("TABLE.QUERY", "users", "by_age", "EQ", "30", "LIMIT", "1")), [1])
    eq(ids(x("TABLE.QUERY", "users", "by_age", "RANGE", "31", "+")), [2])
    eq(ids(x("TABLE.QUERY", "users", "by_age", "RANGE", "-", "+", "REV")), [2, 3, 1])
    eq(ids(x("TABLE.QUERY", "users", "by_age", "RANGE", "30", "40")), [1, 3, 2])
    eq(ids(x("TABLE.QUERY", "users", "by_name", "EQ", "bob")), [2])
    eq(ids(x("TABLE.QUERY", "users", "by_name", "RANGE", "b", "z")), [2, 3])
    eq(x("TABLE.QUERY", "users", "by_name", "EQ", "zed"), [])
    raises(lambda: x("TABLE.INSERT", "users", "id", "5", "name", "bob"), "unique index by_name")
    raises(lambda: x("TABLE.QUERY", "users", "nope", "EQ", "1"), "no index nope")
    raises(lambda: x("TABLE.QUERY", "users", "by_age", "LIKE", "1"), "EQ value")
    raises(lambda: x("TABLE.QUERY", "users", "by_age", "RANGE", "1"), "RANGE needs lo and hi")
    raises(lambda: x("TABLE.QUERY", "users", "by_age", "EQ", "1", "LIMIT", "0"), "LIMIT")
    eq(x("TABLE.DELETE", "users", "id", "2"), 1)
    eq(x("TABLE.DELETE", "users", "id", "2"), 0)
    eq(x("TABLE.QUERY", "users", "by_name", "EQ", "bob"), [])
    # text primary key, two columns
    x("TABLE.CREATE", "kv2", "a:text", "b:int", "v:json:null", "PRIMARY", "KEY", "a", "b")
    x("TABLE.INSERT", "kv2", "a", "x", "b", "1", "v", '{"k":[1]}')
    eq(x("TABLE.GET", "kv2", "a", "x", "b", "1"), ["a", "x", "b", 1, "v", '{"k":[1]}'])
    raises(lambda: x("TABLE.INSERT", "kv2", "a", "y", "b", "1", "v", "{bad"), "not valid JSON")
    arity(r, "TABLE.GET", "users", "id")
    arity(r, "TABLE.QUERY", "users", "by_age", "EQ")
    arity(r, "TABLE.INDEX", "users", "x")


@case
def schema_commands_refused_in_multi(r):
    p = r.pipeline(transaction=True)
    p.execute_command("VECTOR.CREATE", "vm", "DIM", "2")
    p.execute_command("TABLE.CREATE", "tm", "id:int", "PRIMARY", "KEY", "id")
    p.set("after", "1")
    res = p.execute(raise_on_error=False)
    assert "not allowed inside MULTI" in str(res[0]), res
    assert "not allowed inside MULTI" in str(res[1]), res
    eq(r.get("after"), "1")


@case
def command_docs(r):
    for name in ["json.set", "ts.range", "vector.search", "graph.path", "table.query"]:
        info = r.execute_command("COMMAND", "INFO", name)
        assert info and name in info, (name, info)


# ---- transactions across models --------------------------------------------


@case
def multi_exec_across_models(r):
    x = r.execute_command
    x("TABLE.CREATE", "acct", "id:int", "bal:int", "PRIMARY", "KEY", "id")
    x("VECTOR.CREATE", "vx", "DIM", "2")
    p = r.pipeline(transaction=True)
    p.set("m1", "v1")
    p.execute_command("JSON.SET", "mj1", "$", '{"n":1}')
    p.execute_command("TS.ADD", "mts1", "5", "1")
    p.execute_command("VECTOR.ADD", "vx", "p1", "1,2")
    p.execute_command("GRAPH.ADDNODE", "mg1", "n1")
    p.execute_command("TABLE.INSERT", "acct", "id", "1", "bal", "10")
    p.execute_command("JSON.GET", "mj1", "$.n")  # reads its own writes
    p.execute_command("TS.GET", "mts1")
    eq(p.execute(), [True, "OK", 5, "OK", 1, "OK", "[1]", [5, "1"]])
    eq(r.get("m1"), "v1")
    eq(x("JSON.GET", "mj1"), '{"n":1}')
    eq(x("TS.GET", "mts1"), [5, "1"])
    eq(x("VECTOR.GET", "vx", "p1")[1], "1,2")
    eq(x("GRAPH.NEIGHBORS", "mg1", "n1"), [])
    eq(x("TABLE.GET", "acct", "id", "1"), ["id", 1, "bal", 10])

    # WATCH abort: nothing of the block is applied
    r2 = SHARED.client(decode_responses=True)
    r.execute_command("WATCH", "w1")
    r2.set("w1", "changed")
    r.execute_command("MULTI")
    r.execute_command("SET", "m2", "v2")
    r.execute_command("JSON.SET", "mj2", "$", "1")
    r.execute_command("TS.ADD", "mts2", "5", "1")
    r.execute_command("VECTOR.ADD", "vx", "p2", "1,2")
    r.execute_command("GRAPH.ADDNODE", "mg2", "n1")
    r.execute_command("TABLE.INSERT", "acct", "id", "2", "bal", "20")
    eq(r.execute_command("EXEC"), None)
    eq(r.get("m2"), None)
    eq(x("JSON.GET", "mj2"), None)
    raises(lambda: x("TS.GET", "mts2"), "the key does not exist")
    eq(x("VECTOR.GET", "vx", "p2"), None)
    eq(x("GRAPH.NEIGHBORS", "mg2", "n1"), [])
    eq(x("GRAPH.DELNODE", "mg2", "n1"), 0)
    eq(x("TABLE.GET", "acct", "id", "2"), None)
    r2.close()

    # a commit-time constraint failure rolls back the string write too
    p = r.pipeline(transaction=True)
    p.set("m3", "v3")
    p.execute_command("JSON.SET", "mj3", "$", "3")
    p.execute_command("GRAPH.ADDEDGE", "mg3", "x", "r", "y")  # endpoints never added
    raises(p.execute, "does not exist")
    eq(r.get("m3"), None)
    eq(x("JSON.GET", "mj3"), None)

    # a series and a graph created in a block that fails at commit do not
    # exist afterwards, and are created afresh by the next write
    p = r.pipeline(transaction=True)
    p.execute_command("TS.CREATE", "mts6", "LABELS", "a", "b")
    p.execute_command("TS.ADD", "mts6", "7", "1")
    p.execute_command("TS.GET", "mts6")
    p.execute_command("GRAPH.ADDNODE", "mg6", "x")
    p.execute_command("GRAPH.ADDEDGE", "mg6", "x", "r", "nowhere")
    raises(p.execute, "node 'nowhere' does not exist")
    raises(lambda: x("TS.GET", "mts6"), "the key does not exist")
    eq(x("GRAPH.NEIGHBORS", "mg6", "x"), [])
    eq(x("TS.ADD", "mts6", "8", "2"), 8)
    eq(x("TS.RANGE", "mts6", "-", "+"), [[8, "2"]])
    eq(x("GRAPH.ADDNODE", "mg6", "x"), 1)

    # a model error inside EXEC is that command's reply; the rest commits
    p = r.pipeline(transaction=True)
    p.set("m4", "v4")
    p.execute_command("JSON.SET", "mj4", "$", "{bad")
    p.execute_command("TABLE.INSERT", "acct", "id", "1", "bal", "5")  # duplicate key
    p.execute_command("JSON.SET", "mj4", "$", "4")
    res = p.execute(raise_on_error=False)
    eq(res[0], True)
    assert isinstance(res[1], redis.ResponseError) and isinstance(res[2], redis.ResponseError), res
    eq(res[3], "OK")
    eq(r.get("m4"), "v4")
    eq(x("JSON.GET", "mj4"), "4")
    eq(x("TABLE.GET", "acct", "id", "1"), ["id", 1, "bal", 10])

    # a JSON key and a string key in one block, watched and not changed
    r.execute_command("WATCH", "mj5")
    r.execute_command("MULTI")
    r.execute_command("SET", "m5", "v5")
    r.execute_command("JSON.SET", "mj5", "$", "5")
    eq(r.execute_command("EXEC"), ["OK", "OK"])
    eq(x("JSON.GET", "mj5"), "5")


@case
def concurrent_first_use(r):
    """Several clients write to fresh model objects at once: every write
    lands (first-use reruns and conflicts are retried by the server)."""
    import threading
    errs = []

    def worker(k):
        c = SHARED.client(decode_responses=True)
        try:
            for i in range(10):
                c.execute_command("JSON.SET", "cj%d_%d" % (k, i), "$", str(i))
                c.execute_command("TS.ADD", "cts", str(k * 100 + i), str(i))
                c.execute_command("GRAPH.ADDNODE", "cg", "n%d_%d" % (k, i))
        except Exception as e:  # noqa: BLE001
            errs.append(e)
        finally:
            c.close()

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    eq(errs, [])
    eq(len(r.execute_command("TS.RANGE", "cts", "-", "+")), 40)
    eq(r.execute_command("JSON.GET", "cj3_9"), "9")


OPTS = None
SHARED = None


def main():
    global OPTS, SHARED
    ap = argparse.ArgumentParser()
    ap.add_argument("orbitd")
    ap.add_argument("--store", default="rocksdb:{dir}")
    ap.add_argument("--only")
    OPTS = ap.parse_args()
    SHARED = harness.Server(OPTS.orbitd, OPTS.store).start()
    orig = SHARED.client
    SHARED.client = lambda **kw: orig(**dict({"decode_responses": True}, **kw))
    failed = 0
    try:
        only = set(OPTS.only.split(",")) if OPTS.only else None
        for fn in CASES:
            if only and fn.__name__ not in only:
                continue
            r = SHARED.client()
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
