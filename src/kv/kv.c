/*
 * The contract layer: what every caller of orbit/kv.h goes through before a
 * provider's table is touched.
 *
 * It owns the provider registry and URI opening, validates arguments once
 * (so providers never see an empty key or an inverted range), folds a scan's
 * prefix into [lo, hi) bounds, enforces scan limits, counts statistics with
 * relaxed atomics (exact per field, not a joint picture), and runs the
 * asynchronous path inline for providers that have none.
 *
 * Invariants: every wrapper object (iterator, snapshot, txn) records the
 * store it came from and the provider object it wraps; a provider object is
 * finished exactly once, by the wrapper's close/release/commit/rollback.
 */
#include <pthread.h>
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

int orbit_provider_register(const orbit_provider *p)
{
    if (!p || !p->name || !*p->name || !p->open || !p->close)
        return orbit_error_set(ORBIT_EINVAL, "provider table is incomplete");
    if (p->version < 1 || p->version > ORBIT_PROVIDER_VERSION)
        return orbit_error_set(ORBIT_EINVAL, "provider %s: table version %d, this library knows 1..%d",
                               p->name, p->version, ORBIT_PROVIDER_VERSION);
    int rc = ORBIT_OK;
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
    const orbit_provider *ops;
    void *self;
    orbit_capabilities caps;
    struct {
        counter gets, puts, deletes, batches, scans;
        counter txns_begun, txns_committed, txns_rolled_back, txns_conflicted;
        counter keys_read, keys_written, bytes_read, bytes_written;
        counter errors;
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
    kv->ops = p;
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
#undef LOAD
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

void orbit_snapshot_release(orbit_snapshot *s)
{
    if (!s)
        return;
    s->kv->ops->snapshot_release(s->kv->self, s->psnap);
    free(s);
}

static int snap_of(orbit_kv *kv, const orbit_read_opts *ro, void **psnap)
{
    *psnap = NULL;
    if (ro && ro->snapshot) {
        if (ro->snapshot->kv != kv)
            return orbit_error_set(ORBIT_EINVAL, "snapshot belongs to another store");
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

/* ---- batches --------------------------------------------------------- */

typedef struct batch_rec {
    orbit_op_type type;
    size_t koff, klen, voff, vlen;
} batch_rec;

struct orbit_batch {
    batch_rec *recs;
    size_t n, cap;
    orbit_buf data; /* keys and values, back to back */
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

void orbit_batch_entry_at(const orbit_batch *b, size_t i, orbit_batch_entry *e)
{
    const batch_rec *r = &b->recs[i];
    e->type = r->type;
    e->key = b->data.data + r->koff;
    e->klen = r->klen;
    e->val = r->vlen ? b->data.data + r->voff : (const uint8_t *)"";
    e->vlen = r->vlen;
}

int orbit_kv_write(orbit_kv *kv, const orbit_batch *b)
{
    if (!b)
        return tally(kv, orbit_error_set(ORBIT_EINVAL, "batch is NULL"));
    if (kv->caps.max_batch_ops && b->n > kv->caps.max_batch_ops)
        return tally(kv, orbit_error_set(ORBIT_ETOOBIG, "batch of %zu operations exceeds %s's limit of %zu",
                                         b->n, kv->ops->name, kv->caps.max_batch_ops));
    if (b->n == 0)
        return ORBIT_OK;
    BUMP(kv, batches, 1);
    int rc = kv->ops->write(kv->self, b);
    if (rc == ORBIT_OK) {
        BUMP(kv, keys_written, b->n);
        BUMP(kv, bytes_written, b->data.len);
    }
    return tally(kv, rc);
}

/* ---- ranges and iterators -------------------------------------------- */

struct orbit_iter {
    orbit_kv *kv;
    void *pit;         /* NULL: the range is empty */
    size_t limit, seen;
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
    if (!it->pit || (it->limit && it->seen >= it->limit))
        return ORBIT_NOTFOUND;
    int rc = it->kv->ops->iter_next(it->pit, key, klen, val, vlen);
    if (rc == ORBIT_OK) {
        it->seen++;
        BUMP(it->kv, keys_read, 1);
        BUMP(it->kv, bytes_read, *vlen);
    } else if (rc < 0) {
        it->failed = 1;
    }
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

int orbit_txn_iter(orbit_txn *t, const orbit_scan_opts *so, orbit_iter **out)
{
    return tally(t->kv, iter_start(t->kv, so, NULL, t->ptxn, NULL, 1, out));
}

int orbit_txn_commit(orbit_txn *t)
{
    orbit_kv *kv = t->kv;
    int rc = kv->ops->txn_commit(t->ptxn);
    free(t);
    if (rc == ORBIT_OK)
        BUMP(kv, txns_committed, 1);
    return tally(kv, rc);
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

/* Native submissions complete on a provider thread: count them there, with
 * the same rules as the synchronous calls, then hand over to the caller. */
typedef struct submit_tap {
    orbit_kv *kv;
    orbit_kv_done_fn done;
    void *arg;
} submit_tap;

static void submit_done(void *arg, orbit_kv_op *ops, size_t n)
{
    submit_tap *tap = arg;
    orbit_kv *kv = tap->kv;
    for (size_t i = 0; i < n; i++) {
        const orbit_kv_op *op = &ops[i];
        switch (op->type) {
        case ORBIT_OP_GET:
            BUMP(kv, gets, 1);
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
        default:
            break;
        }
        if (op->result < 0)
            BUMP(kv, errors, 1);
    }
    orbit_kv_done_fn done = tap->done;
    void *user = tap->arg;
    free(tap);
    done(user, ops, n);
}

int orbit_kv_submit(orbit_kv *kv, orbit_kv_op *ops, size_t n, orbit_kv_done_fn done, void *arg)
{
    if (!done || (n && !ops))
        return tally(kv, orbit_error_set(ORBIT_EINVAL, "submit: NULL ops or callback"));
    for (size_t i = 0; i < n; i++) {
        orbit_kv_op *op = &ops[i];
        int rc = check_key(op->key, op->klen);
        if (!rc && op->type == ORBIT_OP_PUT)
            rc = check_val(op->val, op->vlen);
        else if (!rc && op->type == ORBIT_OP_GET && !op->out)
            rc = orbit_error_set(ORBIT_EINVAL, "submit: GET op %zu has no out buffer", i);
        else if (!rc && op->type != ORBIT_OP_GET && op->type != ORBIT_OP_PUT && op->type != ORBIT_OP_DEL)
            rc = orbit_error_set(ORBIT_EINVAL, "submit: op %zu has unknown type %d", i, (int)op->type);
        if (rc)
            return tally(kv, rc);
    }
    if (kv->ops->submit) {
        submit_tap *tap = malloc(sizeof *tap);
        if (!tap)
            return tally(kv, ORBIT_ENOMEM);
        *tap = (submit_tap){kv, done, arg};
        int rc = kv->ops->submit(kv->self, ops, n, submit_done, tap);
        if (rc)
            free(tap); /* the provider's done never runs when submit fails */
        return tally(kv, rc);
    }
    for (size_t i = 0; i < n; i++) {
        orbit_kv_op *op = &ops[i];
        switch (op->type) {
        case ORBIT_OP_GET: op->result = orbit_kv_get(kv, NULL, op->key, op->klen, op->out); break;
        case ORBIT_OP_PUT: op->result = orbit_kv_put(kv, op->key, op->klen, op->val, op->vlen); break;
        case ORBIT_OP_DEL: op->result = orbit_kv_del(kv, op->key, op->klen); break;
        default: op->result = orbit_error_set(ORBIT_ENOTSUP, "op type %d", (int)op->type); break;
        }
    }
    done(arg, ops, n);
    return ORBIT_OK;
}
