/*
 * The time-series model's series and writes (orbit/timeseries.h): create,
 * open, alter, drop and list series; point writes, batch ingest, point and
 * range deletes and retention, each adjusting the per-granularity rollups
 * in the same transaction.
 *
 * Every write runs through one writer (wctx) inside one contract
 * transaction: it loads the rollups it will change with get_for_update
 * (so concurrent writers of one bucket conflict, under every isolation),
 * reads only the points that may already exist (at or before their finest
 * bucket's last point; one multi-get), checks everything that can be
 * refused (EINVAL, EEXIST, NOTFOUND) before its first write, then writes
 * the points and applies each change to the rollups in memory: count and
 * sum arithmetically, min/max/first/last by comparison, or, where the
 * point removed or changed was the bucket's min, max, first or last, by
 * marking the bucket for recomputation. The flush recomputes those from
 * their points (a scan inside the transaction, which sees its own writes)
 * and writes or deletes each changed rollup. Points are put untracked
 * (orbit_txn_put_untracked): every writer of a point writes the rollups it
 * claimed, so a conflict on a point is one on its rollup, and a point
 * costs no commit-time validation.
 *
 * A write applies the series' retention in its transaction (ret_cutoff,
 * trim): it reads the definition and the newest point, skips or refuses
 * its own expired points, and range-deletes whole expired finest buckets,
 * a bounded number per write.
 *
 * Batches and range deletes without a caller's transaction are split into
 * chunks that fit the provider's max_txn_keys / max_txn_bytes, each its
 * own transaction (orbit_tx_run), each leaving points and rollups
 * consistent.
 *
 * Layer: src/model, on the transaction core (orbit/txn.h) and the
 * contract; the encodings are in timeseries_codec.c, reads in
 * timeseries_read.c.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "model/timeseries_int.h"
#include "orbit/catalog.h"
#include "orbit/codec.h"
#include "orbit/provider.h"

/* Points per transaction when the provider sets no limit. */
#define CHUNK_POINTS_MAX 20000
/* Retention on write: whole finest-granularity buckets one write deletes
 * at most (the rest goes with the next writes). On a provider with
 * max_txn_keys, a quarter of a transaction's keys is kept for that trim
 * (the points and rollups it deletes, the partial rollups it rewrites). */
#define TRIM_BUCKETS_MAX 64

/* ---- handles ----------------------------------------------------------- */

uint64_t orbit_ts_id(const orbit_series *s) { return s->id; }
const char *orbit_ts_name(const orbit_series *s) { return s->name; }
orbit_ts_type orbit_ts_value_type(const orbit_series *s) { return s->type; }

void orbit_ts_close(orbit_series *s)
{
    if (!s)
        return;
    free(s->name);
    free(s);
}

static int txn_of(orbit_tx *tx, const orbit_actor *a, orbit_txn **t)
{
    return orbit_tx_kv_txn(tx, orbit_actor_store(a), orbit_actor_type(a), orbit_actor_id(a), t);
}

static int touch(orbit_tx *tx, const orbit_actor *a)
{
    return orbit_tx_touch(tx, orbit_actor_type(a), orbit_actor_id(a), orbit_actor_keyspace(a),
                          ORBIT_MODEL_TS);
}

/* Read and decode the definition of series id under key in txn (or the
 * latest data when txn is NULL). for_update claims it. */
static int def_read(orbit_kv *kv, orbit_txn *txn, int for_update, const orbit_buf *key,
                    ts_def *d)
{
    orbit_buf v = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT;
    int rc;
    if (txn)
        rc = for_update ? orbit_txn_get_for_update(txn, key->data, key->len, &v)
                        : orbit_txn_get(txn, key->data, key->len, &v);
    else
        rc = orbit_kv_get(kv, NULL, key->data, key->len, &v);
    if (rc == 0) {
        const uint8_t *p;
        size_t n;
        rc = ts__record_payload(v.data, v.len, key->data, key->len, &scratch, &p, &n);
        if (!rc)
            rc = ts__def_decode(p, n, d, key->data, key->len);
    }
    orbit_buf_release(&v);
    orbit_buf_release(&scratch);
    return rc;
}

static int check_name(const orbit_actor *a, const char *name)
{
    if (!a || !name || !name[0])
        return orbit_error_set(ORBIT_EINVAL, "timeseries: an actor and a non-empty name are required");
    return ORBIT_OK;
}

/* ---- create / open / alter / drop / list -------------------------------- */

typedef struct create_arg {
    const orbit_actor *a;
    const char *name;
    uint64_t id;
    const ts_def *def;
} create_arg;

static int create_fn(orbit_tx *tx, void *arg)
{
    create_arg *c = arg;
    orbit_txn *t;
    int rc = txn_of(tx, c->a, &t);
    if (rc)
        return rc;
    orbit_buf key = ORBIT_BUF_INIT, v = ORBIT_BUF_INIT, pay = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT;
    orbit_buf lo = ORBIT_BUF_INIT;
    uint8_t *hi = NULL;
    rc = ts__key_meta(&key, orbit_actor_keyspace(c->a), c->id);
    if (!rc) {
        rc = orbit_txn_get(t, key.data, key.len, &v);
        if (rc == 0)
            rc = orbit_error_set(ORBIT_EEXIST, "timeseries: series '%s' of %s/%s exists", c->name,
                                 orbit_actor_type(c->a), orbit_actor_id(c->a));
        else if (rc == ORBIT_NOTFOUND)
            rc = ORBIT_OK;
    }
    if (!rc)
        rc = ts__def_encode(&pay, c->def);
    if (!rc)
        rc = orbit_actor_record(c->a, ORBIT_MODEL_TS, TS__SCHEMA, 0, key.data, key.len, pay.data,
                                pay.len, &rec);
    /* Clear whatever a writer holding a handle of a dropped incarnation of
     * this id left behind (normally nothing: one empty scan). */
    if (!rc)
        rc = orbit_key_object_prefix(&lo, orbit_actor_keyspace(c->a), ORBIT_PREFIX_TS, c->id);
    if (!rc) {
        hi = malloc(lo.len);
        size_t hl = hi ? orbit__prefix_successor(lo.data, lo.len, hi) : 0;
        rc = hi ? orbit_txn_delete_range(t, lo.data, lo.len, hi, hl) : ORBIT_ENOMEM;
    }
    if (!rc)
        rc = orbit_txn_put(t, key.data, key.len, rec.data, rec.len);
    if (!rc)
        rc = touch(tx, c->a);
    free(hi);
    orbit_buf_release(&lo);
    orbit_buf_release(&key);
    orbit_buf_release(&v);
    orbit_buf_release(&pay);
    orbit_buf_release(&rec);
    return rc;
}

int orbit_ts_create(orbit_tx *tx, const orbit_actor *a, const char *name,
                    const orbit_ts_create_opts *opts)
{
    int rc = check_name(a, name);
    if (rc)
        return rc;
    ts_def d;
    if ((rc = ts__def_from_opts(&d, opts))) {
        ts__def_release(&d);
        return rc;
    }
    create_arg c = {a, name, 0, &d};
    rc = orbit_actor_object_id(a, ORBIT_CATALOG_SERIES, name, 1, &c.id);
    if (!rc)
        rc = orbit_tx_auto(tx, create_fn, &c);
    ts__def_release(&d);
    return rc;
}

