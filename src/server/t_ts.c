/*
 * RedisTimeSeries commands on the time-series model (orbit/timeseries.h):
 * TS.CREATE, TS.ADD, TS.MADD, TS.GET, TS.RANGE, TS.REVRANGE (COUNT,
 * ALIGN, AGGREGATION avg|sum|min|max|count|first|last), TS.DEL, TS.INFO.
 *
 * A key is one float64 series of the default actor, named by the key.
 * Replies as RedisTimeSeries: timestamps as integers, values as bulk
 * strings of the double (the shortest text that reads back as it). TS.ADD
 * and TS.MADD create a missing series (with TS.ADD's RETENTION and
 * LABELS), in the same transaction as the point. The duplicate policy is
 * BLOCK (RedisTimeSeries' default) unless TS.ADD says ON_DUPLICATE.
 * Retention (TS.CREATE's or TS.ADD's RETENTION) is applied by every write,
 * by the model (orbit/timeseries.h), relative to the series' newest
 * sample: a sample older than it is refused as RedisTimeSeries does
 * ("TSDB: Timestamp is older than retention", per sample in TS.MADD), and
 * expired samples are deleted in whole finest buckets (60 s), a bounded
 * number per write.
 *
 * Absent (refused with an error, not ignored): DUPLICATE_POLICY,
 * ENCODING, CHUNK_SIZE on create (no stored per-series policy, chunks are
 * not a concept here), FILTER_BY_TS, FILTER_BY_VALUE, BUCKETTIMESTAMP,
 * EMPTY, the aggregators range, std.*, var.*, twa; TS.ALTER, TS.MRANGE,
 * TS.MGET, TS.QUERYINDEX, TS.CREATERULE, TS.INCRBY.
 *
 * Series handles are cached once their series is committed (handles are
 * immutable); a series created in the current transaction is opened in it
 * for the command and closed after it (the model keeps no reference).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/provider.h"
#include "orbit/timeseries.h"
#include "server/t_models.h"

#define TSDB "TSDB: "

typedef struct sref {
    orbit_series *s;
    int owned; /* close after the command */
} sref;

static void sref_release(sref *r)
{
    if (r->owned)
        orbit_ts_close(r->s);
    r->s = NULL;
    r->owned = 0;
}

/* Open series name: 0, ORBIT_NOTFOUND, or an error. */
static int series_open(srv_call *x, const char *name, sref *out)
{
    out->owned = 0;
    out->s = models_cache_get(MC_SERIES, name);
    if (out->s)
        return 0;
    const orbit_actor *a;
    int rc = models_actor(&a);
    if (rc)
        return rc;
    orbit_series *s;
    rc = orbit_ts_open(NULL, a, name, &s);
    if (rc == 0) {
        out->s = models_cache_put(MC_SERIES, name, s);
        return out->s ? 0 : ORBIT_ENOMEM;
    }
    if (rc == ORBIT_NOTFOUND && x->tx) {
        rc = orbit_ts_open(x->tx, a, name, &s);
        if (rc == 0) {
            out->s = s;
            out->owned = 1;
        }
    }
    return rc;
}

static char *key_name(srv_call *x, int *rc)
{
    int bad;
    char *n = models_cstr(&x->argv[1], &bad);
    *rc = 0;
    if (!n) {
        if (bad)
            reply_error(x, TSDB "the key must not contain NUL bytes");
        else
            *rc = ORBIT_ENOMEM;
    }
    return n;
}

static void reply_value(srv_call *x, const orbit_ts_value *v)
{
    char tmp[32];
    int k;
    switch (v->type) {
    case ORBIT_TS_FLOAT64:
        models_reply_double(x, v->d);
        return;
    case ORBIT_TS_INT64:
        k = snprintf(tmp, sizeof tmp, "%lld", (long long)v->i);
        reply_bulk(x, tmp, (size_t)k);
        return;
    case ORBIT_TS_BOOL:
        reply_bulk(x, v->b ? "1" : "0", 1);
        return;
    default:
        reply_bulk(x, v->s, v->len);
        return;
    }
}

/* ---- options ---------------------------------------------------------- */

typedef struct create_args {
    orbit_ts_create_opts opts;
    orbit_ts_label labels[64];
    char *strs[128];
    size_t nstrs;
    int dup_set;
    orbit_ts_dup dup;
} create_args;

