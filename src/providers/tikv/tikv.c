/*
 * The TiKV provider: its URI, options, capabilities and provider table.
 *
 *   tikv://PD_HOST:PORT[,PD_HOST:PORT...][?option=value&...]
 *
 * Options (the seed's TiKVConfig, plus TLS and the mode):
 *   mode=txn|raw            txn (default): Percolator transactions (txn*.c);
 *                           raw: RawKV, no transactions (raw.c). Raw and
 *                           transactional keys never mix (API V1).
 *   timeout=DURATION        one operation's deadline, retries and backoffs
 *                           included (plain number: ms) [20s]
 *   max_batch_size=N        keys per request [1000]
 *   region_cache_size=N     regions cached [1000]
 *   enable_async_commit=B   [true]     enable_one_pc=B   [true]
 *   gc_interval=DURATION    how often the GC safe point advances; 0: never
 *                           (plain number: seconds) [10m]
 *   gc_life_time=DURATION   history kept behind now (plain number: s) [10m]
 *   txn=optimistic|pessimistic   txn mode's transactions [optimistic]
 *   ca_file=PATH            TLS to PD and the stores, verified against it
 *   namespace=PREFIX        raw mode: keys are stored under PREFIX and the
 *                           store sees only those (stores share a cluster)
 * An unknown option is ORBIT_EBADURI naming it.
 *
 * One table serves both modes: each entry dispatches on the mode, and the
 * entries raw mode lacks (snapshots, transactions) answer ORBIT_ENOTSUP
 * there, as its capabilities say. Txn mode's entries are txn*.c's.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "providers/tikv/tikv_int.h"

#define DEFAULT_TIMEOUT_MS 20000u
#define DEFAULT_GC_MS (600u * 1000u)

/* ---- options ---------------------------------------------------------------- */

/* "20s", "500ms", "10m", "1h", or a plain number in unit_ms. */
static int parse_duration(const char *name, const char *v, uint64_t unit_ms, uint64_t *out)
{
    char *end = NULL;
    if (!v[0] || !isdigit((unsigned char)v[0]))
        return orbit_error_set(ORBIT_EINVAL, "tikv: option %s=%s: expected a duration (e.g. 20s, 500ms, 10m)",
                               name, v);
    unsigned long long n = strtoull(v, &end, 10);
    uint64_t mul;
    if (!*end)
        mul = unit_ms;
    else if (strcmp(end, "ms") == 0)
        mul = 1;
    else if (strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "m") == 0)
        mul = 60000;
    else if (strcmp(end, "h") == 0)
        mul = 3600000;
    else
        return orbit_error_set(ORBIT_EINVAL, "tikv: option %s=%s: unknown unit \"%s\" (ms, s, m, h)", name, v,
                               end);
    if (n > UINT64_MAX / mul / 2)
        return orbit_error_set(ORBIT_EINVAL, "tikv: option %s=%s is too large", name, v);
    *out = (uint64_t)n * mul;
    return ORBIT_OK;
}

static int duration_opt(orbit_uri *u, const char *name, uint64_t unit_ms, uint64_t dflt, uint64_t *out)
{
    const char *v = orbit_uri_param(u, name);
    if (!v) {
        *out = dflt;
        return ORBIT_OK;
    }
    return parse_duration(name, v, unit_ms, out);
}

/* PD endpoints: HOST:PORT[,HOST:PORT...], each with a port 1..65535. */
static int check_endpoints(const char *body)
{
    if (!body || !*body)
        return orbit_error_set(ORBIT_EBADURI, "tikv: the URI names no PD endpoint (tikv://HOST:PORT[,...])");
    const char *p = body;
    for (;;) {
        size_t len = strcspn(p, ",");
        const char *colon = NULL;
        for (const char *q = p; q < p + len; q++)
            if (*q == ':')
                colon = q;
        if (!len)
            return orbit_error_set(ORBIT_EBADURI, "tikv: an empty PD endpoint in \"%s\"", body);
        if (!colon || colon == p)
            return orbit_error_set(ORBIT_EBADURI, "tikv: PD endpoint \"%.*s\": expected HOST:PORT", (int)len, p);
        size_t plen = (size_t)(p + len - colon - 1);
        unsigned long port = 0;
        int ok = plen > 0 && plen <= 5;
        for (size_t i = 0; ok && i < plen; i++) {
            char c = colon[1 + i];
            ok = c >= '0' && c <= '9';
            port = port * 10 + (unsigned long)(c - '0');
        }
        if (!ok || port < 1 || port > 65535)
            return orbit_error_set(ORBIT_EBADURI, "tikv: PD endpoint \"%.*s\": the port must be 1..65535", (int)len,
                                   p);
        for (const char *q = p; q < colon; q++)
            if ((unsigned char)*q <= ' ' || *q == '/' || *q == '@')
                return orbit_error_set(ORBIT_EBADURI, "tikv: PD endpoint \"%.*s\": bad character in the host",
                                       (int)len, p);
        if (!p[len])
            return ORBIT_OK;
        p += len + 1;
    }
}

