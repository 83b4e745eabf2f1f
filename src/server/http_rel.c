/*
 * The relational resources of the HTTP API, over orbit/relational.h, on
 * the models actor (models-actor, default "orbit"/"default"; config.h):
 *
 *   GET   /v1/tables                       {"tables": [names]}
 *   PUT   /v1/tables/{t}                   create from a JSON schema (below): 201,
 *                                          409 EEXIST if it exists
 *   GET   /v1/tables/{t}                   {"name", "schema_version", "columns"}
 *   POST  /v1/tables/{t}/indexes           {"name", "columns": [..], "unique": bool}:
 *                                          built online, 201 once public
 *   POST  /v1/tables/{t}/rows              insert one row (an object) or several
 *                                          (an array, one transaction): 201,
 *                                          409 EEXIST duplicate key / unique value
 *   PUT   /v1/tables/{t}/rows              upsert (the same shapes)
 *   GET   /v1/tables/{t}/rows?limit=&reverse=1   rows in key order
 *   GET   /v1/tables/{t}/row?{pkcol}={v}&...     one row by primary key
 *   PATCH /v1/tables/{t}/row?{pkcol}={v}&...     update the columns in the body
 *   DELETE /v1/tables/{t}/row?{pkcol}={v}&...    delete
 *   GET   /v1/tables/{t}/query?index=I&eq=V[&eq=V2...][&limit=N]
 *   GET   /v1/tables/{t}/query?index=I[&gt=|gte=V][&lt=|lte=V][&limit=N][&reverse=1]
 *
 * Schema: {"columns": [{"name", "type": "int64|float64|text|bool|bytes|json",
 * "nullable": bool (default true), "default": value, "references": table}],
 * "primary_key": [names], "indexes": [{"name", "columns", "unique"}]}.
 *
 * JSON values by column type: int64 a JSON integer, float64 a number, text
 * a string, bool true/false, bytes a base64 string, json any JSON value;
 * null is NULL. Row keys in the query string are converted by the named
 * column's type (bytes: the raw percent-decoded bytes). Index values (eq,
 * gt, ...) are JSON literals (42, 1.5, true, null, "text"); anything that
 * is not JSON is text.
 *
 * Table handles are opened once and cached by name (a handle is
 * thread-safe), under g_mu; they live until srv_http_rel_release (the HTTP
 * stop).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/catalog.h"
#include "orbit/provider.h"
#include "orbit/relational.h"
#include "server/config.h"
#include "server/http_int.h"
#include "server/server.h"

typedef struct tcache {
    char *name;
    orbit_table *t;
    struct tcache *next;
} tcache;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static orbit_actor *g_actor;
static tcache *g_tables;

static int actor_locked(void)
{
    if (g_actor)
        return 0;
    return srv_models_actor_open(&g_actor);
}

int hx_rel_table(const char *name, orbit_table **out)
{
    pthread_mutex_lock(&g_mu);
    int rc = actor_locked();
    for (tcache *c = g_tables; !rc && c; c = c->next)
        if (!strcmp(c->name, name)) {
            *out = c->t;
            pthread_mutex_unlock(&g_mu);
            return 0;
        }
    orbit_table *t = NULL;
    if (!rc)
        rc = orbit_table_open(g_actor, name, &t);
    if (!rc) {
        tcache *c = calloc(1, sizeof *c);
        if (!c || !(c->name = strdup(name))) {
            free(c);
            orbit_table_close(t);
            rc = ORBIT_ENOMEM;
        } else {
            c->t = t;
            c->next = g_tables;
            g_tables = c;
            *out = t;
        }
    }
    pthread_mutex_unlock(&g_mu);
    return rc;
}

void srv_http_rel_release(void)
{
    pthread_mutex_lock(&g_mu);
    while (g_tables) {
        tcache *c = g_tables;
        g_tables = c->next;
        orbit_table_close(c->t);
        free(c->name);
        free(c);
    }
    orbit_actor_close(g_actor);
    g_actor = NULL;
    pthread_mutex_unlock(&g_mu);
}

/* ---- values ---------------------------------------------------------------- */

