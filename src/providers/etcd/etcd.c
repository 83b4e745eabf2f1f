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
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "providers/etcd/etcd_int.h"

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_MAX_TXN_OPS 128
#define DEFAULT_MAX_REQUEST_BYTES (1536u * 1024u) /* etcd's --max-request-bytes */
#define DEFAULT_PAGE 512
#define DEFAULT_GROUP_INFLIGHT 4
#define DEFAULT_RETENTION_MS 300000 /* keep 5 minutes of history */
#define DEFAULT_CONNECT_TIMEOUT_MS 1500

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

static int alive_key(const etcd *e, char *out, size_t cap)
{
    return snprintf(out, cap, "%s%s/alive", ETCD_MARKER_ROOT, e->client_id);
}

/* A range delete's bounds, clamped to what a user may touch: with no
 * namespace the marker root FF FF FF ends every range. 0: *op is the
 * clamped range; 1: the range is empty or wholly reserved (nothing to do). */
static int clamp_range(const etcd *e, etcd_wop *op)
{
    static const uint8_t root[] = {0xff, 0xff, 0xff};
    if (e->nslen == 0) {
        if (orbit__key_cmp(op->key, op->klen, root, sizeof root) >= 0)
            return 1;
        if (op->vlen == 0 || orbit__key_cmp(op->val, op->vlen, root, sizeof root) > 0) {
            op->val = root;
            op->vlen = sizeof root;
        }
    }
    if (op->vlen && orbit__key_cmp(op->key, op->klen, op->val, op->vlen) >= 0)
        return 1;
    return 0;
}

/* An extra compare a compare-and-set adds: the key's value equals expected,
 * or (expected NULL) the key is absent. The failure branch reads the key. */
typedef struct gw_xcmp {
    const uint8_t *key;
    size_t klen;
    const orbit_slice *expected;
} gw_xcmp;

