/*
 * Secondary indexes of the relational model (orbit/relational.h): entry
 * keys, online index builds, and drops.
 *
 * Entry key: (ks, "rel", T, "i", I, vals..., [pk...]) where each indexed
 * value is int(0) for NULL or int(1) then the value's tuple element; the pk
 * is left out only for a unique index with no NULL among the values, so a
 * unique value is exactly one key and a uniqueness check is one read.
 * Every entry's record payload is the row's encoded primary key.
 *
 * Online build. States: WRITE_ONLY -> BACKFILLING -> PUBLIC. Lookups use
 * only PUBLIC indexes; writers maintain an index in every state.
 *
 * Why the finished index is exactly the rows' entries:
 *   (a) Every row writer reads the version key for update inside its
 *       transaction and writes with the schema (and index states) of that
 *       read. The schema change that adds the index in WRITE_ONLY writes the
 *       version key. So a writer that read the old schema either commits
 *       before that change (a pessimistic store makes the change wait for
 *       the writer's lock; an optimistic one fails whichever commits second
 *       over the claimed key, and the change is retried), or it conflicts
 *       and is retried, and then reads the new schema. After the WRITE_ONLY
 *       change commits, no writer that does not know the index commits:
 *       this is what also covers rows *inserted* by old writers, which no
 *       backfill batch could claim because it never saw them.
 *   (b) Rows committed before the change are visible to every backfill
 *       batch (each batch begins after it), so the batches, walking the
 *       table in key order, reach each of them.
 *   (c) A batch claims every row it indexes (get_for_update, then rewrites
 *       it unchanged, so an optimistic store sees a write-write conflict)
 *       and writes the entry computed from the value it claimed. A writer
 *       of the same row also claims it (it needs the old values to delete
 *       the old entry). The two are therefore ordered: whichever commits
 *       second had the first's commit in its view or conflicted and was
 *       retried. So the last committed change of each row computed its
 *       entry from the row's latest value and deleted the entry of the
 *       value before it (a deletion of an entry the backfill had not yet
 *       written is a harmless no-op; the backfill then indexes the new
 *       value or finds the row gone).
 *   (d) Rows inserted after a batch passed their key are written by
 *       writers that know the index (a).
 * Hence when the last batch commits, every row has exactly its entry and
 * no entry lacks its row; the PUBLIC change then exposes it. Each batch
 * also reads the version key for update, so a concurrent schema change
 * (another index, a column, a drop of this index) is ordered with it, and
 * a batch that finds its index gone or in another state stops the build.
 *
 * A unique index: writers in any state refuse a value another row holds
 * (EEXIST); a batch that meets a value held by another row fails the build
 * with EEXIST naming the index and the value, and the index is dropped.
 * Any other failure of the build also drops the index (best effort); a
 * build interrupted by a crash leaves the index in its state: drop it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "model/relational_int.h"
#include "orbit/catalog.h"
#include "orbit/codec.h"
#include "orbit/provider.h"

#define DEFAULT_BATCH 64
/* How long one backfill batch may keep retrying against concurrent writers,
 * and its attempts (each backs off up to 50 ms). */
#define BACKFILL_DEADLINE_MS 120000
#define BACKFILL_ATTEMPTS 100000
#define DROP_BATCH 128

int orbit__rel_index_key(const orbit_table *t, const rel_schema *s, const rel_index *ix,
                         const orbit_value *vals, const uint8_t *pk, size_t pklen,
                         orbit_buf *out, int *pkless)
{
    orbit_buf v = ORBIT_BUF_INIT;
    int anynull = 0, rc = ORBIT_OK;
    for (size_t k = 0; !rc && k < ix->ncols; k++) {
        const orbit_value *x = &vals[ix->cols[k]];
        anynull |= x->type == ORBIT_VALUE_NULL;
        rc = orbit__rel_index_value(&v, x);
    }
    (void)s;
    *pkless = ix->unique && !anynull;
    if (!rc)
        rc = orbit_key_index(out, t->ks, t->id, ix->id, v.data, v.len, *pkless ? NULL : pk,
                             *pkless ? 0 : pklen);
    orbit_buf_release(&v);
    return rc;
}

