/*
 * Tests of the record envelope (src/codec/record.c), format 2: every field
 * round trips, compression modes and the threshold, and corruption
 * detection: every single-bit flip and every truncation of uncompressed,
 * LZ4 and zstd records is ORBIT_ECORRUPT and never yields a payload; the
 * checksum covers the key, so a record read under another key (any one-bit
 * change of the key, a shorter or longer key, another record's key) is
 * ORBIT_ECORRUPT; hand-built records with a correct checksum but an unknown
 * version (format 1 included), model, compression or flag, a bad varint,
 * or a lying length are refused; the detail names the (escaped, truncated)
 * key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
/* The checksum rule is recomputed here from xxhash itself, independently
 * of src/codec/record.c. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "base/base.h"
#include "orbit/codec.h"
#include "orbit/provider.h"
#include "orbit/record.h"
#include "testutil.h"

/* (1, "kv", "rec") */
static const uint8_t KEY[] = {0x15, 0x01, 0x01, 'k', 'v', 0x00, 0x01, 'r', 'e', 'c', 0x00};
#define KEY_ESCAPED "\\x15\\x01\\x01kv\\x00\\x01rec\\x00"

static orbit_record_meta sample_meta(void)
{
    orbit_record_meta m;
    memset(&m, 0, sizeof m);
    m.model = ORBIT_MODEL_GRAPH;
    m.schema_version = UINT32_MAX;
    m.created_ms = 1700000000000u;
    m.updated_ms = 1700000000123u;
    m.actor_type = (const uint8_t *)"Account";
    m.actor_type_len = 7;
    m.actor_id = (const uint8_t *)"id:\0\xff";
    m.actor_id_len = 5;
    return m;
}

static void fill_compressible(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)("orbit record payload "[i % 21]);
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    tu_rng r;
    tu_rng_init(&r, seed);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)tu_rand(&r);
}

/* Decode and check every field and the payload. */
static void check_round_trip(const orbit_buf *rec, const orbit_record_meta *want,
                             orbit_compression want_comp, const uint8_t *payload, size_t plen)
{
    orbit_record_meta m;
    orbit_buf scratch = ORBIT_BUF_INIT;
    const uint8_t *p = NULL;
    size_t n = 0;
    assert_int_equal(orbit_record_decode(rec->data, rec->len, KEY, sizeof KEY, &m, &scratch, &p, &n), 0);
    assert_int_equal(m.model, want->model);
    assert_true(m.schema_version == want->schema_version);
    assert_true(m.created_ms == want->created_ms);
    assert_true(m.updated_ms == want->updated_ms);
    assert_int_equal(m.actor_type_len, want->actor_type_len);
    if (m.actor_type_len)
        assert_memory_equal(m.actor_type, want->actor_type, m.actor_type_len);
    assert_int_equal(m.actor_id_len, want->actor_id_len);
    if (m.actor_id_len)
        assert_memory_equal(m.actor_id, want->actor_id, m.actor_id_len);
    assert_int_equal(m.compression, want_comp);
    assert_int_equal(n, plen);
    if (plen)
        assert_memory_equal(p, payload, plen);
    if (want_comp == ORBIT_COMPRESS_NONE) {
        /* Stored as is: the payload is borrowed from the record itself. */
        assert_true(p >= rec->data && p + n <= rec->data + rec->len);
    } else {
        assert_ptr_equal(p, scratch.data);
    }
    orbit_buf_release(&scratch);
}

