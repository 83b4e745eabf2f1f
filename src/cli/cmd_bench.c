/*
 * `orbit bench kv`: what Orbit's full path costs over the engine under it.
 * On an etcd store (--store etcd://...) that is the etcd benchmark of
 * bench_etcd.c; on any other store, the RocksDB comparison below, which
 * opens its own directories and does not use --store.
 *
 * The RocksDB comparison: what Orbit's full path costs over RocksDB itself.
 * One process, one run, four engines on fresh directories with the same
 * RocksDB settings (those of Orbit's rocksdb provider by default: WAL on,
 * sync off, a 64 MiB LRU block cache, LZ4, a 10-bit bloom filter):
 *   raw-db     rocksdb_open + rocksdb_put / rocksdb_get_pinned
 *   raw-txndb  rocksdb_transactiondb_open (lock timeout 0, as Orbit's
 *              pessimistic mode) + rocksdb_transactiondb_put / _get_pinned
 *   orbit      orbit_kv_open("rocksdb:...") + orbit_str_put /
 *              orbit_str_get_with: contract layer, tuple key encoding,
 *              record envelope and checksum, on the provider's default
 *              (txn=optimistic: plain operations go to the base DB)
 *   orbit-pessimistic  the same with txn=pessimistic (a TransactionDB)
 * Each Orbit mode is compared with the raw engine of the same settings:
 * orbit with raw-db, orbit-pessimistic with raw-txndb.
 *
 * Each engine gets the same workload through the same loop (one indirect
 * call per operation for all three): an untimed warm-up of puts to
 * separate keys, N puts of "key%010u" in key order with pseudo-random
 * values (half random, half a repeat by default, so compressible as
 * db_bench's are; --random-pct 100 makes them incompressible), an untimed
 * warm-up of random gets, and N gets in a seeded
 * shuffled order, each checked to find its value. With --rounds R the
 * sequence runs R times, rotating which engine goes first, and the median
 * of each figure is reported. Keys are formatted by hand, not snprintf, so
 * the harness's own cost stays small next to the engines'.
 *
 * Figures are operations per wall-clock second and per CPU-second of the
 * calling thread: on a shared machine the first swings with other load,
 * the second much less (it leaves out RocksDB's background flushes and
 * compactions, which the wall clock includes). --only ENGINE runs one
 * engine alone, for a profiler.
 *
 * Each comparison is built with its provider (ORBIT_HAVE_ROCKSDB,
 * ORBIT_HAVE_ETCD: the build options ORBIT_WITH_ROCKSDB, ORBIT_WITH_ETCD);
 * one that is not built is refused with a message saying so.
 */
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#ifdef ORBIT_HAVE_ROCKSDB
#include <rocksdb/c.h>
#endif

#ifdef ORBIT_HAVE_ETCD
#include "cli/bench_etcd.h"
#endif
#include "cli/cli.h"
#include "orbit/provider.h"
#include "orbit/strings.h"

const char orbit__usage_bench[] =
    "  orbit bench kv [--keys N] [--value-size B] [--rounds R] [--seed S]\n"
    "                 [--cache-mb M] [--compression none|snappy|lz4|zstd]\n"
    "                 [--random-pct P] [--dir D]\n"
    "                 [--only raw-db|raw-txndb|orbit|orbit-pessimistic]\n"
    "                        on a rocksdb: store (the default): raw RocksDB vs Orbit's\n"
    "                        full path, puts and random gets, in fresh directories under D\n"
    "                        that it removes (also when interrupted); the store itself is\n"
    "                        not used. Defaults: --keys 1000000 --value-size 100\n"
    "                        --rounds 1 --seed 42 --cache-mb 64 --compression lz4\n"
    "                        --random-pct 50 --dir $TMPDIR (else /tmp), all engines\n"
    "  orbit --store etcd://HOST:PORT[,...][?namespace=NS] bench kv\n"
    "                 [--ops N] [--depth D]\n"
    "                        Orbit's etcd provider vs the same etcd calls "
    "made bare,\n"
    "                        D operations in flight (keys NS\"bench/...\", "
    "deleted after);\n"
    "                        defaults: --ops 10000 --depth 64\n"
    "                        (no benchmark for memory: stores: it is refused)\n";

