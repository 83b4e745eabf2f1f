/*
 * Optimistic transactions of the etcd provider.
 *
 * begin fixes a revision R with a linearizable read. Writes are buffered
 * locally (sorted by key, one entry per key) and seen by the transaction's
 * own reads, multi-gets and iterators. Every key the transaction uses is
 * recorded with the mod_revision it had when the transaction first used it
 * (0 when absent). commit sends one guarded Txn (etcd.c) whose compares say
 * "nothing changed under me":
 *
 *   ORBIT_ISO_SNAPSHOT  reads see revision R (pinned against Orbit's
 *                       compactor until the transaction ends). Each
 *                       written key and each key read for update must
 *                       still have the mod_revision it had at R; plain
 *                       reads of unwritten keys are not checked (snapshot
 *                       isolation allows write skew). Written keys whose
 *                       revision at R is not known from a read are looked
 *                       up at commit, in read-only Txns of Range requests
 *                       at R (chunked by max_txn_ops), so a key deleted
 *                       after R is a conflict too, not only one modified
 *                       or created.
 *   ORBIT_ISO_READ_COMMITTED
 *                       reads see the latest data. A written key or a key
 *                       read for update must still have the mod_revision
 *                       it had when the transaction first used it, where
 *                       a use is a write or a read for update (plain reads
 *                       claim nothing, as in kv.h and on every provider):
 *                       the one its read for update saw, or, for a key
 *                       first used by a write, the one a keys-only Range
 *                       reads at that write (one round trip per such
 *                       key). So a change made before the first use never
 *                       conflicts, and one made after it always does. (With read=serializable these reads come
 *                       from one member, which may lag: a change shortly
 *                       before the first use may then conflict too, never
 *                       the other way.)
 *
 * A failed compare is ORBIT_ECONFLICT; the whole transaction is then to be
 * retried by the caller. SERIALIZABLE would also need range (phantom)
 * validation of scans, which etcd's compares cannot express for deletions,
 * so it is ORBIT_ENOTSUP. A read whose revision was compacted is
 * ORBIT_ECOMPACTED.
 *
 * Limits, checked at the call that would cross them (ORBIT_ETOOBIG naming
 * the limit), never first at commit:
 *   keys   the keys written and the keys read for update, counted together
 *          (each is one compare of the commit, a written key also one op),
 *          at most max_txn_ops - 2 (the commit's compares also check the
 *          commit marker and this client's alive key, etcd.c);
 *   bytes  each written key costs 2 * (namespace + key) + value + 48 bytes
 *          (its compare and its op, framing included), each key read for
 *          update and not written namespace + key + 24; the sum is at most
 *          max_request_bytes - 576 (the marker and the Txn's framing).
 * These are the capabilities' max_txn_keys and max_txn_bytes.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "providers/etcd/etcd_int.h"

typedef struct wentry {
    uint8_t *k;
    size_t kl;
    uint8_t *v;
    size_t vl;
    int del;
} wentry;

typedef struct rentry {
    uint8_t *k;
    size_t kl;
    int64_t mod;
    int for_update;
} rentry;

typedef struct etcd_txn {
    etcd *e;
    orbit_isolation iso;
    int64_t rev;
    int pinned;    /* rev is pinned (SNAPSHOT) */
    size_t nkeys;  /* keys written or read for update */
    size_t nbytes; /* their cost, as counted in the file comment */
    wentry *w;
    size_t nw, capw;
    rentry *r;
    size_t nr, capr;
} etcd_txn;

struct etcd_local {
    wentry *w; /* deep copies, in scan order */
    size_t n, pos;
};

/* wentry and rentry both begin with the key, so one search serves both. */
_Static_assert(offsetof(wentry, k) == offsetof(rentry, k) && offsetof(wentry, kl) == offsetof(rentry, kl),
               "wentry and rentry must start with the same key fields");

