/*
 * The cross-model transaction core (orbit/txn.h) and the actor handle
 * (orbit/model.h) on every provider: binding, isolation mapping and
 * refusal, the commit deadline, rollback, commit checks (order, reads
 * inside the transaction, freeing, dedup), conflicts as retryable errors,
 * the retry helper (retries conflicts, never EUNCERTAIN or a constraint),
 * listeners (told exactly the actors and models of committed
 * transactions, never of a rolled-back, refused or conflicted one), the
 * failed flag, and a transaction spanning two stores refused whole.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

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
    assert_non_null(strstr(orbit_last_error_detail(), "user/1"));
    /* The whole transaction is refused: the part on the first store does
     * not commit either. */
    mt_check(orbit_tx_commit(tx), ORBIT_ECLOSED);
    assert_non_null(strstr(orbit_last_error_detail(), "ENOTSUP"));
    orbit_buf v = {0};
    mt_check(get_plain(a, "x", &v), ORBIT_NOTFOUND);
    mt_check(get_plain(b, "y", &v), ORBIT_NOTFOUND);
    orbit_buf_release(&v);
    /* Rolled back instead, likewise nothing. */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(put_in(tx, a, "x", "1"), 0);
    mt_check(put_in(tx, b, "y", "1"), ORBIT_ENOTSUP);
    orbit_tx_rollback(tx);
    mt_check(get_plain(a, "x", &v), ORBIT_NOTFOUND);
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
        if (want) {
            /* The refusal names the level and the provider. */
            const char *d = orbit_last_error_detail();
            assert_non_null(strstr(d, caps.name));
            assert_non_null(strstr(d, map[i].tl == ORBIT_TX_SERIALIZABLE ? "serializable"
                                      : map[i].tl == ORBIT_TX_READ_COMMITTED ? "read committed"
                                                                              : "repeatable read"));
            assert_null(orbit_tx_store(tx));
            orbit_tx_rollback(tx);
            continue;
        }
        /* Bound at the level asked for: commit applies the write. */
        assert_ptr_equal(orbit_tx_store(tx), s.kv);
        mt_check(orbit_tx_commit(tx), 0);
        orbit_buf v = {0};
        mt_check(get_plain(a, "iso", &v), 0);
        orbit_buf_release(&v);
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


/* ---- listeners: exactly the committed transactions' actors and models -- */

#define MAXCH 8
typedef struct seen {
    int calls;
    size_t n;
    char type[MAXCH][16], id[MAXCH][16];
    uint64_t ks[MAXCH];
    unsigned models[MAXCH];
    uint64_t version;
} seen;

static void on_seen(void *arg, const orbit_tx_change *c, size_t n, uint64_t v)
{
    seen *s = arg;
    s->calls++;
    s->n = n;
    s->version = v;
    for (size_t i = 0; i < n && i < MAXCH; i++) {
        snprintf(s->type[i], sizeof s->type[i], "%s", c[i].actor_type);
        snprintf(s->id[i], sizeof s->id[i], "%s", c[i].actor_id);
        s->ks[i] = c[i].keyspace;
        s->models[i] = c[i].models;
    }
}

