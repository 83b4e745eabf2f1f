/*
 * Private to the etcd provider (src/providers/etcd/): the store object, the
 * guarded-write machinery shared by point writes, batches and transaction
 * commits, and the read helpers shared by gets, iterators and transactions.
 *
 * Keys: a user key k is stored in etcd as NS || k, where NS is the
 * `namespace` URI option (may be empty). Commit markers (see etcd.c) live
 * under MARKER_ROOT, outside every namespace (a namespace may not start with
 * byte FF); with an empty namespace, user keys starting with MARKER_ROOT are
 * refused and open-ended scans stop before it.
 */
#ifndef ORBIT_ETCD_INT_H
#define ORBIT_ETCD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd_kv.pb-c.h"
#include "etcd_rpc.pb-c.h"
#include "providers/providers.h"
#include "rpc/rpc.h"

#define ETCD_MARKER_ROOT "\xff\xff\xff"
#define ETCD_MARKER_ROOT_LEN 3

#define ETCD_M_RANGE "/etcdserverpb.KV/Range"
#define ETCD_M_PUT "/etcdserverpb.KV/Put"
#define ETCD_M_DELETE "/etcdserverpb.KV/DeleteRange"
#define ETCD_M_TXN "/etcdserverpb.KV/Txn"
#define ETCD_M_STATUS "/etcdserverpb.Maintenance/Status"
#define ETCD_M_COMPACT "/etcdserverpb.KV/Compact"

/* A commit marker slot: one etcd key (MARKER_ROOT client-id "/" no) that a
 * guarded write updates in the same Txn as its own operations. Every
 * guarded Txn also compares the create revision of the store's alive key
 * (MARKER_ROOT client-id "/alive", put at open, deleted at close). */
typedef struct etcd_slot {
    uint64_t no;
    int64_t mrev; /* the marker's mod_revision as last seen; 0: absent */
    struct etcd_slot *next;
} etcd_slot;

/* One operation of a guarded write; key is a user key (namespaced by the
 * builder). del: 0 put key = val; 1 delete key; 2 delete the range
 * [key, val) (vlen 0: to the namespace's end; with no namespace callers
 * clamp the range before the marker root first). */
typedef struct etcd_wop {
    int del;
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;
    size_t vlen;
} etcd_wop;

/* A single-key guarded write waiting for group commit (etcd.c). */
typedef struct etcd_gq_op etcd_gq_op;
struct etcd_gq_op {
    etcd_wop w;
    uint32_t bucket;
    void (*done)(etcd_gq_op *op, int rc, const char *detail, int64_t rev);
    etcd_gq_op *next;
};

typedef struct etcd {
    orbit__rpc *rpc;
    uint8_t *ns;
    size_t nslen;
    uint32_t timeout_ms;
    uint32_t attempt_ms;
    size_t max_txn_ops;
    size_t max_request_bytes;
    size_t page;
    int serializable;
    int plain_writes; /* writes=plain: puts/deletes without commit markers */
    char client_id[33];

    pthread_mutex_t slot_lock;
    etcd_slot *free_slots;
    uint64_t next_slot;
    atomic_uint_fast64_t seq;
    int64_t alive_rev; /* create revision of this store's alive key */
    int burn_always;   /* tests: burn a refused write's marker compare even
                        * when it was sent once (see gw_burn in etcd.c) */

    /* group commit (etcd.c) */
    pthread_mutex_t gq_lock;
    etcd_gq_op *gq_head, *gq_tail; /* queued, in order */
    uint16_t *gq_keys;             /* per key-hash bucket: queued-and-taken or in flight */
    size_t gq_inflight;            /* group Txns in flight */
    size_t group_max;              /* ops per group Txn */
    size_t group_inflight;         /* group Txns in flight at most */
    atomic_uint_fast64_t group_txns, group_ops;

    /* retention (etcd.c): pinned revisions and the compactor */
    pthread_mutex_t pin_lock;
    int64_t *pins;
    size_t npins, pincap, pin_overflow;
    uint64_t retention_ms; /* 0: never compact */
    _Atomic int64_t compacted;
    atomic_uint_fast64_t compactions;
    pthread_t compactor_thread;
    pthread_cond_t compactor_cv;
    int compactor_started, compactor_stop;
} etcd;

/* "mod_revision(key) == mod" (mod 0: the key is absent). */
typedef struct etcd_cmp {
    const uint8_t *key;
    size_t klen;
    int64_t mod;
} etcd_cmp;

/* A guarded write in the making: built once, then sent (possibly several
 * times) and interpreted. */
