/*
 * A user program of an installed liborbit, built by test_install.sh with
 * nothing but `pkg-config --cflags --libs orbit`: it includes the public
 * umbrella header, opens each store URI given on the command line (memory:,
 * rocksdb:DIR), puts a key through the contract layer (orbit_kv_put) and
 * through the strings model (orbit_str_put), reads both back and checks
 * the values. That the URIs open at all shows the shared library's
 * constructor registered the built-in providers. Exit 0 when every check
 * holds; otherwise it prints which one failed and exits 1.
 */
#include <stdio.h>
#include <string.h>

#include <orbit/orbit.h>

static int fail(const char *uri, const char *what, int rc)
{
    fprintf(stderr, "hello: %s: %s: %s (%s)\n", uri, what, orbit_strerror(rc),
            orbit_last_error_detail());
    return 1;
}

static int check(const char *uri)
{
    static const uint8_t key[] = "hello", val[] = "world";
    orbit_kv *kv = NULL;
    orbit_buf got = ORBIT_BUF_INIT;
    int rc = orbit_kv_open(uri, &kv);
    if (rc)
        return fail(uri, "open", rc);
    int bad = 0;
    if ((rc = orbit_kv_put(kv, key, 5, val, 5)) != 0)
        bad = fail(uri, "kv put", rc);
    else if ((rc = orbit_kv_get(kv, NULL, key, 5, &got)) != 0)
        bad = fail(uri, "kv get", rc);
    else if (got.len != 5 || memcmp(got.data, val, 5) != 0)
        bad = fail(uri, "kv get: wrong value", ORBIT_ECORRUPT);
    else if ((rc = orbit_str_put(kv, NULL, key, 5, val + 1, 4)) != 0)
        bad = fail(uri, "str put", rc);
    else if ((rc = orbit_str_get(kv, NULL, key, 5, &got)) != 0)
        bad = fail(uri, "str get", rc);
    else if (got.len != 4 || memcmp(got.data, val + 1, 4) != 0)
        bad = fail(uri, "str get: wrong value", ORBIT_ECORRUPT);
    orbit_buf_release(&got);
    orbit_kv_close(kv);
    if (!bad)
        printf("hello: %s: ok\n", uri);
    return bad;
}

int main(int argc, char **argv)
{
    int bad = 0;
    for (int i = 1; i < argc; i++)
        bad |= check(argv[i]);
    return argc > 1 && !bad ? 0 : 1;
}
