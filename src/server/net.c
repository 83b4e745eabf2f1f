/*
 * The network layer: libevent event loops, worker threads, clients, limits
 * and the asynchronous path.
 *
 * Threads: the main thread owns the listener (an evconnlistener) and hands
 * each accepted socket to a worker, round robin, through the worker's
 * locked inbox and an event activated across threads (libevent_pthreads).
 * A worker owns its clients: it reads, parses, dispatches and writes for
 * them, one command at a time per client, in arrival order. Commands run
 * synchronously on the worker, except on providers with native
 * asynchronous operations (etcd): there GET, plain SET, DEL, MGET and MSET
 * are started with orbit_kv_submit, the client waits (its later pipelined
 * commands stay queued in its input), and the worker goes on serving other
 * clients; the completion, on a provider thread, is posted back to the
 * worker's inbox. So two workers keep as many requests in flight as there
 * are clients.
 *
 * Pipelined runs of plain SETs (GETs) of one client are written as one
 * batch (read with one multi-get), replies in order.
 *
 * Limits: a client whose unparsed input exceeds max_query_len is closed;
 * a connection beyond max_clients gets "-ERR max number of clients
 * reached" and is closed; an idle client (idle_timeout) is closed by the
 * worker's once-a-second cron; a protocol error is replied and the
 * connection closed after the reply, as Redis does. While a client's
 * replies are not written out, its input is not read (back-pressure).
 *
 * Teardown: a client with an asynchronous operation in flight is only
 * marked closing; it is freed when the completion arrives (Redis's
 * freeClientAsync).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "orbit/codec.h"
#include "orbit/provider.h"
#include "server/metrics.h"
#include "server/db.h"
#include "server/net.h"
#include "server/server.h"

#define READ_CHUNK (16 * 1024)
#define OUT_HIGH_WATER (4 * 1024 * 1024) /* stop reading input above this */

typedef struct srv_worker {
    int idx;
    pthread_t th;
    struct event_base *base;
    struct event *notify;
    struct event *cron;
    pthread_mutex_t mu; /* inbox */
    int *fds;
    size_t nfds, capfds;
    srv_client **done;
    size_t ndone, capdone;
    srv_client *clients;
    int nclients;
    int stopping;
    /* consecutive plain SETs of one client, written as one batch */
    orbit_batch *sets;
    size_t nsets;
    orbit_buf set_key, set_rec;
    /* consecutive plain GETs of one client, read with one multi-get */
    orbit_buf get_keys[64];
    orbit_slice get_slices[64];
    orbit_buf get_vals[64];
    int get_status[64];
    size_t ngets;
} srv_worker;

static srv_worker *g_workers;
static int g_nworkers;
static int g_next_worker;
static pthread_mutex_t g_list_mu = PTHREAD_MUTEX_INITIALIZER; /* client lists, names */

static void client_process(srv_client *c);
static void client_flush(srv_client *c);
static void client_free(srv_client *c);

/* ---- client lifecycle -------------------------------------------------- */

static void addr_str(const struct sockaddr_storage *ss, char *out, size_t n)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    snprintf(out, n, "%s:%d", host, port);
}

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);

