/*
 * The TiKV provider's routing layer (src/providers/tikv/{pd,region,raw}.c)
 * against the in-repo PD/TiKV test cluster (tests/tikv/cluster.py through
 * tikv_harness), in raw mode, with faults injected on demand:
 *
 *  - region errors are handled as client-go does and never reach the
 *    caller: a leader move (NotLeader with and without a hint), a split in
 *    the middle of a batch (EpochNotMatch, the keys regrouped by the new
 *    regions), ServerIsBusy backed off and retried, StaleCommand,
 *    RegionNotFound, MaxTimestampNotSynced, ReadIndexNotReady;
 *  - a scan over R regions makes R requests, forward and reverse (counted
 *    both by the provider and by the cluster), sent in parallel windows of
 *    up to 8 regions (the cluster's most KvScans/RawScans in flight at
 *    once), in raw and txn mode (txn on a second cluster of 11 regions);
 *    a small limit costs one request, a chunk that hit its batch continues
 *    in its region, seek works into a read-ahead window, locks met in a
 *    window are resolved and only their regions re-read, a split during
 *    a window re-splits only its part;
 *  - a batch over R regions sends its per-region requests concurrently;
 *  - a stopped store fails reads and writes within the deadline with
 *    ORBIT_EUNAVAIL, and they succeed once it is back;
 *  - PD failover: failed PD calls are retried after GetMembers;
 *  - TSO batching: concurrent callers share TsoRequests, and every
 *    timestamp handed out is unique and increasing per caller;
 *  - the region cache stays within region_cache_size;
 *  - the GC safe point never passes a registered live timestamp;
 *  - the memcomparable codec PD's txn-mode boundaries use.
 * Runs against a real cluster too (ORBIT_TEST_TIKV_PD): the fault and
 * counter cases then skip, and every store of the test lives under a
 * namespace of its own (the cluster's other raw keys are never touched).
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
#include "base/base.h"
#include "providers/tikv/tikv_int.h"
#include "providers/tikv/txn_test.h"
#include "tikv_harness.h"

/* Regions: (-inf, b) [b, d) [d, f) [f, h) [h, +inf). */
#define NREGIONS 5
static const char *const SPLITS = "b,d,f,h";

static th_cluster cl;

static int group_setup(void **state)
{
    th_options o = {0};
    o.stores = 3;
    o.split = SPLITS;
    o.key_mode = "raw";
    o.tie = 1;
    return th_start(&cl, &o) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    th_stop(&cl);
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void need_faults(void)
{
    if (!th_has_faults(&cl)) {
        print_message("a real cluster: no faults or counters, skipped\n");
        skip();
    }
}

/* The provider object, opened through its table so the test reaches the
 * counters. extra: more URI options, or NULL. */
static tikv *open_raw(const char *extra)
{
    char uri[1024];
    /* on a real cluster (no faults: ORBIT_TEST_TIKV_PD) everything stays
     * under a namespace of this process, so wipe() deletes only our keys */
    char ns[64] = "";
    if (!th_has_faults(&cl))
        snprintf(ns, sizeof ns, "&namespace=orbit-routing-%d/", (int)getpid());
    snprintf(uri, sizeof uri, "tikv://%s?mode=raw%s%s%s", th_pd(&cl), ns, extra ? "&" : "", extra ? extra : "");
    orbit_uri *u = NULL;
    assert_int_equal(orbit_uri_parse(uri, &u), 0);
    void *self = NULL;
    int rc = orbit__provider_tikv.open(u, &self);
    if (rc)
        fprintf(stderr, "open %s: %s (%s)\n", uri, orbit_err_name(rc), orbit_last_error_detail());
    orbit_uri_free(u);
    assert_int_equal(rc, 0);
    return self;
}

static void close_raw(tikv *t)
{
    orbit__provider_tikv.close(t);
}

static int put_s(tikv *t, const char *k, const char *v)
{
    return orbit__tikv_raw_put(t, (const uint8_t *)k, strlen(k), (const uint8_t *)v, strlen(v));
}

static int get_s(tikv *t, const char *k, orbit_buf *out)
{
    out->len = 0;
    return orbit__tikv_raw_get(t, NULL, (const uint8_t *)k, strlen(k), orbit__copy_value_fn, out);
}

static void expect_val(tikv *t, const char *k, const char *want)
{
    orbit_buf b = ORBIT_BUF_INIT;
    int rc = get_s(t, k, &b);
    if (rc != (want ? 0 : ORBIT_NOTFOUND))
        fail_msg("get %s: %s (%s)", k, orbit_err_name(rc), orbit_last_error_detail());
    if (want) {
        assert_int_equal(b.len, strlen(want));
        assert_memory_equal(b.data, want, b.len);
    }
    orbit_buf_release(&b);
}

static uint64_t sent(const tikv *t, tikv_rpc_kind k)
{
    tikv_stats s;
    orbit__tikv_stats_get(t, &s);
    return s.sent[k];
}

static uint64_t rerr(const tikv *t, tikv_rerr_kind k)
{
    tikv_stats s;
    orbit__tikv_stats_get(t, &s);
    return s.region_errors[k];
}

/* A unique key prefix per test, inside region [start, ...). */
static void key(char *out, size_t cap, char region, const char *tag, int i)
{
    snprintf(out, cap, "%c-%s-%d-%04d", region, tag, (int)getpid(), i);
}

/* Delete everything the test wrote (the cluster is shared by the group). */
static void wipe(tikv *t)
{
    orbit_range r = {0};
    r.lo = (const uint8_t *)"\x01";
    r.lo_len = 1;
    assert_int_equal(orbit__tikv_raw_delete_range(t, &r), 0);
}

/* Collect a scan as "k=v,..." for comparison. */
static char *scan_all(tikv *t, const char *lo, const char *hi, int reverse, size_t limit)
{
    orbit_range r = {0};
    r.lo = lo ? (const uint8_t *)lo : NULL;
    r.lo_len = lo ? strlen(lo) : 0;
    r.hi = hi ? (const uint8_t *)hi : NULL;
    r.hi_len = hi ? strlen(hi) : 0;
    r.reverse = reverse;
    r.limit = limit;
    void *it = NULL;
    assert_int_equal(orbit__tikv_raw_iter_open(t, NULL, &r, &it), 0);
    orbit_buf out = ORBIT_BUF_INIT;
    const uint8_t *k, *v;
    size_t kl, vl, n = 0;
    int rc;
    while ((limit == 0 || n < limit) && (rc = orbit__tikv_raw_iter_next(it, &k, &kl, &v, &vl)) == 0) {
        orbit_buf_append(&out, k, kl);
        orbit_buf_append(&out, "=", 1);
        orbit_buf_append(&out, v, vl);
        orbit_buf_append(&out, ",", 1);
        n++;
    }
    orbit__tikv_raw_iter_close(it);
    orbit_buf_append(&out, "", 1);
    char *s = strdup((const char *)out.data);
    orbit_buf_release(&out);
    return s;
}

/* ---- the codec ----------------------------------------------------------- */

static void test_memcomparable(void **state)
{
    orbit_buf e = ORBIT_BUF_INIT, d = ORBIT_BUF_INIT;
    assert_int_equal(orbit__tikv_mc_encode(NULL, 0, &e), 0);
    static const uint8_t empty[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0xF7};
    assert_int_equal(e.len, 9);
    assert_memory_equal(e.data, empty, 9);
    const char *cases[] = {"a", "abcdefg", "abcdefgh", "abcdefghi", "0123456789abcdef0", "\xff\x00\xff"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i]) + (i == 5 ? 1 : 0);
        e.len = 0;
        assert_int_equal(orbit__tikv_mc_encode((const uint8_t *)cases[i], n, &e), 0);
        assert_int_equal(e.len, (n / 8 + 1) * 9);
        assert_int_equal(orbit__tikv_mc_decode(e.data, e.len, &d), 0);
        assert_int_equal(d.len, n);
        assert_memory_equal(d.data, cases[i], n);
    }
    /* order is kept: "ab" < "ab\0" < "abc" encoded too */
    orbit_buf a = ORBIT_BUF_INIT, b = ORBIT_BUF_INIT, c = ORBIT_BUF_INIT;
    orbit__tikv_mc_encode((const uint8_t *)"ab", 2, &a);
    orbit__tikv_mc_encode((const uint8_t *)"ab\0", 3, &b);
    orbit__tikv_mc_encode((const uint8_t *)"abc", 3, &c);
    assert_true(memcmp(a.data, b.data, 9) < 0);
    assert_true(memcmp(b.data, c.data, 9) < 0);
    /* malformed: short, bad marker, non-zero padding */
    assert_int_equal(orbit__tikv_mc_decode((const uint8_t *)"abc", 3, &d), ORBIT_EPROTO);
    uint8_t bad[9] = {'a', 0, 0, 0, 0, 0, 0, 0, 0x10};
    assert_int_equal(orbit__tikv_mc_decode(bad, 9, &d), ORBIT_EPROTO);
    uint8_t pad[9] = {'a', 'b', 0, 0, 0, 0, 0, 0, 0xF7};
    assert_int_equal(orbit__tikv_mc_decode(pad, 9, &d), ORBIT_EPROTO);
    orbit_buf_release(&a);
    orbit_buf_release(&b);
    orbit_buf_release(&c);
    orbit_buf_release(&e);
    orbit_buf_release(&d);
}

