/*
 * Tests for src/kv/kv.c, the contract layer, in isolation: a recording
 * provider ("rec", registered by this test) lets us see exactly what the
 * layer hands a provider — folded ranges, rejected arguments that never
 * reach it, limits, statistics, the inline asynchronous path, the registry.
 * A second, fake provider with transactions and none of the version-2
 * members shows every generic fallback of contract v2 (multi-get, range
 * delete and compare-and-set as transactions, a transaction's range delete,
 * versions 0, no seek), the checks on new arguments, per-op detail on the
 * asynchronous path, and which ops a version-1 native submit is given.
 * The behaviour of real providers is the contract suite's job.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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
    size_t limit, max_bytes;
    int keys_only;
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
    rec.limit = r->limit;
    rec.max_bytes = r->max_bytes;
    rec.keys_only = r->keys_only;
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

/* ---- a fake provider with transactions but no v2 members --------------- */

/*
 * "fake": a tiny sorted store with buffered-write transactions, so the
 * contract layer's generic fallbacks (multi-get key by key, range delete
 * and compare-and-set as transactions, a transaction's range delete as a
 * scan) can be watched. `conflicts` makes that many commits fail with
 * ECONFLICT before any succeeds.
 */
#define FMAX 32
#define FLEN 16

typedef struct fent {
    uint8_t k[FLEN], v[FLEN];
    size_t kl, vl;
    int tomb; /* write sets only */
} fent;

static struct {
    fent e[FMAX];
    size_t n;
    int conflicts;
    int begins, commits, rollbacks, gets, txn_gets, for_update;
} fk;

typedef struct ftxn {
    fent w[FMAX];
    size_t nw;
} ftxn;

typedef struct fit {
    fent e[FMAX];
    size_t n, pos;
} fit;

static int fcmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = n ? memcmp(a, b, n) : 0;
    return c ? c : (al > bl) - (al < bl);
}

static fent *ffind(fent *e, size_t n, const uint8_t *k, size_t kl)
{
    for (size_t i = 0; i < n; i++)
        if (fcmp(e[i].k, e[i].kl, k, kl) == 0)
            return &e[i];
    return NULL;
}

static void fset(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, int tomb)
{
    fent *x = ffind(fk.e, fk.n, k, kl);
    if (tomb) {
        if (x) {
            size_t i = (size_t)(x - fk.e);
            memmove(&fk.e[i], &fk.e[i + 1], (fk.n - i - 1) * sizeof *x);
            fk.n--;
        }
        return;
    }
    if (!x) {
        size_t i = 0;
        while (i < fk.n && fcmp(fk.e[i].k, fk.e[i].kl, k, kl) < 0)
            i++;
        memmove(&fk.e[i + 1], &fk.e[i], (fk.n - i) * sizeof *x);
        fk.n++;
        x = &fk.e[i];
        memcpy(x->k, k, kl);
        x->kl = kl;
    }
    if (vl)
        memcpy(x->v, v, vl);
    x->vl = vl;
}

static void fput_s(const char *k, const char *v)
{
    fset((const uint8_t *)k, strlen(k), (const uint8_t *)v, strlen(v), 0);
}

/* The store as "k=v,k=v". */
static const char *fdump(void)
{
    static char out[1024];
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < fk.n; i++)
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%.*s=%.*s", i ? "," : "", (int)fk.e[i].kl,
                              (const char *)fk.e[i].k, (int)fk.e[i].vl, (const char *)fk.e[i].v);
    return out;
}

