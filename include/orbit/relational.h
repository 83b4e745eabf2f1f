/*
 * The relational model: tables of typed rows with a primary key, unique and
 * non-unique secondary indexes maintained in the row's transaction, online
 * index builds, schema versions and declared references to other tables.
 *
 * Objects.
 *   orbit_table  a handle on one table of an actor (orbit/model.h), with the
 *                table's schema cached. Opened with orbit_table_create or
 *                orbit_table_open, freed with orbit_table_close. A handle may
 *                be used from many threads at once; it borrows the actor,
 *                which must outlive it.
 *   orbit_row    a set of (column name, value) pairs, owned by the caller
 *                (orbit_row_new / orbit_row_free). It is not bound to a table:
 *                values are checked against the schema when a row is
 *                written. Rows filled by reads hold every column of the
 *                schema, in schema order. A row belongs to one thread at a
 *                time.
 *   orbit_value  a borrowed, typed value (a default, a lookup key, a bound).
 *
 * Column types: int64, float64, text (UTF-8, validated), bool, bytes, JSON
 * (any JSON text, validated with jansson; stored as given). Every column is
 * nullable or not; a non-nullable column without a default must be given
 * on insert. The primary key is one or more non-nullable columns of any
 * type but JSON, fixed at creation.
 *
 * Keys (orbit/codec.h; ks is the actor's keyspace, T the table's catalog id
 * (ORBIT_CATALOG_TABLE), I an index's catalog id (ORBIT_CATALOG_INDEX)):
 *   (ks, "rel", T, "meta")            the schema: an ORBIT_MODEL_REL record,
 *                                     schema_version = the schema version,
 *                                     payload JSON (columns, primary key,
 *                                     indexes and their states)
 *   (ks, "rel", T, "ver")             the schema version key: 8 bytes
 *                                     big-endian, written with every schema
 *                                     change; every writer reads it (for
 *                                     update) in its transaction
 *   (ks, "rel", T, "r", pk...)        a row (orbit_key_row): pk is the
 *                                     primary-key values encoded with
 *                                     orbit_tuple_* in key-column order
 *                                     (int64 -> orbit_tuple_int, text ->
 *                                     orbit_tuple_bytes of the UTF-8, bytes
 *                                     -> orbit_tuple_bytes, float64 ->
 *                                     orbit_tuple_double, bool ->
 *                                     orbit_tuple_bool), so other models can
 *                                     address a row by key; the record's
 *                                     schema_version is the version the row
 *                                     was written with
 *   (ks, "rel", T, "i", I, vals..., [pk...])
 *                                     an index entry (orbit_key_index). Each
 *                                     indexed value is encoded as
 *                                     orbit_tuple_int(0) for NULL, or
 *                                     orbit_tuple_int(1) then the value as
 *                                     above (so NULLs sort first). A unique
 *                                     index whose values are all non-NULL
 *                                     omits the pk from the key (one entry
 *                                     per value: uniqueness is one read);
 *                                     every other entry ends with the pk.
 *                                     Every entry's record payload is the
 *                                     row's encoded pk.
 *
 * NULLs in indexes: rows with NULL index values are indexed (NULL sorts
 * before every value) and can be found by an equality lookup of a NULL
 * value (an orbit_value of type ORBIT_VALUE_NULL). A unique index treats
 * NULLs as distinct (SQL's rule): any number of rows may share a NULL in a
 * unique index's columns.
 *
 * Transactions (orbit/txn.h). Every write takes an orbit_tx * first: given
 * one, the write joins it (and is visible to its later reads); NULL runs it
 * in a transaction of its own, committed at once (conflicts retried). Reads
 * take one too: with it they read through its contract transaction (its
 * own writes included); with NULL they read the latest data. A write that
 * fails with ORBIT_EINVAL (bad argument, type error, unknown column),
 * ORBIT_EEXIST (duplicate primary key, unique index), ORBIT_NOTFOUND or
 * ORBIT_ECONSTRAINT has written nothing and the transaction goes on; after
 * any other error only rollback is left. Every write marks the actor's
 * relational data changed (orbit_tx_touch, ORBIT_MODEL_REL). Schema changes
 * (create, add column, create and drop index) run in transactions of their
 * own, never in a caller's.
 *
 * Schema cache. A handle caches the schema. Every writer reads the version
 * key for update inside its transaction, so a write always uses the schema
 * of its own snapshot, and a writer whose snapshot predates a schema change
 * that commits before it conflicts (ORBIT_ECONFLICT, retried). A point read
 * stays one key read: the row's record names the schema version it was
 * written with, and a newer version than the cached one reloads the
 * schema. An index lookup or range reads the version key in the same
 * multi-get as the rows, so an index dropped or changed by another process
 * is noticed. A stale cache can therefore only omit columns added since it
 * was loaded from rows written before they were added (those rows read as
 * under the older schema); orbit_table_refresh reloads it. The price of the
 * version-key claim: on a pessimistic store (RocksDB) it is a lock, so the
 * writers of one table take turns (a wait past the store's lock timeout is
 * ORBIT_ECONFLICT, retried); on an optimistic store writers do not
 * conflict over it, only with schema changes.
 *
 * Costs (orbit_kv_stats, on a store holding any amount of other data):
 *   get by key           one key read, one read call
 *   index lookup/range   one index scan (the entries, at most `limit`) plus
 *                        one multi-get of the matching rows and the version
 *                        key: read_calls 2, keys_read entries + rows + 1
 *   scan with limit L    one scan reading at most L rows
 *   insert/update/...    get_for_update of the version key and of the row,
 *                        one get_for_update per unique index whose entry
 *                        changes (two while that index is being built),
 *                        then the row and changed index entries
 *                        written; a declared reference adds one read at
 *                        commit
 *
 * Online index builds (orbit_table_create_index): the index is added in
 * state WRITE_ONLY (writers maintain it, lookups refuse it), then
 * BACKFILLING while bounded batches, each its own transaction, index the
 * existing rows, then PUBLIC. The correctness argument is in
 * src/model/relational_index.c.
 *
 * Declared references: a column may reference another table of the same
 * actor whose primary key is one column of the same type. Writing a
 * non-NULL value there registers a commit check (orbit_tx_add_check) that
 * reads the referenced row inside the transaction (for update, so a
 * concurrent delete of it conflicts); if it is absent the commit fails with
 * ORBIT_ECONSTRAINT naming the constraint, e.g. "reference orders.customer
 * -> customers: row 'c9' does not exist". Deleting a referenced row is not
 * checked (no ON DELETE rule is built).
 *
 * Absent (not built): dropping or changing columns, changing the primary
 * key, resuming an interrupted index build (drop it and create it again),
 * range bounds on more than the leading index column, ON DELETE rules,
 * dropping a table.
 *
 * Errors: ORBIT_EINVAL names the table and column and both types for a
 * type error; ORBIT_EEXIST names the index and the value for a unique
 * violation (and the key for a duplicate primary key); ORBIT_ECORRUPT names
 * the key of a stored record or schema that fails verification.
 */
