/*
 * The vector resources of the HTTP API, over orbit/vector.h, on the
 * models actor (models-actor, default "orbit"/"default"; config.h):
 *
 *   PUT    /v1/vectors/{c}                {"dim": d, "metric": "l2"|"cosine"|"ip"}:
 *                                         201, 409 EEXIST
 *   GET    /v1/vectors/{c}                {"name", "dim", "metric", "count"}
 *   PUT    /v1/vectors/{c}/items/{id}     {"vector": [floats], "meta": {...}}
 *   GET    /v1/vectors/{c}/items/{id}     {"id", "vector", "meta"}
 *   DELETE /v1/vectors/{c}/items/{id}
 *   POST   /v1/vectors/{c}/search         {"vector": [..], "k": n, "filter":
 *                                         {"path": "$.genre", "value": V}}:
 *                                         {"hits": [{"id", "score", "meta"}]}, best first
 *
 * {id} is one percent-decoded path segment; ids that are not UTF-8 come
 * back as "id_base64". Collection handles are cached by name as tables
 * are, until srv_http_vec_release.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/provider.h"
#include "orbit/vector.h"
#include "server/config.h"
#include "server/http_int.h"
#include "server/server.h"

static int open_one(orbit_actor *a, const char *name, void **out)
{
    orbit_vec_coll *h = NULL;
    int rc = orbit_vec_coll_open(a, name, &h);
    *out = h;
    return rc;
}

static void close_one(void *h) { orbit_vec_coll_close(h); }

static hx_handles g_handles = HX_HANDLES_INIT(open_one, close_one);

static int vec_coll(const char *name, orbit_vec_coll **out)
{
    void *h = NULL;
    int rc = hx_handle_get(&g_handles, name, &h);
    *out = h;
    return rc;
}

void srv_http_vec_release(void) { hx_handles_release(&g_handles); }

static const char *name_of(hx_req *r)
{
    const srv_http_str *nm = &r->t.seg[2];
    if (strlen(nm->p) != nm->n) {
        hx_error(r, 400, "EINVAL", "a collection name may not hold NUL bytes");
        return NULL;
    }
    return nm->p;
}

static orbit_vec_coll *coll_of(hx_req *r)
{
    const char *name = name_of(r);
    if (!name)
        return NULL;
    orbit_vec_coll *c = NULL;
    int rc = vec_coll(name, &c);
    if (rc == ORBIT_NOTFOUND)
        hx_error(r, 404, "NOTFOUND", "no vector collection %s", name);
    else if (rc)
        hx_orbit_error(r, rc, "vector collection");
    return rc ? NULL : c;
}

/* A JSON array of numbers as floats (malloc'd, *n of them); NULL if it is
 * not one (or a value does not fit a float). */
static float *floats(json_t *a, uint32_t *n)
{
    if (!json_is_array(a) || !json_array_size(a) || json_array_size(a) > ORBIT_VEC_DIM_MAX)
        return NULL;
    *n = (uint32_t)json_array_size(a);
    float *v = malloc(*n * sizeof *v);
    for (uint32_t i = 0; v && i < *n; i++) {
        json_t *x = json_array_get(a, i);
        double d = json_number_value(x);
        if (!json_is_number(x) || !isfinite(d) || fabs(d) > 3.4e38) {
            free(v);
            return NULL;
        }
        v[i] = (float)d;
    }
    return v;
}

static json_t *id_json(json_t *o, const uint8_t *id, size_t n)
{
    json_t *s = hx_json_bytes(id, n);
    if (s) {
        json_object_set_new(o, "id", s);
    } else {
        orbit_buf b = ORBIT_BUF_INIT;
        hx_b64_encode(&b, id, n);
        json_object_set_new(o, "id_base64", json_stringn(b.len ? (char *)b.data : "", b.len));
        orbit_buf_release(&b);
    }
    return o;
}

void hx_vec_coll(hx_req *r)
{
    if (r->method == SRV_M_PUT) {
        const char *name = name_of(r);
        if (!name)
            return;
        json_t *j = hx_body_json(r);
        if (!j)
            return;
        json_t *dim = json_object_get(j, "dim");
        const char *ms = json_string_value(json_object_get(j, "metric"));
        orbit_vec_metric m = ORBIT_VEC_L2;
        if (!json_is_integer(dim) || json_integer_value(dim) < 1 ||
            json_integer_value(dim) > ORBIT_VEC_DIM_MAX ||
            (ms && orbit_vec_metric_parse(ms, &m))) {
            hx_error(r, 400, "EINVAL",
                     "a vector collection needs \"dim\" (1 to %d) and an optional \"metric\" "
                     "(l2, cosine, ip)",
                     ORBIT_VEC_DIM_MAX);
            json_decref(j);
            return;
        }
        orbit_actor *actor = NULL;
        int rc = hx_handles_actor(&g_handles, &actor);
        if (!rc)
            rc = orbit_vec_coll_create(actor, name, (uint32_t)json_integer_value(dim), m);
        if (rc == ORBIT_EEXIST)
            hx_error(r, 409, "EEXIST", "vector collection %s exists", name);
        else if (rc)
            hx_orbit_error(r, rc, "create");
        else
            hx_json(r, 201, json_pack("{s:s, s:I, s:s}", "name", name, "dim",
                                      json_integer_value(dim), "metric",
                                      orbit_vec_metric_name(m)));
        json_decref(j);
        return;
    }
    orbit_vec_coll *c = coll_of(r);
    if (!c)
        return;
    orbit_vec_info info;
    int rc = orbit_vec_coll_info(NULL, c, &info);
    if (rc == ORBIT_NOTFOUND)
        hx_error(r, 404, "NOTFOUND", "the vector collection was dropped");
    else if (rc)
        hx_orbit_error(r, rc, "info");
    else
        hx_json(r, 200, json_pack("{s:s, s:I, s:s, s:I}", "name", orbit_vec_coll_name(c), "dim",
                                  (json_int_t)info.dim, "metric",
                                  orbit_vec_metric_name(info.metric), "count",
                                  (json_int_t)info.count));
}

