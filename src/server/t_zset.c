/*
 * Sorted-set commands (Redis's t_zset.c) on the layout of db.h. Each
 * member has two sub-keys under the value's version:
 *   (1, "kvs", K, ver, "m", member)              -> its score (8 bytes)
 *   (1, "kvs", K, ver, "s", double score, member) -> empty
 * The second is ordered by score (orbit_tuple_double is order-preserving),
 * then by member, which is Redis's order, so ZRANGE by rank or score,
 * ZRANGEBYSCORE, ZCOUNT and ZRANK are range scans of the "s" index; ZSCORE
 * is one point read of the "m" key.
 *
 * Invariants: both sub-keys exist for every member, with the same score;
 * the metadata size is the number of members; an empty sorted set does
 * not exist. BYLEX ranges assume, as Redis does, that every member has the
 * same score (they filter the score order by member).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/codec.h"
#include "orbit/provider.h"
#include "server/db.h"
#include "server/server.h"

#define KEY(i) x->argv[i].data, x->argv[i].len
#define KEY_OF(x) (x)->argv[1].data, (x)->argv[1].len

static _Thread_local orbit_buf t_zk, t_zv;

void srv_zset_thread_release(void)
{
    orbit_buf_release(&t_zk);
    orbit_buf_release(&t_zv);
}

static int lookup_zset(srv_call *x, int for_update, db_meta *m)
{
    int rc = db_lookup(x, KEY(1), for_update, m);
    if (rc)
        return rc;
    if (m->type != DB_NONE && m->type != DB_ZSET) {
        reply_wrongtype(x);
        return 1;
    }
    return 0;
}

static int mkey(orbit_buf *out, srv_call *x, uint64_t ver, const uint8_t *mb, size_t ml)
{
    int rc = db_sub_prefix(out, KEY(1), ver);
    if (!rc)
        rc = orbit_tuple_str(out, "m");
    return rc ? rc : orbit_tuple_bytes(out, mb, ml);
}

static int skey(orbit_buf *out, srv_call *x, uint64_t ver, double score, const uint8_t *mb,
                size_t ml)
{
    int rc = db_sub_prefix(out, KEY(1), ver);
    if (!rc)
        rc = orbit_tuple_str(out, "s");
    if (!rc)
        rc = orbit_tuple_double(out, score);
    return rc || !mb ? rc : orbit_tuple_bytes(out, mb, ml);
}

/* The score of member mb: 0 (found), ORBIT_NOTFOUND, or an error. */
static int get_score(srv_call *x, uint64_t ver, const uint8_t *mb, size_t ml, double *score)
{
    int rc = mkey(&t_zk, x, ver, mb, ml);
    if (rc || (rc = db_raw_get(x, &t_zk, &t_zv)))
        return rc;
    if (t_zv.len != sizeof *score)
        return orbit_error_set(ORBIT_ECORRUPT, "sorted set score of %zu bytes", t_zv.len);
    memcpy(score, t_zv.data, sizeof *score);
    return 0;
}

static int put_member(srv_call *x, uint64_t ver, const uint8_t *mb, size_t ml, double score)
{
    int rc = mkey(&t_zk, x, ver, mb, ml);
    if (rc || (rc = db_raw_put(x, &t_zk, (const uint8_t *)&score, sizeof score)))
        return rc;
    if ((rc = skey(&t_zk, x, ver, score, mb, ml)))
        return rc;
    return db_raw_put(x, &t_zk, NULL, 0);
}

static int del_member(srv_call *x, uint64_t ver, const uint8_t *mb, size_t ml, double score)
{
    int rc = mkey(&t_zk, x, ver, mb, ml);
    if (rc || (rc = db_raw_del(x, &t_zk)))
        return rc;
    if ((rc = skey(&t_zk, x, ver, score, mb, ml)))
        return rc;
    return db_raw_del(x, &t_zk);
}

