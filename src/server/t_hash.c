/*
 * Hash commands (Redis's t_hash.c) on the layout of db.h: the metadata
 * record holds the hash's version and field count, each field is a
 * sub-key (1, "kvs", K, version, field) holding the field's value.
 *
 * Invariants: a hash's metadata size equals the number of its fields; a
 * hash with no fields does not exist (the last HDEL deletes the key), as
 * in Redis. Writes run in the dispatcher's transaction; reads that visit
 * several records (HGETALL, HKEYS, HVALS, HMGET, HSCAN) are CMD_TXREAD, so
 * they see one view.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/provider.h"
#include "server/db.h"
#include "server/server.h"

#define KEY(i) x->argv[i].data, x->argv[i].len

static _Thread_local orbit_buf t_field;

void srv_hash_thread_release(void)
{
    orbit_buf_release(&t_field);
}

/* Look up K as a hash: 0 with m->type DB_HASH or DB_NONE; 1 when it holds
 * another type (WRONGTYPE already replied); or an error. */
static int lookup_hash(srv_call *x, int for_update, db_meta *m)
{
    int rc = db_lookup(x, KEY(1), for_update, m);
    if (rc)
        return rc;
    if (m->type != DB_NONE && m->type != DB_HASH) {
        reply_wrongtype(x);
        return 1;
    }
    return 0;
}

/* Make m a new, empty hash if it is none. */
static void ensure_hash(db_meta *m)
{
    if (m->type == DB_NONE) {
        m->type = DB_HASH;
        m->version = db_new_version();
        m->size = 0;
        m->expire_ms = 0;
    }
}

