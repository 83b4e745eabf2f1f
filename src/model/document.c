/*
 * Documents (orbit/document.h): JSON document collections on the provider
 * contract, with paths, merge-patch, indexes on a path and references to
 * table rows, every write inside an orbit_tx.
 *
 * Keys (all after orbit_key_object_prefix(ks, "doc", coll)):
 *   (.., id)                      the document (bytes element; orbit_key_doc)
 *   (.., 0)                       the collection's meta record
 *   (.., 1, no, value, id)        an index entry (no: the index's number)
 * Every value is an ORBIT_MODEL_DOC record: documents hold compact JSON
 * text, the meta record holds the definition as JSON (below), index
 * entries an empty payload.
 *
 * Meta payload: {"gen":G,"ver":V,"next":N,"indexes":[{"name","path","no",
 * "state"}],"refs":[{"name","path","table","table_id"}]}. gen is drawn at
 * creation (a recreated collection differs), ver grows with every change
 * writers must know about (an index or reference added or dropped; not an
 * index becoming ready), next is the next index number.
 *
 * Invariants:
 *   - an operation validates everything (JSON, paths, reference values,
 *     conditions) before its first write, so its EINVAL / EEXIST / NOTFOUND
 *     leave a caller's transaction usable;
 *   - a handle's cached definition is replaced, never changed in place:
 *     operations hold a reference on the one they started with;
 *   - every transaction that wrote through a handle carries a commit check
 *     of (gen, ver) against the meta record read for update inside it (see
 *     the header: an index never misses an entry of a write committed after
 *     its declaration);
 *   - every document handed out passed orbit_record_decode and parses.
 *
 * Layer: src/model, on the contract (orbit/kv.h), the codec, the
 * transaction core (orbit/txn.h) and src/model/jsonpath.c.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <jansson.h>

#include "base/base.h"
#include "model/jsonpath_int.h"
#include "model/reader.h"
#include "orbit/catalog.h"
#include "orbit/codec.h"
#include "orbit/document.h"
#include "orbit/provider.h"

#define META_SCHEMA 1
#define DOC_SCHEMA 1
#define EL_META 0
#define EL_INDEX 1
#define JSON_OUT_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)
#define JSON_IN_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES)
/* Documents indexed per backfill transaction (fewer if the store limits
 * the keys of a transaction). */
#define BACKFILL_BATCH 64
#define BACKFILL_DEADLINE_MS 120000 /* per batch, against concurrent writers */
#define BACKFILL_ATTEMPTS 100000

/* ---- the cached definition ------------------------------------------ */

typedef struct doc_index {
    char *name, *path_s;
    orbit__jpath path;
    int64_t no;
    int ready;
} doc_index;

typedef struct doc_ref {
    char *name, *path_s, *table;
    orbit__jpath path;
    uint64_t table_id;
} doc_ref;

typedef struct doc_def {
    int refcnt; /* guarded by the handle's mutex */
    int dropped;
    uint64_t gen, ver;
    doc_index *idx;
    size_t nidx;
    doc_ref *refs;
    size_t nrefs;
} doc_def;

struct orbit_doc_coll {
    const orbit_actor *a;
    uint64_t id;
    char *name;
    pthread_mutex_t mu;
    doc_def *def;
};

static void def_free(doc_def *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nidx; i++) {
        free(d->idx[i].name);
        free(d->idx[i].path_s);
        orbit__jpath_release(&d->idx[i].path);
    }
    for (size_t i = 0; i < d->nrefs; i++) {
        free(d->refs[i].name);
        free(d->refs[i].path_s);
        free(d->refs[i].table);
        orbit__jpath_release(&d->refs[i].path);
    }
    free(d->idx);
    free(d->refs);
    free(d);
}

static doc_def *def_get(orbit_doc_coll *c)
{
    pthread_mutex_lock(&c->mu);
    doc_def *d = c->def;
    d->refcnt++;
    pthread_mutex_unlock(&c->mu);
    return d;
}

static void def_put(orbit_doc_coll *c, doc_def *d)
{
    pthread_mutex_lock(&c->mu);
    int last = --d->refcnt == 0;
    pthread_mutex_unlock(&c->mu);
    if (last)
        def_free(d);
}

static void def_install(orbit_doc_coll *c, doc_def *d)
{
    d->refcnt = 1;
    pthread_mutex_lock(&c->mu);
    doc_def *old = c->def;
    c->def = d;
    int last = old && --old->refcnt == 0;
    pthread_mutex_unlock(&c->mu);
    if (last)
        def_free(old);
}

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

static int corrupt_meta(const orbit_doc_coll *c, const char *why)
{
    return orbit_error_set(ORBIT_ECORRUPT, "document collection '%s': meta record %s", c->name,
                           why);
}

/* Parse a meta payload into a new definition. */
static int def_parse(const orbit_doc_coll *c, const uint8_t *p, size_t n, doc_def **out)
{
    *out = NULL;
    json_error_t err;
    json_t *m = json_loadb((const char *)p, n, JSON_IN_FLAGS, &err);
    if (!m || !json_is_object(m)) {
        json_decref(m);
        return corrupt_meta(c, "is not a JSON object");
    }
    doc_def *d = calloc(1, sizeof *d);
    int rc = d ? ORBIT_OK : ORBIT_ENOMEM;
    json_t *ix = json_object_get(m, "indexes"), *rf = json_object_get(m, "refs");
    if (!rc && (!json_is_integer(json_object_get(m, "gen")) ||
                !json_is_integer(json_object_get(m, "ver")) || !json_is_array(ix) ||
                !json_is_array(rf)))
        rc = corrupt_meta(c, "lacks gen, ver, indexes or refs");
    if (!rc) {
        d->gen = (uint64_t)json_integer_value(json_object_get(m, "gen"));
        d->ver = (uint64_t)json_integer_value(json_object_get(m, "ver"));
        d->idx = calloc(json_array_size(ix) + 1, sizeof *d->idx);
        d->refs = calloc(json_array_size(rf) + 1, sizeof *d->refs);
        if (!d->idx || !d->refs)
            rc = ORBIT_ENOMEM;
    }
    for (size_t i = 0; !rc && i < json_array_size(ix); i++) {
        json_t *e = json_array_get(ix, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *path = json_string_value(json_object_get(e, "path"));
        const char *state = json_string_value(json_object_get(e, "state"));
        json_t *no = json_object_get(e, "no");
        if (!name || !path || !state || !json_is_integer(no)) {
            rc = corrupt_meta(c, "has a malformed index");
            break;
        }
        doc_index *x = &d->idx[d->nidx++];
        x->name = xstrdup(name);
        x->path_s = xstrdup(path);
        x->no = json_integer_value(no);
        x->ready = strcmp(state, "ready") == 0;
        if (!x->name || !x->path_s)
            rc = ORBIT_ENOMEM;
        else if (orbit__jpath_parse(path, &x->path))
            rc = corrupt_meta(c, "has an index with a bad path");
    }
    for (size_t i = 0; !rc && i < json_array_size(rf); i++) {
        json_t *e = json_array_get(rf, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *path = json_string_value(json_object_get(e, "path"));
        const char *table = json_string_value(json_object_get(e, "table"));
        json_t *tid = json_object_get(e, "table_id");
        if (!name || !path || !table || !json_is_integer(tid)) {
            rc = corrupt_meta(c, "has a malformed reference");
            break;
        }
        doc_ref *r = &d->refs[d->nrefs++];
        r->name = xstrdup(name);
        r->path_s = xstrdup(path);
        r->table = xstrdup(table);
        r->table_id = (uint64_t)json_integer_value(tid);
        if (!r->name || !r->path_s || !r->table)
            rc = ORBIT_ENOMEM;
        else if (orbit__jpath_parse(path, &r->path))
            rc = corrupt_meta(c, "has a reference with a bad path");
    }
    json_decref(m);
    if (rc) {
        def_free(d);
        return rc;
    }
    *out = d;
    return ORBIT_OK;
}

/* ---- keys ----------------------------------------------------------- */

static int key_head(const orbit_doc_coll *c, orbit_buf *out)
{
    return orbit_key_object_prefix(out, orbit_actor_keyspace(c->a), ORBIT_PREFIX_DOC, c->id);
}

static int key_meta(const orbit_doc_coll *c, orbit_buf *out)
{
    int rc = key_head(c, out);
    return rc ? rc : orbit_tuple_int(out, EL_META);
}

static int key_entries(const orbit_doc_coll *c, int64_t no, orbit_buf *out)
{
    int rc = key_head(c, out);
    if (!rc)
        rc = orbit_tuple_int(out, EL_INDEX);
    return rc ? rc : orbit_tuple_int(out, no);
}

static int key_doc(const orbit_doc_coll *c, const void *id, size_t idlen, orbit_buf *out)
{
    return orbit_key_doc(out, orbit_actor_keyspace(c->a), c->id, id, idlen);
}

/* The index value element of v: 1 if v is indexable (appended), 0 if not. */
static int enc_value(const json_t *v, orbit_buf *out)
{
    int rc;
    if (json_is_string(v))
        rc = orbit_tuple_bytes(out, json_string_value(v), json_string_length(v));
    else if (json_is_number(v))
        rc = orbit_tuple_double(out, json_number_value(v));
    else if (json_is_boolean(v))
        rc = orbit_tuple_bool(out, json_is_true(v));
    else
        return 0;
    return rc ? rc : 1;
}

/* The entry key of doc under index x, into out (emptied): 1 if the
 * document has one, 0 if not. */
static int entry_key(const orbit_doc_coll *c, const doc_index *x, json_t *doc, const void *id,
                     size_t idlen, orbit_buf *out)
{
    out->len = 0;
    json_t *v = doc ? orbit__jpath_get1(&x->path, doc) : NULL;
    if (!v || !(json_is_string(v) || json_is_number(v) || json_is_boolean(v)))
        return 0;
    int rc = key_entries(c, x->no, out);
    if (!rc && (rc = enc_value(v, out)) == 1)
        rc = orbit_tuple_bytes(out, id, idlen);
    return rc ? rc : 1;
}

/* ---- JSON helpers --------------------------------------------------- */

static int depth_ok(const json_t *v, int depth)
{
    if (depth > ORBIT_DOC_DEPTH_MAX)
        return 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            if (!depth_ok(x, depth + 1))
                return 0;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!depth_ok(json_array_get(v, i), depth + 1))
                return 0;
    }
    return 1;
}

