/*
 * The contract layer: what every caller of orbit/kv.h goes through before a
 * provider's table is touched.
 *
 * It owns the provider registry and URI opening, refuses incomplete provider
 * tables, validates arguments once (so providers never see an empty key or
 * an inverted range), folds a scan's prefix into [lo, hi) bounds, enforces
 * scan limits (entries and bytes) and keys-only mode, counts statistics with
 * relaxed atomics (exact per field, not a joint picture), and gives every
 * contract-v2 call a generic fallback where the provider has no native form:
 * multi-get key by key, range delete and compare-and-set as bounded-retry
 * transactions, a transaction's range delete as a scan of its view. It runs
 * the asynchronous path inline for providers without one, and runs inline
 * the ops a version-1 native submit cannot take.
 *
 * Invariants: every wrapper object (iterator, snapshot, txn) records the
 * store it came from and the provider object it wraps; a provider object is
 * finished exactly once, by the wrapper's close/release/commit/rollback.
 * Each store keeps its own copy of the provider table, zero beyond what the
 * table's version defines, so a version-1 table is never read past its end
 * and every missing member is simply NULL.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "orbit/provider.h"

/* ---- registry -------------------------------------------------------- */

#define MAX_PROVIDERS 32

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static const orbit_provider *registry[MAX_PROVIDERS];
static size_t nregistry;