static int hset_generic(srv_call *x, int nx_only, int reply_count)
{
    if (x->argc % 2 != 0) {
        reply_error(x, "wrong number of arguments for '%s' command", x->cmd->name);
        return 0;
    }
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_hash(x, 1, &m);
    if (rc)
        goto out;
    int existed = m.type == DB_HASH;
    ensure_hash(&m);
    long long added = 0;
    for (int i = 2; i + 1 < x->argc && !rc; i += 2) {
        rc = existed ? db_sub_get(x, KEY(1), m.version, KEY(i), &t_field) : ORBIT_NOTFOUND;
        if (rc == ORBIT_NOTFOUND) {
            added++;
            rc = 0;
        } else if (rc == 0 && nx_only) {
            continue;
        }
        if (!rc)
            rc = db_sub_put(x, KEY(1), m.version, KEY(i), KEY(i + 1));
    }
    if (rc)
        goto out;
    if (added || !existed) {
        m.size += (uint64_t)added;
        if (m.size && (rc = db_put_meta(x, KEY(1), &m)))
            goto out;
    }
    if (reply_count == 2)
        reply_ok(x);
    else
        reply_int(x, added);
out:
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int cmd_hset(srv_call *x) { return hset_generic(x, 0, 1); }
static int cmd_hmset(srv_call *x) { return hset_generic(x, 0, 2); }

static int cmd_hsetnx(srv_call *x)
{
    return hset_generic(x, 1, 1);
}

static int cmd_hget(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_hash(x, 0, &m);
    if (!rc) {
        if (m.type == DB_NONE) {
            reply_null(x);
        } else {
            rc = db_sub_get(x, KEY(1), m.version, KEY(2), &t_field);
            if (rc == ORBIT_NOTFOUND) {
                reply_null(x);
                rc = 0;
            } else if (!rc) {
                reply_bulk(x, t_field.data, t_field.len);
            }
        }
    }
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int cmd_hmget(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_hash(x, 0, &m);
    if (!rc) {
        size_t start = x->out->len;
        reply_array(x, x->argc - 2);
        for (int i = 2; i < x->argc && rc >= 0; i++) {
            rc = m.type == DB_NONE ? ORBIT_NOTFOUND
                                   : db_sub_get(x, KEY(1), m.version, KEY(i), &t_field);
            if (rc == ORBIT_NOTFOUND)
                reply_null(x);
            else if (!rc)
                reply_bulk(x, t_field.data, t_field.len);
        }
        if (rc < 0)
            x->out->len = start;
    }
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int cmd_hdel(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_hash(x, 1, &m);
    long long n = 0;
    if (rc)
        goto out;
    if (m.type == DB_NONE) {
        reply_int(x, 0);
        goto out;
    }
    for (int i = 2; i < x->argc && rc >= 0; i++) {
        rc = db_sub_get(x, KEY(1), m.version, KEY(i), &t_field);
        if (rc == 0) {
            if ((rc = db_sub_del(x, KEY(1), m.version, KEY(i))))
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

static int cmd_hlen(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_hash(x, 0, &m);
    if (!rc)
        reply_int(x, m.type == DB_HASH ? (long long)m.size : 0);
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int cmd_hexists(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_hash(x, 0, &m);
    if (!rc) {
        rc = m.type == DB_NONE ? ORBIT_NOTFOUND
                               : db_sub_get(x, KEY(1), m.version, KEY(2), &t_field);
        if (rc >= 0) {
            reply_int(x, rc == 0);
            rc = 0;
        }
    }
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int cmd_hstrlen(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_hash(x, 0, &m);
    if (!rc) {
        rc = m.type == DB_NONE ? ORBIT_NOTFOUND
                               : db_sub_get(x, KEY(1), m.version, KEY(2), &t_field);
        if (rc >= 0) {
            reply_int(x, rc == 0 ? (long long)t_field.len : 0);
            rc = 0;
        }
    }
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

typedef struct hcollect {
    orbit_buf out;
    long long n;   /* entries (fields) matched */
    long long seen; /* fields visited */
    int keys, vals;
    const srv_arg *pat;
} hcollect;

static int hcollect_fn(void *arg, const uint8_t *f, size_t fl, const uint8_t *v, size_t vl)
{
    hcollect *h = arg;
    h->seen++;
    if (h->pat && !srv_string_match(h->pat->data, h->pat->len, f, fl, 0))
        return 0;
    h->n++;
    int rc = 0;
    if (h->keys)
        rc = resp_add_bulk(&h->out, f, fl);
    if (!rc && h->vals)
        rc = resp_add_bulk(&h->out, v, vl);
    return rc;
}

static int hgetall_generic(srv_call *x, int keys, int vals)
{
    db_meta m;
    db_meta_init(&m);
    hcollect h = {ORBIT_BUF_INIT, 0, 0, keys, vals, NULL};
    int rc = lookup_hash(x, 0, &m);
    if (rc)
        goto out;
    if (m.type == DB_HASH &&
        (rc = db_sub_scan(x, KEY(1), m.version, NULL, 0, 0, hcollect_fn, &h, NULL)))
        goto out;
    if (keys && vals)
        reply_map(x, h.n);
    else
        reply_array(x, h.n);
    resp_add_raw(x->out, h.out.data, h.out.len);
out:
    db_meta_release(&m);
    orbit_buf_release(&h.out);
    return rc < 0 ? rc : 0;
}

static int cmd_hgetall(srv_call *x) { return hgetall_generic(x, 1, 1); }
static int cmd_hkeys(srv_call *x) { return hgetall_generic(x, 1, 0); }
static int cmd_hvals(srv_call *x) { return hgetall_generic(x, 0, 1); }

static int cmd_hincrby(srv_call *x)
{
    long long by, cur = 0;
    if (!arg_ll(&x->argv[3], &by)) {
        reply_error(x, ERR_NOTINT);
        return 0;
    }
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_hash(x, 1, &m);
    if (rc)
        goto out;
    int existed = m.type == DB_HASH;
    ensure_hash(&m);
    rc = existed ? db_sub_get(x, KEY(1), m.version, KEY(2), &t_field) : ORBIT_NOTFOUND;
    if (rc < 0)
        goto out;
    int isnew = rc == ORBIT_NOTFOUND;
    rc = 0;
    if (!isnew && !resp_str2ll(t_field.data, t_field.len, &cur)) {
        reply_error(x, "hash value is not an integer");
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
    if ((rc = db_sub_put(x, KEY(1), m.version, KEY(2), (const uint8_t *)tmp, (size_t)n)))
        goto out;
    if (isnew) {
        m.size++;
        if ((rc = db_put_meta(x, KEY(1), &m)))
            goto out;
    }
    reply_int(x, cur);
out:
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int cmd_hincrbyfloat(srv_call *x)
{
    long double by, cur = 0;
    if (!arg_ld(&x->argv[3], &by)) {
        reply_error(x, ERR_NOTFLOAT);
        return 0;
    }
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_hash(x, 1, &m);
    if (rc)
        goto out;
    int existed = m.type == DB_HASH;
    ensure_hash(&m);
    rc = existed ? db_sub_get(x, KEY(1), m.version, KEY(2), &t_field) : ORBIT_NOTFOUND;
    if (rc < 0)
        goto out;
    int isnew = rc == ORBIT_NOTFOUND;
    rc = 0;
    if (!isnew) {
        srv_arg a = {t_field.data, t_field.len};
        if (!arg_ld(&a, &cur)) {
            reply_error(x, "hash value is not a float");
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
    if ((rc = db_sub_put(x, KEY(1), m.version, KEY(2), (const uint8_t *)tmp, (size_t)n)))
        goto out;
    if (isnew) {
        m.size++;
        if ((rc = db_put_meta(x, KEY(1), &m)))
            goto out;
    }
    reply_bulk(x, tmp, (size_t)n);
out:
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int cmd_hscan(srv_call *x)
{
    orbit_buf pos = ORBIT_BUF_INIT, last = ORBIT_BUF_INIT;
    hcollect h = {ORBIT_BUF_INIT, 0, 0, 1, 1, NULL};
    long long count = 10, id = -1;
    int novalues = 0, rc = 0;
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
            h.pat = &x->argv[++i];
        } else if (arg_eq(&x->argv[i], "count") && i + 1 < x->argc) {
            if (!arg_ll(&x->argv[++i], &count)) {
                reply_error(x, ERR_NOTINT);
                goto out;
            }
            if (count < 1) {
                reply_error(x, ERR_SYNTAX);
                goto out;
            }
        } else if (arg_eq(&x->argv[i], "novalues")) {
            novalues = 1;
        } else {
            reply_error(x, ERR_SYNTAX);
            goto out;
        }
    }
    h.vals = !novalues;
    if (count > 100000)
        count = 100000;
    rc = lookup_hash(x, 0, &m);
    if (rc) /* WRONGTYPE replied, or an error */
        goto out;
    int more = 0;
    if (m.type == DB_HASH) {
        rc = db_sub_scan(x, KEY(1), m.version, id ? pos.data : NULL, id ? pos.len : 0,
                         (size_t)count, hcollect_fn, &h, &last);
        if (rc < 0)
            goto out;
        if (h.seen == count) {
            hcollect probe = {ORBIT_BUF_INIT, 0, 0, 0, 0, NULL};
            rc = db_sub_scan(x, KEY(1), m.version, last.data, last.len, 1, hcollect_fn, &probe,
                             NULL);
            orbit_buf_release(&probe.out);
            if (rc < 0)
                goto out;
            more = probe.seen > 0;
        }
    }
    rc = 0;
    char cur[32];
    int cl = more ? snprintf(cur, sizeof cur, "%llu",
                             (unsigned long long)srv_cursor_save(last.data, last.len))
                  : snprintf(cur, sizeof cur, "0");
    reply_array(x, 2);
    reply_bulk(x, cur, (size_t)cl);
    reply_array(x, h.n * (h.vals ? 2 : 1));
    resp_add_raw(x->out, h.out.data, h.out.len);
out:
    db_meta_release(&m);
    orbit_buf_release(&pos);
    orbit_buf_release(&last);
    orbit_buf_release(&h.out);
    return rc < 0 ? rc : 0;
}

#define W CMD_WRITE
#define R CMD_READONLY
#define F CMD_FAST
#define T CMD_TXREAD

const srv_command srv_hash_commands[] = {
    {"hset", cmd_hset, -4, W | F, 1, 1, 1, "hash", "Set hash fields",
     "key field value [field value ...]", NULL},
    {"hmset", cmd_hmset, -4, W | F, 1, 1, 1, "hash", "Set hash fields",
     "key field value [field value ...]", NULL},
    {"hsetnx", cmd_hsetnx, 4, W | F, 1, 1, 1, "hash", "Set a hash field if it does not exist",
     "key field value", NULL},
    {"hget", cmd_hget, 3, R | F, 1, 1, 1, "hash", "Get a hash field", "key field", NULL},
    {"hmget", cmd_hmget, -3, R | F | T, 1, 1, 1, "hash", "Get hash fields",
     "key field [field ...]", NULL},
    {"hdel", cmd_hdel, -3, W | F, 1, 1, 1, "hash", "Delete hash fields", "key field [field ...]",
     NULL},
    {"hgetall", cmd_hgetall, 2, R | T, 1, 1, 1, "hash", "Every field and value of a hash", "key",
     NULL},
    {"hlen", cmd_hlen, 2, R | F, 1, 1, 1, "hash", "The number of fields of a hash", "key", NULL},
    {"hexists", cmd_hexists, 3, R | F, 1, 1, 1, "hash", "Whether a hash field exists",
     "key field", NULL},
    {"hkeys", cmd_hkeys, 2, R | T, 1, 1, 1, "hash", "Every field of a hash", "key", NULL},
    {"hvals", cmd_hvals, 2, R | T, 1, 1, 1, "hash", "Every value of a hash", "key", NULL},
    {"hincrby", cmd_hincrby, 4, W | F, 1, 1, 1, "hash", "Increment a hash field",
     "key field increment", NULL},
    {"hincrbyfloat", cmd_hincrbyfloat, 4, W | F, 1, 1, 1, "hash",
     "Increment a hash field by a float", "key field increment", NULL},
    {"hstrlen", cmd_hstrlen, 3, R | F, 1, 1, 1, "hash", "The length of a hash field's value",
     "key field", NULL},
    {"hscan", cmd_hscan, -3, R | T, 1, 1, 1, "hash", "Iterate over a hash's fields",
     "key cursor [MATCH pattern] [COUNT count] [NOVALUES]", NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL},
};
