/*
 * The TiKV provider's transactions (src/providers/tikv/txn*.c) against a
 * PD + TiKV cluster: the in-repository test cluster (tests/tikv, started
 * by this process through tikv_harness), or a real one when
 * ORBIT_TEST_TIKV_PD names its PD ("host:port"; tikv_harness.h).
 *
 * Driven through the provider table (orbit__provider_tikv) so the request
 * counters (orbit__tikv_stats_get) and the transaction layer's test hooks
 * (txn_test.h) are at hand:
 *  - round trips, counted: a single-region write is one KvPrewrite (1PC)
 *    and nothing else; a multi-region async-commit transaction is
 *    acknowledged after its prewrites (one per region), its commits follow
 *    in the background; a 2PC commit is R prewrites, then the primary's
 *    commit, then one commit per region of the secondaries;
 *  - a client killed between prewrite and commit, for 2PC and async
 *    commit: the next reader resolves every lock to the right outcome
 *    (primary committed: everything committed; else everything rolled back);
 *  - conflicts: optimistic (the commit fails, ECONFLICT) and pessimistic
 *    (the write waits for the other lock, then fails), and heartbeats
 *    keeping a pessimistic lock alive past its TTL;
 *  - versions: a commit's version is its commit ts, and a snapshot at it
 *    sees exactly the commits up to it;
 *  - a bank-transfer invariant under concurrency, optimistic and
 *    pessimistic, with readers checking the total in snapshots meanwhile;
 *  - the native asynchronous submit: one submission's ops are at the
 *    store together (the cluster's most-in-flight count), and closing the
 *    store waits for them.
 * Keys of each case start with a byte chosen per region (so a case can put
 * keys in distinct regions) and carry the process id, so runs against a
 * shared real cluster do not collide.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "orbit/kv.h"
#include "orbit/provider.h"
#include "providers/tikv/tikv_int.h"
#include "providers/tikv/txn_test.h"
#include "tikv_harness.h"

static const orbit_provider *P = &orbit__provider_tikv;
static char pd[512];
static th_cluster cl;
static int case_no;

/* ---- the cluster and stores ------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    /* Four regions: keys whose first byte is below 'F', in [F, P), [P, Z)
     * and from Z on. A real cluster (ORBIT_TEST_TIKV_PD) has its own. */
    th_options o = {.stores = 3, .split = "F,P,Z", .tie = 1};
    if (th_start(&cl, &o) != 0)
        return -1;
    snprintf(pd, sizeof pd, "%s", th_pd(&cl));
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_stop(&cl);
    return 0;
}

static void reset_hooks(void)
{
    atomic_store(&orbit__tikv_txn_test_stop_after_prewrite, 0);
    atomic_store(&orbit__tikv_txn_test_lock_ttl_ms, 0);
    atomic_store(&orbit__tikv_txn_test_hold_background, 0);
    atomic_store(&orbit__tikv_txn_test_heartbeat_ms, 0);
}

static int case_setup(void **state)
{
    (void)state;
    reset_hooks();
    case_no++;
    return 0;
}

