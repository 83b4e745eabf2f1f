/*
 * The document model (orbit/document.h) on every provider: CRUD, RFC 7396
 * merge-patch (the RFC's appendix A), JSON path reads and writes and their
 * errors, indexes (lookup, range, moves, deletes, backfill), references
 * checked at commit, a definition changed under a writer, costs on a store
 * holding much more unrelated data, and a randomized run against an
 * in-test oracle of jansson values.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mt.h"
#include "orbit/document.h"
#include "orbit/provider.h"

#define S(x) (x), strlen(x)

static void assert_json(const orbit_buf *b, const char *want)
{
    json_error_t e;
    json_t *got = json_loadb((const char *)b->data, b->len, JSON_DECODE_ANY, &e);
    json_t *exp = json_loads(want, JSON_DECODE_ANY, &e);
    assert_non_null(exp);
    if (!got || !json_equal(got, exp)) {
        fprintf(stderr, "got  %.*s\nwant %s\n", (int)b->len, b->data ? (char *)b->data : "",
                want);
        fail();
    }
    json_decref(got);
    json_decref(exp);
}

static orbit_doc_coll *open_coll(orbit_actor *a, const char *name)
{
    orbit_doc_coll *c = NULL;
    mt_check(orbit_doc_coll_open(a, name, 1, &c), 0);
    return c;
}

static void test_crud(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "shop", "eu", &a), 0);
    orbit_doc_coll *c = NULL;
    mt_check(orbit_doc_coll_open(a, "orders", 0, &c), ORBIT_NOTFOUND);
    c = open_coll(a, "orders");
    orbit_buf v = ORBIT_BUF_INIT;

    mt_check(orbit_doc_put(NULL, c, S("o1"), S("{\"b\": 2, \"a\": [1, 2.5, \"x\"]}")), 0);
    mt_check(orbit_doc_get(NULL, c, S("o1"), &v), 0);
    /* compact, insertion order kept */
    assert_string_equal((char *)v.data, "{\"b\":2,\"a\":[1,2.5,\"x\"]}");
    mt_check(orbit_doc_insert(NULL, c, S("o1"), S("{}")), ORBIT_EEXIST);
    mt_check(orbit_doc_insert(NULL, c, S("o2"), S("[true,null]")), 0);
    mt_check(orbit_doc_get(NULL, c, S("o2"), &v), 0);
    assert_json(&v, "[true,null]");

    /* invalid JSON: EINVAL with jansson's position, nothing written */
    mt_check(orbit_doc_put(NULL, c, S("o1"), S("{\"a\":\n  [1,}")), ORBIT_EINVAL);
    assert_non_null(strstr(orbit_last_error_detail(), "line 2"));
    mt_check(orbit_doc_put(NULL, c, S("o1"), S("{\"a\":1,\"a\":2}")), ORBIT_EINVAL);
    mt_check(orbit_doc_get(NULL, c, S("o1"), &v), 0);
    assert_string_equal((char *)v.data, "{\"b\":2,\"a\":[1,2.5,\"x\"]}");
    mt_check(orbit_doc_put(NULL, c, "", 0, S("{}")), ORBIT_EINVAL);

    mt_check(orbit_doc_delete(NULL, c, S("o1")), 0);
    mt_check(orbit_doc_delete(NULL, c, S("o1")), ORBIT_NOTFOUND);
    mt_check(orbit_doc_get(NULL, c, S("o1"), &v), ORBIT_NOTFOUND);
    assert_int_equal(v.len, 0);

    /* ids with NUL and 0xFF bytes, and a scan in id order */
    mt_check(orbit_doc_put(NULL, c, "a\0b", 3, S("1")), 0);
    mt_check(orbit_doc_put(NULL, c, "\xff", 1, S("2")), 0);
    mt_check(orbit_doc_get(NULL, c, "a\0b", 3, &v), 0);
    assert_string_equal((char *)v.data, "1");
    mt_check(orbit_doc_mget(NULL, c, 0, NULL, NULL, NULL, NULL, NULL), 0);

    /* a rolled-back transaction leaves nothing */
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_doc_put(tx, c, S("t1"), S("{\"x\":1}")), 0);
    mt_check(orbit_doc_get(tx, c, S("t1"), &v), 0); /* sees its own write */
    orbit_tx_rollback(tx);
    mt_check(orbit_doc_get(NULL, c, S("t1"), &v), ORBIT_NOTFOUND);

    /* drop and recreate: empty */
    mt_check(orbit_doc_coll_drop(NULL, a, "orders"), 0);
    mt_check(orbit_doc_coll_drop(NULL, a, "orders"), ORBIT_NOTFOUND);
    orbit_doc_coll_close(c);
    c = open_coll(a, "orders");
    mt_check(orbit_doc_get(NULL, c, S("o2"), &v), ORBIT_NOTFOUND);

    orbit_buf_release(&v);
    orbit_doc_coll_close(c);
    orbit_actor_close(a);
    mt_close(&s);
}

static int count_fn(void *arg, const uint8_t *id, size_t idlen, const char *json, size_t len)
{
    (void)id;
    (void)idlen;
    (void)json;
    (void)len;
    (*(int *)arg)++;
    return 0;
}

static void test_scan_and_mget(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "shop", "eu", &a), 0);
    orbit_doc_coll *c = open_coll(a, "d");
    char id[16], js[64];
    for (int i = 0; i < 12; i++) {
        snprintf(id, sizeof id, "k%02d", i);
        snprintf(js, sizeof js, "{\"i\":%d,\"s\":{\"t\":\"v%d\"}}", i, i);
        mt_check(orbit_doc_put(NULL, c, S(id), S(js)), 0);
    }
    mt_check(orbit_doc_index_create(c, "by_i", "$.i"), 0); /* index entries are not documents */
    int n = 0;
    mt_check(orbit_doc_scan(NULL, c, NULL, 0, 0, count_fn, &n), 0);
    assert_int_equal(n, 12);
    n = 0;
    mt_check(orbit_doc_scan(NULL, c, S("k05"), 3, count_fn, &n), 0);
    assert_int_equal(n, 3);

    const void *ids[3] = {"k01", "zz", "k11"};
    size_t lens[3] = {3, 2, 3};
    orbit_buf outs[3] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    int st[3];
    mt_check(orbit_doc_mget(NULL, c, 3, ids, lens, "$.s.t", outs, st), 0);
    assert_int_equal(st[0], 0);
    assert_int_equal(st[1], ORBIT_NOTFOUND);
    assert_int_equal(st[2], 0);
    assert_json(&outs[0], "[\"v1\"]");
    assert_json(&outs[2], "[\"v11\"]");
    mt_check(orbit_doc_mget(NULL, c, 3, ids, lens, NULL, outs, st), 0);
    assert_json(&outs[0], "{\"i\":1,\"s\":{\"t\":\"v1\"}}");
    for (int i = 0; i < 3; i++)
        orbit_buf_release(&outs[i]);
    orbit_doc_coll_close(c);
    orbit_actor_close(a);
    mt_close(&s);
}

