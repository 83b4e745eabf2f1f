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
 * Invariants: commit and rollback free the transaction whatever happens, and
 * with it the snapshot handle and read options it owns. Destroying a
 * pessimistic RocksDB transaction releases its locks, so a failed commit or
 * rollback never leaves keys locked. A transaction is used by one thread at a
 * time.
 */
#include <stdlib.h>

#include "providers/rocksdb/rdb_int.h"

typedef struct rdb_txn {
    rdb *db;
    rocksdb_transaction_t *t;
    /* The C API's handle on the transaction's snapshot (freed with
     * rocksdb_free; the snapshot itself belongs to the transaction). NULL
     * under read committed. */
    const rocksdb_snapshot_t *snap;
    rocksdb_readoptions_t *ro; /* own when snap != NULL, else db->ro */
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
    RDB_CALL_LOCKING(err, rocksdb_transaction_put(x->t, (const char *)k, kl, (const char *)v,
                                                  vl, &err));
    return err ? orbit__rdb_error(err, RDB_CTX_TXN, "txn put") : ORBIT_OK;
}

int orbit__rdb_txn_del(void *txn, const uint8_t *k, size_t kl)
{
    rdb_txn *x = txn;
    char *err = NULL;
    RDB_CALL_LOCKING(err, rocksdb_transaction_delete(x->t, (const char *)k, kl, &err));
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

int orbit__rdb_txn_commit(void *txn)
{
    rdb_txn *x = txn;
    char *err = NULL;
    rocksdb_transaction_commit(x->t, &err);
    txn_free(x);
    return err ? orbit__rdb_error(err, RDB_CTX_TXN, "commit") : ORBIT_OK;
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
