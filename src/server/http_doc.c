/*
 * The document resources of the HTTP API, over orbit/document.h, on the
 * models actor (models-actor, default "orbit"/"default"; config.h):
 *
 *   GET    /v1/collections/{c}/docs?start=&limit=   {"docs": [{"id", "doc"}],
 *                                                   "next": id (absent at the end)}
 *   PUT    /v1/collections/{c}/docs/{id}            body = the document (JSON),
 *                                                   replacing any; the collection
 *                                                   is created on first write
 *   GET    /v1/collections/{c}/docs/{id}            the document
 *   GET    /v1/collections/{c}/docs/{id}?path=P     the JSON array of P's matches
 *   PATCH  /v1/collections/{c}/docs/{id}[?path=P]   RFC 7396 merge-patch (body)
 *                                                   of the document or P's matches
 *   DELETE /v1/collections/{c}/docs/{id}[?path=P]   the document, or P's matches
 *
 * {id} is one percent-decoded path segment (any bytes, %2F for '/').
 * Paths are RedisJSON's ($.a.b, $..x, $[0]; orbit/document.h). Errors: 404
 * no such collection or document, 400 bad JSON or path, 409 a reference or
 * unique constraint, as hx_orbit_error maps them.
 *
 * Collection handles are cached by name like tables (http_rel.c), and
 * live until srv_http_doc_release.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/document.h"
#include "orbit/provider.h"
#include "server/config.h"
#include "server/http_int.h"
#include "server/server.h"

typedef struct ccache {
    char *name;
    orbit_doc_coll *c;
    struct ccache *next;
} ccache;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static orbit_actor *g_actor;
static ccache *g_colls;

int hx_doc_coll(const char *name, int create, orbit_doc_coll **out)
{
    pthread_mutex_lock(&g_mu);
    int rc = g_actor ? 0 : srv_models_actor_open(&g_actor);
    for (ccache *c = g_colls; !rc && c; c = c->next)
        if (!strcmp(c->name, name)) {
            *out = c->c;
            pthread_mutex_unlock(&g_mu);
            return 0;
        }
    orbit_doc_coll *h = NULL;
    if (!rc)
        rc = orbit_doc_coll_open(g_actor, name, create, &h);
    if (!rc) {
        ccache *c = calloc(1, sizeof *c);
        if (!c || !(c->name = strdup(name))) {
            free(c);
            orbit_doc_coll_close(h);
            rc = ORBIT_ENOMEM;
        } else {
            c->c = h;
            c->next = g_colls;
            g_colls = c;
            *out = h;
        }
    }
    pthread_mutex_unlock(&g_mu);
    return rc;
}

void srv_http_doc_release(void)
{
    pthread_mutex_lock(&g_mu);
    while (g_colls) {
        ccache *c = g_colls;
        g_colls = c->next;
        orbit_doc_coll_close(c->c);
        free(c->name);
        free(c);
    }
    orbit_actor_close(g_actor);
    g_actor = NULL;
    pthread_mutex_unlock(&g_mu);
}

/* The collection of the path's third segment (NULL after replying). */
static orbit_doc_coll *coll_of(hx_req *r, int create)
{
    const srv_http_str *nm = &r->t.seg[2];
    if (strlen(nm->p) != nm->n) {
        hx_error(r, 400, "EINVAL", "a collection name may not hold NUL bytes");
        return NULL;
    }
    orbit_doc_coll *c = NULL;
    int rc = hx_doc_coll(nm->p, create, &c);
    if (rc == ORBIT_NOTFOUND)
        hx_error(r, 404, "NOTFOUND", "no collection %s", nm->p);
    else if (rc)
        hx_orbit_error(r, rc, "collection");
    return rc ? NULL : c;
}

/* Reply a JSON text the model produced, as it is. */
static void reply_text(hx_req *r, int status, const orbit_buf *b)
{
    struct orbit_buf nl = ORBIT_BUF_INIT;
    if (orbit_buf_set(&nl, b->data ? b->data : (const uint8_t *)"", b->len) ||
        orbit_buf_append(&nl, "\n", 1))
        hx_error(r, 500, "ENOMEM", "out of memory");
    else
        hx_bytes(r, status, "application/json", nl.data, nl.len);
    orbit_buf_release(&nl);
}

typedef struct scan_ctx {
    json_t *arr;
    orbit_buf b64;
    size_t n;
} scan_ctx;

