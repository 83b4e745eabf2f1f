/*
 * The time-series model's data structures and encodings
 * (timeseries_int.h): the exact sum accumulator, rollups (a bucket's
 * count, sum, min, max, first and last, also used as an aggregation's
 * accumulator), the payloads of point, rollup and definition records, and
 * the key builders.
 *
 * Invariants: a rollup of count n equals ts__roll_add applied to its n
 * points in any order (the sum is exact, min/max/first/last are order
 * independent); ts__roll_merge of two rollups equals the rollup of the
 * union of their points. Every decoder checks lengths and types and
 * reports ECORRUPT naming the key; nothing it hands out points outside
 * the bytes it was given.
 *
 * Layer: src/model, on the codec (orbit/codec.h, orbit/record.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "model/timeseries_int.h"
#include "orbit/codec.h"
#include "orbit/provider.h"

/* ---- exact sums ------------------------------------------------------- */

void ts__sum_zero(ts_sum *s) { memset(s, 0, sizeof *s); }

static void limbs_add(uint64_t *l, unsigned i, uint64_t v)
{
    while (v && i < TS__SUM_LIMBS) {
        uint64_t x = l[i] + v;
        v = x < v; /* the carry */
        l[i] = x;
        i++;
    }
}

static void limbs_sub(uint64_t *l, unsigned i, uint64_t v)
{
    while (v && i < TS__SUM_LIMBS) {
        uint64_t x = l[i];
        l[i] = x - v;
        v = x < v; /* the borrow */
        i++;
    }
}

/* Add or subtract m * 2^p (p in bits above 2^-1074). */
static void sum_add_mag(ts_sum *s, uint64_t m, unsigned p, int sign)
{
    unsigned li = p / 64, off = p % 64;
    uint64_t lo = m << off, hi = off ? m >> (64 - off) : 0;
    if (sign > 0) {
        limbs_add(s->l, li, lo);
        limbs_add(s->l, li + 1, hi);
    } else {
        limbs_sub(s->l, li, lo);
        limbs_sub(s->l, li + 1, hi);
    }
}

void ts__sum_add_double(ts_sum *s, double d, int sign)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    unsigned e = (unsigned)((bits >> 52) & 0x7FF);
    uint64_t m = bits & ((UINT64_C(1) << 52) - 1);
    unsigned p = 0;
    if (e) {
        m |= UINT64_C(1) << 52;
        p = e - 1;
    }
    if (!m)
        return;
    if (bits >> 63)
        sign = -sign;
    sum_add_mag(s, m, p, sign);
}

void ts__sum_add_int(ts_sum *s, int64_t v, int sign)
{
    if (v == 0)
        return;
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    if (v < 0)
        sign = -sign;
    sum_add_mag(s, m, 1074, sign);
}

void ts__sum_merge(ts_sum *s, const ts_sum *o)
{
    uint64_t carry = 0;
    for (unsigned i = 0; i < TS__SUM_LIMBS; i++) {
        uint64_t x = s->l[i] + carry;
        uint64_t c = x < carry;
        x += o->l[i];
        c += x < o->l[i];
        s->l[i] = x;
        carry = c;
    }
}

static uint64_t get_bits(const uint64_t *t, unsigned pos, unsigned n)
{
    unsigned li = pos / 64, off = pos % 64;
    uint64_t v = t[li] >> off;
    if (off && li + 1 < TS__SUM_LIMBS)
        v |= t[li + 1] << (64 - off);
    return n >= 64 ? v : v & ((UINT64_C(1) << n) - 1);
}

static int any_bits_below(const uint64_t *t, unsigned pos)
{
    unsigned li = pos / 64, off = pos % 64;
    for (unsigned i = 0; i < li; i++)
        if (t[i])
            return 1;
    return off && (t[li] & ((UINT64_C(1) << off) - 1));
}

