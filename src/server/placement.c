/*
 * orbitd's storage manager (config.h): opens the configured providers in
 * an orbit_manager, applies the default provider, the strategy and the
 * routes, and resolves the two actors orbitd serves, the Redis database
 * ("orbit", "default": g_srv.kv is its store, its keyspace is always
 * ORBIT_KEYSPACE_DEFAULT) and the models actor (models-actor). It also
 * answers which store a RESP command's transaction binds to first
 * (srv_call_binds_kv), lists the providers for GET /v1/providers and INFO.
 *
 * Placement is resolved once at start-up, so a configuration error (a route
 * to a provider the catalog's record contradicts, a non-durable catalog) is
 * reported before the ports open, and the actors' stores never change while
 * the server runs. A placement stored in the catalog wins over the routes:
 * after a restart with other routes, an actor stays where its data is.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "orbit/catalog.h"
#include "orbit/codec.h"
#include "orbit/manager.h"
#include "orbit/provider.h"
#include "server/config.h"
#include "server/server.h"

orbit_manager *g_srv_mgr;

static orbit_actor_placement g_redis_pl, g_models_pl;
static int g_elsewhere;
static const char *g_strategy = "by_actor_type";

#define REDIS_TYPE "orbit"
#define REDIS_ID "default"

/* A URI the providers refuse as written (an unknown scheme, a bad option)
 * is a configuration error; anything else is the store failing to open. */
static int open_exit_code(int rc)
{
    return rc == ORBIT_ENOPROVIDER || rc == ORBIT_EINVAL || rc == ORBIT_EBADURI || rc == ORBIT_EEXIST
               ? 2
               : 1;
}

int srv_placement_open(void)
{
    srv_config *cfg = &g_srv.cfg;
    int rc = orbit_manager_new(&g_srv_mgr);
    if (rc) {
        srv_log(LOG_ERROR, "cannot create the storage manager: %s", orbit_strerror(rc));
        return 1;
    }
    orbit_manager *m = g_srv_mgr;
    int allow_volatile = g_place.catalog ? !strcmp(g_place.catalog, "volatile")
                                         : g_place.nproviders == 1;
    orbit_manager_allow_volatile_catalog(m, allow_volatile);
    int rocks = 0;
    for (size_t i = 0; i < g_place.nproviders; i++) {
        const srv_named *p = &g_place.providers[i];
        char *uri = srv_config_provider_uri(cfg, p->value);
        if (!uri)
            return 1;
        rc = orbit_manager_add_provider(m, p->name, uri);
        if (rc) {
            srv_log(LOG_ERROR, "cannot open provider %s (%s, set by %s): %s: %s", p->name, uri,
                    p->origin, orbit_strerror(rc), orbit_last_error_detail());
            free(uri);
            return open_exit_code(rc);
        }
        srv_log(LOG_DEBUG, "provider %s: %s", p->name, uri);
        free(uri);
        if (!strncmp(p->value, "rocksdb:", 8))
            rocks = 1;
    }
    if (cfg->cache_mb && !rocks)
        srv_log(LOG_WARN, "cache-size applies to rocksdb stores only; no provider is one");
    if (g_place.default_provider && (rc = orbit_manager_set_default(m, g_place.default_provider))) {
        srv_log(LOG_ERROR, "default-provider %s: %s: %s", g_place.default_provider,
                orbit_strerror(rc), orbit_last_error_detail());
        return 2;
    }
    if (g_place.placement && !strcmp(g_place.placement, "default"))
        g_strategy = "default";
    rc = orbit_manager_set_strategy(m, strcmp(g_strategy, "default") ? ORBIT_PLACE_BY_ACTOR_TYPE
                                                                      : ORBIT_PLACE_DEFAULT);
    for (size_t i = 0; !rc && i < g_place.nroutes; i++)
        rc = orbit_manager_route(m, g_place.routes[i].name, g_place.routes[i].value);
    if (rc) {
        srv_log(LOG_ERROR, "placement: %s: %s", orbit_strerror(rc), orbit_last_error_detail());
        return 2;
    }

    rc = orbit_manager_resolve_actor(m, REDIS_TYPE, REDIS_ID, NULL, &g_redis_pl);
    if (!rc && g_redis_pl.keyspace != ORBIT_KEYSPACE_DEFAULT)
        rc = orbit_error_set(ORBIT_ECORRUPT,
                             "the catalog gives actor orbit/default keyspace %llu, not %llu",
                             (unsigned long long)g_redis_pl.keyspace,
                             (unsigned long long)ORBIT_KEYSPACE_DEFAULT);
    if (rc) {
        srv_log(LOG_ERROR, "cannot place the Redis database (actor orbit/default): %s: %s",
                orbit_strerror(rc), orbit_last_error_detail());
        return rc == ORBIT_EINVAL || rc == ORBIT_EBADURI || rc == ORBIT_ENOPROVIDER ? 2 : 1;
    }
    rc = orbit_manager_resolve_actor(m, g_place.models_type, g_place.models_id, NULL,
                                     &g_models_pl);
    if (rc) {
        srv_log(LOG_ERROR, "cannot place the models actor %s/%s: %s: %s", g_place.models_type,
                g_place.models_id, orbit_strerror(rc), orbit_last_error_detail());
        return rc == ORBIT_EINVAL || rc == ORBIT_EBADURI || rc == ORBIT_ENOPROVIDER ? 2 : 1;
    }
    g_srv.kv = g_redis_pl.kv;
    g_elsewhere = g_models_pl.kv != g_redis_pl.kv;
    srv_log(LOG_INFO, "placement %s: Redis database on provider %s, models (actor %s/%s) on %s%s",
            g_strategy, g_redis_pl.provider, g_place.models_type, g_place.models_id,
            g_models_pl.provider,
            g_elsewhere ? " (a transaction mixing both is refused)" : "");
    return 0;
}

