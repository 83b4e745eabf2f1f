/*
 * The unary gRPC client transport (src/rpc/rpc.h), on gRPC core 1.51.
 *
 * Shape: one channel per endpoint, one completion queue, one thread that
 * drains it. A call (struct rcall) owns a copy of the request and makes one
 * or more attempts; each attempt is one grpc_call whose single batch carries
 * all six client ops, so the completion thread sees exactly one event per
 * attempt. Retries are scheduled on a list private to the completion thread,
 * which wakes for the earliest one (completion_queue_next's deadline), so no
 * other timer machinery is needed.
 *
 * Invariants:
 *   - `inflight` counts calls whose done callback has not yet returned;
 *     close waits for it to reach zero before shutting the queue down, so
 *     no event can arrive for a freed call;
 *   - the retry list and the jitter seed are touched only by the
 *     completion thread;
 *   - `current` (the endpoint new calls use) only moves forward by CAS from
 *     the endpoint that just failed, so one outage moves it once, not once
 *     per failed call.
 *
 * Streams (orbit__rpc_stream_*) are separate: each has a completion queue
 * of its own that its caller plucks, blocking, so they share nothing with
 * the completion thread but the channels.
 *
 * Sits below the providers (src/providers/etcd and tikv use it); it knows
 * nothing about what the bytes mean.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "base/base.h"
#include "orbit/provider.h"
#include "rpc/rpc.h"

#define DEFAULT_TIMEOUT_MS 5000u
#define BACKOFF_BASE_MS 20u
#define BACKOFF_CAP_MS 500u
#define MAX_CA_BYTES (4u << 20)
#define DETAIL_LEN 384

typedef struct endpoint {
    char *target;
    grpc_channel *ch;
} endpoint;

typedef struct rcall rcall;

struct orbit__rpc {
    endpoint *eps;
    size_t neps;
    grpc_completion_queue *cq;
    pthread_t thread;
    int thread_started;
    _Atomic size_t current;

    pthread_mutex_t lock;
    pthread_cond_t idle;
    size_t inflight; /* under lock */
    size_t max_inflight; /* under lock: the most ever in flight at once */
    size_t streams;  /* under lock: streams open (close waits for them too) */
    int closing;     /* under lock */

    uint32_t connect_ms; /* the connect deadline; 0: none */
    atomic_int ever_reached;

    rcall *retries; /* completion thread only, sorted by retry_at_ns */
    uint64_t seed;  /* completion thread only */
};

struct rcall {
    orbit__rpc *r;
    const char *method;
    grpc_byte_buffer *req;
    orbit__rpc_call_opts o;
    orbit__rpc_done_fn done;
    void *arg;
    uint64_t start_ns;    /* monotonic */
    uint64_t attempt_ns;  /* when the current attempt started */
    uint64_t deadline_ns; /* monotonic */
    uint32_t attempts;
    int maybe_sent; /* some finished attempt may have reached the server */
    uint64_t refused_since_ns; /* start of the current run of attempts
                                * that could not connect; 0: none */
    uint64_t tried; /* bit i: endpoint i was tried (the first 64) */
    size_t ep;

    /* the current attempt; gRPC may consume a sent buffer, so each attempt
     * sends its own copy of req */
    grpc_call *gc;
    grpc_byte_buffer *sent;
    grpc_metadata_array imd, tmd;
    grpc_byte_buffer *resp;
    grpc_status_code status;
    grpc_slice details;
    const char *error_string;

    /* Released before each attempt starts, acquired when its event arrives:
     * gRPC already orders the two, but inside uninstrumented code, so this
     * makes the hand-over visible to ThreadSanitizer. */
    atomic_uint published;

    uint64_t retry_at_ns;
    rcall *next;
    char last[DETAIL_LEN]; /* the last failed attempt, for the final detail */
};

/* ---- status translation ------------------------------------------------ */

int orbit__rpc_map_status(int code, const char *msg)
{
    if (!msg)
        msg = "";
    switch ((grpc_status_code)code) {
    case GRPC_STATUS_OK: return ORBIT_OK;
    case GRPC_STATUS_UNAVAILABLE: return ORBIT_EUNAVAIL;
    case GRPC_STATUS_DEADLINE_EXCEEDED: return ORBIT_ETIMEDOUT;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        /* etcd's NOSPACE alarm ("etcdserver: mvcc: database space
         * exceeded"), gRPC's own size check ("received message larger than
         * max"), or a server shedding load ("too many requests"). */
        if (strstr(msg, "space exceeded") || strstr(msg, "NOSPACE"))
            return ORBIT_ENOSPACE;
        if (strstr(msg, "larger than max") || strstr(msg, "too large"))
            return ORBIT_ETOOBIG;
        return ORBIT_EBUSY;
    case GRPC_STATUS_INVALID_ARGUMENT:
        /* etcd: "request is too large", "too many operations in txn request". */
        if (strstr(msg, "too large") || strstr(msg, "too many operations"))
            return ORBIT_ETOOBIG;
        return ORBIT_EINVAL;
    case GRPC_STATUS_OUT_OF_RANGE:
        /* etcd: "mvcc: required revision has been compacted" (the history
         * is gone: retry at a newer revision) versus "mvcc: required
         * revision is a future revision" (a caller error). */
        if (strstr(msg, "compacted"))
            return ORBIT_ECOMPACTED;
        return ORBIT_EINVAL;
    case GRPC_STATUS_FAILED_PRECONDITION: return ORBIT_EINVAL;
    case GRPC_STATUS_NOT_FOUND: return ORBIT_EINVAL;
    case GRPC_STATUS_ALREADY_EXISTS: return ORBIT_EEXIST;
    case GRPC_STATUS_ABORTED: return ORBIT_ECONFLICT;
    case GRPC_STATUS_UNIMPLEMENTED: return ORBIT_ENOTSUP;
    case GRPC_STATUS_CANCELLED: return ORBIT_ECLOSED;
    case GRPC_STATUS_PERMISSION_DENIED:
    case GRPC_STATUS_UNAUTHENTICATED: return ORBIT_EINVAL;
    case GRPC_STATUS_DATA_LOSS: return ORBIT_ECORRUPT;
    case GRPC_STATUS_UNKNOWN:
        /* A Go server returns a context error it did not map as UNKNOWN
         * (etcd: "context deadline exceeded" when our deadline fires while
         * the request waits for raft). */
        if (strstr(msg, "deadline exceeded"))
            return ORBIT_ETIMEDOUT;
        return ORBIT_EIO;
    case GRPC_STATUS_INTERNAL:
    default: return ORBIT_EIO;
    }
}

