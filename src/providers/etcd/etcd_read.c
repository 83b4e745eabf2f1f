/*
 * Ordered range scans and snapshots of the etcd provider.
 *
 * A scan is a sequence of Range requests of `page_size` keys over the
 * namespaced range, sorted by key in the scan's direction: ascending pages
 * continue just after the last key returned (last || 0x00), descending
 * ones end just before it (range_end = last key, exclusive). Every page
 * after the first reads at the revision the first page was served at, so a
 * scan is one consistent view however many pages it takes (a revision
 * compacted meanwhile fails the scan rather than mixing views). A snapshot
 * is nothing but such a revision, fixed by a linearizable read.
 *
 * A transaction's iterator is the same scan with the transaction's own
 * writes merged in (etcd_local, from etcd_txn.c): on equal keys the local
 * write wins, and a local delete hides the stored key.
 *
 * Cost note: etcd applies a page limit before sorting only for ascending
 * key order; a descending page makes the server sort the whole remaining
 * range, so long reverse scans cost more than forward ones.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "providers/etcd/etcd_int.h"

typedef struct etcd_iter {
    etcd *e;
    int64_t rev;
    int reverse;
    orbit_buf lo, hi; /* namespaced [lo, hi) */
    orbit_buf cursor;
    int exhausted; /* no page left to fetch */
    Etcdserverpb__RangeResponse *page;
    size_t pos;

    etcd_local *local;
    int have_base; /* a stored entry waiting to be merged */
    const uint8_t *bk, *bv;
    size_t bkl, bvl;
    orbit_buf lk, lv; /* the local entry handed out last */
} etcd_iter;

/* The first key after every key with prefix p, or empty when none exists. */
static int prefix_end(const uint8_t *p, size_t n, orbit_buf *out)
{
    orbit_buf_reset(out);
    while (n > 0 && p[n - 1] == 0xff)
        n--;
    if (n == 0)
        return ORBIT_OK;
    if (orbit_buf_set(out, p, n))
        return ORBIT_ENOMEM;
    out->data[n - 1]++;
    return ORBIT_OK;
}

static int set_bounds(etcd_iter *it, const orbit_range *r)
{
    etcd *e = it->e;
    int rc;
    if (r->lo)
        rc = orbit__etcd_key(e, r->lo, r->lo_len, &it->lo);
    else if (e->nslen)
        rc = orbit_buf_set(&it->lo, e->ns, e->nslen);
    else
        rc = orbit_buf_set(&it->lo, "\0", 1); /* the smallest non-empty key */
    if (rc)
        return rc;
    if (r->hi) {
        /* A bound inside the reserved range is clamped to where it starts. */
        if (e->nslen == 0 && r->hi_len >= ETCD_MARKER_ROOT_LEN &&
            memcmp(r->hi, ETCD_MARKER_ROOT, ETCD_MARKER_ROOT_LEN) >= 0)
            rc = orbit_buf_set(&it->hi, ETCD_MARKER_ROOT, ETCD_MARKER_ROOT_LEN);
        else
            rc = orbit__etcd_key(e, r->hi, r->hi_len, &it->hi);
    } else if (e->nslen) {
        rc = prefix_end(e->ns, e->nslen, &it->hi);
    } else {
        rc = orbit_buf_set(&it->hi, ETCD_MARKER_ROOT, ETCD_MARKER_ROOT_LEN);
    }
    if (rc)
        return rc;
    return orbit_buf_set(&it->cursor, it->reverse ? it->hi.data : it->lo.data,
                         it->reverse ? it->hi.len : it->lo.len);
}

int orbit__etcd_iter_make(etcd *e, int64_t rev, const orbit_range *r, etcd_local *local, void **out)
{
    etcd_iter *it = calloc(1, sizeof *it);
    if (!it)
        return ORBIT_ENOMEM;
    it->e = e;
    it->rev = rev;
    it->reverse = r->reverse;
    int rc = set_bounds(it, r);
    if (rc) {
        orbit__etcd_iter_close(it);
        return rc;
    }
    /* lo >= hi (a lo inside the reserved range): nothing to read. */
    if (it->hi.len) {
        size_t m = it->lo.len < it->hi.len ? it->lo.len : it->hi.len;
        int c = memcmp(it->lo.data, it->hi.data, m);
        if (c > 0 || (c == 0 && it->lo.len >= it->hi.len))
            it->exhausted = 1;
    }
    it->local = local;
    *out = it;
    return ORBIT_OK;
}

int orbit__etcd_iter_open(void *self, void *snap, const orbit_range *r, void **it)
{
    return orbit__etcd_iter_make(self, snap ? *(int64_t *)snap : 0, r, NULL, it);
}

