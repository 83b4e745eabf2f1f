/*
 * Concurrency contract test: N threads hammer ONE store handle.
 *
 * Each thread owns a key range (own/<t>/...) that only it writes, with puts,
 * deletes, batches, submits and transactions, and keeps the expected content
 * of that range in a private model: every read of an own key during the run
 * must match the model exactly, and at the end the range must equal it.
 * Meanwhile all threads share keys that only transactions change, retried
 * on retryable errors (ECONFLICT, EBUSY, ...):
 *   - counters (ctr/<i>): read for update and incremented; at the end each
 *     equals the number of increments whose commit returned 0;
 *   - accounts (acct/<i>): money moved between two of them; the total is
 *     invariant, and every snapshot read (explicit snapshot, an iterator's
 *     implicit one, a transaction's view) must see exactly that total;
 *   - mirrors (mirror/<t>/0..3): written by thread t with one batch, all
 *     four to the same value; a snapshot must see all four equal;
 *   - compare-and-set counters (cas/<i>): incremented with orbit_kv_cas
 *     only (no transaction), retried on ORBIT_CMPFAIL with the current
 *     value it returns; at the end each equals the number of increments
 *     whose cas returned 0;
 *   - claims (claim/<j>): every thread tries orbit_kv_put_if_absent with
 *     its own name; exactly one wins each key, the losers are told the
 *     winner's name, and at the end each key holds its one winner's name.
 * So lost updates, torn batches or transactions, and inconsistent snapshots
 * all show up as a failed check. It is a plain C program (no cmocka: its
 * assertions are not thread-safe) and exits 1 on the first failed check.
 *
 * Usage: contract_concurrency --store TEMPLATE [--threads N] [--iters N]
 *            [--txn-mode pessimistic|optimistic]
 * Registered with the label "tsan" so the ThreadSanitizer build runs it.
 */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "orbit/kv.h"
#include "suite.h"
#include "testutil.h"

#define MAX_THREADS 16
#define NOWN 24
#define NCTR 2
#define NACCT 4
#define ACCT_START 1000
#define NMIRROR 4
#define NCAS 2
#define NCLAIM 64
#define MAX_ATTEMPTS 100000

#if defined(__SANITIZE_THREAD__)
/*
 * librocksdb and libstdc++ are not built with ThreadSanitizer, so the
 * happens-before edges of RocksDB's own synchronisation (its write group's
 * atomics) are invisible, and the memcpy a group leader does of a follower's
 * batch (inside std::string, called from librocksdb) is reported as a race.
 * tests/tsan.supp suppresses what librocksdb calls directly; this adds what
 * it calls through libstdc++. Added to, not replacing, the suppressions file.
 */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
    return "called_from_lib:libstdc++.so.6\n";
}
#endif

static orbit_kv *kv;
static int nthreads = 4;
static long iters = 4000;
static atomic_int failed;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failf(const char *fmt, ...)
{
    pthread_mutex_lock(&report_lock);
    if (!atomic_exchange(&failed, 1)) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "FAILED: ");
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " (detail: %s)\n", orbit_last_error_detail());
    }
    pthread_mutex_unlock(&report_lock);
}

typedef struct worker {
    int id;
    tu_rng rng;
    /* the model of own/<id>/<j>: len < 0 means absent */
    char val[NOWN][64];
    int len[NOWN];
    unsigned version;
    /* committed increments per counter, and retry statistics */
    long incs[NCTR];
    long transfers, audits, retries, own_ops, own_txns;
    unsigned mirror_version;
    /* compare-and-set increments that returned 0; claims won */
    long cas_incs[NCAS], cas_retries;
    unsigned char claimed[NCLAIM];
    long claims_won, claims_lost;
} worker;

static uint64_t rnd(worker *w, uint64_t n)
{
    return tu_below(&w->rng, n);
}

static void backoff(worker *w)
{
    if (rnd(w, 4) == 0) {
        struct timespec ts = {0, (long)(rnd(w, 50) + 1) * 1000};
        nanosleep(&ts, NULL);
    } else {
        sched_yield();
    }
}

/* Sometimes pause inside a transaction, so transactions overlap more. */
static void dawdle(worker *w)
{
    uint64_t c = rnd(w, 8);
    if (c == 0) {
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    } else if (c < 3) {
        sched_yield();
    }
}

static size_t own_key(int t, int j, char *buf)
{
    return (size_t)sprintf(buf, "own/%02d/%02d", t, j);
}

