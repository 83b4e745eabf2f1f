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
 * The plain SETs and GETs of all clients of a worker in one event-loop
 * turn are executed together after the turn: the SETs as one atomic write
 * batch, the GETs as one multi-get, replies in each client's order (the
 * turn batch, below).
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

/* The turn batch (see "input: the turn batch" below). */
#define TURN_MAX_SETS 1024
#define TURN_MAX_SET_BYTES (8u << 20)
#define TURN_MAX_GETS 1024

typedef struct turn_client {
    srv_client *c;
    uint32_t nsets; /* its SETs in the batch (their replies come first) */
    uint32_t ngets; /* its GETs after them */
} turn_client;

typedef struct turn_batch {
    orbit_batch *sets;
    size_t nsets, set_bytes;
    orbit_buf set_key, set_rec;
    /* the GETs: TURN_MAX_GETS each, allocated at the first GET */
    orbit_buf *get_keys; /* encoded metadata keys */
    orbit_slice *get_slices;
    orbit_buf *get_vals;
    int *get_status;
    uint32_t *get_client; /* index into clients */
    size_t ngets;
    turn_client *clients; /* clients with commands in the batch, each once */
    size_t nclients, capclients;
    turn_client *prev; /* the executed round's clients, while they resume */
    size_t capprev;
} turn_batch;

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
    turn_batch turn; /* the plain SETs and GETs of this turn (below) */
    int exit;        /* the worker loop ends */
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

/* ---- input: the turn batch ------------------------------------------------ */

/* Plain `SET k v` and `GET k` commands of every client a worker serves in
 * one event-loop turn are gathered into the worker's turn batch: the SETs
 * into one atomic write batch (one WAL append and one memtable write group
 * for all of them), the GETs into one multi-get. The batch is executed
 * after the turn's callbacks have run (turn_flush, as Redis's beforeSleep
 * writes replies), writes first, then reads, and every client gets its
 * replies in order.
 *
 * A client with commands in the batch waits (async_pending, as for an
 * asynchronous operation): its later input stays queued until the batch
 * is executed. Per client the pending commands are some SETs followed by
 * some GETs (a SET after a GET of the same client waits for the next
 * batch, as does any other command), so executing all writes before all
 * reads keeps each client's order; between clients nothing is
 * acknowledged before the batch is executed, so the order the batch
 * imposes is a valid one. A SET is acknowledged only after its batch is
 * written, so with the WAL on it survives kill -9 as a lone SET does. */
static int is_plain_set(srv_client *c, int argc, const orbit_slice *argv)
{
    return argc == 3 && argv[0].len == 3 && !strncasecmp((const char *)argv[0].data, "set", 3) &&
           !c->in_multi && c->authed && !g_srv.use_async;
}

static int is_plain_get(srv_client *c, int argc, const orbit_slice *argv)
{
    return argc == 2 && argv[0].len == 3 && !strncasecmp((const char *)argv[0].data, "get", 3) &&
           !c->in_multi && c->authed && !g_srv.use_async;
}

/* The client's entry in the batch, created at its first command (*slot:
 * its index, -1 before, kept by client_process), or NULL out of memory. */
static turn_client *turn_entry(turn_batch *t, srv_client *c, long *slot)
{
    if (*slot >= 0)
        return &t->clients[*slot];
    if (t->nclients == t->capclients) {
        size_t nc = t->capclients ? t->capclients * 2 : 64;
        turn_client *a = realloc(t->clients, nc * sizeof *a);
        if (!a)
            return NULL;
        t->clients = a;
        t->capclients = nc;
    }
    *slot = (long)t->nclients;
    turn_client *e = &t->clients[t->nclients++];
    e->c = c;
    e->nsets = e->ngets = 0;
    return e;
}

/* Undo turn_entry when the client's first command could not join (out of
 * memory): the command then runs the usual way and replies the error. */
static void turn_unentry(turn_batch *t, long *slot)
{
    if (*slot >= 0 && *slot == (long)t->nclients - 1 && !t->clients[*slot].nsets &&
        !t->clients[*slot].ngets) {
        t->nclients--;
        *slot = -1;
    }
}

/* 1: the SET joined the batch; 0: it did not (it waits for the next batch,
 * or, when the client has nothing in this one, runs the usual way). */
