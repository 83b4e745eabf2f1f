/*
 * orbitd internals: the declarations shared by the server's files.
 *
 * Layers inside src/server, bottom up:
 *   resp.c      the RESP parser and reply encoder (no I/O, no store: fuzzed
 *               alone by fuzz/fuzz_resp.c; declared in resp.h)
 *   db*.c       the storage layout of Redis types on the provider contract
 *               (declared in db.h)
 *   t_*.c       one command family per file, each exporting its part of the
 *               command table (t_server.c, t_string.c, t_hash.c, t_set.c,
 *               t_list.c, t_zset.c, t_multi.c)
 *   commands.c  the command table, lookup, arity/auth checks, dispatch and
 *               the transaction/retry wrapper around handlers
 *   net.c       libevent: the listener thread, worker threads, clients,
 *               limits, the asynchronous path for remote providers
 *   config.c    settings from flags, ORBIT_* variables and a config file
 *   config.h/placement.c  providers, routes, the storage manager
 *   log.c       levelled logging to stderr
 *   main.c      the process: start, signals, graceful stop
 *
 * Threads: the main thread runs the listener, the signal events and the
 * active-expiry timer; each worker thread owns an event base and the
 * clients handed to it, and is the only thread that touches them, except
 * for the completion queue of the asynchronous path (locked). The store
 * handle (orbit_kv) is shared by all threads, as the contract allows.
 * Counters in srv_stats are atomics.
 *
 * Ownership: a client's argv slices borrow from its query buffer and live
 * until the command's reply is written; the command table is static.
 */
#ifndef ORBIT_SERVER_H
#define ORBIT_SERVER_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"
#include "orbit/kv.h"
#include "server/resp.h"

/* ---- configuration (config.c) ----------------------------------------- */

typedef struct srv_config {
    char *store;           /* store URI; default DEFAULT_STORE */
    char *bind;            /* default 127.0.0.1 */
    int port;              /* default 6379 */
    int http_port;         /* HTTP API port, default 8080; 0: no HTTP */
    size_t http_max_body;  /* largest HTTP request body, default 64 MiB */
    size_t http_max_header;/* largest HTTP request line plus headers, default 64 KiB */
    int http_timeout;      /* seconds an HTTP connection may idle or stall, default 60 */
    int http_threads;      /* HTTP threads, default 2 */
    char *requirepass;     /* NULL or "": no password */
    int protected_mode;    /* 1: refuse non-loopback binds without a password */
    int threads;           /* worker threads, default 2 */
    uint64_t cache_mb;     /* ORBIT_CACHE_SIZE: rocksdb cache_mb; 0 unset */
    size_t max_bulk_len;   /* proto-max-bulk-len, default 512 MiB */
    size_t max_query_len;  /* client-query-buffer-limit, default 1 GiB */
    int max_clients;       /* default 10000 */
    int idle_timeout;      /* seconds; 0: never */
    int log_level;         /* LOG_* below */
    int expire_hz;         /* active-expiry cycles per second, default 10 */
} srv_config;

#define SRV_DEFAULT_STORE "rocksdb:./data"

/* Fill defaults, then the file (argv --config or $ORBIT_CONFIG), the
 * environment, then the flags. 0, or 2 after printing a usage error, or 1
 * when --help/--version was printed (exit 0). */
int srv_config_load(srv_config *c, int argc, char **argv);
void srv_config_release(srv_config *c);
/* The effective store URI (the configured one plus ORBIT_CACHE_SIZE
 * applied); malloc'd, the caller frees. */
char *srv_config_store_uri(const srv_config *c);

/* ---- logging (log.c) -------------------------------------------------- */

enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };
extern int srv_log_level;
int srv_log_parse_level(const char *s); /* -1 if unknown */
void srv_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- process-wide state ----------------------------------------------- */

typedef struct srv_stats {
    atomic_ullong connections_received;
    atomic_ullong rejected_connections;
    atomic_ullong commands_processed;
    atomic_ullong auth_failures;
    atomic_ullong protocol_errors;
    atomic_ullong expired_keys;
    atomic_ullong keyspace_hits;
    atomic_ullong keyspace_misses;
    atomic_ullong conflicts_retried;
    atomic_ullong async_ops;
    atomic_ullong net_input_bytes;
    atomic_ullong net_output_bytes;
    atomic_int connected_clients;
    atomic_ullong next_client_id;
} srv_stats;

typedef struct srv_db srv_db;

