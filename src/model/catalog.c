/*
 * The catalog (orbit/catalog.h): compact keyspace ids per actor and object
 * ids per named table, index, collection, graph or series, allocated with
 * compare-and-set instead of transactions.
 *
 * Invariants (the key and value layout is in orbit/catalog.h):
 *   - a counter only grows, so a compare-and-set on it has no ABA problem,
 *     and an id is handed to at most one allocator: the one whose CAS moved
 *     the counter onto it; an uncertain CAS burns the id (never reused);
 *   - the mapping name -> id is written only by insert-if-absent and never
 *     changed afterwards (a rename deletes it and inserts another name with
 *     the same id in one transaction), so every allocator of one name
 *     returns the id inserted first;
 *   - the claim id -> name is written before the mapping and is trusted
 *     only when the mapping it names points back at its id, so a claim left
 *     by a crash, a lost race or a failed delete is invisible;
 *   - every value handed out passed orbit_record_decode (checksum over key
 *     and value) and a payload check; anything else is ORBIT_ECORRUPT
 *     naming the key.
 * Retries: retryable errors are retried with a short backoff a bounded
 * number of times. ORBIT_EUNCERTAIN is never treated as retryable: after an
 * uncertain counter CAS the counter is read again (the id may be burnt),
 * after an uncertain insert the mapping is read back and decides, and only
 * puts of identical bytes (claims) are simply repeated.
 *
 * Layer: src/model, on the provider contract (orbit/kv.h) and the codec
 * (orbit/codec.h, orbit/record.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "orbit/catalog.h"
#include "orbit/codec.h"
#include "orbit/provider.h"
#include "orbit/record.h"

#define SCHEMA 1
#define KIND_NEXT "next"
#define KIND_KS "ks"
#define KIND_KSID "ksid"
#define KIND_OBJID "objid"
#define NEXT_KS "ks"
#define NEXT_ID "id"
/* Attempts for an operation that meets retryable errors or uncertain
 * outcomes. */
#define ATTEMPTS 100
/* Lost compare-and-sets on one counter before giving up: each loss means
 * another allocator made progress, so this only bounds pathological
 * contention. */
#define CAS_ROUNDS 100000
/* Entries read per iterator page when listing. */
#define PAGE 128

static void backoff(unsigned attempt)
{
    unsigned us = attempt < 50 ? 50u * (attempt + 1) : 2500u;
    struct timespec ts = {0, (long)us * 1000L};
    nanosleep(&ts, NULL);
}

/* Re-raise a store error with context, keeping the store's detail. */
static int wrap(int rc, const char *what)
{
    if (rc >= 0)
        return rc;
    char detail[256];
    snprintf(detail, sizeof detail, "%s", orbit_last_error_detail());
    return orbit_error_set(rc, "catalog: %s: %s", what, detail);
}

