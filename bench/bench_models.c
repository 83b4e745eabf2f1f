/*
 * The model benchmark (issue 8; run by bench/models.sh from `make bench`).
 *
 * In one run, on RocksDB, each model's write path against raw provider
 * batch puts (orbit_kv_write) of the same number of keys and bytes in the
 * same number of batches, each on a fresh store:
 *   - time-series ingest, orbit_ts_madd in batches of 1000 points;
 *   - relational inserts into a table with two secondary indexes, 1000
 *     rows per transaction, counted as keys written (rows + index entries);
 *   - vector puts, orbit_vec_put_many of 1000 vectors.
 * "Keys written" are the keys the workload leaves in its object's key
 * range (counted by a scan afterwards), and their key + value bytes are the
 * bytes the raw run writes; rewrites (time-series rollups rewritten by every
 * batch) and reads (index uniqueness, rollups read for update) are Orbit's
 * cost. The figure is keys written per second, by wall clock.
 *
 * Then: exact top-10 search (L2) over the vectors just put (default 100k
 * of 128 dims), single thread, in queries/s, next to a numpy brute-force
 * scan of the same vectors (written to a file here, loaded by
 * /usr/bin/python3) in the same run, with the top-10 ids compared; and,
 * when BM_ETCD_URI names an etcd store, a graph there and 3-hop
 * traversals, in read calls per query and queries/s.
 *
 * Sizes from the environment (defaults in brackets): BM_DIR [.] where the
 * RocksDB stores go, BM_TS_POINTS [200000], BM_REL_ROWS [100000],
 * BM_VEC_N [100000], BM_VEC_DIM [128], BM_QUERIES [20], BM_ETCD_URI [unset],
 * BM_GRAPH_NODES [500], BM_GRAPH_DEGREE [4], BM_HOP_QUERIES [200],
 * BM_PYTHON [/usr/bin/python3].
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "orbit/orbit.h"
#include "orbit/codec.h"
#include "orbit/graph.h"
#include "orbit/relational.h"
#include "orbit/timeseries.h"
#include "orbit/vector.h"

#define BATCH 1000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t env_size(const char *name, size_t def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || n == 0) {
        fprintf(stderr, "bench_models: %s=%s is not a positive number\n", name, v);
        exit(2);
    }
    return (size_t)n;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_models: %s: %s (%s)\n", what, orbit_err_name(rc),
            orbit_last_error_detail());
    exit(1);
}

#define CHECK(what, expr)                                                                    \
    do {                                                                                     \
        int rc_ = (expr);                                                                    \
        if (rc_)                                                                             \
            die(what, rc_);                                                                  \
    } while (0)

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static float rand_unit(void) { return (float)((next_rand() >> 40) / 16777216.0) * 2.0f - 1.0f; }

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void rm_rf(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

typedef struct store {
    char dir[4096];
    orbit_kv *kv;
} store;

static const char *base_dir;

static void store_open(store *s, const char *tag)
{
    snprintf(s->dir, sizeof s->dir, "%s/bench-models-%s-XXXXXX", base_dir, tag);
    if (!mkdtemp(s->dir)) {
        perror("bench_models: mkdtemp");
        exit(1);
    }
    char uri[4200];
    snprintf(uri, sizeof uri, "rocksdb:%s", s->dir);
    CHECK("open rocksdb", orbit_kv_open(uri, &s->kv));
}

static void store_close(store *s)
{
    orbit_kv_close(s->kv);
    s->kv = NULL;
    rm_rf(s->dir);
}

/* Keys and key + value bytes under prefix (one scan). */
static void count_range(orbit_kv *kv, const orbit_buf *prefix, size_t *keys, size_t *bytes)
{
    orbit_scan_opts so = {0};
    so.prefix = prefix->data;
    so.prefix_len = prefix->len;
    orbit_iter *it;
    CHECK("count scan", orbit_kv_iter(kv, NULL, &so, &it));
    const uint8_t *k, *v;
    size_t kl, vl;
    int rc;
    *keys = *bytes = 0;
    while ((rc = orbit_iter_next(it, &k, &kl, &v, &vl)) == 0) {
        (*keys)++;
        *bytes += kl + vl;
    }
    if (rc != ORBIT_NOTFOUND)
        die("count scan", rc);
    orbit_iter_close(it);
}

