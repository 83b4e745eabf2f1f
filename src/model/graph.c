/*
 * The graph model's writes and its shared machinery (orbit/graph.h):
 * graphs (create, open, drop), nodes and edges, the reader and record
 * helpers, and the endpoint check run at commit. The paged adjacency lists
 * are graph_adj.c's, the reads graph_read.c's.
 *
 * Invariants (each write keeps them inside its one transaction):
 *   - edge (f, r, t) exists  <=>  out(f) holds (r, t, w)  <=>  in(t) holds
 *     (r, f, w), with the same weight w as the edge record;
 *   - every key of graph g lies in (ks, "grp", g), so drop is one range;
 *   - nothing is written before every argument, JSON text and stored record
 *     read has been checked, and before the size limits are known to hold;
 *   - a node delete deletes its list heads even when absent, and an edge
 *     write writes both endpoints' list pages, so the two conflict and an
 *     edge never survives its endpoint's concurrent delete; the endpoint
 *     check reads with get-for-update for the same reason.
 *
 * Layer: src/model, on the cross-model transaction (orbit/txn.h), the
 * contract (orbit/kv.h) and the codec; JSON through jansson.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
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

int orbit__gr_corrupt(const uint8_t *key, size_t klen, const char *why)
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
    return orbit__reader_open(r, tx, g->a, snapshot);
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
    g->page_max = GR_PAGE_DEFAULT;
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
    json_t *j = json_pack("{s:i,s:I}", "v", 1, "page_bytes", (json_int_t)g->page_max);
    if (j && g->etable &&
        (json_object_set_new(j, "endpoint_table", json_string(g->etable)) ||
         json_object_set_new(j, "endpoint_table_id", json_integer((json_int_t)g->etable_id)))) {
        json_decref(j);
        j = NULL;
    }
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
    size_t page = opts && opts->adj_page_bytes ? opts->adj_page_bytes : GR_PAGE_DEFAULT;
    if (page < GR_PAGE_MIN || page > ORBIT_GRAPH_ADJ_MAX)
        return orbit_error_set(ORBIT_EINVAL, "graph %s: adjacency page size %zu (%u to %u)", name,
                               page, GR_PAGE_MIN, ORBIT_GRAPH_ADJ_MAX);
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
    g->page_max = page;
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
        rc = orbit__reader_get(r, key.data, key.len, &val);
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
        json_t *pg = j ? json_object_get(j, "page_bytes") : NULL;
        if (!json_is_object(j) || !json_is_integer(pg) ||
            json_integer_value(pg) < (json_int_t)GR_PAGE_MIN ||
            json_integer_value(pg) > (json_int_t)ORBIT_GRAPH_ADJ_MAX ||
            (et && (!json_is_string(et) || !json_is_integer(eid) ||
                    json_integer_value(eid) <= 0))) {
            rc = orbit__gr_corrupt(key.data, key.len, "malformed graph definition");
        } else if ((g->page_max = (size_t)json_integer_value(pg)), et) {
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
    orbit__reader_close(&r);
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
        rc = orbit__gr_corrupt(key, klen, "malformed node payload");
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
            rc = orbit__gr_corrupt(key, klen, "a node label is not a string");
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
        rc = orbit__reader_get(&r, key.data, key.len, &val);
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
    orbit__reader_close(&r);
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

/*
 * The commit check of one endpoint: it must exist (as a node, or a row of
 * the endpoint table), read with get-for-update so that a concurrent
 * delete conflicts, unless no edge of the graph touches it any more (its
 * heads are absent: a head exists exactly while its list is not empty).
 */
