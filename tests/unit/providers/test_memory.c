/*
 * Tests of the in-memory provider (src/providers/memory/memory*.c) through the public API:
 * what is specific to it as the oracle — MVCC snapshot reads, iterator
 * isolation, version pruning, pessimistic key locks and their timeouts,
 * optimistic commit-time validation, isolation levels, a transaction's view
 * of its own writes, URI options, allocation failures, and a multi-threaded
 * run under the sanitizers; and its contract-v2 natives: versions, one-view
 * multi-get, range deletes (plain and in batches) against snapshots and both
 * kinds of transaction, compare-and-set (also raced by threads), seek,
 * keys-only and byte limits. The cross-provider contract suite lives
 * elsewhere; nothing here repeats it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "orbit/kv.h"
#include "providers/memory/memory_int.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------- */

#define K(s) (const uint8_t *)(s), strlen(s)

static orbit_kv *open_kv(const char *uri)
{
    orbit_kv *kv = NULL;
    int rc = orbit_kv_open(uri, &kv);
    if (rc != ORBIT_OK)
        fail_msg("open %s: %s (%s)", uri, orbit_err_name(rc), orbit_last_error_detail());
    return kv;
}

static void put(orbit_kv *kv, const char *k, const char *v)
{
    assert_int_equal(orbit_kv_put(kv, K(k), K(v)), ORBIT_OK);
}

static void del(orbit_kv *kv, const char *k)
{
    assert_int_equal(orbit_kv_del(kv, K(k)), ORBIT_OK);
}

/* The value of k at snap as a string, or "-" if absent. */
static const char *get_at(orbit_kv *kv, orbit_snapshot *snap, const char *k)
{
    static char out[256];
    orbit_buf b = ORBIT_BUF_INIT;
    orbit_read_opts ro = {snap};
    int rc = orbit_kv_get(kv, &ro, K(k), &b);
    assert_true(rc == ORBIT_OK || rc == ORBIT_NOTFOUND);
    if (rc == ORBIT_NOTFOUND)
        snprintf(out, sizeof out, "-");
    else
        snprintf(out, sizeof out, "%.*s", (int)b.len, (const char *)b.data);
    orbit_buf_release(&b);
    return out;
}

static const char *tget(orbit_txn *t, const char *k)
{
    static char out[256];
    orbit_buf b = ORBIT_BUF_INIT;
    int rc = orbit_txn_get(t, K(k), &b);
    assert_true(rc == ORBIT_OK || rc == ORBIT_NOTFOUND);
    if (rc == ORBIT_NOTFOUND)
        snprintf(out, sizeof out, "-");
    else
        snprintf(out, sizeof out, "%.*s", (int)b.len, (const char *)b.data);
    orbit_buf_release(&b);
    return out;
}

/* Drain an iterator into "k=v,k=v" and close it. */
static const char *drain(orbit_iter *it)
{
    static char out[4096];
    size_t o = 0;
    out[0] = '\0';
    const uint8_t *k, *v;
    size_t kl, vl;
    int rc;
    while ((rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == ORBIT_OK)
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%.*s=%.*s", o ? "," : "",
                              (int)kl, (const char *)k, (int)vl, (const char *)v);
    assert_int_equal(rc, ORBIT_NOTFOUND);
    orbit_iter_close(it);
    return out;
}

static orbit_scan_opts range(const char *lo, const char *hi, int reverse)
{
    orbit_scan_opts so;
    memset(&so, 0, sizeof so);
    if (lo) {
        so.start = (const uint8_t *)lo;
        so.start_len = strlen(lo);
    }
    if (hi) {
        so.end = (const uint8_t *)hi;
        so.end_len = strlen(hi);
    }
    so.reverse = reverse;
    return so;
}

static const char *scan_at(orbit_kv *kv, orbit_snapshot *snap, const char *lo,
                           const char *hi, int reverse)
{
    orbit_iter *it;
    orbit_read_opts ro = {snap};
    orbit_scan_opts so = range(lo, hi, reverse);
    assert_int_equal(orbit_kv_iter(kv, &ro, &so, &it), ORBIT_OK);
    return drain(it);
}

static const char *tscan(orbit_txn *t, const char *lo, const char *hi, int reverse)
{
    orbit_iter *it;
    orbit_scan_opts so = range(lo, hi, reverse);
    assert_int_equal(orbit_txn_iter(t, &so, &it), ORBIT_OK);
    return drain(it);
}

static orbit_txn *begin(orbit_kv *kv, orbit_isolation iso)
{
    orbit_txn *t = NULL;
    orbit_txn_opts o = {iso};
    assert_int_equal(orbit_kv_txn_begin(kv, &o, &t), ORBIT_OK);
    return t;
}

static void counts(uint64_t *keys, uint64_t *versions)
{
    orbit__memory_counts(keys, versions);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- URI and capabilities --------------------------------------------- */

static void expect_open_error(const char *uri, int code, const char *detail_part)
{
    orbit_kv *kv = NULL;
    int rc = orbit_kv_open(uri, &kv);
    if (rc != code)
        fail_msg("open %s: got %s, want %s", uri, orbit_err_name(rc), orbit_err_name(code));
    assert_null(kv);
    if (!strstr(orbit_last_error_detail(), detail_part))
        fail_msg("open %s: detail \"%s\" lacks \"%s\"", uri, orbit_last_error_detail(), detail_part);
}

static void test_uri_options(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:");
    orbit_capabilities c;
    orbit_kv_capabilities(kv, &c);
    assert_int_equal(c.type, ORBIT_PROVIDER_MEMORY);
    assert_string_equal(c.name, "memory");
    assert_int_equal(c.durable, 0);
    assert_int_equal(c.supports_transactions, 1);
    assert_int_equal(c.supports_distributed_transactions, 0);
    assert_int_equal(c.supports_multi_region, 0);
    assert_int_equal(c.supports_snapshots, 1);
    assert_int_equal(c.native_async, 0);
    assert_int_equal(c.isolation_levels,
                     ORBIT_ISO_BIT(ORBIT_ISO_SNAPSHOT) | ORBIT_ISO_BIT(ORBIT_ISO_READ_COMMITTED));
    assert_int_equal(c.max_batch_ops, 0);
    assert_int_equal(c.max_key_size, 0);
    /* The rocksdb provider's limit: 64 MiB plus 64 KiB for an envelope. */
    assert_int_equal(c.max_value_size, ((size_t)64 << 20) + ((size_t)64 << 10));
    assert_int_equal(c.max_value_size, ORBIT_MEMORY_MAX_VALUE);
    /* Serializable is refused, never silently downgraded. */
    orbit_txn *t = NULL;
    orbit_txn_opts o = {ORBIT_ISO_SERIALIZABLE};
    assert_int_equal(orbit_kv_txn_begin(kv, &o, &t), ORBIT_ENOTSUP);
    assert_null(t);
    orbit_kv_close(kv);

    /* The default mode is optimistic: a second writer of a key one live
     * transaction wrote is not refused until that transaction commits. */
    kv = open_kv("memory:");
    orbit_txn *t1 = NULL;
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &t1), 0);
    assert_int_equal(orbit_txn_put(t1, (const uint8_t *)"k", 1, (const uint8_t *)"1", 1), 0);
    assert_int_equal(orbit_kv_put(kv, (const uint8_t *)"k", 1, (const uint8_t *)"2", 1), 0);
    assert_int_equal(orbit_txn_commit(t1), ORBIT_ECONFLICT);
    orbit_kv_close(kv);

    /* Each open is a new, empty store. */
    kv = open_kv("memory:?txn=optimistic&lock_timeout_ms=25");
    put(kv, "a", "1");
    orbit_kv *kv2 = open_kv("memory:?txn=pessimistic");
    assert_string_equal(get_at(kv2, NULL, "a"), "-");
    assert_string_equal(get_at(kv, NULL, "a"), "1");
    orbit_kv_close(kv2);
    orbit_kv_close(kv);

    expect_open_error("memory:/tmp/x", ORBIT_EBADURI, "/tmp/x");
    expect_open_error("memory:?txn=bogus", ORBIT_EINVAL, "bogus");
    expect_open_error("memory:?txn=", ORBIT_EINVAL, "txn");
    expect_open_error("memory:?txn=pessimistic&lock_timeout_ms=abc", ORBIT_EINVAL, "lock_timeout_ms");
    expect_open_error("memory:?txn=pessimistic&lock_timeout_ms=-5", ORBIT_EINVAL, "lock_timeout_ms");
    expect_open_error("memory:?txn=pessimistic&lock_timeout_ms=86400001", ORBIT_EINVAL, "one day");
    expect_open_error("memory:?cache=1", ORBIT_EINVAL, "cache");
}

/* ---- MVCC reads ------------------------------------------------------- */

static void test_snapshot_reads(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:?txn=pessimistic");
    put(kv, "a", "1");
    put(kv, "b", "1");
    orbit_snapshot *s1;
    assert_int_equal(orbit_kv_snapshot(kv, &s1), ORBIT_OK);
    put(kv, "a", "2");
    del(kv, "b");
    put(kv, "c", "2");
    orbit_snapshot *s2;
    assert_int_equal(orbit_kv_snapshot(kv, &s2), ORBIT_OK);
    put(kv, "a", "3");
    del(kv, "a");
    put(kv, "b", "3");

    assert_string_equal(get_at(kv, s1, "a"), "1");
    assert_string_equal(get_at(kv, s1, "b"), "1");
    assert_string_equal(get_at(kv, s1, "c"), "-");
    assert_string_equal(get_at(kv, s2, "a"), "2");
    assert_string_equal(get_at(kv, s2, "b"), "-");
    assert_string_equal(get_at(kv, s2, "c"), "2");
    assert_string_equal(get_at(kv, NULL, "a"), "-");
    assert_string_equal(get_at(kv, NULL, "b"), "3");

    assert_string_equal(scan_at(kv, s1, NULL, NULL, 0), "a=1,b=1");
    assert_string_equal(scan_at(kv, s2, NULL, NULL, 1), "c=2,a=2");
    assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "b=3,c=2");

    /* Releasing the older snapshot first must not disturb the newer. */
    orbit_snapshot_release(s1);
    assert_string_equal(get_at(kv, s2, "a"), "2");
    assert_string_equal(scan_at(kv, s2, NULL, NULL, 0), "a=2,c=2");
    orbit_snapshot_release(s2);
    orbit_kv_close(kv);
}

/* A batch is one version: a snapshot sees all of it or none of it, and the
 * last write of a key inside it wins. */
