/*
 * The relational commands on the relational model (orbit/relational.h):
 *
 *   TABLE.CREATE t col:type[:null] [col:type[:null] ...] PRIMARY KEY col [col ...]
 *        types int64 (int), float64 (float, double), text (string), bool,
 *        bytes, json; ":null" makes a column nullable            -> OK
 *   TABLE.INSERT t col value [col value ...]                    -> OK
 *        omitted columns are NULL; a duplicate key or a unique index
 *        value is an error naming it
 *   TABLE.GET t col value [col value ...]   (the primary-key columns)
 *        -> [col, value, ...] for every column (NULL as nil), or nil
 *   TABLE.DELETE t col value [col value ...] (the primary-key columns)
 *        -> 1, or 0 when absent
 *   TABLE.INDEX t name [UNIQUE] col [col ...]                   -> OK
 *        built online over the rows already stored
 *   TABLE.QUERY t index EQ value [value ...] [LIMIT n]
 *   TABLE.QUERY t index RANGE lo|- hi|+ [LIMIT n] [REV]
 *        -> an array of rows, each [col, value, ...], in index order;
 *           EQ matches the index's first columns, RANGE bounds its leading
 *           column, both bounds inclusive ('-' / '+': open)
 *
 * Values are text in the command and are read as the column's type
 * (TABLE.INSERT, GET, DELETE name their columns). TABLE.QUERY's values
 * are typed by trying their literal form first (an integer, a number,
 * true/false, else text) and then each column type of the table, since
 * the model does not expose an index's column types; a value no type
 * fits is an error. In replies int64 is an integer, bool "true"/"false",
 * float64 the shortest text of the double, the others their bytes.
 *
 * TABLE.CREATE and TABLE.INDEX are schema changes that commit on their
 * own, so they are refused inside MULTI; the row commands run in the
 * command's (or EXEC's) transaction.
 *
 * Absent: explicit NULL values (omit the column), defaults, declared
 * references, adding columns, updates (TABLE.INSERT of an existing key is
 * an error), scans without an index, dropping tables or indexes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "orbit/provider.h"
#include "orbit/relational.h"
#include "server/t_models.h"

static char *cstr_arg(srv_call *x, int i, const char *what, int *rc)
{
    int bad;
    char *s = models_cstr(&x->argv[i], &bad);
    *rc = 0;
    if (!s) {
        if (bad) {
            reply_error(x, "%s must not contain NUL bytes", what);
            *rc = 1;
        } else {
            *rc = ORBIT_ENOMEM;
        }
    }
    return s;
}

static int refuse_in_multi(srv_call *x)
{
    if (x->c && x->c->in_multi) {
        reply_error(x, "%s commits on its own and is not allowed inside MULTI", x->cmd->name);
        return 1;
    }
    return 0;
}

/* Open table argv[1]: 0, 1 (replied), or an error. */
static int open_table(srv_call *x, orbit_table **out)
{
    int rc;
    char *name = cstr_arg(x, 1, "table name", &rc);
    if (!name)
        return rc;
    orbit_table *t = models_cache_get(MC_TABLE, name);
    if (t) {
        free(name);
        *out = t;
        return 0;
    }
    const orbit_actor *a;
    rc = models_actor(&a);
    if (!rc)
        rc = orbit_table_open(a, name, &t);
    if (rc == ORBIT_NOTFOUND) {
        reply_error(x, "no such table '%s'", name);
        rc = 1;
    } else if (!rc) {
        t = models_cache_put(MC_TABLE, name, t);
        rc = t ? models_rerun(x, "TABLE") : ORBIT_ENOMEM;
        *out = t;
    }
    free(name);
    return rc;
}