static void test_listeners_exact(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a, *b;
    mt_check(orbit_actor_open(s.kv, "user", "a", &a), 0);
    mt_check(orbit_actor_open(s.kv, "shop", "b", &b), 0);
    seen sn = {0};
    uint64_t lid;
    mt_check(orbit_tx_listen(on_seen, &sn, &lid), 0);

    /* Two actors, a touched twice with two models. */
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(put_in(tx, a, "k", "1"), 0);
    mt_check(put_in(tx, b, "k", "1"), 0);
    mt_check(orbit_tx_touch(tx, "user", "a", orbit_actor_keyspace(a), ORBIT_MODEL_GRAPH), 0);
    uint64_t ver = 0;
    mt_check(orbit_tx_commit_version(tx, &ver), 0);
    assert_int_equal(sn.calls, 1);
    assert_int_equal(sn.n, 2);
    assert_string_equal(sn.type[0], "user");
    assert_string_equal(sn.id[0], "a");
    assert_int_equal(sn.ks[0], orbit_actor_keyspace(a));
    assert_int_equal(sn.models[0], (1u << ORBIT_MODEL_KV) | (1u << ORBIT_MODEL_GRAPH));
    assert_string_equal(sn.type[1], "shop");
    assert_string_equal(sn.id[1], "b");
    assert_int_equal(sn.ks[1], orbit_actor_keyspace(b));
    assert_int_equal(sn.models[1], 1u << ORBIT_MODEL_KV);
    assert_int_equal(sn.version, ver);

    /* Rolled back, refused by a check, timed out, a failed tx, a tx that
     * changed nothing: never told. */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(put_in(tx, a, "k", "2"), 0);
    orbit_tx_rollback(tx);
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(put_in(tx, a, "k", "2"), 0);
    mt_check(orbit_tx_add_check(tx, failing_check, NULL, NULL, NULL, 0), 0);
    mt_check(orbit_tx_commit(tx), ORBIT_ECONSTRAINT);
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(put_in(tx, a, "k", "2"), 0);
    orbit_tx_fail(tx, ORBIT_EIO);
    mt_check(orbit_tx_commit(tx), ORBIT_ECLOSED);
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_tx_commit(tx), 0);
    assert_int_equal(sn.calls, 1);

    /* A conflicted commit: never told. tx1 reads k for update; tx2 writes
     * k. On an optimistic store tx2 commits and tx1's commit conflicts; on
     * a pessimistic one tx2's write conflicts (lock wait) and tx1 commits. */
    orbit_buf key = {0}, v = {0};
    orbit_key_kv(&key, orbit_actor_keyspace(a), "k", 1);
    orbit_tx *t1, *t2;
    orbit_txn *c1;
    mt_check(orbit_tx_begin(NULL, &t1), 0);
    mt_check(orbit_tx_kv_txn(t1, s.kv, "user", "a", &c1), 0);
    mt_check(orbit_txn_get_for_update(c1, key.data, key.len, &v), 0);
    mt_check(orbit_tx_begin(NULL, &t2), 0);
    int r2 = put_in(t2, a, "k", "t2");
    if (r2 == 0)
        r2 = orbit_tx_commit(t2);
    else {
        assert_true(orbit_err_retryable(r2));
        orbit_tx_rollback(t2);
    }
    int r1 = put_in(t1, a, "k", "t1");
    if (r1 == 0)
        r1 = orbit_tx_commit(t1);
    else
        orbit_tx_rollback(t1);
    /* Exactly one won; the loser's error is retryable. */
    assert_true((r1 == 0) != (r2 == 0));
    assert_true(orbit_err_retryable(r1 ? r1 : r2));
    assert_int_equal(sn.calls, 2);
    mt_check(get_plain(a, "k", &v), 0);
    assert_memory_equal(v.data, r1 == 0 ? "t1" : "t2", 2);
    orbit_buf_release(&key);
    orbit_buf_release(&v);

    mt_check(orbit_tx_unlisten(lid), 0);
    orbit_actor_close(a);
    orbit_actor_close(b);
    mt_close(&s);
}

/* ---- the deadline ------------------------------------------------------ */

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int slow_check(void *arg, orbit_txn *t)
{
    (void)t;
    sleep_ms(*(unsigned *)arg);
    return 0;
}

typedef struct conflict_arg {
    orbit_actor *a;
    int calls;
} conflict_arg;

static int always_conflicts(orbit_tx *tx, void *arg)
{
    conflict_arg *c = arg;
    c->calls++;
    int rc = put_in(tx, c->a, "dl", "v");
    return rc ? rc : orbit_error_set(ORBIT_ECONFLICT, "injected conflict");
}