double ts__sum_value(const ts_sum *s)
{
    uint64_t t[TS__SUM_LIMBS];
    memcpy(t, s->l, sizeof t);
    int neg = (int)(t[TS__SUM_LIMBS - 1] >> 63);
    if (neg) {
        for (unsigned i = 0; i < TS__SUM_LIMBS; i++)
            t[i] = ~t[i];
        limbs_add(t, 0, 1);
    }
    int top = -1;
    for (int i = TS__SUM_LIMBS - 1; i >= 0; i--)
        if (t[i]) {
            top = i;
            break;
        }
    if (top < 0)
        return 0.0;
    unsigned h = (unsigned)top * 64 + 63 - (unsigned)__builtin_clzll(t[top]);
    unsigned q = h >= 52 ? h - 52 : 0; /* the result's unit in the last place */
    uint64_t m = get_bits(t, q, h - q + 1);
    if (q > 0) {
        int half = (int)get_bits(t, q - 1, 1);
        if (half && (any_bits_below(t, q - 1) || (m & 1)))
            m++;
    }
    double r = ldexp((double)m, (int)q - 1074);
    return neg ? -r : r;
}

/* ---- values and rollups ------------------------------------------------ */

static int is_bytes_type(orbit_ts_type t) { return t == ORBIT_TS_STRING || t == ORBIT_TS_JSON; }

int ts__numeric(orbit_ts_type t)
{
    return t == ORBIT_TS_INT64 || t == ORBIT_TS_FLOAT64 || t == ORBIT_TS_BOOL;
}

int ts__owned_set(ts_owned *o, const orbit_ts_value *v)
{
    o->v = *v;
    if (is_bytes_type(v->type)) {
        if (orbit_buf_set(&o->buf, v->s, v->len))
            return ORBIT_ENOMEM;
        o->v.s = o->buf.data ? (const char *)o->buf.data : "";
    } else {
        o->v.s = NULL;
        o->v.len = 0;
    }
    return ORBIT_OK;
}

void ts__owned_release(ts_owned *o)
{
    orbit_buf_release(&o->buf);
    memset(o, 0, sizeof *o);
}

int ts__num_cmp(orbit_ts_type t, const orbit_ts_value *a, const orbit_ts_value *b)
{
    switch (t) {
    case ORBIT_TS_INT64: return a->i < b->i ? -1 : a->i > b->i;
    case ORBIT_TS_FLOAT64: return a->d < b->d ? -1 : a->d > b->d;
    case ORBIT_TS_BOOL: return (a->b != 0) - (b->b != 0);
    default: return 0;
    }
}

int ts__value_equal(const orbit_ts_value *a, const orbit_ts_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case ORBIT_TS_INT64: return a->i == b->i;
    case ORBIT_TS_FLOAT64: return memcmp(&a->d, &b->d, sizeof a->d) == 0;
    case ORBIT_TS_BOOL: return (a->b != 0) == (b->b != 0);
    default: return a->len == b->len && (a->len == 0 || memcmp(a->s, b->s, a->len) == 0);
    }
}

void ts__sum_add_value(ts_sum *s, const orbit_ts_value *v, int sign)
{
    switch (v->type) {
    case ORBIT_TS_INT64: ts__sum_add_int(s, v->i, sign); break;
    case ORBIT_TS_FLOAT64: ts__sum_add_double(s, v->d, sign); break;
    case ORBIT_TS_BOOL: ts__sum_add_int(s, v->b ? 1 : 0, sign); break;
    default: break;
    }
}

void ts__roll_init(ts_roll *r, orbit_ts_type type)
{
    memset(r, 0, sizeof *r);
    r->type = type;
}

void ts__roll_reset(ts_roll *r)
{
    r->count = 0;
    ts__sum_zero(&r->sum);
}

void ts__roll_release(ts_roll *r)
{
    ts__owned_release(&r->min);
    ts__owned_release(&r->max);
    ts__owned_release(&r->first);
    ts__owned_release(&r->last);
    r->count = 0;
}

int ts__roll_add(ts_roll *r, int64_t ts, int64_t seq, const orbit_ts_value *v)
{
    int num = ts__numeric(r->type);
    if (r->count == 0) {
        ts__sum_zero(&r->sum);
        if (num && (ts__owned_set(&r->min, v) || ts__owned_set(&r->max, v)))
            return ORBIT_ENOMEM;
        if (ts__owned_set(&r->first, v) || ts__owned_set(&r->last, v))
            return ORBIT_ENOMEM;
        r->first_ts = r->last_ts = ts;
        r->first_seq = r->last_seq = seq;
    } else {
        if (num) {
            if (ts__num_cmp(r->type, v, &r->min.v) < 0)
                ts__owned_set(&r->min, v);
            if (ts__num_cmp(r->type, v, &r->max.v) > 0)
                ts__owned_set(&r->max, v);
        }
        if (ts__pos_cmp(ts, seq, r->first_ts, r->first_seq) < 0) {
            if (ts__owned_set(&r->first, v))
                return ORBIT_ENOMEM;
            r->first_ts = ts;
            r->first_seq = seq;
        }
        if (ts__pos_cmp(ts, seq, r->last_ts, r->last_seq) > 0) {
            if (ts__owned_set(&r->last, v))
                return ORBIT_ENOMEM;
            r->last_ts = ts;
            r->last_seq = seq;
        }
    }
    if (num)
        ts__sum_add_value(&r->sum, v, 1);
    r->count++;
    return ORBIT_OK;
}

