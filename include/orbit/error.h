/*
 * Orbit's one error model.
 *
 * Every function that can fail returns an int: 0 (ORBIT_OK) is success,
 * negative values are errors from the single list ORBIT_ERRNO_MAP below, and
 * a few positive values are normal, non-error outcomes (ORBIT_NOTFOUND: the
 * key is absent, or an iterator is exhausted). The same list yields the enum,
 * orbit_strerror() and orbit_err_name(), so the three never disagree.
 *
 * Foreign errors (RocksDB errptr strings, gRPC status codes, errno) are
 * translated once, where they arise; the original text is kept as a
 * per-thread detail string, read with orbit_last_error_detail().
 *
 * Retryable failures (a transaction conflict, a busy or unavailable service, a
 * timeout, a read version that was compacted away) satisfy
 * orbit_err_retryable(), so callers can write one retry loop. Those codes
 * are returned only when nothing was applied: a write or commit that may
 * have reached the server before contact was lost returns
 * ORBIT_EUNCERTAIN ("outcome uncertain"), which is not retryable. Retrying it
 * blindly could apply it twice; retry it only if it is idempotent (a put of
 * the same value, a transaction that re-reads what it depends on), or read
 * back and decide (docs/ARCHITECTURE.md, "Error model").
 */
#ifndef ORBIT_ERROR_H
#define ORBIT_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ORBIT_BUILDING) && defined(__GNUC__)
#define ORBIT_API __attribute__((visibility("default")))
#else
#define ORBIT_API
#endif

/* X(NAME, value, retryable, message) */
#define ORBIT_ERRNO_MAP(X)                                                   \
    X(EINVAL, -1, 0, "invalid argument")                                     \
    X(ENOMEM, -2, 0, "out of memory")                                        \
    X(ECORRUPT, -3, 0, "stored data is corrupt")                             \
    X(ECONFLICT, -4, 1, "transaction conflict")                              \
    X(EBUSY, -5, 1, "resource busy")                                         \
    X(EUNAVAIL, -6, 1, "service unavailable")                                \
    X(ETIMEDOUT, -7, 1, "operation timed out")                               \
    X(EIO, -8, 0, "I/O error")                                               \
    X(ETOOBIG, -9, 0, "value or request too large")                          \
    X(ENOTSUP, -10, 0, "operation not supported by this provider")           \
    X(ECLOSED, -11, 0, "handle is closed or finished")                       \
    X(ENOPROVIDER, -12, 0, "no provider registered under that name")         \
    X(EBADURI, -13, 0, "malformed store URI")                                \
    X(EEXIST, -14, 0, "already exists")                                      \
    X(EPROTO, -15, 0, "protocol error")                                      \
    X(EINTERNAL, -16, 0, "internal error")                                   \
    X(EUNCERTAIN, -17, 0, "outcome uncertain: the write may or may not have been applied") \
    X(ECOMPACTED, -18, 1, "the version this read needs is no longer kept")  \
    X(ENOSPACE, -19, 0, "store is out of space (quota or disk full)")       \
    X(ECONSTRAINT, -20, 0, "a constraint was violated")                   \
    X(ENOSTORE, -21, 0, "no store exists at that location")

typedef enum orbit_status {
    ORBIT_OK = 0,
    /* Not an error: the key is absent / the iterator has no more entries. */
    ORBIT_NOTFOUND = 1,
    /* Not an error: a compare-and-set found another value; nothing was
     * written (orbit_kv_cas). */
    ORBIT_CMPFAIL = 2,
#define ORBIT__ERR_ENUM(name, val, retry, msg) ORBIT_##name = (val),
    ORBIT_ERRNO_MAP(ORBIT__ERR_ENUM)
#undef ORBIT__ERR_ENUM
} orbit_status;

/* A static, human readable message for any status code (never NULL). */
ORBIT_API const char *orbit_strerror(int code);

/* The code's symbolic name, e.g. "ECONFLICT" (never NULL). */
ORBIT_API const char *orbit_err_name(int code);

/* 1 if the failure may succeed when retried and nothing of it was applied
 * (conflict, busy, unavailable, timeout, compacted), else 0. ORBIT_EUNCERTAIN
 * is not retryable. Success and positive statuses are not retryable. */
ORBIT_API int orbit_err_retryable(int code);

/* Detail about the last error raised on the calling thread (the foreign
 * error's text, the key a corruption was found under, ...). The string is
 * thread-local and valid until the thread's next failing Orbit call; "" if
 * none was recorded. */
ORBIT_API const char *orbit_last_error_detail(void);

#ifdef __cplusplus
}
#endif
#endif
