#!/usr/bin/python3
"""The PD/TiKV test cluster: one PD and several stores in one process.

A test fixture for Orbit's TiKV provider (tests/tikv/README.md). It serves
PD's `pdpb.PD` and the stores' `tikvpb.Tikv` gRPC services, from the .proto
files in the repository's proto/ (compiled with protoc --python_out into a
temporary directory at start-up), on free loopback ports:

  * PD (one member, or --pd N with one leader): GetMembers, the Tso bidi stream, GetRegion / GetPrevRegion /
    GetRegionByID / ScanRegions, GetStore / GetAllStores, GC safe point.
    The cluster id is checked on every call but GetMembers.
  * Stores: the transactional and RawKV commands of tikvpb.proto, over one
    shared MVCC store (mvcc.py: Percolator columns, locks, TTLs). There is no
    replication: every region has a peer on every store and one leader, and
    all stores read and write the same data, as replicas that are always in
    sync would.
  * Routing: every request's Context is checked the way TiKV checks it:
    store (StoreNotMatch), region (RegionNotFound), leader (NotLeader with
    the leader as hint), epoch version (EpochNotMatch with the current
    regions), and that its keys lie in the region (KeyNotInRegion).
    Region boundaries are kept as TiKV keeps them: transactional keys are
    compared in memcomparable encoding, raw keys as they are (API V1).
  * Faults and counters through a control port (HTTP/JSON, see `Control`).
  * With --tls, PD and the stores serve TLS only, with a certificate for
    127.0.0.1 signed by a fresh CA (made with the openssl command).

Run `cluster.py --help`. When it serves, it writes the ready file (one
"name value" per line: pid, pd, control, cluster_id, then one "store ID
ADDR" per store, and "ca PATH" with --tls) and prints "ready" on stdout. It stops on SIGTERM or SIGINT.
"""

import argparse
import atexit
import concurrent.futures
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
PROTOS = ["metapb.proto", "errorpb.proto", "kvrpcpb.proto", "tikvpb.proto", "pdpb.proto"]

GRPC_OPTIONS = [("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", -1),
                ("grpc.max_send_message_length", -1)]


def load_protos(gen_dir=None):
    """Compile proto/*.proto for Python and import them. Returns a namespace
    with metapb, errorpb, kvrpcpb, pdpb."""
    if gen_dir is None:
        gen_dir = tempfile.mkdtemp(prefix="orbit-tikv-pb-")
        atexit.register(shutil.rmtree, gen_dir, True)
    os.makedirs(gen_dir, exist_ok=True)
    subprocess.run(["protoc", "-I" + PROTO_DIR, "--python_out=" + gen_dir] + PROTOS,
                   check=True, cwd=PROTO_DIR)
    sys.path.insert(0, gen_dir)
    import metapb_pb2, errorpb_pb2, kvrpcpb_pb2, pdpb_pb2  # noqa: E401
    return argparse.Namespace(metapb=metapb_pb2, errorpb=errorpb_pb2,
                              kvrpcpb=kvrpcpb_pb2, pdpb=pdpb_pb2, gen_dir=gen_dir)


def mc_encode(key):
    """TiKV's memcomparable encoding of a transactional key, as PD stores
    region boundaries: 8-byte groups, each followed by 0xFF minus the pad."""
    out = bytearray()
    for i in range(0, len(key) + 1, 8):
        group = key[i:i + 8]
        pad = 8 - len(group)
        out += group + b"\x00" * pad + bytes([0xFF - pad])
        if pad:
            break
    return bytes(out)


def mc_decode(enc):
    """Inverse of mc_encode; None if enc is not a valid encoding."""
    out = bytearray()
    i = 0
    while i + 9 <= len(enc):
        group, marker = enc[i:i + 8], enc[i + 8]
        pad = 0xFF - marker
        if pad > 8:
            return None
        out += group[:8 - pad]
        i += 9
        if pad:
            return bytes(out) if i == len(enc) else None
    return None


class Region:
    def __init__(self, rid, start, end, peers, leader_store):
        self.id = rid
        self.start = start          # stored (encoded) form; b"" = -inf
        self.end = end              # b"" = +inf
        self.conf_ver = 1
        self.version = 1
        self.peers = peers          # {store_id: peer_id}
        self.leader = leader_store  # store id
        self.hide_leader = False    # NotLeader without a hint
        self.ancestors = set()      # ids of regions this one was split from

    def contains(self, k):
        return self.start <= k and (self.end == b"" or k < self.end)


class CtlError(Exception):
    pass