int ts__roll_merge(ts_roll *r, const ts_roll *o)
{
    if (o->count == 0)
        return ORBIT_OK;
    if (r->count == 0)
        return ts__roll_copy(r, o);
    int num = ts__numeric(r->type);
    if (num) {
        if (ts__num_cmp(r->type, &o->min.v, &r->min.v) < 0 && ts__owned_set(&r->min, &o->min.v))
            return ORBIT_ENOMEM;
        if (ts__num_cmp(r->type, &o->max.v, &r->max.v) > 0 && ts__owned_set(&r->max, &o->max.v))
            return ORBIT_ENOMEM;
        ts__sum_merge(&r->sum, &o->sum);
    }
    if (ts__pos_cmp(o->first_ts, o->first_seq, r->first_ts, r->first_seq) < 0) {
        if (ts__owned_set(&r->first, &o->first.v))
            return ORBIT_ENOMEM;
        r->first_ts = o->first_ts;
        r->first_seq = o->first_seq;
    }
    if (ts__pos_cmp(o->last_ts, o->last_seq, r->last_ts, r->last_seq) > 0) {
        if (ts__owned_set(&r->last, &o->last.v))
            return ORBIT_ENOMEM;
        r->last_ts = o->last_ts;
        r->last_seq = o->last_seq;
    }
    r->count += o->count;
    return ORBIT_OK;
}

int ts__roll_copy(ts_roll *dst, const ts_roll *src)
{
    dst->type = src->type;
    dst->count = src->count;
    dst->sum = src->sum;
    dst->first_ts = src->first_ts;
    dst->first_seq = src->first_seq;
    dst->last_ts = src->last_ts;
    dst->last_seq = src->last_seq;
    if (src->count == 0)
        return ORBIT_OK;
    if (ts__numeric(src->type) &&
        (ts__owned_set(&dst->min, &src->min.v) || ts__owned_set(&dst->max, &src->max.v)))
        return ORBIT_ENOMEM;
    if (ts__owned_set(&dst->first, &src->first.v) || ts__owned_set(&dst->last, &src->last.v))
        return ORBIT_ENOMEM;
    return ORBIT_OK;
}

/* ---- byte helpers ------------------------------------------------------ */

static int put_u64be(orbit_buf *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 7; i >= 0; i--) {
        x[i] = (uint8_t)v;
        v >>= 8;
    }
    return orbit_buf_append(b, x, 8);
}

static int put_varint(orbit_buf *b, uint64_t v)
{
    uint8_t x[10];
    size_t n = 0;
    do {
        uint8_t c = (uint8_t)(v & 0x7F);
        v >>= 7;
        x[n++] = (uint8_t)(c | (v ? 0x80 : 0));
    } while (v);
    return orbit_buf_append(b, x, n);
}

static int put_u8(orbit_buf *b, uint8_t v) { return orbit_buf_append(b, &v, 1); }

typedef struct rd {
    const uint8_t *p;
    size_t n, pos;
    int bad;
} rd;

static uint8_t get_u8(rd *r)
{
    if (r->pos + 1 > r->n) {
        r->bad = 1;
        return 0;
    }
    return r->p[r->pos++];
}

