/*
 * The in-memory provider ("memory:"): an ordered, thread-safe, multi-version
 * store that is the contract suite's oracle, so its semantics follow RocksDB
 * TransactionDB (txn=pessimistic) and OptimisticTransactionDB
 * (txn=optimistic) step by step. It sits below the contract layer
 * (src/kv/kv.c), which validates arguments and enforces scan limits.
 *
 * MVCC. `seq` is the sequence number of the last committed write; every
 * committed put, delete, batch or transaction takes the next one for all of
 * its keys and is applied under the write side of `rw`, so no reader sees
 * half of it, and `seq` is published only once the whole write is in. A
 * read at sequence s sees, per key, the newest version with seq <= s.
 *
 * Pins. Whatever may still read at an old sequence number — an explicit
 * snapshot, a transaction's snapshot, an open iterator, an optimistic
 * read-committed transaction (whose validation needs the newest version of a
 * key it tracks, tombstones included) — holds a pin: a refcounted record on
 * an ascending list of distinct sequence numbers. A pin is only created
 * under `rw` (read side) at the current `seq`, so the list stays sorted.
 *
 * Pruning. After every write to a key, and for every node on the garbage
 * list when a pin record goes away, the key's chain keeps its newest version
 * plus each older version that some pin r sees (seq_i <= r < seq_{i-1});
 * trailing tombstones are dropped (reading them equals reading nothing), and
 * a key whose only version is a tombstone no pin predates is unlinked.
 * Nodes left with more than their newest live version are on the garbage
 * list; the list, the pins and the chains change only with `rw` written and
 * `pin_mu` held.
 *
 * Contract v2 natives. A range delete (plain or as batch entries, applied
 * in order with the batch's other entries) writes a tombstone at one new
 * sequence number for every live key in the range, so snapshots taken
 * before it still see the keys and transactions that claimed one conflict
 * as with any write. Compare-and-set reads, compares and writes under the
 * write side of `rw`. Multi-get reads every key under one read lock. A
 * write's or commit's version is the sequence number it took. History is
 * pruned, so there is no snapshot at an older version.
 *
 * Limits. Values over ORBIT_MEMORY_MAX_VALUE (the rocksdb provider's limit)
 * are ETOOBIG on every write path (put, batch, compare-and-set, transaction
 * put), checked before anything is applied, so memory: and rocksdb: agree.
 *
 * Lock order: rw before pin_mu. The per-key lock table (memory_lock.c) is
 * never waited for while either is held; only a range delete takes the
 * table's mutex under rw written, to try keys it finds there without
 * waiting (safe: nobody holding the table's mutex waits for rw).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/providers.h"
#include "providers/memory/memory_int.h"

#define SEQ_LATEST UINT64_MAX
#define MAX_LOCK_TIMEOUT_MS ((uint64_t)24 * 3600 * 1000)

typedef struct mem_pin {
    struct mem_pin *prev, *next;
    uint64_t seq;
    uint64_t refs; /* under pin_mu */
} mem_pin;

typedef struct mem_store {
    pthread_rwlock_t rw;
    mem_list map;           /* committed data, under rw */
    _Atomic uint64_t seq;   /* last committed; stored under rw (write side) */
    uint64_t nversions;     /* versions in map, under rw */

    pthread_mutex_t pin_mu;
    mem_pin *pin_head, *pin_tail; /* ascending, distinct seqs */
    mem_node *gc_head;            /* nodes with prunable versions */
    size_t gc_count;              /* readable under pin_mu alone */

    mem_locks locks;
    int optimistic;
    uint64_t lock_timeout_ms;
} mem_store;

typedef struct mem_txn {
    mem_store *s;
    orbit_isolation iso;
    mem_pin *pin;     /* snapshot isolation or optimistic mode; else NULL */
    uint64_t snap;    /* the read view of a snapshot-isolation txn */
    mem_list ws;      /* own writes, and (optimistic) tracked keys */
    mem_lock_owner owner;
} mem_txn;

/* A growable byte buffer from the provider's allocator. */
typedef struct mem_bytes {
    uint8_t *p;
    size_t len, cap;
} mem_bytes;

/* One walk over the committed map at a fixed sequence number, re-locking
 * for every step: it keeps a node pointer across unlocks only while the
 * map's `gen` says no node was unlinked meanwhile, else re-seeks after the
 * last key it returned. */
typedef struct mem_cursor {
    uint64_t seq;
    mem_node *node;
    uint64_t gen;
    int started, done;
    mem_bytes key, val;
} mem_cursor;

typedef struct mem_iter {
    mem_store *s;
    mem_pin *pin; /* owned pin, or NULL (a txn's snapshot view) */
    uint8_t *lo, *hi; /* owned copies of the range bounds */
    size_t lo_len, hi_len;
    int reverse;
    int keys_only;    /* values are not copied */
    int has_seek;     /* walks start at `seek`, clamped to the range */
    mem_bytes seek;
    mem_cursor base;
    /* transactional iterators only: a merge with the write set */
    mem_txn *t;
    mem_node *wnode;           /* current write-set node, or NULL */
    int started, base_valid, adv_base, adv_ws;
    mem_bytes key, val;
} mem_iter;

/* ---- process-wide counters (test hook) ------------------------------- */

static _Atomic uint64_t g_keys, g_versions;

void orbit__memory_counts(uint64_t *keys, uint64_t *versions)
{
    *keys = atomic_load(&g_keys);
    *versions = atomic_load(&g_versions);
}

static void count_adjust(int64_t dkeys, int64_t dversions)
{
    if (dkeys)
        atomic_fetch_add_explicit(&g_keys, (uint64_t)dkeys, memory_order_relaxed);
    if (dversions)
        atomic_fetch_add_explicit(&g_versions, (uint64_t)dversions, memory_order_relaxed);
}

/* ---- small helpers ---------------------------------------------------- */

static int bytes_set(mem_bytes *b, const uint8_t *p, size_t n)
{
    if (n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < n)
            cap = cap > SIZE_MAX / 2 ? n : cap * 2;
        uint8_t *np = orbit__mem_realloc(b->p, cap);
        if (!np)
            return ORBIT_ENOMEM;
        b->p = np;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p, p, n);
    b->len = n;
    return ORBIT_OK;
}