typedef struct srv_server {
    srv_config cfg;
    orbit_kv *kv;
    orbit_capabilities caps;
    srv_db *db;
    srv_stats stats;
    uint64_t start_ms;
    int use_async;       /* caps.native_async: the asynchronous path */
    atomic_int stopping;
} srv_server;

extern srv_server g_srv;

/* Wall-clock milliseconds / microseconds since the epoch. */
uint64_t srv_now_ms(void);
uint64_t srv_now_us(void);

/* ---- clients and replies (net.c, commands.c) ------------------------- */

typedef struct srv_client srv_client;
typedef struct srv_call srv_call;

/* A command's argument, borrowed from the client's query buffer (or, for a
 * command queued by MULTI, from the queue's own copy). */
typedef orbit_slice srv_arg;

typedef int (*srv_cmd_fn)(srv_call *call);

/* Command flags. */
#define CMD_WRITE 0x0001    /* may change data: runs in a transaction */
#define CMD_READONLY 0x0002 /* reads data (latest, or the EXEC transaction) */
#define CMD_NOAUTH 0x0004   /* allowed before AUTH (AUTH, HELLO, QUIT) */
#define CMD_NOMULTI 0x0008  /* run at once even inside MULTI */
#define CMD_FAST 0x0010
#define CMD_ADMIN 0x0020
#define CMD_NOSTORE 0x0040  /* touches no data (connection commands) */
#define CMD_TXREAD 0x0080   /* reads that must see one view: run in a transaction */
#define CMD_ENDMULTI 0x0100 /* EXEC / DISCARD: the MULTI state ends after it */

typedef struct srv_command {
    const char *name;  /* lower case */
    srv_cmd_fn fn;
    int arity;         /* Redis: n exact, -n at least n (name included) */
    unsigned flags;
    int first_key, last_key, key_step;
    const char *group; /* COMMAND DOCS group: "string", "hash", ... */
    const char *summary;
    const char *params; /* COMMAND DOCS arguments, e.g. "key [field ...]" */
    /* A path without a transaction, tried first outside MULTI: returns 1
     * when it handled the command, 0 to run fn in a transaction. */
    srv_cmd_fn fast;
} srv_command;

/* Each family file exports its table, ended by an entry with name NULL. */
extern const srv_command srv_server_commands[];
extern const srv_command srv_string_commands[];
extern const srv_command srv_hash_commands[];
extern const srv_command srv_set_commands[];
extern const srv_command srv_list_commands[];
extern const srv_command srv_zset_commands[];
extern const srv_command srv_multi_commands[];
/* The model families (t_json.c, t_ts.c, t_vector.c, t_graph.c,
 * t_table.c; shared parts in models.c / t_models.h). */
extern const srv_command srv_json_commands[];
extern const srv_command srv_ts_commands[];
extern const srv_command srv_vector_commands[];
extern const srv_command srv_graph_commands[];
extern const srv_command srv_table_commands[];

const srv_command *srv_command_lookup(const uint8_t *name, size_t len);
size_t srv_command_count(void);
const srv_command *srv_command_at(size_t i);

/* One queued command of a MULTI block: its own copy of the arguments. */
typedef struct srv_queued {
    const srv_command *cmd;
    int argc;
    srv_arg *argv;  /* argv[i].data points into blob */
    uint8_t *blob;
} srv_queued;

#define SRV_MAX_WATCH 1024

typedef struct srv_watch {
    uint8_t *key;       /* user key, owned */
    size_t klen;
    orbit_buf raw;      /* the stored meta record when watched */
    int present;
} srv_watch;

struct srv_client {
    uint64_t id;
    int fd;
    struct srv_worker *worker;
    struct event *rev, *wev;
    char addr[64];
    char laddr[64];
    char name[128];
    int resp;              /* 2 or 3 */
    int authed;
    int close_after_reply; /* QUIT, protocol error */
    int closing;           /* closed; freed when no async op is pending */
    int async_pending;     /* an asynchronous command has not completed */
    int in_multi;
    int multi_error;       /* a command failed to queue: EXEC aborts */
    int dirty_watch;       /* a WATCH check could not be kept */
    uint64_t created_ms, last_ms;
    const char *last_cmd;
    orbit_buf query;       /* unconsumed input at query.data[qpos..len) */
    size_t qpos;
    resp_parser parser;
    orbit_buf out;         /* replies not yet written, from opos */
    size_t opos;
    srv_queued *queue;
    size_t nqueue, capqueue;
    srv_watch *watches;
    size_t nwatch;
    void *async;           /* net.c's in-flight async state */
    struct srv_client *next, *prev; /* the worker's client list */
};

