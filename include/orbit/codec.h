/*
 * Keys: an order-preserving ("memcomparable") tuple encoding, and the key
 * builders of every data model on top of it.
 *
 * A key is a tuple of elements; each element is a type tag byte followed by
 * its body. Comparing two encoded tuples byte-wise (memcmp, shorter first)
 * gives the same order as comparing the tuples element by element, where
 * elements of different types order by tag (bytes < int < double < bool)
 * and a tuple that is a prefix of another sorts first. Encodings are
 * self-delimiting, so appending elements never changes the order of the
 * prefix, and two different tuples never encode to the same bytes (ids
 * containing ':' or '\0' cannot collide).
 *
 * Element encodings (the full table is in docs/ARCHITECTURE.md):
 *   bytes   0x01, body with 0x00 written as 0x00 0xFF, then 0x00
 *   int64   variable length (FoundationDB's tuple layer): 0x14 is zero;
 *           0x14+n (n = 1..8) a positive value in n big-endian bytes;
 *           0x14-n a negative value, the ones' complement of its
 *           magnitude in n bytes; always the shortest form
 *   double  0x21, 8 bytes big-endian: if negative all bits flipped, else
 *           the sign bit flipped (-0.0 is stored as +0.0, NaN canonical)
 *   false   0x26      true 0x27
 *
 * All builders append to `out` (they never reset it) and return 0,
 * ORBIT_EINVAL (bad argument; `out` unchanged) or ORBIT_ENOMEM.
 */
#ifndef ORBIT_CODEC_H
#define ORBIT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"
#include "orbit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ORBIT_TAG_BYTES 0x01
/* Integers take the 17 tags INT_MIN..INT_MAX: ORBIT_TAG_INT_ZERO + n for a
 * positive value of n bytes, ORBIT_TAG_INT_ZERO - n for a negative one. */
#define ORBIT_TAG_INT_MIN 0x0C  /* negative, 8 bytes (INT64_MIN lives here) */
#define ORBIT_TAG_INT_ZERO 0x14 /* the integer 0, no body */
#define ORBIT_TAG_INT_MAX 0x1C  /* positive, 8 bytes (INT64_MAX lives here) */
#define ORBIT_TAG_DOUBLE 0x21
#define ORBIT_TAG_FALSE 0x26
#define ORBIT_TAG_TRUE 0x27

/* ---- tuple elements ------------------------------------------------- */

/* The most bytes one integer element takes (tag + 8). */
#define ORBIT_TUPLE_INT_MAX_LEN 9

ORBIT_API int orbit_tuple_bytes(orbit_buf *out, const void *p, size_t n);
ORBIT_API int orbit_tuple_str(orbit_buf *out, const char *s);
ORBIT_API int orbit_tuple_int(orbit_buf *out, int64_t v);
ORBIT_API int orbit_tuple_double(orbit_buf *out, double v);
ORBIT_API int orbit_tuple_bool(orbit_buf *out, int v);
/* A byte-string element left open: the encoding of p without the
 * terminator, a prefix of the encoding of every byte string starting with
 * p. Only useful as the last thing in a scan prefix. */
ORBIT_API int orbit_tuple_bytes_open(orbit_buf *out, const void *p, size_t n);

typedef enum orbit_tuple_type {
    ORBIT_TUPLE_BYTES = 1,
    ORBIT_TUPLE_INT = 2,
    ORBIT_TUPLE_DOUBLE = 3,
    ORBIT_TUPLE_BOOL = 4,
} orbit_tuple_type;

typedef struct orbit_tuple_item {
    orbit_tuple_type type;
    int64_t i;      /* INT */
    double d;       /* DOUBLE */
    int b;          /* BOOL */
    orbit_buf *bytes_out; /* BYTES: if non-NULL on input, receives the
                           * decoded body (contents replaced) */
} orbit_tuple_item;

/*
 * Decode the element at *pos of key[0..klen) and advance *pos past it.
 * 0: decoded; ORBIT_NOTFOUND: *pos == klen (no more elements);
 * ORBIT_ECORRUPT: malformed element (unknown tag, truncated, an integer
 * not in its shortest form or outside int64, -0.0, a non-canonical NaN);
 * ORBIT_ENOMEM.
 */
