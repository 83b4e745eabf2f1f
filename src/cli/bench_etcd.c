/*
 * `orbit bench etcd` (bench_etcd.h): a closed-loop load generator that keeps
 * exactly `depth` operations in flight, used twice per workload with the
 * same keys, values and depth: once through orbit_kv_submit (the etcd
 * provider's native asynchronous path), once as bare unary etcd calls on
 * the transport (src/rpc) with nothing of Orbit around them. The ratio of
 * the two is Orbit's overhead on the same cluster and the same channel
 * machinery. Keys are "bench/<n>" under the URI's namespace, 100-byte
 * values; the puts run first so every get finds its key.
 *
 * Threads: the issuing thread waits for a free slot; completions arrive on
 * the transport's completion thread and free their slot.
 */
#include "cli/bench_etcd.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd_rpc.pb-c.h"
#include "orbit/kv.h"
#include "orbit/provider.h"
#include "rpc/rpc.h"

#define VALUE_LEN 100

typedef struct slot slot;
typedef struct run run;

struct slot {
    run *r;
    int free_next; /* index of the next free slot, -1 at the end */
    orbit_kv_op op;
    char key[64];
    orbit_buf out;
};

struct run {
    pthread_mutex_t m;
    pthread_cond_t cv;
    slot *slots;
    int free_head;
    int inflight;
    uint64_t errors;
    int first_error;
    char detail[256];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void slot_done(slot *s, int rc, const char *detail)
{
    run *r = s->r;
    pthread_mutex_lock(&r->m);
    if (rc < 0) {
        if (r->errors++ == 0) {
            r->first_error = rc;
            snprintf(r->detail, sizeof r->detail, "%s", detail ? detail : "");
        }
    }
    s->free_next = r->free_head;
    r->free_head = (int)(s - r->slots);
    r->inflight--;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->m);
}

static slot *slot_take(run *r)
{
    pthread_mutex_lock(&r->m);
    while (r->free_head < 0)
        pthread_cond_wait(&r->cv, &r->m);
    slot *s = &r->slots[r->free_head];
    r->free_head = s->free_next;
    r->inflight++;
    pthread_mutex_unlock(&r->m);
    return s;
}

static void drain(run *r)
{
    pthread_mutex_lock(&r->m);
    while (r->inflight > 0)
        pthread_cond_wait(&r->cv, &r->m);
    pthread_mutex_unlock(&r->m);
}

static int run_init(run *r, int depth)
{
    memset(r, 0, sizeof *r);
    r->slots = calloc((size_t)depth, sizeof *r->slots);
    if (!r->slots)
        return ORBIT_ENOMEM;
    pthread_mutex_init(&r->m, NULL);
    pthread_cond_init(&r->cv, NULL);
    for (int i = 0; i < depth; i++) {
        r->slots[i].r = r;
        r->slots[i].free_next = i + 1 < depth ? i + 1 : -1;
        orbit_buf_init(&r->slots[i].out);
    }
    r->free_head = 0;
    return ORBIT_OK;
}

static void run_release(run *r, int depth)
{
    for (int i = 0; i < depth; i++)
        orbit_buf_release(&r->slots[i].out);
    free(r->slots);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->m);
}

/* ---- through Orbit --------------------------------------------------- */

static void orbit_done(void *arg, orbit_kv_op *ops, size_t n)
{
    slot_done(arg, ops[0].result, orbit_strerror(ops[0].result));
}

/* ops/s of n operations of `type` through orbit_kv_submit; < 0 on error. */
static double via_orbit(orbit_kv *kv, orbit_op_type type, uint64_t n, int depth, const uint8_t *val, run *r)
{
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        slot *s = slot_take(r);
        snprintf(s->key, sizeof s->key, "bench/%08" PRIu64, i);
        s->op = (orbit_kv_op){type, (const uint8_t *)s->key, strlen(s->key), val, VALUE_LEN, &s->out, 0};
        int rc = orbit_kv_submit(kv, &s->op, 1, orbit_done, s);
        if (rc)
            slot_done(s, rc, orbit_last_error_detail());
    }
    drain(r);
    double dt = now_s() - t0;
    return r->errors ? -1.0 : (double)n / dt;
}

