/*
 * Private to the RocksDB provider (src/providers/rocksdb/): the store,
 * snapshot, transaction and iterator objects its three files share.
 *
 * The provider sits on RocksDB's C API (librocksdb 7.8). A store is either a
 * TransactionDB (txn=pessimistic: plain writes take the same key locks as
 * transactions) or an OptimisticTransactionDB (txn=optimistic: plain writes
 * go to its base DB, conflicts surface at commit). Every foreign error string
 * is turned into an Orbit code by orbit__rdb_classify() (through
 * orbit__rdb_error()) and nowhere else.
 *
 * Versions are RocksDB sequence numbers. The 7.8 C API has neither
 * rocksdb_snapshot_get_sequence_number nor a TransactionDB's latest
 * sequence number; rdb_seq.cc reads both through the C++ objects behind the
 * C handles.
 */
#ifndef ORBIT_RDB_INT_H
#define ORBIT_RDB_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <rocksdb/c.h>

#include "orbit/provider.h"

/* Largest value the provider stores: RocksDB's own ceiling is near 4 GiB,
 * but a value is held whole in memory several times on its way to disk
 * (batch, WAL record, memtable), so larger ones are refused up front. The
 * data models promise their users 64 MiB (inclusive) and wrap each value in
 * a record envelope (orbit/record.h: a few dozen bytes plus the actor's
 * type and id), so the provider's limit leaves 64 KiB above that for the
 * envelope. The memory provider enforces the same limit
 * (ORBIT_MEMORY_MAX_VALUE). */
#define ORBIT_RDB_MAX_VALUE (((size_t)64 << 20) + ((size_t)64 << 10))

typedef enum rdb_mode {
    RDB_PESSIMISTIC = 0,
    RDB_OPTIMISTIC = 1,
} rdb_mode;

/* Where an error arose: the same RocksDB status means different things in
 * and out of a transaction (a lock timeout is a conflict inside one, a busy
 * store outside). */
typedef enum rdb_ctx {
    RDB_CTX_PLAIN = 0,
    RDB_CTX_TXN = 1,
    RDB_CTX_OPEN = 2,
} rdb_ctx;

/* What orbit__rdb_wal_scan() found in a store's write-ahead log. */
typedef enum rdb_wal_verdict {
    RDB_WAL_CLEAN = 0,     /* every record intact to the end */
    RDB_WAL_TORN_TAIL = 1, /* damage with nothing intact after it */
    RDB_WAL_DAMAGED = 2,   /* damage followed by intact records */
} rdb_wal_verdict;

typedef struct rdb_wal_report {
    rdb_wal_verdict verdict;
    size_t files;        /* WAL files scanned */
    uint64_t bytes;      /* their total size */
    uint64_t records;    /* complete records before the damage */
    /* Not clean: the damaged record starts at (file, offset), and the first
     * bad byte is at (bad_file, bad_offset), for `reason`. */
    char file[32];
    uint64_t offset;
    char bad_file[32];
    uint64_t bad_offset;
    char reason[64];
    uint64_t dropped;       /* bytes from (file, offset) to the end of the WAL */
    uint64_t records_after; /* intact records past the damage */
    uint64_t valid_after;   /* their payload bytes */
} rdb_wal_report;

/* rdb_wal.c: read every WAL file of directory `dir` (only reads; needs no
 * lock) and fill *rep. 0, ORBIT_EIO (with detail) or ORBIT_ENOMEM. */
int orbit__rdb_wal_scan(const char *dir, rdb_wal_report *rep);
/* CRC32C of p[0..n), extending crc (0 to start). */
uint32_t orbit__rdb_crc32c(uint32_t crc, const void *p, size_t n);

/* rdb_l0.cc, for a store opened for writing with automatic compactions
 * off: if its level 0 holds at least `min_files` files, compact them into
 * level 1 now, in the calling thread, at most `chunk` files (the oldest
 * first) per compaction so no more than that many are open at once; then
 * turn automatic compactions on. *before / *after: level-0 file counts.
 * *err: NULL, or a RocksDB status text (malloc'ed, for orbit__rdb_error).
 * `db` is the base DB (rocksdb_t), or NULL when tdb is set. */
void orbit__rdb_compact_l0(rocksdb_t *db, rocksdb_transactiondb_t *tdb, int min_files,
                           int chunk, int *before, int *after, char **err);

