/*
 * Vectors (orbit/vector.h): vector collections on the provider contract,
 * with exact top-k search by one ordered scan of the collection.
 *
 * Keys (after orbit_key_object_prefix(ks, "vec", coll)):
 *   (.., "meta")        the definition: {"dim","metric","gen"} as JSON
 *   (.., "v", id)       a vector (orbit_key_vector): u32le dim, dim
 *                       float32le, then the metadata JSON (if any)
 * Every value is an ORBIT_MODEL_VEC record (schema 1).
 *
 * Invariants:
 *   - a write validates every vector (dimension, finite components, a
 *     non-zero norm under cosine, metadata JSON) before its first write;
 *   - every transaction that wrote through a handle carries one commit
 *     check per (handle, definition) that reads the meta record for update
 *     and fails with ORBIT_ECONSTRAINT if it is gone or different;
 *   - a search reads the meta record and then only the collection's vector
 *     prefix, in one iterator; metadata is parsed only for a vector that
 *     would enter the result heap (so a filter costs a parse per candidate,
 *     not per vector);
 *   - the handle's cached definition is a small value copied under its
 *     mutex.
 *
 * Distances are computed straight from the stored little-endian floats
 * (unaligned four-lane loads with GCC/Clang vector extensions, eight
 * partial sums; a scalar loop elsewhere and on big-endian hosts).
 *
 * Layer: src/model, on the contract, the codec, the transaction core and
 * src/model/jsonpath.c (the metadata filter path).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <jansson.h>

#include "base/base.h"
#include "model/jsonpath_int.h"
#include "model/reader.h"
#include "orbit/catalog.h"
#include "orbit/codec.h"
#include "orbit/provider.h"
#include "orbit/vector.h"

#define VEC_SCHEMA 1
#define JSON_IN_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES)

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define VEC_LE 1
#else
#define VEC_LE 0
#endif

typedef struct vec_def {
    int dropped;
    uint32_t dim;
    orbit_vec_metric metric;
    uint64_t gen;
} vec_def;

struct orbit_vec_coll {
    const orbit_actor *a;
    uint64_t id;
    char *name;
    pthread_mutex_t mu;
    vec_def def;
};

const char *orbit_vec_metric_name(orbit_vec_metric m)
{
    switch (m) {
    case ORBIT_VEC_L2: return "l2";
    case ORBIT_VEC_COSINE: return "cosine";
    case ORBIT_VEC_IP: return "ip";
    default: return "?";
    }
}

int orbit_vec_metric_parse(const char *s, orbit_vec_metric *out)
{
    if (s && out) {
        for (int m = ORBIT_VEC_L2; m <= ORBIT_VEC_IP; m++) {
            if (strcasecmp(s, orbit_vec_metric_name((orbit_vec_metric)m)) == 0) {
                *out = (orbit_vec_metric)m;
                return ORBIT_OK;
            }
        }
    }
    return orbit_error_set(ORBIT_EINVAL, "vectors: unknown metric \"%s\" (l2, cosine or ip)",
                           s ? s : "(null)");
}

static vec_def def_get(orbit_vec_coll *c)
{
    pthread_mutex_lock(&c->mu);
    vec_def d = c->def;
    pthread_mutex_unlock(&c->mu);
    return d;
}

static void def_set(orbit_vec_coll *c, vec_def d)
{
    pthread_mutex_lock(&c->mu);
    c->def = d;
    pthread_mutex_unlock(&c->mu);
}

static int def_same(const vec_def *a, const vec_def *b)
{
    return a->dropped == b->dropped && a->dim == b->dim && a->metric == b->metric &&
           a->gen == b->gen;
}

/* ---- keys and records ----------------------------------------------- */

static int key_head(orbit_buf *out, const orbit_actor *a, uint64_t id)
{
    return orbit_key_object_prefix(out, orbit_actor_keyspace(a), ORBIT_PREFIX_VEC, id);
}

static int key_meta(orbit_buf *out, const orbit_actor *a, uint64_t id)
{
    int rc = key_head(out, a, id);
    return rc ? rc : orbit_tuple_str(out, "meta");
}

static int key_vectors(orbit_buf *out, const orbit_actor *a, uint64_t id)
{
    int rc = key_head(out, a, id);
    if (!rc)
        rc = orbit_tuple_str(out, "v");
    return rc ? rc : orbit_tuple_bytes_open(out, "", 0);
}

static int escaped_key(orbit_buf *esc, const uint8_t *k, size_t kl)
{
    int rc = orbit_escape(esc, k, kl > 64 ? 64 : kl);
    return rc ? rc : orbit_buf_append(esc, "", 1);
}

static int corrupt(const uint8_t *k, size_t kl, const char *why)
{
    orbit_buf esc = ORBIT_BUF_INIT;
    escaped_key(&esc, k, kl);
    int rc = orbit_error_set(ORBIT_ECORRUPT, "key \"%s\": %s", esc.data ? (char *)esc.data : "?",
                             why);
    orbit_buf_release(&esc);
    return rc;
}

static int decode_rec(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                      orbit_buf *scratch, const uint8_t **p, size_t *n)
{
    orbit_record_meta m;
    int rc = orbit_record_decode(v, vl, k, kl, &m, scratch, p, n);
    if (!rc && m.model != ORBIT_MODEL_VEC)
        rc = corrupt(k, kl, "not a vector record");
    return rc;
}

