/*
 * The plain key-value namespace (orbit/strings.h): Redis-style strings
 * stored as ORBIT_MODEL_KV records under the tuple key
 * (ORBIT_KEYSPACE_DEFAULT, "kv", K), i.e. in the default database actor's
 * keyspace.
 *
 * Invariants:
 *   - every value handed to a caller has passed orbit_record_decode (so its
 *     checksum verified); a stored value that does not is ORBIT_ECORRUPT
 *     naming the stored key, and the caller's callback never sees it;
 *   - user-key ranges map onto encoded ranges exactly, because the tuple
 *     encoding of (ks, "kv", K) preserves the byte order of K and the escaped
 *     body of a prefix P is a prefix of the escaped body of every K that
 *     starts with P (0x00 is always followed by 0xFF inside a body); every
 *     scan carries the prefix (ks, "kv"), so it never leaves the namespace;
 *   - every record is encoded and verified against the stored key it
 *     lives under (the record checksum covers the key);
 *   - the hot path does not allocate in steady state: keys of up to
 *     INLINE_KEY_MAX bytes are encoded into a stack array, a put encodes its
 *     record into a per-thread buffer (freed when the thread exits, and
 *     trimmed after an unusually large value), and an uncompressed read is
 *     decoded in place inside the provider's callback.
 *
 * Layer: src/model, on the provider contract (orbit/kv.h) and the codec
 * (orbit/codec.h, orbit/record.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "orbit/codec.h"
#include "orbit/provider.h"
#include "orbit/strings.h"

/* The keyspace of the plain key-value namespace. */
#define STR_KS ORBIT_KEYSPACE_DEFAULT
/* (1, "kv", K) takes 2 + 4 + 1 + 2*|K| + 1 bytes at worst (every byte
 * 0x00). */
#define INLINE_KEY_CAP 512
#define INLINE_KEY_MAX ((INLINE_KEY_CAP - 8) / 2)
/* A per-thread record buffer that grew beyond this is freed after use. */
#define SCRATCH_KEEP_MAX ((size_t)1 << 20)
/* The largest value a caller may store, inclusive (docs/ARCHITECTURE.md,
 * Limits): 64 MiB of the user's bytes. The record envelope comes on top;
 * the embedded providers' limits (memory, rocksdb) leave 64 KiB for it. */
#define STR_MAX_VALUE ((size_t)64 << 20)

/* ---- encoded keys --------------------------------------------------- */

typedef struct kv_key {
    orbit_buf b;
    uint8_t inline_[INLINE_KEY_CAP];
} kv_key;

/* The encoded head (STR_KS, "kv") of every key of the namespace, written
 * as constant bytes on the hot path: a one-byte positive int element, then
 * the string "kv". tests/unit/model/test_strings.c checks the full stored
 * key byte for byte against orbit_key_kv's output. */
_Static_assert(STR_KS >= 1 && STR_KS <= 0xFF, "the keyspace must be a one-byte integer");
static const uint8_t KV_HEAD[] = {ORBIT_TAG_INT_ZERO + 1, (uint8_t)STR_KS, ORBIT_TAG_BYTES,
                                  'k', 'v', 0x00};

/* Encode (STR_KS, "kv", key). A key short enough for the worst-case encoding to fit
 * the inline array is encoded there: orbit_buf_reserve never reallocates a
 * buffer whose capacity already suffices, so the stack memory is never
 * handed to realloc. Longer keys use the heap. */
static int kv_key_make(kv_key *k, const uint8_t *key, size_t klen)
{
    if (klen <= INLINE_KEY_MAX) {
        k->b.data = k->inline_;
        k->b.cap = sizeof k->inline_;
        memcpy(k->inline_, KV_HEAD, sizeof KV_HEAD);
        k->b.len = sizeof KV_HEAD;
        return orbit_tuple_bytes(&k->b, key, klen);
    }
    orbit_buf_init(&k->b);
    return orbit_key_kv(&k->b, STR_KS, key, klen);
}

static void kv_key_release(kv_key *k)
{
    if (k->b.data != k->inline_)
        orbit_buf_release(&k->b);
}

/* ---- per-thread record buffer --------------------------------------- */

static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static pthread_key_t scratch_key;
static int scratch_key_ok;

static void scratch_free(void *p)
{
    orbit_buf *b = p;
    orbit_buf_release(b);
    free(b);
}

static void scratch_key_create(void)
{
    scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0;
}

static orbit_buf *scratch_get(void)
{
    pthread_once(&scratch_once, scratch_key_create);
    if (!scratch_key_ok)
        return NULL;
    orbit_buf *b = pthread_getspecific(scratch_key);
    if (b)
        return b;
    b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    if (pthread_setspecific(scratch_key, b) != 0) {
        free(b);
        return NULL;
    }
    return b;
}

static void scratch_done(orbit_buf *b)
{
    if (b->cap > SCRATCH_KEEP_MAX)
        orbit_buf_release(b);
    else
        b->len = 0;
}

/* ---- writes --------------------------------------------------------- */