static int parse_opts(orbit_uri *u, tikv_opts *o)
{
    memset(o, 0, sizeof *o);
    const char *body = orbit_uri_body(u);
    int rc = check_endpoints(body);
    if (rc)
        return rc;
    uint64_t timeout = 0, mbs = 0, rcs = 0, gci = 0, gcl = 0;
    int ac = 1, opc = 1;
    const char *mode = orbit_uri_param(u, "mode");
    const char *txn = orbit_uri_param(u, "txn");
    const char *ca = orbit_uri_param(u, "ca_file");
    const char *ns = orbit_uri_param(u, "namespace");
    rc = duration_opt(u, "timeout", 1, DEFAULT_TIMEOUT_MS, &timeout);
    if (!rc)
        rc = orbit_uri_param_u64(u, "max_batch_size", 1000, &mbs);
    if (!rc)
        rc = orbit_uri_param_u64(u, "region_cache_size", 1000, &rcs);
    if (!rc)
        rc = orbit_uri_param_bool(u, "enable_async_commit", 1, &ac);
    if (!rc)
        rc = orbit_uri_param_bool(u, "enable_one_pc", 1, &opc);
    if (!rc)
        rc = duration_opt(u, "gc_interval", 1000, DEFAULT_GC_MS, &gci);
    if (!rc)
        rc = duration_opt(u, "gc_life_time", 1000, DEFAULT_GC_MS, &gcl);
    if (rc)
        return rc;
    rc = orbit_uri_check_unused(u);
    if (rc)
        return orbit_error_set(ORBIT_EBADURI, "tikv: %s (options: mode, timeout, max_batch_size, "
                                              "region_cache_size, enable_async_commit, enable_one_pc, gc_interval, "
                                              "gc_life_time, txn, ca_file, namespace)",
                               orbit_last_error_detail());
    if (!mode || strcmp(mode, "txn") == 0)
        o->mode = TIKV_MODE_TXN;
    else if (strcmp(mode, "raw") == 0)
        o->mode = TIKV_MODE_RAW;
    else
        return orbit_error_set(ORBIT_EINVAL, "tikv: mode=%s: expected txn or raw", mode);
    if (!txn || strcmp(txn, "optimistic") == 0)
        o->pessimistic = 0;
    else if (strcmp(txn, "pessimistic") == 0)
        o->pessimistic = 1;
    else
        return orbit_error_set(ORBIT_EINVAL, "tikv: txn=%s: expected optimistic or pessimistic", txn);
    if (txn && o->mode == TIKV_MODE_RAW)
        return orbit_error_set(ORBIT_EINVAL, "tikv: txn=%s: raw mode has no transactions", txn);
    if (timeout == 0 || timeout > 3600000)
        return orbit_error_set(ORBIT_EINVAL, "tikv: timeout must be 1 ms .. 1 h");
    if (mbs == 0 || mbs > 1000000)
        return orbit_error_set(ORBIT_EINVAL, "tikv: max_batch_size must be 1..1000000");
    if (rcs == 0 || rcs > 10000000)
        return orbit_error_set(ORBIT_EINVAL, "tikv: region_cache_size must be 1..10000000");
    if (gci && gcl < 1000)
        return orbit_error_set(ORBIT_EINVAL, "tikv: gc_life_time must be at least 1s when GC runs");
    o->timeout_ms = (uint32_t)timeout;
    o->max_batch_size = (size_t)mbs;
    o->region_cache_size = (size_t)rcs;
    o->enable_async_commit = ac;
    o->enable_one_pc = opc;
    o->gc_interval_ms = o->mode == TIKV_MODE_RAW ? 0 : gci; /* raw mode keeps no MVCC history */
    o->gc_life_time_ms = gcl;
    o->pd_endpoints = strdup(body);
    o->ca_file = ca ? strdup(ca) : NULL;
    if (ns && *ns) {
        o->nslen = strlen(ns);
        o->ns = malloc(o->nslen);
        if (o->ns)
            memcpy(o->ns, ns, o->nslen);
    }
    if (!o->pd_endpoints || (ca && !o->ca_file) || (o->nslen && !o->ns)) {
        free(o->pd_endpoints);
        free(o->ca_file);
        free(o->ns);
        return ORBIT_ENOMEM;
    }
    return ORBIT_OK;
}