static int turn_add_set(srv_client *c, const orbit_slice *argv, long *slot)
{
    turn_batch *t = &c->worker->turn;
    if (*slot >= 0 && t->clients[*slot].ngets)
        return 0; /* after this client's GETs: the next batch */
    if (t->nsets >= TURN_MAX_SETS || (t->nsets && t->set_bytes >= TURN_MAX_SET_BYTES)) {
        turn_entry(t, c, slot); /* full: the client waits for the next one */
        return 0;
    }
    if (!t->sets && orbit_batch_new(&t->sets))
        return 0;
    turn_client *e;
    if (db_meta_key(&t->set_key, argv[1].data, argv[1].len) ||
        db_encode_plain(&t->set_rec, t->set_key.data, t->set_key.len, argv[2].data,
                        argv[2].len) ||
        !(e = turn_entry(t, c, slot)) ||
        orbit_batch_put(t->sets, t->set_key.data, t->set_key.len, t->set_rec.data,
                        t->set_rec.len)) {
        turn_unentry(t, slot);
        return 0;
    }
    e->nsets++;
    t->nsets++;
    t->set_bytes += t->set_key.len + t->set_rec.len;
    c->last_cmd = "set";
    atomic_fetch_add(&g_srv.stats.commands_processed, 1);
    return 1;
}

static int turn_add_get(srv_client *c, const orbit_slice *argv, long *slot)
{
    turn_batch *t = &c->worker->turn;
    if (t->ngets >= TURN_MAX_GETS) {
        turn_entry(t, c, slot); /* full: the client waits for the next one */
        return 0;
    }
    if (!t->get_keys) {
        t->get_keys = calloc(TURN_MAX_GETS, sizeof *t->get_keys);
        t->get_slices = calloc(TURN_MAX_GETS, sizeof *t->get_slices);
        t->get_vals = calloc(TURN_MAX_GETS, sizeof *t->get_vals);
        t->get_status = calloc(TURN_MAX_GETS, sizeof *t->get_status);
        t->get_client = calloc(TURN_MAX_GETS, sizeof *t->get_client);
        if (!t->get_keys || !t->get_slices || !t->get_vals || !t->get_status ||
            !t->get_client) {
            free(t->get_keys);
            free(t->get_slices);
            free(t->get_vals);
            free(t->get_status);
            free(t->get_client);
            t->get_keys = NULL;
            return 0;
        }
    }
    turn_client *e;
    if (db_meta_key(&t->get_keys[t->ngets], argv[1].data, argv[1].len) ||
        !(e = turn_entry(t, c, slot)))
        return 0; /* turn_entry comes last: nothing to undo */
    t->get_client[t->ngets++] = (uint32_t)*slot;
    e->ngets++;
    c->last_cmd = "get";
    atomic_fetch_add(&g_srv.stats.commands_processed, 1);
    return 1;
}

/* Execute the batch: the writes and their replies, then the reads and
 * theirs. A closing client's replies are not made. */
static void turn_execute(turn_batch *t)
{
    srv_call x;
    memset(&x, 0, sizeof x);
    if (t->nsets) {
        uint64_t t0 = srv_metrics_now_ns();
        int rc = orbit_kv_write(g_srv.kv, t->sets);
        uint64_t dt = srv_metrics_now_ns() - t0;
        for (size_t i = 0; i < t->nclients; i++) {
            turn_client *e = &t->clients[i];
            x.c = e->c;
            x.out = &e->c->out;
            for (uint32_t k = 0; k < e->nsets; k++) {
                if (!e->c->closing) {
                    if (rc)
                        reply_store_error(&x, rc);
                    else
                        reply_ok(&x);
                }
                srv_metrics_observe(SRV_PROTO_RESP, "set", g_srv.caps.name, dt, rc == 0);
            }
        }
        orbit_batch_clear(t->sets);
        t->nsets = t->set_bytes = 0;
    }
    if (!t->ngets)
        return;
    for (size_t i = 0; i < t->ngets; i++) {
        t->get_slices[i].data = t->get_keys[i].data;
        t->get_slices[i].len = t->get_keys[i].len;
    }
    uint64_t t0 = srv_metrics_now_ns();
    int rc = orbit_kv_multi_get(g_srv.kv, NULL, t->ngets, t->get_slices, t->get_vals,
                                t->get_status);
    uint64_t dt = srv_metrics_now_ns() - t0;
    db_meta m;
    db_meta_init(&m);
    int64_t now = (int64_t)srv_now_ms();
    for (size_t i = 0; i < t->ngets; i++) {
        srv_client *c = t->clients[t->get_client[i]].c;
        int st = t->get_status[i];
        if (rc < 0 && st >= 0 && st != ORBIT_NOTFOUND)
            st = rc;
        int ok = 1;
        x.c = c;
        x.out = &c->out;
        if (st == 0)
            st = db_decode_meta(t->get_vals[i].data, t->get_vals[i].len, t->get_keys[i].data,
                                t->get_keys[i].len, &m);
        if (c->closing) {
            ok = st >= 0;
        } else if (st == ORBIT_NOTFOUND) {
            atomic_fetch_add(&g_srv.stats.keyspace_misses, 1);
            reply_null(&x);
        } else if (st < 0) {
            reply_store_error(&x, st);
            ok = 0;
        } else if (m.expire_ms && m.expire_ms <= now) {
            atomic_fetch_add(&g_srv.stats.keyspace_misses, 1);
            reply_null(&x);
        } else if (m.type != DB_STRING) {
            reply_wrongtype(&x);
            ok = 0;
        } else {
            atomic_fetch_add(&g_srv.stats.keyspace_hits, 1);
            reply_bulk(&x, m.str.data, m.str.len);
        }
        srv_metrics_observe(SRV_PROTO_RESP, "get", g_srv.caps.name, dt, ok);
        if (t->get_vals[i].cap > 64 * 1024)
            orbit_buf_release(&t->get_vals[i]);
    }
    db_meta_release(&m);
    t->ngets = 0;
}