class Cluster:
    """Topology, routing, faults and counters. `mu` guards everything here;
    the MVCC store has its own condition variable."""

    def __init__(self, pb, args):
        import mvcc
        self.pb = pb
        self.args = args
        self.mu = threading.RLock()
        self.db = mvcc.Mvcc(lock_wait_ms=args.lock_wait_ms)
        self.mvcc = mvcc
        self.cluster_id = args.cluster_id
        self.next_id = 1000
        self.clock_offset_ms = 0
        self.tso_last = (0, 0)
        self.gc_safe_point = 0
        self.store_ids = list(range(1, args.stores + 1))
        self.stores = {}            # id -> StoreServer
        self.regions = []           # sorted by start
        self.pending = []           # [[remaining requests, fn]]
        self.pd_fail = 0
        self.pds = []               # PdService per member
        self.pd_leader = 0
        self.tls = None             # (key, cert) when serving TLS
        self.ca_file = None
        self.reset_counters()
        bounds = [b""] + sorted(set(self._stored_key(k, args.key_mode) for k in args.split)) + [b""]
        for i in range(len(bounds) - 1):
            peers = {s: self._alloc() for s in self.store_ids}
            r = Region(self._alloc(), bounds[i], bounds[i + 1], peers,
                       self.store_ids[i % len(self.store_ids)])
            self.regions.append(r)

    def _alloc(self):
        self.next_id += 1
        return self.next_id

    @staticmethod
    def _stored_key(k, space):
        return mc_encode(k) if space == "txn" else k

    def reset_counters(self):
        with self.mu:
            self.counts = {}        # (store id or "pd", method) -> n
            self.tso_requests = 0
            self.tso_timestamps = 0
            self.inflight = {}
            self.max_inflight = {}

    def count(self, who, method):
        with self.mu:
            self.counts[(who, method)] = self.counts.get((who, method), 0) + 1

    # ---- topology ----

    def region_by_id(self, rid):
        for r in self.regions:
            if r.id == rid:
                return r
        return None

    def region_for(self, k):
        for r in self.regions:
            if r.contains(k):
                return r
        return None

    def split(self, key_stored):
        """Split the region holding key_stored at it. As TiKV does by
        default (right-derive), the old region id keeps the right part and a
        new region takes the left one; both get the next version."""
        with self.mu:
            r = self.region_for(key_stored)
            if r is None or r.start == key_stored:
                raise CtlError("no region to split at %r (already a boundary)" % key_stored)
            left = Region(self._alloc(), r.start, key_stored,
                          {s: self._alloc() for s in r.peers}, r.leader)
            left.ancestors = set(r.ancestors) | {r.id}
            r.start = key_stored
            r.version += 1
            left.version = r.version
            left.conf_ver = r.conf_ver
            self.regions.append(left)
            self.regions.sort(key=lambda x: x.start)
            return left, r

    def move_leader(self, r, store_id=None, hint=True):
        with self.mu:
            if store_id is None:
                ids = sorted(r.peers)
                store_id = ids[(ids.index(r.leader) + 1) % len(ids)]
            if store_id not in r.peers:
                raise CtlError("region %d has no peer on store %d" % (r.id, store_id))
            r.leader = store_id
            r.hide_leader = not hint

    def region_pb(self, r):
        m = self.pb.metapb
        reg = m.Region(id=r.id, start_key=r.start, end_key=r.end,
                       region_epoch=m.RegionEpoch(conf_ver=r.conf_ver, version=r.version))
        for s in sorted(r.peers):
            reg.peers.add(id=r.peers[s], store_id=s)
        return reg

    def leader_pb(self, r):
        return self.pb.metapb.Peer(id=r.peers[r.leader], store_id=r.leader)

    def tick(self):
        """Run scheduled faults (the `after` argument of the control
        commands): each store request counts one down."""
        due = []
        with self.mu:
            for p in self.pending:
                p[0] -= 1
                if p[0] <= 0:
                    due.append(p)
            for p in due:
                self.pending.remove(p)
        for p in due:
            try:
                p[1]()
            except CtlError as e:
                sys.stderr.write("scheduled fault failed: %s\n" % e)

    # ---- time ----

    def now_ms(self):
        return int(time.time() * 1000) + self.clock_offset_ms

    def tso(self, count):
        with self.mu:
            phys, logical = self.tso_last
            now = self.now_ms()
            if now > phys:
                phys, logical = now, 0
            if logical + count >= (1 << 18):
                phys, logical = phys + 1, 0
            logical += count
            self.tso_last = (phys, logical)
            self.tso_requests += 1
            self.tso_timestamps += count
            return phys, logical

    def current_ts(self):
        """A timestamp for TTL checks that does not consume the TSO counter."""
        return self.now_ms() << 18


# ---------------------------------------------------------------------------
# PD


class PdService:
    METHODS = ["GetMembers", "Tso", "GetStore", "GetAllStores", "GetRegion", "GetPrevRegion",
               "GetRegionByID", "ScanRegions", "GetGCSafePoint", "UpdateGCSafePoint"]

    def __init__(self, cluster, index):
        self.c = cluster
        self.pb = cluster.pb.pdpb
        self.index = index  # member index; c.pd_leader names the leader
        self.port = 0
        self.server = None

    def start(self):
        import grpc
        # Each open Tso stream holds a worker thread for its lifetime.
        srv = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=256), options=GRPC_OPTIONS)
        srv.add_generic_rpc_handlers((self.handler(),))
        port = bind(srv, self.c, self.port)
        if port == 0:
            raise RuntimeError("PD member %d cannot bind port %d" % (self.index, self.port))
        self.port = port
        srv.start()
        self.server = srv

    def stop(self):
        if self.server is not None:
            self.server.stop(grace=None).wait()
            self.server = None

    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.c.tls else "http", self.port)

    def _header(self):
        return self.pb.ResponseHeader(cluster_id=self.c.cluster_id)

    def _check(self, method, req, context):
        import grpc
        self.c.count("pd", method)
        with self.c.mu:
            if self.c.pd_fail > 0:
                self.c.pd_fail -= 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "not leader (injected)")
        if method != "GetMembers" and self.index != self.c.pd_leader:
            context.abort(grpc.StatusCode.UNAVAILABLE, "not leader")
        if method != "GetMembers" and req.header.cluster_id != self.c.cluster_id:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          "mismatch cluster id, need %d but got %d" % (self.c.cluster_id, req.header.cluster_id))

    def GetMembers(self, req, context):
        self._check("GetMembers", req, context)
        ms = [self.pb.Member(name="pd%d" % p.index, member_id=p.index + 1, client_urls=[p.url()],
                             peer_urls=[p.url()]) for p in self.c.pds]
        lead = ms[self.c.pd_leader]
        return self.pb.GetMembersResponse(header=self._header(), members=ms, leader=lead, etcd_leader=lead)

    def Tso(self, req_iter, context):
        import grpc
        for req in req_iter:
            self._check("Tso", req, context)
            if req.count < 1:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tso count should be positive")
            phys, logical = self.c.tso(req.count)
            yield self.pb.TsoResponse(header=self._header(), count=req.count,
                                      timestamp=self.pb.Timestamp(physical=phys, logical=logical))

    def _store_pb(self, sid):
        st = self.c.stores[sid]
        return self.c.pb.metapb.Store(id=sid, address=st.addr(), state=0, version="orbit-test",
                                      node_state=1)

    def GetStore(self, req, context):
        self._check("GetStore", req, context)
        resp = self.pb.GetStoreResponse(header=self._header())
        if req.store_id not in self.c.stores:
            resp.header.error.type = self.pb.UNKNOWN
            resp.header.error.message = "invalid store ID %d, not found" % req.store_id
        else:
            resp.store.CopyFrom(self._store_pb(req.store_id))
        return resp

    def GetAllStores(self, req, context):
        self._check("GetAllStores", req, context)
        return self.pb.GetAllStoresResponse(header=self._header(),
                                            stores=[self._store_pb(s) for s in sorted(self.c.stores)])

    def _region_resp(self, r):
        resp = self.pb.GetRegionResponse(header=self._header())
        if r is not None:
            with self.c.mu:
                resp.region.CopyFrom(self.c.region_pb(r))
                resp.leader.CopyFrom(self.c.leader_pb(r))
        return resp

    def GetRegion(self, req, context):
        self._check("GetRegion", req, context)
        with self.c.mu:
            return self._region_resp(self.c.region_for(req.region_key))

    def GetPrevRegion(self, req, context):
        self._check("GetPrevRegion", req, context)
        with self.c.mu:
            r = self.c.region_for(req.region_key)
            prev = None
            if r is not None and r.start != b"":
                prev = next((x for x in self.c.regions if x.end == r.start), None)
            return self._region_resp(prev)

    def GetRegionByID(self, req, context):
        self._check("GetRegionByID", req, context)
        with self.c.mu:
            return self._region_resp(self.c.region_by_id(req.region_id))

    def ScanRegions(self, req, context):
        self._check("ScanRegions", req, context)
        resp = self.pb.ScanRegionsResponse(header=self._header())
        with self.c.mu:
            for r in self.c.regions:
                if r.end != b"" and r.end <= req.start_key:
                    continue
                if req.end_key != b"" and r.start >= req.end_key:
                    break
                if req.limit > 0 and len(resp.regions) >= req.limit:
                    break
                reg, leader = self.c.region_pb(r), self.c.leader_pb(r)
                resp.region_metas.append(reg)
                resp.leaders.append(leader)
                resp.regions.add(region=reg, leader=leader)
        return resp

    def GetGCSafePoint(self, req, context):
        self._check("GetGCSafePoint", req, context)
        with self.c.mu:
            return self.pb.GetGCSafePointResponse(header=self._header(), safe_point=self.c.gc_safe_point)

    def UpdateGCSafePoint(self, req, context):
        self._check("UpdateGCSafePoint", req, context)
        with self.c.mu:
            if req.safe_point > self.c.gc_safe_point:
                self.c.gc_safe_point = req.safe_point
            return self.pb.UpdateGCSafePointResponse(header=self._header(),
                                                     new_safe_point=self.c.gc_safe_point)

    def handler(self):
        import grpc
        pb = self.pb
        types = {
            "GetMembers": (pb.GetMembersRequest, pb.GetMembersResponse),
            "GetStore": (pb.GetStoreRequest, pb.GetStoreResponse),
            "GetAllStores": (pb.GetAllStoresRequest, pb.GetAllStoresResponse),
            "GetRegion": (pb.GetRegionRequest, pb.GetRegionResponse),
            "GetPrevRegion": (pb.GetRegionRequest, pb.GetRegionResponse),
            "GetRegionByID": (pb.GetRegionByIDRequest, pb.GetRegionResponse),
            "ScanRegions": (pb.ScanRegionsRequest, pb.ScanRegionsResponse),
            "GetGCSafePoint": (pb.GetGCSafePointRequest, pb.GetGCSafePointResponse),
            "UpdateGCSafePoint": (pb.UpdateGCSafePointRequest, pb.UpdateGCSafePointResponse),
        }
        h = {name: grpc.unary_unary_rpc_method_handler(
                getattr(self, name), request_deserializer=rq.FromString,
                response_serializer=rs.SerializeToString)
             for name, (rq, rs) in types.items()}
        h["Tso"] = grpc.stream_stream_rpc_method_handler(
            self.Tso, request_deserializer=pb.TsoRequest.FromString,
            response_serializer=pb.TsoResponse.SerializeToString)
        return grpc.method_handlers_generic_handler("pdpb.PD", h)


