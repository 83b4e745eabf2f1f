/*
 * Tests of the model key builders (src/codec/keys.c): the exact bytes of
 * one example per builder (the examples docs/ARCHITECTURE.md shows), that
 * builders append, that every prefix builder prefixes exactly its keys,
 * time-series ordering by timestamp then seq, the separation of outgoing
 * and incoming adjacency, and plain-key decoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "orbit/codec.h"

/* Compare b with a hex string; spaces in `hex` are ignored. */
static void assert_hex(const orbit_buf *b, const char *hex)
{
    uint8_t want[256];
    size_t n = 0;
    for (const char *p = hex; *p;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        unsigned v;
        assert_int_equal(sscanf(p, "%2x", &v), 1);
        assert_true(n < sizeof want);
        want[n++] = (uint8_t)v;
        p += 2;
    }
    if (b->len != n || memcmp(b->data, want, n) != 0) {
        fprintf(stderr, "got:  ");
        for (size_t k = 0; k < b->len; k++)
            fprintf(stderr, "%02x ", b->data[k]);
        fprintf(stderr, "\nwant: %s\n", hex);
        fail();
    }
}

static int is_prefix(const orbit_buf *p, const orbit_buf *k)
{
    return p->len <= k->len && memcmp(p->data, k->data, p->len) == 0;
}

static int cmp_buf(const orbit_buf *a, const orbit_buf *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->data, b->data, n);
    if (c)
        return c < 0 ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

/* Element encodings used below:
 *   "kv"  01 6b 76 00    "rel" 01 72 65 6c 00    "doc" 01 64 6f 63 00
 *   "vec" 01 76 65 63 00 "grp" 01 67 72 70 00    "ts"  01 74 73 00
 *   "cat" 01 63 61 74 00 42 = 15 80 00 00 00 00 00 00 2a */

