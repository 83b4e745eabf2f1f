/*
 * orbitd's metrics (metrics.h): lock-free per-command and per-provider
 * series, and the Prometheus text exposition of them plus the server's
 * and the store's counters.
 *
 * Invariants: a series slot goes free -> claiming -> ready exactly once
 * (state, compare-and-swap), its name is written only while claiming and
 * read only once ready (release/acquire), so a reader never sees a torn
 * name; counters are relaxed atomics, individually exact, not one atomic
 * picture (as orbit_kv_stats). A histogram keeps per-bucket counts; the
 * exposition makes them cumulative.
 *
 * The provider's own figures (orbit_kv_store_stats: store size, live data,
 * keys, memtables, read-cache capacity, usage, hits, misses and hit ratio)
 * are read from the store at every scrape, labelled provider="...", and
 * only the fields the provider reports are exported.
 *
 * Layer: src/server, above db.h (the key count) and the contract's
 * statistics; used by net.c/commands.c (RESP) and http.c.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/db.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/server.h"

/* Latency bucket upper bounds in seconds (Prometheus's "le"). */
static const double BOUNDS[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
                                5,      10};
#define NBOUNDS (sizeof BOUNDS / sizeof BOUNDS[0])

enum { S_FREE = 0, S_CLAIMING = 1, S_READY = 2 };

typedef struct series {
    atomic_int state;
    int proto;
    char name[64];
    atomic_ullong count, errors, sum_ns;
    atomic_ullong buckets[NBOUNDS + 1]; /* the last: above every bound */
} series;

#define MAX_PROVIDERS 16

static series g_cmd[SRV_METRICS_MAX_SERIES];
static series g_cmd_other[2]; /* per proto, when the table is full */
static series g_prov[MAX_PROVIDERS];
static series g_prov_other;
static atomic_ullong g_status[500]; /* 100..599 */
static atomic_ullong g_http_auth_failures, g_http_connections;
static atomic_llong g_http_inflight;

static pthread_mutex_t g_keys_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_keys_at_ms, g_keys, g_expires;
static int g_keys_valid;

uint64_t srv_metrics_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t hash_name(int proto, const char *s)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)(proto + 1);
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static int same(const series *e, int proto, const char *name)
{
    return e->proto == proto && !strncmp(e->name, name, sizeof e->name - 1);
}

/* The series of (proto, name) in table t of n slots, claimed if new; NULL
 * when the table is full. */
static series *find(series *t, size_t n, int proto, const char *name)
{
    size_t i = (size_t)(hash_name(proto, name) % n);
    for (size_t probe = 0; probe < n; probe++, i = (i + 1) % n) {
        series *e = &t[i];
        int st = atomic_load_explicit(&e->state, memory_order_acquire);
        while (st == S_CLAIMING) /* another thread is writing the name */
            st = atomic_load_explicit(&e->state, memory_order_acquire);
        if (st == S_READY) {
            if (same(e, proto, name))
                return e;
            continue;
        }
        int expect = S_FREE;
        if (atomic_compare_exchange_strong(&e->state, &expect, S_CLAIMING)) {
            e->proto = proto;
            snprintf(e->name, sizeof e->name, "%s", name);
            atomic_store_explicit(&e->state, S_READY, memory_order_release);
            return e;
        }
        /* lost the race for this slot: look at it again */
        i = (i + n - 1) % n;
        probe--;
    }
    return NULL;
}

static void add(series *e, uint64_t ns, int ok)
{
    atomic_fetch_add_explicit(&e->count, 1, memory_order_relaxed);
    if (!ok)
        atomic_fetch_add_explicit(&e->errors, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->sum_ns, ns, memory_order_relaxed);
    double s = (double)ns / 1e9;
    size_t b = 0;
    while (b < NBOUNDS && s > BOUNDS[b])
        b++;
    atomic_fetch_add_explicit(&e->buckets[b], 1, memory_order_relaxed);
}

void srv_metrics_observe(int proto, const char *command, const char *provider,
                         uint64_t latency_ns, int ok)
{
    proto = proto == SRV_PROTO_HTTP ? SRV_PROTO_HTTP : SRV_PROTO_RESP;
    series *e = find(g_cmd, SRV_METRICS_MAX_SERIES, proto, command ? command : "unknown");
    if (!e) {
        e = &g_cmd_other[proto];
        if (atomic_load(&e->state) != S_READY) {
            int expect = S_FREE;
            if (atomic_compare_exchange_strong(&e->state, &expect, S_CLAIMING)) {
                e->proto = proto;
                snprintf(e->name, sizeof e->name, "other");
                atomic_store_explicit(&e->state, S_READY, memory_order_release);
            }
        }
    }
    add(e, latency_ns, ok);
    if (provider) {
        series *p = find(g_prov, MAX_PROVIDERS, 0, provider);
        add(p ? p : &g_prov_other, latency_ns, ok);
    }
}

