/*
 * orbitd's placement settings and the storage manager it opens
 * (config.c parses them, placement.c opens and serves them).
 *
 * orbitd serves two actors (include/orbit/manager.h):
 *   - the Redis database 0, always the actor ("orbit", "default"): its keys
 *     are in keyspace ORBIT_KEYSPACE_DEFAULT (db.c) on whichever provider
 *     the placement gives that actor, and g_srv.kv is that store;
 *   - the model objects (JSON documents, series, vector collections,
 *     graphs, tables; RESP and HTTP alike), the actor named by the
 *     `models-actor TYPE/ID` setting, by default the same ("orbit",
 *     "default"), so a single store behaves exactly as before.
 * The providers are named (`provider NAME URI`); `store URI` is the
 * provider "default". The strategy is by actor type (`route TYPE NAME`),
 * else every actor goes to the default provider. One transaction stays on
 * one store: a MULTI block or POST /v1/txn touching both actors when they
 * are on different providers is refused whole by orbit_tx (ENOTSUP, nothing
 * written).
 *
 * Ownership: g_place's strings are owned by it (srv_config_release frees
 * them); the manager and the actors it resolves are owned by placement.c
 * (srv_placement_close frees them); pointers handed out are borrowed.
 */
#ifndef ORBIT_SERVER_CONFIG_H
#define ORBIT_SERVER_CONFIG_H

#include <stddef.h>

#include "orbit/buf.h"
#include "orbit/manager.h"
#include "orbit/model.h"

/* A named setting that may be given many times (a provider, a route):
 * name -> value, from the source `level` (0 file, 1 environment, 2 flags)
 * at `origin` ("FILE:LINE", "ORBIT_PROVIDERS", "--provider"). */
typedef struct srv_named {
    char *name;
    char *value;
    int level;
    int from_store; /* given as `store URI` (a provider "default") */
    char origin[96];
} srv_named;

typedef struct srv_place_cfg {
    srv_named *providers;   /* in the order first named */
    size_t nproviders;
    srv_named *routes;      /* actor type -> provider name */
    size_t nroutes;
    char *default_provider; /* NULL: the first provider */
    char *placement;        /* "by_actor_type" (default) or "default" */
    char *catalog;          /* "durable" / "volatile"; NULL: volatile with one
                             * provider (the catalog shares the data's fate),
                             * else durable */
    char *models_actor;     /* "TYPE/ID"; default "orbit/default" */
    /* parsed from models_actor by srv_config_load */
    char *models_type, *models_id;
} srv_place_cfg;

extern srv_place_cfg g_place;

/* uri with the cache-size setting applied (a rocksdb: URI without its own
 * cache_mb gets cache_mb=N); malloc'd, the caller frees; NULL on ENOMEM. */
struct srv_config;
char *srv_config_provider_uri(const struct srv_config *c, const char *uri);

/* The storage manager, open from srv_placement_open to
 * srv_placement_close; NULL otherwise. */
extern orbit_manager *g_srv_mgr;

/*
 * Open every configured provider in a manager, apply the default, the
 * strategy and the routes, resolve the Redis actor (g_srv.kv becomes its
 * store) and the models actor, and log where each lives. 0, or the exit
 * code after logging the error: 2 for a configuration the manager refuses
 * (a bad URI, a non-durable catalog), 1 when a store cannot be opened or
 * read.
 */
int srv_placement_open(void);
void srv_placement_close(void);

/* A new handle on the models actor (orbit_manager_actor): the caller owns
 * it and closes it with orbit_actor_close. 0 or the manager's error. */
int srv_models_actor_open(orbit_actor **out);

/* Whether a RESP command run by commands.c's srv_execute must bind its
 * transaction to the Redis actor's store before it runs: always, except a
 * model command (or an EXEC of model commands only, without WATCH) when
 * the models actor lives on another store, which then binds to the
 * models' store at its first model call. */
struct srv_client;
struct srv_command;
int srv_call_binds_kv(const struct srv_client *c, const struct srv_command *cmd);

/* The providers as the JSON body of GET /v1/providers (a jansson json_t *,
 * new reference), or NULL on ENOMEM. */
void *srv_providers_json(void);

/* The "# Placement" section of INFO, appended to out. */
void srv_placement_info(orbit_buf *out);

#endif
