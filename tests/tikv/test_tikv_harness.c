/*
 * The C side of the PD/TiKV test cluster: tikv_harness starts it and drives
 * its faults and counters, and the protoc-c messages of proto/ (pdpb,
 * kvrpcpb, errorpb) go through Orbit's gRPC transport (src/rpc) to it and
 * back: GetMembers, GetRegion, a 2PC write and a snapshot read, and the
 * region errors each fault produces. With ORBIT_TEST_TIKV_PD naming a real
 * cluster only the fault-free cases run (the rest are skipped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kvrpcpb.pb-c.h"
#include "orbit/error.h"
#include "pdpb.pb-c.h"
#include "rpc/rpc.h"
#include "tikv_harness.h"

static th_cluster cl;
static orbit__rpc *pd_rpc;
static uint64_t cluster_id;

static int group_setup(void **state)
{
    (void)state;
    th_options o = {.stores = 3, .split = "b,m", .tie = 1};
    if (th_start(&cl, &o) != 0)
        return -1;
    orbit__rpc_config cfg = {th_pd(&cl), NULL, 0, 0, 2000};
    return orbit__rpc_open(&cfg, &pd_rpc) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    orbit__rpc_close(pd_rpc);
    th_stop(&cl);
    return 0;
}

/* Pack msg with its descriptor's pack function into a fresh buffer. */
#define PACK(fn, msg, out, outlen)                                                                           \
    do {                                                                                                     \
        *(outlen) = fn##__get_packed_size(msg);                                                              \
        *(out) = malloc(*(outlen) + 1);                                                                      \
        assert_non_null(*(out));                                                                             \
        fn##__pack(msg, *(out));                                                                             \
    } while (0)

static int call(orbit__rpc *r, const char *method, const uint8_t *req, size_t len, orbit_buf *resp)
{
    orbit__rpc_call_opts o = {3000, 0, 0, 0};
    return orbit__rpc_call(r, method, req, len, &o, resp);
}

static void test_members(void **state)
{
    (void)state;
    Pdpb__GetMembersRequest rq = PDPB__GET_MEMBERS_REQUEST__INIT;
    uint8_t *b;
    size_t n;
    PACK(pdpb__get_members_request, &rq, &b, &n);
    orbit_buf resp = ORBIT_BUF_INIT;
    assert_int_equal(call(pd_rpc, "/pdpb.PD/GetMembers", b, n, &resp), 0);
    free(b);
    Pdpb__GetMembersResponse *m = pdpb__get_members_response__unpack(NULL, resp.len, resp.data);
    assert_non_null(m);
    assert_non_null(m->header);
    assert_non_null(m->leader);
    assert_true(m->leader->n_client_urls >= 1);
    cluster_id = m->header->cluster_id;
    if (!cl.external) {
        assert_int_equal(cluster_id, cl.cluster_id);
        char url[600];
        snprintf(url, sizeof url, "http://%s", th_pd(&cl));
        assert_string_equal(m->leader->client_urls[0], url);
    }
    pdpb__get_members_response__free_unpacked(m, NULL);
    orbit_buf_release(&resp);
}

/* memcomparable encoding of a short key (< 8 bytes): one padded group. */
static size_t mc_encode(const char *k, uint8_t out[9])
{
    size_t n = strlen(k);
    memset(out, 0, 9);
    memcpy(out, k, n);
    out[8] = (uint8_t)(0xFF - (8 - n));
    return 9;
}

typedef struct located {
    uint64_t region_id, version, conf_ver, peer_id, store_id;
    char addr[64];
} located;

