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

#define ORBIT_PROVIDER_VERSION 4

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
    orbit_op_type type; /* ORBIT_OP_PUT, ORBIT_OP_DEL or ORBIT_OP_DEL_RANGE */
    const uint8_t *key; /* DEL_RANGE: the range's start (inclusive) */
    size_t klen;
    const uint8_t *val; /* DEL_RANGE: the range's end (exclusive); NULL */
    size_t vlen;        /* (vlen 0): no upper bound */
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
    /* ---- version 2: hints for iterators (ignored by delete_range) ---- */
    size_t limit;      /* the caller wants at most this many entries; 0: all */
    size_t max_bytes;  /* ... or about this many key+value bytes; 0: all */
    int keys_only;     /* values are not wanted: iter_next may return "" */
} orbit_range;

/* ---- errors --------------------------------------------------------- */

/* Record the calling thread's error detail and return `code`, so a provider
 * can write `return orbit_error_set(ORBIT_EIO, "rocksdb put: %s", err);`. */
ORBIT_API int orbit_error_set(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
ORBIT_API void orbit_error_clear(void);

/* Complete an asynchronous op with an error: sets op->result = code and
 * op->detail, and also the calling thread's detail. Returns code. */
ORBIT_API int orbit_op_fail(orbit_kv_op *op, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Copy the calling thread's detail into op->detail (for a provider that
 * completes an op with the result of a synchronous call that set it). */
ORBIT_API void orbit_op_take_detail(orbit_kv_op *op);

/* The provider's own snapshot object (from snapshot_open) behind a
 * caller's snapshot, or NULL for NULL. */
ORBIT_API void *orbit_snapshot_object(const orbit_snapshot *s);

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
     * rules as orbit_kv_submit(); an op's snapshot is the caller's
     * orbit_snapshot, whose provider object orbit_snapshot_object() gives.
     * Each op that fails gets its own detail (orbit_op_fail). A version-1
     * provider sees only GET, PUT and DEL without snapshots: the contract
     * layer runs other ops inline before submitting the rest. */
    int (*submit)(void *self, orbit_kv_op *ops, size_t n,
                  orbit_kv_done_fn done, void *arg);

    /* ---- version 2 (every member optional unless said otherwise; NULL
     * means the contract layer's generic fallback, or ORBIT_ENOTSUP) ---- */

    /* Multi-get at snap (NULL: latest), as orbit_kv_multi_get: fill
     * vals[i]/status[i] for every i, return 0 or the first negative status. */
    int (*multi_get)(void *self, void *snap, size_t n, const orbit_slice *keys,
                     orbit_buf *vals, int *status);
    int (*txn_multi_get)(void *txn, size_t n, const orbit_slice *keys,
                         orbit_buf *vals, int *status);
    /* Delete [r->lo, r->hi) (lo non-NULL; hi NULL: no upper bound). */
    int (*delete_range)(void *self, const orbit_range *r);
    /* As orbit_kv_cas (current may be NULL). */
    int (*cas)(void *self, const uint8_t *k, size_t kl,
               const orbit_slice *expected, const orbit_slice *desired,
               orbit_buf *current);
    /* As orbit_iter_seek; key is already known to be non-empty. */
    int (*iter_seek)(void *it, const uint8_t *k, size_t kl);
    /* The version a snapshot reads at (see orbit/kv.h, Versions). Required
     * with snapshot_open in a version-2 table. */
    uint64_t (*snapshot_version)(void *self, void *snap);
    int (*snapshot_open_at)(void *self, uint64_t version, void **snap);
    /* write / txn_commit that also report the commit version (*version is
     * never NULL here). When present they are used instead of write and
     * txn_commit, which must still be set. txn_commit_version frees the
     * transaction in every case, like txn_commit. */
    int (*write_version)(void *self, const orbit_batch *b, uint64_t *version);
    int (*txn_commit_version)(void *txn, uint64_t *version);
    /* Native range delete in a transaction; NULL: the contract layer scans
     * the transaction's view and deletes key by key. */
    int (*txn_delete_range)(void *txn, const orbit_range *r);
    /* ---- version 3 ---- */
    /* As orbit_txn_put_untracked / orbit_txn_del_untracked: writes with no
     * conflict tracking of their own; NULL: txn_put / txn_del. */
    int (*txn_put_untracked)(void *txn, const uint8_t *k, size_t kl,
                             const uint8_t *v, size_t vl);
    int (*txn_del_untracked)(void *txn, const uint8_t *k, size_t kl);
    /* ---- version 4 ---- */
    /* As orbit_kv_store_stats: *out arrives with every field
     * ORBIT_STAT_NONE; set those the provider can report. NULL: ENOTSUP. */
    int (*store_stats)(void *self, orbit_store_stats *out);
} orbit_provider;

/* Register a provider under p->name. The table must outlive the process's
 * use of Orbit. Built-in providers (memory, rocksdb, etcd) are registered
 * already. ORBIT_EEXIST if the name is taken; ORBIT_EINVAL, naming the
 * member, if the version is unknown or a required member is NULL:
 * open, close, capabilities, get, put, del, write, iter_open, iter_next,
 * iter_close; snapshot_open and snapshot_release together (and, from
 * version 2, snapshot_version with them); every txn_* member of version 1
 * together, or none. Thread-safe. */
ORBIT_API int orbit_provider_register(const orbit_provider *p);

/* The registered provider named `name`, or NULL. */
ORBIT_API const orbit_provider *orbit_provider_find(const char *name);

#ifdef __cplusplus
}
#endif
#endif
