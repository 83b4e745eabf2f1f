/*
 * The time-series model's reads (orbit/timeseries.h): a point, the last
 * point, time ranges forward and reverse, aggregations by time bucket, and
 * TS.INFO.
 *
 * An aggregation reads up to three sources in time order (or all reversed):
 * the points of the partial granularity bucket at `from`, the rollups of
 * the whole granularity buckets in between, and the points of the partial
 * bucket at `to`, where the granularity is the coarsest one that divides
 * both the bucket width and the alignment (every output bucket is then a
 * union of whole granularity buckets, so a rollup never straddles two);
 * without one, the points of the range. Items (points or rollups) are
 * merged into one accumulator per output bucket (ts__roll_merge, which is
 * order independent), and a bucket is emitted when the next item falls in
 * another, so the read stops as soon as the limit is reached.
 *
 * Without a transaction a read that makes several scans takes one
 * snapshot for them (where the provider has snapshots), so its sources
 * agree.
 *
 * Layer: src/model, on the contract; encodings in timeseries_codec.c.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "model/timeseries_int.h"
#include "orbit/codec.h"
#include "orbit/provider.h"

/* ---- the reader --------------------------------------------------------- */

int ts__reader_open(ts_reader *r, orbit_tx *tx, const orbit_series *s, int snapshot)
{
    memset(r, 0, sizeof *r);
    if (tx)
        return orbit_tx_kv_txn(tx, s->kv, orbit_actor_type(s->a), orbit_actor_id(s->a), &r->txn);
    r->kv = s->kv;
    if (snapshot) {
        orbit_capabilities c;
        orbit_kv_capabilities(s->kv, &c);
        if (c.supports_snapshots)
            return orbit_kv_snapshot(s->kv, &r->snap);
    }
    return ORBIT_OK;
}

void ts__reader_close(ts_reader *r)
{
    if (r->snap)
        orbit_snapshot_release(r->snap);
    r->snap = NULL;
}

int ts__reader_iter(ts_reader *r, const orbit_scan_opts *so, orbit_iter **out)
{
    if (r->txn)
        return orbit_txn_iter(r->txn, so, out);
    orbit_read_opts ro = {r->snap};
    return orbit_kv_iter(r->kv, &ro, so, out);
}

int ts__reader_get(ts_reader *r, const uint8_t *k, size_t klen, orbit_buf *out)
{
    if (r->txn)
        return orbit_txn_get(r->txn, k, klen, out);
    orbit_read_opts ro = {r->snap};
    return orbit_kv_get(r->kv, &ro, k, klen, out);
}

/* ---- decoding ----------------------------------------------------------- */

static int decode_point(const orbit_series *s, size_t plen, const uint8_t *k, size_t kl,
                        const uint8_t *v, size_t vl, orbit_buf *scratch, orbit_ts_point *p)
{
    const uint8_t *pay;
    size_t pn;
    int rc = ts__point_key_decode(k, kl, plen, &p->ts, &p->seq);
    rc = rc ? rc : ts__record_payload(v, vl, k, kl, scratch, &pay, &pn);
    return rc ? rc : ts__point_decode(pay, pn, s->type, k, kl, &p->v);
}

typedef int (*point_cb)(void *arg, const orbit_ts_point *p);

/* Scan the points in keys [lo, hi) in order (or reversed), at most limit
 * (0: all), calling cb per point. */
