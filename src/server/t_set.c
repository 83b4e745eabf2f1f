/*
 * Set commands (Redis's t_set.c) on the layout of db.h: the metadata
 * record holds the set's version and member count, each member is a
 * sub-key (1, "kvs", K, version, member) holding an empty record, so
 * SISMEMBER is one point read and SMEMBERS one range scan in member order.
 *
 * Invariants: the metadata size equals the number of members; a set with
 * no members does not exist (the last SREM deletes the key). Reads of
 * several sets (SINTER, SUNION, SDIFF) are CMD_TXREAD: one view.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/provider.h"
#include "server/db.h"
#include "server/server.h"

#define KEY(i) x->argv[i].data, x->argv[i].len

static _Thread_local orbit_buf t_member;

void srv_set_thread_release(void)
{
    orbit_buf_release(&t_member);
}

/* 0 with m->type DB_SET or DB_NONE; 1 when another type (WRONGTYPE
 * replied); or an error. */
static int lookup_set(srv_call *x, const uint8_t *k, size_t kl, int for_update, db_meta *m)
{
    int rc = db_lookup(x, k, kl, for_update, m);
    if (rc)
        return rc;
    if (m->type != DB_NONE && m->type != DB_SET) {
        reply_wrongtype(x);
        return 1;
    }
    return 0;
}

