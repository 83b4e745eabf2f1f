/*
 * The time-series model (orbit/timeseries.h) on every provider: series
 * definitions, the five value types, duplicate policies, range reads
 * forward and reverse with limits, aggregations compared with computation
 * from the points, exact rollups under out-of-order writes, updates and
 * deletes (randomized, against an in-test oracle that recomputes from its
 * own point list), range deletes and retention, batch chunking against
 * the provider's transaction limits, transactions, and costs counted on a
 * store holding much more unrelated data.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt.h"
#include "orbit/timeseries.h"

static int is_remote(orbit_kv *kv)
{
    orbit_capabilities c;
    orbit_kv_capabilities(kv, &c);
    return c.type == ORBIT_PROVIDER_DISTRIBUTED;
}

static orbit_ts_value fv(double d) { return (orbit_ts_value){ORBIT_TS_FLOAT64, 0, d, 0, NULL, 0}; }
static orbit_ts_value iv(int64_t i) { return (orbit_ts_value){ORBIT_TS_INT64, i, 0, 0, NULL, 0}; }

static orbit_series *make(orbit_actor *a, const char *name, orbit_ts_type t, size_t ng,
                          const int64_t *grans, uint64_t retention)
{
    orbit_ts_create_opts o = {0};
    o.type = t;
    o.retention_ms = retention;
    o.ngrans = ng;
    for (size_t i = 0; i < ng; i++)
        o.grans_ms[i] = grans[i];
    mt_check(orbit_ts_create(NULL, a, name, &o), 0);
    orbit_series *s;
    mt_check(orbit_ts_open(NULL, a, name, &s), 0);
    return s;
}

/* ---- collecting reads ---------------------------------------------------- */

typedef struct got {
    size_t n;
    int64_t ts[4096], seq[4096];
    orbit_ts_value v[4096];
    char str[4096][32];
} got;

static int collect(void *arg, const orbit_ts_point *p)
{
    got *g = arg;
    assert_true(g->n < 4096);
    g->ts[g->n] = p->ts;
    g->seq[g->n] = p->seq;
    g->v[g->n] = p->v;
    if (p->v.type == ORBIT_TS_STRING || p->v.type == ORBIT_TS_JSON) {
        size_t l = p->v.len < 31 ? p->v.len : 31;
        memcpy(g->str[g->n], p->v.s, l);
        g->str[g->n][l] = 0;
        g->v[g->n].s = g->str[g->n];
    }
    g->n++;
    return 0;
}

typedef struct bgot {
    size_t n;
    orbit_ts_bucket b[4096];
} bgot;

static int bcollect(void *arg, const orbit_ts_bucket *b)
{
    bgot *g = arg;
    assert_true(g->n < 4096);
    g->b[g->n] = *b;
    g->b[g->n].value.s = NULL; /* numeric checks only */
    g->n++;
    return 0;
}

/* ---- unit cases ------------------------------------------------------------ */

static void test_series_definition(void **state)
{
    (void)state;
    ct_store st;
    mt_open(&st);
    orbit_actor *a;
    mt_check(orbit_actor_open(st.kv, "host", "h1", &a), 0);
    orbit_ts_label labels[] = {{"region", "eu"}, {"kind", "cpu"}};
    orbit_ts_create_opts o = {0};
    o.type = ORBIT_TS_INT64;
    o.retention_ms = 86400000;
    o.ngrans = 2;
    o.grans_ms[0] = 3600000;
    o.grans_ms[1] = 60000;
    o.labels = labels;
    o.nlabels = 2;
    orbit_series *s;
    mt_check(orbit_ts_open(NULL, a, "cpu", &s), ORBIT_NOTFOUND);
    mt_check(orbit_ts_create(NULL, a, "cpu", &o), 0);
    mt_check(orbit_ts_create(NULL, a, "cpu", &o), ORBIT_EEXIST);
    mt_check(orbit_ts_create(NULL, a, "", &o), ORBIT_EINVAL);
    orbit_ts_create_opts bad = o;
    bad.grans_ms[1] = 3600000;
    mt_check(orbit_ts_create(NULL, a, "bad", &bad), ORBIT_EINVAL);
    orbit_ts_label dup[] = {{"k", "1"}, {"k", "2"}};
    bad = o;
    bad.labels = dup;
    mt_check(orbit_ts_create(NULL, a, "bad", &bad), ORBIT_EINVAL);
    bad = o;
    bad.type = (orbit_ts_type)9;
    mt_check(orbit_ts_create(NULL, a, "bad", &bad), ORBIT_EINVAL);

    mt_check(orbit_ts_open(NULL, a, "cpu", &s), 0);
    assert_int_equal(orbit_ts_value_type(s), ORBIT_TS_INT64);
    assert_string_equal(orbit_ts_name(s), "cpu");
    orbit_ts_info info;
    mt_check(orbit_ts_info_get(NULL, s, &info), 0);
    assert_int_equal(info.retention_ms, 86400000);
    assert_int_equal(info.ngrans, 2);
    assert_int_equal(info.grans_ms[0], 60000);
    assert_int_equal(info.grans_ms[1], 3600000);
    assert_int_equal(info.nlabels, 2);
    assert_string_equal(info.labels[0].key, "region");
    assert_string_equal(info.labels[1].value, "cpu");
    assert_int_equal(info.count, 0);
    orbit_ts_info_release(&info);

    orbit_ts_create_opts alt = {0};
    orbit_ts_label nl[] = {{"team", "infra"}};
    alt.retention_ms = 604800000; /* a week: the points below are all kept */
    alt.labels = nl;
    alt.nlabels = 1;
    mt_check(orbit_ts_alter(NULL, s, ORBIT_TS_ALTER_RETENTION | ORBIT_TS_ALTER_LABELS, &alt), 0);
    mt_check(orbit_ts_info_get(NULL, s, &info), 0);
    assert_int_equal(info.retention_ms, 604800000);
    assert_int_equal(info.nlabels, 1);
    assert_string_equal(info.labels[0].key, "team");
    orbit_ts_info_release(&info);

    /* TS.INFO's numbers */
    for (int i = 0; i < 10; i++) {
        orbit_ts_value v = iv(i);
        mt_check(orbit_ts_add(NULL, s, 1000 + i * 30000, 0, &v, ORBIT_TS_DUP_LAST), 0);
    }
    mt_check(orbit_ts_info_get(NULL, s, &info), 0);
    assert_int_equal(info.count, 10);
    assert_int_equal(info.first_ts, 1000);
    assert_int_equal(info.last_ts, 1000 + 9 * 30000);
    orbit_ts_info_release(&info);

    mt_check(orbit_ts_list(a, NULL, NULL), ORBIT_EINVAL);

    /* drop and recreate: empty again */
    orbit_ts_close(s);
    mt_check(orbit_ts_drop(NULL, a, "cpu"), 0);
    mt_check(orbit_ts_open(NULL, a, "cpu", &s), ORBIT_NOTFOUND);
    mt_check(orbit_ts_drop(NULL, a, "cpu"), ORBIT_NOTFOUND);
    mt_check(orbit_ts_create(NULL, a, "cpu", &o), 0);
    mt_check(orbit_ts_open(NULL, a, "cpu", &s), 0);
    got g = {0};
    mt_check(orbit_ts_range(NULL, s, INT64_MIN, INT64_MAX, NULL, collect, &g), 0);
    assert_int_equal(g.n, 0);
    mt_check(orbit_ts_info_get(NULL, s, &info), 0);
    assert_int_equal(info.count, 0);
    orbit_ts_info_release(&info);
    orbit_ts_close(s);
    orbit_actor_close(a);
    mt_close(&st);
}

typedef struct names {
    int n;
    char seen[4][16];
} names;

static int list_fn(void *arg, const char *name, const orbit_ts_info *d)
{
    names *n = arg;
    assert_true(n->n < 4);
    snprintf(n->seen[n->n++], 16, "%s", name);
    assert_true(d->ngrans >= 1);
    return 0;
}

static void test_list(void **state)
{
    (void)state;
    ct_store st;
    mt_open(&st);
    orbit_actor *a;
    mt_check(orbit_actor_open(st.kv, "host", "h2", &a), 0);
    orbit_series *x = make(a, "b", ORBIT_TS_FLOAT64, 0, NULL, 0);
    orbit_series *y = make(a, "a", ORBIT_TS_STRING, 0, NULL, 0);
    mt_check(orbit_ts_drop(NULL, a, "b"), 0);
    names n = {0};
    mt_check(orbit_ts_list(a, list_fn, &n), 0);
    assert_int_equal(n.n, 1);
    assert_string_equal(n.seen[0], "a");
    orbit_ts_close(x);
    orbit_ts_close(y);
    orbit_actor_close(a);
    mt_close(&st);
}

