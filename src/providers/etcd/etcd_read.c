/*
 * Ordered range scans, snapshots and multi-key reads of the etcd provider.
 *
 * A scan is a sequence of Range requests over the namespaced range, sorted
 * by key in the scan's direction: ascending pages continue just after the
 * last key returned (last || 0x00), descending ones end just before it
 * (range_end = last key, exclusive). The first page is fetched when the
 * iterator is opened, and when the iterator reads the latest data that page
 * fixes its revision: every later page reads at that revision, so a scan
 * sees the store as of its opening however many pages it takes (a revision
 * compacted meanwhile fails the scan with ORBIT_ECOMPACTED rather than
 * mixing views; the revision is pinned against Orbit's own compactor while
 * the iterator is open). A snapshot is nothing but such a revision, fixed
 * by a linearizable read or given by the caller (snapshot_open_at), and
 * pinned until released.
 *
 * A page asks for at most `page_size` keys, fewer when the scan's limit
 * hint (orbit_range.limit, minus the entries already returned) or its byte
 * hint needs fewer. etcd has no byte limit of its own, so with max_bytes
 * the first page asks for 8 keys and each later one for about the entries
 * still wanted at the average size returned so far. keys_only asks etcd
 * for no values.
 * Seeking drops the current page and continues from the new position at
 * the same revision, clamped to the range.
 *
 * A transaction's iterator is the same scan with the transaction's own
 * writes merged in (etcd_local, from etcd_txn.c): on equal keys the local
 * write wins, and a local delete hides the stored key.
 *
 * Multi-get sends read-only Txns of Range ops, at most max_txn_ops each
 * (etcd's --max-txn-ops applies to reads too), all at one revision: the
 * snapshot's, or the revision the first Txn was served at. Duplicate keys
 * are read once.
 *
 * With no namespace the range FF FF FF... holds commit markers: scans stop
 * before it and a scan (or seek) starting inside it is empty.
 *
 * Cost note: etcd applies a page limit before sorting only for ascending
 * key order; a descending page makes the server sort the whole remaining
 * range, so long reverse scans cost more than forward ones.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "providers/etcd/etcd_int.h"

static atomic_uint_fast64_t keys_fetched;

uint64_t orbit__etcd_debug_keys_fetched(void)
{
    return (uint64_t)atomic_load(&keys_fetched);
}

int orbit__etcd_read_rc(int rc)
{
    if (rc >= 0)
        return rc;
    const char *d = orbit_last_error_detail();
    if (strstr(d, "required revision has been compacted")) {
        char copy[512];
        snprintf(copy, sizeof copy, "%s", d);
        return orbit_error_set(ORBIT_ECOMPACTED, "etcd: the read revision was compacted (%s)", copy);
    }
    if (strstr(d, "required revision is a future revision")) {
        char copy[512];
        snprintf(copy, sizeof copy, "%s", d);
        return orbit_error_set(ORBIT_EINVAL, "etcd: the read revision is not reached yet (%s)", copy);
    }
    return rc;
}

typedef struct etcd_iter {
    etcd *e;
    int64_t rev;
    int pinned; /* rev is pinned by this iterator */
    int reverse;
    int keys_only;
    size_t limit, max_bytes; /* hints; 0: none */
    size_t returned, bytes;  /* entries handed out so far, and their size */
    orbit_buf lo, hi;        /* namespaced [lo, hi) */
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

/* NS || k into out, without the reserved-range check (bounds may lie in it). */
static int ns_key(const etcd *e, const uint8_t *k, size_t kl, orbit_buf *out)
{
    orbit_buf_reset(out);
    if (orbit_buf_reserve(out, e->nslen + kl + 1))
        return ORBIT_ENOMEM;
    if (e->nslen)
        memcpy(out->data, e->ns, e->nslen);
    if (kl)
        memcpy(out->data + e->nslen, k, kl);
    out->len = e->nslen + kl;
    return ORBIT_OK;
}

/* vals[i] := v[0..n), tolerating v == NULL for n == 0. */
static int set_val(orbit_buf *b, const uint8_t *v, size_t n)
{
    orbit_buf_reset(b);
    return n ? orbit_buf_append(b, v, n) : ORBIT_OK;
}

