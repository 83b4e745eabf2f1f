/*
 * Rows and values of the relational model (orbit/relational.h): the
 * caller's orbit_row (named, typed, owned values), the checks a value must
 * pass against its column, and the row payload stored in a row's record.
 *
 * Row payload (inside the ORBIT_MODEL_REL record whose schema_version is
 * the schema the row was written with):
 *   varint ncols, then per column in schema order a tag and a body:
 *     0 NULL | 1 int64: zigzag varint | 2 float64: 8 bytes little-endian
 *     (the IEEE bits) | 3 text, 6 bytes, 7 JSON: varint length + bytes |
 *     4 false | 5 true
 * Columns are only ever appended to a schema, so a row written with an
 * older schema holds a prefix of today's columns; decoding gives the rest
 * their default or NULL.
 *
 * Layer: src/model, on the codec (orbit/codec.h) and jansson.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/relational_int.h"
#include "orbit/codec.h"
#include "orbit/provider.h"

typedef struct row_col {
    orbit_buf name; /* NUL-terminated */
    orbit_buf data; /* bytes of TEXT/BYTES/JSON, NUL-terminated */
    orbit_value v;
} row_col;

struct orbit_row {
    row_col *c;
    size_t n, cap;
};

/* ---- values ------------------------------------------------------------ */

const char *orbit_col_type_name(orbit_col_type t)
{
    switch (t) {
    case ORBIT_VALUE_NULL: return "null";
    case ORBIT_COL_INT64: return "int64";
    case ORBIT_COL_FLOAT64: return "float64";
    case ORBIT_COL_TEXT: return "text";
    case ORBIT_COL_BOOL: return "bool";
    case ORBIT_COL_BYTES: return "bytes";
    case ORBIT_COL_JSON: return "json";
    }
    return "unknown";
}

orbit_value orbit_value_null(void)
{
    orbit_value v;
    memset(&v, 0, sizeof v);
    return v;
}

orbit_value orbit_value_int(int64_t x)
{
    orbit_value v = orbit_value_null();
    v.type = ORBIT_COL_INT64;
    v.i = x;
    return v;
}

orbit_value orbit_value_double(double x)
{
    orbit_value v = orbit_value_null();
    v.type = ORBIT_COL_FLOAT64;
    v.d = x;
    return v;
}

orbit_value orbit_value_bool(int x)
{
    orbit_value v = orbit_value_null();
    v.type = ORBIT_COL_BOOL;
    v.b = x != 0;
    return v;
}

orbit_value orbit_value_text(const char *s)
{
    orbit_value v = orbit_value_null();
    v.type = ORBIT_COL_TEXT;
    v.p = (const uint8_t *)s;
    v.n = s ? strlen(s) : 0;
    return v;
}

orbit_value orbit_value_bytes(const void *p, size_t n)
{
    orbit_value v = orbit_value_null();
    v.type = ORBIT_COL_BYTES;
    v.p = p;
    v.n = n;
    return v;
}

orbit_value orbit_value_json(const char *json)
{
    orbit_value v = orbit_value_text(json);
    v.type = ORBIT_COL_JSON;
    return v;
}

static int utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

int orbit__rel_check_value(const char *table, const rel_col *c, const orbit_value *v,
                           orbit_value *conv)
{
    *conv = *v;
    if (v->type == ORBIT_VALUE_NULL) {
        if (!c->nullable)
            return orbit_error_set(ORBIT_EINVAL, "table %s: column '%s' (%s) is not nullable",
                                   table, c->name, orbit_col_type_name(c->type));
        return ORBIT_OK;
    }
    if (v->type != c->type) {
        if (c->type == ORBIT_COL_FLOAT64 && v->type == ORBIT_COL_INT64) {
            conv->type = ORBIT_COL_FLOAT64;
            conv->d = (double)v->i;
            return ORBIT_OK;
        }
        return orbit_error_set(ORBIT_EINVAL, "table %s: column '%s' is %s, the value is %s",
                               table, c->name, orbit_col_type_name(c->type),
                               orbit_col_type_name(v->type));
    }
    switch (v->type) {
    case ORBIT_COL_TEXT:
    case ORBIT_COL_BYTES:
    case ORBIT_COL_JSON:
        if (v->n && !v->p)
            return orbit_error_set(ORBIT_EINVAL, "table %s: column '%s': NULL bytes of length %zu",
                                   table, c->name, v->n);
        break;
    case ORBIT_COL_BOOL:
        conv->b = v->b != 0;
        break;
    default:
        break;
    }
    if (v->type == ORBIT_COL_TEXT && !utf8_valid(v->p, v->n))
        return orbit_error_set(ORBIT_EINVAL, "table %s: column '%s' is text, the value is not "
                               "valid UTF-8", table, c->name);
    if (v->type == ORBIT_COL_JSON) {
        json_error_t err;
        json_t *j = json_loadb((const char *)v->p, v->n, JSON_DECODE_ANY, &err);
        if (!j)
            return orbit_error_set(ORBIT_EINVAL, "table %s: column '%s' is json, the value is "
                                   "not valid JSON (%s at %d)", table, c->name, err.text,
                                   err.position);
        json_decref(j);
    }
    return ORBIT_OK;
}

