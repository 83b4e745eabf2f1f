/*
 * Cross-model transactions (orbit/txn.h): binding to one store, isolation
 * mapping, commit checks, the deadline, listeners and the retry helper.
 *
 * An orbit_tx is a thin unit of work over one contract transaction
 * (orbit/kv.h): the models write into that transaction, and this file adds
 * what the contract does not know about: which store the work is bound to
 * (the first model call decides), the checks the models registered for
 * commit, the actors and models changed (for the listeners), and a failed
 * flag that keeps a half-done transaction from committing.
 *
 * Listeners live in one process-wide list guarded by a read-write lock:
 * commits notify under the read lock, so orbit_tx_unlisten (write lock)
 * returns only when no notification is running.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "orbit/provider.h"
#include "orbit/txn.h"

typedef struct tx_check {
    orbit_tx_check_fn fn;
    void *arg;
    void (*free_fn)(void *);
    uint8_t *key; /* dedup key (malloc'd) or NULL */
    size_t key_len;
} tx_check;

typedef struct tx_touch {
    char *type, *id;
    uint64_t ks;
    unsigned models;
} tx_touch;

struct orbit_tx {
    orbit_tx_opts opts;
    uint64_t begun_ns;
    orbit_kv *kv;       /* bound store, or NULL */
    orbit_txn *txn;     /* its contract transaction */
    char *bound_actor;  /* "type/id" of the actor that bound it, for errors */
    int failed;         /* an error left the transaction unusable */
    int fail_code;      /* the first such error, and its detail */
    char fail_detail[256];
    tx_check *checks;
    size_t nchecks, capchecks;
    tx_touch *touched;
    size_t ntouched, captouched;
};

/* Begin with the deadline counted from begun_ns (orbit_tx_run gives every
 * attempt the run's start, so the deadline bounds the run as a whole). */
static int tx_begin_at(const orbit_tx_opts *opts, uint64_t begun_ns, orbit_tx **out)
{
    *out = NULL;
    orbit_tx_opts o = {0};
    if (opts)
        o = *opts;
    if ((unsigned)o.isolation > ORBIT_TX_SERIALIZABLE)
        return orbit_error_set(ORBIT_EINVAL, "unknown transaction isolation level %d", (int)o.isolation);
    orbit_tx *tx = calloc(1, sizeof *tx);
    if (!tx)
        return ORBIT_ENOMEM;
    tx->opts = o;
    tx->begun_ns = begun_ns;
    *out = tx;
    return ORBIT_OK;
}

int orbit_tx_begin(const orbit_tx_opts *opts, orbit_tx **out)
{
    return tx_begin_at(opts, orbit__mono_ns(), out);
}

/* 1 once the transaction's deadline (opts.timeout_ms, 0: none) passed. */
static int past_deadline(const orbit_tx *tx)
{
    return tx->opts.timeout_ms &&
           orbit__mono_ns() - tx->begun_ns > tx->opts.timeout_ms * UINT64_C(1000000);
}

static void remember_failure(orbit_tx *tx, int code)
{
    if (tx->failed)
        return;
    tx->failed = 1;
    tx->fail_code = code;
    snprintf(tx->fail_detail, sizeof tx->fail_detail, "%s", orbit_last_error_detail());
}

/* Roll back, free, and return ECLOSED naming the first failure. */
static int refuse_failed(orbit_tx *tx, const char *what)
{
    char detail[sizeof tx->fail_detail];
    int code = tx->fail_code;
    memcpy(detail, tx->fail_detail, sizeof detail);
    orbit_tx_rollback(tx);
    return orbit_error_set(ORBIT_ECLOSED, "transaction failed earlier (%s%s%s)%s",
                           orbit_err_name(code), detail[0] ? ": " : "", detail, what);
}

orbit_kv *orbit_tx_store(const orbit_tx *tx) { return tx->kv; }

static const char *level_name(orbit_tx_isolation l)
{
    switch (l) {
    case ORBIT_TX_READ_COMMITTED: return "read committed";
    case ORBIT_TX_SERIALIZABLE: return "serializable";
    default: return "repeatable read";
    }
}