static int parse_in(const char *s, size_t len, const char *what, json_t **out)
{
    *out = NULL;
    if (!s)
        return orbit_error_set(ORBIT_EINVAL, "documents: NULL %s", what);
    json_error_t err;
    json_t *v = json_loadb(s, len, JSON_IN_FLAGS, &err);
    if (!v)
        return orbit_error_set(ORBIT_EINVAL, "documents: invalid JSON %s at line %d column %d: %s",
                               what, err.line, err.column, err.text);
    if (!depth_ok(v, 1)) {
        json_decref(v);
        return orbit_error_set(ORBIT_EINVAL, "documents: JSON %s nested deeper than %d", what,
                               ORBIT_DOC_DEPTH_MAX);
    }
    *out = v;
    return ORBIT_OK;
}

/* Compact JSON of v into out (contents replaced, NUL after len). */
static int dump_to(const json_t *v, orbit_buf *out)
{
    size_t need = json_dumpb(v, NULL, 0, JSON_OUT_FLAGS);
    if (need == 0)
        return orbit_error_set(ORBIT_EINVAL, "documents: value cannot be encoded as JSON");
    out->len = 0;
    if (orbit_buf_reserve(out, need + 1))
        return ORBIT_ENOMEM;
    json_dumpb(v, (char *)out->data, need, JSON_OUT_FLAGS);
    out->len = need;
    out->data[need] = '\0';
    return ORBIT_OK;
}

static int check_id(const void *id, size_t idlen)
{
    if (!id || idlen == 0)
        return orbit_error_set(ORBIT_EINVAL, "documents: empty document id");
    if (idlen > ORBIT_DOC_ID_MAX)
        return orbit_error_set(ORBIT_EINVAL, "documents: id of %zu bytes (the most is %d)", idlen,
                               ORBIT_DOC_ID_MAX);
    return ORBIT_OK;
}

static int path_root(const orbit__jpath *p) { return p->n == 0; }

/* ---- reading -------------------------------------------------------- */

/* Reads go through model/reader.h: a caller's transaction, or the store
 * (at a snapshot when asked and available). */
typedef orbit__reader reader;

static int rd_open(orbit_doc_coll *c, orbit_tx *tx, int snapshot, reader *r)
{
    return orbit__reader_open(r, tx, c->a, snapshot);
}


static int rd_get(reader *r, const orbit_buf *key, orbit_buf *out)
{
    return orbit__reader_get(r, key->data, key->len, out);
}

/* Verify a stored document record and parse it (*out: a new reference). */
static int decode_doc(const uint8_t *key, size_t klen, const uint8_t *rec, size_t n,
                      orbit_buf *scratch, const uint8_t **p, size_t *plen)
{
    orbit_record_meta m;
    int rc = orbit_record_decode(rec, n, key, klen, &m, scratch, p, plen);
    if (rc)
        return rc;
    if (m.model != ORBIT_MODEL_DOC) {
        orbit_buf esc = ORBIT_BUF_INIT;
        orbit_escape(&esc, key, klen > 64 ? 64 : klen);
        orbit_buf_append(&esc, "", 1);
        rc = orbit_error_set(ORBIT_ECORRUPT, "key \"%s\": a record of model %d in a document collection",
                             esc.data ? (char *)esc.data : "?", (int)m.model);
        orbit_buf_release(&esc);
    }
    return rc;
}

static int parse_stored(const uint8_t *key, size_t klen, const uint8_t *p, size_t n,
                        json_t **out)
{
    json_error_t err;
    *out = json_loadb((const char *)p, n, JSON_IN_FLAGS, &err);
    if (*out)
        return ORBIT_OK;
    orbit_buf esc = ORBIT_BUF_INIT;
    orbit_escape(&esc, key, klen > 64 ? 64 : klen);
    orbit_buf_append(&esc, "", 1);
    int rc = orbit_error_set(ORBIT_ECORRUPT, "key \"%s\": stored document is not JSON: %s",
                             esc.data ? (char *)esc.data : "?", err.text);
    orbit_buf_release(&esc);
    return rc;
}

/* Read and parse one document (*doc NULL and ORBIT_NOTFOUND if absent).
 * for_update: through get_for_update in the transaction. */
static int read_doc(orbit_doc_coll *c, reader *r, const void *id, size_t idlen, int for_update,
                    json_t **doc)
{
    *doc = NULL;
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT;
    int rc = key_doc(c, id, idlen, &key);
    if (!rc)
        rc = (for_update && r->txn) ? orbit_txn_get_for_update(r->txn, key.data, key.len, &val)
                                    : rd_get(r, &key, &val);
    if (!rc) {
        const uint8_t *p;
        size_t n;
        rc = decode_doc(key.data, key.len, val.data, val.len, &scratch, &p, &n);
        if (!rc)
            rc = parse_stored(key.data, key.len, p, n, doc);
    }
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    orbit_buf_release(&scratch);
    return rc;
}

/* ---- commit checks -------------------------------------------------- */

typedef struct meta_check_arg {
    orbit_doc_coll *c;
    uint64_t gen, ver;
} meta_check_arg;

static int meta_check(void *arg, orbit_txn *txn)
{
    meta_check_arg *m = arg;
    orbit_doc_coll *c = m->c;
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT;
    /* The latest committed definition first (the transaction's own view
     * may predate a change), then the one inside the transaction, read for
     * update so that a change committed after this check conflicts. */
    int rc = key_meta(c, &key);
    for (int pass = 0; !rc && pass < 2; pass++) {
        rc = pass == 0 ? orbit_kv_get(orbit_actor_store(c->a), NULL, key.data, key.len, &val)
                       : orbit_txn_get_for_update(txn, key.data, key.len, &val);
        if (rc)
            break;
        const uint8_t *p;
        size_t n;
        doc_def *d = NULL;
        rc = decode_doc(key.data, key.len, val.data, val.len, &scratch, &p, &n);
        if (!rc)
            rc = def_parse(c, p, n, &d);
        if (!rc && (d->gen != m->gen || d->ver != m->ver)) {
            def_install(c, d);
            d = NULL;
            rc = orbit_error_set(ORBIT_ECONFLICT,
                                 "document collection '%s' changed its indexes or references "
                                 "while the transaction wrote to it",
                                 c->name);
        }
        def_free(d);
    }
    if (rc == ORBIT_NOTFOUND) {
        doc_def *d = calloc(1, sizeof *d);
        if (d) {
            d->dropped = 1;
            def_install(c, d);
        }
        rc = orbit_error_set(ORBIT_ECONSTRAINT,
                             "document collection '%s' was dropped while the transaction wrote to it",
                             c->name);
    }
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    orbit_buf_release(&scratch);
    return rc;
}

typedef struct ref_check_arg {
    char *what;    /* "coll.ref ($.path) -> table" */
    char *value;   /* the referencing value, for the message */
    size_t klen;
    uint8_t key[]; /* the row key */
} ref_check_arg;

static int ref_check(void *arg, orbit_txn *txn)
{
    ref_check_arg *r = arg;
    orbit_buf val = ORBIT_BUF_INIT;
    int rc = orbit_txn_get_for_update(txn, r->key, r->klen, &val);
    orbit_buf_release(&val);
    if (rc == ORBIT_NOTFOUND)
        return orbit_error_set(ORBIT_ECONSTRAINT, "reference %s: row '%s' does not exist", r->what,
                               r->value);
    return rc;
}

static void ref_check_free(void *arg)
{
    ref_check_arg *r = arg;
    free(r->what);
    free(r->value);
    free(r);
}

/* The primary-key element of a referencing value (BRIEF: row keys). */
static int ref_pk(const json_t *v, orbit_buf *out)
{
    if (json_is_integer(v))
        return orbit_tuple_int(out, (int64_t)json_integer_value(v));
    if (json_is_string(v))
        return orbit_tuple_bytes(out, json_string_value(v), json_string_length(v));
    if (json_is_real(v))
        return orbit_tuple_double(out, json_real_value(v));
    if (json_is_boolean(v))
        return orbit_tuple_bool(out, json_is_true(v));
    return ORBIT_EINVAL;
}

/* Check reference values of a document about to be written. */
static int refs_validate(const orbit_doc_coll *c, const doc_def *d, json_t *doc)
{
    for (size_t i = 0; doc && i < d->nrefs; i++) {
        json_t *v = orbit__jpath_get1(&d->refs[i].path, doc);
        if (v && (json_is_object(v) || json_is_array(v)))
            return orbit_error_set(ORBIT_EINVAL,
                                   "reference %s.%s (%s): the value is an %s, not a key", c->name,
                                   d->refs[i].name, d->refs[i].path_s,
                                   json_is_object(v) ? "object" : "array");
    }
    return ORBIT_OK;
}

static int refs_add_checks(orbit_doc_coll *c, orbit_tx *tx, const doc_def *d, json_t *doc)
{
    int rc = ORBIT_OK;
    for (size_t i = 0; !rc && doc && i < d->nrefs; i++) {
        const doc_ref *ref = &d->refs[i];
        json_t *v = orbit__jpath_get1(&ref->path, doc);
        if (!v || json_is_null(v))
            continue;
        orbit_buf pk = ORBIT_BUF_INIT, key = ORBIT_BUF_INIT, shown = ORBIT_BUF_INIT;
        rc = ref_pk(v, &pk);
        if (!rc)
            rc = orbit_key_row(&key, orbit_actor_keyspace(c->a), ref->table_id, pk.data, pk.len);
        if (!rc) {
            if (json_is_string(v))
                rc = orbit_escape(&shown, json_string_value(v), json_string_length(v));
            else
                rc = dump_to(v, &shown);
            if (!rc)
                rc = orbit_buf_append(&shown, "", 1);
        }
        ref_check_arg *a = NULL;
        if (!rc) {
            a = calloc(1, sizeof *a + key.len);
            size_t wl = strlen(c->name) + strlen(ref->name) + strlen(ref->path_s) +
                        strlen(ref->table) + 16;
            if (a)
                a->what = malloc(wl);
            if (a && a->what) {
                snprintf(a->what, wl, "%s.%s (%s) -> %s", c->name, ref->name, ref->path_s,
                         ref->table);
                a->value = strdup((const char *)shown.data);
            }
            if (!a || !a->what || !a->value) {
                if (a)
                    ref_check_free(a);
                rc = ORBIT_ENOMEM;
            } else {
                a->klen = key.len;
                memcpy(a->key, key.data, key.len);
                rc = orbit_tx_add_check(tx, ref_check, a, ref_check_free, key.data, key.len);
            }
        }
        orbit_buf_release(&pk);
        orbit_buf_release(&key);
        orbit_buf_release(&shown);
    }
    return rc;
}

