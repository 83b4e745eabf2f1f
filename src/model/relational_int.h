/*
 * Private to the relational model (src/model/relational*.c): the schema as
 * the code holds it, the table handle, and the helpers the files share.
 *
 *   relational_row.c     orbit_row / orbit_value, value checks and the row
 *                        payload codec
 *   relational_schema.c  schemas (JSON payload), loading, the cache, table
 *                        creation and schema changes
 *   relational.c         writes (index maintenance, references) and reads
 *   relational_index.c   index entries, online index builds, drops
 *
 * A schema (rel_schema) is immutable once built and reference counted: the
 * table handle holds the newest one it knows under its mutex, and every
 * operation takes a reference for its duration, so a reload by another
 * thread never frees a schema in use.
 */
#ifndef ORBIT_MODEL_RELATIONAL_INT_H
#define ORBIT_MODEL_RELATIONAL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"
#include "orbit/kv.h"
#include "orbit/relational.h"

#define REL_NAME_MAX 128
#define REL_INDEX_COLS_MAX 16

typedef struct rel_col {
    char *name;
    orbit_col_type type;
    int nullable;
    int has_default;
    orbit_value def; /* def.p points into def_bytes */
    orbit_buf def_bytes;
    char *ref_table; /* NULL: no reference */
    uint64_t ref_id;
} rel_col;

typedef struct rel_index {
    char *name;
    uint64_t id;
    size_t ncols;
    size_t cols[REL_INDEX_COLS_MAX]; /* column positions */
    int unique;
    orbit_index_state state;
} rel_index;

typedef struct rel_schema {
    atomic_uint refs;
    uint32_t version;
    size_t ncols;
    rel_col *cols;
    size_t npk;
    size_t *pk; /* column positions */
    size_t nidx;
    rel_index *idx;
} rel_schema;

struct orbit_table {
    const orbit_actor *a;
    orbit_kv *kv;
    uint64_t ks;
    uint64_t id;
    char *name;
    orbit_buf meta_key; /* (ks, "rel", T, "meta") */
    orbit_buf ver_key;  /* (ks, "rel", T, "ver") */
    orbit_buf rows_prefix;
    pthread_mutex_t mu;
    rel_schema *cur; /* under mu */
};

/* ---- relational_row.c ---- */

/* Check v against column c of table `table` (int64 is converted to float64
 * into *conv). 0 or ORBIT_EINVAL naming table, column and types. */
int orbit__rel_check_value(const char *table, const rel_col *c, const orbit_value *v,
                           orbit_value *conv);
/* Append a printable form of v (for errors). */
void orbit__rel_value_format(orbit_buf *out, const orbit_value *v);
/* Append the tuple element of a non-NULL key value (primary keys). */
int orbit__rel_tuple_value(orbit_buf *out, const orbit_value *v);
/* Append an index element: int(0) for NULL, else int(1) and the value. */
int orbit__rel_index_value(orbit_buf *out, const orbit_value *v);
/* Encode vals[0..s->ncols) as a row payload. */
int orbit__rel_row_encode(const rel_schema *s, const orbit_value *vals, orbit_buf *out);
/* Decode a payload into vals[0..s->ncols) (borrowing from payload; columns
 * the payload predates take their default or NULL). ORBIT_ECORRUPT (the
 * caller names the key) if malformed. */
int orbit__rel_row_decode(const rel_schema *s, const uint8_t *p, size_t n, orbit_value *vals);
/* Replace r's contents with the schema's columns and vals. */
int orbit__rel_row_fill(orbit_row *r, const rel_schema *s, const orbit_value *vals);
/* Column i of r (name and value), for iterating a row given by a caller. */
const orbit_value *orbit__rel_row_at(const orbit_row *r, size_t i, const char **name);
int orbit__rel_values_equal(const orbit_value *a, const orbit_value *b);

/* ---- relational_schema.c ---- */

rel_schema *orbit__rel_schema_ref(orbit_table *t);
void orbit__rel_schema_unref(rel_schema *s);
/* Install s (a reference is taken) if it is newer than the cached one. */
void orbit__rel_schema_install(orbit_table *t, rel_schema *s);
/* Load the schema: through txn if non-NULL, else the latest. *out holds a
 * reference. 0, ORBIT_NOTFOUND (no table), ORBIT_ECORRUPT or an error. */
int orbit__rel_schema_load(orbit_table *t, orbit_txn *txn, rel_schema **out);
/* Reload from the latest data and install. */
int orbit__rel_schema_reload(orbit_table *t);
/* Parse a version key's value. */
int orbit__rel_ver_decode(orbit_table *t, const uint8_t *v, size_t n, uint32_t *ver);
/* The schema a writer in txn must use: reads the version key for update,
 * reloading inside txn when it differs from the cache. */
int orbit__rel_schema_for_write(orbit_table *t, orbit_txn *txn, rel_schema **out);
int orbit__rel_col_find(const rel_schema *s, const char *name, size_t *pos);
const rel_index *orbit__rel_index_find(const rel_schema *s, const char *name);
const rel_index *orbit__rel_index_by_id(const rel_schema *s, uint64_t id);
/* A copy of s, version unchanged, refs 1. NULL on ENOMEM. */
rel_schema *orbit__rel_schema_clone(const rel_schema *s);
/* Run mutate on a copy of the current schema in a transaction of its own,
 * write it back with version + 1 and install it. mutate returns 0 or an
 * error (nothing written then). */
typedef int (*rel_mutate_fn)(orbit_table *t, rel_schema *s, void *arg);
int orbit__rel_schema_change(orbit_table *t, rel_mutate_fn mutate, void *arg);
/* Free the contents of an index entry of a schema. */
void orbit__rel_index_release(rel_index *ix);

/* ---- relational_index.c ---- */

/* The entry key of index ix for a row with values vals and encoded pk, in
 * out (appended); *pkless set when the key omits the pk (a unique index
 * with no NULL). */
int orbit__rel_index_key(const orbit_table *t, const rel_schema *s, const rel_index *ix,
                         const orbit_value *vals, const uint8_t *pk, size_t pklen,
                         orbit_buf *out, int *pkless);
/* Append the printable form of the index values of a row (for EEXIST). */
void orbit__rel_index_values_format(orbit_buf *out, const rel_schema *s,
                                    const rel_index *ix, const orbit_value *vals);

/* ---- relational.c ---- */

/* Encode the primary key of vals into out. */
int orbit__rel_pk_encode(const rel_schema *s, const orbit_value *vals, orbit_buf *out);
/* An ORBIT_MODEL_REL record of this table's actor. */
int orbit__rel_record(const orbit_table *t, uint32_t schema_version, uint64_t created_ms,
                      const uint8_t *key, size_t klen, const uint8_t *payload, size_t plen,
                      orbit_buf *out);
/* The txn of tx for this table's actor. */
int orbit__rel_txn(orbit_table *t, orbit_tx *tx, orbit_txn **out);

#endif
