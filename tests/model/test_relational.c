/*
 * The relational model (orbit/relational.h) on every provider: CRUD, types
 * and type errors, NULLs, adding columns with old rows, unique and
 * non-unique index lookups and ranges, unique violations, the online index
 * build with concurrent writers, costs, a randomized test against an
 * in-test oracle, declared references checked at commit, and writes inside
 * a caller's transaction.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mt.h"
#include "orbit/relational.h"

/* Small sizes on a remote store (etcd is slow). */
static int remote(orbit_kv *kv)
{
    orbit_capabilities c;
    orbit_kv_capabilities(kv, &c);
    return c.type == ORBIT_PROVIDER_DISTRIBUTED;
}

static int detail_has(const char *s) { return strstr(orbit_last_error_detail(), s) != NULL; }

/* users(id int64 pk, name text, age int64 null, score float64 default 1.5,
 * active bool default true, data bytes null, meta json null) */
static orbit_table *make_users(orbit_actor *a, const char *name)
{
    orbit_column_def cols[7];
    memset(cols, 0, sizeof cols);
    cols[0] = (orbit_column_def){"id", ORBIT_COL_INT64, 0, 0, {0}, NULL};
    cols[1] = (orbit_column_def){"name", ORBIT_COL_TEXT, 0, 0, {0}, NULL};
    cols[2] = (orbit_column_def){"age", ORBIT_COL_INT64, 1, 0, {0}, NULL};
    cols[3] = (orbit_column_def){"score", ORBIT_COL_FLOAT64, 0, 1, orbit_value_double(1.5), NULL};
    cols[4] = (orbit_column_def){"active", ORBIT_COL_BOOL, 0, 1, orbit_value_bool(1), NULL};
    cols[5] = (orbit_column_def){"data", ORBIT_COL_BYTES, 1, 0, {0}, NULL};
    cols[6] = (orbit_column_def){"meta", ORBIT_COL_JSON, 1, 0, {0}, NULL};
    const char *pk[] = {"id"};
    orbit_table_def def = {cols, 7, pk, 1};
    orbit_table *t;
    mt_check(orbit_table_create(a, name, &def, &t), 0);
    return t;
}

static void set_user(orbit_row *r, int64_t id, const char *name, int64_t age)
{
    orbit_row_clear(r);
    mt_check(orbit_row_set_int(r, "id", id), 0);
    if (name)
        mt_check(orbit_row_set_text(r, "name", name), 0);
    if (age >= 0)
        mt_check(orbit_row_set_int(r, "age", age), 0);
}

static int get_id(orbit_table *t, orbit_tx *tx, int64_t id, orbit_row *out)
{
    orbit_row *k;
    mt_check(orbit_row_new(&k), 0);
    mt_check(orbit_row_set_int(k, "id", id), 0);
    int rc = orbit_table_get(t, tx, k, out);
    orbit_row_free(k);
    return rc;
}