void orbit__rel_index_values_format(orbit_buf *out, const rel_schema *s, const rel_index *ix,
                                    const orbit_value *vals)
{
    for (size_t k = 0; k < ix->ncols; k++) {
        if (k)
            orbit_buf_append(out, ", ", 2);
        const char *n = s->cols[ix->cols[k]].name;
        orbit_buf_append(out, n, strlen(n));
        orbit_buf_append(out, "=", 1);
        orbit__rel_value_format(out, &vals[ix->cols[k]]);
    }
}

int orbit_table_index_state(orbit_table *t, const char *name, orbit_index_state *state)
{
    if (!t || !name)
        return orbit_error_set(ORBIT_EINVAL, "index state: table and name are required");
    rel_schema *s = orbit__rel_schema_ref(t);
    const rel_index *ix = orbit__rel_index_find(s, name);
    if (ix && state)
        *state = ix->state;
    orbit__rel_schema_unref(s);
    return ix ? ORBIT_OK : ORBIT_NOTFOUND;
}

/* ---- schema changes of indexes ------------------------------------------- */

typedef struct add_ctx {
    const orbit_index_def *def;
    uint64_t id;
} add_ctx;

static int add_index_fn(orbit_table *t, rel_schema *s, void *arg)
{
    add_ctx *a = arg;
    const orbit_index_def *d = a->def;
    if (orbit__rel_index_find(s, d->name))
        return orbit_error_set(ORBIT_EEXIST, "table %s: index %s exists", t->name, d->name);
    rel_index ix;
    memset(&ix, 0, sizeof ix);
    for (size_t k = 0; k < d->ncolumns; k++) {
        size_t pos;
        if (!d->columns[k] || orbit__rel_col_find(s, d->columns[k], &pos) != ORBIT_OK)
            return orbit_error_set(ORBIT_EINVAL, "table %s: index %s: no column '%s'", t->name,
                                   d->name, d->columns[k] ? d->columns[k] : "(null)");
        if (s->cols[pos].type == ORBIT_COL_JSON)
            return orbit_error_set(ORBIT_EINVAL, "table %s: index %s: column '%s' is json, which "
                                   "cannot be indexed", t->name, d->name, d->columns[k]);
        for (size_t j = 0; j < k; j++)
            if (ix.cols[j] == pos)
                return orbit_error_set(ORBIT_EINVAL, "table %s: index %s names column '%s' "
                                       "twice", t->name, d->name, d->columns[k]);
        ix.cols[ix.ncols++] = pos;
    }
    ix.name = strdup(d->name);
    if (!ix.name)
        return ORBIT_ENOMEM;
    ix.id = a->id;
    ix.unique = d->unique != 0;
    ix.state = ORBIT_INDEX_WRITE_ONLY;
    rel_index *n = realloc(s->idx, (s->nidx + 1) * sizeof *n);
    if (!n) {
        free(ix.name);
        return ORBIT_ENOMEM;
    }
    s->idx = n;
    s->idx[s->nidx++] = ix;
    return ORBIT_OK;
}

typedef struct state_ctx {
    uint64_t id;
    orbit_index_state from, to;
} state_ctx;

static int set_state_fn(orbit_table *t, rel_schema *s, void *arg)
{
    state_ctx *c = arg;
    for (size_t i = 0; i < s->nidx; i++)
        if (s->idx[i].id == c->id) {
            if (s->idx[i].state != c->from)
                break;
            s->idx[i].state = c->to;
            return ORBIT_OK;
        }
    return orbit_error_set(ORBIT_ECLOSED, "table %s: the index being built was dropped or "
                           "changed by another caller", t->name);
}

typedef struct drop_ctx {
    const char *name; /* or by id */
    uint64_t id;
} drop_ctx;

static int drop_fn(orbit_table *t, rel_schema *s, void *arg)
{
    drop_ctx *c = arg;
    (void)t;
    for (size_t i = 0; i < s->nidx; i++)
        if (c->name ? strcmp(s->idx[i].name, c->name) == 0 : s->idx[i].id == c->id) {
            c->id = s->idx[i].id;
            orbit__rel_index_release(&s->idx[i]);
            memmove(&s->idx[i], &s->idx[i + 1], (s->nidx - i - 1) * sizeof *s->idx);
            s->nidx--;
            return ORBIT_OK;
        }
    return ORBIT_NOTFOUND;
}

