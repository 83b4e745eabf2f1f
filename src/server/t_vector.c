/*
 * The vector commands (the anchor system's VECTOR.* family) on the vector
 * model (orbit/vector.h):
 *
 *   VECTOR.CREATE idx DIM d [DISTANCE_METRIC L2|COSINE|IP]   -> OK
 *   VECTOR.ADD idx id "x1,x2,..." [field value ...]          -> OK
 *   VECTOR.GET idx id       -> ["vector", "x1,x2,...", field, value, ...]
 *                              or nil
 *   VECTOR.DEL idx id       -> 1, or 0 when absent
 *   VECTOR.SEARCH idx "q1,q2,..." [K n] [FILTER field value]
 *        -> [count, id, [__vector_score, score, field, value ...], ...]
 *           best first (default K 10)
 *   VECTOR.INFO idx         -> [name, idx, dim, d, distance_metric, m,
 *                               num_vectors, n]
 *   VECTOR.DROP idx         -> OK
 *
 * An index is a vector collection of the default actor named idx. Fields
 * are the vector's metadata, a JSON object of strings ({"field":"value"});
 * FILTER field value keeps the vectors whose field equals value. Scores
 * are the model's: L2 the squared Euclidean distance, COSINE 1 - cos, IP
 * the inner product (higher first).
 *
 * VECTOR.CREATE is a schema change committed in a transaction of its own
 * (orbit_vec_coll_create), so it is refused inside MULTI; VECTOR.DROP runs
 * in the command's transaction. Components are float32.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/provider.h"
#include "orbit/vector.h"
#include "server/t_models.h"

static char *name_arg(srv_call *x, int i, int *rc)
{
    int bad;
    char *n = models_cstr(&x->argv[i], &bad);
    *rc = 0;
    if (!n) {
        if (bad)
            reply_error(x, "index name must not contain NUL bytes");
        else
            *rc = ORBIT_ENOMEM;
    }
    return n;
}

/* Open index argv[1]: 0 (*out set), 1 (error replied), or an error. */
static int open_index(srv_call *x, orbit_vec_coll **out)
{
    int rc;
    char *name = name_arg(x, 1, &rc);
    if (!name)
        return rc ? rc : 1;
    orbit_vec_coll *c = models_cache_get(MC_VEC, name);
    if (c) {
        free(name);
        *out = c;
        return 0;
    }
    const orbit_actor *a;
    rc = models_actor(&a);
    if (!rc)
        rc = orbit_vec_coll_open(a, name, &c);
    if (rc == ORBIT_NOTFOUND) {
        reply_error(x, "no such vector index '%s'", name);
        free(name);
        return 1;
    }
    if (!rc) {
        c = models_cache_put(MC_VEC, name, c);
        rc = c ? models_rerun(x, "VECTOR") : ORBIT_ENOMEM;
        *out = c;
    }
    free(name);
    return rc;
}

/* Parse "x1,x2,..." into v (malloc'd). 0 ok (*dim set), 1 error replied,
 * or ORBIT_ENOMEM. */
static int parse_vector(srv_call *x, const srv_arg *a, float **v, uint32_t *dim)
{
    size_t cap = 1;
    for (size_t i = 0; i < a->len; i++)
        if (a->data[i] == ',')
            cap++;
    if (cap > ORBIT_VEC_DIM_MAX) {
        reply_error(x, "vector has more than %d components", ORBIT_VEC_DIM_MAX);
        return 1;
    }
    float *out = malloc(cap * sizeof *out);
    char *tmp = malloc(a->len + 1);
    if (!out || !tmp) {
        free(out);
        free(tmp);
        return ORBIT_ENOMEM;
    }
    memcpy(tmp, a->data, a->len);
    tmp[a->len] = 0;
    uint32_t n = 0;
    char *p = tmp;
    for (;;) {
        while (*p == ' ')
            p++;
        char *end;
        errno = 0;
        float f = strtof(p, &end);
        if (end == p || errno == ERANGE || !isfinite(f)) {
            reply_error(x, "invalid vector component at position %u (a comma-separated list "
                           "of finite numbers is expected)",
                        n);
            free(out);
            free(tmp);
            return 1;
        }
        out[n++] = f;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == 0)
            break;
        if (*p != ',' || n >= cap) {
            reply_error(x, "invalid vector component at position %u (a comma-separated list "
                           "of finite numbers is expected)",
                        n);
            free(out);
            free(tmp);
            return 1;
        }
        p++;
    }
    free(tmp);
    *v = out;
    *dim = n;
    return 0;
}

