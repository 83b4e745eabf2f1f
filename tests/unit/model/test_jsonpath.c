/*
 * Tests of the JSON path parser and evaluator (src/model/jsonpath.c): the
 * segments each accepted form parses to, the legacy form, quoted names
 * with escapes, refused paths with the position named, definiteness, the
 * order of matches, descendants and negative indexes, and the single-value
 * lookup of definite paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "model/jsonpath_int.h"
#include "orbit/error.h"

static void test_parse_forms(void **state)
{
    (void)state;
    orbit__jpath p;
    assert_int_equal(orbit__jpath_parse("$", &p), 0);
    assert_int_equal(p.n, 0);
    assert_true(p.definite);
    orbit__jpath_release(&p);

    assert_int_equal(orbit__jpath_parse("$.a.b_c-1[3]['x y'][-2][\"q\"]", &p), 0);
    assert_int_equal(p.n, 6);
    assert_int_equal(p.segs[0].kind, ORBIT__JP_KEY);
    assert_string_equal(p.segs[0].key, "a");
    assert_string_equal(p.segs[1].key, "b_c-1");
    assert_int_equal(p.segs[2].kind, ORBIT__JP_INDEX);
    assert_int_equal(p.segs[2].index, 3);
    assert_string_equal(p.segs[3].key, "x y");
    assert_int_equal(p.segs[4].index, -2);
    assert_string_equal(p.segs[5].key, "q");
    assert_true(p.definite);
    orbit__jpath_release(&p);

    assert_int_equal(orbit__jpath_parse("$..x[*].*", &p), 0);
    assert_int_equal(p.n, 3);
    assert_true(p.segs[0].desc);
    assert_int_equal(p.segs[1].kind, ORBIT__JP_WILD);
    assert_int_equal(p.segs[2].kind, ORBIT__JP_WILD);
    assert_false(p.definite);
    orbit__jpath_release(&p);

    /* legacy forms */
    assert_int_equal(orbit__jpath_parse(".", &p), 0);
    assert_int_equal(p.n, 0);
    orbit__jpath_release(&p);
    assert_int_equal(orbit__jpath_parse("a.b[0]", &p), 0);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.segs[0].key, "a");
    orbit__jpath_release(&p);
    assert_int_equal(orbit__jpath_parse(".a", &p), 0);
    assert_int_equal(p.n, 1);
    orbit__jpath_release(&p);

    /* escapes in quoted names, UTF-8 kept, \u and surrogate pairs decoded */
    assert_int_equal(orbit__jpath_parse("$['it\\'s \\\"q\\\" \\u00e9 \\ud83d\\ude00 \xc3\xa9']", &p), 0);
    assert_string_equal(p.segs[0].key, "it's \"q\" \xc3\xa9 \xf0\x9f\x98\x80 \xc3\xa9");
    orbit__jpath_release(&p);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",        "$.",     "$[",       "$[]",       "$.a[x]",  "$['a",  "$a",
        "$.a]",    "$[1",    "$.a b",    "$['\\q']",  "$[-]",    "$...a", "$[99999999999999999999]",
        "$['\\u12']", "$['\\ud800']", "$['\\u0000']", "$.a.", "$..",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        orbit__jpath p;
        int rc = orbit__jpath_parse(bad[i], &p);
        if (rc != ORBIT_EINVAL)
            fail_msg("path \"%s\" parsed (%d)", bad[i], rc);
        assert_int_equal(p.n, 0);
        assert_non_null(strstr(orbit_last_error_detail(), "position"));
    }
    orbit__jpath p;
    assert_int_equal(orbit__jpath_parse("$.ab]", &p), ORBIT_EINVAL);
    assert_non_null(strstr(orbit_last_error_detail(), "position 4"));
}

static char *eval_dump(const char *path, json_t *doc)
{
    orbit__jpath p;
    assert_int_equal(orbit__jpath_parse(path, &p), 0);
    orbit__jp_matches m = {0};
    assert_int_equal(orbit__jpath_eval(&p, p.n, doc, &m), 0);
    json_t *arr = json_array();
    for (size_t i = 0; i < m.n; i++)
        json_array_append(arr, m.m[i].value);
    char *s = json_dumps(arr, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(arr);
    orbit__jp_matches_release(&m);
    orbit__jpath_release(&p);
    return s;
}

static void expect(const char *path, json_t *doc, const char *want)
{
    char *got = eval_dump(path, doc);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got %s want %s", path, got, want);
    free(got);
}

static void test_eval(void **state)
{
    (void)state;
    json_error_t e;
    json_t *doc = json_loads("{\"a\":{\"c\":1,\"b\":[10,{\"c\":2},30]},\"c\":3}", 0, &e);
    assert_non_null(doc);
    expect("$", doc, "[{\"a\":{\"c\":1,\"b\":[10,{\"c\":2},30]},\"c\":3}]");
    expect("$.a.b[-1]", doc, "[30]");
    expect("$.a.b[-3]", doc, "[10]");
    expect("$.a.b[-4]", doc, "[]");
    expect("$.a.b[3]", doc, "[]");
    expect("$.a.b[*]", doc, "[10,{\"c\":2},30]");
    expect("$..c", doc, "[3,1,2]");
    expect("$..[0]", doc, "[10]");
    expect("$.a.*", doc, "[1,[10,{\"c\":2},30]]");
    expect("$.c.d", doc, "[]");
    expect("$.c[0]", doc, "[]");

    /* parent and key/index of matches */
    orbit__jpath p;
    assert_int_equal(orbit__jpath_parse("$.a.b[1]", &p), 0);
    orbit__jp_matches m = {0};
    assert_int_equal(orbit__jpath_eval(&p, p.n, doc, &m), 0);
    assert_int_equal(m.n, 1);
    assert_true(json_is_array(m.m[0].parent));
    assert_int_equal(m.m[0].index, 1);
    orbit__jp_matches_release(&m);
    /* the parent of the last segment */
    assert_int_equal(orbit__jpath_eval(&p, p.n - 1, doc, &m), 0);
    assert_int_equal(m.n, 1);
    assert_string_equal(m.m[0].key, "b");
    orbit__jp_matches_release(&m);
    assert_true(json_is_object(orbit__jpath_get1(&p, doc)));
    orbit__jpath_release(&p);

    assert_int_equal(orbit__jpath_parse("$.a.nope", &p), 0);
    assert_null(orbit__jpath_get1(&p, doc));
    orbit__jpath_release(&p);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_eval),
    };
    return cmocka_run_group_tests(tests, 0, 0);
}
