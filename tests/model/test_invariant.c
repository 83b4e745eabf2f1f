/*
 * The concurrent cross-model invariant (issue 8): several threads move
 * amounts between rows of an accounts table; each transfer, in the same
 * orbit_tx, also appends a time-series point and a graph edge unique to
 * it, with conflicts retried by orbit_tx_run. At the end the total
 * balance is unchanged, and the points and the edges each number exactly
 * the committed transfers, so no transfer was applied in part or twice.
 *
 * The graph's endpoints are rows of the accounts table (endpoint_table),
 * so every edge's commit check reads the two account rows inside the
 * transfer's transaction. Runs on every provider (memory under TSan);
 * on a distributed store fewer transfers keep it quick.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt.h"
#include "orbit/graph.h"
#include "orbit/relational.h"
#include "orbit/timeseries.h"

#define NTHREADS 4
#define NACCOUNTS 8
#define INITIAL 1000

typedef struct world {
    orbit_actor *a;
    orbit_table *accounts;
    orbit_series *log;
    orbit_graph *moves;
    int per_thread;
} world;

typedef struct worker {
    world *w;
    int thread;
    int committed;
    int gave_up;   /* ran out of attempts on conflicts */
    int bad;       /* any other outcome: a failure of the test */
    int bad_rc;
    char bad_detail[256];
    int attempts;
} worker;

typedef struct transfer {
    world *w;
    int from, to;
    int64_t amount;
    int64_t uid; /* unique per transfer */
    int *attempts;
} transfer;

static void acct_name(char *buf, size_t n, int i) { snprintf(buf, n, "a%d", i); }

static int read_balance(orbit_table *t, orbit_tx *tx, const char *id, int64_t *bal)
{
    orbit_row *key, *row;
    int rc = orbit_row_new(&key);
    if (rc)
        return rc;
    if ((rc = orbit_row_new(&row))) {
        orbit_row_free(key);
        return rc;
    }
    rc = orbit_row_set_text(key, "id", id);
    if (!rc)
        rc = orbit_table_get(t, tx, key, row);
    if (!rc)
        rc = orbit_row_get_int(row, "balance", bal);
    orbit_row_free(key);
    orbit_row_free(row);
    return rc;
}

static int write_balance(orbit_table *t, orbit_tx *tx, const char *id, int64_t bal)
{
    orbit_row *row;
    int rc = orbit_row_new(&row);
    if (rc)
        return rc;
    rc = orbit_row_set_text(row, "id", id);
    if (!rc)
        rc = orbit_row_set_int(row, "balance", bal);
    if (!rc)
        rc = orbit_table_update(t, tx, row);
    orbit_row_free(row);
    return rc;
}

/* One transfer: two rows, one point, one edge, all in tx. */
static int transfer_fn(orbit_tx *tx, void *arg)
{
    transfer *x = arg;
    (*x->attempts)++;
    char from[16], to[16], rel[32];
    acct_name(from, sizeof from, x->from);
    acct_name(to, sizeof to, x->to);
    int64_t bf, bt;
    int rc = read_balance(x->w->accounts, tx, from, &bf);
    if (!rc)
        rc = read_balance(x->w->accounts, tx, to, &bt);
    if (!rc)
        rc = write_balance(x->w->accounts, tx, from, bf - x->amount);
    if (!rc)
        rc = write_balance(x->w->accounts, tx, to, bt + x->amount);
    if (rc)
        return rc;
    orbit_ts_value v = {ORBIT_TS_INT64, x->amount, 0, 0, NULL, 0};
    if ((rc = orbit_ts_add(tx, x->w->log, x->uid * 1000, 0, &v, ORBIT_TS_DUP_BLOCK)))
        return rc;
    snprintf(rel, sizeof rel, "t%lld", (long long)x->uid);
    orbit_graph_edge_opts eo = {0};
    eo.set_weight = 1;
    eo.weight = (double)x->amount;
    return orbit_graph_add_edge(tx, x->w->moves, from, strlen(from), rel, to, strlen(to), &eo);
}

static void *worker_main(void *arg)
{
    worker *k = arg;
    unsigned seed = 0x9e3779b9u * (unsigned)(k->thread + 1);
    for (int i = 0; i < k->w->per_thread; i++) {
        seed = seed * 1103515245u + 12345u;
        int from = (int)((seed >> 16) % NACCOUNTS);
        seed = seed * 1103515245u + 12345u;
        int to = (int)((seed >> 16) % (NACCOUNTS - 1));
        if (to >= from)
            to++;
        seed = seed * 1103515245u + 12345u;
        transfer x = {k->w, from, to, 1 + (int64_t)((seed >> 16) % 100),
                      (int64_t)k->thread * 100000 + i, &k->attempts};
        int rc = orbit_tx_run(NULL, 500, transfer_fn, &x);
        if (rc == 0)
            k->committed++;
        else if (orbit_err_retryable(rc))
            k->gave_up++;
        else if (!k->bad) {
            k->bad = 1;
            k->bad_rc = rc;
            snprintf(k->bad_detail, sizeof k->bad_detail, "%s", orbit_last_error_detail());
        }
    }
    return NULL;
}

