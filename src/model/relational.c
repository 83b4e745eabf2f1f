/*
 * The relational model's row operations (orbit/relational.h): insert,
 * upsert, update and delete with their index maintenance and declared
 * references, and the reads (get, scan, index lookup and range).
 *
 * A write, in one transaction (the caller's or its own, orbit_tx_auto):
 *   1. read the version key for update (orbit__rel_schema_for_write),
 *      once per table and transaction (schema_for_row): the schema of this
 *      snapshot, with every index and its state;
 *   2. check the caller's row against it (EINVAL names column and types);
 *   3. read the old row for update (its values give the old index entries;
 *      the claim orders this write with every other writer of the row and
 *      with the backfill batches of an index build);
 *   4. compute the old and new entry of every index (public or not), and
 *      for a unique index whose entry changes, read that entry for update:
 *      held by another row is EEXIST naming the index and the value;
 *   5. register the reference checks (run at commit);
 *   6. only then write: the row, the entries that changed, the touch (the
 *      row and the entries holding the pk untracked: see the writes).
 * So every code a caller may go on after (EINVAL, EEXIST, NOTFOUND) is
 * returned before the first write.
 *
 * Reads hold a reference on the cached schema and reload it only when a
 * record says it is older than the data: a row's record names the schema
 * version it was written with, and index reads fetch the version key in
 * the multi-get of their rows. Callbacks run with no iterator open: every
 * read collects a page (at most READ_PAGE entries, or the limit) first.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "model/relational_int.h"
#include "orbit/codec.h"
#include "orbit/provider.h"

#define READ_PAGE 256

int orbit__rel_txn(orbit_table *t, orbit_tx *tx, orbit_txn **out)
{
    return orbit_tx_kv_txn(tx, t->kv, orbit_actor_type(t->a), orbit_actor_id(t->a), out);
}

int orbit__rel_record(const orbit_table *t, uint32_t schema_version, uint64_t created_ms,
                      const uint8_t *key, size_t klen, const uint8_t *payload, size_t plen,
                      orbit_buf *out)
{
    return orbit_actor_record(t->a, ORBIT_MODEL_REL, schema_version, created_ms, key, klen,
                              payload, plen, out);
}

int orbit__rel_pk_encode(const rel_schema *s, const orbit_value *vals, orbit_buf *out)
{
    for (size_t k = 0; k < s->npk; k++) {
        int rc = orbit__rel_tuple_value(out, &vals[s->pk[k]]);
        if (rc)
            return rc;
    }
    return ORBIT_OK;
}

static int key_error(int code, const char *what, const uint8_t *k, size_t kl)
{
    orbit_buf e = ORBIT_BUF_INIT;
    orbit_escape(&e, k, kl);
    orbit_buf_append(&e, "", 1);
    int rc = orbit_error_set(code, "relational: %s under key %s", what,
                             e.data ? (const char *)e.data : "");
    orbit_buf_release(&e);
    return rc;
}

/* A stored record under key: its payload and schema version. */
static int decode_record(const uint8_t *v, size_t vl, const uint8_t *k, size_t kl,
                         orbit_buf *scratch, const uint8_t **p, size_t *pl, uint32_t *ver,
                         uint64_t *created)
{
    orbit_record_meta m;
    int rc = orbit_record_decode(v, vl, k, kl, &m, scratch, p, pl);
    if (rc)
        return rc;
    if (m.model != ORBIT_MODEL_REL)
        return key_error(ORBIT_ECORRUPT, "a record of another model", k, kl);
    if (ver)
        *ver = m.schema_version;
    if (created)
        *created = m.created_ms;
    return ORBIT_OK;
}

/* Mark a caller's transaction failed after a store error inside it. */
static int tx_err(orbit_tx *tx, int rc)
{
    if (tx && rc < 0)
        orbit_tx_fail(tx, rc);
    return rc;
}

/* ---- the caller's row against a schema ------------------------------------ */

/* vals/given from row r for schema s; key_only: only primary-key columns
 * are looked at (the others, known or not, are ignored). */
static int take_row(orbit_table *t, const rel_schema *s, const orbit_row *r, int key_only,
                    orbit_value *vals, unsigned char *given)
{
    if (!r)
        return orbit_error_set(ORBIT_EINVAL, "table %s: NULL row", t->name);
    for (size_t i = 0; i < s->ncols; i++) {
        vals[i] = orbit_value_null();
        given[i] = 0;
    }
    for (size_t i = 0; i < orbit_row_count(r); i++) {
        const char *name;
        const orbit_value *v = orbit__rel_row_at(r, i, &name);
        size_t pos;
        if (orbit__rel_col_find(s, name, &pos) != ORBIT_OK) {
            if (key_only)
                continue;
            return orbit_error_set(ORBIT_EINVAL, "table %s has no column '%s'", t->name, name);
        }
        if (key_only) {
            int is_pk = 0;
            for (size_t k = 0; k < s->npk; k++)
                is_pk |= s->pk[k] == pos;
            if (!is_pk)
                continue;
        }
        int rc = orbit__rel_check_value(t->name, &s->cols[pos], v, &vals[pos]);
        if (rc)
            return rc;
        given[pos] = 1;
    }
    for (size_t k = 0; k < s->npk; k++)
        if (!given[s->pk[k]])
            return orbit_error_set(ORBIT_EINVAL, "table %s: primary-key column '%s' is not set",
                                   t->name, s->cols[s->pk[k]].name);
    return ORBIT_OK;
}