# ---------------------------------------------------------------------------
# Stores

# method -> (request type, response type, key space, write?)
TIKV_METHODS = {
    "KvGet": ("GetRequest", "GetResponse", "txn", False),
    "KvScan": ("ScanRequest", "ScanResponse", "txn", False),
    "KvBatchGet": ("BatchGetRequest", "BatchGetResponse", "txn", False),
    "KvPrewrite": ("PrewriteRequest", "PrewriteResponse", "txn", True),
    "KvCommit": ("CommitRequest", "CommitResponse", "txn", True),
    "KvCleanup": ("CleanupRequest", "CleanupResponse", "txn", True),
    "KvBatchRollback": ("BatchRollbackRequest", "BatchRollbackResponse", "txn", True),
    "KvCheckTxnStatus": ("CheckTxnStatusRequest", "CheckTxnStatusResponse", "txn", True),
    "KvCheckSecondaryLocks": ("CheckSecondaryLocksRequest", "CheckSecondaryLocksResponse", "txn", True),
    "KvResolveLock": ("ResolveLockRequest", "ResolveLockResponse", "txn", True),
    "KvTxnHeartBeat": ("TxnHeartBeatRequest", "TxnHeartBeatResponse", "txn", True),
    "KvPessimisticLock": ("PessimisticLockRequest", "PessimisticLockResponse", "txn", True),
    "KVPessimisticRollback": ("PessimisticRollbackRequest", "PessimisticRollbackResponse", "txn", True),
    "KvDeleteRange": ("DeleteRangeRequest", "DeleteRangeResponse", "txn", True),
    "RawGet": ("RawGetRequest", "RawGetResponse", "raw", False),
    "RawBatchGet": ("RawBatchGetRequest", "RawBatchGetResponse", "raw", False),
    "RawPut": ("RawPutRequest", "RawPutResponse", "raw", True),
    "RawBatchPut": ("RawBatchPutRequest", "RawBatchPutResponse", "raw", True),
    "RawDelete": ("RawDeleteRequest", "RawDeleteResponse", "raw", True),
    "RawBatchDelete": ("RawBatchDeleteRequest", "RawBatchDeleteResponse", "raw", True),
    "RawScan": ("RawScanRequest", "RawScanResponse", "raw", False),
    "RawDeleteRange": ("RawDeleteRangeRequest", "RawDeleteRangeResponse", "raw", True),
    "RawCompareAndSwap": ("RawCASRequest", "RawCASResponse", "raw", True),
}

# transport faults the `inject` control command can cause: the call fails
# with UNAVAILABLE before it runs, or after it ran (its answer is lost)
TRANSPORT_FAULTS = ["unavailable", "lose_response"]
# region error kinds the `inject` control command can return
INJECTABLE = ["server_is_busy", "stale_command", "region_not_found", "max_timestamp_not_synced",
              "undetermined_result", "not_leader", "epoch_not_match", "raft_entry_too_large",
              "read_index_not_ready", "region_not_initialized"]


class RegionError(Exception):
    def __init__(self, err):
        super().__init__(err.message)
        self.err = err