/* A fresh value for own key j; the model keeps a copy. */
static size_t own_val(worker *w, int j, char *buf)
{
    size_t pad = (size_t)rnd(w, 20);
    int n = sprintf(buf, "t%dj%dv%u", w->id, j, ++w->version);
    for (size_t i = 0; i < pad; i++)
        buf[n++] = (char)('a' + rnd(w, 26));
    buf[n] = '\0';
    return (size_t)n;
}

static void model_set(worker *w, int j, const char *v, size_t n)
{
    memcpy(w->val[j], v, n);
    w->len[j] = (int)n;
}

static void check_own_read(worker *w, int j, int rc, const uint8_t *v, size_t n,
                           const char *how)
{
    if (w->len[j] < 0) {
        if (rc != ORBIT_NOTFOUND)
            failf("thread %d: %s own/%02d/%02d returned %s, expected NOTFOUND", w->id,
                  how, w->id, j, orbit_err_name(rc));
    } else if (rc != 0 || n != (size_t)w->len[j] || memcmp(v, w->val[j], n) != 0) {
        failf("thread %d: %s own/%02d/%02d returned %s '%.*s', expected '%.*s'", w->id,
              how, w->id, j, orbit_err_name(rc), rc == 0 ? (int)n : 0,
              rc == 0 ? (const char *)v : "", w->len[j], w->val[j]);
    }
}

static void own_op(worker *w)
{
    char k[32], v[64];
    int j = (int)rnd(w, NOWN);
    size_t kl = own_key(w->id, j, k);
    uint64_t c = rnd(w, 10);
    int rc;
    w->own_ops++;
    if (c < 3) {
        size_t vl = own_val(w, j, v);
        rc = orbit_kv_put(kv, (uint8_t *)k, kl, (uint8_t *)v, vl);
        if (rc != 0)
            return failf("thread %d: put %s: %s", w->id, k, orbit_err_name(rc));
        model_set(w, j, v, vl);
    } else if (c < 4) {
        rc = orbit_kv_del(kv, (uint8_t *)k, kl);
        if (rc != 0)
            return failf("thread %d: del %s: %s", w->id, k, orbit_err_name(rc));
        w->len[j] = -1;
    } else if (c < 5) {
        orbit_batch *b = NULL;
        if ((rc = orbit_batch_new(&b)) != 0)
            return failf("batch_new: %s", orbit_err_name(rc));
        /* Apply to a copy of the model; commit it only if the write did. */
        char nval[NOWN][64];
        int nlen[NOWN];
        memcpy(nval, w->val, sizeof nval);
        memcpy(nlen, w->len, sizeof nlen);
        int n = 2 + (int)rnd(w, 4);
        for (int i = 0; i < n && rc == 0; i++) {
            int jj = (int)rnd(w, NOWN);
            size_t kkl = own_key(w->id, jj, k);
            if (rnd(w, 3) == 0) {
                rc = orbit_batch_del(b, (uint8_t *)k, kkl);
                nlen[jj] = -1;
            } else {
                size_t vl = own_val(w, jj, v);
                rc = orbit_batch_put(b, (uint8_t *)k, kkl, (uint8_t *)v, vl);
                memcpy(nval[jj], v, vl);
                nlen[jj] = (int)vl;
            }
        }
        if (rc == 0)
            rc = orbit_kv_write(kv, b);
        orbit_batch_free(b);
        if (rc != 0)
            return failf("thread %d: batch: %s", w->id, orbit_err_name(rc));
        memcpy(w->val, nval, sizeof nval);
        memcpy(w->len, nlen, sizeof nlen);
    } else if (c < 8) {
        orbit_buf b = ORBIT_BUF_INIT;
        rc = orbit_kv_get(kv, NULL, (uint8_t *)k, kl, &b);
        check_own_read(w, j, rc, b.data, b.len, "get");
        orbit_buf_release(&b);
    } else if (c < 9) {
        /* The asynchronous path: a put of one key and a get of another. */
        char k2[32];
        int j2 = (j + 1) % NOWN;
        size_t k2l = own_key(w->id, j2, k2);
        size_t vl = own_val(w, j, v);
        orbit_buf out = ORBIT_BUF_INIT;
        orbit_kv_op ops[2] = {
            {.type = ORBIT_OP_PUT, .key = (uint8_t *)k, .klen = kl,
             .val = (uint8_t *)v, .vlen = vl, .result = -99},
            {.type = ORBIT_OP_GET, .key = (uint8_t *)k2, .klen = k2l, .out = &out,
             .result = -99},
        };
        ct_sub_wait sw = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
        rc = orbit_kv_submit(kv, ops, 2, ct_sub_done, &sw);
        if (rc != 0)
            return failf("thread %d: submit: %s", w->id, orbit_err_name(rc));
        if (ct_sub_wait_done(&sw) != 1)
            return failf("thread %d: submit: done ran %d times", w->id, sw.calls);
        if (ops[0].result != 0)
            return failf("thread %d: submitted put: %s", w->id,
                         orbit_err_name(ops[0].result));
        model_set(w, j, v, vl);
        check_own_read(w, j2, ops[1].result, out.data, out.len, "submitted get");
        orbit_buf_release(&out);
    } else {
        /* A transaction on own keys: nobody else touches them, so it must
         * commit at the first attempt. */
        orbit_txn *t = NULL;
        if ((rc = orbit_kv_txn_begin(kv, NULL, &t)) != 0)
            return failf("thread %d: txn_begin: %s", w->id, orbit_err_name(rc));
        orbit_buf b = ORBIT_BUF_INIT;
        rc = orbit_txn_get(t, (uint8_t *)k, kl, &b);
        check_own_read(w, j, rc, b.data, b.len, "txn_get");
        orbit_buf_release(&b);
        int j2 = (j + 7) % NOWN;
        char k2[32];
        size_t k2l = own_key(w->id, j2, k2);
        size_t vl = own_val(w, j, v);
        char v2[64];
        size_t v2l = own_val(w, j2, v2);
        rc = orbit_txn_put(t, (uint8_t *)k, kl, (uint8_t *)v, vl);
        if (rc == 0)
            rc = orbit_txn_put(t, (uint8_t *)k2, k2l, (uint8_t *)v2, v2l);
        if (rc != 0) {
            orbit_txn_rollback(t);
            return failf("thread %d: txn_put on own keys: %s", w->id, orbit_err_name(rc));
        }
        if ((rc = orbit_txn_commit(t)) != 0)
            return failf("thread %d: commit of own keys: %s", w->id, orbit_err_name(rc));
        model_set(w, j, v, vl);
        model_set(w, j2, v2, v2l);
        w->own_txns++;
    }
}

