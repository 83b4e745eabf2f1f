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
 *   {"op": "graph.add_node", "graph": G, "id": I, "labels": [L, ...], "props": {...},
 *    "replace": true (default; false: an existing node is EEXIST)}
 *   {"op": "graph.add_edge", "graph": G, "from": I, "rel": R, "to": I, "weight": W,
 *    "props": {...}, "replace": false (default; true: replace weight and props)}
 *   {"op": "graph.delete_node", "graph": G, "id": I}   result {"edges_removed": n}
 *   {"op": "graph.delete_edge", "graph": G, "from": I, "rel": R, "to": I}
 *   {"op": "vector.put", "collection": V, "id": I, "vector": [numbers], "meta": {...}}
 *   {"op": "vector.delete", "collection": V, "id": I}
 *   {"op": "series.add", "series": S, "points": [[ts, value], ...],
 *    "on_duplicate": "last" (default) | "block" | "first" | "min" | "max" | "sum"}
 *                                               result {"written": n}
 *   {"op": "series.delete_range", "series": S, "from": ts, "to": ts}  (inclusive;
 *                                 absent: unbounded) result {"deleted": n}
 * Graphs, vector collections and series must exist already (created with
 * their REST resources; creation is not a transaction op); node and edge
 * ids I may be given as "id_base64" / "from_base64" / "to_base64". An edge's
 * endpoints must be nodes at commit (the graph's own check), so a node
 * added earlier in the same list counts. A deletion of something absent
 * fails the transaction (404), as its REST form does; a vector of the wrong
 * dimension, a value not of the series' type, a bad id: 400, nothing
 * applied.
 * Keys K may be given as "key_base64" instead. Plain keys are the Redis
 * protocol's strings (db.h) of the default database; tables those of
 * /v1/tables and collections those of /v1/collections. The kv ops are the
 * Redis database's actor (orbit/default) and the model ops the models
 * actor; on two providers a list mixing them is refused (ENOTSUP). Reads see the transaction's own
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
#include "orbit/graph.h"
#include "orbit/relational.h"
#include "orbit/timeseries.h"
#include "orbit/vector.h"
#include "server/db.h"
#include "server/http_int.h"
#include "server/server.h"

#define MAX_OPS 1000

/* A graph, vector collection or series handle opened for this request
 * (kind 'g', 'v', 's'), kept until the transaction is over: the model
 * handles must outlive every transaction that wrote through them (commit
 * checks use them), and a retried attempt reuses them. */
typedef struct txn_handle {
    char kind;
    char *name;
    void *h;
    struct txn_handle *next;
} txn_handle;

typedef struct txn_arg {
    json_t *ops;
    json_t *results;
    srv_call x;
    orbit_buf err;   /* a bad-input message (EINVAL), NUL-terminated */
    size_t at;       /* the op that failed */
    orbit_actor *actor;    /* the default actor, opened at the first model op */
    txn_handle *handles;
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

/* ---- graph, vector and series ops --------------------------------------------- */

static void handles_free(txn_arg *a)
{
    while (a->handles) {
        txn_handle *h = a->handles;
        a->handles = h->next;
        if (h->kind == 'g')
            orbit_graph_close(h->h);
        else if (h->kind == 'v')
            orbit_vec_coll_close(h->h);
        else
            orbit_ts_close(h->h);
        free(h->name);
        free(h);
    }
    orbit_actor_close(a->actor);
    a->actor = NULL;
}

/* The object named by op's member `field` (a string without NUL bytes),
 * of kind 'g' (graph), 'v' (vector collection) or 's' (series): this
 * request's handle, opened on first use. 0, ORBIT_EINVAL / ORBIT_NOTFOUND
 * with a->err set, or the store's error. */
static int object_of(txn_arg *a, orbit_tx *tx, json_t *op, const char *field, char kind,
                     void **out)
{
    json_t *nj = json_object_get(op, field);
    const char *name = json_string_value(nj);
    char m[300];
    if (!name || strlen(name) != json_string_length(nj) || !*name) {
        snprintf(m, sizeof m, "needs \"%s\" (a non-empty name without NUL bytes)", field);
        return bad(a, m);
    }
    for (txn_handle *h = a->handles; h; h = h->next)
        if (h->kind == kind && !strcmp(h->name, name)) {
            *out = h->h;
            return 0;
        }
    int rc = a->actor ? 0 : orbit_actor_open(g_srv.kv, "orbit", "default", &a->actor);
    void *obj = NULL;
    if (!rc) {
        if (kind == 'g')
            rc = orbit_graph_open(tx, a->actor, name, (orbit_graph **)&obj);
        else if (kind == 'v')
            rc = orbit_vec_coll_open(a->actor, name, (orbit_vec_coll **)&obj);
        else
            rc = orbit_ts_open(tx, a->actor, name, (orbit_series **)&obj);
    }
    if (rc == ORBIT_NOTFOUND) {
        snprintf(m, sizeof m, "no %s %.200s",
                 kind == 'g' ? "graph" : kind == 'v' ? "vector collection" : "series", name);
        orbit_buf_set(&a->err, m, strlen(m) + 1);
        return rc;
    }
    if (rc)
        return rc;
    txn_handle *h = calloc(1, sizeof *h);
    if (!h || !(h->name = strdup(name))) {
        free(h);
        if (kind == 'g')
            orbit_graph_close(obj);
        else if (kind == 'v')
            orbit_vec_coll_close(obj);
        else
            orbit_ts_close(obj);
        return ORBIT_ENOMEM;
    }
    h->kind = kind;
    h->h = obj;
    h->next = a->handles;
    a->handles = h;
    *out = obj;
    return 0;
}

/* A NOTFOUND from a delete, named for the reply. */
static int absent(txn_arg *a, const char *what)
{
    orbit_buf_set(&a->err, what, strlen(what) + 1);
    return ORBIT_NOTFOUND;
}

/* A C string member without NUL bytes, or NULL. */
static const char *cstr(json_t *op, const char *field)
{
    json_t *j = json_object_get(op, field);
    const char *s = json_string_value(j);
    return s && strlen(s) == json_string_length(j) ? s : NULL;
}

static int graph_op(txn_arg *a, orbit_tx *tx, const char *kind, json_t *op, json_t **result)
{
    orbit_graph *g = NULL;
    int rc = object_of(a, tx, op, "graph", 'g', (void **)&g);
    if (rc)
        return rc;
    orbit_buf id = ORBIT_BUF_INIT, to = ORBIT_BUF_INIT;
    int node = !strcmp(kind, "graph.add_node") || !strcmp(kind, "graph.delete_node");
    rc = node ? op_bytes(a, op, "id", "id_base64", &id) : op_bytes(a, op, "from", "from_base64", &id);
    if (!rc && !node)
        rc = op_bytes(a, op, "to", "to_base64", &to);
    const char *rel = node ? NULL : cstr(op, "rel");
    if (!rc && !node && !rel)
        rc = bad(a, "needs \"rel\" (a string without NUL bytes)");
    const void *idp = id.data ? (const void *)id.data : "";
    const void *top = to.data ? (const void *)to.data : "";
    json_t *props = json_object_get(op, "props");
    json_t *replace = json_object_get(op, "replace");
    char *pj = NULL;
    const char **ls = NULL;
    if (!rc && (!strcmp(kind, "graph.add_node") || !strcmp(kind, "graph.add_edge"))) {
        if (props && !json_is_object(props))
            rc = bad(a, "\"props\" must be an object");
        else if (replace && !json_is_boolean(replace))
            rc = bad(a, "\"replace\" must be true or false");
        else if (props && !(pj = json_dumps(props, JSON_COMPACT)))
            rc = ORBIT_ENOMEM;
    }
    if (rc) {
    } else if (!strcmp(kind, "graph.add_node")) {
        json_t *labels = json_object_get(op, "labels");
        size_t nl = json_is_array(labels) ? json_array_size(labels) : 0;
        if (labels && !json_is_array(labels))
            rc = bad(a, "\"labels\" must be an array of strings");
        else if (!(ls = calloc(nl ? nl : 1, sizeof *ls)))
            rc = ORBIT_ENOMEM;
        for (size_t i = 0; !rc && i < nl; i++) {
            json_t *lj = json_array_get(labels, i);
            ls[i] = json_string_value(lj);
            if (!ls[i] || strlen(ls[i]) != json_string_length(lj))
                rc = bad(a, "\"labels\" must be an array of strings without NUL bytes");
        }
        unsigned flags = !replace || json_is_true(replace) ? ORBIT_GRAPH_REPLACE : 0;
        if (!rc)
            rc = orbit_graph_add_node(tx, g, idp, id.len, ls, nl, pj, flags);
    } else if (!strcmp(kind, "graph.add_edge")) {
        json_t *w = json_object_get(op, "weight");
        orbit_graph_edge_opts o = {0};
        if (w && !json_is_number(w)) {
            rc = bad(a, "\"weight\" must be a number");
        } else {
            o.set_weight = w != NULL;
            o.weight = w ? json_number_value(w) : 1;
            o.props_json = pj;
            o.flags = json_is_true(replace) ? ORBIT_GRAPH_REPLACE : 0;
            rc = orbit_graph_add_edge(tx, g, idp, id.len, rel, top, to.len, &o);
        }
    } else if (!strcmp(kind, "graph.delete_node")) {
        size_t removed = 0;
        rc = orbit_graph_del_node(tx, g, idp, id.len, &removed);
        if (rc == ORBIT_NOTFOUND)
            rc = absent(a, "no such node");
        else if (!rc)
            *result = json_pack("{s:I}", "edges_removed", (json_int_t)removed);
    } else {
        rc = orbit_graph_del_edge(tx, g, idp, id.len, rel, top, to.len);
        if (rc == ORBIT_NOTFOUND)
            rc = absent(a, "no such edge");
    }
    free(ls);
    free(pj);
    orbit_buf_release(&id);
    orbit_buf_release(&to);
    return rc;
}

static int vector_op(txn_arg *a, orbit_tx *tx, const char *kind, json_t *op)
{
    orbit_vec_coll *c = NULL;
    int rc = object_of(a, tx, op, "collection", 'v', (void **)&c);
    orbit_buf id = ORBIT_BUF_INIT;
    if (!rc)
        rc = op_bytes(a, op, "id", "id_base64", &id);
    const void *idp = id.data ? (const void *)id.data : "";
    if (rc) {
    } else if (!strcmp(kind, "vector.delete")) {
        rc = orbit_vec_delete(tx, c, idp, id.len);
        if (rc == ORBIT_NOTFOUND)
            rc = absent(a, "no such vector");
    } else {
        json_t *vec = json_object_get(op, "vector"), *meta = json_object_get(op, "meta");
        size_t n = json_is_array(vec) ? json_array_size(vec) : 0;
        float *v = NULL;
        char *mt = NULL;
        if (!n || n > ORBIT_VEC_DIM_MAX)
            rc = bad(a, "needs \"vector\": a non-empty array of numbers");
        else if (meta && !json_is_null(meta) && !json_is_object(meta))
            rc = bad(a, "\"meta\" must be an object");
        else if (!(v = malloc(n * sizeof *v)))
            rc = ORBIT_ENOMEM;
        for (size_t i = 0; !rc && i < n; i++) {
            json_t *x = json_array_get(vec, i);
            if (!json_is_number(x))
                rc = bad(a, "needs \"vector\": a non-empty array of numbers");
            else
                v[i] = (float)json_number_value(x);
        }
        if (!rc && meta && json_is_object(meta) && !(mt = json_dumps(meta, JSON_COMPACT)))
            rc = ORBIT_ENOMEM;
        if (!rc)
            rc = orbit_vec_put(tx, c, idp, id.len, v, (uint32_t)n, mt, mt ? strlen(mt) : 0);
        free(mt);
        free(v);
    }
    orbit_buf_release(&id);
    return rc;
}


/* An optional integer member into *out (def when absent). 0 or -1. */
static int opt_i64(json_t *op, const char *field, int64_t def, int64_t *out)
{
    json_t *j = json_object_get(op, field);
    if (!j) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(j))
        return -1;
    *out = (int64_t)json_integer_value(j);
    return 0;
}

static int series_op(txn_arg *a, orbit_tx *tx, const char *kind, json_t *op, json_t **result)
{
    orbit_series *s = NULL;
    int rc = object_of(a, tx, op, "series", 's', (void **)&s);
    if (rc)
        return rc;
    if (!strcmp(kind, "series.delete_range")) {
        int64_t from, to;
        if (opt_i64(op, "from", INT64_MIN, &from) || opt_i64(op, "to", INT64_MAX, &to))
            return bad(a, "\"from\" and \"to\" are integer timestamps (ms, inclusive)");
        uint64_t deleted = 0;
        rc = orbit_ts_del_range(tx, s, from, to, &deleted);
        if (!rc)
            *result = json_pack("{s:I}", "deleted", (json_int_t)deleted);
        return rc;
    }
    json_t *pts = json_object_get(op, "points");
    const char *dn = json_string_value(json_object_get(op, "on_duplicate"));
    orbit_ts_dup dup = ORBIT_TS_DUP_LAST;
    if (json_object_get(op, "on_duplicate")) {
        size_t i = 0;
        while (i < HX_TS_DUPS && !(dn && !strcmp(dn, hx_ts_dups[i])))
            i++;
        if (i == HX_TS_DUPS)
            return bad(a, "\"on_duplicate\": last, block, first, min, max or sum");
        dup = (orbit_ts_dup)i;
    }
    size_t n = json_is_array(pts) ? json_array_size(pts) : 0;
    if (!n)
        return bad(a, "needs \"points\": a non-empty array of [ts, value]");
    orbit_ts_point *p = calloc(n, sizeof *p);
    char **texts = calloc(n, sizeof *texts);
    orbit_ts_type t = orbit_ts_value_type(s);
    if (!p || !texts)
        rc = ORBIT_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *pair = json_array_get(pts, i);
        json_t *ts = json_array_get(pair, 0);
        if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_integer(ts) ||
            hx_ts_value_from(json_array_get(pair, 1), t, &p[i].v, &texts[i])) {
            char m[200];
            static const char *const TYPES[] = {"?", "int64", "float64", "string", "bool",
                                                "json"};
            snprintf(m, sizeof m,
                     "points: [ts, value] pairs with values of the series' type (%s); point "
                     "%zu is not one",
                     TYPES[t >= 1 && t <= 5 ? t : 0], i);
            rc = bad(a, m);
        } else {
            p[i].ts = (int64_t)json_integer_value(ts);
        }
    }
    size_t written = 0;
    if (!rc)
        rc = orbit_ts_madd(tx, s, p, n, dup, &written);
    if (!rc)
        *result = json_pack("{s:I}", "written", (json_int_t)n);
    for (size_t i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
    free(p);
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
        else if (!strcmp(kind, "graph.add_node") || !strcmp(kind, "graph.add_edge") ||
                 !strcmp(kind, "graph.delete_node") || !strcmp(kind, "graph.delete_edge"))
            rc = graph_op(a, tx, kind, op, &result);
        else if (!strcmp(kind, "vector.put") || !strcmp(kind, "vector.delete"))
            rc = vector_op(a, tx, kind, op);
        else if (!strcmp(kind, "series.add") || !strcmp(kind, "series.delete_range"))
            rc = series_op(a, tx, kind, op, &result);
        else
            rc = bad(a, "unknown op (kv.put, kv.delete, kv.get, row.insert, row.upsert, "
                        "row.update, row.delete, row.get, doc.put, doc.merge, doc.delete, "
                        "doc.get, graph.add_node, graph.add_edge, graph.delete_node, "
                        "graph.delete_edge, vector.put, vector.delete, series.add, "
                        "series.delete_range)");
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
    handles_free(&a);
    json_decref(a.results);
    orbit_buf_release(&a.err);
    json_decref(j);
}