/* ---- plain raw operations across regions ------------------------------------ */

static void test_raw_across_regions(void **state)
{
    tikv *t = open_raw(NULL);
    wipe(t);
    const char regions[NREGIONS] = {'a', 'b', 'd', 'f', 'h'};
    char k[64], v[64];
    for (int r = 0; r < NREGIONS; r++)
        for (int i = 0; i < 3; i++) {
            key(k, sizeof k, regions[r], "x", i);
            snprintf(v, sizeof v, "v%c%d", regions[r], i);
            assert_int_equal(put_s(t, k, v), 0);
        }
    key(k, sizeof k, 'd', "x", 1);
    expect_val(t, k, "vd1");
    assert_int_equal(orbit__tikv_raw_del(t, (const uint8_t *)k, strlen(k)), 0);
    expect_val(t, k, NULL);

    /* multi-get over every region, with a duplicate and a missing key */
    char ks[7][64];
    orbit_slice sl[7];
    for (int r = 0; r < NREGIONS; r++)
        key(ks[r], sizeof ks[r], regions[r], "x", 2);
    key(ks[5], sizeof ks[5], 'f', "x", 2);
    key(ks[6], sizeof ks[6], 'h', "nope", 0);
    for (int i = 0; i < 7; i++)
        sl[i] = (orbit_slice){(const uint8_t *)ks[i], strlen(ks[i])};
    orbit_buf vals[7];
    int status[7];
    for (int i = 0; i < 7; i++)
        orbit_buf_init(&vals[i]);
    assert_int_equal(orbit__tikv_raw_multi_get(t, NULL, 7, sl, vals, status), 0);
    for (int r = 0; r < NREGIONS; r++) {
        assert_int_equal(status[r], 0);
        snprintf(v, sizeof v, "v%c2", regions[r]);
        assert_int_equal(vals[r].len, strlen(v));
        assert_memory_equal(vals[r].data, v, vals[r].len);
    }
    assert_int_equal(status[5], 0);
    assert_memory_equal(vals[5].data, "vf2", 3);
    assert_int_equal(status[6], ORBIT_NOTFOUND);
    for (int i = 0; i < 7; i++)
        orbit_buf_release(&vals[i]);

    /* a batch in order: put, delete the range it lies in, put again */
    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    key(k, sizeof k, 'b', "y", 0);
    orbit_batch_put(b, (const uint8_t *)k, strlen(k), (const uint8_t *)"1", 1);
    key(v, sizeof v, 'h', "y", 0);
    orbit_batch_put(b, (const uint8_t *)v, strlen(v), (const uint8_t *)"2", 1);
    orbit_batch_delete_range(b, (const uint8_t *)"b-y", 3, (const uint8_t *)"b-z", 3);
    orbit_batch_put(b, (const uint8_t *)v, strlen(v), (const uint8_t *)"3", 1);
    assert_int_equal(orbit__tikv_raw_write(t, b), 0);
    orbit_batch_free(b);
    expect_val(t, k, NULL);
    expect_val(t, v, "3");

    /* scans across all regions, both ways, bounded and with a limit */
    char *fwd = scan_all(t, NULL, NULL, 0, 0);
    char *rev = scan_all(t, NULL, NULL, 1, 0);
    size_t n = 0;
    for (const char *p = fwd; *p; p++)
        n += *p == ',';
    assert_int_equal(n, 3 * NREGIONS - 1 + 1); /* one deleted, h-y added */
    /* the reverse scan lists the same entries backwards */
    size_t m = 0;
    for (const char *p = rev; *p; p++)
        m += *p == ',';
    assert_int_equal(m, n);
    char *first = scan_all(t, NULL, NULL, 0, 1), *last = scan_all(t, NULL, NULL, 1, 1);
    assert_int_equal(strncmp(fwd, first, strlen(first)), 0);
    assert_int_equal(strncmp(rev, last, strlen(last)), 0);
    char *mid = scan_all(t, "c", "g", 0, 0);
    assert_non_null(strstr(mid, "d-x-"));
    assert_non_null(strstr(mid, "f-x-"));
    assert_null(strstr(mid, "b-x-"));
    assert_null(strstr(mid, "h-"));
    char *midr = scan_all(t, "c", "g", 1, 0);
    assert_int_equal(strlen(mid), strlen(midr));
    free(fwd);
    free(rev);
    free(first);
    free(last);
    free(mid);
    free(midr);

    /* seek, forward and reverse */
    orbit_range r = {0};
    void *it = NULL;
    assert_int_equal(orbit__tikv_raw_iter_open(t, NULL, &r, &it), 0);
    const uint8_t *kk, *vv;
    size_t kl, vl;
    assert_int_equal(orbit__tikv_raw_iter_seek(it, (const uint8_t *)"f", 1), 0);
    assert_int_equal(orbit__tikv_raw_iter_next(it, &kk, &kl, &vv, &vl), 0);
    assert_int_equal(kk[0], 'f');
    orbit__tikv_raw_iter_close(it);
    r.reverse = 1;
    assert_int_equal(orbit__tikv_raw_iter_open(t, NULL, &r, &it), 0);
    assert_int_equal(orbit__tikv_raw_iter_seek(it, (const uint8_t *)"f", 1), 0);
    assert_int_equal(orbit__tikv_raw_iter_next(it, &kk, &kl, &vv, &vl), 0);
    assert_int_equal(kk[0], 'd');
    orbit__tikv_raw_iter_close(it);

    wipe(t);
    char *none = scan_all(t, NULL, NULL, 0, 0);
    assert_string_equal(none, "");
    free(none);
    close_raw(t);
}

