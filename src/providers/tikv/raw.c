/*
 * Raw mode of the TiKV provider (URI option mode=raw): the contract's plain
 * operations on TiKV's RawKV API, routed and retried by region.c.
 *
 * What raw mode is: single-key operations are atomic and linearizable per
 * key; there are no transactions and no snapshots (the capabilities say
 * so), and a batch is not atomic across keys. A batch is applied in order:
 * it is cut at its range deletes into segments; within a segment the last
 * entry per key wins and the segment's puts (RawBatchPut) and deletes
 * (RawBatchDelete) go to every region in parallel; a range delete
 * (RawDeleteRange, per region in parallel) runs after the segment before it.
 * A batch that fails part-way is ORBIT_EUNCERTAIN once any part may have
 * been applied. Every write sets for_cas, as TiKV requires of all writes
 * to a key space that compare-and-swap (RawCompareAndSwap) is used on
 * (client-go's atomic mode, SetAtomicForCAS): TiKV then runs them through
 * the same latches as the compare-and-swaps. RawDeleteRange has no for_cas
 * field: on TiKV a range delete is not ordered against a compare-and-swap
 * running at the same moment on a key inside the range.
 *
 * Compare-and-swap (orbit__tikv_raw_cas) is one RawCompareAndSwap to the
 * key's leader. It is resent after region errors (not applied) but never
 * after a failure that may have reached the store: a lost answer is
 * ORBIT_EUNCERTAIN.
 *
 * Scans read windows of up to 8 regions in parallel (RawScan only returns
 * keys of the region it is sent to), one request per region, each region's
 * page kept in scan order; a page that came back full continues in its
 * region after its last key; reverse scans go down from the range's end
 * (RawScan with reverse=true treats start_key as the exclusive upper
 * bound). Keys are raw: PD keeps raw-mode region boundaries
 * unencoded (API V1). With the namespace option every key is stored as
 * NS||key and every range is clamped to the keys under NS, so stores with
 * different namespaces share a cluster without seeing each other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "providers/tikv/tikv_int.h"

#define RAW_SCAN_PAGE 256u
#define RAW_SCAN_MAX 10240u      /* MaxRawKVScanLimit */
#define RAW_BATCH_PUT_BYTES 16384u /* rawBatchPutSize */
#define RAW_BATCH_KEYS 512u      /* rawBatchPairCount */

/* A raw response's error string as an Orbit code. */
static int raw_error(const char *method, const char *err)
{
    if (!err || !err[0])
        return ORBIT_OK;
    if (strstr(err, "too large") || strstr(err, "TooLarge") || strstr(err, "too long"))
        return orbit_error_set(ORBIT_ETOOBIG, "%s: %s", method, err);
    return orbit_error_set(ORBIT_EIO, "%s: %s", method, err);
}

/* The answer of a raw write (RawPut, RawBatchPut, RawDelete,
 * RawBatchDelete, RawDeleteRange): every one of these responses is
 * {1 region_error, 2 string error} on the wire, so one decoding (as
 * RawPutResponse) reads them all; the loop has checked field 1. */
static int raw_write_answer(const char *method, const uint8_t *resp, size_t len)
{
    Kvrpcpb__RawPutResponse *r = kvrpcpb__raw_put_response__unpack(NULL, len, resp);
    if (!r)
        return orbit_error_set(ORBIT_EPROTO, "%s: malformed response", method);
    int rc = raw_error(method, r->error);
    kvrpcpb__raw_put_response__free_unpacked(r, NULL);
    return rc;
}

#define PACK_INTO(buf, type, msg)                                           \
    do {                                                                    \
        size_t n_ = type##__get_packed_size(msg);                           \
        int r_ = orbit_buf_reserve((buf), n_);                              \
        if (r_)                                                             \
            return r_;                                                      \
        type##__pack((msg), (buf)->data);                                   \
        (buf)->len = n_;                                                    \
    } while (0)

/* ---- the namespace (option namespace=PREFIX) -------------------------------- */

/* The stored form of user key k: k itself without a namespace (no copy),
 * else ns||k in buf. */
static int ns_key(const tikv *t, const uint8_t *k, size_t kl, orbit_buf *buf, const uint8_t **out, size_t *olen)
{
    if (!t->o.nslen) {
        *out = k;
        *olen = kl;
        return ORBIT_OK;
    }
    buf->len = 0;
    int rc = orbit_buf_reserve(buf, t->o.nslen + kl);
    if (rc)
        return rc;
    orbit_buf_append(buf, t->o.ns, t->o.nslen);
    if (kl)
        orbit_buf_append(buf, k, kl);
    *out = buf->data;
    *olen = buf->len;
    return ORBIT_OK;
}

/* The stored bounds of [lo, hi) (NULL: open) into blo/bhi; *has_* say
 * whether a bound exists (a namespace bounds both sides). */
static int ns_range(const tikv *t, const uint8_t *lo, size_t lo_len, const uint8_t *hi, size_t hi_len,
                    orbit_buf *blo, orbit_buf *bhi, int *has_lo, int *has_hi)
{
    int rc = 0;
    blo->len = bhi->len = 0;
    *has_lo = lo != NULL || t->o.nslen;
    *has_hi = hi != NULL;
    if (t->o.nslen) {
        rc = orbit_buf_append(blo, t->o.ns, t->o.nslen);
        if (!rc && lo && lo_len)
            rc = orbit_buf_append(blo, lo, lo_len);
        if (!rc && hi) {
            rc = orbit_buf_append(bhi, t->o.ns, t->o.nslen);
            if (!rc && hi_len)
                rc = orbit_buf_append(bhi, hi, hi_len);
        } else if (!rc) {
            uint8_t *succ = malloc(t->o.nslen);
            if (!succ)
                return ORBIT_ENOMEM;
            size_t n = orbit__prefix_successor(t->o.ns, t->o.nslen, succ);
            if (n) {
                *has_hi = 1;
                rc = orbit_buf_append(bhi, succ, n);
            }
            free(succ);
        }
        return rc;
    }
    if (lo)
        rc = orbit_buf_set(blo, lo, lo_len);
    if (!rc && hi)
        rc = orbit_buf_set(bhi, hi, hi_len);
    return rc;
}