typedef struct result {
    const char *name;
    size_t keys, bytes, batches;
    double orbit_s, raw_s;
    orbit_kv_stats s0, s1; /* the store's counters around the timed part */
} result;

/* Raw writes of `keys` keys and `bytes` bytes in `batches` batches on a
 * fresh store, returning the seconds: orbit_kv_write batches (txn 0), or
 * contract transactions of orbit_txn_put (txn 1). Keys are "raw/" + a
 * zero-padded counter at the average key length, values the average
 * value length. */
static double raw_puts(size_t keys, size_t bytes, size_t batches, size_t avg_key, int txn)
{
    store s;
    store_open(&s, txn ? "rawtxn" : "raw");
    if (avg_key < 12)
        avg_key = 12;
    size_t avg_val = bytes / keys > avg_key ? bytes / keys - avg_key : 1;
    uint8_t *val = malloc(avg_val);
    for (size_t i = 0; i < avg_val; i++)
        val[i] = i < avg_val / 2 ? (uint8_t)next_rand() : val[i - avg_val / 2];
    char key[256];
    orbit_batch *b;
    CHECK("batch", orbit_batch_new(&b));
    size_t per = (keys + batches - 1) / batches, done = 0;
    double t0 = now_s();
    while (done < keys) {
        orbit_txn *t = NULL;
        if (txn)
            CHECK("raw txn", orbit_kv_txn_begin(s.kv, NULL, &t));
        else
            orbit_batch_clear(b);
        for (size_t i = 0; i < per && done < keys; i++, done++) {
            snprintf(key, sizeof key, "raw/%0*zu", (int)(avg_key - 4), done);
            val[0] = (uint8_t)done; /* not all values alike */
            if (txn)
                CHECK("txn put", orbit_txn_put(t, (const uint8_t *)key, avg_key, val, avg_val));
            else
                CHECK("batch put", orbit_batch_put(b, (const uint8_t *)key, avg_key, val, avg_val));
        }
        if (txn)
            CHECK("raw commit", orbit_txn_commit(t));
        else
            CHECK("raw write", orbit_kv_write(s.kv, b));
    }
    double t = now_s() - t0;
    orbit_batch_free(b);
    free(val);
    store_close(&s);
    return t;
}

static void finish(result *r, orbit_kv *kv, const orbit_buf *prefix)
{
    count_range(kv, prefix, &r->keys, &r->bytes);
}

/* ---- time series ------------------------------------------------------ */

static void bench_ts(size_t npoints, result *r)
{
    store s;
    store_open(&s, "ts");
    orbit_actor *a;
    CHECK("actor", orbit_actor_open(s.kv, "bench", "ts", &a));
    orbit_ts_create_opts o = {0};
    o.type = ORBIT_TS_FLOAT64;
    CHECK("ts create", orbit_ts_create(NULL, a, "cpu", &o));
    orbit_series *se;
    CHECK("ts open", orbit_ts_open(NULL, a, "cpu", &se));
    orbit_ts_point *p = malloc(BATCH * sizeof *p);
    r->name = "time-series ingest (madd, 1000 points per batch)";
    r->batches = 0;
    orbit_kv_stats_get(s.kv, &r->s0);
    double t0 = now_s();
    for (size_t done = 0; done < npoints;) {
        size_t n = npoints - done < BATCH ? npoints - done : BATCH;
        for (size_t i = 0; i < n; i++) {
            p[i].ts = (int64_t)(done + i) * 10; /* one point per 10 ms */
            p[i].seq = 0;
            p[i].v = (orbit_ts_value){ORBIT_TS_FLOAT64, 0, (double)rand_unit() * 100.0, 0, NULL, 0};
        }
        size_t w = 0;
        CHECK("ts madd", orbit_ts_madd(NULL, se, p, n, ORBIT_TS_DUP_LAST, &w));
        done += n;
        r->batches++;
    }
    r->orbit_s = now_s() - t0;
    orbit_kv_stats_get(s.kv, &r->s1);
    orbit_buf prefix = ORBIT_BUF_INIT;
    orbit_key_object_prefix(&prefix, orbit_actor_keyspace(a), ORBIT_PREFIX_TS, orbit_ts_id(se));
    finish(r, s.kv, &prefix);
    orbit_buf_release(&prefix);
    free(p);
    orbit_ts_close(se);
    orbit_actor_close(a);
    store_close(&s);
}

