/*
 * Strings and generic key commands (Redis's t_string.c and the keyspace
 * part of db.c/expire.c): GET, SET and its variants, counters, ranges,
 * MGET/MSET, DEL, EXISTS, TYPE, RENAME, expiry, SCAN, KEYS, RANDOMKEY.
 *
 * Writes run in the transaction the dispatcher opened (x->txn); reads of a
 * single key outside MULTI take the fast paths (no transaction), and a
 * plain `SET k v` and MSET are blind writes (no read), as in Redis.
 * Error texts are Redis's.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/provider.h"
#include "server/db.h"
#include "server/server.h"

#define MAX_STRING ((long long)512 * 1024 * 1024)

static _Thread_local orbit_buf t_val;

void srv_string_thread_release(void)
{
    orbit_buf_release(&t_val);
}

#define KEY(i) x->argv[i].data, x->argv[i].len

static void hit(int found)
{
    atomic_fetch_add(found ? &g_srv.stats.keyspace_hits : &g_srv.stats.keyspace_misses, 1);
}

/* ---- GET and friends ------------------------------------------------------- */

static int get_fast(srv_call *x)
{
    int type = 0;
    int rc = db_fast_get(KEY(1), &t_val, &type);
    if (rc == ORBIT_NOTFOUND) {
        hit(0);
        reply_null(x);
        return 1;
    }
    if (rc)
        return rc;
    hit(1);
    if (type != DB_STRING)
        reply_wrongtype(x);
    else
        reply_bulk(x, t_val.data, t_val.len);
    return 1;
}

static int cmd_get(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 0, &m);
    if (!rc) {
        hit(m.type != DB_NONE);
        if (m.type == DB_NONE)
            reply_null(x);
        else if (m.type != DB_STRING)
            reply_wrongtype(x);
        else
            reply_bulk(x, m.str.data, m.str.len);
    }
    db_meta_release(&m);
    return rc;
}

static int cmd_strlen(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 0, &m);
    if (!rc) {
        if (m.type == DB_NONE)
            reply_int(x, 0);
        else if (m.type != DB_STRING)
            reply_wrongtype(x);
        else
            reply_int(x, (long long)m.str.len);
    }
    db_meta_release(&m);
    return rc;
}

static int cmd_getrange(srv_call *x)
{
    long long start, end;
    if (!arg_ll(&x->argv[2], &start) || !arg_ll(&x->argv[3], &end)) {
        reply_error(x, ERR_NOTINT);
        return 0;
    }
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 0, &m);
    if (!rc) {
        if (m.type == DB_NONE) {
            reply_bulk(x, "", 0);
        } else if (m.type != DB_STRING) {
            reply_wrongtype(x);
        } else {
            long long len = (long long)m.str.len;
            if (start < 0 && end < 0 && start > end) {
                reply_bulk(x, "", 0);
            } else {
                if (start < 0)
                    start = len + start;
                if (end < 0)
                    end = len + end;
                if (start < 0)
                    start = 0;
                if (end < 0)
                    end = 0;
                if (end >= len)
                    end = len - 1;
                if (start > end || len == 0)
                    reply_bulk(x, "", 0);
                else
                    reply_bulk(x, m.str.data + start, (size_t)(end - start + 1));
            }
        }
    }
    db_meta_release(&m);
    return rc;
}

/* ---- SET ------------------------------------------------------------------- */

static int set_fast(srv_call *x)
{
    if (x->argc != 3)
        return 0;
    int rc = db_fast_set(KEY(1), KEY(2));
    if (rc)
        return rc;
    reply_ok(x);
    return 1;
}

/* An absolute expiry in ms from a relative/absolute amount; 0 on overflow
 * or a non-positive amount. */
static int64_t expire_from(long long v, int unit_ms, int absolute)
{
    if (v <= 0)
        return 0;
    long long ms;
    if (unit_ms == 1000) {
        if (v > LLONG_MAX / 1000)
            return 0;
        ms = v * 1000;
    } else {
        ms = v;
    }
    if (!absolute) {
        long long now = (long long)srv_now_ms();
        if (ms > LLONG_MAX - now)
            return 0;
        ms += now;
    }
    return ms;
}

/* Write k = v with expiry exp (0: none; in the past: delete). */
static int set_value(srv_call *x, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                     int64_t exp, db_meta *old)
{
    if (exp && exp <= (int64_t)srv_now_ms())
        return old->raw_present ? db_delete(x, k, kl, old) : 0;
    return db_set_string(x, k, kl, v, vl, exp, old);
}