/* ---- get ------------------------------------------------------------------- */

typedef struct get_st {
    const uint8_t *k;
    size_t kl;
    orbit_buf val;
    int found;
} get_st;

static int get_build(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req)
{
    get_st *g = arg;
    Kvrpcpb__RawGetRequest r = KVRPCPB__RAW_GET_REQUEST__INIT;
    r.context = ctx;
    r.key.data = (uint8_t *)g->k;
    r.key.len = g->kl;
    PACK_INTO(req, kvrpcpb__raw_get_request, &r);
    return ORBIT_OK;
}

static int get_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    get_st *g = arg;
    Kvrpcpb__RawGetResponse *r = kvrpcpb__raw_get_response__unpack(NULL, len, resp);
    if (!r)
        return orbit_error_set(ORBIT_EPROTO, "RawGet: malformed response");
    int rc = raw_error("RawGet", r->error);
    if (!rc && !r->not_found) {
        g->found = 1;
        rc = orbit_buf_set(&g->val, r->value.data, r->value.len);
    }
    kvrpcpb__raw_get_response__free_unpacked(r, NULL);
    return rc;
}

int orbit__tikv_raw_get(void *self, void *snap, const uint8_t *k, size_t kl, orbit_value_fn fn, void *arg)
{
    tikv *t = self;
    (void)snap; /* raw mode has no snapshots: the contract never passes one */
    orbit_buf nb = ORBIT_BUF_INIT;
    int nrc = ns_key(t, k, kl, &nb, &k, &kl);
    if (nrc)
        return nrc;
    get_st g = {k, kl, {0}, 0};
    orbit_buf_init(&g.val);
    tikv_call c = {0};
    c.method = TIKV_M_RAW_GET;
    c.kind = TIKV_RPC_RAW_GET;
    c.flags = TIKV_CALL_RESEND;
    c.build = get_build;
    c.handle = get_handle;
    c.arg = &g;
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, t, 0);
    int rc = orbit__tikv_send_key(t, &bo, k, kl, &c);
    if (!rc && !g.found)
        rc = ORBIT_NOTFOUND;
    if (!rc && fn)
        rc = fn(arg, g.val.data ? g.val.data : (const uint8_t *)"", g.val.len);
    orbit_buf_release(&g.val);
    orbit_buf_release(&nb);
    return rc;
}

/* ---- single-key writes ----------------------------------------------------------- */

typedef struct put_st {
    const uint8_t *k, *v;
    size_t kl, vl;
    int del;
} put_st;

static int put_build(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req)
{
    put_st *p = arg;
    if (p->del) {
        Kvrpcpb__RawDeleteRequest r = KVRPCPB__RAW_DELETE_REQUEST__INIT;
        r.context = ctx;
        r.key.data = (uint8_t *)p->k;
        r.key.len = p->kl;
        r.for_cas = 1;
        PACK_INTO(req, kvrpcpb__raw_delete_request, &r);
    } else {
        Kvrpcpb__RawPutRequest r = KVRPCPB__RAW_PUT_REQUEST__INIT;
        r.context = ctx;
        r.key.data = (uint8_t *)p->k;
        r.key.len = p->kl;
        r.value.data = (uint8_t *)p->v;
        r.value.len = p->vl;
        r.for_cas = 1;
        PACK_INTO(req, kvrpcpb__raw_put_request, &r);
    }
    return ORBIT_OK;
}

static int put_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    put_st *p = arg;
    return raw_write_answer(p->del ? "RawDelete" : "RawPut", resp, len);
}

static int raw_put_del(tikv *t, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, int del)
{
    orbit_buf nb = ORBIT_BUF_INIT;
    int rc = ns_key(t, k, kl, &nb, &k, &kl);
    if (rc)
        return rc;
    put_st p = {k, v, kl, vl, del};
    tikv_call c = {0};
    c.method = del ? TIKV_M_RAW_DELETE : TIKV_M_RAW_PUT;
    c.kind = del ? TIKV_RPC_RAW_DELETE : TIKV_RPC_RAW_PUT;
    /* a resent put of the same value, or a resent delete, lands once */
    c.flags = TIKV_CALL_WRITE | TIKV_CALL_RESEND;
    c.build = put_build;
    c.handle = put_handle;
    c.arg = &p;
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, t, 0);
    rc = orbit__tikv_send_key(t, &bo, k, kl, &c);
    orbit_buf_release(&nb);
    return rc;
}

int orbit__tikv_raw_put(void *self, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    return raw_put_del(self, k, kl, v, vl, 0);
}

int orbit__tikv_raw_del(void *self, const uint8_t *k, size_t kl)
{
    return raw_put_del(self, k, kl, NULL, 0, 1);
}

/* ---- multi-get ---------------------------------------------------------------------- */

typedef struct mget_st {
    const orbit_slice *keys;
    orbit_buf *vals;
    int *status;
} mget_st;