/* The provider opened directly on the cluster, with extra URI options. */
static tikv *open_tk(const char *extra)
{
    char uri[1024];
    snprintf(uri, sizeof uri, "tikv://%s%s%s", pd, extra && *extra ? "?" : "", extra ? extra : "");
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

static orbit_kv *open_kv(const char *extra)
{
    char uri[1024];
    snprintf(uri, sizeof uri, "tikv://%s%s%s", pd, extra && *extra ? "?" : "", extra ? extra : "");
    orbit_kv *kv = NULL;
    int rc = orbit_kv_open(uri, &kv);
    if (rc)
        fprintf(stderr, "open %s: %s (%s)\n", uri, orbit_err_name(rc), orbit_last_error_detail());
    assert_int_equal(rc, 0);
    return kv;
}

/* ---- keys in distinct regions ---------------------------------------------- */

#define MAXR 16

typedef struct keyset {
    size_t n;
    char k[MAXR][64];
    size_t kl[MAXR];
} keyset;

/* Up to want keys "<b>tkt/<pid>/<case>/<tag>", each in another region (b a
 * first byte chosen by probing the region cache). Fewer when the cluster
 * has fewer regions. */
static void region_keys(tikv *t, const char *tag, size_t want, keyset *ks)
{
    uint64_t seen[MAXR];
    ks->n = 0;
    for (int b = 1; b < 255 && ks->n < want && ks->n < MAXR; b++) {
        char key[64];
        int n = snprintf(key + 1, sizeof key - 1, "tkt/%d/%d/%s", (int)getpid(), case_no, tag);
        key[0] = (char)b;
        size_t kl = (size_t)n + 1;
        tikv_bo bo;
        orbit__tikv_bo_init(&bo, t, 0);
        tikv_loc loc = {0};
        assert_int_equal(orbit__tikv_locate(t, &bo, (const uint8_t *)key, kl, &loc), 0);
        int dup = 0;
        for (size_t i = 0; i < ks->n; i++)
            dup |= seen[i] == loc.region_id;
        if (!dup) {
            seen[ks->n] = loc.region_id;
            memcpy(ks->k[ks->n], key, kl);
            ks->kl[ks->n] = kl;
            ks->n++;
        }
        orbit__tikv_loc_release(&loc);
    }
}

#define K(ks, i) (const uint8_t *)(ks).k[i], (ks).kl[i]
#define V(s) (const uint8_t *)(s), strlen(s)

static uint64_t sent(tikv *t, tikv_rpc_kind k)
{
    tikv_stats s;
    orbit__tikv_stats_get(t, &s);
    return s.sent[k];
}

/* Every TiKV request kind sent so far (PD requests excluded). */
static uint64_t sent_kv(tikv *t)
{
    tikv_stats s;
    orbit__tikv_stats_get(t, &s);
    uint64_t n = 0;
    for (int k = 0; k < TIKV_RPC_PD_GET_MEMBERS; k++)
        n += s.sent[k];
    return n;
}

static int copy_fn(void *arg, const uint8_t *v, size_t n)
{
    return orbit_buf_set(arg, v, n);
}

/* The value of key at a fresh timestamp, "" (and NOTFOUND) when absent. */
static int get_str(tikv *t, const uint8_t *k, size_t kl, char *out, size_t cap)
{
    orbit_buf b = ORBIT_BUF_INIT;
    int rc = orbit__tikv_get(t, NULL, k, kl, copy_fn, &b);
    out[0] = 0;
    if (rc == 0) {
        size_t n = b.len < cap - 1 ? b.len : cap - 1;
        memcpy(out, b.data, n);
        out[n] = 0;
    }
    orbit_buf_release(&b);
    return rc;
}

static void expect(tikv *t, const uint8_t *k, size_t kl, const char *want)
{
    char got[256];
    int rc = get_str(t, k, kl, got, sizeof got);
    if (!want) {
        assert_int_equal(rc, ORBIT_NOTFOUND);
        return;
    }
    if (rc)
        fprintf(stderr, "get: %s (%s)\n", orbit_err_name(rc), orbit_last_error_detail());
    assert_int_equal(rc, 0);
    assert_string_equal(got, want);
}

/* ---- basics ---------------------------------------------------------------- */

static void test_reads_and_writes(void **state)
{
    (void)state;
    tikv *t = open_tk(NULL);
    keyset ks;
    region_keys(t, "rw", 4, &ks);
    assert_true(ks.n >= 1);
    for (size_t i = 0; i < ks.n; i++)
        assert_int_equal(orbit__tikv_put(t, K(ks, i), V("v0")), 0);
    for (size_t i = 0; i < ks.n; i++)
        expect(t, K(ks, i), "v0");
    assert_int_equal(orbit__tikv_del(t, K(ks, 0)), 0);
    expect(t, K(ks, 0), NULL);

    /* A transaction sees its own writes, others do not until it commits. */
    void *x = NULL;
    assert_int_equal(orbit__tikv_txn_begin(t, NULL, &x), 0);
    assert_int_equal(orbit__tikv_txn_put(x, K(ks, 0), V("t1")), 0);
    if (ks.n > 1)
        assert_int_equal(orbit__tikv_txn_del(x, K(ks, 1)), 0);
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit__tikv_txn_get(x, K(ks, 0), 0, copy_fn, &b), 0);
    assert_memory_equal(b.data, "t1", 2);
    if (ks.n > 1)
        assert_int_equal(orbit__tikv_txn_get(x, K(ks, 1), 0, copy_fn, &b), ORBIT_NOTFOUND);
    expect(t, K(ks, 0), NULL);

    /* Multi-get through the buffer and across regions. */
    orbit_slice keys[MAXR];
    orbit_buf vals[MAXR];
    int st[MAXR];
    for (size_t i = 0; i < ks.n; i++) {
        keys[i] = (orbit_slice){(const uint8_t *)ks.k[i], ks.kl[i]};
        orbit_buf_init(&vals[i]);
    }
    assert_int_equal(orbit__tikv_txn_multi_get(x, ks.n, keys, vals, st), 0);
    assert_int_equal(st[0], 0);
    assert_memory_equal(vals[0].data, "t1", 2);
    if (ks.n > 1)
        assert_int_equal(st[1], ORBIT_NOTFOUND);
    for (size_t i = 2; i < ks.n; i++) {
        assert_int_equal(st[i], 0);
        assert_memory_equal(vals[i].data, "v0", 2);
    }

    /* A scan over every region, forward and reverse, merges the buffer. */
    for (int rev = 0; rev < 2; rev++) {
        orbit_range r = {0};
        r.reverse = rev;
        void *it = NULL;
        assert_int_equal(orbit__tikv_txn_iter_open(x, &r, &it), 0);
        const uint8_t *k, *v;
        size_t kl, vl;
        size_t seen = 0;
        int rc;
        char want[64];
        snprintf(want, sizeof want, "tkt/%d/%d/rw", (int)getpid(), case_no);
        uint8_t prev[64];
        size_t prevl = 0;
        while ((rc = orbit__tikv_iter_next(it, &k, &kl, &v, &vl)) == 0) {
            if (prevl) {
                int c = memcmp(prev, k, prevl < kl ? prevl : kl);
                if (c == 0)
                    c = prevl < kl ? -1 : 1;
                assert_true(rev ? c > 0 : c < 0);
            }
            prevl = kl < sizeof prev ? kl : sizeof prev;
            memcpy(prev, k, prevl);
            if (kl == strlen(want) + 1 && memcmp(k + 1, want, kl - 1) == 0)
                seen++;
        }
        assert_int_equal(rc, ORBIT_NOTFOUND);
        assert_int_equal(seen, ks.n > 1 ? ks.n - 1 : ks.n);
        orbit__tikv_iter_close(it);
    }
    uint64_t version = 0;
    assert_int_equal(orbit__tikv_txn_commit_version(x, &version), 0);
    assert_true(version > 0);
    expect(t, K(ks, 0), "t1");
    if (ks.n > 1)
        expect(t, K(ks, 1), NULL);
    for (size_t i = 0; i < ks.n; i++)
        orbit_buf_release(&vals[i]);
    orbit_buf_release(&b);
    P->close(t);
}

/* ---- round trips ----------------------------------------------------------- */