static void locate(const char *key, located *loc)
{
    if (!cluster_id)
        test_members(NULL);
    uint8_t enc[9];
    Pdpb__RequestHeader h = PDPB__REQUEST_HEADER__INIT;
    h.cluster_id = cluster_id;
    Pdpb__GetRegionRequest rq = PDPB__GET_REGION_REQUEST__INIT;
    rq.header = &h;
    rq.region_key.len = mc_encode(key, enc);
    rq.region_key.data = enc;
    uint8_t *b;
    size_t n;
    PACK(pdpb__get_region_request, &rq, &b, &n);
    orbit_buf resp = ORBIT_BUF_INIT;
    assert_int_equal(call(pd_rpc, "/pdpb.PD/GetRegion", b, n, &resp), 0);
    free(b);
    Pdpb__GetRegionResponse *r = pdpb__get_region_response__unpack(NULL, resp.len, resp.data);
    assert_non_null(r);
    assert_non_null(r->region);
    assert_non_null(r->leader);
    loc->region_id = r->region->id;
    loc->version = r->region->region_epoch->version;
    loc->conf_ver = r->region->region_epoch->conf_ver;
    loc->peer_id = r->leader->id;
    loc->store_id = r->leader->store_id;
    pdpb__get_region_response__free_unpacked(r, NULL);
    orbit_buf_release(&resp);

    Pdpb__GetStoreRequest sq = PDPB__GET_STORE_REQUEST__INIT;
    sq.header = &h;
    sq.store_id = loc->store_id;
    PACK(pdpb__get_store_request, &sq, &b, &n);
    assert_int_equal(call(pd_rpc, "/pdpb.PD/GetStore", b, n, &resp), 0);
    free(b);
    Pdpb__GetStoreResponse *s = pdpb__get_store_response__unpack(NULL, resp.len, resp.data);
    assert_non_null(s);
    assert_non_null(s->store);
    snprintf(loc->addr, sizeof loc->addr, "%s", s->store->address);
    pdpb__get_store_response__free_unpacked(s, NULL);
    orbit_buf_release(&resp);
}

static uint64_t tso(void)
{
    /* A unary stand-in is not possible for a bidi stream; the transport
     * here is unary, so take the physical clock as PD does. The cluster's
     * own TSO is tested by test_cluster.py. Timestamps only need to grow. */
    static uint64_t last;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t t = ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) << 18;
    if (t <= last)
        t = last + 1;
    return last = t;
}

static void fill_ctx(Kvrpcpb__Context *ctx, Metapb__RegionEpoch *ep, Metapb__Peer *peer, const located *loc)
{
    ep->version = loc->version;
    ep->conf_ver = loc->conf_ver;
    peer->id = loc->peer_id;
    peer->store_id = loc->store_id;
    ctx->region_id = loc->region_id;
    ctx->region_epoch = ep;
    ctx->peer = peer;
}

/* KvGet of key at ts on the store at loc; returns the unpacked response
 * (caller frees) or NULL if the call failed (*rc says how). */
static Kvrpcpb__GetResponse *kv_get(const located *loc, const char *key, uint64_t ts, int *rc)
{
    orbit__rpc *r;
    orbit__rpc_config cfg = {loc->addr, NULL, 0, 0, 1000};
    assert_int_equal(orbit__rpc_open(&cfg, &r), 0);
    Kvrpcpb__Context ctx = KVRPCPB__CONTEXT__INIT;
    Metapb__RegionEpoch ep = METAPB__REGION_EPOCH__INIT;
    Metapb__Peer peer = METAPB__PEER__INIT;
    fill_ctx(&ctx, &ep, &peer, loc);
    Kvrpcpb__GetRequest rq = KVRPCPB__GET_REQUEST__INIT;
    rq.context = &ctx;
    rq.key.data = (uint8_t *)key;
    rq.key.len = strlen(key);
    rq.version = ts;
    uint8_t *b;
    size_t n;
    PACK(kvrpcpb__get_request, &rq, &b, &n);
    orbit_buf resp = ORBIT_BUF_INIT;
    orbit__rpc_call_opts o = {1500, 0, 0, 0};
    *rc = orbit__rpc_call(r, "/tikvpb.Tikv/KvGet", b, n, &o, &resp);
    free(b);
    Kvrpcpb__GetResponse *g = NULL;
    if (*rc == 0) {
        g = kvrpcpb__get_response__unpack(NULL, resp.len, resp.data);
        assert_non_null(g);
    }
    orbit_buf_release(&resp);
    orbit__rpc_close(r);
    return g;
}