static void test_batch_atomic_version(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:?txn=pessimistic");
    put(kv, "x", "0");
    orbit_snapshot *s;
    assert_int_equal(orbit_kv_snapshot(kv, &s), ORBIT_OK);
    orbit_batch *b;
    assert_int_equal(orbit_batch_new(&b), ORBIT_OK);
    assert_int_equal(orbit_batch_put(b, K("x"), K("1")), ORBIT_OK);
    assert_int_equal(orbit_batch_put(b, K("y"), K("1")), ORBIT_OK);
    assert_int_equal(orbit_batch_del(b, K("x")), ORBIT_OK);
    assert_int_equal(orbit_batch_put(b, K("z"), K("")), ORBIT_OK);
    assert_int_equal(orbit_batch_put(b, K("y"), K("2")), ORBIT_OK);
    assert_int_equal(orbit_kv_write(kv, b), ORBIT_OK);
    orbit_batch_free(b);
    assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "y=2,z=");
    assert_string_equal(scan_at(kv, s, NULL, NULL, 0), "x=0");
    orbit_snapshot_release(s);
    orbit_kv_close(kv);
}

/* ---- iterators -------------------------------------------------------- */

static void test_iterator_isolation(void **state)
{
    (void)state;
    for (int reverse = 0; reverse <= 1; reverse++) {
        orbit_kv *kv = open_kv("memory:?txn=pessimistic");
        const char *keys[] = {"k1", "k2", "k3", "k4", "k5", "k6"};
        for (size_t i = 0; i < 6; i++)
            put(kv, keys[i], "old");
        orbit_iter *it;
        orbit_scan_opts so = range(NULL, NULL, reverse);
        assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), ORBIT_OK);
        const uint8_t *k, *v;
        size_t kl, vl;
        assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), ORBIT_OK);
        assert_memory_equal(k, reverse ? "k6" : "k1", 2);
        /* Writes after the open stay invisible to the iterator, including
         * removals of keys it has not reached and of the key it is on. */
        put(kv, "k35", "new");
        del(kv, "k3");
        del(kv, "k4");
        del(kv, reverse ? "k6" : "k1");
        put(kv, "k5", "new");
        put(kv, "k0", "new");
        put(kv, "k9", "new");
        const char *want = reverse ? "k5=old,k4=old,k3=old,k2=old,k1=old"
                                   : "k2=old,k3=old,k4=old,k5=old,k6=old";
        assert_string_equal(drain(it), want);
        assert_string_equal(scan_at(kv, NULL, NULL, NULL, reverse),
                            reverse ? "k9=new,k5=new,k35=new,k2=old,k1=old,k0=new"
                                    : "k0=new,k2=old,k35=new,k5=new,k6=old,k9=new");
        orbit_kv_close(kv);
    }
}

/* An iterator opened on a snapshot keeps reading it after the snapshot
 * handle is released; bounds are honoured in both directions. */
static void test_iterator_outlives_snapshot(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:?txn=pessimistic");
    put(kv, "a", "1");
    put(kv, "b", "1");
    put(kv, "c", "1");
    orbit_snapshot *s;
    assert_int_equal(orbit_kv_snapshot(kv, &s), ORBIT_OK);
    orbit_iter *it;
    orbit_read_opts ro = {s};
    orbit_scan_opts so = range("b", "d", 1);
    assert_int_equal(orbit_kv_iter(kv, &ro, &so, &it), ORBIT_OK);
    orbit_snapshot_release(s);
    put(kv, "b", "2");
    del(kv, "c");
    put(kv, "bb", "2");
    assert_string_equal(drain(it), "c=1,b=1");
    assert_string_equal(scan_at(kv, NULL, "a", "bz", 0), "a=1,b=2,bb=2");
    orbit_kv_close(kv);
}

typedef struct churn_arg {
    orbit_kv *kv;
    atomic_int stop;
    atomic_int rounds;
} churn_arg;

/* Rewrites every key "r00".."r49" in one batch, all with the same round
 * number, deleting a different subset each round. */
static void *churn(void *p)
{
    churn_arg *a = p;
    orbit_batch *b;
    if (orbit_batch_new(&b) != ORBIT_OK)
        return (void *)1;
    for (int round = 1; !atomic_load(&a->stop); round++) {
        orbit_batch_clear(b);
        char k[16], v[16];
        for (int i = 0; i < 50; i++) {
            snprintf(k, sizeof k, "r%02d", i);
            snprintf(v, sizeof v, "%d", round);
            int rc = (i + round) % 7 == 0 ? orbit_batch_del(b, K(k)) : orbit_batch_put(b, K(k), K(v));
            if (rc != ORBIT_OK)
                return (void *)1;
        }
        if (orbit_kv_write(a->kv, b) != ORBIT_OK)
            return (void *)1;
        atomic_store(&a->rounds, round);
    }
    orbit_batch_free(b);
    return NULL;
}

/* Scans concurrent with batch writers must each see exactly one batch. */
static void test_iterator_concurrent_writer(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:?txn=pessimistic");
    churn_arg a = {kv, 0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, churn, &a), 0);
    /* Enough scans, and enough batches landing among them, whatever the
     * relative speed of the two threads. */
    uint64_t t0 = now_ms();
    for (int scan = 0; (scan < 300 || atomic_load(&a.rounds) < 50) && now_ms() - t0 < 20000;
         scan++) {
        orbit_iter *it;
        orbit_scan_opts so = range(NULL, NULL, scan & 1);
        assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), ORBIT_OK);
        const uint8_t *k, *v;
        size_t kl, vl, n = 0;
        char first[16] = "";
        int rc;
        while ((rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == ORBIT_OK) {
            char val[16];
            snprintf(val, sizeof val, "%.*s", (int)vl, (const char *)v);
            if (!n)
                snprintf(first, sizeof first, "%s", val);
            else
                assert_string_equal(val, first);
            n++;
            /* Give the writer a chance to land mid-scan. */
            if (n % 10 == 0)
                sched_yield();
        }
        assert_int_equal(rc, ORBIT_NOTFOUND);
        orbit_iter_close(it);
        if (n) {
            int round = atoi(first);
            /* 50 keys minus those deleted in that round */
            size_t deleted = 0;
            for (int i = 0; i < 50; i++)
                deleted += (i + round) % 7 == 0;
            assert_int_equal(n, 50 - deleted);
        }
    }
    atomic_store(&a.stop, 1);
    void *ret;
    pthread_join(th, &ret);
    assert_null(ret);
    assert_true(atomic_load(&a.rounds) >= 50);
    orbit_kv_close(kv);
}

/* ---- pruning ---------------------------------------------------------- */

static void overwrite(orbit_kv *kv, const char *k, int times)
{
    char v[16];
    for (int i = 0; i < times; i++) {
        snprintf(v, sizeof v, "%d", i);
        put(kv, k, v);
    }
}

static void expect_counts(uint64_t keys, uint64_t versions)
{
    uint64_t k, v;
    counts(&k, &v);
    if (k != keys || v != versions)
        fail_msg("store holds %llu keys / %llu versions, want %llu / %llu",
                 (unsigned long long)k, (unsigned long long)v,
                 (unsigned long long)keys, (unsigned long long)versions);
}

static void test_pruning(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:?txn=pessimistic");
    expect_counts(0, 0);
    overwrite(kv, "k", 1000);
    expect_counts(1, 1);

    /* One snapshot keeps exactly the version it sees, however many
     * overwrites follow; a second one in between keeps one more. */
    orbit_snapshot *s1, *s2;
    assert_int_equal(orbit_kv_snapshot(kv, &s1), ORBIT_OK);
    overwrite(kv, "k", 500);
    expect_counts(1, 2);
    assert_int_equal(orbit_kv_snapshot(kv, &s2), ORBIT_OK);
    overwrite(kv, "k", 500);
    expect_counts(1, 3);
    assert_string_equal(get_at(kv, s1, "k"), "999");
    assert_string_equal(get_at(kv, s2, "k"), "499");
    /* Releasing the middle one frees what only it saw. */
    orbit_snapshot_release(s2);
    expect_counts(1, 2);
    orbit_snapshot_release(s1);
    expect_counts(1, 1);

    /* A delete nobody can observe removes the key outright... */
    del(kv, "k");
    expect_counts(0, 0);
    del(kv, "never-there");
    expect_counts(0, 0);

    /* ...while a snapshot keeps the old value and the tombstone until it
     * goes. */
    put(kv, "k", "v");
    assert_int_equal(orbit_kv_snapshot(kv, &s1), ORBIT_OK);
    del(kv, "k");
    expect_counts(1, 2);
    assert_string_equal(get_at(kv, s1, "k"), "v");
    orbit_snapshot_release(s1);
    expect_counts(0, 0);

    /* An open iterator pins like a snapshot. */
    put(kv, "a", "1");
    put(kv, "b", "1");
    orbit_iter *it;
    assert_int_equal(orbit_kv_iter(kv, NULL, NULL, &it), ORBIT_OK);
    overwrite(kv, "a", 100);
    del(kv, "b");
    expect_counts(2, 4);
    assert_string_equal(drain(it), "a=1,b=1");
    expect_counts(1, 1);

    /* A transaction's snapshot pins too; rollback releases it. */
    orbit_txn *t = begin(kv, ORBIT_ISO_SNAPSHOT);
    overwrite(kv, "a", 10);
    expect_counts(1, 2);
    orbit_txn_rollback(t);
    expect_counts(1, 1);
    orbit_kv_close(kv);
    expect_counts(0, 0);
}

/* ---- pessimistic locks ------------------------------------------------ */

static void test_pessimistic_lock_conflict(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:?txn=pessimistic");
    put(kv, "k", "0");
    orbit_txn *t1 = begin(kv, ORBIT_ISO_SNAPSHOT);
    orbit_txn *t2 = begin(kv, ORBIT_ISO_READ_COMMITTED);
    assert_int_equal(orbit_txn_put(t1, K("k"), K("t1")), ORBIT_OK);
    /* Re-entrant for the owner. */
    assert_int_equal(orbit_txn_put(t1, K("k"), K("t1b")), ORBIT_OK);
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_txn_get_for_update(t1, K("k"), &b), ORBIT_OK);
    assert_memory_equal(b.data, "t1b", 3);

    int rc = orbit_txn_put(t2, K("k"), K("t2"));
    assert_int_equal(rc, ORBIT_ECONFLICT);
    assert_true(orbit_err_retryable(rc));
    assert_non_null(strstr(orbit_last_error_detail(), "\"k\""));
    assert_int_equal(orbit_txn_del(t2, K("k")), ORBIT_ECONFLICT);
    assert_int_equal(orbit_txn_get_for_update(t2, K("k"), &b), ORBIT_ECONFLICT);
    /* A plain read takes no lock and sees only committed data. */
    assert_string_equal(tget(t2, "k"), "0");
    /* Other keys are free. */
    assert_int_equal(orbit_txn_put(t2, K("other"), K("t2")), ORBIT_OK);
    orbit_txn_rollback(t2);

    assert_int_equal(orbit_txn_commit(t1), ORBIT_OK);
    assert_string_equal(get_at(kv, NULL, "k"), "t1b");
    assert_string_equal(get_at(kv, NULL, "other"), "-");
    orbit_buf_release(&b);
    orbit_kv_close(kv);
}

