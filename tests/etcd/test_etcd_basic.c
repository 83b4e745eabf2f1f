/*
 * The etcd provider against a real 3-member cluster (started by this
 * process through etcd_harness, gone with it): URI options, point
 * operations, batches and their limits, paginated scans in both directions,
 * snapshots, optimistic transactions and their conflicts, and the native
 * asynchronous path. Every case works in its own namespace, so cases never
 * see each other's keys. Also the transport's pure parts (status mapping,
 * backoff bounds), which need no cluster.
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
#include "rpc/rpc.h"

/* The provider's own entry points (src/providers/etcd/etcd_int.h, which
 * needs generated headers): the contract v2 cases call them directly on a
 * second handle of the same namespace, so they test the provider whatever
 * the contract layer in front of it offers. */
int orbit__etcd_multi_get(void *self, void *snap, size_t n, const orbit_slice *keys, orbit_buf *vals,
                          int *status);
int orbit__etcd_txn_multi_get(void *txn, size_t n, const orbit_slice *keys, orbit_buf *vals, int *status);
int orbit__etcd_iter_seek(void *it, const uint8_t *k, size_t kl);
uint64_t orbit__etcd_snapshot_version(void *self, void *snap);
int orbit__etcd_snapshot_open_at(void *self, uint64_t version, void **snap);
int orbit__etcd_txn_commit_version(void *txn, uint64_t *version);
uint64_t orbit__etcd_debug_keys_fetched(void);

static eh_cluster cl;
static int ns_counter;

static int group_setup(void **state)
{
    return eh_start(&cl, 3, 1) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    eh_stop(&cl);
    return 0;
}

static char last_uri[1024];

/* Open the cluster in a fresh namespace, with extra options. */
static orbit_kv *open_ns(const char *extra)
{
    char *uri = last_uri;
    snprintf(last_uri, sizeof last_uri, "etcd://%s?namespace=t%d-%d/%s%s", cl.endpoints, (int)getpid(),
             ++ns_counter, extra ? "&" : "", extra ? extra : "");
    orbit_kv *kv = NULL;
    int rc = orbit_kv_open(uri, &kv);
    if (rc)
        fprintf(stderr, "open %s: %s (%s)\n", uri, orbit_err_name(rc), orbit_last_error_detail());
    assert_int_equal(rc, 0);
    return kv;
}

#define S(x) (const uint8_t *)(x), strlen(x)

static void check_value(orbit_kv *kv, const orbit_read_opts *ro, const char *k, const char *v)
{
    orbit_buf b = ORBIT_BUF_INIT;
    int rc = orbit_kv_get(kv, ro, S(k), &b);
    if (v) {
        assert_int_equal(rc, 0);
        assert_int_equal(b.len, strlen(v));
        assert_memory_equal(b.data, v, b.len);
    } else {
        assert_int_equal(rc, ORBIT_NOTFOUND);
    }
    orbit_buf_release(&b);
}

/* ---- transport, no cluster ------------------------------------------------ */

static void test_status_mapping(void **state)
{
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_OK, ""), 0);
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_UNAVAILABLE, "etcdserver: no leader"), ORBIT_EUNAVAIL);
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_DEADLINE_EXCEEDED, ""), ORBIT_ETIMEDOUT);
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_RESOURCE_EXHAUSTED,
                                           "grpc: received message larger than max (3 vs. 2)"),
                     ORBIT_ETOOBIG);
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_RESOURCE_EXHAUSTED, "etcdserver: too many requests"),
                     ORBIT_EBUSY);
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_INVALID_ARGUMENT, "etcdserver: request is too large"),
                     ORBIT_ETOOBIG);
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_INVALID_ARGUMENT,
                                           "etcdserver: too many operations in txn request"),
                     ORBIT_ETOOBIG);
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_INVALID_ARGUMENT, "etcdserver: key is not provided"),
                     ORBIT_EINVAL);
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_UNIMPLEMENTED, ""), ORBIT_ENOTSUP);
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_INTERNAL, "x"), ORBIT_EIO);
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_UNKNOWN, "context deadline exceeded"), ORBIT_ETIMEDOUT);
    assert_int_equal(orbit__rpc_map_status(GRPC_STATUS_UNKNOWN, "something else"), ORBIT_EIO);
    assert_true(orbit_err_retryable(orbit__rpc_map_status(GRPC_STATUS_UNAVAILABLE, "")));
}

static void test_backoff_bounds(void **state)
{
    uint64_t seed = 42;
    uint32_t max_seen = 0;
    for (uint32_t attempt = 1; attempt <= 12; attempt++) {
        uint32_t ceil = 20u << (attempt - 1);
        if (ceil > 500 || attempt > 6)
            ceil = 500;
        for (int i = 0; i < 200; i++) {
            uint32_t w = orbit__rpc_backoff_ms(attempt, 20, 500, &seed);
            assert_true(w <= ceil);
            if (w > max_seen)
                max_seen = w;
        }
    }
    /* full jitter spreads over the range, it does not sit at one value */
    assert_true(max_seen > 250);
}

static void test_unreachable_endpoint(void **state)
{
    /* Port 1 on loopback refuses connections: open fails within its budget. */
    orbit_kv *kv = NULL;
    int rc = orbit_kv_open("etcd://127.0.0.1:1?timeout_ms=800", &kv);
    assert_true(rc == ORBIT_EUNAVAIL || rc == ORBIT_ETIMEDOUT);
    assert_null(kv);
    assert_true(strlen(orbit_last_error_detail()) > 0);
}

/* ---- URI --------------------------------------------------------------- */

static void test_uri_options(void **state)
{
    char uri[1024];
    orbit_kv *kv = NULL;
    snprintf(uri, sizeof uri, "etcd://%s?bogus=1", cl.endpoints);
    assert_int_equal(orbit_kv_open(uri, &kv), ORBIT_EINVAL);
    snprintf(uri, sizeof uri, "etcd://%s?read=sometimes", cl.endpoints);
    assert_int_equal(orbit_kv_open(uri, &kv), ORBIT_EINVAL);
    snprintf(uri, sizeof uri, "etcd://%s?max_txn_ops=1", cl.endpoints);
    assert_int_equal(orbit_kv_open(uri, &kv), ORBIT_EINVAL);
    snprintf(uri, sizeof uri, "etcd://%s?writes=sloppy", cl.endpoints);
    assert_int_equal(orbit_kv_open(uri, &kv), ORBIT_EINVAL);

    kv = open_ns("read=serializable&max_txn_ops=64&timeout_ms=3000");
    orbit_capabilities caps;
    orbit_kv_capabilities(kv, &caps);
    assert_int_equal(caps.type, ORBIT_PROVIDER_DISTRIBUTED);
    assert_string_equal(caps.name, "etcd");
    assert_int_equal(caps.max_batch_ops, 63);
    assert_true(caps.native_async && caps.supports_snapshots && caps.durable);
    assert_true(caps.supports_distributed_transactions);
    assert_int_equal(caps.isolation_levels,
                     ORBIT_ISO_BIT(ORBIT_ISO_SNAPSHOT) | ORBIT_ISO_BIT(ORBIT_ISO_READ_COMMITTED));
    assert_int_equal(orbit_kv_put(kv, S("k"), S("v")), 0);
    check_value(kv, NULL, "k", "v"); /* a serializable read of our own write via one member */
    orbit_kv_close(kv);
}

/* ---- point operations, batches ----------------------------------------- */

/* state: NULL, or extra URI options (the writes=plain variant) */
static void test_point_ops(void **state)
{
    orbit_kv *kv = open_ns(*state);
    check_value(kv, NULL, "a", NULL);
    assert_int_equal(orbit_kv_put(kv, S("a"), S("1")), 0);
    check_value(kv, NULL, "a", "1");
    assert_int_equal(orbit_kv_put(kv, S("a"), S("2")), 0);
    check_value(kv, NULL, "a", "2");
    assert_int_equal(orbit_kv_put(kv, S("empty"), NULL, 0), 0);
    check_value(kv, NULL, "empty", "");
    assert_int_equal(orbit_kv_del(kv, S("a")), 0);
    check_value(kv, NULL, "a", NULL);
    assert_int_equal(orbit_kv_del(kv, S("never")), 0);
    /* binary keys and values, including NUL and 0xff bytes */
    const uint8_t k[] = {0, 0xff, 1, 0};
    const uint8_t v[] = {0xff, 0, 0xfe};
    assert_int_equal(orbit_kv_put(kv, k, sizeof k, v, sizeof v), 0);
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_kv_get(kv, NULL, k, sizeof k, &b), 0);
    assert_int_equal(b.len, sizeof v);
    assert_memory_equal(b.data, v, sizeof v);
    orbit_buf_release(&b);

    /* namespaces are disjoint */
    orbit_kv *other = open_ns(NULL);
    check_value(other, NULL, "empty", NULL);
    orbit_kv_close(other);
    orbit_kv_close(kv);
}

/* Without a namespace option: keys are stored as given, guarded writes and
 * commits still work (their markers live under FF FF FF), and user keys in
 * the marker range are refused. */
