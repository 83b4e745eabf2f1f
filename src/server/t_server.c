/*
 * Connection and server commands (Redis's server.c / networking.c parts):
 * PING, ECHO, HELLO, AUTH, SELECT, QUIT, CLIENT, COMMAND, INFO, DBSIZE,
 * FLUSHDB, TIME.
 *
 * Only database 0 exists (SELECT 0). AUTH checks the one password
 * (requirepass) of the "default" user in constant time; failures are
 * counted (INFO stats: auth_failures). COMMAND DOCS builds each command's
 * argument list from the table's params string, which is enough for
 * redis-cli's hints.
 *
 * FLUSHDB deletes the server's three key ranges, (1, "kv"), (1, "kvs") and
 * (1, "kvx"). On its own it is one orbit_kv_delete_range per range (no
 * size limit). Queued in MULTI it runs in EXEC's transaction: each range is
 * an orbit_txn_delete_range, so the flush commits with the rest of the
 * block or not at all, commands after it in the block see the empty
 * database, and a conflict reruns the block. Inside a transaction every key
 * deleted counts against the provider's transaction limits (etcd's
 * max_txn_keys): a database larger than that makes EXEC fail with nothing
 * applied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "orbit/catalog.h"
#include "orbit/codec.h"
#include "orbit/provider.h"
#include "server/config.h"
#include "server/db.h"
#include "server/server.h"

#define ORBITD_VERSION "0.2.0"
/* The Redis version whose commands and replies orbitd follows (HELLO,
 * INFO redis_version): clients pick features by it. */
#define REDIS_COMPAT_VERSION "7.0.0"

static int cmd_ping(srv_call *x)
{
    if (x->argc > 2) {
        reply_error(x, "wrong number of arguments for 'ping' command");
        return 0;
    }
    if (x->argc == 2)
        reply_bulk(x, x->argv[1].data, x->argv[1].len);
    else
        reply_simple(x, "PONG");
    return 0;
}

static int cmd_echo(srv_call *x)
{
    reply_bulk(x, x->argv[1].data, x->argv[1].len);
    return 0;
}

static int check_password(const srv_arg *user, const srv_arg *pass)
{
    const char *want = g_srv.cfg.requirepass;
    if (user && !arg_eq(user, "default"))
        return 0;
    size_t wl = strlen(want);
    unsigned diff = (unsigned)(wl ^ pass->len);
    for (size_t i = 0; i < pass->len; i++)
        diff |= (unsigned)(pass->data[i] ^ (uint8_t)want[i < wl ? i : 0]);
    return diff == 0 && wl > 0;
}

static int have_password(void)
{
    return g_srv.cfg.requirepass && g_srv.cfg.requirepass[0];
}