static int parse_type(const char *s, orbit_col_type *t)
{
    static const struct {
        const char *n;
        orbit_col_type t;
    } m[] = {{"int64", ORBIT_COL_INT64},   {"int", ORBIT_COL_INT64},
             {"integer", ORBIT_COL_INT64}, {"float64", ORBIT_COL_FLOAT64},
             {"float", ORBIT_COL_FLOAT64}, {"double", ORBIT_COL_FLOAT64},
             {"text", ORBIT_COL_TEXT},     {"string", ORBIT_COL_TEXT},
             {"bool", ORBIT_COL_BOOL},     {"bytes", ORBIT_COL_BYTES},
             {"json", ORBIT_COL_JSON}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (!strcasecmp(s, m[i].n)) {
            *t = m[i].t;
            return 1;
        }
    return 0;
}

/* a read as type t into v (bytes borrowed from a). 1 ok, 0 it does not
 * fit. */
static int value_as(const srv_arg *a, orbit_col_type t, orbit_value *v)
{
    memset(v, 0, sizeof *v);
    v->type = t;
    switch (t) {
    case ORBIT_COL_INT64: {
        long long n;
        if (!arg_ll(a, &n))
            return 0;
        v->i = n;
        return 1;
    }
    case ORBIT_COL_FLOAT64:
        return models_arg_double(a, &v->d);
    case ORBIT_COL_BOOL:
        if (arg_eq(a, "true") || arg_eq(a, "1"))
            v->b = 1;
        else if (arg_eq(a, "false") || arg_eq(a, "0"))
            v->b = 0;
        else
            return 0;
        return 1;
    case ORBIT_COL_TEXT:
    case ORBIT_COL_BYTES:
    case ORBIT_COL_JSON:
        v->p = a->data;
        v->n = a->len;
        return 1;
    default:
        return 0;
    }
}

/* The type of column `name` in t's cached schema: 1 found, 0 not. */
static int column_type(orbit_table *t, const srv_arg *name, orbit_col_type *type)
{
    size_t n = orbit_table_column_count(t);
    orbit_buf nm = ORBIT_BUF_INIT;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        int nullable;
        if (orbit_table_column(t, i, &nm, type, &nullable))
            continue;
        size_t len = nm.len && nm.data[nm.len - 1] == 0 ? nm.len - 1 : nm.len;
        if (len == name->len && !memcmp(nm.data, name->data, len))
            found = 1;
    }
    orbit_buf_release(&nm);
    return found;
}

/* Fill r from the col value pairs argv[i..). 0, 1 (replied) or ENOMEM. */
static int fill_row(srv_call *x, orbit_table *t, int i, orbit_row *r)
{
    if ((x->argc - i) % 2 != 0 || x->argc <= i) {
        reply_error(x, "wrong number of arguments for '%s' command", x->cmd->name);
        return 1;
    }
    for (; i + 1 < x->argc; i += 2) {
        const srv_arg *c = &x->argv[i], *a = &x->argv[i + 1];
        orbit_col_type type;
        if (!column_type(t, c, &type)) {
            reply_error(x, "%s: table %s has no column '%.*s'", x->cmd->name,
                        orbit_table_name(t), (int)(c->len > 128 ? 128 : c->len),
                        (const char *)c->data);
            return 1;
        }
        orbit_value v;
        if (!value_as(a, type, &v)) {
            reply_error(x, "%s: column %.*s of table %s is %s: '%.*s' is not one",
                        x->cmd->name, (int)c->len, (const char *)c->data, orbit_table_name(t),
                        orbit_col_type_name(type), (int)(a->len > 64 ? 64 : a->len),
                        (const char *)a->data);
            return 1;
        }
        char *cn = models_cstr(c, NULL);
        if (!cn)
            return ORBIT_ENOMEM;
        int rc = orbit_row_set(r, cn, &v);
        free(cn);
        if (rc)
            return rc == ORBIT_ENOMEM ? rc : (reply_error(x, "%s: bad column", x->cmd->name), 1);
    }
    return 0;
}

static void reply_row(srv_call *x, const orbit_row *r)
{
    size_t n = orbit_row_count(r);
    reply_array(x, 2 * (long long)n);
    for (size_t i = 0; i < n; i++) {
        orbit_value v;
        reply_cstr(x, orbit_row_name(r, i));
        if (orbit_row_get_at(r, i, &v)) {
            reply_null(x);
            continue;
        }
        switch (v.type) {
        case ORBIT_VALUE_NULL:
            reply_null(x);
            break;
        case ORBIT_COL_INT64:
            reply_int(x, v.i);
            break;
        case ORBIT_COL_FLOAT64:
            models_reply_double(x, v.d);
            break;
        case ORBIT_COL_BOOL:
            reply_cstr(x, v.b ? "true" : "false");
            break;
        default:
            reply_bulk(x, v.p, v.n);
            break;
        }
    }
}

/* ---- TABLE.CREATE / TABLE.INDEX ------------------------------------- */