/* ---- shared keys, changed only by transactions ------------------------ */

static ct_txn_mode mode;

/* Parse a decimal counter or balance; an absent key is 0. */
static int parse_num(worker *w, int rc, const orbit_buf *b, const char *key, long *out)
{
    if (rc == ORBIT_NOTFOUND) {
        *out = 0;
        return 0;
    }
    char tmp[32];
    if (b->len == 0 || b->len >= sizeof tmp) {
        failf("thread %d: %s holds %zu bytes, not a number", w->id, key, b->len);
        return -1;
    }
    memcpy(tmp, b->data, b->len);
    tmp[b->len] = '\0';
    char *end;
    *out = strtol(tmp, &end, 10);
    if (*end) {
        failf("thread %d: %s holds '%s', not a number", w->id, key, tmp);
        return -1;
    }
    return 0;
}

/*
 * Where a retryable error came from decides whether it is allowed: a
 * pessimistic store reports conflicts at the write or get_for_update, never
 * at commit; an optimistic store only at commit.
 */
static int retry_ok(worker *w, int rc, int at_commit, const char *what)
{
    if (!orbit_err_retryable(rc)) {
        failf("thread %d: %s: %s", w->id, what, orbit_err_name(rc));
        return 0;
    }
    if (rc == ORBIT_ECONFLICT && mode == CT_PESSIMISTIC && at_commit) {
        failf("thread %d: %s: pessimistic store reported ECONFLICT at commit", w->id, what);
        return 0;
    }
    if (rc == ORBIT_ECONFLICT && mode == CT_OPTIMISTIC && !at_commit) {
        failf("thread %d: %s: optimistic store reported ECONFLICT before commit", w->id, what);
        return 0;
    }
    w->retries++;
    backoff(w);
    return 1;
}

