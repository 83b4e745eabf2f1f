/*
 * The catalog: compact ids for actors' keyspaces and for the named objects
 * (tables, indexes, collections, graphs, series) inside a keyspace.
 *
 * Every key of model data starts with its owner's keyspace id (orbit/codec.h),
 * and row, document, node and point keys name their table, collection, graph
 * or series by id, not by name. The catalog hands those ids out, once each,
 * and keeps the mappings. It is stored in the store it is given, in catalog
 * keys (ks, "cat", kind, name) built by orbit_key_catalog:
 *
 *   (0, "cat", "next", "ks")           counter: the last keyspace id handed out
 *   (0, "cat", "ks", T(type, id))      actor -> its keyspace id
 *   (0, "cat", "ksid", I(ks))          keyspace id -> its actor (the claim)
 *   (ks, "cat", "next", "id")          counter: the last object id of ks
 *   (ks, "cat", KIND, name)            named object -> its id
 *   (ks, "cat", "objid", I(id))        object id -> (kind, name) (the claim)
 *
 * where T(type, id) is orbit_tuple_str(type) then orbit_tuple_str(id), and
 * I(n) is orbit_tuple_int(n), each used as the catalog entry's name bytes.
 * Every value is an ORBIT_MODEL_CATALOG record (orbit/record.h, schema 1),
 * so it is checksummed together with its key. Payloads:
 *   counters, actor -> ks, name -> id:  the id, 8 bytes big-endian;
 *   ks -> actor:    empty (the actor is the record's actor type and id);
 *   id -> object:   orbit_tuple_str(kind) then orbit_tuple_bytes(name).
 * A counter that is absent means none handed out yet.
 *
 * Ids. Keyspace 0 (ORBIT_KEYSPACE_SYSTEM) is the system's (this catalog,
 * placements); keyspace 1 (ORBIT_KEYSPACE_DEFAULT) is fixed to the default
 * database actor ("orbit", "default") and never stored; allocated keyspaces
 * start at 2. Object ids start at 1 in each keyspace, one counter for every
 * kind (so an id names one object of one kind). Ids are never reused: an
 * id whose allocation lost a race or whose outcome was uncertain is simply
 * skipped. The actor type "orbit" is reserved for Orbit itself: any other
 * actor of that type is ORBIT_EINVAL.
 *
 * Allocation needs no transaction: the counter is advanced by
 * compare-and-set (orbit_kv_cas), the winner writes its claim (id -> name),
 * then inserts the mapping (name -> id) if absent (orbit_kv_put_if_absent).
 * Allocators racing on one name all return the id whose mapping was
 * inserted first, and a loser deletes its claim. A claim is trusted only
 * when the mapping it names points back at it, so a claim left behind by a
 * crash or a failed delete is never reported.
 *
 * Threads: every call may be made from many threads and processes on one
 * store at once; calls keep no state between them.
 *
 * Return codes (orbit/error.h): 0; ORBIT_NOTFOUND for an unknown name or id
 * (create = 0); ORBIT_EINVAL for bad arguments; ORBIT_ECORRUPT, naming the
 * key, for a catalog record that fails verification or has a malformed
 * payload; ORBIT_EUNCERTAIN when a write kept failing with that code (every
 * call here is idempotent, so calling it again is safe); ORBIT_EBUSY when
 * contention on a counter persists; or the store's error (retryable errors
 * are retried a bounded number of times first).
 */
#ifndef ORBIT_CATALOG_H
#define ORBIT_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"
#include "orbit/error.h"
#include "orbit/kv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kinds of named objects (orbit_catalog_name_id). */
#define ORBIT_CATALOG_TABLE "table"
#define ORBIT_CATALOG_INDEX "index"
#define ORBIT_CATALOG_COLLECTION "collection"
#define ORBIT_CATALOG_GRAPH "graph"
#define ORBIT_CATALOG_SERIES "series"
#define ORBIT_CATALOG_VECTORS "vectors" /* vector collections */

/* The first keyspace id the catalog allocates. */
#define ORBIT_KEYSPACE_FIRST_ALLOCATED UINT64_C(2)

