/*
 * The memcomparable tuple encoding (orbit/codec.h): element encoders and the
 * decoder orbit_tuple_next().
 *
 * Invariants: memcmp order of two encodings equals tuple order; every
 * element is self-delimiting, so no encoding is a prefix-collision of
 * another tuple; and the encoding is canonical: an integer takes the
 * fewest bytes that hold its magnitude (FoundationDB's tuple layer: tag
 * 0x14 +- the byte count, negatives as the ones' complement), -0.0 is
 * written as +0.0 and every NaN as one quiet NaN, and the decoder rejects
 * the forms the encoder never writes (longer integers, integers outside
 * int64, other zeros and NaNs), so decode-then-encode reproduces the input
 * exactly.
 * An encoder that fails leaves `out` as it was.
 *
 * Layer: src/codec sits above the provider contract and below the data
 * models; it knows nothing of stores, only of bytes.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codec/codec_int.h"
#include "orbit/codec.h"
#include "orbit/provider.h"

#define SIGN_BIT (UINT64_C(1) << 63)
/* The one NaN the encoder writes (quiet, positive, no payload). */
#define CANONICAL_NAN UINT64_C(0x7FF8000000000000)

static size_t count_zeros(const uint8_t *p, size_t n)
{
    size_t zeros = 0;
    if (n == 0)
        return 0;
    const uint8_t *end = p + n;
    while (p < end) {
        const uint8_t *z = memchr(p, 0, (size_t)(end - p));
        if (!z)
            break;
        zeros++;
        p = z + 1;
    }
    return zeros;
}

/* Write p[0..n) with each 0x00 as 0x00 0xFF; returns the end. */
static uint8_t *write_escaped(uint8_t *dst, const uint8_t *p, size_t n)
{
    if (n == 0)
        return dst;
    const uint8_t *end = p + n;
    while (p < end) {
        const uint8_t *z = memchr(p, 0, (size_t)(end - p));
        size_t run = z ? (size_t)(z - p) : (size_t)(end - p);
        memcpy(dst, p, run);
        dst += run;
        p += run;
        if (z) {
            *dst++ = 0x00;
            *dst++ = 0xFF;
            p++;
        }
    }
    return dst;
}

static int put_bytes(orbit_buf *out, const void *p, size_t n, int closed)
{
    if (n > 0 && !p)
        return orbit_error_set(ORBIT_EINVAL, "tuple bytes element: NULL data of length %zu", n);
    size_t zeros = count_zeros(p, n);
    /* tag + body + one extra byte per zero + terminator; n + zeros <= 2n */
    if (n > (SIZE_MAX - 2) / 2)
        return ORBIT_ENOMEM;
    size_t need = 1 + n + zeros + (closed ? 1 : 0);
    int rc = orbit_buf_reserve(out, need);
    if (rc)
        return rc;
    uint8_t *dst = out->data + out->len;
    *dst++ = ORBIT_TAG_BYTES;
    dst = write_escaped(dst, p, n);
    if (closed)
        *dst++ = 0x00;
    out->len += need;
    return ORBIT_OK;
}

static int put_u64(orbit_buf *out, uint8_t tag, uint64_t u)
{
    int rc = orbit_buf_reserve(out, 9);
    if (rc)
        return rc;
    uint8_t *dst = out->data + out->len;
    dst[0] = tag;
    for (int i = 0; i < 8; i++)
        dst[1 + i] = (uint8_t)(u >> (56 - 8 * i));
    out->len += 9;
    return ORBIT_OK;
}

int orbit_tuple_bytes(orbit_buf *out, const void *p, size_t n)
{
    return put_bytes(out, p, n, 1);
}

int orbit_tuple_bytes_open(orbit_buf *out, const void *p, size_t n)
{
    return put_bytes(out, p, n, 0);
}

int orbit_tuple_str(orbit_buf *out, const char *s)
{
    if (!s)
        return orbit_error_set(ORBIT_EINVAL, "tuple string element: NULL string");
    return put_bytes(out, s, strlen(s), 1);
}