static int col_type(orbit_table *t, const char *name, orbit_col_type *type)
{
    size_t n = orbit_table_column_count(t);
    orbit_buf nm = ORBIT_BUF_INIT;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        int nullable;
        if (orbit_table_column(t, i, &nm, type, &nullable))
            break;
        found = nm.len == strlen(name) && !memcmp(nm.data, name, nm.len);
    }
    orbit_buf_release(&nm);
    return found;
}

static void errf(orbit_buf *err, const char *fmt, const char *a, const char *b)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, fmt, a, b);
    orbit_buf_set(err, tmp, strlen(tmp) + 1);
}

/* Set column name of row from a JSON value, for type. */
static int set_json_value(orbit_row *row, const char *name, orbit_col_type type, json_t *v,
                          orbit_buf *err)
{
    if (json_is_null(v))
        return orbit_row_set_null(row, name);
    int rc = ORBIT_EINVAL;
    switch (type) {
    case ORBIT_COL_INT64:
        if (json_is_integer(v))
            rc = orbit_row_set_int(row, name, (int64_t)json_integer_value(v));
        break;
    case ORBIT_COL_FLOAT64:
        if (json_is_number(v))
            rc = orbit_row_set_double(row, name, json_number_value(v));
        break;
    case ORBIT_COL_TEXT:
        if (json_is_string(v))
            rc = orbit_row_set_text_n(row, name, json_string_value(v), json_string_length(v));
        break;
    case ORBIT_COL_BOOL:
        if (json_is_boolean(v))
            rc = orbit_row_set_bool(row, name, json_is_true(v));
        break;
    case ORBIT_COL_BYTES:
        if (json_is_string(v)) {
            orbit_buf b = ORBIT_BUF_INIT;
            if (!hx_b64_decode(&b, json_string_value(v), json_string_length(v)))
                rc = orbit_row_set_bytes(row, name, b.len ? b.data : (const uint8_t *)"", b.len);
            else
                rc = ORBIT_EINVAL;
            orbit_buf_release(&b);
            if (rc == ORBIT_EINVAL) {
                errf(err, "column %s: expected base64 for a bytes column%s", name, "");
                return rc;
            }
        }
        break;
    case ORBIT_COL_JSON: {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        rc = s ? orbit_row_set_json(row, name, s) : ORBIT_ENOMEM;
        free(s);
        break;
    }
    default:
        break;
    }
    if (rc == ORBIT_EINVAL)
        errf(err, "column %s: a JSON value of the wrong kind for a %s column", name,
             orbit_col_type_name(type));
    return rc;
}

int hx_row_from_json(orbit_table *t, json_t *obj, orbit_row *row, orbit_buf *err)
{
    if (!json_is_object(obj)) {
        errf(err, "a row is a JSON object%s%s", "", "");
        return ORBIT_EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        orbit_col_type type;
        if (!col_type(t, k, &type)) {
            errf(err, "table %s has no column %s", orbit_table_name(t), k);
            return ORBIT_EINVAL;
        }
        int rc = set_json_value(row, k, type, v, err);
        if (rc)
            return rc;
    }
    return 0;
}

json_t *hx_row_to_json(const orbit_row *row)
{
    json_t *o = json_object();
    size_t n = orbit_row_count(row);
    for (size_t i = 0; o && i < n; i++) {
        orbit_value v;
        if (orbit_row_get_at(row, i, &v))
            continue;
        json_t *j = NULL;
        switch (v.type) {
        case ORBIT_VALUE_NULL: j = json_null(); break;
        case ORBIT_COL_INT64: j = json_integer((json_int_t)v.i); break;
        case ORBIT_COL_FLOAT64: j = json_real(v.d); if (!j) j = json_null(); break;
        case ORBIT_COL_BOOL: j = json_boolean(v.b); break;
        case ORBIT_COL_TEXT: j = json_stringn(v.n ? (const char *)v.p : "", v.n); break;
        case ORBIT_COL_JSON:
            j = json_loadb((const char *)v.p, v.n, JSON_DECODE_ANY, NULL);
            if (!j)
                j = json_stringn(v.n ? (const char *)v.p : "", v.n);
            break;
        case ORBIT_COL_BYTES: {
            orbit_buf b = ORBIT_BUF_INIT;
            if (!hx_b64_encode(&b, v.p, v.n))
                j = json_stringn(b.len ? (const char *)b.data : "", b.len);
            orbit_buf_release(&b);
            break;
        }
        }
        json_object_set_new(o, orbit_row_name(row, i), j ? j : json_null());
    }
    return o;
}