static int check_bytes(const void *p, size_t n, const char *what)
{
    if (n > 0 && !p)
        return orbit_error_set(ORBIT_EINVAL, "strings: NULL %s of length %zu", what, n);
    return ORBIT_OK;
}

int orbit_str_put(orbit_kv *kv, const orbit_str_opts *o, const uint8_t *key, size_t klen,
                  const uint8_t *val, size_t vlen)
{
    int rc;
    if (!kv)
        return orbit_error_set(ORBIT_EINVAL, "strings put: NULL store");
    if ((rc = check_bytes(key, klen, "key")) || (rc = check_bytes(val, vlen, "value")))
        return rc;
    /* Limits are about the caller's value, so the errors quote its size,
     * never the size of the record that wraps it. */
    if (vlen > STR_MAX_VALUE)
        return orbit_error_set(ORBIT_ETOOBIG,
                               "strings put: value of %zu bytes exceeds the limit of %zu bytes "
                               "(64 MiB)",
                               vlen, STR_MAX_VALUE);

    orbit_record_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.model = ORBIT_MODEL_KV;
    meta.created_ms = meta.updated_ms = orbit__now_ms();
    if (o && o->actor_type && o->actor_type[0]) {
        meta.actor_type = (const uint8_t *)o->actor_type;
        meta.actor_type_len = strlen(o->actor_type);
        if (o->actor_id) {
            meta.actor_id = (const uint8_t *)o->actor_id;
            meta.actor_id_len = strlen(o->actor_id);
        }
    }

    orbit_buf *rec = scratch_get();
    if (!rec)
        return orbit_error_set(ORBIT_ENOMEM, "strings put: no per-thread buffer");
    kv_key k;
    rc = kv_key_make(&k, key, klen);
    if (!rc) {
        rec->len = 0;
        rc = orbit_record_encode(rec, k.b.data, k.b.len, &meta, o ? &o->record : NULL, val,
                                 vlen);
    }
    if (!rc) {
        /* A store with a smaller limit (etcd's request size) or an envelope
         * grown by a long actor name: say what the caller can store here. */
        orbit_capabilities caps;
        orbit_kv_capabilities(kv, &caps);
        if (caps.max_value_size && rec->len > caps.max_value_size) {
            size_t env = rec->len > vlen ? rec->len - vlen : 0;
            size_t room = caps.max_value_size > env ? caps.max_value_size - env : 0;
            rc = orbit_error_set(ORBIT_ETOOBIG,
                                 "strings put: value of %zu bytes is too big for this %s store: "
                                 "it takes values of up to %zu bytes here (its limit of %zu "
                                 "bytes less %zu for the record envelope)",
                                 vlen, caps.name ? caps.name : "", room < STR_MAX_VALUE ? room : STR_MAX_VALUE,
                                 caps.max_value_size, env);
        }
    }
    if (!rc)
        rc = orbit_kv_put(kv, k.b.data, k.b.len, rec->data, rec->len);
    scratch_done(rec);
    kv_key_release(&k);
    return rc;
}

int orbit_str_del(orbit_kv *kv, const uint8_t *key, size_t klen)
{
    int rc;
    if (!kv)
        return orbit_error_set(ORBIT_EINVAL, "strings del: NULL store");
    if ((rc = check_bytes(key, klen, "key")))
        return rc;
    kv_key k;
    rc = kv_key_make(&k, key, klen);
    if (!rc)
        rc = orbit_kv_del(kv, k.b.data, k.b.len);
    kv_key_release(&k);
    return rc;
}

/* ---- point reads ---------------------------------------------------- */

typedef struct get_copy {
    const uint8_t *key; /* the stored key, to name it in errors */
    size_t klen;
    orbit_buf *out;
} get_copy;

static int get_copy_fn(void *arg, const uint8_t *val, size_t len)
{
    get_copy *g = arg;
    orbit_record_meta meta;
    const uint8_t *p;
    size_t n;
    /* A compressed value is decompressed straight into out. */
    int rc = orbit_record_decode(val, len, g->key, g->klen, &meta, g->out, &p, &n);
    if (rc)
        return rc;
    if (meta.compression != ORBIT_COMPRESS_NONE)
        return ORBIT_OK;
    return orbit_buf_set(g->out, p, n);
}

int orbit_str_get(orbit_kv *kv, const orbit_read_opts *ro, const uint8_t *key, size_t klen,
                  orbit_buf *out)
{
    int rc;
    if (!kv || !out)
        return orbit_error_set(ORBIT_EINVAL, "strings get: NULL %s", kv ? "out" : "store");
    if ((rc = check_bytes(key, klen, "key")))
        return rc;
    out->len = 0;
    kv_key k;
    rc = kv_key_make(&k, key, klen);
    if (!rc) {
        get_copy g = {k.b.data, k.b.len, out};
        rc = orbit_kv_get_with(kv, ro, k.b.data, k.b.len, get_copy_fn, &g);
    }
    if (rc)
        out->len = 0;
    kv_key_release(&k);
    return rc;
}

typedef struct get_borrow {
    const uint8_t *key;
    size_t klen;
    orbit_value_fn fn;
    void *arg;
    orbit_buf scratch; /* only touched by compressed records */
} get_borrow;