/* ---- open / close ----------------------------------------------------------- */

static void tk_close(void *self);

static int tk_open(orbit_uri *u, void **self)
{
    *self = NULL;
    tikv *t = calloc(1, sizeof *t);
    if (!t)
        return ORBIT_ENOMEM;
    int rc = parse_opts(u, &t->o);
    if (rc) {
        free(t);
        return rc;
    }
    t->encoded_regions = t->o.mode == TIKV_MODE_TXN;
    rc = orbit__tikv_rcache_open(t);
    if (!rc)
        rc = orbit__tikv_pd_open(t);
    if (!rc && t->o.mode == TIKV_MODE_TXN)
        rc = orbit__tikv_txn_open(t);
    if (!rc && (rc = orbit__tikv_async_open(t)) && t->o.mode == TIKV_MODE_TXN)
        orbit__tikv_txn_close(t);
    if (rc) {
        char d[512];
        snprintf(d, sizeof d, "%s", orbit_last_error_detail());
        /* txn_open failed or never ran: nothing of it to close */
        orbit__tikv_pd_close(t);
        orbit__tikv_rcache_close(t);
        free(t->o.pd_endpoints);
        free(t->o.ca_file);
        free(t->o.ns);
        free(t);
        return orbit_error_set(rc, "%s", d);
    }
    *self = t;
    return ORBIT_OK;
}

static void tk_close(void *self)
{
    tikv *t = self;
    if (!t)
        return;
    orbit__tikv_async_close(t); /* its ops finish first */
    if (t->o.mode == TIKV_MODE_TXN)
        orbit__tikv_txn_close(t);
    orbit__tikv_pd_close(t);
    orbit__tikv_rcache_close(t);
    free(t->o.pd_endpoints);
    free(t->o.ca_file);
    free(t->o.ns);
    free(t);
}

static void tk_capabilities(void *self, orbit_capabilities *out)
{
    tikv *t = self;
    memset(out, 0, sizeof *out);
    out->type = ORBIT_PROVIDER_DISTRIBUTED;
    out->name = "tikv";
    out->durable = 1;
    out->supports_multi_region = 1;
    out->max_key_size = TIKV_MAX_KEY_SIZE;
    out->native_multi_get = 1;
    out->native_range_delete = 1;
    out->native_async = 1; /* async.c: ops run on the store's own pool */
    out->supports_batch_range_delete = 1;
    if (t->o.mode == TIKV_MODE_RAW) {
        /* a value plus its key must fit one raft entry */
        out->max_value_size = TIKV_MAX_ENTRY_SIZE;
        out->native_cas = 1; /* RawCompareAndSwap */
        return;
    }
    out->supports_transactions = 1;
    out->supports_distributed_transactions = 1;
    out->supports_snapshots = 1;
    out->supports_snapshot_at = 1;
    out->supports_commit_version = 1;
    /* READ_COMMITTED's conflicts start at a key's first use: a pessimistic
     * lock at a fresh for_update_ts gives that; an optimistic prewrite at
     * start_ts conflicts with anything committed since begin, so optimistic
     * transactions offer SNAPSHOT only (as TiDB runs RC pessimistic only). */
    out->isolation_levels = ORBIT_ISO_BIT(ORBIT_ISO_SNAPSHOT);
    if (t->o.pessimistic)
        out->isolation_levels |= ORBIT_ISO_BIT(ORBIT_ISO_READ_COMMITTED);
    out->max_value_size = TIKV_MAX_ENTRY_SIZE - TIKV_MAX_KEY_SIZE;
    out->max_txn_bytes = TIKV_MAX_TXN_BYTES;
    out->native_cas = 1; /* a small transaction (tk_cas), not the contract layer's */
}

/* ---- dispatch by mode --------------------------------------------------------- */

#define RAW(t) (((tikv *)(t))->o.mode == TIKV_MODE_RAW)