static int buf_cmp(const orbit_buf *a, const orbit_buf *b)
{
    return orbit__key_cmp(a->data, a->len, b->data, b->len);
}

static int set_bounds(etcd_iter *it, const orbit_range *r)
{
    etcd *e = it->e;
    int rc;
    if (r->lo)
        rc = ns_key(e, r->lo, r->lo_len, &it->lo); /* inside FF FF FF: lo >= hi below */
    else if (e->nslen)
        rc = orbit_buf_set(&it->lo, e->ns, e->nslen);
    else
        rc = orbit_buf_set(&it->lo, "\0", 1); /* the smallest non-empty key */
    if (rc)
        return rc;
    if (r->hi) {
        /* A bound inside the reserved range is clamped to where it starts. */
        if (e->nslen == 0 && orbit__key_cmp(r->hi, r->hi_len, (const uint8_t *)ETCD_MARKER_ROOT,
                                            ETCD_MARKER_ROOT_LEN) > 0)
            rc = orbit_buf_set(&it->hi, ETCD_MARKER_ROOT, ETCD_MARKER_ROOT_LEN);
        else
            rc = ns_key(e, r->hi, r->hi_len, &it->hi);
    } else if (e->nslen) {
        if (orbit_buf_reserve(&it->hi, e->nslen))
            return ORBIT_ENOMEM;
        it->hi.len = orbit__prefix_successor(e->ns, e->nslen, it->hi.data);
        rc = ORBIT_OK;
    } else {
        rc = orbit_buf_set(&it->hi, ETCD_MARKER_ROOT, ETCD_MARKER_ROOT_LEN);
    }
    if (rc)
        return rc;
    return orbit_buf_set(&it->cursor, it->reverse ? it->hi.data : it->lo.data,
                         it->reverse ? it->hi.len : it->lo.len);
}

/* [lo, cursor) (reverse) or [cursor, hi) (forward) is empty. */
static int nothing_left(const etcd_iter *it)
{
    if (it->reverse)
        return it->cursor.len && buf_cmp(&it->cursor, &it->lo) <= 0;
    return it->hi.len && buf_cmp(&it->cursor, &it->hi) >= 0;
}

/* The first page of a scan with a byte limit: the entries' size is not
 * known yet, so a few, not a whole page. */
#define FIRST_PAGE_BYTES_UNKNOWN 8

static size_t page_want(const etcd_iter *it)
{
    size_t want = it->e->page;
    if (it->max_bytes && !it->returned && want > FIRST_PAGE_BYTES_UNKNOWN)
        want = FIRST_PAGE_BYTES_UNKNOWN;
    if (it->limit) {
        size_t left = it->limit > it->returned ? it->limit - it->returned : 1;
        if (left < want)
            want = left;
    }
    if (it->max_bytes && it->returned) {
        size_t left = it->max_bytes > it->bytes ? it->max_bytes - it->bytes : 0;
        size_t avg = it->bytes / it->returned;
        size_t est = left / (avg ? avg : 1) + 1;
        if (est < want)
            want = est;
    }
    return want;
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
    if (it->reverse && it->cursor.len == 0) {
        rq.range_end.data = (uint8_t *)"\0";
        rq.range_end.len = 1;
    }
    rq.sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY;
    rq.limit = (int64_t)page_want(it);
    rq.revision = it->rev;
    rq.serializable = e->serializable;
    rq.keys_only = it->keys_only;
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
        return orbit__etcd_read_rc(rc);
    }
    it->page = etcdserverpb__range_response__unpack(NULL, resp.len, resp.data);
    orbit_buf_release(&resp);
    if (!it->page)
        return orbit_error_set(ORBIT_EPROTO, "etcd: cannot decode a Range page");
    atomic_fetch_add(&keys_fetched, it->page->n_kvs);
    if (it->rev == 0) {
        it->rev = it->page->header ? it->page->header->revision : 0;
        if (it->rev <= 0)
            return orbit_error_set(ORBIT_EPROTO, "etcd: a Range page without a revision");
        orbit__etcd_rev_pin(e, it->rev);
        it->pinned = 1;
    }
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

