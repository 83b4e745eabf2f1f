/*
 * Randomized lockstep comparison of the store under test with an oracle
 * store and with an independent model.
 *
 * A seeded sequence of operations (tu_seed: the seed is printed, and
 * ORBIT_TEST_SEED=<seed> replays it) is applied from one thread, in the same
 * order, to three sides: the store under test, the oracle store (--oracle,
 * the memory provider) and a model kept inside this file. Every result is
 * compared: return codes, values, scan and iterator results step by step,
 * multi-get statuses, compare-and-set outcomes, transaction outcomes. The
 * key space is small so keys collide all the time (overwrites, deletes of
 * present keys, conflicts between the two transactions that may be open at
 * once).
 *
 * The model is deliberately simple and shares no code with any provider:
 * the store is an array with one slot per key of the fixed key set (rkeys),
 * visited in sorted key order; a snapshot is a copy of that array; a
 * transaction is a copy taken at begin (snapshot isolation) or the live
 * array (read committed) plus an array of its own writes. Conflicts follow
 * the documented rule with one write clock: each write of a key stamps it;
 * a key a transaction writes or reads for update is checked from the stamp
 * of its begin (SNAPSHOT) or of its first use (READ_COMMITTED); optimistic
 * stores check at commit, pessimistic ones at the claim, which also fails
 * when the other open transaction holds the key. The model checks the
 * oracle (so the memory provider is compared with something that is not
 * itself), and the oracle checks the store.
 *
 * Operations: put, del, batch (puts, deletes, range deletes), delete_range,
 * cas / put_if_absent, get, get_with, multi-get (latest, at a snapshot, in a
 * transaction), scans with bounds, prefix, limit, byte limit, keys-only and
 * seeks in the middle (plain, at a snapshot, in a transaction),
 * transactions at SNAPSHOT and READ_COMMITTED isolation (get,
 * get_for_update, put, del, delete_range, multi-get, scan, commit with and
 * without its version, rollback), and orbit_kv_submit with GET (also at a
 * snapshot), PUT, DEL, WRITE and MULTI_GET ops. Snapshot versions must never
 * fall and must reach every commit version reported before them.
 *
 * Invariant that keeps the comparison deterministic: while a transaction is
 * open no plain write is issued, so no outcome depends on lock timing. The
 * second case lifts that rule for optimistic stores only, where plain writes
 * never wait and the conflict is decided by the commit; range deletes
 * (plain or in a batch) still wait until no transaction is open, because
 * whether one conflicts with a transaction that wrote an absent key inside
 * the range is provider-defined.
 *
 * On a mismatch the report names the step, the operation, the results and
 * the operations that led there; then the case fails.
 *
 * Changes to absent keys (--absent-changes-conflict no). Whether a change
 * that leaves a key absent conflicts with a transaction that saw the key
 * absent and writes it or reads it for update is provider-defined. The
 * oracle and the model, like RocksDB, count every delete as a write, so a
 * delete of an absent key, or a create-then-delete, after the transaction
 * began (read committed: after it first used the key) fails its commit.
 * etcd's delete of an absent key makes no revision, and a key created and
 * deleted again has mod_revision 0 as it had before, so its commit compares
 * pass. Both outcomes are serializable: those changes net to the absence
 * the transaction saw. With the option, a commit that the store accepts and
 * the oracle and the model refuse is accepted only when the model shows it
 * is exactly that: every key that caused the model's conflict was absent
 * when the transaction's conflict window opened (its begin, or for read
 * committed its first use of the key) and is absent now. The oracle and the
 * model then apply the transaction's writes (the oracle as one plain
 * batch); the case is counted and the run goes on. The final statistics
 * check leaves out the extra oracle calls and counts each tolerated commit
 * as a commit, not a conflict. Anything else is still a mismatch. A
 * generator that avoided these patterns was the other choice; it was
 * rejected because it would drop coverage exactly where etcd compares
 * absent keys (mod_revision 0). Without the option (memory, RocksDB)
 * nothing is tolerated.
 *
 * Plain reads under READ_COMMITTED claim nothing (kv.h): a key's first
 * use is its first write or read for update, on every provider, so a
 * change between a plain read and a later write of the key does not
 * conflict, and the model says so.
 *
 * Provider differences the capabilities announce are honoured: batch range
 * deletes are generated only where both stores offer them; a store that
 * refuses orbit_txn_delete_range with ENOTSUP (the header allows it) has
 * that transaction rolled back on every side, counted and reported.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "orbit/kv.h"
#include "suite.h"
#include "testutil.h"

#define HIST 24
#define DESC 320
#define MAX_VAL 2048
#define MAX_MGET 6
#define MAX_ITER_STEPS 64

static const struct {
    const char *p;
    size_t n;
} rkeys[] = {
#define K(lit) {lit, sizeof(lit) - 1}
    K("\x00"), K("\x00\x01"), K("a"), K("a\x00"), K("aa"), K("ab"),
    K("ab\xff"), K("abc"), K("b"), K("ba"), K("bb"), K("c"), K("\x7f"),
    K("\x80"), K("\xff"), K("\xff\x00"), K("\xff\xff"), K("\xff\xff\xff"),
    K("k1"), K("k10"), K("k11"), K("k2"), K("k3"), K("z"),
#undef K
};
#define NKEYS (sizeof rkeys / sizeof rkeys[0])
_Static_assert(NKEYS <= 32, "key sets are 32-bit masks of rkeys indices");

#define KP(ki) ((const uint8_t *)rkeys[ki].p)
#define KL(ki) (rkeys[ki].n)

/* rkeys indices in ascending key order (filled by run()). */
static size_t korder[NKEYS];

/* The list of statistics counters, for comparing and adjusting them. */
#define STAT_FIELDS(X)                                                         \
    X(gets) X(puts) X(deletes) X(batches) X(scans) X(txns_begun)               \
    X(txns_committed) X(txns_rolled_back) X(txns_conflicted) X(keys_read)      \
    X(keys_written) X(bytes_read) X(bytes_written) X(errors)

/* ---- the model -------------------------------------------------------- */

typedef struct mslot {
    int present;
    size_t len;
    uint8_t v[MAX_VAL];
} mslot;

/* The whole store: one slot per rkeys index. */
typedef struct mview {
    mslot k[NKEYS];
} mview;

enum { OWN_NONE = 0, OWN_PUT = 1, OWN_DEL = 2 };

/* What the test knows about an open transaction (the same on every side). */
typedef struct txn_track {
    orbit_isolation iso;
    uint64_t begin_clock; /* rstate.wclock at its begin */
    uint32_t written;     /* rkeys indices it wrote */
    uint32_t claimed;     /* rkeys indices it read for update */
    /* Per key in written | claimed: the clock its conflict window opened
     * at (begin for SNAPSHOT, first use for READ_COMMITTED), and whether
     * the key was present in the view the transaction had then. */
    uint64_t since[NKEYS];
    int present_then[NKEYS];
    int own[NKEYS]; /* OWN_* */
    mslot ownv[NKEYS];
    mview base; /* SNAPSHOT: the store at begin */
} txn_track;

typedef struct side {
    ct_store st;
    orbit_capabilities caps;
    orbit_txn *txn[2];
    orbit_snapshot *snap[2];
    uint64_t commit_hi; /* the highest commit version reported */
    uint64_t snap_hi;   /* the highest snapshot version seen */
} side;

typedef struct rstate {
    side s[2]; /* [0] the store under test, [1] the oracle */
    tu_rng rng;
    unsigned long step;
    int plain_writes_in_txn; /* optimistic phase */
    ct_txn_mode mmode;       /* the model's (and oracle's) conflict rule */
    int rc_ok;               /* both stores offer READ_COMMITTED */
    int batch_range_ok;      /* both stores offer batch range deletes */
    char op[DESC];
    char hist[HIST][DESC];
    unsigned long hist_step[HIST];
    unsigned nhist;
    unsigned long txn_commits, txn_conflicts, scans, seeks, cas_ops, range_dels,
        rc_txns, mgets, submits, txn_range_enotsup;

    mview cur;      /* the model store */
    mview snapv[2]; /* the model's snapshots */
    txn_track tx[2];
    /* Write clock: counts key writes (tombstones included); last_write
     * holds, per rkeys index, the clock of its last write. */
    uint64_t wclock;
    uint64_t last_write[NKEYS];

    int tolerate_absent;
    unsigned long tolerated, tolerated_created; /* the latter: put meanwhile */
    int created_since[NKEYS]; /* a put of the key since... (tolerance report) */
    uint64_t last_put[NKEYS];
    orbit_kv_stats oracle_extra; /* counted by oracle-only calls */
} rstate;

static const uint8_t alphabet[] = {0x00, 'a', 'b', 'k', '1', 0xff};

static uint64_t rnd(rstate *r, uint64_t n)
{
    return tu_below(&r->rng, n);
}

static size_t pick_key(rstate *r, const uint8_t **k, size_t *kl)
{
    size_t i = (size_t)rnd(r, NKEYS);
    *k = KP(i);
    *kl = KL(i);
    return i;
}

