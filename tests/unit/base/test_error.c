/*
 * Tests for src/base/error.c and src/base/buf.c: the error list's derived
 * tables agree, the retryable predicate (EUNCERTAIN is not retryable),
 * per-thread detail, each async op's own detail, buffer growth.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "orbit/provider.h"

static void test_every_code_has_name_and_message(void **state)
{
    (void)state;
#define X(name, val, retry, msg)                                  \
    assert_string_equal(orbit_err_name(ORBIT_##name), #name);     \
    assert_string_equal(orbit_strerror(ORBIT_##name), msg);       \
    assert_int_equal(orbit_err_retryable(ORBIT_##name), retry);   \
    assert_true(ORBIT_##name < 0);
    ORBIT_ERRNO_MAP(X)
#undef X
    assert_string_equal(orbit_err_name(ORBIT_OK), "OK");
    assert_string_equal(orbit_err_name(ORBIT_NOTFOUND), "NOTFOUND");
    assert_string_equal(orbit_err_name(ORBIT_CMPFAIL), "CMPFAIL");
    assert_true(ORBIT_CMPFAIL > 0);
    assert_string_not_equal(orbit_strerror(ORBIT_CMPFAIL), "unknown error");
    assert_string_equal(orbit_err_name(ORBIT_EUNCERTAIN), "EUNCERTAIN");
    assert_string_equal(orbit_err_name(ORBIT_ECOMPACTED), "ECOMPACTED");
    assert_string_equal(orbit_err_name(ORBIT_ENOSPACE), "ENOSPACE");
    assert_int_equal(ORBIT_EUNCERTAIN, -17);
    assert_int_equal(ORBIT_ECOMPACTED, -18);
    assert_int_equal(ORBIT_ENOSPACE, -19);
    assert_string_equal(orbit_strerror(-9999), "unknown error");
    assert_string_equal(orbit_err_name(-9999), "UNKNOWN_CODE");
    /* Every code from -1 down to the last has a name and a message: the
     * list has no holes. */
    int n = 0;
#define COUNT(name, val, retry, msg) n++;
    ORBIT_ERRNO_MAP(COUNT)
#undef COUNT
    for (int code = -1; code >= -n; code--) {
        assert_string_not_equal(orbit_err_name(code), "UNKNOWN_CODE");
        assert_string_not_equal(orbit_strerror(code), "unknown error");
    }
}

static void test_retryable_set(void **state)
{
    (void)state;
    assert_true(orbit_err_retryable(ORBIT_ECONFLICT));
    assert_true(orbit_err_retryable(ORBIT_EBUSY));
    assert_true(orbit_err_retryable(ORBIT_EUNAVAIL));
    assert_true(orbit_err_retryable(ORBIT_ETIMEDOUT));
    assert_false(orbit_err_retryable(ORBIT_ECORRUPT));
    assert_false(orbit_err_retryable(ORBIT_EINVAL));
    assert_false(orbit_err_retryable(ORBIT_OK));
    assert_false(orbit_err_retryable(ORBIT_NOTFOUND));
    /* An outcome that may have been applied must not be retried blindly. */
    assert_false(orbit_err_retryable(ORBIT_EUNCERTAIN));
    /* A compacted read version: take a newer one and retry. */
    assert_true(orbit_err_retryable(ORBIT_ECOMPACTED));
    assert_false(orbit_err_retryable(ORBIT_ENOSPACE));
    assert_false(orbit_err_retryable(ORBIT_CMPFAIL));
}

static void test_op_detail(void **state)
{
    (void)state;
    orbit_kv_op a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    assert_int_equal(orbit_op_fail(&a, ORBIT_EUNCERTAIN, "op %d lost", 1), ORBIT_EUNCERTAIN);
    assert_int_equal(a.result, ORBIT_EUNCERTAIN);
    assert_string_equal(a.detail, "op 1 lost");
    assert_string_equal(orbit_last_error_detail(), "op 1 lost");
    orbit_error_set(ORBIT_EIO, "disk says %s", "no");
    orbit_op_take_detail(&b);
    assert_string_equal(b.detail, "disk says no");
    assert_string_equal(a.detail, "op 1 lost"); /* each op keeps its own */
    /* A long detail is cut to fit, terminated. */
    char longer[400];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    orbit_op_fail(&a, ORBIT_EIO, "%s", longer);
    assert_int_equal(strlen(a.detail), ORBIT_OP_DETAIL_MAX - 1);
    assert_int_equal(strlen(orbit_last_error_detail()), sizeof longer - 1);
}

static void *other_thread(void *arg)
{
    (void)arg;
    orbit_error_set(ORBIT_EIO, "from the other thread");
    return NULL;
}

static void test_detail_is_per_thread(void **state)
{
    (void)state;
    assert_int_equal(orbit_error_set(ORBIT_ECORRUPT, "key %s", "k1"), ORBIT_ECORRUPT);
    pthread_t t;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    assert_string_equal(orbit_last_error_detail(), "key k1");
    orbit_error_clear();
    assert_string_equal(orbit_last_error_detail(), "");
}

static void test_buf_growth(void **state)
{
    (void)state;
    orbit_buf b = ORBIT_BUF_INIT;
    for (int i = 0; i < 1000; i++) {
        uint8_t c = (uint8_t)i;
        assert_int_equal(orbit_buf_append(&b, &c, 1), 0);
    }
    assert_int_equal(b.len, 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(b.data[i], (uint8_t)i);
    assert_int_equal(orbit_buf_set(&b, "xy", 2), 0);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "xy", 2);
    assert_int_equal(orbit_buf_reserve(&b, SIZE_MAX), ORBIT_ENOMEM);
    assert_int_equal(b.len, 2);
    orbit_buf_release(&b);
    assert_null(b.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_name_and_message),
        cmocka_unit_test(test_retryable_set),
        cmocka_unit_test(test_detail_is_per_thread),
        cmocka_unit_test(test_op_detail),
        cmocka_unit_test(test_buf_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
