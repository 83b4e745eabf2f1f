/*
 * Tests for the storage manager (src/actor/manager.c): the three placement
 * strategies, the stored assignment winning over a changed strategy after a
 * restart (RocksDB in a temp dir), the catalog record's format, config
 * parsing and its line-numbered errors, unconfigured providers, and
 * concurrent first resolutions agreeing.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "orbit/codec.h"
#include "orbit/manager.h"
#include "orbit/record.h"
#include "testutil.h"

static void assert_detail_has(const char *needle)
{
    const char *d = orbit_last_error_detail();
    if (!strstr(d, needle))
        fail_msg("error detail \"%s\" does not contain \"%s\"", d, needle);
}

static const char *resolve_name(orbit_manager *m, const char *type,
                                const char *id)
{
    const char *name = NULL;
    orbit_kv *kv = NULL;
    int rc = orbit_manager_resolve(m, type, id, &kv, &name);
    if (rc)
        fail_msg("resolve %s/%s: %s (%s)", type, id, orbit_strerror(rc),
                 orbit_last_error_detail());
    assert_non_null(kv);
    orbit_kv *byname = NULL;
    assert_int_equal(orbit_manager_provider(m, name, &byname), 0);
    assert_ptr_equal(byname, kv);
    return name;
}

static orbit_manager *two_memory(void)
{
    orbit_manager *m;
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "main", "memory:"), 0);
    assert_int_equal(orbit_manager_add_provider(m, "hot", "memory:"), 0);
    return m;
}

/* The catalog key of an actor, as documented in orbit/manager.h. */
static void catalog_key(orbit_buf *key, const char *type, const char *id)
{
    orbit_buf t = ORBIT_BUF_INIT;
    assert_int_equal(orbit_tuple_str(&t, type), 0);
    assert_int_equal(orbit_tuple_str(&t, id), 0);
    key->len = 0;
    assert_int_equal(orbit_key_catalog(key, ORBIT_KEYSPACE_SYSTEM, "placement", t.data, t.len), 0);
    orbit_buf_release(&t);
}

/* ---- strategies ------------------------------------------------------ */

static void test_default_strategy(void **state)
{
    (void)state;
    orbit_manager *m = two_memory();
    const char *dname = NULL;
    orbit_kv *dkv = NULL;
    assert_int_equal(orbit_manager_default(m, &dkv, &dname), 0);
    assert_string_equal(dname, "main");
    assert_string_equal(resolve_name(m, "player", "1"), "main");
    assert_string_equal(resolve_name(m, "room", "a:b\x01"), "main");
    /* Cached and stored resolutions agree. */
    assert_string_equal(resolve_name(m, "player", "1"), "main");

    assert_int_equal(orbit_manager_provider_count(m), 2);
    assert_string_equal(orbit_manager_provider_name(m, 0), "main");
    assert_string_equal(orbit_manager_provider_name(m, 1), "hot");
    assert_null(orbit_manager_provider_name(m, 2));
    orbit_manager_free(m);
}

static void test_by_actor_type(void **state)
{
    (void)state;
    orbit_manager *m = two_memory();
    assert_int_equal(orbit_manager_set_strategy(m, ORBIT_PLACE_BY_ACTOR_TYPE),
                     0);
    assert_int_equal(orbit_manager_route(m, "player", "hot"), 0);
    assert_int_equal(orbit_manager_route(m, "ghost", "cold"), 0);
    assert_string_equal(resolve_name(m, "player", "1"), "hot");
    assert_string_equal(resolve_name(m, "room", "1"), "main");

    /* A route to a provider that is not configured is an error, and
     * nothing is stored: fixing the route then works. */
    assert_int_equal(orbit_manager_resolve(m, "ghost", "1", NULL, NULL),
                     ORBIT_ENOPROVIDER);
    assert_detail_has("cold");
    assert_int_equal(orbit_manager_route(m, "ghost", "hot"), 0);
    assert_string_equal(resolve_name(m, "ghost", "1"), "hot");

    /* Changing the table does not move actors already placed. */
    assert_int_equal(orbit_manager_route(m, "player", "main"), 0);
    assert_string_equal(resolve_name(m, "player", "1"), "hot");
    assert_string_equal(resolve_name(m, "player", "2"), "main");

    assert_int_equal(orbit_manager_route(m, "", "hot"), ORBIT_EINVAL);
    assert_int_equal(orbit_manager_route(m, "x", "two words"), ORBIT_EINVAL);
    assert_int_equal(orbit_manager_set_strategy(m, ORBIT_PLACE_CUSTOM),
                     ORBIT_EINVAL);
    orbit_manager_free(m);
}

