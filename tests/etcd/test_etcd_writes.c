/*
 * The etcd provider's write path against a real 3-member cluster (started
 * by this process through etcd_harness), driven through the provider table
 * (orbit__provider_etcd) so the etcd internals (the store object, its
 * transport, the guarded-write builder) are at hand:
 *
 *  - commit-marker safety: a captured Txn of a refused write, replayed
 *    after its compare could match again, after its slot was reused and
 *    after the store closed, never applies (and, as a control, one sent
 *    once and not burnt would: the test can fail);
 *  - group commit: many puts in flight (async and concurrent sync callers)
 *    travel in fewer Txns, each op keeps its own result, and writes of one
 *    key apply in submission order;
 *  - the async path overlaps calls (the transport's in-flight maximum);
 *  - range delete (open ends with and without a namespace), batch range
 *    deletes with puts inside them (etcd's "duplicate key" rule),
 *    compare-and-set and commit versions;
 *  - the status mapping of compaction, NOSPACE and future revisions.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/status.h>

#include "etcd_harness.h"
#include "orbit/kv.h"
#include "orbit/provider.h"
#include "base/base.h"
#include "providers/etcd/etcd_int.h"
#include "rpc/rpc.h"

static eh_cluster cl;
static int ns_counter;
extern const orbit_provider orbit__provider_etcd; /* src/providers/etcd/etcd.c */
static const orbit_provider *P = &orbit__provider_etcd;

#define S(x) (const uint8_t *)(x), strlen(x)

static int group_setup(void **state)
{
    return eh_start(&cl, 3, 1) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    eh_stop(&cl);
    return 0;
}

/* Open the provider on the cluster; ns NULL: a fresh namespace, "": none. */
static etcd *open_raw(const char *ns, const char *extra)
{
    char uri[1024], nsbuf[64];
    if (!ns) {
        snprintf(nsbuf, sizeof nsbuf, "w%d-%d/", (int)getpid(), ++ns_counter);
        ns = nsbuf;
    }
    snprintf(uri, sizeof uri, "etcd://%s?%s%s%s%s", cl.endpoints, *ns ? "namespace=" : "", ns,
             extra && *ns ? "&" : "", extra ? extra : "");
    orbit_uri *u = NULL;
    assert_int_equal(orbit_uri_parse(uri, &u), 0);
    void *self = NULL;
    int rc = P->open(u, &self);
    if (rc)
        fprintf(stderr, "open %s: %s (%s)\n", uri, orbit_err_name(rc), orbit_last_error_detail());
    assert_int_equal(rc, 0);
    orbit_uri_free(u);
    return self;
}

static void check(etcd *e, const char *k, const char *v)
{
    orbit_buf b = ORBIT_BUF_INIT;
    int rc = P->get(e, NULL, S(k), orbit__copy_value_fn, &b);
    if (v) {
        if (rc)
            fprintf(stderr, "get %s: %s\n", k, orbit_err_name(rc));
        assert_int_equal(rc, 0);
        assert_int_equal(b.len, strlen(v));
        assert_memory_equal(b.data, v, b.len);
    } else {
        assert_int_equal(rc, ORBIT_NOTFOUND);
    }
    orbit_buf_release(&b);
}

/* Send raw Txn bytes; 1 if the Txn's compares held (it applied). */
static int replay(etcd *e, const uint8_t *req, size_t len)
{
    orbit__rpc_call_opts o = {3000, 0, 1, -1};
    orbit_buf resp = ORBIT_BUF_INIT;
    assert_int_equal(orbit__rpc_call(e->rpc, ETCD_M_TXN, req, len, &o, &resp), 0);
    Etcdserverpb__TxnResponse *tr = etcdserverpb__txn_response__unpack(NULL, resp.len, resp.data);
    assert_non_null(tr);
    int ok = tr->succeeded;
    etcdserverpb__txn_response__free_unpacked(tr, NULL);
    orbit_buf_release(&resp);
    return ok;
}

/* ---- commit-marker safety ----------------------------------------------- */