static int parse_meta(const uint8_t *k, size_t kl, const uint8_t *p, size_t n, vec_def *d)
{
    json_error_t err;
    json_t *m = json_loadb((const char *)p, n, JSON_IN_FLAGS, &err);
    json_t *dim = json_object_get(m, "dim"), *gen = json_object_get(m, "gen");
    const char *metric = json_string_value(json_object_get(m, "metric"));
    int rc = ORBIT_OK;
    memset(d, 0, sizeof *d);
    if (!json_is_integer(dim) || !json_is_integer(gen) || !metric ||
        json_integer_value(dim) < 1 || json_integer_value(dim) > ORBIT_VEC_DIM_MAX)
        rc = corrupt(k, kl, "a malformed vector collection definition");
    if (!rc) {
        d->dim = (uint32_t)json_integer_value(dim);
        d->gen = (uint64_t)json_integer_value(gen);
        if (orbit_vec_metric_parse(metric, &d->metric))
            rc = corrupt(k, kl, "an unknown metric in a vector collection definition");
    }
    json_decref(m);
    return rc;
}

/* Read the definition with get (for_update: get_for_update) in txn, or
 * from the store at ro. ORBIT_NOTFOUND when absent. */
static int read_def(const orbit_actor *a, uint64_t id, orbit_txn *txn, const orbit_read_opts *ro,
                    int for_update, vec_def *d)
{
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT;
    int rc = key_meta(&key, a, id);
    if (!rc) {
        if (txn)
            rc = for_update ? orbit_txn_get_for_update(txn, key.data, key.len, &val)
                            : orbit_txn_get(txn, key.data, key.len, &val);
        else
            rc = orbit_kv_get(orbit_actor_store(a), ro, key.data, key.len, &val);
    }
    if (!rc) {
        const uint8_t *p;
        size_t n;
        rc = decode_rec(key.data, key.len, val.data, val.len, &scratch, &p, &n);
        if (!rc)
            rc = parse_meta(key.data, key.len, p, n, d);
    }
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    orbit_buf_release(&scratch);
    return rc;
}

/* ---- distances ------------------------------------------------------ */

static inline float ld_f32(const uint8_t *p)
{
    uint32_t u;
    memcpy(&u, p, 4);
#if !VEC_LE
    u = __builtin_bswap32(u);
#endif
    float f;
    memcpy(&f, &u, 4);
    return f;
}

#if VEC_LE && defined(__GNUC__)
/* Four-lane vectors (SSE / NEON width, so no ABI change), two of each
 * accumulator: eight independent partial sums. */
typedef float v4f __attribute__((vector_size(16)));

