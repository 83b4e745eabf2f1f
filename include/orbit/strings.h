/*
 * The plain key-value namespace: Redis-style strings on the contract.
 *
 * The namespace belongs to the default database actor (type "orbit", id
 * "default"): a user key K is stored under the tuple key
 * (ORBIT_KEYSPACE_DEFAULT, "kv", K) (orbit/codec.h), and its value inside a
 * checksummed record envelope (orbit/record.h) of model ORBIT_MODEL_KV whose
 * checksum covers that key. Scans never leave the (ORBIT_KEYSPACE_DEFAULT,
 * "kv") range. This is the full path that the CLI's `kv` commands, the
 * server's string commands and `orbit bench kv` use.
 *
 * A put is a blind write (Redis SET): it does not read the old record, so
 * created_ms = updated_ms = the time of the write.
 */
#ifndef ORBIT_STRINGS_H
#define ORBIT_STRINGS_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"
#include "orbit/kv.h"
#include "orbit/record.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Options for writes; NULL means: no owner recorded, no compression. The
 * owner fields only label the record; where the key lives is decided by
 * the keyspace (always ORBIT_KEYSPACE_DEFAULT here). */
typedef struct orbit_str_opts {
    const char *actor_type; /* NULL or "" : no owner */
    const char *actor_id;
    orbit_record_opts record;
} orbit_str_opts;

ORBIT_API int orbit_str_put(orbit_kv *kv, const orbit_str_opts *o,
                            const uint8_t *key, size_t klen,
                            const uint8_t *val, size_t vlen);

/* 0 (value copied into out), ORBIT_NOTFOUND, ORBIT_ECORRUPT (naming the key),
 * or another error. ro may be NULL. */
ORBIT_API int orbit_str_get(orbit_kv *kv, const orbit_read_opts *ro,
                            const uint8_t *key, size_t klen, orbit_buf *out);

/* Borrowing read: fn sees the verified value, valid only during the call. */
ORBIT_API int orbit_str_get_with(orbit_kv *kv, const orbit_read_opts *ro,
                                 const uint8_t *key, size_t klen,
                                 orbit_value_fn fn, void *arg);

ORBIT_API int orbit_str_del(orbit_kv *kv, const uint8_t *key, size_t klen);

/* Called per entry with the user key and verified value (both borrowed for
 * the call). A non-zero return stops the scan and is returned by it. */
typedef int (*orbit_str_scan_fn)(void *arg, const uint8_t *key, size_t klen,
                                 const uint8_t *val, size_t vlen);

/* Scan user keys: so's start/end/prefix are in user-key space. 0 when the
 * scan completed, fn's non-zero value, or an error (a corrupt record stops
 * the scan with ORBIT_ECORRUPT naming the key). */
ORBIT_API int orbit_str_scan(orbit_kv *kv, const orbit_read_opts *ro,
                             const orbit_scan_opts *so, orbit_str_scan_fn fn,
                             void *arg);

#ifdef __cplusplus
}
#endif
#endif