/* Under snapshot isolation a lock on a key committed after the snapshot is
 * a write conflict, and the lock taken for it is given back at once. */
static void test_pessimistic_snapshot_validation(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:?txn=pessimistic");
    put(kv, "k", "0");
    orbit_txn *old = begin(kv, ORBIT_ISO_SNAPSHOT);
    orbit_txn *rc_txn = begin(kv, ORBIT_ISO_READ_COMMITTED);
    put(kv, "k", "1");
    del(kv, "gone"); /* absent: still a newer write for validation */
    assert_int_equal(orbit_txn_put(old, K("k"), K("x")), ORBIT_ECONFLICT);
    assert_non_null(strstr(orbit_last_error_detail(), "conflict"));
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_txn_get_for_update(old, K("k"), &b), ORBIT_ECONFLICT);
    assert_int_equal(orbit_txn_put(old, K("gone"), K("x")), ORBIT_ECONFLICT);
    /* Not validated, only locked: the lock the failed put took is free. */
    assert_int_equal(orbit_txn_put(rc_txn, K("k"), K("rc")), ORBIT_OK);
    assert_int_equal(orbit_txn_put(rc_txn, K("gone"), K("rc")), ORBIT_OK);
    assert_int_equal(orbit_txn_commit(rc_txn), ORBIT_OK);
    /* Keys untouched since the snapshot are fine. */
    assert_int_equal(orbit_txn_put(old, K("fresh"), K("old")), ORBIT_OK);
    orbit_txn_rollback(old);
    assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "gone=rc,k=rc");
    orbit_buf_release(&b);
    orbit_kv_close(kv);
}

typedef struct later_arg {
    orbit_txn *t;   /* committed after delay_ms */
    orbit_kv *kv;   /* or, if t is NULL, put k=later */
    unsigned delay_ms;
    int rc;
} later_arg;

static void *commit_later(void *p)
{
    later_arg *a = p;
    usleep(a->delay_ms * 1000u);
    if (a->t)
        a->rc = orbit_txn_commit(a->t);
    else
        a->rc = orbit_kv_put(a->kv, K("k"), K("later"));
    return NULL;
}

static void test_lock_timeout_wait(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:?txn=pessimistic&lock_timeout_ms=5000");
    put(kv, "k", "0");

    /* Read committed: the waiter gets the lock when the holder commits
     * and then succeeds. */
    orbit_txn *holder = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_put(holder, K("k"), K("h1")), ORBIT_OK);
    later_arg a = {holder, NULL, 150, -100};
    pthread_t th;
    orbit_txn *waiter = begin(kv, ORBIT_ISO_READ_COMMITTED);
    uint64_t t0 = now_ms();
    assert_int_equal(pthread_create(&th, NULL, commit_later, &a), 0);
    assert_int_equal(orbit_txn_put(waiter, K("k"), K("w1")), ORBIT_OK);
    uint64_t waited = now_ms() - t0;
    pthread_join(th, NULL);
    assert_int_equal(a.rc, ORBIT_OK);
    assert_true(waited >= 100);
    assert_string_equal(tget(waiter, "k"), "w1");
    assert_int_equal(orbit_txn_commit(waiter), ORBIT_OK);
    assert_string_equal(get_at(kv, NULL, "k"), "w1");

    /* Snapshot isolation: the wait ends in a write conflict, because the
     * holder committed after the waiter's snapshot. */
    holder = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_put(holder, K("k"), K("h2")), ORBIT_OK);
    waiter = begin(kv, ORBIT_ISO_SNAPSHOT);
    a = (later_arg){holder, NULL, 100, -100};
    assert_int_equal(pthread_create(&th, NULL, commit_later, &a), 0);
    assert_int_equal(orbit_txn_put(waiter, K("k"), K("w2")), ORBIT_ECONFLICT);
    assert_non_null(strstr(orbit_last_error_detail(), "write conflict"));
    pthread_join(th, NULL);
    assert_int_equal(a.rc, ORBIT_OK);
    orbit_txn_rollback(waiter);
    assert_string_equal(get_at(kv, NULL, "k"), "h2");

    /* A plain write waits for the lock too. */
    holder = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_put(holder, K("k"), K("h3")), ORBIT_OK);
    a = (later_arg){holder, NULL, 100, -100};
    assert_int_equal(pthread_create(&th, NULL, commit_later, &a), 0);
    assert_int_equal(orbit_kv_put(kv, K("k"), K("plain")), ORBIT_OK);
    pthread_join(th, NULL);
    assert_int_equal(a.rc, ORBIT_OK);
    assert_string_equal(get_at(kv, NULL, "k"), "plain");
    orbit_kv_close(kv);

    /* The wait is bounded. */
    kv = open_kv("memory:?txn=pessimistic&lock_timeout_ms=150");
    holder = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_put(holder, K("k"), K("h")), ORBIT_OK);
    waiter = begin(kv, ORBIT_ISO_READ_COMMITTED);
    t0 = now_ms();
    assert_int_equal(orbit_txn_put(waiter, K("k"), K("w")), ORBIT_ECONFLICT);
    waited = now_ms() - t0;
    assert_true(waited >= 140);
    t0 = now_ms();
    assert_int_equal(orbit_kv_put(kv, K("k"), K("p")), ORBIT_EBUSY);
    assert_true(now_ms() - t0 >= 140);
    orbit_txn_rollback(waiter);
    orbit_txn_rollback(holder);
    assert_string_equal(get_at(kv, NULL, "k"), "-");
    orbit_kv_close(kv);
}

static void test_plain_write_vs_txn_lock(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:?txn=pessimistic");
    put(kv, "a", "0");
    orbit_txn *t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_put(t, K("a"), K("t")), ORBIT_OK);
    int rc = orbit_kv_put(kv, K("a"), K("p"));
    assert_int_equal(rc, ORBIT_EBUSY);
    assert_true(orbit_err_retryable(rc));
    assert_int_equal(orbit_kv_del(kv, K("a")), ORBIT_EBUSY);
    /* A batch touching a locked key applies nothing. */
    orbit_batch *b;
    assert_int_equal(orbit_batch_new(&b), ORBIT_OK);
    assert_int_equal(orbit_batch_put(b, K("b"), K("1")), ORBIT_OK);
    assert_int_equal(orbit_batch_put(b, K("a"), K("1")), ORBIT_OK);
    assert_int_equal(orbit_batch_put(b, K("c"), K("1")), ORBIT_OK);
    assert_int_equal(orbit_kv_write(kv, b), ORBIT_EBUSY);
    assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "a=0");
    /* A lock taken by get_for_update blocks plain writes the same way. */
    orbit_buf buf = ORBIT_BUF_INIT;
    assert_int_equal(orbit_txn_get_for_update(t, K("c"), &buf), ORBIT_NOTFOUND);
    assert_int_equal(orbit_kv_put(kv, K("c"), K("p")), ORBIT_EBUSY);
    put(kv, "b", "p");
    assert_int_equal(orbit_txn_commit(t), ORBIT_OK);
    assert_int_equal(orbit_kv_write(kv, b), ORBIT_OK);
    assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "a=1,b=1,c=1");
    orbit_batch_free(b);
    orbit_buf_release(&buf);
    orbit_kv_close(kv);

    /* Optimistic: plain writes take no locks; the txn pays at commit. */
    kv = open_kv("memory:?txn=optimistic");
    put(kv, "a", "0");
    t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_put(t, K("a"), K("t")), ORBIT_OK);
    assert_int_equal(orbit_txn_put(t, K("z"), K("t")), ORBIT_OK);
    put(kv, "a", "p");
    assert_int_equal(orbit_txn_commit(t), ORBIT_ECONFLICT);
    assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "a=p");
    orbit_kv_close(kv);
}

/* ---- optimistic validation -------------------------------------------- */

static void test_optimistic_conflicts(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:?txn=optimistic");
    put(kv, "a", "0");
    orbit_buf b = ORBIT_BUF_INIT;

    /* Two writers of one key: no error until commit, first one wins. */
    orbit_txn *t1 = begin(kv, ORBIT_ISO_SNAPSHOT);
    orbit_txn *t2 = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_put(t1, K("a"), K("t1")), ORBIT_OK);
    assert_int_equal(orbit_txn_put(t2, K("a"), K("t2")), ORBIT_OK);
    assert_int_equal(orbit_txn_put(t2, K("x"), K("t2")), ORBIT_OK);
    assert_int_equal(orbit_txn_commit(t1), ORBIT_OK);
    int rc = orbit_txn_commit(t2);
    assert_int_equal(rc, ORBIT_ECONFLICT);
    assert_non_null(strstr(orbit_last_error_detail(), "\"a\""));
    assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "a=t1");

    /* get_for_update is tracked; a plain get is not. */
    t1 = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_get_for_update(t1, K("a"), &b), ORBIT_OK);
    assert_int_equal(orbit_txn_put(t1, K("y"), K("t1")), ORBIT_OK);
    t2 = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_string_equal(tget(t2, "a"), "t1");
    assert_int_equal(orbit_txn_put(t2, K("y2"), K("t2")), ORBIT_OK);
    put(kv, "a", "p");
    assert_int_equal(orbit_txn_commit(t1), ORBIT_ECONFLICT);
    assert_int_equal(orbit_txn_commit(t2), ORBIT_OK);
    assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "a=p,y2=t2");

    /* A delete counts as a change, even of an absent key. */
    t1 = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_put(t1, K("n"), K("t1")), ORBIT_OK);
    put(kv, "n", "p");
    del(kv, "n");
    assert_int_equal(orbit_txn_commit(t1), ORBIT_ECONFLICT);
    t1 = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_get_for_update(t1, K("m"), &b), ORBIT_NOTFOUND);
    del(kv, "m");
    assert_int_equal(orbit_txn_commit(t1), ORBIT_ECONFLICT);

    /* Read committed: a key is checked from the moment it is tracked. */
    t1 = begin(kv, ORBIT_ISO_READ_COMMITTED);
    put(kv, "a", "before");
    assert_int_equal(orbit_txn_get_for_update(t1, K("a"), &b), ORBIT_OK);
    assert_memory_equal(b.data, "before", 6);
    assert_int_equal(orbit_txn_put(t1, K("a"), K("rc")), ORBIT_OK);
    assert_int_equal(orbit_txn_commit(t1), ORBIT_OK);
    t1 = begin(kv, ORBIT_ISO_READ_COMMITTED);
    assert_int_equal(orbit_txn_put(t1, K("a"), K("rc2")), ORBIT_OK);
    del(kv, "a");
    assert_int_equal(orbit_txn_commit(t1), ORBIT_ECONFLICT);
    assert_string_equal(get_at(kv, NULL, "a"), "-");

    /* A transaction that only read for update validates too. */
    t1 = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_get_for_update(t1, K("y2"), &b), ORBIT_OK);
    put(kv, "y2", "p");
    assert_int_equal(orbit_txn_commit(t1), ORBIT_ECONFLICT);
    orbit_buf_release(&b);
    orbit_kv_close(kv);
}

