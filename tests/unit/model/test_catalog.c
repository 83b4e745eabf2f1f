/*
 * Tests for the catalog (src/model/catalog.c), on memory and on RocksDB in
 * a temp dir: keyspace and object id allocation, idempotence, the stored
 * layout as documented in orbit/catalog.h, listing, stale claims, rename,
 * ORBIT_NOTFOUND, corrupt entries, threads racing on the same and on
 * different names, and persistence across a reopen.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "orbit/catalog.h"
#include "orbit/codec.h"
#include "orbit/record.h"
#include "testutil.h"

static void assert_detail_has(const char *needle)
{
    const char *d = orbit_last_error_detail();
    if (!strstr(d, needle))
        fail_msg("error detail \"%s\" does not contain \"%s\"", d, needle);
}

static orbit_kv *open_kv(const char *uri)
{
    orbit_kv *kv = NULL;
    int rc = orbit_kv_open(uri, &kv);
    if (rc)
        fail_msg("open %s: %s (%s)", uri, orbit_strerror(rc),
                 orbit_last_error_detail());
    return kv;
}

static uint64_t ks_of(orbit_kv *kv, const char *type, const char *id)
{
    uint64_t ks = 0;
    int rc = orbit_catalog_keyspace(kv, type, id, 1, &ks);
    if (rc)
        fail_msg("keyspace %s/%s: %s (%s)", type, id, orbit_strerror(rc),
                 orbit_last_error_detail());
    return ks;
}

static uint64_t id_of(orbit_kv *kv, uint64_t ks, const char *kind,
                      const char *name)
{
    uint64_t id = 0;
    int rc = orbit_catalog_name_id(kv, ks, kind, name, 1, &id);
    if (rc)
        fail_msg("id of %s %s: %s (%s)", kind, name, orbit_strerror(rc),
                 orbit_last_error_detail());
    return id;
}

/* A catalog key as documented: (ks, "cat", kind, name). */
static void cat_key(orbit_buf *key, uint64_t ks, const char *kind,
                    const void *name, size_t nlen)
{
    key->len = 0;
    assert_int_equal(orbit_key_catalog(key, ks, kind, name, nlen), 0);
}

static void cat_key_int(orbit_buf *key, uint64_t ks, const char *kind,
                        uint64_t v)
{
    orbit_buf n = ORBIT_BUF_INIT;
    assert_int_equal(orbit_tuple_int(&n, (int64_t)v), 0);
    cat_key(key, ks, kind, n.data, n.len);
    orbit_buf_release(&n);
}

static void actor_key(orbit_buf *key, const char *type, const char *id)
{
    orbit_buf t = ORBIT_BUF_INIT;
    assert_int_equal(orbit_tuple_str(&t, type), 0);
    assert_int_equal(orbit_tuple_str(&t, id), 0);
    cat_key(key, ORBIT_KEYSPACE_SYSTEM, "ks", t.data, t.len);
    orbit_buf_release(&t);
}

/* A catalog record as documented (schema 1). */
static void put_record(orbit_kv *kv, const orbit_buf *key, const char *type,
                       const char *id, const void *payload, size_t plen)
{
    orbit_record_meta meta = {
        .model = ORBIT_MODEL_CATALOG,
        .schema_version = 1,
        .created_ms = 1,
        .updated_ms = 1,
        .actor_type = (const uint8_t *)type,
        .actor_type_len = type ? strlen(type) : 0,
        .actor_id = (const uint8_t *)id,
        .actor_id_len = id ? strlen(id) : 0,
    };
    orbit_buf rec = ORBIT_BUF_INIT;
    assert_int_equal(orbit_record_encode(&rec, key->data, key->len, &meta,
                                         NULL, payload, plen),
                     0);
    assert_int_equal(orbit_kv_put(kv, key->data, key->len, rec.data, rec.len),
                     0);
    orbit_buf_release(&rec);
}

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Read the record at key and check it holds the 8-byte id `want`. */
static void assert_id_record(orbit_kv *kv, const orbit_buf *key,
                             uint64_t want, const char *type, const char *id)
{
    orbit_buf val = ORBIT_BUF_INIT;
    assert_int_equal(orbit_kv_get(kv, NULL, key->data, key->len, &val), 0);
    orbit_record_meta meta;
    const uint8_t *p;
    size_t n;
    assert_int_equal(orbit_record_decode(val.data, val.len, key->data,
                                         key->len, &meta, NULL, &p, &n),
                     0);
    assert_int_equal(meta.model, ORBIT_MODEL_CATALOG);
    assert_int_equal(meta.schema_version, 1);
    uint8_t exp[8];
    be64(exp, want);
    assert_int_equal(n, 8);
    assert_memory_equal(p, exp, 8);
    assert_int_equal(meta.actor_type_len, type ? strlen(type) : 0);
    assert_int_equal(meta.actor_id_len, id ? strlen(id) : 0);
    if (type)
        assert_memory_equal(meta.actor_type, type, strlen(type));
    if (id)
        assert_memory_equal(meta.actor_id, id, strlen(id));
    orbit_buf_release(&val);
}