#ifdef ORBIT_HAVE_ROCKSDB

#define KEY_LEN 13 /* "key" + 10 digits */
#define POOL_LEN ((size_t)1 << 20)
#define WARMUP_MAX 10000u
#define NENGINES 4
#define MAX_ROUNDS 99

typedef struct bench_conf {
    uint64_t keys;
    uint64_t value_size;
    uint64_t rounds;
    uint64_t seed;
    uint64_t cache_mb;
    uint64_t random_pct; /* share of each value piece that is random */
    const char *compression; /* a name both RocksDB setups understand */
    const char *dir;
    const char *only; /* NULL, or the one engine to run (for profiling) */
} bench_conf;

/* ---- the engines ----------------------------------------------------- */

typedef struct engine_state {
    rocksdb_t *db;
    rocksdb_transactiondb_t *tdb;
    rocksdb_readoptions_t *ro;
    rocksdb_writeoptions_t *wo;
    orbit_kv *kv;
    size_t want_len; /* every value read must have this length */
} engine_state;

typedef struct engine {
    const char *name;
    const char *label;
    int (*open)(engine_state *s, const char *path, const bench_conf *c);
    int (*put)(engine_state *s, const char *k, size_t kl, const char *v,
               size_t vl);
    int (*get)(engine_state *s, const char *k, size_t kl);
    void (*close)(engine_state *s);
} engine;

static int raw_fail(const char *what, char *err)
{
    fprintf(stderr, "orbit: bench: rocksdb %s: %s\n", what, err);
    rocksdb_free(err);
    return -1;
}

static const struct {
    const char *name;
    int type;
} compressions[] = {
    {"none", rocksdb_no_compression},
    {"snappy", rocksdb_snappy_compression},
    {"lz4", rocksdb_lz4_compression},
    {"zstd", rocksdb_zstd_compression},
};

/* The names are those of Orbit's compression= URI option, so one word sets
 * up both sides; parse_args has checked it. */
static int compression_type(const char *name)
{
    for (size_t i = 0; i < sizeof compressions / sizeof compressions[0]; i++)
        if (strcmp(name, compressions[i].name) == 0)
            return compressions[i].type;
    return rocksdb_lz4_compression;
}

/* The options Orbit's rocksdb provider sets (src/providers/rocksdb/rdb.c),
 * so the raw baselines measure the same configuration. */
static rocksdb_options_t *raw_options(const bench_conf *c)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_block_based_table_options_t *bbo =
        rocksdb_block_based_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_compression(o, compression_type(c->compression));
    rocksdb_options_set_keep_log_file_num(o, 4);
    rocksdb_cache_t *cache = NULL;
    if (c->cache_mb) {
        cache = rocksdb_cache_create_lru((size_t)c->cache_mb << 20);
        rocksdb_block_based_options_set_block_cache(bbo, cache);
    } else {
        rocksdb_block_based_options_set_no_block_cache(bbo, 1);
    }
    rocksdb_block_based_options_set_filter_policy(
        bbo, rocksdb_filterpolicy_create_bloom(10));
    rocksdb_options_set_block_based_table_factory(o, bbo);
    rocksdb_block_based_options_destroy(bbo);
    if (cache)
        rocksdb_cache_destroy(cache);
    return o;
}

static void raw_io_options(engine_state *s)
{
    s->ro = rocksdb_readoptions_create();
    s->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s->wo, 0);
    rocksdb_writeoptions_disable_WAL(s->wo, 0);
}

static int rawdb_open(engine_state *s, const char *path, const bench_conf *c)
{
    rocksdb_options_t *o = raw_options(c);
    char *err = NULL;
    s->db = rocksdb_open(o, path, &err);
    rocksdb_options_destroy(o);
    if (err)
        return raw_fail("open", err);
    raw_io_options(s);
    return 0;
}

static int rawdb_put(engine_state *s, const char *k, size_t kl, const char *v,
                     size_t vl)
{
    char *err = NULL;
    rocksdb_put(s->db, s->wo, k, kl, v, vl, &err);
    return err ? raw_fail("put", err) : 0;
}

