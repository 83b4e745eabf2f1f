/*
 * The graph model: named graphs of an actor, with labelled nodes, weighted
 * relation edges, adjacency lists kept in the same transaction as every edge
 * change, and traversals (neighbours, k-hop, shortest paths) that read one
 * batch of keys per hop.
 *
 * Objects. A graph belongs to an actor (orbit/model.h) and is named per
 * actor (catalog kind ORBIT_CATALOG_GRAPH). Its nodes have an id (any bytes,
 * 1..ORBIT_GRAPH_ID_MAX), a set of labels (non-empty C strings, kept sorted
 * and distinct) and JSON properties (a JSON object). Its edges are
 * (from, relation, to) triples, unique per triple: adding the same triple
 * again is ORBIT_EEXIST unless ORBIT_GRAPH_REPLACE is given, and
 * GRAPH.DELEDGE g from rel to names exactly one edge. An edge has a weight
 * (a finite double >= 0, default 1; negative, NaN or infinite weights are
 * ORBIT_EINVAL at the write, so weighted paths never meet one) and JSON
 * properties (an object). Self-loops are allowed.
 *
 * Endpoints and integrity (checked at commit). Every edge written in a
 * transaction must, when it commits, have both endpoints existing: as nodes
 * of the graph, or, if the graph was created with an endpoint table T
 * (orbit_graph_opts.endpoint_table), as rows of table T of the same actor
 * whose single text primary key is the node id (the row key is
 * orbit_key_row(ks, T, orbit_tuple_bytes(id))). Adding an edge whose
 * endpoint does not exist yet is allowed (the transaction may add the node
 * later); the commit check (orbit_tx_add_check, one per distinct endpoint)
 * reads each endpoint inside the transaction with get-for-update, so a
 * concurrent delete of that node or row conflicts, and if it is missing
 * while an edge of this graph still touches it the commit fails with
 * ORBIT_ECONSTRAINT naming it:
 *   "graph social: edge a-knows->b: node 'b' does not exist"
 *   "graph social: edge a-knows->b: row 'b' of table people does not exist"
 * and nothing of the transaction is applied. Deleting a node deletes its
 * edges (so a node deleted after an edge to it was added in the same
 * transaction takes that edge with it; an edge added again afterwards fails
 * the commit). With an endpoint table, node records are optional (they only
 * carry labels and properties) and deleting a row of T does not delete its
 * edges: only edges written in a transaction are checked.
 *
 * Transactions. Every write takes an orbit_tx * first (orbit/txn.h): NULL
 * runs it in a transaction of its own, committed at once (conflicts
 * retried). Reads take one too: with a tx they read through its contract
 * transaction (seeing its writes); with NULL they read the latest data, and
 * a multi-hop read (traverse with depth > 1, path) reads every hop at one
 * snapshot where the store has snapshots. A write that fails with
 * ORBIT_EINVAL, ORBIT_EEXIST or ORBIT_NOTFOUND has written nothing and the
 * caller's tx goes on; any other failure (ORBIT_ETOOBIG included, though
 * nothing was written either) leaves the tx failed, as orbit/txn.h says.
 * Each write marks (actor, ORBIT_MODEL_GRAPH) changed for the listeners.
 *
 * Key layout (all in the graph's range (ks, "grp", graph), see
 * docs/ARCHITECTURE.md):
 *   (ks, "grp", g, "meta")                 the definition (page size,
 *                                          endpoint table)
 *   (ks, "grp", g, "n", node)              labels + properties
 *   (ks, "grp", g, "e", from, rel, to)     weight + properties
 *   (ks, "grp", g, "o"|"i", node)          the head of node's out / in list
 *   (ks, "grp", g, "o"|"i", node, I(p))    extra page p of that list
 * A node's adjacency in one direction is a list of (rel, other, weight)
 * sorted by (rel, other), kept in a head record and, past the graph's page
 * size (orbit_graph_opts.adj_page_bytes, default 16 KiB, about 600 entries
 * of short ids), in extra pages whose bounds the head lists. Not one key per
 * edge: a node's neighbours are then one read, and a hop of a traversal one
 * multi-get of the frontier's heads plus at most one of their extra pages,
 * however many nodes and edges it covers. An edge change rewrites one page
 * of each endpoint (and the head when a page splits or empties); two
 * transactions changing the same page conflict. A head holds at most
 * ORBIT_GRAPH_ADJ_MAX bytes of bounds, so one list has at most about 10000
 * pages (millions of edges); past that the edge write is ORBIT_ETOOBIG.
 *
 * Costs (orbit_kv_stats, counted by the contract layer; a multi-get is one
 * read call however many keys it names; "+1" only for lists with pages):
 *   get_node / get_edge                 1 read call, 1 key
 *   neighbors OUT, IN or BOTH           1 read call of the head(s), +1 of
 *                                       the pages (with rel: only pages that
 *                                       may hold rel); nothing else is read
 *   traverse, depth k                   at most 2 read calls per hop: the
 *                                       frontier's heads, then their pages
 *   path, unweighted (BFS)              the same per level reached
 *   path, weighted (Dijkstra)           the same each time the next node to
 *                                       settle is unread: it reads every
 *                                       queued unread node at once (<= 512)
 *   add_edge / del_edge                 1 multi-get (edge + 2 heads), +1 (the
 *                                       2 pages); 3 writes (+ a head on a
 *                                       split); + the commit checks
 *   del_node                            2 read calls for its own lists, 2
 *                                       for the other ends'; writes 2 keys
 *                                       per edge (on etcd, whose transaction
 *                                       takes 126 keys, a node of more than
 *                                       about 60 edges cannot be deleted in
 *                                       one: ORBIT_ETOOBIG)
 *   commit check per distinct endpoint  1 get-for-update; + 1 multi-get of
 *                                       its heads if the endpoint is missing
 * A traversal without a tx on a store with snapshots opens one snapshot
 * (on etcd one round trip, not a counted read call). On etcd a multi-get of
 * more than max_txn_ops keys is several round trips but one read call.
 *
 * Threads: an orbit_graph handle is immutable after open and may be used
 * by many threads at once; it borrows its actor, which must outlive it. A
 * tx belongs to one thread at a time (orbit/txn.h).
 *
 * Return codes (orbit/error.h): 0; ORBIT_NOTFOUND (a normal outcome: no such
 * graph, node, edge or path); ORBIT_EINVAL (bad argument, invalid JSON or
 * not an object, bad weight, unknown endpoint table); ORBIT_EEXIST;
 * ORBIT_ETOOBIG (an adjacency head over ORBIT_GRAPH_ADJ_MAX, or a
 * transaction over the store's limits); ORBIT_ECONSTRAINT (commit);
 * ORBIT_ECORRUPT naming the key for a stored record that fails
 * verification or decoding (nothing changed); or the store's error.
 */
