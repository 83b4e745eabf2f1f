/*
 * Transactions of the TiKV provider in txn mode (the default): snapshot
 * reads at a PD timestamp, Percolator two-phase commit, pessimistic locks,
 * async commit and 1PC, and lock resolution, as client-go runs them
 * (docs/ARCHITECTURE.md, "TiKV transactions"; the algorithms are in the
 * shared TIKV_PROTOCOL fact sheet, sections 3.2-3.7).
 *
 * Layers: this file sits on the client layer of the provider (tikv_int.h:
 * PD timestamps, the region cache and the region-routed send that handles
 * region errors). It never speaks to PD or a store directly; every request
 * here goes to the leader of the region holding its first key, and a
 * request whose keys no longer sit in one region (a split) is regrouped and
 * resent (run_action).
 *
 * A transaction:
 *   begin     start_ts = one TSO, registered with the GC registry so the
 *             safe point never passes it.
 *   reads     KvGet / KvBatchGet (grouped by region, in parallel) / KvScan
 *             (windows of regions in parallel, forward or reverse) at start_ts (SNAPSHOT)
 *             or at a fresh TSO per read (READ_COMMITTED), overlaid by the
 *             transaction's own writes (txn_buf.c). A lock met on the way
 *             is resolved (below) and the read is redone.
 *   writes    buffered. Pessimistic transactions (the provider's txn mode)
 *             also take a PessimisticLock on every key they write or read
 *             for update, at the call, waiting for other transactions'
 *             locks; the first locked key is the primary. Optimistic ones
 *             record a read for update as an Op Lock mutation.
 *   commit    the buffer becomes sorted mutations. The primary is the first
 *             key (optimistic) or the first locked key (pessimistic). Then:
 *             1PC       every mutation in one region and one request: one
 *                       prewrite with try_one_pc, committed by the store
 *                       (one round trip). one_pc_commit_ts 0: the store
 *                       fell back, the locks are written, go on as 2PC.
 *             async     at most 256 keys and 4 KiB of keys: prewrite with
 *                       use_async_commit (the primary's batch carries the
 *                       secondaries); the transaction is committed once
 *                       every prewrite succeeded, at the largest
 *                       min_commit_ts returned; the commit requests run in
 *                       the background. A batch answering min_commit_ts 0
 *                       (the store refused) makes it a 2PC commit.
 *             2PC       prewrite (primary's batch first, the rest in
 *                       parallel), commit_ts = a fresh TSO, commit the
 *                       primary alone (the commit point), then the
 *                       secondaries in parallel, whose failures no longer
 *                       matter (a reader resolves what is left).
 *             A failure before the commit point rolls back every key that
 *             may hold a lock (KvBatchRollback; KVPessimisticRollback for
 *             locks of a pessimistic transaction that never prewrote).
 *   rollback  releases pessimistic locks; nothing else was sent.
 *
 * Lock resolution (resolve_locks): CheckTxnStatus on the lock's primary;
 * committed or rolled back: ResolveLock the key (KVPessimisticRollback for
 * a pessimistic lock); alive: a reader may ignore it when the store pushed
 * its min_commit_ts past the reader (resolved_locks), else wait (back off
 * up to the lock's remaining TTL) and retry; expired async-commit primary:
 * CheckSecondaryLocks over its secondaries decides (all locked: committed
 * at the largest min_commit_ts; any missing: the response's commit_ts, 0 =
 * rolled back), then ResolveLock every key. Pessimistic and long
 * transactions keep their primary lock alive with TxnHeartBeat (one shared
 * thread, started while any transaction needs it).
 *
 * Keys read for update and not written ("claims") are guarded while the
 * transaction commits but leave no Lock record behind (a committed Lock
 * record would make every writer that started before it conflict on a key
 * nobody changed): optimistic claims are prewritten as Op::Lock and rolled
 * back after the 2PC commit point (such a transaction uses neither 1PC nor
 * async commit, and its primary is a written key); pessimistic claims are
 * not prewritten at all, their pessimistic locks are released after the
 * commit (the prewrite primary is then a written key).
 *
 * Namespaces (namespace=PREFIX): user key k is stored as PREFIX || k; scans
 * are clipped to the prefix and hand keys out without it. Everything below
 * the entry points (buffer, locks, resolution) works on stored keys.
 *
 * Errors: WriteConflict and a deadlock are ORBIT_ECONFLICT. A writer waits
 * at most LOCK_WAIT_MS (1 s, RocksDB's lock timeout) for another live
 * transaction's lock: then a plain write fails with ORBIT_EBUSY and a
 * transaction's write or commit with ORBIT_ECONFLICT; a reader waits up to
 * its deadline (then ORBIT_ECONFLICT). A prewrite whose answer was lost,
 * 1PC and async commit ones included, is resent with the same start_ts
 * (is_retry_request set) within the operation's deadline, as client-go
 * does: TiKV answers it idempotently, so a resend's answer is the
 * outcome (committed: OK at the commit ts it reports; rolled back by a
 * resolver: WriteConflict SelfRolledBack, ORBIT_ECONFLICT after rolling
 * back the rest). A 1PC resend that a split cut into parts reads the
 * outcome from the primary (CheckTxnStatus). Only when no resend is
 * answered before the deadline is a 1PC or async-commit prewrite
 * ORBIT_EUNCERTAIN (a 2PC one is rolled back: ORBIT_EUNAVAIL). A primary
 * commit whose answer was lost is ORBIT_EUNCERTAIN; TxnLockNotFound on the
 * primary commit means another client rolled the transaction back:
 * ORBIT_ECONFLICT. A secondary failure
 * after the commit point is not reported. The transaction's commit_ts is
 * its contract version.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "kvrpcpb.pb-c.h"
#include "providers/tikv/tikv_int.h"
#include "providers/tikv/txn_test.h"

/* ---- limits (TIKV_PROTOCOL 4.5; client-go's defaults) ------------------- */

#define TXN_BATCH_BYTES (16u * 1024)        /* TxnCommitBatchSize */
#define ONE_PC_MAX_BYTES (1024u * 1024)     /* one request carries a 1PC txn */
#define ASYNC_MAX_KEYS 256                  /* async commit eligibility */
#define ASYNC_MAX_KEY_BYTES 4096
#define MAX_KEY_SIZE 8192                   /* TiKV storage.max-key-size */
#define MAX_ENTRY_SIZE (6u * 1024 * 1024)   /* txn-entry-size-limit */
#define MAX_TXN_BYTES (100u * 1024 * 1024)  /* txn-total-size-limit */
#define DEFAULT_LOCK_TTL 3000u
#define MAX_LOCK_TTL 20000u
#define MANAGED_LOCK_TTL 20000u             /* pessimistic / heartbeated locks */
#define HEARTBEAT_MS 10000u                 /* ManagedLockTTL / 2 */
#define HEARTBEAT_BYTES (32u * 1024 * 1024) /* optimistic txns this big beat */
#define SCAN_BATCH 256u
#define LOCK_WAIT_MS 1000u /* a writer waits this long for a live lock (RocksDB's default) */
#define PARALLEL_MAX 16

atomic_int orbit__tikv_txn_test_stop_after_prewrite;
atomic_uint orbit__tikv_txn_test_lock_ttl_ms;
atomic_int orbit__tikv_txn_test_hold_background;
atomic_uint orbit__tikv_txn_test_heartbeat_ms;

static uint64_t heartbeat_ms(void)
{
    unsigned h = atomic_load(&orbit__tikv_txn_test_heartbeat_ms);
    return h ? h : HEARTBEAT_MS;
}

static atomic_uint_fast64_t st_one_pc, st_async, st_two_pc, st_fallbacks, st_res_commit, st_res_rollback,
    st_lock_waits, st_heartbeats;

void orbit__tikv_txn_stats_get(orbit__tikv_txn_stats *o)
{
    o->one_pc = atomic_load(&st_one_pc);
    o->async_commit = atomic_load(&st_async);
    o->two_pc = atomic_load(&st_two_pc);
    o->fallbacks = atomic_load(&st_fallbacks);
    o->resolved_committed = atomic_load(&st_res_commit);
    o->resolved_rolled_back = atomic_load(&st_res_rollback);
    o->lock_waits = atomic_load(&st_lock_waits);
    o->heartbeats = atomic_load(&st_heartbeats);
}

/* ---- small helpers ----------------------------------------------------- */

static uint64_t now_ms(void)
{
    return orbit__mono_ns() / 1000000u;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

/* ---- the namespace (namespace=PREFIX): user key k is stored as ns || k -- */

/* The stored form of user key k: k itself without a namespace, else ns || k
 * built in b. *out / *ol point at it (into k or b). 0 or ORBIT_ENOMEM. */
static int skey(const tikv *t, const uint8_t *k, size_t kl, orbit_buf *b, const uint8_t **out, size_t *ol)
{
    if (!t->o.nslen) {
        *out = k;
        *ol = kl;
        return ORBIT_OK;
    }
    b->len = 0;
    if (orbit_buf_append(b, t->o.ns, t->o.nslen) || orbit_buf_append(b, k, kl))
        return ORBIT_ENOMEM;
    *out = b->data;
    *ol = b->len;
    return ORBIT_OK;
}

/* Stored copies of keys[0..n) (malloc'd array and buffers; free with
 * skeys_free). Without a namespace *out is keys itself. */
static int skeys(const tikv *t, size_t n, const orbit_slice *keys, const orbit_slice **out, orbit_slice **own,
                 orbit_buf **bufs)
{
    *own = NULL;
    *bufs = NULL;
    if (!t->o.nslen) {
        *out = keys;
        return ORBIT_OK;
    }
    orbit_slice *s = calloc(n ? n : 1, sizeof *s);
    orbit_buf *b = calloc(n ? n : 1, sizeof *b);
    if (!s || !b) {
        free(s);
        free(b);
        return ORBIT_ENOMEM;
    }
    *own = s;
    *bufs = b;
    for (size_t i = 0; i < n; i++)
        if (skey(t, keys[i].data, keys[i].len, &b[i], &s[i].data, &s[i].len))
            return ORBIT_ENOMEM;
    *out = s;
    return ORBIT_OK;
}

static void skeys_free(size_t n, orbit_slice *own, orbit_buf *bufs)
{
    if (bufs)
        for (size_t i = 0; i < n; i++)
            orbit_buf_release(&bufs[i]);
    free(bufs);
    free(own);
}

static ProtobufCBinaryData bin(const uint8_t *p, size_t n)
{
    ProtobufCBinaryData b = {n, (uint8_t *)(n ? p : NULL)};
    return b;
}

/* A printable prefix of a key, for error details. */
static const char *key_text(const uint8_t *k, size_t kl, char out[64])
{
    size_t o = 0;
    for (size_t i = 0; i < kl && o < 56; i++) {
        unsigned c = k[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char)c;
        } else {
            static const char hx[] = "0123456789abcdef";
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hx[c >> 4];
            out[o++] = hx[c & 15];
        }
    }
    if (kl && o >= 56)
        out[o++] = '.', out[o++] = '.';
    out[o] = 0;
    return out;
}

/* Pack any protobuf-c message into out (contents replaced). */
static int pack_msg(const ProtobufCMessage *m, orbit_buf *out)
{
    size_t sz = protobuf_c_message_get_packed_size(m);
    out->len = 0;
    if (orbit_buf_reserve(out, sz ? sz : 1))
        return ORBIT_ENOMEM;
    out->len = protobuf_c_message_pack(m, out->data);
    return ORBIT_OK;
}

/* The lock TTL (ms) to ask for: base plus the time since the transaction
 * began, since TiKV counts a TTL from start_ts (the test hook overrides). */
static uint64_t lock_ttl(uint64_t begin_ms, uint64_t base)
{
    unsigned hook = atomic_load(&orbit__tikv_txn_test_lock_ttl_ms);
    return (hook ? hook : base) + (now_ms() - begin_ms);
}

/* client-go's TTL for a write set of `bytes`: 3 s, or 6 s * sqrt(MiB) for
 * 16 KiB and more, within [3 s, 20 s]. */
static uint64_t ttl_for_size(size_t bytes)
{
    if (bytes < TXN_BATCH_BYTES)
        return DEFAULT_LOCK_TTL;
    double t = 6000.0 * sqrt((double)bytes / (1024.0 * 1024.0));
    if (t < DEFAULT_LOCK_TTL)
        t = DEFAULT_LOCK_TTL;
    if (t > MAX_LOCK_TTL)
        t = MAX_LOCK_TTL;
    return (uint64_t)t;
}

/* ---- per-store state (tikv.txn_priv) -------------------------------------- */

typedef struct hb_entry hb_entry;
struct hb_entry {
    tikv *t;
    uint8_t *primary; /* owned */
    size_t pl;
    uint64_t start_ts;
    uint64_t begin_ms;
    uint64_t next_ms;
    int busy; /* the heartbeat thread is sending for it */
    hb_entry *next;
};

#define STATUS_CACHE 256

typedef struct txn_priv {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t bg_inflight; /* background commits running */
    /* heartbeats */
    hb_entry *hb;
    pthread_t hb_thread;
    int hb_started, hb_stop;
    /* final statuses of transactions this store resolved: start_ts ->
     * commit_ts (0: rolled back) */
    struct {
        uint64_t start, commit;
    } cache[STATUS_CACHE];
    size_t cache_next;
} txn_priv;

static txn_priv *priv(tikv *t)
{
    return t->txn_priv;
}

int orbit__tikv_txn_open(tikv *t)
{
    txn_priv *p = calloc(1, sizeof *p);
    if (!p)
        return ORBIT_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    t->txn_priv = p;
    return ORBIT_OK;
}

void orbit__tikv_txn_close(tikv *t)
{
    txn_priv *p = t->txn_priv;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    /* Background commits finish (each bounded by its deadline) before the
     * transport they use goes away. */
    while (p->bg_inflight)
        pthread_cond_wait(&p->cv, &p->mu);
    p->hb_stop = 1;
    pthread_cond_broadcast(&p->cv);
    int started = p->hb_started;
    pthread_mutex_unlock(&p->mu);
    if (started)
        pthread_join(p->hb_thread, NULL);
    /* Every transaction is finished before close, so no entry is left; free
     * any anyway. */
    while (p->hb) {
        hb_entry *e = p->hb;
        p->hb = e->next;
        free(e->primary);
        free(e);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
    t->txn_priv = NULL;
}

static int status_cached(tikv *t, uint64_t start, uint64_t *commit)
{
    txn_priv *p = priv(t);
    int hit = 0;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < STATUS_CACHE; i++)
        if (p->cache[i].start == start) {
            *commit = p->cache[i].commit;
            hit = 1;
            break;
        }
    pthread_mutex_unlock(&p->mu);
    return hit;
}

static void status_remember(tikv *t, uint64_t start, uint64_t commit)
{
    txn_priv *p = priv(t);
    pthread_mutex_lock(&p->mu);
    p->cache[p->cache_next].start = start;
    p->cache[p->cache_next].commit = commit;
    p->cache_next = (p->cache_next + 1) % STATUS_CACHE;
    pthread_mutex_unlock(&p->mu);
}

/* ---- KeyError ----------------------------------------------------------- */

/* A lock met by a request, copied out of its response. */
typedef struct tk_lock {
    uint8_t *primary;
    size_t pl;
    uint8_t *key;
    size_t kl;
    uint64_t ts, ttl, for_update_ts, min_commit_ts, txn_size;
    int type; /* Kvrpcpb__Op */
    int async;
    uint8_t **sec; /* async-commit primary: the secondaries */
    size_t *secl;
    size_t nsec;
} tk_lock;

typedef struct lock_list {
    tk_lock *l;
    size_t n, cap;
} lock_list;

static void lock_release(tk_lock *l)
{
    free(l->primary);
    free(l->key);
    for (size_t i = 0; i < l->nsec; i++)
        free(l->sec[i]);
    free(l->sec);
    free(l->secl);
    memset(l, 0, sizeof *l);
}

static void locks_clear(lock_list *ll)
{
    for (size_t i = 0; i < ll->n; i++)
        lock_release(&ll->l[i]);
    ll->n = 0;
}

static void locks_free(lock_list *ll)
{
    locks_clear(ll);
    free(ll->l);
    ll->l = NULL;
    ll->cap = 0;
}

static int lock_copy(tk_lock *d, const Kvrpcpb__LockInfo *li)
{
    memset(d, 0, sizeof *d);
    d->primary = dup_bytes(li->primary_lock.data, li->primary_lock.len);
    d->pl = li->primary_lock.len;
    d->key = dup_bytes(li->key.data, li->key.len);
    d->kl = li->key.len;
    d->ts = li->lock_version;
    d->ttl = li->lock_ttl;
    d->for_update_ts = li->lock_for_update_ts;
    d->min_commit_ts = li->min_commit_ts;
    d->txn_size = li->txn_size;
    d->type = li->lock_type;
    d->async = li->use_async_commit;
    if (!d->primary || !d->key)
        goto oom;
    if (li->n_secondaries) {
        d->sec = calloc(li->n_secondaries, sizeof *d->sec);
        d->secl = calloc(li->n_secondaries, sizeof *d->secl);
        if (!d->sec || !d->secl)
            goto oom;
        for (size_t i = 0; i < li->n_secondaries; i++) {
            if (!(d->sec[i] = dup_bytes(li->secondaries[i].data, li->secondaries[i].len)))
                goto oom;
            d->secl[i] = li->secondaries[i].len;
            d->nsec++;
        }
    }
    return ORBIT_OK;
oom:
    lock_release(d);
    return ORBIT_ENOMEM;
}

