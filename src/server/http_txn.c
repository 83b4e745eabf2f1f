/*
 * POST /v1/txn: a list of operations across models applied as one
 * orbit_tx (orbit/txn.h), all or nothing.
 *
 * Body: {"ops": [op, ...], "isolation": "repeatable_read" (default) |
 * "read_committed" | "serializable"}, each op one of
 *   {"op": "kv.put", "key": K, "value": V}      (or "value_base64")
 *   {"op": "kv.delete", "key": K}
 *   {"op": "kv.get", "key": K}                  result {"value": V} or null
 *   {"op": "row.insert" | "row.upsert" | "row.update", "table": T, "row": {...}}
 *   {"op": "row.delete", "table": T, "key": {pk columns}}
 *   {"op": "row.get", "table": T, "key": {pk columns}}   result the row or null
 *   {"op": "doc.put", "collection": C, "id": I, "doc": {...}}
 *   {"op": "doc.merge", "collection": C, "id": I, "patch": {...}, "path": P}
 *   {"op": "doc.delete", "collection": C, "id": I}
 *   {"op": "doc.get", "collection": C, "id": I, "path": P}   result the
 *                                               document (or P's matches) or null
 * Keys K may be given as "key_base64" instead. Plain keys are the Redis
 * protocol's strings (db.h) of the default database; tables those of
 * /v1/tables and collections those of /v1/collections (the default
 * actor); all live in the one store, so one
 * contract transaction holds them all. Reads see the transaction's own
 * earlier writes.
 *
 * Reply: 200 {"results": [one per op: null, or what a get found]}; any op
 * failing rolls everything back and replies its error with "op": its
 * index. Conflicts are retried by orbit_tx_run (the whole list again);
 * ECONFLICT after the last attempt is 409, EUNCERTAIN 500 and never
 * retried.
 */
#include <stdlib.h>
#include <string.h>

#include "orbit/provider.h"
#include "orbit/codec.h"
#include "orbit/document.h"
#include "orbit/relational.h"
#include "server/db.h"
#include "server/http_int.h"
#include "server/server.h"

#define MAX_OPS 1000

typedef struct txn_arg {
    json_t *ops;
    json_t *results;
    srv_call x;
    orbit_buf err;   /* a bad-input message (EINVAL), NUL-terminated */
    size_t at;       /* the op that failed */
} txn_arg;

static int bad(txn_arg *a, const char *msg)
{
    orbit_buf_set(&a->err, msg, strlen(msg) + 1);
    return ORBIT_EINVAL;
}

/* The key (or key_base64) of op into out. */
static int op_bytes(txn_arg *a, json_t *op, const char *name, const char *b64name,
                    orbit_buf *out)
{
    json_t *s = json_object_get(op, name);
    out->len = 0;
    if (json_is_string(s))
        return orbit_buf_set(out, json_string_value(s), json_string_length(s));
    s = json_object_get(op, b64name);
    if (json_is_string(s) && !hx_b64_decode(out, json_string_value(s), json_string_length(s)))
        return 0;
    char m[128];
    snprintf(m, sizeof m, "needs \"%s\" (a string) or \"%s\" (base64)", name, b64name);
    return bad(a, m);
}

static int kv_op(txn_arg *a, orbit_tx *tx, const char *kind, json_t *op, json_t **result)
{
    orbit_buf k = ORBIT_BUF_INIT, v = ORBIT_BUF_INIT;
    int rc = op_bytes(a, op, "key", "key_base64", &k);
    if (!rc && !strcmp(kind, "kv.put"))
        rc = op_bytes(a, op, "value", "value_base64", &v);
    if (!rc && !a->x.txn)
        rc = orbit_tx_kv_txn(tx, g_srv.kv, "orbit", "default", &a->x.txn);
    db_meta m;
    db_meta_init(&m);
    if (!rc)
        rc = db_lookup(&a->x, k.data ? k.data : (const uint8_t *)"", k.len,
                       strcmp(kind, "kv.get") != 0, &m);
    if (!rc && !strcmp(kind, "kv.get")) {
        if (m.type == DB_STRING) {
            json_t *s = hx_json_bytes(m.str.data, m.str.len);
            if (s) {
                *result = json_pack("{s:o}", "value", s);
            } else {
                orbit_buf b = ORBIT_BUF_INIT;
                hx_b64_encode(&b, m.str.data, m.str.len);
                *result = json_pack("{s:s%}", "value_base64", b.len ? (char *)b.data : "",
                                    b.len);
                orbit_buf_release(&b);
            }
        } else if (m.type != DB_NONE) {
            rc = bad(a, "the key does not hold a string (WRONGTYPE)");
        }
    } else if (!rc && !strcmp(kind, "kv.put")) {
        rc = db_set_string(&a->x, k.data ? k.data : (const uint8_t *)"", k.len,
                           v.data ? v.data : (const uint8_t *)"", v.len, 0, &m);
    } else if (!rc && m.raw_present) {
        rc = db_delete(&a->x, k.data ? k.data : (const uint8_t *)"", k.len, &m);
    }
    if (!rc && strcmp(kind, "kv.get"))
        rc = orbit_tx_touch(tx, "orbit", "default", ORBIT_KEYSPACE_DEFAULT, ORBIT_MODEL_KV);
    db_meta_release(&m);
    orbit_buf_release(&k);
    orbit_buf_release(&v);
    return rc;
}

