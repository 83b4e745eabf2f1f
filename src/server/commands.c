/*
 * The command table, dispatch and the execution wrapper.
 *
 * The table is the union of every family's table (srv_*_commands, one per
 * t_*.c file), sorted once by name for lookup; a new family adds its file
 * and one line to `families`. Dispatch follows Redis's processCommand:
 * unknown command, arity, authentication, MULTI queueing, then execution.
 *
 * Execution: a command flagged CMD_WRITE (or CMD_TXREAD: reads that must
 * see one view) runs inside one cross-model transaction (orbit_tx,
 * orbit/txn.h: call->tx for the model commands, call->txn its contract
 * transaction for the key-value ones, committed with orbit_tx_commit, so
 * the models' commit checks run); its reply is
 * appended to the client's output only provisionally: on ORBIT_ECONFLICT
 * (nothing applied) the transaction is rolled back, the reply cut off and
 * the handler run again, up to MAX_ATTEMPTS times; any other error rolls
 * back and replies the error; ORBIT_EUNCERTAIN from the commit is reported
 * as such and never retried. Other commands run directly (reads of the
 * latest data). Sub-keys of replaced values are range-deleted after a
 * successful commit (db_run_cleanup).
 */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "orbit/provider.h"
#include "orbit/txn.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/db.h"
#include "server/server.h"

#define MAX_ATTEMPTS 100

static const srv_command **g_table;
static size_t g_ntable;
static pthread_once_t g_table_once = PTHREAD_ONCE_INIT;

static int cmd_cmp(const void *a, const void *b)
{
    const srv_command *x = *(const srv_command *const *)a;
    const srv_command *y = *(const srv_command *const *)b;
    return strcmp(x->name, y->name);
}

static void table_init(void)
{
    const srv_command *fam[] = {srv_server_commands, srv_string_commands, srv_hash_commands,
                                srv_set_commands, srv_list_commands, srv_zset_commands,
                                srv_multi_commands,
                                srv_json_commands, srv_ts_commands, srv_vector_commands,
                                srv_graph_commands, srv_table_commands};
    size_t n = 0;
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++)
        for (const srv_command *c = fam[f]; c->name; c++)
            n++;
    g_table = calloc(n, sizeof *g_table);
    if (!g_table)
        return;
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++)
        for (const srv_command *c = fam[f]; c->name; c++)
            g_table[g_ntable++] = c;
    qsort(g_table, g_ntable, sizeof *g_table, cmd_cmp);
}

size_t srv_command_count(void)
{
    pthread_once(&g_table_once, table_init);
    return g_ntable;
}

const srv_command *srv_command_at(size_t i)
{
    pthread_once(&g_table_once, table_init);
    return i < g_ntable ? g_table[i] : NULL;
}