/* ---- relational ------------------------------------------------------- */

static void bench_rel(size_t nrows, result *r)
{
    store s;
    store_open(&s, "rel");
    orbit_actor *a;
    CHECK("actor", orbit_actor_open(s.kv, "bench", "rel", &a));
    orbit_column_def cols[] = {
        {"id", ORBIT_COL_INT64, 0, 0, {0}, NULL},
        {"email", ORBIT_COL_TEXT, 0, 0, {0}, NULL},
        {"city", ORBIT_COL_TEXT, 0, 0, {0}, NULL},
        {"score", ORBIT_COL_FLOAT64, 1, 0, {0}, NULL},
    };
    const char *pk[] = {"id"};
    orbit_table_def def = {cols, 4, pk, 1};
    orbit_table *t;
    CHECK("table", orbit_table_create(a, "users", &def, &t));
    const char *c1[] = {"email"}, *c2[] = {"city"};
    orbit_index_def i1 = {"by_email", c1, 1, 1}, i2 = {"by_city", c2, 1, 0};
    CHECK("index 1", orbit_table_create_index(t, &i1, NULL));
    CHECK("index 2", orbit_table_create_index(t, &i2, NULL));
    orbit_row *row;
    CHECK("row", orbit_row_new(&row));
    r->name = "relational inserts (2 secondary indexes, 1000 rows per tx)";
    r->batches = 0;
    char email[64], city[32];
    orbit_kv_stats_get(s.kv, &r->s0);
    double t0 = now_s();
    for (size_t done = 0; done < nrows;) {
        orbit_tx *tx;
        CHECK("tx", orbit_tx_begin(NULL, &tx));
        size_t n = nrows - done < BATCH ? nrows - done : BATCH;
        for (size_t i = 0; i < n; i++) {
            size_t id = done + i;
            snprintf(email, sizeof email, "user%zu@example.com", id);
            snprintf(city, sizeof city, "city%03u", (unsigned)(next_rand() % 500));
            orbit_row_clear(row);
            CHECK("set", orbit_row_set_int(row, "id", (int64_t)id));
            CHECK("set", orbit_row_set_text(row, "email", email));
            CHECK("set", orbit_row_set_text(row, "city", city));
            CHECK("set", orbit_row_set_double(row, "score", (double)rand_unit()));
            CHECK("insert", orbit_table_insert(t, tx, row));
        }
        CHECK("commit", orbit_tx_commit(tx));
        done += n;
        r->batches++;
    }
    r->orbit_s = now_s() - t0;
    orbit_kv_stats_get(s.kv, &r->s1);
    orbit_buf prefix = ORBIT_BUF_INIT;
    orbit_key_object_prefix(&prefix, orbit_actor_keyspace(a), ORBIT_PREFIX_REL, orbit_table_id(t));
    finish(r, s.kv, &prefix);
    orbit_buf_release(&prefix);
    orbit_row_free(row);
    orbit_table_close(t);
    orbit_actor_close(a);
    store_close(&s);
}

/* ---- vectors: puts, then exact search next to numpy --------------------- */

static const char *PY =
    "import sys, time, numpy as np\n"
    "n, d, q = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])\n"
    "X = np.fromfile(sys.argv[1] + '.vec', dtype='<f4').reshape(n, d)\n"
    "Q = np.fromfile(sys.argv[1] + '.qry', dtype='<f4').reshape(q, d)\n"
    "norms = np.einsum('ij,ij->i', X, X)\n"
    "out = []\n"
    "t0 = time.perf_counter()\n"
    "for i in range(q):\n"
    "    dist = norms - 2.0 * (X @ Q[i])\n"
    "    top = np.argpartition(dist, 10)[:10]\n"
    "    top = top[np.argsort(dist[top], kind='stable')]\n"
    "    out.append(top)\n"
    "t = time.perf_counter() - t0\n"
    "print('qps %.3f' % (q / t))\n"
    "for top in out:\n"
    "    print(' '.join(str(int(j)) for j in top))\n"
    "print('numpy %s' % np.__version__)\n";

typedef struct vec_run {
    double orbit_qps, numpy_qps;
    size_t agree, queries;
    char numpy_version[32];
    int numpy_ok;
} vec_run;

