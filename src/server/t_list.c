/*
 * List commands (Redis's t_list.c) on the layout of db.h: the metadata
 * record holds the list's version, length and head index; item i of the
 * list (0-based) is the sub-key (1, "kvs", K, version, int head + i).
 * Indexes are order-preserving tuple integers (negative ones included), so
 * LPUSH writes at head - 1, RPUSH at head + size, LRANGE and LPOP/RPOP are
 * range scans and LINDEX/LSET point operations. LREM, which removes from
 * the middle, rewrites the items after the first removal to keep indexes
 * contiguous (O(n), as Redis's own LREM).
 *
 * Invariants: items occupy exactly [head, head + size); an empty list does
 * not exist (the last pop deletes the key).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/provider.h"
#include "server/db.h"
#include "server/server.h"

#define KEY(i) x->argv[i].data, x->argv[i].len

static _Thread_local orbit_buf t_item;

void srv_list_thread_release(void)
{
    orbit_buf_release(&t_item);
}

static int lookup_list(srv_call *x, int for_update, db_meta *m)
{
    int rc = db_lookup(x, KEY(1), for_update, m);
    if (rc)
        return rc;
    if (m->type != DB_NONE && m->type != DB_LIST) {
        reply_wrongtype(x);
        return 1;
    }
    return 0;
}

static int push_generic(srv_call *x, int left, int only_existing)
{
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_list(x, 1, &m);
    if (rc)
        goto out;
    if (m.type == DB_NONE) {
        if (only_existing) {
            reply_int(x, 0);
            goto out;
        }
        m.type = DB_LIST;
        m.version = db_new_version();
        m.size = 0;
        m.head = 0;
        m.expire_ms = 0;
    }
    for (int i = 2; i < x->argc && !rc; i++) {
        if (left) {
            if (m.head == INT64_MIN + 1) {
                reply_error(x, "list index range exhausted");
                goto out;
            }
            m.head--;
            rc = db_item_put(x, KEY(1), m.version, m.head, KEY(i));
        } else {
            if (m.head + (int64_t)m.size == INT64_MAX) {
                reply_error(x, "list index range exhausted");
                goto out;
            }
            rc = db_item_put(x, KEY(1), m.version, m.head + (int64_t)m.size, KEY(i));
        }
        m.size++;
    }
    if (!rc && !(rc = db_put_meta(x, KEY(1), &m)))
        reply_int(x, (long long)m.size);
out:
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int cmd_lpush(srv_call *x) { return push_generic(x, 1, 0); }
static int cmd_rpush(srv_call *x) { return push_generic(x, 0, 0); }
static int cmd_lpushx(srv_call *x) { return push_generic(x, 1, 1); }
static int cmd_rpushx(srv_call *x) { return push_generic(x, 0, 1); }

typedef struct items {
    orbit_buf out; /* reply bulks */
    long long n;
    int64_t last;  /* last index visited */
    /* LREM */
    const srv_arg *match;
    long long limit;  /* matches to remove; 0: all */
    long long removed;
    orbit_buf *kept;
    size_t nkept, capkept;
} items;

static int collect_item(void *arg, int64_t idx, const uint8_t *v, size_t vl)
{
    items *it = arg;
    it->n++;
    it->last = idx;
    return resp_add_bulk(&it->out, v, vl);
}

