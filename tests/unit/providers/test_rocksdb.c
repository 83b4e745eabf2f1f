/*
 * Tests for src/providers/rocksdb/, the RocksDB provider, through the public
 * API. Only behaviour specific to RocksDB is here: URI options, persistence
 * across close/reopen, the directory lock, the value-size limit, pinned
 * reads of large values, pessimistic locks versus optimistic validation,
 * snapshot reads inside transactions, iterator bounds over a transaction's
 * own writes, and concurrent use (run under TSan too). What every provider
 * must do alike is the contract suite's job (tests/contract).
 *
 * Each test gets a fresh temporary directory, removed at its end.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "orbit/kv.h"
#include "testutil.h"

#define MAX_VALUE ((size_t)64 << 20)

/* ---- helpers -------------------------------------------------------- */

static int setup_dir(void **state)
{
    *state = tu_tempdir("rdb");
    return 0;
}

static int teardown_dir(void **state)
{
    tu_rmdir(*state);
    return 0;
}

/* "rocksdb:DIR[/SUB][?OPTS]" in a static buffer (tests are single-threaded
 * wherever they build URIs). */
static const char *uri_of(const char *dir, const char *sub, const char *opts)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "rocksdb:%s%s%s%s%s", dir, sub ? "/" : "", sub ? sub : "",
             opts && *opts ? "?" : "", opts && *opts ? opts : "");
    return buf;
}

static orbit_kv *open_ok(const char *dir, const char *sub, const char *opts)
{
    orbit_kv *kv = NULL;
    const char *uri = uri_of(dir, sub, opts);
    int rc = orbit_kv_open(uri, &kv);
    if (rc != 0)
        fail_msg("open %s: %s (%s)", uri, orbit_err_name(rc), orbit_last_error_detail());
    return kv;
}

static int put_s(orbit_kv *kv, const char *k, const char *v)
{
    return orbit_kv_put(kv, (const uint8_t *)k, strlen(k), (const uint8_t *)v, strlen(v));
}

static int del_s(orbit_kv *kv, const char *k)
{
    return orbit_kv_del(kv, (const uint8_t *)k, strlen(k));
}

/* Assert that k holds exactly v (v NULL: k is absent). */
static void expect_kv(orbit_kv *kv, const orbit_read_opts *ro, const char *k, const char *v)
{
    orbit_buf b = ORBIT_BUF_INIT;
    int rc = orbit_kv_get(kv, ro, (const uint8_t *)k, strlen(k), &b);
    if (!v) {
        assert_int_equal(rc, ORBIT_NOTFOUND);
    } else {
        if (rc != 0)
            fail_msg("get %s: %s (%s)", k, orbit_err_name(rc), orbit_last_error_detail());
        assert_int_equal(b.len, strlen(v));
        assert_memory_equal(b.data, v, b.len);
    }
    orbit_buf_release(&b);
}

static int tput(orbit_txn *t, const char *k, const char *v)
{
    return orbit_txn_put(t, (const uint8_t *)k, strlen(k), (const uint8_t *)v, strlen(v));
}

static void expect_txn(orbit_txn *t, const char *k, const char *v)
{
    orbit_buf b = ORBIT_BUF_INIT;
    int rc = orbit_txn_get(t, (const uint8_t *)k, strlen(k), &b);
    if (!v) {
        assert_int_equal(rc, ORBIT_NOTFOUND);
    } else {
        if (rc != 0)
            fail_msg("txn get %s: %s (%s)", k, orbit_err_name(rc), orbit_last_error_detail());
        assert_int_equal(b.len, strlen(v));
        assert_memory_equal(b.data, v, b.len);
    }
    orbit_buf_release(&b);
}

static orbit_txn *begin(orbit_kv *kv, orbit_isolation iso)
{
    orbit_txn_opts o = {.isolation = iso};
    orbit_txn *t = NULL;
    int rc = orbit_kv_txn_begin(kv, &o, &t);
    if (rc != 0)
        fail_msg("txn begin: %s (%s)", orbit_err_name(rc), orbit_last_error_detail());
    return t;
}

/* Collect "k=v,k=v," of a scan into out. */
static void scan_str(orbit_iter *it, char *out, size_t cap)
{
    const uint8_t *k, *v;
    size_t kl, vl;
    int rc;
    size_t n = 0;
    out[0] = '\0';
    while ((rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0) {
        int w = snprintf(out + n, cap - n, "%.*s=%.*s,", (int)kl, (const char *)k, (int)vl,
                         (const char *)v);
        assert_true(w > 0 && (size_t)w < cap - n);
        n += (size_t)w;
    }
    assert_int_equal(rc, ORBIT_NOTFOUND);
    /* An ended walk stays ended. */
    assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), ORBIT_NOTFOUND);
    orbit_iter_close(it);
}

static void expect_scan(orbit_kv *kv, orbit_txn *t, const char *start, const char *end,
                        int reverse, const char *want)
{
    orbit_scan_opts so = {0};
    orbit_iter *it = NULL;
    char got[1024];
    if (start) {
        so.start = (const uint8_t *)start;
        so.start_len = strlen(start);
    }
    if (end) {
        so.end = (const uint8_t *)end;
        so.end_len = strlen(end);
    }
    so.reverse = reverse;
    int rc = t ? orbit_txn_iter(t, &so, &it) : orbit_kv_iter(kv, NULL, &so, &it);
    if (rc != 0)
        fail_msg("iter: %s (%s)", orbit_err_name(rc), orbit_last_error_detail());
    scan_str(it, got, sizeof got);
    assert_string_equal(got, want);
}