/* Index of key in a sorted array of n entries `stride` bytes apart, or the
 * insertion point with *found = 0. */
static size_t find_key(const void *base, size_t n, size_t stride, const uint8_t *k, size_t kl,
                       int *found)
{
    size_t lo = 0, hi = n;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        /* Read the fields by offset: an rentry is never accessed as a wentry. */
        const char *e = (const char *)base + mid * stride;
        const uint8_t *ek;
        size_t ekl;
        memcpy(&ek, e + offsetof(wentry, k), sizeof ek);
        memcpy(&ekl, e + offsetof(wentry, kl), sizeof ekl);
        int c = orbit__key_cmp(ek, ekl, k, kl);
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

/* Position of key in the write set t->w / the read set t->r. */
static size_t find_w(const etcd_txn *t, const uint8_t *k, size_t kl, int *found)
{
    return find_key(t->w, t->nw, sizeof *t->w, k, kl, found);
}

static size_t find_r(const etcd_txn *t, const uint8_t *k, size_t kl, int *found)
{
    return find_key(t->r, t->nr, sizeof *t->r, k, kl, found);
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

int orbit__etcd_txn_begin(void *self, const orbit_txn_opts *opts, void **out)
{
    etcd *e = self;
    orbit_isolation iso = opts ? opts->isolation : ORBIT_ISO_SNAPSHOT;
    if (iso != ORBIT_ISO_SNAPSHOT && iso != ORBIT_ISO_READ_COMMITTED)
        return orbit_error_set(ORBIT_ENOTSUP,
                               "etcd: isolation level %d is not supported (SNAPSHOT and READ_COMMITTED are)",
                               (int)iso);
    etcd_txn *t = calloc(1, sizeof *t);
    if (!t)
        return ORBIT_ENOMEM;
    t->e = e;
    t->iso = iso;
    int rc = orbit__etcd_revision(e, &t->rev);
    if (rc) {
        free(t);
        return rc;
    }
    if (iso == ORBIT_ISO_SNAPSHOT) {
        orbit__etcd_rev_pin(e, t->rev);
        t->pinned = 1;
    }
    *out = t;
    return ORBIT_OK;
}

static void txn_free(etcd_txn *t)
{
    if (t->pinned)
        orbit__etcd_rev_unpin(t->e, t->rev);
    for (size_t i = 0; i < t->nw; i++) {
        free(t->w[i].k);
        free(t->w[i].v);
    }
    for (size_t i = 0; i < t->nr; i++)
        free(t->r[i].k);
    free(t->w);
    free(t->r);
    free(t);
}

size_t orbit__etcd_txn_max_keys(const etcd *e)
{
    /* The commit's compares: one per key, the marker's and the alive key's
     * (etcd.c); its ops: one per written key and the marker's. */
    return e->max_txn_ops > 2 ? e->max_txn_ops - 2 : 0;
}

size_t orbit__etcd_txn_max_bytes(const etcd *e)
{
    return e->max_request_bytes > 576 ? e->max_request_bytes - 576 : 0;
}

static size_t cost_write(const etcd_txn *t, size_t kl, size_t vl)
{
    return 2 * (t->e->nslen + kl) + vl + 48;
}

static size_t cost_claim(const etcd_txn *t, size_t kl)
{
    return t->e->nslen + kl + 24;
}

static int too_many_keys(const etcd_txn *t)
{
    return orbit_error_set(ORBIT_ETOOBIG,
                           "etcd: a transaction may write and read for update at most %zu keys together "
                           "(max_txn_keys; max_txn_ops=%zu minus the commit marker and alive key "
                           "compares; etcd --max-txn-ops)",
                           orbit__etcd_txn_max_keys(t->e), t->e->max_txn_ops);
}

static int too_many_bytes(const etcd_txn *t, size_t need)
{
    return orbit_error_set(ORBIT_ETOOBIG,
                           "etcd: a transaction's writes would need a commit of about %zu bytes, over "
                           "max_txn_bytes=%zu (max_request_bytes=%zu; etcd --max-request-bytes)",
                           need, orbit__etcd_txn_max_bytes(t->e), t->e->max_request_bytes);
}

/* Record the first use of key k (its mod_revision then); a later use keeps
 * the first one, which is what the transaction relied on. A new claim
 * (for_update) must already have passed claim_check. */
static int record_read(etcd_txn *t, const uint8_t *k, size_t kl, int64_t mod, int for_update)
{
    int found;
    size_t i = find_r(t, k, kl, &found);
    if (found) {
        if (for_update && !t->r[i].for_update) {
            int wf;
            (void)find_w(t, k, kl, &wf);
            if (!wf) {
                t->nkeys++;
                t->nbytes += cost_claim(t, kl);
            }
        }
        t->r[i].for_update |= for_update;
        return ORBIT_OK;
    }
    if (t->nr == t->capr) {
        size_t cap = t->capr ? t->capr * 2 : 8;
        rentry *nr = realloc(t->r, cap * sizeof *nr);
        if (!nr)
            return ORBIT_ENOMEM;
        t->r = nr;
        t->capr = cap;
    }
    uint8_t *kc = dup_bytes(k, kl);
    if (!kc)
        return ORBIT_ENOMEM;
    memmove(&t->r[i + 1], &t->r[i], (t->nr - i) * sizeof *t->r);
    t->r[i] = (rentry){kc, kl, mod, for_update};
    t->nr++;
    if (for_update) {
        int wf;
        (void)find_w(t, k, kl, &wf);
        if (!wf) {
            t->nkeys++;
            t->nbytes += cost_claim(t, kl);
        }
    }
    return ORBIT_OK;
}

/* May key k (not written) become a claim? 0 or ETOOBIG. */
static int claim_check(const etcd_txn *t, const uint8_t *k, size_t kl)
{
    int found;
    size_t j = find_r(t, k, kl, &found);
    if (found && t->r[j].for_update)
        return ORBIT_OK;
    if (t->nkeys + 1 > orbit__etcd_txn_max_keys(t->e))
        return too_many_keys(t);
    size_t need = t->nbytes + cost_claim(t, kl);
    if (need > orbit__etcd_txn_max_bytes(t->e))
        return too_many_bytes(t, need);
    return ORBIT_OK;
}

int orbit__etcd_txn_get(void *p, const uint8_t *k, size_t kl, int for_update, orbit_value_fn fn, void *arg)
{
    etcd_txn *t = p;
    int rc = orbit__etcd_check_key(t->e, k, kl);
    if (rc)
        return rc;
    int found;
    size_t i = find_w(t, k, kl, &found);
    if (found) {
        /* Its own write: already checked at commit as a written key. */
        if (t->w[i].del)
            return ORBIT_NOTFOUND;
        return fn(arg, t->w[i].vl ? t->w[i].v : (const uint8_t *)"", t->w[i].vl);
    }
    if (for_update && (rc = claim_check(t, k, kl)) != 0)
        return rc;
    int64_t mod = 0;
    int64_t rev = t->iso == ORBIT_ISO_SNAPSHOT ? t->rev : 0;
    rc = orbit__etcd_read_rc(orbit__etcd_read(t->e, rev, t->e->serializable, k, kl, fn, arg, &mod, NULL));
    /* A plain read under READ_COMMITTED claims nothing (kv.h): the key's
     * first use is then its first write or read for update. */
    if ((rc == ORBIT_OK || rc == ORBIT_NOTFOUND) && (for_update || t->iso == ORBIT_ISO_SNAPSHOT)) {
        int rrc = record_read(t, k, kl, mod, for_update);
        if (rrc)
            return rrc;
    }
    return rc;
}

int orbit__etcd_txn_multi_get(void *p, size_t n, const orbit_slice *keys, orbit_buf *vals, int *status)
{
    etcd_txn *t = p;
    if (n == 0)
        return ORBIT_OK;
    /* The keys not written by the transaction, read in one batch. */
    size_t *at = calloc(n, sizeof *at);
    orbit_slice *rk = calloc(n, sizeof *rk);
    orbit_buf *rv = calloc(n, sizeof *rv);
    int *rs = calloc(n, sizeof *rs);
    int64_t *rm = calloc(n, sizeof *rm);
    int rc = (!at || !rk || !rv || !rs || !rm) ? ORBIT_ENOMEM : ORBIT_OK;
    size_t m = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        int krc = orbit__etcd_check_key(t->e, keys[i].data, keys[i].len);
        if (krc) {
            status[i] = krc;
            orbit_buf_reset(&vals[i]);
            continue;
        }
        int found;
        size_t j = find_w(t, keys[i].data, keys[i].len, &found);
        if (!found) {
            at[m] = i;
            rk[m++] = keys[i];
            continue;
        }
        orbit_buf_reset(&vals[i]);
        if (t->w[j].del) {
            status[i] = ORBIT_NOTFOUND;
        } else {
            status[i] = t->w[j].vl && orbit_buf_append(&vals[i], t->w[j].v, t->w[j].vl) ? ORBIT_ENOMEM : ORBIT_OK;
        }
    }
    if (!rc && m) {
        (void)orbit__etcd_read_many(t->e, t->iso == ORBIT_ISO_SNAPSHOT ? t->rev : 0, 0, m, rk, rv, rs, rm, NULL);
        for (size_t i = 0; i < m; i++) {
            size_t d = at[i];
            status[d] = rs[i];
            orbit_buf_reset(&vals[d]);
            if (rs[i] == ORBIT_OK && rv[i].len && orbit_buf_append(&vals[d], rv[i].data, rv[i].len))
                status[d] = ORBIT_ENOMEM;
            if ((rs[i] == ORBIT_OK || rs[i] == ORBIT_NOTFOUND) && t->iso == ORBIT_ISO_SNAPSHOT &&
                record_read(t, rk[i].data, rk[i].len, rm[i], 0))
                status[d] = ORBIT_ENOMEM;
        }
    }
    if (rv)
        for (size_t i = 0; i < n; i++)
            orbit_buf_release(&rv[i]);
    free(rm);
    free(rs);
    free(rv);
    free(rk);
    free(at);
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            status[i] = rc;
            orbit_buf_reset(&vals[i]);
        }
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        if (status[i] < 0)
            return status[i];
    return ORBIT_OK;
}