int hx_row_from_params(orbit_table *t, const srv_http_target *tg, orbit_row *row,
                       orbit_buf *err)
{
    for (size_t i = 0; i < tg->nparam; i++) {
        const char *name = tg->pname[i].p;
        const char *s = tg->pval[i].p;
        size_t n = tg->pval[i].n;
        orbit_col_type type;
        if (strlen(name) != tg->pname[i].n || !col_type(t, name, &type)) {
            errf(err, "table %s has no column %s", orbit_table_name(t), name);
            return ORBIT_EINVAL;
        }
        int rc = ORBIT_EINVAL;
        char *end = NULL;
        errno = 0;
        switch (type) {
        case ORBIT_COL_INT64: {
            long long x = strtoll(s, &end, 10);
            if (n && !*end && !errno && strlen(s) == n)
                rc = orbit_row_set_int(row, name, x);
            break;
        }
        case ORBIT_COL_FLOAT64: {
            double d = strtod(s, &end);
            if (n && !*end && strlen(s) == n)
                rc = orbit_row_set_double(row, name, d);
            break;
        }
        case ORBIT_COL_BOOL:
            if (!strcmp(s, "true") || !strcmp(s, "1"))
                rc = orbit_row_set_bool(row, name, 1);
            else if (!strcmp(s, "false") || !strcmp(s, "0"))
                rc = orbit_row_set_bool(row, name, 0);
            break;
        case ORBIT_COL_TEXT: rc = orbit_row_set_text_n(row, name, s, n); break;
        case ORBIT_COL_BYTES: rc = orbit_row_set_bytes(row, name, s, n); break;
        default: break;
        }
        if (rc == ORBIT_EINVAL) {
            errf(err, "column %s: the value is not a %s", name, orbit_col_type_name(type));
            return rc;
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- resources -------------------------------------------------------------- */

/* The table named by the path's third segment, or NULL after replying. */
static orbit_table *table_of(hx_req *r)
{
    const srv_http_str *nm = &r->t.seg[2];
    if (strlen(nm->p) != nm->n) {
        hx_error(r, 400, "EINVAL", "a table name may not hold NUL bytes");
        return NULL;
    }
    orbit_table *t = NULL;
    int rc = hx_rel_table(nm->p, &t);
    if (rc == ORBIT_NOTFOUND)
        hx_error(r, 404, "NOTFOUND", "no table %s", nm->p);
    else if (rc)
        hx_orbit_error(r, rc, "table");
    return rc ? NULL : t;
}

static int list_one(void *arg, const char *kind, const char *name, uint64_t id)
{
    if (!strcmp(kind, ORBIT_CATALOG_TABLE))
        json_array_append_new(arg, json_string(name));
    return 0;
}

void hx_tables(hx_req *r)
{
    pthread_mutex_lock(&g_mu);
    int rc = actor_locked();
    pthread_mutex_unlock(&g_mu);
    json_t *arr = json_array();
    if (!rc)
        rc = orbit_actor_list_objects(g_actor, list_one, arr);
    if (rc) {
        json_decref(arr);
        hx_orbit_error(r, rc, "tables");
        return;
    }
    hx_json(r, 200, json_pack("{s:o}", "tables", arr));
}

static json_t *schema_json(orbit_table *t)
{
    json_t *cols = json_array();
    size_t n = orbit_table_column_count(t);
    orbit_buf nm = ORBIT_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        orbit_col_type type;
        int nullable;
        if (orbit_table_column(t, i, &nm, &type, &nullable))
            break;
        json_array_append_new(cols, json_pack("{s:s%, s:s, s:b}", "name", (const char *)nm.data,
                                              nm.len, "type", orbit_col_type_name(type),
                                              "nullable", nullable));
    }
    orbit_buf_release(&nm);
    return json_pack("{s:s, s:I, s:o}", "name", orbit_table_name(t), "schema_version",
                     (json_int_t)orbit_table_schema_version(t), "columns", cols);
}

static int type_of_name(const char *s, orbit_col_type *out)
{
    static const orbit_col_type all[] = {ORBIT_COL_INT64, ORBIT_COL_FLOAT64, ORBIT_COL_TEXT,
                                         ORBIT_COL_BOOL, ORBIT_COL_BYTES, ORBIT_COL_JSON};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(s, orbit_col_type_name(all[i]))) {
            *out = all[i];
            return 0;
        }
    return -1;
}

/* A string array's items as borrowed C strings; NULL if not one. */
static const char **str_array(json_t *a, size_t *n)
{
    if (!json_is_array(a) || !json_array_size(a))
        return NULL;
    *n = json_array_size(a);
    const char **out = calloc(*n, sizeof *out);
    for (size_t i = 0; out && i < *n; i++) {
        out[i] = json_string_value(json_array_get(a, i));
        if (!out[i]) {
            free(out);
            return NULL;
        }
    }
    return out;
}

/* The default value of a column, typed (JSON values of the schema). */
static int default_value(json_t *v, orbit_col_type type, orbit_value *out, orbit_buf *tmp,
                         char **json_text)
{
    if (json_is_null(v)) {
        *out = orbit_value_null();
        return 0;
    }
    switch (type) {
    case ORBIT_COL_INT64:
        if (!json_is_integer(v))
            return -1;
        *out = orbit_value_int((int64_t)json_integer_value(v));
        return 0;
    case ORBIT_COL_FLOAT64:
        if (!json_is_number(v))
            return -1;
        *out = orbit_value_double(json_number_value(v));
        return 0;
    case ORBIT_COL_BOOL:
        if (!json_is_boolean(v))
            return -1;
        *out = orbit_value_bool(json_is_true(v));
        return 0;
    case ORBIT_COL_TEXT:
        if (!json_is_string(v))
            return -1;
        *out = orbit_value_bytes(json_string_value(v), json_string_length(v));
        out->type = ORBIT_COL_TEXT;
        return 0;
    case ORBIT_COL_BYTES:
        if (!json_is_string(v) || hx_b64_decode(tmp, json_string_value(v), json_string_length(v)))
            return -1;
        *out = orbit_value_bytes(tmp->data ? tmp->data : (const uint8_t *)"", tmp->len);
        return 0;
    case ORBIT_COL_JSON:
        *json_text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!*json_text)
            return -1;
        *out = orbit_value_json(*json_text);
        return 0;
    default:
        return -1;
    }
}

