/*
 * Tests of the plain key-value namespace (src/model/strings.c) on the
 * "memory:" provider: put/get/get_with/del with awkward keys (':', spaces,
 * '\0', 0xFF, empty, long), the stored layout (key
 * (ORBIT_KEYSPACE_DEFAULT, "kv", K) byte for byte, a KV record with the
 * writer's metadata), compression, scans in user-key space checked against
 * a reference filter (start/end/prefix/limit/reverse) that never leave the
 * namespace (plain keys of other keyspaces, other models of the default
 * keyspace and raw neighbours are not seen), and corruption: a stored
 * value that is not a valid record, a valid record copied under another
 * key, or a key in the namespace that is not a plain key, is
 * ORBIT_ECORRUPT naming the key.
 * Threads that write and exit check, under LeakSanitizer, that the
 * per-thread buffers and zstd contexts are freed with their thread.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "orbit/codec.h"
#include "orbit/kv.h"
#include "orbit/record.h"
#include "orbit/strings.h"
#include "testutil.h"

typedef struct bytes {
    const char *p;
    size_t n;
} bytes;

#define B(s) {s, sizeof(s) - 1}

/* Sorted in user-key order (memcmp, shorter first). */
static const bytes KEYS[] = {
    B(""), B(" "), B("a"), B("a\0"), B("a\0b"), B("a b"), B("a:1"), B("a:2"), B("ab"),
    B("b"), B("b c"), B("b\xff"), B("\xff"), B("\xff\0"), B("\xff\xff"),
};
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

static int setup(void **state)
{
    orbit_kv *kv = NULL;
    int rc = orbit_kv_open("memory:", &kv);
    if (rc) {
        fprintf(stderr, "open memory: %s (%s)\n", orbit_strerror(rc), orbit_last_error_detail());
        return -1;
    }
    *state = kv;
    return 0;
}

static int teardown(void **state)
{
    orbit_kv_close(*state);
    return 0;
}

static void put(orbit_kv *kv, const bytes *k, const char *v, size_t vn)
{
    assert_int_equal(orbit_str_put(kv, NULL, (const uint8_t *)k->p, k->n, (const uint8_t *)v, vn), 0);
}

/* The value stored for KEYS[i] in the scan tests: "v" + the key. */
static void value_of(size_t i, orbit_buf *out)
{
    out->len = 0;
    assert_int_equal(orbit_buf_append(out, "v", 1), 0);
    assert_int_equal(orbit_buf_append(out, KEYS[i].p, KEYS[i].n), 0);
}

static void put_all(orbit_kv *kv)
{
    orbit_buf v = ORBIT_BUF_INIT;
    for (size_t i = 0; i < NKEYS; i++) {
        value_of(i, &v);
        put(kv, &KEYS[i], (const char *)v.data, v.len);
    }
    orbit_buf_release(&v);
}

/* ---- point operations ------------------------------------------------ */

