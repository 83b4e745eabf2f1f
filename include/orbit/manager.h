/*
 * The storage manager: several stores open at once, and the placement of
 * every actor on one of them.
 *
 * Every piece of data in an actor database belongs to an actor, named by a
 * type and an id. A manager holds named providers ("hot" -> "memory:",
 * "main" -> "rocksdb:/var/lib/orbit"), one of them the default, and decides
 * which provider an actor's data lives on with a strategy:
 *
 *   ORBIT_PLACE_DEFAULT        always the default provider;
 *   ORBIT_PLACE_BY_ACTOR_TYPE  a table actor type -> provider name
 *                              (orbit_manager_route), else the default;
 *   ORBIT_PLACE_CUSTOM         a callback returning a provider name.
 *
 * The first resolution of an actor stores its assignment in a catalog on
 * the default provider: key orbit_key_catalog("placement", T) where T is
 * the tuple (actor_type, actor_id) encoded with orbit_tuple_str, value an
 * ORBIT_MODEL_CATALOG record (orbit/record.h) whose payload is the
 * provider's name and whose actor fields name the actor. From then on the
 * stored assignment wins over the strategy: after a restart with a
 * different strategy or route table, an actor placed earlier still
 * resolves to the provider its data is on. (Changing which provider is the
 * default moves the catalog, so earlier assignments are no longer seen.)
 * The default provider must support transactions: the first resolution
 * is an insert-if-absent in a transaction, retried on conflicts, so
 * concurrent first resolutions of one actor, from threads or processes
 * sharing the default store, all agree.
 *
 * Threads: orbit_manager_resolve and the provider look-ups may be called
 * from many threads at once (resolved assignments are cached in memory;
 * a cache hit touches no store). Configuration calls (add_provider,
 * set_default, set_strategy, route, set_custom) are also thread-safe, but
 * are meant for start-up: a change affects only actors not yet placed.
 *
 * Ownership: the manager owns the stores it opened; orbit_kv pointers and
 * provider names it hands out are borrowed and stay valid until
 * orbit_manager_free(). Strings passed in are copied.
 *
 * Return codes: orbit/error.h, with the detail in
 * orbit_last_error_detail().
 */
#ifndef ORBIT_MANAGER_H
#define ORBIT_MANAGER_H

#include <stddef.h>

#include "orbit/error.h"
#include "orbit/kv.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orbit_manager orbit_manager;

typedef enum orbit_placement {
    ORBIT_PLACE_DEFAULT = 0,
    ORBIT_PLACE_BY_ACTOR_TYPE = 1,
    ORBIT_PLACE_CUSTOM = 2,
} orbit_placement;

/*
 * A custom placement: return the name of the provider a new actor goes to,
 * or NULL for the default provider. The returned string is copied before
 * the manager uses it; it only has to live until the callback returns.
 * Called on the resolving thread, possibly from many threads at once, and
 * only for actors with no stored assignment; when two resolutions of one
 * new actor race, the callback may run for both, and the assignment that
 * is stored first wins. It must not call back into the manager.
 */
typedef const char *(*orbit_placement_fn)(void *arg, const char *actor_type,
                                          const char *actor_id);

/* An empty manager (no providers, strategy DEFAULT). 0 or ORBIT_ENOMEM. */
ORBIT_API int orbit_manager_new(orbit_manager **out);

/* Close every store and free the manager. No call on it may be running.
 * NULL is accepted. */
ORBIT_API void orbit_manager_free(orbit_manager *m);

/*
 * Open the store at `uri` (orbit_kv_open) and add it under `name`
 * (non-empty, no whitespace). The first provider added becomes the
 * default. 0; ORBIT_EEXIST if the name is taken; ORBIT_EINVAL for a bad
 * name; or the error of orbit_kv_open (nothing is added then).
 */
ORBIT_API int orbit_manager_add_provider(orbit_manager *m, const char *name,
                                         const char *uri);

