/*
 * Private to the time-series model (src/model/timeseries*.c): the series
 * handle, the exact sum accumulator, rollups, the encodings of points,
 * rollups and definitions, key builders, and the reader that serves a read
 * from a transaction, a snapshot or the latest data.
 *
 * Layer: src/model, on the contract (orbit/kv.h), the codec (orbit/codec.h,
 * orbit/record.h) and the transaction core (orbit/txn.h).
 */
#ifndef ORBIT_MODEL_TIMESERIES_INT_H
#define ORBIT_MODEL_TIMESERIES_INT_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"
#include "orbit/kv.h"
#include "orbit/model.h"
#include "orbit/timeseries.h"
#include "orbit/txn.h"

struct orbit_series {
    const orbit_actor *a; /* borrowed */
    orbit_kv *kv;
    uint64_t ks, id;
    char *name;
    orbit_ts_type type;
    size_t ngrans;
    int64_t grans[ORBIT_TS_MAX_GRANS]; /* ascending */
};

/* The version of the point, rollup and definition payloads
 * (schema_version of their records). */
#define TS__SCHEMA 1

/* ---- exact sums -------------------------------------------------------
 * A two's complement fixed-point integer of TS__SUM_LIMBS 64-bit limbs
 * whose bit 0 is 2^-1074 (the smallest subnormal double): every finite
 * double and every int64 is exactly representable, sums of up to 2^60 of
 * them cannot overflow, and so adding and subtracting values in any order
 * gives exactly the same accumulator. ts__sum_value rounds it to the
 * nearest double (ties to even) once. */
#define TS__SUM_LIMBS 36
typedef struct ts_sum {
    uint64_t l[TS__SUM_LIMBS];
} ts_sum;

void ts__sum_zero(ts_sum *s);
/* sign +1 adds, -1 subtracts. d must be finite. */
void ts__sum_add_double(ts_sum *s, double d, int sign);
void ts__sum_add_int(ts_sum *s, int64_t v, int sign);
void ts__sum_merge(ts_sum *s, const ts_sum *o);
double ts__sum_value(const ts_sum *s);

/* ---- values and rollups ---------------------------------------------- */

/* A value that owns its string bytes (v.s points into buf). */
typedef struct ts_owned {
    orbit_ts_value v;
    orbit_buf buf;
} ts_owned;

int ts__owned_set(ts_owned *o, const orbit_ts_value *v);
void ts__owned_release(ts_owned *o);

int ts__numeric(orbit_ts_type t);
/* Compare two values of numeric type t: <0, 0, >0. */
int ts__num_cmp(orbit_ts_type t, const orbit_ts_value *a, const orbit_ts_value *b);
int ts__value_equal(const orbit_ts_value *a, const orbit_ts_value *b);
void ts__sum_add_value(ts_sum *s, const orbit_ts_value *v, int sign);

/* Compare (ts, seq) pairs. */
static inline int ts__pos_cmp(int64_t at, int64_t aq, int64_t bt, int64_t bq)
{
    if (at != bt)
        return at < bt ? -1 : 1;
    return aq < bq ? -1 : aq > bq;
}

/* The rollup of one bucket (or an aggregation's accumulator). count 0
 * means empty: the other fields are then meaningless. */
typedef struct ts_roll {
    orbit_ts_type type;
    uint64_t count;
    ts_sum sum;          /* numeric types */
    ts_owned min, max;   /* numeric types */
    int64_t first_ts, first_seq;
    ts_owned first;
    int64_t last_ts, last_seq;
    ts_owned last;
} ts_roll;

void ts__roll_init(ts_roll *r, orbit_ts_type type);
void ts__roll_reset(ts_roll *r);
void ts__roll_release(ts_roll *r);
/* Add one point / merge another rollup into r. */
int ts__roll_add(ts_roll *r, int64_t ts, int64_t seq, const orbit_ts_value *v);
int ts__roll_merge(ts_roll *r, const ts_roll *o);
int ts__roll_copy(ts_roll *dst, const ts_roll *src);