static int corrupt(const uint8_t *key, size_t klen, const char *why)
{
    orbit_buf e = ORBIT_BUF_INIT;
    int erc = orbit_escape(&e, key, klen);
    int rc = orbit_error_set(ORBIT_ECORRUPT, "catalog entry %.*s: %s",
                             erc ? 0 : (int)e.len,
                             erc ? "" : (const char *)e.data, why);
    orbit_buf_release(&e);
    return rc;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int set_cstr(orbit_buf *out, const void *p, size_t n)
{
    if (!out)
        return ORBIT_OK;
    if (orbit_buf_set(out, p, n) || orbit_buf_append(out, "", 1))
        return orbit_error_set(ORBIT_ENOMEM, "catalog");
    out->len--;
    return ORBIT_OK;
}

/* ---- keys ------------------------------------------------------------ */

static int cat_key(orbit_buf *out, uint64_t ks, const char *kind,
                   const void *name, size_t nlen)
{
    out->len = 0;
    int rc = orbit_key_catalog(out, ks, kind, name, nlen);
    return rc ? orbit_error_set(rc, "catalog key") : ORBIT_OK;
}

/* A catalog key whose name is the tuple encoding of an integer. */
static int cat_key_int(orbit_buf *out, uint64_t ks, const char *kind,
                       uint64_t v)
{
    orbit_buf n = ORBIT_BUF_INIT;
    int rc = orbit_tuple_int(&n, (int64_t)v);
    if (!rc)
        rc = cat_key(out, ks, kind, n.data, n.len);
    orbit_buf_release(&n);
    return rc ? orbit_error_set(rc, "catalog key") : ORBIT_OK;
}

static int actor_tuple(orbit_buf *out, const char *type, const char *id)
{
    out->len = 0;
    int rc = orbit_tuple_str(out, type);
    if (!rc)
        rc = orbit_tuple_str(out, id);
    return rc ? orbit_error_set(rc, "catalog: actor %s/%s", type, id)
              : ORBIT_OK;
}

static int ks_key(orbit_buf *out, const char *type, const char *id)
{
    orbit_buf t = ORBIT_BUF_INIT;
    int rc = actor_tuple(&t, type, id);
    if (!rc)
        rc = cat_key(out, ORBIT_KEYSPACE_SYSTEM, KIND_KS, t.data, t.len);
    orbit_buf_release(&t);
    return rc;
}

/* The name element (the last element) of a catalog key starting with
 * prefix[0..plen), decoded into name. */
static int key_name(const uint8_t *key, size_t klen, size_t plen,
                    orbit_buf *name)
{
    size_t pos = plen;
    orbit_tuple_item it = {0};
    it.bytes_out = name;
    name->len = 0;
    int rc = orbit_tuple_next(key, klen, &pos, &it);
    if (rc == ORBIT_ENOMEM)
        return rc;
    if (rc || it.type != ORBIT_TUPLE_BYTES || pos != klen)
        return corrupt(key, klen, "malformed name element");
    return ORBIT_OK;
}

/* The integer encoded as a name (cat_key_int), from the key. */
static int key_int_name(const uint8_t *key, size_t klen, size_t plen,
                        uint64_t *v)
{
    orbit_buf name = ORBIT_BUF_INIT;
    int rc = key_name(key, klen, plen, &name);
    if (!rc) {
        size_t pos = 0;
        orbit_tuple_item it = {0};
        rc = orbit_tuple_next(name.data, name.len, &pos, &it);
        if (rc || it.type != ORBIT_TUPLE_INT || pos != name.len || it.i < 0)
            rc = corrupt(key, klen, "malformed id in the key");
        else
            *v = (uint64_t)it.i;
    }
    orbit_buf_release(&name);
    return rc;
}

/* ---- records --------------------------------------------------------- */

static int rec_encode(orbit_buf *out, const orbit_buf *key, const char *type,
                      const char *id, uint64_t created_ms,
                      const uint8_t *payload, size_t plen)
{
    uint64_t now = orbit__now_ms();
    orbit_record_meta meta = {
        .model = ORBIT_MODEL_CATALOG,
        .schema_version = SCHEMA,
        .created_ms = created_ms ? created_ms : now,
        .updated_ms = now,
        .actor_type = (const uint8_t *)type,
        .actor_type_len = type ? strlen(type) : 0,
        .actor_id = (const uint8_t *)id,
        .actor_id_len = id ? strlen(id) : 0,
    };
    if (meta.updated_ms < meta.created_ms)
        meta.updated_ms = meta.created_ms;
    out->len = 0;
    int rc = orbit_record_encode(out, key->data, key->len, &meta, NULL,
                                 payload, plen);
    return rc ? orbit_error_set(rc, "catalog record") : ORBIT_OK;
}

static int rec_encode_id(orbit_buf *out, const orbit_buf *key,
                         const char *type, const char *id, uint64_t v,
                         uint64_t created_ms)
{
    uint8_t p[8];
    put_be64(p, v);
    return rec_encode(out, key, type, id, created_ms, p, sizeof p);
}

static int rec_decode(const uint8_t *key, size_t klen, const orbit_buf *val,
                      orbit_buf *scratch, orbit_record_meta *meta,
                      const uint8_t **payload, size_t *plen)
{
    int rc = orbit_record_decode(val->data, val->len, key, klen, meta,
                                 scratch, payload, plen);
    if (rc)
        return rc;
    if (meta->model != ORBIT_MODEL_CATALOG)
        return corrupt(key, klen, "not a catalog record");
    if (meta->schema_version != SCHEMA)
        return corrupt(key, klen, "unknown catalog schema version");
    return ORBIT_OK;
}

/* The id in a counter or mapping record, which must be >= min. */
static int rec_decode_id(const uint8_t *key, size_t klen, const orbit_buf *val,
                         uint64_t min, uint64_t *v, uint64_t *created_ms)
{
    orbit_buf scratch = ORBIT_BUF_INIT;
    orbit_record_meta meta;
    const uint8_t *p;
    size_t n;
    int rc = rec_decode(key, klen, val, &scratch, &meta, &p, &n);
    if (!rc) {
        if (n != 8) {
            rc = corrupt(key, klen, "id payload is not 8 bytes");
        } else {
            *v = get_be64(p);
            if (*v < min || *v > ORBIT_ID_MAX)
                rc = corrupt(key, klen, "id out of range");
            else if (created_ms)
                *created_ms = meta.created_ms;
        }
    }
    orbit_buf_release(&scratch);
    return rc;
}

/* ---- validation ------------------------------------------------------ */

static int valid_kind(const char *kind)
{
    static const char *const kinds[] = {
        ORBIT_CATALOG_TABLE, ORBIT_CATALOG_INDEX, ORBIT_CATALOG_COLLECTION,
        ORBIT_CATALOG_GRAPH, ORBIT_CATALOG_SERIES, ORBIT_CATALOG_VECTORS,
    };
    if (!kind)
        return 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kind, kinds[i]) == 0)
            return 1;
    return 0;
}