static void test_no_namespace(void **state)
{
    (void)state;
    char uri[sizeof cl.endpoints + 16];
    snprintf(uri, sizeof uri, "etcd://%s", cl.endpoints);
    orbit_kv *kv = NULL;
    assert_int_equal(orbit_kv_open(uri, &kv), 0);
    assert_int_equal(orbit_kv_put(kv, S("nons/a"), S("1")), 0);
    check_value(kv, NULL, "nons/a", "1");
    orbit_batch *b;
    assert_int_equal(orbit_batch_new(&b), 0);
    assert_int_equal(orbit_batch_put(b, S("nons/b"), S("2")), 0);
    assert_int_equal(orbit_batch_del(b, S("nons/a")), 0);
    assert_int_equal(orbit_kv_write(kv, b), 0);
    orbit_batch_free(b);
    orbit_txn *t;
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &t), 0);
    assert_int_equal(orbit_txn_put(t, S("nons/c"), S("3")), 0);
    assert_int_equal(orbit_txn_commit(t), 0);
    check_value(kv, NULL, "nons/a", NULL);
    check_value(kv, NULL, "nons/b", "2");
    check_value(kv, NULL, "nons/c", "3");
    const uint8_t marker_like[] = {0xff, 0xff, 0xff, 'x'};
    assert_int_equal(orbit_kv_put(kv, marker_like, sizeof marker_like, S("v")), ORBIT_EINVAL);
    /* An open-ended scan sees the user's keys (other tests' namespaced keys
     * sort after "nons/" too) and never a commit marker. */
    orbit_scan_opts so = {0};
    so.start = (const uint8_t *)"nons/";
    so.start_len = 5;
    orbit_iter *it;
    assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), 0);
    const uint8_t *k, *v;
    size_t kl, vl;
    int n = 0;
    while (orbit_iter_next(it, &k, &kl, &v, &vl) == 0) {
        assert_false(kl >= 3 && memcmp(k, "\xff\xff\xff", 3) == 0);
        n += kl >= 5 && memcmp(k, "nons/", 5) == 0;
    }
    orbit_iter_close(it);
    assert_int_equal(n, 2);
    assert_int_equal(orbit_kv_del(kv, S("nons/b")), 0);
    assert_int_equal(orbit_kv_del(kv, S("nons/c")), 0);
    orbit_kv_close(kv);
}

static void test_batch(void **state)
{
    orbit_kv *kv = open_ns(NULL);
    assert_int_equal(orbit_kv_put(kv, S("gone"), S("x")), 0);
    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    assert_int_equal(orbit_batch_put(b, S("k1"), S("first")), 0);
    assert_int_equal(orbit_batch_put(b, S("k2"), S("v2")), 0);
    assert_int_equal(orbit_batch_put(b, S("k1"), S("second")), 0); /* later wins */
    assert_int_equal(orbit_batch_del(b, S("gone")), 0);
    assert_int_equal(orbit_batch_put(b, S("k3"), S("v3")), 0);
    assert_int_equal(orbit_batch_del(b, S("k3")), 0);
    assert_int_equal(orbit_kv_write(kv, b), 0);
    check_value(kv, NULL, "k1", "second");
    check_value(kv, NULL, "k2", "v2");
    check_value(kv, NULL, "gone", NULL);
    check_value(kv, NULL, "k3", NULL);

    /* max_batch_ops = 127 by default: 127 goes through, 128 is ETOOBIG */
    orbit_batch_clear(b);
    char key[32];
    for (int i = 0; i < 127; i++) {
        snprintf(key, sizeof key, "bulk%03d", i);
        assert_int_equal(orbit_batch_put(b, S(key), S("v")), 0);
    }
    assert_int_equal(orbit_kv_write(kv, b), 0);
    assert_int_equal(orbit_batch_put(b, S("one-more"), S("v")), 0);
    assert_int_equal(orbit_kv_write(kv, b), ORBIT_ETOOBIG);
    check_value(kv, NULL, "one-more", NULL);
    orbit_batch_free(b);
    orbit_kv_close(kv);
}

static void test_too_big(void **state)
{
    orbit_kv *kv = open_ns("max_request_bytes=65536");
    size_t n = 70000;
    uint8_t *big = calloc(1, n);
    assert_non_null(big);
    int rc = orbit_kv_put(kv, S("big"), big, n);
    assert_int_equal(rc, ORBIT_ETOOBIG);
    assert_non_null(strstr(orbit_last_error_detail(), "max_request_bytes=65536"));
    orbit_kv *plain = open_ns("max_request_bytes=65536&writes=plain");
    assert_int_equal(orbit_kv_put(plain, S("big"), big, n), ORBIT_ETOOBIG);
    assert_non_null(strstr(orbit_last_error_detail(), "max_request_bytes=65536"));
    orbit_kv_close(plain);
    /* under the limit it is stored and read back whole */
    assert_int_equal(orbit_kv_put(kv, S("fits"), big, 60000), 0);
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_kv_get(kv, NULL, S("fits"), &b), 0);
    assert_int_equal(b.len, 60000);
    orbit_buf_release(&b);
    orbit_kv_close(kv);

    /* the server's own default limit (1.5 MiB) when the URI does not lower it */
    kv = open_ns(NULL);
    uint8_t *huge = calloc(1, 2u << 20);
    assert_non_null(huge);
    rc = orbit_kv_put(kv, S("huge"), huge, 2u << 20);
    assert_int_equal(rc, ORBIT_ETOOBIG);
    assert_non_null(strstr(orbit_last_error_detail(), "max_request_bytes"));
    orbit_capabilities caps;
    orbit_kv_capabilities(kv, &caps);
    assert_int_equal(orbit_kv_put(kv, S("max"), huge, caps.max_value_size), 0);
    free(huge);
    free(big);
    orbit_kv_close(kv);
}

/* ---- scans ------------------------------------------------------------- */

static void fill(orbit_kv *kv, int n)
{
    char k[16], v[16];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "k%02d", i);
        snprintf(v, sizeof v, "v%d", i);
        assert_int_equal(orbit_kv_put(kv, S(k), S(v)), 0);
    }
}

