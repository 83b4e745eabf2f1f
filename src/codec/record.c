/*
 * The record envelope (orbit/record.h), format 2: a small header of
 * metadata, the payload (optionally LZ4- or zstd-compressed) and a 64-bit
 * checksum binding everything before it to the key the record is stored
 * under: XXH3-64 of the key, seeded with XXH3-64 of the record bytes.
 *
 * Invariants:
 *   - the checksum binds the record to its key: the same bytes under any
 *     other key fail verification (a misdirected write, a value copied to
 *     the wrong key, a key/value pair mixed up by a faulty store);
 *   - decode checks the format version byte first (another format's
 *     checksum cannot be verified by this one's rule, so it is reported
 *     as "unknown format version"), then verifies the checksum before it
 *     trusts any other byte, and every later check (model, flags,
 *     varints, lengths, decompression) still runs, so a record that fails any of them yields
 *     ORBIT_ECORRUPT with the escaped key and the reason as the detail, and
 *     never a payload;
 *   - varints are canonical unsigned LEB128: at most 10 bytes, no value
 *     above 64 bits, no redundant trailing zero groups;
 *   - a payload is stored compressed only if it is at least the threshold,
 *     at most RECORD_MAX_ULEN, and compressing shrinks the record;
 *   - a stated uncompressed length above RECORD_MAX_ULEN is rejected before
 *     anything is allocated;
 *   - encode (all modes) and decode of an uncompressed record do not
 *     allocate when the caller's buffer is large enough; zstd contexts are
 *     kept per thread and freed when the thread exits.
 *
 * Layer: src/codec, used by every data model to wrap values before they go
 * through the provider contract (orbit/kv.h).
 */
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <xxhash.h>
#include <zstd.h>

#include "base/base.h"
#include "orbit/codec.h"
#include "orbit/provider.h"
#include "orbit/record.h"

#define RECORD_DEFAULT_THRESHOLD 1024
#define RECORD_DEFAULT_ZSTD_LEVEL 3
/* The largest payload a compressed record may state; bigger payloads are
 * always stored uncompressed, so this bounds what decode will allocate. */
#define RECORD_MAX_ULEN ((uint64_t)256 << 20)
#define RECORD_FLAGS_COMPRESSION 0x03u
#define CHECKSUM_LEN 8
#define VARINT_MAX 10
/* Bytes of the key shown in an error detail. */
#define DETAIL_KEY_MAX 64

/* ---- per-thread zstd contexts --------------------------------------- */

typedef struct zstd_ctx {
    ZSTD_CCtx *c;
    ZSTD_DCtx *d;
} zstd_ctx;

static pthread_once_t zstd_once = PTHREAD_ONCE_INIT;
static pthread_key_t zstd_key;
static int zstd_key_ok;

static void zstd_ctx_free(void *p)
{
    zstd_ctx *z = p;
    ZSTD_freeCCtx(z->c);
    ZSTD_freeDCtx(z->d);
    free(z);
}

static void zstd_key_create(void)
{
    zstd_key_ok = pthread_key_create(&zstd_key, zstd_ctx_free) == 0;
}

static zstd_ctx *zstd_ctx_get(void)
{
    pthread_once(&zstd_once, zstd_key_create);
    if (!zstd_key_ok)
        return NULL;
    zstd_ctx *z = pthread_getspecific(zstd_key);
    if (z)
        return z;
    z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    if (pthread_setspecific(zstd_key, z) != 0) {
        free(z);
        return NULL;
    }
    return z;
}

static ZSTD_CCtx *zstd_cctx(void)
{
    zstd_ctx *z = zstd_ctx_get();
    if (z && !z->c)
        z->c = ZSTD_createCCtx();
    return z ? z->c : NULL;
}

static ZSTD_DCtx *zstd_dctx(void)
{
    zstd_ctx *z = zstd_ctx_get();
    if (z && !z->d)
        z->d = ZSTD_createDCtx();
    return z ? z->d : NULL;
}

/* ---- varints -------------------------------------------------------- */

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *varint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* NULL on success, else the reason the varint is invalid. */
static const char *varint_get(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < VARINT_MAX; i++) {
        if (*p == end)
            return "truncated";
        uint8_t b = *(*p)++;
        if (i == VARINT_MAX - 1 && b > 1)
            return "varint overflows 64 bits";
        v |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            if (b == 0 && i > 0)
                return "overlong varint";
            *out = v;
            return NULL;
        }
    }
    return "varint overflows 64 bits";
}

