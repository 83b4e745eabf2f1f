/*
 * The cross-model transaction core (orbit/txn.h) and the actor handle
 * (orbit/model.h) on every provider: binding, isolation refusal, commit
 * checks, listeners, the failed flag, the retry helper.
 */
#include <string.h>

#include "mt.h"
#include "orbit/provider.h"

static int notified;
static unsigned last_models;

static void on_commit(void *arg, const orbit_tx_change *c, size_t n, uint64_t v)
{
    (void)arg;
    (void)v;
    notified++;
    last_models = n ? c[0].models : 0;
}

static int put_in(orbit_tx *tx, orbit_actor *a, const char *k, const char *v)
{
    orbit_txn *t;
    int rc = orbit_tx_kv_txn(tx, orbit_actor_store(a), orbit_actor_type(a), orbit_actor_id(a), &t);
    if (rc)
        return rc;
    orbit_buf key = {0};
    orbit_key_kv(&key, orbit_actor_keyspace(a), k, strlen(k));
    rc = orbit_txn_put(t, key.data, key.len, (const uint8_t *)v, strlen(v));
    orbit_buf_release(&key);
    if (!rc)
        rc = orbit_tx_touch(tx, orbit_actor_type(a), orbit_actor_id(a), orbit_actor_keyspace(a),
                            ORBIT_MODEL_KV);
    return rc;
}

static int get_plain(orbit_actor *a, const char *k, orbit_buf *out)
{
    orbit_buf key = {0};
    orbit_key_kv(&key, orbit_actor_keyspace(a), k, strlen(k));
    int rc = orbit_kv_get(orbit_actor_store(a), NULL, key.data, key.len, out);
    orbit_buf_release(&key);
    return rc;
}

static void test_commit_notifies_rollback_does_not(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "user", "42", &a), 0);
    assert_true(orbit_actor_keyspace(a) >= 2);
    uint64_t lid;
    mt_check(orbit_tx_listen(on_commit, NULL, &lid), 0);
    notified = 0;

    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(put_in(tx, a, "k1", "v1"), 0);
    orbit_tx_rollback(tx);
    assert_int_equal(notified, 0);
    orbit_buf v = {0};
    mt_check(get_plain(a, "k1", &v), ORBIT_NOTFOUND);

    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(put_in(tx, a, "k1", "v1"), 0);
    mt_check(orbit_tx_commit(tx), 0);
    assert_int_equal(notified, 1);
    assert_int_equal(last_models, 1u << ORBIT_MODEL_KV);
    mt_check(get_plain(a, "k1", &v), 0);
    assert_memory_equal(v.data, "v1", 2);

    mt_check(orbit_tx_unlisten(lid), 0);
    mt_check(orbit_tx_unlisten(lid), ORBIT_NOTFOUND);
    orbit_buf_release(&v);
    orbit_actor_close(a);
    mt_close(&s);
}

static int failing_check(void *arg, orbit_txn *t)
{
    (void)arg;
    (void)t;
    return orbit_error_set(ORBIT_ECONSTRAINT, "test constraint 'always fails'");
}

static void test_check_aborts_everything(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "user", "7", &a), 0);
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(put_in(tx, a, "x", "1"), 0);
    mt_check(orbit_tx_add_check(tx, failing_check, NULL, NULL, "k", 1), 0);
    mt_check(orbit_tx_add_check(tx, failing_check, NULL, NULL, "k", 1), 0); /* deduplicated */
    mt_check(orbit_tx_commit(tx), ORBIT_ECONSTRAINT);
    assert_non_null(strstr(orbit_last_error_detail(), "always fails"));
    orbit_buf v = {0};
    mt_check(get_plain(a, "x", &v), ORBIT_NOTFOUND);
    orbit_buf_release(&v);
    orbit_actor_close(a);
    mt_close(&s);
}

static void test_failed_tx_cannot_commit(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "user", "8", &a), 0);
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(put_in(tx, a, "x", "1"), 0);
    orbit_tx_fail(tx, ORBIT_EIO);
    orbit_txn *t;
    mt_check(orbit_tx_kv_txn(tx, s.kv, "user", "8", &t), ORBIT_ECLOSED);
    mt_check(orbit_tx_commit(tx), ORBIT_ECLOSED);
    orbit_buf v = {0};
    mt_check(get_plain(a, "x", &v), ORBIT_NOTFOUND);
    orbit_buf_release(&v);
    orbit_actor_close(a);
    mt_close(&s);
}