/* ---- references ----------------------------------------------------------- */

typedef struct ref_check {
    orbit_buf key; /* the referenced row's key */
    char *msg;
} ref_check;

static void ref_free(void *p)
{
    ref_check *r = p;
    orbit_buf_release(&r->key);
    free(r->msg);
    free(r);
}

static int ref_check_fn(void *arg, orbit_txn *txn)
{
    ref_check *r = arg;
    orbit_buf v = ORBIT_BUF_INIT;
    int rc = orbit_txn_get_for_update(txn, r->key.data, r->key.len, &v);
    orbit_buf_release(&v);
    if (rc == ORBIT_NOTFOUND)
        return orbit_error_set(ORBIT_ECONSTRAINT, "%s", r->msg);
    return rc;
}

static int add_ref(orbit_table *t, orbit_tx *tx, const rel_col *c, const orbit_value *v)
{
    ref_check *r = calloc(1, sizeof *r);
    if (!r)
        return ORBIT_ENOMEM;
    orbit_buf pk = ORBIT_BUF_INIT, m = ORBIT_BUF_INIT;
    int rc = orbit__rel_tuple_value(&pk, v);
    if (!rc)
        rc = orbit_key_row(&r->key, t->ks, c->ref_id, pk.data, pk.len);
    if (!rc) {
        const char *head = "reference ";
        orbit_buf_append(&m, head, strlen(head));
        orbit_buf_append(&m, t->name, strlen(t->name));
        orbit_buf_append(&m, ".", 1);
        orbit_buf_append(&m, c->name, strlen(c->name));
        orbit_buf_append(&m, " -> ", 4);
        orbit_buf_append(&m, c->ref_table, strlen(c->ref_table));
        orbit_buf_append(&m, ": row ", 6);
        orbit__rel_value_format(&m, v);
        const char *tail = " does not exist";
        rc = orbit_buf_append(&m, tail, strlen(tail) + 1);
    }
    orbit_buf_release(&pk);
    if (rc) {
        orbit_buf_release(&m);
        ref_free(r);
        return rc;
    }
    r->msg = (char *)m.data;
    return orbit_tx_add_check(tx, ref_check_fn, r, ref_free, r->key.data, r->key.len);
}

/* ---- writes --------------------------------------------------------------- */

typedef enum op_kind { OP_INSERT, OP_UPSERT, OP_UPDATE, OP_DELETE } op_kind;

typedef struct write_ctx {
    orbit_table *t;
    const orbit_row *row;
    op_kind op;
} write_ctx;

typedef struct entry_op {
    orbit_buf del; /* len 0: nothing to delete */
    orbit_buf put; /* len 0: nothing to put */
    int del_pkless, put_pkless; /* the entry's key omits the pk (unique) */
} entry_op;

/* ---- the version key, claimed once per table and transaction -------------
 * Every row write must have read its table's version key for update in its
 * transaction (a schema change or an index build step writes that key, so a
 * writer that used an older schema conflicts with it). Once per
 * transaction and table is enough: a claim records (tx, store, keyspace,
 * table id) -> the version read, and lives exactly as long as the
 * transaction (it is a no-op commit check whose free function, run when
 * the transaction finishes, unlinks it). A claim found for this tx is
 * therefore always this very transaction's read, never a finished one's
 * whose address was reused. Schema changes run in transactions of their
 * own (orbit__rel_schema_change), never after rows in one transaction. */
typedef struct ver_claim {
    struct ver_claim *next;
    const orbit_tx *tx;
    const orbit_kv *kv;
    uint64_t ks, id;
    uint32_t ver;
    int linked;
} ver_claim;

#define VER_BUCKETS 64 /* a power of two */

static pthread_mutex_t ver_mu = PTHREAD_MUTEX_INITIALIZER;
static ver_claim *ver_tab[VER_BUCKETS];

static size_t ver_bucket(const orbit_tx *tx, uint64_t id)
{
    uint64_t h = ((uint64_t)(uintptr_t)tx ^ (id * 0xff51afd7ed558ccdULL)) * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 32) & (VER_BUCKETS - 1);
}

static int ver_claim_check(void *arg, orbit_txn *txn)
{
    (void)arg;
    (void)txn;
    return ORBIT_OK;
}

static void ver_claim_free(void *p)
{
    ver_claim *c = p;
    if (c->linked) {
        pthread_mutex_lock(&ver_mu);
        ver_claim **pp = &ver_tab[ver_bucket(c->tx, c->id)];
        while (*pp && *pp != c)
            pp = &(*pp)->next;
        if (*pp)
            *pp = c->next;
        pthread_mutex_unlock(&ver_mu);
    }
    free(c);
}

static int ver_claimed(const orbit_table *t, const orbit_tx *tx, uint32_t *ver)
{
    int found = 0;
    pthread_mutex_lock(&ver_mu);
    for (ver_claim *c = ver_tab[ver_bucket(tx, t->id)]; c; c = c->next)
        if (c->tx == tx && c->kv == t->kv && c->ks == t->ks && c->id == t->id) {
            *ver = c->ver;
            found = 1;
            break;
        }
    pthread_mutex_unlock(&ver_mu);
    return found;
}

/* orbit__rel_schema_for_write, reading the version key only at the first
 * write of this table in tx; later writes use the schema of the version
 * claimed then. */