static int f_open(orbit_uri *u, void **self) { *self = &fk; return orbit_uri_check_unused(u); }
static void f_close(void *self) { (void)self; }
static void f_caps(void *self, orbit_capabilities *c)
{
    (void)self;
    memset(c, 0, sizeof *c);
    c->type = ORBIT_PROVIDER_MEMORY;
    c->supports_transactions = 1;
    c->isolation_levels = ORBIT_ISO_BIT(ORBIT_ISO_SNAPSHOT);
}
static int f_get(void *self, void *snap, const uint8_t *k, size_t kl, orbit_value_fn fn, void *arg)
{
    (void)self; (void)snap;
    fk.gets++;
    fent *x = ffind(fk.e, fk.n, k, kl);
    return x ? fn(arg, x->v, x->vl) : ORBIT_NOTFOUND;
}
static int f_put(void *self, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)self;
    fset(k, kl, v, vl, 0);
    return 0;
}
static int f_del(void *self, const uint8_t *k, size_t kl) { (void)self; fset(k, kl, NULL, 0, 1); return 0; }
static int f_write(void *self, const orbit_batch *b)
{
    (void)self;
    for (size_t i = 0; i < orbit_batch_count(b); i++) {
        orbit_batch_entry e;
        orbit_batch_entry_at(b, i, &e);
        fset(e.key, e.klen, e.val, e.vlen, e.type == ORBIT_OP_DEL);
    }
    return 0;
}
static int in_range(const orbit_range *r, const fent *e)
{
    return (!r->lo || fcmp(e->k, e->kl, r->lo, r->lo_len) >= 0) &&
           (!r->hi || fcmp(e->k, e->kl, r->hi, r->hi_len) < 0);
}
/* An iterator over a copy of the store, overlaid with a write set. */
static int fit_open(const orbit_range *r, const ftxn *t, void **out)
{
    fent view[FMAX];
    size_t n = fk.n;
    memcpy(view, fk.e, sizeof view);
    fit *it = calloc(1, sizeof *it);
    for (size_t i = 0; i < n; i++) {
        const fent *w = t ? ffind((fent *)t->w, t->nw, view[i].k, view[i].kl) : NULL;
        if (w && w->tomb)
            continue;
        if (in_range(r, w ? w : &view[i]))
            it->e[it->n++] = w ? *w : view[i];
    }
    for (size_t j = 0; t && j < t->nw; j++) {
        if (t->w[j].tomb || ffind(view, n, t->w[j].k, t->w[j].kl) || !in_range(r, &t->w[j]))
            continue;
        size_t i = 0;
        while (i < it->n && fcmp(it->e[i].k, it->e[i].kl, t->w[j].k, t->w[j].kl) < 0)
            i++;
        memmove(&it->e[i + 1], &it->e[i], (it->n - i) * sizeof it->e[0]);
        it->e[i] = t->w[j];
        it->n++;
    }
    *out = it;
    return 0;
}
static int f_iter_open(void *self, void *snap, const orbit_range *r, void **it)
{
    (void)self; (void)snap;
    return fit_open(r, NULL, it);
}
static int f_iter_next(void *itp, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl)
{
    fit *it = itp;
    if (it->pos >= it->n)
        return ORBIT_NOTFOUND;
    fent *e = &it->e[it->pos++];
    *k = e->k;
    *kl = e->kl;
    *v = e->v;
    *vl = e->vl;
    return 0;
}
static void f_iter_close(void *it) { free(it); }
static int f_txn_begin(void *self, const orbit_txn_opts *o, void **t)
{
    (void)self; (void)o;
    fk.begins++;
    *t = calloc(1, sizeof(ftxn));
    return 0;
}
static int f_txn_get(void *txn, const uint8_t *k, size_t kl, int fu, orbit_value_fn fn, void *arg)
{
    ftxn *t = txn;
    fk.txn_gets++;
    fk.for_update += fu;
    fent *w = ffind(t->w, t->nw, k, kl);
    if (w)
        return w->tomb ? ORBIT_NOTFOUND : fn(arg, w->v, w->vl);
    fent *x = ffind(fk.e, fk.n, k, kl);
    return x ? fn(arg, x->v, x->vl) : ORBIT_NOTFOUND;
}
static int ftxn_set(ftxn *t, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, int tomb)
{
    fent *w = ffind(t->w, t->nw, k, kl);
    if (!w) {
        w = &t->w[t->nw++];
        memcpy(w->k, k, kl);
        w->kl = kl;
    }
    if (vl)
        memcpy(w->v, v, vl);
    w->vl = vl;
    w->tomb = tomb;
    return 0;
}
static int f_txn_put(void *t, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    return ftxn_set(t, k, kl, v, vl, 0);
}
static int f_txn_del(void *t, const uint8_t *k, size_t kl) { return ftxn_set(t, k, kl, NULL, 0, 1); }
static int f_txn_iter_open(void *t, const orbit_range *r, void **it) { return fit_open(r, t, it); }
static int f_txn_commit(void *txn)
{
    ftxn *t = txn;
    int rc = 0;
    if (fk.conflicts > 0) {
        fk.conflicts--;
        rc = orbit_error_set(ORBIT_ECONFLICT, "fake: conflict");
    } else {
        for (size_t i = 0; i < t->nw; i++)
            fset(t->w[i].k, t->w[i].kl, t->w[i].v, t->w[i].vl, t->w[i].tomb);
        fk.commits++;
    }
    free(t);
    return rc;
}
static void f_txn_rollback(void *t) { fk.rollbacks++; free(t); }

static const orbit_provider fake_provider = {
    .version = ORBIT_PROVIDER_VERSION,
    .name = "fake",
    .open = f_open,
    .close = f_close,
    .capabilities = f_caps,
    .get = f_get,
    .put = f_put,
    .del = f_del,
    .write = f_write,
    .iter_open = f_iter_open,
    .iter_next = f_iter_next,
    .iter_close = f_iter_close,
    .txn_begin = f_txn_begin,
    .txn_get = f_txn_get,
    .txn_put = f_txn_put,
    .txn_del = f_txn_del,
    .txn_iter_open = f_txn_iter_open,
    .txn_commit = f_txn_commit,
    .txn_rollback = f_txn_rollback,
};

static orbit_kv *open_fake(void)
{
    orbit_kv *kv = NULL;
    assert_int_equal(orbit_kv_open("fake:", &kv), 0);
    memset(&fk, 0, sizeof fk);
    return kv;
}

#define S(s) (const uint8_t *)(s), strlen(s)

/* ---- contract v2 tests ------------------------------------------------- */

static void expect_refused(const orbit_provider *p, const char *detail_part)
{
    int rc = orbit_provider_register(p);
    if (rc != ORBIT_EINVAL)
        fail_msg("register %s: got %s, want EINVAL", p->name ? p->name : "(null)", orbit_err_name(rc));
    if (!strstr(orbit_last_error_detail(), detail_part))
        fail_msg("register: detail \"%s\" lacks \"%s\"", orbit_last_error_detail(), detail_part);
}

static int snap_open_fake(void *self, void **snap) { (void)self; *snap = &fk; return 0; }
static void snap_release_fake(void *self, void *snap) { (void)self; (void)snap; }
static uint64_t snap_version_fake(void *self, void *snap) { (void)self; (void)snap; return 42; }

static int never_multi_get(void *self, void *snap, size_t n, const orbit_slice *ks, orbit_buf *vals,
                           int *status)
{
    (void)self; (void)snap; (void)n; (void)ks; (void)vals; (void)status;
    fail_msg("a version-1 table's multi_get was read");
    return ORBIT_EINTERNAL;
}

static int never_cas(void *self, const uint8_t *k, size_t kl, const orbit_slice *e, const orbit_slice *d,
                     orbit_buf *cur)
{
    (void)self; (void)k; (void)kl; (void)e; (void)d; (void)cur;
    fail_msg("a version-1 table's cas was read");
    return ORBIT_EINTERNAL;
}