/* ---- bare unary calls ------------------------------------------------- */

static void bare_done(void *arg, int rc, const char *detail, const uint8_t *resp, size_t len)
{
    slot_done(arg, rc, detail);
}

/* put: 0 a Range, 1 a Put, 2 a Txn holding one Put (what a guarded write
 * costs etcd before Orbit adds anything). */
static double via_bare(orbit__rpc *rpc, const char *ns, int put, int serializable, uint64_t n,
                       const uint8_t *val, run *r)
{
    orbit__rpc_call_opts o = {5000, 0, !put, -1};
    uint8_t buf[512];
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        slot *s = slot_take(r);
        int kl = snprintf(s->key, sizeof s->key, "%sbench/%08" PRIu64, ns, i);
        size_t len;
        const char *method = put == 2 ? "/etcdserverpb.KV/Txn" : put ? "/etcdserverpb.KV/Put" : "/etcdserverpb.KV/Range";
        if (put) {
            Etcdserverpb__PutRequest rq = ETCDSERVERPB__PUT_REQUEST__INIT;
            rq.key.data = (uint8_t *)s->key;
            rq.key.len = (size_t)kl;
            rq.value.data = (uint8_t *)val;
            rq.value.len = VALUE_LEN;
            Etcdserverpb__RequestOp op = ETCDSERVERPB__REQUEST_OP__INIT;
            op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
            op.request_put = &rq;
            Etcdserverpb__RequestOp *opp = &op;
            Etcdserverpb__TxnRequest tx = ETCDSERVERPB__TXN_REQUEST__INIT;
            tx.n_success = 1;
            tx.success = &opp;
            len = put == 2 ? etcdserverpb__txn_request__pack(&tx, buf) : etcdserverpb__put_request__pack(&rq, buf);
        } else {
            Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
            rq.key.data = (uint8_t *)s->key;
            rq.key.len = (size_t)kl;
            rq.serializable = serializable;
            len = etcdserverpb__range_request__pack(&rq, buf);
        }
        int rc = orbit__rpc_start(rpc, method, buf, len, &o, bare_done, s);
        if (rc)
            slot_done(s, rc, orbit_last_error_detail());
    }
    drain(r);
    double dt = now_s() - t0;
    return r->errors ? -1.0 : (double)n / dt;
}

/* ---- the report ------------------------------------------------------- */

static int fail(FILE *out, const char *what, run *r)
{
    fprintf(out, "bench etcd: %s failed: %" PRIu64 " errors, first %s: %s\n", what, r->errors,
            orbit_err_name(r->first_error), r->detail);
    return r->first_error ? r->first_error : ORBIT_EIO;
}

