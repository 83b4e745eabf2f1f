/*
 * The storage manager (orbit/manager.h): named stores, actor placement,
 * the placement catalog and its in-memory cache.
 *
 * Sits above the contract (orbit/kv.h), the codecs and the catalog
 * (orbit/catalog.h, src/model): it opens stores, allocates keyspace ids
 * with orbit_catalog_keyspace, and reads and writes placement records
 * through orbit_kv_*.
 *
 * Invariants:
 *   - a provider entry, once added, is never moved or freed before
 *     orbit_manager_free, so cache entries and callers may hold pointers to
 *     it (and to its name, store and capabilities) without a lock;
 *   - the catalog is the truth and the cache only ever holds placements
 *     read from or stored in it, so dropping cache entries is always safe
 *     (a full shard is simply emptied). Nothing changes a stored placement
 *     yet, so a cached one never goes stale; online migration will have to
 *     invalidate entries when it moves an actor;
 *   - a placement record is written only by insert-if-absent, so every
 *     resolver of one actor ends up with the record inserted first; an
 *     uncertain insert is read back, never counted as retryable;
 *   - once an actor was resolved the default provider is fixed, because
 *     the catalog lives there.
 * Locks, in this order: `cb` (rwlock, writer-preferring) guards the custom
 * callback and its argument together with the strategy: a resolver holds
 * it for reading from reading the strategy until the callback returned,
 * and set_custom / set_strategy take it for writing, so they wait for
 * callbacks in flight and a replaced (fn, arg) pair is never called after
 * the replacing call returned. `cfg` (rwlock) guards the provider list,
 * default, routes, pattern settings and the volatile-catalog switch; each
 * cache shard has its own rwlock. No lock is held while a store is
 * accessed, cfg is never held while the callback runs, and a shard lock is
 * never held with another lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "orbit/catalog.h"
#include "orbit/codec.h"
#include "orbit/manager.h"
#include "orbit/provider.h"
#include "orbit/record.h"

#define PLACEMENT_KIND "placement"
/* Schema 2: the tuple payload with keyspace and state (orbit/manager.h).
 * Schema 1 (a bare provider name, before keyspaces) is not read. */
#define PLACEMENT_SCHEMA 2
#define NSHARDS 16
/* Cache entries per shard before the shard is emptied. */
#define SHARD_MAX (1u << 14)
/* Attempts at an operation that keeps meeting retryable errors or
 * uncertain outcomes. */
#define RESOLVE_ATTEMPTS 100
/* Placement records read per page when listing. */
#define LIST_PAGE 128

typedef struct prov {
    char *name;
    char *uri;
    orbit_kv *kv;
    orbit_capabilities caps;
} prov;

typedef struct route {
    char *type;
    char *name;
} route;

/* A decoded placement, with its providers looked up. */
typedef struct placed {
    prov *p;      /* source / the provider */
    prov *target; /* MOVING only */
    uint64_t ks;
    uint64_t epoch;
    orbit_placement_state state;
} placed;

typedef struct cache_ent {
    struct cache_ent *next;
    uint64_t hash;
    placed pl;
    size_t klen;
    uint8_t key[]; /* the encoded (type, id) tuple */
} cache_ent;

typedef struct shard {
    pthread_rwlock_t lock;
    cache_ent **buckets;
    size_t nbuckets; /* 0 or a power of two */
    size_t count;
} shard;

struct orbit_manager {
    pthread_rwlock_t cb;  /* fn, fn_arg, strategy (see the top) */
    pthread_rwlock_t cfg;
    prov **provs;
    size_t nprovs, provs_cap;
    size_t def; /* index into provs, meaningful when nprovs > 0 */
    orbit_placement strategy;
    route *routes;
    size_t nroutes, routes_cap;
    orbit_placement_fn fn;
    void *fn_arg;
    size_t pat_threshold; /* 0: the default */
    char *pat_distributed, *pat_embedded; /* NULL: by provider type */
    int allow_volatile;
    atomic_int resolved; /* an actor was resolved: the default is fixed */
    shard shards[NSHARDS];
};

/* ---- small helpers --------------------------------------------------- */

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Provider names go into config files, so they must be single words. */
static int valid_name(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == 0x7f || c == '#')
            return 0;
    }
    return 1;
}

static prov *find_locked(orbit_manager *m, const char *name, size_t n)
{
    for (size_t i = 0; i < m->nprovs; i++) {
        prov *p = m->provs[i];
        if (strlen(p->name) == n && memcmp(p->name, name, n) == 0)
            return p;
    }
    return NULL;
}

static prov *find_prov(orbit_manager *m, const char *name, size_t n)
{
    pthread_rwlock_rdlock(&m->cfg);
    prov *p = find_locked(m, name, n);
    pthread_rwlock_unlock(&m->cfg);
    return p;
}

static void prov_free(prov *p)
{
    if (!p)
        return;
    orbit_kv_close(p->kv);
    free(p->name);
    free(p->uri);
    free(p);
}

static void backoff(unsigned attempt)
{
    unsigned us = attempt < 50 ? 50u * (attempt + 1) : 2500u;
    struct timespec ts = {0, (long)us * 1000L};
    nanosleep(&ts, NULL);
}

/* Re-raise err with context, keeping the detail it came with. */
static int rewrap(int rc, const char *fmt_prefix, const char *type,
                  const char *id)
{
    if (rc >= 0)
        return rc;
    char detail[256];
    snprintf(detail, sizeof detail, "%s", orbit_last_error_detail());
    return orbit_error_set(rc, "%s %s/%s: %s", fmt_prefix, type, id, detail);
}

static const char *consistency_name(orbit_consistency c)
{
    switch (c) {
    case ORBIT_CONSISTENCY_ANY: return "any";
    case ORBIT_CONSISTENCY_DURABLE: return "durable";
    case ORBIT_CONSISTENCY_STRONG: return "strong";
    }
    return "unknown";
}

/* Does provider p satisfy consistency requirement c? */
static int meets(const prov *p, orbit_consistency c)
{
    if (c >= ORBIT_CONSISTENCY_DURABLE && !p->caps.durable)
        return 0;
    if (c >= ORBIT_CONSISTENCY_STRONG &&
        (!p->caps.supports_transactions ||
         !(p->caps.isolation_levels & ORBIT_ISO_BIT(ORBIT_ISO_SNAPSHOT))))
        return 0;
    return 1;
}

/* ---- create / free --------------------------------------------------- */

