/*
 * The graph model's reads (orbit/graph.h): neighbours, k-hop traversal and
 * shortest paths, and the result lists they fill.
 *
 * Every read goes through the paged adjacency lists only (graph_adj.c):
 * neighbours read the node's own heads (and pages) and nothing else; a
 * traversal reads each hop with one multi-get of the frontier's heads and
 * at most one of their pages; BFS does the same per level; Dijkstra reads,
 * each time the node it is about to settle is unread, that node and every
 * other unread node in its queue at once (bounded by DIJKSTRA_BATCH), so
 * its calls grow with the number of hop levels it explores, not with the
 * nodes it settles. Nodes seen are kept in a hash table over their ids
 * (FNV-1a, open addressing), ids in one arena by offset.
 *
 * Layer: src/model, on graph.c's reader and graph_adj.c's lists (graph_int.h).
 */
#include <stdlib.h>
#include <string.h>

#include "graph_int.h"
#include "orbit/provider.h"

#define DIJKSTRA_BATCH 512
#define NO_REL SIZE_MAX

/* ---- result lists ---------------------------------------------------- */

void orbit_graph_list_init(orbit_graph_list *l) { memset(l, 0, sizeof *l); }

void orbit_graph_list_release(orbit_graph_list *l)
{
    if (!l)
        return;
    free(l->items);
    orbit_buf_release(&l->arena);
    memset(l, 0, sizeof *l);
}

static void list_reset(orbit_graph_list *l)
{
    l->n = 0;
    l->cost = 0;
    l->arena.len = 0;
}

/* Items hold arena offsets (cast through uintptr_t) until list_finish. */
static int list_push(orbit_graph_list *l, const uint8_t *id, size_t idlen, const uint8_t *rel,
                     size_t rlen, double w, orbit_graph_dir dir, unsigned depth)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        orbit_graph_item *it = realloc(l->items, cap * sizeof *it);
        if (!it)
            return ORBIT_ENOMEM;
        l->items = it;
        l->cap = cap;
    }
    orbit_graph_item *it = &l->items[l->n];
    memset(it, 0, sizeof *it);
    it->id = (const uint8_t *)(uintptr_t)l->arena.len;
    it->id_len = idlen;
    int rc = orbit_buf_append(&l->arena, id, idlen);
    if (rc)
        return rc;
    if (rel) {
        it->rel = (const char *)(uintptr_t)l->arena.len;
        static const uint8_t nul = 0;
        if ((rc = orbit_buf_append(&l->arena, rel, rlen)) ||
            (rc = orbit_buf_append(&l->arena, &nul, 1)))
            return rc;
    } else {
        it->rel = (const char *)(uintptr_t)NO_REL;
    }
    it->weight = rel ? w : 0;
    it->dir = dir;
    it->depth = depth;
    l->n++;
    return ORBIT_OK;
}

static void list_finish(orbit_graph_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        orbit_graph_item *it = &l->items[i];
        it->id = l->arena.data + (uintptr_t)it->id;
        uintptr_t r = (uintptr_t)it->rel;
        it->rel = r == (uintptr_t)NO_REL ? NULL : (const char *)l->arena.data + r;
    }
}

/* ---- argument checks ------------------------------------------------- */

static int read_args(const orbit_graph *g, const void *id, size_t idlen, orbit_graph_dir dir,
                     const char *rel, const void *out)
{
    if (!g || !out)
        return orbit_error_set(ORBIT_EINVAL, "graph read: NULL %s", g ? "result" : "graph");
    if (!id || idlen == 0 || idlen > ORBIT_GRAPH_ID_MAX)
        return orbit_error_set(ORBIT_EINVAL, "graph %s: node id of %zu bytes (1 to %d)",
                               g->name, id ? idlen : 0, ORBIT_GRAPH_ID_MAX);
    if ((unsigned)dir > ORBIT_GRAPH_BOTH)
        return orbit_error_set(ORBIT_EINVAL, "graph %s: unknown direction %d", g->name, (int)dir);
    if (rel && (!*rel || strlen(rel) > ORBIT_GRAPH_REL_MAX))
        return orbit_error_set(ORBIT_EINVAL, "graph %s: relation of %zu bytes (1 to %d)",
                               g->name, strlen(rel), ORBIT_GRAPH_REL_MAX);
    return ORBIT_OK;
}

