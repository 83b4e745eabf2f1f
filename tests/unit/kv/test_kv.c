/*
 * Tests for src/kv/kv.c, the contract layer, in isolation: a recording
 * provider ("rec", registered by this test) lets us see exactly what the
 * layer hands a provider — folded ranges, rejected arguments that never
 * reach it, limits, statistics, the inline asynchronous path, the registry.
 * The behaviour of real providers is the contract suite's job.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "orbit/provider.h"

/* ---- the recording provider ----------------------------------------- */

#define NKEYS 10

static struct {
    int calls;            /* provider entry points reached */
    int iter_opens;
    uint8_t lo[16], hi[16];
    size_t lo_len, hi_len;
    int lo_set, hi_set, reverse;
    size_t batch_n;
} rec;

typedef struct rec_it { int pos; int step; } rec_it;

static const char *keys[NKEYS] = {"a", "ab", "ab\x01", "abc", "ab\xff", "ac", "b", "b\xff", "c", "d"};

static int r_open(orbit_uri *u, void **self) { *self = &rec; return orbit_uri_check_unused(u); }
static void r_close(void *self) { (void)self; }
static void r_caps(void *self, orbit_capabilities *c)
{
    (void)self;
    memset(c, 0, sizeof *c);
    c->type = ORBIT_PROVIDER_MEMORY;
    c->name = "rec";
    c->isolation_levels = ORBIT_ISO_BIT(ORBIT_ISO_SNAPSHOT);
    c->max_batch_ops = 4;
}
static int r_get(void *self, void *snap, const uint8_t *k, size_t kl, orbit_value_fn fn, void *arg)
{
    (void)self; (void)snap;
    rec.calls++;
    if (kl == 1 && k[0] == 'a')
        return fn(arg, (const uint8_t *)"value", 5);
    return ORBIT_NOTFOUND;
}
static int r_put(void *self, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)self; (void)k; (void)kl; (void)v; (void)vl;
    rec.calls++;
    return 0;
}
static int r_del(void *self, const uint8_t *k, size_t kl) { (void)self; (void)k; (void)kl; rec.calls++; return 0; }
static int r_write(void *self, const orbit_batch *b) { (void)self; rec.calls++; rec.batch_n = orbit_batch_count(b); return 0; }
static int r_iter_open(void *self, void *snap, const orbit_range *r, void **it)
{
    (void)self; (void)snap;
    rec.calls++;
    rec.iter_opens++;
    rec.lo_set = r->lo != NULL;
    rec.hi_set = r->hi != NULL;
    rec.lo_len = r->lo_len;
    rec.hi_len = r->hi_len;
    if (r->lo) memcpy(rec.lo, r->lo, r->lo_len);
    if (r->hi) memcpy(rec.hi, r->hi, r->hi_len);
    rec.reverse = r->reverse;
    rec_it *i = malloc(sizeof *i);
    i->pos = 0;
    i->step = 0;
    *it = i;
    return 0;
}
static int r_iter_next(void *it, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl)
{
    rec_it *i = it;
    if (i->pos >= NKEYS)
        return ORBIT_NOTFOUND;
    *k = (const uint8_t *)keys[i->pos];
    *kl = strlen(keys[i->pos]);
    *v = (const uint8_t *)"v";
    *vl = 1;
    i->pos++;
    return 0;
}
static void r_iter_close(void *it) { free(it); }

/* A native submit that completes on another thread, as a remote provider
 * does: every GET finds "value", PUT and DEL succeed. */
typedef struct async_job {
    orbit_kv_op *ops;
    size_t n;
    orbit_kv_done_fn done;
    void *arg;
} async_job;

static void *async_worker(void *p)
{
    async_job *j = p;
    for (size_t i = 0; i < j->n; i++) {
        orbit_kv_op *op = &j->ops[i];
        op->result = 0;
        if (op->type == ORBIT_OP_GET)
            op->result = orbit_buf_set(op->out, "value", 5);
    }
    j->done(j->arg, j->ops, j->n);
    free(j);
    return NULL;
}

static pthread_t async_thread;

static int r_submit(void *self, orbit_kv_op *ops, size_t n, orbit_kv_done_fn done, void *arg)
{
    (void)self;
    async_job *j = malloc(sizeof *j);
    *j = (async_job){ops, n, done, arg};
    return pthread_create(&async_thread, NULL, async_worker, j) == 0 ? 0 : ORBIT_ENOMEM;
}