/* Scan and compare with the expected key indexes. */
static void expect_scan(orbit_kv *kv, const orbit_read_opts *ro, const orbit_scan_opts *so, const int *want,
                        int nwant)
{
    orbit_iter *it = NULL;
    assert_int_equal(orbit_kv_iter(kv, ro, so, &it), 0);
    const uint8_t *k, *v;
    size_t kl, vl;
    int got = 0, rc;
    while ((rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0) {
        char ek[16], ev[16];
        assert_true(got < nwant);
        snprintf(ek, sizeof ek, "k%02d", want[got]);
        snprintf(ev, sizeof ev, "v%d", want[got]);
        assert_int_equal(kl, strlen(ek));
        assert_memory_equal(k, ek, kl);
        assert_int_equal(vl, strlen(ev));
        assert_memory_equal(v, ev, vl);
        got++;
    }
    assert_int_equal(rc, ORBIT_NOTFOUND);
    assert_int_equal(got, nwant);
    orbit_iter_close(it);
}

static void test_scans(void **state)
{
    orbit_kv *kv = open_ns("page_size=3"); /* many pages for few keys */
    fill(kv, 10);
    int all[10], rev[10];
    for (int i = 0; i < 10; i++) {
        all[i] = i;
        rev[i] = 9 - i;
    }
    orbit_scan_opts so;
    memset(&so, 0, sizeof so);
    expect_scan(kv, NULL, &so, all, 10);
    so.reverse = 1;
    expect_scan(kv, NULL, &so, rev, 10);

    memset(&so, 0, sizeof so);
    so.start = (const uint8_t *)"k03";
    so.start_len = 3;
    so.end = (const uint8_t *)"k08";
    so.end_len = 3;
    int mid[] = {3, 4, 5, 6, 7};
    expect_scan(kv, NULL, &so, mid, 5);
    so.reverse = 1;
    int midr[] = {7, 6, 5, 4, 3};
    expect_scan(kv, NULL, &so, midr, 5);
    so.limit = 2;
    int midr2[] = {7, 6};
    expect_scan(kv, NULL, &so, midr2, 2);

    memset(&so, 0, sizeof so);
    so.prefix = (const uint8_t *)"k0";
    so.prefix_len = 2;
    so.reverse = 1;
    int pre[] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
    expect_scan(kv, NULL, &so, pre, 10);
    so.prefix = (const uint8_t *)"x";
    so.prefix_len = 1;
    expect_scan(kv, NULL, &so, NULL, 0);
    orbit_kv_close(kv);
}

static void test_snapshot(void **state)
{
    orbit_kv *kv = open_ns("page_size=2");
    fill(kv, 5);
    orbit_snapshot *snap = NULL;
    assert_int_equal(orbit_kv_snapshot(kv, &snap), 0);
    assert_int_equal(orbit_kv_put(kv, S("k00"), S("changed")), 0);
    assert_int_equal(orbit_kv_del(kv, S("k01")), 0);
    assert_int_equal(orbit_kv_put(kv, S("k05"), S("v5")), 0);
    orbit_read_opts ro = {snap};
    check_value(kv, &ro, "k00", "v0");
    check_value(kv, &ro, "k01", "v1");
    check_value(kv, &ro, "k05", NULL);
    check_value(kv, NULL, "k00", "changed");
    orbit_scan_opts so;
    memset(&so, 0, sizeof so);
    int at_snap[] = {0, 1, 2, 3, 4};
    expect_scan(kv, &ro, &so, at_snap, 5);
    orbit_snapshot_release(snap);
    orbit_kv_close(kv);
}

/* ---- transactions ------------------------------------------------------ */

static void txn_expect(orbit_txn *t, const char *k, const char *v)
{
    orbit_buf b = ORBIT_BUF_INIT;
    int rc = orbit_txn_get(t, S(k), &b);
    if (v) {
        assert_int_equal(rc, 0);
        assert_int_equal(b.len, strlen(v));
        assert_memory_equal(b.data, v, b.len);
    } else {
        assert_int_equal(rc, ORBIT_NOTFOUND);
    }
    orbit_buf_release(&b);
}

static void test_txn_basics(void **state)
{
    orbit_kv *kv = open_ns("page_size=2");
    fill(kv, 4);
    orbit_txn *t = NULL;
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &t), 0);
    txn_expect(t, "k00", "v0");
    assert_int_equal(orbit_txn_put(t, S("k00"), S("v0")), 0);
    assert_int_equal(orbit_txn_put(t, S("k10"), S("v10")), 0);
    assert_int_equal(orbit_txn_del(t, S("k02")), 0);
    txn_expect(t, "k10", "v10");
    txn_expect(t, "k02", NULL);
    check_value(kv, NULL, "k10", NULL); /* not visible outside before commit */

    /* the iterator merges own writes, both directions */
    orbit_scan_opts so;
    memset(&so, 0, sizeof so);
    orbit_iter *it = NULL;
    const char *fwd[] = {"k00", "k01", "k03", "k10"};
    for (int dir = 0; dir < 2; dir++) {
        so.reverse = dir;
        assert_int_equal(orbit_txn_iter(t, &so, &it), 0);
        const uint8_t *k, *v;
        size_t kl, vl;
        for (int i = 0; i < 4; i++) {
            const char *want = fwd[dir ? 3 - i : i];
            assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), 0);
            assert_int_equal(kl, strlen(want));
            assert_memory_equal(k, want, kl);
        }
        assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), ORBIT_NOTFOUND);
        orbit_iter_close(it);
    }
    assert_int_equal(orbit_txn_commit(t), 0);
    check_value(kv, NULL, "k10", "v10");
    check_value(kv, NULL, "k02", NULL);

    /* rollback leaves nothing */
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &t), 0);
    assert_int_equal(orbit_txn_put(t, S("k20"), S("x")), 0);
    orbit_txn_rollback(t);
    check_value(kv, NULL, "k20", NULL);

    orbit_txn_opts so_ser = {ORBIT_ISO_SERIALIZABLE};
    assert_int_equal(orbit_kv_txn_begin(kv, &so_ser, &t), ORBIT_ENOTSUP);
    orbit_kv_close(kv);
}

static void test_txn_conflicts(void **state)
{
    orbit_kv *kv = open_ns(NULL);
    assert_int_equal(orbit_kv_put(kv, S("ctr"), S("0")), 0);

    /* two transactions read-modify-write one key: the second commit loses */
    orbit_txn *a = NULL, *b = NULL;
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &a), 0);
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &b), 0);
    txn_expect(a, "ctr", "0");
    txn_expect(b, "ctr", "0");
    assert_int_equal(orbit_txn_put(a, S("ctr"), S("1")), 0);
    assert_int_equal(orbit_txn_put(b, S("ctr"), S("1")), 0);
    assert_int_equal(orbit_txn_commit(a), 0);
    assert_int_equal(orbit_txn_commit(b), ORBIT_ECONFLICT);
    assert_true(orbit_err_retryable(ORBIT_ECONFLICT));
    check_value(kv, NULL, "ctr", "1");

    /* snapshot isolation: a blind write conflicts with a change after begin */
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &a), 0);
    assert_int_equal(orbit_kv_put(kv, S("ctr"), S("2")), 0);
    assert_int_equal(orbit_txn_put(a, S("ctr"), S("x")), 0);
    assert_int_equal(orbit_txn_commit(a), ORBIT_ECONFLICT);

    /* ... and with a delete after begin (not only a modification) */
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &a), 0);
    assert_int_equal(orbit_kv_del(kv, S("ctr")), 0);
    assert_int_equal(orbit_txn_put(a, S("ctr"), S("y")), 0);
    assert_int_equal(orbit_txn_commit(a), ORBIT_ECONFLICT);
    check_value(kv, NULL, "ctr", NULL);

    /* snapshot reads stay at begin; read committed sees the latest */
    assert_int_equal(orbit_kv_put(kv, S("r"), S("old")), 0);
    orbit_txn_opts rc_opts = {ORBIT_ISO_READ_COMMITTED};
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &a), 0);
    assert_int_equal(orbit_kv_txn_begin(kv, &rc_opts, &b), 0);
    assert_int_equal(orbit_kv_put(kv, S("r"), S("new")), 0);
    txn_expect(a, "r", "old");
    txn_expect(b, "r", "new");
    /* a plain read of an unwritten key is not validated under SNAPSHOT */
    assert_int_equal(orbit_txn_put(a, S("other"), S("1")), 0);
    assert_int_equal(orbit_txn_commit(a), 0);

    /* read committed: get_for_update claims the key */
    orbit_buf buf = ORBIT_BUF_INIT;
    assert_int_equal(orbit_txn_get_for_update(b, S("r"), &buf), 0);
    assert_int_equal(orbit_kv_put(kv, S("r"), S("newer")), 0);
    assert_int_equal(orbit_txn_put(b, S("unrelated"), S("1")), 0);
    assert_int_equal(orbit_txn_commit(b), ORBIT_ECONFLICT);
    check_value(kv, NULL, "unrelated", NULL);
    orbit_buf_release(&buf);
    orbit_kv_close(kv);
}

/* ---- the asynchronous path --------------------------------------------- */

typedef struct async_wait {
    pthread_mutex_t m;
    pthread_cond_t cv;
    int calls;
    pthread_t thread;
} async_wait;

static void on_done(void *arg, orbit_kv_op *ops, size_t n)
{
    async_wait *w = arg;
    pthread_mutex_lock(&w->m);
    w->calls++;
    w->thread = pthread_self();
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->m);
}

static void wait_done(async_wait *w, int calls)
{
    pthread_mutex_lock(&w->m);
    while (w->calls < calls)
        pthread_cond_wait(&w->cv, &w->m);
    pthread_mutex_unlock(&w->m);
}

static void test_submit(void **state)
{
    orbit_kv *kv = open_ns(*state);
    enum { N = 64 };
    orbit_kv_op ops[N];
    char keys[N][16], vals[N][16];
    orbit_buf outs[N];
    memset(ops, 0, sizeof ops);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "a%02d", i);
        snprintf(vals[i], sizeof vals[i], "val%d", i);
        ops[i] = (orbit_kv_op){.type = ORBIT_OP_PUT, .key = (const uint8_t *)keys[i],
                               .klen = strlen(keys[i]), .val = (const uint8_t *)vals[i],
                               .vlen = strlen(vals[i]), .result = -99};
        orbit_buf_init(&outs[i]);
    }
    async_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    assert_int_equal(orbit_kv_submit(kv, ops, N, on_done, &w), 0);
    wait_done(&w, 1);
    assert_false(pthread_equal(w.thread, pthread_self()));
    for (int i = 0; i < N; i++)
        assert_int_equal(ops[i].result, 0);

    for (int i = 0; i < N; i++) {
        ops[i].type = i % 4 == 3 ? ORBIT_OP_DEL : ORBIT_OP_GET;
        ops[i].out = &outs[i];
        ops[i].result = -99;
    }
    assert_int_equal(orbit_kv_submit(kv, ops, N, on_done, &w), 0);
    wait_done(&w, 2);
    for (int i = 0; i < N; i++) {
        assert_int_equal(ops[i].result, 0);
        if (ops[i].type == ORBIT_OP_GET) {
            assert_int_equal(outs[i].len, strlen(vals[i]));
            assert_memory_equal(outs[i].data, vals[i], outs[i].len);
        } else {
            check_value(kv, NULL, keys[i], NULL);
        }
    }
    /* a missing key completes as NOTFOUND; zero ops still complete once */
    ops[0] = (orbit_kv_op){.type = ORBIT_OP_GET, .key = (const uint8_t *)"zz", .klen = 2,
                           .out = &outs[0], .result = -99};
    assert_int_equal(orbit_kv_submit(kv, ops, 1, on_done, &w), 0);
    wait_done(&w, 3);
    assert_int_equal(ops[0].result, ORBIT_NOTFOUND);
    assert_int_equal(orbit_kv_submit(kv, ops, 0, on_done, &w), 0);
    wait_done(&w, 4);
    for (int i = 0; i < N; i++)
        orbit_buf_release(&outs[i]);
    orbit_kv_close(kv);
}