static void test_put_get_del(void **state)
{
    orbit_kv *kv = *state;
    orbit_buf out = ORBIT_BUF_INIT, v = ORBIT_BUF_INIT;
    put_all(kv);

    /* A long key takes the heap path of key encoding. */
    uint8_t longkey[1000];
    for (size_t i = 0; i < sizeof longkey; i++)
        longkey[i] = (uint8_t)(i % 3 == 0 ? 0 : i);
    assert_int_equal(orbit_str_put(kv, NULL, longkey, sizeof longkey, (const uint8_t *)"L", 1), 0);

    for (size_t i = 0; i < NKEYS; i++) {
        value_of(i, &v);
        assert_int_equal(orbit_str_get(kv, NULL, (const uint8_t *)KEYS[i].p, KEYS[i].n, &out), 0);
        assert_int_equal(out.len, v.len);
        assert_memory_equal(out.data, v.data, v.len);
    }
    assert_int_equal(orbit_str_get(kv, NULL, longkey, sizeof longkey, &out), 0);
    assert_int_equal(out.len, 1);
    assert_int_equal(out.data[0], 'L');

    /* Missing keys, near misses included. */
    assert_int_equal(orbit_str_get(kv, NULL, (const uint8_t *)"a:3", 3, &out), ORBIT_NOTFOUND);
    assert_int_equal(out.len, 0);
    assert_int_equal(orbit_str_get(kv, NULL, (const uint8_t *)"a\0\0", 3, &out), ORBIT_NOTFOUND);
    assert_int_equal(orbit_str_get(kv, NULL, longkey, sizeof longkey - 1, &out), ORBIT_NOTFOUND);

    /* Overwrite, empty value, delete, delete again. */
    put(kv, &KEYS[6], "new", 3);
    assert_int_equal(orbit_str_get(kv, NULL, (const uint8_t *)"a:1", 3, &out), 0);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.data, "new", 3);
    put(kv, &KEYS[6], "", 0);
    assert_int_equal(orbit_str_get(kv, NULL, (const uint8_t *)"a:1", 3, &out), 0);
    assert_int_equal(out.len, 0);
    assert_int_equal(orbit_str_del(kv, (const uint8_t *)"a:1", 3), 0);
    assert_int_equal(orbit_str_get(kv, NULL, (const uint8_t *)"a:1", 3, &out), ORBIT_NOTFOUND);
    assert_int_equal(orbit_str_del(kv, (const uint8_t *)"a:1", 3), 0);
    assert_int_equal(orbit_str_del(kv, longkey, sizeof longkey), 0);
    assert_int_equal(orbit_str_get(kv, NULL, longkey, sizeof longkey, &out), ORBIT_NOTFOUND);
    /* Its neighbours are untouched. */
    assert_int_equal(orbit_str_get(kv, NULL, (const uint8_t *)"a:2", 3, &out), 0);

    /* Bad arguments. */
    assert_int_equal(orbit_str_put(kv, NULL, NULL, 3, (const uint8_t *)"x", 1), ORBIT_EINVAL);
    assert_int_equal(orbit_str_put(kv, NULL, (const uint8_t *)"k", 1, NULL, 1), ORBIT_EINVAL);
    assert_int_equal(orbit_str_get(kv, NULL, NULL, 2, &out), ORBIT_EINVAL);
    assert_int_equal(orbit_str_del(kv, NULL, 2), ORBIT_EINVAL);

    orbit_buf_release(&out);
    orbit_buf_release(&v);
}

typedef struct seen {
    int calls;
    orbit_buf val;
    int ret;
} seen;

static int seen_fn(void *arg, const uint8_t *val, size_t len)
{
    seen *s = arg;
    s->calls++;
    assert_int_equal(orbit_buf_set(&s->val, val, len), 0);
    return s->ret;
}

static void test_get_with(void **state)
{
    orbit_kv *kv = *state;
    put(kv, &KEYS[10], "spaced value", 12);
    seen s = {0, ORBIT_BUF_INIT, 0};
    assert_int_equal(orbit_str_get_with(kv, NULL, (const uint8_t *)"b c", 3, seen_fn, &s), 0);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.val.len, 12);
    assert_memory_equal(s.val.data, "spaced value", 12);

    /* The callback's non-zero return is the call's result. */
    s.ret = 7;
    assert_int_equal(orbit_str_get_with(kv, NULL, (const uint8_t *)"b c", 3, seen_fn, &s), 7);
    assert_int_equal(s.calls, 2);

    s.calls = 0;
    assert_int_equal(orbit_str_get_with(kv, NULL, (const uint8_t *)"nope", 4, seen_fn, &s),
                     ORBIT_NOTFOUND);
    assert_int_equal(s.calls, 0);
    orbit_buf_release(&s.val);
}