static void test_commit_deadline(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "user", "dl", &a), 0);
    seen sn = {0};
    uint64_t lid;
    mt_check(orbit_tx_listen(on_seen, &sn, &lid), 0);
    orbit_tx_opts o = {0};
    o.timeout_ms = 20;

    /* Past the deadline at commit: ETIMEDOUT, nothing applied. */
    orbit_tx *tx;
    mt_check(orbit_tx_begin(&o, &tx), 0);
    mt_check(put_in(tx, a, "dl", "v"), 0);
    sleep_ms(60);
    mt_check(orbit_tx_commit(tx), ORBIT_ETIMEDOUT);
    assert_non_null(strstr(orbit_last_error_detail(), "20 ms deadline"));
    orbit_buf v = {0};
    mt_check(get_plain(a, "dl", &v), ORBIT_NOTFOUND);

    /* Passed during the commit checks: the same. */
    unsigned ms = 60;
    mt_check(orbit_tx_begin(&o, &tx), 0);
    mt_check(put_in(tx, a, "dl", "v"), 0);
    mt_check(orbit_tx_add_check(tx, slow_check, &ms, NULL, NULL, 0), 0);
    mt_check(orbit_tx_commit(tx), ORBIT_ETIMEDOUT);
    assert_non_null(strstr(orbit_last_error_detail(), "commit checks"));
    mt_check(get_plain(a, "dl", &v), ORBIT_NOTFOUND);

    /* Within the deadline: committed. */
    o.timeout_ms = 60000;
    mt_check(orbit_tx_begin(&o, &tx), 0);
    mt_check(put_in(tx, a, "dl", "ok"), 0);
    mt_check(orbit_tx_commit(tx), 0);
    mt_check(get_plain(a, "dl", &v), 0);
    assert_int_equal(sn.calls, 1);

    /* orbit_tx_run: the deadline bounds the whole run, so a function that
     * always conflicts ends with ETIMEDOUT, not after all its attempts. */
    o.timeout_ms = 30;
    conflict_arg c = {a, 0};
    mt_check(orbit_tx_run(&o, 100000, always_conflicts, &c), ORBIT_ETIMEDOUT);
    assert_true(c.calls >= 1 && c.calls < 100000);
    assert_int_equal(sn.calls, 1);

    mt_check(orbit_tx_unlisten(lid), 0);
    orbit_buf_release(&v);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- commit checks ------------------------------------------------------ */

typedef struct chk {
    orbit_actor *a;
    int order[4];
    int n;
    int freed;
    int found; /* the check saw the transaction's own write */
} chk;

typedef struct chk_arg {
    chk *c;
    int tag;
} chk_arg;

static int recording_check(void *arg, orbit_txn *t)
{
    chk_arg *ca = arg;
    chk *c = ca->c;
    c->order[c->n++] = ca->tag;
    orbit_buf key = {0}, v = {0};
    orbit_key_kv(&key, orbit_actor_keyspace(c->a), "ck", 2);
    int rc = orbit_txn_get(t, key.data, key.len, &v);
    if (rc == 0 && v.len == 4 && memcmp(v.data, "mine", 4) == 0)
        c->found++;
    orbit_buf_release(&key);
    orbit_buf_release(&v);
    return rc < 0 ? rc : 0;
}

static void free_chk(void *arg)
{
    chk_arg *ca = arg;
    ca->c->freed++;
}