static void test_builder_bytes(void **state)
{
    (void)state;
    orbit_buf b = ORBIT_BUF_INIT, pk = ORBIT_BUF_INIT, vals = ORBIT_BUF_INIT;

    assert_int_equal(orbit_key_kv(&b, "user:1", 6), 0);
    assert_hex(&b, "01 6b 76 00  01 75 73 65 72 3a 31 00");

    b.len = 0;
    assert_int_equal(orbit_key_kv(&b, "a\0b", 3), 0);
    assert_hex(&b, "01 6b 76 00  01 61 00 ff 62 00");

    assert_int_equal(orbit_tuple_int(&pk, 42), 0);
    b.len = 0;
    assert_int_equal(orbit_key_row(&b, "users", pk.data, pk.len), 0);
    assert_hex(&b, "01 72 65 6c 00  01 72 00  01 75 73 65 72 73 00  15 80 00 00 00 00 00 00 2a");

    assert_int_equal(orbit_tuple_str(&vals, "a@x"), 0);
    b.len = 0;
    assert_int_equal(orbit_key_index(&b, "users", "by_email", vals.data, vals.len, pk.data, pk.len), 0);
    assert_hex(&b, "01 72 65 6c 00  01 69 00  01 75 73 65 72 73 00  "
                   "01 62 79 5f 65 6d 61 69 6c 00  01 61 40 78 00  15 80 00 00 00 00 00 00 2a");

    b.len = 0;
    assert_int_equal(orbit_key_doc(&b, "orders", "o-1", 3), 0);
    assert_hex(&b, "01 64 6f 63 00  01 6f 72 64 65 72 73 00  01 6f 2d 31 00");

    b.len = 0;
    assert_int_equal(orbit_key_vector(&b, "emb", "d1", 2), 0);
    assert_hex(&b, "01 76 65 63 00  01 76 00  01 65 6d 62 00  01 64 31 00");

    b.len = 0;
    assert_int_equal(orbit_key_vector_bucket(&b, "emb", 7, "d1", 2), 0);
    assert_hex(&b, "01 76 65 63 00  01 62 00  01 65 6d 62 00  15 80 00 00 00 00 00 00 07  01 64 31 00");

    b.len = 0;
    assert_int_equal(orbit_key_node(&b, "social", "alice", 5), 0);
    assert_hex(&b, "01 67 72 70 00  01 6e 00  01 73 6f 63 69 61 6c 00  01 61 6c 69 63 65 00");

    b.len = 0;
    assert_int_equal(orbit_key_edge(&b, "social", "e1", 2), 0);
    assert_hex(&b, "01 67 72 70 00  01 65 00  01 73 6f 63 69 61 6c 00  01 65 31 00");

    b.len = 0;
    assert_int_equal(orbit_key_adjacency(&b, "social", ORBIT_EDGE_OUT, "alice", 5, "follows",
                                         "bob", 3, "e1", 2), 0);
    assert_hex(&b, "01 67 72 70 00  01 6f 00  01 73 6f 63 69 61 6c 00  01 61 6c 69 63 65 00  "
                   "01 66 6f 6c 6c 6f 77 73 00  01 62 6f 62 00  01 65 31 00");

    b.len = 0;
    assert_int_equal(orbit_key_adjacency(&b, "social", ORBIT_EDGE_IN, "bob", 3, "follows",
                                         "alice", 5, "e1", 2), 0);
    assert_hex(&b, "01 67 72 70 00  01 69 00  01 73 6f 63 69 61 6c 00  01 62 6f 62 00  "
                   "01 66 6f 6c 6c 6f 77 73 00  01 61 6c 69 63 65 00  01 65 31 00");

    b.len = 0;
    assert_int_equal(orbit_key_ts_point(&b, "cpu", INT64_C(1700000000000), 0), 0);
    assert_hex(&b, "01 74 73 00  01 70 00  01 63 70 75 00  15 80 00 01 8b cf e5 68 00  "
                   "15 80 00 00 00 00 00 00 00");

    b.len = 0;
    assert_int_equal(orbit_key_ts_bucket(&b, "cpu", INT64_C(1699999200000)), 0);
    assert_hex(&b, "01 74 73 00  01 62 00  01 63 70 75 00  15 80 00 01 8b cf d9 33 00");

    b.len = 0;
    assert_int_equal(orbit_key_catalog(&b, "table", "users", 5), 0);
    assert_hex(&b, "01 63 61 74 00  01 74 61 62 6c 65 00  01 75 73 65 72 73 00");

    /* prefixes */
    b.len = 0;
    assert_int_equal(orbit_key_rows_prefix(&b, "users"), 0);
    assert_hex(&b, "01 72 65 6c 00  01 72 00  01 75 73 65 72 73 00");
    b.len = 0;
    assert_int_equal(orbit_key_index_prefix(&b, "users", "by_email"), 0);
    assert_hex(&b, "01 72 65 6c 00  01 69 00  01 75 73 65 72 73 00  01 62 79 5f 65 6d 61 69 6c 00");
    b.len = 0;
    assert_int_equal(orbit_key_docs_prefix(&b, "orders"), 0);
    assert_hex(&b, "01 64 6f 63 00  01 6f 72 64 65 72 73 00");
    b.len = 0;
    assert_int_equal(orbit_key_adjacency_prefix(&b, "social", ORBIT_EDGE_OUT, "alice", 5), 0);
    assert_hex(&b, "01 67 72 70 00  01 6f 00  01 73 6f 63 69 61 6c 00  01 61 6c 69 63 65 00");
    b.len = 0;
    assert_int_equal(orbit_key_ts_points_prefix(&b, "cpu"), 0);
    assert_hex(&b, "01 74 73 00  01 70 00  01 63 70 75 00");
    b.len = 0;
    assert_int_equal(orbit_key_catalog_prefix(&b, "table"), 0);
    assert_hex(&b, "01 63 61 74 00  01 74 61 62 6c 65 00");

    orbit_buf_release(&b);
    orbit_buf_release(&pk);
    orbit_buf_release(&vals);
}

static void test_builders_append(void **state)
{
    (void)state;
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_buf_append(&b, "XY", 2), 0);
    assert_int_equal(orbit_key_doc(&b, "c", "i", 1), 0);
    assert_hex(&b, "58 59  01 64 6f 63 00  01 63 00  01 69 00");

    /* A refused argument leaves the buffer as it was. */
    size_t len = b.len;
    assert_int_equal(orbit_key_doc(&b, NULL, "i", 1), ORBIT_EINVAL);
    assert_int_equal(orbit_key_row(&b, "t", NULL, 3), ORBIT_EINVAL);
    assert_int_equal(orbit_key_adjacency(&b, "g", (orbit_edge_dir)7, "n", 1, "l", "o", 1, "e", 1),
                     ORBIT_EINVAL);
    assert_int_equal(orbit_key_adjacency(&b, "g", ORBIT_EDGE_OUT, "n", 1, NULL, "o", 1, "e", 1),
                     ORBIT_EINVAL);
    assert_int_equal(b.len, len);
    orbit_buf_release(&b);
}

