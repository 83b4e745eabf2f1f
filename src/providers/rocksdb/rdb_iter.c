/*
 * Iterators of the RocksDB provider, plain and transactional: a walk over
 * [lo, hi) in either direction on top of a RocksDB iterator.
 *
 * RocksDB keeps pointers to the bound slices, and to the read options that
 * hold them, for the whole life of an iterator, so both belong to the
 * iterator object: the bounds are copied into its tail and the read options
 * are created per iterator (unlike point reads, which share the store's).
 *
 * Invariants: the walk checks the bounds itself as well as through RocksDB,
 * because a transaction's iterator merges the transaction's own writes, and
 * RocksDB 7.8 applies only the upper bound to that side of the merge (and
 * wrongly so for reverse walks, see orbit__rdb_iter_new).
 * Once the walk has ended (exhausted or failed) it stays ended and repeats
 * its last answer, until a seek repositions an exhausted walk (a failed one
 * stays failed). A seek leaves the RocksDB iterator on the entry the next
 * call returns (state ITER_SEEKED), so that call does not step. The
 * iterator keeps its read options, hence its snapshot, across seeks. In
 * keys-only mode the value is never read: every value is "".
 * The iterator is used by one thread at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "providers/rocksdb/rdb_int.h"

enum { ITER_FRESH, ITER_LIVE, ITER_SEEKED, ITER_ENDED };

struct rdb_iter {
    rocksdb_iterator_t *ri;
    rocksdb_readoptions_t *ro;
    rdb_ctx ctx;
    int reverse;
    int keys_only;
    int state;
    int end_rc;         /* what an ended walk answers: NOTFOUND or an error */
    const uint8_t *lo;  /* NULL: open side; else points into bounds[] */
    size_t lo_len;
    const uint8_t *hi;
    size_t hi_len;
    uint8_t bounds[];
};

/* Orbit's key order: unsigned bytes, then length (RocksDB's bytewise
 * comparator orders the same way). */
int orbit__rdb_iter_new(const orbit_range *r, const rocksdb_snapshot_t *snap, rdb_ctx ctx,
                        rdb_iter **out)
{
    size_t lo_len = r && r->lo ? r->lo_len : 0;
    size_t hi_len = r && r->hi ? r->hi_len : 0;
    rdb_iter *it = calloc(1, sizeof *it + lo_len + hi_len);

    *out = NULL;
    if (!it)
        return ORBIT_ENOMEM;
    it->ctx = ctx;
    it->reverse = r ? r->reverse : 0;
    it->keys_only = r ? r->keys_only : 0;
    it->state = ITER_FRESH;
    it->ro = rocksdb_readoptions_create();
    if (snap)
        rocksdb_readoptions_set_snapshot(it->ro, snap);
    if (r && r->lo) {
        if (lo_len)
            memcpy(it->bounds, r->lo, lo_len);
        it->lo = it->bounds;
        it->lo_len = lo_len;
        rocksdb_readoptions_set_iterate_lower_bound(it->ro, (const char *)it->lo, lo_len);
    }
    if (r && r->hi) {
        if (hi_len)
            memcpy(it->bounds + lo_len, r->hi, hi_len);
        it->hi = it->bounds + lo_len;
        it->hi_len = hi_len;
        /* A transaction's iterator (RocksDB's BaseDeltaIterator) declares
         * the walk over when the stored side is exhausted and the own-writes
         * side sits on a key >= the upper bound, whatever the direction: a
         * reverse walk whose seek_for_prev(hi) lands on an own write equal to
         * hi would end before stepping below it. Reverse transactional walks
         * therefore bound the top themselves only (seek_for_prev(hi), then
         * skip hi). */
        if (!(ctx == RDB_CTX_TXN && it->reverse))
            rocksdb_readoptions_set_iterate_upper_bound(it->ro, (const char *)it->hi, hi_len);
    }
    *out = it;
    return ORBIT_OK;
}

rocksdb_readoptions_t *orbit__rdb_iter_readopts(rdb_iter *it)
{
    return it->ro;
}

void orbit__rdb_iter_attach(rdb_iter *it, rocksdb_iterator_t *ri)
{
    it->ri = ri;
}