/* The levels in a capabilities mask, named for an error, into buf. */
static const char *levels_offered(unsigned mask, char *buf, size_t n)
{
    static const char *const names[] = {"repeatable read (snapshot)", "read committed",
                                        "serializable"};
    size_t used = 0;
    buf[0] = 0;
    for (unsigned l = 0; l < 3; l++) {
        if (!(mask & ORBIT_ISO_BIT(l)))
            continue;
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", names[l]);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
    return used ? buf : "none";
}

static orbit_isolation contract_level(orbit_tx_isolation l)
{
    switch (l) {
    case ORBIT_TX_READ_COMMITTED: return ORBIT_ISO_READ_COMMITTED;
    case ORBIT_TX_SERIALIZABLE: return ORBIT_ISO_SERIALIZABLE;
    default: return ORBIT_ISO_SNAPSHOT;
    }
}

static char *actor_label(const char *type, const char *id)
{
    if (!type)
        type = "?";
    if (!id)
        id = "?";
    size_t n = strlen(type) + strlen(id) + 2;
    char *s = malloc(n);
    if (s) {
        memcpy(s, type, strlen(type));
        s[strlen(type)] = '/';
        memcpy(s + strlen(type) + 1, id, strlen(id) + 1);
    }
    return s;
}

int orbit_tx_kv_txn(orbit_tx *tx, orbit_kv *kv, const char *actor_type, const char *actor_id,
                    orbit_txn **out)
{
    *out = NULL;
    if (!kv)
        return orbit_error_set(ORBIT_EINVAL, "transaction: no store");
    if (tx->failed)
        return orbit_error_set(ORBIT_ECLOSED, "transaction failed earlier (%s%s%s); roll it back",
                               orbit_err_name(tx->fail_code), tx->fail_detail[0] ? ": " : "",
                               tx->fail_detail);
    if (tx->kv) {
        if (tx->kv != kv) {
            /* The whole transaction is refused, not only this call: the
             * part already written to the bound store must not commit
             * without this one. */
            orbit_capabilities a, b;
            orbit_kv_capabilities(tx->kv, &a);
            orbit_kv_capabilities(kv, &b);
            int rc = orbit_error_set(
                ORBIT_ENOTSUP,
                "transaction spans providers: actor %s/%s is on a %s store, but the "
                "transaction is bound to another (%s) store by actor %s; atomic commit "
                "across providers is not supported yet, so the transaction is refused and "
                "nothing of it is written",
                actor_type ? actor_type : "?", actor_id ? actor_id : "?", b.name, a.name,
                tx->bound_actor ? tx->bound_actor : "?");
            remember_failure(tx, rc);
            return rc;
        }
        *out = tx->txn;
        return ORBIT_OK;
    }
    orbit_capabilities caps;
    orbit_kv_capabilities(kv, &caps);
    orbit_isolation lvl = contract_level(tx->opts.isolation);
    if (!caps.supports_transactions)
        return orbit_error_set(ORBIT_ENOTSUP, "%s has no transactions", caps.name);
    if (!(caps.isolation_levels & ORBIT_ISO_BIT(lvl))) {
        char offered[96];
        return orbit_error_set(ORBIT_ENOTSUP,
                               "%s isolation refused: the %s provider does not offer it (it "
                               "offers: %s); nothing was begun",
                               level_name(tx->opts.isolation), caps.name,
                               levels_offered(caps.isolation_levels, offered, sizeof offered));
    }
    orbit_txn_opts to = {0};
    to.isolation = lvl;
    int rc = orbit_kv_txn_begin(kv, &to, &tx->txn);
    if (rc)
        return rc;
    tx->kv = kv;
    tx->bound_actor = actor_label(actor_type, actor_id);
    *out = tx->txn;
    return ORBIT_OK;
}

int orbit_tx_touch(orbit_tx *tx, const char *actor_type, const char *actor_id, uint64_t keyspace,
                   orbit_model model)
{
    unsigned bit = 1u << (unsigned)model;
    for (size_t i = 0; i < tx->ntouched; i++) {
        tx_touch *t = &tx->touched[i];
        if (t->ks == keyspace && strcmp(t->type, actor_type) == 0 && strcmp(t->id, actor_id) == 0) {
            t->models |= bit;
            return ORBIT_OK;
        }
    }
    if (tx->ntouched == tx->captouched) {
        size_t cap = tx->captouched ? tx->captouched * 2 : 4;
        tx_touch *n = realloc(tx->touched, cap * sizeof *n);
        if (!n)
            return ORBIT_ENOMEM;
        tx->touched = n;
        tx->captouched = cap;
    }
    tx_touch *t = &tx->touched[tx->ntouched];
    t->type = strdup(actor_type);
    t->id = strdup(actor_id);
    if (!t->type || !t->id) {
        free(t->type);
        free(t->id);
        return ORBIT_ENOMEM;
    }
    t->ks = keyspace;
    t->models = bit;
    tx->ntouched++;
    return ORBIT_OK;
}

int orbit_tx_add_check(orbit_tx *tx, orbit_tx_check_fn fn, void *arg, void (*free_fn)(void *),
                       const void *key, size_t key_len)
{
    if (!fn) {
        if (free_fn)
            free_fn(arg);
        return orbit_error_set(ORBIT_EINVAL, "commit check is NULL");
    }
    if (key) {
        for (size_t i = 0; i < tx->nchecks; i++) {
            tx_check *c = &tx->checks[i];
            if (c->fn == fn && c->key && c->key_len == key_len &&
                (key_len == 0 || memcmp(c->key, key, key_len) == 0)) {
                if (free_fn)
                    free_fn(arg);
                return ORBIT_OK;
            }
        }
    }
    if (tx->nchecks == tx->capchecks) {
        size_t cap = tx->capchecks ? tx->capchecks * 2 : 8;
        tx_check *n = realloc(tx->checks, cap * sizeof *n);
        if (!n) {
            if (free_fn)
                free_fn(arg);
            return ORBIT_ENOMEM;
        }
        tx->checks = n;
        tx->capchecks = cap;
    }
    tx_check *c = &tx->checks[tx->nchecks];
    c->key = NULL;
    c->key_len = key_len;
    if (key) {
        c->key = malloc(key_len ? key_len : 1);
        if (!c->key) {
            if (free_fn)
                free_fn(arg);
            return ORBIT_ENOMEM;
        }
        if (key_len)
            memcpy(c->key, key, key_len);
    }
    c->fn = fn;
    c->arg = arg;
    c->free_fn = free_fn;
    tx->nchecks++;
    return ORBIT_OK;
}

void orbit_tx_fail(orbit_tx *tx, int code)
{
    if (tx && code < 0)
        remember_failure(tx, code);
}

static void tx_free(orbit_tx *tx)
{
    for (size_t i = 0; i < tx->nchecks; i++) {
        if (tx->checks[i].free_fn)
            tx->checks[i].free_fn(tx->checks[i].arg);
        free(tx->checks[i].key);
    }
    free(tx->checks);
    for (size_t i = 0; i < tx->ntouched; i++) {
        free(tx->touched[i].type);
        free(tx->touched[i].id);
    }
    free(tx->touched);
    free(tx->bound_actor);
    free(tx);
}

void orbit_tx_rollback(orbit_tx *tx)
{
    if (!tx)
        return;
    if (tx->txn)
        orbit_txn_rollback(tx->txn);
    tx_free(tx);
}

/* ---- listeners ------------------------------------------------------- */

typedef struct listener {
    uint64_t id;
    orbit_tx_listener_fn fn;
    void *arg;
} listener;

static pthread_rwlock_t lis_lock = PTHREAD_RWLOCK_INITIALIZER;
static listener *lis;
static size_t nlis, caplis;
static uint64_t next_lis_id = 1;

int orbit_tx_listen(orbit_tx_listener_fn fn, void *arg, uint64_t *id)
{
    if (!fn)
        return orbit_error_set(ORBIT_EINVAL, "listener is NULL");
    pthread_rwlock_wrlock(&lis_lock);
    if (nlis == caplis) {
        size_t cap = caplis ? caplis * 2 : 4;
        listener *n = realloc(lis, cap * sizeof *n);
        if (!n) {
            pthread_rwlock_unlock(&lis_lock);
            return ORBIT_ENOMEM;
        }
        lis = n;
        caplis = cap;
    }
    lis[nlis].id = next_lis_id++;
    lis[nlis].fn = fn;
    lis[nlis].arg = arg;
    if (id)
        *id = lis[nlis].id;
    nlis++;
    pthread_rwlock_unlock(&lis_lock);
    return ORBIT_OK;
}

int orbit_tx_unlisten(uint64_t id)
{
    int rc = ORBIT_NOTFOUND;
    pthread_rwlock_wrlock(&lis_lock);
    for (size_t i = 0; i < nlis; i++) {
        if (lis[i].id == id) {
            memmove(&lis[i], &lis[i + 1], (nlis - i - 1) * sizeof *lis);
            nlis--;
            rc = ORBIT_OK;
            break;
        }
    }
    if (nlis == 0) {
        free(lis);
        lis = NULL;
        caplis = 0;
    }
    pthread_rwlock_unlock(&lis_lock);
    return rc;
}

static void notify(const orbit_tx *tx, uint64_t version)
{
    if (tx->ntouched == 0)
        return;
    orbit_tx_change stackbuf[8];
    orbit_tx_change *ch = tx->ntouched <= 8 ? stackbuf : malloc(tx->ntouched * sizeof *ch);
    if (!ch)
        return; /* out of memory: the commit stands; listeners miss it */
    for (size_t i = 0; i < tx->ntouched; i++) {
        ch[i].actor_type = tx->touched[i].type;
        ch[i].actor_id = tx->touched[i].id;
        ch[i].keyspace = tx->touched[i].ks;
        ch[i].models = tx->touched[i].models;
    }
    pthread_rwlock_rdlock(&lis_lock);
    for (size_t i = 0; i < nlis; i++)
        lis[i].fn(lis[i].arg, ch, tx->ntouched, version);
    pthread_rwlock_unlock(&lis_lock);
    if (ch != stackbuf)
        free(ch);
}

/* ---- commit ---------------------------------------------------------- */

int orbit_tx_commit_version(orbit_tx *tx, uint64_t *version)
{
    if (version)
        *version = 0;
    if (!tx)
        return orbit_error_set(ORBIT_EINVAL, "transaction is NULL");
    if (tx->failed)
        return refuse_failed(tx, "; it was rolled back");
    if (!tx->txn) {
        tx_free(tx);
        return ORBIT_OK;
    }
    if (past_deadline(tx)) {
        uint64_t ms = tx->opts.timeout_ms;
        orbit_tx_rollback(tx);
        return orbit_error_set(ORBIT_ETIMEDOUT,
                               "transaction passed its %llu ms deadline before commit; rolled "
                               "back, nothing applied",
                               (unsigned long long)ms);
    }
    /* The checks, in the order added (tx->nchecks is read each round). */
    for (size_t i = 0; i < tx->nchecks; i++) {
        int rc = tx->checks[i].fn(tx->checks[i].arg, tx->txn);
        if (rc) {
            if (rc > 0) /* a check must fail with an error code */
                rc = orbit_error_set(ORBIT_EINTERNAL, "commit check %zu returned %d", i, rc);
            orbit_tx_rollback(tx);
            return rc;
        }
    }
    /* The checks read: the deadline is checked again before the commit. */
    if (past_deadline(tx)) {
        uint64_t ms = tx->opts.timeout_ms;
        orbit_tx_rollback(tx);
        return orbit_error_set(ORBIT_ETIMEDOUT,
                               "transaction passed its %llu ms deadline during its commit "
                               "checks; rolled back, nothing applied",
                               (unsigned long long)ms);
    }
    uint64_t v = 0;
    int rc = orbit_txn_commit_version(tx->txn, &v);
    tx->txn = NULL; /* the contract freed it, whatever the outcome */
    if (rc == ORBIT_OK) {
        notify(tx, v);
        if (version)
            *version = v;
    }
    tx_free(tx);
    return rc;
}

int orbit_tx_commit(orbit_tx *tx) { return orbit_tx_commit_version(tx, NULL); }

/* ---- running work in a transaction ----------------------------------- */

static void backoff(unsigned attempt)
{
    /* 1, 2, 4 ... ms, capped at 50 ms, with jitter from the clock. */
    unsigned ms = attempt < 6 ? 1u << attempt : 50u;
    if (ms > 50)
        ms = 50;
    long ns = (long)ms * 1000000L + (long)(orbit__mono_ns() % 1000000u);
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, NULL);
}