static void test_value_types(void **state)
{
    (void)state;
    ct_store st;
    mt_open(&st);
    orbit_actor *a;
    mt_check(orbit_actor_open(st.kv, "dev", "d1", &a), 0);
    orbit_series *si = make(a, "i", ORBIT_TS_INT64, 0, NULL, 0);
    orbit_series *sf = make(a, "f", ORBIT_TS_FLOAT64, 0, NULL, 0);
    orbit_series *ss = make(a, "s", ORBIT_TS_STRING, 0, NULL, 0);
    orbit_series *sb = make(a, "b", ORBIT_TS_BOOL, 0, NULL, 0);
    orbit_series *sj = make(a, "j", ORBIT_TS_JSON, 0, NULL, 0);

    orbit_ts_value v = iv(INT64_MIN);
    mt_check(orbit_ts_add(NULL, si, 10, 0, &v, 0), 0);
    v = iv(INT64_MAX);
    mt_check(orbit_ts_add(NULL, si, 20, 0, &v, 0), 0);
    v = fv(-0.5);
    mt_check(orbit_ts_add(NULL, sf, 10, 0, &v, 0), 0);
    mt_check(orbit_ts_add(NULL, si, 10, 1, &v, 0), ORBIT_EINVAL); /* wrong type */
    v = fv(NAN);
    mt_check(orbit_ts_add(NULL, sf, 11, 0, &v, 0), ORBIT_EINVAL);
    v = fv(INFINITY);
    mt_check(orbit_ts_add(NULL, sf, 11, 0, &v, 0), ORBIT_EINVAL);
    v = fv(1);
    mt_check(orbit_ts_add(NULL, sf, -1, 0, &v, 0), ORBIT_EINVAL);
    mt_check(orbit_ts_add(NULL, sf, ORBIT_TS_MAX + 1, 0, &v, 0), ORBIT_EINVAL);
    mt_check(orbit_ts_add(NULL, sf, 1, -1, &v, 0), ORBIT_EINVAL);
    orbit_ts_value sv = {ORBIT_TS_STRING, 0, 0, 0, "hello\0world", 11};
    mt_check(orbit_ts_add(NULL, ss, 5, 0, &sv, 0), 0);
    orbit_ts_value bv = {ORBIT_TS_BOOL, 0, 0, 7, NULL, 0};
    mt_check(orbit_ts_add(NULL, sb, 5, 0, &bv, 0), 0);
    bv.b = 0;
    mt_check(orbit_ts_add(NULL, sb, 6, 0, &bv, 0), 0);
    orbit_ts_value jv = {ORBIT_TS_JSON, 0, 0, 0, "{\"a\": [1, 2]}", 13};
    mt_check(orbit_ts_add(NULL, sj, 5, 0, &jv, 0), 0);
    jv.s = "{\"a\": ";
    jv.len = 6;
    mt_check(orbit_ts_add(NULL, sj, 6, 0, &jv, 0), ORBIT_EINVAL);
    mt_check(orbit_ts_add(NULL, ss, 6, 0, &sv, ORBIT_TS_DUP_SUM), ORBIT_EINVAL);

    got g = {0};
    mt_check(orbit_ts_range(NULL, si, 0, 100, NULL, collect, &g), 0);
    assert_int_equal(g.n, 2);
    assert_true(g.v[0].i == INT64_MIN && g.v[1].i == INT64_MAX);
    g.n = 0;
    mt_check(orbit_ts_get(NULL, sf, 10, 0, collect, &g), 0);
    assert_true(g.n == 1 && g.v[0].type == ORBIT_TS_FLOAT64 && g.v[0].d == -0.5);
    mt_check(orbit_ts_get(NULL, sf, 10, 1, collect, &g), ORBIT_NOTFOUND);
    g.n = 0;
    mt_check(orbit_ts_get(NULL, ss, 5, 0, collect, &g), 0);
    assert_int_equal(g.v[0].len, 11);
    assert_memory_equal(g.v[0].s, "hello\0world", 11);
    g.n = 0;
    mt_check(orbit_ts_range(NULL, sb, 0, 100, NULL, collect, &g), 0);
    assert_true(g.n == 2 && g.v[0].b == 1 && g.v[1].b == 0);
    g.n = 0;
    mt_check(orbit_ts_last(NULL, sj, collect, &g), 0);
    assert_int_equal(g.v[0].len, 13);

    /* aggregations by type: int64 sum is exact beyond 2^53, bool counts 0/1 */
    bgot b = {0};
    orbit_ts_agg_opts ao = {ORBIT_TS_AGG_SUM, 1000, 0, 0, 0};
    mt_check(orbit_ts_aggregate(NULL, si, 0, 999, &ao, bcollect, &b), 0);
    assert_int_equal(b.n, 1);
    assert_true(b.b[0].value.d == -1.0); /* INT64_MIN + INT64_MAX */
    b.n = 0;
    ao.agg = ORBIT_TS_AGG_AVG;
    mt_check(orbit_ts_aggregate(NULL, sb, 0, 999, &ao, bcollect, &b), 0);
    assert_true(b.n == 1 && b.b[0].value.d == 0.5);
    b.n = 0;
    ao.agg = ORBIT_TS_AGG_MAX;
    mt_check(orbit_ts_aggregate(NULL, sb, 0, 999, &ao, bcollect, &b), 0);
    assert_true(b.n == 1 && b.b[0].value.type == ORBIT_TS_BOOL && b.b[0].value.b == 1);
    ao.agg = ORBIT_TS_AGG_AVG;
    mt_check(orbit_ts_aggregate(NULL, ss, 0, 999, &ao, bcollect, &b), ORBIT_EINVAL);
    b.n = 0;
    ao.agg = ORBIT_TS_AGG_COUNT;
    mt_check(orbit_ts_aggregate(NULL, ss, 0, 999, &ao, bcollect, &b), 0);
    assert_true(b.n == 1 && b.b[0].value.i == 1);
    ao.bucket_ms = 0;
    mt_check(orbit_ts_aggregate(NULL, si, 0, 999, &ao, bcollect, &b), ORBIT_EINVAL);

    orbit_ts_close(si);
    orbit_ts_close(sf);
    orbit_ts_close(ss);
    orbit_ts_close(sb);
    orbit_ts_close(sj);
    orbit_actor_close(a);
    mt_close(&st);
}

static void test_duplicate_policies(void **state)
{
    (void)state;
    ct_store st;
    mt_open(&st);
    orbit_actor *a;
    mt_check(orbit_actor_open(st.kv, "dev", "d2", &a), 0);
    orbit_series *s = make(a, "x", ORBIT_TS_INT64, 0, NULL, 0);
    orbit_ts_value v = iv(5);
    mt_check(orbit_ts_add(NULL, s, 100, 0, &v, ORBIT_TS_DUP_BLOCK), 0);
    v = iv(7);
    mt_check(orbit_ts_add(NULL, s, 100, 0, &v, ORBIT_TS_DUP_BLOCK), ORBIT_EEXIST);
    mt_check(orbit_ts_add(NULL, s, 100, 0, &v, ORBIT_TS_DUP_FIRST), 0);
    got g = {0};
    mt_check(orbit_ts_get(NULL, s, 100, 0, collect, &g), 0);
    assert_int_equal(g.v[0].i, 5);
    mt_check(orbit_ts_add(NULL, s, 100, 0, &v, ORBIT_TS_DUP_MAX), 0); /* 7 */
    v = iv(3);
    mt_check(orbit_ts_add(NULL, s, 100, 0, &v, ORBIT_TS_DUP_MIN), 0); /* 3 */
    v = iv(10);
    mt_check(orbit_ts_add(NULL, s, 100, 0, &v, ORBIT_TS_DUP_SUM), 0); /* 13 */
    v = iv(INT64_MAX);
    mt_check(orbit_ts_add(NULL, s, 100, 0, &v, ORBIT_TS_DUP_SUM), ORBIT_EINVAL);
    g.n = 0;
    mt_check(orbit_ts_get(NULL, s, 100, 0, collect, &g), 0);
    assert_int_equal(g.v[0].i, 13);
    /* a batch repeating one point: applied in array order */
    orbit_ts_point b[] = {{200, 0, iv(1)}, {200, 0, iv(4)}, {200, 0, iv(2)}};
    mt_check(orbit_ts_madd(NULL, s, b, 3, ORBIT_TS_DUP_SUM, NULL), 0);
    mt_check(orbit_ts_madd(NULL, s, b, 3, ORBIT_TS_DUP_BLOCK, NULL), ORBIT_EEXIST);
    g.n = 0;
    mt_check(orbit_ts_get(NULL, s, 200, 0, collect, &g), 0);
    assert_int_equal(g.v[0].i, 7);
    bgot bg = {0};
    orbit_ts_agg_opts ao = {ORBIT_TS_AGG_SUM, 60000, 0, 0, 0};
    mt_check(orbit_ts_aggregate(NULL, s, 0, 59999, &ao, bcollect, &bg), 0);
    assert_true(bg.n == 1 && bg.b[0].value.d == 20.0 && bg.b[0].count == 2);
    orbit_ts_close(s);
    orbit_actor_close(a);
    mt_close(&st);
}

