/*
 * Table schemas of the relational model (orbit/relational.h): their stored
 * form, loading and caching, table creation, and schema changes.
 *
 * Stored form. (ks, "rel", T, "meta") holds an ORBIT_MODEL_REL record whose
 * schema_version is the version and whose payload is JSON:
 *   {"columns": [{"name", "type", "nullable", ["default"], ["ref", "ref_id"]}],
 *    "pk": [column positions],
 *    "indexes": [{"name", "id", "columns": [positions], "unique", "state"}]}
 * (a default is the JSON form of the value: a number, a string, a boolean;
 * bytes as lowercase hex; a JSON column's default as its text). The version
 * key (ks, "rel", T, "ver") holds an ORBIT_MODEL_REL record with the same
 * schema_version and an 8-byte big-endian payload of it. Both are written
 * together by every schema change, in one transaction that first reads the
 * version key for update, so schema changes are serialized and every
 * writer (which reads the version key for update too) either sees a change
 * or conflicts with it.
 *
 * Cache. The handle keeps the newest schema it has seen; a schema is never
 * replaced by an older one (a transaction whose snapshot predates the
 * cached schema loads its own, older schema privately).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "model/relational_int.h"
#include "orbit/catalog.h"
#include "orbit/codec.h"
#include "orbit/provider.h"

/* ---- schema objects ------------------------------------------------------- */

void orbit__rel_index_release(rel_index *ix) { free(ix->name); }

static void schema_free(rel_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ncols; i++) {
        free(s->cols[i].name);
        free(s->cols[i].ref_table);
        orbit_buf_release(&s->cols[i].def_bytes);
    }
    for (size_t i = 0; i < s->nidx; i++)
        orbit__rel_index_release(&s->idx[i]);
    free(s->cols);
    free(s->pk);
    free(s->idx);
    free(s);
}

void orbit__rel_schema_unref(rel_schema *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        schema_free(s);
}

rel_schema *orbit__rel_schema_ref(orbit_table *t)
{
    pthread_mutex_lock(&t->mu);
    rel_schema *s = t->cur;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&t->mu);
    return s;
}

void orbit__rel_schema_install(orbit_table *t, rel_schema *s)
{
    pthread_mutex_lock(&t->mu);
    rel_schema *old = NULL;
    if (!t->cur || s->version > t->cur->version) {
        old = t->cur;
        atomic_fetch_add(&s->refs, 1);
        t->cur = s;
    }
    pthread_mutex_unlock(&t->mu);
    orbit__rel_schema_unref(old);
}

static int col_set_default(rel_col *c, const orbit_value *v)
{
    c->has_default = 1;
    c->def = *v;
    c->def_bytes.len = 0;
    if (v->type == ORBIT_COL_TEXT || v->type == ORBIT_COL_BYTES || v->type == ORBIT_COL_JSON) {
        if (orbit_buf_append(&c->def_bytes, v->p, v->n) || orbit_buf_append(&c->def_bytes, "", 1))
            return ORBIT_ENOMEM;
        c->def.p = c->def_bytes.data;
    } else {
        c->def.p = NULL;
        c->def.n = 0;
    }
    return ORBIT_OK;
}

static int col_copy(rel_col *d, const rel_col *s)
{
    memset(d, 0, sizeof *d);
    d->name = strdup(s->name);
    d->type = s->type;
    d->nullable = s->nullable;
    d->ref_id = s->ref_id;
    d->ref_table = s->ref_table ? strdup(s->ref_table) : NULL;
    if (!d->name || (s->ref_table && !d->ref_table))
        return ORBIT_ENOMEM;
    if (s->has_default)
        return col_set_default(d, &s->def);
    return ORBIT_OK;
}

rel_schema *orbit__rel_schema_clone(const rel_schema *s)
{
    rel_schema *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    c->version = s->version;
    c->cols = calloc(s->ncols + 1, sizeof *c->cols);
    c->pk = calloc(s->npk + 1, sizeof *c->pk);
    c->idx = calloc(s->nidx + 1, sizeof *c->idx);
    if (!c->cols || !c->pk || !c->idx)
        goto fail;
    for (size_t i = 0; i < s->ncols; i++) {
        c->ncols++;
        if (col_copy(&c->cols[i], &s->cols[i]))
            goto fail;
    }
    c->npk = s->npk;
    memcpy(c->pk, s->pk, s->npk * sizeof *c->pk);
    for (size_t i = 0; i < s->nidx; i++) {
        c->idx[i] = s->idx[i];
        c->idx[i].name = strdup(s->idx[i].name);
        c->nidx++;
        if (!c->idx[i].name)
            goto fail;
    }
    return c;
fail:
    schema_free(c);
    return NULL;
}