/* The model wrote key ki (a put, or a delete: a tombstone either way). */
static void wrote(rstate *r, size_t ki, int put)
{
    r->last_write[ki] = ++r->wclock;
    if (put)
        r->last_put[ki] = r->wclock;
}

static void m_put(rstate *r, size_t ki, const uint8_t *v, size_t vl)
{
    mslot *s = &r->cur.k[ki];
    s->present = 1;
    s->len = vl;
    if (vl)
        memcpy(s->v, v, vl);
    wrote(r, ki, 1);
}

static void m_del(rstate *r, size_t ki)
{
    r->cur.k[ki].present = 0;
    r->cur.k[ki].len = 0;
    wrote(r, ki, 0);
}

/* start <= key < end; a NULL or empty end is open. */
static int in_bounds(size_t ki, const uint8_t *s, size_t sl, const uint8_t *e, size_t el)
{
    if (ct_keycmp(KP(ki), KL(ki), s, sl) < 0)
        return 0;
    return !e || el == 0 || ct_keycmp(KP(ki), KL(ki), e, el) < 0;
}

/* A range delete in the model: each present key in range is deleted. */
static void m_delete_range(rstate *r, const uint8_t *s, size_t sl, const uint8_t *e,
                           size_t el)
{
    for (size_t ki = 0; ki < NKEYS; ki++)
        if (r->cur.k[ki].present && in_bounds(ki, s, sl, e, el))
            m_del(r, ki);
}

/* Where a model read looks. */
enum { SRC_LATEST = -1, SRC_SNAP0 = 0, SRC_SNAP1 = 1, SRC_TXN0 = 2, SRC_TXN1 = 3 };

/* The slot key ki has in a view, or NULL when absent there. */
static const mslot *m_at(const rstate *r, int src, size_t ki)
{
    const mslot *s;
    if (src == SRC_LATEST) {
        s = &r->cur.k[ki];
    } else if (src == SRC_SNAP0 || src == SRC_SNAP1) {
        s = &r->snapv[src].k[ki];
    } else {
        /* src is SRC_TXN0 or SRC_TXN1 (the & says so to gcc -O3, which
         * otherwise warns of an index of -3 on a path that cannot run). */
        const txn_track *t = &r->tx[(src - SRC_TXN0) & 1];
        if (t->own[ki] == OWN_PUT)
            return &t->ownv[ki];
        if (t->own[ki] == OWN_DEL)
            return NULL;
        s = t->iso == ORBIT_ISO_SNAPSHOT ? &t->base.k[ki] : &r->cur.k[ki];
    }
    return s->present ? s : NULL;
}

/* A model read as a status and a value. */
static int m_get(const rstate *r, int src, size_t ki, orbit_buf *out)
{
    const mslot *s = m_at(r, src, ki);
    if (orbit_buf_set(out, s ? s->v : NULL, s ? s->len : 0) != 0)
        fail_msg("out of memory");
    return s ? 0 : ORBIT_NOTFOUND;
}

/* The model's iterator: the entries of the view in range, in iteration
 * order, a cursor and the counts the limits apply to. */
typedef struct miter {
    size_t ki[NKEYS];
    const mslot *val[NKEYS];
    size_t n, pos, count, bytes;
    orbit_scan_opts so;
} miter;

static int in_scan(const orbit_scan_opts *so, size_t ki)
{
    const uint8_t *k = KP(ki);
    size_t kl = KL(ki);
    if (so->start && ct_keycmp(k, kl, so->start, so->start_len) < 0)
        return 0;
    if (so->end && ct_keycmp(k, kl, so->end, so->end_len) >= 0)
        return 0;
    if (so->prefix && (kl < so->prefix_len || memcmp(k, so->prefix, so->prefix_len) != 0))
        return 0;
    return 1;
}

static void m_iter_open(const rstate *r, int src, const orbit_scan_opts *so, miter *mi)
{
    memset(mi, 0, sizeof *mi);
    mi->so = *so;
    for (size_t j = 0; j < NKEYS; j++) {
        size_t ki = korder[so->reverse ? NKEYS - 1 - j : j];
        const mslot *s = m_at(r, src, ki);
        if (s && in_scan(so, ki)) {
            mi->ki[mi->n] = ki;
            mi->val[mi->n++] = s;
        }
    }
}

static int m_iter_next(miter *mi, size_t *ki, const uint8_t **v, size_t *vl)
{
    if (mi->so.limit && mi->count >= mi->so.limit)
        return ORBIT_NOTFOUND;
    if (mi->so.max_bytes && mi->bytes >= mi->so.max_bytes)
        return ORBIT_NOTFOUND;
    if (mi->pos >= mi->n)
        return ORBIT_NOTFOUND;
    size_t j = mi->pos++;
    *ki = mi->ki[j];
    *v = mi->so.keys_only ? (const uint8_t *)"" : mi->val[j]->v;
    *vl = mi->so.keys_only ? 0 : mi->val[j]->len;
    mi->count++;
    mi->bytes += KL(*ki) + *vl;
    return 0;
}

static void m_iter_seek(miter *mi, const uint8_t *k, size_t kl)
{
    size_t j = 0;
    while (j < mi->n) {
        int c = ct_keycmp(KP(mi->ki[j]), KL(mi->ki[j]), k, kl);
        if (mi->so.reverse ? c <= 0 : c >= 0)
            break;
        j++;
    }
    mi->pos = j;
}

/* ---- generators ------------------------------------------------------- */

static size_t gen_val(rstate *r, uint8_t *buf)
{
    uint64_t c = rnd(r, 100);
    size_t n = c < 6 ? 0 : c < 10 ? MAX_VAL - rnd(r, 64) : 1 + rnd(r, 12);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)rnd(r, 256);
    return n;
}

/* A bound or prefix: an existing key, or a short random string. */
static size_t gen_bytes(rstate *r, uint8_t *buf)
{
    if (rnd(r, 2)) {
        size_t i = (size_t)rnd(r, NKEYS);
        memcpy(buf, rkeys[i].p, rkeys[i].n);
        return rkeys[i].n;
    }
    size_t n = (size_t)rnd(r, 3);
    for (size_t i = 0; i < n; i++)
        buf[i] = alphabet[rnd(r, sizeof alphabet)];
    return n;
}

/* The same, never empty (range-delete starts, seek targets). */
static size_t gen_key_bytes(rstate *r, uint8_t *buf)
{
    size_t n = gen_bytes(r, buf);
    if (n == 0) {
        buf[0] = alphabet[rnd(r, sizeof alphabet)];
        n = 1;
    }
    return n;
}

typedef struct scan_bufs {
    uint8_t start[8], end[8], prefix[8];
} scan_bufs;

static void gen_scan(rstate *r, orbit_scan_opts *so, scan_bufs *b)
{
    memset(so, 0, sizeof *so);
    if (rnd(r, 3) == 0) {
        so->start = b->start;
        so->start_len = gen_bytes(r, b->start);
    }
    if (rnd(r, 3) == 0) {
        so->end = b->end;
        so->end_len = gen_bytes(r, b->end);
        /* An empty end bound is not a range anybody means to ask for. */
        if (so->end_len == 0)
            so->end = NULL;
    }
    if (rnd(r, 3) == 0) {
        so->prefix = b->prefix;
        so->prefix_len = gen_bytes(r, b->prefix);
        if (rnd(r, 8) == 0) {
            so->prefix_len = 1 + (size_t)rnd(r, 3);
            memset(b->prefix, 0xff, so->prefix_len);
        }
    }
    so->limit = rnd(r, 3) == 0 ? 1 + (size_t)rnd(r, 5) : 0;
    so->reverse = (int)rnd(r, 2);
    so->keys_only = rnd(r, 4) == 0;
    so->max_bytes = rnd(r, 4) == 0 ? 1 + (size_t)rnd(r, rnd(r, 2) ? 40 : 6000) : 0;
}

static void describe_scan(const orbit_scan_opts *so, char *buf, size_t cap)
{
    char a[48], b[48], p[48];
    snprintf(buf, cap, "[%s, %s) prefix %s limit %zu max_bytes %zu %s%s",
             so->start ? ct_fmt(a, sizeof a, so->start, so->start_len) : "-inf",
             so->end ? ct_fmt(b, sizeof b, so->end, so->end_len) : "+inf",
             so->prefix ? ct_fmt(p, sizeof p, so->prefix, so->prefix_len) : "none",
             so->limit, so->max_bytes, so->reverse ? "reverse" : "forward",
             so->keys_only ? " keys-only" : "");
}

/* ---- reporting ---------------------------------------------------------- */

static void set_op(rstate *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_op(rstate *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->op, sizeof r->op, fmt, ap);
    va_end(ap);
}

/* Append to the operation's description. */
static void add_op(rstate *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_op(rstate *r, const char *fmt, ...)
{
    size_t o = strlen(r->op);
    if (o + 1 >= sizeof r->op)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->op + o, sizeof r->op - o, fmt, ap);
    va_end(ap);
}

