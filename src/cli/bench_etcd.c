/*
 * `orbit --store etcd://... bench kv` (bench_etcd.h): Orbit's etcd provider
 * next to a bare loop of the very same unary etcd calls, on one cluster in
 * one run.
 *
 * A closed-loop load generator keeps exactly `depth` operations in flight:
 * the issuing thread waits for a free slot, the transport's completion
 * thread frees it. Eight workloads share it, each over the same keys
 * (NS "bench/%08u", 100-byte values):
 *
 *   bare KV.Put           a plain Put (a client without exactly-once)
 *   bare KV.Txn           the Txn Orbit sends for a guarded put, built here
 *                         on the transport: compare a commit marker's
 *                         mod_revision, put the key, put the marker, with
 *                         the marker read as the failure branch; one marker
 *                         per slot, as the provider has one per write in
 *                         flight, its revision taken from each answer
 *   Orbit put             orbit_kv_submit on the store (guarded, default:
 *                         the provider group-commits the puts in flight,
 *                         many per Txn with one marker update)
 *   Orbit put plain       the same with writes=plain (a plain Put)
 *   bare / Orbit get      KV.Range and orbit_kv_submit GET, linearizable,
 *                         then both serializable (read=serializable)
 *
 * so Orbit / bare KV.Txn compares Orbit's guarded put with one guarded Txn
 * per put (above 1 where group commit pays), bare KV.Txn / bare KV.Put is
 * the cost of a per-put guard, and Orbit guarded / bare KV.Put what
 * exactly-once costs with group commit (target >= 0.90 at depth 64)
 * itself. The bare loops use the transport with the call options the
 * provider derives from the same URI, and decode what a client must: a
 * Txn's outcome and revision, a Range's value (checked, as Orbit's is).
 *
 * Before timing, every key is written once (so each timed put overwrites
 * and each get finds its key) and each workload runs a short warm-up. The
 * puts, then the gets, take turns in slices: each workload runs its
 * operations in up to MAX_SLICES slices, one slice of each workload after
 * the other, in table order and in reverse order alternately, so that the
 * cluster's drift and the machine's other load fall on all of them alike
 * (on a busy machine a workload run all at once can be twice as fast as
 * the same workload a minute later). Figures are operations per
 * wall-clock second and the client process's CPU time per operation (all
 * its threads: the issuer, the completion threads, gRPC's own). At the end
 * the benchmark's keys and bare markers are deleted; Orbit's handles delete
 * their own markers when they close.
 *
 * Sits beside the CLI but below its usual layer: it uses the transport
 * (src/rpc) and etcd's messages directly, which the bare side needs, and
 * nothing of the provider's internals.
 */
#include "cli/bench_etcd.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "etcd_rpc.pb-c.h"
#include "orbit/kv.h"
#include "orbit/provider.h"
#include "rpc/rpc.h"

#define VALUE_LEN 100
#define MAX_NS 200                /* longest namespace accepted */
#define KEY_CAP (MAX_NS + 32)     /* NS "bench/" and 20 digits */
#define REQ_CAP (2 * KEY_CAP + 512) /* a packed Txn: key, value, marker x3 */
#define MAX_OPS 100000000u
#define LOAD_DEPTH 64             /* the untimed first write of every key */
#define MAX_SLICES 10
#define MIN_SLICE 200             /* operations, and 16 per slot in flight */

/* Where the provider keeps commit markers (ETCD_MARKER_ROOT in
 * src/providers/etcd/etcd_int.h): the bare Txn's markers have the same
 * place and shape, FF FF FF, 32 hex digits, "/", the slot number. */
#define MARKER_ROOT "\xff\xff\xff"

#define M_RANGE "/etcdserverpb.KV/Range"
#define M_PUT "/etcdserverpb.KV/Put"
#define M_DELETE "/etcdserverpb.KV/DeleteRange"
#define M_TXN "/etcdserverpb.KV/Txn"

/* The provider's defaults (src/providers/etcd/etcd.c), for the bare calls'
 * options when the URI leaves them out. */
#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_KEEPALIVE_MS 10000
#define DEFAULT_CONNECT_TIMEOUT_MS 1500

typedef struct slot slot;
typedef struct run run;

