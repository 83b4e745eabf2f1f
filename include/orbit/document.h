/*
 * Documents: collections of JSON documents per actor, with JSON paths,
 * RFC 7396 merge-patch, secondary indexes on a path and declared
 * references to table rows.
 *
 * A collection belongs to an actor (orbit/model.h) and is named per actor
 * (catalog kind ORBIT_CATALOG_COLLECTION). A document is any JSON value
 * (usually an object) stored under an id (bytes, 1..ORBIT_DOC_ID_MAX) as
 * an ORBIT_MODEL_DOC record whose payload is the compact JSON text
 * (jansson, JSON_COMPACT | JSON_ENCODE_ANY, object keys kept in insertion
 * order as RedisJSON does, duplicate keys refused). Invalid JSON is
 * ORBIT_EINVAL with jansson's line, column and reason in the detail.
 *
 * JSON text in and out: every value passed in is JSON text (json, len:
 * not NUL-terminated necessarily); every value handed out is compact JSON
 * text written into a caller-owned orbit_buf (contents replaced, followed
 * by a NUL that len does not count). The API does not expose jansson.
 *
 * JSON paths (the subset RedisJSON users write):
 *   $                 the root
 *   $.a.b  $['a']  $["a b"]   object member (quoted names take \" \\ \'
 *                     and \uXXXX escapes)
 *   $.a[0]  $.a[-1]   array element; a negative index counts from the end
 *   $.a[*]  $.*       every element / member           (wildcard)
 *   $..x    $..*      x at any depth below / every descendant (wildcard)
 *   legacy RedisJSON form without '$': "." is the root, ".a.b", "a.b[0]"
 *     mean "$.a.b", "$.a.b[0]"
 * Member names after '.' are letters, digits, '_', '-', '$' and any byte
 * >= 0x80. A path that does not parse is ORBIT_EINVAL naming the position.
 * Path reads hand out a JSON array of every match (as RedisJSON's `$`
 * paths do; an empty array when nothing matches): a server answering a
 * legacy path takes the first element. Matches come in member and element
 * order, a node's own matches before those found below it (so "$..c" on
 * {"a":{"c":1},"c":2} gives [2,1]).
 *
 * Transactions: every write takes an orbit_tx * (orbit/txn.h; NULL: a
 * transaction of its own, retried on conflict); reads take one too (NULL:
 * the latest data; with a tx, through it, seeing its writes). A write
 * marks the actor changed for ORBIT_MODEL_DOC (orbit_tx_touch). Errors
 * follow orbit/txn.h: ORBIT_EINVAL, ORBIT_NOTFOUND, ORBIT_EEXIST and
 * ORBIT_ECONSTRAINT are returned before anything is written and leave a
 * caller's transaction usable; any other failure leaves it failed.
 *
 * Collection definition: the collection's meta record, key
 * (ks, "doc", coll, 0) (an int element, so it never collides with a
 * document id, which is a bytes element), holds its indexes and
 * references. A handle caches it; every transaction that writes through a
 * handle registers one commit check that reads the meta record (the latest
 * committed one, then inside the transaction with get_for_update, so a
 * change committed after the check makes the commit conflict) and compares
 * it with the cached one: if another handle changed it meanwhile (an index
 * or reference added or dropped, the collection recreated), the commit
 * fails with ORBIT_ECONFLICT (retryable; the handle's cache is refreshed
 * first, so orbit_tx_run's next attempt maintains the new definition), or
 * ORBIT_ECONSTRAINT if the collection no longer exists. So an index is
 * never missing an entry of a write committed after it was declared.
 *
 * Indexes: an index covers one definite path (no wildcards). A document
 * whose value at that path is a string, number or boolean has one entry
 * (ks, "doc", coll, 1, index_no, value, id), value encoded with
 * orbit_tuple_bytes (string), orbit_tuple_double (every number: integers
 * beyond 2^53 lose precision in the index) or orbit_tuple_bool, so the
 * entries order strings < numbers < booleans. Documents missing the path
 * or holding null, an object or an array there are not indexed. Entries
 * are maintained in the same transaction as the document.
 *
 * References: a reference declares that the value at a definite path, when
 * present and not null, is the primary key of an existing row of table T
 * of the same actor (a one-column key: an integer -> orbit_tuple_int, a
 * string -> orbit_tuple_str, a real -> orbit_tuple_double, a boolean ->
 * orbit_tuple_bool; the row key is orbit_key_row(ks, T, pk)). Every write
 * adds a commit check (orbit_tx_add_check) that reads the row inside the
 * transaction; a missing row fails the commit with ORBIT_ECONSTRAINT, e.g.
 * "reference orders.customer ($.customer) -> customers: row 'c9' does not
 * exist". An object or array value there is ORBIT_EINVAL at the write.
 *
 * Costs (orbit_kv_stats; docs/ARCHITECTURE.md):
 *   orbit_doc_get / _get_path / _type / _obj_keys: one key, one read call;
 *   orbit_doc_mget: n keys in one multi-get;
 *   index lookup and range: the meta record (one key), the index entries
 *     (one keys-only scan) and the matching documents (one multi-get);
 *   a write: the old document (one key; not read by orbit_doc_put on a
 *     collection without indexes), then its index entries and the
 *     document; at commit two meta reads per handle and one row read per
 *     referenced key.
 *
 * Threads: handles are thread-safe (the cached definition is guarded by a
 * mutex) and borrow their actor, which must outlive them; a handle must
 * also outlive every transaction that wrote through it.
 */
