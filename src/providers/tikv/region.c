/*
 * The TiKV provider's routing (tikv_int.h, "region cache" and "sending"):
 * backoffers with client-go's per-error backoff table, the memcomparable
 * codec PD's txn-mode region boundaries use, a bounded region cache, and
 * the send loop that turns region errors into cache updates and resends the
 * way client-go's RegionRequestSender does.
 *
 * The cache is an array of regions sorted by start key, non-overlapping
 * (inserting a region drops every cached one it overlaps), bounded by
 * region_cache_size: when full, the least recently used region goes. All
 * of it is under one mutex; callers get value copies (tikv_loc), so an
 * entry can be replaced while a request built from it is in flight.
 *
 * The send loop works in rounds: every pending task (one region's keys or
 * part of a range) is built and started at once on its store's transport,
 * the round waits for all answers, then each answer is judged on the
 * calling thread: done, failed, resend the same task, or re-locate its keys
 * (regrouping them by the regions now cached) after the backoffs the round
 * collected. Nothing here sleeps on the transport's completion thread.
 *
 * Scans use windows (orbit__tikv_send_range_window): the first few regions
 * of a range in scan order, located through the cache (PD on a miss), one
 * task each, in one loop; a task re-located after a region error is
 * re-split within its own part, so the window's bounds never move.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "providers/tikv/tikv_int.h"

/* ---- counters ------------------------------------------------------------ */

void orbit__tikv_count(tikv *t, tikv_rpc_kind k)
{
    if ((unsigned)k < TIKV_RPC__COUNT)
        atomic_fetch_add(&t->n_sent[k], 1);
}

void orbit__tikv_stats_get(const tikv *t, tikv_stats *out)
{
    memset(out, 0, sizeof *out);
    tikv *m = (tikv *)t;
    for (int i = 0; i < TIKV_RPC__COUNT; i++)
        out->sent[i] = atomic_load(&m->n_sent[i]);
    for (int i = 0; i < TIKV_RERR__COUNT; i++)
        out->region_errors[i] = atomic_load(&m->n_rerr[i]);
    out->tso_timestamps = atomic_load(&m->n_tso_ts);
    out->region_cache_hits = atomic_load(&m->n_rc_hit);
    out->region_cache_misses = atomic_load(&m->n_rc_miss);
    out->backoffs = atomic_load(&m->n_backoffs);
    out->backoff_ms = atomic_load(&m->n_backoff_ms);
}

/* ---- backoff ------------------------------------------------------------- */

typedef struct bo_conf {
    uint32_t base, cap;
    int equal_jitter;
    const char *name;
} bo_conf;

static const bo_conf bo_table[TIKV_BO__COUNT] = {
    [TIKV_BO_TIKV_RPC] = {100, 2000, 1, "tikvRPC"},
    [TIKV_BO_TXN_LOCK] = {100, 3000, 1, "txnLock"},
    [TIKV_BO_TXN_LOCK_FAST] = {10, 3000, 1, "txnLockFast"},
    [TIKV_BO_PD_RPC] = {500, 3000, 1, "pdRPC"},
    [TIKV_BO_REGION_MISS] = {2, 500, 0, "regionMiss"},
    [TIKV_BO_REGION_SCHEDULING] = {2, 500, 0, "regionScheduling"},
    [TIKV_BO_SERVER_BUSY] = {2000, 10000, 1, "tikvServerBusy"},
    [TIKV_BO_TXN_NOT_FOUND] = {2, 500, 0, "txnNotFound"},
    [TIKV_BO_STALE_CMD] = {2, 1000, 0, "staleCommand"},
    [TIKV_BO_MAX_TS_NOT_SYNCED] = {2, 500, 0, "maxTsNotSynced"},
    [TIKV_BO_REGION_NOT_INIT] = {2, 1000, 0, "regionNotInitialized"},
    [TIKV_BO_DISK_FULL] = {500, 5000, 0, "tikvDiskFull"},
};

void orbit__tikv_bo_init(tikv_bo *bo, tikv *t, uint32_t timeout_ms)
{
    memset(bo, 0, sizeof *bo);
    bo->t = t;
    if (!timeout_ms)
        timeout_ms = t ? t->o.timeout_ms : 20000;
    bo->deadline_ns = orbit__mono_ns() + (uint64_t)timeout_ms * 1000000u;
    bo->seed = orbit__mono_ns() ^ (uint64_t)(uintptr_t)bo;
}

void orbit__tikv_bo_fail(tikv_bo *bo, int rc, const char *fmt, ...)
{
    bo->last_rc = rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(bo->last, sizeof bo->last, fmt, ap);
    va_end(ap);
}

uint32_t orbit__tikv_bo_left_ms(const tikv_bo *bo)
{
    uint64_t now = orbit__mono_ns();
    return now >= bo->deadline_ns ? 0 : (uint32_t)((bo->deadline_ns - now) / 1000000u);
}

static uint64_t bo_rand(tikv_bo *bo)
{
    uint64_t x = bo->seed ? bo->seed : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    bo->seed = x;
    return x * 0x2545f4914f6cdd1dull;
}

static int bo_expired(tikv_bo *bo, const char *kind)
{
    int rc = bo->last_rc ? bo->last_rc : ORBIT_ETIMEDOUT;
    return orbit_error_set(rc, "tikv: deadline passed (backing off %s): %s", kind,
                           bo->last[0] ? bo->last : "no answer in time");
}