/* RFC 7396, appendix A. */
static void test_merge_patch_rfc(void **state)
{
    (void)state;
    static const char *const cases[][3] = {
        {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
        {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
        {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
        {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
        {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
        {"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
        {"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
        {"{\"a\":\"foo\"}", "null", NULL}, /* null: the document goes */
        {"{\"a\":\"foo\"}", "\"bar\"", "\"bar\""},
        {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
        {"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
        {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
    };
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "u", "1", &a), 0);
    orbit_doc_coll *c = open_coll(a, "m");
    orbit_buf v = ORBIT_BUF_INIT;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mt_check(orbit_doc_put(NULL, c, S("d"), S(cases[i][0])), 0);
        size_t m = 0;
        mt_check(orbit_doc_merge(NULL, c, S("d"), NULL, S(cases[i][1]), &m), 0);
        if (cases[i][2]) {
            mt_check(orbit_doc_get(NULL, c, S("d"), &v), 0);
            assert_json(&v, cases[i][2]);
        } else {
            mt_check(orbit_doc_get(NULL, c, S("d"), &v), ORBIT_NOTFOUND);
        }
    }
    /* an absent document is patched from null; a merge at a path */
    mt_check(orbit_doc_merge(NULL, c, S("new"), "$", S("{\"a\":{\"b\":1}}"), NULL), 0);
    size_t m = 0;
    mt_check(orbit_doc_merge(NULL, c, S("new"), "$.a", S("{\"c\":2,\"b\":null}"), &m), 0);
    assert_int_equal(m, 1);
    mt_check(orbit_doc_get(NULL, c, S("new"), &v), 0);
    assert_json(&v, "{\"a\":{\"c\":2}}");
    mt_check(orbit_doc_merge(NULL, c, S("none"), "$.a", S("{}"), NULL), ORBIT_NOTFOUND);
    orbit_buf_release(&v);
    orbit_doc_coll_close(c);
    orbit_actor_close(a);
    mt_close(&s);
}

static const char DOC[] = "{\"a\":{\"b\":[1,2,{\"c\":\"x\"}]},\"k y\":true,\"n\":null,"
                          "\"c\":{\"c\":3}}";

static void test_path_reads(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"$", "[" "{\"a\":{\"b\":[1,2,{\"c\":\"x\"}]},\"k y\":true,\"n\":null,\"c\":{\"c\":3}}" "]"},
        {"$.a.b[0]", "[1]"},
        {"$.a.b[-1].c", "[\"x\"]"},
        {"$.a.b[-4]", "[]"},
        {"$.a.b[3]", "[]"},
        {"$['k y']", "[true]"},
        {"$[\"a\"][\"b\"][1]", "[2]"},
        {"$.a.b[*]", "[1,2,{\"c\":\"x\"}]"},
        {"$.*", "[{\"b\":[1,2,{\"c\":\"x\"}]},true,null,{\"c\":3}]"},
        {"$..c", "[{\"c\":3},\"x\",3]"},
        {"$.missing", "[]"},
        {"$.n", "[null]"},
        {".a.b[1]", "[2]"},
        {"a.b[0]", "[1]"},
        {".", "[" "{\"a\":{\"b\":[1,2,{\"c\":\"x\"}]},\"k y\":true,\"n\":null,\"c\":{\"c\":3}}" "]"},
    };
    static const char *const bad[] = {"", "$.", "$[", "$.a[x]", "$['a", "$a", "$.a]", "$[1",
                                      "$.a b", "$['\\q']"};
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "u", "1", &a), 0);
    orbit_doc_coll *c = open_coll(a, "p");
    mt_check(orbit_doc_put(NULL, c, S("d"), S(DOC)), 0);
    orbit_buf v = ORBIT_BUF_INIT;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mt_check(orbit_doc_get_path(NULL, c, S("d"), cases[i][0], &v), 0);
        assert_json(&v, cases[i][1]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        mt_check(orbit_doc_get_path(NULL, c, S("d"), bad[i], &v), ORBIT_EINVAL);
    assert_non_null(strstr(orbit_last_error_detail(), "position"));
    mt_check(orbit_doc_get_path(NULL, c, S("nope"), "$", &v), ORBIT_NOTFOUND);

    mt_check(orbit_doc_type(NULL, c, S("d"), "$.a.b[*]", &v), 0);
    assert_json(&v, "[\"integer\",\"integer\",\"object\"]");
    mt_check(orbit_doc_type(NULL, c, S("d"), "$.*", &v), 0);
    assert_json(&v, "[\"object\",\"boolean\",\"null\",\"object\"]");
    mt_check(orbit_doc_obj_keys(NULL, c, S("d"), "$", &v), 0);
    assert_json(&v, "[[\"a\",\"k y\",\"n\",\"c\"]]");
    mt_check(orbit_doc_obj_keys(NULL, c, S("d"), "$.a.b[*]", &v), 0);
    assert_json(&v, "[null,null,[\"c\"]]");
    orbit_buf_release(&v);
    orbit_doc_coll_close(c);
    orbit_actor_close(a);
    mt_close(&s);
}

static void test_path_writes(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "u", "1", &a), 0);
    orbit_doc_coll *c = open_coll(a, "w");
    orbit_buf v = ORBIT_BUF_INIT;
    size_t n = 9;

    /* non-root on an absent document; root creates */
    mt_check(orbit_doc_set(NULL, c, S("d"), "$.a", S("1"), ORBIT_DOC_ALWAYS, &n), ORBIT_NOTFOUND);
    mt_check(orbit_doc_set(NULL, c, S("d"), "$", S("{\"a\":{\"b\":[1,2]}}"), ORBIT_DOC_XX, &n), 0);
    assert_int_equal(n, 0);
    mt_check(orbit_doc_get(NULL, c, S("d"), &v), ORBIT_NOTFOUND);
    mt_check(orbit_doc_set(NULL, c, S("d"), "$", S("{\"a\":{\"b\":[1,2]}}"), ORBIT_DOC_NX, &n), 0);
    assert_int_equal(n, 1);
    mt_check(orbit_doc_set(NULL, c, S("d"), "$", S("{}"), ORBIT_DOC_NX, &n), 0);
    assert_int_equal(n, 0);

    /* the last member is created; missing parents and indexes are errors */
    mt_check(orbit_doc_set(NULL, c, S("d"), "$.a.new", S("\"v\""), ORBIT_DOC_ALWAYS, &n), 0);
    assert_int_equal(n, 1);
    mt_check(orbit_doc_set(NULL, c, S("d"), "$.x.y", S("1"), ORBIT_DOC_ALWAYS, &n), ORBIT_EINVAL);
    mt_check(orbit_doc_set(NULL, c, S("d"), "$.a.b[5]", S("1"), ORBIT_DOC_ALWAYS, &n), ORBIT_EINVAL);
    mt_check(orbit_doc_set(NULL, c, S("d"), "$.a.b.z", S("1"), ORBIT_DOC_ALWAYS, &n), ORBIT_EINVAL);
    mt_check(orbit_doc_set(NULL, c, S("d"), "$.a.b[0]", S("{bad"), ORBIT_DOC_ALWAYS, &n), ORBIT_EINVAL);
    mt_check(orbit_doc_set(NULL, c, S("d"), "$.a.b[-1]", S("20"), ORBIT_DOC_ALWAYS, &n), 0);
    mt_check(orbit_doc_set(NULL, c, S("d"), "$.a.new", S("0"), ORBIT_DOC_NX, &n), 0);
    assert_int_equal(n, 0);
    mt_check(orbit_doc_set(NULL, c, S("d"), "$.a.other", S("0"), ORBIT_DOC_XX, &n), 0);
    assert_int_equal(n, 0);
    mt_check(orbit_doc_set(NULL, c, S("d"), "$.zz[*]", S("0"), ORBIT_DOC_ALWAYS, &n), 0);
    assert_int_equal(n, 0);
    mt_check(orbit_doc_get(NULL, c, S("d"), &v), 0);
    assert_json(&v, "{\"a\":{\"b\":[1,20],\"new\":\"v\"}}");
    mt_check(orbit_doc_set(NULL, c, S("d"), "$.a.b[*]", S("7"), ORBIT_DOC_ALWAYS, &n), 0);
    assert_int_equal(n, 2);

    /* increments */
    mt_check(orbit_doc_put(NULL, c, S("n"), S("{\"i\":1,\"r\":1.5,\"s\":\"x\",\"l\":[1,2]}")), 0);
    mt_check(orbit_doc_num_incr(NULL, c, S("n"), "$.i", S("2"), &v), 0);
    assert_json(&v, "[3]");
    mt_check(orbit_doc_num_incr(NULL, c, S("n"), "$.*", S("0.5"), &v), 0);
    assert_json(&v, "[3.5,2.0,null,null]");
    mt_check(orbit_doc_num_incr(NULL, c, S("n"), "$.i", S("\"x\""), &v), ORBIT_EINVAL);
    mt_check(orbit_doc_put(NULL, c, S("big"), S("{\"i\":9223372036854775807}")), 0);
    mt_check(orbit_doc_num_incr(NULL, c, S("big"), "$.i", S("1"), &v), ORBIT_EINVAL);

    /* appends */
    const char *vals[2] = {"3", "{\"o\":1}"};
    size_t lens[2] = {1, 7};
    mt_check(orbit_doc_arr_append(NULL, c, S("n"), "$.l", 2, vals, lens, &v), 0);
    assert_json(&v, "[4]");
    mt_check(orbit_doc_arr_append(NULL, c, S("n"), "$.s", 1, vals, lens, &v), 0);
    assert_json(&v, "[null]");
    mt_check(orbit_doc_get_path(NULL, c, S("n"), "$.l", &v), 0);
    assert_json(&v, "[[1,2,3,{\"o\":1}]]");

    /* deletes */
    mt_check(orbit_doc_del_path(NULL, c, S("n"), "$.l[*]", &n), 0);
    assert_int_equal(n, 4);
    mt_check(orbit_doc_del_path(NULL, c, S("n"), "$.nothing", &n), 0);
    assert_int_equal(n, 0);
    mt_check(orbit_doc_get(NULL, c, S("n"), &v), 0);
    assert_json(&v, "{\"i\":3.5,\"r\":2.0,\"s\":\"x\",\"l\":[]}");
    mt_check(orbit_doc_put(NULL, c, S("deep"), S("{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":2},3]}")), 0);
    mt_check(orbit_doc_del_path(NULL, c, S("deep"), "$..a", &n), 0);
    mt_check(orbit_doc_get(NULL, c, S("deep"), &v), 0);
    assert_json(&v, "{\"b\":[{},3]}");
    mt_check(orbit_doc_del_path(NULL, c, S("deep"), "$", &n), 0);
    assert_int_equal(n, 1);
    mt_check(orbit_doc_get(NULL, c, S("deep"), &v), ORBIT_NOTFOUND);
    mt_check(orbit_doc_del_path(NULL, c, S("deep"), "$", &n), 0);
    assert_int_equal(n, 0);

    /* an error inside a caller's transaction leaves it usable */
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_doc_set(tx, c, S("n"), "$.q.r", S("1"), ORBIT_DOC_ALWAYS, &n), ORBIT_EINVAL);
    mt_check(orbit_doc_set(tx, c, S("n"), "$.q", S("1"), ORBIT_DOC_ALWAYS, &n), 0);
    mt_check(orbit_tx_commit(tx), 0);
    mt_check(orbit_doc_get_path(NULL, c, S("n"), "$.q", &v), 0);
    assert_json(&v, "[1]");

    orbit_buf_release(&v);
    orbit_doc_coll_close(c);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- indexes -------------------------------------------------------- */

typedef struct idlist {
    char ids[64][16];
    int n;
} idlist;

static int collect_ids(void *arg, const uint8_t *id, size_t idlen, const char *json, size_t len)
{
    (void)json;
    (void)len;
    idlist *l = arg;
    if (l->n < 64 && idlen < 16) {
        memcpy(l->ids[l->n], id, idlen);
        l->ids[l->n][idlen] = '\0';
        l->n++;
    }
    return 0;
}

static void expect_ids(idlist *l, const char *want)
{
    char got[1024] = "";
    for (int i = 0; i < l->n; i++) {
        if (i)
            strcat(got, ",");
        strcat(got, l->ids[i]);
    }
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "ids got \"%s\" want \"%s\"\n", got, want);
        fail();
    }
    l->n = 0;
}