int orbit_manager_new(orbit_manager **out)
{
    *out = NULL;
    orbit_manager *m = calloc(1, sizeof *m);
    if (!m)
        return orbit_error_set(ORBIT_ENOMEM, "manager");
    /* Writer preference, so a set_custom is not starved by a stream of
     * resolutions of new actors. */
    pthread_rwlockattr_t attr;
    int ok = pthread_rwlockattr_init(&attr) == 0;
    if (ok) {
        pthread_rwlockattr_setkind_np(&attr,
                                      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        ok = pthread_rwlock_init(&m->cb, &attr) == 0;
        pthread_rwlockattr_destroy(&attr);
    }
    if (!ok) {
        free(m);
        return orbit_error_set(ORBIT_ENOMEM, "manager lock");
    }
    if (pthread_rwlock_init(&m->cfg, NULL) != 0) {
        pthread_rwlock_destroy(&m->cb);
        free(m);
        return orbit_error_set(ORBIT_ENOMEM, "manager lock");
    }
    for (size_t i = 0; i < NSHARDS; i++) {
        if (pthread_rwlock_init(&m->shards[i].lock, NULL) != 0) {
            while (i-- > 0)
                pthread_rwlock_destroy(&m->shards[i].lock);
            pthread_rwlock_destroy(&m->cfg);
            pthread_rwlock_destroy(&m->cb);
            free(m);
            return orbit_error_set(ORBIT_ENOMEM, "manager cache lock");
        }
    }
    m->strategy = ORBIT_PLACE_DEFAULT;
    atomic_init(&m->resolved, 0);
    *out = m;
    return ORBIT_OK;
}

static void shard_clear(shard *s)
{
    for (size_t b = 0; b < s->nbuckets; b++) {
        cache_ent *e = s->buckets[b];
        while (e) {
            cache_ent *next = e->next;
            free(e);
            e = next;
        }
        s->buckets[b] = NULL;
    }
    s->count = 0;
}

void orbit_manager_free(orbit_manager *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < NSHARDS; i++) {
        shard_clear(&m->shards[i]);
        free(m->shards[i].buckets);
        pthread_rwlock_destroy(&m->shards[i].lock);
    }
    for (size_t i = 0; i < m->nprovs; i++)
        prov_free(m->provs[i]);
    free(m->provs);
    for (size_t i = 0; i < m->nroutes; i++) {
        free(m->routes[i].type);
        free(m->routes[i].name);
    }
    free(m->routes);
    free(m->pat_distributed);
    free(m->pat_embedded);
    pthread_rwlock_destroy(&m->cfg);
    pthread_rwlock_destroy(&m->cb);
    free(m);
}

/* ---- configuration --------------------------------------------------- */

int orbit_manager_add_provider(orbit_manager *m, const char *name,
                               const char *uri)
{
    if (!valid_name(name))
        return orbit_error_set(ORBIT_EINVAL,
                               "provider name must be a non-empty word "
                               "without spaces or '#'");
    if (!uri)
        return orbit_error_set(ORBIT_EINVAL, "provider %s: no URI", name);
    if (find_prov(m, name, strlen(name)))
        return orbit_error_set(ORBIT_EEXIST, "provider %s is already added",
                               name);

    prov *p = calloc(1, sizeof *p);
    if (!p)
        return orbit_error_set(ORBIT_ENOMEM, "provider %s", name);
    p->name = dupstr(name);
    p->uri = dupstr(uri);
    if (!p->name || !p->uri) {
        prov_free(p);
        return orbit_error_set(ORBIT_ENOMEM, "provider %s", name);
    }
    /* Opening may take a while (a RocksDB recovery); no lock is held. */
    int rc = orbit_kv_open(uri, &p->kv);
    if (rc) {
        p->kv = NULL;
        prov_free(p);
        return rc;
    }
    orbit_kv_capabilities(p->kv, &p->caps);

    pthread_rwlock_wrlock(&m->cfg);
    if (find_locked(m, name, strlen(name))) {
        pthread_rwlock_unlock(&m->cfg);
        prov_free(p);
        return orbit_error_set(ORBIT_EEXIST, "provider %s is already added",
                               name);
    }
    if (m->nprovs == m->provs_cap) {
        size_t cap = m->provs_cap ? m->provs_cap * 2 : 4;
        prov **np = realloc(m->provs, cap * sizeof *np);
        if (!np) {
            pthread_rwlock_unlock(&m->cfg);
            prov_free(p);
            return orbit_error_set(ORBIT_ENOMEM, "provider %s", name);
        }
        m->provs = np;
        m->provs_cap = cap;
    }
    m->provs[m->nprovs++] = p;
    pthread_rwlock_unlock(&m->cfg);
    return ORBIT_OK;
}

int orbit_manager_set_default(orbit_manager *m, const char *name)
{
    if (!name)
        return orbit_error_set(ORBIT_EINVAL, "default provider: no name");
    int rc = ORBIT_OK;
    pthread_rwlock_wrlock(&m->cfg);
    size_t i;
    for (i = 0; i < m->nprovs; i++)
        if (strcmp(m->provs[i]->name, name) == 0)
            break;
    if (i == m->nprovs) {
        rc = orbit_error_set(ORBIT_ENOPROVIDER,
                             "default provider %s is not configured", name);
    } else if (i != m->def && atomic_load(&m->resolved)) {
        rc = orbit_error_set(ORBIT_EINVAL,
                             "the default provider cannot change after "
                             "actors were resolved (it holds the catalog)");
    } else {
        m->def = i;
    }
    pthread_rwlock_unlock(&m->cfg);
    return rc;
}

/* Change the strategy (and the callback with it) with `cb` written, which
 * waits for every callback in flight. */
static void set_strategy_locked_cb(orbit_manager *m, orbit_placement s,
                                   orbit_placement_fn fn, void *arg)
{
    pthread_rwlock_wrlock(&m->cb);
    m->strategy = s;
    m->fn = fn;
    m->fn_arg = arg;
    pthread_rwlock_unlock(&m->cb);
}

int orbit_manager_set_strategy(orbit_manager *m, orbit_placement s)
{
    if (s != ORBIT_PLACE_DEFAULT && s != ORBIT_PLACE_BY_ACTOR_TYPE &&
        s != ORBIT_PLACE_BY_DATA_PATTERN)
        return orbit_error_set(ORBIT_EINVAL,
                               "strategy %d: use orbit_manager_set_custom for "
                               "a custom placement",
                               (int)s);
    set_strategy_locked_cb(m, s, NULL, NULL);
    return ORBIT_OK;
}

int orbit_manager_set_custom(orbit_manager *m, orbit_placement_fn fn,
                             void *arg)
{
    if (!fn)
        return orbit_error_set(ORBIT_EINVAL, "custom placement: no callback");
    set_strategy_locked_cb(m, ORBIT_PLACE_CUSTOM, fn, arg);
    return ORBIT_OK;
}

/* Store pattern settings without selecting the strategy. */
static int set_pattern(orbit_manager *m, const orbit_data_pattern *p)
{
    orbit_data_pattern zero = {0};
    if (!p)
        p = &zero;
    if ((p->distributed && !valid_name(p->distributed)) ||
        (p->embedded && !valid_name(p->embedded)))
        return orbit_error_set(ORBIT_EINVAL,
                               "data pattern: a provider name must be a "
                               "non-empty word without spaces or '#'");
    char *d = p->distributed ? dupstr(p->distributed) : NULL;
    char *e = p->embedded ? dupstr(p->embedded) : NULL;
    if ((p->distributed && !d) || (p->embedded && !e)) {
        free(d);
        free(e);
        return orbit_error_set(ORBIT_ENOMEM, "data pattern");
    }
    pthread_rwlock_wrlock(&m->cfg);
    free(m->pat_distributed);
    free(m->pat_embedded);
    m->pat_distributed = d;
    m->pat_embedded = e;
    m->pat_threshold = p->cross_refs_threshold;
    pthread_rwlock_unlock(&m->cfg);
    return ORBIT_OK;
}

int orbit_manager_set_data_pattern(orbit_manager *m,
                                   const orbit_data_pattern *p)
{
    int rc = set_pattern(m, p);
    if (!rc)
        set_strategy_locked_cb(m, ORBIT_PLACE_BY_DATA_PATTERN, NULL, NULL);
    return rc;
}