static int add_meta_check(orbit_doc_coll *c, orbit_tx *tx, const doc_def *d)
{
    meta_check_arg *m = malloc(sizeof *m);
    if (!m)
        return ORBIT_ENOMEM;
    m->c = c;
    m->gen = d->gen;
    m->ver = d->ver;
    struct {
        char tag[4];
        void *c;
        uint64_t gen, ver;
    } dk;
    memset(&dk, 0, sizeof dk);
    memcpy(dk.tag, "doc", 3);
    dk.c = c;
    dk.gen = d->gen;
    dk.ver = d->ver;
    return orbit_tx_add_check(tx, meta_check, m, free, &dk, sizeof dk);
}

/* ---- writing one document ------------------------------------------- */

static int put_record(orbit_doc_coll *c, orbit_txn *txn, const orbit_buf *key,
                      const uint8_t *payload, size_t plen)
{
    orbit_buf rec = ORBIT_BUF_INIT;
    int rc = orbit_actor_record(c->a, ORBIT_MODEL_DOC, DOC_SCHEMA, 0, key->data, key->len,
                                payload, plen, &rec);
    if (!rc)
        rc = orbit_txn_put(txn, key->data, key->len, rec.data, rec.len);
    orbit_buf_release(&rec);
    return rc;
}

/*
 * Replace document old (NULL: absent) by nw (NULL: delete) under id,
 * moving its index entries and registering the commit checks. Validation
 * that can fail with EINVAL happens before the first write.
 */
static int doc_store(orbit_doc_coll *c, orbit_tx *tx, orbit_txn *txn, const doc_def *d,
                     const void *id, size_t idlen, json_t *old, json_t *nw)
{
    int rc = refs_validate(c, d, nw);
    orbit_buf text = ORBIT_BUF_INIT, key = ORBIT_BUF_INIT, ko = ORBIT_BUF_INIT,
              kn = ORBIT_BUF_INIT;
    if (!rc && nw)
        rc = dump_to(nw, &text);
    if (!rc)
        rc = key_doc(c, id, idlen, &key);
    for (size_t i = 0; !rc && i < d->nidx; i++) {
        int ho = entry_key(c, &d->idx[i], old, id, idlen, &ko);
        int hn = ho < 0 ? ho : entry_key(c, &d->idx[i], nw, id, idlen, &kn);
        if (ho < 0 || hn < 0) {
            rc = ho < 0 ? ho : hn;
            break;
        }
        if (ho && hn && ko.len == kn.len && memcmp(ko.data, kn.data, ko.len) == 0)
            continue;
        if (ho)
            rc = orbit_txn_del(txn, ko.data, ko.len);
        if (!rc && hn)
            rc = put_record(c, txn, &kn, NULL, 0);
    }
    if (!rc)
        rc = nw ? put_record(c, txn, &key, text.data, text.len)
                : orbit_txn_del(txn, key.data, key.len);
    if (!rc)
        rc = add_meta_check(c, tx, d);
    if (!rc)
        rc = refs_add_checks(c, tx, d, nw);
    if (!rc)
        rc = orbit_tx_touch(tx, orbit_actor_type(c->a), orbit_actor_id(c->a),
                            orbit_actor_keyspace(c->a), ORBIT_MODEL_DOC);
    orbit_buf_release(&text);
    orbit_buf_release(&key);
    orbit_buf_release(&ko);
    orbit_buf_release(&kn);
    return rc;
}

/* ---- RFC 7396 ------------------------------------------------------- */

/* The merge of patch into target (either may be NULL = null): a new
 * reference. */
static json_t *merge_patch(json_t *target, json_t *patch)
{
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *res = json_is_object(target) ? json_deep_copy(target) : json_object();
    if (!res)
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach(patch, k, v) {
        if (json_is_null(v)) {
            json_object_del(res, k);
            continue;
        }
        json_t *m = merge_patch(json_object_get(res, k), v);
        if (!m || json_object_set_new(res, k, m)) {
            json_decref(res);
            return NULL;
        }
    }
    return res;
}

/* ---- the read-modify-write operations ------------------------------- */

typedef enum op_kind {
    OP_PUT, OP_INSERT, OP_DELETE, OP_MERGE, OP_SET, OP_DELPATH, OP_INCR, OP_APPEND,
} op_kind;

typedef struct doc_op {
    orbit_doc_coll *c;
    op_kind kind;
    const void *id;
    size_t idlen;
    orbit__jpath path;
    json_t *val;    /* the document, patch, value or increment (never changed) */
    json_t **vals;  /* OP_APPEND */
    size_t nvals;
    orbit_doc_cond cond;
    size_t count;   /* values changed */
    json_t *result; /* OP_INCR, OP_APPEND: the per-match answers */
} doc_op;

/* Replace the match m of the tree *root by v (a new reference, taken). */
static int replace_match(json_t **root, orbit__jp_match *m, json_t *v)
{
    if (!v)
        return ORBIT_ENOMEM;
    if (!m->parent) {
        json_decref(*root);
        *root = v;
        return ORBIT_OK;
    }
    if (json_is_object(m->parent))
        return json_object_set_new(m->parent, m->key, v) ? ORBIT_ENOMEM : ORBIT_OK;
    return json_array_set_new(m->parent, m->index, v) ? ORBIT_ENOMEM : ORBIT_OK;
}

/* integer + integer stays an integer; a real makes a real. */
static int num_add(json_t *a, json_t *b, json_t **out)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b), r;
        if (__builtin_add_overflow(x, y, &r))
            return orbit_error_set(ORBIT_EINVAL, "documents: integer overflow in increment");
        *out = json_integer(r);
    } else {
        double r = json_number_value(a) + json_number_value(b);
        if (!isfinite(r))
            return orbit_error_set(ORBIT_EINVAL, "documents: increment result is not finite");
        *out = json_real(r);
    }
    return *out ? ORBIT_OK : ORBIT_ENOMEM;
}

/* Compute the new document of a path operation from old (a private
 * copy, *doc, changed in place). *changed: whether to write. */
static int apply_path_op(doc_op *o, json_t **doc, int *changed)
{
    *changed = 0;
    orbit__jp_matches ms = {0};
    int rc = orbit__jpath_eval(&o->path, o->path.n, *doc, &ms);
    if (rc)
        return rc;
    switch (o->kind) {
    case OP_MERGE:
        for (size_t i = 0; !rc && i < ms.n; i++) {
            rc = replace_match(doc, &ms.m[i], merge_patch(ms.m[i].value, o->val));
            o->count++;
        }
        *changed = o->count > 0;
        break;
    case OP_SET:
        if (ms.n > 0) {
            if (o->cond == ORBIT_DOC_NX)
                break;
            for (size_t i = 0; !rc && i < ms.n; i++) {
                rc = replace_match(doc, &ms.m[i], json_deep_copy(o->val));
                o->count++;
            }
            *changed = 1;
            break;
        }
        if (o->cond == ORBIT_DOC_XX || !o->path.definite)
            break;
        {
            const orbit__jp_seg *last = &o->path.segs[o->path.n - 1];
            orbit__jpath parent = o->path;
            parent.n--;
            json_t *pv = orbit__jpath_get1(&parent, *doc);
            if (!pv)
                rc = orbit_error_set(ORBIT_EINVAL, "JSON path: the parent of the last element "
                                                   "does not exist");
            else if (last->kind != ORBIT__JP_KEY)
                rc = orbit_error_set(ORBIT_EINVAL, "JSON path: array index out of range");
            else if (!json_is_object(pv))
                rc = orbit_error_set(ORBIT_EINVAL, "JSON path: the parent of member '%s' is "
                                                   "not an object",
                                     last->key);
            else if (json_object_setn_new(pv, last->key, last->keylen, json_deep_copy(o->val)))
                rc = ORBIT_ENOMEM;
            else {
                o->count = 1;
                *changed = 1;
            }
        }
        break;
    case OP_DELPATH:
        for (size_t i = ms.n; !rc && i-- > 0;) {
            orbit__jp_match *m = &ms.m[i];
            if (!m->parent)
                continue; /* the root: handled by the caller */
            int gone = json_is_object(m->parent)
                           ? json_object_del(m->parent, m->key) == 0
                           : json_array_remove(m->parent, m->index) == 0;
            o->count += gone;
        }
        *changed = o->count > 0;
        break;
    case OP_INCR:
        o->result = json_array();
        if (!o->result)
            rc = ORBIT_ENOMEM;
        for (size_t i = 0; !rc && i < ms.n; i++) {
            json_t *nv = NULL;
            if (!json_is_number(ms.m[i].value)) {
                rc = json_array_append_new(o->result, json_null()) ? ORBIT_ENOMEM : ORBIT_OK;
                continue;
            }
            rc = num_add(ms.m[i].value, o->val, &nv);
            if (!rc && json_array_append(o->result, nv))
                rc = ORBIT_ENOMEM;
            if (!rc)
                rc = replace_match(doc, &ms.m[i], nv);
            else
                json_decref(nv);
            o->count++;
        }
        *changed = o->count > 0;
        break;
    case OP_APPEND:
        o->result = json_array();
        if (!o->result)
            rc = ORBIT_ENOMEM;
        for (size_t i = 0; !rc && i < ms.n; i++) {
            json_t *arr = ms.m[i].value;
            if (!json_is_array(arr)) {
                rc = json_array_append_new(o->result, json_null()) ? ORBIT_ENOMEM : ORBIT_OK;
                continue;
            }
            for (size_t j = 0; !rc && j < o->nvals; j++)
                if (json_array_append_new(arr, json_deep_copy(o->vals[j])))
                    rc = ORBIT_ENOMEM;
            if (!rc && json_array_append_new(o->result, json_integer((json_int_t)json_array_size(arr))))
                rc = ORBIT_ENOMEM;
            o->count++;
        }
        *changed = o->count > 0;
        break;
    default:
        break;
    }
    orbit__jp_matches_release(&ms);
    if (!rc && *changed && !depth_ok(*doc, 1))
        rc = orbit_error_set(ORBIT_EINVAL, "documents: the result is nested deeper than %d",
                             ORBIT_DOC_DEPTH_MAX);
    return rc;
}

