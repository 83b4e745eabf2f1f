/*
 * Tests for the storage manager (src/actor/manager.c): the placement
 * strategies (DEFAULT, BY_ACTOR_TYPE, CUSTOM, BY_DATA_PATTERN with its
 * consistency rules), the stored placement winning over a changed strategy
 * after a restart (RocksDB in a temp dir), the placement record's format
 * with its keyspace id and the moving state, keyspace ids from the catalog
 * unique across providers, a known actor resolved by one plain read and a
 * new one placed without a transaction where the store compares natively,
 * uncertain inserts read back (a scripted provider), the refused volatile
 * catalog, listing the actors of a provider, config parsing and its
 * line-numbered errors, concurrent first resolutions agreeing, and
 * set_custom never letting a replaced callback run after it returned
 * (threads; also run under TSan).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "orbit/catalog.h"
#include "orbit/codec.h"
#include "orbit/manager.h"
#include "orbit/provider.h"
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

static orbit_actor_placement resolve_ctx(orbit_manager *m, const char *type,
                                         const char *id,
                                         const orbit_actor_context *ctx)
{
    orbit_actor_placement pl;
    memset(&pl, 0xAB, sizeof pl);
    int rc = orbit_manager_resolve_actor(m, type, id, ctx, &pl);
    if (rc)
        fail_msg("resolve %s/%s: %s (%s)", type, id, orbit_strerror(rc),
                 orbit_last_error_detail());
    return pl;
}

static orbit_manager *two_memory(void)
{
    orbit_manager *m;
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "main", "memory:"), 0);
    assert_int_equal(orbit_manager_add_provider(m, "hot", "memory:"), 0);
    /* The catalog on memory: these tests opt in. */
    assert_int_equal(orbit_manager_allow_volatile_catalog(m, 1), 0);
    return m;
}

/* The catalog key of an actor, as documented in orbit/manager.h. */
static void catalog_key(orbit_buf *key, const char *type, const char *id)
{
    orbit_buf t = ORBIT_BUF_INIT;
    assert_int_equal(orbit_tuple_str(&t, type), 0);
    assert_int_equal(orbit_tuple_str(&t, id), 0);
    key->len = 0;
    assert_int_equal(orbit_key_catalog(key, ORBIT_KEYSPACE_SYSTEM, "placement",
                                       t.data, t.len),
                     0);
    orbit_buf_release(&t);
}

/* A placement record as documented: payload (state, ks, source[, target,
 * epoch]). */
static void put_placement(orbit_kv *kv, const char *type, const char *id,
                          int64_t state, int64_t ks, const char *src,
                          const char *tgt, int64_t epoch)
{
    orbit_buf key = ORBIT_BUF_INIT, p = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT;
    catalog_key(&key, type, id);
    assert_int_equal(orbit_tuple_int(&p, state), 0);
    assert_int_equal(orbit_tuple_int(&p, ks), 0);
    assert_int_equal(orbit_tuple_str(&p, src), 0);
    if (tgt) {
        assert_int_equal(orbit_tuple_str(&p, tgt), 0);
        assert_int_equal(orbit_tuple_int(&p, epoch), 0);
    }
    orbit_record_meta meta = {
        .model = ORBIT_MODEL_CATALOG,
        .schema_version = 2,
        .created_ms = 5,
        .updated_ms = 5,
        .actor_type = (const uint8_t *)type,
        .actor_type_len = strlen(type),
        .actor_id = (const uint8_t *)id,
        .actor_id_len = strlen(id),
    };
    assert_int_equal(orbit_record_encode(&rec, key.data, key.len, &meta, NULL,
                                         p.data, p.len),
                     0);
    assert_int_equal(orbit_kv_put(kv, key.data, key.len, rec.data, rec.len),
                     0);
    orbit_buf_release(&key);
    orbit_buf_release(&p);
    orbit_buf_release(&rec);
}

/* Decode a stored placement record: state, keyspace and provider name. */
static void read_placement(orbit_kv *kv, const char *type, const char *id,
                           int64_t *state, int64_t *ks, orbit_buf *provider)
{
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    catalog_key(&key, type, id);
    assert_int_equal(orbit_kv_get(kv, NULL, key.data, key.len, &val), 0);
    orbit_record_meta meta;
    const uint8_t *p;
    size_t n, pos = 0;
    assert_int_equal(orbit_record_decode(val.data, val.len, key.data, key.len,
                                         &meta, NULL, &p, &n),
                     0);
    assert_int_equal(meta.model, ORBIT_MODEL_CATALOG);
    assert_int_equal(meta.schema_version, 2);
    assert_int_equal(meta.actor_type_len, strlen(type));
    assert_memory_equal(meta.actor_type, type, strlen(type));
    assert_int_equal(meta.actor_id_len, strlen(id));
    assert_memory_equal(meta.actor_id, id, strlen(id));
    orbit_tuple_item it = {0};
    assert_int_equal(orbit_tuple_next(p, n, &pos, &it), 0);
    assert_int_equal(it.type, ORBIT_TUPLE_INT);
    *state = it.i;
    assert_int_equal(orbit_tuple_next(p, n, &pos, &it), 0);
    assert_int_equal(it.type, ORBIT_TUPLE_INT);
    *ks = it.i;
    it.bytes_out = provider;
    assert_int_equal(orbit_tuple_next(p, n, &pos, &it), 0);
    assert_int_equal(it.type, ORBIT_TUPLE_BYTES);
    assert_int_equal(pos, n);
    orbit_buf_release(&key);
    orbit_buf_release(&val);
}

/* ---- a provider with scripted uncertain outcomes ---------------------- */