static void test_indexes(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "u", "1", &a), 0);
    orbit_doc_coll *c = open_coll(a, "people");
    mt_check(orbit_doc_put(NULL, c, S("p1"), S("{\"age\":30,\"city\":\"Oslo\",\"vip\":true}")), 0);
    mt_check(orbit_doc_put(NULL, c, S("p2"), S("{\"age\":25.5,\"city\":\"Rome\"}")), 0);
    mt_check(orbit_doc_put(NULL, c, S("p3"), S("{\"city\":\"Oslo\"}")), 0);          /* no age */
    mt_check(orbit_doc_put(NULL, c, S("p4"), S("{\"age\":\"old\",\"city\":null}")), 0); /* string */
    /* backfill over existing documents */
    mt_check(orbit_doc_index_create(c, "age", "$.age"), 0);
    mt_check(orbit_doc_index_create(c, "city", "$.city"), 0);
    mt_check(orbit_doc_index_create(c, "vip", "$['vip']"), 0);
    mt_check(orbit_doc_index_create(c, "age", "$.age"), ORBIT_EEXIST);
    mt_check(orbit_doc_index_create(c, "w", "$.a[*]"), ORBIT_EINVAL);
    mt_check(orbit_doc_index_create(c, "w", "$"), ORBIT_EINVAL);
    /* maintained by writes after */
    mt_check(orbit_doc_put(NULL, c, S("p5"), S("{\"age\":30,\"city\":\"Paris\"}")), 0);
    mt_check(orbit_doc_put(NULL, c, S("p6"), S("{\"age\":40}")), 0);

    idlist l = {0};
    mt_check(orbit_doc_index_find(NULL, c, "age", S("30"), 0, collect_ids, &l), 0);
    expect_ids(&l, "p1,p5");
    mt_check(orbit_doc_index_find(NULL, c, "age", S("30.0"), 0, collect_ids, &l), 0);
    expect_ids(&l, "p1,p5");
    mt_check(orbit_doc_index_find(NULL, c, "age", S("\"old\""), 0, collect_ids, &l), 0);
    expect_ids(&l, "p4");
    mt_check(orbit_doc_index_find(NULL, c, "city", S("\"Oslo\""), 0, collect_ids, &l), 0);
    expect_ids(&l, "p1,p3");
    mt_check(orbit_doc_index_find(NULL, c, "vip", S("true"), 0, collect_ids, &l), 0);
    expect_ids(&l, "p1");
    mt_check(orbit_doc_index_find(NULL, c, "age", S("30"), 1, collect_ids, &l), 0);
    expect_ids(&l, "p1");

    orbit_doc_range r = {0};
    r.lo = "25.5";
    r.lo_len = 4;
    r.hi = "40";
    r.hi_len = 2;
    r.hi_excl = 1;
    mt_check(orbit_doc_index_range(NULL, c, "age", &r, 0, collect_ids, &l), 0);
    expect_ids(&l, "p2,p1,p5");
    r.lo_excl = 1;
    r.hi_excl = 0;
    mt_check(orbit_doc_index_range(NULL, c, "age", &r, 0, collect_ids, &l), 0);
    expect_ids(&l, "p1,p5,p6");
    orbit_doc_range lo_only = {"26", 2, 0, NULL, 0, 0}; /* numbers only, no strings */
    mt_check(orbit_doc_index_range(NULL, c, "age", &lo_only, 0, collect_ids, &l), 0);
    expect_ids(&l, "p1,p5,p6");
    orbit_doc_range str_only = {NULL, 0, 0, "\"zzz\"", 5, 0};
    mt_check(orbit_doc_index_range(NULL, c, "city", &str_only, 0, collect_ids, &l), 0);
    expect_ids(&l, "p1,p3,p5,p2");
    mt_check(orbit_doc_index_range(NULL, c, "age", NULL, 0, collect_ids, &l), 0);
    expect_ids(&l, "p4,p2,p1,p5,p6");
    orbit_doc_range mixed = {"1", 1, 0, "\"a\"", 3, 0};
    mt_check(orbit_doc_index_range(NULL, c, "age", &mixed, 0, collect_ids, &l), ORBIT_EINVAL);
    mt_check(orbit_doc_index_find(NULL, c, "age", S("[1]"), 0, collect_ids, &l), ORBIT_EINVAL);
    mt_check(orbit_doc_index_find(NULL, c, "nope", S("1"), 0, collect_ids, &l), ORBIT_NOTFOUND);

    /* an update moves the entry, a path write too, a delete removes it */
    mt_check(orbit_doc_put(NULL, c, S("p1"), S("{\"age\":31,\"city\":\"Oslo\"}")), 0);
    mt_check(orbit_doc_index_find(NULL, c, "age", S("30"), 0, collect_ids, &l), 0);
    expect_ids(&l, "p5");
    mt_check(orbit_doc_index_find(NULL, c, "vip", S("true"), 0, collect_ids, &l), 0);
    expect_ids(&l, "");
    mt_check(orbit_doc_set(NULL, c, S("p5"), "$.age", S("31"), ORBIT_DOC_ALWAYS, NULL), 0);
    orbit_buf nv = ORBIT_BUF_INIT;
    mt_check(orbit_doc_num_incr(NULL, c, S("p6"), "$.age", S("-9"), &nv), 0);
    assert_json(&nv, "[31]");
    orbit_buf_release(&nv);
    mt_check(orbit_doc_index_find(NULL, c, "age", S("31"), 0, collect_ids, &l), 0);
    expect_ids(&l, "p1,p5,p6");
    mt_check(orbit_doc_delete(NULL, c, S("p5")), 0);
    mt_check(orbit_doc_del_path(NULL, c, S("p6"), "$.age", NULL), 0);
    mt_check(orbit_doc_merge(NULL, c, S("p1"), NULL, S("{\"city\":null}"), NULL), 0);
    mt_check(orbit_doc_index_find(NULL, c, "age", S("31"), 0, collect_ids, &l), 0);
    expect_ids(&l, "p1");
    mt_check(orbit_doc_index_find(NULL, c, "city", S("\"Oslo\""), 0, collect_ids, &l), 0);
    expect_ids(&l, "p3");

    /* inside a transaction, lookups see its writes */
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_doc_put(tx, c, S("p7"), S("{\"age\":31}")), 0);
    mt_check(orbit_doc_index_find(tx, c, "age", S("31"), 0, collect_ids, &l), 0);
    expect_ids(&l, "p1,p7");
    orbit_tx_rollback(tx);
    mt_check(orbit_doc_index_find(NULL, c, "age", S("31"), 0, collect_ids, &l), 0);
    expect_ids(&l, "p1");

    /* drop */
    mt_check(orbit_doc_index_drop(c, "age"), 0);
    mt_check(orbit_doc_index_drop(c, "age"), ORBIT_NOTFOUND);
    mt_check(orbit_doc_index_find(NULL, c, "age", S("31"), 0, collect_ids, &l), ORBIT_NOTFOUND);
    orbit_buf d = ORBIT_BUF_INIT;
    mt_check(orbit_doc_coll_describe(c, &d), 0);
    assert_json(&d, "{\"indexes\":[{\"name\":\"city\",\"path\":\"$.city\",\"state\":\"ready\"},"
                    "{\"name\":\"vip\",\"path\":\"$['vip']\",\"state\":\"ready\"}],\"refs\":[]}");
    orbit_buf_release(&d);
    orbit_doc_coll_close(c);
    orbit_actor_close(a);
    mt_close(&s);
}