static int schema_for_row(orbit_table *t, orbit_tx *tx, orbit_txn *txn, rel_schema **out)
{
    uint32_t ver;
    rel_schema *s;
    int rc;
    if (ver_claimed(t, tx, &ver)) {
        s = orbit__rel_schema_ref(t);
        if (s->version == ver) {
            *out = s;
            return ORBIT_OK;
        }
        /* The handle has moved on (another transaction saw a newer
         * schema): this one's, read inside it. Under read committed the
         * read may see a newer one, which its claim makes a conflict. */
        orbit__rel_schema_unref(s);
        if ((rc = orbit__rel_schema_load(t, txn, &s)))
            return rc;
        if (s->version != ver) {
            orbit__rel_schema_unref(s);
            return orbit_error_set(ORBIT_ECONFLICT, "table %s: the schema changed from version "
                                   "%u during this transaction", t->name, ver);
        }
        *out = s;
        return ORBIT_OK;
    }
    if ((rc = orbit__rel_schema_for_write(t, txn, &s)))
        return rc;
    ver_claim *c = calloc(1, sizeof *c);
    if (!c) {
        orbit__rel_schema_unref(s);
        return ORBIT_ENOMEM;
    }
    c->tx = tx;
    c->kv = t->kv;
    c->ks = t->ks;
    c->id = t->id;
    c->ver = s->version;
    /* No dedup key: a claim is looked up before one is added. On failure
     * the check's arg is already freed (unlinked, so nothing to undo). */
    if ((rc = orbit_tx_add_check(tx, ver_claim_check, c, ver_claim_free, NULL, 0))) {
        orbit__rel_schema_unref(s);
        return rc;
    }
    pthread_mutex_lock(&ver_mu);
    size_t b = ver_bucket(tx, t->id);
    c->next = ver_tab[b];
    ver_tab[b] = c;
    c->linked = 1;
    pthread_mutex_unlock(&ver_mu);
    *out = s;
    return ORBIT_OK;
}

