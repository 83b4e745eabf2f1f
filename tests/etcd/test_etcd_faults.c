/*
 * The etcd provider under faults, against a real 3-member cluster that this
 * process starts, kills members of, and restarts (etcd_harness):
 *
 *  - leader death under a concurrent load of puts (guarded, and
 *    writes=plain), async submissions of 64 guarded puts at a time (group
 *    commit) and counter-incrementing transactions: the load completes,
 *    every acknowledged put is present, every guarded put applied exactly
 *    once (etcd's per-key version is 1), and the counter equals the number
 *    of acknowledged increments (no increment lost, none applied twice by
 *    a retry); the restarted member catches up;
 *  - quorum loss: reads fail with EUNAVAIL or ETIMEDOUT and writes with
 *    EUNCERTAIN (they were sent: the outcome is unknown) within their
 *    deadline (never hang); a write that could not even be sent (its only
 *    member is dead) stays EUNAVAIL / ETIMEDOUT; all succeed again once
 *    the members are back;
 *  - a bank-transfer workload: concurrent transactions move money between
 *    accounts while snapshot readers check that the total never changes.
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

#include "etcd_harness.h"
#include "etcd_rpc.pb-c.h"
#include "orbit/kv.h"
#include "rpc/rpc.h"
#include "testutil.h"

static eh_cluster cl;

static int group_setup(void **state)
{
    return eh_start(&cl, 3, 1) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    eh_stop(&cl);
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static orbit_kv *open_with(const char *endpoints, const char *ns, const char *extra)
{
    char uri[1024];
    snprintf(uri, sizeof uri, "etcd://%s?namespace=%s-%d/%s%s", endpoints, ns, (int)getpid(), extra ? "&" : "",
             extra ? extra : "");
    orbit_kv *kv = NULL;
    int rc = orbit_kv_open(uri, &kv);
    if (rc)
        fprintf(stderr, "open %s: %s (%s)\n", uri, orbit_err_name(rc), orbit_last_error_detail());
    assert_int_equal(rc, 0);
    return kv;
}

static long get_long(orbit_kv *kv, const orbit_read_opts *ro, const char *k, int *rc_out)
{
    orbit_buf b = ORBIT_BUF_INIT;
    int rc = orbit_kv_get(kv, ro, (const uint8_t *)k, strlen(k), &b);
    long v = -1;
    if (rc == 0) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%.*s", (int)b.len, (const char *)b.data);
        v = strtol(tmp, NULL, 10);
    }
    orbit_buf_release(&b);
    if (rc_out)
        *rc_out = rc;
    return v;
}

/* ---- leader death under load --------------------------------------------- */

enum { WORKERS = 4, ITERS = 40 };

typedef struct worker {
    orbit_kv *kv;
    orbit_kv *put_kv; /* guarded or writes=plain, per worker */
    int id;
    int acked[ITERS];
    int put_failures;
    int incs_acked;
    int incs_unknown; /* failed with an unknown outcome */
    int conflicts;
    char first_error[256];
} worker;

/* One counter increment, retried on conflict. 0, or the error that ended it. */
static int increment(orbit_kv *kv, int *conflicts)
{
    for (;;) {
        orbit_txn *t = NULL;
        int rc = orbit_kv_txn_begin(kv, NULL, &t);
        if (rc)
            return rc;
        orbit_buf b = ORBIT_BUF_INIT;
        rc = orbit_txn_get(t, (const uint8_t *)"ctr", 3, &b);
        if (rc) {
            orbit_buf_release(&b);
            orbit_txn_rollback(t);
            return rc;
        }
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%.*s", (int)b.len, (const char *)b.data);
        orbit_buf_release(&b);
        snprintf(tmp, sizeof tmp, "%ld", strtol(tmp, NULL, 10) + 1);
        rc = orbit_txn_put(t, (const uint8_t *)"ctr", 3, (const uint8_t *)tmp, strlen(tmp));
        if (rc) {
            orbit_txn_rollback(t);
            return rc;
        }
        rc = orbit_txn_commit(t);
        if (rc != ORBIT_ECONFLICT)
            return rc;
        (*conflicts)++;
    }
}