static void done_op(rstate *r)
{
    unsigned i = r->nhist++ % HIST;
    memcpy(r->hist[i], r->op, DESC);
    r->hist_step[i] = r->step;
}

static void mismatch(rstate *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mismatch(rstate *r, const char *fmt, ...)
{
    fprintf(stderr, "\nMISMATCH at step %lu: %s\n  ", r->step, r->op);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  store:  %s\n  oracle: %s\n  preceding operations:\n",
            r->s[0].st.uri, r->s[1].st.uri);
    unsigned n = r->nhist < HIST ? r->nhist : HIST;
    for (unsigned j = 0; j < n; j++) {
        unsigned i = (r->nhist - n + j) % HIST;
        fprintf(stderr, "    step %lu: %s\n", r->hist_step[i], r->hist[i]);
    }
    fail_msg("store, oracle and model disagree at step %lu (see above)", r->step);
}

/* store a, oracle b, model m */
static void cmp_rc3(rstate *r, int a, int b, int m)
{
    if (b != m)
        mismatch(r, "the oracle returned %s (%d), the independent model %s (%d); "
                 "last error detail: %s",
                 orbit_err_name(b), b, orbit_err_name(m), m, orbit_last_error_detail());
    if (a != b)
        mismatch(r, "store returned %s (%d), oracle and model %s (%d); last error "
                 "detail: %s",
                 orbit_err_name(a), a, orbit_err_name(b), b, orbit_last_error_detail());
}