static int write_fn(orbit_tx *tx, void *arg)
{
    write_ctx *w = arg;
    orbit_table *t = w->t;
    orbit_txn *txn;
    int rc = orbit__rel_txn(t, tx, &txn);
    if (rc)
        return rc;
    rel_schema *s = NULL;
    if ((rc = schema_for_row(t, tx, txn, &s)))
        return rc;

    size_t n = s->ncols;
    orbit_value *vals = calloc(3 * n + 1, sizeof *vals);
    unsigned char *given = calloc(n + 1, 1);
    entry_op *ops = calloc(s->nidx + 1, sizeof *ops);
    orbit_value *oldv = vals + n, *newv = vals + 2 * n;
    orbit_buf pk = ORBIT_BUF_INIT, key = ORBIT_BUF_INIT, old = ORBIT_BUF_INIT,
              scratch = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT, pay = ORBIT_BUF_INIT,
              cur = ORBIT_BUF_INIT;
    if (!vals || !given || !ops) {
        rc = ORBIT_ENOMEM;
        goto done;
    }
    if ((rc = take_row(t, s, w->row, w->op == OP_DELETE, vals, given)))
        goto done;
    if ((rc = orbit__rel_pk_encode(s, vals, &pk)) ||
        (rc = orbit_key_row(&key, t->ks, t->id, pk.data, pk.len)))
        goto done;

    rc = orbit_txn_get_for_update(txn, key.data, key.len, &old);
    int found = rc == ORBIT_OK;
    uint64_t created = 0;
    if (rc && rc != ORBIT_NOTFOUND)
        goto done;
    rc = ORBIT_OK;
    if (found) {
        const uint8_t *p;
        size_t pl;
        uint32_t ver = 0;
        if ((rc = decode_record(old.data, old.len, key.data, key.len, &scratch, &p, &pl, &ver,
                                &created)))
            goto done;
        if (ver > s->version) {
            rc = orbit_error_set(ORBIT_ECONFLICT, "table %s: the row was written with a newer "
                                 "schema (%u) than this transaction's (%u)", t->name, ver,
                                 s->version);
            goto done;
        }
        if (orbit__rel_row_decode(s, p, pl, oldv)) {
            rc = key_error(ORBIT_ECORRUPT, "a malformed row", key.data, key.len);
            goto done;
        }
    }

    op_kind op = w->op;
    if (op == OP_UPSERT)
        op = found ? OP_UPDATE : OP_INSERT;
    if (op == OP_INSERT && found) {
        orbit_buf e = ORBIT_BUF_INIT;
        for (size_t k = 0; k < s->npk; k++) {
            if (k)
                orbit_buf_append(&e, ", ", 2);
            orbit__rel_value_format(&e, &vals[s->pk[k]]);
        }
        orbit_buf_append(&e, "", 1);
        rc = orbit_error_set(ORBIT_EEXIST, "table %s: a row with primary key (%s) exists",
                             t->name, (const char *)e.data);
        orbit_buf_release(&e);
        goto done;
    }
    if ((op == OP_UPDATE || op == OP_DELETE) && !found) {
        rc = ORBIT_NOTFOUND;
        goto done;
    }
    if (op == OP_INSERT) {
        for (size_t i = 0; i < n; i++) {
            if (given[i])
                newv[i] = vals[i];
            else if (s->cols[i].has_default)
                newv[i] = s->cols[i].def;
            else
                newv[i] = orbit_value_null();
            if (newv[i].type == ORBIT_VALUE_NULL && !s->cols[i].nullable) {
                rc = orbit_error_set(ORBIT_EINVAL, "table %s: column '%s' is not nullable and "
                                     "has no default: it must be set", t->name, s->cols[i].name);
                goto done;
            }
        }
    } else if (op == OP_UPDATE) {
        for (size_t i = 0; i < n; i++)
            newv[i] = given[i] ? vals[i] : oldv[i];
    }

    /* Index entries: computed and checked before anything is written. */
    for (size_t x = 0; x < s->nidx; x++) {
        const rel_index *ix = &s->idx[x];
        int pkless = 0, old_pkless = 0;
        if (found && (rc = orbit__rel_index_key(t, s, ix, oldv, pk.data, pk.len, &ops[x].del,
                                                &old_pkless)))
            goto done;
        if (op != OP_DELETE && (rc = orbit__rel_index_key(t, s, ix, newv, pk.data, pk.len,
                                                          &ops[x].put, &pkless)))
            goto done;
        ops[x].del_pkless = old_pkless;
        ops[x].put_pkless = pkless;
        if (ops[x].del.len && ops[x].put.len &&
            orbit__key_cmp(ops[x].del.data, ops[x].del.len, ops[x].put.data, ops[x].put.len) == 0) {
            ops[x].del.len = ops[x].put.len = 0;
            continue;
        }
        /* While a unique index is being built, two rows may still share a
         * value (the build then fails): the entry of this row's old value
         * is deleted only if it is this row's. */
        if (ops[x].del.len && old_pkless && ix->state != ORBIT_INDEX_PUBLIC) {
            rc = orbit_txn_get_for_update(txn, ops[x].del.data, ops[x].del.len, &cur);
            if (rc == ORBIT_NOTFOUND) {
                ops[x].del.len = 0;
                rc = ORBIT_OK;
            } else if (rc) {
                goto done;
            } else {
                const uint8_t *p;
                size_t pl;
                if ((rc = decode_record(cur.data, cur.len, ops[x].del.data, ops[x].del.len,
                                        &scratch, &p, &pl, NULL, NULL)))
                    goto done;
                if (pl != pk.len || memcmp(p, pk.data, pl) != 0)
                    ops[x].del.len = 0;
            }
        }
        if (ops[x].put.len && pkless) {
            rc = orbit_txn_get_for_update(txn, ops[x].put.data, ops[x].put.len, &cur);
            if (rc == ORBIT_NOTFOUND) {
                rc = ORBIT_OK;
                continue;
            }
            if (rc)
                goto done;
            const uint8_t *p;
            size_t pl;
            if ((rc = decode_record(cur.data, cur.len, ops[x].put.data, ops[x].put.len, &scratch,
                                    &p, &pl, NULL, NULL)))
                goto done;
            if (pl != pk.len || memcmp(p, pk.data, pl) != 0) {
                orbit_buf e = ORBIT_BUF_INIT;
                orbit__rel_index_values_format(&e, s, ix, newv);
                orbit_buf_append(&e, "", 1);
                rc = orbit_error_set(ORBIT_EEXIST, "table %s: unique index %s already holds (%s)",
                                     t->name, ix->name, (const char *)e.data);
                orbit_buf_release(&e);
                goto done;
            }
        }
    }

    if (op != OP_DELETE) {
        for (size_t i = 0; i < n; i++) {
            const rel_col *c = &s->cols[i];
            if (!c->ref_table || newv[i].type == ORBIT_VALUE_NULL)
                continue;
            if (found && orbit__rel_values_equal(&oldv[i], &newv[i]))
                continue;
            if ((rc = add_ref(t, tx, c, &newv[i])))
                goto done;
        }
    }

    /* Writes. The row key is claimed already (read for update above), so
     * its write needs no tracking of its own. An index entry whose key holds
     * the pk (a non-unique index, or a unique one's entry with a NULL) is
     * written only by writers of that row, each of which writes the row key
     * it claimed (this code, the index build's batches), or by a drop,
     * which writes the version key this transaction claimed: a conflict on
     * the entry is always one on the row or version key, so the entry is
     * written untracked (orbit_txn_put_untracked). A pkless unique entry
     * stays tracked: its uniqueness rests on the conflict on the entry. */
    if (op == OP_DELETE) {
        rc = orbit_txn_del_untracked(txn, key.data, key.len);
    } else {
        rc = orbit__rel_row_encode(s, newv, &pay);
        if (!rc)
            rc = orbit__rel_record(t, s->version, created, key.data, key.len, pay.data, pay.len,
                                   &rec);
        if (!rc)
            rc = orbit_txn_put_untracked(txn, key.data, key.len, rec.data, rec.len);
    }
    for (size_t x = 0; !rc && x < s->nidx; x++) {
        if (ops[x].del.len)
            rc = ops[x].del_pkless ? orbit_txn_del(txn, ops[x].del.data, ops[x].del.len)
                                   : orbit_txn_del_untracked(txn, ops[x].del.data, ops[x].del.len);
        if (!rc && ops[x].put.len) {
            rec.len = 0;
            rc = orbit__rel_record(t, s->version, 0, ops[x].put.data, ops[x].put.len, pk.data,
                                   pk.len, &rec);
            if (!rc && ops[x].put_pkless)
                rc = orbit_txn_put(txn, ops[x].put.data, ops[x].put.len, rec.data, rec.len);
            else if (!rc)
                rc = orbit_txn_put_untracked(txn, ops[x].put.data, ops[x].put.len, rec.data,
                                             rec.len);
        }
    }
    if (!rc)
        rc = orbit_tx_touch(tx, orbit_actor_type(t->a), orbit_actor_id(t->a), t->ks,
                            ORBIT_MODEL_REL);
    if (rc == ORBIT_EINVAL || rc == ORBIT_EEXIST || rc == ORBIT_ECONSTRAINT)
        rc = ORBIT_EINTERNAL; /* after a write, never a code the caller may go on after */
done:
    if (ops)
        for (size_t x = 0; x < s->nidx; x++) {
            orbit_buf_release(&ops[x].del);
            orbit_buf_release(&ops[x].put);
        }
    free(ops);
    free(vals);
    free(given);
    orbit_buf_release(&pk);
    orbit_buf_release(&key);
    orbit_buf_release(&old);
    orbit_buf_release(&scratch);
    orbit_buf_release(&rec);
    orbit_buf_release(&pay);
    orbit_buf_release(&cur);
    orbit__rel_schema_unref(s);
    return rc;
}

