/*
 * Private to the graph model (src/model/graph*.c): the handle, the keys,
 * the reader that reads through a transaction or at one snapshot, and the
 * paged adjacency lists (graph_adj.c).
 *
 * Adjacency of one node in one direction is a paged list of entries
 * (rel, other, weight), sorted strictly ascending by (rel, other) (byte-wise,
 * shorter first):
 *   head   (ks, "grp", g, "o"|"i", node)          always read first
 *   page   (ks, "grp", g, "o"|"i", node, I(no))   no >= 1
 * The head holds the first range of entries and the lower bound of every
 * other page; page i holds the entries from its bound up to the next
 * page's bound. A page over the graph's page size is split in two (a new
 * number from the head's counter), an emptied page is deleted and its bound
 * dropped; pages are not merged otherwise. The head exists exactly while
 * the list is not empty.
 *
 * Payloads (ORBIT_MODEL_GRAPH records, schema 1):
 *   head:  varint next_no, varint nbounds,
 *          nbounds x (varint no, varint rel_len, rel, varint other_len, other),
 *          entries
 *   page:  entries
 *   entries: varint n, n x (varint rel_len, rel, varint other_len, other,
 *            u64 big-endian IEEE-754 bits of the weight, finite and >= 0)
 * Anything else (out of order, bad lengths, a bound's page missing) is
 * ECORRUPT naming the key.
 */
#ifndef ORBIT_MODEL_GRAPH_INT_H
#define ORBIT_MODEL_GRAPH_INT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "orbit/codec.h"
#include "orbit/graph.h"
#include "orbit/kv.h"
#include "model/reader.h"

/* The default and smallest page size of adjacency lists (payload bytes). */
#define GR_PAGE_DEFAULT (16u << 10)
#define GR_PAGE_MIN 64u

struct orbit_graph {
    const orbit_actor *a;
    orbit_kv *kv;
    uint64_t ks, id;
    char *name;
    char *etable;       /* endpoint table name, or NULL */
    uint64_t etable_id; /* its catalog id (0: none) */
    size_t page_max;    /* adjacency page size */
};

/* ---- byte helpers ---------------------------------------------------- */

static inline int gr_put_varint(orbit_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t c = v & 0x7F;
        v >>= 7;
        tmp[n++] = (uint8_t)(c | (v ? 0x80 : 0));
    } while (v);
    return orbit_buf_append(b, tmp, n);
}

static inline int gr_get_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pos >= n)
            return -1;
        uint8_t c = p[(*pos)++];
        r |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

static inline size_t gr_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >>= 7)
        n++;
    return n;
}