static int get_borrow_fn(void *arg, const uint8_t *val, size_t len)
{
    get_borrow *g = arg;
    const uint8_t *p;
    size_t n;
    int rc = orbit_record_decode(val, len, g->key, g->klen, NULL, &g->scratch, &p, &n);
    if (rc)
        return rc;
    return g->fn(g->arg, p, n);
}

int orbit_str_get_with(orbit_kv *kv, const orbit_read_opts *ro, const uint8_t *key,
                       size_t klen, orbit_value_fn fn, void *arg)
{
    int rc;
    if (!kv || !fn)
        return orbit_error_set(ORBIT_EINVAL, "strings get: NULL %s", kv ? "callback" : "store");
    if ((rc = check_bytes(key, klen, "key")))
        return rc;
    kv_key k;
    rc = kv_key_make(&k, key, klen);
    if (!rc) {
        get_borrow g = {k.b.data, k.b.len, fn, arg, ORBIT_BUF_INIT};
        rc = orbit_kv_get_with(kv, ro, k.b.data, k.b.len, get_borrow_fn, &g);
        orbit_buf_release(&g.scratch);
    }
    kv_key_release(&k);
    return rc;
}

/* ---- scans ---------------------------------------------------------- */

int orbit_str_scan(orbit_kv *kv, const orbit_read_opts *ro, const orbit_scan_opts *so,
                   orbit_str_scan_fn fn, void *arg)
{
    static const orbit_scan_opts all = {0};
    int rc;
    if (!kv || !fn)
        return orbit_error_set(ORBIT_EINVAL, "strings scan: NULL %s", kv ? "callback" : "store");
    if (!so)
        so = &all;
    if ((rc = check_bytes(so->start, so->start_len, "start")) ||
        (rc = check_bytes(so->end, so->end_len, "end")) ||
        (rc = check_bytes(so->prefix, so->prefix_len, "prefix")))
        return rc;

    /* All three bounds share one buffer; pointers are taken once it stops
     * growing. The prefix is always set: without a user prefix it is
     * (STR_KS, "kv") plus an open, empty byte string, i.e. every plain
     * key. */
    orbit_buf bounds = ORBIT_BUF_INIT;
    size_t start_at = 0, start_len = 0, end_at = 0, end_len = 0, prefix_at, prefix_len;
    if (so->start) {
        rc = orbit_key_kv(&bounds, STR_KS, so->start, so->start_len);
        start_len = bounds.len;
    }
    if (!rc && so->end) {
        end_at = bounds.len;
        rc = orbit_key_kv(&bounds, STR_KS, so->end, so->end_len);
        end_len = bounds.len - end_at;
    }
    prefix_at = bounds.len;
    if (!rc)
        rc = orbit_key_kv_prefix(&bounds, STR_KS);
    if (!rc)
        rc = orbit_tuple_bytes_open(&bounds, so->prefix, so->prefix ? so->prefix_len : 0);
    prefix_len = bounds.len - prefix_at;
    if (rc) {
        orbit_buf_release(&bounds);
        return rc;
    }

    orbit_scan_opts enc = {
        .start = so->start ? bounds.data + start_at : NULL,
        .start_len = start_len,
        .end = so->end ? bounds.data + end_at : NULL,
        .end_len = end_len,
        .prefix = bounds.data + prefix_at,
        .prefix_len = prefix_len,
        .limit = so->limit,
        .reverse = so->reverse,
    };
    orbit_iter *it = NULL;
    rc = orbit_kv_iter(kv, ro, &enc, &it);
    if (rc) {
        orbit_buf_release(&bounds);
        return rc;
    }

    orbit_buf ukey = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT;
    for (;;) {
        const uint8_t *k, *v, *p;
        size_t kl, vl, n;
        rc = orbit_iter_next(it, &k, &kl, &v, &vl);
        if (rc == ORBIT_NOTFOUND) {
            rc = ORBIT_OK;
            break;
        }
        if (rc)
            break;
        uint64_t space = STR_KS;
        rc = orbit_key_kv_decode(k, kl, &space, &ukey);
        if (rc == ORBIT_EINVAL || (!rc && space != STR_KS)) {
            orbit_buf esc = ORBIT_BUF_INIT;
            int ok = orbit_escape(&esc, k, kl > 64 ? 64 : kl) == 0 &&
                     orbit_buf_append(&esc, "", 1) == 0;
            rc = orbit_error_set(ORBIT_ECORRUPT, "key \"%s%s\" in the kv namespace is not a plain key",
                                 ok ? (const char *)esc.data : "?", kl > 64 ? "..." : "");
            orbit_buf_release(&esc);
        }
        if (rc)
            break;
        rc = orbit_record_decode(v, vl, k, kl, NULL, &scratch, &p, &n);
        if (rc)
            break;
        rc = fn(arg, ukey.data ? ukey.data : (const uint8_t *)"", ukey.len, p, n);
        if (rc)
            break;
    }
    orbit_iter_close(it);
    orbit_buf_release(&ukey);
    orbit_buf_release(&scratch);
    orbit_buf_release(&bounds);
    return rc;
}
