/*
 * The parts the model command families share (t_models.h): the default
 * actor, the handle cache, error replies, number formatting and a reader
 * of compact JSON text.
 *
 * The cache is a chained hash table of (kind, name) -> handle under one
 * mutex; entries are never removed while the server runs (handles must
 * outlive the transactions that used them) and are closed at exit
 * (atexit, after the workers have stopped), together with the actor.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/document.h"
#include "orbit/graph.h"
#include "orbit/provider.h"
#include "orbit/relational.h"
#include "orbit/timeseries.h"
#include "orbit/vector.h"
#include "server/t_models.h"

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static orbit_actor *g_actor;

typedef struct centry {
    int kind;
    char *name;
    void *h;
    struct centry *next;
} centry;

#define NBUCKETS 1024
static centry *g_buckets[NBUCKETS];
static int g_atexit;

static void close_handle(int kind, void *h)
{
    switch (kind) {
    case MC_DOC:
        orbit_doc_coll_close(h);
        break;
    case MC_VEC:
        orbit_vec_coll_close(h);
        break;
    case MC_TABLE:
        orbit_table_close(h);
        break;
    case MC_GRAPH:
        orbit_graph_close(h);
        break;
    case MC_SERIES:
        orbit_ts_close(h);
        break;
    default:
        break;
    }
}

static void models_release(void)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        centry *e = g_buckets[i];
        while (e) {
            centry *n = e->next;
            close_handle(e->kind, e->h);
            free(e->name);
            free(e);
            e = n;
        }
        g_buckets[i] = NULL;
    }
    orbit_actor_close(g_actor);
    g_actor = NULL;
}

int models_actor(const orbit_actor **out)
{
    int rc = 0;
    pthread_mutex_lock(&g_mu);
    if (!g_actor)
        rc = orbit_actor_open(g_srv.kv, "orbit", "default", &g_actor);
    if (!rc && !g_atexit) {
        atexit(models_release);
        g_atexit = 1;
    }
    *out = g_actor;
    pthread_mutex_unlock(&g_mu);
    return rc;
}

static size_t hash_name(int kind, const char *s)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)kind;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return (size_t)(h % NBUCKETS);
}

void *models_cache_get(int kind, const char *name)
{
    void *h = NULL;
    size_t b = hash_name(kind, name);
    pthread_mutex_lock(&g_mu);
    for (centry *e = g_buckets[b]; e; e = e->next)
        if (e->kind == kind && !strcmp(e->name, name)) {
            h = e->h;
            break;
        }
    pthread_mutex_unlock(&g_mu);
    return h;
}

void *models_cache_put(int kind, const char *name, void *h)
{
    size_t b = hash_name(kind, name);
    pthread_mutex_lock(&g_mu);
    for (centry *e = g_buckets[b]; e; e = e->next)
        if (e->kind == kind && !strcmp(e->name, name)) {
            void *old = e->h;
            pthread_mutex_unlock(&g_mu);
            close_handle(kind, h);
            return old;
        }
    centry *e = calloc(1, sizeof *e);
    if (e)
        e->name = strdup(name);
    if (!e || !e->name) {
        pthread_mutex_unlock(&g_mu);
        if (e)
            free(e);
        close_handle(kind, h);
        return NULL;
    }
    e->kind = kind;
    e->h = h;
    e->next = g_buckets[b];
    g_buckets[b] = e;
    pthread_mutex_unlock(&g_mu);
    return h;
}

int models_rerun(srv_call *x, const char *what)
{
    if (!x->txn)
        return 0;
    return orbit_error_set(ORBIT_ECONFLICT, "%s: opened a model object for the first time: "
                           "the command runs again in a fresh transaction", what);
}

char *models_cstr(const srv_arg *a, int *bad)
{
    if (bad)
        *bad = 0;
    if (memchr(a->data, 0, a->len)) {
        if (bad)
            *bad = 1;
        return NULL;
    }
    char *s = malloc(a->len + 1);
    if (!s)
        return NULL;
    memcpy(s, a->data, a->len);
    s[a->len] = 0;
    return s;
}

int models_fail(srv_call *x, int rc, const char *what)
{
    const char *d = orbit_last_error_detail();
    switch (rc) {
    case ORBIT_NOTFOUND:
        reply_error(x, "%s: not found", what);
        return 0;
    case ORBIT_EINVAL:
    case ORBIT_EEXIST:
    case ORBIT_ECONSTRAINT:
    case ORBIT_ENOTSUP:
        if (d && d[0])
            reply_error(x, "%s: %s", what, d);
        else
            reply_error(x, "%s: %s", what, orbit_strerror(rc));
        return 0;
    default:
        return rc < 0 ? rc : 0;
    }
}

int models_fmt_double(char *buf, size_t n, double d)
{
    if (isinf(d))
        return snprintf(buf, n, "%s", d > 0 ? "inf" : "-inf");
    if (isnan(d))
        return snprintf(buf, n, "nan");
    int k = 0;
    for (int prec = 15; prec <= 17; prec++) {
        k = snprintf(buf, n, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return k;
}

void models_reply_double(srv_call *x, double d)
{
    char tmp[64];
    int k = models_fmt_double(tmp, sizeof tmp, d);
    reply_bulk(x, tmp, (size_t)k);
}

int models_arg_double(const srv_arg *a, double *out)
{
    long double v;
    if (!arg_ld(a, &v) || !isfinite((double)v))
        return 0;
    *out = (double)v;
    return 1;
}

int models_arg_i64(const srv_arg *a, int64_t *out)
{
    long long v;
    if (!arg_ll(a, &v))
        return 0;
    *out = (int64_t)v;
    return 1;
}

/* ---- compact JSON ------------------------------------------------------- */