/* The contract layer reports raw mode as what it is. */
static void test_capabilities(void **state)
{
    char uri[1024];
    snprintf(uri, sizeof uri, "tikv://%s?mode=raw", th_pd(&cl));
    orbit_kv *kv = NULL;
    assert_int_equal(orbit_kv_open(uri, &kv), 0);
    orbit_capabilities c;
    orbit_kv_capabilities(kv, &c);
    assert_string_equal(c.name, "tikv");
    assert_int_equal(c.type, ORBIT_PROVIDER_DISTRIBUTED);
    assert_int_equal(c.supports_transactions, 0);
    assert_int_equal(c.supports_snapshots, 0);
    assert_int_equal(c.supports_multi_region, 1);
    assert_int_equal(c.max_key_size, TIKV_MAX_KEY_SIZE);
    orbit_txn *x = NULL;
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &x), ORBIT_ENOTSUP);
    orbit_kv_close(kv);

    /* unknown options name themselves; bad values are refused */
    snprintf(uri, sizeof uri, "tikv://%s?mode=raw&region_cahce_size=5", th_pd(&cl));
    assert_int_equal(orbit_kv_open(uri, &kv), ORBIT_EBADURI);
    assert_non_null(strstr(orbit_last_error_detail(), "region_cahce_size"));
    snprintf(uri, sizeof uri, "tikv://%s?mode=fast", th_pd(&cl));
    assert_int_equal(orbit_kv_open(uri, &kv), ORBIT_EINVAL);
    snprintf(uri, sizeof uri, "tikv://%s?timeout=10parsecs", th_pd(&cl));
    assert_int_equal(orbit_kv_open(uri, &kv), ORBIT_EINVAL);
    assert_int_equal(orbit_kv_open("tikv://nohost", &kv), ORBIT_EBADURI);
    assert_int_equal(orbit_kv_open("tikv://", &kv), ORBIT_EBADURI);
}

/* ---- round trips -------------------------------------------------------------- */

static void test_scan_counts_regions(void **state)
{
    need_faults();
    tikv *t = open_raw(NULL);
    wipe(t);
    const char regions[NREGIONS] = {'a', 'b', 'd', 'f', 'h'};
    char k[64];
    for (int r = 0; r < NREGIONS; r++)
        for (int i = 0; i < 4; i++) {
            key(k, sizeof k, regions[r], "s", i);
            assert_int_equal(put_s(t, k, "v"), 0);
        }
    for (int reverse = 0; reverse < 2; reverse++) {
        uint64_t s0 = sent(t, TIKV_RPC_RAW_SCAN);
        assert_int_equal(th_reset_counters(&cl), 0);
        char *all = scan_all(t, NULL, NULL, reverse, 0);
        size_t n = 0;
        for (const char *p = all; *p; p++)
            n += *p == ',';
        free(all);
        assert_int_equal(n, 4 * NREGIONS);
        /* one RawScan per region, counted on both sides */
        assert_int_equal(sent(t, TIKV_RPC_RAW_SCAN) - s0, NREGIONS);
        assert_int_equal(th_counter(&cl, 0, "RawScan"), NREGIONS);
    }
    /* a bounded scan touches only the regions it overlaps: [c, e) is two */
    uint64_t s0 = sent(t, TIKV_RPC_RAW_SCAN);
    char *part = scan_all(t, "c", "e", 0, 0);
    free(part);
    assert_int_equal(sent(t, TIKV_RPC_RAW_SCAN) - s0, 2);

    /* a batch put over every region: one request per region, concurrently */
    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    for (int r = 0; r < NREGIONS; r++)
        for (int i = 0; i < 3; i++) {
            key(k, sizeof k, regions[r], "p", i);
            orbit_batch_put(b, (const uint8_t *)k, strlen(k), (const uint8_t *)"w", 1);
        }
    for (int i = 1; i <= 3; i++)
        assert_int_equal(th_delay(&cl, cl.store_id[i - 1], "RawBatchPut", 300), 0);
    assert_int_equal(th_reset_counters(&cl), 0);
    uint64_t p0 = sent(t, TIKV_RPC_RAW_BATCH_PUT);
    assert_int_equal(orbit__tikv_raw_write(t, b), 0);
    orbit_batch_free(b);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(th_delay(&cl, cl.store_id[i - 1], "RawBatchPut", 0), 0);
    assert_int_equal(sent(t, TIKV_RPC_RAW_BATCH_PUT) - p0, NREGIONS);
    assert_int_equal(th_counter(&cl, 0, "RawBatchPut"), NREGIONS);
    long most = th_max_inflight(&cl, "RawBatchPut");
    print_message("RawBatchPut: %ld served at once\n", most);
    assert_true(most > 1);
    wipe(t);
    close_raw(t);
}