#ifndef ORBIT_RELATIONAL_H
#define ORBIT_RELATIONAL_H

#include <stddef.h>
#include <stdint.h>

#include "orbit/error.h"
#include "orbit/model.h"
#include "orbit/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orbit_table orbit_table;
typedef struct orbit_row orbit_row;

/* Column types; a value's type is one of them or ORBIT_VALUE_NULL. */
typedef enum orbit_col_type {
    ORBIT_VALUE_NULL = 0, /* values only: SQL NULL */
    ORBIT_COL_INT64 = 1,
    ORBIT_COL_FLOAT64 = 2,
    ORBIT_COL_TEXT = 3,
    ORBIT_COL_BOOL = 4,
    ORBIT_COL_BYTES = 5,
    ORBIT_COL_JSON = 6,
} orbit_col_type;

/* "int64", "float64", "text", "bool", "bytes", "json", "null" (static). */
ORBIT_API const char *orbit_col_type_name(orbit_col_type t);

/* A typed value. p/n (TEXT, BYTES, JSON) are borrowed: for the duration of
 * the call they are passed to, or, when handed out by a row, until that row
 * changes or is freed (TEXT and JSON handed out by a row are also
 * NUL-terminated at p[n]). */
typedef struct orbit_value {
    orbit_col_type type;
    int64_t i;        /* INT64 */
    double d;         /* FLOAT64 */
    int b;            /* BOOL: 0 or 1 */
    const uint8_t *p; /* TEXT (UTF-8), BYTES, JSON (text) */
    size_t n;
} orbit_value;

/* Constructors for literals (p borrowed). */
ORBIT_API orbit_value orbit_value_null(void);
ORBIT_API orbit_value orbit_value_int(int64_t v);
ORBIT_API orbit_value orbit_value_double(double v);
ORBIT_API orbit_value orbit_value_bool(int v);
ORBIT_API orbit_value orbit_value_text(const char *s); /* strlen(s) bytes */
ORBIT_API orbit_value orbit_value_bytes(const void *p, size_t n);
ORBIT_API orbit_value orbit_value_json(const char *json);