static int cmd_table_create(srv_call *x)
{
    if (refuse_in_multi(x))
        return 0;
    int pk_at = -1;
    for (int i = 2; i + 1 < x->argc; i++)
        if (arg_eq(&x->argv[i], "PRIMARY") && arg_eq(&x->argv[i + 1], "KEY")) {
            pk_at = i;
            break;
        }
    if (pk_at < 3 || pk_at + 2 >= x->argc) {
        reply_error(x, "TABLE.CREATE t col:type[:null] ... PRIMARY KEY col [col ...]: "
                       "columns and a primary key are required");
        return 0;
    }
    int ncols = pk_at - 2, npk = x->argc - pk_at - 2, rc = 0;
    orbit_column_def *cols = calloc((size_t)ncols, sizeof *cols);
    char **strs = calloc((size_t)(ncols + npk + 1), sizeof *strs);
    const char **pk = calloc((size_t)npk, sizeof *pk);
    char *name = NULL;
    if (!cols || !strs || !pk) {
        rc = ORBIT_ENOMEM;
        goto out;
    }
    for (int i = 0; i < ncols && !rc; i++) {
        char *s = strs[i] = cstr_arg(x, 2 + i, "a column", &rc);
        if (!s)
            break;
        char *t = strchr(s, ':');
        if (!t || t == s) {
            reply_error(x, "column '%s': expected name:type[:null]", s);
            rc = 1;
            break;
        }
        *t++ = 0;
        char *nul = strchr(t, ':');
        if (nul) {
            *nul++ = 0;
            if (strcasecmp(nul, "null")) {
                reply_error(x, "column '%s': the only flag after the type is ':null'", s);
                rc = 1;
                break;
            }
            cols[i].nullable = 1;
        }
        if (!parse_type(t, &cols[i].type)) {
            reply_error(x, "column '%s': unknown type '%s' (int64, float64, text, bool, "
                           "bytes, json)",
                        s, t);
            rc = 1;
            break;
        }
        cols[i].name = s;
    }
    for (int i = 0; i < npk && !rc; i++) {
        char *s = strs[ncols + i] = cstr_arg(x, pk_at + 2 + i, "a key column", &rc);
        pk[i] = s;
    }
    if (!rc)
        name = cstr_arg(x, 1, "table name", &rc);
    if (!rc) {
        orbit_table_def def = {cols, (size_t)ncols, pk, (size_t)npk};
        const orbit_actor *a;
        orbit_table *t = NULL;
        rc = models_actor(&a);
        if (!rc)
            rc = orbit_table_create(a, name, &def, &t);
        if (rc == ORBIT_EEXIST) {
            reply_error(x, "table '%s' already exists", name);
            rc = 0;
        } else if (rc) {
            rc = models_fail(x, rc, "TABLE.CREATE");
        } else {
            rc = models_cache_put(MC_TABLE, name, t) ? 0 : ORBIT_ENOMEM;
            if (!rc)
                reply_ok(x);
        }
    }
out:
    if (strs)
        for (int i = 0; i < ncols + npk; i++)
            free(strs[i]);
    free(strs);
    free(cols);
    free(pk);
    free(name);
    return rc == 1 ? 0 : rc;
}

static int cmd_table_index(srv_call *x)
{
    if (refuse_in_multi(x))
        return 0;
    int first = 3, unique = 0;
    if (arg_eq(&x->argv[3], "UNIQUE")) {
        unique = 1;
        first = 4;
    }
    if (first >= x->argc) {
        reply_error(x, "wrong number of arguments for '%s' command", x->cmd->name);
        return 0;
    }
    orbit_table *t;
    int rc = open_table(x, &t);
    if (rc)
        return rc == 1 ? 0 : rc;
    int n = x->argc - first;
    char **cols = calloc((size_t)n, sizeof *cols);
    char *name = NULL;
    if (!cols)
        return ORBIT_ENOMEM;
    for (int i = 0; i < n && !rc; i++)
        cols[i] = cstr_arg(x, first + i, "a column", &rc);
    if (!rc)
        name = cstr_arg(x, 2, "index name", &rc);
    if (!rc) {
        orbit_index_def def = {name, (const char *const *)cols, (size_t)n, unique};
        rc = orbit_table_create_index(t, &def, NULL);
        if (rc)
            rc = models_fail(x, rc, "TABLE.INDEX");
        else
            reply_ok(x);
    }
    for (int i = 0; i < n; i++)
        free(cols[i]);
    free(cols);
    free(name);
    return rc == 1 ? 0 : rc;
}