static int fail_tx(orbit_tx *tx, int rc)
{
    if (tx && rc < 0 && rc != ORBIT_EINVAL)
        orbit_tx_fail(tx, rc);
    return rc;
}

/* ---- neighbours ------------------------------------------------------ */

int orbit_graph_neighbors(orbit_tx *tx, const orbit_graph *g, const void *id, size_t idlen,
                          orbit_graph_dir dir, const char *rel, orbit_graph_list *out)
{
    int rc = read_args(g, id, idlen, dir, rel, out);
    if (rc)
        return rc;
    list_reset(out);
    gr_reader r;
    gr_alist ls[2];
    size_t nk = 0;
    orbit_graph_dir dirs[2];
    if (dir != ORBIT_GRAPH_IN)
        dirs[nk++] = ORBIT_GRAPH_OUT;
    if (dir != ORBIT_GRAPH_OUT)
        dirs[nk++] = ORBIT_GRAPH_IN;
    size_t init = 0;
    int have_r = 0;
    for (; init < nk; init++)
        if ((rc = orbit__gr_alist_init(&ls[init], g, dirs[init], id, idlen)))
            goto out;
    if ((rc = orbit__gr_reader_open(&r, tx, g, 0)))
        goto out;
    have_r = 1;
    if ((rc = orbit__gr_lists_read(&r, ls, nk, rel)))
        goto out;
    for (size_t i = 0; i < nk && !rc; i++) {
        const gr_adj *a = orbit__gr_alist_entries(&ls[i], &rc);
        if (rc)
            break;
        size_t lo, hi;
        orbit__gr_adj_rel_range(a, rel, &lo, &hi);
        for (size_t j = lo; j < hi && !rc; j++)
            rc = list_push(out, a->e[j].other, a->e[j].other_len, a->e[j].rel, a->e[j].rel_len,
                           a->e[j].weight, dirs[i], 1);
    }
out:
    if (have_r)
        orbit__reader_close(&r);
    for (size_t i = 0; i < init; i++)
        orbit__gr_alist_release(&ls[i]);
    if (rc)
        list_reset(out);
    list_finish(out);
    return fail_tx(tx, rc);
}

/* ---- the table of nodes seen ----------------------------------------- */

typedef struct gnode {
    size_t off, len;        /* id in the table's arena */
    size_t parent;          /* path: the node it was reached from */
    size_t rel_off, rel_len; /* path: the edge's relation (in the arena) */
    double w;               /* path: the edge's weight */
    orbit_graph_dir dir;    /* path: how the edge was followed */
    unsigned depth;
    double dist;            /* Dijkstra */
    int read, queued, settled;
    size_t bat;             /* Dijkstra: the batch its lists were read in */
    size_t li[2];           /* and their indexes there (out, in) */
} gnode;

typedef struct gtab {
    gnode *v;
    size_t n, cap;
    size_t *slots; /* index + 1, 0 empty */
    size_t nslots;
    orbit_buf arena;
} gtab;

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void gtab_free(gtab *t)
{
    free(t->v);
    free(t->slots);
    orbit_buf_release(&t->arena);
    memset(t, 0, sizeof *t);
}

static const uint8_t *gid(const gtab *t, size_t i) { return t->arena.data + t->v[i].off; }

static int gtab_grow(gtab *t)
{
    size_t ns = t->nslots ? t->nslots * 2 : 64;
    size_t *s = calloc(ns, sizeof *s);
    if (!s)
        return ORBIT_ENOMEM;
    for (size_t i = 0; i < t->n; i++) {
        size_t h = (size_t)fnv(gid(t, i), t->v[i].len) & (ns - 1);
        while (s[h])
            h = (h + 1) & (ns - 1);
        s[h] = i + 1;
    }
    free(t->slots);
    t->slots = s;
    t->nslots = ns;
    return ORBIT_OK;
}