static void test_one_pc_single_region(void **state)
{
    (void)state;
    tikv *t = open_tk(NULL);
    keyset ks;
    region_keys(t, "1pc", 1, &ks);
    orbit__tikv_txn_stats s0, s1;
    orbit__tikv_txn_stats_get(&s0);
    uint64_t before = sent_kv(t), pw = sent(t, TIKV_RPC_KV_PREWRITE);
    assert_int_equal(orbit__tikv_put(t, K(ks, 0), V("one")), 0);
    /* One request to TiKV: the prewrite that commits. */
    assert_int_equal(sent_kv(t) - before, 1);
    assert_int_equal(sent(t, TIKV_RPC_KV_PREWRITE) - pw, 1);
    orbit__tikv_txn_stats_get(&s1);
    assert_int_equal(s1.one_pc - s0.one_pc, 1);

    /* A batch of three keys in that region: still one request. */
    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    for (int i = 0; i < 3; i++) {
        char k[80];
        memcpy(k, ks.k[0], ks.kl[0]);
        k[ks.kl[0]] = (char)('a' + i);
        assert_int_equal(orbit_batch_put(b, (const uint8_t *)k, ks.kl[0] + 1, V("b")), 0);
    }
    before = sent_kv(t);
    uint64_t v = 0;
    assert_int_equal(orbit__tikv_write_version(t, b, &v), 0);
    assert_int_equal(sent_kv(t) - before, 1);
    assert_true(v > 0);
    orbit_batch_free(b);
    expect(t, K(ks, 0), "one");
    P->close(t);
}

static void test_async_commit_acks_after_prewrite(void **state)
{
    (void)state;
    tikv *t = open_tk("enable_one_pc=false");
    keyset ks;
    region_keys(t, "async", 3, &ks);
    if (ks.n < 2) {
        P->close(t);
        skip();
    }
    void *x = NULL;
    assert_int_equal(orbit__tikv_txn_begin(t, NULL, &x), 0);
    for (size_t i = 0; i < ks.n; i++)
        assert_int_equal(orbit__tikv_txn_put(x, K(ks, i), V("async")), 0);
    orbit__tikv_txn_stats s0, s1;
    orbit__tikv_txn_stats_get(&s0);
    atomic_store(&orbit__tikv_txn_test_hold_background, 1);
    uint64_t pw = sent(t, TIKV_RPC_KV_PREWRITE), cm = sent(t, TIKV_RPC_KV_COMMIT);
    uint64_t version = 0;
    assert_int_equal(orbit__tikv_txn_commit_version(x, &version), 0);
    /* Acknowledged with one prewrite per region and no commit sent yet. */
    assert_int_equal(sent(t, TIKV_RPC_KV_PREWRITE) - pw, ks.n);
    assert_int_equal(sent(t, TIKV_RPC_KV_COMMIT) - cm, 0);
    orbit__tikv_txn_stats_get(&s1);
    assert_int_equal(s1.async_commit - s0.async_commit, 1);
    assert_true(version > 0);
    /* A snapshot at the commit version already sees it (the reader
     * resolves the async-commit locks or waits for the background commit). */
    atomic_store(&orbit__tikv_txn_test_hold_background, 0);
    void *snap = NULL;
    assert_int_equal(orbit__tikv_snapshot_open_at(t, version, &snap), 0);
    for (size_t i = 0; i < ks.n; i++) {
        orbit_buf b = ORBIT_BUF_INIT;
        assert_int_equal(orbit__tikv_get(t, snap, K(ks, i), copy_fn, &b), 0);
        assert_memory_equal(b.data, "async", 5);
        orbit_buf_release(&b);
    }
    orbit__tikv_snapshot_release(t, snap);
    /* Closing waits for the background commits. */
    P->close(t);
}

static void test_two_pc_round_trips(void **state)
{
    (void)state;
    tikv *t = open_tk("enable_one_pc=false&enable_async_commit=false");
    keyset ks;
    region_keys(t, "2pc", 3, &ks);
    if (ks.n < 2) {
        P->close(t);
        skip();
    }
    void *x = NULL;
    assert_int_equal(orbit__tikv_txn_begin(t, NULL, &x), 0);
    for (size_t i = 0; i < ks.n; i++)
        assert_int_equal(orbit__tikv_txn_put(x, K(ks, i), V("2pc")), 0);
    uint64_t pw = sent(t, TIKV_RPC_KV_PREWRITE), cm = sent(t, TIKV_RPC_KV_COMMIT);
    uint64_t all = sent_kv(t);
    assert_int_equal(orbit__tikv_txn_commit(x), 0);
    /* R prewrites; the primary's commit alone, then one per other region. */
    assert_int_equal(sent(t, TIKV_RPC_KV_PREWRITE) - pw, ks.n);
    assert_int_equal(sent(t, TIKV_RPC_KV_COMMIT) - cm, ks.n);
    assert_int_equal(sent_kv(t) - all, 2 * ks.n);
    for (size_t i = 0; i < ks.n; i++)
        expect(t, K(ks, i), "2pc");
    P->close(t);
}

/* ---- a client killed between prewrite and commit -------------------------------- */

/* Write "new" over "old" on keys in distinct regions with the commit
 * stopped at `stop`, then check what a fresh client reads. */