/* ---- listing helpers ------------------------------------------------- */

typedef struct seen {
    size_t n;
    uint64_t ids[256];
    char names[256][48];
    int stop_at; /* stop (return 7) at this entry; 0: never */
} seen;

static int collect_ks(void *arg, uint64_t ks, const char *type,
                      const char *id)
{
    seen *s = arg;
    assert_true(s->n < 256);
    s->ids[s->n] = ks;
    snprintf(s->names[s->n], sizeof s->names[0], "%s/%s", type, id);
    s->n++;
    return s->stop_at && (int)s->n == s->stop_at ? 7 : 0;
}

static int collect_names(void *arg, const char *name, uint64_t id)
{
    seen *s = arg;
    assert_true(s->n < 256);
    s->ids[s->n] = id;
    snprintf(s->names[s->n], sizeof s->names[0], "%s", name);
    s->n++;
    return 0;
}

/* Counts keyspaces and checks they come in ascending order. */
typedef struct counter {
    uint64_t last;
    size_t n;
} counter;

static int count_fn(void *arg, uint64_t ks, const char *type, const char *id)
{
    counter *c = arg;
    (void)type;
    (void)id;
    if (c->n)
        assert_true(ks > c->last);
    c->last = ks;
    c->n++;
    return 0;
}

/* ---- the documented bytes -------------------------------------------- */

static void assert_hex(const orbit_buf *b, const char *hex)
{
    uint8_t want[128];
    size_t n = 0;
    for (const char *p = hex; *p;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        unsigned v;
        assert_int_equal(sscanf(p, "%2x", &v), 1);
        want[n++] = (uint8_t)v;
        p += 2;
    }
    assert_int_equal(b->len, n);
    assert_memory_equal(b->data, want, n);
}

/* The worked keys of docs/ARCHITECTURE.md ("Keyspaces and the catalog"),
 * and that allocation really writes them. */
static void test_layout_bytes(void **state)
{
    (void)state;
    orbit_buf key = ORBIT_BUF_INIT;
    actor_key(&key, "player", "1");
    assert_hex(&key, "14 01 63 61 74 00 01 6b 73 00 01 01 70 6c 61 79 65 72 00 "
                     "ff 01 31 00 ff 00");
    orbit_kv *kv = open_kv("memory:");
    assert_int_equal(ks_of(kv, "player", "1"), 2);
    assert_id_record(kv, &key, 2, "player", "1");
    cat_key_int(&key, 0, "ksid", 2);
    assert_hex(&key, "14 01 63 61 74 00 01 6b 73 69 64 00 01 15 02 00");
    orbit_buf val = ORBIT_BUF_INIT;
    assert_int_equal(orbit_kv_get(kv, NULL, key.data, key.len, &val), 0);
    cat_key(&key, 2, "table", "users", 5);
    assert_hex(&key, "15 02 01 63 61 74 00 01 74 61 62 6c 65 00 01 75 73 65 72 "
                     "73 00");
    assert_int_equal(id_of(kv, 2, "table", "users"), 1);
    assert_id_record(kv, &key, 1, NULL, NULL);
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    orbit_kv_close(kv);
}

/* ---- keyspaces ------------------------------------------------------- */

