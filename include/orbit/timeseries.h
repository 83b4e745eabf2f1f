/*
 * Time series: typed points keyed by (series, timestamp, sequence), with
 * per-granularity bucket rollups kept exact in the same transaction as
 * every point write (the seed's per-granularity index buckets).
 *
 * A series belongs to an actor (orbit/model.h) and is a catalog object of
 * kind ORBIT_CATALOG_SERIES. It has a value type fixed at creation
 * (int64, float64, string, bool or JSON), 1 to ORBIT_TS_MAX_GRANS bucket
 * granularities fixed at creation (default: one, 60000 ms), a retention
 * and labels (key=value strings) that orbit_ts_alter may change.
 *
 * Keys (ks = the actor's keyspace, S = the series id; every key is inside
 * orbit_key_object_prefix(ks, "ts", S), so a series is one key range):
 *   (ks, "ts", S, "meta")              the definition (ORBIT_MODEL_TS record)
 *   (ks, "ts", S, "p", ts, seq)        a point (orbit_key_ts_point)
 *   (ks, "ts", S, "b", g, start)       the rollup of the bucket
 *                                      [start, start + g) of granularity g
 * Granularity buckets are aligned to 0 (start is a multiple of g). The
 * granularity element comes before the bucket start so that one
 * granularity's buckets are one contiguous range (the key
 * orbit_key_ts_bucket builds).
 *
 * A rollup holds, over the points of its bucket: count, the exact sum (an
 * order-independent fixed-point accumulator, so a float64 sum is the exact
 * sum of the points rounded once, whatever the order of writes, updates
 * and deletes), min, max, first (ts, seq, value) and last (ts, seq,
 * value); string and JSON series keep count, first and last only. Every
 * point write, update and delete adjusts the rollup of its bucket in every
 * granularity inside the same transaction: count and sum arithmetically,
 * min/max/first/last by comparison, and when the point removed or changed
 * was the bucket's current min or max (or the removed one its first or
 * last), by one scan of that bucket's points. So a rollup always equals
 * the recomputation from its points.
 *
 * Concurrency: every write reads the rollups it changes with
 * orbit_txn_get_for_update, so two transactions writing into one bucket
 * conflict (ORBIT_ECONFLICT, retryable; orbit_tx_run retries) under every
 * isolation level; writes into different buckets do not. A point whose
 * (ts, seq) is after its finest bucket's last point is known to be new
 * without reading it; only an out-of-order point (at or before the
 * bucket's last) is read first (all of a batch's in one multi-get).
 *
 * Retention is applied on every write (orbit_ts_add, orbit_ts_madd, each
 * chunk of one), in its transaction, relative to the series' newest
 * timestamp after the write (RedisTimeSeries' rule), with the retention
 * read from the stored definition (so orbit_ts_alter's applies at once):
 * points with ts < newest - retention are expired. A write does not store
 * its own expired points (orbit_ts_add refuses one with ORBIT_EINVAL,
 * "... is older than the retention"; orbit_ts_madd skips them), and
 * deletes the stored expired points with range deletes, in whole buckets
 * of the finest granularity (so a point may outlive the retention by less
 * than one finest bucket), at most 64 buckets per write, and on a provider
 * with max_txn_keys no more points and rollups than a quarter of one
 * transaction's keys (which batch chunks leave free for it; a finest
 * bucket with more points than that goes a part per write). A write after
 * a long gap therefore leaves some expired points to the next writes;
 * until then they stay readable. orbit_ts_expire deletes every expired
 * point at once (in chunks).
 *
 * Costs (orbit_kv_stats, keys_read / read_calls), on any amount of other
 * data:
 *   orbit_ts_add / madd  one get_for_update per distinct bucket touched
 *                        (per granularity), plus one multi-get of the
 *                        out-of-order points, if any, plus the definition
 *                        (one key); with a retention also one limit-1
 *                        reverse scan (the newest point) and one scan of
 *                        the finest rollups that expired (at most 65
 *                        keys; none read when nothing expired), and when
 *                        some did, the trim: one scan of those rollups,
 *                        range deletes, and per coarser granularity the
 *                        rebuild of the bucket cut by the boundary (its
 *                        finest rollups, or its points when its width is
 *                        not a multiple of the finest);
 *   orbit_ts_range       one scan reading only the points returned;
 *   orbit_ts_last        one reverse scan of limit 1 (one key);
 *   orbit_ts_get         one key;
 *   orbit_ts_aggregate   when the bucket width and alignment are multiples
 *                        of a granularity: one scan of that granularity's
 *                        rollups for the whole buckets inside [from, to]
 *                        (keys_read = those buckets) plus, only where from
 *                        or to + 1 is not on a bucket boundary, one scan of
 *                        the points of that partial edge bucket; otherwise
 *                        one scan of the points in range;
 *   orbit_ts_info        the definition (one key), one scan of the
 *                        coarsest granularity's rollups (count), one
 *                        limit-1 scan each way (first and last timestamp).
 *
 * Transactions (orbit/txn.h): every write takes an orbit_tx * first; NULL
 * runs it in a transaction of its own (retried on conflict, never on an
 * uncertain outcome). Reads take one too: NULL reads the latest data (a
 * read that makes several scans takes one snapshot for them where the
 * provider has snapshots), a tx reads inside it and sees its writes.
 * Every write marks the actor's ORBIT_MODEL_TS data changed
 * (orbit_tx_touch). ORBIT_EINVAL (bad argument, wrong value type),
 * ORBIT_EEXIST and ORBIT_NOTFOUND are returned before anything is written;
 * any other failure inside a caller's transaction leaves it failed.
 *
 * Threads: an orbit_series handle is immutable after open (it caches the
 * value type and granularities, which never change) and may be used by
 * many threads at once; it borrows its actor, which must outlive it. A
 * handle of a series that was dropped must be closed, not written through:
 * its writes find no definition and are ORBIT_NOTFOUND, but once the name
 * is created again (the same id) a write through it would mix into the
 * new series.
 * Everything a callback receives is borrowed for that call only.
 *
 * Not built (absent, not stubbed): a label index (TS.QUERYINDEX, TS.MRANGE
 * / TS.MGET FILTER: orbit_ts_list walks the actor's series instead),
 * compaction rules to other series (TS.CREATERULE: the rollups serve
 * aggregations), FILTER_BY_TS / FILTER_BY_VALUE, EMPTY buckets,
 * BUCKETTIMESTAMP other than the bucket start, the aggregators range,
 * std.p/s, var.p/s and twa, chunk/encoding options, a stored per-series
 * duplicate policy (TS.CREATE DUPLICATE_POLICY: the caller passes one per
 * write), changing a series' granularities or value type, hiding expired
 * points from reads before a write or orbit_ts_expire deletes them.
 */
