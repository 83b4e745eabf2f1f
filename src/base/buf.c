/*
 * orbit_buf: a caller-owned growable byte buffer. Growth doubles, so a
 * buffer reused across calls settles at the largest size it has needed and
 * stops allocating. On allocation failure the buffer is left as it was.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "orbit/buf.h"

void orbit_buf_init(orbit_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void orbit_buf_release(orbit_buf *b)
{
    free(b->data);
    orbit_buf_init(b);
}

int orbit_buf_reserve(orbit_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return ORBIT_ENOMEM;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return ORBIT_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return ORBIT_ENOMEM;
    b->data = p;
    b->cap = cap;
    return ORBIT_OK;
}

int orbit_buf_append(orbit_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return ORBIT_OK;
    int rc = orbit_buf_reserve(b, n);
    if (rc)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return ORBIT_OK;
}

int orbit_buf_set(orbit_buf *b, const void *p, size_t n)
{
    b->len = 0;
    return orbit_buf_append(b, p, n);
}

int orbit__copy_value_fn(void *arg, const uint8_t *val, size_t len)
{
    return orbit_buf_set(arg, val, len);
}