static const orbit_provider rec_provider = {
    .version = ORBIT_PROVIDER_VERSION,
    .name = "rec",
    .open = r_open,
    .close = r_close,
    .capabilities = r_caps,
    .get = r_get,
    .put = r_put,
    .del = r_del,
    .write = r_write,
    .iter_open = r_iter_open,
    .iter_next = r_iter_next,
    .iter_close = r_iter_close,
};

static orbit_kv *open_rec(void)
{
    orbit_kv *kv = NULL;
    assert_int_equal(orbit_kv_open("rec:", &kv), 0);
    memset(&rec, 0, sizeof rec);
    return kv;
}

/* ---- tests ----------------------------------------------------------- */

static void test_registry(void **state)
{
    (void)state;
    assert_non_null(orbit_provider_find("memory"));
    assert_non_null(orbit_provider_find("rec"));
    assert_int_equal(orbit_provider_register(&rec_provider), ORBIT_EEXIST);
    orbit_provider newer = rec_provider;
    newer.name = "newer";
    newer.version = ORBIT_PROVIDER_VERSION + 1;
    assert_int_equal(orbit_provider_register(&newer), ORBIT_EINVAL);
    orbit_kv *kv = (orbit_kv *)1;
    assert_int_equal(orbit_kv_open("nosuch:x", &kv), ORBIT_ENOPROVIDER);
    assert_null(kv);
    assert_non_null(strstr(orbit_last_error_detail(), "nosuch"));
    assert_int_equal(orbit_kv_open("rec:?bogus=1", &kv), ORBIT_EINVAL);
    assert_int_equal(orbit_kv_open("rec", &kv), ORBIT_EBADURI);
}

static void test_bad_arguments_never_reach_provider(void **state)
{
    (void)state;
    orbit_kv *kv = open_rec();
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_kv_get(kv, NULL, (const uint8_t *)"", 0, &b), ORBIT_EINVAL);
    assert_int_equal(orbit_kv_put(kv, NULL, 3, (const uint8_t *)"v", 1), ORBIT_EINVAL);
    assert_int_equal(orbit_kv_put(kv, (const uint8_t *)"k", 1, NULL, 4), ORBIT_EINVAL);
    assert_int_equal(orbit_kv_del(kv, (const uint8_t *)"k", 0), ORBIT_EINVAL);
    assert_int_equal(rec.calls, 0);
    orbit_txn *t = (orbit_txn *)1;
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &t), ORBIT_ENOTSUP);
    assert_null(t);
    orbit_snapshot *s = (orbit_snapshot *)1;
    assert_int_equal(orbit_kv_snapshot(kv, &s), ORBIT_ENOTSUP);
    orbit_kv_stats st;
    orbit_kv_stats_get(kv, &st);
    assert_int_equal(st.errors, 6);
    orbit_buf_release(&b);
    orbit_kv_close(kv);
}

static void test_get_put_stats(void **state)
{
    (void)state;
    orbit_kv *kv = open_rec();
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_kv_get(kv, NULL, (const uint8_t *)"a", 1, &b), 0);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "value", 5);
    assert_int_equal(orbit_kv_get(kv, NULL, (const uint8_t *)"zz", 2, &b), ORBIT_NOTFOUND);
    assert_int_equal(b.len, 0);
    assert_int_equal(orbit_kv_put(kv, (const uint8_t *)"k", 1, (const uint8_t *)"vv", 2), 0);
    assert_int_equal(orbit_kv_put(kv, (const uint8_t *)"k", 1, NULL, 0), 0);
    orbit_kv_stats st;
    orbit_kv_stats_get(kv, &st);
    assert_int_equal(st.gets, 2);
    assert_int_equal(st.keys_read, 1);
    assert_int_equal(st.bytes_read, 5);
    assert_int_equal(st.puts, 2);
    assert_int_equal(st.bytes_written, 4);
    assert_int_equal(st.errors, 0);
    orbit_buf_release(&b);
    orbit_kv_close(kv);
}

static void expect_range(orbit_kv *kv, const orbit_scan_opts *so, const char *lo, size_t lo_len,
                         const char *hi, size_t hi_len)
{
    orbit_iter *it;
    memset(&rec, 0, sizeof rec);
    assert_int_equal(orbit_kv_iter(kv, NULL, so, &it), 0);
    assert_int_equal(rec.iter_opens, 1);
    assert_int_equal(rec.lo_set, lo != NULL);
    assert_int_equal(rec.hi_set, hi != NULL);
    if (lo) {
        assert_int_equal(rec.lo_len, lo_len);
        assert_memory_equal(rec.lo, lo, lo_len);
    }
    if (hi) {
        assert_int_equal(rec.hi_len, hi_len);
        assert_memory_equal(rec.hi, hi, hi_len);
    }
    orbit_iter_close(it);
}