static void test_2pc_through_c_messages(void **state)
{
    (void)state;
    if (cl.external)
        skip(); /* would write into a real cluster's keyspace */
    located loc;
    locate("c", &loc);
    orbit__rpc *r;
    orbit__rpc_config cfg = {loc.addr, NULL, 0, 0, 1000};
    assert_int_equal(orbit__rpc_open(&cfg, &r), 0);
    Kvrpcpb__Context ctx = KVRPCPB__CONTEXT__INIT;
    Metapb__RegionEpoch ep = METAPB__REGION_EPOCH__INIT;
    Metapb__Peer peer = METAPB__PEER__INIT;
    fill_ctx(&ctx, &ep, &peer, &loc);
    uint64_t start = tso();

    Kvrpcpb__Mutation mu = KVRPCPB__MUTATION__INIT, *mus[1] = {&mu};
    mu.op = KVRPCPB__OP__Put;
    mu.key.data = (uint8_t *)"c1";
    mu.key.len = 2;
    mu.value.data = (uint8_t *)"hello";
    mu.value.len = 5;
    Kvrpcpb__PrewriteRequest pw = KVRPCPB__PREWRITE_REQUEST__INIT;
    pw.context = &ctx;
    pw.n_mutations = 1;
    pw.mutations = mus;
    pw.primary_lock = mu.key;
    pw.start_version = start;
    pw.lock_ttl = 3000;
    pw.min_commit_ts = start + 1;
    uint8_t *b;
    size_t n;
    PACK(kvrpcpb__prewrite_request, &pw, &b, &n);
    orbit_buf resp = ORBIT_BUF_INIT;
    assert_int_equal(call(r, "/tikvpb.Tikv/KvPrewrite", b, n, &resp), 0);
    free(b);
    Kvrpcpb__PrewriteResponse *pr = kvrpcpb__prewrite_response__unpack(NULL, resp.len, resp.data);
    assert_non_null(pr);
    assert_null(pr->region_error);
    assert_int_equal(pr->n_errors, 0);
    kvrpcpb__prewrite_response__free_unpacked(pr, NULL);
    assert_int_equal(th_locks(&cl, "c1", 2), 1);

    /* A reader meets the lock. */
    int rc;
    Kvrpcpb__GetResponse *g = kv_get(&loc, "c1", tso(), &rc);
    assert_non_null(g);
    assert_non_null(g->error);
    assert_non_null(g->error->locked);
    assert_int_equal(g->error->locked->lock_version, start);
    kvrpcpb__get_response__free_unpacked(g, NULL);

    ProtobufCBinaryData keys[1] = {mu.key};
    Kvrpcpb__CommitRequest cm = KVRPCPB__COMMIT_REQUEST__INIT;
    cm.context = &ctx;
    cm.start_version = start;
    cm.n_keys = 1;
    cm.keys = keys;
    uint64_t commit = tso();
    cm.commit_version = commit;
    PACK(kvrpcpb__commit_request, &cm, &b, &n);
    assert_int_equal(call(r, "/tikvpb.Tikv/KvCommit", b, n, &resp), 0);
    free(b);
    Kvrpcpb__CommitResponse *cr = kvrpcpb__commit_response__unpack(NULL, resp.len, resp.data);
    assert_non_null(cr);
    assert_null(cr->region_error);
    assert_null(cr->error);
    kvrpcpb__commit_response__free_unpacked(cr, NULL);
    orbit_buf_release(&resp);
    orbit__rpc_close(r);
    assert_int_equal(th_locks(&cl, "c1", 2), 0);

    assert_int_equal(th_reset_counters(&cl), 0);
    g = kv_get(&loc, "c1", tso(), &rc);
    assert_non_null(g);
    assert_null(g->error);
    assert_int_equal(g->value.len, 5);
    assert_memory_equal(g->value.data, "hello", 5);
    kvrpcpb__get_response__free_unpacked(g, NULL);
    g = kv_get(&loc, "c1", commit - 1, &rc);
    assert_true(g->not_found);
    kvrpcpb__get_response__free_unpacked(g, NULL);
    assert_int_equal(th_counter(&cl, loc.store_id, "KvGet"), 2);
    assert_int_equal(th_counter(&cl, 0, NULL), 2);
    assert_int_equal(th_max_inflight(&cl, "KvGet"), 1);
}