const srv_command *srv_command_lookup(const uint8_t *name, size_t len)
{
    pthread_once(&g_table_once, table_init);
    char low[32];
    if (len == 0 || len >= sizeof low)
        return NULL;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)tolower(name[i]);
    low[len] = 0;
    size_t lo = 0, hi = g_ntable;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(low, g_table[mid]->name);
        if (c == 0)
            return g_table[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* ---- replies ------------------------------------------------------------ */

static int is3(srv_call *x)
{
    return x->c && x->c->resp == 3;
}

void reply_simple(srv_call *x, const char *s)
{
    resp_add_line(x->out, '+', s, strlen(s));
}

void reply_ok(srv_call *x)
{
    RESP_RAW(x->out, "+OK\r\n");
}

void reply_error(srv_call *x, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char full[520];
    int n = snprintf(full, sizeof full, "ERR %s", msg);
    resp_add_line(x->out, '-', full, (size_t)n);
}

void reply_wrongtype(srv_call *x)
{
    resp_add_line(x->out, '-', ERR_WRONGTYPE_TEXT, strlen(ERR_WRONGTYPE_TEXT));
}

void reply_int(srv_call *x, long long v)
{
    resp_add_header(x->out, ':', v);
}

void reply_bulk(srv_call *x, const void *p, size_t n)
{
    resp_add_bulk(x->out, p, n);
}

void reply_cstr(srv_call *x, const char *s)
{
    resp_add_bulk(x->out, s, strlen(s));
}

void reply_null(srv_call *x)
{
    if (is3(x))
        RESP_RAW(x->out, "_\r\n");
    else
        RESP_RAW(x->out, "$-1\r\n");
}

void reply_null_array(srv_call *x)
{
    if (is3(x))
        RESP_RAW(x->out, "_\r\n");
    else
        RESP_RAW(x->out, "*-1\r\n");
}

void reply_array(srv_call *x, long long n)
{
    resp_add_header(x->out, '*', n);
}

void reply_map(srv_call *x, long long n)
{
    if (is3(x))
        resp_add_header(x->out, '%', n);
    else
        resp_add_header(x->out, '*', 2 * n);
}

void reply_set(srv_call *x, long long n)
{
    resp_add_header(x->out, is3(x) ? '~' : '*', n);
}

int srv_fmt_ld(char *buf, size_t n, long double v)
{
    if (isinf(v))
        return snprintf(buf, n, "%s", v > 0 ? "inf" : "-inf");
    int k = snprintf(buf, n, "%.17Lf", v);
    if ((size_t)k >= n)
        return snprintf(buf, n, "%.17Lg", v);
    if (strchr(buf, '.')) {
        while (k > 0 && buf[k - 1] == '0')
            buf[--k] = 0;
        if (k > 0 && buf[k - 1] == '.')
            buf[--k] = 0;
    }
    if (k == 2 && !strcmp(buf, "-0"))
        k = snprintf(buf, n, "0");
    return k;
}

void reply_bulk_double(srv_call *x, long double d)
{
    char tmp[5200];
    int k = srv_fmt_ld(tmp, sizeof tmp, d);
    resp_add_bulk(x->out, tmp, (size_t)k);
}

void reply_double(srv_call *x, double d)
{
    char tmp[64];
    int k;
    if (isinf(d))
        k = snprintf(tmp, sizeof tmp, "%s", d > 0 ? "inf" : "-inf");
    else
        k = snprintf(tmp, sizeof tmp, "%.17g", d);
    if (is3(x)) {
        resp_add_line(x->out, ',', tmp, (size_t)k);
    } else {
        resp_add_bulk(x->out, tmp, (size_t)k);
    }
}

void reply_store_error(srv_call *x, int rc)
{
    const char *d = orbit_last_error_detail();
    if (d && d[0])
        reply_error(x, "%s (%s): %s", orbit_strerror(rc), orbit_err_name(rc), d);
    else
        reply_error(x, "%s (%s)", orbit_strerror(rc), orbit_err_name(rc));
}

/* ---- arguments ------------------------------------------------------------ */

int arg_eq(const srv_arg *a, const char *s)
{
    size_t n = strlen(s);
    return a->len == n && strncasecmp((const char *)a->data, s, n) == 0;
}

int arg_ll(const srv_arg *a, long long *out)
{
    return resp_str2ll(a->data, a->len, out);
}

int arg_ld(const srv_arg *a, long double *out)
{
    char tmp[5200];
    if (a->len == 0 || a->len >= sizeof tmp)
        return 0;
    memcpy(tmp, a->data, a->len);
    tmp[a->len] = 0;
    if (isspace((unsigned char)tmp[0]))
        return 0;
    char *end;
    long double v = strtold(tmp, &end);
    if (*end || isnan(v))
        return 0;
    *out = v;
    return 1;
}

/* Glob matching as Redis's stringmatchlen: * ? [abc] [^a-z] and \x. */
static int match_rec(const uint8_t *p, size_t pl, const uint8_t *s, size_t sl, int nocase,
                     int depth)
{
    if (depth > 1000)
        return 0;
    while (pl && sl) {
        switch (p[0]) {
        case '*':
            while (pl > 1 && p[1] == '*') {
                p++;
                pl--;
            }
            if (pl == 1)
                return 1;
            for (size_t i = 0; i <= sl; i++)
                if (match_rec(p + 1, pl - 1, s + i, sl - i, nocase, depth + 1))
                    return 1;
            return 0;
        case '?':
            s++;
            sl--;
            break;
        case '[': {
            p++;
            pl--;
            int neg = pl && p[0] == '^';
            if (neg) {
                p++;
                pl--;
            }
            int m = 0;
            while (pl) {
                if (p[0] == '\\' && pl >= 2) {
                    p++;
                    pl--;
                    if (p[0] == s[0])
                        m = 1;
                } else if (p[0] == ']') {
                    break;
                } else if (pl >= 3 && p[1] == '-') {
                    int a = p[0], b = p[2], c = s[0];
                    if (a > b) {
                        int t = a;
                        a = b;
                        b = t;
                    }
                    if (nocase) {
                        a = tolower(a);
                        b = tolower(b);
                        c = tolower(c);
                    }
                    if (c >= a && c <= b)
                        m = 1;
                    p += 2;
                    pl -= 2;
                } else if (nocase ? tolower(p[0]) == tolower(s[0]) : p[0] == s[0]) {
                    m = 1;
                }
                p++;
                pl--;
            }
            if (neg)
                m = !m;
            if (!m)
                return 0;
            s++;
            sl--;
            if (!pl)
                return sl == 0; /* unterminated class: Redis treats as end */
            break;
        }
        case '\\':
            if (pl >= 2) {
                p++;
                pl--;
            }
            /* fallthrough */
        default:
            if (nocase ? tolower(p[0]) != tolower(s[0]) : p[0] != s[0])
                return 0;
            s++;
            sl--;
            break;
        }
        p++;
        pl--;
        if (sl == 0) {
            while (pl && p[0] == '*') {
                p++;
                pl--;
            }
            break;
        }
    }
    return pl == 0 && sl == 0;
}

int srv_string_match(const uint8_t *pat, size_t plen, const uint8_t *s, size_t slen, int nocase)
{
    return match_rec(pat, plen, s, slen, nocase, 0);
}

/* ---- SCAN cursors ------------------------------------------------------- */

#define CURSOR_SLOTS 4096
static pthread_mutex_t g_cur_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uint64_t id;
    orbit_buf pos;
} g_cur[CURSOR_SLOTS];
static uint64_t g_cur_next = 1;