static int locks_add(lock_list *ll, const Kvrpcpb__LockInfo *li)
{
    if (ll->n == ll->cap) {
        size_t cap = ll->cap ? ll->cap * 2 : 4;
        tk_lock *nl = realloc(ll->l, cap * sizeof *nl);
        if (!nl)
            return ORBIT_ENOMEM;
        ll->l = nl;
        ll->cap = cap;
    }
    int rc = lock_copy(&ll->l[ll->n], li);
    if (!rc)
        ll->n++;
    return rc;
}

/* A KeyError other than `locked`, as an Orbit code with a detail. */
static int key_error_rc(const Kvrpcpb__KeyError *e, const char *what)
{
    char kb[64];
    if (e->conflict) {
        const Kvrpcpb__WriteConflict *c = e->conflict;
        if (c->reason == KVRPCPB__WRITE_CONFLICT__REASON__SelfRolledBack)
            return orbit_error_set(ORBIT_ECONFLICT,
                                   "tikv: %s: key '%s': this transaction (%llu) was rolled back by another "
                                   "client (its rollback record is there)",
                                   what, key_text(c->key.data, c->key.len, kb), (unsigned long long)c->start_ts);
        return orbit_error_set(ORBIT_ECONFLICT,
                               "tikv: %s: write conflict on key '%s' (this txn started at %llu; "
                               "txn %llu committed at %llu)",
                               what, key_text(c->key.data, c->key.len, kb), (unsigned long long)c->start_ts,
                               (unsigned long long)c->conflict_ts, (unsigned long long)c->conflict_commit_ts);
    }
    if (e->deadlock)
        return orbit_error_set(ORBIT_ECONFLICT, "tikv: %s: deadlock with txn %llu on key '%s'", what,
                               (unsigned long long)e->deadlock->lock_ts,
                               key_text(e->deadlock->lock_key.data, e->deadlock->lock_key.len, kb));
    if (e->txn_lock_not_found)
        return orbit_error_set(ORBIT_ECONFLICT,
                               "tikv: %s: the transaction's lock on '%s' is gone: another client rolled "
                               "it back",
                               what, key_text(e->txn_lock_not_found->key.data, e->txn_lock_not_found->key.len, kb));
    if (e->already_exist)
        return orbit_error_set(ORBIT_EEXIST, "tikv: %s: key '%s' already exists", what,
                               key_text(e->already_exist->key.data, e->already_exist->key.len, kb));
    if (e->commit_ts_too_large)
        return orbit_error_set(ORBIT_EIO, "tikv: %s: commit ts %llu too large", what,
                               (unsigned long long)e->commit_ts_too_large->commit_ts);
    if (e->assertion_failed)
        return orbit_error_set(ORBIT_EIO, "tikv: %s: assertion failed on key '%s'", what,
                               key_text(e->assertion_failed->key.data, e->assertion_failed->key.len, kb));
    if (e->txn_not_found)
        return orbit_error_set(ORBIT_ECONFLICT, "tikv: %s: transaction %llu not found", what,
                               (unsigned long long)e->txn_not_found->start_ts);
    if (e->retryable && e->retryable[0])
        return orbit_error_set(ORBIT_ECONFLICT, "tikv: %s: %s", what, e->retryable);
    if (e->abort && e->abort[0]) {
        int code = (strstr(e->abort, "too large") || strstr(e->abort, "TooLarge")) ? ORBIT_ETOOBIG : ORBIT_EIO;
        return orbit_error_set(code, "tikv: %s: %s", what, e->abort);
    }
    return orbit_error_set(ORBIT_EPROTO, "tikv: %s: unrecognised key error", what);
}

/* Return `code` with the current detail prefixed by `what` (the detail is
 * copied first: orbit_error_set writes the buffer it lives in). */
static int rewrap(int code, const char *what)
{
    char d[384];
    snprintf(d, sizeof d, "%s", orbit_last_error_detail());
    return orbit_error_set(code, "tikv: %s: %s", what, d);
}

static int decode_fail(const char *what)
{
    return orbit_error_set(ORBIT_EPROTO, "tikv: cannot decode the %s response", what);
}

/* ---- lock resolution (TIKV_PROTOCOL 3.7) --------------------------------- */

enum { ST_LOCKED, ST_COMMITTED, ST_ROLLED_BACK, ST_NOT_FOUND, ST_MISMATCH };

typedef struct txn_status {
    int state;
    uint64_t commit_ts; /* ST_COMMITTED */
    uint64_t ttl;       /* ST_LOCKED: the primary lock's TTL */
    int action;
    int have_lock;
    tk_lock lock; /* ST_LOCKED: the primary lock, when the store sent it */
} txn_status;

typedef struct cts_arg {
    const uint8_t *primary;
    size_t pl;
    uint64_t lock_ts, caller_ts, current_ts;
    int rollback_if_not_exist, resolving_pessimistic, force_sync;
    txn_status *out;
} cts_arg;

static int cts_build(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req)
{
    (void)task;
    cts_arg *a = arg;
    Kvrpcpb__CheckTxnStatusRequest r = KVRPCPB__CHECK_TXN_STATUS_REQUEST__INIT;
    r.context = ctx;
    r.primary_key = bin(a->primary, a->pl);
    r.lock_ts = a->lock_ts;
    r.caller_start_ts = a->caller_ts;
    r.current_ts = a->current_ts;
    r.rollback_if_not_exist = a->rollback_if_not_exist;
    r.force_sync_commit = a->force_sync;
    r.resolving_pessimistic_lock = a->resolving_pessimistic;
    r.verify_is_primary = 1;
    return pack_msg(&r.base, req);
}

static int cts_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    (void)task;
    cts_arg *a = arg;
    Kvrpcpb__CheckTxnStatusResponse *r = kvrpcpb__check_txn_status_response__unpack(NULL, len, resp);
    if (!r)
        return decode_fail("CheckTxnStatus");
    int rc = ORBIT_OK;
    txn_status *o = a->out;
    memset(o, 0, sizeof *o);
    if (r->error) {
        if (r->error->txn_not_found)
            o->state = ST_NOT_FOUND;
        else if (r->error->primary_mismatch)
            o->state = ST_MISMATCH;
        else
            rc = key_error_rc(r->error, "check the status of a lock's transaction");
    } else if (r->commit_version) {
        o->state = ST_COMMITTED;
        o->commit_ts = r->commit_version;
    } else if (r->lock_ttl) {
        o->state = ST_LOCKED;
        o->ttl = r->lock_ttl;
        o->action = r->action;
        if (r->lock_info) {
            rc = lock_copy(&o->lock, r->lock_info);
            o->have_lock = rc == ORBIT_OK;
        }
    } else {
        o->state = ST_ROLLED_BACK;
        o->action = r->action;
    }
    kvrpcpb__check_txn_status_response__free_unpacked(r, NULL);
    return rc;
}

static int check_txn_status(tikv *t, tikv_bo *bo, cts_arg *a)
{
    tikv_call c = {TIKV_M_KV_CHECK_TXN_STATUS, TIKV_RPC_KV_CHECK_TXN_STATUS, TIKV_CALL_WRITE | TIKV_CALL_RESEND,
                   cts_build, cts_handle, a, 0, 0, NULL};
    return orbit__tikv_send_key(t, bo, a->primary, a->pl, &c);
}

/* ResolveLock / KVPessimisticRollback / KvBatchRollback / KvCommit of a
 * key list: one request per region, errors reported. */
typedef struct keys_arg {
    const orbit_slice *keys;
    uint64_t start_ts, commit_ts, for_update_ts;
    int async;
    int primary_role; /* KvCommit: 1 primary, 2 secondary */
    const uint8_t *primary;
    size_t pl;
    int kind; /* which request */
    const char *what;
    uint64_t min_commit_ts; /* KvCommit: a CommitTsExpired answer's bound */
} keys_arg;

enum { KA_RESOLVE, KA_PROLLBACK, KA_ROLLBACK, KA_COMMIT };

/* Fill an array of ProtobufCBinaryData for the task's keys (malloc'd). */
static ProtobufCBinaryData *task_keys(const orbit_slice *keys, const tikv_task *task)
{
    ProtobufCBinaryData *b = malloc((task->n ? task->n : 1) * sizeof *b);
    if (b)
        for (size_t i = 0; i < task->n; i++)
            b[i] = bin(keys[task->idx[i]].data, keys[task->idx[i]].len);
    return b;
}

static int keys_build(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req)
{
    keys_arg *a = arg;
    ProtobufCBinaryData *kb = task_keys(a->keys, task);
    if (!kb)
        return ORBIT_ENOMEM;
    int rc;
    switch (a->kind) {
    case KA_RESOLVE: {
        Kvrpcpb__ResolveLockRequest r = KVRPCPB__RESOLVE_LOCK_REQUEST__INIT;
        r.context = ctx;
        r.start_version = a->start_ts;
        r.commit_version = a->commit_ts;
        r.n_keys = task->n;
        r.keys = kb;
        r.is_async = a->async;
        rc = pack_msg(&r.base, req);
        break;
    }
    case KA_PROLLBACK: {
        Kvrpcpb__PessimisticRollbackRequest r = KVRPCPB__PESSIMISTIC_ROLLBACK_REQUEST__INIT;
        r.context = ctx;
        r.start_version = a->start_ts;
        r.for_update_ts = a->for_update_ts;
        r.n_keys = task->n;
        r.keys = kb;
        rc = pack_msg(&r.base, req);
        break;
    }
    case KA_ROLLBACK: {
        Kvrpcpb__BatchRollbackRequest r = KVRPCPB__BATCH_ROLLBACK_REQUEST__INIT;
        r.context = ctx;
        r.start_version = a->start_ts;
        r.n_keys = task->n;
        r.keys = kb;
        rc = pack_msg(&r.base, req);
        break;
    }
    default: {
        Kvrpcpb__CommitRequest r = KVRPCPB__COMMIT_REQUEST__INIT;
        r.context = ctx;
        r.start_version = a->start_ts;
        r.commit_version = a->commit_ts;
        r.n_keys = task->n;
        r.keys = kb;
        r.commit_role = a->primary_role == 1 ? KVRPCPB__COMMIT_ROLE__Primary : KVRPCPB__COMMIT_ROLE__Secondary;
        r.primary_key = bin(a->primary, a->pl);
        r.use_async_commit = a->async;
        rc = pack_msg(&r.base, req);
        break;
    }
    }
    free(kb);
    return rc;
}

static int keys_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    (void)task;
    keys_arg *a = arg;
    Kvrpcpb__KeyError *err = NULL;
    int rc = ORBIT_OK;
    switch (a->kind) {
    case KA_RESOLVE: {
        Kvrpcpb__ResolveLockResponse *r = kvrpcpb__resolve_lock_response__unpack(NULL, len, resp);
        if (!r)
            return decode_fail("ResolveLock");
        if (r->error)
            rc = key_error_rc(r->error, a->what);
        kvrpcpb__resolve_lock_response__free_unpacked(r, NULL);
        return rc;
    }
    case KA_PROLLBACK: {
        Kvrpcpb__PessimisticRollbackResponse *r = kvrpcpb__pessimistic_rollback_response__unpack(NULL, len, resp);
        if (!r)
            return decode_fail("PessimisticRollback");
        if (r->n_errors)
            rc = key_error_rc(r->errors[0], a->what);
        kvrpcpb__pessimistic_rollback_response__free_unpacked(r, NULL);
        return rc;
    }
    case KA_ROLLBACK: {
        Kvrpcpb__BatchRollbackResponse *r = kvrpcpb__batch_rollback_response__unpack(NULL, len, resp);
        if (!r)
            return decode_fail("BatchRollback");
        if (r->error)
            rc = key_error_rc(r->error, a->what);
        kvrpcpb__batch_rollback_response__free_unpacked(r, NULL);
        return rc;
    }
    default: {
        Kvrpcpb__CommitResponse *r = kvrpcpb__commit_response__unpack(NULL, len, resp);
        if (!r)
            return decode_fail("Commit");
        err = r->error;
        if (err && err->commit_ts_expired) {
            a->min_commit_ts = err->commit_ts_expired->min_commit_ts;
            rc = ORBIT_OK;
        } else if (err) {
            rc = key_error_rc(err, a->what);
        }
        kvrpcpb__commit_response__free_unpacked(r, NULL);
        return rc;
    }
    }
}

static const char *const ka_method[] = {TIKV_M_KV_RESOLVE_LOCK, TIKV_M_KV_PESSIMISTIC_ROLLBACK,
                                        TIKV_M_KV_BATCH_ROLLBACK, TIKV_M_KV_COMMIT};
static const tikv_rpc_kind ka_kind[] = {TIKV_RPC_KV_RESOLVE_LOCK, TIKV_RPC_KV_PESSIMISTIC_ROLLBACK,
                                        TIKV_RPC_KV_BATCH_ROLLBACK, TIKV_RPC_KV_COMMIT};

/* Send a keys request (kind KA_*) over keys[0..n). These requests are
 * idempotent in TiKV (resolving, rolling back or committing twice is the
 * same as once), so they may be resent after a lost answer. */
static int send_keys_req(tikv *t, tikv_bo *bo, keys_arg *a, size_t n)
{
    tikv_call c = {ka_method[a->kind], ka_kind[a->kind], TIKV_CALL_WRITE | TIKV_CALL_RESEND,
                   keys_build, keys_handle, a, 0, 0, NULL};
    return orbit__tikv_send_keys(t, bo, n, a->keys, &c);
}

static int resolve_keys(tikv *t, tikv_bo *bo, const orbit_slice *keys, size_t n, uint64_t start_ts,
                        uint64_t commit_ts, int async)
{
    keys_arg a = {0};
    a.keys = keys;
    a.start_ts = start_ts;
    a.commit_ts = commit_ts;
    a.async = async;
    a.kind = KA_RESOLVE;
    a.what = "resolve a lock";
    int rc = send_keys_req(t, bo, &a, n);
    if (!rc)
        atomic_fetch_add(commit_ts ? &st_res_commit : &st_res_rollback, 1);
    return rc;
}

/* CheckSecondaryLocks over an async-commit transaction's keys. */
typedef struct csl_arg {
    const orbit_slice *keys;
    uint64_t start_ts;
    uint64_t max_min_commit; /* largest min_commit_ts among the locks seen */
    uint64_t commit_ts;      /* a store says it committed at this ts */
    int missing;             /* some key holds no lock of the transaction */
    int non_async;           /* some lock is not an async-commit lock */
} csl_arg;

static int csl_build(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req)
{
    csl_arg *a = arg;
    ProtobufCBinaryData *kb = task_keys(a->keys, task);
    if (!kb)
        return ORBIT_ENOMEM;
    Kvrpcpb__CheckSecondaryLocksRequest r = KVRPCPB__CHECK_SECONDARY_LOCKS_REQUEST__INIT;
    r.context = ctx;
    r.n_keys = task->n;
    r.keys = kb;
    r.start_version = a->start_ts;
    int rc = pack_msg(&r.base, req);
    free(kb);
    return rc;
}

static int csl_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    csl_arg *a = arg;
    Kvrpcpb__CheckSecondaryLocksResponse *r = kvrpcpb__check_secondary_locks_response__unpack(NULL, len, resp);
    if (!r)
        return decode_fail("CheckSecondaryLocks");
    int rc = ORBIT_OK;
    if (r->error) {
        rc = key_error_rc(r->error, "check an async-commit transaction's locks");
    } else {
        if (r->commit_ts && r->commit_ts > a->commit_ts)
            a->commit_ts = r->commit_ts;
        if (r->n_locks < task->n)
            a->missing = 1;
        for (size_t i = 0; i < r->n_locks; i++) {
            if (!r->locks[i]->use_async_commit)
                a->non_async = 1;
            if (r->locks[i]->min_commit_ts > a->max_min_commit)
                a->max_min_commit = r->locks[i]->min_commit_ts;
        }
    }
    kvrpcpb__check_secondary_locks_response__free_unpacked(r, NULL);
    return rc;
}

/*
 * Decide an async-commit transaction whose primary lock (pl, from
 * CheckTxnStatus) has expired, and resolve its keys: 0 with *commit_ts the
 * outcome (0: rolled back), or *sync = 1 when a lock turned out not to be
 * an async-commit lock (the caller redoes CheckTxnStatus with
 * force_sync_commit).
 */
static int resolve_async(tikv *t, tikv_bo *bo, const tk_lock *pl, const uint8_t *primary, size_t plen,
                         uint64_t *commit_ts, int *sync)
{
    *sync = 0;
    size_t n = pl->nsec;
    orbit_slice *keys = calloc(n + 1, sizeof *keys);
    if (!keys)
        return ORBIT_ENOMEM;
    for (size_t i = 0; i < n; i++)
        keys[i] = (orbit_slice){pl->sec[i], pl->secl[i]};
    csl_arg a = {keys, pl->ts, pl->min_commit_ts, 0, 0, 0};
    tikv_call c = {TIKV_M_KV_CHECK_SECONDARY_LOCKS, TIKV_RPC_KV_CHECK_SECONDARY_LOCKS,
                   TIKV_CALL_WRITE | TIKV_CALL_RESEND, csl_build, csl_handle, &a, 0, 0, NULL};
    int rc = n ? orbit__tikv_send_keys(t, bo, n, keys, &c) : ORBIT_OK;
    if (!rc && a.non_async && !a.commit_ts) {
        *sync = 1;
        free(keys);
        return ORBIT_OK;
    }
    if (!rc) {
        uint64_t ts = a.commit_ts ? a.commit_ts : (a.missing ? 0 : a.max_min_commit);
        keys[n] = (orbit_slice){primary, plen};
        /* Every key, the primary included, gets the decision. */
        rc = resolve_keys(t, bo, keys, n + 1, pl->ts, ts, 1);
        if (!rc) {
            *commit_ts = ts;
            status_remember(t, pl->ts, ts);
        }
    }
    free(keys);
    return rc;
}

