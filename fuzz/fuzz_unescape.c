/*
 * libFuzzer target for orbit_unescape / orbit_escape (src/codec/escape.c).
 * Properties: unescape of arbitrary text returns 0 or ORBIT_EINVAL and on
 * failure leaves the buffer as it was; escape of arbitrary bytes is
 * printable and unescapes back to the same bytes; and what unescape
 * accepted survives an escape/unescape round trip.
 *
 * Run (clang only; fuzz/CMakeLists.txt builds it):
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug
 *   cmake --build build-fuzz --target fuzz_unescape
 *   mkdir -p /tmp/corpus-unescape && build-fuzz/fuzz/fuzz_unescape /tmp/corpus-unescape -max_total_time=300
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

/* escape(p) is printable and unescapes to p. */
static void round_trip(const uint8_t *p, size_t n)
{
    orbit_buf esc = ORBIT_BUF_INIT, back = ORBIT_BUF_INIT;
    check(orbit_escape(&esc, p, n) == 0);
    for (size_t i = 0; i < esc.len; i++)
        check(esc.data[i] >= 0x20 && esc.data[i] < 0x7F);
    check(orbit_unescape(&back, (const char *)esc.data, esc.len) == 0);
    check(back.len == n && (n == 0 || memcmp(back.data, p, n) == 0));
    orbit_buf_release(&esc);
    orbit_buf_release(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    orbit_buf out = ORBIT_BUF_INIT;
    check(orbit_buf_append(&out, "pre", 3) == 0);
    int rc = orbit_unescape(&out, (const char *)data, size);
    check(rc == 0 || rc == ORBIT_EINVAL);
    check(out.len >= 3 && memcmp(out.data, "pre", 3) == 0);
    if (rc == 0) {
        check(out.len - 3 <= size);
        round_trip(out.data + 3, out.len - 3);
    } else {
        check(out.len == 3);
    }
    round_trip(data, size);
    orbit_buf_release(&out);
    return 0;
}
