/*
 * Transactions (Redis's multi.c): MULTI, EXEC, DISCARD, WATCH, UNWATCH.
 *
 * MULTI queues commands (commands.c copies their arguments); EXEC runs
 * them all inside the one contract transaction the dispatcher opens for
 * it (EXEC is CMD_WRITE), so the block commits atomically on the provider
 * or not at all, and a conflict reruns the whole block (nothing of a
 * failed attempt was applied). A queued command's own error (WRONGTYPE,
 * a bad argument) is its reply inside EXEC's array, as in Redis; a store
 * error fails the whole EXEC with nothing applied.
 *
 * WATCH records each key's stored metadata record (its bytes, which carry
 * the time of the last write, or its absence). EXEC re-reads each watched
 * key inside its transaction with get-for-update and aborts (a null
 * reply, nothing applied) if any differs; reading for update makes a
 * change committed after that read conflict with EXEC's commit, so the
 * check and the block are one atomic step. A queued FLUSHDB is part of the
 * block's transaction too (range deletes in it, t_server.c): it commits
 * with the rest of the block or not at all.
 */
#include <stdlib.h>
#include <string.h>

#include "orbit/codec.h"
#include "server/db.h"
#include "server/server.h"

static int cmd_multi(srv_call *x)
{
    if (x->c->in_multi) {
        reply_error(x, "MULTI calls can not be nested");
        return 0;
    }
    x->c->in_multi = 1;
    reply_ok(x);
    return 0;
}

static int cmd_discard(srv_call *x)
{
    if (!x->c->in_multi) {
        reply_error(x, "DISCARD without MULTI");
        return 0;
    }
    reply_ok(x); /* the dispatcher ends the MULTI state (CMD_ENDMULTI) */
    return 0;
}

/* The raw metadata record of k, read in x's transaction or at the latest. */
static int read_raw(srv_call *x, const uint8_t *k, size_t kl, int for_update, orbit_buf *raw,
                    int *present)
{
    orbit_buf key = ORBIT_BUF_INIT;
    int rc = db_meta_key(&key, k, kl);
    if (!rc) {
        if (x->txn)
            rc = for_update ? orbit_txn_get_for_update(x->txn, key.data, key.len, raw)
                            : orbit_txn_get(x->txn, key.data, key.len, raw);
        else
            rc = orbit_kv_get(g_srv.kv, NULL, key.data, key.len, raw);
    }
    orbit_buf_release(&key);
    if (rc == ORBIT_NOTFOUND) {
        *present = 0;
        raw->len = 0;
        return 0;
    }
    if (rc == 0)
        *present = 1;
    return rc;
}

static int cmd_watch(srv_call *x)
{
    srv_client *c = x->c;
    if (c->in_multi) {
        reply_error(x, "WATCH inside MULTI is not allowed");
        return 0;
    }
    for (int i = 1; i < x->argc; i++) {
        if (c->nwatch >= SRV_MAX_WATCH) {
            reply_error(x, "too many watched keys (at most %d)", SRV_MAX_WATCH);
            return 0;
        }
        size_t dup = 0;
        for (; dup < c->nwatch; dup++)
            if (c->watches[dup].klen == x->argv[i].len &&
                !memcmp(c->watches[dup].key, x->argv[i].data, x->argv[i].len))
                break;
        if (dup < c->nwatch)
            continue;
        srv_watch *w = realloc(c->watches, (c->nwatch + 1) * sizeof *w);
        if (!w)
            return ORBIT_ENOMEM;
        c->watches = w;
        w = &c->watches[c->nwatch];
        memset(w, 0, sizeof *w);
        w->key = malloc(x->argv[i].len ? x->argv[i].len : 1);
        if (!w->key)
            return ORBIT_ENOMEM;
        memcpy(w->key, x->argv[i].data, x->argv[i].len);
        w->klen = x->argv[i].len;
        int rc = read_raw(x, w->key, w->klen, 0, &w->raw, &w->present);
        if (rc) {
            free(w->key);
            orbit_buf_release(&w->raw);
            return rc;
        }
        c->nwatch++;
    }
    reply_ok(x);
    return 0;
}

static int cmd_unwatch(srv_call *x)
{
    srv_client *c = x->c;
    for (size_t i = 0; i < c->nwatch; i++) {
        free(c->watches[i].key);
        orbit_buf_release(&c->watches[i].raw);
    }
    free(c->watches);
    c->watches = NULL;
    c->nwatch = 0;
    reply_ok(x);
    return 0;
}

static int cmd_exec(srv_call *x)
{
    srv_client *c = x->c;
    if (!c->in_multi) {
        reply_error(x, "EXEC without MULTI");
        return 0;
    }
    if (c->multi_error) {
        RESP_RAW(x->out, "-EXECABORT Transaction discarded because of previous errors.\r\n");
        return 0;
    }
    orbit_buf now = ORBIT_BUF_INIT;
    for (size_t i = 0; i < c->nwatch; i++) {
        int present = 0;
        int rc = read_raw(x, c->watches[i].key, c->watches[i].klen, 1, &now, &present);
        if (rc) {
            orbit_buf_release(&now);
            return rc;
        }
        if (present != c->watches[i].present ||
            (present && (now.len != c->watches[i].raw.len ||
                         memcmp(now.data, c->watches[i].raw.data, now.len)))) {
            orbit_buf_release(&now);
            reply_null_array(x);
            return 0;
        }
    }
    orbit_buf_release(&now);
    reply_array(x, (long long)c->nqueue);
    const srv_command *self = x->cmd;
    int argc = x->argc;
    const srv_arg *argv = x->argv;
    int rc = 0;
    for (size_t i = 0; i < c->nqueue && rc >= 0; i++) {
        x->cmd = c->queue[i].cmd;
        x->argc = c->queue[i].argc;
        x->argv = c->queue[i].argv;
        rc = x->cmd->fn(x);
    }
    x->cmd = self;
    x->argc = argc;
    x->argv = argv;
    return rc < 0 ? rc : 0;
}

#define M (CMD_NOMULTI | CMD_NOSTORE | CMD_FAST)

const srv_command srv_multi_commands[] = {
    {"multi", cmd_multi, 1, M, 0, 0, 0, "transactions", "Start a transaction block", "", NULL},
    {"exec", cmd_exec, 1, CMD_WRITE | CMD_NOMULTI | CMD_ENDMULTI, 0, 0, 0, "transactions",
     "Run the queued commands as one transaction", "", NULL},
    {"discard", cmd_discard, 1, M | CMD_ENDMULTI, 0, 0, 0, "transactions",
     "Discard the queued commands", "", NULL},
    {"watch", cmd_watch, -2, CMD_NOMULTI | CMD_READONLY | CMD_FAST, 1, -1, 1, "transactions",
     "Abort the next EXEC if these keys change", "key [key ...]", NULL},
    {"unwatch", cmd_unwatch, 1, M, 0, 0, 0, "transactions", "Forget the watched keys", "",
     NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL},
};