static int cmd_set(srv_call *x)
{
    int nx = 0, xx = 0, get = 0, keepttl = 0, have_exp = 0;
    int64_t exp = 0;
    for (int i = 3; i < x->argc; i++) {
        const srv_arg *a = &x->argv[i];
        int unit = 0, abs = 0;
        if (arg_eq(a, "nx") && !xx)
            nx = 1;
        else if (arg_eq(a, "xx") && !nx)
            xx = 1;
        else if (arg_eq(a, "get"))
            get = 1;
        else if (arg_eq(a, "keepttl") && !have_exp)
            keepttl = 1;
        else if (arg_eq(a, "ex") && !keepttl && !have_exp && i + 1 < x->argc)
            unit = 1000;
        else if (arg_eq(a, "px") && !keepttl && !have_exp && i + 1 < x->argc)
            unit = 1;
        else if (arg_eq(a, "exat") && !keepttl && !have_exp && i + 1 < x->argc)
            unit = 1000, abs = 1;
        else if (arg_eq(a, "pxat") && !keepttl && !have_exp && i + 1 < x->argc)
            unit = 1, abs = 1;
        else {
            reply_error(x, ERR_SYNTAX);
            return 0;
        }
        if (unit) {
            long long v;
            if (!arg_ll(&x->argv[i + 1], &v)) {
                reply_error(x, ERR_NOTINT);
                return 0;
            }
            exp = expire_from(v, unit, abs);
            if (!exp) {
                reply_error(x, "invalid expire time in '%s' command", x->cmd->name);
                return 0;
            }
            have_exp = 1;
            i++;
        }
    }
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 1, &m);
    if (rc)
        goto out;
    if (get && m.type != DB_NONE && m.type != DB_STRING) {
        reply_wrongtype(x);
        goto out;
    }
    if ((nx && m.type != DB_NONE) || (xx && m.type == DB_NONE)) {
        if (get && m.type == DB_STRING)
            reply_bulk(x, m.str.data, m.str.len);
        else
            reply_null(x);
        goto out;
    }
    if (keepttl && m.type != DB_NONE)
        exp = m.expire_ms;
    if ((rc = set_value(x, KEY(1), KEY(2), exp, &m)))
        goto out;
    if (get) {
        if (m.type == DB_STRING)
            reply_bulk(x, m.str.data, m.str.len);
        else
            reply_null(x);
    } else {
        reply_ok(x);
    }
out:
    db_meta_release(&m);
    return rc;
}

static int cmd_setnx(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 1, &m);
    if (!rc) {
        if (m.type != DB_NONE) {
            reply_int(x, 0);
        } else if (!(rc = db_set_string(x, KEY(1), KEY(2), 0, &m))) {
            reply_int(x, 1);
        }
    }
    db_meta_release(&m);
    return rc;
}

static int setex_generic(srv_call *x, int unit)
{
    long long v;
    if (!arg_ll(&x->argv[2], &v)) {
        reply_error(x, ERR_NOTINT);
        return 0;
    }
    int64_t exp = expire_from(v, unit, 0);
    if (!exp) {
        reply_error(x, "invalid expire time in '%s' command", x->cmd->name);
        return 0;
    }
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 1, &m);
    if (!rc && !(rc = db_set_string(x, KEY(1), KEY(3), exp, &m)))
        reply_ok(x);
    db_meta_release(&m);
    return rc;
}

static int cmd_setex(srv_call *x) { return setex_generic(x, 1000); }
static int cmd_psetex(srv_call *x) { return setex_generic(x, 1); }

static int cmd_getset(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 1, &m);
    if (!rc) {
        if (m.type != DB_NONE && m.type != DB_STRING) {
            reply_wrongtype(x);
        } else if (!(rc = db_set_string(x, KEY(1), KEY(2), 0, &m))) {
            if (m.type == DB_STRING)
                reply_bulk(x, m.str.data, m.str.len);
            else
                reply_null(x);
        }
    }
    db_meta_release(&m);
    return rc;
}

static int cmd_getdel(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 1, &m);
    if (!rc) {
        if (m.type == DB_NONE) {
            reply_null(x);
        } else if (m.type != DB_STRING) {
            reply_wrongtype(x);
        } else if (!(rc = db_delete(x, KEY(1), &m))) {
            reply_bulk(x, m.str.data, m.str.len);
        }
    }
    db_meta_release(&m);
    return rc;
}

static int cmd_getex(srv_call *x)
{
    int persist = 0, have = 0;
    int64_t exp = 0;
    for (int i = 2; i < x->argc; i++) {
        const srv_arg *a = &x->argv[i];
        int unit = 0, abs = 0;
        if (arg_eq(a, "persist") && !have)
            persist = 1;
        else if (arg_eq(a, "ex") && !persist && !have && i + 1 < x->argc)
            unit = 1000;
        else if (arg_eq(a, "px") && !persist && !have && i + 1 < x->argc)
            unit = 1;
        else if (arg_eq(a, "exat") && !persist && !have && i + 1 < x->argc)
            unit = 1000, abs = 1;
        else if (arg_eq(a, "pxat") && !persist && !have && i + 1 < x->argc)
            unit = 1, abs = 1;
        else {
            reply_error(x, ERR_SYNTAX);
            return 0;
        }
        if (unit) {
            long long v;
            if (!arg_ll(&x->argv[i + 1], &v)) {
                reply_error(x, ERR_NOTINT);
                return 0;
            }
            exp = expire_from(v, unit, abs);
            if (!exp) {
                reply_error(x, "invalid expire time in 'getex' command");
                return 0;
            }
            have = 1;
            i++;
        }
    }
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), have || persist, &m);
    if (rc)
        goto out;
    if (m.type == DB_NONE) {
        reply_null(x);
        goto out;
    }
    if (m.type != DB_STRING) {
        reply_wrongtype(x);
        goto out;
    }
    if (have) {
        if (exp <= (int64_t)srv_now_ms())
            rc = db_delete(x, KEY(1), &m);
        else
            rc = db_set_expire(x, KEY(1), &m, exp);
    } else if (persist && m.expire_ms) {
        rc = db_set_expire(x, KEY(1), &m, 0);
    }
    if (!rc)
        reply_bulk(x, m.str.data, m.str.len);