static void test_faults_as_region_errors(void **state)
{
    (void)state;
    if (!th_has_faults(&cl)) {
        assert_int_equal(th_busy(&cl, 1, 1), TH_UNAVAILABLE);
        skip();
    }
    located loc;
    locate("d", &loc);
    assert_int_equal(th_leader_of(&cl, "d", 1, NULL), loc.store_id);

    /* ServerIsBusy for the next request only. */
    assert_int_equal(th_busy(&cl, loc.store_id, 1), 0);
    int rc;
    Kvrpcpb__GetResponse *g = kv_get(&loc, "d", tso(), &rc);
    assert_non_null(g);
    assert_non_null(g->region_error);
    assert_non_null(g->region_error->server_is_busy);
    kvrpcpb__get_response__free_unpacked(g, NULL);
    g = kv_get(&loc, "d", tso(), &rc);
    assert_null(g->region_error);
    kvrpcpb__get_response__free_unpacked(g, NULL);

    /* A leader move: the old leader answers NotLeader naming the new one. */
    assert_int_equal(th_move_leader(&cl, "d", 1, NULL, 0, 1, 0), 0);
    uint64_t now = th_leader_of(&cl, "d", 1, NULL);
    assert_true(now != 0 && now != loc.store_id);
    g = kv_get(&loc, "d", tso(), &rc);
    assert_non_null(g->region_error);
    assert_non_null(g->region_error->not_leader);
    assert_non_null(g->region_error->not_leader->leader);
    assert_int_equal(g->region_error->not_leader->leader->store_id, now);
    kvrpcpb__get_response__free_unpacked(g, NULL);
    assert_int_equal(th_move_leader(&cl, "d", 1, NULL, loc.store_id, 1, 0), 0);

    /* A split: the old epoch is refused with both halves. */
    assert_int_equal(th_region_count(&cl), 3);
    assert_int_equal(th_split(&cl, "e", 1, NULL, 0), 0);
    assert_int_equal(th_region_count(&cl), 4);
    g = kv_get(&loc, "e", tso(), &rc);
    assert_non_null(g->region_error);
    assert_non_null(g->region_error->epoch_not_match);
    assert_int_equal(g->region_error->epoch_not_match->n_current_regions, 2);
    kvrpcpb__get_response__free_unpacked(g, NULL);
    located after;
    locate("e", &after);
    assert_int_equal(after.region_id, loc.region_id); /* the right half keeps the id */
    assert_true(after.version > loc.version);
    g = kv_get(&after, "d", tso(), &rc); /* "d" now lies in the left half */
    assert_non_null(g->region_error);
    assert_non_null(g->region_error->key_not_in_region);
    kvrpcpb__get_response__free_unpacked(g, NULL);

    /* A killed store refuses; revived, it serves again. */
    assert_int_equal(th_kill_store(&cl, after.store_id, 0), 0);
    g = kv_get(&after, "e", tso(), &rc);
    assert_null(g);
    assert_int_equal(rc, ORBIT_EUNAVAIL);
    assert_int_equal(th_revive_store(&cl, after.store_id), 0);
    g = kv_get(&after, "e", tso(), &rc);
    assert_non_null(g);
    assert_null(g->region_error);
    kvrpcpb__get_response__free_unpacked(g, NULL);

    /* A hung store: the call ends at its deadline. */
    assert_int_equal(th_kill_store(&cl, after.store_id, 1), 0);
    g = kv_get(&after, "e", tso(), &rc);
    assert_null(g);
    assert_int_equal(rc, ORBIT_ETIMEDOUT);
    assert_int_equal(th_revive_store(&cl, after.store_id), 0);

    /* Injected errors, the PD clock and the counters. */
    assert_int_equal(th_inject(&cl, 0, "undetermined_result", 1, "KvGet"), 0);
    g = kv_get(&after, "e", tso(), &rc);
    assert_non_null(g->region_error);
    assert_non_null(g->region_error->undetermined_result);
    kvrpcpb__get_response__free_unpacked(g, NULL);
    assert_int_equal(th_inject(&cl, 0, "no_such_error", 1, NULL), -1);
    assert_int_equal(th_advance_clock(&cl, 10), 0);
    assert_true(th_pd_counter(&cl, "GetRegion") >= 1);
    assert_int_equal(th_tso_requests(&cl), 0); /* no TSO stream used here */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_2pc_through_c_messages),
        cmocka_unit_test(test_faults_as_region_errors),
    };
    return cmocka_run_group_tests_name("tikv_harness", tests, group_setup, group_teardown);
}