/*
 * "flaky:" wraps a memory store and reports itself as a durable,
 * distributed provider that compares natively but has no transactions.
 * Its compare-and-set follows a script, one step per call: pass, apply and
 * then report ORBIT_EUNCERTAIN (the reply was lost), or report
 * ORBIT_EUNCERTAIN without applying (the request was lost); calls past
 * the script all take one step.
 */
enum { STEP_PASS = 0, STEP_APPLIED_UNCERTAIN = 1, STEP_LOST_UNCERTAIN = 2 };

static pthread_mutex_t script_mu = PTHREAD_MUTEX_INITIALIZER;
static int script[16];
static int script_after; /* the step for every call past the script */
static size_t script_len, script_pos, cas_calls;

static void set_script(const int *steps, size_t n, int after)
{
    pthread_mutex_lock(&script_mu);
    if (n)
        memcpy(script, steps, n * sizeof *steps);
    script_len = n;
    script_after = after;
    script_pos = 0;
    cas_calls = 0;
    pthread_mutex_unlock(&script_mu);
}

static int fk_open(orbit_uri *uri, void **self)
{
    int rc = orbit_uri_check_unused(uri);
    orbit_kv *inner = NULL;
    if (!rc)
        rc = orbit_kv_open("memory:", &inner);
    *self = inner;
    return rc;
}

static void fk_close(void *self) { orbit_kv_close(self); }

static void fk_caps(void *self, orbit_capabilities *out)
{
    (void)self;
    memset(out, 0, sizeof *out);
    out->type = ORBIT_PROVIDER_DISTRIBUTED;
    out->name = "flaky";
    out->durable = 1;
    out->native_cas = 1;
}

static int fk_get(void *self, void *snap, const uint8_t *k, size_t kl,
                  orbit_value_fn fn, void *arg)
{
    (void)snap;
    return orbit_kv_get_with(self, NULL, k, kl, fn, arg);
}

static int fk_put(void *self, const uint8_t *k, size_t kl, const uint8_t *v,
                  size_t vl)
{
    return orbit_kv_put(self, k, kl, v, vl);
}

static int fk_del(void *self, const uint8_t *k, size_t kl)
{
    return orbit_kv_del(self, k, kl);
}

static int fk_write(void *self, const orbit_batch *b)
{
    return orbit_kv_write(self, b);
}

static int fk_iter_open(void *self, void *snap, const orbit_range *r,
                        void **it)
{
    (void)snap;
    orbit_scan_opts so = {0};
    so.start = r->lo;
    so.start_len = r->lo_len;
    so.end = r->hi;
    so.end_len = r->hi_len;
    so.reverse = r->reverse;
    so.limit = r->limit;
    return orbit_kv_iter(self, NULL, &so, (orbit_iter **)it);
}

static int fk_iter_next(void *it, const uint8_t **k, size_t *kl,
                        const uint8_t **v, size_t *vl)
{
    return orbit_iter_next(it, k, kl, v, vl);
}

static void fk_iter_close(void *it) { orbit_iter_close(it); }

static int fk_cas(void *self, const uint8_t *k, size_t kl,
                  const orbit_slice *expected, const orbit_slice *desired,
                  orbit_buf *current)
{
    pthread_mutex_lock(&script_mu);
    int step = script_pos < script_len ? script[script_pos++] : script_after;
    cas_calls++;
    pthread_mutex_unlock(&script_mu);
    if (step == STEP_LOST_UNCERTAIN)
        return orbit_error_set(ORBIT_EUNCERTAIN, "flaky: request lost");
    int rc = orbit_kv_cas(self, k, kl, expected, desired, current);
    if (rc == ORBIT_OK && step == STEP_APPLIED_UNCERTAIN)
        return orbit_error_set(ORBIT_EUNCERTAIN, "flaky: reply lost");
    return rc;
}

static const orbit_provider flaky_provider = {
    .version = ORBIT_PROVIDER_VERSION,
    .name = "flaky",
    .open = fk_open,
    .close = fk_close,
    .capabilities = fk_caps,
    .get = fk_get,
    .put = fk_put,
    .del = fk_del,
    .write = fk_write,
    .iter_open = fk_iter_open,
    .iter_next = fk_iter_next,
    .iter_close = fk_iter_close,
    .cas = fk_cas,
};

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

    /* Leaving CUSTOM: the callback is no longer called. */
    assert_int_equal(orbit_manager_set_strategy(m, ORBIT_PLACE_DEFAULT), 0);
    assert_string_equal(resolve_name(m, "user", "h2"), "main");
    assert_int_equal(c.calls, 3);
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
    assert_int_equal(orbit_manager_allow_volatile_catalog(m, 1), 0);

    assert_int_equal(orbit_manager_resolve(m, "", "1", NULL, NULL),
                     ORBIT_EINVAL);
    assert_int_equal(orbit_manager_resolve(m, "t", "", NULL, NULL),
                     ORBIT_EINVAL);
    /* The actor type "orbit" is Orbit's. */
    assert_int_equal(orbit_manager_resolve(m, "orbit", "x", NULL, NULL),
                     ORBIT_EINVAL);
    orbit_actor_context bad = {.consistency = (orbit_consistency)9};
    orbit_actor_placement pl;
    assert_int_equal(orbit_manager_resolve_actor(m, "t", "9", &bad, &pl),
                     ORBIT_EINVAL);
    assert_string_equal(resolve_name(m, "t", "1"), "main");
    /* The catalog is on "main" now: the default cannot move. */
    assert_int_equal(orbit_manager_set_default(m, "side"), ORBIT_EINVAL);
    assert_int_equal(orbit_manager_set_default(m, "main"), 0);

    /* A damaged placement record is reported, not trusted. */
    orbit_kv *kv;
    assert_int_equal(orbit_manager_provider(m, "main", &kv), 0);
    orbit_buf key = ORBIT_BUF_INIT;
    catalog_key(&key, "t", "2");
    assert_int_equal(orbit_kv_put(kv, key.data, key.len,
                                  (const uint8_t *)"garbage", 7),
                     0);
    assert_int_equal(orbit_manager_resolve(m, "t", "2", NULL, NULL),
                     ORBIT_ECORRUPT);
    /* Well-formed records with impossible contents too. */
    put_placement(kv, "t", "3", 3, 2, "main", NULL, 0); /* unknown state */
    assert_int_equal(orbit_manager_resolve(m, "t", "3", NULL, NULL),
                     ORBIT_ECORRUPT);
    put_placement(kv, "t", "4", 1, 0, "main", NULL, 0); /* keyspace 0 */
    assert_int_equal(orbit_manager_resolve(m, "t", "4", NULL, NULL),
                     ORBIT_ECORRUPT);
    put_placement(kv, "t", "5", 2, 2, "main", NULL, 0); /* moving, no target */
    assert_int_equal(orbit_manager_resolve(m, "t", "5", NULL, NULL),
                     ORBIT_ECORRUPT);
    /* A valid record copied under another actor's key. */
    orbit_buf val = ORBIT_BUF_INIT, key1 = ORBIT_BUF_INIT;
    catalog_key(&key1, "t", "1");
    assert_int_equal(orbit_kv_get(kv, NULL, key1.data, key1.len, &val), 0);
    catalog_key(&key, "t", "6");
    assert_int_equal(orbit_kv_put(kv, key.data, key.len, val.data, val.len),
                     0);
    assert_int_equal(orbit_manager_resolve(m, "t", "6", NULL, NULL),
                     ORBIT_ECORRUPT);
    orbit_buf_release(&key);
    orbit_buf_release(&key1);
    orbit_buf_release(&val);
    orbit_manager_free(m);
    orbit_manager_free(NULL);
}