/* The index of id, added (zeroed, *added = 1) if new. */
static int gtab_get(gtab *t, const uint8_t *id, size_t len, size_t *idx, int *added)
{
    *added = 0;
    if ((t->n + 1) * 2 > t->nslots) {
        int rc = gtab_grow(t);
        if (rc)
            return rc;
    }
    size_t h = (size_t)fnv(id, len) & (t->nslots - 1);
    while (t->slots[h]) {
        size_t i = t->slots[h] - 1;
        if (t->v[i].len == len && memcmp(gid(t, i), id, len) == 0) {
            *idx = i;
            return ORBIT_OK;
        }
        h = (h + 1) & (t->nslots - 1);
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        gnode *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return ORBIT_ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    gnode *nd = &t->v[t->n];
    memset(nd, 0, sizeof *nd);
    nd->off = t->arena.len;
    nd->len = len;
    int rc = orbit_buf_append(&t->arena, id, len);
    if (rc)
        return rc;
    t->slots[h] = t->n + 1;
    *idx = t->n++;
    *added = 1;
    return ORBIT_OK;
}

static int gtab_set_rel(gtab *t, size_t i, const uint8_t *rel, size_t rlen)
{
    t->v[i].rel_off = t->arena.len;
    t->v[i].rel_len = rlen;
    return orbit_buf_append(&t->arena, rel, rlen);
}

/* ---- one hop: read the lists of a set of nodes ------------------------ */

typedef struct hop {
    gr_alist *ls;
    size_t *node; /* the node of each list */
    size_t n, cap;
} hop;

static void hop_reset(hop *h)
{
    for (size_t i = 0; i < h->n; i++)
        orbit__gr_alist_release(&h->ls[i]);
    h->n = 0;
}

static void hop_free(hop *h)
{
    hop_reset(h);
    free(h->ls);
    free(h->node);
    memset(h, 0, sizeof *h);
}

static int hop_add(hop *h, const orbit_graph *g, const gtab *t, size_t node, orbit_graph_dir d)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        gr_alist *ls = realloc(h->ls, cap * sizeof *ls);
        if (ls)
            h->ls = ls;
        size_t *nd = realloc(h->node, cap * sizeof *nd);
        if (nd)
            h->node = nd;
        if (!ls || !nd)
            return ORBIT_ENOMEM;
        h->cap = cap;
    }
    int rc = orbit__gr_alist_init(&h->ls[h->n], g, d, gid(t, node), t->v[node].len);
    if (rc)
        return rc;
    h->node[h->n++] = node;
    return ORBIT_OK;
}

/* One multi-get of the heads, at most one of their pages (for rel). */
static int hop_read(hop *h, gr_reader *r, const char *rel)
{
    return orbit__gr_lists_read(r, h->ls, h->n, rel);
}

/* Sort node indexes by id bytes (a merge sort: qsort has no context
 * argument, and reads run on many threads). */
static void sort_nodes(const gtab *t, size_t *v, size_t n, size_t *tmp)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    sort_nodes(t, v, h, tmp);
    sort_nodes(t, v + h, n - h, tmp);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        if (orbit__gr_cmp(gid(t, v[i]), t->v[v[i]].len, gid(t, v[j]), t->v[v[j]].len) <= 0)
            tmp[k++] = v[i++];
        else
            tmp[k++] = v[j++];
    }
    while (i < h)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

typedef struct idxvec {
    size_t *v;
    size_t n, cap;
} idxvec;

static int iv_push(idxvec *iv, size_t x)
{
    if (iv->n == iv->cap) {
        size_t cap = iv->cap ? iv->cap * 2 : 32;
        size_t *v = realloc(iv->v, cap * sizeof *v);
        if (!v)
            return ORBIT_ENOMEM;
        iv->v = v;
        iv->cap = cap;
    }
    iv->v[iv->n++] = x;
    return ORBIT_OK;
}

static void add_dirs(orbit_graph_dir dir, orbit_graph_dir dirs[2], size_t *nd)
{
    *nd = 0;
    if (dir != ORBIT_GRAPH_IN)
        dirs[(*nd)++] = ORBIT_GRAPH_OUT;
    if (dir != ORBIT_GRAPH_OUT)
        dirs[(*nd)++] = ORBIT_GRAPH_IN;
}

/* ---- k-hop traversal ------------------------------------------------- */

