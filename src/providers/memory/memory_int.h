/*
 * Private to the in-memory provider (src/providers/memory/memory*.c): the ordered map it
 * keeps committed data and transaction write sets in, the per-key lock table
 * of pessimistic transactions, and two hooks its unit test uses.
 *
 * The map is a skip list of key nodes. A node of the committed map holds a
 * version chain, newest first, with strictly decreasing sequence numbers; a
 * node of a write set holds at most one version (seq unused). Nothing here
 * locks: memory.c guards the committed map with its rwlock, and a write set
 * belongs to its transaction's thread.
 */
#ifndef ORBIT_KV_MEMORY_INT_H
#define ORBIT_KV_MEMORY_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define MEM_MAX_LEVEL 24

/* The largest value the provider stores: the same as the rocksdb
 * provider's (ORBIT_RDB_MAX_VALUE), so tests that use memory: as an oracle
 * and programs that default to rocksdb: meet one limit. 64 MiB for the
 * user's value plus 64 KiB for the record envelope the data models wrap it
 * in. Keys are unlimited, as in rocksdb. */
#define ORBIT_MEMORY_MAX_VALUE (((size_t)64 << 20) + ((size_t)64 << 10))

typedef struct mem_ver {
    struct mem_ver *next; /* the next older version */
    uint64_t seq;         /* commit sequence number (0 in a write set) */
    size_t vlen;
    int tomb;             /* a delete: the key is absent at this version */
    uint8_t val[];
} mem_ver;

typedef struct mem_node {
    mem_ver *chain;                    /* newest first; NULL only in a write set */
    struct mem_node *prev;             /* level-0 predecessor (the head for the first) */
    struct mem_node *gc_prev, *gc_next; /* committed map: the list of nodes with garbage */
    uint64_t aux;                      /* write set: seq a tracked key is validated against */
    size_t klen;
    uint8_t *key;                      /* points into the node's own allocation */
    unsigned char height;
    unsigned char in_gc;               /* on the store's garbage list */
    unsigned char tracked;             /* write set: checked at optimistic commit */
    struct mem_node *next[];
} mem_node;

typedef struct mem_list {
    mem_node *head;  /* sentinel with MEM_MAX_LEVEL links, never holds a key */
    int level;       /* levels in use, >= 1 */
    uint64_t rng;    /* node heights; advanced only by writers */
    uint64_t gen;    /* bumped whenever a node is unlinked, so a walker holding a
                      * node pointer across an unlock knows to re-seek */
    size_t count;
} mem_list;


/* Allocation for everything the provider owns, so a test can make the n-th
 * allocation from now (and every later one) fail. */
void *orbit__mem_malloc(size_t n);
void *orbit__mem_realloc(void *p, size_t n);

/* Test hook: after n more successful provider allocations, fail all of them
 * until called again; n < 0 turns failures off. Process-wide. */
void orbit__memory_fail_alloc_after(long n);

/* Test hook: key nodes and versions held by the committed maps of all open
 * memory stores, process-wide (exact when no write is in flight). */
void orbit__memory_counts(uint64_t *keys, uint64_t *versions);

/* A version holding a copy of v[0..vl); NULL on allocation failure. */
mem_ver *orbit__mem_ver_new(const uint8_t *v, size_t vl, int tomb);
/* Frees a whole chain starting at v. */
void orbit__mem_ver_free_chain(mem_ver *v);

/* 0 or ORBIT_ENOMEM. */
int orbit__msl_init(mem_list *l, uint64_t seed);
/* Frees every node, every version and the sentinel. */
void orbit__msl_release(mem_list *l);

mem_node *orbit__msl_find(const mem_list *l, const uint8_t *k, size_t kl);
mem_node *orbit__msl_first(const mem_list *l);
mem_node *orbit__msl_last(const mem_list *l);
mem_node *orbit__msl_ge(const mem_list *l, const uint8_t *k, size_t kl);
mem_node *orbit__msl_gt(const mem_list *l, const uint8_t *k, size_t kl);
mem_node *orbit__msl_lt(const mem_list *l, const uint8_t *k, size_t kl);
/* Neighbours in key order; NULL past either end. */
mem_node *orbit__msl_next(const mem_list *l, const mem_node *n);
mem_node *orbit__msl_prev(const mem_list *l, const mem_node *n);

/* A detached node for key k (chain NULL); NULL on allocation failure. Draws
 * its height from l's generator, so callers hold l's write side. */
mem_node *orbit__msl_node_new(mem_list *l, const uint8_t *k, size_t kl);
/* Link a detached node whose key is not in l yet. Cannot fail. */
void orbit__msl_link(mem_list *l, mem_node *n);
/* Unlink n (it stays allocated; free it with orbit__msl_node_free). */
void orbit__msl_unlink(mem_list *l, mem_node *n);
/* Frees n and its version chain. */
void orbit__msl_node_free(mem_node *n);

/* ---- per-key locks (pessimistic transactions) ------------------------ */

typedef struct mem_lock mem_lock;

/* Whoever holds locks: a transaction, or one plain write for its duration.
 * The held list is touched only by the owner's thread, under the table's
 * mutex. */
typedef struct mem_lock_owner {
    mem_lock *held; /* most recently acquired first */
} mem_lock_owner;

typedef struct mem_locks {
    pthread_mutex_t mu;
    pthread_cond_t released; /* broadcast whenever any lock is released */
    mem_lock **buckets;
    size_t nbuckets;         /* a power of two */
    size_t count;
} mem_locks;

/* 0, ORBIT_ENOMEM, or another pthread failure as ORBIT_EINTERNAL. */
int orbit__mem_locks_init(mem_locks *L);
/* Every lock must have been released. */
void orbit__mem_locks_destroy(mem_locks *L);

/*
 * Take the exclusive lock on key k for owner, waiting up to timeout_ms for
 * another owner to release it (0: do not wait). Re-entrant: a lock the
 * owner holds already succeeds at once with *fresh = 0; a newly taken one
 * sets *fresh = 1 and sits first on owner->held. Returns 0, ORBIT_EBUSY
 * (held by another owner past the timeout; no detail set) or ORBIT_ENOMEM.
 */
int orbit__mem_lock_acquire(mem_locks *L, mem_lock_owner *owner,
                            const uint8_t *k, size_t kl, uint64_t timeout_ms,
                            int *fresh);
/* Release the owner's most recently acquired lock. */
void orbit__mem_lock_release_first(mem_locks *L, mem_lock_owner *owner);
/* Release every lock the owner holds. */
void orbit__mem_lock_release_all(mem_locks *L, mem_lock_owner *owner);

#endif