static void counter_inc(worker *w)
{
    int c = (int)rnd(w, NCTR);
    char k[16], v[32];
    size_t kl = (size_t)sprintf(k, "ctr/%d", c);
    for (int attempt = 0; attempt < MAX_ATTEMPTS && !atomic_load(&failed); attempt++) {
        orbit_txn *t = NULL;
        int rc = orbit_kv_txn_begin(kv, NULL, &t);
        if (rc != 0) {
            if (!retry_ok(w, rc, 0, "txn_begin"))
                return;
            continue;
        }
        orbit_buf b = ORBIT_BUF_INIT;
        long n = 0;
        rc = orbit_txn_get_for_update(t, (uint8_t *)k, kl, &b);
        if (rc == 0 || rc == ORBIT_NOTFOUND) {
            if (parse_num(w, rc, &b, k, &n) != 0) {
                orbit_buf_release(&b);
                orbit_txn_rollback(t);
                return;
            }
            dawdle(w);
            size_t vl = (size_t)sprintf(v, "%ld", n + 1);
            rc = orbit_txn_put(t, (uint8_t *)k, kl, (uint8_t *)v, vl);
        }
        orbit_buf_release(&b);
        if (rc != 0) {
            orbit_txn_rollback(t);
            if (!retry_ok(w, rc, 0, "counter increment"))
                return;
            continue;
        }
        rc = orbit_txn_commit(t);
        if (rc == 0) {
            w->incs[c]++;
            return;
        }
        if (!retry_ok(w, rc, 1, "counter commit"))
            return;
    }
    if (!atomic_load(&failed))
        failf("thread %d: counter increment still conflicting after %d attempts", w->id,
              MAX_ATTEMPTS);
}

static void transfer(worker *w)
{
    int a = (int)rnd(w, NACCT), b = (int)rnd(w, NACCT - 1);
    if (b >= a)
        b++;
    char ka[16], kb[16], v[32];
    size_t kal = (size_t)sprintf(ka, "acct/%d", a), kbl = (size_t)sprintf(kb, "acct/%d", b);
    long want = 1 + (long)rnd(w, 50);
    for (int attempt = 0; attempt < MAX_ATTEMPTS && !atomic_load(&failed); attempt++) {
        orbit_txn *t = NULL;
        int rc = orbit_kv_txn_begin(kv, NULL, &t);
        if (rc != 0) {
            if (!retry_ok(w, rc, 0, "txn_begin"))
                return;
            continue;
        }
        orbit_buf ba = ORBIT_BUF_INIT, bb = ORBIT_BUF_INIT;
        long va = 0, vb = 0;
        rc = orbit_txn_get_for_update(t, (uint8_t *)ka, kal, &ba);
        if (rc == 0)
            rc = orbit_txn_get_for_update(t, (uint8_t *)kb, kbl, &bb);
        if (rc == ORBIT_NOTFOUND) {
            failf("thread %d: an account vanished", w->id);
            rc = -1000;
        }
        if (rc == 0 && (parse_num(w, 0, &ba, ka, &va) != 0 || parse_num(w, 0, &bb, kb, &vb) != 0))
            rc = -1000;
        orbit_buf_release(&ba);
        orbit_buf_release(&bb);
        if (rc == 0 && (va < 0 || vb < 0)) {
            failf("thread %d: negative balance %ld / %ld", w->id, va, vb);
            rc = -1000;
        }
        if (rc == 0) {
            long x = want < va ? want : va;
            dawdle(w);
            size_t n = (size_t)sprintf(v, "%ld", va - x);
            rc = orbit_txn_put(t, (uint8_t *)ka, kal, (uint8_t *)v, n);
            if (rc == 0) {
                n = (size_t)sprintf(v, "%ld", vb + x);
                rc = orbit_txn_put(t, (uint8_t *)kb, kbl, (uint8_t *)v, n);
            }
        }
        if (rc != 0) {
            orbit_txn_rollback(t);
            if (rc == -1000 || !retry_ok(w, rc, 0, "transfer"))
                return;
            continue;
        }
        rc = orbit_txn_commit(t);
        if (rc == 0) {
            w->transfers++;
            return;
        }
        if (!retry_ok(w, rc, 1, "transfer commit"))
            return;
    }
    if (!atomic_load(&failed))
        failf("thread %d: transfer still conflicting after %d attempts", w->id, MAX_ATTEMPTS);
}

/* Thread t's mirror keys, all set to one value by one batch. */
static void mirror_write(worker *w)
{
    orbit_batch *b = NULL;
    int rc = orbit_batch_new(&b);
    char k[32], v[32];
    size_t vl = (size_t)sprintf(v, "m%dv%u", w->id, ++w->mirror_version);
    for (int i = 0; i < NMIRROR && rc == 0; i++) {
        size_t kl = (size_t)sprintf(k, "mirror/%02d/%d", w->id, i);
        rc = orbit_batch_put(b, (uint8_t *)k, kl, (uint8_t *)v, vl);
    }
    if (rc == 0)
        rc = orbit_kv_write(kv, b);
    orbit_batch_free(b);
    if (rc != 0)
        failf("thread %d: mirror batch: %s", w->id, orbit_err_name(rc));
}

/* ---- compare-and-set keys, changed only by orbit_kv_cas ---------------- */