static void *work(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < ITERS; i++) {
        char k[32], v[32];
        snprintf(k, sizeof k, "w%d-%03d", w->id, i);
        snprintf(v, sizeof v, "value-%d-%d", w->id, i);
        int rc = orbit_kv_put(w->put_kv, (const uint8_t *)k, strlen(k), (const uint8_t *)v, strlen(v));
        if (rc == 0) {
            w->acked[i] = 1;
        } else {
            w->put_failures++;
            if (!w->first_error[0])
                snprintf(w->first_error, sizeof w->first_error, "put: %s: %s", orbit_err_name(rc),
                         orbit_last_error_detail());
        }
        rc = increment(w->kv, &w->conflicts);
        if (rc == 0) {
            w->incs_acked++;
        } else {
            w->incs_unknown++;
            if (!w->first_error[0])
                snprintf(w->first_error, sizeof w->first_error, "increment: %s: %s", orbit_err_name(rc),
                         orbit_last_error_detail());
        }
    }
    return NULL;
}

/* Async submissions of DEPTH guarded puts at a time, through the failover. */
enum { DEPTH = 64, SUBMIT_ROUNDS = 12 };

typedef struct submitter {
    orbit_kv *kv;
    int acked[SUBMIT_ROUNDS][DEPTH];
    int failures;
    char first_error[256];
} submitter;

typedef struct sub_wait {
    pthread_mutex_t m;
    pthread_cond_t cv;
    int done;
} sub_wait;

static void sub_done_cb(void *arg, orbit_kv_op *ops, size_t n)
{
    sub_wait *w = arg;
    pthread_mutex_lock(&w->m);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->m);
}

static void *submit_work(void *arg)
{
    submitter *s = arg;
    static char keys[SUBMIT_ROUNDS][DEPTH][16];
    for (int r = 0; r < SUBMIT_ROUNDS; r++) {
        orbit_kv_op ops[DEPTH];
        memset(ops, 0, sizeof ops);
        for (int i = 0; i < DEPTH; i++) {
            snprintf(keys[r][i], sizeof keys[r][i], "a%d-%02d", r, i);
            ops[i].type = ORBIT_OP_PUT;
            ops[i].key = (const uint8_t *)keys[r][i];
            ops[i].klen = strlen(keys[r][i]);
            ops[i].val = (const uint8_t *)keys[r][i];
            ops[i].vlen = strlen(keys[r][i]);
        }
        sub_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
        if (orbit_kv_submit(s->kv, ops, DEPTH, sub_done_cb, &w) != 0) {
            s->failures += DEPTH;
            continue;
        }
        pthread_mutex_lock(&w.m);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.m);
        pthread_mutex_unlock(&w.m);
        for (int i = 0; i < DEPTH; i++) {
            if (ops[i].result == 0) {
                s->acked[r][i] = 1;
            } else {
                s->failures++;
                if (!s->first_error[0])
                    snprintf(s->first_error, sizeof s->first_error, "async put: %s: %s",
                             orbit_err_name(ops[i].result), ops[i].detail);
            }
        }
        sleep_ms(150); /* spread over the kill and the failover */
    }
    return NULL;
}

/* etcd's version of every key under prefix (namespaced), through a raw
 * Range: the number of times the key was written since it was created. */
static void check_versions_one(const char *endpoints, const char *prefix, int expect_keys)
{
    orbit__rpc_config cfg = {endpoints, NULL, 0, 0, 0};
    orbit__rpc *r = NULL;
    assert_int_equal(orbit__rpc_open(&cfg, &r), 0);
    char end[128];
    snprintf(end, sizeof end, "%s", prefix);
    end[strlen(end) - 1]++;
    Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
    rq.key.data = (uint8_t *)prefix;
    rq.key.len = strlen(prefix);
    rq.range_end.data = (uint8_t *)end;
    rq.range_end.len = strlen(end);
    uint8_t buf[512];
    size_t len = etcdserverpb__range_request__pack(&rq, buf);
    orbit__rpc_call_opts o = {10000, 0, 1, -1};
    orbit_buf resp = ORBIT_BUF_INIT;
    assert_int_equal(orbit__rpc_call(r, "/etcdserverpb.KV/Range", buf, len, &o, &resp), 0);
    Etcdserverpb__RangeResponse *rr = etcdserverpb__range_response__unpack(NULL, resp.len, resp.data);
    assert_non_null(rr);
    assert_int_equal((int)rr->n_kvs, expect_keys);
    int doubled = 0;
    for (size_t i = 0; i < rr->n_kvs; i++)
        doubled += rr->kvs[i]->version != 1;
    fprintf(stderr, "%s*: %zu keys, %d written more than once\n", prefix, rr->n_kvs, doubled);
    assert_int_equal(doubled, 0);
    etcdserverpb__range_response__free_unpacked(rr, NULL);
    orbit_buf_release(&resp);
    orbit__rpc_close(r);
}

