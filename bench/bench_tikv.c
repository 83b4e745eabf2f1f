/*
 * bench_tikv: the TiKV provider's benchmark on the PD/TiKV test cluster
 * (tests/tikv/, a Python gRPC fixture, not TiKV), driven by bench/tikv.sh.
 * In one run it measures, and prints as markdown tables:
 *
 *   1. Orbit against bare loops of the same gRPC calls, at depth 1 and 64
 *      (depth D: D threads, each one synchronous operation at a time, as
 *      the bare loops are; orbit_kv_submit would run them on the
 *      provider's own pool of threads the same way, async.c):
 *        bare put   a TSO GetTs on the thread's own Tso stream to PD, then one
 *                   KvPrewrite with try_one_pc (a 1PC transaction) to the
 *                   leader of the key's region, sent with src/rpc and the
 *                   protoc-c messages of proto/, no Orbit layer
 *        Orbit put  orbit_kv_put on orbit_kv_open("tikv://PD")
 *        bare get   GetTs, then a snapshot KvGet at that timestamp
 *        Orbit get  orbit_kv_get
 *      Each workload runs in two halves with the order of bare and Orbit
 *      reversed in the second, so drift on the machine falls on both.
 *   2. TSO batching: transactions per TSO request at depth 64 (the
 *      cluster's TSO request counter over the Orbit puts).
 *   3. Requests per transaction for 1PC, async commit and 2PC, from the
 *      cluster's per-method counters, before the commit returned (async
 *      commit's background commits held back with the provider's test hook)
 *      and after.
 *
 * It attaches to a running test cluster through tikv_harness
 * (ORBIT_TEST_TIKV_READY, as `tikv_cluster run FILE -- bench_tikv ...`
 * sets it), or starts one itself; the cluster must be split at "g" and "t"
 * so the benchmark keys ("bench/...") lie in one region and "a", "h", "u"
 * in three. Usage: bench_tikv [--ops1 N] [--ops64 N] [--txns N]
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvrpcpb.pb-c.h"
#include "orbit/error.h"
#include "orbit/kv.h"
#include "orbit/provider.h"
#include "pdpb.pb-c.h"
#include "providers/tikv/txn_test.h"
#include "rpc/rpc.h"
#include "tikv_harness.h"

#define VALUE_LEN 100
#define NKEYS 1024 /* a multiple of every depth */
#define SLICES 10
#define MAX_DEPTH 64

static th_cluster cl;
static uint64_t cluster_id;
static uint8_t value[VALUE_LEN];
static orbit__rpc *pd_rpc;    /* PD, for the bare loops' Tso streams */
static orbit__rpc *store_rpc; /* the leader of the benchmark keys' region */
static uint64_t reg_id, reg_ver, reg_conf, peer_id, peer_store;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }

static int fail(const char *what, int rc)
{
    fprintf(stderr, "bench_tikv: %s: %s (%d)\n", what, orbit_last_error_detail(), rc);
    return rc ? rc : ORBIT_EIO;
}

/* memcomparable encoding (PD's region keys in txn mode): groups of 8 bytes,
 * zero-padded, each followed by 0xFF minus the padding. */
static size_t mc_encode(const uint8_t *k, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0;; i += 8) {
        size_t take = n - i < 8 ? n - i : 8;
        memset(out + o, 0, 8);
        memcpy(out + o, k + i, take);
        out[o + 8] = (uint8_t)(0xFF - (8 - take));
        o += 9;
        if (take < 8)
            return o;
    }
}

static int unary(orbit__rpc *r, const char *m, const ProtobufCMessage *msg, int flags, orbit_buf *resp)
{
    uint8_t buf[1024];
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > sizeof buf)
        return ORBIT_ETOOBIG;
    protobuf_c_message_pack(msg, buf);
    orbit__rpc_call_opts o = {20000, 0, flags, 0};
    return orbit__rpc_call(r, m, buf, n, &o, resp);
}

