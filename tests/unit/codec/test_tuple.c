/*
 * Tests of the tuple encoding (src/codec/tuple.c): memcmp order of
 * encodings equals tuple order on random mixed tuples (checked against a
 * reference comparator), round trips, the collision cases the format must
 * rule out, integer and double edge values, the compact integer encoding
 * (exact bytes, order of every value near every byte-length boundary and
 * of random pairs, a dense run across the 1- and 2-byte lengths, shortest
 * form, rejection of every non-canonical or out-of-range form), and
 * rejection of malformed input, including decode-then-encode reproducing
 * every accepted input.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "orbit/codec.h"
#include "testutil.h"

/* ---- a tiny tuple model and its reference order ---------------------- */

#define MAX_ELEMS 5
#define MAX_BYTES 8

typedef struct elem {
    orbit_tuple_type type;
    uint8_t bytes[MAX_BYTES];
    size_t blen;
    int64_t i;
    double d;
    int b;
} elem;

typedef struct tuple {
    elem e[MAX_ELEMS];
    size_t n;
} tuple;

static int type_rank(orbit_tuple_type t)
{
    switch (t) {
    case ORBIT_TUPLE_BYTES: return 0;
    case ORBIT_TUPLE_INT: return 1;
    case ORBIT_TUPLE_DOUBLE: return 2;
    case ORBIT_TUPLE_BOOL: return 3;
    }
    return 4;
}

static int cmp_double(double a, double b)
{
    int an = isnan(a), bn = isnan(b);
    if (an || bn)
        return an - bn; /* NaN after everything, NaN == NaN */
    return a < b ? -1 : a > b ? 1 : 0; /* -0.0 == 0.0 */
}

static int cmp_elem(const elem *a, const elem *b)
{
    int ra = type_rank(a->type), rb = type_rank(b->type);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    switch (a->type) {
    case ORBIT_TUPLE_BYTES: {
        size_t n = a->blen < b->blen ? a->blen : b->blen;
        int c = n ? memcmp(a->bytes, b->bytes, n) : 0;
        if (c)
            return c < 0 ? -1 : 1;
        return a->blen < b->blen ? -1 : a->blen > b->blen ? 1 : 0;
    }
    case ORBIT_TUPLE_INT: return a->i < b->i ? -1 : a->i > b->i ? 1 : 0;
    case ORBIT_TUPLE_DOUBLE: return cmp_double(a->d, b->d);
    case ORBIT_TUPLE_BOOL: return (a->b != 0) - (b->b != 0);
    }
    return 0;
}

static int cmp_tuple(const tuple *a, const tuple *b)
{
    for (size_t k = 0; k < a->n && k < b->n; k++) {
        int c = cmp_elem(&a->e[k], &b->e[k]);
        if (c)
            return c;
    }
    return a->n < b->n ? -1 : a->n > b->n ? 1 : 0;
}

static int cmp_encoded(const orbit_buf *a, const orbit_buf *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->data, b->data, n) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

static void encode(const tuple *t, orbit_buf *out)
{
    out->len = 0;
    for (size_t k = 0; k < t->n; k++) {
        const elem *e = &t->e[k];
        switch (e->type) {
        case ORBIT_TUPLE_BYTES: assert_int_equal(orbit_tuple_bytes(out, e->bytes, e->blen), 0); break;
        case ORBIT_TUPLE_INT: assert_int_equal(orbit_tuple_int(out, e->i), 0); break;
        case ORBIT_TUPLE_DOUBLE: assert_int_equal(orbit_tuple_double(out, e->d), 0); break;
        case ORBIT_TUPLE_BOOL: assert_int_equal(orbit_tuple_bool(out, e->b), 0); break;
        }
    }
}

static const int64_t int_edges[] = {INT64_MIN, INT64_MIN + 1, -65537, -65536, -65535, -257,
                                    -256, -255, -1, 0, 1, 255, 256, 257, 65535, 65536,
                                    INT64_C(0x00FFFFFFFFFFFFFF), INT64_C(0x0100000000000000),
                                    -INT64_C(0x00FFFFFFFFFFFFFF), -INT64_C(0x0100000000000000),
                                    INT64_MAX - 1, INT64_MAX};

/* Every value within 2 of a byte-length boundary (+-2^(8n), n = 0..7),
 * the extremes and their neighbours, sorted ascending; returns the count. */