/* Build "put k=v if k is absent" and keep a copy of its bytes. */
static void build_if_absent(etcd *e, const char *k, const char *v, etcd_gw *gw, uint8_t **copy, size_t *len)
{
    etcd_cmp c = {(const uint8_t *)k, strlen(k), 0};
    etcd_wop w = {0, (const uint8_t *)k, strlen(k), (const uint8_t *)v, strlen(v)};
    assert_int_equal(orbit__etcd_gw_build(e, &c, 1, &w, 1, gw), 0);
    *copy = malloc(gw->reqlen);
    memcpy(*copy, gw->req, gw->reqlen);
    *len = gw->reqlen;
}

static void test_marker_slot_reuse_is_safe(void **state)
{
    etcd *e = open_raw(NULL, NULL);
    char ns[64];
    snprintf(ns, sizeof ns, "%.*s", (int)e->nslen, (const char *)e->ns);
    etcd *other = open_raw(ns, NULL); /* same namespace, another client */

    /* Control (on a store of its own, whose slot it spoils): a write
     * refused on its only attempt is not burnt, since no copy of it can
     * still be on its way. Were a copy delayed, it would apply once the
     * compare matched again: this is the hazard the burn closes. */
    etcd *ctl = open_raw(ns, NULL);
    etcd_gw gw;
    uint8_t *req;
    size_t len;
    build_if_absent(ctl, "ctl", "C", &gw, &req, &len);
    assert_int_equal(P->put(other, S("ctl"), S("x")), 0);
    assert_int_equal(orbit__etcd_gw_send(&gw, NULL), ORBIT_ECONFLICT);
    assert_int_equal(P->del(other, S("ctl")), 0);
    assert_int_equal(replay(ctl, req, len), 1);
    check(ctl, "ctl", "C");
    free(req);
    P->close(ctl);

    /* The protected case: the write was (as if) sent more than once, so
     * the refusal burns its marker compare before the slot is put back. */
    e->burn_always = 1;
    build_if_absent(e, "k", "A", &gw, &req, &len);
    uint64_t slot = gw.slot->no;
    assert_int_equal(P->put(other, S("k"), S("x")), 0);
    assert_int_equal(orbit__etcd_gw_send(&gw, NULL), ORBIT_ECONFLICT);
    e->burn_always = 0;
    /* k absent again: A's own compare would hold now. */
    assert_int_equal(P->del(other, S("k")), 0);
    assert_int_equal(replay(e, req, len), 0);
    check(e, "k", NULL);

    /* The slot is reused by the next write (B) ... */
    etcd_gw gb;
    etcd_wop wb = {0, (const uint8_t *)"b", 1, (const uint8_t *)"B", 1};
    assert_int_equal(orbit__etcd_gw_build(e, NULL, 0, &wb, 1, &gb), 0);
    assert_int_equal(gb.slot->no, slot);
    assert_int_equal(orbit__etcd_gw_send(&gb, NULL), 0);
    check(e, "b", "B");
    /* ... and A's delayed copy still cannot apply. */
    assert_int_equal(replay(e, req, len), 0);
    check(e, "k", NULL);

    /* A fresh slot's first write compares its marker as absent; after
     * close deleted the markers, the alive key keeps its copy out. */
    etcd_gw gf;
    uint8_t *freq;
    size_t flen;
    etcd_wop wf = {0, (const uint8_t *)"f", 1, (const uint8_t *)"F", 1};
    assert_int_equal(orbit__etcd_gw_build(e, NULL, 0, &wf, 1, &gf), 0);
    etcd_gw gf2; /* a second, fresh slot */
    assert_int_equal(orbit__etcd_gw_build(e, NULL, 0, &wf, 1, &gf2), 0);
    assert_int_equal(gf2.slot->mrev, 0);
    freq = malloc(gf2.reqlen);
    memcpy(freq, gf2.req, gf2.reqlen);
    flen = gf2.reqlen;
    assert_int_equal(orbit__etcd_gw_send(&gf2, NULL), 0);
    assert_int_equal(orbit__etcd_gw_send(&gf, NULL), 0);
    assert_int_equal(P->del(e, S("f")), 0);
    P->close(e);
    assert_int_equal(replay(other, req, len), 0);
    assert_int_equal(replay(other, freq, flen), 0);
    check(other, "k", NULL);
    check(other, "f", NULL);
    free(freq);
    free(req);
    P->close(other);
}