/* ---- contract v2: reads, versions, transactions ------------------------- */

/* A second handle on the namespace the last open_ns opened, through the
 * provider table: the provider's own object, for its v2 entry points. */
typedef struct raw {
    const orbit_provider *p;
    void *self;
} raw;

static raw raw_open_last(void)
{
    raw r = {orbit_provider_find("etcd"), NULL};
    assert_non_null(r.p);
    orbit_uri *u = NULL;
    assert_int_equal(orbit_uri_parse(last_uri, &u), 0);
    int rc = r.p->open(u, &r.self);
    orbit_uri_free(u);
    assert_int_equal(rc, 0);
    return r;
}

static void raw_close(raw *r)
{
    r->p->close(r->self);
}

static uint64_t current_rev(raw *r)
{
    void *snap = NULL;
    assert_int_equal(r->p->snapshot_open(r->self, &snap), 0);
    uint64_t v = orbit__etcd_snapshot_version(r->self, snap);
    r->p->snapshot_release(r->self, snap);
    assert_true(v > 0);
    return v;
}

/* etcd's KV.Compact at rev, sent directly (field 1 revision, 2 physical). */
static void compact_to(uint64_t rev)
{
    orbit__rpc_config cfg = {cl.endpoints, NULL, 0, 0, 0};
    orbit__rpc *r = NULL;
    assert_int_equal(orbit__rpc_open(&cfg, &r), 0);
    uint8_t req[24];
    size_t n = 0;
    req[n++] = 0x08;
    for (uint64_t v = rev; ; v >>= 7) {
        if (v < 0x80) {
            req[n++] = (uint8_t)v;
            break;
        }
        req[n++] = (uint8_t)((v & 0x7f) | 0x80);
    }
    req[n++] = 0x10;
    req[n++] = 1;
    orbit__rpc_call_opts o = {10000, 0, 0, -1};
    orbit_buf resp = ORBIT_BUF_INIT;
    int rc = orbit__rpc_call(r, "/etcdserverpb.KV/Compact", req, n, &o, &resp);
    if (rc)
        fprintf(stderr, "compact %llu: %s (%s)\n", (unsigned long long)rev, orbit_err_name(rc),
                orbit_last_error_detail());
    assert_int_equal(rc, 0);
    orbit_buf_release(&resp);
    orbit__rpc_close(r);
}

static int collect_fn(void *arg, const uint8_t *v, size_t vl)
{
    return orbit_buf_set(arg, v, vl);
}

/* Scan the provider iterator `it` to its end into "k=v,k=v" (keys only:
 * "k,k"). */
static void drain(raw *r, void *it, char *out, size_t cap)
{
    const uint8_t *k, *v;
    size_t kl, vl;
    int rc;
    size_t len = 0;
    out[0] = 0;
    while ((rc = r->p->iter_next(it, &k, &kl, &v, &vl)) == 0) {
        int w = snprintf(out + len, cap - len, "%s%.*s%s%.*s", len ? "," : "", (int)kl, (const char *)k,
                         vl ? "=" : "", (int)vl, (const char *)v);
        assert_true(w > 0 && (size_t)w < cap - len);
        len += (size_t)w;
    }
    assert_int_equal(rc, ORBIT_NOTFOUND);
}

/* An iterator sees the store as of its opening: writes made after the open
 * and before the first next (and between pages) are not seen. */
static void test_iter_as_of_open(void **state)
{
    orbit_kv *kv = open_ns("page_size=2");
    assert_int_equal(orbit_kv_put(kv, S("a"), S("1")), 0);
    assert_int_equal(orbit_kv_put(kv, S("b"), S("2")), 0);
    assert_int_equal(orbit_kv_put(kv, S("c"), S("3")), 0);
    assert_int_equal(orbit_kv_put(kv, S("d"), S("4")), 0);
    assert_int_equal(orbit_kv_put(kv, S("e"), S("5")), 0);
    for (int dir = 0; dir < 2; dir++) {
        orbit_scan_opts so = {0};
        so.reverse = dir;
        orbit_iter *it = NULL;
        assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), 0);
        /* before the first next: a change on the first page and on a later one */
        assert_int_equal(orbit_kv_put(kv, S(dir ? "e" : "a"), S("changed")), 0);
        assert_int_equal(orbit_kv_put(kv, S("bb"), S("new")), 0);
        assert_int_equal(orbit_kv_del(kv, S(dir ? "a" : "e")), 0);
        const uint8_t *k, *v;
        size_t kl, vl;
        char got[128];
        size_t len = 0;
        int n = 0, rc;
        while ((rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0) {
            if (n++ == 0) /* between pages too */
                assert_int_equal(orbit_kv_put(kv, S("cc"), S("new")), 0);
            len += (size_t)snprintf(got + len, sizeof got - len, "%.*s=%.*s,", (int)kl, (const char *)k, (int)vl,
                                    (const char *)v);
        }
        assert_int_equal(rc, ORBIT_NOTFOUND);
        orbit_iter_close(it);
        assert_string_equal(got, dir ? "e=5,d=4,c=3,b=2,a=1," : "a=1,b=2,c=3,d=4,e=5,");
        /* restore */
        assert_int_equal(orbit_kv_put(kv, S("a"), S("1")), 0);
        assert_int_equal(orbit_kv_put(kv, S("e"), S("5")), 0);
        assert_int_equal(orbit_kv_del(kv, S("bb")), 0);
        assert_int_equal(orbit_kv_del(kv, S("cc")), 0);
    }
    /* a transaction's iterator under READ_COMMITTED likewise */
    orbit_txn_opts rc_opts = {ORBIT_ISO_READ_COMMITTED};
    orbit_txn *t = NULL;
    assert_int_equal(orbit_kv_txn_begin(kv, &rc_opts, &t), 0);
    assert_int_equal(orbit_txn_put(t, S("c"), S("mine")), 0);
    orbit_scan_opts so = {0};
    orbit_iter *it = NULL;
    assert_int_equal(orbit_txn_iter(t, &so, &it), 0);
    assert_int_equal(orbit_kv_put(kv, S("d"), S("later")), 0);
    const uint8_t *k, *v;
    size_t kl, vl;
    char got[128];
    size_t len = 0;
    int rc;
    while ((rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0)
        len += (size_t)snprintf(got + len, sizeof got - len, "%.*s=%.*s,", (int)kl, (const char *)k, (int)vl,
                                (const char *)v);
    assert_int_equal(rc, ORBIT_NOTFOUND);
    orbit_iter_close(it);
    assert_string_equal(got, "a=1,b=2,c=mine,d=4,e=5,");
    orbit_txn_rollback(t);
    orbit_kv_close(kv);
}

/* READ_COMMITTED: a written key conflicts only with changes made after the
 * transaction first used it (its first read, or the write itself). */
static void test_rc_first_use(void **state)
{
    orbit_kv *kv = open_ns(NULL);
    orbit_txn_opts rc_opts = {ORBIT_ISO_READ_COMMITTED};
    orbit_txn *t = NULL;
    orbit_buf b = ORBIT_BUF_INIT;

    /* a change before the first use (a blind write) does not conflict */
    assert_int_equal(orbit_kv_put(kv, S("k"), S("0")), 0);
    assert_int_equal(orbit_kv_txn_begin(kv, &rc_opts, &t), 0);
    assert_int_equal(orbit_kv_put(kv, S("k"), S("other")), 0);
    assert_int_equal(orbit_kv_del(kv, S("gone")), 0);
    assert_int_equal(orbit_txn_put(t, S("k"), S("mine")), 0);
    assert_int_equal(orbit_txn_commit(t), 0);
    check_value(kv, NULL, "k", "mine");

    /* a change after it does */
    assert_int_equal(orbit_kv_txn_begin(kv, &rc_opts, &t), 0);
    assert_int_equal(orbit_txn_put(t, S("k"), S("again")), 0);
    assert_int_equal(orbit_kv_put(kv, S("k"), S("other")), 0);
    assert_int_equal(orbit_txn_commit(t), ORBIT_ECONFLICT);
    check_value(kv, NULL, "k", "other");

    /* ... also for a key absent at the first use and created after it */
    assert_int_equal(orbit_kv_txn_begin(kv, &rc_opts, &t), 0);
    assert_int_equal(orbit_txn_del(t, S("new")), 0);
    assert_int_equal(orbit_kv_put(kv, S("new"), S("x")), 0);
    assert_int_equal(orbit_txn_commit(t), ORBIT_ECONFLICT);
    check_value(kv, NULL, "new", "x");

    /* a plain read claims nothing (kv.h): a change before it is fine ... */
    assert_int_equal(orbit_kv_txn_begin(kv, &rc_opts, &t), 0);
    assert_int_equal(orbit_kv_put(kv, S("r"), S("1")), 0);
    txn_expect(t, "r", "1");
    assert_int_equal(orbit_txn_put(t, S("r"), S("2")), 0);
    assert_int_equal(orbit_txn_commit(t), 0);
    check_value(kv, NULL, "r", "2");
    /* ... and so is one between the read and the write, the first use */
    assert_int_equal(orbit_kv_txn_begin(kv, &rc_opts, &t), 0);
    txn_expect(t, "r", "2");
    assert_int_equal(orbit_kv_put(kv, S("r"), S("3")), 0);
    assert_int_equal(orbit_txn_put(t, S("r"), S("4")), 0);
    assert_int_equal(orbit_txn_commit(t), 0);
    check_value(kv, NULL, "r", "4");
    /* a read for update is a use: a change after it conflicts */
    assert_int_equal(orbit_kv_txn_begin(kv, &rc_opts, &t), 0);
    orbit_buf rb = ORBIT_BUF_INIT;
    assert_int_equal(orbit_txn_get_for_update(t, S("r"), &rb), 0);
    orbit_buf_release(&rb);
    assert_int_equal(orbit_kv_put(kv, S("r"), S("5")), 0);
    assert_int_equal(orbit_txn_put(t, S("r"), S("6")), 0);
    assert_int_equal(orbit_txn_commit(t), ORBIT_ECONFLICT);
    check_value(kv, NULL, "r", "5");

    /* SNAPSHOT is unchanged: a blind write conflicts with any change since begin */
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &t), 0);
    assert_int_equal(orbit_kv_put(kv, S("k"), S("o2")), 0);
    assert_int_equal(orbit_txn_put(t, S("k"), S("mine")), 0);
    assert_int_equal(orbit_txn_commit(t), ORBIT_ECONFLICT);
    orbit_buf_release(&b);
    orbit_kv_close(kv);
}