class StoreServer:
    """One store's gRPC server. State "up" serves; "down" has no server (the
    port refuses); "hang" accepts requests and answers none until revived
    (each call ends when its deadline passes)."""

    def __init__(self, cluster, sid, port=0):
        self.c = cluster
        self.id = sid
        self.port = port
        self.state = "down"
        self.server = None
        self.revived = threading.Event()
        self.faults = []        # [[kind, remaining, method or None]]
        self.delay_ms = {}      # method or "" -> ms

    def addr(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        import grpc
        srv = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=64), options=GRPC_OPTIONS)
        srv.add_generic_rpc_handlers((self._handler(),))
        port = bind(srv, self.c, self.port)
        if port == 0:
            raise RuntimeError("store %d cannot bind port %d" % (self.id, self.port))
        self.port = port
        srv.start()
        self.server = srv
        self.state = "up"
        self.revived.set()

    def stop(self):
        if self.server is not None:
            self.server.stop(grace=None).wait()
            self.server = None
        self.state = "down"

    def hang(self):
        self.revived.clear()
        self.state = "hang"

    def _handler(self):
        import grpc
        kv = self.c.pb.kvrpcpb
        h = {}
        for name, (rq, rs, space, write) in TIKV_METHODS.items():
            def fn(req, context, name=name, rs=getattr(kv, rs), space=space, write=write):
                return self.serve(name, req, context, rs, space, write)
            h[name] = grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=getattr(kv, rq).FromString,
                response_serializer=getattr(kv, rs).SerializeToString)
        return grpc.method_handlers_generic_handler("tikvpb.Tikv", h)

    # ---- request entry ----

    def serve(self, method, req, context, resp_type, space, write):
        import grpc
        c = self.c
        c.count(self.id, method)
        c.tick()
        if self.state == "hang":
            while not self.revived.is_set() and context.is_active():
                self.revived.wait(0.05)
            if not context.is_active():
                return resp_type()
        with c.mu:
            c.inflight[method] = c.inflight.get(method, 0) + 1
            c.max_inflight[method] = max(c.max_inflight.get(method, 0), c.inflight[method])
            delay = self.delay_ms.get(method, self.delay_ms.get("", 0))
        try:
            if delay:
                time.sleep(delay / 1000.0)
            resp = resp_type()
            if req.context.cluster_id and req.context.cluster_id != c.cluster_id:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "cluster id mismatch: request %d, cluster %d"
                              % (req.context.cluster_id, c.cluster_id))
            injected = self._injected(method)
            if injected == "unavailable":
                context.abort(grpc.StatusCode.UNAVAILABLE, "connection refused (injected, not applied)")
            try:
                region = self.route(method, req, space, write, injected)
                getattr(self, "do_" + method)(req, resp, region, space)
            except RegionError as e:
                resp.Clear()
                resp.region_error.CopyFrom(e.err)
            if injected == "lose_response":
                context.abort(grpc.StatusCode.UNAVAILABLE, "connection lost (injected, after applying)")
            return resp
        finally:
            with c.mu:
                c.inflight[method] -= 1

    def _rerr(self, msg):
        return self.c.pb.errorpb.Error(message=msg)

    def _injected(self, method):
        with self.c.mu:
            for f in self.faults:
                if f[1] > 0 and (f[2] is None or f[2] == method):
                    f[1] -= 1
                    kind = f[0]
                    self.faults = [x for x in self.faults if x[1] > 0]
                    return kind
        return None

    def route(self, method, req, space, write, injected=None):
        """The Context checks TiKV makes, in its order; returns the region."""
        c = self.c
        ctx = req.context
        with c.mu:
            r = c.region_by_id(ctx.region_id)
            if injected in INJECTABLE:
                raise RegionError(self._injected_error(injected, r, ctx))
            if ctx.api_version != 0:
                raise RegionError(self._rerr("ApiVersionNotMatched: the test cluster serves API V1 only"))
            if ctx.peer.store_id != self.id:
                e = self._rerr("store not match: request for store %d sent to store %d" % (ctx.peer.store_id, self.id))
                e.store_not_match.request_store_id = ctx.peer.store_id
                e.store_not_match.actual_store_id = self.id
                raise RegionError(e)
            if r is None:
                e = self._rerr("region %d not found" % ctx.region_id)
                e.region_not_found.region_id = ctx.region_id
                raise RegionError(e)
            if ctx.peer.id and ctx.peer.id != r.peers[self.id]:
                e = self._rerr("mismatch peer id %d != %d" % (ctx.peer.id, r.peers[self.id]))
                e.mismatch_peer_id.request_peer_id = ctx.peer.id
                e.mismatch_peer_id.store_peer_id = r.peers[self.id]
                raise RegionError(e)
            if r.leader != self.id:
                e = self._rerr("peer is not leader for region %d" % r.id)
                e.not_leader.region_id = r.id
                if not r.hide_leader:
                    e.not_leader.leader.CopyFrom(c.leader_pb(r))
                raise RegionError(e)
            if ctx.region_epoch.version != r.version:
                raise RegionError(self._epoch_error(r, ctx))
            if write and c.args.raft_entry_max and req.ByteSize() > c.args.raft_entry_max:
                e = self._rerr("raft entry is too large, region %d, entry size %d" % (r.id, req.ByteSize()))
                e.raft_entry_too_large.region_id = r.id
                e.raft_entry_too_large.entry_size = req.ByteSize()
                raise RegionError(e)
            for k in self.request_keys(method, req):
                stored = mc_encode_if(space, k)
                if not r.contains(stored):
                    raise RegionError(self._key_not_in_region(k, r))
            return r

    def _epoch_error(self, r, ctx):
        c = self.c
        e = self._rerr("epoch not match: request version %d, current %d" % (ctx.region_epoch.version, r.version))
        e.epoch_not_match.current_regions.append(c.region_pb(r))
        for x in c.regions:
            if r.id in x.ancestors:
                e.epoch_not_match.current_regions.append(c.region_pb(x))
        return e

    def _key_not_in_region(self, k, r):
        e = self._rerr("key %r is not in region %d" % (k, r.id))
        e.key_not_in_region.key = k
        e.key_not_in_region.region_id = r.id
        e.key_not_in_region.start_key = r.start
        e.key_not_in_region.end_key = r.end
        return e

    def _injected_error(self, kind, r, ctx):
        c = self.c
        e = self._rerr("%s (injected)" % kind)
        rid = ctx.region_id
        if kind == "server_is_busy":
            e.server_is_busy.reason = "injected"
        elif kind == "stale_command":
            e.stale_command.SetInParent()
        elif kind == "region_not_found":
            e.region_not_found.region_id = rid
        elif kind == "max_timestamp_not_synced":
            e.max_timestamp_not_synced.SetInParent()
        elif kind == "undetermined_result":
            e.undetermined_result.message = "injected"
        elif kind == "not_leader":
            e.not_leader.region_id = rid
            if r is not None:
                e.not_leader.leader.CopyFrom(c.leader_pb(r))
        elif kind == "epoch_not_match":
            if r is not None:
                e.epoch_not_match.current_regions.append(c.region_pb(r))
        elif kind == "raft_entry_too_large":
            e.raft_entry_too_large.region_id = rid
        elif kind == "read_index_not_ready":
            e.read_index_not_ready.region_id = rid
        elif kind == "region_not_initialized":
            e.region_not_initialized.region_id = rid
        return e

    @staticmethod
    def request_keys(method, req):
        """The point keys a request names (ranges are checked by the
        command itself)."""
        if method in ("KvGet", "KvCleanup", "RawGet", "RawPut", "RawDelete", "RawCompareAndSwap"):
            return [req.key]
        if method in ("KvBatchGet", "KvCommit", "KvBatchRollback", "KvCheckSecondaryLocks",
                      "KvResolveLock", "KVPessimisticRollback", "RawBatchGet", "RawBatchDelete"):
            return list(req.keys)
        if method in ("KvPrewrite", "KvPessimisticLock"):
            return [m.key for m in req.mutations]
        if method == "KvCheckTxnStatus":
            return [req.primary_key]
        if method == "KvTxnHeartBeat":
            return [req.primary_lock]
        if method == "RawBatchPut":
            return [p.key for p in req.pairs]
        return []

    # ---- ranges ----

    def _range(self, r, space, lo, hi, reverse):
        """User-key bounds (lo, hi or None) of a scan clamped to region r,
        plus a predicate that keeps keys inside r. Raises KeyNotInRegion when
        the scan's start lies outside r (reverse: start is the upper bound)."""
        enc = (lambda k: mc_encode(k)) if space == "txn" else (lambda k: k)
        if not reverse:
            if not r.contains(enc(lo)):
                raise RegionError(self._key_not_in_region(lo, r))
            upper = hi if hi else None
            lower = lo
        else:
            upper = lo if lo else None
            ok = (r.end == b"") if upper is None else \
                (enc(upper) > r.start and (r.end == b"" or enc(upper) <= r.end))
            if not ok:
                raise RegionError(self._key_not_in_region(lo, r))
            lower = hi
        return lower, upper, (lambda k: r.contains(enc(k)))

    # ---- helpers to fill responses ----

    def lock_info(self, lock, key):
        li = self.c.pb.kvrpcpb.LockInfo(
            primary_lock=lock.primary, lock_version=lock.start_ts, key=key, lock_ttl=lock.ttl,
            txn_size=lock.txn_size, lock_type=lock.op, lock_for_update_ts=lock.for_update_ts,
            use_async_commit=lock.use_async_commit, min_commit_ts=lock.min_commit_ts)
        li.secondaries.extend(lock.secondaries)
        return li

    def key_error(self, e):
        kv = self.c.pb.kvrpcpb
        ke = kv.KeyError()
        f = e.fields
        if e.kind == "locked":
            ke.locked.CopyFrom(self.lock_info(f["lock"], f["key"]))
        elif e.kind == "conflict":
            ke.conflict.CopyFrom(kv.WriteConflict(**f))
            ke.retryable = "WriteConflict { start_ts: %d, conflict_start_ts: %d, conflict_commit_ts: %d }" % (
                f["start_ts"], f["conflict_ts"], f["conflict_commit_ts"])
        elif e.kind == "already_exist":
            ke.already_exist.key = f["key"]
        elif e.kind == "deadlock":
            ke.deadlock.CopyFrom(kv.Deadlock(**f))
        elif e.kind == "commit_ts_expired":
            ke.commit_ts_expired.CopyFrom(kv.CommitTsExpired(**f))
        elif e.kind == "txn_not_found":
            ke.txn_not_found.CopyFrom(kv.TxnNotFound(**f))
        elif e.kind == "primary_mismatch":
            ke.primary_mismatch.lock_info.CopyFrom(self.lock_info(f["lock"], e.key))
        elif e.kind == "txn_lock_not_found":
            ke.txn_lock_not_found.key = f["key"]
            ke.retryable = "TxnLockNotFound { key: %r }" % f["key"]
        elif e.kind == "abort":
            ke.abort = f["abort"]
        else:
            ke.abort = e.kind
        return ke

    @staticmethod
    def read_opts(ctx):
        return dict(bypass=set(ctx.resolved_locks), access=set(ctx.committed_locks),
                    rc=ctx.isolation_level == 1)

    # ---- transactional commands ----

    def do_KvGet(self, req, resp, r, space):
        try:
            v, cts = self.c.db.get(req.key, req.version, **self.read_opts(req.context))
        except self.c.mvcc.KeyErr as e:
            resp.error.CopyFrom(self.key_error(e))
            return
        if v is None:
            resp.not_found = True
        else:
            resp.value = v
            if req.need_commit_ts:
                resp.commit_ts = cts

    def do_KvBatchGet(self, req, resp, r, space):
        for k, v, cts, err in self.c.db.batch_get(list(req.keys), req.version, **self.read_opts(req.context)):
            p = resp.pairs.add(key=k)
            if err is not None:
                p.error.CopyFrom(self.key_error(err))
            else:
                p.value = v
                if req.need_commit_ts:
                    p.commit_ts = cts

    def do_KvScan(self, req, resp, r, space):
        lo, hi, pred = self._range(r, space, req.start_key, req.end_key, req.reverse)
        for k, v, cts, err in self.c.db.scan(lo, hi, req.limit, req.version, req.reverse,
                                             req.key_only, pred=pred, **self.read_opts(req.context)):
            p = resp.pairs.add(key=k)
            if err is not None:
                p.error.CopyFrom(self.key_error(err))
            else:
                p.value = v

    def do_KvPrewrite(self, req, resp, r, space):
        muts = [(m.op, m.key, m.value) for m in req.mutations]
        errors, min_cts, one_pc = self.c.db.prewrite(
            muts, req.primary_lock, req.start_version, req.lock_ttl, req.for_update_ts,
            list(req.pessimistic_actions), req.txn_size, req.min_commit_ts, req.use_async_commit,
            list(req.secondaries), req.try_one_pc, req.max_commit_ts, req.skip_constraint_check,
            req.context.is_retry_request)
        for e in errors:
            resp.errors.append(self.key_error(e))
        resp.min_commit_ts = min_cts
        resp.one_pc_commit_ts = one_pc

    def do_KvCommit(self, req, resp, r, space):
        e = self.c.db.commit(list(req.keys), req.start_version, req.commit_version)
        if e is not None:
            resp.error.CopyFrom(self.key_error(e))
        else:
            resp.commit_version = req.commit_version

    def do_KvCleanup(self, req, resp, r, space):
        e, cts = self.c.db.cleanup(req.key, req.start_version, req.current_ts)
        if e is not None:
            resp.error.CopyFrom(self.key_error(e))
        resp.commit_version = cts

    def do_KvBatchRollback(self, req, resp, r, space):
        e = self.c.db.batch_rollback(list(req.keys), req.start_version)
        if e is not None:
            resp.error.CopyFrom(self.key_error(e))

    def do_KvCheckTxnStatus(self, req, resp, r, space):
        e, ttl, cts, action, lock = self.c.db.check_txn_status(
            req.primary_key, req.lock_ts, req.caller_start_ts, req.current_ts,
            req.rollback_if_not_exist, req.force_sync_commit, req.resolving_pessimistic_lock,
            req.verify_is_primary)
        if e is not None:
            resp.error.CopyFrom(self.key_error(e))
            return
        resp.lock_ttl = ttl
        resp.commit_version = cts
        resp.action = action
        if lock is not None:
            resp.lock_info.CopyFrom(self.lock_info(lock, req.primary_key))

    def do_KvCheckSecondaryLocks(self, req, resp, r, space):
        locks, cts = self.c.db.check_secondary_locks(list(req.keys), req.start_version)
        for key, lock in locks:
            resp.locks.append(self.lock_info(lock, key))
        resp.commit_ts = cts

    def do_KvResolveLock(self, req, resp, r, space):
        if req.txn_infos:
            status = {t.txn: t.status for t in req.txn_infos}
        else:
            status = {req.start_version: req.commit_version}
        keys = list(req.keys) if req.keys else None
        e = self.c.db.resolve_lock(status, keys, pred=lambda k: r.contains(mc_encode(k)))
        if e is not None:
            resp.error.CopyFrom(self.key_error(e))

    def do_KvTxnHeartBeat(self, req, resp, r, space):
        e, ttl = self.c.db.txn_heart_beat(req.primary_lock, req.start_version, req.advise_lock_ttl,
                                          req.min_commit_ts)
        if e is not None:
            resp.error.CopyFrom(self.key_error(e))
        resp.lock_ttl = ttl

    def do_KvPessimisticLock(self, req, resp, r, space):
        errors, values, not_founds = self.c.db.pessimistic_lock(
            [m.key for m in req.mutations], req.primary_lock, req.start_version, req.lock_ttl,
            req.for_update_ts, req.wait_timeout, req.return_values, req.check_existence,
            req.lock_only_if_exists, req.min_commit_ts)
        for e in errors:
            resp.errors.append(self.key_error(e))
        resp.values.extend(values)
        resp.not_founds.extend(not_founds)

    def do_KVPessimisticRollback(self, req, resp, r, space):
        self.c.db.pessimistic_rollback(list(req.keys), req.start_version, req.for_update_ts,
                                       pred=lambda k: r.contains(mc_encode(k)))

    def _check_range_end(self, r, space, end):
        """A delete range must end inside its region (the client splits it)."""
        if r.end == b"":
            return
        if end == b"" or mc_encode_if(space, end) > r.end:
            raise RegionError(self._key_not_in_region(end, r))

    def do_KvDeleteRange(self, req, resp, r, space):
        lo, hi, pred = self._range(r, space, req.start_key, req.end_key, False)
        self._check_range_end(r, space, req.end_key)
        if not req.notify_only:
            self.c.db.delete_range(lo, hi, pred)

    # ---- RawKV ----

    @staticmethod
    def _raw_cf_error(req, resp):
        if req.cf not in ("", "default"):
            resp.error = "the test cluster serves the default column family only, not %r" % req.cf
            return True
        return False

    def do_RawGet(self, req, resp, r, space):
        if self._raw_cf_error(req, resp):
            return
        v = self.c.db.raw_get(req.key)
        if v is None:
            resp.not_found = True
        else:
            resp.value = v

    def do_RawBatchGet(self, req, resp, r, space):
        if req.cf not in ("", "default"):
            return
        for k, v in self.c.db.raw_batch_get(list(req.keys)):
            resp.pairs.add(key=k, value=v)

    def _raw_for_cas(self, method, req):
        """TiKV makes RawCompareAndSwap atomic only against raw writes sent
        with for_cas; the test cluster serialises every raw write anyway,
        and counts the writes without it as "<method>/no_for_cas"."""
        if not req.for_cas:
            self.c.count(self.id, method + "/no_for_cas")

    def do_RawPut(self, req, resp, r, space):
        self._raw_for_cas("RawPut", req)
        if self._raw_cf_error(req, resp):
            return
        if req.ttl:
            resp.error = "TTL is not enabled (API V1)"
            return
        self.c.db.raw_put([(req.key, req.value)])

    def do_RawBatchPut(self, req, resp, r, space):
        self._raw_for_cas("RawBatchPut", req)
        if self._raw_cf_error(req, resp):
            return
        if req.ttl or any(req.ttls):
            resp.error = "TTL is not enabled (API V1)"
            return
        self.c.db.raw_put([(p.key, p.value) for p in req.pairs])

    def do_RawDelete(self, req, resp, r, space):
        self._raw_for_cas("RawDelete", req)
        if not self._raw_cf_error(req, resp):
            self.c.db.raw_delete([req.key])

    def do_RawBatchDelete(self, req, resp, r, space):
        self._raw_for_cas("RawBatchDelete", req)
        if not self._raw_cf_error(req, resp):
            self.c.db.raw_delete(list(req.keys))

    def do_RawScan(self, req, resp, r, space):
        if req.cf not in ("", "default"):
            return
        lo, hi, pred = self._range(r, space, req.start_key, req.end_key, req.reverse)
        for k, v in self.c.db.raw_scan(lo, hi, req.limit, req.reverse, req.key_only, pred):
            resp.kvs.add(key=k, value=v)

    def do_RawDeleteRange(self, req, resp, r, space):
        if self._raw_cf_error(req, resp):
            return
        lo, hi, pred = self._range(r, space, req.start_key, req.end_key, False)
        self._check_range_end(r, space, req.end_key)
        self.c.db.raw_delete_range(lo, hi)

    def do_RawCompareAndSwap(self, req, resp, r, space):
        """Compare the key's state with previous_not_exist / previous_value
        and, on a match, write value (or delete, with `delete`), atomically
        with every other raw write; the previous state is returned either
        way."""
        if self._raw_cf_error(req, resp):
            return
        if req.ttl:
            resp.error = "TTL is not enabled (API V1)"
            return
        ok, prev = self.c.db.raw_cas(req.key, req.previous_not_exist, req.previous_value,
                                     req.value, getattr(req, "delete"))
        resp.succeed = ok
        if prev is None:
            resp.previous_not_exist = True
        else:
            resp.previous_value = prev