static void bench_vec(size_t n, uint32_t dim, size_t nq, const char *python, result *r, vec_run *vr)
{
    store s;
    store_open(&s, "vec");
    orbit_actor *a;
    CHECK("actor", orbit_actor_open(s.kv, "bench", "vec", &a));
    CHECK("coll", orbit_vec_coll_create(a, "emb", dim, ORBIT_VEC_L2));
    orbit_vec_coll *c;
    CHECK("coll open", orbit_vec_coll_open(a, "emb", &c));
    float *all = malloc(n * dim * sizeof(float));
    for (size_t i = 0; i < n * dim; i++)
        all[i] = rand_unit();
    char (*ids)[16] = malloc(BATCH * sizeof *ids);
    orbit_vec_item *items = malloc(BATCH * sizeof *items);
    r->name = "vector puts (put_many, 1000 vectors of 128 dims)";
    r->batches = 0;
    orbit_kv_stats_get(s.kv, &r->s0);
    double t0 = now_s();
    for (size_t done = 0; done < n;) {
        size_t m = n - done < BATCH ? n - done : BATCH;
        for (size_t i = 0; i < m; i++) {
            snprintf(ids[i], sizeof ids[i], "v%07zu", done + i);
            items[i] = (orbit_vec_item){ids[i], strlen(ids[i]), all + (done + i) * dim, dim,
                                        NULL, 0};
        }
        CHECK("put_many", orbit_vec_put_many(NULL, c, m, items));
        done += m;
        r->batches++;
    }
    r->orbit_s = now_s() - t0;
    orbit_kv_stats_get(s.kv, &r->s1);
    orbit_buf prefix = ORBIT_BUF_INIT;
    orbit_key_object_prefix(&prefix, orbit_actor_keyspace(a), ORBIT_PREFIX_VEC, orbit_vec_coll_id(c));
    finish(r, s.kv, &prefix);

    /* Exact search: queries drawn like the data. */
    float *qs = malloc(nq * dim * sizeof(float));
    for (size_t i = 0; i < nq * dim; i++)
        qs[i] = rand_unit();
    size_t (*mine)[10] = calloc(nq, sizeof *mine);
    orbit_vec_search_opts so = {0};
    so.k = 10;
    /* one untimed query warms the block cache */
    orbit_vec_hit *hits;
    size_t nh;
    CHECK("search", orbit_vec_search(NULL, c, qs, dim, &so, &hits, &nh));
    orbit_vec_hits_free(hits, nh);
    t0 = now_s();
    for (size_t q = 0; q < nq; q++) {
        CHECK("search", orbit_vec_search(NULL, c, qs + q * dim, dim, &so, &hits, &nh));
        for (size_t j = 0; j < nh && j < 10; j++)
            mine[q][j] = strtoul((const char *)hits[j].id + 1, NULL, 10);
        orbit_vec_hits_free(hits, nh);
    }
    vr->orbit_qps = (double)nq / (now_s() - t0);
    vr->queries = nq;

    /* numpy on the same vectors and queries. */
    char base[4200], path[4300], cmd[9000];
    snprintf(base, sizeof base, "%s/topk", s.dir);
    snprintf(path, sizeof path, "%s.vec", base);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(all, sizeof(float), n * dim, f) != n * dim || fclose(f)) {
        perror("bench_models: vectors file");
        exit(1);
    }
    snprintf(path, sizeof path, "%s.qry", base);
    f = fopen(path, "wb");
    if (!f || fwrite(qs, sizeof(float), nq * dim, f) != nq * dim || fclose(f)) {
        perror("bench_models: queries file");
        exit(1);
    }
    snprintf(path, sizeof path, "%s.py", base);
    f = fopen(path, "w");
    if (!f || fputs(PY, f) < 0 || fclose(f)) {
        perror("bench_models: script");
        exit(1);
    }
    snprintf(cmd, sizeof cmd, "'%s' '%s.py' '%s' %zu %u %zu", python, base, base, n, dim, nq);
    FILE *p = popen(cmd, "r");
    vr->numpy_ok = 0;
    vr->agree = 0;
    if (p) {
        char line[1024];
        size_t q = 0;
        while (fgets(line, sizeof line, p)) {
            if (strncmp(line, "qps ", 4) == 0) {
                vr->numpy_qps = atof(line + 4);
                vr->numpy_ok = 1;
            } else if (strncmp(line, "numpy ", 6) == 0) {
                snprintf(vr->numpy_version, sizeof vr->numpy_version, "%.*s",
                         (int)strcspn(line + 6, "\n"), line + 6);
            } else if (q < nq) {
                size_t same = 1;
                char *e = line;
                for (size_t j = 0; j < 10; j++) {
                    size_t v = strtoul(e, &e, 10);
                    if (v != mine[q][j])
                        same = 0;
                }
                vr->agree += same;
                q++;
            }
        }
        if (pclose(p) != 0)
            vr->numpy_ok = 0;
    }
    free(mine);
    free(qs);
    orbit_buf_release(&prefix);
    free(items);
    free(ids);
    free(all);
    orbit_vec_coll_close(c);
    orbit_actor_close(a);
    store_close(&s);
}