static int check_kind_name(uint64_t ks, const char *kind, const char *name)
{
    if (!valid_kind(kind))
        return orbit_error_set(ORBIT_EINVAL,
                               "catalog: kind '%s' is not one of table, "
                               "index, collection, graph, series",
                               kind ? kind : "(null)");
    if (!name || !*name)
        return orbit_error_set(ORBIT_EINVAL, "catalog: empty %s name", kind);
    if (ks > ORBIT_ID_MAX)
        return orbit_error_set(ORBIT_EINVAL, "catalog: keyspace %llu out of "
                               "range",
                               (unsigned long long)ks);
    return ORBIT_OK;
}

/* 1: the default database actor; 0: an ordinary actor; <0: reserved. */
static int check_actor(const char *type, const char *id)
{
    if (!type || !*type || !id || !*id)
        return orbit_error_set(ORBIT_EINVAL,
                               "catalog: an actor needs a non-empty type and "
                               "id");
    if (strcmp(type, ORBIT_KEYSPACE_DEFAULT_ACTOR_TYPE) == 0) {
        if (strcmp(id, ORBIT_KEYSPACE_DEFAULT_ACTOR_ID) == 0)
            return 1;
        return orbit_error_set(ORBIT_EINVAL,
                               "catalog: actor type '%s' is reserved for "
                               "Orbit (only %s/%s exists)",
                               type, ORBIT_KEYSPACE_DEFAULT_ACTOR_TYPE,
                               ORBIT_KEYSPACE_DEFAULT_ACTOR_ID);
    }
    return 0;
}

/* ---- store access with retries ---------------------------------------- */

/* A read, retried on retryable errors. */
static int get_retry(orbit_kv *kv, const orbit_buf *key, orbit_buf *val)
{
    for (unsigned a = 0;; a++) {
        int rc = orbit_kv_get(kv, NULL, key->data, key->len, val);
        if (rc >= 0 || !orbit_err_retryable(rc) || a + 1 >= ATTEMPTS)
            return rc;
        backoff(a);
    }
}

/* A put of bytes nobody else writes under this key, so repeating it after
 * an uncertain outcome is harmless. */
static int put_retry(orbit_kv *kv, const orbit_buf *key, const orbit_buf *val)
{
    for (unsigned a = 0;; a++) {
        int rc = orbit_kv_put(kv, key->data, key->len, val->data, val->len);
        if (rc == ORBIT_OK)
            return rc;
        if ((rc != ORBIT_EUNCERTAIN && !orbit_err_retryable(rc)) ||
            a + 1 >= ATTEMPTS)
            return rc;
        backoff(a);
    }
}

/*
 * Advance the counter at ckey (absent: `base`) by one with compare-and-set
 * and return the new value in *out: an id no other caller gets.
 */
static int counter_next(orbit_kv *kv, const orbit_buf *ckey, uint64_t base,
                        uint64_t *out)
{
    orbit_buf cur = ORBIT_BUF_INIT, got = ORBIT_BUF_INIT,
              desired = ORBIT_BUF_INIT;
    int known = 0, present = 0, rc;
    unsigned fails = 0, lost = 0;

    for (;;) {
        if (!known) {
            rc = orbit_kv_get(kv, NULL, ckey->data, ckey->len, &cur);
            if (rc < 0) {
                if (!orbit_err_retryable(rc) || ++fails >= ATTEMPTS)
                    goto done;
                backoff(fails);
                continue;
            }
            present = rc == ORBIT_OK;
            known = 1;
        }
        uint64_t last = base;
        if (present) {
            rc = rec_decode_id(ckey->data, ckey->len, &cur, 0, &last, NULL);
            if (rc)
                goto done;
            if (last < base) {
                rc = corrupt(ckey->data, ckey->len,
                             "counter below its first value");
                goto done;
            }
        }
        if (last >= ORBIT_ID_MAX) {
            rc = orbit_error_set(ORBIT_ETOOBIG, "catalog: ids exhausted");
            goto done;
        }
        rc = rec_encode_id(&desired, ckey, NULL, NULL, last + 1, 0);
        if (rc)
            goto done;
        orbit_slice exp = {cur.data, cur.len};
        orbit_slice des = {desired.data, desired.len};
        rc = orbit_kv_cas(kv, ckey->data, ckey->len, present ? &exp : NULL,
                          &des, &got);
        if (rc == ORBIT_OK) {
            *out = last + 1;
            goto done;
        }
        if (rc == ORBIT_CMPFAIL || rc == ORBIT_NOTFOUND) {
            /* Someone else moved it: try again from what is there. */
            orbit_buf t = cur;
            cur = got;
            got = t;
            present = rc == ORBIT_CMPFAIL;
            if (++lost >= CAS_ROUNDS) {
                rc = orbit_error_set(ORBIT_EBUSY,
                                     "catalog: counter contention persists");
                goto done;
            }
            continue;
        }
        if (rc == ORBIT_EUNCERTAIN || orbit_err_retryable(rc)) {
            /* After an uncertain CAS the id it aimed at may be taken (by
             * us, unknowingly): re-read and allocate past it. */
            known = 0;
            if (++fails >= ATTEMPTS)
                goto done;
            backoff(fails);
            continue;
        }
        rc = wrap(rc, "advancing a counter");
        goto done;
    }
done:
    orbit_buf_release(&cur);
    orbit_buf_release(&got);
    orbit_buf_release(&desired);
    return rc;
}