static void test_stored_layout(void **state)
{
    orbit_kv *kv = *state;
    orbit_str_opts o;
    memset(&o, 0, sizeof o);
    o.actor_type = "Cart";
    o.actor_id = "c:42";
    assert_int_equal(orbit_str_put(kv, &o, (const uint8_t *)"k\0:", 3, (const uint8_t *)"val", 3), 0);

    orbit_buf key = ORBIT_BUF_INIT, raw = ORBIT_BUF_INIT;
    assert_int_equal(orbit_key_kv(&key, ORBIT_KEYSPACE_DEFAULT, "k\0:", 3), 0);
    /* (1, "kv", "k\0:") */
    static const uint8_t want_key[] = {0x15, 0x01, 0x01, 'k', 'v', 0x00,
                                       0x01, 'k', 0x00, 0xFF, ':', 0x00};
    assert_int_equal(key.len, sizeof want_key);
    assert_memory_equal(key.data, want_key, sizeof want_key);
    assert_int_equal(orbit_kv_get(kv, NULL, key.data, key.len, &raw), 0);
    orbit_record_meta m;
    const uint8_t *p;
    size_t n;
    assert_int_equal(orbit_record_decode(raw.data, raw.len, key.data, key.len, &m, NULL, &p, &n), 0);
    assert_int_equal(m.model, ORBIT_MODEL_KV);
    assert_true(m.created_ms == m.updated_ms);
    assert_true(m.created_ms > UINT64_C(1600000000000)); /* a wall-clock time in ms */
    assert_int_equal(m.actor_type_len, 4);
    assert_memory_equal(m.actor_type, "Cart", 4);
    assert_int_equal(m.actor_id_len, 4);
    assert_memory_equal(m.actor_id, "c:42", 4);
    assert_int_equal(m.compression, ORBIT_COMPRESS_NONE);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "val", 3);

    /* No actor: empty actor fields. */
    assert_int_equal(orbit_str_put(kv, NULL, (const uint8_t *)"k\0:", 3, (const uint8_t *)"v", 1), 0);
    assert_int_equal(orbit_kv_get(kv, NULL, key.data, key.len, &raw), 0);
    assert_int_equal(orbit_record_decode(raw.data, raw.len, key.data, key.len, &m, NULL, &p, &n), 0);
    assert_int_equal(m.actor_type_len, 0);
    assert_int_equal(m.actor_id_len, 0);
    orbit_buf_release(&key);
    orbit_buf_release(&raw);
}

static void test_compressed_values(void **state)
{
    orbit_kv *kv = *state;
    enum { N = 5000 };
    static uint8_t big[N];
    for (size_t i = 0; i < N; i++)
        big[i] = (uint8_t)"compressible "[i % 13];
    const orbit_compression modes[] = {ORBIT_COMPRESS_LZ4, ORBIT_COMPRESS_ZSTD};
    orbit_buf out = ORBIT_BUF_INIT, key = ORBIT_BUF_INIT, raw = ORBIT_BUF_INIT;
    for (size_t i = 0; i < 2; i++) {
        orbit_str_opts o;
        memset(&o, 0, sizeof o);
        o.record.compression = modes[i];
        assert_int_equal(orbit_str_put(kv, &o, (const uint8_t *)"big", 3, big, N), 0);

        key.len = 0;
        assert_int_equal(orbit_key_kv(&key, ORBIT_KEYSPACE_DEFAULT, "big", 3), 0);
        assert_int_equal(orbit_kv_get(kv, NULL, key.data, key.len, &raw), 0);
        assert_true(raw.len < N / 4);

        assert_int_equal(orbit_str_get(kv, NULL, (const uint8_t *)"big", 3, &out), 0);
        assert_int_equal(out.len, N);
        assert_memory_equal(out.data, big, N);

        seen s = {0, ORBIT_BUF_INIT, 0};
        assert_int_equal(orbit_str_get_with(kv, NULL, (const uint8_t *)"big", 3, seen_fn, &s), 0);
        assert_int_equal(s.val.len, N);
        assert_memory_equal(s.val.data, big, N);
        orbit_buf_release(&s.val);
    }
    assert_int_equal(orbit_str_del(kv, (const uint8_t *)"big", 3), 0);
    orbit_buf_release(&out);
    orbit_buf_release(&key);
    orbit_buf_release(&raw);
}

static void test_snapshot_read(void **state)
{
    orbit_kv *kv = *state;
    orbit_capabilities caps;
    orbit_kv_capabilities(kv, &caps);
    if (!caps.supports_snapshots)
        skip();
    put(kv, &KEYS[2], "old", 3);
    orbit_snapshot *snap = NULL;
    assert_int_equal(orbit_kv_snapshot(kv, &snap), 0);
    put(kv, &KEYS[2], "newer", 5);
    orbit_read_opts ro = {snap};
    orbit_buf out = ORBIT_BUF_INIT;
    assert_int_equal(orbit_str_get(kv, &ro, (const uint8_t *)"a", 1, &out), 0);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.data, "old", 3);
    assert_int_equal(orbit_str_get(kv, NULL, (const uint8_t *)"a", 1, &out), 0);
    assert_int_equal(out.len, 5);
    orbit_snapshot_release(snap);
    orbit_buf_release(&out);
}

