/*
 * The etcd provider ("etcd://HOST:PORT[,HOST:PORT...][?options]"): Orbit's
 * provider contract on etcd v3's KV service, over the shared gRPC transport
 * (src/rpc). This file holds opening, point reads and writes, batches, the
 * native asynchronous path, and the guarded-write machinery every mutation
 * goes through; iterators and snapshots are in etcd_read.c, transactions in
 * etcd_txn.c.
 *
 * Exactly-once writes. A remote write that fails ambiguously (the member
 * died, the leader changed, the attempt timed out) may or may not have been
 * applied, so resending it blindly could apply it twice. Every mutation is
 * therefore one etcd Txn that also writes a commit marker: a key owned by
 * this client and a slot that one write holds at a time, whose value is the
 * write's sequence number. The Txn compares the marker's mod_revision with
 * the value this client last saw, so of all the identical attempts of one
 * write at most one can succeed; the failure branch reads the marker back,
 * so a retry that finds its own sequence number there knows an earlier
 * attempt committed, and one that finds the marker unchanged knows that the
 * user's own compares failed (ORBIT_ECONFLICT). The transport may thus
 * resend any mutation until its deadline. A write whose every attempt
 * failed ends with EUNAVAIL / ETIMEDOUT: its outcome is unknown, as with any
 * remote store, but it is never applied twice; its slot is retired.
 *
 * Markers live under ETCD_MARKER_ROOT || client-id "/" slot and are deleted
 * when the store closes (a crashed client leaves at most one per
 * concurrent writer behind).
 *
 * The URI option writes=plain trades this for speed on single-key puts and
 * deletes only: they become etcd's own Put / DeleteRange and are resent
 * after an ambiguous failure as idempotent-by-value, so a resent write can
 * land after another client's write of the same key. Batches and
 * transaction commits are always guarded.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/base.h"
#include "providers/etcd/etcd_int.h"

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_MAX_TXN_OPS 128
#define DEFAULT_MAX_REQUEST_BYTES (1536u * 1024u) /* etcd's --max-request-bytes */
#define DEFAULT_PAGE 512

/* ---- small helpers ------------------------------------------------------ */

void orbit__etcd_call_opts(const etcd *e, int idempotent, orbit__rpc_call_opts *o)
{
    o->timeout_ms = e->timeout_ms;
    o->attempt_ms = e->attempt_ms;
    o->idempotent = idempotent;
    o->endpoint = -1;
}

int orbit__etcd_check_key(const etcd *e, const uint8_t *k, size_t kl)
{
    if (e->nslen == 0 && kl >= ETCD_MARKER_ROOT_LEN && memcmp(k, ETCD_MARKER_ROOT, ETCD_MARKER_ROOT_LEN) == 0)
        return orbit_error_set(ORBIT_EINVAL,
                               "etcd: keys starting with FF FF FF are reserved when no namespace is set");
    return ORBIT_OK;
}

int orbit__etcd_key(const etcd *e, const uint8_t *k, size_t kl, orbit_buf *out)
{
    int rc = orbit__etcd_check_key(e, k, kl);
    if (rc)
        return rc;
    orbit_buf_reset(out);
    if (orbit_buf_reserve(out, e->nslen + kl + 1))
        return ORBIT_ENOMEM;
    if (e->nslen)
        memcpy(out->data, e->ns, e->nslen);
    memcpy(out->data + e->nslen, k, kl);
    out->len = e->nslen + kl;
    return ORBIT_OK;
}

static int marker_key(const etcd *e, uint64_t slot, char *out, size_t cap)
{
    return snprintf(out, cap, "%s%s/%" PRIu64, ETCD_MARKER_ROOT, e->client_id, slot);
}

static int decode_error(const char *what)
{
    return orbit_error_set(ORBIT_EPROTO, "etcd: cannot decode the %s response", what);
}

/* ---- guarded writes ----------------------------------------------------- */

static etcd_slot *slot_get(etcd *e)
{
    pthread_mutex_lock(&e->slot_lock);
    etcd_slot *s = e->free_slots;
    if (s) {
        e->free_slots = s->next;
    } else if ((s = calloc(1, sizeof *s)) != NULL) {
        s->no = e->next_slot++;
    }
    pthread_mutex_unlock(&e->slot_lock);
    return s;
}

static void slot_put(etcd *e, etcd_slot *s)
{
    pthread_mutex_lock(&e->slot_lock);
    s->next = e->free_slots;
    e->free_slots = s;
    pthread_mutex_unlock(&e->slot_lock);
}

