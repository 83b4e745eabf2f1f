/*
 * Helpers shared by Orbit's tests: temporary directories and a
 * deterministic random generator (tests print their seed so a failing
 * randomized run can be replayed with ORBIT_TEST_SEED=<seed>).
 */
#ifndef ORBIT_TESTUTIL_H
#define ORBIT_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* A fresh directory under $TMPDIR (or /tmp); returns a malloc'd path.
 * Aborts the test process on failure. */
char *tu_tempdir(const char *tag);
/* rm -rf the directory and free the path. */
void tu_rmdir(char *path);

/* xorshift64* generator. */
typedef struct tu_rng { uint64_t s; } tu_rng;
/* Seed from ORBIT_TEST_SEED if set, else from the clock; prints the seed. */
uint64_t tu_seed(const char *test_name);
void tu_rng_init(tu_rng *r, uint64_t seed);
uint64_t tu_rand(tu_rng *r);
/* Uniform in [0, n). */
uint64_t tu_below(tu_rng *r, uint64_t n);

#endif
