/*
 * Cross-model transactions: one unit of work that every data model writes
 * into, committed all or nothing.
 *
 * An orbit_tx is the seed's OrbitTransaction. Every write of every model
 * (rows, documents, nodes and edges, vectors, time-series points, plain
 * keys) takes an orbit_tx *: given one, the write joins it; given NULL, the
 * model runs the write in a transaction of its own and commits it (retrying
 * a conflict a bounded number of times, never an uncertain outcome).
 *
 * Binding. A transaction is not tied to a store when it begins. The first
 * model call binds it to that call's store (the provider the actor's data
 * is on, orbit/model.h) and begins one contract transaction there
 * (orbit/kv.h) at the isolation asked for. A later call on another store is
 * refused with ORBIT_ENOTSUP naming both actors and both providers, and
 * the whole transaction is refused with it (it is marked failed: commit
 * returns ORBIT_ECLOSED and rolls back, so the part already written on the
 * first store is not applied either): atomic commit across providers is
 * not built yet. Nothing is written to any store before commit except what
 * the provider itself does for its transactions.
 *
 * Isolation, mapped onto the contract's levels (orbit_isolation):
 *   ORBIT_TX_REPEATABLE_READ (the default, zero)  -> ORBIT_ISO_SNAPSHOT
 *   ORBIT_TX_READ_COMMITTED                      -> ORBIT_ISO_READ_COMMITTED
 *   ORBIT_TX_SERIALIZABLE                        -> ORBIT_ISO_SERIALIZABLE
 * A level the provider does not offer (capabilities.isolation_levels) is
 * refused at binding with ORBIT_ENOTSUP naming the level and the provider;
 * a provider without transactions refuses every level.
 *
 * Commit runs, in order: the deadline check (opts.timeout_ms since begin:
 * past it, the transaction is rolled back and ORBIT_ETIMEDOUT returned,
 * nothing applied); the commit checks the models registered
 * (orbit_tx_add_check: declared references, vector dimensions, graph
 * integrity), inside the transaction, so what they read is part of it; the
 * deadline check again (the checks read); the contract commit (bounded by
 * the provider's own request timeouts: the contract has no deadline of its
 * own, so a commit already sent is never abandoned halfway); then, only if
 * it succeeded, the listeners (orbit_tx_listen) with the actors and models
 * it changed. A commit that fails, conflicts, times out or is uncertain
 * (ORBIT_EUNCERTAIN) tells no listener.
 *
 * Errors: ORBIT_ECONFLICT (retryable: nothing applied; run the whole
 * transaction again, orbit_tx_run does), ORBIT_ECONSTRAINT (a commit check
 * failed; nothing applied; the detail names the constraint),
 * ORBIT_EUNCERTAIN (the commit's outcome is unknown: never retried blindly,
 * see orbit/error.h), or another error. A model call that fails with
 * ORBIT_EINVAL (bad argument, type error), ORBIT_EEXIST (duplicate key,
 * unique index), ORBIT_NOTFOUND or ORBIT_ECONSTRAINT has written nothing
 * (models check before they write) and the transaction goes on; after any
 * other error inside it, only rollback is allowed (commit then returns
 * ORBIT_ECLOSED and rolls back; the detail names the first error).
 *
 * Threads: an orbit_tx belongs to one thread at a time. The listener
 * registry is process-wide and thread-safe.
 */
#ifndef ORBIT_TXN_H
#define ORBIT_TXN_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/error.h"
#include "orbit/kv.h"
#include "orbit/record.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orbit_tx orbit_tx;

typedef enum orbit_tx_isolation {
    ORBIT_TX_REPEATABLE_READ = 0,
    ORBIT_TX_READ_COMMITTED = 1,
    ORBIT_TX_SERIALIZABLE = 2,
} orbit_tx_isolation;

/* Zero-initialise; fields only grow at the end. */
typedef struct orbit_tx_opts {
    orbit_tx_isolation isolation;
    uint64_t timeout_ms; /* 0: no deadline */
} orbit_tx_opts;

/* Begin (opts NULL: all defaults). 0, ORBIT_EINVAL (unknown level) or
 * ORBIT_ENOMEM. */
ORBIT_API int orbit_tx_begin(const orbit_tx_opts *opts, orbit_tx **out);

/* Commit and free the handle, whatever the outcome (see above). A
 * transaction that never bound to a store commits trivially (0). */
ORBIT_API int orbit_tx_commit(orbit_tx *tx);

/* The same, reporting the commit's version (orbit/kv.h Versions) in
 * *version where the provider reports one, else 0. version may be NULL. */
ORBIT_API int orbit_tx_commit_version(orbit_tx *tx, uint64_t *version);

/* Roll back and free. Listeners are never told. NULL is accepted. */
ORBIT_API void orbit_tx_rollback(orbit_tx *tx);