/* ---- schema ----------------------------------------------------------- */

/* One column. name: a non-empty C string of at most 128 bytes, unique in
 * the table. has_default/default_value: the value an insert that omits the
 * column gets (and rows written before the column was added read as);
 * without one, such a column reads as NULL (so it must be nullable).
 * references: NULL, or the name of a table of the same actor this column
 * references (see above). All pointers are borrowed for the call. */
typedef struct orbit_column_def {
    const char *name;
    orbit_col_type type;
    int nullable;
    int has_default;
    orbit_value default_value;
    const char *references;
} orbit_column_def;

/* A table: columns in order, and the names of its primary-key columns in
 * key order (at least one; non-nullable, not JSON). Borrowed for the call. */
typedef struct orbit_table_def {
    const orbit_column_def *columns;
    size_t ncolumns;
    const char *const *primary_key;
    size_t npk;
} orbit_table_def;

/*
 * Create table `name` (a non-empty C string) of actor a with def, in a
 * transaction of its own, and open a handle on it into *out (freed with
 * orbit_table_close). 0; ORBIT_EEXIST if the table exists (its schema is
 * left alone); ORBIT_EINVAL for a bad definition (naming the column);
 * ORBIT_NOTFOUND never (a referenced table that does not exist is
 * ORBIT_EINVAL); or the store's error.
 */
ORBIT_API int orbit_table_create(const orbit_actor *a, const char *name,
                                 const orbit_table_def *def, orbit_table **out);

/* Open an existing table (its schema read once). 0, ORBIT_NOTFOUND (no such
 * table), ORBIT_ECORRUPT or the store's error. */
ORBIT_API int orbit_table_open(const orbit_actor *a, const char *name,
                               orbit_table **out);

/* NULL is accepted. No call on the handle may be running. */
ORBIT_API void orbit_table_close(orbit_table *t);

/* The table's name (borrowed, lives as long as the handle), catalog id,
 * and the version of the cached schema (1 at creation, +1 per change). */
ORBIT_API const char *orbit_table_name(const orbit_table *t);
ORBIT_API uint64_t orbit_table_id(const orbit_table *t);
ORBIT_API uint32_t orbit_table_schema_version(orbit_table *t);

/* Reload the cached schema from the store now. 0 or an error. */
ORBIT_API int orbit_table_refresh(orbit_table *t);

/* The cached schema's columns: their number, and column i's name
 * (borrowed until the next schema reload: copy it if it must last), type
 * and nullability. ORBIT_EINVAL for i out of range. */
ORBIT_API size_t orbit_table_column_count(orbit_table *t);
ORBIT_API int orbit_table_column(orbit_table *t, size_t i, orbit_buf *name,
                                 orbit_col_type *type, int *nullable);

/*
 * Add a column (schema version + 1), in a transaction of its own. The
 * column must be nullable or have a default; rows already stored are not
 * rewritten and read with the default (or NULL). 0, ORBIT_EEXIST (a column
 * of that name exists), ORBIT_EINVAL, or the store's error.
 */
ORBIT_API int orbit_table_add_column(orbit_table *t, const orbit_column_def *col);

/* ---- indexes ---------------------------------------------------------- */

typedef enum orbit_index_state {
    ORBIT_INDEX_WRITE_ONLY = 1,  /* writers maintain it; not readable */
    ORBIT_INDEX_BACKFILLING = 2, /* ... while existing rows are indexed */
    ORBIT_INDEX_PUBLIC = 3,      /* complete: lookups use it */
} orbit_index_state;

/* An index: name (non-empty, unique per table), columns (1..16 column
 * names, none JSON), unique. Borrowed for the call. */
typedef struct orbit_index_def {
    const char *name;
    const char *const *columns;
    size_t ncolumns;
    int unique;
} orbit_index_def;

/* Options of an index build; zero-initialise. */
typedef struct orbit_index_build_opts {
    /* Rows per backfill batch (each batch one transaction); 0: 64. Lowered
     * to fit the provider's max_txn_keys. */
    size_t batch_rows;
    /* Called on the building thread after each committed batch with the
     * number of rows indexed so far (progress; tests use it to interleave
     * writes). A non-zero return abandons the build: the index is dropped
     * and that value returned. May be NULL. */
    int (*on_batch)(void *arg, size_t rows_done);
    void *arg;
} orbit_index_build_opts;