/* rdb_occ.cc: rocksdb_optimistictransactiondb_open with `buckets`
 * validation lock buckets (RocksDB's default is 2^20). NULL with *err set
 * (a RocksDB status text, malloc'ed) or, out of memory, with *err NULL. */
#define RDB_OCC_BUCKETS (1u << 16)
rocksdb_optimistictransactiondb_t *orbit__rdb_occ_open(const rocksdb_options_t *o,
                                                       const char *path, unsigned buckets,
                                                       char **err);

typedef struct rdb {
    rdb_mode mode;
    int read_only; /* opened with rocksdb_open_for_read_only: base only */
    rocksdb_transactiondb_t *tdb;           /* pessimistic only */
    rocksdb_optimistictransactiondb_t *odb; /* optimistic only */
    rocksdb_t *base; /* optimistic: the base DB; read-only: the DB itself */
    /* Created at open and only read afterwards, so every thread shares them:
     * the hot path allocates no options. */
    rocksdb_readoptions_t *ro;
    rocksdb_writeoptions_t *wo;
    rocksdb_transaction_options_t *txo_snap, *txo_rc;
    rocksdb_optimistictransaction_options_t *otxo_snap, *otxo_rc;
    int wal;  /* 0: writes skip the WAL (not durable until flushed) */
    /* Bytes of WAL the open dropped (a torn tail, or salvage), 0 if none;
     * also in the open's warning and error detail. */
    uint64_t wal_dropped;
    char *path;
    /*
     * Optimistic mode only: RocksDB validates an optimistic transaction
     * against the memtables it keeps, and a range tombstone is seen there
     * only on a key that also has a point entry in one of them. A key whose
     * newest entry is older (e.g. after a reopen) does not conflict with a
     * range delete, although the transaction read it for update (tested in
     * test_rocksdb.c). So range deletes count themselves in `rd_epoch`
     * under the write side of `rd_lock`, and an optimistic transaction that
     * wrote or locked a key commits under the read side, failing with
     * ECONFLICT if the epoch moved since it began: conservative (any range
     * delete, not only an overlapping one), never missed.
     */
    pthread_rwlock_t rd_lock;
    uint64_t rd_epoch; /* read and written under rd_lock */
} rdb;

/* A snapshot carries its own read options so reads at it allocate none;
 * both are read-only after creation, hence shareable across threads. */
typedef struct rdb_snap {
    const rocksdb_snapshot_t *snap;
    rocksdb_readoptions_t *ro;
    uint64_t seq; /* the snapshot's sequence number: its version */
} rdb_snap;

typedef struct rdb_iter rdb_iter;

/* The Orbit code for a RocksDB status text (Status::ToString(): the code's
 * fixed string, then the subcode's, then the message, each after ": "), in
 * context ctx. Pure: records nothing. The table is in rdb.c and
 * docs/ARCHITECTURE.md. NULL or an unknown text is ORBIT_EIO. */
int orbit__rdb_classify(const char *err, rdb_ctx ctx);

/* Translate a RocksDB errptr string into an Orbit code, record the text as
 * the thread's error detail (prefixed by `what`), and free the string. */
int orbit__rdb_error(char *err, rdb_ctx ctx, const char *what);

/* The latest sequence number of the store: after a write returned, a
 * version at which the write is visible (an upper bound of its own
 * number when other writers run concurrently). */
uint64_t orbit__rdb_latest_seq(rdb *db);

/* rdb_seq.cc: the sequence number a snapshot reads at, and a
 * TransactionDB's latest one. */
uint64_t orbit__rdb_snapshot_seq(const rocksdb_snapshot_t *s);
uint64_t orbit__rdb_txndb_latest_seq(rocksdb_transactiondb_t *tdb);

/* rdb_untracked.cc: Transaction::PutUntracked / DeleteUntracked (no
 * conflict tracking of the key); *err as the C API sets it. */
void orbit__rdb_raw_put_untracked(rocksdb_transaction_t *t, const char *k, size_t kl,
                                  const char *v, size_t vl, char **err);
void orbit__rdb_raw_del_untracked(rocksdb_transaction_t *t, const char *k, size_t kl,
                                  char **err);

/* Pessimistic mode: apply a batch holding range deletes in one
 * TransactionDB transaction, so every key it deletes is locked like any
 * other write (TransactionDB::Write refuses DeleteRange). Ranges delete the
 * keys the transaction sees, in order with the other entries. The entries
 * are b's, or (b NULL) the single entry `one`. */
