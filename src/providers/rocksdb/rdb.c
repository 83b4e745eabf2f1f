/*
 * The RocksDB provider ("rocksdb:PATH[?options]"), Orbit's embedded default:
 * opening and closing a store, its options, point reads and writes, atomic
 * batches, snapshots, plain iterators and the provider table. Transactions
 * live in rdb_txn.c, the iterator walk in rdb_iter.c.
 *
 * It sits directly under the contract layer (src/kv), which has already
 * validated arguments, so this file only adds what RocksDB needs: option
 * parsing, the value-size limit, and the translation of every RocksDB error
 * string into an Orbit code (orbit__rdb_error, the one place that reads
 * them).
 *
 * Invariants:
 *   - after open, the store's read/write/transaction options are immutable,
 *     which is what lets every thread share them without locks;
 *   - in pessimistic mode every write goes through the TransactionDB so it
 *     waits for (or fails on) the key locks transactions hold; in optimistic
 *     mode plain writes go to the base DB and transactions validate at commit;
 *   - a RocksDB pinnable slice or errptr string never outlives the call that
 *     produced it.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "providers/providers.h"
#include "providers/rocksdb/rdb_int.h"

/* Options read from the URI, checked before anything touches the disk. */
typedef struct rdb_conf {
    rdb_mode mode;
    int sync;
    int wal;
    uint64_t cache_mb;
    int compression;
    uint64_t lock_timeout_ms;
    int create;
} rdb_conf;

/* A block cache above 1 TiB is a typo, not a plan; the bound also keeps
 * cache_mb << 20 from overflowing. */
#define RDB_MAX_CACHE_MB ((uint64_t)1 << 20)
/* One day: waits longer than that are a misconfiguration. */
#define RDB_MAX_LOCK_TIMEOUT_MS ((uint64_t)24 * 3600 * 1000)

/* ---- errors --------------------------------------------------------- */

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int orbit__rdb_error(char *err, rdb_ctx ctx, const char *what)
{
    int code;

    if (!err)
        return orbit_error_set(ORBIT_EINTERNAL, "rocksdb %s: failed without a message", what);
    /* RocksDB prefixes each status text with its code's name
     * (Status::ToString), so the prefix is the code. Every lock wait we
     * configure is bounded by lock_timeout_ms and no deadlines are set, so a
     * timeout is always a lock that was not granted. */
    if (starts_with(err, "Resource busy") || starts_with(err, "Operation failed. Try again") ||
        starts_with(err, "Operation timed out")) {
        code = ctx == RDB_CTX_TXN ? ORBIT_ECONFLICT : ORBIT_EBUSY;
    } else if (starts_with(err, "Corruption")) {
        code = ORBIT_ECORRUPT;
    } else if (starts_with(err, "IO error")) {
        if (ctx == RDB_CTX_OPEN && strstr(err, "/LOCK")) {
            int rc = orbit_error_set(ORBIT_EBUSY,
                                     "rocksdb open %s: the store is already open in this or "
                                     "another process (%s)",
                                     what, err);
            rocksdb_free(err);
            return rc;
        }
        code = ORBIT_EIO;
    } else if (starts_with(err, "Invalid argument")) {
        code = ORBIT_EINVAL;
    } else if (starts_with(err, "Not implemented") || starts_with(err, "Not supported")) {
        code = ORBIT_ENOTSUP;
    } else {
        code = ORBIT_EIO;
    }
    orbit_error_set(code, "rocksdb %s: %s", what, err);
    rocksdb_free(err);
    return code;
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
                               "%zu bytes (64 MiB)",
                               vl, ORBIT_RDB_MAX_VALUE);
    return ORBIT_OK;
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

    rc = orbit_uri_param_bool(uri, "create", 1, &c->create);
    if (rc)
        return rc;

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
    free(db);
}

/* Open the database itself. The option objects are copied into the DB by
 * RocksDB (the cache is reference-counted), so they are dropped here. */