/* A definition changed by another handle while a transaction writes
 * through a stale one: the commit conflicts, the retry maintains the new
 * index. */
static void test_definition_changed_under_writer(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "u", "1", &a), 0);
    orbit_doc_coll *h1 = open_coll(a, "c"), *h2 = open_coll(a, "c");
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_doc_put(tx, h1, S("d1"), S("{\"k\":1}")), 0);
    mt_check(orbit_doc_index_create(h2, "k", "$.k"), 0);
    mt_check(orbit_tx_commit(tx), ORBIT_ECONFLICT);
    /* h1's cache was refreshed: the retried write is indexed */
    mt_check(orbit_doc_put(NULL, h1, S("d1"), S("{\"k\":1}")), 0);
    idlist l = {0};
    mt_check(orbit_doc_index_find(NULL, h2, "k", S("1"), 0, collect_ids, &l), 0);
    expect_ids(&l, "d1");

    /* dropped under a writer: a constraint failure */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_doc_put(tx, h1, S("d2"), S("{\"k\":2}")), 0);
    mt_check(orbit_doc_coll_drop(NULL, a, "c"), 0);
    mt_check(orbit_tx_commit(tx), ORBIT_ECONSTRAINT);
    assert_non_null(strstr(orbit_last_error_detail(), "dropped"));
    mt_check(orbit_doc_put(NULL, h1, S("d3"), S("{}")), ORBIT_NOTFOUND);
    orbit_doc_coll_close(h1);
    orbit_doc_coll_close(h2);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- references ----------------------------------------------------- */