int orbit__rel_col_find(const rel_schema *s, const char *name, size_t *pos)
{
    for (size_t i = 0; i < s->ncols; i++)
        if (strcmp(s->cols[i].name, name) == 0) {
            *pos = i;
            return ORBIT_OK;
        }
    return ORBIT_NOTFOUND;
}

const rel_index *orbit__rel_index_find(const rel_schema *s, const char *name)
{
    for (size_t i = 0; i < s->nidx; i++)
        if (strcmp(s->idx[i].name, name) == 0)
            return &s->idx[i];
    return NULL;
}

const rel_index *orbit__rel_index_by_id(const rel_schema *s, uint64_t id)
{
    for (size_t i = 0; i < s->nidx; i++)
        if (s->idx[i].id == id)
            return &s->idx[i];
    return NULL;
}

/* ---- JSON form ---------------------------------------------------------- */

static const char HEX[] = "0123456789abcdef";

static json_t *default_to_json(const orbit_value *v)
{
    switch (v->type) {
    case ORBIT_COL_INT64: return json_integer((json_int_t)v->i);
    case ORBIT_COL_FLOAT64: return json_real(v->d);
    case ORBIT_COL_BOOL: return json_boolean(v->b);
    case ORBIT_COL_TEXT:
    case ORBIT_COL_JSON: return json_stringn((const char *)v->p, v->n);
    case ORBIT_COL_BYTES: {
        char *h = malloc(v->n * 2 + 1);
        if (!h)
            return NULL;
        for (size_t i = 0; i < v->n; i++) {
            h[2 * i] = HEX[v->p[i] >> 4];
            h[2 * i + 1] = HEX[v->p[i] & 15];
        }
        json_t *j = json_stringn(h, v->n * 2);
        free(h);
        return j;
    }
    default: return NULL;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int default_from_json(rel_col *c, json_t *j)
{
    orbit_value v = orbit_value_null();
    v.type = c->type;
    orbit_buf tmp = ORBIT_BUF_INIT;
    switch (c->type) {
    case ORBIT_COL_INT64:
        if (!json_is_integer(j))
            return ORBIT_ECORRUPT;
        v.i = (int64_t)json_integer_value(j);
        break;
    case ORBIT_COL_FLOAT64:
        if (!json_is_number(j))
            return ORBIT_ECORRUPT;
        v.d = json_number_value(j);
        break;
    case ORBIT_COL_BOOL:
        if (!json_is_boolean(j))
            return ORBIT_ECORRUPT;
        v.b = json_is_true(j);
        break;
    case ORBIT_COL_TEXT:
    case ORBIT_COL_JSON:
        if (!json_is_string(j))
            return ORBIT_ECORRUPT;
        v.p = (const uint8_t *)json_string_value(j);
        v.n = json_string_length(j);
        break;
    case ORBIT_COL_BYTES: {
        if (!json_is_string(j))
            return ORBIT_ECORRUPT;
        const char *h = json_string_value(j);
        size_t n = json_string_length(j);
        if (n % 2)
            return ORBIT_ECORRUPT;
        for (size_t i = 0; i < n; i += 2) {
            int a = hexval(h[i]), b = hexval(h[i + 1]);
            uint8_t byte = (uint8_t)(a * 16 + b);
            if (a < 0 || b < 0 || orbit_buf_append(&tmp, &byte, 1)) {
                orbit_buf_release(&tmp);
                return ORBIT_ECORRUPT;
            }
        }
        v.p = tmp.data;
        v.n = tmp.len;
        break;
    }
    default:
        return ORBIT_ECORRUPT;
    }
    int rc = col_set_default(c, &v);
    orbit_buf_release(&tmp);
    return rc;
}

static int schema_to_json(const rel_schema *s, orbit_buf *out)
{
    json_t *root = json_object(), *cols = json_array(), *pk = json_array(), *idx = json_array();
    int rc = ORBIT_ENOMEM;
    if (!root || !cols || !pk || !idx)
        goto done;
    json_object_set(root, "columns", cols);
    json_object_set(root, "pk", pk);
    json_object_set(root, "indexes", idx);
    for (size_t i = 0; i < s->ncols; i++) {
        const rel_col *c = &s->cols[i];
        json_t *o = json_object();
        if (!o)
            goto done;
        json_array_append_new(cols, o);
        json_object_set_new(o, "name", json_string(c->name));
        json_object_set_new(o, "type", json_string(orbit_col_type_name(c->type)));
        json_object_set_new(o, "nullable", json_boolean(c->nullable));
        if (c->has_default)
            json_object_set_new(o, "default", default_to_json(&c->def));
        if (c->ref_table) {
            json_object_set_new(o, "ref", json_string(c->ref_table));
            json_object_set_new(o, "ref_id", json_integer((json_int_t)c->ref_id));
        }
    }
    for (size_t i = 0; i < s->npk; i++)
        json_array_append_new(pk, json_integer((json_int_t)s->pk[i]));
    for (size_t i = 0; i < s->nidx; i++) {
        const rel_index *x = &s->idx[i];
        json_t *o = json_object(), *ic = json_array();
        if (!o || !ic) {
            json_decref(o);
            json_decref(ic);
            goto done;
        }
        json_array_append_new(idx, o);
        json_object_set_new(o, "name", json_string(x->name));
        json_object_set_new(o, "id", json_integer((json_int_t)x->id));
        for (size_t k = 0; k < x->ncols; k++)
            json_array_append_new(ic, json_integer((json_int_t)x->cols[k]));
        json_object_set_new(o, "columns", ic);
        json_object_set_new(o, "unique", json_boolean(x->unique));
        json_object_set_new(o, "state", json_integer(x->state));
    }
    char *text = json_dumps(root, JSON_COMPACT);
    if (!text)
        goto done;
    rc = orbit_buf_append(out, text, strlen(text));
    free(text);
done:
    json_decref(cols);
    json_decref(pk);
    json_decref(idx);
    json_decref(root);
    return rc;
}

static int type_from_name(const char *n, orbit_col_type *t)
{
    for (int i = ORBIT_COL_INT64; i <= ORBIT_COL_JSON; i++)
        if (strcmp(n, orbit_col_type_name((orbit_col_type)i)) == 0) {
            *t = (orbit_col_type)i;
            return ORBIT_OK;
        }
    return ORBIT_ECORRUPT;
}

static int schema_from_json(const uint8_t *p, size_t n, uint32_t version, rel_schema **out)
{
    json_error_t err;
    json_t *root = json_loadb((const char *)p, n, 0, &err);
    if (!root)
        return ORBIT_ECORRUPT;
    int rc = ORBIT_ECORRUPT;
    rel_schema *s = calloc(1, sizeof *s);
    json_t *cols = json_object_get(root, "columns"), *pk = json_object_get(root, "pk"),
           *idx = json_object_get(root, "indexes");
    if (!s || !json_is_array(cols) || !json_is_array(pk) || !json_is_array(idx))
        goto done;
    atomic_init(&s->refs, 1);
    s->version = version;
    s->cols = calloc(json_array_size(cols) + 1, sizeof *s->cols);
    s->pk = calloc(json_array_size(pk) + 1, sizeof *s->pk);
    s->idx = calloc(json_array_size(idx) + 1, sizeof *s->idx);
    if (!s->cols || !s->pk || !s->idx)
        goto done;
    size_t i;
    json_t *o;
    json_array_foreach(cols, i, o) {
        rel_col *c = &s->cols[i];
        s->ncols++;
        const char *name = json_string_value(json_object_get(o, "name"));
        const char *type = json_string_value(json_object_get(o, "type"));
        if (!name || !type || type_from_name(type, &c->type))
            goto done;
        if (!(c->name = strdup(name)))
            goto done;
        c->nullable = json_is_true(json_object_get(o, "nullable"));
        json_t *d = json_object_get(o, "default");
        if (d && default_from_json(c, d))
            goto done;
        const char *ref = json_string_value(json_object_get(o, "ref"));
        if (ref) {
            if (!(c->ref_table = strdup(ref)))
                goto done;
            c->ref_id = (uint64_t)json_integer_value(json_object_get(o, "ref_id"));
        }
    }
    json_array_foreach(pk, i, o) {
        json_int_t v = json_integer_value(o);
        if (!json_is_integer(o) || v < 0 || (size_t)v >= s->ncols)
            goto done;
        s->pk[s->npk++] = (size_t)v;
    }
    json_array_foreach(idx, i, o) {
        rel_index *x = &s->idx[i];
        const char *name = json_string_value(json_object_get(o, "name"));
        json_t *ic = json_object_get(o, "columns");
        if (!name || !json_is_array(ic) || json_array_size(ic) == 0 ||
            json_array_size(ic) > REL_INDEX_COLS_MAX)
            goto done;
        if (!(x->name = strdup(name)))
            goto done;
        s->nidx++;
        x->id = (uint64_t)json_integer_value(json_object_get(o, "id"));
        x->unique = json_is_true(json_object_get(o, "unique"));
        x->state = (orbit_index_state)json_integer_value(json_object_get(o, "state"));
        if (x->state < ORBIT_INDEX_WRITE_ONLY || x->state > ORBIT_INDEX_PUBLIC)
            goto done;
        size_t k;
        json_t *e;
        json_array_foreach(ic, k, e) {
            json_int_t v = json_integer_value(e);
            if (!json_is_integer(e) || v < 0 || (size_t)v >= s->ncols)
                goto done;
            x->cols[x->ncols++] = (size_t)v;
        }
    }
    if (s->npk == 0 || s->ncols == 0)
        goto done;
    rc = ORBIT_OK;
    *out = s;
    s = NULL;
done:
    schema_free(s);
    json_decref(root);
    return rc;
}

/* ---- loading -------------------------------------------------------------- */

static int corrupt_key(const orbit_buf *key, const char *what)
{
    orbit_buf e = ORBIT_BUF_INIT;
    orbit_escape(&e, key->data, key->len);
    orbit_buf_append(&e, "", 1);
    int rc = orbit_error_set(ORBIT_ECORRUPT, "relational: %s under key %s", what,
                             (const char *)e.data);
    orbit_buf_release(&e);
    return rc;
}

static int read_key(orbit_table *t, orbit_txn *txn, const orbit_buf *key, int for_update,
                    orbit_buf *out)
{
    if (!txn)
        return orbit_kv_get(t->kv, NULL, key->data, key->len, out);
    if (for_update)
        return orbit_txn_get_for_update(txn, key->data, key->len, out);
    return orbit_txn_get(txn, key->data, key->len, out);
}

int orbit__rel_schema_load(orbit_table *t, orbit_txn *txn, rel_schema **out)
{
    orbit_buf v = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT;
    int rc = read_key(t, txn, &t->meta_key, 0, &v);
    if (rc == ORBIT_NOTFOUND)
        rc = orbit_error_set(ORBIT_NOTFOUND, "table %s does not exist", t->name);
    if (rc)
        goto done;
    orbit_record_meta m;
    const uint8_t *p;
    size_t n;
    rc = orbit_record_decode(v.data, v.len, t->meta_key.data, t->meta_key.len, &m, &scratch, &p,
                             &n);
    if (rc)
        goto done;
    if (m.model != ORBIT_MODEL_REL || schema_from_json(p, n, m.schema_version, out))
        rc = corrupt_key(&t->meta_key, "a malformed table schema");
done:
    orbit_buf_release(&v);
    orbit_buf_release(&scratch);
    return rc;
}

int orbit__rel_schema_reload(orbit_table *t)
{
    rel_schema *s;
    int rc = orbit__rel_schema_load(t, NULL, &s);
    if (rc)
        return rc;
    orbit__rel_schema_install(t, s);
    orbit__rel_schema_unref(s);
    return ORBIT_OK;
}

int orbit__rel_ver_decode(orbit_table *t, const uint8_t *v, size_t n, uint32_t *ver)
{
    orbit_record_meta m;
    const uint8_t *p;
    size_t pl;
    int rc = orbit_record_decode(v, n, t->ver_key.data, t->ver_key.len, &m, NULL, &p, &pl);
    if (rc)
        return rc;
    if (m.model != ORBIT_MODEL_REL || pl != 8)
        return corrupt_key(&t->ver_key, "a malformed schema version");
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = (x << 8) | p[i];
    if (x != m.schema_version || x == 0 || x > UINT32_MAX)
        return corrupt_key(&t->ver_key, "a malformed schema version");
    *ver = (uint32_t)x;
    return ORBIT_OK;
}

int orbit__rel_schema_for_write(orbit_table *t, orbit_txn *txn, rel_schema **out)
{
    orbit_buf v = ORBIT_BUF_INIT;
    int rc = orbit_txn_get_for_update(txn, t->ver_key.data, t->ver_key.len, &v);
    uint32_t ver = 0;
    if (rc == ORBIT_NOTFOUND)
        rc = orbit_error_set(ORBIT_NOTFOUND, "table %s does not exist", t->name);
    if (!rc)
        rc = orbit__rel_ver_decode(t, v.data, v.len, &ver);
    orbit_buf_release(&v);
    if (rc)
        return rc;
    rel_schema *s = orbit__rel_schema_ref(t);
    if (s->version == ver) {
        *out = s;
        return ORBIT_OK;
    }
    orbit__rel_schema_unref(s);
    if ((rc = orbit__rel_schema_load(t, txn, &s)))
        return rc;
    if (s->version != ver) {
        orbit__rel_schema_unref(s);
        return corrupt_key(&t->meta_key, "a schema whose version differs from the version key");
    }
    orbit__rel_schema_install(t, s);
    *out = s;
    return ORBIT_OK;
}

/* ---- writing schemas ------------------------------------------------------ */

static int write_schema(orbit_table *t, orbit_txn *txn, const rel_schema *s)
{
    orbit_buf pay = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT;
    int rc = schema_to_json(s, &pay);
    if (!rc)
        rc = orbit__rel_record(t, s->version, 0, t->meta_key.data, t->meta_key.len, pay.data,
                               pay.len, &rec);
    if (!rc)
        rc = orbit_txn_put(txn, t->meta_key.data, t->meta_key.len, rec.data, rec.len);
    if (!rc) {
        uint8_t be[8];
        for (int i = 0; i < 8; i++)
            be[i] = (uint8_t)((uint64_t)s->version >> (56 - 8 * i));
        rec.len = 0;
        rc = orbit__rel_record(t, s->version, 0, t->ver_key.data, t->ver_key.len, be, 8, &rec);
        if (!rc)
            rc = orbit_txn_put(txn, t->ver_key.data, t->ver_key.len, rec.data, rec.len);
    }
    orbit_buf_release(&pay);
    orbit_buf_release(&rec);
    return rc;
}

typedef struct change_ctx {
    orbit_table *t;
    rel_mutate_fn mutate;
    void *arg;
    rel_schema *result;
} change_ctx;

static int change_fn(orbit_tx *tx, void *arg)
{
    change_ctx *c = arg;
    orbit__rel_schema_unref(c->result);
    c->result = NULL;
    orbit_txn *txn;
    int rc = orbit__rel_txn(c->t, tx, &txn);
    if (rc)
        return rc;
    rel_schema *s;
    if ((rc = orbit__rel_schema_for_write(c->t, txn, &s)))
        return rc;
    rel_schema *n = orbit__rel_schema_clone(s);
    orbit__rel_schema_unref(s);
    if (!n)
        return ORBIT_ENOMEM;
    if ((rc = c->mutate(c->t, n, c->arg)) == 0) {
        n->version++;
        rc = write_schema(c->t, txn, n);
    }
    if (rc) {
        orbit__rel_schema_unref(n);
        return rc;
    }
    c->result = n;
    return ORBIT_OK;
}

/* A schema change locks the table's version key, which every writer of the
 * table also reads for update; on a pessimistic store a lock it meets fails
 * it at once (RocksDB's lock_timeout_ms 0). So, like an index backfill
 * batch, it retries until a deadline rather than a small count: a busy
 * table delays an ALTER or an index build, never fails it. */
#define SCHEMA_CHANGE_DEADLINE_MS 120000
#define SCHEMA_CHANGE_ATTEMPTS 100000

int orbit__rel_schema_change(orbit_table *t, rel_mutate_fn mutate, void *arg)
{
    change_ctx c = {t, mutate, arg, NULL};
    orbit_tx_opts to = {ORBIT_TX_REPEATABLE_READ, SCHEMA_CHANGE_DEADLINE_MS};
    int rc = orbit_tx_run(&to, SCHEMA_CHANGE_ATTEMPTS, change_fn, &c);
    if (rc == 0 && c.result)
        orbit__rel_schema_install(t, c.result);
    orbit__rel_schema_unref(c.result);
    return rc;
}

/* ---- handles -------------------------------------------------------------- */

static int handle_new(const orbit_actor *a, const char *name, uint64_t id, orbit_table **out)
{
    orbit_table *t = calloc(1, sizeof *t);
    if (!t)
        return ORBIT_ENOMEM;
    t->a = a;
    t->kv = orbit_actor_store(a);
    t->ks = orbit_actor_keyspace(a);
    t->id = id;
    pthread_mutex_init(&t->mu, NULL);
    t->name = strdup(name);
    int rc = t->name ? ORBIT_OK : ORBIT_ENOMEM;
    if (!rc)
        rc = orbit_key_object_prefix(&t->meta_key, t->ks, ORBIT_PREFIX_REL, id);
    if (!rc)
        rc = orbit_tuple_str(&t->meta_key, "meta");
    if (!rc)
        rc = orbit_key_object_prefix(&t->ver_key, t->ks, ORBIT_PREFIX_REL, id);
    if (!rc)
        rc = orbit_tuple_str(&t->ver_key, "ver");
    if (!rc)
        rc = orbit_key_rows_prefix(&t->rows_prefix, t->ks, id);
    if (rc) {
        orbit_table_close(t);
        return rc;
    }
    *out = t;
    return ORBIT_OK;
}

void orbit_table_close(orbit_table *t)
{
    if (!t)
        return;
    orbit__rel_schema_unref(t->cur);
    orbit_buf_release(&t->meta_key);
    orbit_buf_release(&t->ver_key);
    orbit_buf_release(&t->rows_prefix);
    pthread_mutex_destroy(&t->mu);
    free(t->name);
    free(t);
}

const char *orbit_table_name(const orbit_table *t) { return t->name; }
uint64_t orbit_table_id(const orbit_table *t) { return t->id; }

uint32_t orbit_table_schema_version(orbit_table *t)
{
    rel_schema *s = orbit__rel_schema_ref(t);
    uint32_t v = s->version;
    orbit__rel_schema_unref(s);
    return v;
}

int orbit_table_refresh(orbit_table *t)
{
    if (!t)
        return orbit_error_set(ORBIT_EINVAL, "table refresh: NULL table");
    return orbit__rel_schema_reload(t);
}

size_t orbit_table_column_count(orbit_table *t)
{
    rel_schema *s = orbit__rel_schema_ref(t);
    size_t n = s->ncols;
    orbit__rel_schema_unref(s);
    return n;
}

int orbit_table_column(orbit_table *t, size_t i, orbit_buf *name, orbit_col_type *type,
                       int *nullable)
{
    rel_schema *s = orbit__rel_schema_ref(t);
    int rc = ORBIT_OK;
    if (i >= s->ncols) {
        rc = orbit_error_set(ORBIT_EINVAL, "table %s has %zu columns, not %zu", t->name,
                             s->ncols, i + 1);
    } else {
        if (name) {
            name->len = 0;
            rc = orbit_buf_append(name, s->cols[i].name, strlen(s->cols[i].name) + 1);
            if (!rc)
                name->len--;
        }
        if (type)
            *type = s->cols[i].type;
        if (nullable)
            *nullable = s->cols[i].nullable;
    }
    orbit__rel_schema_unref(s);
    return rc;
}

int orbit_table_open(const orbit_actor *a, const char *name, orbit_table **out)
{
    *out = NULL;
    if (!a || !name || !*name)
        return orbit_error_set(ORBIT_EINVAL, "table open: actor and name are required");
    uint64_t id;
    int rc = orbit_actor_object_id(a, ORBIT_CATALOG_TABLE, name, 0, &id);
    if (rc == ORBIT_NOTFOUND)
        return orbit_error_set(ORBIT_NOTFOUND, "table %s does not exist", name);
    if (rc)
        return rc;
    orbit_table *t;
    if ((rc = handle_new(a, name, id, &t)))
        return rc;
    rel_schema *s;
    if ((rc = orbit__rel_schema_load(t, NULL, &s))) {
        orbit_table_close(t);
        return rc;
    }
    t->cur = s;
    *out = t;
    return ORBIT_OK;
}

/* ---- definitions ---------------------------------------------------------- */

static int name_ok(const char *n) { return n && *n && strlen(n) <= REL_NAME_MAX; }

/* Check column def d (to be column `pos` of a table named `table` whose
 * schema so far is s, or NULL at creation) and fill c. The referenced
 * table is resolved here: `self_pk_type` is the type of this table's own
 * single primary-key column for a reference to itself (0: none). */
static int column_from_def(const orbit_actor *a, const char *table, uint64_t table_id,
                           orbit_col_type self_pk_type, const orbit_column_def *d, rel_col *c)
{
    memset(c, 0, sizeof *c);
    if (!name_ok(d->name))
        return orbit_error_set(ORBIT_EINVAL, "table %s: a column name must be 1..%d bytes", table,
                               REL_NAME_MAX);
    if (d->type < ORBIT_COL_INT64 || d->type > ORBIT_COL_JSON)
        return orbit_error_set(ORBIT_EINVAL, "table %s: column '%s' has an unknown type %d", table,
                               d->name, (int)d->type);
    c->name = strdup(d->name);
    if (!c->name)
        return ORBIT_ENOMEM;
    c->type = d->type;
    c->nullable = d->nullable != 0;
    int rc;
    if (d->has_default && d->default_value.type != ORBIT_VALUE_NULL) {
        orbit_value conv;
        if ((rc = orbit__rel_check_value(table, c, &d->default_value, &conv)))
            return rc;
        if (conv.type == ORBIT_COL_FLOAT64 && (conv.d != conv.d || conv.d - conv.d != 0))
            return orbit_error_set(ORBIT_EINVAL, "table %s: column '%s': a float64 default must "
                                   "be finite", table, d->name);
        if ((rc = col_set_default(c, &conv)))
            return rc;
    }
    if (d->references) {
        orbit_col_type want;
        uint64_t rid;
        if (!name_ok(d->references))
            return orbit_error_set(ORBIT_EINVAL, "table %s: column '%s': bad referenced table "
                                   "name", table, d->name);
        if (strcmp(d->references, table) == 0) {
            if (!self_pk_type)
                return orbit_error_set(ORBIT_EINVAL, "table %s: column '%s' references table %s, "
                                       "whose primary key is not one column", table, d->name,
                                       table);
            want = self_pk_type;
            rid = table_id;
        } else {
            orbit_table *rt;
            rc = orbit_table_open(a, d->references, &rt);
            if (rc == ORBIT_NOTFOUND)
                return orbit_error_set(ORBIT_EINVAL, "table %s: column '%s' references table %s, "
                                       "which does not exist", table, d->name, d->references);
            if (rc)
                return rc;
            rel_schema *rs = orbit__rel_schema_ref(rt);
            int single = rs->npk == 1;
            want = single ? rs->cols[rs->pk[0]].type : ORBIT_VALUE_NULL;
            rid = rt->id;
            orbit__rel_schema_unref(rs);
            orbit_table_close(rt);
            if (!single)
                return orbit_error_set(ORBIT_EINVAL, "table %s: column '%s' references table %s, "
                                       "whose primary key is not one column", table, d->name,
                                       d->references);
        }
        if (want != c->type)
            return orbit_error_set(ORBIT_EINVAL, "table %s: column '%s' is %s but references "
                                   "table %s, whose primary key is %s", table, d->name,
                                   orbit_col_type_name(c->type), d->references,
                                   orbit_col_type_name(want));
        c->ref_table = strdup(d->references);
        if (!c->ref_table)
            return ORBIT_ENOMEM;
        c->ref_id = rid;
    }
    return ORBIT_OK;
}

static int schema_from_def(const orbit_actor *a, const char *name, uint64_t id,
                           const orbit_table_def *def, rel_schema **out)
{
    if (!def || !def->columns || def->ncolumns == 0 || !def->primary_key || def->npk == 0)
        return orbit_error_set(ORBIT_EINVAL, "table %s: columns and a primary key are required",
                               name);
    rel_schema *s = calloc(1, sizeof *s);
    if (!s)
        return ORBIT_ENOMEM;
    atomic_init(&s->refs, 1);
    s->version = 1;
    s->cols = calloc(def->ncolumns, sizeof *s->cols);
    s->pk = calloc(def->npk, sizeof *s->pk);
    s->idx = calloc(1, sizeof *s->idx);
    int rc = (!s->cols || !s->pk || !s->idx) ? ORBIT_ENOMEM : ORBIT_OK;
    for (size_t k = 0; !rc && k < def->npk; k++) {
        size_t pos = def->ncolumns;
        for (size_t i = 0; def->primary_key[k] && pos == def->ncolumns && i < def->ncolumns; i++)
            if (def->columns[i].name && strcmp(def->columns[i].name, def->primary_key[k]) == 0)
                pos = i;
        if (pos == def->ncolumns) {
            rc = orbit_error_set(ORBIT_EINVAL, "table %s: primary-key column '%s' is not a column",
                                 name, def->primary_key[k] ? def->primary_key[k] : "(null)");
            break;
        }
        for (size_t j = 0; j < k; j++)
            if (s->pk[j] == pos)
                rc = orbit_error_set(ORBIT_EINVAL, "table %s: primary-key column '%s' is named "
                                     "twice", name, def->primary_key[k]);
        if (def->columns[pos].type == ORBIT_COL_JSON || def->columns[pos].nullable)
            rc = orbit_error_set(ORBIT_EINVAL, "table %s: primary-key column '%s' must be "
                                 "non-nullable and not json", name, def->primary_key[k]);
        s->pk[s->npk++] = pos;
    }
    orbit_col_type self = ORBIT_VALUE_NULL;
    if (!rc && def->npk == 1)
        self = def->columns[s->pk[0]].type;
    for (size_t i = 0; !rc && i < def->ncolumns; i++) {
        s->ncols++;
        rc = column_from_def(a, name, id, self, &def->columns[i], &s->cols[i]);
        for (size_t j = 0; !rc && j < i; j++)
            if (strcmp(s->cols[j].name, s->cols[i].name) == 0)
                rc = orbit_error_set(ORBIT_EINVAL, "table %s: column '%s' is defined twice", name,
                                     s->cols[i].name);
    }
    if (rc) {
        schema_free(s);
        return rc;
    }
    *out = s;
    return ORBIT_OK;
}

typedef struct create_ctx {
    orbit_table *t;
    rel_schema *s;
} create_ctx;

static int create_fn(orbit_tx *tx, void *arg)
{
    create_ctx *c = arg;
    orbit_txn *txn;
    int rc = orbit__rel_txn(c->t, tx, &txn);
    if (rc)
        return rc;
    orbit_buf v = ORBIT_BUF_INIT;
    rc = orbit_txn_get_for_update(txn, c->t->ver_key.data, c->t->ver_key.len, &v);
    orbit_buf_release(&v);
    if (rc == 0)
        return orbit_error_set(ORBIT_EEXIST, "table %s exists", c->t->name);
    if (rc != ORBIT_NOTFOUND)
        return rc;
    return write_schema(c->t, txn, c->s);
}

int orbit_table_create(const orbit_actor *a, const char *name, const orbit_table_def *def,
                       orbit_table **out)
{
    *out = NULL;
    if (!a || !name_ok(name))
        return orbit_error_set(ORBIT_EINVAL, "table create: an actor and a name of 1..%d bytes "
                               "are required", REL_NAME_MAX);
    /* The definition is checked before a catalog id is taken, so a bad one
     * leaves no name behind; a reference to the table itself gets the id
     * after. */
    rel_schema *s = NULL;
    int rc = schema_from_def(a, name, 0, def, &s);
    if (rc)
        return rc;
    uint64_t id;
    if ((rc = orbit_actor_object_id(a, ORBIT_CATALOG_TABLE, name, 1, &id))) {
        orbit__rel_schema_unref(s);
        return rc;
    }
    for (size_t i = 0; i < s->ncols; i++)
        if (s->cols[i].ref_table && strcmp(s->cols[i].ref_table, name) == 0)
            s->cols[i].ref_id = id;
    orbit_table *t;
    if ((rc = handle_new(a, name, id, &t))) {
        orbit__rel_schema_unref(s);
        return rc;
    }
    create_ctx c = {t, s};
    rc = orbit_tx_run(NULL, 0, create_fn, &c);
    if (rc) {
        orbit__rel_schema_unref(s);
        orbit_table_close(t);
        return rc;
    }
    t->cur = s;
    *out = t;
    return ORBIT_OK;
}

/* ---- add column ----------------------------------------------------------- */

static int add_column_fn(orbit_table *t, rel_schema *s, void *arg)
{
    rel_col *c = arg;
    size_t pos;
    if (orbit__rel_col_find(s, c->name, &pos) == ORBIT_OK)
        return orbit_error_set(ORBIT_EEXIST, "table %s: column '%s' exists", t->name, c->name);
    rel_col *cols = realloc(s->cols, (s->ncols + 1) * sizeof *cols);
    if (!cols)
        return ORBIT_ENOMEM;
    s->cols = cols;
    if (col_copy(&s->cols[s->ncols], c)) {
        s->ncols++;
        return ORBIT_ENOMEM;
    }
    s->ncols++;
    return ORBIT_OK;
}

int orbit_table_add_column(orbit_table *t, const orbit_column_def *d)
{
    if (!t || !d)
        return orbit_error_set(ORBIT_EINVAL, "add column: table and column are required");
    rel_schema *s = orbit__rel_schema_ref(t);
    orbit_col_type self = s->npk == 1 ? s->cols[s->pk[0]].type : ORBIT_VALUE_NULL;
    orbit__rel_schema_unref(s);
    rel_col c;
    int rc = column_from_def(t->a, t->name, t->id, self, d, &c);
    if (!rc && !c.nullable && !c.has_default)
        rc = orbit_error_set(ORBIT_EINVAL, "table %s: an added column ('%s') must be nullable or "
                             "have a default", t->name, c.name);
    if (!rc)
        rc = orbit__rel_schema_change(t, add_column_fn, &c);
    free(c.name);
    free(c.ref_table);
    orbit_buf_release(&c.def_bytes);
    return rc;
}