static uint64_t get_u64be(rd *r)
{
    if (r->n - r->pos < 8 || r->pos > r->n) {
        r->bad = 1;
        r->pos = r->n;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | r->p[r->pos++];
    return v;
}

static uint64_t get_varint(rd *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->pos >= r->n) {
            r->bad = 1;
            return 0;
        }
        uint8_t c = r->p[r->pos++];
        v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

static const uint8_t *get_bytes(rd *r, size_t len)
{
    if (r->pos > r->n || r->n - r->pos < len) {
        r->bad = 1;
        r->pos = r->n;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += len;
    return p;
}

static int corrupt(const char *what, const uint8_t *key, size_t klen)
{
    orbit_buf e = ORBIT_BUF_INIT;
    orbit_escape(&e, key, klen);
    orbit_buf_append(&e, "", 1);
    int rc = orbit_error_set(ORBIT_ECORRUPT, "timeseries: malformed %s under key %s", what,
                             e.data ? (const char *)e.data : "?");
    orbit_buf_release(&e);
    return rc;
}

/* A value: `sized` puts a length before string bytes. */
static int put_value(orbit_buf *b, const orbit_ts_value *v, int sized)
{
    uint64_t bits;
    switch (v->type) {
    case ORBIT_TS_INT64: return put_u64be(b, (uint64_t)v->i);
    case ORBIT_TS_FLOAT64:
        memcpy(&bits, &v->d, sizeof bits);
        return put_u64be(b, bits);
    case ORBIT_TS_BOOL: return put_u8(b, v->b ? 1 : 0);
    default:
        if (sized && put_varint(b, v->len))
            return ORBIT_ENOMEM;
        return orbit_buf_append(b, v->s, v->len);
    }
}

static void get_value(rd *r, orbit_ts_type t, int sized, orbit_ts_value *v)
{
    memset(v, 0, sizeof *v);
    v->type = t;
    uint64_t bits;
    uint8_t c;
    switch (t) {
    case ORBIT_TS_INT64: v->i = (int64_t)get_u64be(r); break;
    case ORBIT_TS_FLOAT64:
        bits = get_u64be(r);
        memcpy(&v->d, &bits, sizeof bits);
        if (!isfinite(v->d))
            r->bad = 1;
        break;
    case ORBIT_TS_BOOL:
        c = get_u8(r);
        if (c > 1)
            r->bad = 1;
        v->b = c;
        break;
    default: {
        size_t len = sized ? (size_t)get_varint(r) : (r->pos <= r->n ? r->n - r->pos : 0);
        const uint8_t *p = get_bytes(r, len);
        v->s = p ? (const char *)p : "";
        v->len = p ? len : 0;
        break;
    }
    }
}

static int valid_type(unsigned t) { return t >= ORBIT_TS_INT64 && t <= ORBIT_TS_JSON; }

/* ---- points ------------------------------------------------------------ */

int ts__point_encode(orbit_buf *out, const orbit_ts_value *v)
{
    if (put_u8(out, (uint8_t)v->type))
        return ORBIT_ENOMEM;
    return put_value(out, v, 0);
}

int ts__point_decode(const uint8_t *p, size_t n, orbit_ts_type want, const uint8_t *key,
                     size_t klen, orbit_ts_value *v)
{
    rd r = {p, n, 0, 0};
    uint8_t t = get_u8(&r);
    if (r.bad || t != (uint8_t)want)
        return corrupt("point (value type)", key, klen);
    get_value(&r, want, 0, v);
    if (r.bad || r.pos != n)
        return corrupt("point", key, klen);
    return ORBIT_OK;
}

/* ---- rollups ----------------------------------------------------------- */

static int put_sum(orbit_buf *b, const ts_sum *s)
{
    int neg = (int)(s->l[TS__SUM_LIMBS - 1] >> 63);
    uint64_t fill = neg ? ~UINT64_C(0) : 0;
    unsigned lo = 0, hi = TS__SUM_LIMBS; /* limbs [lo, hi) are stored */
    while (lo < TS__SUM_LIMBS && s->l[lo] == 0)
        lo++;
    while (hi > lo && s->l[hi - 1] == fill)
        hi--;
    if (lo == TS__SUM_LIMBS)
        lo = hi = 0;
    if (put_u8(b, (uint8_t)lo) || put_u8(b, (uint8_t)(hi - lo)) || put_u8(b, neg ? 0xFF : 0))
        return ORBIT_ENOMEM;
    for (unsigned i = lo; i < hi; i++) {
        uint8_t x[8];
        for (int k = 0; k < 8; k++)
            x[k] = (uint8_t)(s->l[i] >> (8 * k));
        if (orbit_buf_append(b, x, 8))
            return ORBIT_ENOMEM;
    }
    return ORBIT_OK;
}

static void get_sum(rd *r, ts_sum *s)
{
    unsigned lo = get_u8(r), n = get_u8(r), fill = get_u8(r);
    if (r->bad || lo + n > TS__SUM_LIMBS || (fill != 0 && fill != 0xFF)) {
        r->bad = 1;
        return;
    }
    const uint8_t *p = get_bytes(r, (size_t)n * 8);
    if (!p)
        return;
    for (unsigned i = 0; i < TS__SUM_LIMBS; i++)
        s->l[i] = i < lo ? 0 : (fill ? ~UINT64_C(0) : 0);
    for (unsigned i = 0; i < n; i++) {
        uint64_t v = 0;
        for (int k = 7; k >= 0; k--)
            v = (v << 8) | p[i * 8 + (unsigned)k];
        s->l[lo + i] = v;
    }
}

int ts__roll_encode(orbit_buf *out, const ts_roll *r)
{
    int rc = put_u8(out, (uint8_t)r->type);
    rc = rc ? rc : put_varint(out, r->count);
    if (!rc && ts__numeric(r->type)) {
        rc = put_sum(out, &r->sum);
        rc = rc ? rc : put_value(out, &r->min.v, 1);
        rc = rc ? rc : put_value(out, &r->max.v, 1);
    }
    rc = rc ? rc : put_u64be(out, (uint64_t)r->first_ts);
    rc = rc ? rc : put_u64be(out, (uint64_t)r->first_seq);
    rc = rc ? rc : put_value(out, &r->first.v, 1);
    rc = rc ? rc : put_u64be(out, (uint64_t)r->last_ts);
    rc = rc ? rc : put_u64be(out, (uint64_t)r->last_seq);
    rc = rc ? rc : put_value(out, &r->last.v, 1);
    return rc ? ORBIT_ENOMEM : ORBIT_OK;
}

int ts__roll_decode(const uint8_t *p, size_t n, ts_roll *r, const uint8_t *key, size_t klen)
{
    rd d = {p, n, 0, 0};
    uint8_t t = get_u8(&d);
    if (d.bad || t != (uint8_t)r->type)
        return corrupt("rollup (value type)", key, klen);
    r->count = get_varint(&d);
    orbit_ts_value v;
    if (ts__numeric(r->type)) {
        get_sum(&d, &r->sum);
        get_value(&d, r->type, 1, &v);
        if (!d.bad && ts__owned_set(&r->min, &v))
            return ORBIT_ENOMEM;
        get_value(&d, r->type, 1, &v);
        if (!d.bad && ts__owned_set(&r->max, &v))
            return ORBIT_ENOMEM;
    } else {
        ts__sum_zero(&r->sum);
    }
    r->first_ts = (int64_t)get_u64be(&d);
    r->first_seq = (int64_t)get_u64be(&d);
    get_value(&d, r->type, 1, &v);
    if (!d.bad && ts__owned_set(&r->first, &v))
        return ORBIT_ENOMEM;
    r->last_ts = (int64_t)get_u64be(&d);
    r->last_seq = (int64_t)get_u64be(&d);
    get_value(&d, r->type, 1, &v);
    if (!d.bad && ts__owned_set(&r->last, &v))
        return ORBIT_ENOMEM;
    if (d.bad || d.pos != n || r->count == 0 ||
        ts__pos_cmp(r->first_ts, r->first_seq, r->last_ts, r->last_seq) > 0) {
        r->count = 0;
        return corrupt("rollup", key, klen);
    }
    return ORBIT_OK;
}

/* ---- definitions ------------------------------------------------------- */

void ts__def_release(ts_def *d)
{
    for (size_t i = 0; i < d->nlabels; i++) {
        free((char *)d->labels[i].key);
        free((char *)d->labels[i].value);
    }
    free(d->labels);
    memset(d, 0, sizeof *d);
}

int ts__def_encode(orbit_buf *out, const ts_def *d)
{
    int rc = put_u8(out, TS__SCHEMA);
    rc = rc ? rc : put_u8(out, (uint8_t)d->type);
    rc = rc ? rc : put_u64be(out, d->retention_ms);
    rc = rc ? rc : put_u8(out, (uint8_t)d->ngrans);
    for (size_t i = 0; !rc && i < d->ngrans; i++)
        rc = put_u64be(out, (uint64_t)d->grans[i]);
    rc = rc ? rc : put_varint(out, d->nlabels);
    for (size_t i = 0; !rc && i < d->nlabels; i++) {
        size_t kl = strlen(d->labels[i].key), vl = strlen(d->labels[i].value);
        rc = put_varint(out, kl);
        rc = rc ? rc : orbit_buf_append(out, d->labels[i].key, kl);
        rc = rc ? rc : put_varint(out, vl);
        rc = rc ? rc : orbit_buf_append(out, d->labels[i].value, vl);
    }
    return rc ? ORBIT_ENOMEM : ORBIT_OK;
}

static char *dup_n(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

int ts__def_decode(const uint8_t *p, size_t n, ts_def *d, const uint8_t *key, size_t klen)
{
    memset(d, 0, sizeof *d);
    rd r = {p, n, 0, 0};
    uint8_t ver = get_u8(&r);
    uint8_t t = get_u8(&r);
    d->type = (orbit_ts_type)t;
    d->retention_ms = get_u64be(&r);
    d->ngrans = get_u8(&r);
    if (r.bad || ver != TS__SCHEMA || !valid_type(t) || d->ngrans < 1 ||
        d->ngrans > ORBIT_TS_MAX_GRANS)
        return corrupt("series definition", key, klen);
    for (size_t i = 0; i < d->ngrans; i++) {
        d->grans[i] = (int64_t)get_u64be(&r);
        if (d->grans[i] < 1 || d->grans[i] > ORBIT_TS_MAX_WIDTH ||
            (i && d->grans[i] <= d->grans[i - 1]))
            r.bad = 1;
    }
    uint64_t nl = get_varint(&r);
    if (r.bad || nl > n)
        return corrupt("series definition", key, klen);
    if (nl) {
        d->labels = calloc((size_t)nl, sizeof *d->labels);
        if (!d->labels)
            return ORBIT_ENOMEM;
    }
    for (size_t i = 0; i < nl; i++) {
        size_t kl = (size_t)get_varint(&r);
        const uint8_t *kp = get_bytes(&r, kl);
        size_t vl = (size_t)get_varint(&r);
        const uint8_t *vp = get_bytes(&r, vl);
        if (r.bad)
            break;
        d->labels[i].key = dup_n(kp, kl);
        d->labels[i].value = dup_n(vp, vl);
        d->nlabels = i + 1;
        if (!d->labels[i].key || !d->labels[i].value) {
            ts__def_release(d);
            return ORBIT_ENOMEM;
        }
    }
    if (r.bad || r.pos != n) {
        ts__def_release(d);
        return corrupt("series definition", key, klen);
    }
    return ORBIT_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int ts__labels_set(ts_def *d, const orbit_ts_label *labels, size_t n)
{
    if (n && !labels)
        return orbit_error_set(ORBIT_EINVAL, "timeseries: %zu labels but no array", n);
    for (size_t i = 0; i < n; i++) {
        if (!labels[i].key || !labels[i].key[0] || !labels[i].value)
            return orbit_error_set(ORBIT_EINVAL, "timeseries: label %zu has no key or value", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(labels[i].key, labels[j].key) == 0)
                return orbit_error_set(ORBIT_EINVAL, "timeseries: label '%s' given twice",
                                       labels[i].key);
    }
    orbit_ts_label *nl = n ? calloc(n, sizeof *nl) : NULL;
    if (n && !nl)
        return ORBIT_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        nl[i].key = strdup(labels[i].key);
        nl[i].value = strdup(labels[i].value);
        if (!nl[i].key || !nl[i].value) {
            for (size_t j = 0; j <= i; j++) {
                free((char *)nl[j].key);
                free((char *)nl[j].value);
            }
            free(nl);
            return ORBIT_ENOMEM;
        }
    }
    for (size_t i = 0; i < d->nlabels; i++) {
        free((char *)d->labels[i].key);
        free((char *)d->labels[i].value);
    }
    free(d->labels);
    d->labels = nl;
    d->nlabels = n;
    return ORBIT_OK;
}

int ts__def_from_opts(ts_def *d, const orbit_ts_create_opts *o)
{
    memset(d, 0, sizeof *d);
    orbit_ts_create_opts dflt = {0};
    if (!o)
        o = &dflt;
    d->type = o->type ? o->type : ORBIT_TS_FLOAT64;
    if (!valid_type((unsigned)d->type))
        return orbit_error_set(ORBIT_EINVAL, "timeseries: unknown value type %d", (int)o->type);
    d->retention_ms = o->retention_ms;
    if (d->retention_ms > (uint64_t)ORBIT_TS_MAX)
        return orbit_error_set(ORBIT_EINVAL, "timeseries: retention %llu ms is too large",
                               (unsigned long long)d->retention_ms);
    if (o->ngrans > ORBIT_TS_MAX_GRANS)
        return orbit_error_set(ORBIT_EINVAL, "timeseries: %zu granularities (at most %d)",
                               o->ngrans, ORBIT_TS_MAX_GRANS);
    d->ngrans = o->ngrans ? o->ngrans : 1;
    if (!o->ngrans)
        d->grans[0] = ORBIT_TS_DEFAULT_GRAN_MS;
    for (size_t i = 0; i < o->ngrans; i++) {
        if (o->grans_ms[i] < 1 || o->grans_ms[i] > ORBIT_TS_MAX_WIDTH)
            return orbit_error_set(ORBIT_EINVAL,
                                   "timeseries: granularity %lld ms outside 1..2^50",
                                   (long long)o->grans_ms[i]);
        d->grans[i] = o->grans_ms[i];
    }
    qsort(d->grans, d->ngrans, sizeof d->grans[0], cmp_i64);
    for (size_t i = 1; i < d->ngrans; i++)
        if (d->grans[i] == d->grans[i - 1])
            return orbit_error_set(ORBIT_EINVAL, "timeseries: granularity %lld ms given twice",
                                   (long long)d->grans[i]);
    return ts__labels_set(d, o->labels, o->nlabels);
}

int ts__record_payload(const uint8_t *rec, size_t n, const uint8_t *key, size_t klen,
                       orbit_buf *scratch, const uint8_t **payload, size_t *plen)
{
    orbit_record_meta m;
    int rc = orbit_record_decode(rec, n, key, klen, &m, scratch, payload, plen);
    if (rc)
        return rc;
    if (m.model != ORBIT_MODEL_TS || m.schema_version != TS__SCHEMA)
        return corrupt("record (not a time-series record of schema 1)", key, klen);
    return ORBIT_OK;
}

/* ---- keys -------------------------------------------------------------- */

int ts__key_meta(orbit_buf *out, uint64_t ks, uint64_t id)
{
    int rc = orbit_key_object_prefix(out, ks, ORBIT_PREFIX_TS, id);
    return rc ? rc : orbit_tuple_str(out, "meta");
}

int ts__key_point(orbit_buf *out, const orbit_series *s, int64_t ts, int64_t seq)
{
    return orbit_key_ts_point(out, s->ks, s->id, ts, seq);
}

int ts__key_points_prefix(orbit_buf *out, const orbit_series *s)
{
    return orbit_key_ts_points_prefix(out, s->ks, s->id);
}

int ts__key_point_bound(orbit_buf *out, const orbit_series *s, int64_t ts)
{
    int rc = orbit_key_ts_points_prefix(out, s->ks, s->id);
    return rc ? rc : orbit_tuple_int(out, ts);
}

int ts__key_buckets_prefix(orbit_buf *out, const orbit_series *s, int64_t g)
{
    int rc = orbit_key_object_prefix(out, s->ks, ORBIT_PREFIX_TS, s->id);
    rc = rc ? rc : orbit_tuple_str(out, "b");
    return rc ? rc : orbit_tuple_int(out, g);
}

int ts__key_bucket(orbit_buf *out, const orbit_series *s, int64_t g, int64_t start)
{
    int rc = ts__key_buckets_prefix(out, s, g);
    return rc ? rc : orbit_tuple_int(out, start);
}

int ts__point_key_decode(const uint8_t *k, size_t klen, size_t plen, int64_t *ts, int64_t *seq)
{
    size_t pos = plen;
    orbit_tuple_item a = {0}, b = {0};
    if (plen > klen || orbit_tuple_next(k, klen, &pos, &a) || a.type != ORBIT_TUPLE_INT ||
        orbit_tuple_next(k, klen, &pos, &b) || b.type != ORBIT_TUPLE_INT || pos != klen)
        return corrupt("point key", k, klen);
    *ts = a.i;
    *seq = b.i;
    return ORBIT_OK;
}

int ts__bucket_key_decode(const uint8_t *k, size_t klen, size_t plen, int64_t *start)
{
    size_t pos = plen;
    orbit_tuple_item a = {0};
    if (plen > klen || orbit_tuple_next(k, klen, &pos, &a) || a.type != ORBIT_TUPLE_INT ||
        pos != klen)
        return corrupt("bucket key", k, klen);
    *start = a.i;
    return ORBIT_OK;
}