/* A row of table `table` with a one-string-column key, written as the
 * relational model stores it (BRIEF: row keys), without its code. */
static void put_row(orbit_actor *a, const char *table, const char *pk)
{
    uint64_t tid;
    mt_check(orbit_actor_object_id(a, ORBIT_CATALOG_TABLE, table, 1, &tid), 0);
    orbit_buf k = ORBIT_BUF_INIT, key = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT;
    mt_check(orbit_tuple_str(&k, pk), 0);
    mt_check(orbit_key_row(&key, orbit_actor_keyspace(a), tid, k.data, k.len), 0);
    mt_check(orbit_actor_record(a, ORBIT_MODEL_REL, 1, 0, key.data, key.len, (const uint8_t *)"r",
                                1, &rec),
             0);
    mt_check(orbit_kv_put(orbit_actor_store(a), key.data, key.len, rec.data, rec.len), 0);
    orbit_buf_release(&k);
    orbit_buf_release(&key);
    orbit_buf_release(&rec);
}

static void test_references(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "shop", "eu", &a), 0);
    orbit_doc_coll *c = open_coll(a, "orders");
    mt_check(orbit_doc_ref_add(c, "customer", "$.customer", "customers"), ORBIT_NOTFOUND);
    put_row(a, "customers", "c1");
    mt_check(orbit_doc_ref_add(c, "customer", "$.customer", "customers"), 0);
    mt_check(orbit_doc_ref_add(c, "customer", "$.x", "customers"), ORBIT_EEXIST);
    mt_check(orbit_doc_ref_add(c, "bad", "$..x", "customers"), ORBIT_EINVAL);

    mt_check(orbit_doc_put(NULL, c, S("o1"), S("{\"customer\":\"c1\"}")), 0);
    mt_check(orbit_doc_put(NULL, c, S("o2"), S("{\"customer\":\"c9\"}")), ORBIT_ECONSTRAINT);
    assert_non_null(strstr(orbit_last_error_detail(),
                           "reference orders.customer ($.customer) -> customers: row 'c9' does "
                           "not exist"));
    orbit_buf v = ORBIT_BUF_INIT;
    mt_check(orbit_doc_get(NULL, c, S("o2"), &v), ORBIT_NOTFOUND);
    mt_check(orbit_doc_put(NULL, c, S("o3"), S("{\"customer\":null}")), 0); /* null: no reference */
    mt_check(orbit_doc_put(NULL, c, S("o4"), S("{\"other\":1}")), 0);
    mt_check(orbit_doc_put(NULL, c, S("o5"), S("{\"customer\":{\"id\":1}}")), ORBIT_EINVAL);
    mt_check(orbit_doc_set(NULL, c, S("o1"), "$.customer", S("\"c2\""), ORBIT_DOC_ALWAYS, NULL),
             ORBIT_ECONSTRAINT);

    /* a violation aborts the whole transaction */
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_doc_put(tx, c, S("t1"), S("{\"customer\":\"c1\"}")), 0);
    mt_check(orbit_doc_put(tx, c, S("t2"), S("{\"customer\":\"c7\"}")), 0);
    mt_check(orbit_tx_commit(tx), ORBIT_ECONSTRAINT);
    mt_check(orbit_doc_get(NULL, c, S("t1"), &v), ORBIT_NOTFOUND);
    /* the row created in the same transaction satisfies it */
    put_row(a, "customers", "c7");
    mt_check(orbit_doc_put(NULL, c, S("t2"), S("{\"customer\":\"c7\"}")), 0);

    mt_check(orbit_doc_ref_drop(c, "customer"), 0);
    mt_check(orbit_doc_ref_drop(c, "customer"), ORBIT_NOTFOUND);
    mt_check(orbit_doc_put(NULL, c, S("o2"), S("{\"customer\":\"c9\"}")), 0);
    orbit_buf_release(&v);
    orbit_doc_coll_close(c);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- costs ---------------------------------------------------------- */

