/*
 * The storage manager (orbit/manager.h): named stores, actor placement,
 * the placement catalog and its in-memory cache.
 *
 * Sits above the contract (orbit/kv.h) and the key/record codecs: it only
 * opens stores and reads/writes catalog records through orbit_kv_*.
 *
 * Invariants:
 *   - a provider entry, once added, is never moved or freed before
 *     orbit_manager_free, so cache entries and callers may hold pointers to
 *     it (and to its name and store) without a lock;
 *   - the catalog is the truth and the cache only ever holds assignments
 *     read from or committed to it, so dropping cache entries is always
 *     safe (a full shard is simply emptied);
 *   - an assignment is stored by an insert-if-absent transaction
 *     (get_for_update, then put only when absent), retried on retryable
 *     errors, so concurrent first resolutions all end up reading the one
 *     assignment that committed first;
 *   - once an actor was resolved the default provider is fixed, because
 *     the catalog lives there.
 * Locks: `cfg` (rwlock) guards the provider list, default, strategy and
 * routes; each cache shard has its own rwlock. No lock is held while a
 * store is accessed or the user's callback runs, and the two kinds are
 * never held together.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "orbit/codec.h"
#include "orbit/manager.h"
#include "orbit/provider.h"
#include "orbit/record.h"

#define CATALOG_KIND "placement"
#define CATALOG_SCHEMA 1
#define NSHARDS 16
/* Cache entries per shard before the shard is emptied. */
#define SHARD_MAX (1u << 14)
/* Attempts at a first resolution that keeps meeting retryable errors. */
#define RESOLVE_ATTEMPTS 100

typedef struct prov {
    char *name;
    char *uri;
    orbit_kv *kv;
} prov;

typedef struct route {
    char *type;
    char *name;
} route;