/* ---- 3-hop traversal on etcd -------------------------------------------- */

static void bench_graph(const char *uri, size_t nodes, size_t degree, size_t nq)
{
    orbit_kv *kv;
    CHECK("open etcd", orbit_kv_open(uri, &kv));
    orbit_capabilities caps;
    orbit_kv_capabilities(kv, &caps);
    orbit_actor *a;
    CHECK("actor", orbit_actor_open(kv, "bench", "graph", &a));
    orbit_graph *g;
    CHECK("graph", orbit_graph_create(NULL, a, "social", NULL, &g));
    char id[32], to[32];
    /* nodes, then edges, in transactions under the provider's key limit */
    size_t per = caps.max_txn_keys ? caps.max_txn_keys / 8 : 200;
    if (per > 200)
        per = 200;
    if (per < 1)
        per = 1;
    double t0 = now_s();
    for (size_t done = 0; done < nodes;) {
        orbit_tx *tx;
        CHECK("tx", orbit_tx_begin(NULL, &tx));
        for (size_t i = 0; i < per && done < nodes; i++, done++) {
            snprintf(id, sizeof id, "n%06zu", done);
            CHECK("node", orbit_graph_add_node(tx, g, id, strlen(id), NULL, 0, NULL, 0));
        }
        CHECK("commit", orbit_tx_commit(tx));
    }
    size_t edges = 0;
    for (size_t src = 0; src < nodes;) {
        orbit_tx *tx;
        CHECK("tx", orbit_tx_begin(NULL, &tx));
        for (size_t i = 0; i < per / degree + 1 && src < nodes; i++, src++) {
            snprintf(id, sizeof id, "n%06zu", src);
            for (size_t e = 0; e < degree; e++) {
                size_t dst = (size_t)(next_rand() % nodes);
                snprintf(to, sizeof to, "n%06zu", dst);
                orbit_graph_edge_opts eo = {0};
                eo.flags = ORBIT_GRAPH_REPLACE; /* a repeated target replaces */
                CHECK("edge", orbit_graph_add_edge(tx, g, id, strlen(id), "follows", to,
                                                   strlen(to), &eo));
                edges++;
            }
        }
        CHECK("commit", orbit_tx_commit(tx));
    }
    double build_s = now_s() - t0;
    /* untimed warm-up */
    orbit_graph_list l;
    orbit_graph_list_init(&l);
    orbit_graph_hop_opts ho = {0};
    ho.depth = 3;
    CHECK("traverse", orbit_graph_traverse(NULL, g, "n000000", 7, &ho, &l));
    orbit_kv_stats s0, s1;
    orbit_kv_stats_get(kv, &s0);
    size_t reached = 0;
    t0 = now_s();
    for (size_t q = 0; q < nq; q++) {
        snprintf(id, sizeof id, "n%06zu", (size_t)(next_rand() % nodes));
        CHECK("traverse", orbit_graph_traverse(NULL, g, id, strlen(id), &ho, &l));
        reached += l.n;
    }
    double t = now_s() - t0;
    orbit_kv_stats_get(kv, &s1);
    printf("graph on %s: %zu nodes, %zu edges (out-degree %zu), built in %.1f s\n", caps.name,
           nodes, edges, degree, build_s);
    printf("3-hop traversal (OUT, every relation, no tx: one snapshot per query): %zu queries\n",
           nq);
    printf("  %.1f queries/s, %.2f read calls/query (multi-gets %.2f/query), %.1f keys "
           "read/query, %.1f nodes reached/query\n",
           (double)nq / t, (double)(s1.read_calls - s0.read_calls) / (double)nq,
           (double)(s1.multi_gets - s0.multi_gets) / (double)nq,
           (double)(s1.keys_read - s0.keys_read) / (double)nq, (double)reached / (double)nq);
    orbit_graph_list_release(&l);
    /* Not dropped: orbit_graph_drop is one transaction, over etcd's
     * max_txn_keys for this graph; bench/models.sh stops the cluster. */
    orbit_graph_close(g);
    orbit_actor_close(a);
    orbit_kv_close(kv);
}