static int dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- URI options ---------------------------------------------------- */

/* Every option and value is accepted, and the store works under it across
 * a close and reopen (which writes an SST, so each compression codec is
 * exercised on the way out and back). */
static void test_options_accepted(void **state)
{
    const char *dir = *state;
    static const char *cases[] = {
        "",
        "txn=pessimistic",
        "txn=optimistic",
        "sync=off",
        "sync=always",
        "wal=on",
        "wal=off",
        "wal=off&sync=off",
        "cache_mb=0",
        "cache_mb=8",
        "compression=none&wal=off",
        "compression=snappy&wal=off",
        "compression=lz4&wal=off",
        "compression=zstd&wal=off",
        "compression=zstd",
        "lock_timeout_ms=0",
        "lock_timeout_ms=250",
        "create=on",
        "txn=optimistic&sync=always&wal=on&cache_mb=1&compression=zstd&lock_timeout_ms=10&create=on",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char sub[16];
        snprintf(sub, sizeof sub, "c%zu", i);
        orbit_kv *kv = open_ok(dir, sub, cases[i]);
        orbit_capabilities caps;
        orbit_kv_capabilities(kv, &caps);
        assert_string_equal(caps.name, "rocksdb");
        assert_int_equal(caps.durable, strstr(cases[i], "wal=off") ? 0 : 1);
        assert_int_equal(put_s(kv, "k", cases[i]), 0);
        orbit_kv_close(kv);
        kv = open_ok(dir, sub, cases[i]);
        expect_kv(kv, NULL, "k", cases[i]);
        orbit_kv_close(kv);
    }
    /* create=off opens a store that exists. */
    orbit_kv *kv = open_ok(dir, "c0", "create=off");
    expect_kv(kv, NULL, "k", "");
    orbit_kv_close(kv);
}

static void test_options_rejected(void **state)
{
    const char *dir = *state;
    static const struct {
        const char *opts;
        const char *named; /* must appear in the error detail */
    } cases[] = {
        {"txn=eager", "txn"},
        {"txn=", "txn"},
        {"sync=sometimes", "sync"},
        {"sync=on", "sync"},
        {"wal=maybe", "wal"},
        {"cache_mb=lots", "cache_mb"},
        {"cache_mb=-1", "cache_mb"},
        {"cache_mb=1048577", "cache_mb"},
        {"compression=gzip", "compression"},
        {"compression=LZ4", "compression"},
        {"lock_timeout_ms=soon", "lock_timeout_ms"},
        {"lock_timeout_ms=86400001", "lock_timeout_ms"},
        {"create=perhaps", "create"},
        {"compresion=lz4", "compresion"},
        {"bogus=1", "bogus"},
        {"wal=off&sync=always", "wal=off"},
    };
    char path[1024];
    snprintf(path, sizeof path, "%s/bad", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        orbit_kv *kv = NULL;
        int rc = orbit_kv_open(uri_of(dir, "bad", cases[i].opts), &kv);
        if (rc != ORBIT_EINVAL)
            fail_msg("%s: got %s, want EINVAL", cases[i].opts, orbit_err_name(rc));
        assert_null(kv);
        if (!strstr(orbit_last_error_detail(), cases[i].named))
            fail_msg("%s: detail \"%s\" does not name %s", cases[i].opts,
                     orbit_last_error_detail(), cases[i].named);
        /* Options are checked before anything touches the disk. */
        assert_false(dir_exists(path));
    }

    orbit_kv *kv = NULL;
    assert_int_equal(orbit_kv_open("rocksdb:", &kv), ORBIT_EBADURI);
    assert_int_equal(orbit_kv_open("rocksdb:?wal=on", &kv), ORBIT_EBADURI);
    assert_null(kv);
}

/* ---- persistence and the directory ---------------------------------- */

static void persist_round(const char *dir, const char *sub, const char *opts)
{
    orbit_kv *kv = open_ok(dir, sub, opts);
    assert_int_equal(put_s(kv, "a1", "one"), 0);
    assert_int_equal(put_s(kv, "a2", "two"), 0);
    assert_int_equal(put_s(kv, "a3", "three"), 0);
    assert_int_equal(put_s(kv, "a1", "uno"), 0);

    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    assert_int_equal(orbit_batch_put(b, (const uint8_t *)"b1", 2, (const uint8_t *)"x", 1), 0);
    assert_int_equal(orbit_batch_put(b, (const uint8_t *)"b2", 2, (const uint8_t *)"y", 1), 0);
    assert_int_equal(orbit_batch_del(b, (const uint8_t *)"a2", 2), 0);
    assert_int_equal(orbit_batch_put(b, (const uint8_t *)"b2", 2, (const uint8_t *)"z", 1), 0);
    assert_int_equal(orbit_kv_write(kv, b), 0);
    orbit_batch_free(b);

    assert_int_equal(del_s(kv, "a3"), 0);
    assert_int_equal(del_s(kv, "never"), 0);

    orbit_txn *t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(tput(t, "t1", "committed"), 0);
    assert_int_equal(orbit_txn_commit(t), 0);
    t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(tput(t, "t2", "rolled back"), 0);
    orbit_txn_rollback(t);
    orbit_kv_close(kv);

    kv = open_ok(dir, sub, opts);
    expect_kv(kv, NULL, "a1", "uno");
    expect_kv(kv, NULL, "a2", NULL);
    expect_kv(kv, NULL, "a3", NULL);
    expect_kv(kv, NULL, "b1", "x");
    expect_kv(kv, NULL, "b2", "z");
    expect_kv(kv, NULL, "t1", "committed");
    expect_kv(kv, NULL, "t2", NULL);
    expect_scan(kv, NULL, NULL, NULL, 0, "a1=uno,b1=x,b2=z,t1=committed,");
    orbit_kv_close(kv);
}

