/*
 * orbitd's request metrics and their Prometheus text exposition
 * (metrics.c), served by the HTTP API at GET /metrics (http.c).
 *
 * What is recorded here: per command (a RESP command name, or an HTTP
 * route such as "GET /v1/kv/{key}") the number of requests, of failed ones,
 * and a latency histogram; the same per provider (the name in
 * orbit_capabilities) for requests that touched the store; HTTP responses
 * per status code; HTTP authentication failures and connections. The
 * rest of /metrics is read at scrape time from g_srv.stats (server.h: RESP
 * clients, auth failures, keyspace hits and misses, ...) and from the
 * store's orbit_kv_stats.
 *
 * Threads: every function may be called from any thread at any time.
 * Recording is lock-free: a command's series is found in a fixed
 * open-addressing table by hashing its name (claimed once with a
 * compare-and-swap, never removed), then a few relaxed atomic additions.
 * The table holds SRV_METRICS_MAX_SERIES names; later new names are
 * counted under the command "other". Names are copied (up to 63 bytes).
 */
#ifndef ORBIT_SERVER_METRICS_H
#define ORBIT_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"

#define SRV_METRICS_MAX_SERIES 512

enum { SRV_PROTO_RESP = 0, SRV_PROTO_HTTP = 1 };

/*
 * Record one request: proto SRV_PROTO_*, command its name (a C string,
 * copied on first use; callers pass a bounded set, e.g. "unknown" for an
 * unknown RESP command), provider the store's provider name or NULL when
 * the request did not touch the store, latency_ns its duration, ok 0 if
 * it failed (an error reply, an HTTP status >= 400).
 */
void srv_metrics_observe(int proto, const char *command, const char *provider,
                         uint64_t latency_ns, int ok);

/* One HTTP response with this status code (100..599; others ignored). */
void srv_metrics_http_status(int status);
/* A request refused for a missing or wrong bearer password. */
void srv_metrics_http_auth_failure(void);
/* An HTTP connection accepted; the number of HTTP requests being handled. */
void srv_metrics_http_connection(void);
void srv_metrics_http_inflight(int delta);

/* Monotonic nanoseconds, for latencies. */
uint64_t srv_metrics_now_ns(void);

/*
 * Append the Prometheus text exposition (format 0.0.4) of every metric to
 * out. Reads g_srv (server.h) and the store's counters; the key count is a
 * keys-only scan of the server's metadata records, redone at most once
 * every SRV_METRICS_KEYS_TTL_MS by whichever scrape finds it stale, so it
 * may be that much behind. 0 or ORBIT_ENOMEM.
 */
#define SRV_METRICS_KEYS_TTL_MS 10000
int srv_metrics_render(orbit_buf *out);

#endif