static int doc_op_fn(orbit_tx *tx, void *arg)
{
    doc_op *o = arg;
    orbit_doc_coll *c = o->c;
    o->count = 0;
    json_decref(o->result);
    o->result = NULL;
    reader r;
    int rc = rd_open(c, tx, 0, &r);
    if (rc)
        return rc;
    doc_def *d = def_get(c);
    json_t *old = NULL, *nw = NULL;
    if (d->dropped) {
        rc = orbit_error_set(ORBIT_NOTFOUND, "document collection '%s' was dropped", c->name);
        goto out;
    }
    int need_old = !(o->kind == OP_PUT && d->nidx == 0);
    if (need_old) {
        rc = read_doc(c, &r, o->id, o->idlen, o->kind != OP_PUT, &old);
        if (rc == ORBIT_NOTFOUND)
            rc = ORBIT_OK;
        if (rc)
            goto out;
    }
    int root = path_root(&o->path), changed = 1;
    switch (o->kind) {
    case OP_PUT:
        nw = json_incref(o->val);
        break;
    case OP_INSERT:
        if (old) {
            rc = orbit_error_set(ORBIT_EEXIST, "document collection '%s': the id exists", c->name);
            goto out;
        }
        nw = json_incref(o->val);
        break;
    case OP_DELETE:
        if (!old) {
            rc = ORBIT_NOTFOUND;
            goto out;
        }
        break;
    case OP_MERGE:
        if (root) {
            nw = merge_patch(old, o->val);
            if (!nw && !json_is_null(o->val)) {
                rc = ORBIT_ENOMEM;
                goto out;
            }
            if (json_is_null(nw)) {
                json_decref(nw);
                nw = NULL;
                changed = old != NULL;
            }
            o->count = 1;
            break;
        }
        /* fall through */
    case OP_SET:
    case OP_DELPATH:
    case OP_INCR:
    case OP_APPEND:
        if (o->kind == OP_SET && root) {
            if ((o->cond == ORBIT_DOC_NX && old) || (o->cond == ORBIT_DOC_XX && !old)) {
                changed = 0;
                break;
            }
            nw = json_incref(o->val);
            o->count = 1;
            break;
        }
        if (o->kind == OP_DELPATH && (root || !old)) {
            o->count = old ? 1 : 0;
            changed = old != NULL;
            break;
        }
        if (!old) {
            rc = ORBIT_NOTFOUND;
            goto out;
        }
        nw = json_deep_copy(old);
        if (!nw) {
            rc = ORBIT_ENOMEM;
            goto out;
        }
        rc = apply_path_op(o, &nw, &changed);
        if (rc)
            goto out;
        break;
    }
    if (changed)
        rc = doc_store(c, tx, r.txn, d, o->id, o->idlen, old, nw);
out:
    json_decref(old);
    json_decref(nw);
    def_put(c, d);
    orbit__reader_close(&r);
    return rc;
}

static void op_init(doc_op *o, orbit_doc_coll *c, op_kind kind, const void *id, size_t idlen)
{
    memset(o, 0, sizeof *o);
    o->c = c;
    o->kind = kind;
    o->id = id;
    o->idlen = idlen;
}

static void op_release(doc_op *o)
{
    orbit__jpath_release(&o->path);
    json_decref(o->val);
    for (size_t i = 0; i < o->nvals; i++)
        json_decref(o->vals[i]);
    free(o->vals);
    json_decref(o->result);
}

/* Parse the op's path (NULL: the root). */
static int op_path(doc_op *o, const char *path)
{
    if (!path)
        return ORBIT_OK;
    return orbit__jpath_parse(path, &o->path);
}

static int op_run(orbit_tx *tx, doc_op *o)
{
    return orbit_tx_auto(tx, doc_op_fn, o);
}

static int coll_ok(const orbit_doc_coll *c)
{
    return c ? ORBIT_OK : orbit_error_set(ORBIT_EINVAL, "documents: NULL collection");
}

int orbit_doc_put(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                  const char *json, size_t len)
{
    doc_op o;
    int rc = coll_ok(c);
    if (rc || (rc = check_id(id, idlen)))
        return rc;
    op_init(&o, c, OP_PUT, id, idlen);
    rc = parse_in(json, len, "document", &o.val);
    if (!rc)
        rc = op_run(tx, &o);
    op_release(&o);
    return rc;
}

int orbit_doc_insert(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                     const char *json, size_t len)
{
    doc_op o;
    int rc = coll_ok(c);
    if (rc || (rc = check_id(id, idlen)))
        return rc;
    op_init(&o, c, OP_INSERT, id, idlen);
    rc = parse_in(json, len, "document", &o.val);
    if (!rc)
        rc = op_run(tx, &o);
    op_release(&o);
    return rc;
}

int orbit_doc_delete(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen)
{
    doc_op o;
    int rc = coll_ok(c);
    if (rc || (rc = check_id(id, idlen)))
        return rc;
    op_init(&o, c, OP_DELETE, id, idlen);
    rc = op_run(tx, &o);
    op_release(&o);
    return rc;
}

int orbit_doc_merge(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                    const char *path, const char *patch, size_t len, size_t *matched)
{
    doc_op o;
    int rc = coll_ok(c);
    if (matched)
        *matched = 0;
    if (rc || (rc = check_id(id, idlen)))
        return rc;
    op_init(&o, c, OP_MERGE, id, idlen);
    rc = op_path(&o, path);
    if (!rc)
        rc = parse_in(patch, len, "merge patch", &o.val);
    if (!rc)
        rc = op_run(tx, &o);
    if (!rc && matched)
        *matched = o.count;
    op_release(&o);
    return rc;
}

int orbit_doc_set(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                  const char *path, const char *json, size_t len, orbit_doc_cond cond,
                  size_t *applied)
{
    doc_op o;
    int rc = coll_ok(c);
    if (applied)
        *applied = 0;
    if (rc || (rc = check_id(id, idlen)))
        return rc;
    if ((unsigned)cond > ORBIT_DOC_XX)
        return orbit_error_set(ORBIT_EINVAL, "documents: unknown set condition %d", (int)cond);
    if (!path)
        return orbit_error_set(ORBIT_EINVAL, "documents: NULL path");
    op_init(&o, c, OP_SET, id, idlen);
    o.cond = cond;
    rc = op_path(&o, path);
    if (!rc)
        rc = parse_in(json, len, "value", &o.val);
    if (!rc)
        rc = op_run(tx, &o);
    if (!rc && applied)
        *applied = o.count;
    op_release(&o);
    return rc;
}

int orbit_doc_del_path(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                       const char *path, size_t *deleted)
{
    doc_op o;
    int rc = coll_ok(c);
    if (deleted)
        *deleted = 0;
    if (rc || (rc = check_id(id, idlen)))
        return rc;
    op_init(&o, c, OP_DELPATH, id, idlen);
    rc = op_path(&o, path ? path : "$");
    if (!rc)
        rc = op_run(tx, &o);
    if (!rc && deleted)
        *deleted = o.count;
    op_release(&o);
    return rc;
}

int orbit_doc_num_incr(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                       const char *path, const char *by, size_t len, orbit_buf *out)
{
    doc_op o;
    int rc = coll_ok(c);
    if (rc || (rc = check_id(id, idlen)))
        return rc;
    if (!path || !out)
        return orbit_error_set(ORBIT_EINVAL, "documents: NULL %s", path ? "out" : "path");
    op_init(&o, c, OP_INCR, id, idlen);
    rc = op_path(&o, path);
    if (!rc)
        rc = parse_in(by, len, "increment", &o.val);
    if (!rc && !json_is_number(o.val))
        rc = orbit_error_set(ORBIT_EINVAL, "documents: the increment is not a number");
    if (!rc)
        rc = op_run(tx, &o);
    if (!rc)
        rc = dump_to(o.result, out);
    op_release(&o);
    return rc;
}

int orbit_doc_arr_append(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                         const char *path, size_t n, const char *const *vals,
                         const size_t *lens, orbit_buf *out)
{
    doc_op o;
    int rc = coll_ok(c);
    if (rc || (rc = check_id(id, idlen)))
        return rc;
    if (!path || !out || (n && (!vals || !lens)))
        return orbit_error_set(ORBIT_EINVAL, "documents: NULL path, values or out");
    if (n == 0)
        return orbit_error_set(ORBIT_EINVAL, "documents: nothing to append");
    op_init(&o, c, OP_APPEND, id, idlen);
    rc = op_path(&o, path);
    if (!rc) {
        o.vals = calloc(n, sizeof *o.vals);
        rc = o.vals ? ORBIT_OK : ORBIT_ENOMEM;
    }
    for (size_t i = 0; !rc && i < n; i++) {
        rc = parse_in(vals[i], lens[i], "value", &o.vals[i]);
        if (!rc)
            o.nvals++;
    }
    if (!rc)
        rc = op_run(tx, &o);
    if (!rc)
        rc = dump_to(o.result, out);
    op_release(&o);
    return rc;
}

/* ---- reads ---------------------------------------------------------- */

/* The shape of a path read's answer. */
typedef enum read_kind { RD_VALUES, RD_TYPES, RD_KEYS } read_kind;

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static int answer_path(json_t *doc, const orbit__jpath *p, read_kind kind, orbit_buf *out)
{
    orbit__jp_matches ms = {0};
    json_t *arr = json_array();
    int rc = arr ? orbit__jpath_eval(p, p->n, doc, &ms) : ORBIT_ENOMEM;
    for (size_t i = 0; !rc && i < ms.n; i++) {
        json_t *v = ms.m[i].value, *e;
        if (kind == RD_VALUES) {
            e = json_incref(v);
        } else if (kind == RD_TYPES) {
            e = json_string(type_name(v));
        } else if (json_is_object(v)) {
            e = json_array();
            const char *k;
            json_t *x;
            json_object_foreach(v, k, x) {
                if (e && json_array_append_new(e, json_string(k))) {
                    json_decref(e);
                    e = NULL;
                }
            }
        } else {
            e = json_null();
        }
        if (!e || json_array_append_new(arr, e))
            rc = ORBIT_ENOMEM;
    }
    if (!rc)
        rc = dump_to(arr, out);
    json_decref(arr);
    orbit__jp_matches_release(&ms);
    return rc;
}