static void killed_case(const char *opts, int stop, const char *tag, int committed)
{
    tikv *t = open_tk(opts);
    keyset ks;
    region_keys(t, tag, 3, &ks);
    if (ks.n < 2) {
        P->close(t);
        skip();
    }
    for (size_t i = 0; i < ks.n; i++)
        assert_int_equal(orbit__tikv_put(t, K(ks, i), V("old")), 0);
    atomic_store(&orbit__tikv_txn_test_lock_ttl_ms, 300);
    void *x = NULL;
    assert_int_equal(orbit__tikv_txn_begin(t, NULL, &x), 0);
    for (size_t i = 0; i < ks.n; i++)
        assert_int_equal(orbit__tikv_txn_put(x, K(ks, i), V("new")), 0);
    atomic_store(&orbit__tikv_txn_test_stop_after_prewrite, stop);
    assert_int_equal(orbit__tikv_txn_commit(x), ORBIT_EUNCERTAIN);
    assert_int_equal(atomic_load(&orbit__tikv_txn_test_stop_after_prewrite), 0);
    atomic_store(&orbit__tikv_txn_test_lock_ttl_ms, 0);
    P->close(t);

    /* Let the abandoned locks expire (a live lock is only read through:
     * the reader pushes its min_commit_ts and resolves nothing). */
    if (th_has_faults(&cl)) {
        assert_int_equal(th_advance_clock(&cl, 2000), 0);
    } else {
        struct timespec ts = {0, 600 * 1000000L};
        nanosleep(&ts, NULL);
    }
    /* Another client meets the locks and resolves them. */
    tikv *r = open_tk(NULL);
    orbit__tikv_txn_stats s0, s1;
    orbit__tikv_txn_stats_get(&s0);
    for (size_t i = 0; i < ks.n; i++)
        expect(r, K(ks, i), committed ? "new" : "old");
    orbit__tikv_txn_stats_get(&s1);
    if (committed)
        assert_true(s1.resolved_committed > s0.resolved_committed);
    else
        assert_true(s1.resolved_rolled_back > s0.resolved_rolled_back);
    /* The outcome is final, and no lock is left. */
    for (size_t i = 0; i < ks.n; i++) {
        expect(r, K(ks, i), committed ? "new" : "old");
        if (th_has_faults(&cl))
            assert_int_equal(th_locks(&cl, K(ks, i)), 0);
    }
    /* And a writer can go on. */
    for (size_t i = 0; i < ks.n; i++)
        assert_int_equal(orbit__tikv_put(r, K(ks, i), V("after")), 0);
    for (size_t i = 0; i < ks.n; i++)
        expect(r, K(ks, i), "after");
    P->close(r);
}

static void test_killed_2pc_before_primary_commit(void **state)
{
    (void)state;
    killed_case("enable_one_pc=false&enable_async_commit=false", ORBIT__TIKV_STOP_PREWRITE, "k2a", 0);
}

static void test_killed_2pc_after_primary_commit(void **state)
{
    (void)state;
    killed_case("enable_one_pc=false&enable_async_commit=false", ORBIT__TIKV_STOP_PRIMARY_COMMIT, "k2b", 1);
}

static void test_killed_2pc_after_primary_prewrite(void **state)
{
    (void)state;
    killed_case("enable_one_pc=false&enable_async_commit=false", ORBIT__TIKV_STOP_PRIMARY_PREWRITE, "k2c", 0);
}

static void test_killed_async_after_prewrite(void **state)
{
    (void)state;
    /* Every prewrite succeeded: an async-commit transaction is committed. */
    killed_case("enable_one_pc=false", ORBIT__TIKV_STOP_PREWRITE, "kaa", 1);
}

static void test_killed_async_after_primary_prewrite(void **state)
{
    (void)state;
    /* A secondary never got its lock: rolled back. */
    killed_case("enable_one_pc=false", ORBIT__TIKV_STOP_PRIMARY_PREWRITE, "kab", 0);
}

/* ---- conflicts --------------------------------------------------------------- */

static void test_optimistic_conflict(void **state)
{
    (void)state;
    tikv *t = open_tk(NULL);
    keyset ks;
    region_keys(t, "oc", 1, &ks);
    void *a = NULL, *b = NULL;
    assert_int_equal(orbit__tikv_txn_begin(t, NULL, &a), 0);
    assert_int_equal(orbit__tikv_txn_begin(t, NULL, &b), 0);
    assert_int_equal(orbit__tikv_txn_put(a, K(ks, 0), V("a")), 0);
    assert_int_equal(orbit__tikv_txn_put(b, K(ks, 0), V("b")), 0);
    assert_int_equal(orbit__tikv_txn_commit(a), 0);
    assert_int_equal(orbit__tikv_txn_commit(b), ORBIT_ECONFLICT);
    expect(t, K(ks, 0), "a");

    /* A read for update claims the key: a write to it after our start is a
     * conflict at commit even though we only read it. */
    void *c = NULL;
    assert_int_equal(orbit__tikv_txn_begin(t, NULL, &c), 0);
    orbit_buf v = ORBIT_BUF_INIT;
    assert_int_equal(orbit__tikv_txn_get(c, K(ks, 0), 1, copy_fn, &v), 0);
    assert_int_equal(orbit__tikv_put(t, K(ks, 0), V("z")), 0);
    char other[80];
    memcpy(other, ks.k[0], ks.kl[0]);
    other[ks.kl[0]] = 'x';
    assert_int_equal(orbit__tikv_txn_put(c, (const uint8_t *)other, ks.kl[0] + 1, V("c")), 0);
    assert_int_equal(orbit__tikv_txn_commit(c), ORBIT_ECONFLICT);
    expect(t, (const uint8_t *)other, ks.kl[0] + 1, NULL);
    orbit_buf_release(&v);
    P->close(t);
}

typedef struct waiter {
    tikv *t;
    const uint8_t *k;
    size_t kl;
    void *x;
    int rc;
    atomic_int done;
} waiter;

static void *waiter_main(void *arg)
{
    waiter *w = arg;
    orbit_buf v = ORBIT_BUF_INIT;
    w->rc = orbit__tikv_txn_get(w->x, w->k, w->kl, 1, copy_fn, &v);
    orbit_buf_release(&v);
    atomic_store(&w->done, 1);
    return NULL;
}