#ifndef ORBIT_DOCUMENT_H
#define ORBIT_DOCUMENT_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"
#include "orbit/error.h"
#include "orbit/model.h"
#include "orbit/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The longest document id, in bytes. */
#define ORBIT_DOC_ID_MAX 1024
/* The deepest nesting a document may have (deeper is ORBIT_EINVAL). */
#define ORBIT_DOC_DEPTH_MAX 128
/* The most indexes plus references one collection may declare. */
#define ORBIT_DOC_DEFS_MAX 64

typedef struct orbit_doc_coll orbit_doc_coll;

/* ---- collections ----------------------------------------------------- */

/*
 * Open collection `name` (a non-empty C string) of actor a (borrowed; it
 * must outlive the handle). With create set, a missing collection is
 * created (catalog id, then its meta record, in a transaction of its own,
 * never a caller's); without, a missing one is ORBIT_NOTFOUND. *out owns
 * the handle: close it with orbit_doc_coll_close. Reads the meta record
 * (one key). 0, ORBIT_NOTFOUND, ORBIT_EINVAL, ORBIT_ENOMEM, ORBIT_ECORRUPT
 * or the store's error.
 */
ORBIT_API int orbit_doc_coll_open(const orbit_actor *a, const char *name, int create,
                                  orbit_doc_coll **out);

/* NULL is accepted. */
ORBIT_API void orbit_doc_coll_close(orbit_doc_coll *c);

/* The collection's catalog id and name (borrowed from the handle). */
ORBIT_API uint64_t orbit_doc_coll_id(const orbit_doc_coll *c);
ORBIT_API const char *orbit_doc_coll_name(const orbit_doc_coll *c);

/*
 * Drop collection `name` of actor a in tx: every key of the collection
 * (documents, index entries, meta) goes, as one range delete inside the
 * transaction. The catalog keeps the name's id, so a collection created
 * again under the name reuses it, with a fresh definition (handles of the
 * old one then fail their commit checks). 0 or ORBIT_NOTFOUND.
 */
ORBIT_API int orbit_doc_coll_drop(orbit_tx *tx, const orbit_actor *a, const char *name);

/* Re-read the meta record into the handle's cache (one key). */
ORBIT_API int orbit_doc_coll_refresh(orbit_doc_coll *c);

/* ---- whole documents ------------------------------------------------- */

/* Store the document `json` under id (replacing any). Index entries move,
 * references are checked at commit. 0 or ORBIT_EINVAL (bad JSON, id too
 * long, an object or array at a reference path). */
ORBIT_API int orbit_doc_put(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                            const char *json, size_t len);

/* The same, only if no document has that id: ORBIT_EEXIST otherwise. */
ORBIT_API int orbit_doc_insert(orbit_tx *tx, orbit_doc_coll *c, const void *id,
                               size_t idlen, const char *json, size_t len);

/* The document's compact JSON text into out. 0 or ORBIT_NOTFOUND (out
 * emptied). */
ORBIT_API int orbit_doc_get(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                            orbit_buf *out);

/* Delete the document and its index entries. 0 or ORBIT_NOTFOUND. */
ORBIT_API int orbit_doc_delete(orbit_tx *tx, orbit_doc_coll *c, const void *id,
                               size_t idlen);