/*
 * Publish id `mine`: write its claim, then insert the mapping fkey -> fval
 * (fval holds mine) if absent. *winner is the id the mapping holds
 * afterwards: mine, or the id of an allocator that got there first (our
 * claim is then deleted, best effort).
 */
static int publish(orbit_kv *kv, const orbit_buf *claim_key,
                   const orbit_buf *claim_val, const orbit_buf *fkey,
                   const orbit_buf *fval, uint64_t mine, uint64_t min,
                   uint64_t *winner)
{
    orbit_buf cur = ORBIT_BUF_INIT;
    int rc = put_retry(kv, claim_key, claim_val);
    if (rc) {
        rc = wrap(rc, "writing a claim");
        goto done;
    }
    for (unsigned a = 0;; a++) {
        rc = orbit_kv_put_if_absent(kv, fkey->data, fkey->len, fval->data,
                                    fval->len, &cur);
        if (rc == ORBIT_OK) {
            *winner = mine;
            goto done;
        }
        if (rc == ORBIT_EUNCERTAIN || orbit_err_retryable(rc)) {
            /* Read back and decide: present means some insert (perhaps
             * ours) won; absent means none applied yet. */
            if (a + 1 >= ATTEMPTS)
                goto done;
            backoff(a);
            rc = get_retry(kv, fkey, &cur);
            if (rc == ORBIT_NOTFOUND)
                continue;
            if (rc < 0)
                goto done;
        } else if (rc != ORBIT_CMPFAIL) {
            rc = wrap(rc, "inserting a mapping");
            goto done;
        }
        /* The mapping exists: it decides. */
        rc = rec_decode_id(fkey->data, fkey->len, &cur, min, winner, NULL);
        if (rc)
            goto done;
        if (*winner != mine)
            (void)orbit_kv_del(kv, claim_key->data, claim_key->len);
        goto done;
    }
done:
    orbit_buf_release(&cur);
    return rc;
}

/* ---- keyspaces ------------------------------------------------------- */

int orbit_catalog_keyspace(orbit_kv *kv, const char *actor_type,
                           const char *actor_id, int create, uint64_t *ks)
{
    int rc = check_actor(actor_type, actor_id);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        *ks = ORBIT_KEYSPACE_DEFAULT;
        return ORBIT_OK;
    }
    if (!kv)
        return orbit_error_set(ORBIT_EINVAL, "catalog: no store");

    orbit_buf fkey = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT,
              ckey = ORBIT_BUF_INIT, claim_key = ORBIT_BUF_INIT,
              claim_val = ORBIT_BUF_INIT, fval = ORBIT_BUF_INIT;
    rc = ks_key(&fkey, actor_type, actor_id);
    if (rc)
        goto done;
    rc = get_retry(kv, &fkey, &val);
    if (rc == ORBIT_OK) {
        rc = rec_decode_id(fkey.data, fkey.len, &val,
                           ORBIT_KEYSPACE_FIRST_ALLOCATED, ks, NULL);
        goto done;
    }
    if (rc < 0) {
        rc = wrap(rc, "reading a keyspace");
        goto done;
    }
    if (!create)
        goto done; /* ORBIT_NOTFOUND */

    uint64_t mine = 0;
    rc = cat_key(&ckey, ORBIT_KEYSPACE_SYSTEM, KIND_NEXT, NEXT_KS,
                 strlen(NEXT_KS));
    if (!rc)
        rc = counter_next(kv, &ckey, ORBIT_KEYSPACE_FIRST_ALLOCATED - 1, &mine);
    if (!rc)
        rc = cat_key_int(&claim_key, ORBIT_KEYSPACE_SYSTEM, KIND_KSID, mine);
    if (!rc)
        rc = rec_encode(&claim_val, &claim_key, actor_type, actor_id, 0, NULL,
                        0);
    if (!rc)
        rc = rec_encode_id(&fval, &fkey, actor_type, actor_id, mine, 0);
    if (!rc)
        rc = publish(kv, &claim_key, &claim_val, &fkey, &fval, mine,
                     ORBIT_KEYSPACE_FIRST_ALLOCATED, ks);
done:
    orbit_buf_release(&fkey);
    orbit_buf_release(&val);
    orbit_buf_release(&ckey);
    orbit_buf_release(&claim_key);
    orbit_buf_release(&claim_val);
    orbit_buf_release(&fval);
    return rc;
}

/* The actor named by the claim of ks (val holds it), verified against its
 * mapping: ORBIT_NOTFOUND for a stale claim. */