static inline v4f ld4(const void *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline float hsum(v4f a, v4f b)
{
    v4f v = a + b;
    return (v[0] + v[2]) + (v[1] + v[3]);
}

/* sums of a.b, b.b (stored side b: raw bytes) */
static void kernel(const float *q, const uint8_t *b, uint32_t n, orbit_vec_metric m,
                   float *out_ab, float *out_bb)
{
    v4f ab0 = {0}, ab1 = {0}, bb0 = {0}, bb1 = {0};
    uint32_t i = 0;
    if (m == ORBIT_VEC_L2) {
        for (; i + 8 <= n; i += 8) {
            v4f d0 = ld4(q + i) - ld4(b + 4 * (size_t)i);
            v4f d1 = ld4(q + i + 4) - ld4(b + 4 * (size_t)i + 16);
            ab0 += d0 * d0;
            ab1 += d1 * d1;
        }
        float s = hsum(ab0, ab1);
        for (; i < n; i++) {
            float d = q[i] - ld_f32(b + 4 * (size_t)i);
            s += d * d;
        }
        *out_ab = s;
        return;
    }
    for (; i + 8 <= n; i += 8) {
        v4f y0 = ld4(b + 4 * (size_t)i), y1 = ld4(b + 4 * (size_t)i + 16);
        ab0 += ld4(q + i) * y0;
        ab1 += ld4(q + i + 4) * y1;
        bb0 += y0 * y0;
        bb1 += y1 * y1;
    }
    float s = hsum(ab0, ab1), t = hsum(bb0, bb1);
    for (; i < n; i++) {
        float y = ld_f32(b + 4 * (size_t)i);
        s += q[i] * y;
        t += y * y;
    }
    *out_ab = s;
    *out_bb = t;
}
#else
static void kernel(const float *q, const uint8_t *b, uint32_t n, orbit_vec_metric m,
                   float *out_ab, float *out_bb)
{
    float s = 0, t = 0;
    for (uint32_t i = 0; i < n; i++) {
        float y = ld_f32(b + 4 * (size_t)i);
        if (m == ORBIT_VEC_L2) {
            float d = q[i] - y;
            s += d * d;
        } else {
            s += q[i] * y;
            t += y * y;
        }
    }
    *out_ab = s;
    *out_bb = t;
}
#endif

/* The score of stored vector b against q (qnorm: |q| for cosine). */
static double score_of(const float *q, double qnorm, const uint8_t *b, uint32_t n,
                       orbit_vec_metric m)
{
    float ab = 0, bb = 0;
    kernel(q, b, n, m, &ab, &bb);
    if (m == ORBIT_VEC_L2 || m == ORBIT_VEC_IP)
        return ab;
    double den = qnorm * sqrt((double)bb);
    if (den <= 0)
        return 1.0;
    return 1.0 - (double)ab / den;
}

/* ---- validation ----------------------------------------------------- */

static int check_vector(const vec_def *d, const char *name, const float *v, uint32_t dim,
                        const char *what)
{
    if (!v)
        return orbit_error_set(ORBIT_EINVAL, "vectors: NULL %s", what);
    if (dim != d->dim)
        return orbit_error_set(ORBIT_EINVAL, "vector collection '%s' has dimension %u, the %s has %u",
                               name, d->dim, what, dim);
    double nn = 0;
    for (uint32_t i = 0; i < dim; i++) {
        if (!isfinite(v[i]))
            return orbit_error_set(ORBIT_EINVAL, "vectors: component %u of the %s is %s", i, what,
                                   isnan(v[i]) ? "NaN" : "infinite");
        nn += (double)v[i] * v[i];
    }
    if (d->metric == ORBIT_VEC_COSINE && nn == 0)
        return orbit_error_set(ORBIT_EINVAL, "vectors: a zero %s has no cosine distance", what);
    return ORBIT_OK;
}

static int check_id(const void *id, size_t idlen)
{
    if (!id || idlen == 0)
        return orbit_error_set(ORBIT_EINVAL, "vectors: empty vector id");
    if (idlen > ORBIT_VEC_ID_MAX)
        return orbit_error_set(ORBIT_EINVAL, "vectors: id of %zu bytes (the most is %d)", idlen,
                               ORBIT_VEC_ID_MAX);
    return ORBIT_OK;
}

/* Encode the payload of one vector (metadata compacted) into out. */
static int encode_vector(const float *v, uint32_t dim, const char *meta, size_t mlen,
                         orbit_buf *out)
{
    out->len = 0;
    json_t *mj = NULL;
    if (meta && mlen) {
        json_error_t err;
        mj = json_loadb(meta, mlen, JSON_IN_FLAGS, &err);
        if (!mj)
            return orbit_error_set(ORBIT_EINVAL, "vectors: invalid metadata JSON at line %d column %d: %s",
                                   err.line, err.column, err.text);
        if (!json_is_object(mj)) {
            json_decref(mj);
            return orbit_error_set(ORBIT_EINVAL, "vectors: metadata must be a JSON object");
        }
    }
    size_t jl = mj ? json_dumpb(mj, NULL, 0, JSON_COMPACT) : 0;
    int rc = orbit_buf_reserve(out, 4 + 4 * (size_t)dim + jl);
    if (!rc) {
        uint8_t *p = out->data;
        p[0] = (uint8_t)dim;
        p[1] = (uint8_t)(dim >> 8);
        p[2] = (uint8_t)(dim >> 16);
        p[3] = (uint8_t)(dim >> 24);
#if VEC_LE
        memcpy(p + 4, v, 4 * (size_t)dim);
#else
        for (uint32_t i = 0; i < dim; i++) {
            uint32_t u;
            memcpy(&u, &v[i], 4);
            u = __builtin_bswap32(u);
            memcpy(p + 4 + 4 * (size_t)i, &u, 4);
        }
#endif
        if (mj)
            json_dumpb(mj, (char *)p + 4 + 4 * (size_t)dim, jl, JSON_COMPACT);
        out->len = 4 + 4 * (size_t)dim + jl;
    }
    json_decref(mj);
    return rc;
}

/* Split a stored payload: its dimension, floats and metadata. */
static int split_vector(const uint8_t *k, size_t kl, const uint8_t *p, size_t n, uint32_t *dim,
                        const uint8_t **fl, const char **meta, size_t *mlen)
{
    if (n < 4)
        return corrupt(k, kl, "a truncated vector");
    uint32_t d = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    if (d < 1 || d > ORBIT_VEC_DIM_MAX || n < 4 + 4 * (size_t)d)
        return corrupt(k, kl, "a vector with a bad dimension or length");
    *dim = d;
    *fl = p + 4;
    *meta = (const char *)p + 4 + 4 * (size_t)d;
    *mlen = n - 4 - 4 * (size_t)d;
    return ORBIT_OK;
}

/* ---- collections ---------------------------------------------------- */

static uint64_t draw_gen(void)
{
    uint64_t g = 0;
    if (getrandom(&g, sizeof g, 0) != (ssize_t)sizeof g)
        g = orbit__mono_ns() ^ (orbit__now_ms() << 20);
    return g & (uint64_t)INT64_MAX;
}

static int name_ok(const orbit_actor *a, const char *name)
{
    if (!a)
        return orbit_error_set(ORBIT_EINVAL, "vectors: NULL actor");
    if (!name || !name[0])
        return orbit_error_set(ORBIT_EINVAL, "vectors: empty collection name");
    return ORBIT_OK;
}

static int put_rec(const orbit_actor *a, orbit_txn *txn, const orbit_buf *key, const uint8_t *p,
                   size_t n)
{
    orbit_buf rec = ORBIT_BUF_INIT;
    int rc = orbit_actor_record(a, ORBIT_MODEL_VEC, VEC_SCHEMA, 0, key->data, key->len, p, n,
                                &rec);
    if (!rc)
        rc = orbit_txn_put(txn, key->data, key->len, rec.data, rec.len);
    orbit_buf_release(&rec);
    return rc;
}

typedef struct create_arg {
    const orbit_actor *a;
    const char *name;
    uint64_t id;
    uint32_t dim;
    orbit_vec_metric metric;
} create_arg;

static int create_fn(orbit_tx *tx, void *arg)
{
    create_arg *c = arg;
    orbit_txn *txn;
    int rc = orbit_tx_kv_txn(tx, orbit_actor_store(c->a), orbit_actor_type(c->a),
                             orbit_actor_id(c->a), &txn);
    if (rc)
        return rc;
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    rc = key_meta(&key, c->a, c->id);
    if (!rc)
        rc = orbit_txn_get_for_update(txn, key.data, key.len, &val);
    if (rc == ORBIT_OK)
        rc = orbit_error_set(ORBIT_EEXIST, "vector collection '%s' exists", c->name);
    else if (rc == ORBIT_NOTFOUND) {
        json_t *m = json_pack("{s:I,s:s,s:I}", "dim", (json_int_t)c->dim, "metric",
                              orbit_vec_metric_name(c->metric), "gen", (json_int_t)draw_gen());
        char *s = m ? json_dumps(m, JSON_COMPACT) : NULL;
        rc = s ? put_rec(c->a, txn, &key, (const uint8_t *)s, strlen(s)) : ORBIT_ENOMEM;
        free(s);
        json_decref(m);
        if (!rc)
            rc = orbit_tx_touch(tx, orbit_actor_type(c->a), orbit_actor_id(c->a),
                                orbit_actor_keyspace(c->a), ORBIT_MODEL_VEC);
    }
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    return rc;
}

int orbit_vec_coll_create(const orbit_actor *a, const char *name, uint32_t dim,
                          orbit_vec_metric metric)
{
    int rc = name_ok(a, name);
    if (rc)
        return rc;
    if (dim < 1 || dim > ORBIT_VEC_DIM_MAX)
        return orbit_error_set(ORBIT_EINVAL, "vectors: dimension %u outside 1..%d", dim,
                               ORBIT_VEC_DIM_MAX);
    if ((unsigned)metric > ORBIT_VEC_IP)
        return orbit_error_set(ORBIT_EINVAL, "vectors: unknown metric %d", (int)metric);
    create_arg c = {a, name, 0, dim, metric};
    rc = orbit_actor_object_id(a, ORBIT_CATALOG_VECTORS, name, 1, &c.id);
    if (rc)
        return rc;
    return orbit_tx_run(NULL, 0, create_fn, &c);
}

int orbit_vec_coll_open(const orbit_actor *a, const char *name, orbit_vec_coll **out)
{
    if (!out)
        return orbit_error_set(ORBIT_EINVAL, "vectors: NULL out");
    *out = NULL;
    int rc = name_ok(a, name);
    if (rc)
        return rc;
    uint64_t id;
    rc = orbit_actor_object_id(a, ORBIT_CATALOG_VECTORS, name, 0, &id);
    vec_def d;
    if (!rc)
        rc = read_def(a, id, NULL, NULL, 0, &d);
    if (rc == ORBIT_NOTFOUND)
        return orbit_error_set(ORBIT_NOTFOUND, "vector collection '%s' does not exist", name);
    if (rc)
        return rc;
    orbit_vec_coll *c = calloc(1, sizeof *c);
    if (!c || !(c->name = strdup(name))) {
        free(c);
        return ORBIT_ENOMEM;
    }
    c->a = a;
    c->id = id;
    c->def = d;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return ORBIT_OK;
}

void orbit_vec_coll_close(orbit_vec_coll *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c->name);
    free(c);
}

