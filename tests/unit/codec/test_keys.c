/*
 * Tests of the model key builders (src/codec/keys.c): the exact bytes of
 * one example per builder (the examples docs/ARCHITECTURE.md shows), that
 * builders append and leave the buffer alone when they refuse, the id
 * limits, that every prefix builder prefixes exactly its keys, that one
 * keyspace is one range [lo, hi) holding all of its keys and none of its
 * neighbours', time-series ordering by timestamp then seq, the separation
 * of outgoing and incoming adjacency, and plain-key decoding.
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
    uint8_t want[512];
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
 *   keyspace 1 = 15 01, 17 = 15 11; the system keyspace 0 = 14
 *   "kv"  01 6b 76 00    "rel" 01 72 65 6c 00    "doc" 01 64 6f 63 00
 *   "vec" 01 76 65 63 00 "grp" 01 67 72 70 00    "ts"  01 74 73 00
 *   "cat" 01 63 61 74 00 42 = 15 2a   ids 2..8 = 15 02 .. 15 08 */
#define KS 17 /* an actor's keyspace in the examples */
#define TABLE 3
#define INDEX 2
#define COLL 4
#define VCOLL 5
#define GRAPH 6
#define SERIES 8

static void test_builder_bytes(void **state)
{
    (void)state;
    orbit_buf b = ORBIT_BUF_INIT, pk = ORBIT_BUF_INIT, vals = ORBIT_BUF_INIT;

    assert_int_equal(orbit_key_kv(&b, ORBIT_KEYSPACE_DEFAULT, "user:1", 6), 0);
    assert_hex(&b, "15 01  01 6b 76 00  01 75 73 65 72 3a 31 00");

    b.len = 0;
    assert_int_equal(orbit_key_kv(&b, ORBIT_KEYSPACE_DEFAULT, "a\0b", 3), 0);
    assert_hex(&b, "15 01  01 6b 76 00  01 61 00 ff 62 00");

    assert_int_equal(orbit_tuple_int(&pk, 42), 0);
    b.len = 0;
    assert_int_equal(orbit_key_row(&b, KS, TABLE, pk.data, pk.len), 0);
    assert_hex(&b, "15 11  01 72 65 6c 00  15 03  01 72 00  15 2a");

    assert_int_equal(orbit_tuple_str(&vals, "a@x"), 0);
    b.len = 0;
    assert_int_equal(orbit_key_index(&b, KS, TABLE, INDEX, vals.data, vals.len, pk.data, pk.len),
                     0);
    assert_hex(&b, "15 11  01 72 65 6c 00  15 03  01 69 00  15 02  01 61 40 78 00  15 2a");

    b.len = 0;
    assert_int_equal(orbit_key_doc(&b, KS, COLL, "o-1", 3), 0);
    assert_hex(&b, "15 11  01 64 6f 63 00  15 04  01 6f 2d 31 00");

    b.len = 0;
    assert_int_equal(orbit_key_vector(&b, KS, VCOLL, "d1", 2), 0);
    assert_hex(&b, "15 11  01 76 65 63 00  15 05  01 76 00  01 64 31 00");

    b.len = 0;
    assert_int_equal(orbit_key_vector_bucket(&b, KS, VCOLL, 7, "d1", 2), 0);
    assert_hex(&b, "15 11  01 76 65 63 00  15 05  01 62 00  15 07  01 64 31 00");

    b.len = 0;
    assert_int_equal(orbit_key_node(&b, KS, GRAPH, "alice", 5), 0);
    assert_hex(&b, "15 11  01 67 72 70 00  15 06  01 6e 00  01 61 6c 69 63 65 00");

    b.len = 0;
    assert_int_equal(orbit_key_edge(&b, KS, GRAPH, "e1", 2), 0);
    assert_hex(&b, "15 11  01 67 72 70 00  15 06  01 65 00  01 65 31 00");

    b.len = 0;
    assert_int_equal(orbit_key_adjacency(&b, KS, GRAPH, ORBIT_EDGE_OUT, "alice", 5, "follows",
                                         "bob", 3, "e1", 2), 0);
    assert_hex(&b, "15 11  01 67 72 70 00  15 06  01 6f 00  01 61 6c 69 63 65 00  "
                   "01 66 6f 6c 6c 6f 77 73 00  01 62 6f 62 00  01 65 31 00");

    b.len = 0;
    assert_int_equal(orbit_key_adjacency(&b, KS, GRAPH, ORBIT_EDGE_IN, "bob", 3, "follows",
                                         "alice", 5, "e1", 2), 0);
    assert_hex(&b, "15 11  01 67 72 70 00  15 06  01 69 00  01 62 6f 62 00  "
                   "01 66 6f 6c 6c 6f 77 73 00  01 61 6c 69 63 65 00  01 65 31 00");

    b.len = 0;
    assert_int_equal(orbit_key_ts_point(&b, KS, SERIES, INT64_C(1700000000000), 0), 0);
    assert_hex(&b, "15 11  01 74 73 00  15 08  01 70 00  1a 01 8b cf e5 68 00  14");

    b.len = 0;
    assert_int_equal(orbit_key_ts_bucket(&b, KS, SERIES, 60000, INT64_C(1699999200000)), 0);
    assert_hex(&b, "15 11  01 74 73 00  15 08  01 62 00  16 ea 60  1a 01 8b cf d9 33 00");

    b.len = 0;
    assert_int_equal(orbit_key_catalog(&b, KS, "table", "users", 5), 0);
    assert_hex(&b, "15 11  01 63 61 74 00  01 74 61 62 6c 65 00  01 75 73 65 72 73 00");

    b.len = 0;
    assert_int_equal(orbit_key_catalog(&b, ORBIT_KEYSPACE_SYSTEM, "placement", "x", 1), 0);
    assert_hex(&b, "14  01 63 61 74 00  01 70 6c 61 63 65 6d 65 6e 74 00  01 78 00");

    /* prefixes */
    b.len = 0;
    assert_int_equal(orbit_key_keyspace(&b, KS), 0);
    assert_hex(&b, "15 11");
    b.len = 0;
    assert_int_equal(orbit_key_kv_prefix(&b, ORBIT_KEYSPACE_DEFAULT), 0);
    assert_hex(&b, "15 01  01 6b 76 00");
    b.len = 0;
    assert_int_equal(orbit_key_object_prefix(&b, KS, ORBIT_PREFIX_REL, TABLE), 0);
    assert_hex(&b, "15 11  01 72 65 6c 00  15 03");
    b.len = 0;
    assert_int_equal(orbit_key_rows_prefix(&b, KS, TABLE), 0);
    assert_hex(&b, "15 11  01 72 65 6c 00  15 03  01 72 00");
    b.len = 0;
    assert_int_equal(orbit_key_index_prefix(&b, KS, TABLE, INDEX), 0);
    assert_hex(&b, "15 11  01 72 65 6c 00  15 03  01 69 00  15 02");
    b.len = 0;
    assert_int_equal(orbit_key_docs_prefix(&b, KS, COLL), 0);
    assert_hex(&b, "15 11  01 64 6f 63 00  15 04");
    b.len = 0;
    assert_int_equal(orbit_key_adjacency_prefix(&b, KS, GRAPH, ORBIT_EDGE_OUT, "alice", 5), 0);
    assert_hex(&b, "15 11  01 67 72 70 00  15 06  01 6f 00  01 61 6c 69 63 65 00");
    b.len = 0;
    assert_int_equal(orbit_key_ts_points_prefix(&b, KS, SERIES), 0);
    assert_hex(&b, "15 11  01 74 73 00  15 08  01 70 00");
    b.len = 0;
    assert_int_equal(orbit_key_catalog_prefix(&b, KS, "table"), 0);
    assert_hex(&b, "15 11  01 63 61 74 00  01 74 61 62 6c 65 00");

    /* Ids are compact: the largest takes 9 bytes, like every int64. */
    b.len = 0;
    assert_int_equal(orbit_key_docs_prefix(&b, 256, ORBIT_ID_MAX), 0);
    assert_hex(&b, "16 01 00  01 64 6f 63 00  1c 7f ff ff ff ff ff ff ff");

    orbit_buf_release(&b);
    orbit_buf_release(&pk);
    orbit_buf_release(&vals);
}