/* ---- scans ------------------------------------------------------------ */

typedef struct collect {
    size_t n;
    size_t idx[64];
    int stop_after; /* 0: never */
} collect;

static size_t key_index(const uint8_t *k, size_t kl)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (KEYS[i].n == kl && (kl == 0 || memcmp(KEYS[i].p, k, kl) == 0))
            return i;
    fail_msg("scan returned an unknown key");
    return 0;
}

static int collect_fn(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    collect *c = arg;
    size_t i = key_index(k, kl);
    orbit_buf want = ORBIT_BUF_INIT;
    value_of(i, &want);
    assert_int_equal(vl, want.len);
    assert_memory_equal(v, want.data, vl);
    orbit_buf_release(&want);
    assert_true(c->n < 64);
    c->idx[c->n++] = i;
    if (c->stop_after && (int)c->n == c->stop_after)
        return 99;
    return 0;
}

static int ucmp(const bytes *a, const uint8_t *b, size_t bn)
{
    size_t n = a->n < bn ? a->n : bn;
    int c = n ? memcmp(a->p, b, n) : 0;
    if (c)
        return c;
    return a->n < bn ? -1 : a->n > bn ? 1 : 0;
}

/* Which KEYS a scan must return, in order. */
static size_t reference(const orbit_scan_opts *so, size_t *idx)
{
    size_t n = 0;
    for (size_t j = 0; j < NKEYS; j++) {
        size_t i = so->reverse ? NKEYS - 1 - j : j;
        const bytes *k = &KEYS[i];
        if (so->start && ucmp(k, so->start, so->start_len) < 0)
            continue;
        if (so->end && ucmp(k, so->end, so->end_len) >= 0)
            continue;
        if (so->prefix && (k->n < so->prefix_len ||
                           (so->prefix_len && memcmp(k->p, so->prefix, so->prefix_len) != 0)))
            continue;
        if (so->limit && n == so->limit)
            break;
        idx[n++] = i;
    }
    return n;
}

static void check_scan(orbit_kv *kv, const orbit_scan_opts *so)
{
    size_t want[NKEYS];
    size_t nw = reference(so, want);
    collect c;
    memset(&c, 0, sizeof c);
    int rc = orbit_str_scan(kv, NULL, so, collect_fn, &c);
    if (rc)
        fprintf(stderr, "scan: %s (%s)\n", orbit_err_name(rc), orbit_last_error_detail());
    assert_int_equal(rc, 0);
    if (c.n != nw || (nw && memcmp(c.idx, want, nw * sizeof want[0]) != 0)) {
        fprintf(stderr, "scan mismatch: got");
        for (size_t i = 0; i < c.n; i++)
            fprintf(stderr, " %zu", c.idx[i]);
        fprintf(stderr, ", want");
        for (size_t i = 0; i < nw; i++)
            fprintf(stderr, " %zu", want[i]);
        fprintf(stderr, "\n");
        fail();
    }
}

/* Plain keys of other keyspaces (valid records, so a scan that strayed
 * would show them), keys of other models in the default keyspace, the old
 * layout without a keyspace, and raw keys sorting right before and after
 * the namespace must never show up in a strings scan. */