/* After the turn: execute the batch, then let its clients go on with the
 * input they have queued (which may fill the next round's batch), until
 * the batch is empty. While the worker stops, the replies are only
 * written: the clients are closed next. */
static void turn_flush(srv_worker *w)
{
    turn_batch *t = &w->turn;
    while (t->nclients) {
        turn_execute(t);
        /* this round's clients: swap the lists, so resuming ones fill a
         * fresh batch */
        turn_client *done = t->clients;
        size_t ndone = t->nclients, capdone = t->capclients;
        t->clients = t->prev;
        t->capclients = t->capprev;
        t->nclients = 0;
        t->prev = done;
        t->capprev = capdone;
        for (size_t i = 0; i < ndone; i++) {
            srv_client *c = done[i].c;
            c->async_pending = 0;
            if (c->closing) {
                client_free(c);
                continue;
            }
            if (w->stopping) {
                client_write(c);
                continue;
            }
            client_process(c);
        }
    }
}

static void turn_release(turn_batch *t)
{
    orbit_batch_free(t->sets);
    orbit_buf_release(&t->set_key);
    orbit_buf_release(&t->set_rec);
    if (t->get_keys) {
        for (size_t k = 0; k < TURN_MAX_GETS; k++) {
            orbit_buf_release(&t->get_keys[k]);
            orbit_buf_release(&t->get_vals[k]);
        }
    }
    free(t->get_keys);
    free(t->get_slices);
    free(t->get_vals);
    free(t->get_status);
    free(t->get_client);
    free(t->clients);
    free(t->prev);
    memset(t, 0, sizeof *t);
}

static void client_process(srv_client *c)
{
    long slot = -1; /* c's entry in the turn batch */
    while (!c->async_pending && !c->close_after_reply && c->qpos < c->query.len) {
        size_t consumed = 0;
        int argc = 0;
        const orbit_slice *argv = NULL;
        int rc = resp_parse(&c->parser, c->query.data + c->qpos, c->query.len - c->qpos,
                            &consumed, &argc, &argv);
        if (rc == RESP_MORE)
            break;
        if (rc == RESP_OK && is_plain_set(c, argc, argv)) {
            if (turn_add_set(c, argv, &slot)) {
                c->qpos += consumed;
                continue;
            }
        } else if (rc == RESP_OK && is_plain_get(c, argc, argv)) {
            if (turn_add_get(c, argv, &slot)) {
                c->qpos += consumed;
                continue;
            }
        }
        if (slot >= 0) {
            /* it follows commands in the batch: it runs after them; the
             * parser takes it again from the input */
            resp_parser_reset(&c->parser);
            break;
        }
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
    if (slot >= 0)
        c->async_pending = 1; /* until the turn batch is executed */
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
        /* one key: a plain get, which a remote provider serves with a
         * cheaper call than a multi-get (etcd: a Range, not a Txn) */
        if ((rc = async_alloc(a, 1)) ||
            (rc = db_meta_key(&a->keys[0], argv[1].data, argv[1].len)))
            break;
        a->op.type = ORBIT_OP_GET;
        a->op.key = a->keys[0].data;
        a->op.klen = a->keys[0].len;
        a->op.out = &a->vals[0];
        break;
    case A_MGET:
    case A_DEL_READ: {
        size_t n = (size_t)argc - 1;
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
    if (a->kind == A_GET && op->result >= 0)
        a->status[0] = op->result; /* 0 or ORBIT_NOTFOUND */
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
        turn_flush(w); /* the batch's commands complete and are replied */
        worker_stop_clients(w);
        if (!w->clients) {
            w->exit = 1;
            event_base_loopbreak(w->base);
        }
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

/* One event-loop turn runs every callback that is ready, then the turn
 * batch is executed. */
static void *worker_main(void *arg)
{
    srv_worker *w = arg;
    while (!w->exit) {
        if (event_base_loop(w->base, EVLOOP_ONCE) < 0)
            break;
        turn_flush(w);
    }
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
        turn_release(&w->turn);
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
