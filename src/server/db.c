/*
 * The storage layout of Redis types (db.h): metadata records, sub-keys
 * under a version, the expiry index, and the plain fast paths.
 *
 * Invariants:
 *   - every value read passes orbit_record_decode against the key it was
 *     read under; a record that does not is ORBIT_ECORRUPT naming the key
 *     (escaped), and nothing is written on its account;
 *   - a call with a transaction (x->txn) reads and writes only through it,
 *     so a command, or a whole MULTI block, commits or fails as one; a call
 *     without one only reads (the latest data);
 *   - sub-keys of a version that is no longer any key's current version
 *     are invisible (every read goes through the metadata's version), so
 *     deleting them after the commit (db_run_cleanup) can never remove a
 *     live field, and a crash before that only leaves unreachable bytes.
 *
 * Layer: src/server, on the contract (orbit/kv.h) and the codec.
 */
#include <stdlib.h>
#include <string.h>

#include "orbit/codec.h"
#include "orbit/provider.h"
#include "orbit/record.h"
#include "server/db.h"

#define KS ORBIT_KEYSPACE_DEFAULT

static _Thread_local orbit_buf t_key, t_key2, t_rec, t_scratch;
static atomic_ullong g_version;

void db_meta_init(db_meta *m)
{
    memset(m, 0, sizeof *m);
}

void db_meta_release(db_meta *m)
{
    orbit_buf_release(&m->str);
    orbit_buf_release(&m->raw);
}

const char *db_type_name(int type)
{
    switch (type) {
    case DB_STRING: return "string";
    case DB_HASH: return "hash";
    case DB_LIST: return "list";
    case DB_SET: return "set";
    case DB_ZSET: return "zset";
    default: return "none";
    }
}

void db_init(void)
{
    /* start above every version an earlier run made (16 per microsecond
     * of wall-clock time) */
    atomic_store(&g_version, (unsigned long long)srv_now_us() * 16);
}

uint64_t db_new_version(void)
{
    return (uint64_t)atomic_fetch_add(&g_version, 1) & (uint64_t)INT64_MAX;
}

/* ---- keys -------------------------------------------------------------- */

int db_meta_key(orbit_buf *out, const uint8_t *k, size_t kl)
{
    out->len = 0;
    return orbit_key_kv(out, KS, k, kl);
}

int db_sub_prefix(orbit_buf *out, const uint8_t *k, size_t kl, uint64_t ver)
{
    int rc;
    out->len = 0;
    if ((rc = orbit_key_keyspace(out, KS)) || (rc = orbit_tuple_str(out, "kvs")) ||
        (rc = orbit_tuple_bytes(out, k, kl)) || (rc = orbit_tuple_int(out, (int64_t)ver)))
        return rc;
    return 0;
}

int db_sub_key(orbit_buf *out, const uint8_t *k, size_t kl, uint64_t ver, const uint8_t *f,
               size_t fl)
{
    int rc = db_sub_prefix(out, k, kl, ver);
    return rc ? rc : orbit_tuple_bytes(out, f, fl);
}

static int exp_key(orbit_buf *out, int64_t ms, const uint8_t *k, size_t kl)
{
    int rc;
    out->len = 0;
    if ((rc = orbit_key_keyspace(out, KS)) || (rc = orbit_tuple_str(out, "kvx")) ||
        (rc = orbit_tuple_int(out, ms)) || (rc = orbit_tuple_bytes(out, k, kl)))
        return rc;
    return 0;
}

static int prefix_of(orbit_buf *out, const char *name)
{
    int rc;
    out->len = 0;
    if ((rc = orbit_key_keyspace(out, KS)) || (rc = orbit_tuple_str(out, name)))
        return rc;
    return 0;
}

/* The smallest key after every key starting with p (p non-empty, not all
 * 0xFF: always true of tuple prefixes). */
static int successor(orbit_buf *out, const uint8_t *p, size_t n)
{
    out->len = 0;
    while (n > 0 && p[n - 1] == 0xFF)
        n--;
    if (orbit_buf_append(out, p, n))
        return ORBIT_ENOMEM;
    if (n)
        out->data[n - 1]++;
    return 0;
}

/* ---- varints ------------------------------------------------------------ */

static int put_varint(orbit_buf *out, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t b = v & 0x7F;
        v >>= 7;
        tmp[n++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v);
    return orbit_buf_append(out, tmp, n);
}