static int tk_get(void *self, void *snap, const uint8_t *k, size_t kl, orbit_value_fn fn, void *arg)
{
    if (RAW(self))
        return orbit__tikv_raw_get(self, snap, k, kl, fn, arg);
    return orbit__tikv_get(self, snap, k, kl, fn, arg);
}

static int tk_put(void *self, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    if (RAW(self))
        return orbit__tikv_raw_put(self, k, kl, v, vl);
    return orbit__tikv_put(self, k, kl, v, vl);
}

static int tk_del(void *self, const uint8_t *k, size_t kl)
{
    if (RAW(self))
        return orbit__tikv_raw_del(self, k, kl);
    return orbit__tikv_del(self, k, kl);
}

static int tk_write(void *self, const orbit_batch *b)
{
    if (RAW(self))
        return orbit__tikv_raw_write(self, b);
    return orbit__tikv_write(self, b);
}

static int tk_write_version(void *self, const orbit_batch *b, uint64_t *version)
{
    if (RAW(self)) {
        *version = 0; /* raw mode has no versions */
        return orbit__tikv_raw_write(self, b);
    }
    return orbit__tikv_write_version(self, b, version);
}

static int tk_multi_get(void *self, void *snap, size_t n, const orbit_slice *keys, orbit_buf *vals, int *status)
{
    if (RAW(self))
        return orbit__tikv_raw_multi_get(self, snap, n, keys, vals, status);
    return orbit__tikv_multi_get(self, snap, n, keys, vals, status);
}

static int tk_delete_range(void *self, const orbit_range *r)
{
    if (RAW(self))
        return orbit__tikv_raw_delete_range(self, r);
    return orbit__tikv_delete_range(self, r);
}

/* Iterators: raw ones carry their own functions; an iterator's first member
 * says which kind it is, so next/seek/close dispatch without the store. */
typedef struct tk_iter {
    int raw;
    void *it;
} tk_iter;

static int wrap_iter(int raw, void *inner, void **out)
{
    tk_iter *w = malloc(sizeof *w);
    if (!w) {
        if (raw)
            orbit__tikv_raw_iter_close(inner);
        else
            orbit__tikv_iter_close(inner);
        return ORBIT_ENOMEM;
    }
    w->raw = raw;
    w->it = inner;
    *out = w;
    return ORBIT_OK;
}

static int tk_iter_open(void *self, void *snap, const orbit_range *r, void **it)
{
    void *inner = NULL;
    int rc;
    if (RAW(self)) {
        rc = orbit__tikv_raw_iter_open(self, snap, r, &inner);
        return rc ? rc : wrap_iter(1, inner, it);
    }
    rc = orbit__tikv_iter_open(self, snap, r, &inner);
    return rc ? rc : wrap_iter(0, inner, it);
}

static int tk_iter_next(void *p, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl)
{
    tk_iter *w = p;
    if (w->raw)
        return orbit__tikv_raw_iter_next(w->it, k, kl, v, vl);
    return orbit__tikv_iter_next(w->it, k, kl, v, vl);
}

static int tk_iter_seek(void *p, const uint8_t *k, size_t kl)
{
    tk_iter *w = p;
    if (w->raw)
        return orbit__tikv_raw_iter_seek(w->it, k, kl);
    return orbit__tikv_iter_seek(w->it, k, kl);
}

static void tk_iter_close(void *p)
{
    tk_iter *w = p;
    if (!w)
        return;
    if (w->raw)
        orbit__tikv_raw_iter_close(w->it);
    else
        orbit__tikv_iter_close(w->it);
    free(w);
}


static int raw_no_snapshots(void)
{
    return orbit_error_set(ORBIT_ENOTSUP, "tikv raw mode has no snapshots (mode=txn has)");
}

static int tk_snapshot_open(void *self, void **snap)
{
    if (RAW(self))
        return raw_no_snapshots();
    return orbit__tikv_snapshot_open(self, snap);
}

static void tk_snapshot_release(void *self, void *snap)
{
    if (!RAW(self))
        orbit__tikv_snapshot_release(self, snap);
}

static uint64_t tk_snapshot_version(void *self, void *snap)
{
    return RAW(self) ? 0 : orbit__tikv_snapshot_version(self, snap);
}

static int tk_snapshot_open_at(void *self, uint64_t version, void **snap)
{
    if (RAW(self))
        return raw_no_snapshots();
    return orbit__tikv_snapshot_open_at(self, version, snap);
}

