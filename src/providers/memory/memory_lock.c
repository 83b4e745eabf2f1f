/*
 * The in-memory provider's per-key lock table, the counterpart of RocksDB
 * TransactionDB's point lock manager: exclusive, re-entrant per owner, with
 * a bounded wait and no deadlock detection (a cycle ends when a waiter's
 * timeout expires).
 *
 * Invariants: a key has at most one entry, and an entry exists exactly while
 * some owner holds the lock; each entry is on its owner's held list and in
 * one hash bucket; both are changed only under `mu`. Waiters sleep on one
 * condition variable, broadcast on every release, and re-check their key,
 * so a wake-up is never lost and spurious ones are harmless. The table never
 * touches the store's rwlock, and nobody holding `mu` waits for it, so a
 * caller holding the rwlock may try a lock without waiting (timeout 0; the
 * range delete does) and lock order between the two cannot invert.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "orbit/provider.h"
#include "base/base.h"
#include "providers/memory/memory_int.h"

struct mem_lock {
    mem_lock *bucket_next;
    mem_lock *owner_next;
    const mem_lock_owner *owner;
    uint64_t hash;
    size_t klen;
    uint8_t key[];
};

#define INITIAL_BUCKETS 64

int orbit__mem_locks_init(mem_locks *L)
{
    memset(L, 0, sizeof *L);
    L->buckets = orbit__mem_malloc(INITIAL_BUCKETS * sizeof *L->buckets);
    if (!L->buckets)
        return ORBIT_ENOMEM;
    memset(L->buckets, 0, INITIAL_BUCKETS * sizeof *L->buckets);
    L->nbuckets = INITIAL_BUCKETS;

    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        goto fail_buckets;
    /* Deadlines are monotonic so a wall-clock step neither cuts a wait
     * short nor stretches it. */
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&L->released, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        goto fail_buckets;
    }
    pthread_condattr_destroy(&ca);
    if (pthread_mutex_init(&L->mu, NULL) != 0) {
        pthread_cond_destroy(&L->released);
        goto fail_buckets;
    }
    return ORBIT_OK;

fail_buckets:
    free(L->buckets);
    L->buckets = NULL;
    return orbit_error_set(ORBIT_EINTERNAL, "memory: cannot create the lock table's mutex");
}

void orbit__mem_locks_destroy(mem_locks *L)
{
    if (!L->buckets)
        return;
    for (size_t i = 0; i < L->nbuckets; i++) {
        mem_lock *e = L->buckets[i];
        while (e) {
            mem_lock *nx = e->bucket_next;
            free(e);
            e = nx;
        }
    }
    free(L->buckets);
    L->buckets = NULL;
    pthread_cond_destroy(&L->released);
    pthread_mutex_destroy(&L->mu);
}

static mem_lock *find(const mem_locks *L, uint64_t h, const uint8_t *k, size_t kl)
{
    for (mem_lock *e = L->buckets[h & (L->nbuckets - 1)]; e; e = e->bucket_next)
        if (e->hash == h && e->klen == kl && memcmp(e->key, k, kl) == 0)
            return e;
    return NULL;
}

/* Doubling keeps chains short for transactions that lock many keys; if the
 * larger array cannot be had the table keeps working, only slower. */
static void maybe_grow(mem_locks *L)
{
    if (L->count <= 2 * L->nbuckets || L->nbuckets > SIZE_MAX / 2 / sizeof *L->buckets)
        return;
    size_t nb = L->nbuckets * 2;
    mem_lock **b = orbit__mem_malloc(nb * sizeof *b);
    if (!b)
        return;
    memset(b, 0, nb * sizeof *b);
    for (size_t i = 0; i < L->nbuckets; i++) {
        mem_lock *e = L->buckets[i];
        while (e) {
            mem_lock *nx = e->bucket_next;
            e->bucket_next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = nx;
        }
    }
    free(L->buckets);
    L->buckets = b;
    L->nbuckets = nb;
}

static void unlink_bucket(mem_locks *L, mem_lock *e)
{
    mem_lock **pp = &L->buckets[e->hash & (L->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->bucket_next;
    *pp = e->bucket_next;
    L->count--;
}

/* now + ms on the monotonic clock, saturating far beyond any real wait. */
static struct timespec deadline_after(uint64_t ms)
{
    const uint64_t cap_ms = (uint64_t)100 * 365 * 24 * 3600 * 1000;
    if (ms > cap_ms)
        ms = cap_ms;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int orbit__mem_lock_acquire(mem_locks *L, mem_lock_owner *owner,
                            const uint8_t *k, size_t kl, uint64_t timeout_ms,
                            int *fresh)
{
    uint64_t h = orbit__hash64(k, kl);
    struct timespec deadline;
    int have_deadline = 0, timed_out = 0;
    int rc = ORBIT_EBUSY;

    pthread_mutex_lock(&L->mu);
    for (;;) {
        mem_lock *e = find(L, h, k, kl);
        if (!e) {
            if (kl > SIZE_MAX - sizeof *e) {
                rc = ORBIT_ENOMEM;
                break;
            }
            e = orbit__mem_malloc(sizeof *e + kl);
            if (!e) {
                rc = ORBIT_ENOMEM;
                break;
            }
            e->owner = owner;
            e->hash = h;
            e->klen = kl;
            memcpy(e->key, k, kl);
            e->bucket_next = L->buckets[h & (L->nbuckets - 1)];
            L->buckets[h & (L->nbuckets - 1)] = e;
            e->owner_next = owner->held;
            owner->held = e;
            L->count++;
            maybe_grow(L);
            if (fresh)
                *fresh = 1;
            rc = ORBIT_OK;
            break;
        }
        if (e->owner == owner) {
            if (fresh)
                *fresh = 0;
            rc = ORBIT_OK;
            break;
        }
        if (timeout_ms == 0 || timed_out)
            break;
        if (!have_deadline) {
            deadline = deadline_after(timeout_ms);
            have_deadline = 1;
        }
        /* After a timeout look once more: the holder may have released
         * between the deadline and our wake-up. */
        if (pthread_cond_timedwait(&L->released, &L->mu, &deadline) == ETIMEDOUT)
            timed_out = 1;
    }
    pthread_mutex_unlock(&L->mu);
    return rc;
}

void orbit__mem_lock_release_first(mem_locks *L, mem_lock_owner *owner)
{
    pthread_mutex_lock(&L->mu);
    mem_lock *e = owner->held;
    if (e) {
        owner->held = e->owner_next;
        unlink_bucket(L, e);
        free(e);
        pthread_cond_broadcast(&L->released);
    }
    pthread_mutex_unlock(&L->mu);
}

void orbit__mem_lock_release_all(mem_locks *L, mem_lock_owner *owner)
{
    if (!owner->held)
        return;
    pthread_mutex_lock(&L->mu);
    mem_lock *e = owner->held;
    while (e) {
        mem_lock *nx = e->owner_next;
        unlink_bucket(L, e);
        free(e);
        e = nx;
    }
    owner->held = NULL;
    pthread_cond_broadcast(&L->released);
    pthread_mutex_unlock(&L->mu);
}
