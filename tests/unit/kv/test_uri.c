/*
 * Tests for src/kv/uri.c: store URI parsing and option bookkeeping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "orbit/provider.h"

static void test_forms(void **state)
{
    (void)state;
    orbit_uri *u;
    assert_int_equal(orbit_uri_parse("memory:", &u), 0);
    assert_string_equal(orbit_uri_scheme(u), "memory");
    assert_string_equal(orbit_uri_body(u), "");
    assert_int_equal(orbit_uri_check_unused(u), 0);
    orbit_uri_free(u);

    assert_int_equal(orbit_uri_parse("RocksDB:./data dir?sync=always&cache_mb=8", &u), 0);
    assert_string_equal(orbit_uri_scheme(u), "rocksdb");
    assert_string_equal(orbit_uri_body(u), "./data dir");
    assert_string_equal(orbit_uri_param(u, "sync"), "always");
    uint64_t mb;
    assert_int_equal(orbit_uri_param_u64(u, "cache_mb", 64, &mb), 0);
    assert_int_equal(mb, 8);
    assert_int_equal(orbit_uri_check_unused(u), 0);
    orbit_uri_free(u);

    assert_int_equal(orbit_uri_parse("etcd://127.0.0.1:2379,127.0.0.1:2381?namespace=a%2Fb", &u), 0);
    assert_string_equal(orbit_uri_scheme(u), "etcd");
    assert_string_equal(orbit_uri_body(u), "127.0.0.1:2379,127.0.0.1:2381");
    assert_string_equal(orbit_uri_param(u, "namespace"), "a/b");
    orbit_uri_free(u);
}

static void test_unused_option_is_named(void **state)
{
    (void)state;
    orbit_uri *u;
    assert_int_equal(orbit_uri_parse("memory:?txn=optimistic&bogus=1", &u), 0);
    assert_string_equal(orbit_uri_param(u, "txn"), "optimistic");
    assert_int_equal(orbit_uri_check_unused(u), ORBIT_EINVAL);
    assert_non_null(strstr(orbit_last_error_detail(), "bogus"));
    orbit_uri_free(u);
}

static void test_typed_params(void **state)
{
    (void)state;
    orbit_uri *u;
    uint64_t v;
    int b;
    assert_int_equal(orbit_uri_parse("x:?n=12x&m=-1&f=maybe&t=on", &u), 0);
    assert_int_equal(orbit_uri_param_u64(u, "n", 0, &v), ORBIT_EINVAL);
    assert_int_equal(orbit_uri_param_u64(u, "m", 0, &v), ORBIT_EINVAL);
    assert_int_equal(orbit_uri_param_u64(u, "absent", 7, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(orbit_uri_param_bool(u, "f", 0, &b), ORBIT_EINVAL);
    assert_non_null(strstr(orbit_last_error_detail(), "f=maybe"));
    assert_int_equal(orbit_uri_param_bool(u, "t", 0, &b), 0);
    assert_int_equal(b, 1);
    orbit_uri_free(u);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"", "nocolon", ":body", "sch eme:x", "m:?a=1&a=2", "m:?=1",
                         "m:?a=%zz", "m:?a=%4", "m:?a&&b", "m:?a=1&"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        orbit_uri *u = (orbit_uri *)1;
        int rc = orbit_uri_parse(bad[i], &u);
        if (rc != ORBIT_EBADURI)
            fail_msg("\"%s\" gave %d", bad[i], rc);
        assert_null(u);
    }
    orbit_uri *u = (orbit_uri *)1;
    assert_int_equal(orbit_uri_parse(NULL, &u), ORBIT_EINVAL);
}

/* rocksdb: takes a filesystem path; the two forms that are surely mistakes
 * are refused with a hint, everything else is a path. */
static void test_path_forms(void **state)
{
    (void)state;
    struct {
        const char *text, *hint;
    } bad[] = {
        {"rocksdb://tmp/x", "rocksdb:/tmp/x"},
        {"rocksdb:///tmp/x", "rocksdb:/tmp/x"},
        {"ROCKSDB://tmp/x?sync=always", "rocksdb:tmp/x"},
        {"rocksdb:~/x", "$HOME/x"},
        {"rocksdb:~", "$HOME"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        orbit_uri *u = (orbit_uri *)1;
        int rc = orbit_uri_parse(bad[i].text, &u);
        if (rc != ORBIT_EBADURI)
            fail_msg("\"%s\" gave %d", bad[i].text, rc);
        assert_null(u);
        if (!strstr(orbit_last_error_detail(), bad[i].hint))
            fail_msg("\"%s\": the detail \"%s\" lacks the hint %s", bad[i].text, orbit_last_error_detail(),
                     bad[i].hint);
    }
    const char *good[][2] = {
        {"rocksdb:/tmp/x", "/tmp/x"},
        {"rocksdb:tmp/x", "tmp/x"},
        {"rocksdb:./data", "./data"},
        {"rocksdb:/a/~b?sync=off", "/a/~b"},
        {"rocksdb:x~", "x~"},
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        orbit_uri *u = NULL;
        assert_int_equal(orbit_uri_parse(good[i][0], &u), 0);
        assert_string_equal(orbit_uri_body(u), good[i][1]);
        orbit_uri_free(u);
    }
    /* Other schemes keep the "//" form: it is the etcd spelling. */
    orbit_uri *u = NULL;
    assert_int_equal(orbit_uri_parse("etcd://h:1", &u), 0);
    assert_string_equal(orbit_uri_body(u), "h:1");
    orbit_uri_free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_unused_option_is_named),
        cmocka_unit_test(test_typed_params),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_path_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
