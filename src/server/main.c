/*
 * orbitd: the process. Loads the settings (config.c), refuses an
 * unprotected public bind (Redis's protected mode), opens the storage
 * manager with the configured providers and places the Redis database and
 * the models actor on them (placement.c),
 * starts the listener and the worker threads (net.c), runs the active
 * expiry cycle on a timer, and on SIGTERM or SIGINT stops accepting, lets
 * the workers finish the requests in flight, closes the store and exits 0.
 *
 * Exit codes: 0 after a clean stop; 1 when a store cannot be opened or
 * the port cannot be bound; 2 for bad settings (a bad provider URI, an
 * unknown provider in a route, a name given twice, a non-durable catalog
 * with several providers).
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "orbit/kv.h"
#include "server/config.h"
#include "server/http.h"
#include "server/db.h"
#include "server/net.h"
#include "server/server.h"

srv_server g_srv;

void srv_cursors_release(void);

static srv_net *g_net;
static struct event_base *g_base;

static int is_loopback(const char *a)
{
    return !strncmp(a, "127.", 4) || !strcmp(a, "::1") || !strcmp(a, "localhost");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    if (atomic_exchange(&g_srv.stopping, 1))
        return;
    srv_log(LOG_INFO, "received %s: stopping (finishing requests in flight)",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    srv_net_stop_accepting(g_net);
    event_base_loopbreak(g_base);
}

static void on_expire(evutil_socket_t fd, short what, void *arg)
{
    /* keys per cycle, as Redis's ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP: a
     * cycle that finds a full batch runs again at once */
    for (int round = 0; round < 16; round++) {
        int n = db_expire_cycle(20);
        if (n < 0) {
            srv_log(LOG_WARN, "active expiry: %s: %s", orbit_strerror(n),
                    orbit_last_error_detail());
            return;
        }
        if (n < 20) /* db_expire_cycle counted its deletions */
            return;
    }
}

int main(int argc, char **argv)
{
    int rc = srv_config_load(&g_srv.cfg, argc, argv);
    if (rc == 1)
        return 0;
    if (rc)
        return 2;
    srv_config *cfg = &g_srv.cfg;
    int have_pass = cfg->requirepass && cfg->requirepass[0];
    if (!have_pass && cfg->protected_mode && !is_loopback(cfg->bind)) {
        srv_log(LOG_ERROR,
                "refusing to listen on %s without a password (protected mode): set requirepass, "
                "or --protected-mode no to allow it",
                cfg->bind);
        srv_config_release(cfg);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    rc = srv_placement_open();
    if (rc) {
        srv_placement_close();
        srv_config_release(cfg);
        return rc;
    }
    orbit_kv_capabilities(g_srv.kv, &g_srv.caps);
    g_srv.use_async = g_srv.caps.native_async;
    g_srv.start_ms = srv_now_ms();
    db_init();
    srand((unsigned)(g_srv.start_ms ^ (uint64_t)getpid()));

    struct event *sigterm = NULL, *sigint = NULL, *expire = NULL;
    if (srv_net_init(&g_net, &g_base) || srv_net_listen(g_net)) {
        rc = 1;
        goto out;
    }
    if (cfg->http_port) {
        srv_http_opts ho = {cfg->bind, cfg->http_port, cfg->requirepass, cfg->http_max_body,
                            cfg->http_max_header, cfg->http_timeout, cfg->http_threads};
        if (srv_http_start(&ho)) {
            rc = 1;
            goto out;
        }
    }
    sigterm = evsignal_new(g_base, SIGTERM, on_signal, NULL);
    sigint = evsignal_new(g_base, SIGINT, on_signal, NULL);
    expire = event_new(g_base, -1, EV_PERSIST, on_expire, NULL);
    struct timeval period = {0, 1000000 / cfg->expire_hz};
    if (!sigterm || !sigint || !expire || evsignal_add(sigterm, NULL) ||
        evsignal_add(sigint, NULL) || event_add(expire, &period)) {
        srv_log(LOG_ERROR, "cannot set up signal and timer events");
        rc = 1;
        goto out;
    }
    if (srv_net_start_workers(g_net, cfg->threads)) {
        srv_log(LOG_ERROR, "cannot start %d worker threads", cfg->threads);
        rc = 1;
        goto out;
    }
    srv_log(LOG_INFO, "orbitd ready on %s:%d, %zu provider%s (Redis database on %s%s), %d worker "
            "threads%s", cfg->bind, cfg->port, g_place.nproviders,
            g_place.nproviders == 1 ? "" : "s", g_srv.caps.name ? g_srv.caps.name : "?",
            g_srv.use_async ? ", asynchronous path" : "", cfg->threads,
            have_pass ? ", password required" : "");
    event_base_dispatch(g_base);
    rc = 0;
out:
    srv_http_stop();
    if (g_net) {
        atomic_store(&g_srv.stopping, 1);
        srv_net_stop_accepting(g_net);
        srv_net_join(g_net);
    }
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    if (expire)
        event_free(expire);
    srv_net_free(g_net);
    srv_placement_close();
    srv_thread_release();
    srv_cursors_release();
    srv_log(LOG_INFO, "orbitd stopped%s", rc ? " after an error" : "");
    srv_config_release(cfg);
    return rc;
}