void orbit__rel_value_format(orbit_buf *out, const orbit_value *v)
{
    char tmp[64];
    switch (v->type) {
    case ORBIT_VALUE_NULL:
        orbit_buf_append(out, "NULL", 4);
        return;
    case ORBIT_COL_INT64:
        snprintf(tmp, sizeof tmp, "%lld", (long long)v->i);
        break;
    case ORBIT_COL_FLOAT64:
        snprintf(tmp, sizeof tmp, "%.17g", v->d);
        break;
    case ORBIT_COL_BOOL:
        snprintf(tmp, sizeof tmp, "%s", v->b ? "true" : "false");
        break;
    default: {
        size_t n = v->n > 64 ? 64 : v->n;
        orbit_buf_append(out, "'", 1);
        orbit_escape(out, v->p, n);
        orbit_buf_append(out, v->n > n ? "...'" : "'", v->n > n ? 4 : 1);
        return;
    }
    }
    orbit_buf_append(out, tmp, strlen(tmp));
}

int orbit__rel_tuple_value(orbit_buf *out, const orbit_value *v)
{
    switch (v->type) {
    case ORBIT_COL_INT64: return orbit_tuple_int(out, v->i);
    case ORBIT_COL_FLOAT64: return orbit_tuple_double(out, v->d);
    case ORBIT_COL_BOOL: return orbit_tuple_bool(out, v->b);
    case ORBIT_COL_TEXT:
    case ORBIT_COL_BYTES:
    case ORBIT_COL_JSON: return orbit_tuple_bytes(out, v->p, v->n);
    default: return orbit_error_set(ORBIT_EINVAL, "relational: a NULL key value");
    }
}

int orbit__rel_index_value(orbit_buf *out, const orbit_value *v)
{
    if (v->type == ORBIT_VALUE_NULL)
        return orbit_tuple_int(out, 0);
    int rc = orbit_tuple_int(out, 1);
    return rc ? rc : orbit__rel_tuple_value(out, v);
}

int orbit__rel_values_equal(const orbit_value *a, const orbit_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case ORBIT_VALUE_NULL: return 1;
    case ORBIT_COL_INT64: return a->i == b->i;
    case ORBIT_COL_FLOAT64: return memcmp(&a->d, &b->d, sizeof a->d) == 0;
    case ORBIT_COL_BOOL: return a->b == b->b;
    default: return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
    }
}

/* ---- payload codec ------------------------------------------------------- */

enum { P_NULL = 0, P_INT = 1, P_DOUBLE = 2, P_TEXT = 3, P_FALSE = 4, P_TRUE = 5, P_BYTES = 6,
       P_JSON = 7 };

static int put_varint(orbit_buf *out, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    do {
        uint8_t c = v & 0x7F;
        v >>= 7;
        b[n++] = c | (v ? 0x80 : 0);
    } while (v);
    return orbit_buf_append(out, b, n);
}

static int get_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pos >= n)
            return ORBIT_ECORRUPT;
        uint8_t c = p[(*pos)++];
        r |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *v = r;
            return ORBIT_OK;
        }
    }
    return ORBIT_ECORRUPT;
}

