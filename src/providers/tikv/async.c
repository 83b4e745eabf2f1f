/*
 * The TiKV provider's native asynchronous submit (orbit_kv_submit with
 * capabilities.native_async 1), in both modes.
 *
 * An operation on TiKV is a short protocol, not one request: a plain put is
 * a TSO request then a 1PC prewrite (or a 2PC or async commit, with lock
 * resolution and region retries on the way). Each submitted op runs that
 * protocol, the provider's own synchronous path, on a thread of a pool the
 * store owns, so submit returns at once and up to ASYNC_MAX_THREADS ops of
 * all submitters are in flight together; concurrent ops share TSO requests
 * (pd.c batches waiters). Threads start on demand, when a queued op finds no
 * idle one, and leave after ASYNC_IDLE_MS without work. Each op completes
 * with its own result and detail; the submission's done runs once, on the
 * thread that finished its last op.
 *
 * Ownership: the caller keeps ops (and everything they point to) alive
 * until done, as orbit_kv_submit says; a submission's bookkeeping is freed
 * right after its done returns. Closing the store waits for the queued and
 * running ops to finish and for every pool thread to leave.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "providers/tikv/tikv_int.h"

#define ASYNC_MAX_THREADS 64
#define ASYNC_IDLE_MS 10000

typedef struct sub sub;

typedef struct job {
    struct job *next;
    sub *s;
    size_t i;
} job;

struct sub {
    tikv *t;
    orbit_kv_op *ops;
    size_t n;
    orbit_kv_done_fn done;
    void *arg;
    atomic_size_t pending;
    job jobs[]; /* one per op */
};

struct tikv_async {
    pthread_mutex_t m;
    pthread_cond_t work;  /* a job was queued, or the pool is stopping */
    pthread_cond_t gone;  /* a thread left */
    job *head, *tail;
    size_t queued; /* jobs in the list */
    size_t threads, idle;
    int stopping;
};

int orbit__tikv_async_open(tikv *t)
{
    tikv_async *a = calloc(1, sizeof *a);
    if (!a)
        return ORBIT_ENOMEM;
    pthread_mutex_init(&a->m, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->work, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&a->gone, NULL);
    t->async = a;
    return ORBIT_OK;
}

void orbit__tikv_async_close(tikv *t)
{
    tikv_async *a = t->async;
    if (!a)
        return;
    pthread_mutex_lock(&a->m);
    a->stopping = 1;
    pthread_cond_broadcast(&a->work);
    /* The threads drain the queue first, then leave. */
    while (a->threads)
        pthread_cond_wait(&a->gone, &a->m);
    pthread_mutex_unlock(&a->m);
    pthread_cond_destroy(&a->work);
    pthread_cond_destroy(&a->gone);
    pthread_mutex_destroy(&a->m);
    free(a);
    t->async = NULL;
}

static int copy_value(void *arg, const uint8_t *v, size_t n)
{
    return orbit_buf_set(arg, v, n) ? ORBIT_ENOMEM : ORBIT_OK;
}

/* Run one op through the provider's synchronous path, on this thread. */
static void run_op(tikv *t, orbit_kv_op *op)
{
    const orbit_provider *p = &orbit__provider_tikv;
    void *snap = orbit_snapshot_object(op->snapshot);
    int rc;
    orbit_error_clear();
    switch (op->type) {
    case ORBIT_OP_GET:
        op->out->len = 0;
        rc = p->get(t, snap, op->key, op->klen, copy_value, op->out);
        break;
    case ORBIT_OP_PUT: rc = p->put(t, op->key, op->klen, op->val ? op->val : (const uint8_t *)"", op->vlen); break;
    case ORBIT_OP_DEL: rc = p->del(t, op->key, op->klen); break;
    case ORBIT_OP_WRITE: rc = p->write(t, op->batch); break;
    case ORBIT_OP_MULTI_GET: rc = op->nkeys ? p->multi_get(t, snap, op->nkeys, op->keys, op->vals, op->status) : 0; break;
    default: rc = orbit_error_set(ORBIT_EINVAL, "tikv: submit: unknown op type %d", (int)op->type); break;
    }
    op->result = rc;
    if (rc < 0)
        orbit_op_take_detail(op);
}