static void bytes_release(mem_bytes *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* A printable rendering of a key for error details: the leading bytes,
 * escaped, with "..." if cut. */
static const char *key_text(char *buf, size_t cap, const uint8_t *k, size_t kl)
{
    size_t o = 0;
    for (size_t i = 0; i < kl; i++) {
        if (o + 8 >= cap) {
            snprintf(buf + o, cap - o, "...");
            return buf;
        }
        if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\\' && k[i] != '"')
            buf[o++] = (char)k[i];
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", k[i]);
    }
    buf[o] = '\0';
    return buf;
}

#define KEYBUF 80

static int enomem(const char *what)
{
    return orbit_error_set(ORBIT_ENOMEM, "memory: out of memory (%s)", what);
}

/* The newest version of n visible at seq, or NULL. */
static const mem_ver *visible(const mem_node *n, uint64_t seq)
{
    const mem_ver *v = n->chain;
    while (v && v->seq > seq)
        v = v->next;
    return v;
}

/* ---- pins ------------------------------------------------------------- */

/* A pin at the current seq. Caller holds rw (either side). */
static int pin_latest(mem_store *s, mem_pin **out)
{
    uint64_t now = atomic_load_explicit(&s->seq, memory_order_relaxed);
    int rc = ORBIT_OK;
    pthread_mutex_lock(&s->pin_mu);
    if (s->pin_tail && s->pin_tail->seq == now) {
        s->pin_tail->refs++;
        *out = s->pin_tail;
    } else {
        mem_pin *p = orbit__mem_malloc(sizeof *p);
        if (!p) {
            rc = enomem("snapshot");
        } else {
            p->seq = now;
            p->refs = 1;
            p->next = NULL;
            p->prev = s->pin_tail;
            if (s->pin_tail)
                s->pin_tail->next = p;
            else
                s->pin_head = p;
            s->pin_tail = p;
            *out = p;
        }
    }
    pthread_mutex_unlock(&s->pin_mu);
    return rc;
}

static int pin_new(mem_store *s, mem_pin **out)
{
    pthread_rwlock_rdlock(&s->rw);
    int rc = pin_latest(s, out);
    pthread_rwlock_unlock(&s->rw);
    return rc;
}

static void pin_ref(mem_store *s, mem_pin *p)
{
    pthread_mutex_lock(&s->pin_mu);
    p->refs++;
    pthread_mutex_unlock(&s->pin_mu);
}

static void collect_garbage(mem_store *s);

static void pin_unref(mem_store *s, mem_pin *p)
{
    if (!p)
        return;
    int gone = 0, garbage = 0;
    pthread_mutex_lock(&s->pin_mu);
    if (--p->refs == 0) {
        if (p->prev)
            p->prev->next = p->next;
        else
            s->pin_head = p->next;
        if (p->next)
            p->next->prev = p->prev;
        else
            s->pin_tail = p->prev;
        free(p);
        gone = 1;
        garbage = s->gc_count > 0;
    }
    pthread_mutex_unlock(&s->pin_mu);
    if (gone && garbage)
        collect_garbage(s);
}

/* ---- pruning (rw written, pin_mu held) -------------------------------- */

static void gc_add(mem_store *s, mem_node *n)
{
    if (n->in_gc)
        return;
    n->in_gc = 1;
    n->gc_prev = NULL;
    n->gc_next = s->gc_head;
    if (s->gc_head)
        s->gc_head->gc_prev = n;
    s->gc_head = n;
    s->gc_count++;
}

static void gc_remove(mem_store *s, mem_node *n)
{
    if (!n->in_gc)
        return;
    if (n->gc_prev)
        n->gc_prev->gc_next = n->gc_next;
    else
        s->gc_head = n->gc_next;
    if (n->gc_next)
        n->gc_next->gc_prev = n->gc_prev;
    n->in_gc = 0;
    n->gc_prev = n->gc_next = NULL;
    s->gc_count--;
}

static void free_version(mem_store *s, mem_ver *v)
{
    free(v);
    s->nversions--;
    count_adjust(0, -1);
}

/* Drop what no reader can see; unlink and free the node if nothing is
 * left that anyone can observe. */
static void prune(mem_store *s, mem_node *n)
{
    mem_ver *v0 = n->chain;
    uint64_t upper = v0->seq;
    mem_pin *p = s->pin_tail;
    mem_ver **link = &v0->next;
    mem_ver *cur = v0->next;
    while (cur) {
        mem_ver *older = cur->next;
        uint64_t cseq = cur->seq;
        while (p && p->seq >= upper)
            p = p->prev;
        /* cur is what pin p reads iff cur->seq <= p->seq < upper */
        if (p && p->seq >= cseq) {
            *link = cur;
            link = &cur->next;
        } else {
            free_version(s, cur);
        }
        upper = cseq;
        cur = older;
    }
    *link = NULL;

    /* Tombstones at the old end read the same as no version at all. */
    mem_ver **after_live = &v0->next;
    for (mem_ver *v = v0->next; v; v = v->next)
        if (!v->tomb)
            after_live = &v->next;
    mem_ver *t = *after_live;
    *after_live = NULL;
    while (t) {
        mem_ver *older = t->next;
        free_version(s, t);
        t = older;
    }

    /* A lone tombstone matters only to a reader older than it: one that
     * validates a write against the key's newest sequence number. */
    if (v0->tomb && !v0->next && !(s->pin_head && s->pin_head->seq < v0->seq)) {
        gc_remove(s, n);
        orbit__msl_unlink(&s->map, n);
        free_version(s, v0);
        n->chain = NULL;
        orbit__msl_node_free(n);
        count_adjust(-1, 0);
        return;
    }
    if (v0->next || v0->tomb)
        gc_add(s, n);
    else
        gc_remove(s, n);
}

static void collect_garbage(mem_store *s)
{
    pthread_rwlock_wrlock(&s->rw);
    pthread_mutex_lock(&s->pin_mu);
    mem_node *n = s->gc_head;
    while (n) {
        mem_node *nx = n->gc_next;
        prune(s, n);
        n = nx;
    }
    pthread_mutex_unlock(&s->pin_mu);
    pthread_rwlock_unlock(&s->rw);
}

/* ---- applying writes -------------------------------------------------- */

/* One key of a write: its new version (owned by the op until applied). */
typedef struct mem_op {
    const uint8_t *k;
    size_t kl;
    mem_ver *v;
    mem_node *node;  /* existing node, or NULL */
    mem_node *fresh; /* node to link, or NULL */
    /* batches only: the entry before its version is made */
    const uint8_t *val;
    size_t vl;
    int tomb;
    size_t idx;      /* position in the batch (the last write of a key wins) */
} mem_op;

static void ops_free_versions(mem_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ops[i].v);
        ops[i].v = NULL;
    }
}

/*
 * Apply ops (distinct keys) as one write with one new sequence number,
 * reported in *seq_out if given (n == 0: the current one, at which nothing
 * new is visible either). Caller holds rw's write side. Takes ownership of
 * every op's version in all cases. 0, or ORBIT_ENOMEM with the map
 * unchanged.
 */
static int apply_locked(mem_store *s, mem_op *ops, size_t n, uint64_t *seq_out)
{
    if (n == 0) {
        if (seq_out)
            *seq_out = atomic_load_explicit(&s->seq, memory_order_relaxed);
        return ORBIT_OK;
    }
    pthread_mutex_lock(&s->pin_mu);
    int pinned = s->pin_head != NULL;
    /* Allocate everything first so a failure changes nothing. */
    for (size_t i = 0; i < n; i++) {
        ops[i].node = orbit__msl_find(&s->map, ops[i].k, ops[i].kl);
        ops[i].fresh = NULL;
        if (ops[i].node)
            continue;
        /* Deleting an absent key that no pin predates leaves no trace. */
        if (ops[i].v->tomb && !pinned)
            continue;
        ops[i].fresh = orbit__msl_node_new(&s->map, ops[i].k, ops[i].kl);
        if (!ops[i].fresh) {
            for (size_t j = 0; j <= i; j++)
                free(ops[j].fresh);
            pthread_mutex_unlock(&s->pin_mu);
            ops_free_versions(ops, n);
            return enomem("write");
        }
    }
    uint64_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed) + 1;
    for (size_t i = 0; i < n; i++) {
        mem_node *node = ops[i].node;
        mem_ver *v = ops[i].v;
        ops[i].v = NULL;
        if (!node && !ops[i].fresh) {
            free(v);
            continue;
        }
        if (!node) {
            node = ops[i].fresh;
            orbit__msl_link(&s->map, node);
            count_adjust(1, 0);
        }
        v->seq = seq;
        v->next = node->chain;
        node->chain = v;
        s->nversions++;
        count_adjust(0, 1);
        prune(s, node);
    }
    atomic_store_explicit(&s->seq, seq, memory_order_release);
    pthread_mutex_unlock(&s->pin_mu);
    if (seq_out)
        *seq_out = seq;
    return ORBIT_OK;
}