static void test_register_refusals(void **state)
{
    (void)state;
    orbit_provider p = fake_provider;
    p.name = "incomplete";
    p.get = NULL;
    expect_refused(&p, "get");
    p = fake_provider;
    p.name = "incomplete";
    p.iter_close = NULL;
    expect_refused(&p, "iter_close");
    p = fake_provider;
    p.name = "incomplete";
    p.capabilities = NULL;
    expect_refused(&p, "capabilities");
    p = fake_provider;
    p.name = "incomplete";
    p.snapshot_open = snap_open_fake;
    expect_refused(&p, "snapshot_release");
    p.snapshot_release = snap_release_fake;
    expect_refused(&p, "snapshot_version");
    p.txn_commit = NULL;
    p.snapshot_version = snap_version_fake;
    expect_refused(&p, "txn_commit");
    p = fake_provider;
    p.name = "incomplete";
    p.txn_begin = NULL;
    p.txn_get = NULL;
    expect_refused(&p, "txn_begin");
    p = fake_provider;
    p.name = "incomplete";
    p.version = 0;
    expect_refused(&p, "version 0");
    p.version = ORBIT_PROVIDER_VERSION + 1;
    expect_refused(&p, "version");
    p.version = 2;
    p.name = NULL;
    expect_refused(&p, "no name");
    assert_int_equal(orbit_provider_register(NULL), ORBIT_EINVAL);
    /* None of them got in. */
    assert_null(orbit_provider_find("incomplete"));
    /* A version-1 table needs no snapshot_version; its v2 members are
     * never read (they may not exist in memory). */
    static orbit_provider v1;
    v1 = fake_provider;
    v1.version = 1;
    v1.name = "fakev1";
    v1.snapshot_open = snap_open_fake;
    v1.snapshot_release = snap_release_fake;
    v1.multi_get = never_multi_get; /* past a v1 table's end: never read */
    v1.cas = never_cas;
    assert_int_equal(orbit_provider_register(&v1), ORBIT_OK);
    orbit_kv *kv;
    assert_int_equal(orbit_kv_open("fakev1:", &kv), ORBIT_OK);
    memset(&fk, 0, sizeof fk);
    fput_s("a", "1");
    orbit_slice ks[1] = {{S("a")}};
    orbit_buf vals[1] = {ORBIT_BUF_INIT};
    int st[1];
    assert_int_equal(orbit_kv_multi_get(kv, NULL, 1, ks, vals, st), ORBIT_OK);
    assert_int_equal(st[0], ORBIT_OK);
    assert_int_equal(orbit_kv_put_if_absent(kv, S("a"), S("2"), vals), ORBIT_CMPFAIL);
    orbit_snapshot *snap;
    assert_int_equal(orbit_kv_snapshot(kv, &snap), ORBIT_OK);
    assert_int_equal(orbit_snapshot_version(snap), 0);
    assert_ptr_equal(orbit_snapshot_object(snap), &fk);
    assert_null(orbit_snapshot_object(NULL));
    orbit_snapshot_release(snap);
    orbit_buf_release(&vals[0]);
    orbit_kv_close(kv);
}

static void test_fallback_multi_get(void **state)
{
    (void)state;
    orbit_kv *kv = open_fake();
    fput_s("a", "1");
    fput_s("b", "22");
    orbit_slice ks[4] = {{S("a")}, {S("zz")}, {S("b")}, {S("a")}};
    orbit_buf vals[4] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    int st[4];
    orbit_buf_set(&vals[1], "stale", 5);
    assert_int_equal(orbit_kv_multi_get(kv, NULL, 4, ks, vals, st), ORBIT_OK);
    assert_int_equal(st[0], ORBIT_OK);
    assert_memory_equal(vals[0].data, "1", 1);
    assert_int_equal(st[1], ORBIT_NOTFOUND);
    assert_int_equal(vals[1].len, 0);
    assert_int_equal(st[2], ORBIT_OK);
    assert_memory_equal(vals[2].data, "22", 2);
    assert_int_equal(st[3], ORBIT_OK);
    assert_int_equal(fk.gets, 4);
    orbit_kv_stats s;
    orbit_kv_stats_get(kv, &s);
    assert_int_equal(s.gets, 4);
    assert_int_equal(s.keys_read, 3);
    assert_int_equal(s.bytes_read, 4);
    /* In a transaction: its own writes, via txn_get. */
    orbit_txn *t;
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &t), ORBIT_OK);
    assert_int_equal(orbit_txn_put(t, S("zz"), S("t")), ORBIT_OK);
    assert_int_equal(orbit_txn_del(t, S("a")), ORBIT_OK);
    assert_int_equal(orbit_txn_multi_get(t, 3, ks, vals, st), ORBIT_OK);
    assert_int_equal(st[0], ORBIT_NOTFOUND);
    assert_int_equal(st[1], ORBIT_OK);
    assert_memory_equal(vals[1].data, "t", 1);
    assert_int_equal(st[2], ORBIT_OK);
    assert_int_equal(fk.txn_gets, 3);
    assert_int_equal(fk.for_update, 0);
    /* Arguments are checked before the provider. */
    fk.gets = fk.txn_gets = 0;
    orbit_slice bad[2] = {{S("a")}, {(const uint8_t *)"", 0}};
    assert_int_equal(orbit_kv_multi_get(kv, NULL, 2, bad, vals, st), ORBIT_EINVAL);
    assert_non_null(strstr(orbit_last_error_detail(), "key 1"));
    assert_int_equal(orbit_kv_multi_get(kv, NULL, 2, NULL, vals, st), ORBIT_EINVAL);
    assert_int_equal(orbit_kv_multi_get(kv, NULL, 2, ks, NULL, st), ORBIT_EINVAL);
    assert_int_equal(orbit_kv_multi_get(kv, NULL, 2, ks, vals, NULL), ORBIT_EINVAL);
    assert_int_equal(orbit_txn_multi_get(t, 2, bad, vals, st), ORBIT_EINVAL);
    assert_int_equal(orbit_kv_multi_get(kv, NULL, 0, NULL, NULL, NULL), ORBIT_OK);
    assert_int_equal(fk.gets + fk.txn_gets, 0);
    orbit_txn_rollback(t);
    for (int i = 0; i < 4; i++)
        orbit_buf_release(&vals[i]);
    orbit_kv_close(kv);
}