void srv_placement_close(void)
{
    orbit_manager_free(g_srv_mgr);
    g_srv_mgr = NULL;
    g_srv.kv = NULL;
    memset(&g_redis_pl, 0, sizeof g_redis_pl);
    memset(&g_models_pl, 0, sizeof g_models_pl);
}

int srv_models_actor_open(orbit_actor **out)
{
    *out = NULL;
    if (!g_srv_mgr)
        return orbit_error_set(ORBIT_ECLOSED, "no storage manager is open");
    return orbit_manager_actor(g_srv_mgr, g_place.models_type, g_place.models_id, out);
}

static int in_table(const srv_command *t, const srv_command *cmd)
{
    for (; t->name; t++)
        if (t == cmd)
            return 1;
    return 0;
}

static int is_model_command(const srv_command *cmd)
{
    return in_table(srv_json_commands, cmd) || in_table(srv_ts_commands, cmd) ||
           in_table(srv_vector_commands, cmd) || in_table(srv_graph_commands, cmd) ||
           in_table(srv_table_commands, cmd);
}

int srv_call_binds_kv(const struct srv_client *c, const struct srv_command *cmd)
{
    if (!g_elsewhere)
        return 1;
    if (is_model_command(cmd))
        return 0;
    if (strcmp(cmd->name, "exec") || c->nwatch || !c->nqueue)
        return 1;
    for (size_t i = 0; i < c->nqueue; i++)
        if (!is_model_command(c->queue[i].cmd))
            return 1;
    return 0;
}

/* ---- listing ------------------------------------------------------------ */

static const char *ptype(orbit_provider_type t)
{
    switch (t) {
    case ORBIT_PROVIDER_MEMORY: return "memory";
    case ORBIT_PROVIDER_EMBEDDED: return "embedded";
    case ORBIT_PROVIDER_DISTRIBUTED: return "distributed";
    }
    return "unknown";
}