static void test_crud(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "user", "crud", &a), 0);
    orbit_table *t = make_users(a, "users");
    orbit_row *r, *out;
    mt_check(orbit_row_new(&r), 0);
    mt_check(orbit_row_new(&out), 0);

    set_user(r, 1, "ada", 36);
    mt_check(orbit_row_set_bytes(r, "data", "\0\1\2", 3), 0);
    mt_check(orbit_row_set_json(r, "meta", "{\"a\": [1, 2]}"), 0);
    mt_check(orbit_table_insert(t, NULL, r), 0);
    mt_check(orbit_table_insert(t, NULL, r), ORBIT_EEXIST);
    assert_true(detail_has("primary key (1)"));

    mt_check(get_id(t, NULL, 1, out), 0);
    assert_int_equal(orbit_row_count(out), 7);
    assert_string_equal(orbit_row_name(out, 0), "id");
    const char *txt;
    size_t len;
    int64_t i64;
    double d;
    int b;
    const uint8_t *bytes;
    mt_check(orbit_row_get_text(out, "name", &txt, &len), 0);
    assert_string_equal(txt, "ada");
    assert_int_equal(len, 3);
    mt_check(orbit_row_get_int(out, "age", &i64), 0);
    assert_int_equal(i64, 36);
    mt_check(orbit_row_get_double(out, "score", &d), 0);
    assert_true(d == 1.5);
    mt_check(orbit_row_get_bool(out, "active", &b), 0);
    assert_int_equal(b, 1);
    mt_check(orbit_row_get_bytes(out, "data", &bytes, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(bytes, "\0\1\2", 3);
    mt_check(orbit_row_get_json(out, "meta", &txt, NULL), 0);
    assert_string_equal(txt, "{\"a\": [1, 2]}");
    mt_check(orbit_row_get_int(out, "name", &i64), ORBIT_EINVAL);
    assert_true(detail_has("'name' is text, not int64"));
    mt_check(orbit_row_get_int(out, "nope", &i64), ORBIT_NOTFOUND);

    /* update: partial; absent row */
    orbit_row_clear(r);
    mt_check(orbit_row_set_int(r, "id", 1), 0);
    mt_check(orbit_row_set_int(r, "age", 37), 0);
    mt_check(orbit_table_update(t, NULL, r), 0);
    mt_check(get_id(t, NULL, 1, out), 0);
    mt_check(orbit_row_get_int(out, "age", &i64), 0);
    assert_int_equal(i64, 37);
    mt_check(orbit_row_get_text(out, "name", &txt, NULL), 0);
    assert_string_equal(txt, "ada");
    mt_check(orbit_row_set_int(r, "id", 2), 0);
    mt_check(orbit_table_update(t, NULL, r), ORBIT_NOTFOUND);

    /* upsert: inserts, then merges */
    set_user(r, 2, "bob", -1);
    mt_check(orbit_table_upsert(t, NULL, r), 0);
    mt_check(get_id(t, NULL, 2, out), 0);
    assert_int_equal(orbit_row_is_null(out, "age"), 1);
    orbit_row_clear(r);
    mt_check(orbit_row_set_int(r, "id", 2), 0);
    mt_check(orbit_row_set_int(r, "age", 5), 0);
    mt_check(orbit_table_upsert(t, NULL, r), 0);
    mt_check(get_id(t, NULL, 2, out), 0);
    mt_check(orbit_row_get_int(out, "age", &i64), 0);
    assert_int_equal(i64, 5);
    mt_check(orbit_row_get_text(out, "name", &txt, NULL), 0);
    assert_string_equal(txt, "bob");

    /* delete */
    mt_check(orbit_table_delete(t, NULL, r), 0);
    mt_check(orbit_table_delete(t, NULL, r), ORBIT_NOTFOUND);
    mt_check(get_id(t, NULL, 2, out), ORBIT_NOTFOUND);
    assert_int_equal(orbit_row_count(out), 0);

    /* reopen: the schema comes from the store */
    orbit_table *t2;
    mt_check(orbit_table_open(a, "users", &t2), 0);
    assert_int_equal(orbit_table_column_count(t2), 7);
    mt_check(get_id(t2, NULL, 1, out), 0);
    orbit_table_close(t2);
    mt_check(orbit_table_open(a, "nosuch", &t2), ORBIT_NOTFOUND);
    assert_null(t2);
    orbit_table *t3;
    mt_check(orbit_table_open(a, "users", &t3), 0);
    orbit_table_close(t3);
    orbit_column_def c = {"id", ORBIT_COL_INT64, 0, 0, {0}, NULL};
    const char *pk[] = {"id"};
    orbit_table_def def = {&c, 1, pk, 1};
    mt_check(orbit_table_create(a, "users", &def, &t3), ORBIT_EEXIST);

    orbit_row_free(r);
    orbit_row_free(out);
    orbit_table_close(t);
    orbit_actor_close(a);
    mt_close(&s);
}

static void test_types_and_errors(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "user", "types", &a), 0);
    orbit_table *t = make_users(a, "users");
    orbit_row *r, *out;
    mt_check(orbit_row_new(&r), 0);
    mt_check(orbit_row_new(&out), 0);

    set_user(r, 1, NULL, -1);
    mt_check(orbit_row_set_int(r, "name", 5), 0);
    mt_check(orbit_table_insert(t, NULL, r), ORBIT_EINVAL);
    assert_true(detail_has("column 'name' is text, the value is int64"));

    set_user(r, 1, NULL, -1);
    mt_check(orbit_table_insert(t, NULL, r), ORBIT_EINVAL); /* name is required */
    assert_true(detail_has("'name' is not nullable"));

    set_user(r, 1, "x", -1);
    mt_check(orbit_row_set_null(r, "name"), 0);
    mt_check(orbit_table_insert(t, NULL, r), ORBIT_EINVAL);

    set_user(r, 1, "x", -1);
    mt_check(orbit_row_set_json(r, "meta", "{broken"), 0);
    mt_check(orbit_table_insert(t, NULL, r), ORBIT_EINVAL);
    assert_true(detail_has("not valid JSON"));

    set_user(r, 1, "x", -1);
    mt_check(orbit_row_set_text_n(r, "name", "\xff\xfe", 2), 0);
    mt_check(orbit_table_insert(t, NULL, r), ORBIT_EINVAL);
    assert_true(detail_has("UTF-8"));

    set_user(r, 1, "x", -1);
    mt_check(orbit_row_set_int(r, "bogus", 1), 0);
    mt_check(orbit_table_insert(t, NULL, r), ORBIT_EINVAL);
    assert_true(detail_has("no column 'bogus'"));

    orbit_row_clear(r);
    mt_check(orbit_row_set_text(r, "name", "nokey"), 0);
    mt_check(orbit_table_insert(t, NULL, r), ORBIT_EINVAL);
    assert_true(detail_has("primary-key column 'id' is not set"));

    /* int64 into float64 is converted; bool into float64 is not */
    set_user(r, 1, "x", -1);
    mt_check(orbit_row_set_int(r, "score", 3), 0);
    mt_check(orbit_table_insert(t, NULL, r), 0);
    mt_check(get_id(t, NULL, 1, out), 0);
    double d;
    mt_check(orbit_row_get_double(out, "score", &d), 0);
    assert_true(d == 3.0);
    mt_check(orbit_row_set_bool(r, "score", 1), 0);
    mt_check(orbit_table_update(t, NULL, r), ORBIT_EINVAL);
    assert_true(detail_has("'score' is float64, the value is bool"));

    /* nothing was changed by the failures */
    int n = 0;
    orbit_row_clear(r);
    mt_check(orbit_row_set_int(r, "id", 1), 0);
    mt_check(orbit_table_get(t, NULL, r, out), 0);
    n = (int)orbit_row_count(out);
    assert_int_equal(n, 7);

    /* a key of the wrong type */
    orbit_row_clear(r);
    mt_check(orbit_row_set_text(r, "id", "1"), 0);
    mt_check(orbit_table_get(t, NULL, r, out), ORBIT_EINVAL);

    /* bad definitions */
    orbit_table *bad = NULL;
    orbit_column_def c2[2] = {{"k", ORBIT_COL_JSON, 0, 0, {0}, NULL},
                              {"k", ORBIT_COL_INT64, 1, 0, {0}, NULL}};
    const char *pk[] = {"k"};
    orbit_table_def def = {c2, 2, pk, 1};
    mt_check(orbit_table_create(a, "bad1", &def, &bad), ORBIT_EINVAL); /* json pk */
    c2[0].type = ORBIT_COL_TEXT;
    mt_check(orbit_table_create(a, "bad2", &def, &bad), ORBIT_EINVAL); /* duplicate column */
    assert_true(detail_has("defined twice"));
    c2[1].name = "v";
    c2[1].has_default = 1;
    c2[1].default_value = orbit_value_text("x");
    mt_check(orbit_table_create(a, "bad3", &def, &bad), ORBIT_EINVAL); /* default's type */
    const char *nopk[] = {"zz"};
    def.primary_key = nopk;
    mt_check(orbit_table_create(a, "bad4", &def, &bad), ORBIT_EINVAL);
    assert_null(bad);
    uint64_t id;
    mt_check(orbit_actor_object_id(a, ORBIT_CATALOG_TABLE, "bad1", 0, &id), ORBIT_NOTFOUND);

    orbit_row_free(r);
    orbit_row_free(out);
    orbit_table_close(t);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- index helpers ------------------------------------------------------ */

typedef struct ids {
    int64_t v[4096];
    size_t n;
} ids;

static int collect_id(void *arg, const orbit_row *row)
{
    ids *x = arg;
    int64_t id;
    mt_check(orbit_row_get_int(row, "id", &id), 0);
    if (x->n < 4096)
        x->v[x->n++] = id;
    return 0;
}

static ids *lookup_int(orbit_table *t, orbit_tx *tx, const char *index, orbit_value v,
                       size_t limit, int want_rc)
{
    static ids x;
    x.n = 0;
    mt_check(orbit_table_lookup(t, tx, index, &v, 1, limit, collect_id, &x), want_rc);
    return &x;
}

static void create_index(orbit_table *t, const char *name, const char *col, int unique)
{
    const char *cols[] = {col};
    orbit_index_def d = {name, cols, 1, unique};
    mt_check(orbit_table_create_index(t, &d, NULL), 0);
}

