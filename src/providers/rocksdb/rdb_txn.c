/*
 * Transactions of the RocksDB provider.
 *
 * ORBIT_ISO_SNAPSHOT: the RocksDB transaction takes a snapshot at begin and
 * every read of the transaction (get, get_for_update, iterators) carries it,
 * so reads see that snapshot merged with the transaction's own writes. In
 * pessimistic mode a write or get_for_update on a key changed after the
 * snapshot fails at once ("Resource busy"), and a key locked by another
 * transaction fails after lock_timeout_ms ("Timed out"); in optimistic mode
 * the same conflicts surface at commit. Both become ORBIT_ECONFLICT.
 * ORBIT_ISO_READ_COMMITTED: no snapshot; reads use the store's shared read
 * options and see the latest committed data plus the transaction's writes;
 * pessimistic transactions only lock, optimistic ones validate each tracked
 * key against the sequence number seen at its first access.
 * ORBIT_ISO_SERIALIZABLE is not offered (RocksDB does not track plain reads).
 *
 * Range deletes: a RocksDB transaction has no DeleteRange (the contract
 * layer deletes key by key inside it). Outside transactions, an optimistic
 * store writes range tombstones, which RocksDB's optimistic validation can
 * miss; an optimistic transaction that wrote or locked a key therefore
 * commits under the read side of the store's rd_lock and fails with
 * ECONFLICT if any range delete ran since it began (see struct rdb). A
 * pessimistic store has no tombstones: orbit__rdb_write_locked() below
 * deletes a range key by key in a transaction of its own, so the key locks
 * order it with every other writer.
 *
 * Commit versions are the store's latest sequence number read just after
 * the commit: the commit is visible at it, and with concurrent writers it
 * may also cover later commits (an upper bound of the commit's own number).
 *
 * Invariants: commit and rollback free the transaction whatever happens, and
 * with it the snapshot handle and read options it owns. Destroying a
 * pessimistic RocksDB transaction releases its locks, so a failed commit or
 * rollback never leaves keys locked. A transaction is used by one thread at a
 * time.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "providers/rocksdb/rdb_int.h"

typedef struct rdb_txn {
    rdb *db;
    rocksdb_transaction_t *t;
    /* The C API's handle on the transaction's snapshot (freed with
     * rocksdb_free; the snapshot itself belongs to the transaction). NULL
     * under read committed. */
    const rocksdb_snapshot_t *snap;
    rocksdb_readoptions_t *ro; /* own when snap != NULL, else db->ro */
    uint64_t rd_epoch; /* db->rd_epoch at begin (optimistic) */
    int touched;       /* wrote, deleted or read for update */
    int wrote;         /* wrote or deleted: the commit has a version */
} rdb_txn;

static void txn_free(rdb_txn *x)
{
    rocksdb_transaction_destroy(x->t);
    if (x->snap)
        rocksdb_free((void *)x->snap);
    if (x->ro && x->ro != x->db->ro)
        rocksdb_readoptions_destroy(x->ro);
    free(x);
}

int orbit__rdb_txn_begin(void *self, const orbit_txn_opts *opts, void **out)
{
    rdb *db = self;
    orbit_isolation iso = opts ? opts->isolation : ORBIT_ISO_SNAPSHOT;
    int snapshot;
    rdb_txn *x;

    *out = NULL;
    int rc = orbit__rdb_check_writable(db, "begin transaction");
    if (rc)
        return rc;
    if (iso == ORBIT_ISO_SERIALIZABLE)
        return orbit_error_set(ORBIT_ENOTSUP,
                               "rocksdb: serializable isolation is not supported "
                               "(snapshot and read_committed are)");
    if (iso != ORBIT_ISO_SNAPSHOT && iso != ORBIT_ISO_READ_COMMITTED)
        return orbit_error_set(ORBIT_EINVAL, "rocksdb: unknown isolation level %d", (int)iso);
    snapshot = iso == ORBIT_ISO_SNAPSHOT;

    x = calloc(1, sizeof *x);
    if (!x)
        return ORBIT_ENOMEM;
    x->db = db;
    /* Read before the transaction's snapshot: a range delete between the two
     * is then counted too (a conservative conflict, never a missed one). */
    x->rd_epoch = __atomic_load_n(&db->rd_epoch, __ATOMIC_ACQUIRE);
    if (db->tdb)
        x->t = rocksdb_transaction_begin(db->tdb, db->wo, snapshot ? db->txo_snap : db->txo_rc,
                                         NULL);
    else
        x->t = rocksdb_optimistictransaction_begin(db->odb, db->wo,
                                                   snapshot ? db->otxo_snap : db->otxo_rc, NULL);
    if (!x->t) {
        free(x);
        return orbit_error_set(ORBIT_EINTERNAL, "rocksdb: could not begin a transaction");
    }
    if (snapshot) {
        x->snap = rocksdb_transaction_get_snapshot(x->t);
        x->ro = rocksdb_readoptions_create();
        rocksdb_readoptions_set_snapshot(x->ro, x->snap);
    } else {
        x->ro = db->ro;
    }
    *out = x;
    return ORBIT_OK;
}