static void test_leader_kill_under_load(void **state)
{
    /* A stuck attempt is abandoned after 1.5 s so a retry can find the new
     * leader well inside the 20 s budget. */
    orbit_kv *kv = open_with(cl.endpoints, "lk", "timeout_ms=20000&attempt_ms=1500");
    orbit_kv *plain = open_with(cl.endpoints, "lk", "timeout_ms=20000&attempt_ms=1500&writes=plain");
    assert_int_equal(orbit_kv_put(kv, (const uint8_t *)"ctr", 3, (const uint8_t *)"0", 1), 0);

    worker ws[WORKERS];
    pthread_t th[WORKERS];
    memset(ws, 0, sizeof ws);
    for (int i = 0; i < WORKERS; i++) {
        ws[i].kv = kv;
        ws[i].put_kv = i % 2 ? plain : kv;
        ws[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, work, &ws[i]), 0);
    }
    submitter sub;
    memset(&sub, 0, sizeof sub);
    sub.kv = kv;
    pthread_t sth;
    assert_int_equal(pthread_create(&sth, NULL, submit_work, &sub), 0);
    sleep_ms(400);
    int leader = eh_leader(&cl);
    assert_true(leader >= 0);
    uint64_t t0 = now_ms();
    eh_kill(&cl, leader);
    fprintf(stderr, "killed leader m%d under load\n", leader);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(th[i], NULL);
    pthread_join(sth, NULL);
    if (sub.first_error[0])
        fprintf(stderr, "submitter: %s\n", sub.first_error);
    assert_int_equal(sub.failures, 0);
    fprintf(stderr, "load completed %llu ms after the kill\n", (unsigned long long)(now_ms() - t0));

    int acked_incs = 0, unknown = 0, put_fail = 0, conflicts = 0;
    for (int i = 0; i < WORKERS; i++) {
        acked_incs += ws[i].incs_acked;
        unknown += ws[i].incs_unknown;
        put_fail += ws[i].put_failures;
        conflicts += ws[i].conflicts;
        if (ws[i].first_error[0])
            fprintf(stderr, "worker %d: %s\n", i, ws[i].first_error);
    }
    fprintf(stderr, "increments acknowledged %d, conflicts retried %d\n", acked_incs, conflicts);
    /* The load completes: every operation succeeded despite the failover. */
    assert_int_equal(put_fail, 0);
    assert_int_equal(unknown, 0);
    for (int w = 0; w < WORKERS; w++) {
        for (int i = 0; i < ITERS; i++) {
            char k[32], v[32];
            snprintf(k, sizeof k, "w%d-%03d", w, i);
            snprintf(v, sizeof v, "value-%d-%d", w, i);
            orbit_buf b = ORBIT_BUF_INIT;
            assert_int_equal(orbit_kv_get(kv, NULL, (const uint8_t *)k, strlen(k), &b), 0);
            assert_int_equal(b.len, strlen(v));
            assert_memory_equal(b.data, v, b.len);
            orbit_buf_release(&b);
        }
    }
    for (int r = 0; r < SUBMIT_ROUNDS; r++)
        for (int i = 0; i < DEPTH; i++) {
            char k[16];
            snprintf(k, sizeof k, "a%d-%02d", r, i);
            orbit_buf b = ORBIT_BUF_INIT;
            assert_int_equal(orbit_kv_get(kv, NULL, (const uint8_t *)k, strlen(k), &b), 0);
            assert_int_equal(b.len, strlen(k));
            assert_memory_equal(b.data, k, b.len);
            orbit_buf_release(&b);
        }
    /* exactly once: every guarded put (sync workers 0 and 2, the async
     * submitter) applied once, however often its Txn was resent */
    char prefix[64];
    snprintf(prefix, sizeof prefix, "lk-%d/a", (int)getpid());
    check_versions_one(cl.endpoints, prefix, SUBMIT_ROUNDS * DEPTH);
    for (int w = 0; w < WORKERS; w += 2) {
        snprintf(prefix, sizeof prefix, "lk-%d/w%d-", (int)getpid(), w);
        check_versions_one(cl.endpoints, prefix, ITERS);
    }
    int rc;
    long ctr = get_long(kv, NULL, "ctr", &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(ctr, acked_incs);
    assert_int_equal(acked_incs, WORKERS * ITERS);
    orbit_kv_close(plain);
    orbit_kv_close(kv);

    /* The restarted member catches up: a serializable read served by it
     * alone reaches the final counter. */
    assert_int_equal(eh_restart(&cl, leader), 0);
    orbit_kv *one = NULL;
    uint64_t deadline = now_ms() + 20000;
    long seen = -1;
    while (now_ms() < deadline) {
        if (!one) {
            char uri[512];
            snprintf(uri, sizeof uri, "etcd://%s?namespace=lk-%d/&read=serializable&timeout_ms=1000",
                     eh_endpoint(&cl, leader), (int)getpid());
            if (orbit_kv_open(uri, &one) != 0)
                one = NULL;
        }
        if (one && (seen = get_long(one, NULL, "ctr", NULL)) == acked_incs)
            break;
        sleep_ms(200);
    }
    assert_int_equal(seen, acked_incs);
    orbit_kv_close(one);
    assert_int_equal(eh_wait_leader(&cl, 20000), 0);
}