/*
 * Read n documents in one multi-get (JSON.MGET). path NULL: outs[i]
 * receives the whole document; else the JSON array of path's matches.
 * status[i] is 0 or ORBIT_NOTFOUND (outs[i] emptied). ids, idlens, outs
 * and status are caller-owned arrays of n. Returns 0, or the first
 * negative error (a corrupt record, a bad path).
 */
ORBIT_API int orbit_doc_mget(orbit_tx *tx, orbit_doc_coll *c, size_t n,
                             const void *const *ids, const size_t *idlens, const char *path,
                             orbit_buf *outs, int *status);

/*
 * Every document in id order, from the first id >= start (NULL: the
 * first), at most limit (0: all): fn(arg, id, idlen, json, len) with
 * borrowed pointers valid for the call; a non-zero return stops the scan
 * and is returned. With tx NULL the scan reads at one snapshot where the
 * store has them. fn must not use the store.
 */
typedef int (*orbit_doc_fn)(void *arg, const uint8_t *id, size_t idlen, const char *json,
                            size_t len);
ORBIT_API int orbit_doc_scan(orbit_tx *tx, orbit_doc_coll *c, const void *start,
                             size_t start_len, size_t limit, orbit_doc_fn fn, void *arg);

/* ---- merge-patch and paths ------------------------------------------- */

/*
 * RFC 7396 merge-patch (JSON.MERGE): apply `patch` to every match of path
 * ($ or NULL: the whole document). An absent document is patched from
 * null (so an object patch creates it; a path other than $ is then
 * ORBIT_NOTFOUND). A patch that leaves the root null deletes the document.
 * *matched (may be NULL) receives the number of values patched.
 */
ORBIT_API int orbit_doc_merge(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                              const char *path, const char *patch, size_t len,
                              size_t *matched);

/* The JSON array of path's matches (JSON.GET id $path). 0 or
 * ORBIT_NOTFOUND (no such document). */
ORBIT_API int orbit_doc_get_path(orbit_tx *tx, orbit_doc_coll *c, const void *id,
                                 size_t idlen, const char *path, orbit_buf *out);

/* Conditions of orbit_doc_set (JSON.SET's NX and XX). */
typedef enum orbit_doc_cond {
    ORBIT_DOC_ALWAYS = 0,
    ORBIT_DOC_NX = 1, /* only where nothing exists at the path */
    ORBIT_DOC_XX = 2, /* only where something exists at the path */
} orbit_doc_cond;

/*
 * JSON.SET. path "$" (or "."): the whole document, created if absent.
 * Any other path needs the document (else ORBIT_NOTFOUND): every match is
 * replaced by `json`; when the path is definite, matches nothing and ends
 * in an object member whose parent exists and is an object, that member is
 * created (RedisJSON's rule). A definite path whose parent is missing, or
 * that indexes past an array's end, is ORBIT_EINVAL. *applied (may be
 * NULL) receives the number of values set; 0 means the condition (NX/XX)
 * or a wildcard path matching nothing left the document as it was (and
 * nothing was written).
 */
ORBIT_API int orbit_doc_set(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                            const char *path, const char *json, size_t len,
                            orbit_doc_cond cond, size_t *applied);

/*
 * JSON.DEL: remove every match of path; "$" removes the document. The
 * number removed into *deleted (may be NULL). 0 (also when nothing
 * matched, or no document exists: *deleted 0).
 */
ORBIT_API int orbit_doc_del_path(orbit_tx *tx, orbit_doc_coll *c, const void *id,
                                 size_t idlen, const char *path, size_t *deleted);

/* JSON.TYPE: the JSON array of each match's type name: "object", "array",
 * "string", "integer", "number", "boolean" or "null". 0 or
 * ORBIT_NOTFOUND. */
ORBIT_API int orbit_doc_type(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                             const char *path, orbit_buf *out);

/*
 * JSON.NUMINCRBY: add the number `by` (JSON text) to every numeric match;
 * out receives the JSON array of new values, null for a match that is not
 * a number. integer + integer stays an integer (overflow is ORBIT_EINVAL),
 * anything with a real is a real (a non-finite result is ORBIT_EINVAL).
 * 0 or ORBIT_NOTFOUND. Nothing is written when no match is a number.
 */
ORBIT_API int orbit_doc_num_incr(orbit_tx *tx, orbit_doc_coll *c, const void *id,
                                 size_t idlen, const char *path, const char *by, size_t len,
                                 orbit_buf *out);

/*
 * JSON.ARRAPPEND: append the n JSON values vals[i] (lens[i] bytes each) to
 * every array match; out receives the JSON array of new lengths, null for
 * a match that is not an array. 0 or ORBIT_NOTFOUND.
 */