out:
    db_meta_release(&m);
    return rc;
}

/* ---- counters ------------------------------------------------------------- */

static int incr_generic(srv_call *x, long long by)
{
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 1, &m);
    if (rc)
        goto out;
    long long cur = 0;
    if (m.type != DB_NONE && m.type != DB_STRING) {
        reply_wrongtype(x);
        goto out;
    }
    if (m.type == DB_STRING && !resp_str2ll(m.str.data, m.str.len, &cur)) {
        reply_error(x, ERR_NOTINT);
        goto out;
    }
    if ((by < 0 && cur < 0 && by < LLONG_MIN - cur) ||
        (by > 0 && cur > 0 && by > LLONG_MAX - cur)) {
        reply_error(x, ERR_OVERFLOW);
        goto out;
    }
    cur += by;
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", cur);
    if (!(rc = db_set_string(x, KEY(1), (const uint8_t *)tmp, (size_t)n,
                             m.type == DB_STRING ? m.expire_ms : 0, &m)))
        reply_int(x, cur);
out:
    db_meta_release(&m);
    return rc;
}

static int cmd_incr(srv_call *x) { return incr_generic(x, 1); }
static int cmd_decr(srv_call *x) { return incr_generic(x, -1); }

static int cmd_incrby(srv_call *x)
{
    long long by;
    if (!arg_ll(&x->argv[2], &by)) {
        reply_error(x, ERR_NOTINT);
        return 0;
    }
    return incr_generic(x, by);
}

static int cmd_decrby(srv_call *x)
{
    long long by;
    if (!arg_ll(&x->argv[2], &by) || by == LLONG_MIN) {
        reply_error(x, by == LLONG_MIN ? "decrement would overflow" : ERR_NOTINT);
        return 0;
    }
    return incr_generic(x, -by);
}

static int cmd_incrbyfloat(srv_call *x)
{
    long double by, cur = 0;
    if (!arg_ld(&x->argv[2], &by)) {
        reply_error(x, ERR_NOTFLOAT);
        return 0;
    }
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 1, &m);
    if (rc)
        goto out;
    if (m.type != DB_NONE && m.type != DB_STRING) {
        reply_wrongtype(x);
        goto out;
    }
    if (m.type == DB_STRING) {
        srv_arg a = {m.str.data, m.str.len};
        if (!arg_ld(&a, &cur)) {
            reply_error(x, ERR_NOTFLOAT);
            goto out;
        }
    }
    cur += by;
    if (isnan(cur) || isinf(cur)) {
        reply_error(x, "increment would produce NaN or Infinity");
        goto out;
    }
    char tmp[5200];
    int n = srv_fmt_ld(tmp, sizeof tmp, cur);
    if (!(rc = db_set_string(x, KEY(1), (const uint8_t *)tmp, (size_t)n,
                             m.type == DB_STRING ? m.expire_ms : 0, &m)))
        reply_bulk(x, tmp, (size_t)n);
out:
    db_meta_release(&m);
    return rc;
}

static int cmd_append(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 1, &m);
    if (rc)
        goto out;
    if (m.type != DB_NONE && m.type != DB_STRING) {
        reply_wrongtype(x);
        goto out;
    }
    if (m.type == DB_NONE)
        m.str.len = 0;
    if ((long long)(m.str.len + x->argv[2].len) > MAX_STRING) {
        reply_error(x, "string exceeds maximum allowed size (proto-max-bulk-len)");
        goto out;
    }
    if ((rc = orbit_buf_append(&m.str, x->argv[2].data, x->argv[2].len)))
        goto out;
    if (!(rc = db_set_string(x, KEY(1), m.str.data, m.str.len,
                             m.type == DB_STRING ? m.expire_ms : 0, &m)))
        reply_int(x, (long long)m.str.len);
out:
    db_meta_release(&m);
    return rc;
}