/* GetMembers, then the region of "bench/" and its leader's address. */
static int bare_setup(void)
{
    orbit__rpc_config cfg = {th_pd(&cl), NULL, 0, 0, 2000};
    int rc = orbit__rpc_open(&cfg, &pd_rpc);
    if (rc)
        return fail("open PD transport", rc);
    orbit_buf resp = ORBIT_BUF_INIT;
    Pdpb__GetMembersRequest mq = PDPB__GET_MEMBERS_REQUEST__INIT;
    if ((rc = unary(pd_rpc, "/pdpb.PD/GetMembers", &mq.base, ORBIT__RPC_RESEND, &resp)))
        return fail("GetMembers", rc);
    Pdpb__GetMembersResponse *m = pdpb__get_members_response__unpack(NULL, resp.len, resp.data);
    if (!m || !m->header)
        return fail("GetMembers answer", ORBIT_EPROTO);
    cluster_id = m->header->cluster_id;
    pdpb__get_members_response__free_unpacked(m, NULL);

    Pdpb__RequestHeader h = PDPB__REQUEST_HEADER__INIT;
    h.cluster_id = cluster_id;
    uint8_t enc[32];
    Pdpb__GetRegionRequest rq = PDPB__GET_REGION_REQUEST__INIT;
    rq.header = &h;
    rq.region_key.data = enc;
    rq.region_key.len = mc_encode((const uint8_t *)"bench/", 6, enc);
    if ((rc = unary(pd_rpc, "/pdpb.PD/GetRegion", &rq.base, ORBIT__RPC_RESEND, &resp)))
        return fail("GetRegion", rc);
    Pdpb__GetRegionResponse *r = pdpb__get_region_response__unpack(NULL, resp.len, resp.data);
    if (!r || !r->region || !r->leader || !r->region->region_epoch)
        return fail("GetRegion answer", ORBIT_EPROTO);
    reg_id = r->region->id;
    reg_ver = r->region->region_epoch->version;
    reg_conf = r->region->region_epoch->conf_ver;
    peer_id = r->leader->id;
    peer_store = r->leader->store_id;
    pdpb__get_region_response__free_unpacked(r, NULL);

    Pdpb__GetStoreRequest sq = PDPB__GET_STORE_REQUEST__INIT;
    sq.header = &h;
    sq.store_id = peer_store;
    if ((rc = unary(pd_rpc, "/pdpb.PD/GetStore", &sq.base, ORBIT__RPC_RESEND, &resp)))
        return fail("GetStore", rc);
    Pdpb__GetStoreResponse *s = pdpb__get_store_response__unpack(NULL, resp.len, resp.data);
    if (!s || !s->store)
        return fail("GetStore answer", ORBIT_EPROTO);
    orbit__rpc_config sc = {s->store->address, NULL, 0, 0, 2000};
    rc = orbit__rpc_open(&sc, &store_rpc);
    pdpb__get_store_response__free_unpacked(s, NULL);
    orbit_buf_release(&resp);
    return rc ? fail("open store transport", rc) : 0;
}

/* One GetTs on stream st (count 1). */
static int bare_tso(orbit__rpc_stream *st, orbit_buf *resp, uint64_t *ts)
{
    Pdpb__RequestHeader h = PDPB__REQUEST_HEADER__INIT;
    h.cluster_id = cluster_id;
    Pdpb__TsoRequest rq = PDPB__TSO_REQUEST__INIT;
    rq.header = &h;
    rq.count = 1;
    uint8_t buf[64];
    size_t n = pdpb__tso_request__pack(&rq, buf);
    int rc = orbit__rpc_stream_send(st, buf, n, 5000);
    if (!rc)
        rc = orbit__rpc_stream_recv(st, 5000, resp);
    if (rc)
        return rc;
    Pdpb__TsoResponse *r = pdpb__tso_response__unpack(NULL, resp->len, resp->data);
    if (!r || !r->timestamp || (r->header && r->header->error)) {
        if (r)
            pdpb__tso_response__free_unpacked(r, NULL);
        return orbit_error_set(ORBIT_EPROTO, "bad TsoResponse");
    }
    *ts = ((uint64_t)r->timestamp->physical << 18) | (uint64_t)r->timestamp->logical;
    pdpb__tso_response__free_unpacked(r, NULL);
    return 0;
}

static void fill_ctx(Kvrpcpb__Context *ctx, Metapb__RegionEpoch *ep, Metapb__Peer *peer)
{
    ep->version = reg_ver;
    ep->conf_ver = reg_conf;
    peer->id = peer_id;
    peer->store_id = peer_store;
    ctx->region_id = reg_id;
    ctx->region_epoch = ep;
    ctx->peer = peer;
}

