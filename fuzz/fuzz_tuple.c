/*
 * libFuzzer target for the tuple decoder (src/codec/tuple.c) over arbitrary
 * keys. Properties checked on every input: orbit_tuple_next either decodes
 * every element or fails with ORBIT_ECORRUPT (never reads out of bounds);
 * a fully decoded input re-encodes to exactly the same bytes (the encoding
 * is canonical); two integer elements in a row compare by memcmp of their
 * encodings as their values do; orbit_key_kv_decode agrees with
 * orbit_key_kv; a key whose first element is a valid keyspace id lies in
 * that keyspace's orbit_key_keyspace_range.
 *
 * Run (clang only; fuzz/CMakeLists.txt builds it):
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug
 *   cmake --build build-fuzz --target fuzz_tuple
 *   mkdir -p /tmp/corpus-tuple && build-fuzz/fuzz/fuzz_tuple /tmp/corpus-tuple -max_total_time=300
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "orbit/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The contract's key order: memcmp, then the shorter first. */
static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    orbit_buf body = ORBIT_BUF_INIT, re = ORBIT_BUF_INIT, user = ORBIT_BUF_INIT;
    size_t pos = 0, prev_at = 0, prev_len = 0;
    int have_prev = 0;
    int64_t prev_i = 0;
    int rc;
    for (;;) {
        orbit_tuple_item it;
        memset(&it, 0, sizeof it);
        it.bytes_out = &body;
        size_t before = pos;
        rc = orbit_tuple_next(data, size, &pos, &it);
        if (rc)
            break;
        check(pos > before && pos <= size);
        switch (it.type) {
        case ORBIT_TUPLE_BYTES: rc = orbit_tuple_bytes(&re, body.data, body.len); break;
        case ORBIT_TUPLE_INT: rc = orbit_tuple_int(&re, it.i); break;
        case ORBIT_TUPLE_DOUBLE: rc = orbit_tuple_double(&re, it.d); break;
        case ORBIT_TUPLE_BOOL: rc = orbit_tuple_bool(&re, it.b); break;
        default: check(0);
        }
        check(rc == 0);
        /* The re-encoding so far equals the input up to pos. */
        check(re.len == pos && memcmp(re.data, data, pos) == 0);
        if (it.type == ORBIT_TUPLE_INT) {
            if (have_prev) {
                int c = key_cmp(data + prev_at, prev_len, data + before, pos - before);
                check((c < 0) == (prev_i < it.i) && (c == 0) == (prev_i == it.i));
            }
            have_prev = 1;
            prev_i = it.i;
            prev_at = before;
            prev_len = pos - before;
        } else {
            have_prev = 0;
        }
    }
    check(rc == ORBIT_NOTFOUND || rc == ORBIT_ECORRUPT);
    if (rc == ORBIT_NOTFOUND)
        check(pos == size);

    uint64_t ks = 0;
    rc = orbit_key_kv_decode(data, size, &ks, &user);
    check(rc == 0 || rc == ORBIT_EINVAL || rc == ORBIT_ECORRUPT);
    if (rc == 0) {
        re.len = 0;
        check(orbit_key_kv(&re, ks, user.data, user.len) == 0);
        check(re.len == size && memcmp(re.data, data, size) == 0);
    }

    /* A key starting with a keyspace id lies in that keyspace's range. */
    pos = 0;
    orbit_tuple_item first;
    memset(&first, 0, sizeof first);
    if (orbit_tuple_next(data, size, &pos, &first) == 0 && first.type == ORBIT_TUPLE_INT &&
        first.i >= 0) {
        orbit_buf lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT;
        check(orbit_key_keyspace_range(&lo, &hi, (uint64_t)first.i) == 0);
        check(key_cmp(lo.data, lo.len, data, size) <= 0);
        check(key_cmp(data, size, hi.data, hi.len) < 0);
        orbit_buf_release(&lo);
        orbit_buf_release(&hi);
    }

    orbit_buf_release(&body);
    orbit_buf_release(&re);
    orbit_buf_release(&user);
    return 0;
}