int orbit__etcd_gw_build(etcd *e, const etcd_cmp *cmps, size_t ncmp, const etcd_wop *ops, size_t nops,
                         etcd_gw *gw)
{
    memset(gw, 0, sizeof *gw);
    if (nops + 1 > e->max_txn_ops)
        return orbit_error_set(ORBIT_ETOOBIG,
                               "etcd: a write of %zu operations plus its commit marker exceeds "
                               "max_txn_ops=%zu (etcd --max-txn-ops; if the server was raised, "
                               "set max_txn_ops=N in the store URI)",
                               nops, e->max_txn_ops);
    if (ncmp + 1 > e->max_txn_ops)
        return orbit_error_set(ORBIT_ETOOBIG,
                               "etcd: a commit checking %zu keys plus its commit marker exceeds "
                               "max_txn_ops=%zu (etcd --max-txn-ops)",
                               ncmp, e->max_txn_ops);
    for (size_t i = 0; i < nops; i++) {
        int krc = orbit__etcd_check_key(e, ops[i].key, ops[i].klen);
        if (krc)
            return krc;
    }
    etcd_slot *slot = slot_get(e);
    if (!slot)
        return ORBIT_ENOMEM;
    uint64_t seq = atomic_fetch_add(&e->seq, 1) + 1;
    char mkey[96], mval[24];
    int mklen = marker_key(e, slot->no, mkey, sizeof mkey);
    int mvlen = snprintf(mval, sizeof mval, "%" PRIu64, seq);

    int rc = ORBIT_ENOMEM;
    size_t ncmpall = ncmp + 1, nsucc = nops + 1;
    Etcdserverpb__Compare *cmpv = calloc(ncmpall, sizeof *cmpv);
    Etcdserverpb__Compare **cmpp = calloc(ncmpall, sizeof *cmpp);
    Etcdserverpb__RequestOp *succ = calloc(nsucc, sizeof *succ);
    Etcdserverpb__RequestOp **succp = calloc(nsucc, sizeof *succp);
    Etcdserverpb__PutRequest *puts = calloc(nsucc, sizeof *puts);
    Etcdserverpb__DeleteRangeRequest *dels = calloc(nsucc, sizeof *dels);
    uint8_t **keys = calloc(ncmpall + nsucc, sizeof *keys);
    if (!cmpv || !cmpp || !succ || !succp || !puts || !dels || !keys)
        goto out;

    size_t nk = 0;
    /* Namespaced copies of every key; freed below once packed. */
#define NSKEY(dst, k, kl)                                                                    \
    do {                                                                                     \
        uint8_t *_p = malloc(e->nslen + (kl) + 1);                                           \
        if (!_p)                                                                             \
            goto out;                                                                        \
        if (e->nslen)                                                                        \
            memcpy(_p, e->ns, e->nslen);                                                     \
        memcpy(_p + e->nslen, (k), (kl));                                                    \
        keys[nk++] = _p;                                                                     \
        (dst).data = _p;                                                                     \
        (dst).len = e->nslen + (kl);                                                         \
    } while (0)

    etcdserverpb__compare__init(&cmpv[0]);
    cmpv[0].result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
    cmpv[0].target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
    cmpv[0].key.data = (uint8_t *)mkey;
    cmpv[0].key.len = (size_t)mklen;
    cmpv[0].target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
    cmpv[0].mod_revision = slot->mrev;
    cmpp[0] = &cmpv[0];
    for (size_t i = 0; i < ncmp; i++) {
        Etcdserverpb__Compare *c = &cmpv[i + 1];
        etcdserverpb__compare__init(c);
        c->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
        c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
        NSKEY(c->key, cmps[i].key, cmps[i].klen);
        c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
        c->mod_revision = cmps[i].mod;
        cmpp[i + 1] = c;
    }
    for (size_t i = 0; i < nsucc; i++) {
        Etcdserverpb__RequestOp *op = &succ[i];
        etcdserverpb__request_op__init(op);
        succp[i] = op;
        if (i == nops) {
            etcdserverpb__put_request__init(&puts[i]);
            puts[i].key.data = (uint8_t *)mkey;
            puts[i].key.len = (size_t)mklen;
            puts[i].value.data = (uint8_t *)mval;
            puts[i].value.len = (size_t)mvlen;
            op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
            op->request_put = &puts[i];
        } else if (ops[i].del) {
            etcdserverpb__delete_range_request__init(&dels[i]);
            NSKEY(dels[i].key, ops[i].key, ops[i].klen);
            op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
            op->request_delete_range = &dels[i];
        } else {
            etcdserverpb__put_request__init(&puts[i]);
            NSKEY(puts[i].key, ops[i].key, ops[i].klen);
            puts[i].value.data = (uint8_t *)(ops[i].vlen ? ops[i].val : (const uint8_t *)"");
            puts[i].value.len = ops[i].vlen;
            op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
            op->request_put = &puts[i];
        }
    }
#undef NSKEY
    Etcdserverpb__RangeRequest probe = ETCDSERVERPB__RANGE_REQUEST__INIT;
    probe.key.data = (uint8_t *)mkey;
    probe.key.len = (size_t)mklen;
    Etcdserverpb__RequestOp fail = ETCDSERVERPB__REQUEST_OP__INIT;
    fail.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
    fail.request_range = &probe;
    Etcdserverpb__RequestOp *failp = &fail;

    Etcdserverpb__TxnRequest tx = ETCDSERVERPB__TXN_REQUEST__INIT;
    tx.n_compare = ncmpall;
    tx.compare = cmpp;
    tx.n_success = nsucc;
    tx.success = succp;
    tx.n_failure = 1;
    tx.failure = &failp;
    size_t sz = etcdserverpb__txn_request__get_packed_size(&tx);
    /* etcd measures the raft entry, a few bytes more than this message. */
    if (sz + 64 > e->max_request_bytes) {
        rc = orbit_error_set(ORBIT_ETOOBIG,
                             "etcd: a write request of %zu bytes exceeds max_request_bytes=%zu "
                             "(etcd --max-request-bytes, default 1.5 MiB)",
                             sz, e->max_request_bytes);
        goto out;
    }
    gw->req = malloc(sz ? sz : 1);
    if (!gw->req)
        goto out;
    gw->reqlen = etcdserverpb__txn_request__pack(&tx, gw->req);
    gw->e = e;
    gw->slot = slot;
    gw->seq = seq;
    rc = ORBIT_OK;
out:
    if (keys)
        for (size_t i = 0; i < ncmpall + nsucc && keys[i]; i++)
            free(keys[i]);
    free(keys);
    free(dels);
    free(puts);
    free(succp);
    free(succ);
    free(cmpp);
    free(cmpv);
    if (rc) {
        free(gw->req);
        gw->req = NULL;
        slot_put(e, slot);
    }
    return rc;
}