static int fmt_float(char *buf, size_t n, float f)
{
    int k = 0;
    for (int prec = 6; prec <= 9; prec++) {
        k = snprintf(buf, n, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f)
            break;
    }
    return k;
}

/* The metadata object the model returned for a vector into *out (the
 * caller owns it; NULL when the vector has none): 0, ORBIT_ECORRUPT (not
 * a JSON object) or ORBIT_ENOMEM. */
static int meta_load(const char *json, size_t len, json_t **out)
{
    *out = NULL;
    if (!json || !len)
        return 0;
    int nomem;
    json_t *m = models_json_load(json, len, &nomem);
    if (!m && nomem)
        return ORBIT_ENOMEM;
    if (!json_is_object(m)) {
        json_decref(m);
        return orbit_error_set(ORBIT_ECORRUPT, "vector metadata is not a JSON object");
    }
    *out = m;
    return 0;
}

/* Reply meta's members as field, value pairs (strings decoded, other
 * values as JSON text; tmp is scratch). meta NULL: nothing. */
static int meta_reply(srv_call *x, json_t *meta, orbit_buf *tmp)
{
    const char *k;
    size_t kl;
    json_t *v;
    if (!meta)
        return 0;
    json_object_keylen_foreach(meta, k, kl, v) {
        reply_bulk(x, k, kl);
        if (json_is_string(v)) {
            reply_bulk(x, json_string_value(v), json_string_length(v));
        } else {
            tmp->len = 0;
            int rc = models_json_append(tmp, v);
            if (rc)
                return rc;
            reply_bulk(x, tmp->data, tmp->len);
        }
    }
    return 0;
}

/* The number of members of meta (NULL: 0). */
static long long meta_count(const json_t *meta)
{
    return meta ? (long long)json_object_size(meta) : 0;
}

/* 0 if s[0..n) is UTF-8, ORBIT_EINVAL if not, or ORBIT_ENOMEM. */
static int utf8_check(const void *s, size_t n)
{
    json_t *t;
    int rc = models_json_string(s, n, &t);
    json_decref(t);
    return rc;
}

/* ---- VECTOR.CREATE / DROP / INFO ------------------------------------- */

static int cmd_vector_create(srv_call *x)
{
    if (x->c && x->c->in_multi) {
        reply_error(x, "VECTOR.CREATE commits on its own and is not allowed inside MULTI");
        return 0;
    }
    long long dim = 0;
    orbit_vec_metric metric = ORBIT_VEC_L2;
    int have_dim = 0;
    for (int i = 2; i < x->argc; i += 2) {
        if (i + 1 >= x->argc) {
            reply_error(x, ERR_SYNTAX);
            return 0;
        }
        if (arg_eq(&x->argv[i], "DIM")) {
            if (!arg_ll(&x->argv[i + 1], &dim) || dim < 1 || dim > ORBIT_VEC_DIM_MAX) {
                reply_error(x, "DIM must be an integer from 1 to %d", ORBIT_VEC_DIM_MAX);
                return 0;
            }
            have_dim = 1;
        } else if (arg_eq(&x->argv[i], "DISTANCE_METRIC")) {
            if (arg_eq(&x->argv[i + 1], "L2"))
                metric = ORBIT_VEC_L2;
            else if (arg_eq(&x->argv[i + 1], "COSINE"))
                metric = ORBIT_VEC_COSINE;
            else if (arg_eq(&x->argv[i + 1], "IP"))
                metric = ORBIT_VEC_IP;
            else {
                reply_error(x, "DISTANCE_METRIC must be L2, COSINE or IP");
                return 0;
            }
        } else {
            reply_error(x, ERR_SYNTAX);
            return 0;
        }
    }
    if (!have_dim) {
        reply_error(x, "VECTOR.CREATE needs DIM d");
        return 0;
    }
    int rc;
    char *name = name_arg(x, 1, &rc);
    if (!name)
        return rc;
    const orbit_actor *a;
    rc = models_actor(&a);
    if (!rc)
        rc = orbit_vec_coll_create(a, name, (uint32_t)dim, metric);
    if (rc == ORBIT_EEXIST) {
        reply_error(x, "vector index '%s' already exists", name);
        rc = 0;
    } else if (rc) {
        rc = models_fail(x, rc, "VECTOR.CREATE");
    } else {
        /* A handle cached for an index of that name dropped before now
         * follows the new definition. */
        orbit_vec_coll *c = models_cache_get(MC_VEC, name);
        if (c)
            rc = orbit_vec_coll_refresh(c);
        if (!rc)
            reply_ok(x);
    }
    free(name);
    return rc;
}