static int mget_build(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req)
{
    mget_st *m = arg;
    ProtobufCBinaryData *ks = malloc(task->n * sizeof *ks);
    if (!ks)
        return ORBIT_ENOMEM;
    for (size_t i = 0; i < task->n; i++) {
        ks[i].data = (uint8_t *)m->keys[task->idx[i]].data;
        ks[i].len = m->keys[task->idx[i]].len;
    }
    Kvrpcpb__RawBatchGetRequest r = KVRPCPB__RAW_BATCH_GET_REQUEST__INIT;
    r.context = ctx;
    r.n_keys = task->n;
    r.keys = ks;
    size_t n = kvrpcpb__raw_batch_get_request__get_packed_size(&r);
    int rc = orbit_buf_reserve(req, n);
    if (!rc) {
        kvrpcpb__raw_batch_get_request__pack(&r, req->data);
        req->len = n;
    }
    free(ks);
    return rc;
}

static int mget_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    mget_st *m = arg;
    Kvrpcpb__RawBatchGetResponse *r = kvrpcpb__raw_batch_get_response__unpack(NULL, len, resp);
    if (!r)
        return orbit_error_set(ORBIT_EPROTO, "RawBatchGet: malformed response");
    int rc = 0;
    for (size_t i = 0; i < task->n; i++)
        m->status[task->idx[i]] = ORBIT_NOTFOUND;
    /* pairs come back for present keys only; match them to the task's keys
     * (duplicates in the caller's array all get the value) */
    for (size_t p = 0; p < r->n_pairs && !rc; p++) {
        const Kvrpcpb__KvPair *kv = r->pairs[p];
        if (kv->error) {
            rc = orbit_error_set(ORBIT_EIO, "RawBatchGet: key error");
            break;
        }
        for (size_t i = 0; i < task->n && !rc; i++) {
            size_t ix = task->idx[i];
            if (orbit__key_cmp(m->keys[ix].data, m->keys[ix].len, kv->key.data, kv->key.len) == 0) {
                rc = orbit_buf_set(&m->vals[ix], kv->value.data, kv->value.len);
                m->status[ix] = rc ? rc : ORBIT_OK;
            }
        }
    }
    kvrpcpb__raw_batch_get_response__free_unpacked(r, NULL);
    return rc;
}

int orbit__tikv_raw_multi_get(void *self, void *snap, size_t n, const orbit_slice *keys, orbit_buf *vals,
                              int *status)
{
    tikv *t = self;
    (void)snap;
    for (size_t i = 0; i < n; i++) {
        vals[i].len = 0;
        status[i] = ORBIT_NOTFOUND;
    }
    orbit_slice *nk = NULL;
    uint8_t *nbytes = NULL;
    if (t->o.nslen && n) {
        size_t total = 0;
        for (size_t i = 0; i < n; i++)
            total += t->o.nslen + keys[i].len;
        nk = malloc(n * sizeof *nk);
        nbytes = malloc(total);
        if (!nk || !nbytes) {
            free(nk);
            free(nbytes);
            return ORBIT_ENOMEM;
        }
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            memcpy(nbytes + at, t->o.ns, t->o.nslen);
            if (keys[i].len)
                memcpy(nbytes + at + t->o.nslen, keys[i].data, keys[i].len);
            nk[i].data = nbytes + at;
            nk[i].len = t->o.nslen + keys[i].len;
            at += nk[i].len;
        }
        keys = nk;
    }
    mget_st m = {keys, vals, status};
    tikv_call c = {0};
    c.method = TIKV_M_RAW_BATCH_GET;
    c.kind = TIKV_RPC_RAW_BATCH_GET;
    c.flags = TIKV_CALL_RESEND;
    c.build = mget_build;
    c.handle = mget_handle;
    c.arg = &m;
    c.max_keys = RAW_BATCH_KEYS;
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, t, 0);
    int rc = orbit__tikv_send_keys(t, &bo, n, keys, &c);
    free(nk);
    free(nbytes);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            if (status[i] == ORBIT_OK || status[i] == ORBIT_NOTFOUND)
                status[i] = rc;
        return rc;
    }
    return ORBIT_OK;
}

/* ---- batches -------------------------------------------------------------------------- */

typedef struct bw_st {
    const orbit_slice *keys;
    const orbit_slice *vals; /* NULL: deletes */
    int *applied;            /* set once any request of it succeeded */
} bw_st;

static size_t bw_weight(void *arg, size_t idx)
{
    bw_st *b = arg;
    return b->keys[idx].len + (b->vals ? b->vals[idx].len : 0);
}

static int bw_build(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req)
{
    bw_st *b = arg;
    int rc = 0;
    if (b->vals) {
        Kvrpcpb__KvPair *pairs = calloc(task->n, sizeof *pairs);
        Kvrpcpb__KvPair **pp = calloc(task->n, sizeof *pp);
        if (!pairs || !pp) {
            free(pairs);
            free(pp);
            return ORBIT_ENOMEM;
        }
        for (size_t i = 0; i < task->n; i++) {
            kvrpcpb__kv_pair__init(&pairs[i]);
            pairs[i].key.data = (uint8_t *)b->keys[task->idx[i]].data;
            pairs[i].key.len = b->keys[task->idx[i]].len;
            pairs[i].value.data = (uint8_t *)b->vals[task->idx[i]].data;
            pairs[i].value.len = b->vals[task->idx[i]].len;
            pp[i] = &pairs[i];
        }
        Kvrpcpb__RawBatchPutRequest r = KVRPCPB__RAW_BATCH_PUT_REQUEST__INIT;
        r.context = ctx;
        r.n_pairs = task->n;
        r.pairs = pp;
        r.for_cas = 1;
        size_t n = kvrpcpb__raw_batch_put_request__get_packed_size(&r);
        rc = orbit_buf_reserve(req, n);
        if (!rc) {
            kvrpcpb__raw_batch_put_request__pack(&r, req->data);
            req->len = n;
        }
        free(pairs);
        free(pp);
        return rc;
    }
    ProtobufCBinaryData *ks = malloc(task->n * sizeof *ks);
    if (!ks)
        return ORBIT_ENOMEM;
    for (size_t i = 0; i < task->n; i++) {
        ks[i].data = (uint8_t *)b->keys[task->idx[i]].data;
        ks[i].len = b->keys[task->idx[i]].len;
    }
    Kvrpcpb__RawBatchDeleteRequest r = KVRPCPB__RAW_BATCH_DELETE_REQUEST__INIT;
    r.context = ctx;
    r.n_keys = task->n;
    r.keys = ks;
    r.for_cas = 1;
    size_t n = kvrpcpb__raw_batch_delete_request__get_packed_size(&r);
    rc = orbit_buf_reserve(req, n);
    if (!rc) {
        kvrpcpb__raw_batch_delete_request__pack(&r, req->data);
        req->len = n;
    }
    free(ks);
    return rc;
}