#ifndef ORBIT_GRAPH_H
#define ORBIT_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"
#include "orbit/error.h"
#include "orbit/model.h"
#include "orbit/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits (bytes). */
#define ORBIT_GRAPH_ID_MAX 1024            /* a node id */
#define ORBIT_GRAPH_REL_MAX 255            /* a relation */
#define ORBIT_GRAPH_LABEL_MAX 255          /* one label */
#define ORBIT_GRAPH_LABELS_MAX 64          /* labels per node */
#define ORBIT_GRAPH_PROPS_MAX (1u << 20)   /* properties, as compact JSON */
#define ORBIT_GRAPH_ADJ_MAX (256u << 10)   /* one adjacency head or page */
#define ORBIT_GRAPH_NAME_MAX 255           /* a graph's name */

typedef struct orbit_graph orbit_graph;

/* Traversal direction; zero (OUT) is the default of every options struct. */
typedef enum orbit_graph_dir {
    ORBIT_GRAPH_OUT = 0,  /* follow edges from -> to */
    ORBIT_GRAPH_IN = 1,   /* follow edges to -> from */
    ORBIT_GRAPH_BOTH = 2, /* either way (the graph as undirected) */
} orbit_graph_dir;

/* ---- graphs ---------------------------------------------------------- */

/* Zero-initialise; fields only grow at the end. */
typedef struct orbit_graph_opts {
    /* NULL: edge endpoints must be nodes of the graph. Else the name of a
     * table of the same actor (it must exist in the catalog at create)
     * whose rows are the endpoints (see the top of this file). */
    const char *endpoint_table;
    /* The size (payload bytes) past which a node's adjacency page is split
     * (see the layout above); 0: 16 KiB. 64 .. ORBIT_GRAPH_ADJ_MAX. */
    size_t adj_page_bytes;
} orbit_graph_opts;