int orbit__rel_row_encode(const rel_schema *s, const orbit_value *vals, orbit_buf *out)
{
    int rc = put_varint(out, s->ncols);
    for (size_t i = 0; !rc && i < s->ncols; i++) {
        const orbit_value *v = &vals[i];
        uint8_t tag;
        switch (v->type) {
        case ORBIT_VALUE_NULL:
            tag = P_NULL;
            rc = orbit_buf_append(out, &tag, 1);
            break;
        case ORBIT_COL_INT64:
            tag = P_INT;
            rc = orbit_buf_append(out, &tag, 1);
            if (!rc)
                rc = put_varint(out, ((uint64_t)v->i << 1) ^ (uint64_t)(v->i >> 63));
            break;
        case ORBIT_COL_FLOAT64: {
            uint64_t bits;
            memcpy(&bits, &v->d, 8);
            uint8_t b[9];
            b[0] = P_DOUBLE;
            for (int k = 0; k < 8; k++)
                b[1 + k] = (uint8_t)(bits >> (8 * k));
            rc = orbit_buf_append(out, b, 9);
            break;
        }
        case ORBIT_COL_BOOL:
            tag = v->b ? P_TRUE : P_FALSE;
            rc = orbit_buf_append(out, &tag, 1);
            break;
        default:
            tag = v->type == ORBIT_COL_TEXT ? P_TEXT : v->type == ORBIT_COL_BYTES ? P_BYTES : P_JSON;
            rc = orbit_buf_append(out, &tag, 1);
            if (!rc)
                rc = put_varint(out, v->n);
            if (!rc && v->n)
                rc = orbit_buf_append(out, v->p, v->n);
            break;
        }
    }
    return rc;
}

int orbit__rel_row_decode(const rel_schema *s, const uint8_t *p, size_t n, orbit_value *vals)
{
    size_t pos = 0;
    uint64_t nc;
    if (get_varint(p, n, &pos, &nc) || nc > s->ncols)
        return ORBIT_ECORRUPT;
    for (size_t i = 0; i < s->ncols; i++) {
        orbit_value *v = &vals[i];
        *v = orbit_value_null();
        if (i >= nc) {
            if (s->cols[i].has_default)
                *v = s->cols[i].def;
            continue;
        }
        if (pos >= n)
            return ORBIT_ECORRUPT;
        uint8_t tag = p[pos++];
        orbit_col_type want = s->cols[i].type;
        uint64_t x;
        switch (tag) {
        case P_NULL:
            break;
        case P_INT:
            if (want != ORBIT_COL_INT64 || get_varint(p, n, &pos, &x))
                return ORBIT_ECORRUPT;
            v->type = ORBIT_COL_INT64;
            v->i = (int64_t)((x >> 1) ^ (~(x & 1) + 1));
            break;
        case P_DOUBLE: {
            if (want != ORBIT_COL_FLOAT64 || n - pos < 8)
                return ORBIT_ECORRUPT;
            uint64_t bits = 0;
            for (int k = 0; k < 8; k++)
                bits |= (uint64_t)p[pos + k] << (8 * k);
            pos += 8;
            v->type = ORBIT_COL_FLOAT64;
            memcpy(&v->d, &bits, 8);
            break;
        }
        case P_FALSE:
        case P_TRUE:
            if (want != ORBIT_COL_BOOL)
                return ORBIT_ECORRUPT;
            v->type = ORBIT_COL_BOOL;
            v->b = tag == P_TRUE;
            break;
        case P_TEXT:
        case P_BYTES:
        case P_JSON: {
            orbit_col_type t = tag == P_TEXT ? ORBIT_COL_TEXT
                               : tag == P_BYTES ? ORBIT_COL_BYTES : ORBIT_COL_JSON;
            if (want != t || get_varint(p, n, &pos, &x) || x > n - pos)
                return ORBIT_ECORRUPT;
            v->type = t;
            v->p = p + pos;
            v->n = (size_t)x;
            pos += (size_t)x;
            break;
        }
        default:
            return ORBIT_ECORRUPT;
        }
    }
    return pos == n ? ORBIT_OK : ORBIT_ECORRUPT;
}

/* ---- orbit_row ----------------------------------------------------------- */

int orbit_row_new(orbit_row **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? ORBIT_OK : ORBIT_ENOMEM;
}