typedef struct custom_ctx {
    int calls;
} custom_ctx;

static const char *place_custom(void *arg, const char *type, const char *id)
{
    custom_ctx *c = arg;
    c->calls++;
    if (strcmp(type, "bad") == 0)
        return "nowhere";
    return id[0] == 'h' ? "hot" : NULL;
}

static void test_custom(void **state)
{
    (void)state;
    orbit_manager *m = two_memory();
    custom_ctx c = {0};
    assert_int_equal(orbit_manager_set_custom(m, NULL, NULL), ORBIT_EINVAL);
    assert_int_equal(orbit_manager_set_custom(m, place_custom, &c), 0);
    assert_string_equal(resolve_name(m, "user", "h1"), "hot");
    assert_string_equal(resolve_name(m, "user", "c1"), "main");
    assert_int_equal(c.calls, 2);
    /* Placed actors never consult the callback again. */
    assert_string_equal(resolve_name(m, "user", "h1"), "hot");
    assert_string_equal(resolve_name(m, "user", "c1"), "main");
    assert_int_equal(c.calls, 2);

    assert_int_equal(orbit_manager_resolve(m, "bad", "h1", NULL, NULL),
                     ORBIT_ENOPROVIDER);
    assert_detail_has("nowhere");
    orbit_manager_free(m);
}

static void test_errors(void **state)
{
    (void)state;
    orbit_manager *m;
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_resolve(m, "t", "1", NULL, NULL),
                     ORBIT_ENOPROVIDER);
    assert_int_equal(orbit_manager_default(m, NULL, NULL), ORBIT_ENOPROVIDER);
    assert_int_equal(orbit_manager_add_provider(m, "", "memory:"),
                     ORBIT_EINVAL);
    assert_int_equal(orbit_manager_add_provider(m, "a b", "memory:"),
                     ORBIT_EINVAL);
    assert_true(orbit_manager_add_provider(m, "x", "nosuchscheme:foo") < 0);
    assert_int_equal(orbit_manager_provider_count(m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "main", "memory:"), 0);
    assert_int_equal(orbit_manager_add_provider(m, "main", "memory:"),
                     ORBIT_EEXIST);
    assert_int_equal(orbit_manager_add_provider(m, "side", "memory:"), 0);
    assert_int_equal(orbit_manager_provider(m, "nope", NULL),
                     ORBIT_ENOPROVIDER);
    assert_int_equal(orbit_manager_set_default(m, "nope"), ORBIT_ENOPROVIDER);
    assert_int_equal(orbit_manager_set_default(m, "side"), 0);
    assert_int_equal(orbit_manager_set_default(m, "main"), 0);

    assert_int_equal(orbit_manager_resolve(m, "", "1", NULL, NULL),
                     ORBIT_EINVAL);
    assert_int_equal(orbit_manager_resolve(m, "t", "", NULL, NULL),
                     ORBIT_EINVAL);
    assert_string_equal(resolve_name(m, "t", "1"), "main");
    /* The catalog is on "main" now: the default cannot move. */
    assert_int_equal(orbit_manager_set_default(m, "side"), ORBIT_EINVAL);
    assert_int_equal(orbit_manager_set_default(m, "main"), 0);

    /* A damaged catalog record is reported, not trusted. */
    orbit_kv *kv;
    assert_int_equal(orbit_manager_provider(m, "main", &kv), 0);
    orbit_buf key = ORBIT_BUF_INIT;
    catalog_key(&key, "t", "2");
    assert_int_equal(orbit_kv_put(kv, key.data, key.len,
                                  (const uint8_t *)"garbage", 7),
                     0);
    assert_int_equal(orbit_manager_resolve(m, "t", "2", NULL, NULL),
                     ORBIT_ECORRUPT);
    orbit_buf_release(&key);
    orbit_manager_free(m);
    orbit_manager_free(NULL);
}