uint64_t srv_cursor_save(const uint8_t *pos, size_t n)
{
    pthread_mutex_lock(&g_cur_mu);
    uint64_t id = g_cur_next++;
    size_t s = id % CURSOR_SLOTS;
    g_cur[s].id = id;
    if (orbit_buf_set(&g_cur[s].pos, pos, n))
        g_cur[s].id = 0;
    pthread_mutex_unlock(&g_cur_mu);
    return id;
}

int srv_cursor_load(uint64_t id, orbit_buf *pos)
{
    int rc = -1;
    pthread_mutex_lock(&g_cur_mu);
    size_t s = id % CURSOR_SLOTS;
    if (id && g_cur[s].id == id && !orbit_buf_set(pos, g_cur[s].pos.data, g_cur[s].pos.len))
        rc = 0;
    pthread_mutex_unlock(&g_cur_mu);
    return rc;
}

void srv_cursors_release(void);
void srv_cursors_release(void)
{
    for (size_t i = 0; i < CURSOR_SLOTS; i++)
        orbit_buf_release(&g_cur[i].pos);
}

void srv_thread_release(void)
{
    srv_string_thread_release();
    srv_hash_thread_release();
    srv_set_thread_release();
    srv_list_thread_release();
    srv_zset_thread_release();
    db_thread_release();
}

/* ---- dispatch ------------------------------------------------------------- */

static void call_init(srv_call *x, srv_client *c, const srv_command *cmd, int argc,
                      const srv_arg *argv)
{
    memset(x, 0, sizeof *x);
    x->c = c;
    x->cmd = cmd;
    x->argc = argc;
    x->argv = argv;
    x->out = &c->out;
}

/* ---- per-key write locks ------------------------------------------------
 * Writing commands on the same key from different workers would conflict
 * in the store (optimistic transactions fail at commit), and a worker
 * could be starved by another that keeps committing. So a writing command
 * first takes the striped locks of its keys (the table's first/last/step
 * key positions; for EXEC, those of every queued command), in ascending
 * stripe order, so writers of one key take turns inside the process; the
 * store's conflict check still covers writers in other processes. */
#define KEY_STRIPES 1024
static pthread_mutex_t g_stripes[KEY_STRIPES];
static pthread_once_t g_stripes_once = PTHREAD_ONCE_INIT;

static void stripes_init(void)
{
    for (int i = 0; i < KEY_STRIPES; i++)
        pthread_mutex_init(&g_stripes[i], NULL);
}

typedef struct stripe_set {
    unsigned short *s;
    size_t n, cap;
} stripe_set;

static void stripe_add(stripe_set *ss, const srv_arg *k)
{
    /* FNV-1a */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < k->len; i++)
        h = (h ^ k->data[i]) * 16777619u;
    unsigned short v = (unsigned short)(h % KEY_STRIPES);
    if (ss->n == ss->cap) {
        size_t nc = ss->cap ? ss->cap * 2 : 16;
        unsigned short *a = realloc(ss->s, nc * sizeof *a);
        if (!a)
            return; /* without the lock the store's conflict check still holds */
        ss->s = a;
        ss->cap = nc;
    }
    ss->s[ss->n++] = v;
}