static int do_write(orbit_table *t, orbit_tx *tx, const orbit_row *row, op_kind op)
{
    if (!t || !row)
        return orbit_error_set(ORBIT_EINVAL, "relational write: table and row are required");
    write_ctx w = {t, row, op};
    return orbit_tx_auto(tx, write_fn, &w);
}

int orbit_table_insert(orbit_table *t, orbit_tx *tx, const orbit_row *row)
{
    return do_write(t, tx, row, OP_INSERT);
}

int orbit_table_upsert(orbit_table *t, orbit_tx *tx, const orbit_row *row)
{
    return do_write(t, tx, row, OP_UPSERT);
}

int orbit_table_update(orbit_table *t, orbit_tx *tx, const orbit_row *row)
{
    return do_write(t, tx, row, OP_UPDATE);
}

int orbit_table_delete(orbit_table *t, orbit_tx *tx, const orbit_row *key)
{
    return do_write(t, tx, key, OP_DELETE);
}

/* ---- reads ---------------------------------------------------------------- */

/* Decode a row record read under key with schema *s, reloading the schema
 * (through txn if given) when the row is newer; fills out. */
static int row_to_out(orbit_table *t, orbit_txn *txn, rel_schema **s, const uint8_t *key,
                      size_t klen, const uint8_t *v, size_t vl, orbit_buf *scratch,
                      orbit_value **vals, size_t *cap, orbit_row *out)
{
    const uint8_t *p;
    size_t pl;
    uint32_t ver = 0;
    int rc = decode_record(v, vl, key, klen, scratch, &p, &pl, &ver, NULL);
    if (rc)
        return rc;
    if (ver > (*s)->version) {
        rel_schema *ns;
        if ((rc = orbit__rel_schema_load(t, txn, &ns)))
            return rc;
        orbit__rel_schema_install(t, ns);
        orbit__rel_schema_unref(*s);
        *s = ns;
        if (ver > ns->version)
            return key_error(ORBIT_ECORRUPT, "a row newer than its table's schema", key, klen);
    }
    if (*cap < (*s)->ncols) {
        orbit_value *nv = realloc(*vals, ((*s)->ncols + 1) * sizeof *nv);
        if (!nv)
            return ORBIT_ENOMEM;
        *vals = nv;
        *cap = (*s)->ncols;
    }
    if (orbit__rel_row_decode(*s, p, pl, *vals))
        return key_error(ORBIT_ECORRUPT, "a malformed row", key, klen);
    return orbit__rel_row_fill(out, *s, *vals);
}

int orbit_table_get(orbit_table *t, orbit_tx *tx, const orbit_row *key, orbit_row *out)
{
    if (!t || !key || !out)
        return orbit_error_set(ORBIT_EINVAL, "table get: table, key and row are required");
    orbit_row_clear(out);
    orbit_txn *txn = NULL;
    int rc;
    if (tx && (rc = orbit__rel_txn(t, tx, &txn)))
        return rc;
    rel_schema *s = orbit__rel_schema_ref(t);
    size_t cap = s->ncols;
    orbit_value *vals = calloc(cap + 1, sizeof *vals);
    unsigned char *given = calloc(cap + 1, 1);
    orbit_buf pk = ORBIT_BUF_INIT, k = ORBIT_BUF_INIT, v = ORBIT_BUF_INIT,
              scratch = ORBIT_BUF_INIT;
    if (!vals || !given) {
        rc = ORBIT_ENOMEM;
        goto done;
    }
    if ((rc = take_row(t, s, key, 1, vals, given)) || (rc = orbit__rel_pk_encode(s, vals, &pk)) ||
        (rc = orbit_key_row(&k, t->ks, t->id, pk.data, pk.len)))
        goto done;
    rc = txn ? tx_err(tx, orbit_txn_get(txn, k.data, k.len, &v))
             : orbit_kv_get(t->kv, NULL, k.data, k.len, &v);
    if (rc)
        goto done;
    rc = row_to_out(t, txn, &s, k.data, k.len, v.data, v.len, &scratch, &vals, &cap, out);
done:
    if (rc)
        orbit_row_clear(out);
    free(vals);
    free(given);
    orbit_buf_release(&pk);
    orbit_buf_release(&k);
    orbit_buf_release(&v);
    orbit_buf_release(&scratch);
    orbit__rel_schema_unref(s);
    return rc;
}

/* A page of (key, value) pairs copied out of an iterator. */
typedef struct page {
    orbit_buf bytes;
    size_t *off; /* 4 per entry: key off, key len, val off, val len */
    size_t n, cap;
} page;