static int verify_ks_claim(orbit_kv *kv, uint64_t ks, const uint8_t *key,
                           size_t klen, const orbit_buf *val,
                           orbit_buf *type, orbit_buf *id)
{
    orbit_buf scratch = ORBIT_BUF_INIT, fkey = ORBIT_BUF_INIT,
              fval = ORBIT_BUF_INIT, t = ORBIT_BUF_INIT, i = ORBIT_BUF_INIT;
    orbit_record_meta meta;
    const uint8_t *p;
    size_t n;
    int rc = rec_decode(key, klen, val, &scratch, &meta, &p, &n);
    if (rc)
        goto done;
    if (meta.actor_type_len == 0 || meta.actor_id_len == 0 ||
        memchr(meta.actor_type, 0, meta.actor_type_len) ||
        memchr(meta.actor_id, 0, meta.actor_id_len)) {
        rc = corrupt(key, klen, "claim names no valid actor");
        goto done;
    }
    rc = set_cstr(&t, meta.actor_type, meta.actor_type_len);
    if (!rc)
        rc = set_cstr(&i, meta.actor_id, meta.actor_id_len);
    if (!rc)
        rc = ks_key(&fkey, (const char *)t.data, (const char *)i.data);
    if (!rc)
        rc = get_retry(kv, &fkey, &fval);
    if (rc == ORBIT_OK) {
        uint64_t got;
        rc = rec_decode_id(fkey.data, fkey.len, &fval,
                           ORBIT_KEYSPACE_FIRST_ALLOCATED, &got, NULL);
        if (!rc && got != ks)
            rc = ORBIT_NOTFOUND;
    } else if (rc < 0) {
        rc = wrap(rc, "reading a keyspace");
    }
    if (!rc)
        rc = set_cstr(type, t.data, t.len);
    if (!rc)
        rc = set_cstr(id, i.data, i.len);
done:
    orbit_buf_release(&scratch);
    orbit_buf_release(&fkey);
    orbit_buf_release(&fval);
    orbit_buf_release(&t);
    orbit_buf_release(&i);
    return rc;
}

int orbit_catalog_keyspace_actor(orbit_kv *kv, uint64_t ks,
                                 orbit_buf *actor_type, orbit_buf *actor_id)
{
    if (ks == ORBIT_KEYSPACE_SYSTEM)
        return orbit_error_set(ORBIT_EINVAL,
                               "catalog: keyspace 0 is the system's, no "
                               "actor owns it");
    if (ks == ORBIT_KEYSPACE_DEFAULT) {
        int rc = set_cstr(actor_type, ORBIT_KEYSPACE_DEFAULT_ACTOR_TYPE,
                          strlen(ORBIT_KEYSPACE_DEFAULT_ACTOR_TYPE));
        if (!rc)
            rc = set_cstr(actor_id, ORBIT_KEYSPACE_DEFAULT_ACTOR_ID,
                          strlen(ORBIT_KEYSPACE_DEFAULT_ACTOR_ID));
        return rc;
    }
    if (ks > ORBIT_ID_MAX)
        return ORBIT_NOTFOUND;
    if (!kv)
        return orbit_error_set(ORBIT_EINVAL, "catalog: no store");
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    int rc = cat_key_int(&key, ORBIT_KEYSPACE_SYSTEM, KIND_KSID, ks);
    if (!rc)
        rc = get_retry(kv, &key, &val);
    if (rc == ORBIT_OK)
        rc = verify_ks_claim(kv, ks, key.data, key.len, &val, actor_type,
                             actor_id);
    else if (rc < 0)
        rc = wrap(rc, "reading a keyspace claim");
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    return rc;
}

/* ---- paged listing --------------------------------------------------- */

typedef struct page_ent {
    orbit_buf key, val;
} page_ent;

typedef struct page {
    page_ent ents[PAGE];
    size_t n;
    orbit_buf next; /* where the next page starts (empty: at the prefix) */
    int last;       /* no more pages after this one */
} page;

static void page_release(page *pg)
{
    for (size_t i = 0; i < PAGE; i++) {
        orbit_buf_release(&pg->ents[i].key);
        orbit_buf_release(&pg->ents[i].val);
    }
    orbit_buf_release(&pg->next);
}

/* Read the next page of keys under prefix into pg, closing the iterator
 * before returning, so callbacks run with none open. */
static int page_read(orbit_kv *kv, const orbit_buf *prefix, page *pg)
{
    for (unsigned a = 0;; a++) {
        orbit_scan_opts so = {0};
        so.prefix = prefix->data;
        so.prefix_len = prefix->len;
        if (pg->next.len) {
            so.start = pg->next.data;
            so.start_len = pg->next.len;
        }
        so.limit = PAGE;
        orbit_iter *it = NULL;
        int rc = orbit_kv_iter(kv, NULL, &so, &it);
        pg->n = 0;
        while (rc == ORBIT_OK) {
            const uint8_t *k, *v;
            size_t kl, vl;
            rc = orbit_iter_next(it, &k, &kl, &v, &vl);
            if (rc != ORBIT_OK)
                break;
            page_ent *e = &pg->ents[pg->n++];
            if (orbit_buf_set(&e->key, k, kl) || orbit_buf_set(&e->val, v, vl))
                rc = orbit_error_set(ORBIT_ENOMEM, "catalog listing");
        }
        orbit_iter_close(it);
        if (rc == ORBIT_NOTFOUND) {
            pg->last = pg->n < PAGE;
            if (pg->n) {
                /* The smallest key after the last one read. */
                const orbit_buf *lk = &pg->ents[pg->n - 1].key;
                if (orbit_buf_set(&pg->next, lk->data, lk->len) ||
                    orbit_buf_append(&pg->next, "", 1))
                    return orbit_error_set(ORBIT_ENOMEM, "catalog listing");
            }
            return ORBIT_OK;
        }
        if (!orbit_err_retryable(rc) || a + 1 >= ATTEMPTS)
            return wrap(rc, "listing");
        backoff(a);
    }
}