static void test_reopen_persistence(void **state)
{
    persist_round(*state, "pess", "txn=pessimistic");
    persist_round(*state, "opt", "txn=optimistic");
    persist_round(*state, "nowal", "wal=off");
    persist_round(*state, "sync", "sync=always&compression=zstd");
    /* A store written in one mode reads back in the other. */
    orbit_kv *kv = open_ok(*state, "pess", "txn=optimistic");
    expect_kv(kv, NULL, "b2", "z");
    orbit_kv_close(kv);
}

static void test_second_open_is_busy(void **state)
{
    const char *dir = *state;
    orbit_kv *a = open_ok(dir, "db", "");
    assert_int_equal(put_s(a, "k", "v"), 0);

    orbit_kv *b = NULL;
    assert_int_equal(orbit_kv_open(uri_of(dir, "db", ""), &b), ORBIT_EBUSY);
    assert_null(b);
    assert_non_null(strstr(orbit_last_error_detail(), "already open"));
    assert_non_null(strstr(orbit_last_error_detail(), dir));
    assert_int_equal(orbit_kv_open(uri_of(dir, "db", "txn=optimistic"), &b), ORBIT_EBUSY);
    assert_true(orbit_err_retryable(ORBIT_EBUSY));

    /* The failed opens did not disturb the first handle. */
    expect_kv(a, NULL, "k", "v");
    orbit_kv_close(a);

    b = open_ok(dir, "db", "");
    expect_kv(b, NULL, "k", "v");
    orbit_kv_close(b);
}

static void test_create_off(void **state)
{
    const char *dir = *state;
    char path[1024];
    orbit_kv *kv = NULL;

    snprintf(path, sizeof path, "%s/missing", dir);
    int rc = orbit_kv_open(uri_of(dir, "missing", "create=off"), &kv);
    assert_true(rc < 0);
    assert_null(kv);
    assert_non_null(strstr(orbit_last_error_detail(), path));
    assert_false(dir_exists(path));

    /* A directory that exists but holds no store is refused too. */
    snprintf(path, sizeof path, "%s/empty", dir);
    assert_int_equal(mkdir(path, 0777), 0);
    rc = orbit_kv_open(uri_of(dir, "empty", "create=off"), &kv);
    assert_true(rc < 0);
    assert_non_null(strstr(orbit_last_error_detail(), path));

    /* With create=on (the default) missing parents are made. */
    kv = open_ok(dir, "x/y/z", "");
    orbit_kv_close(kv);
    snprintf(path, sizeof path, "%s/x/y/z/CURRENT", dir);
    assert_true(dir_exists(path));
}

/* ---- values ----------------------------------------------------------- */

static void test_oversized_value(void **state)
{
    orbit_kv *kv = open_ok(*state, "db", "");
    orbit_capabilities caps;
    orbit_kv_capabilities(kv, &caps);
    assert_int_equal(caps.max_value_size, MAX_VALUE);

    uint8_t *big = calloc(1, MAX_VALUE + 1);
    assert_non_null(big);
    assert_int_equal(orbit_kv_put(kv, (const uint8_t *)"big", 3, big, MAX_VALUE + 1),
                     ORBIT_ETOOBIG);
    expect_kv(kv, NULL, "big", NULL);

    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    assert_int_equal(orbit_batch_put(b, (const uint8_t *)"small", 5, (const uint8_t *)"s", 1), 0);
    assert_int_equal(orbit_batch_put(b, (const uint8_t *)"big", 3, big, MAX_VALUE + 1), 0);
    assert_int_equal(orbit_kv_write(kv, b), ORBIT_ETOOBIG);
    orbit_batch_free(b);
    /* All or nothing: the small entry was not applied either. */
    expect_kv(kv, NULL, "small", NULL);

    orbit_txn *t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_put(t, (const uint8_t *)"big", 3, big, MAX_VALUE + 1),
                     ORBIT_ETOOBIG);
    orbit_txn_rollback(t);
    expect_kv(kv, NULL, "big", NULL);
    free(big);
    orbit_kv_close(kv);
}

typedef struct expect_val {
    const uint8_t *want;
    size_t len;
    int calls;
} expect_val;

static int check_val(void *arg, const uint8_t *val, size_t len)
{
    expect_val *e = arg;
    e->calls++;
    if (len != e->len || memcmp(val, e->want, len) != 0)
        return ORBIT_EINTERNAL;
    return 0;
}