static void stripe_keys(stripe_set *ss, const srv_command *cmd, int argc, const srv_arg *argv)
{
    if (cmd->first_key <= 0)
        return;
    int last = cmd->last_key < 0 ? argc + cmd->last_key : cmd->last_key;
    int step = cmd->key_step > 0 ? cmd->key_step : 1;
    for (int i = cmd->first_key; i <= last && i < argc; i += step)
        stripe_add(ss, &argv[i]);
}

static int us_cmp(const void *a, const void *b)
{
    return (int)*(const unsigned short *)a - (int)*(const unsigned short *)b;
}

static void stripes_lock(stripe_set *ss)
{
    pthread_once(&g_stripes_once, stripes_init);
    if (ss->n == 0)
        return;
    qsort(ss->s, ss->n, sizeof *ss->s, us_cmp);
    size_t w = 0;
    for (size_t i = 0; i < ss->n; i++)
        if (w == 0 || ss->s[w - 1] != ss->s[i])
            ss->s[w++] = ss->s[i];
    ss->n = w;
    for (size_t i = 0; i < ss->n; i++)
        pthread_mutex_lock(&g_stripes[ss->s[i]]);
}

static void stripes_unlock(stripe_set *ss)
{
    for (size_t i = ss->n; i > 0; i--)
        pthread_mutex_unlock(&g_stripes[ss->s[i - 1]]);
    free(ss->s);
}

void srv_key_lock(const uint8_t *k, size_t kl, void **token)
{
    stripe_set *ss = calloc(1, sizeof *ss);
    *token = ss;
    if (!ss)
        return;
    srv_arg a = {k, kl};
    stripe_add(ss, &a);
    stripes_lock(ss);
}

void srv_key_unlock(void *token)
{
    if (!token)
        return;
    stripes_unlock(token);
    free(token);
}

static void backoff(int attempt)
{
    struct timespec ts = {0, (long)(rand() % (attempt * 50 + 50)) * 1000L};
    nanosleep(&ts, NULL);
}

void srv_execute(srv_client *c, const srv_command *cmd, int argc, const srv_arg *argv)
{
    srv_call x;
    call_init(&x, c, cmd, argc, argv);
    if (cmd->fast) {
        int rc = cmd->fast(&x);
        if (rc < 0)
            reply_store_error(&x, rc);
        if (rc != 0)
            return;
    }
    if (!(cmd->flags & (CMD_WRITE | CMD_TXREAD))) {
        int rc = cmd->fn(&x);
        if (rc < 0)
            reply_store_error(&x, rc);
        free(x.cleanup);
        return;
    }
    stripe_set ss = {0};
    if (!strcmp(cmd->name, "exec")) {
        for (size_t i = 0; i < c->nqueue; i++)
            if (c->queue[i].cmd->flags & CMD_WRITE)
                stripe_keys(&ss, c->queue[i].cmd, c->queue[i].argc, c->queue[i].argv);
    } else {
        stripe_keys(&ss, cmd, argc, argv);
    }
    stripes_lock(&ss);
    size_t mark = c->out.len;
    for (int attempt = 0;; attempt++) {
        x.wrote = 0;
        /* One cross-model transaction (orbit/txn.h): call->txn is its
         * contract transaction on the store, call->tx is what the model
         * commands pass to the models, so a block mixing both commits as
         * one. */
        int rc = orbit_tx_begin(NULL, &x.tx);
        /* bound to the Redis database's store first, unless the command
         * touches only the models actor and that lives on another
         * provider (placement.c) */
        if (!rc && srv_call_binds_kv(c, cmd))
            rc = orbit_tx_kv_txn(x.tx, g_srv.kv, "orbit", "default", &x.txn);
        if (rc) {
            orbit_tx_rollback(x.tx);
            x.tx = NULL;
            x.txn = NULL;
            reply_store_error(&x, rc);
            break;
        }
        rc = cmd->fn(&x);
        if (rc >= 0 && x.wrote) {
            rc = orbit_tx_commit(x.tx);
        } else {
            orbit_tx_rollback(x.tx);
        }
        x.tx = NULL;
        x.txn = NULL;
        if (rc >= 0) {
            db_run_cleanup(&x);
            break;
        }
        db_drop_cleanup(&x);
        c->out.len = mark;
        if (rc == ORBIT_ECONFLICT && attempt + 1 < MAX_ATTEMPTS) {
            atomic_fetch_add(&g_srv.stats.conflicts_retried, 1);
            backoff(attempt);
            continue;
        }
        reply_store_error(&x, rc);
        break;
    }
    stripes_unlock(&ss);
    free(x.cleanup);
}

static void sanitize(char *dst, size_t cap, const uint8_t *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        dst[k++] = (p[i] == '\r' || p[i] == '\n') ? ' ' : (char)p[i];
    dst[k] = 0;
}

