/*
 * Opening an OptimisticTransactionDB with a lock-bucket count the RocksDB
 * 7.8 C API cannot set. Its rocksdb_optimistictransactiondb_open keeps the
 * default of 2^20 validation buckets, a million mutexes built at every
 * open (about 40 MB, and most of the CPU time of a one-shot `orbit kv put`);
 * Orbit uses RDB_OCC_BUCKETS instead. The buckets only serialise the
 * validation of concurrent commits whose keys hash alike (never a conflict
 * by themselves), and plain writes do not use them.
 *
 * The handles are re-declared exactly as RocksDB's db/c.cc defines them
 * (rocksdb_options_t holds an Options, the database handle one pointer),
 * the same assumption rdb_seq.cc makes; the handle returned here is closed
 * by rocksdb_optimistictransactiondb_close like one the C API made. Part of
 * the rocksdb provider, called by rdb.c through rdb_int.h; nothing here
 * throws.
 */
#include <rocksdb/options.h>
#include <rocksdb/utilities/optimistic_transaction_db.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

struct rocksdb_options_t {
    rocksdb::Options rep;
};

struct rocksdb_optimistictransactiondb_t {
    rocksdb::OptimisticTransactionDB *rep;
};

extern "C" rocksdb_optimistictransactiondb_t *
orbit__rdb_occ_open(const rocksdb_options_t *o, const char *path, unsigned buckets, char **err);

rocksdb_optimistictransactiondb_t *orbit__rdb_occ_open(const rocksdb_options_t *o,
                                                       const char *path, unsigned buckets,
                                                       char **err)
{
    rocksdb::OptimisticTransactionDBOptions occ;
    occ.occ_lock_buckets = buckets;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    cfs.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions(o->rep));
    std::vector<rocksdb::ColumnFamilyHandle *> handles;
    rocksdb::OptimisticTransactionDB *db = nullptr;

    *err = nullptr;
    rocksdb::Status s = rocksdb::OptimisticTransactionDB::Open(rocksdb::DBOptions(o->rep), occ,
                                                               path, cfs, &handles, &db);
    if (!s.ok()) {
        std::string t = s.ToString();
        *err = static_cast<char *>(std::malloc(t.size() + 1));
        if (*err)
            std::memcpy(*err, t.c_str(), t.size() + 1);
        return nullptr;
    }
    /* The DB keeps its own reference to the default column family. */
    for (auto *h : handles)
        delete h;
    auto *out = new (std::nothrow) rocksdb_optimistictransactiondb_t;
    if (!out) {
        delete db;
        return nullptr;
    }
    out->rep = db;
    return out;
}
