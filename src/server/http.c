/*
 * orbitd's HTTP/JSON API (http.h): the evhttp threads, the request
 * pipeline (parse the target, route, authenticate, dispatch, reply, count)
 * and the small resources (/health, /metrics, /v1/providers); the data
 * resources are in http_kv.c, http_rel.c, http_doc.c, http_vec.c,
 * http_graph.c, http_ts.c and http_txn.c.
 *
 * Pipeline of one request, on the HTTP thread that accepted it:
 *   1. libevent reads the request line, headers and body, refusing a
 *      header block over max_header (connection closed) and a body over
 *      max_body with 413 as soon as Content-Length says so, before the body
 *      is read (a chunked body: as soon as it grows past the limit);
 *   2. the target is parsed and routed (http_route.c): 400 for a malformed
 *      target, 404 no route, 405 a route without that method (Allow set);
 *   3. with a password, every route but /health needs
 *      "Authorization: Bearer <password>" (compared in constant time):
 *      401 otherwise, and a wrong password is counted;
 *   4. the handler replies exactly once; the status and latency go to the
 *      metrics under the route's name ("GET /v1/kv/{key}").
 *
 * Threads: each HTTP thread owns an event base and an evhttp, all
 * accepting on one listening socket (each through its own dup of it).
 * Handlers run synchronously on their thread and share only the store
 * handle, the metrics (atomics) and http_rel.c's locked handle cache.
 * Stopping: event_base_loopexit on every base (a handler that is running
 * finishes and its reply is written), then join and free.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "orbit/codec.h"
#include "orbit/provider.h"
#include "server/config.h"
#include "server/http.h"
#include "server/http_int.h"
#include "server/metrics.h"
#include "server/server.h"

typedef struct hx_thread {
    pthread_t th;
    struct event_base *base;
    struct evhttp *http;
    int started;
} hx_thread;

static hx_thread *g_threads;
static int g_nthreads;
static int g_listen_fd = -1;
static int g_port;
static char *g_password;
static size_t g_password_len;

/* ---- replies -------------------------------------------------------------- */

static void finish(hx_req *r, int status, const char *reason, struct evbuffer *body)
{
    r->status = status;
    evhttp_send_reply(r->req, status, reason, body);
}

static const char *reason_of(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return NULL;
    }
}

void hx_bytes(hx_req *r, int status, const char *content_type, const void *p, size_t n)
{
    struct evbuffer *b = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(h, "Content-Type", content_type);
    if (b && n)
        evbuffer_add(b, p, n);
    finish(r, status, reason_of(status), b);
    if (b)
        evbuffer_free(b);
}

void hx_json(hx_req *r, int status, json_t *j)
{
    if (!j)
        j = json_object();
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!s) {
        static const char oom[] = "{\"error\":\"out of memory\",\"code\":\"ENOMEM\"}\n";
        hx_bytes(r, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    size_t n = strlen(s);
    s[n] = 0;
    struct evbuffer *b = evbuffer_new();
    if (b) {
        evbuffer_add(b, s, n);
        evbuffer_add(b, "\n", 1);
    }
    free(s);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type",
                      "application/json");
    finish(r, status, reason_of(status), b);
    if (b)
        evbuffer_free(b);
}

void hx_error(hx_req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* the detail may carry bytes of a key: keep the JSON text valid */
    json_t *m = json_string(msg);
    if (!m) {
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        m = json_string(msg);
    }
    json_t *j = json_object();
    if (j) {
        json_object_set_new(j, "error", m ? m : json_string("?"));
        json_object_set_new(j, "code", json_string(code));
    } else {
        json_decref(m);
    }
    hx_json(r, status, j);
}