/* ---- rows ------------------------------------------------------------- */

static int cmd_table_insert(srv_call *x)
{
    orbit_table *t;
    int rc = open_table(x, &t);
    if (rc)
        return rc == 1 ? 0 : rc;
    orbit_row *r;
    if (orbit_row_new(&r))
        return ORBIT_ENOMEM;
    rc = fill_row(x, t, 2, r);
    if (!rc) {
        rc = orbit_table_insert(t, x->tx, r);
        if (rc) {
            rc = models_fail(x, rc, "TABLE.INSERT");
        } else {
            x->wrote = 1;
            reply_ok(x);
        }
    }
    orbit_row_free(r);
    return rc == 1 ? 0 : rc;
}

static int cmd_table_get(srv_call *x)
{
    orbit_table *t;
    int rc = open_table(x, &t);
    if (rc)
        return rc == 1 ? 0 : rc;
    orbit_row *k, *out;
    if (orbit_row_new(&k))
        return ORBIT_ENOMEM;
    if (orbit_row_new(&out)) {
        orbit_row_free(k);
        return ORBIT_ENOMEM;
    }
    rc = fill_row(x, t, 2, k);
    if (!rc) {
        rc = orbit_table_get(t, x->tx, k, out);
        if (rc == ORBIT_NOTFOUND) {
            reply_null(x);
            rc = 0;
        } else if (rc) {
            rc = models_fail(x, rc, "TABLE.GET");
        } else {
            reply_row(x, out);
        }
    }
    orbit_row_free(k);
    orbit_row_free(out);
    return rc == 1 ? 0 : rc;
}

static int cmd_table_delete(srv_call *x)
{
    orbit_table *t;
    int rc = open_table(x, &t);
    if (rc)
        return rc == 1 ? 0 : rc;
    orbit_row *k;
    if (orbit_row_new(&k))
        return ORBIT_ENOMEM;
    rc = fill_row(x, t, 2, k);
    if (!rc) {
        rc = orbit_table_delete(t, x->tx, k);
        if (rc == ORBIT_NOTFOUND) {
            reply_int(x, 0);
            rc = 0;
        } else if (rc) {
            rc = models_fail(x, rc, "TABLE.DELETE");
        } else {
            x->wrote = 1;
            reply_int(x, 1);
        }
    }
    orbit_row_free(k);
    return rc == 1 ? 0 : rc;
}

/* ---- TABLE.QUERY -------------------------------------------------------- */

typedef struct rows {
    srv_call *x;
    orbit_buf out;
    size_t n;
} rows;

static int row_fn(void *arg, const orbit_row *row)
{
    rows *r = arg;
    orbit_buf *save = r->x->out;
    r->x->out = &r->out;
    reply_row(r->x, row);
    r->x->out = save;
    r->n++;
    return 0;
}

/* The literal form of a: int, float, bool, else text. */
static orbit_col_type literal_type(const srv_arg *a)
{
    orbit_value v;
    if (value_as(a, ORBIT_COL_INT64, &v))
        return ORBIT_COL_INT64;
    if (value_as(a, ORBIT_COL_FLOAT64, &v))
        return ORBIT_COL_FLOAT64;
    if (arg_eq(a, "true") || arg_eq(a, "false"))
        return ORBIT_COL_BOOL;
    return ORBIT_COL_TEXT;
}