static void client_new(srv_worker *w, int fd)
{
    srv_client *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->worker = w;
    c->id = atomic_fetch_add(&g_srv.stats.next_client_id, 1) + 1;
    c->resp = 2;
    c->authed = !(g_srv.cfg.requirepass && g_srv.cfg.requirepass[0]);
    c->created_ms = c->last_ms = srv_now_ms();
    resp_parser_init(&c->parser, g_srv.cfg.max_bulk_len);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
        addr_str(&ss, c->addr, sizeof c->addr);
    sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        addr_str(&ss, c->laddr, sizeof c->laddr);
    evutil_make_socket_nonblocking(fd);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->wev = event_new(w->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
    if (!c->rev || !c->wev || event_add(c->rev, NULL)) {
        if (c->rev)
            event_free(c->rev);
        if (c->wev)
            event_free(c->wev);
        resp_parser_release(&c->parser);
        free(c);
        close(fd);
        atomic_fetch_sub(&g_srv.stats.connected_clients, 1);
        return;
    }
    pthread_mutex_lock(&g_list_mu);
    c->next = w->clients;
    if (w->clients)
        w->clients->prev = c;
    w->clients = c;
    w->nclients++;
    pthread_mutex_unlock(&g_list_mu);
    srv_log(LOG_DEBUG, "client %llu connected from %s", (unsigned long long)c->id, c->addr);
}

static void client_free(srv_client *c)
{
    if (c->async_pending) {
        /* freed when the completion arrives */
        c->closing = 1;
        event_del(c->rev);
        event_del(c->wev);
        return;
    }
    srv_worker *w = c->worker;
    pthread_mutex_lock(&g_list_mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nclients--;
    pthread_mutex_unlock(&g_list_mu);
    event_free(c->rev);
    event_free(c->wev);
    close(c->fd);
    resp_parser_release(&c->parser);
    orbit_buf_release(&c->query);
    orbit_buf_release(&c->out);
    srv_client_reset_multi(c);
    atomic_fetch_sub(&g_srv.stats.connected_clients, 1);
    srv_log(LOG_DEBUG, "client %llu closed", (unsigned long long)c->id);
    free(c);
}

/* ---- output ------------------------------------------------------------- */

/* Write what can be written now. 0, or -1 when the client was freed. */
static int client_write(srv_client *c)
{
    while (c->opos < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->opos, c->out.len - c->opos, MSG_NOSIGNAL);
        if (n > 0) {
            c->opos += (size_t)n;
            atomic_fetch_add(&g_srv.stats.net_output_bytes, (unsigned long long)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0 && errno == EINTR)
            continue;
        client_free(c);
        return -1;
    }
    if (c->opos == c->out.len) {
        c->opos = c->out.len = 0;
        if (c->out.cap > 1024 * 1024) {
            orbit_buf_release(&c->out);
        }
    }
    return 0;
}

static void client_flush(srv_client *c)
{
    if (client_write(c))
        return;
    if (c->opos < c->out.len) {
        event_add(c->wev, NULL);
        if (c->out.len - c->opos > OUT_HIGH_WATER)
            event_del(c->rev);
        return;
    }
    event_del(c->wev);
    if (c->close_after_reply) {
        client_free(c);
        return;
    }
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    srv_client *c = arg;
    if (client_write(c))
        return;
    if (c->opos == c->out.len) {
        event_del(c->wev);
        if (c->close_after_reply) {
            client_free(c);
            return;
        }
        event_add(c->rev, NULL);
        /* input held back while output was pending */
        client_process(c);
    }
}

/* ---- input ------------------------------------------------------------- */

/* Pipelined plain `SET k v` commands of one client are gathered into one
 * atomic batch and acknowledged together once it is written (one WAL
 * append instead of one per command). Replies keep their order: the batch
 * is written before any other command of the client runs. */
#define SET_BATCH_MAX 64

static int is_plain_set(srv_client *c, int argc, const orbit_slice *argv)
{
    return argc == 3 && argv[0].len == 3 && !strncasecmp((const char *)argv[0].data, "set", 3) &&
           !c->in_multi && c->authed && !g_srv.use_async;
}

static void sets_flush(srv_client *c)
{
    srv_worker *w = c->worker;
    if (!w->nsets)
        return;
    uint64_t t0 = srv_metrics_now_ns();
    int rc = orbit_kv_write(g_srv.kv, w->sets);
    uint64_t dt = srv_metrics_now_ns() - t0;
    srv_call x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.out = &c->out;
    for (size_t i = 0; i < w->nsets; i++) {
        if (rc)
            reply_store_error(&x, rc);
        else
            reply_ok(&x);
        srv_metrics_observe(SRV_PROTO_RESP, "set", g_srv.caps.name, dt, rc == 0);
    }
    orbit_batch_clear(w->sets);
    w->nsets = 0;
}

static int is_plain_get(srv_client *c, int argc, const orbit_slice *argv)
{
    return argc == 2 && argv[0].len == 3 && !strncasecmp((const char *)argv[0].data, "get", 3) &&
           !c->in_multi && c->authed && !g_srv.use_async;
}

static void gets_flush(srv_client *c)
{
    srv_worker *w = c->worker;
    if (!w->ngets)
        return;
    srv_call x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.out = &c->out;
    for (size_t i = 0; i < w->ngets; i++) {
        w->get_slices[i].data = w->get_keys[i].data;
        w->get_slices[i].len = w->get_keys[i].len;
    }
    int rc = orbit_kv_multi_get(g_srv.kv, NULL, w->ngets, w->get_slices, w->get_vals,
                                w->get_status);
    db_meta m;
    db_meta_init(&m);
    int64_t now = (int64_t)srv_now_ms();
    for (size_t i = 0; i < w->ngets; i++) {
        int st = rc < 0 && w->get_status[i] >= 0 && w->get_status[i] != ORBIT_NOTFOUND
                     ? rc
                     : w->get_status[i];
        if (st == ORBIT_NOTFOUND) {
            atomic_fetch_add(&g_srv.stats.keyspace_misses, 1);
            reply_null(&x);
            continue;
        }
        if (st == 0)
            st = db_decode_meta(w->get_vals[i].data, w->get_vals[i].len, w->get_keys[i].data,
                                w->get_keys[i].len, &m);
        if (st < 0) {
            reply_store_error(&x, st);
        } else if (m.expire_ms && m.expire_ms <= now) {
            atomic_fetch_add(&g_srv.stats.keyspace_misses, 1);
            reply_null(&x);
        } else if (m.type != DB_STRING) {
            reply_wrongtype(&x);
        } else {
            atomic_fetch_add(&g_srv.stats.keyspace_hits, 1);
            reply_bulk(&x, m.str.data, m.str.len);
        }
    }
    db_meta_release(&m);
    w->ngets = 0;
}

static int gets_add(srv_client *c, const orbit_slice *argv)
{
    srv_worker *w = c->worker;
    if (db_meta_key(&w->get_keys[w->ngets], argv[1].data, argv[1].len))
        return 0;
    w->ngets++;
    atomic_fetch_add(&g_srv.stats.commands_processed, 1);
    if (w->ngets == sizeof w->get_keys / sizeof w->get_keys[0])
        gets_flush(c);
    return 1;
}

/* 1: the SET joined the batch; 0: run it the usual way. */
static int sets_add(srv_client *c, const orbit_slice *argv)
{
    srv_worker *w = c->worker;
    if (!w->sets && orbit_batch_new(&w->sets))
        return 0;
    if (db_meta_key(&w->set_key, argv[1].data, argv[1].len) ||
        db_encode_plain(&w->set_rec, w->set_key.data, w->set_key.len, argv[2].data,
                        argv[2].len) ||
        orbit_batch_put(w->sets, w->set_key.data, w->set_key.len, w->set_rec.data,
                        w->set_rec.len)) {
        sets_flush(c);
        return 0;
    }
    w->nsets++;
    atomic_fetch_add(&g_srv.stats.commands_processed, 1);
    if (w->nsets >= SET_BATCH_MAX)
        sets_flush(c);
    return 1;
}

static void client_process(srv_client *c)
{
    while (!c->async_pending && !c->close_after_reply && c->qpos < c->query.len) {
        size_t consumed = 0;
        int argc = 0;
        const orbit_slice *argv = NULL;
        int rc = resp_parse(&c->parser, c->query.data + c->qpos, c->query.len - c->qpos,
                            &consumed, &argc, &argv);
        if (rc == RESP_MORE)
            break;
        if (rc == RESP_OK && is_plain_set(c, argc, argv)) {
            gets_flush(c);
            if (sets_add(c, argv)) {
                c->qpos += consumed;
                continue;
            }
        } else if (rc == RESP_OK && is_plain_get(c, argc, argv)) {
            sets_flush(c);
            if (gets_add(c, argv)) {
                c->qpos += consumed;
                continue;
            }
        }
        sets_flush(c);
        gets_flush(c);
        if (rc == RESP_ERR) {
            atomic_fetch_add(&g_srv.stats.protocol_errors, 1);
            srv_log(LOG_INFO, "client %s: %s; closing", c->addr, c->parser.err);
            char line[160];
            int n = snprintf(line, sizeof line, "ERR %s", c->parser.err);
            resp_add_line(&c->out, '-', line, (size_t)n);
            c->close_after_reply = 1;
            c->qpos = c->query.len;
            break;
        }
        srv_dispatch(c, argc, argv);
        c->qpos += consumed;
        if (c->out.len - c->opos > OUT_HIGH_WATER)
            break;
    }
    sets_flush(c);
    gets_flush(c);
    /* drop consumed input */
    if (c->qpos == c->query.len) {
        c->query.len = c->qpos = 0;
        if (c->query.cap > 4 * 1024 * 1024)
            orbit_buf_release(&c->query);
    } else if (c->qpos > 0 && (c->qpos > c->query.len / 2 || c->qpos > 1024 * 1024)) {
        memmove(c->query.data, c->query.data + c->qpos, c->query.len - c->qpos);
        c->query.len -= c->qpos;
        c->qpos = 0;
    }
    if (!c->async_pending)
        client_flush(c);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    srv_client *c = arg;
    if (orbit_buf_reserve(&c->query, READ_CHUNK)) {
        client_free(c);
        return;
    }
    ssize_t n = recv(c->fd, c->query.data + c->query.len, c->query.cap - c->query.len, 0);
    if (n == 0) {
        client_free(c);
        return;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        client_free(c);
        return;
    }
    c->query.len += (size_t)n;
    atomic_fetch_add(&g_srv.stats.net_input_bytes, (unsigned long long)n);
    __atomic_store_n(&c->last_ms, srv_now_ms(), __ATOMIC_RELAXED);
    if (c->query.len - c->qpos > g_srv.cfg.max_query_len) {
        srv_log(LOG_WARN, "client %s: query buffer over %zu bytes; closing", c->addr,
                g_srv.cfg.max_query_len);
        client_free(c);
        return;
    }
    if (c->async_pending)
        return;
    client_process(c);
}

/* ---- describing clients ------------------------------------------------- */

void srv_client_describe(srv_client *c, orbit_buf *out)
{
    char tmp[512];
    uint64_t now = srv_now_ms();
    uint64_t last = __atomic_load_n(&c->last_ms, __ATOMIC_RELAXED);
    int n = snprintf(tmp, sizeof tmp,
                     "id=%llu addr=%s laddr=%s fd=%d name=%s age=%llu idle=%llu flags=%s db=0 "
                     "multi=%d resp=%d cmd=%s\n",
                     (unsigned long long)c->id, c->addr, c->laddr, c->fd, c->name,
                     (unsigned long long)((now - c->created_ms) / 1000),
                     (unsigned long long)(now > last ? (now - last) / 1000 : 0),
                     c->in_multi ? "x" : "N", c->in_multi ? (int)c->nqueue : -1, c->resp,
                     c->last_cmd ? c->last_cmd : "NULL");
    orbit_buf_append(out, tmp, (size_t)n);
}

void srv_clients_list(orbit_buf *out)
{
    pthread_mutex_lock(&g_list_mu);
    for (int i = 0; i < g_nworkers; i++)
        for (srv_client *c = g_workers[i].clients; c; c = c->next)
            srv_client_describe(c, out);
    pthread_mutex_unlock(&g_list_mu);
}

/* ---- the asynchronous path ------------------------------------------------- */

enum { A_GET = 1, A_SET, A_MGET, A_MSET, A_DEL_READ, A_DEL_WRITE };

typedef struct async_req {
    srv_client *c;
    int kind;
    size_t n;
    orbit_kv_op op;
    orbit_buf *keys;     /* encoded metadata keys */
    orbit_slice *slices;
    orbit_buf *vals;
    int *status;
    orbit_buf rec, one;
    orbit_batch *batch;
    long long deleted;
} async_req;

static void async_free(async_req *a)
{
    for (size_t i = 0; i < a->n; i++) {
        if (a->keys)
            orbit_buf_release(&a->keys[i]);
        if (a->vals)
            orbit_buf_release(&a->vals[i]);
    }
    free(a->keys);
    free(a->slices);
    free(a->vals);
    free(a->status);
    orbit_buf_release(&a->rec);
    orbit_buf_release(&a->one);
    orbit_batch_free(a->batch);
    free(a);
}

static void async_done(void *arg, orbit_kv_op *ops, size_t n)
{
    async_req *a = arg;
    srv_worker *w = a->c->worker;
    pthread_mutex_lock(&w->mu);
    if (w->ndone == w->capdone) {
        size_t nc = w->capdone ? w->capdone * 2 : 64;
        srv_client **d = realloc(w->done, nc * sizeof *d);
        if (d) {
            w->done = d;
            w->capdone = nc;
        }
    }
    if (w->ndone < w->capdone)
        w->done[w->ndone++] = a->c;
    else
        srv_log(LOG_ERROR, "out of memory posting a completion; client %llu stalls",
                (unsigned long long)a->c->id);
    pthread_mutex_unlock(&w->mu);
    event_active(w->notify, EV_READ, 0);
}

static int async_alloc(async_req *a, size_t n)
{
    a->n = n;
    a->keys = calloc(n, sizeof *a->keys);
    a->slices = calloc(n, sizeof *a->slices);
    a->vals = calloc(n, sizeof *a->vals);
    a->status = calloc(n, sizeof *a->status);
    return (a->keys && a->slices && a->vals && a->status) ? 0 : ORBIT_ENOMEM;
}

static int async_submit(async_req *a)
{
    a->c->async = a;
    a->c->async_pending = 1;
    atomic_fetch_add(&g_srv.stats.async_ops, 1);
    int rc = orbit_kv_submit(g_srv.kv, &a->op, 1, async_done, a);
    if (rc) {
        a->c->async_pending = 0;
        a->c->async = NULL;
    }
    return rc;
}

static void async_reply_error(srv_client *c, orbit_kv_op *op)
{
    char line[300];
    int n;
    if (op->result == ORBIT_EUNCERTAIN)
        n = snprintf(line, sizeof line, "ERR %s (EUNCERTAIN): %s", orbit_strerror(op->result),
                     op->detail);
    else
        n = snprintf(line, sizeof line, "ERR %s (%s)%s%s", orbit_strerror(op->result),
                     orbit_err_name(op->result), op->detail[0] ? ": " : "", op->detail);
    resp_add_line(&c->out, '-', line, (size_t)n);
}

int srv_async_try(srv_client *c, const srv_command *cmd, int argc, const srv_arg *argv)
{
    int kind = 0;
    if (c->in_multi)
        return 0;
    if (!strcmp(cmd->name, "get"))
        kind = A_GET;
    else if (!strcmp(cmd->name, "set") && argc == 3)
        kind = A_SET;
    else if (!strcmp(cmd->name, "mget"))
        kind = A_MGET;
    else if (!strcmp(cmd->name, "mset") && argc % 2 == 1)
        kind = A_MSET;
    else if (!strcmp(cmd->name, "del") || !strcmp(cmd->name, "unlink"))
        kind = A_DEL_READ;
    if (!kind)
        return 0;
    async_req *a = calloc(1, sizeof *a);
    if (!a)
        return 0;
    a->c = c;
    a->kind = kind;
    int rc = 0;
    switch (kind) {
    case A_GET:
    case A_MGET:
    case A_DEL_READ: {
        size_t n = kind == A_GET ? 1 : (size_t)argc - 1;
        if ((rc = async_alloc(a, n)))
            break;
        for (size_t i = 0; i < n && !rc; i++) {
            rc = db_meta_key(&a->keys[i], argv[i + 1].data, argv[i + 1].len);
            a->slices[i].data = a->keys[i].data;
            a->slices[i].len = a->keys[i].len;
        }
        a->op.type = ORBIT_OP_MULTI_GET;
        a->op.nkeys = n;
        a->op.keys = a->slices;
        a->op.vals = a->vals;
        a->op.status = a->status;
        break;
    }
    case A_SET:
        if ((rc = async_alloc(a, 1)) ||
            (rc = db_meta_key(&a->keys[0], argv[1].data, argv[1].len)) ||
            (rc = db_encode_plain(&a->rec, a->keys[0].data, a->keys[0].len, argv[2].data,
                                  argv[2].len)))
            break;
        a->op.type = ORBIT_OP_PUT;
        a->op.key = a->keys[0].data;
        a->op.klen = a->keys[0].len;
        a->op.val = a->rec.data;
        a->op.vlen = a->rec.len;
        break;
    case A_MSET:
        if ((rc = orbit_batch_new(&a->batch)))
            break;
        for (int i = 1; i + 1 < argc && !rc; i += 2) {
            if (!(rc = db_meta_key(&a->one, argv[i].data, argv[i].len)) &&
                !(rc = db_encode_plain(&a->rec, a->one.data, a->one.len, argv[i + 1].data,
                                       argv[i + 1].len)))
                rc = orbit_batch_put(a->batch, a->one.data, a->one.len, a->rec.data,
                                     a->rec.len);
        }
        a->op.type = ORBIT_OP_WRITE;
        a->op.batch = a->batch;
        break;
    }
    if (!rc)
        rc = async_submit(a);
    if (rc) {
        async_free(a);
        return 0; /* run it synchronously instead */
    }
    return 1;
}

/* The second step of DEL: delete the keys found (metadata, expiry index
 * entries; the fields of hashes after the write). */
static int del_write_step(async_req *a)
{
    int64_t now = (int64_t)srv_now_ms();
    db_meta m;
    db_meta_init(&m);
    orbit_buf user = ORBIT_BUF_INIT, sub = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT;
    int rc = orbit_batch_new(&a->batch);
    a->deleted = 0;
    for (size_t i = 0; i < a->n && !rc; i++) {
        if (a->status[i] == ORBIT_NOTFOUND)
            continue;
        if (a->status[i] < 0) {
            rc = a->status[i];
            break;
        }
        if ((rc = db_decode_meta(a->vals[i].data, a->vals[i].len, a->keys[i].data,
                                 a->keys[i].len, &m)))
            break;
        if (!(m.expire_ms && m.expire_ms <= now))
            a->deleted++;
        if ((rc = orbit_batch_del(a->batch, a->keys[i].data, a->keys[i].len)))
            break;
        if (m.type != DB_STRING && m.version &&
            !(rc = orbit_key_kv_decode(a->keys[i].data, a->keys[i].len, NULL, &user)) &&
            !(rc = db_sub_prefix(&sub, user.data, user.len, m.version))) {
            /* the fields: [prefix, prefix successor) */
            orbit_buf_set(&hi, sub.data, sub.len);
            size_t l = hi.len;
            while (l > 0 && hi.data[l - 1] == 0xFF)
                l--;
            hi.len = l;
            if (l)
                hi.data[l - 1]++;
            rc = orbit_batch_delete_range(a->batch, sub.data, sub.len, hi.data, hi.len);
        }
    }
    db_meta_release(&m);
    orbit_buf_release(&user);
    orbit_buf_release(&sub);
    orbit_buf_release(&hi);
    if (rc)
        return rc;
    memset(&a->op, 0, sizeof a->op);
    a->op.type = ORBIT_OP_WRITE;
    a->op.batch = a->batch;
    a->kind = A_DEL_WRITE;
    return async_submit(a);
}

static void async_finish(srv_client *c)
{
    async_req *a = c->async;
    c->async = NULL;
    c->async_pending = 0;
    if (c->closing) {
        async_free(a);
        client_free(c);
        return;
    }
    srv_call x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.out = &c->out;
    orbit_kv_op *op = &a->op;
    if (op->result < 0) {
        async_reply_error(c, op);
    } else if (a->kind == A_GET || a->kind == A_MGET) {
        db_meta m;
        db_meta_init(&m);
        int64_t now = (int64_t)srv_now_ms();
        size_t start = c->out.len;
        if (a->kind == A_MGET)
            reply_array(&x, (long long)a->n);
        int rc = 0;
        for (size_t i = 0; i < a->n && !rc; i++) {
            if (a->status[i] == ORBIT_NOTFOUND) {
                atomic_fetch_add(&g_srv.stats.keyspace_misses, 1);
                reply_null(&x);
                continue;
            }
            if ((rc = db_decode_meta(a->vals[i].data, a->vals[i].len, a->keys[i].data,
                                     a->keys[i].len, &m)))
                break;
            if (m.expire_ms && m.expire_ms <= now) {
                reply_null(&x);
            } else if (m.type != DB_STRING) {
                if (a->kind == A_GET)
                    reply_wrongtype(&x);
                else
                    reply_null(&x);
            } else {
                atomic_fetch_add(&g_srv.stats.keyspace_hits, 1);
                reply_bulk(&x, m.str.data, m.str.len);
            }
        }
        if (rc) {
            c->out.len = start;
            reply_store_error(&x, rc);
        }
        db_meta_release(&m);
    } else if (a->kind == A_SET || a->kind == A_MSET) {
        reply_ok(&x);
    } else if (a->kind == A_DEL_READ) {
        int rc = del_write_step(a);
        if (!rc)
            return; /* the write completes later */
        reply_store_error(&x, rc);
    } else if (a->kind == A_DEL_WRITE) {
        reply_int(&x, a->deleted);
    }
    async_free(a);
    client_process(c);
}

/* ---- workers ------------------------------------------------------------- */

static void worker_stop_clients(srv_worker *w)
{
    srv_client *c = w->clients;
    while (c) {
        srv_client *next = c->next;
        if (!c->async_pending && !c->closing) {
            client_write(c); /* best effort: replies already made */
            /* client_write may have freed c on error */
        }
        c = next;
    }
    c = w->clients;
    while (c) {
        srv_client *next = c->next;
        if (!c->closing)
            client_free(c);
        c = next;
    }
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
    srv_worker *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        int *fds = w->fds;
        size_t nfds = w->nfds;
        srv_client **done = w->done;
        size_t ndone = w->ndone;
        w->fds = NULL;
        w->nfds = w->capfds = 0;
        w->done = NULL;
        w->ndone = w->capdone = 0;
        pthread_mutex_unlock(&w->mu);
        if (!nfds && !ndone)
            break;
        for (size_t i = 0; i < nfds; i++) {
            if (w->stopping || atomic_load(&g_srv.stopping)) {
                close(fds[i]);
                atomic_fetch_sub(&g_srv.stats.connected_clients, 1);
            } else {
                client_new(w, fds[i]);
            }
        }
        for (size_t i = 0; i < ndone; i++)
            async_finish(done[i]);
        free(fds);
        free(done);
    }
    if (atomic_load(&g_srv.stopping)) {
        w->stopping = 1;
        worker_stop_clients(w);
        if (!w->clients)
            event_base_loopbreak(w->base);
    }
}

static void on_cron(evutil_socket_t fd, short what, void *arg)
{
    srv_worker *w = arg;
    int timeout = g_srv.cfg.idle_timeout;
    if (timeout <= 0)
        return;
    uint64_t now = srv_now_ms();
    srv_client *c = w->clients;
    while (c) {
        srv_client *next = c->next;
        uint64_t last = __atomic_load_n(&c->last_ms, __ATOMIC_RELAXED);
        if (!c->async_pending && !c->closing && now - last > (uint64_t)timeout * 1000) {
            srv_log(LOG_INFO, "client %s idle for over %d s; closing", c->addr, timeout);
            client_free(c);
        }
        c = next;
    }
}

static void *worker_main(void *arg)
{
    srv_worker *w = arg;
    event_base_dispatch(w->base);
    srv_thread_release();
    return NULL;
}

/* ---- the listener (main thread) ------------------------------------------ */

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    atomic_fetch_add(&g_srv.stats.connections_received, 1);
    if (atomic_load(&g_srv.stopping)) {
        close(fd);
        return;
    }
    if (atomic_fetch_add(&g_srv.stats.connected_clients, 1) >= g_srv.cfg.max_clients) {
        static const char msg[] = "-ERR max number of clients reached\r\n";
        ssize_t r = send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)r;
        close(fd);
        atomic_fetch_sub(&g_srv.stats.connected_clients, 1);
        atomic_fetch_add(&g_srv.stats.rejected_connections, 1);
        return;
    }
    srv_worker *w = &g_workers[g_next_worker++ % g_nworkers];
    pthread_mutex_lock(&w->mu);
    if (w->nfds == w->capfds) {
        size_t nc = w->capfds ? w->capfds * 2 : 16;
        int *f = realloc(w->fds, nc * sizeof *f);
        if (!f) {
            pthread_mutex_unlock(&w->mu);
            close(fd);
            atomic_fetch_sub(&g_srv.stats.connected_clients, 1);
            return;
        }
        w->fds = f;
        w->capfds = nc;
    }
    w->fds[w->nfds++] = fd;
    pthread_mutex_unlock(&w->mu);
    event_active(w->notify, EV_READ, 0);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    srv_log(LOG_WARN, "accept: %s", evutil_socket_error_to_string(err));
}