static void test_nulls(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "user", "nulls", &a), 0);
    orbit_table *t = make_users(a, "users");
    create_index(t, "by_age", "age", 0);
    create_index(t, "uniq_age", "age", 1);
    orbit_row *r;
    mt_check(orbit_row_new(&r), 0);
    /* several NULL ages are fine even in the unique index */
    for (int i = 1; i <= 3; i++) {
        set_user(r, i, "n", -1);
        mt_check(orbit_table_insert(t, NULL, r), 0);
    }
    set_user(r, 4, "n", 40);
    mt_check(orbit_table_insert(t, NULL, r), 0);
    ids *x = lookup_int(t, NULL, "by_age", orbit_value_null(), 0, 0);
    assert_int_equal(x->n, 3);
    x = lookup_int(t, NULL, "uniq_age", orbit_value_null(), 0, 0);
    assert_int_equal(x->n, 3);
    x = lookup_int(t, NULL, "uniq_age", orbit_value_int(40), 0, 0);
    assert_int_equal(x->n, 1);
    assert_int_equal(x->v[0], 4);
    /* NULL sorts first in a range */
    orbit_value hi = orbit_value_int(100);
    orbit_index_range rg = {NULL, 0, &hi, 0, 0, 0};
    ids y = {{0}, 0};
    mt_check(orbit_table_range(t, NULL, "by_age", &rg, collect_id, &y), 0);
    assert_int_equal(y.n, 4);
    assert_int_equal(y.v[3], 4);
    /* setting a value to NULL moves it to the NULL entries */
    orbit_row_clear(r);
    mt_check(orbit_row_set_int(r, "id", 4), 0);
    mt_check(orbit_row_set_null(r, "age"), 0);
    mt_check(orbit_table_update(t, NULL, r), 0);
    x = lookup_int(t, NULL, "by_age", orbit_value_null(), 0, 0);
    assert_int_equal(x->n, 4);
    x = lookup_int(t, NULL, "uniq_age", orbit_value_int(40), 0, 0);
    assert_int_equal(x->n, 0);
    orbit_row_free(r);
    orbit_table_close(t);
    orbit_actor_close(a);
    mt_close(&s);
}