static int check_len(engine_state *s, size_t len)
{
    if (len != s->want_len) {
        fprintf(stderr, "orbit: bench: read %zu bytes, expected %zu\n", len,
                s->want_len);
        return -1;
    }
    return 0;
}

static int rawdb_get(engine_state *s, const char *k, size_t kl)
{
    char *err = NULL;
    rocksdb_pinnableslice_t *ps = rocksdb_get_pinned(s->db, s->ro, k, kl, &err);
    if (err)
        return raw_fail("get", err);
    if (!ps)
        return ORBIT_NOTFOUND;
    size_t vl;
    rocksdb_pinnableslice_value(ps, &vl);
    rocksdb_pinnableslice_destroy(ps);
    return check_len(s, vl);
}

static void raw_close(engine_state *s)
{
    if (s->db)
        rocksdb_close(s->db);
    if (s->tdb)
        rocksdb_transactiondb_close(s->tdb);
    if (s->ro)
        rocksdb_readoptions_destroy(s->ro);
    if (s->wo)
        rocksdb_writeoptions_destroy(s->wo);
}

static int rawtxn_open(engine_state *s, const char *path, const bench_conf *c)
{
    rocksdb_options_t *o = raw_options(c);
    rocksdb_transactiondb_options_t *tdo =
        rocksdb_transactiondb_options_create();
    rocksdb_transactiondb_options_set_default_lock_timeout(tdo, 0);
    rocksdb_transactiondb_options_set_transaction_lock_timeout(tdo, 0);
    char *err = NULL;
    s->tdb = rocksdb_transactiondb_open(o, tdo, path, &err);
    rocksdb_transactiondb_options_destroy(tdo);
    rocksdb_options_destroy(o);
    if (err)
        return raw_fail("transactiondb open", err);
    raw_io_options(s);
    return 0;
}

static int rawtxn_put(engine_state *s, const char *k, size_t kl,
                      const char *v, size_t vl)
{
    char *err = NULL;
    rocksdb_transactiondb_put(s->tdb, s->wo, k, kl, v, vl, &err);
    return err ? raw_fail("transactiondb put", err) : 0;
}

static int rawtxn_get(engine_state *s, const char *k, size_t kl)
{
    char *err = NULL;
    rocksdb_pinnableslice_t *ps =
        rocksdb_transactiondb_get_pinned(s->tdb, s->ro, k, kl, &err);
    if (err)
        return raw_fail("transactiondb get", err);
    if (!ps)
        return ORBIT_NOTFOUND;
    size_t vl;
    rocksdb_pinnableslice_value(ps, &vl);
    rocksdb_pinnableslice_destroy(ps);
    return check_len(s, vl);
}

static int orbit_open_mode(engine_state *s, const char *path,
                           const bench_conf *c, const char *txn)
{
    char uri[4096];
    int n = snprintf(uri, sizeof uri,
                     "rocksdb:%s?wal=on&sync=off&cache_mb=%llu"
                     "&compression=%s&txn=%s",
                     path, (unsigned long long)c->cache_mb, c->compression,
                     txn);
    if (n < 0 || (size_t)n >= sizeof uri) {
        fprintf(stderr, "orbit: bench: directory name too long\n");
        return -1;
    }
    orbit_error_clear();
    int rc = orbit_kv_open(uri, &s->kv);
    if (rc) {
        orbit__cli_fail(rc, "bench: open %s", uri);
        return -1;
    }
    return 0;
}

static int orbit_open_engine(engine_state *s, const char *path,
                             const bench_conf *c)
{
    return orbit_open_mode(s, path, c, "optimistic");
}

static int orbit_open_pessimistic(engine_state *s, const char *path,
                                  const bench_conf *c)
{
    return orbit_open_mode(s, path, c, "pessimistic");
}

static int orbit_put_engine(engine_state *s, const char *k, size_t kl,
                            const char *v, size_t vl)
{
    int rc = orbit_str_put(s->kv, NULL, (const uint8_t *)k, kl,
                           (const uint8_t *)v, vl);
    if (rc) {
        orbit__cli_fail(rc, "bench: put");
        return -1;
    }
    return 0;
}