static void print_result(const result *r, size_t avg_key)
{
    double raw_s = raw_puts(r->keys, r->bytes, r->batches, avg_key, 0);
    double txn_s = raw_puts(r->keys, r->bytes, r->batches, avg_key, 1);
    double o = (double)r->keys / r->orbit_s, w = (double)r->keys / raw_s,
           x = (double)r->keys / txn_s;
    printf("%s\n", r->name);
    printf("  %zu keys, %zu bytes (keys + values), %zu batches; orbit made %.2f provider reads "
           "(read calls) and %.2f puts per key\n",
           r->keys, r->bytes, r->batches,
           (double)(r->s1.read_calls - r->s0.read_calls) / (double)r->keys,
           (double)(r->s1.puts - r->s0.puts) / (double)r->keys);
    printf("  orbit %9.0f keys/s | raw orbit_kv_write %9.0f keys/s, ratio %.2f (target >= "
           "0.80) | raw orbit_txn_put+commit %9.0f keys/s, ratio %.2f\n",
           o, w, o / w, x, o / x);
}

int main(void)
{
    base_dir = getenv("BM_DIR") && *getenv("BM_DIR") ? getenv("BM_DIR") : ".";
    size_t ts_points = env_size("BM_TS_POINTS", 200000);
    size_t rel_rows = env_size("BM_REL_ROWS", 100000);
    size_t vec_n = env_size("BM_VEC_N", 100000);
    size_t vec_dim = env_size("BM_VEC_DIM", 128);
    size_t queries = env_size("BM_QUERIES", 20);
    size_t gnodes = env_size("BM_GRAPH_NODES", 500);
    size_t gdeg = env_size("BM_GRAPH_DEGREE", 4);
    size_t hops = env_size("BM_HOP_QUERIES", 200);
    const char *python = getenv("BM_PYTHON") && *getenv("BM_PYTHON") ? getenv("BM_PYTHON")
                                                                      : "/usr/bin/python3";
    const char *etcd = getenv("BM_ETCD_URI");
    if (vec_dim > ORBIT_VEC_DIM_MAX) {
        fprintf(stderr, "bench_models: BM_VEC_DIM over %d\n", ORBIT_VEC_DIM_MAX);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("orbit bench models: rocksdb stores under %s, batches of %d\n", base_dir, BATCH);

    result r;
    vec_run vr = {0};
    memset(&r, 0, sizeof r);
    bench_ts(ts_points, &r);
    print_result(&r, 30);
    memset(&r, 0, sizeof r);
    bench_rel(rel_rows, &r);
    print_result(&r, 30);
    memset(&r, 0, sizeof r);
    bench_vec(vec_n, (uint32_t)vec_dim, queries, python, &r, &vr);
    print_result(&r, 24);

    printf("exact top-10 search (L2), %zu vectors of %zu dims, single thread, %zu queries\n",
           vec_n, vec_dim, queries);
    printf("  orbit_vec_search %8.2f queries/s (rocksdb, no tx: one snapshot, one scan)\n",
           vr.orbit_qps);
    if (vr.numpy_ok)
        printf("  numpy %-10s %8.2f queries/s (%s, float32 X @ q with precomputed norms, "
               "argpartition)\n  top-10 ids equal to numpy's in %zu of %zu queries\n",
               vr.numpy_version, vr.numpy_qps, python, vr.agree, vr.queries);
    else
        printf("  numpy: not measured (%s with numpy failed)\n", python);

    if (etcd && *etcd)
        bench_graph(etcd, gnodes, gdeg, hops);
    else
        printf("3-hop traversal: not measured (BM_ETCD_URI unset)\n");
    return 0;
}
