/*
 * The contract suite's store factory and scan helpers (see suite.h).
 *
 * Invariants: a ct_store owns its URI string and its temp directory; a
 * ct_list owns copies of every key and value it holds, so results stay valid
 * after the iterator that produced them is closed. Allocation failures in
 * test code abort: they are not what the suite is testing.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "suite.h"
#include "testutil.h"

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "contract suite: out of memory\n");
        abort();
    }
    return p;
}

static atomic_uint uniq_counter;

/* Append n bytes to a growing malloc'd string. */
static void sb_add(char **s, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 64);
        while (nc < *len + n + 1)
            nc *= 2;
        char *q = realloc(*s, nc);
        if (!q) {
            fprintf(stderr, "contract suite: out of memory\n");
            abort();
        }
        *s = q;
        *cap = nc;
    }
    memcpy(*s + *len, p, n);
    *len += n;
    (*s)[*len] = '\0';
}

char *ct_expand(const char *tmpl, char **dir_out)
{
    char *dir = NULL;
    char uniq[64] = "";
    char *s = NULL;
    size_t len = 0, cap = 0;

    sb_add(&s, &len, &cap, "", 0);
    for (const char *p = tmpl; *p;) {
        if (strncmp(p, "{tmp}", 5) == 0) {
            if (!dir)
                dir = tu_tempdir("contract");
            sb_add(&s, &len, &cap, dir, strlen(dir));
            p += 5;
        } else if (strncmp(p, "{uniq}", 6) == 0) {
            if (!uniq[0]) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                /* pid + counter make it unique on this host; the clock
                 * keeps reruns apart on a shared remote cluster. */
                snprintf(uniq, sizeof uniq, "ct%ld_%u_%llx", (long)getpid(),
                         atomic_fetch_add(&uniq_counter, 1),
                         (unsigned long long)ts.tv_sec * 1000000000ull +
                             (unsigned long long)ts.tv_nsec);
            }
            sb_add(&s, &len, &cap, uniq, strlen(uniq));
            p += 6;
        } else {
            sb_add(&s, &len, &cap, p, 1);
            p++;
        }
    }
    *dir_out = dir;
    return s;
}

int ct_store_open(const char *tmpl, ct_store *s)
{
    memset(s, 0, sizeof *s);
    s->uri = ct_expand(tmpl, &s->dir);
    int rc = orbit_kv_open(s->uri, &s->kv);
    if (rc != 0) {
        fprintf(stderr, "open %s: %s (%s)\n", s->uri, orbit_err_name(rc),
                orbit_last_error_detail());
        s->kv = NULL;
        ct_store_close(s);
    }
    return rc;
}

void ct_store_close(ct_store *s)
{
    orbit_kv_close(s->kv);
    s->kv = NULL;
    free(s->uri);
    s->uri = NULL;
    tu_rmdir(s->dir);
    s->dir = NULL;
}

ct_txn_mode ct_mode_from_uri(const char *uri)
{
    const char *q = strchr(uri, '?');
    if (!q)
        return CT_PESSIMISTIC;
    for (const char *p = q + 1; *p;) {
        size_t n = strcspn(p, "&");
        if (n == strlen("txn=optimistic") && strncmp(p, "txn=optimistic", n) == 0)
            return CT_OPTIMISTIC;
        p += n;
        if (*p == '&')
            p++;
    }
    return CT_PESSIMISTIC;
}

int ct_parse_mode(const char *s, ct_txn_mode *out)
{
    if (strcmp(s, "pessimistic") == 0)
        *out = CT_PESSIMISTIC;
    else if (strcmp(s, "optimistic") == 0)
        *out = CT_OPTIMISTIC;
    else
        return -1;
    return 0;
}

const char *ct_mode_name(ct_txn_mode m)
{
    return m == CT_OPTIMISTIC ? "optimistic" : "pessimistic";
}