#ifndef ORBIT_TIMESERIES_H
#define ORBIT_TIMESERIES_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"
#include "orbit/error.h"
#include "orbit/model.h"
#include "orbit/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orbit_series orbit_series;

typedef enum orbit_ts_type {
    ORBIT_TS_INT64 = 1,
    ORBIT_TS_FLOAT64 = 2, /* finite values only (NaN and infinities: EINVAL) */
    ORBIT_TS_STRING = 3,  /* any bytes */
    ORBIT_TS_BOOL = 4,    /* aggregated as 0 / 1 */
    ORBIT_TS_JSON = 5,    /* valid JSON text (checked with jansson) */
} orbit_ts_type;

/* Point timestamps (ms) and sequences: 0 .. ORBIT_TS_MAX. */
#define ORBIT_TS_MAX (INT64_MAX / 4)
#define ORBIT_TS_MAX_GRANS 4
/* A granularity or aggregation bucket width: 1 .. ORBIT_TS_MAX_WIDTH ms. */
#define ORBIT_TS_MAX_WIDTH (INT64_C(1) << 50)
#define ORBIT_TS_DEFAULT_GRAN_MS INT64_C(60000)

/*
 * A value. Only the member of `type` is meaningful. s/len hold STRING and
 * JSON values: on input borrowed for the call, on output borrowed for the
 * callback.
 */
typedef struct orbit_ts_value {
    orbit_ts_type type;
    int64_t i;     /* INT64 */
    double d;      /* FLOAT64 */
    int b;         /* BOOL: 0 or 1 (any non-zero is stored as 1) */
    const char *s; /* STRING, JSON */
    size_t len;
} orbit_ts_value;

typedef struct orbit_ts_point {
    int64_t ts;  /* ms */
    int64_t seq; /* orders points of one timestamp; RedisTimeSeries uses 0 */
    orbit_ts_value v;
} orbit_ts_point;

typedef struct orbit_ts_label {
    const char *key; /* non-empty */
    const char *value;
} orbit_ts_label;

/* ---- series ---------------------------------------------------------- */