static int bw_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    bw_st *b = arg;
    int rc = raw_write_answer(b->vals ? "RawBatchPut" : "RawBatchDelete", resp, len);
    if (!rc)
        *b->applied = 1;
    return rc;
}

typedef struct dr_st {
    int *applied;
} dr_st;

static int dr_build(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req)
{
    Kvrpcpb__RawDeleteRangeRequest r = KVRPCPB__RAW_DELETE_RANGE_REQUEST__INIT;
    r.context = ctx;
    r.start_key.data = (uint8_t *)task->lo;
    r.start_key.len = task->lo_len;
    r.end_key.data = (uint8_t *)task->hi;
    r.end_key.len = task->hi_len;
    PACK_INTO(req, kvrpcpb__raw_delete_range_request, &r);
    return ORBIT_OK;
}

static int dr_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    int rc = raw_write_answer("RawDeleteRange", resp, len);
    if (!rc)
        *((dr_st *)arg)->applied = 1;
    return rc;
}

/* Delete [lo, hi) (hi_len 0: no upper bound) region by region, in parallel.
 * A region with no upper bound gets end_key empty, which TiKV reads as
 * "to the end". */
static int raw_delete_range(tikv *t, tikv_bo *bo, const uint8_t *lo, size_t lo_len, const uint8_t *hi,
                            size_t hi_len, int *applied)
{
    dr_st d = {applied};
    tikv_call c = {0};
    c.method = TIKV_M_RAW_DELETE_RANGE;
    c.kind = TIKV_RPC_RAW_DELETE_RANGE;
    c.flags = TIKV_CALL_WRITE | TIKV_CALL_RESEND;
    c.build = dr_build;
    c.handle = dr_handle;
    c.arg = &d;
    return orbit__tikv_send_range(t, bo, lo, lo_len, hi, hi_len, &c);
}

/* Delete user range [lo, hi) (lo/hi NULL: open). */
static int ns_delete_range(tikv *t, tikv_bo *bo, const uint8_t *lo, size_t lo_len, const uint8_t *hi, size_t hi_len,
                           int *applied)
{
    orbit_buf blo = ORBIT_BUF_INIT, bhi = ORBIT_BUF_INIT;
    int has_lo, has_hi;
    int rc = ns_range(t, lo, lo_len, hi, hi_len, &blo, &bhi, &has_lo, &has_hi);
    if (!rc)
        rc = raw_delete_range(t, bo, blo.data, has_lo ? blo.len : 0, bhi.data, has_hi ? bhi.len : 0, applied);
    orbit_buf_release(&blo);
    orbit_buf_release(&bhi);
    return rc;
}

int orbit__tikv_raw_delete_range(void *self, const orbit_range *r)
{
    tikv *t = self;
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, t, 0);
    int applied = 0;
    int rc = ns_delete_range(t, &bo, r->lo, r->lo_len, r->hi, r->hi_len, &applied);
    if (rc && applied && rc != ORBIT_EUNCERTAIN)
        rc = orbit_error_set(ORBIT_EUNCERTAIN, "tikv raw delete_range: some regions were cleared, then %s: %s",
                             orbit_err_name(rc), orbit_last_error_detail());
    return rc;
}

