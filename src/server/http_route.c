/*
 * The HTTP API's target parsing and route table (http_route.h).
 *
 * Invariants: every decoded byte lives in the target's one arena, sized
 * from the input before anything is decoded (decoding never grows a
 * string), so a target is parsed with one allocation and freed with one;
 * input of any bytes either parses or is refused with a reason, never
 * read past its length.
 *
 * Layer: src/server, below http.c; depends on nothing but libc.
 */
#include <stdlib.h>
#include <string.h>

#include "server/http_route.h"

const srv_http_route_def srv_http_routes[] = {
    {"/health", SRV_M_GET | SRV_M_HEAD, H_HEALTH, "/health"},
    {"/metrics", SRV_M_GET | SRV_M_HEAD, H_METRICS, "/metrics"},
    {"/v1/providers", SRV_M_GET, H_PROVIDERS, "/v1/providers"},
    {"/v1/kv", SRV_M_GET, H_KV_SCAN, "/v1/kv"},
    {"/v1/kv/{...}", SRV_M_GET | SRV_M_HEAD | SRV_M_PUT | SRV_M_DELETE, H_KV_ONE,
     "/v1/kv/{key}"},
    {"/v1/tables", SRV_M_GET, H_TABLES, "/v1/tables"},
    {"/v1/tables/{}", SRV_M_GET | SRV_M_PUT, H_TABLE, "/v1/tables/{table}"},
    {"/v1/tables/{}/indexes", SRV_M_POST, H_TABLE_INDEXES, "/v1/tables/{table}/indexes"},
    {"/v1/tables/{}/rows", SRV_M_GET | SRV_M_POST | SRV_M_PUT, H_TABLE_ROWS,
     "/v1/tables/{table}/rows"},
    {"/v1/tables/{}/row", SRV_M_GET | SRV_M_PATCH | SRV_M_DELETE, H_TABLE_ROW,
     "/v1/tables/{table}/row"},
    {"/v1/tables/{}/query", SRV_M_GET, H_TABLE_QUERY, "/v1/tables/{table}/query"},
    {"/v1/collections/{}/docs", SRV_M_GET, H_DOCS, "/v1/collections/{coll}/docs"},
    {"/v1/collections/{}/docs/{}", SRV_M_GET | SRV_M_PUT | SRV_M_PATCH | SRV_M_DELETE, H_DOC,
     "/v1/collections/{coll}/docs/{id}"},
    {"/v1/vectors/{}", SRV_M_GET | SRV_M_PUT, H_VEC_COLL, "/v1/vectors/{coll}"},
    {"/v1/vectors/{}/items/{}", SRV_M_GET | SRV_M_PUT | SRV_M_DELETE, H_VEC_ITEM,
     "/v1/vectors/{coll}/items/{id}"},
    {"/v1/vectors/{}/search", SRV_M_POST, H_VEC_SEARCH, "/v1/vectors/{coll}/search"},
    {"/v1/graphs/{}", SRV_M_PUT, H_GRAPH, "/v1/graphs/{graph}"},
    {"/v1/graphs/{}/nodes/{}", SRV_M_GET | SRV_M_PUT | SRV_M_DELETE, H_GRAPH_NODE,
     "/v1/graphs/{graph}/nodes/{id}"},
    {"/v1/graphs/{}/nodes/{}/neighbors", SRV_M_GET, H_GRAPH_NEIGHBORS,
     "/v1/graphs/{graph}/nodes/{id}/neighbors"},
    {"/v1/graphs/{}/edges", SRV_M_POST | SRV_M_DELETE, H_GRAPH_EDGES, "/v1/graphs/{graph}/edges"},
    {"/v1/graphs/{}/path", SRV_M_GET, H_GRAPH_PATH, "/v1/graphs/{graph}/path"},
    {"/v1/series/{}", SRV_M_GET | SRV_M_PUT, H_SERIES, "/v1/series/{series}"},
    {"/v1/series/{}/points", SRV_M_GET | SRV_M_POST | SRV_M_DELETE, H_SERIES_POINTS,
     "/v1/series/{series}/points"},
    {"/v1/series/{}/last", SRV_M_GET, H_SERIES_LAST, "/v1/series/{series}/last"},
    {"/v1/txn", SRV_M_POST, H_TXN, "/v1/txn"},
    {NULL, 0, H_NONE, NULL},
};

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode src[0..n) into dst (room for n+1), NUL-terminated. -1 for a bad
 * escape. */