static void test_add_column(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "user", "schema", &a), 0);
    orbit_table *t = make_users(a, "users");
    orbit_table *other;
    mt_check(orbit_table_open(a, "users", &other), 0); /* another "process" */
    orbit_row *r, *out;
    mt_check(orbit_row_new(&r), 0);
    mt_check(orbit_row_new(&out), 0);
    set_user(r, 1, "old", 1);
    mt_check(orbit_table_insert(t, NULL, r), 0);
    assert_int_equal(orbit_table_schema_version(t), 1);

    orbit_column_def bad = {"level", ORBIT_COL_INT64, 0, 0, {0}, NULL};
    mt_check(orbit_table_add_column(t, &bad), ORBIT_EINVAL); /* not null, no default */
    orbit_column_def lvl = {"level", ORBIT_COL_INT64, 0, 1, orbit_value_int(7), NULL};
    mt_check(orbit_table_add_column(t, &lvl), 0);
    mt_check(orbit_table_add_column(t, &lvl), ORBIT_EEXIST);
    orbit_column_def nick = {"nick", ORBIT_COL_TEXT, 1, 0, {0}, NULL};
    mt_check(orbit_table_add_column(t, &nick), 0);
    assert_int_equal(orbit_table_schema_version(t), 3);

    /* the old row reads with the default and NULL */
    mt_check(get_id(t, NULL, 1, out), 0);
    assert_int_equal(orbit_row_count(out), 9);
    int64_t v;
    mt_check(orbit_row_get_int(out, "level", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(orbit_row_is_null(out, "nick"), 1);

    /* the other handle writes with the new schema: its write reads the
     * version key and reloads */
    set_user(r, 2, "new", 2);
    mt_check(orbit_row_set_text(r, "nick", "nn"), 0);
    mt_check(orbit_table_insert(other, NULL, r), 0);
    assert_int_equal(orbit_table_schema_version(other), 3);

    /* a third handle, stale since before the change, notices it on a point
     * read of a row written with the new schema */
    orbit_table_close(other);
    mt_check(orbit_table_open(a, "users", &other), 0);
    orbit_column_def lvl2 = {"tier", ORBIT_COL_TEXT, 1, 1, orbit_value_text("gold"), NULL};
    mt_check(orbit_table_add_column(t, &lvl2), 0);
    set_user(r, 3, "newer", 3);
    mt_check(orbit_table_insert(t, NULL, r), 0);
    assert_int_equal(orbit_table_schema_version(other), 3);
    mt_check(get_id(other, NULL, 3, out), 0);
    assert_int_equal(orbit_table_schema_version(other), 4);
    const char *txt;
    mt_check(orbit_row_get_text(out, "tier", &txt, NULL), 0);
    assert_string_equal(txt, "gold");
    mt_check(get_id(other, NULL, 2, out), 0);
    mt_check(orbit_row_get_text(out, "nick", &txt, NULL), 0);
    assert_string_equal(txt, "nn");

    orbit_buf nm = ORBIT_BUF_INIT;
    orbit_col_type ty;
    int nl;
    mt_check(orbit_table_column(other, 8, &nm, &ty, &nl), 0);
    assert_string_equal((const char *)nm.data, "nick");
    assert_int_equal(ty, ORBIT_COL_TEXT);
    mt_check(orbit_table_column(other, 99, &nm, &ty, &nl), ORBIT_EINVAL);
    orbit_buf_release(&nm);

    orbit_row_free(r);
    orbit_row_free(out);
    orbit_table_close(other);
    orbit_table_close(t);
    orbit_actor_close(a);
    mt_close(&s);
}

/* items(id int64 pk, cat text, price int64, sku text) with indexes
 * by_cat (cat, price) and sku_u unique (sku) and by_price (price). */
static orbit_table *make_items(orbit_actor *a, const char *name)
{
    orbit_column_def cols[4] = {
        {"id", ORBIT_COL_INT64, 0, 0, {0}, NULL},
        {"cat", ORBIT_COL_TEXT, 1, 0, {0}, NULL},
        {"price", ORBIT_COL_INT64, 1, 0, {0}, NULL},
        {"sku", ORBIT_COL_TEXT, 1, 0, {0}, NULL},
    };
    const char *pk[] = {"id"};
    orbit_table_def def = {cols, 4, pk, 1};
    orbit_table *t;
    mt_check(orbit_table_create(a, name, &def, &t), 0);
    return t;
}

static void item(orbit_row *r, int64_t id, const char *cat, int64_t price, const char *sku)
{
    orbit_row_clear(r);
    mt_check(orbit_row_set_int(r, "id", id), 0);
    if (cat)
        mt_check(orbit_row_set_text(r, "cat", cat), 0);
    mt_check(orbit_row_set_int(r, "price", price), 0);
    if (sku)
        mt_check(orbit_row_set_text(r, "sku", sku), 0);
}

static void test_indexes(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "user", "idx", &a), 0);
    orbit_table *t = make_items(a, "items");
    const char *cc[] = {"cat", "price"};
    orbit_index_def d = {"by_cat", cc, 2, 0};
    mt_check(orbit_table_create_index(t, &d, NULL), 0);
    mt_check(orbit_table_create_index(t, &d, NULL), ORBIT_EEXIST);
    create_index(t, "sku_u", "sku", 1);
    create_index(t, "by_price", "price", 0);
    orbit_index_state st;
    mt_check(orbit_table_index_state(t, "sku_u", &st), 0);
    assert_int_equal(st, ORBIT_INDEX_PUBLIC);
    const char *jc[] = {"nope"};
    orbit_index_def bad = {"bad", jc, 1, 0};
    mt_check(orbit_table_create_index(t, &bad, NULL), ORBIT_EINVAL);

    orbit_row *r;
    mt_check(orbit_row_new(&r), 0);
    char sku[32];
    for (int i = 0; i < 30; i++) {
        snprintf(sku, sizeof sku, "sku-%02d", i);
        item(r, i, i % 3 == 0 ? "a" : i % 3 == 1 ? "b" : "c", 100 + i, sku);
        mt_check(orbit_table_insert(t, NULL, r), 0);
    }
    /* unique violations, on insert and on update, name index and value */
    item(r, 100, "a", 1, "sku-05");
    mt_check(orbit_table_insert(t, NULL, r), ORBIT_EEXIST);
    assert_true(detail_has("unique index sku_u"));
    assert_true(detail_has("sku='sku-05'"));
    item(r, 6, "a", 106, "sku-07");
    mt_check(orbit_table_update(t, NULL, r), ORBIT_EEXIST);
    /* rewriting a row with its own unique value is fine */
    item(r, 6, "a", 106, "sku-06");
    mt_check(orbit_table_update(t, NULL, r), 0);

    /* equality on a prefix of by_cat, and on both columns */
    orbit_value v[2] = {orbit_value_text("b"), orbit_value_int(104)};
    ids x = {{0}, 0};
    mt_check(orbit_table_lookup(t, NULL, "by_cat", v, 1, 0, collect_id, &x), 0);
    assert_int_equal(x.n, 10);
    for (size_t i = 0; i < x.n; i++)
        assert_int_equal(x.v[i], 1 + 3 * (int64_t)i); /* price order */
    x.n = 0;
    mt_check(orbit_table_lookup(t, NULL, "by_cat", v, 2, 0, collect_id, &x), 0);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.v[0], 4);
    x.n = 0;
    mt_check(orbit_table_lookup(t, NULL, "by_cat", v, 1, 3, collect_id, &x), 0);
    assert_int_equal(x.n, 3);
    orbit_value sv = orbit_value_text("sku-12");
    x.n = 0;
    mt_check(orbit_table_lookup(t, NULL, "sku_u", &sv, 1, 0, collect_id, &x), 0);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.v[0], 12);
    /* wrong type, unknown index */
    orbit_value wrong = orbit_value_int(3);
    mt_check(orbit_table_lookup(t, NULL, "sku_u", &wrong, 1, 0, collect_id, &x), ORBIT_EINVAL);
    mt_check(orbit_table_lookup(t, NULL, "nope", &wrong, 1, 0, collect_id, &x), ORBIT_EINVAL);

    /* ranges on price: [110, 115), (110, 115], reverse with limit */
    orbit_value lo = orbit_value_int(110), hi = orbit_value_int(115);
    orbit_index_range rg = {&lo, 0, &hi, 0, 0, 0};
    x.n = 0;
    mt_check(orbit_table_range(t, NULL, "by_price", &rg, collect_id, &x), 0);
    assert_int_equal(x.n, 5);
    assert_int_equal(x.v[0], 10);
    assert_int_equal(x.v[4], 14);
    rg.lo_exclusive = 1;
    rg.hi_inclusive = 1;
    x.n = 0;
    mt_check(orbit_table_range(t, NULL, "by_price", &rg, collect_id, &x), 0);
    assert_int_equal(x.n, 5);
    assert_int_equal(x.v[0], 11);
    assert_int_equal(x.v[4], 15);
    rg.reverse = 1;
    rg.limit = 2;
    x.n = 0;
    mt_check(orbit_table_range(t, NULL, "by_price", &rg, collect_id, &x), 0);
    assert_int_equal(x.n, 2);
    assert_int_equal(x.v[0], 15);
    assert_int_equal(x.v[1], 14);
    orbit_index_range all = {NULL, 0, NULL, 0, 0, 1};
    x.n = 0;
    mt_check(orbit_table_range(t, NULL, "by_price", &all, collect_id, &x), 0);
    assert_int_equal(x.n, 30);
    assert_int_equal(x.v[0], 29);

    /* full scan with limit, both directions */
    x.n = 0;
    mt_check(orbit_table_scan(t, NULL, 4, 0, collect_id, &x), 0);
    assert_int_equal(x.n, 4);
    assert_int_equal(x.v[3], 3);
    x.n = 0;
    mt_check(orbit_table_scan(t, NULL, 0, 1, collect_id, &x), 0);
    assert_int_equal(x.n, 30);
    assert_int_equal(x.v[0], 29);

    /* drop: entries gone, lookups refused */
    mt_check(orbit_table_drop_index(t, "by_price"), 0);
    mt_check(orbit_table_drop_index(t, "by_price"), ORBIT_NOTFOUND);
    mt_check(orbit_table_range(t, NULL, "by_price", &all, collect_id, &x), ORBIT_EINVAL);
    create_index(t, "by_price", "price", 0); /* again, a fresh id */
    x.n = 0;
    mt_check(orbit_table_range(t, NULL, "by_price", &all, collect_id, &x), 0);
    assert_int_equal(x.n, 30);

    orbit_row_free(r);
    orbit_table_close(t);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- online build ---------------------------------------------------------- */

typedef struct writer {
    orbit_table *t;
    int seed;
    int nkeys;
    volatile int *stop;
    int ops;
} writer;

/* Operations the writer threads finished, all together. */
static int writer_ops;

static void *writer_main(void *p)
{
    writer *w = p;
    orbit_row *r;
    if (orbit_row_new(&r))
        return NULL;
    unsigned seed = (unsigned)w->seed;
    while (!__atomic_load_n(w->stop, __ATOMIC_ACQUIRE)) {
        int id = rand_r(&seed) % w->nkeys, op = rand_r(&seed) % 3;
        orbit_row_clear(r);
        orbit_row_set_int(r, "id", id);
        orbit_row_set_text(r, "cat", "w");
        orbit_row_set_int(r, "price", rand_r(&seed) % 50);
        int rc = op == 0 ? orbit_table_upsert(w->t, NULL, r)
                 : op == 1 ? orbit_table_update(w->t, NULL, r)
                           : orbit_table_delete(w->t, NULL, r);
        /* conflicts that outlast the retries are allowed: the check below
         * compares the index with whatever committed */
        if (rc < 0 && rc != ORBIT_ECONFLICT && rc != ORBIT_EBUSY)
            break;
        w->ops++;
        __atomic_add_fetch(&writer_ops, 1, __ATOMIC_RELEASE);
    }
    orbit_row_free(r);
    return NULL;
}