/* Send one segment of a batch: its puts and its deletes (distinct keys). */
static int send_segment(tikv *t, tikv_bo *bo, const orbit_batch *b, size_t from, size_t to, int *applied)
{
    size_t n = to - from;
    if (n == 0)
        return ORBIT_OK;
    orbit_slice *pk = malloc(n * sizeof *pk), *pv = malloc(n * sizeof *pv), *dk = malloc(n * sizeof *dk);
    size_t np = 0, nd = 0;
    int rc = pk && pv && dk ? 0 : ORBIT_ENOMEM;
    /* last entry per key wins: walk backwards, keep a key the first time */
    orbit_slice *seen = rc ? NULL : malloc(n * sizeof *seen);
    size_t nseen = 0;
    if (!rc && !seen)
        rc = ORBIT_ENOMEM;
    for (size_t i = to; !rc && i > from; i--) {
        orbit_batch_entry e;
        orbit_batch_entry_at(b, i - 1, &e);
        int dup = 0;
        /* a segment is small in practice; sorted dedupe if it ever matters */
        for (size_t j = 0; j < nseen && !dup; j++)
            dup = orbit__key_cmp(seen[j].data, seen[j].len, e.key, e.klen) == 0;
        if (dup)
            continue;
        seen[nseen].data = e.key;
        seen[nseen++].len = e.klen;
        const uint8_t *sk = e.key;
        size_t skl = e.klen;
        if (t->o.nslen) {
            uint8_t *x = malloc(t->o.nslen + e.klen);
            if (!x) {
                rc = ORBIT_ENOMEM;
                break;
            }
            memcpy(x, t->o.ns, t->o.nslen);
            memcpy(x + t->o.nslen, e.key, e.klen);
            sk = x;
            skl = t->o.nslen + e.klen;
        }
        e.key = sk;
        e.klen = skl;
        if (e.type == ORBIT_OP_PUT) {
            pk[np].data = e.key;
            pk[np].len = e.klen;
            pv[np].data = e.val;
            pv[np++].len = e.vlen;
        } else {
            dk[nd].data = e.key;
            dk[nd++].len = e.klen;
        }
    }
    free(seen);
    if (!rc && np) {
        bw_st s = {pk, pv, applied};
        tikv_call c = {0};
        c.method = TIKV_M_RAW_BATCH_PUT;
        c.kind = TIKV_RPC_RAW_BATCH_PUT;
        c.flags = TIKV_CALL_WRITE | TIKV_CALL_RESEND;
        c.build = bw_build;
        c.handle = bw_handle;
        c.arg = &s;
        c.max_keys = RAW_BATCH_KEYS;
        c.max_bytes = RAW_BATCH_PUT_BYTES;
        c.weight = bw_weight;
        rc = orbit__tikv_send_keys(t, bo, np, pk, &c);
    }
    if (!rc && nd) {
        bw_st s = {dk, NULL, applied};
        tikv_call c = {0};
        c.method = TIKV_M_RAW_BATCH_DELETE;
        c.kind = TIKV_RPC_RAW_BATCH_DELETE;
        c.flags = TIKV_CALL_WRITE | TIKV_CALL_RESEND;
        c.build = bw_build;
        c.handle = bw_handle;
        c.arg = &s;
        c.max_keys = RAW_BATCH_KEYS;
        rc = orbit__tikv_send_keys(t, bo, nd, dk, &c);
    }
    if (t->o.nslen) {
        for (size_t i = 0; pk && i < np; i++)
            free((void *)pk[i].data);
        for (size_t i = 0; dk && i < nd; i++)
            free((void *)dk[i].data);
    }
    free(pk);
    free(pv);
    free(dk);
    return rc;
}

int orbit__tikv_raw_write(void *self, const orbit_batch *b)
{
    tikv *t = self;
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, t, 0);
    size_t n = orbit_batch_count(b);
    int applied = 0, rc = 0;
    size_t from = 0;
    for (size_t i = 0; i <= n && !rc; i++) {
        orbit_batch_entry e;
        if (i < n)
            orbit_batch_entry_at(b, i, &e);
        if (i < n && e.type != ORBIT_OP_DEL_RANGE)
            continue;
        rc = send_segment(t, &bo, b, from, i, &applied);
        if (!rc && i < n)
            rc = ns_delete_range(t, &bo, e.key, e.klen, e.val, e.vlen, &applied);
        from = i + 1;
        if (rc && applied && rc != ORBIT_EUNCERTAIN)
            rc = orbit_error_set(ORBIT_EUNCERTAIN,
                                 "tikv raw batch: a part was applied, then another failed (%s: %s)",
                                 orbit_err_name(rc), orbit_last_error_detail());
    }
    return rc;
}

/* ---- compare-and-swap ------------------------------------------------------------------- */

typedef struct cas_st {
    const uint8_t *k;
    size_t kl;
    const orbit_slice *expected, *desired;
    int ok;
    int prev_absent;
    orbit_buf prev;
} cas_st;

static int cas_build(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req)
{
    cas_st *s = arg;
    Kvrpcpb__RawCASRequest r = KVRPCPB__RAW_CASREQUEST__INIT;
    r.context = ctx;
    r.key.data = (uint8_t *)s->k;
    r.key.len = s->kl;
    if (s->desired) {
        r.value.data = (uint8_t *)s->desired->data;
        r.value.len = s->desired->len;
    } else {
        r.delete_ = 1;
    }
    if (s->expected) {
        r.previous_value.data = (uint8_t *)s->expected->data;
        r.previous_value.len = s->expected->len;
    } else {
        r.previous_not_exist = 1;
    }
    PACK_INTO(req, kvrpcpb__raw_casrequest, &r);
    return ORBIT_OK;
}

static int cas_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    cas_st *s = arg;
    Kvrpcpb__RawCASResponse *r = kvrpcpb__raw_casresponse__unpack(NULL, len, resp);
    if (!r)
        return orbit_error_set(ORBIT_EPROTO, "RawCompareAndSwap: malformed response");
    int rc = raw_error("RawCompareAndSwap", r->error);
    if (!rc) {
        s->ok = r->succeed;
        s->prev_absent = r->previous_not_exist;
        rc = orbit_buf_set(&s->prev, r->previous_value.data, r->previous_value.len);
    }
    kvrpcpb__raw_casresponse__free_unpacked(r, NULL);
    return rc;
}

int orbit__tikv_raw_cas(void *self, const uint8_t *k, size_t kl, const orbit_slice *expected,
                        const orbit_slice *desired, orbit_buf *current)
{
    tikv *t = self;
    orbit_buf nb = ORBIT_BUF_INIT;
    int nrc = ns_key(t, k, kl, &nb, &k, &kl);
    if (nrc)
        return nrc;
    cas_st s = {k, kl, expected, desired, 0, 0, {0}};
    orbit_buf_init(&s.prev);
    tikv_call c = {0};
    c.method = TIKV_M_RAW_CAS;
    c.kind = TIKV_RPC_RAW_CAS;
    /* never resent after a failure that may have landed: a second
     * compare would see our own write and report a mismatch */
    c.flags = TIKV_CALL_WRITE;
    c.build = cas_build;
    c.handle = cas_handle;
    c.arg = &s;
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, t, 0);
    int rc = orbit__tikv_send_key(t, &bo, k, kl, &c);
    if (!rc && !s.ok) {
        /* the contract: an expected value against an absent key is
         * NOTFOUND, any other mismatch CMPFAIL with the value found */
        rc = s.prev_absent && expected ? ORBIT_NOTFOUND : ORBIT_CMPFAIL;
        if (current) {
            if (s.prev_absent)
                current->len = 0;
            else if (orbit_buf_set(current, s.prev.data, s.prev.len))
                rc = ORBIT_ENOMEM;
        }
    }
    orbit_buf_release(&s.prev);
    orbit_buf_release(&nb);
    return rc;
}