/* Delete every entry of index id, in bounded batches. Runs after the index
 * left the schema, so no writer writes it any more (every writer reads the
 * version key for update, see above). */
static int delete_entries(orbit_table *t, uint64_t id)
{
    orbit_buf prefix = ORBIT_BUF_INIT;
    orbit_batch *b = NULL;
    int rc = orbit_key_index_prefix(&prefix, t->ks, t->id, id);
    if (!rc)
        rc = orbit_batch_new(&b);
    orbit_capabilities caps;
    orbit_kv_capabilities(t->kv, &caps);
    size_t per = DROP_BATCH;
    if (caps.max_batch_ops && caps.max_batch_ops < per)
        per = caps.max_batch_ops;
    while (!rc) {
        orbit_scan_opts so = {0};
        so.prefix = prefix.data;
        so.prefix_len = prefix.len;
        so.limit = per;
        so.keys_only = 1;
        orbit_iter *it;
        if ((rc = orbit_kv_iter(t->kv, NULL, &so, &it)))
            break;
        orbit_batch_clear(b);
        const uint8_t *k, *v;
        size_t kl, vl;
        while ((rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == ORBIT_OK)
            if ((rc = orbit_batch_del(b, k, kl)))
                break;
        orbit_iter_close(it);
        if (rc != ORBIT_NOTFOUND)
            break;
        rc = ORBIT_OK;
        size_t n = orbit_batch_count(b);
        if (n == 0)
            break;
        if ((rc = orbit_kv_write(t->kv, b)))
            break;
        if (n < per)
            break;
    }
    orbit_batch_free(b);
    orbit_buf_release(&prefix);
    return rc;
}

int orbit_table_drop_index(orbit_table *t, const char *name)
{
    if (!t || !name)
        return orbit_error_set(ORBIT_EINVAL, "drop index: table and name are required");
    drop_ctx c = {name, 0};
    int rc = orbit__rel_schema_change(t, drop_fn, &c);
    if (rc == ORBIT_NOTFOUND)
        return orbit_error_set(ORBIT_NOTFOUND, "table %s has no index %s", t->name, name);
    if (rc)
        return rc;
    return delete_entries(t, c.id);
}

/* ---- backfill --------------------------------------------------------------- */

typedef struct fill_ctx {
    orbit_table *t;
    uint64_t id;
    size_t batch;
    orbit_buf cursor; /* the first row key not indexed yet; empty: the start */
    orbit_buf next;   /* the cursor after this batch, if it commits */
    size_t rows;      /* rows indexed by this batch */
    int end;          /* this batch reached the end of the table */
} fill_ctx;

static int fill_fn(orbit_tx *tx, void *arg)
{
    fill_ctx *f = arg;
    orbit_table *t = f->t;
    f->rows = 0;
    f->end = 0;
    orbit_txn *txn;
    int rc = orbit__rel_txn(t, tx, &txn);
    if (rc)
        return rc;
    rel_schema *s;
    if ((rc = orbit__rel_schema_for_write(t, txn, &s)))
        return rc;
    const rel_index *ix = orbit__rel_index_by_id(s, f->id);
    orbit_buf keys = ORBIT_BUF_INIT, v = ORBIT_BUF_INIT, scratch = ORBIT_BUF_INIT,
              ek = ORBIT_BUF_INIT, cur = ORBIT_BUF_INIT, rec = ORBIT_BUF_INIT;
    size_t *off = calloc(2 * f->batch, sizeof *off), n = 0;
    orbit_value *vals = calloc(s->ncols + 1, sizeof *vals);
    if (!off || !vals) {
        rc = ORBIT_ENOMEM;
        goto done;
    }
    if (!ix || ix->state != ORBIT_INDEX_BACKFILLING) {
        rc = orbit_error_set(ORBIT_ECLOSED, "table %s: the index being built was dropped or "
                             "changed by another caller", t->name);
        goto done;
    }
    /* The next rows, keys only: each is then claimed and read for update. */
    orbit_scan_opts so = {0};
    so.prefix = t->rows_prefix.data;
    so.prefix_len = t->rows_prefix.len;
    if (f->cursor.len) {
        so.start = f->cursor.data;
        so.start_len = f->cursor.len;
    }
    so.limit = f->batch;
    so.keys_only = 1;
    orbit_iter *it;
    if ((rc = orbit_txn_iter(txn, &so, &it)))
        goto done;
    const uint8_t *k, *iv;
    size_t kl, ivl;
    while ((rc = orbit_iter_next(it, &k, &kl, &iv, &ivl)) == ORBIT_OK) {
        off[2 * n] = keys.len;
        off[2 * n + 1] = kl;
        if ((rc = orbit_buf_append(&keys, k, kl)))
            break;
        n++;
    }
    orbit_iter_close(it);
    if (rc != ORBIT_NOTFOUND)
        goto done;
    rc = ORBIT_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        const uint8_t *rk = keys.data + off[2 * i];
        size_t rkl = off[2 * i + 1];
        rc = orbit_txn_get_for_update(txn, rk, rkl, &v);
        if (rc == ORBIT_NOTFOUND) {
            rc = ORBIT_OK;
            continue;
        }
        if (rc)
            break;
        orbit_record_meta m;
        const uint8_t *p;
        size_t pl;
        if ((rc = orbit_record_decode(v.data, v.len, rk, rkl, &m, &scratch, &p, &pl)))
            break;
        if (m.schema_version > s->version) {
            rc = orbit_error_set(ORBIT_ECONFLICT, "table %s: a row newer than the batch's schema",
                                 t->name);
            break;
        }
        if (orbit__rel_row_decode(s, p, pl, vals)) {
            rc = orbit_error_set(ORBIT_ECORRUPT, "table %s: a malformed row", t->name);
            break;
        }
        const uint8_t *pk = rk + t->rows_prefix.len;
        size_t pklen = rkl - t->rows_prefix.len;
        int pkless;
        ek.len = 0;
        if ((rc = orbit__rel_index_key(t, s, ix, vals, pk, pklen, &ek, &pkless)))
            break;
        if (pkless) {
            rc = orbit_txn_get_for_update(txn, ek.data, ek.len, &cur);
            if (rc == ORBIT_OK) {
                const uint8_t *hp;
                size_t hl;
                orbit_record_meta em;
                if ((rc = orbit_record_decode(cur.data, cur.len, ek.data, ek.len, &em, &scratch,
                                              &hp, &hl)))
                    break;
                if (hl != pklen || memcmp(hp, pk, hl) != 0) {
                    orbit_buf e = ORBIT_BUF_INIT;
                    orbit__rel_index_values_format(&e, s, ix, vals);
                    orbit_buf_append(&e, "", 1);
                    rc = orbit_error_set(ORBIT_EEXIST, "table %s: unique index %s cannot be "
                                         "built: two rows hold (%s)", t->name, ix->name,
                                         (const char *)e.data);
                    orbit_buf_release(&e);
                    break;
                }
            } else if (rc != ORBIT_NOTFOUND) {
                break;
            }
        }
        rec.len = 0;
        rc = orbit__rel_record(t, s->version, 0, ek.data, ek.len, pk, pklen, &rec);
        /* An entry holding the pk is written untracked, as a row write does
         * it (relational.c): every other writer of it writes this row key,
         * claimed above, or the version key this batch claimed. */
        if (!rc && pkless)
            rc = orbit_txn_put(txn, ek.data, ek.len, rec.data, rec.len);
        else if (!rc)
            rc = orbit_txn_put_untracked(txn, ek.data, ek.len, rec.data, rec.len);
        /* The row rewritten as it is: the claim an optimistic store checks. */
        if (!rc)
            rc = orbit_txn_put(txn, rk, rkl, v.data, v.len);
        if (!rc)
            f->rows++;
    }
    if (!rc) {
        f->end = n < f->batch;
        f->next.len = 0;
        if (n)
            rc = orbit_buf_append(&f->next, keys.data + off[2 * (n - 1)], off[2 * (n - 1) + 1]);
        if (!rc && n)
            rc = orbit_buf_append(&f->next, "", 1);
    }
done:
    free(off);
    free(vals);
    orbit_buf_release(&keys);
    orbit_buf_release(&v);
    orbit_buf_release(&scratch);
    orbit_buf_release(&ek);
    orbit_buf_release(&cur);
    orbit_buf_release(&rec);
    orbit__rel_schema_unref(s);
    return rc;
}