typedef struct batch_arg {
    orbit_table *t;
    int calls;
    int nkeys;
} batch_arg;

/* Between batches, the building thread itself writes ahead of and behind
 * the cursor, so interleaving happens even if the threads do not overlap. */
static int on_batch(void *arg, size_t done)
{
    batch_arg *b = arg;
    (void)done;
    /* Let the writer threads finish a write between every two batches (a
     * bounded wait: a writer that stopped must not hang the build). */
    int seen = __atomic_load_n(&writer_ops, __ATOMIC_ACQUIRE);
    for (int i = 0; i < 2000 && __atomic_load_n(&writer_ops, __ATOMIC_ACQUIRE) == seen; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    orbit_row *r;
    if (orbit_row_new(&r))
        return ORBIT_ENOMEM;
    int k = b->calls++;
    int pick[3] = {k % b->nkeys, (b->nkeys - 1 - k) % b->nkeys, b->nkeys + k};
    for (int i = 0; i < 3; i++) {
        orbit_row_clear(r);
        orbit_row_set_int(r, "id", pick[i]);
        orbit_row_set_text(r, "cat", "cb");
        orbit_row_set_int(r, "price", 1000 + k);
        int rc = orbit_table_upsert(b->t, NULL, r);
        if (rc < 0 && rc != ORBIT_ECONFLICT) {
            orbit_row_free(r);
            return rc;
        }
    }
    orbit_row_clear(r);
    orbit_row_set_int(r, "id", (k * 7) % b->nkeys);
    orbit_table_delete(b->t, NULL, r);
    orbit_row_free(r);
    return 0;
}

typedef struct verify {
    orbit_table *t;
    size_t rows;
    int bad;
} verify;

static int verify_row(void *arg, const orbit_row *row)
{
    verify *v = arg;
    v->rows++;
    int64_t id, price;
    orbit_row_get_int(row, "id", &id);
    orbit_value pv;
    orbit_row_get(row, "price", &pv);
    ids x = {{0}, 0};
    (void)price;
    mt_check(orbit_table_lookup(v->t, NULL, "by_price", &pv, 1, 0, collect_id, &x), 0);
    int found = 0;
    for (size_t i = 0; i < x.n; i++)
        found |= x.v[i] == id;
    if (!found)
        v->bad++;
    return 0;
}

/* The raw index entries of table t, of every index (the keys under
 * (ks, "rel", T, "i")). */
static size_t count_entries(ct_store *s, orbit_actor *a, orbit_table *t)
{
    orbit_buf prefix = ORBIT_BUF_INIT;
    mt_check(orbit_key_object_prefix(&prefix, orbit_actor_keyspace(a), ORBIT_PREFIX_REL,
                                     orbit_table_id(t)),
             0);
    mt_check(orbit_tuple_str(&prefix, "i"), 0);
    orbit_scan_opts so = {0};
    so.prefix = prefix.data;
    so.prefix_len = prefix.len;
    orbit_iter *it;
    mt_check(orbit_kv_iter(s->kv, NULL, &so, &it), 0);
    const uint8_t *k, *v;
    size_t kl, vl, n = 0;
    while (orbit_iter_next(it, &k, &kl, &v, &vl) == ORBIT_OK)
        n++;
    orbit_iter_close(it);
    orbit_buf_release(&prefix);
    return n;
}

static void test_online_build(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    int small = remote(s.kv);
    int nrows = small ? 120 : 600;
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "user", "build", &a), 0);
    orbit_table *t = make_items(a, "items");
    orbit_row *r;
    mt_check(orbit_row_new(&r), 0);
    for (int i = 0; i < nrows; i++) {
        item(r, i, "x", i % 50, NULL);
        mt_check(orbit_table_insert(t, NULL, r), 0);
    }
    volatile int stop = 0;
    writer w[3];
    pthread_t th[3];
    int nthreads = small ? 2 : 3;
    for (int i = 0; i < nthreads; i++) {
        orbit_table *wt;
        mt_check(orbit_table_open(a, "items", &wt), 0); /* each its own cache */
        w[i] = (writer){wt, 17 + i, nrows + 20, &stop, 0};
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    batch_arg ba = {t, 0, nrows};
    orbit_index_build_opts o = {small ? 16 : 24, on_batch, &ba};
    const char *cols[] = {"price"};
    orbit_index_def d = {"by_price", cols, 1, 0};
    mt_check(orbit_table_create_index(t, &d, &o), 0);
    assert_true(ba.calls >= 3);
    /* writers keep writing a little with the index public */
    orbit_row_clear(r);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    int total_ops = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        total_ops += w[i].ops;
        orbit_table_close(w[i].t);
    }
    (void)total_ops;
    orbit_index_state st;
    mt_check(orbit_table_index_state(t, "by_price", &st), 0);
    assert_int_equal(st, ORBIT_INDEX_PUBLIC);

    /* every row is found through the index under its value ... */
    verify v = {t, 0, 0};
    mt_check(orbit_table_scan(t, NULL, 0, 0, verify_row, &v), 0);
    assert_int_equal(v.bad, 0);
    /* ... and every entry belongs to a row holding its value: the raw
     * entries number exactly the rows, and a full index range (which skips
     * an entry whose row is gone or holds another value) returns them all */
    size_t entries = count_entries(&s, a, t);
    assert_int_equal(entries, v.rows);
    orbit_index_range all = {NULL, 0, NULL, 0, 0, 0};
    ids x = {{0}, 0};
    mt_check(orbit_table_range(t, NULL, "by_price", &all, collect_id, &x), 0);
    assert_int_equal(x.n, v.rows);

    /* a unique index over duplicate values fails cleanly and is dropped */
    const char *pc[] = {"price"};
    orbit_index_def du = {"price_u", pc, 1, 1};
    mt_check(orbit_table_create_index(t, &du, NULL), ORBIT_EEXIST);
    assert_true(detail_has("unique index price_u"));
    mt_check(orbit_table_index_state(t, "price_u", &st), ORBIT_NOTFOUND);
    assert_int_equal(count_entries(&s, a, t), v.rows);
    /* a unique index over unique values builds */
    const char *ic[] = {"id"};
    orbit_index_def iu = {"id_u", ic, 1, 1};
    mt_check(orbit_table_create_index(t, &iu, NULL), 0);
    assert_int_equal(count_entries(&s, a, t), 2 * v.rows);

    orbit_row_free(r);
    orbit_table_close(t);
    orbit_actor_close(a);
    mt_close(&s);
}