static void test_range_forward_reverse_limit(void **state)
{
    (void)state;
    ct_store st;
    mt_open(&st);
    orbit_actor *a;
    mt_check(orbit_actor_open(st.kv, "dev", "d3", &a), 0);
    orbit_series *s = make(a, "x", ORBIT_TS_FLOAT64, 0, NULL, 0);
    orbit_ts_point p[40];
    for (int i = 0; i < 40; i++) /* ts 0, 0, 1000, 1000, ... with seq 0 and 1, shuffled */
        p[i] = (orbit_ts_point){(int64_t)((i * 7) % 40 / 2) * 1000, (i * 7) % 40 % 2,
                                fv((i * 7) % 40)};
    mt_check(orbit_ts_madd(NULL, s, p, 40, 0, NULL), 0);
    got g = {0};
    mt_check(orbit_ts_range(NULL, s, 3000, 7000, NULL, collect, &g), 0);
    assert_int_equal(g.n, 10);
    for (size_t i = 0; i < g.n; i++) {
        assert_int_equal(g.ts[i], 3000 + (int64_t)(i / 2) * 1000);
        assert_int_equal(g.seq[i], (int64_t)(i % 2));
        assert_true(g.v[i].d == (double)(6 + i));
    }
    orbit_ts_range_opts o = {1, 3};
    g.n = 0;
    mt_check(orbit_ts_range(NULL, s, 3000, 7000, &o, collect, &g), 0);
    assert_int_equal(g.n, 3);
    assert_true(g.ts[0] == 7000 && g.seq[0] == 1 && g.ts[2] == 6000 && g.seq[2] == 1);
    g.n = 0;
    mt_check(orbit_ts_range(NULL, s, INT64_MIN, INT64_MAX, NULL, collect, &g), 0);
    assert_int_equal(g.n, 40);
    g.n = 0;
    mt_check(orbit_ts_range(NULL, s, 7000, 3000, NULL, collect, &g), 0);
    assert_int_equal(g.n, 0);
    g.n = 0;
    mt_check(orbit_ts_last(NULL, s, collect, &g), 0);
    assert_true(g.ts[0] == 19000 && g.seq[0] == 1);
    mt_check(orbit_ts_del(NULL, s, 19000, 1), 0);
    mt_check(orbit_ts_del(NULL, s, 19000, 1), ORBIT_NOTFOUND);
    mt_check(orbit_ts_del(NULL, s, 500000, 0), ORBIT_NOTFOUND);
    g.n = 0;
    mt_check(orbit_ts_last(NULL, s, collect, &g), 0);
    assert_true(g.ts[0] == 19000 && g.seq[0] == 0);
    uint64_t del;
    mt_check(orbit_ts_del_range(NULL, s, 2000, 4999, &del), 0);
    assert_int_equal(del, 6);
    g.n = 0;
    mt_check(orbit_ts_range(NULL, s, INT64_MIN, INT64_MAX, NULL, collect, &g), 0);
    assert_int_equal(g.n, 33);
    orbit_ts_close(s);
    orbit_actor_close(a);
    mt_close(&st);
}

/* The exact sum: no cancellation error, whatever the order. */
static void test_exact_sum(void **state)
{
    (void)state;
    ct_store st;
    mt_open(&st);
    orbit_actor *a;
    mt_check(orbit_actor_open(st.kv, "dev", "d4", &a), 0);
    orbit_series *s = make(a, "x", ORBIT_TS_FLOAT64, 0, NULL, 0);
    orbit_ts_value v = fv(1e16);
    mt_check(orbit_ts_add(NULL, s, 1, 0, &v, 0), 0);
    v = fv(1.0);
    mt_check(orbit_ts_add(NULL, s, 2, 0, &v, 0), 0);
    v = fv(-1e16);
    mt_check(orbit_ts_add(NULL, s, 3, 0, &v, 0), 0);
    v = fv(0.1);
    mt_check(orbit_ts_add(NULL, s, 4, 0, &v, 0), 0);
    bgot b = {0};
    orbit_ts_agg_opts ao = {ORBIT_TS_AGG_SUM, 60000, 0, 0, 0};
    mt_check(orbit_ts_aggregate(NULL, s, 0, 59999, &ao, bcollect, &b), 0);
    assert_true(b.n == 1 && b.b[0].value.d == 1.1); /* naive summation gives 0.1 */
    mt_check(orbit_ts_del(NULL, s, 1, 0), 0);
    mt_check(orbit_ts_del(NULL, s, 3, 0), 0);
    b.n = 0;
    mt_check(orbit_ts_aggregate(NULL, s, 0, 59999, &ao, bcollect, &b), 0);
    assert_true(b.n == 1 && b.b[0].value.d == 1.1);
    v = fv(5e-324); /* the smallest subnormal survives next to large values */
    mt_check(orbit_ts_add(NULL, s, 5, 0, &v, 0), 0);
    v = fv(-1.1);
    mt_check(orbit_ts_add(NULL, s, 6, 0, &v, 0), 0);
    b.n = 0;
    mt_check(orbit_ts_aggregate(NULL, s, 0, 59999, &ao, bcollect, &b), 0);
    /* exactly 1 + 0.1 - 1.1 (as doubles, (1 - 1.1) + 0.1 is exact by
     * Sterbenz's lemma; the subnormal is below its rounding), where
     * summing in order gives 0 + 5e-324 */
    assert_true(b.n == 1 && b.b[0].value.d == (1.0 - 1.1) + 0.1);
    assert_true(b.b[0].value.d != 0.0);
    orbit_ts_close(s);
    orbit_actor_close(a);
    mt_close(&st);
}

/* ---- the oracle ----------------------------------------------------------- */

typedef struct opt {
    int64_t ts, seq, k; /* value: k (INT64) or k / 8 (FLOAT64) */
} opt;

typedef struct oracle {
    orbit_ts_type type;
    size_t n;
    opt p[8192];
} oracle;

static size_t o_find(const oracle *o, int64_t ts, int64_t seq, int *found)
{
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (o->p[m].ts < ts || (o->p[m].ts == ts && o->p[m].seq < seq))
            lo = m + 1;
        else
            hi = m;
    }
    *found = lo < o->n && o->p[lo].ts == ts && o->p[lo].seq == seq;
    return lo;
}

static void o_put(oracle *o, int64_t ts, int64_t seq, int64_t k)
{
    int f;
    size_t i = o_find(o, ts, seq, &f);
    if (!f) {
        assert_true(o->n < 8192);
        memmove(&o->p[i + 1], &o->p[i], (o->n - i) * sizeof o->p[0]);
        o->n++;
    }
    o->p[i] = (opt){ts, seq, k};
}

static int o_del(oracle *o, int64_t ts, int64_t seq)
{
    int f;
    size_t i = o_find(o, ts, seq, &f);
    if (!f)
        return 0;
    memmove(&o->p[i], &o->p[i + 1], (o->n - i - 1) * sizeof o->p[0]);
    o->n--;
    return 1;
}

static uint64_t o_del_range(oracle *o, int64_t from, int64_t to)
{
    size_t w = 0;
    uint64_t d = 0;
    for (size_t i = 0; i < o->n; i++) {
        if (o->p[i].ts >= from && o->p[i].ts <= to)
            d++;
        else
            o->p[w++] = o->p[i];
    }
    o->n = w;
    return d;
}

static orbit_ts_value o_val(const oracle *o, int64_t k)
{
    return o->type == ORBIT_TS_INT64 ? iv(k) : fv((double)k / 8.0);
}