/* ---- the catalog store must be durable -------------------------------- */

static int count_actor(void *arg, const char *type, const char *id,
                       const orbit_actor_placement *p)
{
    (void)type;
    (void)id;
    (void)p;
    (*(int *)arg)++;
    return 0;
}

static void test_volatile_catalog(void **state)
{
    (void)state;
    orbit_manager *m;
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "main", "memory:"), 0);
    assert_int_equal(orbit_manager_resolve(m, "t", "1", NULL, NULL),
                     ORBIT_EINVAL);
    assert_detail_has("not durable");
    assert_detail_has("main");
    int n = 0;
    assert_int_equal(orbit_manager_list_actors(m, NULL, count_actor, &n),
                     ORBIT_EINVAL);
    assert_int_equal(orbit_manager_allow_volatile_catalog(m, 1), 0);
    assert_string_equal(resolve_name(m, "t", "1"), "main");
    assert_int_equal(orbit_manager_allow_volatile_catalog(m, 0), 0);
    assert_int_equal(orbit_manager_resolve(m, "t", "2", NULL, NULL),
                     ORBIT_EINVAL);
    orbit_manager_free(m);

    /* A durable default needs no permission, and a refusal does not fix
     * the default: the caller can still choose a durable one. */
    char *dir = tu_tempdir("mgrdur");
    char uri[512];
    snprintf(uri, sizeof uri, "rocksdb:%s/a", dir);
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "mem", "memory:"), 0);
    assert_int_equal(orbit_manager_resolve(m, "t", "1", NULL, NULL),
                     ORBIT_EINVAL);
    assert_int_equal(orbit_manager_add_provider(m, "disk", uri), 0);
    assert_int_equal(orbit_manager_set_default(m, "disk"), 0);
    assert_string_equal(resolve_name(m, "t", "1"), "disk");
    orbit_manager_free(m);

    snprintf(uri, sizeof uri, "rocksdb:%s/b", dir);
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "hot", "memory:"), 0);
    assert_int_equal(orbit_manager_add_provider(m, "main", uri), 0);
    assert_int_equal(orbit_manager_set_default(m, "main"), 0);
    assert_int_equal(orbit_manager_route(m, "s", "hot"), 0);
    assert_int_equal(orbit_manager_set_strategy(m, ORBIT_PLACE_BY_ACTOR_TYPE),
                     0);
    assert_string_equal(resolve_name(m, "s", "1"), "hot");
    orbit_manager_free(m);
    tu_rmdir(dir);
}

/* ---- placement records and keyspaces ---------------------------------- */

static void test_placement_keyspaces(void **state)
{
    (void)state;
    orbit_manager *m = two_memory();
    assert_int_equal(orbit_manager_set_strategy(m, ORBIT_PLACE_BY_ACTOR_TYPE),
                     0);
    assert_int_equal(orbit_manager_route(m, "session", "hot"), 0);

    orbit_actor_placement a = resolve_ctx(m, "player", "1", NULL);
    orbit_actor_placement b = resolve_ctx(m, "session", "1", NULL);
    orbit_actor_placement c = resolve_ctx(m, "player", "2", NULL);
    orbit_actor_placement d = resolve_ctx(m, "orbit", "default", NULL);
    assert_string_equal(a.provider, "main");
    assert_string_equal(b.provider, "hot");
    assert_int_equal(a.state, ORBIT_PLACEMENT_PLACED);
    assert_null(a.target);
    assert_null(a.target_kv);
    assert_int_equal(a.epoch, 0);
    /* Ids from the one catalog on the default store: unique across
     * providers. */
    assert_int_equal(d.keyspace, ORBIT_KEYSPACE_DEFAULT);
    assert_true(a.keyspace >= 2 && b.keyspace >= 2 && c.keyspace >= 2);
    assert_true(a.keyspace != b.keyspace && b.keyspace != c.keyspace &&
                a.keyspace != c.keyspace);
    orbit_kv *def, *hot;
    assert_int_equal(orbit_manager_default(m, &def, NULL), 0);
    assert_int_equal(orbit_manager_provider(m, "hot", &hot), 0);
    assert_ptr_equal(b.kv, hot);
    uint64_t ks = 0;
    assert_int_equal(orbit_catalog_keyspace(def, "session", "1", 0, &ks), 0);
    assert_int_equal(ks, b.keyspace);
    /* Nothing of the catalog is on the other provider. */
    assert_int_equal(orbit_catalog_keyspace(hot, "session", "1", 0, &ks),
                     ORBIT_NOTFOUND);

    /* The stored record, as documented. */
    int64_t st, sks;
    orbit_buf name = ORBIT_BUF_INIT;
    read_placement(def, "session", "1", &st, &sks, &name);
    assert_int_equal(st, ORBIT_PLACEMENT_PLACED);
    assert_int_equal(sks, (int64_t)b.keyspace);
    assert_int_equal(name.len, 3);
    assert_memory_equal(name.data, "hot", 3);
    orbit_buf_release(&name);

    /* The cached answer is the stored one. */
    orbit_actor_placement b2 = resolve_ctx(m, "session", "1", NULL);
    assert_int_equal(b2.keyspace, b.keyspace);
    assert_ptr_equal(b2.kv, b.kv);
    orbit_manager_free(m);
}