/* ---- isolation levels and own writes ---------------------------------- */

static void test_isolation_visibility(void **state)
{
    (void)state;
    const char *uris[] = {"memory:?txn=pessimistic", "memory:?txn=optimistic"};
    for (int u = 0; u < 2; u++) {
        orbit_kv *kv = open_kv(uris[u]);
        put(kv, "a", "1");
        put(kv, "b", "1");
        orbit_txn *ts = begin(kv, ORBIT_ISO_SNAPSHOT);
        orbit_txn *tr = begin(kv, ORBIT_ISO_READ_COMMITTED);
        put(kv, "a", "2");
        del(kv, "b");
        put(kv, "c", "2");
        assert_string_equal(tget(ts, "a"), "1");
        assert_string_equal(tget(ts, "b"), "1");
        assert_string_equal(tget(ts, "c"), "-");
        assert_string_equal(tget(tr, "a"), "2");
        assert_string_equal(tget(tr, "b"), "-");
        assert_string_equal(tget(tr, "c"), "2");
        assert_string_equal(tscan(ts, NULL, NULL, 0), "a=1,b=1");
        assert_string_equal(tscan(tr, NULL, NULL, 1), "c=2,a=2");
        put(kv, "d", "3");
        assert_string_equal(tscan(ts, NULL, NULL, 1), "b=1,a=1");
        assert_string_equal(tscan(tr, NULL, NULL, 0), "a=2,c=2,d=3");
        orbit_txn_rollback(ts);
        orbit_txn_rollback(tr);
        orbit_kv_close(kv);
    }
}

static void test_txn_own_writes(void **state)
{
    (void)state;
    const char *uris[] = {"memory:?txn=pessimistic", "memory:?txn=optimistic"};
    for (int u = 0; u < 2; u++) {
        for (int iso = ORBIT_ISO_SNAPSHOT; iso <= ORBIT_ISO_READ_COMMITTED; iso++) {
            orbit_kv *kv = open_kv(uris[u]);
            put(kv, "a", "1");
            put(kv, "b", "2");
            put(kv, "c", "3");
            put(kv, "d", "4");
            orbit_txn *t = begin(kv, (orbit_isolation)iso);
            assert_int_equal(orbit_txn_put(t, K("b"), K("B")), ORBIT_OK);
            assert_int_equal(orbit_txn_del(t, K("c")), ORBIT_OK);
            assert_int_equal(orbit_txn_put(t, K("e"), K("E")), ORBIT_OK);
            assert_int_equal(orbit_txn_put(t, K("aa"), K("AA")), ORBIT_OK);
            assert_int_equal(orbit_txn_del(t, K("zz")), ORBIT_OK);
            assert_int_equal(orbit_txn_put(t, K("a"), K("A")), ORBIT_OK);
            assert_int_equal(orbit_txn_del(t, K("a")), ORBIT_OK);
            assert_int_equal(orbit_txn_del(t, K("e0")), ORBIT_OK);
            assert_int_equal(orbit_txn_put(t, K("e0"), K("")), ORBIT_OK);

            assert_string_equal(tget(t, "b"), "B");
            assert_string_equal(tget(t, "c"), "-");
            assert_string_equal(tget(t, "a"), "-");
            assert_string_equal(tget(t, "e"), "E");
            assert_string_equal(tget(t, "e0"), "");
            assert_string_equal(tget(t, "d"), "4");
            orbit_buf b = ORBIT_BUF_INIT;
            assert_int_equal(orbit_txn_get_for_update(t, K("c"), &b), ORBIT_NOTFOUND);
            assert_int_equal(orbit_txn_get_for_update(t, K("b"), &b), ORBIT_OK);
            assert_memory_equal(b.data, "B", 1);
            orbit_buf_release(&b);

            assert_string_equal(tscan(t, NULL, NULL, 0), "aa=AA,b=B,d=4,e=E,e0=");
            assert_string_equal(tscan(t, NULL, NULL, 1), "e0=,e=E,d=4,b=B,aa=AA");
            assert_string_equal(tscan(t, "b", "e", 0), "b=B,d=4");
            assert_string_equal(tscan(t, "b", "e", 1), "d=4,b=B");
            assert_string_equal(tscan(t, "a", "b", 1), "aa=AA");
            assert_string_equal(tscan(t, "c", "d", 0), "");
            assert_string_equal(tscan(t, "e", NULL, 0), "e=E,e0=");
            assert_string_equal(tscan(t, NULL, "b", 1), "aa=AA");

            /* Nothing is visible outside until commit, then all of it. */
            assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "a=1,b=2,c=3,d=4");
            assert_int_equal(orbit_txn_commit(t), ORBIT_OK);
            assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "aa=AA,b=B,d=4,e=E,e0=");
            orbit_kv_close(kv);
        }
    }
}

/* A write-set entry that replaces the committed key the merge is on must
 * be returned once, with the transaction's value, in both directions. */
static void test_txn_iter_interleaving(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:?txn=pessimistic");
    char k[16];
    for (int i = 0; i < 20; i += 2) {
        snprintf(k, sizeof k, "k%02d", i);
        put(kv, k, "c");
    }
    orbit_txn *t = begin(kv, ORBIT_ISO_SNAPSHOT);
    for (int i = 0; i < 20; i += 3) {
        snprintf(k, sizeof k, "k%02d", i);
        if (i % 2 == 0 && i % 4 == 0)
            assert_int_equal(orbit_txn_del(t, K(k)), ORBIT_OK);
        else
            assert_int_equal(orbit_txn_put(t, K(k), K("t")), ORBIT_OK);
    }
    /* Expected view: committed evens, txn multiples of 3 (multiples of 12
     * deleted). */
    char want[512] = "", wantr[512] = "";
    for (int i = 0; i < 20; i++) {
        const char *v = NULL;
        if (i % 3 == 0)
            v = i % 4 == 0 ? NULL : "t";
        else if (i % 2 == 0)
            v = "c";
        if (!v)
            continue;
        char e[16];
        snprintf(e, sizeof e, "%sk%02d=%s", want[0] ? "," : "", i, v);
        strcat(want, e);
    }
    for (int i = 19; i >= 0; i--) {
        const char *v = NULL;
        if (i % 3 == 0)
            v = i % 4 == 0 ? NULL : "t";
        else if (i % 2 == 0)
            v = "c";
        if (!v)
            continue;
        char e[16];
        snprintf(e, sizeof e, "%sk%02d=%s", wantr[0] ? "," : "", i, v);
        strcat(wantr, e);
    }
    assert_string_equal(tscan(t, NULL, NULL, 0), want);
    assert_string_equal(tscan(t, NULL, NULL, 1), wantr);
    orbit_txn_rollback(t);
    orbit_kv_close(kv);
}

/* ---- allocation failures ---------------------------------------------- */

/* Whatever allocation fails, a write is applied whole or not at all. */
static void test_alloc_failure_atomic(void **state)
{
    (void)state;
    const char *uris[] = {"memory:?txn=pessimistic", "memory:?txn=optimistic"};
    for (int u = 0; u < 2; u++) {
        int saw_enomem = 0, saw_ok = 0;
        for (long n = 0; n < 60; n++) {
            orbit_kv *kv = open_kv(uris[u]);
            put(kv, "a", "0");
            put(kv, "b", "0");
            orbit_snapshot *s;
            assert_int_equal(orbit_kv_snapshot(kv, &s), ORBIT_OK);
            orbit_batch *b;
            assert_int_equal(orbit_batch_new(&b), ORBIT_OK);
            assert_int_equal(orbit_batch_put(b, K("a"), K("1")), ORBIT_OK);
            assert_int_equal(orbit_batch_del(b, K("b")), ORBIT_OK);
            assert_int_equal(orbit_batch_put(b, K("c"), K("1")), ORBIT_OK);
            assert_int_equal(orbit_batch_put(b, K("d"), K("1")), ORBIT_OK);

            orbit__memory_fail_alloc_after(n);
            int rc = orbit_kv_write(kv, b);
            orbit__memory_fail_alloc_after(-1);
            assert_true(rc == ORBIT_OK || rc == ORBIT_ENOMEM);
            assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0),
                                rc == ORBIT_OK ? "a=1,c=1,d=1" : "a=0,b=0");
            saw_ok |= rc == ORBIT_OK;
            saw_enomem |= rc == ORBIT_ENOMEM;

            /* The same for a transaction, failing anywhere from begin to
             * commit. */
            char before[256];
            snprintf(before, sizeof before, "%s", scan_at(kv, NULL, NULL, NULL, 0));
            orbit__memory_fail_alloc_after(n);
            orbit_txn *t = NULL;
            orbit_txn_opts o = {ORBIT_ISO_SNAPSHOT};
            rc = orbit_kv_txn_begin(kv, &o, &t);
            if (rc == ORBIT_OK) {
                rc = orbit_txn_put(t, K("e"), K("2"));
                if (rc == ORBIT_OK)
                    rc = orbit_txn_del(t, K("a"));
                if (rc == ORBIT_OK)
                    rc = orbit_txn_put(t, K("c"), K("2"));
                if (rc == ORBIT_OK)
                    rc = orbit_txn_commit(t);
                else
                    orbit_txn_rollback(t);
            }
            orbit__memory_fail_alloc_after(-1);
            assert_true(rc == ORBIT_OK || rc == ORBIT_ENOMEM);
            const char *now = scan_at(kv, NULL, NULL, NULL, 0);
            if (rc != ORBIT_OK)
                assert_string_equal(now, before);
            else if (strstr(before, "d=1"))
                assert_string_equal(now, "c=2,d=1,e=2");
            else
                assert_string_equal(now, "b=0,c=2,e=2");
            orbit_snapshot_release(s);
            orbit_batch_free(b);
            orbit_kv_close(kv);
            expect_counts(0, 0);
        }
        assert_true(saw_ok);
        assert_true(saw_enomem);
    }
}

/* ---- contract v2 natives ------------------------------------------------ */