static double o_num(const oracle *o, int64_t k)
{
    return o->type == ORBIT_TS_INT64 ? (double)k : (double)k / 8.0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* The oracle's aggregation, compared bucket by bucket with the model's. */
static void o_check_agg(const oracle *o, orbit_series *s, int64_t from, int64_t to,
                        orbit_ts_agg agg, int64_t w, int64_t align, int reverse, size_t limit)
{
    static bgot res;
    res.n = 0;
    orbit_ts_agg_opts ao = {agg, w, align, reverse, limit};
    mt_check(orbit_ts_aggregate(NULL, s, from, to, &ao, bcollect, &res), 0);
    /* the oracle's buckets, in time order */
    static struct ob {
        int64_t start, sum, minv, maxv, first, last;
        uint64_t count;
    } ob[4096];
    size_t nb = 0;
    for (size_t i = 0; i < o->n; i++) {
        const opt *p = &o->p[i];
        if (p->ts < from || p->ts > to)
            continue;
        int64_t bs = align + floor_div(p->ts - align, w) * w;
        if (!nb || ob[nb - 1].start != bs) {
            assert_true(nb < 4096);
            ob[nb++] = (struct ob){bs, 0, p->k, p->k, p->k, p->k, 0};
        }
        struct ob *b = &ob[nb - 1];
        b->count++;
        b->sum += p->k;
        if (p->k < b->minv)
            b->minv = p->k;
        if (p->k > b->maxv)
            b->maxv = p->k;
        b->last = p->k;
    }
    size_t want = limit && limit < nb ? limit : nb;
    assert_int_equal(res.n, want);
    for (size_t j = 0; j < want; j++) {
        const struct ob *b = &ob[reverse ? nb - 1 - j : j];
        const orbit_ts_bucket *g = &res.b[j];
        assert_int_equal(g->start, b->start);
        assert_int_equal(g->count, b->count);
        double sum = o_num(o, b->sum);
        switch (agg) {
        case ORBIT_TS_AGG_SUM: assert_true(g->value.d == sum); break;
        case ORBIT_TS_AGG_AVG: assert_true(g->value.d == sum / (double)b->count); break;
        case ORBIT_TS_AGG_COUNT: assert_int_equal(g->value.i, (int64_t)b->count); break;
        default: {
            int64_t k = agg == ORBIT_TS_AGG_MIN   ? b->minv
                        : agg == ORBIT_TS_AGG_MAX ? b->maxv
                        : agg == ORBIT_TS_AGG_FIRST ? b->first
                                                    : b->last;
            orbit_ts_value want_v = o_val(o, k);
            if (o->type == ORBIT_TS_INT64)
                assert_int_equal(g->value.i, want_v.i);
            else
                assert_true(g->value.d == want_v.d);
        }
        }
    }
}

/* Every rollup of granularity g against the oracle (whole buckets only, so
 * the model reads rollups alone), for all seven aggregators. */
static void o_check_rollups(const oracle *o, orbit_series *s, int64_t g, int64_t span)
{
    int64_t to = (span / g + 1) * g - 1;
    for (int agg = ORBIT_TS_AGG_AVG; agg <= ORBIT_TS_AGG_LAST; agg++)
        o_check_agg(o, s, 0, to, (orbit_ts_agg)agg, g, 0, 0, 0);
}

static void o_check_points(const oracle *o, orbit_series *s)
{
    static got g;
    g.n = 0;
    mt_check(orbit_ts_range(NULL, s, INT64_MIN, INT64_MAX, NULL, collect, &g), 0);
    assert_int_equal(g.n, o->n);
    for (size_t i = 0; i < o->n; i++) {
        assert_int_equal(g.ts[i], o->p[i].ts);
        assert_int_equal(g.seq[i], o->p[i].seq);
        orbit_ts_value w = o_val(o, o->p[i].k);
        if (o->type == ORBIT_TS_INT64)
            assert_int_equal(g.v[i].i, w.i);
        else
            assert_true(g.v[i].d == w.d);
    }
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static int64_t rnd_in(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1)); }

static int64_t rnd_k(void)
{
    int64_t k = rnd_in(-1000, 1000);
    if (rnd() % 10 == 0) /* mix magnitudes: naive float sums would round */
        k += (rnd() % 2 ? 1 : -1) * (INT64_C(1) << 45) * rnd_in(1, 8);
    return k;
}

static void run_random(orbit_kv *kv, orbit_ts_type type, uint64_t seed)
{
    orbit_actor *a;
    char id[32];
    snprintf(id, sizeof id, "r%d", (int)type);
    mt_check(orbit_actor_open(kv, "rand", id, &a), 0);
    static const int64_t grans[] = {10, 100};
    orbit_series *s = make(a, "x", type, 2, grans, 0);
    static oracle o;
    o.type = type;
    o.n = 0;
    rng_state = seed;
    int remote = is_remote(kv);
    int ops = remote ? 70 : 500, span = remote ? 400 : 2000;
    for (int op = 0; op < ops; op++) {
        int kind = (int)(rnd() % 10);
        int64_t ts = rnd_in(0, span), seq = rnd_in(0, 2), k = rnd_k();
        if (kind <= 2) { /* a point anywhere: out of order */
            orbit_ts_value v = o_val(&o, k);
            mt_check(orbit_ts_add(NULL, s, ts, seq, &v, 0), 0);
            o_put(&o, ts, seq, k);
        } else if (kind == 3) { /* appending */
            ts = o.n ? o.p[o.n - 1].ts + rnd_in(0, 7) : ts;
            if (ts > span)
                ts = span;
            orbit_ts_value v = o_val(&o, k);
            mt_check(orbit_ts_add(NULL, s, ts, seq, &v, 0), 0);
            o_put(&o, ts, seq, k);
        } else if (kind == 4 && o.n) { /* change an existing value, often an extreme */
            const opt *p = &o.p[rnd() % o.n];
            int64_t ts2 = p->ts, seq2 = p->seq;
            orbit_ts_value v = o_val(&o, k);
            mt_check(orbit_ts_add(NULL, s, ts2, seq2, &v, 0), 0);
            o_put(&o, ts2, seq2, k);
        } else if (kind == 5 && o.n) { /* delete an existing point */
            const opt *p = &o.p[rnd() % o.n];
            int64_t ts2 = p->ts, seq2 = p->seq;
            mt_check(orbit_ts_del(NULL, s, ts2, seq2), 0);
            o_del(&o, ts2, seq2);
        } else if (kind == 6) { /* delete a maybe absent point */
            int f;
            o_find(&o, ts, seq, &f);
            mt_check(orbit_ts_del(NULL, s, ts, seq), f ? 0 : ORBIT_NOTFOUND);
            o_del(&o, ts, seq);
        } else if (kind == 7) { /* a range delete */
            int64_t to = ts + rnd_in(0, 60);
            uint64_t d;
            mt_check(orbit_ts_del_range(NULL, s, ts, to, &d), 0);
            assert_int_equal(d, o_del_range(&o, ts, to));
        } else { /* a batch, out of order, with repeats */
            orbit_ts_point b[24];
            size_t n = (size_t)rnd_in(1, 24);
            for (size_t i = 0; i < n; i++) {
                int64_t bk = rnd_k();
                b[i] = (orbit_ts_point){rnd_in(0, span), rnd_in(0, 2), o_val(&o, bk)};
                if (i && rnd() % 5 == 0) {
                    b[i].ts = b[i - 1].ts;
                    b[i].seq = b[i - 1].seq;
                }
            }
            size_t wr;
            mt_check(orbit_ts_madd(NULL, s, b, n, 0, &wr), 0);
            assert_int_equal(wr, n);
            for (size_t i = 0; i < n; i++)
                o_put(&o, b[i].ts, b[i].seq, type == ORBIT_TS_INT64 ? b[i].v.i
                                                                    : (int64_t)(b[i].v.d * 8));
        }
        if (op % (remote ? 35 : 50) == 49 % (remote ? 35 : 50)) {
            o_check_rollups(&o, s, 10, span);
            o_check_rollups(&o, s, 100, span);
        }
        if (op % 25 == 0) { /* an arbitrary aggregation */
            int64_t from = rnd_in(-5, span), to = from + rnd_in(0, span / 2);
            int64_t w = rnd() % 2 ? 10 * rnd_in(1, 30) : rnd_in(1, 250);
            int64_t r3 = (int64_t)(rnd() % 3), align = r3 == 0 ? 0 : r3 == 1 ? from : to;
            o_check_agg(&o, s, from, to, (orbit_ts_agg)rnd_in(1, 7), w, align, (int)(rnd() % 2),
                        rnd() % 3 ? 0 : (size_t)rnd_in(1, 5));
        }
    }
    o_check_points(&o, s);
    o_check_rollups(&o, s, 10, span);
    o_check_rollups(&o, s, 100, span);
    orbit_ts_info info;
    mt_check(orbit_ts_info_get(NULL, s, &info), 0);
    assert_int_equal(info.count, o.n);
    if (o.n) {
        assert_int_equal(info.first_ts, o.p[0].ts);
        assert_int_equal(info.last_ts, o.p[o.n - 1].ts);
    }
    orbit_ts_info_release(&info);
    orbit_ts_close(s);
    orbit_actor_close(a);
}

