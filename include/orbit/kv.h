/*
 * The provider contract, as callers see it.
 *
 * An orbit_kv is an open store: one provider (memory, rocksdb, and later
 * etcd, tikv) behind one set of calls. Every data model and the server use
 * only these calls, so the provider behind them can change without the
 * application changing. Keys and values are byte strings; keys are ordered
 * by unsigned byte-wise comparison (memcmp, then length).
 *
 * Threads: an orbit_kv may be used from many threads at once. An orbit_txn,
 * an orbit_iter and an orbit_batch belong to one thread at a time. An
 * orbit_snapshot may be read from many threads at once.
 *
 * Ownership: every *_open / *_new / *_begin has exactly one matching
 * close / free / commit-or-rollback. Pointers passed in are borrowed for the
 * duration of the call only, except where a comment says otherwise (the
 * asynchronous path). Pointers handed out by iterators and value callbacks
 * are borrowed and live as long as stated at each function.
 *
 * Return codes: see orbit/error.h. ORBIT_NOTFOUND (positive) is a normal
 * outcome of reads, never an error; ORBIT_CMPFAIL (positive) is the normal
 * "comparison failed" outcome of orbit_kv_cas. A write that may have been
 * applied before contact was lost returns ORBIT_EUNCERTAIN, never a
 * retryable code.
 *
 * Growing structs: every public option and result struct here
 * (orbit_capabilities, orbit_kv_stats, orbit_store_stats, orbit_read_opts,
 * orbit_scan_opts, orbit_txn_opts, orbit_kv_op) only ever grows at its end,
 * and every field added later means "as before" when zero (a result field
 * added later is filled by the library). Zero-initialise them
 * (`orbit_scan_opts so = {0};`) and set the fields you use, and new
 * versions of this header keep your code's meaning. Binary compatibility
 * across a growth is the soname's: liborbit's major version changes when a
 * public struct grows.
 */
#ifndef ORBIT_KV_H
#define ORBIT_KV_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"
#include "orbit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orbit_kv orbit_kv;
typedef struct orbit_txn orbit_txn;
typedef struct orbit_iter orbit_iter;
typedef struct orbit_batch orbit_batch;
typedef struct orbit_snapshot orbit_snapshot;

/* A borrowed byte string: data may be NULL when len is 0. */
typedef struct orbit_slice {
    const uint8_t *data;
    size_t len;
} orbit_slice;

/* ---- opening -------------------------------------------------------- */

/*
 * Open a store from a URI: "memory:", "rocksdb:PATH[?k=v&...]" (see
 * docs/ARCHITECTURE.md for each provider's options). An unknown scheme is
 * ORBIT_ENOPROVIDER, a malformed URI or unknown option ORBIT_EBADURI /
 * ORBIT_EINVAL, with the offending part in orbit_last_error_detail().
 * On success *out owns the store; close it with orbit_kv_close(), and
 * orbit_last_error_detail() may hold a warning from the open (a rocksdb
 * store that recovered by cutting a torn WAL tail says what it dropped).
 */
ORBIT_API int orbit_kv_open(const char *uri, orbit_kv **out);

/* Close the store. Every txn, iterator and snapshot of it must already be
 * finished. NULL is accepted. */
ORBIT_API void orbit_kv_close(orbit_kv *kv);

/* ---- capabilities and statistics ------------------------------------ */

typedef enum orbit_provider_type {
    ORBIT_PROVIDER_MEMORY = 1,      /* in-process, not durable */
    ORBIT_PROVIDER_EMBEDDED = 2,    /* in-process, durable (RocksDB) */
    ORBIT_PROVIDER_DISTRIBUTED = 3, /* a remote cluster (etcd, TiKV) */
} orbit_provider_type;

typedef enum orbit_isolation {
    /* All reads see one snapshot taken at begin; the transaction fails with
     * ORBIT_ECONFLICT if another writer changed a key it writes (or read
     * for update) after that snapshot. The default (zero). */
    ORBIT_ISO_SNAPSHOT = 0,
    /* Each read sees the latest committed data; only keys the transaction
     * writes or reads for update are checked for conflicts. */
    ORBIT_ISO_READ_COMMITTED = 1,
    /* Snapshot, plus every key read is checked at commit. Providers that
     * cannot guarantee it (see capabilities) return ORBIT_ENOTSUP. */
    ORBIT_ISO_SERIALIZABLE = 2,
} orbit_isolation;