static void test_v2_capabilities_and_versions(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:");
    orbit_capabilities c;
    orbit_kv_capabilities(kv, &c);
    assert_int_equal(c.supports_snapshot_at, 0);
    assert_int_equal(c.supports_commit_version, 1);
    assert_int_equal(c.native_multi_get, 1);
    assert_int_equal(c.native_range_delete, 1);
    assert_int_equal(c.native_cas, 1);
    assert_int_equal(c.supports_batch_range_delete, 1);
    assert_int_equal(c.max_txn_keys, 0);
    assert_int_equal(c.max_txn_bytes, 0);

    orbit_snapshot *s0, *s1, *s2;
    assert_int_equal(orbit_kv_snapshot(kv, &s0), ORBIT_OK);
    put(kv, "a", "1");
    orbit_batch *b;
    assert_int_equal(orbit_batch_new(&b), ORBIT_OK);
    assert_int_equal(orbit_batch_put(b, K("b"), K("1")), ORBIT_OK);
    assert_int_equal(orbit_batch_put(b, K("c"), K("1")), ORBIT_OK);
    uint64_t wv = 0;
    assert_int_equal(orbit_kv_write_version(kv, b, &wv), ORBIT_OK);
    /* One sequence number per write, the batch's is the newest. */
    assert_int_equal(wv, orbit_snapshot_version(s0) + 2);
    assert_int_equal(orbit_kv_snapshot(kv, &s1), ORBIT_OK);
    assert_int_equal(orbit_snapshot_version(s1), wv);

    orbit_txn *t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_put(t, K("d"), K("1")), ORBIT_OK);
    uint64_t tv = 0;
    assert_int_equal(orbit_txn_commit_version(t, &tv), ORBIT_OK);
    assert_int_equal(tv, wv + 1);
    assert_int_equal(orbit_kv_snapshot(kv, &s2), ORBIT_OK);
    assert_int_equal(orbit_snapshot_version(s2), tv);
    /* A snapshot at version v sees exactly the commits with version <= v. */
    assert_string_equal(scan_at(kv, s1, NULL, NULL, 0), "a=1,b=1,c=1");
    assert_string_equal(scan_at(kv, s2, NULL, NULL, 0), "a=1,b=1,c=1,d=1");
    /* A transaction that wrote nothing reports 0. */
    t = begin(kv, ORBIT_ISO_SNAPSHOT);
    tv = 7;
    assert_int_equal(orbit_txn_commit_version(t, &tv), ORBIT_OK);
    assert_int_equal(tv, 0);
    /* History is not kept. */
    orbit_snapshot *sa = (orbit_snapshot *)1;
    assert_int_equal(orbit_kv_snapshot_at(kv, wv, &sa), ORBIT_ENOTSUP);
    assert_null(sa);
    orbit_snapshot_release(s0);
    orbit_snapshot_release(s1);
    orbit_snapshot_release(s2);
    orbit_batch_free(b);
    orbit_kv_close(kv);
}

static void test_multi_get_native(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:");
    put(kv, "a", "1");
    put(kv, "b", "");
    orbit_snapshot *snap;
    assert_int_equal(orbit_kv_snapshot(kv, &snap), ORBIT_OK);
    put(kv, "a", "2");
    del(kv, "b");
    put(kv, "c", "3");
    orbit_slice keys[4] = {{K("a")}, {K("b")}, {K("c")}, {K("a")}};
    orbit_buf vals[4] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    int st[4];
    assert_int_equal(orbit_kv_multi_get(kv, NULL, 4, keys, vals, st), ORBIT_OK);
    assert_int_equal(st[0], ORBIT_OK);
    assert_memory_equal(vals[0].data, "2", 1);
    assert_int_equal(st[1], ORBIT_NOTFOUND);
    assert_int_equal(vals[1].len, 0);
    assert_int_equal(st[2], ORBIT_OK);
    assert_int_equal(st[3], ORBIT_OK);
    assert_memory_equal(vals[3].data, "2", 1);
    /* At the snapshot: the old view, an empty value being a value. */
    orbit_read_opts ro = {snap};
    assert_int_equal(orbit_kv_multi_get(kv, &ro, 4, keys, vals, st), ORBIT_OK);
    assert_int_equal(st[0], ORBIT_OK);
    assert_memory_equal(vals[0].data, "1", 1);
    assert_int_equal(st[1], ORBIT_OK);
    assert_int_equal(vals[1].len, 0);
    assert_int_equal(st[2], ORBIT_NOTFOUND);
    /* In a transaction: its own writes first. */
    orbit_txn *t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_del(t, K("a")), ORBIT_OK);
    assert_int_equal(orbit_txn_put(t, K("b"), K("tb")), ORBIT_OK);
    put(kv, "c", "after-begin");
    assert_int_equal(orbit_txn_multi_get(t, 3, keys, vals, st), ORBIT_OK);
    assert_int_equal(st[0], ORBIT_NOTFOUND);
    assert_int_equal(st[1], ORBIT_OK);
    assert_memory_equal(vals[1].data, "tb", 2);
    assert_int_equal(st[2], ORBIT_OK);
    assert_int_equal(vals[2].len, 1); /* the txn's snapshot: "3" */
    orbit_txn_rollback(t);
    orbit_kv_stats stt;
    orbit_kv_stats_get(kv, &stt);
    assert_int_equal(stt.gets, 11);
    for (int i = 0; i < 4; i++)
        orbit_buf_release(&vals[i]);
    orbit_snapshot_release(snap);
    orbit_kv_close(kv);
}

static void test_delete_range_native(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:?txn=pessimistic");
    const char *ks[] = {"a", "b", "b1", "b2", "c", "d"};
    for (int i = 0; i < 6; i++)
        put(kv, ks[i], "v");
    orbit_snapshot *before;
    assert_int_equal(orbit_kv_snapshot(kv, &before), ORBIT_OK);
    uint64_t v0 = orbit_snapshot_version(before);
    assert_int_equal(orbit_kv_delete_range(kv, K("b"), K("c")), ORBIT_OK);
    assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "a=v,c=v,d=v");
    /* One sequence number for the whole range. */
    orbit_snapshot *after;
    assert_int_equal(orbit_kv_snapshot(kv, &after), ORBIT_OK);
    assert_int_equal(orbit_snapshot_version(after), v0 + 1);
    orbit_snapshot_release(after);
    /* A snapshot taken before still sees every key, in gets and scans. */
    assert_string_equal(get_at(kv, before, "b1"), "v");
    assert_string_equal(scan_at(kv, before, NULL, NULL, 0), "a=v,b=v,b1=v,b2=v,c=v,d=v");
    assert_string_equal(scan_at(kv, before, "b", "c", 1), "b2=v,b1=v,b=v");
    expect_counts(6, 9);
    orbit_snapshot_release(before);
    expect_counts(3, 3);
    /* Empty and inverted ranges delete nothing; an open end deletes to the
     * last key. */
    assert_int_equal(orbit_kv_delete_range(kv, K("c"), K("c")), ORBIT_OK);
    assert_int_equal(orbit_kv_delete_range(kv, K("d"), K("a")), ORBIT_OK);
    assert_int_equal(orbit_kv_delete_range(kv, K("x"), NULL, 0), ORBIT_OK);
    assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "a=v,c=v,d=v");
    assert_int_equal(orbit_kv_delete_range(kv, K("b"), NULL, 0), ORBIT_OK);
    assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "a=v");
    orbit_kv_close(kv);
    expect_counts(0, 0);
}

static void test_batch_range_delete_in_order(void **state)
{
    (void)state;
    const char *uris[] = {"memory:?txn=pessimistic", "memory:?txn=optimistic"};
    for (int u = 0; u < 2; u++) {
        orbit_kv *kv = open_kv(uris[u]);
        put(kv, "a", "0");
        put(kv, "k1", "0");
        put(kv, "k5", "0");
        put(kv, "m", "0");
        put(kv, "z", "0");
        orbit_snapshot *snap;
        assert_int_equal(orbit_kv_snapshot(kv, &snap), ORBIT_OK);
        orbit_batch *b;
        assert_int_equal(orbit_batch_new(&b), ORBIT_OK);
        assert_int_equal(orbit_batch_put(b, K("k2"), K("early")), ORBIT_OK); /* deleted below */
        assert_int_equal(orbit_batch_put(b, K("k5"), K("early")), ORBIT_OK); /* deleted below */
        assert_int_equal(orbit_batch_delete_range(b, K("k"), K("l")), ORBIT_OK);
        assert_int_equal(orbit_batch_put(b, K("k3"), K("late")), ORBIT_OK);  /* survives */
        assert_int_equal(orbit_batch_delete_range(b, K("y"), NULL, 0), ORBIT_OK);
        assert_int_equal(orbit_batch_put(b, K("b"), K("1")), ORBIT_OK);
        /* An empty range adds no entry. */
        assert_int_equal(orbit_batch_delete_range(b, K("q"), K("p")), ORBIT_OK);
        assert_int_equal(orbit_batch_count(b), 6);
        uint64_t ver = 0;
        assert_int_equal(orbit_kv_write_version(kv, b, &ver), ORBIT_OK);
        assert_int_equal(ver, orbit_snapshot_version(snap) + 1);
        assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "a=0,b=1,k3=late,m=0");
        assert_string_equal(scan_at(kv, snap, NULL, NULL, 0), "a=0,k1=0,k5=0,m=0,z=0");
        /* Overlapping ranges in one batch. */
        orbit_batch_clear(b);
        assert_int_equal(orbit_batch_delete_range(b, K("a"), K("c")), ORBIT_OK);
        assert_int_equal(orbit_batch_delete_range(b, K("b"), K("l")), ORBIT_OK);
        assert_int_equal(orbit_kv_write(kv, b), ORBIT_OK);
        assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "m=0");
        orbit_snapshot_release(snap);
        orbit_batch_free(b);
        orbit_kv_close(kv);
    }
}