int orbit__tikv_bo_sleep(tikv_bo *bo, tikv_bo_kind kind, uint32_t hint_ms)
{
    if ((unsigned)kind >= TIKV_BO__COUNT)
        kind = TIKV_BO_REGION_MISS;
    const bo_conf *c = &bo_table[kind];
    uint64_t v = c->base;
    for (uint32_t i = 0; i < bo->n[kind] && v < c->cap; i++)
        v *= 2;
    if (v > c->cap)
        v = c->cap;
    if (c->equal_jitter && v > 1)
        v = v / 2 + bo_rand(bo) % (v / 2 + 1);
    if (hint_ms > v)
        v = hint_ms;
    bo->n[kind]++;
    uint64_t now = orbit__mono_ns();
    if (now >= bo->deadline_ns)
        return bo_expired(bo, c->name);
    uint64_t wake = now + v * 1000000u;
    if (wake >= bo->deadline_ns) {
        /* Sleep to the deadline only when that still leaves a try: a
         * sleep that ends exactly at it cannot be followed by one. */
        return bo_expired(bo, c->name);
    }
    struct timespec ts = {(time_t)(v / 1000u), (long)(v % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    if (bo->t) {
        atomic_fetch_add(&bo->t->n_backoffs, 1);
        atomic_fetch_add(&bo->t->n_backoff_ms, v);
    }
    return ORBIT_OK;
}

/* ---- memcomparable bytes ---------------------------------------------------- */

int orbit__tikv_mc_encode(const uint8_t *k, size_t kl, orbit_buf *out)
{
    size_t groups = kl / 8 + 1;
    int rc = orbit_buf_reserve(out, groups * 9);
    if (rc)
        return rc;
    uint8_t g[9];
    for (size_t at = 0;; at += 8) {
        size_t left = kl - at;
        if (left >= 8) {
            memcpy(g, k + at, 8);
            g[8] = 0xFF;
            orbit_buf_append(out, g, 9);
            continue;
        }
        memset(g, 0, 8);
        if (left)
            memcpy(g, k + at, left);
        g[8] = (uint8_t)(0xFF - (8 - left));
        orbit_buf_append(out, g, 9);
        break;
    }
    return ORBIT_OK;
}

int orbit__tikv_mc_decode(const uint8_t *e, size_t el, orbit_buf *out)
{
    out->len = 0;
    for (size_t at = 0;; at += 9) {
        if (at + 9 > el)
            return orbit_error_set(ORBIT_EPROTO, "tikv: region boundary is not memcomparable-encoded");
        uint8_t marker = e[at + 8];
        size_t pad = 0xFF - marker;
        if (pad > 8)
            return orbit_error_set(ORBIT_EPROTO, "tikv: bad memcomparable marker %u", marker);
        int rc = orbit_buf_append(out, e + at, 8 - pad);
        if (rc)
            return rc;
        if (pad) {
            for (size_t i = 8 - pad; i < 8; i++)
                if (e[at + i] != 0)
                    return orbit_error_set(ORBIT_EPROTO, "tikv: bad memcomparable padding");
            /* a boundary may carry a suffix after the encoded key (TiKV
             * split keys with a timestamp): ignored, as client-go does */
            return ORBIT_OK;
        }
    }
}

/* ---- locations ---------------------------------------------------------------- */

void orbit__tikv_loc_release(tikv_loc *l)
{
    if (!l)
        return;
    free(l->start);
    free(l->end);
    memset(l, 0, sizeof *l);
}

static int dup_bytes(uint8_t **dst, const uint8_t *p, size_t n)
{
    *dst = NULL;
    if (!n)
        return ORBIT_OK;
    *dst = malloc(n);
    if (!*dst)
        return ORBIT_ENOMEM;
    memcpy(*dst, p, n);
    return ORBIT_OK;
}

int orbit__tikv_loc_copy(tikv_loc *dst, const tikv_loc *src)
{
    tikv_loc l = *src;
    l.start = l.end = NULL;
    if (dup_bytes(&l.start, src->start, src->start_len) || dup_bytes(&l.end, src->end, src->end_len)) {
        free(l.start);
        free(l.end);
        memset(dst, 0, sizeof *dst);
        return ORBIT_ENOMEM;
    }
    *dst = l;
    return ORBIT_OK;
}

int orbit__tikv_loc_contains(const tikv_loc *l, const uint8_t *k, size_t kl)
{
    if (l->start_len && orbit__key_cmp(k, kl, l->start, l->start_len) < 0)
        return 0;
    if (l->end_len && orbit__key_cmp(k, kl, l->end, l->end_len) >= 0)
        return 0;
    return 1;
}

/* Whether the region holds keys just below k (start < k <= end); kl 0: the
 * last region. */
static int loc_contains_end(const tikv_loc *l, const uint8_t *k, size_t kl)
{
    if (kl == 0)
        return l->end_len == 0;
    if (l->start_len && orbit__key_cmp(l->start, l->start_len, k, kl) >= 0)
        return 0;
    if (l->end_len && orbit__key_cmp(k, kl, l->end, l->end_len) > 0)
        return 0;
    return 1;
}

/* ---- the cache ------------------------------------------------------------------ */

typedef struct rentry {
    tikv_loc loc;
    uint64_t used; /* LRU clock */
} rentry;

struct tikv_rcache {
    pthread_mutex_t lock;
    rentry *e; /* sorted by start key; non-overlapping */
    size_t n, cap, max;
    uint64_t clock;
};

int orbit__tikv_rcache_open(tikv *t)
{
    tikv_rcache *c = calloc(1, sizeof *c);
    if (!c)
        return ORBIT_ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    c->max = t->o.region_cache_size ? t->o.region_cache_size : 1000;
    t->rc = c;
    return ORBIT_OK;
}

void orbit__tikv_rcache_close(tikv *t)
{
    tikv_rcache *c = t->rc;
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        orbit__tikv_loc_release(&c->e[i].loc);
    free(c->e);
    pthread_mutex_destroy(&c->lock);
    free(c);
    t->rc = NULL;
}

size_t orbit__tikv_rcache_count(tikv *t)
{
    pthread_mutex_lock(&t->rc->lock);
    size_t n = t->rc->n;
    pthread_mutex_unlock(&t->rc->lock);
    return n;
}

/* Index of the last entry whose start <= k (strict: start < k), or -1. */
static long find_le(const tikv_rcache *c, const uint8_t *k, size_t kl, int strict)
{
    long lo = 0, hi = (long)c->n - 1, ans = -1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        const tikv_loc *l = &c->e[mid].loc;
        int cmp = orbit__key_cmp(l->start, l->start_len, k, kl);
        if (cmp < 0 || (!strict && cmp == 0)) {
            ans = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return ans;
}

static void drop_at(tikv_rcache *c, size_t i)
{
    orbit__tikv_loc_release(&c->e[i].loc);
    memmove(&c->e[i], &c->e[i + 1], (c->n - i - 1) * sizeof *c->e);
    c->n--;
}

/* Whether two regions' ranges overlap. */
static int overlaps(const tikv_loc *a, const tikv_loc *b)
{
    /* a.start < b.end and b.start < a.end (empty end: +inf) */
    if (b->end_len && orbit__key_cmp(a->start, a->start_len, b->end, b->end_len) >= 0)
        return 0;
    if (a->end_len && orbit__key_cmp(b->start, b->start_len, a->end, a->end_len) >= 0)
        return 0;
    return 1;
}

/* Insert a copy of l (caller holds the lock), replacing what it overlaps. */
static int cache_put_locked(tikv_rcache *c, const tikv_loc *l)
{
    for (size_t i = 0; i < c->n;) {
        if (c->e[i].loc.region_id == l->region_id || overlaps(&c->e[i].loc, l))
            drop_at(c, i);
        else
            i++;
    }
    if (c->n >= c->max && c->n > 0) {
        size_t lru = 0;
        for (size_t i = 1; i < c->n; i++)
            if (c->e[i].used < c->e[lru].used)
                lru = i;
        drop_at(c, lru);
    }
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        rentry *ne = realloc(c->e, nc * sizeof *ne);
        if (!ne)
            return ORBIT_ENOMEM;
        c->e = ne;
        c->cap = nc;
    }
    long at = find_le(c, l->start, l->start_len, 0) + 1;
    rentry ent;
    if (orbit__tikv_loc_copy(&ent.loc, l))
        return ORBIT_ENOMEM;
    ent.used = ++c->clock;
    memmove(&c->e[at + 1], &c->e[at], (c->n - (size_t)at) * sizeof *c->e);
    c->e[at] = ent;
    c->n++;
    return ORBIT_OK;
}

static int cache_put(tikv *t, const tikv_loc *l)
{
    pthread_mutex_lock(&t->rc->lock);
    int rc = cache_put_locked(t->rc, l);
    pthread_mutex_unlock(&t->rc->lock);
    return rc;
}

/* A cached copy of the region holding k (end: holding keys just below k):
 * 1 found (out set), 0 not cached, or ENOMEM. */
static int cache_get(tikv *t, const uint8_t *k, size_t kl, int end, tikv_loc *out)
{
    tikv_rcache *c = t->rc;
    pthread_mutex_lock(&c->lock);
    long i = end ? (kl ? find_le(c, k, kl, 1) : (long)c->n - 1) : find_le(c, k, kl, 0);
    int found = 0, rc = 0;
    if (i >= 0) {
        rentry *e = &c->e[i];
        if (end ? loc_contains_end(&e->loc, k, kl) : orbit__tikv_loc_contains(&e->loc, k, kl)) {
            e->used = ++c->clock;
            rc = orbit__tikv_loc_copy(out, &e->loc);
            found = rc == 0;
        }
    }
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_add(found ? &t->n_rc_hit : &t->n_rc_miss, 1);
    return rc ? rc : found;
}

void orbit__tikv_region_invalidate(tikv *t, uint64_t region_id)
{
    tikv_rcache *c = t->rc;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].loc.region_id == region_id) {
            drop_at(c, i);
            break;
        }
    pthread_mutex_unlock(&c->lock);
}

