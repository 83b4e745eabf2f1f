/*
 * The etcd provider fails fast and clearly when it cannot reach a store:
 *
 *  - every endpoint refuses connections (free loopback ports nobody listens
 *    on): open fails with EUNAVAIL before the operation timeout, bounded by
 *    the connect deadline (connect_timeout_ms), and its detail names the
 *    endpoints tried and the time taken;
 *  - a store that was open and whose only member then dies: a get and a put
 *    fail with EUNAVAIL (the put was never sent, so it is not uncertain)
 *    and closing it does not take the operation timeout;
 *  - ports outside 1-65535, non-numeric or missing ports and empty hosts
 *    are EBADURI, refused before any connection is tried;
 *  - an unresolvable host name (RFC 6761's .invalid) is reported as a
 *    failed DNS lookup.
 *
 * Elapsed times are compared with the configured deadlines (the operation
 * timeout each call would otherwise take), never with speed targets.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "etcd_harness.h"
#include "orbit/kv.h"

#define OP_TIMEOUT_MS 8000u

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A loopback port that was free a moment ago: bound to port 0, then
 * closed, so nothing listens on it and a connect is refused. */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

static void test_refused_endpoints_fail_fast(void **state)
{
    (void)state;
    int p1 = free_port(), p2 = free_port();
    /* With the default connect deadline and with a chosen one. */
    const char *extra[] = {"", "&connect_timeout_ms=300"};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        char uri[256];
        snprintf(uri, sizeof uri, "etcd://127.0.0.1:%d,127.0.0.1:%d?timeout_ms=%u%s", p1, p2, OP_TIMEOUT_MS,
                 extra[i]);
        orbit_kv *kv = (orbit_kv *)1;
        uint64_t t0 = now_ms();
        int rc = orbit_kv_open(uri, &kv);
        uint64_t took = now_ms() - t0;
        const char *d = orbit_last_error_detail();
        fprintf(stderr, "open %s: %s after %llu ms (%s)\n", uri, orbit_err_name(rc), (unsigned long long)took, d);
        assert_int_equal(rc, ORBIT_EUNAVAIL);
        assert_true(orbit_err_retryable(rc));
        assert_null(kv);
        /* Failed before the operation timeout (open and the close of what
         * it had set up included). */
        assert_true(took < OP_TIMEOUT_MS);
        char ep[64];
        snprintf(ep, sizeof ep, "127.0.0.1:%d", p1);
        assert_non_null(strstr(d, ep));
        snprintf(ep, sizeof ep, "127.0.0.1:%d", p2);
        assert_non_null(strstr(d, ep));
        assert_non_null(strstr(d, " ms"));
        assert_non_null(strstr(d, "connect deadline"));
    }
}

static void test_operations_fail_fast_after_the_member_dies(void **state)
{
    (void)state;
    eh_cluster cl;
    assert_int_equal(eh_start(&cl, 1, 1), 0);
    char uri[1024];
    snprintf(uri, sizeof uri, "etcd://%s?namespace=conn-%d/&timeout_ms=%u&connect_timeout_ms=500", cl.endpoints,
             (int)getpid(), OP_TIMEOUT_MS);
    orbit_kv *kv = NULL;
    assert_int_equal(orbit_kv_open(uri, &kv), 0);
    assert_int_equal(orbit_kv_put(kv, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1), 0);
    eh_kill(&cl, 0);

    orbit_buf b = ORBIT_BUF_INIT;
    uint64_t t0 = now_ms();
    int rc = orbit_kv_get(kv, NULL, (const uint8_t *)"k", 1, &b);
    uint64_t took = now_ms() - t0;
    fprintf(stderr, "get: %s after %llu ms (%s)\n", orbit_err_name(rc), (unsigned long long)took,
            orbit_last_error_detail());
    assert_int_equal(rc, ORBIT_EUNAVAIL);
    assert_true(took < OP_TIMEOUT_MS);
    assert_non_null(strstr(orbit_last_error_detail(), cl.endpoints));
    orbit_buf_release(&b);

    t0 = now_ms();
    rc = orbit_kv_put(kv, (const uint8_t *)"k", 1, (const uint8_t *)"w", 1);
    took = now_ms() - t0;
    fprintf(stderr, "put: %s after %llu ms (%s)\n", orbit_err_name(rc), (unsigned long long)took,
            orbit_last_error_detail());
    /* Never sent: the outcome is known (not applied). */
    assert_int_equal(rc, ORBIT_EUNAVAIL);
    assert_true(took < OP_TIMEOUT_MS);

    t0 = now_ms();
    orbit_kv_close(kv);
    took = now_ms() - t0;
    fprintf(stderr, "close: %llu ms\n", (unsigned long long)took);
    assert_true(took < OP_TIMEOUT_MS);
    eh_stop(&cl);
}