static int is_etcd(const orbit_kv *kv)
{
    orbit_capabilities caps;
    orbit_kv_capabilities(kv, &caps);
    return strcmp(caps.name, "etcd") == 0;
}

static void test_costs(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    int small = is_etcd(s.kv);
    orbit_actor *a, *b;
    mt_check(orbit_actor_open(s.kv, "shop", "eu", &a), 0);
    mt_check(orbit_actor_open(s.kv, "shop", "us", &b), 0);
    orbit_doc_coll *c = open_coll(a, "orders"), *other = open_coll(a, "other"),
                   *far = open_coll(b, "orders");
    mt_check(orbit_doc_index_create(c, "st", "$.st"), 0);
    mt_check(orbit_doc_index_create(other, "st", "$.st"), 0);
    mt_check(orbit_doc_index_create(far, "st", "$.st"), 0);
    /* much more unrelated data: other collections, other actors, plain keys */
    int n_other = small ? 40 : 400;
    char id[32], js[64];
    orbit_doc_coll *fill[2] = {other, far};
    for (int f = 0; f < 2; f++) {
        for (int i = 0; i < n_other; i += 20) { /* etcd: at most 126 keys a transaction */
            orbit_tx *tx;
            mt_check(orbit_tx_begin(NULL, &tx), 0);
            for (int j = i; j < i + 20 && j < n_other; j++) {
                snprintf(id, sizeof id, "x%04d", j);
                snprintf(js, sizeof js, "{\"st\":\"open\",\"i\":%d}", j);
                mt_check(orbit_doc_put(tx, fill[f], S(id), S(js)), 0);
            }
            mt_check(orbit_tx_commit(tx), 0);
        }
    }
    for (int i = 0; i < (small ? 50 : 2000); i++) {
        snprintf(id, sizeof id, "plain%05d", i);
        mt_check(orbit_kv_put(s.kv, (const uint8_t *)id, strlen(id), (const uint8_t *)"v", 1), 0);
    }
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "o%02d", i);
        snprintf(js, sizeof js, "{\"st\":\"%s\",\"i\":%d}", i % 5 == 0 ? "open" : "done", i);
        mt_check(orbit_doc_put(NULL, c, S(id), S(js)), 0);
    }
    orbit_capabilities caps;
    orbit_kv_capabilities(s.kv, &caps);

    mt_counter m;
    orbit_buf v = ORBIT_BUF_INIT;
    mt_stats_reset(s.kv, &m);
    mt_check(orbit_doc_get(NULL, c, S("o03"), &v), 0);
    orbit_kv_stats d = mt_stats_delta(s.kv, &m);
    assert_int_equal(d.keys_read, 1);
    assert_int_equal(d.read_calls, 1);

    mt_stats_reset(s.kv, &m);
    mt_check(orbit_doc_get_path(NULL, c, S("o03"), "$.i", &v), 0);
    d = mt_stats_delta(s.kv, &m);
    assert_int_equal(d.keys_read, 1);
    assert_int_equal(d.read_calls, 1);

    /* index lookup: the meta record, 4 entries, 4 documents in one multi-get */
    idlist l = {0};
    mt_stats_reset(s.kv, &m);
    mt_check(orbit_doc_index_find(NULL, c, "st", S("\"open\""), 0, collect_ids, &l), 0);
    d = mt_stats_delta(s.kv, &m);
    expect_ids(&l, "o00,o05,o10,o15");
    assert_int_equal(d.keys_read, 1 + 4 + 4);
    assert_int_equal(d.multi_gets, 1);
    assert_int_equal(d.read_calls, caps.native_multi_get ? 3 : 2 + 4);

    /* multi-get */
    const void *ids[3] = {"o01", "o02", "nope"};
    size_t lens[3] = {3, 3, 4};
    orbit_buf outs[3] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    int st[3];
    mt_stats_reset(s.kv, &m);
    mt_check(orbit_doc_mget(NULL, c, 3, ids, lens, NULL, outs, st), 0);
    d = mt_stats_delta(s.kv, &m);
    assert_int_equal(d.multi_gets, 1);
    assert_int_equal(d.keys_read, 2);
    for (int i = 0; i < 3; i++)
        orbit_buf_release(&outs[i]);

    /* a write with one index: the old document, then the meta record at
     * commit (latest, and inside the transaction) */
    mt_stats_reset(s.kv, &m);
    mt_check(orbit_doc_put(NULL, c, S("o01"), S("{\"st\":\"open\"}")), 0);
    d = mt_stats_delta(s.kv, &m);
    assert_int_equal(d.keys_read, 3);

    orbit_buf_release(&v);
    orbit_doc_coll_close(c);
    orbit_doc_coll_close(other);
    orbit_doc_coll_close(far);
    orbit_actor_close(a);
    orbit_actor_close(b);
    mt_close(&s);
}

