/*
 * The key builders of every data model (orbit/codec.h): each key is a tuple
 * whose first element is the owner's keyspace id and whose second names the
 * model ("kv", "rel", "doc", ...), so each actor occupies one contiguous
 * range and, inside it, each model its own.
 *
 * Invariants: keyspaces and object ids (tables, indexes, collections,
 * graphs, series) are int elements and must be at most ORBIT_ID_MAX (else
 * ORBIT_EINVAL); user ids and names are bytes elements; timestamps,
 * sequence numbers and buckets are int elements; already-encoded tuple
 * parts (primary keys, index values) are appended verbatim. Every prefix
 * builder writes exactly the leading elements of the matching full key, so
 * it is a byte prefix of every key it is meant to select. Builders append;
 * on failure `out` is restored to its length on entry.
 *
 * Layer: src/codec, above the provider contract, below the models.
 */
#include <string.h>

#include "base/base.h"
#include "codec/codec_int.h"
#include "orbit/codec.h"
#include "orbit/provider.h"

static int raw(orbit_buf *out, const uint8_t *p, size_t n)
{
    if (n > 0 && !p)
        return orbit_error_set(ORBIT_EINVAL, "key builder: NULL encoded elements of length %zu", n);
    return orbit_buf_append(out, p, n);
}

static int finish(orbit_buf *out, size_t mark, int rc)
{
    if (rc)
        out->len = mark;
    return rc;
}

static const char *dir_name(orbit_edge_dir dir)
{
    switch (dir) {
    case ORBIT_EDGE_OUT: return "o";
    case ORBIT_EDGE_IN: return "i";
    }
    return NULL;
}

/* An id element; `what` names it in the error. */
static int id_elem(orbit_buf *out, uint64_t id, const char *what)
{
    if (id > ORBIT_ID_MAX)
        return orbit_error_set(ORBIT_EINVAL, "key builder: %s id %llu exceeds the largest id %lld",
                               what, (unsigned long long)id, (long long)INT64_MAX);
    return orbit_tuple_int(out, (int64_t)id);
}

/* (ks, model) */
static int head(orbit_buf *out, uint64_t ks, const char *model)
{
    int rc = id_elem(out, ks, "keyspace");
    if (!rc)
        rc = orbit_tuple_str(out, model);
    return rc;
}

/* (ks, model, id, kind) */
static int object_head(orbit_buf *out, uint64_t ks, const char *model, uint64_t id,
                       const char *what, const char *kind)
{
    int rc = head(out, ks, model);
    if (!rc)
        rc = id_elem(out, id, what);
    if (!rc && kind)
        rc = orbit_tuple_str(out, kind);
    return rc;
}

/* ---- keyspaces ------------------------------------------------------ */

int orbit_key_keyspace(orbit_buf *out, uint64_t ks)
{
    size_t mark = out->len;
    return finish(out, mark, id_elem(out, ks, "keyspace"));
}

int orbit_key_keyspace_range(orbit_buf *lo, orbit_buf *hi, uint64_t ks)
{
    if (!lo || !hi || lo == hi)
        return orbit_error_set(ORBIT_EINVAL, "keyspace range: %s",
                               lo && lo == hi ? "lo and hi are one buffer" : "NULL buffer");
    size_t lo_mark = lo->len, hi_mark = hi->len;
    int rc = id_elem(lo, ks, "keyspace");
    if (!rc && ks < ORBIT_ID_MAX) {
        rc = orbit_tuple_int(hi, (int64_t)(ks + 1));
    } else if (!rc) {
        /* No id follows the largest; the successor of its encoding (which
         * has no trailing 0xFF: 1C 7F FF..FF -> 1C 80) bounds it. */
        uint8_t enc[ORBIT_TUPLE_INT_MAX_LEN], succ[ORBIT_TUPLE_INT_MAX_LEN];
        size_t n = orbit__tuple_int_put(enc, (int64_t)ks);
        size_t sn = orbit__prefix_successor(enc, n, succ);
        rc = orbit_buf_append(hi, succ, sn);
    }
    if (rc) {
        lo->len = lo_mark;
        hi->len = hi_mark;
    }
    return rc;
}

/* ---- plain keys ----------------------------------------------------- */

int orbit_key_kv(orbit_buf *out, uint64_t ks, const void *key, size_t klen)
{
    size_t mark = out->len;
    int rc = head(out, ks, ORBIT_PREFIX_KV);
    if (!rc)
        rc = orbit_tuple_bytes(out, key, klen);
    return finish(out, mark, rc);
}

int orbit_key_kv_prefix(orbit_buf *out, uint64_t ks)
{
    size_t mark = out->len;
    return finish(out, mark, head(out, ks, ORBIT_PREFIX_KV));
}

static int not_plain(const uint8_t *key, size_t klen, size_t pos, orbit_tuple_item *it,
                     const char *why)
{
    /* A malformed element is ECORRUPT; a well-formed key of another kind
     * is EINVAL. */
    it->bytes_out = NULL;
    while (pos < klen) {
        int rc = orbit_tuple_next(key, klen, &pos, it);
        if (rc < 0)
            return rc;
    }
    return orbit_error_set(ORBIT_EINVAL, "not a plain key: %s", why);
}