/* ---- quorum loss ------------------------------------------------------- */

static void test_quorum_loss(void **state)
{
    orbit_kv *kv = open_with(cl.endpoints, "q", "timeout_ms=1500");
    assert_int_equal(orbit_kv_put(kv, (const uint8_t *)"k", 1, (const uint8_t *)"1", 1), 0);
    int a = 1, b = 2;
    /* a store whose only endpoint is member a */
    orbit_kv *only_a = open_with(eh_endpoint(&cl, a), "q", "timeout_ms=1500");
    eh_kill(&cl, a);
    eh_kill(&cl, b);
    sleep_ms(300);

    /* Nothing listens at a any more: the write is never sent, so its
     * outcome is known (not applied) and it stays retryable. */
    int rc0 = orbit_kv_put(only_a, (const uint8_t *)"k", 1, (const uint8_t *)"9", 1);
    fprintf(stderr, "put to a dead member: %s (%s)\n", orbit_err_name(rc0), orbit_last_error_detail());
    assert_true(rc0 == ORBIT_EUNAVAIL || rc0 == ORBIT_ETIMEDOUT);
    assert_true(orbit_err_retryable(rc0));
    orbit_kv_close(only_a);

    uint64_t t0 = now_ms();
    int rc = orbit_kv_put(kv, (const uint8_t *)"k", 1, (const uint8_t *)"2", 1);
    uint64_t took = now_ms() - t0;
    fprintf(stderr, "put without quorum: %s after %llu ms (%s)\n", orbit_err_name(rc), (unsigned long long)took,
            orbit_last_error_detail());
    /* sent to a live member that cannot commit it: outcome unknown */
    assert_int_equal(rc, ORBIT_EUNCERTAIN);
    assert_non_null(strstr(orbit_last_error_detail(), "outcome unknown"));
    assert_false(orbit_err_retryable(rc));
    assert_true(took < 1500 + 1000);

    /* a transaction commit likewise */
    orbit_txn *ct = NULL;
    rc = orbit_kv_txn_begin(kv, NULL, &ct);
    if (rc == 0) {
        assert_int_equal(orbit_txn_put(ct, (const uint8_t *)"t", 1, (const uint8_t *)"1", 1), 0);
        rc = orbit_txn_commit(ct);
        assert_int_equal(rc, ORBIT_EUNCERTAIN);
    } else {
        assert_true(rc == ORBIT_EUNAVAIL || rc == ORBIT_ETIMEDOUT);
    }

    t0 = now_ms();
    orbit_buf buf = ORBIT_BUF_INIT;
    rc = orbit_kv_get(kv, NULL, (const uint8_t *)"k", 1, &buf);
    took = now_ms() - t0;
    fprintf(stderr, "linearizable get without quorum: %s after %llu ms\n", orbit_err_name(rc),
            (unsigned long long)took);
    assert_true(rc == ORBIT_EUNAVAIL || rc == ORBIT_ETIMEDOUT);
    assert_true(took < 1500 + 1000);
    orbit_buf_release(&buf);

    orbit_txn *t = NULL;
    rc = orbit_kv_txn_begin(kv, NULL, &t);
    assert_true(rc == ORBIT_EUNAVAIL || rc == ORBIT_ETIMEDOUT);

    assert_int_equal(eh_restart(&cl, a), 0);
    assert_int_equal(eh_restart(&cl, b), 0);
    assert_int_equal(eh_wait_leader(&cl, 20000), 0);
    uint64_t deadline = now_ms() + 15000;
    /* a put of one value is idempotent: safe to retry after EUNCERTAIN */
    do {
        rc = orbit_kv_put(kv, (const uint8_t *)"k", 1, (const uint8_t *)"3", 1);
    } while (rc != 0 && (orbit_err_retryable(rc) || rc == ORBIT_EUNCERTAIN) && now_ms() < deadline);
    assert_int_equal(rc, 0);
    /* the failed put's outcome was unknown; either way "3" is now current */
    assert_int_equal(get_long(kv, NULL, "k", &rc), 3);
    orbit_kv_close(kv);
}

