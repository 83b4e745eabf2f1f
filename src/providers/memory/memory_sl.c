/*
 * The in-memory provider's ordered map: a skip list of key nodes (Pugh's
 * design, p = 1/4), with a back link on level 0 so reverse scans step in
 * constant time, plus the provider's allocation hook.
 *
 * Invariants: level-0 links visit keys in strictly increasing unsigned
 * byte-wise order; every node appears exactly at levels 0..height-1; the
 * first node's prev is the sentinel head. The list never locks and never
 * frees a node on its own: the committed map's owner (memory.c) decides,
 * under its write lock, when an unlinked node may be freed, and bumps no
 * pointer a reader could still follow because readers never keep one across
 * an unlock without checking `gen`.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/error.h"
#include "providers/memory/memory_int.h"

/* ---- allocation ------------------------------------------------------- */

/* -1: never fail; n >= 0: allow n more allocations, then fail. */
static _Atomic long fail_countdown = -1;

static int alloc_should_fail(void)
{
    long c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    while (c >= 0) {
        if (c == 0)
            return 1;
        if (atomic_compare_exchange_weak(&fail_countdown, &c, c - 1))
            return 0;
    }
    return 0;
}

void orbit__memory_fail_alloc_after(long n)
{
    atomic_store(&fail_countdown, n < 0 ? -1 : n);
}

void *orbit__mem_malloc(size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *orbit__mem_realloc(void *p, size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

/* ---- keys and versions ------------------------------------------------ */

mem_ver *orbit__mem_ver_new(const uint8_t *v, size_t vl, int tomb)
{
    if (vl > SIZE_MAX - sizeof(mem_ver))
        return NULL;
    mem_ver *x = orbit__mem_malloc(sizeof *x + vl);
    if (!x)
        return NULL;
    x->next = NULL;
    x->seq = 0;
    x->vlen = vl;
    x->tomb = tomb;
    if (vl)
        memcpy(x->val, v, vl);
    return x;
}

void orbit__mem_ver_free_chain(mem_ver *v)
{
    while (v) {
        mem_ver *older = v->next;
        free(v);
        v = older;
    }
}

/* ---- the skip list ---------------------------------------------------- */

static int node_cmp(const mem_node *n, const uint8_t *k, size_t kl)
{
    return orbit__key_cmp(n->key, n->klen, k, kl);
}

int orbit__msl_init(mem_list *l, uint64_t seed)
{
    size_t sz = sizeof(mem_node) + MEM_MAX_LEVEL * sizeof(mem_node *);
    mem_node *h = orbit__mem_malloc(sz);
    if (!h)
        return ORBIT_ENOMEM;
    memset(h, 0, sz);
    h->height = MEM_MAX_LEVEL;
    l->head = h;
    l->level = 1;
    l->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
    l->gen = 0;
    l->count = 0;
    return ORBIT_OK;
}

void orbit__msl_release(mem_list *l)
{
    if (!l->head)
        return;
    mem_node *n = l->head->next[0];
    while (n) {
        mem_node *nx = n->next[0];
        orbit__msl_node_free(n);
        n = nx;
    }
    free(l->head);
    l->head = NULL;
    l->count = 0;
}

/* The last node with key < k at each level into update[] (if given);
 * returns the level-0 one, which may be the head. */
static mem_node *search_lt(const mem_list *l, const uint8_t *k, size_t kl,
                           mem_node **update)
{
    mem_node *x = l->head;
    for (int i = l->level - 1; i >= 0; i--) {
        while (x->next[i] && node_cmp(x->next[i], k, kl) < 0)
            x = x->next[i];
        if (update)
            update[i] = x;
    }
    return x;
}

mem_node *orbit__msl_ge(const mem_list *l, const uint8_t *k, size_t kl)
{
    return search_lt(l, k, kl, NULL)->next[0];
}

mem_node *orbit__msl_find(const mem_list *l, const uint8_t *k, size_t kl)
{
    mem_node *n = orbit__msl_ge(l, k, kl);
    return n && node_cmp(n, k, kl) == 0 ? n : NULL;
}

mem_node *orbit__msl_gt(const mem_list *l, const uint8_t *k, size_t kl)
{
    mem_node *n = orbit__msl_ge(l, k, kl);
    if (n && node_cmp(n, k, kl) == 0)
        n = n->next[0];
    return n;
}

mem_node *orbit__msl_lt(const mem_list *l, const uint8_t *k, size_t kl)
{
    mem_node *n = search_lt(l, k, kl, NULL);
    return n == l->head ? NULL : n;
}

mem_node *orbit__msl_first(const mem_list *l)
{
    return l->head->next[0];
}

mem_node *orbit__msl_last(const mem_list *l)
{
    mem_node *x = l->head;
    for (int i = l->level - 1; i >= 0; i--)
        while (x->next[i])
            x = x->next[i];
    return x == l->head ? NULL : x;
}

mem_node *orbit__msl_next(const mem_list *l, const mem_node *n)
{
    (void)l;
    return n->next[0];
}

mem_node *orbit__msl_prev(const mem_list *l, const mem_node *n)
{
    return n->prev == l->head ? NULL : n->prev;
}

static int random_height(mem_list *l)
{
    int h = 1;
    for (;;) {
        /* xorshift64* */
        l->rng ^= l->rng >> 12;
        l->rng ^= l->rng << 25;
        l->rng ^= l->rng >> 27;
        uint64_t r = l->rng * 0x2545f4914f6cdd1dull;
        for (int bit = 62; bit >= 0; bit -= 2) {
            if (h >= MEM_MAX_LEVEL || ((r >> bit) & 3) != 0)
                return h;
            h++;
        }
    }
}

mem_node *orbit__msl_node_new(mem_list *l, const uint8_t *k, size_t kl)
{
    int h = random_height(l);
    size_t links = (size_t)h * sizeof(mem_node *);
    if (kl > SIZE_MAX - sizeof(mem_node) - links)
        return NULL;
    mem_node *n = orbit__mem_malloc(sizeof *n + links + kl);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n + links);
    n->height = (unsigned char)h;
    n->key = (uint8_t *)&n->next[h];
    n->klen = kl;
    memcpy(n->key, k, kl);
    return n;
}

void orbit__msl_link(mem_list *l, mem_node *n)
{
    mem_node *update[MEM_MAX_LEVEL];
    search_lt(l, n->key, n->klen, update);
    if (n->height > l->level) {
        for (int i = l->level; i < n->height; i++)
            update[i] = l->head;
        l->level = n->height;
    }
    for (int i = 0; i < n->height; i++) {
        n->next[i] = update[i]->next[i];
        update[i]->next[i] = n;
    }
    n->prev = update[0];
    if (n->next[0])
        n->next[0]->prev = n;
    l->count++;
}

void orbit__msl_unlink(mem_list *l, mem_node *n)
{
    mem_node *update[MEM_MAX_LEVEL];
    search_lt(l, n->key, n->klen, update);
    for (int i = 0; i < n->height && i < l->level; i++)
        if (update[i]->next[i] == n)
            update[i]->next[i] = n->next[i];
    if (n->next[0])
        n->next[0]->prev = n->prev;
    while (l->level > 1 && !l->head->next[l->level - 1])
        l->level--;
    l->count--;
    l->gen++;
}

void orbit__msl_node_free(mem_node *n)
{
    if (!n)
        return;
    orbit__mem_ver_free_chain(n->chain);
    free(n);
}