uint32_t orbit_vec_coll_dim(const orbit_vec_coll *c)
{
    return def_get((orbit_vec_coll *)c).dim;
}

orbit_vec_metric orbit_vec_coll_metric(const orbit_vec_coll *c)
{
    return def_get((orbit_vec_coll *)c).metric;
}
uint64_t orbit_vec_coll_id(const orbit_vec_coll *c) { return c->id; }
const char *orbit_vec_coll_name(const orbit_vec_coll *c) { return c->name; }

int orbit_vec_coll_refresh(orbit_vec_coll *c)
{
    if (!c)
        return orbit_error_set(ORBIT_EINVAL, "vectors: NULL collection");
    vec_def d;
    int rc = read_def(c->a, c->id, NULL, NULL, 0, &d);
    if (rc == ORBIT_NOTFOUND) {
        d = def_get(c);
        d.dropped = 1;
        def_set(c, d);
        return orbit_error_set(ORBIT_NOTFOUND, "vector collection '%s' does not exist", c->name);
    }
    if (!rc)
        def_set(c, d);
    return rc;
}

typedef struct drop_arg {
    const orbit_actor *a;
    const char *name;
    uint64_t id;
} drop_arg;

static int drop_fn(orbit_tx *tx, void *arg)
{
    drop_arg *d = arg;
    orbit_txn *txn;
    int rc = orbit_tx_kv_txn(tx, orbit_actor_store(d->a), orbit_actor_type(d->a),
                             orbit_actor_id(d->a), &txn);
    if (rc)
        return rc;
    vec_def def;
    rc = read_def(d->a, d->id, txn, NULL, 1, &def);
    if (rc == ORBIT_NOTFOUND)
        return orbit_error_set(ORBIT_NOTFOUND, "vector collection '%s' does not exist", d->name);
    orbit_buf lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT;
    if (!rc)
        rc = key_head(&lo, d->a, d->id);
    if (!rc)
        rc = orbit_buf_set(&hi, lo.data, lo.len);
    if (!rc)
        rc = orbit_buf_append(&hi, "\xff", 1);
    if (!rc)
        rc = orbit_txn_delete_range(txn, lo.data, lo.len, hi.data, hi.len);
    if (!rc)
        rc = orbit_tx_touch(tx, orbit_actor_type(d->a), orbit_actor_id(d->a),
                            orbit_actor_keyspace(d->a), ORBIT_MODEL_VEC);
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    return rc;
}