static int get_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*pos >= n)
            return -1;
        uint8_t b = p[(*pos)++];
        r |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* ---- records --------------------------------------------------------- */

static int encode_rec(orbit_buf *out, const uint8_t *key, size_t klen, uint32_t sv,
                      const uint8_t *payload, size_t plen)
{
    orbit_record_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.model = ORBIT_MODEL_KV;
    meta.schema_version = sv;
    meta.created_ms = meta.updated_ms = srv_now_ms();
    out->len = 0;
    return orbit_record_encode(out, key, klen, &meta, NULL, payload, plen);
}

int db_encode_plain(orbit_buf *out, const uint8_t *key, size_t klen, const uint8_t *v,
                    size_t vl)
{
    return encode_rec(out, key, klen, DB_SV_PLAIN, v, vl);
}

static int corrupt(const uint8_t *key, size_t klen, const char *why)
{
    orbit_buf e = ORBIT_BUF_INIT;
    orbit_escape(&e, key, klen);
    int rc = orbit_error_set(ORBIT_ECORRUPT, "server metadata under key %.*s: %s",
                             (int)(e.len > 200 ? 200 : e.len), e.data ? (char *)e.data : "",
                             why);
    orbit_buf_release(&e);
    return rc;
}

int db_decode_meta(const uint8_t *rec, size_t n, const uint8_t *ek, size_t ekl, db_meta *m)
{
    orbit_record_meta rm;
    const uint8_t *pl;
    size_t plen;
    int rc = orbit_record_decode(rec, n, ek, ekl, &rm, &t_scratch, &pl, &plen);
    if (rc)
        return rc;
    if (rm.model != ORBIT_MODEL_KV)
        return corrupt(ek, ekl, "not a key-value record");
    m->expire_ms = 0;
    m->version = m->size = 0;
    m->str.len = 0;
    if (rm.schema_version == DB_SV_PLAIN) {
        m->type = DB_STRING;
        return orbit_buf_set(&m->str, pl, plen);
    }
    if (rm.schema_version != DB_SV_META)
        return corrupt(ek, ekl, "unknown metadata format");
    size_t pos = 0;
    uint64_t exp;
    if (plen < 1)
        return corrupt(ek, ekl, "empty metadata");
    int type = pl[pos++];
    if (get_varint(pl, plen, &pos, &exp) || exp > (uint64_t)INT64_MAX)
        return corrupt(ek, ekl, "bad expiry");
    m->expire_ms = (int64_t)exp;
    switch (type) {
    case DB_STRING:
        m->type = type;
        return orbit_buf_set(&m->str, pl + pos, plen - pos);
    case DB_HASH:
    case DB_SET:
    case DB_ZSET:
        m->type = type;
        if (get_varint(pl, plen, &pos, &m->version) || get_varint(pl, plen, &pos, &m->size) ||
            pos != plen || m->version > (uint64_t)INT64_MAX)
            return corrupt(ek, ekl, "bad hash or set metadata");
        return 0;
    case DB_LIST: {
        uint64_t zz;
        m->type = type;
        if (get_varint(pl, plen, &pos, &m->version) || get_varint(pl, plen, &pos, &m->size) ||
            get_varint(pl, plen, &pos, &zz) || pos != plen || m->version > (uint64_t)INT64_MAX)
            return corrupt(ek, ekl, "bad list metadata");
        m->head = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
        return 0;
    }
    default:
        return corrupt(ek, ekl, "unknown type");
    }
}

/* ---- reads and writes through the call's transaction ----------------- */

static int x_get(srv_call *x, const orbit_buf *key, int for_update, orbit_buf *out)
{
    if (x->txn) {
        if (for_update)
            return orbit_txn_get_for_update(x->txn, key->data, key->len, out);
        return orbit_txn_get(x->txn, key->data, key->len, out);
    }
    return orbit_kv_get(g_srv.kv, NULL, key->data, key->len, out);
}

static int x_put(srv_call *x, const orbit_buf *key, const orbit_buf *val)
{
    if (!x->txn)
        return orbit_error_set(ORBIT_EINTERNAL, "server: a write outside a transaction");
    x->wrote = 1;
    return orbit_txn_put(x->txn, key->data, key->len, val->data, val->len);
}