int hx_status_of(int rc)
{
    switch (rc) {
    case ORBIT_NOTFOUND: return 404;
    case ORBIT_CMPFAIL:
    case ORBIT_EEXIST:
    case ORBIT_ECONFLICT:
    case ORBIT_ECONSTRAINT: return 409;
    case ORBIT_EINVAL: return 400;
    case ORBIT_ETOOBIG: return 413;
    case ORBIT_ENOTSUP: return 501;
    case ORBIT_ENOSPACE: return 507;
    case ORBIT_EUNAVAIL:
    case ORBIT_EBUSY:
    case ORBIT_ETIMEDOUT:
    case ORBIT_ECLOSED:
    case ORBIT_ENOSTORE:
    case ORBIT_ECOMPACTED: return 503;
    default: return 500;
    }
}

void hx_orbit_error(hx_req *r, int rc, const char *what)
{
    const char *detail = rc < 0 ? orbit_last_error_detail() : "";
    const char *code = rc == ORBIT_NOTFOUND ? "NOTFOUND"
                       : rc == ORBIT_CMPFAIL ? "CMPFAIL"
                                             : orbit_err_name(rc);
    hx_error(r, hx_status_of(rc), code, "%s%s%s%s%s", what ? what : "", what ? ": " : "",
             rc == ORBIT_NOTFOUND ? "not found" : orbit_strerror(rc), detail[0] ? ": " : "",
             detail);
}

/* ---- helpers for the resources ---------------------------------------- */

const uint8_t *hx_body(hx_req *r, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    *len = evbuffer_get_length(in);
    if (!*len)
        return (const uint8_t *)"";
    return evbuffer_pullup(in, -1);
}

json_t *hx_body_json(hx_req *r)
{
    size_t n;
    const uint8_t *p = hx_body(r, &n);
    json_error_t e;
    json_t *j = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &e);
    if (!j)
        hx_error(r, 400, "EINVAL", "the body is not JSON: %s (line %d, column %d)", e.text,
                 e.line, e.column);
    return j;
}

json_t *hx_json_bytes(const void *p, size_t n)
{
    return json_stringn(n ? (const char *)p : "", n);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int hx_b64_encode(orbit_buf *out, const uint8_t *p, size_t n)
{
    int rc = orbit_buf_reserve(out, (n + 2) / 3 * 4 + 1);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {B64[(v >> 18) & 63], B64[(v >> 12) & 63],
                     i + 1 < n ? B64[(v >> 6) & 63] : '=', i + 2 < n ? B64[v & 63] : '='};
        orbit_buf_append(out, q, 4);
    }
    return 0;
}

int hx_b64_decode(orbit_buf *out, const char *s, size_t n)
{
    if (n % 4)
        return -1;
    if (orbit_buf_reserve(out, n / 4 * 3 + 1))
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = s[i + k];
            const char *f = c ? strchr(B64, c) : NULL;
            if (c == '=' && i + 4 == n && k >= 2 && (k == 3 || s[i + 3] == '=')) {
                v[k] = 0;
                pad++;
            } else if (f && !pad) {
                v[k] = (int)(f - B64);
            } else {
                return -1;
            }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        uint8_t b[3] = {(uint8_t)(x >> 16), (uint8_t)(x >> 8), (uint8_t)x};
        orbit_buf_append(out, b, (size_t)(3 - pad));
    }
    return 0;
}

int hx_param_size(hx_req *r, const char *name, size_t def, size_t max, size_t *out)
{
    const srv_http_str *v = srv_http_param(&r->t, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v->p, &end, 10);
    if (!v->n || *end || errno || v->p[0] == '-' || (max && n > max)) {
        hx_error(r, 400, "EINVAL", "query parameter %s: expected an integer from 0 to %zu", name,
                 max);
        return -1;
    }
    *out = (size_t)n;
    return 0;
}

/* ---- small resources ---------------------------------------------------- */