int orbit_doc_get(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                  orbit_buf *out)
{
    int rc = coll_ok(c);
    if (rc || (rc = check_id(id, idlen)))
        return rc;
    if (!out)
        return orbit_error_set(ORBIT_EINVAL, "documents: NULL out");
    out->len = 0;
    reader r;
    if ((rc = rd_open(c, tx, 0, &r)))
        return rc;
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT;
    rc = key_doc(c, id, idlen, &key);
    if (!rc)
        rc = rd_get(&r, &key, &val);
    if (!rc) {
        const uint8_t *p;
        size_t n;
        rc = decode_doc(key.data, key.len, val.data, val.len, &scratch, &p, &n);
        if (!rc && !orbit_buf_reserve(out, n + 1)) {
            memcpy(out->data, p, n);
            out->len = n;
            out->data[n] = '\0';
        } else if (!rc) {
            rc = ORBIT_ENOMEM;
        }
    }
    if (rc)
        out->len = 0;
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    orbit_buf_release(&scratch);
    orbit__reader_close(&r);
    return rc;
}

static int read_path(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                     const char *path, read_kind kind, orbit_buf *out)
{
    int rc = coll_ok(c);
    if (rc || (rc = check_id(id, idlen)))
        return rc;
    if (!out || !path)
        return orbit_error_set(ORBIT_EINVAL, "documents: NULL %s", out ? "path" : "out");
    out->len = 0;
    orbit__jpath p;
    if ((rc = orbit__jpath_parse(path, &p)))
        return rc;
    reader r;
    json_t *doc = NULL;
    rc = rd_open(c, tx, 0, &r);
    if (!rc)
        rc = read_doc(c, &r, id, idlen, 0, &doc);
    if (!rc)
        rc = answer_path(doc, &p, kind, out);
    json_decref(doc);
    orbit__reader_close(&r);
    orbit__jpath_release(&p);
    return rc;
}

int orbit_doc_get_path(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                       const char *path, orbit_buf *out)
{
    return read_path(tx, c, id, idlen, path, RD_VALUES, out);
}

int orbit_doc_type(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                   const char *path, orbit_buf *out)
{
    return read_path(tx, c, id, idlen, path, RD_TYPES, out);
}

int orbit_doc_obj_keys(orbit_tx *tx, orbit_doc_coll *c, const void *id, size_t idlen,
                       const char *path, orbit_buf *out)
{
    return read_path(tx, c, id, idlen, path, RD_KEYS, out);
}

/* Read the documents keys[0..n) in one multi-get and hand each found one
 * to fn (ids[i] its id). */
static int mget_docs(orbit_doc_coll *c, reader *r, size_t n, orbit_buf *keys,
                     const orbit_buf *ids, orbit_doc_fn fn, void *arg)
{
    orbit_slice *sl = calloc(n ? n : 1, sizeof *sl);
    orbit_buf *vals = calloc(n ? n : 1, sizeof *vals);
    int *st = calloc(n ? n : 1, sizeof *st);
    orbit_buf scratch = ORBIT_BUF_INIT;
    int rc = (sl && vals && st) ? ORBIT_OK : ORBIT_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        sl[i].data = keys[i].data;
        sl[i].len = keys[i].len;
    }
    if (!rc && n)
        rc = orbit__reader_mget(r, n, sl, vals, st);
    for (size_t i = 0; !rc && i < n; i++) {
        if (st[i] == ORBIT_NOTFOUND)
            continue;
        const uint8_t *p;
        size_t pl;
        rc = decode_doc(keys[i].data, keys[i].len, vals[i].data, vals[i].len, &scratch, &p, &pl);
        if (!rc)
            rc = fn(arg, ids[i].data, ids[i].len, (const char *)p, pl);
    }
    for (size_t i = 0; vals && i < n; i++)
        orbit_buf_release(&vals[i]);
    free(sl);
    free(vals);
    free(st);
    orbit_buf_release(&scratch);
    return rc;
}

typedef struct mget_state {
    const char *path;
    orbit__jpath p;
    orbit_buf *outs;
    int *status;
    size_t at;
    const orbit_buf *ids;
} mget_state;

int orbit_doc_mget(orbit_tx *tx, orbit_doc_coll *c, size_t n, const void *const *ids,
                   const size_t *idlens, const char *path, orbit_buf *outs, int *status)
{
    int rc = coll_ok(c);
    if (rc)
        return rc;
    if (n == 0)
        return ORBIT_OK;
    if (!ids || !idlens || !outs || !status)
        return orbit_error_set(ORBIT_EINVAL, "documents mget: NULL array");
    for (size_t i = 0; i < n; i++)
        if ((rc = check_id(ids[i], idlens[i])))
            return rc;
    orbit__jpath p = {0};
    if (path && (rc = orbit__jpath_parse(path, &p)))
        return rc;
    reader r;
    orbit_buf *keys = calloc(n, sizeof *keys);
    orbit_slice *sl = calloc(n, sizeof *sl);
    orbit_buf scratch = ORBIT_BUF_INIT;
    rc = (keys && sl) ? rd_open(c, tx, 0, &r) : ORBIT_ENOMEM;
    int opened = !rc;
    for (size_t i = 0; !rc && i < n; i++) {
        rc = key_doc(c, ids[i], idlens[i], &keys[i]);
        sl[i].data = keys[i].data;
        sl[i].len = keys[i].len;
    }
    if (!rc)
        rc = orbit__reader_mget(&r, n, sl, outs, status);
    for (size_t i = 0; !rc && i < n; i++) {
        if (status[i] == ORBIT_NOTFOUND) {
            outs[i].len = 0;
            continue;
        }
        const uint8_t *pl;
        size_t plen;
        rc = decode_doc(keys[i].data, keys[i].len, outs[i].data, outs[i].len, &scratch, &pl,
                        &plen);
        json_t *doc = NULL;
        if (!rc && path) {
            rc = parse_stored(keys[i].data, keys[i].len, pl, plen, &doc);
            if (!rc)
                rc = answer_path(doc, &p, RD_VALUES, &outs[i]);
            json_decref(doc);
        } else if (!rc) {
            /* The payload lies inside outs[i] (or scratch): move it to the
             * front. */
            orbit_buf tmp = ORBIT_BUF_INIT;
            rc = orbit_buf_set(&tmp, pl, plen);
            if (!rc)
                rc = orbit_buf_set(&outs[i], tmp.data, tmp.len);
            if (!rc)
                rc = orbit_buf_append(&outs[i], "", 1);
            if (!rc)
                outs[i].len--;
            orbit_buf_release(&tmp);
        }
        if (rc)
            status[i] = rc;
    }
    if (opened)
        orbit__reader_close(&r);
    for (size_t i = 0; keys && i < n; i++)
        orbit_buf_release(&keys[i]);
    free(keys);
    free(sl);
    orbit_buf_release(&scratch);
    orbit__jpath_release(&p);
    return rc;
}

/* Decode the id element at *pos of key (into id). */
static int key_id_at(const uint8_t *key, size_t klen, size_t pos, orbit_buf *id)
{
    orbit_tuple_item it = {0};
    it.bytes_out = id;
    int rc = orbit_tuple_next(key, klen, &pos, &it);
    if (!rc && (it.type != ORBIT_TUPLE_BYTES || pos != klen))
        rc = ORBIT_ECORRUPT;
    if (rc)
        return orbit_error_set(ORBIT_ECORRUPT, "documents: a malformed key in a collection");
    return ORBIT_OK;
}

int orbit_doc_scan(orbit_tx *tx, orbit_doc_coll *c, const void *start, size_t start_len,
                   size_t limit, orbit_doc_fn fn, void *arg)
{
    int rc = coll_ok(c);
    if (rc)
        return rc;
    if (!fn)
        return orbit_error_set(ORBIT_EINVAL, "documents scan: NULL callback");
    orbit_buf prefix = ORBIT_BUF_INIT, skey = ORBIT_BUF_INIT, id = ORBIT_BUF_INIT,
              scratch = ORBIT_BUF_INIT;
    rc = key_head(c, &prefix);
    size_t head = prefix.len;
    if (!rc)
        rc = orbit_tuple_bytes_open(&prefix, "", 0);
    if (!rc && start)
        rc = key_doc(c, start, start_len, &skey);
    reader r;
    if (!rc)
        rc = rd_open(c, tx, 1, &r);
    if (rc) {
        orbit_buf_release(&prefix);
        orbit_buf_release(&skey);
        return rc;
    }
    orbit_scan_opts so = {0};
    so.prefix = prefix.data;
    so.prefix_len = prefix.len;
    if (start) {
        so.start = skey.data;
        so.start_len = skey.len;
    }
    so.limit = limit;
    orbit_iter *it = NULL;
    rc = orbit__reader_iter(&r, &so, &it);
    while (!rc) {
        const uint8_t *k, *v, *p;
        size_t kl, vl, pl;
        rc = orbit_iter_next(it, &k, &kl, &v, &vl);
        if (rc == ORBIT_NOTFOUND) {
            rc = ORBIT_OK;
            break;
        }
        if (!rc)
            rc = key_id_at(k, kl, head, &id);
        if (!rc)
            rc = decode_doc(k, kl, v, vl, &scratch, &p, &pl);
        if (!rc)
            rc = fn(arg, id.data, id.len, (const char *)p, pl);
    }
    orbit_iter_close(it);
    orbit__reader_close(&r);
    orbit_buf_release(&prefix);
    orbit_buf_release(&skey);
    orbit_buf_release(&id);
    orbit_buf_release(&scratch);
    return rc;
}

/* ---- index lookups -------------------------------------------------- */

static int scalar_bound(const char *s, size_t len, json_t **out, uint8_t *tag)
{
    int rc = parse_in(s, len, "index bound", out);
    if (rc)
        return rc;
    if (json_is_string(*out))
        *tag = ORBIT_TAG_BYTES;
    else if (json_is_number(*out))
        *tag = ORBIT_TAG_DOUBLE;
    else if (json_is_boolean(*out))
        *tag = ORBIT_TAG_FALSE;
    else {
        json_decref(*out);
        *out = NULL;
        return orbit_error_set(ORBIT_EINVAL, "documents: an index bound must be a string, number "
                                             "or boolean");
    }
    return ORBIT_OK;
}

/* The end of one type's values after an entries prefix: the tag byte of
 * the next type. */
static uint8_t tag_end(uint8_t tag)
{
    return tag == ORBIT_TAG_BYTES ? ORBIT_TAG_BYTES + 1
                                  : tag == ORBIT_TAG_DOUBLE ? ORBIT_TAG_DOUBLE + 1 : ORBIT_TAG_TRUE + 1;
}