static void test_range_delete_vs_txns(void **state)
{
    (void)state;
    /* Optimistic: a transaction that wrote or read for update a key the
     * range delete removed fails at commit; one outside the range does
     * not. */
    orbit_kv *kv = open_kv("memory:?txn=optimistic");
    put(kv, "r1", "0");
    put(kv, "r2", "0");
    put(kv, "s", "0");
    orbit_txn *w = begin(kv, ORBIT_ISO_SNAPSHOT);
    orbit_txn *fu = begin(kv, ORBIT_ISO_READ_COMMITTED);
    orbit_txn *out = begin(kv, ORBIT_ISO_SNAPSHOT);
    orbit_buf buf = ORBIT_BUF_INIT;
    assert_int_equal(orbit_txn_put(w, K("r1"), K("w")), ORBIT_OK);
    assert_int_equal(orbit_txn_get_for_update(fu, K("r2"), &buf), ORBIT_OK);
    assert_int_equal(orbit_txn_put(fu, K("s"), K("fu")), ORBIT_OK);
    assert_int_equal(orbit_txn_put(out, K("s"), K("out")), ORBIT_OK);
    assert_int_equal(orbit_kv_delete_range(kv, K("r"), K("s")), ORBIT_OK);
    assert_int_equal(orbit_txn_commit(w), ORBIT_ECONFLICT);
    assert_int_equal(orbit_txn_commit(fu), ORBIT_ECONFLICT);
    assert_int_equal(orbit_txn_commit(out), ORBIT_OK);
    assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "s=out");
    orbit_kv_close(kv);

    /* Pessimistic: a key locked by a live transaction makes the range
     * delete fail with EBUSY, deleting nothing; once the lock is gone it
     * succeeds. */
    kv = open_kv("memory:?txn=pessimistic");
    put(kv, "r1", "0");
    put(kv, "r2", "0");
    put(kv, "r3", "0");
    orbit_txn *t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_get_for_update(t, K("r2"), &buf), ORBIT_OK);
    int rc = orbit_kv_delete_range(kv, K("r"), K("s"));
    assert_int_equal(rc, ORBIT_EBUSY);
    assert_non_null(strstr(orbit_last_error_detail(), "\"r2\""));
    orbit_batch *b;
    assert_int_equal(orbit_batch_new(&b), ORBIT_OK);
    assert_int_equal(orbit_batch_put(b, K("q"), K("1")), ORBIT_OK);
    assert_int_equal(orbit_batch_delete_range(b, K("r"), NULL, 0), ORBIT_OK);
    assert_int_equal(orbit_kv_write(kv, b), ORBIT_EBUSY);
    assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "r1=0,r2=0,r3=0");
    orbit_txn_rollback(t);
    assert_int_equal(orbit_kv_write(kv, b), ORBIT_OK);
    assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "q=1");
    /* A snapshot transaction begun before the range delete cannot write a
     * key it deleted: the tombstone is newer than its snapshot. */
    put(kv, "r1", "0");
    t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_kv_delete_range(kv, K("r"), K("s")), ORBIT_OK);
    assert_int_equal(orbit_txn_put(t, K("r1"), K("t")), ORBIT_ECONFLICT);
    orbit_txn_rollback(t);
    /* The wait is bounded by lock_timeout_ms, and a release ends it. */
    orbit_kv_close(kv);
    kv = open_kv("memory:?txn=pessimistic&lock_timeout_ms=5000");
    put(kv, "r1", "0");
    put(kv, "r2", "0");
    t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_put(t, K("r2"), K("t")), ORBIT_OK);
    later_arg a = {t, NULL, 100, -100};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, commit_later, &a), 0);
    assert_int_equal(orbit_kv_delete_range(kv, K("r"), K("s")), ORBIT_OK);
    pthread_join(th, NULL);
    assert_int_equal(a.rc, ORBIT_OK);
    /* The delete waited for the commit, so it came after it. */
    assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), "");
    orbit_batch_free(b);
    orbit_buf_release(&buf);
    orbit_kv_close(kv);
}

static void test_cas_native(void **state)
{
    (void)state;
    const char *uris[] = {"memory:?txn=pessimistic", "memory:?txn=optimistic"};
    for (int u = 0; u < 2; u++) {
        orbit_kv *kv = open_kv(uris[u]);
        orbit_buf cur = ORBIT_BUF_INIT;
        orbit_slice one = {K("1")}, two = {K("2")}, empty = {NULL, 0};
        assert_int_equal(orbit_kv_put_if_absent(kv, K("k"), K("1"), &cur), ORBIT_OK);
        assert_int_equal(orbit_kv_put_if_absent(kv, K("k"), K("x"), &cur), ORBIT_CMPFAIL);
        assert_int_equal(cur.len, 1);
        assert_memory_equal(cur.data, "1", 1);
        assert_int_equal(orbit_kv_cas(kv, K("k"), &two, &one, &cur), ORBIT_CMPFAIL);
        assert_memory_equal(cur.data, "1", 1);
        assert_int_equal(orbit_kv_cas(kv, K("k"), &one, &two, &cur), ORBIT_OK);
        assert_string_equal(get_at(kv, NULL, "k"), "2");
        assert_int_equal(orbit_kv_cas(kv, K("absent"), &one, &two, &cur), ORBIT_NOTFOUND);
        assert_int_equal(cur.len, 0);
        assert_string_equal(get_at(kv, NULL, "absent"), "-");
        /* desired NULL deletes; an empty value is a value. */
        assert_int_equal(orbit_kv_cas(kv, K("k"), &two, NULL, NULL), ORBIT_OK);
        assert_string_equal(get_at(kv, NULL, "k"), "-");
        assert_int_equal(orbit_kv_cas(kv, K("k"), NULL, &empty, NULL), ORBIT_OK);
        assert_int_equal(orbit_kv_cas(kv, K("k"), &empty, &one, NULL), ORBIT_OK);
        assert_string_equal(get_at(kv, NULL, "k"), "1");
        /* Each applied cas is one write: a snapshot before it keeps the
         * old value. */
        orbit_snapshot *s;
        assert_int_equal(orbit_kv_snapshot(kv, &s), ORBIT_OK);
        assert_int_equal(orbit_kv_cas(kv, K("k"), &one, &two, NULL), ORBIT_OK);
        assert_string_equal(get_at(kv, s, "k"), "1");
        orbit_snapshot_release(s);
        /* Against transactions: optimistic ones fail at commit,
         * pessimistic locks make the cas busy. */
        orbit_txn *t = begin(kv, ORBIT_ISO_SNAPSHOT);
        assert_int_equal(orbit_txn_put(t, K("k"), K("t")), ORBIT_OK);
        if (u == 0) {
            assert_int_equal(orbit_kv_cas(kv, K("k"), &two, &one, NULL), ORBIT_EBUSY);
            assert_int_equal(orbit_txn_commit(t), ORBIT_OK);
            assert_string_equal(get_at(kv, NULL, "k"), "t");
        } else {
            assert_int_equal(orbit_kv_cas(kv, K("k"), &two, &one, NULL), ORBIT_OK);
            assert_int_equal(orbit_txn_commit(t), ORBIT_ECONFLICT);
            assert_string_equal(get_at(kv, NULL, "k"), "1");
        }
        orbit_buf_release(&cur);
        orbit_kv_close(kv);
    }
}

typedef struct cas_arg {
    orbit_kv *kv;
    int rounds;
    atomic_int failed;
    atomic_long retries;
} cas_arg;

/* Increment "ctr" rounds times, each by one compare-and-set that retries
 * until it applies. */
static void *cas_worker(void *p)
{
    cas_arg *a = p;
    orbit_buf cur = ORBIT_BUF_INIT;
    for (int i = 0; i < a->rounds && !atomic_load(&a->failed); i++) {
        for (;;) {
            int rc = orbit_kv_get(a->kv, NULL, K("ctr"), &cur);
            if (rc != ORBIT_OK) {
                atomic_store(&a->failed, 1);
                break;
            }
            uint64_t n;
            memcpy(&n, cur.data, sizeof n);
            uint64_t m = n + 1;
            orbit_slice e = {(const uint8_t *)&n, sizeof n}, d = {(const uint8_t *)&m, sizeof m};
            rc = orbit_kv_cas(a->kv, K("ctr"), &e, &d, NULL);
            if (rc == ORBIT_OK)
                break;
            if (rc != ORBIT_CMPFAIL && !orbit_err_retryable(rc)) {
                atomic_store(&a->failed, 1);
                break;
            }
            atomic_fetch_add(&a->retries, 1);
        }
    }
    orbit_buf_release(&cur);
    return NULL;
}

static void test_cas_threads(void **state)
{
    (void)state;
    const char *uris[] = {"memory:?txn=pessimistic&lock_timeout_ms=1000",
                          "memory:?txn=pessimistic", "memory:?txn=optimistic"};
    enum { THREADS = 4, ROUNDS = 300 };
    for (int u = 0; u < 3; u++) {
        cas_arg a = {.kv = open_kv(uris[u]), .rounds = ROUNDS};
        uint64_t zero = 0;
        assert_int_equal(orbit_kv_put(a.kv, K("ctr"), (const uint8_t *)&zero, sizeof zero), ORBIT_OK);
        pthread_t th[THREADS];
        for (int i = 0; i < THREADS; i++)
            assert_int_equal(pthread_create(&th[i], NULL, cas_worker, &a), 0);
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
        assert_int_equal(atomic_load(&a.failed), 0);
        orbit_buf b = ORBIT_BUF_INIT;
        assert_int_equal(orbit_kv_get(a.kv, NULL, K("ctr"), &b), ORBIT_OK);
        uint64_t n;
        assert_int_equal(b.len, sizeof n);
        memcpy(&n, b.data, sizeof n);
        assert_int_equal(n, THREADS * ROUNDS);
        orbit_buf_release(&b);
        orbit_kv_close(a.kv);
    }
}

/* Seek a fresh iterator over [lo, hi) and drain it. */
static const char *seek_scan(orbit_kv *kv, orbit_txn *t, orbit_snapshot *snap, const char *lo,
                             const char *hi, int reverse, const char *target)
{
    orbit_iter *it;
    orbit_scan_opts so = range(lo, hi, reverse);
    orbit_read_opts ro = {snap};
    if (t)
        assert_int_equal(orbit_txn_iter(t, &so, &it), ORBIT_OK);
    else
        assert_int_equal(orbit_kv_iter(kv, &ro, &so, &it), ORBIT_OK);
    assert_int_equal(orbit_iter_seek(it, K(target)), ORBIT_OK);
    return drain(it);
}

