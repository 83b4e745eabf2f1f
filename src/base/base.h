/*
 * src/base internals shared by every layer above: clock and hashing.
 * Private to the library (not installed); names are orbit__-prefixed.
 */
#ifndef ORBIT_BASE_H
#define ORBIT_BASE_H

#include <stddef.h>
#include <stdint.h>

/* Wall-clock milliseconds since the epoch (coarse clock: cheap). */
uint64_t orbit__now_ms(void);
/* Monotonic nanoseconds, for durations. */
uint64_t orbit__mono_ns(void);
/* XXH3-64 of p[0..n). */
uint64_t orbit__hash64(const void *p, size_t n);

#endif
