/*
 * The seed's cross-model tests, done for real, on every provider:
 *   - a multi-model storage round trip: a row, a document, nodes and an
 *     edge, a vector and time-series points for one actor, read back, and
 *     every stored value of the actor's keyspace decoded raw with
 *     orbit_record_decode: each names the owning actor and its model;
 *   - one cross-model transaction writing a row, a vector and a graph edge:
 *     committed, all three are visible; rolled back, none is;
 *   - the same failing a constraint at commit (an edge endpoint missing,
 *     the vector collection's dimension changed, a document and a row
 *     referencing a missing row): none is visible, and the error is
 *     ECONSTRAINT naming the constraint;
 *   - listeners see exactly the committed transactions' actor and models.
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

#define S(x) (x), strlen(x)

/* ---- the actor's objects ---------------------------------------------- */

typedef struct objs {
    orbit_actor *a;
    orbit_table *customers; /* id text pk, name text */
    orbit_table *orders;    /* id int pk, customer text references customers */
    orbit_doc_coll *docs;   /* reference $.customer -> customers */
    orbit_graph *g;         /* endpoints: rows of customers */
    orbit_vec_coll *emb;    /* dim 4, l2 */
    orbit_series *cpu;      /* float64 */
} objs;

static void objs_open(orbit_kv *kv, objs *o)
{
    memset(o, 0, sizeof *o);
    mt_check(orbit_actor_open(kv, "tenant", "acme", &o->a), 0);
    orbit_column_def cc[] = {
        {"id", ORBIT_COL_TEXT, 0, 0, {0}, NULL},
        {"name", ORBIT_COL_TEXT, 1, 0, {0}, NULL},
    };
    const char *cpk[] = {"id"};
    orbit_table_def cd = {cc, 2, cpk, 1};
    mt_check(orbit_table_create(o->a, "customers", &cd, &o->customers), 0);
    orbit_column_def oc[] = {
        {"id", ORBIT_COL_INT64, 0, 0, {0}, NULL},
        {"customer", ORBIT_COL_TEXT, 1, 0, {0}, "customers"},
    };
    const char *opk[] = {"id"};
    orbit_table_def od = {oc, 2, opk, 1};
    mt_check(orbit_table_create(o->a, "orders", &od, &o->orders), 0);
    mt_check(orbit_doc_coll_open(o->a, "notes", 1, &o->docs), 0);
    mt_check(orbit_doc_ref_add(o->docs, "customer", "$.customer", "customers"), 0);
    orbit_graph_opts go = {0};
    go.endpoint_table = "customers";
    mt_check(orbit_graph_create(NULL, o->a, "knows", &go, &o->g), 0);
    mt_check(orbit_vec_coll_create(o->a, "emb", 4, ORBIT_VEC_L2), 0);
    mt_check(orbit_vec_coll_open(o->a, "emb", &o->emb), 0);
    orbit_ts_create_opts to = {0};
    to.type = ORBIT_TS_FLOAT64;
    mt_check(orbit_ts_create(NULL, o->a, "cpu", &to), 0);
    mt_check(orbit_ts_open(NULL, o->a, "cpu", &o->cpu), 0);
}

static void objs_close(objs *o)
{
    orbit_ts_close(o->cpu);
    orbit_vec_coll_close(o->emb);
    orbit_graph_close(o->g);
    orbit_doc_coll_close(o->docs);
    orbit_table_close(o->orders);
    orbit_table_close(o->customers);
    orbit_actor_close(o->a);
}

static int insert_customer(objs *o, orbit_tx *tx, const char *id, const char *name)
{
    orbit_row *r;
    mt_check(orbit_row_new(&r), 0);
    mt_check(orbit_row_set_text(r, "id", id), 0);
    mt_check(orbit_row_set_text(r, "name", name), 0);
    int rc = orbit_table_insert(o->customers, tx, r);
    orbit_row_free(r);
    return rc;
}

static int insert_order(objs *o, orbit_tx *tx, int64_t id, const char *customer)
{
    orbit_row *r;
    mt_check(orbit_row_new(&r), 0);
    mt_check(orbit_row_set_int(r, "id", id), 0);
    mt_check(orbit_row_set_text(r, "customer", customer), 0);
    int rc = orbit_table_insert(o->orders, tx, r);
    orbit_row_free(r);
    return rc;
}