/* Zero-initialise; fields only grow at the end. */
typedef struct orbit_ts_create_opts {
    orbit_ts_type type;    /* 0: FLOAT64 (RedisTimeSeries' values) */
    uint64_t retention_ms; /* 0: keep forever */
    /* Granularities in ms, each 1 .. ORBIT_TS_MAX_WIDTH, distinct; any
     * order (kept ascending). ngrans 0: { ORBIT_TS_DEFAULT_GRAN_MS }. */
    size_t ngrans;
    int64_t grans_ms[ORBIT_TS_MAX_GRANS];
    const orbit_ts_label *labels; /* borrowed for the call */
    size_t nlabels;
} orbit_ts_create_opts;

/*
 * TS.CREATE: create series `name` (non-empty C string) of actor a; opts
 * NULL is all defaults. The catalog id is allocated outside the
 * transaction (ids are never reused, so a rolled-back create only skips
 * one); the definition is written in tx. ORBIT_EEXIST if it exists,
 * ORBIT_EINVAL for bad options (a duplicate label key included).
 */
ORBIT_API int orbit_ts_create(orbit_tx *tx, const orbit_actor *a, const char *name,
                              const orbit_ts_create_opts *opts);

/* Open series `name` of actor a (reads its definition, in tx if given).
 * *out is owned by the caller: orbit_ts_close. ORBIT_NOTFOUND if it does
 * not exist, ORBIT_ECORRUPT for a bad definition record. */
ORBIT_API int orbit_ts_open(orbit_tx *tx, const orbit_actor *a, const char *name,
                            orbit_series **out);
/* NULL is accepted. */
ORBIT_API void orbit_ts_close(orbit_series *s);

ORBIT_API uint64_t orbit_ts_id(const orbit_series *s);
ORBIT_API const char *orbit_ts_name(const orbit_series *s); /* owned by s */
ORBIT_API orbit_ts_type orbit_ts_value_type(const orbit_series *s);

/* Fields to change in orbit_ts_alter. */
#define ORBIT_TS_ALTER_RETENTION 1u
#define ORBIT_TS_ALTER_LABELS 2u /* replaces all labels */

/* TS.ALTER: change the retention and/or the labels (what = a mask of
 * ORBIT_TS_ALTER_*; other fields of opts are ignored). ORBIT_NOTFOUND if
 * the series was dropped. */
ORBIT_API int orbit_ts_alter(orbit_tx *tx, const orbit_series *s, unsigned what,
                             const orbit_ts_create_opts *opts);

/*
 * Drop series `name` (Redis DEL of a series key): its points, rollups and
 * definition. In a caller's tx, one range delete inside it (on a provider
 * with max_txn_keys, a large series is ORBIT_ETOOBIG and fails tx). With
 * tx NULL, in as many transactions as the provider's limits need: points
 * and their rollups first, chunk by chunk (each chunk consistent), the
 * definition last, so a drop cut short leaves a smaller consistent series.
 * The catalog keeps the name's id; creating the name again reuses it and
 * clears anything a stale writer left under it. ORBIT_NOTFOUND if absent.
 */
ORBIT_API int orbit_ts_drop(orbit_tx *tx, const orbit_actor *a, const char *name);

/* Called per series by orbit_ts_list with its name and definition
 * (borrowed for the call); non-zero stops the listing and is returned. */
typedef struct orbit_ts_info orbit_ts_info;
typedef int (*orbit_ts_series_fn)(void *arg, const char *name, const orbit_ts_info *def);

/* Every series of actor a, in name order, with its definition (type,
 * retention, granularities, labels; count and timestamps are not filled):
 * one catalog scan plus one read per series (for TS.QUERYINDEX-style
 * label filters, done by the caller). */
ORBIT_API int orbit_ts_list(const orbit_actor *a, orbit_ts_series_fn fn, void *arg);

/* ---- writes ---------------------------------------------------------- */

/* What a write does when a point with the same (ts, seq) exists
 * (RedisTimeSeries' DUPLICATE_POLICY / ON_DUPLICATE). */
typedef enum orbit_ts_dup {
    ORBIT_TS_DUP_LAST = 0,  /* overwrite (the default): an upsert */
    ORBIT_TS_DUP_BLOCK = 1, /* ORBIT_EEXIST, nothing written */
    ORBIT_TS_DUP_FIRST = 2, /* keep the existing value */
    ORBIT_TS_DUP_MIN = 3,   /* numeric types: keep the smaller */
    ORBIT_TS_DUP_MAX = 4,   /* numeric types: keep the larger */
    ORBIT_TS_DUP_SUM = 5,   /* INT64 / FLOAT64: store the sum */
} orbit_ts_dup;