/* A plain (non-transactional) write: in pessimistic mode it holds the
 * keys' locks while it applies, as TransactionDB does, so it never lands
 * between a transaction's lock and its commit. Owns the ops' versions. */
static int locked_by_txn(const mem_store *s, const uint8_t *k, size_t kl)
{
    char kb[KEYBUF];
    return orbit_error_set(ORBIT_EBUSY, "memory: key \"%s\" is locked by a transaction (waited %llu ms)",
                           key_text(kb, sizeof kb, k, kl), (unsigned long long)s->lock_timeout_ms);
}

static int write_ops(mem_store *s, mem_op *ops, size_t n, uint64_t *ver)
{
    mem_lock_owner owner = {NULL};
    if (!s->optimistic) {
        for (size_t i = 0; i < n; i++) {
            int rc = orbit__mem_lock_acquire(&s->locks, &owner, ops[i].k, ops[i].kl,
                                             s->lock_timeout_ms, NULL);
            if (rc != ORBIT_OK) {
                orbit__mem_lock_release_all(&s->locks, &owner);
                ops_free_versions(ops, n);
                if (rc == ORBIT_ENOMEM)
                    return enomem("key lock");
                return locked_by_txn(s, ops[i].k, ops[i].kl);
            }
        }
    }
    pthread_rwlock_wrlock(&s->rw);
    int rc = apply_locked(s, ops, n, ver);
    pthread_rwlock_unlock(&s->rw);
    orbit__mem_lock_release_all(&s->locks, &owner);
    return rc;
}

/* A range [lo, hi) to delete (hi NULL: unbounded), and the batch position
 * of the entry it came from. */
typedef struct mem_rng {
    const uint8_t *lo, *hi;
    size_t lo_len, hi_len;
    size_t idx;
} mem_rng;

static int rng_covers(const mem_rng *r, const uint8_t *k, size_t kl)
{
    return orbit__key_cmp(k, kl, r->lo, r->lo_len) >= 0 &&
           (!r->hi || orbit__key_cmp(k, kl, r->hi, r->hi_len) < 0);
}

static int rng_cmp(const void *a, const void *b)
{
    const mem_rng *x = a, *y = b;
    return orbit__key_cmp(x->lo, x->lo_len, y->lo, y->lo_len);
}

/* Sort ranges by start and merge overlapping ones: the disjoint union, in
 * place. Returns how many remain. */
static size_t rng_union(mem_rng *rs, size_t nr)
{
    if (nr == 0)
        return 0;
    qsort(rs, nr, sizeof *rs, rng_cmp);
    size_t m = 0;
    for (size_t i = 1; i < nr; i++) {
        mem_rng *cur = &rs[m];
        if (cur->hi && orbit__key_cmp(rs[i].lo, rs[i].lo_len, cur->hi, cur->hi_len) > 0) {
            rs[++m] = rs[i];
            continue;
        }
        if (cur->hi && (!rs[i].hi || orbit__key_cmp(rs[i].hi, rs[i].hi_len, cur->hi, cur->hi_len) > 0)) {
            cur->hi = rs[i].hi;
            cur->hi_len = rs[i].hi_len;
        }
    }
    return m + 1;
}

/* Whether sorted, distinct pts hold key k. */
static int pts_have(const mem_op *pts, size_t np, const uint8_t *k, size_t kl)
{
    size_t lo = 0, hi = np;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = orbit__key_cmp(pts[mid].k, pts[mid].kl, k, kl);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int ops_push(mem_op **a, size_t *n, size_t *cap, mem_op op)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        if (c > SIZE_MAX / sizeof **a)
            return ORBIT_ENOMEM;
        mem_op *p = orbit__mem_realloc(*a, c * sizeof **a);
        if (!p)
            return ORBIT_ENOMEM;
        *a = p;
        *cap = c;
    }
    (*a)[(*n)++] = op;
    return ORBIT_OK;
}

#define RANGE_LOCK_ROUNDS 64

/*
 * One atomic write of point ops and range deletes: pts are sorted and
 * distinct, their versions not made yet (val, vl, tomb say what); every
 * committed live key inside one of the ranges that no point names gets a
 * tombstone. All of it takes one sequence number. Pessimistic: every key
 * written is locked for the duration, as write_ops does; the keys inside
 * the ranges are known only under the write lock, so they are tried there
 * without waiting, and one that is busy is waited for outside it before
 * the next round. The lock table's mutex is then taken under rw, which is
 * safe because nothing waits for rw while holding it.
 */
static int write_ranges(mem_store *s, mem_op *pts, size_t np, mem_rng *rs, size_t nr, uint64_t *ver)
{
    nr = rng_union(rs, nr);
    mem_lock_owner owner = {NULL};
    int rc;
    if (!s->optimistic) {
        for (size_t i = 0; i < np; i++) {
            rc = orbit__mem_lock_acquire(&s->locks, &owner, pts[i].k, pts[i].kl, s->lock_timeout_ms, NULL);
            if (rc != ORBIT_OK) {
                orbit__mem_lock_release_all(&s->locks, &owner);
                return rc == ORBIT_ENOMEM ? enomem("key lock") : locked_by_txn(s, pts[i].k, pts[i].kl);
            }
        }
    }
    mem_op *ext = NULL, *all = NULL;
    size_t next_n = 0, cap = 0, nall = 0;
    mem_bytes busy = {0};
    for (int round = 0;; round++) {
        if (round == RANGE_LOCK_ROUNDS) {
            rc = orbit_error_set(ORBIT_EBUSY, "memory: range delete: keys in the range kept being "
                                 "locked by transactions (%d rounds)", RANGE_LOCK_ROUNDS);
            break;
        }
        pthread_rwlock_wrlock(&s->rw);
        /* The ranges' live keys that no point names: sorted, since the
         * union's intervals are disjoint and ascending. */
        next_n = 0;
        rc = ORBIT_OK;
        int blocked = 0;
        for (size_t ri = 0; rc == ORBIT_OK && !blocked && ri < nr; ri++) {
            for (mem_node *n = orbit__msl_ge(&s->map, rs[ri].lo, rs[ri].lo_len);
                 n && rng_covers(&rs[ri], n->key, n->klen); n = orbit__msl_next(&s->map, n)) {
                if (n->chain->tomb || pts_have(pts, np, n->key, n->klen))
                    continue;
                if (!s->optimistic) {
                    int lr = orbit__mem_lock_acquire(&s->locks, &owner, n->key, n->klen, 0, NULL);
                    if (lr != ORBIT_OK) {
                        rc = lr == ORBIT_ENOMEM ? ORBIT_ENOMEM : bytes_set(&busy, n->key, n->klen);
                        blocked = rc == ORBIT_OK;
                        break;
                    }
                }
                mem_op op = {.k = n->key, .kl = n->klen, .tomb = 1};
                if ((rc = ops_push(&ext, &next_n, &cap, op)) != ORBIT_OK)
                    break;
            }
        }
        if (blocked) {
            pthread_rwlock_unlock(&s->rw);
            rc = orbit__mem_lock_acquire(&s->locks, &owner, busy.p, busy.len, s->lock_timeout_ms, NULL);
            if (rc == ORBIT_OK)
                continue;
            rc = rc == ORBIT_ENOMEM ? enomem("key lock") : locked_by_txn(s, busy.p, busy.len);
            break;
        }
        /* Merge points and range keys into one sorted, distinct list. */
        nall = 0;
        if (rc == ORBIT_OK && np + next_n > 0) {
            all = orbit__mem_malloc((np + next_n) * sizeof *all);
            if (!all)
                rc = ORBIT_ENOMEM;
            for (size_t i = 0, j = 0; rc == ORBIT_OK && (i < np || j < next_n);) {
                if (j == next_n || (i < np && orbit__key_cmp(pts[i].k, pts[i].kl, ext[j].k, ext[j].kl) < 0))
                    all[nall++] = pts[i++];
                else
                    all[nall++] = ext[j++];
            }
        }
        for (size_t i = 0; rc == ORBIT_OK && i < nall; i++) {
            all[i].v = orbit__mem_ver_new(all[i].val, all[i].vl, all[i].tomb);
            if (!all[i].v) {
                ops_free_versions(all, i);
                rc = ORBIT_ENOMEM;
            }
        }
        if (rc == ORBIT_OK)
            rc = apply_locked(s, all, nall, ver);
        pthread_rwlock_unlock(&s->rw);
        if (rc == ORBIT_ENOMEM)
            rc = enomem("range delete");
        break;
    }
    orbit__mem_lock_release_all(&s->locks, &owner);
    bytes_release(&busy);
    free(ext);
    free(all);
    return rc;
}