/* ---- scans over regions, in parallel ------------------------------------------------ */

/* The scan windows of src/providers/tikv (txn.c SCAN_WINDOW, raw.c
 * RAW_SCAN_WINDOW) and the per-request batches (txn.c SCAN_BATCH, raw.c
 * RAW_SCAN_PAGE). */
#define WINDOW 8
#define TXN_BATCH 256
#define RAW_PAGE 256

static size_t entries(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    return n;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The expected scan text "k=k,..." of keys[0..n) (each key its own value),
 * ascending or descending. */
static char *expected_scan(char **keys, size_t n, int reverse)
{
    qsort(keys, n, sizeof *keys, str_cmp);
    orbit_buf out = ORBIT_BUF_INIT;
    for (size_t j = 0; j < n; j++) {
        const char *k = keys[reverse ? n - 1 - j : j];
        orbit_buf_append(&out, k, strlen(k));
        orbit_buf_append(&out, "=", 1);
        orbit_buf_append(&out, k, strlen(k));
        orbit_buf_append(&out, ",", 1);
    }
    orbit_buf_append(&out, "", 1);
    char *s = strdup((const char *)out.data);
    orbit_buf_release(&out);
    return s;
}

static void test_scan_parallel_raw(void **state)
{
    need_faults();
    tikv *t = open_raw(NULL);
    wipe(t);
    /* 4 keys in each of the 5 regions, and 300 more in [d, f): more than
     * one page there */
    const char regions[NREGIONS] = {'a', 'b', 'd', 'f', 'h'};
    enum { EACH = 4, BIG = 300, N = NREGIONS * EACH + BIG };
    char **keys = calloc(N, sizeof *keys);
    size_t n = 0;
    char k[64];
    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    for (int r = 0; r < NREGIONS; r++)
        for (int i = 0; i < EACH; i++) {
            key(k, sizeof k, regions[r], "ps", i);
            keys[n++] = strdup(k);
        }
    for (int i = 0; i < BIG; i++) {
        key(k, sizeof k, 'd', "pb", i);
        keys[n++] = strdup(k);
    }
    for (size_t i = 0; i < n; i++)
        orbit_batch_put(b, (const uint8_t *)keys[i], strlen(keys[i]), (const uint8_t *)keys[i], strlen(keys[i]));
    assert_int_equal(orbit__tikv_raw_write(t, b), 0);
    orbit_batch_free(b);

    /* every RawScan takes 200 ms: those of a window overlap */
    assert_int_equal(th_delay(&cl, 0, "RawScan", 200), 0);
    for (int reverse = 0; reverse < 2; reverse++) {
        char *want = expected_scan(keys, n, reverse);
        assert_int_equal(th_reset_counters(&cl), 0);
        uint64_t s0 = sent(t, TIKV_RPC_RAW_SCAN);
        char *all = scan_all(t, NULL, NULL, reverse, 0);
        assert_int_equal(entries(all), N);
        assert_string_equal(all, want);
        /* one request per region, one more for [d, f)'s second page; the
         * five regions' first requests were served at once */
        uint64_t reqs = sent(t, TIKV_RPC_RAW_SCAN) - s0;
        long most = th_max_inflight(&cl, "RawScan");
        print_message("raw %s scan: %llu RawScans, %ld at once\n", reverse ? "reverse" : "forward",
                      (unsigned long long)reqs, most);
        assert_int_equal(reqs, NREGIONS + 1);
        assert_int_equal(th_counter(&cl, 0, "RawScan"), NREGIONS + 1);
        assert_int_equal(most, NREGIONS);
        free(all);
        free(want);
    }

    /* a small limit: the first read is one region's, nothing more */
    for (int reverse = 0; reverse < 2; reverse++) {
        assert_int_equal(th_reset_counters(&cl), 0);
        uint64_t s0 = sent(t, TIKV_RPC_RAW_SCAN);
        char *few = scan_all(t, NULL, NULL, reverse, 3);
        assert_int_equal(entries(few), 3);
        assert_int_equal(sent(t, TIKV_RPC_RAW_SCAN) - s0, 1);
        assert_int_equal(th_max_inflight(&cl, "RawScan"), 1);
        free(few);
    }
    /* a limit the first region cannot fill: then one window over the
     * other regions (each asked for what is still wanted) */
    assert_int_equal(th_reset_counters(&cl), 0);
    uint64_t s0 = sent(t, TIKV_RPC_RAW_SCAN);
    char *some = scan_all(t, NULL, NULL, 0, EACH + 2);
    assert_int_equal(entries(some), EACH + 2);
    assert_int_equal(sent(t, TIKV_RPC_RAW_SCAN) - s0, 1 + (NREGIONS - 1));
    assert_int_equal(th_max_inflight(&cl, "RawScan"), NREGIONS - 1);
    free(some);

    /* seek into a window already read ahead: the entries from there */
    orbit_range r = {0};
    void *it = NULL;
    assert_int_equal(orbit__tikv_raw_iter_open(t, NULL, &r, &it), 0);
    const uint8_t *kk, *vv;
    size_t kl, vl;
    assert_int_equal(orbit__tikv_raw_iter_next(it, &kk, &kl, &vv, &vl), 0);
    assert_int_equal(kk[0], 'a');
    assert_int_equal(orbit__tikv_raw_iter_seek(it, (const uint8_t *)"f", 1), 0);
    assert_int_equal(orbit__tikv_raw_iter_next(it, &kk, &kl, &vv, &vl), 0);
    key(k, sizeof k, 'f', "ps", 0);
    assert_int_equal(kl, strlen(k));
    assert_memory_equal(kk, k, kl);
    orbit__tikv_raw_iter_close(it);

    assert_int_equal(th_delay(&cl, 0, "RawScan", 0), 0);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    wipe(t);
    close_raw(t);
}

/* Collect a txn-mode scan at a fresh timestamp as "k=v,...". */
static char *txn_scan(tikv *t, const char *lo, const char *hi, int reverse, size_t limit, size_t *nreq)
{
    orbit_range r = {0};
    r.lo = lo ? (const uint8_t *)lo : NULL;
    r.lo_len = lo ? strlen(lo) : 0;
    r.hi = hi ? (const uint8_t *)hi : NULL;
    r.hi_len = hi ? strlen(hi) : 0;
    r.reverse = reverse;
    r.limit = limit;
    uint64_t s0 = sent(t, TIKV_RPC_KV_SCAN);
    void *it = NULL;
    int rc = orbit__tikv_iter_open(t, NULL, &r, &it);
    if (rc)
        fail_msg("iter_open: %s (%s)", orbit_err_name(rc), orbit_last_error_detail());
    orbit_buf out = ORBIT_BUF_INIT;
    const uint8_t *k, *v;
    size_t kl, vl, n = 0;
    while ((limit == 0 || n < limit) && (rc = orbit__tikv_iter_next(it, &k, &kl, &v, &vl)) == 0) {
        orbit_buf_append(&out, k, kl);
        orbit_buf_append(&out, "=", 1);
        orbit_buf_append(&out, v, vl);
        orbit_buf_append(&out, ",", 1);
        n++;
    }
    if (rc < 0)
        fail_msg("iter_next: %s (%s)", orbit_err_name(rc), orbit_last_error_detail());
    orbit__tikv_iter_close(it);
    orbit_buf_append(&out, "", 1);
    char *s = strdup((const char *)out.data);
    orbit_buf_release(&out);
    if (nreq)
        *nreq = (size_t)(sent(t, TIKV_RPC_KV_SCAN) - s0);
    return s;
}

/* Txn mode (KvScan at a snapshot) on a cluster of its own with 11 regions
 * split at transactional keys: more regions than a window. */
static void test_scan_parallel_txn(void **state)
{
    need_faults();
    if (cl.attached) {
        print_message("an attached cluster: no second cluster of our own, skipped\n");
        skip();
    }
    enum { R = 11, EACH = 3, BIG = 300, N = R * EACH + BIG };
    th_cluster c2;
    th_options o = {0};
    o.stores = 3;
    o.split = "b,c,d,e,f,g,h,i,j,k";
    o.tie = 1;
    assert_int_equal(th_start(&c2, &o), 0);
    assert_int_equal(th_region_count(&c2), R);
    char uri[600];
    snprintf(uri, sizeof uri, "tikv://%s", th_pd(&c2));
    orbit_uri *u = NULL;
    assert_int_equal(orbit_uri_parse(uri, &u), 0);
    void *self = NULL;
    assert_int_equal(orbit__provider_tikv.open(u, &self), 0);
    orbit_uri_free(u);
    tikv *t = self;

    /* EACH keys in every region, BIG more in [e, f) */
    char **keys = calloc(N, sizeof *keys);
    size_t n = 0;
    char k[64];
    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    for (int r = 0; r < R; r++)
        for (int i = 0; i < EACH; i++) {
            key(k, sizeof k, (char)('a' + r), "ts", i);
            keys[n++] = strdup(k);
        }
    for (int i = 0; i < BIG; i++) {
        key(k, sizeof k, 'e', "tb", i);
        keys[n++] = strdup(k);
    }
    for (size_t i = 0; i < n; i++)
        orbit_batch_put(b, (const uint8_t *)keys[i], strlen(keys[i]), (const uint8_t *)keys[i], strlen(keys[i]));
    int rc = orbit__tikv_write(t, b);
    if (rc)
        fail_msg("write: %s (%s)", orbit_err_name(rc), orbit_last_error_detail());
    orbit_batch_free(b);

    /* every KvScan takes 200 ms: those of a window overlap */
    assert_int_equal(th_delay(&c2, 0, "KvScan", 200), 0);
    for (int reverse = 0; reverse < 2; reverse++) {
        char *want = expected_scan(keys, n, reverse);
        assert_int_equal(th_reset_counters(&c2), 0);
        size_t reqs = 0;
        char *all = txn_scan(t, NULL, NULL, reverse, 0, &reqs);
        assert_int_equal(entries(all), N);
        assert_string_equal(all, want);
        long most = th_max_inflight(&c2, "KvScan");
        print_message("txn %s scan over %d regions: %zu KvScans, %ld at once\n", reverse ? "reverse" : "forward",
                      R, reqs, most);
        /* one per region and one more for [e, f)'s second batch; a window
         * of 8 regions at once */
        assert_int_equal(reqs, R + 1);
        assert_int_equal(th_counter(&c2, 0, "KvScan"), R + 1);
        assert_int_equal(most, WINDOW);
        free(all);
        free(want);
    }

    /* a small limit: one request to the first region */
    for (int reverse = 0; reverse < 2; reverse++) {
        size_t reqs = 0;
        char *few = txn_scan(t, NULL, NULL, reverse, 2, &reqs);
        assert_int_equal(entries(few), 2);
        assert_int_equal(reqs, 1);
        free(few);
    }
    /* a limit the first region cannot fill: one window more, no further */
    {
        size_t reqs = 0;
        char *some = txn_scan(t, NULL, NULL, 0, EACH + 2, &reqs);
        assert_int_equal(entries(some), EACH + 2);
        assert_int_equal(reqs, 1 + WINDOW);
        free(some);
    }
    /* a bounded scan: [c, g) is four regions, one window */
    {
        assert_int_equal(th_reset_counters(&c2), 0);
        size_t reqs = 0;
        char *mid = txn_scan(t, "c", "g", 1, 0, &reqs);
        assert_int_equal(entries(mid), 4 * EACH + BIG);
        assert_int_equal(reqs, 4 + 1);
        assert_int_equal(th_max_inflight(&c2, "KvScan"), 4);
        free(mid);
    }
    assert_int_equal(th_delay(&c2, 0, "KvScan", 0), 0); /* counts only, from here */

    /* seek into a window read ahead, forward and reverse */
    for (int reverse = 0; reverse < 2; reverse++) {
        orbit_range r = {0};
        r.reverse = reverse;
        void *it = NULL;
        assert_int_equal(orbit__tikv_iter_open(t, NULL, &r, &it), 0);
        const uint8_t *kk, *vv;
        size_t kl, vl;
        assert_int_equal(orbit__tikv_iter_next(it, &kk, &kl, &vv, &vl), 0);
        assert_int_equal(kk[0], reverse ? 'k' : 'a');
        assert_int_equal(orbit__tikv_iter_seek(it, (const uint8_t *)"g", 1), 0);
        assert_int_equal(orbit__tikv_iter_next(it, &kk, &kl, &vv, &vl), 0);
        if (reverse)
            key(k, sizeof k, 'f', "ts", EACH - 1);
        else
            key(k, sizeof k, 'g', "ts", 0);
        assert_int_equal(kl, strlen(k));
        assert_memory_equal(kk, k, kl);
        orbit__tikv_iter_close(it);
    }

    /* locks met in a window (a 2PC client killed after its prewrites, in
     * regions c and g): resolved, and only those regions are read again */
    atomic_store(&orbit__tikv_txn_test_lock_ttl_ms, 300);
    {
        char uri2[700];
        snprintf(uri2, sizeof uri2, "tikv://%s?enable_one_pc=false&enable_async_commit=false", th_pd(&c2));
        orbit_uri *u2 = NULL;
        assert_int_equal(orbit_uri_parse(uri2, &u2), 0);
        void *w = NULL;
        assert_int_equal(orbit__provider_tikv.open(u2, &w), 0);
        orbit_uri_free(u2);
        void *x = NULL;
        assert_int_equal(orbit__tikv_txn_begin(w, NULL, &x), 0);
        key(k, sizeof k, 'c', "ts", 1);
        assert_int_equal(orbit__tikv_txn_put(x, (const uint8_t *)k, strlen(k), (const uint8_t *)"new", 3), 0);
        key(k, sizeof k, 'g', "ts", 1);
        assert_int_equal(orbit__tikv_txn_put(x, (const uint8_t *)k, strlen(k), (const uint8_t *)"new", 3), 0);
        atomic_store(&orbit__tikv_txn_test_stop_after_prewrite, ORBIT__TIKV_STOP_PREWRITE);
        assert_int_equal(orbit__tikv_txn_commit(x), ORBIT_EUNCERTAIN);
        orbit__provider_tikv.close(w);
    }
    atomic_store(&orbit__tikv_txn_test_lock_ttl_ms, 0);
    assert_int_equal(th_locks(&c2, NULL, 0), 2);
    assert_int_equal(th_advance_clock(&c2, 2000), 0);
    {
        char *want = expected_scan(keys, n, 0);
        assert_int_equal(th_reset_counters(&c2), 0);
        size_t reqs = 0;
        char *all = txn_scan(t, NULL, NULL, 0, 0, &reqs);
        print_message("txn scan meeting 2 locks: %zu KvScans\n", reqs);
        assert_string_equal(all, want); /* rolled back: the old values */
        assert_int_equal(reqs, R + 1 + 2);
        assert_int_equal(th_locks(&c2, NULL, 0), 0);
        free(all);
        free(want);
    }

    /* a split of region [c, d) while the window is in flight: its stale
     * request is answered EpochNotMatch and its part re-split over the
     * two halves; nothing is lost or doubled */
    {
        char *want = expected_scan(keys, n, 0);
        key(k, sizeof k, 'c', "ts", 1);
        assert_int_equal(th_split(&c2, k, strlen(k), "txn", 1), 0);
        uint64_t e0 = rerr(t, TIKV_RERR_EPOCH_NOT_MATCH);
        size_t reqs = 0;
        char *all = txn_scan(t, NULL, NULL, 0, 0, &reqs);
        assert_string_equal(all, want);
        assert_int_equal(th_region_count(&c2), R + 1);
        assert_int_equal(rerr(t, TIKV_RERR_EPOCH_NOT_MATCH) - e0, 1);
        assert_int_equal(reqs, R + 1 + 2);
        free(all);
        free(want);
    }

    /* a delete of the whole range reads its keys through the same windows */
    assert_int_equal(th_delay(&c2, 0, "KvScan", 200), 0);
    assert_int_equal(th_reset_counters(&c2), 0);
    orbit_range all = {0};
    rc = orbit__tikv_delete_range(t, &all);
    if (rc)
        fail_msg("delete_range: %s (%s)", orbit_err_name(rc), orbit_last_error_detail());
    assert_int_equal(th_counter(&c2, 0, "KvScan"), R + 2); /* R + 1 regions now */
    assert_int_equal(th_max_inflight(&c2, "KvScan"), WINDOW);
    size_t reqs = 0;
    char *none = txn_scan(t, NULL, NULL, 0, 0, &reqs);
    assert_string_equal(none, "");
    assert_int_equal(reqs, R + 1);
    free(none);

    assert_int_equal(th_delay(&c2, 0, "KvScan", 0), 0);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    orbit__provider_tikv.close(t);
    th_stop(&c2);
}

/* ---- region errors ------------------------------------------------------------- */

static void test_leader_move(void **state)
{
    need_faults();
    tikv *t = open_raw(NULL);
    char k[64];
    key(k, sizeof k, 'd', "l", 0);
    assert_int_equal(put_s(t, k, "1"), 0); /* caches the region and its leader */
    uint64_t before = th_leader_of(&cl, k, strlen(k), "raw");
    assert_true(before != 0);

    /* with a hint: one NotLeader, then straight to the new leader */
    uint64_t nl0 = rerr(t, TIKV_RERR_NOT_LEADER);
    assert_int_equal(th_move_leader(&cl, k, strlen(k), "raw", 0, 1, 0), 0);
    assert_true(th_leader_of(&cl, k, strlen(k), "raw") != before);
    expect_val(t, k, "1");
    assert_int_equal(rerr(t, TIKV_RERR_NOT_LEADER) - nl0, 1);
    assert_int_equal(put_s(t, k, "2"), 0);
    assert_int_equal(rerr(t, TIKV_RERR_NOT_LEADER) - nl0, 1); /* the cache learnt it */

    /* without a hint: backs off, asks PD again, succeeds */
    assert_int_equal(th_move_leader(&cl, k, strlen(k), "raw", 0, 0, 0), 0);
    expect_val(t, k, "2");
    assert_true(rerr(t, TIKV_RERR_NOT_LEADER) - nl0 >= 2);

    /* in the middle of a batch: after one more store request */
    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    const char regions[NREGIONS] = {'a', 'b', 'd', 'f', 'h'};
    for (int r = 0; r < NREGIONS; r++) {
        key(k, sizeof k, regions[r], "l", 1);
        orbit_batch_put(b, (const uint8_t *)k, strlen(k), (const uint8_t *)"m", 1);
    }
    key(k, sizeof k, 'f', "l", 1);
    assert_int_equal(th_move_leader(&cl, k, strlen(k), "raw", 0, 1, 1), 0);
    assert_int_equal(orbit__tikv_raw_write(t, b), 0);
    orbit_batch_free(b);
    for (int r = 0; r < NREGIONS; r++) {
        key(k, sizeof k, regions[r], "l", 1);
        expect_val(t, k, "m");
    }
    close_raw(t);
}

static void test_split_mid_operation(void **state)
{
    need_faults();
    tikv *t = open_raw(NULL);
    char ks[40][64];
    orbit_slice sl[40];
    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    for (int i = 0; i < 40; i++) {
        /* all inside [h, +inf) */
        snprintf(ks[i], sizeof ks[i], "k-sp-%d-%02d", (int)getpid(), i);
        sl[i] = (orbit_slice){(const uint8_t *)ks[i], strlen(ks[i])};
        orbit_batch_put(b, sl[i].data, sl[i].len, sl[i].data, sl[i].len);
    }
    /* cache the region first, then split it when the next store request
     * arrives: the batch put is sent at the old epoch, answered
     * EpochNotMatch, and its keys are regrouped over the two halves */
    expect_val(t, ks[0], NULL);
    int regions0 = th_region_count(&cl);
    uint64_t e0 = rerr(t, TIKV_RERR_EPOCH_NOT_MATCH);
    assert_int_equal(th_split(&cl, ks[20], strlen(ks[20]), "raw", 1), 0);
    uint64_t p0 = sent(t, TIKV_RPC_RAW_BATCH_PUT);
    assert_int_equal(orbit__tikv_raw_write(t, b), 0);
    orbit_batch_free(b);
    assert_int_equal(th_region_count(&cl), regions0 + 1);
    assert_int_equal(rerr(t, TIKV_RERR_EPOCH_NOT_MATCH) - e0, 1);
    /* the stale request, then one per half */
    assert_int_equal(sent(t, TIKV_RPC_RAW_BATCH_PUT) - p0, 3);

    /* a multi-get across the split point, then a split during it */
    expect_val(t, ks[0], ks[0]);
    assert_int_equal(th_split(&cl, ks[30], strlen(ks[30]), "raw", 1), 0);
    orbit_buf vals[40];
    int status[40];
    for (int i = 0; i < 40; i++)
        orbit_buf_init(&vals[i]);
    assert_int_equal(orbit__tikv_raw_multi_get(t, NULL, 40, sl, vals, status), 0);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(status[i], 0);
        assert_int_equal(vals[i].len, sl[i].len);
        assert_memory_equal(vals[i].data, sl[i].data, sl[i].len);
        orbit_buf_release(&vals[i]);
    }
    assert_int_equal(rerr(t, TIKV_RERR_EPOCH_NOT_MATCH) - e0, 2);

    /* a scan over the new regions sees everything once */
    char lo[64], hi[64];
    snprintf(lo, sizeof lo, "k-sp-%d-", (int)getpid());
    snprintf(hi, sizeof hi, "k-sp-%d.", (int)getpid());
    char *all = scan_all(t, lo, hi, 0, 0), *rev = scan_all(t, lo, hi, 1, 0);
    size_t n = 0, m = 0;
    for (const char *p = all; *p; p++)
        n += *p == ',';
    for (const char *p = rev; *p; p++)
        m += *p == ',';
    assert_int_equal(n, 40);
    assert_int_equal(m, 40);
    free(all);
    free(rev);
    close_raw(t);
}