static int x_del(srv_call *x, const orbit_buf *key)
{
    if (!x->txn)
        return orbit_error_set(ORBIT_EINTERNAL, "server: a write outside a transaction");
    x->wrote = 1;
    return orbit_txn_del(x->txn, key->data, key->len);
}

static int add_cleanup(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver)
{
    if (x->ncleanup == x->capcleanup) {
        size_t nc = x->capcleanup ? x->capcleanup * 2 : 4;
        struct db_cleanup *a = realloc(x->cleanup, nc * sizeof *a);
        if (!a)
            return ORBIT_ENOMEM;
        x->cleanup = a;
        x->capcleanup = nc;
    }
    uint8_t *copy = malloc(kl ? kl : 1);
    if (!copy)
        return ORBIT_ENOMEM;
    if (kl)
        memcpy(copy, k, kl);
    x->cleanup[x->ncleanup].key = copy;
    x->cleanup[x->ncleanup].klen = kl;
    x->cleanup[x->ncleanup].version = ver;
    x->ncleanup++;
    return 0;
}

void db_drop_cleanup(srv_call *x)
{
    for (size_t i = 0; i < x->ncleanup; i++)
        free(x->cleanup[i].key);
    x->ncleanup = 0;
}

void db_run_cleanup(srv_call *x)
{
    orbit_buf lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT;
    for (size_t i = 0; i < x->ncleanup; i++) {
        struct db_cleanup *c = &x->cleanup[i];
        if (!db_sub_prefix(&lo, c->key, c->klen, c->version) &&
            !successor(&hi, lo.data, lo.len)) {
            int rc = orbit_kv_delete_range(g_srv.kv, lo.data, lo.len, hi.data, hi.len);
            if (rc < 0)
                srv_log(LOG_WARN, "reclaiming the fields of a replaced value: %s: %s",
                        orbit_strerror(rc), orbit_last_error_detail());
        }
    }
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    db_drop_cleanup(x);
}

int db_lookup(srv_call *x, const uint8_t *k, size_t kl, int for_update, db_meta *m)
{
    int rc = db_meta_key(&t_key, k, kl);
    if (rc)
        return rc;
    m->type = DB_NONE;
    m->raw_present = 0;
    m->raw_expire = 0;
    m->version = m->size = 0;
    m->expire_ms = 0;
    rc = x_get(x, &t_key, for_update && x->txn, &m->raw);
    if (rc == ORBIT_NOTFOUND) {
        m->raw.len = 0;
        return 0;
    }
    if (rc)
        return rc;
    m->raw_present = 1;
    if ((rc = db_decode_meta(m->raw.data, m->raw.len, t_key.data, t_key.len, m)))
        return rc;
    m->raw_expire = m->expire_ms;
    if (m->expire_ms && m->expire_ms <= (int64_t)srv_now_ms()) {
        /* lazily expired: reads see nothing; a writer replaces it, and the
         * fields of an expired hash go after the commit */
        if (x->txn && m->type != DB_STRING && (rc = add_cleanup(x, k, kl, m->version)))
            return rc;
        m->type = DB_NONE;
        m->expire_ms = 0;
    }
    return 0;
}

static int put_exp_index(srv_call *x, int64_t ms, const uint8_t *k, size_t kl)
{
    int rc;
    if ((rc = exp_key(&t_key2, ms, k, kl)) ||
        (rc = encode_rec(&t_rec, t_key2.data, t_key2.len, DB_SV_PLAIN, NULL, 0)))
        return rc;
    return x_put(x, &t_key2, &t_rec);
}

static int del_exp_index(srv_call *x, int64_t ms, const uint8_t *k, size_t kl)
{
    int rc = exp_key(&t_key2, ms, k, kl);
    return rc ? rc : x_del(x, &t_key2);
}