static const char *status_name(grpc_status_code c)
{
    switch (c) {
    case GRPC_STATUS_OK: return "OK";
    case GRPC_STATUS_CANCELLED: return "CANCELLED";
    case GRPC_STATUS_UNKNOWN: return "UNKNOWN";
    case GRPC_STATUS_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case GRPC_STATUS_DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case GRPC_STATUS_NOT_FOUND: return "NOT_FOUND";
    case GRPC_STATUS_ALREADY_EXISTS: return "ALREADY_EXISTS";
    case GRPC_STATUS_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case GRPC_STATUS_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case GRPC_STATUS_FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case GRPC_STATUS_ABORTED: return "ABORTED";
    case GRPC_STATUS_OUT_OF_RANGE: return "OUT_OF_RANGE";
    case GRPC_STATUS_UNIMPLEMENTED: return "UNIMPLEMENTED";
    case GRPC_STATUS_INTERNAL: return "INTERNAL";
    case GRPC_STATUS_UNAVAILABLE: return "UNAVAILABLE";
    case GRPC_STATUS_DATA_LOSS: return "DATA_LOSS";
    case GRPC_STATUS_UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "status?";
    }
}

uint32_t orbit__rpc_backoff_ms(uint32_t attempt, uint32_t base_ms, uint32_t cap_ms,
                               uint64_t *seed)
{
    uint64_t ceil = base_ms;
    for (uint32_t i = 1; i < attempt && ceil < cap_ms; i++)
        ceil *= 2;
    if (ceil > cap_ms)
        ceil = cap_ms;
    uint64_t x = *seed ? *seed : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *seed = x;
    return (uint32_t)((x * 0x2545f4914f6cdd1dull) % (ceil + 1));
}

/* ---- opening and closing ----------------------------------------------- */

static void *cq_thread(void *arg);

static int read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return orbit_error_set(ORBIT_EINVAL, "cannot open CA file %s", path);
    char *buf = malloc(MAX_CA_BYTES + 1);
    if (!buf) {
        fclose(f);
        return ORBIT_ENOMEM;
    }
    size_t n = fread(buf, 1, MAX_CA_BYTES, f);
    int err = ferror(f);
    fclose(f);
    if (err || n == 0 || n == MAX_CA_BYTES) {
        free(buf);
        return orbit_error_set(ORBIT_EINVAL, "CA file %s is unreadable, empty or over %u bytes",
                               path, MAX_CA_BYTES);
    }
    buf[n] = '\0';
    *out = buf;
    return ORBIT_OK;
}

static void free_endpoints(orbit__rpc *r)
{
    for (size_t i = 0; i < r->neps; i++) {
        if (r->eps[i].ch)
            grpc_channel_destroy(r->eps[i].ch);
        free(r->eps[i].target);
    }
    free(r->eps);
    r->eps = NULL;
    r->neps = 0;
}

static int parse_endpoints(orbit__rpc *r, const char *list)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    r->eps = calloc(n, sizeof *r->eps);
    if (!r->eps)
        return ORBIT_ENOMEM;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0)
            return orbit_error_set(ORBIT_EINVAL, "empty endpoint in \"%s\"", list);
        char *t = malloc(len + 1);
        if (!t)
            return ORBIT_ENOMEM;
        memcpy(t, p, len);
        t[len] = '\0';
        r->eps[r->neps++].target = t;
        p += len + (e ? 1 : 0);
    }
    if (r->neps == 0)
        return orbit_error_set(ORBIT_EINVAL, "no endpoint given");
    return ORBIT_OK;
}