static int cmd_setrange(srv_call *x)
{
    long long off;
    if (!arg_ll(&x->argv[2], &off)) {
        reply_error(x, ERR_NOTINT);
        return 0;
    }
    if (off < 0) {
        reply_error(x, "offset is out of range");
        return 0;
    }
    const srv_arg *v = &x->argv[3];
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 1, &m);
    if (rc)
        goto out;
    if (m.type != DB_NONE && m.type != DB_STRING) {
        reply_wrongtype(x);
        goto out;
    }
    if (m.type == DB_NONE)
        m.str.len = 0;
    if (v->len == 0) {
        reply_int(x, (long long)m.str.len);
        goto out;
    }
    if (off + (long long)v->len > MAX_STRING) {
        reply_error(x, "string exceeds maximum allowed size (proto-max-bulk-len)");
        goto out;
    }
    size_t need = (size_t)off + v->len;
    if (need > m.str.len) {
        if ((rc = orbit_buf_reserve(&m.str, need - m.str.len)))
            goto out;
        memset(m.str.data + m.str.len, 0, need - m.str.len);
        m.str.len = need;
    }
    memcpy(m.str.data + off, v->data, v->len);
    if (!(rc = db_set_string(x, KEY(1), m.str.data, m.str.len,
                             m.type == DB_STRING ? m.expire_ms : 0, &m)))
        reply_int(x, (long long)m.str.len);
out:
    db_meta_release(&m);
    return rc;
}

/* ---- multi-key -------------------------------------------------------------- */

static int mget_fast(srv_call *x)
{
    size_t n = (size_t)x->argc - 1;
    orbit_slice *keys = calloc(n, sizeof *keys);
    orbit_buf *enc = calloc(n, sizeof *enc);
    orbit_buf *vals = calloc(n, sizeof *vals);
    int *st = calloc(n, sizeof *st);
    int rc = (keys && enc && vals && st) ? 0 : ORBIT_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = db_meta_key(&enc[i], KEY(i + 1));
        keys[i].data = enc[i].data;
        keys[i].len = enc[i].len;
    }
    if (!rc)
        rc = orbit_kv_multi_get(g_srv.kv, NULL, n, keys, vals, st);
    if (!rc) {
        db_meta m;
        db_meta_init(&m);
        orbit_buf mark = *x->out;
        size_t start = mark.len;
        reply_array(x, (long long)n);
        int64_t now = (int64_t)srv_now_ms();
        for (size_t i = 0; i < n && !rc; i++) {
            if (st[i] == ORBIT_NOTFOUND) {
                hit(0);
                reply_null(x);
                continue;
            }
            if ((rc = db_decode_meta(vals[i].data, vals[i].len, keys[i].data, keys[i].len, &m)))
                break;
            if (m.type != DB_STRING || (m.expire_ms && m.expire_ms <= now)) {
                hit(0);
                reply_null(x);
            } else {
                hit(1);
                reply_bulk(x, m.str.data, m.str.len);
            }
        }
        if (rc)
            x->out->len = start;
        db_meta_release(&m);
    }
    for (size_t i = 0; i < n; i++) {
        if (enc)
            orbit_buf_release(&enc[i]);
        if (vals)
            orbit_buf_release(&vals[i]);
    }
    free(keys);
    free(enc);
    free(vals);
    free(st);
    return rc ? rc : 1;
}

static int cmd_mget(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = 0;
    size_t start = x->out->len;
    reply_array(x, x->argc - 1);
    for (int i = 1; i < x->argc && !rc; i++) {
        if ((rc = db_lookup(x, KEY(i), 0, &m)))
            break;
        if (m.type == DB_STRING)
            reply_bulk(x, m.str.data, m.str.len);
        else
            reply_null(x);
    }
    if (rc)
        x->out->len = start;
    db_meta_release(&m);
    return rc;
}

static int mset_fast(srv_call *x)
{
    if (x->argc % 2 == 0) {
        reply_error(x, "wrong number of arguments for '%s' command", x->cmd->name);
        return 1;
    }
    orbit_batch *b = NULL;
    orbit_buf k = ORBIT_BUF_INIT, r = ORBIT_BUF_INIT;
    int rc = orbit_batch_new(&b);
    for (int i = 1; i + 1 < x->argc && !rc; i += 2) {
        if (!(rc = db_meta_key(&k, KEY(i))) &&
            !(rc = db_encode_plain(&r, k.data, k.len, KEY(i + 1))))
            rc = orbit_batch_put(b, k.data, k.len, r.data, r.len);
    }
    if (!rc)
        rc = orbit_kv_write(g_srv.kv, b);
    orbit_batch_free(b);
    orbit_buf_release(&k);
    orbit_buf_release(&r);
    if (rc)
        return rc;
    reply_ok(x);
    return 1;
}

static int cmd_mset(srv_call *x)
{
    if (x->argc % 2 == 0) {
        reply_error(x, "wrong number of arguments for '%s' command", x->cmd->name);
        return 0;
    }
    db_meta m;
    db_meta_init(&m);
    int rc = 0;
    for (int i = 1; i + 1 < x->argc && !rc; i += 2) {
        if (!(rc = db_lookup(x, KEY(i), 0, &m)))
            rc = db_set_string(x, KEY(i), KEY(i + 1), 0, &m);
    }
    if (!rc)
        reply_ok(x);
    db_meta_release(&m);
    return rc;
}