static int buf_eq(const orbit_buf *a, const orbit_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void cmp_val3(rstate *r, const orbit_buf *a, const orbit_buf *b, const orbit_buf *m)
{
    char x[160], y[160];
    if (!buf_eq(b, m))
        mismatch(r, "values differ: oracle %s (%zu bytes), model %s (%zu bytes)",
                 ct_fmt(x, sizeof x, b->data, b->len), b->len,
                 ct_fmt(y, sizeof y, m->data, m->len), m->len);
    if (!buf_eq(a, b))
        mismatch(r, "values differ: store %s (%zu bytes), oracle and model %s (%zu bytes)",
                 ct_fmt(x, sizeof x, a->data, a->len), a->len,
                 ct_fmt(y, sizeof y, b->data, b->len), b->len);
}

/* ---- versions ----------------------------------------------------------- */

static void saw_commit_version(rstate *r, int s, uint64_t v)
{
    if (!r->s[s].caps.supports_commit_version) {
        if (v != 0)
            mismatch(r, "%s reported commit version %llu without supports_commit_version",
                     s ? "oracle" : "store", (unsigned long long)v);
        return;
    }
    if (v > r->s[s].commit_hi)
        r->s[s].commit_hi = v;
}

static void saw_snapshot(rstate *r, int s, const orbit_snapshot *snap)
{
    uint64_t v = orbit_snapshot_version(snap);
    if (v < r->s[s].snap_hi)
        mismatch(r, "%s: snapshot version %llu is below an earlier one, %llu",
                 s ? "oracle" : "store", (unsigned long long)v,
                 (unsigned long long)r->s[s].snap_hi);
    if (v < r->s[s].commit_hi)
        mismatch(r, "%s: snapshot version %llu is below the commit version %llu of a "
                 "commit made before it", s ? "oracle" : "store", (unsigned long long)v,
                 (unsigned long long)r->s[s].commit_hi);
    r->s[s].snap_hi = v;
}

/* ---- plain operations --------------------------------------------------- */

static int writes_allowed(const rstate *r)
{
    int open = r->s[0].txn[0] || r->s[0].txn[1];
    return !open || r->plain_writes_in_txn;
}

static int no_txn_open(const rstate *r)
{
    return !r->s[0].txn[0] && !r->s[0].txn[1];
}

static void op_put(rstate *r)
{
    const uint8_t *k;
    size_t kl;
    uint8_t v[MAX_VAL];
    char kb[64];
    size_t ki = pick_key(r, &k, &kl);
    size_t vl = gen_val(r, v);
    set_op(r, "put %s (%zu bytes)", ct_fmt(kb, sizeof kb, k, kl), vl);
    int a = orbit_kv_put(r->s[0].st.kv, k, kl, v, vl);
    int b = orbit_kv_put(r->s[1].st.kv, k, kl, v, vl);
    cmp_rc3(r, a, b, 0);
    m_put(r, ki, v, vl);
}

static void op_del(rstate *r)
{
    const uint8_t *k;
    size_t kl;
    char kb[64];
    size_t ki = pick_key(r, &k, &kl);
    set_op(r, "del %s", ct_fmt(kb, sizeof kb, k, kl));
    int a = orbit_kv_del(r->s[0].st.kv, k, kl);
    int b = orbit_kv_del(r->s[1].st.kv, k, kl);
    cmp_rc3(r, a, b, 0);
    m_del(r, ki);
}

static void op_delete_range(rstate *r)
{
    uint8_t s[8], e[8];
    size_t sl = gen_key_bytes(r, s), el = 0;
    int open_end = rnd(r, 4) == 0;
    if (!open_end)
        el = gen_bytes(r, e); /* may be empty: no upper bound */
    char sb[48], eb[48];
    set_op(r, "delete_range [%s, %s)", ct_fmt(sb, sizeof sb, s, sl),
           open_end ? "NULL" : ct_fmt(eb, sizeof eb, e, el));
    int a = orbit_kv_delete_range(r->s[0].st.kv, s, sl, open_end ? NULL : e, el);
    int b = orbit_kv_delete_range(r->s[1].st.kv, s, sl, open_end ? NULL : e, el);
    cmp_rc3(r, a, b, 0);
    m_delete_range(r, s, sl, open_end ? NULL : e, el);
    r->range_dels++;
}

static void op_batch(rstate *r)
{
    orbit_batch *b = NULL;
    if (orbit_batch_new(&b) != 0)
        fail_msg("orbit_batch_new failed");
    size_t n = 1 + (size_t)rnd(r, 6);
    int ranges = r->batch_range_ok && no_txn_open(r);
    char kb[64], eb[48];
    static uint8_t v[6][MAX_VAL];
    struct {
        int kind; /* 0 put, 1 del, 2 range */
        size_t ki, vl;
        uint8_t s[8], e[8];
        size_t sl, el;
    } ent[6];
    set_op(r, "batch:");
    for (size_t i = 0; i < n; i++) {
        const uint8_t *k;
        size_t kl;
        int rc;
        uint64_t c = rnd(r, ranges ? 8 : 6);
        if (c >= 6) {
            ent[i].kind = 2;
            ent[i].sl = gen_key_bytes(r, ent[i].s);
            ent[i].el = gen_bytes(r, ent[i].e);
            rc = orbit_batch_delete_range(b, ent[i].s, ent[i].sl, ent[i].e, ent[i].el);
            add_op(r, " delete_range [%s, %s)", ct_fmt(kb, sizeof kb, ent[i].s, ent[i].sl),
                   ct_fmt(eb, sizeof eb, ent[i].e, ent[i].el));
            r->range_dels++;
        } else if (c < 2) {
            ent[i].kind = 1;
            ent[i].ki = pick_key(r, &k, &kl);
            rc = orbit_batch_del(b, k, kl);
            add_op(r, " del %s", ct_fmt(kb, sizeof kb, k, kl));
        } else {
            ent[i].kind = 0;
            ent[i].ki = pick_key(r, &k, &kl);
            ent[i].vl = gen_val(r, v[i]);
            rc = orbit_batch_put(b, k, kl, v[i], ent[i].vl);
            add_op(r, " put %s", ct_fmt(kb, sizeof kb, k, kl));
        }
        if (rc != 0)
            fail_msg("batch entry refused: %s", orbit_err_name(rc));
    }
    /* One batch for both: orbit_kv_write leaves it unchanged. */
    int with_version = (int)rnd(r, 2);
    uint64_t ver[2] = {0, 0};
    int a = with_version ? orbit_kv_write_version(r->s[0].st.kv, b, &ver[0])
                         : orbit_kv_write(r->s[0].st.kv, b);
    int c = with_version ? orbit_kv_write_version(r->s[1].st.kv, b, &ver[1])
                         : orbit_kv_write(r->s[1].st.kv, b);
    cmp_rc3(r, a, c, 0);
    orbit_batch_free(b);
    if (with_version)
        for (int s = 0; s < 2; s++)
            saw_commit_version(r, s, ver[s]);
    for (size_t i = 0; i < n; i++) {
        if (ent[i].kind == 0)
            m_put(r, ent[i].ki, v[i], ent[i].vl);
        else if (ent[i].kind == 1)
            m_del(r, ent[i].ki);
        else
            m_delete_range(r, ent[i].s, ent[i].sl, ent[i].e, ent[i].el);
    }
}

/* compare-and-set / put_if_absent against the model's expectation */
static void op_cas(rstate *r)
{
    const uint8_t *k;
    size_t kl;
    char kb[64];
    size_t ki = pick_key(r, &k, &kl);
    uint8_t ev[MAX_VAL], dv[MAX_VAL];
    const mslot *now = m_at(r, SRC_LATEST, ki);
    uint64_t c = rnd(r, 8);
    int has_exp = 1, has_des = 1, pia = 0;
    size_t el = 0, dl = gen_val(r, dv);
    if (c < 3 && now) { /* the current value: applies */
        el = now->len;
        memcpy(ev, now->v, el);
    } else if (c < 5) { /* another value */
        el = gen_val(r, ev);
    } else { /* insert-if-absent */
        has_exp = 0;
        pia = c == 7;
    }
    if (has_exp && rnd(r, 4) == 0)
        has_des = 0; /* compare-and-delete */
    orbit_slice e = {ev, el}, d = {dv, dl};
    set_op(r, "%s %s%s%s", pia ? "put_if_absent" : "cas", ct_fmt(kb, sizeof kb, k, kl),
           has_exp ? " expecting a value" : " expecting absent",
           has_des ? "" : ", delete");
    orbit_buf cur[3] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    int rc[3];
    for (int s = 0; s < 2; s++) {
        orbit_buf_set(&cur[s], "junk", 4);
        rc[s] = pia ? orbit_kv_put_if_absent(r->s[s].st.kv, k, kl, dv, dl, &cur[s])
                    : orbit_kv_cas(r->s[s].st.kv, k, kl, has_exp ? &e : NULL,
                                   has_des ? &d : NULL, &cur[s]);
    }
    /* The model. */
    if (!has_exp) {
        rc[2] = now ? ORBIT_CMPFAIL : 0;
    } else if (!now) {
        rc[2] = ORBIT_NOTFOUND;
    } else {
        rc[2] = now->len == el && (el == 0 || memcmp(now->v, ev, el) == 0) ? 0
                                                                          : ORBIT_CMPFAIL;
    }
    if (rc[2] == ORBIT_CMPFAIL)
        orbit_buf_set(&cur[2], now->v, now->len);
    cmp_rc3(r, rc[0], rc[1], rc[2]);
    /* current: the value on CMPFAIL, emptied on NOTFOUND; not specified on
     * success. */
    if (rc[2] == ORBIT_CMPFAIL || rc[2] == ORBIT_NOTFOUND)
        cmp_val3(r, &cur[0], &cur[1], &cur[2]);
    if (rc[2] == 0) {
        if (has_des)
            m_put(r, ki, dv, dl);
        else
            m_del(r, ki);
    }
    for (int i = 0; i < 3; i++)
        orbit_buf_release(&cur[i]);
    r->cas_ops++;
}

static int pick_snap(rstate *r)
{
    int i = (int)rnd(r, 3);
    return i < 2 && r->s[0].snap[i] ? i : -1;
}

static const char *src_name(int src)
{
    static const char *const n[] = {"", " @snap0", " @snap1", " in txn0", " in txn1"};
    return n[src + 1];
}

static int copy_value(void *arg, const uint8_t *v, size_t n)
{
    return orbit_buf_set(arg, v, n);
}

static void op_get(rstate *r, int with)
{
    const uint8_t *k;
    size_t kl;
    char kb[64];
    size_t ki = pick_key(r, &k, &kl);
    int si = pick_snap(r);
    set_op(r, "%s %s%s", with ? "get_with" : "get", ct_fmt(kb, sizeof kb, k, kl),
           src_name(si));
    orbit_buf v[3] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    int rc[3];
    for (int i = 0; i < 2; i++) {
        orbit_read_opts ro = {si < 0 ? NULL : r->s[i].snap[si]};
        rc[i] = with ? orbit_kv_get_with(r->s[i].st.kv, &ro, k, kl, copy_value, &v[i])
                     : orbit_kv_get(r->s[i].st.kv, &ro, k, kl, &v[i]);
    }
    rc[2] = m_get(r, si, ki, &v[2]);
    cmp_rc3(r, rc[0], rc[1], rc[2]);
    cmp_val3(r, &v[0], &v[1], &v[2]);
    for (int i = 0; i < 3; i++)
        orbit_buf_release(&v[i]);
}


/* Multi-get through kv (latest or a snapshot) or a transaction (ti >= 0). */
static int do_mget(rstate *r, int ti)
{
    size_t n = 1 + (size_t)rnd(r, MAX_MGET);
    orbit_slice keys[MAX_MGET];
    size_t kis[MAX_MGET];
    char kb[48];
    int si = ti >= 0 ? -1 : pick_snap(r);
    int src = ti >= 0 ? SRC_TXN0 + ti : si;
    if (ti >= 0)
        set_op(r, "txn%d multi_get", ti);
    else
        set_op(r, "multi_get%s", src_name(si));
    for (size_t i = 0; i < n; i++) {
        /* duplicates on purpose: a small key set */
        kis[i] = (size_t)rnd(r, NKEYS);
        keys[i].data = KP(kis[i]);
        keys[i].len = KL(kis[i]);
        add_op(r, " %s", ct_fmt(kb, sizeof kb, keys[i].data, keys[i].len));
    }
    orbit_buf vals[3][MAX_MGET];
    int st[3][MAX_MGET], rc[3];
    for (int s = 0; s < 3; s++)
        for (size_t i = 0; i < n; i++) {
            orbit_buf_init(&vals[s][i]);
            orbit_buf_set(&vals[s][i], "junk", 4);
            st[s][i] = -99;
        }
    for (int s = 0; s < 2; s++) {
        orbit_read_opts ro = {si < 0 ? NULL : r->s[s].snap[si]};
        rc[s] = ti >= 0 ? orbit_txn_multi_get(r->s[s].txn[ti], n, keys, vals[s], st[s])
                        : orbit_kv_multi_get(r->s[s].st.kv, &ro, n, keys, vals[s], st[s]);
    }
    rc[2] = 0;
    for (size_t i = 0; i < n; i++)
        st[2][i] = m_get(r, src, kis[i], &vals[2][i]);
    cmp_rc3(r, rc[0], rc[1], rc[2]);
    for (size_t i = 0; rc[0] == 0 && i < n; i++) {
        if (st[0][i] != st[1][i] || st[1][i] != st[2][i])
            mismatch(r, "key %zu: status store %s, oracle %s, model %s", i,
                     orbit_err_name(st[0][i]), orbit_err_name(st[1][i]),
                     orbit_err_name(st[2][i]));
        cmp_val3(r, &vals[0][i], &vals[1][i], &vals[2][i]);
    }
    for (int s = 0; s < 3; s++)
        for (size_t i = 0; i < n; i++)
            orbit_buf_release(&vals[s][i]);
    r->mgets++;
    return rc[0];
}

static void dump_steps(const char *label, const ct_list *l)
{
    ct_list_dump(label, l, 40);
}

/*
 * A scan (kv latest, snapshot si, or txn ti) through an iterator on each
 * side, compared entry by entry, with up to two seeks in the middle.
 * Returns the iterator's final status on the store (ORBIT_NOTFOUND or an
 * error, the same on every side).
 */
static int do_scan(rstate *r, int src)
{
    orbit_scan_opts so;
    scan_bufs bufs;
    gen_scan(r, &so, &bufs);
    char d[240];
    describe_scan(&so, d, sizeof d);
    if (src >= SRC_TXN0)
        set_op(r, "txn%d scan %s", src - SRC_TXN0, d);
    else
        set_op(r, "scan %s%s", d, src_name(src));
    orbit_iter *it[2] = {NULL, NULL};
    int rc[3];
    for (int s = 0; s < 2; s++) {
        if (src >= SRC_TXN0) {
            rc[s] = orbit_txn_iter(r->s[s].txn[src - SRC_TXN0], &so, &it[s]);
        } else {
            orbit_read_opts ro = {src < 0 ? NULL : r->s[s].snap[src]};
            rc[s] = orbit_kv_iter(r->s[s].st.kv, &ro, &so, &it[s]);
        }
    }
    cmp_rc3(r, rc[0], rc[1], 0);
    miter mi;
    m_iter_open(r, src, &so, &mi);
    ct_list got[3] = {{0}, {0}, {0}};
    int seeks = 0, end = 0;
    for (int stepn = 0; stepn < MAX_ITER_STEPS && !end; stepn++) {
        if (seeks < 2 && rnd(r, 6) == 0) {
            uint8_t sk[8];
            size_t skl = gen_key_bytes(r, sk);
            char kb[48];
            add_op(r, " | seek %s after %zu", ct_fmt(kb, sizeof kb, sk, skl), got[0].n);
            for (int s = 0; s < 2; s++)
                rc[s] = orbit_iter_seek(it[s], sk, skl);
            m_iter_seek(&mi, sk, skl);
            cmp_rc3(r, rc[0], rc[1], 0);
            seeks++;
            r->seeks++;
            continue;
        }
        const uint8_t *k[3], *v[3];
        size_t kl[3], vl[3], mki = 0;
        for (int s = 0; s < 2; s++)
            rc[s] = orbit_iter_next(it[s], &k[s], &kl[s], &v[s], &vl[s]);
        rc[2] = m_iter_next(&mi, &mki, &v[2], &vl[2]);
        if (rc[2] == 0) {
            k[2] = KP(mki);
            kl[2] = KL(mki);
        }
        size_t at = got[2].n;
        for (int s = 0; s < 3; s++)
            if (rc[s] == 0)
                ct_list_push(&got[s], k[s], kl[s], v[s], vl[s]);
        int same = rc[0] == rc[1] && rc[1] == rc[2];
        for (int s = 0; same && rc[0] == 0 && s < 2; s++)
            if (ct_keycmp(k[s], kl[s], k[2], kl[2]) != 0 || vl[s] != vl[2] ||
                (vl[2] && memcmp(v[s], v[2], vl[2]) != 0))
                same = 0;
        if (!same) {
            dump_steps("store", &got[0]);
            dump_steps("oracle", &got[1]);
            dump_steps("model", &got[2]);
            for (int s = 0; s < 2; s++)
                orbit_iter_close(it[s]);
            for (int s = 0; s < 3; s++)
                ct_list_free(&got[s]);
            mismatch(r, "iterators differ at entry %zu: store %s, oracle %s, model %s",
                     at, orbit_err_name(rc[0]), orbit_err_name(rc[1]),
                     orbit_err_name(rc[2]));
        }
        if (rc[0] == 0 && so.keys_only && (vl[0] != 0 || !v[0]))
            mismatch(r, "keys-only iterator returned a %zu-byte value", vl[0]);
        end = rc[0] != 0;
    }
    for (int s = 0; s < 2; s++)
        orbit_iter_close(it[s]);
    for (int s = 0; s < 3; s++)
        ct_list_free(&got[s]);
    r->scans++;
    return rc[0];
}

static void op_snap_new(rstate *r, int i)
{
    set_op(r, "snapshot -> snap%d", i);
    int a = orbit_kv_snapshot(r->s[0].st.kv, &r->s[0].snap[i]);
    int b = orbit_kv_snapshot(r->s[1].st.kv, &r->s[1].snap[i]);
    cmp_rc3(r, a, b, 0);
    for (int s = 0; s < 2; s++)
        saw_snapshot(r, s, r->s[s].snap[i]);
    r->snapv[i] = r->cur;
}

static void op_snap_release(rstate *r, int i)
{
    set_op(r, "release snap%d", i);
    for (int j = 0; j < 2; j++) {
        orbit_snapshot_release(r->s[j].snap[i]);
        r->s[j].snap[i] = NULL;
    }
}

/* orbit_kv_submit: GET (latest or at a snapshot), PUT, DEL, WRITE and
 * MULTI_GET ops on distinct keys (the ops of one submission are not
 * ordered), compared op by op. */
static void op_submit(rstate *r)
{
    enum { MAXOPS = 5, MAXB = 3 };
    orbit_kv_op ops[2][MAXOPS];
    orbit_buf out[3][MAXOPS];
    orbit_buf mv[3][MAXOPS][MAXB];
    int mst[3][MAXOPS][MAXB];
    orbit_slice mkeys[MAXOPS][MAXB];
    size_t mki[MAXOPS][MAXB];
    orbit_batch *bt[MAXOPS] = {NULL};
    static uint8_t vals[MAXOPS][MAXB][MAX_VAL];
    struct {
        size_t ki[MAXB], vl[MAXB], n;
        int put[MAXB];
        int snap;
    } d[MAXOPS];
    int used[NKEYS] = {0};
    size_t nused = 0;
    size_t n = 1 + (size_t)rnd(r, MAXOPS);
    int writes = writes_allowed(r);
    char kb[64];
    memset(ops, 0, sizeof ops);
    memset(d, 0, sizeof d);
    set_op(r, "submit:");
    for (size_t i = 0; i < n; i++) {
        uint64_t t = rnd(r, writes ? 6 : 2); /* 0 get, 1 multi-get, 2 put, 3 del, 4-5 write */
        size_t want = t == 1 || t >= 4 ? 1 + (size_t)rnd(r, MAXB) : 1;
        if (nused + want > NKEYS)
            want = 0;
        for (size_t j = 0; j < want; j++) {
            size_t ki;
            do
                ki = (size_t)rnd(r, NKEYS);
            while (used[ki]);
            used[ki] = 1;
            nused++;
            d[i].ki[d[i].n++] = ki;
        }
        if (d[i].n == 0) {
            n = i;
            break;
        }
        orbit_kv_op op = {.result = -99};
        d[i].snap = -1;
        if (t == 0 || t == 1) {
            d[i].snap = pick_snap(r);
            op.type = t == 0 ? ORBIT_OP_GET : ORBIT_OP_MULTI_GET;
        } else if (t == 2) {
            op.type = ORBIT_OP_PUT;
            d[i].vl[0] = gen_val(r, vals[i][0]);
            d[i].put[0] = 1;
            op.val = vals[i][0];
            op.vlen = d[i].vl[0];
        } else if (t == 3) {
            op.type = ORBIT_OP_DEL;
        } else {
            op.type = ORBIT_OP_WRITE;
            if (orbit_batch_new(&bt[i]) != 0)
                fail_msg("orbit_batch_new failed");
            for (size_t j = 0; j < d[i].n; j++) {
                size_t ki = d[i].ki[j];
                int rc;
                d[i].put[j] = rnd(r, 3) != 0;
                if (d[i].put[j]) {
                    d[i].vl[j] = gen_val(r, vals[i][j]);
                    rc = orbit_batch_put(bt[i], KP(ki), KL(ki), vals[i][j], d[i].vl[j]);
                } else {
                    rc = orbit_batch_del(bt[i], KP(ki), KL(ki));
                }
                if (rc != 0)
                    fail_msg("batch entry refused: %s", orbit_err_name(rc));
            }
            op.batch = bt[i];
        }
        if (op.type != ORBIT_OP_MULTI_GET && op.type != ORBIT_OP_WRITE) {
            op.key = KP(d[i].ki[0]);
            op.klen = KL(d[i].ki[0]);
        }
        static const char *const names[] = {"", "get", "put", "del", "", "write", "multi_get"};
        add_op(r, " %s%s", names[op.type], d[i].snap < 0 ? "" : d[i].snap ? "@snap1" : "@snap0");
        for (size_t j = 0; j < d[i].n; j++)
            add_op(r, "%s%s%s", j ? "," : " ",
                   op.type == ORBIT_OP_WRITE ? (d[i].put[j] ? "put " : "del ") : "",
                   ct_fmt(kb, sizeof kb, KP(d[i].ki[j]), KL(d[i].ki[j])));
        for (int s = 0; s < 2; s++) {
            ops[s][i] = op;
            if (d[i].snap >= 0)
                ops[s][i].snapshot = r->s[s].snap[d[i].snap];
        }
        for (int s = 0; s < 3; s++) {
            orbit_buf_init(&out[s][i]);
            orbit_buf_set(&out[s][i], "junk", 4);
            for (size_t j = 0; j < MAXB; j++) {
                orbit_buf_init(&mv[s][i][j]);
                orbit_buf_set(&mv[s][i][j], "junk", 4);
                mst[s][i][j] = -99;
            }
        }
        for (int s = 0; s < 2; s++) {
            if (op.type == ORBIT_OP_GET)
                ops[s][i].out = &out[s][i];
            if (op.type == ORBIT_OP_MULTI_GET) {
                for (size_t j = 0; j < d[i].n; j++) {
                    mki[i][j] = d[i].ki[j];
                    mkeys[i][j].data = KP(d[i].ki[j]);
                    mkeys[i][j].len = KL(d[i].ki[j]);
                }
                ops[s][i].nkeys = d[i].n;
                ops[s][i].keys = mkeys[i];
                ops[s][i].vals = mv[s][i];
                ops[s][i].status = mst[s][i];
            }
        }
    }
    int rc[2], calls[2];
    for (int s = 0; s < 2; s++) {
        ct_sub_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
        rc[s] = orbit_kv_submit(r->s[s].st.kv, ops[s], n, ct_sub_done, &w);
        calls[s] = rc[s] == 0 ? ct_sub_wait_done(&w) : w.calls;
    }
    cmp_rc3(r, rc[0], rc[1], 0);
    if (calls[0] != 1 || calls[1] != 1)
        mismatch(r, "done ran %d times for the store, %d for the oracle", calls[0],
                 calls[1]);
    /* The model: reads first (they see the state before the submission,
     * since no op reads a key another op writes), then the writes. */
    int mres[MAXOPS];
    for (size_t i = 0; i < n; i++) {
        orbit_op_type ty = ops[1][i].type;
        mres[i] = 0;
        if (ty == ORBIT_OP_GET)
            mres[i] = m_get(r, d[i].snap, d[i].ki[0], &out[2][i]);
        else if (ty == ORBIT_OP_MULTI_GET)
            for (size_t j = 0; j < d[i].n; j++)
                mst[2][i][j] = m_get(r, d[i].snap, mki[i][j], &mv[2][i][j]);
    }
    for (size_t i = 0; i < n; i++) {
        char what[48];
        snprintf(what, sizeof what, "op %zu", i);
        if (ops[0][i].result != ops[1][i].result || ops[1][i].result != mres[i])
            mismatch(r, "op %zu: store result %s (%s), oracle %s (%s), model %s", i,
                     orbit_err_name(ops[0][i].result), ops[0][i].detail,
                     orbit_err_name(ops[1][i].result), ops[1][i].detail,
                     orbit_err_name(mres[i]));
        orbit_op_type ty = ops[1][i].type;
        if (ty == ORBIT_OP_GET)
            cmp_val3(r, &out[0][i], &out[1][i], &out[2][i]);
        else if (ty == ORBIT_OP_MULTI_GET)
            for (size_t j = 0; j < d[i].n; j++) {
                if (mst[0][i][j] != mst[2][i][j] || mst[1][i][j] != mst[2][i][j])
                    mismatch(r, "op %zu key %zu: status store %s, oracle %s, model %s", i,
                             j, orbit_err_name(mst[0][i][j]), orbit_err_name(mst[1][i][j]),
                             orbit_err_name(mst[2][i][j]));
                cmp_val3(r, &mv[0][i][j], &mv[1][i][j], &mv[2][i][j]);
            }
        else if (ty == ORBIT_OP_PUT)
            m_put(r, d[i].ki[0], vals[i][0], d[i].vl[0]);
        else if (ty == ORBIT_OP_DEL)
            m_del(r, d[i].ki[0]);
        else
            for (size_t j = 0; j < d[i].n; j++) {
                if (d[i].put[j])
                    m_put(r, d[i].ki[j], vals[i][j], d[i].vl[j]);
                else
                    m_del(r, d[i].ki[j]);
            }
    }
    for (size_t i = 0; i < n; i++) {
        orbit_batch_free(bt[i]);
        for (int s = 0; s < 3; s++) {
            orbit_buf_release(&out[s][i]);
            for (size_t j = 0; j < MAXB; j++)
                orbit_buf_release(&mv[s][i][j]);
        }
    }
    r->submits++;
}

/* ---- transactions ------------------------------------------------------- */

static void oracle_stats(rstate *r, orbit_kv_stats *out)
{
    orbit_kv_stats_get(r->s[1].st.kv, out);
}

/* Add what the oracle counted since `before` to the counters the final
 * statistics check leaves out (calls made on the oracle alone). */
static void oracle_extra_since(rstate *r, const orbit_kv_stats *before)
{
    orbit_kv_stats now;
    oracle_stats(r, &now);
#define ADD_EXTRA(f) r->oracle_extra.f += now.f - before->f;
    STAT_FIELDS(ADD_EXTRA)
#undef ADD_EXTRA
}

static void tx_start(rstate *r, int i, orbit_isolation iso)
{
    txn_track *t = &r->tx[i];
    memset(t, 0, sizeof *t);
    t->iso = iso;
    t->begin_clock = r->wclock;
    if (iso == ORBIT_ISO_SNAPSHOT)
        t->base = r->cur;
}

static void tx_end(rstate *r, int i)
{
    memset(&r->tx[i], 0, offsetof(txn_track, ownv));
}

/*
 * The model's claim of key ki by transaction i (a write or a read for
 * update): 0 or ORBIT_ECONFLICT. Pessimistic: the other open transaction's
 * key is locked; under SNAPSHOT a key written since begin conflicts.
 * Either mode: the first claim opens the key's conflict window.
 */
static int m_claim(rstate *r, int i, size_t ki)
{
    txn_track *t = &r->tx[i];
    uint32_t bit = 1u << ki;
    if (r->mmode == CT_PESSIMISTIC) {
        const txn_track *o = &r->tx[1 - i];
        if (r->s[1].txn[1 - i] && ((o->written | o->claimed) & bit))
            return ORBIT_ECONFLICT;
        if (t->iso == ORBIT_ISO_SNAPSHOT && r->last_write[ki] > t->begin_clock)
            return ORBIT_ECONFLICT;
    }
    if (!((t->written | t->claimed) & bit)) {
        int snap = t->iso == ORBIT_ISO_SNAPSHOT;
        t->since[ki] = snap ? t->begin_clock : r->wclock;
        t->present_then[ki] = (snap ? t->base.k[ki].present : r->cur.k[ki].present);
    }
    return 0;
}

static void m_own(rstate *r, int i, size_t ki, const uint8_t *v, size_t vl, int put)
{
    txn_track *t = &r->tx[i];
    t->written |= 1u << ki;
    t->own[ki] = put ? OWN_PUT : OWN_DEL;
    t->ownv[ki].present = put;
    t->ownv[ki].len = put ? vl : 0;
    if (put && vl)
        memcpy(t->ownv[ki].v, v, vl);
}

/* The keys whose change makes the model refuse transaction i's commit. */
static uint32_t m_conflicts(const rstate *r, int i)
{
    const txn_track *t = &r->tx[i];
    uint32_t causes = 0;
    if (r->mmode == CT_PESSIMISTIC)
        return 0;
    for (size_t k = 0; k < NKEYS; k++)
        if (((t->written | t->claimed) >> k & 1u) && r->last_write[k] > t->since[k])
            causes |= 1u << k;
    return causes;
}

static void m_commit_apply(rstate *r, int i)
{
    txn_track *t = &r->tx[i];
    for (size_t k = 0; k < NKEYS; k++) {
        if (t->own[k] == OWN_PUT)
            m_put(r, k, t->ownv[k].v, t->ownv[k].len);
        else if (t->own[k] == OWN_DEL)
            m_del(r, k);
    }
}

static const char *presence(int present)
{
    return present ? "present" : "absent";
}

/*
 * The store committed transaction i, the oracle and the model refused it
 * (detail odetail). Accept it only as the documented absent-key
 * difference, then bring the oracle and the model to the store's state;
 * else report the mismatch.
 */
static void tolerate_absent_change(rstate *r, int i, const char *odetail, uint32_t causes)
{
    txn_track *t = &r->tx[i];
    int created = 0;
    orbit_batch *b = NULL;
    if (orbit_batch_new(&b) != 0)
        fail_msg("orbit_batch_new failed");
    for (size_t k = 0; k < NKEYS; k++) {
        if (!(causes >> k & 1u))
            continue;
        int now = r->cur.k[k].present;
        if (t->present_then[k] || now) {
            char kb[64];
            orbit_batch_free(b);
            mismatch(r, "store committed, oracle and model %s (%s); key %s, which the "
                     "transaction %s, was written since its conflict window opened and "
                     "is %s then, %s now: only a key absent both times may be let "
                     "through (--absent-changes-conflict no)",
                     orbit_err_name(ORBIT_ECONFLICT), odetail,
                     ct_fmt(kb, sizeof kb, KP(k), KL(k)),
                     (t->written >> k & 1u) ? "wrote" : "read for update",
                     presence(t->present_then[k]), presence(now));
        }
        created |= r->last_put[k] > t->since[k];
    }
    for (size_t k = 0; k < NKEYS; k++) {
        int rc = 0;
        if (t->own[k] == OWN_PUT)
            rc = orbit_batch_put(b, KP(k), KL(k), t->ownv[k].v, t->ownv[k].len);
        else if (t->own[k] == OWN_DEL)
            rc = orbit_batch_del(b, KP(k), KL(k));
        if (rc != 0)
            fail_msg("batch entry refused: %s", orbit_err_name(rc));
    }
    orbit_kv_stats before;
    oracle_stats(r, &before);
    int rc = orbit_kv_write(r->s[1].st.kv, b);
    orbit_batch_free(b);
    if (rc != 0)
        fail_msg("re-syncing the oracle with the committed writes: %s (%s)",
                 orbit_err_name(rc), orbit_last_error_detail());
    oracle_extra_since(r, &before);
    m_commit_apply(r, i);
    r->tolerated++;
    r->tolerated_created += created;
}

static void op_txn_begin(rstate *r, int i)
{
    int with_opts = (int)rnd(r, 2);
    orbit_isolation iso =
        with_opts && r->rc_ok && rnd(r, 3) == 0 ? ORBIT_ISO_READ_COMMITTED : ORBIT_ISO_SNAPSHOT;
    orbit_txn_opts o = {iso};
    set_op(r, "txn%d begin%s", i,
           !with_opts ? " (NULL opts)"
                      : iso == ORBIT_ISO_SNAPSHOT ? " (snapshot)" : " (read committed)");
    int a = orbit_kv_txn_begin(r->s[0].st.kv, with_opts ? &o : NULL, &r->s[0].txn[i]);
    int b = orbit_kv_txn_begin(r->s[1].st.kv, with_opts ? &o : NULL, &r->s[1].txn[i]);
    cmp_rc3(r, a, b, 0);
    tx_start(r, i, iso);
    r->rc_txns += iso == ORBIT_ISO_READ_COMMITTED;
}

/* After a failed txn operation (identical on every side) the txn must be
 * rolled back. */
static void txn_after(rstate *r, int i, int rc)
{
    if (rc >= 0)
        return;
    if (rc == ORBIT_ECONFLICT)
        r->txn_conflicts++;
    for (int s = 0; s < 2; s++) {
        orbit_txn_rollback(r->s[s].txn[i]);
        r->s[s].txn[i] = NULL;
    }
    tx_end(r, i);
}

static void op_txn_get(rstate *r, int i, int for_update)
{
    const uint8_t *k;
    size_t kl;
    char kb[64];
    size_t ki = pick_key(r, &k, &kl);
    set_op(r, "txn%d %s %s", i, for_update ? "get_for_update" : "get",
           ct_fmt(kb, sizeof kb, k, kl));
    orbit_buf v[3] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    int rc[3];
    for (int s = 0; s < 2; s++)
        rc[s] = for_update ? orbit_txn_get_for_update(r->s[s].txn[i], k, kl, &v[s])
                           : orbit_txn_get(r->s[s].txn[i], k, kl, &v[s]);
    rc[2] = for_update ? m_claim(r, i, ki) : 0;
    if (rc[2] == 0)
        rc[2] = m_get(r, SRC_TXN0 + i, ki, &v[2]);
    cmp_rc3(r, rc[0], rc[1], rc[2]);
    if (rc[2] >= 0)
        cmp_val3(r, &v[0], &v[1], &v[2]);
    for (int s = 0; s < 3; s++)
        orbit_buf_release(&v[s]);
    if (for_update && rc[2] >= 0)
        r->tx[i].claimed |= 1u << ki;
    txn_after(r, i, rc[0]);
}

static void op_txn_write(rstate *r, int i, int put)
{
    const uint8_t *k;
    size_t kl;
    uint8_t v[MAX_VAL];
    char kb[64];
    size_t ki = pick_key(r, &k, &kl);
    size_t vl = put ? gen_val(r, v) : 0;
    if (put)
        set_op(r, "txn%d put %s (%zu bytes)", i, ct_fmt(kb, sizeof kb, k, kl), vl);
    else
        set_op(r, "txn%d del %s", i, ct_fmt(kb, sizeof kb, k, kl));
    int a = put ? orbit_txn_put(r->s[0].txn[i], k, kl, v, vl)
                : orbit_txn_del(r->s[0].txn[i], k, kl);
    int b = put ? orbit_txn_put(r->s[1].txn[i], k, kl, v, vl)
                : orbit_txn_del(r->s[1].txn[i], k, kl);
    int m = m_claim(r, i, ki);
    cmp_rc3(r, a, b, m);
    if (m == 0)
        m_own(r, i, ki, v, vl, put);
    txn_after(r, i, a);
}

static void op_txn_delete_range(rstate *r, int i)
{
    uint8_t s[8], e[8];
    size_t sl = gen_key_bytes(r, s), el = 0;
    int open_end = rnd(r, 4) == 0;
    if (!open_end)
        el = gen_bytes(r, e);
    char sb[48], eb[48];
    set_op(r, "txn%d delete_range [%s, %s)", i, ct_fmt(sb, sizeof sb, s, sl),
           open_end ? "NULL" : ct_fmt(eb, sizeof eb, e, el));
    int a = orbit_txn_delete_range(r->s[0].txn[i], s, sl, open_end ? NULL : e, el);
    int b = orbit_txn_delete_range(r->s[1].txn[i], s, sl, open_end ? NULL : e, el);
    if (a == ORBIT_ENOTSUP && b == 0) {
        /* Allowed by the header: roll back everywhere and go on. */
        if (!r->txn_range_enotsup++)
            print_message("the store refuses orbit_txn_delete_range (ENOTSUP): %s\n",
                          orbit_last_error_detail());
        txn_after(r, i, a);
        return;
    }
    /* The model: each key in range the transaction sees is a delete. */
    int m = 0;
    for (size_t j = 0; j < NKEYS && m == 0; j++) {
        size_t ki = korder[j];
        if (!in_bounds(ki, s, sl, open_end ? NULL : e, el) || !m_at(r, SRC_TXN0 + i, ki))
            continue;
        m = m_claim(r, i, ki);
        if (m == 0)
            m_own(r, i, ki, NULL, 0, 0);
    }
    cmp_rc3(r, a, b, m);
    r->range_dels++;
    txn_after(r, i, a);
}

static void op_txn_finish(rstate *r, int i, int commit)
{
    set_op(r, "txn%d %s", i, commit ? "commit" : "rollback");
    if (!commit) {
        for (int s = 0; s < 2; s++) {
            orbit_txn_rollback(r->s[s].txn[i]);
            r->s[s].txn[i] = NULL;
        }
        tx_end(r, i);
        return;
    }
    int with_version = (int)rnd(r, 2);
    if (with_version)
        add_op(r, " (with its version)");
    char d[2][200] = {"", ""};
    int rc[2];
    uint64_t ver[2] = {0, 0};
    for (int s = 0; s < 2; s++) {
        rc[s] = with_version ? orbit_txn_commit_version(r->s[s].txn[i], &ver[s])
                             : orbit_txn_commit(r->s[s].txn[i]);
        r->s[s].txn[i] = NULL;
        if (rc[s] < 0)
            snprintf(d[s], sizeof d[s], "%s", orbit_last_error_detail());
    }
    uint32_t causes = m_conflicts(r, i);
    int m = causes ? ORBIT_ECONFLICT : 0;
    if (rc[1] != m)
        mismatch(r, "commit: oracle %s (%d: %s), independent model %s",
                 orbit_err_name(rc[1]), rc[1], d[1], orbit_err_name(m));
    if (rc[0] == 0 && rc[1] == ORBIT_ECONFLICT && r->tolerate_absent)
        tolerate_absent_change(r, i, d[1], causes);
    else if (rc[0] != rc[1])
        mismatch(r, "store returned %s (%d: %s), oracle and model %s (%d: %s)",
                 orbit_err_name(rc[0]), rc[0], d[0], orbit_err_name(rc[1]), rc[1], d[1]);
    else if (m == 0)
        m_commit_apply(r, i);
    if (with_version)
        for (int s = 0; s < 2; s++) {
            if (rc[s] == 0 && r->tx[i].written)
                saw_commit_version(r, s, ver[s]);
            else if (rc[s] == 0 && ver[s] != 0)
                mismatch(r, "%s: a transaction that wrote nothing reported commit "
                         "version %llu", s ? "oracle" : "store", (unsigned long long)ver[s]);
        }
    if (rc[0] == 0)
        r->txn_commits++;
    else if (rc[0] == ORBIT_ECONFLICT)
        r->txn_conflicts++;
    tx_end(r, i);
}

/* ---- the driver ------------------------------------------------------- */

enum {
    W_PUT, W_DEL, W_BATCH, W_SUBMIT_W, W_CAS, W_DRANGE, /* plain writes */
    W_GET, W_GET_WITH, W_MGET, W_SCAN, W_SNAP_NEW, W_SNAP_REL, W_SUBMIT_R, W_BEGIN,
    W_TGET, W_TGFU, W_TPUT, W_TDEL, W_TDRANGE, W_TMGET, W_TSCAN, W_COMMIT, W_ROLLBACK,
    W_COUNT
};

static void step(rstate *r)
{
    int w[W_COUNT] = {0};
    int open0 = r->s[0].txn[0] != NULL, open1 = r->s[0].txn[1] != NULL;
    int any_txn = open0 || open1;
    if (writes_allowed(r)) {
        w[W_PUT] = 16;
        w[W_DEL] = 6;
        w[W_BATCH] = 7;
        w[W_SUBMIT_W] = 3;
        w[W_CAS] = 6;
    }
    if (!any_txn)
        w[W_DRANGE] = 2;
    w[W_GET] = 6;
    w[W_GET_WITH] = 3;
    w[W_MGET] = 3;
    w[W_SCAN] = 6;
    w[W_SNAP_NEW] = (!r->s[0].snap[0] || !r->s[0].snap[1]) ? 2 : 0;
    w[W_SNAP_REL] = (r->s[0].snap[0] || r->s[0].snap[1]) ? 2 : 0;
    w[W_SUBMIT_R] = 1;
    w[W_BEGIN] = (!open0 || !open1) ? (any_txn ? 4 : 8) : 0;
    if (any_txn) {
        w[W_TGET] = 8;
        w[W_TGFU] = 6;
        w[W_TPUT] = 14;
        w[W_TDEL] = 5;
        w[W_TDRANGE] = 2;
        w[W_TMGET] = 3;
        w[W_TSCAN] = 4;
        w[W_COMMIT] = 5;
        w[W_ROLLBACK] = 2;
    }
    int total = 0;
    for (int i = 0; i < W_COUNT; i++)
        total += w[i];
    int x = (int)rnd(r, (uint64_t)total), op = 0;
    while (x >= w[op])
        x -= w[op++];

    /* which txn / snapshot slot */
    int ti = open0 && open1 ? (int)rnd(r, 2) : open0 ? 0 : 1;
    switch (op) {
    case W_PUT: op_put(r); break;
    case W_DEL: op_del(r); break;
    case W_BATCH: op_batch(r); break;
    case W_CAS: op_cas(r); break;
    case W_DRANGE: op_delete_range(r); break;
    case W_SUBMIT_W:
    case W_SUBMIT_R: op_submit(r); break;
    case W_GET: op_get(r, 0); break;
    case W_GET_WITH: op_get(r, 1); break;
    case W_MGET: do_mget(r, -1); break;
    case W_SCAN: do_scan(r, pick_snap(r)); break;
    case W_SNAP_NEW: op_snap_new(r, r->s[0].snap[0] ? 1 : 0); break;
    case W_SNAP_REL:
        op_snap_release(r, r->s[0].snap[0] && r->s[0].snap[1] ? (int)rnd(r, 2)
                           : r->s[0].snap[0] ? 0 : 1);
        break;
    case W_BEGIN: op_txn_begin(r, open0 ? 1 : 0); break;
    case W_TGET: op_txn_get(r, ti, 0); break;
    case W_TGFU: op_txn_get(r, ti, 1); break;
    case W_TPUT: op_txn_write(r, ti, 1); break;
    case W_TDEL: op_txn_write(r, ti, 0); break;
    case W_TDRANGE: op_txn_delete_range(r, ti); break;
    case W_TMGET: txn_after(r, ti, do_mget(r, ti)); break;
    case W_TSCAN: {
        int rc = do_scan(r, SRC_TXN0 + ti);
        txn_after(r, ti, rc == ORBIT_NOTFOUND ? 0 : rc);
        break;
    }
    case W_COMMIT: op_txn_finish(r, ti, 1); break;
    case W_ROLLBACK: op_txn_finish(r, ti, 0); break;
    }
    done_op(r);
}

static void finish(rstate *r)
{
    for (int i = 0; i < 2; i++) {
        if (r->s[0].txn[i])
            op_txn_finish(r, i, 0);
        if (r->s[0].snap[i])
            op_snap_release(r, i);
    }
    r->step++;
    for (int rev = 0; rev < 2; rev++) {
        orbit_scan_opts so = {.reverse = rev};
        set_op(r, "final full scan (%s)", rev ? "reverse" : "forward");
        ct_list l[3] = {{0}, {0}, {0}};
        int a = ct_scan(r->s[0].st.kv, NULL, &so, &l[0]);
        int b = ct_scan(r->s[1].st.kv, NULL, &so, &l[1]);
        cmp_rc3(r, a, b, 0);
        for (size_t j = 0; j < NKEYS; j++) {
            size_t ki = korder[rev ? NKEYS - 1 - j : j];
            if (r->cur.k[ki].present)
                ct_list_push(&l[2], KP(ki), KL(ki), r->cur.k[ki].v, r->cur.k[ki].len);
        }
        if (!ct_list_equal(&l[1], &l[2]) || !ct_list_equal(&l[0], &l[1])) {
            ct_list_dump("store", &l[0], 40);
            ct_list_dump("oracle", &l[1], 40);
            ct_list_dump("model", &l[2], 40);
            mismatch(r, "final contents differ");
        }
        if (!rev)
            print_message("final state: %zu keys; %lu commits, %lu conflicts, %lu "
                          "read-committed txns, %lu scans (%lu seeks), %lu multi-gets, "
                          "%lu cas, %lu range deletes, %lu submits compared\n",
                          l[0].n, r->txn_commits, r->txn_conflicts, r->rc_txns, r->scans,
                          r->seeks, r->mgets, r->cas_ops, r->range_dels, r->submits);
        if (!rev && r->tolerate_absent)
            print_message("absent-key changes tolerated: %lu commits the oracle and "
                          "the model refused (%lu with the key created and deleted "
                          "again meanwhile, %lu with deletes of the absent key only)\n",
                          r->tolerated, r->tolerated_created,
                          r->tolerated - r->tolerated_created);
        if (!rev && r->txn_range_enotsup)
            print_message("orbit_txn_delete_range refused by the store %lu times\n",
                          r->txn_range_enotsup);
        for (int s = 0; s < 3; s++)
            ct_list_free(&l[s]);
    }
    /* The contract layer counts for every provider alike, so identical
     * operations with identical results must give identical counters. The
     * oracle's own extra calls are left out, and each tolerated commit is
     * one commit where the oracle counted a conflict (an error). */
    orbit_kv_stats a, b;
    orbit_kv_stats_get(r->s[0].st.kv, &a);
    orbit_kv_stats_get(r->s[1].st.kv, &b);
#define SUB_EXTRA(f) b.f -= r->oracle_extra.f;
    STAT_FIELDS(SUB_EXTRA)
#undef SUB_EXTRA
    b.txns_committed += r->tolerated;
    b.txns_conflicted -= r->tolerated;
    b.errors -= r->tolerated;
    if (r->txn_range_enotsup) {
        /* The oracle did work the store refused: the counters cannot match. */
        print_message("statistics not compared (refused txn range deletes)\n");
        return;
    }
    set_op(r, "compare statistics");
#define CMP_STAT(f)                                                            \
    if (a.f != b.f)                                                            \
        mismatch(r, "stats." #f ": store %llu, oracle %llu",                   \
                 (unsigned long long)a.f, (unsigned long long)b.f);
    STAT_FIELDS(CMP_STAT)
#undef CMP_STAT
}

/* Both stores are opened by the setup and closed by the teardown, which
 * cmocka runs even when the case fails half-way. */
int ct_random_setup(void **state)
{
    *state = NULL;
    if (!ct_cfg.oracle)
        return 0; /* the case skips */
    rstate *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    if (ct_store_open(ct_cfg.store, &r->s[0].st) != 0) {
        free(r);
        return -1;
    }
    if (ct_store_open(ct_cfg.oracle, &r->s[1].st) != 0) {
        ct_store_close(&r->s[0].st);
        free(r);
        return -1;
    }
    *state = r;
    return 0;
}

int ct_random_teardown(void **state)
{
    rstate *r = *state;
    if (!r)
        return 0;
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < 2; i++) {
            if (r->s[s].txn[i])
                orbit_txn_rollback(r->s[s].txn[i]);
            if (r->s[s].snap[i])
                orbit_snapshot_release(r->s[s].snap[i]);
        }
        ct_store_close(&r->s[s].st);
    }
    free(r);
    return 0;
}