static size_t skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* The end (exclusive) of the value starting at i, or 0 if malformed. */
static size_t value_end(const char *p, size_t n, size_t i)
{
    if (i >= n)
        return 0;
    if (p[i] == '"') {
        for (i++; i < n; i++) {
            if (p[i] == '\\')
                i++;
            else if (p[i] == '"')
                return i + 1;
        }
        return 0;
    }
    if (p[i] == '[' || p[i] == '{') {
        int depth = 0;
        for (; i < n; i++) {
            char c = p[i];
            if (c == '"') {
                size_t e = value_end(p, n, i);
                if (!e)
                    return 0;
                i = e - 1;
            } else if (c == '[' || c == '{') {
                depth++;
            } else if (c == ']' || c == '}') {
                if (--depth == 0)
                    return i + 1;
            }
        }
        return 0;
    }
    size_t s = i;
    while (i < n && p[i] != ',' && p[i] != ']' && p[i] != '}' && p[i] != ' ' && p[i] != ':')
        i++;
    return i > s ? i : 0;
}

int mjson_next(mjson c, size_t *pos, mjson *key, mjson *val)
{
    const char *p = c.p;
    size_t n = c.n, i = *pos;
    int obj;
    if (n < 2 || (p[0] != '[' && p[0] != '{'))
        return -1;
    obj = p[0] == '{';
    if (i == 0) {
        i = skip_ws(p, n, 1);
    } else {
        i = skip_ws(p, n, i);
        if (i < n && p[i] == ',')
            i = skip_ws(p, n, i + 1);
        else if (i < n && (p[i] == ']' || p[i] == '}'))
            return 0;
        else
            return -1;
    }
    if (i < n && (p[i] == ']' || p[i] == '}'))
        return 0;
    if (obj) {
        size_t e = value_end(p, n, i);
        if (!e || p[i] != '"')
            return -1;
        if (key) {
            key->p = p + i;
            key->n = e - i;
        }
        i = skip_ws(p, n, e);
        if (i >= n || p[i] != ':')
            return -1;
        i = skip_ws(p, n, i + 1);
    }
    size_t e = value_end(p, n, i);
    if (!e)
        return -1;
    val->p = p + i;
    val->n = e - i;
    *pos = e;
    return 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int put_utf8(orbit_buf *out, uint32_t cp)
{
    uint8_t b[4];
    size_t k;
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        k = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xC0 | (cp >> 6));
        b[1] = (uint8_t)(0x80 | (cp & 0x3F));
        k = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xE0 | (cp >> 12));
        b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (uint8_t)(0x80 | (cp & 0x3F));
        k = 3;
    } else {
        b[0] = (uint8_t)(0xF0 | (cp >> 18));
        b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (uint8_t)(0x80 | (cp & 0x3F));
        k = 4;
    }
    return orbit_buf_append(out, b, k);
}

static int read_hex4(const char *p, size_t n, size_t i, uint32_t *cp)
{
    if (i + 4 > n)
        return -1;
    uint32_t v = 0;
    for (size_t j = 0; j < 4; j++) {
        int h = hexval(p[i + j]);
        if (h < 0)
            return -1;
        v = v * 16 + (uint32_t)h;
    }
    *cp = v;
    return 0;
}

int mjson_string(mjson v, orbit_buf *out)
{
    if (v.n < 2 || v.p[0] != '"' || v.p[v.n - 1] != '"')
        return 0;
    out->len = 0;
    const char *p = v.p + 1;
    size_t n = v.n - 2;
    for (size_t i = 0; i < n; i++) {
        int rc = 0;
        if (p[i] != '\\') {
            rc = orbit_buf_append(out, p + i, 1);
        } else {
            if (++i >= n)
                return -1;
            char c = p[i], r = 0;
            switch (c) {
            case '"': r = '"'; break;
            case '\\': r = '\\'; break;
            case '/': r = '/'; break;
            case 'b': r = '\b'; break;
            case 'f': r = '\f'; break;
            case 'n': r = '\n'; break;
            case 'r': r = '\r'; break;
            case 't': r = '\t'; break;
            case 'u': {
                uint32_t cp, lo;
                if (read_hex4(p, n, i + 1, &cp))
                    return -1;
                i += 4;
                if (cp >= 0xD800 && cp < 0xDC00 && i + 2 < n && p[i + 1] == '\\' &&
                    p[i + 2] == 'u' && !read_hex4(p, n, i + 3, &lo) && lo >= 0xDC00 &&
                    lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
                rc = put_utf8(out, cp);
                break;
            }
            default:
                return -1;
            }
            if (r)
                rc = orbit_buf_append(out, &r, 1);
        }
        if (rc)
            return -1;
    }
    if (orbit_buf_reserve(out, 1))
        return -1;
    out->data[out->len] = 0;
    return 1;
}

int mjson_quote(orbit_buf *out, const uint8_t *s, size_t n)
{
    int rc = orbit_buf_append(out, "\"", 1);
    for (size_t i = 0; i < n && !rc; i++) {
        uint8_t c = s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            rc = orbit_buf_append(out, esc, 2);
        } else if (c < 0x20) {
            int k = snprintf(esc, sizeof esc, "\\u%04x", c);
            rc = orbit_buf_append(out, esc, (size_t)k);
        } else {
            rc = orbit_buf_append(out, &c, 1);
        }
    }
    if (!rc)
        rc = orbit_buf_append(out, "\"", 1);
    return rc;
}