static void test_random_rollups_int(void **state)
{
    (void)state;
    ct_store st;
    mt_open(&st);
    run_random(st.kv, ORBIT_TS_INT64, 0x9E3779B97F4A7C15u);
    mt_close(&st);
}

static void test_random_rollups_float(void **state)
{
    (void)state;
    ct_store st;
    mt_open(&st);
    run_random(st.kv, ORBIT_TS_FLOAT64, 0xD1B54A32D192ED03u);
    mt_close(&st);
}

/* ---- retention -------------------------------------------------------------- */

static void test_retention(void **state)
{
    (void)state;
    ct_store st;
    mt_open(&st);
    orbit_actor *a;
    mt_check(orbit_actor_open(st.kv, "dev", "ret", &a), 0);
    static const int64_t grans[] = {100, 1000};
    /* written without a retention (a write would apply it), then given one */
    orbit_series *s = make(a, "x", ORBIT_TS_INT64, 2, grans, 0);
    int remote = is_remote(st.kv);
    int n = remote ? 300 : 3000; /* on etcd several chunks (max_txn_keys) */
    static oracle o;
    o.type = ORBIT_TS_INT64;
    o.n = 0;
    static orbit_ts_point p[3000];
    for (int i = 0; i < n; i++) {
        p[i] = (orbit_ts_point){i * 7, 0, iv((i * 37) % 101)};
        o_put(&o, i * 7, 0, (i * 37) % 101);
    }
    size_t wr;
    mt_check(orbit_ts_madd(NULL, s, p, (size_t)n, 0, &wr), 0);
    assert_int_equal(wr, n);
    orbit_ts_create_opts ret = {0};
    ret.retention_ms = 1000;
    mt_check(orbit_ts_alter(NULL, s, ORBIT_TS_ALTER_RETENTION, &ret), 0);
    int64_t last = (int64_t)(n - 1) * 7;
    /* retention 1000 relative to the newest point: ts < last - 1000 go,
     * cutting through a bucket of each granularity */
    uint64_t d;
    mt_check(orbit_ts_expire(NULL, s, ORBIT_TS_NOW_LAST, &d), 0);
    assert_int_equal(d, o_del_range(&o, 0, last - 1000 - 1));
    o_check_points(&o, s);
    o_check_rollups(&o, s, 100, last);
    o_check_rollups(&o, s, 1000, last);
    mt_check(orbit_ts_expire(NULL, s, ORBIT_TS_NOW_LAST, &d), 0);
    assert_int_equal(d, 0);
    /* the caller's clock, inside a transaction */
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_ts_expire(tx, s, last + 500, &d), 0);
    mt_check(orbit_tx_commit(tx), 0);
    assert_int_equal(d, o_del_range(&o, 0, last + 500 - 1000 - 1));
    o_check_points(&o, s);
    o_check_rollups(&o, s, 100, last);
    o_check_rollups(&o, s, 1000, last);
    /* the whole-bucket rollups went with their points */
    orbit_ts_info info;
    mt_check(orbit_ts_info_get(NULL, s, &info), 0);
    assert_int_equal(info.count, o.n);
    assert_true(info.rollups <= 2);
    orbit_ts_info_release(&info);
    /* retention 0 keeps everything */
    orbit_ts_create_opts alt = {0};
    mt_check(orbit_ts_alter(NULL, s, ORBIT_TS_ALTER_RETENTION, &alt), 0);
    mt_check(orbit_ts_expire(NULL, s, INT64_MAX / 8, &d), 0);
    assert_int_equal(d, 0);
    orbit_ts_close(s);
    /* drop in chunks */
    mt_check(orbit_ts_drop(NULL, a, "x"), 0);
    orbit_actor_close(a);
    mt_close(&st);
}

/* ---- batches and transactions ----------------------------------------------- */

static void test_batch_chunks_and_limits(void **state)
{
    (void)state;
    ct_store st;
    mt_open(&st);
    orbit_capabilities caps;
    orbit_kv_capabilities(st.kv, &caps);
    orbit_actor *a;
    mt_check(orbit_actor_open(st.kv, "dev", "bat", &a), 0);
    static const int64_t grans[] = {10};
    orbit_series *s = make(a, "x", ORBIT_TS_FLOAT64, 1, grans, 0);
    enum { N = 400 };
    static orbit_ts_point p[N];
    for (int i = 0; i < N; i++)
        p[i] = (orbit_ts_point){(int64_t)(N - i) * 3, 0, fv(i)}; /* reversed */
    /* a bad point anywhere: nothing written */
    p[N - 1].v.type = ORBIT_TS_INT64;
    size_t wr = 99;
    mt_check(orbit_ts_madd(NULL, s, p, N, 0, &wr), ORBIT_EINVAL);
    assert_int_equal(wr, 0);
    p[N - 1].v.type = ORBIT_TS_FLOAT64;
    got *g = calloc(1, sizeof *g);
    mt_check(orbit_ts_range(NULL, s, INT64_MIN, INT64_MAX, NULL, collect, g), 0);
    assert_int_equal(g->n, 0);

    if (caps.max_txn_keys) { /* over one transaction: refused in a caller's tx */
        orbit_tx *tx;
        mt_check(orbit_tx_begin(NULL, &tx), 0);
        mt_check(orbit_ts_madd(tx, s, p, N, 0, &wr), ORBIT_ETOOBIG);
        mt_check(orbit_tx_commit(tx), ORBIT_ECLOSED);
    }
    mt_check(orbit_ts_madd(NULL, s, p, N, 0, &wr), 0); /* chunked where needed */
    assert_int_equal(wr, N);
    g->n = 0;
    mt_check(orbit_ts_range(NULL, s, INT64_MIN, INT64_MAX, NULL, collect, g), 0);
    assert_int_equal(g->n, N);
    for (int i = 0; i < N; i++)
        assert_true(g->ts[i] == (int64_t)(i + 1) * 3 && g->v[i].d == (double)(N - 1 - i));
    bgot *b = calloc(1, sizeof *b);
    orbit_ts_agg_opts ao = {ORBIT_TS_AGG_COUNT, 1000000, 0, 0, 0};
    mt_check(orbit_ts_aggregate(NULL, s, 0, 999999, &ao, bcollect, b), 0);
    assert_true(b->n == 1 && b->b[0].value.i == N);
    uint64_t d;
    mt_check(orbit_ts_del_range(NULL, s, 0, 3 * N, &d), 0); /* chunked too */
    assert_int_equal(d, N);
    b->n = 0;
    mt_check(orbit_ts_aggregate(NULL, s, 0, 999999, &ao, bcollect, b), 0);
    assert_int_equal(b->n, 0);
    free(g);
    free(b);
    orbit_ts_close(s);
    orbit_actor_close(a);
    mt_close(&st);
}

static int notified;
static unsigned models_seen;
static void on_commit(void *arg, const orbit_tx_change *c, size_t n, uint64_t v)
{
    (void)arg;
    (void)v;
    notified++;
    for (size_t i = 0; i < n; i++)
        models_seen |= c[i].models;
}

typedef struct txw {
    orbit_actor *a;
} txw;

static void test_transactions(void **state)
{
    (void)state;
    ct_store st;
    mt_open(&st);
    orbit_actor *a;
    mt_check(orbit_actor_open(st.kv, "dev", "tx", &a), 0);
    uint64_t lid;
    mt_check(orbit_tx_listen(on_commit, NULL, &lid), 0);
    notified = 0;
    models_seen = 0;

    /* create, write and read inside one transaction, then roll back */
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_ts_create(tx, a, "x", NULL), 0);
    orbit_series *s;
    mt_check(orbit_ts_open(tx, a, "x", &s), 0);
    orbit_ts_value v = fv(2.5);
    mt_check(orbit_ts_add(tx, s, 100, 0, &v, 0), 0);
    v = fv(3.5);
    mt_check(orbit_ts_add(tx, s, 200, 0, &v, 0), 0);
    bgot b = {0};
    orbit_ts_agg_opts ao = {ORBIT_TS_AGG_SUM, 60000, 0, 0, 0};
    mt_check(orbit_ts_aggregate(tx, s, 0, 59999, &ao, bcollect, &b), 0);
    assert_true(b.n == 1 && b.b[0].value.d == 6.0);
    mt_check(orbit_ts_add(tx, s, 300, 0, &v, ORBIT_TS_DUP_MIN), 0);
    mt_check(orbit_ts_add(tx, s, 300, 0, &v, ORBIT_TS_DUP_BLOCK), ORBIT_EEXIST); /* tx usable */
    orbit_tx_rollback(tx);
    orbit_ts_close(s);
    assert_int_equal(notified, 0);
    mt_check(orbit_ts_open(NULL, a, "x", &s), ORBIT_NOTFOUND);

    /* the same committed */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_ts_create(tx, a, "x", NULL), 0);
    mt_check(orbit_ts_open(tx, a, "x", &s), 0);
    v = fv(2.5);
    mt_check(orbit_ts_add(tx, s, 100, 0, &v, 0), 0);
    mt_check(orbit_tx_commit(tx), 0);
    assert_int_equal(notified, 1);
    assert_true(models_seen & (1u << ORBIT_MODEL_TS));
    got g = {0};
    mt_check(orbit_ts_last(NULL, s, collect, &g), 0);
    assert_true(g.n == 1 && g.v[0].d == 2.5);

    /* a failed write leaves the transaction failed */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    v = fv(1);
    mt_check(orbit_ts_add(tx, s, 1, 0, &v, 0), 0);
    orbit_tx_fail(tx, ORBIT_EIO);
    mt_check(orbit_tx_commit(tx), ORBIT_ECLOSED);
    mt_check(orbit_ts_get(NULL, s, 1, 0, collect, &g), ORBIT_NOTFOUND);

    mt_check(orbit_tx_unlisten(lid), 0);
    orbit_ts_close(s);
    orbit_actor_close(a);
    mt_close(&st);
}