/*
 * Create an index and build it online, on the calling thread: the index is
 * added WRITE_ONLY, then BACKFILLING while batches (each its own
 * transaction) index the rows that exist, then made PUBLIC; other writers
 * may write the table all the while. Returns when it is public (0) or the
 * build failed. A unique index that meets two rows with one value fails
 * with ORBIT_EEXIST naming the index and the value, and the index is
 * dropped (its entries deleted); while a unique index is being built,
 * writes that would violate it are refused with ORBIT_EEXIST. ORBIT_EEXIST
 * also if an index of that name exists (in any state); ORBIT_EINVAL for a
 * bad definition. A build that fails for another reason (an error, a
 * concurrent drop, on_batch) also drops the index, best effort, and returns
 * that error; a build interrupted by a crash leaves the index in its state,
 * maintained by writers but not readable: drop it and create it again.
 * opts may be NULL.
 */
ORBIT_API int orbit_table_create_index(orbit_table *t, const orbit_index_def *def,
                                       const orbit_index_build_opts *opts);

/* Drop an index (schema change, then its entries deleted with a range
 * delete). 0, ORBIT_NOTFOUND, or the store's error. */
ORBIT_API int orbit_table_drop_index(orbit_table *t, const char *name);

/* The state of index `name` in the cached schema (refresh first to see
 * another handle's change). 0 or ORBIT_NOTFOUND. */
ORBIT_API int orbit_table_index_state(orbit_table *t, const char *name,
                                      orbit_index_state *state);

/* ---- rows --------------------------------------------------------------- */

/* A new, empty row into *out. 0 or ORBIT_ENOMEM. */
ORBIT_API int orbit_row_new(orbit_row **out);
/* NULL is accepted. */
ORBIT_API void orbit_row_free(orbit_row *r);
/* Remove every column (memory kept for reuse). */
ORBIT_API void orbit_row_clear(orbit_row *r);

/*
 * Setters: set column `col` (a non-empty C string) to a value, replacing an
 * earlier value of that column; the row copies name and bytes. Checks
 * against a schema happen when the row is written. 0, ORBIT_EINVAL (col
 * NULL or empty, NULL bytes with a non-zero length) or ORBIT_ENOMEM.
 * set_text takes a C string, set_text_n n bytes; set_json takes JSON text.
 */
ORBIT_API int orbit_row_set(orbit_row *r, const char *col, const orbit_value *v);
ORBIT_API int orbit_row_set_null(orbit_row *r, const char *col);
ORBIT_API int orbit_row_set_int(orbit_row *r, const char *col, int64_t v);
ORBIT_API int orbit_row_set_double(orbit_row *r, const char *col, double v);
ORBIT_API int orbit_row_set_bool(orbit_row *r, const char *col, int v);
ORBIT_API int orbit_row_set_text(orbit_row *r, const char *col, const char *s);
ORBIT_API int orbit_row_set_text_n(orbit_row *r, const char *col, const char *s,
                                   size_t n);
ORBIT_API int orbit_row_set_bytes(orbit_row *r, const char *col, const void *p,
                                  size_t n);
ORBIT_API int orbit_row_set_json(orbit_row *r, const char *col, const char *json);

/* Accessors. count: the number of columns set; name(i): column i's name
 * (borrowed, as values are), or NULL past the end. get / get_at: the
 * value (borrowed, see orbit_value): 0, or ORBIT_NOTFOUND if the row has
 * no such column. */
ORBIT_API size_t orbit_row_count(const orbit_row *r);
ORBIT_API const char *orbit_row_name(const orbit_row *r, size_t i);
ORBIT_API int orbit_row_get(const orbit_row *r, const char *col, orbit_value *out);
ORBIT_API int orbit_row_get_at(const orbit_row *r, size_t i, orbit_value *out);
/* 1 if the column is set to NULL, 0 if set to a value, ORBIT_NOTFOUND if
 * the row has no such column. */
ORBIT_API int orbit_row_is_null(const orbit_row *r, const char *col);

/* Typed getters: 0; ORBIT_NOTFOUND if the row has no such column or it is
 * NULL; ORBIT_EINVAL (naming the column and both types) if its value is of
 * another type. get_text / get_json / get_bytes hand out borrowed bytes
 * (NUL-terminated for text and JSON); len may be NULL. */