static void cas_inc(worker *w)
{
    int c = (int)rnd(w, NCAS);
    char k[16], v[32];
    size_t kl = (size_t)sprintf(k, "cas/%d", c);
    orbit_buf cur = ORBIT_BUF_INIT;
    int rc = orbit_kv_get(kv, NULL, (uint8_t *)k, kl, &cur);
    if (rc != 0 && rc != ORBIT_NOTFOUND) {
        failf("thread %d: get %s: %s", w->id, k, orbit_err_name(rc));
        goto out;
    }
    int absent = rc == ORBIT_NOTFOUND;
    dawdle(w); /* let others change it meanwhile */
    for (int attempt = 0; attempt < MAX_ATTEMPTS && !atomic_load(&failed); attempt++) {
        long n = 0;
        if (parse_num(w, absent ? ORBIT_NOTFOUND : 0, &cur, k, &n) != 0)
            goto out;
        size_t vl = (size_t)sprintf(v, "%ld", n + 1);
        orbit_slice expected = {cur.data, cur.len};
        orbit_slice desired = {(uint8_t *)v, vl};
        /* On CMPFAIL cur receives the value that won. */
        rc = orbit_kv_cas(kv, (uint8_t *)k, kl, absent ? NULL : &expected, &desired,
                          &cur);
        if (rc == 0) {
            w->cas_incs[c]++;
            goto out;
        }
        if (rc == ORBIT_CMPFAIL) {
            absent = 0;
        } else if (rc == ORBIT_NOTFOUND) {
            failf("thread %d: cas of %s: NOTFOUND, but nobody deletes it", w->id, k);
            goto out;
        } else if (!orbit_err_retryable(rc)) {
            failf("thread %d: cas of %s: %s", w->id, k, orbit_err_name(rc));
            goto out;
        } else {
            /* A retryable error: nothing was written, read afresh. */
            rc = orbit_kv_get(kv, NULL, (uint8_t *)k, kl, &cur);
            if (rc != 0 && rc != ORBIT_NOTFOUND) {
                failf("thread %d: get %s: %s", w->id, k, orbit_err_name(rc));
                goto out;
            }
            absent = rc == ORBIT_NOTFOUND;
        }
        w->cas_retries++;
        backoff(w);
    }
    if (!atomic_load(&failed))
        failf("thread %d: cas increment still failing after %d attempts", w->id,
              MAX_ATTEMPTS);
out:
    orbit_buf_release(&cur);
}

static void claim(worker *w)
{
    int j = (int)rnd(w, NCLAIM);
    char k[16], v[16];
    size_t kl = (size_t)sprintf(k, "claim/%02d", j);
    size_t vl = (size_t)sprintf(v, "t%d", w->id);
    orbit_buf cur = ORBIT_BUF_INIT;
    int rc;
    do
        rc = orbit_kv_put_if_absent(kv, (uint8_t *)k, kl, (uint8_t *)v, vl, &cur);
    while (rc < 0 && orbit_err_retryable(rc) && !atomic_load(&failed));
    if (rc == 0) {
        if (w->claimed[j])
            failf("thread %d: put_if_absent of %s succeeded twice", w->id, k);
        w->claimed[j] = 1;
        w->claims_won++;
    } else if (rc == ORBIT_CMPFAIL) {
        int owner = -1;
        char tmp[16] = "";
        if (cur.len > 0 && cur.len < sizeof tmp) {
            memcpy(tmp, cur.data, cur.len);
            sscanf(tmp, "t%d", &owner);
        }
        if (owner < 0 || owner >= nthreads)
            failf("thread %d: put_if_absent of %s: CMPFAIL with current '%s'", w->id, k,
                  tmp);
        else if (owner == w->id && !w->claimed[j])
            failf("thread %d: %s holds this thread's name, but its put_if_absent "
                  "never succeeded", w->id, k);
        w->claims_lost++;
    } else if (rc < 0 && !atomic_load(&failed)) {
        failf("thread %d: put_if_absent of %s: %s", w->id, k, orbit_err_name(rc));
    } else if (rc > 0) {
        failf("thread %d: put_if_absent of %s returned %s", w->id, k, orbit_err_name(rc));
    }
    orbit_buf_release(&cur);
}

static void check_accounts(worker *w, const ct_list *l, const char *how)
{
    long sum = 0;
    if (l->n != NACCT)
        return failf("thread %d: %s saw %zu accounts, expected %d", w->id, how, l->n, NACCT);
    for (size_t i = 0; i < l->n; i++) {
        orbit_buf b = {l->items[i].v, l->items[i].vl, l->items[i].vl};
        long x;
        if (parse_num(w, 0, &b, "acct", &x) != 0)
            return;
        sum += x;
    }
    if (sum != (long)NACCT * ACCT_START)
        failf("thread %d: %s saw an account total of %ld, expected %ld", w->id, how, sum,
              (long)NACCT * ACCT_START);
}