/* ---- group commit and overlap -------------------------------------------- */

typedef struct waiter {
    pthread_mutex_t m;
    pthread_cond_t cv;
    int done;
} waiter;

static void on_done(void *arg, orbit_kv_op *ops, size_t n)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->m);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->m);
}

static void submit_wait(etcd *e, orbit_kv_op *ops, size_t n)
{
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    assert_int_equal(P->submit(e, ops, n, on_done, &w), 0);
    pthread_mutex_lock(&w.m);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.m);
    pthread_mutex_unlock(&w.m);
}

enum { DEPTH = 64 };

static void test_group_commit_async(void **state)
{
    etcd *e = open_raw(NULL, NULL);
    orbit_kv_op ops[DEPTH];
    char keys[DEPTH][16], vals[DEPTH][16];
    memset(ops, 0, sizeof ops);
    for (int i = 0; i < DEPTH; i++) {
        snprintf(keys[i], sizeof keys[i], "g%03d", i);
        snprintf(vals[i], sizeof vals[i], "v%d", i);
        ops[i].type = ORBIT_OP_PUT;
        ops[i].key = (const uint8_t *)keys[i];
        ops[i].klen = strlen(keys[i]);
        ops[i].val = (const uint8_t *)vals[i];
        ops[i].vlen = strlen(vals[i]);
        ops[i].result = -999;
    }
    uint64_t t0, o0, t1, o1;
    orbit__etcd_group_stats(e, &t0, &o0);
    submit_wait(e, ops, DEPTH);
    orbit__etcd_group_stats(e, &t1, &o1);
    for (int i = 0; i < DEPTH; i++)
        assert_int_equal(ops[i].result, 0);
    fprintf(stderr, "%d async puts in %llu group Txns\n", DEPTH, (unsigned long long)(t1 - t0));
    assert_int_equal(o1 - o0, DEPTH);
    assert_true(t1 - t0 < DEPTH);
    for (int i = 0; i < DEPTH; i++)
        check(e, keys[i], vals[i]);

    /* One key written many times in one submission: no two in one Txn
     * (etcd refuses that), and the last submitted wins. */
    for (int i = 0; i < 20; i++) {
        ops[i].key = (const uint8_t *)"same";
        ops[i].klen = 4;
        ops[i].result = -999;
    }
    ops[7].type = ORBIT_OP_DEL;
    orbit__etcd_group_stats(e, &t0, &o0);
    submit_wait(e, ops, 20);
    orbit__etcd_group_stats(e, &t1, &o1);
    for (int i = 0; i < 20; i++)
        assert_int_equal(ops[i].result, 0);
    assert_int_equal(t1 - t0, 20);
    check(e, "same", vals[19]);
    P->close(e);
}

typedef struct sync_arg {
    etcd *e;
    int id;
    int failures;
} sync_arg;

enum { SYNC_THREADS = 8, SYNC_PUTS = 40 };

static void *sync_putter(void *p)
{
    sync_arg *a = p;
    for (int i = 0; i < SYNC_PUTS; i++) {
        char k[32], v[32];
        snprintf(k, sizeof k, "s%d-%03d", a->id, i);
        snprintf(v, sizeof v, "%d:%d", a->id, i);
        if (P->put(a->e, S(k), S(v)) != 0)
            a->failures++;
    }
    return NULL;
}

static void test_group_commit_sync_callers(void **state)
{
    etcd *e = open_raw(NULL, NULL);
    pthread_t th[SYNC_THREADS];
    sync_arg args[SYNC_THREADS];
    uint64_t t0, o0, t1, o1;
    orbit__etcd_group_stats(e, &t0, &o0);
    for (int i = 0; i < SYNC_THREADS; i++) {
        args[i] = (sync_arg){e, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, sync_putter, &args[i]), 0);
    }
    for (int i = 0; i < SYNC_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    orbit__etcd_group_stats(e, &t1, &o1);
    fprintf(stderr, "%d sync puts from %d threads in %llu group Txns\n", SYNC_THREADS * SYNC_PUTS,
            SYNC_THREADS, (unsigned long long)(t1 - t0));
    assert_int_equal(o1 - o0, SYNC_THREADS * SYNC_PUTS);
    assert_true(t1 - t0 < SYNC_THREADS * SYNC_PUTS);
    for (int t = 0; t < SYNC_THREADS; t++)
        for (int i = 0; i < SYNC_PUTS; i++) {
            char k[32], v[32];
            snprintf(k, sizeof k, "s%d-%03d", t, i);
            snprintf(v, sizeof v, "%d:%d", t, i);
            check(e, k, v);
        }
    P->close(e);
}