static void test_server_busy_and_friends(void **state)
{
    need_faults();
    tikv *t = open_raw(NULL);
    char k[64];
    key(k, sizeof k, 'b', "busy", 0);
    assert_int_equal(put_s(t, k, "v"), 0);
    uint64_t leader = th_leader_of(&cl, k, strlen(k), "raw");

    /* ServerIsBusy twice: backed off and retried, never surfaced */
    tikv_stats s0, s1;
    orbit__tikv_stats_get(t, &s0);
    assert_int_equal(th_busy(&cl, leader, 2), 0);
    expect_val(t, k, "v");
    orbit__tikv_stats_get(t, &s1);
    assert_int_equal(s1.region_errors[TIKV_RERR_SERVER_IS_BUSY] - s0.region_errors[TIKV_RERR_SERVER_IS_BUSY], 2);
    assert_true(s1.backoffs - s0.backoffs >= 2);
    assert_int_equal(s1.sent[TIKV_RPC_RAW_GET] - s0.sent[TIKV_RPC_RAW_GET], 3);

    /* the others, each once, on a write (injected on the key's leader:
     * an injection with store 0 arms every store) */
    static const char *const errs[] = {"stale_command", "region_not_found", "max_timestamp_not_synced",
                                       "read_index_not_ready", "region_not_initialized", "not_leader",
                                       "epoch_not_match"};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        orbit__tikv_stats_get(t, &s0);
        assert_int_equal(th_inject(&cl, th_leader_of(&cl, k, strlen(k), "raw"), errs[i], 1, "RawPut"), 0);
        int rc = put_s(t, k, errs[i]);
        if (rc)
            fail_msg("put after %s: %s (%s)", errs[i], orbit_err_name(rc), orbit_last_error_detail());
        orbit__tikv_stats_get(t, &s1);
        assert_int_equal(s1.sent[TIKV_RPC_RAW_PUT] - s0.sent[TIKV_RPC_RAW_PUT], 2);
        expect_val(t, k, errs[i]);
    }

    /* ones that must not be retried */
    leader = th_leader_of(&cl, k, strlen(k), "raw");
    assert_int_equal(th_inject(&cl, leader, "undetermined_result", 1, "RawPut"), 0);
    assert_int_equal(put_s(t, k, "u"), ORBIT_EUNCERTAIN);
    assert_int_equal(th_inject(&cl, leader, "raft_entry_too_large", 1, "RawPut"), 0);
    assert_int_equal(put_s(t, k, "r"), ORBIT_ETOOBIG);
    assert_int_equal(put_s(t, k, "after"), 0);
    close_raw(t);
}