typedef struct etcd_gw {
    etcd *e;
    etcd_slot *slot;
    uint64_t seq;
    uint8_t *req;
    size_t reqlen;
} etcd_gw;

/* Build the Txn for ops under cmps; takes a slot. ETOOBIG names the limit
 * (max_txn_ops or max_request_bytes). On error nothing is held. */
int orbit__etcd_gw_build(etcd *e, const etcd_cmp *cmps, size_t ncmp, const etcd_wop *ops,
                         size_t nops, etcd_gw *gw);
/* Turn the transport's outcome into 0, ORBIT_ECONFLICT or an error, and give
 * the slot back (or retire it when the outcome is unknown). Frees gw. */
int orbit__etcd_gw_finish(etcd_gw *gw, int rc, const char *detail, const uint8_t *resp,
                          size_t len);
/* Build, send (blocking, retried safely) and finish: 0, ORBIT_ECONFLICT
 * (a compare failed; nothing applied, and no earlier attempt can apply
 * later), ORBIT_EUNCERTAIN (no answer after the request may have reached
 * the server: outcome unknown) or another error (nothing applied). */
int orbit__etcd_gw_run(etcd *e, const etcd_cmp *cmps, size_t ncmp, const etcd_wop *ops,
                       size_t nops);
/* Send a built write (blocking, retried safely), finish and free it; as
 * orbit__etcd_gw_run, with the commit revision in *rev (may be NULL). */
int orbit__etcd_gw_send(etcd_gw *gw, int64_t *rev);
/* The same, giving the commit revision in *rev (0 unless it returns 0). */
int orbit__etcd_gw_run_rev(etcd *e, const etcd_cmp *cmps, size_t ncmp, const etcd_wop *ops,
                           size_t nops, int64_t *rev);

/* Retention: a revision pinned is never compacted away while pinned (a
 * multiset: pin and unpin in pairs). Snapshots, iterators, transactions
 * (their read revision) and backups pin. */
void orbit__etcd_rev_pin(etcd *e, int64_t rev);
void orbit__etcd_rev_unpin(etcd *e, int64_t rev);
/* Compact etcd's history up to rev now (the compactor's call; exposed for
 * tests). A revision compacted already is not an error. */
int orbit__etcd_compact(etcd *e, int64_t rev);
/* Group-commit counters since open: group Txns sent, ops they carried. */
void orbit__etcd_group_stats(void *self, uint64_t *txns, uint64_t *ops);

/* Call options for this store: idempotent calls use the failover budget. */
void orbit__etcd_call_opts(const etcd *e, int idempotent, orbit__rpc_call_opts *o);

/* ORBIT_EINVAL for a key in the reserved range (no namespace, FF FF FF...). */
int orbit__etcd_check_key(const etcd *e, const uint8_t *k, size_t kl);
/* NS || k into out (replaced). 0 or ENOMEM / EINVAL (reserved key). */
int orbit__etcd_key(const etcd *e, const uint8_t *k, size_t kl, orbit_buf *out);

/* The current revision of the store (a linearizable read). */
int orbit__etcd_revision(etcd *e, int64_t *rev);

/* Point read of a user key at rev (0: latest). Calls fn with the value when
 * found; *mod receives the key's mod_revision (0 when absent) if non-NULL;
 * *hdr_rev the revision the read was served at, if non-NULL. */
int orbit__etcd_read(etcd *e, int64_t rev, int serializable, const uint8_t *k, size_t kl,
                     orbit_value_fn fn, void *arg, int64_t *mod, int64_t *hdr_rev);

/* Iterators (etcd_read.c). */
int orbit__etcd_iter_open(void *self, void *snap, const orbit_range *r, void **it);
int orbit__etcd_iter_next(void *it, const uint8_t **k, size_t *kl, const uint8_t **v,
                          size_t *vl);
void orbit__etcd_iter_close(void *it);
int orbit__etcd_snapshot_open(void *self, void **snap);
void orbit__etcd_snapshot_release(void *self, void *snap);
/* A plain iterator at rev (0: fix at the first page), plus the txn's local
 * writes merged in when `local` is non-NULL (etcd_txn.c supplies it). */
typedef struct etcd_local etcd_local;
int orbit__etcd_iter_make(etcd *e, int64_t rev, const orbit_range *r, etcd_local *local,
                          void **it);
/* The local-writes cursor a txn iterator merges (etcd_txn.c). */
int orbit__etcd_local_peek(etcd_local *l, const uint8_t **k, size_t *kl, const uint8_t **v,
                           size_t *vl, int *del);
void orbit__etcd_local_advance(etcd_local *l);
void orbit__etcd_local_free(etcd_local *l);