/* A lock's expiry by the client's clock: TTL counted from start_ts. */
static int lock_expired(const tk_lock *l, uint64_t current_ts)
{
    return TIKV_TS_PHYSICAL(l->ts) + l->ttl < TIKV_TS_PHYSICAL(current_ts);
}

/* Remaining life (ms) of a lock, at least 1. */
static uint32_t lock_left_ms(uint64_t lock_ts, uint64_t ttl, uint64_t current_ts)
{
    uint64_t end = TIKV_TS_PHYSICAL(lock_ts) + ttl, now = TIKV_TS_PHYSICAL(current_ts);
    uint64_t left = end > now ? end - now : 1;
    return left > 3000 ? 3000 : (uint32_t)left;
}

/* Apply a final status to one lock's key. */
static int apply_status(tikv *t, tikv_bo *bo, const tk_lock *l, uint64_t commit_ts)
{
    orbit_slice k = {l->key, l->kl};
    if (!commit_ts && l->type == KVRPCPB__OP__PessimisticLock) {
        keys_arg a = {0};
        a.keys = &k;
        a.start_ts = l->ts;
        a.for_update_ts = l->for_update_ts ? l->for_update_ts : TIKV_TS_MAX;
        a.kind = KA_PROLLBACK;
        a.what = "roll back a pessimistic lock";
        int rc = send_keys_req(t, bo, &a, 1);
        if (!rc)
            atomic_fetch_add(&st_res_rollback, 1);
        return rc;
    }
    return resolve_keys(t, bo, &k, 1, l->ts, commit_ts, 0);
}

/* A set of start_ts a reader may read through (Context.resolved_locks). */
typedef struct ts_set {
    uint64_t *v;
    size_t n, cap;
} ts_set;

static int ts_set_add(ts_set *s, uint64_t ts)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == ts)
            return ORBIT_OK;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        uint64_t *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv)
            return ORBIT_ENOMEM;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = ts;
    return ORBIT_OK;
}

static void ts_set_free(ts_set *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

/*
 * Resolve the locks a request met. caller_ts: the reader's ts (0 for a
 * writer, which never pushes a lock). Locks whose transaction is decided
 * are resolved; a reader adds the start_ts of a live transaction whose
 * min_commit_ts lies above its ts to `ignore` (may be NULL for writers).
 * *wait_ms gets 0 when nothing is left alive, else how long to wait.
 */
static int resolve_locks(tikv *t, tikv_bo *bo, lock_list *ll, uint64_t caller_ts, ts_set *ignore,
                         uint32_t *wait_ms)
{
    *wait_ms = 0;
    uint64_t current = 0;
    int rc = orbit__tikv_tso(t, bo, &current);
    if (rc)
        return rc;
    for (size_t i = 0; i < ll->n && !rc; i++) {
        tk_lock *l = &ll->l[i];
        uint64_t commit;
        if (ignore) {
            int skip = 0;
            for (size_t j = 0; j < ignore->n; j++)
                skip |= ignore->v[j] == l->ts;
            if (skip)
                continue;
        }
        if (status_cached(t, l->ts, &commit)) {
            rc = apply_status(t, bo, l, commit);
            continue;
        }
        cts_arg a = {0};
        txn_status st;
        a.primary = l->primary;
        a.pl = l->pl;
        a.lock_ts = l->ts;
        a.caller_ts = caller_ts;
        a.current_ts = l->ttl == 0 ? TIKV_TS_MAX : current;
        a.resolving_pessimistic = l->type == KVRPCPB__OP__PessimisticLock;
        a.out = &st;
        for (int round = 0; round < 4 && !rc; round++) {
            memset(&st, 0, sizeof st);
            rc = check_txn_status(t, bo, &a);
            if (rc)
                break;
            if (st.state == ST_NOT_FOUND) {
                /* No primary lock nor record: the primary prewrite has not
                 * landed (or was lost). Roll back once this lock expired. */
                if (lock_expired(l, current) && l->type != KVRPCPB__OP__PessimisticLock &&
                    !a.rollback_if_not_exist) {
                    a.rollback_if_not_exist = 1;
                    continue;
                }
                uint32_t w = lock_left_ms(l->ts, l->ttl, current);
                if (!lock_expired(l, current) || l->type == KVRPCPB__OP__PessimisticLock)
                    *wait_ms = *wait_ms == 0 || w < *wait_ms ? w : *wait_ms;
                else
                    *wait_ms = *wait_ms ? *wait_ms : 2;
                break;
            }
            if (st.state == ST_MISMATCH) {
                /* The "primary" is not this lock's primary: a stale
                 * pessimistic lock; release just it. */
                if (l->type == KVRPCPB__OP__PessimisticLock)
                    rc = apply_status(t, bo, l, 0);
                else
                    rc = orbit_error_set(ORBIT_EPROTO, "tikv: a lock names a primary that is not its primary");
                break;
            }
            if (st.state == ST_COMMITTED || st.state == ST_ROLLED_BACK) {
                uint64_t cts = st.state == ST_COMMITTED ? st.commit_ts : 0;
                status_remember(t, l->ts, cts);
                rc = apply_status(t, bo, l, cts);
                break;
            }
            /* Locked. */
            if (st.have_lock && st.lock.async) {
                tk_lock probe = st.lock;
                probe.ttl = st.ttl;
                if (lock_expired(&probe, current)) {
                    int sync = 0;
                    uint64_t cts = 0;
                    rc = resolve_async(t, bo, &st.lock, l->primary, l->pl, &cts, &sync);
                    if (!rc && sync) {
                        a.force_sync = 1;
                        lock_release(&st.lock);
                        continue;
                    }
                    /* resolve_async resolved every key the primary
                     * names; a lock elsewhere is met again, and then
                     * found decided (cached). */
                    break;
                }
            }
            if (ignore && (st.action == KVRPCPB__ACTION__MinCommitTSPushed ||
                           (st.have_lock && !st.lock.async && st.lock.min_commit_ts > caller_ts))) {
                rc = ts_set_add(ignore, l->ts);
                break;
            }
            uint32_t w = lock_left_ms(l->ts, st.ttl, current);
            *wait_ms = *wait_ms == 0 || w < *wait_ms ? w : *wait_ms;
            break;
        }
        if (st.have_lock)
            lock_release(&st.lock);
    }
    if (*wait_ms)
        atomic_fetch_add(&st_lock_waits, 1);
    return rc;
}

/* After resolve_locks: wait for live locks (reads: the fast backoff). A
 * lock that outlives the operation's deadline is a conflict. */
/* After resolve_locks: wait for live locks. A reader waits up to its
 * operation's deadline (a lock of a committing transaction goes soon; one
 * of a dead client when its TTL ends), then fails with ECONFLICT. A writer
 * (until > 0) waits until `until` (LOCK_WAIT_MS after it first met a live
 * lock), then fails with ORBIT_EBUSY: the key is held by another live
 * transaction (a transaction's write reports it as ECONFLICT). */
static int wait_locks(tikv_bo *bo, uint32_t wait_ms, int for_read, uint64_t until)
{
    if (!wait_ms)
        return ORBIT_OK;
    if (!for_read && until && now_ms() >= until)
        return orbit_error_set(ORBIT_EBUSY,
                               "tikv: a key is locked by another live transaction (waited %u ms for it)",
                               (unsigned)LOCK_WAIT_MS);
    int rc = orbit__tikv_bo_sleep(bo, for_read ? TIKV_BO_TXN_LOCK_FAST : TIKV_BO_TXN_LOCK, 0);
    if (rc)
        return orbit_error_set(for_read ? ORBIT_ECONFLICT : ORBIT_EBUSY,
                               "tikv: a key stayed locked by another live transaction past this "
                               "operation's deadline");
    return ORBIT_OK;
}

/* ---- snapshot reads (TIKV_PROTOCOL 3.2) ---------------------------------- */

static void set_resolved(Kvrpcpb__Context *ctx, const ts_set *ignore)
{
    if (ignore && ignore->n) {
        ctx->n_resolved_locks = ignore->n;
        ctx->resolved_locks = ignore->v;
    }
}

typedef struct get_arg {
    const uint8_t *k;
    size_t kl;
    uint64_t ts;
    const ts_set *ignore;
    lock_list locks;
    orbit_value_fn fn;
    void *farg;
    int frc;
    int found;
} get_arg;

static int get_build(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req)
{
    (void)task;
    get_arg *a = arg;
    set_resolved(ctx, a->ignore);
    Kvrpcpb__GetRequest r = KVRPCPB__GET_REQUEST__INIT;
    r.context = ctx;
    r.key = bin(a->k, a->kl);
    r.version = a->ts;
    return pack_msg(&r.base, req);
}

static int get_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    (void)task;
    get_arg *a = arg;
    Kvrpcpb__GetResponse *r = kvrpcpb__get_response__unpack(NULL, len, resp);
    if (!r)
        return decode_fail("KvGet");
    int rc = ORBIT_OK;
    if (r->error) {
        rc = r->error->locked ? locks_add(&a->locks, r->error->locked) : key_error_rc(r->error, "read");
    } else if (!r->not_found) {
        a->found = 1;
        a->frc = a->fn(a->farg, r->value.len ? r->value.data : (const uint8_t *)"", r->value.len);
    }
    kvrpcpb__get_response__free_unpacked(r, NULL);
    return rc;
}

/* Read k at ts, resolving the locks met. 0 (fn called; or fn's non-zero
 * result), ORBIT_NOTFOUND, or an error. */
static int read_key(tikv *t, uint64_t ts, const uint8_t *k, size_t kl, orbit_value_fn fn, void *farg)
{
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, t, 0);
    ts_set ignore = {0};
    get_arg a = {0};
    a.k = k;
    a.kl = kl;
    a.ts = ts;
    a.ignore = &ignore;
    a.fn = fn;
    a.farg = farg;
    tikv_call c = {TIKV_M_KV_GET, TIKV_RPC_KV_GET, TIKV_CALL_RESEND, get_build, get_handle, &a, 0, 0, NULL};
    int rc;
    for (;;) {
        rc = orbit__tikv_send_key(t, &bo, k, kl, &c);
        if (rc || !a.locks.n)
            break;
        uint32_t wait = 0;
        rc = resolve_locks(t, &bo, &a.locks, ts, &ignore, &wait);
        locks_clear(&a.locks);
        if (!rc)
            rc = wait_locks(&bo, wait, 1, 0);
        if (rc)
            break;
    }
    locks_free(&a.locks);
    ts_set_free(&ignore);
    if (rc)
        return rc;
    return a.found ? a.frc : ORBIT_NOTFOUND;
}

/* Batch get of keys[0..n) at ts into vals/status; only indices with
 * want[i] set are read (want NULL: all). */
typedef struct mg_arg {
    const orbit_slice *keys;
    uint64_t ts;
    const ts_set *ignore;
    lock_list locks;
    orbit_buf *vals;
    int *status;
    unsigned char *pending; /* key met a lock: read it again */
} mg_arg;

static int mg_build(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req)
{
    mg_arg *a = arg;
    ProtobufCBinaryData *kb = task_keys(a->keys, task);
    if (!kb)
        return ORBIT_ENOMEM;
    set_resolved(ctx, a->ignore);
    Kvrpcpb__BatchGetRequest r = KVRPCPB__BATCH_GET_REQUEST__INIT;
    r.context = ctx;
    r.n_keys = task->n;
    r.keys = kb;
    r.version = a->ts;
    int rc = pack_msg(&r.base, req);
    free(kb);
    return rc;
}

/* The task positions whose key equals k: [*lo, *hi) (task keys ascend). */
static void task_range(const mg_arg *a, const tikv_task *task, const uint8_t *k, size_t kl, size_t *lo,
                       size_t *hi)
{
    size_t l = 0, h = task->n;
    while (l < h) {
        size_t m = l + (h - l) / 2;
        const orbit_slice *s = &a->keys[task->idx[m]];
        if (orbit__key_cmp(s->data, s->len, k, kl) < 0)
            l = m + 1;
        else
            h = m;
    }
    size_t e = l;
    while (e < task->n && orbit__key_cmp(a->keys[task->idx[e]].data, a->keys[task->idx[e]].len, k, kl) == 0)
        e++;
    *lo = l;
    *hi = e;
}

static int mg_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    mg_arg *a = arg;
    Kvrpcpb__BatchGetResponse *r = kvrpcpb__batch_get_response__unpack(NULL, len, resp);
    if (!r)
        return decode_fail("KvBatchGet");
    int rc = ORBIT_OK;
    for (size_t i = 0; i < task->n; i++) {
        a->status[task->idx[i]] = ORBIT_NOTFOUND;
        orbit_buf_reset(&a->vals[task->idx[i]]);
    }
    if (r->error) {
        /* The whole batch is to be read again after resolving. */
        if (r->error->locked) {
            rc = locks_add(&a->locks, r->error->locked);
            for (size_t i = 0; i < task->n; i++)
                a->pending[task->idx[i]] = 1;
        } else {
            rc = key_error_rc(r->error, "batch read");
        }
    }
    for (size_t p = 0; !rc && !r->error && p < r->n_pairs; p++) {
        Kvrpcpb__KvPair *kp = r->pairs[p];
        if (kp->error) {
            if (!kp->error->locked) {
                rc = key_error_rc(kp->error, "batch read");
                break;
            }
            rc = locks_add(&a->locks, kp->error->locked);
            size_t lo, hi;
            task_range(a, task, kp->error->locked->key.data, kp->error->locked->key.len, &lo, &hi);
            for (size_t i = lo; i < hi; i++)
                a->pending[task->idx[i]] = 1;
            continue;
        }
        size_t lo, hi;
        task_range(a, task, kp->key.data, kp->key.len, &lo, &hi);
        /* Duplicate keys come back once per copy asked: set, not append. */
        for (size_t i = lo; i < hi && !rc; i++) {
            size_t d = task->idx[i];
            a->status[d] = ORBIT_OK;
            if (orbit_buf_set(&a->vals[d], kp->value.data, kp->value.len))
                rc = ORBIT_ENOMEM;
        }
    }
    kvrpcpb__batch_get_response__free_unpacked(r, NULL);
    return rc;
}

/* Read keys[0..n) at ts: status[i] 0 / ORBIT_NOTFOUND / error, vals[i]
 * the value. Returns 0 or the first error. */
static int read_many(tikv *t, uint64_t ts, size_t n, const orbit_slice *keys, orbit_buf *vals, int *status)
{
    if (n == 0)
        return ORBIT_OK;
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, t, 0);
    ts_set ignore = {0};
    mg_arg a = {0};
    unsigned char *pending = calloc(n, 1);
    size_t *map = calloc(n, sizeof *map);
    orbit_slice *sub = calloc(n, sizeof *sub);
    orbit_buf *sv = calloc(n, sizeof *sv);
    int *ss = calloc(n, sizeof *ss);
    int rc = (!pending || !map || !sub || !sv || !ss) ? ORBIT_ENOMEM : ORBIT_OK;
    a.ts = ts;
    a.ignore = &ignore;
    tikv_call c = {TIKV_M_KV_BATCH_GET, TIKV_RPC_KV_BATCH_GET, TIKV_CALL_RESEND, mg_build, mg_handle, &a, 0, 0, NULL};
    /* Round one reads every key straight into the caller's arrays; later
     * rounds read the keys that met locks into sub-arrays. */
    size_t m = n;
    if (!rc) {
        a.keys = keys;
        a.vals = vals;
        a.status = status;
        a.pending = pending;
        rc = orbit__tikv_send_keys(t, &bo, n, keys, &c);
    }
    while (!rc && a.locks.n) {
        uint32_t wait = 0;
        rc = resolve_locks(t, &bo, &a.locks, ts, &ignore, &wait);
        locks_clear(&a.locks);
        if (!rc)
            rc = wait_locks(&bo, wait, 1, 0);
        if (rc)
            break;
        /* Gather the pending keys (pending[] is indexed like the current
         * round's keys: the caller's in round one, sub's later). */
        size_t mm = 0;
        for (size_t i = 0; i < m; i++)
            if (pending[i]) {
                size_t orig = (a.keys == keys) ? i : map[i];
                map[mm] = orig;
                mm++;
            }
        for (size_t i = 0; i < mm; i++)
            sub[i] = keys[map[i]];
        memset(pending, 0, n);
        m = mm;
        a.keys = sub;
        a.vals = sv;
        a.status = ss;
        rc = orbit__tikv_send_keys(t, &bo, m, sub, &c);
        for (size_t i = 0; !rc && i < m; i++) {
            if (pending[i])
                continue;
            size_t d = map[i];
            status[d] = ss[i];
            orbit_buf_reset(&vals[d]);
            if (ss[i] == ORBIT_OK && sv[i].len && orbit_buf_append(&vals[d], sv[i].data, sv[i].len))
                rc = ORBIT_ENOMEM;
        }
    }
    if (rc)
        for (size_t i = 0; i < n; i++) {
            status[i] = rc;
            orbit_buf_reset(&vals[i]);
        }
    if (sv)
        for (size_t i = 0; i < n; i++)
            orbit_buf_release(&sv[i]);
    free(ss);
    free(sv);
    free(sub);
    free(map);
    free(pending);
    locks_free(&a.locks);
    ts_set_free(&ignore);
    return rc;
}

/* ---- iterators ------------------------------------------------------------ */

/*
 * A scan reads its range in windows: when the iterator runs dry and the
 * rest of its range spans several regions, one KvScan per region for up to
 * SCAN_WINDOW regions goes out at once (orbit__tikv_send_range_window),
 * each with the batch limit. Every region's answer is kept as a chunk, in
 * scan order: the reads are at a fixed ts, so chunks of later regions stay
 * valid while earlier ones are handed out. A chunk whose answer hit its
 * limit (or met a lock) keeps the part of its region still to read and is
 * continued there, one KvScan at a time, before the next chunk's turn. A
 * caller's small limit (or byte) hint makes the first read a single
 * region's, and every read asks no more than the hint still wants.
 */