/* ---- a stopped store ------------------------------------------------------------- */

static void test_stopped_store(void **state)
{
    need_faults();
    tikv *t = open_raw("timeout=1500ms");
    char k[64];
    key(k, sizeof k, 'f', "down", 0);
    assert_int_equal(put_s(t, k, "before"), 0);
    uint64_t leader = th_leader_of(&cl, k, strlen(k), "raw");
    for (int hang = 0; hang < 2; hang++) {
        assert_int_equal(th_kill_store(&cl, leader, hang), 0);
        uint64_t t0 = now_ms();
        orbit_buf b = ORBIT_BUF_INIT;
        int rc = get_s(t, k, &b);
        uint64_t took = now_ms() - t0;
        print_message("%s store: get %s after %llu ms (%s)\n", hang ? "hung" : "stopped", orbit_err_name(rc),
                      (unsigned long long)took, orbit_last_error_detail());
        assert_int_equal(rc, ORBIT_EUNAVAIL);
        /* within the deadline (1.5 s), with room for a slow machine */
        assert_true(took < 1500 + 3000);
        rc = put_s(t, k, "during");
        /* a refused connection never carried the write; a hung one may have */
        if (hang)
            assert_true(rc == ORBIT_EUNCERTAIN || rc == ORBIT_EUNAVAIL);
        else
            assert_int_equal(rc, ORBIT_EUNAVAIL);
        orbit_buf_release(&b);
        assert_int_equal(th_revive_store(&cl, leader), 0);
        assert_int_equal(put_s(t, k, "after"), 0);
        expect_val(t, k, "after");
    }
    /* a store whose connections drop once: resent, succeeds */
    assert_int_equal(th_drop_store(&cl, leader), 0);
    expect_val(t, k, "after");
    close_raw(t);
}