static size_t boundary_ints(int64_t *out, size_t cap)
{
    size_t n = 0;
    for (int k = 0; k < 8; k++) {
        int64_t p = (int64_t)(UINT64_C(1) << (8 * k));
        for (int64_t d = -2; d <= 2; d++) {
            assert_true(n + 2 <= cap);
            out[n++] = p + d;
            out[n++] = -(p + d);
        }
    }
    static const int64_t extremes[] = {INT64_MIN, INT64_MIN + 1, INT64_MIN + 2,
                                       INT64_MAX - 2, INT64_MAX - 1, INT64_MAX};
    for (size_t k = 0; k < sizeof extremes / sizeof extremes[0]; k++) {
        assert_true(n < cap);
        out[n++] = extremes[k];
    }
    /* Insertion sort, dropping duplicates (the boundaries of 2^0 overlap). */
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        int64_t v = out[k];
        size_t j = m;
        while (j > 0 && out[j - 1] > v) {
            out[j] = out[j - 1];
            j--;
        }
        if (j > 0 && out[j - 1] == v) {
            memmove(&out[j], &out[j + 1], (m - j) * sizeof *out);
            continue;
        }
        out[j] = v;
        m++;
    }
    return m;
}

static double double_edge(uint64_t k)
{
    switch (k % 14) {
    case 0: return -INFINITY;
    case 1: return INFINITY;
    case 2: return 0.0;
    case 3: return -0.0;
    case 4: return NAN;
    case 5: return -NAN;
    case 6: return 4.9e-324;   /* smallest subnormal */
    case 7: return -4.9e-324;
    case 8: return 2.2250738585072014e-308; /* smallest normal */
    case 9: return -1.0;
    case 10: return 1.0;
    case 11: return 1.7976931348623157e308;
    case 12: return -1.7976931348623157e308;
    default: return 1.5;
    }
}

static void random_elem(tu_rng *r, elem *e)
{
    /* A small alphabet makes equal prefixes, zeros and 0xFF common. */
    static const uint8_t alphabet[] = {0x00, 0x01, 0xFF, 'a', 'b', ':', 0xFE, ' '};
    memset(e, 0, sizeof *e);
    switch (tu_below(r, 4)) {
    case 0:
        e->type = ORBIT_TUPLE_BYTES;
        e->blen = (size_t)tu_below(r, MAX_BYTES + 1);
        for (size_t k = 0; k < e->blen; k++)
            e->bytes[k] = alphabet[tu_below(r, sizeof alphabet)];
        break;
    case 1:
        e->type = ORBIT_TUPLE_INT;
        if (tu_below(r, 2))
            e->i = int_edges[tu_below(r, sizeof int_edges / sizeof int_edges[0])];
        else
            e->i = (int64_t)tu_rand(r) >> tu_below(r, 64);
        break;
    case 2: {
        e->type = ORBIT_TUPLE_DOUBLE;
        uint64_t pick = tu_below(r, 3);
        if (pick == 0) {
            e->d = double_edge(tu_rand(r));
        } else if (pick == 1) {
            uint64_t bits = tu_rand(r);
            memcpy(&e->d, &bits, sizeof e->d); /* any pattern, NaNs included */
        } else {
            e->d = (double)((int64_t)tu_below(r, 2001) - 1000) / 8.0;
        }
        break;
    }
    default:
        e->type = ORBIT_TUPLE_BOOL;
        e->b = (int)tu_below(r, 2);
        break;
    }
}

static void random_tuple(tu_rng *r, tuple *t)
{
    t->n = (size_t)tu_below(r, MAX_ELEMS + 1);
    for (size_t k = 0; k < t->n; k++)
        random_elem(r, &t->e[k]);
}