/* ---- open, close, capabilities ---------------------------------------- */

static int mem_open(orbit_uri *uri, void **self)
{
    const char *body = orbit_uri_body(uri);
    if (body && *body)
        return orbit_error_set(ORBIT_EBADURI,
                               "memory: the URI takes no path (got \"%s\"); "
                               "write \"memory:\" or \"memory:?option=value\"", body);
    /* The default matches the RocksDB provider's: optimistic. */
    int optimistic = 1;
    const char *mode = orbit_uri_param(uri, "txn");
    if (mode) {
        if (strcmp(mode, "pessimistic") == 0)
            optimistic = 0;
        else if (strcmp(mode, "optimistic") != 0)
            return orbit_error_set(ORBIT_EINVAL,
                                   "option txn=%s: expected pessimistic or optimistic", mode);
    }
    /* Same bound as the RocksDB provider, so one URI means one thing. In
     * optimistic mode nothing waits and the option has no effect. */
    uint64_t timeout;
    int rc = orbit_uri_param_u64(uri, "lock_timeout_ms", 0, &timeout);
    if (rc != ORBIT_OK)
        return rc;
    if (timeout > MAX_LOCK_TIMEOUT_MS)
        return orbit_error_set(ORBIT_EINVAL, "option lock_timeout_ms=%llu: at most %llu (one day)",
                               (unsigned long long)timeout,
                               (unsigned long long)MAX_LOCK_TIMEOUT_MS);
    rc = orbit_uri_check_unused(uri);
    if (rc != ORBIT_OK)
        return rc;

    mem_store *s = orbit__mem_malloc(sizeof *s);
    if (!s)
        return enomem("store");
    memset(s, 0, sizeof *s);
    s->optimistic = optimistic;
    s->lock_timeout_ms = timeout;
    atomic_init(&s->seq, 0);
    if (orbit__msl_init(&s->map, (uint64_t)(uintptr_t)s ^ 0x5bd1e995u) != ORBIT_OK) {
        free(s);
        return enomem("store");
    }
    rc = orbit__mem_locks_init(&s->locks);
    if (rc != ORBIT_OK) {
        orbit__msl_release(&s->map);
        free(s);
        return rc == ORBIT_ENOMEM ? enomem("lock table") : rc;
    }
    pthread_rwlockattr_t ra;
    int ok = pthread_rwlockattr_init(&ra) == 0;
    if (ok) {
        /* Writers must not starve behind a steady stream of readers;
         * nothing here takes the read side twice on one thread. */
        pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        ok = pthread_rwlock_init(&s->rw, &ra) == 0;
        pthread_rwlockattr_destroy(&ra);
    }
    if (ok && pthread_mutex_init(&s->pin_mu, NULL) != 0) {
        pthread_rwlock_destroy(&s->rw);
        ok = 0;
    }
    if (!ok) {
        orbit__mem_locks_destroy(&s->locks);
        orbit__msl_release(&s->map);
        free(s);
        return orbit_error_set(ORBIT_EINTERNAL, "memory: cannot create the store's locks");
    }
    *self = s;
    return ORBIT_OK;
}

static void mem_close(void *self)
{
    mem_store *s = self;
    if (!s)
        return;
    count_adjust(-(int64_t)s->map.count, -(int64_t)s->nversions);
    orbit__msl_release(&s->map);
    /* The contract says every pin's owner is gone; free any left anyway. */
    mem_pin *p = s->pin_head;
    while (p) {
        mem_pin *nx = p->next;
        free(p);
        p = nx;
    }
    orbit__mem_locks_destroy(&s->locks);
    pthread_mutex_destroy(&s->pin_mu);
    pthread_rwlock_destroy(&s->rw);
    free(s);
}

static void mem_capabilities(void *self, orbit_capabilities *out)
{
    /* Old versions are pruned as soon as no pin needs them: no history to
     * open a snapshot at (supports_snapshot_at stays 0). */
    (void)self;
    memset(out, 0, sizeof *out);
    out->type = ORBIT_PROVIDER_MEMORY;
    out->name = "memory";
    out->durable = 0;
    out->supports_transactions = 1;
    out->supports_distributed_transactions = 0;
    out->supports_multi_region = 0;
    out->supports_snapshots = 1;
    out->native_async = 0;
    out->isolation_levels = ORBIT_ISO_BIT(ORBIT_ISO_SNAPSHOT) |
                            ORBIT_ISO_BIT(ORBIT_ISO_READ_COMMITTED);
    out->max_batch_ops = 0;
    out->max_key_size = 0;
    out->max_value_size = ORBIT_MEMORY_MAX_VALUE;
    out->supports_snapshot_at = 0;
    out->supports_commit_version = 1;
    out->native_multi_get = 1;
    out->native_range_delete = 1;
    out->native_cas = 1;
    out->supports_batch_range_delete = 1;
    out->max_txn_keys = 0;
    out->max_txn_bytes = 0;
}

/* ---- point operations ------------------------------------------------- */

/* fn runs under the read lock: the contract forbids it to call back into
 * the store, and that lets it read the value in place without a copy. */
static int read_at(mem_store *s, uint64_t seq, const uint8_t *k, size_t kl,
                   orbit_value_fn fn, void *arg)
{
    int rc = ORBIT_NOTFOUND;
    pthread_rwlock_rdlock(&s->rw);
    mem_node *n = orbit__msl_find(&s->map, k, kl);
    const mem_ver *v = n ? visible(n, seq) : NULL;
    if (v && !v->tomb)
        rc = fn ? fn(arg, v->val, v->vlen) : ORBIT_OK;
    pthread_rwlock_unlock(&s->rw);
    return rc;
}

static int mem_get(void *self, void *snap, const uint8_t *k, size_t kl,
                   orbit_value_fn fn, void *arg)
{
    mem_store *s = self;
    uint64_t seq = snap ? ((mem_pin *)snap)->seq : SEQ_LATEST;
    return read_at(s, seq, k, kl, fn, arg);
}

static int write_one(mem_store *s, const uint8_t *k, size_t kl,
                     const uint8_t *v, size_t vl, int tomb)
{
    mem_op op = {.k = k, .kl = kl, .v = orbit__mem_ver_new(v, vl, tomb)};
    if (!op.v)
        return enomem("value");
    return write_ops(s, &op, 1, NULL);
}