typedef struct cache_ent {
    struct cache_ent *next;
    uint64_t hash;
    prov *p;
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
    pthread_rwlock_t cfg;
    prov **provs;
    size_t nprovs, provs_cap;
    size_t def; /* index into provs, meaningful when nprovs > 0 */
    orbit_placement strategy;
    route *routes;
    size_t nroutes, routes_cap;
    orbit_placement_fn fn;
    void *fn_arg;
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

/* ---- create / free --------------------------------------------------- */

int orbit_manager_new(orbit_manager **out)
{
    *out = NULL;
    orbit_manager *m = calloc(1, sizeof *m);
    if (!m)
        return orbit_error_set(ORBIT_ENOMEM, "manager");
    if (pthread_rwlock_init(&m->cfg, NULL) != 0) {
        free(m);
        return orbit_error_set(ORBIT_ENOMEM, "manager lock");
    }
    for (size_t i = 0; i < NSHARDS; i++) {
        if (pthread_rwlock_init(&m->shards[i].lock, NULL) != 0) {
            while (i-- > 0)
                pthread_rwlock_destroy(&m->shards[i].lock);
            pthread_rwlock_destroy(&m->cfg);
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
    pthread_rwlock_destroy(&m->cfg);
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

int orbit_manager_set_strategy(orbit_manager *m, orbit_placement s)
{
    if (s != ORBIT_PLACE_DEFAULT && s != ORBIT_PLACE_BY_ACTOR_TYPE)
        return orbit_error_set(ORBIT_EINVAL,
                               "strategy %d: use orbit_manager_set_custom for "
                               "a custom placement",
                               (int)s);
    pthread_rwlock_wrlock(&m->cfg);
    m->strategy = s;
    pthread_rwlock_unlock(&m->cfg);
    return ORBIT_OK;
}

int orbit_manager_set_custom(orbit_manager *m, orbit_placement_fn fn,
                             void *arg)
{
    if (!fn)
        return orbit_error_set(ORBIT_EINVAL, "custom placement: no callback");
    pthread_rwlock_wrlock(&m->cfg);
    m->fn = fn;
    m->fn_arg = arg;
    m->strategy = ORBIT_PLACE_CUSTOM;
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

static prov *cache_get(orbit_manager *m, uint64_t h, const uint8_t *k,
                       size_t kl)
{
    shard *s = shard_of(m, h);
    prov *p = NULL;
    pthread_rwlock_rdlock(&s->lock);
    if (s->nbuckets) {
        for (cache_ent *e = s->buckets[h & (s->nbuckets - 1)]; e; e = e->next) {
            if (e->hash == h && e->klen == kl && memcmp(e->key, k, kl) == 0) {
                p = e->p;
                break;
            }
        }
    }
    pthread_rwlock_unlock(&s->lock);
    return p;
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

/* Remember an assignment. Failing to allocate only costs a later look-up
 * in the catalog, so it is not an error. */
static void cache_put(orbit_manager *m, uint64_t h, const uint8_t *k,
                      size_t kl, prov *p)
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
    e->p = p;
    e->klen = kl;
    memcpy(e->key, k, kl);
    e->next = s->buckets[b];
    s->buckets[b] = e;
    s->count++;
out:
    pthread_rwlock_unlock(&s->lock);
}

/* ---- resolution ------------------------------------------------------ */

/* What the strategy says for a new actor: the provider name into `choice`
 * (NUL-terminated). */
static int choose(orbit_manager *m, const char *type, const char *id,
                  orbit_buf *choice)
{
    orbit_placement_fn fn = NULL;
    void *arg = NULL;
    int rc = ORBIT_OK;
    const char *name = NULL;

    pthread_rwlock_rdlock(&m->cfg);
    if (m->nprovs == 0) {
        pthread_rwlock_unlock(&m->cfg);
        return orbit_error_set(ORBIT_ENOPROVIDER, "no provider configured");
    }
    name = m->provs[m->def]->name;
    if (m->strategy == ORBIT_PLACE_BY_ACTOR_TYPE) {
        for (size_t i = 0; i < m->nroutes; i++) {
            if (strcmp(m->routes[i].type, type) == 0) {
                name = m->routes[i].name;
                break;
            }
        }
    } else if (m->strategy == ORBIT_PLACE_CUSTOM) {
        fn = m->fn;
        arg = m->fn_arg;
    }
    rc = orbit_buf_set(choice, name, strlen(name) + 1);
    pthread_rwlock_unlock(&m->cfg);
    if (rc)
        return orbit_error_set(rc, "placement of %s/%s", type, id);

    if (fn) {
        /* Called without locks: it may take its time, or look things up. */
        const char *c = fn(arg, type, id);
        if (c) {
            rc = orbit_buf_set(choice, c, strlen(c) + 1);
            if (rc)
                return orbit_error_set(rc, "placement of %s/%s", type, id);
        }
    }
    return ORBIT_OK;
}

static void backoff(unsigned attempt)
{
    unsigned us = attempt < 50 ? 50u * (attempt + 1) : 2500u;
    struct timespec ts = {0, (long)us * 1000L};
    nanosleep(&ts, NULL);
}

/* The catalog side of a first resolution: read the stored assignment or
 * store the strategy's choice, atomically with respect to other
 * resolvers. */
static int resolve_stored(orbit_manager *m, orbit_kv *cat, const char *type,
                          const char *id, const orbit_buf *ckey, prov **out)
{
    orbit_buf val = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT,
              scratch = ORBIT_BUF_INIT, choice = ORBIT_BUF_INIT;
    int have_choice = 0;
    int rc = ORBIT_OK;

    for (unsigned attempt = 0;; attempt++) {
        orbit_txn *t = NULL;
        rc = orbit_kv_txn_begin(cat, NULL, &t);
        if (rc)
            goto retry;
        rc = orbit_txn_get_for_update(t, ckey->data, ckey->len, &val);
        if (rc == ORBIT_OK) {
            orbit_txn_rollback(t);
            orbit_record_meta meta;
            const uint8_t *name;
            size_t nlen;
            rc = orbit_record_decode(val.data, val.len, ckey->data, ckey->len,
                                     &meta, &scratch, &name, &nlen);
            if (rc)
                goto done;
            if (meta.model != ORBIT_MODEL_CATALOG) {
                rc = orbit_error_set(ORBIT_ECORRUPT,
                                     "placement of %s/%s: record of model %d, "
                                     "not a catalog record",
                                     type, id, (int)meta.model);
                goto done;
            }
            *out = find_prov(m, (const char *)name, nlen);
            if (!*out)
                rc = orbit_error_set(ORBIT_ENOPROVIDER,
                                     "actor %s/%s is stored on provider "
                                     "%.*s, which is not configured",
                                     type, id, (int)nlen, (const char *)name);
            goto done;
        }
        if (rc != ORBIT_NOTFOUND) {
            orbit_txn_rollback(t);
            goto retry;
        }

        if (!have_choice) {
            rc = choose(m, type, id, &choice);
            if (rc) {
                orbit_txn_rollback(t);
                goto done;
            }
            have_choice = 1;
        }
        const char *cname = (const char *)choice.data;
        prov *p = find_prov(m, cname, strlen(cname));
        if (!p) {
            orbit_txn_rollback(t);
            rc = orbit_error_set(ORBIT_ENOPROVIDER,
                                 "placement of %s/%s chose provider %s, "
                                 "which is not configured",
                                 type, id, cname);
            goto done;
        }
        uint64_t now = orbit__now_ms();
        orbit_record_meta meta = {
            .model = ORBIT_MODEL_CATALOG,
            .schema_version = CATALOG_SCHEMA,
            .created_ms = now,
            .updated_ms = now,
            .actor_type = (const uint8_t *)type,
            .actor_type_len = strlen(type),
            .actor_id = (const uint8_t *)id,
            .actor_id_len = strlen(id),
        };
        rec.len = 0;
        rc = orbit_record_encode(&rec, ckey->data, ckey->len, &meta, NULL,
                                 (const uint8_t *)cname, strlen(cname));
        if (rc) {
            orbit_txn_rollback(t);
            goto done;
        }
        rc = orbit_txn_put(t, ckey->data, ckey->len, rec.data, rec.len);
        if (rc) {
            orbit_txn_rollback(t);
            goto retry;
        }
        rc = orbit_txn_commit(t);
        if (rc == ORBIT_OK) {
            *out = p;
            goto done;
        }
    retry:
        if (rc == ORBIT_ENOTSUP) {
            char detail[256];
            snprintf(detail, sizeof detail, "%s", orbit_last_error_detail());
            rc = orbit_error_set(rc,
                                 "placement needs transactions on the "
                                 "default provider (%s)",
                                 detail);
            goto done;
        }
        if (!orbit_err_retryable(rc) || attempt + 1 >= RESOLVE_ATTEMPTS)
            goto done;
        backoff(attempt);
    }
done:
    orbit_buf_release(&val);
    orbit_buf_release(&rec);
    orbit_buf_release(&scratch);
    orbit_buf_release(&choice);
    return rc;
}

int orbit_manager_resolve(orbit_manager *m, const char *actor_type,
                          const char *actor_id, orbit_kv **kv,
                          const char **provider)
{
    if (!actor_type || !*actor_type || !actor_id || !*actor_id)
        return orbit_error_set(ORBIT_EINVAL,
                               "an actor needs a non-empty type and id");

    orbit_buf tuple = ORBIT_BUF_INIT, ckey = ORBIT_BUF_INIT;
    int rc = orbit_tuple_str(&tuple, actor_type);
    if (!rc)
        rc = orbit_tuple_str(&tuple, actor_id);
    if (rc) {
        rc = orbit_error_set(rc, "placement key of %s/%s", actor_type,
                             actor_id);
        goto out;
    }
    uint64_t h = orbit__hash64(tuple.data, tuple.len);
    prov *p = cache_get(m, h, tuple.data, tuple.len);
    if (!p) {
        pthread_rwlock_rdlock(&m->cfg);
        prov *def = m->nprovs ? m->provs[m->def] : NULL;
        if (def)
            atomic_store(&m->resolved, 1);
        pthread_rwlock_unlock(&m->cfg);
        if (!def) {
            rc = orbit_error_set(ORBIT_ENOPROVIDER, "no provider configured");
            goto out;
        }
        rc = orbit_key_catalog(&ckey, ORBIT_KEYSPACE_SYSTEM, CATALOG_KIND, tuple.data, tuple.len);
        if (rc) {
            rc = orbit_error_set(rc, "placement key of %s/%s", actor_type,
                                 actor_id);
            goto out;
        }
        rc = resolve_stored(m, def->kv, actor_type, actor_id, &ckey, &p);
        if (rc)
            goto out;
        cache_put(m, h, tuple.data, tuple.len, p);
    }
    if (kv)
        *kv = p->kv;
    if (provider)
        *provider = p->name;
out:
    orbit_buf_release(&tuple);
    orbit_buf_release(&ckey);
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
} cfg_state;

static void cfg_state_release(cfg_state *st)
{
    free(st->def.name);
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
                                   "default|by_actor_type'",
                                   o, lineno);
        if (strcmp(w[1], "default") == 0)
            return orbit_manager_set_strategy(st->m, ORBIT_PLACE_DEFAULT);
        if (strcmp(w[1], "by_actor_type") == 0)
            return orbit_manager_set_strategy(st->m,
                                              ORBIT_PLACE_BY_ACTOR_TYPE);
        return orbit_error_set(ORBIT_EINVAL,
                               "%s:%u: unknown strategy '%s' (expected "
                               "default or by_actor_type)",
                               o, lineno, w[1]);
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