int orbit_manager_allow_volatile_catalog(orbit_manager *m, int allow)
{
    pthread_rwlock_wrlock(&m->cfg);
    m->allow_volatile = allow != 0;
    pthread_rwlock_unlock(&m->cfg);
    return ORBIT_OK;
}

int orbit_manager_route(orbit_manager *m, const char *actor_type,
                        const char *name)
{
    if (!actor_type || !*actor_type)
        return orbit_error_set(ORBIT_EINVAL, "route: empty actor type");
    if (!valid_name(name))
        return orbit_error_set(ORBIT_EINVAL,
                               "route %s: provider name must be a non-empty "
                               "word without spaces or '#'",
                               actor_type);
    char *nname = dupstr(name);
    if (!nname)
        return orbit_error_set(ORBIT_ENOMEM, "route %s", actor_type);

    int rc = ORBIT_OK;
    pthread_rwlock_wrlock(&m->cfg);
    for (size_t i = 0; i < m->nroutes; i++) {
        if (strcmp(m->routes[i].type, actor_type) == 0) {
            free(m->routes[i].name);
            m->routes[i].name = nname;
            pthread_rwlock_unlock(&m->cfg);
            return ORBIT_OK;
        }
    }
    char *ntype = dupstr(actor_type);
    if (!ntype) {
        rc = orbit_error_set(ORBIT_ENOMEM, "route %s", actor_type);
        goto fail;
    }
    if (m->nroutes == m->routes_cap) {
        size_t cap = m->routes_cap ? m->routes_cap * 2 : 8;
        route *nr = realloc(m->routes, cap * sizeof *nr);
        if (!nr) {
            free(ntype);
            rc = orbit_error_set(ORBIT_ENOMEM, "route %s", actor_type);
            goto fail;
        }
        m->routes = nr;
        m->routes_cap = cap;
    }
    m->routes[m->nroutes].type = ntype;
    m->routes[m->nroutes].name = nname;
    m->nroutes++;
    pthread_rwlock_unlock(&m->cfg);
    return ORBIT_OK;
fail:
    pthread_rwlock_unlock(&m->cfg);
    free(nname);
    return rc;
}

/* ---- look-ups -------------------------------------------------------- */

int orbit_manager_provider(orbit_manager *m, const char *name, orbit_kv **kv)
{
    prov *p = name ? find_prov(m, name, strlen(name)) : NULL;
    if (!p)
        return orbit_error_set(ORBIT_ENOPROVIDER,
                               "provider %s is not configured",
                               name ? name : "(null)");
    if (kv)
        *kv = p->kv;
    return ORBIT_OK;
}

int orbit_manager_default(orbit_manager *m, orbit_kv **kv, const char **name)
{
    pthread_rwlock_rdlock(&m->cfg);
    prov *p = m->nprovs ? m->provs[m->def] : NULL;
    pthread_rwlock_unlock(&m->cfg);
    if (!p)
        return orbit_error_set(ORBIT_ENOPROVIDER, "no provider configured");
    if (kv)
        *kv = p->kv;
    if (name)
        *name = p->name;
    return ORBIT_OK;
}

size_t orbit_manager_provider_count(orbit_manager *m)
{
    pthread_rwlock_rdlock(&m->cfg);
    size_t n = m->nprovs;
    pthread_rwlock_unlock(&m->cfg);
    return n;
}

const char *orbit_manager_provider_name(orbit_manager *m, size_t i)
{
    pthread_rwlock_rdlock(&m->cfg);
    const char *name = i < m->nprovs ? m->provs[i]->name : NULL;
    pthread_rwlock_unlock(&m->cfg);
    return name;
}

/* ---- the cache ------------------------------------------------------- */

static shard *shard_of(orbit_manager *m, uint64_t h)
{
    return &m->shards[h >> 60 & (NSHARDS - 1)];
}

static int cache_get(orbit_manager *m, uint64_t h, const uint8_t *k,
                     size_t kl, placed *out)
{
    shard *s = shard_of(m, h);
    int hit = 0;
    pthread_rwlock_rdlock(&s->lock);
    if (s->nbuckets) {
        for (cache_ent *e = s->buckets[h & (s->nbuckets - 1)]; e; e = e->next) {
            if (e->hash == h && e->klen == kl && memcmp(e->key, k, kl) == 0) {
                *out = e->pl;
                hit = 1;
                break;
            }
        }
    }
    pthread_rwlock_unlock(&s->lock);
    return hit;
}

/* Double the bucket array; on allocation failure keep the old one (longer
 * chains are only slower). */
