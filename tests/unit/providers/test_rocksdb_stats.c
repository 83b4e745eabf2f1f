/*
 * Tests for src/providers/rocksdb/rdb_stats.cc, the rocksdb provider's
 * store statistics (orbit_kv_store_stats): the block cache's hits and
 * misses move with reads that reach SST files, the cache figures are
 * absent without a block cache, and the size, live-data and key figures
 * follow writes into memtables and, after a reopen, into SST files. What
 * every provider reports alike (sizes and key counts grow with writes) is
 * the contract suite's test_store_stats. Behaviour only, never timing.
 *
 * Each test gets a fresh temporary directory, removed at its end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "orbit/kv.h"
#include "testutil.h"

#define NKEYS 500

static int setup_dir(void **state)
{
    *state = tu_tempdir("rdbstats");
    return 0;
}

static int teardown_dir(void **state)
{
    tu_rmdir(*state);
    return 0;
}

static orbit_kv *open_store(const char *dir, const char *opts)
{
    char uri[1024];
    snprintf(uri, sizeof uri, "rocksdb:%s/db?%s", dir, opts);
    orbit_kv *kv = NULL;
    int rc = orbit_kv_open(uri, &kv);
    if (rc)
        fail_msg("open %s: %s (%s)", uri, orbit_strerror(rc), orbit_last_error_detail());
    return kv;
}

static void key_of(char *k, size_t cap, int i)
{
    snprintf(k, cap, "key%05d", i);
}

static void fill(orbit_kv *kv)
{
    char k[32], v[256];
    tu_rng r;
    tu_rng_init(&r, 42);
    for (int i = 0; i < NKEYS; i++) {
        /* incompressible, so the files hold at least the bytes written */
        for (size_t j = 0; j < sizeof v; j++)
            v[j] = (char)tu_rand(&r);
        key_of(k, sizeof k, i);
        assert_int_equal(orbit_kv_put(kv, (const uint8_t *)k, strlen(k), (const uint8_t *)v,
                                      sizeof v),
                         0);
    }
}

static void stats(orbit_kv *kv, orbit_store_stats *s)
{
    int rc = orbit_kv_store_stats(kv, s);
    if (rc)
        fail_msg("store stats: %s (%s)", orbit_strerror(rc), orbit_last_error_detail());
}

/* Writes land in the memtable: size and the key estimate grow, the SST
 * figures do not need to. After a reopen the data is in SST files: live
 * data is reported, and reads of it go through the block cache, so the
 * first read of a block misses and repeated reads of it hit. */
static void cache_moves(void **state, const char *opts)
{
    orbit_kv *kv = open_store(*state, opts);
    orbit_store_stats a, b;
    stats(kv, &a);
    assert_int_equal(a.keys_exact, 0);
    assert_true(a.size_bytes != ORBIT_STAT_NONE);
    assert_true(a.memtable_bytes != ORBIT_STAT_NONE);
    assert_true(a.keys != ORBIT_STAT_NONE);
    assert_true(a.cache_capacity_bytes == (uint64_t)8 << 20);
    assert_true(a.cache_hits != ORBIT_STAT_NONE && a.cache_misses != ORBIT_STAT_NONE);
    fill(kv);
    stats(kv, &b);
    assert_true(b.memtable_bytes >= a.memtable_bytes + (uint64_t)NKEYS * 256);
    assert_true(b.size_bytes >= a.size_bytes + (uint64_t)NKEYS * 256);
    assert_true(b.keys >= a.keys + NKEYS);
    orbit_kv_close(kv);

    kv = open_store(*state, opts);
    stats(kv, &a);
    assert_true(a.live_bytes != ORBIT_STAT_NONE && a.live_bytes >= (uint64_t)NKEYS * 256);
    assert_true(a.size_bytes >= a.live_bytes);
    assert_true(a.keys >= NKEYS);

    orbit_buf v = ORBIT_BUF_INIT;
    char k[32];
    key_of(k, sizeof k, 100);
    assert_int_equal(orbit_kv_get(kv, NULL, (const uint8_t *)k, strlen(k), &v), 0);
    assert_int_equal(v.len, 256);
    stats(kv, &b);
    assert_true(b.cache_misses + b.cache_hits > a.cache_misses + a.cache_hits);
    assert_true(b.cache_usage_bytes > 0);
    a = b;
    for (int i = 0; i < 20; i++)
        assert_int_equal(orbit_kv_get(kv, NULL, (const uint8_t *)k, strlen(k), &v), 0);
    stats(kv, &b);
    assert_true(b.cache_hits >= a.cache_hits + 20);
    /* the block is cached now: rereading it misses nothing */
    assert_int_equal(b.cache_misses, a.cache_misses);
    orbit_buf_release(&v);
    orbit_kv_close(kv);
}

static void test_cache_moves_pessimistic(void **state)
{
    cache_moves(state, "txn=pessimistic&cache_mb=8");
}

static void test_cache_moves_optimistic(void **state)
{
    cache_moves(state, "txn=optimistic&cache_mb=8");
}

/* cache_mb=0: no block cache, so no cache figures; the rest still there. */
static void test_no_cache(void **state)
{
    orbit_kv *kv = open_store(*state, "cache_mb=0");
    fill(kv);
    orbit_store_stats s;
    stats(kv, &s);
    assert_true(s.cache_capacity_bytes == ORBIT_STAT_NONE);
    assert_true(s.cache_usage_bytes == ORBIT_STAT_NONE);
    assert_true(s.cache_hits == ORBIT_STAT_NONE);
    assert_true(s.cache_misses == ORBIT_STAT_NONE);
    assert_true(s.size_bytes != ORBIT_STAT_NONE && s.size_bytes >= (uint64_t)NKEYS * 256);
    assert_true(s.keys >= NKEYS);
    orbit_kv_close(kv);
}

/* A read-only open reports as well (its data is the files plus the WAL
 * replayed into memory). */
static void test_read_only(void **state)
{
    orbit_kv *kv = open_store(*state, "");
    fill(kv);
    orbit_kv_close(kv);
    kv = open_store(*state, "read_only=1");
    orbit_store_stats s;
    stats(kv, &s);
    assert_true(s.keys >= NKEYS);
    assert_true(s.size_bytes >= (uint64_t)NKEYS * 256);
    orbit_kv_close(kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cache_moves_pessimistic, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_cache_moves_optimistic, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_no_cache, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_read_only, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests_name("rocksdb_stats", tests, NULL, NULL);
}