static void test_fields_round_trip(void **state)
{
    (void)state;
    orbit_buf rec = ORBIT_BUF_INIT;
    orbit_record_meta m = sample_meta();
    const uint8_t payload[] = "hello\0world";
    assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, NULL, payload, sizeof payload), 0);
    /* 3 fixed bytes, varints 5+6 and 2 (updated - created = 123, zigzag
     * 246), 1+7, 1+5, payload, checksum */
    assert_int_equal(rec.len, 3 + 5 + 6 + 2 + 8 + 6 + sizeof payload + 8);
    assert_int_equal(rec.data[0], ORBIT_RECORD_FORMAT);
    assert_int_equal(rec.data[1], ORBIT_MODEL_GRAPH);
    assert_int_equal(rec.data[2], 0);
    check_round_trip(&rec, &m, ORBIT_COMPRESS_NONE, payload, sizeof payload);

    /* All-zero meta and an empty payload: the smallest record. */
    orbit_record_meta z;
    memset(&z, 0, sizeof z);
    rec.len = 0;
    assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &z, NULL, NULL, 0), 0);
    assert_int_equal(rec.len, 3 + 5 + 8);
    check_round_trip(&rec, &z, ORBIT_COMPRESS_NONE, NULL, 0);

    /* updated_ms is stored relative to created_ms: equal times take one
     * byte, and any pair, even updated < created or the extremes,
     * round-trips. */
    static const uint64_t times[][2] = {
        {1700000000000u, 1700000000000u}, {1700000000123u, 1700000000000u},
        {0, UINT64_MAX}, {UINT64_MAX, 0}, {UINT64_MAX, UINT64_MAX}, {1, 0},
    };
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        orbit_record_meta t = z;
        t.created_ms = times[i][0];
        t.updated_ms = times[i][1];
        rec.len = 0;
        assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &t, NULL, payload, 2), 0);
        if (i == 0) /* fixed, schema, created (6), delta (1), 2 actor lens */
            assert_int_equal(rec.len, 3 + 1 + 6 + 1 + 1 + 1 + 2 + 8);
        check_round_trip(&rec, &t, ORBIT_COMPRESS_NONE, payload, 2);
    }

    /* Encode appends; decoding the appended part works. */
    assert_int_equal(orbit_buf_set(&rec, "prefix", 6), 0);
    assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, NULL, payload, 3), 0);
    assert_memory_equal(rec.data, "prefix", 6);
    orbit_buf tail = ORBIT_BUF_INIT;
    assert_int_equal(orbit_buf_set(&tail, rec.data + 6, rec.len - 6), 0);
    check_round_trip(&tail, &m, ORBIT_COMPRESS_NONE, payload, 3);

    /* Every model value round-trips. */
    for (int model = ORBIT_MODEL_KV; model <= ORBIT_MODEL_CATALOG; model++) {
        z.model = (orbit_model)model;
        rec.len = 0;
        assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &z, NULL, payload, 1), 0);
        check_round_trip(&rec, &z, ORBIT_COMPRESS_NONE, payload, 1);
    }
    orbit_buf_release(&rec);
    orbit_buf_release(&tail);
}

static void test_bad_encode_args(void **state)
{
    (void)state;
    orbit_buf rec = ORBIT_BUF_INIT;
    orbit_record_meta m = sample_meta();
    orbit_record_opts o = {(orbit_compression)3, 0, 0};
    assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, &o, (const uint8_t *)"x", 1), ORBIT_EINVAL);
    o.compression = ORBIT_COMPRESS_ZSTD;
    o.level = 1000;
    assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, &o, (const uint8_t *)"x", 1), ORBIT_EINVAL);
    m.model = (orbit_model)7;
    assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, NULL, (const uint8_t *)"x", 1), ORBIT_EINVAL);
    m = sample_meta();
    m.actor_type = NULL;
    assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, NULL, (const uint8_t *)"x", 1), ORBIT_EINVAL);
    m = sample_meta();
    assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, NULL, NULL, 1), ORBIT_EINVAL);
    assert_int_equal(orbit_record_encode(&rec, NULL, 3, &m, NULL, (const uint8_t *)"x", 1),
                     ORBIT_EINVAL);
    assert_int_equal(orbit_record_encode(NULL, KEY, sizeof KEY, &m, NULL, (const uint8_t *)"x", 1),
                     ORBIT_EINVAL);
    assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, NULL, NULL, (const uint8_t *)"x", 1),
                     ORBIT_EINVAL);
    assert_int_equal(rec.len, 0);
    orbit_buf_release(&rec);
}