static void h_health(hx_req *r)
{
    if (!g_srv.kv) {
        hx_error(r, 503, "EUNAVAIL", "no store is open");
        return;
    }
    orbit_buf k = ORBIT_BUF_INIT, v = ORBIT_BUF_INIT;
    int rc = orbit_key_keyspace(&k, ORBIT_KEYSPACE_DEFAULT);
    if (!rc)
        rc = orbit_tuple_str(&k, "health");
    if (!rc)
        rc = orbit_kv_get(g_srv.kv, NULL, k.data, k.len, &v);
    orbit_buf_release(&k);
    orbit_buf_release(&v);
    r->touched_store = 1;
    if (rc < 0) {
        /* whatever the store said, it did not answer a read */
        hx_error(r, 503, orbit_err_name(rc), "the store does not answer: %s: %s",
                 orbit_strerror(rc), orbit_last_error_detail());
        return;
    }
    json_t *j = json_pack("{s:s, s:s}", "status", "ok", "provider",
                          g_srv.caps.name ? g_srv.caps.name : "unknown");
    hx_json(r, 200, j);
}

static void h_metrics(hx_req *r)
{
    orbit_buf b = ORBIT_BUF_INIT;
    int rc = srv_metrics_render(&b);
    r->touched_store = 1;
    if (rc)
        hx_orbit_error(r, rc, "metrics");
    else
        hx_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
    orbit_buf_release(&b);
}

/* Every open provider with its capabilities and the orbitd actors it
 * holds, and the placement (placement.c). */
static void h_providers(hx_req *r)
{
    if (!g_srv.kv || !g_srv_mgr) {
        hx_error(r, 503, "EUNAVAIL", "no store is open");
        return;
    }
    json_t *j = srv_providers_json();
    if (!j) {
        hx_error(r, 500, "ENOMEM", "out of memory listing the providers");
        return;
    }
    hx_json(r, 200, j);
}

/* ---- the pipeline --------------------------------------------------------- */

static unsigned method_of(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return SRV_M_GET;
    case EVHTTP_REQ_HEAD: return SRV_M_HEAD;
    case EVHTTP_REQ_PUT: return SRV_M_PUT;
    case EVHTTP_REQ_POST: return SRV_M_POST;
    case EVHTTP_REQ_DELETE: return SRV_M_DELETE;
    case EVHTTP_REQ_PATCH: return SRV_M_PATCH;
    default: return SRV_M_OTHER;
    }
}

static const char *method_name(unsigned m)
{
    switch (m) {
    case SRV_M_GET: return "GET";
    case SRV_M_HEAD: return "HEAD";
    case SRV_M_PUT: return "PUT";
    case SRV_M_POST: return "POST";
    case SRV_M_DELETE: return "DELETE";
    case SRV_M_PATCH: return "PATCH";
    default: return "OTHER";
    }
}

static void set_allow(hx_req *r, unsigned methods)
{
    char allow[64] = "";
    static const unsigned ms[] = {SRV_M_GET, SRV_M_HEAD, SRV_M_PUT,
                                  SRV_M_POST, SRV_M_DELETE, SRV_M_PATCH};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (methods & ms[i]) {
            if (allow[0])
                strcat(allow, ", ");
            strcat(allow, method_name(ms[i]));
        }
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", allow);
}

/* 1 if the request carries the password. */
static int authorized(hx_req *r, int *present)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");
    *present = h != NULL;
    if (!h || strncasecmp(h, "Bearer ", 7))
        return 0;
    const char *p = h + 7;
    size_t n = strlen(p);
    /* constant time in the password's length */
    unsigned char diff = (unsigned char)(n != g_password_len);
    for (size_t i = 0; i < g_password_len; i++)
        diff |= (unsigned char)(g_password[i] ^ (i < n ? p[i] : 0));
    return diff == 0;
}