static int pop_generic(srv_call *x, int left)
{
    long long count = 1;
    int has_count = x->argc == 3;
    if (x->argc > 3) {
        reply_error(x, ERR_SYNTAX);
        return 0;
    }
    if (has_count && (!arg_ll(&x->argv[2], &count) || count < 0)) {
        reply_error(x, "value is out of range, must be positive");
        return 0;
    }
    db_meta m;
    db_meta_init(&m);
    items it = {ORBIT_BUF_INIT, 0, 0, NULL, 0, 0, NULL, 0, 0};
    int rc = lookup_list(x, 1, &m);
    if (rc)
        goto out;
    if (m.type == DB_NONE) {
        if (has_count)
            reply_null_array(x);
        else
            reply_null(x);
        goto out;
    }
    if ((unsigned long long)count > m.size)
        count = (long long)m.size;
    int64_t from = left ? m.head : m.head + (int64_t)m.size - count;
    int64_t to = from + count;
    if ((rc = db_item_scan(x, KEY(1), m.version, from, to, !left, collect_item, &it)))
        goto out;
    if (it.n != count) {
        rc = orbit_error_set(ORBIT_ECORRUPT, "list metadata says %llu items, fewer stored",
                             (unsigned long long)m.size);
        goto out;
    }
    if ((rc = db_item_del_range(x, KEY(1), m.version, from, to)))
        goto out;
    m.size -= (uint64_t)count;
    if (left)
        m.head += count;
    rc = m.size ? db_put_meta(x, KEY(1), &m) : db_delete(x, KEY(1), &m);
    if (rc)
        goto out;
    if (has_count)
        reply_array(x, count);
    resp_add_raw(x->out, it.out.data, it.out.len);
    if (!has_count && count == 0)
        reply_null(x);
out:
    orbit_buf_release(&it.out);
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int cmd_lpop(srv_call *x) { return pop_generic(x, 1); }
static int cmd_rpop(srv_call *x) { return pop_generic(x, 0); }

static int cmd_llen(srv_call *x)
{
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_list(x, 0, &m);
    if (!rc)
        reply_int(x, m.type == DB_LIST ? (long long)m.size : 0);
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

/* Redis's index normalization for a list of len items: [start, stop]
 * clamped; 0 when the range is empty. */
static int norm_range(long long len, long long *start, long long *stop)
{
    if (*start < 0)
        *start += len;
    if (*stop < 0)
        *stop += len;
    if (*start < 0)
        *start = 0;
    if (*start > *stop || *start >= len)
        return 0;
    if (*stop >= len)
        *stop = len - 1;
    return 1;
}

static int cmd_lrange(srv_call *x)
{
    long long start, stop;
    if (!arg_ll(&x->argv[2], &start) || !arg_ll(&x->argv[3], &stop)) {
        reply_error(x, ERR_NOTINT);
        return 0;
    }
    db_meta m;
    db_meta_init(&m);
    items it = {ORBIT_BUF_INIT, 0, 0, NULL, 0, 0, NULL, 0, 0};
    int rc = lookup_list(x, 0, &m);
    if (rc)
        goto out;
    if (m.type == DB_LIST && norm_range((long long)m.size, &start, &stop) &&
        (rc = db_item_scan(x, KEY(1), m.version, m.head + start, m.head + stop + 1, 0,
                           collect_item, &it)))
        goto out;
    reply_array(x, it.n);
    resp_add_raw(x->out, it.out.data, it.out.len);
out:
    orbit_buf_release(&it.out);
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int cmd_lindex(srv_call *x)
{
    long long idx;
    if (!arg_ll(&x->argv[2], &idx)) {
        reply_error(x, ERR_NOTINT);
        return 0;
    }
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_list(x, 0, &m);
    if (rc)
        goto out;
    if (idx < 0 && m.type == DB_LIST)
        idx += (long long)m.size;
    if (m.type == DB_NONE || idx < 0 || (unsigned long long)idx >= m.size) {
        reply_null(x);
        goto out;
    }
    rc = db_item_get(x, KEY(1), m.version, m.head + idx, &t_item);
    if (!rc)
        reply_bulk(x, t_item.data, t_item.len);
out:
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int cmd_lset(srv_call *x)
{
    long long idx;
    if (!arg_ll(&x->argv[2], &idx)) {
        reply_error(x, ERR_NOTINT);
        return 0;
    }
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_list(x, 1, &m);
    if (rc)
        goto out;
    if (m.type == DB_NONE) {
        reply_error(x, "no such key");
        goto out;
    }
    if (idx < 0)
        idx += (long long)m.size;
    if (idx < 0 || (unsigned long long)idx >= m.size) {
        reply_error(x, "index out of range");
        goto out;
    }
    if (!(rc = db_item_put(x, KEY(1), m.version, m.head + idx, KEY(3))))
        reply_ok(x);
out:
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int keep_item(items *it, const uint8_t *v, size_t vl)
{
    if (it->nkept == it->capkept) {
        size_t nc = it->capkept ? it->capkept * 2 : 16;
        orbit_buf *a = realloc(it->kept, nc * sizeof *a);
        if (!a)
            return ORBIT_ENOMEM;
        it->kept = a;
        it->capkept = nc;
    }
    orbit_buf_init(&it->kept[it->nkept]);
    if (orbit_buf_set(&it->kept[it->nkept], v, vl))
        return ORBIT_ENOMEM;
    it->nkept++;
    return 0;
}

static int lrem_item(void *arg, int64_t idx, const uint8_t *v, size_t vl)
{
    items *it = arg;
    int match = vl == it->match->len && (vl == 0 || !memcmp(v, it->match->data, vl));
    if (match && (it->limit == 0 || it->removed < it->limit)) {
        it->removed++;
        return 0;
    }
    return keep_item(it, v, vl);
}

static int cmd_lrem(srv_call *x)
{
    long long count;
    if (!arg_ll(&x->argv[2], &count)) {
        reply_error(x, ERR_NOTINT);
        return 0;
    }
    db_meta m;
    db_meta_init(&m);
    items it = {ORBIT_BUF_INIT, 0, 0, &x->argv[3], count < 0 ? -count : count, 0, NULL, 0, 0};
    if (count == LLONG_MIN)
        it.limit = LLONG_MAX;
    int rc = lookup_list(x, 1, &m);
    if (rc)
        goto out;
    if (m.type == DB_NONE) {
        reply_int(x, 0);
        goto out;
    }
    int64_t end = m.head + (int64_t)m.size;
    /* from the tail when count < 0: kept items come in reverse order */
    if ((rc = db_item_scan(x, KEY(1), m.version, m.head, end, count < 0, lrem_item, &it)))
        goto out;
    if (it.removed) {
        if ((rc = db_item_del_range(x, KEY(1), m.version, m.head, end)))
            goto out;
        for (size_t i = 0; i < it.nkept && !rc; i++) {
            size_t j = count < 0 ? it.nkept - 1 - i : i;
            rc = db_item_put(x, KEY(1), m.version, m.head + (int64_t)i, it.kept[j].data,
                             it.kept[j].len);
        }
        if (rc)
            goto out;
        m.size = it.nkept;
        rc = m.size ? db_put_meta(x, KEY(1), &m) : db_delete(x, KEY(1), &m);
        if (rc)
            goto out;
    }
    reply_int(x, it.removed);
out:
    for (size_t i = 0; i < it.nkept; i++)
        orbit_buf_release(&it.kept[i]);
    free(it.kept);
    orbit_buf_release(&it.out);
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

static int cmd_ltrim(srv_call *x)
{
    long long start, stop;
    if (!arg_ll(&x->argv[2], &start) || !arg_ll(&x->argv[3], &stop)) {
        reply_error(x, ERR_NOTINT);
        return 0;
    }
    db_meta m;
    db_meta_init(&m);
    int rc = lookup_list(x, 1, &m);
    if (rc)
        goto out;
    if (m.type == DB_NONE) {
        reply_ok(x);
        goto out;
    }
    int64_t end = m.head + (int64_t)m.size;
    if (!norm_range((long long)m.size, &start, &stop)) {
        rc = db_delete(x, KEY(1), &m);
    } else {
        int64_t nh = m.head + start, ne = m.head + stop + 1;
        if (!(rc = db_item_del_range(x, KEY(1), m.version, m.head, nh)) &&
            !(rc = db_item_del_range(x, KEY(1), m.version, ne, end))) {
            m.head = nh;
            m.size = (uint64_t)(ne - nh);
            rc = db_put_meta(x, KEY(1), &m);
        }
    }
    if (!rc)
        reply_ok(x);
out:
    db_meta_release(&m);
    return rc < 0 ? rc : 0;
}

#define W CMD_WRITE
#define R CMD_READONLY
#define F CMD_FAST
#define T CMD_TXREAD

const srv_command srv_list_commands[] = {
    {"lpush", cmd_lpush, -3, W | F, 1, 1, 1, "list", "Prepend items to a list",
     "key element [element ...]", NULL},
    {"rpush", cmd_rpush, -3, W | F, 1, 1, 1, "list", "Append items to a list",
     "key element [element ...]", NULL},
    {"lpushx", cmd_lpushx, -3, W | F, 1, 1, 1, "list", "Prepend items to an existing list",
     "key element [element ...]", NULL},
    {"rpushx", cmd_rpushx, -3, W | F, 1, 1, 1, "list", "Append items to an existing list",
     "key element [element ...]", NULL},
    {"lpop", cmd_lpop, -2, W | F, 1, 1, 1, "list", "Remove and return the first items",
     "key [count]", NULL},
    {"rpop", cmd_rpop, -2, W | F, 1, 1, 1, "list", "Remove and return the last items",
     "key [count]", NULL},
    {"llen", cmd_llen, 2, R | F, 1, 1, 1, "list", "The length of a list", "key", NULL},
    {"lrange", cmd_lrange, 4, R | T, 1, 1, 1, "list", "A range of a list's items",
     "key start stop", NULL},
    {"lindex", cmd_lindex, 3, R | T, 1, 1, 1, "list", "The item at an index", "key index",
     NULL},
    {"lset", cmd_lset, 4, W, 1, 1, 1, "list", "Set the item at an index",
     "key index element", NULL},
    {"lrem", cmd_lrem, 4, W, 1, 1, 1, "list", "Remove items equal to a value",
     "key count element", NULL},
    {"ltrim", cmd_ltrim, 4, W, 1, 1, 1, "list", "Keep only a range of a list", "key start stop",
     NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL},
};