static int row_op(txn_arg *a, orbit_tx *tx, const char *kind, json_t *op, json_t **result)
{
    const char *tn = json_string_value(json_object_get(op, "table"));
    if (!tn)
        return bad(a, "needs \"table\"");
    orbit_table *t = NULL;
    int rc = hx_rel_table(tn, &t);
    if (rc == ORBIT_NOTFOUND) {
        char m[300];
        snprintf(m, sizeof m, "no table %.200s", tn);
        orbit_buf_set(&a->err, m, strlen(m) + 1);
        return ORBIT_NOTFOUND;
    }
    if (rc)
        return rc;
    int is_key = !strcmp(kind, "row.delete") || !strcmp(kind, "row.get");
    json_t *obj = json_object_get(op, is_key ? "key" : "row");
    if (!json_is_object(obj))
        return bad(a, is_key ? "needs \"key\" (an object of primary-key columns)"
                             : "needs \"row\" (an object)");
    orbit_row *row = NULL, *out = NULL;
    rc = orbit_row_new(&row);
    if (!rc && (rc = hx_row_from_json(t, obj, row, &a->err)) == ORBIT_EINVAL && !a->err.len)
        bad(a, "bad row");
    if (!rc) {
        if (!strcmp(kind, "row.insert"))
            rc = orbit_table_insert(t, tx, row);
        else if (!strcmp(kind, "row.upsert"))
            rc = orbit_table_upsert(t, tx, row);
        else if (!strcmp(kind, "row.update"))
            rc = orbit_table_update(t, tx, row);
        else if (!strcmp(kind, "row.delete"))
            rc = orbit_table_delete(t, tx, row);
        else if (!(rc = orbit_row_new(&out))) {
            rc = orbit_table_get(t, tx, row, out);
            if (!rc)
                *result = hx_row_to_json(out);
            else if (rc == ORBIT_NOTFOUND)
                rc = 0;
        }
    }
    orbit_row_free(row);
    orbit_row_free(out);
    return rc;
}

static int doc_op(txn_arg *a, orbit_tx *tx, const char *kind, json_t *op, json_t **result)
{
    const char *cn = json_string_value(json_object_get(op, "collection"));
    if (!cn)
        return bad(a, "needs \"collection\"");
    orbit_buf id = ORBIT_BUF_INIT, out = ORBIT_BUF_INIT;
    int rc = op_bytes(a, op, "id", "id_base64", &id);
    int writes = !strcmp(kind, "doc.put") || !strcmp(kind, "doc.merge");
    orbit_doc_coll *c = NULL;
    if (!rc && (rc = hx_doc_coll(cn, writes, &c)) == ORBIT_NOTFOUND) {
        char m[300];
        snprintf(m, sizeof m, "no collection %.200s", cn);
        orbit_buf_set(&a->err, m, strlen(m) + 1);
    }
    const void *idp = id.data ? (const void *)id.data : "";
    json_t *doc = json_object_get(op, !strcmp(kind, "doc.merge") ? "patch" : "doc");
    const char *path = json_string_value(json_object_get(op, "path"));
    char *text = NULL;
    if (!rc && writes) {
        if (!doc)
            rc = bad(a, !strcmp(kind, "doc.merge") ? "needs \"patch\"" : "needs \"doc\"");
        else if (!(text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY)))
            rc = ORBIT_ENOMEM;
    }
    if (rc) {
    } else if (!strcmp(kind, "doc.put")) {
        rc = orbit_doc_put(tx, c, idp, id.len, text, strlen(text));
    } else if (!strcmp(kind, "doc.merge")) {
        rc = orbit_doc_merge(tx, c, idp, id.len, path, text, strlen(text), NULL);
    } else if (!strcmp(kind, "doc.delete")) {
        rc = orbit_doc_delete(tx, c, idp, id.len);
    } else {
        rc = path ? orbit_doc_get_path(tx, c, idp, id.len, path, &out)
                  : orbit_doc_get(tx, c, idp, id.len, &out);
        if (!rc)
            *result = json_loadb(out.data ? (const char *)out.data : "null", out.len,
                                 JSON_DECODE_ANY, NULL);
        else if (rc == ORBIT_NOTFOUND)
            rc = 0;
    }
    free(text);
    orbit_buf_release(&id);
    orbit_buf_release(&out);
    return rc;
}