static void test_compression(void **state)
{
    (void)state;
    enum { N = 8192 };
    static uint8_t text[N], noise[N];
    fill_compressible(text, N);
    fill_random(noise, N, 42);
    orbit_record_meta m = sample_meta();
    orbit_buf rec = ORBIT_BUF_INIT;
    const orbit_compression modes[] = {ORBIT_COMPRESS_LZ4, ORBIT_COMPRESS_ZSTD};

    for (size_t i = 0; i < 2; i++) {
        orbit_record_opts o = {modes[i], 0, 0};
        /* Default threshold 1024: 1023 bytes stay plain, 1024 compress. */
        rec.len = 0;
        assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, &o, text, 1023), 0);
        check_round_trip(&rec, &m, ORBIT_COMPRESS_NONE, text, 1023);
        rec.len = 0;
        assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, &o, text, 1024), 0);
        assert_int_equal(rec.data[2], modes[i]);
        check_round_trip(&rec, &m, modes[i], text, 1024);
        rec.len = 0;
        assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, &o, text, N), 0);
        assert_true(rec.len < N / 4);
        check_round_trip(&rec, &m, modes[i], text, N);

        /* Incompressible data is stored as is. */
        rec.len = 0;
        assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, &o, noise, N), 0);
        check_round_trip(&rec, &m, ORBIT_COMPRESS_NONE, noise, N);

        /* A custom threshold. */
        o.threshold = 64;
        rec.len = 0;
        assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, &o, text, 63), 0);
        check_round_trip(&rec, &m, ORBIT_COMPRESS_NONE, text, 63);
        rec.len = 0;
        assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, &o, text, 200), 0);
        check_round_trip(&rec, &m, modes[i], text, 200);

        /* Compressed, but the caller gave no scratch buffer. */
        const uint8_t *p = NULL;
        size_t n = 0;
        assert_int_equal(orbit_record_decode(rec.data, rec.len, KEY, sizeof KEY, NULL, NULL, &p, &n),
                         ORBIT_ENOTSUP);
        assert_null(p);
    }

    /* zstd levels, including a negative (fast) one. */
    const int levels[] = {-5, 1, 19};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        orbit_record_opts o = {ORBIT_COMPRESS_ZSTD, 0, levels[i]};
        rec.len = 0;
        assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, &o, text, N), 0);
        check_round_trip(&rec, &m, ORBIT_COMPRESS_ZSTD, text, N);
    }

    /* Compression is never used when not asked for. */
    orbit_record_opts none = {ORBIT_COMPRESS_NONE, 1, 0};
    rec.len = 0;
    assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, &none, text, N), 0);
    check_round_trip(&rec, &m, ORBIT_COMPRESS_NONE, text, N);
    orbit_buf_release(&rec);
}

/* Decode under key[0..klen) must fail with ECORRUPT, leave the outputs
 * alone and name the key (escaped: its expected form). */
static void expect_corrupt_under(const uint8_t *rec, size_t n, const uint8_t *key, size_t klen,
                                 const char *escaped, const char *reason)
{
    orbit_buf scratch = ORBIT_BUF_INIT;
    const uint8_t *p = (const uint8_t *)"untouched";
    size_t plen = 12345;
    orbit_error_clear();
    int rc = orbit_record_decode(rec, n, key, klen, NULL, &scratch, &p, &plen);
    if (rc != ORBIT_ECORRUPT) {
        fprintf(stderr, "decode of %zu bytes gave %d, want ECORRUPT (%s)\n", n, rc,
                reason ? reason : "any reason");
        fail();
    }
    assert_string_equal((const char *)p, "untouched");
    assert_int_equal(plen, 12345);
    const char *d = orbit_last_error_detail();
    if (escaped) {
        char want[256];
        snprintf(want, sizeof want, "record under key \"%s\"", escaped);
        assert_non_null(strstr(d, want));
    }
    if (reason && !strstr(d, reason)) {
        fprintf(stderr, "detail \"%s\" lacks \"%s\"\n", d, reason);
        fail();
    }
    orbit_buf_release(&scratch);
}

static void expect_corrupt(const uint8_t *rec, size_t n, const char *reason)
{
    expect_corrupt_under(rec, n, KEY, sizeof KEY, KEY_ESCAPED, reason);
}

static void flip_and_truncate_all(const orbit_buf *rec)
{
    orbit_buf copy = ORBIT_BUF_INIT;
    assert_int_equal(orbit_buf_set(&copy, rec->data, rec->len), 0);
    for (size_t i = 0; i < rec->len; i++)
        for (int bit = 0; bit < 8; bit++) {
            copy.data[i] ^= (uint8_t)(1u << bit);
            expect_corrupt(copy.data, copy.len, NULL);
            copy.data[i] ^= (uint8_t)(1u << bit);
        }
    for (size_t n = 0; n < rec->len; n++)
        expect_corrupt(copy.data, n, NULL);
    /* The intact record under every one-bit change of its key. */
    uint8_t key[sizeof KEY];
    memcpy(key, KEY, sizeof key);
    for (size_t i = 0; i < sizeof key; i++)
        for (int bit = 0; bit < 8; bit++) {
            key[i] ^= (uint8_t)(1u << bit);
            expect_corrupt_under(rec->data, rec->len, key, sizeof key, NULL, "checksum mismatch");
            key[i] ^= (uint8_t)(1u << bit);
        }
    orbit_buf_release(&copy);
}