static int txn_write(etcd_txn *t, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, int del)
{
    int rc = orbit__etcd_check_key(t->e, k, kl);
    if (rc)
        return rc;
    if (del)
        vl = 0;
    int found;
    size_t i = find_w(t, k, kl, &found);
    if (found) {
        size_t need = t->nbytes - cost_write(t, kl, t->w[i].vl) + cost_write(t, kl, vl);
        if (need > orbit__etcd_txn_max_bytes(t->e))
            return too_many_bytes(t, need);
        uint8_t *vc = del ? NULL : dup_bytes(v, vl);
        if (!del && !vc)
            return ORBIT_ENOMEM;
        free(t->w[i].v);
        t->w[i].v = vc;
        t->w[i].vl = vl;
        t->w[i].del = del;
        t->nbytes = need;
        return ORBIT_OK;
    }
    /* A new written key: one more compare and op, unless it was claimed. */
    int rfound;
    size_t j = find_r(t, k, kl, &rfound);
    int claimed = rfound && t->r[j].for_update;
    if (!claimed && t->nkeys + 1 > orbit__etcd_txn_max_keys(t->e))
        return too_many_keys(t);
    size_t need = t->nbytes + cost_write(t, kl, vl) - (claimed ? cost_claim(t, kl) : 0);
    if (need > orbit__etcd_txn_max_bytes(t->e))
        return too_many_bytes(t, need);
    /* READ_COMMITTED: a key first used by this write is checked at commit
     * against the mod_revision it has now. */
    if (t->iso == ORBIT_ISO_READ_COMMITTED && !rfound) {
        int64_t mod = 0;
        rc = orbit__etcd_mod_revision(t->e, k, kl, &mod);
        if (!rc)
            rc = record_read(t, k, kl, mod, 0);
        if (rc)
            return rc;
        i = find_w(t, k, kl, &found);
    }
    uint8_t *vc = del ? NULL : dup_bytes(v, vl);
    if (!del && !vc)
        return ORBIT_ENOMEM;
    if (t->nw == t->capw) {
        size_t cap = t->capw ? t->capw * 2 : 8;
        wentry *nw = realloc(t->w, cap * sizeof *nw);
        if (!nw) {
            free(vc);
            return ORBIT_ENOMEM;
        }
        t->w = nw;
        t->capw = cap;
    }
    uint8_t *kc = dup_bytes(k, kl);
    if (!kc) {
        free(vc);
        return ORBIT_ENOMEM;
    }
    memmove(&t->w[i + 1], &t->w[i], (t->nw - i) * sizeof *t->w);
    t->w[i] = (wentry){kc, kl, vc, vl, del};
    t->nw++;
    if (!claimed)
        t->nkeys++;
    t->nbytes = need;
    return ORBIT_OK;
}