/* Decode enc and check it equals t (modulo -0.0 and NaN canonicalisation). */
static void check_decodes_to(const orbit_buf *enc, const tuple *t)
{
    orbit_buf body = ORBIT_BUF_INIT;
    size_t pos = 0;
    for (size_t k = 0; k < t->n; k++) {
        orbit_tuple_item it = {0};
        it.bytes_out = &body;
        assert_int_equal(orbit_tuple_next(enc->data, enc->len, &pos, &it), 0);
        assert_int_equal(it.type, t->e[k].type);
        switch (it.type) {
        case ORBIT_TUPLE_BYTES:
            assert_int_equal(body.len, t->e[k].blen);
            if (body.len)
                assert_memory_equal(body.data, t->e[k].bytes, body.len);
            break;
        case ORBIT_TUPLE_INT: assert_true(it.i == t->e[k].i); break;
        case ORBIT_TUPLE_DOUBLE:
            assert_int_equal(cmp_double(it.d, t->e[k].d), 0);
            assert_false(it.d == 0.0 && signbit(it.d)); /* -0.0 comes back as +0.0 */
            break;
        case ORBIT_TUPLE_BOOL: assert_int_equal(it.b, t->e[k].b != 0); break;
        }
    }
    orbit_tuple_item it = {0};
    assert_int_equal(orbit_tuple_next(enc->data, enc->len, &pos, &it), ORBIT_NOTFOUND);
    orbit_buf_release(&body);
}

/* ---- tests ----------------------------------------------------------- */

static void test_random_order_and_round_trip(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_init(&r, tu_seed("test_tuple"));
    enum { N = 400 };
    static tuple ts[N];
    orbit_buf enc[N];
    for (size_t k = 0; k < N; k++) {
        random_tuple(&r, &ts[k]);
        orbit_buf_init(&enc[k]);
        encode(&ts[k], &enc[k]);
        check_decodes_to(&enc[k], &ts[k]);
    }
    /* Every pair: same order, and equal encodings exactly for equal tuples. */
    for (size_t a = 0; a < N; a++)
        for (size_t b = 0; b < N; b++) {
            int want = cmp_tuple(&ts[a], &ts[b]);
            int got = cmp_encoded(&enc[a], &enc[b]);
            if (want != got) {
                fprintf(stderr, "pair %zu/%zu: reference %d, encoding %d\n", a, b, want, got);
                fail();
            }
        }
    for (size_t k = 0; k < N; k++)
        orbit_buf_release(&enc[k]);
}

static void enc_bytes(orbit_buf *b, const char *p, size_t n)
{
    assert_int_equal(orbit_tuple_bytes(b, p, n), 0);
}

static void test_collisions(void **state)
{
    (void)state;
    orbit_buf ab = ORBIT_BUF_INIT, a_b = ORBIT_BUF_INIT;
    enc_bytes(&ab, "a:b", 3);
    enc_bytes(&a_b, "a", 1);
    enc_bytes(&a_b, "b", 1);
    assert_true(cmp_encoded(&ab, &a_b) != 0);

    /* ("a") < ("a", x) < ("a\0") < ("a\0", x) < ("b") */
    orbit_buf a = ORBIT_BUF_INIT, ax = ORBIT_BUF_INIT, az = ORBIT_BUF_INIT,
              azx = ORBIT_BUF_INIT, bb = ORBIT_BUF_INIT, ax2 = ORBIT_BUF_INIT;
    enc_bytes(&a, "a", 1);
    enc_bytes(&ax, "a", 1);
    assert_int_equal(orbit_tuple_bool(&ax, 1), 0);
    enc_bytes(&ax2, "a", 1);
    enc_bytes(&ax2, "\xff\xff", 2);
    enc_bytes(&az, "a\0", 2);
    enc_bytes(&azx, "a\0", 2);
    assert_int_equal(orbit_tuple_int(&azx, INT64_MIN), 0);
    enc_bytes(&bb, "b", 1);
    const orbit_buf *chain[] = {&a, &ax2, &ax, &az, &azx, &bb};
    for (size_t k = 0; k + 1 < sizeof chain / sizeof chain[0]; k++)
        assert_int_equal(cmp_encoded(chain[k], chain[k + 1]), -1);

    /* Ids with ':' and '\0' keep element boundaries: decoding yields them. */
    orbit_buf t = ORBIT_BUF_INIT, body = ORBIT_BUF_INIT;
    enc_bytes(&t, "x\0:y", 4);
    enc_bytes(&t, "\0", 1);
    enc_bytes(&t, "", 0);
    static const uint8_t want[] = {0x01, 'x', 0x00, 0xFF, ':', 'y', 0x00,
                                   0x01, 0x00, 0xFF, 0x00, 0x01, 0x00};
    assert_int_equal(t.len, sizeof want);
    assert_memory_equal(t.data, want, sizeof want);
    size_t pos = 0;
    orbit_tuple_item it = {0};
    it.bytes_out = &body;
    assert_int_equal(orbit_tuple_next(t.data, t.len, &pos, &it), 0);
    assert_int_equal(body.len, 4);
    assert_memory_equal(body.data, "x\0:y", 4);
    assert_int_equal(orbit_tuple_next(t.data, t.len, &pos, &it), 0);
    assert_int_equal(body.len, 1);
    assert_int_equal(body.data[0], 0);
    assert_int_equal(orbit_tuple_next(t.data, t.len, &pos, &it), 0);
    assert_int_equal(body.len, 0);
    assert_int_equal(orbit_tuple_next(t.data, t.len, &pos, &it), ORBIT_NOTFOUND);

    orbit_buf *all[] = {&ab, &a_b, &a, &ax, &ax2, &az, &azx, &bb, &t, &body};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        orbit_buf_release(all[k]);
}

