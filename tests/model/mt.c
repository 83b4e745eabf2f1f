/*
 * The model test harness's command line, store opening and counters
 * (mt.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt.h"

mt_config mt_cfg;

void mt_open(ct_store *s)
{
    int rc = ct_store_open(mt_cfg.store, s);
    if (rc) {
        fprintf(stderr, "mt_open %s: %s (%s)\n", mt_cfg.store, orbit_err_name(rc),
                orbit_last_error_detail());
        fail();
    }
}

void mt_close(ct_store *s) { ct_store_close(s); }

void mt_stats_reset(orbit_kv *kv, mt_counter *c) { orbit_kv_stats_get(kv, &c->base); }

orbit_kv_stats mt_stats_delta(orbit_kv *kv, const mt_counter *c)
{
    orbit_kv_stats now, d;
    orbit_kv_stats_get(kv, &now);
    const uint64_t *a = (const uint64_t *)&now, *b = (const uint64_t *)&c->base;
    uint64_t *o = (uint64_t *)&d;
    for (size_t i = 0; i < sizeof d / sizeof(uint64_t); i++)
        o[i] = a[i] - b[i];
    return d;
}

void mt__check(int rc, int want, const char *expr, const char *file, int line)
{
    if (rc != want) {
        fprintf(stderr, "%s:%d: %s = %s (%d), want %s (%d): %s\n", file, line, expr,
                orbit_err_name(rc), rc, orbit_err_name(want), want, orbit_last_error_detail());
        fail();
    }
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s --store TEMPLATE [--txn-mode pessimistic|optimistic] [--filter GLOB]\n",
            argv0);
}

int mt_main(int argc, char **argv, const struct CMUnitTest *tests, size_t n)
{
    const char *mode = NULL, *filter = NULL;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage(argv[0]);
            return 2;
        }
        if (strcmp(a, "--store") == 0)
            mt_cfg.store = v;
        else if (strcmp(a, "--txn-mode") == 0)
            mode = v;
        else if (strcmp(a, "--filter") == 0)
            filter = v;
        else {
            usage(argv[0]);
            return 2;
        }
    }
    if (!mt_cfg.store)
        mt_cfg.store = "memory:";
    mt_cfg.mode = ct_mode_from_uri(mt_cfg.store);
    if (mode && ct_parse_mode(mode, &mt_cfg.mode) != 0) {
        usage(argv[0]);
        return 2;
    }
    fprintf(stderr, "model test: store %s, %s conflicts\n", mt_cfg.store, ct_mode_name(mt_cfg.mode));
    if (filter)
        cmocka_set_test_filter(filter);
    return _cmocka_run_group_tests(argv[0], tests, n, NULL, NULL);
}