int orbit__etcd_iter_make(etcd *e, int64_t rev, const orbit_range *r, etcd_local *local, void **out)
{
    etcd_iter *it = calloc(1, sizeof *it);
    if (!it) {
        if (local)
            orbit__etcd_local_free(local);
        return ORBIT_ENOMEM;
    }
    it->e = e;
    it->rev = rev;
    it->reverse = r->reverse;
    it->keys_only = r->keys_only;
    it->limit = r->limit;
    it->max_bytes = r->max_bytes;
    it->local = local;
    if (rev) {
        orbit__etcd_rev_pin(e, rev);
        it->pinned = 1;
    }
    int rc = set_bounds(it, r);
    /* lo >= hi (a lo inside the reserved range): nothing to read. */
    if (!rc && it->hi.len && buf_cmp(&it->lo, &it->hi) >= 0)
        it->exhausted = 1;
    /* The first page now: a scan sees the store as of its opening. */
    if (!rc && !it->exhausted)
        rc = fetch_page(it);
    if (rc) {
        orbit__etcd_iter_close(it);
        return rc;
    }
    *out = it;
    return ORBIT_OK;
}

int orbit__etcd_iter_open(void *self, void *snap, const orbit_range *r, void **it)
{
    return orbit__etcd_iter_make(self, snap ? *(int64_t *)snap : 0, r, NULL, it);
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
            *v = kv->value.len && !it->keys_only ? kv->value.data : (const uint8_t *)"";
            *vl = it->keys_only ? 0 : kv->value.len;
            return ORBIT_OK;
        }
        if (it->exhausted)
            return ORBIT_NOTFOUND;
        int rc = fetch_page(it);
        if (rc)
            return rc;
    }
}