/* ---- errors --------------------------------------------------------- */

static int record_corrupt(const uint8_t *key, size_t klen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int record_corrupt(const uint8_t *key, size_t klen, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);

    orbit_buf esc = ORBIT_BUF_INIT;
    size_t shown = klen > DETAIL_KEY_MAX ? DETAIL_KEY_MAX : klen;
    int ok = orbit_escape(&esc, key, shown) == 0 &&
             (shown == klen || orbit_buf_append(&esc, "...", 3) == 0) &&
             orbit_buf_append(&esc, "", 1) == 0;
    orbit_error_set(ORBIT_ECORRUPT, "record under key \"%s\": %s",
                    ok ? (const char *)esc.data : "?", why);
    orbit_buf_release(&esc);
    return ORBIT_ECORRUPT;
}

static int valid_model(unsigned m)
{
    return m <= ORBIT_MODEL_CATALOG;
}

static uint64_t read_le64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = (u << 8) | p[i];
    return u;
}

static void write_le64(uint8_t *p, uint64_t u)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(u >> (8 * i));
}

/* The checksum of body[0..n) stored under key[0..klen): the key hashed
 * with the body's hash as the seed. This order keeps long bodies on
 * XXH3's unseeded path (a seeded hash of more than 240 bytes first derives
 * a custom secret); keys are short. */
static uint64_t record_checksum(const uint8_t *key, size_t klen, const uint8_t *body, size_t n)
{
    return XXH3_64bits_withSeed(klen ? key : (const uint8_t *)"", klen, XXH3_64bits(body, n));
}

/* ---- encode --------------------------------------------------------- */

/* Compress src into dst[0..cap); the compressed size, or 0 if it did not
 * fit (cap is chosen so that fitting means shrinking) or failed. */
static size_t compress_into(orbit_compression c, int level, uint8_t *dst, size_t cap,
                            const uint8_t *src, size_t n, int *rc)
{
    *rc = ORBIT_OK;
    if (c == ORBIT_COMPRESS_LZ4) {
        if (n > (size_t)LZ4_MAX_INPUT_SIZE || cap > INT_MAX)
            return 0;
        int got = LZ4_compress_default((const char *)src, (char *)dst, (int)n, (int)cap);
        return got > 0 ? (size_t)got : 0;
    }
    ZSTD_CCtx *cctx = zstd_cctx();
    if (!cctx) {
        *rc = ORBIT_ENOMEM;
        return 0;
    }
    size_t got = ZSTD_compressCCtx(cctx, dst, cap, src, n, level);
    return ZSTD_isError(got) ? 0 : got;
}

/* updated_ms is stored as a zigzag varint of (updated_ms - created_ms): a
 * blind write has updated == created, one byte instead of six, and a
 * clock that went backwards between the two still round-trips. */
static uint64_t updated_delta(const orbit_record_meta *m)
{
    int64_t d = (int64_t)(m->updated_ms - m->created_ms);
    return ((uint64_t)d << 1) ^ (uint64_t)(d >> 63);
}