static int backfill(orbit_table *t, uint64_t id, const orbit_index_build_opts *opts)
{
    orbit_capabilities caps;
    orbit_kv_capabilities(t->kv, &caps);
    fill_ctx f;
    memset(&f, 0, sizeof f);
    f.t = t;
    f.id = id;
    f.batch = opts && opts->batch_rows ? opts->batch_rows : DEFAULT_BATCH;
    /* Per row: the row and its entry (each read for update and written),
     * plus the version key. */
    if (caps.max_txn_keys && caps.max_txn_keys < 2 * f.batch + 4)
        f.batch = caps.max_txn_keys > 6 ? (caps.max_txn_keys - 4) / 2 : 1;
    size_t total = 0;
    int rc;
    /* A batch competes with the writers it runs beside (on a pessimistic
     * store a lock it meets fails it at once): it retries until a deadline,
     * not a small count, so a busy table slows the build, never fails it. */
    orbit_tx_opts to = {ORBIT_TX_REPEATABLE_READ, BACKFILL_DEADLINE_MS};
    for (;;) {
        rc = orbit_tx_run(&to, BACKFILL_ATTEMPTS, fill_fn, &f);
        if (rc)
            break;
        total += f.rows;
        f.cursor.len = 0;
        if ((rc = orbit_buf_append(&f.cursor, f.next.data, f.next.len)))
            break;
        if (opts && opts->on_batch && (rc = opts->on_batch(opts->arg, total)))
            break;
        if (f.end)
            break;
    }
    orbit_buf_release(&f.cursor);
    orbit_buf_release(&f.next);
    return rc;
}