int orbit_ts_open(orbit_tx *tx, const orbit_actor *a, const char *name, orbit_series **out)
{
    *out = NULL;
    int rc = check_name(a, name);
    if (rc)
        return rc;
    uint64_t id;
    if ((rc = orbit_actor_object_id(a, ORBIT_CATALOG_SERIES, name, 0, &id)))
        return rc;
    orbit_txn *t = NULL;
    if (tx && (rc = txn_of(tx, a, &t)))
        return rc;
    orbit_buf key = ORBIT_BUF_INIT;
    ts_def d = {0};
    if (!(rc = ts__key_meta(&key, orbit_actor_keyspace(a), id)))
        rc = def_read(orbit_actor_store(a), t, 0, &key, &d);
    orbit_buf_release(&key);
    if (rc)
        return rc;
    orbit_series *s = calloc(1, sizeof *s);
    if (!s || !(s->name = strdup(name))) {
        free(s);
        ts__def_release(&d);
        return ORBIT_ENOMEM;
    }
    s->a = a;
    s->kv = orbit_actor_store(a);
    s->ks = orbit_actor_keyspace(a);
    s->id = id;
    s->type = d.type;
    s->ngrans = d.ngrans;
    memcpy(s->grans, d.grans, sizeof s->grans);
    ts__def_release(&d);
    *out = s;
    return ORBIT_OK;
}

typedef struct alter_arg {
    const orbit_series *s;
    unsigned what;
    const orbit_ts_create_opts *o;
} alter_arg;

static int alter_fn(orbit_tx *tx, void *arg)
{
    alter_arg *x = arg;
    orbit_txn *t;
    int rc = txn_of(tx, x->s->a, &t);
    if (rc)
        return rc;
    orbit_buf key = ORBIT_BUF_INIT, pay = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT;
    ts_def d = {0};
    if (!(rc = ts__key_meta(&key, x->s->ks, x->s->id)))
        rc = def_read(x->s->kv, t, 1, &key, &d);
    if (!rc && (x->what & ORBIT_TS_ALTER_RETENTION))
        d.retention_ms = x->o->retention_ms;
    if (!rc && (x->what & ORBIT_TS_ALTER_LABELS))
        rc = ts__labels_set(&d, x->o->labels, x->o->nlabels);
    if (!rc)
        rc = ts__def_encode(&pay, &d);
    if (!rc)
        rc = orbit_actor_record(x->s->a, ORBIT_MODEL_TS, TS__SCHEMA, 0, key.data, key.len,
                                pay.data, pay.len, &rec);
    if (!rc)
        rc = orbit_txn_put(t, key.data, key.len, rec.data, rec.len);
    if (!rc)
        rc = touch(tx, x->s->a);
    ts__def_release(&d);
    orbit_buf_release(&key);
    orbit_buf_release(&pay);
    orbit_buf_release(&rec);
    return rc;
}

int orbit_ts_alter(orbit_tx *tx, const orbit_series *s, unsigned what,
                   const orbit_ts_create_opts *opts)
{
    if (!s || !opts || (what & ~(ORBIT_TS_ALTER_RETENTION | ORBIT_TS_ALTER_LABELS)))
        return orbit_error_set(ORBIT_EINVAL, "timeseries alter: a series, options and known fields are required");
    if ((what & ORBIT_TS_ALTER_RETENTION) && opts->retention_ms > (uint64_t)ORBIT_TS_MAX)
        return orbit_error_set(ORBIT_EINVAL, "timeseries: retention %llu ms is too large",
                               (unsigned long long)opts->retention_ms);
    if (what & ORBIT_TS_ALTER_LABELS) { /* validate before any read or write */
        ts_def probe = {0};
        int rc = ts__labels_set(&probe, opts->labels, opts->nlabels);
        ts__def_release(&probe);
        if (rc)
            return rc;
    }
    alter_arg x = {s, what, opts};
    return orbit_tx_auto(tx, alter_fn, &x);
}

/* ---- the writer ---------------------------------------------------------- */

typedef struct bstate {
    size_t gi;
    int64_t start;
    int exists;                 /* stored when loaded */
    uint64_t orig_count;
    int64_t orig_last_ts, orig_last_seq;
    int dirty, recompute;
    int from_fine; /* recompute from the finest rollups, not the points */
    ts_roll r;
} bstate;

typedef struct wctx {
    const orbit_series *s;
    orbit_tx *tx;
    orbit_txn *txn;
    bstate *b;
    size_t nb, capb;
    int fine_partials; /* del_core: see trim() */
    size_t trim_keys;  /* keys a trim may delete and write (SIZE_MAX: any) */
    orbit_buf key, rec, pay, val, scratch, pprefix, lo, hi;
} wctx;

static int w_begin(wctx *w, orbit_tx *tx, const orbit_series *s)
{
    memset(w, 0, sizeof *w);
    w->s = s;
    w->tx = tx;
    int rc = txn_of(tx, s->a, &w->txn);
    return rc ? rc : ts__key_points_prefix(&w->pprefix, s);
}

static void w_end(wctx *w)
{
    for (size_t i = 0; i < w->nb; i++)
        ts__roll_release(&w->b[i].r);
    free(w->b);
    orbit_buf_release(&w->key);
    orbit_buf_release(&w->rec);
    orbit_buf_release(&w->pay);
    orbit_buf_release(&w->val);
    orbit_buf_release(&w->scratch);
    orbit_buf_release(&w->pprefix);
    orbit_buf_release(&w->lo);
    orbit_buf_release(&w->hi);
}

static int w_point_key(wctx *w, orbit_buf *out, int64_t ts, int64_t seq)
{
    out->len = 0;
    int rc = orbit_buf_append(out, w->pprefix.data, w->pprefix.len);
    rc = rc ? rc : orbit_tuple_int(out, ts);
    return rc ? rc : orbit_tuple_int(out, seq);
}

static int64_t bstart(int64_t ts, int64_t g) { return ts__floor_div(ts, g) * g; }

static bstate *w_find(wctx *w, size_t gi, int64_t start, size_t *at)
{
    size_t lo = 0, hi = w->nb;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        bstate *b = &w->b[mid];
        if (b->gi < gi || (b->gi == gi && b->start < start))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (at)
        *at = lo;
    if (lo < w->nb && w->b[lo].gi == gi && w->b[lo].start == start)
        return &w->b[lo];
    return NULL;
}

/* The bucket's state, loaded (get_for_update) at its first use. */
static int w_load(wctx *w, size_t gi, int64_t start, bstate **out)
{
    size_t at;
    bstate *b = w_find(w, gi, start, &at);
    if (b) {
        *out = b;
        return ORBIT_OK;
    }
    if (w->nb == w->capb) {
        size_t cap = w->capb ? w->capb * 2 : 8;
        bstate *nbuf = realloc(w->b, cap * sizeof *nbuf);
        if (!nbuf)
            return ORBIT_ENOMEM;
        w->b = nbuf;
        w->capb = cap;
    }
    memmove(&w->b[at + 1], &w->b[at], (w->nb - at) * sizeof *w->b);
    w->nb++;
    b = &w->b[at];
    memset(b, 0, sizeof *b);
    b->gi = gi;
    b->start = start;
    ts__roll_init(&b->r, w->s->type);
    w->key.len = 0;
    int rc = ts__key_bucket(&w->key, w->s, w->s->grans[gi], start);
    if (!rc)
        rc = orbit_txn_get_for_update(w->txn, w->key.data, w->key.len, &w->val);
    if (rc == ORBIT_NOTFOUND)
        rc = ORBIT_OK;
    else if (rc == 0) {
        const uint8_t *p;
        size_t n;
        rc = ts__record_payload(w->val.data, w->val.len, w->key.data, w->key.len, &w->scratch,
                                &p, &n);
        if (!rc)
            rc = ts__roll_decode(p, n, &b->r, w->key.data, w->key.len);
        if (!rc) {
            b->exists = 1;
            b->orig_count = b->r.count;
            b->orig_last_ts = b->r.last_ts;
            b->orig_last_seq = b->r.last_seq;
        }
    }
    *out = b;
    return rc;
}

/* Apply point (ts, seq) changing from old to nv (either may be NULL) to
 * one bucket. */