int orbit_catalog_list_keyspaces(orbit_kv *kv, orbit_catalog_keyspace_fn fn,
                                 void *arg)
{
    if (!kv || !fn)
        return orbit_error_set(ORBIT_EINVAL, "catalog listing: no store or "
                                             "callback");
    int rc = fn(arg, ORBIT_KEYSPACE_DEFAULT, ORBIT_KEYSPACE_DEFAULT_ACTOR_TYPE,
                ORBIT_KEYSPACE_DEFAULT_ACTOR_ID);
    if (rc)
        return rc;
    orbit_buf prefix = ORBIT_BUF_INIT, type = ORBIT_BUF_INIT,
              id = ORBIT_BUF_INIT;
    page *pg = calloc(1, sizeof *pg);
    if (!pg)
        return orbit_error_set(ORBIT_ENOMEM, "catalog listing");
    rc = orbit_key_catalog_prefix(&prefix, ORBIT_KEYSPACE_SYSTEM, KIND_KSID);
    if (rc)
        rc = orbit_error_set(rc, "catalog listing");
    while (!rc) {
        rc = page_read(kv, &prefix, pg);
        for (size_t i = 0; !rc && i < pg->n; i++) {
            const page_ent *e = &pg->ents[i];
            uint64_t ks = 0;
            rc = key_int_name(e->key.data, e->key.len, prefix.len, &ks);
            if (!rc)
                rc = verify_ks_claim(kv, ks, e->key.data, e->key.len, &e->val,
                                     &type, &id);
            if (rc == ORBIT_NOTFOUND) {
                rc = ORBIT_OK; /* a stale claim */
                continue;
            }
            if (!rc)
                rc = fn(arg, ks, (const char *)type.data,
                        (const char *)id.data);
        }
        if (!rc && pg->last)
            break;
    }
    page_release(pg);
    free(pg);
    orbit_buf_release(&prefix);
    orbit_buf_release(&type);
    orbit_buf_release(&id);
    return rc;
}

/* ---- named objects --------------------------------------------------- */

static int obj_claim_payload(orbit_buf *out, const char *kind,
                             const char *name)
{
    out->len = 0;
    int rc = orbit_tuple_str(out, kind);
    if (!rc)
        rc = orbit_tuple_bytes(out, name, strlen(name));
    return rc ? orbit_error_set(rc, "catalog claim") : ORBIT_OK;
}

static int obj_claim(orbit_buf *key, orbit_buf *val, uint64_t ks,
                     uint64_t id, const char *kind, const char *name,
                     uint64_t created_ms)
{
    orbit_buf p = ORBIT_BUF_INIT;
    int rc = cat_key_int(key, ks, KIND_OBJID, id);
    if (!rc)
        rc = obj_claim_payload(&p, kind, name);
    if (!rc)
        rc = rec_encode(val, key, NULL, NULL, created_ms, p.data, p.len);
    orbit_buf_release(&p);
    return rc;
}

int orbit_catalog_name_id(orbit_kv *kv, uint64_t ks, const char *kind,
                          const char *name, int create, uint64_t *id)
{
    int rc = check_kind_name(ks, kind, name);
    if (rc)
        return rc;
    if (!kv)
        return orbit_error_set(ORBIT_EINVAL, "catalog: no store");
    orbit_buf fkey = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT,
              ckey = ORBIT_BUF_INIT, claim_key = ORBIT_BUF_INIT,
              claim_val = ORBIT_BUF_INIT, fval = ORBIT_BUF_INIT;
    rc = cat_key(&fkey, ks, kind, name, strlen(name));
    if (rc)
        goto done;
    rc = get_retry(kv, &fkey, &val);
    if (rc == ORBIT_OK) {
        rc = rec_decode_id(fkey.data, fkey.len, &val, 1, id, NULL);
        goto done;
    }
    if (rc < 0) {
        rc = wrap(rc, "reading a name");
        goto done;
    }
    if (!create)
        goto done;

    uint64_t mine = 0;
    rc = cat_key(&ckey, ks, KIND_NEXT, NEXT_ID, strlen(NEXT_ID));
    if (!rc)
        rc = counter_next(kv, &ckey, 0, &mine);
    if (!rc)
        rc = obj_claim(&claim_key, &claim_val, ks, mine, kind, name, 0);
    if (!rc)
        rc = rec_encode_id(&fval, &fkey, NULL, NULL, mine, 0);
    if (!rc)
        rc = publish(kv, &claim_key, &claim_val, &fkey, &fval, mine, 1, id);
done:
    orbit_buf_release(&fkey);
    orbit_buf_release(&val);
    orbit_buf_release(&ckey);
    orbit_buf_release(&claim_key);
    orbit_buf_release(&claim_val);
    orbit_buf_release(&fval);
    return rc;
}