static void test_prefixes_select_their_keys(void **state)
{
    (void)state;
    orbit_buf p = ORBIT_BUF_INIT, k = ORBIT_BUF_INIT, pk = ORBIT_BUF_INIT;
    assert_int_equal(orbit_tuple_str(&pk, "id\0:7"), 0);

    assert_int_equal(orbit_key_rows_prefix(&p, "t"), 0);
    assert_int_equal(orbit_key_row(&k, "t", pk.data, pk.len), 0);
    assert_true(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_row(&k, "t2", pk.data, pk.len), 0); /* another table */
    assert_false(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_index(&k, "t", "ix", pk.data, pk.len, pk.data, pk.len), 0);
    assert_false(is_prefix(&p, &k)); /* index entries are not rows */

    p.len = 0;
    assert_int_equal(orbit_key_index_prefix(&p, "t", "ix"), 0);
    assert_true(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_index(&k, "t", "ix2", pk.data, pk.len, pk.data, pk.len), 0);
    assert_false(is_prefix(&p, &k));

    p.len = 0;
    k.len = 0;
    assert_int_equal(orbit_key_docs_prefix(&p, "c"), 0);
    assert_int_equal(orbit_key_doc(&k, "c", "x", 1), 0);
    assert_true(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_doc(&k, "cc", "x", 1), 0);
    assert_false(is_prefix(&p, &k));

    p.len = 0;
    k.len = 0;
    assert_int_equal(orbit_key_ts_points_prefix(&p, "s"), 0);
    assert_int_equal(orbit_key_ts_point(&k, "s", -5, 3), 0);
    assert_true(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_ts_bucket(&k, "s", 0), 0);
    assert_false(is_prefix(&p, &k));

    p.len = 0;
    k.len = 0;
    assert_int_equal(orbit_key_catalog_prefix(&p, "table"), 0);
    assert_int_equal(orbit_key_catalog(&k, "table", "t", 1), 0);
    assert_true(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_catalog(&k, "tables", "t", 1), 0);
    assert_false(is_prefix(&p, &k));

    orbit_buf_release(&p);
    orbit_buf_release(&k);
    orbit_buf_release(&pk);
}

static void test_ts_order(void **state)
{
    (void)state;
    /* (timestamp, seq) pairs in increasing order. */
    static const int64_t pts[][2] = {
        {INT64_MIN, 0}, {-1000, -1}, {-1000, 0}, {-1000, 5}, {-1, INT64_MAX}, {0, INT64_MIN},
        {0, 0}, {0, 1}, {1, 0}, {255, 0}, {256, 0}, {INT64_MAX, INT64_MIN}, {INT64_MAX, INT64_MAX},
    };
    enum { N = sizeof pts / sizeof pts[0] };
    orbit_buf keys[N];
    for (size_t i = 0; i < N; i++) {
        orbit_buf_init(&keys[i]);
        assert_int_equal(orbit_key_ts_point(&keys[i], "s", pts[i][0], pts[i][1]), 0);
    }
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++)
            assert_int_equal(cmp_buf(&keys[i], &keys[j]), i < j ? -1 : i > j ? 1 : 0);
    /* Every point of "s" sorts before every point of "s\0" and "t". */
    orbit_buf other = ORBIT_BUF_INIT;
    assert_int_equal(orbit_key_ts_point(&other, "t", INT64_MIN, INT64_MIN), 0);
    assert_int_equal(cmp_buf(&keys[N - 1], &other), -1);
    for (size_t i = 0; i < N; i++)
        orbit_buf_release(&keys[i]);
    orbit_buf_release(&other);
}

static void test_adjacency_separated(void **state)
{
    (void)state;
    orbit_buf out_p = ORBIT_BUF_INIT, in_p = ORBIT_BUF_INIT, k = ORBIT_BUF_INIT,
              al_p = ORBIT_BUF_INIT;
    assert_int_equal(orbit_key_adjacency_prefix(&out_p, "g", ORBIT_EDGE_OUT, "alice", 5), 0);
    assert_int_equal(orbit_key_adjacency_prefix(&in_p, "g", ORBIT_EDGE_IN, "alice", 5), 0);
    assert_int_equal(orbit_key_adjacency_prefix(&al_p, "g", ORBIT_EDGE_OUT, "al", 2), 0);
    assert_false(is_prefix(&out_p, &in_p));
    assert_false(is_prefix(&in_p, &out_p));

    assert_int_equal(orbit_key_adjacency(&k, "g", ORBIT_EDGE_OUT, "alice", 5, "knows", "bob", 3,
                                         "e", 1), 0);
    assert_true(is_prefix(&out_p, &k));
    assert_false(is_prefix(&in_p, &k));
    assert_false(is_prefix(&al_p, &k)); /* node "al" does not select "alice" */
    k.len = 0;
    assert_int_equal(orbit_key_adjacency(&k, "g", ORBIT_EDGE_IN, "alice", 5, "knows", "bob", 3,
                                         "e", 1), 0);
    assert_true(is_prefix(&in_p, &k));
    assert_false(is_prefix(&out_p, &k));
    /* Neither prefix prefixes the other, so the two directions are disjoint
     * ranges; every incoming key sorts before every outgoing one ('i' < 'o'). */
    assert_int_equal(cmp_buf(&in_p, &out_p), -1);

    orbit_buf_release(&out_p);
    orbit_buf_release(&in_p);
    orbit_buf_release(&al_p);
    orbit_buf_release(&k);
}