static void test_async_overlaps_calls(void **state)
{
    etcd *e = open_raw(NULL, NULL);
    assert_int_equal(P->put(e, S("r"), S("1")), 0);
    orbit_kv_op ops[DEPTH];
    orbit_buf outs[DEPTH];
    memset(ops, 0, sizeof ops);
    for (int i = 0; i < DEPTH; i++) {
        outs[i] = (orbit_buf)ORBIT_BUF_INIT;
        ops[i].type = ORBIT_OP_GET;
        ops[i].key = (const uint8_t *)"r";
        ops[i].klen = 1;
        ops[i].out = &outs[i];
    }
    (void)orbit__rpc_max_inflight(e->rpc, 1);
    submit_wait(e, ops, DEPTH);
    size_t most = orbit__rpc_max_inflight(e->rpc, 0);
    fprintf(stderr, "%d async gets: at most %zu calls in flight at once\n", DEPTH, most);
    assert_true(most > 1);
    for (int i = 0; i < DEPTH; i++) {
        assert_int_equal(ops[i].result, 0);
        assert_int_equal(outs[i].len, 1);
        orbit_buf_release(&outs[i]);
    }

    /* MULTI_GET and a batch (WRITE) through submit; a failing op carries
     * its own detail. */
    orbit_slice keys[3] = {{(const uint8_t *)"r", 1}, {(const uint8_t *)"nope", 4}, {(const uint8_t *)"r", 1}};
    orbit_buf vals[3] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    int status[3] = {-999, -999, -999};
    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    assert_int_equal(orbit_batch_put(b, S("w1"), S("x")), 0);
    assert_int_equal(orbit_batch_put(b, S("w2"), S("y")), 0);
    orbit_kv_op m[3];
    memset(m, 0, sizeof m);
    m[0].type = ORBIT_OP_MULTI_GET;
    m[0].nkeys = 3;
    m[0].keys = keys;
    m[0].vals = vals;
    m[0].status = status;
    m[1].type = ORBIT_OP_WRITE;
    m[1].batch = b;
    m[2].type = ORBIT_OP_PUT; /* too big: refused up front, with its own detail */
    size_t big = 4u << 20;
    uint8_t *bigv = calloc(1, big);
    m[2].key = (const uint8_t *)"big";
    m[2].klen = 3;
    m[2].val = bigv;
    m[2].vlen = big;
    submit_wait(e, m, 3);
    assert_int_equal(m[0].result, 0);
    assert_int_equal(status[0], 0);
    assert_int_equal(status[1], ORBIT_NOTFOUND);
    assert_int_equal(status[2], 0);
    assert_int_equal(vals[0].len, 1);
    assert_int_equal(m[1].result, 0);
    check(e, "w1", "x");
    check(e, "w2", "y");
    assert_int_equal(m[2].result, ORBIT_ETOOBIG);
    assert_non_null(strstr(m[2].detail, "max_request_bytes"));
    free(bigv);
    for (int i = 0; i < 3; i++)
        orbit_buf_release(&vals[i]);
    orbit_batch_free(b);
    P->close(e);
}

/* Async reads at a snapshot and multi-gets over several Txns, through the
 * public API (the snapshot is the contract layer's). */
enum { MG_KEYS = 300 };