/* ---- iterators ----------------------------------------------------------------------------- */

/*
 * Windows, as in txn mode (txn.c, "iterators"): when the iterator runs dry,
 * one RawScan per region for up to RAW_SCAN_WINDOW regions of the rest of
 * the range goes out at once; each region's answer is kept as a chunk in
 * scan order and handed out in turn. A chunk whose page came back full
 * continues within its own region from its last key (one RawScan at a
 * time) before the next chunk's turn. With a limit (or byte) hint the
 * first read is one region's, and every read asks for what the hints still
 * want.
 */
#define RAW_SCAN_WINDOW 8

/* A part of the range, [lo, hi) (lo.len 0: from the first key; hi.len 0:
 * no upper bound), with a page read from it not handed out yet; more: part
 * of it is still to read (forward from lo, reverse below hi). */
typedef struct raw_chunk {
    Kvrpcpb__RawScanResponse *page;
    int more;
    orbit_buf lo, hi;
} raw_chunk;

typedef struct raw_iter {
    tikv *t;
    int reverse, keys_only;
    orbit_buf lo, hi;  /* the range; len 0 with has_*: open side */
    int has_lo, has_hi;
    raw_chunk tail;    /* the part not read into chunks yet */
    raw_chunk *q;      /* chunks read ahead, in scan order, from q[qh] on */
    size_t qh, qn;
    int first_one;     /* the next read of the tail is one region's */
    size_t limit;      /* the caller's hints; 0: none */
    size_t max_bytes;
    size_t returned, bytes;
    Kvrpcpb__RawScanResponse *page; /* being handed out */
    size_t at;
    uint32_t ask;      /* the page size asked for */
} raw_iter;

static void rchunk_init(raw_chunk *c)
{
    memset(c, 0, sizeof *c);
    orbit_buf_init(&c->lo);
    orbit_buf_init(&c->hi);
}

static void rchunk_release(raw_chunk *c)
{
    if (c->page)
        kvrpcpb__raw_scan_response__free_unpacked(c->page, NULL);
    c->page = NULL;
    orbit_buf_release(&c->lo);
    orbit_buf_release(&c->hi);
}

static void rchunks_free(raw_chunk *q, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rchunk_release(&q[i]);
    free(q);
}

static void rqueue_clear(raw_iter *it)
{
    rchunks_free(it->q, it->qn);
    it->q = NULL;
    it->qh = it->qn = 0;
}

static int rchunk_empty(const raw_chunk *c)
{
    return c->hi.len && orbit__key_cmp(c->lo.data, c->lo.len, c->hi.data, c->hi.len) >= 0;
}

/* The page size to ask for: RAW_SCAN_PAGE, or what the hints still want. */
static uint32_t raw_want(const raw_iter *it)
{
    size_t want = RAW_SCAN_PAGE;
    if (it->limit) {
        size_t left = it->limit > it->returned ? it->limit - it->returned : 1;
        want = left < RAW_SCAN_MAX ? left : RAW_SCAN_MAX;
    }
    if (it->max_bytes && it->returned && it->bytes < it->max_bytes) {
        size_t avg = it->bytes / it->returned;
        size_t est = (it->max_bytes - it->bytes) / (avg ? avg : 1) + 1;
        if (est < want)
            want = est;
    }
    return (uint32_t)want;
}

typedef struct scan_st {
    raw_iter *it;
    Kvrpcpb__RawScanResponse *got;
    /* a window: one chunk per task answered */
    raw_chunk *ch;
    size_t nch, capch;
} scan_st;

static int scan_build(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req)
{
    scan_st *s = arg;
    raw_iter *it = s->it;
    Kvrpcpb__RawScanRequest r = KVRPCPB__RAW_SCAN_REQUEST__INIT;
    r.context = ctx;
    r.limit = it->ask;
    r.key_only = it->keys_only;
    if (it->reverse) {
        r.reverse = 1;
        r.start_key.data = (uint8_t *)task->hi; /* exclusive upper bound */
        r.start_key.len = task->hi_len;
        r.end_key.data = (uint8_t *)task->lo;
        r.end_key.len = task->lo_len;
    } else {
        r.start_key.data = (uint8_t *)task->lo;
        r.start_key.len = task->lo_len;
        r.end_key.data = (uint8_t *)task->hi;
        r.end_key.len = task->hi_len;
    }
    PACK_INTO(req, kvrpcpb__raw_scan_request, &r);
    return ORBIT_OK;
}

static int scan_parse(const uint8_t *resp, size_t len, Kvrpcpb__RawScanResponse **out)
{
    Kvrpcpb__RawScanResponse *r = kvrpcpb__raw_scan_response__unpack(NULL, len, resp);
    if (!r)
        return orbit_error_set(ORBIT_EPROTO, "RawScan: malformed response");
    for (size_t i = 0; i < r->n_kvs; i++)
        if (r->kvs[i]->error) {
            kvrpcpb__raw_scan_response__free_unpacked(r, NULL);
            return orbit_error_set(ORBIT_EIO, "RawScan: key error in the answer");
        }
    *out = r;
    return ORBIT_OK;
}