static void test_moving_state(void **state)
{
    (void)state;
    orbit_manager *m = two_memory();
    orbit_kv *main_kv, *hot;
    assert_int_equal(orbit_manager_provider(m, "main", &main_kv), 0);
    assert_int_equal(orbit_manager_provider(m, "hot", &hot), 0);
    /* Nothing creates the moving state yet: write it as documented. */
    put_placement(main_kv, "player", "m", 2, 77, "main", "hot", 9);
    orbit_actor_placement p = resolve_ctx(m, "player", "m", NULL);
    assert_int_equal(p.state, ORBIT_PLACEMENT_MOVING);
    assert_string_equal(p.provider, "main"); /* the source serves it */
    assert_ptr_equal(p.kv, main_kv);
    assert_string_equal(p.target, "hot");
    assert_ptr_equal(p.target_kv, hot);
    assert_int_equal(p.epoch, 9);
    assert_int_equal(p.keyspace, 77);

    put_placement(main_kv, "player", "c", 2, 78, "main", "cold", 1);
    assert_int_equal(orbit_manager_resolve(m, "player", "c", NULL, NULL),
                     ORBIT_ENOPROVIDER);
    assert_detail_has("cold");
    orbit_manager_free(m);
}

/* ---- plain reads first ------------------------------------------------ */

static void test_plain_read_first(void **state)
{
    (void)state;
    char *dir = tu_tempdir("mgrread");
    char uri[512];
    snprintf(uri, sizeof uri, "rocksdb:%s", dir);
    orbit_manager *m;
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "main", uri), 0);
    orbit_actor_placement first = resolve_ctx(m, "player", "1", NULL);
    orbit_manager_free(m);

    /* A fresh manager (empty cache) on the same store: one plain read, no
     * transaction, no write. */
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "main", uri), 0);
    orbit_kv *kv;
    assert_int_equal(orbit_manager_default(m, &kv, NULL), 0);
    orbit_kv_stats before, after;
    orbit_kv_stats_get(kv, &before);
    orbit_actor_placement again = resolve_ctx(m, "player", "1", NULL);
    orbit_kv_stats_get(kv, &after);
    assert_int_equal(again.keyspace, first.keyspace);
    assert_int_equal(after.txns_begun, before.txns_begun);
    assert_int_equal(after.gets - before.gets, 1);
    assert_int_equal(after.puts, before.puts);
    orbit_manager_free(m);
    tu_rmdir(dir);

    /* On a store that compares natively, even a first placement (keyspace
     * allocation included) takes no transaction. */
    m = two_memory();
    assert_int_equal(orbit_manager_default(m, &kv, NULL), 0);
    orbit_capabilities caps;
    orbit_kv_capabilities(kv, &caps);
    assert_true(caps.native_cas);
    orbit_kv_stats_get(kv, &before);
    resolve_ctx(m, "player", "new", NULL);
    orbit_kv_stats_get(kv, &after);
    assert_int_equal(after.txns_begun, before.txns_begun);
    assert_true(after.puts > before.puts);
    orbit_manager_free(m);
}

/* ---- uncertain outcomes ----------------------------------------------- */

static orbit_manager *flaky_manager(void)
{
    orbit_manager *m;
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "main", "flaky:"), 0);
    assert_int_equal(orbit_manager_add_provider(m, "hot", "memory:"), 0);
    return m;
}