/* Point the cached region at another leader (NotLeader with a hint), if
 * the cache still holds that region at that epoch. */
static void cache_set_leader(tikv *t, const tikv_loc *l, tikv_peer leader)
{
    tikv_rcache *c = t->rc;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].loc.region_id == l->region_id && c->e[i].loc.version == l->version &&
            c->e[i].loc.conf_ver == l->conf_ver) {
            c->e[i].loc.leader = leader;
            break;
        }
    pthread_mutex_unlock(&c->lock);
}

/* Drop every cached region led from a store (the store is gone or moved). */
static void cache_drop_store(tikv *t, uint64_t store_id)
{
    tikv_rcache *c = t->rc;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n;) {
        if (c->e[i].loc.leader.store_id == store_id)
            drop_at(c, i);
        else
            i++;
    }
    pthread_mutex_unlock(&c->lock);
}

/* A metapb.Region (+ leader, may be NULL or id 0) as a tikv_loc, decoding
 * boundaries when the cluster encodes them. prefer_store: when the region
 * has no known leader, the peer on this store is preferred (EpochNotMatch:
 * the store that answered still serves it). */
static int loc_from_region(tikv *t, const Metapb__Region *r, const Metapb__Peer *leader,
                           uint64_t prefer_store, tikv_loc *out)
{
    memset(out, 0, sizeof *out);
    if (!r)
        return orbit_error_set(ORBIT_EPROTO, "tikv: PD returned no region");
    if (r->n_peers == 0)
        return orbit_error_set(ORBIT_EUNAVAIL, "tikv: region %llu has no peers",
                               (unsigned long long)r->id);
    out->region_id = r->id;
    if (r->region_epoch) {
        out->conf_ver = r->region_epoch->conf_ver;
        out->version = r->region_epoch->version;
    }
    if (leader && leader->id) {
        out->leader.id = leader->id;
        out->leader.store_id = leader->store_id;
    } else {
        size_t pick = 0;
        for (size_t i = 0; prefer_store && i < r->n_peers; i++)
            if (r->peers[i]->store_id == prefer_store)
                pick = i;
        out->leader.id = r->peers[pick]->id;
        out->leader.store_id = r->peers[pick]->store_id;
    }
    orbit_buf b;
    orbit_buf_init(&b);
    int rc = 0;
    const ProtobufCBinaryData *bounds[2] = {&r->start_key, &r->end_key};
    uint8_t **dst[2] = {&out->start, &out->end};
    size_t *dlen[2] = {&out->start_len, &out->end_len};
    for (int i = 0; i < 2 && !rc; i++) {
        if (bounds[i]->len == 0)
            continue;
        if (t->encoded_regions) {
            rc = orbit__tikv_mc_decode(bounds[i]->data, bounds[i]->len, &b);
            if (!rc && b.len) {
                rc = dup_bytes(dst[i], b.data, b.len);
                *dlen[i] = b.len;
            }
        } else {
            rc = dup_bytes(dst[i], bounds[i]->data, bounds[i]->len);
            *dlen[i] = bounds[i]->len;
        }
    }
    orbit_buf_release(&b);
    if (rc)
        orbit__tikv_loc_release(out);
    return rc;
}

/* The PD-side form of a lookup key into out (replaced). */
static int pd_key(tikv *t, const uint8_t *k, size_t kl, orbit_buf *out)
{
    out->len = 0;
    if (t->encoded_regions)
        return orbit__tikv_mc_encode(k, kl, out);
    return kl ? orbit_buf_set(out, k, kl) : ORBIT_OK;
}

/* Ask PD for the region holding k (prev: the one before it) into out. 1:
 * found; 0: PD has none (yet). */
static int pd_lookup(tikv *t, tikv_bo *bo, int prev, const uint8_t *k, size_t kl, tikv_loc *out)
{
    orbit_buf key;
    orbit_buf_init(&key);
    int rc = pd_key(t, k, kl, &key);
    Pdpb__GetRegionResponse *resp = NULL;
    if (!rc)
        rc = orbit__tikv_pd_get_region(t, bo, prev, key.data, key.len, &resp);
    orbit_buf_release(&key);
    if (rc)
        return rc;
    if (!resp->region) {
        pdpb__get_region_response__free_unpacked(resp, NULL);
        return 0;
    }
    rc = loc_from_region(t, resp->region, resp->leader, 0, out);
    pdpb__get_region_response__free_unpacked(resp, NULL);
    if (rc)
        return rc;
    rc = cache_put(t, out);
    if (rc) {
        orbit__tikv_loc_release(out);
        return rc;
    }
    return 1;
}

int orbit__tikv_locate(tikv *t, tikv_bo *bo, const uint8_t *k, size_t kl, tikv_loc *out)
{
    for (;;) {
        int rc = cache_get(t, k, kl, 0, out);
        if (rc)
            return rc < 0 ? rc : 0;
        rc = pd_lookup(t, bo, 0, k, kl, out);
        int noted = 0;
        if (rc == ORBIT_EUNAVAIL) {
            /* PD not bootstrapped yet, or unreachable within its budget */
            orbit__tikv_bo_fail(bo, ORBIT_EUNAVAIL, "%s", orbit_last_error_detail());
            rc = 0;
            noted = 1;
        } else if (rc < 0) {
            return rc;
        }
        if (rc == 1) {
            if (orbit__tikv_loc_contains(out, k, kl))
                return 0;
            orbit__tikv_loc_release(out);
            orbit__tikv_bo_fail(bo, ORBIT_EUNAVAIL, "PD returned a region that does not hold the key");
        } else if (!noted) {
            orbit__tikv_bo_fail(bo, ORBIT_EUNAVAIL, "PD knows no region for the key yet");
        }
        rc = orbit__tikv_bo_sleep(bo, TIKV_BO_PD_RPC, 0);
        if (rc)
            return rc;
    }
}

/* The last region: ScanRegions from the start of the last one known, until
 * one with no end comes back (fills the cache on the way). */
static int pd_last_region(tikv *t, tikv_bo *bo, tikv_loc *out)
{
    orbit_buf from;
    orbit_buf_init(&from);
    int rc = 0;
    for (int rounds = 0; rounds < 1000000; rounds++) {
        orbit_buf key;
        orbit_buf_init(&key);
        rc = pd_key(t, from.data, from.len, &key);
        Pdpb__ScanRegionsResponse *resp = NULL;
        if (!rc)
            rc = orbit__tikv_pd_scan_regions(t, bo, key.data, key.len, NULL, 0, 256, &resp);
        orbit_buf_release(&key);
        if (rc)
            break;
        size_t n = resp->n_regions ? resp->n_regions : resp->n_region_metas;
        if (n == 0) {
            pdpb__scan_regions_response__free_unpacked(resp, NULL);
            orbit__tikv_bo_fail(bo, ORBIT_EUNAVAIL, "PD returned no regions");
            rc = orbit__tikv_bo_sleep(bo, TIKV_BO_PD_RPC, 0);
            if (rc)
                break;
            continue;
        }
        tikv_loc l = {0};
        for (size_t i = 0; i < n && !rc; i++) {
            const Metapb__Region *r = resp->n_regions ? resp->regions[i]->region : resp->region_metas[i];
            const Metapb__Peer *ld = resp->n_regions ? resp->regions[i]->leader
                                                     : (i < resp->n_leaders ? resp->leaders[i] : NULL);
            orbit__tikv_loc_release(&l);
            rc = loc_from_region(t, r, ld, 0, &l);
            if (!rc)
                rc = cache_put(t, &l);
        }
        pdpb__scan_regions_response__free_unpacked(resp, NULL);
        if (rc) {
            orbit__tikv_loc_release(&l);
            break;
        }
        if (l.end_len == 0) {
            *out = l;
            break;
        }
        rc = orbit_buf_set(&from, l.end, l.end_len);
        orbit__tikv_loc_release(&l);
        if (rc)
            break;
    }
    orbit_buf_release(&from);
    return rc;
}