ORBIT_API int orbit_doc_arr_append(orbit_tx *tx, orbit_doc_coll *c, const void *id,
                                   size_t idlen, const char *path, size_t n,
                                   const char *const *vals, const size_t *lens,
                                   orbit_buf *out);

/* JSON.OBJKEYS: the JSON array, per match, of its member names (an array)
 * or null when the match is not an object. 0 or ORBIT_NOTFOUND. */
ORBIT_API int orbit_doc_obj_keys(orbit_tx *tx, orbit_doc_coll *c, const void *id,
                                 size_t idlen, const char *path, orbit_buf *out);

/* ---- indexes --------------------------------------------------------- */

/*
 * Declare index `name` on the definite `path` and fill it from the
 * documents already stored. The rule: the index is declared first, in a
 * transaction of its own (state "building"; from its commit on, every
 * write maintains it, see "Collection definition"), then the existing
 * documents are indexed in batches of transactions (a batch that conflicts
 * with a concurrent write to one of its documents is retried), then it is
 * marked ready. Lookups on an index still building are ORBIT_EINVAL. Run
 * again after an interruption, it resumes (entries are idempotent).
 * ORBIT_EEXIST if a ready index or a reference already has that name
 * (with another path, for a building one), ORBIT_EINVAL for a path with
 * wildcards, ORBIT_ETOOBIG past ORBIT_DOC_DEFS_MAX. Not part of a caller's
 * transaction.
 */
ORBIT_API int orbit_doc_index_create(orbit_doc_coll *c, const char *name, const char *path);

/* Drop index `name` (its entries, as a range delete, and its declaration)
 * in one transaction of its own. 0 or ORBIT_NOTFOUND. */
ORBIT_API int orbit_doc_index_drop(orbit_doc_coll *c, const char *name);

/*
 * Documents whose indexed value lies in a range, in (value, id) order,
 * each given to fn as in orbit_doc_scan. Bounds are JSON scalars (string,
 * number, boolean); NULL means open on that side; *_excl excludes the
 * bound itself. Both bounds of one type; with one bound, the range stays
 * within that bound's type (a number range never returns strings).
 * limit 0: all. The entries are read with one keys-only scan and the
 * documents with one multi-get per ORBIT_DOC_LOOKUP_PAGE entries. 0,
 * ORBIT_NOTFOUND (no such index), ORBIT_EINVAL (bad bound, index
 * building) or fn's non-zero return.
 */
#define ORBIT_DOC_LOOKUP_PAGE 512
typedef struct orbit_doc_range {
    const char *lo;
    size_t lo_len;
    int lo_excl;
    const char *hi;
    size_t hi_len;
    int hi_excl;
} orbit_doc_range;
ORBIT_API int orbit_doc_index_range(orbit_tx *tx, orbit_doc_coll *c, const char *index,
                                    const orbit_doc_range *range, size_t limit,
                                    orbit_doc_fn fn, void *arg);

/* Documents whose indexed value equals `value` (a JSON scalar): the range
 * [value, value]. */
ORBIT_API int orbit_doc_index_find(orbit_tx *tx, orbit_doc_coll *c, const char *index,
                                   const char *value, size_t len, size_t limit,
                                   orbit_doc_fn fn, void *arg);

/* ---- references ------------------------------------------------------ */

/*
 * Declare reference `name`: the value at the definite `path` of every
 * document written from now on must be the key of an existing row of
 * table `table` (which must exist in the catalog: else ORBIT_NOTFOUND) of
 * the same actor, checked at each writing transaction's commit. Documents
 * already stored are not checked. ORBIT_EEXIST if the name is taken (by an
 * index too). In a transaction of its own.
 */
ORBIT_API int orbit_doc_ref_add(orbit_doc_coll *c, const char *name, const char *path,
                                const char *table);

/* Remove reference `name`. 0 or ORBIT_NOTFOUND. */
ORBIT_API int orbit_doc_ref_drop(orbit_doc_coll *c, const char *name);

/*
 * The collection's definition as JSON text into out:
 * {"indexes":[{"name":..,"path":..,"state":"ready"|"building"}],
 *  "refs":[{"name":..,"path":..,"table":..}]} (from the handle's cache).
 */
ORBIT_API int orbit_doc_coll_describe(orbit_doc_coll *c, orbit_buf *out);

#ifdef __cplusplus
}
#endif

#endif