int orbit_graph_traverse(orbit_tx *tx, const orbit_graph *g, const void *id, size_t idlen,
                         const orbit_graph_hop_opts *opts, orbit_graph_list *out)
{
    orbit_graph_hop_opts o = {0};
    if (opts)
        o = *opts;
    int rc = read_args(g, id, idlen, o.dir, o.rel, out);
    if (rc)
        return rc;
    unsigned depth = o.depth ? o.depth : 1;
    list_reset(out);
    gr_reader r;
    int have_r = 0;
    gtab t = {0};
    hop h = {0};
    idxvec front = {0}, next = {0}, tmp = {0};
    orbit_graph_dir dirs[2];
    size_t nd;
    add_dirs(o.dir, dirs, &nd);
    size_t start;
    int added;
    if ((rc = gtab_get(&t, id, idlen, &start, &added)) || (rc = iv_push(&front, start)))
        goto out;
    if ((rc = orbit__gr_reader_open(&r, tx, g, depth > 1)))
        goto out;
    have_r = 1;
    int full = 0;
    for (unsigned d = 1; d <= depth && front.n && !full; d++) {
        hop_reset(&h);
        for (size_t i = 0; i < front.n; i++)
            for (size_t k = 0; k < nd; k++)
                if ((rc = hop_add(&h, g, &t, front.v[i], dirs[k])))
                    goto out;
        if ((rc = hop_read(&h, &r, o.rel)))
            goto out;
        next.n = 0;
        for (size_t i = 0; i < h.n; i++) {
            const gr_adj *a = orbit__gr_alist_entries(&h.ls[i], &rc);
            if (rc)
                goto out;
            size_t lo, hi;
            orbit__gr_adj_rel_range(a, o.rel, &lo, &hi);
            for (size_t j = lo; j < hi; j++) {
                size_t x;
                if ((rc = gtab_get(&t, a->e[j].other, a->e[j].other_len, &x, &added)))
                    goto out;
                if (!added)
                    continue;
                t.v[x].depth = d;
                if ((rc = iv_push(&next, x)))
                    goto out;
            }
        }
        if (next.n > tmp.cap) {
            size_t *v = realloc(tmp.v, next.n * sizeof *v);
            if (!v) {
                rc = ORBIT_ENOMEM;
                goto out;
            }
            tmp.v = v;
            tmp.cap = next.n;
        }
        sort_nodes(&t, next.v, next.n, tmp.v);
        for (size_t i = 0; i < next.n; i++) {
            if (o.limit && out->n >= o.limit) {
                full = 1;
                break;
            }
            size_t x = next.v[i];
            if ((rc = list_push(out, gid(&t, x), t.v[x].len, NULL, 0, 0, o.dir, d)))
                goto out;
        }
        idxvec sw = front;
        front = next;
        next = sw;
    }
out:
    if (have_r)
        orbit__reader_close(&r);
    gtab_free(&t);
    hop_free(&h);
    free(front.v);
    free(next.v);
    free(tmp.v);
    if (rc)
        list_reset(out);
    list_finish(out);
    return fail_tx(tx, rc);
}

/* ---- shortest paths -------------------------------------------------- */

/* Fill out with the path ending at node `to` (parents up to the start). */
static int path_out(const gtab *t, size_t to, size_t start, orbit_graph_list *out, double cost)
{
    size_t len = 1;
    for (size_t x = to; x != start; x = t->v[x].parent)
        len++;
    size_t *seq = malloc(len * sizeof *seq);
    if (!seq)
        return ORBIT_ENOMEM;
    size_t i = len;
    for (size_t x = to;; x = t->v[x].parent) {
        seq[--i] = x;
        if (x == start)
            break;
    }
    int rc = ORBIT_OK;
    for (i = 0; i < len && !rc; i++) {
        const gnode *n = &t->v[seq[i]];
        if (i == 0)
            rc = list_push(out, gid(t, seq[i]), n->len, NULL, 0, 0, ORBIT_GRAPH_OUT, 0);
        else
            rc = list_push(out, gid(t, seq[i]), n->len, t->arena.data + n->rel_off, n->rel_len,
                           n->w, n->dir, (unsigned)i);
    }
    free(seq);
    out->cost = cost;
    return rc;
}

/* Record that x was reached from p over entry e followed in direction d. */
static int reach(gtab *t, size_t x, size_t p, const gr_adj_entry *e, orbit_graph_dir d)
{
    t->v[x].parent = p;
    t->v[x].w = e->weight;
    t->v[x].dir = d;
    return gtab_set_rel(t, x, e->rel, e->rel_len);
}