ORBIT_API int orbit_row_get_int(const orbit_row *r, const char *col, int64_t *v);
ORBIT_API int orbit_row_get_double(const orbit_row *r, const char *col, double *v);
ORBIT_API int orbit_row_get_bool(const orbit_row *r, const char *col, int *v);
ORBIT_API int orbit_row_get_text(const orbit_row *r, const char *col,
                                 const char **s, size_t *len);
ORBIT_API int orbit_row_get_bytes(const orbit_row *r, const char *col,
                                  const uint8_t **p, size_t *len);
ORBIT_API int orbit_row_get_json(const orbit_row *r, const char *col,
                                 const char **s, size_t *len);

/* ---- writes ------------------------------------------------------------- */

/*
 * Insert: every primary-key column and every non-nullable column without a
 * default must be set; omitted columns take their default or NULL; unknown
 * columns and values of the wrong type are ORBIT_EINVAL (naming them).
 * ORBIT_EEXIST if a row with that key exists or a unique index already
 * holds one of its values (naming the index and value). row is borrowed.
 */
ORBIT_API int orbit_table_insert(orbit_table *t, orbit_tx *tx, const orbit_row *row);

/* Upsert: insert the row if its key is absent (as orbit_table_insert);
 * else update the existing row with the columns set (as
 * orbit_table_update). */
ORBIT_API int orbit_table_upsert(orbit_table *t, orbit_tx *tx, const orbit_row *row);

/* Update: the row's primary-key columns name the row (they cannot change);
 * the other columns set replace those values, the rest are kept.
 * ORBIT_NOTFOUND if no such row; ORBIT_EINVAL / ORBIT_EEXIST as insert. */
ORBIT_API int orbit_table_update(orbit_table *t, orbit_tx *tx, const orbit_row *row);

/* Delete the row whose key is set in `key` (other columns ignored), and
 * its index entries. 0 or ORBIT_NOTFOUND. */
ORBIT_API int orbit_table_delete(orbit_table *t, orbit_tx *tx, const orbit_row *key);

/* ---- reads -------------------------------------------------------------- */

/* Get the row whose primary key is set in `key` into out (contents
 * replaced: every column of the schema, in order). 0, ORBIT_NOTFOUND (out
 * emptied), ORBIT_EINVAL, ORBIT_ECORRUPT. One key read. */
ORBIT_API int orbit_table_get(orbit_table *t, orbit_tx *tx, const orbit_row *key,
                              orbit_row *out);

/* Called once per row found, in order, on the calling thread, with the row
 * borrowed for the call. A non-zero return stops the read, which returns
 * it. If the read fails before the first row, fn never runs. */
typedef int (*orbit_row_fn)(void *arg, const orbit_row *row);

/* Every row in primary-key order (reverse: descending), at most limit (0:
 * no limit). 0, fn's non-zero return, or an error. */
ORBIT_API int orbit_table_scan(orbit_table *t, orbit_tx *tx, size_t limit,
                               int reverse, orbit_row_fn fn, void *arg);

/*
 * Equality lookup on a public index: the rows whose first nvals index
 * columns (1..the index's column count) equal vals[0..nvals) (a value of
 * type ORBIT_VALUE_NULL matches NULL), in index order (then primary-key
 * order), at most limit (0: none). The values must have the columns'
 * types (an int64 value for a float64 column is converted). ORBIT_EINVAL
 * (unknown index, wrong type or count), ORBIT_ENOTSUP naming the index if
 * it is not public yet, or an error.
 */
ORBIT_API int orbit_table_lookup(orbit_table *t, orbit_tx *tx, const char *index,
                                 const orbit_value *vals, size_t nvals, size_t limit,
                                 orbit_row_fn fn, void *arg);

/* Bounds of an index range on the index's leading column. lo NULL: from
 * the first entry (NULLs included); hi NULL: to the last. lo is inclusive
 * unless lo_exclusive, hi exclusive unless hi_inclusive. limit 0: none;
 * reverse: descending. Borrowed for the call. */
typedef struct orbit_index_range {
    const orbit_value *lo;
    int lo_exclusive;
    const orbit_value *hi;
    int hi_inclusive;
    size_t limit;
    int reverse;
} orbit_index_range;

/* Rows whose leading index column lies in the range, in index order (or
 * reversed). Errors as orbit_table_lookup. */
ORBIT_API int orbit_table_range(orbit_table *t, orbit_tx *tx, const char *index,
                                const orbit_index_range *range, orbit_row_fn fn,
                                void *arg);

#ifdef __cplusplus
}
#endif
#endif