static void test_builders_append(void **state)
{
    (void)state;
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_buf_append(&b, "XY", 2), 0);
    assert_int_equal(orbit_key_doc(&b, 2, 1, "i", 1), 0);
    assert_hex(&b, "58 59  15 02  01 64 6f 63 00  15 01  01 69 00");

    /* A refused argument leaves the buffer as it was. */
    size_t len = b.len;
    assert_int_equal(orbit_key_doc(&b, 1, 1, NULL, 1), ORBIT_EINVAL);
    assert_int_equal(orbit_key_row(&b, 1, 1, NULL, 3), ORBIT_EINVAL);
    assert_int_equal(orbit_key_index(&b, 1, 1, 1, NULL, 2, NULL, 0), ORBIT_EINVAL);
    assert_int_equal(orbit_key_adjacency(&b, 1, 1, (orbit_edge_dir)7, "n", 1, "l", "o", 1, "e", 1),
                     ORBIT_EINVAL);
    assert_int_equal(orbit_key_adjacency(&b, 1, 1, ORBIT_EDGE_OUT, "n", 1, NULL, "o", 1, "e", 1),
                     ORBIT_EINVAL);
    assert_int_equal(orbit_key_catalog(&b, 1, NULL, "n", 1), ORBIT_EINVAL);
    assert_int_equal(orbit_key_object_prefix(&b, 1, "kv", 1), ORBIT_EINVAL);
    assert_int_equal(orbit_key_object_prefix(&b, 1, "cat", 1), ORBIT_EINVAL);
    assert_int_equal(orbit_key_object_prefix(&b, 1, NULL, 1), ORBIT_EINVAL);
    assert_int_equal(b.len, len);
    orbit_buf_release(&b);
}