/* With no namespace a scan starting in FF FF FF... is empty, not EINVAL. */
static void test_scan_reserved_start(void **state)
{
    char uri[sizeof cl.endpoints + 16];
    snprintf(uri, sizeof uri, "etcd://%s", cl.endpoints);
    orbit_kv *kv = NULL;
    assert_int_equal(orbit_kv_open(uri, &kv), 0);
    assert_int_equal(orbit_kv_put(kv, S("resv/a"), S("1")), 0);
    /* a guarded write leaves this client's commit marker in FF FF FF... */
    const uint8_t starts[][4] = {{0xff, 0xff, 0xff, 0}, {0xff, 0xff, 0xff, 'x'}, {0xff, 0xff, 0xfe, 0xff}};
    const size_t lens[] = {3, 4, 4};
    for (int i = 0; i < 3; i++) {
        for (int dir = 0; dir < 2; dir++) {
            orbit_scan_opts so = {0};
            so.start = starts[i];
            so.start_len = lens[i];
            so.reverse = dir;
            orbit_iter *it = NULL;
            assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), 0);
            const uint8_t *k, *v;
            size_t kl, vl;
            assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), ORBIT_NOTFOUND);
            orbit_iter_close(it);
        }
    }
    /* a prefix inside the reserved range too */
    orbit_scan_opts so = {0};
    so.prefix = starts[0];
    so.prefix_len = 3;
    orbit_iter *it = NULL;
    assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), 0);
    const uint8_t *k, *v;
    size_t kl, vl;
    assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), ORBIT_NOTFOUND);
    orbit_iter_close(it);
    assert_int_equal(orbit_kv_del(kv, S("resv/a")), 0);
    orbit_kv_close(kv);
}

/* The limit and keys_only reach etcd: a limit-1 scan fetches one key. */
static void test_scan_pushdown(void **state)
{
    orbit_kv *kv = open_ns(NULL); /* the default page of 512 keys */
    fill(kv, 20);
    raw r = raw_open_last();
    for (int dir = 0; dir < 2; dir++) {
        orbit_range rg = {0};
        rg.reverse = dir;
        rg.limit = 1;
        uint64_t before = orbit__etcd_debug_keys_fetched();
        void *it = NULL;
        assert_int_equal(r.p->iter_open(r.self, NULL, &rg, &it), 0);
        const uint8_t *k, *v;
        size_t kl, vl;
        assert_int_equal(r.p->iter_next(it, &k, &kl, &v, &vl), 0);
        assert_memory_equal(k, dir ? "k19" : "k00", 3);
        r.p->iter_close(it);
        assert_int_equal(orbit__etcd_debug_keys_fetched() - before, 1);

        /* limit 5: one page of 5; reading past it still works (a hint) */
        rg.limit = 5;
        before = orbit__etcd_debug_keys_fetched();
        assert_int_equal(r.p->iter_open(r.self, NULL, &rg, &it), 0);
        for (int i = 0; i < 5; i++)
            assert_int_equal(r.p->iter_next(it, &k, &kl, &v, &vl), 0);
        assert_int_equal(orbit__etcd_debug_keys_fetched() - before, 5);
        int n = 5;
        while (r.p->iter_next(it, &k, &kl, &v, &vl) == 0)
            n++;
        assert_int_equal(n, 20);
        r.p->iter_close(it);
    }
    /* a byte limit: a first page of 8 (no entry size known yet), then
     * pages of about what is still wanted: k00=v0 .. k09=v9 are 5 bytes,
     * k10=v10 .. 6; 60 bytes are reached at k11, after 8 + 5 fetched */
    orbit_range rg = {0};
    rg.max_bytes = 60;
    uint64_t before = orbit__etcd_debug_keys_fetched();
    void *it = NULL;
    assert_int_equal(r.p->iter_open(r.self, NULL, &rg, &it), 0);
    assert_int_equal(orbit__etcd_debug_keys_fetched() - before, 8);
    const uint8_t *k, *v;
    size_t kl, vl;
    size_t bytes = 0;
    while (bytes < 60) {
        assert_int_equal(r.p->iter_next(it, &k, &kl, &v, &vl), 0);
        bytes += kl + vl;
    }
    assert_memory_equal(k, "k11", 3);
    r.p->iter_close(it);
    assert_int_equal(orbit__etcd_debug_keys_fetched() - before, 13);
    /* keys only: no values come back */
    memset(&rg, 0, sizeof rg);
    rg.keys_only = 1;
    rg.limit = 3;
    assert_int_equal(r.p->iter_open(r.self, NULL, &rg, &it), 0);
    char got[256];
    drain(&r, it, got, sizeof got);
    r.p->iter_close(it);
    assert_true(strncmp(got, "k00,k01,k02,k03", 15) == 0);
    assert_null(strchr(got, '='));
    raw_close(&r);
    orbit_kv_close(kv);
}

static void test_multi_get(void **state)
{
    orbit_kv *kv = open_ns("max_txn_ops=4"); /* several Txns for few keys */
    raw r = raw_open_last();
    fill(kv, 12);
    enum { N = 14 };
    orbit_slice keys[N];
    char names[N][8];
    orbit_buf vals[N];
    int st[N];
    for (int i = 0; i < N; i++) {
        /* k00..k11, then a missing key and a duplicate of k03 */
        if (i < 12)
            snprintf(names[i], sizeof names[i], "k%02d", i);
        else
            snprintf(names[i], sizeof names[i], "%s", i == 12 ? "nope" : "k03");
        keys[i] = (orbit_slice){(const uint8_t *)names[i], strlen(names[i])};
        orbit_buf_init(&vals[i]);
        st[i] = -99;
    }
    assert_int_equal(orbit__etcd_multi_get(r.self, NULL, N, keys, vals, st), 0);
    for (int i = 0; i < 12; i++) {
        char want[8];
        snprintf(want, sizeof want, "v%d", i);
        assert_int_equal(st[i], 0);
        assert_int_equal(vals[i].len, strlen(want));
        assert_memory_equal(vals[i].data, want, vals[i].len);
    }
    assert_int_equal(st[12], ORBIT_NOTFOUND);
    assert_int_equal(vals[12].len, 0);
    assert_int_equal(st[13], 0);
    assert_int_equal(vals[13].len, 2);
    assert_memory_equal(vals[13].data, "v3", 2);

    /* at a snapshot: the old values, across the Txns */
    void *snap = NULL;
    assert_int_equal(r.p->snapshot_open(r.self, &snap), 0);
    assert_int_equal(orbit_kv_put(kv, S("k00"), S("new")), 0);
    assert_int_equal(orbit_kv_del(kv, S("k11")), 0);
    assert_int_equal(orbit_kv_put(kv, S("nope"), S("now")), 0);
    assert_int_equal(orbit__etcd_multi_get(r.self, snap, N, keys, vals, st), 0);
    assert_memory_equal(vals[0].data, "v0", 2);
    assert_int_equal(st[11], 0);
    assert_int_equal(st[12], ORBIT_NOTFOUND);
    r.p->snapshot_release(r.self, snap);
    /* latest */
    assert_int_equal(orbit__etcd_multi_get(r.self, NULL, N, keys, vals, st), 0);
    assert_memory_equal(vals[0].data, "new", 3);
    assert_int_equal(st[11], ORBIT_NOTFOUND);
    assert_int_equal(st[12], 0);

    /* in a transaction: its own writes first, the rest read at its view */
    void *t = NULL;
    assert_int_equal(r.p->txn_begin(r.self, NULL, &t), 0);
    assert_int_equal(r.p->txn_put(t, S("k01"), S("mine")), 0);
    assert_int_equal(r.p->txn_del(t, S("k02")), 0);
    assert_int_equal(orbit_kv_put(kv, S("k04"), S("after-begin")), 0);
    assert_int_equal(orbit__etcd_txn_multi_get(t, N, keys, vals, st), 0);
    assert_memory_equal(vals[1].data, "mine", 4);
    assert_int_equal(st[2], ORBIT_NOTFOUND);
    assert_int_equal(vals[2].len, 0);
    assert_int_equal(vals[4].len, 2);
    assert_memory_equal(vals[4].data, "v4", 2); /* SNAPSHOT: as of begin */
    assert_int_equal(st[13], 0);
    r.p->txn_rollback(t);

    /* READ_COMMITTED: a multi-get is a plain read and claims nothing; the
     * write after it is the first use */
    orbit_txn_opts rc_opts = {ORBIT_ISO_READ_COMMITTED};
    assert_int_equal(r.p->txn_begin(r.self, &rc_opts, &t), 0);
    assert_int_equal(orbit_kv_put(kv, S("k05"), S("before")), 0);
    assert_int_equal(orbit__etcd_txn_multi_get(t, 6, keys, vals, st), 0);
    assert_memory_equal(vals[5].data, "before", 6);
    assert_int_equal(r.p->txn_put(t, S("k05"), S("x")), 0);
    assert_int_equal(r.p->txn_commit(t), 0);
    assert_int_equal(r.p->txn_begin(r.self, &rc_opts, &t), 0);
    assert_int_equal(orbit__etcd_txn_multi_get(t, 7, keys, vals, st), 0);
    assert_int_equal(orbit_kv_put(kv, S("k06"), S("between")), 0);
    assert_int_equal(r.p->txn_put(t, S("k06"), S("x")), 0);
    assert_int_equal(r.p->txn_commit(t), 0);
    check_value(kv, NULL, "k06", "x");

    /* a reserved key is refused alone (no namespace: not here); n == 0 */
    assert_int_equal(orbit__etcd_multi_get(r.self, NULL, 0, keys, vals, st), 0);
    for (int i = 0; i < N; i++)
        orbit_buf_release(&vals[i]);
    raw_close(&r);
    orbit_kv_close(kv);
}