static void put_neighbours(orbit_kv *kv)
{
    static const uint64_t others[] = {ORBIT_KEYSPACE_SYSTEM, 2, 256, ORBIT_ID_MAX};
    static const char *const ukeys[] = {"", "a", "b:1", "\xff\xff"};
    orbit_buf k = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT;
    orbit_record_meta m;
    memset(&m, 0, sizeof m);
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        for (size_t j = 0; j < sizeof ukeys / sizeof ukeys[0]; j++) {
            k.len = rec.len = 0;
            assert_int_equal(orbit_key_kv(&k, others[i], ukeys[j], strlen(ukeys[j])), 0);
            assert_int_equal(orbit_record_encode(&rec, k.data, k.len, &m, NULL,
                                                 (const uint8_t *)"stray", 5), 0);
            assert_int_equal(orbit_kv_put(kv, k.data, k.len, rec.data, rec.len), 0);
        }
    k.len = 0;
    assert_int_equal(orbit_key_doc(&k, ORBIT_KEYSPACE_DEFAULT, 1, "a", 1), 0);
    assert_int_equal(orbit_kv_put(kv, k.data, k.len, (const uint8_t *)"x", 1), 0);
    k.len = 0;
    assert_int_equal(orbit_key_catalog(&k, ORBIT_KEYSPACE_DEFAULT, "kv", "a", 1), 0);
    assert_int_equal(orbit_kv_put(kv, k.data, k.len, (const uint8_t *)"x", 1), 0);
    k.len = 0; /* ("kv", "a"): the layout before keyspaces */
    assert_int_equal(orbit_tuple_str(&k, "kv"), 0);
    assert_int_equal(orbit_tuple_str(&k, "a"), 0);
    assert_int_equal(orbit_kv_put(kv, k.data, k.len, (const uint8_t *)"x", 1), 0);
    k.len = 0;
    assert_int_equal(orbit_key_keyspace(&k, ORBIT_KEYSPACE_DEFAULT), 0);
    assert_int_equal(orbit_tuple_str(&k, "kv\x01"), 0);
    assert_int_equal(orbit_kv_put(kv, k.data, k.len, (const uint8_t *)"x", 1), 0);
    k.len = 0;
    assert_int_equal(orbit_key_keyspace(&k, ORBIT_KEYSPACE_DEFAULT), 0);
    assert_int_equal(orbit_tuple_str(&k, "ku"), 0);
    assert_int_equal(orbit_kv_put(kv, k.data, k.len, (const uint8_t *)"x", 1), 0);
    k.len = 0; /* the keyspace element alone */
    assert_int_equal(orbit_key_keyspace(&k, ORBIT_KEYSPACE_DEFAULT), 0);
    assert_int_equal(orbit_kv_put(kv, k.data, k.len, (const uint8_t *)"x", 1), 0);
    orbit_buf_release(&k);
    orbit_buf_release(&rec);
}

static void test_scan_fixed(void **state)
{
    orbit_kv *kv = *state;
    put_all(kv);
    put_neighbours(kv);

    orbit_scan_opts so;
    memset(&so, 0, sizeof so);
    check_scan(kv, &so);
    assert_int_equal(orbit_str_scan(kv, NULL, NULL, collect_fn, &(collect){0}), 0);

    so.prefix = (const uint8_t *)"a";
    so.prefix_len = 1;
    check_scan(kv, &so);
    so.prefix = (const uint8_t *)"a\0";
    so.prefix_len = 2;
    check_scan(kv, &so);
    so.prefix = (const uint8_t *)"\xff";
    so.prefix_len = 1;
    check_scan(kv, &so);
    so.reverse = 1;
    check_scan(kv, &so);
    so.prefix = (const uint8_t *)"";
    so.prefix_len = 0;
    check_scan(kv, &so);

    memset(&so, 0, sizeof so);
    so.start = (const uint8_t *)"a\0";
    so.start_len = 2;
    so.end = (const uint8_t *)"b";
    so.end_len = 1;
    check_scan(kv, &so);
    so.limit = 3;
    check_scan(kv, &so);
    so.reverse = 1;
    check_scan(kv, &so);

    memset(&so, 0, sizeof so);
    so.end = (const uint8_t *)"";
    so.end_len = 0;
    check_scan(kv, &so); /* nothing is below "" */

    /* A callback's non-zero value stops the scan and is returned. */
    collect c;
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    memset(&so, 0, sizeof so);
    assert_int_equal(orbit_str_scan(kv, NULL, &so, collect_fn, &c), 99);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.idx[0], 0);
    assert_int_equal(c.idx[1], 1);
}