int orbit_vec_coll_drop(orbit_tx *tx, const orbit_actor *a, const char *name)
{
    int rc = name_ok(a, name);
    if (rc)
        return rc;
    drop_arg d = {a, name, 0};
    rc = orbit_actor_object_id(a, ORBIT_CATALOG_VECTORS, name, 0, &d.id);
    if (rc == ORBIT_NOTFOUND)
        return orbit_error_set(ORBIT_NOTFOUND, "vector collection '%s' does not exist", name);
    if (rc)
        return rc;
    return orbit_tx_auto(tx, drop_fn, &d);
}

/* ---- reads at one view ---------------------------------------------- */

typedef orbit__reader reader; /* model/reader.h */

static int rd_open(orbit_vec_coll *c, orbit_tx *tx, int snapshot, reader *r)
{
    return orbit__reader_open(r, tx, c->a, snapshot);
}


/* The stored definition at the reader's view, refreshing the handle. */
static int rd_def(orbit_vec_coll *c, reader *r, vec_def *d)
{
    int rc = read_def(c->a, c->id, r->txn, r->txn ? NULL : &r->ro, 0, d);
    if (rc == ORBIT_NOTFOUND)
        return orbit_error_set(ORBIT_NOTFOUND, "vector collection '%s' does not exist", c->name);
    if (!rc) {
        vec_def cur = def_get(c);
        if (!def_same(&cur, d))
            def_set(c, *d);
    }
    return rc;
}

static int rd_iter(orbit_vec_coll *c, reader *r, int keys_only, orbit_buf *prefix,
                   orbit_iter **it)
{
    int rc = key_vectors(prefix, c->a, c->id);
    if (rc)
        return rc;
    orbit_scan_opts so = {0};
    so.prefix = prefix->data;
    so.prefix_len = prefix->len;
    so.keys_only = keys_only;
    return r->txn ? orbit_txn_iter(r->txn, &so, it) : orbit_kv_iter(r->kv, &r->ro, &so, it);
}

int orbit_vec_coll_info(orbit_tx *tx, orbit_vec_coll *c, orbit_vec_info *out)
{
    if (!c || !out)
        return orbit_error_set(ORBIT_EINVAL, "vectors: NULL %s", c ? "out" : "collection");
    memset(out, 0, sizeof *out);
    reader r;
    int rc = rd_open(c, tx, 1, &r);
    vec_def d;
    if (!rc)
        rc = rd_def(c, &r, &d);
    orbit_buf prefix = ORBIT_BUF_INIT;
    orbit_iter *it = NULL;
    if (!rc)
        rc = rd_iter(c, &r, 1, &prefix, &it);
    uint64_t n = 0;
    while (!rc) {
        const uint8_t *k, *v;
        size_t kl, vl;
        rc = orbit_iter_next(it, &k, &kl, &v, &vl);
        if (rc == ORBIT_NOTFOUND) {
            rc = ORBIT_OK;
            break;
        }
        if (!rc)
            n++;
    }
    orbit_iter_close(it);
    orbit__reader_close(&r);
    orbit_buf_release(&prefix);
    if (!rc) {
        out->dim = d.dim;
        out->metric = d.metric;
        out->count = n;
    }
    return rc;
}

/* ---- writes --------------------------------------------------------- */

typedef struct dim_check_arg {
    orbit_vec_coll *c;
    vec_def used;
} dim_check_arg;

static int dim_check(void *arg, orbit_txn *txn)
{
    dim_check_arg *a = arg;
    vec_def now;
    /* The latest committed definition first (the transaction's own view
     * may predate a change), then the one inside the transaction, read for
     * update so that a change committed after this check conflicts. */
    int rc = read_def(a->c->a, a->c->id, NULL, NULL, 0, &now);
    if (!rc && def_same(&now, &a->used))
        rc = read_def(a->c->a, a->c->id, txn, NULL, 1, &now);
    if (rc == ORBIT_NOTFOUND) {
        now = a->used;
        now.dropped = 1;
        def_set(a->c, now);
        return orbit_error_set(ORBIT_ECONSTRAINT,
                               "vector dimension consistency: collection '%s' was dropped while "
                               "the transaction wrote dim %u %s vectors to it",
                               a->c->name, a->used.dim, orbit_vec_metric_name(a->used.metric));
    }
    if (rc)
        return rc;
    if (def_same(&now, &a->used))
        return ORBIT_OK;
    def_set(a->c, now);
    if (now.dim == a->used.dim && now.metric == a->used.metric)
        return orbit_error_set(ORBIT_ECONSTRAINT,
                               "vector dimension consistency: collection '%s' was dropped and "
                               "created again while the transaction wrote to it",
                               a->c->name);
    return orbit_error_set(ORBIT_ECONSTRAINT,
                           "vector dimension consistency: collection '%s' is dim %u %s, the "
                           "transaction wrote dim %u %s",
                           a->c->name, now.dim, orbit_vec_metric_name(now.metric), a->used.dim,
                           orbit_vec_metric_name(a->used.metric));
}