static int scan_one(void *arg, const uint8_t *id, size_t idlen, const char *json, size_t len)
{
    scan_ctx *s = arg;
    json_t *o = json_object();
    json_t *d = json_loadb(json, len, JSON_DECODE_ANY, NULL);
    json_t *ids = hx_json_bytes(id, idlen);
    if (!o || !d)
        goto fail;
    if (ids) {
        json_object_set_new(o, "id", ids);
    } else {
        s->b64.len = 0;
        if (hx_b64_encode(&s->b64, id, idlen))
            goto fail;
        json_object_set_new(o, "id_base64",
                            json_stringn(s->b64.len ? (char *)s->b64.data : "", s->b64.len));
    }
    json_object_set_new(o, "doc", d);
    s->n++;
    return json_array_append_new(s->arr, o) ? ORBIT_ENOMEM : 0;
fail:
    json_decref(o);
    json_decref(d);
    json_decref(ids);
    return ORBIT_ENOMEM;
}

void hx_docs(hx_req *r)
{
    orbit_doc_coll *c = coll_of(r, 0);
    if (!c)
        return;
    size_t limit;
    if (hx_param_size(r, "limit", 100, 10000, &limit))
        return;
    if (!limit)
        limit = 100;
    const srv_http_str *start = srv_http_param(&r->t, "start");
    scan_ctx s = {json_array(), ORBIT_BUF_INIT, 0};
    /* one more than asked tells whether there is a next page */
    int rc = orbit_doc_scan(NULL, c, start ? start->p : NULL, start ? start->n : 0, limit + 1,
                            scan_one, &s);
    if (rc) {
        json_decref(s.arr);
        hx_orbit_error(r, rc, "scan");
    } else {
        json_t *next = NULL;
        const char *next_name = "next";
        if (s.n > limit) {
            json_t *last = json_array_get(s.arr, limit);
            next = json_object_get(last, "id");
            if (!next) {
                next = json_object_get(last, "id_base64");
                next_name = "next_base64";
            }
            json_incref(next);
            json_array_remove(s.arr, limit);
        }
        json_t *j = json_pack("{s:o}", "docs", s.arr);
        if (next)
            json_object_set_new(j, next_name, next);
        hx_json(r, 200, j);
    }
    orbit_buf_release(&s.b64);
}

void hx_doc(hx_req *r)
{
    const srv_http_str *id = &r->t.seg[4];
    const srv_http_str *path = srv_http_param(&r->t, "path");
    if (path && strlen(path->p) != path->n) {
        hx_error(r, 400, "EINVAL", "a path may not hold NUL bytes");
        return;
    }
    int writes = r->method == SRV_M_PUT || r->method == SRV_M_PATCH;
    orbit_doc_coll *c = coll_of(r, writes);
    if (!c)
        return;
    orbit_buf out = ORBIT_BUF_INIT;
    int rc;
    if (r->method == SRV_M_GET) {
        rc = path ? orbit_doc_get_path(NULL, c, id->p, id->n, path->p, &out)
                  : orbit_doc_get(NULL, c, id->p, id->n, &out);
        if (!rc)
            reply_text(r, 200, &out);
    } else if (r->method == SRV_M_PUT) {
        size_t n;
        const uint8_t *b = hx_body(r, &n);
        rc = orbit_doc_put(NULL, c, id->p, id->n, (const char *)b, n);
        if (!rc)
            hx_json(r, 200, json_pack("{s:b}", "ok", 1));
    } else if (r->method == SRV_M_PATCH) {
        size_t n, matched = 0;
        const uint8_t *b = hx_body(r, &n);
        rc = orbit_doc_merge(NULL, c, id->p, id->n, path ? path->p : NULL, (const char *)b, n,
                             &matched);
        if (!rc)
            hx_json(r, 200, json_pack("{s:I}", "matched", (json_int_t)matched));
    } else {
        size_t deleted = 0;
        if (path) {
            rc = orbit_doc_del_path(NULL, c, id->p, id->n, path->p, &deleted);
        } else {
            rc = orbit_doc_delete(NULL, c, id->p, id->n);
            deleted = 1;
        }
        if (!rc)
            hx_json(r, 200, json_pack("{s:I}", "deleted", (json_int_t)deleted));
    }
    if (rc == ORBIT_NOTFOUND)
        hx_error(r, 404, "NOTFOUND", "no such document");
    else if (rc)
        hx_orbit_error(r, rc, "document");
    orbit_buf_release(&out);
}