int orbit__rpc_open(const orbit__rpc_config *cfg, orbit__rpc **out)
{
    *out = NULL;
    if (!cfg || !cfg->endpoints || !*cfg->endpoints)
        return orbit_error_set(ORBIT_EINVAL, "rpc: no endpoint given");
    orbit__rpc *r = calloc(1, sizeof *r);
    if (!r)
        return ORBIT_ENOMEM;
    int rc = parse_endpoints(r, cfg->endpoints);
    char *pem = NULL;
    if (!rc && cfg->ca_file)
        rc = read_file(cfg->ca_file, &pem);
    if (rc) {
        free_endpoints(r);
        free(r);
        return rc;
    }
    grpc_init();
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->idle, NULL);
    r->seed = orbit__mono_ns() ^ (uint64_t)(uintptr_t)r;
    r->connect_ms = cfg->connect_timeout_ms;

    grpc_arg args[6];
    size_t na = 0;
    args[na].type = GRPC_ARG_INTEGER;
    args[na].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[na++].value.integer = -1;
    /* A restarted member should be reconnected within about a second, not
     * after gRPC's default backoff of up to two minutes. */
    args[na].type = GRPC_ARG_INTEGER;
    args[na].key = (char *)GRPC_ARG_MIN_RECONNECT_BACKOFF_MS;
    args[na++].value.integer = 100;
    args[na].type = GRPC_ARG_INTEGER;
    args[na].key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    args[na++].value.integer = 1000;
    if (cfg->keepalive_ms) {
        args[na].type = GRPC_ARG_INTEGER;
        args[na].key = (char *)GRPC_ARG_KEEPALIVE_TIME_MS;
        args[na++].value.integer = (int)cfg->keepalive_ms;
        args[na].type = GRPC_ARG_INTEGER;
        args[na].key = (char *)GRPC_ARG_KEEPALIVE_TIMEOUT_MS;
        args[na++].value.integer =
            (int)(cfg->keepalive_timeout_ms ? cfg->keepalive_timeout_ms : 5000);
        args[na].type = GRPC_ARG_INTEGER;
        args[na].key = (char *)GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS;
        args[na++].value.integer = 0;
    }
    grpc_channel_args cargs = {na, args};

    grpc_channel_credentials *creds =
        pem ? grpc_ssl_credentials_create(pem, NULL, NULL, NULL) : grpc_insecure_credentials_create();
    free(pem);
    if (!creds)
        rc = orbit_error_set(ORBIT_EINTERNAL, "rpc: gRPC refused the channel credentials");
    for (size_t i = 0; !rc && i < r->neps; i++) {
        r->eps[i].ch = grpc_channel_create(r->eps[i].target, creds, &cargs);
        if (!r->eps[i].ch)
            rc = orbit_error_set(ORBIT_EINTERNAL, "rpc: cannot create a channel to %s", r->eps[i].target);
    }
    if (creds)
        grpc_channel_credentials_release(creds);
    if (!rc) {
        r->cq = grpc_completion_queue_create_for_next(NULL);
        if (!r->cq)
            rc = orbit_error_set(ORBIT_EINTERNAL, "rpc: cannot create a completion queue");
    }
    if (!rc) {
        if (pthread_create(&r->thread, NULL, cq_thread, r) != 0)
            rc = orbit_error_set(ORBIT_EINTERNAL, "rpc: cannot start the completion thread");
        else
            r->thread_started = 1;
    }
    if (rc) {
        r->inflight = 0;
        orbit__rpc_close(r);
        return rc;
    }
    *out = r;
    return ORBIT_OK;
}