int orbit__tikv_locate_end(tikv *t, tikv_bo *bo, const uint8_t *k, size_t kl, tikv_loc *out)
{
    for (;;) {
        int rc = cache_get(t, k, kl, 1, out);
        if (rc)
            return rc < 0 ? rc : 0;
        if (kl == 0)
            return pd_last_region(t, bo, out);
        rc = pd_lookup(t, bo, 0, k, kl, out);
        if (rc < 0)
            return rc;
        if (rc == 1 && loc_contains_end(out, k, kl))
            return 0;
        if (rc == 1) {
            /* k starts that region: the one before it holds the keys below */
            orbit__tikv_loc_release(out);
            rc = pd_lookup(t, bo, 1, k, kl, out);
            if (rc < 0)
                return rc;
            if (rc == 1 && loc_contains_end(out, k, kl))
                return 0;
            if (rc == 1)
                orbit__tikv_loc_release(out);
        }
        orbit__tikv_bo_fail(bo, ORBIT_EUNAVAIL, "PD knows no region below the key yet");
        rc = orbit__tikv_bo_sleep(bo, TIKV_BO_PD_RPC, 0);
        if (rc)
            return rc;
    }
}

/* ---- grouping ------------------------------------------------------------------- */

void orbit__tikv_groups_free(tikv_group *g, size_t n)
{
    if (!g)
        return;
    for (size_t i = 0; i < n; i++) {
        orbit__tikv_loc_release(&g[i].loc);
        free(g[i].idx);
    }
    free(g);
}

static _Thread_local const orbit_slice *sort_keys;

static int idx_cmp(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = orbit__key_cmp(sort_keys[i].data, sort_keys[i].len, sort_keys[j].data, sort_keys[j].len);
    if (c)
        return c;
    return i < j ? -1 : i > j;
}

/* Group the given indices (any order) by region. */
static int group_idx(tikv *t, tikv_bo *bo, const orbit_slice *keys, size_t *order, size_t n,
                     tikv_group **groups, size_t *ngroups)
{
    *groups = NULL;
    *ngroups = 0;
    sort_keys = keys;
    qsort(order, n, sizeof *order, idx_cmp);
    tikv_group *g = NULL;
    size_t ng = 0, cap = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc;) {
        if (ng == cap) {
            size_t nc = cap ? cap * 2 : 8;
            tikv_group *x = realloc(g, nc * sizeof *x);
            if (!x) {
                rc = ORBIT_ENOMEM;
                break;
            }
            g = x;
            cap = nc;
        }
        tikv_group *cur = &g[ng];
        memset(cur, 0, sizeof *cur);
        rc = orbit__tikv_locate(t, bo, keys[order[i]].data, keys[order[i]].len, &cur->loc);
        if (rc)
            break;
        size_t j = i;
        while (j < n && orbit__tikv_loc_contains(&cur->loc, keys[order[j]].data, keys[order[j]].len))
            j++;
        cur->idx = malloc((j - i) * sizeof *cur->idx);
        if (!cur->idx) {
            orbit__tikv_loc_release(&cur->loc);
            rc = ORBIT_ENOMEM;
            break;
        }
        memcpy(cur->idx, order + i, (j - i) * sizeof *cur->idx);
        cur->n = j - i;
        ng++;
        i = j;
    }
    if (rc) {
        orbit__tikv_groups_free(g, ng);
        return rc;
    }
    *groups = g;
    *ngroups = ng;
    return ORBIT_OK;
}

int orbit__tikv_group_keys(tikv *t, tikv_bo *bo, size_t n, const orbit_slice *keys, tikv_group **groups,
                           size_t *ngroups)
{
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!order)
        return ORBIT_ENOMEM;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    int rc = group_idx(t, bo, keys, order, n, groups, ngroups);
    free(order);
    return rc;
}

/* ---- region errors --------------------------------------------------------------- */

static int read_varint(const uint8_t *p, size_t len, size_t *at, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*at >= len)
            return -1;
        uint8_t b = p[(*at)++];
        x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

int orbit__tikv_region_error(const uint8_t *resp, size_t len, Errorpb__Error **err)
{
    *err = NULL;
    size_t at = 0;
    while (at < len) {
        uint64_t tag, v;
        if (read_varint(resp, len, &at, &tag))
            return orbit_error_set(ORBIT_EPROTO, "tikv: malformed response (tag)");
        uint32_t field = (uint32_t)(tag >> 3), wt = (uint32_t)(tag & 7);
        switch (wt) {
        case 0:
            if (read_varint(resp, len, &at, &v))
                return orbit_error_set(ORBIT_EPROTO, "tikv: malformed response (varint)");
            break;
        case 1:
            at += 8;
            break;
        case 5:
            at += 4;
            break;
        case 2:
            if (read_varint(resp, len, &at, &v) || v > len - at)
                return orbit_error_set(ORBIT_EPROTO, "tikv: malformed response (length)");
            if (field == 1) {
                /* the last occurrence wins in protobuf; TiKV sends one */
                if (*err)
                    errorpb__error__free_unpacked(*err, NULL);
                *err = errorpb__error__unpack(NULL, (size_t)v, resp + at);
                if (!*err)
                    return orbit_error_set(ORBIT_EPROTO, "tikv: malformed region_error");
            }
            at += (size_t)v;
            break;
        default:
            if (*err) {
                errorpb__error__free_unpacked(*err, NULL);
                *err = NULL;
            }
            return orbit_error_set(ORBIT_EPROTO, "tikv: malformed response (wire type %u)", wt);
        }
        if (at > len) {
            if (*err) {
                errorpb__error__free_unpacked(*err, NULL);
                *err = NULL;
            }
            return orbit_error_set(ORBIT_EPROTO, "tikv: truncated response");
        }
    }
    return ORBIT_OK;
}

/* ---- the send loop ------------------------------------------------------------------ */

#define MAX_PARALLEL 64

enum { T_PENDING, T_INFLIGHT, T_DONE, T_FAILED };

typedef struct stask {
    tikv_loc loc;
    size_t *idx; /* owned */
    size_t n;
    orbit_buf lo, hi; /* range tasks */
    unsigned attempt;
    int state;
    /* the answer of the current attempt, written by the completion thread */
    int rc;
    orbit_buf resp;
    char detail[320];
    struct sloop *loop;
} stask;

typedef struct sloop {
    tikv *t;
    tikv_bo *bo;
    const tikv_call *call;
    const orbit_slice *keys; /* keys mode; NULL: range mode */
    int one, reverse;        /* send_range_one, and its direction */
    const uint8_t *olo, *ohi; /* send_range_one: the caller's whole range */
    size_t olo_len, ohi_len;
    stask **tasks;
    size_t n, cap;
    int maybe_sent; /* a write may have reached a store */
    int rc;         /* the first failure */
    pthread_mutex_t m;
    pthread_cond_t cv;
    size_t waiting;
} sloop;

static void stask_free(stask *s)
{
    orbit__tikv_loc_release(&s->loc);
    free(s->idx);
    orbit_buf_release(&s->lo);
    orbit_buf_release(&s->hi);
    orbit_buf_release(&s->resp);
    free(s);
}