/* 0 if customer id exists (name into *name if non-NULL), else NOTFOUND. */
static int get_customer(objs *o, const char *id, char *name, size_t n)
{
    orbit_row *k, *r;
    mt_check(orbit_row_new(&k), 0);
    mt_check(orbit_row_new(&r), 0);
    mt_check(orbit_row_set_text(k, "id", id), 0);
    int rc = orbit_table_get(o->customers, NULL, k, r);
    if (rc == 0 && name) {
        const char *s;
        size_t len;
        mt_check(orbit_row_get_text(r, "name", &s, &len), 0);
        snprintf(name, n, "%.*s", (int)len, s);
    }
    orbit_row_free(k);
    orbit_row_free(r);
    return rc;
}

static int has_vector(objs *o, const char *id)
{
    orbit_buf v = ORBIT_BUF_INIT;
    int rc = orbit_vec_get(NULL, o->emb, S(id), &v, NULL);
    orbit_buf_release(&v);
    return rc;
}

static int has_edge(objs *o, const char *from, const char *to)
{
    orbit_graph_edge e = {0};
    int rc = orbit_graph_get_edge(NULL, o->g, S(from), "knows", S(to), &e);
    orbit_graph_edge_release(&e);
    return rc;
}

/* ---- listeners ------------------------------------------------------- */

typedef struct seen {
    int calls;
    size_t n;
    unsigned models;
    char actor[64];
} seen;

static void on_commit(void *arg, const orbit_tx_change *c, size_t n, uint64_t v)
{
    (void)v;
    seen *s = arg;
    s->calls++;
    s->n = n;
    s->models = n ? c[0].models : 0;
    if (n)
        snprintf(s->actor, sizeof s->actor, "%s/%s", c[0].actor_type, c[0].actor_id);
}

/* ---- raw records of the keyspace --------------------------------------- */

typedef struct raw_tally {
    size_t per_model[8];
    size_t total, not_records, wrong_actor;
    size_t anonymous_catalog; /* catalog records naming no actor */
} raw_tally;

/* Decode every value stored in the actor's keyspace. */
static void tally_keyspace(orbit_kv *kv, const orbit_actor *a, raw_tally *t)
{
    memset(t, 0, sizeof *t);
    orbit_buf lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT;
    mt_check(orbit_key_keyspace_range(&lo, &hi, orbit_actor_keyspace(a)), 0);
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
        t->total++;
        orbit_record_meta m;
        const uint8_t *p;
        size_t pl;
        if (orbit_record_decode(v, vl, k, kl, &m, &scratch, &p, &pl) != 0) {
            t->not_records++;
            orbit_buf e = ORBIT_BUF_INIT;
            orbit_escape(&e, k, kl);
            fprintf(stderr, "not a record: %.*s (%zu bytes)\n", (int)e.len, (const char *)e.data,
                    vl);
            orbit_buf_release(&e);
            continue;
        }
        if (m.model == ORBIT_MODEL_CATALOG && m.actor_type_len == 0 && m.actor_id_len == 0)
            t->anonymous_catalog++;
        else if (m.actor_type_len != strlen(orbit_actor_type(a)) ||
            memcmp(m.actor_type, orbit_actor_type(a), m.actor_type_len) != 0 ||
            m.actor_id_len != strlen(orbit_actor_id(a)) ||
            memcmp(m.actor_id, orbit_actor_id(a), m.actor_id_len) != 0)
            t->wrong_actor++;
        if ((unsigned)m.model < 8)
            t->per_model[m.model]++;
    }
    mt_check(rc, ORBIT_NOTFOUND);
    orbit_iter_close(it);
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    orbit_buf_release(&scratch);
}

/* Decode the raw record under key and check its actor and model. */
static void check_raw(orbit_kv *kv, const orbit_actor *a, const orbit_buf *key, orbit_model model)
{
    orbit_buf v = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT;
    mt_check(orbit_kv_get(kv, NULL, key->data, key->len, &v), 0);
    orbit_record_meta m;
    const uint8_t *p;
    size_t pl;
    mt_check(orbit_record_decode(v.data, v.len, key->data, key->len, &m, &scratch, &p, &pl), 0);
    assert_int_equal(m.model, model);
    assert_int_equal(m.actor_type_len, strlen(orbit_actor_type(a)));
    assert_memory_equal(m.actor_type, orbit_actor_type(a), m.actor_type_len);
    assert_int_equal(m.actor_id_len, strlen(orbit_actor_id(a)));
    assert_memory_equal(m.actor_id, orbit_actor_id(a), m.actor_id_len);
    orbit_buf_release(&v);
    orbit_buf_release(&scratch);
}