/* ---- persistence ----------------------------------------------------- */

static void test_persistence_rocksdb(void **state)
{
    (void)state;
    char *dir = tu_tempdir("manager");
    char main_uri[512], side_uri[512];
    snprintf(main_uri, sizeof main_uri, "rocksdb:%s/main", dir);
    snprintf(side_uri, sizeof side_uri, "rocksdb:%s/side", dir);

    orbit_manager *m;
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "main", main_uri), 0);
    assert_int_equal(orbit_manager_add_provider(m, "side", side_uri), 0);
    assert_int_equal(orbit_manager_set_strategy(m, ORBIT_PLACE_BY_ACTOR_TYPE),
                     0);
    assert_int_equal(orbit_manager_route(m, "player", "side"), 0);
    assert_string_equal(resolve_name(m, "player", "1"), "side");
    assert_string_equal(resolve_name(m, "room", "1"), "main");
    orbit_manager_free(m);

    /* Restart with another strategy: the stored assignment wins. */
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "main", main_uri), 0);
    assert_int_equal(orbit_manager_add_provider(m, "side", side_uri), 0);
    assert_string_equal(resolve_name(m, "player", "1"), "side");
    assert_string_equal(resolve_name(m, "player", "2"), "main");
    assert_string_equal(resolve_name(m, "room", "1"), "main");

    /* The catalog record as documented: a catalog record on the default
     * provider naming the provider and the actor. */
    orbit_kv *kv;
    assert_int_equal(orbit_manager_provider(m, "main", &kv), 0);
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    catalog_key(&key, "player", "1");
    assert_int_equal(orbit_kv_get(kv, NULL, key.data, key.len, &val), 0);
    orbit_record_meta meta;
    const uint8_t *payload;
    size_t plen;
    assert_int_equal(orbit_record_decode(val.data, val.len, key.data, key.len,
                                         &meta, NULL, &payload, &plen),
                     0);
    assert_int_equal(meta.model, ORBIT_MODEL_CATALOG);
    assert_int_equal(plen, 4);
    assert_memory_equal(payload, "side", 4);
    assert_int_equal(meta.actor_type_len, 6);
    assert_memory_equal(meta.actor_type, "player", 6);
    assert_int_equal(meta.actor_id_len, 1);
    assert_memory_equal(meta.actor_id, "1", 1);
    orbit_manager_free(m);

    /* Restart without "side": its actors are a clear error. */
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "main", main_uri), 0);
    assert_int_equal(orbit_manager_resolve(m, "player", "1", NULL, NULL),
                     ORBIT_ENOPROVIDER);
    assert_detail_has("side");
    assert_string_equal(resolve_name(m, "room", "1"), "main");
    orbit_manager_free(m);

    orbit_buf_release(&key);
    orbit_buf_release(&val);
    tu_rmdir(dir);
}

/* ---- configuration --------------------------------------------------- */

static orbit_manager *from_text(const char *text, int expect_rc)
{
    orbit_manager *m = (orbit_manager *)&m; /* must be reset to NULL */
    int rc = orbit_manager_from_config_text(text, strlen(text), "t.conf", &m);
    if (rc != expect_rc)
        fail_msg("config gave %s (%s), expected %s", orbit_err_name(rc),
                 orbit_last_error_detail(), orbit_err_name(expect_rc));
    if (rc)
        assert_null(m);
    return m;
}