static int fetch_page(etcd_iter *it)
{
    etcd *e = it->e;
    if (it->page) {
        etcdserverpb__range_response__free_unpacked(it->page, NULL);
        it->page = NULL;
    }
    it->pos = 0;
    Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
    if (it->reverse) {
        rq.key.data = it->lo.data;
        rq.key.len = it->lo.len;
        rq.range_end.data = it->cursor.data;
        rq.range_end.len = it->cursor.len;
        rq.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND;
    } else {
        rq.key.data = it->cursor.data;
        rq.key.len = it->cursor.len;
        rq.range_end.data = it->hi.len ? it->hi.data : (uint8_t *)"\0";
        rq.range_end.len = it->hi.len ? it->hi.len : 1;
        rq.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
    }
    if (it->reverse && it->hi.len == 0 && it->cursor.len == 0) {
        rq.range_end.data = (uint8_t *)"\0";
        rq.range_end.len = 1;
    }
    rq.sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY;
    rq.limit = (int64_t)e->page;
    rq.revision = it->rev;
    rq.serializable = e->serializable;
    size_t sz = etcdserverpb__range_request__get_packed_size(&rq);
    uint8_t *req = malloc(sz ? sz : 1);
    if (!req)
        return ORBIT_ENOMEM;
    size_t len = etcdserverpb__range_request__pack(&rq, req);
    orbit__rpc_call_opts o;
    orbit__etcd_call_opts(e, 1, &o);
    orbit_buf resp = ORBIT_BUF_INIT;
    int rc = orbit__rpc_call(e->rpc, ETCD_M_RANGE, req, len, &o, &resp);
    free(req);
    if (rc) {
        orbit_buf_release(&resp);
        return rc;
    }
    it->page = etcdserverpb__range_response__unpack(NULL, resp.len, resp.data);
    orbit_buf_release(&resp);
    if (!it->page)
        return orbit_error_set(ORBIT_EPROTO, "etcd: cannot decode a Range page");
    if (it->rev == 0)
        it->rev = it->page->header ? it->page->header->revision : 0;
    if (!it->page->more || it->page->n_kvs == 0) {
        it->exhausted = 1;
    } else {
        Mvccpb__KeyValue *last = it->page->kvs[it->page->n_kvs - 1];
        rc = orbit_buf_set(&it->cursor, last->key.data, last->key.len);
        if (!rc && !it->reverse)
            rc = orbit_buf_append(&it->cursor, "\0", 1);
        if (rc)
            return rc;
    }
    return ORBIT_OK;
}

/* The next stored entry, namespace stripped. */
static int base_next(etcd_iter *it, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl)
{
    for (;;) {
        if (it->page && it->pos < it->page->n_kvs) {
            Mvccpb__KeyValue *kv = it->page->kvs[it->pos++];
            if (kv->key.len < it->e->nslen)
                continue;
            *k = kv->key.data + it->e->nslen;
            *kl = kv->key.len - it->e->nslen;
            *v = kv->value.len ? kv->value.data : (const uint8_t *)"";
            *vl = kv->value.len;
            return ORBIT_OK;
        }
        if (it->exhausted)
            return ORBIT_NOTFOUND;
        int rc = fetch_page(it);
        if (rc)
            return rc;
    }
}

int orbit__etcd_iter_next(void *p, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl)
{
    etcd_iter *it = p;
    if (!it->local)
        return base_next(it, k, kl, v, vl);
    for (;;) {
        if (!it->have_base) {
            int rc = base_next(it, &it->bk, &it->bkl, &it->bv, &it->bvl);
            if (rc < 0)
                return rc;
            it->have_base = rc == ORBIT_OK;
        }
        const uint8_t *lk, *lv;
        size_t lkl, lvl;
        int del;
        int have_local = orbit__etcd_local_peek(it->local, &lk, &lkl, &lv, &lvl, &del) == ORBIT_OK;
        if (!it->have_base && !have_local)
            return ORBIT_NOTFOUND;
        if (it->have_base) {
            int c = have_local ? orbit__key_cmp(it->bk, it->bkl, lk, lkl) : -1;
            if (have_local && it->reverse)
                c = -c;
            if (c < 0) {
                it->have_base = 0;
                *k = it->bk;
                *kl = it->bkl;
                *v = it->bv;
                *vl = it->bvl;
                return ORBIT_OK;
            }
            if (c == 0)
                it->have_base = 0; /* the transaction's own write wins */
        }
        if (!del && (orbit_buf_set(&it->lk, lk, lkl) || orbit_buf_set(&it->lv, lv, lvl)))
            return ORBIT_ENOMEM;
        orbit__etcd_local_advance(it->local);
        if (del)
            continue;
        *k = it->lk.data;
        *kl = it->lk.len;
        *v = it->lv.len ? it->lv.data : (const uint8_t *)"";
        *vl = it->lv.len;
        return ORBIT_OK;
    }
}

void orbit__etcd_iter_close(void *p)
{
    etcd_iter *it = p;
    if (!it)
        return;
    if (it->page)
        etcdserverpb__range_response__free_unpacked(it->page, NULL);
    if (it->local)
        orbit__etcd_local_free(it->local);
    orbit_buf_release(&it->lo);
    orbit_buf_release(&it->hi);
    orbit_buf_release(&it->cursor);
    orbit_buf_release(&it->lk);
    orbit_buf_release(&it->lv);
    free(it);
}

int orbit__etcd_snapshot_open(void *self, void **snap)
{
    int64_t *rev = malloc(sizeof *rev);
    if (!rev)
        return ORBIT_ENOMEM;
    int rc = orbit__etcd_revision(self, rev);
    if (rc) {
        free(rev);
        return rc;
    }
    *snap = rev;
    return ORBIT_OK;
}

void orbit__etcd_snapshot_release(void *self, void *snap)
{
    free(snap);
}