static inline void gr_put_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static inline uint64_t gr_get_u64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static inline uint64_t gr_dbl_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static inline double gr_bits_dbl(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static inline int gr_weight_ok(double w) { return isfinite(w) && w >= 0; }


/* ---- keys ------------------------------------------------------------ */

int orbit__gr_key_meta(orbit_buf *out, const orbit_graph *g);
int orbit__gr_key_node(orbit_buf *out, const orbit_graph *g, const void *id, size_t n);
int orbit__gr_key_edge(orbit_buf *out, const orbit_graph *g, const void *from, size_t flen,
                       const char *rel, const void *to, size_t tlen);
/* The head of node's list in dir (ORBIT_GRAPH_OUT or ORBIT_GRAPH_IN). */
int orbit__gr_key_adj(orbit_buf *out, const orbit_graph *g, orbit_graph_dir dir, const void *id,
                      size_t n);
/* The endpoint table's row key of id (pk = orbit_tuple_bytes(id)). */
int orbit__gr_key_row(orbit_buf *out, const orbit_graph *g, const void *id, size_t n);

/* ---- reading --------------------------------------------------------- */

/* Reads through a contract transaction, or (txn NULL) from the store at
 * snap (NULL: the latest data): the models' shared reader. */
typedef orbit__reader gr_reader;

/* Set up a reader for tx (NULL: the store; with `snapshot`, one snapshot
 * if the store has them). */
int orbit__gr_reader_open(gr_reader *r, orbit_tx *tx, const orbit_graph *g, int snapshot);

/* Decode the graph record val under key: *payload borrows from val (graph
 * records are never compressed) and meta (may be NULL) is filled.
 * ECORRUPT naming the key for a record that fails verification or is not a
 * graph record. */
int orbit__gr_record(const orbit_buf *val, const uint8_t *key, size_t klen,
                     orbit_record_meta *meta, const uint8_t **payload, size_t *plen);
/* Encode payload as the actor's graph record for key into out (replaced). */
int orbit__gr_encode(const orbit_graph *g, const uint8_t *key, size_t klen, uint64_t created_ms,
                     const uint8_t *payload, size_t plen, orbit_buf *out);
int orbit__gr_corrupt(const uint8_t *key, size_t klen, const char *why);

/* ---- entries --------------------------------------------------------- */

typedef struct gr_adj_entry {
    const uint8_t *rel; /* borrowed: from a value read or the caller */
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
/* Index of (rel, other) if present (*found = 1), else its insertion point. */
size_t orbit__gr_adj_find(const gr_adj *a, const uint8_t *rel, size_t rlen, const uint8_t *other,
                          size_t olen, int *found);
/* The range [*lo, *hi) of entries with relation rel (NULL: all). */
void orbit__gr_adj_rel_range(const gr_adj *a, const char *rel, size_t *lo, size_t *hi);

/* Byte-wise comparison, shorter first. */
int orbit__gr_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* A printable form of id for error details, in a thread-local slot
 * (0..3); valid until the next call with that slot on this thread. */
const char *orbit__gr_show(int slot, const void *p, size_t n);

/* ---- paged adjacency lists (graph_adj.c) ------------------------------ */

typedef struct gr_page {
    uint64_t no;     /* 0: the head */
    orbit_buf key;
    orbit_buf val;   /* as read: entries and bounds borrow from it */
    gr_adj a;
    uint64_t created_ms;
    int loaded;      /* read and decoded (or new) */
    int queued;      /* in a batch, not read yet */
    int dirty;
} gr_page;

typedef struct gr_bound {
    uint64_t no;
    const uint8_t *rel, *other; /* borrowed like entries */
    size_t rel_len, other_len;
} gr_bound;

typedef struct gr_alist {
    const orbit_graph *g;
    orbit_graph_dir dir;
    uint8_t *node; /* owned copy */
    size_t nlen;
    gr_page head;
    uint64_t next_no;
    gr_bound *b; /* sorted by (rel, other) */
    size_t nb, capb;
    gr_page **pages; /* the extra pages loaded or created */
    size_t np, capp;
    int exists; /* the head was found */
    gr_adj merged; /* orbit__gr_alist_entries */
} gr_alist;

/* Set up the list of node in dir (nothing read). */
int orbit__gr_alist_init(gr_alist *l, const orbit_graph *g, orbit_graph_dir dir,
                         const void *node, size_t nlen);
void orbit__gr_alist_release(gr_alist *l);
/* Install the head as read (status st: 0 or ORBIT_NOTFOUND; val is taken
 * over, left empty). */
int orbit__gr_alist_head(gr_alist *l, orbit_buf *val, int st);

/* Pages to read, collected across lists and read in one multi-get. */
typedef struct gr_batch {
    gr_alist **lists;
    gr_page **pages;
    size_t n, cap;
} gr_batch;
void orbit__gr_batch_release(gr_batch *b);
/* Queue the page holding (rel, other) (nothing if it is the head or
 * already loaded or queued). */
int orbit__gr_alist_want(gr_alist *l, const uint8_t *rel, size_t rlen, const uint8_t *other,
                         size_t olen, gr_batch *b);
/* Queue every page that may hold entries of relation rel (NULL: all). */
int orbit__gr_alist_want_rel(gr_alist *l, const char *rel, gr_batch *b);
/* Read the queued pages in one multi-get and decode them; emptied after. */
int orbit__gr_batch_read(gr_batch *b, gr_reader *r);

/* Read n lists whole or, for rel, the pages that may hold rel: one
 * multi-get of the heads and at most one of their extra pages. */
int orbit__gr_lists_read(gr_reader *r, gr_alist *ls, size_t n, const char *rel);

/* Every loaded entry of l in order (the head's, then each loaded page's),
 * borrowed until the list changes or is released. */
const gr_adj *orbit__gr_alist_entries(gr_alist *l, int *rc);

/* Edits; the page concerned must be loaded (orbit__gr_alist_want). Insert
 * sets *existed when (rel, other) was there (its weight is then replaced). */
int orbit__gr_alist_insert(gr_alist *l, const gr_adj_entry *e, int *existed);
int orbit__gr_alist_remove(gr_alist *l, const uint8_t *rel, size_t rlen, const uint8_t *other,
                           size_t olen, int *found);
/* Split oversized pages and drop emptied ones, in memory; ETOOBIG if the
 * head would exceed ORBIT_GRAPH_ADJ_MAX. Call before any write. */
int orbit__gr_alist_finish(gr_alist *l);
/* Write the changed pages and head (deleting emptied ones). */
int orbit__gr_alist_write(gr_alist *l, orbit_txn *t);
/* Delete the head and every page (the node's own lists on delete). */
int orbit__gr_alist_delete(gr_alist *l, orbit_txn *t);

#endif