static void test_pessimistic_lock_wait_and_conflict(void **state)
{
    (void)state;
    tikv *t = open_tk("txn=pessimistic");
    keyset ks;
    region_keys(t, "pc", 1, &ks);
    assert_int_equal(orbit__tikv_put(t, K(ks, 0), V("0")), 0);
    void *a = NULL, *b = NULL;
    assert_int_equal(orbit__tikv_txn_begin(t, NULL, &a), 0);
    /* The write takes the lock now, not at commit. */
    uint64_t pl = sent(t, TIKV_RPC_KV_PESSIMISTIC_LOCK);
    assert_int_equal(orbit__tikv_txn_put(a, K(ks, 0), V("a")), 0);
    assert_true(sent(t, TIKV_RPC_KV_PESSIMISTIC_LOCK) > pl);
    assert_int_equal(orbit__tikv_txn_begin(t, NULL, &b), 0);
    /* b's read for update waits on a's lock ... */
    waiter w = {t, K(ks, 0), b, 0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, waiter_main, &w), 0);
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    int finished_early = atomic_load(&w.done);
    /* ... until a commits; then a's commit after b's start is a conflict. */
    assert_int_equal(orbit__tikv_txn_commit(a), 0);
    pthread_join(th, NULL);
    assert_false(finished_early);
    assert_int_equal(w.rc, ORBIT_ECONFLICT);
    orbit__tikv_txn_rollback(b);
    expect(t, K(ks, 0), "a");

    /* A pessimistic transaction that read for update and wrote commits. */
    void *c = NULL;
    assert_int_equal(orbit__tikv_txn_begin(t, NULL, &c), 0);
    orbit_buf v = ORBIT_BUF_INIT;
    assert_int_equal(orbit__tikv_txn_get(c, K(ks, 0), 1, copy_fn, &v), 0);
    assert_memory_equal(v.data, "a", 1);
    assert_int_equal(orbit__tikv_txn_put(c, K(ks, 0), V("c")), 0);
    assert_int_equal(orbit__tikv_txn_commit(c), 0);
    expect(t, K(ks, 0), "c");

    /* Rollback releases the locks: another writer goes through at once. */
    void *d = NULL;
    assert_int_equal(orbit__tikv_txn_begin(t, NULL, &d), 0);
    assert_int_equal(orbit__tikv_txn_put(d, K(ks, 0), V("d")), 0);
    orbit__tikv_txn_rollback(d);
    assert_int_equal(orbit__tikv_put(t, K(ks, 0), V("e")), 0);
    expect(t, K(ks, 0), "e");
    orbit_buf_release(&v);
    P->close(t);
}

static void test_heartbeat_keeps_lock_alive(void **state)
{
    (void)state;
    tikv *t = open_tk("txn=pessimistic");
    tikv *o = open_tk("timeout=1500");
    keyset ks;
    region_keys(t, "hb", 1, &ks);
    atomic_store(&orbit__tikv_txn_test_lock_ttl_ms, 400);
    atomic_store(&orbit__tikv_txn_test_heartbeat_ms, 100);
    orbit__tikv_txn_stats s0, s1;
    orbit__tikv_txn_stats_get(&s0);
    void *a = NULL;
    assert_int_equal(orbit__tikv_txn_begin(t, NULL, &a), 0);
    assert_int_equal(orbit__tikv_txn_put(a, K(ks, 0), V("a")), 0);
    /* Well past the lock's own TTL, another writer still finds it alive
     * and gives up (the key is busy), rather than rolling it back. */
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    assert_int_equal(orbit__tikv_put(o, K(ks, 0), V("o")), ORBIT_EBUSY);
    assert_int_equal(orbit__tikv_txn_commit(a), 0);
    orbit__tikv_txn_stats_get(&s1);
    assert_true(s1.heartbeats > s0.heartbeats);
    expect(o, K(ks, 0), "a");
    P->close(o);
    P->close(t);
}

/* ---- versions ------------------------------------------------------------------ */

static void test_versions_and_snapshots(void **state)
{
    (void)state;
    tikv *t = open_tk(NULL);
    keyset ks;
    region_keys(t, "ver", 1, &ks);
    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    assert_int_equal(orbit_batch_put(b, K(ks, 0), V("v1")), 0);
    uint64_t v1 = 0, v2 = 0;
    assert_int_equal(orbit__tikv_write_version(t, b, &v1), 0);
    orbit_batch_clear(b);
    assert_int_equal(orbit_batch_put(b, K(ks, 0), V("v2")), 0);
    assert_int_equal(orbit__tikv_write_version(t, b, &v2), 0);
    assert_true(v2 > v1);
    void *s = NULL;
    orbit_buf val = ORBIT_BUF_INIT;
    assert_int_equal(orbit__tikv_snapshot_open_at(t, v1, &s), 0);
    assert_int_equal(orbit__tikv_snapshot_version(t, s), v1);
    assert_int_equal(orbit__tikv_get(t, s, K(ks, 0), copy_fn, &val), 0);
    assert_memory_equal(val.data, "v1", 2);
    orbit__tikv_snapshot_release(t, s);
    assert_int_equal(orbit__tikv_snapshot_open_at(t, v1 - 1, &s), 0);
    assert_int_equal(orbit__tikv_get(t, s, K(ks, 0), copy_fn, &val), ORBIT_NOTFOUND);
    orbit__tikv_snapshot_release(t, s);
    assert_int_equal(orbit__tikv_snapshot_open_at(t, v2, &s), 0);
    assert_int_equal(orbit__tikv_get(t, s, K(ks, 0), copy_fn, &val), 0);
    assert_memory_equal(val.data, "v2", 2);
    orbit__tikv_snapshot_release(t, s);
    /* A version PD has not handed out yet. */
    assert_int_equal(orbit__tikv_snapshot_open_at(t, v2 + ((uint64_t)3600000 << 18), &s), ORBIT_EINVAL);
    /* A batch range delete removes stored keys and earlier puts, not later ones. */
    char k2[80];
    memcpy(k2, ks.k[0], ks.kl[0]);
    k2[ks.kl[0]] = '2';
    orbit_batch_clear(b);
    assert_int_equal(orbit_batch_put(b, (const uint8_t *)k2, ks.kl[0] + 1, V("gone")), 0);
    char hi[80];
    memcpy(hi, ks.k[0], ks.kl[0]);
    hi[ks.kl[0]] = '\x7f';
    assert_int_equal(orbit_batch_delete_range(b, K(ks, 0), (const uint8_t *)hi, ks.kl[0] + 1), 0);
    char k3[80];
    memcpy(k3, ks.k[0], ks.kl[0]);
    k3[ks.kl[0]] = '3';
    assert_int_equal(orbit_batch_put(b, (const uint8_t *)k3, ks.kl[0] + 1, V("kept")), 0);
    assert_int_equal(orbit__tikv_write(t, b), 0);
    expect(t, K(ks, 0), NULL);
    expect(t, (const uint8_t *)k2, ks.kl[0] + 1, NULL);
    expect(t, (const uint8_t *)k3, ks.kl[0] + 1, "kept");
    orbit_batch_free(b);
    orbit_buf_release(&val);
    P->close(t);
}