/* Bytes needed for a magnitude m > 0 (1..8). */
static unsigned mag_len(uint64_t m)
{
    unsigned n = 1;
    while (n < 8 && (m >> (8 * n)) != 0)
        n++;
    return n;
}

size_t orbit__tuple_int_put(uint8_t *dst, int64_t v)
{
    if (v == 0) {
        dst[0] = ORBIT_TAG_INT_ZERO;
        return 1;
    }
    /* The magnitude as uint64: -INT64_MIN is 2^63, representable. */
    uint64_t m = v > 0 ? (uint64_t)v : (uint64_t)0 - (uint64_t)v;
    unsigned n = mag_len(m);
    uint64_t body = v > 0 ? m : ~m; /* ones' complement; the low n bytes are kept */
    dst[0] = (uint8_t)(v > 0 ? ORBIT_TAG_INT_ZERO + n : ORBIT_TAG_INT_ZERO - n);
    for (unsigned i = 0; i < n; i++)
        dst[1 + i] = (uint8_t)(body >> (8 * (n - 1 - i)));
    return 1 + n;
}

int orbit_tuple_int(orbit_buf *out, int64_t v)
{
    int rc = orbit_buf_reserve(out, ORBIT_TUPLE_INT_MAX_LEN);
    if (rc)
        return rc;
    out->len += orbit__tuple_int_put(out->data + out->len, v);
    return ORBIT_OK;
}

int orbit_tuple_double(orbit_buf *out, double v)
{
    uint64_t bits;
    if (isnan(v)) {
        bits = CANONICAL_NAN;
    } else if (v == 0.0) {
        bits = 0; /* -0.0 == 0.0, so they must share one encoding */
    } else {
        memcpy(&bits, &v, sizeof bits);
    }
    /* Negatives: flipping every bit reverses their magnitude order and puts
     * them below all positives; positives only need the sign bit set. */
    bits = (bits & SIGN_BIT) ? ~bits : (bits | SIGN_BIT);
    return put_u64(out, ORBIT_TAG_DOUBLE, bits);
}

int orbit_tuple_bool(orbit_buf *out, int v)
{
    uint8_t tag = v ? ORBIT_TAG_TRUE : ORBIT_TAG_FALSE;
    return orbit_buf_append(out, &tag, 1);
}

/* ---- decoding ------------------------------------------------------- */

/* The detail names the key (escaped, first 64 bytes) and the offset. */
static int malformed(const uint8_t *key, size_t klen, size_t at, const char *why)
{
    orbit_buf esc = ORBIT_BUF_INIT;
    size_t shown = klen > 64 ? 64 : klen;
    int ok = orbit_escape(&esc, key, shown) == 0 &&
             (shown == klen || orbit_buf_append(&esc, "...", 3) == 0) &&
             orbit_buf_append(&esc, "", 1) == 0;
    orbit_error_set(ORBIT_ECORRUPT, "malformed key \"%s\": %s at offset %zu",
                    ok ? (const char *)esc.data : "?", why, at);
    orbit_buf_release(&esc);
    return ORBIT_ECORRUPT;
}

static uint64_t read_be64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | p[i];
    return u;
}

/* Copy the escaped body key[from..to) into out, turning 0x00 0xFF into 0x00. */
static int unescape_body(orbit_buf *out, const uint8_t *key, size_t from, size_t to)
{
    out->len = 0;
    int rc = orbit_buf_reserve(out, to - from);
    if (rc)
        return rc;
    uint8_t *dst = out->data;
    size_t i = from;
    while (i < to) {
        const uint8_t *z = memchr(key + i, 0, to - i);
        size_t run = z ? (size_t)(z - (key + i)) : to - i;
        memcpy(dst, key + i, run);
        dst += run;
        i += run;
        if (z) {
            *dst++ = 0x00;
            i += 2; /* the 0x00 0xFF pair */
        }
    }
    out->len = (size_t)(dst - out->data);
    return ORBIT_OK;
}