static void test_uncertain(void **state)
{
    (void)state;
    orbit_manager *m = flaky_manager();
    orbit_kv *kv;
    assert_int_equal(orbit_manager_default(m, &kv, NULL), 0);

    /* The CAS calls of a first placement: the keyspace counter, the
     * keyspace mapping, the placement record. */
    set_script((int[]){STEP_PASS, STEP_PASS, STEP_PASS}, 3, STEP_PASS);
    orbit_actor_placement p = resolve_ctx(m, "a", "0", NULL);
    assert_int_equal(p.keyspace, 2);
    assert_int_equal(cas_calls, 3);

    /* The placement insert applied but its reply was lost: read back, it
     * is ours; no second insert. */
    set_script((int[]){STEP_PASS, STEP_PASS, STEP_APPLIED_UNCERTAIN}, 3, STEP_PASS);
    p = resolve_ctx(m, "a", "1", NULL);
    assert_int_equal(p.keyspace, 3);
    assert_string_equal(p.provider, "main");
    assert_int_equal(cas_calls, 3);

    /* The insert never arrived: read back, absent, inserted again. */
    set_script((int[]){STEP_PASS, STEP_PASS, STEP_LOST_UNCERTAIN}, 3, STEP_PASS);
    p = resolve_ctx(m, "a", "2", NULL);
    assert_int_equal(p.keyspace, 4);
    assert_int_equal(cas_calls, 4);
    int64_t st, ks;
    orbit_buf name = ORBIT_BUF_INIT;
    read_placement(kv, "a", "2", &st, &ks, &name);
    assert_int_equal(ks, 4);
    orbit_buf_release(&name);

    /* The keyspace counter moved but the reply was lost: that id is burnt
     * (never handed out), the next one is used. */
    set_script((int[]){STEP_APPLIED_UNCERTAIN}, 1, STEP_PASS);
    p = resolve_ctx(m, "a", "3", NULL);
    assert_int_equal(p.keyspace, 6);
    orbit_buf t = ORBIT_BUF_INIT;
    assert_int_equal(orbit_catalog_keyspace_actor(kv, 5, &t, NULL),
                     ORBIT_NOTFOUND);
    assert_int_equal(orbit_catalog_keyspace_actor(kv, 6, &t, NULL), 0);
    assert_string_equal((const char *)t.data, "a");

    /* The keyspace mapping applied with its reply lost: read back, ours. */
    set_script((int[]){STEP_PASS, STEP_APPLIED_UNCERTAIN}, 2, STEP_PASS);
    p = resolve_ctx(m, "a", "4", NULL);
    assert_int_equal(p.keyspace, 7);
    assert_int_equal(orbit_catalog_keyspace_actor(kv, 7, &t, NULL), 0);

    /* An outcome that stays unknown is reported as such, never as a
     * retryable error, and resolving again settles it. */
    set_script(NULL, 0, STEP_LOST_UNCERTAIN);
    orbit_actor_placement untouched;
    memset(&untouched, 0, sizeof untouched);
    int rc = orbit_manager_resolve_actor(m, "a", "5", NULL, &untouched);
    assert_true(rc < 0);
    assert_false(orbit_err_retryable(rc));
    assert_null(untouched.kv);
    set_script(NULL, 0, STEP_PASS);
    p = resolve_ctx(m, "a", "5", NULL);
    assert_string_equal(p.provider, "main");

    /* Every actor is listed once with the keyspace it resolved to. */
    int n = 0;
    assert_int_equal(orbit_manager_list_actors(m, "main", count_actor, &n),
                     0);
    assert_int_equal(n, 6);
    orbit_buf_release(&t);
    orbit_manager_free(m);
}

/* ---- ByDataPattern ----------------------------------------------------- */

static void test_data_pattern(void **state)
{
    (void)state;
    char *dir = tu_tempdir("mgrpat");
    char disk[512], fast[512];
    snprintf(disk, sizeof disk, "rocksdb:%s/disk", dir);
    snprintf(fast, sizeof fast, "rocksdb:%s/fast", dir);
    orbit_manager *m;
    assert_int_equal(orbit_manager_new(&m), 0);
    /* dist: durable, distributed, no transactions (the default);
     * disk, fast: embedded; mem: memory. */
    assert_int_equal(orbit_manager_add_provider(m, "dist", "flaky:"), 0);
    assert_int_equal(orbit_manager_add_provider(m, "mem", "memory:"), 0);
    assert_int_equal(orbit_manager_add_provider(m, "disk", disk), 0);
    assert_int_equal(orbit_manager_add_provider(m, "fast", fast), 0);
    assert_int_equal(orbit_manager_set_data_pattern(m, NULL), 0);

    orbit_actor_context many = {.cross_actor_refs = 33};
    orbit_actor_context few = {.cross_actor_refs = 32};
    orbit_actor_context quick = {.latency_sensitive = 1};
    /* Unnamed providers are found by type: the first of each. */
    assert_string_equal(resolve_ctx(m, "x", "many", &many).provider, "dist");
    assert_string_equal(resolve_ctx(m, "x", "few", &few).provider, "dist");
    assert_string_equal(resolve_ctx(m, "x", "quick", &quick).provider, "disk");
    assert_string_equal(resolve_ctx(m, "x", "none", NULL).provider, "dist");
    /* Cross-actor references come first. */
    orbit_actor_context both = {.cross_actor_refs = 100,
                                .latency_sensitive = 1};
    assert_string_equal(resolve_ctx(m, "x", "both", &both).provider, "dist");
    /* A stored placement ignores a later context. */
    assert_string_equal(resolve_ctx(m, "x", "few", &quick).provider, "dist");

    /* Named providers and a threshold. */
    orbit_data_pattern pat = {.cross_refs_threshold = 4, .embedded = "mem"};
    assert_int_equal(orbit_manager_set_data_pattern(m, &pat), 0);
    orbit_actor_context five = {.cross_actor_refs = 5};
    assert_string_equal(resolve_ctx(m, "y", "five", &five).provider, "dist");
    assert_string_equal(resolve_ctx(m, "y", "quick", &quick).provider, "mem");

    /* Consistency: a durable requirement never lands on memory ... */
    orbit_actor_context quick_durable = {
        .latency_sensitive = 1, .consistency = ORBIT_CONSISTENCY_DURABLE};
    assert_string_equal(
        resolve_ctx(m, "y", "quick_durable", &quick_durable).provider, "dist");
    /* ... and a strong one needs transactions: not on dist (the
     * proposal and the default), so the first provider that has them. */
    orbit_actor_context many_strong = {
        .cross_actor_refs = 100, .consistency = ORBIT_CONSISTENCY_STRONG};
    assert_string_equal(
        resolve_ctx(m, "y", "many_strong", &many_strong).provider, "disk");
    orbit_actor_context quick_strong = {
        .latency_sensitive = 1, .consistency = ORBIT_CONSISTENCY_STRONG};
    pat.embedded = "fast";
    assert_int_equal(orbit_manager_set_data_pattern(m, &pat), 0);
    assert_string_equal(
        resolve_ctx(m, "y", "quick_strong", &quick_strong).provider, "fast");

    /* A proposal naming a provider that is not configured is skipped. */
    pat.distributed = "nowhere";
    assert_int_equal(orbit_manager_set_data_pattern(m, &pat), 0);
    assert_string_equal(resolve_ctx(m, "y", "both", &both).provider, "fast");
    pat.distributed = "two words";
    assert_int_equal(orbit_manager_set_data_pattern(m, &pat), ORBIT_EINVAL);

    /* The other strategies check the requirement instead of searching. */
    assert_int_equal(orbit_manager_set_strategy(m, ORBIT_PLACE_DEFAULT), 0);
    orbit_actor_context strong = {.consistency = ORBIT_CONSISTENCY_STRONG};
    orbit_actor_placement pl;
    assert_int_equal(orbit_manager_resolve_actor(m, "z", "1", &strong, &pl),
                     ORBIT_EINVAL);
    assert_detail_has("strong");
    orbit_manager_free(m);

    /* No provider meets the requirement at all. */
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "mem", "memory:"), 0);
    assert_int_equal(orbit_manager_allow_volatile_catalog(m, 1), 0);
    assert_int_equal(orbit_manager_set_strategy(m,
                                                ORBIT_PLACE_BY_DATA_PATTERN),
                     0);
    orbit_actor_context durable = {.consistency = ORBIT_CONSISTENCY_DURABLE};
    assert_int_equal(orbit_manager_resolve_actor(m, "z", "1", &durable, &pl),
                     ORBIT_ENOPROVIDER);
    assert_detail_has("durable");
    assert_string_equal(resolve_ctx(m, "z", "2", NULL).provider, "mem");
    orbit_manager_free(m);
    tu_rmdir(dir);
}