static void test_config_ok(void **state)
{
    (void)state;
    orbit_manager *m = from_text("# placement for the test\n"
                                 "\n"
                                 "provider hot memory:   # in RAM\n"
                                 "  provider\tmain memory:\r\n"
                                 "route player hot\n"
                                 "route room main\n"
                                 "default main\n"
                                 "strategy by_actor_type",
                                 0);
    const char *name;
    assert_int_equal(orbit_manager_default(m, NULL, &name), 0);
    assert_string_equal(name, "main");
    assert_string_equal(resolve_name(m, "player", "1"), "hot");
    assert_string_equal(resolve_name(m, "room", "1"), "main");
    assert_string_equal(resolve_name(m, "other", "1"), "main");
    orbit_manager_free(m);

    /* No default line: the first provider; default strategy. */
    m = from_text("provider a memory:\nprovider b memory:\nroute x b\n", 0);
    assert_int_equal(orbit_manager_default(m, NULL, &name), 0);
    assert_string_equal(name, "a");
    assert_string_equal(resolve_name(m, "x", "1"), "a");
    orbit_manager_free(m);
}

static void test_config_errors(void **state)
{
    (void)state;
    from_text("provider a memory:\n\nfrobnicate\n", ORBIT_EINVAL);
    assert_detail_has("t.conf:3:");
    assert_detail_has("frobnicate");

    from_text("provider a\n", ORBIT_EINVAL);
    assert_detail_has("t.conf:1:");

    from_text("provider a memory: extra\n", ORBIT_EINVAL);
    assert_detail_has("t.conf:1:");

    from_text("provider a memory:\nstrategy random\n", ORBIT_EINVAL);
    assert_detail_has("t.conf:2:");
    assert_detail_has("random");

    from_text("provider a memory:\n# fine\nroute player b\n", ORBIT_EINVAL);
    assert_detail_has("t.conf:3:");
    assert_detail_has("b");

    from_text("provider a memory:\ndefault z\n", ORBIT_EINVAL);
    assert_detail_has("t.conf:2:");

    from_text("provider a memory:\ndefault a\ndefault a\n", ORBIT_EINVAL);
    assert_detail_has("t.conf:3:");

    from_text("provider a memory:\nprovider a memory:\n", ORBIT_EEXIST);
    assert_detail_has("t.conf:2:");

    from_text("provider a memory:\nprovider b nosuchscheme:x\n",
              ORBIT_ENOPROVIDER);
    assert_detail_has("t.conf:2:");

    from_text("# nothing\n", ORBIT_EINVAL);
    assert_detail_has("no provider");

    const char nul[] = "provider a memory:\nx\0y\n";
    orbit_manager *m = NULL;
    assert_int_equal(orbit_manager_from_config_text(nul, sizeof nul - 1, NULL,
                                                    &m),
                     ORBIT_EINVAL);
    assert_null(m);
    assert_detail_has("config:2:");
}

static void test_config_file(void **state)
{
    (void)state;
    char *dir = tu_tempdir("mgrconf");
    char path[512];
    snprintf(path, sizeof path, "%s/orbit.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "provider main rocksdb:%s/db\nprovider hot memory:\n"
               "strategy by_actor_type\nroute session hot\n",
            dir);
    fclose(f);

    orbit_manager *m;
    assert_int_equal(orbit_manager_from_config(path, &m), 0);
    assert_string_equal(resolve_name(m, "session", "s1"), "hot");
    assert_string_equal(resolve_name(m, "player", "p1"), "main");
    orbit_manager_free(m);

    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "provider main memory:\nroute\n");
    fclose(f);
    assert_int_equal(orbit_manager_from_config(path, &m), ORBIT_EINVAL);
    assert_detail_has("orbit.conf:2:");

    snprintf(path, sizeof path, "%s/missing.conf", dir);
    assert_int_equal(orbit_manager_from_config(path, &m), ORBIT_EIO);
    assert_detail_has("missing.conf");
    tu_rmdir(dir);
}

/* ---- concurrency ----------------------------------------------------- */