int orbit_tx_run(const orbit_tx_opts *opts, unsigned max_attempts, orbit_tx_fn fn, void *arg)
{
    if (!fn)
        return orbit_error_set(ORBIT_EINVAL, "transaction function is NULL");
    if (max_attempts == 0)
        max_attempts = 16;
    uint64_t start = orbit__mono_ns();
    uint64_t timeout_ms = opts ? opts->timeout_ms : 0;
    int rc = ORBIT_OK;
    for (unsigned attempt = 0; attempt < max_attempts; attempt++) {
        if (attempt) {
            backoff(attempt - 1);
            /* The deadline bounds the run: no attempt starts after it. */
            if (timeout_ms && orbit__mono_ns() - start > timeout_ms * UINT64_C(1000000))
                return orbit_error_set(ORBIT_ETIMEDOUT,
                                       "transaction passed its %llu ms deadline after %u "
                                       "attempts (last: %s)",
                                       (unsigned long long)timeout_ms, attempt,
                                       orbit_err_name(rc));
        }
        orbit_tx *tx;
        if ((rc = tx_begin_at(opts, start, &tx)))
            return rc;
        rc = fn(tx, arg);
        if (rc == ORBIT_OK && tx->failed && orbit_err_retryable(tx->fail_code))
            rc = tx->fail_code; /* fn went on after a model op conflicted */
        if (rc != ORBIT_OK) {
            orbit_tx_rollback(tx);
            if (rc < 0 && orbit_err_retryable(rc))
                continue;
            return rc;
        }
        rc = orbit_tx_commit(tx);
        /* ORBIT_EUNCERTAIN is not retryable (orbit_err_retryable): returned. */
        if (rc < 0 && orbit_err_retryable(rc))
            continue;
        return rc;
    }
    return rc;
}

/* Codes a model returns before its first write (orbit/txn.h). */
static int leaves_tx_usable(int rc)
{
    return rc >= 0 || rc == ORBIT_EINVAL || rc == ORBIT_EEXIST || rc == ORBIT_ECONSTRAINT;
}

int orbit_tx_auto(orbit_tx *tx, orbit_tx_fn fn, void *arg)
{
    if (!tx)
        return orbit_tx_run(NULL, 0, fn, arg);
    int rc = fn(tx, arg);
    if (!leaves_tx_usable(rc))
        orbit_tx_fail(tx, rc);
    return rc;
}