/* ORBIT_ETOOBIG with detail for a value over the provider's limit. */
static int check_value(size_t vl)
{
    if (vl > ORBIT_MEMORY_MAX_VALUE)
        return orbit_error_set(ORBIT_ETOOBIG,
                               "memory: value of %zu bytes exceeds the provider's limit of %zu "
                               "bytes (64 MiB and 64 KiB for a record envelope)",
                               vl, ORBIT_MEMORY_MAX_VALUE);
    return ORBIT_OK;
}

static int mem_put(void *self, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    int rc = check_value(vl);
    return rc ? rc : write_one(self, k, kl, v, vl, 0);
}

static int mem_del(void *self, const uint8_t *k, size_t kl)
{
    return write_one(self, k, kl, NULL, 0, 1);
}

static int op_cmp(const void *a, const void *b)
{
    const mem_op *x = a, *y = b;
    int c = orbit__key_cmp(x->k, x->kl, y->k, y->kl);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int mem_write_version(void *self, const orbit_batch *b, uint64_t *ver)
{
    mem_store *s = self;
    size_t n = orbit_batch_count(b);
    *ver = 0;
    if (n == 0)
        return ORBIT_OK;
    /* All or nothing: an oversized value refuses the whole batch first. */
    for (size_t i = 0; i < n; i++) {
        orbit_batch_entry e;
        orbit_batch_entry_at(b, i, &e);
        int rc = e.type == ORBIT_OP_PUT ? check_value(e.vlen) : ORBIT_OK;
        if (rc)
            return rc;
    }
    if (n > SIZE_MAX / sizeof(mem_op) || n > SIZE_MAX / sizeof(mem_rng))
        return enomem("batch");
    mem_op *ops = orbit__mem_malloc(n * sizeof *ops);
    if (!ops)
        return enomem("batch");
    mem_rng *rs = NULL;
    size_t np = 0, nr = 0;
    for (size_t i = 0; i < n; i++) {
        orbit_batch_entry e;
        orbit_batch_entry_at(b, i, &e);
        if (e.type == ORBIT_OP_DEL_RANGE) {
            if (!rs && !(rs = orbit__mem_malloc(n * sizeof *rs))) {
                free(ops);
                return enomem("batch");
            }
            rs[nr++] = (mem_rng){.lo = e.key, .lo_len = e.klen, .hi = e.val, .hi_len = e.vlen, .idx = i};
            continue;
        }
        int tomb = e.type == ORBIT_OP_DEL;
        ops[np++] = (mem_op){.k = e.key, .kl = e.klen, .val = tomb ? NULL : e.val,
                             .vl = tomb ? 0 : e.vlen, .tomb = tomb, .idx = i};
    }
    /* Sorted, the keys are locked in one global order (two batches cannot
     * deadlock each other) and duplicates sit together: the last wins. */
    qsort(ops, np, sizeof *ops, op_cmp);
    size_t m = 0;
    for (size_t i = 0; i < np; i++) {
        if (i + 1 < np && orbit__key_cmp(ops[i].k, ops[i].kl, ops[i + 1].k, ops[i + 1].kl) == 0)
            continue;
        ops[m++] = ops[i];
    }
    int rc;
    if (nr) {
        /* Entries apply in order: a range after a key's last write deletes
         * that write. */
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < nr; j++)
                if (rs[j].idx > ops[i].idx && rng_covers(&rs[j], ops[i].k, ops[i].kl)) {
                    ops[i].tomb = 1;
                    ops[i].val = NULL;
                    ops[i].vl = 0;
                    break;
                }
        rc = write_ranges(s, ops, m, rs, nr, ver);
        free(rs);
        free(ops);
        return rc;
    }
    for (size_t i = 0; i < m; i++) {
        ops[i].v = orbit__mem_ver_new(ops[i].val, ops[i].vl, ops[i].tomb);
        if (!ops[i].v) {
            ops_free_versions(ops, i);
            free(ops);
            return enomem("batch value");
        }
    }
    rc = write_ops(s, ops, m, ver);
    free(ops);
    return rc;
}

static int mem_write(void *self, const orbit_batch *b)
{
    uint64_t ver;
    return mem_write_version(self, b, &ver);
}

static int mem_delete_range(void *self, const orbit_range *r)
{
    mem_rng rg = {.lo = r->lo, .lo_len = r->lo_len, .hi = r->hi, .hi_len = r->hi_len};
    return write_ranges(self, NULL, 0, &rg, 1, NULL);
}

/* Compare-and-set under the write lock: the read, the comparison and the
 * write are one step, so no transaction is needed. Pessimistic: the key's
 * lock is held meanwhile, as for a plain write. */
static int mem_cas(void *self, const uint8_t *k, size_t kl, const orbit_slice *expected,
                   const orbit_slice *desired, orbit_buf *current)
{
    mem_store *s = self;
    int vrc = desired ? check_value(desired->len) : ORBIT_OK;
    if (vrc)
        return vrc;
    mem_ver *nv = desired ? orbit__mem_ver_new(desired->data, desired->len, 0)
                          : orbit__mem_ver_new(NULL, 0, 1);
    if (!nv)
        return enomem("value");
    mem_lock_owner owner = {NULL};
    if (!s->optimistic) {
        int rc = orbit__mem_lock_acquire(&s->locks, &owner, k, kl, s->lock_timeout_ms, NULL);
        if (rc != ORBIT_OK) {
            free(nv);
            return rc == ORBIT_ENOMEM ? enomem("key lock") : locked_by_txn(s, k, kl);
        }
    }
    pthread_rwlock_wrlock(&s->rw);
    mem_node *n = orbit__msl_find(&s->map, k, kl);
    const mem_ver *v = n ? n->chain : NULL;
    int live = v && !v->tomb;
    int rc = ORBIT_OK;
    if (!expected)
        rc = live ? ORBIT_CMPFAIL : ORBIT_OK;
    else if (!live)
        rc = ORBIT_NOTFOUND;
    else if (v->vlen != expected->len || (v->vlen && memcmp(v->val, expected->data, v->vlen) != 0))
        rc = ORBIT_CMPFAIL;
    if (rc == ORBIT_CMPFAIL && current && orbit_buf_set(current, v->val, v->vlen) != ORBIT_OK)
        rc = enomem("current value");
    if (rc == ORBIT_OK) {
        mem_op op = {.k = k, .kl = kl, .v = nv};
        nv = NULL;
        rc = apply_locked(s, &op, 1, NULL);
    }
    pthread_rwlock_unlock(&s->rw);
    orbit__mem_lock_release_all(&s->locks, &owner);
    free(nv);
    return rc;
}

/* Many keys under one read lock: one view, whatever commits around it. */
static int mem_multi_get(void *self, void *snap, size_t n, const orbit_slice *keys, orbit_buf *vals,
                         int *status)
{
    mem_store *s = self;
    uint64_t seq = snap ? ((mem_pin *)snap)->seq : SEQ_LATEST;
    int first = ORBIT_OK;
    pthread_rwlock_rdlock(&s->rw);
    for (size_t i = 0; i < n; i++) {
        mem_node *node = orbit__msl_find(&s->map, keys[i].data, keys[i].len);
        const mem_ver *v = node ? visible(node, seq) : NULL;
        vals[i].len = 0;
        if (!v || v->tomb)
            status[i] = ORBIT_NOTFOUND;
        else if (orbit_buf_set(&vals[i], v->val, v->vlen) != ORBIT_OK)
            status[i] = enomem("multi-get value");
        else
            status[i] = ORBIT_OK;
        if (status[i] < 0 && first == ORBIT_OK)
            first = status[i];
    }
    pthread_rwlock_unlock(&s->rw);
    return first;
}

