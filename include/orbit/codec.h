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
 *   int64   0x15, 8 bytes big-endian of (v XOR 1<<63)
 *   double  0x21, 8 bytes big-endian: if negative all bits flipped, else
 *           the sign bit flipped (-0.0 is stored as +0.0, NaN canonical)
 *   false   0x26      true 0x27
 *
 * All builders append to `out` (they never reset it) and return 0 or
 * ORBIT_ENOMEM.
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
#define ORBIT_TAG_INT 0x15
#define ORBIT_TAG_DOUBLE 0x21
#define ORBIT_TAG_FALSE 0x26
#define ORBIT_TAG_TRUE 0x27

/* ---- tuple elements ------------------------------------------------- */

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
 * ORBIT_ECORRUPT: malformed element; ORBIT_ENOMEM.
 */
ORBIT_API int orbit_tuple_next(const uint8_t *key, size_t klen, size_t *pos,
                               orbit_tuple_item *item);

/* ---- model key builders ---------------------------------------------- */

/* The first element of every key: the model's prefix. */
#define ORBIT_PREFIX_KV "kv"   /* plain key-value namespace (Redis strings) */
#define ORBIT_PREFIX_REL "rel" /* relational rows and indexes */
#define ORBIT_PREFIX_DOC "doc" /* JSON documents */
#define ORBIT_PREFIX_GRAPH "grp"
#define ORBIT_PREFIX_VEC "vec"
#define ORBIT_PREFIX_TS "ts"
#define ORBIT_PREFIX_CATALOG "cat"

/*
 * Key layouts (elements in parentheses; "pk..." and "vals..." are tuple
 * elements the caller encoded with orbit_tuple_*):
 *   plain key      ("kv", key)
 *   table row      ("rel", "r", table, pk...)
 *   index entry    ("rel", "i", table, index, vals..., pk...)
 *   document       ("doc", collection, id)
 *   vector         ("vec", "v", collection, id)
 *   vector bucket  ("vec", "b", collection, bucket, id)
 *   graph node     ("grp", "n", graph, node)
 *   edge           ("grp", "e", graph, edge)
 *   adjacency      ("grp", "o"|"i", graph, node, label, other, edge)
 *   series point   ("ts", "p", series, timestamp, seq)
 *   series bucket  ("ts", "b", series, bucket_start)
 *   catalog        ("cat", kind, name)
 */
ORBIT_API int orbit_key_kv(orbit_buf *out, const void *key, size_t klen);
/* Decode a plain key back to the user's key. ORBIT_EINVAL if `key` is not
 * a plain key, ORBIT_ECORRUPT if malformed. */
ORBIT_API int orbit_key_kv_decode(const uint8_t *key, size_t klen,
                                  orbit_buf *user_key);

ORBIT_API int orbit_key_row(orbit_buf *out, const char *table,
                            const uint8_t *pk, size_t pklen);
ORBIT_API int orbit_key_index(orbit_buf *out, const char *table,
                              const char *index, const uint8_t *vals,
                              size_t vlen, const uint8_t *pk, size_t pklen);
ORBIT_API int orbit_key_doc(orbit_buf *out, const char *collection,
                            const void *id, size_t idlen);
ORBIT_API int orbit_key_vector(orbit_buf *out, const char *collection,
                               const void *id, size_t idlen);
ORBIT_API int orbit_key_vector_bucket(orbit_buf *out, const char *collection,
                                      int64_t bucket, const void *id,
                                      size_t idlen);
ORBIT_API int orbit_key_node(orbit_buf *out, const char *graph,
                             const void *node, size_t nlen);
ORBIT_API int orbit_key_edge(orbit_buf *out, const char *graph,
                             const void *edge, size_t elen);

typedef enum orbit_edge_dir { ORBIT_EDGE_OUT = 0, ORBIT_EDGE_IN = 1 } orbit_edge_dir;

ORBIT_API int orbit_key_adjacency(orbit_buf *out, const char *graph,
                                  orbit_edge_dir dir, const void *node,
                                  size_t nlen, const char *label,
                                  const void *other, size_t olen,
                                  const void *edge, size_t elen);
ORBIT_API int orbit_key_ts_point(orbit_buf *out, const char *series,
                                 int64_t timestamp, int64_t seq);
ORBIT_API int orbit_key_ts_bucket(orbit_buf *out, const char *series,
                                  int64_t bucket_start);
ORBIT_API int orbit_key_catalog(orbit_buf *out, const char *kind,
                                const void *name, size_t nlen);

/* ---- key prefixes for scans ----------------------------------------- */

/* Every key of one table / collection / graph / series / catalog kind. */
ORBIT_API int orbit_key_rows_prefix(orbit_buf *out, const char *table);
ORBIT_API int orbit_key_index_prefix(orbit_buf *out, const char *table,
                                     const char *index);
ORBIT_API int orbit_key_docs_prefix(orbit_buf *out, const char *collection);
ORBIT_API int orbit_key_adjacency_prefix(orbit_buf *out, const char *graph,
                                         orbit_edge_dir dir, const void *node,
                                         size_t nlen);
ORBIT_API int orbit_key_ts_points_prefix(orbit_buf *out, const char *series);
ORBIT_API int orbit_key_catalog_prefix(orbit_buf *out, const char *kind);

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