int orbit__etcd_gw_finish(etcd_gw *gw, int rc, const char *detail, const uint8_t *resp, size_t len)
{
    etcd *e = gw->e;
    etcd_slot *slot = gw->slot;
    free(gw->req);
    gw->req = NULL;
    if (rc) {
        /* Some attempt may still land: the slot's marker revision is no
         * longer known, so the slot is retired rather than reused. */
        free(slot);
        /* The blocking path passes the thread's own detail buffer back in. */
        if (detail != orbit_last_error_detail())
            orbit_error_set(rc, "%s", detail);
        return rc;
    }
    Etcdserverpb__TxnResponse *tr = etcdserverpb__txn_response__unpack(NULL, len, resp);
    if (!tr) {
        free(slot);
        return decode_error("Txn");
    }
    char mval[24];
    int mvlen = snprintf(mval, sizeof mval, "%" PRIu64, gw->seq);
    if (tr->succeeded) {
        slot->mrev = tr->header ? tr->header->revision : 0;
        rc = slot->mrev > 0 ? ORBIT_OK : decode_error("Txn (no revision)");
    } else {
        Mvccpb__KeyValue *m = NULL;
        if (tr->n_responses == 1 &&
            tr->responses[0]->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE &&
            tr->responses[0]->response_range->n_kvs == 1)
            m = tr->responses[0]->response_range->kvs[0];
        int64_t cur = m ? m->mod_revision : 0;
        if (m && m->value.len == (size_t)mvlen && memcmp(m->value.data, mval, (size_t)mvlen) == 0) {
            /* An earlier attempt of this very write committed. */
            slot->mrev = cur;
            rc = ORBIT_OK;
        } else if (cur == slot->mrev) {
            rc = orbit_error_set(ORBIT_ECONFLICT,
                                 "etcd: a key this transaction read or writes was changed by "
                                 "another writer (compare failed at revision %" PRId64 ")",
                                 tr->header ? tr->header->revision : 0);
        } else {
            rc = orbit_error_set(ORBIT_EPROTO, "etcd: commit marker slot %" PRIu64
                                 " changed unexpectedly (revision %" PRId64 ", expected %" PRId64 ")",
                                 slot->no, cur, slot->mrev);
        }
    }
    etcdserverpb__txn_response__free_unpacked(tr, NULL);
    if (rc == ORBIT_OK || rc == ORBIT_ECONFLICT)
        slot_put(e, slot);
    else
        free(slot);
    return rc;
}

