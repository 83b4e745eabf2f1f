/*
 * Private to the TiKV provider's transaction layer (src/providers/tikv/
 * txn*.c) and its tests: the write buffer, and the hooks the tests use to
 * stage failures that a real deployment meets by accident (a client killed
 * between prewrite and commit, a lock that expires quickly).
 *
 * The hooks are process-wide atomics read at the points they name; they
 * are zero (off) unless a test sets them, and no production path sets them.
 */
#ifndef ORBIT_TIKV_TXN_TEST_H
#define ORBIT_TIKV_TXN_TEST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "orbit/kv.h"

/* ---- the write buffer (txn_buf.c) --------------------------------------- */

enum {
    ORBIT__TIKV_M_PUT = 0,  /* k = v */
    ORBIT__TIKV_M_DEL = 1,  /* delete k */
    ORBIT__TIKV_M_LOCK = 2, /* read for update, not written */
};

typedef struct orbit__tikv_mut {
    uint8_t *k; /* owned by the buffer */
    size_t kl;
    uint8_t *v; /* owned; NULL unless op is PUT */
    size_t vl;
    uint8_t op;      /* ORBIT__TIKV_M_* */
    uint8_t plocked; /* a pessimistic lock on k is held (pessimistic txns) */
} orbit__tikv_mut;

typedef struct orbit__tikv_wbuf {
    orbit__tikv_mut *m; /* sorted by key, one entry per key */
    size_t n, cap;
    size_t bytes; /* sum of key + value lengths */
} orbit__tikv_wbuf;

void orbit__tikv_wbuf_init(orbit__tikv_wbuf *b);
void orbit__tikv_wbuf_release(orbit__tikv_wbuf *b);
/* Index of k, or its insertion point with *found = 0. */
size_t orbit__tikv_wbuf_find(const orbit__tikv_wbuf *b, const uint8_t *k, size_t kl, int *found);
/* The entry of k (borrowed until the buffer changes), or NULL. */
const orbit__tikv_mut *orbit__tikv_wbuf_get(const orbit__tikv_wbuf *b, const uint8_t *k, size_t kl);
/* Record op on k (v copied for PUT). A LOCK on a key already present
 * changes nothing. *added (may be NULL) says whether k is new. 0 or
 * ORBIT_ENOMEM (the buffer is unchanged). */
int orbit__tikv_wbuf_set(orbit__tikv_wbuf *b, const uint8_t *k, size_t kl, int op, const uint8_t *v,
                         size_t vl, int *added);
/* Entries that are puts or deletes. */
size_t orbit__tikv_wbuf_writes(const orbit__tikv_wbuf *b);

/* ---- test hooks (txn.c) --------------------------------------------------- */

/* Where the next commit stops, as if its client were killed there (0: it
 * does not). It sends nothing more (no commit, no rollback; its heartbeat
 * stops), forgets the transaction and returns ORBIT_EUNCERTAIN; the hook
 * then resets itself to 0. 1PC commits never stop.
 *   ORBIT__TIKV_STOP_PREWRITE          after every prewrite succeeded (2PC:
 *                                      nothing committed; async commit:
 *                                      committed, nothing resolved)
 *   ORBIT__TIKV_STOP_PRIMARY_PREWRITE  after the primary's region batch,
 *                                      before the other regions' prewrites
 *   ORBIT__TIKV_STOP_PRIMARY_COMMIT    2PC: after the primary committed,
 *                                      before the secondaries */
enum {
    ORBIT__TIKV_STOP_PREWRITE = 1,
    ORBIT__TIKV_STOP_PRIMARY_PREWRITE = 2,
    ORBIT__TIKV_STOP_PRIMARY_COMMIT = 3,
};
extern atomic_int orbit__tikv_txn_test_stop_after_prewrite;
/* Non-zero: the base lock TTL (ms) prewrites, pessimistic locks and
 * heartbeats ask for (the transaction's age is added, as always), instead
 * of 3 s and up, so a test's abandoned locks expire quickly. */
extern atomic_uint orbit__tikv_txn_test_lock_ttl_ms;
/* Non-zero: the heartbeat interval (ms) instead of 10 s. */
extern atomic_uint orbit__tikv_txn_test_heartbeat_ms;
/* Non-zero: background commits (async commit's KvCommit requests) wait
 * until it is 0 again before they send anything, so a test can see what a
 * commit sent before it returned. */
extern atomic_int orbit__tikv_txn_test_hold_background;

/* Counters since process start, for tests and benchmarks: commits by the
 * path they took, and locks this process resolved by outcome. */
typedef struct orbit__tikv_txn_stats {
    uint64_t one_pc, async_commit, two_pc, fallbacks;
    uint64_t resolved_committed, resolved_rolled_back, lock_waits, heartbeats;
} orbit__tikv_txn_stats;
void orbit__tikv_txn_stats_get(orbit__tikv_txn_stats *out);

#endif
