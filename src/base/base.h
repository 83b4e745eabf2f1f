/*
 * src/base internals shared by every layer above: clock and hashing.
 * Private to the library (not installed); names are orbit__-prefixed.
 */
#ifndef ORBIT_BASE_H
#define ORBIT_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Wall-clock milliseconds since the epoch (coarse clock: cheap). */
uint64_t orbit__now_ms(void);
/* Monotonic nanoseconds, for durations. */
uint64_t orbit__mono_ns(void);
/* The contract's key order: unsigned bytes (memcmp), then the shorter key
 * first. Either pointer may be NULL when its length is 0. */
static inline int orbit__key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

/* The smallest key after every key that starts with p[0..n): p with its
 * trailing 0xFF bytes dropped and the last remaining byte incremented,
 * written to out (room for n bytes). Returns its length; 0 when there is
 * none (p is empty or all 0xFF: no key bounds the prefix from above). */
static inline size_t orbit__prefix_successor(const uint8_t *p, size_t n, uint8_t *out)
{
    while (n > 0 && p[n - 1] == 0xFF)
        n--;
    if (n == 0)
        return 0;
    memcpy(out, p, n);
    out[n - 1]++;
    return n;
}

/* An orbit_value_fn (orbit/kv.h) whose arg is an orbit_buf: copies the
 * value into it, replacing its contents. */
int orbit__copy_value_fn(void *arg, const uint8_t *val, size_t len);

/* XXH3-64 of p[0..n). */
uint64_t orbit__hash64(const void *p, size_t n);

#endif