static void test_fallback_delete_range(void **state)
{
    (void)state;
    orbit_kv *kv = open_fake();
    fput_s("a", "1");
    fput_s("b", "1");
    fput_s("b1", "1");
    fput_s("b2", "1");
    fput_s("c", "1");
    assert_int_equal(orbit_kv_delete_range(kv, S("b"), S("c")), ORBIT_OK);
    assert_string_equal(fdump(), "a=1,c=1");
    assert_int_equal(fk.begins, 1);
    assert_int_equal(fk.commits, 1);
    orbit_kv_stats s;
    orbit_kv_stats_get(kv, &s);
    assert_int_equal(s.deletes, 1);
    assert_int_equal(s.keys_written, 3);
    assert_int_equal(s.txns_begun, 0); /* the layer's own transaction is not the caller's */
    /* Conflicts are retried... */
    fput_s("b", "1");
    fk.conflicts = 3;
    fk.begins = 0;
    assert_int_equal(orbit_kv_delete_range(kv, S("b"), NULL, 0), ORBIT_OK);
    assert_int_equal(fk.begins, 4);
    assert_string_equal(fdump(), "a=1");
    /* ...a bounded number of times. */
    fput_s("b", "1");
    fk.conflicts = 1000;
    fk.begins = 0;
    assert_int_equal(orbit_kv_delete_range(kv, S("a"), S("z")), ORBIT_ECONFLICT);
    assert_true(fk.begins > 1 && fk.begins < 1000);
    assert_non_null(strstr(orbit_last_error_detail(), "attempts"));
    assert_string_equal(fdump(), "a=1,b=1");
    fk.conflicts = 0;
    /* Empty or inverted: nothing happens, not even a transaction. */
    fk.begins = 0;
    assert_int_equal(orbit_kv_delete_range(kv, S("b"), S("b")), ORBIT_OK);
    assert_int_equal(orbit_kv_delete_range(kv, S("c"), S("a")), ORBIT_OK);
    assert_int_equal(fk.begins, 0);
    assert_int_equal(orbit_kv_delete_range(kv, NULL, 0, S("b")), ORBIT_EINVAL);
    assert_int_equal(orbit_kv_delete_range(kv, S("a"), NULL, 3), ORBIT_EINVAL);
    assert_string_equal(fdump(), "a=1,b=1");
    orbit_kv_close(kv);

    /* With neither a native range delete nor transactions: refused. */
    kv = open_rec();
    assert_int_equal(orbit_kv_delete_range(kv, S("a"), S("b")), ORBIT_ENOTSUP);
    assert_int_equal(rec.calls, 0);
    orbit_kv_close(kv);
}

static void test_fallback_txn_delete_range(void **state)
{
    (void)state;
    orbit_kv *kv = open_fake();
    fput_s("a", "1");
    fput_s("b1", "1");
    fput_s("b2", "1");
    fput_s("c", "1");
    orbit_txn *t;
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &t), ORBIT_OK);
    assert_int_equal(orbit_txn_put(t, S("b3"), S("own")), ORBIT_OK);
    assert_int_equal(orbit_txn_put(t, S("c2"), S("own")), ORBIT_OK);
    assert_int_equal(orbit_txn_delete_range(t, S("b"), S("c")), ORBIT_OK);
    /* Nothing applied before commit; the txn sees its deletes. */
    assert_string_equal(fdump(), "a=1,b1=1,b2=1,c=1");
    orbit_buf v = ORBIT_BUF_INIT;
    assert_int_equal(orbit_txn_get(t, S("b3"), &v), ORBIT_NOTFOUND);
    assert_int_equal(orbit_txn_delete_range(t, S("z"), S("a")), ORBIT_OK);
    assert_int_equal(orbit_txn_delete_range(t, NULL, 0, NULL, 0), ORBIT_EINVAL);
    assert_int_equal(orbit_txn_commit(t), ORBIT_OK);
    assert_string_equal(fdump(), "a=1,c=1,c2=own");
    orbit_buf_release(&v);
    orbit_kv_close(kv);
}

static void test_fallback_cas(void **state)
{
    (void)state;
    orbit_kv *kv = open_fake();
    orbit_buf cur = ORBIT_BUF_INIT;
    orbit_slice one = {S("1")}, two = {S("2")};
    assert_int_equal(orbit_kv_put_if_absent(kv, S("k"), S("1"), &cur), ORBIT_OK);
    assert_string_equal(fdump(), "k=1");
    assert_int_equal(fk.for_update, 1);
    orbit_buf_set(&cur, "junk", 4);
    assert_int_equal(orbit_kv_put_if_absent(kv, S("k"), S("9"), &cur), ORBIT_CMPFAIL);
    assert_int_equal(cur.len, 1);
    assert_memory_equal(cur.data, "1", 1);
    assert_int_equal(orbit_kv_cas(kv, S("k"), &two, &one, &cur), ORBIT_CMPFAIL);
    assert_memory_equal(cur.data, "1", 1);
    assert_int_equal(orbit_kv_cas(kv, S("k"), &one, &two, &cur), ORBIT_OK);
    assert_string_equal(fdump(), "k=2");
    assert_int_equal(orbit_kv_cas(kv, S("absent"), &one, &two, &cur), ORBIT_NOTFOUND);
    assert_int_equal(cur.len, 0);
    assert_int_equal(orbit_kv_cas(kv, S("k"), &two, NULL, NULL), ORBIT_OK);
    assert_string_equal(fdump(), "");
    /* A comparison that fails commits nothing. */
    int commits = fk.commits;
    assert_int_equal(orbit_kv_cas(kv, S("k"), &two, &one, NULL), ORBIT_NOTFOUND);
    assert_int_equal(fk.commits, commits);
    /* Conflicts are retried, a bounded number of times. */
    fk.conflicts = 2;
    fk.begins = 0;
    assert_int_equal(orbit_kv_cas(kv, S("k"), NULL, &one, NULL), ORBIT_OK);
    assert_int_equal(fk.begins, 3);
    fk.conflicts = 1000;
    assert_int_equal(orbit_kv_cas(kv, S("k"), &one, &two, &cur), ORBIT_ECONFLICT);
    assert_int_equal(cur.len, 0);
    fk.conflicts = 0;
    assert_string_equal(fdump(), "k=1");
    /* Arguments. */
    fk.begins = 0;
    orbit_slice badv = {NULL, 3};
    assert_int_equal(orbit_kv_cas(kv, (const uint8_t *)"", 0, NULL, &one, NULL), ORBIT_EINVAL);
    assert_int_equal(orbit_kv_cas(kv, S("k"), &badv, &one, NULL), ORBIT_EINVAL);
    assert_int_equal(orbit_kv_cas(kv, S("k"), &one, &badv, NULL), ORBIT_EINVAL);
    assert_int_equal(orbit_kv_put_if_absent(kv, S("k"), NULL, 2, NULL), ORBIT_EINVAL);
    assert_int_equal(fk.begins, 0);
    orbit_kv_stats s;
    orbit_kv_stats_get(kv, &s);
    assert_int_equal(s.keys_written, 4); /* the four that applied */
    orbit_kv_close(kv);

    kv = open_rec();
    assert_int_equal(orbit_kv_cas(kv, S("k"), NULL, &one, NULL), ORBIT_ENOTSUP);
    assert_int_equal(rec.calls, 0);
    orbit_buf_release(&cur);
    orbit_kv_close(kv);
}