static int page_add(page *pg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    if (pg->n == pg->cap) {
        size_t cap = pg->cap ? pg->cap * 2 : 64;
        size_t *o = realloc(pg->off, cap * 4 * sizeof *o);
        if (!o)
            return ORBIT_ENOMEM;
        pg->off = o;
        pg->cap = cap;
    }
    size_t *o = &pg->off[4 * pg->n];
    o[0] = pg->bytes.len;
    o[1] = kl;
    if (orbit_buf_append(&pg->bytes, k, kl))
        return ORBIT_ENOMEM;
    o[2] = pg->bytes.len;
    o[3] = vl;
    if (orbit_buf_append(&pg->bytes, v, vl))
        return ORBIT_ENOMEM;
    pg->n++;
    return ORBIT_OK;
}

static void page_release(page *pg)
{
    orbit_buf_release(&pg->bytes);
    free(pg->off);
}

#define PG_KEY(pg, i) ((pg)->bytes.data + (pg)->off[4 * (i)])
#define PG_KLEN(pg, i) ((pg)->off[4 * (i) + 1])
#define PG_VAL(pg, i) ((pg)->bytes.data + (pg)->off[4 * (i) + 2])
#define PG_VLEN(pg, i) ((pg)->off[4 * (i) + 3])

/* Read up to `limit` entries of scan so into pg (emptied first). */
static int read_page(orbit_table *t, orbit_tx *tx, orbit_txn *txn, const orbit_scan_opts *so,
                     page *pg)
{
    pg->n = 0;
    pg->bytes.len = 0;
    orbit_iter *it;
    int rc = txn ? tx_err(tx, orbit_txn_iter(txn, so, &it)) : orbit_kv_iter(t->kv, NULL, so, &it);
    if (rc)
        return rc;
    const uint8_t *k, *v;
    size_t kl, vl;
    while ((rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == ORBIT_OK)
        if ((rc = page_add(pg, k, kl, v, vl)))
            break;
    orbit_iter_close(it);
    if (rc == ORBIT_NOTFOUND)
        rc = ORBIT_OK;
    return tx_err(tx, rc);
}

/* Move a scan's bound past the page's last key (forward: start after it;
 * reverse: end at it). */
static int page_advance(const page *pg, int reverse, orbit_buf *bound)
{
    size_t last = pg->n - 1;
    bound->len = 0;
    int rc = orbit_buf_append(bound, PG_KEY(pg, last), PG_KLEN(pg, last));
    if (!rc && !reverse)
        rc = orbit_buf_append(bound, "", 1); /* the smallest key after it */
    return rc;
}

int orbit_table_scan(orbit_table *t, orbit_tx *tx, size_t limit, int reverse, orbit_row_fn fn,
                     void *arg)
{
    if (!t || !fn)
        return orbit_error_set(ORBIT_EINVAL, "table scan: table and callback are required");
    orbit_txn *txn = NULL;
    int rc;
    if (tx && (rc = orbit__rel_txn(t, tx, &txn)))
        return rc;
    rel_schema *s = orbit__rel_schema_ref(t);
    size_t cap = 0, done = 0;
    orbit_value *vals = NULL;
    orbit_row *row = NULL;
    page pg = {ORBIT_BUF_INIT, NULL, 0, 0};
    orbit_buf bound = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT;
    if ((rc = orbit_row_new(&row)))
        goto out;
    for (;;) {
        orbit_scan_opts so = {0};
        so.prefix = t->rows_prefix.data;
        so.prefix_len = t->rows_prefix.len;
        if (bound.len) {
            if (reverse) {
                so.end = bound.data;
                so.end_len = bound.len;
            } else {
                so.start = bound.data;
                so.start_len = bound.len;
            }
        }
        so.reverse = reverse;
        size_t want = READ_PAGE;
        if (limit && limit - done < want)
            want = limit - done;
        so.limit = want;
        if ((rc = read_page(t, tx, txn, &so, &pg)))
            break;
        for (size_t i = 0; !rc && i < pg.n; i++) {
            rc = row_to_out(t, txn, &s, PG_KEY(&pg, i), PG_KLEN(&pg, i), PG_VAL(&pg, i),
                            PG_VLEN(&pg, i), &scratch, &vals, &cap, row);
            if (!rc)
                rc = fn(arg, row);
        }
        done += pg.n;
        if (rc || pg.n < want || (limit && done >= limit))
            break;
        if ((rc = page_advance(&pg, reverse, &bound)))
            break;
    }
out:
    orbit_row_free(row);
    free(vals);
    page_release(&pg);
    orbit_buf_release(&bound);
    orbit_buf_release(&scratch);
    orbit__rel_schema_unref(s);
    return rc;
}

/* ---- index reads ---------------------------------------------------------- */

/* The index to read: public, else after one reload ENOTSUP. */
static int index_for_read(orbit_table *t, rel_schema **s, const char *name, const rel_index **ix)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        *ix = orbit__rel_index_find(*s, name);
        if (*ix && (*ix)->state == ORBIT_INDEX_PUBLIC)
            return ORBIT_OK;
        if (attempt)
            break;
        int rc = orbit__rel_schema_reload(t);
        if (rc)
            return rc;
        orbit__rel_schema_unref(*s);
        *s = orbit__rel_schema_ref(t);
    }
    if (!*ix)
        return orbit_error_set(ORBIT_EINVAL, "table %s has no index %s", t->name, name);
    return orbit_error_set(ORBIT_ENOTSUP, "table %s: index %s is still being built (state %d); "
                           "it is usable once public", t->name, name, (int)(*ix)->state);
}