static void run_keyspaces(orbit_kv *kv)
{
    uint64_t ks = 99;
    /* The default database actor: fixed, nothing stored. */
    assert_int_equal(orbit_catalog_keyspace(kv, "orbit", "default", 0, &ks),
                     0);
    assert_int_equal(ks, ORBIT_KEYSPACE_DEFAULT);
    assert_int_equal(orbit_catalog_keyspace(NULL, "orbit", "default", 1, &ks),
                     0);
    assert_int_equal(ks, 1);

    assert_int_equal(orbit_catalog_keyspace(kv, "player", "1", 0, &ks),
                     ORBIT_NOTFOUND);
    assert_int_equal(ks_of(kv, "player", "1"), 2);
    assert_int_equal(ks_of(kv, "player", "1"), 2);
    assert_int_equal(ks_of(kv, "player", "2"), 3);
    /* Type and id are separate elements: no collision by concatenation. */
    assert_int_equal(ks_of(kv, "play", "er1"), 4);
    assert_int_equal(orbit_catalog_keyspace(kv, "player", "1", 0, &ks), 0);
    assert_int_equal(ks, 2);

    assert_int_equal(orbit_catalog_keyspace(kv, "orbit", "x", 1, &ks),
                     ORBIT_EINVAL);
    assert_detail_has("reserved");
    assert_int_equal(orbit_catalog_keyspace(kv, "", "x", 1, &ks),
                     ORBIT_EINVAL);
    assert_int_equal(orbit_catalog_keyspace(kv, "t", "", 1, &ks),
                     ORBIT_EINVAL);

    /* Reverse look-ups. */
    orbit_buf type = ORBIT_BUF_INIT, id = ORBIT_BUF_INIT;
    assert_int_equal(orbit_catalog_keyspace_actor(kv, 3, &type, &id), 0);
    assert_string_equal((const char *)type.data, "player");
    assert_int_equal(type.len, 6);
    assert_string_equal((const char *)id.data, "2");
    assert_int_equal(orbit_catalog_keyspace_actor(kv, 1, &type, NULL), 0);
    assert_string_equal((const char *)type.data, "orbit");
    assert_int_equal(orbit_catalog_keyspace_actor(kv, 0, &type, &id),
                     ORBIT_EINVAL);
    assert_int_equal(orbit_catalog_keyspace_actor(kv, 5, &type, &id),
                     ORBIT_NOTFOUND);

    /* The stored layout, as documented. */
    orbit_buf key = ORBIT_BUF_INIT;
    cat_key(&key, 0, "next", "ks", 2);
    assert_id_record(kv, &key, 4, NULL, NULL);
    actor_key(&key, "player", "2");
    assert_id_record(kv, &key, 3, "player", "2");
    cat_key_int(&key, 0, "ksid", 3);
    orbit_buf val = ORBIT_BUF_INIT;
    assert_int_equal(orbit_kv_get(kv, NULL, key.data, key.len, &val), 0);

    /* Listing: the default actor first, then in id order. */
    seen s = {0};
    assert_int_equal(orbit_catalog_list_keyspaces(kv, collect_ks, &s), 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.ids[0], 1);
    assert_string_equal(s.names[0], "orbit/default");
    assert_int_equal(s.ids[1], 2);
    assert_string_equal(s.names[1], "player/1");
    assert_int_equal(s.ids[3], 4);
    assert_string_equal(s.names[3], "play/er1");
    seen stop = {.stop_at = 2};
    assert_int_equal(orbit_catalog_list_keyspaces(kv, collect_ks, &stop), 7);
    assert_int_equal(stop.n, 2);

    /* A stale claim (a crash between claim and mapping, or a claim whose
     * mapping points elsewhere) is never reported. */
    cat_key_int(&key, 0, "ksid", 40);
    put_record(kv, &key, "ghost", "1", NULL, 0);
    cat_key_int(&key, 0, "ksid", 41);
    put_record(kv, &key, "player", "1", NULL, 0); /* player/1 maps to 2 */
    assert_int_equal(orbit_catalog_keyspace_actor(kv, 40, &type, &id),
                     ORBIT_NOTFOUND);
    assert_int_equal(orbit_catalog_keyspace_actor(kv, 41, &type, &id),
                     ORBIT_NOTFOUND);
    memset(&s, 0, sizeof s);
    assert_int_equal(orbit_catalog_list_keyspaces(kv, collect_ks, &s), 0);
    assert_int_equal(s.n, 4);

    orbit_buf_release(&type);
    orbit_buf_release(&id);
    orbit_buf_release(&key);
    orbit_buf_release(&val);
}