int db_set_string(srv_call *x, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                  int64_t expire_ms, const db_meta *old)
{
    int rc = db_meta_key(&t_key, k, kl);
    if (rc)
        return rc;
    if (expire_ms == 0) {
        rc = encode_rec(&t_rec, t_key.data, t_key.len, DB_SV_PLAIN, v, vl);
    } else {
        orbit_buf pl = ORBIT_BUF_INIT;
        uint8_t t = DB_STRING;
        if (!(rc = orbit_buf_append(&pl, &t, 1)) && !(rc = put_varint(&pl, (uint64_t)expire_ms)) &&
            !(rc = orbit_buf_append(&pl, v, vl)))
            rc = encode_rec(&t_rec, t_key.data, t_key.len, DB_SV_META, pl.data, pl.len);
        orbit_buf_release(&pl);
    }
    if (!rc)
        rc = x_put(x, &t_key, &t_rec);
    if (!rc && old && old->raw_present && old->raw_expire && old->raw_expire != expire_ms)
        rc = del_exp_index(x, old->raw_expire, k, kl);
    if (!rc && expire_ms && !(old && old->raw_present && old->raw_expire == expire_ms))
        rc = put_exp_index(x, expire_ms, k, kl);
    if (!rc && old && old->raw_present && old->version && old->type != DB_STRING)
        rc = add_cleanup(x, k, kl, old->version);
    return rc;
}

int db_put_meta(srv_call *x, const uint8_t *k, size_t kl, const db_meta *m)
{
    int rc = db_meta_key(&t_key, k, kl);
    if (rc)
        return rc;
    orbit_buf pl = ORBIT_BUF_INIT;
    uint8_t t = (uint8_t)m->type;
    if (!(rc = orbit_buf_append(&pl, &t, 1)) && !(rc = put_varint(&pl, (uint64_t)m->expire_ms)) &&
        !(rc = put_varint(&pl, m->version)) && !(rc = put_varint(&pl, m->size)) &&
        !(rc = m->type == DB_LIST ? put_varint(&pl, ((uint64_t)m->head << 1) ^
                                                        (uint64_t)(m->head >> 63))
                                  : 0))
        rc = encode_rec(&t_rec, t_key.data, t_key.len, DB_SV_META, pl.data, pl.len);
    orbit_buf_release(&pl);
    return rc ? rc : x_put(x, &t_key, &t_rec);
}

int db_delete(srv_call *x, const uint8_t *k, size_t kl, const db_meta *m)
{
    int rc = db_meta_key(&t_key, k, kl);
    if (rc || (rc = x_del(x, &t_key)))
        return rc;
    if (m->raw_expire && (rc = del_exp_index(x, m->raw_expire, k, kl)))
        return rc;
    if (m->version && m->type != DB_STRING)
        rc = add_cleanup(x, k, kl, m->version);
    return rc;
}

int db_set_expire(srv_call *x, const uint8_t *k, size_t kl, db_meta *m, int64_t expire_ms)
{
    int rc;
    if (m->type == DB_STRING) {
        orbit_buf v = m->str; /* borrowed: db_set_string does not touch m->str */
        return db_set_string(x, k, kl, v.data, v.len, expire_ms, m);
    }
    if (m->raw_expire && m->raw_expire != expire_ms &&
        (rc = del_exp_index(x, m->raw_expire, k, kl)))
        return rc;
    m->expire_ms = expire_ms;
    if ((rc = db_put_meta(x, k, kl, m)))
        return rc;
    if (expire_ms && m->raw_expire != expire_ms && (rc = put_exp_index(x, expire_ms, k, kl)))
        return rc;
    m->raw_expire = expire_ms;
    return 0;
}

/* ---- sub-keys ------------------------------------------------------------ */

static int decode_plain(const uint8_t *rec, size_t n, const uint8_t *key, size_t klen,
                        const uint8_t **pl, size_t *plen)
{
    orbit_record_meta rm;
    int rc = orbit_record_decode(rec, n, key, klen, &rm, &t_scratch, pl, plen);
    if (rc)
        return rc;
    if (rm.model != ORBIT_MODEL_KV || rm.schema_version != DB_SV_PLAIN)
        return corrupt(key, klen, "not a field record");
    return 0;
}

int db_sub_get(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver, const uint8_t *f,
               size_t fl, orbit_buf *out)
{
    int rc = db_sub_key(&t_key2, k, kl, ver, f, fl);
    if (rc)
        return rc;
    rc = x_get(x, &t_key2, 0, &t_rec);
    if (rc)
        return rc;
    const uint8_t *pl;
    size_t plen;
    if ((rc = decode_plain(t_rec.data, t_rec.len, t_key2.data, t_key2.len, &pl, &plen)))
        return rc;
    return orbit_buf_set(out, pl, plen);
}