static void test_check_order_reads_frees(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    chk c = {0};
    mt_check(orbit_actor_open(s.kv, "user", "ck", &c.a), 0);
    chk_arg a1 = {&c, 1}, a2 = {&c, 2}, a3 = {&c, 3};
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(put_in(tx, c.a, "ck", "mine"), 0);
    mt_check(orbit_tx_add_check(tx, recording_check, &a1, free_chk, "one", 3), 0);
    mt_check(orbit_tx_add_check(tx, recording_check, &a2, free_chk, NULL, 0), 0);
    /* Same fn and key as the first: not added, its arg freed at once. */
    mt_check(orbit_tx_add_check(tx, recording_check, &a3, free_chk, "one", 3), 0);
    assert_int_equal(c.freed, 1);
    mt_check(orbit_tx_commit(tx), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.order[0], 1);
    assert_int_equal(c.order[1], 2);
    assert_int_equal(c.found, 2); /* the checks read inside the transaction */
    assert_int_equal(c.freed, 3);

    /* Freed when rolled back, too, and never run. */
    c.n = 0;
    c.freed = 0;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(put_in(tx, c.a, "ck", "x"), 0);
    mt_check(orbit_tx_add_check(tx, recording_check, &a1, free_chk, NULL, 0), 0);
    orbit_tx_rollback(tx);
    assert_int_equal(c.n, 0);
    assert_int_equal(c.freed, 1);
    /* A NULL check is refused and its arg freed. */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_tx_add_check(tx, NULL, &a1, free_chk, NULL, 0), ORBIT_EINVAL);
    assert_int_equal(c.freed, 2);
    orbit_tx_rollback(tx);
    orbit_actor_close(c.a);
    mt_close(&s);
}

/* ---- the retry helper and check outcomes ------------------------------- */

typedef struct rc_arg {
    orbit_actor *a;
    int calls;
    int check_rc;     /* what the check returns on the first call */
    int fail_in_body; /* orbit_tx_fail(tx, ECONFLICT) and return 0 */
} rc_arg;

static int first_time_check(void *arg, orbit_txn *t)
{
    (void)t;
    rc_arg *r = arg;
    if (r->calls == 1 && r->check_rc)
        return orbit_error_set(r->check_rc, "injected check outcome");
    return 0;
}

static int rc_fn(orbit_tx *tx, void *arg)
{
    rc_arg *r = arg;
    r->calls++;
    int rc = put_in(tx, r->a, "rc", "v");
    if (rc)
        return rc;
    if (r->fail_in_body && r->calls == 1) {
        orbit_tx_fail(tx, orbit_error_set(ORBIT_ECONFLICT, "model op conflicted"));
        return 0; /* a careless fn that goes on */
    }
    return orbit_tx_add_check(tx, first_time_check, r, NULL, NULL, 0);
}

static void test_run_outcomes(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "user", "rc", &a), 0);
    orbit_buf v = {0};
    /* A conflict found by a commit check is retried. */
    rc_arg r = {a, 0, ORBIT_ECONFLICT, 0};
    mt_check(orbit_tx_run(NULL, 4, rc_fn, &r), 0);
    assert_int_equal(r.calls, 2);
    mt_check(get_plain(a, "rc", &v), 0);
    /* A constraint and an uncertain outcome are returned at once. */
    static const int once[] = {ORBIT_ECONSTRAINT, ORBIT_EUNCERTAIN, ORBIT_EIO};
    for (size_t i = 0; i < 3; i++) {
        rc_arg q = {a, 0, once[i], 0};
        mt_check(orbit_tx_run(NULL, 4, rc_fn, &q), once[i]);
        assert_int_equal(q.calls, 1);
    }
    /* A fn that ignores a model op's conflict is retried, not committed. */
    rc_arg f = {a, 0, 0, 1};
    mt_check(orbit_tx_run(NULL, 4, rc_fn, &f), 0);
    assert_int_equal(f.calls, 2);
    /* max_attempts bounds the retries: the last conflict is returned. */
    conflict_arg c = {a, 0};
    mt_check(orbit_tx_run(NULL, 3, always_conflicts, &c), ORBIT_ECONFLICT);
    assert_int_equal(c.calls, 3);
    orbit_buf_release(&v);
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
        cmocka_unit_test(test_listeners_exact),
        cmocka_unit_test(test_commit_deadline),
        cmocka_unit_test(test_check_order_reads_frees),
        cmocka_unit_test(test_run_outcomes),
    };
    return mt_main(argc, argv, tests, sizeof tests / sizeof tests[0]);
}