/*
 * TS.ADD: write point (ts, seq) = v. v's type must be the series' type
 * (ORBIT_EINVAL otherwise, as for ts/seq outside 0..ORBIT_TS_MAX, a
 * non-finite float, invalid JSON, or MIN/MAX/SUM on a type they do not
 * apply to, or ts older than the retention: ts < newest - retention).
 * ORBIT_EEXIST under ORBIT_TS_DUP_BLOCK when the point exists.
 * ORBIT_NOTFOUND if the series was dropped. Applies the retention (above).
 * The caller supplies the timestamp (TS.ADD's '*' is the caller's clock).
 */
ORBIT_API int orbit_ts_add(orbit_tx *tx, const orbit_series *s, int64_t ts, int64_t seq,
                           const orbit_ts_value *v, orbit_ts_dup dup);

/*
 * TS.MADD / batch ingest of n points (any order; a repeated (ts, seq) is
 * applied in array order under dup). Every point is checked first: a bad
 * one (EINVAL), or under BLOCK a (ts, seq) given twice (EEXIST), writes
 * nothing. Under BLOCK a point that is already stored is EEXIST for the
 * transaction (chunk, below) it falls in, before that one writes. Each
 * transaction applies the retention (above): its points older than it are
 * not stored (and count as written), the stored expired ones are deleted.
 *
 * In a caller's tx all n go into it; if the keys they write (points plus
 * distinct rollups) exceed the provider's max_txn_keys the call fails with
 * ORBIT_ETOOBIG before writing, and tx is failed.
 * With tx NULL the batch is split into consecutive chunks (in timestamp
 * order) that each fit the provider's max_txn_keys and max_txn_bytes (and
 * at most 20000 points), each committed in its own transaction (read
 * committed where the provider offers it: the rollup claims above already
 * serialize writers of a bucket): each chunk is atomic, the batch as a
 * whole is not. *written (may be NULL) receives
 * the number of points in chunks committed, so on a failure exactly those
 * are stored (on ORBIT_EUNCERTAIN the failing chunk may be stored too). A
 * failure after an earlier chunk committed is never a retryable code: a
 * retryable failure of a later chunk is returned as ORBIT_EUNCERTAIN (the
 * batch is partly stored; resend only what *written says is missing).
 */
ORBIT_API int orbit_ts_madd(orbit_tx *tx, const orbit_series *s, const orbit_ts_point *pts,
                            size_t n, orbit_ts_dup dup, size_t *written);

/* Delete point (ts, seq). 0 or ORBIT_NOTFOUND (nothing written). */
ORBIT_API int orbit_ts_del(orbit_tx *tx, const orbit_series *s, int64_t ts, int64_t seq);

/*
 * TS.DEL: delete every point with from <= ts <= to (inclusive; any int64
 * bounds), with range deletes (orbit_txn_delete_range) on the points and
 * on the rollups of wholly covered buckets; the at most two partially
 * covered buckets per granularity are recomputed. *deleted (may be NULL)
 * gets the number of points deleted. Chunking as orbit_ts_madd: in a
 * caller's tx one transaction (ORBIT_ETOOBIG past max_txn_keys); with tx
 * NULL chunks of consecutive points, each atomic, *deleted counting those
 * committed.
 */
ORBIT_API int orbit_ts_del_range(orbit_tx *tx, const orbit_series *s, int64_t from,
                                 int64_t to, uint64_t *deleted);

/*
 * Retention, all of it now: delete the points with ts < now_ms -
 * retention (as orbit_ts_del_range(-inf, now_ms - retention - 1), chunked
 * the same way), exactly, where writes delete in bounded steps (above).
 * now_ms is the reference time: the caller's clock, or, for
 * RedisTimeSeries' rule (retention relative to the newest sample), the
 * series' last timestamp (ORBIT_TS_NOW_LAST reads it). The retention is
 * read from the stored definition. A series with retention 0 deletes
 * nothing. *deleted as orbit_ts_del_range.
 */
#define ORBIT_TS_NOW_LAST INT64_MIN
ORBIT_API int orbit_ts_expire(orbit_tx *tx, const orbit_series *s, int64_t now_ms,
                              uint64_t *deleted);

/* ---- reads ----------------------------------------------------------- */

/* Called per point; p and its strings are borrowed for the call. A
 * non-zero return stops the read and is returned by it. */
typedef int (*orbit_ts_point_fn)(void *arg, const orbit_ts_point *p);

/* Read point (ts, seq): fn called once. 0 or ORBIT_NOTFOUND. */
ORBIT_API int orbit_ts_get(orbit_tx *tx, const orbit_series *s, int64_t ts, int64_t seq,
                           orbit_ts_point_fn fn, void *arg);