static void shard_grow(shard *s)
{
    size_t n = s->nbuckets ? s->nbuckets * 2 : 64;
    cache_ent **nb = calloc(n, sizeof *nb);
    if (!nb)
        return;
    for (size_t b = 0; b < s->nbuckets; b++) {
        cache_ent *e = s->buckets[b];
        while (e) {
            cache_ent *next = e->next;
            e->next = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(s->buckets);
    s->buckets = nb;
    s->nbuckets = n;
}

/* Remember a placement. Failing to allocate only costs a later look-up in
 * the catalog, so it is not an error. */
static void cache_put(orbit_manager *m, uint64_t h, const uint8_t *k,
                      size_t kl, const placed *pl)
{
    shard *s = shard_of(m, h);
    pthread_rwlock_wrlock(&s->lock);
    if (s->count >= SHARD_MAX)
        shard_clear(s);
    if (s->count >= s->nbuckets)
        shard_grow(s);
    if (s->nbuckets == 0)
        goto out;
    size_t b = h & (s->nbuckets - 1);
    for (cache_ent *e = s->buckets[b]; e; e = e->next)
        if (e->hash == h && e->klen == kl && memcmp(e->key, k, kl) == 0)
            goto out;
    cache_ent *e = malloc(sizeof *e + kl);
    if (!e)
        goto out;
    e->hash = h;
    e->pl = *pl;
    e->klen = kl;
    memcpy(e->key, k, kl);
    e->next = s->buckets[b];
    s->buckets[b] = e;
    s->count++;
out:
    pthread_rwlock_unlock(&s->lock);
}

/* ---- placement records ------------------------------------------------ */

/* A placement record as stored, before its providers are looked up. */
typedef struct placement_rec {
    orbit_placement_state state;
    uint64_t ks;
    orbit_buf src, tgt; /* NUL-terminated, len excludes the NUL */
    uint64_t epoch;
    orbit_buf actor_type, actor_id; /* from the record's meta, likewise */
} placement_rec;

static void placement_rec_release(placement_rec *r)
{
    orbit_buf_release(&r->src);
    orbit_buf_release(&r->tgt);
    orbit_buf_release(&r->actor_type);
    orbit_buf_release(&r->actor_id);
}

static int encode_placement(orbit_buf *out, const orbit_buf *key,
                            const char *type, const char *id, uint64_t ks,
                            const char *provider)
{
    orbit_buf p = ORBIT_BUF_INIT;
    int rc = orbit_tuple_int(&p, ORBIT_PLACEMENT_PLACED);
    if (!rc)
        rc = orbit_tuple_int(&p, (int64_t)ks);
    if (!rc)
        rc = orbit_tuple_str(&p, provider);
    uint64_t now = orbit__now_ms();
    orbit_record_meta meta = {
        .model = ORBIT_MODEL_CATALOG,
        .schema_version = PLACEMENT_SCHEMA,
        .created_ms = now,
        .updated_ms = now,
        .actor_type = (const uint8_t *)type,
        .actor_type_len = strlen(type),
        .actor_id = (const uint8_t *)id,
        .actor_id_len = strlen(id),
    };
    out->len = 0;
    if (!rc)
        rc = orbit_record_encode(out, key->data, key->len, &meta, NULL,
                                 p.data, p.len);
    orbit_buf_release(&p);
    return rc ? orbit_error_set(rc, "placement record of %s/%s", type, id)
              : ORBIT_OK;
}

static int bad_record(const uint8_t *key, size_t klen, const char *why)
{
    orbit_buf e = ORBIT_BUF_INIT;
    int erc = orbit_escape(&e, key, klen);
    int rc = orbit_error_set(ORBIT_ECORRUPT, "placement record %.*s: %s",
                             erc ? 0 : (int)e.len,
                             erc ? "" : (const char *)e.data, why);
    orbit_buf_release(&e);
    return rc;
}

/* One element of the payload: an int (out_i) or a byte string (out_b,
 * NUL-terminated and holding no NUL). */
static int payload_elem(const uint8_t *p, size_t n, size_t *pos,
                        int64_t *out_i, orbit_buf *out_b)
{
    orbit_tuple_item it = {0};
    it.bytes_out = out_b;
    if (orbit_tuple_next(p, n, pos, &it) != ORBIT_OK)
        return -1;
    if (out_i) {
        if (it.type != ORBIT_TUPLE_INT)
            return -1;
        *out_i = it.i;
        return 0;
    }
    if (it.type != ORBIT_TUPLE_BYTES || out_b->len == 0 ||
        memchr(out_b->data, 0, out_b->len) || orbit_buf_append(out_b, "", 1))
        return -1;
    out_b->len--;
    return 0;
}

static int decode_placement(const uint8_t *key, size_t klen,
                            const uint8_t *val, size_t vlen, placement_rec *r)
{
    orbit_buf scratch = ORBIT_BUF_INIT;
    orbit_record_meta meta;
    const uint8_t *p;
    size_t n, pos = 0;
    int64_t state = 0, ks = 0, epoch = 0;
    int rc = orbit_record_decode(val, vlen, key, klen, &meta, &scratch, &p, &n);
    if (rc)
        goto done;
    if (meta.model != ORBIT_MODEL_CATALOG) {
        rc = bad_record(key, klen, "not a catalog record");
        goto done;
    }
    if (meta.schema_version != PLACEMENT_SCHEMA) {
        rc = bad_record(key, klen, "unknown placement schema version");
        goto done;
    }
    if (payload_elem(p, n, &pos, &state, NULL) ||
        payload_elem(p, n, &pos, &ks, NULL) ||
        payload_elem(p, n, &pos, NULL, &r->src)) {
        rc = bad_record(key, klen, "malformed payload");
        goto done;
    }
    if (state == ORBIT_PLACEMENT_MOVING) {
        if (payload_elem(p, n, &pos, NULL, &r->tgt) ||
            payload_elem(p, n, &pos, &epoch, NULL) || epoch < 0) {
            rc = bad_record(key, klen, "malformed moving state");
            goto done;
        }
    } else if (state != ORBIT_PLACEMENT_PLACED) {
        rc = bad_record(key, klen, "unknown placement state");
        goto done;
    }
    if (pos != n) {
        rc = bad_record(key, klen, "trailing bytes in the payload");
        goto done;
    }
    if (ks < (int64_t)ORBIT_KEYSPACE_DEFAULT) {
        rc = bad_record(key, klen, "keyspace id out of range");
        goto done;
    }
    if (orbit_buf_set(&r->actor_type, meta.actor_type, meta.actor_type_len) ||
        orbit_buf_append(&r->actor_type, "", 1) ||
        orbit_buf_set(&r->actor_id, meta.actor_id, meta.actor_id_len) ||
        orbit_buf_append(&r->actor_id, "", 1)) {
        rc = orbit_error_set(ORBIT_ENOMEM, "placement record");
        goto done;
    }
    r->actor_type.len--;
    r->actor_id.len--;
    r->state = (orbit_placement_state)state;
    r->ks = (uint64_t)ks;
    r->epoch = (uint64_t)epoch;
done:
    orbit_buf_release(&scratch);
    return rc;
}

/* Look up the providers a decoded record names. */
static int placed_from_rec(orbit_manager *m, const placement_rec *r,
                           placed *out)
{
    const char *type = (const char *)r->actor_type.data;
    const char *id = (const char *)r->actor_id.data;
    const char *src = (const char *)r->src.data;
    placed pl = {.ks = r->ks, .epoch = r->epoch, .state = r->state};
    pl.p = find_prov(m, src, r->src.len);
    if (!pl.p)
        return orbit_error_set(ORBIT_ENOPROVIDER,
                               "actor %s/%s is stored on provider %s, which "
                               "is not configured",
                               type, id, src);
    if (r->state == ORBIT_PLACEMENT_MOVING) {
        const char *tgt = (const char *)r->tgt.data;
        pl.target = find_prov(m, tgt, r->tgt.len);
        if (!pl.target)
            return orbit_error_set(ORBIT_ENOPROVIDER,
                                   "actor %s/%s is moving to provider %s, "
                                   "which is not configured",
                                   type, id, tgt);
    }
    *out = pl;
    return ORBIT_OK;
}

static void fill_out(const placed *pl, orbit_actor_placement *out)
{
    orbit_actor_placement o = {0};
    o.kv = pl->p ? pl->p->kv : NULL;
    o.keyspace = pl->ks;
    o.state = pl->state;
    if (pl->state == ORBIT_PLACEMENT_MOVING) {
        o.target_kv = pl->target ? pl->target->kv : NULL;
        o.epoch = pl->epoch;
    }
    o.provider = pl->p ? pl->p->name : NULL;
    o.target = pl->target ? pl->target->name : NULL;
    *out = o;
}

/* ---- choosing a provider for a new actor ------------------------------ */

/* The pattern's provider: the one named, else the first of `type`. NULL
 * if there is none. cfg held. */
static prov *pattern_prov(orbit_manager *m, const char *name,
                          orbit_provider_type type)
{
    if (name)
        return find_locked(m, name, strlen(name));
    for (size_t i = 0; i < m->nprovs; i++)
        if (m->provs[i]->caps.type == type)
            return m->provs[i];
    return NULL;
}

/* The ByDataPattern matcher (orbit_manager_set_data_pattern). cfg held.
 * NULL: no provider meets the requirement. */
static prov *match_pattern(orbit_manager *m, const orbit_actor_context *ctx)
{
    prov *cand[3];
    size_t n = 0;
    size_t threshold = m->pat_threshold ? m->pat_threshold
                                        : ORBIT_PATTERN_CROSS_REFS_DEFAULT;
    if (ctx->cross_actor_refs > threshold) {
        prov *p = pattern_prov(m, m->pat_distributed,
                               ORBIT_PROVIDER_DISTRIBUTED);
        if (p)
            cand[n++] = p;
    }
    if (ctx->latency_sensitive) {
        prov *p = pattern_prov(m, m->pat_embedded, ORBIT_PROVIDER_EMBEDDED);
        if (p)
            cand[n++] = p;
    }
    cand[n++] = m->provs[m->def];
    for (size_t i = 0; i < n; i++)
        if (meets(cand[i], ctx->consistency))
            return cand[i];
    for (size_t i = 0; i < m->nprovs; i++)
        if (meets(m->provs[i], ctx->consistency))
            return m->provs[i];
    return NULL;
}

/* What the strategy says for a new actor. */
static int choose(orbit_manager *m, const char *type, const char *id,
                  const orbit_actor_context *ctx, prov **out)
{
    orbit_buf choice = ORBIT_BUF_INIT;
    int rc = ORBIT_OK;
    prov *p = NULL;

    /* cb first: the strategy and the callback are read, and the callback
     * runs, under its read side (see the top of the file). */
    pthread_rwlock_rdlock(&m->cb);
    orbit_placement strategy = m->strategy;
    orbit_placement_fn fn = m->fn;
    void *arg = m->fn_arg;

    pthread_rwlock_rdlock(&m->cfg);
    if (m->nprovs == 0) {
        pthread_rwlock_unlock(&m->cfg);
        pthread_rwlock_unlock(&m->cb);
        return orbit_error_set(ORBIT_ENOPROVIDER, "no provider configured");
    }
    const char *name = m->provs[m->def]->name;
    if (strategy == ORBIT_PLACE_BY_ACTOR_TYPE) {
        for (size_t i = 0; i < m->nroutes; i++) {
            if (strcmp(m->routes[i].type, type) == 0) {
                name = m->routes[i].name;
                break;
            }
        }
    } else if (strategy == ORBIT_PLACE_BY_DATA_PATTERN) {
        p = match_pattern(m, ctx);
        name = p ? p->name : NULL;
    }
    if (name && orbit_buf_set(&choice, name, strlen(name) + 1))
        rc = orbit_error_set(ORBIT_ENOMEM, "placement of %s/%s", type, id);
    pthread_rwlock_unlock(&m->cfg);

    if (!rc && strategy == ORBIT_PLACE_CUSTOM && fn) {
        /* cfg is not held: the callback may take its time. */
        const char *c = fn(arg, type, id);
        if (c && orbit_buf_set(&choice, c, strlen(c) + 1))
            rc = orbit_error_set(ORBIT_ENOMEM, "placement of %s/%s", type, id);
    }
    pthread_rwlock_unlock(&m->cb);
    if (rc)
        goto done;

    if (strategy == ORBIT_PLACE_BY_DATA_PATTERN) {
        if (!p)
            rc = orbit_error_set(ORBIT_ENOPROVIDER,
                                 "placement of %s/%s: no configured provider "
                                 "meets consistency '%s'",
                                 type, id, consistency_name(ctx->consistency));
        goto done;
    }
    const char *cname = (const char *)choice.data;
    p = find_prov(m, cname, strlen(cname));
    if (!p) {
        rc = orbit_error_set(ORBIT_ENOPROVIDER,
                             "placement of %s/%s chose provider %s, which is "
                             "not configured",
                             type, id, cname);
        goto done;
    }
    if (!meets(p, ctx->consistency))
        rc = orbit_error_set(ORBIT_EINVAL,
                             "placement of %s/%s chose provider %s (%s), "
                             "which does not meet consistency '%s'",
                             type, id, p->name, p->caps.name,
                             consistency_name(ctx->consistency));
done:
    if (!rc)
        *out = p;
    orbit_buf_release(&choice);
    return rc;
}

/* ---- resolution ------------------------------------------------------ */

/* The default provider, checked to be allowed to hold the catalog. Marks
 * the default as fixed. */
static int catalog_prov(orbit_manager *m, prov **out)
{
    pthread_rwlock_rdlock(&m->cfg);
    prov *def = m->nprovs ? m->provs[m->def] : NULL;
    int allow = m->allow_volatile;
    /* Fixed only once the catalog is really used: after a refusal the
     * caller may still choose a durable default. */
    if (def && (def->caps.durable || allow))
        atomic_store(&m->resolved, 1);
    pthread_rwlock_unlock(&m->cfg);
    if (!def)
        return orbit_error_set(ORBIT_ENOPROVIDER, "no provider configured");
    if (!def->caps.durable && !allow)
        return orbit_error_set(ORBIT_EINVAL,
                               "the default provider %s (%s) is not durable: "
                               "the placements and keyspace ids in its "
                               "catalog would be lost on restart; make a "
                               "durable provider the default, or allow it "
                               "with orbit_manager_allow_volatile_catalog() "
                               "or 'catalog volatile'",
                               def->name, def->caps.name);
    *out = def;
    return ORBIT_OK;
}

/* A read, retried on retryable errors. */
static int get_retry(orbit_kv *kv, const orbit_buf *key, orbit_buf *val)
{
    for (unsigned a = 0;; a++) {
        int rc = orbit_kv_get(kv, NULL, key->data, key->len, val);
        if (rc >= 0 || !orbit_err_retryable(rc) || a + 1 >= RESOLVE_ATTEMPTS)
            return rc;
        backoff(a);
    }
}

static int placed_from_val(orbit_manager *m, const orbit_buf *ckey,
                           const orbit_buf *val, placed *out)
{
    placement_rec r = {0};
    int rc = decode_placement(ckey->data, ckey->len, val->data, val->len, &r);
    if (!rc)
        rc = placed_from_rec(m, &r, out);
    placement_rec_release(&r);
    return rc;
}

/* The catalog side of a resolution that missed the cache: read the stored
 * placement, or place the actor. */
static int resolve_stored(orbit_manager *m, prov *def, const char *type,
                          const char *id, const orbit_actor_context *ctx,
                          const orbit_buf *ckey, placed *out)
{
    orbit_buf val = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT;
    uint64_t ks = 0;
    prov *p = NULL;

    /* A known actor: one plain read, no transaction. */
    int rc = get_retry(def->kv, ckey, &val);
    if (rc == ORBIT_OK) {
        rc = placed_from_val(m, ckey, &val, out);
        goto done;
    }
    if (rc != ORBIT_NOTFOUND) {
        rc = rewrap(rc, "reading the placement of", type, id);
        goto done;
    }

    /* A new one: its keyspace id first (idempotent: a racing resolver
     * gets the same), then the strategy's choice, inserted if absent. */
    rc = orbit_catalog_keyspace(def->kv, type, id, 1, &ks);
    if (rc) {
        rc = rewrap(rc, "keyspace of", type, id);
        goto done;
    }
    rc = choose(m, type, id, ctx, &p);
    if (rc)
        goto done;
    rc = encode_placement(&rec, ckey, type, id, ks, p->name);
    if (rc)
        goto done;
    for (unsigned a = 0;; a++) {
        rc = orbit_kv_put_if_absent(def->kv, ckey->data, ckey->len, rec.data,
                                    rec.len, &val);
        if (rc == ORBIT_OK) {
            *out = (placed){.p = p, .ks = ks, .state = ORBIT_PLACEMENT_PLACED};
            goto done;
        }
        if (rc == ORBIT_CMPFAIL) {
            /* Another resolver stored one first: it wins. */
            rc = placed_from_val(m, ckey, &val, out);
            goto done;
        }
        if (rc == ORBIT_ENOTSUP) {
            rc = rewrap(rc,
                        "placement needs compare-and-set or transactions on "
                        "the default provider; placing",
                        type, id);
            goto done;
        }
        if (rc != ORBIT_EUNCERTAIN && !orbit_err_retryable(rc)) {
            rc = rewrap(rc, "storing the placement of", type, id);
            goto done;
        }
        if (a + 1 >= RESOLVE_ATTEMPTS) {
            rc = rewrap(rc, "storing the placement of", type, id);
            goto done;
        }
        /* Uncertain or failed: read back and decide. A stored record
         * (ours or another resolver's) is the answer; none means no
         * insert applied, so inserting again is safe. */
        backoff(a);
        rc = get_retry(def->kv, ckey, &val);
        if (rc == ORBIT_OK) {
            rc = placed_from_val(m, ckey, &val, out);
            goto done;
        }
        if (rc != ORBIT_NOTFOUND) {
            rc = rewrap(rc, "reading back the placement of", type, id);
            goto done;
        }
    }
done:
    orbit_buf_release(&val);
    orbit_buf_release(&rec);
    return rc;
}

static int placement_key(orbit_buf *ckey, const orbit_buf *tuple)
{
    ckey->len = 0;
    return orbit_key_catalog(ckey, ORBIT_KEYSPACE_SYSTEM, PLACEMENT_KIND,
                             tuple->data, tuple->len);
}

int orbit_manager_resolve_actor(orbit_manager *m, const char *actor_type,
                                const char *actor_id,
                                const orbit_actor_context *ctx,
                                orbit_actor_placement *out)
{
    if (!actor_type || !*actor_type || !actor_id || !*actor_id)
        return orbit_error_set(ORBIT_EINVAL,
                               "an actor needs a non-empty type and id");
    orbit_actor_context zero = {0};
    if (!ctx)
        ctx = &zero;
    if ((unsigned)ctx->consistency > ORBIT_CONSISTENCY_STRONG)
        return orbit_error_set(ORBIT_EINVAL, "unknown consistency level %d",
                               (int)ctx->consistency);

    orbit_buf tuple = ORBIT_BUF_INIT, ckey = ORBIT_BUF_INIT;
    placed pl;
    int rc = orbit_tuple_str(&tuple, actor_type);
    if (!rc)
        rc = orbit_tuple_str(&tuple, actor_id);
    if (rc) {
        rc = orbit_error_set(rc, "placement key of %s/%s", actor_type,
                             actor_id);
        goto out;
    }
    uint64_t h = orbit__hash64(tuple.data, tuple.len);
    if (!cache_get(m, h, tuple.data, tuple.len, &pl)) {
        prov *def;
        rc = catalog_prov(m, &def);
        if (rc)
            goto out;
        rc = placement_key(&ckey, &tuple);
        if (rc) {
            rc = orbit_error_set(rc, "placement key of %s/%s", actor_type,
                                 actor_id);
            goto out;
        }
        rc = resolve_stored(m, def, actor_type, actor_id, ctx, &ckey, &pl);
        if (rc)
            goto out;
        cache_put(m, h, tuple.data, tuple.len, &pl);
    }
    if (out)
        fill_out(&pl, out);
out:
    orbit_buf_release(&tuple);
    orbit_buf_release(&ckey);
    return rc;
}

int orbit_manager_actor(orbit_manager *m, const char *actor_type, const char *actor_id,
                        orbit_actor **out)
{
    *out = NULL;
    orbit_actor_placement pl;
    int rc = orbit_manager_resolve_actor(m, actor_type, actor_id, NULL, &pl);
    if (rc)
        return rc;
    return orbit_actor_open_at(pl.kv, pl.keyspace, actor_type, actor_id, out);
}

int orbit_manager_resolve(orbit_manager *m, const char *actor_type,
                          const char *actor_id, orbit_kv **kv,
                          const char **provider)
{
    orbit_actor_placement pl;
    int rc = orbit_manager_resolve_actor(m, actor_type, actor_id, NULL, &pl);
    if (rc)
        return rc;
    if (kv)
        *kv = pl.kv;
    if (provider)
        *provider = pl.provider;
    return ORBIT_OK;
}

/* ---- listing --------------------------------------------------------- */

typedef struct list_ent {
    orbit_buf key, val;
} list_ent;

/* Read up to LIST_PAGE entries under prefix from *next on (empty: from the
 * prefix) into ents, closing the iterator before returning, so that the
 * caller's callback runs with none open. *n is the count; *next becomes
 * the key just after the last one read. */
static int list_page(orbit_kv *kv, const orbit_buf *prefix, orbit_buf *next,
                     list_ent *ents, size_t *n)
{
    for (unsigned a = 0;; a++) {
        orbit_scan_opts so = {0};
        so.prefix = prefix->data;
        so.prefix_len = prefix->len;
        if (next->len) {
            so.start = next->data;
            so.start_len = next->len;
        }
        so.limit = LIST_PAGE;
        orbit_iter *it = NULL;
        int rc = orbit_kv_iter(kv, NULL, &so, &it);
        *n = 0;
        while (rc == ORBIT_OK) {
            const uint8_t *k, *v;
            size_t kl, vl;
            rc = orbit_iter_next(it, &k, &kl, &v, &vl);
            if (rc != ORBIT_OK)
                break;
            list_ent *e = &ents[(*n)++];
            if (orbit_buf_set(&e->key, k, kl) || orbit_buf_set(&e->val, v, vl))
                rc = orbit_error_set(ORBIT_ENOMEM, "listing actors");
        }
        orbit_iter_close(it);
        if (rc == ORBIT_NOTFOUND) {
            if (*n) {
                const orbit_buf *lk = &ents[*n - 1].key;
                if (orbit_buf_set(next, lk->data, lk->len) ||
                    orbit_buf_append(next, "", 1))
                    return orbit_error_set(ORBIT_ENOMEM, "listing actors");
            }
            return ORBIT_OK;
        }
        if (!orbit_err_retryable(rc) || a + 1 >= RESOLVE_ATTEMPTS)
            return rc;
        backoff(a);
    }
}

int orbit_manager_list_actors(orbit_manager *m, const char *provider,
                              orbit_actor_fn fn, void *arg)
{
    if (!fn)
        return orbit_error_set(ORBIT_EINVAL, "listing actors: no callback");
    prov *def;
    int rc = catalog_prov(m, &def);
    if (rc)
        return rc;
    list_ent *ents = calloc(LIST_PAGE, sizeof *ents);
    orbit_buf prefix = ORBIT_BUF_INIT, next = ORBIT_BUF_INIT;
    if (!ents)
        return orbit_error_set(ORBIT_ENOMEM, "listing actors");
    rc = orbit_key_catalog_prefix(&prefix, ORBIT_KEYSPACE_SYSTEM,
                                  PLACEMENT_KIND);
    size_t n = LIST_PAGE;
    while (!rc && n == LIST_PAGE) {
        rc = list_page(def->kv, &prefix, &next, ents, &n);
        for (size_t i = 0; !rc && i < n; i++) {
            placement_rec r = {0};
            rc = decode_placement(ents[i].key.data, ents[i].key.len,
                                  ents[i].val.data, ents[i].val.len, &r);
            const char *src = (const char *)r.src.data;
            const char *tgt = r.state == ORBIT_PLACEMENT_MOVING
                                  ? (const char *)r.tgt.data
                                  : NULL;
            if (!rc && (!provider || strcmp(provider, src) == 0 ||
                        (tgt && strcmp(provider, tgt) == 0))) {
                prov *ps = find_prov(m, src, r.src.len);
                prov *pt = tgt ? find_prov(m, tgt, r.tgt.len) : NULL;
                orbit_actor_placement pl = {0};
                pl.kv = ps ? ps->kv : NULL;
                pl.provider = src;
                pl.keyspace = r.ks;
                pl.state = r.state;
                if (tgt) {
                    pl.target_kv = pt ? pt->kv : NULL;
                    pl.target = tgt;
                    pl.epoch = r.epoch;
                }
                rc = fn(arg, (const char *)r.actor_type.data,
                        (const char *)r.actor_id.data, &pl);
            }
            placement_rec_release(&r);
        }
    }
    for (size_t i = 0; i < LIST_PAGE; i++) {
        orbit_buf_release(&ents[i].key);
        orbit_buf_release(&ents[i].val);
    }
    free(ents);
    orbit_buf_release(&prefix);
    orbit_buf_release(&next);
    return rc;
}

/* ---- configuration files --------------------------------------------- */

typedef struct cfg_ref {
    char *name;
    char *type; /* routes only */
    unsigned line;
} cfg_ref;

typedef struct cfg_state {
    const char *origin;
    orbit_manager *m;
    cfg_ref def; /* name NULL: none given */
    cfg_ref *routes;
    size_t nroutes, routes_cap;
    unsigned first_provider_line;
    unsigned strategy_line, catalog_line, threshold_line;
    int volatile_catalog;
    cfg_ref distributed, embedded; /* pattern providers; name NULL: none */
} cfg_state;

static void cfg_state_release(cfg_state *st)
{
    free(st->def.name);
    free(st->distributed.name);
    free(st->embedded.name);
    for (size_t i = 0; i < st->nroutes; i++) {
        free(st->routes[i].name);
        free(st->routes[i].type);
    }
    free(st->routes);
}

/* Split one line into at most `max` words; returns the count, or max + 1
 * if there are more. A word starting with '#' ends the line. */
static size_t split_words(char *line, char **w, size_t max)
{
    size_t n = 0;
    char *s = line;
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\f' ||
               *s == '\v')
            s++;
        if (!*s || *s == '#')
            return n;
        if (n == max)
            return max + 1;
        w[n++] = s;
        while (*s && !(*s == ' ' || *s == '\t' || *s == '\r' || *s == '\f' ||
                       *s == '\v'))
            s++;
        if (*s)
            *s++ = '\0';
    }
}