static void job_finish(job *j)
{
    sub *s = j->s;
    if (atomic_fetch_sub(&s->pending, 1) == 1) {
        s->done(s->arg, s->ops, s->n);
        free(s);
    }
}

static void *pool_main(void *arg)
{
    tikv *t = arg;
    tikv_async *a = t->async;
    pthread_mutex_lock(&a->m);
    for (;;) {
        if (!a->head) {
            if (a->stopping)
                break;
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += ASYNC_IDLE_MS / 1000;
            a->idle++;
            int w = pthread_cond_timedwait(&a->work, &a->m, &until);
            a->idle--;
            if (w == ETIMEDOUT && !a->head)
                break; /* idle too long */
            continue;
        }
        job *j = a->head;
        a->head = j->next;
        if (!a->head)
            a->tail = NULL;
        a->queued--;
        pthread_mutex_unlock(&a->m);
        run_op(t, &j->s->ops[j->i]);
        job_finish(j);
        pthread_mutex_lock(&a->m);
    }
    a->threads--;
    pthread_cond_broadcast(&a->gone);
    pthread_mutex_unlock(&a->m);
    return NULL;
}

/* Start a pool thread (a->m held). 0 or ORBIT_ENOMEM. */
static int pool_grow(tikv *t)
{
    tikv_async *a = t->async;
    pthread_attr_t at;
    pthread_t th;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int e = pthread_create(&th, &at, pool_main, t);
    pthread_attr_destroy(&at);
    if (e)
        return orbit_error_set(ORBIT_ENOMEM, "tikv: submit: cannot start a pool thread (%s)", strerror(e));
    a->threads++;
    return ORBIT_OK;
}

int orbit__tikv_submit(void *self, orbit_kv_op *ops, size_t n, orbit_kv_done_fn done, void *arg)
{
    tikv *t = self;
    tikv_async *a = t->async;
    for (size_t i = 0; i < n; i++)
        if (ops[i].type != ORBIT_OP_GET && ops[i].type != ORBIT_OP_PUT && ops[i].type != ORBIT_OP_DEL &&
            ops[i].type != ORBIT_OP_WRITE && ops[i].type != ORBIT_OP_MULTI_GET)
            return orbit_error_set(ORBIT_EINVAL, "tikv: submit: op %zu has unknown type %d", i, (int)ops[i].type);
    if (n == 0) {
        done(arg, ops, 0);
        return ORBIT_OK;
    }
    sub *s = calloc(1, sizeof *s + n * sizeof(job));
    if (!s)
        return ORBIT_ENOMEM;
    *s = (sub){.t = t, .ops = ops, .n = n, .done = done, .arg = arg};
    atomic_init(&s->pending, n);
    for (size_t i = 0; i < n; i++) {
        ops[i].result = ORBIT_OK;
        ops[i].detail[0] = '\0';
        s->jobs[i] = (job){i + 1 < n ? &s->jobs[i + 1] : NULL, s, i};
    }
    pthread_mutex_lock(&a->m);
    if (a->stopping) {
        pthread_mutex_unlock(&a->m);
        free(s);
        return orbit_error_set(ORBIT_ECLOSED, "tikv: submit: the store is closing");
    }
    /* Threads for the queued ops no idle thread will take (an idle one
     * already woken for an earlier op still counts as idle until it runs,
     * hence the whole queue), up to the cap. */
    size_t queued = a->queued + n;
    size_t want = queued > a->idle ? queued - a->idle : 0;
    int rc = ORBIT_OK;
    while (want && a->threads < ASYNC_MAX_THREADS) {
        if ((rc = pool_grow(t)))
            break;
        want--;
    }
    if (rc && a->threads == 0) {
        /* Nobody would run them: refuse the submission (done never runs). */
        pthread_mutex_unlock(&a->m);
        free(s);
        return rc;
    }
    if (a->tail)
        a->tail->next = &s->jobs[0];
    else
        a->head = &s->jobs[0];
    a->tail = &s->jobs[n - 1];
    a->queued += n;
    if (n == 1)
        pthread_cond_signal(&a->work);
    else
        pthread_cond_broadcast(&a->work);
    pthread_mutex_unlock(&a->m);
    orbit_error_clear();
    return ORBIT_OK;
}