static void dispatch(hx_req *r)
{
    switch (r->route->handler) {
    case H_HEALTH: h_health(r); break;
    case H_METRICS: h_metrics(r); break;
    case H_PROVIDERS: h_providers(r); break;
    case H_KV_SCAN: r->touched_store = 1; hx_kv_scan(r); break;
    case H_KV_ONE: r->touched_store = 1; hx_kv_one(r); break;
    case H_TABLES: r->touched_store = 1; hx_tables(r); break;
    case H_TABLE: r->touched_store = 1; hx_table(r); break;
    case H_TABLE_INDEXES: r->touched_store = 1; hx_table_indexes(r); break;
    case H_TABLE_ROWS: r->touched_store = 1; hx_table_rows(r); break;
    case H_TABLE_ROW: r->touched_store = 1; hx_table_row(r); break;
    case H_TABLE_QUERY: r->touched_store = 1; hx_table_query(r); break;
    case H_DOCS: r->touched_store = 1; hx_docs(r); break;
    case H_DOC: r->touched_store = 1; hx_doc(r); break;
    case H_VEC_COLL: r->touched_store = 1; hx_vec_coll(r); break;
    case H_VEC_ITEM: r->touched_store = 1; hx_vec_item(r); break;
    case H_VEC_SEARCH: r->touched_store = 1; hx_vec_search(r); break;
    case H_GRAPH: r->touched_store = 1; hx_graph(r); break;
    case H_GRAPH_NODE: r->touched_store = 1; hx_graph_node(r); break;
    case H_GRAPH_NEIGHBORS: r->touched_store = 1; hx_graph_neighbors(r); break;
    case H_GRAPH_EDGES: r->touched_store = 1; hx_graph_edges(r); break;
    case H_GRAPH_PATH: r->touched_store = 1; hx_graph_path(r); break;
    case H_SERIES: r->touched_store = 1; hx_series(r); break;
    case H_SERIES_POINTS: r->touched_store = 1; hx_series_points(r); break;
    case H_SERIES_LAST: r->touched_store = 1; hx_series_last(r); break;
    case H_TXN: r->touched_store = 1; hx_txn(r); break;
    default: hx_error(r, 404, "NOTFOUND", "no such resource"); break;
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    uint64_t t0 = srv_metrics_now_ns();
    srv_metrics_http_inflight(1);
    hx_req r;
    memset(&r, 0, sizeof r);
    r.req = req;
    r.method = method_of(evhttp_request_get_command(req));
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    const char *query = u ? evhttp_uri_get_query(u) : NULL;
    const char *why = "malformed request target";
    char label[96];
    int prc = path ? srv_http_parse(path, strlen(path), query, query ? strlen(query) : 0, &r.t,
                                    &why)
                   : -1;
    if (prc == -2) {
        hx_error(&r, 500, "ENOMEM", "out of memory");
        snprintf(label, sizeof label, "%s (bad target)", method_name(r.method));
    } else if (prc) {
        hx_error(&r, 400, "EINVAL", "%s", why);
        snprintf(label, sizeof label, "%s (bad target)", method_name(r.method));
    } else {
        int rrc = srv_http_route(&r.t, r.method, &r.route);
        if (rrc < 0) {
            snprintf(label, sizeof label, "%s (no route)", method_name(r.method));
            hx_error(&r, 404, "NOTFOUND", "no such resource");
        } else {
            snprintf(label, sizeof label, "%s %s", method_name(r.method), r.route->name);
            int present = 0;
            if (rrc == 1) {
                set_allow(&r, r.route->methods);
                hx_error(&r, 405, "EINVAL", "method %s is not allowed on %s",
                         method_name(r.method), r.route->name);
            } else if (g_password && r.route->handler != H_HEALTH && !authorized(&r, &present)) {
                if (present)
                    srv_metrics_http_auth_failure();
                evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                                  "Bearer realm=\"orbitd\"");
                hx_error(&r, 401, "NOAUTH",
                         present ? "invalid password" : "authentication required");
            } else {
                dispatch(&r);
            }
        }
    }
    if (!r.status) /* a handler that did not reply: a bug, never a hang */
        hx_error(&r, 500, "EINTERNAL", "no reply");
    srv_http_target_release(&r.t);
    srv_metrics_http_status(r.status);
    srv_metrics_observe(SRV_PROTO_HTTP, label,
                        r.touched_store && g_srv.caps.name ? g_srv.caps.name : NULL,
                        srv_metrics_now_ns() - t0, r.status < 400);
    srv_metrics_http_inflight(-1);
}

static struct bufferevent *on_connection(struct event_base *base, void *arg)
{
    srv_metrics_http_connection();
    return NULL; /* evhttp makes its usual bufferevent */
}