static int open_db(rdb *db, const rdb_conf *c)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_block_based_table_options_t *bbo = rocksdb_block_based_options_create();
    rocksdb_cache_t *cache = NULL;
    char *err = NULL;

    rocksdb_options_set_create_if_missing(o, (unsigned char)c->create);
    rocksdb_options_set_compression(o, c->compression);
    /* Every open starts a new info LOG; keep a few, not RocksDB's 1000. */
    rocksdb_options_set_keep_log_file_num(o, 4);
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

    if (c->mode == RDB_PESSIMISTIC) {
        rocksdb_transactiondb_options_t *tdo = rocksdb_transactiondb_options_create();
        rocksdb_transactiondb_options_set_default_lock_timeout(tdo, (int64_t)c->lock_timeout_ms);
        rocksdb_transactiondb_options_set_transaction_lock_timeout(tdo,
                                                                   (int64_t)c->lock_timeout_ms);
        db->tdb = rocksdb_transactiondb_open(o, tdo, db->path, &err);
        rocksdb_transactiondb_options_destroy(tdo);
    } else {
        db->odb = rocksdb_optimistictransactiondb_open(o, db->path, &err);
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
    if (!db->wal) {
        /* Unlogged writes live only in the memtable: persist them, or a
         * reopen would not see them. close() cannot report a failure, and
         * RocksDB retries the flush at shutdown anyway. */
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

static int rdb_open(orbit_uri *uri, void **self)
{
    rdb_conf c;
    rdb *db;
    int rc;

    *self = NULL;
    const char *path = orbit_uri_body(uri);
    if (!path || !*path)
        return orbit_error_set(ORBIT_EBADURI, "rocksdb: the URI needs a directory: rocksdb:PATH");
    rc = parse_conf(uri, &c);
    if (rc)
        return rc;

    if (c.create) {
        rc = make_dirs(path);
        if (rc)
            return rc;
    } else {
        struct stat st;
        if (stat(path, &st) != 0)
            return orbit_error_set(ORBIT_EINVAL,
                                   "rocksdb: store directory %s does not exist (create=off)",
                                   path);
    }

    db = calloc(1, sizeof *db);
    if (!db)
        return ORBIT_ENOMEM;
    db->path = strdup(path);
    if (!db->path) {
        free(db);
        return ORBIT_ENOMEM;
    }
    db->mode = c.mode;
    db->wal = c.wal;
    rc = open_db(db, &c);
    if (rc) {
        rdb_free(db);
        return rc;
    }

    db->ro = rocksdb_readoptions_create();
    db->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(db->wo, (unsigned char)c.sync);
    rocksdb_writeoptions_disable_WAL(db->wo, !c.wal);
    if (c.mode == RDB_PESSIMISTIC) {
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
    out->supports_transactions = 1;
    out->supports_distributed_transactions = 0;
    out->supports_multi_region = 0;
    out->supports_snapshots = 1;
    out->native_async = 0;
    out->isolation_levels = ORBIT_ISO_BIT(ORBIT_ISO_SNAPSHOT) |
                            ORBIT_ISO_BIT(ORBIT_ISO_READ_COMMITTED);
    out->max_batch_ops = 0;
    out->max_key_size = 0;
    out->max_value_size = ORBIT_RDB_MAX_VALUE;
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
    if (rc)
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
    if (db->tdb)
        RDB_CALL_LOCKING(err, rocksdb_transactiondb_delete(db->tdb, db->wo, (const char *)k, kl,
                                                           &err));
    else
        rocksdb_delete(db->base, db->wo, (const char *)k, kl, &err);
    return err ? orbit__rdb_error(err, RDB_CTX_PLAIN, "delete") : ORBIT_OK;
}

static int rdb_write(void *self, const orbit_batch *b)
{
    rdb *db = self;
    size_t n = orbit_batch_count(b);
    rocksdb_writebatch_t *wb;
    char *err = NULL;

    if (n == 0)
        return ORBIT_OK;
    wb = rocksdb_writebatch_create();
    for (size_t i = 0; i < n; i++) {
        orbit_batch_entry e;
        orbit_batch_entry_at(b, i, &e);
        if (e.type == ORBIT_OP_PUT) {
            int rc = orbit__rdb_check_value(e.vlen);
            if (rc) {
                rocksdb_writebatch_destroy(wb);
                return rc;
            }
            rocksdb_writebatch_put(wb, (const char *)e.key, e.klen, (const char *)e.val,
                                   e.vlen);
        } else if (e.type == ORBIT_OP_DEL) {
            rocksdb_writebatch_delete(wb, (const char *)e.key, e.klen);
        } else {
            rocksdb_writebatch_destroy(wb);
            return orbit_error_set(ORBIT_EINVAL, "rocksdb write: batch entry %zu has type %d", i,
                                   (int)e.type);
        }
    }
    if (db->tdb)
        RDB_CALL_LOCKING(err, rocksdb_transactiondb_write(db->tdb, db->wo, wb, &err));
    else
        rocksdb_write(db->base, db->wo, wb, &err);
    rocksdb_writebatch_destroy(wb);
    return err ? orbit__rdb_error(err, RDB_CTX_PLAIN, "write") : ORBIT_OK;
}

/* ---- snapshots and plain iterators ---------------------------------- */

static int rdb_snapshot_open(void *self, void **out)
{
    rdb *db = self;
    rdb_snap *s = malloc(sizeof *s);
    if (!s)
        return ORBIT_ENOMEM;
    s->snap = db->tdb ? rocksdb_transactiondb_create_snapshot(db->tdb)
                      : rocksdb_create_snapshot(db->base);
    if (!s->snap) {
        free(s);
        return orbit_error_set(ORBIT_EINTERNAL, "rocksdb: could not create a snapshot");
    }
    s->ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_snapshot(s->ro, s->snap);
    *out = s;
    return ORBIT_OK;
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
};