#define ORBIT_ISO_BIT(level) (1u << (level))

typedef struct orbit_capabilities {
    orbit_provider_type type;
    const char *name;                      /* static: "rocksdb", ... */
    int durable;                           /* acknowledged writes survive a crash */
    int supports_transactions;
    int supports_distributed_transactions;
    int supports_multi_region;
    int supports_snapshots;
    int native_async;                      /* orbit_kv_submit overlaps operations */
    unsigned isolation_levels;             /* mask of ORBIT_ISO_BIT(level) */
    size_t max_batch_ops;                  /* 0: no limit */
    size_t max_key_size;                   /* 0: no limit */
    size_t max_value_size;                 /* 0: no limit */
    /* ---- contract v2 ---- */
    /* Versions: every snapshot has one (orbit_snapshot_version) where
     * supports_snapshots is set. */
    int supports_snapshot_at;      /* orbit_kv_snapshot_at: history is kept */
    int supports_commit_version;   /* commits report their version */
    /* Native forms (else the contract layer's generic fallback runs). */
    int native_multi_get;          /* one provider call for many keys */
    int native_range_delete;       /* a range tombstone, not key by key */
    int native_cas;                /* compare-and-set without a transaction */
    int supports_batch_range_delete; /* orbit_batch_delete_range */
    /* Transaction limits (0: no limit): distinct keys a transaction may
     * write (and, on providers that check them at commit, read for
     * update), and the bytes its commit may take, counted by the provider
     * as it encodes the commit (so a little more than the keys and values;
     * docs/ARCHITECTURE.md gives each provider's rule). Crossing one is
     * ORBIT_ETOOBIG at the write that crosses it, naming the limit; the
     * transaction stays usable. */
    size_t max_txn_keys;
    size_t max_txn_bytes;
} orbit_capabilities;

ORBIT_API void orbit_kv_capabilities(const orbit_kv *kv, orbit_capabilities *out);

/* Counters kept by the contract layer for every provider. Monotonic since
 * open; read without stopping writers, so fields are individually exact but
 * not a single atomic picture. */
typedef struct orbit_kv_stats {
    uint64_t gets, puts, deletes, batches, scans;
    uint64_t txns_begun, txns_committed, txns_rolled_back, txns_conflicted;
    uint64_t keys_read, keys_written, bytes_read, bytes_written;
    uint64_t errors;
    /* ---- contract v2 ---- */
    /* Calls into the provider that read: one per get (plain or in a
     * transaction), per native multi-get call (a fallback multi-get counts
     * one per key), per iterator opened and per seek. Models assert their
     * costs with it (docs/ARCHITECTURE.md). */
    uint64_t read_calls;
    uint64_t multi_gets; /* orbit_kv_multi_get / orbit_txn_multi_get calls */
} orbit_kv_stats;

ORBIT_API void orbit_kv_stats_get(const orbit_kv *kv, orbit_kv_stats *out);

/* ---- store statistics (contract v4) --------------------------------- */

/* The value of an orbit_store_stats field the provider does not report. */
#define ORBIT_STAT_NONE UINT64_MAX

/*
 * What a provider can say about the data it holds and its cache, read at
 * the call (a remote provider asks its cluster: one or two round trips).
 * Unlike orbit_kv_stats these are the provider's own figures, not the
 * contract layer's counts; each field is ORBIT_STAT_NONE where the
 * provider cannot report it honestly. docs/ARCHITECTURE.md gives each
 * provider's sources; in short:
 *   memory:  keys and live_bytes exact (a walk of the map under its read
 *            lock), size_bytes every retained version's key and value
 *            bytes; no cache, no write buffer;
 *   rocksdb: size_bytes = SST files + memtables, live_bytes RocksDB's
 *            estimate of live data in the SST files, keys its estimate
 *            (rocksdb.estimate-num-keys: overwrites and deletes are not
 *            netted out until compaction), memtable_bytes, the block
 *            cache's capacity, usage, hits and misses since open;
 *   etcd:    size_bytes the answering member's backend file (dbSize, shared
 *            by every namespace of the cluster), live_bytes its part in use
 *            (dbSizeInUse), keys exact for the store's namespace (a
 *            count-only range).
 */