#define SCAN_WINDOW 8

typedef struct kvp {
    uint8_t *k;
    size_t kl;
    uint8_t *v;
    size_t vl;
} kvp;

/* A part of the range in stored keys, [lo, hi) (lo.len 0: from the first
 * key; hi.len 0: no upper bound), with the pairs read from it, in scan
 * order, not handed out yet. more: part of [lo, hi) is still to be read
 * (after p in scan order: forward from lo, reverse below hi). */
typedef struct tk_chunk {
    kvp *p;
    size_t n;
    int more;
    int locked; /* a window's answer met a lock: p dropped, all re-read */
    orbit_buf lo, hi;
} tk_chunk;

typedef struct tk_iter {
    tikv *t;
    uint64_t ts;
    int live; /* ts is registered with the GC registry by this iterator */
    uint8_t *lo, *hi; /* owned copies; NULL: open side */
    size_t lol, hil;
    int reverse, keys_only;
    size_t nsl; /* namespace length: stripped from the keys handed out */
    size_t first_batch; /* the first read is one region's, this many (a
                         * caller's small hint); 0: windows from the start */
    size_t hint, hint_bytes; /* the caller's hints (0: none) */
    size_t handed, bytes;    /* entries (and key + value bytes) handed out */
    /* The part of the range not read into chunks yet (more 0: none). */
    tk_chunk tail;
    /* Chunks read ahead, in scan order, from q[qh] on. */
    tk_chunk *q;
    size_t qh, qn;
    int exhausted; /* nothing stored is left to read or hand out */
    int failed;
    kvp *b; /* the pairs being handed out, in scan order */
    size_t bn, bpos;
    ts_set ignore;
    /* The transaction's own writes in the range, copied in scan order
     * (puts and deletes only). */
    orbit__tikv_mut *l;
    size_t ln, lpos;
} tk_iter;

static void pairs_free(kvp *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].k);
        free(p[i].v);
    }
    free(p);
}

static void batch_free(tk_iter *it)
{
    pairs_free(it->b, it->bn);
    it->b = NULL;
    it->bn = it->bpos = 0;
}

static void chunk_init(tk_chunk *c)
{
    memset(c, 0, sizeof *c);
    orbit_buf_init(&c->lo);
    orbit_buf_init(&c->hi);
}

static void chunk_release(tk_chunk *c)
{
    pairs_free(c->p, c->n);
    c->p = NULL;
    c->n = 0;
    orbit_buf_release(&c->lo);
    orbit_buf_release(&c->hi);
}

static void chunks_free(tk_chunk *q, size_t n)
{
    for (size_t i = 0; i < n; i++)
        chunk_release(&q[i]);
    free(q);
}

static void queue_clear(tk_iter *it)
{
    chunks_free(it->q, it->qn);
    it->q = NULL;
    it->qh = it->qn = 0;
}

/* Whether c's [lo, hi) holds no key. */
static int chunk_empty(const tk_chunk *c)
{
    return c->hi.len && orbit__key_cmp(c->lo.data, c->lo.len, c->hi.data, c->hi.len) >= 0;
}

/* How many pairs a request should ask for: the batch, or what the caller's
 * hints still want (hints are about entries handed out, so they steer the
 * request sizes only). */
static uint32_t scan_want(const tk_iter *it)
{
    size_t want = SCAN_BATCH;
    if (it->hint && it->handed < it->hint && it->hint - it->handed < want)
        want = it->hint - it->handed;
    if (it->hint_bytes && it->handed && it->bytes < it->hint_bytes) {
        size_t avg = it->bytes / it->handed;
        size_t est = (it->hint_bytes - it->bytes) / (avg ? avg : 1) + 1;
        if (est < want)
            want = est;
    }
    return (uint32_t)want;
}

typedef struct scan_arg {
    tk_iter *it;
    uint32_t limit;
    lock_list locks;
    /* send_range_one: the answer */
    kvp *pairs;
    size_t n;
    size_t got; /* pairs the store returned, locked ones included */
    /* a window: one chunk per task answered */
    tk_chunk *ch;
    size_t nch, capch;
} scan_arg;

/* An upper bound above every key TiKV can store (8 KiB at most): a reverse
 * scan needs a non-empty upper bound, and the last region has none. */
static const uint8_t *top_key(size_t *len)
{
    static uint8_t top[MAX_KEY_SIZE + 1];
    static atomic_int ready;
    if (!atomic_load(&ready)) {
        uint8_t tmp[MAX_KEY_SIZE + 1];
        memset(tmp, 0xFF, sizeof tmp);
        memcpy(top, tmp, sizeof top); /* idempotent: racing writers agree */
        atomic_store(&ready, 1);
    }
    *len = sizeof top;
    return top;
}

static int scan_build(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req)
{
    scan_arg *a = arg;
    tk_iter *it = a->it;
    set_resolved(ctx, &it->ignore);
    Kvrpcpb__ScanRequest r = KVRPCPB__SCAN_REQUEST__INIT;
    r.context = ctx;
    r.limit = a->limit;
    r.version = it->ts;
    r.key_only = it->keys_only;
    if (it->reverse) {
        size_t tl;
        const uint8_t *top = top_key(&tl);
        r.reverse = 1;
        r.start_key = task->hi_len ? bin(task->hi, task->hi_len) : bin(top, tl);
        r.end_key = bin(task->lo, task->lo_len);
    } else {
        r.start_key = bin(task->lo, task->lo_len);
        r.end_key = bin(task->hi, task->hi_len);
    }
    return pack_msg(&r.base, req);
}

/* Decode a ScanResponse: its unlocked pairs into *pairs, *n (malloc'd, scan
 * order), the locks met into a->locks, *got = pairs returned. */
static int scan_parse(scan_arg *a, const uint8_t *resp, size_t len, kvp **pairs, size_t *n, size_t *got)
{
    *pairs = NULL;
    *n = *got = 0;
    Kvrpcpb__ScanResponse *r = kvrpcpb__scan_response__unpack(NULL, len, resp);
    if (!r)
        return decode_fail("KvScan");
    int rc = ORBIT_OK;
    if (r->error)
        rc = r->error->locked ? locks_add(&a->locks, r->error->locked) : key_error_rc(r->error, "scan");
    kvp *ps = NULL;
    size_t np = 0;
    if (!rc && r->n_pairs && !(ps = calloc(r->n_pairs, sizeof *ps)))
        rc = ORBIT_ENOMEM;
    for (size_t i = 0; !rc && i < r->n_pairs; i++) {
        Kvrpcpb__KvPair *p = r->pairs[i];
        if (p->error) {
            rc = p->error->locked ? locks_add(&a->locks, p->error->locked) : key_error_rc(p->error, "scan");
            continue;
        }
        kvp *d = &ps[np];
        d->k = dup_bytes(p->key.data, p->key.len);
        d->v = dup_bytes(p->value.data, a->it->keys_only ? 0 : p->value.len);
        if (!d->k || !d->v) {
            free(d->k);
            free(d->v);
            rc = ORBIT_ENOMEM;
            break;
        }
        d->kl = p->key.len;
        d->vl = a->it->keys_only ? 0 : p->value.len;
        np++;
    }
    /* The pairs count toward the limit even when one carried a lock. */
    *got = r->n_pairs;
    kvrpcpb__scan_response__free_unpacked(r, NULL);
    if (rc) {
        pairs_free(ps, np);
        return rc;
    }
    *pairs = ps;
    *n = np;
    return ORBIT_OK;
}

static void scan_pairs_free(scan_arg *a)
{
    pairs_free(a->pairs, a->n);
    a->pairs = NULL;
    a->n = 0;
}

static int scan_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    (void)task;
    scan_arg *a = arg;
    /* A resend after a region error replaces an earlier answer. */
    scan_pairs_free(a);
    return scan_parse(a, resp, len, &a->pairs, &a->n, &a->got);
}

/* Narrow c after an answer to [c->lo, c->hi) (pairs already in c->p):
 * full, the answer hit its limit: the rest starts after its last pair;
 * else the region that answered (loc; NULL: c was within one region) is
 * read through, and the rest (if any) starts at its far side. */
static int chunk_narrow(tk_iter *it, tk_chunk *c, int full, const tikv_loc *loc)
{
    if (full && c->n) {
        const kvp *last = &c->p[c->n - 1];
        if (it->reverse) {
            if (last->kl == 0) {
                c->more = 0; /* nothing is below the empty key */
                return ORBIT_OK;
            }
            return orbit_buf_set(&c->hi, last->k, last->kl);
        }
        int rc = orbit_buf_set(&c->lo, last->k, last->kl);
        return rc ? rc : orbit_buf_append(&c->lo, "", 1); /* the key right after it */
    }
    if (!loc) {
        c->more = 0;
        return ORBIT_OK;
    }
    if (it->reverse) {
        if (loc->start_len == 0 || (c->lo.len && orbit__key_cmp(loc->start, loc->start_len, c->lo.data, c->lo.len) <= 0))
            c->more = 0;
        else
            return orbit_buf_set(&c->hi, loc->start, loc->start_len);
    } else {
        if (loc->end_len == 0 || (c->hi.len && orbit__key_cmp(loc->end, loc->end_len, c->hi.data, c->hi.len) >= 0))
            c->more = 0;
        else
            return orbit_buf_set(&c->lo, loc->end, loc->end_len);
    }
    return ORBIT_OK;
}

/* Resolve the locks a read met (then it is read again). */
static int scan_resolve(tk_iter *it, tikv_bo *bo, scan_arg *a)
{
    uint32_t wait = 0;
    int rc = resolve_locks(it->t, bo, &a->locks, it->ts, &it->ignore, &wait);
    locks_clear(&a->locks);
    if (!rc)
        rc = wait_locks(bo, wait, 1, 0);
    return rc;
}

/* Read the next part of c (c->more, c->n 0) from the one region holding
 * its start in scan order, limit pairs: c->p gets them, c narrows. */
static int chunk_read_one(tk_iter *it, tikv_bo *bo, tk_chunk *c, uint32_t limit)
{
    scan_arg a = {0};
    a.it = it;
    a.limit = limit;
    tikv_call call = {TIKV_M_KV_SCAN, TIKV_RPC_KV_SCAN, TIKV_CALL_RESEND, scan_build, scan_handle, &a, 0, 0, NULL};
    int rc = ORBIT_OK;
    c->locked = 0;
    for (;;) {
        if (chunk_empty(c)) {
            c->more = 0;
            break;
        }
        tikv_loc loc = {0};
        rc = orbit__tikv_send_range_one(it->t, bo, c->lo.data, c->lo.len, c->hi.data, c->hi.len, it->reverse,
                                        &call, &loc);
        if (!rc && a.locks.n) {
            orbit__tikv_loc_release(&loc);
            scan_pairs_free(&a);
            if ((rc = scan_resolve(it, bo, &a)) != 0)
                break;
            continue; /* the same part again */
        }
        if (!rc) {
            c->p = a.pairs;
            c->n = a.n;
            a.pairs = NULL;
            a.n = 0;
            rc = chunk_narrow(it, c, a.got >= a.limit, &loc);
        }
        orbit__tikv_loc_release(&loc);
        break;
    }
    scan_pairs_free(&a);
    locks_free(&a.locks);
    return rc;
}

static int win_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    scan_arg *a = arg;
    if (a->nch == a->capch) {
        size_t nc = a->capch ? a->capch * 2 : SCAN_WINDOW;
        tk_chunk *x = realloc(a->ch, nc * sizeof *x);
        if (!x)
            return ORBIT_ENOMEM;
        a->ch = x;
        a->capch = nc;
    }
    size_t locks0 = a->locks.n, got = 0;
    tk_chunk *c = &a->ch[a->nch];
    chunk_init(c);
    int rc = scan_parse(a, resp, len, &c->p, &c->n, &got);
    if (!rc)
        rc = orbit_buf_set(&c->lo, task->lo, task->lo_len);
    if (!rc)
        rc = orbit_buf_set(&c->hi, task->hi, task->hi_len);
    if (rc) {
        chunk_release(c);
        return rc;
    }
    c->more = 1;
    if (a->locks.n > locks0) {
        /* re-read this region's part once its locks are resolved */
        c->locked = 1;
        pairs_free(c->p, c->n);
        c->p = NULL;
        c->n = 0;
    } else if ((rc = chunk_narrow(a->it, c, got >= a->limit, NULL)) != 0) {
        chunk_release(c);
        return rc;
    }
    a->nch++;
    return ORBIT_OK;
}

static int chunk_cmp_fwd(const void *x, const void *y)
{
    const tk_chunk *a = x, *b = y;
    return orbit__key_cmp(a->lo.data, a->lo.len, b->lo.data, b->lo.len);
}

static int chunk_cmp_rev(const void *x, const void *y)
{
    return -chunk_cmp_fwd(x, y);
}

/* Read the next window of the tail: up to SCAN_WINDOW regions at once,
 * their answers queued as chunks in scan order; the tail narrows past it.
 * The queue is empty when this runs. */
static int tail_read_window(tk_iter *it, tikv_bo *bo)
{
    tk_chunk *tl = &it->tail;
    if (chunk_empty(tl)) {
        tl->more = 0;
        return ORBIT_OK;
    }
    scan_arg a = {0};
    a.it = it;
    a.limit = scan_want(it);
    tikv_call call = {TIKV_M_KV_SCAN, TIKV_RPC_KV_SCAN, TIKV_CALL_RESEND, scan_build, win_handle, &a, 0, 0, NULL};
    orbit_buf edge = ORBIT_BUF_INIT;
    int last = 0;
    int rc = orbit__tikv_send_range_window(it->t, bo, tl->lo.data, tl->lo.len, tl->hi.data, tl->hi.len,
                                           it->reverse, SCAN_WINDOW, &call, &edge, &last);
    /* Lock-holding parts are read again when their turn comes; resolve
     * the locks now, once for the whole window. */
    if (!rc && a.locks.n)
        rc = scan_resolve(it, bo, &a);
    if (!rc) {
        if (last)
            tl->more = 0;
        else
            rc = orbit_buf_set(it->reverse ? &tl->hi : &tl->lo, edge.data, edge.len);
    }
    orbit_buf_release(&edge);
    locks_free(&a.locks);
    if (rc) {
        chunks_free(a.ch, a.nch);
        return rc;
    }
    if (a.nch > 1)
        qsort(a.ch, a.nch, sizeof *a.ch, it->reverse ? chunk_cmp_rev : chunk_cmp_fwd);
    queue_clear(it);
    it->q = a.ch;
    it->qn = a.nch;
    it->qh = 0;
    return ORBIT_OK;
}

/* Fill it->b with the next pairs in scan order (none: exhausted). */
static int iter_fetch(tk_iter *it)
{
    batch_free(it);
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, it->t, 0);
    int rc = ORBIT_OK;
    for (;;) {
        int is_tail = it->qh >= it->qn;
        tk_chunk *c = is_tail ? &it->tail : &it->q[it->qh];
        if (c->n) {
            it->b = c->p;
            it->bn = c->n;
            it->bpos = 0;
            c->p = NULL;
            c->n = 0;
            break;
        }
        if (!c->more) {
            if (is_tail)
                break; /* nothing left */
            chunk_release(c);
            it->qh++;
            continue;
        }
        if (is_tail && !it->first_batch) {
            rc = tail_read_window(it, &bo);
        } else {
            uint32_t limit = it->first_batch && is_tail ? (uint32_t)it->first_batch : scan_want(it);
            rc = chunk_read_one(it, &bo, c, limit);
            if (is_tail)
                it->first_batch = 0;
        }
        if (rc)
            break;
    }
    if (it->qh >= it->qn)
        queue_clear(it);
    it->exhausted = it->qn == 0 && !it->tail.more && !it->tail.n;
    return rc;
}

int orbit__tikv_iter_next(void *p, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl)
{
    tk_iter *it = p;
    if (it->failed)
        return orbit_error_set(ORBIT_ECLOSED, "tikv: this iterator failed earlier; close it");
    for (;;) {
        if (it->bpos >= it->bn && !it->exhausted) {
            int rc = iter_fetch(it);
            if (rc) {
                it->failed = 1;
                return rc;
            }
            continue;
        }
        kvp *r = it->bpos < it->bn ? &it->b[it->bpos] : NULL;
        orbit__tikv_mut *l = it->lpos < it->ln ? &it->l[it->lpos] : NULL;
        if (!r && !l)
            return ORBIT_NOTFOUND;
        int c;
        if (!r)
            c = 1; /* take the local entry */
        else if (!l)
            c = -1;
        else {
            c = orbit__key_cmp(r->k, r->kl, l->k, l->kl);
            if (it->reverse)
                c = -c;
        }
        if (c < 0) {
            it->bpos++;
            *k = r->k + it->nsl;
            *kl = r->kl - it->nsl;
            *v = r->v;
            *vl = r->vl;
            it->handed++;
            it->bytes += *kl + *vl;
            return ORBIT_OK;
        }
        /* The local write wins over (or stands without) the stored entry. */
        if (c == 0)
            it->bpos++;
        it->lpos++;
        if (l->op == ORBIT__TIKV_M_DEL)
            continue;
        *k = l->k + it->nsl;
        *kl = l->kl - it->nsl;
        *v = it->keys_only || !l->v ? (const uint8_t *)"" : l->v;
        *vl = it->keys_only ? 0 : l->vl;
        it->handed++;
        it->bytes += *kl + *vl;
        return ORBIT_OK;
    }
}

static int iter_seek_stored(tk_iter *it, const uint8_t *k, size_t kl);

