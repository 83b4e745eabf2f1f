/*
 * Vectors: collections of float vectors with a fixed dimension and a
 * distance metric, each vector with optional JSON metadata, and exact
 * top-k search with an optional metadata filter.
 *
 * A vector collection belongs to an actor (orbit/model.h) and is named per
 * actor (catalog kind ORBIT_CATALOG_VECTORS). Its definition (dimension,
 * metric, a random generation number drawn at creation) is its meta record
 * (ks, "vec", coll, "meta"), an ORBIT_MODEL_VEC record with the JSON
 * payload {"dim":D,"metric":"l2"|"cosine"|"ip","gen":G}. A vector is stored
 * under orbit_key_vector (ks, "vec", coll, "v", id) as an ORBIT_MODEL_VEC
 * record with the payload
 *   u32 little-endian dim | dim float32 little-endian | metadata JSON
 *   (compact; absent when empty)
 * so a filtered search reads the metadata with the vector, and nothing else.
 *
 * Metrics and scores (every hit carries its score; hits come best first,
 * ties broken by id in byte order):
 *   ORBIT_VEC_L2      the squared Euclidean distance, ascending;
 *   ORBIT_VEC_COSINE  the cosine distance 1 - cos(a, b), ascending (0 for
 *                     the same direction, 2 for opposite); a zero vector is
 *                     refused (ORBIT_EINVAL) on put and as a query;
 *   ORBIT_VEC_IP      the inner product, descending (higher is better).
 * Components are stored as float32; distances are accumulated in float
 * (eight partial sums, loops the compiler vectorises) per vector and
 * reported as double.
 *
 * Dimensions: 1..ORBIT_VEC_DIM_MAX. A vector or query whose dimension is
 * not the collection's is ORBIT_EINVAL naming both; a NaN or infinite
 * component is ORBIT_EINVAL naming its index.
 *
 * Transactions: every write takes an orbit_tx * (orbit/txn.h; NULL: a
 * transaction of its own, retried on conflict); reads take one too (NULL:
 * the latest data, one snapshot for a search where the store has them;
 * with a tx, through it, seeing its writes). A write marks the actor
 * changed for ORBIT_MODEL_VEC (orbit_tx_touch). Writes check the
 * dimension against the handle's cached definition and write nothing on a
 * mismatch (ORBIT_EINVAL, the transaction stays usable).
 *
 * Dimension consistency at commit: every transaction that wrote vectors
 * through a handle reads the collection's meta record at commit (one check
 * per handle and definition: the latest committed record, then inside the
 * transaction with get_for_update, so a change committed after the check
 * makes the commit conflict) and compares it with the definition the
 * writes used; if the
 * collection was dropped, or dropped and created again (another dimension,
 * metric or generation), the commit fails with ORBIT_ECONSTRAINT, e.g.
 * "vector dimension consistency: collection 'emb' is dim 64 cosine, the
 * transaction wrote dim 128 l2", and nothing is applied. The handle's
 * cache is refreshed then, so the handle goes on with the new definition.
 *
 * Costs (orbit_kv_stats):
 *   orbit_vec_get: one key, one read call;
 *   orbit_vec_put / _put_many: no read; at commit two meta reads per handle;
 *   orbit_vec_delete: one key read (for ORBIT_NOTFOUND) and one delete;
 *   orbit_vec_search: the meta record and every vector of the collection
 *     (one ordered scan of the collection's vector prefix; no per-vector
 *     gets), nothing outside the collection;
 *   orbit_vec_coll_info: the meta record and, for the count, one keys-only
 *     scan of the vectors (the count is computed, not kept: a kept counter
 *     would make every put of a collection conflict with every other).
 *
 * Threads: handles are thread-safe (the cached definition is guarded by a
 * mutex) and borrow their actor, which must outlive them; a handle must
 * also outlive every transaction that wrote through it.
 */
#ifndef ORBIT_VECTOR_H
#define ORBIT_VECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"
#include "orbit/error.h"
#include "orbit/model.h"
#include "orbit/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest dimension of a collection. */
#define ORBIT_VEC_DIM_MAX 4096
/* The longest vector id, in bytes. */
#define ORBIT_VEC_ID_MAX 1024
/* The largest k of a search. */
#define ORBIT_VEC_K_MAX 10000

typedef enum orbit_vec_metric {
    ORBIT_VEC_L2 = 0,
    ORBIT_VEC_COSINE = 1,
    ORBIT_VEC_IP = 2,
} orbit_vec_metric;

/* "l2", "cosine", "ip" (static), or "?" for an unknown value. */
ORBIT_API const char *orbit_vec_metric_name(orbit_vec_metric m);
/* The metric named s (case-insensitive: "l2", "cosine", "ip"). 0 or
 * ORBIT_EINVAL. */
ORBIT_API int orbit_vec_metric_parse(const char *s, orbit_vec_metric *out);

typedef struct orbit_vec_coll orbit_vec_coll;

/* ---- collections ----------------------------------------------------- */

/*
 * Create collection `name` (non-empty C string) of actor a with dimension
 * dim and metric, in a transaction of its own (never a caller's).
 * ORBIT_EEXIST if it exists (whatever its definition), ORBIT_EINVAL for a
 * bad dimension or metric.
 */
ORBIT_API int orbit_vec_coll_create(const orbit_actor *a, const char *name, uint32_t dim,
                                    orbit_vec_metric metric);

/* Open an existing collection (reads the meta record: one key). *out owns
 * the handle; a (borrowed) must outlive it. 0, ORBIT_NOTFOUND,
 * ORBIT_ECORRUPT or the store's error. */
