/*
 * The actor handle every data model opens its objects from (orbit/model.h):
 * a store, the actor's keyspace id on it, and the actor's names, which label
 * every record a model writes.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "orbit/catalog.h"
#include "orbit/codec.h"
#include "orbit/model.h"
#include "orbit/provider.h"

struct orbit_actor {
    orbit_kv *kv;
    uint64_t ks;
    char *type;
    char *id;
};

int orbit_actor_open_at(orbit_kv *kv, uint64_t keyspace, const char *type, const char *id,
                        orbit_actor **out)
{
    *out = NULL;
    if (!kv || !type || !*type || !id || !*id)
        return orbit_error_set(ORBIT_EINVAL, "actor: store, type and id are required");
    if (keyspace == ORBIT_KEYSPACE_SYSTEM || keyspace > ORBIT_ID_MAX)
        return orbit_error_set(ORBIT_EINVAL, "actor %s/%s: keyspace %llu is not an actor's", type,
                               id, (unsigned long long)keyspace);
    orbit_actor *a = calloc(1, sizeof *a);
    if (!a)
        return ORBIT_ENOMEM;
    a->type = strdup(type);
    a->id = strdup(id);
    if (!a->type || !a->id) {
        orbit_actor_close(a);
        return ORBIT_ENOMEM;
    }
    a->kv = kv;
    a->ks = keyspace;
    *out = a;
    return ORBIT_OK;
}

int orbit_actor_open(orbit_kv *kv, const char *type, const char *id, orbit_actor **out)
{
    *out = NULL;
    if (!kv || !type || !*type || !id || !*id)
        return orbit_error_set(ORBIT_EINVAL, "actor: store, type and id are required");
    uint64_t ks;
    int rc = orbit_catalog_keyspace(kv, type, id, 1, &ks);
    if (rc)
        return rc;
    return orbit_actor_open_at(kv, ks, type, id, out);
}

void orbit_actor_close(orbit_actor *a)
{
    if (!a)
        return;
    free(a->type);
    free(a->id);
    free(a);
}

orbit_kv *orbit_actor_store(const orbit_actor *a) { return a->kv; }
uint64_t orbit_actor_keyspace(const orbit_actor *a) { return a->ks; }
const char *orbit_actor_type(const orbit_actor *a) { return a->type; }
const char *orbit_actor_id(const orbit_actor *a) { return a->id; }

int orbit_actor_object_id(const orbit_actor *a, const char *kind, const char *name, int create,
                          uint64_t *id)
{
    return orbit_catalog_name_id(a->kv, a->ks, kind, name, create, id);
}

typedef struct list_tap {
    orbit_actor_object_fn fn;
    void *arg;
    const char *kind;
} list_tap;

static int list_one(void *arg, const char *name, uint64_t id)
{
    list_tap *t = arg;
    return t->fn(t->arg, t->kind, name, id);
}

int orbit_actor_list_objects(const orbit_actor *a, orbit_actor_object_fn fn, void *arg)
{
    static const char *const kinds[] = {
        ORBIT_CATALOG_TABLE,  ORBIT_CATALOG_INDEX,  ORBIT_CATALOG_COLLECTION,
        ORBIT_CATALOG_GRAPH,  ORBIT_CATALOG_SERIES, ORBIT_CATALOG_VECTORS,
    };
    if (!fn)
        return orbit_error_set(ORBIT_EINVAL, "actor listing: callback is NULL");
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        list_tap t = {fn, arg, kinds[i]};
        int rc = orbit_catalog_list_names(a->kv, a->ks, kinds[i], list_one, &t);
        if (rc)
            return rc;
    }
    return ORBIT_OK;
}

int orbit_actor_record(const orbit_actor *a, orbit_model model, uint32_t schema_version,
                       uint64_t created_ms, const uint8_t *key, size_t klen,
                       const uint8_t *payload, size_t plen, orbit_buf *out)
{
    uint64_t now = orbit__now_ms();
    orbit_record_meta m = {0};
    m.model = model;
    m.schema_version = schema_version;
    m.created_ms = created_ms ? created_ms : now;
    m.updated_ms = now < m.created_ms ? m.created_ms : now;
    m.actor_type = (const uint8_t *)a->type;
    m.actor_type_len = strlen(a->type);
    m.actor_id = (const uint8_t *)a->id;
    m.actor_id_len = strlen(a->id);
    return orbit_record_encode(out, key, klen, &m, NULL, payload, plen);
}