void orbit_row_free(orbit_row *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->cap; i++) {
        orbit_buf_release(&r->c[i].name);
        orbit_buf_release(&r->c[i].data);
    }
    free(r->c);
    free(r);
}

void orbit_row_clear(orbit_row *r)
{
    if (r)
        r->n = 0;
}

static row_col *find(const orbit_row *r, const char *col)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp((const char *)r->c[i].name.data, col) == 0)
            return &r->c[i];
    return NULL;
}

static int set_value(row_col *c, const orbit_value *v)
{
    orbit_value nv = *v;
    if (v->type == ORBIT_COL_TEXT || v->type == ORBIT_COL_BYTES || v->type == ORBIT_COL_JSON) {
        /* A value borrowed from this very slot is copied out first. */
        orbit_buf tmp = ORBIT_BUF_INIT;
        int rc = orbit_buf_set(&tmp, v->p, v->n);
        if (!rc)
            rc = orbit_buf_append(&tmp, "", 1);
        if (rc) {
            orbit_buf_release(&tmp);
            return ORBIT_ENOMEM;
        }
        orbit_buf_release(&c->data);
        c->data = tmp;
        nv.p = c->data.data;
        nv.n = v->n;
    } else {
        nv.p = NULL;
        nv.n = 0;
    }
    c->v = nv;
    return ORBIT_OK;
}

static int append_col(orbit_row *r, const char *col, const orbit_value *v)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        row_col *c = realloc(r->c, cap * sizeof *c);
        if (!c)
            return ORBIT_ENOMEM;
        memset(c + r->cap, 0, (cap - r->cap) * sizeof *c);
        r->c = c;
        r->cap = cap;
    }
    row_col *c = &r->c[r->n];
    c->name.len = 0;
    if (orbit_buf_append(&c->name, col, strlen(col) + 1))
        return ORBIT_ENOMEM;
    int rc = set_value(c, v);
    if (rc)
        return rc;
    r->n++;
    return ORBIT_OK;
}

int orbit_row_set(orbit_row *r, const char *col, const orbit_value *v)
{
    if (!r || !col || !*col || !v)
        return orbit_error_set(ORBIT_EINVAL, "row set: row, column name and value are required");
    if ((unsigned)v->type > ORBIT_COL_JSON)
        return orbit_error_set(ORBIT_EINVAL, "row set: column '%s': unknown value type %d", col,
                               (int)v->type);
    if ((v->type == ORBIT_COL_TEXT || v->type == ORBIT_COL_BYTES || v->type == ORBIT_COL_JSON) &&
        v->n && !v->p)
        return orbit_error_set(ORBIT_EINVAL, "row set: column '%s': NULL bytes of length %zu",
                               col, v->n);
    row_col *c = find(r, col);
    if (c)
        return set_value(c, v);
    return append_col(r, col, v);
}

int orbit_row_set_null(orbit_row *r, const char *col)
{
    orbit_value v = orbit_value_null();
    return orbit_row_set(r, col, &v);
}

int orbit_row_set_int(orbit_row *r, const char *col, int64_t x)
{
    orbit_value v = orbit_value_int(x);
    return orbit_row_set(r, col, &v);
}

int orbit_row_set_double(orbit_row *r, const char *col, double x)
{
    orbit_value v = orbit_value_double(x);
    return orbit_row_set(r, col, &v);
}

int orbit_row_set_bool(orbit_row *r, const char *col, int x)
{
    orbit_value v = orbit_value_bool(x);
    return orbit_row_set(r, col, &v);
}

int orbit_row_set_text(orbit_row *r, const char *col, const char *s)
{
    if (!s)
        return orbit_error_set(ORBIT_EINVAL, "row set: column '%s': NULL text", col ? col : "?");
    orbit_value v = orbit_value_text(s);
    return orbit_row_set(r, col, &v);
}

int orbit_row_set_text_n(orbit_row *r, const char *col, const char *s, size_t n)
{
    orbit_value v = orbit_value_bytes(s, n);
    v.type = ORBIT_COL_TEXT;
    return orbit_row_set(r, col, &v);
}

int orbit_row_set_bytes(orbit_row *r, const char *col, const void *p, size_t n)
{
    orbit_value v = orbit_value_bytes(p, n);
    return orbit_row_set(r, col, &v);
}