/* Transactions (etcd_txn.c). */
int orbit__etcd_txn_begin(void *self, const orbit_txn_opts *opts, void **txn);
int orbit__etcd_txn_get(void *txn, const uint8_t *k, size_t kl, int for_update,
                        orbit_value_fn fn, void *arg);
int orbit__etcd_txn_put(void *txn, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl);
int orbit__etcd_txn_del(void *txn, const uint8_t *k, size_t kl);
int orbit__etcd_txn_iter_open(void *txn, const orbit_range *r, void **it);
int orbit__etcd_txn_commit(void *txn);
void orbit__etcd_txn_rollback(void *txn);

/* ---- contract v2: reads and transactions (etcd_read.c, etcd_txn.c) ---- */

/* Multi-get at the snapshot's revision (snap NULL: the latest, one
 * consistent revision): read-only Txns of Range ops, max_txn_ops at most
 * each, all at one fixed revision. */
int orbit__etcd_multi_get(void *self, void *snap, size_t n, const orbit_slice *keys, orbit_buf *vals,
                          int *status);
/* The transaction's own writes first, then one batched read for the rest
 * (recorded like txn_get's reads). */
int orbit__etcd_txn_multi_get(void *txn, size_t n, const orbit_slice *keys, orbit_buf *vals, int *status);
/* Reposition an iterator (plain or transactional), clamped to its range,
 * at its revision. */
int orbit__etcd_iter_seek(void *it, const uint8_t *k, size_t kl);
/* Reposition the local-writes cursor a txn iterator merges (etcd_txn.c):
 * the next entry is the first >= k (forward) or <= k (reverse). */
void orbit__etcd_local_seek(etcd_local *l, const uint8_t *k, size_t kl, int reverse);
/* Note: orbit__etcd_iter_make (above) owns `local` from the call on, also
 * when it fails. */
/* A snapshot is an int64_t revision (etcd.c reads it as *(int64_t *)snap). */
uint64_t orbit__etcd_snapshot_version(void *self, void *snap);
/* ORBIT_ECOMPACTED: the revision was compacted; ORBIT_EINVAL: not reached. */
int orbit__etcd_snapshot_open_at(void *self, uint64_t version, void **snap);
/* Commit, reporting the commit revision (0 when nothing was written). Frees
 * the transaction in every case. */
int orbit__etcd_txn_commit_version(void *txn, uint64_t *version);

/* Reads at `rev` (0: the latest, then *served gets the revision; served may
 * be NULL) of n user keys, duplicates allowed: status[i] 0 (vals[i] holds
 * the value, or is emptied with keys_only), ORBIT_NOTFOUND (vals[i]
 * emptied) or an error; mods[i] the key's mod_revision (0 absent) when mods
 * is non-NULL. Returns 0 or the first negative status. */
int orbit__etcd_read_many(etcd *e, int64_t rev, int keys_only, size_t n, const orbit_slice *keys,
                          orbit_buf *vals, int *status, int64_t *mods, int64_t *served);
/* A read-only Txn of one Range per user key keys[0..m) (namespaced here;
 * a reserved key is EINVAL) at rev (0: latest), packed into *req (malloc'd,
 * the caller frees it; NULL on error) of *len bytes. */
int orbit__etcd_pack_reads(etcd *e, int64_t rev, int keys_only, size_t m, const orbit_slice *keys, uint8_t **req,
                           size_t *len);
/* Reinterpret a failed read: etcd's "required revision has been compacted"
 * becomes ORBIT_ECOMPACTED and "required revision is a future revision"
 * ORBIT_EINVAL, whatever code the transport gave them (the detail is kept).
 * Other codes pass through. Call it where a read's error is returned. */
int orbit__etcd_read_rc(int rc);
/* The current mod_revision of user key k (0: absent), without its value. */
int orbit__etcd_mod_revision(etcd *e, const uint8_t *k, size_t kl, int64_t *mod);
/* How many key-value pairs iterators have fetched from etcd, process-wide
 * (a debug counter for tests: a limit-1 scan must fetch one key). */
uint64_t orbit__etcd_debug_keys_fetched(void);
/* The bytes a transaction may write (see etcd_txn.c for how they are
 * counted): what the capabilities report as max_txn_bytes. */
size_t orbit__etcd_txn_max_bytes(const etcd *e);
/* Distinct keys a transaction may write and read for update, counted
 * together: max_txn_ops - 2 (the commit also compares the marker and the
 * alive key), the capabilities' max_txn_keys. */
size_t orbit__etcd_txn_max_keys(const etcd *e);

/* Store statistics (etcd_stats.c): the table's store_stats member. */
int orbit__etcd_store_stats(void *self, orbit_store_stats *out);

#endif