static void test_pinned_large_value(void **state)
{
    const size_t n = (size_t)1 << 20;
    uint8_t *v1 = malloc(n), *v2 = malloc(n);
    tu_rng rng;
    assert_non_null(v1);
    assert_non_null(v2);
    tu_rng_init(&rng, tu_seed("test_pinned_large_value"));
    for (size_t i = 0; i < n; i++) {
        v1[i] = (uint8_t)tu_rand(&rng);
        v2[i] = (uint8_t)(v1[i] ^ 0x5a);
    }

    orbit_kv *kv = open_ok(*state, "db", "cache_mb=8");
    assert_int_equal(orbit_kv_put(kv, (const uint8_t *)"big", 3, v1, n), 0);
    expect_val e = {v1, n, 0};
    assert_int_equal(orbit_kv_get_with(kv, NULL, (const uint8_t *)"big", 3, check_val, &e), 0);
    assert_int_equal(e.calls, 1);
    orbit_kv_close(kv);

    /* After a reopen the value comes from an SST through the block cache. */
    kv = open_ok(*state, "db", "cache_mb=8");
    for (int round = 0; round < 2; round++) {
        e.calls = 0;
        assert_int_equal(orbit_kv_get_with(kv, NULL, (const uint8_t *)"big", 3, check_val, &e),
                         0);
        assert_int_equal(e.calls, 1);
    }
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_kv_get(kv, NULL, (const uint8_t *)"big", 3, &b), 0);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, v1, n);

    /* A snapshot keeps the old value pinned while the new one is read. */
    orbit_snapshot *s = NULL;
    assert_int_equal(orbit_kv_snapshot(kv, &s), 0);
    assert_int_equal(orbit_kv_put(kv, (const uint8_t *)"big", 3, v2, n), 0);
    orbit_read_opts ro = {.snapshot = s};
    e.calls = 0;
    assert_int_equal(orbit_kv_get_with(kv, &ro, (const uint8_t *)"big", 3, check_val, &e), 0);
    assert_int_equal(e.calls, 1);
    expect_val e2 = {v2, n, 0};
    assert_int_equal(orbit_kv_get_with(kv, NULL, (const uint8_t *)"big", 3, check_val, &e2), 0);
    orbit_txn *t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_get_with(t, (const uint8_t *)"big", 3, check_val, &e2), 0);
    assert_int_equal(e2.calls, 2);
    orbit_txn_rollback(t);
    orbit_snapshot_release(s);

    /* A callback's own result is what the get returns. */
    assert_int_equal(orbit_kv_get_with(kv, NULL, (const uint8_t *)"big", 3, check_val, &e),
                     ORBIT_EINTERNAL);

    orbit_buf_release(&b);
    orbit_kv_close(kv);
    free(v1);
    free(v2);
}

/* ---- transactions ------------------------------------------------------ */

static void test_pessimistic_locks(void **state)
{
    orbit_kv *kv = open_ok(*state, "db", "txn=pessimistic&lock_timeout_ms=0");
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(put_s(kv, "k", "0"), 0);

    orbit_txn *t1 = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(tput(t1, "k", "1"), 0);

    /* Another transaction: write and get_for_update both conflict. */
    orbit_txn *t2 = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(tput(t2, "k", "2"), ORBIT_ECONFLICT);
    assert_true(orbit_err_retryable(ORBIT_ECONFLICT));
    orbit_txn_rollback(t2);
    t2 = begin(kv, ORBIT_ISO_READ_COMMITTED);
    assert_int_equal(orbit_txn_get_for_update(t2, (const uint8_t *)"k", 1, &b), ORBIT_ECONFLICT);
    orbit_txn_rollback(t2);
    /* A plain read is not blocked and sees the committed value. */
    expect_kv(kv, NULL, "k", "0");

    /* Plain writes respect the lock: busy, not a conflict. */
    assert_int_equal(put_s(kv, "k", "p"), ORBIT_EBUSY);
    assert_int_equal(del_s(kv, "k"), ORBIT_EBUSY);
    orbit_batch *wb = NULL;
    assert_int_equal(orbit_batch_new(&wb), 0);
    assert_int_equal(orbit_batch_put(wb, (const uint8_t *)"other", 5, (const uint8_t *)"o", 1), 0);
    assert_int_equal(orbit_batch_put(wb, (const uint8_t *)"k", 1, (const uint8_t *)"b", 1), 0);
    assert_int_equal(orbit_kv_write(kv, wb), ORBIT_EBUSY);
    expect_kv(kv, NULL, "other", NULL);
    assert_int_equal(put_s(kv, "free", "f"), 0);

    assert_int_equal(orbit_txn_commit(t1), 0);
    expect_kv(kv, NULL, "k", "1");
    /* The lock went with the commit. */
    assert_int_equal(orbit_kv_write(kv, wb), 0);
    orbit_batch_free(wb);
    expect_kv(kv, NULL, "k", "b");

    /* A rolled-back transaction releases its locks too. */
    t1 = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(tput(t1, "k", "x"), 0);
    orbit_txn_rollback(t1);
    assert_int_equal(put_s(kv, "k", "after"), 0);
    orbit_buf_release(&b);
    orbit_kv_close(kv);

    /* With lock_timeout_ms the loser waits that long before conflicting. */
    kv = open_ok(*state, "db", "txn=pessimistic&lock_timeout_ms=200");
    t1 = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(tput(t1, "k", "1"), 0);
    t2 = begin(kv, ORBIT_ISO_SNAPSHOT);
    uint64_t t0 = now_ms();
    assert_int_equal(tput(t2, "k", "2"), ORBIT_ECONFLICT);
    assert_true(now_ms() - t0 >= 150);
    orbit_txn_rollback(t2);
    t0 = now_ms();
    assert_int_equal(put_s(kv, "k", "p"), ORBIT_EBUSY);
    assert_true(now_ms() - t0 >= 150);
    orbit_txn_rollback(t1);
    orbit_kv_close(kv);
}