int orbit_catalog_object(orbit_kv *kv, uint64_t ks, uint64_t id,
                         orbit_buf *kind, orbit_buf *name)
{
    if (!kv)
        return orbit_error_set(ORBIT_EINVAL, "catalog: no store");
    if (ks > ORBIT_ID_MAX)
        return orbit_error_set(ORBIT_EINVAL, "catalog: keyspace out of range");
    if (id == 0 || id > ORBIT_ID_MAX)
        return ORBIT_NOTFOUND;
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT,
              scratch = ORBIT_BUF_INIT, k = ORBIT_BUF_INIT, n = ORBIT_BUF_INIT,
              fkey = ORBIT_BUF_INIT, fval = ORBIT_BUF_INIT;
    int rc = cat_key_int(&key, ks, KIND_OBJID, id);
    if (!rc)
        rc = get_retry(kv, &key, &val);
    if (rc) {
        rc = wrap(rc, "reading an object claim");
        goto done;
    }
    orbit_record_meta meta;
    const uint8_t *p;
    size_t plen;
    rc = rec_decode(key.data, key.len, &val, &scratch, &meta, &p, &plen);
    if (rc)
        goto done;
    size_t pos = 0;
    orbit_tuple_item a = {.bytes_out = &k}, b = {.bytes_out = &n};
    if (orbit_tuple_next(p, plen, &pos, &a) || a.type != ORBIT_TUPLE_BYTES ||
        orbit_tuple_next(p, plen, &pos, &b) || b.type != ORBIT_TUPLE_BYTES ||
        pos != plen || orbit_buf_append(&k, "", 1) ||
        orbit_buf_append(&n, "", 1)) {
        rc = corrupt(key.data, key.len, "malformed object claim");
        goto done;
    }
    k.len--;
    n.len--;
    if (!valid_kind((const char *)k.data) || n.len == 0 ||
        memchr(n.data, 0, n.len)) {
        rc = corrupt(key.data, key.len, "claim names no valid object");
        goto done;
    }
    /* Trusted only if the mapping points back. */
    uint64_t got;
    rc = cat_key(&fkey, ks, (const char *)k.data, n.data, n.len);
    if (!rc)
        rc = get_retry(kv, &fkey, &fval);
    if (rc == ORBIT_OK) {
        rc = rec_decode_id(fkey.data, fkey.len, &fval, 1, &got, NULL);
        if (!rc && got != id)
            rc = ORBIT_NOTFOUND;
    } else if (rc < 0) {
        rc = wrap(rc, "reading a name");
    }
    if (!rc)
        rc = set_cstr(kind, k.data, k.len);
    if (!rc)
        rc = set_cstr(name, n.data, n.len);
done:
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    orbit_buf_release(&scratch);
    orbit_buf_release(&k);
    orbit_buf_release(&n);
    orbit_buf_release(&fkey);
    orbit_buf_release(&fval);
    return rc;
}

int orbit_catalog_list_names(orbit_kv *kv, uint64_t ks, const char *kind,
                             orbit_catalog_name_fn fn, void *arg)
{
    int rc = check_kind_name(ks, kind, "x");
    if (rc)
        return rc;
    if (!kv || !fn)
        return orbit_error_set(ORBIT_EINVAL, "catalog listing: no store or "
                                             "callback");
    orbit_buf prefix = ORBIT_BUF_INIT, name = ORBIT_BUF_INIT;
    page *pg = calloc(1, sizeof *pg);
    if (!pg)
        return orbit_error_set(ORBIT_ENOMEM, "catalog listing");
    rc = orbit_key_catalog_prefix(&prefix, ks, kind);
    if (rc)
        rc = orbit_error_set(rc, "catalog listing");
    while (!rc) {
        rc = page_read(kv, &prefix, pg);
        for (size_t i = 0; !rc && i < pg->n; i++) {
            const page_ent *e = &pg->ents[i];
            uint64_t id = 0;
            rc = key_name(e->key.data, e->key.len, prefix.len, &name);
            if (!rc && (name.len == 0 || memchr(name.data, 0, name.len)))
                rc = corrupt(e->key.data, e->key.len, "malformed name");
            if (!rc)
                rc = set_cstr(&name, name.data, name.len);
            if (!rc)
                rc = rec_decode_id(e->key.data, e->key.len, &e->val, 1, &id,
                                   NULL);
            if (!rc)
                rc = fn(arg, (const char *)name.data, id);
        }
        if (!rc && pg->last)
            break;
    }
    page_release(pg);
    free(pg);
    orbit_buf_release(&prefix);
    orbit_buf_release(&name);
    return rc;
}

/* ---- rename ---------------------------------------------------------- */