/* ---- the round trip --------------------------------------------------- */

typedef struct pts {
    size_t n;
    double sum;
} pts;

static int on_point(void *arg, const orbit_ts_point *p)
{
    pts *x = arg;
    x->n++;
    x->sum += p->v.d;
    return 0;
}

static void test_round_trip(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    objs o;
    objs_open(s.kv, &o);

    mt_check(insert_customer(&o, NULL, "c1", "Ada"), 0);
    mt_check(insert_customer(&o, NULL, "c2", "Bob"), 0);
    mt_check(orbit_doc_put(NULL, o.docs, S("n1"), S("{\"customer\":\"c1\",\"text\":\"hi\"}")), 0);
    const char *lab[] = {"person"};
    mt_check(orbit_graph_add_node(NULL, o.g, S("c1"), lab, 1, "{\"vip\":true}", 0), 0);
    mt_check(orbit_graph_add_edge(NULL, o.g, S("c1"), "knows", S("c2"), NULL), 0);
    float v[4] = {1, 2, 3, 4};
    mt_check(orbit_vec_put(NULL, o.emb, S("c1"), v, 4, "{\"k\":1}", 7), 0);
    orbit_ts_point p[3];
    for (int i = 0; i < 3; i++) {
        p[i].ts = 1000 + i;
        p[i].seq = 0;
        p[i].v = (orbit_ts_value){ORBIT_TS_FLOAT64, 0, 0.5 * (i + 1), 0, NULL, 0};
    }
    size_t written = 0;
    mt_check(orbit_ts_madd(NULL, o.cpu, p, 3, ORBIT_TS_DUP_LAST, &written), 0);
    assert_int_equal(written, 3);

    /* Read everything back. */
    char name[32];
    mt_check(get_customer(&o, "c1", name, sizeof name), 0);
    assert_string_equal(name, "Ada");
    orbit_buf b = ORBIT_BUF_INIT, meta = ORBIT_BUF_INIT;
    mt_check(orbit_doc_get(NULL, o.docs, S("n1"), &b), 0);
    assert_string_equal((const char *)b.data, "{\"customer\":\"c1\",\"text\":\"hi\"}");
    orbit_graph_node n = {0};
    mt_check(orbit_graph_get_node(NULL, o.g, S("c1"), &n), 0);
    assert_int_equal(n.nlabels, 1);
    assert_string_equal(n.labels[0], "person");
    orbit_graph_node_release(&n);
    mt_check(has_edge(&o, "c1", "c2"), 0);
    orbit_graph_list l;
    orbit_graph_list_init(&l);
    mt_check(orbit_graph_neighbors(NULL, o.g, S("c2"), ORBIT_GRAPH_IN, NULL, &l), 0);
    assert_int_equal(l.n, 1);
    assert_memory_equal(l.items[0].id, "c1", 2);
    orbit_graph_list_release(&l);
    mt_check(orbit_vec_get(NULL, o.emb, S("c1"), &b, &meta), 0);
    assert_int_equal(b.len, sizeof v);
    assert_memory_equal(b.data, v, sizeof v);
    assert_memory_equal(meta.data, "{\"k\":1}", 7);
    pts got = {0, 0};
    mt_check(orbit_ts_range(NULL, o.cpu, INT64_MIN, INT64_MAX, NULL, on_point, &got), 0);
    assert_int_equal(got.n, 3);
    assert_true(got.sum == 3.0);

    /* Every record of the actor's keyspace names the actor; every model
     * wrote some. The raw row is addressable by the shared row-key rule. */
    raw_tally t;
    tally_keyspace(s.kv, o.a, &t);
    fprintf(stderr, "keyspace %llu: %zu keys, %zu not records, rel %zu doc %zu graph %zu vec "
            "%zu ts %zu catalog %zu (naming no actor: %zu)\n",
            (unsigned long long)orbit_actor_keyspace(o.a), t.total, t.not_records,
            t.per_model[ORBIT_MODEL_REL], t.per_model[ORBIT_MODEL_DOC],
            t.per_model[ORBIT_MODEL_GRAPH], t.per_model[ORBIT_MODEL_VEC],
            t.per_model[ORBIT_MODEL_TS], t.per_model[ORBIT_MODEL_CATALOG], t.anonymous_catalog);
    /* Every model record names the actor. The catalog's name -> id
     * records inside the keyspace (src/model/catalog.c) are written naming
     * no actor: the keyspace they are in names it. */
    assert_int_equal(t.wrong_actor, 0);
    assert_true(t.per_model[ORBIT_MODEL_REL] >= 2);
    assert_true(t.per_model[ORBIT_MODEL_DOC] >= 1);
    assert_true(t.per_model[ORBIT_MODEL_GRAPH] >= 3);
    assert_true(t.per_model[ORBIT_MODEL_VEC] >= 1);
    assert_true(t.per_model[ORBIT_MODEL_TS] >= 3);
    assert_int_equal(t.not_records, 0);

    uint64_t ks = orbit_actor_keyspace(o.a);
    orbit_buf pk = ORBIT_BUF_INIT, key = ORBIT_BUF_INIT;
    orbit_tuple_bytes(&pk, "c1", 2);
    mt_check(orbit_key_row(&key, ks, orbit_table_id(o.customers), pk.data, pk.len), 0);
    check_raw(s.kv, o.a, &key, ORBIT_MODEL_REL);
    key.len = 0;
    mt_check(orbit_key_vector(&key, ks, orbit_vec_coll_id(o.emb), "c1", 2), 0);
    check_raw(s.kv, o.a, &key, ORBIT_MODEL_VEC);
    key.len = 0;
    mt_check(orbit_key_ts_point(&key, ks, orbit_ts_id(o.cpu), 1000, 0), 0);
    check_raw(s.kv, o.a, &key, ORBIT_MODEL_TS);

    orbit_buf_release(&pk);
    orbit_buf_release(&key);
    orbit_buf_release(&b);
    orbit_buf_release(&meta);
    objs_close(&o);
    mt_close(&s);
}

