/*
 * Untracked transaction writes, which the RocksDB 7.8 C API lacks:
 * rocksdb::Transaction::PutUntracked / DeleteUntracked on the C++ object
 * behind a C API transaction handle. In an optimistic transaction the key
 * is then neither tracked nor validated at commit (no conflict check, the
 * cost Orbit saves); in a pessimistic one it is still locked, only not
 * validated against the transaction's snapshot. Either way the write joins
 * the transaction's indexed batch, so the transaction's reads see it and
 * the commit applies it atomically with the rest.
 *
 * The handle's layout is re-declared exactly as RocksDB's db/c.cc defines
 * it (one pointer to the C++ object), the assumption rdb_seq.cc and
 * rdb_occ.cc make. Part of the rocksdb provider, called by rdb_txn.c
 * through rdb_int.h; nothing here throws (a failure is a status whose text
 * is returned malloc'ed in *err, as the C API does).
 */
#include <rocksdb/utilities/transaction.h>

#include <cstdlib>
#include <cstring>
#include <string>

struct rocksdb_transaction_t {
    rocksdb::Transaction *rep;
};

extern "C" void orbit__rdb_raw_put_untracked(rocksdb_transaction_t *t, const char *k, size_t kl,
                                             const char *v, size_t vl, char **err);
extern "C" void orbit__rdb_raw_del_untracked(rocksdb_transaction_t *t, const char *k, size_t kl,
                                             char **err);

static void set_err(const rocksdb::Status &s, char **err)
{
    if (s.ok())
        return;
    std::string t = s.ToString();
    *err = static_cast<char *>(std::malloc(t.size() + 1));
    if (*err)
        std::memcpy(*err, t.c_str(), t.size() + 1);
}

void orbit__rdb_raw_put_untracked(rocksdb_transaction_t *t, const char *k, size_t kl,
                                  const char *v, size_t vl, char **err)
{
    set_err(t->rep->PutUntracked(rocksdb::Slice(k, kl), rocksdb::Slice(v, vl)), err);
}

void orbit__rdb_raw_del_untracked(rocksdb_transaction_t *t, const char *k, size_t kl, char **err)
{
    set_err(t->rep->DeleteUntracked(rocksdb::Slice(k, kl)), err);
}