struct srv_net {
    struct event_base *base;
    struct evconnlistener *listener;
    int started;
};

int srv_net_init(srv_net **out, struct event_base **base)
{
    if (evthread_use_pthreads()) {
        srv_log(LOG_ERROR, "libevent: no pthreads support");
        return -1;
    }
    srv_net *n = calloc(1, sizeof *n);
    if (!n)
        return -1;
    n->base = event_base_new();
    if (!n->base) {
        free(n);
        return -1;
    }
    *out = n;
    *base = n->base;
    return 0;
}

int srv_net_listen(srv_net *n)
{
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    char spec[300];
    memset(&ss, 0, sizeof ss);
    if (strchr(g_srv.cfg.bind, ':'))
        snprintf(spec, sizeof spec, "[%s]:%d", g_srv.cfg.bind, g_srv.cfg.port);
    else
        snprintf(spec, sizeof spec, "%s:%d", g_srv.cfg.bind, g_srv.cfg.port);
    if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sl)) {
        srv_log(LOG_ERROR, "bind address %s is not an IP address", g_srv.cfg.bind);
        return -1;
    }
    n->listener = evconnlistener_new_bind(n->base, on_accept, NULL,
                                          LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
                                              LEV_OPT_CLOSE_ON_EXEC,
                                          511, (struct sockaddr *)&ss, sl);
    if (!n->listener) {
        srv_log(LOG_ERROR, "cannot listen on %s: %s", spec, strerror(errno));
        return -1;
    }
    evconnlistener_set_error_cb(n->listener, on_accept_error);
    return 0;
}