void orbit__rpc_close(orbit__rpc *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->closing = 1;
    while (r->inflight > 0 || r->streams > 0)
        pthread_cond_wait(&r->idle, &r->lock);
    pthread_mutex_unlock(&r->lock);
    if (r->cq) {
        grpc_completion_queue_shutdown(r->cq);
        if (r->thread_started)
            pthread_join(r->thread, NULL);
        else
            while (grpc_completion_queue_next(r->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
                   GRPC_QUEUE_SHUTDOWN)
                ;
        grpc_completion_queue_destroy(r->cq);
    }
    free_endpoints(r);
    pthread_cond_destroy(&r->idle);
    pthread_mutex_destroy(&r->lock);
    free(r);
    grpc_shutdown();
}

int orbit__rpc_ever_reached(orbit__rpc *r)
{
    return atomic_load(&r->ever_reached);
}

size_t orbit__rpc_endpoint_count(const orbit__rpc *r)
{
    return r->neps;
}

const char *orbit__rpc_endpoint(const orbit__rpc *r, size_t i)
{
    return i < r->neps ? r->eps[i].target : "";
}

/* ---- calls -------------------------------------------------------------- */

static gpr_timespec mono_deadline(uint64_t deadline_ns)
{
    gpr_timespec t;
    t.tv_sec = (int64_t)(deadline_ns / 1000000000u);
    t.tv_nsec = (int32_t)(deadline_ns % 1000000000u);
    t.clock_type = GPR_CLOCK_MONOTONIC;
    return t;
}

static void clear_attempt(rcall *c)
{
    if (c->gc)
        grpc_call_unref(c->gc);
    c->gc = NULL;
    grpc_metadata_array_destroy(&c->imd);
    grpc_metadata_array_destroy(&c->tmd);
    grpc_metadata_array_init(&c->imd);
    grpc_metadata_array_init(&c->tmd);
    grpc_slice_unref(c->details);
    c->details = grpc_empty_slice();
    if (c->resp)
        grpc_byte_buffer_destroy(c->resp);
    c->resp = NULL;
    if (c->sent)
        grpc_byte_buffer_destroy(c->sent);
    c->sent = NULL;
    if (c->error_string)
        gpr_free((void *)c->error_string);
    c->error_string = NULL;
}

static void free_call(rcall *c)
{
    clear_attempt(c);
    grpc_byte_buffer_destroy(c->req);
    free(c);
}

static _Thread_local unsigned tl_attempts;

unsigned orbit__rpc_attempts(void)
{
    return tl_attempts;
}

size_t orbit__rpc_max_inflight(orbit__rpc *r, int reset)
{
    pthread_mutex_lock(&r->lock);
    size_t m = r->max_inflight;
    if (reset)
        r->max_inflight = r->inflight;
    pthread_mutex_unlock(&r->lock);
    return m;
}

/* Whether a failed attempt may have reached the server. Only a failure to
 * connect at all (gRPC's pick failure, a refused connection) proves the
 * request never left; a reset connection, a deadline or any answer from
 * etcd (even "leader changed") leaves the outcome open. */
static int is_dns_failure(const char *msg)
{
    return strstr(msg, "DNS resolution failed") || strstr(msg, "Name resolution failure") ||
           strstr(msg, "DNS query") || strstr(msg, "name resolution");
}

static int attempt_maybe_sent(grpc_status_code st, const char *msg)
{
    if (st != GRPC_STATUS_UNAVAILABLE)
        return 1;
    return !(strstr(msg, "failed to connect") || strstr(msg, "Connection refused") ||
             strstr(msg, "connections to all backends failing") || is_dns_failure(msg));
}

/* "after T ms, N attempt(s) to A, B" for a failed call's detail. */
static void call_summary(const rcall *c, char *out, size_t cap)
{
    const orbit__rpc *r = c->r;
    uint64_t ms = (orbit__mono_ns() - c->start_ns) / 1000000u;
    size_t at = 0;
    int n = snprintf(out, cap, "after %llu ms, %u attempt%s to ", (unsigned long long)ms, c->attempts,
                     c->attempts == 1 ? "" : "s");
    at = n > 0 && (size_t)n < cap ? (size_t)n : cap - 1;
    int first = 1;
    for (size_t i = 0; i < r->neps && at + 1 < cap; i++) {
        if (i < 64 && !(c->tried & ((uint64_t)1 << i)))
            continue;
        n = snprintf(out + at, cap - at, "%s%s", first ? "" : ", ", r->eps[i].target);
        first = 0;
        at = n > 0 && (size_t)n < cap - at ? at + (size_t)n : cap - 1;
    }
}

/* Runs the callback, frees the call and drops it from the in-flight count.
 * A failed write some attempt of which may have been applied is reported
 * ORBIT_EUNCERTAIN, whatever the last attempt said. */
static void finish(rcall *c, int rc, const char *detail, const uint8_t *resp, size_t len)
{
    orbit__rpc *r = c->r;
    char d[DETAIL_LEN + 1024];
    char sum[256] = "";
    /* Unreachable, too slow or unknown: say how long, how often and where. */
    if ((rc == ORBIT_EUNAVAIL || rc == ORBIT_ETIMEDOUT || rc == ORBIT_EUNCERTAIN ||
         ((c->o.idempotent & ORBIT__RPC_WRITE) && c->maybe_sent && rc < 0)) &&
        c->attempts > 0)
        call_summary(c, sum, sizeof sum);
    if (rc < 0 && (c->o.idempotent & ORBIT__RPC_WRITE) && c->maybe_sent && rc != ORBIT_EUNCERTAIN) {
        snprintf(d, sizeof d, "outcome unknown: the write may or may not have been applied (%s%s%s: %s)", sum,
                 sum[0] ? "; " : "", orbit_err_name(rc), detail ? detail : "");
        rc = ORBIT_EUNCERTAIN;
        detail = d;
    } else if (sum[0]) {
        snprintf(d, sizeof d, "%s: %s", sum, detail ? detail : "");
        detail = d;
    }
    tl_attempts = c->attempts;
    c->done(c->arg, rc, detail ? detail : "", resp, len);
    free_call(c);
    pthread_mutex_lock(&r->lock);
    if (--r->inflight == 0)
        pthread_cond_broadcast(&r->idle);
    pthread_mutex_unlock(&r->lock);
}

/* Start one attempt. 0, or an Orbit code (nothing was started). */
static int attempt(rcall *c)
{
    orbit__rpc *r = c->r;
    uint64_t now = orbit__mono_ns();
    if (now >= c->deadline_ns)
        return orbit_error_set(ORBIT_ETIMEDOUT, "%s: deadline of %u ms passed before attempt %u%s%s",
                               c->method, c->o.timeout_ms, c->attempts + 1,
                               c->last[0] ? "; last failure: " : "", c->last);
    uint64_t dl = c->deadline_ns;
    if (c->o.attempt_ms && now + (uint64_t)c->o.attempt_ms * 1000000u < dl)
        dl = now + (uint64_t)c->o.attempt_ms * 1000000u;
    c->attempt_ns = now;
    c->ep = c->o.endpoint >= 0 ? (size_t)c->o.endpoint : atomic_load(&r->current) % r->neps;
    if (c->ep < 64)
        c->tried |= (uint64_t)1 << c->ep;
    c->attempts++;
    grpc_metadata_array_init(&c->imd);
    grpc_metadata_array_init(&c->tmd);
    c->details = grpc_empty_slice();
    c->status = GRPC_STATUS_OK;
    c->resp = NULL;
    c->error_string = NULL;
    c->gc = grpc_channel_create_call(r->eps[c->ep].ch, NULL, GRPC_PROPAGATE_DEFAULTS, r->cq,
                                     grpc_slice_from_static_string(c->method), NULL,
                                     mono_deadline(dl), NULL);
    if (!c->gc) {
        clear_attempt(c);
        return orbit_error_set(ORBIT_EINTERNAL, "%s: gRPC could not create a call", c->method);
    }
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    c->sent = grpc_byte_buffer_copy(c->req);
    ops[1].data.send_message.send_message = c->sent;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->imd;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &c->resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &c->tmd;
    ops[5].data.recv_status_on_client.status = &c->status;
    ops[5].data.recv_status_on_client.status_details = &c->details;
    ops[5].data.recv_status_on_client.error_string = &c->error_string;
    /* Once the batch starts, c belongs to the completion thread: nothing of
     * it is read here afterwards, not even c->gc. */
    grpc_call *gc = c->gc;
    atomic_store_explicit(&c->published, c->attempts, memory_order_release);
    grpc_call_error e = grpc_call_start_batch(gc, ops, 6, c, NULL);
    if (e != GRPC_CALL_OK) {
        clear_attempt(c);
        return orbit_error_set(ORBIT_EINTERNAL, "%s: grpc_call_start_batch: %s", c->method,
                               grpc_call_error_to_string(e));
    }
    return ORBIT_OK;
}

int orbit__rpc_start(orbit__rpc *r, const char *method, const uint8_t *req, size_t len,
                     const orbit__rpc_call_opts *o, orbit__rpc_done_fn done, void *arg)
{
    rcall *c = calloc(1, sizeof *c);
    if (!c)
        return ORBIT_ENOMEM;
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)req, len);
    c->req = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    c->r = r;
    c->method = method;
    c->done = done;
    c->arg = arg;
    c->details = grpc_empty_slice();
    if (o)
        c->o = *o;
    else
        c->o.endpoint = -1;
    if (c->o.timeout_ms == 0)
        c->o.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (c->o.endpoint >= 0 && (size_t)c->o.endpoint >= r->neps) {
        int ep = c->o.endpoint;
        free_call(c);
        return orbit_error_set(ORBIT_EINVAL, "rpc: endpoint %d out of %zu", ep, r->neps);
    }
    c->start_ns = orbit__mono_ns();
    c->deadline_ns = c->start_ns + (uint64_t)c->o.timeout_ms * 1000000u;

    pthread_mutex_lock(&r->lock);
    if (r->closing) {
        pthread_mutex_unlock(&r->lock);
        free_call(c);
        return orbit_error_set(ORBIT_ECLOSED, "rpc: the transport is closing");
    }
    if (++r->inflight > r->max_inflight)
        r->max_inflight = r->inflight;
    pthread_mutex_unlock(&r->lock);

    int rc = attempt(c);
    if (rc) {
        free_call(c);
        pthread_mutex_lock(&r->lock);
        if (--r->inflight == 0)
            pthread_cond_broadcast(&r->idle);
        pthread_mutex_unlock(&r->lock);
    }
    return rc;
}