/*
 * The retry helper: begin a transaction with opts, call fn(tx, arg), and
 * commit if fn returned 0 (roll back otherwise and return fn's value). A
 * retryable failure (orbit_err_retryable: a conflict, a busy or unavailable
 * store, a compacted read) of fn or of the commit runs the whole thing again,
 * up to max_attempts times in all (0: 16), with a short growing pause;
 * ORBIT_EUNCERTAIN and every other error are returned at once, never
 * retried. A transaction fn left failed (orbit_tx_fail) with a retryable
 * code is retried even if fn returned 0. opts.timeout_ms bounds the whole
 * run: every attempt's deadline counts from the run's start, and no attempt
 * starts after it (ORBIT_ETIMEDOUT). fn must do nothing outside the
 * transaction that it cannot do twice. Returns 0, the last error, or fn's
 * non-zero non-error value.
 */
typedef int (*orbit_tx_fn)(orbit_tx *tx, void *arg);
ORBIT_API int orbit_tx_run(const orbit_tx_opts *opts, unsigned max_attempts,
                           orbit_tx_fn fn, void *arg);

/* The store the transaction is bound to, or NULL before its first call. */
ORBIT_API orbit_kv *orbit_tx_store(const orbit_tx *tx);

/* ---- listeners -------------------------------------------------------- */

/* One actor a committed transaction changed, and which of its models:
 * models is a mask of (1u << orbit_model) (orbit/record.h). */
typedef struct orbit_tx_change {
    const char *actor_type;
    const char *actor_id;
    uint64_t keyspace;
    unsigned models;
} orbit_tx_change;

/* Called after every successful commit that changed something, on the
 * committing thread, with the changes (borrowed for the call) in the order
 * the actors were first touched. It must not block for long and must not
 * register or remove listeners. */
typedef void (*orbit_tx_listener_fn)(void *arg, const orbit_tx_change *changes,
                                     size_t n, uint64_t commit_version);

/* Register a listener; *id (if non-NULL) names it for orbit_tx_unlisten.
 * 0, ORBIT_EINVAL (fn NULL) or ORBIT_ENOMEM. */
ORBIT_API int orbit_tx_listen(orbit_tx_listener_fn fn, void *arg, uint64_t *id);
/* Remove a listener; when this returns it is not running and will not run
 * again. 0 or ORBIT_NOTFOUND. */
ORBIT_API int orbit_tx_unlisten(uint64_t id);

/* ---- for data models ---------------------------------------------------
 * What the model layer (src/model/) builds on; applications rarely need
 * these. */

/*
 * The contract transaction of tx on store kv, begun (and tx bound to kv)
 * at the first call. actor_type/actor_id name the actor the caller is about
 * to touch, for the error when kv is not the store tx is bound to
 * (ORBIT_ENOTSUP). After an earlier failure of the transaction:
 * ORBIT_ECLOSED.
 */
ORBIT_API int orbit_tx_kv_txn(orbit_tx *tx, orbit_kv *kv, const char *actor_type,
                              const char *actor_id, orbit_txn **out);

/* Record that the transaction changed `model` data of an actor (strings
 * copied), for the listeners. 0 or ORBIT_ENOMEM. */
ORBIT_API int orbit_tx_touch(orbit_tx *tx, const char *actor_type,
                             const char *actor_id, uint64_t keyspace,
                             orbit_model model);

/*
 * A commit check: run by orbit_tx_commit before the contract commit, in the
 * order added, with the contract transaction. A non-zero return aborts the
 * commit: the transaction is rolled back and that code returned (a check
 * reports a violated constraint as ORBIT_ECONSTRAINT with
 * orbit_error_set naming it). free_fn (may be NULL) is called on arg once
 * when the transaction finishes, committed or not. `key` (may be NULL)
 * deduplicates: a second check with the same fn and an equal key
 * (key_len bytes) is not added (its arg is freed at once with free_fn).
 */
typedef int (*orbit_tx_check_fn)(void *arg, orbit_txn *txn);
ORBIT_API int orbit_tx_add_check(orbit_tx *tx, orbit_tx_check_fn fn, void *arg,
                                 void (*free_fn)(void *), const void *key,
                                 size_t key_len);

/* Mark the transaction failed after an error inside it (models call this
 * when a write inside the contract transaction fails), so that commit
 * refuses with ORBIT_ECLOSED and rolls back. */
ORBIT_API void orbit_tx_fail(orbit_tx *tx, int code);

/*
 * Run a model operation in tx, or, when tx is NULL, in a transaction of its
 * own committed at once (with orbit_tx_run's retry rules, max 16
 * attempts). The model's code is fn(tx, arg), which must only use tx and
 * must return EINVAL, EEXIST, NOTFOUND or ECONSTRAINT only before its
 * first write. Any other negative return of fn inside a caller's tx marks
 * it failed (orbit_tx_fail).
 */
ORBIT_API int orbit_tx_auto(orbit_tx *tx, orbit_tx_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif
