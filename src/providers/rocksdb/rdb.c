/*
 * The RocksDB provider ("rocksdb:PATH[?options]"), Orbit's embedded default:
 * opening and closing a store, its options, point reads and writes, atomic
 * batches (with range deletes), multi-get, range deletes, snapshots and
 * their versions, plain iterators and the provider table (version 2).
 * Transactions, and pessimistic range deletes, live in rdb_txn.c, the
 * iterator walk and seek in rdb_iter.c.
 *
 * It sits directly under the contract layer (src/kv), which has already
 * validated arguments, so this file only adds what RocksDB needs: option
 * parsing, the value-size limit, and the translation of every RocksDB error
 * string into an Orbit code (orbit__rdb_error, the one place that reads
 * them).
 *
 * Opening says what it does: a missing store is ENOSTORE unless create=1
 * (the default; read_only=1 never creates); the WAL is checked first
 * (rdb_wal.c) and wal_recovery= decides between failing with ECORRUPT
 * (damage followed by intact records, or anything under strict), cutting a
 * torn tail with a warning, and salvage; read_only=1 opens RocksDB's
 * read-only mode, which refuses every write here with ENOTSUP; a writable
 * open then compacts a level 0 left by short-lived writers (rdb_l0.cc).
 *
 * Invariants:
 *   - after open, the store's read/write/transaction options are immutable,
 *     which is what lets every thread share them without locks;
 *   - in pessimistic mode every write goes through the TransactionDB so it
 *     waits for (or fails on) the key locks transactions hold; in optimistic
 *     mode plain writes go to the base DB and transactions validate at commit;
 *   - a RocksDB pinnable slice or errptr string never outlives the call that
 *     produced it;
 *   - in optimistic mode every range tombstone is written under the write
 *     side of rd_lock and advances rd_epoch (see struct rdb);
 *   - a snapshot's seq is exactly the sequence number it reads at.
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "base/base.h"
#include "providers/providers.h"
#include "providers/rocksdb/rdb_int.h"

/* What to do with a damaged write-ahead log (wal_recovery=). */
typedef enum rdb_recovery {
    /* Default. A torn tail (damage with nothing intact after it, the normal
     * leftover of a crash or a power loss under sync=off) is cut at the
     * last complete record and reported; any other damage fails the open
     * with ECORRUPT, changing nothing. */
    RDB_REC_TORN_TAIL = 0,
    /* Any damage, a torn tail too, fails the open. */
    RDB_REC_STRICT = 1,
    /* Explicit repair: keep every record before the first damage, drop the
     * rest (RocksDB's point-in-time recovery), and report what was dropped. */
    RDB_REC_SALVAGE = 2,
} rdb_recovery;

/* Options read from the URI, checked before anything touches the disk. */
typedef struct rdb_conf {
    rdb_mode mode;
    int sync;
    int wal;
    uint64_t cache_mb;
    int compression;
    uint64_t lock_timeout_ms;
    int create;
    int read_only;
    rdb_recovery recovery;
    int plain; /* internal: open a plain DB (recovery only) */
} rdb_conf;

/* Level 0 is compacted at a writable open once it holds this many files:
 * RocksDB's own level0_file_num_compaction_trigger, so the open does what
 * the background would, and leaves fewer files than would trigger it (no
 * background trivial move of a tiny file races the process's exit). At most
 * RDB_L0_CHUNK files per compaction. */
#define RDB_L0_COMPACT_FILES 4
#define RDB_L0_CHUNK 32

/* A block cache above 1 TiB is a typo, not a plan; the bound also keeps
 * cache_mb << 20 from overflowing. */
#define RDB_MAX_CACHE_MB ((uint64_t)1 << 20)
/* One day: waits longer than that are a misconfiguration. */
#define RDB_MAX_LOCK_TIMEOUT_MS ((uint64_t)24 * 3600 * 1000)

/* ---- errors --------------------------------------------------------- */

/*
 * Status::ToString() (RocksDB 7.8, util/status.cc) writes the code's fixed
 * string, then, if there is one, the subcode's fixed string, then the
 * message, each separated by ": " (so "Resource busy: " with neither, and
 * "IO error: No space left on device: While appending to file: ..."). The
 * code string is matched exactly, then the subcode string.
 */
typedef enum rdb_code {
    RC_OK, RC_NOT_FOUND, RC_CORRUPTION, RC_NOT_SUPPORTED, RC_INVALID_ARGUMENT,
    RC_IO_ERROR, RC_MERGE_IN_PROGRESS, RC_INCOMPLETE, RC_SHUTDOWN, RC_TIMED_OUT,
    RC_ABORTED, RC_BUSY, RC_EXPIRED, RC_TRY_AGAIN, RC_COMPACTION_TOO_LARGE,
    RC_CF_DROPPED, RC_UNKNOWN,
} rdb_code;

static const struct {
    const char *text;
    rdb_code code;
} rdb_codes[] = {
    {"NotFound", RC_NOT_FOUND},
    {"Corruption", RC_CORRUPTION},
    {"Not implemented", RC_NOT_SUPPORTED},
    {"Invalid argument", RC_INVALID_ARGUMENT},
    {"IO error", RC_IO_ERROR},
    {"Merge in progress", RC_MERGE_IN_PROGRESS},
    {"Result incomplete", RC_INCOMPLETE},
    {"Shutdown in progress", RC_SHUTDOWN},
    {"Operation timed out", RC_TIMED_OUT},
    {"Operation aborted", RC_ABORTED},
    {"Resource busy", RC_BUSY},
    {"Operation expired", RC_EXPIRED},
    {"Operation failed. Try again.", RC_TRY_AGAIN},
    {"Compaction too large", RC_COMPACTION_TOO_LARGE},
    {"Column family dropped", RC_CF_DROPPED},
};

typedef enum rdb_subcode {
    RS_NONE, RS_MUTEX_TIMEOUT, RS_LOCK_TIMEOUT, RS_LOCK_LIMIT, RS_NO_SPACE, RS_DEADLOCK,
    RS_STALE_FILE, RS_MEMORY_LIMIT, RS_SPACE_LIMIT, RS_PATH_NOT_FOUND,
} rdb_subcode;

static const struct {
    const char *text;
    rdb_subcode sub;
} rdb_subcodes[] = {
    {"Timeout Acquiring Mutex", RS_MUTEX_TIMEOUT},
    {"Timeout waiting to lock key", RS_LOCK_TIMEOUT},
    {"Failed to acquire lock due to max_num_locks limit", RS_LOCK_LIMIT},
    {"No space left on device", RS_NO_SPACE},
    {"Deadlock", RS_DEADLOCK},
    {"Stale file handle", RS_STALE_FILE},
    {"Memory limit reached", RS_MEMORY_LIMIT},
    {"Space limit reached", RS_SPACE_LIMIT},
    {"No such file or directory", RS_PATH_NOT_FOUND},
};

/* If s starts with `word` followed by ": " or the end, the rest after it. */
static const char *after_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(s, word, n) != 0)
        return NULL;
    if (s[n] == '\0')
        return s + n;
    if (s[n] == ':' && s[n + 1] == ' ')
        return s + n + 2;
    return NULL;
}

static rdb_code parse_code(const char *err, const char **rest)
{
    *rest = "";
    if (!strcmp(err, "OK"))
        return RC_OK;
    for (size_t i = 0; i < sizeof rdb_codes / sizeof rdb_codes[0]; i++) {
        const char *r = after_word(err, rdb_codes[i].text);
        if (r) {
            *rest = r;
            return rdb_codes[i].code;
        }
    }
    return RC_UNKNOWN;
}

static rdb_subcode parse_subcode(const char *rest)
{
    for (size_t i = 0; i < sizeof rdb_subcodes / sizeof rdb_subcodes[0]; i++)
        if (after_word(rest, rdb_subcodes[i].text))
            return rdb_subcodes[i].sub;
    return RS_NONE;
}

int orbit__rdb_classify(const char *err, rdb_ctx ctx)
{
    const char *rest;
    int txn = ctx == RDB_CTX_TXN;

    if (!err)
        return ORBIT_EIO;
    rdb_code code = parse_code(err, &rest);
    rdb_subcode sub = parse_subcode(rest);
    switch (code) {
    case RC_OK:
        return ORBIT_EINTERNAL; /* an error path with a success status */
    case RC_NOT_FOUND:
        return ORBIT_EIO; /* as an error: a file RocksDB needs is missing */
    case RC_CORRUPTION:
        return ORBIT_ECORRUPT;
    case RC_NOT_SUPPORTED:
        return ORBIT_ENOTSUP;
    case RC_INVALID_ARGUMENT:
        return ORBIT_EINVAL;
    case RC_IO_ERROR:
        if (sub == RS_NO_SPACE || sub == RS_SPACE_LIMIT)
            return ORBIT_ENOSPACE;
        if (ctx == RDB_CTX_OPEN && strstr(rest, "/LOCK"))
            return ORBIT_EBUSY; /* the directory lock is held */
        return ORBIT_EIO;
    case RC_MERGE_IN_PROGRESS:
    case RC_COMPACTION_TOO_LARGE:
        return ORBIT_EINTERNAL; /* no merge operator or manual compaction here */
    case RC_INCOMPLETE:
        return ORBIT_EBUSY; /* a write stall refused with no_slowdown */
    case RC_SHUTDOWN:
    case RC_CF_DROPPED:
        return ORBIT_ECLOSED;
    case RC_TIMED_OUT:
        /* A key lock (or a lock-table stripe) not granted in time: another
         * writer holds the key. No deadlines are set, so a bare timeout is
         * a real timeout. */
        if (sub == RS_LOCK_TIMEOUT || sub == RS_MUTEX_TIMEOUT)
            return txn ? ORBIT_ECONFLICT : ORBIT_EBUSY;
        return ORBIT_ETIMEDOUT;
    case RC_BUSY:
        /* Busy is a write conflict (pessimistic: key changed after the
         * snapshot; optimistic: at commit), or a detected deadlock. */
        if (sub == RS_LOCK_LIMIT)
            return ORBIT_EBUSY; /* too many locks held store-wide */
        return txn ? ORBIT_ECONFLICT : ORBIT_EBUSY;
    case RC_TRY_AGAIN:
        /* Optimistic validation without enough memtable history. */
        return txn ? ORBIT_ECONFLICT : ORBIT_EBUSY;
    case RC_ABORTED:
        /* Aborted with MemoryLimit is a write batch over its byte limit:
         * the request is too large and retrying cannot help. */
        if (sub == RS_MEMORY_LIMIT)
            return ORBIT_ETOOBIG;
        return txn ? ORBIT_ECONFLICT : ORBIT_EIO;
    case RC_EXPIRED:
        /* A transaction that outlived its expiration (its locks may have
         * been taken over): nothing applied, retryable. */
        return ORBIT_ETIMEDOUT;
    case RC_UNKNOWN:
        break;
    }
    return ORBIT_EIO;
}

int orbit__rdb_error(char *err, rdb_ctx ctx, const char *what)
{
    int code;

    if (!err)
        return orbit_error_set(ORBIT_EINTERNAL, "rocksdb %s: failed without a message", what);
    code = orbit__rdb_classify(err, ctx);
    if (ctx == RDB_CTX_OPEN && code == ORBIT_EBUSY)
        orbit_error_set(code,
                        "rocksdb open %s: the store is already open in this or another "
                        "process (%s)",
                        what, err);
    else
        orbit_error_set(code, "rocksdb %s: %s", what, err);
    rocksdb_free(err);
    return code;
}

uint64_t orbit__rdb_latest_seq(rdb *db)
{
    return db->tdb ? orbit__rdb_txndb_latest_seq(db->tdb) : rocksdb_get_latest_sequence_number(db->base);
}

/* Long enough to outlast a stripe holder that was preempted (a few
 * scheduler quanta), short enough that a pathological case still fails. */
#define RDB_MUTEX_RETRY_NS ((uint64_t)200 * 1000 * 1000)

int orbit__rdb_retry_mutex(char **err, rdb_retry *r)
{
    if (!*err || !strstr(*err, "Timeout Acquiring Mutex"))
        return 0;
    uint64_t now = orbit__mono_ns();
    if (r->deadline_ns == 0)
        r->deadline_ns = now + RDB_MUTEX_RETRY_NS;
    else if (now >= r->deadline_ns)
        return 0;
    rocksdb_free(*err);
    *err = NULL;
    sched_yield();
    return 1;
}

int orbit__rdb_check_value(size_t vl)
{
    if (vl > ORBIT_RDB_MAX_VALUE)
        return orbit_error_set(ORBIT_ETOOBIG,
                               "rocksdb: value of %zu bytes exceeds the provider's limit of "
                               "%zu bytes (64 MiB and 64 KiB for a record envelope)",
                               vl, ORBIT_RDB_MAX_VALUE);
    return ORBIT_OK;
}

int orbit__rdb_check_writable(const rdb *db, const char *what)
{
    if (db->read_only)
        return orbit_error_set(ORBIT_ENOTSUP, "rocksdb %s: store %s opened read-only (read_only=1)",
                               what, db->path);
    return ORBIT_OK;
}

/* The provider's warnings. Orbit has no logging facility of its own yet
 * (src/base has none), so a warning goes to the process's standard error,
 * one line prefixed "orbit: warning:", and the same text is left as the
 * thread's error detail of the successful call that raised it. */
static void rdb_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void rdb_warn(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "orbit: warning: %s\n", line);
    orbit_error_set(ORBIT_OK, "%s", line);
}

/* ---- options -------------------------------------------------------- */

static int parse_conf(orbit_uri *uri, rdb_conf *c)
{
    const char *v;
    int rc;

    memset(c, 0, sizeof *c);

    /* Optimistic by default: an actor's data is written by that actor, so
     * conflicts are rare, and plain writes then go straight to the DB with
     * no lock manager in their path (see docs/benchmarks.md). */
    v = orbit_uri_param(uri, "txn");
    if (!v || !strcmp(v, "optimistic"))
        c->mode = RDB_OPTIMISTIC;
    else if (!strcmp(v, "pessimistic"))
        c->mode = RDB_PESSIMISTIC;
    else
        return orbit_error_set(ORBIT_EINVAL,
                               "option txn=%s: expected pessimistic or optimistic", v);

    v = orbit_uri_param(uri, "sync");
    if (!v || !strcmp(v, "off"))
        c->sync = 0;
    else if (!strcmp(v, "always"))
        c->sync = 1;
    else
        return orbit_error_set(ORBIT_EINVAL, "option sync=%s: expected off or always", v);

    rc = orbit_uri_param_bool(uri, "wal", 1, &c->wal);
    if (rc)
        return rc;

    rc = orbit_uri_param_u64(uri, "cache_mb", 64, &c->cache_mb);
    if (rc)
        return rc;
    if (c->cache_mb > RDB_MAX_CACHE_MB)
        return orbit_error_set(ORBIT_EINVAL, "option cache_mb=%llu: at most %llu",
                               (unsigned long long)c->cache_mb,
                               (unsigned long long)RDB_MAX_CACHE_MB);

    v = orbit_uri_param(uri, "compression");
    if (!v || !strcmp(v, "lz4"))
        c->compression = rocksdb_lz4_compression;
    else if (!strcmp(v, "none"))
        c->compression = rocksdb_no_compression;
    else if (!strcmp(v, "snappy"))
        c->compression = rocksdb_snappy_compression;
    else if (!strcmp(v, "zstd"))
        c->compression = rocksdb_zstd_compression;
    else
        return orbit_error_set(ORBIT_EINVAL,
                               "option compression=%s: expected none, snappy, lz4 or zstd", v);

    rc = orbit_uri_param_u64(uri, "lock_timeout_ms", 0, &c->lock_timeout_ms);
    if (rc)
        return rc;
    if (c->lock_timeout_ms > RDB_MAX_LOCK_TIMEOUT_MS)
        return orbit_error_set(ORBIT_EINVAL, "option lock_timeout_ms=%llu: at most %llu (one day)",
                               (unsigned long long)c->lock_timeout_ms,
                               (unsigned long long)RDB_MAX_LOCK_TIMEOUT_MS);

    rc = orbit_uri_param_bool(uri, "read_only", 0, &c->read_only);
    if (rc)
        return rc;
    /* read_only implies create=0; asking for both is a contradiction. */
    int create_given = orbit_uri_param(uri, "create") != NULL;
    rc = orbit_uri_param_bool(uri, "create", !c->read_only, &c->create);
    if (rc)
        return rc;
    if (c->read_only && c->create && create_given)
        return orbit_error_set(ORBIT_EINVAL,
                               "option create=1 with read_only=1: a read-only open never "
                               "creates a store");

    v = orbit_uri_param(uri, "wal_recovery");
    if (!v || !strcmp(v, "torn_tail"))
        c->recovery = RDB_REC_TORN_TAIL;
    else if (!strcmp(v, "strict"))
        c->recovery = RDB_REC_STRICT;
    else if (!strcmp(v, "salvage"))
        c->recovery = RDB_REC_SALVAGE;
    else
        return orbit_error_set(ORBIT_EINVAL,
                               "option wal_recovery=%s: expected torn_tail, strict or salvage", v);

    rc = orbit_uri_check_unused(uri);
    if (rc)
        return rc;

    if (!c->wal && c->sync)
        return orbit_error_set(ORBIT_EINVAL,
                               "option wal=off needs sync=off: without a WAL there is "
                               "nothing to sync");
    return ORBIT_OK;
}

/* mkdir -p: RocksDB itself creates only the last component. */
static int make_dirs(const char *path)
{
    char *p = strdup(path);
    if (!p)
        return ORBIT_ENOMEM;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char saved = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            char buf[128];
            int e = errno;
            int rc = orbit_error_set(ORBIT_EIO, "rocksdb: cannot create directory %s: %s", p,
                                     strerror_r(e, buf, sizeof buf));
            free(p);
            return rc;
        }
        *s = saved;
        if (!saved)
            break;
    }
    free(p);
    return ORBIT_OK;
}

static void rdb_free(rdb *db)
{
    if (db->ro)
        rocksdb_readoptions_destroy(db->ro);
    if (db->wo)
        rocksdb_writeoptions_destroy(db->wo);
    if (db->txo_snap)
        rocksdb_transaction_options_destroy(db->txo_snap);
    if (db->txo_rc)
        rocksdb_transaction_options_destroy(db->txo_rc);
    if (db->otxo_snap)
        rocksdb_optimistictransaction_options_destroy(db->otxo_snap);
    if (db->otxo_rc)
        rocksdb_optimistictransaction_options_destroy(db->otxo_rc);
    free(db->path);
    pthread_rwlock_destroy(&db->rd_lock);
    free(db);
}

/* RocksDB keeps every table file open by default (max_open_files -1),
 * which is the fastest read path (no table-cache lookup per read) but needs
 * one descriptor per file. Where the process's descriptor budget is tight
 * (a soft RLIMIT_NOFILE under 4096, e.g. the common 1024 or a `ulimit -n
 * 128`) the table cache is bounded to half of it, leaving the rest to the
 * WAL, the MANIFEST, the LOG and the application. */
#define RDB_ALL_FILES_OPEN_NOFILE 4096

static int max_open_files(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur >= RDB_ALL_FILES_OPEN_NOFILE)
        return -1;
    rlim_t half = rl.rlim_cur / 2;
    return half < 32 ? 32 : (int)half;
}

/* Open the database itself. The option objects are copied into the DB by
 * RocksDB (the cache is reference-counted), so they are dropped here.
 * wal_mode: RocksDB's WAL recovery mode for this open (see rdb_open). */
static int open_db(rdb *db, const rdb_conf *c, int wal_mode)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_block_based_table_options_t *bbo = rocksdb_block_based_options_create();
    rocksdb_cache_t *cache = NULL;
    char *err = NULL;

    rocksdb_options_set_create_if_missing(o, (unsigned char)c->create);
    rocksdb_options_set_compression(o, c->compression);
    /* Every open starts a new info LOG; keep a few, not RocksDB's 1000. */
    rocksdb_options_set_keep_log_file_num(o, 4);
    rocksdb_options_set_wal_recovery_mode(o, wal_mode);
    rocksdb_options_set_max_open_files(o, max_open_files());
    /* A writable open compacts level 0 itself before anything else runs
     * (orbit__rdb_compact_l0), which turns automatic compactions back on. */
    if (!c->read_only && !c->plain)
        rocksdb_options_set_disable_auto_compactions(o, 1);
    if (c->cache_mb) {
        cache = rocksdb_cache_create_lru((size_t)c->cache_mb << 20);
        rocksdb_block_based_options_set_block_cache(bbo, cache);
    } else {
        rocksdb_block_based_options_set_no_block_cache(bbo, 1);
    }
    /* Point reads of absent keys are common (existence checks by the data
     * models); a bloom filter answers most without touching a data block. */
    rocksdb_block_based_options_set_filter_policy(bbo, rocksdb_filterpolicy_create_bloom(10));
    rocksdb_options_set_block_based_table_factory(o, bbo);
    orbit__rdb_stats_enable(o); /* block-cache hit/miss tickers (rdb_stats.cc) */
    /* The same for the memtables: a point read (Get, MultiGet) of a key a
     * memtable does not hold skips that memtable's skip-list search, which
     * was half the CPU of orbitd's GETs over a million keys (the recent
     * writes sit in the memtables, most reads are of older keys). Whole
     * keys, no prefix extractor, so iterators are unaffected; 2% of the
     * write buffer (1.3 MiB per 64 MiB memtable, about 30 bits a key for
     * orbitd's records). */
    rocksdb_options_set_memtable_whole_key_filtering(o, 1);
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(o, 0.02);

    if (c->read_only) {
        /* RocksDB's read-only mode: no lock, nothing written; the WAL is
         * replayed into memory, so the data is what it was at open. */
        db->base = rocksdb_open_for_read_only(o, db->path, 0, &err);
    } else if (c->plain) {
        db->base = rocksdb_open(o, db->path, &err);
    } else if (c->mode == RDB_PESSIMISTIC) {
        rocksdb_transactiondb_options_t *tdo = rocksdb_transactiondb_options_create();
        rocksdb_transactiondb_options_set_default_lock_timeout(tdo, (int64_t)c->lock_timeout_ms);
        rocksdb_transactiondb_options_set_transaction_lock_timeout(tdo,
                                                                   (int64_t)c->lock_timeout_ms);
        db->tdb = rocksdb_transactiondb_open(o, tdo, db->path, &err);
        rocksdb_transactiondb_options_destroy(tdo);
    } else {
        db->odb = orbit__rdb_occ_open(o, db->path, RDB_OCC_BUCKETS, &err);
        if (!err && db->odb)
            db->base = rocksdb_optimistictransactiondb_get_base_db(db->odb);
    }
    rocksdb_options_destroy(o);
    rocksdb_block_based_options_destroy(bbo);
    if (cache)
        rocksdb_cache_destroy(cache);

    if (err)
        return orbit__rdb_error(err, RDB_CTX_OPEN, db->path);
    if (!db->tdb && !db->base) {
        if (db->odb)
            rocksdb_optimistictransactiondb_close(db->odb);
        db->odb = NULL;
        return orbit_error_set(ORBIT_EINTERNAL, "rocksdb open %s: no handle returned", db->path);
    }
    return ORBIT_OK;
}

static void close_db(rdb *db)
{
    if (db->read_only) {
        rocksdb_close(db->base);
        return;
    }
    if (!db->wal || db->tdb) {
        /* Unlogged writes live only in the memtable: persist them, or a
         * reopen would not see them. A TransactionDB (RocksDB 7.8 opens it
         * with allow_2pc) deletes a WAL only after a flush of its own, not
         * after the recovery flush at open, so without this every short
         * pessimistic session would leave one more .log file behind (and
         * every open would read them all). A flush of an empty memtable
         * does nothing. close() cannot report a failure, and RocksDB
         * retries the flush at shutdown anyway. */
        rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
        char *err = NULL;
        rocksdb_flushoptions_set_wait(fo, 1);
        if (db->tdb)
            rocksdb_transactiondb_flush(db->tdb, fo, &err);
        else
            rocksdb_flush(db->base, fo, &err);
        if (err)
            rocksdb_free(err);
        rocksdb_flushoptions_destroy(fo);
    }
    if (db->tdb)
        rocksdb_transactiondb_close(db->tdb);
    if (db->base)
        rocksdb_optimistictransactiondb_close_base_db(db->base);
    if (db->odb)
        rocksdb_optimistictransactiondb_close(db->odb);
}

/* Whether a store exists at path: 1 (its CURRENT file is there), 0 (with
 * *why saying what is missing), or a negative code with detail. */
static int store_exists(const char *path, const char **why)
{
    struct stat st;
    char buf[128];
    if (stat(path, &st) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR) {
            *why = "the directory does not exist";
            return 0;
        }
        return orbit_error_set(ORBIT_EIO, "rocksdb: cannot access %s: %s", path,
                               strerror_r(e, buf, sizeof buf));
    }
    if (!S_ISDIR(st.st_mode)) {
        *why = "it is not a directory";
        return 0;
    }
    size_t n = strlen(path) + sizeof "/CURRENT";
    char *cur = malloc(n);
    if (!cur)
        return ORBIT_ENOMEM;
    snprintf(cur, n, "%s/CURRENT", path);
    int rc = 1;
    if (stat(cur, &st) != 0) {
        int e = errno;
        if (e == ENOENT) {
            *why = "the directory holds no RocksDB store (no CURRENT file)";
            rc = 0;
        } else {
            rc = orbit_error_set(ORBIT_EIO, "rocksdb: cannot access %s: %s", cur,
                                 strerror_r(e, buf, sizeof buf));
        }
    }
    free(cur);
    return rc;
}

/* Paths that are surely mistakes. src/kv/uri.c refuses them for rocksdb:
 * URIs too; this is the provider's own guard for bodies that reach it. */
static int check_path(const char *path)
{
    if (path[0] == '/' && path[1] == '/') {
        const char *p = path;
        while (*p == '/')
            p++;
        return orbit_error_set(ORBIT_EBADURI,
                               "rocksdb: \"%s\" is not a path: write rocksdb:/%s for the absolute "
                               "path or rocksdb:%s for a relative one (use rocksdb:/abs/path or "
                               "rocksdb:rel/path)",
                               path, p, p);
    }
    if (path[0] == '~')
        return orbit_error_set(ORBIT_EBADURI,
                               "rocksdb: path \"%s\" starts with '~', which the shell did not "
                               "expand (it does not after \"rocksdb:\"): write rocksdb:$HOME%s "
                               "or an absolute path",
                               path, path + 1);
    return ORBIT_OK;
}

/* The WAL's state decides RocksDB's recovery mode for this open:
 * a clean WAL opens in kAbsoluteConsistency, so anything RocksDB finds that
 * the scan did not fails loudly instead of being skipped; a torn tail (in
 * the default mode) and salvage open in kPointInTimeRecovery, which stops
 * at the first damage, exactly where the scan said. Fills *mode, or fails
 * with ECORRUPT naming the file and offset and changing nothing. */
static int judge_wal(const char *path, const rdb_conf *c, const rdb_wal_report *w, int *mode)
{
    *mode = rocksdb_absolute_consistency_recovery;
    if (c->recovery == RDB_REC_SALVAGE) {
        *mode = rocksdb_point_in_time_recovery;
        return ORBIT_OK;
    }
    if (w->verdict == RDB_WAL_CLEAN)
        return ORBIT_OK;
    if (w->verdict == RDB_WAL_TORN_TAIL && c->recovery == RDB_REC_TORN_TAIL) {
        *mode = rocksdb_point_in_time_recovery;
        return ORBIT_OK;
    }
    if (w->verdict == RDB_WAL_TORN_TAIL)
        return orbit_error_set(ORBIT_ECORRUPT,
                               "rocksdb open %s: the write-ahead log %s has a torn tail at offset "
                               "%llu (%s at offset %llu; %llu bytes after the last complete "
                               "record) and wal_recovery=strict refuses it; nothing was changed "
                               "(wal_recovery=torn_tail cuts such a tail)",
                               path, w->file, (unsigned long long)w->offset, w->reason,
                               (unsigned long long)w->bad_offset,
                               (unsigned long long)w->dropped);
    return orbit_error_set(ORBIT_ECORRUPT,
                           "rocksdb open %s: the write-ahead log %s is damaged at offset %llu (%s "
                           "in %s at offset %llu), and %llu intact records (%llu bytes) follow: "
                           "acknowledged writes would be lost. Nothing was changed. "
                           "wal_recovery=salvage (orbit store repair) keeps what precedes the "
                           "damage and drops the %llu bytes from there on",
                           path, w->file, (unsigned long long)w->offset, w->reason, w->bad_file,
                           (unsigned long long)w->bad_offset,
                           (unsigned long long)w->records_after,
                           (unsigned long long)w->valid_after, (unsigned long long)w->dropped);
}

static int rdb_open(orbit_uri *uri, void **self)
{
    rdb_conf c;
    rdb *db;
    int rc;
    rdb_wal_report wal;
    int wal_mode;
    const char *why = NULL;

    *self = NULL;
    memset(&wal, 0, sizeof wal);
    const char *path = orbit_uri_body(uri);
    if (!path || !*path)
        return orbit_error_set(ORBIT_EBADURI, "rocksdb: the URI needs a directory: rocksdb:PATH");
    rc = check_path(path);
    if (rc)
        return rc;
    rc = parse_conf(uri, &c);
    if (rc)
        return rc;

    rc = store_exists(path, &why);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        if (!c.create)
            return orbit_error_set(ORBIT_ENOSTORE, "rocksdb: no store at %s: %s (%s)", path, why,
                                   c.read_only ? "read_only=1 never creates one"
                                               : "create=0: not creating one");
        rc = make_dirs(path);
        if (rc)
            return rc;
    } else {
        rc = orbit__rdb_wal_scan(path, &wal);
        if (rc)
            return rc;
    }
    rc = judge_wal(path, &c, &wal, &wal_mode);
    if (rc)
        return rc;

    db = calloc(1, sizeof *db);
    if (!db)
        return ORBIT_ENOMEM;
    if (pthread_rwlock_init(&db->rd_lock, NULL) != 0) {
        free(db);
        return orbit_error_set(ORBIT_ENOMEM, "rocksdb: cannot create a lock");
    }
    db->path = strdup(path);
    if (!db->path) {
        pthread_rwlock_destroy(&db->rd_lock);
        free(db);
        return ORBIT_ENOMEM;
    }
    db->mode = c.mode;
    db->wal = c.wal;
    db->read_only = c.read_only;
    if (!c.read_only && c.mode == RDB_PESSIMISTIC && wal_mode == rocksdb_point_in_time_recovery &&
        wal.verdict != RDB_WAL_CLEAN) {
        /* A TransactionDB keeps the WAL it recovered from (see close_db),
         * so the damaged file would stay and fail the next open. A plain
         * DB recovers the same records, flushes them and deletes the old
         * WAL; the TransactionDB then opens a clean store. */
        rdb_conf plain = c;
        plain.mode = RDB_OPTIMISTIC;
        plain.plain = 1;
        rc = open_db(db, &plain, wal_mode);
        if (rc) {
            rdb_free(db);
            return rc;
        }
        rocksdb_close(db->base);
        db->base = NULL;
        wal_mode = rocksdb_absolute_consistency_recovery;
    }
    rc = open_db(db, &c, wal_mode);
    if (rc) {
        rdb_free(db);
        return rc;
    }

    db->ro = rocksdb_readoptions_create();
    db->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(db->wo, (unsigned char)c.sync);
    rocksdb_writeoptions_disable_WAL(db->wo, !c.wal);
    if (c.read_only) {
        /* No transactions: nothing can be written. */
    } else if (c.mode == RDB_PESSIMISTIC) {
        db->txo_snap = rocksdb_transaction_options_create();
        db->txo_rc = rocksdb_transaction_options_create();
        rocksdb_transaction_options_set_set_snapshot(db->txo_snap, 1);
        rocksdb_transaction_options_set_set_snapshot(db->txo_rc, 0);
        rocksdb_transaction_options_set_lock_timeout(db->txo_snap, (int64_t)c.lock_timeout_ms);
        rocksdb_transaction_options_set_lock_timeout(db->txo_rc, (int64_t)c.lock_timeout_ms);
        /* With a lock timeout, two transactions waiting on each other would
         * both wait it out; detection fails one at once (as a conflict). */
        rocksdb_transaction_options_set_deadlock_detect(db->txo_snap, 1);
        rocksdb_transaction_options_set_deadlock_detect(db->txo_rc, 1);
    } else {
        db->otxo_snap = rocksdb_optimistictransaction_options_create();
        db->otxo_rc = rocksdb_optimistictransaction_options_create();
        rocksdb_optimistictransaction_options_set_set_snapshot(db->otxo_snap, 1);
        rocksdb_optimistictransaction_options_set_set_snapshot(db->otxo_rc, 0);
    }

    orbit_error_clear();
    if (!c.read_only) {
        int before, after;
        char *err = NULL;
        orbit__rdb_compact_l0(db->tdb ? NULL : db->base, db->tdb, RDB_L0_COMPACT_FILES,
                              RDB_L0_CHUNK, &before, &after, &err);
        if (err) {
            /* The data is intact; only the tidying failed (e.g. no space).
             * The store works, and the next open tries again. */
            rdb_warn("rocksdb open %s: compacting %d level-0 files failed: %s", path, before,
                     err);
            rocksdb_free(err);
        }
    }

    db->wal_dropped = wal.verdict == RDB_WAL_CLEAN ? 0 : wal.dropped;
    if (wal.verdict == RDB_WAL_TORN_TAIL)
        rdb_warn("rocksdb open %s: the write-ahead log %s had a torn tail (%s at offset %llu): "
                 "recovered to the last complete record, dropped %llu bytes from offset %llu "
                 "(writes that never completed, e.g. cut by a crash or by a power loss under "
                 "sync=off)",
                 path, wal.file, wal.reason, (unsigned long long)wal.bad_offset,
                 (unsigned long long)wal.dropped, (unsigned long long)wal.offset);
    else if (wal.verdict == RDB_WAL_DAMAGED)
        rdb_warn("rocksdb open %s: wal_recovery=salvage: the write-ahead log %s was damaged at "
                 "offset %llu (%s in %s at offset %llu): kept what precedes it, dropped %llu "
                 "bytes including %llu intact records (%llu bytes) after the damage",
                 path, wal.file, (unsigned long long)wal.offset, wal.reason, wal.bad_file,
                 (unsigned long long)wal.bad_offset, (unsigned long long)wal.dropped,
                 (unsigned long long)wal.records_after, (unsigned long long)wal.valid_after);
    *self = db;
    return ORBIT_OK;
}