int orbit_row_set_json(orbit_row *r, const char *col, const char *json)
{
    if (!json)
        return orbit_error_set(ORBIT_EINVAL, "row set: column '%s': NULL JSON", col ? col : "?");
    orbit_value v = orbit_value_json(json);
    return orbit_row_set(r, col, &v);
}

size_t orbit_row_count(const orbit_row *r) { return r ? r->n : 0; }

const char *orbit_row_name(const orbit_row *r, size_t i)
{
    return r && i < r->n ? (const char *)r->c[i].name.data : NULL;
}

int orbit_row_get(const orbit_row *r, const char *col, orbit_value *out)
{
    row_col *c = r && col ? find(r, col) : NULL;
    if (!c)
        return ORBIT_NOTFOUND;
    *out = c->v;
    return ORBIT_OK;
}

int orbit_row_get_at(const orbit_row *r, size_t i, orbit_value *out)
{
    if (!r || i >= r->n)
        return ORBIT_NOTFOUND;
    *out = r->c[i].v;
    return ORBIT_OK;
}

int orbit_row_is_null(const orbit_row *r, const char *col)
{
    row_col *c = r && col ? find(r, col) : NULL;
    if (!c)
        return ORBIT_NOTFOUND;
    return c->v.type == ORBIT_VALUE_NULL;
}

static int typed(const orbit_row *r, const char *col, orbit_col_type want, const orbit_value **v)
{
    row_col *c = r && col ? find(r, col) : NULL;
    if (!c || c->v.type == ORBIT_VALUE_NULL)
        return ORBIT_NOTFOUND;
    if (c->v.type != want)
        return orbit_error_set(ORBIT_EINVAL, "row: column '%s' is %s, not %s", col,
                               orbit_col_type_name(c->v.type), orbit_col_type_name(want));
    *v = &c->v;
    return ORBIT_OK;
}

int orbit_row_get_int(const orbit_row *r, const char *col, int64_t *x)
{
    const orbit_value *v;
    int rc = typed(r, col, ORBIT_COL_INT64, &v);
    if (!rc)
        *x = v->i;
    return rc;
}

int orbit_row_get_double(const orbit_row *r, const char *col, double *x)
{
    const orbit_value *v;
    int rc = typed(r, col, ORBIT_COL_FLOAT64, &v);
    if (!rc)
        *x = v->d;
    return rc;
}

int orbit_row_get_bool(const orbit_row *r, const char *col, int *x)
{
    const orbit_value *v;
    int rc = typed(r, col, ORBIT_COL_BOOL, &v);
    if (!rc)
        *x = v->b;
    return rc;
}

static int get_bytes_typed(const orbit_row *r, const char *col, orbit_col_type t,
                           const uint8_t **p, size_t *len)
{
    const orbit_value *v;
    int rc = typed(r, col, t, &v);
    if (!rc) {
        *p = v->p;
        if (len)
            *len = v->n;
    }
    return rc;
}

int orbit_row_get_text(const orbit_row *r, const char *col, const char **s, size_t *len)
{
    return get_bytes_typed(r, col, ORBIT_COL_TEXT, (const uint8_t **)s, len);
}

int orbit_row_get_bytes(const orbit_row *r, const char *col, const uint8_t **p, size_t *len)
{
    return get_bytes_typed(r, col, ORBIT_COL_BYTES, p, len);
}

int orbit_row_get_json(const orbit_row *r, const char *col, const char **s, size_t *len)
{
    return get_bytes_typed(r, col, ORBIT_COL_JSON, (const uint8_t **)s, len);
}

int orbit__rel_row_fill(orbit_row *r, const rel_schema *s, const orbit_value *vals)
{
    r->n = 0;
    for (size_t i = 0; i < s->ncols; i++) {
        int rc = append_col(r, s->cols[i].name, &vals[i]);
        if (rc)
            return rc;
    }
    return ORBIT_OK;
}

const orbit_value *orbit__rel_row_at(const orbit_row *r, size_t i, const char **name)
{
    if (!r || i >= r->n)
        return NULL;
    *name = (const char *)r->c[i].name.data;
    return &r->c[i].v;
}