static int current_key_is(rdb_iter *it, const uint8_t *k, size_t kl)
{
    size_t cl = 0;
    const char *c = rocksdb_iter_key(it->ri, &cl);
    return orbit__key_cmp((const uint8_t *)c, cl, k, kl) == 0;
}

static void position(rdb_iter *it)
{
    if (!it->reverse) {
        if (it->lo)
            rocksdb_iter_seek(it->ri, (const char *)it->lo, it->lo_len);
        else
            rocksdb_iter_seek_to_first(it->ri);
        return;
    }
    if (it->hi) {
        /* seek_for_prev lands on hi itself when it exists: hi is exclusive. */
        rocksdb_iter_seek_for_prev(it->ri, (const char *)it->hi, it->hi_len);
        if (rocksdb_iter_valid(it->ri) && current_key_is(it, it->hi, it->hi_len))
            rocksdb_iter_prev(it->ri);
    } else {
        rocksdb_iter_seek_to_last(it->ri);
    }
}

static int end_walk(rdb_iter *it, int rc)
{
    it->state = ITER_ENDED;
    it->end_rc = rc;
    return rc;
}

int orbit__rdb_iter_next(void *p, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl)
{
    rdb_iter *it = p;

    if (it->state == ITER_ENDED)
        return it->end_rc;
    if (!it->ri)
        return end_walk(it, orbit_error_set(ORBIT_EINTERNAL, "rocksdb iterator: not created"));
    if (it->state == ITER_FRESH) {
        position(it);
        it->state = ITER_LIVE;
    } else if (it->state == ITER_SEEKED) {
        it->state = ITER_LIVE;
    } else if (it->reverse) {
        rocksdb_iter_prev(it->ri);
    } else {
        rocksdb_iter_next(it->ri);
    }

    if (!rocksdb_iter_valid(it->ri)) {
        char *err = NULL;
        rocksdb_iter_get_error(it->ri, &err);
        if (err)
            return end_walk(it, orbit__rdb_error(err, it->ctx, "iterator"));
        return end_walk(it, ORBIT_NOTFOUND);
    }

    size_t klen = 0, vlen = 0;
    const uint8_t *key = (const uint8_t *)rocksdb_iter_key(it->ri, &klen);
    if (!it->reverse && it->hi && orbit__key_cmp(key, klen, it->hi, it->hi_len) >= 0)
        return end_walk(it, ORBIT_NOTFOUND);
    if (it->reverse && it->lo && orbit__key_cmp(key, klen, it->lo, it->lo_len) < 0)
        return end_walk(it, ORBIT_NOTFOUND);
    const uint8_t *val = (const uint8_t *)"";
    if (!it->keys_only)
        val = (const uint8_t *)rocksdb_iter_value(it->ri, &vlen);
    *k = key;
    *kl = klen;
    *v = val;
    *vl = vlen;
    return ORBIT_OK;
}

int orbit__rdb_iter_seek(void *p, const uint8_t *k, size_t kl)
{
    rdb_iter *it = p;

    if (it->state == ITER_ENDED && it->end_rc != ORBIT_NOTFOUND)
        return it->end_rc;
    if (!it->ri)
        return end_walk(it, orbit_error_set(ORBIT_EINTERNAL, "rocksdb iterator: not created"));
    if (!it->reverse) {
        /* First key >= max(k, lo); the walk's bound checks end it at hi. */
        if (it->lo && orbit__key_cmp(k, kl, it->lo, it->lo_len) < 0) {
            k = it->lo;
            kl = it->lo_len;
        }
        rocksdb_iter_seek(it->ri, (const char *)k, kl);
    } else if (it->hi && orbit__key_cmp(k, kl, it->hi, it->hi_len) >= 0) {
        /* Last key <= k clamped below hi: the same as a fresh reverse walk. */
        position(it);
    } else {
        rocksdb_iter_seek_for_prev(it->ri, (const char *)k, kl);
    }
    it->state = ITER_SEEKED;
    return ORBIT_OK;
}

void orbit__rdb_iter_close(void *p)
{
    rdb_iter *it = p;
    if (!it)
        return;
    if (it->ri)
        rocksdb_iter_destroy(it->ri);
    rocksdb_readoptions_destroy(it->ro);
    free(it);
}