static void test_seek_and_scan_options(void **state)
{
    (void)state;
    orbit_kv *kv = open_rec();
    orbit_iter *it;
    const uint8_t *k, *v;
    size_t kl, vl;
    orbit_scan_opts so = {0};
    so.keys_only = 1;
    so.limit = 7;
    so.max_bytes = 5;
    assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), ORBIT_OK);
    /* Passed down as hints... */
    assert_int_equal(rec.keys_only, 1);
    assert_int_equal(rec.limit, 7);
    assert_int_equal(rec.max_bytes, 5);
    /* ...and enforced here: the provider returns "v" anyway; ks "a" and
     * "ab" bring the ks returned to 3 < 5, "ab\x01" to 6 >= 5: stop. */
    int n = 0;
    while (orbit_iter_next(it, &k, &kl, &v, &vl) == ORBIT_OK) {
        assert_int_equal(vl, 0);
        assert_non_null(v);
        n++;
    }
    assert_int_equal(n, 3);
    /* No seek on this provider; the iterator stays usable. */
    assert_int_equal(orbit_iter_seek(it, S("b")), ORBIT_ENOTSUP);
    assert_int_equal(orbit_iter_seek(it, (const uint8_t *)"", 0), ORBIT_EINVAL);
    assert_int_equal(orbit_iter_next(it, &k, &kl, &v, &vl), ORBIT_NOTFOUND);
    orbit_iter_close(it);
    /* Byte limit with values: 2 + 3 = 5 after two entries. */
    so.keys_only = 0;
    so.limit = 0;
    assert_int_equal(orbit_kv_iter(kv, NULL, &so, &it), ORBIT_OK);
    n = 0;
    while (orbit_iter_next(it, &k, &kl, &v, &vl) == ORBIT_OK) {
        assert_int_equal(vl, 1);
        n++;
    }
    assert_int_equal(n, 2);
    orbit_iter_close(it);
    orbit_kv_close(kv);
}

static void test_versions_fallback(void **state)
{
    (void)state;
    orbit_kv *kv = open_fake();
    orbit_batch *b;
    assert_int_equal(orbit_batch_new(&b), ORBIT_OK);
    assert_int_equal(orbit_batch_put(b, S("a"), S("1")), ORBIT_OK);
    uint64_t ver = 99;
    assert_int_equal(orbit_kv_write_version(kv, b, &ver), ORBIT_OK);
    assert_int_equal(ver, 0);
    assert_string_equal(fdump(), "a=1");
    assert_int_equal(orbit_kv_write_version(kv, b, NULL), ORBIT_OK);
    orbit_txn *t;
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &t), ORBIT_OK);
    assert_int_equal(orbit_txn_put(t, S("b"), S("1")), ORBIT_OK);
    ver = 99;
    assert_int_equal(orbit_txn_commit_version(t, &ver), ORBIT_OK);
    assert_int_equal(ver, 0);
    assert_string_equal(fdump(), "a=1,b=1");
    orbit_snapshot *snap = (orbit_snapshot *)1;
    assert_int_equal(orbit_kv_snapshot_at(kv, 1, &snap), ORBIT_ENOTSUP);
    assert_null(snap);

    /* A range in a batch: an entry of its own (val NULL for an open end),
     * refused whole by a provider without batch range deletes. */
    assert_int_equal(orbit_batch_delete_range(b, S("b"), S("c")), ORBIT_OK);
    assert_int_equal(orbit_batch_delete_range(b, S("x"), NULL, 0), ORBIT_OK);
    assert_int_equal(orbit_batch_delete_range(b, S("c"), S("b")), ORBIT_OK); /* empty: no entry */
    assert_int_equal(orbit_batch_delete_range(b, NULL, 0, S("b")), ORBIT_EINVAL);
    assert_int_equal(orbit_batch_count(b), 3);
    orbit_batch_entry e;
    orbit_batch_entry_at(b, 1, &e);
    assert_int_equal(e.type, ORBIT_OP_DEL_RANGE);
    assert_memory_equal(e.key, "b", 1);
    assert_int_equal(e.vlen, 1);
    assert_memory_equal(e.val, "c", 1);
    orbit_batch_entry_at(b, 2, &e);
    assert_int_equal(e.type, ORBIT_OP_DEL_RANGE);
    assert_null(e.val);
    assert_int_equal(e.vlen, 0);
    fput_s("q", "1");
    assert_int_equal(orbit_kv_write(kv, b), ORBIT_ENOTSUP);
    assert_string_equal(fdump(), "a=1,b=1,q=1");
    orbit_batch_clear(b);
    assert_int_equal(orbit_batch_put(b, S("q"), S("2")), ORBIT_OK);
    assert_int_equal(orbit_kv_write(kv, b), ORBIT_OK); /* clear forgets the ranges */
    orbit_batch_free(b);
    orbit_kv_close(kv);
}

static void on_done_n(void *arg, orbit_kv_op *ops, size_t n)
{
    (void)ops;
    int *calls = arg;
    calls[0]++;
    calls[1] = (int)n;
}