/* Index read bounds: built once the schema (and index) is known. */
typedef struct bounds_req {
    int lookup; /* equality: vals[0..nvals) */
    const orbit_value *vals;
    size_t nvals;
    const orbit_index_range *range;
} bounds_req;

static int bound_value(orbit_table *t, const rel_schema *s, const rel_index *ix, size_t k,
                       const orbit_value *v, orbit_buf *out)
{
    if (!v)
        return orbit_error_set(ORBIT_EINVAL, "table %s: index %s: a NULL value pointer", t->name,
                               ix->name);
    orbit_value conv = *v;
    if (v->type != ORBIT_VALUE_NULL) {
        rel_col c = s->cols[ix->cols[k]];
        c.nullable = 1;
        int rc = orbit__rel_check_value(t->name, &c, v, &conv);
        if (rc)
            return rc;
    }
    return orbit__rel_index_value(out, &conv);
}

static int make_bounds(orbit_table *t, const rel_schema *s, const rel_index *ix,
                       const bounds_req *b, orbit_buf *prefix, orbit_buf *lo, orbit_buf *hi)
{
    prefix->len = lo->len = hi->len = 0;
    int rc = orbit_key_index_prefix(prefix, t->ks, t->id, ix->id);
    if (rc)
        return rc;
    if (b->lookup) {
        if (b->nvals == 0 || b->nvals > ix->ncols || !b->vals)
            return orbit_error_set(ORBIT_EINVAL, "table %s: index %s has %zu columns; a lookup "
                                   "gives 1..%zu values, not %zu", t->name, ix->name, ix->ncols,
                                   ix->ncols, b->nvals);
        for (size_t k = 0; k < b->nvals; k++)
            if ((rc = bound_value(t, s, ix, k, &b->vals[k], prefix)))
                return rc;
        return ORBIT_OK;
    }
    const orbit_index_range *r = b->range;
    uint8_t *succ;
    if (r->lo) {
        if ((rc = orbit_buf_append(lo, prefix->data, prefix->len)) ||
            (rc = bound_value(t, s, ix, 0, r->lo, lo)))
            return rc;
        if (r->lo_exclusive) {
            succ = malloc(lo->len);
            if (!succ)
                return ORBIT_ENOMEM;
            lo->len = orbit__prefix_successor(lo->data, lo->len, succ);
            memcpy(lo->data, succ, lo->len);
            free(succ);
        }
    }
    if (r->hi) {
        if ((rc = orbit_buf_append(hi, prefix->data, prefix->len)) ||
            (rc = bound_value(t, s, ix, 0, r->hi, hi)))
            return rc;
        if (r->hi_inclusive) {
            succ = malloc(hi->len);
            if (!succ)
                return ORBIT_ENOMEM;
            hi->len = orbit__prefix_successor(hi->data, hi->len, succ);
            memcpy(hi->data, succ, hi->len);
            free(succ);
        }
    }
    return ORBIT_OK;
}