int orbit__etcd_gw_run(etcd *e, const etcd_cmp *cmps, size_t ncmp, const etcd_wop *ops, size_t nops)
{
    etcd_gw gw;
    int rc = orbit__etcd_gw_build(e, cmps, ncmp, ops, nops, &gw);
    if (rc)
        return rc;
    orbit__rpc_call_opts o;
    orbit__etcd_call_opts(e, 1, &o);
    orbit_buf resp = ORBIT_BUF_INIT;
    rc = orbit__rpc_call(e->rpc, ETCD_M_TXN, gw.req, gw.reqlen, &o, &resp);
    rc = orbit__etcd_gw_finish(&gw, rc, rc ? orbit_last_error_detail() : "", resp.data, resp.len);
    orbit_buf_release(&resp);
    return rc;
}

/* ---- reads -------------------------------------------------------------- */

static int pack_range(const etcd *e, const uint8_t *key, size_t klen, int64_t rev, int serializable,
                      int count_only, uint8_t **out, size_t *outlen)
{
    Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
    rq.key.data = (uint8_t *)key;
    rq.key.len = klen;
    rq.revision = rev;
    rq.serializable = serializable;
    rq.count_only = count_only;
    size_t sz = etcdserverpb__range_request__get_packed_size(&rq);
    if (sz > e->max_request_bytes)
        return orbit_error_set(ORBIT_ETOOBIG, "etcd: a key of %zu bytes exceeds max_request_bytes=%zu",
                               klen, e->max_request_bytes);
    *out = malloc(sz ? sz : 1);
    if (!*out)
        return ORBIT_ENOMEM;
    *outlen = etcdserverpb__range_request__pack(&rq, *out);
    return ORBIT_OK;
}

/* Decode a single-key Range answer and deliver it. */
static int deliver_range(const uint8_t *resp, size_t len, orbit_value_fn fn, void *arg, int64_t *mod,
                         int64_t *hdr_rev)
{
    Etcdserverpb__RangeResponse *rr = etcdserverpb__range_response__unpack(NULL, len, resp);
    if (!rr)
        return decode_error("Range");
    int rc = ORBIT_NOTFOUND;
    if (mod)
        *mod = 0;
    if (hdr_rev)
        *hdr_rev = rr->header ? rr->header->revision : 0;
    if (rr->n_kvs > 0) {
        Mvccpb__KeyValue *kv = rr->kvs[0];
        if (mod)
            *mod = kv->mod_revision;
        rc = fn ? fn(arg, kv->value.len ? kv->value.data : (const uint8_t *)"", kv->value.len) : ORBIT_OK;
    }
    etcdserverpb__range_response__free_unpacked(rr, NULL);
    return rc;
}

int orbit__etcd_read(etcd *e, int64_t rev, int serializable, const uint8_t *k, size_t kl,
                     orbit_value_fn fn, void *arg, int64_t *mod, int64_t *hdr_rev)
{
    orbit_buf key = ORBIT_BUF_INIT, resp = ORBIT_BUF_INIT;
    uint8_t *req = NULL;
    size_t reqlen = 0;
    int rc = orbit__etcd_key(e, k, kl, &key);
    if (!rc)
        rc = pack_range(e, key.data, key.len, rev, serializable, 0, &req, &reqlen);
    if (!rc) {
        orbit__rpc_call_opts o;
        orbit__etcd_call_opts(e, 1, &o);
        rc = orbit__rpc_call(e->rpc, ETCD_M_RANGE, req, reqlen, &o, &resp);
    }
    if (!rc)
        rc = deliver_range(resp.data, resp.len, fn, arg, mod, hdr_rev);
    free(req);
    orbit_buf_release(&key);
    orbit_buf_release(&resp);
    return rc;
}