/* pattern cross_refs_threshold N | pattern distributed NAME |
 * pattern embedded NAME */
static int cfg_pattern(cfg_state *st, unsigned lineno, char **w, size_t n)
{
    const char *o = st->origin;
    if (n != 3)
        return orbit_error_set(ORBIT_EINVAL,
                               "%s:%u: expected 'pattern cross_refs_threshold "
                               "N', 'pattern distributed NAME' or 'pattern "
                               "embedded NAME'",
                               o, lineno);
    if (strcmp(w[1], "cross_refs_threshold") == 0) {
        if (st->threshold_line)
            return orbit_error_set(ORBIT_EINVAL,
                                   "%s:%u: pattern cross_refs_threshold given "
                                   "twice (first on line %u)",
                                   o, lineno, st->threshold_line);
        const char *d = w[2];
        int digits = 1;
        for (const char *c = d; *c; c++)
            if (*c < '0' || *c > '9')
                digits = 0;
        errno = 0;
        char *end = NULL;
        unsigned long long v = digits ? strtoull(d, &end, 10) : 0;
        if (!digits || errno || !end || *end || v == 0 ||
            v > (unsigned long long)SIZE_MAX)
            return orbit_error_set(ORBIT_EINVAL,
                                   "%s:%u: cross_refs_threshold '%s' is not "
                                   "a positive integer",
                                   o, lineno, d);
        st->threshold_line = lineno;
        pthread_rwlock_wrlock(&st->m->cfg);
        st->m->pat_threshold = (size_t)v;
        pthread_rwlock_unlock(&st->m->cfg);
        return ORBIT_OK;
    }
    cfg_ref *r = strcmp(w[1], "distributed") == 0 ? &st->distributed
                 : strcmp(w[1], "embedded") == 0  ? &st->embedded
                                                  : NULL;
    if (!r)
        return orbit_error_set(ORBIT_EINVAL,
                               "%s:%u: unknown pattern setting '%s' (expected "
                               "cross_refs_threshold, distributed or "
                               "embedded)",
                               o, lineno, w[1]);
    if (r->name)
        return orbit_error_set(ORBIT_EINVAL,
                               "%s:%u: pattern %s given twice (first on line "
                               "%u)",
                               o, lineno, w[1], r->line);
    if (!valid_name(w[2]))
        return orbit_error_set(ORBIT_EINVAL, "%s:%u: bad provider name '%s'",
                               o, lineno, w[2]);
    r->name = dupstr(w[2]);
    r->type = NULL;
    r->line = lineno;
    if (!r->name)
        return orbit_error_set(ORBIT_ENOMEM, "%s:%u", o, lineno);
    return ORBIT_OK;
}