/* ---- snapshots -------------------------------------------------------- */

static int mem_snapshot_open(void *self, void **snap)
{
    mem_pin *p = NULL;
    int rc = pin_new(self, &p);
    if (rc == ORBIT_OK)
        *snap = p;
    return rc;
}

static void mem_snapshot_release(void *self, void *snap)
{
    pin_unref(self, snap);
}

static uint64_t mem_snapshot_version(void *self, void *snap)
{
    (void)self;
    return ((const mem_pin *)snap)->seq;
}

/* ---- iterators -------------------------------------------------------- */

static int below_hi(const mem_iter *it, const uint8_t *k, size_t kl)
{
    return !it->hi || orbit__key_cmp(k, kl, it->hi, it->hi_len) < 0;
}

static int at_or_above_lo(const mem_iter *it, const uint8_t *k, size_t kl)
{
    return !it->lo || orbit__key_cmp(k, kl, it->lo, it->lo_len) >= 0;
}

/* The first node of l inside the range in walking order (from the seek
 * target, if any), or NULL; a node beyond the range's far end means the
 * walk is over. */
static mem_node *range_start(const mem_iter *it, const mem_list *l)
{
    if (it->has_seek) {
        const uint8_t *k = it->seek.p;
        size_t kl = it->seek.len;
        if (!it->reverse) {
            if (it->lo && orbit__key_cmp(k, kl, it->lo, it->lo_len) < 0)
                return orbit__msl_ge(l, it->lo, it->lo_len);
            return orbit__msl_ge(l, k, kl);
        }
        if (it->hi && orbit__key_cmp(k, kl, it->hi, it->hi_len) >= 0)
            return orbit__msl_lt(l, it->hi, it->hi_len);
        mem_node *n = orbit__msl_find(l, k, kl);
        return n ? n : orbit__msl_lt(l, k, kl);
    }
    if (it->reverse)
        return it->hi ? orbit__msl_lt(l, it->hi, it->hi_len) : orbit__msl_last(l);
    return it->lo ? orbit__msl_ge(l, it->lo, it->lo_len) : orbit__msl_first(l);
}

static mem_node *step(const mem_iter *it, const mem_list *l, const mem_node *n)
{
    return it->reverse ? orbit__msl_prev(l, n) : orbit__msl_next(l, n);
}

/* Walking past this node leaves the range for good. */
static int past_end(const mem_iter *it, const mem_node *n)
{
    return it->reverse ? !at_or_above_lo(it, n->key, n->klen)
                       : !below_hi(it, n->key, n->klen);
}

/* Advance the committed-map cursor: 0 with cursor key/val set,
 * ORBIT_NOTFOUND at the end, or ORBIT_ENOMEM. */
static int cursor_next(mem_iter *it, mem_cursor *c)
{
    mem_store *s = it->s;
    if (c->done)
        return ORBIT_NOTFOUND;
    pthread_rwlock_rdlock(&s->rw);
    mem_node *n;
    if (!c->started)
        n = range_start(it, &s->map);
    else if (c->gen == s->map.gen)
        n = step(it, &s->map, c->node);
    else if (it->reverse)
        n = orbit__msl_lt(&s->map, c->key.p, c->key.len);
    else
        n = orbit__msl_gt(&s->map, c->key.p, c->key.len);
    for (; n && !past_end(it, n); n = step(it, &s->map, n)) {
        const mem_ver *v = visible(n, c->seq);
        if (!v || v->tomb)
            continue;
        if (bytes_set(&c->key, n->key, n->klen) != ORBIT_OK ||
            bytes_set(&c->val, v->val, it->keys_only ? 0 : v->vlen) != ORBIT_OK) {
            pthread_rwlock_unlock(&s->rw);
            return enomem("iterator entry");
        }
        c->node = n;
        c->gen = s->map.gen;
        c->started = 1;
        pthread_rwlock_unlock(&s->rw);
        return ORBIT_OK;
    }
    c->done = 1;
    pthread_rwlock_unlock(&s->rw);
    return ORBIT_NOTFOUND;
}

static void iter_free(mem_iter *it)
{
    if (!it)
        return;
    pin_unref(it->s, it->pin);
    bytes_release(&it->base.key);
    bytes_release(&it->base.val);
    bytes_release(&it->key);
    bytes_release(&it->val);
    bytes_release(&it->seek);
    free(it->lo);
    free(it->hi);
    free(it);
}

/* An iterator over r with its bounds copied (r is borrowed for the call). */
static int iter_alloc(mem_store *s, const orbit_range *r, mem_iter **out)
{
    mem_iter *it = orbit__mem_malloc(sizeof *it);
    if (!it)
        return enomem("iterator");
    memset(it, 0, sizeof *it);
    it->s = s;
    it->reverse = r->reverse;
    it->keys_only = r->keys_only;
    if (r->lo) {
        it->lo = orbit__mem_malloc(r->lo_len);
        if (!it->lo) {
            iter_free(it);
            return enomem("iterator");
        }
        memcpy(it->lo, r->lo, r->lo_len);
        it->lo_len = r->lo_len;
    }
    if (r->hi) {
        it->hi = orbit__mem_malloc(r->hi_len);
        if (!it->hi) {
            iter_free(it);
            return enomem("iterator");
        }
        memcpy(it->hi, r->hi, r->hi_len);
        it->hi_len = r->hi_len;
    }
    *out = it;
    return ORBIT_OK;
}

static int mem_iter_open(void *self, void *snap, const orbit_range *r, void **out)
{
    mem_store *s = self;
    mem_iter *it = NULL;
    int rc = iter_alloc(s, r, &it);
    if (rc != ORBIT_OK)
        return rc;
    /* The iterator holds its own pin, so it stays valid even if the
     * caller releases the snapshot it was opened on first. */
    if (snap) {
        it->pin = snap;
        pin_ref(s, it->pin);
    } else if ((rc = pin_new(s, &it->pin)) != ORBIT_OK) {
        iter_free(it);
        return rc;
    }
    it->base.seq = it->pin->seq;
    *out = it;
    return ORBIT_OK;
}

/* The write-set node at or after n in walking order that holds a write
 * and lies in range, or NULL. */
static mem_node *ws_settle(const mem_iter *it, mem_node *n)
{
    for (; n && !past_end(it, n); n = step(it, &it->t->ws, n))
        if (n->chain)
            return n;
    return NULL;
}

static int base_advance(mem_iter *it)
{
    int rc = cursor_next(it, &it->base);
    if (rc < 0)
        return rc;
    it->base_valid = rc == ORBIT_OK;
    return ORBIT_OK;
}

/* The transactional merge: write-set entries win over committed ones for
 * the same key, and a write-set tombstone hides the committed key. */
