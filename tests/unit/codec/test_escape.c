/*
 * Tests of orbit_escape / orbit_unescape (src/codec/escape.c): every byte
 * value round-trips, the escaped form is printable, the extra input escapes
 * are accepted, and malformed escapes are refused without touching `out`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "orbit/codec.h"
#include "testutil.h"

static void test_all_bytes_round_trip(void **state)
{
    (void)state;
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    orbit_buf esc = ORBIT_BUF_INIT, back = ORBIT_BUF_INIT;
    assert_int_equal(orbit_escape(&esc, all, sizeof all), 0);
    for (size_t i = 0; i < esc.len; i++)
        assert_true(esc.data[i] >= 0x20 && esc.data[i] < 0x7F);
    assert_int_equal(orbit_unescape(&back, (const char *)esc.data, esc.len), 0);
    assert_int_equal(back.len, 256);
    assert_memory_equal(back.data, all, 256);

    /* Each byte on its own, too. */
    for (int i = 0; i < 256; i++) {
        uint8_t c = (uint8_t)i;
        esc.len = back.len = 0;
        assert_int_equal(orbit_escape(&esc, &c, 1), 0);
        assert_int_equal(orbit_unescape(&back, (const char *)esc.data, esc.len), 0);
        assert_int_equal(back.len, 1);
        assert_int_equal(back.data[0], c);
    }
    orbit_buf_release(&esc);
    orbit_buf_release(&back);
}

static void test_exact_forms(void **state)
{
    (void)state;
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_escape(&b, "a:b c\\\0\xff\n", 9), 0);
    assert_int_equal(b.len, strlen("a:b c\\\\\\x00\\xff\\x0a"));
    assert_memory_equal(b.data, "a:b c\\\\\\x00\\xff\\x0a", b.len);

    /* Appends, never resets. */
    assert_int_equal(orbit_escape(&b, "z", 1), 0);
    assert_int_equal(b.data[b.len - 1], 'z');

    b.len = 0;
    const char *in = "k\\0\\n\\t\\r\\\\\\x41\\xfF";
    assert_int_equal(orbit_unescape(&b, in, strlen(in)), 0);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "k\0\n\t\r\\A\xff", 8);
    orbit_buf_release(&b);
}

static void test_random_round_trip(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_init(&r, tu_seed("test_escape"));
    orbit_buf esc = ORBIT_BUF_INIT, back = ORBIT_BUF_INIT;
    for (int round = 0; round < 2000; round++) {
        uint8_t in[40];
        size_t n = (size_t)tu_below(&r, sizeof in + 1);
        for (size_t i = 0; i < n; i++)
            in[i] = (uint8_t)tu_rand(&r);
        esc.len = back.len = 0;
        assert_int_equal(orbit_escape(&esc, in, n), 0);
        assert_int_equal(orbit_unescape(&back, (const char *)esc.data, esc.len), 0);
        assert_int_equal(back.len, n);
        if (n)
            assert_memory_equal(back.data, in, n);
    }
    orbit_buf_release(&esc);
    orbit_buf_release(&back);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\\", "abc\\", "\\x", "\\x4", "\\xg0", "\\x0g", "\\q", "\\ ", "ok\\x1", "\\X41", "\\\\\\",
    };
    orbit_buf b = ORBIT_BUF_INIT;
    assert_int_equal(orbit_buf_append(&b, "keep", 4), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(orbit_unescape(&b, bad[i], strlen(bad[i])), ORBIT_EINVAL);
        assert_int_equal(b.len, 4);
        assert_memory_equal(b.data, "keep", 4);
        assert_non_null(strstr(orbit_last_error_detail(), "malformed escape"));
    }
    /* The length bounds the input: a "\x41" cut short is malformed. */
    assert_int_equal(orbit_unescape(&b, "\\x41", 3), ORBIT_EINVAL);
    assert_int_equal(orbit_unescape(&b, "\\x41", 4), 0);
    assert_int_equal(b.len, 5);
    assert_int_equal(b.data[4], 'A');
    orbit_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_bytes_round_trip),
        cmocka_unit_test(test_exact_forms),
        cmocka_unit_test(test_random_round_trip),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, 0, 0);
}