static int run_ops(orbit_tx *tx, void *arg)
{
    txn_arg *a = arg;
    /* a retried attempt starts over */
    db_drop_cleanup(&a->x);
    a->x.txn = NULL;
    a->x.wrote = 0;
    a->err.len = 0;
    json_array_clear(a->results);
    for (size_t i = 0; i < json_array_size(a->ops); i++) {
        a->at = i;
        json_t *op = json_array_get(a->ops, i);
        const char *kind = json_string_value(json_object_get(op, "op"));
        json_t *result = NULL;
        int rc;
        if (!kind)
            rc = bad(a, "needs \"op\"");
        else if (!strcmp(kind, "kv.put") || !strcmp(kind, "kv.delete") ||
                 !strcmp(kind, "kv.get"))
            rc = kv_op(a, tx, kind, op, &result);
        else if (!strncmp(kind, "row.", 4) &&
                 (!strcmp(kind + 4, "insert") || !strcmp(kind + 4, "upsert") ||
                  !strcmp(kind + 4, "update") || !strcmp(kind + 4, "delete") ||
                  !strcmp(kind + 4, "get")))
            rc = row_op(a, tx, kind, op, &result);
        else if (!strcmp(kind, "doc.put") || !strcmp(kind, "doc.merge") ||
                 !strcmp(kind, "doc.delete") || !strcmp(kind, "doc.get"))
            rc = doc_op(a, tx, kind, op, &result);
        else
            rc = bad(a, "unknown op (kv.put, kv.delete, kv.get, row.insert, row.upsert, "
                        "row.update, row.delete, row.get, doc.put, doc.merge, doc.delete, doc.get)");
        if (rc) {
            json_decref(result);
            return rc;
        }
        json_array_append_new(a->results, result ? result : json_null());
    }
    return 0;
}

void hx_txn(hx_req *r)
{
    json_t *j = hx_body_json(r);
    if (!j)
        return;
    json_t *ops = json_object_get(j, "ops");
    const char *iso = json_string_value(json_object_get(j, "isolation"));
    orbit_tx_opts o = {0};
    if (iso && !strcmp(iso, "read_committed"))
        o.isolation = ORBIT_TX_READ_COMMITTED;
    else if (iso && !strcmp(iso, "serializable"))
        o.isolation = ORBIT_TX_SERIALIZABLE;
    else if (iso && strcmp(iso, "repeatable_read")) {
        hx_error(r, 400, "EINVAL",
                 "isolation: repeatable_read, read_committed or serializable");
        json_decref(j);
        return;
    }
    if (!json_is_array(ops) || !json_array_size(ops) || json_array_size(ops) > MAX_OPS) {
        hx_error(r, 400, "EINVAL", "the body needs \"ops\": an array of 1 to %d operations",
                 MAX_OPS);
        json_decref(j);
        return;
    }
    txn_arg a;
    memset(&a, 0, sizeof a);
    a.ops = ops;
    a.results = json_array();
    int rc = orbit_tx_run(&o, 0, run_ops, &a);
    if (!rc) {
        db_run_cleanup(&a.x);
        hx_json(r, 200, json_pack("{s:O}", "results", a.results));
    } else {
        db_drop_cleanup(&a.x);
        char what[64];
        snprintf(what, sizeof what, "op %zu", a.at);
        json_t *e = json_object();
        const char *detail = rc < 0 ? orbit_last_error_detail() : "";
        char msg[1024];
        if (a.err.len)
            snprintf(msg, sizeof msg, "%s: %s", what, (const char *)a.err.data);
        else
            snprintf(msg, sizeof msg, "%s: %s%s%s", what,
                     rc == ORBIT_NOTFOUND ? "not found" : orbit_strerror(rc),
                     detail[0] ? ": " : "", detail);
        int status = a.err.len && rc == ORBIT_EINVAL ? 400 : hx_status_of(rc);
        json_t *m = json_string(msg);
        json_object_set_new(e, "error", m ? m : json_string(what));
        json_object_set_new(e, "code", json_string(rc == ORBIT_NOTFOUND ? "NOTFOUND"
                                                                        : orbit_err_name(rc)));
        json_object_set_new(e, "op", json_integer((json_int_t)a.at));
        hx_json(r, status, e);
    }
    free(a.x.cleanup);
    json_decref(a.results);
    orbit_buf_release(&a.err);
    json_decref(j);
}