/* Read the meta record through r and find index `name`. */
static int find_index(orbit_doc_coll *c, reader *r, const char *name, doc_def **def,
                      const doc_index **x)
{
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT;
    int rc = key_meta(c, &key);
    if (!rc)
        rc = rd_get(r, &key, &val);
    if (rc == ORBIT_NOTFOUND)
        rc = orbit_error_set(ORBIT_NOTFOUND, "document collection '%s' does not exist", c->name);
    const uint8_t *p;
    size_t n;
    if (!rc)
        rc = decode_doc(key.data, key.len, val.data, val.len, &scratch, &p, &n);
    if (!rc)
        rc = def_parse(c, p, n, def);
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    orbit_buf_release(&scratch);
    if (rc)
        return rc;
    for (size_t i = 0; i < (*def)->nidx; i++) {
        if (strcmp((*def)->idx[i].name, name) == 0) {
            *x = &(*def)->idx[i];
            if (!(*x)->ready)
                return orbit_error_set(ORBIT_EINVAL, "document index '%s' is still being built",
                                       name);
            return ORBIT_OK;
        }
    }
    return orbit_error_set(ORBIT_NOTFOUND, "document collection '%s' has no index '%s'", c->name,
                           name);
}

int orbit_doc_index_range(orbit_tx *tx, orbit_doc_coll *c, const char *index,
                          const orbit_doc_range *range, size_t limit, orbit_doc_fn fn,
                          void *arg)
{
    int rc = coll_ok(c);
    if (rc)
        return rc;
    if (!index || !fn)
        return orbit_error_set(ORBIT_EINVAL, "documents: NULL index name or callback");
    orbit_doc_range all = {0};
    if (!range)
        range = &all;
    json_t *lo = NULL, *hi = NULL;
    uint8_t lo_tag = 0, hi_tag = 0;
    if (range->lo && (rc = scalar_bound(range->lo, range->lo_len, &lo, &lo_tag)))
        return rc;
    if (range->hi && (rc = scalar_bound(range->hi, range->hi_len, &hi, &hi_tag))) {
        json_decref(lo);
        return rc;
    }
    if (lo && hi && lo_tag != hi_tag) {
        json_decref(lo);
        json_decref(hi);
        return orbit_error_set(ORBIT_EINVAL, "documents: index bounds of different types");
    }
    reader r;
    doc_def *def = NULL;
    const doc_index *x = NULL;
    orbit_buf prefix = ORBIT_BUF_INIT, sk = ORBIT_BUF_INIT, ek = ORBIT_BUF_INIT;
    orbit_buf *ids = NULL, *keys = NULL;
    size_t n = 0, cap = 0;
    rc = rd_open(c, tx, 1, &r);
    if (rc)
        goto done0;
    rc = find_index(c, &r, index, &def, &x);
    if (!rc)
        rc = key_entries(c, x->no, &prefix);
    /* start */
    if (!rc)
        rc = orbit_buf_set(&sk, prefix.data, prefix.len);
    if (!rc && lo) {
        rc = enc_value(lo, &sk);
        rc = rc < 0 ? rc : 0;
        if (!rc && range->lo_excl)
            rc = orbit_buf_append(&sk, "\xff", 1);
    } else if (!rc && hi) {
        rc = orbit_buf_append(&sk, &hi_tag, 1);
    }
    /* end */
    if (!rc)
        rc = orbit_buf_set(&ek, prefix.data, prefix.len);
    if (!rc && hi) {
        rc = enc_value(hi, &ek);
        rc = rc < 0 ? rc : 0;
        if (!rc && !range->hi_excl)
            rc = orbit_buf_append(&ek, "\xff", 1);
    } else if (!rc && lo) {
        uint8_t e = tag_end(lo_tag);
        rc = orbit_buf_append(&ek, &e, 1);
    } else if (!rc) {
        rc = orbit_buf_append(&ek, "\xff", 1);
    }
    orbit_iter *it = NULL;
    if (!rc) {
        orbit_scan_opts so = {0};
        so.prefix = prefix.data;
        so.prefix_len = prefix.len;
        so.start = sk.data;
        so.start_len = sk.len;
        so.end = ek.data;
        so.end_len = ek.len;
        so.limit = limit;
        so.keys_only = 1;
        rc = orbit__reader_iter(&r, &so, &it);
    }
    while (!rc) {
        const uint8_t *k, *v;
        size_t kl, vl;
        rc = orbit_iter_next(it, &k, &kl, &v, &vl);
        if (rc == ORBIT_NOTFOUND) {
            rc = ORBIT_OK;
            break;
        }
        if (rc)
            break;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            orbit_buf *ni = realloc(ids, nc * sizeof *ni), *nk;
            if (ni)
                ids = ni;
            nk = ni ? realloc(keys, nc * sizeof *nk) : NULL;
            if (!ni || !nk) {
                rc = ORBIT_ENOMEM;
                break;
            }
            keys = nk;
            for (size_t i = cap; i < nc; i++) {
                orbit_buf_init(&ids[i]);
                orbit_buf_init(&keys[i]);
            }
            cap = nc;
        }
        size_t pos = prefix.len;
        orbit_tuple_item ti = {0};
        rc = orbit_tuple_next(k, kl, &pos, &ti);
        if (!rc)
            rc = key_id_at(k, kl, pos, &ids[n]);
        else
            rc = orbit_error_set(ORBIT_ECORRUPT, "documents: a malformed index entry key");
        if (!rc)
            rc = key_doc(c, ids[n].data, ids[n].len, &keys[n]);
        if (!rc)
            n++;
    }
    orbit_iter_close(it);
    for (size_t at = 0; !rc && at < n; at += ORBIT_DOC_LOOKUP_PAGE) {
        size_t m = n - at < ORBIT_DOC_LOOKUP_PAGE ? n - at : ORBIT_DOC_LOOKUP_PAGE;
        rc = mget_docs(c, &r, m, keys + at, ids + at, fn, arg);
    }
    orbit__reader_close(&r);
done0:
    for (size_t i = 0; i < cap; i++) {
        orbit_buf_release(&ids[i]);
        orbit_buf_release(&keys[i]);
    }
    free(ids);
    free(keys);
    def_free(def);
    json_decref(lo);
    json_decref(hi);
    orbit_buf_release(&prefix);
    orbit_buf_release(&sk);
    orbit_buf_release(&ek);
    return rc;
}

int orbit_doc_index_find(orbit_tx *tx, orbit_doc_coll *c, const char *index, const char *value,
                         size_t len, size_t limit, orbit_doc_fn fn, void *arg)
{
    orbit_doc_range r = {value, len, 0, value, len, 0};
    if (!value)
        return orbit_error_set(ORBIT_EINVAL, "documents: NULL index value");
    return orbit_doc_index_range(tx, c, index, &r, limit, fn, arg);
}

/* ---- the definition: create, change, drop --------------------------- */

static uint64_t draw_gen(void)
{
    uint64_t g = 0;
    if (getrandom(&g, sizeof g, 0) != (ssize_t)sizeof g)
        g = orbit__mono_ns() ^ (orbit__now_ms() << 20);
    return g & (uint64_t)INT64_MAX;
}

/* A change of the meta JSON inside a transaction of its own. fn returns 0
 * (write it, ver bumped if *bump), EDIT_SKIP (write nothing) or an error. */
#define EDIT_SKIP 1000
typedef int (*meta_edit_fn)(orbit_doc_coll *c, json_t *meta, void *arg, int *bump);

typedef struct meta_edit {
    orbit_doc_coll *c;
    meta_edit_fn fn;
    void *arg;
    int create;     /* the meta record may be absent: start from a new one */
    uint8_t *final; /* the payload written or found (malloc'd) */
    size_t final_len;
} meta_edit;

static int meta_edit_fn_tx(orbit_tx *tx, void *arg)
{
    meta_edit *e = arg;
    orbit_doc_coll *c = e->c;
    free(e->final);
    e->final = NULL;
    orbit_txn *txn;
    int rc = orbit_tx_kv_txn(tx, orbit_actor_store(c->a), orbit_actor_type(c->a),
                             orbit_actor_id(c->a), &txn);
    if (rc)
        return rc;
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT,
              text = ORBIT_BUF_INIT;
    json_t *meta = NULL;
    rc = key_meta(c, &key);
    if (!rc)
        rc = orbit_txn_get_for_update(txn, key.data, key.len, &val);
    if (rc == ORBIT_NOTFOUND && e->create) {
        meta = json_pack("{s:I,s:I,s:I,s:[],s:[]}", "gen", (json_int_t)draw_gen(), "ver",
                         (json_int_t)1, "next", (json_int_t)1, "indexes", "refs");
        rc = meta ? ORBIT_OK : ORBIT_ENOMEM;
    } else if (rc == ORBIT_NOTFOUND) {
        rc = orbit_error_set(ORBIT_NOTFOUND, "document collection '%s' does not exist", c->name);
    } else if (!rc) {
        const uint8_t *p;
        size_t n;
        rc = decode_doc(key.data, key.len, val.data, val.len, &scratch, &p, &n);
        if (!rc) {
            json_error_t err;
            meta = json_loadb((const char *)p, n, JSON_IN_FLAGS, &err);
            if (!json_is_object(meta))
                rc = corrupt_meta(c, "is not a JSON object");
        }
        if (!rc && e->create && !e->fn) {
            /* exists already: keep it */
            e->final = malloc(n ? n : 1);
            if (!e->final)
                rc = ORBIT_ENOMEM;
            else {
                memcpy(e->final, p, n);
                e->final_len = n;
                rc = EDIT_SKIP;
            }
        }
    }
    int bump = 0;
    if (!rc && e->fn)
        rc = e->fn(c, meta, e->arg, &bump);
    if (!rc && bump)
        rc = json_object_set_new(meta, "ver",
                                 json_integer(json_integer_value(json_object_get(meta, "ver")) + 1))
                 ? ORBIT_ENOMEM
                 : ORBIT_OK;
    if (!rc)
        rc = dump_to(meta, &text);
    if (!rc)
        rc = put_record(c, txn, &key, text.data, text.len);
    if (!rc) {
        e->final = malloc(text.len ? text.len : 1);
        if (!e->final)
            rc = ORBIT_ENOMEM;
        else {
            memcpy(e->final, text.data, text.len);
            e->final_len = text.len;
        }
    }
    if (rc == EDIT_SKIP)
        rc = ORBIT_OK;
    json_decref(meta);
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    orbit_buf_release(&scratch);
    orbit_buf_release(&text);
    return rc;
}