/* A unique build on a table whose duplicate goes away during the build:
 * the writer moving the second row off the shared value must not delete
 * the first row's entry. */
typedef struct move_arg {
    orbit_table *t;
    int calls;
} move_arg;

static int move_dup(void *arg, size_t done)
{
    move_arg *m = arg;
    (void)done;
    if (m->calls++ != 0)
        return 0;
    orbit_row *r;
    if (orbit_row_new(&r))
        return ORBIT_ENOMEM;
    item(r, 2, "x", 9, NULL);
    int rc = orbit_table_update(m->t, NULL, r);
    orbit_row_free(r);
    return rc;
}

static void test_unique_build_duplicate_moves(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "user", "dupmove", &a), 0);
    orbit_table *t = make_items(a, "items");
    orbit_row *r;
    mt_check(orbit_row_new(&r), 0);
    int64_t prices[] = {5, 5, 7, 8};
    for (int i = 0; i < 4; i++) {
        item(r, i + 1, "x", prices[i], NULL);
        mt_check(orbit_table_insert(t, NULL, r), 0);
    }
    move_arg m = {t, 0};
    orbit_index_build_opts o = {1, move_dup, &m};
    const char *cols[] = {"price"};
    orbit_index_def d = {"price_u", cols, 1, 1};
    mt_check(orbit_table_create_index(t, &d, &o), 0);
    ids *x = lookup_int(t, NULL, "price_u", orbit_value_int(5), 0, 0);
    assert_int_equal(x->n, 1);
    assert_int_equal(x->v[0], 1);
    x = lookup_int(t, NULL, "price_u", orbit_value_int(9), 0, 0);
    assert_int_equal(x->n, 1);
    assert_int_equal(x->v[0], 2);
    /* now public: the unique rule holds for every writer */
    item(r, 3, "x", 5, NULL);
    mt_check(orbit_table_update(t, NULL, r), ORBIT_EEXIST);
    orbit_row_free(r);
    orbit_table_close(t);
    orbit_actor_close(a);
    mt_close(&s);
}

/* Handles opened before another handle's index change notice it. */
static void test_stale_handles(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "user", "stale", &a), 0);
    orbit_table *t = make_items(a, "items");
    orbit_table *other;
    mt_check(orbit_table_open(a, "items", &other), 0);
    orbit_row *r;
    mt_check(orbit_row_new(&r), 0);
    for (int i = 0; i < 6; i++) {
        item(r, i, "x", i % 2, NULL);
        mt_check(orbit_table_insert(t, NULL, r), 0);
    }
    create_index(t, "by_price", "price", 0);
    /* other's cache has no index: the lookup reloads it */
    ids *x = lookup_int(other, NULL, "by_price", orbit_value_int(1), 0, 0);
    assert_int_equal(x->n, 3);
    /* other's writes maintain the index it learns of from the version key */
    orbit_table *third;
    mt_check(orbit_table_open(a, "items", &third), 0);
    mt_check(orbit_table_drop_index(t, "by_price"), 0);
    create_index(t, "by_price", "price", 0); /* same name, new id */
    item(r, 10, "x", 1, NULL);
    mt_check(orbit_table_insert(third, NULL, r), 0);
    x = lookup_int(t, NULL, "by_price", orbit_value_int(1), 0, 0);
    assert_int_equal(x->n, 4);
    /* other still caches the old index id: the version key in its
     * multi-get sends it to the new one */
    x = lookup_int(other, NULL, "by_price", orbit_value_int(1), 0, 0);
    assert_int_equal(x->n, 4);
    mt_check(orbit_table_drop_index(t, "by_price"), 0);
    lookup_int(third, NULL, "by_price", orbit_value_int(1), 0, ORBIT_EINVAL);
    orbit_row_free(r);
    orbit_table_close(third);
    orbit_table_close(other);
    orbit_table_close(t);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- costs ------------------------------------------------------------------- */

static void test_costs(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    int small = remote(s.kv);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "user", "costs", &a), 0);
    /* much more unrelated data: a big table and plain keys */
    orbit_table *big = make_items(a, "big");
    create_index(big, "big_price", "price", 0);
    orbit_row *r;
    mt_check(orbit_row_new(&r), 0);
    int nbig = small ? 300 : 1000;
    orbit_tx *tx = NULL;
    for (int i = 0; i < nbig; i++) {
        if (i % 50 == 0)
            mt_check(orbit_tx_begin(NULL, &tx), 0);
        item(r, i, "big", 5, NULL);
        mt_check(orbit_table_insert(big, tx, r), 0);
        if (i % 50 == 49 || i == nbig - 1)
            mt_check(orbit_tx_commit(tx), 0);
    }
    for (int i = 0; i < nbig; i++) {
        char k[32];
        snprintf(k, sizeof k, "plain-%d", i);
        mt_check(orbit_str_put(s.kv, NULL, (const uint8_t *)k, strlen(k), (const uint8_t *)"v", 1),
                 0);
    }
    orbit_table *t = make_items(a, "small");
    create_index(t, "by_price", "price", 0);
    for (int i = 0; i < 20; i++) {
        item(r, i, "s", i % 5, NULL);
        mt_check(orbit_table_insert(t, NULL, r), 0);
    }
    orbit_row *out;
    mt_check(orbit_row_new(&out), 0);
    mt_counter c;

    /* point get: one key, one call */
    mt_stats_reset(s.kv, &c);
    mt_check(get_id(t, NULL, 7, out), 0);
    orbit_kv_stats d = mt_stats_delta(s.kv, &c);
    assert_int_equal(d.keys_read, 1);
    assert_int_equal(d.read_calls, 1);

    /* index lookup: 4 entries, then one multi-get of 4 rows + the version */
    mt_stats_reset(s.kv, &c);
    ids *x = lookup_int(t, NULL, "by_price", orbit_value_int(3), 0, 0);
    d = mt_stats_delta(s.kv, &c);
    assert_int_equal(x->n, 4);
    assert_int_equal(d.read_calls, 2);
    assert_int_equal(d.multi_gets, 1);
    assert_int_equal(d.keys_read, 4 + 4 + 1);

    /* range with a limit */
    mt_stats_reset(s.kv, &c);
    orbit_value lo = orbit_value_int(1);
    orbit_index_range rg = {&lo, 0, NULL, 0, 3, 0};
    ids y = {{0}, 0};
    mt_check(orbit_table_range(t, NULL, "by_price", &rg, collect_id, &y), 0);
    d = mt_stats_delta(s.kv, &c);
    assert_int_equal(y.n, 3);
    assert_int_equal(d.read_calls, 2);
    assert_int_equal(d.keys_read, 3 + 3 + 1);

    /* scan with limit L reads at most L rows */
    mt_stats_reset(s.kv, &c);
    y.n = 0;
    mt_check(orbit_table_scan(t, NULL, 5, 0, collect_id, &y), 0);
    d = mt_stats_delta(s.kv, &c);
    assert_int_equal(y.n, 5);
    assert_true(d.keys_read <= 5);
    assert_int_equal(d.read_calls, 1);

    /* an insert reads the version key and the row, each for update (no
     * unique index here; the contract does not count a transaction's
     * writes in keys_written) */
    mt_stats_reset(s.kv, &c);
    item(r, 500, "s", 2, NULL);
    mt_check(orbit_table_insert(t, NULL, r), 0);
    d = mt_stats_delta(s.kv, &c);
    assert_int_equal(d.read_calls, 2);
    assert_int_equal(d.keys_read, 1); /* the version key; the row is new */

    /* the same reads inside a transaction cost the same */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(get_id(t, tx, 1, out), 0); /* binds the transaction */
    mt_stats_reset(s.kv, &c);
    mt_check(get_id(t, tx, 7, out), 0);
    d = mt_stats_delta(s.kv, &c);
    assert_int_equal(d.keys_read, 1);
    assert_int_equal(d.read_calls, 1);
    mt_stats_reset(s.kv, &c);
    x = lookup_int(t, tx, "by_price", orbit_value_int(3), 0, 0);
    d = mt_stats_delta(s.kv, &c);
    assert_int_equal(x->n, 4);
    assert_int_equal(d.read_calls, 2);
    orbit_tx_rollback(tx);

    orbit_row_free(r);
    orbit_row_free(out);
    orbit_table_close(t);
    orbit_table_close(big);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- randomized against an oracle ------------------------------------------ */