static int cmd_table_query(srv_call *x)
{
    int eq;
    if (arg_eq(&x->argv[3], "EQ"))
        eq = 1;
    else if (arg_eq(&x->argv[3], "RANGE"))
        eq = 0;
    else {
        reply_error(x, "TABLE.QUERY t index EQ value [value ...] | RANGE lo hi [LIMIT n] [REV]");
        return 0;
    }
    /* trailing LIMIT n / REV */
    long long limit = 0;
    int reverse = 0, end = x->argc;
    for (;;) {
        if (end - 2 > 4 && arg_eq(&x->argv[end - 2], "LIMIT")) {
            if (!arg_ll(&x->argv[end - 1], &limit) || limit < 1) {
                reply_error(x, "LIMIT must be a positive integer");
                return 0;
            }
            end -= 2;
        } else if (!eq && end - 1 > 4 && arg_eq(&x->argv[end - 1], "REV")) {
            reverse = 1;
            end -= 1;
        } else {
            break;
        }
    }
    int nvals = end - 4;
    if (nvals < 1 || (!eq && nvals != 2)) {
        reply_error(x, eq ? "EQ needs at least one value" : "RANGE needs lo and hi");
        return 0;
    }
    if (nvals > 16) {
        reply_error(x, "at most 16 values");
        return 0;
    }
    orbit_table *t;
    int rc = open_table(x, &t);
    if (rc)
        return rc == 1 ? 0 : rc;
    int bad;
    char *index = models_cstr(&x->argv[2], &bad);
    if (!index) {
        if (!bad)
            return ORBIT_ENOMEM;
        reply_error(x, "index name must not contain NUL bytes");
        return 0;
    }
    /* candidate typings: the literal forms, then each type uniformly */
    orbit_col_type cand[7];
    size_t ncand = 0;
    cand[ncand++] = ORBIT_VALUE_NULL; /* marker: literal forms */
    static const orbit_col_type all[] = {ORBIT_COL_TEXT, ORBIT_COL_INT64, ORBIT_COL_FLOAT64,
                                         ORBIT_COL_BOOL, ORBIT_COL_BYTES, ORBIT_COL_JSON};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        cand[ncand++] = all[i];
    rows r = {x, ORBIT_BUF_INIT, 0};
    rc = ORBIT_EINVAL;
    for (size_t c = 0; c < ncand && rc == ORBIT_EINVAL; c++) {
        orbit_value vals[16];
        int fits = 1, open_lo = 0, open_hi = 0;
        for (int i = 0; i < nvals && fits; i++) {
            const srv_arg *a = &x->argv[4 + i];
            if (!eq && i == 0 && a->len == 1 && a->data[0] == '-') {
                open_lo = 1;
                continue;
            }
            if (!eq && i == 1 && a->len == 1 && a->data[0] == '+') {
                open_hi = 1;
                continue;
            }
            orbit_col_type ty = cand[c] == ORBIT_VALUE_NULL ? literal_type(a) : cand[c];
            fits = value_as(a, ty, &vals[i]);
        }
        if (!fits)
            continue;
        r.out.len = 0;
        r.n = 0;
        if (eq) {
            rc = orbit_table_lookup(t, x->tx, index, vals, (size_t)nvals, (size_t)limit,
                                    row_fn, &r);
        } else {
            orbit_index_range ir = {.lo = open_lo ? NULL : &vals[0],
                                    .hi = open_hi ? NULL : &vals[1],
                                    .hi_inclusive = 1,
                                    .limit = (size_t)limit,
                                    .reverse = reverse};
            rc = orbit_table_range(t, x->tx, index, &ir, row_fn, &r);
        }
        if (open_lo && open_hi)
            break; /* no value to type */
    }
    if (rc) {
        rc = models_fail(x, rc, "TABLE.QUERY");
    } else {
        reply_array(x, (long long)r.n);
        if (r.out.len)
            orbit_buf_append(x->out, r.out.data, r.out.len);
    }
    orbit_buf_release(&r.out);
    free(index);
    return rc;
}

#define W CMD_WRITE
#define R CMD_READONLY
#define T CMD_TXREAD

const srv_command srv_table_commands[] = {
    {"table.create", cmd_table_create, -6, W, 1, 1, 1, "table",
     "Create a table (commits on its own; not inside MULTI)",
     "table col:type[:null] [col:type[:null] ...] PRIMARY KEY col [col ...]", NULL},
    {"table.insert", cmd_table_insert, -4, W, 1, 1, 1, "table", "Insert a row",
     "table col value [col value ...]", NULL},
    {"table.get", cmd_table_get, -4, R, 1, 1, 1, "table",
     "The row with this primary key, as col value pairs", "table keycol value [keycol value ...]",
     NULL},
    {"table.delete", cmd_table_delete, -4, W, 1, 1, 1, "table",
     "Delete the row with this primary key", "table keycol value [keycol value ...]", NULL},
    {"table.query", cmd_table_query, -5, R | T, 1, 1, 1, "table",
     "Rows by an index: equality on its first columns or a range on its leading column",
     "table index EQ value [value ...] [LIMIT n] | table index RANGE lo|- hi|+ [LIMIT n] [REV]",
     NULL},
    {"table.index", cmd_table_index, -4, W, 1, 1, 1, "table",
     "Create an index and build it online (commits on its own; not inside MULTI)",
     "table name [UNIQUE] col [col ...]", NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL},
};