static int cmd_sadd(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_set(x, KEY(1), 1, &m);
    if (rc)
        goto out;
    int existed = m.type == DB_SET;
    if (!existed) {
        m.type = DB_SET;
        m.version = db_new_version();
        m.size = 0;
        m.expire_ms = 0;
    }
    long long added = 0;
    for (int i = 2; i < x->argc && rc >= 0; i++) {
        rc = existed ? db_sub_get(x, KEY(1), m.version, KEY(i), &t_member) : ORBIT_NOTFOUND;
        if (rc == ORBIT_NOTFOUND) {
            /* a member repeated in one SADD counts once */
            int dup = 0;
            for (int j = 2; j < i && !dup; j++)
                dup = x->argv[j].len == x->argv[i].len &&
                      !memcmp(x->argv[j].data, x->argv[i].data, x->argv[i].len);
            if (dup) {
                rc = 0;
                continue;
            }
            if ((rc = db_sub_put(x, KEY(1), m.version, KEY(i), NULL, 0)))
                break;
            added++;
        }
    }
    if (rc < 0)
        goto out;
    rc = 0;
    if (added) {
        m.size += (uint64_t)added;
        if ((rc = db_put_meta(x, KEY(1), &m)))
            goto out;
    }
    reply_int(x, added);
out:
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int cmd_srem(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_set(x, KEY(1), 1, &m);
    long long n = 0;
    if (rc)
        goto out;
    if (m.type == DB_NONE) {
        reply_int(x, 0);
        goto out;
    }
    for (int i = 2; i < x->argc && rc >= 0; i++) {
        int dup = 0;
        for (int j = 2; j < i && !dup; j++)
            dup = x->argv[j].len == x->argv[i].len &&
                  !memcmp(x->argv[j].data, x->argv[i].data, x->argv[i].len);
        if (dup)
            continue;
        rc = db_sub_get(x, KEY(1), m.version, KEY(i), &t_member);
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

static int cmd_sismember(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_set(x, KEY(1), 0, &m);
    if (!rc) {
        rc = m.type == DB_NONE ? ORBIT_NOTFOUND
                               : db_sub_get(x, KEY(1), m.version, KEY(2), &t_member);
        if (rc >= 0) {
            reply_int(x, rc == 0);
            rc = 0;
        }
    }
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int cmd_scard(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_set(x, KEY(1), 0, &m);
    if (!rc)
        reply_int(x, m.type == DB_SET ? (long long)m.size : 0);
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

/* ---- members in memory (SMEMBERS and the set algebra) ------------------ */

typedef struct mlist {
    orbit_buf *v;
    size_t n, cap;
    const srv_arg *pat;
    long long seen;
} mlist;

static void mlist_free(mlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        orbit_buf_release(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int mlist_add(void *arg, const uint8_t *f, size_t fl, const uint8_t *v, size_t vl)
{
    mlist *l = arg;
    l->seen++;
    if (l->pat && !srv_string_match(l->pat->data, l->pat->len, f, fl, 0))
        return 0;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        orbit_buf *a = realloc(l->v, nc * sizeof *a);
        if (!a)
            return ORBIT_ENOMEM;
        l->v = a;
        l->cap = nc;
    }
    orbit_buf_init(&l->v[l->n]);
    if (orbit_buf_set(&l->v[l->n], f, fl))
        return ORBIT_ENOMEM;
    l->n++;
    return 0;
}

/* The members of set K (none if absent). 1: WRONGTYPE replied. */
static int load_members(srv_call *x, const uint8_t *k, size_t kl, mlist *l)
{
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_set(x, k, kl, 0, &m);
    if (!rc && m.type == DB_SET)
        rc = db_sub_scan(x, k, kl, m.version, NULL, 0, 0, mlist_add, l, NULL);
    db_meta_release(&m);
    return rc;
}

static void reply_members(srv_call *x, const mlist *l, const char *keep)
{
    long long n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += !keep || keep[i];
    reply_set(x, n);
    for (size_t i = 0; i < l->n; i++)
        if (!keep || keep[i])
            reply_bulk(x, l->v[i].data, l->v[i].len);
}

static int cmd_smembers(srv_call *x)
{
    mlist l = {0};
    int rc = load_members(x, KEY(1), &l);
    if (!rc)
        reply_members(x, &l, NULL);
    mlist_free(&l);
    return rc < 0 ? rc : 0;
}

static int member_cmp(const void *a, const void *b)
{
    const orbit_buf *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->data, y->data, n) : 0;
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

enum { OP_INTER, OP_UNION, OP_DIFF };

static int set_algebra(srv_call *x, int op)
{
    mlist base = {0};
    char *keep = NULL;
    /* every key's type is checked first, as Redis does */
    for (int i = 1; i < x->argc; i++) {
        db_meta m;
        db_meta_init(&m);
        int rc = lookup_set(x, KEY(i), 0, &m);
        db_meta_release(&m);
        if (rc)
            return rc < 0 ? rc : 0;
    }
    int rc = 0;
    if (op == OP_UNION) {
        for (int i = 1; i < x->argc && !rc; i++)
            rc = load_members(x, KEY(i), &base);
        if (!rc && base.n) {
            qsort(base.v, base.n, sizeof *base.v, member_cmp);
            size_t w = 1;
            for (size_t i = 1; i < base.n; i++) {
                if (member_cmp(&base.v[i], &base.v[w - 1]) == 0)
                    orbit_buf_release(&base.v[i]);
                else
                    base.v[w++] = base.v[i];
            }
            base.n = w;
        }
        if (!rc)
            reply_members(x, &base, NULL);
        mlist_free(&base);
        return rc < 0 ? rc : 0;
    }
    rc = load_members(x, KEY(1), &base);
    keep = calloc(base.n ? base.n : 1, 1);
    if (!keep)
        rc = ORBIT_ENOMEM;
    for (size_t i = 0; i < base.n; i++)
        keep[i] = 1;
    db_meta m;
    db_meta_init(&m);
    for (int k = 2; k < x->argc && !rc; k++) {
        if ((rc = lookup_set(x, KEY(k), 0, &m)))
            break;
        for (size_t i = 0; i < base.n && !rc; i++) {
            if (!keep[i])
                continue;
            int r = m.type == DB_NONE
                        ? ORBIT_NOTFOUND
                        : db_sub_get(x, KEY(k), m.version, base.v[i].data, base.v[i].len,
                                     &t_member);
            if (r < 0) {
                rc = r;
                break;
            }
            int in = r == 0;
            if ((op == OP_INTER && !in) || (op == OP_DIFF && in))
                keep[i] = 0;
        }
    }
    db_meta_release(&m);
    if (!rc)
        reply_members(x, &base, keep);
    free(keep);
    mlist_free(&base);
    return rc < 0 ? rc : 0;
}

static int cmd_sinter(srv_call *x) { return set_algebra(x, OP_INTER); }
static int cmd_sunion(srv_call *x) { return set_algebra(x, OP_UNION); }
static int cmd_sdiff(srv_call *x) { return set_algebra(x, OP_DIFF); }

static int cmd_sscan(srv_call *x)
{
    orbit_buf pos = ORBIT_BUF_INIT, last = ORBIT_BUF_INIT;
    mlist l = {0};
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
            l.pat = &x->argv[++i];
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
    if ((rc = lookup_set(x, KEY(1), 0, &m)))
        goto out;
    int more = 0;
    if (m.type == DB_SET) {
        rc = db_sub_scan(x, KEY(1), m.version, id ? pos.data : NULL, id ? pos.len : 0,
                         (size_t)count, mlist_add, &l, &last);
        if (rc < 0)
            goto out;
        if (l.seen == count) {
            mlist probe = {0};
            rc = db_sub_scan(x, KEY(1), m.version, last.data, last.len, 1, mlist_add, &probe,
                             NULL);
            more = probe.seen > 0;
            mlist_free(&probe);
            if (rc < 0)
                goto out;
        }
    }
    rc = 0;
    char cur[32];
    int cl = more ? snprintf(cur, sizeof cur, "%llu",
                             (unsigned long long)srv_cursor_save(last.data, last.len))
                  : snprintf(cur, sizeof cur, "0");
    reply_array(x, 2);
    reply_bulk(x, cur, (size_t)cl);
    reply_array(x, (long long)l.n);
    for (size_t i = 0; i < l.n; i++)
        reply_bulk(x, l.v[i].data, l.v[i].len);
out:
    db_meta_release(&m);
    mlist_free(&l);
    orbit_buf_release(&pos);
    orbit_buf_release(&last);
    return rc < 0 ? rc : 0;
}

#define W CMD_WRITE
#define R CMD_READONLY
#define F CMD_FAST
#define T CMD_TXREAD

const srv_command srv_set_commands[] = {
    {"sadd", cmd_sadd, -3, W | F, 1, 1, 1, "set", "Add members to a set",
     "key member [member ...]", NULL},
    {"srem", cmd_srem, -3, W | F, 1, 1, 1, "set", "Remove members from a set",
     "key member [member ...]", NULL},
    {"sismember", cmd_sismember, 3, R | F, 1, 1, 1, "set", "Whether a member is in a set",
     "key member", NULL},
    {"scard", cmd_scard, 2, R | F, 1, 1, 1, "set", "The number of members of a set", "key",
     NULL},
    {"smembers", cmd_smembers, 2, R | T, 1, 1, 1, "set", "Every member of a set", "key", NULL},
    {"sinter", cmd_sinter, -2, R | T, 1, -1, 1, "set", "The intersection of sets",
     "key [key ...]", NULL},
    {"sunion", cmd_sunion, -2, R | T, 1, -1, 1, "set", "The union of sets", "key [key ...]",
     NULL},
    {"sdiff", cmd_sdiff, -2, R | T, 1, -1, 1, "set", "The difference of sets",
     "key [key ...]", NULL},
    {"sscan", cmd_sscan, -3, R | T, 1, 1, 1, "set", "Iterate over a set's members",
     "key cursor [MATCH pattern] [COUNT count]", NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL},
};