static void test_prefix_folding(void **state)
{
    (void)state;
    orbit_kv *kv = open_rec();
    orbit_scan_opts so = {0};
    expect_range(kv, &so, NULL, 0, NULL, 0);
    so.prefix = (const uint8_t *)"ab";
    so.prefix_len = 2;
    expect_range(kv, &so, "ab", 2, "ac", 2);
    so.start = (const uint8_t *)"abc";
    so.start_len = 3;
    expect_range(kv, &so, "abc", 3, "ac", 2);
    so.start = (const uint8_t *)"a";
    so.start_len = 1;
    so.end = (const uint8_t *)"ab\x05";
    so.end_len = 3;
    expect_range(kv, &so, "ab", 2, "ab\x05", 3);
    memset(&so, 0, sizeof so);
    so.prefix = (const uint8_t *)"a\xff\xff";
    so.prefix_len = 3;
    expect_range(kv, &so, "a\xff\xff", 3, "b", 1);
    so.prefix = (const uint8_t *)"\xff\xff";
    so.prefix_len = 2;
    so.reverse = 1;
    expect_range(kv, &so, "\xff\xff", 2, NULL, 0);
    assert_int_equal(rec.reverse, 1);
    orbit_kv_close(kv);
}

static void test_empty_ranges_skip_provider(void **state)
{
    (void)state;
    orbit_kv *kv = open_rec();
    orbit_scan_opts cases[3];
    memset(cases, 0, sizeof cases);
    cases[0].start = (const uint8_t *)"b";
    cases[0].start_len = 1;
    cases[0].end = (const uint8_t *)"a";
    cases[0].end_len = 1;
    cases[1].prefix = (const uint8_t *)"ab";
    cases[1].prefix_len = 2;
    cases[1].start = (const uint8_t *)"b";
    cases[1].start_len = 1;
    cases[2].end = (const uint8_t *)"";
    cases[2].end_len = 0;
    for (int i = 0; i < 3; i++) {
        orbit_iter *it;
        const uint8_t *k, *v;
        size_t kl, vl;
        assert_int_equal(orbit_kv_iter(kv, NULL, &cases[i], &it), 0);
        assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), ORBIT_NOTFOUND);
        orbit_iter_close(it);
    }
    assert_int_equal(rec.iter_opens, 0);
    orbit_kv_close(kv);
}

static void test_limit(void **state)
{
    (void)state;
    orbit_kv *kv = open_rec();
    orbit_scan_opts so = {0};
    so.limit = 3;
    orbit_iter *it;
    const uint8_t *k, *v;
    size_t kl, vl;
    int n = 0;
    assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), 0);
    while (orbit_iter_next(it, &k, &kl, &v, &vl) == 0)
        n++;
    orbit_iter_close(it);
    assert_int_equal(n, 3);
    so.limit = 0;
    n = 0;
    assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), 0);
    while (orbit_iter_next(it, &k, &kl, &v, &vl) == 0)
        n++;
    orbit_iter_close(it);
    assert_int_equal(n, NKEYS);
    orbit_kv_close(kv);
}

static void test_batch(void **state)
{
    (void)state;
    orbit_kv *kv = open_rec();
    orbit_batch *b;
    assert_int_equal(orbit_batch_new(&b), 0);
    assert_int_equal(orbit_batch_put(b, (const uint8_t *)"k1", 2, (const uint8_t *)"v1", 2), 0);
    assert_int_equal(orbit_batch_del(b, (const uint8_t *)"k2", 2), 0);
    assert_int_equal(orbit_batch_put(b, (const uint8_t *)"k3", 2, NULL, 0), 0);
    assert_int_equal(orbit_batch_put(b, (const uint8_t *)"", 0, NULL, 0), ORBIT_EINVAL);
    assert_int_equal(orbit_batch_count(b), 3);
    orbit_batch_entry e;
    orbit_batch_entry_at(b, 0, &e);
    assert_int_equal(e.type, ORBIT_OP_PUT);
    assert_memory_equal(e.key, "k1", 2);
    assert_memory_equal(e.val, "v1", 2);
    orbit_batch_entry_at(b, 1, &e);
    assert_int_equal(e.type, ORBIT_OP_DEL);
    assert_memory_equal(e.key, "k2", 2);
    assert_int_equal(e.vlen, 0);
    assert_int_equal(orbit_kv_write(kv, b), 0);
    assert_int_equal(rec.batch_n, 3);
    for (int i = 0; i < 2; i++)
        assert_int_equal(orbit_batch_del(b, (const uint8_t *)"x", 1), 0);
    /* 5 entries > max_batch_ops 4: refused before the provider. */
    rec.calls = 0;
    assert_int_equal(orbit_kv_write(kv, b), ORBIT_ETOOBIG);
    assert_int_equal(rec.calls, 0);
    orbit_batch_clear(b);
    assert_int_equal(orbit_batch_count(b), 0);
    assert_int_equal(orbit_kv_write(kv, b), 0);
    assert_int_equal(rec.calls, 0);
    orbit_batch_free(b);
    orbit_kv_close(kv);
}