/*
 * Create graph `name` (a non-empty C string of at most
 * ORBIT_GRAPH_NAME_MAX bytes) of actor a, writing its definition in tx
 * (NULL: its own transaction). The catalog id is allocated outside the
 * transaction (ids are never reused, so a rolled-back create only leaves an
 * unused id). On success *out (if non-NULL) is a handle the caller closes
 * with orbit_graph_close; if tx is later rolled back the handle names a
 * graph that does not exist. ORBIT_EEXIST if the graph exists, ORBIT_EINVAL
 * for a bad name or an endpoint table that does not exist. opts may be
 * NULL.
 */
ORBIT_API int orbit_graph_create(orbit_tx *tx, const orbit_actor *a, const char *name,
                                 const orbit_graph_opts *opts, orbit_graph **out);

/* Open an existing graph (1 catalog read + 1 get of its definition, in tx
 * if given). ORBIT_NOTFOUND if there is none. */
ORBIT_API int orbit_graph_open(orbit_tx *tx, const orbit_actor *a, const char *name,
                               orbit_graph **out);

/* NULL is accepted. Nothing is written. */
ORBIT_API void orbit_graph_close(orbit_graph *g);

/* Delete every key of the graph (its definition, nodes, edges, adjacency)
 * in tx (NULL: its own transaction), with one range delete of the graph's
 * key range inside the transaction; the catalog keeps the name's id, so a
 * graph created again under that name reuses it and starts empty. Large
 * graphs may exceed the store's transaction limits (ORBIT_ETOOBIG). The
 * handle stays valid (its graph no longer exists). */
ORBIT_API int orbit_graph_drop(orbit_tx *tx, orbit_graph *g);

/* Borrowed from the handle. */
ORBIT_API const char *orbit_graph_name(const orbit_graph *g);
ORBIT_API uint64_t orbit_graph_id(const orbit_graph *g);
/* The endpoint table's name, or NULL. */
ORBIT_API const char *orbit_graph_endpoint_table(const orbit_graph *g);
ORBIT_API const orbit_actor *orbit_graph_actor(const orbit_graph *g);

/* ---- nodes ----------------------------------------------------------- */

/* Flags of add_node and add_edge. */
#define ORBIT_GRAPH_REPLACE 1u /* an existing node / edge is replaced */

/*
 * Add node id[0..idlen) with labels[0..nlabels) (C strings, non-empty, at
 * most ORBIT_GRAPH_LABEL_MAX bytes each; duplicates are merged; labels may
 * be NULL when nlabels is 0) and props_json (a JSON object as text; NULL
 * means {}). An existing node is ORBIT_EEXIST, unless flags has
 * ORBIT_GRAPH_REPLACE: then its labels and properties are replaced (its
 * edges are kept). Strings are borrowed for the call.
 */
ORBIT_API int orbit_graph_add_node(orbit_tx *tx, orbit_graph *g, const void *id, size_t idlen,
                                   const char *const *labels, size_t nlabels,
                                   const char *props_json, unsigned flags);