static int queue_command(srv_client *c, const srv_command *cmd, int argc, const srv_arg *argv)
{
    if (c->nqueue == c->capqueue) {
        size_t nc = c->capqueue ? c->capqueue * 2 : 8;
        srv_queued *q = realloc(c->queue, nc * sizeof *q);
        if (!q)
            return -1;
        c->queue = q;
        c->capqueue = nc;
    }
    size_t total = 0;
    for (int i = 0; i < argc; i++)
        total += argv[i].len;
    srv_queued *q = &c->queue[c->nqueue];
    q->cmd = cmd;
    q->argc = argc;
    q->argv = malloc((size_t)argc * sizeof *q->argv);
    q->blob = malloc(total ? total : 1);
    if (!q->argv || !q->blob) {
        free(q->argv);
        free(q->blob);
        return -1;
    }
    size_t off = 0;
    for (int i = 0; i < argc; i++) {
        if (argv[i].len)
            memcpy(q->blob + off, argv[i].data, argv[i].len);
        q->argv[i].data = q->blob + off;
        q->argv[i].len = argv[i].len;
        off += argv[i].len;
    }
    c->nqueue++;
    return 0;
}

void srv_client_reset_multi(srv_client *c)
{
    for (size_t i = 0; i < c->nqueue; i++) {
        free(c->queue[i].argv);
        free(c->queue[i].blob);
    }
    free(c->queue);
    c->queue = NULL;
    c->nqueue = c->capqueue = 0;
    for (size_t i = 0; i < c->nwatch; i++) {
        free(c->watches[i].key);
        orbit_buf_release(&c->watches[i].raw);
    }
    free(c->watches);
    c->watches = NULL;
    c->nwatch = 0;
    c->in_multi = 0;
    c->multi_error = 0;
    c->dirty_watch = 0;
}

void srv_dispatch(srv_client *c, int argc, const srv_arg *argv)
{
    srv_call x;
    if (argc <= 0)
        return;
    const srv_command *cmd = srv_command_lookup(argv[0].data, argv[0].len);
    call_init(&x, c, cmd, argc, argv);
    atomic_fetch_add(&g_srv.stats.commands_processed, 1);
    if (!cmd) {
        char name[129], args[160];
        size_t al = 0;
        sanitize(name, sizeof name, argv[0].data, argv[0].len);
        args[0] = 0;
        for (int i = 1; i < argc && al < 128; i++) {
            char one[130];
            sanitize(one, sizeof one, argv[i].data, argv[i].len > 128 - al ? 128 - al : argv[i].len);
            int k = snprintf(args + al, sizeof args - al, "'%s' ", one);
            if (k < 0 || (size_t)k >= sizeof args - al)
                break;
            al += (size_t)k;
        }
        if (c->in_multi)
            c->multi_error = 1;
        reply_error(&x, "unknown command '%s', with args beginning with: %s", name, args);
        return;
    }
    c->last_cmd = cmd->name;
    if ((cmd->arity > 0 && argc != cmd->arity) || argc < -cmd->arity) {
        if (c->in_multi)
            c->multi_error = 1;
        reply_error(&x, "wrong number of arguments for '%s' command", cmd->name);
        return;
    }
    if (g_srv.cfg.requirepass && g_srv.cfg.requirepass[0] && !c->authed &&
        !(cmd->flags & CMD_NOAUTH)) {
        if (c->in_multi)
            c->multi_error = 1;
        RESP_RAW(&c->out, "-NOAUTH Authentication required.\r\n");
        return;
    }
    if (c->in_multi && !(cmd->flags & CMD_NOMULTI)) {
        if (queue_command(c, cmd, argc, argv)) {
            c->multi_error = 1;
            reply_error(&x, "out of memory queueing the command");
            return;
        }
        RESP_RAW(&c->out, "+QUEUED\r\n");
        return;
    }
    if (g_srv.use_async && srv_async_try(c, cmd, argc, argv))
        return;
    uint64_t t0 = srv_metrics_now_ns();
    size_t mark = c->out.len;
    srv_execute(c, cmd, argc, argv);
    srv_metrics_observe(SRV_PROTO_RESP, cmd->name,
                        (cmd->flags & CMD_NOSTORE) ? NULL : g_srv.caps.name,
                        srv_metrics_now_ns() - t0,
                        !(c->out.len > mark && (c->out.data[mark] == '-' || c->out.data[mark] == '!')));
    if (cmd->flags & CMD_ENDMULTI)
        srv_client_reset_multi(c);
}
