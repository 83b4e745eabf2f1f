/*
 * libFuzzer target for the tuple decoder (src/codec/tuple.c) over arbitrary
 * keys. Properties checked on every input: orbit_tuple_next either decodes
 * every element or fails with ORBIT_ECORRUPT (never reads out of bounds);
 * a fully decoded input re-encodes to exactly the same bytes (the encoding
 * is canonical); orbit_key_kv_decode agrees with orbit_key_kv.
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

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    orbit_buf body = ORBIT_BUF_INIT, re = ORBIT_BUF_INIT, user = ORBIT_BUF_INIT;
    size_t pos = 0;
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
    }
    check(rc == ORBIT_NOTFOUND || rc == ORBIT_ECORRUPT);
    if (rc == ORBIT_NOTFOUND)
        check(pos == size);

    rc = orbit_key_kv_decode(data, size, &user);
    check(rc == 0 || rc == ORBIT_EINVAL || rc == ORBIT_ECORRUPT);
    if (rc == 0) {
        re.len = 0;
        check(orbit_key_kv(&re, user.data, user.len) == 0);
        check(re.len == size && memcmp(re.data, data, size) == 0);
    }

    orbit_buf_release(&body);
    orbit_buf_release(&re);
    orbit_buf_release(&user);
    return 0;
}