static int gw_build_ex(etcd *e, const etcd_cmp *cmps, size_t ncmp, const gw_xcmp *x, const etcd_wop *ops,
                       size_t nops, etcd_gw *gw)
{
    memset(gw, 0, sizeof *gw);
    if (nops + 1 > e->max_txn_ops)
        return orbit_error_set(ORBIT_ETOOBIG,
                               "etcd: a write of %zu operations plus its commit marker exceeds "
                               "max_txn_ops=%zu (etcd --max-txn-ops; if the server was raised, "
                               "set max_txn_ops=N in the store URI)",
                               nops, e->max_txn_ops);
    if (ncmp + 2 + (x != NULL) > e->max_txn_ops)
        return orbit_error_set(ORBIT_ETOOBIG,
                               "etcd: a commit checking %zu keys plus its commit marker exceeds "
                               "max_txn_ops=%zu (etcd --max-txn-ops)",
                               ncmp, e->max_txn_ops);
    for (size_t i = 0; i < nops; i++) {
        int krc = orbit__etcd_check_key(e, ops[i].key, ops[i].klen);
        if (krc)
            return krc;
    }
    if (x && x->klen == 0)
        return orbit_error_set(ORBIT_EINVAL, "etcd: compare-and-set of an empty key");
    if (x && orbit__etcd_check_key(e, x->key, x->klen))
        return ORBIT_EINVAL;
    etcd_slot *slot = slot_get(e);
    if (!slot)
        return ORBIT_ENOMEM;
    uint64_t seq = atomic_fetch_add(&e->seq, 1) + 1;
    char mkey[96], mval[24], akey[96];
    int mklen = marker_key(e, slot->no, mkey, sizeof mkey);
    int mvlen = snprintf(mval, sizeof mval, "%" PRIu64, seq);
    int aklen = alive_key(e, akey, sizeof akey);

    int rc = ORBIT_ENOMEM;
    /* compares: the marker, this client's alive key, [x], then cmps */
    size_t nfixed = 2 + (x != NULL);
    size_t ncmpall = ncmp + nfixed, nsucc = nops + 1;
    Etcdserverpb__Compare *cmpv = calloc(ncmpall, sizeof *cmpv);
    Etcdserverpb__Compare **cmpp = calloc(ncmpall, sizeof *cmpp);
    Etcdserverpb__RequestOp *succ = calloc(nsucc, sizeof *succ);
    Etcdserverpb__RequestOp **succp = calloc(nsucc, sizeof *succp);
    Etcdserverpb__PutRequest *puts = calloc(nsucc, sizeof *puts);
    Etcdserverpb__DeleteRangeRequest *dels = calloc(nsucc, sizeof *dels);
    size_t nkeys = ncmpall + 2 * nsucc + 1;
    uint8_t **keys = calloc(nkeys, sizeof *keys);
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
        if (kl)                                                                              \
            memcpy(_p + e->nslen, (k), (kl));                                                \
        keys[nk++] = _p;                                                                     \
        (dst).data = _p;                                                                     \
        (dst).len = e->nslen + (kl);                                                         \
    } while (0)

    for (size_t i = 0; i < ncmpall; i++) {
        etcdserverpb__compare__init(&cmpv[i]);
        cmpv[i].result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
        cmpp[i] = &cmpv[i];
    }
    cmpv[0].target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
    cmpv[0].key.data = (uint8_t *)mkey;
    cmpv[0].key.len = (size_t)mklen;
    cmpv[0].target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
    cmpv[0].mod_revision = slot->mrev;
    /* Every guarded write also requires this open store's alive key: once
     * close deleted it, no delayed attempt can apply (not even one that
     * compared a fresh slot's marker as absent). */
    cmpv[1].target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
    cmpv[1].key.data = (uint8_t *)akey;
    cmpv[1].key.len = (size_t)aklen;
    cmpv[1].target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
    cmpv[1].create_revision = e->alive_rev;
    if (x) {
        Etcdserverpb__Compare *c = &cmpv[2];
        NSKEY(c->key, x->key, x->klen);
        if (x->expected) {
            c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE;
            c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
            c->value.data = (uint8_t *)(x->expected->len ? x->expected->data : (const uint8_t *)"");
            c->value.len = x->expected->len;
        } else {
            c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
            c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
            c->create_revision = 0;
        }
    }
    for (size_t i = 0; i < ncmp; i++) {
        Etcdserverpb__Compare *c = &cmpv[i + nfixed];
        c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
        NSKEY(c->key, cmps[i].key, cmps[i].klen);
        c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
        c->mod_revision = cmps[i].mod;
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
            if (ops[i].del == 2) {
                if (ops[i].vlen) {
                    NSKEY(dels[i].range_end, ops[i].val, ops[i].vlen);
                } else {
                    /* open end inside a namespace: the namespace's end */
                    uint8_t *_p = malloc(e->nslen + 1);
                    if (!_p)
                        goto out;
                    keys[nk++] = _p;
                    dels[i].range_end.data = _p;
                    dels[i].range_end.len = orbit__prefix_successor(e->ns, e->nslen, _p);
                    if (dels[i].range_end.len == 0) {
                        _p[0] = 0; /* etcd: "\0" means every key from key on */
                        dels[i].range_end.len = 1;
                    }
                }
            }
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
    /* The failure branch reads the marker (did an earlier attempt commit?),
     * the alive key, and a compare-and-set's key (its current value). */
    Etcdserverpb__RangeRequest probes[3];
    Etcdserverpb__RequestOp fail[3];
    Etcdserverpb__RequestOp *failp[3];
    size_t nfail = 2 + (x != NULL);
    for (size_t i = 0; i < nfail; i++) {
        etcdserverpb__range_request__init(&probes[i]);
        etcdserverpb__request_op__init(&fail[i]);
        fail[i].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
        fail[i].request_range = &probes[i];
        failp[i] = &fail[i];
    }
    probes[0].key.data = (uint8_t *)mkey;
    probes[0].key.len = (size_t)mklen;
    probes[1].key.data = (uint8_t *)akey;
    probes[1].key.len = (size_t)aklen;
    if (x)
        probes[2].key = cmpv[2].key;
#undef NSKEY

    Etcdserverpb__TxnRequest tx = ETCDSERVERPB__TXN_REQUEST__INIT;
    tx.n_compare = ncmpall;
    tx.compare = cmpp;
    tx.n_success = nsucc;
    tx.success = succp;
    tx.n_failure = nfail;
    tx.failure = failp;
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
        for (size_t i = 0; i < nkeys && keys[i]; i++)
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

int orbit__etcd_gw_build(etcd *e, const etcd_cmp *cmps, size_t ncmp, const etcd_wop *ops, size_t nops,
                         etcd_gw *gw)
{
    return gw_build_ex(e, cmps, ncmp, NULL, ops, nops, gw);
}

/* What a guarded Txn's answer says. */
typedef struct gw_out {
    int64_t rev;        /* the commit revision when applied */
    int cmp_failed;     /* the caller's compares failed: nothing applied */
    int cas_found;      /* compare-and-set: the key exists (failure only) */
    orbit_buf *cas_cur; /* compare-and-set: receives its value, if set */
} gw_out;

static int marker_is(const Mvccpb__KeyValue *m, const char *prefix, uint64_t seq)
{
    char v[32];
    int n = snprintf(v, sizeof v, "%s%" PRIu64, prefix, seq);
    return m && m->value.len == (size_t)n && memcmp(m->value.data, v, (size_t)n) == 0;
}

static Mvccpb__KeyValue *first_kv(const Etcdserverpb__TxnResponse *tr, size_t i)
{
    if (tr->n_responses <= i ||
        tr->responses[i]->response_case != ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE ||
        tr->responses[i]->response_range->n_kvs != 1)
        return NULL;
    return tr->responses[i]->response_range->kvs[0];
}

/* Interpret a transport outcome. The slot is not touched here. */
static int gw_interpret(etcd_gw *gw, int rc, const char *detail, const uint8_t *resp, size_t len, gw_out *o)
{
    etcd *e = gw->e;
    etcd_slot *slot = gw->slot;
    if (rc) {
        if (rc == ORBIT_ENOSPACE)
            return orbit_error_set(rc, "etcd: the cluster is out of space (NOSPACE alarm: the backend "
                                       "reached --quota-backend-bytes); compact, defragment and disarm "
                                       "the alarm: %s", detail);
        /* The blocking path passes the thread's own detail buffer back in. */
        if (detail != orbit_last_error_detail())
            orbit_error_set(rc, "%s", detail);
        return rc;
    }
    Etcdserverpb__TxnResponse *tr = etcdserverpb__txn_response__unpack(NULL, len, resp);
    if (!tr)
        return decode_error("Txn");
    if (tr->succeeded) {
        o->rev = tr->header ? tr->header->revision : 0;
        slot->mrev = o->rev;
        rc = o->rev > 0 ? ORBIT_OK : decode_error("Txn (no revision)");
    } else {
        Mvccpb__KeyValue *m = first_kv(tr, 0);
        Mvccpb__KeyValue *a = first_kv(tr, 1);
        int64_t cur = m ? m->mod_revision : 0;
        if (marker_is(m, "", gw->seq)) {
            /* An earlier attempt of this very write committed. */
            slot->mrev = cur;
            o->rev = cur;
            rc = ORBIT_OK;
        } else if (!a || a->create_revision != e->alive_rev) {
            rc = orbit_error_set(ORBIT_EPROTO, "etcd: this client's alive key %s%s/alive is gone "
                                 "(deleted from outside?); reopen the store",
                                 "\\xff\\xff\\xff", e->client_id);
        } else if (cur == slot->mrev) {
            o->cmp_failed = 1;
            Mvccpb__KeyValue *c = first_kv(tr, 2);
            o->cas_found = c != NULL;
            if (o->cas_cur) {
                orbit_buf_reset(o->cas_cur);
                if (c && orbit_buf_set(o->cas_cur, c->value.data, c->value.len))
                    rc = ORBIT_ENOMEM;
            }
            if (!rc)
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
    return rc;
}

/* Give the slot back or retire it. A slot goes back only when no attempt of
 * its write can still apply: the write committed (its marker moved past
 * every earlier compare), or it was refused and its marker compare burnt
 * (gw_burn), or the transport proved that nothing was sent or applied (any
 * error but EUNCERTAIN). */
static void gw_release(etcd_gw *gw, int rc)
{
    free(gw->req);
    gw->req = NULL;
    if (rc == ORBIT_OK || rc == ORBIT_ECONFLICT || (rc < 0 && rc != ORBIT_EUNCERTAIN && rc != ORBIT_EPROTO))
        slot_put(gw->e, gw->slot);
    else
        free(gw->slot);
    gw->slot = NULL;
}

/*
 * After a refusal (compare failed) of a write that was sent more than once,
 * an earlier attempt may still be on its way (stuck behind a dead leader)
 * and could apply later, when the keys it compares happen to match again
 * (a key deleted and absent once more, a value set back). Burn the marker
 * compare: one more Txn moves the marker if it is still where this write
 * expected it. Afterwards no attempt of the write can apply. Returns 0 (the
 * refusal stands), 1 (an earlier attempt did apply: *rev is its revision),
 * or EUNCERTAIN (the burn itself got no answer).
 */
static int gw_burn(etcd_gw *gw, int64_t *rev)
{
    etcd *e = gw->e;
    etcd_slot *slot = gw->slot;
    char mkey[96], mval[32];
    int mklen = marker_key(e, slot->no, mkey, sizeof mkey);
    int mvlen = snprintf(mval, sizeof mval, "b%" PRIu64, gw->seq);
    Etcdserverpb__Compare c = ETCDSERVERPB__COMPARE__INIT;
    c.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
    c.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
    c.key.data = (uint8_t *)mkey;
    c.key.len = (size_t)mklen;
    c.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
    c.mod_revision = slot->mrev;
    Etcdserverpb__Compare *cp = &c;
    Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
    put.key = c.key;
    put.value.data = (uint8_t *)mval;
    put.value.len = (size_t)mvlen;
    Etcdserverpb__RequestOp sop = ETCDSERVERPB__REQUEST_OP__INIT, fop = ETCDSERVERPB__REQUEST_OP__INIT;
    sop.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    sop.request_put = &put;
    Etcdserverpb__RangeRequest probe = ETCDSERVERPB__RANGE_REQUEST__INIT;
    probe.key = c.key;
    fop.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
    fop.request_range = &probe;
    Etcdserverpb__RequestOp *sp = &sop, *fp = &fop;
    Etcdserverpb__TxnRequest tx = ETCDSERVERPB__TXN_REQUEST__INIT;
    tx.n_compare = 1;
    tx.compare = &cp;
    tx.n_success = 1;
    tx.success = &sp;
    tx.n_failure = 1;
    tx.failure = &fp;
    uint8_t buf[512];
    size_t len = etcdserverpb__txn_request__pack(&tx, buf);
    orbit__rpc_call_opts o;
    orbit__etcd_call_opts(e, 1, &o);
    o.idempotent |= ORBIT__RPC_WRITE;
    orbit_buf resp = ORBIT_BUF_INIT;
    int rc = orbit__rpc_call(e->rpc, ETCD_M_TXN, buf, len, &o, &resp);
    if (rc) {
        orbit_buf_release(&resp);
        return orbit_error_set(ORBIT_EUNCERTAIN,
                               "etcd: the write was refused, but an earlier attempt of it may still "
                               "apply and closing that door failed: outcome unknown (%s: %s)",
                               orbit_err_name(rc), orbit_last_error_detail());
    }
    Etcdserverpb__TxnResponse *tr = etcdserverpb__txn_response__unpack(NULL, resp.len, resp.data);
    orbit_buf_release(&resp);
    if (!tr)
        return decode_error("Txn");
    if (tr->succeeded) {
        slot->mrev = tr->header ? tr->header->revision : 0;
        rc = 0;
    } else {
        Mvccpb__KeyValue *m = first_kv(tr, 0);
        if (marker_is(m, "", gw->seq)) {
            slot->mrev = m->mod_revision;
            *rev = m->mod_revision;
            rc = 1;
        } else if (marker_is(m, "b", gw->seq)) {
            slot->mrev = m->mod_revision; /* an earlier attempt of the burn */
            rc = 0;
        } else {
            rc = orbit_error_set(ORBIT_EPROTO, "etcd: commit marker slot %" PRIu64 " changed unexpectedly",
                                 slot->no);
        }
    }
    etcdserverpb__txn_response__free_unpacked(tr, NULL);
    return rc;
}

/* The blocking form: send, interpret, burn after a refusal of a resent
 * write, release. rc 0, ECONFLICT (o->cmp_failed) or an error. */
static int gw_send(etcd_gw *gw, gw_out *o)
{
    etcd *e = gw->e;
    orbit__rpc_call_opts co;
    orbit__etcd_call_opts(e, 1, &co);
    co.idempotent |= ORBIT__RPC_WRITE;
    orbit_buf resp = ORBIT_BUF_INIT;
    int rc = orbit__rpc_call(e->rpc, ETCD_M_TXN, gw->req, gw->reqlen, &co, &resp);
    unsigned attempts = orbit__rpc_attempts();
    rc = gw_interpret(gw, rc, rc ? orbit_last_error_detail() : "", resp.data, resp.len, o);
    orbit_buf_release(&resp);
    if (rc == ORBIT_ECONFLICT && (attempts > 1 || e->burn_always)) {
        char keep[256];
        snprintf(keep, sizeof keep, "%s", orbit_last_error_detail());
        int64_t rev = 0;
        int b = gw_burn(gw, &rev);
        if (b == 1) {
            o->cmp_failed = 0;
            o->rev = rev;
            rc = ORBIT_OK;
        } else if (b < 0) {
            rc = b;
        } else {
            orbit_error_set(rc, "%s", keep);
        }
    }
    gw_release(gw, rc);
    return rc;
}

int orbit__etcd_gw_finish(etcd_gw *gw, int rc, const char *detail, const uint8_t *resp, size_t len)
{
    gw_out o;
    memset(&o, 0, sizeof o);
    rc = gw_interpret(gw, rc, detail, resp, len, &o);
    gw_release(gw, rc);
    return rc;
}

int orbit__etcd_gw_send(etcd_gw *gw, int64_t *rev)
{
    gw_out o;
    memset(&o, 0, sizeof o);
    int rc = gw_send(gw, &o);
    if (rev)
        *rev = rc == ORBIT_OK ? o.rev : 0;
    return rc;
}

int orbit__etcd_gw_run_rev(etcd *e, const etcd_cmp *cmps, size_t ncmp, const etcd_wop *ops, size_t nops,
                           int64_t *rev)
{
    etcd_gw gw;
    int rc = orbit__etcd_gw_build(e, cmps, ncmp, ops, nops, &gw);
    if (rc)
        return rc;
    return orbit__etcd_gw_send(&gw, rev);
}

int orbit__etcd_gw_run(etcd *e, const etcd_cmp *cmps, size_t ncmp, const etcd_wop *ops, size_t nops)
{
    return orbit__etcd_gw_run_rev(e, cmps, ncmp, ops, nops, NULL);
}

/* ---- group commit ------------------------------------------------------- */

/*
 * Single-key guarded puts and deletes (synchronous callers and async
 * submissions alike) queue here and travel in groups: one Txn carries many
 * of them plus one marker update, so exactly-once costs one marker per
 * group, not per write. At most group_inflight group Txns are in flight;
 * when one completes, the next group is formed from whatever queued
 * meanwhile, so the group size follows the load by itself. A group holds
 * distinct keys (etcd refuses a key twice in one Txn), and an op whose key
 * is in a group still in flight waits for it, so two writes of one key
 * apply in the order they were queued. Each group is a guarded write like
 * any other: its retries resend the same Txn with the same marker compare.
 */
#define GQ_BUCKETS 65536u

static uint32_t gq_bucket(const uint8_t *k, size_t kl)
{
    return (uint32_t)(orbit__hash64(k, kl) & (GQ_BUCKETS - 1));
}

typedef struct gq_group {
    etcd *e;
    etcd_gw gw;
    size_t n;
    etcd_gq_op *ops[];
} gq_group;

static void gq_form(etcd *e);

static void gq_complete(etcd *e, etcd_gq_op **ops, size_t n, int rc, const char *detail, int64_t rev)
{
    pthread_mutex_lock(&e->gq_lock);
    for (size_t i = 0; i < n; i++)
        e->gq_keys[ops[i]->bucket]--;
    pthread_mutex_unlock(&e->gq_lock);
    for (size_t i = 0; i < n; i++)
        ops[i]->done(ops[i], rc, detail, rev);
}

static void gq_done(void *arg, int rc, const char *detail, const uint8_t *resp, size_t len)
{
    gq_group *g = arg;
    etcd *e = g->e;
    gw_out o;
    memset(&o, 0, sizeof o);
    rc = gw_interpret(&g->gw, rc, detail, resp, len, &o);
    if (rc == ORBIT_ECONFLICT) /* no compares of its own: only the alive key */
        rc = orbit_error_set(ORBIT_EPROTO, "etcd: a group write was refused without a compare of its own");
    gw_release(&g->gw, rc);
    char d[ORBIT_OP_DETAIL_MAX];
    snprintf(d, sizeof d, "%s", rc ? orbit_last_error_detail() : "");
    pthread_mutex_lock(&e->gq_lock);
    e->gq_inflight--;
    pthread_mutex_unlock(&e->gq_lock);
    gq_complete(e, g->ops, g->n, rc, d, rc ? 0 : o.rev);
    free(g);
    gq_form(e);
}

/* Form and start groups while fewer than group_inflight are in flight. */
static void gq_form(etcd *e)
{
    for (;;) {
        pthread_mutex_lock(&e->gq_lock);
        if (!e->gq_head || e->gq_inflight >= e->group_inflight) {
            pthread_mutex_unlock(&e->gq_lock);
            return;
        }
        size_t cap = e->group_max;
        gq_group *g = calloc(1, sizeof *g + cap * sizeof(etcd_gq_op *));
        if (!g) {
            pthread_mutex_unlock(&e->gq_lock);
            return; /* retried at the next completion or enqueue */
        }
        size_t bytes = 0, budget = e->max_request_bytes > 4096 ? e->max_request_bytes - 4096 : 0;
        etcd_gq_op **pp = &e->gq_head, *last = NULL;
        while (*pp && g->n < cap) {
            etcd_gq_op *op = *pp;
            size_t b = e->nslen + op->w.klen + op->w.vlen + 16;
            if (g->n > 0 && bytes + b > budget)
                break;
            if (e->gq_keys[op->bucket]) { /* same key queued earlier or in flight */
                last = op;
                pp = &op->next;
                continue;
            }
            e->gq_keys[op->bucket]++;
            bytes += b;
            g->ops[g->n++] = op;
            *pp = op->next;
        }
        /* the tail may have been taken */
        e->gq_tail = NULL;
        for (etcd_gq_op *q = last ? last : e->gq_head; q; q = q->next)
            e->gq_tail = q;
        if (g->n == 0) {
            pthread_mutex_unlock(&e->gq_lock);
            free(g);
            return;
        }
        /* Skipped ops keep their buckets reserved for order: an op that
         * waits for an in-flight write of its key must also stay ahead of
         * later ops of that key, which the counter above ensures. */
        e->gq_inflight++;
        pthread_mutex_unlock(&e->gq_lock);
        atomic_fetch_add(&e->group_txns, 1);
        atomic_fetch_add(&e->group_ops, g->n);

        g->e = e;
        etcd_wop *w = malloc(g->n * sizeof *w);
        int rc = w ? ORBIT_OK : ORBIT_ENOMEM;
        for (size_t i = 0; w && i < g->n; i++)
            w[i] = g->ops[i]->w;
        if (!rc)
            rc = orbit__etcd_gw_build(e, NULL, 0, w, g->n, &g->gw);
        free(w);
        if (!rc) {
            orbit__rpc_call_opts o;
            orbit__etcd_call_opts(e, 1, &o);
            o.idempotent |= ORBIT__RPC_WRITE;
            rc = orbit__rpc_start(e->rpc, ETCD_M_TXN, g->gw.req, g->gw.reqlen, &o, gq_done, g);
            if (rc)
                gw_release(&g->gw, rc);
        }
        if (rc) {
            char d[ORBIT_OP_DETAIL_MAX];
            snprintf(d, sizeof d, "%s", orbit_last_error_detail());
            pthread_mutex_lock(&e->gq_lock);
            e->gq_inflight--;
            pthread_mutex_unlock(&e->gq_lock);
            gq_complete(e, g->ops, g->n, rc, d, 0);
            free(g);
        }
    }
}

/* Check what a group cannot refuse later, then queue op and kick. */
static int gq_submit(etcd *e, etcd_gq_op *op)
{
    int rc = orbit__etcd_check_key(e, op->w.key, op->w.klen);
    if (rc)
        return rc;
    if (e->nslen + op->w.klen + op->w.vlen + 256 > e->max_request_bytes)
        return orbit_error_set(ORBIT_ETOOBIG,
                               "etcd: a write request of %zu bytes exceeds max_request_bytes=%zu "
                               "(etcd --max-request-bytes, default 1.5 MiB)",
                               e->nslen + op->w.klen + op->w.vlen + 256, e->max_request_bytes);
    op->bucket = gq_bucket(op->w.key, op->w.klen);
    op->next = NULL;
    pthread_mutex_lock(&e->gq_lock);
    if (e->gq_tail)
        e->gq_tail->next = op;
    else
        e->gq_head = op;
    e->gq_tail = op;
    pthread_mutex_unlock(&e->gq_lock);
    gq_form(e);
    return ORBIT_OK;
}

typedef struct gq_wait {
    etcd_gq_op op;
    pthread_mutex_t m;
    pthread_cond_t cv;
    int done;
    int rc;
    char detail[ORBIT_OP_DETAIL_MAX];
} gq_wait;

static void gq_wait_done(etcd_gq_op *op, int rc, const char *detail, int64_t rev)
{
    gq_wait *w = (gq_wait *)op;
    pthread_mutex_lock(&w->m);
    w->rc = rc;
    snprintf(w->detail, sizeof w->detail, "%s", detail);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->m);
}

static int gq_run(etcd *e, const etcd_wop *op)
{
    gq_wait w;
    memset(&w, 0, sizeof w);
    w.op.w = *op;
    w.op.done = gq_wait_done;
    pthread_mutex_init(&w.m, NULL);
    pthread_cond_init(&w.cv, NULL);
    int rc = gq_submit(e, &w.op);
    if (!rc) {
        pthread_mutex_lock(&w.m);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.m);
        pthread_mutex_unlock(&w.m);
        rc = w.rc;
        if (rc)
            orbit_error_set(rc, "%s", w.detail);
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.m);
    return rc;
}

void orbit__etcd_group_stats(void *self, uint64_t *txns, uint64_t *ops)
{
    etcd *e = self;
    *txns = atomic_load(&e->group_txns);
    *ops = atomic_load(&e->group_ops);
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

/* ---- retention: pinned revisions and the compactor ----------------------- */

/*
 * Orbit compacts etcd's history itself. The compactor thread samples the
 * store's revision every retention_ms / 4 (at least 50 ms) and compacts at
 * the newest sample older than retention_ms, but never past the oldest
 * revision pinned in this store: every open snapshot, iterator and
 * transaction read revision, and any pin a backup takes
 * (orbit__etcd_rev_pin). Pins are per open store: another process's
 * snapshots are protected only by the retention window.
 */
#define RET_SAMPLES 64

void orbit__etcd_rev_pin(etcd *e, int64_t rev)
{
    pthread_mutex_lock(&e->pin_lock);
    if (e->npins == e->pincap) {
        size_t cap = e->pincap ? 2 * e->pincap : 16;
        int64_t *p = realloc(e->pins, cap * sizeof *p);
        if (!p) {
            /* Cannot record the pin: stop compacting rather than lose it. */
            e->pin_overflow++;
            pthread_mutex_unlock(&e->pin_lock);
            return;
        }
        e->pins = p;
        e->pincap = cap;
    }
    e->pins[e->npins++] = rev;
    pthread_mutex_unlock(&e->pin_lock);
}

void orbit__etcd_rev_unpin(etcd *e, int64_t rev)
{
    pthread_mutex_lock(&e->pin_lock);
    for (size_t i = 0; i < e->npins; i++) {
        if (e->pins[i] == rev) {
            e->pins[i] = e->pins[--e->npins];
            pthread_mutex_unlock(&e->pin_lock);
            return;
        }
    }
    if (e->pin_overflow)
        e->pin_overflow--;
    pthread_mutex_unlock(&e->pin_lock);
}

/* The revision compaction may reach now: the oldest pin, or INT64_MAX. */
static int64_t pin_floor(etcd *e)
{
    pthread_mutex_lock(&e->pin_lock);
    int64_t m = e->pin_overflow ? 0 : INT64_MAX;
    for (size_t i = 0; i < e->npins; i++)
        if (e->pins[i] < m)
            m = e->pins[i];
    pthread_mutex_unlock(&e->pin_lock);
    return m;
}

int orbit__etcd_compact(etcd *e, int64_t rev)
{
    Etcdserverpb__CompactionRequest cr = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
    cr.revision = rev;
    uint8_t buf[32];
    size_t len = etcdserverpb__compaction_request__pack(&cr, buf);
    orbit__rpc_call_opts o;
    orbit__etcd_call_opts(e, 1, &o);
    orbit_buf resp = ORBIT_BUF_INIT;
    int rc = orbit__rpc_call(e->rpc, ETCD_M_COMPACT, buf, len, &o, &resp);
    orbit_buf_release(&resp);
    if (rc == ORBIT_ECOMPACTED)
        rc = ORBIT_OK; /* someone (another client) compacted further already */
    if (rc == ORBIT_OK) {
        int64_t seen = atomic_load(&e->compacted);
        while (rev > seen && !atomic_compare_exchange_weak(&e->compacted, &seen, rev))
            ;
        atomic_fetch_add(&e->compactions, 1);
    }
    return rc;
}

static void *compactor(void *arg)
{
    etcd *e = arg;
    int64_t revs[RET_SAMPLES];
    uint64_t at[RET_SAMPLES];
    size_t head = 0, n = 0;
    uint64_t period = e->retention_ms / 4 < 50 ? 50 : e->retention_ms / 4;
    pthread_mutex_lock(&e->pin_lock);
    while (!e->compactor_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + period * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&e->compactor_cv, &e->pin_lock, &ts);
        if (e->compactor_stop)
            break;
        pthread_mutex_unlock(&e->pin_lock);
        int64_t rev = 0;
        uint64_t now = orbit__mono_ns() / 1000000u;
        if (orbit__etcd_revision(e, &rev) == ORBIT_OK) {
            if (n == RET_SAMPLES) { /* full: drop the oldest */
                head = (head + 1) % RET_SAMPLES;
                n--;
            }
            revs[(head + n) % RET_SAMPLES] = rev;
            at[(head + n) % RET_SAMPLES] = now;
            n++;
            /* the newest sample at least retention_ms old */
            int64_t target = 0;
            while (n > 0 && at[head] + e->retention_ms <= now) {
                target = revs[head];
                if (n > 1 && at[(head + 1) % RET_SAMPLES] + e->retention_ms <= now) {
                    head = (head + 1) % RET_SAMPLES;
                    n--;
                    continue;
                }
                break;
            }
            int64_t floor = pin_floor(e);
            if (target > floor)
                target = floor;
            if (target > atomic_load(&e->compacted))
                (void)orbit__etcd_compact(e, target);
        }
        pthread_mutex_lock(&e->pin_lock);
    }
    pthread_mutex_unlock(&e->pin_lock);
    return NULL;
}

/* ---- the table: open, close, point operations --------------------------- */

static void etcd_close(void *self);

/* Register this open store: put its alive key and learn its create
 * revision, which every guarded write then compares. */
static int make_alive(etcd *e)
{
    char akey[96];
    int aklen = alive_key(e, akey, sizeof akey);
    Etcdserverpb__PutRequest pr = ETCDSERVERPB__PUT_REQUEST__INIT;
    pr.key.data = (uint8_t *)akey;
    pr.key.len = (size_t)aklen;
    pr.value.data = (uint8_t *)"1";
    pr.value.len = 1;
    uint8_t buf[256];
    size_t len = etcdserverpb__put_request__pack(&pr, buf);
    orbit__rpc_call_opts o;
    orbit__etcd_call_opts(e, 1, &o);
    o.idempotent |= ORBIT__RPC_WRITE;
    orbit_buf resp = ORBIT_BUF_INIT;
    int rc = orbit__rpc_call(e->rpc, ETCD_M_PUT, buf, len, &o, &resp);
    uint8_t *req = NULL;
    size_t reqlen = 0;
    if (!rc)
        rc = pack_range(e, (const uint8_t *)akey, (size_t)aklen, 0, 0, 0, &req, &reqlen);
    if (!rc) {
        orbit__etcd_call_opts(e, 1, &o);
        rc = orbit__rpc_call(e->rpc, ETCD_M_RANGE, req, reqlen, &o, &resp);
    }
    free(req);
    if (!rc) {
        Etcdserverpb__RangeResponse *rr = etcdserverpb__range_response__unpack(NULL, resp.len, resp.data);
        if (!rr || rr->n_kvs != 1)
            rc = decode_error("Range (alive key)");
        else
            e->alive_rev = rr->kvs[0]->create_revision;
        if (rr)
            etcdserverpb__range_response__free_unpacked(rr, NULL);
    }
    orbit_buf_release(&resp);
    return rc;
}

/* Every endpoint of the body is HOST:PORT ([V6ADDR]:PORT for IPv6) with a
 * non-empty host and a decimal port 1..65535; 0 or ORBIT_EBADURI naming
 * the endpoint. */
static int check_endpoints(const char *body)
{
    const char *p = body;
    for (;;) {
        size_t len = strcspn(p, ",");
        const char *end = p + len;
        const char *colon = NULL;
        if (len && p[0] == '[') {
            const char *rb = memchr(p, ']', len);
            if (!rb || rb == p + 1)
                return orbit_error_set(ORBIT_EBADURI, "etcd: endpoint \"%.*s\": expected [IPV6]:PORT", (int)len, p);
            colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
            if (!colon)
                return orbit_error_set(ORBIT_EBADURI, "etcd: endpoint \"%.*s\": expected [IPV6]:PORT", (int)len, p);
        } else {
            for (const char *q = p; q < end; q++)
                if (*q == ':')
                    colon = q;
            if (colon && memchr(p, ':', (size_t)(colon - p)))
                return orbit_error_set(ORBIT_EBADURI,
                                       "etcd: endpoint \"%.*s\": an IPv6 address needs brackets ([ADDR]:PORT)",
                                       (int)len, p);
        }
        if (!len)
            return orbit_error_set(ORBIT_EBADURI, "etcd: an empty endpoint in \"%s\" (etcd://HOST:PORT[,...])",
                                   body);
        if (!colon)
            return orbit_error_set(ORBIT_EBADURI, "etcd: endpoint \"%.*s\" has no port (HOST:PORT, etcd's is 2379)",
                                   (int)len, p);
        if (colon == p)
            return orbit_error_set(ORBIT_EBADURI, "etcd: endpoint \"%.*s\" has an empty host", (int)len, p);
        const char *port = colon + 1;
        size_t plen = (size_t)(end - port);
        unsigned long v = 0;
        int ok = plen > 0 && plen <= 5;
        for (size_t i = 0; ok && i < plen; i++) {
            if (port[i] < '0' || port[i] > '9')
                ok = 0;
            else
                v = v * 10 + (unsigned long)(port[i] - '0');
        }
        if (!ok || v < 1 || v > 65535)
            return orbit_error_set(ORBIT_EBADURI, "etcd: endpoint \"%.*s\": the port must be a number from 1 to "
                                                  "65535, got \"%.*s\"",
                                   (int)len, p, (int)plen, port);
        for (const char *q = p; q < colon; q++)
            if ((unsigned char)*q <= ' ' || *q == '/' || *q == '@')
                return orbit_error_set(ORBIT_EBADURI, "etcd: endpoint \"%.*s\": bad character in the host",
                                       (int)len, p);
        if (!*end)
            return ORBIT_OK;
        p = end + 1;
    }
}

static int etcd_open(orbit_uri *u, void **self)
{
    const char *body = orbit_uri_body(u);
    if (!body || !*body)
        return orbit_error_set(ORBIT_EBADURI, "etcd: the URI names no endpoint (etcd://HOST:PORT[,...])");
    int rc = check_endpoints(body);
    if (rc)
        return rc;
    uint64_t timeout, attempt, max_ops, max_req, keepalive, page, gmax, ginfl, retention, connect;
    rc = orbit_uri_param_u64(u, "timeout_ms", DEFAULT_TIMEOUT_MS, &timeout);
    if (!rc)
        rc = orbit_uri_param_u64(u, "connect_timeout_ms", DEFAULT_CONNECT_TIMEOUT_MS, &connect);
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
    if (!rc)
        rc = orbit_uri_param_u64(u, "group_max", 0, &gmax);
    if (!rc)
        rc = orbit_uri_param_u64(u, "group_inflight", DEFAULT_GROUP_INFLIGHT, &ginfl);
    if (!rc)
        rc = orbit_uri_param_u64(u, "retention_ms", DEFAULT_RETENTION_MS, &retention);
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
    if (connect == 0 || connect > 3600000)
        return orbit_error_set(ORBIT_EINVAL, "etcd: connect_timeout_ms must be 1..3600000");
    if (max_ops < 4)
        return orbit_error_set(ORBIT_EINVAL, "etcd: max_txn_ops must be at least 4 (an op, the commit "
                                             "marker and its compares)");
    if (max_req < 1024)
        return orbit_error_set(ORBIT_EINVAL, "etcd: max_request_bytes must be at least 1024");
    if (page == 0 || page > 100000)
        return orbit_error_set(ORBIT_EINVAL, "etcd: page_size must be 1..100000");
    if (gmax > max_ops - 1 || ginfl == 0 || ginfl > 1024)
        return orbit_error_set(ORBIT_EINVAL, "etcd: group_max must be 0..max_txn_ops-1 and group_inflight 1..1024");
    if (retention != 0 && (retention < 100 || retention > 30u * 86400000u))
        return orbit_error_set(ORBIT_EINVAL, "etcd: retention_ms must be 0 (never compact) or 100..2592000000");
    if (ns && (uint8_t)ns[0] == 0xff)
        return orbit_error_set(ORBIT_EINVAL, "etcd: a namespace may not start with byte FF (reserved)");

    etcd *e = calloc(1, sizeof *e);
    if (!e)
        return ORBIT_ENOMEM;
    pthread_mutex_init(&e->slot_lock, NULL);
    pthread_mutex_init(&e->gq_lock, NULL);
    pthread_mutex_init(&e->pin_lock, NULL);
    pthread_cond_init(&e->compactor_cv, NULL);
    e->gq_keys = calloc(GQ_BUCKETS, sizeof *e->gq_keys);
    if (!e->gq_keys) {
        etcd_close(e);
        return ORBIT_ENOMEM;
    }
    e->timeout_ms = (uint32_t)timeout;
    /* An attempt stuck behind a dead leader is abandoned after a third of
     * the budget (at least a second) so the retry can reach a new leader. */
    e->attempt_ms = attempt ? (uint32_t)attempt : (uint32_t)(timeout / 3 > 1000 ? timeout / 3 : 1000);
    e->max_txn_ops = (size_t)max_ops;
    e->max_request_bytes = (size_t)max_req;
    e->page = (size_t)page;
    e->serializable = serializable;
    e->plain_writes = plain_writes;
    e->group_max = gmax ? (size_t)gmax : (size_t)max_ops - 1;
    e->group_inflight = (size_t)ginfl;
    e->retention_ms = retention;
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

    orbit__rpc_config cfg = {body, ca, (uint32_t)keepalive, 5000, (uint32_t)connect};
    rc = orbit__rpc_open(&cfg, &e->rpc);
    if (rc) {
        etcd_close(e);
        return rc;
    }
    /* Fail at open, not at the first operation, when no member answers. */
    rc = make_alive(e);
    if (rc) {
        char d[512];
        snprintf(d, sizeof d, "%s", orbit_last_error_detail());
        etcd_close(e);
        return orbit_error_set(rc, "etcd: no answer from %s: %s", body, d);
    }
    if (e->retention_ms) {
        if (pthread_create(&e->compactor_thread, NULL, compactor, e) != 0) {
            etcd_close(e);
            return orbit_error_set(ORBIT_EINTERNAL, "etcd: cannot start the compactor thread");
        }
        e->compactor_started = 1;
    }
    *self = e;
    return ORBIT_OK;
}

static void etcd_close(void *self)
{
    etcd *e = self;
    if (e->compactor_started) {
        pthread_mutex_lock(&e->pin_lock);
        e->compactor_stop = 1;
        pthread_cond_signal(&e->compactor_cv);
        pthread_mutex_unlock(&e->pin_lock);
        pthread_join(e->compactor_thread, NULL);
    }
    /* A transport none of whose calls ever got past connecting sent
     * nothing that can have arrived: there is nothing to remove, and no
     * reason to wait for a server that is not there. */
    if (e->rpc && !orbit__rpc_ever_reached(e->rpc)) {
        orbit__rpc_close(e->rpc);
        e->rpc = NULL;
    }
    if (e->rpc) {
        /* Remove this client's alive key and commit markers (best effort: a
         * store that cannot be reached keeps them, one per past concurrent
         * writer). Without the alive key no delayed attempt of any of its
         * writes can apply any more. */
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
    free(e->gq_keys);
    free(e->pins);
    pthread_cond_destroy(&e->compactor_cv);
    pthread_mutex_destroy(&e->pin_lock);
    pthread_mutex_destroy(&e->gq_lock);
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
    out->supports_snapshot_at = 1;
    out->supports_commit_version = 1;
    out->native_multi_get = 1;
    out->native_range_delete = 1;
    out->native_cas = 1;
    out->supports_batch_range_delete = 1;
    out->max_txn_keys = orbit__etcd_txn_max_keys(e);
    out->max_txn_bytes = orbit__etcd_txn_max_bytes(e);
}

/* The revision a provider snapshot reads at. */
static int64_t snap_rev(void *snap)
{
    return snap ? *(int64_t *)snap : 0;
}

static int etcd_get(void *self, void *snap, const uint8_t *k, size_t kl, orbit_value_fn fn, void *arg)
{
    etcd *e = self;
    return orbit__etcd_read(e, snap_rev(snap), e->serializable, k, kl, fn, arg, NULL, NULL);
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
        return gq_run(e, op);
    uint8_t *req = NULL;
    size_t len = 0;
    const char *method = NULL;
    int rc = pack_plain(e, op, &req, &len, &method);
    if (rc)
        return rc;
    orbit__rpc_call_opts o;
    orbit__etcd_call_opts(e, 1, &o);
    o.idempotent |= ORBIT__RPC_WRITE;
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

/* ---- batches ------------------------------------------------------------ */

typedef struct seq_wop {
    etcd_wop op;
    size_t idx;
} seq_wop;

static int seq_wop_cmp(const void *a, const void *b)
{
    const seq_wop *x = a, *y = b;
    int c = orbit__key_cmp(x->op.key, x->op.klen, y->op.key, y->op.klen);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int in_range(const etcd_wop *r, const uint8_t *k, size_t kl)
{
    return orbit__key_cmp(k, kl, r->key, r->klen) >= 0 &&
           (r->vlen == 0 || orbit__key_cmp(k, kl, r->val, r->vlen) < 0);
}

/* A batch as the ops of one Txn. etcd refuses a Txn that puts one key twice
 * or puts a key inside one of its range deletes ("duplicate key given in
 * txn request"), so entries are resolved in order first: per key only the
 * last point entry stays; a point entry followed by a range delete covering
 * it is dropped (the range deletes it); a range delete followed by puts
 * inside it is split around those keys (each put overwrites its key
 * anyway). Deletes may overlap. The result leaves exactly the state the
 * entries applied in order would. *keep holds allocated split bounds. */
typedef struct batch_ops {
    etcd_wop *ops;
    size_t n;
    uint8_t **keep;
    size_t nkeep;
} batch_ops;

static void batch_ops_free(batch_ops *bo)
{
    for (size_t i = 0; i < bo->nkeep; i++)
        free(bo->keep[i]);
    free(bo->keep);
    free(bo->ops);
    memset(bo, 0, sizeof *bo);
}

static int batch_resolve(etcd *e, const orbit_batch *b, batch_ops *bo)
{
    memset(bo, 0, sizeof *bo);
    size_t n = orbit_batch_count(b);
    seq_wop *pts = calloc(n ? n : 1, sizeof *pts);
    seq_wop *rgs = calloc(n ? n : 1, sizeof *rgs);
    size_t np = 0, nr = 0;
    int rc = ORBIT_ENOMEM;
    if (!pts || !rgs)
        goto out;
    for (size_t i = 0; i < n; i++) {
        orbit_batch_entry be;
        orbit_batch_entry_at(b, i, &be);
        if (be.type == ORBIT_OP_DEL_RANGE) {
            etcd_wop r = {2, be.key, be.klen, be.vlen ? be.val : NULL, be.vlen};
            if (clamp_range(e, &r) == 0)
                rgs[nr++] = (seq_wop){r, i};
        } else {
            pts[np++] = (seq_wop){{be.type == ORBIT_OP_DEL, be.key, be.klen, be.val, be.vlen}, i};
        }
    }
    qsort(pts, np, sizeof *pts, seq_wop_cmp);
    size_t m = 0;
    for (size_t i = 0; i < np; i++) {
        if (i + 1 < np && orbit__key_cmp(pts[i].op.key, pts[i].op.klen, pts[i + 1].op.key, pts[i + 1].op.klen) == 0)
            continue; /* a later entry of the same key wins */
        int covered = 0;
        for (size_t j = 0; j < nr && !covered; j++)
            covered = rgs[j].idx > pts[i].idx && in_range(&rgs[j].op, pts[i].op.key, pts[i].op.klen);
        if (!covered)
            pts[m++] = pts[i];
    }
    np = m;
    /* the ops: the surviving points, then each range split around the
     * surviving puts inside it (points are sorted by key) */
    size_t cap = np + nr, cap_keep = 0;
    for (size_t j = 0; j < nr; j++)
        for (size_t i = 0; i < np; i++)
            if (!pts[i].op.del && in_range(&rgs[j].op, pts[i].op.key, pts[i].op.klen))
                cap++, cap_keep++;
    bo->ops = calloc(cap ? cap : 1, sizeof *bo->ops);
    bo->keep = calloc(cap_keep ? cap_keep : 1, sizeof *bo->keep);
    if (!bo->ops || !bo->keep)
        goto out;
    for (size_t i = 0; i < np; i++)
        bo->ops[bo->n++] = pts[i].op;
    for (size_t j = 0; j < nr; j++) {
        const etcd_wop *r = &rgs[j].op;
        const uint8_t *lo = r->key;
        size_t lol = r->klen;
        for (size_t i = 0; i < np; i++) {
            const etcd_wop *p = &pts[i].op;
            if (p->del || !in_range(r, p->key, p->klen))
                continue;
            if (orbit__key_cmp(lo, lol, p->key, p->klen) < 0)
                bo->ops[bo->n++] = (etcd_wop){2, lo, lol, p->key, p->klen};
            uint8_t *succ = malloc(p->klen + 1); /* the key's successor: key 00 */
            if (!succ)
                goto out;
            memcpy(succ, p->key, p->klen);
            succ[p->klen] = 0;
            bo->keep[bo->nkeep++] = succ;
            lo = succ;
            lol = p->klen + 1;
        }
        if (r->vlen == 0 || orbit__key_cmp(lo, lol, r->val, r->vlen) < 0)
            bo->ops[bo->n++] = (etcd_wop){2, lo, lol, r->val, r->vlen};
    }
    rc = ORBIT_OK;
out:
    free(pts);
    free(rgs);
    if (rc)
        batch_ops_free(bo);
    return rc;
}

static int etcd_write_version(void *self, const orbit_batch *b, uint64_t *version)
{
    etcd *e = self;
    batch_ops bo;
    int rc = batch_resolve(e, b, &bo);
    if (rc)
        return rc;
    int64_t rev = 0;
    if (bo.n > 0)
        rc = orbit__etcd_gw_run_rev(e, NULL, 0, bo.ops, bo.n, &rev);
    batch_ops_free(&bo);
    if (version)
        *version = rc == ORBIT_OK && rev > 0 ? (uint64_t)rev : 0;
    return rc;
}

static int etcd_write(void *self, const orbit_batch *b)
{
    return etcd_write_version(self, b, NULL);
}

static int etcd_delete_range(void *self, const orbit_range *r)
{
    etcd *e = self;
    etcd_wop op = {2, r->lo, r->lo_len, r->hi_len ? r->hi : NULL, r->hi ? r->hi_len : 0};
    if (clamp_range(e, &op))
        return ORBIT_OK;
    return orbit__etcd_gw_run(e, NULL, 0, &op, 1);
}

/* Compare-and-set: one guarded Txn comparing the key's value (or its
 * absence, create_revision 0); its failure branch reads the key. */
static int etcd_cas(void *self, const uint8_t *k, size_t kl, const orbit_slice *expected,
                    const orbit_slice *desired, orbit_buf *current)
{
    etcd *e = self;
    gw_xcmp x = {k, kl, expected};
    etcd_wop op = desired ? (etcd_wop){0, k, kl, desired->data, desired->len} : (etcd_wop){1, k, kl, NULL, 0};
    etcd_gw gw;
    int rc = gw_build_ex(e, NULL, 0, &x, &op, 1, &gw);
    if (rc)
        return rc;
    orbit_buf cur = ORBIT_BUF_INIT;
    gw_out o;
    memset(&o, 0, sizeof o);
    o.cas_cur = &cur;
    rc = gw_send(&gw, &o);
    if (rc == ORBIT_ECONFLICT && o.cmp_failed) {
        orbit_error_clear();
        if (expected && !o.cas_found) {
            rc = ORBIT_NOTFOUND;
            if (current)
                orbit_buf_reset(current);
        } else {
            rc = ORBIT_CMPFAIL;
            if (current && orbit_buf_set(current, cur.len ? cur.data : (const uint8_t *)"", cur.len))
                rc = ORBIT_ENOMEM;
        }
    }
    orbit_buf_release(&cur);
    return rc;
}

/* ---- the native asynchronous path -------------------------------------- */

typedef struct sub sub;
typedef struct sub_item sub_item;

typedef struct mg_item { /* one chunk of a MULTI_GET: one read-only Txn */
    sub_item *it;
    size_t first, n;
} mg_item;

struct sub_item {
    sub *s;
    size_t i;
    int kind; /* 0 read, 1 plain write, 2 guarded batch, 3 grouped write */
    etcd_gw gw;
    etcd_gq_op gq;
    mg_item *mg;
    size_t mg_chunks;
    int64_t mg_rev; /* the one revision every chunk reads at */
    int mg_pinned;  /* mg_rev was pinned here (read at the latest data) */
    atomic_size_t mg_pending;
    atomic_int mg_failed;
};

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
        for (size_t i = 0; i < s->n; i++)
            free(s->items[i].mg);
        s->done(s->arg, s->ops, s->n);
        free(s);
    }
}

/* Complete op with rc; a failure carries its own detail. */
static void op_finish(orbit_kv_op *op, int rc, const char *detail)
{
    if (rc >= 0) {
        op->result = rc;
    } else if (detail == orbit_last_error_detail()) { /* the thread's own buffer */
        op->result = rc;
        orbit_op_take_detail(op);
    } else {
        (void)orbit_op_fail(op, rc, "%s", detail ? detail : "");
    }
}

static void sub_done(void *arg, int rc, const char *detail, const uint8_t *resp, size_t len)
{
    sub_item *it = arg;
    orbit_kv_op *op = &it->s->ops[it->i];
    if (it->kind == 0) {
        if (rc == ORBIT_OK) {
            orbit_buf_reset(op->out);
            rc = deliver_range(resp, len, orbit__copy_value_fn, op->out, NULL, NULL);
            detail = rc < 0 ? orbit_last_error_detail() : "";
        }
    } else if (it->kind == 2) {
        gw_out o;
        memset(&o, 0, sizeof o);
        rc = gw_interpret(&it->gw, rc, detail, resp, len, &o);
        if (rc == ORBIT_ECONFLICT)
            rc = orbit_error_set(ORBIT_EPROTO, "etcd: a batch was refused without a compare of its own");
        gw_release(&it->gw, rc);
        detail = rc ? orbit_last_error_detail() : "";
    }
    op_finish(op, rc, detail);
    sub_release(it->s);
}

static void sub_gq_done(etcd_gq_op *g, int rc, const char *detail, int64_t rev)
{
    sub_item *it = (sub_item *)((char *)g - offsetof(sub_item, gq));
    op_finish(&it->s->ops[it->i], rc, detail);
    sub_release(it->s);
}

/*
 * MULTI_GET: all keys from one view. Keys travel max_txn_ops at a time in
 * read-only Txns of Ranges. At a snapshot every chunk reads at its revision
 * and all are in flight at once; at the latest data the first chunk goes
 * alone, and the others follow at the revision it was served at.
 */
static void mg_done(void *arg, int rc, const char *detail, const uint8_t *resp, size_t len);

static int mg_start(mg_item *m)
{
    sub_item *it = m->it;
    etcd *e = it->s->e;
    orbit_kv_op *op = &it->s->ops[it->i];
    uint8_t *req = NULL;
    size_t len = 0;
    int rc = orbit__etcd_pack_reads(e, it->mg_rev, 0, m->n, &op->keys[m->first], &req, &len);
    if (!rc) {
        orbit__rpc_call_opts o;
        orbit__etcd_call_opts(e, 1, &o);
        rc = orbit__rpc_start(e->rpc, ETCD_M_TXN, req, len, &o, mg_done, m);
    }
    free(req);
    return rc;
}

static void mg_fail_chunk(mg_item *m, int rc, const char *detail);

/* Start chunks [from, it->mg_chunks); a chunk that cannot start fails. */
static void mg_start_from(sub_item *it, size_t from)
{
    for (size_t c = from; c < it->mg_chunks; c++) {
        int rc = mg_start(&it->mg[c]);
        if (rc) {
            char d[ORBIT_OP_DETAIL_MAX];
            snprintf(d, sizeof d, "%s", orbit_last_error_detail());
            mg_fail_chunk(&it->mg[c], rc, d);
        }
    }
}

/* Account for one finished chunk; the last completes the op. */
static void mg_chunk_end(sub_item *it)
{
    if (atomic_fetch_sub(&it->mg_pending, 1) == 1) {
        orbit_kv_op *op = &it->s->ops[it->i];
        int first = 0;
        for (size_t k = 0; k < op->nkeys && !first; k++)
            if (op->status[k] < 0)
                first = op->status[k];
        op->result = first;
        if (it->mg_pinned)
            orbit__etcd_rev_unpin(it->s->e, it->mg_rev);
        sub_release(it->s);
    }
}

static void mg_fail_chunk(mg_item *m, int rc, const char *detail)
{
    sub_item *it = m->it;
    orbit_kv_op *op = &it->s->ops[it->i];
    for (size_t i = 0; i < m->n; i++) {
        orbit_buf_reset(&op->vals[m->first + i]);
        op->status[m->first + i] = rc;
    }
    if (atomic_exchange(&it->mg_failed, 1) == 0)
        snprintf(op->detail, sizeof op->detail, "%s", detail ? detail : ""); /* the first failure's */
    if (m->first == 0 && it->mg_rev == 0) {
        /* the first chunk failed at the latest data: the others fail too */
        for (size_t c = 1; c < it->mg_chunks; c++)
            mg_fail_chunk(&it->mg[c], rc, detail);
    }
    mg_chunk_end(it);
}

static void mg_done(void *arg, int rc, const char *detail, const uint8_t *resp, size_t len)
{
    mg_item *m = arg;
    sub_item *it = m->it;
    orbit_kv_op *op = &it->s->ops[it->i];
    Etcdserverpb__TxnResponse *tr = NULL;
    if (!rc && (tr = etcdserverpb__txn_response__unpack(NULL, len, resp)) == NULL) {
        rc = ORBIT_EPROTO;
        detail = "etcd: cannot decode the Txn response of a multi-get";
    }
    if (!rc && tr->n_responses != m->n) {
        rc = ORBIT_EPROTO;
        detail = "etcd: a multi-get Txn answered a different number of reads";
    }
    if (!rc && m->first == 0 && it->mg_rev == 0 && it->mg_chunks > 1 &&
        (!tr->header || tr->header->revision <= 0)) {
        rc = ORBIT_EPROTO; /* the other chunks would have no revision to read at */
        detail = "etcd: a multi-get Txn response has no revision";
    }
    if (rc) {
        if (tr)
            etcdserverpb__txn_response__free_unpacked(tr, NULL);
        mg_fail_chunk(m, rc, detail);
        return;
    }
    for (size_t i = 0; i < m->n; i++) {
        Etcdserverpb__ResponseOp *r = tr->responses[i];
        orbit_buf *v = &op->vals[m->first + i];
        orbit_buf_reset(v);
        int st = ORBIT_NOTFOUND;
        if (r->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE && r->response_range->n_kvs)
            st = orbit_buf_set(v, r->response_range->kvs[0]->value.data, r->response_range->kvs[0]->value.len);
        op->status[m->first + i] = st;
    }
    /* The first chunk at the latest data fixes the revision the others read
     * at, pinned against Orbit's compactor until the last one ends. */
    int first_at_latest = m->first == 0 && it->mg_rev == 0 && it->mg_chunks > 1;
    if (first_at_latest) {
        it->mg_rev = tr->header->revision;
        orbit__etcd_rev_pin(it->s->e, it->mg_rev);
        it->mg_pinned = 1;
    }
    etcdserverpb__txn_response__free_unpacked(tr, NULL);
    if (first_at_latest)
        mg_start_from(it, 1);
    mg_chunk_end(it);
}

static int start_range(etcd *e, int64_t rev, const uint8_t *k, size_t kl, orbit__rpc_done_fn fn, void *arg)
{
    orbit_buf key = ORBIT_BUF_INIT;
    uint8_t *req = NULL;
    size_t reqlen = 0;
    int rc = orbit__etcd_key(e, k, kl, &key);
    if (!rc)
        rc = pack_range(e, key.data, key.len, rev, e->serializable, 0, &req, &reqlen);
    if (!rc) {
        orbit__rpc_call_opts o;
        orbit__etcd_call_opts(e, 1, &o);
        rc = orbit__rpc_start(e->rpc, ETCD_M_RANGE, req, reqlen, &o, fn, arg);
    }
    free(req);
    orbit_buf_release(&key);
    return rc;
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
    for (size_t i = 0; i < n; i++) {
        orbit_kv_op *op = &ops[i];
        sub_item *it = &s->items[i];
        it->s = s;
        it->i = i;
        op->detail[0] = '\0';
        int rc;
        int64_t rev = op->snapshot ? snap_rev(orbit_snapshot_object(op->snapshot)) : 0;
        if (op->type == ORBIT_OP_GET) {
            rc = start_range(e, rev, op->key, op->klen, sub_done, it);
        } else if (op->type == ORBIT_OP_MULTI_GET) {
            if (op->nkeys == 0) {
                op->result = 0;
                sub_release(s);
                continue;
            }
            size_t cs = e->max_txn_ops;
            it->mg_chunks = (op->nkeys + cs - 1) / cs;
            it->mg = calloc(it->mg_chunks, sizeof *it->mg);
            rc = it->mg ? ORBIT_OK : ORBIT_ENOMEM;
            if (!rc) {
                it->mg_rev = rev;
                atomic_init(&it->mg_pending, it->mg_chunks);
                for (size_t c = 0; c < it->mg_chunks; c++)
                    it->mg[c] = (mg_item){it, c * cs, c + 1 < it->mg_chunks ? cs : op->nkeys - c * cs};
                /* at a snapshot all at once, else the first one first */
                if (rev)
                    mg_start_from(it, 0);
                else {
                    int krc = mg_start(&it->mg[0]);
                    if (krc) {
                        char d[ORBIT_OP_DETAIL_MAX];
                        snprintf(d, sizeof d, "%s", orbit_last_error_detail());
                        mg_fail_chunk(&it->mg[0], krc, d);
                    }
                }
                continue; /* the last chunk completes the op */
            }
        } else if (op->type == ORBIT_OP_WRITE) {
            it->kind = 2;
            batch_ops bo;
            rc = batch_resolve(e, op->batch, &bo);
            if (!rc && bo.n == 0) {
                batch_ops_free(&bo);
                op->result = 0;
                sub_release(s);
                continue;
            }
            if (!rc) {
                rc = orbit__etcd_gw_build(e, NULL, 0, bo.ops, bo.n, &it->gw);
                batch_ops_free(&bo);
            }
            if (!rc) {
                orbit__etcd_call_opts(e, 1, &o);
                o.idempotent |= ORBIT__RPC_WRITE;
                rc = orbit__rpc_start(e->rpc, ETCD_M_TXN, it->gw.req, it->gw.reqlen, &o, sub_done, it);
                if (rc)
                    gw_release(&it->gw, rc);
            }
        } else if (op->type != ORBIT_OP_PUT && op->type != ORBIT_OP_DEL) {
            rc = orbit_error_set(ORBIT_EINVAL, "etcd: submit: unknown op type %d", (int)op->type);
        } else if (e->plain_writes) {
            etcd_wop w = {op->type == ORBIT_OP_DEL, op->key, op->klen, op->val, op->vlen};
            uint8_t *req = NULL;
            size_t reqlen = 0;
            const char *method = NULL;
            it->kind = 1;
            rc = pack_plain(e, &w, &req, &reqlen, &method);
            if (!rc) {
                orbit__etcd_call_opts(e, 1, &o);
                o.idempotent |= ORBIT__RPC_WRITE;
                rc = orbit__rpc_start(e->rpc, method, req, reqlen, &o, sub_done, it);
            }
            free(req);
        } else {
            it->kind = 3;
            it->gq.w = (etcd_wop){op->type == ORBIT_OP_DEL, op->key, op->klen, op->val, op->vlen};
            it->gq.done = sub_gq_done;
            rc = gq_submit(e, &it->gq);
        }
        if (rc) {
            op_finish(op, rc, orbit_last_error_detail());
            sub_release(s);
        }
    }
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
    /* version 2 */
    .multi_get = orbit__etcd_multi_get,
    .txn_multi_get = orbit__etcd_txn_multi_get,
    .delete_range = etcd_delete_range,
    .cas = etcd_cas,
    .iter_seek = orbit__etcd_iter_seek,
    .snapshot_version = orbit__etcd_snapshot_version,
    .snapshot_open_at = orbit__etcd_snapshot_open_at,
    .write_version = etcd_write_version,
    .txn_commit_version = orbit__etcd_txn_commit_version,
    /* version 4 */
    .store_stats = orbit__etcd_store_stats,
};