int orbit_key_kv_decode(const uint8_t *key, size_t klen, uint64_t *ks, orbit_buf *user_key)
{
    static const uint8_t kv_prefix[] = {ORBIT_TAG_BYTES, 'k', 'v', 0x00};
    size_t pos = 0;
    orbit_tuple_item it = {0};
    int rc;

    if (!key || klen == 0)
        return orbit_error_set(ORBIT_EINVAL, "not a plain key: empty key");
    rc = orbit_tuple_next(key, klen, &pos, &it);
    if (rc < 0)
        return rc;
    if (it.type != ORBIT_TUPLE_INT || it.i < 0)
        return not_plain(key, klen, pos, &it, "first element is not a keyspace id");
    uint64_t space = (uint64_t)it.i;
    /* "kv" followed by 0xFF would be the escaped string "kv\0...". */
    if (klen - pos < sizeof kv_prefix || memcmp(key + pos, kv_prefix, sizeof kv_prefix) != 0 ||
        (klen - pos > sizeof kv_prefix && key[pos + sizeof kv_prefix] == 0xFF))
        return not_plain(key, klen, pos, &it, "second element is not \"kv\"");
    pos += sizeof kv_prefix;
    it.bytes_out = user_key;
    rc = orbit_tuple_next(key, klen, &pos, &it);
    if (rc < 0)
        return rc;
    if (rc == ORBIT_NOTFOUND || it.type != ORBIT_TUPLE_BYTES)
        return not_plain(key, klen, pos, &it, "no byte-string user key");
    if (pos != klen)
        return not_plain(key, klen, pos, &it, "extra elements after the user key");
    if (ks)
        *ks = space;
    return ORBIT_OK;
}

/* ---- relational ----------------------------------------------------- */

int orbit_key_rows_prefix(orbit_buf *out, uint64_t ks, uint64_t table_id)
{
    size_t mark = out->len;
    return finish(out, mark, object_head(out, ks, ORBIT_PREFIX_REL, table_id, "table", "r"));
}

int orbit_key_row(orbit_buf *out, uint64_t ks, uint64_t table_id, const uint8_t *pk,
                  size_t pklen)
{
    size_t mark = out->len;
    int rc = object_head(out, ks, ORBIT_PREFIX_REL, table_id, "table", "r");
    if (!rc)
        rc = raw(out, pk, pklen);
    return finish(out, mark, rc);
}

int orbit_key_index_prefix(orbit_buf *out, uint64_t ks, uint64_t table_id, uint64_t index_id)
{
    size_t mark = out->len;
    int rc = object_head(out, ks, ORBIT_PREFIX_REL, table_id, "table", "i");
    if (!rc)
        rc = id_elem(out, index_id, "index");
    return finish(out, mark, rc);
}

int orbit_key_index(orbit_buf *out, uint64_t ks, uint64_t table_id, uint64_t index_id,
                    const uint8_t *vals, size_t vlen, const uint8_t *pk, size_t pklen)
{
    size_t mark = out->len;
    int rc = orbit_key_index_prefix(out, ks, table_id, index_id);
    if (!rc)
        rc = raw(out, vals, vlen);
    if (!rc)
        rc = raw(out, pk, pklen);
    return finish(out, mark, rc);
}

/* ---- documents and vectors ------------------------------------------ */

int orbit_key_docs_prefix(orbit_buf *out, uint64_t ks, uint64_t coll_id)
{
    size_t mark = out->len;
    return finish(out, mark, object_head(out, ks, ORBIT_PREFIX_DOC, coll_id, "collection", NULL));
}

int orbit_key_doc(orbit_buf *out, uint64_t ks, uint64_t coll_id, const void *id, size_t idlen)
{
    size_t mark = out->len;
    int rc = object_head(out, ks, ORBIT_PREFIX_DOC, coll_id, "collection", NULL);
    if (!rc)
        rc = orbit_tuple_bytes(out, id, idlen);
    return finish(out, mark, rc);
}

int orbit_key_vector(orbit_buf *out, uint64_t ks, uint64_t coll_id, const void *id,
                     size_t idlen)
{
    size_t mark = out->len;
    int rc = object_head(out, ks, ORBIT_PREFIX_VEC, coll_id, "collection", "v");
    if (!rc)
        rc = orbit_tuple_bytes(out, id, idlen);
    return finish(out, mark, rc);
}

int orbit_key_vector_bucket(orbit_buf *out, uint64_t ks, uint64_t coll_id, int64_t bucket,
                            const void *id, size_t idlen)
{
    size_t mark = out->len;
    int rc = object_head(out, ks, ORBIT_PREFIX_VEC, coll_id, "collection", "b");
    if (!rc)
        rc = orbit_tuple_int(out, bucket);
    if (!rc)
        rc = orbit_tuple_bytes(out, id, idlen);
    return finish(out, mark, rc);
}