/* A 1PC transaction writing key: GetTs (ts 0) or the pre-fetched ts, then
 * KvPrewrite with try_one_pc. */
static int bare_put(orbit__rpc_stream *st, uint64_t ts, orbit_buf *resp, const char *key, size_t kl)
{
    int rc = ts ? 0 : bare_tso(st, resp, &ts);
    if (rc)
        return rc;
    Kvrpcpb__Context ctx = KVRPCPB__CONTEXT__INIT;
    Metapb__RegionEpoch ep = METAPB__REGION_EPOCH__INIT;
    Metapb__Peer peer = METAPB__PEER__INIT;
    fill_ctx(&ctx, &ep, &peer);
    Kvrpcpb__Mutation mu = KVRPCPB__MUTATION__INIT;
    mu.op = KVRPCPB__OP__Put;
    mu.key.data = (uint8_t *)key;
    mu.key.len = kl;
    mu.value.data = value;
    mu.value.len = VALUE_LEN;
    Kvrpcpb__Mutation *mp = &mu;
    Kvrpcpb__PrewriteRequest rq = KVRPCPB__PREWRITE_REQUEST__INIT;
    rq.context = &ctx;
    rq.n_mutations = 1;
    rq.mutations = &mp;
    rq.primary_lock = mu.key;
    rq.start_version = ts;
    rq.lock_ttl = 3000;
    rq.txn_size = 1;
    rq.min_commit_ts = ts + 1;
    rq.use_async_commit = 1;
    rq.try_one_pc = 1;
    rq.max_commit_ts = ts + ((uint64_t)2000 << 18);
    if ((rc = unary(store_rpc, "/tikvpb.Tikv/KvPrewrite", &rq.base, ORBIT__RPC_WRITE, resp)))
        return rc;
    Kvrpcpb__PrewriteResponse *r = kvrpcpb__prewrite_response__unpack(NULL, resp->len, resp->data);
    if (!r)
        return orbit_error_set(ORBIT_EPROTO, "bad PrewriteResponse");
    if (r->region_error || r->n_errors || !r->one_pc_commit_ts)
        rc = orbit_error_set(ORBIT_EIO, "KvPrewrite: %s", r->region_error ? "region error"
                                                         : r->n_errors ? "key error" : "not committed by 1PC");
    kvrpcpb__prewrite_response__free_unpacked(r, NULL);
    return rc;
}

/* A snapshot read: GetTs (ts 0) or the pre-fetched ts, then KvGet at it. */
static int bare_get(orbit__rpc_stream *st, uint64_t ts, orbit_buf *resp, const char *key, size_t kl)
{
    int rc = ts ? 0 : bare_tso(st, resp, &ts);
    if (rc)
        return rc;
    Kvrpcpb__Context ctx = KVRPCPB__CONTEXT__INIT;
    Metapb__RegionEpoch ep = METAPB__REGION_EPOCH__INIT;
    Metapb__Peer peer = METAPB__PEER__INIT;
    fill_ctx(&ctx, &ep, &peer);
    Kvrpcpb__GetRequest rq = KVRPCPB__GET_REQUEST__INIT;
    rq.context = &ctx;
    rq.key.data = (uint8_t *)key;
    rq.key.len = kl;
    rq.version = ts;
    if ((rc = unary(store_rpc, "/tikvpb.Tikv/KvGet", &rq.base, ORBIT__RPC_RESEND, resp)))
        return rc;
    Kvrpcpb__GetResponse *r = kvrpcpb__get_response__unpack(NULL, resp->len, resp->data);
    if (!r)
        return orbit_error_set(ORBIT_EPROTO, "bad GetResponse");
    if (r->region_error || r->error || r->not_found || r->value.len != VALUE_LEN)
        rc = orbit_error_set(ORBIT_EIO, "KvGet: %s", r->region_error ? "region error"
                                                    : r->error       ? "key error"
                                                    : r->not_found   ? "not found"
                                                                     : "wrong value length");
    kvrpcpb__get_response__free_unpacked(r, NULL);
    return rc;
}

/* ---- the closed-loop runs ------------------------------------------------ */

/* Puts, then gets: bare with a GetTs per operation, bare with pre-fetched
 * timestamps, Orbit. */
