/*
 * The storage manager: several stores open at once, and the placement of
 * every actor on one of them.
 *
 * Every piece of data in an actor database belongs to an actor, named by a
 * type and an id. A manager holds named providers ("hot" -> "memory:",
 * "main" -> "rocksdb:/var/lib/orbit"), one of them the default, and decides
 * which provider an actor's data lives on with a strategy:
 *
 *   ORBIT_PLACE_DEFAULT          always the default provider;
 *   ORBIT_PLACE_BY_ACTOR_TYPE    a table actor type -> provider name
 *                                (orbit_manager_route), else the default;
 *   ORBIT_PLACE_CUSTOM           a callback returning a provider name;
 *   ORBIT_PLACE_BY_DATA_PATTERN  a matcher fed by the actor context the
 *                                caller supplies (orbit_actor_context):
 *                                many cross-actor references -> a
 *                                distributed provider, latency-sensitive ->
 *                                the embedded one, else the default
 *                                (orbit_manager_set_data_pattern).
 * Whatever the strategy, a placement never violates the context's
 * consistency requirement (orbit_consistency).
 *
 * The catalog. The default provider holds the global catalog (keyspace 0,
 * orbit/catalog.h). The first resolution of an actor allocates its keyspace
 * id there (orbit_catalog_keyspace: ids unique across all providers, so an
 * actor can later move without colliding) and stores its placement record
 * under orbit_key_catalog(0, "placement", T), T the tuple (actor_type,
 * actor_id) encoded with orbit_tuple_str, as an ORBIT_MODEL_CATALOG record
 * (orbit/record.h, schema 2) whose actor fields name the actor and whose
 * payload is a tuple (orbit_tuple_*):
 *   placed:  (int 1, int keyspace, bytes provider)
 *   moving:  (int 2, int keyspace, bytes source, bytes target, int epoch)
 * From then on the stored record wins over the strategy: after a restart
 * with another strategy or route table, an actor placed earlier still
 * resolves to the provider its data is on. The "moving" state is there for
 * online migration; nothing moves actors yet, and a moving actor resolves
 * to its source. (Changing which provider is the default moves the
 * catalog, so earlier placements are no longer seen.)
 *
 * Resolution: a cached placement touches no store; otherwise a plain read
 * of the record; only a new actor is written, with insert-if-absent
 * (orbit_kv_put_if_absent: native compare-and-set where the provider has
 * it, else the contract layer's transaction), taking the stored record when
 * another resolver got there first, so concurrent first resolutions of one
 * actor, from threads or processes sharing the default store, all agree.
 * An uncertain insert (ORBIT_EUNCERTAIN) is read back and decided, never
 * blindly retried.
 *
 * Durability: the catalog store must be durable (capabilities.durable),
 * or placements and keyspace ids are lost on restart while the data on
 * durable providers stays: resolving with a non-durable default provider
 * is ORBIT_EINVAL unless allowed with orbit_manager_allow_volatile_catalog
 * (config: `catalog volatile`).
 *
 * Threads: orbit_manager_resolve and the provider look-ups may be called
 * from many threads at once (resolved placements are cached in memory; a
 * cache hit touches no store). Configuration calls are also thread-safe,
 * but are meant for start-up: a change affects only actors not yet placed.
 *
 * Ownership: the manager owns the stores it opened; orbit_kv pointers and
 * provider names it hands out are borrowed and stay valid until
 * orbit_manager_free(). Strings passed in are copied.
 *
 * Growing structs: orbit_actor_context, orbit_actor_placement and
 * orbit_data_pattern only ever grow at their end, and a field added later
 * means "as before" when zero: zero-initialise them and set what you use.
 *
 * Return codes: orbit/error.h, with the detail in
 * orbit_last_error_detail().
 */
#ifndef ORBIT_MANAGER_H
#define ORBIT_MANAGER_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/error.h"
#include "orbit/kv.h"
#include "orbit/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orbit_manager orbit_manager;

typedef enum orbit_placement {
    ORBIT_PLACE_DEFAULT = 0,
    ORBIT_PLACE_BY_ACTOR_TYPE = 1,
    ORBIT_PLACE_CUSTOM = 2,
    ORBIT_PLACE_BY_DATA_PATTERN = 3,
} orbit_placement;

/* What an actor's data needs from its provider. Each level includes the
 * ones before it. */
typedef enum orbit_consistency {
    /* No requirement: any provider, a memory one included. */
    ORBIT_CONSISTENCY_ANY = 0,
    /* Acknowledged writes survive a crash: capabilities.durable (never a
     * memory provider). */
    ORBIT_CONSISTENCY_DURABLE = 1,
    /* Durable, with snapshot-isolated transactions over the actor's keys
     * (supports_transactions and ORBIT_ISO_SNAPSHOT in isolation_levels). */
    ORBIT_CONSISTENCY_STRONG = 2,
} orbit_consistency;

/* What the caller knows about an actor when it is first placed (later
 * resolutions use the stored placement and ignore it). Append-only; zero
 * means "nothing known". */
