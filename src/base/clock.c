/*
 * Clocks and hashing for the layers above (src/base/base.h).
 */
#include <time.h>

#include <xxhash.h>

#include "base/base.h"

uint64_t orbit__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t orbit__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t orbit__hash64(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}