static void rdb_close(void *self)
{
    rdb *db = self;
    if (!db)
        return;
    close_db(db);
    rdb_free(db);
}

static void rdb_capabilities(void *self, orbit_capabilities *out)
{
    rdb *db = self;
    memset(out, 0, sizeof *out);
    out->type = ORBIT_PROVIDER_EMBEDDED;
    out->name = "rocksdb";
    /* With the WAL on, a write has reached the OS before it is acknowledged,
     * so it survives a process crash (a power loss only with sync=always).
     * Without the WAL it survives nothing until a flush. */
    out->durable = db ? db->wal : 1;
    /* Read-only: no transactions (nothing can be written). */
    out->supports_transactions = db ? !db->read_only : 1;
    out->supports_distributed_transactions = 0;
    out->supports_multi_region = 0;
    out->supports_snapshots = 1;
    out->native_async = 0;
    out->isolation_levels = out->supports_transactions
                                ? ORBIT_ISO_BIT(ORBIT_ISO_SNAPSHOT) |
                                      ORBIT_ISO_BIT(ORBIT_ISO_READ_COMMITTED)
                                : 0;
    out->max_batch_ops = 0;
    out->max_key_size = 0;
    out->max_value_size = ORBIT_RDB_MAX_VALUE;
    /* No history is kept: a snapshot can only be taken now. */
    out->supports_snapshot_at = 0;
    out->supports_commit_version = 1;
    out->native_multi_get = 1;
    /* Optimistic: one range tombstone. Pessimistic: TransactionDB cannot
     * lock a range, so ranges are deleted key by key under key locks (still
     * atomic, still in a batch). */
    out->native_range_delete = db ? db->mode == RDB_OPTIMISTIC : 1;
    out->native_cas = 0;
    out->supports_batch_range_delete = 1;
    out->max_txn_keys = 0;
    out->max_txn_bytes = 0;
}

/* ---- point operations ----------------------------------------------- */

static int rdb_get(void *self, void *snap, const uint8_t *k, size_t kl, orbit_value_fn fn,
                   void *arg)
{
    rdb *db = self;
    const rocksdb_readoptions_t *ro = snap ? ((rdb_snap *)snap)->ro : db->ro;
    rocksdb_pinnableslice_t *ps;
    char *err = NULL;

    if (db->tdb)
        ps = rocksdb_transactiondb_get_pinned(db->tdb, ro, (const char *)k, kl, &err);
    else
        ps = rocksdb_get_pinned(db->base, ro, (const char *)k, kl, &err);
    if (err)
        return orbit__rdb_error(err, RDB_CTX_PLAIN, "get");
    if (!ps)
        return ORBIT_NOTFOUND;
    size_t vl = 0;
    const char *v = rocksdb_pinnableslice_value(ps, &vl);
    int rc = fn ? fn(arg, (const uint8_t *)v, vl) : ORBIT_OK;
    rocksdb_pinnableslice_destroy(ps);
    return rc;
}

static int rdb_put(void *self, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    rdb *db = self;
    char *err = NULL;
    int rc = orbit__rdb_check_value(vl);
    if (rc || (rc = orbit__rdb_check_writable(db, "put")))
        return rc;
    if (db->tdb)
        RDB_CALL_LOCKING(err, rocksdb_transactiondb_put(db->tdb, db->wo, (const char *)k, kl,
                                                        (const char *)v, vl, &err));
    else
        rocksdb_put(db->base, db->wo, (const char *)k, kl, (const char *)v, vl, &err);
    return err ? orbit__rdb_error(err, RDB_CTX_PLAIN, "put") : ORBIT_OK;
}

static int rdb_del(void *self, const uint8_t *k, size_t kl)
{
    rdb *db = self;
    char *err = NULL;
    int rc = orbit__rdb_check_writable(db, "delete");
    if (rc)
        return rc;
    if (db->tdb)
        RDB_CALL_LOCKING(err, rocksdb_transactiondb_delete(db->tdb, db->wo, (const char *)k, kl,
                                                           &err));
    else
        rocksdb_delete(db->base, db->wo, (const char *)k, kl, &err);
    return err ? orbit__rdb_error(err, RDB_CTX_PLAIN, "delete") : ORBIT_OK;
}

/* The exclusive end for a range with an open top. RocksDB's DeleteRange
 * needs an end, and no key is above every other, so the end is the larger
 * of RDB_OPEN_END (32 bytes of 0xFF) and the immediate successor of the
 * largest key that could lie in [lo, ...) when the tombstone is written:
 * the largest stored key and `extra` (the largest key an earlier entry of
 * the same batch writes; NULL: none). Only a key above both that another
 * thread writes while this runs could escape it. *hi is malloc'ed. */
#define RDB_OPEN_END_LEN 32

static int open_range_end(rdb *db, const uint8_t *lo, size_t lo_len, const uint8_t *extra,
                          size_t extra_len, uint8_t **hi, size_t *hi_len)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_lower_bound(ro, (const char *)lo, lo_len);
    rocksdb_iterator_t *ri = db->tdb ? rocksdb_transactiondb_create_iterator(db->tdb, ro)
                                     : rocksdb_create_iterator(db->base, ro);
    const uint8_t *top = NULL;
    size_t top_len = 0;
    char *err = NULL;
    int rc = ORBIT_OK;

    *hi = NULL;
    *hi_len = 0;
    rocksdb_iter_seek_to_last(ri);
    if (rocksdb_iter_valid(ri)) {
        top = (const uint8_t *)rocksdb_iter_key(ri, &top_len);
        if (orbit__key_cmp(top, top_len, lo, lo_len) < 0)
            top = NULL;
    } else {
        rocksdb_iter_get_error(ri, &err);
        if (err)
            rc = orbit__rdb_error(err, RDB_CTX_PLAIN, "delete range");
    }
    if (rc == ORBIT_OK && extra && orbit__key_cmp(extra, extra_len, lo, lo_len) >= 0 &&
        (!top || orbit__key_cmp(extra, extra_len, top, top_len) > 0)) {
        top = extra;
        top_len = extra_len;
    }
    if (rc == ORBIT_OK) {
        static const uint8_t ff[RDB_OPEN_END_LEN] = {
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        int above = top && orbit__key_cmp(top, top_len, ff, sizeof ff) >= 0;
        size_t len = above ? top_len + 1 : sizeof ff;
        *hi = malloc(len);
        if (!*hi) {
            rc = ORBIT_ENOMEM;
        } else if (above) {
            memcpy(*hi, top, top_len);
            (*hi)[top_len] = 0; /* key || 0x00: the next key in byte order */
            *hi_len = len;
        } else {
            memcpy(*hi, ff, sizeof ff);
            *hi_len = len;
        }
    }
    rocksdb_iter_destroy(ri);
    rocksdb_readoptions_destroy(ro);
    return rc;
}