int orbit__etcd_revision(etcd *e, int64_t *rev)
{
    char probe[64];
    int n = snprintf(probe, sizeof probe, "%s%s", ETCD_MARKER_ROOT, e->client_id);
    uint8_t *req = NULL;
    size_t reqlen = 0;
    orbit_buf resp = ORBIT_BUF_INIT;
    int rc = pack_range(e, (const uint8_t *)probe, (size_t)n, 0, 0, 1, &req, &reqlen);
    if (!rc) {
        orbit__rpc_call_opts o;
        orbit__etcd_call_opts(e, 1, &o);
        rc = orbit__rpc_call(e->rpc, ETCD_M_RANGE, req, reqlen, &o, &resp);
    }
    if (!rc) {
        rc = deliver_range(resp.data, resp.len, NULL, NULL, NULL, rev);
        if (rc == ORBIT_NOTFOUND || rc == ORBIT_OK)
            rc = *rev > 0 ? ORBIT_OK : decode_error("Range (no revision)");
    }
    free(req);
    orbit_buf_release(&resp);
    return rc;
}

/* ---- the table: open, close, point operations --------------------------- */

static void etcd_close(void *self);

static int etcd_open(orbit_uri *u, void **self)
{
    const char *body = orbit_uri_body(u);
    if (!body || !*body)
        return orbit_error_set(ORBIT_EBADURI, "etcd: the URI names no endpoint (etcd://HOST:PORT[,...])");
    uint64_t timeout, attempt, max_ops, max_req, keepalive, page;
    int rc = orbit_uri_param_u64(u, "timeout_ms", DEFAULT_TIMEOUT_MS, &timeout);
    if (!rc)
        rc = orbit_uri_param_u64(u, "attempt_ms", 0, &attempt);
    if (!rc)
        rc = orbit_uri_param_u64(u, "max_txn_ops", DEFAULT_MAX_TXN_OPS, &max_ops);
    if (!rc)
        rc = orbit_uri_param_u64(u, "max_request_bytes", DEFAULT_MAX_REQUEST_BYTES, &max_req);
    if (!rc)
        rc = orbit_uri_param_u64(u, "keepalive_ms", 10000, &keepalive);
    if (!rc)
        rc = orbit_uri_param_u64(u, "page_size", DEFAULT_PAGE, &page);
    if (rc)
        return rc;
    const char *read = orbit_uri_param(u, "read");
    const char *ns = orbit_uri_param(u, "namespace");
    const char *ca = orbit_uri_param(u, "ca_file");
    const char *writes = orbit_uri_param(u, "writes");
    if ((rc = orbit_uri_check_unused(u)) != 0)
        return rc;
    int serializable = 0;
    if (read && strcmp(read, "serializable") == 0)
        serializable = 1;
    else if (read && strcmp(read, "linearizable") != 0)
        return orbit_error_set(ORBIT_EINVAL, "etcd: read=%s: expected linearizable or serializable", read);
    int plain_writes = 0;
    if (writes && strcmp(writes, "plain") == 0)
        plain_writes = 1;
    else if (writes && strcmp(writes, "guarded") != 0)
        return orbit_error_set(ORBIT_EINVAL, "etcd: writes=%s: expected guarded or plain", writes);
    if (timeout == 0 || timeout > 3600000 || attempt > 3600000)
        return orbit_error_set(ORBIT_EINVAL, "etcd: timeout_ms / attempt_ms out of range");
    if (max_ops < 2)
        return orbit_error_set(ORBIT_EINVAL, "etcd: max_txn_ops must be at least 2 (one op plus the commit marker)");
    if (max_req < 1024)
        return orbit_error_set(ORBIT_EINVAL, "etcd: max_request_bytes must be at least 1024");
    if (page == 0 || page > 100000)
        return orbit_error_set(ORBIT_EINVAL, "etcd: page_size must be 1..100000");
    if (ns && (uint8_t)ns[0] == 0xff)
        return orbit_error_set(ORBIT_EINVAL, "etcd: a namespace may not start with byte FF (reserved)");

    etcd *e = calloc(1, sizeof *e);
    if (!e)
        return ORBIT_ENOMEM;
    pthread_mutex_init(&e->slot_lock, NULL);
    e->timeout_ms = (uint32_t)timeout;
    /* An attempt stuck behind a dead leader is abandoned after a third of
     * the budget (at least a second) so the retry can reach a new leader. */
    e->attempt_ms = attempt ? (uint32_t)attempt : (uint32_t)(timeout / 3 > 1000 ? timeout / 3 : 1000);
    e->max_txn_ops = (size_t)max_ops;
    e->max_request_bytes = (size_t)max_req;
    e->page = (size_t)page;
    e->serializable = serializable;
    e->plain_writes = plain_writes;
    if (ns && *ns) {
        e->nslen = strlen(ns);
        e->ns = malloc(e->nslen);
        if (!e->ns) {
            etcd_close(e);
            return ORBIT_ENOMEM;
        }
        memcpy(e->ns, ns, e->nslen);
    }
    uint8_t rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        uint64_t a = orbit__mono_ns() ^ ((uint64_t)getpid() << 32), b = orbit__now_ms() ^ (uint64_t)(uintptr_t)e;
        memcpy(rnd, &a, 8);
        memcpy(rnd + 8, &b, 8);
    }
    for (int i = 0; i < 16; i++)
        snprintf(e->client_id + 2 * i, 3, "%02x", rnd[i]);

    orbit__rpc_config cfg = {body, ca, (uint32_t)keepalive, 5000};
    rc = orbit__rpc_open(&cfg, &e->rpc);
    if (rc) {
        etcd_close(e);
        return rc;
    }
    /* Fail at open, not at the first operation, when no member answers. */
    int64_t rev;
    rc = orbit__etcd_revision(e, &rev);
    if (rc) {
        char d[512];
        snprintf(d, sizeof d, "%s", orbit_last_error_detail());
        etcd_close(e);
        return orbit_error_set(rc, "etcd: no answer from %s: %s", body, d);
    }
    *self = e;
    return ORBIT_OK;
}