static stask *loop_add(sloop *L)
{
    if (L->n == L->cap) {
        size_t nc = L->cap ? L->cap * 2 : 8;
        stask **x = realloc(L->tasks, nc * sizeof *x);
        if (!x)
            return NULL;
        L->tasks = x;
        L->cap = nc;
    }
    stask *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    orbit_buf_init(&s->lo);
    orbit_buf_init(&s->hi);
    orbit_buf_init(&s->resp);
    s->loop = L;
    s->attempt = 1;
    L->tasks[L->n++] = s;
    return s;
}

static size_t weight_of(const sloop *L, size_t idx)
{
    if (L->call->weight)
        return L->call->weight(L->call->arg, idx);
    return L->keys[idx].len;
}

/* Add tasks for the given key indices (any order), regrouped by region and
 * cut by the per-task budgets. attempt: the attempt number they carry. */
static int add_key_tasks(sloop *L, size_t *idx, size_t n, unsigned attempt)
{
    tikv_group *g = NULL;
    size_t ng = 0;
    int rc = group_idx(L->t, L->bo, L->keys, idx, n, &g, &ng);
    if (rc)
        return rc;
    size_t max_keys = L->call->max_keys ? L->call->max_keys : L->t->o.max_batch_size;
    if (!max_keys || (L->t->o.max_batch_size && max_keys > L->t->o.max_batch_size))
        max_keys = L->t->o.max_batch_size ? L->t->o.max_batch_size : 1000;
    for (size_t gi = 0; gi < ng && !rc; gi++) {
        for (size_t i = 0; i < g[gi].n && !rc;) {
            size_t j = i, bytes = 0;
            while (j < g[gi].n && j - i < max_keys) {
                size_t w = weight_of(L, g[gi].idx[j]);
                if (j > i && L->call->max_bytes && bytes + w > L->call->max_bytes)
                    break;
                bytes += w;
                j++;
            }
            stask *s = loop_add(L);
            if (!s) {
                rc = ORBIT_ENOMEM;
                break;
            }
            s->attempt = attempt;
            s->idx = malloc((j - i) * sizeof *s->idx);
            if (!s->idx || orbit__tikv_loc_copy(&s->loc, &g[gi].loc)) {
                rc = ORBIT_ENOMEM;
                break;
            }
            memcpy(s->idx, g[gi].idx + i, (j - i) * sizeof *s->idx);
            s->n = j - i;
            i = j;
        }
    }
    orbit__tikv_groups_free(g, ng);
    return rc;
}

/* Add tasks covering [lo, hi) region by region (forward). */
static int add_range_tasks(sloop *L, const uint8_t *lo, size_t lo_len, const uint8_t *hi, size_t hi_len,
                           unsigned attempt)
{
    orbit_buf cur;
    orbit_buf_init(&cur);
    int rc = lo_len ? orbit_buf_set(&cur, lo, lo_len) : 0;
    for (int first = 1; !rc; first = 0) {
        if (!first && cur.len == 0)
            break; /* the previous region had no end */
        if (hi_len && cur.len && orbit__key_cmp(cur.data, cur.len, hi, hi_len) >= 0)
            break;
        stask *s = loop_add(L);
        if (!s) {
            rc = ORBIT_ENOMEM;
            break;
        }
        s->attempt = attempt;
        rc = orbit__tikv_locate(L->t, L->bo, cur.data, cur.len, &s->loc);
        if (rc)
            break;
        if (cur.len)
            rc = orbit_buf_set(&s->lo, cur.data, cur.len);
        const uint8_t *e = s->loc.end;
        size_t el = s->loc.end_len;
        int clip = hi_len && (el == 0 || orbit__key_cmp(hi, hi_len, e, el) < 0);
        if (!rc && clip)
            rc = orbit_buf_set(&s->hi, hi, hi_len);
        else if (!rc && el)
            rc = orbit_buf_set(&s->hi, e, el);
        if (rc || clip || el == 0)
            break;
        rc = orbit_buf_set(&cur, e, el);
    }
    orbit_buf_release(&cur);
    return rc;
}

/* The single task of send_range_one: the region at the start (forward) or
 * just below the end (reverse) of [lo, hi). */
static int add_one_task(sloop *L, const uint8_t *lo, size_t lo_len, const uint8_t *hi, size_t hi_len,
                        unsigned attempt)
{
    stask *s = loop_add(L);
    if (!s)
        return ORBIT_ENOMEM;
    s->attempt = attempt;
    int rc = L->reverse ? orbit__tikv_locate_end(L->t, L->bo, hi, hi_len, &s->loc)
                            : orbit__tikv_locate(L->t, L->bo, lo, lo_len, &s->loc);
    if (rc)
        return rc;
    /* clip to the region */
    const uint8_t *clo = lo, *chi = hi;
    size_t clo_len = lo_len, chi_len = hi_len;
    if (s->loc.start_len && (lo_len == 0 || orbit__key_cmp(lo, lo_len, s->loc.start, s->loc.start_len) < 0)) {
        clo = s->loc.start;
        clo_len = s->loc.start_len;
    }
    if (s->loc.end_len && (hi_len == 0 || orbit__key_cmp(s->loc.end, s->loc.end_len, hi, hi_len) < 0)) {
        chi = s->loc.end;
        chi_len = s->loc.end_len;
    }
    if (clo_len)
        rc = orbit_buf_set(&s->lo, clo, clo_len);
    if (!rc && chi_len)
        rc = orbit_buf_set(&s->hi, chi, chi_len);
    return rc;
}

/* The tasks of send_range_window: up to max regions of [lo, hi) in scan
 * order, each clipped to the range. *last: the window reaches the range's
 * far end; else edge holds the window's far bound (forward: the exclusive
 * end of its last region; reverse: the start of its lowest region). */
static int add_window_tasks(sloop *L, const uint8_t *lo, size_t lo_len, const uint8_t *hi, size_t hi_len,
                            int reverse, size_t max, orbit_buf *edge, int *last)
{
    orbit_buf cur;
    orbit_buf_init(&cur);
    int rc = 0;
    *last = 0;
    if (!reverse && lo_len)
        rc = orbit_buf_set(&cur, lo, lo_len);
    else if (reverse && hi_len)
        rc = orbit_buf_set(&cur, hi, hi_len);
    for (size_t n = 0; !rc; n++) {
        if (n == max) {
            rc = orbit_buf_set(edge, cur.data, cur.len);
            break;
        }
        stask *s = loop_add(L);
        if (!s) {
            rc = ORBIT_ENOMEM;
            break;
        }
        if (!reverse) {
            rc = orbit__tikv_locate(L->t, L->bo, cur.data, cur.len, &s->loc);
            if (rc)
                break;
            if (cur.len)
                rc = orbit_buf_set(&s->lo, cur.data, cur.len);
            const uint8_t *e = s->loc.end;
            size_t el = s->loc.end_len;
            int clip = hi_len && (el == 0 || orbit__key_cmp(hi, hi_len, e, el) <= 0);
            if (!rc && clip)
                rc = orbit_buf_set(&s->hi, hi, hi_len);
            else if (!rc && el)
                rc = orbit_buf_set(&s->hi, e, el);
            if (!rc && (clip || el == 0)) {
                *last = 1;
                break;
            }
            if (!rc)
                rc = orbit_buf_set(&cur, e, el);
        } else {
            /* cur.len 0 (no upper bound yet): the last region */
            rc = orbit__tikv_locate_end(L->t, L->bo, cur.data, cur.len, &s->loc);
            if (rc)
                break;
            if (cur.len)
                rc = orbit_buf_set(&s->hi, cur.data, cur.len);
            const uint8_t *b = s->loc.start;
            size_t bl = s->loc.start_len;
            int clip = lo_len && (bl == 0 || orbit__key_cmp(lo, lo_len, b, bl) >= 0);
            if (!rc && clip)
                rc = orbit_buf_set(&s->lo, lo, lo_len);
            else if (!rc && bl)
                rc = orbit_buf_set(&s->lo, b, bl);
            if (!rc && (clip || bl == 0)) {
                *last = 1;
                break;
            }
            if (!rc)
                rc = orbit_buf_set(&cur, b, bl);
        }
    }
    orbit_buf_release(&cur);
    return rc;
}