int orbit_tuple_next(const uint8_t *key, size_t klen, size_t *pos,
                     orbit_tuple_item *item)
{
    size_t i = *pos;
    if (i == klen)
        return ORBIT_NOTFOUND;
    if (i > klen || !key)
        return orbit_error_set(ORBIT_EINVAL, "tuple decode: position %zu past the key's %zu bytes",
                               i, klen);
    size_t start = i;
    uint8_t tag = key[i++];
    orbit_tuple_item dummy = {0};
    if (!item)
        item = &dummy;

    switch (tag) {
    case ORBIT_TAG_BYTES: {
        size_t j = i;
        for (;;) {
            const uint8_t *z = j < klen ? memchr(key + j, 0, klen - j) : NULL;
            if (!z)
                return malformed(key, klen, start, "unterminated byte string");
            j = (size_t)(z - key);
            if (j + 1 < klen && key[j + 1] == 0xFF) {
                j += 2;
                continue;
            }
            break;
        }
        if (item->bytes_out) {
            int rc = unescape_body(item->bytes_out, key, i, j);
            if (rc)
                return rc;
        }
        item->type = ORBIT_TUPLE_BYTES;
        i = j + 1;
        break;
    }
    case ORBIT_TAG_INT_ZERO:
        item->type = ORBIT_TUPLE_INT;
        item->i = 0;
        break;
    case 0x0C: case 0x0D: case 0x0E: case 0x0F: case 0x10: case 0x11: case 0x12: case 0x13:
    case 0x15: case 0x16: case 0x17: case 0x18: case 0x19: case 0x1A: case 0x1B: case 0x1C: {
        int neg = tag < ORBIT_TAG_INT_ZERO;
        unsigned n = neg ? (unsigned)(ORBIT_TAG_INT_ZERO - tag) : (unsigned)(tag - ORBIT_TAG_INT_ZERO);
        if (klen - i < n)
            return malformed(key, klen, start, "truncated integer");
        uint64_t body = 0;
        for (unsigned b = 0; b < n; b++)
            body = (body << 8) | key[i + b];
        /* The magnitude: the body itself, or its ones' complement in n bytes. */
        uint64_t mask = n == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * n)) - 1;
        uint64_t m = neg ? ~body & mask : body;
        if (mag_len(m) != n || m == 0)
            return malformed(key, klen, start, "non-minimal integer");
        if (neg ? m > SIGN_BIT : m >= SIGN_BIT)
            return malformed(key, klen, start, "integer outside int64");
        item->type = ORBIT_TUPLE_INT;
        item->i = neg ? (int64_t)((uint64_t)0 - m) : (int64_t)m;
        i += n;
        break;
    }
    case ORBIT_TAG_DOUBLE: {
        if (klen - i < 8)
            return malformed(key, klen, start, "truncated double");
        uint64_t u = read_be64(key + i);
        uint64_t bits = (u & SIGN_BIT) ? (u & ~SIGN_BIT) : ~u;
        int is_nan = (bits & UINT64_C(0x7FF0000000000000)) == UINT64_C(0x7FF0000000000000) &&
                     (bits & UINT64_C(0x000FFFFFFFFFFFFF)) != 0;
        if (bits == SIGN_BIT)
            return malformed(key, klen, start, "non-canonical double (-0.0)");
        if (is_nan && bits != CANONICAL_NAN)
            return malformed(key, klen, start, "non-canonical NaN");
        item->type = ORBIT_TUPLE_DOUBLE;
        memcpy(&item->d, &bits, sizeof item->d);
        i += 8;
        break;
    }
    case ORBIT_TAG_FALSE:
    case ORBIT_TAG_TRUE:
        item->type = ORBIT_TUPLE_BOOL;
        item->b = tag == ORBIT_TAG_TRUE;
        break;
    default: {
        char why[32];
        snprintf(why, sizeof why, "unknown tag 0x%02x", tag);
        return malformed(key, klen, start, why);
    }
    }
    *pos = i;
    return ORBIT_OK;
}