/* A node as read. Owned by the caller after a successful get: release
 * with orbit_graph_node_release (which also accepts a zeroed struct). */
typedef struct orbit_graph_node {
    char **labels;    /* nlabels C strings, sorted byte-wise */
    size_t nlabels;
    char *props_json; /* compact JSON object text */
    uint64_t created_ms, updated_ms;
} orbit_graph_node;

/* Read a node (1 read call). 0 (*out filled; its previous contents are not
 * freed), ORBIT_NOTFOUND (*out zeroed) or an error. */
ORBIT_API int orbit_graph_get_node(orbit_tx *tx, const orbit_graph *g, const void *id,
                                   size_t idlen, orbit_graph_node *out);
ORBIT_API void orbit_graph_node_release(orbit_graph_node *n);

/*
 * Delete node id and every edge touching it (out and in, self-loops once),
 * with the other ends' adjacency entries, in one transaction. The number of
 * edges removed goes to *edges_removed (may be NULL). ORBIT_NOTFOUND if
 * there is no node record and no edge touching id.
 */
ORBIT_API int orbit_graph_del_node(orbit_tx *tx, orbit_graph *g, const void *id, size_t idlen,
                                   size_t *edges_removed);

/* ---- edges ----------------------------------------------------------- */

/* Zero-initialise; fields only grow at the end. NULL means all defaults. */
typedef struct orbit_graph_edge_opts {
    int set_weight;          /* 0: weight 1 */
    double weight;           /* finite, >= 0 */
    const char *props_json;  /* a JSON object; NULL: {} */
    unsigned flags;          /* ORBIT_GRAPH_REPLACE */
} orbit_graph_edge_opts;

/*
 * Add edge (from, rel, to): rel a non-empty C string of at most
 * ORBIT_GRAPH_REL_MAX bytes, ids as for nodes. The edge record and the
 * entries in both endpoints' lists are written in the transaction (ids,
 * relations, labels and properties over their limits are ORBIT_EINVAL), and
 * a commit check is
 * registered for each endpoint (see the top). ORBIT_EEXIST if the triple
 * exists (unless ORBIT_GRAPH_REPLACE: its weight and properties are
 * replaced), ORBIT_EINVAL for a bad argument or weight, ORBIT_ETOOBIG if a
 * list's head would exceed ORBIT_GRAPH_ADJ_MAX.
 */
ORBIT_API int orbit_graph_add_edge(orbit_tx *tx, orbit_graph *g, const void *from, size_t flen,
                                   const char *rel, const void *to, size_t tlen,
                                   const orbit_graph_edge_opts *opts);

/* An edge as read; release with orbit_graph_edge_release. */
typedef struct orbit_graph_edge {
    double weight;
    char *props_json; /* compact JSON object text */
    uint64_t created_ms, updated_ms;
} orbit_graph_edge;

/* Read one edge (1 read call). 0, ORBIT_NOTFOUND (*out zeroed) or an error. */
ORBIT_API int orbit_graph_get_edge(orbit_tx *tx, const orbit_graph *g, const void *from,
                                   size_t flen, const char *rel, const void *to, size_t tlen,
                                   orbit_graph_edge *out);
ORBIT_API void orbit_graph_edge_release(orbit_graph_edge *e);

/* Delete edge (from, rel, to) and its two adjacency entries.
 * ORBIT_NOTFOUND if it does not exist. */
ORBIT_API int orbit_graph_del_edge(orbit_tx *tx, orbit_graph *g, const void *from, size_t flen,
                                   const char *rel, const void *to, size_t tlen);

/* ---- reads: results -------------------------------------------------- */

