/*
 * Private to the TiKV provider (src/providers/tikv/): the internal API its
 * files share. It is the contract between the client core (tikv.c, pd.c,
 * region.c, raw.c: owned by the tk-client work) and the Percolator
 * transaction layer (txn*.c: owned by the tk-txn work), which builds on the
 * PD client, the region cache and the send loop declared here.
 *
 * Layers inside the provider, bottom up:
 *   src/rpc (gRPC transport)
 *     -> pd.c      PD client: members/leader failover, batched TSO, store
 *                  cache, GC safe point and the live start_ts registry
 *     -> region.c  region cache, backoffs, the client-go retry loop and the
 *                  per-region fan-out (send_keys / send_range)
 *     -> raw.c     raw mode (RawKV)          txn*.c  txn mode (Percolator)
 *     -> tikv.c    URI options, provider table, capabilities
 *
 * Keys: every key in this header is a user key exactly as the contract gave
 * it (API V1, no prefix). Region boundaries in tikv_loc are user keys too:
 * region.c memcomparable-encodes lookups and decodes boundaries when the
 * cluster stores encoded boundaries (txn mode, t->encoded_regions), so no
 * caller ever sees an encoded key.
 *
 * Threads: every function here may be called from any thread at once on one
 * tikv, unless it says otherwise. No callback declared here is ever called
 * from a thread other than the caller's.
 *
 * This header only grows: members and functions are appended, never changed,
 * so txn*.c written against an earlier version keeps compiling.
 */
#ifndef ORBIT_TIKV_INT_H
#define ORBIT_TIKV_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "errorpb.pb-c.h"
#include "kvrpcpb.pb-c.h"
#include "metapb.pb-c.h"
#include "pdpb.pb-c.h"
#include "providers/providers.h"
#include "rpc/rpc.h"

/* ---- method paths (TIKV_PROTOCOL.md section 1) ------------------------- */

#define TIKV_M_RAW_GET "/tikvpb.Tikv/RawGet"
#define TIKV_M_RAW_BATCH_GET "/tikvpb.Tikv/RawBatchGet"
#define TIKV_M_RAW_PUT "/tikvpb.Tikv/RawPut"
#define TIKV_M_RAW_BATCH_PUT "/tikvpb.Tikv/RawBatchPut"
#define TIKV_M_RAW_DELETE "/tikvpb.Tikv/RawDelete"
#define TIKV_M_RAW_BATCH_DELETE "/tikvpb.Tikv/RawBatchDelete"
#define TIKV_M_RAW_SCAN "/tikvpb.Tikv/RawScan"
#define TIKV_M_RAW_DELETE_RANGE "/tikvpb.Tikv/RawDeleteRange"
#define TIKV_M_RAW_CAS "/tikvpb.Tikv/RawCompareAndSwap"
#define TIKV_M_KV_GET "/tikvpb.Tikv/KvGet"
#define TIKV_M_KV_SCAN "/tikvpb.Tikv/KvScan"
#define TIKV_M_KV_BATCH_GET "/tikvpb.Tikv/KvBatchGet"
#define TIKV_M_KV_PREWRITE "/tikvpb.Tikv/KvPrewrite"
#define TIKV_M_KV_COMMIT "/tikvpb.Tikv/KvCommit"
#define TIKV_M_KV_CLEANUP "/tikvpb.Tikv/KvCleanup"
#define TIKV_M_KV_BATCH_ROLLBACK "/tikvpb.Tikv/KvBatchRollback"
#define TIKV_M_KV_CHECK_TXN_STATUS "/tikvpb.Tikv/KvCheckTxnStatus"
#define TIKV_M_KV_RESOLVE_LOCK "/tikvpb.Tikv/KvResolveLock"
#define TIKV_M_KV_PESSIMISTIC_LOCK "/tikvpb.Tikv/KvPessimisticLock"
#define TIKV_M_KV_PESSIMISTIC_ROLLBACK "/tikvpb.Tikv/KVPessimisticRollback" /* sic: "KV" */
#define TIKV_M_KV_TXN_HEARTBEAT "/tikvpb.Tikv/KvTxnHeartBeat"
#define TIKV_M_KV_CHECK_SECONDARY_LOCKS "/tikvpb.Tikv/KvCheckSecondaryLocks"
#define TIKV_M_KV_SCAN_LOCK "/tikvpb.Tikv/KvScanLock"

