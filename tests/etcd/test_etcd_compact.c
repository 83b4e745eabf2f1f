/*
 * Orbit compacts etcd's history (retention_ms, the compactor thread in
 * src/providers/etcd/etcd.c), against real clusters started by this
 * process:
 *
 *  - a long write load with a short retention window runs past several
 *    compactions; a pinned revision (as a snapshot, iterator, transaction
 *    or backup pins it) stays readable throughout and returns the data as
 *    of that revision; the latest data is all correct; an unpinned
 *    revision older than the window becomes ECOMPACTED, and so does the
 *    pinned one once unpinned;
 *  - etcd's space quota: a one-member cluster with a tiny
 *    --quota-backend-bytes (through a wrapper named by ORBIT_ETCD_BIN)
 *    raises the NOSPACE alarm, and a write then fails with ORBIT_ENOSPACE
 *    and a detail that names it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "etcd_harness.h"
#include "orbit/kv.h"
#include "orbit/provider.h"
#include "base/base.h"
#include "providers/etcd/etcd_int.h"

extern const orbit_provider orbit__provider_etcd; /* src/providers/etcd/etcd.c */
static const orbit_provider *P = &orbit__provider_etcd;

#define S(x) (const uint8_t *)(x), strlen(x)

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static etcd *open_raw(const char *endpoints, const char *extra)
{
    char uri[1024];
    snprintf(uri, sizeof uri, "etcd://%s?namespace=c%d/&%s", endpoints, (int)getpid(), extra);
    orbit_uri *u = NULL;
    assert_int_equal(orbit_uri_parse(uri, &u), 0);
    void *self = NULL;
    int rc = P->open(u, &self);
    if (rc)
        fprintf(stderr, "open %s: %s (%s)\n", uri, orbit_err_name(rc), orbit_last_error_detail());
    assert_int_equal(rc, 0);
    orbit_uri_free(u);
    return self;
}

static int get_at(etcd *e, int64_t rev, const char *k, char *out, size_t cap)
{
    orbit_buf b = ORBIT_BUF_INIT;
    int rc = P->get(e, rev ? &rev : NULL, S(k), orbit__copy_value_fn, &b);
    if (rc == 0)
        snprintf(out, cap, "%.*s", (int)b.len, (const char *)b.data);
    orbit_buf_release(&b);
    return rc;
}

enum { KEYS = 8 };

/* One round: every key gets "round-N". */
static void write_round(etcd *e, int round)
{
    char k[16], v[32];
    snprintf(v, sizeof v, "round-%d", round);
    for (int i = 0; i < KEYS; i++) {
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(P->put(e, S(k), S(v)), 0);
    }
}

static void check_round(etcd *e, int64_t rev, int round)
{
    char k[16], v[32], got[64];
    snprintf(v, sizeof v, "round-%d", round);
    for (int i = 0; i < KEYS; i++) {
        snprintf(k, sizeof k, "k%d", i);
        int rc = get_at(e, rev, k, got, sizeof got);
        if (rc)
            fprintf(stderr, "read %s at %lld: %s (%s)\n", k, (long long)rev, orbit_err_name(rc),
                    orbit_last_error_detail());
        assert_int_equal(rc, 0);
        assert_string_equal(got, v);
    }
}