static void test_pessimistic_snapshot_conflict(void **state)
{
    orbit_kv *kv = open_ok(*state, "db", "txn=pessimistic");
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(put_s(kv, "k", "0"), 0);

    /* Under snapshot isolation, touching a key changed after the snapshot
     * fails at once. */
    orbit_txn *t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(put_s(kv, "k", "1"), 0);
    assert_int_equal(tput(t, "k", "t"), ORBIT_ECONFLICT);
    orbit_txn_rollback(t);

    t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(put_s(kv, "k", "2"), 0);
    assert_int_equal(orbit_txn_get_for_update(t, (const uint8_t *)"k", 1, &b), ORBIT_ECONFLICT);
    orbit_txn_rollback(t);

    t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(put_s(kv, "k", "3"), 0);
    assert_int_equal(orbit_txn_del(t, (const uint8_t *)"k", 1), ORBIT_ECONFLICT);
    orbit_txn_rollback(t);
    expect_kv(kv, NULL, "k", "3");

    /* Read committed only locks: the same sequence commits. */
    t = begin(kv, ORBIT_ISO_READ_COMMITTED);
    assert_int_equal(put_s(kv, "k", "4"), 0);
    assert_int_equal(orbit_txn_get_for_update(t, (const uint8_t *)"k", 1, &b), 0);
    assert_int_equal(b.len, 1);
    assert_int_equal(b.data[0], '4');
    assert_int_equal(tput(t, "k", "rc"), 0);
    assert_int_equal(orbit_txn_commit(t), 0);
    expect_kv(kv, NULL, "k", "rc");
    orbit_buf_release(&b);
    orbit_kv_close(kv);
}

static void test_optimistic_conflicts(void **state)
{
    orbit_kv *kv = open_ok(*state, "db", "txn=optimistic");
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(put_s(kv, "k", "0"), 0);

    /* Nothing is locked: writes succeed, the commit finds the conflict. */
    orbit_txn *t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(tput(t, "k", "t"), 0);
    assert_int_equal(put_s(kv, "k", "plain"), 0);
    assert_int_equal(orbit_txn_commit(t), ORBIT_ECONFLICT);
    expect_kv(kv, NULL, "k", "plain");

    /* Two transactions on one key: the first to commit wins. */
    orbit_txn *t1 = begin(kv, ORBIT_ISO_SNAPSHOT);
    orbit_txn *t2 = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(tput(t1, "k", "1"), 0);
    assert_int_equal(tput(t2, "k", "2"), 0);
    assert_int_equal(tput(t2, "k2", "2"), 0);
    assert_int_equal(orbit_txn_commit(t1), 0);
    assert_int_equal(orbit_txn_commit(t2), ORBIT_ECONFLICT);
    expect_kv(kv, NULL, "k", "1");
    expect_kv(kv, NULL, "k2", NULL);

    /* A key read for update is validated even if not written. */
    t1 = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(orbit_txn_get_for_update(t1, (const uint8_t *)"k", 1, &b), 0);
    t2 = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(tput(t2, "k", "3"), 0);
    assert_int_equal(orbit_txn_commit(t2), 0);
    assert_int_equal(tput(t1, "other", "1"), 0);
    assert_int_equal(orbit_txn_commit(t1), ORBIT_ECONFLICT);
    expect_kv(kv, NULL, "other", NULL);

    /* Snapshot: a change after begin conflicts even before first access.
     * Read committed: only changes after the first access do. */
    t1 = begin(kv, ORBIT_ISO_SNAPSHOT);
    t2 = begin(kv, ORBIT_ISO_READ_COMMITTED);
    assert_int_equal(put_s(kv, "k", "4"), 0);
    assert_int_equal(tput(t1, "k", "s"), 0);
    assert_int_equal(tput(t2, "k", "rc"), 0);
    assert_int_equal(orbit_txn_commit(t1), ORBIT_ECONFLICT);
    assert_int_equal(orbit_txn_commit(t2), 0);
    expect_kv(kv, NULL, "k", "rc");

    t2 = begin(kv, ORBIT_ISO_READ_COMMITTED);
    assert_int_equal(orbit_txn_get_for_update(t2, (const uint8_t *)"k", 1, &b), 0);
    assert_int_equal(put_s(kv, "k", "5"), 0);
    assert_int_equal(tput(t2, "k", "rc2"), 0);
    assert_int_equal(orbit_txn_commit(t2), ORBIT_ECONFLICT);
    expect_kv(kv, NULL, "k", "5");

    orbit_buf_release(&b);
    orbit_kv_close(kv);
}