static void test_bit_flips_and_truncation(void **state)
{
    (void)state;
    orbit_record_meta m = sample_meta();
    orbit_buf rec = ORBIT_BUF_INIT;
    uint8_t text[1500];
    fill_compressible(text, sizeof text);

    assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, NULL, text, 100), 0);
    flip_and_truncate_all(&rec);

    const orbit_compression modes[] = {ORBIT_COMPRESS_LZ4, ORBIT_COMPRESS_ZSTD};
    for (size_t i = 0; i < 2; i++) {
        orbit_record_opts o = {modes[i], 0, 0};
        rec.len = 0;
        assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &m, &o, text, sizeof text), 0);
        assert_int_equal(rec.data[2], modes[i]);
        flip_and_truncate_all(&rec);
    }
    orbit_buf_release(&rec);
}

/* ---- hand-built records with a valid checksum ------------------------ */

/* Append the format-2 checksum of b under KEY: XXH3-64 of the key,
 * seeded with XXH3-64 of the bytes. */
static void seal(orbit_buf *b)
{
    uint64_t h = XXH3_64bits_withSeed(KEY, sizeof KEY, XXH3_64bits(b->data, b->len));
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(h >> (8 * i));
    assert_int_equal(orbit_buf_append(b, le, 8), 0);
}

/* format, model, flags, then the given header bytes and body, sealed. */
static void build(orbit_buf *b, uint8_t format, uint8_t model, uint8_t flags,
                  const char *rest, size_t rest_len)
{
    b->len = 0;
    uint8_t head[3] = {format, model, flags};
    assert_int_equal(orbit_buf_append(b, head, 3), 0);
    assert_int_equal(orbit_buf_append(b, rest, rest_len), 0);
    seal(b);
}

/* Five one-byte zero varints: schema, created, delta and no actor. */
#define ZERO_HEAD "\0\0\0\0\0"