static void create_args_release(create_args *c)
{
    for (size_t i = 0; i < c->nstrs; i++)
        free(c->strs[i]);
    c->nstrs = 0;
}

static int parse_dup(const srv_arg *a, orbit_ts_dup *d)
{
    static const struct {
        const char *n;
        orbit_ts_dup d;
    } t[] = {{"BLOCK", ORBIT_TS_DUP_BLOCK}, {"FIRST", ORBIT_TS_DUP_FIRST},
             {"LAST", ORBIT_TS_DUP_LAST},   {"MIN", ORBIT_TS_DUP_MIN},
             {"MAX", ORBIT_TS_DUP_MAX},     {"SUM", ORBIT_TS_DUP_SUM}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (arg_eq(a, t[i].n)) {
            *d = t[i].d;
            return 1;
        }
    return 0;
}

/* Parse [RETENTION ms] [LABELS l v ...] [ON_DUPLICATE p] from argv[i..).
 * 0 ok, 1 an error was replied, or ORBIT_ENOMEM. allow_dup: TS.ADD. */
static int parse_create(srv_call *x, int i, int allow_dup, create_args *c)
{
    memset(c, 0, sizeof *c);
    c->opts.type = ORBIT_TS_FLOAT64;
    while (i < x->argc) {
        const srv_arg *a = &x->argv[i];
        if (arg_eq(a, "RETENTION")) {
            int64_t r;
            if (i + 1 >= x->argc || !models_arg_i64(&x->argv[i + 1], &r) || r < 0) {
                reply_error(x, TSDB "invalid RETENTION value");
                return 1;
            }
            c->opts.retention_ms = (uint64_t)r;
            i += 2;
        } else if (arg_eq(a, "LABELS")) {
            i++;
            while (i + 1 < x->argc && !arg_eq(&x->argv[i], "RETENTION") &&
                   !arg_eq(&x->argv[i], "ON_DUPLICATE")) {
                if (c->opts.nlabels >= 64) {
                    reply_error(x, TSDB "too many labels (at most 64)");
                    return 1;
                }
                int bad1, bad2;
                char *k = models_cstr(&x->argv[i], &bad1);
                char *v = models_cstr(&x->argv[i + 1], &bad2);
                if (k)
                    c->strs[c->nstrs++] = k;
                if (v)
                    c->strs[c->nstrs++] = v;
                if (!k || !v) {
                    if (bad1 || bad2) {
                        reply_error(x, TSDB "labels must not contain NUL bytes");
                        return 1;
                    }
                    return ORBIT_ENOMEM;
                }
                if (!k[0]) {
                    reply_error(x, TSDB "a label name must not be empty");
                    return 1;
                }
                c->labels[c->opts.nlabels].key = k;
                c->labels[c->opts.nlabels].value = v;
                c->opts.nlabels++;
                i += 2;
            }
            if (i < x->argc && !arg_eq(&x->argv[i], "RETENTION") &&
                !arg_eq(&x->argv[i], "ON_DUPLICATE")) {
                reply_error(x, TSDB "LABELS takes name value pairs");
                return 1;
            }
            c->opts.labels = c->labels;
        } else if (allow_dup && arg_eq(a, "ON_DUPLICATE")) {
            if (i + 1 >= x->argc || !parse_dup(&x->argv[i + 1], &c->dup)) {
                reply_error(x, TSDB "Unknown ON_DUPLICATE policy");
                return 1;
            }
            c->dup_set = 1;
            i += 2;
        } else if (arg_eq(a, "DUPLICATE_POLICY") || arg_eq(a, "ENCODING") ||
                   arg_eq(a, "CHUNK_SIZE") || arg_eq(a, "UNCOMPRESSED") ||
                   arg_eq(a, "IGNORE")) {
            reply_error(x, TSDB "option '%.*s' is not supported by orbitd", (int)a->len,
                        (const char *)a->data);
            return 1;
        } else {
            reply_error(x, TSDB "unknown option '%.*s'", (int)(a->len > 64 ? 64 : a->len),
                        (const char *)a->data);
            return 1;
        }
    }
    return 0;
}

static int ts_err(srv_call *x, int rc)
{
    if (rc == ORBIT_EEXIST) {
        reply_error(x, TSDB "Error at upsert, update is not supported when "
                         "DUPLICATE_POLICY is set to BLOCK mode");
        return 0;
    }
    if (rc == ORBIT_NOTFOUND) {
        reply_error(x, TSDB "the key does not exist");
        return 0;
    }
    const char *d = orbit_last_error_detail();
    if (rc == ORBIT_EINVAL && d && strstr(d, "older than the retention")) {
        reply_error(x, TSDB "Timestamp is older than retention");
        return 0;
    }
    return models_fail(x, rc, "TSDB");
}

/* ---- TS.CREATE -------------------------------------------------------- */

static int cmd_ts_create(srv_call *x)
{
    create_args c;
    int rc = parse_create(x, 2, 0, &c);
    if (rc) {
        create_args_release(&c);
        return rc == 1 ? 0 : rc;
    }
    char *name = key_name(x, &rc);
    const orbit_actor *a;
    if (name && !(rc = models_actor(&a))) {
        rc = orbit_ts_create(x->tx, a, name, &c.opts);
        if (rc == ORBIT_EEXIST) {
            reply_error(x, TSDB "key already exists");
            rc = 0;
        } else if (rc) {
            rc = models_fail(x, rc, "TSDB");
        } else {
            x->wrote = 1;
            reply_ok(x);
        }
    }
    free(name);
    create_args_release(&c);
    return rc;
}

/* ---- TS.ADD, TS.MADD -------------------------------------------------- */

/* Parse a sample's timestamp and value: 0 ok, 1 error replied. */
static int parse_sample(srv_call *x, int i, int64_t *ts, double *v)
{
    if (x->argv[i].len == 1 && x->argv[i].data[0] == '*') {
        *ts = (int64_t)srv_now_ms();
    } else if (!models_arg_i64(&x->argv[i], ts) || *ts < 0 || *ts > ORBIT_TS_MAX) {
        reply_error(x, TSDB "invalid timestamp");
        return 1;
    }
    if (!models_arg_double(&x->argv[i + 1], v)) {
        reply_error(x, TSDB "invalid value");
        return 1;
    }
    return 0;
}

/* Write one sample to series name, creating it (with c's options) when
 * absent and c is given. 0 ok, or the model's code. */
static int add_one(srv_call *x, const char *name, int64_t ts, double v, orbit_ts_dup dup,
                   const orbit_ts_create_opts *create)
{
    sref s;
    int rc = series_open(x, name, &s);
    if (rc == ORBIT_NOTFOUND && create) {
        const orbit_actor *a;
        rc = models_actor(&a);
        if (!rc)
            rc = orbit_ts_create(x->tx, a, name, create);
        if (!rc)
            x->wrote = 1;
        if (!rc)
            rc = series_open(x, name, &s);
    }
    if (rc)
        return rc;
    orbit_ts_value val = {.type = ORBIT_TS_FLOAT64, .d = v};
    rc = orbit_ts_add(x->tx, s.s, ts, 0, &val, dup);
    if (!rc)
        x->wrote = 1;
    sref_release(&s);
    return rc;
}

static int cmd_ts_add(srv_call *x)
{
    int64_t ts;
    double v;
    if (parse_sample(x, 2, &ts, &v))
        return 0;
    create_args c;
    int rc = parse_create(x, 4, 1, &c);
    if (rc) {
        create_args_release(&c);
        return rc == 1 ? 0 : rc;
    }
    char *name = key_name(x, &rc);
    if (name) {
        rc = add_one(x, name, ts, v, c.dup_set ? c.dup : ORBIT_TS_DUP_BLOCK, &c.opts);
        if (rc)
            rc = ts_err(x, rc);
        else
            reply_int(x, ts);
    }
    free(name);
    create_args_release(&c);
    return rc;
}

static int cmd_ts_madd(srv_call *x)
{
    if ((x->argc - 1) % 3 != 0) {
        reply_error(x, "wrong number of arguments for '%s' command", x->cmd->name);
        return 0;
    }
    int n = (x->argc - 1) / 3;
    /* Check every sample before writing any. */
    for (int k = 0; k < n; k++) {
        int64_t ts;
        double v;
        if (parse_sample(x, 2 + 3 * k, &ts, &v))
            return 0;
        if (memchr(x->argv[1 + 3 * k].data, 0, x->argv[1 + 3 * k].len)) {
            reply_error(x, TSDB "the key must not contain NUL bytes");
            return 0;
        }
    }
    reply_array(x, n);
    for (int k = 0; k < n; k++) {
        int64_t ts;
        double v;
        parse_sample(x, 2 + 3 * k, &ts, &v);
        char *name = models_cstr(&x->argv[1 + 3 * k], NULL);
        if (!name)
            return ORBIT_ENOMEM;
        orbit_ts_create_opts def = {.type = ORBIT_TS_FLOAT64};
        int rc = add_one(x, name, ts, v, ORBIT_TS_DUP_BLOCK, &def);
        free(name);
        if (rc) {
            rc = ts_err(x, rc);
            if (rc)
                return rc;
        } else {
            reply_int(x, ts);
        }
    }
    return 0;
}

/* ---- reads ------------------------------------------------------------ */

/* Open the command's series: 0 with s set, 1 replied (missing/bad), or an
 * error. */
static int open_existing(srv_call *x, sref *s)
{
    int rc;
    char *name = key_name(x, &rc);
    if (!name)
        return rc ? rc : 1;
    rc = series_open(x, name, s);
    free(name);
    if (rc == ORBIT_NOTFOUND) {
        reply_error(x, TSDB "the key does not exist");
        return 1;
    }
    return rc;
}

static int last_fn(void *arg, const orbit_ts_point *p)
{
    srv_call *x = arg;
    reply_array(x, 2);
    reply_int(x, p->ts);
    reply_value(x, &p->v);
    return 0;
}

static int cmd_ts_get(srv_call *x)
{
    sref s;
    int rc = open_existing(x, &s);
    if (rc)
        return rc == 1 ? 0 : rc;
    size_t mark = x->out->len;
    rc = orbit_ts_last(x->tx, s.s, last_fn, x);
    if (rc == ORBIT_NOTFOUND) {
        reply_array(x, 0);
        rc = 0;
    } else if (rc) {
        x->out->len = mark;
        rc = models_fail(x, rc, "TSDB");
    }
    sref_release(&s);
    return rc;
}

static int parse_bound(const srv_arg *a, int64_t *out, int64_t dash, int64_t plus)
{
    if (a->len == 1 && a->data[0] == '-') {
        *out = dash;
        return 1;
    }
    if (a->len == 1 && a->data[0] == '+') {
        *out = plus;
        return 1;
    }
    return models_arg_i64(a, out);
}

typedef struct collect {
    orbit_buf out; /* the replies of the items, counted in n */
    size_t n;
    srv_call *x;
} collect;

/* Replies go to a side buffer so that the array header (the count) can
 * come first. */
static int range_fn(void *arg, const orbit_ts_point *p)
{
    collect *c = arg;
    orbit_buf *save = c->x->out;
    c->x->out = &c->out;
    reply_array(c->x, 2);
    reply_int(c->x, p->ts);
    reply_value(c->x, &p->v);
    c->x->out = save;
    c->n++;
    return 0;
}

static int bucket_fn(void *arg, const orbit_ts_bucket *b)
{
    collect *c = arg;
    orbit_buf *save = c->x->out;
    c->x->out = &c->out;
    reply_array(c->x, 2);
    reply_int(c->x, b->start);
    const orbit_ts_value *v = &b->value;
    double d = v->type == ORBIT_TS_INT64 ? (double)v->i
               : v->type == ORBIT_TS_BOOL ? (double)v->b
                                          : v->d;
    if (v->type == ORBIT_TS_FLOAT64 || v->type == ORBIT_TS_INT64 || v->type == ORBIT_TS_BOOL)
        models_reply_double(c->x, d);
    else
        reply_value(c->x, v);
    c->x->out = save;
    c->n++;
    return 0;
}

static int range_generic(srv_call *x, int reverse)
{
    int64_t from, to;
    if (!parse_bound(&x->argv[2], &from, INT64_MIN, INT64_MAX) ||
        !parse_bound(&x->argv[3], &to, INT64_MIN, INT64_MAX)) {
        reply_error(x, TSDB "invalid fromTimestamp or toTimestamp");
        return 0;
    }
    long long count = 0;
    int agg = 0, align_kind = 0; /* 0 none, 1 value, 2 start, 3 end */
    int64_t bucket = 0, align = 0;
    for (int i = 4; i < x->argc;) {
        const srv_arg *a = &x->argv[i];
        if (arg_eq(a, "COUNT")) {
            if (i + 1 >= x->argc || !arg_ll(&x->argv[i + 1], &count) || count <= 0) {
                reply_error(x, TSDB "Invalid COUNT value");
                return 0;
            }
            i += 2;
        } else if (arg_eq(a, "ALIGN")) {
            if (i + 1 >= x->argc) {
                reply_error(x, TSDB "ALIGN needs a value");
                return 0;
            }
            const srv_arg *v = &x->argv[i + 1];
            if (arg_eq(v, "start") || arg_eq(v, "-"))
                align_kind = 2;
            else if (arg_eq(v, "end") || arg_eq(v, "+"))
                align_kind = 3;
            else if (models_arg_i64(v, &align) && align >= -ORBIT_TS_MAX && align <= ORBIT_TS_MAX)
                align_kind = 1;
            else {
                reply_error(x, TSDB "unknown ALIGN parameter");
                return 0;
            }
            i += 2;
        } else if (arg_eq(a, "AGGREGATION")) {
            static const struct {
                const char *n;
                orbit_ts_agg a;
            } t[] = {{"avg", ORBIT_TS_AGG_AVG},     {"sum", ORBIT_TS_AGG_SUM},
                     {"min", ORBIT_TS_AGG_MIN},     {"max", ORBIT_TS_AGG_MAX},
                     {"count", ORBIT_TS_AGG_COUNT}, {"first", ORBIT_TS_AGG_FIRST},
                     {"last", ORBIT_TS_AGG_LAST}};
            if (i + 2 >= x->argc) {
                reply_error(x, TSDB "AGGREGATION needs an aggregator and a bucket duration");
                return 0;
            }
            agg = 0;
            for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
                if (arg_eq(&x->argv[i + 1], t[k].n))
                    agg = (int)t[k].a;
            if (!agg) {
                const srv_arg *g = &x->argv[i + 1];
                reply_error(x, TSDB "aggregation type '%.*s' is not supported", (int)(g->len > 32 ? 32 : g->len),
                            (const char *)g->data);
                return 0;
            }
            if (!models_arg_i64(&x->argv[i + 2], &bucket) || bucket <= 0 ||
                bucket > ORBIT_TS_MAX_WIDTH) {
                reply_error(x, TSDB "bucketDuration must be greater than zero");
                return 0;
            }
            i += 3;
        } else if (arg_eq(a, "FILTER_BY_TS") || arg_eq(a, "FILTER_BY_VALUE") ||
                   arg_eq(a, "BUCKETTIMESTAMP") || arg_eq(a, "EMPTY") || arg_eq(a, "LATEST")) {
            reply_error(x, TSDB "option '%.*s' is not supported by orbitd", (int)a->len,
                        (const char *)a->data);
            return 0;
        } else {
            reply_error(x, ERR_SYNTAX);
            return 0;
        }
    }
    if (align_kind && !agg) {
        reply_error(x, TSDB "ALIGN requires AGGREGATION");
        return 0;
    }
    sref s;
    int rc = open_existing(x, &s);
    if (rc)
        return rc == 1 ? 0 : rc;
    collect c = {ORBIT_BUF_INIT, 0, x};
    if (from > to) {
        rc = 0;
    } else if (!agg) {
        orbit_ts_range_opts o = {.reverse = reverse, .limit = (size_t)count};
        rc = orbit_ts_range(x->tx, s.s, from, to, &o, range_fn, &c);
    } else {
        orbit_ts_agg_opts o = {.agg = (orbit_ts_agg)agg,
                               .bucket_ms = bucket,
                               .reverse = reverse,
                               .limit = (size_t)count};
        if (align_kind == 1)
            o.align = align;
        else if (align_kind == 2)
            o.align = from < 0 ? 0 : from;
        else if (align_kind == 3)
            o.align = to > ORBIT_TS_MAX ? ORBIT_TS_MAX : to;
        rc = orbit_ts_aggregate(x->tx, s.s, from, to, &o, bucket_fn, &c);
    }
    if (rc) {
        rc = models_fail(x, rc, "TSDB");
    } else {
        reply_array(x, (long long)c.n);
        if (c.out.len)
            orbit_buf_append(x->out, c.out.data, c.out.len);
    }
    orbit_buf_release(&c.out);
    sref_release(&s);
    return rc;
}

static int cmd_ts_range(srv_call *x)
{
    return range_generic(x, 0);
}

static int cmd_ts_revrange(srv_call *x)
{
    return range_generic(x, 1);
}

/* ---- TS.DEL, TS.INFO -------------------------------------------------- */

static int cmd_ts_del(srv_call *x)
{
    int64_t from, to;
    if (!parse_bound(&x->argv[2], &from, INT64_MIN, INT64_MAX) ||
        !parse_bound(&x->argv[3], &to, INT64_MIN, INT64_MAX)) {
        reply_error(x, TSDB "invalid fromTimestamp or toTimestamp");
        return 0;
    }
    sref s;
    int rc = open_existing(x, &s);
    if (rc)
        return rc == 1 ? 0 : rc;
    uint64_t deleted = 0;
    rc = orbit_ts_del_range(x->tx, s.s, from, to, &deleted);
    if (rc) {
        rc = models_fail(x, rc, "TSDB");
    } else {
        if (deleted)
            x->wrote = 1;
        reply_int(x, (long long)deleted);
    }
    sref_release(&s);
    return rc;
}

static int cmd_ts_info(srv_call *x)
{
    sref s;
    int rc = open_existing(x, &s);
    if (rc)
        return rc == 1 ? 0 : rc;
    orbit_ts_info info;
    memset(&info, 0, sizeof info);
    rc = orbit_ts_info_get(x->tx, s.s, &info);
    if (rc) {
        rc = models_fail(x, rc, "TSDB");
    } else {
        reply_map(x, 8);
        reply_cstr(x, "totalSamples");
        reply_int(x, (long long)info.count);
        reply_cstr(x, "firstTimestamp");
        reply_int(x, info.first_ts);
        reply_cstr(x, "lastTimestamp");
        reply_int(x, info.last_ts);
        reply_cstr(x, "retentionTime");
        reply_int(x, (long long)info.retention_ms);
        reply_cstr(x, "duplicatePolicy");
        reply_null(x);
        reply_cstr(x, "labels");
        reply_array(x, (long long)info.nlabels);
        for (size_t i = 0; i < info.nlabels; i++) {
            reply_array(x, 2);
            reply_cstr(x, info.labels[i].key);
            reply_cstr(x, info.labels[i].value);
        }
        reply_cstr(x, "sourceKey");
        reply_null(x);
        reply_cstr(x, "rules");
        reply_array(x, 0);
    }
    orbit_ts_info_release(&info);
    sref_release(&s);
    return rc;
}

#define W CMD_WRITE
#define R CMD_READONLY
#define T CMD_TXREAD

const srv_command srv_ts_commands[] = {
    {"ts.create", cmd_ts_create, -2, W, 1, 1, 1, "timeseries", "Create a time series",
     "key [RETENTION retentionPeriod] [LABELS label value ...]", NULL},
    {"ts.add", cmd_ts_add, -4, W, 1, 1, 1, "timeseries",
     "Append a sample (creating the series if absent)",
     "key timestamp|* value [RETENTION retentionPeriod] [ON_DUPLICATE policy] "
     "[LABELS label value ...]",
     NULL},
    {"ts.madd", cmd_ts_madd, -4, W, 1, -1, 3, "timeseries",
     "Append samples to several series", "key timestamp value [key timestamp value ...]", NULL},
    {"ts.get", cmd_ts_get, 2, R, 1, 1, 1, "timeseries", "The last sample of a series", "key",
     NULL},
    {"ts.range", cmd_ts_range, -4, R | T, 1, 1, 1, "timeseries",
     "Samples in a time range, or their aggregation per bucket",
     "key fromTimestamp|- toTimestamp|+ [COUNT count] [ALIGN align] "
     "[AGGREGATION avg|sum|min|max|count|first|last bucketDuration]",
     NULL},
    {"ts.revrange", cmd_ts_revrange, -4, R | T, 1, 1, 1, "timeseries",
     "Samples in a time range, newest first",
     "key fromTimestamp|- toTimestamp|+ [COUNT count] [ALIGN align] "
     "[AGGREGATION avg|sum|min|max|count|first|last bucketDuration]",
     NULL},
    {"ts.del", cmd_ts_del, 4, W, 1, 1, 1, "timeseries",
     "Delete the samples in a time range (inclusive)", "key fromTimestamp toTimestamp", NULL},
    {"ts.info", cmd_ts_info, -2, R | T, 1, 1, 1, "timeseries",
     "Samples, first and last timestamp, retention and labels of a series", "key", NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL},
};