int db_sub_put(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver, const uint8_t *f,
               size_t fl, const uint8_t *v, size_t vl)
{
    int rc = db_sub_key(&t_key2, k, kl, ver, f, fl);
    if (rc || (rc = encode_rec(&t_rec, t_key2.data, t_key2.len, DB_SV_PLAIN, v, vl)))
        return rc;
    return x_put(x, &t_key2, &t_rec);
}

int db_sub_del(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver, const uint8_t *f,
               size_t fl)
{
    int rc = db_sub_key(&t_key2, k, kl, ver, f, fl);
    return rc ? rc : x_del(x, &t_key2);
}

static int item_key(orbit_buf *out, const uint8_t *k, size_t kl, uint64_t ver, int64_t idx)
{
    int rc = db_sub_prefix(out, k, kl, ver);
    return rc ? rc : orbit_tuple_int(out, idx);
}

int db_item_get(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver, int64_t idx,
                orbit_buf *out)
{
    int rc = item_key(&t_key2, k, kl, ver, idx);
    if (rc || (rc = x_get(x, &t_key2, 0, &t_rec)))
        return rc;
    const uint8_t *pl;
    size_t plen;
    if ((rc = decode_plain(t_rec.data, t_rec.len, t_key2.data, t_key2.len, &pl, &plen)))
        return rc;
    return orbit_buf_set(out, pl, plen);
}

int db_item_put(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver, int64_t idx,
                const uint8_t *v, size_t vl)
{
    int rc = item_key(&t_key2, k, kl, ver, idx);
    if (rc || (rc = encode_rec(&t_rec, t_key2.data, t_key2.len, DB_SV_PLAIN, v, vl)))
        return rc;
    return x_put(x, &t_key2, &t_rec);
}

int db_item_del_range(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver, int64_t from,
                      int64_t to)
{
    if (from >= to)
        return 0;
    if (!x->txn)
        return orbit_error_set(ORBIT_EINTERNAL, "server: a write outside a transaction");
    orbit_buf lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT;
    int rc = item_key(&lo, k, kl, ver, from);
    if (!rc)
        rc = item_key(&hi, k, kl, ver, to);
    if (!rc) {
        x->wrote = 1;
        rc = orbit_txn_delete_range(x->txn, lo.data, lo.len, hi.data, hi.len);
    }
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    return rc;
}

static int open_iter(srv_call *x, const orbit_scan_opts *so, orbit_iter **it);

int db_raw_get(srv_call *x, const orbit_buf *key, orbit_buf *out)
{
    int rc = x_get(x, key, 0, &t_rec);
    if (rc)
        return rc;
    const uint8_t *pl;
    size_t plen;
    if ((rc = decode_plain(t_rec.data, t_rec.len, key->data, key->len, &pl, &plen)))
        return rc;
    return orbit_buf_set(out, pl, plen);
}

int db_raw_put(srv_call *x, const orbit_buf *key, const uint8_t *v, size_t vl)
{
    int rc = encode_rec(&t_rec, key->data, key->len, DB_SV_PLAIN, v, vl);
    return rc ? rc : x_put(x, key, &t_rec);
}

int db_raw_del(srv_call *x, const orbit_buf *key)
{
    return x_del(x, key);
}

