/*
 * The time-series resources of the HTTP API, over orbit/timeseries.h, on
 * the models actor (models-actor, default "orbit"/"default"; config.h):
 *
 *   PUT    /v1/series/{s}          {"type": "float64"|"int64"|"string"|"bool"|"json",
 *                                  "retention_ms": n, "labels": {k: v}}: 201, 409 EEXIST
 *   GET    /v1/series/{s}          {"name", "type", "retention_ms", "labels", "count",
 *                                  "first_ts", "last_ts"}
 *   POST   /v1/series/{s}/points   {"points": [[ts, value], ...], "on_duplicate":
 *                                  "last"|"block"|"first"|"min"|"max"|"sum"}:
 *                                  {"written": n} (one transaction per chunk, as
 *                                  orbit_ts_madd without a caller's transaction)
 *   GET    /v1/series/{s}/points?from=&to=&reverse=1&limit=
 *                                  {"points": [[ts, value], ...]} (from/to inclusive,
 *                                  default the whole series)
 *   GET    /v1/series/{s}/points?...&agg=avg|sum|min|max|count|first|last&bucket_ms=W
 *                                  [&align=A]: {"buckets": [{"start", "count", "value"}]}
 *   GET    /v1/series/{s}/last     {"ts", "value"}; 404 for an empty series
 *   DELETE /v1/series/{s}/points?from=&to=   {"deleted": n}
 *
 * Values are JSON by the series' type: numbers, strings, booleans, any
 * JSON value for a json series. Series handles are cached by name as
 * tables are, until srv_http_ts_release.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/provider.h"
#include "orbit/timeseries.h"
#include "server/config.h"
#include "server/http_int.h"
#include "server/server.h"

static int open_one(orbit_actor *a, const char *name, void **out)
{
    orbit_series *h = NULL;
    int rc = orbit_ts_open(NULL, a, name, &h);
    *out = h;
    return rc;
}

static void close_one(void *h) { orbit_ts_close(h); }

static hx_handles g_handles = HX_HANDLES_INIT(open_one, close_one);

static int series_get(const char *name, orbit_series **out)
{
    void *h = NULL;
    int rc = hx_handle_get(&g_handles, name, &h);
    *out = h;
    return rc;
}

void srv_http_ts_release(void) { hx_handles_release(&g_handles); }

static const char *const TYPES[] = {NULL, "int64", "float64", "string", "bool", "json"};

static const char *name_of(hx_req *r)
{
    const srv_http_str *nm = &r->t.seg[2];
    if (strlen(nm->p) != nm->n) {
        hx_error(r, 400, "EINVAL", "a series name may not hold NUL bytes");
        return NULL;
    }
    return nm->p;
}

static orbit_series *series_of(hx_req *r)
{
    const char *name = name_of(r);
    if (!name)
        return NULL;
    orbit_series *s = NULL;
    int rc = series_get(name, &s);
    if (rc == ORBIT_NOTFOUND)
        hx_error(r, 404, "NOTFOUND", "no series %s", name);
    else if (rc)
        hx_orbit_error(r, rc, "series");
    return rc ? NULL : s;
}

/* A signed integer query parameter (def when absent): 0, or -1 after
 * replying 400. */
static int param_i64(hx_req *r, const char *name, int64_t def, int64_t *out)
{
    const srv_http_str *v = srv_http_param(&r->t, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v->p, &end, 10);
    if (!v->n || *end || errno) {
        hx_error(r, 400, "EINVAL", "query parameter %s: expected an integer", name);
        return -1;
    }
    *out = x;
    return 0;
}

static json_t *value_json(const orbit_ts_value *v)
{
    switch (v->type) {
    case ORBIT_TS_INT64: return json_integer((json_int_t)v->i);
    case ORBIT_TS_FLOAT64: return json_real(v->d);
    case ORBIT_TS_BOOL: return json_boolean(v->b);
    case ORBIT_TS_STRING: {
        json_t *s = json_stringn(v->len ? v->s : "", v->len);
        return s ? s : json_null();
    }
    case ORBIT_TS_JSON: {
        json_t *j = json_loadb(v->s, v->len, JSON_DECODE_ANY, NULL);
        return j ? j : json_null();
    }
    }
    return json_null();
}

/* v from JSON for a series of type t; text (freed by the caller) holds a
 * JSON value's text. 0 or -1. */
int hx_ts_value_from(json_t *j, orbit_ts_type t, orbit_ts_value *v, char **text)
{
    memset(v, 0, sizeof *v);
    v->type = t;
    switch (t) {
    case ORBIT_TS_INT64:
        if (!json_is_integer(j))
            return -1;
        v->i = (int64_t)json_integer_value(j);
        return 0;
    case ORBIT_TS_FLOAT64:
        if (!json_is_number(j))
            return -1;
        v->d = json_number_value(j);
        return 0;
    case ORBIT_TS_BOOL:
        if (!json_is_boolean(j))
            return -1;
        v->b = json_is_true(j);
        return 0;
    case ORBIT_TS_STRING:
        if (!json_is_string(j))
            return -1;
        v->s = json_string_value(j);
        v->len = json_string_length(j);
        return 0;
    case ORBIT_TS_JSON:
        *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!*text)
            return -1;
        v->s = *text;
        v->len = strlen(*text);
        return 0;
    }
    return -1;
}