int orbit__tikv_iter_seek(void *p, const uint8_t *k, size_t kl)
{
    tk_iter *it = p;
    if (it->failed)
        return orbit_error_set(ORBIT_ECLOSED, "tikv: this iterator failed earlier; close it");
    orbit_buf b = ORBIT_BUF_INIT;
    const uint8_t *sk;
    size_t skl;
    int rc = skey(it->t, k, kl, &b, &sk, &skl);
    if (!rc)
        rc = iter_seek_stored(it, sk, skl);
    orbit_buf_release(&b);
    return rc;
}

/* The tail is the whole range, [it->lo, it->hi). */
static int tail_reset(tk_iter *it)
{
    tk_chunk *tl = &it->tail;
    pairs_free(tl->p, tl->n);
    tl->p = NULL;
    tl->n = 0;
    tl->locked = 0;
    tl->more = 1;
    int rc = orbit_buf_set(&tl->lo, it->lo, it->lo ? it->lol : 0);
    if (!rc)
        rc = orbit_buf_set(&tl->hi, it->hi, it->hi ? it->hil : 0);
    /* a bound below every key: k < "" holds for none */
    if (it->hi && it->hil == 0)
        tl->more = 0;
    return rc;
}

static int iter_seek_stored(tk_iter *it, const uint8_t *k, size_t kl)
{
    batch_free(it);
    queue_clear(it);
    it->first_batch = 0;
    int rc = tail_reset(it);
    tk_chunk *tl = &it->tail;
    if (!rc && it->reverse) {
        /* The last key <= k: an exclusive upper bound of k + 0x00, within hi. */
        orbit_buf b = ORBIT_BUF_INIT;
        rc = orbit_buf_set(&b, k, kl);
        if (!rc)
            rc = orbit_buf_append(&b, "", 1);
        if (!rc && (!it->hi || orbit__key_cmp(b.data, b.len, it->hi, it->hil) < 0))
            rc = orbit_buf_set(&tl->hi, b.data, b.len);
        orbit_buf_release(&b);
    } else if (!rc && (!it->lo || orbit__key_cmp(k, kl, it->lo, it->lol) > 0)) {
        rc = orbit_buf_set(&tl->lo, k, kl);
    }
    if (rc) {
        it->failed = 1;
        return rc;
    }
    it->exhausted = !tl->more;
    /* The local entries before the new position (in scan order) are passed. */
    it->lpos = 0;
    while (it->lpos < it->ln) {
        int c = orbit__key_cmp(it->l[it->lpos].k, it->l[it->lpos].kl, k, kl);
        if (it->reverse ? c <= 0 : c >= 0)
            break;
        it->lpos++;
    }
    return ORBIT_OK;
}

void orbit__tikv_iter_close(void *p)
{
    tk_iter *it = p;
    if (!it)
        return;
    if (it->live)
        orbit__tikv_live_remove(it->t, it->ts);
    batch_free(it);
    queue_clear(it);
    chunk_release(&it->tail);
    for (size_t i = 0; i < it->ln; i++) {
        free(it->l[i].k);
        free(it->l[i].v);
    }
    free(it->l);
    ts_set_free(&it->ignore);
    free(it->lo);
    free(it->hi);
    free(it);
}

/* An iterator over r at ts; local (may be NULL) the transaction's buffer,
 * whose puts and deletes inside r are copied in. live: register ts. */
static int iter_make(tikv *t, uint64_t ts, int live, const orbit_range *r, const orbit__tikv_wbuf *local,
                     void **out)
{
    tk_iter *it = calloc(1, sizeof *it);
    if (!it)
        return ORBIT_ENOMEM;
    it->t = t;
    it->ts = ts;
    it->reverse = r->reverse;
    it->keys_only = r->keys_only;
    it->nsl = t->o.nslen;
    chunk_init(&it->tail);
    int rc = ORBIT_OK;
    /* The stored range: inside the namespace [ns, successor of ns). */
    orbit_buf b = ORBIT_BUF_INIT;
    const uint8_t *k = NULL;
    size_t kl = 0;
    if (r->lo || it->nsl) {
        rc = skey(t, r->lo, r->lo ? r->lo_len : 0, &b, &k, &kl);
        if (!rc && !(it->lo = dup_bytes(k, kl)))
            rc = ORBIT_ENOMEM;
        it->lol = kl;
    }
    if (!rc && r->hi) {
        rc = skey(t, r->hi, r->hi_len, &b, &k, &kl);
        if (!rc && !(it->hi = dup_bytes(k, kl)))
            rc = ORBIT_ENOMEM;
        it->hil = kl;
    } else if (!rc && it->nsl) {
        uint8_t *succ = malloc(it->nsl);
        size_t sl = succ ? orbit__prefix_successor(t->o.ns, it->nsl, succ) : 0;
        if (!succ)
            rc = ORBIT_ENOMEM;
        else if (sl) {
            it->hi = succ;
            it->hil = sl;
        } else {
            free(succ);
        }
    }
    orbit_buf_release(&b);
    if (!rc)
        rc = tail_reset(it);
    size_t nl = 0;
    if (!rc && local && local->n) {
        if (!(it->l = calloc(local->n, sizeof *it->l)))
            rc = ORBIT_ENOMEM;
        for (size_t j = 0; !rc && j < local->n; j++) {
            const orbit__tikv_mut *m = &local->m[r->reverse ? local->n - 1 - j : j];
            if (m->op == ORBIT__TIKV_M_LOCK)
                continue;
            if (it->lo && orbit__key_cmp(m->k, m->kl, it->lo, it->lol) < 0)
                continue;
            if (it->hi && orbit__key_cmp(m->k, m->kl, it->hi, it->hil) >= 0)
                continue;
            orbit__tikv_mut *d = &it->l[it->ln];
            d->k = dup_bytes(m->k, m->kl);
            d->v = m->op == ORBIT__TIKV_M_PUT ? dup_bytes(m->v, m->vl) : NULL;
            if (!d->k || (m->op == ORBIT__TIKV_M_PUT && !d->v)) {
                free(d->k);
                free(d->v);
                rc = ORBIT_ENOMEM;
                break;
            }
            d->kl = m->kl;
            d->vl = m->vl;
            d->op = m->op;
            it->ln++;
            nl++;
        }
    }
    /* A small limit (or a byte limit) needs no more than that from the
     * store, unless local deletes may hide some of it: the first read is
     * one region's, and later ones ask for what the hints still want. */
    if (nl == 0) {
        it->hint = r->limit;
        it->hint_bytes = r->max_bytes;
        if (r->limit && r->limit < SCAN_BATCH)
            it->first_batch = r->limit;
        else if (r->max_bytes)
            it->first_batch = SCAN_BATCH;
    }
    it->exhausted = !it->tail.more;
    if (!rc && live) {
        rc = orbit__tikv_live_add(t, ts);
        it->live = rc == ORBIT_OK;
    }
    if (rc) {
        orbit__tikv_iter_close(it);
        return rc;
    }
    *out = it;
    return ORBIT_OK;
}

/* ---- heartbeats (TIKV_PROTOCOL 3.6) -------------------------------------- */

typedef struct hb_arg {
    const uint8_t *primary;
    size_t pl;
    uint64_t start_ts, ttl;
} hb_arg;

static int hb_build(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req)
{
    (void)task;
    hb_arg *a = arg;
    Kvrpcpb__TxnHeartBeatRequest r = KVRPCPB__TXN_HEART_BEAT_REQUEST__INIT;
    r.context = ctx;
    r.primary_lock = bin(a->primary, a->pl);
    r.start_version = a->start_ts;
    r.advise_lock_ttl = a->ttl;
    return pack_msg(&r.base, req);
}

static int hb_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    (void)task;
    (void)arg;
    Kvrpcpb__TxnHeartBeatResponse *r = kvrpcpb__txn_heart_beat_response__unpack(NULL, len, resp);
    if (!r)
        return decode_fail("TxnHeartBeat");
    int rc = r->error ? key_error_rc(r->error, "heartbeat") : ORBIT_OK;
    kvrpcpb__txn_heart_beat_response__free_unpacked(r, NULL);
    return rc;
}

static void *hb_main(void *arg)
{
    tikv *t = arg;
    txn_priv *p = priv(t);
    pthread_mutex_lock(&p->mu);
    while (!p->hb_stop) {
        uint64_t now = now_ms();
        uint64_t next = now + 1000;
        hb_entry *due = NULL;
        for (hb_entry *e = p->hb; e; e = e->next) {
            if (e->busy)
                continue;
            if (e->next_ms <= now) {
                due = e;
                break;
            }
            if (e->next_ms < next)
                next = e->next_ms;
        }
        if (!due) {
            /* Until the earliest entry is due (hb_add wakes it early). */
            uint64_t wait = next - now;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (time_t)(wait / 1000);
            ts.tv_nsec += (long)(wait % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&p->cv, &p->mu, &ts);
            continue;
        }
        due->busy = 1;
        unsigned hook = atomic_load(&orbit__tikv_txn_test_lock_ttl_ms);
        hb_arg a = {due->primary, due->pl, due->start_ts, (now - due->begin_ms) + (hook ? hook : MANAGED_LOCK_TTL)};
        pthread_mutex_unlock(&p->mu);
        tikv_bo bo;
        orbit__tikv_bo_init(&bo, t, 5000);
        tikv_call c = {TIKV_M_KV_TXN_HEARTBEAT, TIKV_RPC_KV_TXN_HEARTBEAT, TIKV_CALL_WRITE | TIKV_CALL_RESEND,
                       hb_build, hb_handle, &a, 0, 0, NULL};
        (void)orbit__tikv_send_key(t, &bo, a.primary, a.pl, &c);
        atomic_fetch_add(&st_heartbeats, 1);
        pthread_mutex_lock(&p->mu);
        due->busy = 0;
        due->next_ms = now_ms() + heartbeat_ms();
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Keep the transaction's primary lock alive until hb_remove. */
static hb_entry *hb_add(tikv *t, const uint8_t *primary, size_t pl, uint64_t start_ts, uint64_t begin_ms)
{
    txn_priv *p = priv(t);
    hb_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->primary = dup_bytes(primary, pl))) {
        free(e);
        return NULL; /* no heartbeat: the lock lives its TTL */
    }
    e->t = t;
    e->pl = pl;
    e->start_ts = start_ts;
    e->begin_ms = begin_ms;
    e->next_ms = now_ms() + heartbeat_ms();
    pthread_mutex_lock(&p->mu);
    if (!p->hb_started && !p->hb_stop) {
        if (pthread_create(&p->hb_thread, NULL, hb_main, t) == 0)
            p->hb_started = 1;
    }
    e->next = p->hb;
    p->hb = e;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return e;
}

static void hb_remove(tikv *t, hb_entry *e)
{
    if (!e)
        return;
    txn_priv *p = priv(t);
    pthread_mutex_lock(&p->mu);
    while (e->busy)
        pthread_cond_wait(&p->cv, &p->mu);
    for (hb_entry **pp = &p->hb; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    pthread_mutex_unlock(&p->mu);
    free(e->primary);
    free(e);
}

/* ---- transactions --------------------------------------------------------- */

typedef struct tk_txn {
    tikv *t;
    orbit_isolation iso;
    int pessimistic;
    int small; /* a plain write: start_ts was taken just now */
    uint64_t start_ts;
    uint64_t for_update_ts; /* the largest used by a pessimistic lock */
    uint64_t begin_ms;
    orbit__tikv_wbuf w;
    uint8_t *primary; /* pessimistic: the first key locked (owned) */
    size_t pl;
    int live;
    hb_entry *hb;
} tk_txn;

static void txn_free(tk_txn *x)
{
    hb_remove(x->t, x->hb);
    if (x->live)
        orbit__tikv_live_remove(x->t, x->start_ts);
    orbit__tikv_wbuf_release(&x->w);
    free(x->primary);
    free(x);
}

static int txn_new(tikv *t, orbit_isolation iso, int pessimistic, int small, tk_txn **out)
{
    tk_txn *x = calloc(1, sizeof *x);
    if (!x)
        return ORBIT_ENOMEM;
    x->t = t;
    x->iso = iso;
    x->pessimistic = pessimistic;
    x->small = small;
    x->begin_ms = now_ms();
    orbit__tikv_wbuf_init(&x->w);
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, t, 0);
    int rc = orbit__tikv_tso(t, &bo, &x->start_ts);
    /* A GC round may pass a fresh ts before it is registered: take a newer
     * one then. */
    for (int i = 0; !rc && !small && i < 3; i++) {
        rc = orbit__tikv_live_add(t, x->start_ts);
        x->live = rc == ORBIT_OK;
        if (rc != ORBIT_ECOMPACTED)
            break;
        rc = orbit__tikv_tso(t, &bo, &x->start_ts);
        if (!rc)
            rc = ORBIT_ECOMPACTED;
    }
    if (rc) {
        txn_free(x);
        return rc;
    }
    *out = x;
    return ORBIT_OK;
}

int orbit__tikv_txn_begin(void *self, const orbit_txn_opts *opts, void **out)
{
    tikv *t = self;
    orbit_isolation iso = opts ? opts->isolation : ORBIT_ISO_SNAPSHOT;
    if (iso != ORBIT_ISO_SNAPSHOT && iso != ORBIT_ISO_READ_COMMITTED)
        return orbit_error_set(ORBIT_ENOTSUP,
                               "tikv: isolation level %d is not supported (SNAPSHOT and READ_COMMITTED are: "
                               "Percolator checks written keys, not reads)",
                               (int)iso);
    tk_txn *x;
    int rc = txn_new(t, iso, t->o.pessimistic, 0, &x);
    if (!rc)
        *out = x;
    return rc;
}

/* The timestamp a read of x runs at: start_ts, or a fresh one under
 * READ_COMMITTED. */
static int read_ts(tk_txn *x, uint64_t *ts)
{
    if (x->iso != ORBIT_ISO_READ_COMMITTED) {
        *ts = x->start_ts;
        return ORBIT_OK;
    }
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, x->t, 0);
    return orbit__tikv_tso(x->t, &bo, ts);
}

static int check_sizes(const tk_txn *x, const uint8_t *k, size_t kl, size_t vl)
{
    char kb[64];
    if (kl > MAX_KEY_SIZE)
        return orbit_error_set(ORBIT_ETOOBIG, "tikv: key of %zu bytes is over TiKV's max-key-size (%u)", kl,
                               (unsigned)MAX_KEY_SIZE);
    if (kl + vl > MAX_ENTRY_SIZE)
        return orbit_error_set(ORBIT_ETOOBIG,
                               "tikv: entry '%s' of %zu bytes is over the txn entry size limit (%u)",
                               key_text(k, kl, kb), kl + vl, (unsigned)MAX_ENTRY_SIZE);
    const orbit__tikv_mut *m = orbit__tikv_wbuf_get(&x->w, k, kl);
    size_t now = x->w.bytes - (m ? m->kl + m->vl : 0) + kl + vl;
    if (now > MAX_TXN_BYTES)
        return orbit_error_set(ORBIT_ETOOBIG,
                               "tikv: the transaction would hold %zu bytes of keys and values, over "
                               "max_txn_bytes (%u)",
                               now, (unsigned)MAX_TXN_BYTES);
    return ORBIT_OK;
}

/* PessimisticLock (TIKV_PROTOCOL 3.4). */
typedef struct pl_arg {
    tk_txn *x;
    const orbit_slice *keys;
    uint64_t for_update_ts, ttl;
    int64_t wait_ms;
    int want_values, first;
    lock_list locks;
    int retry_ts; /* READ_COMMITTED write conflict: lock again at a newer ts */
    orbit_buf *vals;
    int *status;
} pl_arg;

static int pl_build(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req)
{
    pl_arg *a = arg;
    Kvrpcpb__Mutation *mv = calloc(task->n, sizeof *mv);
    Kvrpcpb__Mutation **mp = calloc(task->n, sizeof *mp);
    int rc = (!mv || !mp) ? ORBIT_ENOMEM : ORBIT_OK;
    for (size_t i = 0; !rc && i < task->n; i++) {
        kvrpcpb__mutation__init(&mv[i]);
        mv[i].op = KVRPCPB__OP__PessimisticLock;
        mv[i].key = bin(a->keys[task->idx[i]].data, a->keys[task->idx[i]].len);
        mp[i] = &mv[i];
    }
    if (!rc) {
        Kvrpcpb__PessimisticLockRequest r = KVRPCPB__PESSIMISTIC_LOCK_REQUEST__INIT;
        r.context = ctx;
        r.n_mutations = task->n;
        r.mutations = mp;
        r.primary_lock = bin(a->x->primary, a->x->pl);
        r.start_version = a->x->start_ts;
        r.lock_ttl = a->ttl;
        r.for_update_ts = a->for_update_ts;
        r.is_first_lock = a->first;
        r.wait_timeout = a->wait_ms;
        r.return_values = a->want_values;
        r.check_existence = a->want_values;
        rc = pack_msg(&r.base, req);
    }
    free(mp);
    free(mv);
    return rc;
}

static int pl_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    pl_arg *a = arg;
    Kvrpcpb__PessimisticLockResponse *r = kvrpcpb__pessimistic_lock_response__unpack(NULL, len, resp);
    if (!r)
        return decode_fail("PessimisticLock");
    int rc = ORBIT_OK;
    for (size_t i = 0; !rc && i < r->n_errors; i++) {
        Kvrpcpb__KeyError *e = r->errors[i];
        if (e->locked)
            rc = locks_add(&a->locks, e->locked);
        else if (e->conflict && a->x->iso == ORBIT_ISO_READ_COMMITTED)
            a->retry_ts = 1;
        else
            rc = key_error_rc(e, "lock a key");
    }
    if (!rc && !r->n_errors && a->want_values) {
        for (size_t i = 0; !rc && i < task->n; i++) {
            size_t d = task->idx[i];
            int nf = i < r->n_not_founds ? r->not_founds[i] : 0;
            orbit_buf_reset(&a->vals[d]);
            if (nf) {
                a->status[d] = ORBIT_NOTFOUND;
            } else if (i < r->n_values) {
                a->status[d] = ORBIT_OK;
                if (r->values[i].len && orbit_buf_append(&a->vals[d], r->values[i].data, r->values[i].len))
                    rc = ORBIT_ENOMEM;
            } else {
                a->status[d] = ORBIT_NOTFOUND;
            }
        }
    }
    kvrpcpb__pessimistic_lock_response__free_unpacked(r, NULL);
    return rc;
}