/* Make `name` the default provider (it holds the placement catalog).
 * ORBIT_ENOPROVIDER if no provider has that name; ORBIT_EINVAL once an
 * actor has been resolved (the catalog cannot move under a running
 * manager). */
ORBIT_API int orbit_manager_set_default(orbit_manager *m, const char *name);

/* Choose DEFAULT or BY_ACTOR_TYPE (CUSTOM is chosen by
 * orbit_manager_set_custom). ORBIT_EINVAL otherwise. */
ORBIT_API int orbit_manager_set_strategy(orbit_manager *m, orbit_placement s);

/* Route actors of `actor_type` to provider `name` under BY_ACTOR_TYPE
 * (replacing an earlier route of that type). The provider need not exist
 * yet; resolving an actor routed to a missing one is ORBIT_ENOPROVIDER.
 * 0, ORBIT_EINVAL (empty type or name) or ORBIT_ENOMEM. */
ORBIT_API int orbit_manager_route(orbit_manager *m, const char *actor_type,
                                  const char *name);

/* Select the CUSTOM strategy with callback fn (non-NULL) and its argument,
 * which must stay valid until the manager is freed or the strategy
 * changes. 0 or ORBIT_EINVAL (then fn is never called). */
ORBIT_API int orbit_manager_set_custom(orbit_manager *m, orbit_placement_fn fn,
                                       void *arg);

/*
 * Find the store of an actor (type and id: non-empty C strings), placing
 * it first if it has no stored assignment. *kv (if kv is non-NULL) and
 * *provider (if non-NULL) are borrowed from the manager.
 * 0; ORBIT_ENOPROVIDER if the stored assignment or the strategy names a
 * provider that is not configured, or no provider was added; ORBIT_ECORRUPT
 * if the stored assignment is damaged; ORBIT_EINVAL for empty names;
 * ORBIT_ENOTSUP if the default provider has no transactions; or the
 * default store's error (retryable errors are retried a bounded number of
 * times first).
 */
ORBIT_API int orbit_manager_resolve(orbit_manager *m, const char *actor_type,
                                    const char *actor_id, orbit_kv **kv,
                                    const char **provider);

/* The store added under `name` (borrowed). 0 or ORBIT_ENOPROVIDER. */
ORBIT_API int orbit_manager_provider(orbit_manager *m, const char *name,
                                     orbit_kv **kv);

/* The default store and its name (either out may be NULL).
 * 0 or ORBIT_ENOPROVIDER when no provider was added. */
ORBIT_API int orbit_manager_default(orbit_manager *m, orbit_kv **kv,
                                    const char **name);

/* Number of providers, and the name of provider i (0 <= i < count, in the
 * order added; borrowed). */
ORBIT_API size_t orbit_manager_provider_count(orbit_manager *m);
ORBIT_API const char *orbit_manager_provider_name(orbit_manager *m, size_t i);

/*
 * Build a manager from configuration text. One directive per line; blank
 * lines and lines whose first non-blank character is '#' are ignored, and
 * a '#' starting a later word ends the line:
 *
 *   provider NAME URI     open URI under NAME (in file order)
 *   default NAME          the default provider (else the first one)
 *   strategy default|by_actor_type
 *   route ACTOR_TYPE NAME
 *
 * Every route and the default must name a configured provider. On error
 * nothing is left open, the code is ORBIT_EINVAL (syntax, unknown
 * directive, bad reference), ORBIT_EEXIST (a provider name twice) or the
 * store's open error, and the detail reads "ORIGIN:LINE: what" (origin is
 * the file name, or `origin` for text; NULL means "config").
 */
ORBIT_API int orbit_manager_from_config_text(const char *text, size_t len,
                                             const char *origin,
                                             orbit_manager **out);

/* The same, reading the file at `path`. ORBIT_EIO if it cannot be read. */
ORBIT_API int orbit_manager_from_config(const char *path, orbit_manager **out);

#ifdef __cplusplus
}
#endif
#endif