static void etcd_close(void *self)
{
    etcd *e = self;
    if (e->rpc) {
        /* Remove this client's commit markers (best effort: a store that
         * cannot be reached keeps them, one per past concurrent writer). */
        char lo[64];
        int n = snprintf(lo, sizeof lo, "%s%s/", ETCD_MARKER_ROOT, e->client_id);
        char hi[64];
        memcpy(hi, lo, (size_t)n);
        hi[n - 1] = '/' + 1;
        Etcdserverpb__DeleteRangeRequest dr = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
        dr.key.data = (uint8_t *)lo;
        dr.key.len = (size_t)n;
        dr.range_end.data = (uint8_t *)hi;
        dr.range_end.len = (size_t)n;
        uint8_t buf[256];
        size_t len = etcdserverpb__delete_range_request__pack(&dr, buf);
        orbit__rpc_call_opts o = {e->timeout_ms < 2000 ? e->timeout_ms : 2000, 0, 1, -1};
        orbit_buf resp = ORBIT_BUF_INIT;
        (void)orbit__rpc_call(e->rpc, ETCD_M_DELETE, buf, len, &o, &resp);
        orbit_buf_release(&resp);
        orbit__rpc_close(e->rpc);
    }
    while (e->free_slots) {
        etcd_slot *s = e->free_slots;
        e->free_slots = s->next;
        free(s);
    }
    pthread_mutex_destroy(&e->slot_lock);
    free(e->ns);
    free(e);
}

static void etcd_capabilities(void *self, orbit_capabilities *out)
{
    etcd *e = self;
    memset(out, 0, sizeof *out);
    out->type = ORBIT_PROVIDER_DISTRIBUTED;
    out->name = "etcd";
    out->durable = 1;
    out->supports_transactions = 1;
    out->supports_distributed_transactions = 1;
    out->supports_multi_region = 0;
    out->supports_snapshots = 1;
    out->native_async = 1;
    out->isolation_levels = ORBIT_ISO_BIT(ORBIT_ISO_SNAPSHOT) | ORBIT_ISO_BIT(ORBIT_ISO_READ_COMMITTED);
    out->max_batch_ops = e->max_txn_ops - 1; /* one op is the commit marker */
    out->max_key_size = 0;
    /* Room for the key, the marker and the Txn framing. */
    out->max_value_size = e->max_request_bytes > 8192 ? e->max_request_bytes - 8192 : e->max_request_bytes / 2;
}

static int etcd_get(void *self, void *snap, const uint8_t *k, size_t kl, orbit_value_fn fn, void *arg)
{
    etcd *e = self;
    int64_t rev = snap ? *(int64_t *)snap : 0;
    return orbit__etcd_read(e, rev, e->serializable, k, kl, fn, arg, NULL, NULL);
}

/* writes=plain: etcd's own Put or DeleteRange for one key. Resending it
 * after an ambiguous failure writes the same value (or deletes the same key)
 * again, which leaves the same state unless another client wrote the key in
 * between: then the resent write may land after that other write. */
