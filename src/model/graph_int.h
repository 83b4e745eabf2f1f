/*
 * Private to the graph model (src/model/graph*.c): the handle, the keys,
 * the reader that reads through a transaction or at one snapshot, and the
 * adjacency record codec.
 *
 * Adjacency record payload (an ORBIT_MODEL_GRAPH record, schema 1, under
 * (ks, "grp", g, "o"|"i", node)):
 *   varint n, then n entries sorted strictly ascending by (rel, other)
 *   (byte-wise, shorter first), each:
 *     varint rel_len, rel bytes, varint other_len, other bytes,
 *     u64 big-endian IEEE-754 bits of the weight (finite, >= 0)
 * A decoded record whose entries break any of these rules is ECORRUPT.
 */
#ifndef ORBIT_MODEL_GRAPH_INT_H
#define ORBIT_MODEL_GRAPH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/codec.h"
#include "orbit/graph.h"
#include "orbit/kv.h"

struct orbit_graph {
    const orbit_actor *a;
    orbit_kv *kv;
    uint64_t ks, id;
    char *name;
    char *etable;       /* endpoint table name, or NULL */
    uint64_t etable_id; /* its catalog id (0: none) */
};

/* ---- keys ------------------------------------------------------------ */

int orbit__gr_key_meta(orbit_buf *out, const orbit_graph *g);
int orbit__gr_key_node(orbit_buf *out, const orbit_graph *g, const void *id, size_t n);
int orbit__gr_key_edge(orbit_buf *out, const orbit_graph *g, const void *from, size_t flen,
                       const char *rel, const void *to, size_t tlen);
/* dir: ORBIT_GRAPH_OUT or ORBIT_GRAPH_IN. */
int orbit__gr_key_adj(orbit_buf *out, const orbit_graph *g, orbit_graph_dir dir, const void *id,
                      size_t n);
/* The endpoint table's row key of id (pk = orbit_tuple_bytes(id)). */
int orbit__gr_key_row(orbit_buf *out, const orbit_graph *g, const void *id, size_t n);

/* ---- reading --------------------------------------------------------- */

/* Reads through a contract transaction, or (txn NULL) from the store at
 * snap (NULL: the latest data). */
typedef struct gr_reader {
    orbit_txn *txn;
    orbit_kv *kv;
    orbit_snapshot *snap; /* owned when own_snap */
    int own_snap;
} gr_reader;

/* Set up a reader for tx (NULL: the store; with `snapshot`, one snapshot
 * if the store has them). Inside a tx a failure marks it failed. */
int orbit__gr_reader_open(gr_reader *r, orbit_tx *tx, const orbit_graph *g, int snapshot);
void orbit__gr_reader_close(gr_reader *r);
int orbit__gr_get(gr_reader *r, const uint8_t *key, size_t klen, orbit_buf *val);
int orbit__gr_mget(gr_reader *r, size_t n, const orbit_slice *keys, orbit_buf *vals, int *status);

/* Decode the graph record val under key: *payload borrows from val (graph
 * records are never compressed) and meta (may be NULL) is filled.
 * ECORRUPT naming the key for a record that fails verification or is not a
 * graph record. */
int orbit__gr_record(const orbit_buf *val, const uint8_t *key, size_t klen,
                     orbit_record_meta *meta, const uint8_t **payload, size_t *plen);

/* Encode payload as the actor's graph record for key into out (replaced). */
int orbit__gr_encode(const orbit_graph *g, const uint8_t *key, size_t klen, uint64_t created_ms,
                     const uint8_t *payload, size_t plen, orbit_buf *out);

/* ---- adjacency ------------------------------------------------------- */

typedef struct gr_adj_entry {
    const uint8_t *rel; /* borrowed: from the decoded value or the caller */
    size_t rel_len;
    const uint8_t *other;
    size_t other_len;
    double weight;
} gr_adj_entry;

typedef struct gr_adj {
    gr_adj_entry *e;
    size_t n, cap;
} gr_adj;

void orbit__gr_adj_release(gr_adj *a);
/* Decode a payload (entries borrow from it); key names the record in
 * errors. */
int orbit__gr_adj_decode(gr_adj *a, const uint8_t *p, size_t n, const uint8_t *key, size_t klen);
/* Encode into out (replaced). */
int orbit__gr_adj_encode(const gr_adj *a, orbit_buf *out);
/* Index of (rel, other) if present (*found = 1), else its insertion point. */
size_t orbit__gr_adj_find(const gr_adj *a, const uint8_t *rel, size_t rlen, const uint8_t *other,
                          size_t olen, int *found);
/* The range [*lo, *hi) of entries with relation rel. */
void orbit__gr_adj_rel_range(const gr_adj *a, const uint8_t *rel, size_t rlen, size_t *lo,
                             size_t *hi);
int orbit__gr_adj_insert(gr_adj *a, size_t at, const gr_adj_entry *e);
void orbit__gr_adj_remove(gr_adj *a, size_t at);
/* The encoded payload size of a. */
size_t orbit__gr_adj_size(const gr_adj *a);

/* Byte-wise comparison, shorter first. */
int orbit__gr_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* Append an escaped, printable form of id for error details into a
 * thread-local buffer slot (0..3); the pointer lives until the next call
 * with the same slot on this thread. */
const char *orbit__gr_show(int slot, const void *p, size_t n);

#endif