static void test_submit_inline_v2(void **state)
{
    (void)state;
    orbit_kv *kv = open_fake();
    fput_s("a", "1");
    orbit_batch *ok, *ranged;
    assert_int_equal(orbit_batch_new(&ok), ORBIT_OK);
    assert_int_equal(orbit_batch_new(&ranged), ORBIT_OK);
    assert_int_equal(orbit_batch_put(ok, S("w"), S("1")), ORBIT_OK);
    assert_int_equal(orbit_batch_delete_range(ranged, S("a"), S("b")), ORBIT_OK);
    orbit_slice ks[2] = {{S("a")}, {S("w")}};
    orbit_buf vals[2] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    int st[2];
    orbit_kv_op ops[4];
    memset(ops, 0, sizeof ops);
    ops[0] = (orbit_kv_op){.type = ORBIT_OP_WRITE, .batch = ok};
    ops[1] = (orbit_kv_op){.type = ORBIT_OP_MULTI_GET, .nkeys = 2, .keys = ks, .vals = vals, .status = st};
    ops[2] = (orbit_kv_op){.type = ORBIT_OP_WRITE, .batch = ranged};
    ops[3] = (orbit_kv_op){.type = ORBIT_OP_DEL, .key = (const uint8_t *)"a", .klen = 1};
    int calls[2] = {0, 0};
    assert_int_equal(orbit_kv_submit(kv, ops, 4, on_done_n, calls), ORBIT_OK);
    assert_int_equal(calls[0], 1);
    assert_int_equal(calls[1], 4);
    assert_int_equal(ops[0].result, ORBIT_OK);
    assert_string_equal(ops[0].detail, "");
    assert_int_equal(ops[1].result, ORBIT_OK);
    assert_int_equal(st[0], ORBIT_OK);
    assert_int_equal(st[1], ORBIT_OK); /* in order: the WRITE ran first */
    /* The failed op carries its own detail, whatever ran after it. */
    assert_int_equal(ops[2].result, ORBIT_ENOTSUP);
    assert_non_null(strstr(ops[2].detail, "range"));
    assert_int_equal(ops[3].result, ORBIT_OK);
    assert_string_equal(ops[3].detail, "");
    assert_string_equal(fdump(), "w=1");
    orbit_kv_stats s;
    orbit_kv_stats_get(kv, &s);
    assert_int_equal(s.batches, 1); /* the refused one never reached the provider */
    assert_int_equal(s.gets, 2);
    assert_int_equal(s.keys_read, 2);
    assert_int_equal(s.deletes, 1);

    /* Bad ops refuse the whole submission; done never runs. */
    ops[0].batch = NULL;
    assert_int_equal(orbit_kv_submit(kv, ops, 4, on_done_n, calls), ORBIT_EINVAL);
    ops[0].batch = ok;
    ops[1].status = NULL;
    assert_int_equal(orbit_kv_submit(kv, ops, 4, on_done_n, calls), ORBIT_EINVAL);
    ops[1].status = st;
    ks[1].len = 0;
    assert_int_equal(orbit_kv_submit(kv, ops, 4, on_done_n, calls), ORBIT_EINVAL);
    ks[1].len = 1;
    ops[3].type = ORBIT_OP_DEL_RANGE; /* a batch entry type, not an op */
    assert_int_equal(orbit_kv_submit(kv, ops, 4, on_done_n, calls), ORBIT_EINVAL);
    ops[3].type = ORBIT_OP_DEL;
    /* A snapshot of another store. */
    orbit_kv *mem;
    assert_int_equal(orbit_kv_open("memory:", &mem), ORBIT_OK);
    orbit_snapshot *other;
    assert_int_equal(orbit_kv_snapshot(mem, &other), ORBIT_OK);
    ops[1].snapshot = other;
    assert_int_equal(orbit_kv_submit(kv, ops, 4, on_done_n, calls), ORBIT_EINVAL);
    assert_non_null(strstr(orbit_last_error_detail(), "another store"));
    assert_int_equal(calls[0], 1);
    orbit_snapshot_release(other);
    orbit_kv_close(mem);
    orbit_buf_release(&vals[0]);
    orbit_buf_release(&vals[1]);
    orbit_batch_free(ok);
    orbit_batch_free(ranged);
    orbit_kv_close(kv);
}

/* A native submit that records the op types it was given and completes
 * them on another thread: GETs find "value", MULTI_GETs "value" for every
 * key, everything else succeeds, a PUT of key "f" fails with its own
 * detail. */
static int seen_types[16];
static size_t nseen;

static void *rec_worker(void *p)
{
    async_job *j = p;
    for (size_t i = 0; i < j->n; i++) {
        orbit_kv_op *op = &j->ops[i];
        op->result = 0;
        if (op->type == ORBIT_OP_GET)
            op->result = orbit_buf_set(op->out, "value", 5);
        if (op->type == ORBIT_OP_MULTI_GET)
            for (size_t k = 0; k < op->nkeys; k++) {
                op->status[k] = 0;
                orbit_buf_set(&op->vals[k], "value", 5);
            }
        if (op->type == ORBIT_OP_PUT && op->klen == 1 && op->key[0] == 'f')
            orbit_op_fail(op, ORBIT_EUNCERTAIN, "lost contact after sending op %zu", i);
    }
    j->done(j->arg, j->ops, j->n);
    free(j);
    return NULL;
}

static int rec_submit(void *self, orbit_kv_op *ops, size_t n, orbit_kv_done_fn done, void *arg)
{
    (void)self;
    nseen = 0;
    for (size_t i = 0; i < n && nseen < 16; i++)
        seen_types[nseen++] = ops[i].type;
    async_job *j = malloc(sizeof *j);
    *j = (async_job){ops, n, done, arg};
    return pthread_create(&async_thread, NULL, rec_worker, j) == 0 ? 0 : ORBIT_ENOMEM;
}