static void create_table(hx_req *r, const char *name)
{
    json_t *j = hx_body_json(r);
    if (!j)
        return;
    json_t *cols = json_object_get(j, "columns");
    size_t ncol = json_is_array(cols) ? json_array_size(cols) : 0, npk = 0;
    const char **pk = str_array(json_object_get(j, "primary_key"), &npk);
    orbit_column_def *defs = calloc(ncol ? ncol : 1, sizeof *defs);
    orbit_buf *tmps = calloc(ncol ? ncol : 1, sizeof *tmps);
    char **texts = calloc(ncol ? ncol : 1, sizeof *texts);
    const char *bad = NULL;
    char badbuf[256];
    if (!ncol)
        bad = "the schema needs a non-empty \"columns\" array";
    else if (!pk)
        bad = "the schema needs a non-empty \"primary_key\" array of column names";
    else if (!defs || !tmps || !texts)
        bad = "out of memory";
    for (size_t i = 0; !bad && i < ncol; i++) {
        json_t *c = json_array_get(cols, i);
        const char *cn = json_string_value(json_object_get(c, "name"));
        const char *ct = json_string_value(json_object_get(c, "type"));
        json_t *nl = json_object_get(c, "nullable");
        json_t *df = json_object_get(c, "default");
        json_t *ref = json_object_get(c, "references");
        if (!cn || !ct || type_of_name(ct, &defs[i].type)) {
            snprintf(badbuf, sizeof badbuf,
                     "column %zu needs a \"name\" and a \"type\" (int64, float64, text, bool, "
                     "bytes, json)",
                     i);
            bad = badbuf;
            break;
        }
        defs[i].name = cn;
        defs[i].nullable = nl ? json_is_true(nl) : 1;
        if (nl && !json_is_boolean(nl)) {
            snprintf(badbuf, sizeof badbuf, "column %s: \"nullable\" is a boolean", cn);
            bad = badbuf;
            break;
        }
        if (df) {
            defs[i].has_default = 1;
            if (default_value(df, defs[i].type, &defs[i].default_value, &tmps[i], &texts[i])) {
                snprintf(badbuf, sizeof badbuf, "column %s: the default is not a %s", cn, ct);
                bad = badbuf;
                break;
            }
        }
        if (ref && !(defs[i].references = json_string_value(ref))) {
            snprintf(badbuf, sizeof badbuf, "column %s: \"references\" names a table", cn);
            bad = badbuf;
            break;
        }
    }
    json_t *idx = json_object_get(j, "indexes");
    if (!bad && idx && !json_is_array(idx))
        bad = "\"indexes\" is an array";
    if (bad) {
        hx_error(r, 400, "EINVAL", "%s", bad);
    } else {
        orbit_table_def td = {defs, ncol, pk, npk};
        orbit_table *t = NULL;
        pthread_mutex_lock(&g_mu);
        int rc = actor_locked();
        pthread_mutex_unlock(&g_mu);
        if (!rc)
            rc = orbit_table_create(g_actor, name, &td, &t);
        orbit_table_close(t); /* the cache opens its own */
        size_t i;
        for (i = 0; !rc && i < json_array_size(idx); i++) {
            json_t *x = json_array_get(idx, i);
            size_t nic = 0;
            const char **ic = str_array(json_object_get(x, "columns"), &nic);
            orbit_index_def id = {json_string_value(json_object_get(x, "name")), ic, nic,
                                  json_is_true(json_object_get(x, "unique"))};
            if (!id.name || !ic) {
                free(ic);
                rc = orbit_error_set(ORBIT_EINVAL, "index %zu needs a \"name\" and \"columns\"",
                                     i);
                break;
            }
            orbit_table *ct = NULL;
            rc = hx_rel_table(name, &ct);
            if (!rc)
                rc = orbit_table_create_index(ct, &id, NULL);
            free(ic);
        }
        if (rc == ORBIT_EEXIST && i == 0)
            hx_error(r, 409, "EEXIST", "table %s exists", name);
        else if (rc)
            hx_orbit_error(r, rc, i ? "index" : "create table");
        else {
            orbit_table *ct = NULL;
            rc = hx_rel_table(name, &ct);
            if (rc)
                hx_orbit_error(r, rc, "table");
            else
                hx_json(r, 201, schema_json(ct));
        }
    }
    for (size_t i = 0; i < ncol && tmps && texts; i++) {
        orbit_buf_release(&tmps[i]);
        free(texts[i]);
    }
    free(tmps);
    free(texts);
    free(defs);
    free(pk);
    json_decref(j);
}

