/*
 * The graph model's writes and its shared machinery (orbit/graph.h):
 * graphs (create, open, drop), nodes and edges, the adjacency record codec,
 * and the endpoint check run at commit.
 *
 * Invariants (each write keeps them inside its one transaction):
 *   - edge (f, r, t) exists  <=>  out(f) holds (r, t, w)  <=>  in(t) holds
 *     (r, f, w), with the same weight w as the edge record;
 *   - an adjacency record exists only while it holds at least one entry
 *     (an emptied record is deleted);
 *   - every key of graph g lies in (ks, "grp", g), so drop is one range;
 *   - nothing is written before every argument, JSON text and stored record
 *     read has been checked, and before the size limits are known to hold.
 *
 * Why one adjacency record per (node, direction) instead of one key per
 * edge (the codec's orbit_key_adjacency layout): a traversal then reads a
 * hop with one multi-get of the frontier's records instead of one scan per
 * frontier node, so a k-hop query is k provider calls whatever the fan-out
 * (the cost rule), and a weighted path reads the weights from the
 * same records. The cost moves to writes: an edge change rewrites two
 * records of O(degree) bytes, and writers of one node's edges conflict.
 *
 * Layer: src/model, on the cross-model transaction (orbit/txn.h), the
 * contract (orbit/kv.h) and the codec; JSON through jansson.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "graph_int.h"
#include "orbit/catalog.h"
#include "orbit/provider.h"

#define ADJ_SCHEMA 1

/* ---- small helpers --------------------------------------------------- */

int orbit__gr_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int c = m ? memcmp(a, b, m) : 0;
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

const char *orbit__gr_show(int slot, const void *p, size_t n)
{
    static _Thread_local char bufs[4][200];
    char *out = bufs[slot & 3];
    const uint8_t *s = p;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < sizeof bufs[0]; i++) {
        uint8_t c = s[i];
        if (c >= 0x20 && c < 0x7F && c != '\\' && c != '\'') {
            out[o++] = (char)c;
        } else {
            static const char hex[] = "0123456789abcdef";
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
        if (i + 1 < n && o + 8 >= sizeof bufs[0]) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
    }
    out[o] = '\0';
    return out;
}

static int put_varint(orbit_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t c = v & 0x7F;
        v >>= 7;
        tmp[n++] = (uint8_t)(c | (v ? 0x80 : 0));
    } while (v);
    return orbit_buf_append(b, tmp, n);
}

static int get_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pos >= n)
            return -1;
        uint8_t c = p[(*pos)++];
        r |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >>= 7)
        n++;
    return n;
}