/* ---- listing ---------------------------------------------------------- */

typedef struct listed {
    int n;
    char names[32][64];
    int stop_at;
} listed;

static int collect_actor(void *arg, const char *type, const char *id,
                         const orbit_actor_placement *p)
{
    listed *l = arg;
    assert_true(l->n < 32);
    snprintf(l->names[l->n], sizeof l->names[0], "%s/%s@%s%s%s#%llu", type,
             id, p->provider, p->target ? ">" : "", p->target ? p->target : "",
             (unsigned long long)p->keyspace);
    l->n++;
    return l->stop_at && l->n == l->stop_at ? 42 : 0;
}

static int has_prefix(const listed *l, int i, const char *prefix)
{
    return i < l->n && strncmp(l->names[i], prefix, strlen(prefix)) == 0;
}

static void test_list_actors(void **state)
{
    (void)state;
    orbit_manager *m = two_memory();
    assert_int_equal(orbit_manager_set_strategy(m, ORBIT_PLACE_BY_ACTOR_TYPE),
                     0);
    assert_int_equal(orbit_manager_route(m, "session", "hot"), 0);
    resolve_ctx(m, "player", "1", NULL);
    resolve_ctx(m, "session", "a", NULL);
    resolve_ctx(m, "session", "b", NULL);
    resolve_ctx(m, "player", "2", NULL);
    orbit_kv *main_kv;
    assert_int_equal(orbit_manager_provider(m, "main", &main_kv), 0);
    put_placement(main_kv, "mover", "1", 2, 99, "main", "hot", 3);
    put_placement(main_kv, "lost", "1", 1, 98, "gone", NULL, 0);

    listed l = {0};
    assert_int_equal(orbit_manager_list_actors(m, "hot", collect_actor, &l),
                     0);
    assert_int_equal(l.n, 3);
    /* Key order: by type, then id. */
    assert_true(has_prefix(&l, 0, "mover/1@main>hot#99"));
    assert_true(has_prefix(&l, 1, "session/a@hot#"));
    assert_true(has_prefix(&l, 2, "session/b@hot#"));

    memset(&l, 0, sizeof l);
    assert_int_equal(orbit_manager_list_actors(m, "main", collect_actor, &l),
                     0);
    assert_int_equal(l.n, 3);
    assert_true(has_prefix(&l, 0, "mover/1@main>hot"));
    assert_true(has_prefix(&l, 1, "player/1@main#"));
    assert_true(has_prefix(&l, 2, "player/2@main#"));

    memset(&l, 0, sizeof l);
    assert_int_equal(orbit_manager_list_actors(m, NULL, collect_actor, &l), 0);
    assert_int_equal(l.n, 6);
    assert_true(has_prefix(&l, 0, "lost/1@gone#98"));

    memset(&l, 0, sizeof l);
    assert_int_equal(orbit_manager_list_actors(m, "nobody", collect_actor, &l),
                     0);
    assert_int_equal(l.n, 0);

    memset(&l, 0, sizeof l);
    l.stop_at = 2;
    assert_int_equal(orbit_manager_list_actors(m, NULL, collect_actor, &l),
                     42);
    assert_int_equal(l.n, 2);
    assert_int_equal(orbit_manager_list_actors(m, NULL, NULL, NULL),
                     ORBIT_EINVAL);

    /* More actors than one page. */
    for (int i = 0; i < 300; i++) {
        char id[16];
        snprintf(id, sizeof id, "%03d", i);
        resolve_ctx(m, "bulk", id, NULL);
    }
    int n = 0;
    assert_int_equal(orbit_manager_list_actors(m, "main", count_actor, &n), 0);
    assert_int_equal(n, 303);

    /* A damaged record stops the listing with ECORRUPT. */
    orbit_buf key = ORBIT_BUF_INIT;
    catalog_key(&key, "bulk", "150");
    assert_int_equal(orbit_kv_put(main_kv, key.data, key.len,
                                  (const uint8_t *)"x", 1),
                     0);
    n = 0;
    assert_int_equal(orbit_manager_list_actors(m, NULL, count_actor, &n),
                     ORBIT_ECORRUPT);
    orbit_buf_release(&key);
    orbit_manager_free(m);
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
    orbit_actor_placement p1 = resolve_ctx(m, "player", "1", NULL);
    assert_string_equal(p1.provider, "side");
    assert_string_equal(resolve_name(m, "room", "1"), "main");
    orbit_manager_free(m);

    /* Restart with another strategy: the stored placement wins. */
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "main", main_uri), 0);
    assert_int_equal(orbit_manager_add_provider(m, "side", side_uri), 0);
    orbit_actor_placement again = resolve_ctx(m, "player", "1", NULL);
    assert_string_equal(again.provider, "side");
    assert_int_equal(again.keyspace, p1.keyspace);
    assert_string_equal(resolve_name(m, "player", "2"), "main");
    assert_string_equal(resolve_name(m, "room", "1"), "main");

    /* The record as documented, on the default provider. */
    orbit_kv *kv;
    assert_int_equal(orbit_manager_provider(m, "main", &kv), 0);
    int64_t st, ks;
    orbit_buf name = ORBIT_BUF_INIT;
    read_placement(kv, "player", "1", &st, &ks, &name);
    assert_int_equal(st, 1);
    assert_int_equal(ks, (int64_t)p1.keyspace);
    assert_int_equal(name.len, 4);
    assert_memory_equal(name.data, "side", 4);
    orbit_buf_release(&name);
    orbit_manager_free(m);

    /* Restart without "side": its actors are a clear error. */
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "main", main_uri), 0);
    assert_int_equal(orbit_manager_resolve(m, "player", "1", NULL, NULL),
                     ORBIT_ENOPROVIDER);
    assert_detail_has("side");
    assert_string_equal(resolve_name(m, "room", "1"), "main");
    orbit_manager_free(m);
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
                                 "catalog volatile\n"
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
    m = from_text("provider a memory:\nprovider b memory:\nroute x b\n"
                  "catalog volatile\n",
                  0);
    assert_int_equal(orbit_manager_default(m, NULL, &name), 0);
    assert_string_equal(name, "a");
    assert_string_equal(resolve_name(m, "x", "1"), "a");
    orbit_manager_free(m);

    /* ByDataPattern. */
    char *dir = tu_tempdir("mgrpatconf");
    char text[1024];
    snprintf(text, sizeof text,
             "provider disk rocksdb:%s/disk\n"
             "provider mem memory:\n"
             "provider fast rocksdb:%s/fast\n"
             "provider dist flaky:\n"
             "strategy by_data_pattern\n"
             "pattern cross_refs_threshold 3\n"
             "pattern embedded fast   # not the first embedded one\n"
             "catalog durable\n",
             dir, dir);
    m = from_text(text, 0);
    orbit_actor_context four = {.cross_actor_refs = 4};
    orbit_actor_context three = {.cross_actor_refs = 3};
    orbit_actor_context quick = {.latency_sensitive = 1};
    assert_string_equal(resolve_ctx(m, "a", "1", &four).provider, "dist");
    assert_string_equal(resolve_ctx(m, "a", "2", &three).provider, "disk");
    assert_string_equal(resolve_ctx(m, "a", "3", &quick).provider, "fast");
    orbit_manager_free(m);
    tu_rmdir(dir);
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

    from_text("provider a memory:\nstrategy default\nstrategy default\n",
              ORBIT_EINVAL);
    assert_detail_has("t.conf:3:");

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

    /* The catalog on a non-durable default needs 'catalog volatile':
     * the error names the default's line. */
    from_text("# one\nprovider a memory:\n", ORBIT_EINVAL);
    assert_detail_has("t.conf:2:");
    assert_detail_has("catalog volatile");
    from_text("provider a flaky:\nprovider b memory:\ndefault b\n",
              ORBIT_EINVAL);
    assert_detail_has("t.conf:3:");
    from_text("provider a memory:\ncatalog maybe\n", ORBIT_EINVAL);
    assert_detail_has("t.conf:2:");
    from_text("provider a memory:\ncatalog volatile\ncatalog volatile\n",
              ORBIT_EINVAL);
    assert_detail_has("t.conf:3:");

    /* Pattern settings. */
    const char *pfx = "provider a memory:\ncatalog volatile\n";
    const char *bad[] = {
        "pattern cross_refs_threshold x\n",
        "pattern cross_refs_threshold 0\n",
        "pattern cross_refs_threshold -3\n",
        "pattern cross_refs_threshold 99999999999999999999999\n",
        "pattern embedded\n",
        "pattern sideways a\n",
        "pattern distributed z\n",
        "pattern embedded a b\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "%s%s", pfx, bad[i]);
        from_text(text, ORBIT_EINVAL);
        assert_detail_has("t.conf:3:");
    }
    from_text("provider a memory:\ncatalog volatile\npattern embedded a\n"
              "pattern embedded a\n",
              ORBIT_EINVAL);
    assert_detail_has("t.conf:4:");
    from_text("provider a memory:\ncatalog volatile\n"
              "pattern cross_refs_threshold 2\n"
              "pattern cross_refs_threshold 2\n",
              ORBIT_EINVAL);
    assert_detail_has("t.conf:4:");

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
    uint64_t ks[NACTORS];
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
        orbit_actor_placement pl;
        int rc = orbit_manager_resolve_actor(w->m, "player", id, NULL, &pl);
        if (rc) {
            w->rc = rc;
            fprintf(stderr, "thread %d: resolve %s: %s (%s)\n", w->no, id,
                    orbit_strerror(rc), orbit_last_error_detail());
            continue;
        }
        w->got[a] = pl.provider;
        w->ks[a] = pl.keyspace;
    }
    return NULL;
}

