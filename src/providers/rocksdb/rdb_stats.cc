/*
 * The rocksdb provider's store statistics (provider table version 4,
 * orbit_kv_store_stats): the store's size, key estimate, memtables and
 * block cache, read from RocksDB's DB properties and from a Statistics
 * object the provider attaches at open.
 *
 * Sources (DB::GetIntProperty, each on the default column family):
 *   size_bytes     rocksdb.total-sst-files-size + rocksdb.cur-size-all-mem-tables
 *                  (every SST file, obsolete ones not yet deleted
 *                  included, plus the write buffers; the WAL is not counted)
 *   live_bytes     rocksdb.estimate-live-data-size (SST files only: data
 *                  still in a memtable is not in it)
 *   keys           rocksdb.estimate-num-keys (memtables and SSTs; an
 *                  overwrite or delete is netted out only by compaction)
 *   memtable_bytes rocksdb.cur-size-all-mem-tables
 *   cache_*        rocksdb.block-cache-capacity / -usage, and the
 *                  Statistics tickers BLOCK_CACHE_HIT / BLOCK_CACHE_MISS
 *                  (data, index and filter blocks) since open; none of
 *                  them when the store has no block cache (cache_mb=0).
 * A property RocksDB does not answer stays ORBIT_STAT_NONE.
 *
 * The Statistics object keeps tickers only (StatsLevel
 * kExceptHistogramOrTimers): per-core counters, no timers or histograms on
 * the read and write paths. The RocksDB 7.8 C API can neither set that
 * level nor read one ticker, and DB properties need no C API either, so
 * this file is C++, on the C++ objects behind the C handles, re-declared
 * as RocksDB's db/c.cc defines them (as in rdb_seq.cc). Nothing here
 * throws out of the file.
 */
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/statistics.h>
#include <rocksdb/utilities/transaction_db.h>

#include <cstdint>
#include <memory>
#include <new>
#include <string>

extern "C" {
#include "providers/rocksdb/rdb_int.h"
}

struct rocksdb_t {
    rocksdb::DB *rep;
};

struct rocksdb_transactiondb_t {
    rocksdb::TransactionDB *rep;
};

struct rocksdb_options_t {
    rocksdb::Options rep;
};

void orbit__rdb_stats_enable(rocksdb_options_t *o)
{
    try {
        std::shared_ptr<rocksdb::Statistics> st = rocksdb::CreateDBStatistics();
        st->set_stats_level(rocksdb::StatsLevel::kExceptHistogramOrTimers);
        o->rep.statistics = st;
    } catch (...) {
        /* out of memory: the store opens without cache counters */
    }
}

static void prop(rocksdb::DB *d, const std::string &name, uint64_t *out)
{
    uint64_t v = 0;
    if (d->GetIntProperty(name, &v))
        *out = v;
}

int orbit__rdb_store_stats(void *self, orbit_store_stats *out)
{
    rdb *db = static_cast<rdb *>(self);
    rocksdb::DB *d = db->tdb ? static_cast<rocksdb::DB *>(db->tdb->rep)
                             : (db->base ? db->base->rep : nullptr);
    if (!d)
        return orbit_error_set(ORBIT_EINTERNAL, "rocksdb stats %s: no open database", db->path);
    try {
        using P = rocksdb::DB::Properties;
        uint64_t sst = ORBIT_STAT_NONE;
        prop(d, P::kTotalSstFilesSize, &sst);
        prop(d, P::kCurSizeAllMemTables, &out->memtable_bytes);
        if (sst != ORBIT_STAT_NONE && out->memtable_bytes != ORBIT_STAT_NONE)
            out->size_bytes = sst + out->memtable_bytes;
        prop(d, P::kEstimateLiveDataSize, &out->live_bytes);
        prop(d, P::kEstimateNumKeys, &out->keys);
        out->keys_exact = 0;
        prop(d, P::kBlockCacheCapacity, &out->cache_capacity_bytes);
        if (out->cache_capacity_bytes == ORBIT_STAT_NONE)
            return ORBIT_OK; /* no block cache */
        prop(d, P::kBlockCacheUsage, &out->cache_usage_bytes);
        std::shared_ptr<rocksdb::Statistics> st = d->GetDBOptions().statistics;
        if (st) {
            out->cache_hits = st->getTickerCount(rocksdb::BLOCK_CACHE_HIT);
            out->cache_misses = st->getTickerCount(rocksdb::BLOCK_CACHE_MISS);
        }
    } catch (const std::bad_alloc &) {
        return orbit_error_set(ORBIT_ENOMEM, "rocksdb stats %s: out of memory", db->path);
    } catch (...) {
        return orbit_error_set(ORBIT_EINTERNAL, "rocksdb stats %s: unexpected exception",
                               db->path);
    }
    return ORBIT_OK;
}