/* ---- costs ---------------------------------------------------------------------- */

static void test_costs(void **state)
{
    (void)state;
    ct_store st;
    mt_open(&st);
    int remote = is_remote(st.kv);
    orbit_actor *a, *other;
    mt_check(orbit_actor_open(st.kv, "host", "c1", &a), 0);
    mt_check(orbit_actor_open(st.kv, "host", "c2", &other), 0);
    static const int64_t grans[] = {60000, 3600000};
    orbit_series *s = make(a, "cpu", ORBIT_TS_FLOAT64, 2, grans, 0);
    orbit_series *mem = make(a, "mem", ORBIT_TS_FLOAT64, 2, grans, 0);
    orbit_series *o = make(other, "cpu", ORBIT_TS_FLOAT64, 2, grans, 0);
    /* much more unrelated data: the same times in two other series, plain keys */
    size_t nother = remote ? 240 : 3000;
    orbit_ts_point *p = calloc(nother, sizeof *p);
    for (size_t i = 0; i < nother; i++)
        p[i] = (orbit_ts_point){(int64_t)i * 1000, 0, fv((double)i)};
    mt_check(orbit_ts_madd(NULL, o, p, nother, 0, NULL), 0);
    mt_check(orbit_ts_madd(NULL, mem, p, nother, 0, NULL), 0);
    for (int i = 0; i < (remote ? 20 : 500); i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        mt_check(orbit_kv_put(st.kv, (const uint8_t *)k, strlen(k), (const uint8_t *)"v", 1), 0);
    }
    /* the series under test: a point every 10 s for 24 minutes */
    enum { N = 144 };
    for (size_t i = 0; i < N; i++)
        p[i] = (orbit_ts_point){(int64_t)i * 10000, 0, fv((double)i)};
    mt_check(orbit_ts_madd(NULL, s, p, N, 0, NULL), 0);

    mt_counter c;
    orbit_kv_stats d;
    got *g = calloc(1, sizeof *g);
    bgot *b = calloc(1, sizeof *b);

    /* a time range reads only its points, in one scan */
    mt_stats_reset(st.kv, &c);
    mt_check(orbit_ts_range(NULL, s, 100000, 299999, NULL, collect, g), 0);
    d = mt_stats_delta(st.kv, &c);
    assert_int_equal(g->n, 20);
    assert_int_equal(d.keys_read, 20);
    assert_int_equal(d.read_calls, 1);
    orbit_ts_range_opts ro = {1, 5};
    mt_stats_reset(st.kv, &c);
    mt_check(orbit_ts_range(NULL, s, 0, INT64_MAX, &ro, collect, g), 0);
    d = mt_stats_delta(st.kv, &c);
    assert_int_equal(d.keys_read, 5);
    assert_int_equal(d.read_calls, 1);

    /* TS.GET: one key */
    mt_stats_reset(st.kv, &c);
    g->n = 0;
    mt_check(orbit_ts_last(NULL, s, collect, g), 0);
    d = mt_stats_delta(st.kv, &c);
    assert_true(g->n == 1 && g->ts[0] == (N - 1) * 10000);
    assert_int_equal(d.keys_read, 1);
    assert_int_equal(d.read_calls, 1);
    mt_stats_reset(st.kv, &c);
    mt_check(orbit_ts_get(NULL, s, 50000, 0, collect, g), 0);
    d = mt_stats_delta(st.kv, &c);
    assert_int_equal(d.keys_read, 1);
    assert_int_equal(d.read_calls, 1);

    /* an aggregation over whole buckets reads rollups only: one per bucket */
    orbit_ts_agg_opts ao = {ORBIT_TS_AGG_AVG, 60000, 0, 0, 0};
    mt_stats_reset(st.kv, &c);
    b->n = 0;
    mt_check(orbit_ts_aggregate(NULL, s, 3 * 60000, 10 * 60000 - 1, &ao, bcollect, b), 0);
    d = mt_stats_delta(st.kv, &c);
    assert_int_equal(b->n, 7);
    assert_int_equal(d.keys_read, 7);
    assert_int_equal(d.read_calls, 1);
    assert_true(b->b[0].start == 180000 && b->b[0].count == 6 && b->b[0].value.d == 20.5);
    ao.bucket_ms = 120000; /* two minute buckets per output bucket */
    ao.agg = ORBIT_TS_AGG_MAX;
    mt_stats_reset(st.kv, &c);
    b->n = 0;
    mt_check(orbit_ts_aggregate(NULL, s, 2 * 60000, 10 * 60000 - 1, &ao, bcollect, b), 0);
    d = mt_stats_delta(st.kv, &c);
    assert_int_equal(b->n, 4);
    assert_int_equal(d.keys_read, 8);
    assert_true(b->b[3].value.d == 59.0);
    ao.bucket_ms = 3600000; /* the hour granularity: one rollup */
    ao.agg = ORBIT_TS_AGG_COUNT;
    mt_stats_reset(st.kv, &c);
    b->n = 0;
    mt_check(orbit_ts_aggregate(NULL, s, 0, 3600000 - 1, &ao, bcollect, b), 0);
    d = mt_stats_delta(st.kv, &c);
    assert_true(b->n == 1 && b->b[0].value.i == N);
    assert_int_equal(d.keys_read, 1);
    /* unaligned edges: the edge points plus the whole buckets between */
    ao.bucket_ms = 60000;
    ao.agg = ORBIT_TS_AGG_SUM;
    mt_stats_reset(st.kv, &c);
    b->n = 0;
    mt_check(orbit_ts_aggregate(NULL, s, 3 * 60000 + 25000, 10 * 60000 + 15000, &ao, bcollect, b), 0);
    d = mt_stats_delta(st.kv, &c);
    assert_int_equal(b->n, 8);
    assert_int_equal(d.keys_read, 3 + 6 + 2); /* 205..235 s, minutes 4..9, 600..610 s */
    assert_int_equal(d.read_calls, 3);
    /* reversed with a limit stops early */
    ao.reverse = 1;
    ao.limit = 2;
    mt_stats_reset(st.kv, &c);
    b->n = 0;
    mt_check(orbit_ts_aggregate(NULL, s, 0, 24 * 60000 - 1, &ao, bcollect, b), 0);
    d = mt_stats_delta(st.kv, &c);
    assert_true(b->n == 2 && b->b[0].start == 23 * 60000 && b->b[1].start == 22 * 60000);
    assert_true(d.keys_read <= 3);

    /* ingest in order reads the rollups it changes, never the points */
    for (size_t i = 0; i < 60; i++)
        p[i] = (orbit_ts_point){(int64_t)(N + i) * 10000, 0, fv((double)i)};
    mt_stats_reset(st.kv, &c);
    mt_check(orbit_ts_madd(NULL, s, p, 60, 0, NULL), 0);
    d = mt_stats_delta(st.kv, &c);
    /* 10 minute buckets (24..33) and one hour bucket, and the definition
     * (its retention: none, so nothing more) */
    assert_int_equal(d.read_calls, 12);
    assert_true(d.keys_read <= 12);
    assert_int_equal(d.multi_gets, 0);

    orbit_ts_info info;
    mt_stats_reset(st.kv, &c);
    mt_check(orbit_ts_info_get(NULL, s, &info), 0);
    d = mt_stats_delta(st.kv, &c);
    assert_int_equal(info.count, N + 60);
    assert_int_equal(info.last_ts, (N + 59) * 10000);
    assert_int_equal(d.keys_read, 1 + 1 + 2); /* definition, one hour rollup, two ends */
    orbit_ts_info_release(&info);

    free(g);
    free(b);
    free(p);
    orbit_ts_close(s);
    orbit_ts_close(mem);
    orbit_ts_close(o);
    orbit_actor_close(a);
    orbit_actor_close(other);
    mt_close(&st);
}