static int bfs_path(gr_reader *r, const orbit_graph *g, gtab *t, size_t start, const uint8_t *to,
                    size_t tlen, const orbit_graph_path_opts *o, orbit_graph_list *out)
{
    orbit_graph_dir dirs[2];
    size_t nd;
    add_dirs(o->dir, dirs, &nd);
    hop h = {0};
    idxvec front = {0}, next = {0};
    int rc = iv_push(&front, start);
    int found = 0;
    for (unsigned d = 1; !rc && front.n && !found && (!o->max_depth || d <= o->max_depth); d++) {
        hop_reset(&h);
        for (size_t i = 0; i < front.n && !rc; i++)
            for (size_t k = 0; k < nd && !rc; k++)
                rc = hop_add(&h, g, t, front.v[i], dirs[k]);
        if (rc || (rc = hop_read(&h, r, o->rel)))
            break;
        next.n = 0;
        for (size_t i = 0; i < h.n && !rc && !found; i++) {
            const gr_adj *a = orbit__gr_alist_entries(&h.ls[i], &rc);
            if (rc)
                break;
            size_t lo, hi;
            orbit__gr_adj_rel_range(a, o->rel, &lo, &hi);
            for (size_t j = lo; j < hi; j++) {
                size_t x;
                int added;
                if ((rc = gtab_get(t, a->e[j].other, a->e[j].other_len, &x, &added)))
                    break;
                if (!added)
                    continue;
                t->v[x].depth = d;
                if ((rc = reach(t, x, h.node[i], &a->e[j], h.ls[i].dir)) ||
                    (rc = iv_push(&next, x)))
                    break;
                if (orbit__gr_cmp(a->e[j].other, a->e[j].other_len, to, tlen) == 0) {
                    rc = path_out(t, x, start, out, (double)d);
                    found = 1;
                    break;
                }
            }
        }
        idxvec sw = front;
        front = next;
        next = sw;
    }
    hop_free(&h);
    free(front.v);
    free(next.v);
    if (!rc && !found)
        rc = ORBIT_NOTFOUND;
    return rc;
}

typedef struct hent {
    double dist;
    uint64_t seq;
    size_t node;
} hent;

typedef struct heap {
    hent *v;
    size_t n, cap;
} heap;

static int hless(const hent *a, const hent *b)
{
    return a->dist < b->dist || (a->dist == b->dist && a->seq < b->seq);
}

static int heap_push(heap *h, hent e)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        hent *v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return ORBIT_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    h->v[i] = e;
    while (i && hless(&h->v[i], &h->v[(i - 1) / 2])) {
        hent tmp = h->v[i];
        h->v[i] = h->v[(i - 1) / 2];
        h->v[(i - 1) / 2] = tmp;
        i = (i - 1) / 2;
    }
    return ORBIT_OK;
}

static hent heap_pop(heap *h)
{
    hent top = h->v[0];
    h->v[0] = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && hless(&h->v[l], &h->v[m]))
            m = l;
        if (r < h->n && hless(&h->v[r], &h->v[m]))
            m = r;
        if (m == i)
            break;
        hent tmp = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = tmp;
        i = m;
    }
    return top;
}

/* The batches Dijkstra has read, kept until it ends (nodes point into
 * them). */
typedef struct batches {
    hop *v;
    size_t n, cap;
} batches;

/* Read the lists of u and of every other unread node queued (at most
 * DIJKSTRA_BATCH nodes): one multi-get of heads, at most one of pages. */
static int dijkstra_read(gr_reader *r, const orbit_graph *g, gtab *t, const heap *q, size_t u,
                         const orbit_graph_dir *dirs, size_t nd, const char *rel, batches *bs)
{
    if (bs->n == bs->cap) {
        size_t cap = bs->cap ? bs->cap * 2 : 8;
        hop *v = realloc(bs->v, cap * sizeof *v);
        if (!v)
            return ORBIT_ENOMEM;
        bs->v = v;
        bs->cap = cap;
    }
    hop *h = &bs->v[bs->n++];
    memset(h, 0, sizeof *h);
    size_t nodes = 0;
    int rc = ORBIT_OK;
    t->v[u].queued = 1;
    for (size_t k = 0; k < nd && !rc; k++)
        rc = hop_add(h, g, t, u, dirs[k]);
    nodes++;
    for (size_t i = 0; i < q->n && nodes < DIJKSTRA_BATCH && !rc; i++) {
        size_t x = q->v[i].node;
        if (t->v[x].read || t->v[x].queued || t->v[x].settled)
            continue;
        t->v[x].queued = 1;
        nodes++;
        for (size_t k = 0; k < nd && !rc; k++)
            rc = hop_add(h, g, t, x, dirs[k]);
    }
    if (!rc)
        rc = hop_read(h, r, rel);
    if (rc)
        return rc;
    for (size_t i = 0; i < h->n; i++) {
        gnode *n = &t->v[h->node[i]];
        n->bat = bs->n - 1;
        n->li[h->ls[i].dir == ORBIT_GRAPH_IN] = i;
        n->read = 1;
        n->queued = 0;
    }
    return ORBIT_OK;
}