/* ---- graphs --------------------------------------------------------- */

int orbit_key_node(orbit_buf *out, uint64_t ks, uint64_t graph_id, const void *node,
                   size_t nlen)
{
    size_t mark = out->len;
    int rc = object_head(out, ks, ORBIT_PREFIX_GRAPH, graph_id, "graph", "n");
    if (!rc)
        rc = orbit_tuple_bytes(out, node, nlen);
    return finish(out, mark, rc);
}

int orbit_key_edge(orbit_buf *out, uint64_t ks, uint64_t graph_id, const void *edge,
                   size_t elen)
{
    size_t mark = out->len;
    int rc = object_head(out, ks, ORBIT_PREFIX_GRAPH, graph_id, "graph", "e");
    if (!rc)
        rc = orbit_tuple_bytes(out, edge, elen);
    return finish(out, mark, rc);
}

int orbit_key_adjacency_prefix(orbit_buf *out, uint64_t ks, uint64_t graph_id,
                               orbit_edge_dir dir, const void *node, size_t nlen)
{
    const char *kind = dir_name(dir);
    if (!kind)
        return orbit_error_set(ORBIT_EINVAL, "adjacency key: edge direction %d", (int)dir);
    size_t mark = out->len;
    int rc = object_head(out, ks, ORBIT_PREFIX_GRAPH, graph_id, "graph", kind);
    if (!rc)
        rc = orbit_tuple_bytes(out, node, nlen);
    return finish(out, mark, rc);
}

int orbit_key_adjacency(orbit_buf *out, uint64_t ks, uint64_t graph_id, orbit_edge_dir dir,
                        const void *node, size_t nlen, const char *label, const void *other,
                        size_t olen, const void *edge, size_t elen)
{
    size_t mark = out->len;
    int rc = orbit_key_adjacency_prefix(out, ks, graph_id, dir, node, nlen);
    if (!rc)
        rc = orbit_tuple_str(out, label);
    if (!rc)
        rc = orbit_tuple_bytes(out, other, olen);
    if (!rc)
        rc = orbit_tuple_bytes(out, edge, elen);
    return finish(out, mark, rc);
}

/* ---- time series ---------------------------------------------------- */

int orbit_key_ts_points_prefix(orbit_buf *out, uint64_t ks, uint64_t series_id)
{
    size_t mark = out->len;
    return finish(out, mark, object_head(out, ks, ORBIT_PREFIX_TS, series_id, "series", "p"));
}

int orbit_key_ts_point(orbit_buf *out, uint64_t ks, uint64_t series_id, int64_t timestamp,
                       int64_t seq)
{
    size_t mark = out->len;
    int rc = object_head(out, ks, ORBIT_PREFIX_TS, series_id, "series", "p");
    if (!rc)
        rc = orbit_tuple_int(out, timestamp);
    if (!rc)
        rc = orbit_tuple_int(out, seq);
    return finish(out, mark, rc);
}

int orbit_key_ts_bucket(orbit_buf *out, uint64_t ks, uint64_t series_id, int64_t granularity_ms,
                        int64_t bucket_start)
{
    size_t mark = out->len;
    int rc = object_head(out, ks, ORBIT_PREFIX_TS, series_id, "series", "b");
    if (!rc)
        rc = orbit_tuple_int(out, granularity_ms);
    if (!rc)
        rc = orbit_tuple_int(out, bucket_start);
    return finish(out, mark, rc);
}

/* ---- objects and the catalog ---------------------------------------- */

int orbit_key_object_prefix(orbit_buf *out, uint64_t ks, const char *model_prefix, uint64_t id)
{
    static const char *const models[] = {ORBIT_PREFIX_REL, ORBIT_PREFIX_DOC, ORBIT_PREFIX_VEC,
                                         ORBIT_PREFIX_GRAPH, ORBIT_PREFIX_TS};
    int known = 0;
    for (size_t i = 0; model_prefix && i < sizeof models / sizeof models[0]; i++)
        known |= strcmp(model_prefix, models[i]) == 0;
    if (!known)
        return orbit_error_set(ORBIT_EINVAL, "object prefix: \"%s\" is not a model with object ids",
                               model_prefix ? model_prefix : "(null)");
    size_t mark = out->len;
    return finish(out, mark, object_head(out, ks, model_prefix, id, "object", NULL));
}

int orbit_key_catalog_prefix(orbit_buf *out, uint64_t ks, const char *kind)
{
    size_t mark = out->len;
    int rc = head(out, ks, ORBIT_PREFIX_CATALOG);
    if (!rc)
        rc = orbit_tuple_str(out, kind);
    return finish(out, mark, rc);
}

int orbit_key_catalog(orbit_buf *out, uint64_t ks, const char *kind, const void *name,
                      size_t nlen)
{
    size_t mark = out->len;
    int rc = orbit_key_catalog_prefix(out, ks, kind);
    if (!rc)
        rc = orbit_tuple_bytes(out, name, nlen);
    return finish(out, mark, rc);
}