/* Every id argument of every builder: ORBIT_ID_MAX is accepted, one more
 * (and UINT64_MAX) is EINVAL and leaves the buffer as it was. */
static void test_id_limits(void **state)
{
    (void)state;
    static const uint64_t bad[] = {ORBIT_ID_MAX + 1, UINT64_MAX};
    orbit_buf b = ORBIT_BUF_INIT, lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT;
    assert_int_equal(orbit_buf_append(&b, "Z", 1), 0);
    for (int ok = 1; ok >= 0; ok--) {
        for (size_t k = 0; k < (ok ? 1 : 2); k++) {
            uint64_t x = ok ? ORBIT_ID_MAX : bad[k];
            int want = ok ? 0 : ORBIT_EINVAL;
            int rcs[] = {
                orbit_key_keyspace(&b, x),
                orbit_key_kv(&b, x, "k", 1),
                orbit_key_kv_prefix(&b, x),
                orbit_key_row(&b, x, 1, NULL, 0),
                orbit_key_row(&b, 1, x, NULL, 0),
                orbit_key_index(&b, x, 1, 1, NULL, 0, NULL, 0),
                orbit_key_index(&b, 1, x, 1, NULL, 0, NULL, 0),
                orbit_key_index(&b, 1, 1, x, NULL, 0, NULL, 0),
                orbit_key_doc(&b, x, 1, "i", 1),
                orbit_key_doc(&b, 1, x, "i", 1),
                orbit_key_vector(&b, x, 1, "i", 1),
                orbit_key_vector(&b, 1, x, "i", 1),
                orbit_key_vector_bucket(&b, x, 1, 0, "i", 1),
                orbit_key_vector_bucket(&b, 1, x, 0, "i", 1),
                orbit_key_node(&b, x, 1, "n", 1),
                orbit_key_node(&b, 1, x, "n", 1),
                orbit_key_edge(&b, x, 1, "e", 1),
                orbit_key_edge(&b, 1, x, "e", 1),
                orbit_key_adjacency(&b, x, 1, ORBIT_EDGE_IN, "n", 1, "l", "o", 1, "e", 1),
                orbit_key_adjacency(&b, 1, x, ORBIT_EDGE_IN, "n", 1, "l", "o", 1, "e", 1),
                orbit_key_ts_point(&b, x, 1, 0, 0),
                orbit_key_ts_point(&b, 1, x, 0, 0),
                orbit_key_ts_bucket(&b, x, 1, 60000, 0),
                orbit_key_ts_bucket(&b, 1, x, 60000, 0),
                orbit_key_catalog(&b, x, "k", "n", 1),
                orbit_key_catalog_prefix(&b, x, "k"),
                orbit_key_object_prefix(&b, x, ORBIT_PREFIX_TS, 1),
                orbit_key_object_prefix(&b, 1, ORBIT_PREFIX_TS, x),
                orbit_key_rows_prefix(&b, x, 1),
                orbit_key_rows_prefix(&b, 1, x),
                orbit_key_index_prefix(&b, x, 1, 1),
                orbit_key_index_prefix(&b, 1, x, 1),
                orbit_key_index_prefix(&b, 1, 1, x),
                orbit_key_docs_prefix(&b, x, 1),
                orbit_key_docs_prefix(&b, 1, x),
                orbit_key_adjacency_prefix(&b, x, 1, ORBIT_EDGE_OUT, "n", 1),
                orbit_key_adjacency_prefix(&b, 1, x, ORBIT_EDGE_OUT, "n", 1),
                orbit_key_ts_points_prefix(&b, x, 1),
                orbit_key_ts_points_prefix(&b, 1, x),
                orbit_key_keyspace_range(&lo, &hi, x),
            };
            for (size_t r = 0; r < sizeof rcs / sizeof rcs[0]; r++) {
                if (rcs[r] != want)
                    fprintf(stderr, "builder %zu with id %llu: %d\n", r, (unsigned long long)x,
                            rcs[r]);
                assert_int_equal(rcs[r], want);
            }
            if (ok)
                b.len = 1;
            assert_int_equal(b.len, 1);
            assert_memory_equal(b.data, "Z", 1);
            if (!ok) {
                assert_int_equal(lo.len, 0);
                assert_int_equal(hi.len, 0);
            }
            lo.len = hi.len = 0;
        }
    }
    orbit_buf_release(&b);
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
}