static int pack_plain(etcd *e, const etcd_wop *op, uint8_t **req, size_t *len, const char **method)
{
    orbit_buf key = ORBIT_BUF_INIT;
    int rc = orbit__etcd_key(e, op->key, op->klen, &key);
    if (rc)
        return rc;
    size_t sz;
    Etcdserverpb__PutRequest pr = ETCDSERVERPB__PUT_REQUEST__INIT;
    Etcdserverpb__DeleteRangeRequest dr = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    if (op->del) {
        dr.key.data = key.data;
        dr.key.len = key.len;
        sz = etcdserverpb__delete_range_request__get_packed_size(&dr);
        *method = ETCD_M_DELETE;
    } else {
        pr.key.data = key.data;
        pr.key.len = key.len;
        pr.value.data = (uint8_t *)(op->vlen ? op->val : (const uint8_t *)"");
        pr.value.len = op->vlen;
        sz = etcdserverpb__put_request__get_packed_size(&pr);
        *method = ETCD_M_PUT;
    }
    if (sz + 64 > e->max_request_bytes) {
        orbit_buf_release(&key);
        return orbit_error_set(ORBIT_ETOOBIG,
                               "etcd: a write request of %zu bytes exceeds max_request_bytes=%zu "
                               "(etcd --max-request-bytes, default 1.5 MiB)",
                               sz, e->max_request_bytes);
    }
    *req = malloc(sz ? sz : 1);
    if (!*req) {
        orbit_buf_release(&key);
        return ORBIT_ENOMEM;
    }
    *len = op->del ? etcdserverpb__delete_range_request__pack(&dr, *req)
                   : etcdserverpb__put_request__pack(&pr, *req);
    orbit_buf_release(&key);
    return ORBIT_OK;
}

static int write_one(etcd *e, const etcd_wop *op)
{
    if (!e->plain_writes)
        return orbit__etcd_gw_run(e, NULL, 0, op, 1);
    uint8_t *req = NULL;
    size_t len = 0;
    const char *method = NULL;
    int rc = pack_plain(e, op, &req, &len, &method);
    if (rc)
        return rc;
    orbit__rpc_call_opts o;
    orbit__etcd_call_opts(e, 1, &o);
    orbit_buf resp = ORBIT_BUF_INIT;
    rc = orbit__rpc_call(e->rpc, method, req, len, &o, &resp);
    orbit_buf_release(&resp);
    free(req);
    return rc;
}

static int etcd_put(void *self, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    etcd_wop op = {0, k, kl, v, vl};
    return write_one(self, &op);
}

static int etcd_del(void *self, const uint8_t *k, size_t kl)
{
    etcd_wop op = {1, k, kl, NULL, 0};
    return write_one(self, &op);
}

static int wop_cmp(const void *a, const void *b)
{
    const etcd_wop *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);
    if (c)
        return c;
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    return 0;
}

typedef struct seq_wop {
    etcd_wop op;
    size_t idx;
} seq_wop;

static int seq_wop_cmp(const void *a, const void *b)
{
    const seq_wop *x = a, *y = b;
    int c = wop_cmp(&x->op, &y->op);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int etcd_write(void *self, const orbit_batch *b)
{
    etcd *e = self;
    size_t n = orbit_batch_count(b);
    seq_wop *sv = calloc(n ? n : 1, sizeof *sv);
    etcd_wop *ops = calloc(n ? n : 1, sizeof *ops);
    if (!sv || !ops) {
        free(sv);
        free(ops);
        return ORBIT_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        orbit_batch_entry be;
        orbit_batch_entry_at(b, i, &be);
        sv[i].op = (etcd_wop){be.type == ORBIT_OP_DEL, be.key, be.klen, be.val, be.vlen};
        sv[i].idx = i;
    }
    /* etcd refuses a Txn that touches one key twice: keep the last. */
    qsort(sv, n, sizeof *sv, seq_wop_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && wop_cmp(&sv[i].op, &sv[i + 1].op) == 0)
            continue;
        ops[m++] = sv[i].op;
    }
    int rc = orbit__etcd_gw_run(e, NULL, 0, ops, m);
    free(sv);
    free(ops);
    return rc;
}

/* ---- the native asynchronous path -------------------------------------- */

typedef struct sub sub;
typedef struct sub_item {
    sub *s;
    size_t i;
    int plain; /* a plain write: no commit marker to interpret */
    etcd_gw gw;
} sub_item;

struct sub {
    etcd *e;
    orbit_kv_op *ops;
    size_t n;
    orbit_kv_done_fn done;
    void *arg;
    atomic_size_t pending;
    sub_item items[];
};

static void sub_release(sub *s)
{
    if (atomic_fetch_sub(&s->pending, 1) == 1) {
        s->done(s->arg, s->ops, s->n);
        free(s);
    }
}

static int copy_out(void *arg, const uint8_t *v, size_t vl)
{
    return orbit_buf_set(arg, v, vl);
}