static int cmd_msetnx(srv_call *x)
{
    if (x->argc % 2 == 0) {
        reply_error(x, "wrong number of arguments for '%s' command", x->cmd->name);
        return 0;
    }
    db_meta m;
    db_meta_init(&m);
    int rc = 0, any = 0;
    for (int i = 1; i + 1 < x->argc && !rc; i += 2) {
        if (!(rc = db_lookup(x, KEY(i), 1, &m)) && m.type != DB_NONE)
            any = 1;
    }
    for (int i = 1; i + 1 < x->argc && !rc && !any; i += 2) {
        if (!(rc = db_lookup(x, KEY(i), 1, &m)))
            rc = db_set_string(x, KEY(i), KEY(i + 1), 0, &m);
    }
    if (!rc)
        reply_int(x, any ? 0 : 1);
    db_meta_release(&m);
    return rc;
}

static int cmd_del(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = 0;
    long long n = 0;
    for (int i = 1; i < x->argc && !rc; i++) {
        if ((rc = db_lookup(x, KEY(i), 1, &m)))
            break;
        if (m.type != DB_NONE) {
            if (!(rc = db_delete(x, KEY(i), &m)))
                n++;
        }
    }
    if (!rc)
        reply_int(x, n);
    db_meta_release(&m);
    return rc;
}

static int cmd_exists(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = 0;
    long long n = 0;
    for (int i = 1; i < x->argc && !rc; i++)
        if (!(rc = db_lookup(x, KEY(i), 0, &m)) && m.type != DB_NONE)
            n++;
    if (!rc)
        reply_int(x, n);
    db_meta_release(&m);
    return rc;
}

static int cmd_type(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 0, &m);
    if (!rc)
        reply_simple(x, db_type_name(m.type));
    db_meta_release(&m);
    return rc;
}

/* RENAME of a compound value: every sub-key of the old version, whatever
 * its shape (fields, members, items, score index), copied under the new
 * key and version with the same suffix. */
typedef struct copy_subkeys {
    srv_call *x;
    size_t oldlen;  /* the old (K, ver) prefix's length */
    orbit_buf nk;   /* the new prefix, then each new key */
    size_t newlen;
} copy_subkeys;

static int copy_subkey(void *arg, const uint8_t *key, size_t klen, const uint8_t *v, size_t vl)
{
    copy_subkeys *c = arg;
    c->nk.len = c->newlen;
    int rc = orbit_buf_append(&c->nk, key + c->oldlen, klen - c->oldlen);
    return rc ? rc : db_raw_put(c->x, &c->nk, v, vl);
}

static int rename_generic(srv_call *x, int nx)
{
    db_meta src, dst;
    db_meta_init(&src);
    db_meta_init(&dst);
    int rc = db_lookup(x, KEY(1), 1, &src);
    if (rc)
        goto out;
    if (src.type == DB_NONE) {
        reply_error(x, "no such key");
        goto out;
    }
    if (x->argv[1].len == x->argv[2].len &&
        !memcmp(x->argv[1].data, x->argv[2].data, x->argv[1].len)) {
        if (nx)
            reply_int(x, 0);
        else
            reply_ok(x);
        goto out;
    }
    if ((rc = db_lookup(x, KEY(2), 1, &dst)))
        goto out;
    if (nx && dst.type != DB_NONE) {
        reply_int(x, 0);
        goto out;
    }
    if (dst.type != DB_NONE && (rc = db_delete(x, KEY(2), &dst)))
        goto out;
    if (src.type == DB_STRING) {
        db_meta none;
        db_meta_init(&none);
        rc = db_set_string(x, KEY(2), src.str.data, src.str.len, src.expire_ms, &none);
        db_meta_release(&none);
    } else {
        db_meta nm;
        db_meta_init(&nm);
        nm.type = src.type;
        nm.version = db_new_version();
        nm.size = src.size;
        nm.head = src.head;
        orbit_buf old = ORBIT_BUF_INIT;
        copy_subkeys cs = {x, 0, ORBIT_BUF_INIT, 0};
        if (!(rc = db_sub_prefix(&old, KEY(1), src.version)) &&
            !(rc = db_sub_prefix(&cs.nk, KEY(2), nm.version))) {
            cs.oldlen = old.len;
            cs.newlen = cs.nk.len;
            rc = db_raw_scan(x, &old, NULL, NULL, 0, copy_subkey, &cs);
        }
        orbit_buf_release(&old);
        orbit_buf_release(&cs.nk);
        if (!rc)
            rc = db_put_meta(x, KEY(2), &nm);
        if (!rc && src.expire_ms) {
            db_meta cur = nm; /* no expiry stored yet */
            cur.raw_expire = 0;
            rc = db_set_expire(x, KEY(2), &cur, src.expire_ms);
        }
    }
    if (!rc)
        rc = db_delete(x, KEY(1), &src);
    if (!rc) {
        if (nx)
            reply_int(x, 1);
        else
            reply_ok(x);
    }
out:
    db_meta_release(&src);
    db_meta_release(&dst);
    return rc;
}