static int add_dim_check(orbit_tx *tx, orbit_vec_coll *c, const vec_def *d)
{
    dim_check_arg *a = malloc(sizeof *a);
    if (!a)
        return ORBIT_ENOMEM;
    a->c = c;
    a->used = *d;
    struct {
        char tag[4];
        void *c;
        uint64_t gen;
        uint32_t dim, metric;
    } dk;
    memset(&dk, 0, sizeof dk);
    memcpy(dk.tag, "vec", 3);
    dk.c = c;
    dk.gen = d->gen;
    dk.dim = d->dim;
    dk.metric = (uint32_t)d->metric;
    return orbit_tx_add_check(tx, dim_check, a, free, &dk, sizeof dk);
}

typedef struct put_arg {
    orbit_vec_coll *c;
    size_t n;
    const orbit_vec_item *items;
    int own; /* no caller's transaction: put_fn's is its own */
} put_arg;

static int put_fn(orbit_tx *tx, void *arg)
{
    put_arg *pa = arg;
    orbit_vec_coll *c = pa->c;
    vec_def d = def_get(c);
    if (d.dropped)
        return orbit_error_set(ORBIT_NOTFOUND, "vector collection '%s' was dropped", c->name);
    int rc = ORBIT_OK;
    for (size_t i = 0; !rc && i < pa->n; i++) {
        const orbit_vec_item *it = &pa->items[i];
        rc = check_id(it->id, it->idlen);
        if (!rc)
            rc = check_vector(&d, c->name, it->v, it->dim, "vector");
        if (!rc && it->meta && it->meta_len) {
            json_error_t err;
            json_t *m = json_loadb(it->meta, it->meta_len, JSON_IN_FLAGS, &err);
            if (!json_is_object(m))
                rc = orbit_error_set(ORBIT_EINVAL, "vectors: metadata %s", m ? "must be a JSON object" : err.text);
            json_decref(m);
        }
        if (rc && pa->n > 1) {
            char detail[256];
            snprintf(detail, sizeof detail, "%s", orbit_last_error_detail());
            rc = orbit_error_set(rc, "vectors: item %zu: %s", i, detail);
        }
    }
    if (rc)
        return rc;
    orbit_txn *txn;
    rc = orbit_tx_kv_txn(tx, orbit_actor_store(c->a), orbit_actor_type(c->a),
                         orbit_actor_id(c->a), &txn);
    orbit_buf key = ORBIT_BUF_INIT, payload = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT;
    for (size_t i = 0; !rc && i < pa->n; i++) {
        const orbit_vec_item *it = &pa->items[i];
        key.len = 0;
        rc = orbit_key_vector(&key, orbit_actor_keyspace(c->a), c->id, it->id, it->idlen);
        if (!rc)
            rc = encode_vector(it->v, it->dim, it->meta, it->meta_len, &payload);
        if (!rc && !pa->own) {
            rc = put_rec(c->a, txn, &key, payload.data, payload.len);
        } else if (!rc) {
            /* A transaction of its own holds only these blind writes and the
             * dimension check, which claims the definition at commit: it
             * reads nothing its writes depend on, so it is ordered at its
             * commit and first-committer-wins on the vector keys protects
             * nothing; a tracked writer of one still sees this write in its
             * own validation. Inside a caller's transaction the writes stay
             * tracked (what the caller read may depend on them). */
            rec.len = 0;
            rc = orbit_actor_record(c->a, ORBIT_MODEL_VEC, VEC_SCHEMA, 0, key.data, key.len,
                                    payload.data, payload.len, &rec);
            if (!rc)
                rc = orbit_txn_put_untracked(txn, key.data, key.len, rec.data, rec.len);
        }
    }
    orbit_buf_release(&rec);
    if (!rc && pa->n)
        rc = add_dim_check(tx, c, &d);
    if (!rc && pa->n)
        rc = orbit_tx_touch(tx, orbit_actor_type(c->a), orbit_actor_id(c->a),
                            orbit_actor_keyspace(c->a), ORBIT_MODEL_VEC);
    orbit_buf_release(&key);
    orbit_buf_release(&payload);
    return rc;
}

int orbit_vec_put(orbit_tx *tx, orbit_vec_coll *c, const void *id, size_t idlen, const float *v,
                  uint32_t dim, const char *meta, size_t meta_len)
{
    if (!c)
        return orbit_error_set(ORBIT_EINVAL, "vectors: NULL collection");
    orbit_vec_item it = {id, idlen, v, dim, meta, meta_len};
    put_arg pa = {c, 1, &it, tx == NULL};
    return orbit_tx_auto(tx, put_fn, &pa);
}

int orbit_vec_put_many(orbit_tx *tx, orbit_vec_coll *c, size_t n, const orbit_vec_item *items)
{
    if (!c || (n && !items))
        return orbit_error_set(ORBIT_EINVAL, "vectors: NULL %s", c ? "items" : "collection");
    put_arg pa = {c, n, items, tx == NULL};
    return orbit_tx_auto(tx, put_fn, &pa);
}

typedef struct del_arg {
    orbit_vec_coll *c;
    const void *id;
    size_t idlen;
} del_arg;

