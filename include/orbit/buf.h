/*
 * A growable byte buffer, owned by the caller.
 *
 * orbit_buf is one of the few public structs: callers embed it and reuse it
 * across calls, so a hot read path allocates only when a value outgrows the
 * buffer. Use git's naming: orbit_buf_init() sets up a struct the caller
 * owns, orbit_buf_release() frees its contents (the struct may be reused
 * after another init).
 */
#ifndef ORBIT_BUF_H
#define ORBIT_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orbit_buf {
    uint8_t *data; /* owned; NULL when cap == 0 */
    size_t len;
    size_t cap;
} orbit_buf;

#define ORBIT_BUF_INIT {NULL, 0, 0}

ORBIT_API void orbit_buf_init(orbit_buf *b);
ORBIT_API void orbit_buf_release(orbit_buf *b);
/* Ensure room for `extra` more bytes. 0 or ORBIT_ENOMEM. */
ORBIT_API int orbit_buf_reserve(orbit_buf *b, size_t extra);
/* Append bytes. 0 or ORBIT_ENOMEM (the buffer is unchanged then). */
ORBIT_API int orbit_buf_append(orbit_buf *b, const void *p, size_t n);
/* Replace the contents with a copy of p[0..n). 0 or ORBIT_ENOMEM. */
ORBIT_API int orbit_buf_set(orbit_buf *b, const void *p, size_t n);
static inline void orbit_buf_reset(orbit_buf *b) { b->len = 0; }

#ifdef __cplusplus
}
#endif
#endif
