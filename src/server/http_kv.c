/*
 * The plain key-value resources of the HTTP API, on the Redis protocol's
 * storage layout (db.h), so both protocols see the same keys:
 *
 *   GET    /v1/kv/{key}   the string's bytes (application/octet-stream);
 *                         404 absent or expired, 409 WRONGTYPE for a hash
 *   HEAD   /v1/kv/{key}   the same without the body
 *   PUT    /v1/kv/{key}   body = the value (any bytes): as SET without
 *                         options (replaces any value and its expiry);
 *                         201 created, 200 replaced
 *   DELETE /v1/kv/{key}   as DEL: 200 {"deleted":1}, 404 absent
 *   GET    /v1/kv?prefix=P&start=S&limit=N
 *                         keys with prefix P from S (inclusive) in key
 *                         order, at most N metadata records read (default
 *                         100, at most 10000): {"keys":[{"key", "type",
 *                         "value" (strings)}], "next": S' (absent at the
 *                         end)}. A key or value that is not UTF-8 is given
 *                         as "key_base64" / "value_base64" instead.
 *
 * {key} is the rest of the path after /v1/kv/, percent-decoded (so it may
 * hold '/', and any byte as %XX).
 *
 * Writes run in one contract transaction each, retried on a conflict as
 * the RESP commands are (db_lookup for update, then the write), so a PUT
 * over a hash reclaims its fields after the commit (db_run_cleanup).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "orbit/provider.h"
#include "server/db.h"
#include "server/http_int.h"
#include "server/server.h"

#define MAX_ATTEMPTS 16

enum { OP_PUT, OP_DEL };

/* One write in its own transaction. *existed: the key held a value. */
static int kv_write(int op, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                    int *existed)
{
    int rc = 0;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        srv_call x;
        memset(&x, 0, sizeof x);
        db_meta m;
        db_meta_init(&m);
        rc = orbit_kv_txn_begin(g_srv.kv, NULL, &x.txn);
        if (rc)
            return rc;
        rc = db_lookup(&x, k, kl, 1, &m);
        if (!rc) {
            *existed = m.type != DB_NONE;
            if (op == OP_PUT)
                rc = db_set_string(&x, k, kl, v, vl, 0, &m);
            else if (m.raw_present)
                rc = db_delete(&x, k, kl, &m);
        }
        if (!rc && x.wrote)
            rc = orbit_txn_commit(x.txn);
        else
            orbit_txn_rollback(x.txn);
        if (!rc)
            db_run_cleanup(&x);
        else
            db_drop_cleanup(&x);
        free(x.cleanup);
        db_meta_release(&m);
        if (rc != ORBIT_ECONFLICT)
            break;
        atomic_fetch_add(&g_srv.stats.conflicts_retried, 1);
        struct timespec ts = {0, (long)(100000L << (attempt < 6 ? attempt : 6))};
        nanosleep(&ts, NULL);
    }
    return rc;
}

void hx_kv_one(hx_req *r)
{
    const uint8_t *k = (const uint8_t *)r->t.rest.p;
    size_t kl = r->t.rest.n;
    if (r->method == SRV_M_GET || r->method == SRV_M_HEAD) {
        orbit_buf v = ORBIT_BUF_INIT;
        int type = DB_NONE;
        int rc = db_fast_get(k, kl, &v, &type);
        if (rc == 0 && type != DB_STRING)
            hx_error(r, 409, "WRONGTYPE", "the key holds a %s, not a string",
                     db_type_name(type));
        else if (rc == 0)
            hx_bytes(r, 200, "application/octet-stream", v.data, v.len);
        else
            hx_orbit_error(r, rc, "key");
        if (rc == 0 && type == DB_STRING)
            atomic_fetch_add(&g_srv.stats.keyspace_hits, 1);
        else if (rc == ORBIT_NOTFOUND)
            atomic_fetch_add(&g_srv.stats.keyspace_misses, 1);
        orbit_buf_release(&v);
        return;
    }
    int existed = 0, rc;
    if (r->method == SRV_M_PUT) {
        size_t vl;
        const uint8_t *v = hx_body(r, &vl);
        if (vl > g_srv.cfg.max_bulk_len && g_srv.cfg.max_bulk_len) {
            hx_error(r, 413, "ETOOBIG", "the value is larger than proto-max-bulk-len (%zu)",
                     g_srv.cfg.max_bulk_len);
            return;
        }
        rc = kv_write(OP_PUT, k, kl, v, vl, &existed);
        if (!rc)
            hx_json(r, existed ? 200 : 201, json_pack("{s:b}", "created", !existed));
        else
            hx_orbit_error(r, rc, "put");
        return;
    }
    rc = kv_write(OP_DEL, k, kl, NULL, 0, &existed);
    if (!rc && existed)
        hx_json(r, 200, json_pack("{s:i}", "deleted", 1));
    else if (!rc)
        hx_error(r, 404, "NOTFOUND", "no such key");
    else
        hx_orbit_error(r, rc, "delete");
}

typedef struct scan_ctx {
    json_t *arr;
    orbit_buf b64;
} scan_ctx;

static int put_bytes(json_t *obj, const char *name, const char *b64name, const uint8_t *p,
                     size_t n, orbit_buf *tmp)
{
    json_t *s = hx_json_bytes(p, n);
    if (s)
        return json_object_set_new(obj, name, s) ? ORBIT_ENOMEM : 0;
    tmp->len = 0;
    if (hx_b64_encode(tmp, p, n))
        return ORBIT_ENOMEM;
    s = json_stringn(tmp->len ? (const char *)tmp->data : "", tmp->len);
    return !s || json_object_set_new(obj, b64name, s) ? ORBIT_ENOMEM : 0;
}

static int scan_one(void *arg, const uint8_t *k, size_t kl, const db_meta *m)
{
    scan_ctx *c = arg;
    json_t *o = json_object();
    if (!o || put_bytes(o, "key", "key_base64", k, kl, &c->b64) ||
        json_object_set_new(o, "type", json_string(db_type_name(m->type))) ||
        (m->type == DB_STRING &&
         put_bytes(o, "value", "value_base64", m->str.data, m->str.len, &c->b64))) {
        json_decref(o);
        return ORBIT_ENOMEM;
    }
    return json_array_append_new(c->arr, o) ? ORBIT_ENOMEM : 0;
}

void hx_kv_scan(hx_req *r)
{
    size_t limit;
    if (hx_param_size(r, "limit", 100, 10000, &limit))
        return;
    if (limit == 0)
        limit = 100;
    const srv_http_str *pfx = srv_http_param(&r->t, "prefix");
    const srv_http_str *start = srv_http_param(&r->t, "start");
    scan_ctx c = {json_array(), ORBIT_BUF_INIT};
    orbit_buf next = ORBIT_BUF_INIT;
    int rc = c.arr ? 0 : ORBIT_ENOMEM;
    if (!rc)
        rc = db_scan_keys(NULL, start ? (const uint8_t *)start->p : NULL, start ? start->n : 0,
                          pfx ? (const uint8_t *)pfx->p : NULL, pfx ? pfx->n : 0, limit,
                          scan_one, &c, &next);
    if (rc < 0) {
        json_decref(c.arr);
        hx_orbit_error(r, rc, "scan");
    } else {
        json_t *j = json_pack("{s:o}", "keys", c.arr);
        if (j && rc == 1)
            put_bytes(j, "next", "next_base64", next.data, next.len, &c.b64);
        hx_json(r, 200, j);
    }
    orbit_buf_release(&next);
    orbit_buf_release(&c.b64);
}