static int endpoint_check(void *arg, orbit_txn *t)
{
    gr_check *c = arg;
    const orbit_graph *g = &c->g;
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    gr_alist ls[2];
    int have = 0;
    int rc = g->etable ? orbit__gr_key_row(&key, g, c->node, c->nlen)
                       : orbit__gr_key_node(&key, g, c->node, c->nlen);
    if (!rc)
        rc = orbit_txn_get_for_update(t, key.data, key.len, &val);
    if (rc != ORBIT_NOTFOUND)
        goto out; /* it exists (0) or the read failed */
    if ((rc = orbit__gr_alist_init(&ls[0], g, ORBIT_GRAPH_OUT, c->node, c->nlen)))
        goto out;
    if ((rc = orbit__gr_alist_init(&ls[1], g, ORBIT_GRAPH_IN, c->node, c->nlen))) {
        orbit__gr_alist_release(&ls[0]);
        goto out;
    }
    have = 1;
    gr_reader r = {.txn = t};
    orbit_slice sl[2] = {{ls[0].head.key.data, ls[0].head.key.len},
                         {ls[1].head.key.data, ls[1].head.key.len}};
    orbit_buf vals[2] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    int st[2];
    rc = orbit__reader_mget(&r, 2, sl, vals, st);
    if (rc >= 0) {
        rc = orbit__gr_alist_head(&ls[0], &vals[0], st[0]);
        if (!rc)
            rc = orbit__gr_alist_head(&ls[1], &vals[1], st[1]);
    }
    orbit_buf_release(&vals[0]);
    orbit_buf_release(&vals[1]);
    if (rc)
        goto out;
    if (!ls[0].exists && !ls[1].exists)
        goto out; /* rc == 0: no edge left touching it */
    /* Name the edge that registered the check if it is still there, else
     * one that is (its first page holds an entry). */
    orbit_buf ek = ORBIT_BUF_INIT, ev = ORBIT_BUF_INIT;
    rc = orbit__gr_key_edge(&ek, g, c->from, c->flen, c->rel, c->to, c->tlen);
    if (!rc)
        rc = orbit_txn_get(t, ek.data, ek.len, &ev);
    orbit_buf_release(&ek);
    orbit_buf_release(&ev);
    if (rc < 0)
        goto out;
    char f[200], rl[200], to[200];
    if (rc == ORBIT_OK) {
        snprintf(f, sizeof f, "%s", orbit__gr_show(0, c->from, c->flen));
        snprintf(rl, sizeof rl, "%s", c->rel);
        snprintf(to, sizeof to, "%s", orbit__gr_show(0, c->to, c->tlen));
    } else {
        int in = !ls[0].exists;
        gr_alist *l = &ls[in];
        if (l->head.a.n == 0) {
            gr_batch b = {0};
            rc = orbit__gr_alist_want_rel(l, NULL, &b);
            if (!rc)
                rc = orbit__gr_batch_read(&b, &r);
            orbit__gr_batch_release(&b);
            if (rc)
                goto out;
        }
        const gr_adj *a = orbit__gr_alist_entries(l, &rc);
        if (rc)
            goto out;
        if (a->n == 0) {
            rc = orbit__gr_corrupt(l->head.key.data, l->head.key.len, "an adjacency head "
                                   "without entries");
            goto out;
        }
        snprintf(rl, sizeof rl, "%s", orbit__gr_show(0, a->e[0].rel, a->e[0].rel_len));
        snprintf(in ? f : to, 200, "%s", orbit__gr_show(0, a->e[0].other, a->e[0].other_len));
        snprintf(in ? to : f, 200, "%s", orbit__gr_show(0, c->node, c->nlen));
    }
    if (g->etable)
        rc = orbit_error_set(ORBIT_ECONSTRAINT,
                             "graph %s: edge %s-%s->%s: row '%s' of table %s does not exist",
                             g->name, f, rl, to, orbit__gr_show(0, c->node, c->nlen), g->etable);
    else
        rc = orbit_error_set(ORBIT_ECONSTRAINT, "graph %s: edge %s-%s->%s: node '%s' does not "
                             "exist", g->name, f, rl, to, orbit__gr_show(0, c->node, c->nlen));
out:
    if (have) {
        orbit__gr_alist_release(&ls[0]);
        orbit__gr_alist_release(&ls[1]);
    }
    orbit_buf_release(&key);
    orbit_buf_release(&val);
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
    c->g.page_max = g->page_max;
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

static int edge_fn(orbit_tx *tx, void *arg)
{
    edge_arg *ea = arg;
    orbit_graph *g = ea->g;
    orbit_txn *t;
    int rc = bind(tx, g, &t);
    if (rc)
        return rc;
    orbit_buf ek = ORBIT_BUF_INIT, ev = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT,
              rec = ORBIT_BUF_INIT;
    orbit_buf vals[3] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    gr_alist lo, li; /* out(from), in(to) */
    int have_o = 0, have_i = 0;
    gr_batch b = {0};
    gr_reader r = {.txn = t};
    uint64_t c_edge = 0;
    const uint8_t *rel = (const uint8_t *)ea->rel;
    size_t rlen = strlen(ea->rel);
    if ((rc = orbit__gr_key_edge(&ek, g, ea->from, ea->flen, ea->rel, ea->to, ea->tlen)))
        goto out;
    if ((rc = orbit__gr_alist_init(&lo, g, ORBIT_GRAPH_OUT, ea->from, ea->flen)))
        goto out;
    have_o = 1;
    if ((rc = orbit__gr_alist_init(&li, g, ORBIT_GRAPH_IN, ea->to, ea->tlen)))
        goto out;
    have_i = 1;
    /* One multi-get: the edge and both heads; then at most one more for
     * the two pages the entries belong in. */
    orbit_slice sl[3] = {{ek.data, ek.len},
                         {lo.head.key.data, lo.head.key.len},
                         {li.head.key.data, li.head.key.len}};
    int st[3];
    rc = orbit__reader_mget(&r, 3, sl, vals, st);
    if (rc < 0)
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
        if ((rc = orbit__gr_record(&vals[0], ek.data, ek.len, &m, &p, &n)))
            goto out;
        c_edge = m.created_ms;
    }
    if ((rc = orbit__gr_alist_head(&lo, &vals[1], st[1])) ||
        (rc = orbit__gr_alist_head(&li, &vals[2], st[2])))
        goto out;
    if (ea->del && !exists) {
        rc = orbit_error_set(ORBIT_NOTFOUND, "graph %s: no edge %s-%s->%s", g->name,
                             orbit__gr_show(0, ea->from, ea->flen), ea->rel,
                             orbit__gr_show(1, ea->to, ea->tlen));
        goto out;
    }
    if (!ea->del && exists && !(ea->flags & ORBIT_GRAPH_REPLACE)) {
        rc = orbit_error_set(ORBIT_EEXIST, "graph %s: edge %s-%s->%s exists", g->name,
                             orbit__gr_show(0, ea->from, ea->flen), ea->rel,
                             orbit__gr_show(1, ea->to, ea->tlen));
        goto out;
    }
    if ((rc = orbit__gr_alist_want(&lo, rel, rlen, ea->to, ea->tlen, &b)) ||
        (rc = orbit__gr_alist_want(&li, rel, rlen, ea->from, ea->flen, &b)) ||
        (rc = orbit__gr_batch_read(&b, &r)))
        goto out;
    int hit;
    if (ea->del) {
        if ((rc = orbit__gr_alist_remove(&lo, rel, rlen, ea->to, ea->tlen, &hit)) ||
            (rc = orbit__gr_alist_remove(&li, rel, rlen, ea->from, ea->flen, &hit)))
            goto out;
    } else {
        gr_adj_entry eo = {rel, rlen, ea->to, ea->tlen, ea->weight};
        gr_adj_entry ei = {rel, rlen, ea->from, ea->flen, ea->weight};
        if ((rc = orbit__gr_alist_insert(&lo, &eo, &hit)) ||
            (rc = orbit__gr_alist_insert(&li, &ei, &hit)))
            goto out;
    }
    /* Every check before the first write. */
    if ((rc = orbit__gr_alist_finish(&lo)) || (rc = orbit__gr_alist_finish(&li)))
        goto out;
    if (ea->del) {
        if ((rc = orbit_txn_del(t, ek.data, ek.len)))
            goto out;
    } else {
        /* The edge record: weight, then the properties. */
        size_t plen = strlen(ea->props);
        if ((rc = orbit_buf_reserve(&scratch, 8 + plen)))
            goto out;
        gr_put_u64be(scratch.data, gr_dbl_bits(ea->weight));
        memcpy(scratch.data + 8, ea->props, plen);
        scratch.len = 8 + plen;
        if ((rc = orbit__gr_encode(g, ek.data, ek.len, c_edge, scratch.data, scratch.len, &rec)) ||
            (rc = orbit_txn_put(t, ek.data, ek.len, rec.data, rec.len)))
            goto out;
    }
    if ((rc = orbit__gr_alist_write(&lo, t)) || (rc = orbit__gr_alist_write(&li, t)))
        goto out;
    if (!ea->del &&
        ((rc = add_endpoint_check(tx, g, ea->from, ea->flen, ea->from, ea->flen, ea->rel, ea->to,
                                  ea->tlen)) ||
         (rc = add_endpoint_check(tx, g, ea->to, ea->tlen, ea->from, ea->flen, ea->rel, ea->to,
                                  ea->tlen))))
        goto out;
    rc = touch(tx, g);
out:
    for (int i = 0; i < 3; i++)
        orbit_buf_release(&vals[i]);
    orbit_buf_release(&ek);
    orbit_buf_release(&ev);
    orbit_buf_release(&scratch);
    orbit_buf_release(&rec);
    orbit__gr_batch_release(&b);
    if (have_o)
        orbit__gr_alist_release(&lo);
    if (have_i)
        orbit__gr_alist_release(&li);
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
    if (!gr_weight_ok(w))
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
        rc = orbit__reader_get(&r, key.data, key.len, &val);
    if (!rc) {
        orbit_record_meta m;
        const uint8_t *p;
        size_t n;
        rc = orbit__gr_record(&val, key.data, key.len, &m, &p, &n);
        if (!rc && n < 8)
            rc = orbit__gr_corrupt(key.data, key.len, "truncated edge record");
        json_t *j = NULL;
        if (!rc) {
            out->weight = gr_bits_dbl(gr_get_u64be(p));
            j = json_loadb((const char *)p + 8, n - 8, 0, NULL);
            if (!gr_weight_ok(out->weight) || !json_is_object(j))
                rc = orbit__gr_corrupt(key.data, key.len, "malformed edge record");
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
    orbit__reader_close(&r);
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

/* An entry (rel, id) to remove from the list of `other` in `dir`. */
typedef struct dn_ref {
    orbit_graph_dir dir;
    const uint8_t *other, *rel;
    size_t olen, rlen;
    size_t list; /* index into the other ends' lists */
} dn_ref;

static int dn_cmp(const void *a, const void *b)
{
    const dn_ref *x = a, *y = b;
    if (x->dir != y->dir)
        return x->dir < y->dir ? -1 : 1;
    return orbit__gr_cmp(x->other, x->olen, y->other, y->olen);
}

static int edge_del_key(orbit_txn *t, const orbit_graph *g, orbit_buf *k, const uint8_t *f,
                        size_t flen, const uint8_t *rel, size_t rlen, const uint8_t *to,
                        size_t tlen)
{
    char r[ORBIT_GRAPH_REL_MAX + 1];
    memcpy(r, rel, rlen);
    r[rlen] = '\0';
    k->len = 0;
    int rc = orbit__gr_key_edge(k, g, f, flen, r, to, tlen);
    return rc ? rc : orbit_txn_del(t, k->data, k->len);
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
    gr_reader r = {.txn = t};
    orbit_buf nk = ORBIT_BUF_INIT, ek = ORBIT_BUF_INIT;
    orbit_buf vals[3] = {ORBIT_BUF_INIT, ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    gr_alist own[2];
    int have_own = 0;
    gr_alist *others = NULL;
    size_t nothers = 0;
    dn_ref *refs = NULL;
    size_t nrefs = 0;
    orbit_slice *sl = NULL;
    int *st = NULL;
    orbit_buf *ov = NULL;
    gr_batch b = {0};
    const gr_adj *ent[2];
    if ((rc = orbit__gr_key_node(&nk, g, da->id, da->idlen)))
        goto out;
    if ((rc = orbit__gr_alist_init(&own[0], g, ORBIT_GRAPH_OUT, da->id, da->idlen)))
        goto out;
    if ((rc = orbit__gr_alist_init(&own[1], g, ORBIT_GRAPH_IN, da->id, da->idlen))) {
        orbit__gr_alist_release(&own[0]);
        goto out;
    }
    have_own = 1;
    orbit_slice s3[3] = {{nk.data, nk.len},
                         {own[0].head.key.data, own[0].head.key.len},
                         {own[1].head.key.data, own[1].head.key.len}};
    int st3[3];
    rc = orbit__reader_mget(&r, 3, s3, vals, st3);
    if (rc < 0)
        goto out;
    if (st3[0] < 0) {
        rc = st3[0];
        goto out;
    }
    if (st3[0] == ORBIT_NOTFOUND && st3[1] == ORBIT_NOTFOUND && st3[2] == ORBIT_NOTFOUND) {
        rc = orbit_error_set(ORBIT_NOTFOUND, "graph %s: no node '%s'", g->name,
                             orbit__gr_show(0, da->id, da->idlen));
        goto out;
    }
    if (st3[0] == ORBIT_OK) {
        const uint8_t *p;
        size_t n;
        if ((rc = orbit__gr_record(&vals[0], nk.data, nk.len, NULL, &p, &n)))
            goto out;
    }
    /* The node's own lists, whole: two multi-gets at most. */
    if ((rc = orbit__gr_alist_head(&own[0], &vals[1], st3[1])) ||
        (rc = orbit__gr_alist_head(&own[1], &vals[2], st3[2])) ||
        (rc = orbit__gr_alist_want_rel(&own[0], NULL, &b)) ||
        (rc = orbit__gr_alist_want_rel(&own[1], NULL, &b)) || (rc = orbit__gr_batch_read(&b, &r)))
        goto out;
    for (int d = 0; d < 2; d++) {
        ent[d] = orbit__gr_alist_entries(&own[d], &rc);
        if (rc)
            goto out;
    }
    /* What to remove from the other ends: for an out entry (rel, other),
     * (rel, id) from other's in-list; for an in entry, from its out-list.
     * Self-loops live in the node's own lists only. */
    size_t total = ent[0]->n + ent[1]->n;
    refs = malloc((total ? total : 1) * sizeof *refs);
    if (!refs) {
        rc = ORBIT_ENOMEM;
        goto out;
    }
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < ent[d]->n; i++) {
            const gr_adj_entry *e = &ent[d]->e[i];
            if (orbit__gr_cmp(e->other, e->other_len, da->id, da->idlen) == 0)
                continue;
            refs[nrefs++] = (dn_ref){d == 0 ? ORBIT_GRAPH_IN : ORBIT_GRAPH_OUT, e->other, e->rel,
                                     e->other_len, e->rel_len, 0};
        }
    qsort(refs, nrefs, sizeof *refs, dn_cmp);
    others = calloc(nrefs ? nrefs : 1, sizeof *others);
    if (!others) {
        rc = ORBIT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nrefs; i++) {
        if (i == 0 || dn_cmp(&refs[i - 1], &refs[i]) != 0) {
            if ((rc = orbit__gr_alist_init(&others[nothers], g, refs[i].dir, refs[i].other,
                                           refs[i].olen)))
                goto out;
            nothers++;
        }
        refs[i].list = nothers - 1;
    }
    /* Their heads in one multi-get, the pages holding (rel, id) in one. */
    sl = malloc((nothers ? nothers : 1) * sizeof *sl);
    st = malloc((nothers ? nothers : 1) * sizeof *st);
    ov = calloc(nothers ? nothers : 1, sizeof *ov);
    if (!sl || !st || !ov) {
        rc = ORBIT_ENOMEM;
        goto out;
    }
    for (size_t j = 0; j < nothers; j++)
        sl[j] = (orbit_slice){others[j].head.key.data, others[j].head.key.len};
    rc = orbit__reader_mget(&r, nothers, sl, ov, st);
    if (rc < 0)
        goto out;
    rc = ORBIT_OK;
    for (size_t j = 0; j < nothers && !rc; j++)
        rc = orbit__gr_alist_head(&others[j], &ov[j], st[j]);
    for (size_t i = 0; i < nrefs && !rc; i++)
        rc = orbit__gr_alist_want(&others[refs[i].list], refs[i].rel, refs[i].rlen, da->id,
                                  da->idlen, &b);
    if (rc || (rc = orbit__gr_batch_read(&b, &r)))
        goto out;
    int found;
    for (size_t i = 0; i < nrefs && !rc; i++)
        rc = orbit__gr_alist_remove(&others[refs[i].list], refs[i].rel, refs[i].rlen, da->id,
                                    da->idlen, &found);
    for (size_t j = 0; j < nothers && !rc; j++)
        rc = orbit__gr_alist_finish(&others[j]);
    if (rc)
        goto out;
    /* Writes. */
    for (size_t j = 0; j < nothers; j++)
        if ((rc = orbit__gr_alist_write(&others[j], t)))
            goto out;
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < ent[d]->n; i++) {
            const gr_adj_entry *e = &ent[d]->e[i];
            int self = orbit__gr_cmp(e->other, e->other_len, da->id, da->idlen) == 0;
            if (d == 1 && self)
                continue; /* counted from the out side */
            rc = d == 0 ? edge_del_key(t, g, &ek, da->id, da->idlen, e->rel, e->rel_len, e->other,
                                       e->other_len)
                        : edge_del_key(t, g, &ek, e->other, e->other_len, e->rel, e->rel_len,
                                       da->id, da->idlen);
            if (rc)
                goto out;
            da->removed++;
        }
    /* The node and both lists, deleted even when absent, so that a
     * concurrent edge write to this node conflicts with this delete. */
    if ((rc = orbit__gr_alist_delete(&own[0], t)) || (rc = orbit__gr_alist_delete(&own[1], t)) ||
        (rc = orbit_txn_del(t, nk.data, nk.len)))
        goto out;
    rc = touch(tx, g);
out:
    for (int i = 0; i < 3; i++)
        orbit_buf_release(&vals[i]);
    for (size_t j = 0; ov && j < nothers; j++)
        orbit_buf_release(&ov[j]);
    for (size_t j = 0; j < nothers; j++)
        orbit__gr_alist_release(&others[j]);
    if (have_own) {
        orbit__gr_alist_release(&own[0]);
        orbit__gr_alist_release(&own[1]);
    }
    free(others);
    free(refs);
    free(sl);
    free(st);
    free(ov);
    orbit__gr_batch_release(&b);
    orbit_buf_release(&nk);
    orbit_buf_release(&ek);
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