#define ORK 40

typedef struct orow {
    int present;
    int knull;
    int64_t k;
    int unull;
    int u; /* unique value "u<N>" */
    int64_t v;
} orow;

static int oracle_unique_holder(const orow *o, int u)
{
    for (int i = 0; i < ORK; i++)
        if (o[i].present && !o[i].unull && o[i].u == u)
            return i;
    return -1;
}

static void test_random_oracle(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    int nops = remote(s.kv) ? 150 : 1500;
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "user", "oracle", &a), 0);
    orbit_column_def cols[4] = {
        {"id", ORBIT_COL_INT64, 0, 0, {0}, NULL},
        {"k", ORBIT_COL_INT64, 1, 0, {0}, NULL},
        {"u", ORBIT_COL_TEXT, 1, 0, {0}, NULL},
        {"v", ORBIT_COL_INT64, 0, 1, orbit_value_int(0), NULL},
    };
    const char *pk[] = {"id"};
    orbit_table_def def = {cols, 4, pk, 1};
    orbit_table *t;
    mt_check(orbit_table_create(a, "rnd", &def, &t), 0);
    create_index(t, "by_k", "k", 0);
    create_index(t, "by_u", "u", 1);
    orow o[ORK];
    memset(o, 0, sizeof o);
    orbit_row *r, *out;
    mt_check(orbit_row_new(&r), 0);
    mt_check(orbit_row_new(&out), 0);
    unsigned seed = 12345;
    char ub[16];
    for (int step = 0; step < nops; step++) {
        int id = rand_r(&seed) % ORK, op = rand_r(&seed) % 7;
        orow n = {1, rand_r(&seed) % 5 == 0, rand_r(&seed) % 8, rand_r(&seed) % 4 == 0,
                  rand_r(&seed) % 60, rand_r(&seed) % 1000};
        orbit_row_clear(r);
        mt_check(orbit_row_set_int(r, "id", id), 0);
        if (op <= 2) { /* insert, upsert, update: k, u, v all set */
            if (n.knull)
                mt_check(orbit_row_set_null(r, "k"), 0);
            else
                mt_check(orbit_row_set_int(r, "k", n.k), 0);
            snprintf(ub, sizeof ub, "u%d", n.u);
            if (n.unull)
                mt_check(orbit_row_set_null(r, "u"), 0);
            else
                mt_check(orbit_row_set_text(r, "u", ub), 0);
            mt_check(orbit_row_set_int(r, "v", n.v), 0);
            int holder = n.unull ? -1 : oracle_unique_holder(o, n.u);
            int dup = holder >= 0 && holder != id;
            int want;
            if (op == 0)
                want = o[id].present ? ORBIT_EEXIST : dup ? ORBIT_EEXIST : 0;
            else if (op == 2)
                want = !o[id].present ? ORBIT_NOTFOUND : dup ? ORBIT_EEXIST : 0;
            else
                want = dup ? ORBIT_EEXIST : 0;
            int rc = op == 0 ? orbit_table_insert(t, NULL, r)
                     : op == 1 ? orbit_table_upsert(t, NULL, r)
                               : orbit_table_update(t, NULL, r);
            mt_check(rc, want);
            if (rc == 0)
                o[id] = n;
        } else if (op == 3) {
            int rc = orbit_table_delete(t, NULL, r);
            mt_check(rc, o[id].present ? 0 : ORBIT_NOTFOUND);
            o[id].present = 0;
        } else if (op == 4) {
            int rc = orbit_table_get(t, NULL, r, out);
            mt_check(rc, o[id].present ? 0 : ORBIT_NOTFOUND);
            if (rc == 0) {
                int64_t x;
                mt_check(orbit_row_get_int(out, "v", &x), 0);
                assert_int_equal(x, o[id].v);
                assert_int_equal(orbit_row_is_null(out, "k"), o[id].knull);
                assert_int_equal(orbit_row_is_null(out, "u"), o[id].unull);
            }
        } else if (op == 5) { /* lookup by k (or NULL) */
            orbit_value kv = n.knull ? orbit_value_null() : orbit_value_int(n.k);
            ids *x = lookup_int(t, NULL, "by_k", kv, 0, 0);
            size_t want = 0;
            for (int i = 0; i < ORK; i++)
                if (o[i].present && o[i].knull == n.knull && (n.knull || o[i].k == n.k)) {
                    assert_true(want < x->n);
                    assert_int_equal(x->v[want], i); /* pk order within a value */
                    want++;
                }
            assert_int_equal(x->n, want);
        } else { /* lookup by u */
            snprintf(ub, sizeof ub, "u%d", n.u);
            orbit_value uv = orbit_value_text(ub);
            ids x = {{0}, 0};
            mt_check(orbit_table_lookup(t, NULL, "by_u", &uv, 1, 0, collect_id, &x), 0);
            int holder = oracle_unique_holder(o, n.u);
            assert_int_equal(x.n, holder >= 0 ? 1 : 0);
            if (holder >= 0)
                assert_int_equal(x.v[0], holder);
        }
    }
    /* a k range against the oracle */
    orbit_value lo = orbit_value_int(2), hi = orbit_value_int(5);
    orbit_index_range rg = {&lo, 0, &hi, 1, 0, 0};
    ids x = {{0}, 0};
    mt_check(orbit_table_range(t, NULL, "by_k", &rg, collect_id, &x), 0);
    size_t want = 0;
    for (int i = 0; i < ORK; i++)
        want += o[i].present && !o[i].knull && o[i].k >= 2 && o[i].k <= 5;
    assert_int_equal(x.n, want);
    orbit_row_free(r);
    orbit_row_free(out);
    orbit_table_close(t);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- references and caller transactions --------------------------------------- */