/* Write wb to the base DB as a range delete (optimistic mode): under the
 * write side of rd_lock, counting the epoch, so optimistic transactions
 * that overlap it conflict (see struct rdb). */
static void write_ranges(rdb *db, rocksdb_writebatch_t *wb, char **err)
{
    pthread_rwlock_wrlock(&db->rd_lock);
    __atomic_store_n(&db->rd_epoch, db->rd_epoch + 1, __ATOMIC_RELEASE);
    rocksdb_write(db->base, db->wo, wb, err);
    pthread_rwlock_unlock(&db->rd_lock);
}

static int rdb_write(void *self, const orbit_batch *b)
{
    rdb *db = self;
    size_t n = orbit_batch_count(b);
    rocksdb_writebatch_t *wb;
    char *err = NULL;
    int ranges = 0;
    /* The largest key written so far in the batch, for open-topped ranges. */
    const uint8_t *max_key = NULL;
    size_t max_len = 0;

    int wrc = orbit__rdb_check_writable(db, "write");
    if (wrc)
        return wrc;
    if (n == 0)
        return ORBIT_OK;
    for (size_t i = 0; i < n; i++) {
        orbit_batch_entry e;
        orbit_batch_entry_at(b, i, &e);
        if (e.type == ORBIT_OP_PUT) {
            int rc = orbit__rdb_check_value(e.vlen);
            if (rc)
                return rc;
        } else if (e.type == ORBIT_OP_DEL_RANGE) {
            ranges = 1;
        } else if (e.type != ORBIT_OP_DEL) {
            return orbit_error_set(ORBIT_EINVAL, "rocksdb write: batch entry %zu has type %d", i,
                                   (int)e.type);
        }
    }
    if (ranges && db->tdb)
        return orbit__rdb_write_locked(db, b, NULL);

    wb = rocksdb_writebatch_create();
    for (size_t i = 0; i < n; i++) {
        orbit_batch_entry e;
        orbit_batch_entry_at(b, i, &e);
        if (e.type == ORBIT_OP_PUT) {
            rocksdb_writebatch_put(wb, (const char *)e.key, e.klen, (const char *)e.val,
                                   e.vlen);
        } else if (e.type == ORBIT_OP_DEL) {
            rocksdb_writebatch_delete(wb, (const char *)e.key, e.klen);
        } else if (e.val && e.vlen) {
            if (orbit__key_cmp(e.key, e.klen, e.val, e.vlen) < 0)
                rocksdb_writebatch_delete_range(wb, (const char *)e.key, e.klen,
                                                (const char *)e.val, e.vlen);
        } else {
            uint8_t *hi;
            size_t hi_len;
            int rc = open_range_end(db, e.key, e.klen, max_key, max_len, &hi, &hi_len);
            if (rc) {
                rocksdb_writebatch_destroy(wb);
                return rc;
            }
            if (orbit__key_cmp(e.key, e.klen, hi, hi_len) < 0)
                rocksdb_writebatch_delete_range(wb, (const char *)e.key, e.klen,
                                                (const char *)hi, hi_len);
            free(hi);
        }
        if (e.type == ORBIT_OP_PUT &&
            (!max_key || orbit__key_cmp(e.key, e.klen, max_key, max_len) > 0)) {
            max_key = e.key;
            max_len = e.klen;
        }
    }
    if (db->tdb)
        RDB_CALL_LOCKING(err, rocksdb_transactiondb_write(db->tdb, db->wo, wb, &err));
    else if (ranges)
        write_ranges(db, wb, &err);
    else
        rocksdb_write(db->base, db->wo, wb, &err);
    rocksdb_writebatch_destroy(wb);
    return err ? orbit__rdb_error(err, RDB_CTX_PLAIN, "write") : ORBIT_OK;
}

static int rdb_write_version(void *self, const orbit_batch *b, uint64_t *version)
{
    rdb *db = self;
    int rc = rdb_write(self, b);
    *version = rc == ORBIT_OK ? orbit__rdb_latest_seq(db) : 0;
    return rc;
}

/* One call: the range becomes a batch of one entry, so both modes share
 * rdb_write's paths (a tombstone, or key-locked deletes). */
static int rdb_delete_range(void *self, const orbit_range *r)
{
    rdb *db = self;
    int wrc = orbit__rdb_check_writable(db, "delete range");
    if (wrc)
        return wrc;
    if (r->hi && orbit__key_cmp(r->lo, r->lo_len, r->hi, r->hi_len) >= 0)
        return ORBIT_OK;
    if (db->tdb) {
        orbit_batch_entry e = {.type = ORBIT_OP_DEL_RANGE, .key = r->lo, .klen = r->lo_len,
                               .val = r->hi, .vlen = r->hi ? r->hi_len : 0};
        return orbit__rdb_write_locked(db, NULL, &e);
    }
    uint8_t *hi = NULL;
    size_t hi_len = r->hi_len;
    const uint8_t *end = r->hi;
    if (!end) {
        int rc = open_range_end(db, r->lo, r->lo_len, NULL, 0, &hi, &hi_len);
        if (rc)
            return rc;
        if (orbit__key_cmp(r->lo, r->lo_len, hi, hi_len) >= 0) {
            free(hi);
            return ORBIT_OK; /* lo is above every key there is */
        }
        end = hi;
    }
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    char *err = NULL;
    rocksdb_writebatch_delete_range(wb, (const char *)r->lo, r->lo_len, (const char *)end,
                                    hi_len);
    write_ranges(db, wb, &err);
    rocksdb_writebatch_destroy(wb);
    free(hi);
    return err ? orbit__rdb_error(err, RDB_CTX_PLAIN, "delete range") : ORBIT_OK;
}

/* ---- multi-get ------------------------------------------------------ */

static int multi_get_finish(size_t n, char **values, size_t *sizes, char **errs,
                            rdb_ctx ctx, orbit_buf *vals, int *status)
{
    int first = ORBIT_OK;
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (errs[i]) {
            rc = orbit__rdb_error(errs[i], ctx, "multi_get");
            orbit_buf_reset(&vals[i]);
        } else if (!values[i]) {
            rc = ORBIT_NOTFOUND;
            orbit_buf_reset(&vals[i]);
        } else {
            rc = orbit_buf_set(&vals[i], values[i], sizes[i]);
        }
        if (values[i])
            rocksdb_free(values[i]);
        status[i] = rc;
        if (rc < 0 && first == ORBIT_OK)
            first = rc;
    }
    return first;
}

/* The arrays rocksdb_*multi_get wants, in one allocation. */
typedef struct rdb_mget {
    const char **keys;
    size_t *klens;
    char **values;
    size_t *sizes;
    char **errs;
} rdb_mget;