static int index_read(orbit_table *t, orbit_tx *tx, const char *name, const bounds_req *b,
                      size_t limit, int reverse, orbit_row_fn fn, void *arg)
{
    if (!t || !name || !fn)
        return orbit_error_set(ORBIT_EINVAL, "index read: table, index and callback are "
                               "required");
    orbit_txn *txn = NULL;
    int rc;
    if (tx && (rc = orbit__rel_txn(t, tx, &txn)))
        return rc;
    rel_schema *s = orbit__rel_schema_ref(t);
    const rel_index *ix;
    size_t cap = 0, done = 0, called = 0, nk = 0;
    orbit_value *vals = NULL;
    orbit_row *row = NULL;
    page pg = {ORBIT_BUF_INIT, NULL, 0, 0};
    orbit_buf prefix = ORBIT_BUF_INIT, lo = ORBIT_BUF_INIT, hi = ORBIT_BUF_INIT,
              bound = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT, rkeys = ORBIT_BUF_INIT,
              ek = ORBIT_BUF_INIT;
    orbit_slice *keys = NULL;
    orbit_buf *got = NULL;
    int *st = NULL;
    size_t *koff = NULL;
    if ((rc = orbit_row_new(&row)) || (rc = index_for_read(t, &s, name, &ix)) ||
        (rc = make_bounds(t, s, ix, b, &prefix, &lo, &hi)))
        goto out;
    keys = calloc(READ_PAGE + 1, sizeof *keys);
    got = calloc(READ_PAGE + 1, sizeof *got);
    st = calloc(READ_PAGE + 1, sizeof *st);
    koff = calloc(2 * (READ_PAGE + 1), sizeof *koff);
    if (!keys || !got || !st || !koff) {
        rc = ORBIT_ENOMEM;
        goto out;
    }
    uint64_t ix_id = ix->id;
    for (int restarts = 0;;) {
        orbit_scan_opts so = {0};
        so.prefix = prefix.data;
        so.prefix_len = prefix.len;
        so.reverse = reverse;
        so.start = lo.len ? lo.data : NULL;
        so.start_len = lo.len;
        so.end = hi.len ? hi.data : NULL;
        so.end_len = hi.len;
        if (bound.len) {
            if (reverse) {
                so.end = bound.data;
                so.end_len = bound.len;
            } else {
                so.start = bound.data;
                so.start_len = bound.len;
            }
        }
        size_t want = READ_PAGE;
        if (limit && limit - done < want)
            want = limit - done;
        so.limit = want;
        if ((rc = read_page(t, tx, txn, &so, &pg)))
            break;
        /* The rows' keys (from the entries' payloads), then one multi-get
         * of the version key and every row. */
        rkeys.len = 0;
        for (size_t i = 0; i < pg.n; i++) {
            const uint8_t *p;
            size_t pl;
            if ((rc = decode_record(PG_VAL(&pg, i), PG_VLEN(&pg, i), PG_KEY(&pg, i),
                                    PG_KLEN(&pg, i), &scratch, &p, &pl, NULL, NULL)))
                goto out;
            koff[2 * i] = rkeys.len;
            if ((rc = orbit_key_row(&rkeys, t->ks, t->id, p, pl)))
                goto out;
            koff[2 * i + 1] = rkeys.len - koff[2 * i];
        }
        nk = pg.n + 1;
        keys[0].data = t->ver_key.data;
        keys[0].len = t->ver_key.len;
        for (size_t i = 0; i < pg.n; i++) {
            keys[i + 1].data = rkeys.data + koff[2 * i];
            keys[i + 1].len = koff[2 * i + 1];
        }
        rc = txn ? tx_err(tx, orbit_txn_multi_get(txn, nk, keys, got, st))
                 : orbit_kv_multi_get(t->kv, NULL, nk, keys, got, st);
        if (rc)
            break;
        uint32_t ver = 0;
        if (st[0] != ORBIT_OK) {
            rc = orbit_error_set(ORBIT_NOTFOUND, "table %s does not exist", t->name);
            break;
        }
        if ((rc = orbit__rel_ver_decode(t, got[0].data, got[0].len, &ver)))
            break;
        if (ver != s->version) {
            rel_schema *ns;
            if ((rc = orbit__rel_schema_load(t, txn, &ns)))
                break;
            orbit__rel_schema_install(t, ns);
            orbit__rel_schema_unref(s);
            s = ns;
            const rel_index *nix = orbit__rel_index_by_id(s, ix_id);
            if (!nix || nix->state != ORBIT_INDEX_PUBLIC) {
                if (called || ++restarts > 3) {
                    rc = orbit_error_set(ORBIT_ECONFLICT, "table %s: index %s changed during the "
                                         "read", t->name, name);
                    break;
                }
                /* Start again on the index of that name now. */
                if ((rc = index_for_read(t, &s, name, &ix)) ||
                    (rc = make_bounds(t, s, ix, b, &prefix, &lo, &hi)))
                    break;
                ix_id = ix->id;
                bound.len = 0;
                done = 0;
                continue;
            }
            ix = nix;
        }
        for (size_t i = 0; !rc && i < pg.n; i++) {
            if (st[i + 1] == ORBIT_NOTFOUND)
                continue; /* deleted since the entry was read (no snapshot) */
            if (st[i + 1] != ORBIT_OK) {
                rc = st[i + 1];
                break;
            }
            rc = row_to_out(t, txn, &s, keys[i + 1].data, keys[i + 1].len, got[i + 1].data,
                            got[i + 1].len, &scratch, &vals, &cap, row);
            if (rc)
                break;
            /* The row must still hold the entry's values (it may have
             * changed between the two reads). */
            const rel_index *cix = orbit__rel_index_by_id(s, ix_id);
            int pkless;
            ek.len = 0;
            const uint8_t *rp = keys[i + 1].data + t->rows_prefix.len;
            size_t rpl = keys[i + 1].len - t->rows_prefix.len;
            if (!cix || (rc = orbit__rel_index_key(t, s, cix, vals, rp, rpl, &ek, &pkless)))
                break;
            if (orbit__key_cmp(ek.data, ek.len, PG_KEY(&pg, i), PG_KLEN(&pg, i)) != 0)
                continue;
            called++;
            rc = fn(arg, row);
        }
        done += pg.n;
        if (rc || pg.n < want || (limit && done >= limit))
            break;
        if ((rc = page_advance(&pg, reverse, &bound)))
            break;
    }
out:
    if (got)
        for (size_t i = 0; i < READ_PAGE + 1; i++)
            orbit_buf_release(&got[i]);
    free(got);
    free(keys);
    free(st);
    free(koff);
    orbit_row_free(row);
    free(vals);
    page_release(&pg);
    orbit_buf_release(&prefix);
    orbit_buf_release(&lo);
    orbit_buf_release(&hi);
    orbit_buf_release(&bound);
    orbit_buf_release(&scratch);
    orbit_buf_release(&rkeys);
    orbit_buf_release(&ek);
    orbit__rel_schema_unref(s);
    return rc;
}

int orbit_table_lookup(orbit_table *t, orbit_tx *tx, const char *index, const orbit_value *vals,
                       size_t nvals, size_t limit, orbit_row_fn fn, void *arg)
{
    bounds_req b = {1, vals, nvals, NULL};
    return index_read(t, tx, index, &b, limit, 0, fn, arg);
}

int orbit_table_range(orbit_table *t, orbit_tx *tx, const char *index,
                      const orbit_index_range *range, orbit_row_fn fn, void *arg)
{
    if (!range)
        return orbit_error_set(ORBIT_EINVAL, "index range: NULL range");
    bounds_req b = {0, NULL, 0, range};
    return index_read(t, tx, index, &b, range->limit, range->reverse, fn, arg);
}