static int cmd_rename(srv_call *x) { return rename_generic(x, 0); }
static int cmd_renamenx(srv_call *x) { return rename_generic(x, 1); }

/* ---- expiry --------------------------------------------------------------- */

static int expire_generic(srv_call *x, int unit, int absolute)
{
    long long v;
    if (!arg_ll(&x->argv[2], &v)) {
        reply_error(x, ERR_NOTINT);
        return 0;
    }
    int nx = 0, xx = 0, gt = 0, lt = 0;
    for (int i = 3; i < x->argc; i++) {
        if (arg_eq(&x->argv[i], "nx"))
            nx = 1;
        else if (arg_eq(&x->argv[i], "xx"))
            xx = 1;
        else if (arg_eq(&x->argv[i], "gt"))
            gt = 1;
        else if (arg_eq(&x->argv[i], "lt"))
            lt = 1;
        else {
            reply_error(x, "Unsupported option %.*s", (int)x->argv[i].len, x->argv[i].data);
            return 0;
        }
    }
    if (nx && (xx || gt || lt)) {
        reply_error(x, "NX and XX, GT or LT options at the same time are not compatible");
        return 0;
    }
    if (gt && lt) {
        reply_error(x, "GT and LT options at the same time are not compatible");
        return 0;
    }
    /* the absolute time; overflow is an error, the past deletes */
    long long ms;
    if (unit == 1000) {
        if (v > LLONG_MAX / 1000 || v < LLONG_MIN / 1000) {
            reply_error(x, "invalid expire time in '%s' command", x->cmd->name);
            return 0;
        }
        ms = v * 1000;
    } else {
        ms = v;
    }
    if (!absolute) {
        long long now = (long long)srv_now_ms();
        if ((ms > 0 && ms > LLONG_MAX - now)) {
            reply_error(x, "invalid expire time in '%s' command", x->cmd->name);
            return 0;
        }
        ms += now;
    }
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 1, &m);
    if (rc)
        goto out;
    if (m.type == DB_NONE) {
        reply_int(x, 0);
        goto out;
    }
    int64_t cur = m.expire_ms; /* 0: no expiry, i.e. infinite */
    if ((nx && cur) || (xx && !cur) || (gt && (!cur || ms <= cur)) || (lt && cur && ms >= cur)) {
        reply_int(x, 0);
        goto out;
    }
    if (ms <= (long long)srv_now_ms())
        rc = db_delete(x, KEY(1), &m);
    else
        rc = db_set_expire(x, KEY(1), &m, ms);
    if (!rc)
        reply_int(x, 1);
out:
    db_meta_release(&m);
    return rc;
}

static int cmd_expire(srv_call *x) { return expire_generic(x, 1000, 0); }
static int cmd_pexpire(srv_call *x) { return expire_generic(x, 1, 0); }
static int cmd_expireat(srv_call *x) { return expire_generic(x, 1000, 1); }
static int cmd_pexpireat(srv_call *x) { return expire_generic(x, 1, 1); }

static int ttl_generic(srv_call *x, int ms)
{
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 0, &m);
    if (!rc) {
        if (m.type == DB_NONE)
            reply_int(x, -2);
        else if (!m.expire_ms)
            reply_int(x, -1);
        else {
            long long left = m.expire_ms - (long long)srv_now_ms();
            if (left < 0)
                left = 0;
            reply_int(x, ms ? left : (left + 500) / 1000);
        }
    }
    db_meta_release(&m);
    return rc;
}

static int cmd_ttl(srv_call *x) { return ttl_generic(x, 0); }
static int cmd_pttl(srv_call *x) { return ttl_generic(x, 1); }

static int cmd_persist(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = db_lookup(x, KEY(1), 1, &m);
    if (!rc) {
        if (m.type == DB_NONE || !m.expire_ms)
            reply_int(x, 0);
        else if (!(rc = db_set_expire(x, KEY(1), &m, 0)))
            reply_int(x, 1);
    }
    db_meta_release(&m);
    return rc;
}

/* ---- iteration -------------------------------------------------------------- */

/* The literal prefix of a glob pattern (up to its first special byte). */
static size_t literal_prefix(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && p[i] != '*' && p[i] != '?' && p[i] != '[' && p[i] != '\\')
        i++;
    return i;
}

typedef struct key_collect {
    srv_call *x;
    const srv_arg *pat;
    int type;   /* -1: any */
    orbit_buf out; /* the reply entries */
    long long n;
} key_collect;

static int collect_key(void *arg, const uint8_t *k, size_t kl, const db_meta *m)
{
    key_collect *kc = arg;
    if (kc->type >= 0 && m->type != kc->type)
        return 0;
    if (kc->pat && !srv_string_match(kc->pat->data, kc->pat->len, k, kl, 0))
        return 0;
    kc->n++;
    return resp_add_bulk(&kc->out, k, kl);
}

static int type_from_name(const srv_arg *a)
{
    static const char *const names[] = {"string", "hash", "list", "set", "zset"};
    for (int i = 0; i < 5; i++)
        if (arg_eq(a, names[i]))
            return i + 1;
    return -2;
}