static void test_kv_decode(void **state)
{
    (void)state;
    orbit_buf k = ORBIT_BUF_INIT, u = ORBIT_BUF_INIT;
    static const char *const keys[] = {"", "a", "a:b", "\0", "x\0\xff y", "\xff\xff"};
    static const size_t lens[] = {0, 1, 3, 1, 5, 2};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        k.len = 0;
        assert_int_equal(orbit_key_kv(&k, keys[i], lens[i]), 0);
        assert_int_equal(orbit_buf_append(&u, "junk", 4), 0); /* contents are replaced */
        assert_int_equal(orbit_key_kv_decode(k.data, k.len, &u), 0);
        assert_int_equal(u.len, lens[i]);
        if (lens[i])
            assert_memory_equal(u.data, keys[i], lens[i]);
    }

    /* Well-formed but not plain keys: EINVAL. */
    k.len = 0;
    assert_int_equal(orbit_key_doc(&k, "c", "i", 1), 0);
    assert_int_equal(orbit_key_kv_decode(k.data, k.len, &u), ORBIT_EINVAL);
    k.len = 0;
    assert_int_equal(orbit_tuple_str(&k, "kv"), 0);
    assert_int_equal(orbit_key_kv_decode(k.data, k.len, &u), ORBIT_EINVAL);
    assert_int_equal(orbit_tuple_int(&k, 5), 0);
    assert_int_equal(orbit_key_kv_decode(k.data, k.len, &u), ORBIT_EINVAL);
    k.len = 0;
    assert_int_equal(orbit_key_kv(&k, "a", 1), 0);
    assert_int_equal(orbit_tuple_str(&k, "b"), 0);
    assert_int_equal(orbit_key_kv_decode(k.data, k.len, &u), ORBIT_EINVAL);
    k.len = 0;
    assert_int_equal(orbit_tuple_bytes(&k, "kv\0", 3), 0);
    assert_int_equal(orbit_tuple_str(&k, "a"), 0);
    assert_int_equal(orbit_key_kv_decode(k.data, k.len, &u), ORBIT_EINVAL);
    k.len = 0;
    assert_int_equal(orbit_tuple_str(&k, "kvx"), 0);
    assert_int_equal(orbit_tuple_str(&k, "a"), 0);
    assert_int_equal(orbit_key_kv_decode(k.data, k.len, &u), ORBIT_EINVAL);
    assert_int_equal(orbit_key_kv_decode(NULL, 0, &u), ORBIT_EINVAL);

    /* Malformed: ECORRUPT. */
    static const uint8_t unterminated[] = {0x01, 'k', 'v', 0x00, 0x01, 'a'};
    assert_int_equal(orbit_key_kv_decode(unterminated, sizeof unterminated, &u), ORBIT_ECORRUPT);
    static const uint8_t trailing[] = {0x01, 'k', 'v', 0x00, 0x01, 'a', 0x00, 0x15, 0x80};
    assert_int_equal(orbit_key_kv_decode(trailing, sizeof trailing, &u), ORBIT_ECORRUPT);
    static const uint8_t bad_first[] = {0x01, 'k'};
    assert_int_equal(orbit_key_kv_decode(bad_first, sizeof bad_first, &u), ORBIT_ECORRUPT);
    static const uint8_t bad_tag[] = {0x09};
    assert_int_equal(orbit_key_kv_decode(bad_tag, sizeof bad_tag, &u), ORBIT_ECORRUPT);

    orbit_buf_release(&k);
    orbit_buf_release(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builder_bytes),
        cmocka_unit_test(test_builders_append),
        cmocka_unit_test(test_prefixes_select_their_keys),
        cmocka_unit_test(test_ts_order),
        cmocka_unit_test(test_adjacency_separated),
        cmocka_unit_test(test_kv_decode),
    };
    return cmocka_run_group_tests(tests, 0, 0);
}