static void test_bad_endpoints_are_ebaduri(void **state)
{
    (void)state;
    const char *bad[] = {
        "etcd://127.0.0.1:99999", "etcd://127.0.0.1:65536", "etcd://127.0.0.1:0",  "etcd://127.0.0.1:abc",
        "etcd://127.0.0.1:",      "etcd://127.0.0.1",       "etcd://:2379",        "etcd://127.0.0.1:2379,",
        "etcd://a:1,,b:2",        "etcd://::1:2379",        "etcd://[::1]2379",    "etcd://127.0.0.1:-1",
        "etcd://127.0.0.1:23 79", "etcd://127.0.0.1:+80",   "etcd://127.0.0.1:0x50",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        orbit_kv *kv = (orbit_kv *)1;
        uint64_t t0 = now_ms();
        int rc = orbit_kv_open(bad[i], &kv);
        uint64_t took = now_ms() - t0;
        fprintf(stderr, "%s: %s (%s)\n", bad[i], orbit_err_name(rc), orbit_last_error_detail());
        if (rc != ORBIT_EBADURI)
            fail_msg("%s gave %s, expected EBADURI", bad[i], orbit_err_name(rc));
        assert_null(kv);
        /* refused before any connection: well within one connect deadline */
        assert_true(took < 1500);
    }
}

static void test_unresolvable_host_is_a_dns_failure(void **state)
{
    (void)state;
    orbit_kv *kv = (orbit_kv *)1;
    char uri[128];
    snprintf(uri, sizeof uri, "etcd://no-such-host.invalid:2379?timeout_ms=%u", OP_TIMEOUT_MS);
    uint64_t t0 = now_ms();
    int rc = orbit_kv_open(uri, &kv);
    uint64_t took = now_ms() - t0;
    fprintf(stderr, "%s: %s after %llu ms (%s)\n", uri, orbit_err_name(rc), (unsigned long long)took,
            orbit_last_error_detail());
    assert_int_equal(rc, ORBIT_EUNAVAIL);
    assert_non_null(strstr(orbit_last_error_detail(), "DNS lookup failed"));
    assert_non_null(strstr(orbit_last_error_detail(), "no-such-host.invalid:2379"));
    assert_true(took < OP_TIMEOUT_MS);
}

static void test_connect_timeout_option_is_checked(void **state)
{
    (void)state;
    orbit_kv *kv = (orbit_kv *)1;
    assert_int_equal(orbit_kv_open("etcd://127.0.0.1:2379?connect_timeout_ms=0", &kv), ORBIT_EINVAL);
    assert_non_null(strstr(orbit_last_error_detail(), "connect_timeout_ms"));
    assert_int_equal(orbit_kv_open("etcd://127.0.0.1:2379?connect_timeout_ms=soon", &kv), ORBIT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_endpoints_are_ebaduri),
        cmocka_unit_test(test_connect_timeout_option_is_checked),
        cmocka_unit_test(test_refused_endpoints_fail_fast),
        cmocka_unit_test(test_unresolvable_host_is_a_dns_failure),
        cmocka_unit_test(test_operations_fail_fast_after_the_member_dies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