static int w_change(bstate *b, int64_t ts, int64_t seq, const orbit_ts_value *old,
                    const orbit_ts_value *nv)
{
    ts_roll *r = &b->r;
    int num = ts__numeric(r->type);
    b->dirty = 1;
    if (b->recompute)
        return ORBIT_OK; /* rebuilt from the points at flush */
    if (!old)
        return ts__roll_add(r, ts, seq, nv);
    int at_first = ts__pos_cmp(ts, seq, r->first_ts, r->first_seq) == 0;
    int at_last = ts__pos_cmp(ts, seq, r->last_ts, r->last_seq) == 0;
    if (!nv) {
        if (r->count <= 1) {
            r->count = 0;
            return ORBIT_OK;
        }
        r->count--;
        if (num) {
            ts__sum_add_value(&r->sum, old, -1);
            if (ts__num_cmp(r->type, old, &r->min.v) == 0 ||
                ts__num_cmp(r->type, old, &r->max.v) == 0)
                b->recompute = 1;
        }
        if (at_first || at_last)
            b->recompute = 1;
        return ORBIT_OK;
    }
    if (num) {
        ts__sum_add_value(&r->sum, old, -1);
        ts__sum_add_value(&r->sum, nv, 1);
        if (ts__num_cmp(r->type, nv, &r->min.v) <= 0) {
            if (ts__owned_set(&r->min, nv))
                return ORBIT_ENOMEM;
        } else if (ts__num_cmp(r->type, old, &r->min.v) == 0) {
            b->recompute = 1;
        }
        if (ts__num_cmp(r->type, nv, &r->max.v) >= 0) {
            if (ts__owned_set(&r->max, nv))
                return ORBIT_ENOMEM;
        } else if (ts__num_cmp(r->type, old, &r->max.v) == 0) {
            b->recompute = 1;
        }
    }
    if (at_first && ts__owned_set(&r->first, nv))
        return ORBIT_ENOMEM;
    if (at_last && ts__owned_set(&r->last, nv))
        return ORBIT_ENOMEM;
    return ORBIT_OK;
}

static int w_change_all(wctx *w, int64_t ts, int64_t seq, const orbit_ts_value *old,
                        const orbit_ts_value *nv)
{
    for (size_t gi = 0; gi < w->s->ngrans; gi++) {
        bstate *b;
        int rc = w_load(w, gi, bstart(ts, w->s->grans[gi]), &b);
        if (!rc)
            rc = w_change(b, ts, seq, old, nv);
        if (rc)
            return rc;
    }
    return ORBIT_OK;
}

static int w_put_point(wctx *w, int64_t ts, int64_t seq, const orbit_ts_value *v)
{
    int rc = w_point_key(w, &w->key, ts, seq);
    w->pay.len = 0;
    w->rec.len = 0;
    rc = rc ? rc : ts__point_encode(&w->pay, v);
    rc = rc ? rc : orbit_actor_record(w->s->a, ORBIT_MODEL_TS, TS__SCHEMA, 0, w->key.data,
                                      w->key.len, w->pay.data, w->pay.len, &w->rec);
    /* Untracked: every writer of a point (ingest, deletes, range deletes,
     * retention, drop) also writes its rollup in every granularity after
     * claiming it (w_load's get_for_update; a range or drop deletes the
     * rollups it sees, and one that sees the point sees its rollups), so a
     * conflict on the point is always one on its finest rollup. */
    return rc ? rc
              : orbit_txn_put_untracked(w->txn, w->key.data, w->key.len, w->rec.data, w->rec.len);
}

/* Rebuild b's rollup by merging the finest granularity's rollups of the
 * buckets inside it (b's width is a multiple of the finest): a read of at
 * most width / finest keys, whatever the number of points. Inside the
 * transaction, after the finest rollups were flushed (w->b is sorted by
 * granularity, finest first). */