static void run_concurrent(const char *default_uri)
{
    orbit_manager *m;
    assert_int_equal(orbit_manager_new(&m), 0);
    assert_int_equal(orbit_manager_add_provider(m, "main", default_uri), 0);
    assert_int_equal(orbit_manager_add_provider(m, "hot", "memory:"), 0);
    assert_int_equal(orbit_manager_allow_volatile_catalog(m, 1), 0);
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
        for (int i = 1; i < NTHREADS; i++) {
            assert_string_equal(w[i].got[a], w[0].got[a]);
            assert_int_equal(w[i].ks[a], w[0].ks[a]);
        }
        for (int b = 0; b < a; b++)
            assert_true(w[0].ks[a] != w[0].ks[b]);
    }
    orbit_kv *kv;
    assert_int_equal(orbit_manager_provider(m, "main", &kv), 0);
    orbit_buf name = ORBIT_BUF_INIT;
    for (int a = 0; a < NACTORS; a++) {
        char id[32];
        snprintf(id, sizeof id, "actor-%d", a);
        int64_t st, ks;
        read_placement(kv, "player", id, &st, &ks, &name);
        assert_int_equal(ks, (int64_t)w[0].ks[a]);
        assert_int_equal(name.len, strlen(w[0].got[a]));
        assert_memory_equal(name.data, w[0].got[a], name.len);
    }
    orbit_buf_release(&name);
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

