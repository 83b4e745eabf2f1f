#!/usr/bin/python3
"""Self-test of the PD/TiKV test cluster (cluster.py), over gRPC.

It starts the cluster as a subprocess, then drives it with the Python
messages generated from proto/*.proto: the PD calls and TSO stream, every
routing error, Percolator 2PC, write conflicts, lock resolution (2PC and
async commit), 1PC, pessimistic locks, snapshot reads and scans, RawKV, and
each fault of the control port. It is a test of the fixture, so that the C
provider tests can trust it; it does not use the C client.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cluster as fixture  # noqa: E402

import grpc  # noqa: E402

PB = fixture.load_protos()
kv, pd, meta = PB.kvrpcpb, PB.pdpb, PB.metapb
enc = fixture.mc_encode

TIKV_TYPES = {m: (getattr(kv, t[0]), getattr(kv, t[1])) for m, t in fixture.TIKV_METHODS.items()}
PD_TYPES = {
    "GetMembers": (pd.GetMembersRequest, pd.GetMembersResponse),
    "GetStore": (pd.GetStoreRequest, pd.GetStoreResponse),
    "GetAllStores": (pd.GetAllStoresRequest, pd.GetAllStoresResponse),
    "GetRegion": (pd.GetRegionRequest, pd.GetRegionResponse),
    "GetPrevRegion": (pd.GetRegionRequest, pd.GetRegionResponse),
    "GetRegionByID": (pd.GetRegionByIDRequest, pd.GetRegionResponse),
    "ScanRegions": (pd.ScanRegionsRequest, pd.ScanRegionsResponse),
    "GetGCSafePoint": (pd.GetGCSafePointRequest, pd.GetGCSafePointResponse),
    "UpdateGCSafePoint": (pd.UpdateGCSafePointRequest, pd.UpdateGCSafePointResponse),
}


class Harness:
    def __init__(self, *extra):
        self.dir = tempfile.mkdtemp(prefix="orbit-tikv-selftest-")
        ready = os.path.join(self.dir, "ready")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "cluster.py"),
                                      "--ready-file", ready, "--gen-dir", os.path.join(self.dir, "gen")]
                                     + list(extra), stdout=subprocess.DEVNULL)
        while not os.path.exists(ready):
            if self.proc.poll() is not None:
                raise RuntimeError("cluster.py exited with %d" % self.proc.returncode)
            if time.monotonic() - t0 > 20:
                raise RuntimeError("cluster.py did not start")
            time.sleep(0.02)
        self.startup_s = time.monotonic() - t0
        self.ca = None
        self.stores = {}
        with open(ready) as f:
            lines = f.read().splitlines()
        for line in lines:
            f = line.split()
            if f[0] == "pd":
                self.pd_addr = f[1]
            elif f[0] == "control":
                self.ctl_port = int(f[1])
            elif f[0] == "cluster_id":
                self.cluster_id = int(f[1])
            elif f[0] == "store":
                self.stores[int(f[1])] = f[2]
            elif f[0] == "ca":
                with open(f[1], "rb") as ca:
                    self.ca = ca.read()
        self.channels = {}

    def forget(self, sid):
        """Drop the cached channel to store sid (after a restart, a fresh
        channel connects at once instead of waiting out gRPC's backoff)."""
        ch = self.channels.pop(self.stores[sid], None)
        if ch is not None:
            ch.close()

    def forget_addr(self, addr):
        ch = self.channels.pop(addr, None)
        if ch is not None:
            ch.close()

    def close(self):
        for ch in self.channels.values():
            ch.close()
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, True)

    def chan(self, addr):
        if addr not in self.channels:
            self.channels[addr] = (grpc.insecure_channel(addr) if self.ca is None else
                                   grpc.secure_channel(addr, grpc.ssl_channel_credentials(self.ca)))
        return self.channels[addr]

    def ctl(self, cmd, **args):
        req = urllib.request.Request("http://127.0.0.1:%d/%s" % (self.ctl_port, cmd),
                                     data=json.dumps(args).encode(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())

    def pd(self, method, **fields):
        rq, rs = PD_TYPES[method]
        req = rq(**fields)
        if method != "GetMembers":
            req.header.cluster_id = self.cluster_id
        call = self.chan(self.pd_addr).unary_unary("/pdpb.PD/" + method, rq.SerializeToString, rs.FromString)
        return call(req, timeout=5)

    def tso(self, count=1):
        call = self.chan(self.pd_addr).stream_stream("/pdpb.PD/Tso", pd.TsoRequest.SerializeToString,
                                                     pd.TsoResponse.FromString)
        resp = next(call(iter([pd.TsoRequest(header=pd.RequestHeader(cluster_id=self.cluster_id),
                                             count=count)]), timeout=5))
        return (resp.timestamp.physical << 18) + resp.timestamp.logical

    def region(self, key, raw=False):
        r = self.pd("GetRegion", region_key=key if raw else enc(key))
        return r.region, r.leader

    def send(self, method, at=b"", raw=False, store=None, ctx=None, timeout=5, **fields):
        """Send method to the leader of the region holding key `at` (or to store),
        with a correct Context unless ctx is given."""
        rq, rs = TIKV_TYPES[method]
        req = rq(**fields)
        region, leader = self.region(at, raw)
        if ctx is None:
            req.context.region_id = region.id
            req.context.region_epoch.CopyFrom(region.region_epoch)
            req.context.peer.CopyFrom(leader)
        else:
            req.context.CopyFrom(ctx)
        sid = store if store is not None else (ctx.peer.store_id if ctx is not None else leader.store_id)
        call = self.chan(self.stores[sid]).unary_unary("/tikvpb.Tikv/" + method, rq.SerializeToString,
                                                       rs.FromString)
        return call(req, timeout=timeout)

    def counters(self):
        return self.ctl("counters")

    def locked(self, *keys):
        """The keys among `keys` that hold a lock."""
        held = {bytes.fromhex(x["key_hex"]) for x in self.ctl("locks")["locks"]}
        return [k for k in keys if k in held]

    # -- transactions built from raw commands --

    def put_2pc(self, pairs, ts=None, primary=None):
        start = self.tso()
        primary = primary or pairs[0][0]
        for k, v in pairs:
            r = self.send("KvPrewrite", k, mutations=[kv.Mutation(op=kv.Put, key=k, value=v)],
                          primary_lock=primary, start_version=start, lock_ttl=3000, min_commit_ts=start + 1)
            assert not r.HasField("region_error") and not r.errors, r
        commit = self.tso()
        for k, _ in [p for p in pairs if p[0] == primary] + [p for p in pairs if p[0] != primary]:
            r = self.send("KvCommit", k, keys=[k], start_version=start, commit_version=commit)
            assert not r.HasField("region_error") and not r.HasField("error"), r
        return start, commit

    def get(self, k, ts=None, **fields):
        return self.send("KvGet", k, key=k, version=ts or self.tso(), **fields)


H = None


def setUpModule():
    global H
    H = Harness("--split", "b,m")


def tearDownModule():
    H.close()


class PdTest(unittest.TestCase):
    def test_startup_is_fast(self):
        self.assertLess(H.startup_s, 5.0)

    def test_members(self):
        r = H.pd("GetMembers")
        self.assertEqual(r.header.cluster_id, H.cluster_id)
        self.assertEqual(r.leader.client_urls[0], "http://" + H.pd_addr)

    def test_cluster_id_checked(self):
        call = H.chan(H.pd_addr).unary_unary("/pdpb.PD/GetRegion", pd.GetRegionRequest.SerializeToString,
                                             pd.GetRegionResponse.FromString)
        with self.assertRaises(grpc.RpcError) as e:
            call(pd.GetRegionRequest(region_key=b""), timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)

    def test_tso_monotonic_and_counted(self):
        before = H.counters()["tso_requests"]
        a = H.tso()
        b = H.tso(10)
        c = H.tso()
        self.assertLess(a, b - 9)
        self.assertLess(b, c)
        self.assertEqual(H.counters()["tso_requests"], before + 3)
        # several requests on one stream come back in order
        call = H.chan(H.pd_addr).stream_stream("/pdpb.PD/Tso", pd.TsoRequest.SerializeToString,
                                               pd.TsoResponse.FromString)
        hdr = pd.RequestHeader(cluster_id=H.cluster_id)
        out = [(r.timestamp.physical << 18) + r.timestamp.logical
               for r in call(iter([pd.TsoRequest(header=hdr, count=3) for _ in range(5)]), timeout=5)]
        self.assertEqual(out, sorted(out))
        self.assertEqual(len(set(out)), 5)

    def test_regions_and_stores(self):
        r = H.pd("ScanRegions", start_key=b"", limit=0)
        self.assertEqual(len(r.regions), 3)
        self.assertEqual([x.region.start_key for x in r.regions], [b"", enc(b"b"), enc(b"m")])
        self.assertEqual(len({x.leader.store_id for x in r.regions}), 3)  # leaders spread
        self.assertEqual(len(r.region_metas), 3)
        mid = r.regions[1].region
        self.assertEqual(H.pd("GetRegionByID", region_id=mid.id).region.id, mid.id)
        self.assertEqual(H.pd("GetPrevRegion", region_key=enc(b"c")).region.id, r.regions[0].region.id)
        self.assertFalse(H.pd("GetPrevRegion", region_key=enc(b"a")).HasField("region"))
        self.assertFalse(H.pd("GetRegionByID", region_id=999999).HasField("region"))
        stores = H.pd("GetAllStores").stores
        self.assertEqual(len(stores), 3)
        self.assertEqual(H.pd("GetStore", store_id=2).store.address, H.stores[2])
        self.assertEqual(H.pd("GetStore", store_id=77).header.error.type, pd.UNKNOWN)

    def test_gc_safe_point(self):
        self.assertEqual(H.pd("UpdateGCSafePoint", safe_point=100).new_safe_point, 100)
        self.assertEqual(H.pd("UpdateGCSafePoint", safe_point=50).new_safe_point, 100)
        self.assertEqual(H.pd("GetGCSafePoint").safe_point, 100)


class RoutingTest(unittest.TestCase):
    def ctx(self, key):
        region, leader = H.region(key)
        c = kv.Context(region_id=region.id, peer=leader)
        c.region_epoch.CopyFrom(region.region_epoch)
        return c, region, leader

    def test_not_leader(self):
        c, region, leader = self.ctx(b"c")
        other = next(s for s in H.stores if s != leader.store_id)
        c.peer.store_id = other
        c.peer.id = 0
        r = H.send("KvGet", ctx=c, key=b"c", version=H.tso())
        self.assertEqual(r.region_error.not_leader.leader.store_id, leader.store_id)

    def test_store_not_match(self):
        c, region, leader = self.ctx(b"c")
        other = next(s for s in H.stores if s != leader.store_id)
        r = H.send("KvGet", ctx=c, store=other, key=b"c", version=H.tso())
        self.assertEqual(r.region_error.store_not_match.actual_store_id, other)

    def test_region_not_found(self):
        c, _, _ = self.ctx(b"c")
        c.region_id = 424242
        r = H.send("KvGet", ctx=c, key=b"c", version=H.tso())
        self.assertEqual(r.region_error.region_not_found.region_id, 424242)

    def test_epoch_not_match(self):
        c, region, _ = self.ctx(b"c")
        c.region_epoch.version += 5
        r = H.send("KvGet", ctx=c, key=b"c", version=H.tso())
        self.assertEqual(r.region_error.epoch_not_match.current_regions[0].id, region.id)

    def test_key_not_in_region(self):
        c, region, _ = self.ctx(b"c")
        r = H.send("KvGet", ctx=c, key=b"z", version=H.tso())
        self.assertEqual(r.region_error.key_not_in_region.key, b"z")
        self.assertEqual(r.region_error.key_not_in_region.start_key, region.start_key)

    def test_raw_keys_are_not_encoded(self):
        # raw key "c" lies in the region whose stored bounds hold b"c" as is
        region, leader = H.region(b"c", raw=True)
        r = H.send("RawPut", b"c", raw=True, key=b"c", value=b"1")
        self.assertFalse(r.HasField("region_error"), r)
        self.assertEqual(r.error, "")

    def test_cluster_id_checked(self):
        c, _, _ = self.ctx(b"c")
        c.cluster_id = H.cluster_id
        self.assertFalse(H.send("KvGet", ctx=c, key=b"c", version=H.tso()).HasField("region_error"))
        c.cluster_id = H.cluster_id + 1
        with self.assertRaises(grpc.RpcError) as e:
            H.send("KvGet", ctx=c, key=b"c", version=H.tso())
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_api_version_checked(self):
        c, _, _ = self.ctx(b"c")
        c.api_version = kv.V2
        r = H.send("KvGet", ctx=c, key=b"c", version=H.tso())
        self.assertIn("ApiVersion", r.region_error.message)


class TxnTest(unittest.TestCase):
    def test_2pc_commit_and_snapshot(self):
        before = H.tso()
        start, commit = H.put_2pc([(b"a1", b"v1"), (b"c1", b"v2"), (b"n1", b"v3")])
        self.assertTrue(H.get(b"a1", ts=before).not_found)
        self.assertEqual(H.get(b"c1").value, b"v2")
        self.assertEqual(H.get(b"n1", ts=commit).value, b"v3")
        self.assertTrue(H.get(b"n1", ts=commit - 1).not_found)
        g = H.get(b"a1", need_commit_ts=True)
        self.assertEqual(g.commit_ts, commit)

    def test_write_conflict(self):
        H.put_2pc([(b"c2", b"old")])
        start = H.tso()
        H.put_2pc([(b"c2", b"newer")])
        r = H.send("KvPrewrite", b"c2", mutations=[kv.Mutation(op=kv.Put, key=b"c2", value=b"x")],
                   primary_lock=b"c2", start_version=start, lock_ttl=3000)
        self.assertTrue(r.errors[0].HasField("conflict"))
        self.assertEqual(r.errors[0].conflict.start_ts, start)
        self.assertEqual(H.get(b"c2").value, b"newer")

    def test_locked_read_and_prewrite(self):
        start = H.tso()
        r = H.send("KvPrewrite", b"c3", mutations=[kv.Mutation(op=kv.Put, key=b"c3", value=b"x")],
                   primary_lock=b"c3", start_version=start, lock_ttl=3000, min_commit_ts=start + 1)
        self.assertFalse(r.errors)
        g = H.get(b"c3")
        self.assertEqual(g.error.locked.lock_version, start)
        self.assertEqual(g.error.locked.primary_lock, b"c3")
        # an older snapshot does not see the lock
        self.assertTrue(H.get(b"c3", ts=start - 1).not_found)
        # a read that was told the txn is resolved skips it
        c = kv.Context(resolved_locks=[start])
        region, leader = H.region(b"c3")
        c.region_id = region.id
        c.region_epoch.CopyFrom(region.region_epoch)
        c.peer.CopyFrom(leader)
        self.assertTrue(H.send("KvGet", ctx=c, key=b"c3", version=H.tso()).not_found)
        other = H.tso()
        r = H.send("KvPrewrite", b"c3", mutations=[kv.Mutation(op=kv.Put, key=b"c3", value=b"y")],
                   primary_lock=b"c3", start_version=other, lock_ttl=3000)
        self.assertEqual(r.errors[0].locked.lock_version, start)
        # batch get and scan report the lock per key
        b = H.send("KvBatchGet", b"c3", keys=[b"c3"], version=H.tso())
        self.assertEqual(b.pairs[0].error.locked.key, b"c3")
        s = H.send("KvScan", b"c3", start_key=b"c3", end_key=b"c4", limit=10, version=H.tso())
        self.assertEqual(s.pairs[0].error.locked.key, b"c3")
        H.send("KvBatchRollback", b"c3", keys=[b"c3"], start_version=start)
        self.assertTrue(H.get(b"c3").not_found)
        # a rolled-back txn cannot commit, nor prewrite again
        r = H.send("KvCommit", b"c3", keys=[b"c3"], start_version=start, commit_version=H.tso())
        self.assertTrue(r.error.HasField("txn_lock_not_found"))
        r = H.send("KvPrewrite", b"c3", mutations=[kv.Mutation(op=kv.Put, key=b"c3", value=b"x")],
                   primary_lock=b"c3", start_version=start, lock_ttl=3000)
        self.assertEqual(r.errors[0].conflict.reason, kv.WriteConflict.SelfRolledBack)

    def test_commit_ts_must_exceed_start(self):
        start = H.tso()
        H.send("KvPrewrite", b"c4", mutations=[kv.Mutation(op=kv.Put, key=b"c4", value=b"x")],
               primary_lock=b"c4", start_version=start, lock_ttl=3000)
        r = H.send("KvCommit", b"c4", keys=[b"c4"], start_version=start, commit_version=start)
        self.assertTrue(r.error.abort)
        H.send("KvBatchRollback", b"c4", keys=[b"c4"], start_version=start)

    def test_insert_and_delete(self):
        H.put_2pc([(b"c5", b"x")])
        start = H.tso()
        r = H.send("KvPrewrite", b"c5", mutations=[kv.Mutation(op=kv.Insert, key=b"c5", value=b"y")],
                   primary_lock=b"c5", start_version=start, lock_ttl=3000)
        self.assertEqual(r.errors[0].already_exist.key, b"c5")
        start = H.tso()
        H.send("KvPrewrite", b"c5", mutations=[kv.Mutation(op=kv.Del, key=b"c5")],
               primary_lock=b"c5", start_version=start, lock_ttl=3000)
        H.send("KvCommit", b"c5", keys=[b"c5"], start_version=start, commit_version=H.tso())
        self.assertTrue(H.get(b"c5").not_found)

    def test_resolve_expired_2pc_rolls_back(self):
        start = H.tso()
        for k in (b"a6", b"c6"):  # primary a6 in region 1, secondary c6 in region 2
            H.send("KvPrewrite", k, mutations=[kv.Mutation(op=kv.Put, key=k, value=b"x")],
                   primary_lock=b"a6", start_version=start, lock_ttl=20000)
        lock = H.get(b"c6").error.locked
        st = H.send("KvCheckTxnStatus", b"a6", primary_key=b"a6", lock_ts=start, caller_start_ts=H.tso(),
                    current_ts=H.tso())
        self.assertGreater(st.lock_ttl, 0)  # alive
        H.ctl("clock", advance_ms=30000)
        st = H.send("KvCheckTxnStatus", b"a6", primary_key=b"a6", lock_ts=start, caller_start_ts=H.tso(),
                    current_ts=H.tso())
        self.assertEqual((st.lock_ttl, st.commit_version, st.action), (0, 0, kv.TTLExpireRollback))
        r = H.send("KvResolveLock", b"c6", start_version=lock.lock_version, commit_version=0, keys=[b"c6"])
        self.assertFalse(r.HasField("error"))
        self.assertTrue(H.get(b"c6").not_found)
        self.assertEqual(H.locked(b"a6", b"c6"), [])

    def test_resolve_committed_primary_commits_secondary(self):
        start = H.tso()
        for k in (b"a7", b"n7"):
            H.send("KvPrewrite", k, mutations=[kv.Mutation(op=kv.Put, key=k, value=b"v7")],
                   primary_lock=b"a7", start_version=start, lock_ttl=3000)
        commit = H.tso()
        H.send("KvCommit", b"a7", keys=[b"a7"], start_version=start, commit_version=commit)
        # the client "dies"; a reader finds the secondary's lock
        lock = H.get(b"n7").error.locked
        st = H.send("KvCheckTxnStatus", b"a7", primary_key=lock.primary_lock, lock_ts=lock.lock_version,
                    caller_start_ts=H.tso(), current_ts=H.tso())
        self.assertEqual(st.commit_version, commit)
        H.send("KvResolveLock", b"n7", start_version=start,
               txn_infos=[kv.TxnInfo(txn=start, status=commit)])  # region-wide form
        self.assertEqual(H.get(b"n7").value, b"v7")

    def test_check_txn_status_not_found_and_push(self):
        ts = H.tso()
        st = H.send("KvCheckTxnStatus", b"a8", primary_key=b"a8", lock_ts=ts, caller_start_ts=H.tso(),
                    current_ts=H.tso())
        self.assertTrue(st.error.HasField("txn_not_found"))
        st = H.send("KvCheckTxnStatus", b"a8", primary_key=b"a8", lock_ts=ts, caller_start_ts=H.tso(),
                    current_ts=H.tso(), rollback_if_not_exist=True)
        self.assertEqual(st.action, kv.LockNotExistRollback)
        # min_commit_ts is pushed past a reader
        start = H.tso()
        H.send("KvPrewrite", b"a9", mutations=[kv.Mutation(op=kv.Put, key=b"a9", value=b"x")],
               primary_lock=b"a9", start_version=start, lock_ttl=3000, min_commit_ts=start + 1)
        reader = H.tso()
        st = H.send("KvCheckTxnStatus", b"a9", primary_key=b"a9", lock_ts=start, caller_start_ts=reader,
                    current_ts=H.tso())
        self.assertEqual(st.action, kv.MinCommitTSPushed)
        self.assertEqual(st.lock_info.min_commit_ts, reader + 1)
        self.assertTrue(H.get(b"a9", ts=reader).not_found)  # the pushed lock no longer blocks
        r = H.send("KvCommit", b"a9", keys=[b"a9"], start_version=start, commit_version=reader)
        self.assertEqual(r.error.commit_ts_expired.min_commit_ts, reader + 1)
        # heart beat raises the ttl, never lowers it
        self.assertEqual(H.send("KvTxnHeartBeat", b"a9", primary_lock=b"a9", start_version=start,
                                advise_lock_ttl=9000).lock_ttl, 9000)
        self.assertEqual(H.send("KvTxnHeartBeat", b"a9", primary_lock=b"a9", start_version=start,
                                advise_lock_ttl=10).lock_ttl, 9000)
        H.send("KvCommit", b"a9", keys=[b"a9"], start_version=start, commit_version=H.tso())
        self.assertTrue(H.send("KvTxnHeartBeat", b"a9", primary_lock=b"a9", start_version=start,
                               advise_lock_ttl=9000).error.HasField("txn_not_found"))

    def test_cleanup(self):
        start = H.tso()
        H.send("KvPrewrite", b"a10", mutations=[kv.Mutation(op=kv.Put, key=b"a10", value=b"x")],
               primary_lock=b"a10", start_version=start, lock_ttl=60000)
        r = H.send("KvCleanup", b"a10", key=b"a10", start_version=start, current_ts=H.tso())
        self.assertTrue(r.error.HasField("locked"))
        r = H.send("KvCleanup", b"a10", key=b"a10", start_version=start, current_ts=0)
        self.assertFalse(r.HasField("error"))
        self.assertTrue(H.get(b"a10").not_found)
        s, c = H.put_2pc([(b"a11", b"x")])
        self.assertEqual(H.send("KvCleanup", b"a11", key=b"a11", start_version=s).commit_version, c)

    def test_one_pc(self):
        start = H.tso()
        r = H.send("KvPrewrite", b"c12", mutations=[kv.Mutation(op=kv.Put, key=b"c12", value=b"1pc"),
                                                    kv.Mutation(op=kv.Put, key=b"c13", value=b"1pc")],
                   primary_lock=b"c12", start_version=start, lock_ttl=3000, try_one_pc=True,
                   min_commit_ts=start + 1, max_commit_ts=start + (10000 << 18))
        self.assertGreater(r.one_pc_commit_ts, start)
        self.assertEqual(r.min_commit_ts, 0)
        self.assertFalse(H.locked(b"c12", b"c13"))
        self.assertEqual(H.get(b"c13").value, b"1pc")
        # past max_commit_ts it falls back to 2PC: a lock, no commit ts
        start = H.tso()
        r = H.send("KvPrewrite", b"c14", mutations=[kv.Mutation(op=kv.Put, key=b"c14", value=b"x")],
                   primary_lock=b"c14", start_version=start, lock_ttl=3000, try_one_pc=True,
                   max_commit_ts=start + 1, min_commit_ts=start + 5)
        self.assertEqual((r.one_pc_commit_ts, r.min_commit_ts), (0, 0))
        self.assertTrue(H.get(b"c14").error.HasField("locked"))
        H.send("KvBatchRollback", b"c14", keys=[b"c14"], start_version=start)

    def test_async_commit_resolution(self):
        start = H.tso()
        r1 = H.send("KvPrewrite", b"a15", mutations=[kv.Mutation(op=kv.Put, key=b"a15", value=b"ac")],
                    primary_lock=b"a15", start_version=start, lock_ttl=100, use_async_commit=True,
                    secondaries=[b"n15"], min_commit_ts=start + 1, max_commit_ts=start + (10000 << 18))
        H.tso()
        r2 = H.send("KvPrewrite", b"n15", mutations=[kv.Mutation(op=kv.Put, key=b"n15", value=b"ac")],
                    primary_lock=b"a15", start_version=start, lock_ttl=100, use_async_commit=True,
                    min_commit_ts=start + 1, max_commit_ts=start + (10000 << 18))
        self.assertGreater(r1.min_commit_ts, start)
        self.assertGreater(r2.min_commit_ts, start)
        # the client dies; the txn is committed (every prewrite succeeded)
        H.ctl("clock", advance_ms=1000)
        lock = H.get(b"n15").error.locked
        self.assertTrue(lock.use_async_commit)
        st = H.send("KvCheckTxnStatus", b"a15", primary_key=b"a15", lock_ts=start,
                    caller_start_ts=H.tso(), current_ts=H.tso())
        self.assertTrue(st.lock_info.use_async_commit)  # never decided by CheckTxnStatus
        self.assertEqual(list(st.lock_info.secondaries), [b"n15"])
        sec = H.send("KvCheckSecondaryLocks", b"n15", keys=[b"n15"], start_version=start)
        self.assertEqual(len(sec.locks), 1)
        commit = max(st.lock_info.min_commit_ts, sec.locks[0].min_commit_ts)
        self.assertEqual(commit, max(r1.min_commit_ts, r2.min_commit_ts))
        for k in (b"a15", b"n15"):
            r = H.send("KvResolveLock", k, start_version=start, commit_version=commit, keys=[k])
            self.assertFalse(r.HasField("error"), r)
        self.assertEqual(H.get(b"a15").value, b"ac")
        self.assertEqual(H.get(b"n15", need_commit_ts=True).commit_ts, commit)

    @staticmethod
    def retry_ctx(k):
        region, leader = H.region(k)
        return kv.Context(region_id=region.id, region_epoch=region.region_epoch, peer=leader,
                          is_retry_request=True)

    def test_retried_prewrite_after_commit_or_rollback(self):
        # 1PC committed, then the prewrite resent: the same commit ts, no
        # second write
        start = H.tso()
        args = dict(mutations=[kv.Mutation(op=kv.Put, key=b"c30", value=b"x")], primary_lock=b"c30",
                    start_version=start, lock_ttl=3000, try_one_pc=True, min_commit_ts=start + 1,
                    max_commit_ts=start + (10000 << 18))
        r1 = H.send("KvPrewrite", b"c30", **args)
        self.assertGreater(r1.one_pc_commit_ts, 0)
        H.put_2pc([(b"c30", b"later")])  # a newer commit on the key
        r2 = H.send("KvPrewrite", b"c30", ctx=self.retry_ctx(b"c30"), **args)
        self.assertFalse(r2.errors)
        self.assertEqual(r2.one_pc_commit_ts, r1.one_pc_commit_ts)
        self.assertEqual(H.get(b"c30").value, b"later")
        self.assertEqual(H.get(b"c30", ts=r1.one_pc_commit_ts).value, b"x")
        self.assertFalse(H.locked(b"c30"))
        # async commit resolved (committed) by a reader, then resent: the
        # commit ts as min_commit_ts
        start = H.tso()
        args = dict(mutations=[kv.Mutation(op=kv.Put, key=b"c31", value=b"y")], primary_lock=b"c31",
                    start_version=start, lock_ttl=3000, use_async_commit=True, min_commit_ts=start + 1,
                    max_commit_ts=start + (10000 << 18))
        r1 = H.send("KvPrewrite", b"c31", **args)
        H.send("KvCommit", b"c31", keys=[b"c31"], start_version=start, commit_version=r1.min_commit_ts)
        r2 = H.send("KvPrewrite", b"c31", ctx=self.retry_ctx(b"c31"), **args)
        self.assertFalse(r2.errors)
        self.assertEqual(r2.min_commit_ts, r1.min_commit_ts)
        self.assertFalse(H.locked(b"c31"))
        # rolled back, then resent: WriteConflict SelfRolledBack, nothing written
        start = H.tso()
        args = dict(mutations=[kv.Mutation(op=kv.Put, key=b"c32", value=b"z")], primary_lock=b"c32",
                    start_version=start, lock_ttl=3000, use_async_commit=True, min_commit_ts=start + 1,
                    max_commit_ts=start + (10000 << 18))
        H.send("KvPrewrite", b"c32", **args)
        H.send("KvBatchRollback", b"c32", keys=[b"c32"], start_version=start)
        r2 = H.send("KvPrewrite", b"c32", ctx=self.retry_ctx(b"c32"), **args)
        self.assertTrue(r2.errors[0].HasField("conflict"))
        self.assertEqual(r2.errors[0].conflict.reason, kv.WriteConflict.SelfRolledBack)
        self.assertFalse(H.locked(b"c32"))
        self.assertTrue(H.get(b"c32").not_found)
        # a pessimistic txn's locked key, committed, then the prewrite
        # resent: the pessimistic lock is gone, the commit record answers
        start = H.tso()
        fu = H.tso()
        H.send("KvPessimisticLock", b"c33", mutations=[kv.Mutation(op=kv.PessimisticLock, key=b"c33")],
               primary_lock=b"c33", start_version=start, lock_ttl=3000, for_update_ts=fu)
        args = dict(mutations=[kv.Mutation(op=kv.Put, key=b"c33", value=b"p")], primary_lock=b"c33",
                    start_version=start, lock_ttl=3000, for_update_ts=fu, try_one_pc=True,
                    min_commit_ts=fu + 1, max_commit_ts=fu + (10000 << 18),
                    pessimistic_actions=[kv.PrewriteRequest.DO_PESSIMISTIC_CHECK])
        r1 = H.send("KvPrewrite", b"c33", **args)
        self.assertGreater(r1.one_pc_commit_ts, 0)
        r2 = H.send("KvPrewrite", b"c33", ctx=self.retry_ctx(b"c33"), **args)
        self.assertFalse(r2.errors)
        self.assertEqual(r2.one_pc_commit_ts, r1.one_pc_commit_ts)

    def test_resent_prewrite_answers_the_same(self):
        start = H.tso()
        args = dict(mutations=[kv.Mutation(op=kv.Put, key=b"c20", value=b"x")], primary_lock=b"c20",
                    start_version=start, lock_ttl=3000, use_async_commit=True, min_commit_ts=start + 1,
                    max_commit_ts=start + (10000 << 18))
        r1 = H.send("KvPrewrite", b"c20", **args)
        H.get(b"zz")  # a newer read raises max_ts
        r2 = H.send("KvPrewrite", b"c20", **args)
        self.assertEqual(r1.min_commit_ts, r2.min_commit_ts)
        H.send("KvCommit", b"c20", keys=[b"c20"], start_version=start, commit_version=r1.min_commit_ts)
        start = H.tso()
        args = dict(mutations=[kv.Mutation(op=kv.Put, key=b"c21", value=b"x")], primary_lock=b"c21",
                    start_version=start, lock_ttl=3000, try_one_pc=True, min_commit_ts=start + 1)
        r1 = H.send("KvPrewrite", b"c21", **args)
        H.get(b"zz")
        r2 = H.send("KvPrewrite", b"c21", **args)
        self.assertGreater(r1.one_pc_commit_ts, 0)
        self.assertEqual(r1.one_pc_commit_ts, r2.one_pc_commit_ts)
        self.assertEqual(H.get(b"c21", need_commit_ts=True).commit_ts, r1.one_pc_commit_ts)

    def test_pessimistic_txn_checks_unlocked_keys(self):
        start = H.tso()
        H.put_2pc([(b"c22", b"newer")])
        # as TiKV: a key the pessimistic txn did not lock is checked for
        # newer versions only in a retried request
        args = dict(mutations=[kv.Mutation(op=kv.Put, key=b"c22", value=b"x")],
                    primary_lock=b"c22", start_version=start, lock_ttl=3000, for_update_ts=H.tso(),
                    pessimistic_actions=[kv.PrewriteRequest.SKIP_PESSIMISTIC_CHECK])
        r = H.send("KvPrewrite", b"c22", ctx=self.retry_ctx(b"c22"), **args)
        self.assertTrue(r.errors[0].HasField("conflict"))
        r = H.send("KvPrewrite", b"c22", **args)
        self.assertFalse(r.errors)
        H.send("KvBatchRollback", b"c22", keys=[b"c22"], start_version=start)
        r = H.send("KvPrewrite", b"c23", mutations=[kv.Mutation(op=kv.Put, key=b"c23", value=b"x")],
                   primary_lock=b"c22", start_version=start, lock_ttl=3000, for_update_ts=H.tso(),
                   pessimistic_actions=[kv.PrewriteRequest.DO_PESSIMISTIC_CHECK])
        self.assertTrue(r.errors[0].abort)  # no pessimistic lock to check

    def test_async_commit_missing_secondary_rolls_back(self):
        start = H.tso()
        H.send("KvPrewrite", b"a16", mutations=[kv.Mutation(op=kv.Put, key=b"a16", value=b"x")],
               primary_lock=b"a16", start_version=start, lock_ttl=100, use_async_commit=True,
               secondaries=[b"n16"], min_commit_ts=start + 1, max_commit_ts=start + (10000 << 18))
        # n16 was never prewritten: checking it writes a rollback record
        sec = H.send("KvCheckSecondaryLocks", b"n16", keys=[b"n16"], start_version=start)
        self.assertEqual((len(sec.locks), sec.commit_ts), (0, 0))
        r = H.send("KvPrewrite", b"n16", mutations=[kv.Mutation(op=kv.Put, key=b"n16", value=b"x")],
                   primary_lock=b"a16", start_version=start, lock_ttl=100, use_async_commit=True)
        self.assertTrue(r.errors[0].HasField("conflict"))  # the late prewrite is refused
        H.send("KvResolveLock", b"a16", start_version=start, commit_version=0, keys=[b"a16"])
        self.assertTrue(H.get(b"a16").not_found)

    def test_pessimistic(self):
        H.put_2pc([(b"c17", b"0")])
        start = H.tso()
        fu = H.tso()
        r = H.send("KvPessimisticLock", b"c17", mutations=[kv.Mutation(op=kv.PessimisticLock, key=b"c17")],
                   primary_lock=b"c17", start_version=start, lock_ttl=3000, for_update_ts=fu,
                   return_values=True, wait_timeout=50)
        self.assertFalse(r.errors)
        self.assertEqual(list(r.values), [b"0"])
        # a second txn waits, then reports the lock
        other = H.tso()
        t0 = time.monotonic()
        r2 = H.send("KvPessimisticLock", b"c17", mutations=[kv.Mutation(op=kv.PessimisticLock, key=b"c17")],
                    primary_lock=b"c17", start_version=other, lock_ttl=3000, for_update_ts=other,
                    wait_timeout=50)
        self.assertEqual(r2.errors[0].locked.lock_version, start)
        self.assertEqual(r2.errors[0].locked.lock_type, kv.PessimisticLock)
        # a pessimistic lock does not block readers
        self.assertEqual(H.get(b"c17").value, b"0")
        r = H.send("KvPrewrite", b"c17", mutations=[kv.Mutation(op=kv.Put, key=b"c17", value=b"1")],
                   primary_lock=b"c17", start_version=start, lock_ttl=3000, for_update_ts=fu,
                   pessimistic_actions=[kv.PrewriteRequest.DO_PESSIMISTIC_CHECK], min_commit_ts=fu + 1)
        self.assertFalse(r.errors)
        H.send("KvCommit", b"c17", keys=[b"c17"], start_version=start, commit_version=H.tso())
        self.assertEqual(H.get(b"c17").value, b"1")
        # a lock with an older for_update_ts meets the newer commit: conflict
        r = H.send("KvPessimisticLock", b"c17", mutations=[kv.Mutation(op=kv.PessimisticLock, key=b"c17")],
                   primary_lock=b"c17", start_version=other, lock_ttl=3000, for_update_ts=other)
        self.assertEqual(r.errors[0].conflict.reason, kv.WriteConflict.PessimisticRetry)
        fu2 = H.tso()
        r = H.send("KvPessimisticLock", b"c17", mutations=[kv.Mutation(op=kv.PessimisticLock, key=b"c17")],
                   primary_lock=b"c17", start_version=other, lock_ttl=3000, for_update_ts=fu2)
        self.assertFalse(r.errors)
        H.send("KVPessimisticRollback", b"c17", keys=[b"c17"], start_version=other, for_update_ts=fu2)
        self.assertEqual(H.locked(b"c17"), [])

    def test_deadlock(self):
        import threading
        a, b = H.tso(), H.tso()
        mine = {a: b"c18", b: b"c19"}
        for ts, k in mine.items():
            H.send("KvPessimisticLock", k, mutations=[kv.Mutation(op=kv.PessimisticLock, key=k)],
                   primary_lock=k, start_version=ts, lock_ttl=3000, for_update_ts=ts)
        out = {}

        def lock_other(ts):
            """Each txn asks for the other's key. Whichever closes the
            cycle gets the deadlock and gives its own key up."""
            other = mine[b if ts == a else a]
            r = H.send("KvPessimisticLock", other, mutations=[kv.Mutation(op=kv.PessimisticLock, key=other)],
                       primary_lock=mine[ts], start_version=ts, lock_ttl=3000, for_update_ts=H.tso(),
                       wait_timeout=5000)
            out[ts] = r
            if r.errors and r.errors[0].HasField("deadlock"):
                H.send("KVPessimisticRollback", mine[ts], keys=[mine[ts]], start_version=ts,
                       for_update_ts=H.tso())
        th = [threading.Thread(target=lock_other, args=(ts,)) for ts in (a, b)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        dead = [ts for ts in (a, b) if out[ts].errors and out[ts].errors[0].HasField("deadlock")]
        self.assertEqual(len(dead), 1)
        winner = b if dead[0] == a else a
        self.assertFalse(out[winner].errors)  # woken by the loser's rollback
        H.send("KVPessimisticRollback", b"c18", keys=[b"c18", b"c19"], start_version=winner, for_update_ts=H.tso())
        self.assertEqual(H.locked(b"c18", b"c19"), [])

    def test_scan_forward_reverse_key_only_limit(self):
        H.put_2pc([(b"s%02d" % i, b"v%d" % i) for i in range(10)])
        ts = H.tso()
        r = H.send("KvScan", b"s00", start_key=b"s00", end_key=b"s99", limit=4, version=ts)
        self.assertEqual([p.key for p in r.pairs], [b"s00", b"s01", b"s02", b"s03"])
        r = H.send("KvScan", b"s00", start_key=b"s00", end_key=b"s05", limit=100, version=ts, key_only=True)
        self.assertEqual(len(r.pairs), 5)
        self.assertEqual(r.pairs[0].value, b"")
        r = H.send("KvScan", b"s09", start_key=b"s09", end_key=b"s00", limit=3, version=ts, reverse=True)
        self.assertEqual([p.key for p in r.pairs], [b"s08", b"s07", b"s06"])
        # a scan is clamped to its region; its start must lie inside it
        r = H.send("KvScan", b"c", start_key=b"c", end_key=b"", limit=1000, version=ts)
        self.assertTrue(all(p.key < b"m" for p in r.pairs))
        r = H.send("KvScan", b"c", start_key=b"z", end_key=b"", limit=10, version=ts)
        self.assertEqual(r.region_error.key_not_in_region.key, b"z")
        self.assertTrue(r.region_error.HasField("key_not_in_region"))
        H.send("KvDeleteRange", b"s00", start_key=b"s00", end_key=b"s05")
        r = H.send("KvScan", b"s00", start_key=b"s00", end_key=b"s99", limit=100, version=H.tso())
        self.assertEqual(r.pairs[0].key, b"s05")


class BankTest(unittest.TestCase):
    """Concurrent transfers through the raw protocol keep the total: each
    command is atomic and conflicts are reported, under gRPC's threads."""

    ACCOUNTS = [b"a-acct", b"c-acct", b"d-acct", b"n-acct", b"p-acct"]  # over 3 regions

    def balances(self):
        while True:
            ts = H.tso()
            out = {}
            for k in self.ACCOUNTS:
                g = H.get(k, ts=ts)
                if g.HasField("error"):
                    break
                out[k] = int(g.value or b"0")
            else:
                return out
            time.sleep(0.01)  # a writer holds a lock; it will finish

    def transfer(self, rnd, pessimistic):
        import random  # noqa: F401
        src, dst = rnd.sample(self.ACCOUNTS, 2)
        primary = min(src, dst)
        while True:
            start = H.tso()
            fu = H.tso() if pessimistic else 0
            if pessimistic:
                failed = False
                for k in sorted((src, dst)):
                    r = H.send("KvPessimisticLock", k, mutations=[kv.Mutation(op=kv.PessimisticLock, key=k)],
                               primary_lock=primary, start_version=start, lock_ttl=3000, for_update_ts=fu,
                               wait_timeout=200)
                    if r.errors:
                        failed = True
                        break
                if failed:
                    H.send("KVPessimisticRollback", src, keys=[src], start_version=start, for_update_ts=fu)
                    H.send("KVPessimisticRollback", dst, keys=[dst], start_version=start, for_update_ts=fu)
                    time.sleep(rnd.random() * 0.01)
                    continue
            read_ts = fu or start
            gs, gd = H.get(src, ts=read_ts), H.get(dst, ts=read_ts)
            if gs.HasField("error") or gd.HasField("error"):
                self.rollback(start, fu, (src, dst), pessimistic)
                time.sleep(rnd.random() * 0.01)
                continue
            vals = {src: b"%d" % (int(gs.value or b"0") - 1), dst: b"%d" % (int(gd.value or b"0") + 1)}
            ok, done = True, []
            for k in sorted(vals):
                r = H.send("KvPrewrite", k, mutations=[kv.Mutation(op=kv.Put, key=k, value=vals[k])],
                           primary_lock=primary, start_version=start, lock_ttl=3000, for_update_ts=fu,
                           min_commit_ts=max(start, fu) + 1,
                           pessimistic_actions=[kv.PrewriteRequest.DO_PESSIMISTIC_CHECK] if pessimistic else [])
                if r.errors:
                    ok = False
                    break
                done.append(k)
            if not ok:
                self.rollback(start, fu, (src, dst), pessimistic)
                time.sleep(rnd.random() * 0.01)
                continue
            commit = H.tso()
            r = H.send("KvCommit", primary, keys=[primary], start_version=start, commit_version=commit)
            assert not r.HasField("error"), r
            other = dst if primary == src else src
            r = H.send("KvCommit", other, keys=[other], start_version=start, commit_version=commit)
            assert not r.HasField("error"), r
            return

    @staticmethod
    def rollback(start, fu, keys, pessimistic):
        for k in keys:
            H.send("KvBatchRollback", k, keys=[k], start_version=start)
            if pessimistic:
                H.send("KVPessimisticRollback", k, keys=[k], start_version=start, for_update_ts=fu)

    def run_bank(self, pessimistic):
        import random
        import threading
        total = sum(self.balances().values())
        errors = []

        def worker(seed):
            rnd = random.Random(seed)
            try:
                for _ in range(8):
                    self.transfer(rnd, pessimistic)
            except Exception as e:  # reported below
                errors.append(e)
        th = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in th:
            t.start()
        sums = []
        while any(t.is_alive() for t in th):
            sums.append(sum(self.balances().values()))
        for t in th:
            t.join()
        self.assertEqual(errors, [])
        sums.append(sum(self.balances().values()))
        self.assertEqual(set(sums), {total})
        self.assertEqual(H.locked(*self.ACCOUNTS), [])

    def test_bank_optimistic(self):
        self.run_bank(False)

    def test_bank_pessimistic(self):
        self.run_bank(True)


class RawTest(unittest.TestCase):
    def test_raw_ops(self):
        H.send("RawPut", b"r1", raw=True, key=b"r1", value=b"x")
        self.assertEqual(H.send("RawGet", b"r1", raw=True, key=b"r1").value, b"x")
        # raw and txn keyspaces are separate
        self.assertTrue(H.get(b"r1").not_found)
        H.send("RawBatchPut", b"r2", raw=True, pairs=[kv.KvPair(key=b"r2", value=b"2"),
                                                      kv.KvPair(key=b"r3", value=b"3")])
        g = H.send("RawBatchGet", b"r1", raw=True, keys=[b"r1", b"r2", b"r9"])
        self.assertEqual([(p.key, p.value) for p in g.pairs], [(b"r1", b"x"), (b"r2", b"2")])
        s = H.send("RawScan", b"r1", raw=True, start_key=b"r1", end_key=b"r9", limit=10)
        self.assertEqual([p.key for p in s.kvs], [b"r1", b"r2", b"r3"])
        s = H.send("RawScan", b"r9", raw=True, start_key=b"r9", end_key=b"r1", limit=2, reverse=True)
        self.assertEqual([p.key for p in s.kvs], [b"r3", b"r2"])
        H.send("RawDelete", b"r1", raw=True, key=b"r1")
        self.assertTrue(H.send("RawGet", b"r1", raw=True, key=b"r1").not_found)
        H.send("RawBatchDelete", b"r2", raw=True, keys=[b"r2"])
        H.send("RawDeleteRange", b"r0", raw=True, start_key=b"r0", end_key=b"r9")
        self.assertFalse(H.send("RawScan", b"r0", raw=True, start_key=b"r0", end_key=b"r9", limit=10).kvs)
        self.assertIn("TTL", H.send("RawPut", b"r1", raw=True, key=b"r1", value=b"x", ttl=5).error)
        # scans stay inside the addressed region; delete ranges must end in it
        H.send("RawPut", b"a", raw=True, key=b"a", value=b"1")
        H.send("RawPut", b"c", raw=True, key=b"c", value=b"2")
        s = H.send("RawScan", b"a", raw=True, start_key=b"a", end_key=b"z", limit=10)
        self.assertEqual([p.key for p in s.kvs], [b"a"])
        s = H.send("RawScan", b"d", raw=True, start_key=b"d", end_key=b"", limit=10, reverse=True)
        self.assertEqual([p.key for p in s.kvs], [b"c"])
        r = H.send("RawDeleteRange", b"a", raw=True, start_key=b"a", end_key=b"z")
        self.assertTrue(r.region_error.HasField("key_not_in_region"))
        self.assertEqual(H.send("RawGet", b"a", raw=True, key=b"a").value, b"1")
        self.assertTrue(H.send("RawPut", b"r1", raw=True, key=b"r1", value=b"x", cf="lock").error)

    def test_raw_cas(self):
        def cas(k, **f):
            r = H.send("RawCompareAndSwap", k, raw=True, key=k, **f)
            self.assertFalse(r.HasField("region_error"), r)
            self.assertFalse(r.error, r)
            return r
        H.ctl("reset")
        # insert-if-absent, then a second one fails and reports the value
        r = cas(b"ycas1", value=b"a", previous_not_exist=True)
        self.assertTrue(r.succeed)
        self.assertTrue(r.previous_not_exist)
        r = cas(b"ycas1", value=b"b", previous_not_exist=True)
        self.assertFalse(r.succeed)
        self.assertFalse(r.previous_not_exist)
        self.assertEqual(r.previous_value, b"a")
        # compare a value: mismatch leaves it, match swaps it
        r = cas(b"ycas1", value=b"c", previous_value=b"x")
        self.assertFalse(r.succeed)
        self.assertEqual(r.previous_value, b"a")
        self.assertEqual(H.send("RawGet", b"ycas1", raw=True, key=b"ycas1").value, b"a")
        r = cas(b"ycas1", value=b"c", previous_value=b"a")
        self.assertTrue(r.succeed)
        self.assertEqual(r.previous_value, b"a")
        self.assertEqual(H.send("RawGet", b"ycas1", raw=True, key=b"ycas1").value, b"c")
        # an empty value is a value, not absence
        self.assertTrue(cas(b"ycas2", value=b"", previous_not_exist=True).succeed)
        r = cas(b"ycas2", value=b"y", previous_not_exist=True)
        self.assertFalse(r.succeed)
        self.assertFalse(r.previous_not_exist)
        self.assertTrue(cas(b"ycas2", value=b"y", previous_value=b"").succeed)
        # an expected value against an absent key fails, reporting absence
        r = cas(b"ycas3", value=b"z", previous_value=b"")
        self.assertFalse(r.succeed)
        self.assertTrue(r.previous_not_exist)
        self.assertTrue(H.send("RawGet", b"ycas3", raw=True, key=b"ycas3").not_found)
        # compare-and-delete
        self.assertFalse(cas(b"ycas1", previous_value=b"a", **{"delete": True}).succeed)
        self.assertTrue(cas(b"ycas1", previous_value=b"c", **{"delete": True}).succeed)
        self.assertTrue(H.send("RawGet", b"ycas1", raw=True, key=b"ycas1").not_found)
        # raw and txn keyspaces stay apart; TTL and other column families refused
        self.assertTrue(H.get(b"ycas2").not_found)
        self.assertIn("TTL", H.send("RawCompareAndSwap", b"ycas4", raw=True, key=b"ycas4", value=b"v",
                                    previous_not_exist=True, ttl=5).error)
        self.assertTrue(H.send("RawCompareAndSwap", b"ycas4", raw=True, key=b"ycas4", value=b"v",
                               previous_not_exist=True, cf="lock").error)
        # region checks: a key outside the addressed region
        region, leader = H.region(b"a", raw=True)
        ctx = kv.Context(region_id=region.id, region_epoch=region.region_epoch, peer=leader)
        r = H.send("RawCompareAndSwap", ctx=ctx, key=b"zz", value=b"v", previous_not_exist=True)
        self.assertTrue(r.region_error.HasField("key_not_in_region"))
        self.assertTrue(H.send("RawGet", b"zz", raw=True, key=b"zz").not_found)
        # counted per method; raw writes without for_cas are counted apart
        c = H.counters()["stores"]
        self.assertEqual(sum(x.get("RawCompareAndSwap", 0) for x in c.values()), 13)
        H.ctl("reset")
        H.send("RawPut", b"ycas5", raw=True, key=b"ycas5", value=b"1", for_cas=True)
        H.send("RawPut", b"ycas5", raw=True, key=b"ycas5", value=b"2")
        H.send("RawDelete", b"ycas5", raw=True, key=b"ycas5", for_cas=True)
        c = H.counters()["stores"]
        self.assertEqual(sum(x.get("RawPut/no_for_cas", 0) for x in c.values()), 1)
        self.assertEqual(sum(x.get("RawDelete/no_for_cas", 0) for x in c.values()), 0)

    def test_raw_cas_is_atomic(self):
        """Concurrent increments by compare-and-swap lose none."""
        import threading
        k = b"ycas-counter"
        H.send("RawPut", k, raw=True, key=k, value=b"0", for_cas=True)

        def worker():
            for _ in range(20):
                while True:
                    cur = H.send("RawGet", k, raw=True, key=k).value
                    r = H.send("RawCompareAndSwap", k, raw=True, key=k, previous_value=cur,
                               value=str(int(cur) + 1).encode())
                    if r.succeed:
                        break
        ts = [threading.Thread(target=worker) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(H.send("RawGet", k, raw=True, key=k).value, b"80")


class FaultTest(unittest.TestCase):
    """On a cluster of its own: faults change the topology."""

    @classmethod
    def setUpClass(cls):
        global H
        cls.shared, H = H, Harness("--split", "b,m")

    @classmethod
    def tearDownClass(cls):
        global H
        H.close()
        H = cls.shared

    def test_counters(self):
        H.ctl("reset")
        H.get(b"c")
        c = H.counters()
        leader = H.region(b"c")[1].store_id
        self.assertEqual(c["stores"][str(leader)]["KvGet"], 1)
        self.assertEqual(c["tso_requests"], 1)
        self.assertEqual(c["pd"]["GetRegion"], 1)

    def test_leader_move(self):
        region, leader = H.region(b"d")
        new = H.ctl("leader", key="d")["leader"]
        self.assertNotEqual(new, leader.store_id)
        c = kv.Context(region_id=region.id, peer=leader)
        c.region_epoch.CopyFrom(region.region_epoch)
        r = H.send("KvGet", ctx=c, key=b"d", version=H.tso())
        self.assertEqual(r.region_error.not_leader.leader.store_id, new)
        H.ctl("leader", key="d", store_id=new, hint=False)
        c.peer.CopyFrom(meta.Peer(store_id=leader.store_id))
        r = H.send("KvGet", ctx=c, key=b"d", version=H.tso())
        self.assertTrue(r.region_error.HasField("not_leader"))
        self.assertFalse(r.region_error.not_leader.HasField("leader"))
        H.ctl("leader", key="d", store_id=leader.store_id)

    def test_split(self):
        H.put_2pc([(b"h1", b"x")])
        region, leader = H.region(b"h")
        out = H.ctl("split", key="h")
        self.assertEqual(out["right"]["id"], region.id)
        c = kv.Context(region_id=region.id, peer=leader)
        c.region_epoch.CopyFrom(region.region_epoch)
        r = H.send("KvGet", ctx=c, key=b"h1", version=H.tso())
        ids = {x.id for x in r.region_error.epoch_not_match.current_regions}
        self.assertEqual(ids, {region.id, out["left"]["id"]})
        self.assertEqual(H.region(b"g")[0].id, out["left"]["id"])
        self.assertEqual(H.get(b"h1").value, b"x")
        self.assertIn("error", H.ctl("split", key="h"))  # already a boundary

    def test_split_after_n_requests(self):
        region, _ = H.region(b"j")
        self.assertEqual(H.ctl("split", key="j", after=2)["scheduled_after"], 2)
        H.get(b"i")
        self.assertEqual(H.region(b"j")[0].id, region.id)
        self.assertEqual(H.region(b"j")[0].region_epoch.version, region.region_epoch.version)
        H.get(b"i")
        self.assertNotEqual(H.region(b"j")[0].region_epoch.version, region.region_epoch.version)
        # after 1: the very next store request already meets the change
        region, leader = H.region(b"j")
        c = kv.Context(region_id=region.id, peer=leader)
        c.region_epoch.CopyFrom(region.region_epoch)
        H.ctl("leader", key="j", after=1)
        r = H.send("KvGet", ctx=c, key=b"j", version=H.tso())
        self.assertTrue(r.region_error.HasField("not_leader"))
        H.ctl("leader", key="j", store_id=leader.store_id)

    def test_busy_and_inject(self):
        leader = H.region(b"c")[1].store_id
        H.ctl("busy", store_id=leader, count=2)
        self.assertTrue(H.get(b"c").region_error.HasField("server_is_busy"))
        self.assertTrue(H.get(b"c").region_error.HasField("server_is_busy"))
        self.assertFalse(H.get(b"c").HasField("region_error"))
        H.ctl("inject", error="stale_command", count=1, method="KvGet")
        self.assertTrue(H.get(b"c").region_error.HasField("stale_command"))
        H.ctl("inject", error="undetermined_result", count=1, store_id=leader)
        self.assertTrue(H.get(b"c").region_error.HasField("undetermined_result"))
        self.assertIn("error", H.ctl("inject", error="nonsense"))
        # transport faults: not applied, or applied with the answer lost
        H.ctl("inject", error="unavailable", count=1, method="RawPut")
        with self.assertRaises(grpc.RpcError) as e:
            H.send("RawPut", b"c", raw=True, key=b"lost1", value=b"x")
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertTrue(H.send("RawGet", b"c", raw=True, key=b"lost1").not_found)
        H.ctl("inject", error="lose_response", count=1, method="RawPut")
        with self.assertRaises(grpc.RpcError) as e:
            H.send("RawPut", b"c", raw=True, key=b"lost2", value=b"x")
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(H.send("RawGet", b"c", raw=True, key=b"lost2").value, b"x")

    def test_kill_and_revive(self):
        leader = H.region(b"c")[1].store_id
        H.ctl("kill", store_id=leader)
        with self.assertRaises(grpc.RpcError) as e:
            H.get(b"c")
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
        H.ctl("revive", store_id=leader)
        H.forget(leader)
        self.assertFalse(H.get(b"c").HasField("region_error"))
        H.ctl("kill", store_id=leader, mode="hang")
        with self.assertRaises(grpc.RpcError) as e:
            H.send("KvGet", b"c", key=b"c", version=H.tso(), timeout=0.3)
        self.assertEqual(e.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        H.ctl("revive", store_id=leader)
        self.assertFalse(H.get(b"c").HasField("region_error"))

    def test_drop_connections(self):
        leader = H.region(b"c")[1].store_id
        self.assertFalse(H.get(b"c").HasField("region_error"))
        self.assertEqual(H.ctl("drop", store_id=leader)["state"], "up")
        # the old connection is gone; gRPC reconnects to the same address
        for _ in range(50):
            try:
                self.assertFalse(H.get(b"c").HasField("region_error"))
                break
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE)
                time.sleep(0.05)
        else:
            self.fail("store did not come back")

    def test_pd_members_and_leader_change(self):
        h = Harness("--pd", "3", "--stores", "1")
        try:
            self.assertEqual(len(h.pd_addr.split(",")), 3)
            first, second = h.pd_addr.split(",")[:2]
            h.pd_addr = second
            m = h.pd("GetMembers")  # a follower answers GetMembers
            self.assertEqual(len(m.members), 3)
            self.assertEqual(m.leader.client_urls[0], "http://" + first)
            with self.assertRaises(grpc.RpcError) as e:
                h.pd("GetAllStores")
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
            self.assertEqual(h.ctl("pd_leader", member=1)["pd_leader"], 1)
            self.assertEqual(len(h.pd("GetAllStores").stores), 1)
            self.assertEqual(h.pd("GetMembers").leader.client_urls[0], "http://" + second)
            h.pd_addr = first
            with self.assertRaises(grpc.RpcError):
                h.tso()
            # the leader is killed: the next member leads, the old port refuses
            self.assertEqual(h.ctl("pd_kill", member=1)["pd_leader"], 2)
            h.pd_addr = second
            with self.assertRaises(grpc.RpcError) as e:
                h.pd("GetMembers")
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
            third = h.pd_addr = h.ctl("status")["pd"].split(",")[2]
            self.assertEqual(h.pd("GetMembers").leader.client_urls[0], "http://" + third)
            self.assertGreater(h.tso(), 0)
            h.ctl("pd_revive", member=1)
            h.forget_addr(second)
            h.pd_addr = second
            self.assertEqual(h.pd("GetMembers").leader.client_urls[0], "http://" + third)
        finally:
            h.close()

    def test_tls(self):
        h = Harness("--tls", "--stores", "1")
        try:
            self.assertIsNotNone(h.ca)
            m = h.pd("GetMembers")
            self.assertTrue(m.leader.client_urls[0].startswith("https://127.0.0.1:"))
            h.send("RawPut", b"k", raw=True, key=b"k", value=b"tls")
            self.assertEqual(h.send("RawGet", b"k", raw=True, key=b"k").value, b"tls")
            plain = grpc.insecure_channel(h.pd_addr)
            call = plain.unary_unary("/pdpb.PD/GetMembers", pd.GetMembersRequest.SerializeToString,
                                     pd.GetMembersResponse.FromString)
            with self.assertRaises(grpc.RpcError):
                call(pd.GetMembersRequest(), timeout=2)
            plain.close()
        finally:
            h.close()

    def test_pd_fail(self):
        H.ctl("pd_fail", count=1)
        with self.assertRaises(grpc.RpcError) as e:
            H.pd("GetMembers")
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(H.pd("GetMembers").header.cluster_id, H.cluster_id)

    def test_delay_and_inflight(self):
        import threading
        H.ctl("delay", ms=1000, method="KvBatchGet")
        H.ctl("reset")
        ts = H.tso()
        go = threading.Barrier(3)

        def get():
            go.wait()
            H.send("KvBatchGet", b"c", keys=[b"c"], version=ts)
        th = [threading.Thread(target=get) for _ in range(3)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        H.ctl("delay", ms=0, method="KvBatchGet")
        self.assertEqual(H.counters()["max_inflight"]["KvBatchGet"], 3)

    def test_raft_entry_too_large(self):
        r = H.send("RawPut", b"c", raw=True, key=b"c", value=b"x" * (9 << 20))
        self.assertTrue(r.region_error.HasField("raft_entry_too_large"))


if __name__ == "__main__":
    unittest.main(verbosity=1)