/* ---- the completion thread ---------------------------------------------- */

static void schedule_retry(orbit__rpc *r, rcall *c, uint64_t at)
{
    c->retry_at_ns = at;
    rcall **pp = &r->retries;
    while (*pp && (*pp)->retry_at_ns <= at)
        pp = &(*pp)->next;
    c->next = *pp;
    *pp = c;
}

static int is_closing(orbit__rpc *r)
{
    pthread_mutex_lock(&r->lock);
    int v = r->closing;
    pthread_mutex_unlock(&r->lock);
    return v;
}

static void retry_now(rcall *c)
{
    int rc = is_closing(c->r) ? orbit_error_set(ORBIT_ECLOSED, "%s: transport closed during retries; last failure: %s",
                                                c->method, c->last)
                              : attempt(c);
    if (rc)
        finish(c, rc, orbit_last_error_detail(), NULL, 0);
}

static void on_complete(orbit__rpc *r, rcall *c)
{
    if (c->status == GRPC_STATUS_OK) {
        if (!c->resp) {
            clear_attempt(c);
            finish(c, ORBIT_EPROTO, "gRPC call ended OK without a response message", NULL, 0);
            return;
        }
        grpc_byte_buffer_reader rd;
        if (!grpc_byte_buffer_reader_init(&rd, c->resp)) {
            clear_attempt(c);
            finish(c, ORBIT_EPROTO, "cannot read the gRPC response", NULL, 0);
            return;
        }
        atomic_store(&r->ever_reached, 1);
        grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
        grpc_byte_buffer_reader_destroy(&rd);
        clear_attempt(c);
        tl_attempts = c->attempts;
        c->done(c->arg, ORBIT_OK, "", GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all));
        grpc_slice_unref(all);
        c->done = NULL;
        free_call(c);
        pthread_mutex_lock(&r->lock);
        if (--r->inflight == 0)
            pthread_cond_broadcast(&r->idle);
        pthread_mutex_unlock(&r->lock);
        return;
    }

    char msg[256];
    snprintf(msg, sizeof msg, "%.*s", (int)GRPC_SLICE_LENGTH(c->details),
             (const char *)GRPC_SLICE_START_PTR(c->details));
    grpc_status_code st = c->status;
    int rc = orbit__rpc_map_status(st, msg);
    int dns = st == GRPC_STATUS_UNAVAILABLE && is_dns_failure(msg);
    snprintf(c->last, sizeof c->last, "%s %s from %s: %s%s", c->method, status_name(st),
             r->eps[c->ep].target, dns ? "DNS lookup failed: " : "", msg);
    size_t failed_ep = c->ep;
    /* An answer that refuses the request (invalid, too large, no space,
     * too many requests) proves this attempt did not apply; anything else
     * after it was sent leaves it open. */
    int refused = rc == ORBIT_EINVAL || rc == ORBIT_ETOOBIG || rc == ORBIT_ENOSPACE || rc == ORBIT_EBUSY ||
                  rc == ORBIT_ECOMPACTED || rc == ORBIT_ENOTSUP || rc == ORBIT_EEXIST;
    int sent = attempt_maybe_sent(st, msg);
    if (!refused && sent)
        c->maybe_sent = 1;
    if (refused || sent) {
        c->refused_since_ns = 0;
        atomic_store(&r->ever_reached, 1);
    } else if (!c->refused_since_ns) {
        /* the run of connect failures began when this attempt started at
         * the latest; the call's start bounds it for the first attempt */
        c->refused_since_ns = c->attempts == 1 ? c->start_ns : c->attempt_ns;
    }
    clear_attempt(c);

    int transient = rc == ORBIT_EUNAVAIL || rc == ORBIT_ETIMEDOUT;
    if (transient && c->o.endpoint < 0 && r->neps > 1) {
        size_t expect = failed_ep;
        atomic_compare_exchange_strong(&r->current, &expect, (failed_ep + 1) % r->neps);
    }
    uint64_t now = orbit__mono_ns();
    int retry = (c->o.idempotent & ORBIT__RPC_RESEND) && (transient || rc == ORBIT_EBUSY) && now < c->deadline_ns;
    if (!retry) {
        if (rc == ORBIT_ETIMEDOUT && now >= c->deadline_ns) {
            char d[DETAIL_LEN + 64];
            snprintf(d, sizeof d, "deadline of %u ms exceeded after %u attempt(s); last: %s",
                     c->o.timeout_ms, c->attempts, c->last);
            finish(c, ORBIT_ETIMEDOUT, d, NULL, 0);
        } else {
            char d[DETAIL_LEN];
            memcpy(d, c->last, sizeof d);
            finish(c, rc, d, NULL, 0);
        }
        return;
    }
    /* The first retry after a failover goes at once: the next member is a
     * different process. Later ones back off so a cluster without a leader
     * is not hammered. */
    uint32_t wait = (c->attempts == 1 && r->neps > 1 && c->o.endpoint < 0)
                        ? 0
                        : orbit__rpc_backoff_ms(c->attempts, BACKOFF_BASE_MS, BACKOFF_CAP_MS, &r->seed);
    uint64_t at = now + (uint64_t)wait * 1000000u;
    /* Every attempt for connect_ms has failed to connect: give up at the
     * connect deadline rather than retry until the whole timeout. */
    if (c->refused_since_ns && r->connect_ms && at >= c->refused_since_ns + (uint64_t)r->connect_ms * 1000000u) {
        char d[DETAIL_LEN + 128];
        snprintf(d, sizeof d, "could not connect within the connect deadline of %u ms; last: %s", r->connect_ms,
                 c->last);
        finish(c, ORBIT_EUNAVAIL, d, NULL, 0);
        return;
    }
    if (at >= c->deadline_ns)
        at = c->deadline_ns; /* attempt() then reports the deadline with the last failure */
    if (wait == 0)
        retry_now(c);
    else
        schedule_retry(r, c, at);
}