static void run_native_split(const char *uri, int version)
{
    orbit_kv *kv;
    assert_int_equal(orbit_kv_open(uri, &kv), ORBIT_OK);
    memset(&fk, 0, sizeof fk);
    fput_s("a", "1");
    orbit_snapshot *snap;
    assert_int_equal(orbit_kv_snapshot(kv, &snap), ORBIT_OK);
    orbit_batch *b, *ranged;
    assert_int_equal(orbit_batch_new(&b), ORBIT_OK);
    assert_int_equal(orbit_batch_put(b, S("w"), S("1")), ORBIT_OK);
    assert_int_equal(orbit_batch_new(&ranged), ORBIT_OK);
    assert_int_equal(orbit_batch_delete_range(ranged, S("a"), S("b")), ORBIT_OK);
    orbit_slice ks[2] = {{S("a")}, {S("zz")}};
    orbit_buf vals[2] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    orbit_buf out1 = ORBIT_BUF_INIT, out2 = ORBIT_BUF_INIT;
    int st[2];
    orbit_kv_op ops[7];
    memset(ops, 0, sizeof ops);
    ops[0] = (orbit_kv_op){.type = ORBIT_OP_GET, .key = (const uint8_t *)"a", .klen = 1, .out = &out1};
    ops[1] = (orbit_kv_op){.type = ORBIT_OP_WRITE, .batch = b};
    ops[2] = (orbit_kv_op){.type = ORBIT_OP_GET, .key = (const uint8_t *)"a", .klen = 1, .out = &out2,
                           .snapshot = snap};
    ops[3] = (orbit_kv_op){.type = ORBIT_OP_MULTI_GET, .nkeys = 2, .keys = ks, .vals = vals, .status = st};
    ops[4] = (orbit_kv_op){.type = ORBIT_OP_PUT, .key = (const uint8_t *)"f", .klen = 1,
                           .val = (const uint8_t *)"x", .vlen = 1};
    ops[5] = (orbit_kv_op){.type = ORBIT_OP_DEL, .key = (const uint8_t *)"d", .klen = 1};
    /* A batch the provider cannot take (a range, no batch range deletes)
     * is never sent: it fails inline, as orbit_kv_write would. */
    ops[6] = (orbit_kv_op){.type = ORBIT_OP_WRITE, .batch = ranged};
    int calls[2] = {0, 0};
    assert_int_equal(orbit_kv_submit(kv, ops, 7, on_done_n, calls), ORBIT_OK);
    pthread_join(async_thread, NULL);
    assert_int_equal(calls[0], 1);
    assert_int_equal(calls[1], 7);
    assert_int_equal(ops[6].result, ORBIT_ENOTSUP);
    assert_non_null(strstr(ops[6].detail, "range"));
    if (version == 1) {
        /* The provider saw only what a version-1 table knows... */
        assert_int_equal(nseen, 3);
        assert_int_equal(seen_types[0], ORBIT_OP_GET);
        assert_int_equal(seen_types[1], ORBIT_OP_PUT);
        assert_int_equal(seen_types[2], ORBIT_OP_DEL);
        /* ...the rest ran inline, through the provider's synchronous calls. */
        assert_string_equal(fdump(), "a=1,w=1");
        assert_memory_equal(out2.data, "1", 1);
        assert_int_equal(st[0], ORBIT_OK);
        assert_memory_equal(vals[0].data, "1", 1);
        assert_int_equal(st[1], ORBIT_NOTFOUND);
    } else {
        assert_int_equal(nseen, 6);
        assert_int_equal(seen_types[1], ORBIT_OP_WRITE);
        assert_int_equal(seen_types[3], ORBIT_OP_MULTI_GET);
        assert_memory_equal(out2.data, "value", 5);
        assert_int_equal(st[1], ORBIT_OK);
    }
    /* Native results reach the caller's ops, details included. */
    assert_memory_equal(out1.data, "value", 5);
    assert_int_equal(ops[0].result, ORBIT_OK);
    assert_int_equal(ops[1].result, ORBIT_OK);
    assert_int_equal(ops[3].result, ORBIT_OK);
    assert_int_equal(ops[4].result, ORBIT_EUNCERTAIN);
    assert_string_equal(ops[4].detail, version == 1 ? "lost contact after sending op 1"
                                                    : "lost contact after sending op 4");
    assert_int_equal(ops[5].result, ORBIT_OK);
    orbit_kv_stats s;
    orbit_kv_stats_get(kv, &s);
    assert_int_equal(s.gets, 4);
    assert_int_equal(s.batches, 1);
    assert_int_equal(s.puts, 1);
    assert_int_equal(s.deletes, 1);
    assert_int_equal(s.errors, 2);
    orbit_snapshot_release(snap);
    orbit_batch_free(b);
    orbit_batch_free(ranged);
    orbit_buf_release(&vals[0]);
    orbit_buf_release(&vals[1]);
    orbit_buf_release(&out1);
    orbit_buf_release(&out2);
    orbit_kv_close(kv);
}

static void test_submit_native_versions(void **state)
{
    (void)state;
    static orbit_provider v1, v2;
    v1 = fake_provider;
    v1.version = 1;
    v1.name = "fakeasync1";
    v1.submit = rec_submit;
    v1.snapshot_open = snap_open_fake;
    v1.snapshot_release = snap_release_fake;
    assert_int_equal(orbit_provider_register(&v1), ORBIT_OK);
    v2 = v1;
    v2.version = 2;
    v2.name = "fakeasync2";
    v2.snapshot_version = snap_version_fake;
    assert_int_equal(orbit_provider_register(&v2), ORBIT_OK);
    run_native_split("fakeasync1:", 1);
    run_native_split("fakeasync2:", 2);
}

/* Untracked writes: a provider without txn_put_untracked / _del_untracked
 * gets its txn_put / txn_del; one with them gets those; both are counted
 * like tracked writes and refused bad keys before reaching the provider. */
static int untracked_puts, untracked_dels;
static int f_txn_put_untracked(void *t, const uint8_t *k, size_t kl, const uint8_t *v,
                               size_t vl)
{
    untracked_puts++;
    return ftxn_set(t, k, kl, v, vl, 0);
}
static int f_txn_del_untracked(void *t, const uint8_t *k, size_t kl)
{
    untracked_dels++;
    return ftxn_set(t, k, kl, NULL, 0, 1);
}