ORBIT_API int orbit_vec_coll_open(const orbit_actor *a, const char *name,
                                  orbit_vec_coll **out);

/* NULL is accepted. */
ORBIT_API void orbit_vec_coll_close(orbit_vec_coll *c);

/* The handle's cached definition (as of open or the last refresh). */
ORBIT_API uint32_t orbit_vec_coll_dim(const orbit_vec_coll *c);
ORBIT_API orbit_vec_metric orbit_vec_coll_metric(const orbit_vec_coll *c);
ORBIT_API uint64_t orbit_vec_coll_id(const orbit_vec_coll *c);
ORBIT_API const char *orbit_vec_coll_name(const orbit_vec_coll *c);

/* Re-read the meta record into the handle (one key). 0, ORBIT_NOTFOUND
 * (dropped) or an error. */
ORBIT_API int orbit_vec_coll_refresh(orbit_vec_coll *c);

typedef struct orbit_vec_info {
    uint32_t dim;
    orbit_vec_metric metric;
    uint64_t count; /* vectors stored (computed: a keys-only scan) */
} orbit_vec_info;

/* The stored definition and the count, read in tx (NULL: the latest, at
 * one snapshot where the store has them). 0, ORBIT_NOTFOUND (dropped). */
ORBIT_API int orbit_vec_coll_info(orbit_tx *tx, orbit_vec_coll *c, orbit_vec_info *out);

/* Drop collection `name` of actor a in tx: every key of the collection
 * (vectors and meta) goes as one range delete inside the transaction (the
 * catalog keeps the name's id). 0 or ORBIT_NOTFOUND. */
ORBIT_API int orbit_vec_coll_drop(orbit_tx *tx, const orbit_actor *a, const char *name);

/* ---- vectors --------------------------------------------------------- */

/*
 * Store vector v[0..dim) under id (1..ORBIT_VEC_ID_MAX bytes), replacing
 * any, with metadata `meta` (JSON text, meta_len bytes; an object; NULL or
 * meta_len 0: none). 0 or ORBIT_EINVAL (dimension, NaN/inf, zero vector
 * under cosine, bad JSON, bad id).
 */
ORBIT_API int orbit_vec_put(orbit_tx *tx, orbit_vec_coll *c, const void *id, size_t idlen,
                            const float *v, uint32_t dim, const char *meta, size_t meta_len);

/* One vector of a batch put (pointers borrowed for the call). */
typedef struct orbit_vec_item {
    const void *id;
    size_t idlen;
    const float *v;
    uint32_t dim;
    const char *meta; /* may be NULL */
    size_t meta_len;
} orbit_vec_item;

/* Store n vectors in one transaction (tx's, or one of its own). Every item
 * is checked before anything is written: the first bad one is ORBIT_EINVAL
 * naming its position, and none is written. */
ORBIT_API int orbit_vec_put_many(orbit_tx *tx, orbit_vec_coll *c, size_t n,
                                 const orbit_vec_item *items);

/*
 * The vector stored under id: vec receives its dim floats (native float
 * values, dim * sizeof(float) bytes; orbit_buf memory is malloc'd, so
 * suitably aligned), meta (may be NULL) its metadata JSON (empty: none).
 * 0 or ORBIT_NOTFOUND (both emptied).
 */
ORBIT_API int orbit_vec_get(orbit_tx *tx, orbit_vec_coll *c, const void *id, size_t idlen,
                            orbit_buf *vec, orbit_buf *meta);

/* Delete the vector. 0 or ORBIT_NOTFOUND. */
ORBIT_API int orbit_vec_delete(orbit_tx *tx, orbit_vec_coll *c, const void *id,
                               size_t idlen);

/* ---- search ---------------------------------------------------------- */

typedef struct orbit_vec_search_opts {
    size_t k; /* 1..ORBIT_VEC_K_MAX */
    /* Optional filter: only vectors whose metadata holds, at the definite
     * JSON path filter_path (orbit/document.h syntax: "$.genre", "genre",
     * "$.a.b[0]"), a value equal (jansson's json_equal) to the JSON value
     * filter_value[0..filter_value_len). filter_path NULL: no filter.
     * Vectors without metadata or without the path never match. */
    const char *filter_path;
    const char *filter_value;
    size_t filter_value_len;
    int with_meta; /* hand out each hit's metadata too */
} orbit_vec_search_opts;

/* One search hit. id and meta are owned by the hit array. */
typedef struct orbit_vec_hit {
    uint8_t *id;
    size_t idlen;
    double score;
    char *meta;      /* NUL-terminated JSON, or NULL (none, or !with_meta) */
    size_t meta_len;
} orbit_vec_hit;

/*
 * Exact top-k search for query q[0..dim): every vector of the collection
 * is scored (see Metrics and scores); the best min(k, matching) hits are
 * written to *hits (a malloc'd array owned by the caller, free it with
 * orbit_vec_hits_free; NULL when *n is 0), best first. 0, ORBIT_NOTFOUND
 * (collection dropped), ORBIT_EINVAL (dimension, NaN/inf, zero query under
 * cosine, k, bad filter), ORBIT_ECORRUPT (a stored vector that fails its
 * record check or has another dimension, naming its key).
 */
ORBIT_API int orbit_vec_search(orbit_tx *tx, orbit_vec_coll *c, const float *q, uint32_t dim,
                               const orbit_vec_search_opts *opts, orbit_vec_hit **hits,
                               size_t *n);

/* Free a hit array of n hits (NULL accepted). */
ORBIT_API void orbit_vec_hits_free(orbit_vec_hit *hits, size_t n);

#ifdef __cplusplus
}
#endif

#endif
