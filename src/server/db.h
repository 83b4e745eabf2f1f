/*
 * The storage layout of Redis types on the provider contract (db.c,
 * db_expire.c), used by the command families (t_*.c).
 *
 * Every key lives in the default database actor's keyspace
 * (ORBIT_KEYSPACE_DEFAULT = 1), as tuple keys (orbit/codec.h), and every
 * stored value is a record envelope (orbit/record.h, model ORBIT_MODEL_KV)
 * whose checksum covers its key:
 *
 *   (1, "kv", K)              the metadata record of user key K
 *   (1, "kvs", K, ver, ...)   sub-keys of K's value at version ver:
 *                             hash field f: (..., f) -> the field's value
 *                             set member s: (..., s) -> an empty record
 *                             list item i: (..., int i) -> the item
 *                             zset member: (..., "m", member) -> score
 *                             zset order: (..., "s", double score, member)
 *   (1, "kvx", ms, K)         expiry index: K expires at ms (ms since epoch)
 *
 * The metadata record's schema_version says how its payload reads:
 *   0  a plain string without expiry: the payload is the value, exactly
 *      what orbit_str_put writes, so `orbit kv get K` and the server's GET
 *      read each other's strings;
 *   1  the server's metadata: u8 type | varint expire_ms (0: none), then
 *      for a string the value bytes, for a hash or a set varint version |
 *      varint size (fields or members), for a list the same plus
 *      varint zigzag(head) (the first item's index).
 * A compound value's sub-keys sit under its version, a number unique to
 * each creation of the value, so DEL is O(1) (the metadata record goes)
 * plus one range delete of (1, "kvs", K, ver) after the commit, and a SET
 * over a hash makes the old fields unreachable at once (they are reclaimed
 * when the key is next deleted or recreated as a hash, or by FLUSHDB).
 * The expiry index is ordered by time, so the active expiry cycle reads
 * only entries that are due; an entry whose key's metadata no longer says
 * that time (the key was overwritten or persisted) is stale and is
 * dropped when it comes due.
 *
 * Threads: a srv_call belongs to one thread; db calls use the worker's
 * per-thread scratch buffers.
 */
#ifndef ORBIT_SERVER_DB_H
#define ORBIT_SERVER_DB_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"
#include "orbit/kv.h"
#include "server/server.h"

enum {
    DB_NONE = 0,
    DB_STRING = 1,
    DB_HASH = 2,
    DB_LIST = 3,
    DB_SET = 4,
    DB_ZSET = 5,
};

#define DB_SV_PLAIN 0
#define DB_SV_META 1

typedef struct db_meta {
    int type;          /* DB_NONE: absent (or expired) */
    int64_t expire_ms; /* 0: none */
    uint64_t version;  /* compound types */
    uint64_t size;     /* compound types: number of fields */
    int64_t head;      /* DB_LIST: the index of the first item */
    orbit_buf str;     /* DB_STRING: the value (owned) */
    orbit_buf raw;     /* the stored record as read (owned), for WATCH */
    int raw_present;   /* a record was stored (maybe expired) */
    int64_t raw_expire;/* the stored expiry even when expired */
} db_meta;

struct db_cleanup {
    uint8_t *key;
    size_t klen;
    uint64_t version;
};

void db_meta_init(db_meta *m);
void db_meta_release(db_meta *m);

const char *db_type_name(int type);

/* Read K's metadata in x's transaction (for update when for_update and
 * the call writes) or from the latest data. An expired key reads as
 * DB_NONE (lazy expiry; the key is deleted when the call writes, else
 * by the active cycle). 0 or a negative error (ECORRUPT naming the key). */
int db_lookup(srv_call *x, const uint8_t *k, size_t kl, int for_update, db_meta *m);

/* Write K as a string (replacing any value; keepttl keeps m_old's expiry).
 * old: the metadata read before (NULL: unknown, e.g. a blind SET), so the
 * sub-keys of a compound value it replaces are cleaned after commit. */
int db_set_string(srv_call *x, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                  int64_t expire_ms, const db_meta *old);
/* Write K's metadata for a compound type (hash): m's type, version, size,
 * expire_ms. */
int db_put_meta(srv_call *x, const uint8_t *k, size_t kl, const db_meta *m);
/* Delete K (metadata now, sub-keys after commit). m is what db_lookup
 * read. */
int db_delete(srv_call *x, const uint8_t *k, size_t kl, const db_meta *m);
/* Change K's expiry (0: persist), rewriting its metadata. */
int db_set_expire(srv_call *x, const uint8_t *k, size_t kl, db_meta *m, int64_t expire_ms);
/* Call once at start, before any command runs. */
void db_init(void);
/* A new version for a compound value. */
uint64_t db_new_version(void);

