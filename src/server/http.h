/*
 * orbitd's HTTP/JSON API: the entry points for main.c (implemented in
 * http.c, with the resources in http_kv.c, http_rel.c and http_txn.c).
 *
 * The API is served by libevent's evhttp on threads of its own (opts
 * threads, each an event base with an evhttp accepting on one shared
 * listening socket), over the store g_srv.kv that main.c opened, with the
 * same storage layout for plain keys as the Redis protocol (db.h), so a
 * SET through redis-cli is a GET /v1/kv/{key} through curl.
 *
 * Order: after the store is open and evthread_use_pthreads() was called
 * (srv_net_init does), srv_http_start binds and starts the threads; on a
 * stop signal srv_http_stop lets every thread finish the request it is
 * handling, stops them, frees everything. Both are called from the main
 * thread.
 */
#ifndef ORBIT_SERVER_HTTP_H
#define ORBIT_SERVER_HTTP_H

#include <stddef.h>

typedef struct srv_http_opts {
    const char *bind;        /* address, e.g. "127.0.0.1" (borrowed for the call) */
    int port;                /* 0: a free port is chosen (see srv_http_port) */
    const char *password;    /* NULL or "": no authentication; copied */
    size_t max_body;         /* largest request body; 0: 64 MiB */
    size_t max_header;       /* largest request line plus headers; 0: 64 KiB */
    int idle_timeout;        /* seconds a connection may idle or stall; 0: 60 */
    int threads;             /* HTTP threads; 0: 2 */
} srv_http_opts;

/* Bind and start serving. 0, or -1 after logging why (the port cannot be
 * bound, a thread cannot start); nothing is left running on failure. */
int srv_http_start(const srv_http_opts *opts);

/* The port bound by srv_http_start (useful with port 0), or 0. */
int srv_http_port(void);

/* Finish in-flight requests, stop the threads, close the socket. Safe to
 * call when srv_http_start failed or was never called. */
void srv_http_stop(void);

#endif
