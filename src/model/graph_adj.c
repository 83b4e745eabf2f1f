/*
 * The graph model's paged adjacency lists (layout in graph_int.h): one head
 * record per node and direction, holding the first entries and the bounds of
 * the extra pages, so that
 *   - a node's neighbours are one read of its head, plus one multi-get of
 *     its extra pages when it has more edges than one page holds;
 *   - a traversal hop is one multi-get of the frontier's heads plus at most
 *     one multi-get of all their extra pages (or of those that may hold the
 *     relation asked for), however many nodes and edges the hop has;
 *   - an edge change rewrites one page (at most the page size plus one
 *     entry) of each endpoint, and the head only when a page splits or
 *     empties, not the node's whole list.
 * Why pages and not one key per edge (orbit_key_adjacency's layout): a
 * key per edge makes a hop one scan per frontier node, which is one
 * provider call per node; reading records by key lets a whole hop go in
 * one multi-get.
 *
 * Invariants: entries strictly ascending across the head and the pages in
 * bound order; every page listed in the head exists and is not empty; the
 * head exists exactly while the list has an entry; nothing is written by
 * orbit__gr_alist_finish (all checks happen there, before any write).
 *
 * Layer: src/model, private to the graph model.
 */
#include <stdlib.h>
#include <string.h>

#include "graph_int.h"
#include "orbit/provider.h"

/* ---- entries --------------------------------------------------------- */

void orbit__gr_adj_release(gr_adj *a)
{
    free(a->e);
    memset(a, 0, sizeof *a);
}

static int adj_reserve(gr_adj *a, size_t n)
{
    if (n <= a->cap)
        return ORBIT_OK;
    size_t cap = a->cap ? a->cap * 2 : 8;
    while (cap < n)
        cap *= 2;
    gr_adj_entry *e = realloc(a->e, cap * sizeof *e);
    if (!e)
        return ORBIT_ENOMEM;
    a->e = e;
    a->cap = cap;
    return ORBIT_OK;
}

static int key_cmp(const uint8_t *r1, size_t l1, const uint8_t *o1, size_t ol1, const uint8_t *r2,
                   size_t l2, const uint8_t *o2, size_t ol2)
{
    int c = orbit__gr_cmp(r1, l1, r2, l2);
    return c ? c : orbit__gr_cmp(o1, ol1, o2, ol2);
}

static int entry_cmp(const gr_adj_entry *x, const uint8_t *rel, size_t rlen, const uint8_t *other,
                     size_t olen)
{
    return key_cmp(x->rel, x->rel_len, x->other, x->other_len, rel, rlen, other, olen);
}

/* Decode entries from p[*pos..n) into a (appended to), advancing *pos. */
static int entries_decode(gr_adj *a, const uint8_t *p, size_t n, size_t *pos, const uint8_t *key,
                          size_t klen)
{
    uint64_t cnt;
    if (gr_get_varint(p, n, pos, &cnt) || cnt > n)
        return orbit__gr_corrupt(key, klen, "bad adjacency entry count");
    int rc = adj_reserve(a, a->n + (size_t)cnt);
    if (rc)
        return rc;
    for (uint64_t i = 0; i < cnt; i++) {
        gr_adj_entry e;
        uint64_t l;
        if (gr_get_varint(p, n, pos, &l) || l == 0 || l > ORBIT_GRAPH_REL_MAX || l > n - *pos)
            return orbit__gr_corrupt(key, klen, "bad relation in an adjacency entry");
        e.rel = p + *pos;
        e.rel_len = (size_t)l;
        *pos += (size_t)l;
        if (gr_get_varint(p, n, pos, &l) || l == 0 || l > ORBIT_GRAPH_ID_MAX || l > n - *pos)
            return orbit__gr_corrupt(key, klen, "bad node id in an adjacency entry");
        e.other = p + *pos;
        e.other_len = (size_t)l;
        *pos += (size_t)l;
        if (n - *pos < 8)
            return orbit__gr_corrupt(key, klen, "truncated adjacency entry");
        e.weight = gr_bits_dbl(gr_get_u64be(p + *pos));
        *pos += 8;
        if (!gr_weight_ok(e.weight))
            return orbit__gr_corrupt(key, klen, "adjacency entry with a negative or non-finite "
                                     "weight");
        if (a->n && entry_cmp(&a->e[a->n - 1], e.rel, e.rel_len, e.other, e.other_len) >= 0)
            return orbit__gr_corrupt(key, klen, "adjacency entries out of order");
        a->e[a->n++] = e;
    }
    return ORBIT_OK;
}