int orbit__etcd_txn_put(void *p, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    return txn_write(p, k, kl, v, vl, 0);
}

int orbit__etcd_txn_del(void *p, const uint8_t *k, size_t kl)
{
    return txn_write(p, k, kl, NULL, 0, 1);
}

/* ---- the local-writes cursor merged by txn iterators ------------------- */

static int in_range(const orbit_range *r, const uint8_t *k, size_t kl)
{
    if (r->lo && orbit__key_cmp(k, kl, r->lo, r->lo_len) < 0)
        return 0;
    if (r->hi && orbit__key_cmp(k, kl, r->hi, r->hi_len) >= 0)
        return 0;
    return 1;
}

void orbit__etcd_local_free(etcd_local *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->w[i].k);
        free(l->w[i].v);
    }
    free(l->w);
    free(l);
}

int orbit__etcd_local_peek(etcd_local *l, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl,
                           int *del)
{
    if (l->pos >= l->n)
        return ORBIT_NOTFOUND;
    wentry *w = &l->w[l->pos];
    *k = w->k;
    *kl = w->kl;
    *v = w->v ? w->v : (const uint8_t *)"";
    *vl = w->vl;
    *del = w->del;
    return ORBIT_OK;
}

void orbit__etcd_local_advance(etcd_local *l)
{
    if (l->pos < l->n)
        l->pos++;
}