int orbit__rdb_txn_get(void *txn, const uint8_t *k, size_t kl, int for_update,
                       orbit_value_fn fn, void *arg)
{
    rdb_txn *x = txn;
    rocksdb_pinnableslice_t *ps;
    char *err = NULL;

    if (for_update)
        x->touched = 1;
    if (for_update)
        RDB_CALL_LOCKING(err, ps = rocksdb_transaction_get_pinned_for_update(
                                  x->t, x->ro, (const char *)k, kl, 1, &err));
    else
        ps = rocksdb_transaction_get_pinned(x->t, x->ro, (const char *)k, kl, &err);
    if (err)
        return orbit__rdb_error(err, RDB_CTX_TXN, for_update ? "txn get_for_update" : "txn get");
    if (!ps)
        return ORBIT_NOTFOUND;
    size_t vl = 0;
    const char *v = rocksdb_pinnableslice_value(ps, &vl);
    int rc = fn ? fn(arg, (const uint8_t *)v, vl) : ORBIT_OK;
    rocksdb_pinnableslice_destroy(ps);
    return rc;
}

int orbit__rdb_txn_put(void *txn, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    rdb_txn *x = txn;
    char *err = NULL;
    int rc = orbit__rdb_check_value(vl);
    if (rc)
        return rc;
    x->touched = x->wrote = 1;
    RDB_CALL_LOCKING(err, rocksdb_transaction_put(x->t, (const char *)k, kl, (const char *)v,
                                                  vl, &err));
    return err ? orbit__rdb_error(err, RDB_CTX_TXN, "txn put") : ORBIT_OK;
}

int orbit__rdb_txn_del(void *txn, const uint8_t *k, size_t kl)
{
    rdb_txn *x = txn;
    char *err = NULL;
    x->touched = x->wrote = 1;
    RDB_CALL_LOCKING(err, rocksdb_transaction_delete(x->t, (const char *)k, kl, &err));
    return err ? orbit__rdb_error(err, RDB_CTX_TXN, "txn delete") : ORBIT_OK;
}

/* Untracked writes (orbit_txn_put_untracked): the key joins the batch but
 * not the optimistic validation; a pessimistic transaction still locks it. */
int orbit__rdb_txn_put_untracked(void *txn, const uint8_t *k, size_t kl, const uint8_t *v,
                                 size_t vl)
{
    rdb_txn *x = txn;
    char *err = NULL;
    int rc = orbit__rdb_check_value(vl);
    if (rc)
        return rc;
    x->touched = x->wrote = 1;
    RDB_CALL_LOCKING(err, orbit__rdb_raw_put_untracked(x->t, (const char *)k, kl,
                                                       (const char *)v, vl, &err));
    return err ? orbit__rdb_error(err, RDB_CTX_TXN, "txn put") : ORBIT_OK;
}

int orbit__rdb_txn_del_untracked(void *txn, const uint8_t *k, size_t kl)
{
    rdb_txn *x = txn;
    char *err = NULL;
    x->touched = x->wrote = 1;
    RDB_CALL_LOCKING(err, orbit__rdb_raw_del_untracked(x->t, (const char *)k, kl, &err));
    return err ? orbit__rdb_error(err, RDB_CTX_TXN, "txn delete") : ORBIT_OK;
}

int orbit__rdb_txn_iter_open(void *txn, const orbit_range *r, void **out)
{
    rdb_txn *x = txn;
    rdb_iter *it;
    int rc = orbit__rdb_iter_new(r, x->snap, RDB_CTX_TXN, &it);
    if (rc)
        return rc;
    orbit__rdb_iter_attach(it, rocksdb_transaction_create_iterator(x->t,
                                                                   orbit__rdb_iter_readopts(it)));
    *out = it;
    return ORBIT_OK;
}

int orbit__rdb_txn_multi_get(void *txn, size_t n, const orbit_slice *keys, orbit_buf *vals,
                             int *status)
{
    rdb_txn *x = txn;
    /* Transaction::MultiGet reads each key through the transaction's write
     * batch first, so own writes are seen, at the transaction's snapshot. */
    return orbit__rdb_txn_mget_raw(x->t, x->ro, n, keys, vals, status);
}

/* Commit x and free it; *version (if non-NULL) gets the commit's version,
 * 0 when it wrote nothing or failed. */
static int commit(rdb_txn *x, uint64_t *version)
{
    rdb *db = x->db;
    char *err = NULL;
    int guarded = db->mode == RDB_OPTIMISTIC && x->touched;
    int rc = ORBIT_OK;
    uint64_t v = 0;

    if (guarded) {
        pthread_rwlock_rdlock(&db->rd_lock);
        if (__atomic_load_n(&db->rd_epoch, __ATOMIC_ACQUIRE) != x->rd_epoch) {
            pthread_rwlock_unlock(&db->rd_lock);
            txn_free(x);
            return orbit_error_set(ORBIT_ECONFLICT,
                                   "rocksdb commit: a range delete ran during this optimistic "
                                   "transaction (RocksDB cannot check its keys against range "
                                   "tombstones)");
        }
    }
    rocksdb_transaction_commit(x->t, &err);
    if (!err && version && x->wrote)
        v = orbit__rdb_latest_seq(db);
    if (guarded)
        pthread_rwlock_unlock(&db->rd_lock);
    txn_free(x);
    if (err)
        rc = orbit__rdb_error(err, RDB_CTX_TXN, "commit");
    if (version)
        *version = rc == ORBIT_OK ? v : 0;
    return rc;
}

