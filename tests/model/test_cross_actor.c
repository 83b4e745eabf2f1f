/*
 * Actors and the models (issue 8 item 7), on every provider:
 *   - every namespace (table, collection, graph, vector collection,
 *     series) belongs to one actor's keyspace: an actor's objects are
 *     listed by one paged catalog scan per kind (orbit_actor_list_objects)
 *     and all its data is one key range (orbit_key_keyspace_range) read by
 *     one scan, counted in read_calls, next to another actor with much
 *     more data;
 *   - every value in that range is a record naming the actor (model
 *     records) and none names another actor;
 *   - with a storage manager of two providers (the test's store and a
 *     memory store) and actors routed by type, every write of a
 *     transaction goes to the provider the manager assigned the actor, and
 *     a transaction spanning actors on both is refused with ENOTSUP naming
 *     both, and nothing of it is written on either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt.h"
#include "orbit/codec.h"
#include "orbit/document.h"
#include "orbit/graph.h"
#include "orbit/relational.h"
#include "orbit/timeseries.h"
#include "orbit/vector.h"
#include "testutil.h"

#define S(x) (x), strlen(x)

static orbit_table *make_table(const orbit_actor *a, const char *name)
{
    orbit_column_def cols[] = {
        {"id", ORBIT_COL_TEXT, 0, 0, {0}, NULL},
        {"v", ORBIT_COL_INT64, 1, 0, {0}, NULL},
    };
    const char *pk[] = {"id"};
    orbit_table_def def = {cols, 2, pk, 1};
    orbit_table *t;
    mt_check(orbit_table_create(a, name, &def, &t), 0);
    return t;
}

static int put_row(orbit_table *t, orbit_tx *tx, const char *id, int64_t v)
{
    orbit_row *r;
    mt_check(orbit_row_new(&r), 0);
    mt_check(orbit_row_set_text(r, "id", id), 0);
    mt_check(orbit_row_set_int(r, "v", v), 0);
    int rc = orbit_table_insert(t, tx, r);
    orbit_row_free(r);
    return rc;
}

static int get_row(orbit_table *t, const char *id)
{
    orbit_row *k, *r;
    mt_check(orbit_row_new(&k), 0);
    mt_check(orbit_row_new(&r), 0);
    mt_check(orbit_row_set_text(k, "id", id), 0);
    int rc = orbit_table_get(t, NULL, k, r);
    orbit_row_free(k);
    orbit_row_free(r);
    return rc;
}

/* Keys in keyspace ks of kv (one scan), checking every value's record. */
typedef struct ks_scan {
    size_t keys, records_of_actor, foreign;
} ks_scan;

