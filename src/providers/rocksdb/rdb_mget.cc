/*
 * RocksDB's batched MultiGet for the rocksdb provider's plain multi-get
 * (rdb_multi_get in rdb.c). The 7.8 C API's rocksdb_multi_get calls the
 * older vector MultiGet, which looks each key up on its own (a memtable
 * search, a filter probe, an index seek per key); the batched overload on
 * one column family sorts the keys and probes filters, indexes and data
 * blocks for a whole batch at once, and reads every key at one sequence
 * number. Its C wrapper needs a column-family handle the C API cannot give
 * for the default family, hence this file: one call on the C++ object the
 * C handles wrap, with the handles' layouts re-declared as RocksDB's
 * db/c.cc defines them (the DB pointer, and ReadOptions as the first
 * member), as rdb_seq.cc does. Outputs match rocksdb_multi_get's, so
 * rdb.c decodes both alike; nothing here throws.
 */
#include <rocksdb/db.h>
#include <rocksdb/slice.h>

#include <stdlib.h>
#include <string.h>

#include <new>
#include <vector>

struct rocksdb_t {
    rocksdb::DB *rep;
};

struct rocksdb_readoptions_t {
    rocksdb::ReadOptions rep; /* first member in db/c.cc */
};

extern "C" int orbit__rdb_mget_batched(rocksdb_t *db, const rocksdb_readoptions_t *ro, size_t n,
                                       const char *const *keys, const size_t *klens,
                                       char **values, size_t *sizes, char **errs);

static char *dup_bytes(const char *p, size_t n)
{
    char *d = static_cast<char *>(malloc(n ? n : 1));
    if (d && n)
        memcpy(d, p, n);
    return d;
}

/* For each key i: values[i] a malloc'ed copy and sizes[i] its length when
 * found, NULL when absent, errs[i] a malloc'ed status text on an error.
 * 0, or -1 out of memory (nothing looked up, every output NULL). */
int orbit__rdb_mget_batched(rocksdb_t *db, const rocksdb_readoptions_t *ro, size_t n,
                            const char *const *keys, const size_t *klens, char **values,
                            size_t *sizes, char **errs)
{
    for (size_t i = 0; i < n; i++) {
        values[i] = NULL;
        errs[i] = NULL;
        sizes[i] = 0;
    }
    std::vector<rocksdb::Slice> ks;
    std::vector<rocksdb::PinnableSlice> vs;
    std::vector<rocksdb::Status> st;
    try {
        ks.reserve(n);
        for (size_t i = 0; i < n; i++)
            ks.emplace_back(keys[i], klens[i]);
        vs.resize(n);
        st.resize(n);
    } catch (const std::bad_alloc &) {
        return -1;
    }
    db->rep->MultiGet(ro->rep, db->rep->DefaultColumnFamily(), n, ks.data(), vs.data(),
                      st.data(), false);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (st[i].ok()) {
            values[i] = dup_bytes(vs[i].data(), vs[i].size());
            sizes[i] = vs[i].size();
            if (!values[i])
                rc = -1;
        } else if (!st[i].IsNotFound()) {
            std::string s = st[i].ToString();
            errs[i] = dup_bytes(s.c_str(), s.size() + 1);
            if (!errs[i])
                rc = -1;
        }
    }
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            free(values[i]);
            free(errs[i]);
            values[i] = errs[i] = NULL;
        }
    }
    return rc;
}