static void test_scan_random(void **state)
{
    orbit_kv *kv = *state;
    put_all(kv);
    put_neighbours(kv);
    tu_rng r;
    tu_rng_init(&r, tu_seed("test_strings_scan"));
    static const char alpha[] = {'\0', ' ', ':', 'a', 'b', '\xff'};
    for (int round = 0; round < 3000; round++) {
        char s[3], e[3], p[3];
        orbit_scan_opts so;
        memset(&so, 0, sizeof so);
        size_t sl = (size_t)tu_below(&r, 3), el = (size_t)tu_below(&r, 3), pl = (size_t)tu_below(&r, 3);
        for (size_t i = 0; i < 2; i++) {
            s[i] = alpha[tu_below(&r, sizeof alpha)];
            e[i] = alpha[tu_below(&r, sizeof alpha)];
            p[i] = alpha[tu_below(&r, sizeof alpha)];
        }
        if (tu_below(&r, 2)) {
            so.start = (const uint8_t *)s;
            so.start_len = sl;
        }
        if (tu_below(&r, 2)) {
            so.end = (const uint8_t *)e;
            so.end_len = el;
        }
        if (tu_below(&r, 2)) {
            so.prefix = (const uint8_t *)p;
            so.prefix_len = pl;
        }
        so.limit = (size_t)tu_below(&r, 4);
        so.reverse = (int)tu_below(&r, 2);
        check_scan(kv, &so);
    }
}

/* ---- corruption ------------------------------------------------------- */

static void test_corrupt_value(void **state)
{
    orbit_kv *kv = *state;
    put_all(kv);
    orbit_buf key = ORBIT_BUF_INIT, out = ORBIT_BUF_INIT;
    assert_int_equal(orbit_key_kv(&key, ORBIT_KEYSPACE_DEFAULT, "a:bad", 5), 0);
    assert_int_equal(orbit_kv_put(kv, key.data, key.len, (const uint8_t *)"not a record at all", 19), 0);

    assert_int_equal(orbit_str_get(kv, NULL, (const uint8_t *)"a:bad", 5, &out), ORBIT_ECORRUPT);
    assert_int_equal(out.len, 0);
    assert_non_null(strstr(orbit_last_error_detail(), "\\x15\\x01\\x01kv\\x00\\x01a:bad\\x00"));

    seen s = {0, ORBIT_BUF_INIT, 0};
    assert_int_equal(orbit_str_get_with(kv, NULL, (const uint8_t *)"a:bad", 5, seen_fn, &s),
                     ORBIT_ECORRUPT);
    assert_int_equal(s.calls, 0);
    assert_non_null(strstr(orbit_last_error_detail(), "a:bad"));

    /* A scan reaching it stops with ECORRUPT; one that does not is fine. */
    collect c;
    memset(&c, 0, sizeof c);
    orbit_scan_opts so;
    memset(&so, 0, sizeof so);
    assert_int_equal(orbit_str_scan(kv, NULL, &so, collect_fn, &c), ORBIT_ECORRUPT);
    assert_non_null(strstr(orbit_last_error_detail(), "a:bad"));
    so.prefix = (const uint8_t *)"b";
    so.prefix_len = 1;
    check_scan(kv, &so);

    /* A valid record with one flipped bit. */
    assert_int_equal(orbit_kv_del(kv, key.data, key.len), 0);
    assert_int_equal(orbit_str_put(kv, NULL, (const uint8_t *)"a:bad", 5, (const uint8_t *)"ok", 2), 0);
    orbit_buf raw = ORBIT_BUF_INIT;
    assert_int_equal(orbit_kv_get(kv, NULL, key.data, key.len, &raw), 0);
    raw.data[raw.len / 2] ^= 0x10;
    assert_int_equal(orbit_kv_put(kv, key.data, key.len, raw.data, raw.len), 0);
    assert_int_equal(orbit_str_get(kv, NULL, (const uint8_t *)"a:bad", 5, &out), ORBIT_ECORRUPT);
    assert_non_null(strstr(orbit_last_error_detail(), "checksum mismatch"));

    orbit_buf_release(&raw);
    orbit_buf_release(&key);
    orbit_buf_release(&out);
    orbit_buf_release(&s.val);
}

/* A valid record copied under another key (a misdirected write, a store
 * that mixed up keys) fails verification wherever it is read: get,
 * get_with and scans. */