static unsigned rel_models;

static void on_commit(void *arg, const orbit_tx_change *c, size_t n, uint64_t v)
{
    (void)arg;
    (void)v;
    for (size_t i = 0; i < n; i++)
        rel_models |= c[i].models;
}

static void test_references(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "shop", "refs", &a), 0);
    orbit_column_def cc[2] = {{"id", ORBIT_COL_TEXT, 0, 0, {0}, NULL},
                              {"name", ORBIT_COL_TEXT, 1, 0, {0}, NULL}};
    const char *pk[] = {"id"};
    orbit_table_def cdef = {cc, 2, pk, 1};
    orbit_table *cust, *orders, *bad;
    mt_check(orbit_table_create(a, "customers", &cdef, &cust), 0);
    orbit_column_def oc[2] = {{"id", ORBIT_COL_INT64, 0, 0, {0}, NULL},
                              {"customer", ORBIT_COL_TEXT, 1, 0, {0}, "customers"}};
    orbit_table_def odef = {oc, 2, pk, 1};
    mt_check(orbit_table_create(a, "orders", &odef, &orders), 0);
    /* a reference of the wrong type, or to a missing table */
    oc[1].type = ORBIT_COL_INT64;
    mt_check(orbit_table_create(a, "bad", &odef, &bad), ORBIT_EINVAL);
    oc[1].type = ORBIT_COL_TEXT;
    oc[1].references = "nosuch";
    mt_check(orbit_table_create(a, "bad", &odef, &bad), ORBIT_EINVAL);

    orbit_row *r;
    mt_check(orbit_row_new(&r), 0);
    orbit_row_set_int(r, "id", 1);
    orbit_row_set_text(r, "customer", "c9");
    mt_check(orbit_table_insert(orders, NULL, r), ORBIT_ECONSTRAINT);
    assert_true(detail_has("reference orders.customer -> customers: row 'c9' does not exist"));
    orbit_row *out;
    mt_check(orbit_row_new(&out), 0);
    mt_check(get_id(orders, NULL, 1, out), ORBIT_NOTFOUND);

    /* NULL references nothing */
    orbit_row_set_null(r, "customer");
    mt_check(orbit_table_insert(orders, NULL, r), 0);

    /* customer and order in one transaction, order first: checked at commit */
    uint64_t lid;
    mt_check(orbit_tx_listen(on_commit, NULL, &lid), 0);
    rel_models = 0;
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    orbit_row_clear(r);
    orbit_row_set_int(r, "id", 2);
    orbit_row_set_text(r, "customer", "c1");
    mt_check(orbit_table_insert(orders, tx, r), 0);
    orbit_row_clear(r);
    orbit_row_set_text(r, "id", "c1");
    mt_check(orbit_table_insert(cust, tx, r), 0);
    /* the transaction sees its writes, others do not yet */
    mt_check(get_id(orders, tx, 2, out), 0);
    mt_check(get_id(orders, NULL, 2, out), ORBIT_NOTFOUND);
    /* an EEXIST inside leaves it usable */
    mt_check(orbit_table_insert(cust, tx, r), ORBIT_EEXIST);
    mt_check(orbit_tx_commit(tx), 0);
    assert_true(rel_models & (1u << ORBIT_MODEL_REL));
    mt_check(get_id(orders, NULL, 2, out), 0);
    mt_check(orbit_tx_unlisten(lid), 0);

    /* a failing reference aborts everything in the transaction */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    orbit_row_clear(r);
    orbit_row_set_text(r, "id", "c2");
    mt_check(orbit_table_insert(cust, tx, r), 0);
    orbit_row_clear(r);
    orbit_row_set_int(r, "id", 3);
    orbit_row_set_text(r, "customer", "c404");
    mt_check(orbit_table_insert(orders, tx, r), 0);
    mt_check(orbit_tx_commit(tx), ORBIT_ECONSTRAINT);
    assert_true(detail_has("row 'c404' does not exist"));
    orbit_row_clear(r);
    orbit_row_set_text(r, "id", "c2");
    mt_check(orbit_table_get(cust, NULL, r, out), ORBIT_NOTFOUND);

    /* rollback leaves nothing */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    orbit_row_clear(r);
    orbit_row_set_int(r, "id", 4);
    mt_check(orbit_table_insert(orders, tx, r), 0);
    orbit_tx_rollback(tx);
    mt_check(get_id(orders, NULL, 4, out), ORBIT_NOTFOUND);

    /* a self reference */
    orbit_column_def ec[2] = {{"id", ORBIT_COL_INT64, 0, 0, {0}, NULL},
                              {"boss", ORBIT_COL_INT64, 1, 0, {0}, "emp"}};
    orbit_table_def edef = {ec, 2, pk, 1};
    orbit_table *emp;
    mt_check(orbit_table_create(a, "emp", &edef, &emp), 0);
    orbit_row_clear(r);
    orbit_row_set_int(r, "id", 1);
    orbit_row_set_int(r, "boss", 1);
    mt_check(orbit_table_insert(emp, NULL, r), 0); /* itself: exists at commit */
    orbit_row_set_int(r, "id", 2);
    orbit_row_set_int(r, "boss", 5);
    mt_check(orbit_table_insert(emp, NULL, r), ORBIT_ECONSTRAINT);

    orbit_table_close(emp);
    orbit_row_free(r);
    orbit_row_free(out);
    orbit_table_close(orders);
    orbit_table_close(cust);
    orbit_actor_close(a);
    mt_close(&s);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crud),
        cmocka_unit_test(test_types_and_errors),
        cmocka_unit_test(test_nulls),
        cmocka_unit_test(test_add_column),
        cmocka_unit_test(test_indexes),
        cmocka_unit_test(test_online_build),
        cmocka_unit_test(test_unique_build_duplicate_moves),
        cmocka_unit_test(test_stale_handles),
        cmocka_unit_test(test_costs),
        cmocka_unit_test(test_random_oracle),
        cmocka_unit_test(test_references),
    };
    return mt_main(argc, argv, tests, sizeof tests / sizeof tests[0]);
}