void orbit__etcd_local_seek(etcd_local *l, const uint8_t *k, size_t kl, int reverse)
{
    /* Entries are in scan order: skip those before k in that order. */
    size_t i = 0;
    while (i < l->n) {
        int c = orbit__key_cmp(l->w[i].k, l->w[i].kl, k, kl);
        if (reverse ? c <= 0 : c >= 0)
            break;
        i++;
    }
    l->pos = i;
}

int orbit__etcd_txn_iter_open(void *p, const orbit_range *r, void **it)
{
    etcd_txn *t = p;
    /* A copy, so writes made while the iterator is open cannot move it. */
    etcd_local *l = calloc(1, sizeof *l);
    if (!l || !(l->w = calloc(t->nw ? t->nw : 1, sizeof *l->w))) {
        free(l);
        return ORBIT_ENOMEM;
    }
    for (size_t j = 0; j < t->nw; j++) {
        wentry *src = &t->w[r->reverse ? t->nw - 1 - j : j];
        if (!in_range(r, src->k, src->kl))
            continue;
        wentry *d = &l->w[l->n];
        d->k = dup_bytes(src->k, src->kl);
        d->v = src->del ? NULL : dup_bytes(src->v, src->vl);
        if (!d->k || (!src->del && !d->v)) {
            free(d->k);
            orbit__etcd_local_free(l);
            return ORBIT_ENOMEM;
        }
        d->kl = src->kl;
        d->vl = src->vl;
        d->del = src->del;
        l->n++;
    }
    /* iter_make owns l from here, also when it fails. */
    return orbit__etcd_iter_make(t->e, t->iso == ORBIT_ISO_SNAPSHOT ? t->rev : 0, r, l, it);
}