static int mget_alloc(rdb_mget *m, size_t n, const orbit_slice *keys)
{
    size_t per = 2 * sizeof(char *) + 2 * sizeof(size_t) + sizeof(char *);
    if (n > SIZE_MAX / per)
        return orbit_error_set(ORBIT_ETOOBIG, "rocksdb multi_get: %zu keys", n);
    char *mem = calloc(n, per);
    if (!mem)
        return ORBIT_ENOMEM;
    m->keys = (const char **)(void *)mem;
    m->values = (char **)(void *)(mem + n * sizeof(char *));
    m->errs = (char **)(void *)(mem + 2 * n * sizeof(char *));
    m->klens = (size_t *)(void *)(mem + 3 * n * sizeof(char *));
    m->sizes = (size_t *)(void *)(mem + 3 * n * sizeof(char *) + n * sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        m->keys[i] = (const char *)keys[i].data;
        m->klens[i] = keys[i].len;
    }
    return ORBIT_OK;
}

/* rdb_mget.cc: RocksDB's batched MultiGet on the default column family;
 * outputs as rocksdb_multi_get's; 0, or -1 out of memory. */
int orbit__rdb_mget_batched(rocksdb_t *db, const rocksdb_readoptions_t *ro, size_t n,
                            const char *const *keys, const size_t *klens, char **values,
                            size_t *sizes, char **errs);

/* RocksDB's MultiGet reads every key at one sequence number (DBImpl pins
 * one super version and sequence for the whole call), so a read at the
 * latest data is one consistent view without a snapshot of our own. */
static int rdb_multi_get(void *self, void *snap, size_t n, const orbit_slice *keys,
                         orbit_buf *vals, int *status)
{
    rdb *db = self;
    const rocksdb_readoptions_t *ro = snap ? ((rdb_snap *)snap)->ro : db->ro;
    rdb_mget m;
    if (n == 0)
        return ORBIT_OK;
    int rc = mget_alloc(&m, n, keys);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            status[i] = rc;
        return rc;
    }
    if (db->tdb)
        rocksdb_transactiondb_multi_get(db->tdb, ro, n, m.keys, m.klens, m.values, m.sizes,
                                        m.errs);
    else if (orbit__rdb_mget_batched(db->base, ro, n, m.keys, m.klens, m.values, m.sizes,
                                     m.errs)) {
        free((void *)m.keys);
        for (size_t i = 0; i < n; i++)
            status[i] = ORBIT_ENOMEM;
        return ORBIT_ENOMEM;
    }
    rc = multi_get_finish(n, m.values, m.sizes, m.errs, RDB_CTX_PLAIN, vals, status);
    free((void *)m.keys);
    return rc;
}

int orbit__rdb_txn_mget_raw(rocksdb_transaction_t *t, const rocksdb_readoptions_t *ro, size_t n,
                            const orbit_slice *keys, orbit_buf *vals, int *status)
{
    rdb_mget m;
    if (n == 0)
        return ORBIT_OK;
    int rc = mget_alloc(&m, n, keys);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            status[i] = rc;
        return rc;
    }
    rocksdb_transaction_multi_get(t, ro, n, m.keys, m.klens, m.values, m.sizes, m.errs);
    rc = multi_get_finish(n, m.values, m.sizes, m.errs, RDB_CTX_TXN, vals, status);
    free((void *)m.keys);
    return rc;
}

/* ---- snapshots and plain iterators ---------------------------------- */

static int rdb_snapshot_open(void *self, void **out)
{
    rdb *db = self;
    rdb_snap *s = malloc(sizeof *s);
    if (!s)
        return ORBIT_ENOMEM;
    s->snap = db->tdb ? rocksdb_transactiondb_create_snapshot(db->tdb) : rocksdb_create_snapshot(db->base);
    if (!s->snap) {
        free(s);
        return orbit_error_set(ORBIT_EINTERNAL, "rocksdb: could not create a snapshot");
    }
    s->seq = orbit__rdb_snapshot_seq(s->snap);
    s->ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_snapshot(s->ro, s->snap);
    *out = s;
    return ORBIT_OK;
}

static uint64_t rdb_snapshot_version(void *self, void *snap)
{
    (void)self;
    return snap ? ((rdb_snap *)snap)->seq : 0;
}

static void rdb_snapshot_release(void *self, void *snap)
{
    rdb *db = self;
    rdb_snap *s = snap;
    if (!s)
        return;
    rocksdb_readoptions_destroy(s->ro);
    if (db->tdb)
        rocksdb_transactiondb_release_snapshot(db->tdb, s->snap);
    else
        rocksdb_release_snapshot(db->base, s->snap);
    free(s);
}

static int rdb_iter_open(void *self, void *snap, const orbit_range *r, void **out)
{
    rdb *db = self;
    rdb_iter *it;
    int rc = orbit__rdb_iter_new(r, snap ? ((rdb_snap *)snap)->snap : NULL, RDB_CTX_PLAIN, &it);
    if (rc)
        return rc;
    const rocksdb_readoptions_t *ro = orbit__rdb_iter_readopts(it);
    orbit__rdb_iter_attach(it, db->tdb ? rocksdb_transactiondb_create_iterator(db->tdb, ro)
                                       : rocksdb_create_iterator(db->base, ro));
    *out = it;
    return ORBIT_OK;
}

const orbit_provider orbit__provider_rocksdb = {
    .version = ORBIT_PROVIDER_VERSION,
    .name = "rocksdb",
    .open = rdb_open,
    .close = rdb_close,
    .capabilities = rdb_capabilities,
    .get = rdb_get,
    .put = rdb_put,
    .del = rdb_del,
    .write = rdb_write,
    .iter_open = rdb_iter_open,
    .iter_next = orbit__rdb_iter_next,
    .iter_close = orbit__rdb_iter_close,
    .snapshot_open = rdb_snapshot_open,
    .snapshot_release = rdb_snapshot_release,
    .txn_begin = orbit__rdb_txn_begin,
    .txn_get = orbit__rdb_txn_get,
    .txn_put = orbit__rdb_txn_put,
    .txn_del = orbit__rdb_txn_del,
    .txn_iter_open = orbit__rdb_txn_iter_open,
    .txn_commit = orbit__rdb_txn_commit,
    .txn_rollback = orbit__rdb_txn_rollback,
    .submit = NULL,
    .multi_get = rdb_multi_get,
    .txn_multi_get = orbit__rdb_txn_multi_get,
    .delete_range = rdb_delete_range,
    /* RocksDB has no compare-and-set: the contract layer's transaction. */
    .cas = NULL,
    .iter_seek = orbit__rdb_iter_seek,
    .snapshot_version = rdb_snapshot_version,
    /* No history is kept (supports_snapshot_at = 0). */
    .snapshot_open_at = NULL,
    .write_version = rdb_write_version,
    .txn_commit_version = orbit__rdb_txn_commit_version,
    /* RocksDB transactions have no DeleteRange: the contract layer scans
     * the transaction's view and deletes key by key. */
    .txn_delete_range = NULL,
    .txn_put_untracked = orbit__rdb_txn_put_untracked,
    .txn_del_untracked = orbit__rdb_txn_del_untracked,
    .store_stats = orbit__rdb_store_stats,
};