static void test_two_stores_refused(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_kv *other;
    mt_check(orbit_kv_open("memory:", &other), 0);
    orbit_actor *a, *b;
    mt_check(orbit_actor_open(s.kv, "user", "1", &a), 0);
    mt_check(orbit_actor_open(other, "user", "2", &b), 0);
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(put_in(tx, a, "x", "1"), 0);
    mt_check(put_in(tx, b, "y", "1"), ORBIT_ENOTSUP);
    assert_non_null(strstr(orbit_last_error_detail(), "user/2"));
    orbit_tx_rollback(tx);
    orbit_actor_close(a);
    orbit_actor_close(b);
    orbit_kv_close(other);
    mt_close(&s);
}

static void test_isolation_mapping(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_capabilities caps;
    orbit_kv_capabilities(s.kv, &caps);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "user", "9", &a), 0);
    static const struct { orbit_tx_isolation tl; orbit_isolation cl; } map[] = {
        {ORBIT_TX_READ_COMMITTED, ORBIT_ISO_READ_COMMITTED},
        {ORBIT_TX_REPEATABLE_READ, ORBIT_ISO_SNAPSHOT},
        {ORBIT_TX_SERIALIZABLE, ORBIT_ISO_SERIALIZABLE},
    };
    for (size_t i = 0; i < 3; i++) {
        orbit_tx_opts o = {0};
        o.isolation = map[i].tl;
        orbit_tx *tx;
        mt_check(orbit_tx_begin(&o, &tx), 0);
        int want = (caps.isolation_levels & ORBIT_ISO_BIT(map[i].cl)) ? 0 : ORBIT_ENOTSUP;
        mt_check(put_in(tx, a, "iso", "v"), want);
        orbit_tx_rollback(tx);
    }
    orbit_tx_opts bad = {0};
    bad.isolation = (orbit_tx_isolation)7;
    orbit_tx *tx = NULL;
    mt_check(orbit_tx_begin(&bad, &tx), ORBIT_EINVAL);
    orbit_actor_close(a);
    mt_close(&s);
}

typedef struct run_arg {
    orbit_actor *a;
    int calls;
    int fail_first;
} run_arg;

static int run_fn(orbit_tx *tx, void *arg)
{
    run_arg *r = arg;
    r->calls++;
    int rc = put_in(tx, r->a, "run", "v");
    if (rc)
        return rc;
    if (r->calls <= r->fail_first)
        return orbit_error_set(r->fail_first == 1 ? ORBIT_ECONFLICT : ORBIT_EUNCERTAIN, "injected");
    return 0;
}

static void test_run_retries_conflicts_only(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    run_arg r = {0};
    mt_check(orbit_actor_open(s.kv, "user", "10", &r.a), 0);
    r.fail_first = 1;
    mt_check(orbit_tx_run(NULL, 4, run_fn, &r), 0);
    assert_int_equal(r.calls, 2);
    r.calls = 0;
    r.fail_first = 5; /* EUNCERTAIN: returned at once */
    mt_check(orbit_tx_run(NULL, 4, run_fn, &r), ORBIT_EUNCERTAIN);
    assert_int_equal(r.calls, 1);
    orbit_actor_close(r.a);
    mt_close(&s);
}

static int list_count(void *arg, const char *kind, const char *name, uint64_t id)
{
    (void)kind;
    (void)name;
    (void)id;
    (*(int *)arg)++;
    return 0;
}

static void test_actor_objects(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "shop", "eu", &a), 0);
    uint64_t t1, t2, g;
    mt_check(orbit_actor_object_id(a, ORBIT_CATALOG_TABLE, "orders", 0, &t1), ORBIT_NOTFOUND);
    mt_check(orbit_actor_object_id(a, ORBIT_CATALOG_TABLE, "orders", 1, &t1), 0);
    mt_check(orbit_actor_object_id(a, ORBIT_CATALOG_TABLE, "orders", 0, &t2), 0);
    assert_int_equal(t1, t2);
    mt_check(orbit_actor_object_id(a, ORBIT_CATALOG_GRAPH, "social", 1, &g), 0);
    assert_int_not_equal(g, t1);
    int n = 0;
    mt_check(orbit_actor_list_objects(a, list_count, &n), 0);
    assert_int_equal(n, 2);
    orbit_actor *same;
    mt_check(orbit_actor_open(s.kv, "shop", "eu", &same), 0);
    assert_int_equal(orbit_actor_keyspace(same), orbit_actor_keyspace(a));
    orbit_actor_close(same);
    orbit_actor_close(a);
    mt_close(&s);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_notifies_rollback_does_not),
        cmocka_unit_test(test_check_aborts_everything),
        cmocka_unit_test(test_failed_tx_cannot_commit),
        cmocka_unit_test(test_two_stores_refused),
        cmocka_unit_test(test_isolation_mapping),
        cmocka_unit_test(test_run_retries_conflicts_only),
        cmocka_unit_test(test_actor_objects),
    };
    return mt_main(argc, argv, tests, sizeof tests / sizeof tests[0]);
}