/* The context of one command execution. */
struct srv_call {
    srv_client *c;
    const srv_command *cmd;
    int argc;
    const srv_arg *argv;
    orbit_txn *txn;        /* the transaction this call runs in, or NULL */
    struct orbit_tx *tx;   /* the cross-model transaction txn belongs to
                            * (orbit/txn.h), or NULL; model commands pass it
                            * to the model calls */
    orbit_buf *out;        /* where the reply goes (c->out) */
    struct db_cleanup *cleanup; /* post-commit range deletes (db.c) */
    size_t ncleanup, capcleanup;
    int wrote;             /* the handler wrote to the store */
};

/* Serialize writers of key k inside the process (commands.c's striped
 * key locks); *token is passed to srv_key_unlock. */
void srv_key_lock(const uint8_t *k, size_t kl, void **token);
void srv_key_unlock(void *token);

/* Execute one parsed command for c (commands.c). */
void srv_dispatch(srv_client *c, int argc, const srv_arg *argv);
/* Run cmd's handler in a transaction when it writes, retrying conflicts;
 * the reply is appended to c->out (commands.c). */
void srv_execute(srv_client *c, const srv_command *cmd, int argc, const srv_arg *argv);
/* Free a client's MULTI queue and watches. */
void srv_client_reset_multi(srv_client *c);

/* CLIENT INFO / LIST line for c (net.c). Appends to out. */
void srv_client_describe(srv_client *c, orbit_buf *out);
/* CLIENT LIST: every client of every worker (net.c). */
void srv_clients_list(orbit_buf *out);

/* The asynchronous path (net.c): try to start call's command (GET, SET
 * without options, DEL, MGET, MSET) with orbit_kv_submit. 1: started (the
 * reply comes later); 0: not eligible, run it synchronously. */
int srv_async_try(srv_client *c, const srv_command *cmd, int argc, const srv_arg *argv);

/* ---- reply helpers (commands.c) --------------------------------------- */

void reply_ok(srv_call *x);
void reply_simple(srv_call *x, const char *s);
void reply_error(srv_call *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void reply_int(srv_call *x, long long v);
void reply_bulk(srv_call *x, const void *p, size_t n);
void reply_cstr(srv_call *x, const char *s);
void reply_null(srv_call *x);       /* RESP2 $-1, RESP3 _ */
void reply_null_array(srv_call *x); /* RESP2 *-1, RESP3 _ */
void reply_array(srv_call *x, long long n);
void reply_map(srv_call *x, long long n); /* RESP2: an array of 2n */
void reply_set(srv_call *x, long long n); /* RESP2: an array */
void reply_double(srv_call *x, double d); /* RESP3 ',', RESP2 bulk */
void reply_bulk_double(srv_call *x, long double d); /* always a bulk */
/* A store error: "-ERR <message>: <detail>". Returns nothing; used by the
 * dispatcher for a handler's negative return. */
void reply_store_error(srv_call *x, int rc);

/* Common error texts, exactly Redis's. */
#define ERR_SYNTAX "syntax error"
#define ERR_NOTINT "value is not an integer or out of range"
#define ERR_NOTFLOAT "value is not a valid float"
#define ERR_OVERFLOW "increment or decrement would overflow"
#define ERR_WRONGTYPE_TEXT "WRONGTYPE Operation against a key holding the wrong kind of value"
void reply_wrongtype(srv_call *x);

/* Argument helpers. */
int arg_eq(const srv_arg *a, const char *s);         /* case-insensitive */
int arg_ll(const srv_arg *a, long long *out);         /* strict integer */
int arg_ld(const srv_arg *a, long double *out);       /* strict float */
int srv_string_match(const uint8_t *pat, size_t plen, const uint8_t *s, size_t slen,
                     int nocase);
/* Double formatting as Redis does (%.17Lg, trailing zeros trimmed). */
int srv_fmt_ld(char *buf, size_t n, long double v);

/* SCAN cursors (commands.c): a cursor number names a saved position. */
uint64_t srv_cursor_save(const uint8_t *pos, size_t n);
/* 0 and pos filled (contents replaced), or -1 unknown cursor. */
int srv_cursor_load(uint64_t id, orbit_buf *pos);

/* Free the calling thread's scratch buffers (each family's and db.c's);
 * every thread that ran commands calls it before it exits. */
void srv_thread_release(void);
void srv_string_thread_release(void);
void srv_hash_thread_release(void);
void srv_set_thread_release(void);
void srv_list_thread_release(void);
void srv_zset_thread_release(void);
void db_thread_release(void);

/* INFO (t_server.c) is built from here. */
void srv_info_append(orbit_buf *out, const char *section);

#endif