#define PD_M_GET_MEMBERS "/pdpb.PD/GetMembers"
#define PD_M_TSO "/pdpb.PD/Tso"
#define PD_M_GET_REGION "/pdpb.PD/GetRegion"
#define PD_M_GET_PREV_REGION "/pdpb.PD/GetPrevRegion"
#define PD_M_GET_REGION_BY_ID "/pdpb.PD/GetRegionByID"
#define PD_M_SCAN_REGIONS "/pdpb.PD/ScanRegions"
#define PD_M_GET_STORE "/pdpb.PD/GetStore"
#define PD_M_GET_GC_SAFE_POINT "/pdpb.PD/GetGCSafePoint"
#define PD_M_UPDATE_GC_SAFE_POINT "/pdpb.PD/UpdateGCSafePoint"

/* ---- round-trip counters ------------------------------------------------ */

/* One counter per request kind. A counter counts requests *sent* (every
 * attempt, resends included), so a test can assert round trips exactly.
 * Pass the kind in tikv_call.kind. */
typedef enum tikv_rpc_kind {
    TIKV_RPC_RAW_GET,
    TIKV_RPC_RAW_BATCH_GET,
    TIKV_RPC_RAW_PUT,
    TIKV_RPC_RAW_BATCH_PUT,
    TIKV_RPC_RAW_DELETE,
    TIKV_RPC_RAW_BATCH_DELETE,
    TIKV_RPC_RAW_SCAN,
    TIKV_RPC_RAW_DELETE_RANGE,
    TIKV_RPC_RAW_CAS,
    TIKV_RPC_KV_GET,
    TIKV_RPC_KV_SCAN,
    TIKV_RPC_KV_BATCH_GET,
    TIKV_RPC_KV_PREWRITE,
    TIKV_RPC_KV_COMMIT,
    TIKV_RPC_KV_CLEANUP,
    TIKV_RPC_KV_BATCH_ROLLBACK,
    TIKV_RPC_KV_CHECK_TXN_STATUS,
    TIKV_RPC_KV_RESOLVE_LOCK,
    TIKV_RPC_KV_PESSIMISTIC_LOCK,
    TIKV_RPC_KV_PESSIMISTIC_ROLLBACK,
    TIKV_RPC_KV_TXN_HEARTBEAT,
    TIKV_RPC_KV_CHECK_SECONDARY_LOCKS,
    TIKV_RPC_KV_SCAN_LOCK,
    /* PD requests (pd.c counts these itself) */
    TIKV_RPC_PD_GET_MEMBERS,
    TIKV_RPC_PD_TSO,          /* TsoRequests sent (each serves a batch) */
    TIKV_RPC_PD_GET_REGION,   /* GetRegion + GetPrevRegion + GetRegionByID */
    TIKV_RPC_PD_SCAN_REGIONS,
    TIKV_RPC_PD_GET_STORE,
    TIKV_RPC_PD_GC_SAFE_POINT, /* GetGCSafePoint + UpdateGCSafePoint */
    TIKV_RPC__COUNT
} tikv_rpc_kind;

/* Region errors seen, by variant (region.c counts them). */
typedef enum tikv_rerr_kind {
    TIKV_RERR_NOT_LEADER,
    TIKV_RERR_EPOCH_NOT_MATCH,
    TIKV_RERR_REGION_NOT_FOUND,
    TIKV_RERR_KEY_NOT_IN_REGION,
    TIKV_RERR_STORE_NOT_MATCH,
    TIKV_RERR_STALE_COMMAND,
    TIKV_RERR_SERVER_IS_BUSY,
    TIKV_RERR_MAX_TS_NOT_SYNCED,
    TIKV_RERR_OTHER, /* any other variant */
    TIKV_RERR_SEND_FAIL, /* not a region error: a transport failure to a store */
    TIKV_RERR__COUNT
} tikv_rerr_kind;

/* A copy of the counters (orbit__tikv_stats_get). */
typedef struct tikv_stats {
    uint64_t sent[TIKV_RPC__COUNT];
    uint64_t region_errors[TIKV_RERR__COUNT];
    uint64_t tso_timestamps;  /* timestamps handed out by orbit__tikv_tso */
    uint64_t region_cache_hits, region_cache_misses;
    uint64_t backoffs;        /* sleeps taken by backoffers */
    uint64_t backoff_ms;      /* their total length */
} tikv_stats;

/* ---- the provider object ----------------------------------------------- */

typedef enum tikv_mode { TIKV_MODE_TXN = 0, TIKV_MODE_RAW = 1 } tikv_mode;