ORBIT_API int orbit_tuple_next(const uint8_t *key, size_t klen, size_t *pos,
                               orbit_tuple_item *item);

/* ---- model key builders ---------------------------------------------- */

/*
 * Every key of model data starts with its owner's keyspace: a compact id,
 * an int element, allocated once per actor (type, id) in the catalog. All
 * data of one actor is therefore one contiguous key range
 * (orbit_key_keyspace_range), so listing, moving, backing up or deleting
 * an actor is a range operation.
 *
 * Ids (keyspaces and the ids of tables, indexes, collections, graphs and
 * series, also allocated in the catalog) are uint64_t but must fit int64_t:
 * a larger id is ORBIT_EINVAL.
 */
/* The global catalog (placement records, keyspace allocation). */
#define ORBIT_KEYSPACE_SYSTEM UINT64_C(0)
/* The default database actor (type "orbit", id "default"); it holds the
 * plain key-value namespace (orbit/strings.h). */
#define ORBIT_KEYSPACE_DEFAULT UINT64_C(1)
#define ORBIT_KEYSPACE_DEFAULT_ACTOR_TYPE "orbit"
#define ORBIT_KEYSPACE_DEFAULT_ACTOR_ID "default"
/* The largest id any builder accepts. */
#define ORBIT_ID_MAX ((uint64_t)INT64_MAX)

/* The second element of every key: the model's prefix. */
#define ORBIT_PREFIX_KV "kv"   /* plain key-value namespace (Redis strings) */
#define ORBIT_PREFIX_REL "rel" /* relational rows and indexes */
#define ORBIT_PREFIX_DOC "doc" /* JSON documents */
#define ORBIT_PREFIX_GRAPH "grp"
#define ORBIT_PREFIX_VEC "vec"
#define ORBIT_PREFIX_TS "ts"
#define ORBIT_PREFIX_CATALOG "cat"

/*
 * Key layouts (elements in parentheses; ks is the keyspace id; table,
 * index, coll, graph and series are ids (int elements); "pk..." and
 * "vals..." are tuple elements the caller encoded with orbit_tuple_*):
 *   keyspace       (ks)                          every key of one actor
 *   plain key      (ks, "kv", key)
 *   table row      (ks, "rel", table, "r", pk...)
 *   index entry    (ks, "rel", table, "i", index, vals..., pk...)
 *   document       (ks, "doc", coll, id)
 *   vector         (ks, "vec", coll, "v", id)
 *   vector bucket  (ks, "vec", coll, "b", bucket, id)
 *   graph node     (ks, "grp", graph, "n", node)
 *   edge           (ks, "grp", graph, "e", edge)
 *   adjacency      (ks, "grp", graph, "o"|"i", node, label, other, edge)
 *   series point   (ks, "ts", series, "p", timestamp, seq)
 *   series bucket  (ks, "ts", series, "b", granularity_ms, bucket_start)
 *   series meta    (ks, "ts", series, "meta")
 *   catalog        (ks, "cat", kind, name)
 * The object id comes before the kind letter, so every key of one table
 * (rows and indexes), collection, graph or series is one range too
 * (orbit_key_object_prefix).
 */

/* (ks): the prefix of every key of one actor. */
ORBIT_API int orbit_key_keyspace(orbit_buf *out, uint64_t ks);
/* [lo, hi) holding exactly the keys of keyspace ks: lo = (ks), hi = (ks+1);
 * at ks = ORBIT_ID_MAX hi is the byte-wise successor of (ks). Both buffers
 * are appended to. */
ORBIT_API int orbit_key_keyspace_range(orbit_buf *lo, orbit_buf *hi, uint64_t ks);

ORBIT_API int orbit_key_kv(orbit_buf *out, uint64_t ks, const void *key, size_t klen);
/* Decode a plain key back to its keyspace (ks may be NULL) and the user's
 * key. ORBIT_EINVAL if `key` is not a plain key, ORBIT_ECORRUPT if it is
 * malformed. */
ORBIT_API int orbit_key_kv_decode(const uint8_t *key, size_t klen, uint64_t *ks,
                                  orbit_buf *user_key);