static void test_keyspaces_memory(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:");
    run_keyspaces(kv);
    orbit_kv_close(kv);
}

static void test_keyspaces_rocksdb(void **state)
{
    (void)state;
    char *dir = tu_tempdir("catalog");
    char uri[512];
    snprintf(uri, sizeof uri, "rocksdb:%s", dir);
    orbit_kv *kv = open_kv(uri);
    run_keyspaces(kv);
    orbit_kv_close(kv);
    tu_rmdir(dir);
}

/* Many pages: listing crosses the page size. */
static void test_list_many(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:");
    char id[32];
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof id, "%03d", i);
        assert_int_equal(ks_of(kv, "a", id), (uint64_t)i + 2);
    }
    counter c = {0, 0};
    assert_int_equal(orbit_catalog_list_keyspaces(kv, count_fn, &c), 0);
    assert_int_equal(c.n, 301);
    assert_int_equal(c.last, 301);
    orbit_kv_close(kv);
}

/* ---- named objects --------------------------------------------------- */

static void run_names(orbit_kv *kv)
{
    uint64_t id = 0;
    assert_int_equal(orbit_catalog_name_id(kv, 2, "table", "users", 0, &id),
                     ORBIT_NOTFOUND);
    assert_int_equal(id_of(kv, 2, "table", "users"), 1);
    assert_int_equal(id_of(kv, 2, "table", "users"), 1);
    /* One counter for every kind of a keyspace. */
    assert_int_equal(id_of(kv, 2, "index", "1/by_name"), 2);
    assert_int_equal(id_of(kv, 2, "collection", "users"), 3);
    assert_int_equal(id_of(kv, 2, "table", "orders"), 4);
    /* Keyspaces count separately. */
    assert_int_equal(id_of(kv, 3, "table", "users"), 1);
    assert_int_equal(id_of(kv, 2, "graph", "g"), 5);
    assert_int_equal(id_of(kv, 2, "series", "s"), 6);

    assert_int_equal(orbit_catalog_name_id(kv, 2, "tables", "x", 1, &id),
                     ORBIT_EINVAL);
    assert_detail_has("tables");
    assert_int_equal(orbit_catalog_name_id(kv, 2, "next", "id", 1, &id),
                     ORBIT_EINVAL);
    assert_int_equal(orbit_catalog_name_id(kv, 2, "table", "", 1, &id),
                     ORBIT_EINVAL);

    orbit_buf kind = ORBIT_BUF_INIT, name = ORBIT_BUF_INIT;
    assert_int_equal(orbit_catalog_object(kv, 2, 2, &kind, &name), 0);
    assert_string_equal((const char *)kind.data, "index");
    assert_string_equal((const char *)name.data, "1/by_name");
    assert_int_equal(orbit_catalog_object(kv, 2, 7, &kind, &name),
                     ORBIT_NOTFOUND);
    assert_int_equal(orbit_catalog_object(kv, 2, 0, &kind, &name),
                     ORBIT_NOTFOUND);

    /* Layout. */
    orbit_buf key = ORBIT_BUF_INIT;
    cat_key(&key, 2, "next", "id", 2);
    assert_id_record(kv, &key, 6, NULL, NULL);
    cat_key(&key, 2, "table", "orders", 6);
    assert_id_record(kv, &key, 4, NULL, NULL);

    seen s = {0};
    assert_int_equal(orbit_catalog_list_names(kv, 2, "table", collect_names,
                                              &s),
                     0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.names[0], "orders");
    assert_int_equal(s.ids[0], 4);
    assert_string_equal(s.names[1], "users");

    /* Rename keeps the id. */
    assert_int_equal(orbit_catalog_rename(kv, 2, "table", "users", "people"),
                     0);
    assert_int_equal(orbit_catalog_name_id(kv, 2, "table", "users", 0, &id),
                     ORBIT_NOTFOUND);
    assert_int_equal(orbit_catalog_name_id(kv, 2, "table", "people", 0, &id),
                     0);
    assert_int_equal(id, 1);
    assert_int_equal(orbit_catalog_object(kv, 2, 1, &kind, &name), 0);
    assert_string_equal((const char *)kind.data, "table");
    assert_string_equal((const char *)name.data, "people");
    /* The collection of the same old name is another kind: untouched. */
    assert_int_equal(id_of(kv, 2, "collection", "users"), 3);
    assert_int_equal(orbit_catalog_rename(kv, 2, "table", "people",
                                          "orders"),
                     ORBIT_EEXIST);
    assert_int_equal(orbit_catalog_rename(kv, 2, "table", "nobody", "x"),
                     ORBIT_NOTFOUND);
    assert_int_equal(orbit_catalog_rename(kv, 2, "table", "people",
                                          "people"),
                     0);
    assert_int_equal(orbit_catalog_rename(kv, 2, "table", "nobody",
                                          "nobody"),
                     ORBIT_NOTFOUND);
    assert_int_equal(orbit_catalog_rename(kv, 2, "bogus", "a", "b"),
                     ORBIT_EINVAL);
    /* A new name takes a fresh id, never the renamed one's. */
    assert_int_equal(id_of(kv, 2, "table", "users"), 7);
    memset(&s, 0, sizeof s);
    assert_int_equal(orbit_catalog_list_names(kv, 2, "table", collect_names,
                                              &s),
                     0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.names[0], "orders");
    assert_string_equal(s.names[1], "people");
    assert_int_equal(s.ids[1], 1);
    assert_string_equal(s.names[2], "users");
    assert_int_equal(s.ids[2], 7);

    orbit_buf_release(&kind);
    orbit_buf_release(&name);
    orbit_buf_release(&key);
}