void hx_table(hx_req *r)
{
    const srv_http_str *nm = &r->t.seg[2];
    if (strlen(nm->p) != nm->n) {
        hx_error(r, 400, "EINVAL", "a table name may not hold NUL bytes");
        return;
    }
    if (r->method == SRV_M_PUT) {
        create_table(r, nm->p);
        return;
    }
    orbit_table *t = table_of(r);
    if (!t)
        return;
    int rc = orbit_table_refresh(t);
    if (rc)
        hx_orbit_error(r, rc, "table");
    else
        hx_json(r, 200, schema_json(t));
}

void hx_table_indexes(hx_req *r)
{
    orbit_table *t = table_of(r);
    if (!t)
        return;
    json_t *x = hx_body_json(r);
    if (!x)
        return;
    size_t nic = 0;
    const char **ic = str_array(json_object_get(x, "columns"), &nic);
    orbit_index_def id = {json_string_value(json_object_get(x, "name")), ic, nic,
                          json_is_true(json_object_get(x, "unique"))};
    if (!id.name || !ic) {
        hx_error(r, 400, "EINVAL", "an index needs a \"name\" and a \"columns\" array");
    } else {
        int rc = orbit_table_create_index(t, &id, NULL);
        if (rc)
            hx_orbit_error(r, rc, "index");
        else
            hx_json(r, 201, json_pack("{s:s, s:s}", "index", id.name, "state", "public"));
    }
    free(ic);
    json_decref(x);
}