static void *cq_thread(void *arg)
{
    orbit__rpc *r = arg;
    for (;;) {
        gpr_timespec dl = r->retries ? mono_deadline(r->retries->retry_at_ns)
                                     : gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                                    gpr_time_from_millis(200, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(r->cq, dl, NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE) {
            rcall *c = ev.tag;
            (void)atomic_load_explicit(&c->published, memory_order_acquire);
            on_complete(r, c);
        }
        uint64_t now = orbit__mono_ns();
        while (r->retries && r->retries->retry_at_ns <= now) {
            rcall *c = r->retries;
            r->retries = c->next;
            c->next = NULL;
            retry_now(c);
        }
    }
    return NULL;
}

/* ---- the blocking wrapper ----------------------------------------------- */

typedef struct sync_wait {
    pthread_mutex_t m;
    pthread_cond_t cv;
    int done;
    int rc;
    unsigned attempts;
    orbit_buf *out;
    char detail[DETAIL_LEN + 1024];
} sync_wait;

static void sync_done(void *arg, int rc, const char *detail, const uint8_t *resp, size_t len)
{
    sync_wait *w = arg;
    if (rc == ORBIT_OK && w->out && orbit_buf_set(w->out, resp, len) != ORBIT_OK) {
        rc = ORBIT_ENOMEM;
        detail = "rpc: no memory for the response";
    }
    pthread_mutex_lock(&w->m);
    w->rc = rc;
    w->attempts = tl_attempts;
    snprintf(w->detail, sizeof w->detail, "%s", detail);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->m);
}