/* Parse a cursor: 0 (start), a saved position, or -1 invalid. */
static int cursor_arg(const srv_arg *a, orbit_buf *pos, int *start)
{
    long long id;
    if (a->len == 0 || a->len > 20)
        return -1;
    for (size_t i = 0; i < a->len; i++)
        if (a->data[i] < '0' || a->data[i] > '9')
            return -1;
    if (!resp_str2ll(a->data, a->len, &id) && !(a->len > 1 && a->data[0] == '0'))
        return -1;
    if (id == 0) {
        *start = 1;
        return 0;
    }
    *start = 0;
    return srv_cursor_load((uint64_t)id, pos);
}

static int cmd_scan(srv_call *x)
{
    orbit_buf pos = ORBIT_BUF_INIT, next = ORBIT_BUF_INIT;
    key_collect kc = {x, NULL, -1, ORBIT_BUF_INIT, 0};
    long long count = 10;
    int start, rc = 0;
    if (cursor_arg(&x->argv[1], &pos, &start)) {
        reply_error(x, "invalid cursor");
        goto out;
    }
    for (int i = 2; i < x->argc; i++) {
        if (arg_eq(&x->argv[i], "match") && i + 1 < x->argc) {
            kc.pat = &x->argv[++i];
        } else if (arg_eq(&x->argv[i], "count") && i + 1 < x->argc) {
            if (!arg_ll(&x->argv[++i], &count)) {
                reply_error(x, ERR_NOTINT);
                goto out;
            }
            if (count < 1) {
                reply_error(x, ERR_SYNTAX);
                goto out;
            }
        } else if (arg_eq(&x->argv[i], "type") && i + 1 < x->argc) {
            kc.type = type_from_name(&x->argv[++i]);
            if (kc.type == -2)
                kc.type = 99; /* an unknown type matches nothing, as Redis */
        } else {
            reply_error(x, ERR_SYNTAX);
            goto out;
        }
    }
    size_t plen = kc.pat ? literal_prefix(kc.pat->data, kc.pat->len) : 0;
    if (count > 100000)
        count = 100000;
    rc = db_scan_keys(x, start ? NULL : pos.data, start ? 0 : pos.len,
                      plen ? kc.pat->data : NULL, plen, (size_t)count, collect_key, &kc, &next);
    if (rc < 0)
        goto out;
    char cur[32];
    int cl = rc == 1 ? snprintf(cur, sizeof cur, "%llu",
                                (unsigned long long)srv_cursor_save(next.data, next.len))
                     : snprintf(cur, sizeof cur, "0");
    rc = 0;
    reply_array(x, 2);
    reply_bulk(x, cur, (size_t)cl);
    reply_array(x, kc.n);
    resp_add_raw(x->out, kc.out.data, kc.out.len);
out:
    orbit_buf_release(&pos);
    orbit_buf_release(&next);
    orbit_buf_release(&kc.out);
    return rc;
}

static int cmd_keys(srv_call *x)
{
    key_collect kc = {x, &x->argv[1], -1, ORBIT_BUF_INIT, 0};
    size_t plen = literal_prefix(x->argv[1].data, x->argv[1].len);
    int rc = db_scan_keys(x, NULL, 0, plen ? x->argv[1].data : NULL, plen, 0, collect_key, &kc,
                          NULL);
    if (!rc) {
        reply_array(x, kc.n);
        resp_add_raw(x->out, kc.out.data, kc.out.len);
    }
    orbit_buf_release(&kc.out);
    return rc;
}

typedef struct first_key {
    orbit_buf k;
    int found;
} first_key;

static int take_first(void *arg, const uint8_t *k, size_t kl, const db_meta *m)
{
    first_key *f = arg;
    f->found = 1;
    return orbit_buf_set(&f->k, k, kl) ? ORBIT_ENOMEM : 2;
}

static int cmd_randomkey(srv_call *x)
{
    first_key f = {ORBIT_BUF_INIT, 0};
    uint8_t r[8];
    for (size_t i = 0; i < sizeof r; i++)
        r[i] = (uint8_t)(rand() & 0xFF);
    int rc = db_scan_keys(x, r, sizeof r, NULL, 0, 0, take_first, &f, NULL);
    if (rc >= 0 && !f.found)
        rc = db_scan_keys(x, NULL, 0, NULL, 0, 0, take_first, &f, NULL);
    if (rc >= 0) {
        rc = 0;
        if (f.found)
            reply_bulk(x, f.k.data, f.k.len);
        else
            reply_null(x);
    }
    orbit_buf_release(&f.k);
    return rc;
}

#define W CMD_WRITE
#define R CMD_READONLY
#define F CMD_FAST