/* ---- one transaction over three models --------------------------------- */

/* Write row `id`, vector `id` (dim) and edge c1 -knows-> `to` in tx. */
static void write_three(objs *o, orbit_tx *tx, const char *id, const char *to, uint32_t dim)
{
    mt_check(insert_customer(o, tx, id, "new"), 0);
    float v[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    mt_check(orbit_vec_put(tx, o->emb, S(id), v, dim, NULL, 0), 0);
    mt_check(orbit_graph_add_edge(tx, o->g, S("c1"), "knows", S(to), NULL), 0);
}

static void assert_none(objs *o, const char *id, const char *to)
{
    mt_check(get_customer(o, id, NULL, 0), ORBIT_NOTFOUND);
    mt_check(has_vector(o, id), ORBIT_NOTFOUND);
    mt_check(has_edge(o, "c1", to), ORBIT_NOTFOUND);
}

static void test_three_models_one_tx(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    objs o;
    objs_open(s.kv, &o);
    mt_check(insert_customer(&o, NULL, "c1", "Ada"), 0);
    seen sn = {0};
    uint64_t lid;
    mt_check(orbit_tx_listen(on_commit, &sn, &lid), 0);
    const unsigned three =
        (1u << ORBIT_MODEL_REL) | (1u << ORBIT_MODEL_VEC) | (1u << ORBIT_MODEL_GRAPH);

    /* Committed: all three visible; the listener hears one actor, three
     * models. The edge's endpoint c2 is the row the same tx inserts. */
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    write_three(&o, tx, "c2", "c2", 4);
    /* Inside the tx its own writes are visible across models. */
    orbit_graph_list l;
    orbit_graph_list_init(&l);
    mt_check(orbit_graph_neighbors(tx, o.g, S("c1"), ORBIT_GRAPH_OUT, NULL, &l), 0);
    assert_int_equal(l.n, 1);
    orbit_graph_list_release(&l);
    assert_int_equal(sn.calls, 0);
    mt_check(orbit_tx_commit(tx), 0);
    mt_check(get_customer(&o, "c2", NULL, 0), 0);
    mt_check(has_vector(&o, "c2"), 0);
    mt_check(has_edge(&o, "c1", "c2"), 0);
    assert_int_equal(sn.calls, 1);
    assert_int_equal(sn.n, 1);
    assert_string_equal(sn.actor, "tenant/acme");
    assert_int_equal(sn.models, three);

    /* Rolled back: none, and no listener call. */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    write_three(&o, tx, "c3", "c3", 4);
    orbit_tx_rollback(tx);
    assert_none(&o, "c3", "c3");
    assert_int_equal(sn.calls, 1);

    /* An edge endpoint missing: ECONSTRAINT naming it, none applied. */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    write_three(&o, tx, "c4", "c404", 4);
    mt_check(orbit_tx_commit(tx), ORBIT_ECONSTRAINT);
    assert_non_null(strstr(orbit_last_error_detail(), "row 'c404' of table customers does not exist"));
    assert_none(&o, "c4", "c404");
    mt_check(get_customer(&o, "c4", NULL, 0), ORBIT_NOTFOUND);

    /* The vector collection's dimension changed before commit (dropped and
     * created again with dim 8 by another transaction). */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    write_three(&o, tx, "c5", "c5", 4);
    mt_check(orbit_vec_coll_drop(NULL, o.a, "emb"), 0);
    mt_check(orbit_vec_coll_create(o.a, "emb", 8, ORBIT_VEC_L2), 0);
    int committed = sn.calls; /* the drop is a committed transaction too */
    assert_true(committed >= 2);
    mt_check(orbit_tx_commit(tx), ORBIT_ECONSTRAINT);
    assert_non_null(strstr(orbit_last_error_detail(), "vector dimension consistency"));
    assert_non_null(strstr(orbit_last_error_detail(), "dim 8"));
    assert_none(&o, "c5", "c5");
    assert_int_equal(orbit_vec_coll_dim(o.emb), 8); /* the handle follows */

    /* A document referencing a missing row. */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    write_three(&o, tx, "c6", "c6", 8);
    mt_check(orbit_doc_put(tx, o.docs, S("n6"), S("{\"customer\":\"c9\"}")), 0);
    mt_check(orbit_tx_commit(tx), ORBIT_ECONSTRAINT);
    assert_non_null(strstr(orbit_last_error_detail(), "reference"));
    assert_non_null(strstr(orbit_last_error_detail(), "'c9' does not exist"));
    assert_none(&o, "c6", "c6");
    orbit_buf b = ORBIT_BUF_INIT;
    mt_check(orbit_doc_get(NULL, o.docs, S("n6"), &b), ORBIT_NOTFOUND);

    /* A row referencing a missing row. */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    write_three(&o, tx, "c7", "c7", 8);
    mt_check(insert_order(&o, tx, 1, "c9"), 0);
    mt_check(orbit_tx_commit(tx), ORBIT_ECONSTRAINT);
    assert_non_null(strstr(orbit_last_error_detail(), "reference orders.customer -> customers"));
    assert_non_null(strstr(orbit_last_error_detail(), "'c9' does not exist"));
    assert_none(&o, "c7", "c7");
    assert_int_equal(sn.calls, committed); /* no failed commit was heard */

    /* The same references satisfied commit; the listener has heard
     * exactly the two committed transactions. */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    write_three(&o, tx, "c8", "c8", 8);
    mt_check(orbit_doc_put(tx, o.docs, S("n8"), S("{\"customer\":\"c8\"}")), 0);
    mt_check(insert_order(&o, tx, 8, "c8"), 0);
    mt_check(orbit_tx_commit(tx), 0);
    mt_check(orbit_doc_get(NULL, o.docs, S("n8"), &b), 0);
    mt_check(has_edge(&o, "c1", "c8"), 0);
    assert_int_equal(sn.calls, committed + 1);
    assert_int_equal(sn.n, 1);
    assert_int_equal(sn.models, three | (1u << ORBIT_MODEL_DOC));

    mt_check(orbit_tx_unlisten(lid), 0);
    orbit_buf_release(&b);
    objs_close(&o);
    mt_close(&s);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_three_models_one_tx),
    };
    return mt_main(argc, argv, tests, sizeof tests / sizeof tests[0]);
}