/* TS.GET: the last point (greatest (ts, seq)): fn called once. 0 or
 * ORBIT_NOTFOUND for an empty series. */
ORBIT_API int orbit_ts_last(orbit_tx *tx, const orbit_series *s, orbit_ts_point_fn fn,
                            void *arg);

/* Zero-initialise. */
typedef struct orbit_ts_range_opts {
    int reverse;  /* TS.REVRANGE: newest first */
    size_t limit; /* COUNT: at most this many points (or buckets); 0: all */
} orbit_ts_range_opts;

/* TS.RANGE / TS.REVRANGE: the points with from <= ts <= to (inclusive,
 * any int64 bounds: INT64_MIN and INT64_MAX for '-' and '+') in (ts, seq)
 * order, or reversed. opts may be NULL. 0 or fn's non-zero value. */
ORBIT_API int orbit_ts_range(orbit_tx *tx, const orbit_series *s, int64_t from, int64_t to,
                             const orbit_ts_range_opts *opts, orbit_ts_point_fn fn,
                             void *arg);

typedef enum orbit_ts_agg {
    ORBIT_TS_AGG_AVG = 1,   /* FLOAT64 result: exact sum / count */
    ORBIT_TS_AGG_SUM = 2,   /* FLOAT64 result: the exact sum rounded once */
    ORBIT_TS_AGG_MIN = 3,   /* the series' type */
    ORBIT_TS_AGG_MAX = 4,   /* the series' type */
    ORBIT_TS_AGG_COUNT = 5, /* INT64 result; any series type */
    ORBIT_TS_AGG_FIRST = 6, /* the series' type; any series type */
    ORBIT_TS_AGG_LAST = 7,  /* the series' type; any series type */
} orbit_ts_agg;

/* Zero-initialise. */
typedef struct orbit_ts_agg_opts {
    orbit_ts_agg agg;
    int64_t bucket_ms; /* W: 1 .. ORBIT_TS_MAX_WIDTH */
    /* Buckets are [align + k*W, align + (k+1)*W). 0 is RedisTimeSeries'
     * default; pass `from` for ALIGN start and `to` for ALIGN end. Any
     * value in -ORBIT_TS_MAX .. ORBIT_TS_MAX. */
    int64_t align;
    int reverse;  /* newest bucket first */
    size_t limit; /* at most this many buckets; 0: all */
} orbit_ts_agg_opts;

/* One aggregated bucket, borrowed for the callback. Only points with
 * from <= ts <= to count, so the first and last buckets may cover less
 * than W; start is the bucket's start even when it is before from. */
typedef struct orbit_ts_bucket {
    int64_t start;
    uint64_t count; /* points in it, never 0 (empty buckets are skipped) */
    orbit_ts_value value;
} orbit_ts_bucket;

typedef int (*orbit_ts_bucket_fn)(void *arg, const orbit_ts_bucket *b);

/*
 * TS.RANGE ... AGGREGATION agg W [ALIGN a]: one call of fn per non-empty
 * bucket, in time order (or reversed), at most limit. AVG, SUM, MIN and
 * MAX on a STRING or JSON series are ORBIT_EINVAL. Whole granularity
 * buckets are read from rollups (see Costs). 0 or fn's non-zero value.
 */
ORBIT_API int orbit_ts_aggregate(orbit_tx *tx, const orbit_series *s, int64_t from,
                                 int64_t to, const orbit_ts_agg_opts *opts,
                                 orbit_ts_bucket_fn fn, void *arg);

/*
 * TS.INFO. The definition (type, retention, granularities, labels) from
 * the stored record; count of points from the rollups of the coarsest
 * granularity (summed), first and last timestamps from one limit-1 scan
 * each way over the points (0 when count is 0). `labels` and the strings
 * belong to info: orbit_ts_info_release frees them.
 */
struct orbit_ts_info {
    uint64_t id;
    orbit_ts_type type;
    uint64_t retention_ms;
    size_t ngrans;
    int64_t grans_ms[ORBIT_TS_MAX_GRANS]; /* ascending */
    orbit_ts_label *labels;
    size_t nlabels;
    uint64_t count;
    int64_t first_ts, last_ts;
    uint64_t rollups; /* rollup records of the coarsest granularity read */
};

ORBIT_API int orbit_ts_info_get(orbit_tx *tx, const orbit_series *s, orbit_ts_info *info);
/* Free what orbit_ts_info_get put in info (NULL and zeroed are accepted). */
ORBIT_API void orbit_ts_info_release(orbit_ts_info *info);

#ifdef __cplusplus
}
#endif

#endif