typedef struct write_arg {
    orbit_table *t;
    json_t *rows; /* an array */
    int upsert;
    orbit_buf err;
    size_t failed_at;
} write_arg;

static int write_rows(orbit_tx *tx, void *arg)
{
    write_arg *w = arg;
    orbit_row *row = NULL;
    int rc = orbit_row_new(&row);
    for (size_t i = 0; !rc && i < json_array_size(w->rows); i++) {
        orbit_row_clear(row);
        w->failed_at = i;
        rc = hx_row_from_json(w->t, json_array_get(w->rows, i), row, &w->err);
        if (!rc)
            rc = w->upsert ? orbit_table_upsert(w->t, tx, row) : orbit_table_insert(w->t, tx, row);
    }
    orbit_row_free(row);
    return rc;
}

static int collect_row(void *arg, const orbit_row *row)
{
    json_t *o = hx_row_to_json(row);
    return o && !json_array_append_new(arg, o) ? 0 : ORBIT_ENOMEM;
}

void hx_table_rows(hx_req *r)
{
    orbit_table *t = table_of(r);
    if (!t)
        return;
    if (r->method == SRV_M_GET) {
        size_t limit, reverse;
        if (hx_param_size(r, "limit", 1000, 100000, &limit) ||
            hx_param_size(r, "reverse", 0, 1, &reverse))
            return;
        json_t *arr = json_array();
        int rc = orbit_table_scan(t, NULL, limit, (int)reverse, collect_row, arr);
        if (rc) {
            json_decref(arr);
            hx_orbit_error(r, rc, "scan");
        } else {
            hx_json(r, 200, json_pack("{s:o}", "rows", arr));
        }
        return;
    }
    json_t *j = hx_body_json(r);
    if (!j)
        return;
    write_arg w = {t, NULL, r->method == SRV_M_PUT, ORBIT_BUF_INIT, 0};
    if (json_is_object(j)) {
        w.rows = json_array();
        json_array_append(w.rows, j);
    } else if (json_is_array(j)) {
        w.rows = json_incref(j);
    }
    if (!w.rows || !json_array_size(w.rows)) {
        hx_error(r, 400, "EINVAL", "the body is a row (a JSON object) or an array of rows");
    } else {
        int rc = orbit_tx_run(NULL, 0, write_rows, &w);
        if (rc && w.err.len)
            hx_error(r, 400, "EINVAL", "row %zu: %s", w.failed_at, (const char *)w.err.data);
        else if (rc)
            hx_orbit_error(r, rc, json_array_size(w.rows) > 1 ? "rows" : "row");
        else
            hx_json(r, w.upsert ? 200 : 201,
                    json_pack("{s:I}", w.upsert ? "upserted" : "inserted",
                              (json_int_t)json_array_size(w.rows)));
    }
    json_decref(w.rows);
    orbit_buf_release(&w.err);
    json_decref(j);
}

void hx_table_row(hx_req *r)
{
    orbit_table *t = table_of(r);
    if (!t)
        return;
    orbit_row *key = NULL, *out = NULL;
    orbit_buf err = ORBIT_BUF_INIT;
    json_t *body = NULL;
    int rc = orbit_row_new(&key);
    if (!rc)
        rc = orbit_row_new(&out);
    if (!rc && !r->t.nparam) {
        hx_error(r, 400, "EINVAL", "name the row by its primary key: ?column=value");
        goto done;
    }
    if (!rc && (rc = hx_row_from_params(t, &r->t, key, &err)) && err.len) {
        hx_error(r, 400, "EINVAL", "%s", (const char *)err.data);
        goto done;
    }
    if (!rc && r->method == SRV_M_GET) {
        rc = orbit_table_get(t, NULL, key, out);
        if (!rc)
            hx_json(r, 200, hx_row_to_json(out));
    } else if (!rc && r->method == SRV_M_DELETE) {
        rc = orbit_table_delete(t, NULL, key);
        if (!rc)
            hx_json(r, 200, json_pack("{s:i}", "deleted", 1));
    } else if (!rc) {
        if (!(body = hx_body_json(r)))
            goto done;
        if ((rc = hx_row_from_json(t, body, key, &err)) && err.len) {
            hx_error(r, 400, "EINVAL", "%s", (const char *)err.data);
            goto done;
        }
        if (!rc)
            rc = orbit_table_update(t, NULL, key);
        if (!rc)
            hx_json(r, 200, json_pack("{s:i}", "updated", 1));
    }
    if (rc == ORBIT_NOTFOUND)
        hx_error(r, 404, "NOTFOUND", "no such row");
    else if (rc)
        hx_orbit_error(r, rc, "row");
done:
    json_decref(body);
    orbit_buf_release(&err);
    orbit_row_free(key);
    orbit_row_free(out);
}