static void test_async_snapshot_reads(void **state)
{
    char uri[1024];
    snprintf(uri, sizeof uri, "etcd://%s?namespace=w%d-%d/", cl.endpoints, (int)getpid(), ++ns_counter);
    orbit_kv *kv = NULL;
    assert_int_equal(orbit_kv_open(uri, &kv), 0);
    static char keys[MG_KEYS][16];
    orbit_slice sl[MG_KEYS];
    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    for (int i = 0; i < MG_KEYS; i++) {
        snprintf(keys[i], sizeof keys[i], "m%03d", i);
        sl[i] = (orbit_slice){(const uint8_t *)keys[i], strlen(keys[i])};
        if (i % 100 == 99) { /* batches stay under max_txn_ops */
            assert_int_equal(orbit_kv_write(kv, b), 0);
            orbit_batch_clear(b);
        }
        if (i % 7 != 3) /* some keys absent */
            assert_int_equal(orbit_batch_put(b, sl[i].data, sl[i].len, S("old")), 0);
    }
    assert_int_equal(orbit_kv_write(kv, b), 0);
    orbit_batch_free(b);
    orbit_snapshot *snap = NULL;
    assert_int_equal(orbit_kv_snapshot(kv, &snap), 0);
    for (int i = 0; i < MG_KEYS; i += 50)
        assert_int_equal(orbit_kv_put(kv, sl[i].data, sl[i].len, S("new")), 0);

    static orbit_buf v1[MG_KEYS], v2[MG_KEYS];
    static int s1[MG_KEYS], s2[MG_KEYS];
    for (int i = 0; i < MG_KEYS; i++)
        v1[i] = v2[i] = (orbit_buf)ORBIT_BUF_INIT;
    orbit_buf g = ORBIT_BUF_INIT;
    orbit_kv_op ops[3];
    memset(ops, 0, sizeof ops);
    ops[0] = (orbit_kv_op){.type = ORBIT_OP_MULTI_GET, .snapshot = snap, .nkeys = MG_KEYS, .keys = sl,
                           .vals = v1, .status = s1};
    ops[1] = (orbit_kv_op){.type = ORBIT_OP_MULTI_GET, .nkeys = MG_KEYS, .keys = sl, .vals = v2, .status = s2};
    ops[2] = (orbit_kv_op){.type = ORBIT_OP_GET, .snapshot = snap, .key = sl[0].data, .klen = sl[0].len,
                           .out = &g};
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    assert_int_equal(orbit_kv_submit(kv, ops, 3, on_done, &w), 0);
    pthread_mutex_lock(&w.m);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.m);
    pthread_mutex_unlock(&w.m);
    assert_int_equal(ops[0].result, 0);
    assert_int_equal(ops[1].result, 0);
    assert_int_equal(ops[2].result, 0);
    assert_int_equal(g.len, 3);
    assert_memory_equal(g.data, "old", 3);
    for (int i = 0; i < MG_KEYS; i++) {
        int absent = i % 7 == 3, changed = i % 50 == 0; /* changed after the snapshot */
        assert_int_equal(s1[i], absent ? ORBIT_NOTFOUND : 0);
        assert_int_equal(s2[i], absent && !changed ? ORBIT_NOTFOUND : 0);
        if (!absent)
            assert_memory_equal(v1[i].data, "old", 3);
        if (s2[i] == 0)
            assert_memory_equal(v2[i].data, changed ? "new" : "old", 3);
    }
    for (int i = 0; i < MG_KEYS; i++) {
        orbit_buf_release(&v1[i]);
        orbit_buf_release(&v2[i]);
    }
    orbit_buf_release(&g);
    orbit_snapshot_release(snap);
    orbit_kv_close(kv);
}

/* ---- range delete, batches, compare-and-set, versions -------------------- */

static void put_keys(etcd *e, const char *const *ks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(P->put(e, S(ks[i]), S(ks[i])), 0);
}