static int take_len(void *arg, const uint8_t *val, size_t len)
{
    (void)val;
    *(size_t *)arg = len;
    return 0;
}

static int orbit_get_engine(engine_state *s, const char *k, size_t kl)
{
    size_t vl = 0;
    int rc = orbit_str_get_with(s->kv, NULL, (const uint8_t *)k, kl, take_len,
                                &vl);
    if (rc < 0) {
        orbit__cli_fail(rc, "bench: get");
        return -1;
    }
    if (rc == ORBIT_NOTFOUND)
        return rc;
    return check_len(s, vl);
}

static void orbit_close_engine(engine_state *s)
{
    orbit_kv_close(s->kv);
}

static const engine engines[NENGINES] = {
    {"raw-db", "raw RocksDB, DB", rawdb_open, rawdb_put, rawdb_get,
     raw_close},
    {"raw-txndb", "raw RocksDB, TransactionDB", rawtxn_open, rawtxn_put,
     rawtxn_get, raw_close},
    {"orbit", "Orbit, rocksdb default", orbit_open_engine,
     orbit_put_engine, orbit_get_engine, orbit_close_engine},
    {"orbit-pessimistic", "Orbit, rocksdb pessimistic", orbit_open_pessimistic,
     orbit_put_engine, orbit_get_engine, orbit_close_engine},
};

/* ---- stopping early ---------------------------------------------------
 * SIGINT and SIGTERM only set a flag (once: SA_RESETHAND, so a second one
 * kills at once); SIGPIPE is ignored, so a closed output pipe shows as
 * EPIPE on the next write, and stdout is polled for a closed reader every
 * STOP_POLL operations so that `| head -1` stops the run at once. The
 * workload loops check should_stop(); the command then closes the engine,
 * removes its directories and ends as the signal would have (re-raised
 * with the default action), or, on a closed pipe, by SIGPIPE. */

#define STOP_POLL 1024u

static volatile sig_atomic_t stop_signal;
static int stop_pipe;          /* the output's reader has gone */
static int stdout_is_pipe;
static unsigned stop_countdown;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