static int cfg_line(cfg_state *st, unsigned lineno, char *line)
{
    char *w[4];
    size_t n = split_words(line, w, 3);
    const char *o = st->origin;
    if (n == 0)
        return ORBIT_OK;

    if (strcmp(w[0], "provider") == 0) {
        if (n != 3)
            return orbit_error_set(ORBIT_EINVAL,
                                   "%s:%u: expected 'provider NAME URI'", o,
                                   lineno);
        if (!valid_name(w[1]))
            return orbit_error_set(ORBIT_EINVAL,
                                   "%s:%u: bad provider name '%s'", o, lineno,
                                   w[1]);
        int rc = orbit_manager_add_provider(st->m, w[1], w[2]);
        if (!rc && !st->first_provider_line)
            st->first_provider_line = lineno;
        if (rc) {
            char detail[384];
            snprintf(detail, sizeof detail, "%s", orbit_last_error_detail());
            if (rc == ORBIT_EEXIST)
                return orbit_error_set(rc, "%s:%u: provider %s defined twice",
                                       o, lineno, w[1]);
            return orbit_error_set(rc, "%s:%u: provider %s (%s): %s: %s", o,
                                   lineno, w[1], w[2], orbit_strerror(rc),
                                   detail);
        }
        return ORBIT_OK;
    }
    if (strcmp(w[0], "default") == 0) {
        if (n != 2)
            return orbit_error_set(ORBIT_EINVAL,
                                   "%s:%u: expected 'default NAME'", o, lineno);
        if (st->def.name)
            return orbit_error_set(ORBIT_EINVAL,
                                   "%s:%u: default given twice (first on line "
                                   "%u)",
                                   o, lineno, st->def.line);
        st->def.name = dupstr(w[1]);
        if (!st->def.name)
            return orbit_error_set(ORBIT_ENOMEM, "%s:%u", o, lineno);
        st->def.line = lineno;
        return ORBIT_OK;
    }
    if (strcmp(w[0], "strategy") == 0) {
        if (n != 2)
            return orbit_error_set(ORBIT_EINVAL,
                                   "%s:%u: expected 'strategy "
                                   "default|by_actor_type|by_data_pattern'",
                                   o, lineno);
        if (st->strategy_line)
            return orbit_error_set(ORBIT_EINVAL,
                                   "%s:%u: strategy given twice (first on "
                                   "line %u)",
                                   o, lineno, st->strategy_line);
        orbit_placement s;
        if (strcmp(w[1], "default") == 0)
            s = ORBIT_PLACE_DEFAULT;
        else if (strcmp(w[1], "by_actor_type") == 0)
            s = ORBIT_PLACE_BY_ACTOR_TYPE;
        else if (strcmp(w[1], "by_data_pattern") == 0)
            s = ORBIT_PLACE_BY_DATA_PATTERN;
        else
            return orbit_error_set(ORBIT_EINVAL,
                                   "%s:%u: unknown strategy '%s' (expected "
                                   "default, by_actor_type or "
                                   "by_data_pattern)",
                                   o, lineno, w[1]);
        st->strategy_line = lineno;
        return orbit_manager_set_strategy(st->m, s);
    }
    if (strcmp(w[0], "pattern") == 0)
        return cfg_pattern(st, lineno, w, n);
    if (strcmp(w[0], "catalog") == 0) {
        if (n != 2 || (strcmp(w[1], "durable") != 0 &&
                       strcmp(w[1], "volatile") != 0))
            return orbit_error_set(ORBIT_EINVAL,
                                   "%s:%u: expected 'catalog "
                                   "durable|volatile'",
                                   o, lineno);
        if (st->catalog_line)
            return orbit_error_set(ORBIT_EINVAL,
                                   "%s:%u: catalog given twice (first on "
                                   "line %u)",
                                   o, lineno, st->catalog_line);
        st->catalog_line = lineno;
        st->volatile_catalog = strcmp(w[1], "volatile") == 0;
        return ORBIT_OK;
    }
    if (strcmp(w[0], "route") == 0) {
        if (n != 3)
            return orbit_error_set(ORBIT_EINVAL,
                                   "%s:%u: expected 'route ACTOR_TYPE NAME'",
                                   o, lineno);
        if (!valid_name(w[2]))
            return orbit_error_set(ORBIT_EINVAL,
                                   "%s:%u: bad provider name '%s'", o, lineno,
                                   w[2]);
        if (st->nroutes == st->routes_cap) {
            size_t cap = st->routes_cap ? st->routes_cap * 2 : 8;
            cfg_ref *nr = realloc(st->routes, cap * sizeof *nr);
            if (!nr)
                return orbit_error_set(ORBIT_ENOMEM, "%s:%u", o, lineno);
            st->routes = nr;
            st->routes_cap = cap;
        }
        cfg_ref *r = &st->routes[st->nroutes];
        r->type = dupstr(w[1]);
        r->name = dupstr(w[2]);
        r->line = lineno;
        st->nroutes++;
        if (!r->type || !r->name)
            return orbit_error_set(ORBIT_ENOMEM, "%s:%u", o, lineno);
        int rc = orbit_manager_route(st->m, w[1], w[2]);
        if (rc)
            return orbit_error_set(rc, "%s:%u: route %s", o, lineno, w[1]);
        return ORBIT_OK;
    }
    return orbit_error_set(ORBIT_EINVAL, "%s:%u: unknown directive '%s'", o,
                           lineno, w[0]);
}