int orbit__rpc_call(orbit__rpc *r, const char *method, const uint8_t *req, size_t len,
                    const orbit__rpc_call_opts *o, orbit_buf *resp)
{
    sync_wait w;
    memset(&w, 0, sizeof w);
    pthread_mutex_init(&w.m, NULL);
    pthread_cond_init(&w.cv, NULL);
    w.out = resp;
    int rc = orbit__rpc_start(r, method, req, len, o, sync_done, &w);
    if (rc == ORBIT_OK) {
        pthread_mutex_lock(&w.m);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.m);
        pthread_mutex_unlock(&w.m);
        rc = w.rc;
        tl_attempts = w.attempts;
        if (rc)
            orbit_error_set(rc, "%s", w.detail);
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.m);
    return rc;
}

/* ---- bidirectional streams ------------------------------------------------ */

struct orbit__rpc_stream {
    orbit__rpc *r;
    const char *method;
    size_t ep;
    grpc_completion_queue *cq; /* pluck queue, this stream's only */
    grpc_call *gc;
    int started;  /* initial metadata and the status op are out */
    int dead;     /* rc is final */
    int rc;
    char detail[DETAIL_LEN];
    /* the status op, started with the first send, completes when the call
     * ends; its tag is plucked once, at the end */
    int status_pending;
    int got_imd; /* initial metadata was asked for (with the first recv) */
    grpc_metadata_array imd;
    grpc_metadata_array tmd;
    grpc_status_code status;
    grpc_slice details;
    const char *error_string;
    /* tags: addresses of these bytes */
    char tag_start, tag_send, tag_recv, tag_status;
};

static gpr_timespec rel_deadline(uint32_t ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms ? ms : DEFAULT_TIMEOUT_MS,
                                                                            GPR_TIMESPAN));
}

int orbit__rpc_stream_open(orbit__rpc *r, size_t ep, const char *method, orbit__rpc_stream **out)
{
    *out = NULL;
    if (ep >= r->neps)
        return orbit_error_set(ORBIT_EINVAL, "rpc: endpoint %zu out of %zu", ep, r->neps);
    orbit__rpc_stream *s = calloc(1, sizeof *s);
    if (!s)
        return ORBIT_ENOMEM;
    s->r = r;
    s->method = method;
    s->ep = ep;
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->imd);
    grpc_metadata_array_init(&s->tmd);
    pthread_mutex_lock(&r->lock);
    if (r->closing) {
        pthread_mutex_unlock(&r->lock);
        free(s);
        return orbit_error_set(ORBIT_ECLOSED, "rpc: the transport is closing");
    }
    r->streams++;
    pthread_mutex_unlock(&r->lock);
    s->cq = grpc_completion_queue_create_for_pluck(NULL);
    if (s->cq)
        s->gc = grpc_channel_create_call(r->eps[ep].ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq,
                                         grpc_slice_from_static_string(method), NULL,
                                         gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (!s->gc) {
        orbit__rpc_stream_close(s);
        return orbit_error_set(ORBIT_EINTERNAL, "%s: gRPC could not create a stream", method);
    }
    *out = s;
    return ORBIT_OK;
}