/*
 * The keyspace id of actor (actor_type, actor_id) (non-empty C strings) in
 * the catalog of kv, into *ks. If the actor has none yet: with create, one
 * is allocated (every concurrent caller gets the same id); without,
 * ORBIT_NOTFOUND. ("orbit", "default") is ORBIT_KEYSPACE_DEFAULT without
 * touching the store.
 */
ORBIT_API int orbit_catalog_keyspace(orbit_kv *kv, const char *actor_type,
                                     const char *actor_id, int create,
                                     uint64_t *ks);

/*
 * The actor owning keyspace ks: its type and id replace the contents of
 * actor_type and actor_id (either may be NULL), each followed by a NUL that
 * len does not count. ORBIT_NOTFOUND if ks was never allocated;
 * ORBIT_EINVAL for ORBIT_KEYSPACE_SYSTEM, which no actor owns.
 */
ORBIT_API int orbit_catalog_keyspace_actor(orbit_kv *kv, uint64_t ks,
                                           orbit_buf *actor_type,
                                           orbit_buf *actor_id);

/* Called once per keyspace by orbit_catalog_list_keyspaces; the strings
 * are borrowed for the call. Return 0 to go on; anything else stops the
 * listing, which then returns that value. */
typedef int (*orbit_catalog_keyspace_fn)(void *arg, uint64_t ks,
                                         const char *actor_type,
                                         const char *actor_id);

/*
 * Every keyspace in ascending id order: ORBIT_KEYSPACE_DEFAULT first, then
 * the allocated ones. fn runs on the calling thread with no iterator or
 * lock held, so it may use the store. The listing reads the catalog in
 * pages, not at one snapshot: a keyspace allocated meanwhile may or may
 * not appear. 0, fn's non-zero return value, or an error.
 */
ORBIT_API int orbit_catalog_list_keyspaces(orbit_kv *kv,
                                           orbit_catalog_keyspace_fn fn,
                                           void *arg);

/*
 * The id of the object `name` (a non-empty C string) of `kind` (one of
 * ORBIT_CATALOG_TABLE ... ORBIT_CATALOG_VECTORS; anything else is
 * ORBIT_EINVAL) in keyspace ks, into *id; allocated from the keyspace's
 * counter when absent and `create` is set, else ORBIT_NOTFOUND. Names are
 * unique per kind within a keyspace: callers scope index names themselves
 * (for example "TABLEID/INDEX").
 */
ORBIT_API int orbit_catalog_name_id(orbit_kv *kv, uint64_t ks,
                                    const char *kind, const char *name,
                                    int create, uint64_t *id);

/*
 * The object with id `id` in keyspace ks: its kind and name replace the
 * contents of kind and name (either may be NULL), NUL-terminated as in
 * orbit_catalog_keyspace_actor. ORBIT_NOTFOUND if no object has that id.
 */
ORBIT_API int orbit_catalog_object(orbit_kv *kv, uint64_t ks, uint64_t id,
                                   orbit_buf *kind, orbit_buf *name);

/*
 * Rename an object, keeping its id (so no data key changes): in one
 * transaction the entry of old_name goes, new_name's is inserted with the
 * same id, and the id's claim names new_name. ORBIT_NOTFOUND if old_name
 * does not exist, ORBIT_EEXIST if new_name does (old == new is 0 when it
 * exists), ORBIT_ENOTSUP if the store has no transactions, ORBIT_EUNCERTAIN
 * if the commit's outcome stayed unknown after reading back.
 */
ORBIT_API int orbit_catalog_rename(orbit_kv *kv, uint64_t ks, const char *kind,
                                   const char *old_name, const char *new_name);

/* Called once per object by orbit_catalog_list_names, as
 * orbit_catalog_keyspace_fn. */
typedef int (*orbit_catalog_name_fn)(void *arg, const char *name, uint64_t id);

/* Every object of `kind` in keyspace ks, in ascending name order (byte
 * order), read in pages as orbit_catalog_list_keyspaces. */
ORBIT_API int orbit_catalog_list_names(orbit_kv *kv, uint64_t ks,
                                       const char *kind,
                                       orbit_catalog_name_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