/* ---- threads -------------------------------------------------------------- */

static void *thread_main(void *arg)
{
    hx_thread *t = arg;
    event_base_dispatch(t->base);
    db_thread_release();
    return NULL;
}

static int listen_on(const char *bind_addr, int port)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(bind_addr, ps, &hints, &res);
    if (rc) {
        srv_log(LOG_ERROR, "http: cannot resolve %s: %s", bind_addr, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1024)) {
            srv_log(LOG_ERROR, "http: cannot listen on %s:%d: %s", bind_addr, port,
                    strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    evutil_make_socket_nonblocking(fd);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (!getsockname(fd, (struct sockaddr *)&ss, &sl))
        g_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

int srv_http_port(void)
{
    return g_port;
}

int srv_http_start(const srv_http_opts *o)
{
    evthread_use_pthreads();
    size_t max_body = o->max_body ? o->max_body : (size_t)64 * 1024 * 1024;
    size_t max_header = o->max_header ? o->max_header : (size_t)64 * 1024;
    int timeout = o->idle_timeout > 0 ? o->idle_timeout : 60;
    int n = o->threads > 0 ? o->threads : 2;
    if (o->password && o->password[0]) {
        g_password = strdup(o->password);
        if (!g_password)
            return -1;
        g_password_len = strlen(g_password);
    }
    g_listen_fd = listen_on(o->bind ? o->bind : "127.0.0.1", o->port);
    if (g_listen_fd < 0)
        goto fail;
    g_threads = calloc((size_t)n, sizeof *g_threads);
    if (!g_threads)
        goto fail;
    g_nthreads = n;
    for (int i = 0; i < n; i++) {
        hx_thread *t = &g_threads[i];
        t->base = event_base_new();
        t->http = t->base ? evhttp_new(t->base) : NULL;
        int fd = dup(g_listen_fd);
        if (!t->http || fd < 0 || !evhttp_accept_socket_with_handle(t->http, fd)) {
            if (fd >= 0)
                close(fd);
            srv_log(LOG_ERROR, "http: cannot set up the HTTP server");
            goto fail;
        }
        evhttp_set_max_body_size(t->http, (ev_ssize_t)max_body);
        evhttp_set_max_headers_size(t->http, (ev_ssize_t)max_header);
        evhttp_set_timeout(t->http, timeout);
        evhttp_set_allowed_methods(t->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                                EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
                                                EVHTTP_REQ_PATCH);
        evhttp_set_gencb(t->http, on_request, NULL);
        evhttp_set_bevcb(t->http, on_connection, NULL);
    }
    for (int i = 0; i < n; i++) {
        if (pthread_create(&g_threads[i].th, NULL, thread_main, &g_threads[i])) {
            srv_log(LOG_ERROR, "http: cannot start thread %d", i);
            goto fail;
        }
        g_threads[i].started = 1;
    }
    srv_log(LOG_INFO, "http: serving on %s:%d (%d threads%s)", o->bind ? o->bind : "127.0.0.1",
            g_port, n, g_password ? ", bearer password required" : "");
    return 0;
fail:
    srv_http_stop();
    return -1;
}

void srv_http_stop(void)
{
    for (int i = 0; i < g_nthreads; i++)
        if (g_threads[i].started)
            event_base_loopexit(g_threads[i].base, NULL);
    for (int i = 0; i < g_nthreads; i++) {
        hx_thread *t = &g_threads[i];
        if (t->started)
            pthread_join(t->th, NULL);
        if (t->http)
            evhttp_free(t->http);
        if (t->base)
            event_base_free(t->base);
    }
    free(g_threads);
    g_threads = NULL;
    g_nthreads = 0;
    if (g_listen_fd >= 0)
        close(g_listen_fd);
    g_listen_fd = -1;
    srv_http_rel_release();
    srv_http_doc_release();
    srv_http_vec_release();
    srv_http_graph_release();
    srv_http_ts_release();
    free(g_password);
    g_password = NULL;
    g_password_len = 0;
}