static void create(hx_req *r, const char *name)
{
    json_t *j = hx_body_json(r);
    if (!j)
        return;
    orbit_ts_create_opts o = {0};
    const char *ty = json_string_value(json_object_get(j, "type"));
    json_t *ret = json_object_get(j, "retention_ms"), *labels = json_object_get(j, "labels");
    int ok = 1;
    if (ty) {
        ok = 0;
        for (int i = 1; i <= 5; i++)
            if (!strcmp(ty, TYPES[i])) {
                o.type = (orbit_ts_type)i;
                ok = 1;
            }
    }
    if (ret && (!json_is_integer(ret) || json_integer_value(ret) < 0))
        ok = 0;
    o.retention_ms = ret && ok ? (uint64_t)json_integer_value(ret) : 0;
    size_t nl = json_is_object(labels) ? json_object_size(labels) : 0;
    orbit_ts_label *ls = calloc(nl ? nl : 1, sizeof *ls);
    if (labels && !json_is_object(labels))
        ok = 0;
    const char *k;
    json_t *v;
    size_t i = 0;
    if (ok && ls)
        json_object_foreach(labels, k, v)
        {
            if (!json_is_string(v)) {
                ok = 0;
                break;
            }
            ls[i].key = k;
            ls[i++].value = json_string_value(v);
        }
    o.labels = ls;
    o.nlabels = i;
    if (!ok || !ls) {
        hx_error(r, 400, "EINVAL",
                 "a series is {\"type\": int64|float64|string|bool|json, \"retention_ms\": n, "
                 "\"labels\": {string: string}}");
    } else {
        orbit_actor *actor = NULL;
        int rc = hx_handles_actor(&g_handles, &actor);
        if (!rc)
            rc = orbit_ts_create(NULL, actor, name, &o);
        if (rc == ORBIT_EEXIST)
            hx_error(r, 409, "EEXIST", "series %s exists", name);
        else if (rc)
            hx_orbit_error(r, rc, "create series");
        else
            hx_json(r, 201, json_pack("{s:s}", "series", name));
    }
    free(ls);
    json_decref(j);
}

void hx_series(hx_req *r)
{
    if (r->method == SRV_M_PUT) {
        const char *name = name_of(r);
        if (name)
            create(r, name);
        return;
    }
    orbit_series *s = series_of(r);
    if (!s)
        return;
    orbit_ts_info info;
    memset(&info, 0, sizeof info);
    int rc = orbit_ts_info_get(NULL, s, &info);
    if (rc == ORBIT_NOTFOUND) {
        hx_error(r, 404, "NOTFOUND", "the series was dropped");
    } else if (rc) {
        hx_orbit_error(r, rc, "series");
    } else {
        json_t *labels = json_object();
        for (size_t i = 0; i < info.nlabels; i++)
            json_object_set_new(labels, info.labels[i].key, json_string(info.labels[i].value));
        int ty = info.type >= 1 && info.type <= 5 ? (int)info.type : 2;
        hx_json(r, 200,
                json_pack("{s:s, s:s, s:I, s:o, s:I, s:I, s:I}", "name", orbit_ts_name(s),
                          "type", TYPES[ty], "retention_ms", (json_int_t)info.retention_ms,
                          "labels", labels, "count", (json_int_t)info.count, "first_ts",
                          (json_int_t)info.first_ts, "last_ts", (json_int_t)info.last_ts));
    }
    orbit_ts_info_release(&info);
}

static int collect_point(void *arg, const orbit_ts_point *p)
{
    json_t *pair = json_pack("[I, o]", (json_int_t)p->ts, value_json(&p->v));
    return pair && !json_array_append_new(arg, pair) ? 0 : ORBIT_ENOMEM;
}

static int collect_bucket(void *arg, const orbit_ts_bucket *b)
{
    json_t *o = json_pack("{s:I, s:I, s:o}", "start", (json_int_t)b->start, "count",
                          (json_int_t)b->count, "value", value_json(&b->value));
    return o && !json_array_append_new(arg, o) ? 0 : ORBIT_ENOMEM;
}

static int one_point(void *arg, const orbit_ts_point *p)
{
    *(json_t **)arg = json_pack("{s:I, s:o}", "ts", (json_int_t)p->ts, "value", value_json(&p->v));
    return 0;
}