static int merged_next(etcd_iter *it, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl)
{
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
        if (!del && (set_val(&it->lk, lk, lkl) || set_val(&it->lv, lv, it->keys_only ? 0 : lvl)))
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

int orbit__etcd_iter_next(void *p, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl)
{
    etcd_iter *it = p;
    int rc = merged_next(it, k, kl, v, vl);
    if (rc == ORBIT_OK) {
        it->returned++;
        it->bytes += *kl + *vl;
    }
    return rc;
}

int orbit__etcd_iter_seek(void *p, const uint8_t *k, size_t kl)
{
    etcd_iter *it = p;
    etcd *e = it->e;
    if (it->page) {
        etcdserverpb__range_response__free_unpacked(it->page, NULL);
        it->page = NULL;
    }
    it->pos = 0;
    it->have_base = 0;
    it->exhausted = 0;
    int rc = ns_key(e, k, kl, &it->cursor);
    if (rc)
        return rc;
    if (it->reverse) {
        /* The last key <= k: the range ends just after k, at most at hi. */
        if (orbit_buf_append(&it->cursor, "\0", 1))
            return ORBIT_ENOMEM;
        if (it->hi.len && buf_cmp(&it->cursor, &it->hi) > 0 &&
            orbit_buf_set(&it->cursor, it->hi.data, it->hi.len))
            return ORBIT_ENOMEM;
    } else if (buf_cmp(&it->cursor, &it->lo) < 0 && orbit_buf_set(&it->cursor, it->lo.data, it->lo.len)) {
        return ORBIT_ENOMEM;
    }
    if (nothing_left(it) || (it->hi.len && buf_cmp(&it->lo, &it->hi) >= 0))
        it->exhausted = 1;
    if (it->local)
        orbit__etcd_local_seek(it->local, k, kl, it->reverse);
    return ORBIT_OK;
}

void orbit__etcd_iter_close(void *p)
{
    etcd_iter *it = p;
    if (!it)
        return;
    if (it->pinned)
        orbit__etcd_rev_unpin(it->e, it->rev);
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

/* ---- snapshots ------------------------------------------------------------ */

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
    orbit__etcd_rev_pin(self, *rev);
    *snap = rev;
    return ORBIT_OK;
}

void orbit__etcd_snapshot_release(void *self, void *snap)
{
    if (!snap)
        return;
    orbit__etcd_rev_unpin(self, *(int64_t *)snap);
    free(snap);
}

uint64_t orbit__etcd_snapshot_version(void *self, void *snap)
{
    (void)self;
    return snap ? (uint64_t) * (int64_t *)snap : 0;
}

int orbit__etcd_snapshot_open_at(void *self, uint64_t version, void **snap)
{
    etcd *e = self;
    if (version == 0 || version > (uint64_t)INT64_MAX)
        return orbit_error_set(ORBIT_EINVAL, "etcd: revision %" PRIu64 " does not exist", version);
    int64_t *rev = malloc(sizeof *rev);
    if (!rev)
        return ORBIT_ENOMEM;
    *rev = (int64_t)version;
    /* Pinned before the check, so a compaction cannot slip in between. */
    orbit__etcd_rev_pin(e, *rev);
    /* A count-only Range at that revision: etcd refuses a compacted or a
     * future one. The key is this client's marker root: reading it costs
     * nothing whatever the store holds. */
    char probe[64];
    int n = snprintf(probe, sizeof probe, "%s%s", ETCD_MARKER_ROOT, e->client_id);
    Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
    rq.key.data = (uint8_t *)probe;
    rq.key.len = (size_t)n;
    rq.revision = *rev;
    rq.count_only = 1;
    uint8_t req[128];
    size_t len = etcdserverpb__range_request__pack(&rq, req);
    orbit__rpc_call_opts o;
    orbit__etcd_call_opts(e, 1, &o);
    orbit_buf resp = ORBIT_BUF_INIT;
    int rc = orbit__rpc_call(e->rpc, ETCD_M_RANGE, req, len, &o, &resp);
    orbit_buf_release(&resp);
    if (rc) {
        rc = orbit__etcd_read_rc(rc);
        orbit__etcd_rev_unpin(e, *rev);
        free(rev);
        return rc;
    }
    *snap = rev;
    return ORBIT_OK;
}

/* ---- multi-key reads ------------------------------------------------------ */

typedef struct mg_key {
    const uint8_t *k;
    size_t kl;
    size_t idx; /* position in the caller's arrays */
} mg_key;

static int mg_cmp(const void *a, const void *b)
{
    const mg_key *x = a, *y = b;
    int c = orbit__key_cmp(x->k, x->kl, y->k, y->kl);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int orbit__etcd_pack_reads(etcd *e, int64_t rev, int keys_only, size_t m, const orbit_slice *keys, uint8_t **req,
                           size_t *len)
{
    *req = NULL;
    *len = 0;
    Etcdserverpb__RangeRequest *rq = calloc(m, sizeof *rq);
    Etcdserverpb__RequestOp *ops = calloc(m, sizeof *ops);
    Etcdserverpb__RequestOp **opp = calloc(m, sizeof *opp);
    orbit_buf *kb = calloc(m, sizeof *kb);
    int rc = (!rq || !ops || !opp || !kb) ? ORBIT_ENOMEM : ORBIT_OK;
    for (size_t i = 0; !rc && i < m; i++) {
        rc = orbit__etcd_key(e, keys[i].data, keys[i].len, &kb[i]);
        if (rc)
            break;
        etcdserverpb__range_request__init(&rq[i]);
        rq[i].key.data = kb[i].data;
        rq[i].key.len = kb[i].len;
        rq[i].revision = rev;
        rq[i].serializable = e->serializable;
        rq[i].keys_only = keys_only;
        etcdserverpb__request_op__init(&ops[i]);
        ops[i].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
        ops[i].request_range = &rq[i];
        opp[i] = &ops[i];
    }
    if (!rc) {
        Etcdserverpb__TxnRequest tx = ETCDSERVERPB__TXN_REQUEST__INIT;
        tx.n_success = m;
        tx.success = opp;
        size_t sz = etcdserverpb__txn_request__get_packed_size(&tx);
        *req = malloc(sz ? sz : 1);
        if (!*req)
            rc = ORBIT_ENOMEM;
        else
            *len = etcdserverpb__txn_request__pack(&tx, *req);
    }
    if (kb)
        for (size_t i = 0; i < m; i++)
            orbit_buf_release(&kb[i]);
    free(kb);
    free(opp);
    free(ops);
    free(rq);
    return rc;
}

/* One read-only Txn of Range ops for the unique keys u[0..m) at rev;
 * results go to the first caller index of each (copied to duplicates by
 * the caller). */
static int read_chunk(etcd *e, int64_t rev, int keys_only, const mg_key *const *u, size_t m, orbit_buf *vals,
                      int *status, int64_t *mods, int64_t *served)
{
    orbit_slice *ks = calloc(m, sizeof *ks);
    uint8_t *req = NULL;
    size_t len = 0;
    int rc = ks ? ORBIT_OK : ORBIT_ENOMEM;
    if (!rc) {
        for (size_t i = 0; i < m; i++)
            ks[i] = (orbit_slice){u[i]->k, u[i]->kl};
        rc = orbit__etcd_pack_reads(e, rev, keys_only, m, ks, &req, &len);
    }
    free(ks);
    orbit_buf resp = ORBIT_BUF_INIT;
    if (!rc) {
        orbit__rpc_call_opts o;
        orbit__etcd_call_opts(e, 1, &o); /* read-only: safe to resend */
        rc = orbit__etcd_read_rc(orbit__rpc_call(e->rpc, ETCD_M_TXN, req, len, &o, &resp));
    }
    if (!rc) {
        Etcdserverpb__TxnResponse *tr = etcdserverpb__txn_response__unpack(NULL, resp.len, resp.data);
        if (!tr || tr->n_responses != m || !tr->header || tr->header->revision <= 0) {
            rc = orbit_error_set(ORBIT_EPROTO, "etcd: cannot decode a multi-get Txn response");
        } else {
            if (served)
                *served = tr->header->revision;
            for (size_t i = 0; !rc && i < m; i++) {
                Etcdserverpb__ResponseOp *ro = tr->responses[i];
                Etcdserverpb__RangeResponse *rr =
                    ro->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE ? ro->response_range
                                                                                            : NULL;
                size_t at = u[i]->idx;
                if (!rr) {
                    rc = orbit_error_set(ORBIT_EPROTO, "etcd: a multi-get Txn answered a Range with no range");
                    break;
                }
                if (rr->n_kvs) {
                    Mvccpb__KeyValue *kv = rr->kvs[0];
                    if (set_val(&vals[at], kv->value.data, kv->value.len)) {
                        rc = ORBIT_ENOMEM;
                        break;
                    }
                    status[at] = ORBIT_OK;
                    if (mods)
                        mods[at] = kv->mod_revision;
                } else {
                    orbit_buf_reset(&vals[at]);
                    status[at] = ORBIT_NOTFOUND;
                    if (mods)
                        mods[at] = 0;
                }
            }
        }
        if (tr)
            etcdserverpb__txn_response__free_unpacked(tr, NULL);
    }
    orbit_buf_release(&resp);
    free(req);
    return rc;
}

int orbit__etcd_read_many(etcd *e, int64_t rev, int keys_only, size_t n, const orbit_slice *keys, orbit_buf *vals,
                          int *status, int64_t *mods, int64_t *served)
{
    if (n == 0)
        return ORBIT_OK;
    mg_key *sk = calloc(n, sizeof *sk);
    const mg_key **u = calloc(n, sizeof *u);
    if (!sk || !u) {
        free(sk);
        free(u);
        for (size_t i = 0; i < n; i++)
            status[i] = ORBIT_ENOMEM;
        return ORBIT_ENOMEM;
    }
    /* Sorted, so duplicates are adjacent and read once. Reserved keys get
     * their error now and are not sent. */
    size_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        int krc = orbit__etcd_check_key(e, keys[i].data, keys[i].len);
        if (krc) {
            status[i] = krc;
            orbit_buf_reset(&vals[i]);
            if (mods)
                mods[i] = 0;
            continue;
        }
        sk[ns++] = (mg_key){keys[i].data, keys[i].len, i};
    }
    qsort(sk, ns, sizeof *sk, mg_cmp);
    size_t nu = 0;
    for (size_t i = 0; i < ns; i++)
        if (i == 0 || orbit__key_cmp(sk[i].k, sk[i].kl, sk[i - 1].k, sk[i - 1].kl) != 0)
            u[nu++] = &sk[i];

    /* Chunks of at most max_txn_ops keys and about max_request_bytes. */
    int rc = ORBIT_OK, pinned = 0;
    int64_t at = rev;
    size_t done = 0;
    while (done < nu) {
        size_t m = 0, bytes = 256;
        while (done + m < nu && m < e->max_txn_ops) {
            size_t b = e->nslen + u[done + m]->kl + 32;
            if (m && bytes + b > e->max_request_bytes)
                break;
            bytes += b;
            m++;
        }
        int64_t got = 0;
        rc = read_chunk(e, at, keys_only, u + done, m, vals, status, mods, &got);
        if (rc)
            break;
        if (at == 0) {
            /* The later chunks read at the revision the first was served at. */
            at = got;
            if (done + m < nu) {
                orbit__etcd_rev_pin(e, at);
                pinned = 1;
            }
        }
        done += m;
    }
    if (pinned)
        orbit__etcd_rev_unpin(e, at);
    if (rc) {
        /* This chunk and the ones after it were not read. */
        for (size_t i = done; i < nu; i++) {
            status[u[i]->idx] = rc;
            orbit_buf_reset(&vals[u[i]->idx]);
        }
    } else if (served) {
        *served = at;
    }
    /* Duplicates take the result of the first of their key. */
    const mg_key *first = NULL;
    for (size_t i = 0; i < ns; i++) {
        if (i == 0 || orbit__key_cmp(sk[i].k, sk[i].kl, sk[i - 1].k, sk[i - 1].kl) != 0) {
            first = &sk[i];
            continue;
        }
        size_t a = first->idx, b = sk[i].idx;
        status[b] = status[a];
        if (mods)
            mods[b] = mods[a];
        if (status[a] == ORBIT_OK) {
            if (set_val(&vals[b], vals[a].data, vals[a].len))
                status[b] = ORBIT_ENOMEM;
        } else {
            orbit_buf_reset(&vals[b]);
        }
    }
    free(u);
    free(sk);
    for (size_t i = 0; i < n; i++)
        if (status[i] < 0)
            return status[i];
    return ORBIT_OK;
}

int orbit__etcd_multi_get(void *self, void *snap, size_t n, const orbit_slice *keys, orbit_buf *vals, int *status)
{
    return orbit__etcd_read_many(self, snap ? *(int64_t *)snap : 0, 0, n, keys, vals, status, NULL, NULL);
}

int orbit__etcd_mod_revision(etcd *e, const uint8_t *k, size_t kl, int64_t *mod)
{
    orbit_buf key = ORBIT_BUF_INIT, resp = ORBIT_BUF_INIT;
    int rc = orbit__etcd_key(e, k, kl, &key);
    uint8_t *req = NULL;
    size_t len = 0;
    if (!rc) {
        Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
        rq.key.data = key.data;
        rq.key.len = key.len;
        rq.keys_only = 1;
        rq.serializable = e->serializable;
        size_t sz = etcdserverpb__range_request__get_packed_size(&rq);
        req = malloc(sz ? sz : 1);
        if (!req)
            rc = ORBIT_ENOMEM;
        else
            len = etcdserverpb__range_request__pack(&rq, req);
    }
    if (!rc) {
        orbit__rpc_call_opts o;
        orbit__etcd_call_opts(e, 1, &o);
        rc = orbit__etcd_read_rc(orbit__rpc_call(e->rpc, ETCD_M_RANGE, req, len, &o, &resp));
    }
    if (!rc) {
        Etcdserverpb__RangeResponse *rr = etcdserverpb__range_response__unpack(NULL, resp.len, resp.data);
        if (!rr)
            rc = orbit_error_set(ORBIT_EPROTO, "etcd: cannot decode the Range response");
        else
            *mod = rr->n_kvs ? rr->kvs[0]->mod_revision : 0;
        if (rr)
            etcdserverpb__range_response__free_unpacked(rr, NULL);
    }
    free(req);
    orbit_buf_release(&key);
    orbit_buf_release(&resp);
    return rc;
}