/* ---- bank transfers ------------------------------------------------------------- */

#define ACCOUNTS 6
#define START 1000

typedef struct bank {
    orbit_kv *kv;
    char key[ACCOUNTS][64];
    size_t kl[ACCOUNTS];
    int transfers;
    atomic_int stop;
    atomic_int bad_sums;
    atomic_int sums_checked;
    unsigned seed;
} bank;

static long read_balance(orbit_txn *x, const bank *bk, int i, int for_update, int *rc)
{
    orbit_buf v = ORBIT_BUF_INIT;
    *rc = for_update ? orbit_txn_get_for_update(x, (const uint8_t *)bk->key[i], bk->kl[i], &v)
                     : orbit_txn_get(x, (const uint8_t *)bk->key[i], bk->kl[i], &v);
    long bal = 0;
    if (*rc == 0) {
        char tmp[32] = {0};
        memcpy(tmp, v.data, v.len < 31 ? v.len : 31);
        bal = strtol(tmp, NULL, 10);
    }
    orbit_buf_release(&v);
    return bal;
}

typedef struct teller {
    bank *bk;
    unsigned seed;
    int done;
    int failed; /* a non-retryable failure (asserted by the main thread) */
} teller;

static void *teller_main(void *arg)
{
    teller *tl = arg;
    bank *bk = tl->bk;
    for (int n = 0; n < bk->transfers; n++) {
        int from = (int)(rand_r(&tl->seed) % ACCOUNTS), to = (int)(rand_r(&tl->seed) % ACCOUNTS);
        if (from == to)
            to = (to + 1) % ACCOUNTS;
        long amount = 1 + rand_r(&tl->seed) % 50;
        for (int attempt = 0; attempt < 200; attempt++) {
            orbit_txn *x = NULL;
            int rc = orbit_kv_txn_begin(bk->kv, NULL, &x);
            if (rc) {
                tl->failed += !orbit_err_retryable(rc);
                continue;
            }
            long a = read_balance(x, bk, from, 1, &rc);
            long b = rc ? 0 : read_balance(x, bk, to, 1, &rc);
            char buf[32];
            if (!rc) {
                snprintf(buf, sizeof buf, "%ld", a - amount);
                rc = orbit_txn_put(x, (const uint8_t *)bk->key[from], bk->kl[from], V(buf));
            }
            if (!rc) {
                snprintf(buf, sizeof buf, "%ld", b + amount);
                rc = orbit_txn_put(x, (const uint8_t *)bk->key[to], bk->kl[to], V(buf));
            }
            if (!rc) {
                rc = orbit_txn_commit(x);
            } else {
                orbit_txn_rollback(x);
            }
            if (rc == 0) {
                tl->done++;
                break;
            }
            if (!orbit_err_retryable(rc)) {
                fprintf(stderr, "transfer: %s (%s)\n", orbit_err_name(rc), orbit_last_error_detail());
                tl->failed++;
                break;
            }
        }
    }
    return NULL;
}

static void *auditor_main(void *arg)
{
    bank *bk = arg;
    while (!atomic_load(&bk->stop)) {
        orbit_txn *x = NULL;
        if (orbit_kv_txn_begin(bk->kv, NULL, &x))
            continue;
        long sum = 0;
        int rc = 0;
        for (int i = 0; i < ACCOUNTS && !rc; i++)
            sum += read_balance(x, bk, i, 0, &rc);
        orbit_txn_rollback(x);
        if (rc)
            continue;
        atomic_fetch_add(&bk->sums_checked, 1);
        if (sum != (long)ACCOUNTS * START)
            atomic_fetch_add(&bk->bad_sums, 1);
    }
    return NULL;
}

