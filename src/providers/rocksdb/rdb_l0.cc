/*
 * A synchronous compaction of level 0, run when a store is opened for
 * writing (rdb.c), so a store that many short-lived processes write stays
 * small and fast: each such process leaves one tiny level-0 file (RocksDB
 * flushes the previous process's WAL at open), and RocksDB's own level-0
 * compaction runs in a background thread that a short process never waits
 * for (closing cancels it). The RocksDB 7.8 C API has no call that compacts
 * chosen files, so this is DB::CompactFiles on the C++ object behind the C
 * handle, re-declared as RocksDB's db/c.cc defines it (one pointer), as in
 * rdb_seq.cc.
 *
 * Level-0 files overlap, and newer ones shadow older ones, so a subset may
 * only move to level 1 if it is the oldest files (by sequence number):
 * chunks are taken oldest first. CompactFiles adds the level-1 files whose
 * keys overlap, keeping level 1 sorted and non-overlapping. Tiny level-0
 * files whose keys overlap nothing in level 1 (new keys in order, the common
 * case of a script) become tiny level-1 files, so level 1 is tidied too:
 * once it holds 8 files under 16 MiB, runs of adjacent small files are
 * merged (a level-1 to level-1 compaction of a contiguous key range, which
 * keeps the level sorted). Outputs use the column family's compression and
 * 64 MiB files (RocksDB's target_file_size_base). The work is bounded by
 * the bytes of level 0 plus the overlapping or small level-1 files, never
 * the whole store. The store is opened with automatic compactions
 * disabled, so no background compaction can hold these files; this function
 * turns them on when it is done. Nothing here throws.
 */
#include <rocksdb/db.h>
#include <rocksdb/metadata.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/transaction_db.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

struct rocksdb_t {
    rocksdb::DB *rep;
};

struct rocksdb_transactiondb_t {
    rocksdb::TransactionDB *rep;
};

/* RocksDB's target_file_size_base: the size compaction outputs are cut at. */
static const uint64_t RDB_TARGET_FILE = static_cast<uint64_t>(64) << 20;
/* A level-1 file below this is "small"; once level 1 holds
 * RDB_SMALL_FILES_MAX of them, adjacent ones are merged. */
static const uint64_t RDB_SMALL_FILE = static_cast<uint64_t>(16) << 20;
static const size_t RDB_SMALL_FILES_MAX = 8;

extern "C" void orbit__rdb_compact_l0(rocksdb_t *db, rocksdb_transactiondb_t *tdb,
                                      int min_files, int chunk, int *before, int *after,
                                      char **err);

typedef std::vector<rocksdb::SstFileMetaData> file_list;

/* Files of level 0 (oldest first) and level 1 (in key order). */
static void level_files(rocksdb::DB *d, file_list *l0, file_list *l1)
{
    rocksdb::ColumnFamilyMetaData meta;
    d->GetColumnFamilyMetaData(&meta);
    l0->clear();
    l1->clear();
    if (meta.levels.size() > 0)
        *l0 = meta.levels[0].files;
    if (meta.levels.size() > 1)
        *l1 = meta.levels[1].files;
    std::sort(l0->begin(), l0->end(),
              [](const rocksdb::SstFileMetaData &a, const rocksdb::SstFileMetaData &b) {
                  return a.largest_seqno < b.largest_seqno;
              });
    std::sort(l1->begin(), l1->end(),
              [](const rocksdb::SstFileMetaData &a, const rocksdb::SstFileMetaData &b) {
                  return a.smallestkey < b.smallestkey;
              });
}

static char *dup_status(const rocksdb::Status &s)
{
    std::string t = s.ToString();
    char *p = static_cast<char *>(std::malloc(t.size() + 1));
    if (p)
        std::memcpy(p, t.c_str(), t.size() + 1);
    return p;
}

static size_t small_files(const file_list &l1)
{
    size_t n = 0;
    for (const auto &f : l1)
        n += f.size < RDB_SMALL_FILE;
    return n;
}

void orbit__rdb_compact_l0(rocksdb_t *db, rocksdb_transactiondb_t *tdb, int min_files,
                           int chunk, int *before, int *after, char **err)
{
    rocksdb::DB *d = tdb ? static_cast<rocksdb::DB *>(tdb->rep) : db->rep;
    file_list l0, l1;
    rocksdb::Status s;
    const size_t ch = static_cast<size_t>(chunk);

    *err = nullptr;
    level_files(d, &l0, &l1);
    *before = static_cast<int>(l0.size());
    rocksdb::CompactionOptions co;
    co.compression = rocksdb::kDisableCompressionOption;
    co.output_file_size_limit = RDB_TARGET_FILE;

    /* Level 0 into level 1, oldest files first. Each round removes up to
     * `chunk` files; the bound only guards against one that does not. */
    if (l0.size() >= static_cast<size_t>(min_files)) {
        size_t rounds = l0.size() / ch + 2;
        while (s.ok() && !l0.empty() && rounds-- > 0) {
            std::vector<std::string> names;
            for (size_t i = 0; i < l0.size() && i < ch; i++)
                names.push_back(l0[i].name);
            s = d->CompactFiles(co, names, 1);
            level_files(d, &l0, &l1);
        }
    }
    /* Level 1 then holds one small file per such compaction whose keys did
     * not overlap older ones (and RocksDB's own trivial moves add more):
     * merge runs of adjacent small files, `chunk` at a time, into files of
     * up to RDB_TARGET_FILE. */
    if (s.ok() && small_files(l1) >= RDB_SMALL_FILES_MAX) {
        size_t rounds = l1.size() / ch + 2;
        while (s.ok() && small_files(l1) >= RDB_SMALL_FILES_MAX && rounds-- > 0) {
            std::vector<std::string> run;
            uint64_t bytes = 0;
            for (size_t i = 0; i < l1.size(); i++) {
                bool fits = l1[i].size < RDB_SMALL_FILE && run.size() < ch &&
                            bytes + l1[i].size <= RDB_TARGET_FILE;
                if (fits) {
                    run.push_back(l1[i].name);
                    bytes += l1[i].size;
                    continue;
                }
                if (run.size() >= 2)
                    break;
                run.clear();
                bytes = 0;
                if (l1[i].size < RDB_SMALL_FILE) {
                    run.push_back(l1[i].name);
                    bytes = l1[i].size;
                }
            }
            if (run.size() < 2)
                break;
            s = d->CompactFiles(co, run, 1);
            level_files(d, &l0, &l1);
        }
    }
    if (!s.ok())
        *err = dup_status(s);
    *after = static_cast<int>(l0.size());
    /* The store was opened with automatic compactions off, so none could
     * race for these files; from here on RocksDB schedules its own. */
    s = d->SetOptions({{"disable_auto_compactions", "false"}});
    if (!s.ok() && !*err)
        *err = dup_status(s);
}
