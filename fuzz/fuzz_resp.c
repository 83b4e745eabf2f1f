/*
 * libFuzzer target for orbitd's RESP request parser (src/server/resp.c).
 * The input's first byte picks a chunk size; the rest is fed to the parser
 * the way the server feeds it (the unparsed command always at the start
 * of the buffer, more bytes appended as they "arrive"). Properties: the
 * parser never reads outside what it was given, never reports a command
 * longer than the input or of length 0, and the commands and the error it
 * finds fed in chunks are exactly those it finds given everything at once.
 * A small max_bulk makes the bulk-length limit reachable.
 *
 * Run (clang only; fuzz/CMakeLists.txt builds it):
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug
 *   cmake --build build-fuzz --target fuzz_resp
 *   mkdir -p /tmp/corpus-resp && build-fuzz/fuzz/fuzz_resp /tmp/corpus-resp -max_total_time=300
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

/* Every command's arguments, concatenated with lengths, then the outcome. */
static void parse_all(const uint8_t *in, size_t n, size_t chunk, orbit_buf *trace)
{
    resp_parser p;
    resp_parser_init(&p, 4096);
    uint8_t *buf = malloc(n ? n : 1);
    check(buf != NULL);
    size_t have = 0, fed = 0; /* buf[0..have) unparsed; in[0..fed) delivered */
    int done = 0;
    while (!done) {
        if (fed < n) {
            size_t k = chunk ? chunk : n;
            if (k > n - fed)
                k = n - fed;
            memcpy(buf + have, in + fed, k);
            have += k;
            fed += k;
        }
        for (;;) {
            size_t consumed = 0;
            int argc = 0;
            const orbit_slice *argv = NULL;
            int rc = resp_parse(&p, buf, have, &consumed, &argc, &argv);
            if (rc == RESP_MORE) {
                if (fed == n) {
                    orbit_buf_append(trace, "M", 1);
                    done = 1;
                }
                break;
            }
            if (rc == RESP_ERR) {
                orbit_buf_append(trace, "E", 1);
                orbit_buf_append(trace, p.err, strlen(p.err));
                done = 1;
                break;
            }
            check(rc == RESP_OK);
            check(consumed > 0 && consumed <= have);
            orbit_buf_append(trace, "C", 1);
            for (int i = 0; i < argc; i++) {
                check(argv[i].len <= 4096 || argv[i].len <= have);
                /* the bytes must be readable (ASan checks) */
                uint8_t sum = 0;
                for (size_t j = 0; j < argv[i].len; j++)
                    sum ^= argv[i].data[j];
                (void)sum;
                uint32_t l = (uint32_t)argv[i].len;
                orbit_buf_append(trace, &l, sizeof l);
                orbit_buf_append(trace, argv[i].data, argv[i].len);
            }
            memmove(buf, buf + consumed, have - consumed);
            have -= consumed;
        }
    }
    free(buf);
    resp_parser_release(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)(data[0] % 17) + 1;
    orbit_buf a = ORBIT_BUF_INIT, b = ORBIT_BUF_INIT;
    parse_all(data + 1, size - 1, 0, &a);
    parse_all(data + 1, size - 1, chunk, &b);
    check(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
    orbit_buf_release(&a);
    orbit_buf_release(&b);
    return 0;
}