static void stop_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct stat st;
    stdout_is_pipe = fstat(STDOUT_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

/* Whether stdout's reader has closed its end. */
static int output_closed(void)
{
    if (!stdout_is_pipe)
        return 0;
    struct pollfd p = {STDOUT_FILENO, 0, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

static int should_stop(void)
{
    if (stop_signal || stop_pipe)
        return 1;
    if (++stop_countdown % STOP_POLL == 0 && output_closed())
        stop_pipe = 1;
    return stop_pipe;
}

/* After a printed line: a failed write means the pipe has closed. */
static void check_output(void)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        stop_pipe = 1;
}

/* Called after cleanup when the run was stopped: end as the cause would. */
static void stop_exit(const char *top)
{
    int sig = stop_signal ? (int)stop_signal : SIGPIPE;
    fprintf(stderr, "orbit: bench kv: %s; removed %s\n",
            stop_signal ? (sig == SIGINT ? "interrupted" : "terminated") : "output closed", top);
    signal(sig, SIG_DFL);
    raise(sig);
    _exit(128 + sig);
}

/* ---- the workload ---------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: fast, and deterministic for a given seed. */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void make_key(char *out, const char *prefix, uint32_t i)
{
    memcpy(out, prefix, 3);
    for (int d = 12; d >= 3; d--) {
        out[d] = (char)('0' + i % 10);
        i /= 10;
    }
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall-clock and calling-thread CPU time. The CPU figure leaves out time
 * the thread spent descheduled (other processes on a shared machine) or
 * waiting, and RocksDB's background threads, so it is the steadier
 * measure of what each call costs its caller. */
typedef struct stamp {
    double wall, cpu;
} stamp;

static stamp now(void)
{
    stamp t = {clock_s(CLOCK_MONOTONIC), clock_s(CLOCK_THREAD_CPUTIME_ID)};
    return t;
}

typedef struct workload {
    const bench_conf *c;
    char *pool;      /* POOL_LEN + value_size pseudo-random bytes */
    uint32_t *order; /* the shuffled get order */
    uint32_t warm;   /* warm-up operations per phase */
} workload;

/* Values come from a pool built of value-sized pieces, each random for
 * random_pct percent of its length and a repeat of that after, as
 * RocksDB's db_bench does (its default is 50%): LZ4 then compresses a
 * block of values about that much, for every engine alike. */
static void fill_pool(char *pool, size_t len, size_t piece, uint64_t pct,
                      uint64_t *s)
{
    size_t rnd = piece * pct / 100;
    if (rnd == 0)
        rnd = 1;
    for (size_t at = 0; at < len; at += piece) {
        size_t n = len - at < piece ? len - at : piece;
        for (size_t i = 0; i < n; i++)
            pool[at + i] = i < rnd ? (char)(rng_next(s) >> 56)
                                   : pool[at + i % rnd];
    }
}

static const char *value_of(const workload *w, uint32_t i)
{
    return w->pool + ((uint64_t)i * 7919u) % POOL_LEN;
}

/* Operations per second: put and get, by wall clock and by thread CPU
 * time. */
enum { PUT_WALL, GET_WALL, PUT_CPU, GET_CPU, NFIGURES };

typedef struct result {
    double ops[NFIGURES];
} result;

static int run_engine(const engine *e, const workload *w, const char *path,
                      result *r)
{
    const bench_conf *c = w->c;
    engine_state s;
    memset(&s, 0, sizeof s);
    s.want_len = (size_t)c->value_size;
    char key[KEY_LEN];
    int rc = 0;

    if (e->open(&s, path, c)) {
        e->close(&s);
        return -1;
    }
    for (uint32_t i = 0; i < w->warm && !rc && !should_stop(); i++) {
        make_key(key, "wrm", i);
        rc = e->put(&s, key, KEY_LEN, value_of(w, i), s.want_len);
    }
    stamp t0 = now();
    for (uint32_t i = 0; i < c->keys && !rc && !should_stop(); i++) {
        make_key(key, "key", i);
        rc = e->put(&s, key, KEY_LEN, value_of(w, i), s.want_len);
    }
    stamp t1 = now();
    for (uint32_t i = 0; i < w->warm && !rc && !should_stop(); i++) {
        make_key(key, "key", w->order[(i * 2654435761u) % c->keys]);
        rc = e->get(&s, key, KEY_LEN);
    }
    stamp t2 = now();
    for (uint32_t i = 0; i < c->keys && !rc && !should_stop(); i++) {
        make_key(key, "key", w->order[i]);
        rc = e->get(&s, key, KEY_LEN);
    }
    stamp t3 = now();
    e->close(&s);
    if (should_stop())
        return -1;
    if (rc == ORBIT_NOTFOUND) {
        fprintf(stderr, "orbit: bench: %s: a key written was not found\n",
                e->name);
        return -1;
    }
    if (rc)
        return -1;
    r->ops[PUT_WALL] = (double)c->keys / (t1.wall - t0.wall);
    r->ops[GET_WALL] = (double)c->keys / (t3.wall - t2.wall);
    r->ops[PUT_CPU] = (double)c->keys / (t1.cpu - t0.cpu);
    r->ops[GET_CPU] = (double)c->keys / (t3.cpu - t2.cpu);
    return 0;
}

/* ---- directories ----------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Remove a directory tree this command created. */
static void rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- reporting ------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void print_ratio(const char *label, double (*med)[NFIGURES], int a,
                        int b)
{
    printf("%-48s put %.3f  get %.3f   (CPU: put %.3f  get %.3f)\n", label,
           med[a][PUT_WALL] / med[b][PUT_WALL],
           med[a][GET_WALL] / med[b][GET_WALL],
           med[a][PUT_CPU] / med[b][PUT_CPU], med[a][GET_CPU] / med[b][GET_CPU]);
}

static void report(const bench_conf *c, result (*res)[NENGINES])
{
    double med[NENGINES][NFIGURES];
    double col[MAX_ROUNDS];
    for (int e = 0; e < NENGINES; e++) {
        for (int f = 0; f < NFIGURES; f++) {
            for (uint64_t r = 0; r < c->rounds; r++)
                col[r] = res[r][e].ops[f];
            med[e][f] = median(col, c->rounds);
        }
    }

    printf("\n%-28s %12s %12s %14s %14s\n", "engine", "put ops/s",
           "get ops/s", "put ops/CPU-s", "get ops/CPU-s");
    for (int e = 0; e < NENGINES; e++)
        printf("%-28s %12.0f %12.0f %14.0f %14.0f\n", engines[e].label,
               med[e][PUT_WALL], med[e][GET_WALL], med[e][PUT_CPU],
               med[e][GET_CPU]);
    if (c->rounds > 1)
        printf("(medians of %llu rounds)\n", (unsigned long long)c->rounds);
    printf("\n");
    print_ratio("ratio Orbit (default) / raw DB:", med, 2, 0);
    print_ratio("ratio Orbit pessimistic / raw TransactionDB:", med, 3, 1);
    print_ratio("ratio raw TransactionDB / raw DB:", med, 1, 0);
}

/* ---- the command ----------------------------------------------------- */

static int parse_args(int argc, char **argv, bench_conf *c)
{
    static const struct {
        const char *name;
        size_t off;
        uint64_t min, max;
    } nums[] = {
        {"keys", offsetof(bench_conf, keys), 1, UINT32_MAX},
        {"value-size", offsetof(bench_conf, value_size), 1, 1 << 20},
        {"rounds", offsetof(bench_conf, rounds), 1, MAX_ROUNDS},
        {"seed", offsetof(bench_conf, seed), 0, UINT64_MAX},
        {"cache-mb", offsetof(bench_conf, cache_mb), 0, 1 << 20},
        {"random-pct", offsetof(bench_conf, random_pct), 1, 100},
    };
    for (int i = 2; i < argc;) {
        const char *v = NULL;
        int r = orbit__cli_opt(argc, argv, &i, "dir", &v);
        if (r > 0) {
            c->dir = v;
            continue;
        }
        if (r == 0 &&
            (r = orbit__cli_opt(argc, argv, &i, "compression", &v)) > 0) {
            size_t k;
            for (k = 0; k < sizeof compressions / sizeof compressions[0]; k++)
                if (strcmp(v, compressions[k].name) == 0)
                    break;
            if (k == sizeof compressions / sizeof compressions[0])
                return orbit__cli_usage(orbit__usage_bench,
                                        "--compression: expected none, "
                                        "snappy, lz4 or zstd, got %s",
                                        v);
            c->compression = compressions[k].name;
            continue;
        }
        if (r == 0 && (r = orbit__cli_opt(argc, argv, &i, "only", &v)) > 0) {
            int e;
            for (e = 0; e < NENGINES; e++)
                if (strcmp(v, engines[e].name) == 0)
                    break;
            if (e == NENGINES)
                return orbit__cli_usage(orbit__usage_bench,
                                        "--only: no engine named %s", v);
            c->only = engines[e].name;
            continue;
        }
        size_t k;
        for (k = 0; r == 0 && k < sizeof nums / sizeof nums[0]; k++) {
            r = orbit__cli_opt(argc, argv, &i, nums[k].name, &v);
            if (r > 0)
                break;
        }
        if (r < 0)
            return orbit__cli_usage(orbit__usage_bench, "%s needs a value",
                                    argv[i]);
        if (r == 0)
            return orbit__cli_usage(orbit__usage_bench,
                                    "bench kv: unexpected argument %s",
                                    argv[i]);
        uint64_t x;
        if (orbit__cli_parse_u64(v, &x) || x < nums[k].min ||
            x > nums[k].max)
            return orbit__cli_usage(orbit__usage_bench,
                                    "--%s needs a number from %llu to %llu, "
                                    "got \"%s\"",
                                    nums[k].name,
                                    (unsigned long long)nums[k].min,
                                    (unsigned long long)nums[k].max, v);
        *(uint64_t *)((char *)c + nums[k].off) = x;
    }
    return CLI_OK;
}

#endif /* ORBIT_HAVE_ROCKSDB */

#ifdef ORBIT_HAVE_ETCD
/* `bench kv` on an etcd store: the load generator lives in bench_etcd.c;
 * this is its command line. */
static int bench_kv_etcd(const cli_ctx *ctx, int argc, char **argv)
{
    uint64_t ops = 10000, depth = 64;
    for (int i = 2; i < argc;) {
        const char *v = NULL;
        uint64_t *dst = NULL;
        int r = orbit__cli_opt(argc, argv, &i, "ops", &v);
        if (r > 0)
            dst = &ops;
        else if (r == 0 && (r = orbit__cli_opt(argc, argv, &i, "depth", &v)) > 0)
            dst = &depth;
        if (r < 0)
            return orbit__cli_usage(orbit__usage_bench, "%s needs a value",
                                    argv[i]);
        if (r == 0)
            return orbit__cli_usage(orbit__usage_bench,
                                    "bench kv on an etcd store: unexpected "
                                    "argument %s (it takes --ops and --depth)",
                                    argv[i]);
        if (orbit__cli_parse_u64(v, dst) || *dst == 0 ||
            (dst == &ops && *dst > 100000000) ||
            (dst == &depth && *dst > 4096))
            return orbit__cli_usage(orbit__usage_bench,
                                    "bench kv: bad number \"%s\" (--ops "
                                    "1..100000000, --depth 1..4096)",
                                    v);
    }
    orbit_error_clear();
    return orbit__bench_etcd(ctx->store, ops, (int)depth, stdout) ? CLI_FAIL
                                                                  : CLI_OK;
}
#endif /* ORBIT_HAVE_ETCD */

#ifdef ORBIT_HAVE_ROCKSDB
/* `bench kv` on any other store: the RocksDB comparison. */
static int bench_kv_rocksdb(int argc, char **argv)
{
    bench_conf c = {1000000, 100, 1, 42, 64, 50, "lz4", NULL, NULL};
    int st = parse_args(argc, argv, &c);
    if (st)
        return st;
    stop_init();
    if (!c.dir) {
        c.dir = getenv("TMPDIR");
        if (!c.dir || !*c.dir)
            c.dir = "/tmp";
    }
    if (strpbrk(c.dir, "?%")) {
        fprintf(stderr, "orbit: bench: --dir may not contain '?' or '%%'\n");
        return CLI_FAIL;
    }

    workload w = {&c, NULL, NULL, 0};
    result(*res)[NENGINES] = calloc(c.rounds, sizeof *res);
    w.pool = malloc(POOL_LEN + c.value_size);
    w.order = malloc(c.keys * sizeof *w.order);
    size_t dlen = strlen(c.dir) + 64;
    char *top = malloc(dlen), *path = malloc(dlen);
    if (!res || !w.pool || !w.order || !top || !path) {
        fprintf(stderr, "orbit: bench: out of memory\n");
        st = CLI_FAIL;
        goto out;
    }
    snprintf(top, dlen, "%s/orbit-bench-XXXXXX", c.dir);
    if (!mkdtemp(top)) {
        fprintf(stderr, "orbit: bench: cannot create a directory in %s: %s\n",
                c.dir, strerror(errno));
        st = CLI_FAIL;
        goto out;
    }

    uint64_t s = c.seed * 2 + 1; /* xorshift needs a non-zero state */
    fill_pool(w.pool, POOL_LEN + c.value_size, (size_t)c.value_size,
              c.random_pct, &s);
    for (uint32_t i = 0; i < c.keys; i++)
        w.order[i] = i;
    for (uint32_t i = (uint32_t)c.keys - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(rng_next(&s) % ((uint64_t)i + 1));
        uint32_t t = w.order[i];
        w.order[i] = w.order[j];
        w.order[j] = t;
    }
    w.warm = c.keys < WARMUP_MAX ? (uint32_t)c.keys : WARMUP_MAX;

    printf("orbit bench kv: %llu keys, %llu-byte values, %llu round%s, "
           "seed %llu\n",
           (unsigned long long)c.keys, (unsigned long long)c.value_size,
           (unsigned long long)c.rounds, c.rounds == 1 ? "" : "s",
           (unsigned long long)c.seed);
    printf("settings (all engines): WAL on, sync off, %llu MiB LRU block "
           "cache, %s compression, bloom filter 10 bits/key\n",
           (unsigned long long)c.cache_mb, c.compression);
    printf("values: %llu bytes, %llu%% random and the rest repeating it "
           "(db_bench style)\n",
           (unsigned long long)c.value_size,
           (unsigned long long)c.random_pct);
    printf("workload: %u warm-up puts, %llu puts in key order, %u warm-up "
           "gets, %llu gets in shuffled order\n",
           w.warm, (unsigned long long)c.keys, w.warm,
           (unsigned long long)c.keys);
    printf("directory: %s (removed at the end; the --store is not used)\n", top);
    check_output();

    for (uint64_t r = 0; r < c.rounds && !st && !should_stop(); r++) {
        for (int k = 0; k < NENGINES && !st && !should_stop(); k++) {
            int e = (int)((r + (uint64_t)k) % NENGINES);
            if (c.only && strcmp(c.only, engines[e].name) != 0)
                continue;
            snprintf(path, dlen, "%s/%s-%llu", top, engines[e].name,
                     (unsigned long long)r);
            if (run_engine(&engines[e], &w, path, &res[r][e])) {
                if (!should_stop())
                    st = CLI_FAIL;
            } else {
                printf("round %llu %-10s put %9.0f ops/s  get %9.0f ops/s  "
                       "(per CPU-s: put %9.0f  get %9.0f)\n",
                       (unsigned long long)r + 1, engines[e].name,
                       res[r][e].ops[PUT_WALL], res[r][e].ops[GET_WALL],
                       res[r][e].ops[PUT_CPU], res[r][e].ops[GET_CPU]);
                check_output();
            }
            rm_tree(path);
        }
    }
    if (should_stop()) {
        rm_tree(top);
        stop_exit(top);
    }
    if (!st && !c.only)
        report(&c, res);
    rm_tree(top);
out:
    free(res);
    free(w.pool);
    free(w.order);
    free(top);
    free(path);
    return st;
}
#endif /* ORBIT_HAVE_ROCKSDB */

#if !defined(ORBIT_HAVE_ROCKSDB) || !defined(ORBIT_HAVE_ETCD)
static int not_built(const char *what, const char *option)
{
    fprintf(stderr,
            "orbit: bench kv: %s is not built in this orbit (it was built "
            "with %s=OFF)\n",
            what, option);
    return CLI_FAIL;
}
#endif

int orbit__cmd_bench(const cli_ctx *ctx, int argc, char **argv)
{
    if (orbit__cli_wants_help(argc, argv, 1))
        return orbit__cli_help(orbit__usage_bench);
    if (argc < 2 || strcmp(argv[1], "kv") != 0)
        return orbit__cli_usage(orbit__usage_bench,
                                "bench needs a workload: kv");
    if (strncasecmp(ctx->store, "memory:", 7) == 0)
        return orbit__cli_usage(orbit__usage_bench,
                                "bench kv measures what Orbit costs over the engine under it: "
                                "RocksDB (on a rocksdb: store, the default) or etcd (on an etcd:// "
                                "store). A memory: store has no engine under it to compare with, "
                                "so there is no benchmark for it");
    /* The store's scheme picks the comparison (URI schemes are
     * case-insensitive); every other store keeps the RocksDB one, which
     * opens its own directories and does not use --store. */
    if (strncasecmp(ctx->store, "etcd:", 5) == 0) {
#ifdef ORBIT_HAVE_ETCD
        return bench_kv_etcd(ctx, argc, argv);
#else
        return not_built("the etcd benchmark", "ORBIT_WITH_ETCD");
#endif
    }
#ifdef ORBIT_HAVE_ROCKSDB
    return bench_kv_rocksdb(argc, argv);
#else
    return not_built("the RocksDB comparison", "ORBIT_WITH_ROCKSDB");
#endif
}
