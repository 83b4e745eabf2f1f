/*
 * The key builders of every data model (orbit/codec.h): each key is a tuple
 * whose first element names the model ("kv", "rel", "doc", ...), so models
 * occupy disjoint, contiguous ranges of one ordered keyspace.
 *
 * Invariants: names (const char *) and ids are bytes elements, timestamps,
 * sequence numbers and buckets are int elements, and already-encoded tuple
 * parts (primary keys, index values) are appended verbatim. Every prefix
 * builder writes exactly the leading elements of the matching full key, so
 * it is a byte prefix of every key it is meant to select. Builders append;
 * on failure `out` is restored to its length on entry.
 *
 * Layer: src/codec, above the provider contract, below the models.
 */
#include <string.h>

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

/* ---- full keys ------------------------------------------------------ */

int orbit_key_kv(orbit_buf *out, const void *key, size_t klen)
{
    size_t mark = out->len;
    int rc = orbit_tuple_str(out, ORBIT_PREFIX_KV);
    if (!rc)
        rc = orbit_tuple_bytes(out, key, klen);
    return finish(out, mark, rc);
}

int orbit_key_kv_decode(const uint8_t *key, size_t klen, orbit_buf *user_key)
{
    static const uint8_t kv_prefix[] = {ORBIT_TAG_BYTES, 'k', 'v', 0x00};
    size_t pos = 0;
    orbit_tuple_item it = {0};
    int rc;

    /* "kv" followed by 0xFF would be the escaped string "kv\0...". */
    if (klen < sizeof kv_prefix || memcmp(key, kv_prefix, sizeof kv_prefix) != 0 ||
        (klen > sizeof kv_prefix && key[sizeof kv_prefix] == 0xFF)) {
        rc = orbit_tuple_next(key, klen, &pos, &it);
        if (rc < 0)
            return rc;
        return orbit_error_set(ORBIT_EINVAL, "not a plain key: first element is not \"kv\"");
    }
    pos = sizeof kv_prefix;
    it.bytes_out = user_key;
    rc = orbit_tuple_next(key, klen, &pos, &it);
    if (rc < 0)
        return rc;
    if (rc == ORBIT_NOTFOUND || it.type != ORBIT_TUPLE_BYTES)
        return orbit_error_set(ORBIT_EINVAL, "not a plain key: no byte-string user key");
    if (pos != klen) {
        it.bytes_out = NULL;
        rc = orbit_tuple_next(key, klen, &pos, &it);
        if (rc < 0)
            return rc;
        return orbit_error_set(ORBIT_EINVAL, "not a plain key: extra elements after the user key");
    }
    return ORBIT_OK;
}

int orbit_key_row(orbit_buf *out, const char *table, const uint8_t *pk, size_t pklen)
{
    size_t mark = out->len;
    int rc = orbit_key_rows_prefix(out, table);
    if (!rc)
        rc = raw(out, pk, pklen);
    return finish(out, mark, rc);
}

int orbit_key_index(orbit_buf *out, const char *table, const char *index,
                    const uint8_t *vals, size_t vlen, const uint8_t *pk, size_t pklen)
{
    size_t mark = out->len;
    int rc = orbit_key_index_prefix(out, table, index);
    if (!rc)
        rc = raw(out, vals, vlen);
    if (!rc)
        rc = raw(out, pk, pklen);
    return finish(out, mark, rc);
}

int orbit_key_doc(orbit_buf *out, const char *collection, const void *id, size_t idlen)
{
    size_t mark = out->len;
    int rc = orbit_key_docs_prefix(out, collection);
    if (!rc)
        rc = orbit_tuple_bytes(out, id, idlen);
    return finish(out, mark, rc);
}

int orbit_key_vector(orbit_buf *out, const char *collection, const void *id, size_t idlen)
{
    size_t mark = out->len;
    int rc = orbit_tuple_str(out, ORBIT_PREFIX_VEC);
    if (!rc)
        rc = orbit_tuple_str(out, "v");
    if (!rc)
        rc = orbit_tuple_str(out, collection);
    if (!rc)
        rc = orbit_tuple_bytes(out, id, idlen);
    return finish(out, mark, rc);
}

int orbit_key_vector_bucket(orbit_buf *out, const char *collection, int64_t bucket,
                            const void *id, size_t idlen)
{
    size_t mark = out->len;
    int rc = orbit_tuple_str(out, ORBIT_PREFIX_VEC);
    if (!rc)
        rc = orbit_tuple_str(out, "b");
    if (!rc)
        rc = orbit_tuple_str(out, collection);
    if (!rc)
        rc = orbit_tuple_int(out, bucket);
    if (!rc)
        rc = orbit_tuple_bytes(out, id, idlen);
    return finish(out, mark, rc);
}

/* ("grp", kind, graph) */
static int graph_head(orbit_buf *out, const char *kind, const char *graph)
{
    int rc = orbit_tuple_str(out, ORBIT_PREFIX_GRAPH);
    if (!rc)
        rc = orbit_tuple_str(out, kind);
    if (!rc)
        rc = orbit_tuple_str(out, graph);
    return rc;
}