static void put_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_u64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static uint64_t dbl_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bits_dbl(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static int weight_ok(double w) { return isfinite(w) && w >= 0; }

/* ---- keys ------------------------------------------------------------ */

static int obj_head(orbit_buf *out, const orbit_graph *g)
{
    return orbit_key_object_prefix(out, g->ks, ORBIT_PREFIX_GRAPH, g->id);
}

int orbit__gr_key_meta(orbit_buf *out, const orbit_graph *g)
{
    int rc = obj_head(out, g);
    return rc ? rc : orbit_tuple_str(out, "meta");
}

int orbit__gr_key_node(orbit_buf *out, const orbit_graph *g, const void *id, size_t n)
{
    return orbit_key_node(out, g->ks, g->id, id, n);
}

int orbit__gr_key_edge(orbit_buf *out, const orbit_graph *g, const void *from, size_t flen,
                       const char *rel, const void *to, size_t tlen)
{
    int rc = obj_head(out, g);
    if (!rc)
        rc = orbit_tuple_str(out, "e");
    if (!rc)
        rc = orbit_tuple_bytes(out, from, flen);
    if (!rc)
        rc = orbit_tuple_str(out, rel);
    if (!rc)
        rc = orbit_tuple_bytes(out, to, tlen);
    return rc;
}

int orbit__gr_key_adj(orbit_buf *out, const orbit_graph *g, orbit_graph_dir dir, const void *id,
                      size_t n)
{
    return orbit_key_adjacency_prefix(out, g->ks, g->id,
                                      dir == ORBIT_GRAPH_IN ? ORBIT_EDGE_IN : ORBIT_EDGE_OUT, id,
                                      n);
}

int orbit__gr_key_row(orbit_buf *out, const orbit_graph *g, const void *id, size_t n)
{
    orbit_buf pk = ORBIT_BUF_INIT;
    int rc = orbit_tuple_bytes(&pk, id, n);
    if (!rc)
        rc = orbit_key_row(out, g->ks, g->etable_id, pk.data, pk.len);
    orbit_buf_release(&pk);
    return rc;
}

/* ---- records --------------------------------------------------------- */

int orbit__gr_record(const orbit_buf *val, const uint8_t *key, size_t klen,
                     orbit_record_meta *meta, const uint8_t **payload, size_t *plen)
{
    orbit_record_meta m;
    int rc = orbit_record_decode(val->data, val->len, key, klen, &m, NULL, payload, plen);
    if (rc == ORBIT_OK && m.model != ORBIT_MODEL_GRAPH)
        rc = ORBIT_ECORRUPT;
    else if (rc == ORBIT_ENOTSUP)
        rc = ORBIT_ECORRUPT; /* graph records are never compressed */
    else if (rc)
        return rc;
    if (rc) {
        orbit_buf k = ORBIT_BUF_INIT;
        orbit_escape(&k, key, klen);
        rc = orbit_error_set(ORBIT_ECORRUPT, "graph: the record under key %.*s is not a graph "
                             "record", (int)k.len, k.data ? (const char *)k.data : "");
        orbit_buf_release(&k);
        return rc;
    }
    if (meta)
        *meta = m;
    return ORBIT_OK;
}

int orbit__gr_encode(const orbit_graph *g, const uint8_t *key, size_t klen, uint64_t created_ms,
                     const uint8_t *payload, size_t plen, orbit_buf *out)
{
    out->len = 0;
    return orbit_actor_record(g->a, ORBIT_MODEL_GRAPH, ADJ_SCHEMA, created_ms, key, klen, payload,
                              plen, out);
}

static int corrupt_key(const uint8_t *key, size_t klen, const char *why)
{
    orbit_buf k = ORBIT_BUF_INIT;
    orbit_escape(&k, key, klen);
    int rc = orbit_error_set(ORBIT_ECORRUPT, "graph: record under key %.*s: %s", (int)k.len,
                             k.data ? (const char *)k.data : "", why);
    orbit_buf_release(&k);
    return rc;
}

/* ---- reading --------------------------------------------------------- */

int orbit__gr_reader_open(gr_reader *r, orbit_tx *tx, const orbit_graph *g, int snapshot)
{
    memset(r, 0, sizeof *r);
    r->kv = g->kv;
    if (tx)
        return orbit_tx_kv_txn(tx, g->kv, orbit_actor_type(g->a), orbit_actor_id(g->a), &r->txn);
    if (snapshot) {
        orbit_capabilities caps;
        orbit_kv_capabilities(g->kv, &caps);
        if (caps.supports_snapshots) {
            int rc = orbit_kv_snapshot(g->kv, &r->snap);
            if (rc)
                return rc;
            r->own_snap = 1;
        }
    }
    return ORBIT_OK;
}

void orbit__gr_reader_close(gr_reader *r)
{
    if (r->own_snap && r->snap)
        orbit_snapshot_release(r->snap);
    r->snap = NULL;
    r->own_snap = 0;
}

int orbit__gr_get(gr_reader *r, const uint8_t *key, size_t klen, orbit_buf *val)
{
    if (r->txn)
        return orbit_txn_get(r->txn, key, klen, val);
    orbit_read_opts ro = {r->snap};
    return orbit_kv_get(r->kv, &ro, key, klen, val);
}

int orbit__gr_mget(gr_reader *r, size_t n, const orbit_slice *keys, orbit_buf *vals, int *status)
{
    if (n == 0)
        return ORBIT_OK;
    if (r->txn)
        return orbit_txn_multi_get(r->txn, n, keys, vals, status);
    orbit_read_opts ro = {r->snap};
    return orbit_kv_multi_get(r->kv, &ro, n, keys, vals, status);
}

/* ---- adjacency codec ------------------------------------------------- */

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

static int entry_cmp(const gr_adj_entry *x, const uint8_t *rel, size_t rlen, const uint8_t *other,
                     size_t olen)
{
    int c = orbit__gr_cmp(x->rel, x->rel_len, rel, rlen);
    return c ? c : orbit__gr_cmp(x->other, x->other_len, other, olen);
}

int orbit__gr_adj_decode(gr_adj *a, const uint8_t *p, size_t n, const uint8_t *key, size_t klen)
{
    a->n = 0;
    size_t pos = 0;
    uint64_t cnt;
    if (get_varint(p, n, &pos, &cnt) || cnt > n)
        return corrupt_key(key, klen, "bad adjacency entry count");
    int rc = adj_reserve(a, (size_t)cnt);
    if (rc)
        return rc;
    for (uint64_t i = 0; i < cnt; i++) {
        gr_adj_entry e;
        uint64_t l;
        if (get_varint(p, n, &pos, &l) || l == 0 || l > ORBIT_GRAPH_REL_MAX || l > n - pos)
            return corrupt_key(key, klen, "bad relation in an adjacency entry");
        e.rel = p + pos;
        e.rel_len = (size_t)l;
        pos += (size_t)l;
        if (get_varint(p, n, &pos, &l) || l == 0 || l > ORBIT_GRAPH_ID_MAX || l > n - pos)
            return corrupt_key(key, klen, "bad node id in an adjacency entry");
        e.other = p + pos;
        e.other_len = (size_t)l;
        pos += (size_t)l;
        if (n - pos < 8)
            return corrupt_key(key, klen, "truncated adjacency entry");
        e.weight = bits_dbl(get_u64be(p + pos));
        pos += 8;
        if (!weight_ok(e.weight))
            return corrupt_key(key, klen, "adjacency entry with a negative or non-finite weight");
        if (a->n && entry_cmp(&a->e[a->n - 1], e.rel, e.rel_len, e.other, e.other_len) >= 0)
            return corrupt_key(key, klen, "adjacency entries out of order");
        a->e[a->n++] = e;
    }
    if (pos != n)
        return corrupt_key(key, klen, "trailing bytes after the adjacency entries");
    return ORBIT_OK;
}

size_t orbit__gr_adj_size(const gr_adj *a)
{
    size_t s = varint_len(a->n);
    for (size_t i = 0; i < a->n; i++)
        s += varint_len(a->e[i].rel_len) + a->e[i].rel_len + varint_len(a->e[i].other_len) +
             a->e[i].other_len + 8;
    return s;
}

int orbit__gr_adj_encode(const gr_adj *a, orbit_buf *out)
{
    out->len = 0;
    int rc = orbit_buf_reserve(out, orbit__gr_adj_size(a));
    if (rc)
        return rc;
    rc = put_varint(out, a->n);
    for (size_t i = 0; !rc && i < a->n; i++) {
        const gr_adj_entry *e = &a->e[i];
        uint8_t w[8];
        put_u64be(w, dbl_bits(e->weight));
        if (!(rc = put_varint(out, e->rel_len)) && !(rc = orbit_buf_append(out, e->rel, e->rel_len)) &&
            !(rc = put_varint(out, e->other_len)) &&
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

void orbit__gr_adj_rel_range(const gr_adj *a, const uint8_t *rel, size_t rlen, size_t *lo,
                             size_t *hi)
{
    size_t l = 0, h = a->n;
    while (l < h) {
        size_t mid = l + (h - l) / 2;
        if (orbit__gr_cmp(a->e[mid].rel, a->e[mid].rel_len, rel, rlen) < 0)
            l = mid + 1;
        else
            h = mid;
    }
    *lo = l;
    h = a->n;
    while (l < h) {
        size_t mid = l + (h - l) / 2;
        if (orbit__gr_cmp(a->e[mid].rel, a->e[mid].rel_len, rel, rlen) <= 0)
            l = mid + 1;
        else
            h = mid;
    }
    *hi = l;
}

int orbit__gr_adj_insert(gr_adj *a, size_t at, const gr_adj_entry *e)
{
    int rc = adj_reserve(a, a->n + 1);
    if (rc)
        return rc;
    memmove(&a->e[at + 1], &a->e[at], (a->n - at) * sizeof *a->e);
    a->e[at] = *e;
    a->n++;
    return ORBIT_OK;
}

void orbit__gr_adj_remove(gr_adj *a, size_t at)
{
    memmove(&a->e[at], &a->e[at + 1], (a->n - at - 1) * sizeof *a->e);
    a->n--;
}

/* ---- argument checks ------------------------------------------------- */

static int check_id(const orbit_graph *g, const void *id, size_t n, const char *what)
{
    if (!id || n == 0)
        return orbit_error_set(ORBIT_EINVAL, "graph %s: empty %s id", g->name, what);
    if (n > ORBIT_GRAPH_ID_MAX)
        return orbit_error_set(ORBIT_EINVAL, "graph %s: %s id of %zu bytes (at most %d)", g->name,
                               what, n, ORBIT_GRAPH_ID_MAX);
    return ORBIT_OK;
}

static int check_rel(const orbit_graph *g, const char *rel)
{
    if (!rel || !*rel)
        return orbit_error_set(ORBIT_EINVAL, "graph %s: empty relation", g->name);
    if (strlen(rel) > ORBIT_GRAPH_REL_MAX)
        return orbit_error_set(ORBIT_EINVAL, "graph %s: relation of %zu bytes (at most %d)",
                               g->name, strlen(rel), ORBIT_GRAPH_REL_MAX);
    return ORBIT_OK;
}

/* Parse props_json (NULL: {}) into a JSON object, owned by the caller. */
static int parse_props(const orbit_graph *g, const char *props_json, json_t **out)
{
    *out = NULL;
    if (!props_json) {
        *out = json_object();
        return *out ? ORBIT_OK : ORBIT_ENOMEM;
    }
    size_t n = strlen(props_json);
    if (n > ORBIT_GRAPH_PROPS_MAX)
        return orbit_error_set(ORBIT_EINVAL, "graph %s: properties of %zu bytes (at most %u)",
                               g->name, n, ORBIT_GRAPH_PROPS_MAX);
    json_error_t err;
    json_t *j = json_loadb(props_json, n, JSON_REJECT_DUPLICATES, &err);
    if (!j)
        return orbit_error_set(ORBIT_EINVAL, "graph %s: properties are not valid JSON: %s "
                               "(line %d, column %d)", g->name, err.text, err.line, err.column);
    if (!json_is_object(j)) {
        json_decref(j);
        return orbit_error_set(ORBIT_EINVAL, "graph %s: properties must be a JSON object",
                               g->name);
    }
    *out = j;
    return ORBIT_OK;
}

/* ---- graphs ---------------------------------------------------------- */

static orbit_graph *graph_new(const orbit_actor *a, const char *name, uint64_t id)
{
    orbit_graph *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->a = a;
    g->kv = orbit_actor_store(a);
    g->ks = orbit_actor_keyspace(a);
    g->id = id;
    g->name = strdup(name);
    if (!g->name) {
        free(g);
        return NULL;
    }
    return g;
}

void orbit_graph_close(orbit_graph *g)
{
    if (!g)
        return;
    free(g->name);
    free(g->etable);
    free(g);
}

const char *orbit_graph_name(const orbit_graph *g) { return g->name; }
uint64_t orbit_graph_id(const orbit_graph *g) { return g->id; }
const char *orbit_graph_endpoint_table(const orbit_graph *g) { return g->etable; }
const orbit_actor *orbit_graph_actor(const orbit_graph *g) { return g->a; }

static int check_name(const char *name)
{
    if (!name || !*name)
        return orbit_error_set(ORBIT_EINVAL, "graph: empty name");
    if (strlen(name) > ORBIT_GRAPH_NAME_MAX)
        return orbit_error_set(ORBIT_EINVAL, "graph: name of %zu bytes (at most %d)",
                               strlen(name), ORBIT_GRAPH_NAME_MAX);
    return ORBIT_OK;
}

static int touch(orbit_tx *tx, const orbit_graph *g)
{
    return orbit_tx_touch(tx, orbit_actor_type(g->a), orbit_actor_id(g->a), g->ks,
                          ORBIT_MODEL_GRAPH);
}

static int bind(orbit_tx *tx, const orbit_graph *g, orbit_txn **t)
{
    return orbit_tx_kv_txn(tx, g->kv, orbit_actor_type(g->a), orbit_actor_id(g->a), t);
}

typedef struct create_arg {
    orbit_graph *g;
} create_arg;

static int create_fn(orbit_tx *tx, void *arg)
{
    orbit_graph *g = ((create_arg *)arg)->g;
    orbit_txn *t;
    int rc = bind(tx, g, &t);
    if (rc)
        return rc;
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT;
    char *text = NULL;
    if ((rc = orbit__gr_key_meta(&key, g)))
        goto out;
    rc = orbit_txn_get(t, key.data, key.len, &val);
    if (rc == ORBIT_OK) {
        rc = orbit_error_set(ORBIT_EEXIST, "graph %s exists", g->name);
        goto out;
    }
    if (rc != ORBIT_NOTFOUND)
        goto out;
    json_t *j = g->etable ? json_pack("{s:i,s:s,s:I}", "v", 1, "endpoint_table", g->etable,
                                      "endpoint_table_id", (json_int_t)g->etable_id)
                          : json_pack("{s:i}", "v", 1);
    text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) {
        rc = ORBIT_ENOMEM;
        goto out;
    }
    if ((rc = orbit__gr_encode(g, key.data, key.len, 0, (const uint8_t *)text, strlen(text), &rec)))
        goto out;
    if ((rc = orbit_txn_put(t, key.data, key.len, rec.data, rec.len)))
        goto out;
    rc = touch(tx, g);
out:
    free(text);
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    orbit_buf_release(&rec);
    return rc;
}

int orbit_graph_create(orbit_tx *tx, const orbit_actor *a, const char *name,
                       const orbit_graph_opts *opts, orbit_graph **out)
{
    if (out)
        *out = NULL;
    if (!a)
        return orbit_error_set(ORBIT_EINVAL, "graph create: NULL actor");
    int rc = check_name(name);
    if (rc)
        return rc;
    uint64_t etid = 0;
    const char *et = opts ? opts->endpoint_table : NULL;
    if (et) {
        if (!*et)
            return orbit_error_set(ORBIT_EINVAL, "graph %s: empty endpoint table name", name);
        rc = orbit_actor_object_id(a, ORBIT_CATALOG_TABLE, et, 0, &etid);
        if (rc == ORBIT_NOTFOUND)
            return orbit_error_set(ORBIT_EINVAL, "graph %s: endpoint table %s does not exist",
                                   name, et);
        if (rc)
            return rc;
    }
    uint64_t id;
    if ((rc = orbit_actor_object_id(a, ORBIT_CATALOG_GRAPH, name, 1, &id)))
        return rc;
    orbit_graph *g = graph_new(a, name, id);
    if (!g)
        return ORBIT_ENOMEM;
    if (et) {
        g->etable = strdup(et);
        g->etable_id = etid;
        if (!g->etable) {
            orbit_graph_close(g);
            return ORBIT_ENOMEM;
        }
    }
    create_arg ca = {g};
    rc = orbit_tx_auto(tx, create_fn, &ca);
    if (rc || !out)
        orbit_graph_close(g);
    else
        *out = g;
    return rc;
}

/* Read and parse the definition into g. */
static int load_meta(gr_reader *r, orbit_graph *g)
{
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    int rc = orbit__gr_key_meta(&key, g);
    if (!rc)
        rc = orbit__gr_get(r, key.data, key.len, &val);
    if (rc == ORBIT_NOTFOUND)
        rc = orbit_error_set(ORBIT_NOTFOUND, "graph %s does not exist", g->name);
    const uint8_t *p;
    size_t n;
    if (!rc)
        rc = orbit__gr_record(&val, key.data, key.len, NULL, &p, &n);
    if (!rc) {
        json_t *j = json_loadb((const char *)p, n, 0, NULL);
        json_t *et = j ? json_object_get(j, "endpoint_table") : NULL;
        json_t *eid = j ? json_object_get(j, "endpoint_table_id") : NULL;
        if (!json_is_object(j) || (et && (!json_is_string(et) || !json_is_integer(eid) ||
                                          json_integer_value(eid) <= 0))) {
            rc = corrupt_key(key.data, key.len, "malformed graph definition");
        } else if (et) {
            g->etable = strdup(json_string_value(et));
            g->etable_id = (uint64_t)json_integer_value(eid);
            if (!g->etable)
                rc = ORBIT_ENOMEM;
        }
        json_decref(j);
    }
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    return rc;
}

int orbit_graph_open(orbit_tx *tx, const orbit_actor *a, const char *name, orbit_graph **out)
{
    *out = NULL;
    if (!a)
        return orbit_error_set(ORBIT_EINVAL, "graph open: NULL actor");
    int rc = check_name(name);
    if (rc)
        return rc;
    uint64_t id;
    rc = orbit_actor_object_id(a, ORBIT_CATALOG_GRAPH, name, 0, &id);
    if (rc == ORBIT_NOTFOUND)
        return orbit_error_set(ORBIT_NOTFOUND, "graph %s does not exist", name);
    if (rc)
        return rc;
    orbit_graph *g = graph_new(a, name, id);
    if (!g)
        return ORBIT_ENOMEM;
    gr_reader r;
    rc = orbit__gr_reader_open(&r, tx, g, 0);
    if (!rc)
        rc = load_meta(&r, g);
    orbit__gr_reader_close(&r);
    if (tx && rc < 0 && rc != ORBIT_EINVAL)
        orbit_tx_fail(tx, rc);
    if (rc) {
        orbit_graph_close(g);
        return rc;
    }
    *out = g;
    return ORBIT_OK;
}

static int drop_fn(orbit_tx *tx, void *arg)
{
    orbit_graph *g = arg;
    orbit_txn *t;
    int rc = bind(tx, g, &t);
    if (rc)
        return rc;
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT, lo = ORBIT_BUF_INIT;
    orbit_buf hi = ORBIT_BUF_INIT;
    if ((rc = orbit__gr_key_meta(&key, g)))
        goto out;
    rc = orbit_txn_get(t, key.data, key.len, &val);
    if (rc == ORBIT_NOTFOUND)
        rc = orbit_error_set(ORBIT_NOTFOUND, "graph %s does not exist", g->name);
    if (rc)
        goto out;
    if ((rc = obj_head(&lo, g)))
        goto out;
    /* The end of the range: the prefix's byte-wise successor. The prefix
     * ends with the graph id's int element, whose last byte may be 0xFF. */
    if ((rc = orbit_buf_set(&hi, lo.data, lo.len)))
        goto out;
    while (hi.len && hi.data[hi.len - 1] == 0xFF)
        hi.len--;
    if (hi.len)
        hi.data[hi.len - 1]++;
    rc = orbit_txn_delete_range(t, lo.data, lo.len, hi.data, hi.len);
    if (!rc)
        rc = touch(tx, g);
out:
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    return rc;
}

int orbit_graph_drop(orbit_tx *tx, orbit_graph *g)
{
    if (!g)
        return orbit_error_set(ORBIT_EINVAL, "graph drop: NULL graph");
    return orbit_tx_auto(tx, drop_fn, g);
}

/* ---- nodes ----------------------------------------------------------- */

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct node_arg {
    orbit_graph *g;
    const void *id;
    size_t idlen;
    const uint8_t *payload; /* the encoded node payload */
    size_t plen;
    unsigned flags;
} node_arg;

static int add_node_fn(orbit_tx *tx, void *arg)
{
    node_arg *na = arg;
    orbit_graph *g = na->g;
    orbit_txn *t;
    int rc = bind(tx, g, &t);
    if (rc)
        return rc;
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT;
    uint64_t created = 0;
    if ((rc = orbit__gr_key_node(&key, g, na->id, na->idlen)))
        goto out;
    rc = orbit_txn_get(t, key.data, key.len, &val);
    if (rc == ORBIT_OK) {
        if (!(na->flags & ORBIT_GRAPH_REPLACE)) {
            rc = orbit_error_set(ORBIT_EEXIST, "graph %s: node '%s' exists", g->name,
                                 orbit__gr_show(0, na->id, na->idlen));
            goto out;
        }
        orbit_record_meta m;
        const uint8_t *p;
        size_t n;
        if ((rc = orbit__gr_record(&val, key.data, key.len, &m, &p, &n)))
            goto out;
        created = m.created_ms;
    } else if (rc != ORBIT_NOTFOUND) {
        goto out;
    }
    if ((rc = orbit__gr_encode(g, key.data, key.len, created, na->payload, na->plen, &rec)))
        goto out;
    if ((rc = orbit_txn_put(t, key.data, key.len, rec.data, rec.len)))
        goto out;
    rc = touch(tx, g);
out:
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    orbit_buf_release(&rec);
    return rc;
}

int orbit_graph_add_node(orbit_tx *tx, orbit_graph *g, const void *id, size_t idlen,
                         const char *const *labels, size_t nlabels, const char *props_json,
                         unsigned flags)
{
    if (!g)
        return orbit_error_set(ORBIT_EINVAL, "graph add node: NULL graph");
    int rc = check_id(g, id, idlen, "node");
    if (rc)
        return rc;
    if (flags & ~ORBIT_GRAPH_REPLACE)
        return orbit_error_set(ORBIT_EINVAL, "graph %s: unknown flags 0x%x", g->name, flags);
    if (nlabels > ORBIT_GRAPH_LABELS_MAX)
        return orbit_error_set(ORBIT_EINVAL, "graph %s: %zu labels (at most %d)", g->name,
                               nlabels, ORBIT_GRAPH_LABELS_MAX);
    if (nlabels && !labels)
        return orbit_error_set(ORBIT_EINVAL, "graph %s: NULL labels", g->name);
    for (size_t i = 0; i < nlabels; i++) {
        if (!labels[i] || !*labels[i])
            return orbit_error_set(ORBIT_EINVAL, "graph %s: empty label", g->name);
        if (strlen(labels[i]) > ORBIT_GRAPH_LABEL_MAX)
            return orbit_error_set(ORBIT_EINVAL, "graph %s: label of %zu bytes (at most %d)",
                                   g->name, strlen(labels[i]), ORBIT_GRAPH_LABEL_MAX);
    }
    json_t *props;
    if ((rc = parse_props(g, props_json, &props)))
        return rc;
    const char *sorted[ORBIT_GRAPH_LABELS_MAX];
    if (nlabels)
        memcpy(sorted, labels, nlabels * sizeof *sorted);
    qsort(sorted, nlabels, sizeof *sorted, cmp_strp);
    json_t *arr = json_array();
    json_t *node = json_object();
    rc = (!arr || !node) ? ORBIT_ENOMEM : ORBIT_OK;
    for (size_t i = 0; !rc && i < nlabels; i++) {
        if (i && strcmp(sorted[i], sorted[i - 1]) == 0)
            continue;
        json_t *s = json_string(sorted[i]);
        if (!s) {
            rc = orbit_error_set(ORBIT_EINVAL, "graph %s: label is not valid UTF-8", g->name);
            break;
        }
        if (json_array_append_new(arr, s))
            rc = ORBIT_ENOMEM;
    }
    char *text = NULL;
    if (!rc) {
        json_object_set_new(node, "labels", arr);
        json_object_set_new(node, "props", props);
        arr = props = NULL;
        text = json_dumps(node, JSON_COMPACT);
        if (!text)
            rc = ORBIT_ENOMEM;
    }
    json_decref(arr);
    json_decref(props);
    json_decref(node);
    if (rc)
        return rc;
    node_arg na = {g, id, idlen, (const uint8_t *)text, strlen(text), flags};
    rc = orbit_tx_auto(tx, add_node_fn, &na);
    free(text);
    return rc;
}

void orbit_graph_node_release(orbit_graph_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nlabels; i++)
        free(n->labels[i]);
    free(n->labels);
    free(n->props_json);
    memset(n, 0, sizeof *n);
}

static int decode_node(const uint8_t *p, size_t n, const uint8_t *key, size_t klen,
                       orbit_graph_node *out)
{
    json_t *j = json_loadb((const char *)p, n, 0, NULL);
    json_t *labels = j ? json_object_get(j, "labels") : NULL;
    json_t *props = j ? json_object_get(j, "props") : NULL;
    int rc = ORBIT_OK;
    if (!json_is_array(labels) || !json_is_object(props)) {
        rc = corrupt_key(key, klen, "malformed node payload");
        goto out;
    }
    size_t nl = json_array_size(labels);
    out->labels = calloc(nl ? nl : 1, sizeof *out->labels);
    out->props_json = json_dumps(props, JSON_COMPACT);
    if (!out->labels || !out->props_json) {
        rc = ORBIT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nl; i++) {
        const char *s = json_string_value(json_array_get(labels, i));
        if (!s) {
            rc = corrupt_key(key, klen, "a node label is not a string");
            goto out;
        }
        if (!(out->labels[i] = strdup(s))) {
            rc = ORBIT_ENOMEM;
            goto out;
        }
        out->nlabels++;
    }
out:
    json_decref(j);
    if (rc)
        orbit_graph_node_release(out);
    return rc;
}

int orbit_graph_get_node(orbit_tx *tx, const orbit_graph *g, const void *id, size_t idlen,
                         orbit_graph_node *out)
{
    if (!out)
        return orbit_error_set(ORBIT_EINVAL, "graph get node: NULL out");
    memset(out, 0, sizeof *out);
    if (!g)
        return orbit_error_set(ORBIT_EINVAL, "graph get node: NULL graph");
    int rc = check_id(g, id, idlen, "node");
    if (rc)
        return rc;
    gr_reader r;
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    rc = orbit__gr_reader_open(&r, tx, g, 0);
    if (!rc)
        rc = orbit__gr_key_node(&key, g, id, idlen);
    if (!rc)
        rc = orbit__gr_get(&r, key.data, key.len, &val);
    if (!rc) {
        orbit_record_meta m;
        const uint8_t *p;
        size_t n;
        rc = orbit__gr_record(&val, key.data, key.len, &m, &p, &n);
        if (!rc)
            rc = decode_node(p, n, key.data, key.len, out);
        if (!rc) {
            out->created_ms = m.created_ms;
            out->updated_ms = m.updated_ms;
        }
    }
    orbit__gr_reader_close(&r);
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    if (tx && rc < 0 && rc != ORBIT_EINVAL)
        orbit_tx_fail(tx, rc);
    return rc;
}

/* ---- edges ----------------------------------------------------------- */

/* The arg of one endpoint's commit check: a copy of what it needs from the
 * graph (the handle may be closed before the commit), the endpoint, and the
 * edge that registered the check (named in the error when still there). */
typedef struct gr_check {
    orbit_graph g; /* a, kv unused; name and etable owned */
    uint8_t *node;
    size_t nlen;
    uint8_t *from, *to;
    size_t flen, tlen;
    char *rel;
} gr_check;

static void check_free(void *p)
{
    gr_check *c = p;
    if (!c)
        return;
    free(c->g.name);
    free(c->g.etable);
    free(c->node);
    free(c->from);
    free(c->to);
    free(c->rel);
    free(c);
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

/* Does adjacency record val (status st) of key hold (rel, other)? */
static int adj_has(const orbit_buf *val, int st, const uint8_t *key, size_t klen, const char *rel,
                   const uint8_t *other, size_t olen, gr_adj *a, int *has)
{
    *has = 0;
    a->n = 0;
    if (st == ORBIT_NOTFOUND)
        return ORBIT_OK;
    if (st)
        return st;
    const uint8_t *p;
    size_t n;
    int rc = orbit__gr_record(val, key, klen, NULL, &p, &n);
    if (!rc)
        rc = orbit__gr_adj_decode(a, p, n, key, klen);
    if (!rc && rel)
        orbit__gr_adj_find(a, (const uint8_t *)rel, strlen(rel), other, olen, has);
    return rc;
}

static int endpoint_check(void *arg, orbit_txn *t)
{
    gr_check *c = arg;
    const orbit_graph *g = &c->g;
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    orbit_buf ko = ORBIT_BUF_INIT, ki = ORBIT_BUF_INIT;
    orbit_buf vals[2] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    gr_adj ao = {0}, ai = {0};
    int rc = g->etable ? orbit__gr_key_row(&key, g, c->node, c->nlen)
                       : orbit__gr_key_node(&key, g, c->node, c->nlen);
    if (!rc)
        rc = orbit_txn_get_for_update(t, key.data, key.len, &val);
    if (rc != ORBIT_NOTFOUND)
        goto out; /* it exists (0) or the read failed */
    /* Missing: fine only if no edge of the graph touches it any more. */
    if ((rc = orbit__gr_key_adj(&ko, g, ORBIT_GRAPH_OUT, c->node, c->nlen)) ||
        (rc = orbit__gr_key_adj(&ki, g, ORBIT_GRAPH_IN, c->node, c->nlen)))
        goto out;
    orbit_slice keys[2] = {{ko.data, ko.len}, {ki.data, ki.len}};
    int st[2];
    rc = orbit_txn_multi_get(t, 2, keys, vals, st);
    if (rc < 0)
        goto out;
    int is_from = orbit__gr_cmp(c->node, c->nlen, c->from, c->flen) == 0;
    int has_o, has_i;
    if ((rc = adj_has(&vals[0], st[0], ko.data, ko.len, is_from ? c->rel : NULL, c->to, c->tlen,
                      &ao, &has_o)) ||
        (rc = adj_has(&vals[1], st[1], ki.data, ki.len, is_from ? NULL : c->rel, c->from,
                      c->flen, &ai, &has_i)))
        goto out;
    if (ao.n == 0 && ai.n == 0) {
        rc = ORBIT_OK;
        goto out;
    }
    /* Name the edge that registered the check if it is still there, else
     * one that is. */
    const char *f, *r, *to;
    if (has_o || has_i) {
        f = orbit__gr_show(0, c->from, c->flen);
        r = c->rel;
        to = orbit__gr_show(1, c->to, c->tlen);
    } else if (ao.n) {
        f = orbit__gr_show(0, c->node, c->nlen);
        r = orbit__gr_show(2, ao.e[0].rel, ao.e[0].rel_len);
        to = orbit__gr_show(1, ao.e[0].other, ao.e[0].other_len);
    } else {
        f = orbit__gr_show(0, ai.e[0].other, ai.e[0].other_len);
        r = orbit__gr_show(2, ai.e[0].rel, ai.e[0].rel_len);
        to = orbit__gr_show(1, c->node, c->nlen);
    }
    if (g->etable)
        rc = orbit_error_set(ORBIT_ECONSTRAINT,
                             "graph %s: edge %s-%s->%s: row '%s' of table %s does not exist",
                             g->name, f, r, to, orbit__gr_show(3, c->node, c->nlen), g->etable);
    else
        rc = orbit_error_set(ORBIT_ECONSTRAINT, "graph %s: edge %s-%s->%s: node '%s' does not "
                             "exist", g->name, f, r, to, orbit__gr_show(3, c->node, c->nlen));
out:
    orbit__gr_adj_release(&ao);
    orbit__gr_adj_release(&ai);
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    orbit_buf_release(&ko);
    orbit_buf_release(&ki);
    orbit_buf_release(&vals[0]);
    orbit_buf_release(&vals[1]);
    return rc;
}

static int add_endpoint_check(orbit_tx *tx, const orbit_graph *g, const uint8_t *node, size_t nlen,
                              const uint8_t *from, size_t flen, const char *rel, const uint8_t *to,
                              size_t tlen)
{
    gr_check *c = calloc(1, sizeof *c);
    if (!c)
        return ORBIT_ENOMEM;
    c->g.ks = g->ks;
    c->g.id = g->id;
    c->g.etable_id = g->etable_id;
    c->g.name = strdup(g->name);
    c->g.etable = g->etable ? strdup(g->etable) : NULL;
    c->node = dup_bytes(node, nlen);
    c->nlen = nlen;
    c->from = dup_bytes(from, flen);
    c->flen = flen;
    c->to = dup_bytes(to, tlen);
    c->tlen = tlen;
    c->rel = strdup(rel);
    if (!c->g.name || (g->etable && !c->g.etable) || !c->node || !c->from || !c->to || !c->rel) {
        check_free(c);
        return ORBIT_ENOMEM;
    }
    /* One check per (keyspace, graph, endpoint) and transaction. */
    orbit_buf dk = ORBIT_BUF_INIT;
    int rc = orbit__gr_key_node(&dk, g, node, nlen);
    if (rc) {
        check_free(c);
        return rc;
    }
    rc = orbit_tx_add_check(tx, endpoint_check, c, check_free, dk.data, dk.len);
    orbit_buf_release(&dk);
    return rc;
}

typedef struct edge_arg {
    orbit_graph *g;
    const uint8_t *from, *to;
    size_t flen, tlen;
    const char *rel;
    double weight;
    const char *props; /* encoded JSON text (add) */
    unsigned flags;
    int del;
} edge_arg;

/* Read the edge and its two adjacency records: vals[0] edge, [1] out(from),
 * [2] in(to). */
static int edge_read(orbit_txn *t, const edge_arg *ea, orbit_buf keys[3], orbit_buf vals[3],
                     int st[3])
{
    const orbit_graph *g = ea->g;
    int rc;
    if ((rc = orbit__gr_key_edge(&keys[0], g, ea->from, ea->flen, ea->rel, ea->to, ea->tlen)) ||
        (rc = orbit__gr_key_adj(&keys[1], g, ORBIT_GRAPH_OUT, ea->from, ea->flen)) ||
        (rc = orbit__gr_key_adj(&keys[2], g, ORBIT_GRAPH_IN, ea->to, ea->tlen)))
        return rc;
    orbit_slice sl[3];
    for (int i = 0; i < 3; i++)
        sl[i] = (orbit_slice){keys[i].data, keys[i].len};
    rc = orbit_txn_multi_get(t, 3, sl, vals, st);
    return rc < 0 ? rc : ORBIT_OK;
}

/* Decode adjacency record i (absent: empty) into a; created gets its
 * creation time (0 when absent). */
static int adj_load(const orbit_buf *key, const orbit_buf *val, int st, gr_adj *a,
                    uint64_t *created)
{
    a->n = 0;
    *created = 0;
    if (st == ORBIT_NOTFOUND)
        return ORBIT_OK;
    if (st)
        return st;
    orbit_record_meta m;
    const uint8_t *p;
    size_t n;
    int rc = orbit__gr_record(val, key->data, key->len, &m, &p, &n);
    if (!rc)
        rc = orbit__gr_adj_decode(a, p, n, key->data, key->len);
    if (!rc)
        *created = m.created_ms;
    return rc;
}

/* Write adjacency a under key (delete it when empty). */
static int adj_store(orbit_txn *t, const orbit_graph *g, const orbit_buf *key, const gr_adj *a,
                     uint64_t created, orbit_buf *scratch, orbit_buf *rec)
{
    if (a->n == 0)
        return orbit_txn_del(t, key->data, key->len);
    int rc = orbit__gr_adj_encode(a, scratch);
    if (!rc)
        rc = orbit__gr_encode(g, key->data, key->len, created, scratch->data, scratch->len, rec);
    if (!rc)
        rc = orbit_txn_put(t, key->data, key->len, rec->data, rec->len);
    return rc;
}

static int too_big(const orbit_graph *g, const char *dir, const uint8_t *node, size_t nlen,
                   size_t size)
{
    return orbit_error_set(ORBIT_ETOOBIG, "graph %s: the %s-adjacency of node '%s' would take "
                           "%zu bytes (at most %u per node and direction)", g->name, dir,
                           orbit__gr_show(0, node, nlen), size, ORBIT_GRAPH_ADJ_MAX);
}

static int edge_fn(orbit_tx *tx, void *arg)
{
    edge_arg *ea = arg;
    orbit_graph *g = ea->g;
    orbit_txn *t;
    int rc = bind(tx, g, &t);
    if (rc)
        return rc;
    orbit_buf keys[3] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    orbit_buf vals[3] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    orbit_buf scratch = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT;
    gr_adj ao = {0}, ai = {0};
    int st[3];
    uint64_t c_edge = 0, c_o, c_i;
    const uint8_t *rel = (const uint8_t *)ea->rel;
    size_t rlen = strlen(ea->rel);
    if ((rc = edge_read(t, ea, keys, vals, st)))
        goto out;
    if (st[0] < 0) {
        rc = st[0];
        goto out;
    }
    int exists = st[0] == ORBIT_OK;
    if (exists) {
        orbit_record_meta m;
        const uint8_t *p;
        size_t n;
        if ((rc = orbit__gr_record(&vals[0], keys[0].data, keys[0].len, &m, &p, &n)))
            goto out;
        c_edge = m.created_ms;
    }
    if ((rc = adj_load(&keys[1], &vals[1], st[1], &ao, &c_o)) ||
        (rc = adj_load(&keys[2], &vals[2], st[2], &ai, &c_i)))
        goto out;
    int fo, fi;
    size_t po = orbit__gr_adj_find(&ao, rel, rlen, ea->to, ea->tlen, &fo);
    size_t pi = orbit__gr_adj_find(&ai, rel, rlen, ea->from, ea->flen, &fi);

    if (ea->del) {
        if (!exists) {
            rc = orbit_error_set(ORBIT_NOTFOUND, "graph %s: no edge %s-%s->%s", g->name,
                                 orbit__gr_show(0, ea->from, ea->flen), ea->rel,
                                 orbit__gr_show(1, ea->to, ea->tlen));
            goto out;
        }
        if (fo)
            orbit__gr_adj_remove(&ao, po);
        if (fi)
            orbit__gr_adj_remove(&ai, pi);
        if ((rc = orbit_txn_del(t, keys[0].data, keys[0].len)))
            goto out;
    } else {
        if (exists && !(ea->flags & ORBIT_GRAPH_REPLACE)) {
            rc = orbit_error_set(ORBIT_EEXIST, "graph %s: edge %s-%s->%s exists", g->name,
                                 orbit__gr_show(0, ea->from, ea->flen), ea->rel,
                                 orbit__gr_show(1, ea->to, ea->tlen));
            goto out;
        }
        gr_adj_entry eo = {rel, rlen, ea->to, ea->tlen, ea->weight};
        gr_adj_entry ei = {rel, rlen, ea->from, ea->flen, ea->weight};
        if (fo)
            ao.e[po].weight = ea->weight;
        else if ((rc = orbit__gr_adj_insert(&ao, po, &eo)))
            goto out;
        if (fi)
            ai.e[pi].weight = ea->weight;
        else if ((rc = orbit__gr_adj_insert(&ai, pi, &ei)))
            goto out;
        size_t so = orbit__gr_adj_size(&ao), si = orbit__gr_adj_size(&ai);
        if (so > ORBIT_GRAPH_ADJ_MAX) {
            rc = too_big(g, "out", ea->from, ea->flen, so);
            goto out;
        }
        if (si > ORBIT_GRAPH_ADJ_MAX) {
            rc = too_big(g, "in", ea->to, ea->tlen, si);
            goto out;
        }
        /* The edge record: weight, then the properties. */
        size_t plen = strlen(ea->props);
        if ((rc = orbit_buf_reserve(&scratch, 8 + plen)))
            goto out;
        put_u64be(scratch.data, dbl_bits(ea->weight));
        memcpy(scratch.data + 8, ea->props, plen);
        scratch.len = 8 + plen;
        if ((rc = orbit__gr_encode(g, keys[0].data, keys[0].len, c_edge, scratch.data,
                                   scratch.len, &rec)) ||
            (rc = orbit_txn_put(t, keys[0].data, keys[0].len, rec.data, rec.len)))
            goto out;
    }
    if ((rc = adj_store(t, g, &keys[1], &ao, c_o, &scratch, &rec)) ||
        (rc = adj_store(t, g, &keys[2], &ai, c_i, &scratch, &rec)))
        goto out;
    if (!ea->del &&
        ((rc = add_endpoint_check(tx, g, ea->from, ea->flen, ea->from, ea->flen, ea->rel, ea->to,
                                  ea->tlen)) ||
         (rc = add_endpoint_check(tx, g, ea->to, ea->tlen, ea->from, ea->flen, ea->rel, ea->to,
                                  ea->tlen))))
        goto out;
    rc = touch(tx, g);
out:
    for (int i = 0; i < 3; i++) {
        orbit_buf_release(&keys[i]);
        orbit_buf_release(&vals[i]);
    }
    orbit_buf_release(&scratch);
    orbit_buf_release(&rec);
    orbit__gr_adj_release(&ao);
    orbit__gr_adj_release(&ai);
    return rc;
}

static int edge_args(const orbit_graph *g, const void *from, size_t flen, const char *rel,
                     const void *to, size_t tlen)
{
    int rc = check_id(g, from, flen, "from");
    if (!rc)
        rc = check_id(g, to, tlen, "to");
    if (!rc)
        rc = check_rel(g, rel);
    return rc;
}

int orbit_graph_add_edge(orbit_tx *tx, orbit_graph *g, const void *from, size_t flen,
                         const char *rel, const void *to, size_t tlen,
                         const orbit_graph_edge_opts *opts)
{
    if (!g)
        return orbit_error_set(ORBIT_EINVAL, "graph add edge: NULL graph");
    int rc = edge_args(g, from, flen, rel, to, tlen);
    if (rc)
        return rc;
    orbit_graph_edge_opts o = {0};
    if (opts)
        o = *opts;
    if (o.flags & ~ORBIT_GRAPH_REPLACE)
        return orbit_error_set(ORBIT_EINVAL, "graph %s: unknown flags 0x%x", g->name, o.flags);
    double w = o.set_weight ? o.weight : 1.0;
    if (!weight_ok(w))
        return orbit_error_set(ORBIT_EINVAL, "graph %s: edge weight %g (weights are finite and "
                               ">= 0)", g->name, w);
    if (w == 0)
        w = 0; /* -0.0 is stored as 0 */
    json_t *props;
    if ((rc = parse_props(g, o.props_json, &props)))
        return rc;
    char *text = json_dumps(props, JSON_COMPACT);
    json_decref(props);
    if (!text)
        return ORBIT_ENOMEM;
    edge_arg ea = {g, from, to, flen, tlen, rel, w, text, o.flags, 0};
    rc = orbit_tx_auto(tx, edge_fn, &ea);
    free(text);
    return rc;
}

int orbit_graph_del_edge(orbit_tx *tx, orbit_graph *g, const void *from, size_t flen,
                         const char *rel, const void *to, size_t tlen)
{
    if (!g)
        return orbit_error_set(ORBIT_EINVAL, "graph del edge: NULL graph");
    int rc = edge_args(g, from, flen, rel, to, tlen);
    if (rc)
        return rc;
    edge_arg ea = {g, from, to, flen, tlen, rel, 0, NULL, 0, 1};
    return orbit_tx_auto(tx, edge_fn, &ea);
}

void orbit_graph_edge_release(orbit_graph_edge *e)
{
    if (!e)
        return;
    free(e->props_json);
    memset(e, 0, sizeof *e);
}

int orbit_graph_get_edge(orbit_tx *tx, const orbit_graph *g, const void *from, size_t flen,
                         const char *rel, const void *to, size_t tlen, orbit_graph_edge *out)
{
    if (!out)
        return orbit_error_set(ORBIT_EINVAL, "graph get edge: NULL out");
    memset(out, 0, sizeof *out);
    if (!g)
        return orbit_error_set(ORBIT_EINVAL, "graph get edge: NULL graph");
    int rc = edge_args(g, from, flen, rel, to, tlen);
    if (rc)
        return rc;
    gr_reader r;
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    rc = orbit__gr_reader_open(&r, tx, g, 0);
    if (!rc)
        rc = orbit__gr_key_edge(&key, g, from, flen, rel, to, tlen);
    if (!rc)
        rc = orbit__gr_get(&r, key.data, key.len, &val);
    if (!rc) {
        orbit_record_meta m;
        const uint8_t *p;
        size_t n;
        rc = orbit__gr_record(&val, key.data, key.len, &m, &p, &n);
        if (!rc && n < 8)
            rc = corrupt_key(key.data, key.len, "truncated edge record");
        json_t *j = NULL;
        if (!rc) {
            out->weight = bits_dbl(get_u64be(p));
            j = json_loadb((const char *)p + 8, n - 8, 0, NULL);
            if (!weight_ok(out->weight) || !json_is_object(j))
                rc = corrupt_key(key.data, key.len, "malformed edge record");
        }
        if (!rc && !(out->props_json = json_dumps(j, JSON_COMPACT)))
            rc = ORBIT_ENOMEM;
        json_decref(j);
        if (!rc) {
            out->created_ms = m.created_ms;
            out->updated_ms = m.updated_ms;
        } else {
            orbit_graph_edge_release(out);
        }
    }
    orbit__gr_reader_close(&r);
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    if (tx && rc < 0 && rc != ORBIT_EINVAL)
        orbit_tx_fail(tx, rc);
    return rc;
}

/* ---- deleting a node ------------------------------------------------- */

typedef struct delnode_arg {
    orbit_graph *g;
    const uint8_t *id;
    size_t idlen;
    size_t removed;
} delnode_arg;

/* Remove from a every entry whose other end is id; returns how many. */
static size_t adj_remove_other(gr_adj *a, const uint8_t *id, size_t idlen)
{
    size_t w = 0, removed = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (orbit__gr_cmp(a->e[i].other, a->e[i].other_len, id, idlen) == 0)
            removed++;
        else
            a->e[w++] = a->e[i];
    }
    a->n = w;
    return removed;
}

static int delnode_fn(orbit_tx *tx, void *arg)
{
    delnode_arg *da = arg;
    orbit_graph *g = da->g;
    orbit_txn *t;
    int rc = bind(tx, g, &t);
    if (rc)
        return rc;
    da->removed = 0;
    orbit_buf keys[3] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    orbit_buf vals[3] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    orbit_buf ek = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT;
    gr_adj own[2] = {{0}, {0}};
    /* The other ends' records: for own[0] (out) entries their in-records,
     * for own[1] (in) entries their out-records; one per distinct
     * (direction, other), self excluded. */
    size_t nother = 0;
    orbit_buf *okeys = NULL, *ovals = NULL;
    orbit_slice *osl = NULL;
    int *ost = NULL;
    gr_adj oa = {0};
    int st[3];
    uint64_t created;
    if ((rc = orbit__gr_key_node(&keys[0], g, da->id, da->idlen)) ||
        (rc = orbit__gr_key_adj(&keys[1], g, ORBIT_GRAPH_OUT, da->id, da->idlen)) ||
        (rc = orbit__gr_key_adj(&keys[2], g, ORBIT_GRAPH_IN, da->id, da->idlen)))
        goto out;
    orbit_slice sl[3];
    for (int i = 0; i < 3; i++)
        sl[i] = (orbit_slice){keys[i].data, keys[i].len};
    rc = orbit_txn_multi_get(t, 3, sl, vals, st);
    if (rc < 0)
        goto out;
    if (st[0] < 0) {
        rc = st[0];
        goto out;
    }
    if (st[0] == ORBIT_NOTFOUND && st[1] == ORBIT_NOTFOUND && st[2] == ORBIT_NOTFOUND) {
        rc = orbit_error_set(ORBIT_NOTFOUND, "graph %s: no node '%s'", g->name,
                             orbit__gr_show(0, da->id, da->idlen));
        goto out;
    }
    if (st[0] == ORBIT_OK) {
        const uint8_t *p;
        size_t n;
        if ((rc = orbit__gr_record(&vals[0], keys[0].data, keys[0].len, NULL, &p, &n)))
            goto out;
    }
    if ((rc = adj_load(&keys[1], &vals[1], st[1], &own[0], &created)) ||
        (rc = adj_load(&keys[2], &vals[2], st[2], &own[1], &created)))
        goto out;
    size_t total = own[0].n + own[1].n;
    okeys = calloc(total ? total : 1, sizeof *okeys);
    ovals = calloc(total ? total : 1, sizeof *ovals);
    osl = calloc(total ? total : 1, sizeof *osl);
    ost = calloc(total ? total : 1, sizeof *ost);
    int *odir = calloc(total ? total : 1, sizeof *odir);
    if (!okeys || !ovals || !osl || !ost || !odir) {
        free(odir);
        rc = ORBIT_ENOMEM;
        goto out;
    }
    for (int d = 0; d < 2; d++) {
        /* Entries are sorted by (rel, other): the same other may recur
         * under several relations, so deduplicate against what is there. */
        orbit_graph_dir od = d == 0 ? ORBIT_GRAPH_IN : ORBIT_GRAPH_OUT;
        for (size_t i = 0; i < own[d].n; i++) {
            const gr_adj_entry *e = &own[d].e[i];
            if (orbit__gr_cmp(e->other, e->other_len, da->id, da->idlen) == 0)
                continue; /* a self-loop: both its entries are in own records */
            orbit_buf k = ORBIT_BUF_INIT;
            if ((rc = orbit__gr_key_adj(&k, g, od, e->other, e->other_len))) {
                free(odir);
                goto out;
            }
            size_t j;
            for (j = 0; j < nother; j++)
                if (odir[j] == (int)od &&
                    orbit__gr_cmp(okeys[j].data, okeys[j].len, k.data, k.len) == 0)
                    break;
            if (j < nother) {
                orbit_buf_release(&k);
                continue;
            }
            okeys[nother] = k;
            odir[nother] = (int)od;
            osl[nother] = (orbit_slice){okeys[nother].data, okeys[nother].len};
            nother++;
        }
    }
    free(odir);
    rc = orbit_txn_multi_get(t, nother, osl, ovals, ost);
    if (rc < 0)
        goto out;
    /* Check every record before the first write. */
    for (size_t j = 0; j < nother; j++) {
        if ((rc = adj_load(&okeys[j], &ovals[j], ost[j], &oa, &created)))
            goto out;
    }
    for (size_t j = 0; j < nother; j++) {
        if ((rc = adj_load(&okeys[j], &ovals[j], ost[j], &oa, &created)))
            goto out;
        adj_remove_other(&oa, da->id, da->idlen);
        if ((rc = adj_store(t, g, &okeys[j], &oa, created, &scratch, &rec)))
            goto out;
    }
    /* The edges: every out entry (id, rel, other), every in entry
     * (other, rel, id) but self-loops, counted once from the out side. */
    for (int d = 0; d < 2; d++) {
        for (size_t i = 0; i < own[d].n; i++) {
            const gr_adj_entry *e = &own[d].e[i];
            int self = orbit__gr_cmp(e->other, e->other_len, da->id, da->idlen) == 0;
            if (d == 1 && self)
                continue;
            char rel[ORBIT_GRAPH_REL_MAX + 1];
            memcpy(rel, e->rel, e->rel_len);
            rel[e->rel_len] = '\0';
            ek.len = 0;
            rc = d == 0 ? orbit__gr_key_edge(&ek, g, da->id, da->idlen, rel, e->other, e->other_len)
                        : orbit__gr_key_edge(&ek, g, e->other, e->other_len, rel, da->id,
                                             da->idlen);
            if (rc || (rc = orbit_txn_del(t, ek.data, ek.len)))
                goto out;
            da->removed++;
        }
    }
    /* The node and both of its records, deleted even when absent, so a
     * concurrent edge write to this node conflicts with this delete. */
    for (int i = 0; i < 3; i++)
        if ((rc = orbit_txn_del(t, keys[i].data, keys[i].len)))
            goto out;
    rc = touch(tx, g);
out:
    for (int i = 0; i < 3; i++) {
        orbit_buf_release(&keys[i]);
        orbit_buf_release(&vals[i]);
    }
    for (size_t j = 0; okeys && j < nother; j++)
        orbit_buf_release(&okeys[j]);
    for (size_t j = 0; ovals && j < (own[0].n + own[1].n); j++)
        orbit_buf_release(&ovals[j]);
    free(okeys);
    free(ovals);
    free(osl);
    free(ost);
    orbit__gr_adj_release(&own[0]);
    orbit__gr_adj_release(&own[1]);
    orbit__gr_adj_release(&oa);
    orbit_buf_release(&ek);
    orbit_buf_release(&scratch);
    orbit_buf_release(&rec);
    return rc;
}

int orbit_graph_del_node(orbit_tx *tx, orbit_graph *g, const void *id, size_t idlen,
                         size_t *edges_removed)
{
    if (edges_removed)
        *edges_removed = 0;
    if (!g)
        return orbit_error_set(ORBIT_EINVAL, "graph del node: NULL graph");
    int rc = check_id(g, id, idlen, "node");
    if (rc)
        return rc;
    delnode_arg da = {g, id, idlen, 0};
    rc = orbit_tx_auto(tx, delnode_fn, &da);
    if (rc == ORBIT_OK && edges_removed)
        *edges_removed = da.removed;
    return rc;
}