static void bank_case(const char *opts, const char *tag)
{
    tikv *t = open_tk(NULL);
    keyset ks;
    region_keys(t, tag, ACCOUNTS, &ks);
    P->close(t);
    bank bk;
    memset(&bk, 0, sizeof bk);
    bk.kv = open_kv(opts);
    bk.transfers = 15;
    /* Accounts spread over the regions there are. */
    for (int i = 0; i < ACCOUNTS; i++) {
        size_t r = (size_t)i % ks.n;
        int n = snprintf(bk.key[i], sizeof bk.key[i], "%.*s-%d", (int)ks.kl[r], ks.k[r], i);
        bk.kl[i] = (size_t)n;
        char v[16];
        snprintf(v, sizeof v, "%d", START);
        assert_int_equal(orbit_kv_put(bk.kv, (const uint8_t *)bk.key[i], bk.kl[i], V(v)), 0);
    }
    enum { TELLERS = 4 };
    teller tl[TELLERS];
    pthread_t th[TELLERS], aud;
    assert_int_equal(pthread_create(&aud, NULL, auditor_main, &bk), 0);
    for (int i = 0; i < TELLERS; i++) {
        tl[i] = (teller){&bk, 1234u + (unsigned)i, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, teller_main, &tl[i]), 0);
    }
    int done = 0, failed = 0;
    for (int i = 0; i < TELLERS; i++) {
        pthread_join(th[i], NULL);
        done += tl[i].done;
        failed += tl[i].failed;
    }
    assert_int_equal(failed, 0);
    atomic_store(&bk.stop, 1);
    pthread_join(aud, NULL);
    assert_int_equal(done, TELLERS * bk.transfers);
    assert_int_equal(atomic_load(&bk.bad_sums), 0);
    assert_true(atomic_load(&bk.sums_checked) > 0);
    long sum = 0;
    for (int i = 0; i < ACCOUNTS; i++) {
        orbit_buf v = ORBIT_BUF_INIT;
        assert_int_equal(orbit_kv_get(bk.kv, NULL, (const uint8_t *)bk.key[i], bk.kl[i], &v), 0);
        char tmp[32] = {0};
        memcpy(tmp, v.data, v.len < 31 ? v.len : 31);
        sum += strtol(tmp, NULL, 10);
        orbit_buf_release(&v);
    }
    assert_int_equal(sum, (long)ACCOUNTS * START);
    orbit_kv_close(bk.kv);
}

static void test_bank_optimistic(void **state)
{
    (void)state;
    bank_case("txn=optimistic", "bko");
}

static void test_bank_pessimistic(void **state)
{
    (void)state;
    bank_case("txn=pessimistic", "bkp");
}

/* ---- native asynchronous submit (async.c) ------------------------------------ */

typedef struct sub_wait {
    pthread_mutex_t m;
    pthread_cond_t cv;
    int calls;
} sub_wait;

static void sub_done(void *arg, orbit_kv_op *ops, size_t n)
{
    (void)ops;
    (void)n;
    sub_wait *w = arg;
    pthread_mutex_lock(&w->m);
    w->calls++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->m);
}

static void sub_wait_done(sub_wait *w)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 60;
    pthread_mutex_lock(&w->m);
    while (w->calls == 0 && pthread_cond_timedwait(&w->cv, &w->m, &dl) == 0)
        ;
    assert_int_equal(w->calls, 1);
    pthread_mutex_unlock(&w->m);
}

#define NSUB 8

/* One submission of NSUB GETs (then of NSUB PUTs) has all of them at the
 * store at once: with every KvGet (KvPrewrite) held 300 ms by the cluster,
 * the most it served together is NSUB. submit returns before they finish,
 * each op completes with its own result, and a WRITE and a MULTI_GET in one
 * submission do what the synchronous calls do. */
static void test_native_submit_overlaps(void **state)
{
    (void)state;
    if (!th_has_faults(&cl))
        skip();
    orbit_kv *kv = open_kv("timeout=30s");
    orbit_capabilities caps;
    orbit_kv_capabilities(kv, &caps);
    assert_int_equal(caps.native_async, 1);
    char keys[NSUB][64];
    size_t kl[NSUB];
    for (int i = 0; i < NSUB; i++) {
        kl[i] = (size_t)snprintf(keys[i], sizeof keys[i], "Async/%d/%d/%02d", (int)getpid(), case_no, i);
        assert_int_equal(orbit_kv_put(kv, (const uint8_t *)keys[i], kl[i], V("before")), 0);
    }
    orbit_kv_op ops[NSUB];
    orbit_buf out[NSUB];
    memset(ops, 0, sizeof ops);
    for (int i = 0; i < NSUB; i++) {
        orbit_buf_init(&out[i]);
        ops[i].type = ORBIT_OP_GET;
        ops[i].key = (const uint8_t *)keys[i];
        ops[i].klen = kl[i];
        ops[i].out = &out[i];
    }
    assert_true(th_reset_counters(&cl) >= 0);
    assert_int_equal(th_delay(&cl, 0, "KvGet", 300), 0);
    sub_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    assert_int_equal(orbit_kv_submit(kv, ops, NSUB, sub_done, &w), 0);
    pthread_mutex_lock(&w.m);
    int early = w.calls; /* 300 ms per KvGet: none can be done yet */
    pthread_mutex_unlock(&w.m);
    assert_int_equal(early, 0);
    sub_wait_done(&w);
    assert_int_equal(th_delay(&cl, 0, "KvGet", 0), 0);
    for (int i = 0; i < NSUB; i++) {
        assert_int_equal(ops[i].result, 0);
        assert_int_equal(out[i].len, 6);
        assert_memory_equal(out[i].data, "before", 6);
    }
    assert_int_equal(th_max_inflight(&cl, "KvGet"), NSUB);

    /* Puts: NSUB 1PC prewrites at once. */
    memset(ops, 0, sizeof ops);
    for (int i = 0; i < NSUB; i++) {
        ops[i].type = ORBIT_OP_PUT;
        ops[i].key = (const uint8_t *)keys[i];
        ops[i].klen = kl[i];
        ops[i].val = (const uint8_t *)"after";
        ops[i].vlen = 5;
    }
    assert_true(th_reset_counters(&cl) >= 0);
    assert_int_equal(th_delay(&cl, 0, "KvPrewrite", 300), 0);
    sub_wait w2 = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    assert_int_equal(orbit_kv_submit(kv, ops, NSUB, sub_done, &w2), 0);
    sub_wait_done(&w2);
    assert_int_equal(th_delay(&cl, 0, "KvPrewrite", 0), 0);
    for (int i = 0; i < NSUB; i++)
        assert_int_equal(ops[i].result, 0);
    assert_int_equal(th_max_inflight(&cl, "KvPrewrite"), NSUB);
    assert_int_equal(th_counter(&cl, 0, "KvPrewrite"), NSUB);

    /* A WRITE (a put and a delete, atomic) and a MULTI_GET of three keys,
     * one of them absent, in one submission. */
    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    assert_int_equal(orbit_batch_put(b, (const uint8_t *)keys[0], kl[0], V("batched")), 0);
    assert_int_equal(orbit_batch_del(b, (const uint8_t *)keys[1], kl[1]), 0);
    orbit_slice mk[3] = {{(const uint8_t *)keys[2], kl[2]}, {(const uint8_t *)"Async/none", 10},
                         {(const uint8_t *)keys[3], kl[3]}};
    orbit_buf mv[3];
    int ms[3];
    for (int i = 0; i < 3; i++)
        orbit_buf_init(&mv[i]);
    orbit_kv_op two[2];
    memset(two, 0, sizeof two);
    two[0].type = ORBIT_OP_WRITE;
    two[0].batch = b;
    two[1].type = ORBIT_OP_MULTI_GET;
    two[1].nkeys = 3;
    two[1].keys = mk;
    two[1].vals = mv;
    two[1].status = ms;
    sub_wait w3 = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    assert_int_equal(orbit_kv_submit(kv, two, 2, sub_done, &w3), 0);
    sub_wait_done(&w3);
    assert_int_equal(two[0].result, 0);
    assert_int_equal(two[1].result, 0);
    assert_int_equal(ms[0], 0);
    assert_int_equal(ms[1], ORBIT_NOTFOUND);
    assert_int_equal(ms[2], 0);
    assert_memory_equal(mv[0].data, "after", 5);
    orbit_buf out0 = ORBIT_BUF_INIT;
    assert_int_equal(orbit_kv_get(kv, NULL, (const uint8_t *)keys[0], kl[0], &out0), 0);
    assert_memory_equal(out0.data, "batched", 7);
    assert_int_equal(orbit_kv_get(kv, NULL, (const uint8_t *)keys[1], kl[1], &out0), ORBIT_NOTFOUND);
    orbit_buf_release(&out0);
    orbit_batch_free(b);
    for (int i = 0; i < 3; i++)
        orbit_buf_release(&mv[i]);
    for (int i = 0; i < NSUB; i++)
        orbit_buf_release(&out[i]);
    orbit_kv_close(kv);
}