int orbit__rdb_write_locked(rdb *db, const orbit_batch *b,
                            const orbit_batch_entry *one);

/* Iterators over [lo, hi). orbit__rdb_iter_new builds the iterator's read
 * options (snapshot or NULL, bounds copied into the iterator so they outlive
 * it); the caller then creates the RocksDB iterator from
 * orbit__rdb_iter_readopts() and hands it over with orbit__rdb_iter_attach. */
int orbit__rdb_iter_new(const orbit_range *r, const rocksdb_snapshot_t *snap,
                        rdb_ctx ctx, rdb_iter **out);
rocksdb_readoptions_t *orbit__rdb_iter_readopts(rdb_iter *it);
void orbit__rdb_iter_attach(rdb_iter *it, rocksdb_iterator_t *ri);
int orbit__rdb_iter_next(void *it, const uint8_t **k, size_t *kl,
                         const uint8_t **v, size_t *vl);
int orbit__rdb_iter_seek(void *it, const uint8_t *k, size_t kl);
void orbit__rdb_iter_close(void *it);

/* Transactions (rdb_txn.c). */
int orbit__rdb_txn_begin(void *self, const orbit_txn_opts *opts, void **txn);
int orbit__rdb_txn_get(void *txn, const uint8_t *k, size_t kl, int for_update,
                       orbit_value_fn fn, void *arg);
int orbit__rdb_txn_put(void *txn, const uint8_t *k, size_t kl,
                       const uint8_t *v, size_t vl);
int orbit__rdb_txn_del(void *txn, const uint8_t *k, size_t kl);
int orbit__rdb_txn_put_untracked(void *txn, const uint8_t *k, size_t kl,
                                 const uint8_t *v, size_t vl);
int orbit__rdb_txn_del_untracked(void *txn, const uint8_t *k, size_t kl);
int orbit__rdb_txn_iter_open(void *txn, const orbit_range *r, void **it);
int orbit__rdb_txn_commit(void *txn);
int orbit__rdb_txn_commit_version(void *txn, uint64_t *version);
void orbit__rdb_txn_rollback(void *txn);
int orbit__rdb_txn_multi_get(void *txn, size_t n, const orbit_slice *keys,
                             orbit_buf *vals, int *status);

/* rocksdb_transaction_multi_get into vals/status (rdb.c, beside the plain
 * multi-get it shares its arrays with): 0 or the first negative status. */
int orbit__rdb_txn_mget_raw(rocksdb_transaction_t *t,
                            const rocksdb_readoptions_t *ro, size_t n,
                            const orbit_slice *keys, orbit_buf *vals,
                            int *status);

/*
 * RocksDB's lock manager guards its table of key locks with striped mutexes,
 * and with lock_timeout 0 it only try-locks the stripe: another thread
 * locking an unrelated key of the same stripe at that instant makes the call
 * fail with "Timeout Acquiring Mutex" although no key lock is in its way.
 * Such a failure has written and locked nothing, so the call is repeated.
 * orbit__rdb_retry_mutex() returns 1 (and frees *err) when *err is that
 * failure and the retry budget (a short time, yielding the CPU between tries)
 * is not spent; otherwise 0, leaving *err for orbit__rdb_error().
 */
typedef struct rdb_retry {
    uint64_t deadline_ns; /* 0 until the first retry */
} rdb_retry;

int orbit__rdb_retry_mutex(char **err, rdb_retry *r);

/* Run `call` (which sets errptr `err`) until it succeeds, fails for another
 * reason, or the stripe-mutex retry budget is spent. */
#define RDB_CALL_LOCKING(err, call)                          \
    do {                                                     \
        rdb_retry rdb_retry_ = {0};                          \
        do {                                                 \
            call;                                            \
        } while (orbit__rdb_retry_mutex(&(err), &rdb_retry_)); \
    } while (0)

/* ORBIT_ETOOBIG (with detail) if a value exceeds ORBIT_RDB_MAX_VALUE. */
int orbit__rdb_check_value(size_t vl);

/* ORBIT_ENOTSUP naming the store if it was opened read-only, else 0. */
int orbit__rdb_check_writable(const rdb *db, const char *what);

/* rdb_stats.cc: attach a tickers-only Statistics object to options o
 * before the open (the block cache's hits and misses), and the table's
 * store_stats member (orbit_kv_store_stats). */
void orbit__rdb_stats_enable(rocksdb_options_t *o);
int orbit__rdb_store_stats(void *self, orbit_store_stats *out);

#endif