static void check_mirrors(worker *w, const ct_list *l)
{
    /* Entries are sorted: mirror/<t>/0..3 are adjacent. */
    for (size_t i = 0; i < l->n;) {
        size_t j = i + 1;
        while (j < l->n && l->items[j].kl == l->items[i].kl &&
               memcmp(l->items[j].k, l->items[i].k, l->items[i].kl - 1) == 0)
            j++;
        if (j - i != NMIRROR)
            return failf("thread %d: snapshot saw %zu of thread %.*s's %d mirror keys "
                         "(a torn batch)", w->id, j - i, 2, (const char *)l->items[i].k + 7,
                         NMIRROR);
        for (size_t x = i + 1; x < j; x++)
            if (l->items[x].vl != l->items[i].vl ||
                memcmp(l->items[x].v, l->items[i].v, l->items[i].vl) != 0)
                return failf("thread %d: snapshot saw mirror values '%.*s' and '%.*s' "
                             "(a torn batch)", w->id, (int)l->items[i].vl,
                             (const char *)l->items[i].v, (int)l->items[x].vl,
                             (const char *)l->items[x].v);
        i = j;
    }
}

static const orbit_scan_opts acct_scan = {.prefix = (const uint8_t *)"acct/", .prefix_len = 5};
static const orbit_scan_opts mirror_scan = {.prefix = (const uint8_t *)"mirror/", .prefix_len = 7};

static void audit(worker *w)
{
    uint64_t how = rnd(w, 3);
    ct_list l = {0};
    int rc;
    w->audits++;
    if (how == 0) {
        orbit_snapshot *s = NULL;
        if ((rc = orbit_kv_snapshot(kv, &s)) != 0)
            return failf("thread %d: snapshot: %s", w->id, orbit_err_name(rc));
        orbit_scan_opts so = acct_scan;
        so.reverse = (int)rnd(w, 2);
        if ((rc = ct_scan(kv, s, &so, &l)) != 0)
            failf("thread %d: snapshot scan: %s", w->id, orbit_err_name(rc));
        else
            check_accounts(w, &l, "a snapshot scan");
        ct_list_free(&l);
        /* Point reads through the same snapshot agree with it. */
        long sum = 0;
        orbit_read_opts ro = {s};
        for (int i = 0; i < NACCT && !atomic_load(&failed); i++) {
            char k[16];
            size_t kl = (size_t)sprintf(k, "acct/%d", i);
            orbit_buf b = ORBIT_BUF_INIT;
            long x = 0;
            rc = orbit_kv_get(kv, &ro, (uint8_t *)k, kl, &b);
            if (rc != 0)
                failf("thread %d: snapshot get %s: %s", w->id, k, orbit_err_name(rc));
            else if (parse_num(w, rc, &b, k, &x) == 0)
                sum += x;
            orbit_buf_release(&b);
        }
        if (!atomic_load(&failed) && sum != (long)NACCT * ACCT_START)
            failf("thread %d: snapshot gets saw a total of %ld", w->id, sum);
        if ((rc = ct_scan(kv, s, &mirror_scan, &l)) != 0)
            failf("thread %d: snapshot mirror scan: %s", w->id, orbit_err_name(rc));
        else
            check_mirrors(w, &l);
        ct_list_free(&l);
        orbit_snapshot_release(s);
    } else if (how == 1) {
        orbit_scan_opts so = acct_scan;
        so.reverse = (int)rnd(w, 2);
        if ((rc = ct_scan(kv, NULL, &so, &l)) != 0)
            failf("thread %d: scan: %s", w->id, orbit_err_name(rc));
        else
            check_accounts(w, &l, "an iterator");
        ct_list_free(&l);
        if ((rc = ct_scan(kv, NULL, &mirror_scan, &l)) != 0)
            failf("thread %d: mirror scan: %s", w->id, orbit_err_name(rc));
        else
            check_mirrors(w, &l);
        ct_list_free(&l);
    } else {
        orbit_txn *t = NULL;
        if ((rc = orbit_kv_txn_begin(kv, NULL, &t)) != 0) {
            retry_ok(w, rc, 0, "audit txn_begin");
            return;
        }
        if ((rc = ct_txn_scan(t, &acct_scan, &l)) != 0)
            failf("thread %d: txn scan: %s", w->id, orbit_err_name(rc));
        else
            check_accounts(w, &l, "a transaction's scan");
        ct_list_free(&l);
        rc = orbit_txn_commit(t);
        if (rc != 0)
            failf("thread %d: read-only commit: %s", w->id, orbit_err_name(rc));
    }
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    for (long i = 0; i < iters && !atomic_load(&failed); i++) {
        uint64_t c = rnd(w, 100);
        if (c < 35)
            own_op(w);
        else if (c < 55)
            counter_inc(w);
        else if (c < 75)
            transfer(w);
        else if (c < 82)
            mirror_write(w);
        else if (c < 88)
            cas_inc(w);
        else if (c < 90)
            claim(w);
        else
            audit(w);
    }
    return NULL;
}