static void test_seek(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:");
    const char *ks[] = {"a", "c", "e", "g", "i"};
    for (int i = 0; i < 5; i++)
        put(kv, ks[i], "v");
    assert_string_equal(seek_scan(kv, NULL, NULL, NULL, NULL, 0, "d"), "e=v,g=v,i=v");
    assert_string_equal(seek_scan(kv, NULL, NULL, NULL, NULL, 0, "e"), "e=v,g=v,i=v");
    assert_string_equal(seek_scan(kv, NULL, NULL, NULL, NULL, 1, "d"), "c=v,a=v");
    assert_string_equal(seek_scan(kv, NULL, NULL, NULL, NULL, 1, "e"), "e=v,c=v,a=v");
    assert_string_equal(seek_scan(kv, NULL, NULL, NULL, NULL, 0, "z"), "");
    assert_string_equal(seek_scan(kv, NULL, NULL, NULL, NULL, 1, "0"), "");
    /* Clamped to the range on both sides. */
    assert_string_equal(seek_scan(kv, NULL, NULL, "c", "h", 0, "a"), "c=v,e=v,g=v");
    assert_string_equal(seek_scan(kv, NULL, NULL, "c", "h", 0, "h"), "");
    assert_string_equal(seek_scan(kv, NULL, NULL, "c", "h", 1, "z"), "g=v,e=v,c=v");
    assert_string_equal(seek_scan(kv, NULL, NULL, "c", "h", 1, "b"), "");

    /* At the iterator's view: later writes stay invisible; seeking back
     * after exhaustion works; limits count across seeks. */
    orbit_iter *it;
    orbit_scan_opts so = range(NULL, NULL, 0);
    assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), ORBIT_OK);
    const uint8_t *k, *v;
    size_t kl, vl;
    assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), ORBIT_OK);
    put(kv, "b", "new");
    del(kv, "g");
    assert_int_equal(orbit_iter_seek(it, K("f")), ORBIT_OK);
    assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), ORBIT_OK);
    assert_memory_equal(k, "g", 1);
    assert_int_equal(orbit_iter_seek(it, K("b")), ORBIT_OK);
    assert_string_equal(drain(it), "c=v,e=v,g=v,i=v");
    so.limit = 2;
    assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), ORBIT_OK);
    assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), ORBIT_OK);
    assert_int_equal(orbit_iter_seek(it, K("e")), ORBIT_OK);
    assert_string_equal(drain(it), "e=v");

    /* A snapshot iterator seeks at its snapshot. */
    orbit_snapshot *snap;
    assert_int_equal(orbit_kv_snapshot(kv, &snap), ORBIT_OK);
    put(kv, "d", "late");
    assert_string_equal(seek_scan(kv, NULL, snap, NULL, NULL, 0, "c"), "c=v,e=v,i=v");
    orbit_snapshot_release(snap);

    /* A transaction's iterator seeks through its writes and its view. */
    orbit_txn *t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_put(t, K("f"), K("t")), ORBIT_OK);
    assert_int_equal(orbit_txn_del(t, K("i")), ORBIT_OK);
    assert_int_equal(orbit_txn_put(t, K("0"), K("t")), ORBIT_OK);
    assert_string_equal(seek_scan(kv, t, NULL, NULL, NULL, 0, "e"), "e=v,f=t");
    assert_string_equal(seek_scan(kv, t, NULL, NULL, NULL, 1, "e"), "e=v,d=late,c=v,b=new,a=v,0=t");
    assert_string_equal(seek_scan(kv, t, NULL, "b", "f", 1, "z"), "e=v,d=late,c=v,b=new");
    orbit_txn_rollback(t);
    orbit_kv_close(kv);
}

static void test_keys_only_and_max_bytes(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:");
    put(kv, "a", "1111");
    put(kv, "b", "2222");
    put(kv, "c", "3333");
    orbit_iter *it;
    orbit_scan_opts so = range(NULL, NULL, 0);
    so.keys_only = 1;
    assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), ORBIT_OK);
    assert_string_equal(drain(it), "a=,b=,c=");
    orbit_txn *t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_put(t, K("bb"), K("x")), ORBIT_OK);
    assert_int_equal(orbit_txn_iter(t, &so, &it), ORBIT_OK);
    assert_string_equal(drain(it), "a=,b=,bb=,c=");
    orbit_txn_rollback(t);
    /* 5 bytes per entry: the second one reaches 10. */
    so.keys_only = 0;
    so.max_bytes = 10;
    assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), ORBIT_OK);
    assert_string_equal(drain(it), "a=1111,b=2222");
    so.max_bytes = 1;
    assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), ORBIT_OK);
    assert_string_equal(drain(it), "a=1111");
    orbit_kv_close(kv);
}

/* Random batches of puts, deletes and range deletes (and plain range
 * deletes and compare-and-sets between them) against a plain array that
 * applies each entry in order: the store must match after every write, and
 * a snapshot taken before a write must still match the state before it. */
#define RKEYS 12

typedef struct oracle {
    int live[RKEYS];
    char val[RKEYS][16];
} oracle;

static const char *oracle_dump(const oracle *o)
{
    static char out[512];
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < RKEYS; i++)
        if (o->live[i])
            n += (size_t)snprintf(out + n, sizeof out - n, "%s%c=%s", n ? "," : "", 'a' + i, o->val[i]);
    return out;
}

static void test_random_ranges_vs_oracle(void **state)
{
    (void)state;
    const char *uris[] = {"memory:?txn=pessimistic", "memory:?txn=optimistic"};
    tu_rng rng;
    tu_rng_init(&rng, tu_seed("test_memory ranges"));
    for (int u = 0; u < 2; u++) {
        orbit_kv *kv = open_kv(uris[u]);
        oracle o;
        memset(&o, 0, sizeof o);
        orbit_batch *b;
        assert_int_equal(orbit_batch_new(&b), ORBIT_OK);
        for (int round = 0; round < 400; round++) {
            char before_dump[512];
            snprintf(before_dump, sizeof before_dump, "%s", oracle_dump(&o));
            orbit_snapshot *snap;
            assert_int_equal(orbit_kv_snapshot(kv, &snap), ORBIT_OK);
            char k[2] = {0, 0}, e[2] = {0, 0}, v[16];
            uint64_t what = tu_below(&rng, 10);
            if (what < 7) {
                orbit_batch_clear(b);
                int n = 1 + (int)tu_below(&rng, 6);
                for (int j = 0; j < n; j++) {
                    int i = (int)tu_below(&rng, RKEYS);
                    k[0] = (char)('a' + i);
                    uint64_t t = tu_below(&rng, 4);
                    if (t < 2) {
                        snprintf(v, sizeof v, "%d", round * 10 + j);
                        assert_int_equal(orbit_batch_put(b, K(k), K(v)), ORBIT_OK);
                        o.live[i] = 1;
                        snprintf(o.val[i], sizeof o.val[i], "%s", v);
                    } else if (t == 2) {
                        assert_int_equal(orbit_batch_del(b, K(k)), ORBIT_OK);
                        o.live[i] = 0;
                    } else {
                        int hi = (int)tu_below(&rng, RKEYS + 2); /* RKEYS+1: open end */
                        e[0] = (char)('a' + hi);
                        if (hi > RKEYS)
                            assert_int_equal(orbit_batch_delete_range(b, K(k), NULL, 0), ORBIT_OK);
                        else
                            assert_int_equal(orbit_batch_delete_range(b, K(k), K(e)), ORBIT_OK);
                        for (int x = i; x < RKEYS && (hi > RKEYS || x < hi); x++)
                            o.live[x] = 0;
                    }
                }
                assert_int_equal(orbit_kv_write(kv, b), ORBIT_OK);
            } else if (what < 9) {
                int lo = (int)tu_below(&rng, RKEYS), hi = (int)tu_below(&rng, RKEYS + 1);
                k[0] = (char)('a' + lo);
                e[0] = (char)('a' + hi);
                assert_int_equal(orbit_kv_delete_range(kv, K(k), K(e)), ORBIT_OK);
                for (int x = lo; x < hi; x++)
                    o.live[x] = 0;
            } else {
                int i = (int)tu_below(&rng, RKEYS);
                k[0] = (char)('a' + i);
                snprintf(v, sizeof v, "c%d", round);
                orbit_slice d = {K(v)}, ex = {K(o.val[i])};
                int rc = orbit_kv_cas(kv, K(k), o.live[i] ? &ex : NULL, &d, NULL);
                assert_int_equal(rc, ORBIT_OK);
                o.live[i] = 1;
                snprintf(o.val[i], sizeof o.val[i], "%s", v);
            }
            assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), oracle_dump(&o));
            assert_string_equal(scan_at(kv, snap, NULL, NULL, 0), before_dump);
            orbit_snapshot_release(snap);
        }
        orbit_batch_free(b);
        orbit_kv_close(kv);
        expect_counts(0, 0);
    }
}

/* A range delete or batch with ranges that runs out of memory anywhere
 * applies nothing. */
static void test_alloc_failure_range_delete(void **state)
{
    (void)state;
    const char *uris[] = {"memory:?txn=pessimistic", "memory:?txn=optimistic"};
    for (int u = 0; u < 2; u++) {
        int saw_enomem = 0, saw_ok = 0;
        for (long n = 0; n < 40; n++) {
            orbit_kv *kv = open_kv(uris[u]);
            put(kv, "a", "0");
            put(kv, "b", "0");
            put(kv, "c", "0");
            orbit_batch *b;
            assert_int_equal(orbit_batch_new(&b), ORBIT_OK);
            assert_int_equal(orbit_batch_put(b, K("a"), K("1")), ORBIT_OK);
            assert_int_equal(orbit_batch_delete_range(b, K("b"), NULL, 0), ORBIT_OK);
            assert_int_equal(orbit_batch_put(b, K("d"), K("1")), ORBIT_OK);
            orbit__memory_fail_alloc_after(n);
            int rc = orbit_kv_write(kv, b);
            orbit__memory_fail_alloc_after(-1);
            assert_true(rc == ORBIT_OK || rc == ORBIT_ENOMEM);
            assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0),
                                rc == ORBIT_OK ? "a=1,d=1" : "a=0,b=0,c=0");
            saw_ok |= rc == ORBIT_OK;
            saw_enomem |= rc == ORBIT_ENOMEM;
            char before[64];
            snprintf(before, sizeof before, "%s", scan_at(kv, NULL, NULL, NULL, 0));
            orbit__memory_fail_alloc_after(n);
            rc = orbit_kv_delete_range(kv, K("a"), K("c"));
            orbit__memory_fail_alloc_after(-1);
            assert_true(rc == ORBIT_OK || rc == ORBIT_ENOMEM);
            if (rc == ORBIT_OK)
                assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0),
                                    strstr(before, "d=1") ? "d=1" : "c=0");
            else
                assert_string_equal(scan_at(kv, NULL, NULL, NULL, 0), before);
            orbit_batch_free(b);
            orbit_kv_close(kv);
            expect_counts(0, 0);
        }
        assert_true(saw_ok);
        assert_true(saw_enomem);
    }
}

/* ---- threads ---------------------------------------------------------- */

#define ACCOUNTS 12
#define START_BALANCE 100

typedef struct bank {
    orbit_kv *kv;
    uint64_t seed;
    atomic_int stop;
    atomic_long transfers, conflicts;
    atomic_int failed;
    char why[256]; /* written by the first thread to fail, read after join */
} bank;

static void bank_fail_msg(bank *b, const char *msg)
{
    if (atomic_exchange(&b->failed, 1) == 0)
        snprintf(b->why, sizeof b->why, "%s", msg);
    atomic_store(&b->stop, 1);
}

static void bank_fail(bank *b, const char *what, int rc)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s (%s)", what, orbit_err_name(rc), orbit_last_error_detail());
    bank_fail_msg(b, msg);
}

static int64_t decode(const orbit_buf *v)
{
    int64_t x = 0;
    if (v->len == sizeof x)
        memcpy(&x, v->data, sizeof x);
    return x;
}

