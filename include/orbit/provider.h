/*
 * The provider contract, as providers implement it.
 *
 * A provider is a versioned table of function pointers (like SQLite's
 * sqlite3_vfs): `version` comes first, members are only ever appended, and a
 * provider is registered under its URI scheme and opened from a URI. Callers
 * never touch the table: they go through orbit/kv.h, whose contract layer
 * (src/kv/kv.c) validates arguments, turns scan prefixes into bounds,
 * enforces scan limits, counts statistics, and falls back to synchronous
 * execution for providers without a native asynchronous path.
 *
 * What the contract layer guarantees a provider:
 *   - key pointers are non-NULL when klen > 0; empty keys are rejected
 *     before reaching the provider;
 *   - a range is already normalised to [lo, hi) (prefix folded in), with
 *     lo/hi NULL for an open side, and hi > lo when both are set;
 *   - iterators, snapshots and transactions are finished before close.
 * What a provider guarantees the contract layer:
 *   - every entry point is safe to call from many threads on one `self`;
 *     a txn / iterator object is used by one thread at a time;
 *   - foreign errors are translated to Orbit codes with orbit_error_set(),
 *     keeping the foreign text as the detail;
 *   - txn_commit and txn_rollback free the transaction in every case.
 */
#ifndef ORBIT_PROVIDER_H
#define ORBIT_PROVIDER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "orbit/kv.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ORBIT_PROVIDER_VERSION 1

/* ---- URIs ----------------------------------------------------------- */

/*
 * A parsed store URI: "scheme:body?k=v&k2=v2". For "scheme://a,b" the body
 * is "a,b" (the "//" is dropped). Values are percent-decoded.
 */
typedef struct orbit_uri orbit_uri;

ORBIT_API int orbit_uri_parse(const char *text, orbit_uri **out);
ORBIT_API void orbit_uri_free(orbit_uri *u);
ORBIT_API const char *orbit_uri_scheme(const orbit_uri *u);
ORBIT_API const char *orbit_uri_body(const orbit_uri *u);
/* The value of option `name`, or NULL if absent. Marks it as used. */
ORBIT_API const char *orbit_uri_param(orbit_uri *u, const char *name);
/* Typed readers: 0 (absent: *out = dflt) or ORBIT_EINVAL naming the option. */
ORBIT_API int orbit_uri_param_u64(orbit_uri *u, const char *name, uint64_t dflt,
                                  uint64_t *out);
ORBIT_API int orbit_uri_param_bool(orbit_uri *u, const char *name, int dflt,
                                   int *out);
/* ORBIT_EINVAL naming the first option no orbit_uri_param* call asked for. */
ORBIT_API int orbit_uri_check_unused(const orbit_uri *u);

/* ---- batches, as providers read them -------------------------------- */

typedef struct orbit_batch_entry {
    orbit_op_type type; /* ORBIT_OP_PUT or ORBIT_OP_DEL */
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;
    size_t vlen;
} orbit_batch_entry;

/* Entry i (0 <= i < orbit_batch_count(b)), borrowed from the batch. */
ORBIT_API void orbit_batch_entry_at(const orbit_batch *b, size_t i,
                                    orbit_batch_entry *e);

/* ---- ranges --------------------------------------------------------- */

typedef struct orbit_range {
    const uint8_t *lo; /* inclusive; NULL: from the first key */
    size_t lo_len;
    const uint8_t *hi; /* exclusive; NULL: to the last key */
    size_t hi_len;
    int reverse;
} orbit_range;

/* ---- errors --------------------------------------------------------- */

/* Record the calling thread's error detail and return `code`, so a provider
 * can write `return orbit_error_set(ORBIT_EIO, "rocksdb put: %s", err);`. */
ORBIT_API int orbit_error_set(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
ORBIT_API void orbit_error_clear(void);

/* ---- the table ------------------------------------------------------ */

typedef struct orbit_provider {
    int version;      /* ORBIT_PROVIDER_VERSION this table was built for */
    const char *name; /* the URI scheme, e.g. "rocksdb" */

    /* Open from a parsed URI; call orbit_uri_check_unused() after reading
     * options so a misspelt option is an error. */
    int (*open)(orbit_uri *uri, void **self);
    void (*close)(void *self);
    void (*capabilities)(void *self, orbit_capabilities *out);

    /* snap is NULL or a value from snapshot_open. fn as in orbit/kv.h:
     * called at most once, only when the key exists. */
    int (*get)(void *self, void *snap, const uint8_t *k, size_t kl,
               orbit_value_fn fn, void *arg);
    int (*put)(void *self, const uint8_t *k, size_t kl, const uint8_t *v,
               size_t vl);
    int (*del)(void *self, const uint8_t *k, size_t kl);
    int (*write)(void *self, const orbit_batch *b);

    /* Iterators (plain and transactional share next/close). The limit is
     * enforced by the contract layer. */
    int (*iter_open)(void *self, void *snap, const orbit_range *r, void **it);
    int (*iter_next)(void *it, const uint8_t **k, size_t *kl,
                     const uint8_t **v, size_t *vl);
    void (*iter_close)(void *it);

    int (*snapshot_open)(void *self, void **snap);
    void (*snapshot_release)(void *self, void *snap);

    int (*txn_begin)(void *self, const orbit_txn_opts *opts, void **txn);
    int (*txn_get)(void *txn, const uint8_t *k, size_t kl, int for_update,
                   orbit_value_fn fn, void *arg);
    int (*txn_put)(void *txn, const uint8_t *k, size_t kl, const uint8_t *v,
                   size_t vl);
    int (*txn_del)(void *txn, const uint8_t *k, size_t kl);
    int (*txn_iter_open)(void *txn, const orbit_range *r, void **it);
    int (*txn_commit)(void *txn);
    void (*txn_rollback)(void *txn);

    /* Optional (NULL: the contract layer runs ops one by one, inline). Same
     * rules as orbit_kv_submit(). */
    int (*submit)(void *self, orbit_kv_op *ops, size_t n,
                  orbit_kv_done_fn done, void *arg);
} orbit_provider;

/* Register a provider under p->name. The table must outlive the process's
 * use of Orbit. Built-in providers (memory, rocksdb) are registered
 * already. ORBIT_EEXIST if the name is taken, ORBIT_EINVAL if the version is
 * newer than this library. Thread-safe. */
ORBIT_API int orbit_provider_register(const orbit_provider *p);

/* The registered provider named `name`, or NULL. */
ORBIT_API const orbit_provider *orbit_provider_find(const char *name);

#ifdef __cplusplus
}
#endif
#endif