int orbit__rdb_txn_commit(void *txn)
{
    return commit(txn, NULL);
}

int orbit__rdb_txn_commit_version(void *txn, uint64_t *version)
{
    return commit(txn, version);
}

void orbit__rdb_txn_rollback(void *txn)
{
    rdb_txn *x = txn;
    char *err = NULL;
    if (!x)
        return;
    /* A failed rollback has no one to report to (rollback returns nothing)
     * and harms no one: destroying the transaction below discards its writes
     * and releases its locks regardless. */
    rocksdb_transaction_rollback(x->t, &err);
    if (err)
        rocksdb_free(err);
    txn_free(x);
}

/* ---- range deletes under key locks (pessimistic) --------------------- */

static int locked_entry(rocksdb_transaction_t *t, const orbit_batch_entry *e)
{
    char *err = NULL;

    if (e->type == ORBIT_OP_PUT) {
        RDB_CALL_LOCKING(err, rocksdb_transaction_put(t, (const char *)e->key, e->klen,
                                                      (const char *)e->val, e->vlen, &err));
    } else if (e->type == ORBIT_OP_DEL) {
        RDB_CALL_LOCKING(err, rocksdb_transaction_delete(t, (const char *)e->key, e->klen, &err));
    } else {
        /* The keys the transaction sees in [lo, hi): stored ones at the
         * latest data merged with its own earlier entries, so the order of
         * the batch holds. */
        int bounded = e->val && e->vlen;
        if (bounded && orbit__key_cmp(e->key, e->klen, e->val, e->vlen) >= 0)
            return ORBIT_OK;
        orbit_range r = {.lo = e->key, .lo_len = e->klen, .hi = bounded ? e->val : NULL,
                         .hi_len = bounded ? e->vlen : 0, .keys_only = 1};
        rdb_iter *it;
        int rc = orbit__rdb_iter_new(&r, NULL, RDB_CTX_PLAIN, &it);
        if (rc)
            return rc;
        orbit__rdb_iter_attach(it, rocksdb_transaction_create_iterator(
                                       t, orbit__rdb_iter_readopts(it)));
        /* Collect the keys first: a delete appends to the transaction's
         * write batch, which may move the memory the iterator's current key
         * points into. Keys are stored back to back, each after its length. */
        orbit_buf keys = ORBIT_BUF_INIT;
        const uint8_t *k, *v;
        size_t kl, vl;
        while ((rc = orbit__rdb_iter_next(it, &k, &kl, &v, &vl)) == ORBIT_OK) {
            rc = orbit_buf_append(&keys, &kl, sizeof kl);
            if (rc == ORBIT_OK)
                rc = orbit_buf_append(&keys, k, kl);
            if (rc)
                break;
        }
        orbit__rdb_iter_close(it);
        if (rc != ORBIT_NOTFOUND) {
            orbit_buf_release(&keys);
            return rc;
        }
        for (size_t off = 0; off < keys.len && !err; off += kl) {
            memcpy(&kl, keys.data + off, sizeof kl);
            off += sizeof kl;
            RDB_CALL_LOCKING(err, rocksdb_transaction_delete(t, (const char *)keys.data + off, kl,
                                                             &err));
        }
        orbit_buf_release(&keys);
    }
    return err ? orbit__rdb_error(err, RDB_CTX_PLAIN, "write") : ORBIT_OK;
}

int orbit__rdb_write_locked(rdb *db, const orbit_batch *b, const orbit_batch_entry *one)
{
    size_t n = b ? orbit_batch_count(b) : 1;
    char *err = NULL;
    int rc = ORBIT_OK;

    /* Read committed: no snapshot, so only a key lock held by another
     * transaction stops it (as for any plain write), not a newer version. */
    rocksdb_transaction_t *t = rocksdb_transaction_begin(db->tdb, db->wo, db->txo_rc, NULL);
    if (!t)
        return orbit_error_set(ORBIT_EINTERNAL, "rocksdb: could not begin a transaction");
    for (size_t i = 0; i < n && rc == ORBIT_OK; i++) {
        orbit_batch_entry e;
        if (b)
            orbit_batch_entry_at(b, i, &e);
        else
            e = *one;
        rc = locked_entry(t, &e);
    }
    if (rc == ORBIT_OK) {
        rocksdb_transaction_commit(t, &err);
        if (err)
            rc = orbit__rdb_error(err, RDB_CTX_PLAIN, "write");
    }
    rocksdb_transaction_destroy(t);
    return rc;
}