/* ---- commit -------------------------------------------------------------- */

/* mods[i] = mod_revision at t->rev of keys[i] (0: absent then), read
 * keys-only in read-only Txns (orbit__etcd_read_many chunks them). */
static int mods_at_rev(etcd_txn *t, const wentry **keys, size_t n, int64_t *mods)
{
    orbit_slice *ks = calloc(n, sizeof *ks);
    orbit_buf *vals = calloc(n, sizeof *vals);
    int *st = calloc(n, sizeof *st);
    int rc = (!ks || !vals || !st) ? ORBIT_ENOMEM : ORBIT_OK;
    if (!rc) {
        for (size_t i = 0; i < n; i++)
            ks[i] = (orbit_slice){keys[i]->k, keys[i]->kl};
        rc = orbit__etcd_read_many(t->e, t->rev, 1, n, ks, vals, st, mods, NULL);
    }
    if (vals)
        for (size_t i = 0; i < n; i++)
            orbit_buf_release(&vals[i]);
    free(st);
    free(vals);
    free(ks);
    return rc;
}

/* A transaction without writes that read keys for update: they must be
 * unchanged at commit, checked by a Txn of compares alone (no writes, so it
 * is safe to resend and needs no commit marker). */
static int validate_only(etcd_txn *t)
{
    size_t n = 0;
    for (size_t j = 0; j < t->nr; j++)
        n += t->r[j].for_update != 0;
    if (n == 0)
        return ORBIT_OK;
    if (n > t->e->max_txn_ops)
        return orbit_error_set(ORBIT_ETOOBIG, "etcd: a commit checking %zu keys exceeds max_txn_ops=%zu", n,
                               t->e->max_txn_ops);
    Etcdserverpb__Compare *cv = calloc(n, sizeof *cv);
    Etcdserverpb__Compare **cp = calloc(n, sizeof *cp);
    orbit_buf *kb = calloc(n, sizeof *kb);
    int rc = (!cv || !cp || !kb) ? ORBIT_ENOMEM : ORBIT_OK;
    size_t m = 0;
    for (size_t j = 0; !rc && j < t->nr; j++) {
        if (!t->r[j].for_update)
            continue;
        rc = orbit__etcd_key(t->e, t->r[j].k, t->r[j].kl, &kb[m]);
        if (rc)
            break;
        etcdserverpb__compare__init(&cv[m]);
        cv[m].result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
        cv[m].target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
        cv[m].key.data = kb[m].data;
        cv[m].key.len = kb[m].len;
        cv[m].target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
        cv[m].mod_revision = t->r[j].mod;
        cp[m] = &cv[m];
        m++;
    }
    uint8_t *req = NULL;
    size_t len = 0;
    if (!rc) {
        Etcdserverpb__TxnRequest tx = ETCDSERVERPB__TXN_REQUEST__INIT;
        tx.n_compare = m;
        tx.compare = cp;
        size_t sz = etcdserverpb__txn_request__get_packed_size(&tx);
        req = malloc(sz ? sz : 1);
        if (!req)
            rc = ORBIT_ENOMEM;
        else
            len = etcdserverpb__txn_request__pack(&tx, req);
    }
    orbit_buf resp = ORBIT_BUF_INIT;
    if (!rc) {
        orbit__rpc_call_opts o;
        orbit__etcd_call_opts(t->e, 1, &o);
        rc = orbit__rpc_call(t->e->rpc, ETCD_M_TXN, req, len, &o, &resp);
    }
    if (!rc) {
        Etcdserverpb__TxnResponse *tr = etcdserverpb__txn_response__unpack(NULL, resp.len, resp.data);
        if (!tr)
            rc = orbit_error_set(ORBIT_EPROTO, "etcd: cannot decode the commit's validation");
        else if (!tr->succeeded)
            rc = orbit_error_set(ORBIT_ECONFLICT,
                                 "etcd: a key this transaction read for update was changed by another writer");
        if (tr)
            etcdserverpb__txn_response__free_unpacked(tr, NULL);
    }
    orbit_buf_release(&resp);
    free(req);
    if (kb)
        for (size_t i = 0; i < n; i++)
            orbit_buf_release(&kb[i]);
    free(kb);
    free(cp);
    free(cv);
    return rc;
}

