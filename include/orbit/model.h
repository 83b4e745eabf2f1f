/*
 * What every data model shares: the actor an object belongs to.
 *
 * Every table, document collection, graph, vector collection and series
 * belongs to an actor (a type and an id). An orbit_actor is that actor's
 * place: the store its data is on and its keyspace id there
 * (orbit/catalog.h), so every key a model writes for it starts with the
 * keyspace (orbit/codec.h) and all its data is one key range. Every record
 * a model writes names the actor in its envelope (orbit/record.h).
 *
 * Open one from a store (the catalog of that store allocates the keyspace)
 * or from a placement the storage manager resolved (orbit_manager_actor in
 * orbit/manager.h). The handle is immutable and may be shared by threads;
 * it borrows the store, which must outlive it.
 *
 * Model objects are named per actor and kind, and the catalog gives each a
 * compact id (orbit_actor_object_id); a model's handle (orbit_table, ...)
 * keeps that id and the actor.
 *
 * Model conventions (orbit/relational.h, document.h, graph.h, vector.h,
 * timeseries.h):
 *   - every write takes an orbit_tx * (orbit/txn.h) first: NULL runs it in
 *     a transaction of its own; reads take one too (NULL: the latest data);
 *   - an operation either fails before writing anything (EINVAL for a bad
 *     argument or type, EEXIST for a duplicate, NOTFOUND, ECONSTRAINT) or
 *     its failure leaves the transaction failed (orbit/txn.h);
 *   - a stored record that fails verification is ORBIT_ECORRUPT naming the
 *     key, and nothing is changed;
 *   - costs are counted (orbit_kv_stats: keys_read, read_calls): see each
 *     model's header and docs/ARCHITECTURE.md.
 */
#ifndef ORBIT_MODEL_H
#define ORBIT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"
#include "orbit/error.h"
#include "orbit/kv.h"
#include "orbit/record.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orbit_actor orbit_actor;

/*
 * The actor (type, id: non-empty C strings) on store kv, its keyspace taken
 * from kv's catalog and allocated there if new (orbit_catalog_keyspace with
 * create). ("orbit", "default") is ORBIT_KEYSPACE_DEFAULT. 0, ORBIT_EINVAL,
 * ORBIT_ENOMEM or the catalog's error.
 */
ORBIT_API int orbit_actor_open(orbit_kv *kv, const char *type, const char *id,
                               orbit_actor **out);

/* The same with a keyspace the caller resolved (the storage manager's
 * placement); nothing is read. */
ORBIT_API int orbit_actor_open_at(orbit_kv *kv, uint64_t keyspace,
                                  const char *type, const char *id,
                                  orbit_actor **out);

/* NULL is accepted. */
ORBIT_API void orbit_actor_close(orbit_actor *a);

ORBIT_API orbit_kv *orbit_actor_store(const orbit_actor *a);
ORBIT_API uint64_t orbit_actor_keyspace(const orbit_actor *a);
ORBIT_API const char *orbit_actor_type(const orbit_actor *a);
ORBIT_API const char *orbit_actor_id(const orbit_actor *a);

/* The catalog id of the object `name` of `kind` (ORBIT_CATALOG_* in
 * orbit/catalog.h) in the actor's keyspace; allocated if absent and
 * `create` is set, else ORBIT_NOTFOUND. */
ORBIT_API int orbit_actor_object_id(const orbit_actor *a, const char *kind,
                                    const char *name, int create, uint64_t *id);

/* Called per object by orbit_actor_list_objects (strings borrowed for the
 * call); a non-zero return stops the listing and is returned by it. */
typedef int (*orbit_actor_object_fn)(void *arg, const char *kind,
                                     const char *name, uint64_t id);

/* Every named object the actor owns, kind by kind (one paged catalog scan
 * per kind, nothing else read). */
ORBIT_API int orbit_actor_list_objects(const orbit_actor *a,
                                       orbit_actor_object_fn fn, void *arg);

/*
 * Encode `payload` as a record of `model` owned by this actor, to be stored
 * under key[0..klen) (orbit_record_encode with the actor's type and id,
 * created = updated = now unless created_ms is non-zero). out is appended
 * to. 0, ORBIT_EINVAL or ORBIT_ENOMEM.
 */
ORBIT_API int orbit_actor_record(const orbit_actor *a, orbit_model model,
                                 uint32_t schema_version, uint64_t created_ms,
                                 const uint8_t *key, size_t klen,
                                 const uint8_t *payload, size_t plen,
                                 orbit_buf *out);

#ifdef __cplusplus
}
#endif

#endif