typedef struct orbit_actor_context {
    /* How many other actors this one's data references (foreign keys,
     * edges, cross-actor transactions), as the caller estimates it. */
    size_t cross_actor_refs;
    /* Non-zero: reads and writes must be fast (an in-process store). */
    int latency_sensitive;
    orbit_consistency consistency;
} orbit_actor_context;

typedef enum orbit_placement_state {
    ORBIT_PLACEMENT_PLACED = 1,
    /* Being moved from `provider` (the source, which still serves it) to
     * `target` in migration `epoch`. Nothing creates this state yet: it is
     * the record format online migration will use. */
    ORBIT_PLACEMENT_MOVING = 2,
} orbit_placement_state;

/* Where an actor lives. Pointers are borrowed from the manager and valid
 * until orbit_manager_free(). Append-only. */
typedef struct orbit_actor_placement {
    orbit_kv *kv;         /* the store serving the actor (the source while
                           * moving); NULL only in listings, for a provider
                           * that is not configured */
    const char *provider; /* its name */
    uint64_t keyspace;    /* the actor's keyspace id (orbit/catalog.h) */
    orbit_placement_state state;
    orbit_kv *target_kv;  /* MOVING: the target store (NULL as kv); else NULL */
    const char *target;   /* MOVING: the target's name; else NULL */
    uint64_t epoch;       /* MOVING: the migration's epoch; else 0 */
} orbit_actor_placement;

/*
 * A custom placement: return the name of the provider a new actor goes to,
 * or NULL for the default provider. The returned string is copied before
 * the manager uses it; it only has to live until the callback returns.
 * Called on the resolving thread, possibly from many threads at once, and
 * only for actors with no stored placement; when two resolutions of one
 * new actor race, the callback may run for both, and the placement that
 * is stored first wins. It runs under the read side of the manager's
 * callback lock (see orbit_manager_set_custom): it must not call back into
 * the manager.
 */
typedef const char *(*orbit_placement_fn)(void *arg, const char *actor_type,
                                          const char *actor_id);

/* The ByDataPattern matcher's settings. Append-only; zero fields mean the
 * defaults. */
typedef struct orbit_data_pattern {
    /* An actor with more cross-actor references than this goes to the
     * distributed provider. 0: ORBIT_PATTERN_CROSS_REFS_DEFAULT. */
    size_t cross_refs_threshold;
    /* Provider names (copied); NULL: the first provider added whose
     * capabilities.type is ORBIT_PROVIDER_DISTRIBUTED / _EMBEDDED. */
    const char *distributed;
    const char *embedded;
} orbit_data_pattern;

#define ORBIT_PATTERN_CROSS_REFS_DEFAULT 32

/* An empty manager (no providers, strategy DEFAULT, volatile catalog
 * refused). 0 or ORBIT_ENOMEM. */
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

/* Make `name` the default provider (it holds the catalog).
 * ORBIT_ENOPROVIDER if no provider has that name; ORBIT_EINVAL once an
 * actor has been resolved (the catalog cannot move under a running
 * manager). */
ORBIT_API int orbit_manager_set_default(orbit_manager *m, const char *name);

/* Choose DEFAULT, BY_ACTOR_TYPE or BY_DATA_PATTERN (with the settings of
 * the last orbit_manager_set_data_pattern, else the defaults); CUSTOM is
 * chosen by orbit_manager_set_custom. Leaving CUSTOM waits for callbacks in
 * flight as orbit_manager_set_custom does. ORBIT_EINVAL otherwise. */
ORBIT_API int orbit_manager_set_strategy(orbit_manager *m, orbit_placement s);

/* Route actors of `actor_type` to provider `name` under BY_ACTOR_TYPE
 * (replacing an earlier route of that type). The provider need not exist
 * yet; resolving an actor routed to a missing one is ORBIT_ENOPROVIDER.
 * 0, ORBIT_EINVAL (empty type or name) or ORBIT_ENOMEM. */
ORBIT_API int orbit_manager_route(orbit_manager *m, const char *actor_type,
                                  const char *name);

/*
 * Select the CUSTOM strategy with callback fn (non-NULL) and its argument.
 * Replacing the callback (or leaving CUSTOM) waits until every call of the
 * previous callback in flight has returned: once this returns, the
 * previous fn is never called again and its arg may be freed. Until then
 * arg must stay valid (or until the manager is freed). Must not be called
 * from inside the callback. 0 or ORBIT_EINVAL (then fn is never called).
 */
ORBIT_API int orbit_manager_set_custom(orbit_manager *m, orbit_placement_fn fn,
                                       void *arg);

/*
 * Select the BY_DATA_PATTERN strategy with these settings (NULL: the
 * defaults). For a new actor with context ctx the matcher proposes, in
 * order:
 *   1. the distributed provider, if ctx->cross_actor_refs > threshold;
 *   2. the embedded provider, if ctx->latency_sensitive;
 *   3. the default provider;
 * and places the actor on the first proposal that meets ctx->consistency;
 * if none does, on the first provider (in the order added) that does,
 * else it is ORBIT_ENOPROVIDER. A proposal naming a provider that is not
 * configured, or an unnamed one when no provider has that type, is
 * skipped. 0, ORBIT_EINVAL (a name that is not a single word) or
 * ORBIT_ENOMEM.
 */