/* Drop the index being built after a failure, keeping the failure's code
 * and detail. */
static int abandon(orbit_table *t, uint64_t id, int rc)
{
    char detail[512];
    snprintf(detail, sizeof detail, "%s", orbit_last_error_detail());
    drop_ctx c = {NULL, id};
    if (orbit__rel_schema_change(t, drop_fn, &c) == ORBIT_OK)
        delete_entries(t, id);
    if (rc < 0)
        orbit_error_set(rc, "%s", detail);
    return rc;
}

int orbit_table_create_index(orbit_table *t, const orbit_index_def *def,
                             const orbit_index_build_opts *opts)
{
    if (!t || !def || !def->name || !*def->name || strlen(def->name) > REL_NAME_MAX ||
        !def->columns || def->ncolumns == 0 || def->ncolumns > REL_INDEX_COLS_MAX)
        return orbit_error_set(ORBIT_EINVAL, "create index: a name of 1..%d bytes and 1..%d "
                               "columns are required", REL_NAME_MAX, REL_INDEX_COLS_MAX);
    int rc = orbit__rel_schema_reload(t);
    if (rc)
        return rc;
    rel_schema *s = orbit__rel_schema_ref(t);
    int exists = orbit__rel_index_find(s, def->name) != NULL;
    orbit__rel_schema_unref(s);
    if (exists)
        return orbit_error_set(ORBIT_EEXIST, "table %s: index %s exists", t->name, def->name);

    /* A fresh catalog id per build, so a dropped index's entries never mix
     * with a later index of the same name. */
    char cname[REL_NAME_MAX + 64];
    static atomic_uint nonce;
    snprintf(cname, sizeof cname, "%llu/%s/%llx.%x", (unsigned long long)t->id, def->name,
             (unsigned long long)orbit__mono_ns(), atomic_fetch_add(&nonce, 1));
    add_ctx a = {def, 0};
    if ((rc = orbit_actor_object_id(t->a, ORBIT_CATALOG_INDEX, cname, 1, &a.id)))
        return rc;
    if ((rc = orbit__rel_schema_change(t, add_index_fn, &a)))
        return rc;
    state_ctx st = {a.id, ORBIT_INDEX_WRITE_ONLY, ORBIT_INDEX_BACKFILLING};
    if ((rc = orbit__rel_schema_change(t, set_state_fn, &st)))
        return abandon(t, a.id, rc);
    if ((rc = backfill(t, a.id, opts)))
        return abandon(t, a.id, rc);
    st.from = ORBIT_INDEX_BACKFILLING;
    st.to = ORBIT_INDEX_PUBLIC;
    if ((rc = orbit__rel_schema_change(t, set_state_fn, &st)))
        return abandon(t, a.id, rc);
    return ORBIT_OK;
}