void hx_series_last(hx_req *r)
{
    orbit_series *s = series_of(r);
    if (!s)
        return;
    json_t *p = NULL;
    int rc = orbit_ts_last(NULL, s, one_point, &p);
    if (rc == ORBIT_NOTFOUND)
        hx_error(r, 404, "NOTFOUND", "the series is empty");
    else if (rc)
        hx_orbit_error(r, rc, "last");
    else
        hx_json(r, 200, p);
}

static const char *const AGGS[] = {NULL, "avg", "sum", "min", "max", "count", "first", "last"};
const char *const hx_ts_dups[HX_TS_DUPS] = {"last", "block", "first", "min", "max", "sum"};

static void add_points(hx_req *r, orbit_series *s)
{
    json_t *j = hx_body_json(r);
    if (!j)
        return;
    json_t *pts = json_object_get(j, "points");
    const char *dn = json_string_value(json_object_get(j, "on_duplicate"));
    orbit_ts_dup dup = ORBIT_TS_DUP_LAST;
    int ok = json_is_array(pts) && json_array_size(pts) > 0;
    if (dn) {
        ok = 0;
        for (int i = 0; i < HX_TS_DUPS; i++)
            if (!strcmp(dn, hx_ts_dups[i])) {
                dup = (orbit_ts_dup)i;
                ok = ok || json_is_array(pts);
            }
    }
    size_t n = ok ? json_array_size(pts) : 0;
    orbit_ts_point *p = calloc(n ? n : 1, sizeof *p);
    char **texts = calloc(n ? n : 1, sizeof *texts);
    orbit_ts_type t = orbit_ts_value_type(s);
    size_t bad_at = 0;
    for (size_t i = 0; ok && p && texts && i < n; i++) {
        json_t *pair = json_array_get(pts, i);
        json_t *ts = json_array_get(pair, 0);
        if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_integer(ts) ||
            hx_ts_value_from(json_array_get(pair, 1), t, &p[i].v, &texts[i])) {
            ok = 0;
            bad_at = i;
            break;
        }
        p[i].ts = (int64_t)json_integer_value(ts);
    }
    if (!p || !texts) {
        hx_error(r, 500, "ENOMEM", "out of memory");
    } else if (!ok) {
        hx_error(r, 400, "EINVAL",
                 "points: a non-empty array of [ts, value] with values of the series' type "
                 "(%s); point %zu is not one",
                 TYPES[t >= 1 && t <= 5 ? t : 2], bad_at);
    } else {
        size_t written = 0;
        int rc = orbit_ts_madd(NULL, s, p, n, dup, &written);
        if (rc)
            hx_orbit_error(r, rc, "points");
        else
            hx_json(r, 200, json_pack("{s:I}", "written", (json_int_t)written));
    }
    for (size_t i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
    free(p);
    json_decref(j);
}

void hx_series_points(hx_req *r)
{
    orbit_series *s = series_of(r);
    if (!s)
        return;
    if (r->method == SRV_M_POST) {
        add_points(r, s);
        return;
    }
    int64_t from, to;
    if (param_i64(r, "from", INT64_MIN, &from) || param_i64(r, "to", INT64_MAX, &to))
        return;
    if (r->method == SRV_M_DELETE) {
        uint64_t deleted = 0;
        int rc = orbit_ts_del_range(NULL, s, from, to, &deleted);
        if (rc)
            hx_orbit_error(r, rc, "delete");
        else
            hx_json(r, 200, json_pack("{s:I}", "deleted", (json_int_t)deleted));
        return;
    }
    size_t reverse, limit;
    if (hx_param_size(r, "reverse", 0, 1, &reverse) ||
        hx_param_size(r, "limit", 0, 1000000, &limit))
        return;
    const srv_http_str *agg = srv_http_param(&r->t, "agg");
    json_t *arr = json_array();
    int rc;
    if (agg) {
        orbit_ts_agg_opts o = {0};
        for (int i = 1; i <= 7; i++)
            if (!strcmp(agg->p, AGGS[i]))
                o.agg = (orbit_ts_agg)i;
        int64_t w, align;
        if (param_i64(r, "bucket_ms", 0, &w) || param_i64(r, "align", 0, &align)) {
            json_decref(arr);
            return;
        }
        if (!o.agg || w <= 0) {
            json_decref(arr);
            hx_error(r, 400, "EINVAL",
                     "agg: avg, sum, min, max, count, first or last, with bucket_ms > 0");
            return;
        }
        o.bucket_ms = w;
        o.align = align;
        o.reverse = (int)reverse;
        o.limit = limit;
        rc = orbit_ts_aggregate(NULL, s, from, to, &o, collect_bucket, arr);
    } else {
        orbit_ts_range_opts o = {(int)reverse, limit};
        rc = orbit_ts_range(NULL, s, from, to, &o, collect_point, arr);
    }
    if (rc) {
        json_decref(arr);
        hx_orbit_error(r, rc, "range");
    } else {
        hx_json(r, 200, json_pack("{s:o}", agg ? "buckets" : "points", arr));
    }
}