/* References may point forward, so they are checked once every provider
 * is known. */
static int cfg_finish(cfg_state *st)
{
    orbit_manager *m = st->m;
    const char *o = st->origin;
    if (m->nprovs == 0)
        return orbit_error_set(ORBIT_EINVAL, "%s: no provider configured", o);
    if (st->def.name) {
        if (!find_prov(m, st->def.name, strlen(st->def.name)))
            return orbit_error_set(ORBIT_EINVAL,
                                   "%s:%u: default provider %s is not "
                                   "configured",
                                   o, st->def.line, st->def.name);
        int rc = orbit_manager_set_default(m, st->def.name);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < st->nroutes; i++) {
        const cfg_ref *r = &st->routes[i];
        if (!find_prov(m, r->name, strlen(r->name)))
            return orbit_error_set(ORBIT_EINVAL,
                                   "%s:%u: route for %s names provider %s, "
                                   "which is not configured",
                                   o, r->line, r->type, r->name);
    }
    const cfg_ref *pats[2] = {&st->distributed, &st->embedded};
    for (size_t i = 0; i < 2; i++) {
        const cfg_ref *r = pats[i];
        if (r->name && !find_prov(m, r->name, strlen(r->name)))
            return orbit_error_set(ORBIT_EINVAL,
                                   "%s:%u: pattern %s names provider %s, "
                                   "which is not configured",
                                   o, r->line, i ? "embedded" : "distributed",
                                   r->name);
    }
    if (st->distributed.name || st->embedded.name) {
        char *d = st->distributed.name ? dupstr(st->distributed.name) : NULL;
        char *e = st->embedded.name ? dupstr(st->embedded.name) : NULL;
        if ((st->distributed.name && !d) || (st->embedded.name && !e)) {
            free(d);
            free(e);
            return orbit_error_set(ORBIT_ENOMEM, "%s", o);
        }
        pthread_rwlock_wrlock(&m->cfg);
        m->pat_distributed = d;
        m->pat_embedded = e;
        pthread_rwlock_unlock(&m->cfg);
    }
    const prov *def = m->provs[m->def];
    if (st->volatile_catalog) {
        orbit_manager_allow_volatile_catalog(m, 1);
    } else if (!def->caps.durable) {
        unsigned line = st->def.name ? st->def.line : st->first_provider_line;
        return orbit_error_set(ORBIT_EINVAL,
                               "%s:%u: default provider %s (%s) is not "
                               "durable, so the catalog on it would be lost "
                               "on restart; make a durable provider the "
                               "default, or add 'catalog volatile'",
                               o, line, def->name, def->caps.name);
    }
    return ORBIT_OK;
}