const srv_command srv_string_commands[] = {
    {"get", cmd_get, 2, R | F, 1, 1, 1, "string", "Get the value of a key", "key", get_fast},
    {"set", cmd_set, -3, W, 1, 1, 1, "string", "Set the string value of a key",
     "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT "
     "unix-time-milliseconds|KEEPTTL]", set_fast},
    {"setnx", cmd_setnx, 3, W | F, 1, 1, 1, "string", "Set a key only if it does not exist",
     "key value", NULL},
    {"setex", cmd_setex, 4, W, 1, 1, 1, "string", "Set a key with an expiry in seconds",
     "key seconds value", NULL},
    {"psetex", cmd_psetex, 4, W, 1, 1, 1, "string", "Set a key with an expiry in milliseconds",
     "key milliseconds value", NULL},
    {"getset", cmd_getset, 3, W | F, 1, 1, 1, "string", "Set a key and return its old value",
     "key value", NULL},
    {"getdel", cmd_getdel, 2, W | F, 1, 1, 1, "string", "Get a key and delete it", "key", NULL},
    {"getex", cmd_getex, -2, W | F, 1, 1, 1, "string", "Get a key and set its expiry",
     "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]",
     NULL},
    {"mget", cmd_mget, -2, R | F, 1, -1, 1, "string", "Get the values of many keys",
     "key [key ...]", mget_fast},
    {"mset", cmd_mset, -3, W, 1, -1, 2, "string", "Set many keys", "key value [key value ...]",
     mset_fast},
    {"msetnx", cmd_msetnx, -3, W, 1, -1, 2, "string", "Set many keys only if none exists",
     "key value [key value ...]", NULL},
    {"incr", cmd_incr, 2, W | F, 1, 1, 1, "string", "Increment a key by one", "key", NULL},
    {"decr", cmd_decr, 2, W | F, 1, 1, 1, "string", "Decrement a key by one", "key", NULL},
    {"incrby", cmd_incrby, 3, W | F, 1, 1, 1, "string", "Increment a key", "key increment", NULL},
    {"decrby", cmd_decrby, 3, W | F, 1, 1, 1, "string", "Decrement a key", "key decrement", NULL},
    {"incrbyfloat", cmd_incrbyfloat, 3, W | F, 1, 1, 1, "string",
     "Increment a key by a float", "key increment", NULL},
    {"append", cmd_append, 3, W | F, 1, 1, 1, "string", "Append to a key's value", "key value",
     NULL},
    {"strlen", cmd_strlen, 2, R | F, 1, 1, 1, "string", "The length of a key's value", "key",
     NULL},
    {"getrange", cmd_getrange, 4, R, 1, 1, 1, "string", "A substring of a key's value",
     "key start end", NULL},
    {"setrange", cmd_setrange, 4, W, 1, 1, 1, "string", "Overwrite part of a key's value",
     "key offset value", NULL},
    {"del", cmd_del, -2, W, 1, -1, 1, "generic", "Delete keys", "key [key ...]", NULL},
    {"unlink", cmd_del, -2, W | F, 1, -1, 1, "generic", "Delete keys", "key [key ...]", NULL},
    {"exists", cmd_exists, -2, R | F, 1, -1, 1, "generic", "Count the keys that exist",
     "key [key ...]", NULL},
    {"type", cmd_type, 2, R | F, 1, 1, 1, "generic", "The type of a key's value", "key", NULL},
    {"rename", cmd_rename, 3, W, 1, 2, 1, "generic", "Rename a key", "key newkey", NULL},
    {"renamenx", cmd_renamenx, 3, W | F, 1, 2, 1, "generic",
     "Rename a key if the new name is free", "key newkey", NULL},
    {"expire", cmd_expire, -3, W | F, 1, 1, 1, "generic", "Set a key's time to live in seconds",
     "key seconds [NX|XX|GT|LT]", NULL},
    {"pexpire", cmd_pexpire, -3, W | F, 1, 1, 1, "generic",
     "Set a key's time to live in milliseconds", "key milliseconds [NX|XX|GT|LT]", NULL},
    {"expireat", cmd_expireat, -3, W | F, 1, 1, 1, "generic",
     "Set a key's expiry as a Unix time", "key unix-time-seconds [NX|XX|GT|LT]", NULL},
    {"pexpireat", cmd_pexpireat, -3, W | F, 1, 1, 1, "generic",
     "Set a key's expiry as a Unix time in milliseconds",
     "key unix-time-milliseconds [NX|XX|GT|LT]", NULL},
    {"ttl", cmd_ttl, 2, R | F, 1, 1, 1, "generic", "A key's time to live in seconds", "key",
     NULL},
    {"pttl", cmd_pttl, 2, R | F, 1, 1, 1, "generic", "A key's time to live in milliseconds",
     "key", NULL},
    {"persist", cmd_persist, 2, W | F, 1, 1, 1, "generic", "Remove a key's expiry", "key", NULL},
    {"scan", cmd_scan, -2, R, 0, 0, 0, "generic", "Iterate over the keys",
     "cursor [MATCH pattern] [COUNT count] [TYPE type]", NULL},
    {"keys", cmd_keys, 2, R, 0, 0, 0, "generic", "Every key matching a pattern", "pattern",
     NULL},
    {"randomkey", cmd_randomkey, 1, R, 0, 0, 0, "generic", "A random key", "", NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL},
};