typedef struct orbit_store_stats {
    uint64_t size_bytes;           /* space the store's data takes */
    uint64_t live_bytes;           /* of it, live data (an estimate on rocksdb) */
    uint64_t keys;                 /* keys stored (see keys_exact) */
    uint64_t memtable_bytes;       /* write buffers not yet in files */
    uint64_t cache_capacity_bytes; /* the provider's read cache */
    uint64_t cache_usage_bytes;
    uint64_t cache_hits;           /* cache lookups since open that hit */
    uint64_t cache_misses;         /* ... and that missed */
    int keys_exact;                /* 1: keys is exact; 0: an estimate */
} orbit_store_stats;

/*
 * Fill *out (every field first set to ORBIT_STAT_NONE, keys_exact 0).
 * 0; ORBIT_ENOTSUP for a provider that reports none of it (a provider
 * table before version 4, or without the member; *out stays all NONE); or
 * the provider's error (a remote cluster unreachable: ORBIT_EUNAVAIL ...),
 * with *out holding whatever was read before it.
 */
ORBIT_API int orbit_kv_store_stats(orbit_kv *kv, orbit_store_stats *out);

/* ---- snapshots ------------------------------------------------------ */

/* A consistent point-in-time view of the whole store. Release it with
 * orbit_snapshot_release() before closing the store. */
ORBIT_API int orbit_kv_snapshot(orbit_kv *kv, orbit_snapshot **out);
ORBIT_API void orbit_snapshot_release(orbit_snapshot *snap);

/*
 * Versions. Every committed change of a store is ordered by a 64-bit
 * version that only grows: RocksDB's sequence number, etcd's revision,
 * later a TiKV timestamp. A snapshot's version says which changes it sees
 * (exactly those with a version <= it); a commit's version is one at which
 * the commit is visible (a snapshot with a version >= it sees the commit).
 */
ORBIT_API uint64_t orbit_snapshot_version(const orbit_snapshot *snap);

/* A snapshot at an earlier (or the current) version, where the provider
 * keeps history (capabilities.supports_snapshot_at); ORBIT_ENOTSUP
 * elsewhere. A version no longer kept is ORBIT_ECOMPACTED (retryable: take
 * a newer version); one not reached yet is ORBIT_EINVAL. */
ORBIT_API int orbit_kv_snapshot_at(orbit_kv *kv, uint64_t version,
                                   orbit_snapshot **out);

typedef struct orbit_read_opts {
    const orbit_snapshot *snapshot; /* NULL: read the latest data */
} orbit_read_opts;

/* ---- point operations ----------------------------------------------- */

/*
 * A borrowing read: fn is called once, on the calling thread, with the
 * value, which lives only until fn returns (it may point into the
 * provider's cache). fn must not call back into the same store. If fn
 * returns non-zero, that value is returned by the get.
 */
typedef int (*orbit_value_fn)(void *arg, const uint8_t *val, size_t len);

/* 0: found (fn was called); ORBIT_NOTFOUND; or a negative error.
 * ro may be NULL. */
ORBIT_API int orbit_kv_get_with(orbit_kv *kv, const orbit_read_opts *ro,
                                const uint8_t *key, size_t klen,
                                orbit_value_fn fn, void *arg);

/* Copying read into the caller's buffer (its contents are replaced).
 * 0: found; ORBIT_NOTFOUND (out is then empty); or a negative error. */
ORBIT_API int orbit_kv_get(orbit_kv *kv, const orbit_read_opts *ro,
                           const uint8_t *key, size_t klen, orbit_buf *out);

ORBIT_API int orbit_kv_put(orbit_kv *kv, const uint8_t *key, size_t klen,
                           const uint8_t *val, size_t vlen);

/* Deleting an absent key succeeds. */
ORBIT_API int orbit_kv_del(orbit_kv *kv, const uint8_t *key, size_t klen);

/*
 * Multi-get: read n keys at once, all from one view (the snapshot in ro,
 * or the latest data as of one instant where the provider reads natively;
 * the generic fallback reads key by key). For each i, status[i] is 0
 * (vals[i] holds the value, contents replaced), ORBIT_NOTFOUND (vals[i]
 * emptied) or a negative error. Returns 0 when every key was read (found
 * or not), else the first negative status. keys, vals and status are
 * arrays of n caller-owned elements; n == 0 is a no-op. Duplicate keys are
 * allowed and read alike.
 */
