/*
 * Where a model's reads go, shared by the models: a caller's cross-model
 * transaction (through its contract transaction, so reads see its writes),
 * or the store itself, at one snapshot when asked and the store has them,
 * else the latest data.
 *
 * A reader is a small value on the caller's stack: open it, read, close it.
 * It owns the snapshot it took; the transaction stays the caller's.
 */
#ifndef ORBIT_MODEL_READER_H
#define ORBIT_MODEL_READER_H
#include <stddef.h>
#include <stdint.h>

#include "orbit/kv.h"
#include "orbit/model.h"
#include "orbit/txn.h"

typedef struct orbit__reader {
    orbit_txn *txn;       /* the caller's contract transaction, or NULL */
    orbit_kv *kv;         /* the actor's store */
    orbit_snapshot *snap; /* owned: released by orbit__reader_close */
    orbit_read_opts ro;   /* for store reads: ro.snapshot == snap */
} orbit__reader;

/* Reads of actor a's data in tx (NULL: the store; with snapshot != 0 at one
 * snapshot if the store supports them). 0 or the code binding tx to the
 * actor's store failed with. */
int orbit__reader_open(orbit__reader *r, orbit_tx *tx, const orbit_actor *a, int snapshot);
/* Releases the snapshot, if any; the reader may be opened again. */
void orbit__reader_close(orbit__reader *r);
int orbit__reader_get(orbit__reader *r, const uint8_t *k, size_t kl, orbit_buf *out);
int orbit__reader_iter(orbit__reader *r, const orbit_scan_opts *so, orbit_iter **it);
/* n == 0 is 0 with nothing read. */
int orbit__reader_mget(orbit__reader *r, size_t n, const orbit_slice *keys, orbit_buf *vals,
                       int *st);

#endif