static void isolation_reads(const char *dir, const char *sub, const char *opts)
{
    orbit_kv *kv = open_ok(dir, sub, opts);
    assert_int_equal(put_s(kv, "a", "1"), 0);
    assert_int_equal(put_s(kv, "b", "1"), 0);

    orbit_snapshot *s = NULL;
    assert_int_equal(orbit_kv_snapshot(kv, &s), 0);
    orbit_txn *snap = begin(kv, ORBIT_ISO_SNAPSHOT);
    orbit_txn *rc = begin(kv, ORBIT_ISO_READ_COMMITTED);
    assert_int_equal(tput(snap, "d", "own"), 0);
    assert_int_equal(tput(rc, "e", "own"), 0);

    assert_int_equal(put_s(kv, "a", "2"), 0);
    assert_int_equal(put_s(kv, "c", "2"), 0);
    assert_int_equal(del_s(kv, "b"), 0);

    /* The snapshot transaction reads its begin-time view plus its writes,
     * by point reads and by scans in both directions. */
    expect_txn(snap, "a", "1");
    expect_txn(snap, "b", "1");
    expect_txn(snap, "c", NULL);
    expect_txn(snap, "d", "own");
    expect_scan(kv, snap, NULL, NULL, 0, "a=1,b=1,d=own,");
    expect_scan(kv, snap, NULL, NULL, 1, "d=own,b=1,a=1,");

    /* Read committed sees the latest data plus its writes. */
    expect_txn(rc, "a", "2");
    expect_txn(rc, "b", NULL);
    expect_txn(rc, "c", "2");
    expect_txn(rc, "d", NULL);
    expect_scan(kv, rc, NULL, NULL, 0, "a=2,c=2,e=own,");

    /* A store snapshot agrees with the snapshot transaction. */
    orbit_read_opts ro = {.snapshot = s};
    expect_kv(kv, &ro, "a", "1");
    expect_kv(kv, &ro, "c", NULL);
    orbit_scan_opts so = {0};
    orbit_iter *it = NULL;
    char got[256];
    assert_int_equal(orbit_kv_iter(kv, &ro, &so, &it), 0);
    scan_str(it, got, sizeof got);
    assert_string_equal(got, "a=1,b=1,");

    orbit_txn_rollback(snap);
    orbit_txn_rollback(rc);
    orbit_snapshot_release(s);
    expect_kv(kv, NULL, "d", NULL);
    expect_kv(kv, NULL, "e", NULL);
    orbit_kv_close(kv);
}

static void test_snapshot_isolation_reads(void **state)
{
    isolation_reads(*state, "pess", "txn=pessimistic");
    isolation_reads(*state, "opt", "txn=optimistic");
}

static void test_serializable_unsupported(void **state)
{
    orbit_kv *kv = open_ok(*state, "db", "");
    orbit_capabilities caps;
    orbit_kv_capabilities(kv, &caps);
    assert_int_equal(caps.isolation_levels,
                     ORBIT_ISO_BIT(ORBIT_ISO_SNAPSHOT) | ORBIT_ISO_BIT(ORBIT_ISO_READ_COMMITTED));
    orbit_txn_opts o = {.isolation = ORBIT_ISO_SERIALIZABLE};
    orbit_txn *t = NULL;
    assert_int_equal(orbit_kv_txn_begin(kv, &o, &t), ORBIT_ENOTSUP);
    assert_null(t);
    orbit_kv_close(kv);
}

/* ---- iterator bounds ----------------------------------------------------- */

static void bounds_round(const char *dir, const char *sub, const char *opts)
{
    orbit_kv *kv = open_ok(dir, sub, opts);
    assert_int_equal(put_s(kv, "a", "1"), 0);
    assert_int_equal(put_s(kv, "b", "1"), 0);
    assert_int_equal(put_s(kv, "c", "1"), 0);
    assert_int_equal(put_s(kv, "d", "1"), 0);

    expect_scan(kv, NULL, "b", "d", 0, "b=1,c=1,");
    expect_scan(kv, NULL, "b", "d", 1, "c=1,b=1,");
    expect_scan(kv, NULL, "bb", "cc", 1, "c=1,");
    expect_scan(kv, NULL, NULL, "b", 1, "a=1,");
    expect_scan(kv, NULL, "c", NULL, 0, "c=1,d=1,");
    expect_scan(kv, NULL, "e", NULL, 0, "");
    expect_scan(kv, NULL, NULL, "a", 1, "");

    /* The transaction's own writes, inside and outside the range, merge
     * with the stored keys; bounds hold on both sides of the merge. */
    orbit_txn *t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(tput(t, "0", "t"), 0);
    assert_int_equal(tput(t, "bb", "t"), 0);
    assert_int_equal(tput(t, "d", "t"), 0);
    assert_int_equal(tput(t, "e", "t"), 0);
    assert_int_equal(orbit_txn_del(t, (const uint8_t *)"c", 1), 0);
    expect_scan(kv, t, "b", "d", 0, "b=1,bb=t,");
    expect_scan(kv, t, "b", "d", 1, "bb=t,b=1,");
    expect_scan(kv, t, "a", "e", 0, "a=1,b=1,bb=t,d=t,");
    expect_scan(kv, t, "a", "e", 1, "d=t,bb=t,b=1,a=1,");
    expect_scan(kv, t, "1", NULL, 1, "e=t,d=t,bb=t,b=1,a=1,");
    expect_scan(kv, t, NULL, "a", 0, "0=t,");
    /* Reverse from an upper bound that is itself an own write (RocksDB's
     * merging iterator would take it for the end of the range). */
    expect_scan(kv, t, NULL, "bb", 1, "b=1,a=1,0=t,");
    expect_scan(kv, t, NULL, "e", 1, "d=t,bb=t,b=1,a=1,0=t,");
    expect_scan(kv, t, "0", "a", 1, "0=t,");
    orbit_txn_rollback(t);

    /* The same where nothing stored lies below the bound: only own writes. */
    t = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(tput(t, "0", "t"), 0);
    assert_int_equal(tput(t, "1", "t"), 0);
    expect_scan(kv, t, NULL, "1", 1, "0=t,");
    expect_scan(kv, t, NULL, "a", 1, "1=t,0=t,");
    expect_scan(kv, t, "0", "1", 1, "0=t,");
    orbit_txn_rollback(t);
    orbit_kv_close(kv);
}