static void test_compaction_under_load(void **state)
{
    eh_cluster cl;
    assert_int_equal(eh_start(&cl, 3, 1), 0);
    etcd *e = open_raw(cl.endpoints, "retention_ms=300");
    int round = 0;
    write_round(e, round);
    int64_t early = 0;
    assert_int_equal(orbit__etcd_revision(e, &early), 0);

    /* Phase 1: the load runs past two compactions; the early revision,
     * unpinned, falls out of the window. */
    uint64_t t0 = now_ms();
    while (atomic_load(&e->compactions) < 2 || atomic_load(&e->compacted) <= early) {
        assert_true(now_ms() - t0 < 30000);
        write_round(e, ++round);
    }
    char got[64];
    assert_int_equal(get_at(e, early, "k0", got, sizeof got), ORBIT_ECOMPACTED);
    assert_true(orbit_err_retryable(ORBIT_ECOMPACTED));

    /* Phase 2: pin the current revision (as a snapshot, iterator,
     * transaction or backup does) and keep writing for many windows: it
     * stays readable, as of its time, and compaction reaches it but never
     * passes it. */
    int64_t pinned = 0;
    assert_int_equal(orbit__etcd_revision(e, &pinned), 0);
    int pinned_round = round;
    orbit__etcd_rev_pin(e, pinned);
    uint64_t c1 = atomic_load(&e->compactions);
    t0 = now_ms();
    while (now_ms() - t0 < 2500 || atomic_load(&e->compactions) == c1) {
        assert_true(now_ms() - t0 < 30000);
        write_round(e, ++round);
        check_round(e, pinned, pinned_round);
        assert_true(atomic_load(&e->compacted) <= pinned);
    }
    fprintf(stderr, "%d rounds, %llu compactions, compacted to %lld, pinned %lld\n", round,
            (unsigned long long)atomic_load(&e->compactions), (long long)atomic_load(&e->compacted),
            (long long)pinned);
    assert_true(atomic_load(&e->compactions) >= 3);
    check_round(e, 0, round); /* the latest data is all there */

    /* Phase 3: unpinned, the pinned revision is compacted too. */
    orbit__etcd_rev_unpin(e, pinned);
    t0 = now_ms();
    while (atomic_load(&e->compacted) <= pinned) {
        assert_true(now_ms() - t0 < 30000);
        write_round(e, ++round);
        sleep_ms(20);
    }
    assert_int_equal(get_at(e, pinned, "k0", got, sizeof got), ORBIT_ECOMPACTED);
    check_round(e, 0, round);

    /* retention_ms=0: this store never compacts */
    etcd *keep = open_raw(cl.endpoints, "retention_ms=0");
    sleep_ms(400);
    assert_int_equal(atomic_load(&keep->compactions), 0);
    P->close(keep);
    P->close(e);
    eh_stop(&cl);
}

static void test_nospace_alarm(void **state)
{
    /* A wrapper that starts etcd with a 1 MiB backend quota. */
    char dir[] = "/tmp/orbit-quota-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char script[128];
    snprintf(script, sizeof script, "%s/etcd", dir);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    const char *real = getenv("ORBIT_ETCD_BIN");
    fprintf(f, "#!/bin/sh\nexec %s \"$@\" --quota-backend-bytes=1048576\n", real && *real ? real : "etcd");
    fclose(f);
    assert_int_equal(chmod(script, 0755), 0);
    char *saved = real ? strdup(real) : NULL;
    setenv("ORBIT_ETCD_BIN", script, 1);
    eh_cluster cl;
    int started = eh_start(&cl, 1, 1);
    if (saved) {
        setenv("ORBIT_ETCD_BIN", saved, 1);
        free(saved);
    } else {
        unsetenv("ORBIT_ETCD_BIN");
    }
    assert_int_equal(started, 0);

    etcd *e = open_raw(cl.endpoints, "retention_ms=0");
    size_t vl = 64 * 1024;
    uint8_t *val = malloc(vl);
    memset(val, 'q', vl);
    int rc = 0, i;
    for (i = 0; i < 400 && rc == 0; i++) {
        char k[16];
        snprintf(k, sizeof k, "big%d", i);
        rc = P->put(e, S(k), val, vl);
    }
    fprintf(stderr, "after %d puts of 64 KiB: %s (%s)\n", i, orbit_err_name(rc), orbit_last_error_detail());
    assert_int_equal(rc, ORBIT_ENOSPACE);
    assert_non_null(strstr(orbit_last_error_detail(), "NOSPACE"));
    assert_false(orbit_err_retryable(rc));
    /* every write is refused while the alarm is raised, batches too */
    orbit_batch *b = NULL;
    assert_int_equal(orbit_batch_new(&b), 0);
    assert_int_equal(orbit_batch_put(b, S("small"), S("x")), 0);
    assert_int_equal(P->write(e, b), ORBIT_ENOSPACE);
    orbit_batch_free(b);
    free(val);
    P->close(e);
    eh_stop(&cl);
    unlink(script);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compaction_under_load),
        cmocka_unit_test(test_nospace_alarm),
    };
    return cmocka_run_group_tests_name("etcd_compact", tests, NULL, NULL);
}