/* Lock keys[0..n) for x (pessimistic), waiting for other transactions'
 * locks; with want_values, vals/status get each key's value at the lock's
 * for_update_ts. The first key x ever locks becomes its primary, locked
 * alone first. */
static int lock_keys(tk_txn *x, size_t n, const orbit_slice *keys, int want_values, orbit_buf *vals, int *status)
{
    tikv *t = x->t;
    int rc = ORBIT_OK;
    if (!x->primary) {
        if (!(x->primary = dup_bytes(keys[0].data, keys[0].len)))
            return ORBIT_ENOMEM;
        x->pl = keys[0].len;
        rc = lock_keys(x, 1, keys, want_values, vals, status);
        if (rc) {
            free(x->primary);
            x->primary = NULL;
            x->pl = 0;
            return rc;
        }
        x->hb = hb_add(t, x->primary, x->pl, x->start_ts, x->begin_ms);
        if (n == 1)
            return ORBIT_OK;
        keys++;
        n--;
        if (vals)
            vals++, status++;
    }
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, t, 0);
    pl_arg a = {0};
    a.x = x;
    a.keys = keys;
    a.want_values = want_values;
    a.vals = vals;
    a.status = status;
    a.first = x->for_update_ts == 0;
    tikv_call c = {TIKV_M_KV_PESSIMISTIC_LOCK, TIKV_RPC_KV_PESSIMISTIC_LOCK, TIKV_CALL_WRITE | TIKV_CALL_RESEND,
                   pl_build, pl_handle, &a, 0, 0, NULL};
    int new_ts = 1;
    uint64_t until = now_ms() + LOCK_WAIT_MS;
    for (;;) {
        if (new_ts) {
            if (x->iso == ORBIT_ISO_READ_COMMITTED) {
                rc = orbit__tikv_tso(t, &bo, &a.for_update_ts);
                if (rc)
                    break;
            } else {
                /* SNAPSHOT: a change committed after start_ts is a write
                 * conflict, as at an optimistic prewrite. */
                a.for_update_ts = x->start_ts;
            }
            new_ts = 0;
        }
        a.ttl = lock_ttl(x->begin_ms, MANAGED_LOCK_TTL);
        /* The store's own wait for the lock stays well inside the request's
         * budget, so an answer always comes back. */
        uint32_t left = orbit__tikv_bo_left_ms(&bo);
        uint64_t now = now_ms();
        int64_t w = until > now ? (int64_t)(until - now) : 0;
        if (w > (int64_t)left / 2)
            w = (int64_t)left / 2;
        a.wait_ms = w > 0 ? w : -1;
        a.retry_ts = 0;
        rc = orbit__tikv_send_keys(t, &bo, n, keys, &c);
        if (rc)
            break;
        if (a.locks.n) {
            uint32_t wait = 0;
            rc = resolve_locks(t, &bo, &a.locks, 0, NULL, &wait);
            locks_clear(&a.locks);
            if (!rc)
                rc = wait_locks(&bo, wait, 0, until);
            if (rc)
                break;
            continue;
        }
        if (a.retry_ts) {
            new_ts = 1;
            continue;
        }
        break;
    }
    locks_free(&a.locks);
    if (!rc) {
        if (a.for_update_ts > x->for_update_ts)
            x->for_update_ts = a.for_update_ts;
        if (!x->for_update_ts)
            x->for_update_ts = x->start_ts;
        return ORBIT_OK;
    }
    /* A lock request whose answer was lost may have taken some locks:
     * release them now (best effort; they are this transaction's own, it
     * has committed nothing, so the failure is not "uncertain"). */
    if (rc == ORBIT_EUNCERTAIN || rc == ORBIT_ETIMEDOUT || rc == ORBIT_EUNAVAIL) {
        tikv_bo rb;
        /* a short budget of its own: the operation's deadline has passed */
        uint32_t rel = t->o.timeout_ms / 4;
        if (rel > 1000)
            rel = 1000;
        if (!rel)
            rel = 1;
        orbit__tikv_bo_init(&rb, t, rel);
        keys_arg ra = {0};
        ra.keys = keys;
        ra.start_ts = x->start_ts;
        ra.for_update_ts = a.for_update_ts ? a.for_update_ts : TIKV_TS_MAX;
        ra.kind = KA_PROLLBACK;
        ra.what = "release a lock attempt";
        char detail[384];
        snprintf(detail, sizeof detail, "%s", orbit_last_error_detail());
        (void)send_keys_req(t, &rb, &ra, n);
        /* nothing of the transaction is committed: the store was not
         * reachable in time, as a read would report it */
        if (rc == ORBIT_EUNCERTAIN || rc == ORBIT_ETIMEDOUT)
            rc = ORBIT_EUNAVAIL;
        return orbit_error_set(rc, "tikv: lock a key: %s", detail);
    }
    if (rc == ORBIT_EBUSY)
        return rewrap(ORBIT_ECONFLICT, "lock a key");
    return rc;
}

static void mark_locked(tk_txn *x, const uint8_t *k, size_t kl)
{
    int found;
    size_t i = orbit__tikv_wbuf_find(&x->w, k, kl, &found);
    if (found)
        x->w.m[i].plocked = 1;
}

static int txn_get_stored(tk_txn *x, const uint8_t *k, size_t kl, int for_update, orbit_value_fn fn, void *arg)
{
    const orbit__tikv_mut *m = orbit__tikv_wbuf_get(&x->w, k, kl);
    if (m && m->op != ORBIT__TIKV_M_LOCK) {
        if (m->op == ORBIT__TIKV_M_DEL)
            return ORBIT_NOTFOUND;
        return fn(arg, m->vl ? m->v : (const uint8_t *)"", m->vl);
    }
    int rc;
    if (for_update && !m && kl > MAX_KEY_SIZE)
        return check_sizes(x, k, kl, 0);
    if (for_update && x->pessimistic && !(m && m->plocked)) {
        orbit_slice s = {k, kl};
        orbit_buf v = ORBIT_BUF_INIT;
        int st = 0;
        rc = lock_keys(x, 1, &s, 1, &v, &st);
        if (!rc)
            rc = orbit__tikv_wbuf_set(&x->w, k, kl, ORBIT__TIKV_M_LOCK, NULL, 0, NULL);
        if (!rc) {
            mark_locked(x, k, kl);
            rc = st == ORBIT_OK ? fn(arg, v.len ? v.data : (const uint8_t *)"", v.len) : st;
        }
        orbit_buf_release(&v);
        return rc;
    }
    if (for_update && !m && (rc = orbit__tikv_wbuf_set(&x->w, k, kl, ORBIT__TIKV_M_LOCK, NULL, 0, NULL)) != 0)
        return rc;
    uint64_t ts;
    rc = read_ts(x, &ts);
    if (rc)
        return rc;
    return read_key(x->t, ts, k, kl, fn, arg);
}

int orbit__tikv_txn_get(void *p, const uint8_t *k, size_t kl, int for_update, orbit_value_fn fn, void *arg)
{
    tk_txn *x = p;
    orbit_buf b = ORBIT_BUF_INIT;
    const uint8_t *sk;
    size_t skl;
    int rc = skey(x->t, k, kl, &b, &sk, &skl);
    if (!rc)
        rc = txn_get_stored(x, sk, skl, for_update, fn, arg);
    orbit_buf_release(&b);
    return rc;
}

static int txn_write_stored(tk_txn *x, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, int op)
{
    int rc = check_sizes(x, k, kl, op == ORBIT__TIKV_M_PUT ? vl : 0);
    if (rc)
        return rc;
    if (x->pessimistic) {
        const orbit__tikv_mut *m = orbit__tikv_wbuf_get(&x->w, k, kl);
        if (!(m && m->plocked)) {
            orbit_slice s = {k, kl};
            rc = lock_keys(x, 1, &s, 0, NULL, NULL);
            if (rc)
                return rc;
        }
    }
    rc = orbit__tikv_wbuf_set(&x->w, k, kl, op, v, vl, NULL);
    if (!rc && x->pessimistic)
        mark_locked(x, k, kl);
    return rc;
}

/* A write of user key k. */
static int txn_write(tk_txn *x, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, int op)
{
    orbit_buf b = ORBIT_BUF_INIT;
    const uint8_t *sk;
    size_t skl;
    int rc = skey(x->t, k, kl, &b, &sk, &skl);
    if (!rc)
        rc = txn_write_stored(x, sk, skl, v, vl, op);
    orbit_buf_release(&b);
    return rc;
}

int orbit__tikv_txn_put(void *p, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    return txn_write(p, k, kl, v, vl, ORBIT__TIKV_M_PUT);
}

int orbit__tikv_txn_del(void *p, const uint8_t *k, size_t kl)
{
    return txn_write(p, k, kl, NULL, 0, ORBIT__TIKV_M_DEL);
}

static int txn_multi_get_stored(tk_txn *x, size_t n, const orbit_slice *keys, orbit_buf *vals, int *status);

int orbit__tikv_txn_multi_get(void *p, size_t n, const orbit_slice *keys, orbit_buf *vals, int *status)
{
    tk_txn *x = p;
    if (n == 0)
        return ORBIT_OK;
    const orbit_slice *sk;
    orbit_slice *own;
    orbit_buf *bufs;
    int rc = skeys(x->t, n, keys, &sk, &own, &bufs);
    if (!rc)
        rc = txn_multi_get_stored(x, n, sk, vals, status);
    skeys_free(n, own, bufs);
    if (rc == ORBIT_ENOMEM && !own && x->t->o.nslen)
        for (size_t i = 0; i < n; i++) {
            status[i] = rc;
            orbit_buf_reset(&vals[i]);
        }
    return rc;
}

static int txn_multi_get_stored(tk_txn *x, size_t n, const orbit_slice *keys, orbit_buf *vals, int *status)
{
    size_t *at = calloc(n, sizeof *at);
    orbit_slice *rk = calloc(n, sizeof *rk);
    orbit_buf *rv = calloc(n, sizeof *rv);
    int *rs = calloc(n, sizeof *rs);
    int rc = (!at || !rk || !rv || !rs) ? ORBIT_ENOMEM : ORBIT_OK;
    size_t m = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        const orbit__tikv_mut *e = orbit__tikv_wbuf_get(&x->w, keys[i].data, keys[i].len);
        if (!e || e->op == ORBIT__TIKV_M_LOCK) {
            at[m] = i;
            rk[m++] = keys[i];
            continue;
        }
        orbit_buf_reset(&vals[i]);
        if (e->op == ORBIT__TIKV_M_DEL)
            status[i] = ORBIT_NOTFOUND;
        else
            status[i] = e->vl && orbit_buf_append(&vals[i], e->v, e->vl) ? ORBIT_ENOMEM : ORBIT_OK;
    }
    uint64_t ts = 0;
    if (!rc && m)
        rc = read_ts(x, &ts);
    if (!rc && m) {
        (void)read_many(x->t, ts, m, rk, rv, rs);
        for (size_t i = 0; i < m; i++) {
            size_t d = at[i];
            status[d] = rs[i];
            orbit_buf_reset(&vals[d]);
            if (rs[i] == ORBIT_OK && rv[i].len && orbit_buf_append(&vals[d], rv[i].data, rv[i].len))
                status[d] = ORBIT_ENOMEM;
        }
    }
    if (rv)
        for (size_t i = 0; i < n; i++)
            orbit_buf_release(&rv[i]);
    free(rs);
    free(rv);
    free(rk);
    free(at);
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            status[i] = rc;
            orbit_buf_reset(&vals[i]);
        }
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        if (status[i] < 0)
            return status[i];
    return ORBIT_OK;
}

int orbit__tikv_txn_iter_open(void *p, const orbit_range *r, void **it)
{
    tk_txn *x = p;
    if (x->iso == ORBIT_ISO_READ_COMMITTED) {
        uint64_t ts;
        int rc = read_ts(x, &ts);
        if (rc)
            return rc;
        return iter_make(x->t, ts, 1, r, &x->w, it);
    }
    return iter_make(x->t, x->start_ts, 0, r, &x->w, it);
}

/* ---- commit (TIKV_PROTOCOL 3.3, 3.5) ------------------------------------ */

/* The commit's mutations, views into the buffer, sorted by key. */
typedef struct muts {
    size_t n;
    orbit_slice *keys;
    const orbit__tikv_mut **m;
    size_t primary; /* index of the primary key */
    size_t key_bytes;
    size_t nclaims; /* Op::Lock mutations (keys read for update, not written) */
} muts;

typedef struct pw_arg {
    tk_txn *x;
    const muts *mu;
    const size_t *map; /* send_keys index -> mutation index; NULL: identity */
    int one_pc, async;
    uint64_t ttl, min_commit_ts, max_commit_ts;
    /* results */
    uint64_t max_min_commit; /* async: largest min_commit_ts returned */
    int async_refused;       /* async: a batch answered min_commit_ts 0 */
    uint64_t one_pc_ts;      /* 1PC: committed at this ts */
    int one_pc_tried;        /* a request carried every mutation with try_one_pc */
    int one_pc_split;        /* after that, a resend carried only some (a split):
                              * the 1PC attempt may have committed unseen */
    int definite;            /* a key error proves the txn cannot commit */
    lock_list locks;
    unsigned char *pending; /* by send_keys index: met a lock, send again */
} pw_arg;

static size_t pw_orig(const pw_arg *a, size_t i)
{
    return a->map ? a->map[i] : i;
}

static int pw_build(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req)
{
    pw_arg *a = arg;
    const muts *mu = a->mu;
    tk_txn *x = a->x;
    size_t n = task->n;
    Kvrpcpb__Mutation *mv = calloc(n, sizeof *mv);
    Kvrpcpb__Mutation **mp = calloc(n, sizeof *mp);
    Kvrpcpb__PrewriteRequest__PessimisticAction *pa = x->pessimistic ? calloc(n, sizeof *pa) : NULL;
    ProtobufCBinaryData *sec = NULL;
    int rc = (!mv || !mp || (x->pessimistic && !pa)) ? ORBIT_ENOMEM : ORBIT_OK;
    int has_primary = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        size_t o = pw_orig(a, task->idx[i]);
        const orbit__tikv_mut *m = mu->m[o];
        kvrpcpb__mutation__init(&mv[i]);
        mv[i].op = m->op == ORBIT__TIKV_M_PUT ? KVRPCPB__OP__Put
                   : m->op == ORBIT__TIKV_M_DEL ? KVRPCPB__OP__Del
                                                : KVRPCPB__OP__Lock;
        mv[i].key = bin(m->k, m->kl);
        if (m->op == ORBIT__TIKV_M_PUT)
            mv[i].value = bin(m->v, m->vl);
        mp[i] = &mv[i];
        if (pa)
            pa[i] = m->plocked ? KVRPCPB__PREWRITE_REQUEST__PESSIMISTIC_ACTION__DO_PESSIMISTIC_CHECK
                               : KVRPCPB__PREWRITE_REQUEST__PESSIMISTIC_ACTION__SKIP_PESSIMISTIC_CHECK;
        has_primary |= o == mu->primary;
    }
    if (!rc && a->async && has_primary && mu->n > 1) {
        if (!(sec = calloc(mu->n - 1, sizeof *sec)))
            rc = ORBIT_ENOMEM;
        size_t j = 0;
        for (size_t i = 0; !rc && i < mu->n; i++)
            if (i != mu->primary)
                sec[j++] = bin(mu->keys[i].data, mu->keys[i].len);
    }
    if (!rc) {
        Kvrpcpb__PrewriteRequest r = KVRPCPB__PREWRITE_REQUEST__INIT;
        r.context = ctx;
        r.n_mutations = n;
        r.mutations = mp;
        r.primary_lock = bin(mu->keys[mu->primary].data, mu->keys[mu->primary].len);
        r.start_version = x->start_ts;
        r.lock_ttl = a->ttl;
        r.txn_size = n;
        if (x->pessimistic) {
            r.for_update_ts = x->for_update_ts;
            r.n_pessimistic_actions = n;
            r.pessimistic_actions = pa;
        }
        r.min_commit_ts = a->min_commit_ts;
        if (a->async) {
            r.use_async_commit = 1;
            r.max_commit_ts = a->max_commit_ts;
            if (sec) {
                r.n_secondaries = mu->n - 1;
                r.secondaries = sec;
            }
        }
        /* 1PC only when this one request carries the whole transaction: a
         * split region re-splits the keys, and then it is plain 2PC. */
        if (a->one_pc && n == mu->n) {
            r.try_one_pc = 1;
            r.max_commit_ts = a->max_commit_ts;
            a->one_pc_tried = 1;
        } else if (a->one_pc && a->one_pc_tried) {
            /* A store that committed the 1PC attempt answers this part
             * with success and no commit ts (its own commit record). */
            a->one_pc_split = 1;
        }
        rc = pack_msg(&r.base, req);
    }
    free(sec);
    free(pa);
    free(mp);
    free(mv);
    return rc;
}