def mc_encode_if(space, k):
    return mc_encode(k) if space == "txn" else k


# ---------------------------------------------------------------------------
# Control port


class Control:
    """HTTP/JSON control of the cluster. GET or POST /<command>; arguments
    in the query string or as a JSON object body; the answer is a JSON
    object, with "error" on failure (HTTP 400). Keys are given as "key"
    (a UTF-8 string) or "key_hex", in the space "space" ("txn", the default
    unless started with --key-mode raw, or "raw"). Commands that change the
    topology take "after": N to run when the N-th next store request
    arrives, before it is served (a split or leader move in the middle of an
    operation; with 1 the very next request meets it).

      status                          PD address, stores, regions
      counters                        requests per store and method, PD calls, TSO
      reset                           zero the counters
      split       key                 split the region holding key at key
      leader      region_id|key [store_id] [hint]
                                      move the leader (default: next store);
                                      hint=false: NotLeader carries no leader
      busy        store_id count      ServerIsBusy for the next count requests
      inject      error count [store_id] [method]
                                      the region error `error` (INJECTABLE), or
                                      a transport fault: "unavailable" (fails,
                                      not applied) or "lose_response" (applied,
                                      then fails with UNAVAILABLE)
      clear_faults                    forget every injected fault not used yet
      delay       ms [store_id] [method]   sleep before serving
      drop        store_id            restart the store's gRPC server (drops
                                      its connections)
      kill        store_id [mode]     mode "down" (default: the port refuses)
                                      or "hang" (calls never answer)
      revive      store_id            bring a killed store back, same port
      pd_leader   [member]            make PD member `member` (default: the next)
                                      the leader; the others answer every call
                                      but GetMembers with UNAVAILABLE "not leader"
      pd_kill     member              stop PD member `member` (its port refuses);
                                      if it led, the next running member leads
      pd_revive   member              start it again on the same port
      pd_fail     count               the next count PD calls fail UNAVAILABLE
      clock       advance_ms          move PD's clock forward (expires TTLs)
      region      key                 the region holding key (id, bounds, leader)
      locks                           every lock held
      key         key                 a key's lock and write records
    """

    def __init__(self, cluster, space):
        self.c = cluster
        self.space = space

    def _key(self, a):
        if "key_hex" in a:
            k = bytes.fromhex(a["key_hex"])
        elif "key" in a:
            k = a["key"].encode()
        else:
            raise CtlError("missing key or key_hex")
        return k, a.get("space", self.space)

    def _store(self, a, required=True):
        sid = int(a.get("store_id", 0))
        if sid == 0 and not required:
            return None
        if sid not in self.c.stores:
            raise CtlError("no store %d" % sid)
        return self.c.stores[sid]

    def _later(self, a, fn):
        n = int(a.get("after", 0))
        if n <= 0:
            return fn()
        with self.c.mu:
            self.c.pending.append([n, fn])
        return {"scheduled_after": n}

    def run(self, cmd, a):
        c = self.c
        if cmd == "status":
            with c.mu:
                return {"pd": pd_endpoints(c), "pd_leader": c.pd_leader, "cluster_id": c.cluster_id,
                        "stores": [{"id": s.id, "addr": s.addr(), "state": s.state}
                                   for s in c.stores.values()],
                        "regions": [region_json(r) for r in c.regions]}
        if cmd == "counters":
            with c.mu:
                stores = {}
                pd = {}
                for (who, m), n in c.counts.items():
                    if who == "pd":
                        pd[m] = n
                    else:
                        stores.setdefault(str(who), {})[m] = n
                return {"stores": stores, "pd": pd, "tso_requests": c.tso_requests,
                        "tso_timestamps": c.tso_timestamps, "max_inflight": dict(c.max_inflight)}
        if cmd == "reset":
            c.reset_counters()
            return {}
        if cmd == "split":
            k, space = self._key(a)

            def do():
                left, right = c.split(Cluster._stored_key(k, space))
                return {"left": region_json(left), "right": region_json(right)}
            return self._later(a, do)
        if cmd == "leader":
            with c.mu:
                if "region_id" in a:
                    r = c.region_by_id(int(a["region_id"]))
                else:
                    k, space = self._key(a)
                    r = c.region_for(Cluster._stored_key(k, space))
            if r is None:
                raise CtlError("no such region")
            sid = int(a["store_id"]) if "store_id" in a else None
            hint = str(a.get("hint", "true")).lower() not in ("false", "0", "no")

            def do():
                c.move_leader(r, sid, hint)
                return region_json(r)
            return self._later(a, do)
        if cmd in ("busy", "inject"):
            kind = "server_is_busy" if cmd == "busy" else a.get("error", "")
            if kind not in INJECTABLE + TRANSPORT_FAULTS:
                raise CtlError("unknown error %r; one of %s" % (kind, ", ".join(INJECTABLE + TRANSPORT_FAULTS)))
            n = int(a.get("count", 1))
            targets = [self._store(a)] if cmd == "busy" or int(a.get("store_id", 0)) else list(c.stores.values())
            with c.mu:
                for s in targets:
                    s.faults.append([kind, n, a.get("method")])
            return {}
        if cmd == "clear_faults":
            with c.mu:
                for s in c.stores.values():
                    s.faults = []
            return {}
        if cmd == "delay":
            st = self._store(a, required=False)
            with c.mu:
                for s in ([st] if st else c.stores.values()):
                    s.delay_ms[a.get("method", "")] = int(a.get("ms", 0))
            return {}
        if cmd == "drop":
            s = self._store(a)
            if s.state == "up":
                s.stop()
                s.start()
            return {"state": s.state}
        if cmd == "kill":
            s = self._store(a)
            if a.get("mode", "down") == "hang":
                if s.state == "down":
                    s.start()
                s.hang()
            else:
                s.stop()
            return {"state": s.state}
        if cmd == "revive":
            s = self._store(a)
            if s.state == "down":
                s.start()
            s.state = "up"
            s.revived.set()
            return {"state": s.state}
        if cmd == "pd_leader":
            m = int(a.get("member", (c.pd_leader + 1) % len(c.pds)))
            if not 0 <= m < len(c.pds):
                raise CtlError("no PD member %d" % m)
            with c.mu:
                c.pd_leader = m
            return {"pd_leader": m}
        if cmd in ("pd_kill", "pd_revive"):
            m = int(a.get("member", -1))
            if not 0 <= m < len(c.pds):
                raise CtlError("no PD member %d" % m)
            pd = c.pds[m]
            if cmd == "pd_revive":
                if pd.server is None:
                    pd.start()
                return {"pd_leader": c.pd_leader}
            pd.stop()
            with c.mu:
                live = [p.index for p in c.pds if p.server is not None]
                if c.pd_leader == m and live:
                    # an election among the members still running
                    c.pd_leader = next((i for i in live if i > m), live[0])
                return {"pd_leader": c.pd_leader}
        if cmd == "pd_fail":
            with c.mu:
                c.pd_fail = int(a.get("count", 1))
            return {}
        if cmd == "clock":
            with c.mu:
                c.clock_offset_ms += int(a.get("advance_ms", 0))
                return {"offset_ms": c.clock_offset_ms}
        if cmd == "region":
            k, space = self._key(a)
            with c.mu:
                r = c.region_for(Cluster._stored_key(k, space))
                return region_json(r)
        if cmd == "locks":
            return {"locks": [{"key_hex": k.hex(), "start_ts": lk.start_ts, "primary_hex": lk.primary.hex(),
                               "op": lk.op, "ttl": lk.ttl, "use_async_commit": lk.use_async_commit}
                              for k, lk in c.db.all_locks()]}
        if cmd == "key":
            k, _ = self._key(a)
            return c.db.key_info(k)
        raise CtlError("unknown command %r" % cmd)

    def serve(self):
        ctl = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def _do(self):
                u = urllib.parse.urlparse(self.path)
                args = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query).items()}
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    try:
                        body = json.loads(self.rfile.read(n) or b"{}")
                        if isinstance(body, dict):
                            args.update(body)
                    except ValueError:
                        return self._send(400, {"error": "body is not JSON"})
                try:
                    out = ctl.run(u.path.strip("/"), args)
                    self._send(200, out if out is not None else {})
                except (CtlError, ValueError, KeyError, TypeError) as e:
                    self._send(400, {"error": str(e)})
                except Exception as e:  # a failed restart: report, keep serving
                    self._send(500, {"error": "%s: %s" % (type(e).__name__, e)})

            def _send(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _do
            do_POST = _do

            def log_message(self, *a):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        return srv


def bind(srv, c, port):
    """Listen on 127.0.0.1:port (0: a free one), with TLS when the cluster
    has a certificate; returns the port, 0 if it cannot bind."""
    if c.tls is None:
        return srv.add_insecure_port("127.0.0.1:%d" % port)
    import grpc
    return srv.add_secure_port("127.0.0.1:%d" % port, grpc.ssl_server_credentials([c.tls]))


def make_tls(dirname):
    """A CA and a server certificate for 127.0.0.1 / localhost, made with
    the openssl command. Returns (ca path, (key, cert chain))."""
    os.makedirs(dirname, exist_ok=True)
    f = lambda n: os.path.join(dirname, n)  # noqa: E731
    run = lambda *a: subprocess.run(["openssl"] + list(a), check=True,  # noqa: E731
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=orbit test CA",
        "-keyout", f("ca.key"), "-out", f("ca.pem"))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", f("server.key"), "-out", f("server.csr"))
    with open(f("ext.cnf"), "w") as e:
        e.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", f("server.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"),
        "-CAcreateserial", "-days", "2", "-extfile", f("ext.cnf"), "-out", f("server.pem"))
    with open(f("server.key"), "rb") as k, open(f("server.pem"), "rb") as c:
        return f("ca.pem"), (k.read(), c.read())


