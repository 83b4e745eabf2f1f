/*
 * The TiKV provider's transaction write buffer (txn mode): what a
 * transaction has written or claimed, before its commit turns it into
 * Percolator mutations (txn.c).
 *
 * One entry per key, kept sorted by the contract's key order (memcmp, then
 * length), so the commit's mutations come out sorted (the primary is the
 * first key, as client-go and client-rust pick it) and grouping them by
 * region is one walk. Each entry is a put (with its value), a delete, or a
 * lock: a key read for update and not written, which an optimistic commit
 * prewrites as Op Lock (so a write to it by another transaction after
 * start_ts is a write conflict) and a pessimistic transaction holds a
 * pessimistic lock on. A later write on a locked key turns it into a put or
 * delete, keeping its `plocked` mark (the pessimistic lock it already
 * holds); a later claim of a written key changes nothing.
 *
 * Appending in ascending key order is O(1) amortised (bulk writes), other
 * inserts move the tail (an array of small structs). Reads look keys up by
 * binary search. The buffer owns every key and value it holds.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "providers/tikv/txn_test.h"

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

void orbit__tikv_wbuf_init(orbit__tikv_wbuf *b)
{
    memset(b, 0, sizeof *b);
}

void orbit__tikv_wbuf_release(orbit__tikv_wbuf *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->m[i].k);
        free(b->m[i].v);
    }
    free(b->m);
    memset(b, 0, sizeof *b);
}

size_t orbit__tikv_wbuf_find(const orbit__tikv_wbuf *b, const uint8_t *k, size_t kl, int *found)
{
    *found = 0;
    size_t n = b->n;
    if (n && orbit__key_cmp(b->m[n - 1].k, b->m[n - 1].kl, k, kl) < 0)
        return n; /* the append fast path */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = orbit__key_cmp(b->m[mid].k, b->m[mid].kl, k, kl);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const orbit__tikv_mut *orbit__tikv_wbuf_get(const orbit__tikv_wbuf *b, const uint8_t *k, size_t kl)
{
    int found;
    size_t i = orbit__tikv_wbuf_find(b, k, kl, &found);
    return found ? &b->m[i] : NULL;
}

/* Byte cost of an entry, as the limits count it: key + value. */
static size_t cost(size_t kl, size_t vl)
{
    return kl + vl;
}

int orbit__tikv_wbuf_set(orbit__tikv_wbuf *b, const uint8_t *k, size_t kl, int op, const uint8_t *v,
                         size_t vl, int *added)
{
    int found;
    size_t i = orbit__tikv_wbuf_find(b, k, kl, &found);
    if (added)
        *added = !found;
    if (op != ORBIT__TIKV_M_PUT)
        vl = 0;
    if (found) {
        orbit__tikv_mut *m = &b->m[i];
        if (op == ORBIT__TIKV_M_LOCK)
            return ORBIT_OK; /* a claim of a key already written or claimed */
        uint8_t *vc = NULL;
        if (op == ORBIT__TIKV_M_PUT && !(vc = dup_bytes(v, vl)))
            return ORBIT_ENOMEM;
        b->bytes = b->bytes - cost(m->kl, m->vl) + cost(kl, vl);
        free(m->v);
        m->v = vc;
        m->vl = vl;
        m->op = (uint8_t)op;
        return ORBIT_OK;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        orbit__tikv_mut *nm = realloc(b->m, cap * sizeof *nm);
        if (!nm)
            return ORBIT_ENOMEM;
        b->m = nm;
        b->cap = cap;
    }
    uint8_t *kc = dup_bytes(k, kl);
    uint8_t *vc = op == ORBIT__TIKV_M_PUT ? dup_bytes(v, vl) : NULL;
    if (!kc || (op == ORBIT__TIKV_M_PUT && !vc)) {
        free(kc);
        free(vc);
        return ORBIT_ENOMEM;
    }
    if (i < b->n)
        memmove(&b->m[i + 1], &b->m[i], (b->n - i) * sizeof *b->m);
    b->m[i] = (orbit__tikv_mut){kc, kl, vc, vl, (uint8_t)op, 0};
    b->n++;
    b->bytes += cost(kl, vl);
    return ORBIT_OK;
}

size_t orbit__tikv_wbuf_writes(const orbit__tikv_wbuf *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        n += b->m[i].op != ORBIT__TIKV_M_LOCK;
    return n;
}