/* Move money between two accounts in a transaction; retry on conflict. */
static void *bank_worker(void *p)
{
    bank *b = p;
    static atomic_int ids;
    int id = atomic_fetch_add(&ids, 1);
    tu_rng r;
    tu_rng_init(&r, b->seed + (uint64_t)id * 7919);
    orbit_buf v1 = ORBIT_BUF_INIT, v2 = ORBIT_BUF_INIT;
    while (!atomic_load(&b->stop)) {
        unsigned from = (unsigned)tu_below(&r, ACCOUNTS), to = (unsigned)tu_below(&r, ACCOUNTS);
        if (from == to)
            continue;
        char kf[16], kt[16], junk[16];
        snprintf(kf, sizeof kf, "acct%02u", from);
        snprintf(kt, sizeof kt, "acct%02u", to);
        snprintf(junk, sizeof junk, "junk%02u", (unsigned)tu_below(&r, 20));
        orbit_txn *t;
        orbit_txn_opts o = {tu_below(&r, 2) ? ORBIT_ISO_SNAPSHOT : ORBIT_ISO_READ_COMMITTED};
        int rc = orbit_kv_txn_begin(b->kv, &o, &t);
        if (rc != ORBIT_OK) {
            bank_fail(b, "begin", rc);
            break;
        }
        rc = orbit_txn_get_for_update(t, K(kf), &v1);
        if (rc == ORBIT_OK)
            rc = orbit_txn_get_for_update(t, K(kt), &v2);
        if (rc == ORBIT_OK) {
            int64_t amt = (int64_t)tu_below(&r, 10), a = decode(&v1) - amt, c = decode(&v2) + amt;
            rc = orbit_txn_put(t, K(kf), (const uint8_t *)&a, sizeof a);
            if (rc == ORBIT_OK)
                rc = orbit_txn_put(t, K(kt), (const uint8_t *)&c, sizeof c);
            if (rc == ORBIT_OK && tu_below(&r, 3) == 0)
                rc = orbit_txn_del(t, K(junk));
            if (rc == ORBIT_OK)
                rc = orbit_txn_commit(t);
            else
                orbit_txn_rollback(t);
        } else {
            orbit_txn_rollback(t);
        }
        if (rc == ORBIT_OK)
            atomic_fetch_add(&b->transfers, 1);
        else if (orbit_err_retryable(rc))
            atomic_fetch_add(&b->conflicts, 1);
        else {
            bank_fail(b, "transfer", rc);
            break;
        }
        /* Plain writes to other keys: a put, a delete or a small batch. */
        switch (tu_below(&r, 3)) {
        case 0: rc = orbit_kv_put(b->kv, K(junk), K("x")); break;
        case 1: rc = orbit_kv_del(b->kv, K(junk)); break;
        default: {
            orbit_batch *bt;
            rc = orbit_batch_new(&bt);
            if (rc == ORBIT_OK) {
                orbit_batch_put(bt, K(junk), K("y"));
                orbit_batch_put(bt, K("junk-batch"), K(junk));
                rc = orbit_kv_write(b->kv, bt);
                orbit_batch_free(bt);
            }
        }
        }
        if (rc != ORBIT_OK && !orbit_err_retryable(rc)) {
            bank_fail(b, "plain write", rc);
            break;
        }
    }
    orbit_buf_release(&v1);
    orbit_buf_release(&v2);
    return NULL;
}

/* Every consistent view must hold the starting total. */
static void *bank_auditor(void *p)
{
    bank *b = p;
    long audits = 0;
    while (!atomic_load(&b->stop)) {
        orbit_scan_opts so = range("acct", "acct~", audits & 1);
        orbit_iter *it;
        orbit_txn *t = NULL;
        int rc;
        if (audits % 3 == 2) {
            orbit_txn_opts o = {ORBIT_ISO_SNAPSHOT};
            rc = orbit_kv_txn_begin(b->kv, &o, &t);
            if (rc == ORBIT_OK)
                rc = orbit_txn_iter(t, &so, &it);
        } else {
            rc = orbit_kv_iter(b->kv, NULL, &so, &it);
        }
        if (rc != ORBIT_OK) {
            bank_fail(b, "audit open", rc);
            if (t)
                orbit_txn_rollback(t);
            break;
        }
        const uint8_t *k, *v;
        size_t kl, vl, n = 0;
        int64_t sum = 0;
        while ((rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == ORBIT_OK) {
            int64_t x;
            if (vl != sizeof x) {
                bank_fail(b, "audit value size", ORBIT_ECORRUPT);
                break;
            }
            memcpy(&x, v, sizeof x);
            sum += x;
            n++;
        }
        orbit_iter_close(it);
        if (t)
            orbit_txn_rollback(t);
        if (rc != ORBIT_NOTFOUND && rc != ORBIT_OK)
            bank_fail(b, "audit scan", rc);
        if (rc == ORBIT_NOTFOUND && (n != ACCOUNTS || sum != ACCOUNTS * START_BALANCE)) {
            char msg[256];
            snprintf(msg, sizeof msg, "audit saw %zu accounts totalling %lld", n, (long long)sum);
            bank_fail_msg(b, msg);
        }
        audits++;
    }
    return NULL;
}

static void run_bank(const char *uri)
{
    bank b;
    memset(&b, 0, sizeof b);
    b.kv = open_kv(uri);
    b.seed = tu_seed("test_memory bank");
    for (int i = 0; i < ACCOUNTS; i++) {
        char k[16];
        int64_t v = START_BALANCE;
        snprintf(k, sizeof k, "acct%02d", i);
        assert_int_equal(orbit_kv_put(b.kv, K(k), (const uint8_t *)&v, sizeof v), ORBIT_OK);
    }
    enum { WORKERS = 4, AUDITORS = 2 };
    pthread_t th[WORKERS + AUDITORS];
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, bank_worker, &b), 0);
    for (int i = 0; i < AUDITORS; i++)
        assert_int_equal(pthread_create(&th[WORKERS + i], NULL, bank_auditor, &b), 0);
    uint64_t t0 = now_ms();
    while (!atomic_load(&b.stop) && now_ms() - t0 < 1500)
        usleep(10000);
    atomic_store(&b.stop, 1);
    for (int i = 0; i < WORKERS + AUDITORS; i++)
        pthread_join(th[i], NULL);
    if (atomic_load(&b.failed))
        fail_msg("%s: %s", uri, b.why);
    fprintf(stderr, "%s: %ld transfers, %ld conflicts\n", uri, atomic_load(&b.transfers),
            atomic_load(&b.conflicts));
    assert_true(atomic_load(&b.transfers) > 0);
    int64_t sum = 0;
    orbit_iter *it;
    orbit_scan_opts so = range("acct", "acct~", 0);
    assert_int_equal(orbit_kv_iter(b.kv, NULL, &so, &it), ORBIT_OK);
    const uint8_t *k, *v;
    size_t kl, vl;
    while (orbit_iter_next(it, &k, &kl, &v, &vl) == ORBIT_OK) {
        int64_t x;
        memcpy(&x, v, sizeof x);
        sum += x;
    }
    orbit_iter_close(it);
    assert_int_equal(sum, ACCOUNTS * START_BALANCE);
    /* With every reader gone, each key is down to its one live version. */
    uint64_t keys, versions;
    counts(&keys, &versions);
    assert_int_equal(keys, versions);
    orbit_kv_close(b.kv);
    expect_counts(0, 0);
}

/* Every write path refuses a value over the limit before applying
 * anything, and accepts one of exactly the limit. */
static void value_limit_round(const char *uri)
{
    orbit_kv *kv = open_kv(uri);
    const size_t max = ORBIT_MEMORY_MAX_VALUE;
    uint8_t *big = calloc(1, max + 1);
    assert_non_null(big);
    const uint8_t *k = (const uint8_t *)"big";

    assert_int_equal(orbit_kv_put(kv, k, 3, big, max + 1), ORBIT_ETOOBIG);
    assert_non_null(strstr(orbit_last_error_detail(), "exceeds"));
    assert_string_equal(get_at(kv, NULL, "big"), "-");
    assert_int_equal(orbit_kv_put(kv, k, 3, big, max), 0);
    del(kv, "big");

    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    assert_int_equal(orbit_batch_put(b, (const uint8_t *)"small", 5, (const uint8_t *)"s", 1), 0);
    assert_int_equal(orbit_batch_put(b, k, 3, big, max + 1), 0);
    assert_int_equal(orbit_kv_write(kv, b), ORBIT_ETOOBIG);
    orbit_batch_free(b);
    assert_string_equal(get_at(kv, NULL, "small"), "-");

    orbit_slice want = {big, max + 1};
    assert_int_equal(orbit_kv_cas(kv, k, 3, NULL, &want, NULL), ORBIT_ETOOBIG);
    assert_string_equal(get_at(kv, NULL, "big"), "-");

    orbit_txn *t = NULL;
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &t), 0);
    assert_int_equal(orbit_txn_put(t, k, 3, big, max + 1), ORBIT_ETOOBIG);
    orbit_txn_rollback(t);
    assert_string_equal(get_at(kv, NULL, "big"), "-");
    free(big);
    orbit_kv_close(kv);
}

static void test_value_limit(void **state)
{
    (void)state;
    value_limit_round("memory:");
    value_limit_round("memory:?txn=pessimistic");
}

static void test_threads_pessimistic(void **state)
{
    (void)state;
    run_bank("memory:?txn=pessimistic&lock_timeout_ms=20");
    run_bank("memory:?txn=pessimistic");
}

static void test_threads_optimistic(void **state)
{
    (void)state;
    run_bank("memory:?txn=optimistic");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_options),
        cmocka_unit_test(test_snapshot_reads),
        cmocka_unit_test(test_batch_atomic_version),
        cmocka_unit_test(test_iterator_isolation),
        cmocka_unit_test(test_iterator_outlives_snapshot),
        cmocka_unit_test(test_iterator_concurrent_writer),
        cmocka_unit_test(test_pruning),
        cmocka_unit_test(test_pessimistic_lock_conflict),
        cmocka_unit_test(test_pessimistic_snapshot_validation),
        cmocka_unit_test(test_lock_timeout_wait),
        cmocka_unit_test(test_plain_write_vs_txn_lock),
        cmocka_unit_test(test_optimistic_conflicts),
        cmocka_unit_test(test_isolation_visibility),
        cmocka_unit_test(test_txn_own_writes),
        cmocka_unit_test(test_txn_iter_interleaving),
        cmocka_unit_test(test_alloc_failure_atomic),
        cmocka_unit_test(test_v2_capabilities_and_versions),
        cmocka_unit_test(test_multi_get_native),
        cmocka_unit_test(test_delete_range_native),
        cmocka_unit_test(test_batch_range_delete_in_order),
        cmocka_unit_test(test_range_delete_vs_txns),
        cmocka_unit_test(test_cas_native),
        cmocka_unit_test(test_cas_threads),
        cmocka_unit_test(test_seek),
        cmocka_unit_test(test_keys_only_and_max_bytes),
        cmocka_unit_test(test_random_ranges_vs_oracle),
        cmocka_unit_test(test_alloc_failure_range_delete),
        cmocka_unit_test(test_value_limit),
        cmocka_unit_test(test_threads_pessimistic),
        cmocka_unit_test(test_threads_optimistic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