def pd_endpoints(c):
    return ",".join("127.0.0.1:%d" % p.port for p in c.pds)


def region_json(r):
    return {"id": r.id, "start_hex": r.start.hex(), "end_hex": r.end.hex(),
            "start_key_hex": (mc_decode(r.start) or b"").hex() if r.start else "",
            "end_key_hex": (mc_decode(r.end) or b"").hex() if r.end else "",
            "version": r.version, "conf_ver": r.conf_ver, "leader": r.leader,
            "peers": {str(s): p for s, p in r.peers.items()}}


def parse_args(argv):
    p = argparse.ArgumentParser(description="The PD/TiKV test cluster (a test fixture).")
    p.add_argument("--stores", type=int, default=3)
    p.add_argument("--pd", type=int, default=1, help="PD members (member 0 leads first)")
    p.add_argument("--split", default="", help="comma-separated split keys (UTF-8)")
    p.add_argument("--split-hex", default="", help="comma-separated split keys in hex")
    p.add_argument("--key-mode", choices=["txn", "raw"], default="txn",
                   help="split keys are transactional (memcomparable-encoded) or raw keys")
    p.add_argument("--cluster-id", type=int, default=7030000000000000001)
    p.add_argument("--lock-wait-ms", type=int, default=300,
                   help="pessimistic lock wait when a request's wait_timeout is 0")
    p.add_argument("--raft-entry-max", type=int, default=8 << 20,
                   help="write requests larger than this get RaftEntryTooLarge (0: no limit)")
    p.add_argument("--ready-file", default="")
    p.add_argument("--gen-dir", default=None, help="where to put the generated Python modules")
    p.add_argument("--tls", action="store_true",
                   help="serve TLS (a fresh CA and certificate for 127.0.0.1, via openssl; "
                        "the ready file names the CA)")
    a = p.parse_args(argv)
    keys = [k.encode() for k in a.split.split(",") if k] + \
           [bytes.fromhex(k) for k in a.split_hex.split(",") if k]
    a.split = keys
    if a.stores < 1 or a.stores > 16:
        p.error("--stores must be 1..16")
    if a.pd < 1 or a.pd > 5:
        p.error("--pd must be 1..5")
    return a


def main(argv):
    args = parse_args(argv)
    sys.path.insert(0, HERE)
    pb = load_protos(args.gen_dir)
    import grpc
    c = Cluster(pb, args)
    if args.tls:
        c.ca_file, c.tls = make_tls(os.path.join(pb.gen_dir, "tls"))
    for i in range(args.pd):
        pd = PdService(c, i)
        pd.start()
        c.pds.append(pd)
    for sid in c.store_ids:
        s = StoreServer(c, sid)
        s.start()
        c.stores[sid] = s
    ctl = Control(c, args.key_mode).serve()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("pid %d\npd %s\ncontrol %d\ncluster_id %d\n" %
                    (os.getpid(), pd_endpoints(c), ctl.server_address[1], c.cluster_id))
            for sid in c.store_ids:
                f.write("store %d %s\n" % (sid, c.stores[sid].addr()))
            if c.ca_file:
                f.write("ca %s\n" % c.ca_file)
        os.rename(tmp, args.ready_file)
    print("ready pd=%s control=%d" % (pd_endpoints(c), ctl.server_address[1]), flush=True)
    while not stop.wait(0.5):
        pass
    for s in c.stores.values():
        s.stop()
    for pd in c.pds:
        pd.stop()
    ctl.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