/* ---- concurrent writers of one bucket ----------------------------------------- */

typedef struct writer {
    orbit_series *s;
    int id, n, threads;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    for (int i = 0; i < w->n; i++) {
        orbit_ts_value v = iv(w->id * 1000 + i);
        int rc;
        do /* a conflict past the built-in retries applied nothing: again */
            rc = orbit_ts_add(NULL, w->s, (int64_t)i * w->threads + w->id, 0, &v, 0);
        while (rc == ORBIT_ECONFLICT || rc == ORBIT_EBUSY);
        if (rc)
            return (void *)(intptr_t)rc;
    }
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    (void)state;
    ct_store st;
    mt_open(&st);
    orbit_actor *a;
    mt_check(orbit_actor_open(st.kv, "dev", "conc", &a), 0);
    static const int64_t grans[] = {16, 64};
    orbit_series *s = make(a, "x", ORBIT_TS_INT64, 2, grans, 0);
    int remote = is_remote(st.kv);
    enum { T = 4 };
    int n = remote ? 12 : 60;
    pthread_t th[T];
    writer w[T];
    for (int t = 0; t < T; t++) {
        w[t] = (writer){s, t, n, T};
        assert_int_equal(pthread_create(&th[t], NULL, writer_main, &w[t]), 0);
    }
    for (int t = 0; t < T; t++) {
        void *r;
        pthread_join(th[t], &r);
        mt_check((int)(intptr_t)r, 0);
    }
    static oracle o;
    o.type = ORBIT_TS_INT64;
    o.n = 0;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < n; i++)
            o_put(&o, (int64_t)i * T + t, 0, t * 1000 + i);
    o_check_points(&o, s);
    o_check_rollups(&o, s, 16, (int64_t)n * T);
    o_check_rollups(&o, s, 64, (int64_t)n * T);
    orbit_ts_close(s);
    orbit_actor_close(a);
    mt_close(&st);
}

/* Exact sums of values with full mantissas over a wide range of
 * magnitudes, against a 128-bit integer oracle. */
static void test_exact_sum_random(void **state)
{
    (void)state;
    ct_store st;
    mt_open(&st);
    orbit_actor *a;
    mt_check(orbit_actor_open(st.kv, "dev", "sum", &a), 0);
    orbit_series *s = make(a, "x", ORBIT_TS_FLOAT64, 0, NULL, 0);
    enum { N = 100 };
    static orbit_ts_point p[N];
    static __int128 scaled[N]; /* value * 2^40 */
    rng_state = 0x2545F4914F6CDD1Du;
    for (int i = 0; i < N; i++) {
        int64_t j = (int64_t)(rnd() >> 11) | 1; /* 53 bits, odd */
        int e = (int)(rnd() % 3) * 20 - 40;     /* 2^-40, 2^-20, 2^0 */
        if (rnd() % 2)
            j = -j;
        scaled[i] = (__int128)j * ((__int128)1 << (e + 40));
        p[i] = (orbit_ts_point){(int64_t)(rnd() % 60000), (int64_t)i, fv(ldexp((double)j, e))};
    }
    mt_check(orbit_ts_madd(NULL, s, p, N, 0, NULL), 0);
    for (int round = 0; round < 3; round++) {
        __int128 sum = 0;
        for (int i = 0; i < N; i++)
            if (scaled[i] != 0 || round == 0)
                sum += scaled[i];
        bgot b = {0};
        orbit_ts_agg_opts ao = {ORBIT_TS_AGG_SUM, 60000, 0, 0, 0};
        mt_check(orbit_ts_aggregate(NULL, s, 0, 59999, &ao, bcollect, &b), 0);
        assert_int_equal(b.n, 1);
        assert_true(b.b[0].value.d == ldexp((double)sum, -40));
        /* delete a third of the points, then change a third */
        for (int i = round; i < N; i += 3) {
            if (round == 0) {
                mt_check(orbit_ts_del(NULL, s, p[i].ts, p[i].seq), 0);
                scaled[i] = 0;
            } else if (round == 1 && scaled[i] != 0) {
                orbit_ts_value v = fv(-p[i].v.d);
                mt_check(orbit_ts_add(NULL, s, p[i].ts, p[i].seq, &v, 0), 0);
                scaled[i] = -scaled[i];
            }
        }
    }
    orbit_ts_close(s);
    orbit_actor_close(a);
    mt_close(&st);
}

/* A writer holding a handle across a drop leaves points behind; creating
 * the name again clears them, and a drop inside a transaction rolls back. */
static void test_drop_stale_writer_and_tx(void **state)
{
    (void)state;
    ct_store st;
    mt_open(&st);
    orbit_actor *a;
    mt_check(orbit_actor_open(st.kv, "dev", "drop", &a), 0);
    orbit_series *s = make(a, "x", ORBIT_TS_INT64, 0, NULL, 0);
    orbit_ts_value v = iv(1);
    mt_check(orbit_ts_add(NULL, s, 10, 0, &v, 0), 0);
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_ts_drop(tx, a, "x"), 0);
    orbit_tx_rollback(tx);
    got g = {0};
    mt_check(orbit_ts_range(NULL, s, 0, 100, NULL, collect, &g), 0);
    assert_int_equal(g.n, 1);
    mt_check(orbit_ts_drop(NULL, a, "x"), 0);
    /* the stale handle: its write finds no definition, writes nothing */
    mt_check(orbit_ts_add(NULL, s, 20, 0, &v, 0), ORBIT_NOTFOUND);
    mt_check(orbit_ts_create(NULL, a, "x", NULL), 0);
    orbit_series *s2;
    mt_check(orbit_ts_open(NULL, a, "x", &s2), 0);
    assert_int_equal(orbit_ts_id(s2), orbit_ts_id(s));
    assert_int_equal(orbit_ts_value_type(s2), ORBIT_TS_FLOAT64);
    g.n = 0;
    mt_check(orbit_ts_range(NULL, s2, INT64_MIN, INT64_MAX, NULL, collect, &g), 0);
    assert_int_equal(g.n, 0);
    orbit_ts_info info;
    mt_check(orbit_ts_info_get(NULL, s2, &info), 0);
    assert_int_equal(info.count, 0);
    assert_int_equal(info.rollups, 0);
    orbit_ts_info_release(&info);
    orbit_ts_close(s);
    orbit_ts_close(s2);
    orbit_actor_close(a);
    mt_close(&st);
}

/* ---- retention applied on write ---------------------------------------------- */

/* What a write does to the oracle: points older than newest - ret are not
 * written; stored ones in finest buckets wholly before that go. */
static void o_write(oracle *o, const orbit_ts_point *p, size_t n, int64_t ret, int64_t g0)
{
    int64_t newest = o->n ? o->p[o->n - 1].ts : INT64_MIN;
    for (size_t i = 0; i < n; i++)
        if (p[i].ts > newest)
            newest = p[i].ts;
    int64_t cutoff = newest > ret ? newest - ret : 0;
    for (size_t i = 0; i < n; i++)
        if (p[i].ts >= cutoff)
            o_put(o, p[i].ts, p[i].seq, p[i].v.i);
    int64_t hi = floor_div(cutoff, g0) * g0;
    if (hi > 0)
        o_del_range(o, 0, hi - 1);
}

