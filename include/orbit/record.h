/*
 * Records: the checksummed envelope every stored value is wrapped in.
 *
 * Layout (format version 2; all varints are unsigned LEB128):
 *   u8 format_version (2) | u8 model | u8 flags (bits 0-1: compression)
 *   varint schema_version
 *   varint created_ms (ms since the epoch)
 *   varint zigzag(updated_ms - created_ms)      (1 byte when equal)
 *   varint len + actor type | varint len + actor id
 *   [varint uncompressed_len, if compressed]
 *   payload (to the checksum)
 *   u64 little-endian checksum: XXH3-64 of the key the record is stored
 *       under, seeded with XXH3-64 of every byte before the checksum
 *
 * The checksum covers the key: a record stored (or read back) under any
 * other key fails verification. It is verified on every decode. A
 * truncated record, a checksum mismatch, an unknown format version (format
 * 1 included), model or compression, or a payload that does not decompress
 * to its stated length is ORBIT_ECORRUPT, with the key (escaped) and the
 * reason in orbit_last_error_detail(); the payload is never handed out then.
 *
 * Format 1 also carried a record_version and a txn_id. Nothing produced
 * them (every write stored version 1 and transaction 0), so format 2 drops
 * both; a later format adds them back when a model has a real producer
 * (a read-modify-write model keeping versions, a transaction layer
 * stamping its id).
 */
#ifndef ORBIT_RECORD_H
#define ORBIT_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"
#include "orbit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ORBIT_RECORD_FORMAT 2

typedef enum orbit_model {
    ORBIT_MODEL_KV = 0,
    ORBIT_MODEL_REL = 1,
    ORBIT_MODEL_DOC = 2,
    ORBIT_MODEL_GRAPH = 3,
    ORBIT_MODEL_VEC = 4,
    ORBIT_MODEL_TS = 5,
    ORBIT_MODEL_CATALOG = 6,
} orbit_model;

typedef enum orbit_compression {
    ORBIT_COMPRESS_NONE = 0,
    ORBIT_COMPRESS_LZ4 = 1,
    ORBIT_COMPRESS_ZSTD = 2,
} orbit_compression;

typedef struct orbit_record_meta {
    orbit_model model;
    uint32_t schema_version;
    uint64_t created_ms;
    uint64_t updated_ms;
    const uint8_t *actor_type; /* decode: borrowed from the record bytes */
    size_t actor_type_len;
    const uint8_t *actor_id;   /* decode: borrowed from the record bytes */
    size_t actor_id_len;
    orbit_compression compression; /* decode: as stored; encode: ignored */
} orbit_record_meta;

typedef struct orbit_record_opts {
    orbit_compression compression; /* used for payloads >= threshold */
    size_t threshold;              /* bytes; 0 means the default (1024) */
    int level;                     /* zstd level; 0: the default (3) */
} orbit_record_opts;

/* Append the record for a value stored under key[0..klen) to `out` (the
 * key enters the checksum; key may be NULL only when klen is 0). opts
 * NULL: no compression. If compressing does not make the payload smaller
 * it is stored as is. 0, ORBIT_EINVAL (bad meta or opts) or ORBIT_ENOMEM. */
ORBIT_API int orbit_record_encode(orbit_buf *out, const uint8_t *key, size_t klen,
                                  const orbit_record_meta *meta,
                                  const orbit_record_opts *opts,
                                  const uint8_t *payload, size_t plen);

/*
 * Verify and decode rec[0..n), stored under key[0..klen) (which enters
 * the checksum, and is named in errors). On success *payload points into rec (stored
 * uncompressed) or into `scratch` (decompressed; its contents replaced),
 * and meta's pointers borrow from rec. scratch may be NULL only if the
 * caller accepts ORBIT_ENOTSUP for compressed records.
 * 0, ORBIT_ECORRUPT or ORBIT_ENOMEM.
 */
ORBIT_API int orbit_record_decode(const uint8_t *rec, size_t n,
                                  const uint8_t *key, size_t klen,
                                  orbit_record_meta *meta, orbit_buf *scratch,
                                  const uint8_t **payload, size_t *plen);

#ifdef __cplusplus
}
#endif
#endif