/* ---- PD -------------------------------------------------------------------------- */

static void test_pd_failover(void **state)
{
    need_faults();
    tikv *t = open_raw("region_cache_size=1");
    char k[64];
    key(k, sizeof k, 'h', "pd", 0);
    assert_int_equal(put_s(t, k, "1"), 0);
    /* the next PD calls fail: the region lookup (cache of one region,
     * evicted by the lookup below) retries after GetMembers */
    char k2[64];
    key(k2, sizeof k2, 'a', "pd", 0);
    assert_int_equal(put_s(t, k2, "2"), 0);
    uint64_t m0 = sent(t, TIKV_RPC_PD_GET_MEMBERS);
    assert_int_equal(th_pd_fail(&cl, 2), 0);
    expect_val(t, k, "1");
    assert_true(sent(t, TIKV_RPC_PD_GET_MEMBERS) > m0);
    assert_int_equal(th_pd_fail(&cl, 2), 0);
    uint64_t ts = 0;
    int rc = orbit__tikv_tso(t, NULL, &ts);
    if (rc)
        fail_msg("tso after PD failures: %s (%s)", orbit_err_name(rc), orbit_last_error_detail());
    assert_true(ts > 0);
    close_raw(t);
}

typedef struct tso_worker {
    tikv *t;
    int n;
    uint64_t *ts;
    int rc;
} tso_worker;