/* Keys of keyspace ks of every model, some with awkward ids. */
static void keys_of(orbit_buf *out, size_t n, uint64_t ks)
{
    static const uint8_t ff[] = {0xFF, 0xFF, 0xFF};
    orbit_buf pk = ORBIT_BUF_INIT;
    assert_int_equal(orbit_tuple_int(&pk, INT64_MAX), 0);
    assert_int_equal(orbit_tuple_bytes(&pk, ff, sizeof ff), 0);
    for (size_t i = 0; i < n; i++)
        out[i].len = 0;
    assert_true(n >= 10);
    assert_int_equal(orbit_key_keyspace(&out[0], ks), 0);
    assert_int_equal(orbit_key_kv(&out[1], ks, "", 0), 0);
    assert_int_equal(orbit_key_kv(&out[2], ks, ff, sizeof ff), 0);
    assert_int_equal(orbit_key_row(&out[3], ks, ORBIT_ID_MAX, pk.data, pk.len), 0);
    assert_int_equal(orbit_key_index(&out[4], ks, 0, ORBIT_ID_MAX, pk.data, pk.len, pk.data,
                                     pk.len), 0);
    assert_int_equal(orbit_key_doc(&out[5], ks, 0, ff, sizeof ff), 0);
    assert_int_equal(orbit_key_ts_point(&out[6], ks, ORBIT_ID_MAX, INT64_MAX, INT64_MAX), 0);
    assert_int_equal(orbit_key_catalog(&out[7], ks, "\xff", ff, sizeof ff), 0);
    assert_int_equal(orbit_key_adjacency(&out[8], ks, 1, ORBIT_EDGE_OUT, ff, 3, "\xff", ff, 3,
                                         ff, 3), 0);
    assert_int_equal(orbit_key_vector_bucket(&out[9], ks, 0, INT64_MIN, "", 0), 0);
    orbit_buf_release(&pk);
}