static int txn_iter_next(mem_iter *it, const uint8_t **k, size_t *kl,
                         const uint8_t **v, size_t *vl)
{
    int rc;
    if (!it->started) {
        if ((rc = base_advance(it)) != ORBIT_OK)
            return rc;
        it->wnode = ws_settle(it, range_start(it, &it->t->ws));
        it->started = 1;
    } else {
        if (it->adv_base && (rc = base_advance(it)) != ORBIT_OK)
            return rc;
        if (it->adv_ws && it->wnode)
            it->wnode = ws_settle(it, step(it, &it->t->ws, it->wnode));
    }
    it->adv_base = it->adv_ws = 0;
    for (;;) {
        mem_node *w = it->wnode;
        if (!it->base_valid && !w)
            return ORBIT_NOTFOUND;
        int c;
        if (!w)
            c = -1;
        else if (!it->base_valid)
            c = 1;
        else {
            c = orbit__key_cmp(it->base.key.p, it->base.key.len, w->key, w->klen);
            if (it->reverse)
                c = -c;
        }
        if (c < 0) {
            *k = it->base.key.p;
            *kl = it->base.key.len;
            *v = it->base.val.p;
            *vl = it->base.val.len;
            it->adv_base = 1;
            return ORBIT_OK;
        }
        if (c == 0 && (rc = base_advance(it)) != ORBIT_OK)
            return rc;
        if (w->chain->tomb) {
            it->wnode = ws_settle(it, step(it, &it->t->ws, w));
            continue;
        }
        /* Copied: the transaction may overwrite this key before the
         * caller is done with the entry. */
        if (bytes_set(&it->key, w->key, w->klen) != ORBIT_OK ||
            bytes_set(&it->val, w->chain->val, it->keys_only ? 0 : w->chain->vlen) != ORBIT_OK)
            return enomem("iterator entry");
        *k = it->key.p;
        *kl = it->key.len;
        *v = it->val.p;
        *vl = it->val.len;
        it->adv_ws = 1;
        return ORBIT_OK;
    }
}

static int mem_iter_next(void *itp, const uint8_t **k, size_t *kl,
                         const uint8_t **v, size_t *vl)
{
    mem_iter *it = itp;
    if (it->t)
        return txn_iter_next(it, k, kl, v, vl);
    int rc = cursor_next(it, &it->base);
    if (rc == ORBIT_OK) {
        *k = it->base.key.p;
        *kl = it->base.key.len;
        *v = it->base.val.p;
        *vl = it->base.val.len;
    }
    return rc;
}

/* Restart both walks (committed map and write set) at the target; the
 * view (the iterator's sequence number) stays. */
static int mem_iter_seek(void *itp, const uint8_t *k, size_t kl)
{
    mem_iter *it = itp;
    if (bytes_set(&it->seek, k, kl) != ORBIT_OK)
        return enomem("iterator seek");
    it->has_seek = 1;
    it->base.started = 0;
    it->base.done = 0;
    it->started = 0;
    it->base_valid = 0;
    it->adv_base = it->adv_ws = 0;
    it->wnode = NULL;
    return ORBIT_OK;
}

static void mem_iter_close(void *itp)
{
    iter_free(itp);
}

/* ---- transactions ----------------------------------------------------- */

static void txn_free(mem_txn *t)
{
    mem_store *s = t->s;
    orbit__mem_lock_release_all(&s->locks, &t->owner);
    pin_unref(s, t->pin);
    orbit__msl_release(&t->ws);
    free(t);
}

static int mem_txn_begin(void *self, const orbit_txn_opts *opts, void **out)
{
    mem_store *s = self;
    orbit_isolation iso = opts ? opts->isolation : ORBIT_ISO_SNAPSHOT;
    if (iso == ORBIT_ISO_SERIALIZABLE)
        return orbit_error_set(ORBIT_ENOTSUP,
                               "memory: serializable isolation is not supported "
                               "(snapshot and read-committed are)");
    if (iso != ORBIT_ISO_SNAPSHOT && iso != ORBIT_ISO_READ_COMMITTED)
        return orbit_error_set(ORBIT_EINVAL, "memory: unknown isolation level %d", (int)iso);
    mem_txn *t = orbit__mem_malloc(sizeof *t);
    if (!t)
        return enomem("transaction");
    memset(t, 0, sizeof *t);
    t->s = s;
    t->iso = iso;
    if (orbit__msl_init(&t->ws, (uint64_t)(uintptr_t)t) != ORBIT_OK) {
        free(t);
        return enomem("transaction");
    }
    /* An optimistic read-committed txn pins too: its commit validates
     * against each tracked key's newest version, so a tombstone newer than
     * its tracking point must not be pruned away before then. */
    if (iso == ORBIT_ISO_SNAPSHOT || s->optimistic) {
        int rc = pin_new(s, &t->pin);
        if (rc != ORBIT_OK) {
            orbit__msl_release(&t->ws);
            free(t);
            return rc;
        }
        t->snap = t->pin->seq;
    }
    *out = t;
    return ORBIT_OK;
}

static mem_node *ws_get_or_add(mem_txn *t, const uint8_t *k, size_t kl)
{
    mem_node *n = orbit__msl_find(&t->ws, k, kl);
    if (!n) {
        n = orbit__msl_node_new(&t->ws, k, kl);
        if (n)
            orbit__msl_link(&t->ws, n);
    }
    return n;
}

static int conflict(const char *why, const uint8_t *k, size_t kl)
{
    char kb[KEYBUF];
    return orbit_error_set(ORBIT_ECONFLICT, "memory: %s on key \"%s\"", why,
                           key_text(kb, sizeof kb, k, kl));
}

static uint64_t newest_seq_locked(mem_store *s, const uint8_t *k, size_t kl)
{
    mem_node *n = orbit__msl_find(&s->map, k, kl);
    return n ? n->chain->seq : 0;
}

/*
 * Claim key k before writing it or reading it for update. Pessimistic: take
 * its lock (a timeout is a conflict), then under snapshot isolation fail if
 * it was committed after the snapshot, giving back a lock taken just now.
 * Optimistic: record it for validation at commit.
 */
static int claim(mem_txn *t, const uint8_t *k, size_t kl)
{
    mem_store *s = t->s;
    if (s->optimistic) {
        mem_node *n = ws_get_or_add(t, k, kl);
        if (!n)
            return enomem("transaction key");
        if (!n->tracked) {
            n->tracked = 1;
            n->aux = t->iso == ORBIT_ISO_SNAPSHOT
                         ? t->snap
                         : atomic_load_explicit(&s->seq, memory_order_acquire);
        }
        return ORBIT_OK;
    }
    int fresh = 0;
    int rc = orbit__mem_lock_acquire(&s->locks, &t->owner, k, kl, s->lock_timeout_ms, &fresh);
    if (rc == ORBIT_ENOMEM)
        return enomem("key lock");
    if (rc != ORBIT_OK)
        return conflict("lock held by another transaction (timed out)", k, kl);
    if (t->iso != ORBIT_ISO_SNAPSHOT)
        return ORBIT_OK;
    pthread_rwlock_rdlock(&s->rw);
    uint64_t newest = newest_seq_locked(s, k, kl);
    pthread_rwlock_unlock(&s->rw);
    if (newest > t->snap) {
        if (fresh)
            orbit__mem_lock_release_first(&s->locks, &t->owner);
        return conflict("write conflict (committed after the transaction's snapshot)", k, kl);
    }
    return ORBIT_OK;
}

static int mem_txn_get(void *txn, const uint8_t *k, size_t kl, int for_update,
                       orbit_value_fn fn, void *arg)
{
    mem_txn *t = txn;
    if (for_update) {
        int rc = claim(t, k, kl);
        if (rc != ORBIT_OK)
            return rc;
    }
    mem_node *n = orbit__msl_find(&t->ws, k, kl);
    if (n && n->chain) {
        if (n->chain->tomb)
            return ORBIT_NOTFOUND;
        return fn ? fn(arg, n->chain->val, n->chain->vlen) : ORBIT_OK;
    }
    uint64_t seq = t->iso == ORBIT_ISO_SNAPSHOT ? t->snap : SEQ_LATEST;
    return read_at(t->s, seq, k, kl, fn, arg);
}

