/*
 * Sequence numbers the RocksDB 7.8 C API does not expose: a snapshot's, and
 * a TransactionDB's latest. Both are one virtual call on the C++ object the
 * C API's handle wraps. The handles' layouts are re-declared here exactly
 * as RocksDB's db/c.cc defines them (one pointer to the C++ object), the
 * one assumption this file makes; it is in C++ only because the calls are.
 * Part of the rocksdb provider (src/providers/rocksdb/), called by rdb.c
 * and rdb_txn.c through rdb_int.h; nothing here throws.
 */
#include <rocksdb/snapshot.h>
#include <rocksdb/utilities/transaction_db.h>

#include <stdint.h>

struct rocksdb_snapshot_t {
    const rocksdb::Snapshot *rep;
};

struct rocksdb_transactiondb_t {
    rocksdb::TransactionDB *rep;
};

extern "C" uint64_t orbit__rdb_snapshot_seq(const rocksdb_snapshot_t *s);
extern "C" uint64_t orbit__rdb_txndb_latest_seq(rocksdb_transactiondb_t *tdb);

uint64_t orbit__rdb_snapshot_seq(const rocksdb_snapshot_t *s)
{
    return s->rep->GetSequenceNumber();
}

uint64_t orbit__rdb_txndb_latest_seq(rocksdb_transactiondb_t *tdb)
{
    return tdb->rep->GetLatestSequenceNumber();
}