ORBIT_API int orbit_kv_multi_get(orbit_kv *kv, const orbit_read_opts *ro,
                                 size_t n, const orbit_slice *keys,
                                 orbit_buf *vals, int *status);

/*
 * Delete every key k with start <= k < end, atomically. A NULL or empty
 * end means no upper bound; start must be non-empty. start >= end deletes
 * nothing and succeeds. Native (one range tombstone) where
 * capabilities.native_range_delete is set, else the contract layer deletes
 * the keys it finds inside one transaction (ORBIT_ENOTSUP on a provider
 * with neither). Counts one delete in the statistics.
 */
ORBIT_API int orbit_kv_delete_range(orbit_kv *kv, const uint8_t *start,
                                    size_t slen, const uint8_t *end,
                                    size_t elen);

/*
 * Compare-and-set one key, atomically with respect to every other write:
 *   expected NULL: succeed only if the key is absent (insert-if-absent);
 *   else: succeed only if the key holds exactly expected's bytes;
 *   desired NULL: on success delete the key, else write desired's bytes.
 * Returns 0 (applied), ORBIT_CMPFAIL (the key holds another value; nothing
 * written; if current is non-NULL it receives that value), ORBIT_NOTFOUND
 * (expected was given but the key is absent; nothing written; current is
 * emptied), or a negative error. Native on providers that compare
 * (capabilities.native_cas); elsewhere a transaction with get_for_update,
 * retried on ORBIT_ECONFLICT a bounded number of times. current must not
 * share memory with expected or desired (it is emptied first).
 */
ORBIT_API int orbit_kv_cas(orbit_kv *kv, const uint8_t *key, size_t klen,
                           const orbit_slice *expected,
                           const orbit_slice *desired, orbit_buf *current);

/* orbit_kv_cas(kv, key, klen, NULL, &{val, vlen}, current). */
ORBIT_API int orbit_kv_put_if_absent(orbit_kv *kv, const uint8_t *key,
                                     size_t klen, const uint8_t *val,
                                     size_t vlen, orbit_buf *current);

/* ---- atomic write batch --------------------------------------------- */

/* A list of puts and deletes applied all-or-nothing by orbit_kv_write().
 * The batch copies keys and values. Later entries win over earlier ones on
 * the same key. */
ORBIT_API int orbit_batch_new(orbit_batch **out);
ORBIT_API void orbit_batch_free(orbit_batch *b);
ORBIT_API void orbit_batch_clear(orbit_batch *b);
ORBIT_API int orbit_batch_put(orbit_batch *b, const uint8_t *key, size_t klen,
                              const uint8_t *val, size_t vlen);
ORBIT_API int orbit_batch_del(orbit_batch *b, const uint8_t *key, size_t klen);
/* Delete [start, end) as one entry, in order with the others (a later put
 * inside the range survives it; an earlier one does not). Bounds as in
 * orbit_kv_delete_range. A provider without
 * capabilities.supports_batch_range_delete refuses the whole batch with
 * ORBIT_ENOTSUP at orbit_kv_write. */
ORBIT_API int orbit_batch_delete_range(orbit_batch *b, const uint8_t *start,
                                       size_t slen, const uint8_t *end,
                                       size_t elen);
ORBIT_API size_t orbit_batch_count(const orbit_batch *b);

/* Apply every entry atomically. More entries than the provider's
 * max_batch_ops is ORBIT_ETOOBIG. The batch is left unchanged. */
ORBIT_API int orbit_kv_write(orbit_kv *kv, const orbit_batch *b);

/* The same, reporting the version the batch committed at (see Versions)
 * in *version where capabilities.supports_commit_version is set, else 0.
 * version may be NULL. */
ORBIT_API int orbit_kv_write_version(orbit_kv *kv, const orbit_batch *b,
                                     uint64_t *version);

/* ---- ordered range scans -------------------------------------------- */

/*
 * The keys visited are those k with start <= k < end and k starting with
 * prefix; NULL start / end / prefix leave that side open. Ascending order,
 * or descending when reverse is set. limit 0 means no limit.
 */