static void test_seek(void **state)
{
    orbit_kv *kv = open_ns("page_size=2");
    raw r = raw_open_last();
    fill(kv, 10);
    orbit_range rg = {0};
    rg.lo = (const uint8_t *)"k02";
    rg.lo_len = 3;
    rg.hi = (const uint8_t *)"k08";
    rg.hi_len = 3;
    void *it = NULL;
    const uint8_t *k, *v;
    size_t kl, vl;
    char got[256];
    assert_int_equal(r.p->iter_open(r.self, NULL, &rg, &it), 0);
    assert_int_equal(r.p->iter_next(it, &k, &kl, &v, &vl), 0);
    assert_memory_equal(k, "k02", 3);
    assert_int_equal(orbit_kv_put(kv, S("k05"), S("later")), 0); /* not seen: same revision */
    assert_int_equal(orbit__etcd_iter_seek(it, S("k05")), 0);
    drain(&r, it, got, sizeof got);
    assert_string_equal(got, "k05=v5,k06=v6,k07=v7");
    assert_int_equal(orbit__etcd_iter_seek(it, S("k03x")), 0); /* between keys, backwards */
    drain(&r, it, got, sizeof got);
    assert_string_equal(got, "k04=v4,k05=v5,k06=v6,k07=v7");
    assert_int_equal(orbit__etcd_iter_seek(it, S("a")), 0); /* before the range: clamped */
    assert_int_equal(r.p->iter_next(it, &k, &kl, &v, &vl), 0);
    assert_memory_equal(k, "k02", 3);
    assert_int_equal(orbit__etcd_iter_seek(it, S("k08")), 0); /* at/after the end */
    assert_int_equal(r.p->iter_next(it, &k, &kl, &v, &vl), ORBIT_NOTFOUND);
    r.p->iter_close(it);

    rg.reverse = 1;
    assert_int_equal(r.p->iter_open(r.self, NULL, &rg, &it), 0);
    assert_int_equal(orbit__etcd_iter_seek(it, S("k05")), 0); /* the last key <= k05 */
    drain(&r, it, got, sizeof got);
    assert_string_equal(got, "k05=later,k04=v4,k03=v3,k02=v2"); /* opened after that put */
    assert_int_equal(orbit__etcd_iter_seek(it, S("k06a")), 0);
    assert_int_equal(r.p->iter_next(it, &k, &kl, &v, &vl), 0);
    assert_memory_equal(k, "k06", 3);
    assert_int_equal(orbit__etcd_iter_seek(it, S("z")), 0); /* after the range: its last key */
    assert_int_equal(r.p->iter_next(it, &k, &kl, &v, &vl), 0);
    assert_memory_equal(k, "k07", 3);
    assert_int_equal(orbit__etcd_iter_seek(it, S("k01")), 0); /* before it: nothing */
    assert_int_equal(r.p->iter_next(it, &k, &kl, &v, &vl), ORBIT_NOTFOUND);
    r.p->iter_close(it);

    /* a transaction's iterator seeks its own writes too */
    void *t = NULL;
    assert_int_equal(r.p->txn_begin(r.self, NULL, &t), 0);
    assert_int_equal(r.p->txn_put(t, S("k03a"), S("mine")), 0);
    assert_int_equal(r.p->txn_del(t, S("k04")), 0);
    assert_int_equal(r.p->txn_put(t, S("k06"), S("six")), 0);
    rg.reverse = 0;
    assert_int_equal(r.p->txn_iter_open(t, &rg, &it), 0);
    assert_int_equal(orbit__etcd_iter_seek(it, S("k03")), 0);
    drain(&r, it, got, sizeof got);
    assert_string_equal(got, "k03=v3,k03a=mine,k05=later,k06=six,k07=v7");
    assert_int_equal(orbit__etcd_iter_seek(it, S("k04")), 0);
    drain(&r, it, got, sizeof got);
    assert_string_equal(got, "k05=later,k06=six,k07=v7");
    r.p->iter_close(it);
    rg.reverse = 1;
    assert_int_equal(r.p->txn_iter_open(t, &rg, &it), 0);
    assert_int_equal(orbit__etcd_iter_seek(it, S("k04")), 0);
    drain(&r, it, got, sizeof got);
    assert_string_equal(got, "k03a=mine,k03=v3,k02=v2");
    r.p->iter_close(it);
    r.p->txn_rollback(t);
    raw_close(&r);
    orbit_kv_close(kv);
}

/* Is revision rev still readable (not compacted)? Asked through a handle
 * that holds no pins of its own but the probe's. */
static int readable(orbit_kv *kv, uint64_t rev)
{
    orbit_snapshot *s = NULL;
    int rc = orbit_kv_snapshot_at(kv, rev, &s);
    if (rc == 0)
        orbit_snapshot_release(s);
    assert_true(rc == 0 || rc == ORBIT_ECOMPACTED);
    return rc == 0;
}

/* Write until revision rev is compacted away (bounded): the compactor of
 * `kv` is running and has reached past rev - 1. 0 when it did not. */
static int wait_compacted(orbit_kv *kv, orbit_kv *probe, uint64_t rev)
{
    for (int i = 0; i < 300; i++) {
        if (!readable(probe, rev))
            return 1;
        assert_int_equal(orbit_kv_put(kv, S("tick"), S("t")), 0);
        usleep(50 * 1000);
    }
    return 0;
}

/* Orbit's compactor (retention_ms) never compacts past an open snapshot,
 * an open iterator's revision or a live SNAPSHOT transaction's read
 * revision, and moves on once they are released. */
