/*
 * libFuzzer target for the HTTP API's request-target parser and router
 * (src/server/http_route.c), the part of orbitd's HTTP handling that is
 * not libevent's. The input's first byte picks the method; the rest is the
 * raw target, split at the first '?' into path and query as evhttp hands
 * them over. Properties: parsing never reads outside the input, succeeds
 * or fails with a reason, and on success every segment is non-empty, at
 * most the path's length and NUL-terminated, the decoded /v1/kv/ rest is
 * no longer than the path, parameters are bounded, the route found (if
 * any) matches the segment count of its pattern, and parsing the same
 * input twice gives the same result.
 *
 * Built by tests/http/tests.cmake with clang (target fuzz_http, CTest
 * fuzz/http replays 20000 inputs):
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug
 *   cmake --build build-fuzz --target fuzz_http
 *   mkdir -p /tmp/corpus-http && build-fuzz/tests/fuzz_http /tmp/corpus-http -max_total_time=300
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

static size_t pattern_segs(const char *p)
{
    size_t n = 0;
    for (; *p; p++)
        n += *p == '/';
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned method = 1u << (data[0] % 7);
    /* copies of exactly the bytes given, so ASan sees any overread */
    size_t n = size - 1;
    const uint8_t *q = memchr(data + 1, '?', n);
    size_t plen = q ? (size_t)(q - (data + 1)) : n;
    size_t qlen = q ? n - plen - 1 : 0;
    char *path = malloc(plen ? plen : 1);
    char *query = q ? malloc(qlen ? qlen : 1) : NULL;
    check(path != NULL && (!q || query != NULL));
    memcpy(path, data + 1, plen);
    if (q)
        memcpy(query, q + 1, qlen);

    srv_http_target t, t2;
    const char *why = NULL, *why2 = NULL;
    int rc = srv_http_parse(path, plen, query, qlen, &t, &why);
    int rc2 = srv_http_parse(path, plen, query, qlen, &t2, &why2);
    check(rc == rc2);
    check(rc == 0 || rc == -1 || rc == -2);
    if (rc == -1)
        check(why != NULL && why == why2);
    if (rc == 0) {
        check(t.nseg <= SRV_HTTP_MAX_SEGS && t.nparam <= SRV_HTTP_MAX_PARAMS);
        check(t.nseg == t2.nseg && t.nparam == t2.nparam);
        for (size_t i = 0; i < t.nseg; i++) {
            check(t.seg[i].n > 0 && t.seg[i].n <= plen && t.seg[i].p[t.seg[i].n] == 0);
            check(t.seg[i].n == t2.seg[i].n && !memcmp(t.seg[i].p, t2.seg[i].p, t.seg[i].n));
        }
        if (t.has_rest)
            check(t.rest.n <= plen && t.rest.p[t.rest.n] == 0);
        for (size_t i = 0; i < t.nparam; i++) {
            check(t.pname[i].n + t.pval[i].n <= qlen);
            check(t.pname[i].p[t.pname[i].n] == 0 && t.pval[i].p[t.pval[i].n] == 0);
            check(srv_http_param(&t, t.pname[i].p) != NULL || strlen(t.pname[i].p) != t.pname[i].n);
        }
        const srv_http_route_def *r = NULL;
        int rr = srv_http_route(&t, method, &r);
        check(rr >= -1 && rr <= 1);
        if (rr >= 0) {
            check(r != NULL && r->pattern != NULL);
            if (!strstr(r->pattern, "{...}"))
                check(pattern_segs(r->pattern) == t.nseg);
            else
                check(t.nseg >= pattern_segs(r->pattern));
            check(rr == 0 ? (r->methods & method) != 0 : (r->methods & method) == 0);
        }
        srv_http_target_release(&t);
        srv_http_target_release(&t2);
    }
    free(path);
    free(query);
    return 0;
}