int orbit__bench_etcd(const char *store_uri, uint64_t ops, int depth, FILE *out)
{
    if (!store_uri || ops == 0 || depth < 1 || depth > 4096) {
        fprintf(out, "bench etcd: need an etcd:// URI, ops > 0 and depth 1..4096\n");
        return ORBIT_EINVAL;
    }
    orbit_uri *u = NULL;
    int rc = orbit_uri_parse(store_uri, &u);
    if (rc) {
        fprintf(out, "bench etcd: %s: %s\n", store_uri, orbit_last_error_detail());
        return rc;
    }
    char *eps = strdup(orbit_uri_body(u));
    const char *nsp = orbit_uri_param(u, "namespace");
    char *ns = strdup(nsp ? nsp : "");
    int explicit_read = orbit_uri_param(u, "read") != NULL;
    orbit_uri_free(u);
    size_t ulen = strlen(store_uri);
    char *ser_uri = malloc(ulen + 32);
    if (!eps || !ns || !ser_uri) {
        free(eps);
        free(ns);
        free(ser_uri);
        return ORBIT_ENOMEM;
    }
    snprintf(ser_uri, ulen + 32, "%s%sread=serializable", store_uri, strchr(store_uri, '?') ? "&" : "?");

    orbit_kv *kv = NULL, *kv_ser = NULL;
    orbit__rpc *rpc = NULL;
    orbit__rpc_config cfg = {eps, NULL, 10000, 5000};
    uint8_t val[VALUE_LEN];
    memset(val, 'v', sizeof val);
    run r;
    double put_o = 0, put_b = 0, put_t = 0, get_o = 0, get_b = 0, gets_o = 0, gets_b = 0;

    if ((rc = orbit_kv_open(store_uri, &kv)) != 0 ||
        (!explicit_read && (rc = orbit_kv_open(ser_uri, &kv_ser)) != 0)) {
        fprintf(out, "bench etcd: open: %s (%s)\n", orbit_err_name(rc), orbit_last_error_detail());
        goto out;
    }
    if ((rc = orbit__rpc_open(&cfg, &rpc)) != 0) {
        fprintf(out, "bench etcd: transport: %s\n", orbit_last_error_detail());
        goto out;
    }
    if ((rc = run_init(&r, depth)) != 0)
        goto out;
    fprintf(out, "bench etcd: %" PRIu64 " ops per run, depth %d, %d-byte values, endpoints %s\n", ops, depth,
            VALUE_LEN, eps);

    /* Bare first, then Orbit, each over the same keys: both sides write
     * over existing keys, and both sides' gets find them. */
    if ((put_b = via_bare(rpc, ns, 1, 0, ops, val, &r)) < 0) {
        rc = fail(out, "bare put", &r);
        goto out_run;
    }
    if ((put_t = via_bare(rpc, ns, 2, 0, ops, val, &r)) < 0) {
        rc = fail(out, "bare txn put", &r);
        goto out_run;
    }
    if ((put_o = via_orbit(kv, ORBIT_OP_PUT, ops, depth, val, &r)) < 0) {
        rc = fail(out, "orbit put", &r);
        goto out_run;
    }
    if ((get_b = via_bare(rpc, ns, 0, 0, ops, val, &r)) < 0) {
        rc = fail(out, "bare get", &r);
        goto out_run;
    }
    if ((get_o = via_orbit(kv, ORBIT_OP_GET, ops, depth, val, &r)) < 0) {
        rc = fail(out, "orbit get", &r);
        goto out_run;
    }
    if ((gets_b = via_bare(rpc, ns, 0, 1, ops, val, &r)) < 0) {
        rc = fail(out, "bare serializable get", &r);
        goto out_run;
    }
    if (kv_ser && (gets_o = via_orbit(kv_ser, ORBIT_OP_GET, ops, depth, val, &r)) < 0) {
        rc = fail(out, "orbit serializable get", &r);
        goto out_run;
    }
    fprintf(out, "%-26s %12s %12s %10s\n", "workload", "orbit ops/s", "bare ops/s", "orbit/bare");
    fprintf(out, "%-26s %12.0f %12.0f %10.2f\n", "put", put_o, put_b, put_o / put_b);
    fprintf(out, "%-26s %12.0f %12.0f %10.2f\n", "put vs bare 1-op Txn", put_o, put_t, put_o / put_t);
    fprintf(out, "%-26s %12.0f %12.0f %10.2f\n", "get (linearizable)", get_o, get_b, get_o / get_b);
    if (kv_ser)
        fprintf(out, "%-26s %12.0f %12.0f %10.2f\n", "get (serializable)", gets_o, gets_b, gets_o / gets_b);
    fprintf(out, "serializable/linearizable get: orbit %.2f, bare %.2f\n", kv_ser ? gets_o / get_o : 0.0,
            gets_b / get_b);
    fprintf(out, "(an Orbit put is one etcd Txn that also advances its commit marker, for exactly-once\n"
                 " retries, unless the URI says writes=plain; \"bare 1-op Txn\" is etcd's own Txn cost)\n");
    rc = ORBIT_OK;
out_run:
    run_release(&r, depth);
out:
    orbit__rpc_close(rpc);
    orbit_kv_close(kv_ser);
    orbit_kv_close(kv);
    free(ser_uri);
    free(ns);
    free(eps);
    return rc;
}