int db_raw_scan(srv_call *x, const orbit_buf *prefix, const orbit_buf *start,
                const orbit_buf *end, int reverse, db_raw_fn fn, void *arg)
{
    orbit_iter *it = NULL;
    orbit_scan_opts so = {0};
    so.prefix = prefix->data;
    so.prefix_len = prefix->len;
    if (start) {
        so.start = start->data;
        so.start_len = start->len;
    }
    if (end) {
        so.end = end->data;
        so.end_len = end->len;
    }
    so.reverse = reverse;
    int rc = open_iter(x, &so, &it);
    while (!rc) {
        const uint8_t *key, *val, *pl;
        size_t klen2, vlen, plen;
        rc = orbit_iter_next(it, &key, &klen2, &val, &vlen);
        if (rc == ORBIT_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        if ((rc = decode_plain(val, vlen, key, klen2, &pl, &plen)))
            break;
        if ((rc = fn(arg, key, klen2, pl, plen)))
            break;
    }
    orbit_iter_close(it);
    return rc;
}

int db_item_scan(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver, int64_t from,
                 int64_t to, int reverse, db_item_fn fn, void *arg)
{
    if (from >= to)
        return 0;
    orbit_buf pfx = ORBIT_BUF_INIT, lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT;
    int rc = db_sub_prefix(&pfx, k, kl, ver);
    if (!rc)
        rc = item_key(&lo, k, kl, ver, from);
    if (!rc)
        rc = item_key(&hi, k, kl, ver, to);
    orbit_iter *it = NULL;
    if (!rc) {
        orbit_scan_opts so = {0};
        so.prefix = pfx.data;
        so.prefix_len = pfx.len;
        so.start = lo.data;
        so.start_len = lo.len;
        so.end = hi.data;
        so.end_len = hi.len;
        so.reverse = reverse;
        rc = open_iter(x, &so, &it);
    }
    while (!rc) {
        const uint8_t *key, *val, *pl;
        size_t klen2, vlen, plen;
        rc = orbit_iter_next(it, &key, &klen2, &val, &vlen);
        if (rc == ORBIT_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        size_t pos = pfx.len;
        orbit_tuple_item item = {0};
        if (orbit_tuple_next(key, klen2, &pos, &item) || item.type != ORBIT_TUPLE_INT ||
            pos != klen2) {
            rc = corrupt(key, klen2, "malformed list item key");
            break;
        }
        if ((rc = decode_plain(val, vlen, key, klen2, &pl, &plen)))
            break;
        if ((rc = fn(arg, item.i, pl, plen)))
            break;
    }
    orbit_iter_close(it);
    orbit_buf_release(&pfx);
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    return rc;
}

static int open_iter(srv_call *x, const orbit_scan_opts *so, orbit_iter **it)
{
    if (x && x->txn)
        return orbit_txn_iter(x->txn, so, it);
    return orbit_kv_iter(g_srv.kv, NULL, so, it);
}

int db_sub_scan(srv_call *x, const uint8_t *k, size_t kl, uint64_t ver, const uint8_t *after,
                size_t afterlen, size_t limit, db_sub_fn fn, void *arg, orbit_buf *last)
{
    orbit_buf pfx = ORBIT_BUF_INIT, start = ORBIT_BUF_INIT, field = ORBIT_BUF_INIT;
    int rc = db_sub_prefix(&pfx, k, kl, ver);
    if (!rc && after) {
        rc = db_sub_key(&start, k, kl, ver, after, afterlen);
        if (!rc)
            rc = orbit_buf_append(&start, "", 1); /* just after it */
    }
    orbit_iter *it = NULL;
    if (!rc) {
        orbit_scan_opts so = {0};
        so.prefix = pfx.data;
        so.prefix_len = pfx.len;
        if (after) {
            so.start = start.data;
            so.start_len = start.len;
        }
        so.limit = limit;
        rc = open_iter(x, &so, &it);
    }
    while (!rc) {
        const uint8_t *key, *val, *pl;
        size_t klen2, vlen, plen;
        rc = orbit_iter_next(it, &key, &klen2, &val, &vlen);
        if (rc == ORBIT_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        size_t pos = pfx.len;
        orbit_tuple_item item = {0};
        item.bytes_out = &field;
        if (orbit_tuple_next(key, klen2, &pos, &item) || item.type != ORBIT_TUPLE_BYTES ||
            pos != klen2) {
            rc = corrupt(key, klen2, "malformed field key");
            break;
        }
        if ((rc = decode_plain(val, vlen, key, klen2, &pl, &plen)))
            break;
        if (last && (rc = orbit_buf_set(last, field.data, field.len)))
            break;
        if ((rc = fn(arg, field.data, field.len, pl, plen)))
            break;
    }
    orbit_iter_close(it);
    orbit_buf_release(&pfx);
    orbit_buf_release(&start);
    orbit_buf_release(&field);
    return rc;
}

int db_scan_keys(srv_call *x, const uint8_t *from, size_t fromlen, const uint8_t *prefix,
                 size_t plen, size_t limit, db_key_fn fn, void *arg, orbit_buf *next)
{
    orbit_buf pfx = ORBIT_BUF_INIT, start = ORBIT_BUF_INIT, uk = ORBIT_BUF_INIT;
    db_meta m;
    db_meta_init(&m);
    int rc = prefix_of(&pfx, "kv");
    if (!rc && plen)
        rc = orbit_tuple_bytes_open(&pfx, prefix, plen);
    if (!rc && from)
        rc = db_meta_key(&start, from, fromlen);
    orbit_iter *it = NULL;
    size_t seen = 0;
    if (!rc) {
        orbit_scan_opts so = {0};
        so.prefix = pfx.data;
        so.prefix_len = pfx.len;
        if (from) {
            so.start = start.data;
            so.start_len = start.len;
        }
        so.limit = limit;
        rc = open_iter(x, &so, &it);
    }
    uint64_t now = srv_now_ms();
    while (!rc) {
        const uint8_t *key, *val;
        size_t klen2, vlen;
        rc = orbit_iter_next(it, &key, &klen2, &val, &vlen);
        if (rc == ORBIT_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        seen++;
        if ((rc = orbit_key_kv_decode(key, klen2, NULL, &uk)))
            break;
        if ((rc = db_decode_meta(val, vlen, key, klen2, &m)))
            break;
        if (limit && seen == limit && next) {
            /* resume just after this key */
            if ((rc = orbit_buf_set(next, uk.data, uk.len)) ||
                (rc = orbit_buf_append(next, "", 1)))
                break;
        }
        if (!(m.expire_ms && m.expire_ms <= (int64_t)now) && (rc = fn(arg, uk.data, uk.len, &m)))
            break;
        if (limit && seen == limit) {
            rc = 1;
            break;
        }
    }
    orbit_iter_close(it);
    db_meta_release(&m);
    orbit_buf_release(&pfx);
    orbit_buf_release(&start);
    orbit_buf_release(&uk);
    return rc;
}

/* ---- whole-database operations ------------------------------------------- */

static int count_prefix(const char *name, uint64_t *n)
{
    orbit_buf pfx = ORBIT_BUF_INIT;
    int rc = prefix_of(&pfx, name);
    orbit_iter *it = NULL;
    *n = 0;
    if (!rc) {
        orbit_scan_opts so = {0};
        so.prefix = pfx.data;
        so.prefix_len = pfx.len;
        so.keys_only = 1;
        rc = orbit_kv_iter(g_srv.kv, NULL, &so, &it);
    }
    while (!rc) {
        const uint8_t *k, *v;
        size_t kl, vl;
        rc = orbit_iter_next(it, &k, &kl, &v, &vl);
        if (rc == ORBIT_NOTFOUND) {
            rc = 0;
            break;
        }
        if (!rc)
            (*n)++;
    }
    orbit_iter_close(it);
    orbit_buf_release(&pfx);
    return rc;
}

int db_count(uint64_t *keys, uint64_t *expires)
{
    int rc = count_prefix("kv", keys);
    if (!rc && expires)
        rc = count_prefix("kvx", expires);
    return rc;
}

int db_flush(void)
{
    static const char *const names[] = {"kv", "kvs", "kvx"};
    orbit_buf lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < 3 && !rc; i++) {
        if (!(rc = prefix_of(&lo, names[i])) && !(rc = successor(&hi, lo.data, lo.len)))
            rc = orbit_kv_delete_range(g_srv.kv, lo.data, lo.len, hi.data, hi.len);
    }
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    return rc;
}

/* ---- fast paths ---------------------------------------------------------- */

int db_fast_get(const uint8_t *k, size_t kl, orbit_buf *val, int *type)
{
    int rc = db_meta_key(&t_key, k, kl);
    if (rc)
        return rc;
    rc = orbit_kv_get(g_srv.kv, NULL, t_key.data, t_key.len, &t_rec);
    if (rc)
        return rc;
    db_meta m;
    db_meta_init(&m);
    m.str = *val; /* decode straight into the caller's buffer */
    rc = db_decode_meta(t_rec.data, t_rec.len, t_key.data, t_key.len, &m);
    *val = m.str;
    if (!rc) {
        *type = m.type;
        if (m.expire_ms && m.expire_ms <= (int64_t)srv_now_ms())
            rc = ORBIT_NOTFOUND;
    }
    orbit_buf_release(&m.raw);
    return rc;
}

int db_fast_set(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    int rc = db_meta_key(&t_key, k, kl);
    if (rc || (rc = encode_rec(&t_rec, t_key.data, t_key.len, DB_SV_PLAIN, v, vl)))
        return rc;
    return orbit_kv_put(g_srv.kv, t_key.data, t_key.len, t_rec.data, t_rec.len);
}

/* ---- active expiry (one cycle) ------------------------------------------- */

int db_expire_cycle(size_t max)
{
    orbit_buf pfx = ORBIT_BUF_INIT, end = ORBIT_BUF_INIT, uk = ORBIT_BUF_INIT;
    orbit_buf *keys = NULL;
    int64_t *times = NULL;
    size_t n = 0;
    int deleted = 0;
    int64_t now = (int64_t)srv_now_ms();
    int rc = prefix_of(&pfx, "kvx");
    if (!rc) {
        end = pfx;
        orbit_buf_init(&pfx);
        rc = orbit_buf_set(&pfx, end.data, end.len);
        if (!rc)
            rc = orbit_tuple_int(&end, now + 1); /* entries due at or before now */
    }
    keys = calloc(max ? max : 1, sizeof *keys);
    times = calloc(max ? max : 1, sizeof *times);
    if (!keys || !times)
        rc = ORBIT_ENOMEM;
    orbit_iter *it = NULL;
    if (!rc) {
        orbit_scan_opts so = {0};
        so.prefix = pfx.data;
        so.prefix_len = pfx.len;
        so.end = end.data;
        so.end_len = end.len;
        so.limit = max;
        so.keys_only = 1;
        rc = orbit_kv_iter(g_srv.kv, NULL, &so, &it);
    }
    while (!rc && n < max) {
        const uint8_t *k, *v;
        size_t kl, vl;
        rc = orbit_iter_next(it, &k, &kl, &v, &vl);
        if (rc == ORBIT_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        size_t pos = pfx.len;
        orbit_tuple_item ti = {0};
        if (orbit_tuple_next(k, kl, &pos, &ti) || ti.type != ORBIT_TUPLE_INT) {
            rc = corrupt(k, kl, "malformed expiry index entry");
            break;
        }
        orbit_tuple_item tk = {0};
        tk.bytes_out = &keys[n];
        if (orbit_tuple_next(k, kl, &pos, &tk) || tk.type != ORBIT_TUPLE_BYTES || pos != kl) {
            rc = corrupt(k, kl, "malformed expiry index entry");
            break;
        }
        times[n++] = ti.i;
    }
    orbit_iter_close(it);
    /* each due key in its own transaction: its metadata must still say
     * that time, else the entry is stale and only the entry goes */
    for (size_t i = 0; i < n && rc >= 0; i++) {
        void *lock;
        srv_key_lock(keys[i].data, keys[i].len, &lock);
        for (int attempt = 0; attempt < 8; attempt++) {
            srv_call x;
            memset(&x, 0, sizeof x);
            db_meta m;
            db_meta_init(&m);
            int r = orbit_kv_txn_begin(g_srv.kv, NULL, &x.txn);
            if (r) {
                rc = r;
                break;
            }
            int gone = 0;
            r = db_lookup(&x, keys[i].data, keys[i].len, 1, &m);
            if (!r && m.raw_present && m.raw_expire == times[i]) {
                m.type = m.type == DB_NONE ? DB_HASH : m.type; /* version kept */
                r = db_delete(&x, keys[i].data, keys[i].len, &m);
                gone = 1;
            } else if (!r) {
                r = del_exp_index(&x, times[i], keys[i].data, keys[i].len);
            }
            if (!r)
                r = orbit_txn_commit(x.txn);
            else
                orbit_txn_rollback(x.txn);
            if (!r) {
                db_run_cleanup(&x);
                deleted += gone;
                /* counted as it commits: a reader who sees the key gone
                 * sees it counted, and a cycle failing later keeps it */
                if (gone)
                    atomic_fetch_add(&g_srv.stats.expired_keys, 1);
            } else {
                db_drop_cleanup(&x);
            }
            free(x.cleanup);
            db_meta_release(&m);
            if (r == ORBIT_ECONFLICT)
                continue;
            if (r < 0)
                rc = r;
            break;
        }
        srv_key_unlock(lock);
    }
    for (size_t i = 0; i < n; i++)
        orbit_buf_release(&keys[i]);
    free(keys);
    free(times);
    orbit_buf_release(&pfx);
    orbit_buf_release(&end);
    orbit_buf_release(&uk);
    return rc < 0 ? rc : deleted;
}

void db_thread_release(void)
{
    orbit_buf_release(&t_key);
    orbit_buf_release(&t_key2);
    orbit_buf_release(&t_rec);
    orbit_buf_release(&t_scratch);
}