static void test_names_memory(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:");
    run_names(kv);
    orbit_kv_close(kv);
}

static void test_names_rocksdb(void **state)
{
    (void)state;
    char *dir = tu_tempdir("catnames");
    char uri[512];
    snprintf(uri, sizeof uri, "rocksdb:%s", dir);
    orbit_kv *kv = open_kv(uri);
    run_names(kv);
    orbit_kv_close(kv);
    tu_rmdir(dir);
}

/* ---- persistence ----------------------------------------------------- */

static void test_persistence_rocksdb(void **state)
{
    (void)state;
    char *dir = tu_tempdir("catpersist");
    char uri[512];
    snprintf(uri, sizeof uri, "rocksdb:%s", dir);
    orbit_kv *kv = open_kv(uri);
    assert_int_equal(ks_of(kv, "player", "1"), 2);
    assert_int_equal(ks_of(kv, "room", "1"), 3);
    assert_int_equal(id_of(kv, 3, "table", "t"), 1);
    assert_int_equal(orbit_catalog_rename(kv, 3, "table", "t", "u"), 0);
    orbit_kv_close(kv);

    kv = open_kv(uri);
    uint64_t v = 0;
    assert_int_equal(orbit_catalog_keyspace(kv, "room", "1", 0, &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(ks_of(kv, "player", "1"), 2);
    /* The counter continues where it was. */
    assert_int_equal(ks_of(kv, "player", "2"), 4);
    assert_int_equal(orbit_catalog_name_id(kv, 3, "table", "u", 0, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(id_of(kv, 3, "table", "t"), 2);
    orbit_kv_close(kv);
    tu_rmdir(dir);
}

/* ---- corruption ------------------------------------------------------ */

static void test_corrupt(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:");
    uint64_t v;
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT,
              other = ORBIT_BUF_INIT;
    assert_int_equal(ks_of(kv, "player", "1"), 2);

    /* Garbage under an actor's mapping. */
    actor_key(&key, "player", "bad");
    assert_int_equal(orbit_kv_put(kv, key.data, key.len,
                                  (const uint8_t *)"garbage", 7),
                     0);
    assert_int_equal(orbit_catalog_keyspace(kv, "player", "bad", 1, &v),
                     ORBIT_ECORRUPT);
    assert_int_equal(orbit_catalog_keyspace(kv, "player", "bad", 0, &v),
                     ORBIT_ECORRUPT);

    /* A valid record copied under another actor's key: the checksum
     * covers the key. */
    actor_key(&other, "player", "1");
    assert_int_equal(orbit_kv_get(kv, NULL, other.data, other.len, &val), 0);
    actor_key(&key, "player", "copy");
    assert_int_equal(orbit_kv_put(kv, key.data, key.len, val.data, val.len),
                     0);
    assert_int_equal(orbit_catalog_keyspace(kv, "player", "copy", 0, &v),
                     ORBIT_ECORRUPT);

    /* A well-formed record with a wrong payload. */
    actor_key(&key, "player", "short");
    put_record(kv, &key, "player", "short", "1234567", 7);
    assert_int_equal(orbit_catalog_keyspace(kv, "player", "short", 0, &v),
                     ORBIT_ECORRUPT);
    assert_detail_has("8 bytes");
    uint8_t zero[8] = {0};
    actor_key(&key, "player", "zero");
    put_record(kv, &key, "player", "zero", zero, 8);
    assert_int_equal(orbit_catalog_keyspace(kv, "player", "zero", 0, &v),
                     ORBIT_ECORRUPT);

    /* A damaged counter stops allocation rather than reuse ids. */
    cat_key(&key, 0, "next", "ks", 2);
    assert_int_equal(orbit_kv_put(kv, key.data, key.len,
                                  (const uint8_t *)"x", 1),
                     0);
    assert_int_equal(orbit_catalog_keyspace(kv, "player", "new", 1, &v),
                     ORBIT_ECORRUPT);
    /* ... while known actors still resolve. */
    assert_int_equal(ks_of(kv, "player", "1"), 2);

    /* A damaged claim is reported by the look-up and the listing. */
    cat_key_int(&key, 0, "ksid", 2);
    assert_int_equal(orbit_kv_put(kv, key.data, key.len,
                                  (const uint8_t *)"x", 1),
                     0);
    orbit_buf t = ORBIT_BUF_INIT;
    assert_int_equal(orbit_catalog_keyspace_actor(kv, 2, &t, NULL),
                     ORBIT_ECORRUPT);
    seen s = {0};
    assert_int_equal(orbit_catalog_list_keyspaces(kv, collect_ks, &s),
                     ORBIT_ECORRUPT);

    /* Object entries likewise. */
    cat_key(&key, 5, "table", "t", 1);
    assert_int_equal(orbit_kv_put(kv, key.data, key.len,
                                  (const uint8_t *)"x", 1),
                     0);
    assert_int_equal(orbit_catalog_name_id(kv, 5, "table", "t", 1, &v),
                     ORBIT_ECORRUPT);
    assert_int_equal(orbit_catalog_rename(kv, 5, "table", "t", "u"),
                     ORBIT_ECORRUPT);
    memset(&s, 0, sizeof s);
    assert_int_equal(orbit_catalog_list_names(kv, 5, "table", collect_names,
                                              &s),
                     ORBIT_ECORRUPT);
    cat_key_int(&key, 5, "objid", 3);
    put_record(kv, &key, NULL, NULL, "\x01tab", 4); /* unterminated */
    assert_int_equal(orbit_catalog_object(kv, 5, 3, &t, NULL),
                     ORBIT_ECORRUPT);

    orbit_buf_release(&t);
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    orbit_buf_release(&other);
    orbit_kv_close(kv);
}

/* ---- concurrency ----------------------------------------------------- */

#define NTHREADS 8
#define NSHARED 16
#define NOWN 8

static pthread_barrier_t start_line;

typedef struct worker {
    orbit_kv *kv;
    int no;
    uint64_t shared[NSHARED]; /* keyspaces of actors every thread allocates */
    uint64_t own[NOWN];       /* keyspaces of this thread's own actors */
    uint64_t tables[NSHARED]; /* object ids in keyspace 2 */
    int rc;
} worker;

static void *allocate_all(void *arg)
{
    worker *w = arg;
    char id[32];
    for (int a = 0; a < NSHARED; a++) {
        /* Every thread starts on each shared actor at the same moment. */
        pthread_barrier_wait(&start_line);
        snprintf(id, sizeof id, "shared-%d", a);
        int rc = orbit_catalog_keyspace(w->kv, "player", id, 1, &w->shared[a]);
        if (!rc) {
            snprintf(id, sizeof id, "t%d", a);
            rc = orbit_catalog_name_id(w->kv, 2, "table", id, 1,
                                       &w->tables[a]);
        }
        if (!rc && a < NOWN) {
            snprintf(id, sizeof id, "own-%d-%d", w->no, a);
            rc = orbit_catalog_keyspace(w->kv, "player", id, 1, &w->own[a]);
        }
        if (rc) {
            w->rc = rc;
            fprintf(stderr, "thread %d: %s (%s)\n", w->no, orbit_strerror(rc),
                    orbit_last_error_detail());
        }
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void run_concurrent(orbit_kv *kv)
{
    static worker w[NTHREADS];
    pthread_t th[NTHREADS];
    memset(w, 0, sizeof w);
    assert_int_equal(pthread_barrier_init(&start_line, NULL, NTHREADS), 0);
    for (int i = 0; i < NTHREADS; i++) {
        w[i].kv = kv;
        w[i].no = i;
        assert_int_equal(pthread_create(&th[i], NULL, allocate_all, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start_line);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(w[i].rc, 0);

    /* Racers on one name agree ... */
    for (int a = 0; a < NSHARED; a++) {
        for (int i = 1; i < NTHREADS; i++) {
            assert_int_equal(w[i].shared[a], w[0].shared[a]);
            assert_int_equal(w[i].tables[a], w[0].tables[a]);
        }
    }
    /* ... and different names never share an id. */
    enum { NALL = NSHARED + NTHREADS * NOWN };
    uint64_t all[NALL], tables[NSHARED];
    size_t n = 0;
    for (int a = 0; a < NSHARED; a++) {
        all[n++] = w[0].shared[a];
        tables[a] = w[0].tables[a];
    }
    for (int i = 0; i < NTHREADS; i++)
        for (int a = 0; a < NOWN; a++)
            all[n++] = w[i].own[a];
    qsort(all, n, sizeof all[0], cmp_u64);
    qsort(tables, NSHARED, sizeof tables[0], cmp_u64);
    for (size_t i = 0; i < n; i++) {
        assert_true(all[i] >= 2);
        if (i)
            assert_true(all[i] != all[i - 1]);
    }
    for (size_t i = 1; i < NSHARED; i++)
        assert_true(tables[i] != tables[i - 1]);

    /* The listing shows each actor once (losers' claims are gone or
     * ignored), with the id everyone got. */
    counter c = {0, 0};
    assert_int_equal(orbit_catalog_list_keyspaces(kv, count_fn, &c), 0);
    assert_int_equal(c.n, 1 + (size_t)NALL);
    orbit_buf type = ORBIT_BUF_INIT, id = ORBIT_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(orbit_catalog_keyspace_actor(kv, all[i], &type, &id),
                         0);
    orbit_buf_release(&type);
    orbit_buf_release(&id);
}

static void test_concurrent_memory(void **state)
{
    (void)state;
    orbit_kv *kv = open_kv("memory:");
    run_concurrent(kv);
    orbit_kv_close(kv);
}

static void test_concurrent_rocksdb(void **state)
{
    (void)state;
    char *dir = tu_tempdir("catconc");
    char uri[512];
    snprintf(uri, sizeof uri, "rocksdb:%s", dir);
    orbit_kv *kv = open_kv(uri);
    run_concurrent(kv);
    orbit_kv_close(kv);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_bytes),
        cmocka_unit_test(test_keyspaces_memory),
        cmocka_unit_test(test_keyspaces_rocksdb),
        cmocka_unit_test(test_list_many),
        cmocka_unit_test(test_names_memory),
        cmocka_unit_test(test_names_rocksdb),
        cmocka_unit_test(test_persistence_rocksdb),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_concurrent_memory),
        cmocka_unit_test(test_concurrent_rocksdb),
    };
    /* ORBIT_TEST_FILTER=test_names_memory runs one test (a glob pattern). */
    const char *filter = getenv("ORBIT_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