/* One entry of a result list. Every pointer borrows from the list. */
typedef struct orbit_graph_item {
    const uint8_t *id;   /* a node id (not NUL-terminated) */
    size_t id_len;
    const char *rel;     /* the edge's relation (neighbors, path); NULL in
                          * traverse results and for a path's first node */
    double weight;       /* that edge's weight (0 where rel is NULL) */
    orbit_graph_dir dir; /* neighbors: OUT (an out-edge of the node) or IN;
                          * path: the way the edge was followed */
    unsigned depth;      /* hops from the start (path: index in the path) */
} orbit_graph_item;

/* A result list. Zero-initialise (or orbit_graph_list_init) before first
 * use; each read replaces its contents; free with
 * orbit_graph_list_release. The caller owns it. */
typedef struct orbit_graph_list {
    orbit_graph_item *items;
    size_t n;
    double cost;         /* path: hops (unweighted) or weight sum */
    /* private */
    size_t cap;
    orbit_buf arena;
} orbit_graph_list;

ORBIT_API void orbit_graph_list_init(orbit_graph_list *l);
ORBIT_API void orbit_graph_list_release(orbit_graph_list *l);

/* ---- reads ----------------------------------------------------------- */

/*
 * The edges of node id in direction dir (OUT, IN or BOTH: out-edges first),
 * restricted to relation rel (NULL: all), one item per edge (other end, rel,
 * weight, dir), each direction sorted by (rel, other). Reads only that
 * node's lists: one read call of its head(s), and one more of its extra
 * pages if it has any. A node with no edges (or no node at all) gives 0
 * and an empty list.
 */
ORBIT_API int orbit_graph_neighbors(orbit_tx *tx, const orbit_graph *g, const void *id,
                                    size_t idlen, orbit_graph_dir dir, const char *rel,
                                    orbit_graph_list *out);

/* Zero-initialise; fields only grow at the end. NULL: all defaults. */
typedef struct orbit_graph_hop_opts {
    orbit_graph_dir dir;
    const char *rel;  /* NULL: every relation */
    unsigned depth;   /* hops (k); 0 means 1 */
    size_t limit;     /* at most this many results (0: no limit); the
                       * traversal stops reading once it has them */
} orbit_graph_hop_opts;

/*
 * Every distinct node within `depth` hops of id, the start excluded (also
 * when a cycle returns to it), each with the depth it was first reached at,
 * ordered by depth and then by id bytes (GRAPH.NEIGHBORS g id DEPTH k).
 * Per hop one multi-get of the frontier's heads (two per node for BOTH) and
 * at most one of their extra pages; an empty frontier ends it early.
 */
ORBIT_API int orbit_graph_traverse(orbit_tx *tx, const orbit_graph *g, const void *id,
                                   size_t idlen, const orbit_graph_hop_opts *opts,
                                   orbit_graph_list *out);

/* Zero-initialise; fields only grow at the end. NULL: all defaults. */
typedef struct orbit_graph_path_opts {
    orbit_graph_dir dir;
    const char *rel;    /* NULL: every relation */
    int weighted;       /* 0: fewest hops (BFS); 1: least weight (Dijkstra) */
    unsigned max_depth; /* unweighted: give up after this many hops (0: no
                         * limit); ignored when weighted */
} orbit_graph_path_opts;

/*
 * A shortest path from `from` to `to`: out->items are its nodes, from
 * first and to last, each after the first with the relation, weight and
 * direction of the edge that reached it; out->cost is the number of hops
 * or the sum of weights. Ties are broken deterministically (by the order
 * adjacency lists are read: (rel, other) ascending). ORBIT_NOTFOUND (empty
 * list) if `to` is unreachable. from == to is the path of one node, cost 0,
 * read nothing.
 */
ORBIT_API int orbit_graph_path(orbit_tx *tx, const orbit_graph *g, const void *from,
                               size_t flen, const void *to, size_t tlen,
                               const orbit_graph_path_opts *opts, orbit_graph_list *out);

#ifdef __cplusplus
}
#endif

#endif