void hx_vec_item(hx_req *r)
{
    orbit_vec_coll *c = coll_of(r);
    if (!c)
        return;
    const srv_http_str *id = &r->t.seg[4];
    int rc;
    if (r->method == SRV_M_PUT) {
        json_t *j = hx_body_json(r);
        if (!j)
            return;
        uint32_t n = 0;
        float *v = floats(json_object_get(j, "vector"), &n);
        json_t *meta = json_object_get(j, "meta");
        char *mt = meta && !json_is_null(meta) ? json_dumps(meta, JSON_COMPACT) : NULL;
        if (!v || (meta && !json_is_null(meta) && !json_is_object(meta))) {
            hx_error(r, 400, "EINVAL",
                     "an item is {\"vector\": [numbers], \"meta\": an optional object}");
        } else {
            rc = orbit_vec_put(NULL, c, id->p, id->n, v, n, mt, mt ? strlen(mt) : 0);
            if (rc)
                hx_orbit_error(r, rc, "put");
            else
                hx_json(r, 200, json_pack("{s:b}", "ok", 1));
        }
        free(mt);
        free(v);
        json_decref(j);
        return;
    }
    if (r->method == SRV_M_DELETE) {
        rc = orbit_vec_delete(NULL, c, id->p, id->n);
        if (rc == ORBIT_NOTFOUND)
            hx_error(r, 404, "NOTFOUND", "no such vector");
        else if (rc)
            hx_orbit_error(r, rc, "delete");
        else
            hx_json(r, 200, json_pack("{s:i}", "deleted", 1));
        return;
    }
    orbit_buf vec = ORBIT_BUF_INIT, meta = ORBIT_BUF_INIT;
    rc = orbit_vec_get(NULL, c, id->p, id->n, &vec, &meta);
    if (rc == ORBIT_NOTFOUND) {
        hx_error(r, 404, "NOTFOUND", "no such vector");
    } else if (rc) {
        hx_orbit_error(r, rc, "get");
    } else {
        json_t *arr = json_array();
        const float *f = (const float *)vec.data;
        for (size_t i = 0; i < vec.len / sizeof(float); i++)
            json_array_append_new(arr, json_real(f[i]));
        json_t *o = id_json(json_object(), (const uint8_t *)id->p, id->n);
        json_object_set_new(o, "vector", arr);
        json_object_set_new(o, "meta", meta.len ? json_loadb((const char *)meta.data, meta.len,
                                                             0, NULL)
                                                : json_null());
        hx_json(r, 200, o);
    }
    orbit_buf_release(&vec);
    orbit_buf_release(&meta);
}

void hx_vec_search(hx_req *r)
{
    orbit_vec_coll *c = coll_of(r);
    if (!c)
        return;
    json_t *j = hx_body_json(r);
    if (!j)
        return;
    uint32_t n = 0;
    float *q = floats(json_object_get(j, "vector"), &n);
    json_t *k = json_object_get(j, "k");
    json_t *filter = json_object_get(j, "filter");
    const char *fpath = filter ? json_string_value(json_object_get(filter, "path")) : NULL;
    json_t *fval = filter ? json_object_get(filter, "value") : NULL;
    char *fv = fval ? json_dumps(fval, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (!q || (k && (!json_is_integer(k) || json_integer_value(k) < 1 ||
                     json_integer_value(k) > ORBIT_VEC_K_MAX)) ||
        (filter && (!fpath || !fv))) {
        hx_error(r, 400, "EINVAL",
                 "a search is {\"vector\": [numbers], \"k\": 1 to %d (default 10), \"filter\": "
                 "{\"path\", \"value\"} (optional)}",
                 ORBIT_VEC_K_MAX);
    } else {
        orbit_vec_search_opts o = {0};
        o.k = k ? (size_t)json_integer_value(k) : 10;
        o.filter_path = fpath;
        o.filter_value = fv;
        o.filter_value_len = fv ? strlen(fv) : 0;
        o.with_meta = 1;
        orbit_vec_hit *hits = NULL;
        size_t nh = 0;
        int rc = orbit_vec_search(NULL, c, q, n, &o, &hits, &nh);
        if (rc == ORBIT_NOTFOUND) {
            hx_error(r, 404, "NOTFOUND", "the vector collection was dropped");
        } else if (rc) {
            hx_orbit_error(r, rc, "search");
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; i < nh; i++) {
                json_t *h = id_json(json_object(), hits[i].id, hits[i].idlen);
                json_object_set_new(h, "score", json_real(hits[i].score));
                json_object_set_new(h, "meta",
                                    hits[i].meta ? json_loadb(hits[i].meta, hits[i].meta_len, 0,
                                                              NULL)
                                                 : json_null());
                json_array_append_new(arr, h);
            }
            hx_json(r, 200, json_pack("{s:o}", "hits", arr));
        }
        orbit_vec_hits_free(hits, nh);
    }
    free(fv);
    free(q);
    json_decref(j);
}