/* A query value: a JSON literal (kept in *hold, which owns any string), or
 * text. */
static orbit_value query_value(const srv_http_str *s, json_t **hold)
{
    json_t *j = json_loadb(s->p, s->n, JSON_DECODE_ANY, NULL);
    *hold = j;
    if (json_is_integer(j))
        return orbit_value_int((int64_t)json_integer_value(j));
    if (json_is_real(j))
        return orbit_value_double(json_real_value(j));
    if (json_is_boolean(j))
        return orbit_value_bool(json_is_true(j));
    if (json_is_null(j))
        return orbit_value_null();
    orbit_value v;
    if (json_is_string(j))
        v = orbit_value_bytes(json_string_value(j), json_string_length(j));
    else
        v = orbit_value_bytes(s->p, s->n);
    v.type = ORBIT_COL_TEXT;
    return v;
}

void hx_table_query(hx_req *r)
{
    orbit_table *t = table_of(r);
    if (!t)
        return;
    const srv_http_str *index = srv_http_param(&r->t, "index");
    size_t limit, reverse;
    if (hx_param_size(r, "limit", 1000, 100000, &limit) ||
        hx_param_size(r, "reverse", 0, 1, &reverse))
        return;
    if (!index || strlen(index->p) != index->n) {
        hx_error(r, 400, "EINVAL", "name the index: ?index=NAME");
        return;
    }
    orbit_value vals[SRV_HTTP_MAX_PARAMS], lo, hi;
    json_t *holds[SRV_HTTP_MAX_PARAMS + 2] = {0};
    size_t nvals = 0, nh = 0;
    int has_lo = 0, has_hi = 0, lo_ex = 0, hi_in = 0;
    for (size_t i = 0; i < r->t.nparam; i++) {
        const char *n = r->t.pname[i].p;
        if (!strcmp(n, "eq"))
            vals[nvals++] = query_value(&r->t.pval[i], &holds[nh++]);
        else if (!strcmp(n, "gt") || !strcmp(n, "gte")) {
            lo = query_value(&r->t.pval[i], &holds[nh++]);
            has_lo = 1;
            lo_ex = n[2] == 0;
        } else if (!strcmp(n, "lt") || !strcmp(n, "lte")) {
            hi = query_value(&r->t.pval[i], &holds[nh++]);
            has_hi = 1;
            hi_in = n[2] != 0;
        }
    }
    json_t *arr = json_array();
    int rc;
    if (nvals && (has_lo || has_hi)) {
        rc = orbit_error_set(ORBIT_EINVAL, "give either eq or a range (gt/gte/lt/lte)");
    } else if (nvals) {
        rc = orbit_table_lookup(t, NULL, index->p, vals, nvals, limit, collect_row, arr);
    } else {
        orbit_index_range rg = {has_lo ? &lo : NULL, lo_ex, has_hi ? &hi : NULL, hi_in, limit,
                                (int)reverse};
        rc = orbit_table_range(t, NULL, index->p, &rg, collect_row, arr);
    }
    for (size_t i = 0; i < nh; i++)
        json_decref(holds[i]);
    if (rc) {
        json_decref(arr);
        hx_orbit_error(r, rc, "query");
    } else {
        hx_json(r, 200, json_pack("{s:o}", "rows", arr));
    }
}
