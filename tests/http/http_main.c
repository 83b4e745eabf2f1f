/*
 * A test driver for orbitd's HTTP API: orbitd's process (src/server/main.c's
 * order: settings, store, RESP listener and workers, signals, graceful stop)
 * plus the HTTP server (src/server/http.h) started next to the RESP one, so
 * the black-box tests (tests/http/test_http.py) reach both protocols on one
 * store before main.c is wired to start HTTP itself.
 *
 * Flags: every orbitd flag (server/config.c), plus the HTTP limits, taken
 * out before the rest is parsed: --http-max-body SIZE, --http-max-header
 * SIZE, --http-timeout SECONDS, --http-threads N. The HTTP port is
 * --http-port (orbitd's setting); 0 picks a free one, printed on stderr.
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "orbit/kv.h"
#include "server/db.h"
#include "server/http.h"
#include "server/net.h"
#include "server/server.h"

srv_server g_srv;

void srv_cursors_release(void);

static srv_net *g_net;
static struct event_base *g_base;

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    if (atomic_exchange(&g_srv.stopping, 1))
        return;
    srv_log(LOG_INFO, "received a stop signal: stopping");
    srv_net_stop_accepting(g_net);
    event_base_loopbreak(g_base);
}

static void on_expire(evutil_socket_t fd, short what, void *arg)
{
    int n = db_expire_cycle(20);
    if (n > 0)
        atomic_fetch_add(&g_srv.stats.expired_keys, (unsigned long long)n);
}

int main(int argc, char **argv)
{
    srv_http_opts ho;
    memset(&ho, 0, sizeof ho);
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0;
    if (!rest)
        return 1;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 < argc && !strcmp(a, "--http-max-body"))
            ho.max_body = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(a, "--http-max-header"))
            ho.max_header = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(a, "--http-timeout"))
            ho.idle_timeout = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(a, "--http-threads"))
            ho.threads = atoi(argv[++i]);
        else
            rest[nrest++] = argv[i];
    }
    int rc = srv_config_load(&g_srv.cfg, nrest, rest);
    free(rest);
    if (rc == 1)
        return 0;
    if (rc)
        return 2;
    srv_config *cfg = &g_srv.cfg;
    signal(SIGPIPE, SIG_IGN);
    char *uri = srv_config_store_uri(cfg);
    if (!uri)
        return 1;
    rc = orbit_kv_open(uri, &g_srv.kv);
    if (rc) {
        srv_log(LOG_ERROR, "cannot open store %s: %s: %s", uri, orbit_strerror(rc),
                orbit_last_error_detail());
        free(uri);
        srv_config_release(cfg);
        return 1;
    }
    orbit_kv_capabilities(g_srv.kv, &g_srv.caps);
    g_srv.use_async = g_srv.caps.native_async;
    g_srv.start_ms = srv_now_ms();

    struct event *sigterm = NULL, *sigint = NULL, *expire = NULL;
    int http_started = 0;
    if (srv_net_init(&g_net, &g_base) || srv_net_listen(g_net)) {
        rc = 1;
        goto out;
    }
    ho.bind = cfg->bind;
    ho.port = cfg->http_port;
    ho.password = cfg->requirepass;
    if (srv_http_start(&ho)) {
        rc = 1;
        goto out;
    }
    http_started = 1;
    sigterm = evsignal_new(g_base, SIGTERM, on_signal, NULL);
    sigint = evsignal_new(g_base, SIGINT, on_signal, NULL);
    expire = event_new(g_base, -1, EV_PERSIST, on_expire, NULL);
    struct timeval period = {0, 1000000 / cfg->expire_hz};
    if (!sigterm || !sigint || !expire || evsignal_add(sigterm, NULL) ||
        evsignal_add(sigint, NULL) || event_add(expire, &period) ||
        srv_net_start_workers(g_net, cfg->threads)) {
        rc = 1;
        goto out;
    }
    srv_log(LOG_INFO, "orbitd (http test driver) ready: resp %s:%d, http port %d", cfg->bind,
            cfg->port, srv_http_port());
    event_base_dispatch(g_base);
    rc = 0;
out:
    if (http_started)
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
    orbit_kv_close(g_srv.kv);
    srv_thread_release();
    srv_cursors_release();
    free(uri);
    srv_config_release(cfg);
    return rc;
}