static int del_fn(orbit_tx *tx, void *arg)
{
    del_arg *d = arg;
    orbit_vec_coll *c = d->c;
    orbit_txn *txn;
    int rc = orbit_tx_kv_txn(tx, orbit_actor_store(c->a), orbit_actor_type(c->a),
                             orbit_actor_id(c->a), &txn);
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    if (!rc)
        rc = orbit_key_vector(&key, orbit_actor_keyspace(c->a), c->id, d->id, d->idlen);
    if (!rc)
        rc = orbit_txn_get(txn, key.data, key.len, &val);
    if (!rc)
        rc = orbit_txn_del(txn, key.data, key.len);
    if (!rc)
        rc = orbit_tx_touch(tx, orbit_actor_type(c->a), orbit_actor_id(c->a),
                            orbit_actor_keyspace(c->a), ORBIT_MODEL_VEC);
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    return rc;
}

int orbit_vec_delete(orbit_tx *tx, orbit_vec_coll *c, const void *id, size_t idlen)
{
    if (!c)
        return orbit_error_set(ORBIT_EINVAL, "vectors: NULL collection");
    int rc = check_id(id, idlen);
    if (rc)
        return rc;
    del_arg d = {c, id, idlen};
    return orbit_tx_auto(tx, del_fn, &d);
}

int orbit_vec_get(orbit_tx *tx, orbit_vec_coll *c, const void *id, size_t idlen, orbit_buf *vec,
                  orbit_buf *meta)
{
    if (!c || !vec)
        return orbit_error_set(ORBIT_EINVAL, "vectors: NULL %s", c ? "out" : "collection");
    int rc = check_id(id, idlen);
    if (rc)
        return rc;
    vec->len = 0;
    if (meta)
        meta->len = 0;
    reader r;
    rc = rd_open(c, tx, 0, &r);
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT;
    if (!rc)
        rc = orbit_key_vector(&key, orbit_actor_keyspace(c->a), c->id, id, idlen);
    if (!rc)
        rc = r.txn ? orbit_txn_get(r.txn, key.data, key.len, &val)
                   : orbit_kv_get(r.kv, NULL, key.data, key.len, &val);
    const uint8_t *p = NULL, *fl = NULL;
    size_t n = 0, ml = 0;
    const char *mp = NULL;
    uint32_t dim = 0;
    if (!rc)
        rc = decode_rec(key.data, key.len, val.data, val.len, &scratch, &p, &n);
    if (!rc)
        rc = split_vector(key.data, key.len, p, n, &dim, &fl, &mp, &ml);
    if (!rc)
        rc = orbit_buf_reserve(vec, 4 * (size_t)dim);
    if (!rc) {
        float *f = (float *)(void *)vec->data;
        for (uint32_t i = 0; i < dim; i++)
            f[i] = ld_f32(fl + 4 * (size_t)i);
        vec->len = 4 * (size_t)dim;
        if (meta) {
            rc = orbit_buf_set(meta, mp, ml);
            if (!rc)
                rc = orbit_buf_append(meta, "", 1);
            if (!rc)
                meta->len--;
        }
    }
    if (rc) {
        vec->len = 0;
        if (meta)
            meta->len = 0;
    }
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    orbit_buf_release(&scratch);
    orbit__reader_close(&r);
    return rc;
}

/* ---- search --------------------------------------------------------- */

typedef struct hit_e {
    double bad;  /* lower is better */
    double score;
    uint8_t *id;
    size_t idlen;
    char *meta;
    size_t mlen;
} hit_e;

/* a worse than b: a higher badness, or equal and a larger id */
static int worse(const hit_e *a, const hit_e *b)
{
    if (a->bad != b->bad)
        return a->bad > b->bad;
    return orbit__key_cmp(a->id, a->idlen, b->id, b->idlen) > 0;
}

/* would (bad, id) beat the heap's worst e? */
static int beats(double bad, const uint8_t *id, size_t idlen, const hit_e *e)
{
    if (bad != e->bad)
        return bad < e->bad;
    return orbit__key_cmp(id, idlen, e->id, e->idlen) < 0;
}