static json_t *caps_json(const orbit_capabilities *c, const char *provider, int is_default)
{
    json_t *iso = json_array();
    static const char *const names[] = {"snapshot", "read_committed", "serializable"};
    for (int l = 0; iso && l < 3; l++)
        if (c->isolation_levels & ORBIT_ISO_BIT(l))
            json_array_append_new(iso, json_string(names[l]));
    json_t *actors = json_array();
    if (actors && !strcmp(g_redis_pl.provider, provider))
        json_array_append_new(actors, json_pack("{s:s, s:s}", "actor", REDIS_TYPE "/" REDIS_ID,
                                                "serves", "redis"));
    if (actors && !strcmp(g_models_pl.provider, provider)) {
        char a[512];
        snprintf(a, sizeof a, "%s/%s", g_place.models_type, g_place.models_id);
        json_array_append_new(actors, json_pack("{s:s, s:s}", "actor", a, "serves", "models"));
    }
    return json_pack(
        "{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:b, s:o, s:I, s:I, s:I, s:b, s:b, s:b, s:b,"
        " s:b, s:b, s:I, s:I, s:b, s:o}",
        "provider", provider, "name", c->name ? c->name : "unknown", "type", ptype(c->type),
        "durable", c->durable, "transactions", c->supports_transactions,
        "distributed_transactions", c->supports_distributed_transactions, "multi_region",
        c->supports_multi_region, "snapshots", c->supports_snapshots, "native_async",
        c->native_async, "isolation_levels", iso, "max_batch_ops", (json_int_t)c->max_batch_ops,
        "max_key_size", (json_int_t)c->max_key_size, "max_value_size",
        (json_int_t)c->max_value_size, "snapshot_at", c->supports_snapshot_at, "commit_version",
        c->supports_commit_version, "native_multi_get", c->native_multi_get,
        "native_range_delete", c->native_range_delete, "native_cas", c->native_cas,
        "batch_range_delete", c->supports_batch_range_delete, "max_txn_keys",
        (json_int_t)c->max_txn_keys, "max_txn_bytes", (json_int_t)c->max_txn_bytes, "default",
        is_default, "actors", actors);
}

void *srv_providers_json(void)
{
    orbit_manager *m = g_srv_mgr;
    json_t *arr = json_array();
    const char *def = NULL;
    orbit_manager_default(m, NULL, &def);
    size_t n = orbit_manager_provider_count(m);
    for (size_t i = 0; arr && i < n; i++) {
        const char *name = orbit_manager_provider_name(m, i);
        orbit_kv *kv = NULL;
        if (!name || orbit_manager_provider(m, name, &kv))
            continue;
        orbit_capabilities c;
        orbit_kv_capabilities(kv, &c);
        json_array_append_new(arr, caps_json(&c, name, def && !strcmp(def, name)));
    }
    json_t *routes = json_object();
    for (size_t i = 0; routes && i < g_place.nroutes; i++)
        json_object_set_new(routes, g_place.routes[i].name,
                            json_string(g_place.routes[i].value));
    return json_pack("{s:o, s:{s:s, s:s?, s:o}}", "providers", arr, "placement", "strategy",
                     g_strategy, "default", def, "routes", routes);
}

static void info_line(orbit_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void info_line(orbit_buf *out, const char *fmt, ...)
{
    char b[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof b - 3)
        n = (int)(sizeof b - 3);
    b[n++] = '\r';
    b[n++] = '\n';
    orbit_buf_append(out, b, (size_t)n);
}

void srv_placement_info(orbit_buf *out)
{
    orbit_manager *m = g_srv_mgr;
    if (!m)
        return;
    const char *def = NULL;
    orbit_manager_default(m, NULL, &def);
    size_t n = orbit_manager_provider_count(m);
    info_line(out, "# Placement");
    info_line(out, "orbit_placement:%s", g_strategy);
    info_line(out, "orbit_default_provider:%s", def ? def : "");
    info_line(out, "orbit_providers:%zu", n);
    for (size_t i = 0; i < n; i++) {
        const char *name = orbit_manager_provider_name(m, i);
        orbit_kv *kv = NULL;
        if (!name || orbit_manager_provider(m, name, &kv))
            continue;
        orbit_capabilities c;
        orbit_kv_capabilities(kv, &c);
        info_line(out, "orbit_provider_%zu:name=%s,type=%s,durable=%d,default=%d", i, name,
                  c.name ? c.name : "unknown", c.durable, def && !strcmp(def, name));
    }
    info_line(out, "orbit_redis_actor:actor=%s/%s,provider=%s", REDIS_TYPE, REDIS_ID,
              g_redis_pl.provider ? g_redis_pl.provider : "");
    info_line(out, "orbit_models_actor:actor=%s/%s,provider=%s", g_place.models_type,
              g_place.models_id, g_models_pl.provider ? g_models_pl.provider : "");
    orbit_buf_append(out, "\r\n", 2);
}