static void test_delete_range(void **state)
{
    etcd *e = open_raw(NULL, NULL);
    static const char *const ks[] = {"a", "b", "c", "c1", "d", "e", "f"};
    put_keys(e, ks, 7);
    orbit_range r = {0};
    r.lo = (const uint8_t *)"b";
    r.lo_len = 1;
    r.hi = (const uint8_t *)"d";
    r.hi_len = 1;
    assert_int_equal(P->delete_range(e, &r), 0);
    check(e, "a", "a");
    check(e, "b", NULL);
    check(e, "c", NULL);
    check(e, "c1", NULL);
    check(e, "d", "d");
    /* open end, inside a namespace: to the namespace's end only */
    etcd *nb = open_raw(NULL, NULL);
    assert_int_equal(P->put(nb, S("zz"), S("neighbour")), 0);
    r.lo = (const uint8_t *)"e";
    r.hi = NULL;
    r.hi_len = 0;
    assert_int_equal(P->delete_range(e, &r), 0);
    check(e, "d", "d");
    check(e, "e", NULL);
    check(e, "f", NULL);
    check(nb, "zz", "neighbour");
    /* empty and inverted ranges delete nothing */
    r.lo = (const uint8_t *)"d";
    r.hi = (const uint8_t *)"a";
    r.hi_len = 1;
    assert_int_equal(P->delete_range(e, &r), 0);
    check(e, "d", "d");
    P->close(nb);
    P->close(e);

    /* no namespace: an open end stops before the marker root, so this
     * store's own alive key and markers survive and it keeps writing */
    etcd *raw = open_raw("", NULL);
    char lo[32];
    snprintf(lo, sizeof lo, "\xfe-dr-%d", (int)getpid());
    assert_int_equal(P->put(raw, S(lo), S("x")), 0);
    r.lo = (const uint8_t *)lo;
    r.lo_len = strlen(lo);
    r.hi = NULL;
    r.hi_len = 0;
    assert_int_equal(P->delete_range(raw, &r), 0);
    check(raw, lo, NULL);
    assert_int_equal(P->put(raw, S(lo), S("again")), 0);
    check(raw, lo, "again");
    /* a range wholly in the reserved space is empty, not an error */
    r.lo = (const uint8_t *)"\xff\xff\xff\x01";
    r.lo_len = 4;
    assert_int_equal(P->delete_range(raw, &r), 0);
    assert_int_equal(P->del(raw, S(lo)), 0);
    P->close(raw);
}

static void test_batch_range_delete(void **state)
{
    etcd *e = open_raw(NULL, NULL);
    static const char *const ks[] = {"a1", "a2", "a3", "b1"};
    put_keys(e, ks, 4);
    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    /* put before the range: deleted by it; put after it inside: survives
     * (etcd alone would refuse this Txn: "duplicate key given in txn
     * request") */
    assert_int_equal(orbit_batch_put(b, S("a0"), S("early")), 0);
    assert_int_equal(orbit_batch_delete_range(b, S("a"), S("b")), 0);
    assert_int_equal(orbit_batch_put(b, S("a2"), S("late")), 0);
    assert_int_equal(orbit_batch_put(b, S("a9"), S("late9")), 0);
    assert_int_equal(orbit_batch_del(b, S("a9")), 0);
    assert_int_equal(orbit_batch_put(b, S("b2"), S("b2")), 0);
    uint64_t v = 0;
    assert_int_equal(P->write_version(e, b, &v), 0);
    assert_true(v > 0);
    check(e, "a0", NULL);
    check(e, "a1", NULL);
    check(e, "a2", "late");
    check(e, "a3", NULL);
    check(e, "a9", NULL);
    check(e, "b1", "b1");
    check(e, "b2", "b2");
    /* the commit version is one at which the batch is visible, and the
     * one before it is not */
    int64_t at = (int64_t)v, before = (int64_t)v - 1;
    orbit_buf out = ORBIT_BUF_INIT;
    assert_int_equal(P->get(e, &at, S("a2"), orbit__copy_value_fn, &out), 0);
    assert_int_equal(out.len, 4);
    assert_int_equal(P->get(e, &before, S("a2"), orbit__copy_value_fn, &out), 0);
    assert_int_equal(out.len, 2); /* "a2" */
    orbit_buf_release(&out);
    orbit_batch_free(b);
    P->close(e);
}