static int cmd_vector_drop(srv_call *x)
{
    int rc;
    char *name = name_arg(x, 1, &rc);
    if (!name)
        return rc;
    const orbit_actor *a;
    rc = models_actor(&a);
    if (!rc)
        rc = orbit_vec_coll_drop(x->tx, a, name);
    if (rc == ORBIT_NOTFOUND) {
        reply_error(x, "no such vector index '%s'", name);
        rc = 0;
    } else if (rc) {
        rc = models_fail(x, rc, "VECTOR.DROP");
    } else {
        x->wrote = 1;
        reply_ok(x);
    }
    free(name);
    return rc;
}

static int cmd_vector_info(srv_call *x)
{
    orbit_vec_coll *c;
    int rc = open_index(x, &c);
    if (rc)
        return rc == 1 ? 0 : rc;
    orbit_vec_info info;
    rc = orbit_vec_coll_info(x->tx, c, &info);
    if (rc == ORBIT_NOTFOUND) {
        reply_error(x, "no such vector index '%s'", orbit_vec_coll_name(c));
        return 0;
    }
    if (rc)
        return models_fail(x, rc, "VECTOR.INFO");
    char metric[16];
    snprintf(metric, sizeof metric, "%s", orbit_vec_metric_name(info.metric));
    for (char *p = metric; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    reply_map(x, 4);
    reply_cstr(x, "name");
    reply_cstr(x, orbit_vec_coll_name(c));
    reply_cstr(x, "dim");
    reply_int(x, info.dim);
    reply_cstr(x, "distance_metric");
    reply_cstr(x, metric);
    reply_cstr(x, "num_vectors");
    reply_int(x, (long long)info.count);
    return 0;
}

/* ---- VECTOR.ADD / GET / DEL ------------------------------------------- */

static int cmd_vector_add(srv_call *x)
{
    if ((x->argc - 4) % 2 != 0) {
        reply_error(x, "wrong number of arguments for '%s' command", x->cmd->name);
        return 0;
    }
    orbit_vec_coll *c;
    int rc = open_index(x, &c);
    if (rc)
        return rc == 1 ? 0 : rc;
    float *v = NULL;
    uint32_t dim = 0;
    rc = parse_vector(x, &x->argv[3], &v, &dim);
    if (rc)
        return rc == 1 ? 0 : rc;
    /* The metadata object {"field":"value",...} in argument order. A
     * field or value that is not UTF-8 is refused after the duplicate
     * check, so a duplicate field is reported first. */
    orbit_buf meta = ORBIT_BUF_INIT;
    json_t *mo = NULL;
    int bad_utf8 = 0;
    if (x->argc > 4 && !(mo = json_object()))
        rc = ORBIT_ENOMEM;
    for (int i = 4; mo && i + 1 < x->argc && !rc; i += 2) {
        const char *f = (const char *)x->argv[i].data;
        size_t fl = x->argv[i].len;
        if (json_object_getn(mo, f ? f : "", fl)) {
            reply_error(x, "field '%.*s' given twice", (int)(fl > 64 ? 64 : fl), f);
            rc = 1;
            break;
        }
        json_t *val = NULL;
        rc = utf8_check(f, fl);
        if (!rc)
            rc = models_json_string(x->argv[i + 1].data, x->argv[i + 1].len, &val);
        if (rc == ORBIT_EINVAL) {
            bad_utf8 = 1;
            rc = 0;
        }
        if (!rc && !val && !(val = json_null()))
            rc = ORBIT_ENOMEM;
        if (!rc && json_object_setn_new_nocheck(mo, f ? f : "", fl, val))
            rc = ORBIT_ENOMEM;
    }
    if (!rc && bad_utf8) {
        reply_error(x, "VECTOR.ADD: field names and values must be valid UTF-8");
        rc = 1;
    }
    if (!rc && mo)
        rc = models_json_append(&meta, mo);
    json_decref(mo);
    if (!rc) {
        rc = orbit_vec_put(x->tx, c, x->argv[2].data, x->argv[2].len, v, dim,
                           (const char *)meta.data, meta.len);
        if (rc) {
            rc = models_fail(x, rc, "VECTOR.ADD");
        } else {
            x->wrote = 1;
            reply_ok(x);
        }
    } else if (rc == 1) {
        rc = 0;
    }
    orbit_buf_release(&meta);
    free(v);
    return rc;
}

static int cmd_vector_get(srv_call *x)
{
    orbit_vec_coll *c;
    int rc = open_index(x, &c);
    if (rc)
        return rc == 1 ? 0 : rc;
    orbit_buf vec = ORBIT_BUF_INIT, meta = ORBIT_BUF_INIT, txt = ORBIT_BUF_INIT,
              scratch = ORBIT_BUF_INIT;
    rc = orbit_vec_get(x->tx, c, x->argv[2].data, x->argv[2].len, &vec, &meta);
    if (rc == ORBIT_NOTFOUND) {
        reply_null(x);
        rc = 0;
    } else if (rc) {
        rc = models_fail(x, rc, "VECTOR.GET");
    } else {
        const float *f = (const float *)(void *)vec.data;
        size_t n = vec.len / sizeof(float);
        for (size_t i = 0; i < n && !rc; i++) {
            char tmp[32];
            int k = fmt_float(tmp, sizeof tmp, f[i]);
            if (i)
                rc = orbit_buf_append(&txt, ",", 1);
            if (!rc)
                rc = orbit_buf_append(&txt, tmp, (size_t)k);
        }
        json_t *mo = NULL;
        if (!rc)
            rc = meta_load((const char *)meta.data, meta.len, &mo);
        if (!rc) {
            reply_array(x, 2 + 2 * meta_count(mo));
            reply_cstr(x, "vector");
            reply_bulk(x, txt.data, txt.len);
            rc = meta_reply(x, mo, &scratch);
        }
        json_decref(mo);
    }
    orbit_buf_release(&vec);
    orbit_buf_release(&meta);
    orbit_buf_release(&txt);
    orbit_buf_release(&scratch);
    return rc;
}

static int cmd_vector_del(srv_call *x)
{
    orbit_vec_coll *c;
    int rc = open_index(x, &c);
    if (rc)
        return rc == 1 ? 0 : rc;
    rc = orbit_vec_delete(x->tx, c, x->argv[2].data, x->argv[2].len);
    if (rc == ORBIT_NOTFOUND) {
        reply_int(x, 0);
        return 0;
    }
    if (rc)
        return models_fail(x, rc, "VECTOR.DEL");
    x->wrote = 1;
    reply_int(x, 1);
    return 0;
}

/* ---- VECTOR.SEARCH ------------------------------------------------------ */

static int cmd_vector_search(srv_call *x)
{
    long long k = 10;
    int fi = 0;
    for (int i = 3; i < x->argc;) {
        if (arg_eq(&x->argv[i], "K") && i + 1 < x->argc) {
            if (!arg_ll(&x->argv[i + 1], &k) || k < 1 || k > ORBIT_VEC_K_MAX) {
                reply_error(x, "K must be an integer from 1 to %d", ORBIT_VEC_K_MAX);
                return 0;
            }
            i += 2;
        } else if (arg_eq(&x->argv[i], "FILTER") && i + 2 < x->argc) {
            fi = i + 1;
            i += 3;
        } else {
            reply_error(x, ERR_SYNTAX);
            return 0;
        }
    }
    orbit_vec_coll *c;
    int rc = open_index(x, &c);
    if (rc)
        return rc == 1 ? 0 : rc;
    float *q = NULL;
    uint32_t dim = 0;
    rc = parse_vector(x, &x->argv[2], &q, &dim);
    if (rc)
        return rc == 1 ? 0 : rc;
    orbit_buf path = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    orbit_vec_search_opts o = {.k = (size_t)k, .with_meta = 1};
    if (fi) {
        /* the filter path names the member exactly: $["field"] */
        rc = orbit_buf_append(&path, "$[", 2);
        if (!rc)
            rc = models_json_quote(&path, x->argv[fi].data, x->argv[fi].len);
        if (!rc)
            rc = orbit_buf_append(&path, "]", 2); /* with its NUL */
        if (!rc)
            rc = models_json_quote(&val, x->argv[fi + 1].data, x->argv[fi + 1].len);
        if (rc == ORBIT_EINVAL) {
            reply_error(x, "VECTOR.SEARCH: FILTER field and value must be valid UTF-8");
            orbit_buf_release(&path);
            orbit_buf_release(&val);
            free(q);
            return 0;
        }
        o.filter_path = (const char *)path.data;
        o.filter_value = (const char *)val.data;
        o.filter_value_len = val.len;
    }
    orbit_vec_hit *hits = NULL;
    size_t n = 0;
    if (!rc)
        rc = orbit_vec_search(x->tx, c, q, dim, &o, &hits, &n);
    if (rc == ORBIT_NOTFOUND) {
        reply_error(x, "no such vector index '%s'", orbit_vec_coll_name(c));
        rc = 0;
    } else if (rc) {
        rc = models_fail(x, rc, "VECTOR.SEARCH");
    } else {
        /* every hit's metadata is read before the reply starts */
        json_t **metas = n ? calloc(n, sizeof *metas) : NULL;
        if (n && !metas)
            rc = ORBIT_ENOMEM;
        for (size_t i = 0; i < n && !rc; i++)
            rc = meta_load(hits[i].meta, hits[i].meta_len, &metas[i]);
        orbit_buf tmp = ORBIT_BUF_INIT;
        if (!rc) {
            reply_array(x, 1 + 2 * (long long)n);
            reply_int(x, (long long)n);
        }
        for (size_t i = 0; i < n && !rc; i++) {
            reply_bulk(x, hits[i].id, hits[i].idlen);
            reply_array(x, 2 + 2 * meta_count(metas[i]));
            reply_cstr(x, "__vector_score");
            models_reply_double(x, hits[i].score);
            rc = meta_reply(x, metas[i], &tmp);
        }
        for (size_t i = 0; metas && i < n; i++)
            json_decref(metas[i]);
        free(metas);
        orbit_buf_release(&tmp);
    }
    orbit_vec_hits_free(hits, n);
    orbit_buf_release(&path);
    orbit_buf_release(&val);
    free(q);
    return rc;
}

#define W CMD_WRITE
#define R CMD_READONLY
#define T CMD_TXREAD

const srv_command srv_vector_commands[] = {
    {"vector.create", cmd_vector_create, -4, W, 1, 1, 1, "vector",
     "Create a vector index (commits on its own; not inside MULTI)",
     "index DIM dim [DISTANCE_METRIC L2|COSINE|IP]", NULL},
    {"vector.add", cmd_vector_add, -4, W, 1, 1, 1, "vector",
     "Store a vector with optional metadata fields", "index id \"x1,x2,...\" [field value ...]",
     NULL},
    {"vector.get", cmd_vector_get, 3, R, 1, 1, 1, "vector",
     "A vector and its metadata fields", "index id", NULL},
    {"vector.del", cmd_vector_del, 3, W, 1, 1, 1, "vector", "Delete a vector", "index id", NULL},
    {"vector.search", cmd_vector_search, -3, R, 1, 1, 1, "vector",
     "Exact top-k search, best first, with an optional field filter",
     "index \"q1,q2,...\" [K k] [FILTER field value]", NULL},
    {"vector.info", cmd_vector_info, 2, R | T, 1, 1, 1, "vector",
     "Dimension, metric and number of vectors of an index", "index", NULL},
    {"vector.drop", cmd_vector_drop, 2, W, 1, 1, 1, "vector", "Drop a vector index and its vectors",
     "index", NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL},
};