enum { W_BARE_PUT, W_PRE_PUT, W_ORBIT_PUT, W_BARE_GET, W_PRE_GET, W_ORBIT_GET, NWORK };
static const char *const wname[NWORK] = {
    "bare put: GetTs + KvPrewrite (1PC)", "bare put: KvPrewrite (1PC), pre-fetched ts", "Orbit put: orbit_kv_put",
    "bare get: GetTs + KvGet",            "bare get: KvGet, pre-fetched ts",            "Orbit get: orbit_kv_get"};

/* The bare loops' Tso streams, one per thread slot, opened on first use and
 * kept for the whole run, as a client keeps its stream. */
static orbit__rpc_stream *streams[MAX_DEPTH];

typedef struct worker {
    int w, slot, depth;
    orbit_kv *kv;
    uint64_t first, n;
    uint64_t ts0; /* pre-fetched timestamps: ts0, ts0 + 1, ... (else 0) */
    int rc;
    char detail[256];
} worker;

static void *work(void *arg)
{
    worker *k = arg;
    orbit_buf resp = ORBIT_BUF_INIT;
    if ((k->w == W_BARE_PUT || k->w == W_BARE_GET) && !streams[k->slot])
        k->rc = orbit__rpc_stream_open(pd_rpc, 0, "/pdpb.PD/Tso", &streams[k->slot]);
    orbit__rpc_stream *st = streams[k->slot];
    char key[32];
    for (uint64_t i = 0; !k->rc && i < k->n; i++) {
        /* Thread slot s of D touches only keys = s mod D: two bare
         * transactions with pre-fetched timestamps never write one key at
         * once (that would be a write conflict, not a benchmark). */
        int kl = snprintf(key, sizeof key, "bench/%08" PRIu64,
                          ((uint64_t)k->slot + (uint64_t)k->depth * (k->first + i)) % NKEYS);
        const uint8_t *kb = (const uint8_t *)key;
        switch (k->w) {
        case W_BARE_PUT: k->rc = bare_put(st, 0, &resp, key, (size_t)kl); break;
        case W_BARE_GET: k->rc = bare_get(st, 0, &resp, key, (size_t)kl); break;
        case W_PRE_PUT: k->rc = bare_put(NULL, k->ts0 + i, &resp, key, (size_t)kl); break;
        case W_PRE_GET: k->rc = bare_get(NULL, k->ts0 + i, &resp, key, (size_t)kl); break;
        case W_ORBIT_PUT: k->rc = orbit_kv_put(k->kv, kb, (size_t)kl, value, VALUE_LEN); break;
        default:
            k->rc = orbit_kv_get(k->kv, NULL, kb, (size_t)kl, &resp);
            if (!k->rc && resp.len != VALUE_LEN)
                k->rc = orbit_error_set(ORBIT_EIO, "orbit_kv_get: wrong value length");
        }
    }
    if (k->rc)
        snprintf(k->detail, sizeof k->detail, "%s", orbit_last_error_detail());
    if (k->rc && st) { /* a failed stream is dead */
        orbit__rpc_stream_close(st);
        streams[k->slot] = NULL;
    }
    orbit_buf_release(&resp);
    return NULL;
}

/* CPU seconds of this process (the client; the cluster is another process)
 * by workload, added up by run(). */
static double cpu_secs[NWORK];

/* n operations of workload w over depth threads; adds the elapsed seconds
 * to *secs. */