static int64_t unzigzag(uint64_t z)
{
    return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

int orbit_record_encode(orbit_buf *out, const uint8_t *key, size_t klen,
                        const orbit_record_meta *meta, const orbit_record_opts *opts,
                        const uint8_t *payload, size_t plen)
{
    if (!out || !meta)
        return orbit_error_set(ORBIT_EINVAL, "record encode: NULL %s", out ? "meta" : "out");
    if (klen && !key)
        return orbit_error_set(ORBIT_EINVAL, "record encode: NULL key of length %zu", klen);
    if (!valid_model((unsigned)meta->model))
        return orbit_error_set(ORBIT_EINVAL, "record encode: unknown model %d", (int)meta->model);
    if ((meta->actor_type_len && !meta->actor_type) || (meta->actor_id_len && !meta->actor_id) ||
        (plen && !payload))
        return orbit_error_set(ORBIT_EINVAL, "record encode: NULL data with a non-zero length");

    orbit_compression comp = opts ? opts->compression : ORBIT_COMPRESS_NONE;
    size_t threshold = opts && opts->threshold ? opts->threshold : RECORD_DEFAULT_THRESHOLD;
    int level = opts && opts->level ? opts->level : RECORD_DEFAULT_ZSTD_LEVEL;
    if (comp != ORBIT_COMPRESS_NONE && comp != ORBIT_COMPRESS_LZ4 && comp != ORBIT_COMPRESS_ZSTD)
        return orbit_error_set(ORBIT_EINVAL, "record encode: unknown compression %d", (int)comp);
    if (comp == ORBIT_COMPRESS_ZSTD && (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()))
        return orbit_error_set(ORBIT_EINVAL, "record encode: zstd level %d outside [%d, %d]",
                               level, ZSTD_minCLevel(), ZSTD_maxCLevel());

    size_t head = 3 + varint_len(meta->schema_version) + varint_len(meta->created_ms) +
                  varint_len(updated_delta(meta)) + varint_len(meta->actor_type_len) +
                  varint_len(meta->actor_id_len);
    if (meta->actor_type_len > SIZE_MAX / 4 || meta->actor_id_len > SIZE_MAX / 4 ||
        plen > SIZE_MAX / 4)
        return ORBIT_ENOMEM;
    head += meta->actor_type_len + meta->actor_id_len;
    /* A compressed body is only kept if smaller than plen, so this is the
     * most the record can need in every mode. */
    size_t total_max = head + plen + CHECKSUM_LEN;
    int rc = orbit_buf_reserve(out, total_max);
    if (rc)
        return rc;

    uint8_t *base = out->data + out->len;
    uint8_t *p = base;
    *p++ = ORBIT_RECORD_FORMAT;
    *p++ = (uint8_t)meta->model;
    uint8_t *flags = p++;
    *flags = ORBIT_COMPRESS_NONE;
    p = varint_put(p, meta->schema_version);
    p = varint_put(p, meta->created_ms);
    p = varint_put(p, updated_delta(meta));
    p = varint_put(p, meta->actor_type_len);
    if (meta->actor_type_len)
        memcpy(p, meta->actor_type, meta->actor_type_len);
    p += meta->actor_type_len;
    p = varint_put(p, meta->actor_id_len);
    if (meta->actor_id_len)
        memcpy(p, meta->actor_id, meta->actor_id_len);
    p += meta->actor_id_len;

    size_t body = 0;
    if (comp != ORBIT_COMPRESS_NONE && plen >= threshold && plen <= RECORD_MAX_ULEN) {
        size_t vl = varint_len(plen);
        /* Room for strictly less than plen bytes in total: a result that
         * does not fit would not have shrunk the record. */
        if (plen > vl + 1) {
            size_t got = compress_into(comp, level, p + vl, plen - vl - 1, payload, plen, &rc);
            if (rc)
                return rc;
            if (got) {
                *flags = (uint8_t)comp;
                varint_put(p, plen);
                body = vl + got;
            }
        }
    }
    if (!body && plen) {
        memcpy(p, payload, plen);
        body = plen;
    }
    p += body;
    write_le64(p, record_checksum(key, klen, base, (size_t)(p - base)));
    p += CHECKSUM_LEN;
    out->len += (size_t)(p - base);
    return ORBIT_OK;
}

/* ---- decode --------------------------------------------------------- */

int orbit_record_decode(const uint8_t *rec, size_t n, const uint8_t *key, size_t klen,
                        orbit_record_meta *meta, orbit_buf *scratch,
                        const uint8_t **payload, size_t *plen)
{
    orbit_record_meta m;
    memset(&m, 0, sizeof m);
    if (!payload || !plen || (n && !rec) || (klen && !key))
        return orbit_error_set(ORBIT_EINVAL, "record decode: NULL argument");

    if (n < 3 + CHECKSUM_LEN)
        return record_corrupt(key, klen, "truncated (%zu bytes)", n);
    const uint8_t *end = rec + n - CHECKSUM_LEN;
    uint64_t stored = read_le64(end);
    uint64_t actual = record_checksum(key, klen, rec, n - CHECKSUM_LEN);
    const uint8_t *p = rec;
    /* An older format's checksum does not cover the key, so it would only
     * ever report a mismatch: name the real cause instead. */
    if (p[0] != ORBIT_RECORD_FORMAT)
        return record_corrupt(key, klen, "unknown format version %u", p[0]);
    if (stored != actual)
        return record_corrupt(key, klen,
                              "checksum mismatch (stored %016llx, computed %016llx; "
                              "a corrupt record or one stored under another key)",
                              (unsigned long long)stored, (unsigned long long)actual);

    if (!valid_model(p[1]))
        return record_corrupt(key, klen, "unknown model %u", p[1]);
    if (p[2] & ~RECORD_FLAGS_COMPRESSION)
        return record_corrupt(key, klen, "unknown flags 0x%02x", p[2]);
    unsigned comp = p[2] & RECORD_FLAGS_COMPRESSION;
    if (comp != ORBIT_COMPRESS_NONE && comp != ORBIT_COMPRESS_LZ4 && comp != ORBIT_COMPRESS_ZSTD)
        return record_corrupt(key, klen, "unknown compression %u", comp);
    m.model = (orbit_model)p[1];
    m.compression = (orbit_compression)comp;
    p += 3;

    uint64_t v[3], alen, ilen;
    static const char *const names[3] = {"schema version", "created_ms", "updated_ms delta"};
    const char *why;
    for (int i = 0; i < 3; i++)
        if ((why = varint_get(&p, end, &v[i])) != NULL)
            return record_corrupt(key, klen, "%s: %s", names[i], why);
    if (v[0] > UINT32_MAX)
        return record_corrupt(key, klen, "schema version %llu exceeds 32 bits",
                              (unsigned long long)v[0]);
    if ((why = varint_get(&p, end, &alen)) != NULL)
        return record_corrupt(key, klen, "actor type length: %s", why);
    if (alen > (uint64_t)(end - p))
        return record_corrupt(key, klen, "actor type: truncated");
    m.actor_type = alen ? p : NULL;
    m.actor_type_len = (size_t)alen;
    p += alen;
    if ((why = varint_get(&p, end, &ilen)) != NULL)
        return record_corrupt(key, klen, "actor id length: %s", why);
    if (ilen > (uint64_t)(end - p))
        return record_corrupt(key, klen, "actor id: truncated");
    m.actor_id = ilen ? p : NULL;
    m.actor_id_len = (size_t)ilen;
    p += ilen;
    m.schema_version = (uint32_t)v[0];
    m.created_ms = v[1];
    /* Unsigned wrap-around makes every (created, updated) pair round-trip. */
    m.updated_ms = v[1] + (uint64_t)unzigzag(v[2]);

    if (comp == ORBIT_COMPRESS_NONE) {
        if (meta)
            *meta = m;
        *payload = p;
        *plen = (size_t)(end - p);
        return ORBIT_OK;
    }

    uint64_t ulen;
    if ((why = varint_get(&p, end, &ulen)) != NULL)
        return record_corrupt(key, klen, "uncompressed length: %s", why);
    if (ulen > RECORD_MAX_ULEN)
        return record_corrupt(key, klen, "uncompressed length %llu above the %llu-byte limit",
                              (unsigned long long)ulen, (unsigned long long)RECORD_MAX_ULEN);
    if (!scratch)
        return orbit_error_set(ORBIT_ENOTSUP,
                               "record decode: compressed record and no scratch buffer");
    size_t clen = (size_t)(end - p);
    scratch->len = 0;
    /* One spare byte keeps the destination non-NULL for an empty payload. */
    int rc = orbit_buf_reserve(scratch, (size_t)ulen + 1);
    if (rc)
        return rc;
    if (comp == ORBIT_COMPRESS_LZ4) {
        if (clen > INT_MAX)
            return record_corrupt(key, klen, "LZ4 body of %zu bytes is too large", clen);
        int got = LZ4_decompress_safe((const char *)p, (char *)scratch->data, (int)clen,
                                      (int)ulen);
        if (got < 0 || (uint64_t)got != ulen)
            return record_corrupt(key, klen, "LZ4 body does not decompress to %llu bytes",
                                  (unsigned long long)ulen);
    } else {
        ZSTD_DCtx *dctx = zstd_dctx();
        if (!dctx)
            return ORBIT_ENOMEM;
        size_t got = ZSTD_decompressDCtx(dctx, scratch->data, (size_t)ulen, p, clen);
        if (ZSTD_isError(got))
            return record_corrupt(key, klen, "zstd body: %s", ZSTD_getErrorName(got));
        if (got != ulen)
            return record_corrupt(key, klen, "zstd body decompresses to %zu bytes, not %llu",
                                  got, (unsigned long long)ulen);
    }
    scratch->len = (size_t)ulen;
    if (meta)
        *meta = m;
    *payload = scratch->data;
    *plen = (size_t)ulen;
    return ORBIT_OK;
}
