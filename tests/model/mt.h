/*
 * The model test harness (tests/model/): every model test executable runs
 * against a store URI template, so the same tests run on memory, RocksDB,
 * etcd and, later, TiKV (tests/model/tests.cmake registers each on every
 * provider).
 *
 * A test's main is one line: `return mt_main(argc, argv, tests, n);` with
 * cmocka cases. Command line: --store TEMPLATE (as the contract suite:
 * "{tmp}" a fresh directory, "{uniq}" a unique token), --txn-mode
 * pessimistic|optimistic (default: the URI's txn= option, else
 * pessimistic), --filter GLOB (cmocka test filter).
 *
 * In a case, mt_open() opens a fresh store from the template (its own
 * directory or namespace, so cases do not see each other's data) and
 * mt_close() closes and removes it.
 */
#ifndef ORBIT_TEST_MODEL_MT_H
#define ORBIT_TEST_MODEL_MT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "orbit/orbit.h"
#include "suite.h"

typedef struct mt_config {
    const char *store; /* the template */
    ct_txn_mode mode;  /* the store's conflict rule */
} mt_config;

extern mt_config mt_cfg;

/* Open a fresh store from the template (fails the test on error). */
void mt_open(ct_store *s);
void mt_close(ct_store *s);

/* The contract layer's counters of s since the last mt_stats_reset. */
typedef struct mt_counter {
    orbit_kv_stats base;
} mt_counter;
void mt_stats_reset(orbit_kv *kv, mt_counter *c);
/* The counters now minus those at reset. */
orbit_kv_stats mt_stats_delta(orbit_kv *kv, const mt_counter *c);

/* Assert rc == want, printing both codes' names and the error detail. */
#define mt_check(rc, want) mt__check((rc), (want), #rc, __FILE__, __LINE__)
void mt__check(int rc, int want, const char *expr, const char *file, int line);

int mt_main(int argc, char **argv, const struct CMUnitTest *tests, size_t n);

#endif