/* The transaction's own writes first, then its view, all under one read
 * lock so a read-committed transaction sees one instant too. */
static int mem_txn_multi_get(void *txn, size_t n, const orbit_slice *keys, orbit_buf *vals, int *status)
{
    mem_txn *t = txn;
    mem_store *s = t->s;
    uint64_t seq = t->iso == ORBIT_ISO_SNAPSHOT ? t->snap : SEQ_LATEST;
    int first = ORBIT_OK;
    pthread_rwlock_rdlock(&s->rw);
    for (size_t i = 0; i < n; i++) {
        const mem_ver *v;
        mem_node *w = orbit__msl_find(&t->ws, keys[i].data, keys[i].len);
        if (w && w->chain) {
            v = w->chain;
        } else {
            mem_node *node = orbit__msl_find(&s->map, keys[i].data, keys[i].len);
            v = node ? visible(node, seq) : NULL;
        }
        vals[i].len = 0;
        if (!v || v->tomb)
            status[i] = ORBIT_NOTFOUND;
        else if (orbit_buf_set(&vals[i], v->val, v->vlen) != ORBIT_OK)
            status[i] = enomem("multi-get value");
        else
            status[i] = ORBIT_OK;
        if (status[i] < 0 && first == ORBIT_OK)
            first = status[i];
    }
    pthread_rwlock_unlock(&s->rw);
    return first;
}

static int txn_write(mem_txn *t, const uint8_t *k, size_t kl, const uint8_t *v,
                     size_t vl, int tomb)
{
    mem_ver *ver = orbit__mem_ver_new(v, vl, tomb);
    if (!ver)
        return enomem("value");
    int rc = claim(t, k, kl);
    if (rc != ORBIT_OK) {
        free(ver);
        return rc;
    }
    mem_node *n = ws_get_or_add(t, k, kl);
    if (!n) {
        free(ver);
        return enomem("transaction key");
    }
    orbit__mem_ver_free_chain(n->chain);
    n->chain = ver;
    return ORBIT_OK;
}

static int mem_txn_put(void *txn, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    int rc = check_value(vl);
    return rc ? rc : txn_write(txn, k, kl, v, vl, 0);
}

static int mem_txn_del(void *txn, const uint8_t *k, size_t kl)
{
    return txn_write(txn, k, kl, NULL, 0, 1);
}

static int mem_txn_iter_open(void *txn, const orbit_range *r, void **out)
{
    mem_txn *t = txn;
    mem_iter *it = NULL;
    int rc = iter_alloc(t->s, r, &it);
    if (rc != ORBIT_OK)
        return rc;
    it->t = t;
    if (t->iso == ORBIT_ISO_SNAPSHOT) {
        /* The txn's own pin covers it: the iterator closes first. */
        it->base.seq = t->snap;
    } else {
        if ((rc = pin_new(t->s, &it->pin)) != ORBIT_OK) {
            iter_free(it);
            return rc;
        }
        it->base.seq = it->pin->seq;
    }
    *out = it;
    return ORBIT_OK;
}

/* Optimistic commit check, under rw: every tracked key must be unchanged
 * since the sequence number it was tracked at. */
static int validate_locked(mem_txn *t)
{
    for (mem_node *n = orbit__msl_first(&t->ws); n; n = orbit__msl_next(&t->ws, n))
        if (n->tracked && newest_seq_locked(t->s, n->key, n->klen) > n->aux)
            return conflict("write conflict at commit (changed since the transaction read it)",
                            n->key, n->klen);
    return ORBIT_OK;
}

static int mem_txn_commit_version(void *txn, uint64_t *ver)
{
    mem_txn *t = txn;
    *ver = 0;
    mem_store *s = t->s;
    size_t n = 0;
    for (mem_node *w = orbit__msl_first(&t->ws); w; w = orbit__msl_next(&t->ws, w))
        n += w->chain != NULL;
    mem_op *ops = NULL;
    if (n) {
        ops = orbit__mem_malloc(n * sizeof *ops);
        if (!ops) {
            txn_free(t);
            return enomem("commit");
        }
        size_t i = 0;
        /* The write set is sorted and distinct; its versions move into
         * the map without a copy. */
        for (mem_node *w = orbit__msl_first(&t->ws); w; w = orbit__msl_next(&t->ws, w)) {
            if (!w->chain)
                continue;
            ops[i] = (mem_op){.k = w->key, .kl = w->klen, .v = w->chain};
            w->chain = NULL;
            i++;
        }
    }
    pthread_rwlock_wrlock(&s->rw);
    int rc = s->optimistic ? validate_locked(t) : ORBIT_OK;
    if (rc == ORBIT_OK)
        rc = apply_locked(s, ops, n, n ? ver : NULL);
    else
        ops_free_versions(ops, n);
    pthread_rwlock_unlock(&s->rw);
    free(ops);
    txn_free(t);
    return rc;
}

static int mem_txn_commit(void *txn)
{
    uint64_t ver;
    return mem_txn_commit_version(txn, &ver);
}

static void mem_txn_rollback(void *txn)
{
    txn_free(txn);
}

/* ---- store statistics (version 4) ----------------------------------- */

/* One walk of the committed map under the read lock (writers wait for it:
 * O(keys)): live keys and their newest values exactly, and every retained
 * version's bytes (what snapshots still pin included) as the size. */
static int mem_store_stats(void *self, orbit_store_stats *out)
{
    mem_store *s = self;
    uint64_t keys = 0, live = 0, held = 0;
    pthread_rwlock_rdlock(&s->rw);
    for (mem_node *n = orbit__msl_first(&s->map); n; n = orbit__msl_next(&s->map, n)) {
        held += n->klen;
        for (const mem_ver *v = n->chain; v; v = v->next)
            held += v->vlen;
        if (n->chain && !n->chain->tomb) {
            keys++;
            live += n->klen + n->chain->vlen;
        }
    }
    pthread_rwlock_unlock(&s->rw);
    out->keys = keys;
    out->keys_exact = 1;
    out->live_bytes = live;
    out->size_bytes = held;
    return ORBIT_OK;
}

const orbit_provider orbit__provider_memory = {
    .version = 4,
    .name = "memory",
    .open = mem_open,
    .close = mem_close,
    .capabilities = mem_capabilities,
    .get = mem_get,
    .put = mem_put,
    .del = mem_del,
    .write = mem_write,
    .iter_open = mem_iter_open,
    .iter_next = mem_iter_next,
    .iter_close = mem_iter_close,
    .snapshot_open = mem_snapshot_open,
    .snapshot_release = mem_snapshot_release,
    .snapshot_version = mem_snapshot_version,
    .txn_begin = mem_txn_begin,
    .txn_get = mem_txn_get,
    .txn_put = mem_txn_put,
    .txn_del = mem_txn_del,
    .txn_iter_open = mem_txn_iter_open,
    .txn_commit = mem_txn_commit,
    .txn_rollback = mem_txn_rollback,
    .submit = NULL,
    .multi_get = mem_multi_get,
    .txn_multi_get = mem_txn_multi_get,
    .delete_range = mem_delete_range,
    .cas = mem_cas,
    .iter_seek = mem_iter_seek,
    .snapshot_open_at = NULL, /* versions are pruned: no history kept */
    .write_version = mem_write_version,
    .txn_commit_version = mem_txn_commit_version,
    .txn_delete_range = NULL, /* the contract layer's scan-and-delete */
    /* version 3: no untracked writes (ordinary tracked ones) */
    .txn_put_untracked = NULL,
    .txn_del_untracked = NULL,
    .store_stats = mem_store_stats,
};