int srv_net_start_workers(srv_net *n, int threads)
{
    g_nworkers = threads;
    g_workers = calloc((size_t)threads, sizeof *g_workers);
    if (!g_workers)
        return -1;
    for (int i = 0; i < threads; i++) {
        srv_worker *w = &g_workers[i];
        w->idx = i;
        pthread_mutex_init(&w->mu, NULL);
        w->base = event_base_new();
        if (!w->base)
            return -1;
        w->notify = event_new(w->base, -1, EV_PERSIST, on_notify, w);
        w->cron = event_new(w->base, -1, EV_PERSIST, on_cron, w);
        struct timeval one = {1, 0};
        if (!w->notify || !w->cron || event_add(w->notify, NULL) || event_add(w->cron, &one))
            return -1;
        if (pthread_create(&w->th, NULL, worker_main, w))
            return -1;
        n->started++;
    }
    return 0;
}

void srv_net_stop_accepting(srv_net *n)
{
    if (n->listener) {
        evconnlistener_free(n->listener);
        n->listener = NULL;
    }
    for (int i = 0; i < n->started; i++)
        event_active(g_workers[i].notify, EV_READ, 0);
}

void srv_net_join(srv_net *n)
{
    for (int i = 0; i < n->started; i++)
        pthread_join(g_workers[i].th, NULL);
    for (int i = 0; i < n->started; i++) {
        srv_worker *w = &g_workers[i];
        event_free(w->notify);
        event_free(w->cron);
        event_base_free(w->base);
        orbit_batch_free(w->sets);
        orbit_buf_release(&w->set_key);
        orbit_buf_release(&w->set_rec);
        for (size_t k = 0; k < sizeof w->get_keys / sizeof w->get_keys[0]; k++) {
            orbit_buf_release(&w->get_keys[k]);
            orbit_buf_release(&w->get_vals[k]);
        }
        free(w->fds);
        free(w->done);
        pthread_mutex_destroy(&w->mu);
    }
    free(g_workers);
    g_workers = NULL;
    g_nworkers = 0;
}

void srv_net_free(srv_net *n)
{
    if (!n)
        return;
    if (n->listener)
        evconnlistener_free(n->listener);
    event_base_free(n->base);
    free(n);
    libevent_global_shutdown();
}