static void test_valid_checksum_but_invalid(void **state)
{
    (void)state;
    orbit_buf b = ORBIT_BUF_INIT;

    /* Sanity: the hand-built form decodes when valid. */
    build(&b, 2, 0, 0, ZERO_HEAD "xy", 7);
    const uint8_t *p;
    size_t n;
    assert_int_equal(orbit_record_decode(b.data, b.len, KEY, sizeof KEY, NULL, NULL, &p, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(p, "xy", 2);

    build(&b, 3, 0, 0, ZERO_HEAD "xy", 7);
    expect_corrupt(b.data, b.len, "unknown format version 3");
    build(&b, 0, 0, 0, ZERO_HEAD "xy", 7);
    expect_corrupt(b.data, b.len, "unknown format version 0");
    build(&b, 2, 7, 0, ZERO_HEAD "xy", 7);
    expect_corrupt(b.data, b.len, "unknown model 7");
    build(&b, 2, 0, 3, ZERO_HEAD "xy", 7);
    expect_corrupt(b.data, b.len, "unknown compression 3");
    build(&b, 2, 0, 0x04, ZERO_HEAD "xy", 7);
    expect_corrupt(b.data, b.len, "unknown flags");

    /* Varints: overlong (0x80 0x00 is a padded 0), over 64 bits, truncated. */
    build(&b, 2, 0, 0, "\x80\x00" "\0\0\0\0", 6);
    expect_corrupt(b.data, b.len, "overlong varint");
    build(&b, 2, 0, 0, "\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02" "\0\0\0", 14);
    expect_corrupt(b.data, b.len, "overflows 64 bits");
    build(&b, 2, 0, 0, "\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\x81\x00" "\0\0\0", 15);
    expect_corrupt(b.data, b.len, "overflows 64 bits");
    build(&b, 2, 0, 0, "\0\0\xff", 3);
    expect_corrupt(b.data, b.len, "truncated");
    /* schema_version above 32 bits */
    build(&b, 2, 0, 0, "\x80\x80\x80\x80\x10" "\0\0\0\0", 9);
    expect_corrupt(b.data, b.len, "exceeds 32 bits");
    /* The largest 64-bit varint is fine where 64 bits are allowed. */
    build(&b, 2, 0, 0, "\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01" "\0\0\0", 14);
    orbit_record_meta m;
    assert_int_equal(orbit_record_decode(b.data, b.len, KEY, sizeof KEY, &m, NULL, &p, &n), 0);
    assert_true(m.created_ms == UINT64_MAX);
    assert_true(m.updated_ms == UINT64_MAX);

    /* Actor lengths past the end. */
    build(&b, 2, 0, 0, "\0\0\0\x05" "ab", 6);
    expect_corrupt(b.data, b.len, "actor type: truncated");
    build(&b, 2, 0, 0, "\0\0\0\0\x09" "ab", 7);
    expect_corrupt(b.data, b.len, "actor id: truncated");

    /* Compressed: a stated length over the limit is refused before any
     * allocation; a length the body does not decompress to is refused. */
    build(&b, 2, 0, ORBIT_COMPRESS_LZ4, ZERO_HEAD "\x80\x80\x80\x81\x01" "zz", 12);
    expect_corrupt(b.data, b.len, "above the");
    build(&b, 2, 0, ORBIT_COMPRESS_ZSTD, ZERO_HEAD "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 15);
    expect_corrupt(b.data, b.len, "above the");
    build(&b, 2, 0, ORBIT_COMPRESS_LZ4, ZERO_HEAD, 5);
    expect_corrupt(b.data, b.len, "uncompressed length: truncated");
    build(&b, 2, 0, ORBIT_COMPRESS_LZ4, ZERO_HEAD "\x05" "garbage", 13);
    expect_corrupt(b.data, b.len, "LZ4");
    build(&b, 2, 0, ORBIT_COMPRESS_ZSTD, ZERO_HEAD "\x05" "garbage", 13);
    expect_corrupt(b.data, b.len, "zstd");

    /* A real compressed body re-sealed with a wrong stated length. */
    uint8_t text[2048];
    fill_compressible(text, sizeof text);
    orbit_record_meta z;
    memset(&z, 0, sizeof z);
    const orbit_compression modes[] = {ORBIT_COMPRESS_LZ4, ORBIT_COMPRESS_ZSTD};
    for (size_t i = 0; i < 2; i++) {
        orbit_record_opts o = {modes[i], 0, 0};
        orbit_buf rec = ORBIT_BUF_INIT;
        assert_int_equal(orbit_record_encode(&rec, KEY, sizeof KEY, &z, &o, text, sizeof text), 0);
        assert_int_equal(rec.data[2], modes[i]);
        /* header is 3 + 5 bytes, then varint 2048 = 0x80 0x10 */
        assert_int_equal(rec.data[8], 0x80);
        assert_int_equal(rec.data[9], 0x10);
        for (int delta = -1; delta <= 1; delta += 2) {
            rec.len -= 8;
            rec.data[9] = (uint8_t)(0x10 + delta);
            seal(&rec);
            expect_corrupt(rec.data, rec.len, modes[i] == ORBIT_COMPRESS_LZ4 ? "LZ4" : "zstd");
            rec.data[9] = 0x10;
        }
        orbit_buf_release(&rec);
    }
    orbit_buf_release(&b);
}

/* A format-1 record, exactly as the previous release wrote it (seven
 * zero varints: schema, record_version, created, delta, two actor
 * lengths, txn_id; the checksum over the bytes alone, not the key), is
 * refused as an unknown format, whatever key it is read under. */
static void test_format1_refused(void **state)
{
    (void)state;
    orbit_buf b = ORBIT_BUF_INIT;
    static const uint8_t v1[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'x', 'y'};
    assert_int_equal(orbit_buf_set(&b, v1, sizeof v1), 0);
    uint64_t h = XXH3_64bits(b.data, b.len);
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(h >> (8 * i));
    assert_int_equal(orbit_buf_append(&b, le, 8), 0);
    expect_corrupt(b.data, b.len, "unknown format version 1");
    expect_corrupt_under(b.data, b.len, NULL, 0, "", "unknown format version 1");
    assert_int_equal(ORBIT_RECORD_FORMAT, 2);
    orbit_buf_release(&b);
}

/* The checksum covers the key: a record is valid under its own key only. */
static void test_wrong_key(void **state)
{
    (void)state;
    /* (1, "kv", "reb"), (1, "kv", "rec\0"), (2, "kv", "rec") */
    static const uint8_t other[] = {0x15, 0x01, 0x01, 'k', 'v', 0x00, 0x01, 'r', 'e', 'b', 0x00};
    static const uint8_t longer[] = {0x15, 0x01, 0x01, 'k', 'v', 0x00, 0x01, 'r', 'e', 'c',
                                     0x00, 0xFF, 0x00};
    static const uint8_t space2[] = {0x15, 0x02, 0x01, 'k', 'v', 0x00, 0x01, 'r', 'e', 'c', 0x00};
    orbit_record_meta m = sample_meta();
    orbit_buf a = ORBIT_BUF_INIT, b = ORBIT_BUF_INIT;
    uint8_t text[4096];
    fill_compressible(text, sizeof text);
    static const orbit_compression modes[] = {ORBIT_COMPRESS_NONE, ORBIT_COMPRESS_LZ4,
                                              ORBIT_COMPRESS_ZSTD};
    for (size_t i = 0; i < 3; i++) {
        orbit_record_opts o = {modes[i], 0, 0};
        a.len = b.len = 0;
        assert_int_equal(orbit_record_encode(&a, KEY, sizeof KEY, &m, &o, text, sizeof text), 0);
        assert_int_equal(orbit_record_encode(&b, other, sizeof other, &m, &o, text, sizeof text),
                         0);
        assert_int_equal(a.data[2], modes[i]);
        check_round_trip(&a, &m, modes[i], text, sizeof text);
        /* Same meta and payload, other key: other bytes (the checksum). */
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len - 8);
        assert_memory_not_equal(a.data + a.len - 8, b.data + b.len - 8, 8);
        /* Each read under the other's key, a shorter or longer key, another
         * keyspace or no key at all: ECORRUPT, naming the key it was read
         * under. */
        expect_corrupt(b.data, b.len, "checksum mismatch");
        expect_corrupt_under(a.data, a.len, other, sizeof other,
                             "\\x15\\x01\\x01kv\\x00\\x01reb\\x00", "under another key");
        expect_corrupt_under(a.data, a.len, KEY, sizeof KEY - 1, NULL, "checksum mismatch");
        expect_corrupt_under(a.data, a.len, longer, sizeof longer, NULL, "checksum mismatch");
        expect_corrupt_under(a.data, a.len, space2, sizeof space2, NULL, "checksum mismatch");
        expect_corrupt_under(a.data, a.len, NULL, 0, "", "checksum mismatch");
    }
    /* The empty key is a key like any other. */
    a.len = 0;
    assert_int_equal(orbit_record_encode(&a, NULL, 0, &m, NULL, text, 10), 0);
    const uint8_t *p;
    size_t n;
    assert_int_equal(orbit_record_decode(a.data, a.len, NULL, 0, NULL, NULL, &p, &n), 0);
    assert_int_equal(n, 10);
    expect_corrupt(a.data, a.len, "checksum mismatch");
    /* A NULL key with a length is refused, not read. */
    assert_int_equal(orbit_record_decode(a.data, a.len, NULL, 4, NULL, NULL, &p, &n), ORBIT_EINVAL);
    orbit_buf_release(&a);
    orbit_buf_release(&b);
}

static void test_long_key_detail(void **state)
{
    (void)state;
    uint8_t key[4096];
    memset(key, 'k', sizeof key);
    key[0] = 0x00;
    const uint8_t rec[20] = {ORBIT_RECORD_FORMAT};
    const uint8_t *p;
    size_t n;
    assert_int_equal(orbit_record_decode(rec, sizeof rec, key, sizeof key, NULL, NULL, &p, &n),
                     ORBIT_ECORRUPT);
    const char *d = orbit_last_error_detail();
    assert_non_null(strstr(d, "record under key \"\\x00kkk"));
    assert_non_null(strstr(d, "...\": checksum mismatch"));
    assert_true(strlen(d) < 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_round_trip),
        cmocka_unit_test(test_bad_encode_args),
        cmocka_unit_test(test_compression),
        cmocka_unit_test(test_bit_flips_and_truncation),
        cmocka_unit_test(test_valid_checksum_but_invalid),
        cmocka_unit_test(test_format1_refused),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_long_key_detail),
    };
    return cmocka_run_group_tests(tests, 0, 0);
}