/* ---- bank transfers ----------------------------------------------------- */

enum { ACCOUNTS = 6, START = 100, TELLERS = 3, TRANSFERS = 30 };

typedef struct bank {
    orbit_kv *kv;
    uint64_t seed;
    int done;
    int bad_sums;
    int checks;
    int failures;
} bank;

static int transfer(orbit_kv *kv, int from, int to, long amount)
{
    char kf[16], kt[16];
    snprintf(kf, sizeof kf, "acct%d", from);
    snprintf(kt, sizeof kt, "acct%d", to);
    for (;;) {
        orbit_txn *t = NULL;
        int rc = orbit_kv_txn_begin(kv, NULL, &t);
        if (rc)
            return rc;
        orbit_buf bf = ORBIT_BUF_INIT, bt = ORBIT_BUF_INIT;
        rc = orbit_txn_get(t, (const uint8_t *)kf, strlen(kf), &bf);
        if (!rc)
            rc = orbit_txn_get(t, (const uint8_t *)kt, strlen(kt), &bt);
        if (!rc) {
            char tmp[32];
            snprintf(tmp, sizeof tmp, "%.*s", (int)bf.len, (const char *)bf.data);
            long f = strtol(tmp, NULL, 10);
            snprintf(tmp, sizeof tmp, "%.*s", (int)bt.len, (const char *)bt.data);
            long g = strtol(tmp, NULL, 10);
            if (f >= amount) {
                snprintf(tmp, sizeof tmp, "%ld", f - amount);
                rc = orbit_txn_put(t, (const uint8_t *)kf, strlen(kf), (const uint8_t *)tmp, strlen(tmp));
                snprintf(tmp, sizeof tmp, "%ld", g + amount);
                if (!rc)
                    rc = orbit_txn_put(t, (const uint8_t *)kt, strlen(kt), (const uint8_t *)tmp, strlen(tmp));
            }
        }
        orbit_buf_release(&bf);
        orbit_buf_release(&bt);
        if (rc) {
            orbit_txn_rollback(t);
            return rc;
        }
        rc = orbit_txn_commit(t);
        if (rc != ORBIT_ECONFLICT)
            return rc;
    }
}