static void test_retention_pins(void **state)
{
    orbit_kv *kv = open_ns("retention_ms=100&page_size=1");
    /* The other handles never compact (pins are per open store). */
    char *opt = strstr(last_uri, "retention_ms=100");
    assert_non_null(opt);
    memmove(opt + strlen("retention_ms=0"), opt + strlen("retention_ms=100"),
            strlen(opt + strlen("retention_ms=100")) + 1);
    memcpy(opt, "retention_ms=0", strlen("retention_ms=0"));
    orbit_kv *probe = NULL;
    assert_int_equal(orbit_kv_open(last_uri, &probe), 0);
    raw r = raw_open_last(); /* for revisions only */
    assert_int_equal(orbit_kv_put(kv, S("a"), S("1")), 0);
    assert_int_equal(orbit_kv_put(kv, S("b"), S("1")), 0);
    orbit_snapshot *s = NULL;
    assert_int_equal(orbit_kv_snapshot(kv, &s), 0);
    uint64_t vs = orbit_snapshot_version(s);
    assert_int_equal(orbit_kv_put(kv, S("a"), S("2")), 0);
    orbit_txn *t = NULL;
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &t), 0);
    uint64_t vt = current_rev(&r);
    assert_int_equal(orbit_kv_put(kv, S("a"), S("3")), 0);
    orbit_scan_opts so = {0};
    orbit_iter *it = NULL;
    assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), 0); /* first page: one key */
    uint64_t vi = current_rev(&r);
    assert_int_equal(orbit_kv_put(kv, S("b"), S("4")), 0);

    /* the compactor reaches the snapshot and stops there */
    assert_true(wait_compacted(kv, probe, vs - 1));
    for (int i = 0; i < 10; i++) {
        assert_int_equal(orbit_kv_put(kv, S("tick"), S("t")), 0);
        usleep(50 * 1000);
    }
    assert_true(readable(probe, vs));
    orbit_read_opts ro = {s};
    check_value(kv, &ro, "a", "1");
    orbit_snapshot_release(s);
    /* then the transaction's read revision holds it */
    assert_true(wait_compacted(kv, probe, vs));
    assert_true(readable(probe, vt));
    txn_expect(t, "a", "2");
    assert_int_equal(orbit_txn_put(t, S("c"), S("t")), 0);
    assert_int_equal(orbit_txn_commit(t), 0);
    /* then the iterator's: its later pages still read */
    assert_true(wait_compacted(kv, probe, vt));
    assert_true(readable(probe, vi));
    const uint8_t *k, *v;
    size_t kl, vl;
    char got[64];
    size_t len = 0;
    int rc;
    while ((rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0)
        len += (size_t)snprintf(got + len, sizeof got - len, "%.*s=%.*s,", (int)kl, (const char *)k, (int)vl,
                                (const char *)v);
    assert_int_equal(rc, ORBIT_NOTFOUND);
    assert_string_equal(got, "a=3,b=1,"); /* as of its opening */
    orbit_iter_close(it);
    assert_true(wait_compacted(kv, probe, vi));
    raw_close(&r);
    orbit_kv_close(probe);
    orbit_kv_close(kv);
}

/* Snapshots at a revision, versions, and compaction: ECOMPACTED for every
 * read at a compacted revision. */
static void test_versions_and_compaction(void **state)
{
    orbit_kv *kv = open_ns("page_size=2");
    raw r = raw_open_last();
    assert_int_equal(orbit_kv_put(kv, S("a"), S("old")), 0);
    assert_int_equal(orbit_kv_put(kv, S("b"), S("old")), 0);
    assert_int_equal(orbit_kv_put(kv, S("e"), S("old")), 0);
    uint64_t v1 = current_rev(&r);
    assert_int_equal(orbit_kv_put(kv, S("a"), S("new")), 0);
    assert_int_equal(orbit_kv_del(kv, S("b")), 0);
    uint64_t v2 = current_rev(&r);
    assert_true(v2 > v1);

    /* an old revision sees old data */
    void *snap = NULL;
    assert_int_equal(orbit__etcd_snapshot_open_at(r.self, v1, &snap), 0);
    assert_int_equal(orbit__etcd_snapshot_version(r.self, snap), v1);
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(r.p->get(r.self, snap, S("a"), collect_fn, &b), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "old", 3);
    orbit_range rg = {0};
    void *it = NULL;
    char got[128];
    assert_int_equal(r.p->iter_open(r.self, snap, &rg, &it), 0);
    drain(&r, it, got, sizeof got);
    r.p->iter_close(it);
    assert_string_equal(got, "a=old,b=old,e=old");
    r.p->snapshot_release(r.self, snap);
    /* the current revision works; a future one is EINVAL; 0 too */
    assert_int_equal(orbit__etcd_snapshot_open_at(r.self, v2, &snap), 0);
    r.p->snapshot_release(r.self, snap);
    assert_int_equal(orbit__etcd_snapshot_open_at(r.self, v2 + 1000000, &snap), ORBIT_EINVAL);
    assert_int_equal(orbit__etcd_snapshot_open_at(r.self, 0, &snap), ORBIT_EINVAL);

    /* commit versions: a snapshot at it sees the commit, one before does not */
    void *t = NULL;
    assert_int_equal(r.p->txn_begin(r.self, NULL, &t), 0);
    assert_int_equal(r.p->txn_put(t, S("c"), S("committed")), 0);
    uint64_t cv = 0;
    assert_int_equal(orbit__etcd_txn_commit_version(t, &cv), 0);
    assert_true(cv > v2);
    assert_int_equal(orbit__etcd_snapshot_open_at(r.self, cv, &snap), 0);
    assert_int_equal(r.p->get(r.self, snap, S("c"), collect_fn, &b), 0);
    r.p->snapshot_release(r.self, snap);
    assert_int_equal(orbit__etcd_snapshot_open_at(r.self, cv - 1, &snap), 0);
    assert_int_equal(r.p->get(r.self, snap, S("c"), collect_fn, &b), ORBIT_NOTFOUND);
    r.p->snapshot_release(r.self, snap);
    /* a transaction that wrote nothing reports 0 */
    assert_int_equal(r.p->txn_begin(r.self, NULL, &t), 0);
    assert_int_equal(r.p->txn_get(t, S("a"), 0, collect_fn, &b), 0);
    cv = 99;
    assert_int_equal(orbit__etcd_txn_commit_version(t, &cv), 0);
    assert_int_equal(cv, 0);
    /* a failed commit reports 0 */
    assert_int_equal(r.p->txn_begin(r.self, NULL, &t), 0);
    assert_int_equal(orbit_kv_put(kv, S("c"), S("other")), 0);
    assert_int_equal(r.p->txn_put(t, S("c"), S("x")), 0);
    cv = 99;
    assert_int_equal(orbit__etcd_txn_commit_version(t, &cv), ORBIT_ECONFLICT);
    assert_int_equal(cv, 0);

    /* compaction: everything holding v1 now reads a compacted revision */
    void *old_snap = NULL, *old_txn = NULL, *old_it = NULL;
    assert_int_equal(orbit__etcd_snapshot_open_at(r.self, v1, &old_snap), 0);
    assert_int_equal(r.p->txn_begin(r.self, NULL, &old_txn), 0);
    assert_int_equal(r.p->iter_open(r.self, old_snap, &rg, &old_it), 0); /* a first page of 2 of 3 */
    assert_int_equal(orbit_kv_put(kv, S("d"), S("1")), 0);
    uint64_t v3 = current_rev(&r);
    compact_to(v3);
    assert_int_equal(r.p->get(r.self, old_snap, S("a"), collect_fn, &b), ORBIT_ECOMPACTED);
    assert_true(orbit_err_retryable(ORBIT_ECOMPACTED));
    assert_int_equal(r.p->iter_open(r.self, old_snap, &rg, &it), ORBIT_ECOMPACTED);
    orbit_slice ks[2] = {{(const uint8_t *)"a", 1}, {(const uint8_t *)"b", 1}};
    orbit_buf vs[2] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    int st[2];
    assert_int_equal(orbit__etcd_multi_get(r.self, old_snap, 2, ks, vs, st), ORBIT_ECOMPACTED);
    assert_int_equal(st[0], ORBIT_ECOMPACTED);
    assert_int_equal(st[1], ORBIT_ECOMPACTED);
    assert_int_equal(r.p->txn_get(old_txn, S("a"), 0, collect_fn, &b), ORBIT_ECOMPACTED);
    assert_int_equal(orbit__etcd_txn_multi_get(old_txn, 2, ks, vs, st), ORBIT_ECOMPACTED);
    /* the open iterator's next page */
    const uint8_t *k, *v;
    size_t kl, vl;
    int rc;
    int n = 0;
    while ((rc = r.p->iter_next(old_it, &k, &kl, &v, &vl)) == 0)
        n++;
    assert_int_equal(n, 2);
    assert_int_equal(rc, ORBIT_ECOMPACTED);
    r.p->iter_close(old_it);
    r.p->txn_rollback(old_txn);
    r.p->snapshot_release(r.self, old_snap);
    assert_int_equal(orbit__etcd_snapshot_open_at(r.self, v1, &snap), ORBIT_ECOMPACTED);
    assert_non_null(strstr(orbit_last_error_detail(), "compacted"));
    /* the compaction revision itself is still readable */
    assert_int_equal(orbit__etcd_snapshot_open_at(r.self, v3, &snap), 0);
    assert_int_equal(r.p->get(r.self, snap, S("d"), collect_fn, &b), 0);
    r.p->snapshot_release(r.self, snap);
    /* and through the public calls */
    orbit_snapshot *ps = NULL;
    assert_int_equal(orbit_kv_snapshot(kv, &ps), 0);
    orbit_read_opts ro = {ps};
    check_value(kv, &ro, "d", "1");
    orbit_snapshot_release(ps);
    orbit_buf_release(&vs[0]);
    orbit_buf_release(&vs[1]);
    orbit_buf_release(&b);
    raw_close(&r);
    orbit_kv_close(kv);
}

/* Transaction limits: the write (or claim) that crosses one fails with
 * ETOOBIG naming it; the transaction stays usable and commits. */