static void test_cas(void **state)
{
    etcd *e = open_raw(NULL, NULL);
    orbit_slice one = {(const uint8_t *)"1", 1}, two = {(const uint8_t *)"2", 1}, nine = {(const uint8_t *)"9", 1};
    orbit_buf cur = ORBIT_BUF_INIT;
    /* insert-if-absent */
    assert_int_equal(P->cas(e, S("c"), NULL, &one, &cur), 0);
    check(e, "c", "1");
    assert_int_equal(P->cas(e, S("c"), NULL, &two, &cur), ORBIT_CMPFAIL);
    assert_int_equal(cur.len, 1);
    assert_memory_equal(cur.data, "1", 1);
    /* compare-and-set */
    assert_int_equal(P->cas(e, S("c"), &nine, &two, &cur), ORBIT_CMPFAIL);
    assert_memory_equal(cur.data, "1", 1);
    check(e, "c", "1");
    assert_int_equal(P->cas(e, S("c"), &one, &two, NULL), 0);
    check(e, "c", "2");
    /* compare-and-delete, then a compare on an absent key */
    assert_int_equal(P->cas(e, S("c"), &two, NULL, &cur), 0);
    check(e, "c", NULL);
    assert_int_equal(P->cas(e, S("c"), &two, &one, &cur), ORBIT_NOTFOUND);
    assert_int_equal(cur.len, 0);
    check(e, "c", NULL);
    /* an empty value is a value */
    orbit_slice empty = {NULL, 0};
    assert_int_equal(P->cas(e, S("c"), NULL, &empty, &cur), 0);
    assert_int_equal(P->cas(e, S("c"), &empty, &one, &cur), 0);
    check(e, "c", "1");
    /* a refused cas that was resent burns its marker and stays refused */
    e->burn_always = 1;
    assert_int_equal(P->cas(e, S("c"), &nine, &two, &cur), ORBIT_CMPFAIL);
    e->burn_always = 0;
    assert_int_equal(P->cas(e, S("c"), &one, &two, &cur), 0);
    check(e, "c", "2");
    orbit_buf_release(&cur);
    P->close(e);
}

/* ---- status mapping ------------------------------------------------------ */

static void test_status_mapping(void **state)
{
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_OUT_OF_RANGE,
                                           "etcdserver: mvcc: required revision has been compacted"),
                     ORBIT_ECOMPACTED);
    assert_true(orbit_err_retryable(ORBIT_ECOMPACTED));
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_OUT_OF_RANGE,
                                           "etcdserver: mvcc: required revision is a future revision"),
                     ORBIT_EINVAL);
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_RESOURCE_EXHAUSTED,
                                           "etcdserver: mvcc: database space exceeded"),
                     ORBIT_ENOSPACE);
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_RESOURCE_EXHAUSTED, "etcdserver: too many requests"),
                     ORBIT_EBUSY);
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_INVALID_ARGUMENT,
                                           "etcdserver: duplicate key given in txn request"),
                     ORBIT_EINVAL);
    assert_false(orbit_err_retryable(ORBIT_EUNCERTAIN));

    /* And a real future revision, a real compacted one. */
    etcd *e = open_raw(NULL, "retention_ms=0");
    assert_int_equal(P->put(e, S("h"), S("1")), 0);
    int64_t rev = 0;
    assert_int_equal(orbit__etcd_revision(e, &rev), 0);
    int64_t future = rev + 1000000;
    orbit_buf out = ORBIT_BUF_INIT;
    assert_int_equal(P->get(e, &future, S("h"), orbit__copy_value_fn, &out), ORBIT_EINVAL);
    assert_int_equal(P->put(e, S("h"), S("2")), 0);
    int64_t old = rev;
    assert_int_equal(orbit__etcd_compact(e, rev + 1), 0);
    assert_int_equal(P->get(e, &old, S("h"), orbit__copy_value_fn, &out), ORBIT_ECOMPACTED);
    orbit_buf_release(&out);
    P->close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_mapping),
        cmocka_unit_test(test_marker_slot_reuse_is_safe),
        cmocka_unit_test(test_group_commit_async),
        cmocka_unit_test(test_group_commit_sync_callers),
        cmocka_unit_test(test_async_overlaps_calls),
        cmocka_unit_test(test_async_snapshot_reads),
        cmocka_unit_test(test_delete_range),
        cmocka_unit_test(test_batch_range_delete),
        cmocka_unit_test(test_cas),
    };
    return cmocka_run_group_tests_name("etcd_writes", tests, group_setup, group_teardown);
}
