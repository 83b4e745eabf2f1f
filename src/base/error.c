/*
 * The error model's tables and the per-thread error detail.
 *
 * Messages, names and the retryable flag all come from ORBIT_ERRNO_MAP, so
 * they cannot drift apart. The detail is a thread-local buffer: a provider
 * translating a foreign error writes it once at the edge, and the caller on
 * the same thread reads it after the failing call returns. An asynchronous
 * op carries a copy of its own (orbit_kv_op.detail), written by
 * orbit_op_fail() or orbit_op_take_detail(), because its completion may run
 * on any thread and many ops complete together.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "orbit/provider.h"

#define DETAIL_MAX 512

static _Thread_local char detail[DETAIL_MAX];

const char *orbit_strerror(int code)
{
    switch (code) {
    case ORBIT_OK: return "success";
    case ORBIT_NOTFOUND: return "not found";
    case ORBIT_CMPFAIL: return "comparison failed, nothing written";
#define X(name, val, retry, msg) case ORBIT_##name: return msg;
    ORBIT_ERRNO_MAP(X)
#undef X
    default: return "unknown error";
    }
}

const char *orbit_err_name(int code)
{
    switch (code) {
    case ORBIT_OK: return "OK";
    case ORBIT_NOTFOUND: return "NOTFOUND";
    case ORBIT_CMPFAIL: return "CMPFAIL";
#define X(name, val, retry, msg) case ORBIT_##name: return #name;
    ORBIT_ERRNO_MAP(X)
#undef X
    default: return "UNKNOWN_CODE";
    }
}

int orbit_err_retryable(int code)
{
    switch (code) {
#define X(name, val, retry, msg) case ORBIT_##name: return retry;
    ORBIT_ERRNO_MAP(X)
#undef X
    default: return 0;
    }
}

const char *orbit_last_error_detail(void)
{
    return detail;
}

int orbit_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return code;
}

void orbit_error_clear(void)
{
    detail[0] = '\0';
}

/* Copy the thread's detail into an op's own, cut to fit. */
static void detail_to_op(orbit_kv_op *op)
{
    size_t n = strnlen(detail, sizeof op->detail - 1);
    memcpy(op->detail, detail, n);
    op->detail[n] = '\0';
}

int orbit_op_fail(orbit_kv_op *op, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    op->result = code;
    detail_to_op(op);
    return code;
}

void orbit_op_take_detail(orbit_kv_op *op)
{
    detail_to_op(op);
}