static void test_txn_limits(void **state)
{
    orbit_kv *kv = open_ns("max_txn_ops=5&max_request_bytes=65536");
    orbit_capabilities caps;
    orbit_kv_capabilities(kv, &caps);
    assert_int_equal(caps.max_txn_keys, 3);             /* max_txn_ops - 2 */
    assert_int_equal(caps.max_txn_bytes, 65536 - 576);  /* max_request_bytes - 576 */
    orbit_txn *t = NULL;
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_kv_put(kv, S("claimed"), S("c")), 0);
    for (int iso = 0; iso < 2; iso++) {
        orbit_txn_opts o = {iso ? ORBIT_ISO_READ_COMMITTED : ORBIT_ISO_SNAPSHOT};
        assert_int_equal(orbit_kv_txn_begin(kv, &o, &t), 0);
        assert_int_equal(orbit_txn_put(t, S("w1"), S("1")), 0);
        assert_int_equal(orbit_txn_get_for_update(t, S("claimed"), &b), 0);
        assert_int_equal(orbit_txn_put(t, S("w2"), S("2")), 0);
        /* 3 = max_txn_ops - 2 keys written or claimed: the 4th crosses */
        assert_int_equal(orbit_txn_put(t, S("w3"), S("3")), ORBIT_ETOOBIG);
        assert_non_null(strstr(orbit_last_error_detail(), "max_txn_ops=5"));
        assert_int_equal(orbit_txn_del(t, S("w3")), ORBIT_ETOOBIG);
        assert_int_equal(orbit_txn_get_for_update(t, S("w3"), &b), ORBIT_ETOOBIG);
        /* rewriting a key already counted, writing the claimed key, and
         * plain reads are fine */
        assert_int_equal(orbit_txn_put(t, S("w1"), S("1b")), 0);
        assert_int_equal(orbit_txn_put(t, S("claimed"), S("c2")), 0);
        assert_int_equal(orbit_txn_get(t, S("other"), &b), ORBIT_NOTFOUND);
        assert_int_equal(orbit_txn_commit(t), 0);
        check_value(kv, NULL, "w1", "1b");
        check_value(kv, NULL, "claimed", "c2");
        check_value(kv, NULL, "w3", NULL);
    }
    /* bytes: max_request_bytes=65536; the second 40000-byte value crosses */
    uint8_t *big = calloc(1, 45000);
    assert_non_null(big);
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &t), 0);
    assert_int_equal(orbit_txn_put(t, S("big1"), big, 40000), 0);
    assert_int_equal(orbit_txn_put(t, S("big2"), big, 40000), ORBIT_ETOOBIG);
    assert_non_null(strstr(orbit_last_error_detail(), "max_txn_bytes"));
    assert_int_equal(orbit_txn_put(t, S("mid"), big, 20000), 0);
    assert_int_equal(orbit_txn_put(t, S("big1"), big, 45000), ORBIT_ETOOBIG); /* a rewrite too */
    assert_int_equal(orbit_txn_put(t, S("small"), S("s")), 0);
    assert_int_equal(orbit_txn_commit(t), 0); /* it fits in max_request_bytes */
    check_value(kv, NULL, "small", "s");
    free(big);
    orbit_buf_release(&b);
    orbit_kv_close(kv);
}

/* Public scan into "k=v,..." */
static void scan_str(orbit_kv *kv, const orbit_read_opts *ro, const orbit_scan_opts *so, char *out,
                     size_t cap)
{
    orbit_iter *it = NULL;
    assert_int_equal(orbit_kv_iter(kv, ro, so, &it), 0);
    const uint8_t *k, *v;
    size_t kl, vl;
    int rc;
    size_t len = 0;
    out[0] = 0;
    while ((rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0) {
        int w = snprintf(out + len, cap - len, "%s%.*s=%.*s", len ? "," : "", (int)kl, (const char *)k, (int)vl,
                         (const char *)v);
        assert_true(w > 0 && (size_t)w < cap - len);
        len += (size_t)w;
    }
    assert_int_equal(rc, ORBIT_NOTFOUND);
    orbit_iter_close(it);
}

/* The same calls through the public API (the contract layer in front). */
static void test_public_v2(void **state)
{
    orbit_kv *kv = open_ns("page_size=3");
    fill(kv, 10);
    orbit_capabilities caps;
    orbit_kv_capabilities(kv, &caps);
    assert_true(caps.supports_snapshot_at && caps.supports_commit_version && caps.native_multi_get);

    /* a limit-1 scan fetches one key from etcd */
    orbit_scan_opts so = {0};
    so.limit = 1;
    uint64_t before = orbit__etcd_debug_keys_fetched();
    char got[256];
    scan_str(kv, NULL, &so, got, sizeof got);
    assert_string_equal(got, "k00=v0");
    assert_int_equal(orbit__etcd_debug_keys_fetched() - before, 1);
    /* keys only */
    so.limit = 2;
    so.keys_only = 1;
    scan_str(kv, NULL, &so, got, sizeof got);
    assert_string_equal(got, "k00=,k01=");

    /* seek, within the limit that seeking does not reset */
    memset(&so, 0, sizeof so);
    so.limit = 3;
    orbit_iter *it = NULL;
    const uint8_t *k, *v;
    size_t kl, vl;
    assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), 0);
    assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), 0);
    assert_int_equal(orbit_iter_seek(it, S("k07")), 0);
    assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), 0);
    assert_memory_equal(k, "k07", 3);
    assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), 0);
    assert_memory_equal(k, "k08", 3);
    assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), ORBIT_NOTFOUND);
    orbit_iter_close(it);

    /* snapshot versions, snapshot at a version, multi-get at it */
    orbit_snapshot *s1 = NULL, *s2 = NULL;
    assert_int_equal(orbit_kv_snapshot(kv, &s1), 0);
    uint64_t v1 = orbit_snapshot_version(s1);
    orbit_txn *t = NULL;
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &t), 0);
    assert_int_equal(orbit_txn_put(t, S("k00"), S("new")), 0);
    uint64_t cv = 0;
    assert_int_equal(orbit_txn_commit_version(t, &cv), 0);
    assert_true(cv > v1);
    assert_int_equal(orbit_kv_snapshot_at(kv, v1, &s2), 0);
    assert_int_equal(orbit_snapshot_version(s2), v1);
    orbit_slice keys[3] = {{(const uint8_t *)"k00", 3}, {(const uint8_t *)"zz", 2}, {(const uint8_t *)"k00", 3}};
    orbit_buf vals[3] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    int st[3];
    orbit_read_opts ro = {s2};
    assert_int_equal(orbit_kv_multi_get(kv, &ro, 3, keys, vals, st), 0);
    assert_int_equal(st[0], 0);
    assert_memory_equal(vals[0].data, "v0", 2);
    assert_int_equal(st[1], ORBIT_NOTFOUND);
    assert_int_equal(st[2], 0);
    assert_memory_equal(vals[2].data, "v0", 2);
    assert_int_equal(orbit_kv_multi_get(kv, NULL, 3, keys, vals, st), 0);
    assert_memory_equal(vals[0].data, "new", 3);
    orbit_snapshot_release(s2);
    orbit_snapshot_release(s1);
    assert_int_equal(orbit_kv_snapshot_at(kv, cv + 1000000, &s2), ORBIT_EINVAL);

    /* a transaction's multi-get sees its own writes */
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &t), 0);
    assert_int_equal(orbit_txn_put(t, S("zz"), S("mine")), 0);
    assert_int_equal(orbit_txn_multi_get(t, 3, keys, vals, st), 0);
    assert_memory_equal(vals[1].data, "mine", 4);
    assert_memory_equal(vals[0].data, "new", 3);
    cv = 0;
    assert_int_equal(orbit_txn_commit_version(t, &cv), 0);
    assert_true(cv > 0);
    for (int i = 0; i < 3; i++)
        orbit_buf_release(&vals[i]);
    orbit_kv_close(kv);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_status_mapping),
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_unreachable_endpoint),
    };
    const struct CMUnitTest live[] = {
        cmocka_unit_test(test_uri_options),
        cmocka_unit_test_prestate(test_point_ops, NULL),
        cmocka_unit_test_prestate(test_point_ops, "writes=plain"),
        cmocka_unit_test(test_no_namespace),
        cmocka_unit_test(test_batch),         cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_scans),         cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_txn_basics),    cmocka_unit_test(test_txn_conflicts),
        cmocka_unit_test_prestate(test_submit, NULL),
        cmocka_unit_test_prestate(test_submit, "writes=plain"),
        cmocka_unit_test(test_iter_as_of_open),
        cmocka_unit_test(test_rc_first_use),
        cmocka_unit_test(test_scan_reserved_start),
        cmocka_unit_test(test_scan_pushdown),
        cmocka_unit_test(test_multi_get),
        cmocka_unit_test(test_seek),
        cmocka_unit_test(test_txn_limits),
        cmocka_unit_test(test_public_v2),
        cmocka_unit_test(test_retention_pins), /* these two compact the cluster */
        cmocka_unit_test(test_versions_and_compaction),
    };
    int fails = cmocka_run_group_tests_name("etcd_transport", pure, NULL, NULL);
    fails += cmocka_run_group_tests_name("etcd_provider", live, group_setup, group_teardown);
    return fails ? 1 : 0;
}