static int done_calls;
static void on_done(void *arg, orbit_kv_op *ops, size_t n)
{
    (void)ops;
    assert_int_equal(n, 3);
    (*(int *)arg)++;
}

static void test_submit_native_counts_on_completion(void **state)
{
    (void)state;
    orbit_provider async = rec_provider;
    async.name = "recasync";
    async.submit = r_submit;
    static orbit_provider keep;
    keep = async;
    assert_int_equal(orbit_provider_register(&keep), 0);
    orbit_kv *kv;
    assert_int_equal(orbit_kv_open("recasync:", &kv), 0);
    orbit_buf out = ORBIT_BUF_INIT;
    orbit_kv_op ops[3] = {
        {.type = ORBIT_OP_GET, .key = (const uint8_t *)"a", .klen = 1, .out = &out},
        {.type = ORBIT_OP_PUT, .key = (const uint8_t *)"b", .klen = 1, .val = (const uint8_t *)"xy", .vlen = 2},
        {.type = ORBIT_OP_DEL, .key = (const uint8_t *)"c", .klen = 1},
    };
    int calls = 0;
    assert_int_equal(orbit_kv_submit(kv, ops, 3, on_done, &calls), 0);
    pthread_join(async_thread, NULL);
    assert_int_equal(calls, 1);
    orbit_kv_stats st;
    orbit_kv_stats_get(kv, &st);
    assert_int_equal(st.gets, 1);
    assert_int_equal(st.keys_read, 1);
    assert_int_equal(st.bytes_read, 5);
    assert_int_equal(st.puts, 1);
    assert_int_equal(st.deletes, 1);
    assert_int_equal(st.keys_written, 2);
    assert_int_equal(st.bytes_written, 3);
    orbit_buf_release(&out);
    orbit_kv_close(kv);
}

static void test_submit_inline(void **state)
{
    (void)state;
    orbit_kv *kv = open_rec();
    orbit_buf out = ORBIT_BUF_INIT;
    orbit_kv_op ops[3] = {
        {.type = ORBIT_OP_GET, .key = (const uint8_t *)"a", .klen = 1, .out = &out},
        {.type = ORBIT_OP_PUT, .key = (const uint8_t *)"b", .klen = 1, .val = (const uint8_t *)"x", .vlen = 1},
        {.type = ORBIT_OP_GET, .key = (const uint8_t *)"q", .klen = 1, .out = &out},
    };
    done_calls = 0;
    assert_int_equal(orbit_kv_submit(kv, ops, 3, on_done, &done_calls), 0);
    assert_int_equal(done_calls, 1);
    assert_int_equal(ops[0].result, 0);
    assert_int_equal(ops[1].result, 0);
    assert_int_equal(ops[2].result, ORBIT_NOTFOUND);
    /* A bad op refuses the whole submission and the callback never runs. */
    ops[1].key = NULL;
    assert_int_equal(orbit_kv_submit(kv, ops, 3, on_done, &done_calls), ORBIT_EINVAL);
    assert_int_equal(done_calls, 1);
    orbit_buf_release(&out);
    orbit_kv_close(kv);
}

static int setup(void **state)
{
    (void)state;
    return orbit_provider_register(&rec_provider) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_bad_arguments_never_reach_provider),
        cmocka_unit_test(test_get_put_stats),
        cmocka_unit_test(test_prefix_folding),
        cmocka_unit_test(test_empty_ranges_skip_provider),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_submit_inline),
        cmocka_unit_test(test_submit_native_counts_on_completion),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