static void sift_down(hit_e *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m]))
            m = l;
        if (r < n && worse(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        hit_e t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(hit_e *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!worse(&h[i], &h[p]))
            return;
        hit_e t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static int cmp_hits(const void *x, const void *y)
{
    const hit_e *a = x, *b = y;
    if (worse(a, b))
        return 1;
    if (worse(b, a))
        return -1;
    return 0;
}

static void hit_release(hit_e *e)
{
    free(e->id);
    free(e->meta);
    e->id = NULL;
    e->meta = NULL;
}

void orbit_vec_hits_free(orbit_vec_hit *hits, size_t n)
{
    if (!hits)
        return;
    for (size_t i = 0; i < n; i++) {
        free(hits[i].id);
        free(hits[i].meta);
    }
    free(hits);
}

/* Does the metadata meta[0..mlen) hold fval at fpath? */
static int filter_match(const orbit__jpath *fpath, const json_t *fval, const char *meta,
                        size_t mlen)
{
    if (mlen == 0)
        return 0;
    json_error_t err;
    json_t *m = json_loadb(meta, mlen, JSON_IN_FLAGS, &err);
    if (!m)
        return 0;
    json_t *v = orbit__jpath_get1(fpath, m);
    int ok = v && json_equal(v, (json_t *)fval);
    json_decref(m);
    return ok;
}

int orbit_vec_search(orbit_tx *tx, orbit_vec_coll *c, const float *q, uint32_t dim,
                     const orbit_vec_search_opts *opts, orbit_vec_hit **hits, size_t *nhits)
{
    if (!c || !opts || !hits || !nhits)
        return orbit_error_set(ORBIT_EINVAL, "vectors search: NULL argument");
    *hits = NULL;
    *nhits = 0;
    size_t k = opts->k;
    if (k < 1 || k > ORBIT_VEC_K_MAX)
        return orbit_error_set(ORBIT_EINVAL, "vectors search: k = %zu outside 1..%d", k,
                               ORBIT_VEC_K_MAX);
    orbit__jpath fpath = {0};
    json_t *fval = NULL;
    int rc = ORBIT_OK;
    if (opts->filter_path) {
        rc = orbit__jpath_parse(opts->filter_path, &fpath);
        if (!rc && (!fpath.definite || fpath.n == 0))
            rc = orbit_error_set(ORBIT_EINVAL, "vectors search: filter path \"%s\" must name one "
                                               "field (no wildcards)",
                                 opts->filter_path);
        if (!rc) {
            json_error_t err;
            fval = opts->filter_value ? json_loadb(opts->filter_value, opts->filter_value_len,
                                                   JSON_IN_FLAGS, &err)
                                      : NULL;
            if (!fval)
                rc = orbit_error_set(ORBIT_EINVAL, "vectors search: invalid filter value: %s",
                                     opts->filter_value ? err.text : "NULL");
        }
        if (rc) {
            orbit__jpath_release(&fpath);
            json_decref(fval);
            return rc;
        }
    }
    reader r;
    vec_def d;
    rc = rd_open(c, tx, 1, &r);
    if (!rc)
        rc = rd_def(c, &r, &d);
    if (!rc)
        rc = check_vector(&d, c->name, q, dim, "query");
    double qnorm = 0;
    for (uint32_t i = 0; !rc && i < dim; i++)
        qnorm += (double)q[i] * q[i];
    qnorm = sqrt(qnorm);
    hit_e *heap = NULL;
    size_t hn = 0;
    if (!rc) {
        heap = calloc(k, sizeof *heap);
        if (!heap)
            rc = ORBIT_ENOMEM;
    }
    orbit_buf prefix = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT, idb = ORBIT_BUF_INIT;
    orbit_iter *it = NULL;
    if (!rc)
        rc = rd_iter(c, &r, 0, &prefix, &it);
    while (!rc) {
        const uint8_t *key, *v, *p = NULL, *fl = NULL;
        size_t kl, vl, n = 0, ml = 0;
        const char *mp = NULL;
        uint32_t vd = 0;
        rc = orbit_iter_next(it, &key, &kl, &v, &vl);
        if (rc == ORBIT_NOTFOUND) {
            rc = ORBIT_OK;
            break;
        }
        if (rc)
            break;
        rc = decode_rec(key, kl, v, vl, &scratch, &p, &n);
        if (!rc)
            rc = split_vector(key, kl, p, n, &vd, &fl, &mp, &ml);
        if (!rc && vd != d.dim)
            rc = corrupt(key, kl, "a vector of another dimension than its collection's");
        if (rc)
            break;
        double s = score_of(q, qnorm, fl, vd, d.metric);
        double bad = d.metric == ORBIT_VEC_IP ? -s : s;
        /* The id: the bytes element after the prefix. */
        orbit_tuple_item ti = {0};
        ti.bytes_out = &idb;
        size_t pos = prefix.len - 1;
        rc = orbit_tuple_next(key, kl, &pos, &ti);
        if (!rc && (ti.type != ORBIT_TUPLE_BYTES || pos != kl))
            rc = ORBIT_ECORRUPT;
        if (rc) {
            rc = corrupt(key, kl, "a malformed vector key");
            break;
        }
        if (hn == k && !beats(bad, idb.data, idb.len, &heap[0]))
            continue;
        if (opts->filter_path && !filter_match(&fpath, fval, mp, ml))
            continue;
        hit_e e = {bad, s, malloc(idb.len ? idb.len : 1), idb.len, NULL, 0};
        if (!e.id) {
            rc = ORBIT_ENOMEM;
            break;
        }
        memcpy(e.id, idb.data, idb.len);
        if (opts->with_meta && ml) {
            e.meta = malloc(ml + 1);
            if (!e.meta) {
                free(e.id);
                rc = ORBIT_ENOMEM;
                break;
            }
            memcpy(e.meta, mp, ml);
            e.meta[ml] = '\0';
            e.mlen = ml;
        }
        if (hn < k) {
            heap[hn] = e;
            sift_up(heap, hn++);
        } else {
            hit_release(&heap[0]);
            heap[0] = e;
            sift_down(heap, hn, 0);
        }
    }
    orbit_iter_close(it);
    orbit__reader_close(&r);
    if (!rc && hn) {
        qsort(heap, hn, sizeof *heap, cmp_hits);
        orbit_vec_hit *out = calloc(hn, sizeof *out);
        if (!out)
            rc = ORBIT_ENOMEM;
        for (size_t i = 0; out && i < hn; i++) {
            out[i].id = heap[i].id;
            out[i].idlen = heap[i].idlen;
            out[i].score = heap[i].score;
            out[i].meta = heap[i].meta;
            out[i].meta_len = heap[i].mlen;
            heap[i].id = NULL;
            heap[i].meta = NULL;
        }
        if (out) {
            *hits = out;
            *nhits = hn;
        }
    }
    for (size_t i = 0; heap && i < hn; i++)
        hit_release(&heap[i]);
    free(heap);
    orbit_buf_release(&prefix);
    orbit_buf_release(&scratch);
    orbit_buf_release(&idb);
    orbit__jpath_release(&fpath);
    json_decref(fval);
    return rc;
}