void srv_metrics_http_status(int status)
{
    if (status >= 100 && status <= 599)
        atomic_fetch_add_explicit(&g_status[status - 100], 1, memory_order_relaxed);
}

void srv_metrics_http_auth_failure(void)
{
    atomic_fetch_add_explicit(&g_http_auth_failures, 1, memory_order_relaxed);
}

void srv_metrics_http_connection(void)
{
    atomic_fetch_add_explicit(&g_http_connections, 1, memory_order_relaxed);
}

void srv_metrics_http_inflight(int delta)
{
    atomic_fetch_add_explicit(&g_http_inflight, delta, memory_order_relaxed);
}

/* ---- exposition ----------------------------------------------------------- */

typedef struct out_t {
    orbit_buf *b;
    int rc;
} out_t;

static void pf(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pf(out_t *o, const char *fmt, ...)
{
    if (o->rc)
        return;
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->rc = ORBIT_EINTERNAL;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        o->rc = orbit_buf_append(o->b, tmp, (size_t)n);
        return;
    }
    if ((o->rc = orbit_buf_reserve(o->b, (size_t)n + 1)))
        return;
    va_start(ap, fmt);
    vsnprintf((char *)o->b->data + o->b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    o->b->len += (size_t)n;
}

/* A label value escaped as the text format asks (\\, \", \n). */
static void esc(char *dst, size_t cap, const char *s)
{
    size_t k = 0;
    for (; *s && k + 3 < cap; s++) {
        if (*s == '\\' || *s == '"') {
            dst[k++] = '\\';
            dst[k++] = *s;
        } else if (*s == '\n') {
            dst[k++] = '\\';
            dst[k++] = 'n';
        } else {
            dst[k++] = *s;
        }
    }
    dst[k] = 0;
}

static void head(out_t *o, const char *name, const char *type, const char *help)
{
    pf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *proto_name(int p)
{
    return p == SRV_PROTO_HTTP ? "http" : "resp";
}

typedef void (*labels_fn)(const series *e, char *dst, size_t cap);

static void cmd_labels(const series *e, char *dst, size_t cap)
{
    char v[160];
    esc(v, sizeof v, e->name);
    snprintf(dst, cap, "proto=\"%s\",command=\"%s\"", proto_name(e->proto), v);
}

static void prov_labels(const series *e, char *dst, size_t cap)
{
    char v[160];
    esc(v, sizeof v, e->name);
    snprintf(dst, cap, "provider=\"%s\"", v);
}

typedef struct family {
    series *t;
    size_t n;
    series *extra;
    size_t nextra;
    labels_fn labels;
} family;

static int ready(series *e)
{
    return atomic_load_explicit(&e->state, memory_order_acquire) == S_READY;
}

#define EACH_SERIES(f, e)                                                              \
    for (size_t _i = 0; _i < (f)->n + (f)->nextra; _i++)                                 \
        for (series *e = _i < (f)->n ? &(f)->t[_i] : &(f)->extra[_i - (f)->n]; e && ready(e); \
             e = NULL)

static void counters(out_t *o, const family *f, const char *name, const char *help,
                     int errors)
{
    head(o, name, "counter", help);
    char lab[256];
    EACH_SERIES(f, e)
    {
        f->labels(e, lab, sizeof lab);
        unsigned long long v = atomic_load_explicit(errors ? &e->errors : &e->count,
                                                    memory_order_relaxed);
        pf(o, "%s{%s} %llu\n", name, lab, v);
    }
}

static void histogram(out_t *o, const family *f, const char *name, const char *help)
{
    head(o, name, "histogram", help);
    char lab[256];
    EACH_SERIES(f, e)
    {
        f->labels(e, lab, sizeof lab);
        unsigned long long cum = 0;
        for (size_t b = 0; b <= NBOUNDS; b++) {
            cum += atomic_load_explicit(&e->buckets[b], memory_order_relaxed);
            if (b < NBOUNDS)
                pf(o, "%s_bucket{%s,le=\"%g\"} %llu\n", name, lab, BOUNDS[b], cum);
            else
                pf(o, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, lab, cum);
        }
        /* the count is the buckets' total, so the two always agree */
        double sum = (double)atomic_load_explicit(&e->sum_ns, memory_order_relaxed) / 1e9;
        pf(o, "%s_sum{%s} %.9f\n", name, lab, sum);
        pf(o, "%s_count{%s} %llu\n", name, lab, cum);
    }
}

static void simple(out_t *o, const char *name, const char *type, const char *help,
                   const char *labels, unsigned long long v)
{
    head(o, name, type, help);
    if (labels)
        pf(o, "%s{%s} %llu\n", name, labels, v);
    else
        pf(o, "%s %llu\n", name, v);
}

static void key_counts(out_t *o)
{
    if (!g_srv.kv)
        return;
    pthread_mutex_lock(&g_keys_mu);
    uint64_t now = srv_now_ms();
    if (!g_keys_valid || now - g_keys_at_ms >= SRV_METRICS_KEYS_TTL_MS) {
        uint64_t k = 0, x = 0;
        if (db_count(&k, &x) == 0) {
            g_keys = k;
            g_expires = x;
            g_keys_valid = 1;
            g_keys_at_ms = now;
        }
    }
    int valid = g_keys_valid;
    uint64_t k = g_keys, x = g_expires, age = now - g_keys_at_ms;
    pthread_mutex_unlock(&g_keys_mu);
    if (!valid)
        return;
    simple(o, "orbitd_keys", "gauge",
           "Keys of the Redis-protocol keyspace (also served at /v1/kv), counted at most "
           "every 10 s; expired keys not yet reclaimed are included",
           NULL, (unsigned long long)k);
    simple(o, "orbitd_keys_with_expiry", "gauge", "Entries of the expiry index", NULL,
           (unsigned long long)x);
    simple(o, "orbitd_keys_count_age_seconds", "gauge",
           "Age of the orbitd_keys figure", NULL, (unsigned long long)(age / 1000));
}

static void store_stats(out_t *o)
{
    if (!g_srv.kv)
        return;
    orbit_kv_stats s;
    orbit_kv_stats_get(g_srv.kv, &s);
    char lab[160], v[128];
    esc(v, sizeof v, g_srv.caps.name ? g_srv.caps.name : "unknown");
    snprintf(lab, sizeof lab, "provider=\"%s\"", v);
    static const struct {
        const char *name, *help;
        size_t off;
    } F[] = {
#define S(f, h) {"orbit_store_" #f "_total", h, offsetof(orbit_kv_stats, f)}
        S(gets, "Store point reads"),
        S(puts, "Store puts"),
        S(deletes, "Store deletes"),
        S(batches, "Store write batches"),
        S(scans, "Store iterators opened"),
        S(txns_begun, "Store transactions begun"),
        S(txns_committed, "Store transactions committed"),
        S(txns_rolled_back, "Store transactions rolled back"),
        S(txns_conflicted, "Store transactions that failed with a conflict"),
        S(keys_read, "Keys read from the store"),
        S(keys_written, "Keys written to the store"),
        S(bytes_read, "Bytes read from the store"),
        S(bytes_written, "Bytes written to the store"),
        S(errors, "Store calls that failed"),
        S(read_calls, "Read calls into the provider"),
        S(multi_gets, "Multi-get calls"),
#undef S
    };
    for (size_t i = 0; i < sizeof F / sizeof F[0]; i++) {
        uint64_t val;
        memcpy(&val, (const char *)&s + F[i].off, sizeof val);
        simple(o, F[i].name, "counter", F[i].help, lab, (unsigned long long)val);
    }
}

/* ---- the provider's own figures (orbit_kv_store_stats) -------------------- */

/* One store's figures, read at the scrape (no cache: a remote provider is
 * asked each time, the memory provider walks its map). */
typedef struct store_fig {
    char lab[160];
    int rc;
    orbit_store_stats st;
} store_fig;

#define SET(v) ((v) != ORBIT_STAT_NONE)

/* A gauge or counter family over the stores that report field `off`;
 * nothing at all when none does. */
static void fig_family(out_t *o, const store_fig *f, size_t n, const char *name,
                       const char *type, const char *help, size_t off)
{
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        memcpy(&v, (const char *)&f[i].st + off, sizeof v);
        if (f[i].rc || !SET(v))
            continue;
        if (!any++)
            head(o, name, type, help);
        pf(o, "%s{%s} %llu\n", name, f[i].lab, (unsigned long long)v);
    }
}

/* Families follow Prometheus's conventions: base units (bytes), _total on
 * counters, a ratio as a 0..1 gauge (NaN before the first lookup); every
 * sample is labelled with its provider. A store whose figures could not be
 * read (a remote cluster down) has orbit_store_stats_up 0 and no other
 * sample in this scrape. */
static void store_figures(out_t *o, orbit_kv *const *kvs, const char *const *names, size_t n)
{
    store_fig f[8];
    if (n > sizeof f / sizeof f[0])
        n = sizeof f / sizeof f[0];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char v[128];
        esc(v, sizeof v, names[i] ? names[i] : "unknown");
        snprintf(f[m].lab, sizeof f[m].lab, "provider=\"%s\"", v);
        f[m].rc = orbit_kv_store_stats(kvs[i], &f[m].st);
        if (f[m].rc == ORBIT_ENOTSUP)
            continue; /* this provider reports none of it */
        m++;
    }
    if (!m)
        return;
    head(o, "orbit_store_stats_up", "gauge",
         "1 if the provider's store figures were read in this scrape, 0 if reading them failed");
    for (size_t i = 0; i < m; i++)
        pf(o, "orbit_store_stats_up{%s} %d\n", f[i].lab, f[i].rc ? 0 : 1);
#define FIG(name, type, help, field) \
    fig_family(o, f, m, name, type, help, offsetof(orbit_store_stats, field))
    FIG("orbit_store_size_bytes", "gauge",
        "Space the store's data takes (rocksdb: SST files and memtables; etcd: the answering "
        "member's backend file; memory: every retained version)", size_bytes);
    FIG("orbit_store_live_bytes", "gauge",
        "Live data of the store (rocksdb: its estimate for the SST files; etcd: backend in "
        "use)", live_bytes);
    FIG("orbit_store_keys", "gauge",
        "Keys in the store (rocksdb: RocksDB's estimate; memory, etcd: exact)", keys);
    FIG("orbit_store_memtable_bytes", "gauge", "Write buffers not yet in files",
        memtable_bytes);
    FIG("orbit_cache_capacity_bytes", "gauge", "Capacity of the provider's read cache",
        cache_capacity_bytes);
    FIG("orbit_cache_usage_bytes", "gauge", "Bytes held by the provider's read cache",
        cache_usage_bytes);
    FIG("orbit_cache_hits_total", "counter", "Read-cache lookups that hit, since the store opened",
        cache_hits);
    FIG("orbit_cache_misses_total", "counter",
        "Read-cache lookups that missed, since the store opened", cache_misses);
#undef FIG
    int any = 0;
    for (size_t i = 0; i < m; i++) {
        const orbit_store_stats *st = &f[i].st;
        if (f[i].rc || !SET(st->cache_hits) || !SET(st->cache_misses))
            continue;
        if (!any++)
            head(o, "orbit_cache_hit_ratio", "gauge",
                 "Read-cache hits / (hits + misses) since the store opened (NaN before any "
                 "lookup)");
        uint64_t tot = st->cache_hits + st->cache_misses;
        if (tot)
            pf(o, "orbit_cache_hit_ratio{%s} %.6f\n", f[i].lab,
               (double)st->cache_hits / (double)tot);
        else
            pf(o, "orbit_cache_hit_ratio{%s} NaN\n", f[i].lab);
    }
}