/* After an uncertain rename commit: 0 if it applied, ORBIT_NOTFOUND if it
 * did not (old still maps to id, new is absent), else EUNCERTAIN. */
static int rename_outcome(orbit_kv *kv, const orbit_buf *okey,
                          const orbit_buf *nkey, uint64_t id)
{
    orbit_buf v = ORBIT_BUF_INIT;
    uint64_t got = 0;
    int rc_old = get_retry(kv, okey, &v);
    int old_is_id = rc_old == ORBIT_OK &&
                    rec_decode_id(okey->data, okey->len, &v, 1, &got, NULL) ==
                        ORBIT_OK &&
                    got == id;
    int rc_new = get_retry(kv, nkey, &v);
    int new_is_id = rc_new == ORBIT_OK &&
                    rec_decode_id(nkey->data, nkey->len, &v, 1, &got, NULL) ==
                        ORBIT_OK &&
                    got == id;
    orbit_buf_release(&v);
    if (new_is_id && rc_old == ORBIT_NOTFOUND)
        return ORBIT_OK;
    if (old_is_id && rc_new == ORBIT_NOTFOUND)
        return ORBIT_NOTFOUND;
    return orbit_error_set(ORBIT_EUNCERTAIN,
                           "catalog rename: the commit's outcome is unknown "
                           "and reading back did not settle it");
}

int orbit_catalog_rename(orbit_kv *kv, uint64_t ks, const char *kind,
                         const char *old_name, const char *new_name)
{
    int rc = check_kind_name(ks, kind, old_name);
    if (!rc)
        rc = check_kind_name(ks, kind, new_name);
    if (rc)
        return rc;
    if (!kv)
        return orbit_error_set(ORBIT_EINVAL, "catalog: no store");
    if (strcmp(old_name, new_name) == 0) {
        uint64_t id;
        return orbit_catalog_name_id(kv, ks, kind, old_name, 0, &id);
    }
    orbit_buf okey = ORBIT_BUF_INIT, nkey = ORBIT_BUF_INIT,
              val = ORBIT_BUF_INIT, nval = ORBIT_BUF_INIT,
              claim_key = ORBIT_BUF_INIT, claim_val = ORBIT_BUF_INIT;
    rc = cat_key(&okey, ks, kind, old_name, strlen(old_name));
    if (!rc)
        rc = cat_key(&nkey, ks, kind, new_name, strlen(new_name));
    for (unsigned a = 0; !rc; a++) {
        orbit_txn *t = NULL;
        uint64_t id = 0, created = 0;
        rc = orbit_kv_txn_begin(kv, NULL, &t);
        if (rc == ORBIT_ENOTSUP) {
            rc = wrap(rc, "rename needs transactions");
            break;
        }
        if (!rc) {
            rc = orbit_txn_get_for_update(t, okey.data, okey.len, &val);
            if (rc == ORBIT_NOTFOUND) {
                orbit_txn_rollback(t);
                break;
            }
            if (!rc) {
                rc = rec_decode_id(okey.data, okey.len, &val, 1, &id,
                                   &created);
                if (rc) {
                    orbit_txn_rollback(t);
                    break;
                }
                rc = orbit_txn_get_for_update(t, nkey.data, nkey.len, &val);
                if (rc == ORBIT_OK) {
                    orbit_txn_rollback(t);
                    rc = orbit_error_set(ORBIT_EEXIST,
                                         "catalog rename: %s %s exists",
                                         kind, new_name);
                    break;
                }
                if (rc == ORBIT_NOTFOUND)
                    rc = ORBIT_OK;
            }
            if (!rc)
                rc = rec_encode_id(&nval, &nkey, NULL, NULL, id, created);
            if (!rc)
                rc = obj_claim(&claim_key, &claim_val, ks, id, kind, new_name,
                               0);
            if (!rc)
                rc = orbit_txn_del(t, okey.data, okey.len);
            if (!rc)
                rc = orbit_txn_put(t, nkey.data, nkey.len, nval.data, nval.len);
            if (!rc)
                rc = orbit_txn_put(t, claim_key.data, claim_key.len,
                                   claim_val.data, claim_val.len);
            if (rc)
                orbit_txn_rollback(t);
            else
                rc = orbit_txn_commit(t);
        }
        if (rc == ORBIT_EUNCERTAIN) {
            rc = rename_outcome(kv, &okey, &nkey, id);
            if (rc != ORBIT_NOTFOUND)
                break;
            rc = ORBIT_EUNCERTAIN; /* not applied: try again */
        }
        if (rc == ORBIT_OK)
            break;
        if ((rc != ORBIT_EUNCERTAIN && !orbit_err_retryable(rc)) ||
            a + 1 >= ATTEMPTS) {
            rc = wrap(rc, "rename");
            break;
        }
        backoff(a);
        rc = ORBIT_OK;
    }
    orbit_buf_release(&okey);
    orbit_buf_release(&nkey);
    orbit_buf_release(&val);
    orbit_buf_release(&nval);
    orbit_buf_release(&claim_key);
    orbit_buf_release(&claim_val);
    return rc;
}