/* ---- randomized, against an oracle ---------------------------------- */

static uint64_t rng_state;
static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((rng_state >> 33) % n);
}

static const char *const TAGS[] = {"red", "green", "blue"};

static json_t *random_doc(void)
{
    json_t *d = json_object();
    if (rnd(4))
        json_object_set_new(d, "n", json_integer((json_int_t)rnd(10)));
    if (rnd(3))
        json_object_set_new(d, "tag", json_string(TAGS[rnd(3)]));
    if (rnd(2)) {
        json_t *arr = json_array();
        for (unsigned i = rnd(3); i > 0; i--)
            json_array_append_new(arr, json_integer((json_int_t)rnd(5)));
        json_object_set_new(d, "l", arr);
    }
    return d;
}

static void put_text(json_t *v, orbit_buf *out)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    orbit_buf_set(out, s, strlen(s));
    free(s);
}

static void test_random_vs_oracle(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    int small = is_etcd(s.kv);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "r", "1", &a), 0);
    orbit_doc_coll *c = open_coll(a, "rand");
    mt_check(orbit_doc_index_create(c, "n", "$.n"), 0);
    mt_check(orbit_doc_index_create(c, "tag", "$.tag"), 0);
    enum { IDS = 12 };
    json_t *oracle[IDS] = {0};
    rng_state = 42;
    int ops = small ? 120 : 600;
    orbit_buf txt = ORBIT_BUF_INIT, v = ORBIT_BUF_INIT;
    for (int op = 0; op < ops; op++) {
        unsigned i = rnd(IDS);
        char id[8];
        snprintf(id, sizeof id, "d%u", i);
        switch (rnd(6)) {
        case 0: { /* put */
            json_t *d = random_doc();
            put_text(d, &txt);
            mt_check(orbit_doc_put(NULL, c, S(id), (char *)txt.data, txt.len), 0);
            json_decref(oracle[i]);
            oracle[i] = d;
            break;
        }
        case 1: /* delete */
            mt_check(orbit_doc_delete(NULL, c, S(id)), oracle[i] ? 0 : ORBIT_NOTFOUND);
            json_decref(oracle[i]);
            oracle[i] = NULL;
            break;
        case 2: { /* set a top-level member */
            json_int_t x = (json_int_t)rnd(10);
            char val[16];
            snprintf(val, sizeof val, "%d", (int)x);
            int rc = orbit_doc_set(NULL, c, S(id), "$.n", S(val), ORBIT_DOC_ALWAYS, NULL);
            if (!oracle[i]) {
                mt_check(rc, ORBIT_NOTFOUND);
            } else {
                mt_check(rc, 0);
                json_object_set_new(oracle[i], "n", json_integer(x));
            }
            break;
        }
        case 3: { /* delete a member */
            size_t nd;
            mt_check(orbit_doc_del_path(NULL, c, S(id), "$.tag", &nd), 0);
            int had = oracle[i] && json_object_get(oracle[i], "tag");
            assert_int_equal(nd, had ? 1 : 0);
            if (had)
                json_object_del(oracle[i], "tag");
            break;
        }
        case 4: { /* merge a tag and maybe drop n */
            const char *tag = TAGS[rnd(3)];
            int dropn = rnd(2);
            char patch[64];
            snprintf(patch, sizeof patch, "{\"tag\":\"%s\"%s}", tag, dropn ? ",\"n\":null" : "");
            mt_check(orbit_doc_merge(NULL, c, S(id), NULL, S(patch), NULL), 0);
            if (!oracle[i])
                oracle[i] = json_object();
            json_object_set_new(oracle[i], "tag", json_string(tag));
            if (dropn)
                json_object_del(oracle[i], "n");
            break;
        }
        case 5: { /* increment n */
            int rc = orbit_doc_num_incr(NULL, c, S(id), "$.n", S("1"), &v);
            if (!oracle[i]) {
                mt_check(rc, ORBIT_NOTFOUND);
                break;
            }
            mt_check(rc, 0);
            json_t *n = json_object_get(oracle[i], "n");
            if (json_is_integer(n))
                json_object_set_new(oracle[i], "n", json_integer(json_integer_value(n) + 1));
            break;
        }
        }
    }
    /* every document equals the oracle */
    for (unsigned i = 0; i < IDS; i++) {
        char id[8];
        snprintf(id, sizeof id, "d%u", i);
        int rc = orbit_doc_get(NULL, c, S(id), &v);
        if (!oracle[i]) {
            mt_check(rc, ORBIT_NOTFOUND);
            continue;
        }
        mt_check(rc, 0);
        json_error_t e;
        json_t *got = json_loadb((char *)v.data, v.len, 0, &e);
        assert_true(json_equal(got, oracle[i]));
        json_decref(got);
    }
    /* every index answer equals the oracle's */
    for (int x = 0; x < 14; x++) {
        char val[8];
        snprintf(val, sizeof val, "%d", x);
        idlist l = {0};
        mt_check(orbit_doc_index_find(NULL, c, "n", S(val), 0, collect_ids, &l), 0);
        /* compared as sets (ids come in byte order: "d10" < "d2") */
        int count_want = 0;
        for (unsigned i = 0; i < IDS; i++) {
            json_t *n = oracle[i] ? json_object_get(oracle[i], "n") : NULL;
            if (n && json_integer_value(n) == x) {
                count_want++;
                char id[8];
                snprintf(id, sizeof id, "d%u", i);
                int found = 0;
                for (int k = 0; k < l.n; k++)
                    found |= strcmp(l.ids[k], id) == 0;
                assert_true(found);
            }
        }
        assert_int_equal(l.n, count_want);
    }
    for (int t = 0; t < 3; t++) {
        char val[16];
        snprintf(val, sizeof val, "\"%s\"", TAGS[t]);
        idlist l = {0};
        mt_check(orbit_doc_index_find(NULL, c, "tag", S(val), 0, collect_ids, &l), 0);
        int want = 0;
        for (unsigned i = 0; i < IDS; i++) {
            const char *tg = oracle[i] ? json_string_value(json_object_get(oracle[i], "tag")) : NULL;
            want += tg && strcmp(tg, TAGS[t]) == 0;
        }
        assert_int_equal(l.n, want);
    }
    for (unsigned i = 0; i < IDS; i++)
        json_decref(oracle[i]);
    orbit_buf_release(&txt);
    orbit_buf_release(&v);
    orbit_doc_coll_close(c);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- an index created while writers write --------------------------- */