static int meta_edit_run(orbit_doc_coll *c, int create, meta_edit_fn fn, void *arg)
{
    meta_edit e = {c, fn, arg, create, NULL, 0};
    /* Every writer of the collection reads its meta record for update, so
     * on a pessimistic store an edit meets their locks: it retries until a
     * deadline, as a backfill batch does, so busy writers delay an index
     * build or drop, never fail it. */
    orbit_tx_opts to = {ORBIT_TX_REPEATABLE_READ, BACKFILL_DEADLINE_MS};
    int rc = orbit_tx_run(&to, BACKFILL_ATTEMPTS, meta_edit_fn_tx, &e);
    if (!rc && e.final) {
        doc_def *d;
        rc = def_parse(c, e.final, e.final_len, &d);
        if (!rc)
            def_install(c, d);
    }
    free(e.final);
    return rc;
}

int orbit_doc_coll_refresh(orbit_doc_coll *c)
{
    int rc = coll_ok(c);
    if (rc)
        return rc;
    reader r;
    rd_open(c, NULL, 0, &r);
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT;
    rc = key_meta(c, &key);
    if (!rc)
        rc = rd_get(&r, &key, &val);
    doc_def *d = NULL;
    if (!rc) {
        const uint8_t *p;
        size_t n;
        rc = decode_doc(key.data, key.len, val.data, val.len, &scratch, &p, &n);
        if (!rc)
            rc = def_parse(c, p, n, &d);
    } else if (rc == ORBIT_NOTFOUND) {
        d = calloc(1, sizeof *d);
        if (d)
            d->dropped = 1;
    }
    if (d)
        def_install(c, d);
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    orbit_buf_release(&scratch);
    return rc;
}

static int name_ok(const char *name, const char *what)
{
    if (!name || !name[0])
        return orbit_error_set(ORBIT_EINVAL, "documents: empty %s name", what);
    return ORBIT_OK;
}

int orbit_doc_coll_open(const orbit_actor *a, const char *name, int create,
                        orbit_doc_coll **out)
{
    if (!out)
        return orbit_error_set(ORBIT_EINVAL, "documents: NULL out");
    *out = NULL;
    if (!a)
        return orbit_error_set(ORBIT_EINVAL, "documents: NULL actor");
    int rc = name_ok(name, "collection");
    if (rc)
        return rc;
    uint64_t id;
    rc = orbit_actor_object_id(a, ORBIT_CATALOG_COLLECTION, name, create, &id);
    if (rc == ORBIT_NOTFOUND)
        return orbit_error_set(ORBIT_NOTFOUND, "document collection '%s' does not exist", name);
    if (rc)
        return rc;
    orbit_doc_coll *c = calloc(1, sizeof *c);
    if (!c || !(c->name = strdup(name))) {
        free(c);
        return ORBIT_ENOMEM;
    }
    c->a = a;
    c->id = id;
    pthread_mutex_init(&c->mu, NULL);
    rc = create ? meta_edit_run(c, 1, NULL, NULL) : orbit_doc_coll_refresh(c);
    if (!rc && c->def->dropped)
        rc = ORBIT_NOTFOUND;
    if (rc == ORBIT_NOTFOUND)
        rc = orbit_error_set(ORBIT_NOTFOUND, "document collection '%s' does not exist", name);
    if (rc) {
        orbit_doc_coll_close(c);
        return rc;
    }
    *out = c;
    return ORBIT_OK;
}

void orbit_doc_coll_close(orbit_doc_coll *c)
{
    if (!c)
        return;
    if (c->def && --c->def->refcnt == 0)
        def_free(c->def);
    pthread_mutex_destroy(&c->mu);
    free(c->name);
    free(c);
}

uint64_t orbit_doc_coll_id(const orbit_doc_coll *c) { return c->id; }
const char *orbit_doc_coll_name(const orbit_doc_coll *c) { return c->name; }

typedef struct drop_arg {
    const orbit_actor *a;
    uint64_t id;
    const char *name;
} drop_arg;

static int drop_fn(orbit_tx *tx, void *arg)
{
    drop_arg *d = arg;
    orbit_txn *txn;
    orbit_kv *kv = orbit_actor_store(d->a);
    int rc = orbit_tx_kv_txn(tx, kv, orbit_actor_type(d->a), orbit_actor_id(d->a), &txn);
    if (rc)
        return rc;
    orbit_buf lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT, meta = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    rc = orbit_key_object_prefix(&lo, orbit_actor_keyspace(d->a), ORBIT_PREFIX_DOC, d->id);
    if (!rc)
        rc = orbit_buf_set(&meta, lo.data, lo.len);
    if (!rc)
        rc = orbit_tuple_int(&meta, EL_META);
    if (!rc)
        rc = orbit_txn_get_for_update(txn, meta.data, meta.len, &val);
    if (rc == ORBIT_NOTFOUND)
        rc = orbit_error_set(ORBIT_NOTFOUND, "document collection '%s' does not exist", d->name);
    if (!rc)
        rc = orbit_buf_set(&hi, lo.data, lo.len);
    if (!rc)
        rc = orbit_buf_append(&hi, "\xff", 1);
    if (!rc)
        rc = orbit_txn_delete_range(txn, lo.data, lo.len, hi.data, hi.len);
    if (!rc)
        rc = orbit_tx_touch(tx, orbit_actor_type(d->a), orbit_actor_id(d->a),
                            orbit_actor_keyspace(d->a), ORBIT_MODEL_DOC);
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    orbit_buf_release(&meta);
    orbit_buf_release(&val);
    return rc;
}

int orbit_doc_coll_drop(orbit_tx *tx, const orbit_actor *a, const char *name)
{
    if (!a)
        return orbit_error_set(ORBIT_EINVAL, "documents: NULL actor");
    int rc = name_ok(name, "collection");
    if (rc)
        return rc;
    drop_arg d = {a, 0, name};
    rc = orbit_actor_object_id(a, ORBIT_CATALOG_COLLECTION, name, 0, &d.id);
    if (rc == ORBIT_NOTFOUND)
        return orbit_error_set(ORBIT_NOTFOUND, "document collection '%s' does not exist", name);
    if (rc)
        return rc;
    return orbit_tx_auto(tx, drop_fn, &d);
}

/* ---- indexes and references ----------------------------------------- */

static json_t *find_named(json_t *arr, const char *name, size_t *at)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && strcmp(n, name) == 0) {
            if (at)
                *at = i;
            return e;
        }
    }
    return NULL;
}

typedef struct def_arg {
    const char *name, *path, *table;
    uint64_t table_id;
    int64_t no;   /* out: the index number */
    int resume;   /* out: a building index of that name and path existed */
    int ready;    /* for the "ready" edit */
} def_arg;

static int defs_full(json_t *meta)
{
    return json_array_size(json_object_get(meta, "indexes")) +
               json_array_size(json_object_get(meta, "refs")) >=
           ORBIT_DOC_DEFS_MAX;
}

static int edit_add_index(orbit_doc_coll *c, json_t *meta, void *arg, int *bump)
{
    def_arg *a = arg;
    json_t *ix = json_object_get(meta, "indexes"), *rf = json_object_get(meta, "refs");
    json_t *e = find_named(ix, a->name, NULL);
    if (e) {
        const char *st = json_string_value(json_object_get(e, "state"));
        const char *p = json_string_value(json_object_get(e, "path"));
        if (st && strcmp(st, "building") == 0 && p && strcmp(p, a->path) == 0) {
            a->no = json_integer_value(json_object_get(e, "no"));
            a->resume = 1;
            return EDIT_SKIP;
        }
        return orbit_error_set(ORBIT_EEXIST, "document collection '%s' has an index '%s'", c->name,
                               a->name);
    }
    if (find_named(rf, a->name, NULL))
        return orbit_error_set(ORBIT_EEXIST, "document collection '%s' has a reference '%s'",
                               c->name, a->name);
    if (defs_full(meta))
        return orbit_error_set(ORBIT_ETOOBIG, "document collection '%s' has %d indexes and "
                                              "references already",
                               c->name, ORBIT_DOC_DEFS_MAX);
    json_int_t next = json_integer_value(json_object_get(meta, "next"));
    a->no = next;
    if (json_object_set_new(meta, "next", json_integer(next + 1)) ||
        json_array_append_new(ix, json_pack("{s:s,s:s,s:I,s:s}", "name", a->name, "path", a->path,
                                            "no", next, "state", "building")))
        return ORBIT_ENOMEM;
    *bump = 1;
    return ORBIT_OK;
}

static int edit_index_ready(orbit_doc_coll *c, json_t *meta, void *arg, int *bump)
{
    def_arg *a = arg;
    json_t *e = find_named(json_object_get(meta, "indexes"), a->name, NULL);
    if (!e || json_integer_value(json_object_get(e, "no")) != a->no)
        return orbit_error_set(ORBIT_ECONFLICT, "document index '%s' was dropped while it was "
                                                "being built",
                               a->name);
    return json_object_set_new(e, "state", json_string("ready")) ? ORBIT_ENOMEM : ORBIT_OK;
}

typedef struct backfill {
    orbit_doc_coll *c;
    const doc_index *x;
    orbit_buf cursor; /* the next document key to index from (empty: the first) */
    orbit_buf next;   /* the cursor after this batch, taken only once it commits:
                       * a batch whose commit conflicts is run again from cursor */
    size_t batch;
    size_t done;      /* documents in the last batch */
} backfill;