static int scan_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    (void)task;
    scan_st *s = arg;
    Kvrpcpb__RawScanResponse *r = NULL;
    int rc = scan_parse(resp, len, &r);
    if (rc)
        return rc;
    if (s->got)
        kvrpcpb__raw_scan_response__free_unpacked(s->got, NULL);
    s->got = r;
    return ORBIT_OK;
}

/* Narrow c after a page (c->page) read from [c->lo, c->hi): full, the
 * page hit its limit: the rest starts after its last key; else the region
 * that answered (loc; NULL: c was within one region) is read through. */
static int rchunk_narrow(raw_iter *it, raw_chunk *c, const tikv_loc *loc)
{
    const Kvrpcpb__RawScanResponse *r = c->page;
    if (r && r->n_kvs && r->n_kvs >= it->ask) {
        const Kvrpcpb__KvPair *last = r->kvs[r->n_kvs - 1];
        if (it->reverse) {
            if (last->key.len == 0) {
                c->more = 0;
                return ORBIT_OK;
            }
            return orbit_buf_set(&c->hi, last->key.data, last->key.len);
        }
        int rc = orbit_buf_set(&c->lo, last->key.data, last->key.len);
        return rc ? rc : orbit_buf_append(&c->lo, "", 1); /* just after the last key */
    }
    if (!loc) {
        c->more = 0;
        return ORBIT_OK;
    }
    if (it->reverse) {
        if (loc->start_len == 0 || (c->lo.len && orbit__key_cmp(loc->start, loc->start_len, c->lo.data, c->lo.len) <= 0))
            c->more = 0;
        else
            return orbit_buf_set(&c->hi, loc->start, loc->start_len);
    } else {
        if (loc->end_len == 0 || (c->hi.len && orbit__key_cmp(loc->end, loc->end_len, c->hi.data, c->hi.len) >= 0))
            c->more = 0;
        else
            return orbit_buf_set(&c->lo, loc->end, loc->end_len);
    }
    return ORBIT_OK;
}

/* Read the next page of c from the one region holding its start in scan
 * order into c->page; c narrows. */
static int rchunk_read_one(raw_iter *it, tikv_bo *bo, raw_chunk *c)
{
    if (rchunk_empty(c)) {
        c->more = 0;
        return ORBIT_OK;
    }
    it->ask = raw_want(it);
    scan_st s = {0};
    s.it = it;
    tikv_call call = {0};
    call.method = TIKV_M_RAW_SCAN;
    call.kind = TIKV_RPC_RAW_SCAN;
    call.flags = TIKV_CALL_RESEND;
    call.build = scan_build;
    call.handle = scan_handle;
    call.arg = &s;
    tikv_loc loc = {0};
    int rc = orbit__tikv_send_range_one(it->t, bo, c->lo.data, c->lo.len, c->hi.data, c->hi.len, it->reverse, &call,
                                        &loc);
    if (!rc) {
        c->page = s.got;
        s.got = NULL;
        rc = rchunk_narrow(it, c, &loc);
    }
    if (s.got)
        kvrpcpb__raw_scan_response__free_unpacked(s.got, NULL);
    orbit__tikv_loc_release(&loc);
    return rc;
}

static int win_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    scan_st *s = arg;
    if (s->nch == s->capch) {
        size_t nc = s->capch ? s->capch * 2 : RAW_SCAN_WINDOW;
        raw_chunk *x = realloc(s->ch, nc * sizeof *x);
        if (!x)
            return ORBIT_ENOMEM;
        s->ch = x;
        s->capch = nc;
    }
    raw_chunk *c = &s->ch[s->nch];
    rchunk_init(c);
    c->more = 1;
    int rc = scan_parse(resp, len, &c->page);
    if (!rc)
        rc = orbit_buf_set(&c->lo, task->lo, task->lo_len);
    if (!rc)
        rc = orbit_buf_set(&c->hi, task->hi, task->hi_len);
    if (!rc)
        rc = rchunk_narrow(s->it, c, NULL);
    if (rc) {
        rchunk_release(c);
        return rc;
    }
    s->nch++;
    return ORBIT_OK;
}

static int rchunk_cmp_fwd(const void *x, const void *y)
{
    const raw_chunk *a = x, *b = y;
    return orbit__key_cmp(a->lo.data, a->lo.len, b->lo.data, b->lo.len);
}

static int rchunk_cmp_rev(const void *x, const void *y)
{
    return -rchunk_cmp_fwd(x, y);
}

/* Read the next window of the tail into the (empty) queue. */
static int tail_read_window(raw_iter *it, tikv_bo *bo)
{
    raw_chunk *tl = &it->tail;
    if (rchunk_empty(tl)) {
        tl->more = 0;
        return ORBIT_OK;
    }
    it->ask = raw_want(it);
    scan_st s = {0};
    s.it = it;
    tikv_call call = {0};
    call.method = TIKV_M_RAW_SCAN;
    call.kind = TIKV_RPC_RAW_SCAN;
    call.flags = TIKV_CALL_RESEND;
    call.build = scan_build;
    call.handle = win_handle;
    call.arg = &s;
    orbit_buf edge = ORBIT_BUF_INIT;
    int last = 0;
    int rc = orbit__tikv_send_range_window(it->t, bo, tl->lo.data, tl->lo.len, tl->hi.data, tl->hi.len,
                                           it->reverse, RAW_SCAN_WINDOW, &call, &edge, &last);
    if (!rc) {
        if (last)
            tl->more = 0;
        else
            rc = orbit_buf_set(it->reverse ? &tl->hi : &tl->lo, edge.data, edge.len);
    }
    orbit_buf_release(&edge);
    if (rc) {
        rchunks_free(s.ch, s.nch);
        return rc;
    }
    if (s.nch > 1)
        qsort(s.ch, s.nch, sizeof *s.ch, it->reverse ? rchunk_cmp_rev : rchunk_cmp_fwd);
    rqueue_clear(it);
    it->q = s.ch;
    it->qn = s.nch;
    it->qh = 0;
    return ORBIT_OK;
}