/* ---- set-up and the final checks ---------------------------------------- */

static int final_checks(worker *ws)
{
    ct_list l = {0};
    char k[32];
    for (int t = 0; t < nthreads; t++) {
        worker *w = &ws[t];
        int n = sprintf(k, "own/%02d/", t);
        orbit_scan_opts so = {.prefix = (uint8_t *)k, .prefix_len = (size_t)n};
        int rc = ct_scan(kv, NULL, &so, &l);
        if (rc != 0) {
            failf("final scan of %s: %s", k, orbit_err_name(rc));
            return 1;
        }
        ct_list want = {0};
        for (int j = 0; j < NOWN; j++) {
            if (w->len[j] < 0)
                continue;
            char kk[32];
            size_t kl = own_key(t, j, kk);
            ct_list_push(&want, (uint8_t *)kk, kl, (uint8_t *)w->val[j], (size_t)w->len[j]);
        }
        int ok = ct_list_equal(&l, &want);
        if (!ok) {
            ct_list_dump("store", &l, 30);
            ct_list_dump("thread's model", &want, 30);
            failf("thread %d's key range differs from its model", t);
        }
        ct_list_free(&want);
        ct_list_free(&l);
        if (!ok)
            return 1;
    }
    for (int c = 0; c < NCAS; c++) {
        long want = 0, got = 0;
        for (int t = 0; t < nthreads; t++)
            want += ws[t].cas_incs[c];
        size_t kl = (size_t)sprintf(k, "cas/%d", c);
        orbit_buf b = ORBIT_BUF_INIT;
        int rc = orbit_kv_get(kv, NULL, (uint8_t *)k, kl, &b);
        if ((rc != 0 && rc != ORBIT_NOTFOUND) || parse_num(&ws[0], rc, &b, k, &got) != 0) {
            failf("final get %s: %s", k, orbit_err_name(rc));
            orbit_buf_release(&b);
            return 1;
        }
        orbit_buf_release(&b);
        if (got != want) {
            failf("%s is %ld, but %ld compare-and-set increments returned 0", k, got, want);
            return 1;
        }
        fprintf(stderr, "%s = %ld (successful compare-and-set increments: %ld)\n", k, got,
                want);
    }
    for (int j = 0; j < NCLAIM; j++) {
        int winners = 0, winner = -1;
        for (int t = 0; t < nthreads; t++)
            if (ws[t].claimed[j]) {
                winners++;
                winner = t;
            }
        size_t kl = (size_t)sprintf(k, "claim/%02d", j);
        orbit_buf b = ORBIT_BUF_INIT;
        int rc = orbit_kv_get(kv, NULL, (uint8_t *)k, kl, &b);
        char want[16];
        size_t wl = (size_t)sprintf(want, "t%d", winner);
        int ok = winners == 0 ? rc == ORBIT_NOTFOUND
                              : winners == 1 && rc == 0 && b.len == wl &&
                                    memcmp(b.data, want, wl) == 0;
        orbit_buf_release(&b);
        if (!ok) {
            failf("%s: %d threads won put_if_absent (last t%d); the key: %s", k, winners,
                  winner, orbit_err_name(rc));
            return 1;
        }
    }
    for (int c = 0; c < NCTR; c++) {
        long want = 0, got = 0;
        for (int t = 0; t < nthreads; t++)
            want += ws[t].incs[c];
        size_t kl = (size_t)sprintf(k, "ctr/%d", c);
        orbit_buf b = ORBIT_BUF_INIT;
        int rc = orbit_kv_get(kv, NULL, (uint8_t *)k, kl, &b);
        if ((rc != 0 && rc != ORBIT_NOTFOUND) || parse_num(&ws[0], rc, &b, k, &got) != 0) {
            failf("final get %s: %s", k, orbit_err_name(rc));
            orbit_buf_release(&b);
            return 1;
        }
        orbit_buf_release(&b);
        if (got != want) {
            failf("%s is %ld, but %ld increments committed", k, got, want);
            return 1;
        }
        fprintf(stderr, "%s = %ld (committed increments: %ld)\n", k, got, want);
    }
    int rc = ct_scan(kv, NULL, &acct_scan, &l);
    if (rc != 0)
        failf("final account scan: %s", orbit_err_name(rc));
    else
        check_accounts(&ws[0], &l, "the final scan");
    ct_list_free(&l);
    return atomic_load(&failed);
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s --store TEMPLATE [--threads N] [--iters N]\n"
            "          [--txn-mode pessimistic|optimistic]\n", argv0);
}