static void on_answer(void *arg, int rc, const char *detail, const uint8_t *resp, size_t len)
{
    stask *s = arg;
    sloop *L = s->loop;
    s->rc = rc;
    if (rc == 0 && orbit_buf_set(&s->resp, resp, len) != ORBIT_OK) {
        s->rc = ORBIT_ENOMEM;
        detail = "no memory for the response";
    }
    snprintf(s->detail, sizeof s->detail, "%s", detail ? detail : "");
    pthread_mutex_lock(&L->m);
    if (--L->waiting == 0)
        pthread_cond_signal(&L->cv);
    pthread_mutex_unlock(&L->m);
}

/* Build and start task s. 0 started (on_answer will run); else s->rc holds
 * the failure (the transport's store lookup or the builder's error). */
static int start_task(sloop *L, stask *s, orbit_buf *req)
{
    tikv *t = L->t;
    orbit__rpc *rpc = NULL;
    int rc = orbit__tikv_store_rpc(t, L->bo, s->loc.leader.store_id, &rpc);
    if (rc) {
        s->rc = rc;
        snprintf(s->detail, sizeof s->detail, "%s", orbit_last_error_detail());
        return rc;
    }
    Kvrpcpb__Context ctx = KVRPCPB__CONTEXT__INIT;
    Metapb__RegionEpoch ep = METAPB__REGION_EPOCH__INIT;
    Metapb__Peer peer = METAPB__PEER__INIT;
    ep.conf_ver = s->loc.conf_ver;
    ep.version = s->loc.version;
    peer.id = s->loc.leader.id;
    peer.store_id = s->loc.leader.store_id;
    ctx.region_id = s->loc.region_id;
    ctx.region_epoch = &ep;
    ctx.peer = &peer;
    ctx.is_retry_request = s->attempt > 1;
    uint32_t left = orbit__tikv_bo_left_ms(L->bo);
    ctx.max_execution_duration_ms = left;
    tikv_task task = {&s->loc, s->idx, s->n, s->lo.data, s->lo.len, s->hi.data, s->hi.len, s->attempt};
    req->len = 0;
    rc = L->call->build(L->call->arg, &task, &ctx, req);
    if (rc) {
        s->rc = rc;
        snprintf(s->detail, sizeof s->detail, "%s", orbit_last_error_detail());
        return rc;
    }
    if (left == 0) {
        s->rc = L->bo->last_rc ? L->bo->last_rc : ORBIT_ETIMEDOUT;
        snprintf(s->detail, sizeof s->detail, "deadline passed: %s", L->bo->last);
        return s->rc;
    }
    orbit__rpc_call_opts o = {0};
    o.timeout_ms = left;
    o.endpoint = 0;
    /* a write's maybe-sent failure comes back as EUNCERTAIN; a read's
     * needs no such care (on_send_fail resends it either way) */
    o.idempotent = (L->call->flags & TIKV_CALL_WRITE) ? ORBIT__RPC_WRITE : 0;
    pthread_mutex_lock(&L->m);
    L->waiting++;
    pthread_mutex_unlock(&L->m);
    s->state = T_INFLIGHT;
    orbit__tikv_count(t, L->call->kind);
    rc = orbit__rpc_start(rpc, L->call->method, req->data, req->len, &o, on_answer, s);
    if (rc) {
        pthread_mutex_lock(&L->m);
        L->waiting--;
        pthread_mutex_unlock(&L->m);
        s->state = T_PENDING;
        s->rc = rc;
        snprintf(s->detail, sizeof s->detail, "%s", orbit_last_error_detail());
    }
    return rc;
}

/* What a round decided for a task. */
enum { A_DONE, A_FAIL, A_RESEND, A_RELOCATE };

static void count_rerr(tikv *t, tikv_rerr_kind k)
{
    atomic_fetch_add(&t->n_rerr[k], 1);
}

/* Insert EpochNotMatch's current regions (decoded) into the cache. */
static void apply_epoch(tikv *t, const Errorpb__EpochNotMatch *e, uint64_t store)
{
    for (size_t i = 0; i < e->n_current_regions; i++) {
        tikv_loc l;
        if (loc_from_region(t, e->current_regions[i], NULL, store, &l) == 0) {
            (void)cache_put(t, &l);
            orbit__tikv_loc_release(&l);
        }
    }
}