typedef struct orbit_scan_opts {
    const uint8_t *start;
    size_t start_len;
    const uint8_t *end;
    size_t end_len;
    const uint8_t *prefix;
    size_t prefix_len;
    size_t limit;
    int reverse;
    /* ---- contract v2 ---- */
    int keys_only;    /* values are not read: *val is "" and *vlen 0 */
    /* Stop after the entry that brings the keys and values returned to at
     * least max_bytes (so at least one entry is returned); 0: no limit.
     * Both limits are passed to the provider, so a remote one fetches no
     * more than they allow. */
    size_t max_bytes;
} orbit_scan_opts;

ORBIT_API int orbit_kv_iter(orbit_kv *kv, const orbit_read_opts *ro,
                            const orbit_scan_opts *so, orbit_iter **out);

/* 0: *key / *val point at the next entry, borrowed until the next call on
 * this iterator or its close; ORBIT_NOTFOUND: no more entries; or a
 * negative error (the iterator can then only be closed). */
ORBIT_API int orbit_iter_next(orbit_iter *it, const uint8_t **key, size_t *klen,
                              const uint8_t **val, size_t *vlen);
ORBIT_API void orbit_iter_close(orbit_iter *it);

/*
 * Reposition: the next orbit_iter_next returns the first key >= key
 * (ascending) or the last key <= key (descending), within the iterator's
 * range and at its view (the same snapshot). Entries already returned
 * count toward the limits, which seeking does not reset. 0, ORBIT_ENOTSUP
 * on a provider without seek, or an error. An iterator that failed can
 * only be closed.
 */
ORBIT_API int orbit_iter_seek(orbit_iter *it, const uint8_t *key, size_t klen);

/* ---- transactions --------------------------------------------------- */

typedef struct orbit_txn_opts {
    orbit_isolation isolation; /* zeroed opts or NULL: ORBIT_ISO_SNAPSHOT */
} orbit_txn_opts;

/*
 * A transaction sees its own writes. Conflicts are reported as
 * ORBIT_ECONFLICT (retryable) by a write or get_for_update (pessimistic
 * providers) or by commit (optimistic ones); after any error the
 * transaction must be rolled back. Commit and rollback both free the
 * handle, whatever their outcome.
 */
ORBIT_API int orbit_kv_txn_begin(orbit_kv *kv, const orbit_txn_opts *opts,
                                 orbit_txn **out);
ORBIT_API int orbit_txn_get_with(orbit_txn *t, const uint8_t *key, size_t klen,
                                 orbit_value_fn fn, void *arg);
ORBIT_API int orbit_txn_get(orbit_txn *t, const uint8_t *key, size_t klen,
                            orbit_buf *out);
/* Read and claim the key: a concurrent change to it makes this transaction
 * (or the other writer) fail with ORBIT_ECONFLICT. */
ORBIT_API int orbit_txn_get_for_update(orbit_txn *t, const uint8_t *key,
                                       size_t klen, orbit_buf *out);
ORBIT_API int orbit_txn_put(orbit_txn *t, const uint8_t *key, size_t klen,
                            const uint8_t *val, size_t vlen);
ORBIT_API int orbit_txn_del(orbit_txn *t, const uint8_t *key, size_t klen);
/*
 * Untracked writes: written atomically with the transaction at commit and
 * visible to its own reads, like orbit_txn_put / orbit_txn_del, but not
 * checked for conflicts of their own: the provider skips validating the
 * key against what this transaction began from (RocksDB optimistic: the
 * key is not tracked; pessimistic: it is still locked, not validated).
 * Another transaction that wrote or claimed the key is still checked
 * against this write as usual. Counted in puts / deletes. Sound only when
 *   - every other transaction that writes the key (tracked or not) also
 *     writes a key that this one claims (reads for update, or writes with
 *     orbit_txn_put / orbit_txn_del), so a conflict on the key is always
 *     also one on a claimed key; or
 *   - this transaction's writes depend on nothing it read (blind writes;
 *     its reads are only of keys it claims), so it is ordered at its
 *     commit whatever else wrote the key meanwhile.
 * Plain writes of the key (orbit_kv_put, orbit_kv_write) are then "other
 * transactions" that claim nothing: avoid them. A provider without a
 * native call (memory, etcd) makes these ordinary tracked writes.
 */
ORBIT_API int orbit_txn_put_untracked(orbit_txn *t, const uint8_t *key,
                                      size_t klen, const uint8_t *val,
                                      size_t vlen);
