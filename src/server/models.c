/*
 * The parts the model command families share (t_models.h): the models
 * actor (the models-actor setting, placed by the storage manager:
 * config.h), the handle cache, error replies, number formatting and the
 * jansson calls that read and write the models' compact JSON text.
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
#include "server/config.h"
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
        rc = srv_models_actor_open(&g_actor);
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
    /* x->tx without x->txn: a command bound to the models' store only
     * (srv_call_binds_kv), still in a transaction */
    if (!x->txn && !x->tx)
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

/* ---- JSON through jansson ------------------------------------------- */

json_t *models_json_load(const void *p, size_t n, int *nomem)
{
    json_error_t err;
    json_t *v = json_loadb(p ? (const char *)p : "", n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (nomem)
        *nomem = !v && json_error_code(&err) == json_error_out_of_memory;
    return v;
}

int models_json_array(const orbit_buf *text, json_t **out)
{
    int nomem;
    json_t *v = models_json_load(text->data, text->len, &nomem);
    *out = NULL;
    if (!v)
        return nomem ? ORBIT_ENOMEM : ORBIT_ECORRUPT;
    if (!json_is_array(v)) {
        json_decref(v);
        return ORBIT_ECORRUPT;
    }
    *out = v;
    return 0;
}

int models_json_append(orbit_buf *out, const json_t *v)
{
    size_t need = json_dumpb(v, NULL, 0, MODELS_JSON_OUT);
    if (need == 0 || orbit_buf_reserve(out, need))
        return ORBIT_ENOMEM;
    if (json_dumpb(v, (char *)out->data + out->len, need, MODELS_JSON_OUT) != need)
        return ORBIT_ENOMEM;
    out->len += need;
    return 0;
}

int models_json_string(const void *s, size_t n, json_t **out)
{
    const char *p = s ? (const char *)s : "";
    *out = json_stringn(p, n);
    if (*out)
        return 0;
    /* json_stringn refuses text that is not UTF-8 and fails on ENOMEM;
     * the unchecked form fails only on ENOMEM. */
    json_t *t = json_stringn_nocheck(p, n);
    if (!t)
        return ORBIT_ENOMEM;
    json_decref(t);
    return ORBIT_EINVAL;
}

int models_json_quote(orbit_buf *out, const void *s, size_t n)
{
    json_t *v;
    int rc = models_json_string(s, n, &v);
    if (rc)
        return rc;
    rc = models_json_append(out, v);
    json_decref(v);
    return rc;
}