static void *teller(void *arg)
{
    bank *b = arg;
    tu_rng r;
    tu_rng_init(&r, b->seed);
    for (int i = 0; i < TRANSFERS; i++) {
        int from = (int)tu_below(&r, ACCOUNTS);
        int to = (int)((from + 1 + tu_below(&r, ACCOUNTS - 1)) % ACCOUNTS);
        if (transfer(b->kv, from, to, (long)tu_below(&r, 40) + 1) != 0)
            __atomic_add_fetch(&b->failures, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* Sum every account in one snapshot scan. */
static long bank_sum(orbit_kv *kv, int *naccounts)
{
    orbit_snapshot *s = NULL;
    if (orbit_kv_snapshot(kv, &s) != 0)
        return -1;
    orbit_read_opts ro = {s};
    orbit_scan_opts so;
    memset(&so, 0, sizeof so);
    so.prefix = (const uint8_t *)"acct";
    so.prefix_len = 4;
    orbit_iter *it = NULL;
    long sum = -1;
    if (orbit_kv_iter(kv, &ro, &so, &it) == 0) {
        const uint8_t *k, *v;
        size_t kl, vl;
        sum = 0;
        *naccounts = 0;
        int rc;
        while ((rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0) {
            char tmp[32];
            snprintf(tmp, sizeof tmp, "%.*s", (int)vl, (const char *)v);
            long x = strtol(tmp, NULL, 10);
            if (x < 0)
                sum = -1000000;
            sum += x;
            (*naccounts)++;
        }
        if (rc != ORBIT_NOTFOUND)
            sum = -1;
        orbit_iter_close(it);
    }
    orbit_snapshot_release(s);
    return sum;
}

static void *auditor(void *arg)
{
    bank *b = arg;
    while (!__atomic_load_n(&b->done, __ATOMIC_ACQUIRE)) {
        int n = 0;
        long sum = bank_sum(b->kv, &n);
        if (sum != (long)ACCOUNTS * START || n != ACCOUNTS)
            b->bad_sums++;
        b->checks++;
    }
    return NULL;
}

static void test_bank_transfers(void **state)
{
    orbit_kv *kv = open_with(cl.endpoints, "bank", "timeout_ms=10000");
    orbit_batch *init = NULL;
    assert_int_equal(orbit_batch_new(&init), 0);
    for (int i = 0; i < ACCOUNTS; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "acct%d", i);
        snprintf(v, sizeof v, "%d", START);
        assert_int_equal(orbit_batch_put(init, (const uint8_t *)k, strlen(k), (const uint8_t *)v, strlen(v)), 0);
    }
    assert_int_equal(orbit_kv_write(kv, init), 0);
    orbit_batch_free(init);

    uint64_t seed = tu_seed("etcd_bank");
    bank tellers[TELLERS];
    pthread_t th[TELLERS], aud;
    bank audit = {kv, 0, 0, 0, 0, 0};
    assert_int_equal(pthread_create(&aud, NULL, auditor, &audit), 0);
    for (int i = 0; i < TELLERS; i++) {
        tellers[i] = (bank){kv, seed + (uint64_t)i * 7919u, 0, 0, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, teller, &tellers[i]), 0);
    }
    int failures = 0;
    for (int i = 0; i < TELLERS; i++) {
        pthread_join(th[i], NULL);
        failures += tellers[i].failures;
    }
    __atomic_store_n(&audit.done, 1, __ATOMIC_RELEASE);
    pthread_join(aud, NULL);
    fprintf(stderr, "bank: %d audits, %d bad\n", audit.checks, audit.bad_sums);
    assert_int_equal(failures, 0);
    assert_true(audit.checks > 0);
    assert_int_equal(audit.bad_sums, 0);
    int n = 0;
    assert_int_equal(bank_sum(kv, &n), (long)ACCOUNTS * START);
    assert_int_equal(n, ACCOUNTS);
    orbit_kv_close(kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bank_transfers),
        cmocka_unit_test(test_leader_kill_under_load),
        cmocka_unit_test(test_quorum_loss),
    };
    return cmocka_run_group_tests_name("etcd_faults", tests, group_setup, group_teardown);
}