static void scan_keyspace(orbit_kv *kv, const orbit_actor *a, uint64_t ks, ks_scan *out)
{
    memset(out, 0, sizeof *out);
    orbit_buf lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT;
    mt_check(orbit_key_keyspace_range(&lo, &hi, ks), 0);
    orbit_scan_opts so = {0};
    so.start = lo.data;
    so.start_len = lo.len;
    so.end = hi.data;
    so.end_len = hi.len;
    orbit_iter *it;
    mt_check(orbit_kv_iter(kv, NULL, &so, &it), 0);
    const uint8_t *k, *v;
    size_t kl, vl;
    int rc;
    while ((rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0) {
        out->keys++;
        assert_true(kl >= lo.len && memcmp(k, lo.data, lo.len) == 0);
        orbit_record_meta m;
        const uint8_t *p;
        size_t pl;
        mt_check(orbit_record_decode(v, vl, k, kl, &m, &scratch, &p, &pl), 0);
        if (m.actor_type_len == 0 && m.model == ORBIT_MODEL_CATALOG)
            continue; /* catalog name records name no actor (catalog.c) */
        if (a && m.actor_type_len == strlen(orbit_actor_type(a)) &&
            memcmp(m.actor_type, orbit_actor_type(a), m.actor_type_len) == 0 &&
            m.actor_id_len == strlen(orbit_actor_id(a)) &&
            memcmp(m.actor_id, orbit_actor_id(a), m.actor_id_len) == 0)
            out->records_of_actor++;
        else
            out->foreign++;
    }
    mt_check(rc, ORBIT_NOTFOUND);
    orbit_iter_close(it);
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    orbit_buf_release(&scratch);
}

/* ---- namespaces in keyspaces, bounded listing --------------------------- */

typedef struct listed {
    int n;
    int kinds[8];
    char names[16][32];
} listed;

static int on_object(void *arg, const char *kind, const char *name, uint64_t id)
{
    (void)id;
    listed *l = arg;
    static const char *const kinds[] = {ORBIT_CATALOG_TABLE,  ORBIT_CATALOG_INDEX,
                                        ORBIT_CATALOG_COLLECTION, ORBIT_CATALOG_GRAPH,
                                        ORBIT_CATALOG_SERIES, ORBIT_CATALOG_VECTORS};
    for (int i = 0; i < 6; i++)
        if (strcmp(kind, kinds[i]) == 0)
            l->kinds[i]++;
    if (l->n < 16)
        snprintf(l->names[l->n], sizeof l->names[0], "%s:%s", kind, name);
    l->n++;
    return 0;
}

static void five_objects(const orbit_actor *a, int rows)
{
    orbit_table *t = make_table(a, "t");
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    for (int i = 0; i < rows; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%03d", i);
        mt_check(put_row(t, tx, id, i), 0);
    }
    mt_check(orbit_tx_commit(tx), 0);
    orbit_doc_coll *d;
    mt_check(orbit_doc_coll_open(a, "d", 1, &d), 0);
    mt_check(orbit_doc_put(NULL, d, S("x"), S("{\"a\":1}")), 0);
    orbit_graph *g;
    mt_check(orbit_graph_create(NULL, a, "g", NULL, &g), 0);
    mt_check(orbit_graph_add_node(NULL, g, S("n"), NULL, 0, NULL, 0), 0);
    mt_check(orbit_vec_coll_create(a, "v", 2, ORBIT_VEC_L2), 0);
    orbit_vec_coll *v;
    mt_check(orbit_vec_coll_open(a, "v", &v), 0);
    float f[2] = {1, 2};
    mt_check(orbit_vec_put(NULL, v, S("x"), f, 2, NULL, 0), 0);
    mt_check(orbit_ts_create(NULL, a, "s", NULL), 0);
    orbit_series *s;
    mt_check(orbit_ts_open(NULL, a, "s", &s), 0);
    orbit_ts_value val = {ORBIT_TS_FLOAT64, 0, 1.5, 0, NULL, 0};
    mt_check(orbit_ts_add(NULL, s, 10, 0, &val, ORBIT_TS_DUP_LAST), 0);
    orbit_ts_close(s);
    orbit_vec_coll_close(v);
    orbit_graph_close(g);
    orbit_doc_coll_close(d);
    orbit_table_close(t);
}

static void test_actor_owns_its_namespaces(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_capabilities caps;
    orbit_kv_capabilities(s.kv, &caps);
    orbit_actor *a, *b;
    mt_check(orbit_actor_open(s.kv, "tenant", "small", &a), 0);
    mt_check(orbit_actor_open(s.kv, "tenant", "big", &b), 0);
    assert_int_not_equal(orbit_actor_keyspace(a), orbit_actor_keyspace(b));
    five_objects(a, 2);
    five_objects(b, caps.type == ORBIT_PROVIDER_DISTRIBUTED ? 60 : 300);

    /* The objects: one paged catalog scan per kind, reading only a's
     * names (b's same-named objects are in b's keyspace). */
    listed l = {0};
    mt_counter c;
    mt_stats_reset(s.kv, &c);
    mt_check(orbit_actor_list_objects(a, on_object, &l), 0);
    orbit_kv_stats d = mt_stats_delta(s.kv, &c);
    assert_int_equal(l.n, 5);
    for (int i = 0; i < 6; i++)
        assert_int_equal(l.kinds[i], i == 1 ? 0 : 1); /* no index */
    assert_int_equal(d.read_calls, 6);
    assert_int_equal(d.keys_read, 5);

    /* All of a's data: one scan of its keyspace range, every value a
     * record of a, none of b's. */
    ks_scan ka, kb;
    mt_stats_reset(s.kv, &c);
    scan_keyspace(s.kv, a, orbit_actor_keyspace(a), &ka);
    d = mt_stats_delta(s.kv, &c);
    assert_int_equal(d.read_calls, 1);
    assert_int_equal(d.keys_read, ka.keys);
    assert_int_equal(ka.foreign, 0);
    assert_true(ka.records_of_actor >= 8); /* rows, doc, node, vector, point, metas */
    scan_keyspace(s.kv, b, orbit_actor_keyspace(b), &kb);
    assert_int_equal(kb.foreign, 0);
    assert_true(kb.keys > ka.keys + 50);
    fprintf(stderr, "keyspace of a: %zu keys (%zu records of a); of b: %zu keys\n", ka.keys,
            ka.records_of_actor, kb.keys);

    orbit_actor_close(a);
    orbit_actor_close(b);
    mt_close(&s);
}

/* ---- placement by the storage manager ----------------------------------- */

static void test_manager_routes_and_refuses_span(void **state)
{
    (void)state;
    char *dir = NULL;
    char *uri = ct_expand(mt_cfg.store, &dir);
    orbit_manager *m;
    mt_check(orbit_manager_new(&m), 0);
    mt_check(orbit_manager_add_provider(m, "main", uri), 0);
    mt_check(orbit_manager_add_provider(m, "side", "memory:"), 0);
    mt_check(orbit_manager_allow_volatile_catalog(m, 1), 0); /* main may be memory: */
    mt_check(orbit_manager_set_strategy(m, ORBIT_PLACE_BY_ACTOR_TYPE), 0);
    mt_check(orbit_manager_route(m, "user", "main"), 0);
    mt_check(orbit_manager_route(m, "cache", "side"), 0);
    orbit_kv *mainkv, *sidekv;
    mt_check(orbit_manager_provider(m, "main", &mainkv), 0);
    mt_check(orbit_manager_provider(m, "side", &sidekv), 0);

    orbit_actor *u, *c;
    mt_check(orbit_manager_actor(m, "user", "u1", &u), 0);
    mt_check(orbit_manager_actor(m, "cache", "c1", &c), 0);
    assert_ptr_equal(orbit_actor_store(u), mainkv);
    assert_ptr_equal(orbit_actor_store(c), sidekv);
    uint64_t uks = orbit_actor_keyspace(u), cks = orbit_actor_keyspace(c);
    assert_int_not_equal(uks, cks);

    orbit_table *ut = make_table(u, "t"), *ct = make_table(c, "t");
    orbit_ts_create_opts to = {0};
    mt_check(orbit_ts_create(NULL, u, "s", &to), 0);
    mt_check(orbit_ts_create(NULL, c, "s", &to), 0);
    orbit_series *us, *cs;
    mt_check(orbit_ts_open(NULL, u, "s", &us), 0);
    mt_check(orbit_ts_open(NULL, c, "s", &cs), 0);
    orbit_ts_value val = {ORBIT_TS_FLOAT64, 0, 2.0, 0, NULL, 0};

    /* Each actor's transaction: bound to, and written only on, its store. */
    ks_scan before_side, before_main, after;
    scan_keyspace(sidekv, NULL, uks, &before_side);
    assert_int_equal(before_side.keys, 0);
    scan_keyspace(mainkv, u, uks, &before_main);
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(put_row(ut, tx, "r1", 1), 0);
    mt_check(orbit_ts_add(tx, us, 5, 0, &val, ORBIT_TS_DUP_LAST), 0);
    assert_ptr_equal(orbit_tx_store(tx), mainkv);
    mt_check(orbit_tx_commit(tx), 0);
    scan_keyspace(mainkv, u, uks, &after);
    assert_true(after.keys >= before_main.keys + 3); /* row, point, rollup */
    assert_int_equal(after.foreign, 0);
    scan_keyspace(sidekv, NULL, uks, &after);
    assert_int_equal(after.keys, 0);

    scan_keyspace(mainkv, NULL, cks, &before_main);
    assert_int_equal(before_main.keys, 0);
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(put_row(ct, tx, "r1", 1), 0);
    mt_check(orbit_ts_add(tx, cs, 5, 0, &val, ORBIT_TS_DUP_LAST), 0);
    assert_ptr_equal(orbit_tx_store(tx), sidekv);
    mt_check(orbit_tx_commit(tx), 0);
    scan_keyspace(mainkv, NULL, cks, &after);
    assert_int_equal(after.keys, 0);
    scan_keyspace(sidekv, c, cks, &after);
    assert_true(after.keys >= 3);
    assert_int_equal(after.foreign, 0);

    /* A transaction spanning both: refused, naming both actors, and
     * nothing of it written anywhere. */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(put_row(ut, tx, "r2", 2), 0);
    mt_check(put_row(ct, tx, "r2", 2), ORBIT_ENOTSUP);
    assert_non_null(strstr(orbit_last_error_detail(), "cache/c1"));
    assert_non_null(strstr(orbit_last_error_detail(), "user/u1"));
    assert_non_null(strstr(orbit_last_error_detail(), "spans providers"));
    mt_check(orbit_tx_commit(tx), ORBIT_ECLOSED);
    mt_check(get_row(ut, "r2"), ORBIT_NOTFOUND);
    mt_check(get_row(ct, "r2"), ORBIT_NOTFOUND);
    /* The other way round, another model first. */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_ts_add(tx, cs, 6, 0, &val, ORBIT_TS_DUP_LAST), 0);
    mt_check(put_row(ut, tx, "r3", 3), ORBIT_ENOTSUP);
    assert_non_null(strstr(orbit_last_error_detail(), "user/u1"));
    assert_non_null(strstr(orbit_last_error_detail(), "cache/c1"));
    mt_check(orbit_tx_commit(tx), ORBIT_ECLOSED);
    mt_check(get_row(ut, "r3"), ORBIT_NOTFOUND);
    size_t npts = 0;
    orbit_ts_info info = {0};
    mt_check(orbit_ts_info_get(NULL, cs, &info), 0);
    npts = info.count;
    orbit_ts_info_release(&info);
    assert_int_equal(npts, 1); /* the point at 6 was not written */

    orbit_ts_close(us);
    orbit_ts_close(cs);
    orbit_table_close(ut);
    orbit_table_close(ct);
    orbit_actor_close(u);
    orbit_actor_close(c);
    orbit_manager_free(m);
    free(uri);
    tu_rmdir(dir);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actor_owns_its_namespaces),
        cmocka_unit_test(test_manager_routes_and_refuses_span),
    };
    return mt_main(argc, argv, tests, sizeof tests / sizeof tests[0]);
}