static int tk_txn_begin(void *self, const orbit_txn_opts *opts, void **txn)
{
    if (RAW(self))
        return orbit_error_set(ORBIT_ENOTSUP, "tikv raw mode has no transactions (mode=txn has)");
    return orbit__tikv_txn_begin(self, opts, txn);
}

static int tk_txn_iter_open(void *txn, const orbit_range *r, void **it)
{
    void *inner = NULL;
    int rc = orbit__tikv_txn_iter_open(txn, r, &inner);
    return rc ? rc : wrap_iter(0, inner, it);
}

/* Txn mode's compare-and-set: a small transaction, retried on conflict
 * within the store's timeout. */
static int cas_value_fn(void *arg, const uint8_t *v, size_t n)
{
    return orbit_buf_set(arg, v, n);
}

static int tk_cas(void *self, const uint8_t *k, size_t kl, const orbit_slice *expected, const orbit_slice *desired,
                  orbit_buf *current)
{
    tikv *t = self;
    if (RAW(self))
        return orbit__tikv_raw_cas(self, k, kl, expected, desired, current);
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, t, 0);
    orbit_buf cur;
    orbit_buf_init(&cur);
    int rc;
    for (;;) {
        void *txn = NULL;
        orbit_txn_opts o = {ORBIT_ISO_SNAPSHOT};
        rc = orbit__tikv_txn_begin(self, &o, &txn);
        if (rc)
            break;
        cur.len = 0;
        rc = orbit__tikv_txn_get(txn, k, kl, 1, cas_value_fn, &cur);
        int found = rc == ORBIT_OK;
        if (rc == ORBIT_NOTFOUND)
            rc = ORBIT_OK;
        int match = 0;
        if (!rc)
            match = expected ? found && orbit__key_cmp(cur.data, cur.len, expected->data, expected->len) == 0 : !found;
        if (!rc && !match) {
            orbit__tikv_txn_rollback(txn);
            /* expected given but the key absent: NOTFOUND, as the contract says */
            rc = expected && !found ? ORBIT_NOTFOUND : ORBIT_CMPFAIL;
            if (current) {
                if (found)
                    rc = orbit_buf_set(current, cur.data, cur.len) ? ORBIT_ENOMEM : ORBIT_CMPFAIL;
                else
                    current->len = 0;
            }
            break;
        }
        if (!rc)
            rc = desired ? orbit__tikv_txn_put(txn, k, kl, desired->data, desired->len)
                         : orbit__tikv_txn_del(txn, k, kl);
        if (rc) {
            orbit__tikv_txn_rollback(txn);
        } else {
            rc = orbit__tikv_txn_commit(txn);
        }
        if (rc != ORBIT_ECONFLICT)
            break;
        orbit__tikv_bo_fail(&bo, ORBIT_ECONFLICT, "tikv cas: the key kept changing");
        rc = orbit__tikv_bo_sleep(&bo, TIKV_BO_TXN_LOCK_FAST, 0);
        if (rc)
            break;
    }
    orbit_buf_release(&cur);
    return rc;
}

const orbit_provider orbit__provider_tikv = {
    .version = ORBIT_PROVIDER_VERSION,
    .name = "tikv",
    .open = tk_open,
    .close = tk_close,
    .capabilities = tk_capabilities,
    .get = tk_get,
    .put = tk_put,
    .del = tk_del,
    .write = tk_write,
    .iter_open = tk_iter_open,
    .iter_next = tk_iter_next,
    .iter_close = tk_iter_close,
    .snapshot_open = tk_snapshot_open,
    .snapshot_release = tk_snapshot_release,
    .txn_begin = tk_txn_begin,
    .txn_get = orbit__tikv_txn_get,
    .txn_put = orbit__tikv_txn_put,
    .txn_del = orbit__tikv_txn_del,
    .txn_iter_open = tk_txn_iter_open,
    .txn_commit = orbit__tikv_txn_commit,
    .txn_rollback = orbit__tikv_txn_rollback,
    /* version 2 */
    .multi_get = tk_multi_get,
    .txn_multi_get = orbit__tikv_txn_multi_get,
    .delete_range = tk_delete_range,
    .cas = tk_cas,
    .iter_seek = tk_iter_seek,
    .snapshot_version = tk_snapshot_version,
    .snapshot_open_at = tk_snapshot_open_at,
    .txn_commit_version = orbit__tikv_txn_commit_version,
    .write_version = tk_write_version,
    .submit = orbit__tikv_submit,
};