static const orbit_provider *find_locked(const char *name)
{
    for (size_t i = 0; i < nregistry; i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

/* The size of the table a provider built for `version` defines. */
static size_t table_size(int version)
{
    if (version >= 4)
        return sizeof(orbit_provider);
    if (version == 3)
        return offsetof(orbit_provider, store_stats);
    if (version == 2)
        return offsetof(orbit_provider, txn_put_untracked);
    return offsetof(orbit_provider, multi_get);
}

/* ORBIT_EINVAL naming the first required member p lacks, else 0. */
static int check_table(const orbit_provider *p)
{
    if (!p)
        return orbit_error_set(ORBIT_EINVAL, "provider table is NULL");
    if (!p->name || !*p->name)
        return orbit_error_set(ORBIT_EINVAL, "provider table has no name");
    if (p->version < 1 || p->version > ORBIT_PROVIDER_VERSION)
        return orbit_error_set(ORBIT_EINVAL, "provider %s: table version %d, this library knows 1..%d",
                               p->name, p->version, ORBIT_PROVIDER_VERSION);
#define REQUIRE(m)                                                                         \
    if (!p->m)                                                                             \
        return orbit_error_set(ORBIT_EINVAL, "provider %s: required member %s is NULL",    \
                               p->name, #m);
    REQUIRE(open) REQUIRE(close) REQUIRE(capabilities) REQUIRE(get) REQUIRE(put) REQUIRE(del)
    REQUIRE(write) REQUIRE(iter_open) REQUIRE(iter_next) REQUIRE(iter_close)
#undef REQUIRE
    if (!p->snapshot_open != !p->snapshot_release)
        return orbit_error_set(ORBIT_EINVAL, "provider %s: member %s is NULL (snapshot_open and "
                               "snapshot_release go together)", p->name,
                               p->snapshot_open ? "snapshot_release" : "snapshot_open");
    const void *txn_members[] = {(const void *)p->txn_begin, (const void *)p->txn_get,
                                 (const void *)p->txn_put, (const void *)p->txn_del,
                                 (const void *)p->txn_iter_open, (const void *)p->txn_commit,
                                 (const void *)p->txn_rollback};
    static const char *const txn_names[] = {"txn_begin", "txn_get", "txn_put", "txn_del",
                                            "txn_iter_open", "txn_commit", "txn_rollback"};
    size_t ntxn = 0, missing = 0;
    for (size_t i = 0; i < 7; i++)
        ntxn += txn_members[i] != NULL;
    if (ntxn && ntxn < 7) {
        for (size_t i = 0; i < 7; i++)
            if (!txn_members[i]) {
                missing = i;
                break;
            }
        return orbit_error_set(ORBIT_EINVAL, "provider %s: member %s is NULL (the txn_* members "
                               "go together, all or none)", p->name, txn_names[missing]);
    }
    if (p->version < 2)
        return ORBIT_OK;
    if (p->snapshot_open && !p->snapshot_version)
        return orbit_error_set(ORBIT_EINVAL, "provider %s: member snapshot_version is NULL "
                               "(required with snapshot_open from version 2)", p->name);
    if (p->snapshot_open_at && !p->snapshot_open)
        return orbit_error_set(ORBIT_EINVAL, "provider %s: member snapshot_open is NULL "
                               "(snapshot_open_at needs the snapshot members)", p->name);
    if (!ntxn && (p->txn_multi_get || p->txn_commit_version || p->txn_delete_range))
        return orbit_error_set(ORBIT_EINVAL, "provider %s: member txn_begin is NULL "
                               "(a txn_* member of version 2 needs transactions)", p->name);
    return ORBIT_OK;
}

int orbit_provider_register(const orbit_provider *p)
{
    int rc = check_table(p);
    if (rc)
        return rc;
    pthread_mutex_lock(&reg_lock);
    if (find_locked(p->name))
        rc = orbit_error_set(ORBIT_EEXIST, "a provider named %s is registered already", p->name);
    else if (nregistry == MAX_PROVIDERS)
        rc = orbit_error_set(ORBIT_ENOMEM, "provider registry is full (%d)", MAX_PROVIDERS);
    else
        registry[nregistry++] = p;
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

const orbit_provider *orbit_provider_find(const char *name)
{
    pthread_mutex_lock(&reg_lock);
    const orbit_provider *p = name ? find_locked(name) : NULL;
    pthread_mutex_unlock(&reg_lock);
    return p;
}

/* ---- the store handle ------------------------------------------------ */

typedef _Atomic uint64_t counter;

struct orbit_kv {
    const orbit_provider *ops; /* &tab */
    orbit_provider tab;        /* the provider's table, zero past its version */
    void *self;
    orbit_capabilities caps;
    struct {
        counter gets, puts, deletes, batches, scans;
        counter txns_begun, txns_committed, txns_rolled_back, txns_conflicted;
        counter keys_read, keys_written, bytes_read, bytes_written;
        counter errors;
        counter read_calls, multi_gets;
    } st;
};

#define BUMP(kv, field, n) atomic_fetch_add_explicit(&(kv)->st.field, (uint64_t)(n), memory_order_relaxed)

/* Count a failed call; pass any rc through. */
static inline int tally(orbit_kv *kv, int rc)
{
    if (rc < 0) {
        BUMP(kv, errors, 1);
        if (rc == ORBIT_ECONFLICT)
            BUMP(kv, txns_conflicted, 1);
    }
    return rc;
}

static int check_key(const uint8_t *key, size_t klen)
{
    if (!key || klen == 0)
        return orbit_error_set(ORBIT_EINVAL, "empty key");
    return ORBIT_OK;
}

static int check_val(const uint8_t *val, size_t vlen)
{
    if (!val && vlen)
        return orbit_error_set(ORBIT_EINVAL, "NULL value with length %zu", vlen);
    return ORBIT_OK;
}

int orbit_kv_open(const char *uri, orbit_kv **out)
{
    if (!out)
        return orbit_error_set(ORBIT_EINVAL, "orbit_kv_open: out is NULL");
    *out = NULL;
    orbit_uri *u = NULL;
    int rc = orbit_uri_parse(uri, &u);
    if (rc)
        return rc;
    const orbit_provider *p = orbit_provider_find(orbit_uri_scheme(u));
    if (!p) {
        rc = orbit_error_set(ORBIT_ENOPROVIDER, "no provider for scheme \"%s\" in store URI \"%s\"",
                             orbit_uri_scheme(u), uri);
        orbit_uri_free(u);
        return rc;
    }
    orbit_kv *kv = calloc(1, sizeof *kv);
    if (!kv) {
        orbit_uri_free(u);
        return ORBIT_ENOMEM;
    }
    memcpy(&kv->tab, p, table_size(p->version));
    kv->ops = &kv->tab;
    orbit_error_clear();
    rc = p->open(u, &kv->self);
    orbit_uri_free(u);
    if (rc) {
        free(kv);
        return rc;
    }
    p->capabilities(kv->self, &kv->caps);
    if (!kv->caps.name)
        kv->caps.name = p->name;
    *out = kv;
    return ORBIT_OK;
}

void orbit_kv_close(orbit_kv *kv)
{
    if (!kv)
        return;
    kv->ops->close(kv->self);
    free(kv);
}

void orbit_kv_capabilities(const orbit_kv *kv, orbit_capabilities *out)
{
    *out = kv->caps;
}

void orbit_kv_stats_get(const orbit_kv *kv, orbit_kv_stats *out)
{
    orbit_kv *k = (orbit_kv *)kv;
#define LOAD(f) out->f = atomic_load_explicit(&k->st.f, memory_order_relaxed)
    LOAD(gets); LOAD(puts); LOAD(deletes); LOAD(batches); LOAD(scans);
    LOAD(txns_begun); LOAD(txns_committed); LOAD(txns_rolled_back); LOAD(txns_conflicted);
    LOAD(keys_read); LOAD(keys_written); LOAD(bytes_read); LOAD(bytes_written);
    LOAD(errors);
    LOAD(read_calls); LOAD(multi_gets);
#undef LOAD
}

/* ---- store statistics (version 4) ------------------------------------ */

int orbit_kv_store_stats(orbit_kv *kv, orbit_store_stats *out)
{
    if (!out)
        return orbit_error_set(ORBIT_EINVAL, "orbit_kv_store_stats: out is NULL");
    out->size_bytes = out->live_bytes = out->keys = out->memtable_bytes = ORBIT_STAT_NONE;
    out->cache_capacity_bytes = out->cache_usage_bytes = ORBIT_STAT_NONE;
    out->cache_hits = out->cache_misses = ORBIT_STAT_NONE;
    out->keys_exact = 0;
    if (!kv)
        return orbit_error_set(ORBIT_EINVAL, "orbit_kv_store_stats: kv is NULL");
    if (!kv->ops->store_stats)
        return orbit_error_set(ORBIT_ENOTSUP, "%s reports no store statistics", kv->ops->name);
    orbit_error_clear();
    return kv->ops->store_stats(kv->self, out);
}

/* ---- snapshots ------------------------------------------------------- */

struct orbit_snapshot {
    orbit_kv *kv;
    void *psnap;
};

int orbit_kv_snapshot(orbit_kv *kv, orbit_snapshot **out)
{
    *out = NULL;
    if (!kv->ops->snapshot_open)
        return tally(kv, orbit_error_set(ORBIT_ENOTSUP, "%s has no snapshots", kv->ops->name));
    orbit_snapshot *s = malloc(sizeof *s);
    if (!s)
        return tally(kv, ORBIT_ENOMEM);
    s->kv = kv;
    int rc = kv->ops->snapshot_open(kv->self, &s->psnap);
    if (rc) {
        free(s);
        return tally(kv, rc);
    }
    *out = s;
    return ORBIT_OK;
}

int orbit_kv_snapshot_at(orbit_kv *kv, uint64_t version, orbit_snapshot **out)
{
    *out = NULL;
    if (!kv->ops->snapshot_open_at)
        return tally(kv, orbit_error_set(ORBIT_ENOTSUP, "%s keeps no history: no snapshot at a "
                                         "given version", kv->ops->name));
    orbit_snapshot *s = malloc(sizeof *s);
    if (!s)
        return tally(kv, ORBIT_ENOMEM);
    s->kv = kv;
    int rc = kv->ops->snapshot_open_at(kv->self, version, &s->psnap);
    if (rc) {
        free(s);
        return tally(kv, rc);
    }
    *out = s;
    return ORBIT_OK;
}

void orbit_snapshot_release(orbit_snapshot *s)
{
    if (!s)
        return;
    s->kv->ops->snapshot_release(s->kv->self, s->psnap);
    free(s);
}

uint64_t orbit_snapshot_version(const orbit_snapshot *s)
{
    if (!s || !s->kv->ops->snapshot_version)
        return 0;
    return s->kv->ops->snapshot_version(s->kv->self, s->psnap);
}

void *orbit_snapshot_object(const orbit_snapshot *s)
{
    return s ? s->psnap : NULL;
}

static int check_snap(const orbit_kv *kv, const orbit_snapshot *s)
{
    if (s && s->kv != kv)
        return orbit_error_set(ORBIT_EINVAL, "snapshot belongs to another store");
    return ORBIT_OK;
}

static int snap_of(orbit_kv *kv, const orbit_read_opts *ro, void **psnap)
{
    *psnap = NULL;
    if (ro && ro->snapshot) {
        int rc = check_snap(kv, ro->snapshot);
        if (rc)
            return rc;
        *psnap = ro->snapshot->psnap;
    }
    return ORBIT_OK;
}

/* ---- point operations ------------------------------------------------ */

/* Wraps the caller's value callback to count what was read. */
typedef struct read_tap {
    orbit_value_fn fn;
    void *arg;
    size_t len;
} read_tap;

static int tap_fn(void *arg, const uint8_t *val, size_t len)
{
    read_tap *t = arg;
    t->len = len;
    return t->fn(t->arg, val, len);
}


int orbit_kv_get_with(orbit_kv *kv, const orbit_read_opts *ro, const uint8_t *key, size_t klen,
                      orbit_value_fn fn, void *arg)
{
    int rc = check_key(key, klen);
    if (rc)
        return tally(kv, rc);
    if (!fn)
        return tally(kv, orbit_error_set(ORBIT_EINVAL, "value callback is NULL"));
    void *psnap;
    if ((rc = snap_of(kv, ro, &psnap)))
        return tally(kv, rc);
    read_tap t = {fn, arg, 0};
    BUMP(kv, gets, 1);
    BUMP(kv, read_calls, 1);
    rc = kv->ops->get(kv->self, psnap, key, klen, tap_fn, &t);
    if (rc == ORBIT_OK) {
        BUMP(kv, keys_read, 1);
        BUMP(kv, bytes_read, t.len);
    }
    return tally(kv, rc);
}

int orbit_kv_get(orbit_kv *kv, const orbit_read_opts *ro, const uint8_t *key, size_t klen,
                 orbit_buf *out)
{
    out->len = 0;
    return orbit_kv_get_with(kv, ro, key, klen, orbit__copy_value_fn, out);
}

int orbit_kv_put(orbit_kv *kv, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    int rc = check_key(key, klen);
    if (!rc)
        rc = check_val(val, vlen);
    if (rc)
        return tally(kv, rc);
    BUMP(kv, puts, 1);
    rc = kv->ops->put(kv->self, key, klen, val ? val : (const uint8_t *)"", vlen);
    if (rc == ORBIT_OK) {
        BUMP(kv, keys_written, 1);
        BUMP(kv, bytes_written, klen + vlen);
    }
    return tally(kv, rc);
}

int orbit_kv_del(orbit_kv *kv, const uint8_t *key, size_t klen)
{
    int rc = check_key(key, klen);
    if (rc)
        return tally(kv, rc);
    BUMP(kv, deletes, 1);
    rc = kv->ops->del(kv->self, key, klen);
    if (rc == ORBIT_OK)
        BUMP(kv, keys_written, 1);
    return tally(kv, rc);
}

/* ---- contract v2: multi-get ------------------------------------------ */

/* Refuse NULL arrays and empty keys before a provider sees them, and empty
 * every output so a provider need only fill what it finds. */
static int check_multi(size_t n, const orbit_slice *keys, orbit_buf *vals, int *status)
{
    if (n && (!keys || !vals || !status))
        return orbit_error_set(ORBIT_EINVAL, "multi-get of %zu keys: keys, vals or status is NULL", n);
    for (size_t i = 0; i < n; i++) {
        if (!keys[i].data || keys[i].len == 0)
            return orbit_error_set(ORBIT_EINVAL, "multi-get: key %zu is empty", i);
    }
    for (size_t i = 0; i < n; i++) {
        vals[i].len = 0;
        status[i] = ORBIT_NOTFOUND;
    }
    return ORBIT_OK;
}

/* Count a multi-get and return its result: 0 or the first negative status. */
static int multi_done(orbit_kv *kv, size_t n, const orbit_buf *vals, const int *status)
{
    int first = ORBIT_OK;
    BUMP(kv, gets, n);
    for (size_t i = 0; i < n; i++) {
        if (status[i] == ORBIT_OK) {
            BUMP(kv, keys_read, 1);
            BUMP(kv, bytes_read, vals[i].len);
        } else if (status[i] < 0 && first == ORBIT_OK) {
            first = status[i];
        }
    }
    return first;
}

int orbit_kv_multi_get(orbit_kv *kv, const orbit_read_opts *ro, size_t n, const orbit_slice *keys,
                       orbit_buf *vals, int *status)
{
    int rc = check_multi(n, keys, vals, status);
    void *psnap = NULL;
    if (!rc)
        rc = snap_of(kv, ro, &psnap);
    if (rc)
        return tally(kv, rc);
    if (n == 0)
        return ORBIT_OK;
    BUMP(kv, multi_gets, 1);
    BUMP(kv, read_calls, kv->ops->multi_get ? 1 : n);
    if (kv->ops->multi_get) {
        rc = kv->ops->multi_get(kv->self, psnap, n, keys, vals, status);
    } else {
        for (size_t i = 0; i < n; i++) {
            status[i] = kv->ops->get(kv->self, psnap, keys[i].data, keys[i].len,
                                     orbit__copy_value_fn, &vals[i]);
            if (status[i] != ORBIT_OK)
                vals[i].len = 0;
        }
    }
    int first = multi_done(kv, n, vals, status);
    return tally(kv, rc < 0 ? rc : first);
}

/* ---- contract v2: range delete and compare-and-set --------------------- */

/* The generic fallbacks run a transaction of their own and retry it this
 * many times when it conflicts. */
#define FALLBACK_ATTEMPTS 16

/*
 * [start, end) of a range delete into r (end NULL or empty: no upper bound).
 * 0, ORBIT_NOTFOUND when the range holds no key (start >= end), or
 * ORBIT_EINVAL.
 */
static int make_del_range(const uint8_t *start, size_t slen, const uint8_t *end, size_t elen,
                          orbit_range *r)
{
    memset(r, 0, sizeof *r);
    if (!start || slen == 0)
        return orbit_error_set(ORBIT_EINVAL, "range delete: empty start key");
    if (!end && elen)
        return orbit_error_set(ORBIT_EINVAL, "range delete: NULL end with length %zu", elen);
    r->lo = start;
    r->lo_len = slen;
    if (end && elen) {
        if (orbit__key_cmp(start, slen, end, elen) >= 0)
            return ORBIT_NOTFOUND;
        r->hi = end;
        r->hi_len = elen;
    }
    return ORBIT_OK;
}

/* Keys copied out of a scan, back to back in one buffer. */
typedef struct keylist {
    orbit_buf data;
    size_t *off; /* n + 1 entries once n > 0: key i is [off[i], off[i+1]) */
    size_t n, cap;
} keylist;

static int keylist_add(keylist *l, const uint8_t *k, size_t kl)
{
    if (l->n + 2 > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        size_t *o = realloc(l->off, cap * sizeof *o);
        if (!o)
            return ORBIT_ENOMEM;
        l->off = o;
        l->cap = cap;
    }
    int rc = orbit_buf_append(&l->data, k, kl);
    if (rc)
        return rc;
    if (l->n == 0)
        l->off[0] = 0;
    l->off[++l->n] = l->data.len;
    return ORBIT_OK;
}

static void keylist_release(keylist *l)
{
    orbit_buf_release(&l->data);
    free(l->off);
    memset(l, 0, sizeof *l);
}

/* Every key of the provider transaction's view in r, copied (the scan is
 * finished before any of them is written, so no provider sees its own
 * transaction change under an open iterator). */
static int txn_scan_keys(orbit_kv *kv, void *ptxn, const orbit_range *r, keylist *out)
{
    orbit_range rr = *r;
    rr.reverse = 0;
    rr.keys_only = 1;
    rr.limit = rr.max_bytes = 0;
    void *it;
    int rc = kv->ops->txn_iter_open(ptxn, &rr, &it);
    if (rc)
        return rc;
    const uint8_t *k, *v;
    size_t kl, vl;
    while ((rc = kv->ops->iter_next(it, &k, &kl, &v, &vl)) == ORBIT_OK)
        if ((rc = keylist_add(out, k, kl)) != ORBIT_OK)
            break;
    kv->ops->iter_close(it);
    return rc == ORBIT_NOTFOUND ? ORBIT_OK : rc;
}

/* Delete the transaction's keys in r one by one; *ndel counts them. */
static int txn_delete_keys(orbit_kv *kv, void *ptxn, const orbit_range *r, size_t *ndel)
{
    keylist l = {0};
    int rc = txn_scan_keys(kv, ptxn, r, &l);
    *ndel = 0;
    for (size_t i = 0; rc == ORBIT_OK && i < l.n; i++) {
        rc = kv->ops->txn_del(ptxn, l.data.data + l.off[i], l.off[i + 1] - l.off[i]);
        if (rc == ORBIT_OK)
            (*ndel)++;
    }
    keylist_release(&l);
    return rc;
}

/* A transaction of the contract layer's own: snapshot isolation where the
 * provider offers it, else read-committed. Not counted in the statistics. */
static int own_txn_begin(orbit_kv *kv, void **ptxn)
{
    orbit_txn_opts o = {0};
    if (!(kv->caps.isolation_levels & ORBIT_ISO_BIT(ORBIT_ISO_SNAPSHOT)))
        o.isolation = ORBIT_ISO_READ_COMMITTED;
    return kv->ops->txn_begin(kv->self, &o, ptxn);
}

static int out_of_attempts(const char *what)
{
    return orbit_error_set(ORBIT_ECONFLICT, "%s: the transaction still conflicted after %d attempts",
                           what, FALLBACK_ATTEMPTS);
}

/* Range delete as a transaction: scan keys-only, delete each, commit. */
static int delete_range_txn(orbit_kv *kv, const orbit_range *r, size_t *ndel)
{
    for (int attempt = 0; attempt < FALLBACK_ATTEMPTS; attempt++) {
        void *t;
        int rc = own_txn_begin(kv, &t);
        if (rc)
            return rc;
        rc = txn_delete_keys(kv, t, r, ndel);
        if (rc) {
            kv->ops->txn_rollback(t);
        } else {
            rc = kv->ops->txn_commit(t);
        }
        if (rc != ORBIT_ECONFLICT)
            return rc;
    }
    return out_of_attempts("range delete");
}

int orbit_kv_delete_range(orbit_kv *kv, const uint8_t *start, size_t slen, const uint8_t *end,
                          size_t elen)
{
    orbit_range r;
    int rc = make_del_range(start, slen, end, elen, &r);
    if (rc == ORBIT_NOTFOUND)
        return ORBIT_OK;
    if (rc)
        return tally(kv, rc);
    if (!kv->ops->delete_range && !kv->ops->txn_begin)
        return tally(kv, orbit_error_set(ORBIT_ENOTSUP, "%s has neither range deletes nor transactions",
                                         kv->ops->name));
    BUMP(kv, deletes, 1);
    size_t ndel = 0;
    if (kv->ops->delete_range)
        rc = kv->ops->delete_range(kv->self, &r);
    else
        rc = delete_range_txn(kv, &r, &ndel);
    if (rc == ORBIT_OK)
        BUMP(kv, keys_written, ndel);
    return tally(kv, rc);
}

static int same_bytes(const orbit_buf *b, const orbit_slice *s)
{
    return b->len == s->len && (s->len == 0 || memcmp(b->data, s->data, s->len) == 0);
}

/* Compare-and-set as a transaction: get_for_update, compare, write, commit. */
static int cas_txn(orbit_kv *kv, const uint8_t *key, size_t klen, const orbit_slice *expected,
                   const orbit_slice *desired, orbit_buf *current)
{
    orbit_buf cur = ORBIT_BUF_INIT;
    int rc = ORBIT_ECONFLICT;
    for (int attempt = 0; attempt < FALLBACK_ATTEMPTS; attempt++) {
        void *t;
        if ((rc = own_txn_begin(kv, &t)))
            break;
        cur.len = 0;
        rc = kv->ops->txn_get(t, key, klen, 1, orbit__copy_value_fn, &cur);
        int outcome = ORBIT_OK;
        if (rc == ORBIT_OK)
            outcome = (!expected || !same_bytes(&cur, expected)) ? ORBIT_CMPFAIL : ORBIT_OK;
        else if (rc == ORBIT_NOTFOUND)
            outcome = expected ? ORBIT_NOTFOUND : ORBIT_OK;
        if (rc < 0 || outcome != ORBIT_OK) {
            kv->ops->txn_rollback(t);
            if (rc == ORBIT_ECONFLICT)
                continue;
            if (rc >= 0) {
                rc = outcome;
                if (outcome == ORBIT_CMPFAIL && current && orbit_buf_set(current, cur.data, cur.len))
                    rc = ORBIT_ENOMEM;
            }
            break;
        }
        if (desired)
            rc = kv->ops->txn_put(t, key, klen, desired->data, desired->len);
        else
            rc = kv->ops->txn_del(t, key, klen);
        if (rc) {
            kv->ops->txn_rollback(t);
            if (rc == ORBIT_ECONFLICT)
                continue;
            break;
        }
        rc = kv->ops->txn_commit(t);
        if (rc != ORBIT_ECONFLICT)
            break;
    }
    if (rc == ORBIT_ECONFLICT)
        rc = out_of_attempts("compare-and-set");
    orbit_buf_release(&cur);
    return rc;
}

/* A slice argument: NULL stays NULL (absent); a NULL pointer with length 0
 * becomes "" so providers always get a pointer. */
static int norm_slice(const orbit_slice *in, orbit_slice *tmp, const orbit_slice **out, const char *what)
{
    *out = NULL;
    if (!in)
        return ORBIT_OK;
    if (!in->data && in->len)
        return orbit_error_set(ORBIT_EINVAL, "compare-and-set: %s is NULL with length %zu", what, in->len);
    tmp->data = in->data ? in->data : (const uint8_t *)"";
    tmp->len = in->len;
    *out = tmp;
    return ORBIT_OK;
}

int orbit_kv_cas(orbit_kv *kv, const uint8_t *key, size_t klen, const orbit_slice *expected,
                 const orbit_slice *desired, orbit_buf *current)
{
    if (current)
        current->len = 0;
    orbit_slice e, d;
    const orbit_slice *ep, *dp;
    int rc = check_key(key, klen);
    if (!rc)
        rc = norm_slice(expected, &e, &ep, "expected");
    if (!rc)
        rc = norm_slice(desired, &d, &dp, "desired");
    if (rc)
        return tally(kv, rc);
    if (!kv->ops->cas && !kv->ops->txn_begin)
        return tally(kv, orbit_error_set(ORBIT_ENOTSUP, "%s has neither compare-and-set nor transactions",
                                         kv->ops->name));
    if (dp)
        BUMP(kv, puts, 1);
    else
        BUMP(kv, deletes, 1);
    if (kv->ops->cas)
        rc = kv->ops->cas(kv->self, key, klen, ep, dp, current);
    else
        rc = cas_txn(kv, key, klen, ep, dp, current);
    if (rc == ORBIT_OK) {
        BUMP(kv, keys_written, 1);
        BUMP(kv, bytes_written, dp ? klen + dp->len : 0);
    } else if (rc != ORBIT_CMPFAIL && current) {
        current->len = 0;
    }
    return tally(kv, rc);
}

int orbit_kv_put_if_absent(orbit_kv *kv, const uint8_t *key, size_t klen, const uint8_t *val,
                           size_t vlen, orbit_buf *current)
{
    if (!val && vlen) {
        if (current)
            current->len = 0;
        return tally(kv, orbit_error_set(ORBIT_EINVAL, "NULL value with length %zu", vlen));
    }
    orbit_slice d = {val, vlen};
    return orbit_kv_cas(kv, key, klen, NULL, &d, current);
}

/* ---- batches --------------------------------------------------------- */

typedef struct batch_rec {
    orbit_op_type type;
    size_t koff, klen, voff, vlen;
} batch_rec;

struct orbit_batch {
    batch_rec *recs;
    size_t n, cap;
    size_t nranges; /* ORBIT_OP_DEL_RANGE entries */
    orbit_buf data; /* keys and values (a range's end), back to back */
};

int orbit_batch_new(orbit_batch **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? ORBIT_OK : ORBIT_ENOMEM;
}

void orbit_batch_free(orbit_batch *b)
{
    if (!b)
        return;
    free(b->recs);
    orbit_buf_release(&b->data);
    free(b);
}

void orbit_batch_clear(orbit_batch *b)
{
    b->n = 0;
    b->nranges = 0;
    b->data.len = 0;
}

size_t orbit_batch_count(const orbit_batch *b)
{
    return b->n;
}

static int batch_add(orbit_batch *b, orbit_op_type type, const uint8_t *key, size_t klen,
                     const uint8_t *val, size_t vlen)
{
    int rc = check_key(key, klen);
    if (!rc)
        rc = check_val(val, vlen);
    if (rc)
        return rc;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        batch_rec *r = realloc(b->recs, cap * sizeof *r);
        if (!r)
            return ORBIT_ENOMEM;
        b->recs = r;
        b->cap = cap;
    }
    size_t mark = b->data.len;
    if ((rc = orbit_buf_reserve(&b->data, klen + vlen)))
        return rc;
    orbit_buf_append(&b->data, key, klen);
    orbit_buf_append(&b->data, val, vlen);
    b->recs[b->n++] = (batch_rec){type, mark, klen, mark + klen, vlen};
    if (type == ORBIT_OP_DEL_RANGE)
        b->nranges++;
    return ORBIT_OK;
}

int orbit_batch_put(orbit_batch *b, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    return batch_add(b, ORBIT_OP_PUT, key, klen, val, vlen);
}

int orbit_batch_del(orbit_batch *b, const uint8_t *key, size_t klen)
{
    return batch_add(b, ORBIT_OP_DEL, key, klen, NULL, 0);
}

int orbit_batch_delete_range(orbit_batch *b, const uint8_t *start, size_t slen, const uint8_t *end,
                             size_t elen)
{
    orbit_range r;
    int rc = make_del_range(start, slen, end, elen, &r);
    if (rc == ORBIT_NOTFOUND)
        return ORBIT_OK; /* an empty range deletes nothing: no entry */
    if (rc)
        return rc;
    return batch_add(b, ORBIT_OP_DEL_RANGE, r.lo, r.lo_len, r.hi, r.hi_len);
}

void orbit_batch_entry_at(const orbit_batch *b, size_t i, orbit_batch_entry *e)
{
    const batch_rec *r = &b->recs[i];
    e->type = r->type;
    e->key = b->data.data + r->koff;
    e->klen = r->klen;
    if (r->vlen)
        e->val = b->data.data + r->voff;
    else
        e->val = r->type == ORBIT_OP_DEL_RANGE ? NULL : (const uint8_t *)"";
    e->vlen = r->vlen;
}

int orbit_kv_write_version(orbit_kv *kv, const orbit_batch *b, uint64_t *version)
{
    if (version)
        *version = 0;
    if (!b)
        return tally(kv, orbit_error_set(ORBIT_EINVAL, "batch is NULL"));
    if (kv->caps.max_batch_ops && b->n > kv->caps.max_batch_ops)
        return tally(kv, orbit_error_set(ORBIT_ETOOBIG, "batch of %zu operations exceeds %s's limit of %zu",
                                         b->n, kv->ops->name, kv->caps.max_batch_ops));
    if (b->nranges && !kv->caps.supports_batch_range_delete)
        return tally(kv, orbit_error_set(ORBIT_ENOTSUP, "%s cannot delete a range inside a batch",
                                         kv->ops->name));
    if (b->n == 0)
        return ORBIT_OK;
    BUMP(kv, batches, 1);
    uint64_t v = 0;
    int rc = kv->ops->write_version ? kv->ops->write_version(kv->self, b, &v)
                                    : kv->ops->write(kv->self, b);
    if (rc == ORBIT_OK) {
        BUMP(kv, keys_written, b->n);
        BUMP(kv, bytes_written, b->data.len);
        if (version)
            *version = v;
    }
    return tally(kv, rc);
}

int orbit_kv_write(orbit_kv *kv, const orbit_batch *b)
{
    return orbit_kv_write_version(kv, b, NULL);
}

/* ---- ranges and iterators -------------------------------------------- */

struct orbit_iter {
    orbit_kv *kv;
    void *pit;         /* NULL: the range is empty */
    size_t limit, seen;
    size_t max_bytes, bytes; /* key + value bytes returned so far */
    int keys_only;
    int failed;
    uint8_t *succ;     /* prefix successor, owned: hi may point into it */
};

/*
 * Fold so's start/end/prefix into r. Returns 0, or ORBIT_NOTFOUND when the
 * range is empty. *succ receives an allocation that r->hi may point into.
 */
static int make_range(const orbit_scan_opts *so, orbit_range *r, uint8_t **succ)
{
    memset(r, 0, sizeof *r);
    *succ = NULL;
    if (!so)
        return ORBIT_OK;
    if ((so->start_len && !so->start) || (so->end_len && !so->end) || (so->prefix_len && !so->prefix))
        return orbit_error_set(ORBIT_EINVAL, "scan bound pointer is NULL with a non-zero length");
    r->reverse = so->reverse;
    r->limit = so->limit;
    r->max_bytes = so->max_bytes;
    r->keys_only = so->keys_only != 0;
    if (so->start && so->start_len) {
        r->lo = so->start;
        r->lo_len = so->start_len;
    }
    if (so->end) {
        if (so->end_len == 0)
            return ORBIT_NOTFOUND; /* k < "" holds for no key */
        r->hi = so->end;
        r->hi_len = so->end_len;
    }
    if (so->prefix && so->prefix_len) {
        const uint8_t *p = so->prefix;
        size_t n = so->prefix_len;
        if (!r->lo || orbit__key_cmp(r->lo, r->lo_len, p, n) < 0) {
            r->lo = p;
            r->lo_len = n;
        }
        uint8_t *s = malloc(n);
        if (!s)
            return ORBIT_ENOMEM;
        size_t m = orbit__prefix_successor(p, n, s);
        *succ = s;
        if (m > 0) {
            if (!r->hi || orbit__key_cmp(s, m, r->hi, r->hi_len) < 0) {
                r->hi = s;
                r->hi_len = m;
            }
        }
    }
    if (r->lo && r->hi && orbit__key_cmp(r->lo, r->lo_len, r->hi, r->hi_len) >= 0)
        return ORBIT_NOTFOUND;
    return ORBIT_OK;
}


static int iter_start(orbit_kv *kv, const orbit_scan_opts *so, int (*opener)(void *, void *, const orbit_range *, void **),
                      void *obj, void *psnap, int is_txn, orbit_iter **out)
{
    *out = NULL;
    orbit_iter *it = calloc(1, sizeof *it);
    if (!it)
        return ORBIT_ENOMEM;
    it->kv = kv;
    it->limit = so ? so->limit : 0;
    it->max_bytes = so ? so->max_bytes : 0;
    it->keys_only = so ? so->keys_only != 0 : 0;
    orbit_range r;
    int rc = make_range(so, &r, &it->succ);
    if (rc < 0) {
        free(it);
        return rc;
    }
    if (rc == ORBIT_OK) {
        rc = is_txn ? kv->ops->txn_iter_open(obj, &r, &it->pit) : opener(obj, psnap, &r, &it->pit);
        if (rc) {
            free(it->succ);
            free(it);
            return rc;
        }
    }
    BUMP(kv, scans, 1);
    BUMP(kv, read_calls, 1);
    *out = it;
    return ORBIT_OK;
}

int orbit_kv_iter(orbit_kv *kv, const orbit_read_opts *ro, const orbit_scan_opts *so, orbit_iter **out)
{
    void *psnap;
    int rc = snap_of(kv, ro, &psnap);
    if (rc)
        return tally(kv, rc);
    return tally(kv, iter_start(kv, so, kv->ops->iter_open, kv->self, psnap, 0, out));
}

int orbit_iter_next(orbit_iter *it, const uint8_t **key, size_t *klen, const uint8_t **val, size_t *vlen)
{
    if (it->failed)
        return orbit_error_set(ORBIT_ECLOSED, "iterator failed earlier; close it");
    if (!it->pit || (it->limit && it->seen >= it->limit) ||
        (it->max_bytes && it->bytes >= it->max_bytes))
        return ORBIT_NOTFOUND;
    int rc = it->kv->ops->iter_next(it->pit, key, klen, val, vlen);
    if (rc == ORBIT_OK) {
        if (it->keys_only) {
            *val = (const uint8_t *)"";
            *vlen = 0;
        }
        it->seen++;
        it->bytes += *klen + *vlen;
        BUMP(it->kv, keys_read, 1);
        BUMP(it->kv, bytes_read, *vlen);
    } else if (rc < 0) {
        it->failed = 1;
    }
    return tally(it->kv, rc);
}

int orbit_iter_seek(orbit_iter *it, const uint8_t *key, size_t klen)
{
    if (it->failed)
        return orbit_error_set(ORBIT_ECLOSED, "iterator failed earlier; close it");
    int rc = check_key(key, klen);
    if (rc)
        return tally(it->kv, rc);
    if (!it->kv->ops->iter_seek)
        return tally(it->kv, orbit_error_set(ORBIT_ENOTSUP, "%s iterators cannot seek", it->kv->ops->name));
    if (!it->pit)
        return ORBIT_OK; /* an empty range stays empty wherever one seeks */
    BUMP(it->kv, read_calls, 1);
    rc = it->kv->ops->iter_seek(it->pit, key, klen);
    if (rc < 0)
        it->failed = 1;
    return tally(it->kv, rc);
}

void orbit_iter_close(orbit_iter *it)
{
    if (!it)
        return;
    if (it->pit)
        it->kv->ops->iter_close(it->pit);
    free(it->succ);
    free(it);
}

/* ---- transactions ---------------------------------------------------- */

struct orbit_txn {
    orbit_kv *kv;
    void *ptxn;
};

int orbit_kv_txn_begin(orbit_kv *kv, const orbit_txn_opts *opts, orbit_txn **out)
{
    *out = NULL;
    if (!kv->ops->txn_begin)
        return tally(kv, orbit_error_set(ORBIT_ENOTSUP, "%s has no transactions", kv->ops->name));
    orbit_txn_opts o = {0};
    if (opts)
        o = *opts;
    if (o.isolation != ORBIT_ISO_SNAPSHOT && o.isolation != ORBIT_ISO_READ_COMMITTED &&
        o.isolation != ORBIT_ISO_SERIALIZABLE)
        return tally(kv, orbit_error_set(ORBIT_EINVAL, "unknown isolation level %d", (int)o.isolation));
    if (!(kv->caps.isolation_levels & ORBIT_ISO_BIT(o.isolation)))
        return tally(kv, orbit_error_set(ORBIT_ENOTSUP, "%s does not offer isolation level %d",
                                         kv->ops->name, (int)o.isolation));
    orbit_txn *t = malloc(sizeof *t);
    if (!t)
        return tally(kv, ORBIT_ENOMEM);
    t->kv = kv;
    int rc = kv->ops->txn_begin(kv->self, &o, &t->ptxn);
    if (rc) {
        free(t);
        return tally(kv, rc);
    }
    BUMP(kv, txns_begun, 1);
    *out = t;
    return ORBIT_OK;
}

static int txn_read(orbit_txn *t, const uint8_t *key, size_t klen, int for_update, orbit_value_fn fn, void *arg)
{
    orbit_kv *kv = t->kv;
    int rc = check_key(key, klen);
    if (rc)
        return tally(kv, rc);
    read_tap tp = {fn, arg, 0};
    BUMP(kv, gets, 1);
    BUMP(kv, read_calls, 1);
    rc = kv->ops->txn_get(t->ptxn, key, klen, for_update, tap_fn, &tp);
    if (rc == ORBIT_OK) {
        BUMP(kv, keys_read, 1);
        BUMP(kv, bytes_read, tp.len);
    }
    return tally(kv, rc);
}

int orbit_txn_get_with(orbit_txn *t, const uint8_t *key, size_t klen, orbit_value_fn fn, void *arg)
{
    if (!fn)
        return tally(t->kv, orbit_error_set(ORBIT_EINVAL, "value callback is NULL"));
    return txn_read(t, key, klen, 0, fn, arg);
}

int orbit_txn_get(orbit_txn *t, const uint8_t *key, size_t klen, orbit_buf *out)
{
    out->len = 0;
    return txn_read(t, key, klen, 0, orbit__copy_value_fn, out);
}

int orbit_txn_get_for_update(orbit_txn *t, const uint8_t *key, size_t klen, orbit_buf *out)
{
    out->len = 0;
    return txn_read(t, key, klen, 1, orbit__copy_value_fn, out);
}

int orbit_txn_put(orbit_txn *t, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    orbit_kv *kv = t->kv;
    int rc = check_key(key, klen);
    if (!rc)
        rc = check_val(val, vlen);
    if (rc)
        return tally(kv, rc);
    BUMP(kv, puts, 1);
    return tally(kv, kv->ops->txn_put(t->ptxn, key, klen, val ? val : (const uint8_t *)"", vlen));
}

int orbit_txn_del(orbit_txn *t, const uint8_t *key, size_t klen)
{
    orbit_kv *kv = t->kv;
    int rc = check_key(key, klen);
    if (rc)
        return tally(kv, rc);
    BUMP(kv, deletes, 1);
    return tally(kv, kv->ops->txn_del(t->ptxn, key, klen));
}

int orbit_txn_put_untracked(orbit_txn *t, const uint8_t *key, size_t klen, const uint8_t *val,
                            size_t vlen)
{
    orbit_kv *kv = t->kv;
    int rc = check_key(key, klen);
    if (!rc)
        rc = check_val(val, vlen);
    if (rc)
        return tally(kv, rc);
    BUMP(kv, puts, 1);
    const uint8_t *v = val ? val : (const uint8_t *)"";
    rc = kv->ops->txn_put_untracked ? kv->ops->txn_put_untracked(t->ptxn, key, klen, v, vlen)
                                    : kv->ops->txn_put(t->ptxn, key, klen, v, vlen);
    return tally(kv, rc);
}

int orbit_txn_del_untracked(orbit_txn *t, const uint8_t *key, size_t klen)
{
    orbit_kv *kv = t->kv;
    int rc = check_key(key, klen);
    if (rc)
        return tally(kv, rc);
    BUMP(kv, deletes, 1);
    rc = kv->ops->txn_del_untracked ? kv->ops->txn_del_untracked(t->ptxn, key, klen)
                                    : kv->ops->txn_del(t->ptxn, key, klen);
    return tally(kv, rc);
}

int orbit_txn_iter(orbit_txn *t, const orbit_scan_opts *so, orbit_iter **out)
{
    return tally(t->kv, iter_start(t->kv, so, NULL, t->ptxn, NULL, 1, out));
}

int orbit_txn_multi_get(orbit_txn *t, size_t n, const orbit_slice *keys, orbit_buf *vals, int *status)
{
    orbit_kv *kv = t->kv;
    int rc = check_multi(n, keys, vals, status);
    if (rc)
        return tally(kv, rc);
    if (n == 0)
        return ORBIT_OK;
    BUMP(kv, multi_gets, 1);
    BUMP(kv, read_calls, kv->ops->txn_multi_get ? 1 : n);
    if (kv->ops->txn_multi_get) {
        rc = kv->ops->txn_multi_get(t->ptxn, n, keys, vals, status);
    } else {
        for (size_t i = 0; i < n; i++) {
            status[i] = kv->ops->txn_get(t->ptxn, keys[i].data, keys[i].len, 0,
                                         orbit__copy_value_fn, &vals[i]);
            if (status[i] != ORBIT_OK)
                vals[i].len = 0;
        }
    }
    int first = multi_done(kv, n, vals, status);
    return tally(kv, rc < 0 ? rc : first);
}

int orbit_txn_delete_range(orbit_txn *t, const uint8_t *start, size_t slen, const uint8_t *end,
                           size_t elen)
{
    orbit_kv *kv = t->kv;
    orbit_range r;
    int rc = make_del_range(start, slen, end, elen, &r);
    if (rc == ORBIT_NOTFOUND)
        return ORBIT_OK;
    if (rc)
        return tally(kv, rc);
    BUMP(kv, deletes, 1);
    size_t ndel;
    if (kv->ops->txn_delete_range)
        rc = kv->ops->txn_delete_range(t->ptxn, &r);
    else
        rc = txn_delete_keys(kv, t->ptxn, &r, &ndel);
    return tally(kv, rc);
}

int orbit_txn_commit_version(orbit_txn *t, uint64_t *version)
{
    orbit_kv *kv = t->kv;
    uint64_t v = 0;
    int rc = kv->ops->txn_commit_version ? kv->ops->txn_commit_version(t->ptxn, &v)
                                         : kv->ops->txn_commit(t->ptxn);
    free(t);
    if (version)
        *version = rc == ORBIT_OK ? v : 0;
    if (rc == ORBIT_OK)
        BUMP(kv, txns_committed, 1);
    return tally(kv, rc);
}

int orbit_txn_commit(orbit_txn *t)
{
    return orbit_txn_commit_version(t, NULL);
}

void orbit_txn_rollback(orbit_txn *t)
{
    if (!t)
        return;
    orbit_kv *kv = t->kv;
    kv->ops->txn_rollback(t->ptxn);
    free(t);
    BUMP(kv, txns_rolled_back, 1);
}

/* ---- asynchronous path ----------------------------------------------- */

/*
 * A submission in flight. With a version-1 native provider the ops it
 * cannot take (snapshot GETs, WRITE, MULTI_GET) run inline on the calling
 * thread while the provider works on copies of the rest; `pending` counts
 * the two halves, and whichever finishes last copies nothing more and calls
 * the caller's done with the caller's own array.
 */
typedef struct submit_tap {
    orbit_kv *kv;
    orbit_kv_done_fn done;
    void *arg;
    orbit_kv_op *ops;   /* the caller's */
    size_t n;
    orbit_kv_op *sent;  /* copies given to the provider, or NULL (ops itself) */
    size_t *idx;        /* sent[j] is ops[idx[j]] */
    atomic_int pending;
} submit_tap;

/* Count completed ops with the same rules as the synchronous calls. */
static void count_ops(orbit_kv *kv, const orbit_kv_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const orbit_kv_op *op = &ops[i];
        switch (op->type) {
        case ORBIT_OP_GET:
            BUMP(kv, gets, 1);
            BUMP(kv, read_calls, 1);
            if (op->result == ORBIT_OK) {
                BUMP(kv, keys_read, 1);
                BUMP(kv, bytes_read, op->out->len);
            }
            break;
        case ORBIT_OP_PUT:
            BUMP(kv, puts, 1);
            if (op->result == ORBIT_OK) {
                BUMP(kv, keys_written, 1);
                BUMP(kv, bytes_written, op->klen + op->vlen);
            }
            break;
        case ORBIT_OP_DEL:
            BUMP(kv, deletes, 1);
            if (op->result == ORBIT_OK)
                BUMP(kv, keys_written, 1);
            break;
        case ORBIT_OP_WRITE:
            if (op->batch->n == 0)
                break;
            BUMP(kv, batches, 1);
            if (op->result == ORBIT_OK) {
                BUMP(kv, keys_written, op->batch->n);
                BUMP(kv, bytes_written, op->batch->data.len);
            }
            break;
        case ORBIT_OP_MULTI_GET:
            BUMP(kv, multi_gets, 1);
            BUMP(kv, read_calls, 1);
            (void)multi_done(kv, op->nkeys, op->vals, op->status);
            break;
        default:
            break;
        }
        if (op->result < 0)
            BUMP(kv, errors, 1);
    }
}

static void tap_finish(submit_tap *tap)
{
    if (atomic_fetch_sub_explicit(&tap->pending, 1, memory_order_acq_rel) != 1)
        return;
    orbit_kv_done_fn done = tap->done;
    void *user = tap->arg;
    orbit_kv_op *ops = tap->ops;
    size_t n = tap->n;
    free(tap->sent);
    free(tap->idx);
    free(tap);
    done(user, ops, n);
}

/* Native completions arrive on a provider thread: count them there, copy
 * results back to the caller's ops if the provider had copies, hand over. */
static void submit_done(void *arg, orbit_kv_op *ops, size_t n)
{
    submit_tap *tap = arg;
    count_ops(tap->kv, ops, n);
    if (tap->sent) {
        for (size_t j = 0; j < n; j++) {
            orbit_kv_op *dst = &tap->ops[tap->idx[j]];
            dst->result = ops[j].result;
            memcpy(dst->detail, ops[j].detail, sizeof dst->detail);
        }
    }
    tap_finish(tap);
}

static int check_op(orbit_kv *kv, const orbit_kv_op *op, size_t i)
{
    int rc = ORBIT_OK;
    switch (op->type) {
    case ORBIT_OP_GET:
        rc = check_key(op->key, op->klen);
        if (!rc && !op->out)
            rc = orbit_error_set(ORBIT_EINVAL, "submit: GET op %zu has no out buffer", i);
        if (!rc)
            rc = check_snap(kv, op->snapshot);
        break;
    case ORBIT_OP_PUT:
        rc = check_key(op->key, op->klen);
        if (!rc)
            rc = check_val(op->val, op->vlen);
        break;
    case ORBIT_OP_DEL:
        rc = check_key(op->key, op->klen);
        break;
    case ORBIT_OP_WRITE:
        if (!op->batch)
            rc = orbit_error_set(ORBIT_EINVAL, "submit: WRITE op %zu has no batch", i);
        break;
    case ORBIT_OP_MULTI_GET:
        if (op->nkeys && (!op->keys || !op->vals || !op->status))
            rc = orbit_error_set(ORBIT_EINVAL, "submit: MULTI_GET op %zu lacks keys, vals or status", i);
        for (size_t j = 0; !rc && j < op->nkeys; j++)
            if (!op->keys[j].data || op->keys[j].len == 0)
                rc = orbit_error_set(ORBIT_EINVAL, "submit: MULTI_GET op %zu: key %zu is empty", i, j);
        if (!rc)
            rc = check_snap(kv, op->snapshot);
        break;
    default:
        rc = orbit_error_set(ORBIT_EINVAL, "submit: op %zu has unknown type %d", i, (int)op->type);
        break;
    }
    return rc;
}

/* One op through the synchronous calls (which count it). */
static void run_inline(orbit_kv *kv, orbit_kv_op *op)
{
    orbit_read_opts ro = {op->snapshot};
    switch (op->type) {
    case ORBIT_OP_GET: op->result = orbit_kv_get(kv, &ro, op->key, op->klen, op->out); break;
    case ORBIT_OP_PUT: op->result = orbit_kv_put(kv, op->key, op->klen, op->val, op->vlen); break;
    case ORBIT_OP_DEL: op->result = orbit_kv_del(kv, op->key, op->klen); break;
    case ORBIT_OP_WRITE: op->result = orbit_kv_write(kv, op->batch); break;
    case ORBIT_OP_MULTI_GET:
        op->result = orbit_kv_multi_get(kv, &ro, op->nkeys, op->keys, op->vals, op->status);
        break;
    default: op->result = orbit_error_set(ORBIT_EINTERNAL, "op type %d", (int)op->type); break;
    }
    if (op->result < 0)
        orbit_op_take_detail(op);
}

/* Whether the native submit may take op: a version-1 table knows only
 * GET (without a snapshot), PUT and DEL; a batch that orbit_kv_write would
 * refuse (too many entries, a range the provider cannot delete in a batch)
 * runs inline, so it completes with the same error as the synchronous
 * call. */
static int native_takes(const orbit_kv *kv, const orbit_kv_op *op)
{
    if (op->type == ORBIT_OP_WRITE &&
        ((kv->caps.max_batch_ops && op->batch->n > kv->caps.max_batch_ops) ||
         (op->batch->nranges && !kv->caps.supports_batch_range_delete)))
        return 0;
    if (kv->ops->version >= 2)
        return 1;
    return (op->type == ORBIT_OP_GET && !op->snapshot) || op->type == ORBIT_OP_PUT ||
           op->type == ORBIT_OP_DEL;
}

int orbit_kv_submit(orbit_kv *kv, orbit_kv_op *ops, size_t n, orbit_kv_done_fn done, void *arg)
{
    if (!done || (n && !ops))
        return tally(kv, orbit_error_set(ORBIT_EINVAL, "submit: NULL ops or callback"));
    size_t nnative = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = check_op(kv, &ops[i], i);
        if (rc)
            return tally(kv, rc);
        if (kv->ops->submit && native_takes(kv, &ops[i]))
            nnative++;
    }
    for (size_t i = 0; i < n; i++) {
        ops[i].result = ORBIT_OK;
        ops[i].detail[0] = '\0';
    }
    if (nnative == 0) {
        for (size_t i = 0; i < n; i++)
            run_inline(kv, &ops[i]);
        done(arg, ops, n);
        return ORBIT_OK;
    }
    submit_tap *tap = calloc(1, sizeof *tap);
    if (!tap)
        return tally(kv, ORBIT_ENOMEM);
    *tap = (submit_tap){.kv = kv, .done = done, .arg = arg, .ops = ops, .n = n};
    if (nnative == n) {
        atomic_init(&tap->pending, 1);
        int rc = kv->ops->submit(kv->self, ops, n, submit_done, tap);
        if (rc)
            free(tap); /* the provider's done never runs when submit fails */
        return tally(kv, rc);
    }
    tap->sent = malloc(nnative * sizeof *tap->sent);
    tap->idx = malloc(nnative * sizeof *tap->idx);
    if (!tap->sent || !tap->idx) {
        free(tap->sent);
        free(tap->idx);
        free(tap);
        return tally(kv, ORBIT_ENOMEM);
    }
    for (size_t i = 0, j = 0; i < n; i++) {
        if (!native_takes(kv, &ops[i]))
            continue;
        tap->sent[j] = ops[i];
        tap->idx[j++] = i;
    }
    /* Two halves: the provider's, then the inline one on this thread. The
     * provider goes first so a refused submission has started nothing. */
    atomic_init(&tap->pending, 2);
    int rc = kv->ops->submit(kv->self, tap->sent, nnative, submit_done, tap);
    if (rc) {
        free(tap->sent);
        free(tap->idx);
        free(tap);
        return tally(kv, rc);
    }
    for (size_t i = 0; i < n; i++)
        if (!native_takes(kv, &ops[i]))
            run_inline(kv, &ops[i]);
    tap_finish(tap);
    return ORBIT_OK;
}