/* The call has ended (or is cancelled now): collect its status as rc. */
static int stream_fail(orbit__rpc_stream *s, int why, const char *what)
{
    if (s->dead)
        return orbit_error_set(s->rc, "%s", s->detail);
    grpc_call_cancel(s->gc, NULL);
    char msg[256] = "";
    int rc = why;
    if (s->status_pending) {
        grpc_event ev = grpc_completion_queue_pluck(s->cq, &s->tag_status, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        (void)ev;
        s->status_pending = 0;
        snprintf(msg, sizeof msg, "%.*s", (int)GRPC_SLICE_LENGTH(s->details),
                 (const char *)GRPC_SLICE_START_PTR(s->details));
        /* our own cancel after a timeout is the timeout, not CANCELLED */
        if (!(why == ORBIT_ETIMEDOUT && s->status == GRPC_STATUS_CANCELLED))
            rc = s->status == GRPC_STATUS_OK ? ORBIT_EPROTO : orbit__rpc_map_status(s->status, msg);
        if (rc == ORBIT_OK)
            rc = ORBIT_EPROTO;
    }
    snprintf(s->detail, sizeof s->detail, "%s %s to %s: %s%s%s", s->method, what, s->r->eps[s->ep].target,
             s->status_pending == 0 && msg[0] ? status_name(s->status) : orbit_err_name(rc), msg[0] ? ": " : "",
             msg);
    s->dead = 1;
    s->rc = rc;
    if (rc != ORBIT_EPROTO && rc != ORBIT_ETIMEDOUT)
        atomic_store(&s->r->ever_reached, 1);
    return orbit_error_set(rc, "%s", s->detail);
}

static int stream_start(orbit__rpc_stream *s, uint32_t timeout_ms)
{
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    grpc_call_error e = grpc_call_start_batch(s->gc, ops, 1, &s->tag_start, NULL);
    if (e != GRPC_CALL_OK)
        return stream_fail(s, ORBIT_EINTERNAL, "start");
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &s->tmd;
    ops[0].data.recv_status_on_client.status = &s->status;
    ops[0].data.recv_status_on_client.status_details = &s->details;
    ops[0].data.recv_status_on_client.error_string = &s->error_string;
    e = grpc_call_start_batch(s->gc, ops, 1, &s->tag_status, NULL);
    if (e == GRPC_CALL_OK)
        s->status_pending = 1;
    s->started = 1;
    grpc_event ev = grpc_completion_queue_pluck(s->cq, &s->tag_start, rel_deadline(timeout_ms), NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
        grpc_call_cancel(s->gc, NULL);
        (void)grpc_completion_queue_pluck(s->cq, &s->tag_start, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        return stream_fail(s, ORBIT_ETIMEDOUT, "open");
    }
    if (e != GRPC_CALL_OK || !ev.success)
        return stream_fail(s, ORBIT_EUNAVAIL, "open");
    return ORBIT_OK;
}

int orbit__rpc_stream_send(orbit__rpc_stream *s, const uint8_t *msg, size_t len, uint32_t timeout_ms)
{
    if (s->dead)
        return orbit_error_set(s->rc, "%s", s->detail);
    if (!s->started) {
        int rc = stream_start(s, timeout_ms);
        if (rc)
            return rc;
    }
    grpc_slice sl = grpc_slice_from_copied_buffer((const char *)msg, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    grpc_call_error e = grpc_call_start_batch(s->gc, &op, 1, &s->tag_send, NULL);
    if (e != GRPC_CALL_OK) {
        grpc_byte_buffer_destroy(bb);
        return stream_fail(s, ORBIT_EINTERNAL, "send");
    }
    grpc_event ev = grpc_completion_queue_pluck(s->cq, &s->tag_send, rel_deadline(timeout_ms), NULL);
    int timed_out = ev.type == GRPC_QUEUE_TIMEOUT;
    if (timed_out) {
        grpc_call_cancel(s->gc, NULL);
        ev = grpc_completion_queue_pluck(s->cq, &s->tag_send, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    }
    grpc_byte_buffer_destroy(bb);
    if (timed_out)
        return stream_fail(s, ORBIT_ETIMEDOUT, "send");
    if (!ev.success)
        return stream_fail(s, ORBIT_EUNAVAIL, "send");
    return ORBIT_OK;
}

int orbit__rpc_stream_recv(orbit__rpc_stream *s, uint32_t timeout_ms, orbit_buf *out)
{
    if (s->dead)
        return orbit_error_set(s->rc, "%s", s->detail);
    if (!s->started) {
        int rc = stream_start(s, timeout_ms);
        if (rc)
            return rc;
    }
    grpc_byte_buffer *bb = NULL;
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    size_t nops = 0;
    if (!s->got_imd) {
        /* a client must take the server's initial metadata before its
         * first message is delivered */
        ops[nops].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[nops++].data.recv_initial_metadata.recv_initial_metadata = &s->imd;
        s->got_imd = 1;
    }
    ops[nops].op = GRPC_OP_RECV_MESSAGE;
    ops[nops++].data.recv_message.recv_message = &bb;
    grpc_call_error e = grpc_call_start_batch(s->gc, ops, nops, &s->tag_recv, NULL);
    if (e != GRPC_CALL_OK)
        return stream_fail(s, ORBIT_EINTERNAL, "recv");
    grpc_event ev = grpc_completion_queue_pluck(s->cq, &s->tag_recv, rel_deadline(timeout_ms), NULL);
    int timed_out = ev.type == GRPC_QUEUE_TIMEOUT;
    if (timed_out) {
        grpc_call_cancel(s->gc, NULL);
        ev = grpc_completion_queue_pluck(s->cq, &s->tag_recv, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    }
    if (timed_out || !ev.success || !bb) {
        if (bb)
            grpc_byte_buffer_destroy(bb);
        return stream_fail(s, timed_out ? ORBIT_ETIMEDOUT : ORBIT_EUNAVAIL, timed_out ? "recv (timed out)" : "recv");
    }
    grpc_byte_buffer_reader rd;
    int rc = ORBIT_OK;
    if (!grpc_byte_buffer_reader_init(&rd, bb)) {
        rc = orbit_error_set(ORBIT_EPROTO, "%s: cannot read a stream message", s->method);
    } else {
        grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
        grpc_byte_buffer_reader_destroy(&rd);
        if (orbit_buf_set(out, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all)) != ORBIT_OK)
            rc = ORBIT_ENOMEM;
        grpc_slice_unref(all);
    }
    grpc_byte_buffer_destroy(bb);
    atomic_store(&s->r->ever_reached, 1);
    return rc;
}

void orbit__rpc_stream_close(orbit__rpc_stream *s)
{
    if (!s)
        return;
    orbit__rpc *r = s->r;
    if (s->gc) {
        grpc_call_cancel(s->gc, NULL);
        if (s->status_pending)
            (void)grpc_completion_queue_pluck(s->cq, &s->tag_status, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        grpc_call_unref(s->gc);
    }
    if (s->cq) {
        grpc_completion_queue_shutdown(s->cq);
        grpc_completion_queue_destroy(s->cq);
    }
    grpc_metadata_array_destroy(&s->imd);
    grpc_metadata_array_destroy(&s->tmd);
    grpc_slice_unref(s->details);
    if (s->error_string)
        gpr_free((void *)s->error_string);
    free(s);
    pthread_mutex_lock(&r->lock);
    if (--r->streams == 0 && r->inflight == 0)
        pthread_cond_broadcast(&r->idle);
    pthread_mutex_unlock(&r->lock);
}