static int run(int w, orbit_kv *kv, int depth, uint64_t n, uint64_t first, double *secs)
{
    worker k[MAX_DEPTH];
    pthread_t th[MAX_DEPTH];
    uint64_t per = n / (uint64_t)depth;
    int started = 0, rc = 0;
    uint64_t ts0 = 0;
    if (w == W_PRE_PUT || w == W_PRE_GET) {
        /* One TsoRequest for all of them, untimed: PD hands out count
         * timestamps ending at the one it answers. */
        orbit__rpc_stream *st;
        orbit_buf resp = ORBIT_BUF_INIT;
        Pdpb__RequestHeader h = PDPB__REQUEST_HEADER__INIT;
        h.cluster_id = cluster_id;
        Pdpb__TsoRequest rq = PDPB__TSO_REQUEST__INIT;
        rq.header = &h;
        rq.count = (uint32_t)(per * (uint64_t)depth);
        uint8_t buf[64];
        size_t len = pdpb__tso_request__pack(&rq, buf);
        if ((rc = orbit__rpc_stream_open(pd_rpc, 0, "/pdpb.PD/Tso", &st)))
            return fail("Tso stream", rc);
        rc = orbit__rpc_stream_send(st, buf, len, 5000);
        if (!rc)
            rc = orbit__rpc_stream_recv(st, 5000, &resp);
        Pdpb__TsoResponse *r = rc ? NULL : pdpb__tso_response__unpack(NULL, resp.len, resp.data);
        if (r && r->timestamp && r->count == rq.count)
            ts0 = (((uint64_t)r->timestamp->physical << 18) | (uint64_t)r->timestamp->logical) - rq.count + 1;
        if (r)
            pdpb__tso_response__free_unpacked(r, NULL);
        orbit__rpc_stream_close(st);
        orbit_buf_release(&resp);
        if (!ts0)
            return fail("pre-fetch timestamps", rc ? rc : ORBIT_EPROTO);
    }
    double t0 = now_s(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < depth; i++) {
        k[i] = (worker){.w = w, .slot = i, .depth = depth, .kv = kv, .first = first, .n = per,
                        .ts0 = ts0 ? ts0 + (uint64_t)i * per : 0};
        if (pthread_create(&th[i], NULL, work, &k[i]) != 0) {
            rc = ORBIT_ENOMEM;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        if (k[i].rc && !rc) {
            rc = k[i].rc;
            fprintf(stderr, "bench_tikv: %s: %s (%d)\n", wname[w], k[i].detail, rc);
        }
    }
    *secs += now_s() - t0;
    cpu_secs[w] += clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    return rc;
}

/* ---- requests per transaction ---------------------------------------------- */

typedef struct rt {
    double prewrite, commit_before, commit_after, tso, all_before, pd_before;
    uint64_t one_pc, async, two_pc;
} rt;

/* txns transactions of nk keys (1: "bench/rt..."; 3: one in each of the
 * regions split at g and t) on kv, counted by the cluster. */
static int count_rt(orbit_kv *kv, int nk, int txns, rt *o)
{
    orbit__tikv_txn_stats s0, s1;
    orbit__tikv_txn_stats_get(&s0);
    if (th_reset_counters(&cl) < 0)
        return fail("reset counters", ORBIT_EIO);
    atomic_store(&orbit__tikv_txn_test_hold_background, 1);
    int rc = 0;
    orbit_batch *b = NULL;
    if ((rc = orbit_batch_new(&b)))
        return fail("batch", rc);
    static const char *const pre[3] = {"bench/rt", "h/rt", "u/rt"};
    for (int i = 0; !rc && i < txns; i++) {
        orbit_batch_clear(b);
        for (int j = 0; !rc && j < nk; j++) {
            char key[32];
            int kl = snprintf(key, sizeof key, "%s%d", nk == 1 ? pre[0] : (j == 0 ? "a/rt" : pre[j]), i);
            rc = orbit_batch_put(b, (const uint8_t *)key, (size_t)kl, value, VALUE_LEN);
        }
        if (!rc && (rc = orbit_kv_write(kv, b)))
            fail("orbit_kv_write", rc);
    }
    orbit_batch_free(b);
    long pw = th_counter(&cl, 0, "KvPrewrite"), cb = th_counter(&cl, 0, "KvCommit");
    long tso = th_tso_requests(&cl), all = th_counter(&cl, 0, NULL), pd = th_pd_counter(&cl, NULL);
    atomic_store(&orbit__tikv_txn_test_hold_background, 0);
    if (rc)
        return rc;
    /* The background commits run now; wait for them (bounded). */
    long ca = cb;
    orbit__tikv_txn_stats_get(&s1);
    uint64_t async = s1.async_commit - s0.async_commit;
    for (int tries = 0; tries < 200; tries++) {
        ca = th_counter(&cl, 0, "KvCommit");
        if (ca - cb >= (long)async * nk || async == 0)
            break;
        struct timespec d = {0, 20000000};
        nanosleep(&d, NULL);
    }
    if (pw < 0 || cb < 0 || tso < 0 || ca < 0)
        return fail("read counters", ORBIT_EIO);
    o->prewrite = (double)pw / txns;
    o->commit_before = (double)cb / txns;
    o->commit_after = (double)(ca - cb) / txns;
    o->tso = (double)tso / txns;
    o->all_before = (double)all / txns;
    o->pd_before = (double)pd / txns;
    o->one_pc = s1.one_pc - s0.one_pc;
    o->async = async;
    o->two_pc = s1.two_pc - s0.two_pc;
    return 0;
}

/* The median over the slices of bare[h] / orbit[h]: each slice's pair ran
 * back to back, so a burst of other load moves one pair, not the figure. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median_ratio(const double *bare, const double *orbit)
{
    double r[SLICES];
    for (int h = 0; h < SLICES; h++)
        r[h] = orbit[h] > 0 ? bare[h] / orbit[h] : 0;
    qsort(r, SLICES, sizeof r[0], cmp_double);
    return SLICES % 2 ? r[SLICES / 2] : (r[SLICES / 2 - 1] + r[SLICES / 2]) / 2;
}

static uint64_t arg_u64(int argc, char **argv, const char *name, uint64_t def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return strtoull(argv[i + 1], NULL, 10);
    return def;
}

int main(int argc, char **argv)
{
    uint64_t ops1 = arg_u64(argc, argv, "--ops1", 1000);
    uint64_t ops64 = arg_u64(argc, argv, "--ops64", 4096);
    int txns = (int)arg_u64(argc, argv, "--txns", 50);
    if (ops1 < SLICES || ops64 < SLICES * MAX_DEPTH || txns < 1 || txns > 100000) {
        fprintf(stderr, "usage: bench_tikv [--ops1 N>=6] [--ops64 N>=384] [--txns 1..100000]\n");
        return 2;
    }
    for (int i = 0; i < VALUE_LEN; i++)
        value[i] = (uint8_t)('a' + i % 26);
    th_options to = {.stores = 3, .split = "g,t", .tie = 1};
    if (th_start(&cl, &to) != 0)
        return 1;
    int rc = 0;
    orbit_kv *kv = NULL, *kv2pc = NULL;
    char uri[700];
    snprintf(uri, sizeof uri, "tikv://%s", th_pd(&cl));
    if ((rc = orbit_kv_open(uri, &kv))) {
        fail(uri, rc);
        goto out;
    }
    snprintf(uri, sizeof uri, "tikv://%s?enable_one_pc=false&enable_async_commit=false", th_pd(&cl));
    if ((rc = orbit_kv_open(uri, &kv2pc))) {
        fail(uri, rc);
        goto out;
    }
    if ((rc = bare_setup()))
        goto out;
    /* Every key exists before timing: each put overwrites, each get finds. */
    for (uint64_t i = 0; i < NKEYS && !rc; i++) {
        char key[32];
        int kl = snprintf(key, sizeof key, "bench/%08" PRIu64, i);
        if ((rc = orbit_kv_put(kv, (const uint8_t *)key, (size_t)kl, value, VALUE_LEN)))
            fail("populate", rc);
    }
    double warm = 0;
    for (int w = 0; w < NWORK && !rc; w++)
        rc = run(w, kv, 1, 50, 0, &warm);
    for (int w = 0; w < NWORK && !rc; w++)
        rc = run(w, kv, MAX_DEPTH, MAX_DEPTH, 0, &warm);
    if (rc)
        goto out;

    printf("### Orbit against bare gRPC calls\n\n");
    printf("| depth | workload | ops | ops/s | client CPU us/op | Orbit / bare (GetTs each) | "
           "median of the %d slices' ratios | Orbit / bare (pre-fetched ts) |\n|---|---|---|---|---|---|---|---|\n",
           SLICES);
    double tso_per_txn64 = 0;
    uint64_t puts64 = 0;
    for (int depth = 1; depth <= MAX_DEPTH && !rc; depth *= 64) {
        uint64_t n = depth == 1 ? ops1 : ops64;
        uint64_t slice = n / SLICES / (uint64_t)depth * (uint64_t)depth;
        double secs[NWORK] = {0};
        double per_slice[NWORK][SLICES] = {{0}};
        memset(cpu_secs, 0, sizeof cpu_secs);
        long tso_orbit_put = 0;
        /* puts, then gets, in slices: table order, then reverse order */
        for (int g = 0; g < 2 && !rc; g++)
            for (int h = 0; h < SLICES && !rc; h++)
                for (int j = 0; j < 3 && !rc; j++) {
                    int w = g * 3 + (h % 2 == 0 ? j : 2 - j);
                    int count = w == W_ORBIT_PUT && th_reset_counters(&cl) >= 0;
                    double before = secs[w];
                    rc = run(w, kv, depth, slice, (uint64_t)h * slice / (uint64_t)depth, &secs[w]);
                    per_slice[w][h] = secs[w] - before;
                    if (count && !rc)
                        tso_orbit_put += th_tso_requests(&cl);
                }
        if (rc)
            break;
        for (int w = 0; w < NWORK; w++) {
            double ops_s = (double)(SLICES * slice) / secs[w];
            printf("| %d | %s | %" PRIu64 " | %.0f | %.0f |", depth, wname[w], SLICES * slice, ops_s,
                   cpu_secs[w] * 1e6 / (double)(SLICES * slice));
            if (w == W_ORBIT_PUT || w == W_ORBIT_GET)
                printf(" %.2f | %.2f | %.2f |\n", secs[w - 2] / secs[w], median_ratio(per_slice[w - 2], per_slice[w]),
                       secs[w - 1] / secs[w]);
            else
                printf(" | | |\n");
        }
        if (depth == MAX_DEPTH) {
            puts64 = SLICES * slice;
            tso_per_txn64 = tso_orbit_put > 0 ? (double)puts64 / (double)tso_orbit_put : 0;
        }
    }
    if (rc)
        goto out;
    printf("\n### TSO batching at depth %d\n\n", MAX_DEPTH);
    printf("Orbit puts: %" PRIu64 " transactions, %.1f transactions per TSO request "
           "(the cluster's TsoRequest count; the bare loops send one per transaction).\n",
           puts64, tso_per_txn64);

    printf("\n### Requests per transaction (depth 1, %d transactions each, 100-byte values)\n\n", txns);
    printf("| transaction | path taken | TSO requests | KvPrewrite | KvCommit before the ack | "
           "KvCommit after the ack | store requests before the ack, all methods | PD calls (Tso included) |\n"
           "|---|---|---|---|---|---|---|---|\n");
    struct {
        const char *name;
        orbit_kv *kv;
        int nk;
    } cases[] = {{"1 key, 1 region, defaults", NULL, 1},
                 {"3 keys, 3 regions, defaults", NULL, 3},
                 {"3 keys, 3 regions, enable_one_pc=false&enable_async_commit=false", NULL, 3}};
    cases[0].kv = cases[1].kv = kv;
    cases[2].kv = kv2pc;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && !rc; i++) {
        rt o;
        if ((rc = count_rt(cases[i].kv, cases[i].nk, txns, &o)))
            break;
        char path[96];
        snprintf(path, sizeof path, "1PC %" PRIu64 ", async commit %" PRIu64 ", 2PC %" PRIu64, o.one_pc,
                 o.async, o.two_pc);
        printf("| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", cases[i].name, path, o.tso,
               o.prewrite, o.commit_before, o.commit_after, o.all_before, o.pd_before);
    }
    if (!rc) {
        /* What one plain read sends. */
        orbit_buf v = ORBIT_BUF_INIT;
        if (th_reset_counters(&cl) < 0)
            rc = fail("reset counters", ORBIT_EIO);
        for (int i = 0; !rc && i < txns; i++) {
            char key[32];
            int kl = snprintf(key, sizeof key, "bench/%08d", i);
            if ((rc = orbit_kv_get(kv, NULL, (const uint8_t *)key, (size_t)kl, &v)))
                fail("orbit_kv_get", rc);
        }
        orbit_buf_release(&v);
        long tso = th_tso_requests(&cl), get = th_counter(&cl, 0, "KvGet"), all = th_counter(&cl, 0, NULL);
        if (!rc)
            printf("\nA plain read (orbit_kv_get, %d of them): %.2f TSO requests, %.2f KvGet, %.2f store "
                   "requests in all, per read.\n",
                   txns, (double)tso / txns, (double)get / txns, (double)all / txns);
    }
out:
    orbit_kv_close(kv);
    orbit_kv_close(kv2pc);
    for (int i = 0; i < MAX_DEPTH; i++)
        orbit__rpc_stream_close(streams[i]);
    orbit__rpc_close(store_rpc);
    orbit__rpc_close(pd_rpc);
    th_stop(&cl);
    return rc ? 1 : 0;
}