ORBIT_API int orbit_txn_del_untracked(orbit_txn *t, const uint8_t *key,
                                      size_t klen);
/* A scan that merges the transaction's own writes with its read view. The
 * iterator must be closed before the transaction finishes. */
ORBIT_API int orbit_txn_iter(orbit_txn *t, const orbit_scan_opts *so,
                             orbit_iter **out);
/* Read n keys in the transaction (its own writes included), as
 * orbit_kv_multi_get. */
ORBIT_API int orbit_txn_multi_get(orbit_txn *t, size_t n,
                                  const orbit_slice *keys, orbit_buf *vals,
                                  int *status);
/* Delete the keys in [start, end) that the transaction sees (bounds as in
 * orbit_kv_delete_range), each as if by orbit_txn_del, so each is checked
 * for conflicts like any other write. A key another writer inserts in the
 * range after this transaction read it is not deleted and does not
 * conflict. */
ORBIT_API int orbit_txn_delete_range(orbit_txn *t, const uint8_t *start,
                                     size_t slen, const uint8_t *end,
                                     size_t elen);
/*
 * Commit. 0; ORBIT_ECONFLICT (nothing applied, retry the whole
 * transaction); ORBIT_EUNCERTAIN when the outcome is unknown (contact lost
 * after the commit was sent: it may have been applied; see orbit/error.h);
 * or another error (nothing applied).
 */
ORBIT_API int orbit_txn_commit(orbit_txn *t);
/* The same, reporting the commit's version (see Versions) where
 * capabilities.supports_commit_version is set, else 0. A transaction that
 * wrote nothing reports 0. version may be NULL. */
ORBIT_API int orbit_txn_commit_version(orbit_txn *t, uint64_t *version);
ORBIT_API void orbit_txn_rollback(orbit_txn *t);

/* ---- asynchronous submit / complete --------------------------------- */

typedef enum orbit_op_type {
    ORBIT_OP_GET = 1,
    ORBIT_OP_PUT = 2,
    ORBIT_OP_DEL = 3,
    ORBIT_OP_DEL_RANGE = 4, /* batch entries only */
    ORBIT_OP_WRITE = 5,     /* submit: apply op.batch atomically */
    ORBIT_OP_MULTI_GET = 6, /* submit: read op.keys[0..nkeys) */
} orbit_op_type;

#define ORBIT_OP_DETAIL_MAX 160

typedef struct orbit_kv_op {
    orbit_op_type type;
    const uint8_t *key;
    size_t klen;
    const uint8_t *val; /* PUT only */
    size_t vlen;
    orbit_buf *out;     /* GET only: receives the value */
    int result;         /* set on completion: 0, ORBIT_NOTFOUND or an error */
    /* ---- contract v2 ---- */
    const orbit_snapshot *snapshot; /* GET, MULTI_GET: NULL reads the latest */
    const orbit_batch *batch;       /* WRITE */
    size_t nkeys;                   /* MULTI_GET: keys, vals, status as in */
    const orbit_slice *keys;        /* orbit_kv_multi_get; result is its */
    orbit_buf *vals;                /* return value */
    int *status;
    /* Set on completion when result < 0: this op's error detail (what
     * orbit_last_error_detail() would say for the synchronous call). Each
     * op carries its own, whatever thread completes it. */
    char detail[ORBIT_OP_DETAIL_MAX];
} orbit_kv_op;

/* Called once when every op of a submission has completed. */
typedef void (*orbit_kv_done_fn)(void *arg, orbit_kv_op *ops, size_t n);

/*
 * Start n independent operations (not atomic as a group) and return without
 * waiting where the provider can overlap them (capabilities.native_async):
 * a remote provider keeps them all in flight at once. done runs exactly once,
 * on a provider thread or, for in-process providers, on the calling thread
 * before orbit_kv_submit returns. The caller keeps ops, their keys, values,
 * batches, snapshots and out buffers alive until done runs. If
 * orbit_kv_submit returns an error, done never runs and no op was started.
 * A PUT, DEL or WRITE whose outcome is unknown completes with
 * ORBIT_EUNCERTAIN.
 */
ORBIT_API int orbit_kv_submit(orbit_kv *kv, orbit_kv_op *ops, size_t n,
                              orbit_kv_done_fn done, void *arg);

#ifdef __cplusplus
}
#endif
#endif