static void test_retention_on_write(void **state)
{
    (void)state;
    ct_store st;
    mt_open(&st);
    int remote = is_remote(st.kv);
    orbit_actor *a;
    mt_check(orbit_actor_open(st.kv, "dev", "rw", &a), 0);
    static const int64_t grans[] = {100, 1000};
    enum { R = 1000 };
    orbit_series *s = make(a, "x", ORBIT_TS_INT64, 2, grans, R);
    static oracle o;
    o.type = ORBIT_TS_INT64;
    o.n = 0;
    orbit_ts_point p[16];
    size_t wr;

    /* steady ingest in batches: the series keeps about the retention */
    int n = remote ? 120 : 1200, step = remote ? 25 : 7;
    for (int i = 0; i < n; i += 10) {
        for (int j = 0; j < 10; j++)
            p[j] = (orbit_ts_point){(int64_t)(i + j) * step, 0, iv(((i + j) * 37) % 101)};
        mt_check(orbit_ts_madd(NULL, s, p, 10, ORBIT_TS_DUP_LAST, &wr), 0);
        assert_int_equal(wr, 10);
        o_write(&o, p, 10, R, 100);
    }
    int64_t newest = (int64_t)(n - 1) * step;
    /* the oldest point kept: in the finest bucket of newest - R, or the
     * first one after it */
    assert_true(o.p[0].ts > newest - R - 100 && o.p[0].ts < newest - R + step);
    o_check_points(&o, s);
    o_check_rollups(&o, s, 100, newest);
    o_check_rollups(&o, s, 1000, newest);

    /* TS.ADD of a point older than the retention: EINVAL, nothing written;
     * one at the edge is written */
    orbit_ts_value v = iv(5);
    mt_check(orbit_ts_add(NULL, s, newest - R - 1, 0, &v, ORBIT_TS_DUP_LAST), ORBIT_EINVAL);
    mt_check(orbit_ts_add(NULL, s, newest - R, 0, &v, ORBIT_TS_DUP_LAST), 0);
    p[0] = (orbit_ts_point){newest - R, 0, v};
    o_write(&o, p, 1, R, 100);
    o_check_points(&o, s);
    /* a batch: its expired points are skipped (counted as written), its
     * newest point moves the cutoff for the others and the stored ones */
    p[0] = (orbit_ts_point){newest - R - 50, 0, iv(1)};
    p[1] = (orbit_ts_point){newest + 150, 0, iv(2)};
    p[2] = (orbit_ts_point){newest - R - 500, 0, iv(3)};
    p[3] = (orbit_ts_point){newest + 120, 0, iv(4)};
    mt_check(orbit_ts_madd(NULL, s, p, 4, ORBIT_TS_DUP_LAST, &wr), 0);
    assert_int_equal(wr, 4);
    o_write(&o, p, 4, R, 100);
    newest += 150;
    o_check_points(&o, s);
    o_check_rollups(&o, s, 100, newest);
    o_check_rollups(&o, s, 1000, newest);

    /* in a caller's transaction: the trim is part of it (on etcd a smaller
     * step: the trim's share of a transaction's keys fits 2 or 3 buckets
     * of 4 points there, and the gap case below covers the rest) */
    int64_t jump = remote ? 250 : 600;
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_ts_add(tx, s, newest + jump, 0, &v, ORBIT_TS_DUP_LAST), 0);
    orbit_tx_rollback(tx);
    o_check_points(&o, s);
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_ts_add(tx, s, newest + jump, 0, &v, ORBIT_TS_DUP_LAST), 0);
    mt_check(orbit_tx_commit(tx), 0);
    p[0] = (orbit_ts_point){newest + jump, 0, v};
    o_write(&o, p, 1, R, 100);
    newest += jump;
    o_check_points(&o, s);
    o_check_rollups(&o, s, 100, newest);
    o_check_rollups(&o, s, 1000, newest);

    /* the cost of a write that expires nothing: the rollups, the definition,
     * the last point, one probe of the finest rollups */
    mt_counter c;
    mt_stats_reset(st.kv, &c);
    mt_check(orbit_ts_add(NULL, s, newest + 1, 0, &v, ORBIT_TS_DUP_LAST), 0);
    orbit_kv_stats d = mt_stats_delta(st.kv, &c);
    assert_int_equal(d.read_calls, 2 + 1 + 1 + 1);
    assert_int_equal(d.multi_gets, 0);
    p[0] = (orbit_ts_point){newest + 1, 0, v};
    o_write(&o, p, 1, R, 100);
    newest += 1;

    /* retention 0: a write far ahead deletes nothing */
    orbit_ts_create_opts alt = {0};
    mt_check(orbit_ts_alter(NULL, s, ORBIT_TS_ALTER_RETENTION, &alt), 0);
    mt_check(orbit_ts_add(NULL, s, newest + 100000, 0, &v, ORBIT_TS_DUP_LAST), 0);
    o_put(&o, newest + 100000, 0, v.i);
    o_check_points(&o, s);
    orbit_ts_close(s);

    /* a write after a long gap deletes at most 64 finest buckets (on a
     * provider with max_txn_keys, as many as fit a quarter of a
     * transaction), the oldest first; each next write goes on (a coarser
     * bucket cut by the boundary is rebuilt) */
    static oracle og;
    og.type = ORBIT_TS_INT64;
    og.n = 0;
    orbit_series *gs = make(a, "gap", ORBIT_TS_INT64, 2, grans, 10000);
    for (int i = 0; i < 200; i += 10) { /* 100 finest buckets, none expired */
        for (int j = 0; j < 10; j++)
            p[j] = (orbit_ts_point){(int64_t)(i + j) * 50, 0, iv((i + j) % 13)};
        mt_check(orbit_ts_madd(NULL, gs, p, 10, ORBIT_TS_DUP_LAST, NULL), 0);
        o_write(&og, p, 10, 10000, 100);
    }
    assert_int_equal(og.n, 200);
    int64_t kept = 0; /* the expired points before this are gone */
    static got gg;
    for (int k = 0; kept < 10000; k++) {
        assert_true(k < 100);
        mt_check(orbit_ts_add(NULL, gs, 100000 + k, 0, &v, ORBIT_TS_DUP_LAST), 0);
        o_put(&og, 100000 + k, 0, v.i);
        gg.n = 0;
        mt_check(orbit_ts_range(NULL, gs, INT64_MIN, INT64_MAX, NULL, collect, &gg), 0);
        int64_t next = gg.ts[0] >= 10000 ? 10000 : floor_div(gg.ts[0], 100) * 100;
        assert_true(next > kept && next - kept <= 64 * 100);
        kept = next;
        if (!remote && k == 0)
            assert_int_equal(kept, 64 * 100); /* no key limit: 64 buckets */
        o_del_range(&og, 0, kept - 1);
        o_check_points(&og, gs);
        o_check_rollups(&og, gs, 100, 100000 + k);
        o_check_rollups(&og, gs, 1000, 100000 + k);
    }
    assert_true(og.n >= 1 && og.p[0].ts >= 100000);
    orbit_ts_info info;
    mt_check(orbit_ts_info_get(NULL, gs, &info), 0);
    assert_int_equal(info.count, og.n);
    assert_int_equal(info.rollups, 1);
    orbit_ts_info_release(&info);
    orbit_ts_close(gs);

    /* one expired bucket of more points than a trim may delete on etcd
     * (a quarter of 126 keys): it goes a part per write, the oldest first,
     * its rollup (and the coarser one) recomputed each time */
    static const int64_t g2[] = {1000, 10000};
    og.n = 0;
    orbit_series *bs = make(a, "big", ORBIT_TS_INT64, 2, g2, 100);
    for (int i = 0; i < 60; i += 10) {
        for (int j = 0; j < 10; j++)
            p[j] = (orbit_ts_point){(int64_t)(i + j) * 10, 0, iv((i + j) % 11)};
        mt_check(orbit_ts_madd(NULL, bs, p, 10, ORBIT_TS_DUP_LAST, NULL), 0);
        o_write(&og, p, 10, 100, 1000);
    }
    assert_int_equal(og.n, 60); /* newest 590: nothing before bucket 0 */
    kept = 0;
    for (int k = 0; kept < 1000; k++) {
        assert_true(k < 10);
        mt_check(orbit_ts_add(NULL, bs, 1200 + k, 0, &v, ORBIT_TS_DUP_LAST), 0);
        o_put(&og, 1200 + k, 0, v.i);
        gg.n = 0;
        mt_check(orbit_ts_range(NULL, bs, INT64_MIN, INT64_MAX, NULL, collect, &gg), 0);
        int64_t next = gg.ts[0] >= 1000 ? 1000 : gg.ts[0];
        assert_true(next > kept);
        if (!remote)
            assert_int_equal(next, 1000); /* no key limit: all at once */
        kept = next;
        o_del_range(&og, 0, kept - 1);
        o_check_points(&og, bs);
        o_check_rollups(&og, bs, 1000, 1200 + k);
        o_check_rollups(&og, bs, 10000, 1200 + k);
    }
    orbit_ts_close(bs);
    orbit_actor_close(a);
    mt_close(&st);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_definition),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_value_types),
        cmocka_unit_test(test_duplicate_policies),
        cmocka_unit_test(test_range_forward_reverse_limit),
        cmocka_unit_test(test_exact_sum),
        cmocka_unit_test(test_random_rollups_int),
        cmocka_unit_test(test_random_rollups_float),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_batch_chunks_and_limits),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_costs),
        cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_exact_sum_random),
        cmocka_unit_test(test_drop_stale_writer_and_tx),
        cmocka_unit_test(test_retention_on_write),
    };
    return mt_main(argc, argv, tests, sizeof tests / sizeof tests[0]);
}
