/*
 * libFuzzer target for the JSON path parser and evaluator
 * (src/model/jsonpath.c). The input's first line is a path, the rest a
 * JSON document. Properties: parsing returns 0 or ORBIT_EINVAL (an empty
 * path on failure) and never reads past the NUL; a parsed path evaluates
 * on any document without crashing; a definite path has at most one
 * match, and orbit__jpath_get1 returns exactly it.
 *
 * Run (clang only; fuzz/CMakeLists.txt builds it with jansson and
 * src/model/jsonpath.c):
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug
 *   cmake --build build-fuzz --target fuzz_jsonpath
 *   mkdir -p /tmp/corpus-jsonpath && build-fuzz/fuzz/fuzz_jsonpath /tmp/corpus-jsonpath -max_total_time=300
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model/jsonpath_int.h"
#include "orbit/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *path = malloc(plen + 1);
    if (!path)
        return 0;
    memcpy(path, data, plen);
    path[plen] = '\0';
    orbit__jpath p;
    int rc = orbit__jpath_parse(path, &p);
    check(rc == 0 || rc == ORBIT_EINVAL);
    if (rc) {
        check(p.n == 0 && p.segs == NULL);
        free(path);
        return 0;
    }
    json_error_t err;
    json_t *doc = nl ? json_loadb((const char *)nl + 1, size - plen - 1, JSON_DECODE_ANY, &err)
                     : json_loads("{\"a\":[1,{\"b\":2}],\"c\":{\"a\":3}}", 0, &err);
    if (doc) {
        orbit__jp_matches m = {0};
        if (orbit__jpath_eval(&p, p.n, doc, &m) == 0 && p.definite) {
            check(m.n <= 1);
            json_t *one = orbit__jpath_get1(&p, doc);
            check(m.n == 0 ? one == NULL : one == m.m[0].value);
        }
        orbit__jp_matches_release(&m);
        json_decref(doc);
    }
    orbit__jpath_release(&p);
    free(path);
    return 0;
}