typedef struct writer {
    orbit_doc_coll *c;
    int no, n;
    int failed;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    char id[16], js[48];
    for (int i = 0; i < w->n; i++) {
        snprintf(id, sizeof id, "w%d-%d", w->no, i % 15);
        snprintf(js, sizeof js, "{\"v\":%d,\"w\":%d}", (i * 7 + w->no) % 5, w->no);
        int rc = (i % 6 == 5) ? orbit_doc_delete(NULL, w->c, S(id)) : orbit_doc_put(NULL, w->c, S(id), S(js));
        if (rc < 0) {
            fprintf(stderr, "writer %d: %s: %s\n", w->no, orbit_strerror(rc), orbit_last_error_detail());
            w->failed = 1;
        }
    }
    return NULL;
}

typedef struct vcount {
    int n;
    double v;
    int bad;
} vcount;

static int check_value_fn(void *arg, const uint8_t *id, size_t idlen, const char *json, size_t len)
{
    (void)id;
    (void)idlen;
    vcount *c = arg;
    json_error_t e;
    json_t *d = json_loadb(json, len, 0, &e);
    json_t *v = json_object_get(d, "v");
    if (!json_is_number(v) || json_number_value(v) != c->v)
        c->bad++;
    c->n++;
    json_decref(d);
    return 0;
}

static void test_index_built_during_writes(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    int small = is_etcd(s.kv);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "u", "1", &a), 0);
    orbit_doc_coll *wc = open_coll(a, "live"), *ic = open_coll(a, "live");
    char id[16];
    for (int i = 0; i < 40; i++) { /* populated before the build */
        snprintf(id, sizeof id, "pre%02d", i);
        mt_check(orbit_doc_put(NULL, wc, S(id), S("{\"v\":1}")), 0);
    }
    enum { W = 2 };
    writer w[W];
    pthread_t th[W];
    for (int i = 0; i < W; i++) {
        w[i] = (writer){wc, i, small ? 40 : 200, 0};
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    mt_check(orbit_doc_index_create(ic, "v", "$.v"), 0);
    for (int i = 0; i < W; i++) {
        pthread_join(th[i], NULL);
        assert_false(w[i].failed);
    }
    /* every document against the index, and the index against every document */
    int docs_with_v = 0;
    mt_check(orbit_doc_scan(NULL, ic, NULL, 0, 0, count_fn, &docs_with_v), 0);
    int entries = 0;
    for (int v = 0; v < 5; v++) {
        char val[4];
        snprintf(val, sizeof val, "%d", v);
        vcount c = {0, v, 0};
        mt_check(orbit_doc_index_find(NULL, ic, "v", S(val), 0, check_value_fn, &c), 0);
        assert_int_equal(c.bad, 0);
        entries += c.n;
    }
    assert_int_equal(entries, docs_with_v); /* every document has v: one entry each */
    /* no stale entry: a range over everything counts the same */
    orbit_doc_range r = {"0", 1, 0, "4", 1, 0};
    int n_range = 0;
    mt_check(orbit_doc_index_range(NULL, ic, "v", &r, 0, count_fn, &n_range), 0);
    assert_int_equal(n_range, docs_with_v);
    orbit_doc_coll_close(wc);
    orbit_doc_coll_close(ic);
    orbit_actor_close(a);
    mt_close(&s);
}

/* Listeners hear of committed writes, with the model, never of a
 * rolled-back one. */
static int notified;
static unsigned last_models;
static char last_actor[16];

static void on_commit(void *arg, const orbit_tx_change *ch, size_t n, uint64_t v)
{
    (void)arg;
    (void)v;
    notified++;
    last_models = n ? ch[0].models : 0;
    snprintf(last_actor, sizeof last_actor, "%s", n ? ch[0].actor_id : "");
}

static void test_listeners(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "u", "7", &a), 0);
    uint64_t lid;
    orbit_doc_coll *c = open_coll(a, "n");
    mt_check(orbit_tx_listen(on_commit, NULL, &lid), 0);
    notified = 0;
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_doc_put(tx, c, S("d"), S("{}")), 0);
    orbit_tx_rollback(tx);
    assert_int_equal(notified, 0);
    mt_check(orbit_doc_put(NULL, c, S("d"), S("{}")), 0);
    assert_int_equal(notified, 1);
    assert_true(last_models & (1u << ORBIT_MODEL_DOC));
    assert_string_equal(last_actor, "7");
    mt_check(orbit_tx_unlisten(lid), 0);
    orbit_doc_coll_close(c);
    orbit_actor_close(a);
    mt_close(&s);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listeners),
        cmocka_unit_test(test_crud),
        cmocka_unit_test(test_scan_and_mget),
        cmocka_unit_test(test_merge_patch_rfc),
        cmocka_unit_test(test_path_reads),
        cmocka_unit_test(test_path_writes),
        cmocka_unit_test(test_indexes),
        cmocka_unit_test(test_definition_changed_under_writer),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_costs),
        cmocka_unit_test(test_random_vs_oracle),
        cmocka_unit_test(test_index_built_during_writes),
    };
    return mt_main(argc, argv, tests, sizeof tests / sizeof tests[0]);
}