static void sub_done(void *arg, int rc, const char *detail, const uint8_t *resp, size_t len)
{
    sub_item *it = arg;
    orbit_kv_op *op = &it->s->ops[it->i];
    if (op->type == ORBIT_OP_GET) {
        if (rc == ORBIT_OK) {
            orbit_buf_reset(op->out);
            rc = deliver_range(resp, len, copy_out, op->out, NULL, NULL);
        } else {
            orbit_error_set(rc, "%s", detail);
        }
    } else if (it->plain) {
        if (rc)
            orbit_error_set(rc, "%s", detail);
    } else {
        rc = orbit__etcd_gw_finish(&it->gw, rc, detail, resp, len);
    }
    op->result = rc;
    sub_release(it->s);
}

static int etcd_submit(void *self, orbit_kv_op *ops, size_t n, orbit_kv_done_fn done, void *arg)
{
    etcd *e = self;
    sub *s = calloc(1, sizeof *s + n * sizeof(sub_item));
    if (!s)
        return ORBIT_ENOMEM;
    s->e = e;
    s->ops = ops;
    s->n = n;
    s->done = done;
    s->arg = arg;
    /* One extra reference held while starting, so done cannot run before
     * every op has been started (or failed to start). */
    atomic_init(&s->pending, n + 1);
    orbit__rpc_call_opts o;
    orbit_buf key = ORBIT_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        orbit_kv_op *op = &ops[i];
        sub_item *it = &s->items[i];
        it->s = s;
        it->i = i;
        int rc;
        if (op->type == ORBIT_OP_GET) {
            uint8_t *req = NULL;
            size_t reqlen = 0;
            rc = orbit__etcd_key(e, op->key, op->klen, &key);
            if (!rc)
                rc = pack_range(e, key.data, key.len, 0, e->serializable, 0, &req, &reqlen);
            if (!rc) {
                orbit__etcd_call_opts(e, 1, &o);
                rc = orbit__rpc_start(e->rpc, ETCD_M_RANGE, req, reqlen, &o, sub_done, it);
            }
            free(req);
        } else if (e->plain_writes) {
            etcd_wop w = {op->type == ORBIT_OP_DEL, op->key, op->klen, op->val, op->vlen};
            uint8_t *req = NULL;
            size_t reqlen = 0;
            const char *method = NULL;
            it->plain = 1;
            rc = pack_plain(e, &w, &req, &reqlen, &method);
            if (!rc) {
                orbit__etcd_call_opts(e, 1, &o);
                rc = orbit__rpc_start(e->rpc, method, req, reqlen, &o, sub_done, it);
            }
            free(req);
        } else {
            etcd_wop w = {op->type == ORBIT_OP_DEL, op->key, op->klen, op->val, op->vlen};
            rc = orbit__etcd_gw_build(e, NULL, 0, &w, 1, &it->gw);
            if (!rc) {
                orbit__etcd_call_opts(e, 1, &o);
                rc = orbit__rpc_start(e->rpc, ETCD_M_TXN, it->gw.req, it->gw.reqlen, &o, sub_done, it);
                if (rc)
                    rc = orbit__etcd_gw_finish(&it->gw, rc, orbit_last_error_detail(), NULL, 0);
            }
        }
        if (rc) {
            op->result = rc;
            sub_release(s);
        }
    }
    orbit_buf_release(&key);
    sub_release(s);
    return ORBIT_OK;
}

const orbit_provider orbit__provider_etcd = {
    .version = ORBIT_PROVIDER_VERSION,
    .name = "etcd",
    .open = etcd_open,
    .close = etcd_close,
    .capabilities = etcd_capabilities,
    .get = etcd_get,
    .put = etcd_put,
    .del = etcd_del,
    .write = etcd_write,
    .iter_open = orbit__etcd_iter_open,
    .iter_next = orbit__etcd_iter_next,
    .iter_close = orbit__etcd_iter_close,
    .snapshot_open = orbit__etcd_snapshot_open,
    .snapshot_release = orbit__etcd_snapshot_release,
    .txn_begin = orbit__etcd_txn_begin,
    .txn_get = orbit__etcd_txn_get,
    .txn_put = orbit__etcd_txn_put,
    .txn_del = orbit__etcd_txn_del,
    .txn_iter_open = orbit__etcd_txn_iter_open,
    .txn_commit = orbit__etcd_txn_commit,
    .txn_rollback = orbit__etcd_txn_rollback,
    .submit = etcd_submit,
};