ORBIT_API int orbit_manager_set_data_pattern(orbit_manager *m,
                                             const orbit_data_pattern *p);

/*
 * Allow (allow != 0) or refuse (the default) a catalog on a default
 * provider that is not durable (capabilities.durable == 0, e.g. memory:).
 * Refused, resolving and listing are ORBIT_EINVAL saying so. Allow it for
 * tests and throw-away setups only: a restart loses every placement and
 * keyspace id. Returns 0.
 */
ORBIT_API int orbit_manager_allow_volatile_catalog(orbit_manager *m,
                                                   int allow);

/*
 * Find the store of an actor (type and id: non-empty C strings), placing
 * it first if it has no stored placement. *kv (if kv is non-NULL) and
 * *provider (if non-NULL) are borrowed from the manager. The same as
 * orbit_manager_resolve_actor with no context.
 */
ORBIT_API int orbit_manager_resolve(orbit_manager *m, const char *actor_type,
                                    const char *actor_id, orbit_kv **kv,
                                    const char **provider);

/*
 * Find, or first place, an actor, and fill *out with its placement. ctx
 * (NULL: all zero) informs the strategy of a first placement only.
 * 0; ORBIT_ENOPROVIDER if the stored placement or the strategy names a
 * provider that is not configured, no provider meets the consistency
 * requirement (BY_DATA_PATTERN), or no provider was added; ORBIT_EINVAL
 * for empty names, a reserved actor type (orbit/catalog.h), a choice that
 * does not meet the context's consistency requirement (the other
 * strategies), or a non-durable catalog that was not allowed;
 * ORBIT_ECORRUPT if the stored placement is damaged; ORBIT_ENOTSUP if the
 * default provider has neither compare-and-set nor transactions;
 * ORBIT_EUNCERTAIN if a write's outcome stayed unknown after reading back
 * (resolving again is safe); or the default store's error (retryable
 * errors are retried a bounded number of times first). On error *out is
 * left unchanged.
 */
ORBIT_API int orbit_manager_resolve_actor(orbit_manager *m,
                                          const char *actor_type,
                                          const char *actor_id,
                                          const orbit_actor_context *ctx,
                                          orbit_actor_placement *out);

/* Called once per actor by orbit_manager_list_actors; the strings and *p
 * are valid for the call. Return 0 to go on; anything else stops the
 * listing, which returns that value. */
typedef int (*orbit_actor_fn)(void *arg, const char *actor_type,
                              const char *actor_id,
                              const orbit_actor_placement *p);

/*
 * Every actor with a stored placement on provider `provider` (its source
 * or, while moving, its target; NULL: every actor), scanning the placement
 * catalog in key order. fn runs on the calling thread with no lock or
 * iterator held (it may resolve actors). The catalog is read in pages, not
 * at one snapshot: an actor placed during the listing may or may not
 * appear. A record naming a provider that is not configured is reported
 * with kv NULL (only when `provider` is NULL or names it). 0, fn's
 * non-zero value, ORBIT_ECORRUPT for a damaged record, ORBIT_ENOPROVIDER
 * when no provider was added, ORBIT_EINVAL for a non-durable catalog that
 * was not allowed, or the default store's error.
 */
ORBIT_API int orbit_manager_list_actors(orbit_manager *m, const char *provider,
                                        orbit_actor_fn fn, void *arg);

/*
 * The actor handle (orbit/model.h) the data models open objects from,
 * resolved (and placed if new) as orbit_manager_resolve_actor with no
 * context: its store and keyspace are the placement's. Close it with
 * orbit_actor_close() before freeing the manager.
 */
ORBIT_API int orbit_manager_actor(orbit_manager *m, const char *actor_type,
                                  const char *actor_id, orbit_actor **out);

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
 *   strategy default|by_actor_type|by_data_pattern
 *   route ACTOR_TYPE NAME               (by_actor_type)
 *   pattern cross_refs_threshold N      (by_data_pattern; N a positive
 *                                        decimal; else the default)
 *   pattern distributed NAME            (else the first distributed one)
 *   pattern embedded NAME               (else the first embedded one)
 *   catalog durable|volatile  whether a non-durable default provider may
 *                         hold the catalog (durable, the default: no)
 *
 * Every route, pattern provider and the default must name a configured
 * provider, and unless `catalog volatile` is given the default provider
 * must be durable. Each directive but provider and route may appear once.
 * On error nothing is left open, the code is ORBIT_EINVAL (syntax, unknown
 * directive, bad reference, a non-durable catalog), ORBIT_EEXIST (a
 * provider name twice) or the store's open error, and the detail reads
 * "ORIGIN:LINE: what" (origin is the file name, or `origin` for text; NULL
 * means "config").
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