int orbit_manager_from_config_text(const char *text, size_t len,
                                   const char *origin, orbit_manager **out)
{
    *out = NULL;
    if (!text && len)
        return orbit_error_set(ORBIT_EINVAL, "config: no text");
    cfg_state st = {.origin = origin ? origin : "config"};
    int rc = orbit_manager_new(&st.m);
    if (rc)
        return rc;

    char *line = NULL;
    size_t pos = 0;
    unsigned lineno = 0;
    while (pos < len) {
        lineno++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        if (memchr(text + pos, '\0', n)) {
            rc = orbit_error_set(ORBIT_EINVAL, "%s:%u: NUL byte in line",
                                 st.origin, lineno);
            goto fail;
        }
        char *nline = realloc(line, n + 1);
        if (!nline) {
            rc = orbit_error_set(ORBIT_ENOMEM, "%s:%u", st.origin, lineno);
            goto fail;
        }
        line = nline;
        memcpy(line, text + pos, n);
        line[n] = '\0';
        rc = cfg_line(&st, lineno, line);
        if (rc)
            goto fail;
        pos += n + (nl ? 1 : 0);
    }
    rc = cfg_finish(&st);
    if (rc)
        goto fail;
    free(line);
    cfg_state_release(&st);
    *out = st.m;
    return ORBIT_OK;
fail:
    free(line);
    cfg_state_release(&st);
    orbit_manager_free(st.m);
    return rc;
}

int orbit_manager_from_config(const char *path, orbit_manager **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return orbit_error_set(ORBIT_EIO, "cannot open config %s: %s", path,
                               strerror(errno));
    orbit_buf text = ORBIT_BUF_INIT;
    char chunk[4096];
    size_t n;
    int rc = ORBIT_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (orbit_buf_append(&text, chunk, n)) {
            rc = orbit_error_set(ORBIT_ENOMEM, "reading config %s", path);
            break;
        }
    }
    if (!rc && ferror(f))
        rc = orbit_error_set(ORBIT_EIO, "cannot read config %s: %s", path,
                             strerror(errno));
    fclose(f);
    if (!rc)
        rc = orbit_manager_from_config_text((const char *)text.data, text.len,
                                            path, out);
    orbit_buf_release(&text);
    return rc;
}