static void test_value_under_wrong_key(void **state)
{
    orbit_kv *kv = *state;
    orbit_buf from = ORBIT_BUF_INIT, to = ORBIT_BUF_INIT, raw = ORBIT_BUF_INIT,
              out = ORBIT_BUF_INIT;
    assert_int_equal(orbit_str_put(kv, NULL, (const uint8_t *)"src", 3, (const uint8_t *)"v1", 2),
                     0);
    assert_int_equal(orbit_str_put(kv, NULL, (const uint8_t *)"dst", 3, (const uint8_t *)"v2", 2),
                     0);
    assert_int_equal(orbit_key_kv(&from, ORBIT_KEYSPACE_DEFAULT, "src", 3), 0);
    assert_int_equal(orbit_key_kv(&to, ORBIT_KEYSPACE_DEFAULT, "dst", 3), 0);
    assert_int_equal(orbit_kv_get(kv, NULL, from.data, from.len, &raw), 0);
    assert_int_equal(orbit_kv_put(kv, to.data, to.len, raw.data, raw.len), 0);

    assert_int_equal(orbit_str_get(kv, NULL, (const uint8_t *)"src", 3, &out), 0);
    assert_int_equal(out.len, 2);
    assert_int_equal(orbit_str_get(kv, NULL, (const uint8_t *)"dst", 3, &out), ORBIT_ECORRUPT);
    assert_int_equal(out.len, 0);
    assert_non_null(strstr(orbit_last_error_detail(), "dst"));
    assert_non_null(strstr(orbit_last_error_detail(), "checksum mismatch"));
    seen s = {0, ORBIT_BUF_INIT, 0};
    assert_int_equal(orbit_str_get_with(kv, NULL, (const uint8_t *)"dst", 3, seen_fn, &s),
                     ORBIT_ECORRUPT);
    assert_int_equal(s.calls, 0);
    collect c;
    memset(&c, 0, sizeof c);
    assert_int_equal(orbit_str_scan(kv, NULL, NULL, collect_fn, &c), ORBIT_ECORRUPT);
    assert_non_null(strstr(orbit_last_error_detail(), "dst"));

    /* The same record under the same user key of another keyspace. */
    orbit_buf other = ORBIT_BUF_INIT;
    assert_int_equal(orbit_key_kv(&other, 2, "src", 3), 0);
    const uint8_t *p;
    size_t n;
    assert_int_equal(orbit_record_decode(raw.data, raw.len, other.data, other.len, NULL, NULL,
                                         &p, &n), ORBIT_ECORRUPT);
    assert_int_equal(orbit_record_decode(raw.data, raw.len, from.data, from.len, NULL, NULL,
                                         &p, &n), 0);
    orbit_buf_release(&other);
    orbit_buf_release(&from);
    orbit_buf_release(&to);
    orbit_buf_release(&raw);
    orbit_buf_release(&out);
    orbit_buf_release(&s.val);
}

static void test_non_plain_key_in_namespace(void **state)
{
    orbit_kv *kv = *state;
    orbit_buf key = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT;
    assert_int_equal(orbit_key_kv(&key, ORBIT_KEYSPACE_DEFAULT, "x", 1), 0);
    assert_int_equal(orbit_tuple_int(&key, 5), 0);
    orbit_record_meta m;
    memset(&m, 0, sizeof m);
    assert_int_equal(orbit_record_encode(&rec, key.data, key.len, &m, NULL,
                                         (const uint8_t *)"v", 1), 0);
    assert_int_equal(orbit_kv_put(kv, key.data, key.len, rec.data, rec.len), 0);
    collect c;
    memset(&c, 0, sizeof c);
    assert_int_equal(orbit_str_scan(kv, NULL, NULL, collect_fn, &c), ORBIT_ECORRUPT);
    assert_non_null(strstr(orbit_last_error_detail(), "not a plain key"));
    orbit_buf_release(&key);
    orbit_buf_release(&rec);
}

static int count_fn(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)v;
    (void)vl;
    assert_true(kl > 3 && memcmp(k, "t3:", 3) == 0);
    ++*(size_t *)arg;
    return 0;
}

/* ---- threads ---------------------------------------------------------- */