/* Judge a region error: the action, and the backoff to take (kind, or -1). */
static int on_region_error(sloop *L, stask *s, const Errorpb__Error *e, int *bo_kind, uint32_t *hint)
{
    tikv *t = L->t;
    *bo_kind = -1;
    *hint = 0;
    const char *msg = e->message ? e->message : "";
    orbit__tikv_bo_fail(L->bo, ORBIT_EUNAVAIL, "%s: region %llu: %s", L->call->method,
                        (unsigned long long)s->loc.region_id, msg[0] ? msg : "region error");
    if (e->not_leader) {
        count_rerr(t, TIKV_RERR_NOT_LEADER);
        const Metapb__Peer *ld = e->not_leader->leader;
        if (ld && ld->id && ld->store_id) {
            tikv_peer p = {ld->id, ld->store_id};
            int same = p.id == s->loc.leader.id && p.store_id == s->loc.leader.store_id;
            cache_set_leader(t, &s->loc, p);
            s->loc.leader = p;
            if (same)
                *bo_kind = TIKV_BO_REGION_SCHEDULING;
            return A_RESEND;
        }
        orbit__tikv_region_invalidate(t, s->loc.region_id);
        *bo_kind = TIKV_BO_REGION_SCHEDULING;
        return A_RELOCATE;
    }
    if (e->epoch_not_match) {
        count_rerr(t, TIKV_RERR_EPOCH_NOT_MATCH);
        orbit__tikv_region_invalidate(t, s->loc.region_id);
        if (e->epoch_not_match->n_current_regions == 0) {
            *bo_kind = TIKV_BO_REGION_MISS;
            return A_RELOCATE;
        }
        /* TiKV's epoch older than ours: it is catching up; wait a little */
        for (size_t i = 0; i < e->epoch_not_match->n_current_regions; i++) {
            const Metapb__Region *r = e->epoch_not_match->current_regions[i];
            if (r->id == s->loc.region_id && r->region_epoch &&
                (r->region_epoch->version < s->loc.version || r->region_epoch->conf_ver < s->loc.conf_ver)) {
                *bo_kind = TIKV_BO_REGION_MISS;
                return A_RELOCATE;
            }
        }
        apply_epoch(t, e->epoch_not_match, s->loc.leader.store_id);
        return A_RELOCATE;
    }
    if (e->region_not_found) {
        count_rerr(t, TIKV_RERR_REGION_NOT_FOUND);
        orbit__tikv_region_invalidate(t, s->loc.region_id);
        *bo_kind = TIKV_BO_REGION_MISS;
        return A_RELOCATE;
    }
    if (e->key_not_in_region) {
        count_rerr(t, TIKV_RERR_KEY_NOT_IN_REGION);
        orbit__tikv_region_invalidate(t, s->loc.region_id);
        *bo_kind = TIKV_BO_REGION_MISS;
        return A_RELOCATE;
    }
    if (e->store_not_match) {
        count_rerr(t, TIKV_RERR_STORE_NOT_MATCH);
        orbit__tikv_store_invalidate(t, s->loc.leader.store_id);
        cache_drop_store(t, s->loc.leader.store_id);
        orbit__tikv_region_invalidate(t, s->loc.region_id);
        *bo_kind = TIKV_BO_REGION_MISS;
        return A_RELOCATE;
    }
    if (e->stale_command) {
        count_rerr(t, TIKV_RERR_STALE_COMMAND);
        *bo_kind = TIKV_BO_STALE_CMD;
        return A_RESEND;
    }
    if (e->server_is_busy) {
        count_rerr(t, TIKV_RERR_SERVER_IS_BUSY);
        orbit__tikv_bo_fail(L->bo, ORBIT_EBUSY, "%s: store %llu is busy: %s", L->call->method,
                            (unsigned long long)s->loc.leader.store_id,
                            e->server_is_busy->reason && e->server_is_busy->reason[0] ? e->server_is_busy->reason
                                                                                       : msg);
        *bo_kind = TIKV_BO_SERVER_BUSY;
        *hint = (uint32_t)(e->server_is_busy->backoff_ms < 60000 ? e->server_is_busy->backoff_ms : 60000);
        return A_RESEND;
    }
    if (e->raft_entry_too_large) {
        count_rerr(t, TIKV_RERR_OTHER);
        orbit_error_set(ORBIT_ETOOBIG, "%s: the request is over TiKV's raft entry limit (%llu bytes): %s",
                        L->call->method, (unsigned long long)e->raft_entry_too_large->entry_size, msg);
        s->rc = ORBIT_ETOOBIG;
        snprintf(s->detail, sizeof s->detail, "%s", orbit_last_error_detail());
        return A_FAIL;
    }
    if (e->max_timestamp_not_synced) {
        count_rerr(t, TIKV_RERR_MAX_TS_NOT_SYNCED);
        *bo_kind = TIKV_BO_MAX_TS_NOT_SYNCED;
        return A_RESEND;
    }
    count_rerr(t, TIKV_RERR_OTHER);
    if (e->read_index_not_ready || e->proposal_in_merging_mode) {
        *bo_kind = TIKV_BO_REGION_SCHEDULING;
        return A_RESEND;
    }
    if (e->region_not_initialized) {
        *bo_kind = TIKV_BO_REGION_NOT_INIT;
        return A_RESEND;
    }
    if (e->disk_full) {
        orbit__tikv_bo_fail(L->bo, ORBIT_ENOSPACE, "%s: a store's disk is full: %s", L->call->method, msg);
        *bo_kind = TIKV_BO_DISK_FULL;
        return A_RESEND;
    }
    if (e->undetermined_result) {
        s->rc = ORBIT_EUNCERTAIN;
        snprintf(s->detail, sizeof s->detail, "%s: outcome undetermined: %s", L->call->method,
                 e->undetermined_result->message ? e->undetermined_result->message : msg);
        return A_FAIL;
    }
    if (e->flashbackinprogress || e->flashbacknotprepared) {
        s->rc = ORBIT_EUNAVAIL;
        snprintf(s->detail, sizeof s->detail, "%s: region %llu is in flashback: %s", L->call->method,
                 (unsigned long long)s->loc.region_id, msg);
        return A_FAIL;
    }
    orbit__tikv_region_invalidate(t, s->loc.region_id);
    *bo_kind = TIKV_BO_REGION_MISS;
    return A_RELOCATE;
}

/* Judge a transport failure. */
static int on_send_fail(sloop *L, stask *s, int *bo_kind)
{
    tikv *t = L->t;
    count_rerr(t, TIKV_RERR_SEND_FAIL);
    int maybe = s->rc == ORBIT_EUNCERTAIN || s->rc == ORBIT_ETIMEDOUT;
    *bo_kind = -1;
    int transport = s->rc == ORBIT_EUNAVAIL || maybe || s->rc == ORBIT_ECLOSED || s->rc == ORBIT_EIO;
    if (!transport)
        return A_FAIL; /* an answer that refused the request: INVALID_ARGUMENT... */
    if (maybe && (L->call->flags & TIKV_CALL_WRITE))
        L->maybe_sent = 1;
    if (maybe && !(L->call->flags & TIKV_CALL_RESEND)) {
        if (L->call->flags & TIKV_CALL_WRITE)
            s->rc = ORBIT_EUNCERTAIN;
        return A_FAIL;
    }
    orbit__tikv_bo_fail(L->bo, ORBIT_EUNAVAIL, "%s: store %llu unreachable: %s", L->call->method,
                        (unsigned long long)s->loc.leader.store_id, s->detail);
    orbit__tikv_store_invalidate(t, s->loc.leader.store_id);
    orbit__tikv_region_invalidate(t, s->loc.region_id);
    *bo_kind = TIKV_BO_TIKV_RPC;
    return A_RELOCATE;
}

static void loop_fail(sloop *L, stask *s)
{
    s->state = T_FAILED;
    if (!L->rc) {
        L->rc = s->rc ? s->rc : ORBIT_EINTERNAL;
        orbit_error_set(L->rc, "%s", s->detail);
    }
}

/* Re-add a task's keys or range as new tasks; s is finished. */
static int relocate(sloop *L, stask *s)
{
    s->state = T_DONE;
    unsigned next = s->attempt + 1;
    if (L->keys) {
        size_t *idx = s->idx;
        size_t n = s->n;
        s->idx = NULL;
        s->n = 0;
        int rc = add_key_tasks(L, idx, n, next);
        free(idx);
        return rc;
    }
    if (L->one)
        return add_one_task(L, L->olo, L->olo_len, L->ohi, L->ohi_len, next);
    orbit_buf lo = s->lo, hi = s->hi;
    orbit_buf_init(&s->lo);
    orbit_buf_init(&s->hi);
    int rc = add_range_tasks(L, lo.data, lo.len, hi.data, hi.len, next);
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    return rc;
}