/* Closing the store while submitted ops are still at the store waits for
 * them: done has run, with every op's result, when close returns. */
static void test_native_submit_close_waits(void **state)
{
    (void)state;
    if (!th_has_faults(&cl))
        skip();
    orbit_kv *kv = open_kv(NULL);
    char keys[NSUB][64];
    orbit_kv_op ops[NSUB];
    memset(ops, 0, sizeof ops);
    for (int i = 0; i < NSUB; i++) {
        ops[i].type = ORBIT_OP_PUT;
        ops[i].key = (const uint8_t *)keys[i];
        ops[i].klen = (size_t)snprintf(keys[i], sizeof keys[i], "Aclose/%d/%d/%02d", (int)getpid(), case_no, i);
        ops[i].val = (const uint8_t *)"v";
        ops[i].vlen = 1;
    }
    assert_int_equal(th_delay(&cl, 0, "KvPrewrite", 200), 0);
    sub_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    assert_int_equal(orbit_kv_submit(kv, ops, NSUB, sub_done, &w), 0);
    orbit_kv_close(kv);
    assert_int_equal(th_delay(&cl, 0, "KvPrewrite", 0), 0);
    pthread_mutex_lock(&w.m);
    assert_int_equal(w.calls, 1);
    pthread_mutex_unlock(&w.m);
    for (int i = 0; i < NSUB; i++)
        assert_int_equal(ops[i].result, 0);
    orbit_kv *kv2 = open_kv(NULL);
    orbit_buf v = ORBIT_BUF_INIT;
    for (int i = 0; i < NSUB; i++)
        assert_int_equal(orbit_kv_get(kv2, NULL, ops[i].key, ops[i].klen, &v), 0);
    orbit_buf_release(&v);
    orbit_kv_close(kv2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_reads_and_writes, case_setup),
        cmocka_unit_test_setup(test_one_pc_single_region, case_setup),
        cmocka_unit_test_setup(test_async_commit_acks_after_prewrite, case_setup),
        cmocka_unit_test_setup(test_two_pc_round_trips, case_setup),
        cmocka_unit_test_setup(test_killed_2pc_before_primary_commit, case_setup),
        cmocka_unit_test_setup(test_killed_2pc_after_primary_commit, case_setup),
        cmocka_unit_test_setup(test_killed_2pc_after_primary_prewrite, case_setup),
        cmocka_unit_test_setup(test_killed_async_after_prewrite, case_setup),
        cmocka_unit_test_setup(test_killed_async_after_primary_prewrite, case_setup),
        cmocka_unit_test_setup(test_optimistic_conflict, case_setup),
        cmocka_unit_test_setup(test_pessimistic_lock_wait_and_conflict, case_setup),
        cmocka_unit_test_setup(test_heartbeat_keeps_lock_alive, case_setup),
        cmocka_unit_test_setup(test_versions_and_snapshots, case_setup),
        cmocka_unit_test_setup(test_bank_optimistic, case_setup),
        cmocka_unit_test_setup(test_bank_pessimistic, case_setup),
        cmocka_unit_test_setup(test_native_submit_overlaps, case_setup),
        cmocka_unit_test_setup(test_native_submit_close_waits, case_setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