static int dijkstra_path(gr_reader *r, const orbit_graph *g, gtab *t, size_t start,
                         const uint8_t *to, size_t tlen, const orbit_graph_path_opts *o,
                         orbit_graph_list *out)
{
    orbit_graph_dir dirs[2];
    size_t nd;
    add_dirs(o->dir, dirs, &nd);
    heap q = {0};
    batches bs = {0};
    uint64_t seq = 0;
    int found = 0;
    t->v[start].dist = 0;
    int rc = heap_push(&q, (hent){0, seq++, start});
    while (!rc && q.n && !found) {
        hent e = heap_pop(&q);
        size_t u = e.node;
        if (t->v[u].settled || e.dist > t->v[u].dist)
            continue;
        t->v[u].settled = 1;
        if (orbit__gr_cmp(gid(t, u), t->v[u].len, to, tlen) == 0) {
            rc = path_out(t, u, start, out, t->v[u].dist);
            found = 1;
            break;
        }
        if (!t->v[u].read && (rc = dijkstra_read(r, g, t, &q, u, dirs, nd, o->rel, &bs)))
            break;
        for (size_t k = 0; k < nd && !rc; k++) {
            /* The list stays put while gtab_get moves the table. */
            gr_alist *l = &bs.v[t->v[u].bat].ls[t->v[u].li[dirs[k] == ORBIT_GRAPH_IN]];
            const gr_adj *a = orbit__gr_alist_entries(l, &rc);
            size_t lo = 0, hi = 0;
            if (!rc)
                orbit__gr_adj_rel_range(a, o->rel, &lo, &hi);
            double du = t->v[u].dist;
            for (size_t j = lo; j < hi && !rc; j++) {
                size_t x;
                int added;
                if ((rc = gtab_get(t, a->e[j].other, a->e[j].other_len, &x, &added)))
                    break;
                double nd2 = du + a->e[j].weight;
                if (t->v[x].settled || (!added && nd2 >= t->v[x].dist))
                    continue;
                t->v[x].dist = nd2;
                if ((rc = reach(t, x, u, &a->e[j], dirs[k])))
                    break;
                rc = heap_push(&q, (hent){nd2, seq++, x});
            }
        }
    }
    free(q.v);
    for (size_t i = 0; i < bs.n; i++)
        hop_free(&bs.v[i]);
    free(bs.v);
    if (!rc && !found)
        rc = ORBIT_NOTFOUND;
    return rc;
}

int orbit_graph_path(orbit_tx *tx, const orbit_graph *g, const void *from, size_t flen,
                     const void *to, size_t tlen, const orbit_graph_path_opts *opts,
                     orbit_graph_list *out)
{
    orbit_graph_path_opts o = {0};
    if (opts)
        o = *opts;
    int rc = read_args(g, from, flen, o.dir, o.rel, out);
    if (!rc)
        rc = read_args(g, to, tlen, o.dir, o.rel, out);
    if (rc)
        return rc;
    list_reset(out);
    if (orbit__gr_cmp(from, flen, to, tlen) == 0) {
        rc = list_push(out, from, flen, NULL, 0, 0, ORBIT_GRAPH_OUT, 0);
        list_finish(out);
        return rc;
    }
    gr_reader r;
    gtab t = {0};
    size_t start;
    int added;
    if ((rc = gtab_get(&t, from, flen, &start, &added)))
        goto done;
    if ((rc = orbit__gr_reader_open(&r, tx, g, 1)))
        goto done;
    rc = o.weighted ? dijkstra_path(&r, g, &t, start, to, tlen, &o, out)
                    : bfs_path(&r, g, &t, start, to, tlen, &o, out);
    orbit__reader_close(&r);
done:
    gtab_free(&t);
    if (rc)
        list_reset(out);
    list_finish(out);
    return fail_tx(tx, rc);
}