/* Make it->page the next non-empty page (NULL at the end). */
static int iter_fill(raw_iter *it)
{
    if (it->page) {
        kvrpcpb__raw_scan_response__free_unpacked(it->page, NULL);
        it->page = NULL;
    }
    it->at = 0;
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, it->t, 0);
    int rc = ORBIT_OK;
    for (;;) {
        int is_tail = it->qh >= it->qn;
        raw_chunk *c = is_tail ? &it->tail : &it->q[it->qh];
        if (c->page && c->page->n_kvs) {
            it->page = c->page;
            c->page = NULL;
            break;
        }
        if (c->page) {
            kvrpcpb__raw_scan_response__free_unpacked(c->page, NULL);
            c->page = NULL;
        }
        if (!c->more) {
            if (is_tail)
                break;
            rchunk_release(c);
            it->qh++;
            continue;
        }
        if (is_tail && !it->first_one) {
            rc = tail_read_window(it, &bo);
        } else {
            rc = rchunk_read_one(it, &bo, c);
            if (is_tail)
                it->first_one = 0;
        }
        if (rc)
            break;
    }
    if (it->qh >= it->qn)
        rqueue_clear(it);
    return rc;
}

/* The tail is the whole range. */
static int tail_reset(raw_iter *it)
{
    raw_chunk *tl = &it->tail;
    if (tl->page)
        kvrpcpb__raw_scan_response__free_unpacked(tl->page, NULL);
    tl->page = NULL;
    tl->more = 1;
    int rc = orbit_buf_set(&tl->lo, it->lo.data, it->has_lo ? it->lo.len : 0);
    if (!rc)
        rc = orbit_buf_set(&tl->hi, it->hi.data, it->has_hi ? it->hi.len : 0);
    if (it->has_hi && it->hi.len == 0)
        tl->more = 0; /* below the empty key: nothing */
    return rc;
}

int orbit__tikv_raw_iter_open(void *self, void *snap, const orbit_range *r, void **out)
{
    (void)snap;
    raw_iter *it = calloc(1, sizeof *it);
    if (!it)
        return ORBIT_ENOMEM;
    it->t = self;
    it->reverse = r->reverse;
    it->keys_only = r->keys_only;
    it->limit = r->limit;
    it->max_bytes = r->max_bytes;
    it->first_one = r->limit || r->max_bytes;
    orbit_buf_init(&it->lo);
    orbit_buf_init(&it->hi);
    rchunk_init(&it->tail);
    int rc = ns_range(self, r->lo, r->lo_len, r->hi, r->hi_len, &it->lo, &it->hi, &it->has_lo, &it->has_hi);
    if (!rc)
        rc = tail_reset(it);
    if (rc) {
        orbit__tikv_raw_iter_close(it);
        return rc;
    }
    *out = it;
    return ORBIT_OK;
}

int orbit__tikv_raw_iter_next(void *p, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl)
{
    raw_iter *it = p;
    if (!it->page || it->at >= it->page->n_kvs) {
        int rc = iter_fill(it);
        if (rc)
            return rc;
        if (!it->page || it->at >= it->page->n_kvs)
            return ORBIT_NOTFOUND;
    }
    const Kvrpcpb__KvPair *kv = it->page->kvs[it->at++];
    size_t ns = it->t->o.nslen;
    if (kv->key.len < ns || (ns && memcmp(kv->key.data, it->t->o.ns, ns) != 0))
        return orbit_error_set(ORBIT_EPROTO, "RawScan returned a key outside the namespace");
    *k = kv->key.data ? kv->key.data + ns : (const uint8_t *)"";
    *kl = kv->key.len - ns;
    *v = kv->value.data ? kv->value.data : (const uint8_t *)"";
    *vl = it->keys_only ? 0 : kv->value.len;
    it->returned++;
    it->bytes += *kl + *vl;
    return ORBIT_OK;
}

int orbit__tikv_raw_iter_seek(void *p, const uint8_t *uk, size_t ukl)
{
    raw_iter *it = p;
    orbit_buf nb = ORBIT_BUF_INIT;
    const uint8_t *k;
    size_t kl;
    int rc = ns_key(it->t, uk, ukl, &nb, &k, &kl);
    if (rc)
        return rc;
    if (it->page) {
        kvrpcpb__raw_scan_response__free_unpacked(it->page, NULL);
        it->page = NULL;
    }
    it->at = 0;
    it->first_one = 0;
    rqueue_clear(it);
    rc = tail_reset(it);
    raw_chunk *tl = &it->tail;
    if (!rc && it->reverse) {
        /* the next entry is the last one <= k: upper bound k + "\0",
         * clipped to the range's end */
        if (!it->has_hi || orbit__key_cmp(k, kl, it->hi.data, it->hi.len) < 0) {
            rc = orbit_buf_set(&tl->hi, k, kl);
            if (!rc)
                rc = orbit_buf_append(&tl->hi, "", 1);
        }
    } else if (!rc && (!it->has_lo || orbit__key_cmp(k, kl, it->lo.data, it->lo.len) > 0)) {
        rc = orbit_buf_set(&tl->lo, k, kl);
    }
    orbit_buf_release(&nb);
    return rc;
}

void orbit__tikv_raw_iter_close(void *p)
{
    raw_iter *it = p;
    if (!it)
        return;
    if (it->page)
        kvrpcpb__raw_scan_response__free_unpacked(it->page, NULL);
    rqueue_clear(it);
    rchunk_release(&it->tail);
    orbit_buf_release(&it->lo);
    orbit_buf_release(&it->hi);
    free(it);
}