#define NTHREADS 8
#define NACTORS 32

static _Thread_local int thread_no;

/* Each thread would place new actors differently, so only the catalog can
 * make them agree. */
static const char *place_by_thread(void *arg, const char *type,
                                   const char *id)
{
    (void)arg;
    (void)type;
    (void)id;
    /* Widen the window between reading "absent" and storing a choice, so
     * a resolver without an atomic insert-if-absent would be caught. */
    struct timespec ts = {0, 200 * 1000};
    nanosleep(&ts, NULL);
    return thread_no % 2 ? "hot" : "main";
}

static pthread_barrier_t start_line;

typedef struct worker {
    orbit_manager *m;
    int no;
    const char *got[NACTORS];
    int rc;
} worker;

static void *resolve_all(void *arg)
{
    worker *w = arg;
    thread_no = w->no;
    for (int a = 0; a < NACTORS; a++) {
        /* Every thread starts on each new actor at the same moment. */
        pthread_barrier_wait(&start_line);
        char id[32];
        snprintf(id, sizeof id, "actor-%d", a);
        int rc = orbit_manager_resolve(w->m, "player", id, NULL, &w->got[a]);
        if (rc) {
            w->rc = rc;
            fprintf(stderr, "thread %d: resolve %s: %s (%s)\n", w->no, id,
                    orbit_strerror(rc), orbit_last_error_detail());
        }
    }
    return NULL;
}

static void run_concurrent(const char *default_uri)
{
    orbit_manager *m;
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "main", default_uri), 0);
    assert_int_equal(orbit_manager_add_provider(m, "hot", "memory:"), 0);
    assert_int_equal(orbit_manager_set_custom(m, place_by_thread, NULL), 0);

    static worker w[NTHREADS];
    pthread_t th[NTHREADS];
    memset(w, 0, sizeof w);
    assert_int_equal(pthread_barrier_init(&start_line, NULL, NTHREADS), 0);
    for (int i = 0; i < NTHREADS; i++) {
        w[i].m = m;
        w[i].no = i;
        assert_int_equal(pthread_create(&th[i], NULL, resolve_all, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start_line);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(w[i].rc, 0);

    /* Every thread got the same answer, and it is the stored one. */
    for (int a = 0; a < NACTORS; a++) {
        for (int i = 1; i < NTHREADS; i++)
            assert_string_equal(w[i].got[a], w[0].got[a]);
    }
    orbit_kv *kv;
    assert_int_equal(orbit_manager_provider(m, "main", &kv), 0);
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    for (int a = 0; a < NACTORS; a++) {
        char id[32];
        snprintf(id, sizeof id, "actor-%d", a);
        catalog_key(&key, "player", id);
        assert_int_equal(orbit_kv_get(kv, NULL, key.data, key.len, &val), 0);
        orbit_record_meta meta;
        const uint8_t *payload;
        size_t plen;
        assert_int_equal(orbit_record_decode(val.data, val.len, key.data,
                                             key.len, &meta, NULL, &payload,
                                             &plen),
                         0);
        assert_int_equal(plen, strlen(w[0].got[a]));
        assert_memory_equal(payload, w[0].got[a], plen);
    }
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    orbit_manager_free(m);
}

static void test_concurrent_memory(void **state)
{
    (void)state;
    run_concurrent("memory:");
}

static void test_concurrent_rocksdb(void **state)
{
    (void)state;
    char *dir = tu_tempdir("mgrconc");
    char uri[512];
    snprintf(uri, sizeof uri, "rocksdb:%s", dir);
    run_concurrent(uri);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_strategy),
        cmocka_unit_test(test_by_actor_type),
        cmocka_unit_test(test_custom),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_persistence_rocksdb),
        cmocka_unit_test(test_config_ok),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_concurrent_memory),
        cmocka_unit_test(test_concurrent_rocksdb),
    };
    /* ORBIT_TEST_FILTER=test_custom runs one test (a glob pattern). */
    const char *filter = getenv("ORBIT_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