static void run_untracked(const char *uri, int native)
{
    orbit_kv *kv = NULL;
    assert_int_equal(orbit_kv_open(uri, &kv), 0);
    memset(&fk, 0, sizeof fk);
    untracked_puts = untracked_dels = 0;
    fput_s("gone", "1");
    orbit_txn *t;
    assert_int_equal(orbit_kv_txn_begin(kv, NULL, &t), ORBIT_OK);
    assert_int_equal(orbit_txn_put_untracked(t, S("u"), S("v")), ORBIT_OK);
    assert_int_equal(orbit_txn_put_untracked(t, S("empty"), NULL, 0), ORBIT_OK);
    assert_int_equal(orbit_txn_del_untracked(t, S("gone")), ORBIT_OK);
    assert_int_equal(orbit_txn_put_untracked(t, NULL, 0, S("v")), ORBIT_EINVAL);
    assert_int_equal(orbit_txn_del_untracked(t, NULL, 0), ORBIT_EINVAL);
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_txn_get(t, S("u"), &b), ORBIT_OK);
    assert_int_equal(b.len, 1);
    assert_int_equal(orbit_txn_get(t, S("gone"), &b), ORBIT_NOTFOUND);
    assert_int_equal(orbit_txn_commit(t), ORBIT_OK);
    assert_int_equal(orbit_kv_get(kv, NULL, S("u"), &b), ORBIT_OK);
    assert_memory_equal(b.data, "v", 1);
    assert_int_equal(orbit_kv_get(kv, NULL, S("empty"), &b), ORBIT_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(orbit_kv_get(kv, NULL, S("gone"), &b), ORBIT_NOTFOUND);
    orbit_buf_release(&b);
    assert_int_equal(untracked_puts, native ? 2 : 0);
    assert_int_equal(untracked_dels, native ? 1 : 0);
    orbit_kv_stats s;
    orbit_kv_stats_get(kv, &s);
    assert_int_equal(s.puts, 2);
    assert_int_equal(s.deletes, 1);
    orbit_kv_close(kv);
}

static void test_untracked(void **state)
{
    (void)state;
    static orbit_provider nat;
    nat = fake_provider;
    nat.name = "fakeuntracked";
    nat.txn_put_untracked = f_txn_put_untracked;
    nat.txn_del_untracked = f_txn_del_untracked;
    assert_int_equal(orbit_provider_register(&nat), ORBIT_OK);
    run_untracked("fake:", 0);
    run_untracked("fakeuntracked:", 1);
}

static int setup(void **state)
{
    (void)state;
    return orbit_provider_register(&rec_provider) == 0 && orbit_provider_register(&fake_provider) == 0
               ? 0 : -1;
}

/* ---- store statistics (table version 4) ----------------------------- */

/* Store statistics: a version-4 table's store_stats gets *out with every
 * field ORBIT_STAT_NONE and sets what it reports; a table without the
 * member, or of version 3 (whose copy ends before it, whatever lies
 * beyond), is ENOTSUP with every field NONE. */
static int stats_calls;
static int f_store_stats(void *self, orbit_store_stats *out)
{
    (void)self;
    stats_calls++;
    assert_true(out->size_bytes == ORBIT_STAT_NONE && out->keys == ORBIT_STAT_NONE &&
                out->cache_hits == ORBIT_STAT_NONE && out->keys_exact == 0);
    out->keys = 7;
    out->keys_exact = 1;
    return ORBIT_OK;
}

static void test_store_stats_versions(void **state)
{
    (void)state;
    static orbit_provider v3, v4, v4none;
    v4 = fake_provider;
    v4.version = 4;
    v4.name = "fakestats4";
    v4.store_stats = f_store_stats;
    assert_int_equal(orbit_provider_register(&v4), ORBIT_OK);
    v3 = v4;
    v3.version = 3;
    v3.name = "fakestats3";
    assert_int_equal(orbit_provider_register(&v3), ORBIT_OK);
    v4none = v4;
    v4none.name = "fakestats4none";
    v4none.store_stats = NULL;
    assert_int_equal(orbit_provider_register(&v4none), ORBIT_OK);

    orbit_kv *kv = NULL;
    orbit_store_stats st;
    assert_int_equal(orbit_kv_open("fakestats4:", &kv), 0);
    stats_calls = 0;
    assert_int_equal(orbit_kv_store_stats(kv, &st), 0);
    assert_int_equal(stats_calls, 1);
    assert_int_equal(st.keys, 7);
    assert_int_equal(st.keys_exact, 1);
    assert_true(st.size_bytes == ORBIT_STAT_NONE && st.live_bytes == ORBIT_STAT_NONE &&
                st.cache_misses == ORBIT_STAT_NONE);
    assert_int_equal(orbit_kv_store_stats(kv, NULL), ORBIT_EINVAL);
    orbit_kv_close(kv);

    const char *const none[] = {"fakestats3:", "fakestats4none:"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(orbit_kv_open(none[i], &kv), 0);
        memset(&st, 0, sizeof st);
        stats_calls = 0;
        assert_int_equal(orbit_kv_store_stats(kv, &st), ORBIT_ENOTSUP);
        assert_int_equal(stats_calls, 0);
        assert_true(st.keys == ORBIT_STAT_NONE && st.size_bytes == ORBIT_STAT_NONE &&
                    st.cache_hits == ORBIT_STAT_NONE && st.keys_exact == 0);
        assert_non_null(strstr(orbit_last_error_detail(), "store statistics"));
        orbit_kv_close(kv);
    }
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
        cmocka_unit_test(test_register_refusals),
        cmocka_unit_test(test_fallback_multi_get),
        cmocka_unit_test(test_fallback_delete_range),
        cmocka_unit_test(test_fallback_txn_delete_range),
        cmocka_unit_test(test_fallback_cas),
        cmocka_unit_test(test_seek_and_scan_options),
        cmocka_unit_test(test_versions_fallback),
        cmocka_unit_test(test_submit_inline_v2),
        cmocka_unit_test(test_submit_native_versions),
        cmocka_unit_test(test_untracked),
        cmocka_unit_test(test_store_stats_versions),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