/* The URI options (tikv.c parses them; defaults in brackets). */
typedef struct tikv_opts {
    tikv_mode mode;            /* mode=txn|raw [txn] */
    uint32_t timeout_ms;       /* timeout: one operation's deadline, all
                                * retries and backoffs included [20000] */
    size_t max_batch_size;     /* max_batch_size: keys per request [1000] */
    size_t region_cache_size;  /* region_cache_size: regions cached [1000] */
    int enable_async_commit;   /* enable_async_commit [1] */
    int enable_one_pc;         /* enable_one_pc [1] */
    uint64_t gc_interval_ms;   /* gc_interval (seconds in the URI): how often
                                * the GC safe point is advanced; 0: never [600 s] */
    uint64_t gc_life_time_ms;  /* gc_life_time (seconds in the URI): history
                                * kept behind now [600 s] */
    char *ca_file;             /* ca_file: TLS for PD and TiKV; NULL: plaintext
                                * (owned by the tikv) */
    char *pd_endpoints;        /* the URI body, "host:port[,host:port...]"
                                * (owned by the tikv) */
    int pessimistic;           /* txn=optimistic|pessimistic: how txn mode
                                * runs transactions [optimistic] */
    uint8_t *ns;               /* namespace=PREFIX: raw mode stores user key
                                * k as ns||k, and sees only keys under ns
                                * (owned; NULL, nslen 0: none). tikv.c refuses
                                * it in txn mode (txn*.c does not apply it). */
    size_t nslen;
} tikv_opts;

typedef struct tikv_pd tikv_pd;         /* pd.c, opaque */
typedef struct tikv_rcache tikv_rcache; /* region.c, opaque */
typedef struct tikv_store tikv_store;   /* pd.c, opaque */

typedef struct tikv_async tikv_async;

typedef struct tikv {
    tikv_opts o;
    /* txn mode: PD keeps region boundaries memcomparable-encoded (API V1
     * TxnKV); raw mode: raw boundaries. Set by tikv.c from the mode. */
    int encoded_regions;
    tikv_pd *pd;     /* owned; pd.c */
    tikv_rcache *rc; /* owned; region.c */

    /* counters: indices are tikv_rpc_kind / tikv_rerr_kind */
    atomic_uint_fast64_t n_sent[TIKV_RPC__COUNT];
    atomic_uint_fast64_t n_rerr[TIKV_RERR__COUNT];
    atomic_uint_fast64_t n_tso_ts, n_rc_hit, n_rc_miss, n_backoffs, n_backoff_ms;

    /* Owned by txn*.c (tk-txn): its per-store state (lock resolver cache,
     * heartbeat thread...), set up by orbit__tikv_txn_open and freed by
     * orbit__tikv_txn_close. NULL in raw mode. */
    void *txn_priv;

    tikv_async *async; /* owned; async.c: the pool native submit runs on */
} tikv;

/* Read the counters (self is the provider's void *self, a tikv *). Tests
 * open the provider table directly (orbit__provider_tikv.open) to reach it. */
void orbit__tikv_stats_get(const tikv *t, tikv_stats *out);
/* Count one sent request of kind k (the send loop does this itself; txn*.c
 * calls it only for requests it sends by other means). */
void orbit__tikv_count(tikv *t, tikv_rpc_kind k);

/* ---- size limits (TIKV_PROTOCOL.md section 4.5; the capabilities) -------- */

#define TIKV_MAX_KEY_SIZE 8192u              /* TiKV storage.max-key-size */
#define TIKV_MAX_ENTRY_SIZE (6u << 20)       /* txn-entry-size-limit: key + value */
#define TIKV_MAX_TXN_BYTES (100u << 20)      /* txn-total-size-limit */
#define TIKV_RAFT_ENTRY_MAX (8u << 20)       /* raftstore.raft-entry-max-size */
#define TIKV_TXN_BATCH_BYTES 16384u          /* TxnCommitBatchSize per prewrite/commit */

/* ---- timestamps ---------------------------------------------------------- */

#define TIKV_TS_LOGICAL_BITS 18
#define TIKV_TS_PHYSICAL(ts) ((uint64_t)(ts) >> TIKV_TS_LOGICAL_BITS) /* Unix ms */
#define TIKV_TS_COMPOSE(phys_ms, logical) \
    (((uint64_t)(phys_ms) << TIKV_TS_LOGICAL_BITS) + (uint64_t)(logical))
#define TIKV_TS_MAX UINT64_MAX

/* ---- backoff (client-go config/retry/config.go) --------------------------- */