int main(int argc, char **argv)
{
    const char *tmpl = NULL, *mode_arg = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--store") == 0)
            tmpl = argv[i + 1];
        else if (strcmp(argv[i], "--threads") == 0)
            nthreads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--iters") == 0)
            iters = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--txn-mode") == 0)
            mode_arg = argv[i + 1];
        else {
            usage(argv[0]);
            return 2;
        }
    }
    if (!tmpl || argc % 2 == 0 || nthreads < 1 || nthreads > MAX_THREADS || iters < 1) {
        usage(argv[0]);
        return 2;
    }
    mode = ct_mode_from_uri(tmpl);
    if (mode_arg && ct_parse_mode(mode_arg, &mode) != 0) {
        usage(argv[0]);
        return 2;
    }
    uint64_t seed = tu_seed("contract concurrency");
    ct_store st;
    if (ct_store_open(tmpl, &st) != 0)
        return 1;
    kv = st.kv;
    orbit_capabilities caps;
    orbit_kv_capabilities(kv, &caps);
    fprintf(stderr, "store %s (%s), %s conflicts, %d threads x %ld iterations\n", st.uri,
            caps.name, ct_mode_name(mode), nthreads, iters);
    if (!caps.supports_transactions || !caps.supports_snapshots) {
        fprintf(stderr, "provider has no transactions or snapshots: skipped\n");
        ct_store_close(&st);
        return 77;
    }

    orbit_batch *b = NULL;
    int rc = orbit_batch_new(&b);
    for (int i = 0; i < NACCT && rc == 0; i++) {
        char k[16], v[16];
        size_t kl = (size_t)sprintf(k, "acct/%d", i), vl = (size_t)sprintf(v, "%d", ACCT_START);
        rc = orbit_batch_put(b, (uint8_t *)k, kl, (uint8_t *)v, vl);
    }
    if (rc == 0)
        rc = orbit_kv_write(kv, b);
    orbit_batch_free(b);
    if (rc != 0) {
        fprintf(stderr, "setting up accounts: %s\n", orbit_err_name(rc));
        ct_store_close(&st);
        return 1;
    }

    worker ws[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    memset(ws, 0, sizeof ws);
    for (int t = 0; t < nthreads; t++) {
        ws[t].id = t;
        tu_rng_init(&ws[t].rng, seed + 0x9E3779B97F4A7C15ull * (uint64_t)(t + 1));
        for (int j = 0; j < NOWN; j++)
            ws[t].len[j] = -1;
    }
    int started = 0;
    for (; started < nthreads; started++)
        if (pthread_create(&th[started], NULL, run_worker, &ws[started]) != 0) {
            failf("pthread_create failed");
            break;
        }
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);

    int bad = atomic_load(&failed) || final_checks(ws);
    orbit_kv_stats s;
    orbit_kv_stats_get(kv, &s);
    for (int t = 0; t < nthreads; t++)
        fprintf(stderr, "thread %d: %ld own ops (%ld txns), %ld transfers, %ld audits, "
                "%ld retries; cas: %ld increments, %ld retries; claims %ld won, %ld lost\n",
                t, ws[t].own_ops, ws[t].own_txns, ws[t].transfers, ws[t].audits,
                ws[t].retries, ws[t].cas_incs[0] + ws[t].cas_incs[1], ws[t].cas_retries,
                ws[t].claims_won, ws[t].claims_lost);
    fprintf(stderr, "stats: %llu txns begun, %llu committed, %llu conflicted\n",
            (unsigned long long)s.txns_begun, (unsigned long long)s.txns_committed,
            (unsigned long long)s.txns_conflicted);
    ct_store_close(&st);
    if (bad) {
        fprintf(stderr, "contract concurrency: FAILED (replay: ORBIT_TEST_SEED=%llu; "
                "thread interleaving is not replayed)\n", (unsigned long long)seed);
        return 1;
    }
    fprintf(stderr, "contract concurrency: passed\n");
    return 0;
}