static int scan_points(const orbit_series *s, ts_reader *rd, const orbit_buf *lo,
                       const orbit_buf *hi, int reverse, size_t limit, point_cb cb, void *arg)
{
    orbit_buf pre = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT;
    int rc = ts__key_points_prefix(&pre, s);
    orbit_scan_opts so = {0};
    so.start = lo->data;
    so.start_len = lo->len;
    so.end = hi->data;
    so.end_len = hi->len;
    so.prefix = pre.data;
    so.prefix_len = pre.len;
    so.reverse = reverse;
    so.limit = limit;
    orbit_iter *it = NULL;
    rc = rc ? rc : ts__reader_iter(rd, &so, &it);
    const uint8_t *k, *v;
    size_t kl, vl;
    while (!rc && (rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0) {
        orbit_ts_point p;
        rc = decode_point(s, pre.len, k, kl, v, vl, &scratch, &p);
        rc = rc ? rc : cb(arg, &p);
    }
    if (rc == ORBIT_NOTFOUND)
        rc = ORBIT_OK;
    orbit_iter_close(it);
    orbit_buf_release(&pre);
    orbit_buf_release(&scratch);
    return rc;
}

static int roll_add_cb(void *arg, const orbit_ts_point *p)
{
    return ts__roll_add(arg, p->ts, p->seq, &p->v);
}

int ts__scan_roll(const orbit_series *s, ts_reader *rd, const orbit_buf *lo,
                  const orbit_buf *hi, ts_roll *r)
{
    ts__roll_reset(r);
    return scan_points(s, rd, lo, hi, 0, 0, roll_add_cb, r);
}

typedef int (*roll_cb)(void *arg, int64_t start, const ts_roll *r);

/* Scan the rollups of granularity g with start in [a, b). */
static int scan_rolls(const orbit_series *s, ts_reader *rd, int64_t g, int64_t a, int64_t b,
                      int reverse, roll_cb cb, void *arg)
{
    orbit_buf pre = ORBIT_BUF_INIT, lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT,
              scratch = ORBIT_BUF_INIT;
    int rc = ts__key_buckets_prefix(&pre, s, g);
    rc = rc ? rc : ts__key_bucket(&lo, s, g, a);
    rc = rc ? rc : ts__key_bucket(&hi, s, g, b);
    orbit_scan_opts so = {0};
    so.start = lo.data;
    so.start_len = lo.len;
    so.end = hi.data;
    so.end_len = hi.len;
    so.prefix = pre.data;
    so.prefix_len = pre.len;
    so.reverse = reverse;
    orbit_iter *it = NULL;
    rc = rc ? rc : ts__reader_iter(rd, &so, &it);
    ts_roll r;
    ts__roll_init(&r, s->type);
    const uint8_t *k, *v;
    size_t kl, vl;
    while (!rc && (rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0) {
        int64_t start;
        const uint8_t *pay;
        size_t pn;
        rc = ts__bucket_key_decode(k, kl, pre.len, &start);
        rc = rc ? rc : ts__record_payload(v, vl, k, kl, &scratch, &pay, &pn);
        rc = rc ? rc : ts__roll_decode(pay, pn, &r, k, kl);
        rc = rc ? rc : cb(arg, start, &r);
    }
    if (rc == ORBIT_NOTFOUND)
        rc = ORBIT_OK;
    orbit_iter_close(it);
    ts__roll_release(&r);
    orbit_buf_release(&pre);
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    orbit_buf_release(&scratch);
    return rc;
}

/* ---- points ------------------------------------------------------------- */

typedef struct one_arg {
    orbit_ts_point_fn fn;
    void *arg;
    int found;
} one_arg;

static int one_cb(void *arg, const orbit_ts_point *p)
{
    one_arg *o = arg;
    o->found = 1;
    return o->fn(o->arg, p);
}

int orbit_ts_get(orbit_tx *tx, const orbit_series *s, int64_t ts, int64_t seq,
                 orbit_ts_point_fn fn, void *arg)
{
    if (!s || !fn)
        return orbit_error_set(ORBIT_EINVAL, "timeseries get: a series and a callback are required");
    if (ts < 0 || ts > ORBIT_TS_MAX || seq < 0 || seq > ORBIT_TS_MAX)
        return ORBIT_NOTFOUND;
    ts_reader rd;
    int rc = ts__reader_open(&rd, tx, s, 0);
    if (rc)
        return rc;
    orbit_buf key = ORBIT_BUF_INIT, v = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT,
              pre = ORBIT_BUF_INIT;
    rc = ts__key_point(&key, s, ts, seq);
    rc = rc ? rc : ts__key_points_prefix(&pre, s);
    rc = rc ? rc : ts__reader_get(&rd, key.data, key.len, &v);
    if (!rc) {
        orbit_ts_point p;
        rc = decode_point(s, pre.len, key.data, key.len, v.data, v.len, &scratch, &p);
        rc = rc ? rc : fn(arg, &p);
    }
    orbit_buf_release(&key);
    orbit_buf_release(&v);
    orbit_buf_release(&scratch);
    orbit_buf_release(&pre);
    ts__reader_close(&rd);
    return rc;
}

int orbit_ts_last(orbit_tx *tx, const orbit_series *s, orbit_ts_point_fn fn, void *arg)
{
    if (!s || !fn)
        return orbit_error_set(ORBIT_EINVAL, "timeseries last: a series and a callback are required");
    ts_reader rd;
    int rc = ts__reader_open(&rd, tx, s, 0);
    if (rc)
        return rc;
    orbit_buf lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT;
    one_arg o = {fn, arg, 0};
    rc = ts__key_point_bound(&lo, s, 0);
    rc = rc ? rc : ts__key_point_bound(&hi, s, ORBIT_TS_MAX + 1);
    rc = rc ? rc : scan_points(s, &rd, &lo, &hi, 1, 1, one_cb, &o);
    if (!rc && !o.found)
        rc = ORBIT_NOTFOUND;
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    ts__reader_close(&rd);
    return rc;
}

/* Clamp inclusive [from, to] to stored timestamps as [lo, hi); 0 if empty. */
static int clamp(int64_t from, int64_t to, int64_t *lo, int64_t *hi)
{
    if (from > to || to < 0 || from > ORBIT_TS_MAX)
        return 0;
    *lo = from < 0 ? 0 : from;
    *hi = (to > ORBIT_TS_MAX ? ORBIT_TS_MAX : to) + 1;
    return 1;
}

int orbit_ts_range(orbit_tx *tx, const orbit_series *s, int64_t from, int64_t to,
                   const orbit_ts_range_opts *opts, orbit_ts_point_fn fn, void *arg)
{
    if (!s || !fn)
        return orbit_error_set(ORBIT_EINVAL, "timeseries range: a series and a callback are required");
    orbit_ts_range_opts o = {0};
    if (opts)
        o = *opts;
    int64_t lo, hi;
    if (!clamp(from, to, &lo, &hi))
        return ORBIT_OK;
    ts_reader rd;
    int rc = ts__reader_open(&rd, tx, s, 0);
    if (rc)
        return rc;
    orbit_buf l = ORBIT_BUF_INIT, h = ORBIT_BUF_INIT;
    rc = ts__key_point_bound(&l, s, lo);
    rc = rc ? rc : ts__key_point_bound(&h, s, hi);
    rc = rc ? rc : scan_points(s, &rd, &l, &h, o.reverse, o.limit, (point_cb)fn, arg);
    orbit_buf_release(&l);
    orbit_buf_release(&h);
    ts__reader_close(&rd);
    return rc;
}

/* ---- aggregation -------------------------------------------------------- */

typedef struct agg_state {
    const orbit_series *s;
    orbit_ts_agg_opts o;
    orbit_ts_bucket_fn fn;
    void *arg;
    ts_roll acc;
    int64_t cur;
    int has, done;
    size_t emitted;
} agg_state;

static int64_t out_bucket(const agg_state *st, int64_t t)
{
    return st->o.align + ts__floor_div(t - st->o.align, st->o.bucket_ms) * st->o.bucket_ms;
}

static int emit(agg_state *st)
{
    orbit_ts_bucket b = {0};
    b.start = st->cur;
    b.count = st->acc.count;
    switch (st->o.agg) {
    case ORBIT_TS_AGG_AVG:
        b.value.type = ORBIT_TS_FLOAT64;
        b.value.d = ts__sum_value(&st->acc.sum) / (double)st->acc.count;
        break;
    case ORBIT_TS_AGG_SUM:
        b.value.type = ORBIT_TS_FLOAT64;
        b.value.d = ts__sum_value(&st->acc.sum);
        break;
    case ORBIT_TS_AGG_MIN: b.value = st->acc.min.v; break;
    case ORBIT_TS_AGG_MAX: b.value = st->acc.max.v; break;
    case ORBIT_TS_AGG_COUNT:
        b.value.type = ORBIT_TS_INT64;
        b.value.i = (int64_t)st->acc.count;
        break;
    case ORBIT_TS_AGG_FIRST: b.value = st->acc.first.v; break;
    case ORBIT_TS_AGG_LAST: b.value = st->acc.last.v; break;
    }
    st->has = 0;
    st->emitted++;
    if (st->o.limit && st->emitted >= st->o.limit)
        st->done = 1;
    return st->fn(st->arg, &b);
}

/* Start or continue the output bucket ob; emits the previous one. */
static int enter(agg_state *st, int64_t ob)
{
    if (st->has && ob != st->cur) {
        int rc = emit(st);
        if (rc || st->done)
            return rc;
    }
    if (!st->has) {
        ts__roll_reset(&st->acc);
        st->cur = ob;
        st->has = 1;
    }
    return ORBIT_OK;
}

/* A private code that stops a scan once the limit is reached. */
#define AGG_DONE 0x40000000

static int feed_point(void *arg, const orbit_ts_point *p)
{
    agg_state *st = arg;
    int rc = enter(st, out_bucket(st, p->ts));
    if (rc)
        return rc;
    if (st->done)
        return AGG_DONE;
    return ts__roll_add(&st->acc, p->ts, p->seq, &p->v);
}

static int feed_roll(void *arg, int64_t start, const ts_roll *r)
{
    agg_state *st = arg;
    int rc = enter(st, out_bucket(st, start));
    if (rc)
        return rc;
    if (st->done)
        return AGG_DONE;
    return ts__roll_merge(&st->acc, r);
}

typedef struct source {
    int rolls;      /* rollups of granularity g, else points */
    int64_t a, b;   /* [a, b): timestamps (points) or bucket starts (rollups) */
} source;

int orbit_ts_aggregate(orbit_tx *tx, const orbit_series *s, int64_t from, int64_t to,
                       const orbit_ts_agg_opts *opts, orbit_ts_bucket_fn fn, void *arg)
{
    if (!s || !opts || !fn)
        return orbit_error_set(ORBIT_EINVAL, "timeseries aggregate: a series, options and a callback are required");
    if (opts->agg < ORBIT_TS_AGG_AVG || opts->agg > ORBIT_TS_AGG_LAST)
        return orbit_error_set(ORBIT_EINVAL, "timeseries aggregate: unknown aggregator %d",
                               (int)opts->agg);
    if (opts->bucket_ms < 1 || opts->bucket_ms > ORBIT_TS_MAX_WIDTH)
        return orbit_error_set(ORBIT_EINVAL, "timeseries aggregate: bucket width %lld ms outside 1..2^50",
                               (long long)opts->bucket_ms);
    if (opts->align < -ORBIT_TS_MAX || opts->align > ORBIT_TS_MAX)
        return orbit_error_set(ORBIT_EINVAL, "timeseries aggregate: alignment %lld out of range",
                               (long long)opts->align);
    if (!ts__numeric(s->type) && opts->agg <= ORBIT_TS_AGG_MAX)
        return orbit_error_set(ORBIT_EINVAL,
                               "timeseries %s: avg, sum, min and max need a numeric series",
                               s->name);
    int64_t lo, hi;
    if (!clamp(from, to, &lo, &hi))
        return ORBIT_OK;
    /* the coarsest granularity whose buckets tile the output buckets */
    int gi = -1;
    for (size_t i = s->ngrans; i-- > 0;)
        if (opts->bucket_ms % s->grans[i] == 0 && opts->align % s->grans[i] == 0) {
            gi = (int)i;
            break;
        }
    source src[3];
    size_t nsrc = 0;
    int64_t g = gi >= 0 ? s->grans[gi] : 0;
    if (gi >= 0) {
        int64_t A = ts__floor_div(lo + g - 1, g) * g, B = ts__floor_div(hi, g) * g;
        if (A < B) {
            if (lo < A)
                src[nsrc++] = (source){0, lo, A};
            src[nsrc++] = (source){1, A, B};
            if (B < hi)
                src[nsrc++] = (source){0, B, hi};
        }
    }
    if (nsrc == 0)
        src[nsrc++] = (source){0, lo, hi};

    ts_reader rd;
    int rc = ts__reader_open(&rd, tx, s, nsrc > 1);
    if (rc)
        return rc;
    agg_state st = {0};
    st.s = s;
    st.o = *opts;
    st.fn = fn;
    st.arg = arg;
    ts__roll_init(&st.acc, s->type);
    orbit_buf l = ORBIT_BUF_INIT, h = ORBIT_BUF_INIT;
    for (size_t k = 0; k < nsrc && !rc && !st.done; k++) {
        const source *c = &src[opts->reverse ? nsrc - 1 - k : k];
        if (c->rolls) {
            rc = scan_rolls(s, &rd, g, c->a, c->b, opts->reverse, feed_roll, &st);
        } else {
            l.len = h.len = 0;
            rc = ts__key_point_bound(&l, s, c->a);
            rc = rc ? rc : ts__key_point_bound(&h, s, c->b);
            rc = rc ? rc : scan_points(s, &rd, &l, &h, opts->reverse, 0, feed_point, &st);
        }
    }
    if (rc == AGG_DONE)
        rc = ORBIT_OK;
    if (!rc && st.has && !st.done)
        rc = emit(&st);
    ts__roll_release(&st.acc);
    orbit_buf_release(&l);
    orbit_buf_release(&h);
    ts__reader_close(&rd);
    return rc;
}

/* ---- info --------------------------------------------------------------- */

static int count_cb(void *arg, int64_t start, const ts_roll *r)
{
    orbit_ts_info *info = arg;
    (void)start;
    info->count += r->count;
    info->rollups++;
    return ORBIT_OK;
}

static int ts_cb(void *arg, const orbit_ts_point *p)
{
    *(int64_t *)arg = p->ts;
    return ORBIT_OK;
}

int orbit_ts_info_get(orbit_tx *tx, const orbit_series *s, orbit_ts_info *info)
{
    if (!s || !info)
        return orbit_error_set(ORBIT_EINVAL, "timeseries info: a series and a result are required");
    memset(info, 0, sizeof *info);
    ts_reader rd;
    int rc = ts__reader_open(&rd, tx, s, 1);
    if (rc)
        return rc;
    orbit_buf key = ORBIT_BUF_INIT, v = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT,
              lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT;
    ts_def d = {0};
    rc = ts__key_meta(&key, s->ks, s->id);
    rc = rc ? rc : ts__reader_get(&rd, key.data, key.len, &v);
    if (!rc) {
        const uint8_t *p;
        size_t n;
        rc = ts__record_payload(v.data, v.len, key.data, key.len, &scratch, &p, &n);
        rc = rc ? rc : ts__def_decode(p, n, &d, key.data, key.len);
    }
    if (!rc) {
        info->id = s->id;
        info->type = d.type;
        info->retention_ms = d.retention_ms;
        info->ngrans = d.ngrans;
        memcpy(info->grans_ms, d.grans, sizeof info->grans_ms);
        info->labels = d.labels;
        info->nlabels = d.nlabels;
        d.labels = NULL;
        d.nlabels = 0;
        rc = scan_rolls(s, &rd, d.grans[d.ngrans - 1], 0, ORBIT_TS_MAX + 1, 0, count_cb, info);
    }
    if (!rc && info->count) {
        rc = ts__key_point_bound(&lo, s, 0);
        rc = rc ? rc : ts__key_point_bound(&hi, s, ORBIT_TS_MAX + 1);
        rc = rc ? rc : scan_points(s, &rd, &lo, &hi, 0, 1, ts_cb, &info->first_ts);
        rc = rc ? rc : scan_points(s, &rd, &lo, &hi, 1, 1, ts_cb, &info->last_ts);
    }
    ts__def_release(&d);
    orbit_buf_release(&key);
    orbit_buf_release(&v);
    orbit_buf_release(&scratch);
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    ts__reader_close(&rd);
    if (rc)
        orbit_ts_info_release(info);
    return rc;
}

void orbit_ts_info_release(orbit_ts_info *info)
{
    if (!info)
        return;
    for (size_t i = 0; i < info->nlabels; i++) {
        free((char *)info->labels[i].key);
        free((char *)info->labels[i].value);
    }
    free(info->labels);
    info->labels = NULL;
    info->nlabels = 0;
}