static void test_keyspace_range(void **state)
{
    (void)state;
    static const uint64_t spaces[] = {0, 1, 2, 0x7F, 0xFF, 0x100, 0xFFFF, 0x10000,
                                      UINT64_C(0xFFFFFFFF), UINT64_C(0x100000000),
                                      UINT64_C(0x00FFFFFFFFFFFFFF), UINT64_C(0x0100000000000000),
                                      ORBIT_ID_MAX - 1, ORBIT_ID_MAX};
    enum { NK = 10 };
    orbit_buf lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT, want = ORBIT_BUF_INIT, k[NK];
    for (size_t i = 0; i < NK; i++)
        orbit_buf_init(&k[i]);

    for (size_t s = 0; s < sizeof spaces / sizeof spaces[0]; s++) {
        uint64_t ks = spaces[s];
        lo.len = hi.len = want.len = 0;
        assert_int_equal(orbit_key_keyspace_range(&lo, &hi, ks), 0);
        assert_int_equal(orbit_key_keyspace(&want, ks), 0);
        assert_int_equal(cmp_buf(&lo, &want), 0);
        want.len = 0;
        if (ks < ORBIT_ID_MAX) {
            assert_int_equal(orbit_key_keyspace(&want, ks + 1), 0);
            assert_int_equal(cmp_buf(&hi, &want), 0);
        } else {
            assert_hex(&hi, "1c 80");
        }
        assert_int_equal(cmp_buf(&lo, &hi), -1);

        /* Every key of ks is inside, ... */
        keys_of(k, NK, ks);
        for (size_t i = 0; i < NK; i++) {
            assert_true(cmp_buf(&lo, &k[i]) <= 0);
            assert_int_equal(cmp_buf(&k[i], &hi), -1);
        }
        /* ... every key of the neighbouring keyspaces outside. */
        if (ks > 0) {
            keys_of(k, NK, ks - 1);
            for (size_t i = 0; i < NK; i++)
                assert_int_equal(cmp_buf(&k[i], &lo), -1);
        }
        if (ks < ORBIT_ID_MAX) {
            keys_of(k, NK, ks + 1);
            for (size_t i = 0; i < NK; i++)
                assert_true(cmp_buf(&hi, &k[i]) <= 0);
        }
    }

    /* The worked example: actor keyspace 17 is [15 11, 15 12). */
    lo.len = hi.len = 0;
    assert_int_equal(orbit_key_keyspace_range(&lo, &hi, KS), 0);
    assert_hex(&lo, "15 11");
    assert_hex(&hi, "15 12");

    /* Appends to both; one buffer for both is refused. */
    lo.len = hi.len = 0;
    assert_int_equal(orbit_buf_append(&lo, "a", 1), 0);
    assert_int_equal(orbit_buf_append(&hi, "b", 1), 0);
    assert_int_equal(orbit_key_keyspace_range(&lo, &hi, 255), 0);
    assert_hex(&lo, "61 15 ff");
    assert_hex(&hi, "62 16 01 00");
    assert_int_equal(orbit_key_keyspace_range(&lo, &lo, 1), ORBIT_EINVAL);
    assert_int_equal(orbit_key_keyspace_range(NULL, &hi, 1), ORBIT_EINVAL);
    assert_int_equal(lo.len, 3);
    assert_int_equal(hi.len, 4);

    for (size_t i = 0; i < NK; i++)
        orbit_buf_release(&k[i]);
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    orbit_buf_release(&want);
}