/* Shortest text that reads back as d (Redis prints scores so). */
static int fmt_score(char *buf, size_t n, double d)
{
    if (isinf(d))
        return snprintf(buf, n, "%s", d > 0 ? "inf" : "-inf");
    for (int prec = 15; prec <= 17; prec++) {
        int k = snprintf(buf, n, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return k;
    }
    return snprintf(buf, n, "%.17g", d);
}

static void reply_score(srv_call *x, double d)
{
    char tmp[64];
    int k = fmt_score(tmp, sizeof tmp, d);
    if (x->c && x->c->resp == 3)
        resp_add_line(x->out, ',', tmp, (size_t)k);
    else
        reply_bulk(x, tmp, (size_t)k);
}

static int parse_score(const srv_arg *a, double *out)
{
    long double v;
    if (arg_eq(a, "+inf") || arg_eq(a, "inf")) {
        *out = INFINITY;
        return 1;
    }
    if (arg_eq(a, "-inf")) {
        *out = -INFINITY;
        return 1;
    }
    if (!arg_ld(a, &v))
        return 0;
    *out = (double)v;
    return !isnan(*out);
}

static int cmd_zadd(srv_call *x)
{
    int nx = 0, xx = 0, gt = 0, lt = 0, ch = 0, incr = 0, i = 2;
    for (; i < x->argc; i++) {
        const srv_arg *a = &x->argv[i];
        if (arg_eq(a, "nx"))
            nx = 1;
        else if (arg_eq(a, "xx"))
            xx = 1;
        else if (arg_eq(a, "gt"))
            gt = 1;
        else if (arg_eq(a, "lt"))
            lt = 1;
        else if (arg_eq(a, "ch"))
            ch = 1;
        else if (arg_eq(a, "incr"))
            incr = 1;
        else
            break;
    }
    int pairs = x->argc - i;
    if (pairs <= 0 || pairs % 2) {
        reply_error(x, ERR_SYNTAX);
        return 0;
    }
    if (nx && xx) {
        reply_error(x, "XX and NX options at the same time are not compatible");
        return 0;
    }
    if ((gt && nx) || (lt && nx) || (gt && lt)) {
        reply_error(x, "GT, LT, and/or NX options at the same time are not compatible");
        return 0;
    }
    if (incr && pairs != 2) {
        reply_error(x, "INCR option supports a single increment-element pair");
        return 0;
    }
    for (int j = i; j < x->argc; j += 2) {
        double s = 0;
        if (!parse_score(&x->argv[j], &s)) {
            reply_error(x, ERR_NOTFLOAT);
            return 0;
        }
    }
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_zset(x, 1, &m);
    if (rc)
        goto out;
    int existed = m.type == DB_ZSET;
    if (!existed) {
        if (xx) {
            if (incr)
                reply_null(x);
            else
                reply_int(x, 0);
            goto out;
        }
        m.type = DB_ZSET;
        m.version = db_new_version();
        m.size = 0;
        m.expire_ms = 0;
    }
    long long added = 0, changed = 0;
    double result = 0;
    int incr_skipped = 0;
    for (int j = i; j < x->argc && !rc; j += 2) {
        double s = 0, cur = 0;
        parse_score(&x->argv[j], &s);
        const srv_arg *mb = &x->argv[j + 1];
        int r = existed ? get_score(x, m.version, mb->data, mb->len, &cur) : ORBIT_NOTFOUND;
        if (r < 0) {
            rc = r;
            break;
        }
        int found = r == 0;
        if ((nx && found) || (xx && !found)) {
            incr_skipped = 1;
            continue;
        }
        if (incr) {
            s = found ? cur + s : s;
            if (isnan(s)) {
                reply_error(x, "resulting score is not a number (NaN)");
                goto out;
            }
        }
        if (found && ((gt && !(s > cur)) || (lt && !(s < cur)))) {
            incr_skipped = 1;
            continue;
        }
        result = s;
        if (found) {
            if (s == cur)
                continue;
            if ((rc = del_member(x, m.version, mb->data, mb->len, cur)))
                break;
            changed++;
        } else {
            added++;
        }
        rc = put_member(x, m.version, mb->data, mb->len, s);
    }
    if (rc)
        goto out;
    if (added) {
        m.size += (uint64_t)added;
        if ((rc = db_put_meta(x, KEY(1), &m)))
            goto out;
    }
    if (incr) {
        if (incr_skipped)
            reply_null(x);
        else
            reply_score(x, result);
    } else {
        reply_int(x, ch ? added + changed : added);
    }
out:
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int cmd_zincrby(srv_call *x)
{
    /* ZINCRBY key incr member == ZADD key INCR incr member */
    srv_arg args[5] = {x->argv[0], x->argv[1], {(const uint8_t *)"INCR", 4}, x->argv[2],
                       x->argv[3]};
    const srv_arg *saved = x->argv;
    int sargc = x->argc;
    x->argv = args;
    x->argc = 5;
    int rc = cmd_zadd(x);
    x->argv = saved;
    x->argc = sargc;
    return rc;
}

static int cmd_zrem(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_zset(x, 1, &m);
    long long n = 0;
    if (rc)
        goto out;
    if (m.type == DB_NONE) {
        reply_int(x, 0);
        goto out;
    }
    for (int i = 2; i < x->argc && rc >= 0; i++) {
        double cur;
        rc = get_score(x, m.version, KEY(i), &cur);
        if (rc == 0) {
            if ((rc = del_member(x, m.version, KEY(i), cur)))
                break;
            n++;
        }
    }
    if (rc < 0)
        goto out;
    rc = 0;
    if (n) {
        m.size = m.size > (uint64_t)n ? m.size - (uint64_t)n : 0;
        rc = m.size ? db_put_meta(x, KEY(1), &m) : db_delete(x, KEY(1), &m);
    }
    if (!rc)
        reply_int(x, n);
out:
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int cmd_zscore(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_zset(x, 0, &m);
    if (!rc) {
        double s = 0;
        rc = m.type == DB_NONE ? ORBIT_NOTFOUND : get_score(x, m.version, KEY(2), &s);
        if (rc == ORBIT_NOTFOUND)
            reply_null(x);
        else if (!rc)
            reply_score(x, s);
        rc = rc < 0 ? rc : 0;
    }
    db_meta_release(&m);
    return rc;
}

static int cmd_zcard(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_zset(x, 0, &m);
    if (!rc)
        reply_int(x, m.type == DB_ZSET ? (long long)m.size : 0);
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

/* ---- ranges over the score index ------------------------------------------ */

typedef struct zbound {
    double v;
    int excl;
    /* lex */
    const uint8_t *s;
    size_t n;
    int inf; /* -1: "-", +1: "+" */
} zbound;

static int parse_score_bound(const srv_arg *a, zbound *b)
{
    memset(b, 0, sizeof *b);
    srv_arg t = *a;
    if (t.len && t.data[0] == '(') {
        b->excl = 1;
        t.data++;
        t.len--;
    }
    return parse_score(&t, &b->v);
}

static int parse_lex_bound(const srv_arg *a, zbound *b)
{
    memset(b, 0, sizeof *b);
    if (a->len == 1 && a->data[0] == '-') {
        b->inf = -1;
        return 1;
    }
    if (a->len == 1 && a->data[0] == '+') {
        b->inf = 1;
        return 1;
    }
    if (a->len >= 1 && (a->data[0] == '(' || a->data[0] == '[')) {
        b->excl = a->data[0] == '(';
        b->s = a->data + 1;
        b->n = a->len - 1;
        return 1;
    }
    return 0;
}

static int lexcmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = n ? memcmp(a, b, n) : 0;
    return c ? c : (al > bl) - (al < bl);
}

enum { BY_RANK, BY_SCORE, BY_LEX };

typedef struct zwalk {
    srv_call *x;
    size_t pfxlen;
    int by;
    zbound lo, hi;  /* BY_SCORE / BY_LEX (hi is the upper bound whatever the order) */
    int rev;
    long long skip, take; /* offset; take < 0: all */
    int withscores;
    int count_only;
    orbit_buf out;
    long long n;    /* entries emitted (or counted) */
    long long seen; /* entries passing the range (for ZRANK: before the member) */
    orbit_buf member;
    const srv_arg *rank_of; /* ZRANK: stop at this member */
    int found;
} zwalk;

static int in_range(zwalk *w, double s, const uint8_t *mb, size_t ml, int *past)
{
    *past = 0;
    if (w->by == BY_SCORE) {
        int below = w->lo.excl ? s <= w->lo.v : s < w->lo.v;
        int above = w->hi.excl ? s >= w->hi.v : s > w->hi.v;
        *past = w->rev ? below : above;
        return !below && !above;
    }
    if (w->by == BY_LEX) {
        int below = 0, above = 0;
        if (w->lo.inf == 1)
            below = 1;
        else if (!w->lo.inf) {
            int c = lexcmp(mb, ml, w->lo.s, w->lo.n);
            below = w->lo.excl ? c <= 0 : c < 0;
        }
        if (w->hi.inf == -1)
            above = 1;
        else if (!w->hi.inf) {
            int c = lexcmp(mb, ml, w->hi.s, w->hi.n);
            above = w->hi.excl ? c >= 0 : c > 0;
        }
        *past = w->rev ? below : above;
        return !below && !above;
    }
    return 1;
}

static int zwalk_fn(void *arg, const uint8_t *key, size_t klen, const uint8_t *v, size_t vl)
{
    zwalk *w = arg;
    size_t pos = w->pfxlen;
    orbit_tuple_item ts = {0}, tm = {0};
    tm.bytes_out = &w->member;
    if (orbit_tuple_next(key, klen, &pos, &ts) || ts.type != ORBIT_TUPLE_DOUBLE ||
        orbit_tuple_next(key, klen, &pos, &tm) || tm.type != ORBIT_TUPLE_BYTES || pos != klen)
        return orbit_error_set(ORBIT_ECORRUPT, "malformed sorted set index key");
    int past;
    if (!in_range(w, ts.d, w->member.data, w->member.len, &past))
        return past ? 1 : 0;
    if (w->rank_of) {
        if (w->member.len == w->rank_of->len &&
            !memcmp(w->member.data, w->rank_of->data, w->member.len)) {
            w->found = 1;
            return 1;
        }
        w->seen++;
        return 0;
    }
    if (w->skip > 0) {
        w->skip--;
        return 0;
    }
    if (w->take >= 0 && w->n >= w->take)
        return 1;
    w->n++;
    if (w->count_only)
        return 0;
    int rc = resp_add_bulk(&w->out, w->member.data, w->member.len);
    if (!rc && w->withscores) {
        char tmp[64];
        int k = fmt_score(tmp, sizeof tmp, ts.d);
        rc = resp_add_bulk(&w->out, tmp, (size_t)k);
    }
    return rc;
}

/* Walk the score index of a live zset m (prefix (K, ver, "s")). */
static int zwalk_run(zwalk *w, const db_meta *m)
{
    orbit_buf pfx = ORBIT_BUF_INIT;
    int rc = db_sub_prefix(&pfx, KEY_OF(w->x), m->version);
    if (!rc)
        rc = orbit_tuple_str(&pfx, "s");
    w->pfxlen = pfx.len;
    /* a score range is a key range of the index: seek to it */
    orbit_buf lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT;
    int bounded = w->by == BY_SCORE;
    if (!rc && bounded) {
        if (!(rc = orbit_buf_set(&lo, pfx.data, pfx.len)) &&
            !(rc = orbit_tuple_double(&lo, w->lo.v)) &&
            !(rc = orbit_buf_set(&hi, pfx.data, pfx.len)) &&
            !(rc = orbit_tuple_double(&hi, w->hi.v)))
            rc = orbit_buf_append(&hi, "\x02", 1); /* after every member of that score */
    }
    if (!rc)
        rc = db_raw_scan(w->x, &pfx, bounded ? &lo : NULL, bounded ? &hi : NULL, w->rev,
                         zwalk_fn, w);
    orbit_buf_release(&pfx);
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    return rc == 1 ? 0 : rc;
}

/* ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count]
 * [WITHSCORES], and the older forms mapped onto it. */
static int zrange_generic(srv_call *x, int by, int rev, int first_opt, int swap_bounds)
{
    zwalk w;
    memset(&w, 0, sizeof w);
    w.x = x;
    w.by = by;
    w.rev = rev;
    w.take = -1;
    int have_limit = 0;
    for (int i = first_opt; i < x->argc; i++) {
        const srv_arg *a = &x->argv[i];
        if (arg_eq(a, "byscore") && first_opt == 4)
            w.by = BY_SCORE;
        else if (arg_eq(a, "bylex") && first_opt == 4)
            w.by = BY_LEX;
        else if (arg_eq(a, "rev") && first_opt == 4)
            w.rev = 1;
        else if (arg_eq(a, "withscores"))
            w.withscores = 1;
        else if (arg_eq(a, "limit") && i + 2 < x->argc) {
            long long off, cnt;
            if (!arg_ll(&x->argv[i + 1], &off) || !arg_ll(&x->argv[i + 2], &cnt)) {
                reply_error(x, ERR_NOTINT);
                return 0;
            }
            w.skip = off < 0 ? 0 : off;
            w.take = cnt < 0 ? -1 : cnt;
            if (off < 0)
                w.take = 0;
            have_limit = 1;
            i += 2;
        } else {
            reply_error(x, ERR_SYNTAX);
            return 0;
        }
    }
    if (have_limit && w.by == BY_RANK) {
        reply_error(x, "syntax error, LIMIT is only supported in combination with either "
                       "BYSCORE or BYLEX");
        return 0;
    }
    if (w.withscores && w.by == BY_LEX) {
        reply_error(x, "syntax error, WITHSCORES not supported in combination with BYLEX");
        return 0;
    }
    /* the range arguments: in REV forms the first is the upper end */
    int swap = w.rev && (w.by != BY_RANK) && swap_bounds;
    const srv_arg *a1 = &x->argv[swap ? 3 : 2], *a2 = &x->argv[swap ? 2 : 3];
    long long start = 0, stop = 0;
    if (w.by == BY_SCORE) {
        if (!parse_score_bound(a1, &w.lo) || !parse_score_bound(a2, &w.hi)) {
            reply_error(x, "min or max is not a float");
            return 0;
        }
    } else if (w.by == BY_LEX) {
        if (!parse_lex_bound(a1, &w.lo) || !parse_lex_bound(a2, &w.hi)) {
            reply_error(x, "min or max not valid string range item");
            return 0;
        }
    } else if (!arg_ll(a1, &start) || !arg_ll(a2, &stop)) {
        reply_error(x, ERR_NOTINT);
        return 0;
    }
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_zset(x, 0, &m);
    if (rc)
        goto out;
    if (m.type == DB_ZSET) {
        int run = 1;
        if (w.by == BY_RANK) {
            long long len = (long long)m.size;
            if (start < 0)
                start += len;
            if (stop < 0)
                stop += len;
            if (start < 0)
                start = 0;
            if (start > stop || start >= len)
                run = 0;
            if (stop >= len)
                stop = len - 1;
            w.skip = start;
            w.take = stop - start + 1;
        } else if (w.by == BY_SCORE && w.lo.v > w.hi.v) {
            run = 0;
        }
        if (run && (rc = zwalk_run(&w, &m)) < 0)
            goto out;
    }
    rc = 0;
    reply_array(x, w.n * (w.withscores ? 2 : 1));
    resp_add_raw(x->out, w.out.data, w.out.len);
out:
    db_meta_release(&m);
    orbit_buf_release(&w.out);
    orbit_buf_release(&w.member);
    return rc < 0 ? rc : 0;
}

static int cmd_zrange(srv_call *x) { return zrange_generic(x, BY_RANK, 0, 4, 1); }
static int cmd_zrevrange(srv_call *x) { return zrange_generic(x, BY_RANK, 1, 4, 0); }
static int cmd_zrangebyscore(srv_call *x) { return zrange_generic(x, BY_SCORE, 0, 4, 0); }
static int cmd_zrevrangebyscore(srv_call *x) { return zrange_generic(x, BY_SCORE, 1, 4, 1); }

static int cmd_zrangebylex(srv_call *x) { return zrange_generic(x, BY_LEX, 0, 4, 0); }
static int cmd_zrevrangebylex(srv_call *x) { return zrange_generic(x, BY_LEX, 1, 4, 1); }

static int cmd_zcount(srv_call *x)
{
    zwalk w;
    memset(&w, 0, sizeof w);
    w.x = x;
    w.by = BY_SCORE;
    w.take = -1;
    w.count_only = 1;
    if (!parse_score_bound(&x->argv[2], &w.lo) || !parse_score_bound(&x->argv[3], &w.hi)) {
        reply_error(x, "min or max is not a float");
        return 0;
    }
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_zset(x, 0, &m);
    if (!rc && m.type == DB_ZSET && w.lo.v <= w.hi.v)
        rc = zwalk_run(&w, &m);
    if (rc == 0)
        reply_int(x, w.n);
    db_meta_release(&m);
    orbit_buf_release(&w.member);
    return rc < 0 ? rc : 0;
}

static int rank_generic(srv_call *x, int rev)
{
    int withscore = 0;
    if (x->argc == 4) {
        if (!arg_eq(&x->argv[3], "withscore")) {
            reply_error(x, ERR_SYNTAX);
            return 0;
        }
        withscore = 1;
    } else if (x->argc > 4) {
        reply_error(x, ERR_SYNTAX);
        return 0;
    }
    zwalk w;
    memset(&w, 0, sizeof w);
    w.x = x;
    w.by = BY_RANK;
    w.rev = rev;
    w.take = -1;
    w.rank_of = &x->argv[2];
    db_meta m;
    db_meta_init(&m);
    double score = 0;
    int rc = lookup_zset(x, 0, &m);
    if (rc)
        goto out;
    rc = m.type == DB_NONE ? ORBIT_NOTFOUND : get_score(x, m.version, KEY(2), &score);
    if (rc == ORBIT_NOTFOUND) {
        rc = 0;
        if (withscore)
            reply_null_array(x);
        else
            reply_null(x);
        goto out;
    }
    if (rc || (rc = zwalk_run(&w, &m)) < 0)
        goto out;
    rc = 0;
    if (withscore) {
        reply_array(x, 2);
        reply_int(x, w.seen);
        reply_score(x, score);
    } else {
        reply_int(x, w.seen);
    }
out:
    db_meta_release(&m);
    orbit_buf_release(&w.member);
    return rc < 0 ? rc : 0;
}

static int cmd_zrank(srv_call *x) { return rank_generic(x, 0); }
static int cmd_zrevrank(srv_call *x) { return rank_generic(x, 1); }

typedef struct zscan_st {
    orbit_buf out;
    long long n, seen, limit;
    int more;
    const srv_arg *pat;
    orbit_buf last, member;
} zscan_st;

static int zscan_fn(void *arg, const uint8_t *key, size_t klen, const uint8_t *v, size_t vl)
{
    zscan_st *z = arg;
    if (z->seen >= z->limit) {
        z->more = 1;
        return 1;
    }
    z->seen++;
    /* the member is the last element of (K, ver, "m", member) */
    if (orbit_buf_set(&z->last, key, klen))
        return ORBIT_ENOMEM;
    size_t pos = 0;
    orbit_tuple_item it = {0};
    it.bytes_out = &z->member;
    int rc = 0;
    while (!rc && pos < klen)
        rc = orbit_tuple_next(key, klen, &pos, &it);
    if (rc || it.type != ORBIT_TUPLE_BYTES || vl != sizeof(double))
        return orbit_error_set(ORBIT_ECORRUPT, "malformed sorted set member key");
    if (z->pat && !srv_string_match(z->pat->data, z->pat->len, z->member.data, z->member.len, 0))
        return 0;
    double d;
    memcpy(&d, v, sizeof d);
    char tmp[64];
    int k = fmt_score(tmp, sizeof tmp, d);
    z->n++;
    if ((rc = resp_add_bulk(&z->out, z->member.data, z->member.len)))
        return rc;
    return resp_add_bulk(&z->out, tmp, (size_t)k);
}

static int cmd_zscan(srv_call *x)
{
    orbit_buf pos = ORBIT_BUF_INIT, pfx = ORBIT_BUF_INIT, start = ORBIT_BUF_INIT;
    zscan_st z;
    memset(&z, 0, sizeof z);
    long long count = 10, id = -1;
    int rc = 0;
    db_meta m;
    db_meta_init(&m);
    const srv_arg *c = &x->argv[2];
    int digits = c->len > 0 && c->len <= 20;
    for (size_t i = 0; i < c->len && digits; i++)
        digits = c->data[i] >= '0' && c->data[i] <= '9';
    if (!digits || !resp_str2ll(c->data, c->len, &id) ||
        (id != 0 && srv_cursor_load((uint64_t)id, &pos))) {
        reply_error(x, "invalid cursor");
        goto out;
    }
    for (int i = 3; i < x->argc; i++) {
        if (arg_eq(&x->argv[i], "match") && i + 1 < x->argc) {
            z.pat = &x->argv[++i];
        } else if (arg_eq(&x->argv[i], "count") && i + 1 < x->argc) {
            if (!arg_ll(&x->argv[++i], &count)) {
                reply_error(x, ERR_NOTINT);
                goto out;
            }
            if (count < 1) {
                reply_error(x, ERR_SYNTAX);
                goto out;
            }
        } else {
            reply_error(x, ERR_SYNTAX);
            goto out;
        }
    }
    if (count > 100000)
        count = 100000;
    if ((rc = lookup_zset(x, 0, &m)))
        goto out;
    z.limit = count;
    if (m.type == DB_ZSET) {
        if ((rc = db_sub_prefix(&pfx, KEY(1), m.version)) || (rc = orbit_tuple_str(&pfx, "m")))
            goto out;
        /* the saved position is the last stored key seen: resume after it */
        if (id && ((rc = orbit_buf_set(&start, pos.data, pos.len)) ||
                   (rc = orbit_buf_append(&start, "", 1))))
            goto out;
        rc = db_raw_scan(x, &pfx, id ? &start : NULL, NULL, 0, zscan_fn, &z);
        if (rc < 0)
            goto out;
    }
    rc = 0;
    char cur[32];
    int cl = z.more ? snprintf(cur, sizeof cur, "%llu",
                               (unsigned long long)srv_cursor_save(z.last.data, z.last.len))
                    : snprintf(cur, sizeof cur, "0");
    reply_array(x, 2);
    reply_bulk(x, cur, (size_t)cl);
    reply_array(x, z.n * 2);
    resp_add_raw(x->out, z.out.data, z.out.len);
out:
    db_meta_release(&m);
    orbit_buf_release(&pos);
    orbit_buf_release(&pfx);
    orbit_buf_release(&start);
    orbit_buf_release(&z.out);
    orbit_buf_release(&z.last);
    orbit_buf_release(&z.member);
    return rc < 0 ? rc : 0;
}

#define W CMD_WRITE
#define R CMD_READONLY
#define F CMD_FAST
#define T CMD_TXREAD

const srv_command srv_zset_commands[] = {
    {"zadd", cmd_zadd, -4, W | F, 1, 1, 1, "sorted-set", "Add members with scores",
     "key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]", NULL},
    {"zincrby", cmd_zincrby, 4, W | F, 1, 1, 1, "sorted-set", "Increment a member's score",
     "key increment member", NULL},
    {"zrem", cmd_zrem, -3, W | F, 1, 1, 1, "sorted-set", "Remove members",
     "key member [member ...]", NULL},
    {"zscore", cmd_zscore, 3, R | F, 1, 1, 1, "sorted-set", "A member's score", "key member",
     NULL},
    {"zcard", cmd_zcard, 2, R | F, 1, 1, 1, "sorted-set", "The number of members", "key", NULL},
    {"zrange", cmd_zrange, -4, R | T, 1, 1, 1, "sorted-set", "A range of members",
     "key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]", NULL},
    {"zrevrange", cmd_zrevrange, -4, R | T, 1, 1, 1, "sorted-set",
     "A range of members by rank, high to low", "key start stop [WITHSCORES]", NULL},
    {"zrangebyscore", cmd_zrangebyscore, -4, R | T, 1, 1, 1, "sorted-set",
     "Members in a score range", "key min max [WITHSCORES] [LIMIT offset count]", NULL},
    {"zrevrangebyscore", cmd_zrevrangebyscore, -4, R | T, 1, 1, 1, "sorted-set",
     "Members in a score range, high to low", "key max min [WITHSCORES] [LIMIT offset count]",
     NULL},
    {"zrangebylex", cmd_zrangebylex, -4, R | T, 1, 1, 1, "sorted-set",
     "Members in a lexicographical range", "key min max [LIMIT offset count]", NULL},
    {"zrevrangebylex", cmd_zrevrangebylex, -4, R | T, 1, 1, 1, "sorted-set",
     "Members in a lexicographical range, high to low", "key max min [LIMIT offset count]",
     NULL},
    {"zrank", cmd_zrank, -3, R | T, 1, 1, 1, "sorted-set", "A member's rank",
     "key member [WITHSCORE]", NULL},
    {"zrevrank", cmd_zrevrank, -3, R | T, 1, 1, 1, "sorted-set",
     "A member's rank, high to low", "key member [WITHSCORE]", NULL},
    {"zcount", cmd_zcount, 4, R | T, 1, 1, 1, "sorted-set", "Members in a score range",
     "key min max", NULL},
    {"zscan", cmd_zscan, -3, R | T, 1, 1, 1, "sorted-set", "Iterate over members and scores",
     "key cursor [MATCH pattern] [COUNT count]", NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL},
};