typedef enum tikv_bo_kind {
    TIKV_BO_TIKV_RPC,          /* 100 .. 2000 ms, equal jitter */
    TIKV_BO_TXN_LOCK,          /* 100 .. 3000, equal */
    TIKV_BO_TXN_LOCK_FAST,     /* 10 .. 3000, equal */
    TIKV_BO_PD_RPC,            /* 500 .. 3000, equal */
    TIKV_BO_REGION_MISS,       /* 2 .. 500, none */
    TIKV_BO_REGION_SCHEDULING, /* 2 .. 500, none */
    TIKV_BO_SERVER_BUSY,       /* 2000 .. 10000, equal */
    TIKV_BO_TXN_NOT_FOUND,     /* 2 .. 500, none */
    TIKV_BO_STALE_CMD,         /* 2 .. 1000, none */
    TIKV_BO_MAX_TS_NOT_SYNCED, /* 2 .. 500, none */
    TIKV_BO_REGION_NOT_INIT,   /* 2 .. 1000, none */
    TIKV_BO_DISK_FULL,         /* 500 .. 5000, none */
    TIKV_BO__COUNT
} tikv_bo_kind;

/*
 * A backoffer: one operation's deadline and its backoff state. It lives on
 * the caller's stack and is used by one thread. Every function here that
 * takes a tikv_bo stops retrying at bo->deadline_ns and then fails with the
 * last failure's code (ORBIT_EUNAVAIL for an unreachable store, ORBIT_EBUSY
 * for a store that stayed busy, ORBIT_ETIMEDOUT otherwise), with a detail
 * naming it.
 */
typedef struct tikv_bo {
    tikv *t;
    uint64_t deadline_ns;        /* monotonic */
    uint32_t n[TIKV_BO__COUNT];  /* sleeps taken per kind */
    uint64_t seed;
    int last_rc;                 /* the last failure (0: none yet) */
    char last[256];              /* its text */
} tikv_bo;