static int pw_handle(void *arg, const tikv_task *task, const uint8_t *resp, size_t len)
{
    pw_arg *a = arg;
    Kvrpcpb__PrewriteResponse *r = kvrpcpb__prewrite_response__unpack(NULL, len, resp);
    if (!r)
        return decode_fail("KvPrewrite");
    int rc = ORBIT_OK;
    int locked = 0;
    for (size_t i = 0; !rc && i < r->n_errors; i++) {
        Kvrpcpb__KeyError *e = r->errors[i];
        if (e->locked) {
            /* Optimistic: a lock newer than our start is a write that will
             * conflict with us if it commits: fail fast, as client-go. */
            if (!a->x->pessimistic && e->locked->lock_version > a->x->start_ts) {
                char kb[64];
                a->definite = 1;
                rc = orbit_error_set(ORBIT_ECONFLICT,
                                     "tikv: commit: key '%s' is locked by a newer transaction (%llu)",
                                     key_text(e->locked->key.data, e->locked->key.len, kb),
                                     (unsigned long long)e->locked->lock_version);
                break;
            }
            rc = locks_add(&a->locks, e->locked);
            locked = 1;
        } else {
            a->definite = 1;
            rc = key_error_rc(e, "commit (prewrite)");
        }
    }
    if (!rc && locked) {
        for (size_t i = 0; i < task->n; i++)
            a->pending[task->idx[i]] = 1;
    } else if (!rc) {
        if (a->async && !(a->one_pc && task->n == a->mu->n)) {
            if (r->min_commit_ts == 0)
                a->async_refused = 1;
            else if (r->min_commit_ts > a->max_min_commit)
                a->max_min_commit = r->min_commit_ts;
        }
        if (a->one_pc && task->n == a->mu->n && r->one_pc_commit_ts)
            a->one_pc_ts = r->one_pc_commit_ts;
    }
    kvrpcpb__prewrite_response__free_unpacked(r, NULL);
    return rc;
}

/* Prewrite the mutations at positions sel[0..ns) (ascending), resolving
 * locks and resending what met them, until done or failed. */
static int prewrite_set(tikv *t, tikv_bo *bo, pw_arg *a, size_t *sel, size_t ns)
{
    const muts *mu = a->mu;
    orbit_slice *keys = calloc(ns ? ns : 1, sizeof *keys);
    unsigned char *pending = calloc(ns ? ns : 1, 1);
    if (!keys || !pending) {
        free(keys);
        free(pending);
        return ORBIT_ENOMEM;
    }
    /* Every prewrite may be resent after a lost answer, 1PC and async
     * commit ones too (client-go's region request sender does): the loop
     * marks the resend is_retry_request, and TiKV answers a prewrite of the
     * same start_ts idempotently: its own lock is kept (async: the lock's
     * min_commit_ts comes back), its own commit record answers success with
     * that commit ts (1PC: one_pc_commit_ts; async: min_commit_ts), its own
     * rollback record is WriteConflict SelfRolledBack (a definite failure).
     * Only when no resend is answered before the deadline is the result
     * ORBIT_EUNCERTAIN. */
    unsigned flags = TIKV_CALL_WRITE | TIKV_CALL_RESEND;
    tikv_call c = {TIKV_M_KV_PREWRITE, TIKV_RPC_KV_PREWRITE, flags, pw_build, pw_handle, a,
                   0, TXN_BATCH_BYTES, NULL};
    if (a->one_pc)
        c.max_bytes = 0; /* one request for the whole (small) transaction */
    int rc = ORBIT_OK;
    uint64_t until = now_ms() + LOCK_WAIT_MS;
    for (;;) {
        for (size_t i = 0; i < ns; i++)
            keys[i] = mu->keys[sel[i]];
        a->map = sel;
        a->pending = pending;
        memset(pending, 0, ns);
        rc = orbit__tikv_send_keys(t, bo, ns, keys, &c);
        if (rc || !a->locks.n)
            break;
        uint32_t wait = 0;
        rc = resolve_locks(t, bo, &a->locks, 0, NULL, &wait);
        locks_clear(&a->locks);
        if (!rc)
            rc = wait_locks(bo, wait, 0, until);
        if (rc)
            break;
        size_t m = 0;
        for (size_t i = 0; i < ns; i++)
            if (pending[i])
                sel[m++] = sel[i];
        ns = m;
        if (!ns)
            break;
    }
    a->map = NULL;
    a->pending = NULL;
    free(keys);
    free(pending);
    return rc;
}

/* Roll back every key of the commit that may hold our lock (best effort:
 * what is left is rolled back by the next reader once it expires). */
static void rollback_all(tk_txn *x, const muts *mu)
{
    /* The failure that led here keeps its detail. */
    char detail[384];
    snprintf(detail, sizeof detail, "%s", orbit_last_error_detail());
    int code = -1;
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, x->t, 0);
    keys_arg a = {0};
    a.keys = mu->keys;
    a.start_ts = x->start_ts;
    a.kind = KA_ROLLBACK;
    a.what = "roll back";
    (void)send_keys_req(x->t, &bo, &a, mu->n);
    (void)orbit_error_set(code, "%s", detail);
}

/* Release the pessimistic locks of a transaction that never prewrote. */
static void release_locks(tk_txn *x)
{
    size_t n = 0;
    for (size_t i = 0; i < x->w.n; i++)
        n += x->w.m[i].plocked;
    if (!n)
        return;
    orbit_slice *keys = calloc(n, sizeof *keys);
    if (!keys)
        return;
    n = 0;
    for (size_t i = 0; i < x->w.n; i++)
        if (x->w.m[i].plocked)
            keys[n++] = (orbit_slice){x->w.m[i].k, x->w.m[i].kl};
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, x->t, 0);
    keys_arg a = {0};
    a.keys = keys;
    a.start_ts = x->start_ts;
    a.for_update_ts = x->for_update_ts ? x->for_update_ts : TIKV_TS_MAX;
    a.kind = KA_PROLLBACK;
    a.what = "release pessimistic locks";
    (void)send_keys_req(x->t, &bo, &a, n);
    free(keys);
}

/* Release the pessimistic locks of the keys only read for update (all
 * locked keys when `all`), after the commit (best effort). */
static void release_claims(tk_txn *x, int all)
{
    size_t n = 0;
    orbit_slice *keys = calloc(x->w.n ? x->w.n : 1, sizeof *keys);
    if (!keys)
        return;
    for (size_t i = 0; i < x->w.n; i++) {
        const orbit__tikv_mut *m = &x->w.m[i];
        if (!m->plocked || (!all && m->op != ORBIT__TIKV_M_LOCK))
            continue;
        keys[n++] = (orbit_slice){m->k, m->kl};
    }
    if (n) {
        tikv_bo bo;
        orbit__tikv_bo_init(&bo, x->t, 0);
        keys_arg a = {0};
        a.keys = keys;
        a.start_ts = x->start_ts;
        a.for_update_ts = x->for_update_ts ? x->for_update_ts : TIKV_TS_MAX;
        a.kind = KA_PROLLBACK;
        a.what = "release the keys read for update";
        (void)send_keys_req(x->t, &bo, &a, n);
    }
    free(keys);
}

/* Background commit of an async-commit transaction's keys. */
typedef struct bg_job {
    tikv *t;
    uint64_t start_ts, commit_ts;
    size_t n;
    orbit_slice *keys; /* into mem */
    uint8_t *mem;
    const uint8_t *primary;
    size_t pl;
} bg_job;

static void bg_run(bg_job *j)
{
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, j->t, 0);
    keys_arg a = {0};
    a.keys = j->keys;
    a.start_ts = j->start_ts;
    a.commit_ts = j->commit_ts;
    a.async = 1;
    a.primary_role = 2;
    a.primary = j->primary;
    a.pl = j->pl;
    a.kind = KA_COMMIT;
    a.what = "commit (async, in the background)";
    /* Failures do not matter: the transaction is committed already, and a
     * reader resolves any lock left behind. */
    (void)send_keys_req(j->t, &bo, &a, j->n);
    free(j->keys);
    free(j->mem);
    free(j);
}

static void *bg_main(void *arg)
{
    bg_job *j = arg;
    tikv *t = j->t;
    while (atomic_load(&orbit__tikv_txn_test_hold_background)) {
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    bg_run(j);
    txn_priv *p = priv(t);
    pthread_mutex_lock(&p->mu);
    p->bg_inflight--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void bg_commit(tk_txn *x, const muts *mu, uint64_t commit_ts)
{
    size_t bytes = 0;
    for (size_t i = 0; i < mu->n; i++)
        bytes += mu->keys[i].len;
    bg_job *j = calloc(1, sizeof *j);
    if (j) {
        j->keys = calloc(mu->n, sizeof *j->keys);
        j->mem = malloc(bytes ? bytes : 1);
    }
    if (!j || !j->keys || !j->mem) {
        if (j) {
            free(j->keys);
            free(j->mem);
            free(j);
        }
        return; /* committed; readers resolve the locks */
    }
    j->t = x->t;
    j->start_ts = x->start_ts;
    j->commit_ts = commit_ts;
    j->n = mu->n;
    size_t off = 0;
    for (size_t i = 0; i < mu->n; i++) {
        memcpy(j->mem + off, mu->keys[i].data, mu->keys[i].len);
        j->keys[i] = (orbit_slice){j->mem + off, mu->keys[i].len};
        if (i == mu->primary) {
            j->primary = j->mem + off;
            j->pl = mu->keys[i].len;
        }
        off += mu->keys[i].len;
    }
    txn_priv *p = priv(x->t);
    pthread_mutex_lock(&p->mu);
    p->bg_inflight++;
    pthread_mutex_unlock(&p->mu);
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int started = pthread_create(&th, &at, bg_main, j) == 0;
    pthread_attr_destroy(&at);
    if (!started)
        bg_main(j); /* no thread: commit inline */
}

/* Commit the primary (2PC): the commit point. */
static int commit_primary(tk_txn *x, tikv_bo *bo, const muts *mu, uint64_t *commit_ts)
{
    tikv *t = x->t;
    keys_arg a = {0};
    orbit_slice pk = mu->keys[mu->primary];
    a.keys = &pk;
    a.start_ts = x->start_ts;
    a.primary_role = 1;
    a.primary = pk.data;
    a.pl = pk.len;
    a.kind = KA_COMMIT;
    a.what = "commit the primary key";
    int rc;
    for (int round = 0; round < 8; round++) {
        rc = orbit__tikv_tso(t, bo, &a.commit_ts);
        if (rc)
            return rc;
        if (a.commit_ts < a.min_commit_ts) {
            /* The lock asks for a later ts than PD has handed out yet. */
            if ((rc = orbit__tikv_bo_sleep(bo, TIKV_BO_TXN_LOCK_FAST, 0)) != 0)
                return rc;
            continue;
        }
        a.min_commit_ts = 0;
        rc = send_keys_req(t, bo, &a, 1);
        if (rc || !a.min_commit_ts) {
            if (!rc)
                *commit_ts = a.commit_ts;
            return rc;
        }
        /* CommitTsExpired: a reader pushed the lock; take a newer ts. */
    }
    return orbit_error_set(ORBIT_ECONFLICT, "tikv: commit: readers kept pushing the primary lock's min_commit_ts");
}

static void commit_secondaries(tk_txn *x, const muts *mu, uint64_t commit_ts)
{
    if (mu->n < 2)
        return;
    orbit_slice *keys = calloc(mu->n - 1, sizeof *keys);
    if (!keys)
        return;
    /* Written keys are committed; keys only read for update are rolled
     * back instead: their lock guarded them up to the commit point, and a
     * committed Lock record would make every writer that started before it
     * conflict on a key this transaction never changed. (The commit point
     * is the primary alone, so a resolver that commits one instead changes
     * nothing.) */
    size_t n = 0, nc = 0;
    for (size_t i = 0; i < mu->n; i++)
        if (i != mu->primary && mu->m[i]->op != ORBIT__TIKV_M_LOCK)
            keys[n++] = mu->keys[i];
    for (size_t i = 0; i < mu->n; i++)
        if (i != mu->primary && mu->m[i]->op == ORBIT__TIKV_M_LOCK)
            keys[n + nc++] = mu->keys[i];
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, x->t, 0);
    keys_arg a = {0};
    a.keys = keys;
    a.start_ts = x->start_ts;
    a.commit_ts = commit_ts;
    a.primary_role = 2;
    a.primary = mu->keys[mu->primary].data;
    a.pl = mu->keys[mu->primary].len;
    a.kind = KA_COMMIT;
    a.what = "commit the secondary keys";
    if (n)
        (void)send_keys_req(x->t, &bo, &a, n);
    if (nc) {
        keys_arg r = {0};
        r.keys = keys + n;
        r.start_ts = x->start_ts;
        r.kind = KA_ROLLBACK;
        r.what = "release the keys read for update";
        (void)send_keys_req(x->t, &bo, &r, nc);
    }
    free(keys);
}

/* Whether the test hook stops this commit at point `at` (and disarm it). */
static int stop_hook(int at)
{
    int want = at;
    return atomic_load(&orbit__tikv_txn_test_stop_after_prewrite) == at &&
           atomic_compare_exchange_strong(&orbit__tikv_txn_test_stop_after_prewrite, &want, 0);
}

static int stopped(tk_txn *x)
{
    /* As if killed: its heartbeat stops with it. */
    hb_remove(x->t, x->hb);
    x->hb = NULL;
    return orbit_error_set(ORBIT_EUNCERTAIN, "tikv: test hook: the commit stopped here, as if killed");
}

/* After a 1PC attempt whose answer was lost was resent in parts: whether
 * it had committed. *commit_ts: its commit ts, or 0 when the primary holds
 * this transaction's lock (it did not; go on as 2PC). */
static int one_pc_status(tk_txn *x, tikv_bo *bo, const muts *mu, uint64_t *commit_ts)
{
    txn_status st;
    memset(&st, 0, sizeof st);
    cts_arg c = {0};
    c.primary = mu->keys[mu->primary].data;
    c.pl = mu->keys[mu->primary].len;
    c.lock_ts = x->start_ts;
    c.out = &st;
    int rc = check_txn_status(x->t, bo, &c);
    lock_release(&st.lock);
    if (rc)
        return rc;
    *commit_ts = 0;
    if (st.state == ST_COMMITTED) {
        *commit_ts = st.commit_ts;
        return ORBIT_OK;
    }
    if (st.state == ST_LOCKED)
        return ORBIT_OK;
    return orbit_error_set(ORBIT_ECONFLICT, "tikv: commit: the transaction was rolled back by another client");
}

/* Everything after the mutations are known. *version: the commit ts. */
static int commit_muts(tk_txn *x, muts *mu, uint64_t *version)
{
    tikv *t = x->t;
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, t, 0);
    size_t bytes = x->w.bytes;
    /* Which path: 1PC needs one region and one request. */
    tikv_group *g = NULL;
    size_t ng = 0;
    int rc = orbit__tikv_group_keys(t, &bo, mu->n, mu->keys, &g, &ng);
    if (rc)
        return rc;
    size_t max_batch = t->o.max_batch_size ? t->o.max_batch_size : 1000;
    /* Keys read for update are rolled back after the commit point (see
     * commit_secondaries), which needs the plain 2PC commit point. */
    int one_pc = !mu->nclaims && t->o.enable_one_pc && ng == 1 && mu->n <= max_batch && bytes <= ONE_PC_MAX_BYTES;
    int async = !mu->nclaims && !one_pc && t->o.enable_async_commit && mu->n <= ASYNC_MAX_KEYS &&
                mu->key_bytes <= ASYNC_MAX_KEY_BYTES;
    /* The primary's region group goes first. */
    size_t pg = 0;
    for (size_t i = 0; i < ng; i++)
        for (size_t j = 0; j < g[i].n; j++)
            if (g[i].idx[j] == mu->primary)
                pg = i;
    size_t *first = calloc(mu->n, sizeof *first), *rest = calloc(mu->n, sizeof *rest);
    size_t nfirst = 0, nrest = 0;
    if (!first || !rest) {
        orbit__tikv_groups_free(g, ng);
        free(first);
        free(rest);
        return ORBIT_ENOMEM;
    }
    for (size_t i = 0; i < ng; i++)
        for (size_t j = 0; j < g[i].n; j++) {
            if (i == pg)
                first[nfirst++] = g[i].idx[j];
            else
                rest[nrest++] = g[i].idx[j];
        }
    orbit__tikv_groups_free(g, ng);
    /* send_keys wants its keys' indices; the groups give them ascending. */
    pw_arg a = {0};
    a.x = x;
    a.mu = mu;
    a.one_pc = one_pc;
    a.async = async;
    a.ttl = lock_ttl(x->begin_ms, x->pessimistic ? MANAGED_LOCK_TTL : ttl_for_size(bytes));
    uint64_t base = (x->for_update_ts > x->start_ts ? x->for_update_ts : x->start_ts) + 1;
    if ((one_pc || async) && !x->small) {
        /* The commit ts must follow every ts handed out before this commit
         * began (linearizability), as client-go's latest-ts fetch. */
        uint64_t latest;
        rc = orbit__tikv_tso(t, &bo, &latest);
        if (!rc && latest + 1 > base)
            base = latest + 1;
    }
    a.min_commit_ts = base;
    a.max_commit_ts = base + ((uint64_t)2000 << TIKV_TS_LOGICAL_BITS);
    if (!rc)
        rc = prewrite_set(t, &bo, &a, first, nfirst);
    int big = !x->pessimistic && bytes >= HEARTBEAT_BYTES;
    if (!rc && big && !x->hb)
        x->hb = hb_add(t, mu->keys[mu->primary].data, mu->keys[mu->primary].len, x->start_ts, x->begin_ms);
    if (!rc && nrest && !one_pc && stop_hook(ORBIT__TIKV_STOP_PRIMARY_PREWRITE)) {
        free(first);
        free(rest);
        locks_free(&a.locks);
        return stopped(x);
    }
    if (!rc && nrest)
        rc = prewrite_set(t, &bo, &a, rest, nrest);
    free(first);
    free(rest);
    locks_free(&a.locks);
    if (rc) {
        if ((one_pc || async) && rc == ORBIT_EUNCERTAIN && !a.definite)
            return rc; /* may have committed: readers decide */
        rollback_all(x, mu);
        /* A 2PC prewrite that may have landed did not commit anything: the
         * primary is never committed now. */
        if (rc == ORBIT_EUNCERTAIN)
            return orbit_error_set(ORBIT_EUNAVAIL, "tikv: commit: the prewrite was not answered; rolled back");
        return rc;
    }
    if (one_pc && !a.one_pc_ts && a.one_pc_split) {
        /* The 1PC attempt's answer was lost, and the resend went out in
         * parts after a split: stores that had committed it answered
         * success without a commit ts. The primary's status tells. */
        rc = one_pc_status(x, &bo, mu, &a.one_pc_ts);
        if (rc == ORBIT_EUNCERTAIN || rc == ORBIT_ETIMEDOUT || rc == ORBIT_EUNAVAIL)
            return orbit_error_set(ORBIT_EUNCERTAIN, "tikv: commit: a 1PC attempt's answer was lost and its "
                                                     "outcome could not be read back: %s",
                                   orbit_last_error_detail());
        if (rc) {
            rollback_all(x, mu);
            return rc;
        }
    }
    if (one_pc && a.one_pc_ts) {
        atomic_fetch_add(&st_one_pc, 1);
        *version = a.one_pc_ts;
        return ORBIT_OK;
    }
    if (one_pc || (async && a.async_refused))
        atomic_fetch_add(&st_fallbacks, 1);
    if (stop_hook(ORBIT__TIKV_STOP_PREWRITE))
        return stopped(x);
    if (async && !a.async_refused) {
        atomic_fetch_add(&st_async, 1);
        *version = a.max_min_commit;
        bg_commit(x, mu, a.max_min_commit);
        return ORBIT_OK;
    }
    if (mu->nclaims == mu->n) {
        /* Only reads for update: validated by the prewrite, nothing to
         * commit; release the locks. */
        rollback_all(x, mu);
        orbit_error_clear();
        return ORBIT_OK;
    }
    atomic_fetch_add(&st_two_pc, 1);
    uint64_t cts = 0;
    rc = commit_primary(x, &bo, mu, &cts);
    if (rc) {
        if (rc == ORBIT_EUNCERTAIN)
            return rc;
        /* The primary did not commit (rolled back by a resolver, or never
         * sent): nothing is committed. */
        rollback_all(x, mu);
        return rc;
    }
    if (stop_hook(ORBIT__TIKV_STOP_PRIMARY_COMMIT))
        return stopped(x);
    commit_secondaries(x, mu, cts);
    *version = cts;
    return ORBIT_OK;
}