static void run(rstate *r, const char *name, int plain_writes_in_txn)
{
    if (!r) {
        print_message("no --oracle given: skipped\n");
        skip();
    }
    uint64_t seed = tu_seed(name);
    tu_rng_init(&r->rng, seed);
    r->plain_writes_in_txn = plain_writes_in_txn;
    r->tolerate_absent = !ct_cfg.absent_changes_conflict;
    r->mmode = ct_mode_from_uri(ct_cfg.oracle);
    if (r->mmode != ct_cfg.mode)
        fail_msg("the oracle's conflict rule (%s) differs from the store's (%s)",
                 ct_mode_name(r->mmode), ct_mode_name(ct_cfg.mode));
    for (int s = 0; s < 2; s++)
        orbit_kv_capabilities(r->s[s].st.kv, &r->s[s].caps);
    const orbit_capabilities *c0 = &r->s[0].caps, *c1 = &r->s[1].caps;
    if (!c0->supports_transactions || !c1->supports_transactions ||
        !c0->supports_snapshots || !c1->supports_snapshots)
        fail_msg("the randomized comparison needs transactions and snapshots");
    unsigned rcbit = ORBIT_ISO_BIT(ORBIT_ISO_READ_COMMITTED);
    r->rc_ok = (c0->isolation_levels & rcbit) && (c1->isolation_levels & rcbit);
    r->batch_range_ok = c0->supports_batch_range_delete && c1->supports_batch_range_delete;
    /* The model's sorted key order, by a plain insertion sort. */
    for (size_t i = 0; i < NKEYS; i++) {
        size_t j = i;
        while (j > 0 && ct_keycmp(KP(korder[j - 1]), KL(korder[j - 1]), KP(i), KL(i)) > 0) {
            korder[j] = korder[j - 1];
            j--;
        }
        korder[j] = i;
    }

    for (r->step = 1; r->step <= ct_cfg.steps; r->step++)
        step(r);
    finish(r);
}

void ct_test_random(void **state)
{
    run(*state, "contract random", 0);
}

void ct_test_random_optimistic_writes(void **state)
{
    if (ct_cfg.mode != CT_OPTIMISTIC) {
        print_message("pessimistic store: plain writes during txns depend on "
                      "lock timing, skipped\n");
        skip();
    }
    run(*state, "contract random optimistic writes", 1);
}