static void test_prefixes_select_their_keys(void **state)
{
    (void)state;
    orbit_buf p = ORBIT_BUF_INIT, k = ORBIT_BUF_INIT, pk = ORBIT_BUF_INIT;
    assert_int_equal(orbit_tuple_str(&pk, "id\0:7"), 0);

    assert_int_equal(orbit_key_rows_prefix(&p, KS, 1), 0);
    assert_int_equal(orbit_key_row(&k, KS, 1, pk.data, pk.len), 0);
    assert_true(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_row(&k, KS, 2, pk.data, pk.len), 0); /* another table */
    assert_false(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_row(&k, KS + 1, 1, pk.data, pk.len), 0); /* another keyspace */
    assert_false(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_index(&k, KS, 1, 9, pk.data, pk.len, pk.data, pk.len), 0);
    assert_false(is_prefix(&p, &k)); /* index entries are not rows */

    p.len = 0;
    assert_int_equal(orbit_key_index_prefix(&p, KS, 1, 9), 0);
    assert_true(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_index(&k, KS, 1, 10, pk.data, pk.len, pk.data, pk.len), 0);
    assert_false(is_prefix(&p, &k));

    /* The object prefix holds a table's rows and indexes, not another
     * table's (id 1 vs 256: their encodings 15 01 and 16 01 00). */
    p.len = 0;
    assert_int_equal(orbit_key_object_prefix(&p, KS, ORBIT_PREFIX_REL, 1), 0);
    assert_true(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_row(&k, KS, 1, pk.data, pk.len), 0);
    assert_true(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_row(&k, KS, 256, pk.data, pk.len), 0);
    assert_false(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_doc(&k, KS, 1, "x", 1), 0); /* same id, other model */
    assert_false(is_prefix(&p, &k));

    p.len = 0;
    k.len = 0;
    assert_int_equal(orbit_key_docs_prefix(&p, KS, 1), 0);
    assert_int_equal(orbit_key_doc(&k, KS, 1, "x", 1), 0);
    assert_true(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_doc(&k, KS, 2, "x", 1), 0);
    assert_false(is_prefix(&p, &k));

    p.len = 0;
    k.len = 0;
    assert_int_equal(orbit_key_ts_points_prefix(&p, KS, 1), 0);
    assert_int_equal(orbit_key_ts_point(&k, KS, 1, -5, 3), 0);
    assert_true(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_ts_bucket(&k, KS, 1, 60000, 0), 0);
    assert_false(is_prefix(&p, &k));

    p.len = 0;
    k.len = 0;
    assert_int_equal(orbit_key_catalog_prefix(&p, KS, "table"), 0);
    assert_int_equal(orbit_key_catalog(&k, KS, "table", "t", 1), 0);
    assert_true(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_catalog(&k, KS, "tables", "t", 1), 0);
    assert_false(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_catalog(&k, ORBIT_KEYSPACE_SYSTEM, "table", "t", 1), 0);
    assert_false(is_prefix(&p, &k));

    p.len = 0;
    k.len = 0;
    assert_int_equal(orbit_key_kv_prefix(&p, 1), 0);
    assert_int_equal(orbit_key_kv(&k, 1, "\xff", 1), 0);
    assert_true(is_prefix(&p, &k));
    k.len = 0;
    assert_int_equal(orbit_key_kv(&k, 2, "a", 1), 0);
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
        assert_int_equal(orbit_key_ts_point(&keys[i], KS, 1, pts[i][0], pts[i][1]), 0);
    }
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++)
            assert_int_equal(cmp_buf(&keys[i], &keys[j]), i < j ? -1 : i > j ? 1 : 0);
    /* Every point of series 1 sorts before every point of series 2 and of
     * series 256. */
    orbit_buf other = ORBIT_BUF_INIT;
    assert_int_equal(orbit_key_ts_point(&other, KS, 2, INT64_MIN, INT64_MIN), 0);
    assert_int_equal(cmp_buf(&keys[N - 1], &other), -1);
    other.len = 0;
    assert_int_equal(orbit_key_ts_point(&other, KS, 256, INT64_MIN, INT64_MIN), 0);
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
    assert_int_equal(orbit_key_adjacency_prefix(&out_p, KS, 1, ORBIT_EDGE_OUT, "alice", 5), 0);
    assert_int_equal(orbit_key_adjacency_prefix(&in_p, KS, 1, ORBIT_EDGE_IN, "alice", 5), 0);
    assert_int_equal(orbit_key_adjacency_prefix(&al_p, KS, 1, ORBIT_EDGE_OUT, "al", 2), 0);
    assert_false(is_prefix(&out_p, &in_p));
    assert_false(is_prefix(&in_p, &out_p));

    assert_int_equal(orbit_key_adjacency(&k, KS, 1, ORBIT_EDGE_OUT, "alice", 5, "knows", "bob", 3,
                                         "e", 1), 0);
    assert_true(is_prefix(&out_p, &k));
    assert_false(is_prefix(&in_p, &k));
    assert_false(is_prefix(&al_p, &k)); /* node "al" does not select "alice" */
    k.len = 0;
    assert_int_equal(orbit_key_adjacency(&k, KS, 1, ORBIT_EDGE_IN, "alice", 5, "knows", "bob", 3,
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
    static const uint64_t spaces[] = {0, 1, 255, 256, ORBIT_ID_MAX};
    for (size_t s = 0; s < sizeof spaces / sizeof spaces[0]; s++) {
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            k.len = 0;
            assert_int_equal(orbit_key_kv(&k, spaces[s], keys[i], lens[i]), 0);
            assert_int_equal(orbit_buf_append(&u, "junk", 4), 0); /* contents are replaced */
            uint64_t ks = 12345;
            assert_int_equal(orbit_key_kv_decode(k.data, k.len, &ks, &u), 0);
            assert_true(ks == spaces[s]);
            assert_int_equal(u.len, lens[i]);
            if (lens[i])
                assert_memory_equal(u.data, keys[i], lens[i]);
            assert_int_equal(orbit_key_kv_decode(k.data, k.len, NULL, &u), 0); /* ks optional */
            assert_int_equal(u.len, lens[i]);
        }
    }

    /* Well-formed but not plain keys: EINVAL, and *ks untouched. */
    uint64_t ks = 99;
    k.len = 0;
    assert_int_equal(orbit_key_doc(&k, 1, 1, "i", 1), 0);
    assert_int_equal(orbit_key_kv_decode(k.data, k.len, &ks, &u), ORBIT_EINVAL);
    k.len = 0;
    assert_int_equal(orbit_key_kv_prefix(&k, 1), 0); /* no user key */
    assert_int_equal(orbit_key_kv_decode(k.data, k.len, &ks, &u), ORBIT_EINVAL);
    assert_int_equal(orbit_tuple_int(&k, 5), 0); /* an int, not bytes */
    assert_int_equal(orbit_key_kv_decode(k.data, k.len, &ks, &u), ORBIT_EINVAL);
    k.len = 0;
    assert_int_equal(orbit_key_kv(&k, 1, "a", 1), 0);
    assert_int_equal(orbit_tuple_str(&k, "b"), 0); /* extra element */
    assert_int_equal(orbit_key_kv_decode(k.data, k.len, &ks, &u), ORBIT_EINVAL);
    k.len = 0;
    assert_int_equal(orbit_tuple_int(&k, 1), 0);
    assert_int_equal(orbit_tuple_bytes(&k, "kv\0", 3), 0);
    assert_int_equal(orbit_tuple_str(&k, "a"), 0);
    assert_int_equal(orbit_key_kv_decode(k.data, k.len, &ks, &u), ORBIT_EINVAL);
    k.len = 0;
    assert_int_equal(orbit_tuple_int(&k, 1), 0);
    assert_int_equal(orbit_tuple_str(&k, "kvx"), 0);
    assert_int_equal(orbit_tuple_str(&k, "a"), 0);
    assert_int_equal(orbit_key_kv_decode(k.data, k.len, &ks, &u), ORBIT_EINVAL);
    k.len = 0; /* the old layout, without a keyspace */
    assert_int_equal(orbit_tuple_str(&k, "kv"), 0);
    assert_int_equal(orbit_tuple_str(&k, "a"), 0);
    assert_int_equal(orbit_key_kv_decode(k.data, k.len, &ks, &u), ORBIT_EINVAL);
    k.len = 0; /* a negative keyspace */
    assert_int_equal(orbit_tuple_int(&k, -1), 0);
    assert_int_equal(orbit_tuple_str(&k, "kv"), 0);
    assert_int_equal(orbit_tuple_str(&k, "a"), 0);
    assert_int_equal(orbit_key_kv_decode(k.data, k.len, &ks, &u), ORBIT_EINVAL);
    k.len = 0; /* a double keyspace */
    assert_int_equal(orbit_tuple_double(&k, 1.0), 0);
    assert_int_equal(orbit_tuple_str(&k, "kv"), 0);
    assert_int_equal(orbit_tuple_str(&k, "a"), 0);
    assert_int_equal(orbit_key_kv_decode(k.data, k.len, &ks, &u), ORBIT_EINVAL);
    assert_int_equal(orbit_key_kv_decode(NULL, 0, &ks, &u), ORBIT_EINVAL);
    assert_true(ks == 99);

    /* Malformed: ECORRUPT. */
    static const uint8_t unterminated[] = {0x15, 0x01, 0x01, 'k', 'v', 0x00, 0x01, 'a'};
    assert_int_equal(orbit_key_kv_decode(unterminated, sizeof unterminated, &ks, &u),
                     ORBIT_ECORRUPT);
    static const uint8_t trailing[] = {0x15, 0x01, 0x01, 'k', 'v', 0x00, 0x01, 'a', 0x00,
                                       0x16, 0x01};
    assert_int_equal(orbit_key_kv_decode(trailing, sizeof trailing, &ks, &u), ORBIT_ECORRUPT);
    static const uint8_t bad_ks[] = {0x15, 0x00, 0x01, 'k', 'v', 0x00, 0x01, 'a', 0x00};
    assert_int_equal(orbit_key_kv_decode(bad_ks, sizeof bad_ks, &ks, &u), ORBIT_ECORRUPT);
    static const uint8_t short_ks[] = {0x16, 0x01};
    assert_int_equal(orbit_key_kv_decode(short_ks, sizeof short_ks, &ks, &u), ORBIT_ECORRUPT);
    static const uint8_t bad_second[] = {0x15, 0x01, 0x01, 'k'};
    assert_int_equal(orbit_key_kv_decode(bad_second, sizeof bad_second, &ks, &u), ORBIT_ECORRUPT);
    static const uint8_t bad_tag[] = {0x09};
    assert_int_equal(orbit_key_kv_decode(bad_tag, sizeof bad_tag, &ks, &u), ORBIT_ECORRUPT);
    assert_true(ks == 99);

    orbit_buf_release(&k);
    orbit_buf_release(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builder_bytes),
        cmocka_unit_test(test_builders_append),
        cmocka_unit_test(test_id_limits),
        cmocka_unit_test(test_keyspace_range),
        cmocka_unit_test(test_prefixes_select_their_keys),
        cmocka_unit_test(test_ts_order),
        cmocka_unit_test(test_adjacency_separated),
        cmocka_unit_test(test_kv_decode),
    };
    return cmocka_run_group_tests(tests, 0, 0);
}