int orbit_key_node(orbit_buf *out, const char *graph, const void *node, size_t nlen)
{
    size_t mark = out->len;
    int rc = graph_head(out, "n", graph);
    if (!rc)
        rc = orbit_tuple_bytes(out, node, nlen);
    return finish(out, mark, rc);
}

int orbit_key_edge(orbit_buf *out, const char *graph, const void *edge, size_t elen)
{
    size_t mark = out->len;
    int rc = graph_head(out, "e", graph);
    if (!rc)
        rc = orbit_tuple_bytes(out, edge, elen);
    return finish(out, mark, rc);
}

int orbit_key_adjacency(orbit_buf *out, const char *graph, orbit_edge_dir dir,
                        const void *node, size_t nlen, const char *label,
                        const void *other, size_t olen, const void *edge, size_t elen)
{
    size_t mark = out->len;
    int rc = orbit_key_adjacency_prefix(out, graph, dir, node, nlen);
    if (!rc)
        rc = orbit_tuple_str(out, label);
    if (!rc)
        rc = orbit_tuple_bytes(out, other, olen);
    if (!rc)
        rc = orbit_tuple_bytes(out, edge, elen);
    return finish(out, mark, rc);
}

int orbit_key_ts_point(orbit_buf *out, const char *series, int64_t timestamp, int64_t seq)
{
    size_t mark = out->len;
    int rc = orbit_key_ts_points_prefix(out, series);
    if (!rc)
        rc = orbit_tuple_int(out, timestamp);
    if (!rc)
        rc = orbit_tuple_int(out, seq);
    return finish(out, mark, rc);
}

int orbit_key_ts_bucket(orbit_buf *out, const char *series, int64_t bucket_start)
{
    size_t mark = out->len;
    int rc = orbit_tuple_str(out, ORBIT_PREFIX_TS);
    if (!rc)
        rc = orbit_tuple_str(out, "b");
    if (!rc)
        rc = orbit_tuple_str(out, series);
    if (!rc)
        rc = orbit_tuple_int(out, bucket_start);
    return finish(out, mark, rc);
}

int orbit_key_catalog(orbit_buf *out, const char *kind, const void *name, size_t nlen)
{
    size_t mark = out->len;
    int rc = orbit_key_catalog_prefix(out, kind);
    if (!rc)
        rc = orbit_tuple_bytes(out, name, nlen);
    return finish(out, mark, rc);
}

/* ---- prefixes ------------------------------------------------------- */

int orbit_key_rows_prefix(orbit_buf *out, const char *table)
{
    size_t mark = out->len;
    int rc = orbit_tuple_str(out, ORBIT_PREFIX_REL);
    if (!rc)
        rc = orbit_tuple_str(out, "r");
    if (!rc)
        rc = orbit_tuple_str(out, table);
    return finish(out, mark, rc);
}

int orbit_key_index_prefix(orbit_buf *out, const char *table, const char *index)
{
    size_t mark = out->len;
    int rc = orbit_tuple_str(out, ORBIT_PREFIX_REL);
    if (!rc)
        rc = orbit_tuple_str(out, "i");
    if (!rc)
        rc = orbit_tuple_str(out, table);
    if (!rc)
        rc = orbit_tuple_str(out, index);
    return finish(out, mark, rc);
}

int orbit_key_docs_prefix(orbit_buf *out, const char *collection)
{
    size_t mark = out->len;
    int rc = orbit_tuple_str(out, ORBIT_PREFIX_DOC);
    if (!rc)
        rc = orbit_tuple_str(out, collection);
    return finish(out, mark, rc);
}

int orbit_key_adjacency_prefix(orbit_buf *out, const char *graph, orbit_edge_dir dir,
                               const void *node, size_t nlen)
{
    const char *kind = dir_name(dir);
    if (!kind)
        return orbit_error_set(ORBIT_EINVAL, "adjacency key: edge direction %d", (int)dir);
    size_t mark = out->len;
    int rc = graph_head(out, kind, graph);
    if (!rc)
        rc = orbit_tuple_bytes(out, node, nlen);
    return finish(out, mark, rc);
}

int orbit_key_ts_points_prefix(orbit_buf *out, const char *series)
{
    size_t mark = out->len;
    int rc = orbit_tuple_str(out, ORBIT_PREFIX_TS);
    if (!rc)
        rc = orbit_tuple_str(out, "p");
    if (!rc)
        rc = orbit_tuple_str(out, series);
    return finish(out, mark, rc);
}

int orbit_key_catalog_prefix(orbit_buf *out, const char *kind)
{
    size_t mark = out->len;
    int rc = orbit_tuple_str(out, ORBIT_PREFIX_CATALOG);
    if (!rc)
        rc = orbit_tuple_str(out, kind);
    return finish(out, mark, rc);
}