static size_t entry_size(const gr_adj_entry *e)
{
    return gr_varint_len(e->rel_len) + e->rel_len + gr_varint_len(e->other_len) + e->other_len +
           8;
}

static size_t entries_size(const gr_adj *a)
{
    size_t s = gr_varint_len(a->n);
    for (size_t i = 0; i < a->n; i++)
        s += entry_size(&a->e[i]);
    return s;
}

static int entries_encode(const gr_adj *a, orbit_buf *out)
{
    int rc = gr_put_varint(out, a->n);
    for (size_t i = 0; !rc && i < a->n; i++) {
        const gr_adj_entry *e = &a->e[i];
        uint8_t w[8];
        gr_put_u64be(w, gr_dbl_bits(e->weight));
        if (!(rc = gr_put_varint(out, e->rel_len)) &&
            !(rc = orbit_buf_append(out, e->rel, e->rel_len)) &&
            !(rc = gr_put_varint(out, e->other_len)) &&
            !(rc = orbit_buf_append(out, e->other, e->other_len)))
            rc = orbit_buf_append(out, w, 8);
    }
    return rc;
}

size_t orbit__gr_adj_find(const gr_adj *a, const uint8_t *rel, size_t rlen, const uint8_t *other,
                          size_t olen, int *found)
{
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (entry_cmp(&a->e[mid], rel, rlen, other, olen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < a->n && entry_cmp(&a->e[lo], rel, rlen, other, olen) == 0;
    return lo;
}

void orbit__gr_adj_rel_range(const gr_adj *a, const char *rel, size_t *lo, size_t *hi)
{
    if (!rel) {
        *lo = 0;
        *hi = a->n;
        return;
    }
    const uint8_t *r = (const uint8_t *)rel;
    size_t rlen = strlen(rel);
    size_t l = 0, h = a->n;
    while (l < h) {
        size_t mid = l + (h - l) / 2;
        if (orbit__gr_cmp(a->e[mid].rel, a->e[mid].rel_len, r, rlen) < 0)
            l = mid + 1;
        else
            h = mid;
    }
    *lo = l;
    h = a->n;
    while (l < h) {
        size_t mid = l + (h - l) / 2;
        if (orbit__gr_cmp(a->e[mid].rel, a->e[mid].rel_len, r, rlen) <= 0)
            l = mid + 1;
        else
            h = mid;
    }
    *hi = l;
}

/* ---- lists ------------------------------------------------------------ */

static int page_key(orbit_buf *out, const gr_alist *l, uint64_t no)
{
    out->len = 0;
    int rc = orbit__gr_key_adj(out, l->g, l->dir, l->node, l->nlen);
    if (!rc && no)
        rc = orbit_tuple_int(out, (int64_t)no);
    return rc;
}

int orbit__gr_alist_init(gr_alist *l, const orbit_graph *g, orbit_graph_dir dir, const void *node,
                         size_t nlen)
{
    memset(l, 0, sizeof *l);
    l->g = g;
    l->dir = dir;
    l->next_no = 1;
    l->node = malloc(nlen ? nlen : 1);
    if (!l->node)
        return ORBIT_ENOMEM;
    memcpy(l->node, node, nlen);
    l->nlen = nlen;
    return page_key(&l->head.key, l, 0);
}

static void page_release(gr_page *p)
{
    orbit_buf_release(&p->key);
    orbit_buf_release(&p->val);
    orbit__gr_adj_release(&p->a);
}

void orbit__gr_alist_release(gr_alist *l)
{
    page_release(&l->head);
    for (size_t i = 0; i < l->np; i++) {
        page_release(l->pages[i]);
        free(l->pages[i]);
    }
    free(l->pages);
    free(l->b);
    free(l->node);
    orbit__gr_adj_release(&l->merged);
    memset(l, 0, sizeof *l);
}

static size_t bound_size(const gr_bound *b)
{
    return gr_varint_len(b->no) + gr_varint_len(b->rel_len) + b->rel_len +
           gr_varint_len(b->other_len) + b->other_len;
}

static size_t head_size(const gr_alist *l)
{
    size_t s = gr_varint_len(l->next_no) + gr_varint_len(l->nb);
    for (size_t i = 0; i < l->nb; i++)
        s += bound_size(&l->b[i]);
    return s + entries_size(&l->head.a);
}

static int bounds_reserve(gr_alist *l, size_t n)
{
    if (n <= l->capb)
        return ORBIT_OK;
    size_t cap = l->capb ? l->capb * 2 : 4;
    while (cap < n)
        cap *= 2;
    gr_bound *b = realloc(l->b, cap * sizeof *b);
    if (!b)
        return ORBIT_ENOMEM;
    l->b = b;
    l->capb = cap;
    return ORBIT_OK;
}

int orbit__gr_alist_head(gr_alist *l, orbit_buf *val, int st)
{
    l->head.loaded = 1;
    if (st == ORBIT_NOTFOUND)
        return ORBIT_OK;
    if (st)
        return st;
    orbit_buf tmp = l->head.val;
    l->head.val = *val;
    *val = tmp;
    val->len = 0;
    const uint8_t *key = l->head.key.data;
    size_t klen = l->head.key.len;
    orbit_record_meta m;
    const uint8_t *p;
    size_t n;
    int rc = orbit__gr_record(&l->head.val, key, klen, &m, &p, &n);
    if (rc)
        return rc;
    l->exists = 1;
    l->head.created_ms = m.created_ms;
    size_t pos = 0;
    uint64_t next, nb;
    if (gr_get_varint(p, n, &pos, &next) || gr_get_varint(p, n, &pos, &nb) || nb > n ||
        next < 1 || next > (uint64_t)INT64_MAX)
        return orbit__gr_corrupt(key, klen, "bad adjacency head");
    l->next_no = next;
    if ((rc = bounds_reserve(l, (size_t)nb)))
        return rc;
    for (uint64_t i = 0; i < nb; i++) {
        gr_bound b;
        uint64_t x;
        if (gr_get_varint(p, n, &pos, &b.no) || b.no < 1 || b.no >= next)
            return orbit__gr_corrupt(key, klen, "bad page number in an adjacency head");
        if (gr_get_varint(p, n, &pos, &x) || x == 0 || x > ORBIT_GRAPH_REL_MAX || x > n - pos)
            return orbit__gr_corrupt(key, klen, "bad page bound in an adjacency head");
        b.rel = p + pos;
        b.rel_len = (size_t)x;
        pos += (size_t)x;
        if (gr_get_varint(p, n, &pos, &x) || x == 0 || x > ORBIT_GRAPH_ID_MAX || x > n - pos)
            return orbit__gr_corrupt(key, klen, "bad page bound in an adjacency head");
        b.other = p + pos;
        b.other_len = (size_t)x;
        pos += (size_t)x;
        if (l->nb && key_cmp(l->b[l->nb - 1].rel, l->b[l->nb - 1].rel_len, l->b[l->nb - 1].other,
                             l->b[l->nb - 1].other_len, b.rel, b.rel_len, b.other,
                             b.other_len) >= 0)
            return orbit__gr_corrupt(key, klen, "adjacency page bounds out of order");
        l->b[l->nb++] = b;
    }
    if ((rc = entries_decode(&l->head.a, p, n, &pos, key, klen)))
        return rc;
    if (pos != n)
        return orbit__gr_corrupt(key, klen, "trailing bytes in an adjacency head");
    if (l->head.a.n && l->nb &&
        entry_cmp(&l->head.a.e[l->head.a.n - 1], l->b[0].rel, l->b[0].rel_len, l->b[0].other,
                  l->b[0].other_len) >= 0)
        return orbit__gr_corrupt(key, klen, "adjacency head entries beyond its first page bound");
    return ORBIT_OK;
}

/* The index of the bound of the page holding key, or SIZE_MAX for the
 * head. */
static size_t bound_of(const gr_alist *l, const uint8_t *rel, size_t rlen, const uint8_t *other,
                       size_t olen)
{
    size_t lo = 0, hi = l->nb; /* first bound > key */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp(l->b[mid].rel, l->b[mid].rel_len, l->b[mid].other, l->b[mid].other_len, rel,
                    rlen, other, olen) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? SIZE_MAX : lo - 1;
}

static gr_page *page_find(const gr_alist *l, uint64_t no)
{
    if (no == 0)
        return (gr_page *)&l->head;
    for (size_t i = 0; i < l->np; i++)
        if (l->pages[i]->no == no)
            return l->pages[i];
    return NULL;
}

static int page_add(gr_alist *l, uint64_t no, gr_page **out)
{
    if (l->np == l->capp) {
        size_t cap = l->capp ? l->capp * 2 : 4;
        gr_page **p = realloc(l->pages, cap * sizeof *p);
        if (!p)
            return ORBIT_ENOMEM;
        l->pages = p;
        l->capp = cap;
    }
    gr_page *p = calloc(1, sizeof *p);
    if (!p)
        return ORBIT_ENOMEM;
    p->no = no;
    int rc = page_key(&p->key, l, no);
    if (rc) {
        page_release(p);
        free(p);
        return rc;
    }
    l->pages[l->np++] = p;
    *out = p;
    return ORBIT_OK;
}

void orbit__gr_batch_release(gr_batch *b)
{
    free(b->lists);
    free(b->pages);
    memset(b, 0, sizeof *b);
}

static int batch_queue(gr_alist *l, uint64_t no, gr_batch *b)
{
    gr_page *p = page_find(l, no);
    if (p && (p->loaded || p->queued))
        return ORBIT_OK;
    int rc;
    if (!p && (rc = page_add(l, no, &p)))
        return rc;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        gr_alist **ls = realloc(b->lists, cap * sizeof *ls);
        if (ls)
            b->lists = ls;
        gr_page **ps = realloc(b->pages, cap * sizeof *ps);
        if (ps)
            b->pages = ps;
        if (!ls || !ps)
            return ORBIT_ENOMEM;
        b->cap = cap;
    }
    p->queued = 1;
    b->lists[b->n] = l;
    b->pages[b->n] = p;
    b->n++;
    return ORBIT_OK;
}

int orbit__gr_alist_want(gr_alist *l, const uint8_t *rel, size_t rlen, const uint8_t *other,
                         size_t olen, gr_batch *b)
{
    size_t i = bound_of(l, rel, rlen, other, olen);
    return i == SIZE_MAX ? ORBIT_OK : batch_queue(l, l->b[i].no, b);
}

int orbit__gr_alist_want_rel(gr_alist *l, const char *rel, gr_batch *b)
{
    const uint8_t *r = (const uint8_t *)rel;
    size_t rlen = rel ? strlen(rel) : 0;
    for (size_t i = 0; i < l->nb; i++) {
        if (rel) {
            /* Page i spans [b[i], b[i+1]): it may hold rel if it starts at
             * or before rel's last entry and ends after rel's first. */
            if (orbit__gr_cmp(l->b[i].rel, l->b[i].rel_len, r, rlen) > 0)
                break;
            if (i + 1 < l->nb && orbit__gr_cmp(l->b[i + 1].rel, l->b[i + 1].rel_len, r, rlen) < 0)
                continue;
        }
        int rc = batch_queue(l, l->b[i].no, b);
        if (rc)
            return rc;
    }
    return ORBIT_OK;
}

int orbit__gr_batch_read(gr_batch *b, gr_reader *r)
{
    if (b->n == 0)
        return ORBIT_OK;
    orbit_slice *sl = malloc(b->n * sizeof *sl);
    int *st = malloc(b->n * sizeof *st);
    orbit_buf *vals = calloc(b->n, sizeof *vals);
    int rc = ORBIT_OK;
    if (!sl || !st || !vals) {
        rc = ORBIT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < b->n; i++)
        sl[i] = (orbit_slice){b->pages[i]->key.data, b->pages[i]->key.len};
    rc = orbit__reader_mget(r, b->n, sl, vals, st);
    if (rc < 0)
        goto out;
    rc = ORBIT_OK;
    for (size_t i = 0; i < b->n && !rc; i++) {
        gr_page *p = b->pages[i];
        p->queued = 0;
        if (st[i] == ORBIT_NOTFOUND) {
            rc = orbit__gr_corrupt(p->key.data, p->key.len, "an adjacency page the head lists "
                                   "is missing");
            break;
        }
        if (st[i]) {
            rc = st[i];
            break;
        }
        orbit_buf tmp = p->val;
        p->val = vals[i];
        vals[i] = tmp;
        orbit_record_meta m;
        const uint8_t *pl;
        size_t n, pos = 0;
        if ((rc = orbit__gr_record(&p->val, p->key.data, p->key.len, &m, &pl, &n)))
            break;
        p->created_ms = m.created_ms;
        if ((rc = entries_decode(&p->a, pl, n, &pos, p->key.data, p->key.len)))
            break;
        if (pos != n || p->a.n == 0)
            rc = orbit__gr_corrupt(p->key.data, p->key.len, "malformed adjacency page");
        p->loaded = 1;
    }
out:
    for (size_t i = 0; vals && i < b->n; i++)
        orbit_buf_release(&vals[i]);
    free(vals);
    free(sl);
    free(st);
    b->n = 0;
    return rc;
}

int orbit__gr_lists_read(gr_reader *r, gr_alist *ls, size_t n, const char *rel)
{
    if (n == 0)
        return ORBIT_OK;
    orbit_slice *sl = malloc(n * sizeof *sl);
    int *st = malloc(n * sizeof *st);
    orbit_buf *vals = calloc(n, sizeof *vals);
    gr_batch b = {0};
    int rc = ORBIT_OK;
    if (!sl || !st || !vals) {
        rc = ORBIT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        sl[i] = (orbit_slice){ls[i].head.key.data, ls[i].head.key.len};
    rc = orbit__reader_mget(r, n, sl, vals, st);
    if (rc < 0)
        goto out;
    rc = ORBIT_OK;
    for (size_t i = 0; i < n && !rc; i++)
        if (!(rc = orbit__gr_alist_head(&ls[i], &vals[i], st[i])))
            rc = orbit__gr_alist_want_rel(&ls[i], rel, &b);
    if (!rc)
        rc = orbit__gr_batch_read(&b, r);
out:
    for (size_t i = 0; vals && i < n; i++)
        orbit_buf_release(&vals[i]);
    free(vals);
    free(sl);
    free(st);
    orbit__gr_batch_release(&b);
    return rc;
}

/* Loaded pages in bound order (page pointers by bound index). */
static gr_page *page_at(const gr_alist *l, size_t bi) { return page_find(l, l->b[bi].no); }

const gr_adj *orbit__gr_alist_entries(gr_alist *l, int *rc)
{
    gr_adj *m = &l->merged;
    m->n = 0;
    *rc = ORBIT_OK;
    size_t total = l->head.a.n;
    for (size_t i = 0; i < l->nb; i++) {
        gr_page *p = page_at(l, i);
        if (p && p->loaded)
            total += p->a.n;
    }
    if (total == 0 || (*rc = adj_reserve(m, total)))
        return m;
    if (l->head.a.n)
        memcpy(m->e, l->head.a.e, l->head.a.n * sizeof *m->e);
    m->n = l->head.a.n;
    for (size_t i = 0; i < l->nb; i++) {
        gr_page *p = page_at(l, i);
        if (p && p->loaded && p->a.n) {
            memcpy(m->e + m->n, p->a.e, p->a.n * sizeof *m->e);
            m->n += p->a.n;
        }
    }
    return m;
}

/* ---- edits -------------------------------------------------------------- */

static gr_page *page_for(gr_alist *l, const uint8_t *rel, size_t rlen, const uint8_t *other,
                         size_t olen)
{
    size_t i = bound_of(l, rel, rlen, other, olen);
    gr_page *p = i == SIZE_MAX ? &l->head : page_find(l, l->b[i].no);
    return p && p->loaded ? p : NULL;
}

int orbit__gr_alist_insert(gr_alist *l, const gr_adj_entry *e, int *existed)
{
    *existed = 0;
    gr_page *p = page_for(l, e->rel, e->rel_len, e->other, e->other_len);
    if (!p)
        return orbit_error_set(ORBIT_EINVAL, "graph: adjacency page not loaded before an insert");
    int found;
    size_t at = orbit__gr_adj_find(&p->a, e->rel, e->rel_len, e->other, e->other_len, &found);
    p->dirty = 1;
    if (found) {
        p->a.e[at].weight = e->weight;
        *existed = 1;
        return ORBIT_OK;
    }
    int rc = adj_reserve(&p->a, p->a.n + 1);
    if (rc)
        return rc;
    memmove(&p->a.e[at + 1], &p->a.e[at], (p->a.n - at) * sizeof *p->a.e);
    p->a.e[at] = *e;
    p->a.n++;
    return ORBIT_OK;
}

int orbit__gr_alist_remove(gr_alist *l, const uint8_t *rel, size_t rlen, const uint8_t *other,
                           size_t olen, int *found)
{
    *found = 0;
    gr_page *p = page_for(l, rel, rlen, other, olen);
    if (!p)
        return orbit_error_set(ORBIT_EINVAL, "graph: adjacency page not loaded before a remove");
    size_t at = orbit__gr_adj_find(&p->a, rel, rlen, other, olen, found);
    if (*found) {
        memmove(&p->a.e[at], &p->a.e[at + 1], (p->a.n - at - 1) * sizeof *p->a.e);
        p->a.n--;
        p->dirty = 1;
    }
    return ORBIT_OK;
}

static int bound_insert(gr_alist *l, uint64_t no, const gr_adj_entry *first)
{
    int rc = bounds_reserve(l, l->nb + 1);
    if (rc)
        return rc;
    size_t i = bound_of(l, first->rel, first->rel_len, first->other, first->other_len);
    size_t at = i == SIZE_MAX ? 0 : i + 1;
    memmove(&l->b[at + 1], &l->b[at], (l->nb - at) * sizeof *l->b);
    l->b[at] = (gr_bound){no, first->rel, first->other, first->rel_len, first->other_len};
    l->nb++;
    l->head.dirty = 1;
    return ORBIT_OK;
}

/* Split p (the head or a page) while it is over the page size and has at
 * least two entries; new pages go to the end of l->pages and are split in
 * turn by the caller's loop. */
static int split(gr_alist *l, gr_page *p)
{
    for (;;) {
        size_t size = p == &l->head ? head_size(l) : entries_size(&p->a);
        if (size <= l->g->page_max || p->a.n < 2)
            return ORBIT_OK;
        if (l->next_no >= (uint64_t)INT64_MAX)
            return orbit_error_set(ORBIT_ETOOBIG, "graph: adjacency page numbers exhausted");
        size_t h = p->a.n / 2;
        gr_page *q;
        int rc = page_add(l, l->next_no++, &q); /* may move l->pages, not the pages */
        if (rc)
            return rc;
        if ((rc = adj_reserve(&q->a, p->a.n - h)))
            return rc;
        memcpy(q->a.e, p->a.e + h, (p->a.n - h) * sizeof *q->a.e);
        q->a.n = p->a.n - h;
        p->a.n = h;
        q->loaded = 1;
        q->dirty = 1;
        p->dirty = 1;
        if ((rc = bound_insert(l, q->no, &q->a.e[0])))
            return rc;
    }
}

int orbit__gr_alist_finish(gr_alist *l)
{
    int rc;
    /* Drop emptied pages and their bounds. */
    for (size_t i = 0; i < l->nb;) {
        gr_page *p = page_at(l, i);
        if (p && p->loaded && p->a.n == 0) {
            memmove(&l->b[i], &l->b[i + 1], (l->nb - i - 1) * sizeof *l->b);
            l->nb--;
            l->head.dirty = 1;
            p->dirty = 1; /* written as a delete */
            continue;
        }
        i++;
    }
    /* A page's bound is its first entry's key at the split; entries
     * inserted below it later land in the page before, so bounds stay
     * valid. Split what grew too big (new pages are appended and checked
     * by the same loop). */
    if ((rc = split(l, &l->head)))
        return rc;
    for (size_t i = 0; i < l->np; i++)
        if (l->pages[i]->loaded && l->pages[i]->a.n && (rc = split(l, l->pages[i])))
            return rc;
    /* Splitting pages adds bounds to the head: split the head again. */
    if ((rc = split(l, &l->head)))
        return rc;
    size_t hs = head_size(l);
    if (hs > ORBIT_GRAPH_ADJ_MAX)
        return orbit_error_set(ORBIT_ETOOBIG, "graph %s: the %s-adjacency of node '%s' would "
                               "need a head of %zu bytes (at most %u: about %zu pages of %zu "
                               "bytes)", l->g->name, l->dir == ORBIT_GRAPH_IN ? "in" : "out",
                               orbit__gr_show(0, l->node, l->nlen), hs, ORBIT_GRAPH_ADJ_MAX,
                               l->nb, l->g->page_max);
    return ORBIT_OK;
}

static int put_page(gr_alist *l, orbit_txn *t, gr_page *p, orbit_buf *pay, orbit_buf *rec)
{
    int rc = orbit__gr_encode(l->g, p->key.data, p->key.len, p->created_ms, pay->data, pay->len,
                              rec);
    return rc ? rc : orbit_txn_put(t, p->key.data, p->key.len, rec->data, rec->len);
}

int orbit__gr_alist_write(gr_alist *l, orbit_txn *t)
{
    orbit_buf pay = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT;
    int rc = ORBIT_OK;
    for (size_t i = 0; i < l->np && !rc; i++) {
        gr_page *p = l->pages[i];
        if (!p->dirty)
            continue;
        if (p->a.n == 0) {
            rc = orbit_txn_del(t, p->key.data, p->key.len);
        } else {
            pay.len = 0;
            if (!(rc = entries_encode(&p->a, &pay)))
                rc = put_page(l, t, p, &pay, &rec);
        }
        p->dirty = 0;
    }
    if (!rc && l->head.dirty) {
        if (l->head.a.n == 0 && l->nb == 0) {
            rc = orbit_txn_del(t, l->head.key.data, l->head.key.len);
        } else {
            pay.len = 0;
            if (!(rc = gr_put_varint(&pay, l->next_no)) && !(rc = gr_put_varint(&pay, l->nb))) {
                for (size_t i = 0; i < l->nb && !rc; i++) {
                    const gr_bound *b = &l->b[i];
                    if (!(rc = gr_put_varint(&pay, b->no)) &&
                        !(rc = gr_put_varint(&pay, b->rel_len)) &&
                        !(rc = orbit_buf_append(&pay, b->rel, b->rel_len)) &&
                        !(rc = gr_put_varint(&pay, b->other_len)))
                        rc = orbit_buf_append(&pay, b->other, b->other_len);
                }
            }
            if (!rc)
                rc = entries_encode(&l->head.a, &pay);
            if (!rc)
                rc = put_page(l, t, &l->head, &pay, &rec);
        }
        l->head.dirty = 0;
    }
    orbit_buf_release(&pay);
    orbit_buf_release(&rec);
    return rc;
}

int orbit__gr_alist_delete(gr_alist *l, orbit_txn *t)
{
    orbit_buf k = ORBIT_BUF_INIT;
    int rc = orbit_txn_del(t, l->head.key.data, l->head.key.len);
    for (size_t i = 0; i < l->nb && !rc; i++)
        if (!(rc = page_key(&k, l, l->b[i].no)))
            rc = orbit_txn_del(t, k.data, k.len);
    orbit_buf_release(&k);
    return rc;
}
