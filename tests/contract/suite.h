/*
 * Shared pieces of the provider contract suite (tests/contract/).
 *
 * Every contract test talks to a store only through orbit/kv.h and gets it
 * from a URI template, never from a path it assumes: "{tmp}" becomes a fresh
 * temporary directory (removed when the store is closed) and "{uniq}" a
 * token unique to this store, which remote providers take as a namespace
 * option. So the same executables run against memory, RocksDB and, later,
 * etcd and TiKV: a new provider needs one add_test line, not new code.
 *
 * The suite must know which conflict rule a store follows: pessimistic
 * (conflicts reported by the write or get_for_update) or optimistic (by the
 * commit). It reads it from the URI (txn=optimistic / txn=pessimistic) unless
 * a --txn-mode flag says otherwise; with neither, pessimistic.
 */
#ifndef ORBIT_TEST_CONTRACT_SUITE_H
#define ORBIT_TEST_CONTRACT_SUITE_H

#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

#include "orbit/kv.h"

typedef enum ct_txn_mode {
    CT_PESSIMISTIC = 0,
    CT_OPTIMISTIC = 1,
} ct_txn_mode;

/* A store opened from a template; close with ct_store_close(). */
typedef struct ct_store {
    orbit_kv *kv;
    char *uri; /* the expanded URI (malloc'd) */
    char *dir; /* the temp directory behind {tmp}, or NULL */
} ct_store;

/*
 * Expand a template: every "{tmp}" becomes the same new temp directory
 * (*dir_out, malloc'd, NULL if the template has none) and every "{uniq}" the
 * same new unique token. Returns the malloc'd URI; aborts on allocation
 * failure (test code).
 */
char *ct_expand(const char *tmpl, char **dir_out);

/* Expand the template and open it. 0 or the orbit_kv_open() error (the
 * directory is then already removed). */
int ct_store_open(const char *tmpl, ct_store *s);
/* Close the store and remove its directory. Safe on a zeroed struct. */
void ct_store_close(ct_store *s);

/* The txn mode named in a URI's options; CT_PESSIMISTIC when absent. */
ct_txn_mode ct_mode_from_uri(const char *uri);
/* "pessimistic" / "optimistic" -> mode. 0 or -1. */
int ct_parse_mode(const char *s, ct_txn_mode *out);
const char *ct_mode_name(ct_txn_mode m);

/* ---- scan results ---------------------------------------------------- */

typedef struct ct_pair {
    uint8_t *k;
    size_t kl;
    uint8_t *v;
    size_t vl;
} ct_pair;

typedef struct ct_list {
    ct_pair *items;
    size_t n, cap;
} ct_list;

/* Append copies of key and value. Aborts on allocation failure. */
void ct_list_push(ct_list *l, const uint8_t *k, size_t kl, const uint8_t *v,
                  size_t vl);
void ct_list_free(ct_list *l);
/* 1 if both lists hold the same pairs in the same order. */
int ct_list_equal(const ct_list *a, const ct_list *b);
/* Print up to `max` entries of a list to stderr, prefixed by `label`. */
void ct_list_dump(const char *label, const ct_list *l, size_t max);

/* Drain an iterator into `out` and close it. Returns ORBIT_NOTFOUND when
 * the iterator ended normally, or the negative error that stopped it. */
int ct_drain(orbit_iter *it, ct_list *out);

/* orbit_kv_iter + ct_drain: 0 on a complete scan, else the error. */
int ct_scan(orbit_kv *kv, const orbit_snapshot *snap, const orbit_scan_opts *so,
            ct_list *out);
/* orbit_txn_iter + ct_drain: 0 on a complete scan, else the error. */
int ct_txn_scan(orbit_txn *t, const orbit_scan_opts *so, ct_list *out);

/* Unsigned byte-wise key order (memcmp, then length), as kv.h defines. */
int ct_keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl);

/* Print bytes as an escaped string ("ab\x00\xff") into buf; returns buf. */
const char *ct_fmt(char *buf, size_t cap, const uint8_t *p, size_t n);

#define CT_S(lit) ((const uint8_t *)(lit)), (sizeof(lit) - 1)

/* ---- waiting for an asynchronous submission ------------------------- */

/* Initialise with {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0}
 * and pass as the done argument of orbit_kv_submit with ct_sub_done; done
 * may run on a provider thread. */
typedef struct ct_sub_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
} ct_sub_wait;

void ct_sub_done(void *arg, orbit_kv_op *ops, size_t n);
/* Wait up to 30 s for done; returns how many times it ran. */
int ct_sub_wait_done(ct_sub_wait *w);

/* ---- the contract_suite executable ---------------------------------- */

/* Set by contract.c's main from the command line. */
typedef struct ct_config {
    const char *store;  /* template of the store under test */
    const char *oracle; /* template of the oracle store (random tests) */
    ct_txn_mode mode;   /* conflict rule of the store under test */
    unsigned long steps; /* operations per randomized run */
    /* Whether a change that leaves a key absent (a delete of an absent key;
     * a create then delete) conflicts with a transaction that saw the key
     * absent and writes or claims it. Provider-defined: yes for memory and
     * RocksDB (tombstones are writes), no for etcd (such changes leave the
     * key's mod_revision 0). With 0 the randomized comparison tolerates
     * exactly that difference (contract_random.c). Default 1. */
    int absent_changes_conflict;
} ct_config;

extern ct_config ct_cfg;

/* cmocka cases in contract_random.c: lockstep comparison with the oracle,
 * each with the setup / teardown that opens and closes both stores. */
void ct_test_random(void **state);
void ct_test_random_optimistic_writes(void **state);
int ct_random_setup(void **state);
int ct_random_teardown(void **state);

#endif