static int decode(const char *src, size_t n, int plus_space, char *dst, size_t *outn)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int h = hexval((unsigned char)src[i + 1]), l = hexval((unsigned char)src[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            dst[k++] = (char)(h * 16 + l);
            i += 2;
        } else if (c == '+' && plus_space) {
            dst[k++] = ' ';
        } else {
            dst[k++] = c;
        }
    }
    dst[k] = 0;
    *outn = k;
    return 0;
}

int srv_http_parse(const char *path, size_t plen, const char *query, size_t qlen,
                   srv_http_target *t, const char **why)
{
    memset(t, 0, sizeof *t);
    if (!query)
        qlen = 0;
    if (plen == 0 || path[0] != '/') {
        *why = "the path must start with '/'";
        return -1;
    }
    /* every string decodes to at most its raw length, plus a NUL each:
     * segments (path), the rest (path again), names and values (query) */
    size_t cap = 2 * (plen + SRV_HTTP_MAX_SEGS + 2) + qlen + 2 * SRV_HTTP_MAX_PARAMS + 2;
    char *a = malloc(cap);
    if (!a)
        return -2;
    size_t used = 0;
    const char *err = NULL;

    /* segments */
    size_t i = 1;
    while (i < plen && !err) {
        size_t j = i;
        while (j < plen && path[j] != '/')
            j++;
        if (j == i) {
            err = "empty path segment";
            break;
        }
        if (t->nseg == SRV_HTTP_MAX_SEGS) {
            err = "too many path segments";
            break;
        }
        srv_http_str *s = &t->seg[t->nseg++];
        s->p = a + used;
        if (decode(path + i, j - i, 0, s->p, &s->n)) {
            err = "bad %-escape in the path";
            break;
        }
        used += s->n + 1;
        i = j + 1; /* a trailing '/' ends the loop with nothing after it */
    }
    static const char kvp[] = "/v1/kv/";
    if (!err && plen > sizeof kvp - 1 && !memcmp(path, kvp, sizeof kvp - 1)) {
        t->rest.p = a + used;
        if (decode(path + sizeof kvp - 1, plen - (sizeof kvp - 1), 0, t->rest.p, &t->rest.n))
            err = "bad %-escape in the path";
        else
            used += t->rest.n + 1, t->has_rest = 1;
    }

    /* query: name[=value] pairs separated by '&' */
    size_t q = 0;
    while (!err && q < qlen) {
        size_t e = q;
        while (e < qlen && query[e] != '&')
            e++;
        if (e > q) {
            if (t->nparam == SRV_HTTP_MAX_PARAMS) {
                err = "too many query parameters";
                break;
            }
            size_t eq = q;
            while (eq < e && query[eq] != '=')
                eq++;
            srv_http_str *nm = &t->pname[t->nparam], *vl = &t->pval[t->nparam];
            nm->p = a + used;
            if (decode(query + q, eq - q, 1, nm->p, &nm->n)) {
                err = "bad %-escape in the query";
                break;
            }
            used += nm->n + 1;
            vl->p = a + used;
            size_t vs = eq < e ? eq + 1 : e;
            if (decode(query + vs, e - vs, 1, vl->p, &vl->n)) {
                err = "bad %-escape in the query";
                break;
            }
            used += vl->n + 1;
            t->nparam++;
        }
        q = e + 1;
    }
    if (err) {
        free(a);
        memset(t, 0, sizeof *t);
        *why = err;
        return -1;
    }
    t->arena = a;
    return 0;
}

void srv_http_target_release(srv_http_target *t)
{
    free(t->arena);
    memset(t, 0, sizeof *t);
}

const srv_http_str *srv_http_param(const srv_http_target *t, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < t->nparam; i++)
        if (t->pname[i].n == n && !memcmp(t->pname[i].p, name, n))
            return &t->pval[i];
    return NULL;
}

/* Does the target's path match pattern? */
static int match(const char *pat, const srv_http_target *t)
{
    size_t k = 0;
    const char *p = pat + 1;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 5 && !memcmp(p, "{...}", 5))
            return k < t->nseg;
        if (k >= t->nseg)
            return 0;
        if (!(n == 2 && !memcmp(p, "{}", 2)) &&
            !(t->seg[k].n == n && !memcmp(t->seg[k].p, p, n)))
            return 0;
        k++;
        p += n;
        if (*p == '/')
            p++;
    }
    return k == t->nseg;
}

int srv_http_route(const srv_http_target *t, unsigned method, const srv_http_route_def **route)
{
    const srv_http_route_def *wrong = NULL;
    for (const srv_http_route_def *r = srv_http_routes; r->pattern; r++) {
        if (!match(r->pattern, t))
            continue;
        if (r->methods & method) {
            *route = r;
            return 0;
        }
        if (!wrong)
            wrong = r;
    }
    if (wrong) {
        *route = wrong;
        return 1;
    }
    return -1;
}