/* A backoffer whose deadline is now + timeout_ms (0: t->o.timeout_ms). */
void orbit__tikv_bo_init(tikv_bo *bo, tikv *t, uint32_t timeout_ms);
/* Remember a failure (code and text) as the one to report at the deadline. */
void orbit__tikv_bo_fail(tikv_bo *bo, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sleep the next backoff of `kind` (at least hint_ms when hint_ms > 0, e.g.
 * a lock's remaining TTL or ServerIsBusy.backoff_ms), cut to the deadline.
 * 0: slept, try again; else the deadline has passed (or will during the
 * sleep, which is then skipped): returns the remembered failure's code with
 * orbit_error_set (ORBIT_ETIMEDOUT if none was remembered). */
int orbit__tikv_bo_sleep(tikv_bo *bo, tikv_bo_kind kind, uint32_t hint_ms);
/* Milliseconds left before the deadline (0: passed). */
uint32_t orbit__tikv_bo_left_ms(const tikv_bo *bo);

/* ---- PD client (pd.c) ------------------------------------------------------ */

/* Connect: GetMembers on the configured endpoints (any member answers),
 * learning the cluster id and the leader; a member that reports another
 * cluster id is ORBIT_EINVAL. ORBIT_EUNAVAIL when no member answers within
 * the timeout. On success t->pd is set. */
int orbit__tikv_pd_open(tikv *t);
void orbit__tikv_pd_close(tikv *t); /* NULL t->pd accepted */
uint64_t orbit__tikv_cluster_id(const tikv *t);

/*
 * A fresh timestamp from PD's TSO, strictly greater than every timestamp
 * any caller on this tikv got before. Concurrent callers share requests:
 * while one TsoRequest is in flight, new callers queue, and the next request
 * asks for all of them at once (count = waiters), so n concurrent callers
 * cost about 2 requests, not n. PD failover (not leader, unavailable) is
 * handled inside, within bo's deadline (NULL: a TSO budget of t->o.timeout).
 */
int orbit__tikv_tso(tikv *t, tikv_bo *bo, uint64_t *ts);

/* PD's GetRegion / GetPrevRegion / ScanRegions / GetStore, as unary calls
 * to the leader with PD failover and BoPDRPC backoff inside bo. `key` is
 * sent as given (region.c encodes it first). *resp is allocated by
 * protobuf-c; free it with the matching __free_unpacked(resp, NULL). A
 * header error is ORBIT_EIO naming it (NOT_BOOTSTRAPPED: ORBIT_EUNAVAIL;
 * REGION_NOT_FOUND: the response with region == NULL). */
int orbit__tikv_pd_get_region(tikv *t, tikv_bo *bo, int prev, const uint8_t *key, size_t klen,
                              Pdpb__GetRegionResponse **resp);
int orbit__tikv_pd_scan_regions(tikv *t, tikv_bo *bo, const uint8_t *start, size_t slen,
                                const uint8_t *end, size_t elen, int32_t limit,
                                Pdpb__ScanRegionsResponse **resp);

/*
 * The transport to store `store_id` (GetStore, cached). *rpc is borrowed:
 * it stays valid until the tikv is closed, even if the store is later
 * dropped or re-resolved. ORBIT_EUNAVAIL for a tombstone store or an
 * unknown id. Use endpoint 0 with it.
 */
int orbit__tikv_store_rpc(tikv *t, tikv_bo *bo, uint64_t store_id, orbit__rpc **rpc);
/* Forget the cached address of a store (StoreNotMatch, a send failure): the
 * next orbit__tikv_store_rpc asks PD again, dialling anew if it moved. */
void orbit__tikv_store_invalidate(tikv *t, uint64_t store_id);

/*
 * The live start_ts registry (a multiset). A timestamp registered here is
 * never passed by the GC safe point this provider gives PD: every snapshot
 * and every transaction registers its start_ts for as long as it reads at
 * it. 0, ORBIT_ENOMEM, or ORBIT_ECOMPACTED when ts is at or below the GC
 * safe point (set, or being set by a GC round right now): its history may
 * be collected, nothing is registered; a begin then takes a fresh TSO, an
 * open_at fails with it.
 */
int orbit__tikv_live_add(tikv *t, uint64_t ts);
void orbit__tikv_live_remove(tikv *t, uint64_t ts); /* one of the registered copies */

/* PD's GC safe point as last read or set (0: none yet). A snapshot below it
 * may read collected history: snapshot_open_at refuses it with
 * ORBIT_ECOMPACTED. Refreshed from PD when `refresh` is set. */
int orbit__tikv_gc_safe_point(tikv *t, int refresh, uint64_t *sp);
/* Run one GC round now (the GC thread's work, exposed for tests): safe
 * point = min(TSO - gc_life_time, smallest live start_ts - 1), sent with
 * UpdateGCSafePoint only if it moves forward. *sp (may be NULL) gets the
 * safe point PD holds afterwards. */
int orbit__tikv_gc_round(tikv *t, uint64_t *sp);

/* ---- region cache (region.c) ----------------------------------------------- */

typedef struct tikv_peer {
    uint64_t id;
    uint64_t store_id;
} tikv_peer;

/* A region as located: a value copy owned by the holder (release it with
 * orbit__tikv_loc_release), so the cache can change under it. */
typedef struct tikv_loc {
    uint64_t region_id;
    uint64_t conf_ver, version; /* the epoch */
    tikv_peer leader;           /* the peer requests go to */
    uint8_t *start;             /* inclusive; start_len 0: no lower bound */
    size_t start_len;
    uint8_t *end;               /* exclusive; end_len 0: no upper bound */
    size_t end_len;
} tikv_loc;

void orbit__tikv_loc_release(tikv_loc *l); /* zeroes it; a zeroed loc is accepted */
int orbit__tikv_loc_copy(tikv_loc *dst, const tikv_loc *src); /* 0 or ENOMEM */
/* Whether k lies in [start, end). */
int orbit__tikv_loc_contains(const tikv_loc *l, const uint8_t *k, size_t kl);

int orbit__tikv_rcache_open(tikv *t);  /* sets t->rc */
void orbit__tikv_rcache_close(tikv *t);

/* The region holding key k (cache first, then PD GetRegion, with BoPDRPC
 * backoffs while PD has no region for it). out is overwritten (release it
 * first if it held one). */
int orbit__tikv_locate(tikv *t, tikv_bo *bo, const uint8_t *k, size_t kl, tikv_loc *out);
/* The region holding the keys just below k (for reverse scans: the region
 * with start < k <= end); kl 0 means "no upper bound": the last region. */
int orbit__tikv_locate_end(tikv *t, tikv_bo *bo, const uint8_t *k, size_t kl, tikv_loc *out);
/* Drop a region from the cache (the next locate asks PD). */
void orbit__tikv_region_invalidate(tikv *t, uint64_t region_id);
/* Regions cached now (tests: region_cache_size bounds it). */
size_t orbit__tikv_rcache_count(tikv *t);

/* Keys grouped by region: group g holds loc and the indices (into the
 * caller's key array, ascending key order within the group) of its keys. */
typedef struct tikv_group {
    tikv_loc loc;
    size_t *idx;
    size_t n;
} tikv_group;
/* Group keys[0..n) by region (duplicates allowed; each index lands in
 * exactly one group). *groups is malloc'd; free with orbit__tikv_groups_free. */
int orbit__tikv_group_keys(tikv *t, tikv_bo *bo, size_t n, const orbit_slice *keys,
                           tikv_group **groups, size_t *ngroups);
void orbit__tikv_groups_free(tikv_group *g, size_t n);

/* ---- sending: the client-go retry loop (region.c) ----------------------------- */

/*
 * One region's share of an operation, as handed to a tikv_call's callbacks.
 * Borrowed for the duration of the callback.
 */
typedef struct tikv_task {
    const tikv_loc *loc;     /* the region and the leader this attempt targets */
    /* send_keys: the caller's key indices that fall in this region
     * (ascending key order), n of them, never more than max_batch_size. */
    const size_t *idx;
    size_t n;
    /* send_range: this region's part of the range, [lo, hi) (lo_len 0: no
     * lower bound; hi_len 0: none above), already clipped to the region. */
    const uint8_t *lo;
    size_t lo_len;
    const uint8_t *hi;
    size_t hi_len;
    unsigned attempt;        /* 1 for the first send of these keys/range */
} tikv_task;

/* Flags of a tikv_call. */
#define TIKV_CALL_WRITE 1u  /* changes state: a failure after a send that may
                             * have reached the store is ORBIT_EUNCERTAIN */
#define TIKV_CALL_RESEND 2u /* may be sent again after a transport failure
                             * that may have reached the store (TiKV applies
                             * it at most once: reads, prewrite, commit,
                             * rollback, raw puts of one value). Without it
                             * such a failure ends the call. Region errors
                             * always allow a resend: TiKV did not apply. */

/* A handler's "send this task's keys/range again" answer (positive, never
 * an Orbit code): the loop re-locates them (regrouping by region) and sends
 * anew within the deadline. A handler that returns it has done its own
 * waiting (e.g. lock resolution), or asks the loop to back off regionMiss
 * first by returning TIKV_RETRY_BACKOFF. */
#define TIKV_RETRY 100
#define TIKV_RETRY_BACKOFF 101

typedef struct tikv_call {
    const char *method; /* TIKV_M_*, static */
    tikv_rpc_kind kind; /* counter */
    unsigned flags;     /* TIKV_CALL_* */
    /*
     * Encode the request for task: set the request's context to ctx (the
     * loop filled region_id, region_epoch, peer, is_retry_request,
     * max_execution_duration_ms; the builder may set more fields, e.g.
     * resolved_locks, but must not free anything in ctx: it is borrowed for
     * the call) and pack it into req (contents replaced). 0 or an Orbit code
     * (the operation ends with it).
     */
    int (*build)(void *arg, const tikv_task *task, Kvrpcpb__Context *ctx, orbit_buf *req);
    /*
     * Interpret a response that carries no region error (the loop checked
     * field 1 first): resp[0..len) is borrowed for the call. 0: this task is
     * done; TIKV_RETRY / TIKV_RETRY_BACKOFF: send it again (see above); a
     * negative Orbit code: the operation fails with it (other tasks of the
     * same round still finish; no new round starts).
     */
    int (*handle)(void *arg, const tikv_task *task, const uint8_t *resp, size_t len);
    void *arg;
    /* send_keys: keys per task (0: t->o.max_batch_size; never more than it),
     * and a byte budget per task (0: none) with the weight of key idx
     * (e.g. key + value length; NULL: key length). A task always holds at
     * least one key, whatever its weight. */
    size_t max_keys;
    size_t max_bytes;
    size_t (*weight)(void *arg, size_t idx);
} tikv_call;

/*
 * Send one request per region covering keys[0..n) (split further into
 * max_batch_size chunks), all regions in parallel, and wait for all.
 * Region errors are handled as client-go does, within bo's deadline:
 *   NotLeader with a leader: switch the cached leader, resend at once;
 *     without one: back off regionScheduling, re-locate;
 *   EpochNotMatch: put current_regions in the cache and re-split the keys
 *     (no backoff); with no regions carried: invalidate, re-locate;
 *   RegionNotFound / KeyNotInRegion / StoreNotMatch (also re-resolves the
 *     store) / MismatchPeerId: invalidate, re-locate;
 *   StaleCommand: back off staleCommand, resend; ServerIsBusy: back off
 *     serverBusy (or the server's backoff_ms), resend, never fail at once;
 *   MaxTimestampNotSynced / ReadIndexNotReady / ProposalInMergingMode /
 *     RegionNotInitialized / DiskFull: back off their kind, resend;
 *   RaftEntryTooLarge: ORBIT_ETOOBIG; Flashback*: ORBIT_EUNAVAIL;
 *     UndeterminedResult: ORBIT_EUNCERTAIN (never resent);
 *   any other: invalidate, back off regionMiss, re-locate.
 * A transport failure (store down, connection lost) invalidates the region
 * and the store, backs off tikvRPC and resends (if TIKV_CALL_RESEND or the
 * request surely never left), until the deadline: then ORBIT_EUNAVAIL (or
 * ORBIT_EUNCERTAIN for a TIKV_CALL_WRITE that may have been applied).
 * Re-located keys are regrouped: a region that split sends one request per
 * new region. build/handle run on the calling thread, one at a time.
 * Returns 0 when every task's handler returned 0, else the first failure.
 * n == 0 sends nothing and returns 0.
 */
int orbit__tikv_send_keys(tikv *t, tikv_bo *bo, size_t n, const orbit_slice *keys,
                          const tikv_call *call);
/* The same for a single key (n = 1): the common point request. */
int orbit__tikv_send_key(tikv *t, tikv_bo *bo, const uint8_t *k, size_t kl, const tikv_call *call);
/*
 * One request per region overlapping [lo, hi) (lo_len 0 / hi_len 0: open),
 * in parallel, each task given its clipped part; region errors as above
 * (a re-located part is re-split by the new regions). Scans use
 * orbit__tikv_send_range_window.
 */
int orbit__tikv_send_range(tikv *t, tikv_bo *bo, const uint8_t *lo, size_t lo_len, const uint8_t *hi,
                           size_t hi_len, const tikv_call *call);
/*
 * One request to the single region holding the start of [lo, hi) (reverse:
 * the region holding the keys just below hi), retried on region errors;
 * the task's range is clipped to that region. *done_loc (may be NULL)
 * receives a copy of the region that answered, so a scan continues from
 * its end (forward) or start (reverse).
 */
int orbit__tikv_send_range_one(tikv *t, tikv_bo *bo, const uint8_t *lo, size_t lo_len, const uint8_t *hi,
                               size_t hi_len, int reverse, const tikv_call *call, tikv_loc *done_loc);

/* ---- parallel scan windows (s3-scan) ---- */
/*
 * A scan window: one request per region for the first max_regions regions
 * of [lo, hi) in scan order (forward: from lo up; reverse: from hi down;
 * lo_len 0 / hi_len 0: open), all in parallel, each task given its part
 * clipped to its region (region cache first, PD only on a miss). Region
 * errors as send_range: a re-located part is re-split by the new regions,
 * so the handler may see more tasks than max_regions, but together they
 * cover exactly the window, and each succeeds (handler called) once.
 * max_regions is cut to 1 .. 64. On success *last is 1 when the window
 * reaches the range's far end; else edge (contents replaced) holds the
 * window's far bound: forward, its exclusive end (the next window starts
 * there); reverse, its lowest start (the next window's exclusive upper
 * bound). The handler sees the tasks in no particular order.
 */
int orbit__tikv_send_range_window(tikv *t, tikv_bo *bo, const uint8_t *lo, size_t lo_len, const uint8_t *hi,
                                  size_t hi_len, int reverse, size_t max_regions, const tikv_call *call,
                                  orbit_buf *edge, int *last);
/* ---- end parallel scan windows ---- */

/* Extract field 1 (region_error) of any TiKV response without knowing its
 * type: 0 and *err NULL when absent, 0 and *err set (free with
 * errorpb__error__free_unpacked) when present, ORBIT_EPROTO when resp is
 * not a protobuf message. */
int orbit__tikv_region_error(const uint8_t *resp, size_t len, Errorpb__Error **err);

/* ---- memcomparable bytes (region.c; TIKV_PROTOCOL.md section 4.1) -------------- */

/* Append the encoding of k to out. */
int orbit__tikv_mc_encode(const uint8_t *k, size_t kl, orbit_buf *out);
/* Decode e[0..el) into out (replaced): 0, or ORBIT_EPROTO for a malformed
 * encoding. */
int orbit__tikv_mc_decode(const uint8_t *e, size_t el, orbit_buf *out);

/* ---- raw mode (raw.c): the provider table's entries in mode=raw -------------------- */

int orbit__tikv_raw_get(void *self, void *snap, const uint8_t *k, size_t kl, orbit_value_fn fn,
                        void *arg);
int orbit__tikv_raw_put(void *self, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl);
int orbit__tikv_raw_del(void *self, const uint8_t *k, size_t kl);
/* A batch: puts grouped into RawBatchPut, deletes into RawBatchDelete, range
 * deletes into RawDeleteRange, per region. Raw mode has no atomicity across
 * keys: a failure part-way leaves some entries applied, reported as
 * ORBIT_EUNCERTAIN when any may have been. */
int orbit__tikv_raw_write(void *self, const orbit_batch *b);
int orbit__tikv_raw_multi_get(void *self, void *snap, size_t n, const orbit_slice *keys,
                              orbit_buf *vals, int *status);
int orbit__tikv_raw_delete_range(void *self, const orbit_range *r);
int orbit__tikv_raw_iter_open(void *self, void *snap, const orbit_range *r, void **it);
int orbit__tikv_raw_iter_next(void *it, const uint8_t **k, size_t *kl, const uint8_t **v,
                              size_t *vl);
int orbit__tikv_raw_iter_seek(void *it, const uint8_t *k, size_t kl);
void orbit__tikv_raw_iter_close(void *it);
/* RawCompareAndSwap (expected NULL: must be absent; desired NULL: delete):
 * 0, ORBIT_NOTFOUND (expected given, the key is absent; current emptied),
 * ORBIT_CMPFAIL (current gets the value found, emptied when absent), or
 * ORBIT_EUNCERTAIN when the answer was lost (a CAS is never resent after a
 * failure that may have reached the store). */
int orbit__tikv_raw_cas(void *self, const uint8_t *k, size_t kl, const orbit_slice *expected,
                        const orbit_slice *desired, orbit_buf *current);

/* ---- txn mode: provided by txn*.c (tk-txn) -----------------------------------
 *
 * tikv.c fills the provider table's txn-mode entries with these.
 * Semantics are those of the matching orbit_provider
 * members (include/orbit/provider.h); self is a tikv *.
 */

/* Set up / tear down t->txn_priv (called by tikv.c's open after PD and the
 * region cache are up, and by close before they go down). */
int orbit__tikv_txn_open(tikv *t);
void orbit__tikv_txn_close(tikv *t);

/* Plain operations in txn mode: reads at a snapshot (snap NULL: a fresh
 * TSO), writes as small transactions (1PC when one region). */
int orbit__tikv_get(void *self, void *snap, const uint8_t *k, size_t kl, orbit_value_fn fn, void *arg);
int orbit__tikv_put(void *self, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl);
int orbit__tikv_del(void *self, const uint8_t *k, size_t kl);
int orbit__tikv_write(void *self, const orbit_batch *b);
int orbit__tikv_write_version(void *self, const orbit_batch *b, uint64_t *version);
int orbit__tikv_multi_get(void *self, void *snap, size_t n, const orbit_slice *keys, orbit_buf *vals,
                          int *status);
int orbit__tikv_delete_range(void *self, const orbit_range *r);

/* Iterators, plain (at snap) and transactional share next/seek/close. */
int orbit__tikv_iter_open(void *self, void *snap, const orbit_range *r, void **it);
int orbit__tikv_iter_next(void *it, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl);
int orbit__tikv_iter_seek(void *it, const uint8_t *k, size_t kl);
void orbit__tikv_iter_close(void *it);

/* Snapshots at a TSO timestamp (the contract version is the timestamp). */
int orbit__tikv_snapshot_open(void *self, void **snap);
void orbit__tikv_snapshot_release(void *self, void *snap);
uint64_t orbit__tikv_snapshot_version(void *self, void *snap);
int orbit__tikv_snapshot_open_at(void *self, uint64_t version, void **snap);

/* Transactions (Percolator; optimistic or pessimistic by opts). */
int orbit__tikv_txn_begin(void *self, const orbit_txn_opts *opts, void **txn);
int orbit__tikv_txn_get(void *txn, const uint8_t *k, size_t kl, int for_update, orbit_value_fn fn,
                        void *arg);
int orbit__tikv_txn_put(void *txn, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl);
int orbit__tikv_txn_del(void *txn, const uint8_t *k, size_t kl);
int orbit__tikv_txn_iter_open(void *txn, const orbit_range *r, void **it);
int orbit__tikv_txn_multi_get(void *txn, size_t n, const orbit_slice *keys, orbit_buf *vals, int *status);
int orbit__tikv_txn_commit(void *txn);
int orbit__tikv_txn_commit_version(void *txn, uint64_t *version);
void orbit__tikv_txn_rollback(void *txn);

/* ---- native asynchronous submit (async.c) ---------------------------------
 *
 * open sets t->async (0 or ORBIT_ENOMEM; no thread starts until a submit);
 * close waits for every queued and running op, and for the pool's threads
 * to leave. submit is the provider table's (orbit_kv_submit's rules). */
int orbit__tikv_async_open(tikv *t);
void orbit__tikv_async_close(tikv *t);
int orbit__tikv_submit(void *self, orbit_kv_op *ops, size_t n, orbit_kv_done_fn done, void *arg);

/* The provider table (tikv.c). */
extern const orbit_provider orbit__provider_tikv;

#endif
