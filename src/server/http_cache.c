/*
 * The HTTP API's handles of named model objects (graphs, vector
 * collections, series): each kind keeps one list of handles opened by name
 * on the models actor, shared by the HTTP threads under one lock and
 * closed at shutdown (http_int.h, hx_handles).
 */
#include <stdlib.h>
#include <string.h>

#include "orbit/provider.h"
#include "server/config.h"
#include "server/http_int.h"

typedef struct hx_handle {
    char *name;
    void *h;
    struct hx_handle *next;
} hx_handle;

/* Called with hs->mu held. */
static int actor_locked(hx_handles *hs)
{
    return hs->actor ? 0 : srv_models_actor_open(&hs->actor);
}

int hx_handles_actor(hx_handles *hs, orbit_actor **out)
{
    pthread_mutex_lock(&hs->mu);
    int rc = actor_locked(hs);
    *out = hs->actor;
    pthread_mutex_unlock(&hs->mu);
    return rc;
}

int hx_handle_get(hx_handles *hs, const char *name, void **out)
{
    pthread_mutex_lock(&hs->mu);
    int rc = actor_locked(hs);
    for (hx_handle *c = hs->list; !rc && c; c = c->next)
        if (!strcmp(c->name, name)) {
            *out = c->h;
            pthread_mutex_unlock(&hs->mu);
            return 0;
        }
    void *h = NULL;
    if (!rc)
        rc = hs->open(hs->actor, name, &h);
    if (!rc) {
        hx_handle *c = calloc(1, sizeof *c);
        if (!c || !(c->name = strdup(name))) {
            free(c);
            hs->close(h);
            rc = ORBIT_ENOMEM;
        } else {
            c->h = h;
            c->next = hs->list;
            hs->list = c;
            *out = h;
        }
    }
    pthread_mutex_unlock(&hs->mu);
    return rc;
}

void hx_handles_release(hx_handles *hs)
{
    pthread_mutex_lock(&hs->mu);
    while (hs->list) {
        hx_handle *c = hs->list;
        hs->list = c->next;
        hs->close(c->h);
        free(c->name);
        free(c);
    }
    orbit_actor_close(hs->actor);
    hs->actor = NULL;
    pthread_mutex_unlock(&hs->mu);
}