static void test_iterator_bounds(void **state)
{
    bounds_round(*state, "pess", "txn=pessimistic");
    bounds_round(*state, "opt", "txn=optimistic");
}

/* ---- concurrency --------------------------------------------------------- */

#define NTHREADS 4
#define NINCR 100

typedef struct worker {
    orbit_kv *kv;
    int id;
    int failures; /* unexpected errors: checked by the main thread */
    int retries;
    int first_rc; /* the first unexpected error, for the report */
    char first_detail[256];
} worker;

static void worker_failed(worker *w, int rc)
{
    if (w->failures++ == 0) {
        w->first_rc = rc;
        snprintf(w->first_detail, sizeof w->first_detail, "%s", orbit_last_error_detail());
    }
}

/* Increment "counter" in a transaction, retrying retryable failures. */
static int increment(worker *w)
{
    for (;;) {
        orbit_txn *t = NULL;
        orbit_buf b = ORBIT_BUF_INIT;
        int rc = orbit_kv_txn_begin(w->kv, NULL, &t);
        if (rc)
            return rc;
        rc = orbit_txn_get_for_update(t, (const uint8_t *)"counter", 7, &b);
        long n = 0;
        if (rc == 0) {
            char tmp[32];
            size_t len = b.len < sizeof tmp - 1 ? b.len : sizeof tmp - 1;
            memcpy(tmp, b.data, len);
            tmp[len] = '\0';
            n = strtol(tmp, NULL, 10);
        } else if (rc == ORBIT_NOTFOUND) {
            rc = 0;
        }
        if (rc == 0) {
            char val[32];
            int vl = snprintf(val, sizeof val, "%ld", n + 1);
            rc = orbit_txn_put(t, (const uint8_t *)"counter", 7, (const uint8_t *)val,
                               (size_t)vl);
        }
        orbit_buf_release(&b);
        if (rc == 0) {
            rc = orbit_txn_commit(t);
        } else {
            orbit_txn_rollback(t);
        }
        if (rc == 0)
            return 0;
        if (!orbit_err_retryable(rc))
            return rc;
        w->retries++;
    }
}

static void *work(void *arg)
{
    worker *w = arg;
    char key[32], val[32];
    for (int i = 0; i < NINCR; i++) {
        int rc = increment(w);
        if (rc != 0)
            worker_failed(w, rc);
        /* Plain traffic on the thread's own keys, alongside. */
        int kl = snprintf(key, sizeof key, "w%d-%03d", w->id, i);
        int vl = snprintf(val, sizeof val, "%d", i);
        rc = orbit_kv_put(w->kv, (const uint8_t *)key, (size_t)kl, (const uint8_t *)val,
                          (size_t)vl);
        if (rc != 0)
            worker_failed(w, rc);
        orbit_buf b = ORBIT_BUF_INIT;
        rc = orbit_kv_get(w->kv, NULL, (const uint8_t *)key, (size_t)kl, &b);
        if (rc != 0 || b.len != (size_t)vl || memcmp(b.data, val, b.len) != 0)
            worker_failed(w, rc);
        orbit_buf_release(&b);
        if (i % 10 == 0) {
            orbit_snapshot *s = NULL;
            orbit_iter *it = NULL;
            orbit_scan_opts so = {.prefix = (const uint8_t *)"w", .prefix_len = 1};
            rc = orbit_kv_snapshot(w->kv, &s);
            if (rc != 0) {
                worker_failed(w, rc);
                continue;
            }
            orbit_read_opts ro = {.snapshot = s};
            rc = orbit_kv_iter(w->kv, &ro, &so, &it);
            if (rc == 0) {
                const uint8_t *k, *v;
                size_t kl2, vl2;
                while ((rc = orbit_iter_next(it, &k, &kl2, &v, &vl2)) == 0)
                    ;
                if (rc != ORBIT_NOTFOUND)
                    worker_failed(w, rc);
                orbit_iter_close(it);
            } else {
                worker_failed(w, rc);
            }
            orbit_snapshot_release(s);
        }
    }
    return NULL;
}