static int backfill_fn(orbit_tx *tx, void *arg)
{
    backfill *b = arg;
    orbit_doc_coll *c = b->c;
    orbit_txn *txn;
    int rc = orbit_tx_kv_txn(tx, orbit_actor_store(c->a), orbit_actor_type(c->a),
                             orbit_actor_id(c->a), &txn);
    if (rc)
        return rc;
    b->done = 0;
    orbit_buf prefix = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT, id = ORBIT_BUF_INIT,
              ek = ORBIT_BUF_INIT, last = ORBIT_BUF_INIT;
    rc = key_head(c, &prefix);
    size_t head = prefix.len;
    if (!rc)
        rc = orbit_tuple_bytes_open(&prefix, "", 0);
    orbit_iter *it = NULL;
    if (!rc) {
        orbit_scan_opts so = {0};
        so.prefix = prefix.data;
        so.prefix_len = prefix.len;
        if (b->cursor.len) {
            so.start = b->cursor.data;
            so.start_len = b->cursor.len;
        }
        so.limit = b->batch;
        rc = orbit_txn_iter(txn, &so, &it);
    }
    /* Entries are collected first and written after the scan, so the
     * iterator never sees its own transaction's writes change. */
    orbit_buf *ents = NULL;
    size_t ne = 0;
    if (!rc) {
        ents = calloc(b->batch, sizeof *ents);
        if (!ents)
            rc = ORBIT_ENOMEM;
    }
    while (!rc) {
        const uint8_t *k, *v, *p;
        size_t kl, vl, pl;
        rc = orbit_iter_next(it, &k, &kl, &v, &vl);
        if (rc == ORBIT_NOTFOUND) {
            rc = ORBIT_OK;
            break;
        }
        json_t *doc = NULL;
        if (!rc)
            rc = key_id_at(k, kl, head, &id);
        if (!rc)
            rc = decode_doc(k, kl, v, vl, &scratch, &p, &pl);
        if (!rc)
            rc = parse_stored(k, kl, p, pl, &doc);
        if (!rc) {
            int has = entry_key(c, b->x, doc, id.data, id.len, &ek);
            if (has < 0)
                rc = has;
            else if (has && ne < b->batch)
                rc = orbit_buf_set(&ents[ne++], ek.data, ek.len);
        }
        json_decref(doc);
        if (!rc)
            rc = orbit_buf_set(&last, k, kl);
        if (!rc)
            b->done++;
    }
    orbit_iter_close(it);
    for (size_t i = 0; !rc && i < ne; i++)
        rc = put_record(c, txn, &ents[i], NULL, 0);
    if (!rc && b->done) {
        /* the smallest key after the last one */
        rc = orbit_buf_set(&b->next, last.data, last.len);
        if (!rc)
            rc = orbit_buf_append(&b->next, "", 1);
    }
    for (size_t i = 0; ents && i < b->batch; i++)
        orbit_buf_release(&ents[i]);
    free(ents);
    orbit_buf_release(&prefix);
    orbit_buf_release(&scratch);
    orbit_buf_release(&id);
    orbit_buf_release(&ek);
    orbit_buf_release(&last);
    return rc;
}

int orbit_doc_index_create(orbit_doc_coll *c, const char *name, const char *path)
{
    int rc = coll_ok(c);
    if (rc || (rc = name_ok(name, "index")))
        return rc;
    orbit__jpath p;
    if (!path)
        return orbit_error_set(ORBIT_EINVAL, "documents: NULL index path");
    if ((rc = orbit__jpath_parse(path, &p)))
        return rc;
    int definite = p.definite && p.n > 0;
    if (!definite) {
        orbit__jpath_release(&p);
        return orbit_error_set(ORBIT_EINVAL, "documents: index path \"%s\" must name one value "
                                             "below the root (no wildcards)",
                               path);
    }
    def_arg a = {name, path, NULL, 0, 0, 0, 0};
    rc = meta_edit_run(c, 0, edit_add_index, &a);
    backfill b = {0};
    doc_index x = {0};
    x.path = p;
    x.no = a.no;
    b.c = c;
    b.x = &x;
    orbit_capabilities caps;
    orbit_kv_capabilities(orbit_actor_store(c->a), &caps);
    b.batch = BACKFILL_BATCH;
    if (caps.max_txn_keys && caps.max_txn_keys / 2 < b.batch)
        b.batch = caps.max_txn_keys / 2 ? caps.max_txn_keys / 2 : 1;
    /* A batch competes with concurrent writers (a pessimistic store fails
     * a lock at once): it retries until a deadline, not a small count, so
     * a busy collection slows the build, never fails it. */
    orbit_tx_opts to = {ORBIT_TX_REPEATABLE_READ, BACKFILL_DEADLINE_MS};
    while (!rc) {
        rc = orbit_tx_run(&to, BACKFILL_ATTEMPTS, backfill_fn, &b);
        if (rc || b.done < b.batch)
            break;
        rc = orbit_buf_set(&b.cursor, b.next.data, b.next.len);
    }
    if (!rc)
        rc = meta_edit_run(c, 0, edit_index_ready, &a);
    orbit_buf_release(&b.cursor);
    orbit_buf_release(&b.next);
    orbit__jpath_release(&p);
    return rc;
}

typedef struct drop_def_arg {
    const char *name;
    const char *arr; /* "indexes" or "refs" */
    int64_t no;      /* the index number dropped, or -1 */
} drop_def_arg;

static int edit_drop(orbit_doc_coll *c, json_t *meta, void *arg, int *bump)
{
    drop_def_arg *a = arg;
    json_t *arr = json_object_get(meta, a->arr);
    size_t at;
    json_t *e = find_named(arr, a->name, &at);
    if (!e)
        return orbit_error_set(ORBIT_NOTFOUND, "document collection '%s' has no %s '%s'", c->name,
                               strcmp(a->arr, "refs") == 0 ? "reference" : "index", a->name);
    a->no = json_is_integer(json_object_get(e, "no")) ? json_integer_value(json_object_get(e, "no"))
                                                       : -1;
    json_array_remove(arr, at);
    *bump = 1;
    return ORBIT_OK;
}

typedef struct idrop {
    orbit_doc_coll *c;
    drop_def_arg d;
    uint8_t *final;
    size_t final_len;
} idrop;

/* Dropping an index removes its declaration and its entries in one
 * transaction. */
static int index_drop_fn(orbit_tx *tx, void *arg)
{
    idrop *x = arg;
    meta_edit e = {x->c, edit_drop, &x->d, 0, NULL, 0};
    int rc = meta_edit_fn_tx(tx, &e);
    free(x->final);
    x->final = e.final;
    x->final_len = e.final_len;
    if (rc)
        return rc;
    orbit_txn *txn;
    rc = orbit_tx_kv_txn(tx, orbit_actor_store(x->c->a), orbit_actor_type(x->c->a),
                         orbit_actor_id(x->c->a), &txn);
    orbit_buf lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT;
    if (!rc)
        rc = key_entries(x->c, x->d.no, &lo);
    if (!rc)
        rc = orbit_buf_set(&hi, lo.data, lo.len);
    if (!rc)
        rc = orbit_buf_append(&hi, "\xff", 1);
    if (!rc)
        rc = orbit_txn_delete_range(txn, lo.data, lo.len, hi.data, hi.len);
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    return rc;
}

int orbit_doc_index_drop(orbit_doc_coll *c, const char *name)
{
    int rc = coll_ok(c);
    if (rc || (rc = name_ok(name, "index")))
        return rc;
    idrop x = {c, {name, "indexes", -1}, NULL, 0};
    rc = orbit_tx_run(NULL, 0, index_drop_fn, &x);
    if (!rc && x.final) {
        doc_def *d;
        rc = def_parse(c, x.final, x.final_len, &d);
        if (!rc)
            def_install(c, d);
    }
    free(x.final);
    return rc;
}

static int edit_add_ref(orbit_doc_coll *c, json_t *meta, void *arg, int *bump)
{
    def_arg *a = arg;
    json_t *ix = json_object_get(meta, "indexes"), *rf = json_object_get(meta, "refs");
    if (find_named(ix, a->name, NULL) || find_named(rf, a->name, NULL))
        return orbit_error_set(ORBIT_EEXIST, "document collection '%s' has an index or reference "
                                             "'%s'",
                               c->name, a->name);
    if (defs_full(meta))
        return orbit_error_set(ORBIT_ETOOBIG, "document collection '%s' has %d indexes and "
                                              "references already",
                               c->name, ORBIT_DOC_DEFS_MAX);
    if (json_array_append_new(rf, json_pack("{s:s,s:s,s:s,s:I}", "name", a->name, "path", a->path,
                                            "table", a->table, "table_id",
                                            (json_int_t)a->table_id)))
        return ORBIT_ENOMEM;
    *bump = 1;
    return ORBIT_OK;
}

int orbit_doc_ref_add(orbit_doc_coll *c, const char *name, const char *path, const char *table)
{
    int rc = coll_ok(c);
    if (rc || (rc = name_ok(name, "reference")) || (rc = name_ok(table, "table")))
        return rc;
    if (!path)
        return orbit_error_set(ORBIT_EINVAL, "documents: NULL reference path");
    orbit__jpath p;
    if ((rc = orbit__jpath_parse(path, &p)))
        return rc;
    int definite = p.definite && p.n > 0;
    orbit__jpath_release(&p);
    if (!definite)
        return orbit_error_set(ORBIT_EINVAL, "documents: reference path \"%s\" must name one "
                                             "value below the root (no wildcards)",
                               path);
    uint64_t tid;
    rc = orbit_actor_object_id(c->a, ORBIT_CATALOG_TABLE, table, 0, &tid);
    if (rc == ORBIT_NOTFOUND)
        return orbit_error_set(ORBIT_NOTFOUND, "reference %s.%s: table '%s' does not exist",
                               c->name, name, table);
    if (rc)
        return rc;
    def_arg a = {name, path, table, tid, 0, 0, 0};
    return meta_edit_run(c, 0, edit_add_ref, &a);
}

int orbit_doc_ref_drop(orbit_doc_coll *c, const char *name)
{
    int rc = coll_ok(c);
    if (rc || (rc = name_ok(name, "reference")))
        return rc;
    drop_def_arg a = {name, "refs", -1};
    return meta_edit_run(c, 0, edit_drop, &a);
}

int orbit_doc_coll_describe(orbit_doc_coll *c, orbit_buf *out)
{
    int rc = coll_ok(c);
    if (rc)
        return rc;
    if (!out)
        return orbit_error_set(ORBIT_EINVAL, "documents: NULL out");
    doc_def *d = def_get(c);
    json_t *ix = json_array(), *rf = json_array();
    for (size_t i = 0; ix && i < d->nidx; i++)
        json_array_append_new(ix, json_pack("{s:s,s:s,s:s}", "name", d->idx[i].name, "path",
                                            d->idx[i].path_s, "state",
                                            d->idx[i].ready ? "ready" : "building"));
    for (size_t i = 0; rf && i < d->nrefs; i++)
        json_array_append_new(rf, json_pack("{s:s,s:s,s:s}", "name", d->refs[i].name, "path",
                                            d->refs[i].path_s, "table", d->refs[i].table));
    def_put(c, d);
    json_t *all = (ix && rf) ? json_pack("{s:o,s:o}", "indexes", ix, "refs", rf) : NULL;
    if (!all) {
        json_decref(ix);
        json_decref(rf);
        return ORBIT_ENOMEM;
    }
    rc = dump_to(all, out);
    json_decref(all);
    return rc;
}
