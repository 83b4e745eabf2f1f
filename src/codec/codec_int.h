/*
 * src/codec internals shared with the models' hot paths: the integer
 * element writer without a buffer. Private to the library (not installed).
 */
#ifndef ORBIT_CODEC_INT_H
#define ORBIT_CODEC_INT_H

#include <stddef.h>
#include <stdint.h>

/* Write the int element of v to dst (room for ORBIT_TUPLE_INT_MAX_LEN
 * bytes); returns its length (1..9). */
size_t orbit__tuple_int_put(uint8_t *dst, int64_t v);

#endif