/* ---- scan results ---------------------------------------------------- */

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *q = xmalloc(n);
    if (n)
        memcpy(q, p, n);
    return q;
}

void ct_list_push(ct_list *l, const uint8_t *k, size_t kl, const uint8_t *v,
                  size_t vl)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        ct_pair *q = realloc(l->items, nc * sizeof *q);
        if (!q) {
            fprintf(stderr, "contract suite: out of memory\n");
            abort();
        }
        l->items = q;
        l->cap = nc;
    }
    ct_pair *e = &l->items[l->n++];
    e->k = dup_bytes(k, kl);
    e->kl = kl;
    e->v = dup_bytes(v, vl);
    e->vl = vl;
}

void ct_list_free(ct_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].k);
        free(l->items[i].v);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}

int ct_list_equal(const ct_list *a, const ct_list *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const ct_pair *x = &a->items[i], *y = &b->items[i];
        if (x->kl != y->kl || x->vl != y->vl)
            return 0;
        if (x->kl && memcmp(x->k, y->k, x->kl) != 0)
            return 0;
        if (x->vl && memcmp(x->v, y->v, x->vl) != 0)
            return 0;
    }
    return 1;
}

void ct_list_dump(const char *label, const ct_list *l, size_t max)
{
    char kb[128], vb[128];
    fprintf(stderr, "  %s: %zu entries\n", label, l->n);
    for (size_t i = 0; i < l->n && i < max; i++)
        fprintf(stderr, "    [%zu] %s = %s (%zu bytes)\n", i,
                ct_fmt(kb, sizeof kb, l->items[i].k, l->items[i].kl),
                ct_fmt(vb, sizeof vb, l->items[i].v, l->items[i].vl),
                l->items[i].vl);
    if (l->n > max)
        fprintf(stderr, "    ...\n");
}

int ct_drain(orbit_iter *it, ct_list *out)
{
    const uint8_t *k, *v;
    size_t kl, vl;
    int rc;
    while ((rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0)
        ct_list_push(out, k, kl, v, vl);
    orbit_iter_close(it);
    return rc;
}

int ct_scan(orbit_kv *kv, const orbit_snapshot *snap, const orbit_scan_opts *so,
            ct_list *out)
{
    orbit_read_opts ro = {snap};
    orbit_iter *it = NULL;
    int rc = orbit_kv_iter(kv, &ro, so, &it);
    if (rc != 0)
        return rc;
    rc = ct_drain(it, out);
    return rc == ORBIT_NOTFOUND ? 0 : rc;
}

int ct_txn_scan(orbit_txn *t, const orbit_scan_opts *so, ct_list *out)
{
    orbit_iter *it = NULL;
    int rc = orbit_txn_iter(t, so, &it);
    if (rc != 0)
        return rc;
    rc = ct_drain(it, out);
    return rc == ORBIT_NOTFOUND ? 0 : rc;
}

int ct_keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return al < bl ? -1 : al > bl ? 1 : 0;
}

const char *ct_fmt(char *buf, size_t cap, const uint8_t *p, size_t n)
{
    size_t o = 0, i = 0;
    /* Leave room for one escape (4), "..." (3) and the NUL. */
    for (; i < n && o + 8 < cap; i++) {
        uint8_t c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    if (i < n)
        o += (size_t)snprintf(buf + o, cap - o, "...");
    buf[o] = '\0';
    return buf;
}

void ct_sub_done(void *arg, orbit_kv_op *ops, size_t n)
{
    ct_sub_wait *w = arg;
    (void)ops;
    (void)n;
    pthread_mutex_lock(&w->mu);
    w->calls++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int ct_sub_wait_done(ct_sub_wait *w)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 30;
    pthread_mutex_lock(&w->mu);
    while (w->calls == 0 && pthread_cond_timedwait(&w->cv, &w->mu, &dl) == 0)
        ;
    int calls = w->calls;
    pthread_mutex_unlock(&w->mu);
    return calls;
}