static int commit(etcd_txn *t, int64_t *rev)
{
    *rev = 0;
    if (t->nw == 0)
        return validate_only(t);
    size_t cap = t->nw + t->nr;
    etcd_cmp *cmps = calloc(cap, sizeof *cmps);
    etcd_wop *ops = calloc(t->nw, sizeof *ops);
    const wentry **unknown = calloc(t->nw, sizeof *unknown);
    size_t *unknown_at = calloc(t->nw, sizeof *unknown_at);
    int64_t *mods = calloc(t->nw, sizeof *mods);
    int rc = (!cmps || !ops || !unknown || !unknown_at || !mods) ? ORBIT_ENOMEM : ORBIT_OK;
    size_t nc = 0, nu = 0;
    for (size_t i = 0; !rc && i < t->nw; i++) {
        wentry *w = &t->w[i];
        ops[i] = (etcd_wop){w->del, w->k, w->kl, w->v, w->vl};
        int found;
        size_t j = find_r(t, w->k, w->kl, &found);
        cmps[nc] = (etcd_cmp){w->k, w->kl, 0};
        /* The mod_revision at the key's first use (SNAPSHOT: at R); a key
         * only SNAPSHOT can have unrecorded is looked up at R below. */
        if (found) {
            cmps[nc].mod = t->r[j].mod;
        } else {
            unknown[nu] = w;
            unknown_at[nu++] = nc;
        }
        nc++;
    }
    for (size_t j = 0; !rc && j < t->nr; j++) {
        if (!t->r[j].for_update)
            continue;
        int found;
        (void)find_w(t, t->r[j].k, t->r[j].kl, &found);
        if (!found)
            cmps[nc++] = (etcd_cmp){t->r[j].k, t->r[j].kl, t->r[j].mod};
    }
    if (!rc && nu)
        rc = mods_at_rev(t, unknown, nu, mods);
    for (size_t i = 0; !rc && i < nu; i++)
        cmps[unknown_at[i]].mod = mods[i];
    if (!rc)
        rc = orbit__etcd_gw_run_rev(t->e, cmps, nc, ops, t->nw, rev);
    free(mods);
    free(unknown_at);
    free(unknown);
    free(ops);
    free(cmps);
    return rc;
}

int orbit__etcd_txn_commit(void *p)
{
    return orbit__etcd_txn_commit_version(p, NULL);
}

int orbit__etcd_txn_commit_version(void *p, uint64_t *version)
{
    etcd_txn *t = p;
    int64_t rev = 0;
    int rc = commit(t, &rev);
    txn_free(t);
    if (version)
        *version = rc == ORBIT_OK && rev > 0 ? (uint64_t)rev : 0;
    return rc;
}

void orbit__etcd_txn_rollback(void *p)
{
    txn_free(p);
}