static void *tso_main(void *arg)
{
    tso_worker *w = arg;
    for (int i = 0; i < w->n; i++) {
        w->rc = orbit__tikv_tso(w->t, NULL, &w->ts[i]);
        if (w->rc)
            break;
    }
    return NULL;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_tso_batching(void **state)
{
    enum { THREADS = 16, EACH = 40 };
    tikv *t = open_raw(NULL);
    tso_worker w[THREADS];
    uint64_t *all = calloc(THREADS * EACH, sizeof *all);
    pthread_t th[THREADS];
    uint64_t r0 = sent(t, TIKV_RPC_PD_TSO);
    long c0 = th_has_faults(&cl) ? th_tso_requests(&cl) : 0;
    for (int i = 0; i < THREADS; i++) {
        w[i] = (tso_worker){t, EACH, all + i * EACH, 0};
        assert_int_equal(pthread_create(&th[i], NULL, tso_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].rc, 0);
        for (int j = 1; j < EACH; j++)
            assert_true(w[i].ts[j] > w[i].ts[j - 1]);
    }
    qsort(all, THREADS * EACH, sizeof *all, u64_cmp);
    for (int i = 1; i < THREADS * EACH; i++)
        assert_true(all[i] > all[i - 1]);
    uint64_t reqs = sent(t, TIKV_RPC_PD_TSO) - r0;
    print_message("TSO: %d timestamps in %llu requests (%.1f per request)\n", THREADS * EACH,
                  (unsigned long long)reqs, (double)(THREADS * EACH) / (double)reqs);
    /* batching: far fewer requests than timestamps */
    assert_true(reqs < (uint64_t)(THREADS * EACH) / 2);
    if (th_has_faults(&cl))
        assert_int_equal(th_tso_requests(&cl) - c0, (long)reqs);
    free(all);
    close_raw(t);
}

/* ---- the cache bound and GC --------------------------------------------------------- */

static void test_region_cache_bound(void **state)
{
    tikv *t = open_raw("region_cache_size=2");
    const char regions[NREGIONS] = {'a', 'b', 'd', 'f', 'h'};
    char k[64];
    for (int round = 0; round < 2; round++)
        for (int r = 0; r < NREGIONS; r++) {
            key(k, sizeof k, regions[r], "c", 0);
            assert_int_equal(put_s(t, k, "v"), 0);
            expect_val(t, k, "v");
            assert_true(orbit__tikv_rcache_count(t) <= 2);
        }
    char *all = scan_all(t, NULL, NULL, 0, 0);
    assert_true(orbit__tikv_rcache_count(t) <= 2);
    free(all);
    wipe(t);
    close_raw(t);
}

static void test_gc_safe_point(void **state)
{
    need_faults();
    tikv *t = open_raw("gc_life_time=2s");
    uint64_t live = 0, sp = 0;
    assert_int_equal(orbit__tikv_tso(t, NULL, &live), 0);
    assert_int_equal(orbit__tikv_live_add(t, live), 0);
    /* PD's clock moves a minute on: the safe point stops below `live` */
    assert_int_equal(th_advance_clock(&cl, 60000), 0);
    assert_int_equal(orbit__tikv_gc_round(t, &sp), 0);
    assert_int_equal(sp, live - 1);
    /* and cannot pass it while it stays registered */
    assert_int_equal(orbit__tikv_gc_round(t, &sp), 0);
    assert_int_equal(sp, live - 1);
    /* a reader cannot start at or below the safe point */
    assert_int_equal(orbit__tikv_live_add(t, live - 1), ORBIT_ECOMPACTED);
    orbit__tikv_live_remove(t, live);
    assert_int_equal(orbit__tikv_gc_round(t, &sp), 0);
    uint64_t now = 0;
    assert_int_equal(orbit__tikv_tso(t, NULL, &now), 0);
    assert_true(sp > live);
    assert_true(sp <= now - (2000ull << TIKV_TS_LOGICAL_BITS));
    uint64_t pd = 0;
    assert_int_equal(orbit__tikv_gc_safe_point(t, 1, &pd), 0);
    assert_int_equal(pd, sp);
    close_raw(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memcomparable),
        cmocka_unit_test(test_capabilities),
        cmocka_unit_test(test_raw_across_regions),
        cmocka_unit_test(test_scan_counts_regions),
        cmocka_unit_test(test_scan_parallel_raw),
        cmocka_unit_test(test_scan_parallel_txn),
        cmocka_unit_test(test_leader_move),
        cmocka_unit_test(test_split_mid_operation),
        cmocka_unit_test(test_server_busy_and_friends),
        cmocka_unit_test(test_stopped_store),
        cmocka_unit_test(test_pd_failover),
        cmocka_unit_test(test_tso_batching),
        cmocka_unit_test(test_region_cache_bound),
        cmocka_unit_test(test_gc_safe_point),
    };
    /* ORBIT_TEST_FILTER=GLOB runs only the matching cases */
    const char *filter = getenv("ORBIT_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests_name("tikv_routing", tests, group_setup, group_teardown);
}