static int cmd_auth(srv_call *x)
{
    if (x->argc > 3) {
        reply_error(x, ERR_SYNTAX);
        return 0;
    }
    if (!have_password()) {
        if (x->argc == 2) {
            reply_error(x, "AUTH <password> called without any password configured for the "
                           "default user. Are you sure your configuration is correct?");
            return 0;
        }
    }
    const srv_arg *user = x->argc == 3 ? &x->argv[1] : NULL;
    const srv_arg *pass = &x->argv[x->argc - 1];
    if (have_password() ? check_password(user, pass) : (user && arg_eq(user, "default"))) {
        x->c->authed = 1;
        reply_ok(x);
    } else {
        atomic_fetch_add(&g_srv.stats.auth_failures, 1);
        srv_log(LOG_WARN, "client %s: wrong password", x->c->addr);
        RESP_RAW(x->out, "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    }
    return 0;
}

static int valid_name(const srv_arg *a)
{
    for (size_t i = 0; i < a->len; i++)
        if (a->data[i] < '!' || a->data[i] > '~')
            return 0;
    return 1;
}

static void set_name(srv_client *c, const srv_arg *a)
{
    size_t n = a->len < sizeof c->name - 1 ? a->len : sizeof c->name - 1;
    memcpy(c->name, a->data, n);
    c->name[n] = 0;
}

static int cmd_hello(srv_call *x)
{
    long long ver = 0;
    int i = 1;
    if (x->argc >= 2) {
        if (!arg_ll(&x->argv[1], &ver)) {
            reply_error(x, "Protocol version is not an integer or out of range");
            return 0;
        }
        if (ver < 2 || ver > 3) {
            RESP_RAW(x->out, "-NOPROTO unsupported protocol version\r\n");
            return 0;
        }
        i = 2;
    }
    const srv_arg *user = NULL, *pass = NULL, *name = NULL;
    for (; i < x->argc; i++) {
        if (arg_eq(&x->argv[i], "auth") && i + 2 < x->argc) {
            user = &x->argv[i + 1];
            pass = &x->argv[i + 2];
            i += 2;
        } else if (arg_eq(&x->argv[i], "setname") && i + 1 < x->argc) {
            name = &x->argv[++i];
        } else {
            reply_error(x, "Syntax error in HELLO option '%.*s'", (int)x->argv[i].len,
                        x->argv[i].data);
            return 0;
        }
    }
    if (pass) {
        if (have_password() ? check_password(user, pass) : arg_eq(user, "default")) {
            x->c->authed = 1;
        } else {
            atomic_fetch_add(&g_srv.stats.auth_failures, 1);
            RESP_RAW(x->out, "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
            return 0;
        }
    }
    if (have_password() && !x->c->authed) {
        RESP_RAW(x->out, "-NOAUTH HELLO must be called with the client already "
                         "authenticated, otherwise the HELLO <proto> AUTH <user> <pass> "
                         "option can be used to authenticate the client and select the RESP "
                         "protocol version at the same time\r\n");
        return 0;
    }
    if (name) {
        if (!valid_name(name)) {
            reply_error(x, "Client names cannot contain spaces, newlines or special characters.");
            return 0;
        }
        set_name(x->c, name);
    }
    if (ver)
        x->c->resp = (int)ver;
    reply_map(x, 7);
    reply_cstr(x, "server");
    reply_cstr(x, "redis");
    reply_cstr(x, "version");
    reply_cstr(x, REDIS_COMPAT_VERSION);
    reply_cstr(x, "proto");
    reply_int(x, x->c->resp);
    reply_cstr(x, "id");
    reply_int(x, (long long)x->c->id);
    reply_cstr(x, "mode");
    reply_cstr(x, "standalone");
    reply_cstr(x, "role");
    reply_cstr(x, "master");
    reply_cstr(x, "modules");
    reply_array(x, 0);
    return 0;
}

static int cmd_select(srv_call *x)
{
    long long db;
    if (!arg_ll(&x->argv[1], &db)) {
        reply_error(x, ERR_NOTINT);
        return 0;
    }
    if (db != 0) {
        reply_error(x, "DB index is out of range");
        return 0;
    }
    reply_ok(x);
    return 0;
}

static int cmd_quit(srv_call *x)
{
    reply_ok(x);
    x->c->close_after_reply = 1;
    return 0;
}

static int cmd_client(srv_call *x)
{
    const srv_arg *sub = &x->argv[1];
    if (arg_eq(sub, "setname") && x->argc == 3) {
        if (!valid_name(&x->argv[2])) {
            reply_error(x, "Client names cannot contain spaces, newlines or special characters.");
            return 0;
        }
        set_name(x->c, &x->argv[2]);
        reply_ok(x);
    } else if (arg_eq(sub, "getname") && x->argc == 2) {
        if (x->c->name[0])
            reply_cstr(x, x->c->name);
        else
            reply_null(x);
    } else if (arg_eq(sub, "id") && x->argc == 2) {
        reply_int(x, (long long)x->c->id);
    } else if (arg_eq(sub, "info") && x->argc == 2) {
        orbit_buf b = ORBIT_BUF_INIT;
        srv_client_describe(x->c, &b);
        reply_bulk(x, b.data, b.len);
        orbit_buf_release(&b);
    } else if (arg_eq(sub, "list") && x->argc == 2) {
        orbit_buf b = ORBIT_BUF_INIT;
        srv_clients_list(&b);
        reply_bulk(x, b.data, b.len);
        orbit_buf_release(&b);
    } else if (arg_eq(sub, "setinfo") && x->argc == 4 &&
               (arg_eq(&x->argv[2], "lib-name") || arg_eq(&x->argv[2], "lib-ver"))) {
        reply_ok(x);
    } else if (arg_eq(sub, "help")) {
        reply_array(x, 6);
        reply_cstr(x, "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
        reply_cstr(x, "GETNAME");
        reply_cstr(x, "ID");
        reply_cstr(x, "INFO");
        reply_cstr(x, "LIST");
        reply_cstr(x, "SETNAME <name>");
    } else {
        char n[129];
        size_t l = sub->len > 128 ? 128 : sub->len;
        memcpy(n, sub->data, l);
        n[l] = 0;
        reply_error(x, "unknown subcommand or wrong number of arguments for '%s'. Try CLIENT HELP.",
                    n);
    }
    return 0;
}

/* ---- COMMAND ------------------------------------------------------------------- */

static void flag_names(srv_call *x, const srv_command *c)
{
    const char *f[8];
    int n = 0;
    if (c->flags & CMD_WRITE)
        f[n++] = "write";
    if (c->flags & (CMD_READONLY | CMD_TXREAD))
        f[n++] = "readonly";
    if (c->flags & CMD_FAST)
        f[n++] = "fast";
    if (c->flags & CMD_NOAUTH)
        f[n++] = "no_auth";
    if (c->flags & CMD_ADMIN)
        f[n++] = "admin";
    if (c->flags & CMD_NOMULTI)
        f[n++] = "no_multi";
    reply_set(x, n);
    for (int i = 0; i < n; i++)
        reply_simple(x, f[i]);
}

static void command_info(srv_call *x, const srv_command *c)
{
    if (!c) {
        reply_null(x);
        return;
    }
    reply_array(x, 10);
    reply_cstr(x, c->name);
    reply_int(x, c->arity);
    flag_names(x, c);
    reply_int(x, c->first_key);
    reply_int(x, c->last_key);
    reply_int(x, c->key_step);
    reply_set(x, 0); /* ACL categories */
    reply_set(x, 0); /* tips */
    reply_array(x, 0); /* key specs */
    reply_array(x, 0); /* subcommands */
}

/* One argument of a params string: a word, or "[ ... ]" (optional), with
 * "a|b" alternatives and a trailing "..." for repetition. */
typedef struct param {
    const char *s;
    size_t n;
} param;

static size_t split_params(const char *s, param *out, size_t max)
{
    size_t k = 0;
    while (*s && k < max) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        const char *b = s;
        if (*s == '[') {
            int depth = 0;
            do {
                if (*s == '[')
                    depth++;
                else if (*s == ']')
                    depth--;
                s++;
            } while (*s && depth > 0);
        } else {
            while (*s && *s != ' ')
                s++;
        }
        out[k].s = b;
        out[k].n = (size_t)(s - b);
        k++;
    }
    return k;
}

static void doc_argument(srv_call *x, const char *s, size_t n)
{
    int optional = 0, multiple = 0;
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        optional = 1;
        s++;
        n -= 2;
    }
    if (n > 4 && !memcmp(s + n - 4, " ...", 4)) {
        multiple = 1;
        /* "key [key ...]": the repetition is of the first word */
        const char *sp = memchr(s, ' ', n);
        n = sp ? (size_t)(sp - s) : n - 4;
    }
    int oneof = memchr(s, '|', n) != NULL;
    int block = !oneof && memchr(s, ' ', n) != NULL;
    int fields = 3 + (optional || multiple);
    reply_map(x, fields);
    reply_cstr(x, "name");
    reply_bulk(x, s, n);
    reply_cstr(x, "type");
    if (oneof || block) {
        reply_cstr(x, oneof ? "oneof" : "block");
        reply_cstr(x, "arguments");
        param p[16];
        size_t k = 0;
        if (oneof) {
            const char *b = s, *e = s + n;
            while (b < e && k < 16) {
                const char *bar = memchr(b, '|', (size_t)(e - b));
                const char *end = bar ? bar : e;
                p[k].s = b;
                p[k].n = (size_t)(end - b);
                k++;
                b = bar ? bar + 1 : e;
            }
        } else {
            char tmp[256];
            size_t l = n < sizeof tmp - 1 ? n : sizeof tmp - 1;
            memcpy(tmp, s, l);
            tmp[l] = 0;
            param q[16];
            size_t kq = split_params(tmp, q, 16);
            for (size_t i = 0; i < kq; i++) {
                p[k].s = s + (q[i].s - tmp);
                p[k].n = q[i].n;
                k++;
            }
        }
        reply_array(x, (long long)k);
        for (size_t i = 0; i < k; i++) {
            /* "EX seconds" inside a oneof is a block itself */
            doc_argument(x, p[i].s, p[i].n);
        }
    } else {
        int is_key = n == 3 && !memcmp(s, "key", 3);
        int is_token = n > 0 && s[0] >= 'A' && s[0] <= 'Z';
        reply_cstr(x, is_key ? "key" : is_token ? "pure-token" : "string");
        if (is_token) {
            reply_cstr(x, "token");
            reply_bulk(x, s, n);
        } else {
            reply_cstr(x, "display_text");
            reply_bulk(x, s, n);
        }
    }
    if (optional || multiple) {
        reply_cstr(x, "flags");
        reply_set(x, optional + multiple);
        if (optional)
            reply_simple(x, "optional");
        if (multiple)
            reply_simple(x, "multiple");
    }
}

static void command_docs(srv_call *x, const srv_command *c)
{
    reply_cstr(x, c->name);
    reply_map(x, 4);
    reply_cstr(x, "summary");
    reply_cstr(x, c->summary ? c->summary : "");
    reply_cstr(x, "since");
    reply_cstr(x, "1.0.0");
    reply_cstr(x, "group");
    reply_cstr(x, c->group ? c->group : "generic");
    reply_cstr(x, "arguments");
    param p[32];
    size_t k = split_params(c->params ? c->params : "", p, 32);
    reply_array(x, (long long)k);
    for (size_t i = 0; i < k; i++)
        doc_argument(x, p[i].s, p[i].n);
}

static int cmd_command(srv_call *x)
{
    size_t n = srv_command_count();
    if (x->argc == 1) {
        reply_array(x, (long long)n);
        for (size_t i = 0; i < n; i++)
            command_info(x, srv_command_at(i));
        return 0;
    }
    const srv_arg *sub = &x->argv[1];
    if (arg_eq(sub, "count") && x->argc == 2) {
        reply_int(x, (long long)n);
    } else if (arg_eq(sub, "list") && x->argc == 2) {
        reply_array(x, (long long)n);
        for (size_t i = 0; i < n; i++)
            reply_cstr(x, srv_command_at(i)->name);
    } else if (arg_eq(sub, "info")) {
        if (x->argc == 2) {
            reply_array(x, (long long)n);
            for (size_t i = 0; i < n; i++)
                command_info(x, srv_command_at(i));
        } else {
            reply_array(x, x->argc - 2);
            for (int i = 2; i < x->argc; i++)
                command_info(x, srv_command_lookup(x->argv[i].data, x->argv[i].len));
        }
    } else if (arg_eq(sub, "docs")) {
        if (x->argc == 2) {
            reply_map(x, (long long)n);
            for (size_t i = 0; i < n; i++)
                command_docs(x, srv_command_at(i));
        } else {
            long long found = 0;
            for (int i = 2; i < x->argc; i++)
                found += srv_command_lookup(x->argv[i].data, x->argv[i].len) != NULL;
            reply_map(x, found);
            for (int i = 2; i < x->argc; i++) {
                const srv_command *c = srv_command_lookup(x->argv[i].data, x->argv[i].len);
                if (c)
                    command_docs(x, c);
            }
        }
    } else {
        char nm[129];
        size_t l = sub->len > 128 ? 128 : sub->len;
        memcpy(nm, sub->data, l);
        nm[l] = 0;
        reply_error(x, "unknown subcommand '%s'. Try COMMAND HELP.", nm);
    }
    return 0;
}

/* ---- INFO --------------------------------------------------------------------- */

static void line(orbit_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(orbit_buf *out, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        orbit_buf_append(out, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
    orbit_buf_append(out, "\r\n", 2);
}

static unsigned long long ld(atomic_ullong *a)
{
    return (unsigned long long)atomic_load(a);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

void srv_info_append(orbit_buf *out, const char *section)
{
    int all = !section || !strcasecmp(section, "all") || !strcasecmp(section, "default") ||
              !strcasecmp(section, "everything");
    uint64_t now = srv_now_ms();
    if (all || !strcasecmp(section, "server")) {
        line(out, "# Server");
        line(out, "redis_version:%s", REDIS_COMPAT_VERSION);
        line(out, "orbit_version:%s", ORBITD_VERSION);
        line(out, "redis_mode:standalone");
        line(out, "process_id:%ld", (long)getpid());
        line(out, "tcp_port:%d", g_srv.cfg.port);
        line(out, "uptime_in_seconds:%llu", (unsigned long long)((now - g_srv.start_ms) / 1000));
        line(out, "uptime_in_days:%llu",
             (unsigned long long)((now - g_srv.start_ms) / 86400000));
        line(out, "io_threads_active:%d", g_srv.cfg.threads);
        line(out, "orbit_store_provider:%s", g_srv.caps.name ? g_srv.caps.name : "unknown");
        line(out, "orbit_async_path:%s", g_srv.use_async ? "yes" : "no");
        orbit_buf_append(out, "\r\n", 2);
    }
    if (all || !strcasecmp(section, "clients")) {
        line(out, "# Clients");
        line(out, "connected_clients:%d", atomic_load(&g_srv.stats.connected_clients));
        line(out, "maxclients:%d", g_srv.cfg.max_clients);
        orbit_buf_append(out, "\r\n", 2);
    }
    if (all || !strcasecmp(section, "memory")) {
        line(out, "# Memory");
        line(out, "used_memory_rss:%ld", rss_kb() * 1024);
        orbit_buf_append(out, "\r\n", 2);
    }
    if (all || !strcasecmp(section, "persistence")) {
        orbit_kv_stats ks;
        orbit_kv_stats_get(g_srv.kv, &ks);
        line(out, "# Persistence");
        line(out, "loading:0");
        line(out, "orbit_durable:%d", g_srv.caps.durable);
        line(out, "orbit_store_puts:%llu", (unsigned long long)ks.puts);
        line(out, "orbit_store_gets:%llu", (unsigned long long)ks.gets);
        line(out, "orbit_store_txns_committed:%llu", (unsigned long long)ks.txns_committed);
        line(out, "orbit_store_txns_conflicted:%llu", (unsigned long long)ks.txns_conflicted);
        line(out, "orbit_store_errors:%llu", (unsigned long long)ks.errors);
        /* the provider's own figures (orbit_kv_store_stats); only those it reports */
        orbit_store_stats ss;
        if (orbit_kv_store_stats(g_srv.kv, &ss) == 0) {
            if (ss.size_bytes != ORBIT_STAT_NONE)
                line(out, "orbit_store_size_bytes:%llu", (unsigned long long)ss.size_bytes);
            if (ss.live_bytes != ORBIT_STAT_NONE)
                line(out, "orbit_store_live_bytes:%llu", (unsigned long long)ss.live_bytes);
            if (ss.keys != ORBIT_STAT_NONE)
                line(out, "orbit_store_keys%s:%llu", ss.keys_exact ? "" : "_estimate",
                     (unsigned long long)ss.keys);
            if (ss.cache_hits != ORBIT_STAT_NONE && ss.cache_misses != ORBIT_STAT_NONE) {
                line(out, "orbit_cache_hits:%llu", (unsigned long long)ss.cache_hits);
                line(out, "orbit_cache_misses:%llu", (unsigned long long)ss.cache_misses);
            }
        }
        line(out, "rdb_changes_since_last_save:0");
        line(out, "aof_enabled:0");
        orbit_buf_append(out, "\r\n", 2);
    }
    if (all || !strcasecmp(section, "stats")) {
        srv_stats *s = &g_srv.stats;
        line(out, "# Stats");
        line(out, "total_connections_received:%llu", ld(&s->connections_received));
        line(out, "total_commands_processed:%llu", ld(&s->commands_processed));
        line(out, "total_net_input_bytes:%llu", ld(&s->net_input_bytes));
        line(out, "total_net_output_bytes:%llu", ld(&s->net_output_bytes));
        line(out, "rejected_connections:%llu", ld(&s->rejected_connections));
        line(out, "expired_keys:%llu", ld(&s->expired_keys));
        line(out, "keyspace_hits:%llu", ld(&s->keyspace_hits));
        line(out, "keyspace_misses:%llu", ld(&s->keyspace_misses));
        line(out, "total_error_replies:0");
        line(out, "auth_failures:%llu", ld(&s->auth_failures));
        line(out, "protocol_errors:%llu", ld(&s->protocol_errors));
        line(out, "orbit_conflicts_retried:%llu", ld(&s->conflicts_retried));
        line(out, "orbit_async_ops:%llu", ld(&s->async_ops));
        orbit_buf_append(out, "\r\n", 2);
    }
    if (all || !strcasecmp(section, "placement"))
        srv_placement_info(out);
    if (all || !strcasecmp(section, "keyspace")) {
        uint64_t keys = 0, expires = 0;
        line(out, "# Keyspace");
        if (db_count(&keys, &expires) == 0 && keys)
            line(out, "db0:keys=%llu,expires=%llu,avg_ttl=0", (unsigned long long)keys,
                 (unsigned long long)expires);
        orbit_buf_append(out, "\r\n", 2);
    }
}

static int cmd_info(srv_call *x)
{
    orbit_buf b = ORBIT_BUF_INIT;
    if (x->argc == 1) {
        srv_info_append(&b, NULL);
    } else {
        for (int i = 1; i < x->argc; i++) {
            char sec[32];
            size_t l = x->argv[i].len < sizeof sec - 1 ? x->argv[i].len : sizeof sec - 1;
            memcpy(sec, x->argv[i].data, l);
            sec[l] = 0;
            srv_info_append(&b, sec);
        }
    }
    /* no trailing blank line, as Redis */
    while (b.len >= 2 && b.data[b.len - 2] == '\r' && b.len >= 4 && b.data[b.len - 4] == '\r')
        b.len -= 2;
    reply_bulk(x, b.data, b.len);
    orbit_buf_release(&b);
    return 0;
}

static int cmd_dbsize(srv_call *x)
{
    uint64_t keys = 0;
    int rc = db_count(&keys, NULL);
    if (!rc)
        reply_int(x, (long long)keys);
    return rc;
}

/* FLUSHDB inside EXEC: the three ranges deleted in the block's
 * transaction (see the top). */
static int flush_in_txn(orbit_txn *t)
{
    static const char *const names[] = {"kv", "kvs", "kvx"};
    orbit_buf lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < 3 && !rc; i++) {
        lo.len = 0;
        if (!(rc = orbit_key_keyspace(&lo, ORBIT_KEYSPACE_DEFAULT)) &&
            !(rc = orbit_tuple_str(&lo, names[i])) && !(rc = orbit_buf_set(&hi, lo.data, lo.len))) {
            /* the end: the prefix's successor (a tuple prefix never ends
             * in 0xFF only) */
            size_t n = hi.len;
            while (n > 0 && hi.data[n - 1] == 0xFF)
                n--;
            hi.len = n;
            if (n)
                hi.data[n - 1]++;
            rc = orbit_txn_delete_range(t, lo.data, lo.len, hi.data, hi.len);
        }
    }
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    return rc;
}

static int cmd_flushdb(srv_call *x)
{
    if (x->argc > 2 || (x->argc == 2 && !arg_eq(&x->argv[1], "async") &&
                        !arg_eq(&x->argv[1], "sync"))) {
        reply_error(x, ERR_SYNTAX);
        return 0;
    }
    int rc = x->txn ? flush_in_txn(x->txn) : db_flush();
    if (!rc) {
        x->wrote = 1;
        reply_ok(x);
    }
    return rc;
}

static int cmd_time(srv_call *x)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char a[32], b[32];
    int na = snprintf(a, sizeof a, "%ld", (long)tv.tv_sec);
    int nb = snprintf(b, sizeof b, "%ld", (long)tv.tv_usec);
    reply_array(x, 2);
    reply_bulk(x, a, (size_t)na);
    reply_bulk(x, b, (size_t)nb);
    return 0;
}

#define N CMD_NOSTORE
#define F CMD_FAST

const srv_command srv_server_commands[] = {
    {"ping", cmd_ping, -1, N | F, 0, 0, 0, "connection", "Ping the server", "[message]", NULL},
    {"echo", cmd_echo, 2, N | F, 0, 0, 0, "connection", "Echo the argument", "message", NULL},
    {"hello", cmd_hello, -1, N | F | CMD_NOAUTH, 0, 0, 0, "connection",
     "Handshake: protocol version, authentication, client name",
     "[protover [AUTH username password] [SETNAME clientname]]", NULL},
    {"auth", cmd_auth, -2, N | F | CMD_NOAUTH, 0, 0, 0, "connection", "Authenticate",
     "[username] password", NULL},
    {"select", cmd_select, 2, N | F, 0, 0, 0, "connection", "Select database 0 (the only one)",
     "index", NULL},
    {"quit", cmd_quit, -1, N | F | CMD_NOAUTH, 0, 0, 0, "connection", "Close the connection", "",
     NULL},
    {"client", cmd_client, -2, N, 0, 0, 0, "connection", "Client connection commands",
     "subcommand [argument ...]", NULL},
    {"command", cmd_command, -1, N, 0, 0, 0, "server", "Command table introspection",
     "[COUNT|LIST|INFO|DOCS] [command-name ...]", NULL},
    {"info", cmd_info, -1, N, 0, 0, 0, "server", "Server information and statistics",
     "[section ...]", NULL},
    {"dbsize", cmd_dbsize, 1, CMD_READONLY, 0, 0, 0, "server", "The number of keys", "", NULL},
    {"flushdb", cmd_flushdb, -1, CMD_ADMIN, 0, 0, 0, "server", "Delete every key",
     "[ASYNC|SYNC]", NULL},
    {"time", cmd_time, 1, N | F, 0, 0, 0, "server", "The server time", "", NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL},
};