struct slot {
    run *r;
    int free_next; /* index of the next free slot, -1 at the end */
    orbit_kv_op op;
    char key[KEY_CAP];
    orbit_buf out;
    /* the bare Txn's commit marker for this slot */
    char mkey[64];
    int mklen;
    int64_t mrev; /* its mod_revision as last seen; 0: absent */
};

struct run {
    pthread_mutex_t m;
    pthread_cond_t cv;
    slot *slots;
    int nslots;
    int free_head;
    int inflight;
    uint64_t errors;
    int first_error;
    char detail[256];
};

static void slot_done(slot *s, int rc, const char *detail)
{
    run *r = s->r;
    pthread_mutex_lock(&r->m);
    if (rc != 0 && r->errors++ == 0) {
        r->first_error = rc;
        snprintf(r->detail, sizeof r->detail, "%s", detail ? detail : "");
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

static int run_init(run *r, int depth, const char *marker_id)
{
    memset(r, 0, sizeof *r);
    r->slots = calloc((size_t)depth, sizeof *r->slots);
    if (!r->slots)
        return ORBIT_ENOMEM;
    r->nslots = depth;
    pthread_mutex_init(&r->m, NULL);
    pthread_cond_init(&r->cv, NULL);
    for (int i = 0; i < depth; i++) {
        slot *s = &r->slots[i];
        s->r = r;
        s->free_next = i + 1 < depth ? i + 1 : -1;
        orbit_buf_init(&s->out);
        s->mklen = snprintf(s->mkey, sizeof s->mkey, "%s%s/%d", MARKER_ROOT, marker_id, i);
    }
    r->free_head = 0;
    return ORBIT_OK;
}

static void run_release(run *r)
{
    if (!r->slots)
        return;
    for (int i = 0; i < r->nslots; i++)
        orbit_buf_release(&r->slots[i].out);
    free(r->slots);
    r->slots = NULL;
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->m);
}

/* ---- the workloads ----------------------------------------------------- */

enum {
    W_BARE_PUT,
    W_BARE_TXN,
    W_ORBIT_PUT,
    W_ORBIT_PLAIN,
    W_BARE_GET,
    W_ORBIT_GET,
    W_BARE_GET_SER,
    W_ORBIT_GET_SER,
    NWORK
};

/* The Orbit handles: one per URI variant. */
enum { KV_DEFAULT, KV_PLAIN, KV_SER, NKV };

static const struct {
    const char *label;
    int kv; /* the Orbit handle, or -1 for a bare loop */
} works[NWORK] = {
    {"bare  KV.Put", -1},
    {"bare  KV.Txn, as Orbit's guarded put", -1},
    {"Orbit put (writes=guarded, default)", KV_DEFAULT},
    {"Orbit put (writes=plain)", KV_PLAIN},
    {"bare  KV.Range, linearizable", -1},
    {"Orbit get (read=linearizable, default)", KV_DEFAULT},
    {"bare  KV.Range, serializable", -1},
    {"Orbit get (read=serializable)", KV_SER},
};

typedef struct bench {
    orbit__rpc *rpc;
    orbit__rpc_call_opts o; /* what the provider uses for every call */
    const char *ns;
    char marker_id[33];
    uint64_t seq; /* the bare markers' values; issuing thread only */
    orbit_kv *kv[NKV];
    run r;
    uint8_t val[VALUE_LEN];
} bench;

typedef struct timing {
    double wall, cpu;
} timing;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Completion of an Orbit op: the put went through, or the get found the
 * value written. Runs on the provider's transport thread. */
static void orbit_done(void *arg, orbit_kv_op *ops, size_t n)
{
    (void)n;
    slot *s = arg;
    int rc = ops[0].result;
    const char *detail = rc < 0 ? orbit_last_error_detail() : "";
    if (rc == ORBIT_NOTFOUND)
        detail = "a key written before was not found";
    else if (rc == 0 && ops[0].type == ORBIT_OP_GET && ops[0].out->len != VALUE_LEN) {
        rc = ORBIT_EPROTO;
        detail = "a get returned a value of the wrong length";
    }
    slot_done(s, rc, detail);
}

static void bare_put_done(void *arg, int rc, const char *detail, const uint8_t *resp, size_t len)
{
    (void)resp;
    (void)len;
    slot_done(arg, rc, detail);
}

/* The guarded put's answer: it must have succeeded (no one else writes
 * these markers), and its revision is the marker's next compare value. */
static void bare_txn_done(void *arg, int rc, const char *detail, const uint8_t *resp, size_t len)
{
    slot *s = arg;
    if (rc == 0) {
        Etcdserverpb__TxnResponse *tr = etcdserverpb__txn_response__unpack(NULL, len, resp);
        if (!tr) {
            rc = ORBIT_EPROTO;
            detail = "cannot decode a Txn response";
        } else if (!tr->succeeded || !tr->header || tr->header->revision <= 0) {
            rc = ORBIT_EPROTO;
            detail = "a bare Txn's marker compare failed";
        } else {
            s->mrev = tr->header->revision;
        }
        if (tr)
            etcdserverpb__txn_response__free_unpacked(tr, NULL);
    }
    slot_done(s, rc, detail);
}

static void bare_get_done(void *arg, int rc, const char *detail, const uint8_t *resp, size_t len)
{
    if (rc == 0) {
        Etcdserverpb__RangeResponse *rr = etcdserverpb__range_response__unpack(NULL, len, resp);
        if (!rr) {
            rc = ORBIT_EPROTO;
            detail = "cannot decode a Range response";
        } else if (rr->n_kvs != 1) {
            rc = ORBIT_NOTFOUND;
            detail = "a key written before was not found";
        } else if (rr->kvs[0]->value.len != VALUE_LEN) {
            rc = ORBIT_EPROTO;
            detail = "a get returned a value of the wrong length";
        }
        if (rr)
            etcdserverpb__range_response__free_unpacked(rr, NULL);
    }
    slot_done(arg, rc, detail);
}

/* Start operation i of workload w in slot s. 0, or an error (and then
 * nothing was started). */
static int issue(bench *b, int w, slot *s, uint64_t i)
{
    if (works[w].kv >= 0) {
        int kl = snprintf(s->key, sizeof s->key, "bench/%08" PRIu64, i);
        int get = w == W_ORBIT_GET || w == W_ORBIT_GET_SER;
        s->op = (orbit_kv_op){.type = get ? ORBIT_OP_GET : ORBIT_OP_PUT,
                              .key = (const uint8_t *)s->key,
                              .klen = (size_t)kl,
                              .val = get ? NULL : b->val,
                              .vlen = get ? 0 : VALUE_LEN,
                              .out = &s->out};
        return orbit_kv_submit(b->kv[works[w].kv], &s->op, 1, orbit_done, s);
    }

    int kl = snprintf(s->key, sizeof s->key, "%s" "bench/%08" PRIu64, b->ns, i);
    uint8_t req[REQ_CAP];
    size_t len;
    Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
    put.key.data = (uint8_t *)s->key;
    put.key.len = (size_t)kl;
    put.value.data = b->val;
    put.value.len = VALUE_LEN;
    if (w == W_BARE_PUT) {
        len = etcdserverpb__put_request__pack(&put, req);
        return orbit__rpc_start(b->rpc, M_PUT, req, len, &b->o, bare_put_done, s);
    }
    if (w == W_BARE_TXN) {
        char mval[24];
        int mvlen = snprintf(mval, sizeof mval, "%" PRIu64, ++b->seq);
        Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
        cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
        cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
        cmp.key.data = (uint8_t *)s->mkey;
        cmp.key.len = (size_t)s->mklen;
        cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
        cmp.mod_revision = s->mrev;
        Etcdserverpb__Compare *cmpp = &cmp;
        Etcdserverpb__PutRequest mput = ETCDSERVERPB__PUT_REQUEST__INIT;
        mput.key.data = (uint8_t *)s->mkey;
        mput.key.len = (size_t)s->mklen;
        mput.value.data = (uint8_t *)mval;
        mput.value.len = (size_t)mvlen;
        Etcdserverpb__RequestOp succ[2] = {ETCDSERVERPB__REQUEST_OP__INIT, ETCDSERVERPB__REQUEST_OP__INIT};
        succ[0].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
        succ[0].request_put = &put;
        succ[1].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
        succ[1].request_put = &mput;
        Etcdserverpb__RequestOp *succp[2] = {&succ[0], &succ[1]};
        Etcdserverpb__RangeRequest probe = ETCDSERVERPB__RANGE_REQUEST__INIT;
        probe.key.data = (uint8_t *)s->mkey;
        probe.key.len = (size_t)s->mklen;
        Etcdserverpb__RequestOp fail = ETCDSERVERPB__REQUEST_OP__INIT;
        fail.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
        fail.request_range = &probe;
        Etcdserverpb__RequestOp *failp = &fail;
        Etcdserverpb__TxnRequest tx = ETCDSERVERPB__TXN_REQUEST__INIT;
        tx.n_compare = 1;
        tx.compare = &cmpp;
        tx.n_success = 2;
        tx.success = succp;
        tx.n_failure = 1;
        tx.failure = &failp;
        len = etcdserverpb__txn_request__pack(&tx, req);
        return orbit__rpc_start(b->rpc, M_TXN, req, len, &b->o, bare_txn_done, s);
    }
    Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
    rq.key.data = (uint8_t *)s->key;
    rq.key.len = (size_t)kl;
    rq.serializable = w == W_BARE_GET_SER;
    len = etcdserverpb__range_request__pack(&rq, req);
    return orbit__rpc_start(b->rpc, M_RANGE, req, len, &b->o, bare_get_done, s);
}

/* Workload w over keys [from, to) with every slot of r in use; adds the
 * time taken to *t when t is not NULL. 0, or the first error (printed). */
static int pass(bench *b, run *r, int w, uint64_t from, uint64_t to, timing *t)
{
    double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (uint64_t i = from; i < to; i++) {
        slot *s = slot_take(r);
        int rc = issue(b, w, s, i);
        if (rc)
            slot_done(s, rc, orbit_last_error_detail());
    }
    drain(r);
    if (t) {
        t->wall += clock_s(CLOCK_MONOTONIC) - w0;
        t->cpu += clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    if (r->errors) {
        fprintf(stderr, "orbit: bench kv: %s: %" PRIu64 " of %" PRIu64 " operations failed, the first with %s (%s)\n",
                works[w].label, r->errors, to - from, orbit_err_name(r->first_error), r->detail);
        return r->first_error;
    }
    return ORBIT_OK;
}

/* ---- setting up and cleaning up ---------------------------------------- */

/* The store URI with one more option; NULL when out of memory. */
static char *uri_with(const char *uri, const char *opt)
{
    size_t n = strlen(uri) + strlen(opt) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%c%s", uri, strchr(uri, '?') ? '&' : '?', opt);
    return s;
}

/* The cluster's current revision (a linearizable count-only Range), to
 * show how much history the run added: etcd's Txn and Range slow down as
 * it grows. */
static int cluster_revision(bench *b, int64_t *rev)
{
    Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
    rq.key.data = (uint8_t *)b->ns;
    rq.key.len = strlen(b->ns);
    if (rq.key.len == 0) {
        rq.key.data = (uint8_t *)"bench/";
        rq.key.len = 6;
    }
    rq.count_only = 1;
    uint8_t req[KEY_CAP + 16];
    size_t len = etcdserverpb__range_request__pack(&rq, req);
    orbit_buf resp = ORBIT_BUF_INIT;
    int rc = orbit__rpc_call(b->rpc, M_RANGE, req, len, &b->o, &resp);
    *rev = 0;
    if (rc == 0) {
        Etcdserverpb__RangeResponse *rr = etcdserverpb__range_response__unpack(NULL, resp.len, resp.data);
        if (rr && rr->header)
            *rev = rr->header->revision;
        if (rr)
            etcdserverpb__range_response__free_unpacked(rr, NULL);
    }
    orbit_buf_release(&resp);
    return rc;
}

/* Delete [lo, lo with its last byte raised by one), that is every key
 * starting with lo; *deleted receives the count. */
static int delete_prefix(bench *b, const char *lo, size_t lolen, int64_t *deleted)
{
    char hi[KEY_CAP + 64];
    memcpy(hi, lo, lolen);
    hi[lolen - 1] = (char)(lo[lolen - 1] + 1);
    Etcdserverpb__DeleteRangeRequest dr = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    dr.key.data = (uint8_t *)lo;
    dr.key.len = lolen;
    dr.range_end.data = (uint8_t *)hi;
    dr.range_end.len = lolen;
    uint8_t req[2 * sizeof hi + 16];
    size_t len = etcdserverpb__delete_range_request__pack(&dr, req);
    orbit_buf resp = ORBIT_BUF_INIT;
    int rc = orbit__rpc_call(b->rpc, M_DELETE, req, len, &b->o, &resp);
    *deleted = 0;
    if (rc == 0) {
        Etcdserverpb__DeleteRangeResponse *r = etcdserverpb__delete_range_response__unpack(NULL, resp.len, resp.data);
        if (r) {
            *deleted = r->deleted;
            etcdserverpb__delete_range_response__free_unpacked(r, NULL);
        }
    }
    orbit_buf_release(&resp);
    return rc;
}

/* Delete the benchmark's keys (NS "bench/...") and the bare markers; both
 * only ever hold what this command wrote. */
static void cleanup(bench *b, FILE *out)
{
    char lo[KEY_CAP + 64];
    int64_t keys = 0, markers = 0;
    int n = snprintf(lo, sizeof lo, "%sbench/", b->ns);
    int rc = delete_prefix(b, lo, (size_t)n, &keys);
    if (rc == 0) {
        n = snprintf(lo, sizeof lo, "%s%s/", MARKER_ROOT, b->marker_id);
        rc = delete_prefix(b, lo, (size_t)n, &markers);
    }
    if (rc)
        fprintf(stderr, "orbit: bench kv: cleanup: %s (%s); the keys under \"%sbench/\" remain\n",
                orbit_err_name(rc), orbit_last_error_detail(), b->ns);
    else
        fprintf(out, "cleanup: deleted %" PRId64 " keys under \"%sbench/\" and %" PRId64 " bare commit markers\n",
                keys, b->ns, markers);
}

static void make_marker_id(char out[33])
{
    uint8_t rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t a = (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 32), c = (uint64_t)ts.tv_nsec;
        memcpy(rnd, &a, 8);
        memcpy(rnd + 8, &c, 8);
    }
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", rnd[i]);
}

/* ---- the report -------------------------------------------------------- */

static void ratio_line(FILE *out, const char *label, const timing *t, uint64_t ops, int a, int b)
{
    double ra = (double)ops / t[a].wall, rb = (double)ops / t[b].wall;
    fprintf(out, "  %-46s %6.2f   (client CPU per op: %.2f)\n", label, ra / rb, t[a].cpu / t[b].cpu);
}

static void report(FILE *out, const timing *t, uint64_t ops)
{
    fprintf(out, "\n%-42s %10s %18s\n", "workload", "ops/s", "client CPU us/op");
    for (int w = 0; w < NWORK; w++)
        fprintf(out, "%-42s %10.0f %18.1f\n", works[w].label, (double)ops / t[w].wall, t[w].cpu / (double)ops * 1e6);
    fprintf(out, "\nOrbit / bare, the same etcd calls (the cost of Orbit's own layers; target >= 0.90):\n");
    ratio_line(out, "put, guarded: Orbit put (grouped) / bare KV.Txn", t, ops, W_ORBIT_PUT, W_BARE_TXN);
    ratio_line(out, "put, writes=plain: Orbit put / bare KV.Put", t, ops, W_ORBIT_PLAIN, W_BARE_PUT);
    ratio_line(out, "get, linearizable: Orbit get / bare KV.Range", t, ops, W_ORBIT_GET, W_BARE_GET);
    ratio_line(out, "get, serializable: Orbit get / bare KV.Range", t, ops, W_ORBIT_GET_SER, W_BARE_GET_SER);
    fprintf(out, "The exactly-once guard (one guarded Txn per put; with Orbit's group commit, target >= 0.90):\n");
    ratio_line(out, "bare KV.Txn / bare KV.Put", t, ops, W_BARE_TXN, W_BARE_PUT);
    ratio_line(out, "Orbit put (guarded, grouped) / bare KV.Put", t, ops, W_ORBIT_PUT, W_BARE_PUT);
    fprintf(out, "Serializable / linearizable get:\n");
    ratio_line(out, "Orbit", t, ops, W_ORBIT_GET_SER, W_ORBIT_GET);
    ratio_line(out, "bare", t, ops, W_BARE_GET_SER, W_BARE_GET);
}

/* ---- the command ------------------------------------------------------- */

static const int put_group[] = {W_BARE_PUT, W_BARE_TXN, W_ORBIT_PUT, W_ORBIT_PLAIN};
static const int get_group[] = {W_BARE_GET, W_ORBIT_GET, W_BARE_GET_SER, W_ORBIT_GET_SER};

/* How many slices each workload's operations are cut into. */
static uint64_t slice_count(uint64_t ops, int depth)
{
    uint64_t min = (uint64_t)depth * 16 > MIN_SLICE ? (uint64_t)depth * 16 : MIN_SLICE;
    uint64_t n = ops / min;
    return n < 1 ? 1 : n > MAX_SLICES ? MAX_SLICES : n;
}

/* The workloads of a group take turns, one slice each, in group order and
 * in reverse order alternately; slice j covers keys [ops*j/n, ops*(j+1)/n). */
static int timed_group(bench *b, const int *group, int n, uint64_t ops, uint64_t slices, timing *t)
{
    for (uint64_t j = 0; j < slices; j++) {
        uint64_t from = ops * j / slices, to = ops * (j + 1) / slices;
        for (int k = 0; k < n; k++) {
            int w = group[j % 2 ? n - 1 - k : k];
            int rc = pass(b, &b->r, w, from, to, &t[w]);
            if (rc)
                return rc;
        }
    }
    return ORBIT_OK;
}

static int measure(bench *b, uint64_t ops, uint64_t warm, uint64_t slices, FILE *out)
{
    int64_t rev0 = 0, rev1 = 0;
    int rc = cluster_revision(b, &rev0);
    if (rc) {
        fprintf(stderr, "orbit: bench kv: %s (%s)\n", orbit_strerror(rc), orbit_last_error_detail());
        return rc;
    }
    run load;
    if ((rc = run_init(&load, LOAD_DEPTH, b->marker_id)) != 0) {
        fprintf(stderr, "orbit: bench kv: out of memory\n");
        return rc;
    }
    /* Every key exists before the clock starts. */
    rc = pass(b, &load, W_BARE_PUT, 0, ops, NULL);
    run_release(&load);
    if (rc)
        return rc;
    for (int w = 0; w < NWORK && !rc; w++)
        rc = pass(b, &b->r, w, 0, warm, NULL);
    if (rc)
        return rc;
    timing t[NWORK];
    memset(t, 0, sizeof t);
    if ((rc = timed_group(b, put_group, 4, ops, slices, t)) != 0 ||
        (rc = timed_group(b, get_group, 4, ops, slices, t)) != 0)
        return rc;
    if ((rc = cluster_revision(b, &rev1)) != 0) {
        fprintf(stderr, "orbit: bench kv: %s (%s)\n", orbit_strerror(rc), orbit_last_error_detail());
        return rc;
    }
    report(out, t, ops);
    fprintf(out, "cluster history: revision %" PRId64 " before the first write, %" PRId64 " after the last\n", rev0,
            rev1);
    return ORBIT_OK;
}

int orbit__bench_etcd(const char *store_uri, uint64_t ops, int depth, FILE *out)
{
    if (!store_uri || ops == 0 || ops > MAX_OPS || depth < 1 || depth > 4096) {
        fprintf(stderr, "orbit: bench kv: need an etcd:// store, --ops 1..%u and --depth 1..4096\n", MAX_OPS);
        return ORBIT_EINVAL;
    }
    orbit_uri *u = NULL;
    int rc = orbit_uri_parse(store_uri, &u);
    if (rc) {
        fprintf(stderr, "orbit: bench kv: %s: %s\n", store_uri, orbit_last_error_detail());
        return rc;
    }
    /* The bare calls get the options the provider derives from this URI. */
    uint64_t timeout = DEFAULT_TIMEOUT_MS, attempt = 0, keepalive = DEFAULT_KEEPALIVE_MS,
             connect = DEFAULT_CONNECT_TIMEOUT_MS;
    rc = orbit_uri_param_u64(u, "timeout_ms", DEFAULT_TIMEOUT_MS, &timeout);
    if (!rc)
        rc = orbit_uri_param_u64(u, "attempt_ms", 0, &attempt);
    if (!rc)
        rc = orbit_uri_param_u64(u, "keepalive_ms", DEFAULT_KEEPALIVE_MS, &keepalive);
    if (!rc)
        rc = orbit_uri_param_u64(u, "connect_timeout_ms", DEFAULT_CONNECT_TIMEOUT_MS, &connect);
    const char *nsp = orbit_uri_param(u, "namespace");
    const char *ca = orbit_uri_param(u, "ca_file");
    int chosen = orbit_uri_param(u, "read") != NULL || orbit_uri_param(u, "writes") != NULL;
    char *eps = strdup(orbit_uri_body(u));
    char *ns = strdup(nsp ? nsp : "");
    char *cafile = ca ? strdup(ca) : NULL;
    orbit_uri_free(u);

    bench b;
    memset(&b, 0, sizeof b);
    char *uri_plain = uri_with(store_uri, "writes=plain");
    char *uri_ser = uri_with(store_uri, "read=serializable");
    if (rc) {
        fprintf(stderr, "orbit: bench kv: %s: %s\n", store_uri, orbit_last_error_detail());
        goto out;
    }
    rc = ORBIT_ENOMEM;
    if (!eps || !ns || (ca && !cafile) || !uri_plain || !uri_ser) {
        fprintf(stderr, "orbit: bench kv: out of memory\n");
        goto out;
    }
    rc = ORBIT_EINVAL;
    if (chosen) {
        fprintf(stderr, "orbit: bench kv: the etcd benchmark measures both read= and writes= modes itself; "
                        "leave them out of the store URI\n");
        goto out;
    }
    if (strlen(ns) > MAX_NS) {
        fprintf(stderr, "orbit: bench kv: a namespace of at most %d bytes, please\n", MAX_NS);
        goto out;
    }
    b.ns = ns;
    b.o.timeout_ms = (uint32_t)timeout;
    b.o.attempt_ms = attempt ? (uint32_t)attempt : (uint32_t)(timeout / 3 > 1000 ? timeout / 3 : 1000);
    b.o.idempotent = 1;
    b.o.endpoint = -1;
    memset(b.val, 'v', sizeof b.val);
    make_marker_id(b.marker_id);

    const char *uris[NKV] = {store_uri, uri_plain, uri_ser};
    for (int k = 0; k < NKV; k++) {
        if ((rc = orbit_kv_open(uris[k], &b.kv[k])) != 0) {
            fprintf(stderr, "orbit: bench kv: cannot open %s: %s (%s)\n", uris[k], orbit_strerror(rc),
                    orbit_last_error_detail());
            goto out;
        }
    }
    orbit__rpc_config cfg = {eps, cafile, (uint32_t)keepalive, 5000, (uint32_t)connect};
    if ((rc = orbit__rpc_open(&cfg, &b.rpc)) != 0) {
        fprintf(stderr, "orbit: bench kv: transport to %s: %s (%s)\n", eps, orbit_strerror(rc),
                orbit_last_error_detail());
        goto out;
    }
    if ((rc = run_init(&b.r, depth, b.marker_id)) != 0) {
        fprintf(stderr, "orbit: bench kv: out of memory\n");
        goto out;
    }

    fprintf(out, "orbit bench kv on etcd: %" PRIu64 " operations per workload, %d in flight, %d-byte values\n",
            ops, depth, VALUE_LEN);
    fprintf(out, "endpoints: %s (Orbit and bare calls alike go to the first that answers)\n", eps);
    uint64_t warm = (uint64_t)depth * 4 + 100;
    if (warm > ops)
        warm = ops;
    fprintf(out, "keys: \"%sbench/%%08u\", each written once before timing; %" PRIu64
                 " untimed warm-up operations per workload\n",
            ns, warm);
    uint64_t slices = slice_count(ops, depth);
    fprintf(out, "order: puts, then gets; each workload in %" PRIu64 " slice%s, the workloads taking turns\n"
                 "       slice by slice, in table order and reverse order alternately\n",
            slices, slices == 1 ? "" : "s");
    fflush(out);
    rc = measure(&b, ops, warm, slices, out);
    cleanup(&b, out);

out:
    run_release(&b.r);
    orbit__rpc_close(b.rpc);
    for (int k = NKV - 1; k >= 0; k--)
        orbit_kv_close(b.kv[k]);
    free(uri_ser);
    free(uri_plain);
    free(cafile);
    free(ns);
    free(eps);
    return rc;
}