static void run_threads(const char *dir, const char *sub, const char *opts)
{
    orbit_kv *kv = open_ok(dir, sub, opts);
    pthread_t th[NTHREADS];
    worker w[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (worker){.kv = kv, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    /* Join every thread before asserting: a failed assertion leaves this
     * frame, and the workers use it. */
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    int retries = 0;
    for (int i = 0; i < NTHREADS; i++) {
        if (w[i].failures)
            fail_msg("%s: worker %d: %d failures, first %s (%s)", opts, i, w[i].failures,
                     orbit_err_name(w[i].first_rc), w[i].first_detail);
        retries += w[i].retries;
    }
    char want[32];
    snprintf(want, sizeof want, "%d", NTHREADS * NINCR);
    expect_kv(kv, NULL, "counter", want);
    orbit_kv_stats st;
    orbit_kv_stats_get(kv, &st);
    assert_int_equal(st.txns_committed, NTHREADS * NINCR);
    fprintf(stderr, "%s: %d increments, %d retries\n", opts, NTHREADS * NINCR, retries);
    orbit_kv_close(kv);
}

static void test_threads(void **state)
{
    run_threads(*state, "pess", "txn=pessimistic&lock_timeout_ms=50");
    run_threads(*state, "pess0", "txn=pessimistic&lock_timeout_ms=0");
    run_threads(*state, "opt", "txn=optimistic");
}

/* Two transactions each waiting for the other's lock: with deadlock
 * detection one fails at once with ECONFLICT instead of both waiting out
 * lock_timeout_ms, and the other then gets its lock. */
typedef struct waiter {
    orbit_txn *t;
    const char *key;
    int rc;
    uint64_t ms;
} waiter;

static void *wait_put(void *arg)
{
    waiter *w = arg;
    uint64_t t0 = now_ms();
    w->rc = orbit_txn_put(w->t, (const uint8_t *)w->key, strlen(w->key), (const uint8_t *)"w", 1);
    if (w->rc != 0)
        orbit_txn_rollback(w->t);
    w->ms = now_ms() - t0;
    return NULL;
}

static void test_deadlock_detected(void **state)
{
    orbit_kv *kv = open_ok(*state, "db", "txn=pessimistic&lock_timeout_ms=5000");
    orbit_txn *t1 = begin(kv, ORBIT_ISO_SNAPSHOT);
    orbit_txn *t2 = begin(kv, ORBIT_ISO_SNAPSHOT);
    assert_int_equal(tput(t1, "a", "1"), 0);
    assert_int_equal(tput(t2, "b", "2"), 0);

    waiter wa = {.t = t1, .key = "b"}, wb = {.t = t2, .key = "a"};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wait_put, &wa), 0);
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    wait_put(&wb);
    pthread_join(th, NULL);

    /* Exactly one lost; it did not wait out the 5 s timeout, and the
     * winner got the lock the loser released. */
    assert_true((wa.rc == ORBIT_ECONFLICT) != (wb.rc == ORBIT_ECONFLICT));
    assert_true(wa.rc == 0 || wb.rc == 0);
    assert_true(wa.ms < 2500 && wb.ms < 2500);
    orbit_txn *winner = wa.rc == 0 ? t1 : t2;
    assert_int_equal(orbit_txn_commit(winner), 0);
    if (winner == t1) {
        expect_kv(kv, NULL, "a", "1");
        expect_kv(kv, NULL, "b", "w");
    } else {
        expect_kv(kv, NULL, "a", "w");
        expect_kv(kv, NULL, "b", "2");
    }
    orbit_kv_close(kv);
}

/* Threads writing disjoint keys never see a lock failure, even with
 * lock_timeout_ms=0: RocksDB's lock table is guarded by striped mutexes that
 * it only try-locks at timeout 0, and the provider must not let that
 * contention on unrelated keys surface as EBUSY / ECONFLICT. */
#define NDISJOINT 1500

static void *disjoint_writes(void *arg)
{
    worker *w = arg;
    char key[32];
    for (int i = 0; i < NDISJOINT; i++) {
        int kl = snprintf(key, sizeof key, "d%d-%d", w->id, i % 64);
        int rc;
        if (i % 2) {
            rc = orbit_kv_put(w->kv, (const uint8_t *)key, (size_t)kl, (const uint8_t *)"v", 1);
        } else {
            orbit_txn *t = NULL;
            rc = orbit_kv_txn_begin(w->kv, NULL, &t);
            if (rc == 0) {
                rc = orbit_txn_put(t, (const uint8_t *)key, (size_t)kl, (const uint8_t *)"t", 1);
                if (rc == 0)
                    rc = orbit_txn_commit(t);
                else
                    orbit_txn_rollback(t);
            }
        }
        if (rc != 0)
            worker_failed(w, rc);
    }
    return NULL;
}

static void test_no_spurious_lock_failures(void **state)
{
    orbit_kv *kv = open_ok(*state, "db", "txn=pessimistic&lock_timeout_ms=0");
    pthread_t th[NTHREADS];
    worker w[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (worker){.kv = kv, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, disjoint_writes, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < NTHREADS; i++) {
        if (w[i].failures)
            fail_msg("worker %d: %d failures, first %s (%s)", i, w[i].failures,
                     orbit_err_name(w[i].first_rc), w[i].first_detail);
    }
    orbit_kv_close(kv);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_dir, teardown_dir)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_options_accepted),
        T(test_options_rejected),
        T(test_reopen_persistence),
        T(test_second_open_is_busy),
        T(test_create_off),
        T(test_oversized_value),
        T(test_pinned_large_value),
        T(test_pessimistic_locks),
        T(test_pessimistic_snapshot_conflict),
        T(test_optimistic_conflicts),
        T(test_snapshot_isolation_reads),
        T(test_serializable_unsupported),
        T(test_iterator_bounds),
        T(test_threads),
        T(test_no_spurious_lock_failures),
        T(test_deadlock_detected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