static int w_roll_from_fine(wctx *w, bstate *b, int64_t g)
{
    const orbit_series *s = w->s;
    w->lo.len = w->hi.len = 0;
    int rc = ts__key_bucket(&w->lo, s, s->grans[0], b->start);
    rc = rc ? rc : ts__key_bucket(&w->hi, s, s->grans[0], b->start + g);
    orbit_scan_opts so = {0};
    so.start = w->lo.data;
    so.start_len = w->lo.len;
    so.end = w->hi.data;
    so.end_len = w->hi.len;
    orbit_iter *it = NULL;
    rc = rc ? rc : orbit_txn_iter(w->txn, &so, &it);
    ts__roll_reset(&b->r);
    ts_roll r;
    ts__roll_init(&r, s->type);
    const uint8_t *k, *v;
    size_t kl, vl;
    while (!rc && (rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0) {
        const uint8_t *p;
        size_t pn;
        rc = ts__record_payload(v, vl, k, kl, &w->scratch, &p, &pn);
        rc = rc ? rc : ts__roll_decode(p, pn, &r, k, kl);
        rc = rc ? rc : ts__roll_merge(&b->r, &r);
    }
    if (rc == ORBIT_NOTFOUND)
        rc = ORBIT_OK;
    ts__roll_release(&r);
    orbit_iter_close(it);
    return rc;
}

/* Recompute the marked rollups and write or delete every changed one.
 * Afterwards each flushed rollup is exact and stored as it is in memory,
 * so later changes in the same transaction apply to it incrementally. */
static int w_flush(wctx *w, uint64_t *deleted_in_partials)
{
    ts_reader rd = {w->txn, NULL, NULL};
    for (size_t i = 0; i < w->nb; i++) {
        bstate *b = &w->b[i];
        if (!b->dirty)
            continue;
        int64_t g = w->s->grans[b->gi];
        int rc;
        if (b->recompute && b->from_fine) {
            if ((rc = w_roll_from_fine(w, b, g)))
                return rc;
        } else if (b->recompute) {
            w->lo.len = w->hi.len = 0;
            rc = ts__key_point_bound(&w->lo, w->s, b->start);
            rc = rc ? rc : ts__key_point_bound(&w->hi, w->s, b->start + g);
            rc = rc ? rc : ts__scan_roll(w->s, &rd, &w->lo, &w->hi, &b->r);
            if (rc)
                return rc;
            if (deleted_in_partials && b->gi == 0 && b->orig_count > b->r.count)
                *deleted_in_partials += b->orig_count - b->r.count;
        }
        w->key.len = 0;
        if ((rc = ts__key_bucket(&w->key, w->s, g, b->start)))
            return rc;
        if (b->r.count == 0) {
            rc = b->exists ? orbit_txn_del(w->txn, w->key.data, w->key.len) : ORBIT_OK;
        } else {
            w->pay.len = w->rec.len = 0;
            rc = ts__roll_encode(&w->pay, &b->r);
            rc = rc ? rc : orbit_actor_record(w->s->a, ORBIT_MODEL_TS, TS__SCHEMA, 0, w->key.data,
                                              w->key.len, w->pay.data, w->pay.len, &w->rec);
            rc = rc ? rc : orbit_txn_put(w->txn, w->key.data, w->key.len, w->rec.data, w->rec.len);
        }
        if (rc)
            return rc;
        b->dirty = b->recompute = b->from_fine = 0;
        b->exists = b->r.count > 0;
    }
    return ORBIT_OK;
}

/* ---- checking values ------------------------------------------------------ */

static int check_point(const orbit_series *s, int64_t ts, int64_t seq, const orbit_ts_value *v,
                       orbit_ts_dup dup)
{
    if (ts < 0 || ts > ORBIT_TS_MAX || seq < 0 || seq > ORBIT_TS_MAX)
        return orbit_error_set(ORBIT_EINVAL,
                               "timeseries %s: timestamp %lld / sequence %lld outside 0..2^61",
                               s->name, (long long)ts, (long long)seq);
    if (!v)
        return orbit_error_set(ORBIT_EINVAL, "timeseries %s: no value", s->name);
    if (v->type != s->type)
        return orbit_error_set(ORBIT_EINVAL, "timeseries %s: value of type %d in a series of type %d",
                               s->name, (int)v->type, (int)s->type);
    if (v->type == ORBIT_TS_FLOAT64 && !isfinite(v->d))
        return orbit_error_set(ORBIT_EINVAL, "timeseries %s: a float value must be finite", s->name);
    if ((v->type == ORBIT_TS_STRING || v->type == ORBIT_TS_JSON) && v->len && !v->s)
        return orbit_error_set(ORBIT_EINVAL, "timeseries %s: NULL string of length %zu", s->name,
                               v->len);
    if (v->type == ORBIT_TS_JSON) {
        json_error_t je;
        json_t *j = json_loadb(v->s ? v->s : "", v->len, JSON_DECODE_ANY, &je);
        if (!j)
            return orbit_error_set(ORBIT_EINVAL, "timeseries %s: invalid JSON value: %s", s->name,
                                   je.text);
        json_decref(j);
    }
    if ((unsigned)dup > ORBIT_TS_DUP_SUM)
        return orbit_error_set(ORBIT_EINVAL, "timeseries: unknown duplicate policy %d", (int)dup);
    if ((dup == ORBIT_TS_DUP_MIN || dup == ORBIT_TS_DUP_MAX) && !ts__numeric(s->type))
        return orbit_error_set(ORBIT_EINVAL, "timeseries %s: MIN/MAX duplicate policy on a non-numeric series", s->name);
    if (dup == ORBIT_TS_DUP_SUM && s->type != ORBIT_TS_INT64 && s->type != ORBIT_TS_FLOAT64)
        return orbit_error_set(ORBIT_EINVAL, "timeseries %s: SUM duplicate policy needs an int64 or float64 series", s->name);
    return ORBIT_OK;
}

/* The value a duplicate (ts, seq) leaves: cur combined with nv under dup
 * (BLOCK was refused before). */
static int combine(const orbit_series *s, orbit_ts_dup dup, const orbit_ts_value *cur,
                   const orbit_ts_value *nv, orbit_ts_value *out)
{
    *out = *nv;
    switch (dup) {
    case ORBIT_TS_DUP_FIRST: *out = *cur; break;
    case ORBIT_TS_DUP_MIN:
        if (ts__num_cmp(s->type, cur, nv) <= 0)
            *out = *cur;
        break;
    case ORBIT_TS_DUP_MAX:
        if (ts__num_cmp(s->type, cur, nv) >= 0)
            *out = *cur;
        break;
    case ORBIT_TS_DUP_SUM:
        if (s->type == ORBIT_TS_INT64) {
            if (__builtin_add_overflow(cur->i, nv->i, &out->i))
                return orbit_error_set(ORBIT_EINVAL, "timeseries %s: SUM overflows int64", s->name);
        } else {
            out->d = cur->d + nv->d;
            if (!isfinite(out->d))
                return orbit_error_set(ORBIT_EINVAL, "timeseries %s: SUM is not finite", s->name);
        }
        break;
    default: break;
    }
    return ORBIT_OK;
}

/* ---- batch ingest --------------------------------------------------------- */

/* The provider's per-transaction limits, as chunking needs them. */
typedef struct limits {
    size_t keys, bytes, points;
    size_t trim_keys; /* of keys, what a write's retention trim may use */
} limits;

static void get_limits(const orbit_series *s, limits *l)
{
    orbit_capabilities c;
    orbit_kv_capabilities(s->kv, &c);
    l->keys = c.max_txn_keys ? c.max_txn_keys : SIZE_MAX;
    if (c.max_batch_ops && c.max_batch_ops < l->keys)
        l->keys = c.max_batch_ops;
    /* a write's retention trim: a quarter of the keys (madd takes them
     * out of its chunks) */
    l->trim_keys = l->keys == SIZE_MAX ? SIZE_MAX : l->keys / 4;
    l->bytes = c.max_txn_bytes ? c.max_txn_bytes / 4 * 3 : SIZE_MAX;
    l->points = CHUNK_POINTS_MAX;
}

typedef struct group {
    size_t first, n; /* in the sorted index */
    int has_old, changed;
    ts_owned old, nv;
} group;

typedef struct madd_arg {
    const orbit_series *s;
    const orbit_ts_point *pts;
    const size_t *idx; /* sorted by (ts, seq, position) */
    size_t n;
    orbit_ts_dup dup;
    int strict; /* orbit_ts_add: a point older than the retention is EINVAL */
} madd_arg;

static const orbit_ts_point *P(const madd_arg *m, size_t i) { return &m->pts[m->idx[i]]; }

static int del_core(wctx *w, int64_t lt, int64_t lq, int64_t ht, int64_t hq, uint64_t *deleted);

/*
 * Retention on write, step 1 (reads only): the series' stored definition
 * (its retention, which orbit_ts_alter may have changed since the handle
 * was opened) and, when it has one, the newest timestamp after this write:
 * the later of batch_max and the stored last point (a reverse scan of one
 * key). *cutoff: points with ts < *cutoff are expired (0: none).
 * ORBIT_NOTFOUND if the series was dropped.
 */
static int ret_cutoff(wctx *w, int64_t batch_max, int64_t *cutoff)
{
    const orbit_series *s = w->s;
    *cutoff = 0;
    ts_def d = {0};
    w->key.len = 0;
    int rc = ts__key_meta(&w->key, s->ks, s->id);
    rc = rc ? rc : def_read(s->kv, w->txn, 0, &w->key, &d);
    uint64_t ret = d.retention_ms;
    ts__def_release(&d);
    if (rc || ret == 0 || ret > (uint64_t)ORBIT_TS_MAX)
        return rc;
    int64_t newest = batch_max;
    orbit_scan_opts so = {0};
    so.prefix = w->pprefix.data;
    so.prefix_len = w->pprefix.len;
    so.reverse = 1;
    so.limit = 1;
    so.keys_only = 1;
    orbit_iter *it = NULL;
    const uint8_t *k, *v;
    size_t kl, vl;
    if (!(rc = orbit_txn_iter(w->txn, &so, &it)) &&
        (rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0) {
        int64_t ts, seq;
        if (!(rc = ts__point_key_decode(k, kl, w->pprefix.len, &ts, &seq)) && ts > newest)
            newest = ts;
    }
    orbit_iter_close(it);
    if (rc == ORBIT_NOTFOUND)
        rc = ORBIT_OK;
    if (!rc && newest > (int64_t)ret)
        *cutoff = newest - (int64_t)ret;
    return rc;
}

/*
 * Retention on write, step 2 (after every check of the write): delete the
 * expired points, ts < cutoff, in whole buckets of the finest granularity,
 * so only points of buckets that lie wholly before cutoff go (a point
 * outlives the retention by less than one finest bucket), and at most
 * TRIM_BUCKETS_MAX such buckets per write (a write after a long gap
 * leaves the rest to the next writes), and on a provider with max_txn_keys
 * only as many as fit w->trim_keys (points, rollups; when the oldest
 * bucket alone has more points than that, its oldest points that fit, and
 * the rest of it is rescanned to recompute its rollup). Range
 * deletes on the points and on the rollups of whole buckets; a coarser
 * granularity's bucket cut by the boundary is rebuilt from the finest
 * rollups inside it (at most width / finest width keys) when its width is
 * a multiple of the finest, else from its points. One scan of at most
 * TRIM_BUCKETS_MAX + 1 finest rollups finds the boundary; nothing is
 * written when none is expired.
 */
static int trim(wctx *w, int64_t cutoff)
{
    const orbit_series *s = w->s;
    int64_t g0 = s->grans[0];
    int64_t hi = bstart(cutoff, g0);
    if (hi <= 0)
        return ORBIT_OK;
    orbit_buf pre = ORBIT_BUF_INIT;
    w->hi.len = 0;
    int rc = ts__key_buckets_prefix(&pre, s, g0);
    rc = rc ? rc : ts__key_bucket(&w->hi, s, g0, hi);
    orbit_scan_opts so = {0};
    so.start = pre.data;
    so.start_len = pre.len;
    so.end = w->hi.data;
    so.end_len = w->hi.len;
    so.limit = TRIM_BUCKETS_MAX + 1;
    orbit_iter *it = NULL;
    rc = rc ? rc : orbit_txn_iter(w->txn, &so, &it);
    const uint8_t *k, *v;
    size_t kl, vl, seen = 0;
    /* keys the trim touches: the partial rollups it rewrites, then per
     * bucket its points, its rollup and at most one whole bucket of each
     * coarser granularity */
    size_t keys = s->ngrans, nk;
    int big = 0; /* the oldest bucket alone is over the budget */
    ts_roll r;
    ts__roll_init(&r, s->type);
    while (!rc && (rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0) {
        const uint8_t *p;
        size_t pn;
        rc = ts__record_payload(v, vl, k, kl, &w->scratch, &p, &pn);
        rc = rc ? rc : ts__roll_decode(p, pn, &r, k, kl);
        if (rc)
            break;
        nk = r.count > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)r.count;
        if (seen == TRIM_BUCKETS_MAX || keys > w->trim_keys ||
            nk + s->ngrans > w->trim_keys - keys) {
            big = seen == 0; /* then hi stays: the scan below ends inside it */
            if (!big)
                rc = ts__bucket_key_decode(k, kl, pre.len, &hi); /* this one stays */
            break;
        }
        keys += nk + s->ngrans;
        seen++;
    }
    if (rc == ORBIT_NOTFOUND)
        rc = ORBIT_OK;
    ts__roll_release(&r);
    orbit_iter_close(it);
    orbit_buf_release(&pre);
    if (rc || (seen == 0 && !big))
        return rc;
    int64_t ht = hi, hq = 0;
    if (big) {
        /* only the oldest points of that bucket, as many as the budget
         * leaves (its rollup is then recomputed from the rest of it) */
        size_t allowed = w->trim_keys - keys > s->ngrans ? w->trim_keys - keys - s->ngrans : 0;
        if (allowed == 0)
            return ORBIT_OK;
        so = (orbit_scan_opts){0};
        so.prefix = w->pprefix.data;
        so.prefix_len = w->pprefix.len;
        so.keys_only = 1;
        so.limit = allowed + 1;
        it = NULL;
        seen = 0;
        rc = orbit_txn_iter(w->txn, &so, &it);
        while (!rc && (rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0)
            if (++seen > allowed) {
                rc = ts__point_key_decode(k, kl, w->pprefix.len, &ht, &hq);
                break;
            }
        if (rc == ORBIT_NOTFOUND)
            rc = ORBIT_OK;
        orbit_iter_close(it);
        if (rc)
            return rc;
        if (ts__pos_cmp(ht, hq, hi, 0) > 0) { /* cannot be: the bucket has more */
            ht = hi;
            hq = 0;
        }
    }
    uint64_t n = 0;
    w->fine_partials = 1;
    rc = del_core(w, 0, 0, ht, hq, &n);
    w->fine_partials = 0;
    return rc;
}

static int madd_fn(orbit_tx *tx, void *arg)
{
    madd_arg mloc = *(madd_arg *)arg; /* run again on a retry: arg stays */
    madd_arg *m = &mloc;
    const orbit_series *s = m->s;
    wctx w;
    int rc = w_begin(&w, tx, s);
    limits lim;
    get_limits(s, &lim);
    w.trim_keys = lim.trim_keys;
    group *gr = NULL;
    size_t ng = 0, nread = 0;
    orbit_slice *keys = NULL;
    orbit_buf *vals = NULL, *kbufs = NULL;
    int *status = NULL;
    size_t *readg = NULL;
    int64_t cutoff = 0;
    if (rc)
        goto out;
    /* 0. the retention: points older than it are not written (they would
     * expire at once); orbit_ts_add refuses one */
    if ((rc = ret_cutoff(&w, P(m, m->n - 1)->ts, &cutoff)))
        goto out;
    if (cutoff > 0) {
        size_t k = 0;
        while (k < m->n && P(m, k)->ts < cutoff)
            k++;
        if (k && m->strict) {
            rc = orbit_error_set(ORBIT_EINVAL,
                                 "timeseries %s: timestamp %lld is older than the retention "
                                 "(points before %lld are expired)",
                                 s->name, (long long)P(m, 0)->ts, (long long)cutoff);
            goto out;
        }
        m->idx += k;
        m->n -= k;
    }
    if (m->n == 0) {
        rc = trim(&w, cutoff);
        goto out;
    }
    /* 1. the rollups, loaded in order, one get_for_update each */
    for (size_t gi = 0; gi < s->ngrans && !rc; gi++) {
        bstate *b;
        for (size_t i = 0; i < m->n && !rc; i++)
            rc = w_load(&w, gi, bstart(P(m, i)->ts, s->grans[gi]), &b);
    }
    if (rc)
        goto out;
    /* 2. groups of one (ts, seq), and which may already exist */
    gr = calloc(m->n, sizeof *gr);
    readg = calloc(m->n, sizeof *readg);
    if (!gr || !readg) {
        rc = ORBIT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < m->n; i++) {
        const orbit_ts_point *p = P(m, i);
        if (ng && ts__pos_cmp(P(m, gr[ng - 1].first)->ts, P(m, gr[ng - 1].first)->seq, p->ts,
                              p->seq) == 0) {
            gr[ng - 1].n++;
            continue;
        }
        gr[ng].first = i;
        gr[ng].n = 1;
        bstate *b0 = w_find(&w, 0, bstart(p->ts, s->grans[0]), NULL);
        if (b0 && b0->exists &&
            ts__pos_cmp(p->ts, p->seq, b0->orig_last_ts, b0->orig_last_seq) <= 0)
            readg[nread++] = ng;
        ng++;
    }
    if (m->dup == ORBIT_TS_DUP_BLOCK)
        for (size_t g = 0; g < ng; g++)
            if (gr[g].n > 1) {
                rc = orbit_error_set(ORBIT_EEXIST, "timeseries %s: point (%lld, %lld) given twice",
                                     s->name, (long long)P(m, gr[g].first)->ts,
                                     (long long)P(m, gr[g].first)->seq);
                goto out;
            }
    /* 3. one multi-get of the points that may exist */
    if (nread) {
        keys = calloc(nread, sizeof *keys);
        vals = calloc(nread, sizeof *vals);
        kbufs = calloc(nread, sizeof *kbufs);
        status = calloc(nread, sizeof *status);
        if (!keys || !vals || !kbufs || !status) {
            rc = ORBIT_ENOMEM;
            goto out;
        }
        for (size_t k = 0; k < nread && !rc; k++) {
            const orbit_ts_point *p = P(m, gr[readg[k]].first);
            rc = w_point_key(&w, &kbufs[k], p->ts, p->seq);
            keys[k].data = kbufs[k].data;
            keys[k].len = kbufs[k].len;
        }
        if (!rc)
            rc = orbit_txn_multi_get(w.txn, nread, keys, vals, status);
        for (size_t k = 0; k < nread && !rc; k++) {
            if (status[k] == ORBIT_NOTFOUND)
                continue;
            const uint8_t *pp;
            size_t pn;
            orbit_ts_value v;
            rc = ts__record_payload(vals[k].data, vals[k].len, keys[k].data, keys[k].len,
                                    &w.scratch, &pp, &pn);
            rc = rc ? rc : ts__point_decode(pp, pn, s->type, keys[k].data, keys[k].len, &v);
            rc = rc ? rc : ts__owned_set(&gr[readg[k]].old, &v);
            gr[readg[k]].has_old = 1;
            if (!rc && m->dup == ORBIT_TS_DUP_BLOCK) {
                const orbit_ts_point *p = P(m, gr[readg[k]].first);
                rc = orbit_error_set(ORBIT_EEXIST, "timeseries %s: point (%lld, %lld) exists",
                                     s->name, (long long)p->ts, (long long)p->seq);
            }
        }
        if (rc)
            goto out;
    }
    /* 4. the value each (ts, seq) ends with (still nothing written) */
    for (size_t g = 0; g < ng && !rc; g++) {
        orbit_ts_value cur = {0};
        int has = gr[g].has_old;
        if (has)
            cur = gr[g].old.v;
        for (size_t i = gr[g].first; i < gr[g].first + gr[g].n && !rc; i++) {
            orbit_ts_value next;
            if (!has) {
                next = P(m, i)->v;
                has = 1;
            } else {
                rc = combine(s, m->dup, &cur, &P(m, i)->v, &next);
            }
            cur = next;
        }
        if (!rc) {
            if (cur.type == ORBIT_TS_BOOL)
                cur.b = cur.b != 0;
            gr[g].changed = !gr[g].has_old || !ts__value_equal(&cur, &gr[g].old.v);
            if (gr[g].changed)
                rc = ts__owned_set(&gr[g].nv, &cur);
        }
    }
    if (rc)
        goto out;
    /* 5. the retention's deletes, then write the points, change the
     * rollups, flush */
    if (cutoff > 0 && (rc = trim(&w, cutoff)))
        goto out;
    int any = 0;
    for (size_t g = 0; g < ng && !rc; g++) {
        if (!gr[g].changed)
            continue;
        const orbit_ts_point *p = P(m, gr[g].first);
        rc = w_put_point(&w, p->ts, p->seq, &gr[g].nv.v);
        rc = rc ? rc
                : w_change_all(&w, p->ts, p->seq, gr[g].has_old ? &gr[g].old.v : NULL,
                               &gr[g].nv.v);
        any = 1;
    }
    if (!rc)
        rc = w_flush(&w, NULL);
    if (!rc && any)
        rc = touch(tx, s->a);
out:
    if (gr)
        for (size_t g = 0; g < ng; g++) {
            ts__owned_release(&gr[g].old);
            ts__owned_release(&gr[g].nv);
        }
    if (kbufs)
        for (size_t k = 0; k < nread; k++) {
            orbit_buf_release(&kbufs[k]);
            orbit_buf_release(&vals[k]);
        }
    free(gr);
    free(readg);
    free(keys);
    free(vals);
    free(kbufs);
    free(status);
    w_end(&w);
    return rc;
}

typedef struct sort_key {
    int64_t ts, seq;
    size_t i;
} sort_key;

static int cmp_sort_key(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    int c = ts__pos_cmp(x->ts, x->seq, y->ts, y->seq);
    return c ? c : (x->i < y->i ? -1 : x->i > y->i);
}


/* The end of the chunk starting at sorted position `from`: as many whole
 * (ts, seq) groups as fit the limits (at least one). Keys counted: each
 * point, each distinct bucket per granularity. Bytes estimated above
 * what providers count (twice each key, the value, record overhead). */
static size_t chunk_end(const orbit_series *s, const orbit_ts_point *pts, const size_t *idx,
                        size_t from, size_t n, const limits *l)
{
    size_t keys = 0, bytes = 0, npts = 0, maxv = 0;
    int64_t last_b[ORBIT_TS_MAX_GRANS] = {0};
    size_t actor = strlen(orbit_actor_type(s->a)) + strlen(orbit_actor_id(s->a));
    size_t i = from;
    while (i < n) {
        size_t j = i + 1; /* the group [i, j) of one (ts, seq) */
        const orbit_ts_point *p = &pts[idx[i]];
        size_t vb = p->v.len;
        while (j < n && pts[idx[j]].ts == p->ts && pts[idx[j]].seq == p->seq) {
            if (pts[idx[j]].v.len > vb)
                vb = pts[idx[j]].v.len;
            j++;
        }
        size_t k = 1, b = 2 * 64 + vb + actor + 64;
        if (vb > maxv)
            maxv = vb;
        for (size_t gi = 0; gi < s->ngrans; gi++) {
            int64_t bs = bstart(p->ts, s->grans[gi]);
            if (i == from || bs != last_b[gi]) {
                k++;
                b += 2 * 64 + 2 * maxv + actor + 400;
            }
        }
        if (i > from && (keys + k > l->keys || bytes + b > l->bytes || npts + (j - i) > l->points))
            break;
        for (size_t gi = 0; gi < s->ngrans; gi++)
            last_b[gi] = bstart(p->ts, s->grans[gi]);
        keys += k;
        bytes += b;
        npts += j - i;
        i = j;
    }
    return i;
}

static int madd_impl(orbit_tx *tx, const orbit_series *s, const orbit_ts_point *pts, size_t n,
                     orbit_ts_dup dup, size_t *written, int strict)
{
    if (written)
        *written = 0;
    if (!s || (n && !pts))
        return orbit_error_set(ORBIT_EINVAL, "timeseries madd: a series and points are required");
    for (size_t i = 0; i < n; i++) {
        int rc = check_point(s, pts[i].ts, pts[i].seq, &pts[i].v, dup);
        if (rc)
            return rc;
    }
    if ((unsigned)dup > ORBIT_TS_DUP_SUM)
        return check_point(s, 0, 0, NULL, dup);
    if (n == 0)
        return ORBIT_OK;
    size_t *idx = malloc(n * sizeof *idx);
    sort_key *sk = malloc(n * sizeof *sk);
    if (!idx || !sk) {
        free(idx);
        free(sk);
        return ORBIT_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        sk[i].ts = pts[i].ts;
        sk[i].seq = pts[i].seq;
        sk[i].i = i;
    }
    qsort(sk, n, sizeof *sk, cmp_sort_key);
    for (size_t i = 0; i < n; i++)
        idx[i] = sk[i].i;
    free(sk);
    limits l;
    get_limits(s, &l);
    if (l.trim_keys != SIZE_MAX)
        l.keys -= l.trim_keys;
    int rc = ORBIT_OK;
    if (tx) {
        if (chunk_end(s, pts, idx, 0, n, &(limits){l.keys, l.bytes, SIZE_MAX, 0}) < n) {
            orbit_tx_fail(tx, ORBIT_ETOOBIG);
            rc = orbit_error_set(ORBIT_ETOOBIG,
                                 "timeseries %s: %zu points and their rollups exceed one "
                                 "transaction of this provider (max_txn_keys %zu); pass no "
                                 "transaction to ingest them in chunks",
                                 s->name, n, l.keys);
        } else {
            madd_arg m = {s, pts, idx, n, dup, strict};
            rc = orbit_tx_auto(tx, madd_fn, &m);
            if (!rc && written)
                *written = n;
        }
    } else {
        /* Read committed where offered: every key these transactions
         * depend on is a rollup they claim (get_for_update) or a point only
         * a claimant of its rollup writes, so a snapshot adds nothing but
         * its per-key validation (half the cost of a RocksDB transaction). */
        orbit_capabilities c;
        orbit_kv_capabilities(s->kv, &c);
        orbit_tx_opts to = {0};
        if (c.isolation_levels & ORBIT_ISO_BIT(ORBIT_ISO_READ_COMMITTED))
            to.isolation = ORBIT_TX_READ_COMMITTED;
        for (size_t from = 0; from < n && !rc;) {
            size_t end = chunk_end(s, pts, idx, from, n, &l);
            madd_arg m = {s, pts, idx + from, end - from, dup, strict};
            rc = orbit_tx_run(&to, 0, madd_fn, &m);
            if (!rc && written)
                *written += end - from;
            if (rc < 0 && from > 0 && orbit_err_retryable(rc))
                /* Earlier chunks are stored: retrying the whole batch would
                 * apply them twice (a SUM policy adds again). Not retryable. */
                rc = orbit_error_set(ORBIT_EUNCERTAIN,
                                     "timeseries %s: the first %zu of %zu points (in timestamp order) are stored, "
                                     "the rest is not (%s): resend only the rest",
                                     s->name, from, n, orbit_err_name(rc));
            from = end;
        }
    }
    free(idx);
    return rc;
}

int orbit_ts_madd(orbit_tx *tx, const orbit_series *s, const orbit_ts_point *pts, size_t n,
                  orbit_ts_dup dup, size_t *written)
{
    return madd_impl(tx, s, pts, n, dup, written, 0);
}

int orbit_ts_add(orbit_tx *tx, const orbit_series *s, int64_t ts, int64_t seq,
                 const orbit_ts_value *v, orbit_ts_dup dup)
{
    if (!s)
        return orbit_error_set(ORBIT_EINVAL, "timeseries add: no series");
    orbit_ts_point p = {ts, seq, {0}};
    if (v)
        p.v = *v;
    int rc = check_point(s, ts, seq, v, dup);
    return rc ? rc : madd_impl(tx, s, &p, 1, dup, NULL, 1);
}

/* ---- deletes ----------------------------------------------------------- */

typedef struct del_arg {
    const orbit_series *s;
    int64_t ts, seq;
} del_arg;

static int del_fn(orbit_tx *tx, void *arg)
{
    del_arg *d = arg;
    const orbit_series *s = d->s;
    wctx w;
    int rc = w_begin(&w, tx, s);
    bstate *b0 = NULL;
    orbit_ts_value old;
    if (!rc)
        rc = w_load(&w, 0, bstart(d->ts, s->grans[0]), &b0);
    if (!rc && (!b0->exists || ts__pos_cmp(d->ts, d->seq, b0->r.first_ts, b0->r.first_seq) < 0 ||
                ts__pos_cmp(d->ts, d->seq, b0->r.last_ts, b0->r.last_seq) > 0))
        rc = ORBIT_NOTFOUND; /* outside the bucket's points: not stored */
    if (!rc)
        rc = w_point_key(&w, &w.key, d->ts, d->seq);
    if (!rc)
        rc = orbit_txn_get(w.txn, w.key.data, w.key.len, &w.val);
    if (!rc) {
        const uint8_t *p;
        size_t n;
        rc = ts__record_payload(w.val.data, w.val.len, w.key.data, w.key.len, &w.scratch, &p, &n);
        rc = rc ? rc : ts__point_decode(p, n, s->type, w.key.data, w.key.len, &old);
    }
    ts_owned o = {0};
    if (!rc)
        rc = ts__owned_set(&o, &old);
    if (!rc)
        rc = orbit_txn_del(w.txn, w.key.data, w.key.len);
    if (!rc)
        rc = w_change_all(&w, d->ts, d->seq, &o.v, NULL);
    if (!rc)
        rc = w_flush(&w, NULL);
    if (!rc)
        rc = touch(tx, s->a);
    ts__owned_release(&o);
    w_end(&w);
    return rc;
}

int orbit_ts_del(orbit_tx *tx, const orbit_series *s, int64_t ts, int64_t seq)
{
    if (!s)
        return orbit_error_set(ORBIT_EINVAL, "timeseries del: no series");
    if (ts < 0 || ts > ORBIT_TS_MAX || seq < 0 || seq > ORBIT_TS_MAX)
        return ORBIT_NOTFOUND;
    del_arg d = {s, ts, seq};
    return orbit_tx_auto(tx, del_fn, &d);
}

/*
 * Delete the points in keys [(lt, lq), (ht, hq)) with their rollups: the
 * rollups of buckets wholly inside go by range delete, the partial ones
 * (at most two per granularity) are recomputed. *deleted += the points
 * deleted (the finest granularity's whole buckets' counts plus what the
 * partial ones lost).
 */
static int del_core(wctx *w, int64_t lt, int64_t lq, int64_t ht, int64_t hq, uint64_t *deleted)
{
    const orbit_series *s = w->s;
    int rc = ORBIT_OK;
    uint64_t n = 0;
    if (ts__pos_cmp(lt, lq, ht, hq) >= 0)
        return ORBIT_OK;
    int64_t w0[ORBIT_TS_MAX_GRANS], w1[ORBIT_TS_MAX_GRANS];
    for (size_t gi = 0; gi < s->ngrans && !rc; gi++) {
        int64_t g = s->grans[gi];
        int64_t pl = bstart(lt, g), ph = bstart(ht, g);
        int lo_al = lq == 0 && pl == lt, hi_al = hq == 0 && ph == ht;
        w0[gi] = lo_al ? lt : pl + g;
        w1[gi] = ph;
        bstate *b;
        /* trim(): the range ends on a finest bucket boundary, so a coarser
         * bucket made of whole finest ones is rebuilt from their rollups */
        int fine = w->fine_partials && gi > 0 && g % s->grans[0] == 0;
        if (!lo_al) {
            rc = w_load(w, gi, pl, &b);
            if (!rc && b->exists)
                b->dirty = b->recompute = 1;
        }
        if (!rc && !hi_al && (lo_al || ph != pl)) {
            rc = w_load(w, gi, ph, &b);
            if (!rc && b->exists) {
                b->dirty = b->recompute = 1;
                b->from_fine = fine;
            }
        }
    }
    /* the counts of the finest granularity's whole buckets */
    if (!rc && w0[0] < w1[0]) {
        w->lo.len = w->hi.len = 0;
        rc = ts__key_bucket(&w->lo, s, s->grans[0], w0[0]);
        rc = rc ? rc : ts__key_bucket(&w->hi, s, s->grans[0], w1[0]);
        orbit_scan_opts so = {0};
        so.start = w->lo.data;
        so.start_len = w->lo.len;
        so.end = w->hi.data;
        so.end_len = w->hi.len;
        orbit_iter *it = NULL;
        rc = rc ? rc : orbit_txn_iter(w->txn, &so, &it);
        ts_roll r;
        ts__roll_init(&r, s->type);
        const uint8_t *k, *v;
        size_t kl, vl;
        while (!rc && (rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0) {
            const uint8_t *p;
            size_t pn;
            rc = ts__record_payload(v, vl, k, kl, &w->scratch, &p, &pn);
            rc = rc ? rc : ts__roll_decode(p, pn, &r, k, kl);
            if (!rc)
                n += r.count;
        }
        if (rc == ORBIT_NOTFOUND)
            rc = ORBIT_OK;
        ts__roll_release(&r);
        orbit_iter_close(it);
    }
    if (!rc) {
        w->lo.len = w->hi.len = 0;
        rc = w_point_key(w, &w->lo, lt, lq);
        rc = rc ? rc : w_point_key(w, &w->hi, ht, hq);
        rc = rc ? rc : orbit_txn_delete_range(w->txn, w->lo.data, w->lo.len, w->hi.data, w->hi.len);
    }
    for (size_t gi = 0; gi < s->ngrans && !rc; gi++) {
        if (w0[gi] >= w1[gi])
            continue;
        w->lo.len = w->hi.len = 0;
        rc = ts__key_bucket(&w->lo, s, s->grans[gi], w0[gi]);
        rc = rc ? rc : ts__key_bucket(&w->hi, s, s->grans[gi], w1[gi]);
        rc = rc ? rc : orbit_txn_delete_range(w->txn, w->lo.data, w->lo.len, w->hi.data, w->hi.len);
    }
    if (!rc)
        rc = w_flush(w, &n);
    if (!rc && n)
        rc = touch(w->tx, s->a);
    if (!rc)
        *deleted += n;
    return rc;
}

typedef struct range_arg {
    const orbit_series *s;
    int64_t lt, lq, ht, hq; /* keys [(lt, lq), (ht, hq)) */
    size_t max_points;      /* 0: all in one transaction */
    uint64_t deleted;
    int more;
    int64_t next_t, next_q;
} range_arg;

static int range_fn(orbit_tx *tx, void *arg)
{
    range_arg *r = arg;
    wctx w;
    int rc = w_begin(&w, tx, r->s);
    int64_t ht = r->ht, hq = r->hq;
    r->deleted = 0;
    r->more = 0;
    if (!rc && r->max_points) {
        /* where this chunk ends: after max_points points */
        rc = w_point_key(&w, &w.lo, r->lt, r->lq);
        rc = rc ? rc : w_point_key(&w, &w.hi, r->ht, r->hq);
        orbit_scan_opts so = {0};
        so.start = w.lo.data;
        so.start_len = w.lo.len;
        so.end = w.hi.data;
        so.end_len = w.hi.len;
        so.keys_only = 1;
        so.limit = r->max_points + 1;
        orbit_iter *it = NULL;
        rc = rc ? rc : orbit_txn_iter(w.txn, &so, &it);
        const uint8_t *k, *v;
        size_t kl, vl, seen = 0;
        while (!rc && (rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0)
            if (++seen > r->max_points) {
                rc = ts__point_key_decode(k, kl, w.pprefix.len, &ht, &hq);
                r->more = 1;
                break;
            }
        if (rc == ORBIT_NOTFOUND)
            rc = ORBIT_OK;
        orbit_iter_close(it);
    }
    if (!rc)
        rc = del_core(&w, r->lt, r->lq, ht, hq, &r->deleted);
    r->next_t = ht;
    r->next_q = hq;
    w_end(&w);
    return rc;
}

/* Delete points with lo <= ts < hi_ts (0 <= lo, hi_ts <= ORBIT_TS_MAX + 1). */
static int delete_between(orbit_tx *tx, const orbit_series *s, int64_t lo, int64_t hi_ts,
                          uint64_t *deleted)
{
    if (lo >= hi_ts)
        return ORBIT_OK;
    range_arg r = {s, lo, 0, hi_ts, 0, 0, 0, 0, 0, 0};
    if (tx) {
        int rc = orbit_tx_auto(tx, range_fn, &r);
        if (!rc && deleted)
            *deleted += r.deleted;
        return rc;
    }
    limits l;
    get_limits(s, &l);
    size_t per = l.keys == SIZE_MAX ? CHUNK_POINTS_MAX
                                    : (l.keys > 2 * s->ngrans + 2
                                           ? (l.keys - 2 * s->ngrans - 2) / (1 + s->ngrans)
                                           : 1);
    if (per < 1)
        per = 1;
    r.max_points = per;
    for (;;) {
        int rc = orbit_tx_run(NULL, 0, range_fn, &r);
        if (rc)
            return rc;
        if (deleted)
            *deleted += r.deleted;
        if (!r.more)
            return ORBIT_OK;
        r.lt = r.next_t;
        r.lq = r.next_q;
    }
}

int orbit_ts_del_range(orbit_tx *tx, const orbit_series *s, int64_t from, int64_t to,
                       uint64_t *deleted)
{
    if (deleted)
        *deleted = 0;
    if (!s)
        return orbit_error_set(ORBIT_EINVAL, "timeseries del_range: no series");
    if (from > to || to < 0 || from > ORBIT_TS_MAX)
        return ORBIT_OK;
    int64_t lo = from < 0 ? 0 : from;
    int64_t hi = (to > ORBIT_TS_MAX ? ORBIT_TS_MAX : to) + 1;
    return delete_between(tx, s, lo, hi, deleted);
}

static int last_ts_fn(void *arg, const orbit_ts_point *p)
{
    *(int64_t *)arg = p->ts;
    return 0;
}

int orbit_ts_expire(orbit_tx *tx, const orbit_series *s, int64_t now_ms, uint64_t *deleted)
{
    if (deleted)
        *deleted = 0;
    if (!s)
        return orbit_error_set(ORBIT_EINVAL, "timeseries expire: no series");
    orbit_txn *t = NULL;
    int rc;
    if (tx && (rc = txn_of(tx, s->a, &t)))
        return rc;
    orbit_buf key = ORBIT_BUF_INIT;
    ts_def d = {0};
    if (!(rc = ts__key_meta(&key, s->ks, s->id)))
        rc = def_read(s->kv, t, 0, &key, &d);
    orbit_buf_release(&key);
    uint64_t ret = d.retention_ms;
    ts__def_release(&d);
    if (rc || ret == 0)
        return rc;
    if (now_ms == ORBIT_TS_NOW_LAST) {
        rc = orbit_ts_last(tx, s, last_ts_fn, &now_ms);
        if (rc)
            return rc == ORBIT_NOTFOUND ? ORBIT_OK : rc;
    }
    if (now_ms <= 0 || (uint64_t)now_ms <= ret)
        return ORBIT_OK;
    int64_t cutoff = now_ms - (int64_t)ret; /* points with ts < cutoff go */
    if (cutoff > ORBIT_TS_MAX + 1)
        cutoff = ORBIT_TS_MAX + 1;
    return delete_between(tx, s, 0, cutoff, deleted);
}

/* ---- drop and list -------------------------------------------------------- */

typedef struct drop_arg {
    const orbit_actor *a;
    uint64_t id;
} drop_arg;

static int drop_fn(orbit_tx *tx, void *arg)
{
    drop_arg *d = arg;
    orbit_txn *t;
    int rc = txn_of(tx, d->a, &t);
    if (rc)
        return rc;
    orbit_buf key = ORBIT_BUF_INIT, v = ORBIT_BUF_INIT, lo = ORBIT_BUF_INIT;
    uint8_t *hi = NULL;
    rc = ts__key_meta(&key, orbit_actor_keyspace(d->a), d->id);
    rc = rc ? rc : orbit_txn_get_for_update(t, key.data, key.len, &v);
    rc = rc ? rc : orbit_key_object_prefix(&lo, orbit_actor_keyspace(d->a), ORBIT_PREFIX_TS, d->id);
    if (!rc) {
        hi = malloc(lo.len);
        size_t hl = hi ? orbit__prefix_successor(lo.data, lo.len, hi) : 0;
        rc = hi ? orbit_txn_delete_range(t, lo.data, lo.len, hi, hl) : ORBIT_ENOMEM;
    }
    if (!rc)
        rc = touch(tx, d->a);
    free(hi);
    orbit_buf_release(&key);
    orbit_buf_release(&v);
    orbit_buf_release(&lo);
    return rc;
}

int orbit_ts_drop(orbit_tx *tx, const orbit_actor *a, const char *name)
{
    orbit_series *s;
    int rc = orbit_ts_open(tx, a, name, &s);
    if (rc)
        return rc;
    drop_arg d = {a, s->id};
    if (!tx) {
        limits l;
        get_limits(s, &l);
        if (l.keys != SIZE_MAX) /* points and rollups first, chunk by chunk */
            rc = delete_between(NULL, s, 0, ORBIT_TS_MAX + 1, NULL);
    }
    orbit_ts_close(s);
    return rc ? rc : orbit_tx_auto(tx, drop_fn, &d);
}

typedef struct list_arg {
    const orbit_actor *a;
    orbit_ts_series_fn fn;
    void *arg;
} list_arg;

static int list_one(void *arg, const char *name, uint64_t id)
{
    list_arg *l = arg;
    orbit_buf key = ORBIT_BUF_INIT;
    ts_def d = {0};
    int rc = ts__key_meta(&key, orbit_actor_keyspace(l->a), id);
    if (!rc)
        rc = def_read(orbit_actor_store(l->a), NULL, 0, &key, &d);
    orbit_buf_release(&key);
    if (rc == ORBIT_NOTFOUND)
        return ORBIT_OK; /* dropped: the catalog keeps its id */
    if (rc)
        return rc;
    orbit_ts_info info = {0};
    info.id = id;
    info.type = d.type;
    info.retention_ms = d.retention_ms;
    info.ngrans = d.ngrans;
    memcpy(info.grans_ms, d.grans, sizeof info.grans_ms);
    info.labels = d.labels;
    info.nlabels = d.nlabels;
    rc = l->fn(l->arg, name, &info);
    ts__def_release(&d);
    return rc;
}

int orbit_ts_list(const orbit_actor *a, orbit_ts_series_fn fn, void *arg)
{
    if (!a || !fn)
        return orbit_error_set(ORBIT_EINVAL, "timeseries list: an actor and a callback are required");
    list_arg l = {a, fn, arg};
    return orbit_catalog_list_names(orbit_actor_store(a), orbit_actor_keyspace(a),
                                    ORBIT_CATALOG_SERIES, list_one, &l);
}