/* ---- set_custom while resolutions are in flight ------------------------ */

/*
 * Resolver threads place new actors without pause under CUSTOM while the
 * main thread keeps replacing the callback's argument. After set_custom
 * returns, the old argument is marked dead (as a caller would free it);
 * the callback checks its argument is alive when it starts and again after
 * a short pause. A manager that let an in-flight resolution call a
 * replaced pair would be caught in that pause.
 */
#define RACE_THREADS 4
#define RACE_SWAPS 200

typedef struct race_arg {
    atomic_int alive;
} race_arg;

static atomic_int race_violations, race_calls, race_stop;

static const char *place_checked(void *arg, const char *type, const char *id)
{
    (void)type;
    (void)id;
    race_arg *a = arg;
    if (!atomic_load(&a->alive))
        atomic_fetch_add(&race_violations, 1);
    struct timespec ts = {0, 50 * 1000};
    nanosleep(&ts, NULL);
    if (!atomic_load(&a->alive))
        atomic_fetch_add(&race_violations, 1);
    atomic_fetch_add(&race_calls, 1);
    return NULL;
}

typedef struct racer {
    orbit_manager *m;
    int no;
    int rc;
} racer;

static void *race_resolve(void *arg)
{
    racer *r = arg;
    char id[48];
    for (unsigned i = 0; !atomic_load(&race_stop); i++) {
        snprintf(id, sizeof id, "r%d-%u", r->no, i);
        int rc = orbit_manager_resolve(r->m, "racer", id, NULL, NULL);
        if (rc) {
            r->rc = rc;
            break;
        }
    }
    return NULL;
}

static void test_set_custom_race(void **state)
{
    (void)state;
    orbit_manager *m = two_memory();
    static race_arg args[RACE_SWAPS + 1];
    for (int i = 0; i <= RACE_SWAPS; i++)
        atomic_init(&args[i].alive, 1);
    atomic_store(&race_violations, 0);
    atomic_store(&race_calls, 0);
    atomic_store(&race_stop, 0);
    assert_int_equal(orbit_manager_set_custom(m, place_checked, &args[0]), 0);

    racer r[RACE_THREADS];
    pthread_t th[RACE_THREADS];
    for (int i = 0; i < RACE_THREADS; i++) {
        r[i] = (racer){.m = m, .no = i};
        assert_int_equal(pthread_create(&th[i], NULL, race_resolve, &r[i]), 0);
    }
    for (int i = 1; i <= RACE_SWAPS; i++) {
        /* Let some callbacks start on the current argument. */
        int before = atomic_load(&race_calls);
        while (atomic_load(&race_calls) == before) {
            struct timespec ts = {0, 20 * 1000};
            nanosleep(&ts, NULL);
        }
        assert_int_equal(orbit_manager_set_custom(m, place_checked, &args[i]),
                         0);
        atomic_store(&args[i - 1].alive, 0);
    }
    atomic_store(&race_stop, 1);
    for (int i = 0; i < RACE_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].rc, 0);
    }
    assert_int_equal(atomic_load(&race_violations), 0);
    assert_true(atomic_load(&race_calls) >= RACE_SWAPS);
    orbit_manager_free(m);
}

int main(void)
{
    if (orbit_provider_register(&flaky_provider) != 0) {
        fprintf(stderr, "cannot register the flaky provider: %s\n",
                orbit_last_error_detail());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_strategy),
        cmocka_unit_test(test_by_actor_type),
        cmocka_unit_test(test_custom),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_volatile_catalog),
        cmocka_unit_test(test_placement_keyspaces),
        cmocka_unit_test(test_moving_state),
        cmocka_unit_test(test_plain_read_first),
        cmocka_unit_test(test_uncertain),
        cmocka_unit_test(test_data_pattern),
        cmocka_unit_test(test_list_actors),
        cmocka_unit_test(test_persistence_rocksdb),
        cmocka_unit_test(test_config_ok),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_concurrent_memory),
        cmocka_unit_test(test_concurrent_rocksdb),
        cmocka_unit_test(test_set_custom_race),
    };
    /* ORBIT_TEST_FILTER=test_custom runs one test (a glob pattern). */
    const char *filter = getenv("ORBIT_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