typedef struct worker {
    orbit_kv *kv;
    int id;
    int failures;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    uint8_t val[3000];
    orbit_buf out = ORBIT_BUF_INIT;
    orbit_str_opts o;
    memset(&o, 0, sizeof o);
    o.record.compression = w->id % 2 ? ORBIT_COMPRESS_ZSTD : ORBIT_COMPRESS_LZ4;
    for (int i = 0; i < 200; i++) {
        char key[32];
        int kl = snprintf(key, sizeof key, "t%d:%d", w->id, i);
        size_t vl = (size_t)(i * 15) % sizeof val;
        memset(val, 'a' + w->id, vl);
        if (orbit_str_put(w->kv, &o, (const uint8_t *)key, (size_t)kl, val, vl) != 0 ||
            orbit_str_get(w->kv, NULL, (const uint8_t *)key, (size_t)kl, &out) != 0 ||
            out.len != vl || (vl && memcmp(out.data, val, vl) != 0))
            w->failures++;
    }
    orbit_buf_release(&out);
    return NULL;
}

/* The 64 MiB limit is on the caller's value, inclusive (a record envelope
 * comes on top), the same on memory: and rocksdb:, and the error quotes the
 * caller's size and the limit, never the record's size. */
static void value_limit_on(orbit_kv *kv)
{
    const size_t max = (size_t)64 << 20;
    uint8_t *v = malloc(max + 1);
    assert_non_null(v);
    for (size_t i = 0; i < max + 1; i++)
        v[i] = (uint8_t)(i * 131 + (i >> 16));
    const uint8_t *k = (const uint8_t *)"big";

    assert_int_equal(orbit_str_put(kv, NULL, k, 3, v, max), 0);
    orbit_buf out = ORBIT_BUF_INIT;
    assert_int_equal(orbit_str_get(kv, NULL, k, 3, &out), 0);
    assert_int_equal(out.len, max);
    assert_memory_equal(out.data, v, max);
    assert_int_equal(orbit_str_del(kv, k, 3), 0);

    assert_int_equal(orbit_str_put(kv, NULL, k, 3, v, max + 1), ORBIT_ETOOBIG);
    const char *d = orbit_last_error_detail();
    if (!strstr(d, "value of 67108865 bytes") || !strstr(d, "limit of 67108864 bytes"))
        fail_msg("detail \"%s\" does not quote the value's size and the limit", d);
    assert_int_equal(orbit_str_get(kv, NULL, k, 3, &out), ORBIT_NOTFOUND);

    /* An envelope that outgrows the provider's room (a 100 KB actor name):
     * the error still speaks of the caller's value and what fits. */
    char *actor = malloc(100001);
    assert_non_null(actor);
    memset(actor, 'a', 100000);
    actor[100000] = '\0';
    orbit_str_opts o = {.actor_type = actor, .actor_id = "x"};
    assert_int_equal(orbit_str_put(kv, &o, k, 3, v, max), ORBIT_ETOOBIG);
    d = orbit_last_error_detail();
    if (!strstr(d, "value of 67108864 bytes") || !strstr(d, "record envelope"))
        fail_msg("detail \"%s\"", d);
    assert_int_equal(orbit_str_get(kv, NULL, k, 3, &out), ORBIT_NOTFOUND);
    free(actor);
    orbit_buf_release(&out);
    free(v);
}

static void test_value_limit(void **state)
{
    value_limit_on(*state);
#ifdef ORBIT_HAVE_ROCKSDB
    char *dir = tu_tempdir("strlim");
    char uri[1100];
    snprintf(uri, sizeof uri, "rocksdb:%s/db", dir);
    orbit_kv *kv = NULL;
    assert_int_equal(orbit_kv_open(uri, &kv), 0);
    value_limit_on(kv);
    orbit_capabilities a, b;
    orbit_kv_capabilities(kv, &a);
    orbit_kv_capabilities(*state, &b);
    assert_int_equal(a.max_value_size, b.max_value_size);
    orbit_kv_close(kv);
    tu_rmdir(dir);
#endif
}

static void test_threads(void **state)
{
    orbit_kv *kv = *state;
    enum { T = 4 };
    pthread_t th[T];
    worker w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker){kv, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    orbit_scan_opts so;
    memset(&so, 0, sizeof so);
    so.prefix = (const uint8_t *)"t3:";
    so.prefix_len = 3;
    size_t count = 0;
    assert_int_equal(orbit_str_scan(kv, NULL, &so, count_fn, &count), 0);
    assert_int_equal(count, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_del, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_with, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stored_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compressed_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_fixed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_random, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_under_wrong_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_plain_key_in_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, 0, 0);
}