typedef struct sum_arg {
    int64_t total;
    int rows;
} sum_arg;

static int sum_rows(void *arg, const orbit_row *row)
{
    sum_arg *s = arg;
    int64_t b;
    int rc = orbit_row_get_int(row, "balance", &b);
    if (rc)
        return rc;
    s->total += b;
    s->rows++;
    return 0;
}

static int count_points(void *arg, const orbit_ts_point *p)
{
    (void)p;
    (*(size_t *)arg)++;
    return 0;
}

static void test_transfers_keep_the_invariant(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_capabilities caps;
    orbit_kv_capabilities(s.kv, &caps);
    world w = {0};
    w.per_thread = caps.type == ORBIT_PROVIDER_DISTRIBUTED ? 25 : 50;
    mt_check(orbit_actor_open(s.kv, "bank", "main", &w.a), 0);

    orbit_column_def cols[] = {
        {"id", ORBIT_COL_TEXT, 0, 0, {0}, NULL},
        {"balance", ORBIT_COL_INT64, 0, 0, {0}, NULL},
    };
    const char *pk[] = {"id"};
    orbit_table_def def = {cols, 2, pk, 1};
    mt_check(orbit_table_create(w.a, "accounts", &def, &w.accounts), 0);
    for (int i = 0; i < NACCOUNTS; i++) {
        char id[16];
        acct_name(id, sizeof id, i);
        orbit_row *r;
        mt_check(orbit_row_new(&r), 0);
        mt_check(orbit_row_set_text(r, "id", id), 0);
        mt_check(orbit_row_set_int(r, "balance", INITIAL), 0);
        mt_check(orbit_table_insert(w.accounts, NULL, r), 0);
        orbit_row_free(r);
    }
    orbit_ts_create_opts to = {0};
    to.type = ORBIT_TS_INT64;
    to.ngrans = 1;
    to.grans_ms[0] = 1000; /* one bucket per transfer: rows are the contention */
    mt_check(orbit_ts_create(NULL, w.a, "transfers", &to), 0);
    mt_check(orbit_ts_open(NULL, w.a, "transfers", &w.log), 0);
    orbit_graph_opts go = {0};
    go.endpoint_table = "accounts";
    mt_check(orbit_graph_create(NULL, w.a, "moves", &go, &w.moves), 0);

    pthread_t th[NTHREADS];
    worker k[NTHREADS];
    memset(k, 0, sizeof k);
    for (int i = 0; i < NTHREADS; i++) {
        k[i].w = &w;
        k[i].thread = i;
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &k[i]), 0);
    }
    int committed = 0, gave_up = 0, attempts = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        if (k[i].bad)
            fprintf(stderr, "thread %d: %s: %s\n", i, orbit_err_name(k[i].bad_rc),
                    k[i].bad_detail);
        assert_int_equal(k[i].bad, 0);
        committed += k[i].committed;
        gave_up += k[i].gave_up;
        attempts += k[i].attempts;
    }
    fprintf(stderr, "invariant: %d transfers committed, %d gave up, %d attempts\n", committed,
            gave_up, attempts);
    assert_true(committed > 0);

    /* The total is unchanged. */
    sum_arg sum = {0, 0};
    mt_check(orbit_table_scan(w.accounts, NULL, 0, 0, sum_rows, &sum), 0);
    assert_int_equal(sum.rows, NACCOUNTS);
    assert_int_equal(sum.total, (int64_t)NACCOUNTS * INITIAL);

    /* One point per committed transfer. */
    size_t points = 0;
    mt_check(orbit_ts_range(NULL, w.log, INT64_MIN, INT64_MAX, NULL, count_points, &points), 0);
    assert_int_equal(points, (size_t)committed);

    /* One edge per committed transfer, seen from both ends. */
    size_t out_edges = 0, in_edges = 0;
    orbit_graph_list l;
    orbit_graph_list_init(&l);
    for (int i = 0; i < NACCOUNTS; i++) {
        char id[16];
        acct_name(id, sizeof id, i);
        mt_check(orbit_graph_neighbors(NULL, w.moves, id, strlen(id), ORBIT_GRAPH_OUT, NULL, &l), 0);
        out_edges += l.n;
        mt_check(orbit_graph_neighbors(NULL, w.moves, id, strlen(id), ORBIT_GRAPH_IN, NULL, &l), 0);
        in_edges += l.n;
    }
    orbit_graph_list_release(&l);
    assert_int_equal(out_edges, (size_t)committed);
    assert_int_equal(in_edges, (size_t)committed);

    orbit_graph_close(w.moves);
    orbit_ts_close(w.log);
    orbit_table_close(w.accounts);
    orbit_actor_close(w.a);
    mt_close(&s);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transfers_keep_the_invariant),
    };
    return mt_main(argc, argv, tests, sizeof tests / sizeof tests[0]);
}