/* Encode v alone and decode it back; returns the encoding in out. */
static void int_round_trip(orbit_buf *out, int64_t v)
{
    out->len = 0;
    assert_int_equal(orbit_tuple_int(out, v), 0);
    size_t pos = 0;
    orbit_tuple_item it = {0};
    assert_int_equal(orbit_tuple_next(out->data, out->len, &pos, &it), 0);
    assert_int_equal(it.type, ORBIT_TUPLE_INT);
    assert_true(it.i == v);
    assert_int_equal(pos, out->len);
}

/* The shortest length in bytes of |v| (0 for 0), computed independently
 * of the codec. */
static size_t int_body_len(int64_t v)
{
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t n = 0;
    while (m) {
        n++;
        m >>= 8;
    }
    return n;
}

static void test_int_edges(void **state)
{
    (void)state;
    static const struct {
        int64_t v;
        size_t n;
        uint8_t enc[9];
    } cases[] = {
        {INT64_MIN, 9, {0x0C, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
        {INT64_MIN + 1, 9, {0x0C, 0x80, 0, 0, 0, 0, 0, 0, 0}},
        {-INT64_C(0x0100000000000000), 9, {0x0C, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
        {-INT64_C(0x00FFFFFFFFFFFFFF), 8, {0x0D, 0, 0, 0, 0, 0, 0, 0}},
        {-65536, 4, {0x11, 0xFE, 0xFF, 0xFF}},
        {-65535, 3, {0x12, 0x00, 0x00}},
        {-256, 3, {0x12, 0xFE, 0xFF}},
        {-255, 2, {0x13, 0x00}},
        {-2, 2, {0x13, 0xFD}},
        {-1, 2, {0x13, 0xFE}},
        {0, 1, {0x14}},
        {1, 2, {0x15, 0x01}},
        {42, 2, {0x15, 0x2A}},
        {255, 2, {0x15, 0xFF}},
        {256, 3, {0x16, 0x01, 0x00}},
        {65535, 3, {0x16, 0xFF, 0xFF}},
        {65536, 4, {0x17, 0x01, 0x00, 0x00}},
        {INT64_C(1700000000000), 7, {0x1A, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00}},
        {INT64_C(0x00FFFFFFFFFFFFFF), 8, {0x1B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
        {INT64_C(0x0100000000000000), 9, {0x1C, 0x01, 0, 0, 0, 0, 0, 0, 0}},
        {INT64_MAX, 9, {0x1C, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
    };
    orbit_buf prev = ORBIT_BUF_INIT, cur = ORBIT_BUF_INIT;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int_round_trip(&cur, cases[k].v);
        assert_int_equal(cur.len, cases[k].n);
        assert_memory_equal(cur.data, cases[k].enc, cases[k].n);
        if (k)
            assert_int_equal(cmp_encoded(&prev, &cur), -1);
        assert_int_equal(orbit_buf_set(&prev, cur.data, cur.len), 0);
    }
    /* The tag macros name the ends and the middle of the integer range. */
    assert_int_equal(ORBIT_TAG_INT_MIN, 0x0C);
    assert_int_equal(ORBIT_TAG_INT_ZERO, 0x14);
    assert_int_equal(ORBIT_TAG_INT_MAX, 0x1C);
    assert_true(ORBIT_TAG_BYTES < ORBIT_TAG_INT_MIN && ORBIT_TAG_INT_MAX < ORBIT_TAG_DOUBLE);
    orbit_buf_release(&prev);
    orbit_buf_release(&cur);
}

/* Order and length of every value near every byte-length boundary. */
static void test_int_boundaries(void **state)
{
    (void)state;
    int64_t v[128];
    size_t n = boundary_ints(v, sizeof v / sizeof v[0]);
    assert_true(n > 70);
    orbit_buf enc[128];
    for (size_t k = 0; k < n; k++) {
        orbit_buf_init(&enc[k]);
        int_round_trip(&enc[k], v[k]);
        /* Shortest form: tag plus the magnitude's byte length. */
        assert_int_equal(enc[k].len, 1 + int_body_len(v[k]));
        size_t body = int_body_len(v[k]);
        uint8_t tag = (uint8_t)(v[k] >= 0 ? 0x14 + body : 0x14 - body);
        assert_int_equal(enc[k].data[0], tag);
    }
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++)
            assert_int_equal(cmp_encoded(&enc[a], &enc[b]), a < b ? -1 : a > b ? 1 : 0);
    for (size_t k = 0; k < n; k++)
        orbit_buf_release(&enc[k]);
}

/* A dense run across the 1- and 2-byte lengths (every value in
 * [-70000, 70000]), each encoding strictly above the previous one. */
static void test_int_dense(void **state)
{
    (void)state;
    orbit_buf prev = ORBIT_BUF_INIT, cur = ORBIT_BUF_INIT;
    int_round_trip(&prev, -70001);
    for (int64_t v = -70000; v <= 70000; v++) {
        int_round_trip(&cur, v);
        if (cmp_encoded(&prev, &cur) != -1) {
            fprintf(stderr, "encoding of %lld does not sort after %lld's\n", (long long)v,
                    (long long)(v - 1));
            fail();
        }
        orbit_buf tmp = prev;
        prev = cur;
        cur = tmp;
    }
    orbit_buf_release(&prev);
    orbit_buf_release(&cur);
}

/* Random pairs, with magnitudes of every byte length: memcmp order of the
 * encodings is the value order, equal exactly for equal values. */
static void test_int_random_pairs(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_init(&r, tu_seed("test_tuple_int_pairs"));
    int64_t edges[128];
    size_t ne = boundary_ints(edges, sizeof edges / sizeof edges[0]);
    orbit_buf a = ORBIT_BUF_INIT, b = ORBIT_BUF_INIT;
    for (int round = 0; round < 200000; round++) {
        int64_t x[2];
        for (int s = 0; s < 2; s++) {
            uint64_t pick = tu_below(&r, 8);
            if (pick == 0)
                x[s] = edges[tu_below(&r, ne)];
            else if (pick == 1 && s == 1)
                x[s] = x[0] ^ (int64_t)tu_below(&r, 4); /* equal or a close neighbour */
            else {
                /* Any magnitude: the shift picks the byte length; two's
                 * complement negation in uint64 cannot overflow. */
                uint64_t u = tu_rand(&r) >> tu_below(&r, 64);
                x[s] = (int64_t)(tu_below(&r, 2) ? u : (uint64_t)0 - u);
            }
        }
        int_round_trip(&a, x[0]);
        int_round_trip(&b, x[1]);
        int want = x[0] < x[1] ? -1 : x[0] > x[1];
        if (cmp_encoded(&a, &b) != want) {
            fprintf(stderr, "%lld vs %lld: encodings order %d\n", (long long)x[0],
                    (long long)x[1], cmp_encoded(&a, &b));
            fail();
        }
    }
    orbit_buf_release(&a);
    orbit_buf_release(&b);
}

static void expect_int_corrupt(const uint8_t *p, size_t n, const char *why)
{
    size_t pos = 0;
    orbit_tuple_item it = {0};
    assert_int_equal(orbit_tuple_next(p, n, &pos, &it), ORBIT_ECORRUPT);
    assert_int_equal(pos, 0);
    if (!strstr(orbit_last_error_detail(), why)) {
        fprintf(stderr, "detail \"%s\" lacks \"%s\"\n", orbit_last_error_detail(), why);
        fail();
    }
}

/* Every tag with every non-minimal body, out-of-range 8-byte bodies, and
 * every truncation are ECORRUPT. */
static void test_int_noncanonical(void **state)
{
    (void)state;
    uint8_t buf[9];
    for (unsigned n = 1; n <= 8; n++) {
        /* Positive, n bytes, leading 0x00: the value fits in fewer bytes. */
        buf[0] = (uint8_t)(0x14 + n);
        memset(buf + 1, 0x00, n);
        buf[n] = 0x01; /* e.g. 16 00 01 = 1 */
        if (n == 1)
            buf[1] = 0x00; /* 15 00 = 0, which is 14 */
        expect_int_corrupt(buf, 1 + n, "non-minimal integer");
        memset(buf + 1, 0x00, n);
        buf[1] = 0x00;
        if (n > 1)
            buf[2] = 0xFF; /* 00 FF ..: still non-minimal */
        expect_int_corrupt(buf, 1 + n, "non-minimal integer");
        /* Negative, n bytes, leading 0xFF (magnitude's leading 0x00). */
        buf[0] = (uint8_t)(0x14 - n);
        memset(buf + 1, 0xFF, n);
        buf[n] = (uint8_t)(n == 1 ? 0xFF : 0xFE); /* 13 FF is -0 */
        expect_int_corrupt(buf, 1 + n, "non-minimal integer");
        /* Every truncation of a valid n-byte encoding. */
        buf[0] = (uint8_t)(0x14 + n);
        memset(buf + 1, 0x7F, n);
        for (unsigned cut = 0; cut < n; cut++)
            expect_int_corrupt(buf, 1 + cut, "truncated integer");
        buf[0] = (uint8_t)(0x14 - n);
        for (unsigned cut = 0; cut < n; cut++)
            expect_int_corrupt(buf, 1 + cut, "truncated integer");
    }
    /* 8 bytes beyond int64: 2^63 and above, and -(2^63 + 1) and below. */
    static const uint8_t big[] = {0x1C, 0x80, 0, 0, 0, 0, 0, 0, 0};
    expect_int_corrupt(big, sizeof big, "outside int64");
    static const uint8_t huge[] = {0x1C, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    expect_int_corrupt(huge, sizeof huge, "outside int64");
    static const uint8_t small[] = {0x0C, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE};
    expect_int_corrupt(small, sizeof small, "outside int64");
    static const uint8_t tiny[] = {0x0C, 0x00, 0, 0, 0, 0, 0, 0, 0};
    expect_int_corrupt(tiny, sizeof tiny, "outside int64");
    /* The tags just outside the integer range are not integers. */
    static const uint8_t below[] = {0x0B, 0x01};
    expect_int_corrupt(below, sizeof below, "unknown tag");
    static const uint8_t above[] = {0x1D, 0x01};
    expect_int_corrupt(above, sizeof above, "unknown tag");
    /* The old fixed-width form (15 + 8 bytes) no longer decodes as one
     * integer: 15 80 is 128, and 00 that follows is no element. */
    static const uint8_t old[] = {0x15, 0x80, 0, 0, 0, 0, 0, 0, 0x2A};
    size_t pos = 0;
    orbit_tuple_item it = {0};
    assert_int_equal(orbit_tuple_next(old, sizeof old, &pos, &it), 0);
    assert_true(it.i == 128);
    assert_int_equal(orbit_tuple_next(old, sizeof old, &pos, &it), ORBIT_ECORRUPT);
}

static void test_double_edges(void **state)
{
    (void)state;
    /* Strictly increasing, as the encoding must order them. */
    const double seq[] = {-INFINITY, -1.7976931348623157e308, -1.0, -2.2250738585072014e-308,
                          -4.9e-324, 0.0, 4.9e-324, 2.2250738585072014e-308, 1.0,
                          1.7976931348623157e308, INFINITY, NAN};
    orbit_buf prev = ORBIT_BUF_INIT, cur = ORBIT_BUF_INIT;
    for (size_t k = 0; k < sizeof seq / sizeof seq[0]; k++) {
        cur.len = 0;
        assert_int_equal(orbit_tuple_double(&cur, seq[k]), 0);
        assert_int_equal(cur.len, 9);
        assert_int_equal(cur.data[0], ORBIT_TAG_DOUBLE);
        size_t pos = 0;
        orbit_tuple_item it = {0};
        assert_int_equal(orbit_tuple_next(cur.data, cur.len, &pos, &it), 0);
        assert_int_equal(it.type, ORBIT_TUPLE_DOUBLE);
        assert_int_equal(cmp_double(it.d, seq[k]), 0);
        if (k)
            assert_int_equal(cmp_encoded(&prev, &cur), -1);
        assert_int_equal(orbit_buf_set(&prev, cur.data, cur.len), 0);
    }

    /* -0.0 and 0.0 share one encoding; every NaN shares one encoding. */
    orbit_buf a = ORBIT_BUF_INIT, b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_tuple_double(&a, -0.0), 0);
    assert_int_equal(orbit_tuple_double(&b, 0.0), 0);
    assert_int_equal(cmp_encoded(&a, &b), 0);
    static const uint8_t zero[] = {0x21, 0x80, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(a.data, zero, 9);
    static const uint64_t nans[] = {UINT64_C(0x7FF8000000000000), UINT64_C(0xFFF8000000000000),
                                    UINT64_C(0x7FF0000000000001), UINT64_C(0xFFFFFFFFFFFFFFFF)};
    static const uint8_t nan_enc[] = {0x21, 0xFF, 0xF8, 0, 0, 0, 0, 0, 0};
    for (size_t k = 0; k < sizeof nans / sizeof nans[0]; k++) {
        double d;
        memcpy(&d, &nans[k], sizeof d);
        a.len = 0;
        assert_int_equal(orbit_tuple_double(&a, d), 0);
        assert_memory_equal(a.data, nan_enc, 9);
    }
    orbit_buf_release(&a);
    orbit_buf_release(&b);
    orbit_buf_release(&prev);
    orbit_buf_release(&cur);
}

static void test_bools_and_tags(void **state)
{
    (void)state;
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_tuple_bool(&b, 0), 0);
    assert_int_equal(orbit_tuple_bool(&b, 7), 0);
    assert_int_equal(b.len, 2);
    assert_int_equal(b.data[0], 0x26);
    assert_int_equal(b.data[1], 0x27);
    size_t pos = 0;
    orbit_tuple_item it = {0};
    assert_int_equal(orbit_tuple_next(b.data, b.len, &pos, &it), 0);
    assert_int_equal(it.type, ORBIT_TUPLE_BOOL);
    assert_int_equal(it.b, 0);
    assert_int_equal(orbit_tuple_next(b.data, b.len, &pos, &it), 0);
    assert_int_equal(it.b, 1);
    assert_int_equal(orbit_tuple_next(b.data, b.len, &pos, &it), ORBIT_NOTFOUND);

    /* A string, and an open string that prefixes every longer string. */
    b.len = 0;
    assert_int_equal(orbit_tuple_str(&b, "kv"), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "\x01kv\x00", 4);
    orbit_buf open = ORBIT_BUF_INIT, full = ORBIT_BUF_INIT;
    assert_int_equal(orbit_tuple_bytes_open(&open, "a\0", 2), 0);
    assert_int_equal(open.len, 4);
    assert_memory_equal(open.data, "\x01" "a\x00\xff", 4);
    assert_int_equal(orbit_tuple_bytes(&full, "a\0b", 3), 0);
    assert_memory_equal(full.data, open.data, open.len);
    full.len = 0;
    assert_int_equal(orbit_tuple_bytes(&full, "a", 1), 0);
    assert_true(full.len < open.len || memcmp(full.data, open.data, open.len) != 0);
    orbit_buf_release(&b);
    orbit_buf_release(&open);
    orbit_buf_release(&full);
}

static void expect_corrupt(const uint8_t *p, size_t n)
{
    size_t pos = 0;
    orbit_tuple_item it = {0};
    orbit_buf body = ORBIT_BUF_INIT;
    it.bytes_out = &body;
    int rc;
    while ((rc = orbit_tuple_next(p, n, &pos, &it)) == 0)
        ;
    assert_int_equal(rc, ORBIT_ECORRUPT);
    assert_non_null(strstr(orbit_last_error_detail(), "malformed key"));
    orbit_buf_release(&body);
}

static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *p;
        size_t n;
    } bad[] = {
        {"\x00", 1},                              /* unknown tag */
        {"\x02", 1},
        {"\xff", 1},
        {"\x01", 1},                              /* unterminated bytes */
        {"\x01" "ab", 3},
        {"\x01" "a\x00\xff", 4},                  /* escaped zero, then end */
        {"\x1c\x7f\x00\x00\x00\x00\x00\x00", 8},  /* truncated int */
        {"\x15", 1},
        {"\x0c", 1},
        {"\x15\x00", 2},                          /* non-minimal int */
        {"\x13\xff", 2},
        {"\x21\x80\x00\x00", 4},                  /* truncated double */
        {"\x21\x7f\xff\xff\xff\xff\xff\xff\xff", 9}, /* -0.0 */
        {"\x21\xff\xff\xff\xff\xff\xff\xff\xff", 9}, /* a NaN with payload */
        {"\x21\x00\x07\xff\xff\xff\xff\xff\xff", 9}, /* a negative NaN */
        {"\x26\x27\x16\x01", 4},                  /* valid, then truncated */
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        expect_corrupt((const uint8_t *)bad[k].p, bad[k].n);

    /* 0x00 followed by a non-0xFF byte terminates the element. */
    const uint8_t ok[] = {0x01, 'a', 0x00, 0x26};
    size_t pos = 0;
    orbit_tuple_item it = {0};
    assert_int_equal(orbit_tuple_next(ok, sizeof ok, &pos, &it), 0);
    assert_int_equal(pos, 3);
    assert_int_equal(orbit_tuple_next(ok, sizeof ok, &pos, &it), 0);
    assert_int_equal(it.type, ORBIT_TUPLE_BOOL);
}

/* Random bytes decode fully or fail with ECORRUPT; what decodes re-encodes
 * to the same bytes (the encoding is canonical). */
static void test_random_garbage(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_init(&r, tu_seed("test_tuple_garbage"));
    static const uint8_t pool[] = {0x01, 0x0C, 0x13, 0x14, 0x15, 0x16, 0x1C, 0x21,
                                   0x26, 0x27, 0x00, 0xFF, 'a', 0x80, 0x7F, 0xFE};
    orbit_buf body = ORBIT_BUF_INIT, re = ORBIT_BUF_INIT;
    int decoded = 0;
    for (int round = 0; round < 20000; round++) {
        uint8_t in[24];
        size_t n = (size_t)tu_below(&r, sizeof in + 1);
        for (size_t k = 0; k < n; k++)
            in[k] = tu_below(&r, 3) ? pool[tu_below(&r, sizeof pool)] : (uint8_t)tu_rand(&r);
        size_t pos = 0;
        re.len = 0;
        int rc;
        for (;;) {
            orbit_tuple_item it = {0};
            it.bytes_out = &body;
            rc = orbit_tuple_next(in, n, &pos, &it);
            if (rc)
                break;
            switch (it.type) {
            case ORBIT_TUPLE_BYTES: assert_int_equal(orbit_tuple_bytes(&re, body.data, body.len), 0); break;
            case ORBIT_TUPLE_INT: assert_int_equal(orbit_tuple_int(&re, it.i), 0); break;
            case ORBIT_TUPLE_DOUBLE: assert_int_equal(orbit_tuple_double(&re, it.d), 0); break;
            case ORBIT_TUPLE_BOOL: assert_int_equal(orbit_tuple_bool(&re, it.b), 0); break;
            }
        }
        assert_true(rc == ORBIT_NOTFOUND || rc == ORBIT_ECORRUPT);
        if (rc == ORBIT_NOTFOUND) {
            decoded++;
            assert_int_equal(re.len, n);
            if (n)
                assert_memory_equal(re.data, in, n);
        }
    }
    assert_true(decoded > 100);
    orbit_buf_release(&body);
    orbit_buf_release(&re);
}

static void test_append_never_resets(void **state)
{
    (void)state;
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_buf_append(&b, "pre", 3), 0);
    assert_int_equal(orbit_tuple_int(&b, 5), 0);
    assert_int_equal(orbit_tuple_str(&b, "x"), 0);
    assert_int_equal(b.len, 3 + 2 + 3);
    assert_memory_equal(b.data, "pre\x15\x05\x01x\x00", 8);
    /* A NULL string is refused and leaves the buffer alone. */
    assert_int_equal(orbit_tuple_str(&b, NULL), ORBIT_EINVAL);
    assert_int_equal(b.len, 8);
    orbit_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_order_and_round_trip),
        cmocka_unit_test(test_collisions),
        cmocka_unit_test(test_int_edges),
        cmocka_unit_test(test_int_boundaries),
        cmocka_unit_test(test_int_dense),
        cmocka_unit_test(test_int_random_pairs),
        cmocka_unit_test(test_int_noncanonical),
        cmocka_unit_test(test_double_edges),
        cmocka_unit_test(test_bools_and_tags),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_append_never_resets),
    };
    return cmocka_run_group_tests(tests, 0, 0);
}