/* Sub-keys of a compound value (hash fields). */
int db_sub_key(orbit_buf *out, const uint8_t *k, size_t kl, uint64_t ver,
               const uint8_t *f, size_t fl);
int db_sub_prefix(orbit_buf *out, const uint8_t *k, size_t kl, uint64_t ver);
/* Read field f: 0 (value in out), ORBIT_NOTFOUND, or an error. */
int db_sub_get(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver, const uint8_t *f,
               size_t fl, orbit_buf *out);
int db_sub_put(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver, const uint8_t *f,
               size_t fl, const uint8_t *v, size_t vl);
int db_sub_del(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver, const uint8_t *f,
               size_t fl);
/* Visit sub-keys of (k, ver) in order, starting after `after` (NULL: from
 * the first), at most limit (0: all). fn gets the field and value
 * (borrowed); its non-zero return stops the scan and is returned. *last
 * (may be NULL) receives the last field visited. */
typedef int (*db_sub_fn)(void *arg, const uint8_t *f, size_t fl, const uint8_t *v, size_t vl);
int db_sub_scan(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver, const uint8_t *after,
                size_t afterlen, size_t limit, db_sub_fn fn, void *arg, orbit_buf *last);

/* Visit user keys in order starting at `from` (inclusive; NULL: first),
 * at most limit metadata records (0: all). fn gets the key and its
 * metadata (expired keys are skipped but count toward limit). Returns 0 at
 * the end of the keys, 1 when the limit stopped it (then *next is the key
 * to resume from), fn's non-zero value, or an error. */
typedef int (*db_key_fn)(void *arg, const uint8_t *k, size_t kl, const db_meta *m);
int db_scan_keys(srv_call *x, const uint8_t *from, size_t fromlen, const uint8_t *prefix,
                 size_t plen, size_t limit, db_key_fn fn, void *arg, orbit_buf *next);

/* List items: (1, "kvs", K, ver, int index), items head .. head+size-1.
 * db_item_scan visits indexes in [from, to) (descending when reverse);
 * db_item_del_range deletes [from, to) in the transaction. */
typedef int (*db_item_fn)(void *arg, int64_t idx, const uint8_t *v, size_t vl);
int db_item_get(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver, int64_t idx,
                orbit_buf *out);
int db_item_put(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver, int64_t idx,
                const uint8_t *v, size_t vl);
int db_item_del_range(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver, int64_t from,
                      int64_t to);
int db_item_scan(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver, int64_t from,
                 int64_t to, int reverse, db_item_fn fn, void *arg);

/* Any sub-key built by the caller (sorted sets' two indexes): a plain
 * record's payload read, written, deleted, or scanned in [start, end)
 * (NULL: open) within prefix; fn gets the whole stored key. */
typedef int (*db_raw_fn)(void *arg, const uint8_t *key, size_t klen, const uint8_t *v,
                         size_t vl);
int db_raw_get(srv_call *x, const orbit_buf *key, orbit_buf *out);
int db_raw_put(srv_call *x, const orbit_buf *key, const uint8_t *v, size_t vl);
int db_raw_del(srv_call *x, const orbit_buf *key);
int db_raw_scan(srv_call *x, const orbit_buf *prefix, const orbit_buf *start,
                const orbit_buf *end, int reverse, db_raw_fn fn, void *arg);

/* Run after a successful commit: range deletes of replaced versions. */
void db_run_cleanup(srv_call *x);
void db_drop_cleanup(srv_call *x);

/* Counts for INFO/DBSIZE: metadata records and expiry index entries. */
int db_count(uint64_t *keys, uint64_t *expires);
/* FLUSHDB: every server key (metadata, sub-keys, expiry index). */
int db_flush(void);

/* The plain fast paths (no transaction): GET and blind SET. */
int db_fast_get(const uint8_t *k, size_t kl, orbit_buf *val, int *type);
int db_fast_set(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl);
/* Encode K's metadata key (1, "kv", K) / a plain string record for it. */
int db_meta_key(orbit_buf *out, const uint8_t *k, size_t kl);
int db_encode_plain(orbit_buf *out, const uint8_t *key, size_t klen, const uint8_t *v,
                    size_t vl);
/* Decode a metadata record stored under enc_key for user key k. */
int db_decode_meta(const uint8_t *rec, size_t n, const uint8_t *enc_key, size_t eklen,
                   db_meta *m);

/* Active expiry (db_expire.c): one cycle deleting up to max due keys.
 * Returns the number deleted, or a negative error; each deletion is added
 * to g_srv.stats.expired_keys as it commits. */
int db_expire_cycle(size_t max);

#endif