static int txn_commit(tk_txn *x, uint64_t *version)
{
    *version = 0;
    size_t nw = orbit__tikv_wbuf_writes(&x->w);
    if (x->pessimistic && nw == 0) {
        /* Reads for update only: the locks guarded them; release them. */
        release_locks(x);
        return ORBIT_OK;
    }
    if (x->w.n == 0)
        return ORBIT_OK;
    muts mu = {0};
    mu.keys = calloc(x->w.n, sizeof *mu.keys);
    mu.m = calloc(x->w.n, sizeof *mu.m);
    if (!mu.keys || !mu.m) {
        free(mu.keys);
        free(mu.m);
        if (x->pessimistic)
            release_locks(x);
        return ORBIT_ENOMEM;
    }
    /* The mutations. Pessimistic: keys only read for update are left out
     * (their pessimistic locks guard them until released after the
     * commit), except the primary, which every lock names. Optimistic:
     * they are Op::Lock mutations, and the primary is the first written
     * key (so it is never a key rolled back after the commit point). */
    size_t left_out = 0;
    int have_primary = 0;
    /* Pessimistic: the prewrite's primary is the lock primary when it is
     * written, else the first written key: the prewrite locks all name it,
     * and the keys only claimed (the old primary too) keep their
     * pessimistic locks until released after the commit point. */
    const uint8_t *pk = x->primary;
    size_t pkl = x->pl;
    if (x->pessimistic) {
        const orbit__tikv_mut *pm = pk ? orbit__tikv_wbuf_get(&x->w, pk, pkl) : NULL;
        if (!pm || pm->op == ORBIT__TIKV_M_LOCK)
            for (size_t i = 0; i < x->w.n; i++)
                if (x->w.m[i].op != ORBIT__TIKV_M_LOCK) {
                    pk = x->w.m[i].k;
                    pkl = x->w.m[i].kl;
                    break;
                }
    }
    for (size_t i = 0; i < x->w.n; i++) {
        const orbit__tikv_mut *m = &x->w.m[i];
        int is_primary = x->pessimistic && orbit__key_cmp(m->k, m->kl, pk, pkl) == 0;
        if (x->pessimistic && m->op == ORBIT__TIKV_M_LOCK) {
            left_out++;
            continue;
        }
        if (is_primary || (!x->pessimistic && !have_primary && m->op != ORBIT__TIKV_M_LOCK)) {
            mu.primary = mu.n;
            have_primary = 1;
        }
        mu.keys[mu.n] = (orbit_slice){m->k, m->kl};
        mu.m[mu.n] = m;
        mu.key_bytes += m->kl;
        mu.nclaims += m->op == ORBIT__TIKV_M_LOCK && !x->pessimistic;
        mu.n++;
    }
    uint64_t v = 0;
    int rc = commit_muts(x, &mu, &v);
    free(mu.keys);
    free(mu.m);
    if (left_out) {
        /* Release the pessimistic locks of the keys left out (all of them
         * after a failure: rollback_all covered only the mutations). */
        char d[384];
        snprintf(d, sizeof d, "%s", orbit_last_error_detail());
        release_claims(x, rc != ORBIT_OK);
        if (rc)
            (void)orbit_error_set(rc, "%s", d);
    }
    /* A plain write says the key is busy; a transaction's commit that met
     * another live transaction's lock is a conflict. */
    if (rc == ORBIT_EBUSY && !x->small)
        rc = rewrap(ORBIT_ECONFLICT, "commit");
    /* A transaction that only read for update (optimistic) wrote nothing. */
    if (!rc && nw)
        *version = v;
    return rc;
}

int orbit__tikv_txn_commit_version(void *p, uint64_t *version)
{
    tk_txn *x = p;
    uint64_t v = 0;
    int rc = txn_commit(x, &v);
    if (version)
        *version = rc == ORBIT_OK ? v : 0;
    txn_free(x);
    return rc;
}

int orbit__tikv_txn_commit(void *p)
{
    return orbit__tikv_txn_commit_version(p, NULL);
}

void orbit__tikv_txn_rollback(void *p)
{
    tk_txn *x = p;
    if (x->pessimistic) {
        /* A rollback after a failed operation keeps that failure's detail
         * for the caller (the release's own requests would clear it). */
        char d[384];
        snprintf(d, sizeof d, "%s", orbit_last_error_detail());
        release_locks(x);
        if (d[0])
            (void)orbit_error_set(-1, "%s", d);
        else
            orbit_error_clear();
    }
    txn_free(x);
}

/* ---- plain operations in txn mode ----------------------------------------- */

typedef struct tk_snap {
    uint64_t ts;
} tk_snap;

/* The ts a plain read runs at: the snapshot's, or a fresh one. */
static int plain_ts(tikv *t, void *snap, uint64_t *ts)
{
    if (snap) {
        *ts = ((tk_snap *)snap)->ts;
        return ORBIT_OK;
    }
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, t, 0);
    return orbit__tikv_tso(t, &bo, ts);
}

int orbit__tikv_get(void *self, void *snap, const uint8_t *k, size_t kl, orbit_value_fn fn, void *arg)
{
    uint64_t ts;
    int rc = plain_ts(self, snap, &ts);
    if (rc)
        return rc;
    orbit_buf b = ORBIT_BUF_INIT;
    const uint8_t *sk;
    size_t skl;
    rc = skey(self, k, kl, &b, &sk, &skl);
    if (!rc)
        rc = read_key(self, ts, sk, skl, fn, arg);
    orbit_buf_release(&b);
    return rc;
}

int orbit__tikv_multi_get(void *self, void *snap, size_t n, const orbit_slice *keys, orbit_buf *vals, int *status)
{
    uint64_t ts;
    int rc = plain_ts(self, snap, &ts);
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            status[i] = rc;
            orbit_buf_reset(&vals[i]);
        }
        return rc;
    }
    const orbit_slice *sk;
    orbit_slice *own;
    orbit_buf *bufs;
    rc = skeys(self, n, keys, &sk, &own, &bufs);
    if (!rc)
        rc = read_many(self, ts, n, sk, vals, status);
    else
        for (size_t i = 0; i < n; i++) {
            status[i] = rc;
            orbit_buf_reset(&vals[i]);
        }
    skeys_free(n, own, bufs);
    return rc;
}

int orbit__tikv_iter_open(void *self, void *snap, const orbit_range *r, void **it)
{
    uint64_t ts;
    int rc = plain_ts(self, snap, &ts);
    return rc ? rc : iter_make(self, ts, snap == NULL, r, NULL, it);
}

/* A plain write is a small optimistic transaction of blind writes: a
 * conflict means nothing was applied and depends on nothing read, so it is
 * retried with a new start_ts, backing off (BoTxnLockFast, jittered, so
 * writers of one hot key spread out) until the store's timeout; only then
 * is it ECONFLICT. `fill` buffers the writes. */
static int small_write(tikv *t, int (*fill)(tk_txn *x, void *arg), void *arg, uint64_t *version)
{
    int rc;
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, t, 0);
    for (int attempt = 0;; attempt++) {
        if (attempt) {
            char d[384];
            snprintf(d, sizeof d, "%s", orbit_last_error_detail());
            orbit__tikv_bo_fail(&bo, ORBIT_ECONFLICT, "%s", d);
            if (orbit__tikv_bo_sleep(&bo, TIKV_BO_TXN_LOCK_FAST, 0))
                return orbit_error_set(ORBIT_ECONFLICT, "%s (retried %d times within the timeout)", d, attempt);
        }
        tk_txn *x;
        rc = txn_new(t, ORBIT_ISO_SNAPSHOT, 0, 1, &x);
        if (rc)
            return rc;
        rc = fill(x, arg);
        uint64_t v = 0;
        if (!rc)
            rc = txn_commit(x, &v);
        txn_free(x);
        if (rc != ORBIT_ECONFLICT) {
            if (!rc && version)
                *version = v;
            return rc;
        }
    }
}

typedef struct one_write {
    const uint8_t *k, *v;
    size_t kl, vl;
    int op;
} one_write;

static int fill_one(tk_txn *x, void *arg)
{
    one_write *w = arg;
    return txn_write(x, w->k, w->kl, w->v, w->vl, w->op);
}

int orbit__tikv_put(void *self, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    one_write w = {k, v, kl, vl, ORBIT__TIKV_M_PUT};
    return small_write(self, fill_one, &w, NULL);
}

int orbit__tikv_del(void *self, const uint8_t *k, size_t kl)
{
    one_write w = {k, NULL, kl, 0, ORBIT__TIKV_M_DEL};
    return small_write(self, fill_one, &w, NULL);
}

/* Delete [lo, hi) (hl 0: no upper bound) in x: the keys stored at
 * start_ts (read keys-only) and the keys x wrote there already. */
static int del_range(tk_txn *x, const uint8_t *lo, size_t ll, const uint8_t *hi, size_t hl)
{
    if (hl && orbit__key_cmp(lo, ll, hi, hl) >= 0)
        return ORBIT_OK;
    /* The buffer holds stored keys: walk [ns||lo, ns||hi) (no hi: to the
     * namespace's end). */
    orbit_buf bl = ORBIT_BUF_INIT, bh = ORBIT_BUF_INIT;
    const uint8_t *slo, *shi = NULL;
    size_t sll, shl = 0;
    int rc = skey(x->t, lo, ll, &bl, &slo, &sll);
    if (!rc && hl) {
        rc = skey(x->t, hi, hl, &bh, &shi, &shl);
    } else if (!rc && x->t->o.nslen) {
        if (orbit_buf_reserve(&bh, x->t->o.nslen))
            rc = ORBIT_ENOMEM;
        else if ((bh.len = orbit__prefix_successor(x->t->o.ns, x->t->o.nslen, bh.data)) != 0) {
            shi = bh.data;
            shl = bh.len;
        }
    }
    int found;
    for (size_t i = rc ? x->w.n : orbit__tikv_wbuf_find(&x->w, slo, sll, &found); i < x->w.n; i++) {
        orbit__tikv_mut *m = &x->w.m[i];
        if (shi && orbit__key_cmp(m->k, m->kl, shi, shl) >= 0)
            break;
        if (m->op == ORBIT__TIKV_M_PUT) {
            x->w.bytes -= m->vl;
            free(m->v);
            m->v = NULL;
            m->vl = 0;
        }
        m->op = ORBIT__TIKV_M_DEL;
    }
    orbit_buf_release(&bl);
    orbit_buf_release(&bh);
    if (rc)
        return rc;
    orbit_range r = {0};
    r.lo = lo;
    r.lo_len = ll;
    r.hi = hl ? hi : NULL;
    r.hi_len = hl;
    r.keys_only = 1;
    void *it;
    rc = iter_make(x->t, x->start_ts, 0, &r, NULL, &it);
    if (rc)
        return rc;
    const uint8_t *k, *v;
    size_t kl, vl;
    while ((rc = orbit__tikv_iter_next(it, &k, &kl, &v, &vl)) == ORBIT_OK)
        if ((rc = txn_write(x, k, kl, NULL, 0, ORBIT__TIKV_M_DEL)) != 0)
            break;
    orbit__tikv_iter_close(it);
    return rc == ORBIT_NOTFOUND ? ORBIT_OK : rc;
}

static int fill_batch(tk_txn *x, void *arg)
{
    const orbit_batch *b = arg;
    size_t n = orbit_batch_count(b);
    for (size_t i = 0; i < n; i++) {
        orbit_batch_entry e;
        orbit_batch_entry_at(b, i, &e);
        int rc;
        if (e.type == ORBIT_OP_PUT)
            rc = txn_write(x, e.key, e.klen, e.val ? e.val : (const uint8_t *)"", e.vlen, ORBIT__TIKV_M_PUT);
        else if (e.type == ORBIT_OP_DEL)
            rc = txn_write(x, e.key, e.klen, NULL, 0, ORBIT__TIKV_M_DEL);
        else
            rc = del_range(x, e.key, e.klen, e.val, e.val ? e.vlen : 0);
        if (rc)
            return rc;
    }
    return ORBIT_OK;
}

int orbit__tikv_write_version(void *self, const orbit_batch *b, uint64_t *version)
{
    uint64_t v = 0;
    int rc = small_write(self, fill_batch, (void *)b, &v);
    if (version)
        *version = rc ? 0 : v;
    return rc;
}

int orbit__tikv_write(void *self, const orbit_batch *b)
{
    return orbit__tikv_write_version(self, b, NULL);
}

/* Delete the keys in a range: read them keys-only at start_ts and delete
 * each, in one transaction (conflicts with writers as any transaction). */
static int fill_range(tk_txn *x, void *arg)
{
    const orbit_range *r = arg;
    return del_range(x, r->lo, r->lo_len, r->hi, r->hi ? r->hi_len : 0);
}

int orbit__tikv_delete_range(void *self, const orbit_range *r)
{
    return small_write(self, fill_range, (void *)r, NULL);
}

/* ---- snapshots ------------------------------------------------------------- */

static int snap_make(tikv *t, uint64_t ts, void **out)
{
    tk_snap *s = malloc(sizeof *s);
    if (!s)
        return ORBIT_ENOMEM;
    s->ts = ts;
    int rc = orbit__tikv_live_add(t, ts);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return ORBIT_OK;
}

int orbit__tikv_snapshot_open(void *self, void **snap)
{
    uint64_t ts;
    int rc = plain_ts(self, NULL, &ts);
    return rc ? rc : snap_make(self, ts, snap);
}

void orbit__tikv_snapshot_release(void *self, void *snap)
{
    tk_snap *s = snap;
    if (!s)
        return;
    orbit__tikv_live_remove(self, s->ts);
    free(s);
}

uint64_t orbit__tikv_snapshot_version(void *self, void *snap)
{
    (void)self;
    return ((tk_snap *)snap)->ts;
}

int orbit__tikv_snapshot_open_at(void *self, uint64_t version, void **snap)
{
    tikv *t = self;
    uint64_t now;
    int rc = plain_ts(t, NULL, &now);
    if (rc)
        return rc;
    if (version > now)
        return orbit_error_set(ORBIT_EINVAL, "tikv: version %llu is not reached yet (the TSO is at %llu)",
                               (unsigned long long)version, (unsigned long long)now);
    void *s;
    if ((rc = snap_make(t, version, &s)) != 0)
        return rc;
    /* Registered first, then checked: a GC round that starts now cannot
     * pass it, and one that passed it already is seen here. */
    uint64_t sp = 0;
    rc = orbit__tikv_gc_safe_point(t, 1, &sp);
    if (!rc && sp && version < sp)
        rc = orbit_error_set(ORBIT_ECOMPACTED,
                             "tikv: version %llu is below the GC safe point %llu: its history is collected",
                             (unsigned long long)version, (unsigned long long)sp);
    if (rc) {
        orbit__tikv_snapshot_release(t, s);
        return rc;
    }
    *snap = s;
    return ORBIT_OK;
}