/* ---- encodings ---------------------------------------------------------
 * Point payload: u8 type, then the value: INT64 8 bytes big-endian, FLOAT64
 * the IEEE bits 8 bytes big-endian, BOOL 1 byte, STRING/JSON the bytes to
 * the end. Rollup payload: u8 type, varint count, [numeric: sum, min, max],
 * first (ts, seq 8 bytes each, value), last (the same), where a value is
 * encoded as in a point but STRING/JSON carry a varint length first, and a
 * sum is u8 lowest limb, u8 limbs, u8 sign fill (0 or 0xFF), limbs 8 bytes
 * little-endian each. Definition payload: u8 version, u8 type, u64
 * retention, u8 ngrans, ngrans x 8 bytes, varint nlabels, then per label
 * varint length + key, varint length + value. */
int ts__point_encode(orbit_buf *out, const orbit_ts_value *v);
/* v borrows from p (strings). key names the record in errors. */
int ts__point_decode(const uint8_t *p, size_t n, orbit_ts_type want, const uint8_t *key,
                     size_t klen, orbit_ts_value *v);
int ts__roll_encode(orbit_buf *out, const ts_roll *r);
int ts__roll_decode(const uint8_t *p, size_t n, ts_roll *r, const uint8_t *key, size_t klen);

typedef struct ts_def {
    orbit_ts_type type;
    uint64_t retention_ms;
    size_t ngrans;
    int64_t grans[ORBIT_TS_MAX_GRANS];
    size_t nlabels;
    orbit_ts_label *labels; /* owned (key and value strings too) */
} ts_def;

int ts__def_encode(orbit_buf *out, const ts_def *d);
int ts__def_decode(const uint8_t *p, size_t n, ts_def *d, const uint8_t *key, size_t klen);
void ts__def_release(ts_def *d);
/* Check and copy create options into d (ascending granularities, label
 * copies). ORBIT_EINVAL naming the problem. */
int ts__def_from_opts(ts_def *d, const orbit_ts_create_opts *o);
int ts__labels_set(ts_def *d, const orbit_ts_label *labels, size_t n);

/* Decode a record stored under key (ORBIT_MODEL_TS, checked) into its
 * payload (borrowed from rec or scratch). */
int ts__record_payload(const uint8_t *rec, size_t n, const uint8_t *key, size_t klen,
                       orbit_buf *scratch, const uint8_t **payload, size_t *plen);

/* ---- keys -------------------------------------------------------------- */

int ts__key_meta(orbit_buf *out, uint64_t ks, uint64_t id);
int ts__key_point(orbit_buf *out, const orbit_series *s, int64_t ts, int64_t seq);
/* (…, "p", ts): sorts before every point of ts and after every earlier one. */
int ts__key_point_bound(orbit_buf *out, const orbit_series *s, int64_t ts);
int ts__key_points_prefix(orbit_buf *out, const orbit_series *s);
int ts__key_bucket(orbit_buf *out, const orbit_series *s, int64_t g, int64_t start);
int ts__key_buckets_prefix(orbit_buf *out, const orbit_series *s, int64_t g);
/* Decode the (ts, seq) of a point key / the start of a bucket key whose
 * prefix (points / one granularity's buckets) is plen bytes long. */
int ts__point_key_decode(const uint8_t *k, size_t klen, size_t plen, int64_t *ts,
                         int64_t *seq);
int ts__bucket_key_decode(const uint8_t *k, size_t klen, size_t plen, int64_t *start);

/* ---- reading ----------------------------------------------------------- */

typedef struct ts_reader {
    orbit_txn *txn;        /* reading inside a transaction, or */
    orbit_kv *kv;          /* the store, at snap (NULL: latest data) */
    orbit_snapshot *snap;  /* owned */
} ts_reader;

/* tx non-NULL: read in it (binding it). Else the latest data, through one
 * snapshot when `snapshot` is set and the provider has snapshots. */
int ts__reader_open(ts_reader *r, orbit_tx *tx, const orbit_series *s, int snapshot);
void ts__reader_close(ts_reader *r);
int ts__reader_iter(ts_reader *r, const orbit_scan_opts *so, orbit_iter **out);
int ts__reader_get(ts_reader *r, const uint8_t *k, size_t klen, orbit_buf *out);

/* Read every point in keys [lo, hi) (both built with ts__key_point*) in
 * order into r (which is reset first): a bucket's recomputation. */
int ts__scan_roll(const orbit_series *s, ts_reader *rd, const orbit_buf *lo,
                  const orbit_buf *hi, ts_roll *r);

/* Floor division for b > 0. */
static inline int64_t ts__floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

#endif