ORBIT_API int orbit_key_row(orbit_buf *out, uint64_t ks, uint64_t table_id,
                            const uint8_t *pk, size_t pklen);
ORBIT_API int orbit_key_index(orbit_buf *out, uint64_t ks, uint64_t table_id,
                              uint64_t index_id, const uint8_t *vals, size_t vlen,
                              const uint8_t *pk, size_t pklen);
ORBIT_API int orbit_key_doc(orbit_buf *out, uint64_t ks, uint64_t coll_id,
                            const void *id, size_t idlen);
ORBIT_API int orbit_key_vector(orbit_buf *out, uint64_t ks, uint64_t coll_id,
                               const void *id, size_t idlen);
ORBIT_API int orbit_key_vector_bucket(orbit_buf *out, uint64_t ks, uint64_t coll_id,
                                      int64_t bucket, const void *id, size_t idlen);
ORBIT_API int orbit_key_node(orbit_buf *out, uint64_t ks, uint64_t graph_id,
                             const void *node, size_t nlen);
ORBIT_API int orbit_key_edge(orbit_buf *out, uint64_t ks, uint64_t graph_id,
                             const void *edge, size_t elen);

typedef enum orbit_edge_dir { ORBIT_EDGE_OUT = 0, ORBIT_EDGE_IN = 1 } orbit_edge_dir;

ORBIT_API int orbit_key_adjacency(orbit_buf *out, uint64_t ks, uint64_t graph_id,
                                  orbit_edge_dir dir, const void *node, size_t nlen,
                                  const char *label, const void *other, size_t olen,
                                  const void *edge, size_t elen);
ORBIT_API int orbit_key_ts_point(orbit_buf *out, uint64_t ks, uint64_t series_id,
                                 int64_t timestamp, int64_t seq);
ORBIT_API int orbit_key_ts_bucket(orbit_buf *out, uint64_t ks, uint64_t series_id,
                                  int64_t granularity_ms, int64_t bucket_start);
ORBIT_API int orbit_key_catalog(orbit_buf *out, uint64_t ks, const char *kind,
                                const void *name, size_t nlen);

/* ---- key prefixes for scans ----------------------------------------- */

/* (ks, "kv"): every plain key of keyspace ks. */
ORBIT_API int orbit_key_kv_prefix(orbit_buf *out, uint64_t ks);
/* (ks, model_prefix, id): every key of one table (rows and indexes),
 * collection (documents, or vectors and buckets), graph or series;
 * model_prefix is one of ORBIT_PREFIX_REL/DOC/VEC/GRAPH/TS. */
ORBIT_API int orbit_key_object_prefix(orbit_buf *out, uint64_t ks,
                                      const char *model_prefix, uint64_t id);
/* Every key of one table's rows / index / collection / node's adjacency in
 * one direction / series' points / catalog kind. */
ORBIT_API int orbit_key_rows_prefix(orbit_buf *out, uint64_t ks, uint64_t table_id);
ORBIT_API int orbit_key_index_prefix(orbit_buf *out, uint64_t ks, uint64_t table_id,
                                     uint64_t index_id);
ORBIT_API int orbit_key_docs_prefix(orbit_buf *out, uint64_t ks, uint64_t coll_id);
ORBIT_API int orbit_key_adjacency_prefix(orbit_buf *out, uint64_t ks, uint64_t graph_id,
                                         orbit_edge_dir dir, const void *node,
                                         size_t nlen);
ORBIT_API int orbit_key_ts_points_prefix(orbit_buf *out, uint64_t ks, uint64_t series_id);
ORBIT_API int orbit_key_catalog_prefix(orbit_buf *out, uint64_t ks, const char *kind);

/* ---- display -------------------------------------------------------- */

/* Append a printable form of any bytes: printable ASCII as is, '\\' as
 * "\\\\", everything else as "\xHH". Used in error details and the CLI. */
ORBIT_API int orbit_escape(orbit_buf *out, const void *p, size_t n);
/* The inverse, accepting also "\0", "\n", "\t", "\r". ORBIT_EINVAL on a
 * malformed escape. */
ORBIT_API int orbit_unescape(orbit_buf *out, const char *s, size_t n);

#ifdef __cplusplus
}
#endif
#endif