#undef SET

int srv_metrics_render(orbit_buf *outb)
{
    out_t o = {outb, 0};
    out_t *op = &o;
    family cmd = {g_cmd, SRV_METRICS_MAX_SERIES, g_cmd_other, 2, cmd_labels};
    family prov = {g_prov, MAX_PROVIDERS, &g_prov_other, 1, prov_labels};
    if (!ready(&g_prov_other)) {
        int expect = S_FREE;
        if (atomic_compare_exchange_strong(&g_prov_other.state, &expect, S_CLAIMING)) {
            snprintf(g_prov_other.name, sizeof g_prov_other.name, "other");
            atomic_store_explicit(&g_prov_other.state, S_READY, memory_order_release);
        }
    }

    counters(op, &cmd, "orbitd_requests_total",
             "Requests per protocol and command (RESP command or HTTP route)", 0);
    counters(op, &cmd, "orbitd_request_errors_total",
             "Requests that failed (RESP error reply, HTTP status 400 or more)", 1);
    histogram(op, &cmd, "orbitd_request_duration_seconds",
              "Request latency per protocol and command");
    counters(op, &prov, "orbitd_provider_requests_total",
             "Requests that touched the store, per provider", 0);
    counters(op, &prov, "orbitd_provider_request_errors_total",
             "Requests that touched the store and failed, per provider", 1);
    histogram(op, &prov, "orbitd_provider_request_duration_seconds",
              "Latency of requests that touched the store, per provider");

    head(op, "orbitd_http_responses_total", "counter", "HTTP responses per status code");
    for (int i = 0; i < 500; i++) {
        unsigned long long v = atomic_load_explicit(&g_status[i], memory_order_relaxed);
        if (v)
            pf(op, "orbitd_http_responses_total{code=\"%d\"} %llu\n", i + 100, v);
    }

    head(op, "orbitd_auth_failures_total", "counter",
         "Wrong or missing passwords (RESP AUTH/HELLO, HTTP bearer)");
    pf(op, "orbitd_auth_failures_total{proto=\"resp\"} %llu\n",
       (unsigned long long)atomic_load(&g_srv.stats.auth_failures));
    pf(op, "orbitd_auth_failures_total{proto=\"http\"} %llu\n",
       (unsigned long long)atomic_load(&g_http_auth_failures));

    simple(op, "orbitd_connected_clients", "gauge", "Connected RESP clients", NULL,
           (unsigned long long)(atomic_load(&g_srv.stats.connected_clients) < 0
                                    ? 0
                                    : atomic_load(&g_srv.stats.connected_clients)));
    simple(op, "orbitd_connections_received_total", "counter", "RESP connections accepted",
           NULL, (unsigned long long)atomic_load(&g_srv.stats.connections_received));
    simple(op, "orbitd_rejected_connections_total", "counter",
           "RESP connections refused (maxclients)", NULL,
           (unsigned long long)atomic_load(&g_srv.stats.rejected_connections));
    simple(op, "orbitd_http_connections_total", "counter", "HTTP connections accepted", NULL,
           (unsigned long long)atomic_load(&g_http_connections));
    long long inflight = atomic_load(&g_http_inflight);
    simple(op, "orbitd_http_requests_in_flight", "gauge", "HTTP requests being handled", NULL,
           (unsigned long long)(inflight < 0 ? 0 : inflight));
    simple(op, "orbitd_commands_processed_total", "counter", "RESP commands processed", NULL,
           (unsigned long long)atomic_load(&g_srv.stats.commands_processed));
    simple(op, "orbitd_protocol_errors_total", "counter", "Malformed RESP input", NULL,
           (unsigned long long)atomic_load(&g_srv.stats.protocol_errors));
    simple(op, "orbitd_expired_keys_total", "counter", "Keys removed by expiry", NULL,
           (unsigned long long)atomic_load(&g_srv.stats.expired_keys));
    simple(op, "orbitd_conflicts_retried_total", "counter",
           "Transaction conflicts retried by the server", NULL,
           (unsigned long long)atomic_load(&g_srv.stats.conflicts_retried));

    unsigned long long hits = atomic_load(&g_srv.stats.keyspace_hits);
    unsigned long long misses = atomic_load(&g_srv.stats.keyspace_misses);
    simple(op, "orbitd_keyspace_hits_total", "counter", "Key lookups that found the key", NULL,
           hits);
    simple(op, "orbitd_keyspace_misses_total", "counter", "Key lookups that missed", NULL,
           misses);
    head(op, "orbitd_keyspace_hit_ratio", "gauge",
         "keyspace hits / (hits + misses) since start (0 before any lookup)");
    pf(op, "orbitd_keyspace_hit_ratio %.6f\n",
       hits + misses ? (double)hits / (double)(hits + misses) : 0.0);

    uint64_t now = srv_now_ms();
    simple(op, "orbitd_uptime_seconds", "gauge", "Seconds since the server started", NULL,
           (unsigned long long)(g_srv.start_ms && now > g_srv.start_ms
                                    ? (now - g_srv.start_ms) / 1000
                                    : 0));
    key_counts(op);
    store_stats(op);
    /* every provider the storage manager holds, labelled by its
     * configured name (placement.c) */
    orbit_kv *kvs[8];
    const char *names[8];
    size_t nk = 0, np = g_srv_mgr ? orbit_manager_provider_count(g_srv_mgr) : 0;
    for (size_t i = 0; i < np && nk < 8; i++) {
        names[nk] = orbit_manager_provider_name(g_srv_mgr, i);
        if (names[nk] && orbit_manager_provider(g_srv_mgr, names[nk], &kvs[nk]) == 0)
            nk++;
    }
    if (!nk && g_srv.kv) {
        kvs[0] = g_srv.kv;
        names[0] = g_srv.caps.name;
        nk = 1;
    }
    if (nk)
        store_figures(op, kvs, names, nk);
    return o.rc;
}