static int run_loop(sloop *L, tikv_loc *done_loc)
{
    tikv *t = L->t;
    orbit_buf *reqs = calloc(MAX_PARALLEL, sizeof *reqs);
    stask **round = calloc(MAX_PARALLEL, sizeof *round);
    if (!reqs || !round) {
        free(reqs);
        free(round);
        return ORBIT_ENOMEM;
    }
    for (size_t i = 0; i < MAX_PARALLEL; i++)
        orbit_buf_init(&reqs[i]);
    while (!L->rc) {
        size_t nr = 0;
        for (size_t i = 0; i < L->n && nr < MAX_PARALLEL; i++)
            if (L->tasks[i]->state == T_PENDING)
                round[nr++] = L->tasks[i];
        if (nr == 0)
            break;
        for (size_t i = 0; i < nr; i++)
            if (start_task(L, round[i], &reqs[i]) != 0)
                round[i]->state = T_PENDING; /* judged below, s->rc set */
        pthread_mutex_lock(&L->m);
        while (L->waiting > 0)
            pthread_cond_wait(&L->cv, &L->m);
        pthread_mutex_unlock(&L->m);

        int want[TIKV_BO__COUNT] = {0};
        uint32_t hint[TIKV_BO__COUNT] = {0};
        int err = 0;
        for (size_t i = 0; i < nr && !err; i++) {
            stask *s = round[i];
            int action, kind = -1;
            uint32_t h = 0;
            if (s->rc) {
                if (s->state != T_INFLIGHT && s->rc != ORBIT_EUNAVAIL) {
                    /* never started: a builder error, or no store */
                    action = A_FAIL;
                } else {
                    action = on_send_fail(L, s, &kind);
                }
            } else {
                Errorpb__Error *re = NULL;
                int rc = orbit__tikv_region_error(s->resp.data, s->resp.len, &re);
                if (rc) {
                    s->rc = rc;
                    snprintf(s->detail, sizeof s->detail, "%s", orbit_last_error_detail());
                    action = A_FAIL;
                } else if (re) {
                    action = on_region_error(L, s, re, &kind, &h);
                    errorpb__error__free_unpacked(re, NULL);
                } else {
                    tikv_task task = {&s->loc, s->idx, s->n, s->lo.data, s->lo.len, s->hi.data, s->hi.len,
                                      s->attempt};
                    orbit_error_clear();
                    rc = L->call->handle(L->call->arg, &task, s->resp.data, s->resp.len);
                    if (rc == 0) {
                        action = A_DONE;
                        if (done_loc) {
                            orbit__tikv_loc_release(done_loc);
                            if (orbit__tikv_loc_copy(done_loc, &s->loc))
                                rc = ORBIT_ENOMEM;
                        }
                    } else if (rc == TIKV_RETRY) {
                        action = A_RELOCATE;
                    } else if (rc == TIKV_RETRY_BACKOFF) {
                        action = A_RELOCATE;
                        kind = TIKV_BO_REGION_MISS;
                    } else {
                        action = A_FAIL;
                    }
                    if (rc < 0) {
                        s->rc = rc;
                        snprintf(s->detail, sizeof s->detail, "%s", orbit_last_error_detail());
                        action = A_FAIL;
                    }
                }
            }
            if (kind >= 0) {
                want[kind] = 1;
                if (h > hint[kind])
                    hint[kind] = h;
            }
            switch (action) {
            case A_DONE: s->state = T_DONE; break;
            case A_FAIL: loop_fail(L, s); err = 1; break;
            case A_RESEND:
                s->state = T_PENDING;
                s->attempt++;
                s->rc = 0;
                break;
            case A_RELOCATE:
                s->state = -A_RELOCATE; /* re-added after the round's backoffs */
                s->rc = 0;
                break;
            }
        }
        /* the round's backoffs, then the re-locations (which may consult PD) */
        for (int k = 0; k < TIKV_BO__COUNT && !L->rc; k++) {
            if (!want[k])
                continue;
            int rc = orbit__tikv_bo_sleep(L->bo, (tikv_bo_kind)k, hint[k]);
            if (rc) {
                L->rc = rc;
                if (L->maybe_sent && (L->call->flags & TIKV_CALL_WRITE) && rc != ORBIT_EUNCERTAIN)
                    L->rc = orbit_error_set(ORBIT_EUNCERTAIN,
                                            "outcome unknown: an earlier attempt may have been applied; %s",
                                            orbit_last_error_detail());
            }
        }
        for (size_t i = 0; i < L->n && !L->rc; i++) {
            stask *s = L->tasks[i];
            if (s->state != -A_RELOCATE)
                continue;
            int rc = relocate(L, s);
            if (rc) {
                L->rc = rc;
                if (L->maybe_sent && (L->call->flags & TIKV_CALL_WRITE) && rc != ORBIT_EUNCERTAIN)
                    L->rc = orbit_error_set(ORBIT_EUNCERTAIN,
                                            "outcome unknown: an earlier attempt may have been applied; %s",
                                            orbit_last_error_detail());
            }
        }
        /* keep the task list short: drop finished tasks */
        size_t w = 0;
        for (size_t i = 0; i < L->n; i++) {
            stask *s = L->tasks[i];
            if (s->state == T_DONE || s->state == -A_RELOCATE)
                stask_free(s);
            else
                L->tasks[w++] = s;
        }
        L->n = w;
        (void)t;
    }
    for (size_t i = 0; i < MAX_PARALLEL; i++)
        orbit_buf_release(&reqs[i]);
    free(reqs);
    free(round);
    return L->rc;
}

static void loop_init(sloop *L, tikv *t, tikv_bo *bo, const tikv_call *call)
{
    memset(L, 0, sizeof *L);
    L->t = t;
    L->bo = bo;
    L->call = call;
    pthread_mutex_init(&L->m, NULL);
    pthread_cond_init(&L->cv, NULL);
}

static void loop_release(sloop *L)
{
    for (size_t i = 0; i < L->n; i++)
        stask_free(L->tasks[i]);
    free(L->tasks);
    pthread_cond_destroy(&L->cv);
    pthread_mutex_destroy(&L->m);
}

int orbit__tikv_send_keys(tikv *t, tikv_bo *bo, size_t n, const orbit_slice *keys, const tikv_call *call)
{
    if (n == 0)
        return ORBIT_OK;
    sloop L;
    loop_init(&L, t, bo, call);
    L.keys = keys;
    size_t *idx = malloc(n * sizeof *idx);
    int rc = idx ? 0 : ORBIT_ENOMEM;
    if (!rc) {
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        rc = add_key_tasks(&L, idx, n, 1);
        free(idx);
    }
    if (!rc)
        rc = run_loop(&L, NULL);
    loop_release(&L);
    return rc;
}

int orbit__tikv_send_key(tikv *t, tikv_bo *bo, const uint8_t *k, size_t kl, const tikv_call *call)
{
    orbit_slice s = {k, kl};
    return orbit__tikv_send_keys(t, bo, 1, &s, call);
}

int orbit__tikv_send_range(tikv *t, tikv_bo *bo, const uint8_t *lo, size_t lo_len, const uint8_t *hi,
                           size_t hi_len, const tikv_call *call)
{
    sloop L;
    loop_init(&L, t, bo, call);
    int rc = add_range_tasks(&L, lo, lo_len, hi, hi_len, 1);
    if (!rc)
        rc = run_loop(&L, NULL);
    loop_release(&L);
    return rc;
}

int orbit__tikv_send_range_one(tikv *t, tikv_bo *bo, const uint8_t *lo, size_t lo_len, const uint8_t *hi,
                               size_t hi_len, int reverse, const tikv_call *call, tikv_loc *done_loc)
{
    sloop L;
    loop_init(&L, t, bo, call);
    L.one = 1;
    L.reverse = reverse ? 1 : 0;
    L.olo = lo;
    L.olo_len = lo_len;
    L.ohi = hi;
    L.ohi_len = hi_len;
    int rc = add_one_task(&L, lo, lo_len, hi, hi_len, 1);
    tikv_loc got = {0};
    if (!rc)
        rc = run_loop(&L, &got);
    if (!rc && done_loc) {
        orbit__tikv_loc_release(done_loc);
        *done_loc = got;
    } else {
        orbit__tikv_loc_release(&got);
    }
    loop_release(&L);
    return rc;
}

int orbit__tikv_send_range_window(tikv *t, tikv_bo *bo, const uint8_t *lo, size_t lo_len, const uint8_t *hi,
                                  size_t hi_len, int reverse, size_t max_regions, const tikv_call *call,
                                  orbit_buf *edge, int *last)
{
    sloop L;
    loop_init(&L, t, bo, call);
    if (max_regions == 0)
        max_regions = 1;
    if (max_regions > MAX_PARALLEL)
        max_regions = MAX_PARALLEL;
    int rc = add_window_tasks(&L, lo, lo_len, hi, hi_len, reverse ? 1 : 0, max_regions, edge, last);
    if (!rc)
        rc = run_loop(&L, NULL);
    loop_release(&L);
    return rc;
}
