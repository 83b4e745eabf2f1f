/*
 * Crash contract test for durable providers: an acknowledged write survives
 * the death of the process that made it.
 *
 * The parent runs a few rounds on ONE store. Each round it starts a child
 * (this executable again, fork + exec, so the child is a clean process with
 * its own provider threads) that opens the store with the template's options
 * (for RocksDB the defaults: WAL on, sync off) and applies a deterministic
 * sequence of write units: single puts, batches and committed transactions
 * over a small key pool, so keys are overwritten and deleted across units and
 * rounds. After a unit's call returned 0 the child writes the unit's number
 * to a pipe. The parent SIGKILLs the child at a random moment after some
 * acknowledgements, collects every acknowledgement that reached the pipe,
 * reopens the store and compares a full scan with its model:
 *   - every acknowledged unit is applied, in order, with its exact values;
 *   - the one unit in flight at the kill is applied entirely or not at all
 *     (batches and transactions are atomic);
 *   - nothing else is there.
 * Units are regenerated from (seed, round, number), so the pipe carries only
 * numbers. A provider whose capabilities say durable == 0 is skipped (77).
 *
 * Usage: contract_crash --store TEMPLATE [--rounds N]
 * (internal: contract_crash --child URI ROUND SEED FD)
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "orbit/kv.h"
#include "suite.h"
#include "testutil.h"

#define KEY_POOL 400
#define MAX_UNIT_OPS 8
#define MAX_VAL (32 * 1024)

typedef struct unit_op {
    int del;
    char key[32];
    size_t kl;
    size_t vl;
    uint8_t *val; /* malloc'd, vl bytes */
} unit_op;

typedef enum unit_kind { UNIT_PUT, UNIT_DEL, UNIT_BATCH, UNIT_TXN } unit_kind;

typedef struct unit {
    unit_kind kind;
    int n;
    unit_op ops[MAX_UNIT_OPS];
} unit;

static const char *kind_name(unit_kind k)
{
    return k == UNIT_PUT ? "put" : k == UNIT_DEL ? "del" : k == UNIT_BATCH ? "batch" : "txn";
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "contract crash: out of memory\n");
        exit(3);
    }
    return p;
}

/* Unit `seq` of round `round`: a pure function of its arguments. */
static void gen_unit(uint64_t seed, int round, uint32_t seq, unit *u)
{
    tu_rng r;
    tu_rng_init(&r, seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(round + 1)) ^
                        (0xC2B2AE3D27D4EB4Full * (uint64_t)(seq + 1)));
    uint64_t c = tu_below(&r, 100);
    u->kind = c < 35 ? UNIT_PUT : c < 40 ? UNIT_DEL : c < 70 ? UNIT_BATCH : UNIT_TXN;
    u->n = u->kind == UNIT_PUT || u->kind == UNIT_DEL ? 1 : 2 + (int)tu_below(&r, MAX_UNIT_OPS - 1);
    for (int i = 0; i < u->n; i++) {
        unit_op *o = &u->ops[i];
        o->del = u->kind == UNIT_DEL || (u->kind != UNIT_PUT && tu_below(&r, 4) == 0);
        /* A transaction also bumps one "meta" key, so it overwrites what
         * the previous transaction wrote. */
        if (u->kind == UNIT_TXN && i == 0) {
            o->del = 0;
            o->kl = (size_t)sprintf(o->key, "meta/txn");
        } else {
            o->kl = (size_t)sprintf(o->key, "key/%03u", (unsigned)tu_below(&r, KEY_POOL));
        }
        o->vl = 0;
        o->val = NULL;
        if (o->del)
            continue;
        uint64_t big = tu_below(&r, 100);
        size_t pad = big < 2 ? MAX_VAL - 64 : (size_t)tu_below(&r, 200);
        o->val = xmalloc(pad + 48);
        o->vl = (size_t)sprintf((char *)o->val, "r%ds%ui%d:", round, seq, i);
        for (size_t j = 0; j < pad; j++)
            o->val[o->vl++] = (uint8_t)tu_below(&r, 256);
    }
}

static void free_unit(unit *u)
{
    for (int i = 0; i < u->n; i++)
        free(u->ops[i].val);
}

/* ---- the child ---------------------------------------------------------- */

static int apply_unit(orbit_kv *kv, const unit *u)
{
    int rc = 0;
    if (u->kind == UNIT_PUT)
        return orbit_kv_put(kv, (uint8_t *)u->ops[0].key, u->ops[0].kl, u->ops[0].val,
                            u->ops[0].vl);
    if (u->kind == UNIT_DEL)
        return orbit_kv_del(kv, (uint8_t *)u->ops[0].key, u->ops[0].kl);
    if (u->kind == UNIT_BATCH) {
        orbit_batch *b = NULL;
        rc = orbit_batch_new(&b);
        for (int i = 0; i < u->n && rc == 0; i++) {
            const unit_op *o = &u->ops[i];
            rc = o->del ? orbit_batch_del(b, (uint8_t *)o->key, o->kl)
                        : orbit_batch_put(b, (uint8_t *)o->key, o->kl, o->val, o->vl);
        }
        if (rc == 0)
            rc = orbit_kv_write(kv, b);
        orbit_batch_free(b);
        return rc;
    }
    orbit_txn *t = NULL;
    if ((rc = orbit_kv_txn_begin(kv, NULL, &t)) != 0)
        return rc;
    for (int i = 0; i < u->n && rc == 0; i++) {
        const unit_op *o = &u->ops[i];
        rc = o->del ? orbit_txn_del(t, (uint8_t *)o->key, o->kl)
                    : orbit_txn_put(t, (uint8_t *)o->key, o->kl, o->val, o->vl);
    }
    if (rc != 0) {
        orbit_txn_rollback(t);
        return rc;
    }
    return orbit_txn_commit(t);
}

static int child_main(const char *uri, int round, uint64_t seed, int fd)
{
    orbit_kv *kv = NULL;
    int rc = orbit_kv_open(uri, &kv);
    if (rc != 0) {
        fprintf(stderr, "child: open %s: %s (%s)\n", uri, orbit_err_name(rc),
                orbit_last_error_detail());
        return 10;
    }
    for (uint32_t seq = 0; seq < 1000000; seq++) {
        unit u;
        gen_unit(seed, round, seq, &u);
        rc = apply_unit(kv, &u);
        free_unit(&u);
        if (rc != 0) {
            fprintf(stderr, "child: unit %u: %s (%s)\n", seq, orbit_err_name(rc),
                    orbit_last_error_detail());
            return 11;
        }
        /* Acknowledge only what returned 0. 4 bytes: an atomic pipe write. */
        if (write(fd, &seq, sizeof seq) != (ssize_t)sizeof seq)
            return 12;
    }
    orbit_kv_close(kv);
    return 0;
}

/* ---- the parent's model --------------------------------------------------- */

typedef struct model {
    ct_list l; /* unsorted; sorted copies are made to compare */
} model;

static void model_apply_op(model *m, const unit_op *o)
{
    for (size_t i = 0; i < m->l.n; i++) {
        ct_pair *e = &m->l.items[i];
        if (e->kl == o->kl && memcmp(e->k, o->key, o->kl) == 0) {
            free(e->k);
            free(e->v);
            m->l.items[i] = m->l.items[--m->l.n];
            break;
        }
    }
    if (!o->del)
        ct_list_push(&m->l, (uint8_t *)o->key, o->kl, o->val, o->vl);
}

static void model_apply(model *m, const unit *u)
{
    for (int i = 0; i < u->n; i++)
        model_apply_op(m, &u->ops[i]);
}

static void model_copy(const model *src, model *dst)
{
    memset(dst, 0, sizeof *dst);
    for (size_t i = 0; i < src->l.n; i++) {
        const ct_pair *e = &src->l.items[i];
        ct_list_push(&dst->l, e->k, e->kl, e->v, e->vl);
    }
}

static int pair_cmp(const void *a, const void *b)
{
    const ct_pair *x = a, *y = b;
    return ct_keycmp(x->k, x->kl, y->k, y->kl);
}

static void model_sort(model *m)
{
    if (m->l.n)
        qsort(m->l.items, m->l.n, sizeof m->l.items[0], pair_cmp);
}

/* Length of a value's printable tag ("r1s42i0"), bounded by the value. */
static int tag_len(const ct_pair *e)
{
    const uint8_t *c = memchr(e->v, ':', e->vl);
    return c ? (int)(c - e->v) : (int)(e->vl < 16 ? e->vl : 16);
}

/* Print where two sorted lists differ. */
static void print_diff(const ct_list *got, const ct_list *want)
{
    size_t i = 0, j = 0, shown = 0;
    char kb[96];
    while ((i < got->n || j < want->n) && shown < 20) {
        int c = i == got->n ? 1 : j == want->n ? -1
                : ct_keycmp(got->items[i].k, got->items[i].kl, want->items[j].k,
                            want->items[j].kl);
        if (c < 0) {
            fprintf(stderr, "    unexpected key %s\n",
                    ct_fmt(kb, sizeof kb, got->items[i].k, got->items[i].kl));
            i++;
            shown++;
        } else if (c > 0) {
            fprintf(stderr, "    missing key %s (value %.*s...)\n",
                    ct_fmt(kb, sizeof kb, want->items[j].k, want->items[j].kl),
                    tag_len(&want->items[j]), (const char *)want->items[j].v);
            j++;
            shown++;
        } else {
            const ct_pair *x = &got->items[i], *y = &want->items[j];
            if (x->vl != y->vl || memcmp(x->v, y->v, x->vl) != 0) {
                fprintf(stderr, "    key %s: value %.*s... (%zu bytes), expected %.*s... "
                        "(%zu bytes)\n",
                        ct_fmt(kb, sizeof kb, x->k, x->kl),
                        tag_len(x), (const char *)x->v, x->vl, tag_len(y),
                        (const char *)y->v, y->vl);
                shown++;
            }
            i++;
            j++;
        }
    }
}

/* ---- the parent ------------------------------------------------------------ */

static int read_full_scan(const char *uri, ct_list *out)
{
    orbit_kv *kv = NULL;
    int rc = orbit_kv_open(uri, &kv);
    if (rc != 0) {
        fprintf(stderr, "reopen %s after the crash: %s (%s)\n", uri, orbit_err_name(rc),
                orbit_last_error_detail());
        return rc;
    }
    rc = ct_scan(kv, NULL, NULL, out);
    if (rc != 0)
        fprintf(stderr, "scan after the crash: %s (%s)\n", orbit_err_name(rc),
                orbit_last_error_detail());
    orbit_kv_close(kv);
    return rc;
}

static pid_t spawn_child(const char *uri, int round, uint64_t seed, int *rfd)
{
    int p[2];
    if (pipe(p) != 0) {
        perror("pipe");
        return -1;
    }
    char rs[16], ss[32], fs[16];
    snprintf(rs, sizeof rs, "%d", round);
    snprintf(ss, sizeof ss, "%llu", (unsigned long long)seed);
    snprintf(fs, sizeof fs, "%d", p[1]);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        char *args[] = {(char *)"contract_crash", (char *)"--child", (char *)uri, rs, ss, fs,
                        NULL};
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(p[1]);
    *rfd = p[0];
    return pid;
}

/* Read one acknowledgement; 1: got one, 0: the pipe closed, -1: timeout. */
static int read_ack(int fd, uint32_t *seq, int timeout_ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    int n = poll(&pfd, 1, timeout_ms);
    if (n == 0)
        return -1;
    size_t got = 0;
    while (got < sizeof *seq) {
        ssize_t r = read(fd, (char *)seq + got, sizeof *seq - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        got += (size_t)r;
    }
    return 1;
}

static int run_round(const char *uri, int round, uint64_t seed, tu_rng *rng, model *m,
                     int remote)
{
    int fd;
    pid_t pid = spawn_child(uri, round, seed, &fd);
    if (pid < 0)
        return 1;
    uint32_t kill_after = 10 + (uint32_t)tu_below(rng, 400);
    uint32_t acked = 0, seq;
    int r = 1;
    while (acked < kill_after && (r = read_ack(fd, &seq, 60000)) == 1) {
        if (seq != acked) {
            fprintf(stderr, "round %d: acknowledgement %u out of order (expected %u)\n",
                    round, seq, acked);
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            close(fd);
            return 1;
        }
        acked++;
    }
    /* Let the child run on a little, so the kill lands mid-operation. */
    struct timespec ts = {0, (long)tu_below(rng, 3000) * 1000};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (r != 1 || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        fprintf(stderr, "round %d: the child died on its own after %u units (%s %d)\n",
                round, acked, WIFEXITED(status) ? "exit" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        close(fd);
        return 1;
    }
    /* Everything the child acknowledged before it died is in the pipe. */
    while (read_ack(fd, &seq, 0) == 1) {
        if (seq != acked) {
            fprintf(stderr, "round %d: acknowledgement %u out of order\n", round, seq);
            close(fd);
            return 1;
        }
        acked++;
    }
    close(fd);
    /* A request to a remote store that left the socket before the kill is
     * still served; give it time to land before the state is judged. */
    if (remote) {
        struct timespec settle = {1, 0};
        nanosleep(&settle, NULL);
    }

    for (uint32_t i = 0; i < acked; i++) {
        unit u;
        gen_unit(seed, round, i, &u);
        model_apply(m, &u);
        free_unit(&u);
    }
    ct_list got = {0};
    if (read_full_scan(uri, &got) != 0)
        return 1;
    model_sort(m);
    unit inflight;
    gen_unit(seed, round, acked, &inflight);
    int result = 0;
    const char *outcome;
    if (ct_list_equal(&got, &m->l)) {
        outcome = "not applied";
    } else {
        model with = {{0}};
        model_copy(m, &with);
        model_apply(&with, &inflight);
        model_sort(&with);
        if (ct_list_equal(&got, &with.l)) {
            outcome = "applied";
            ct_list_free(&m->l);
            *m = with;
        } else {
            outcome = "MISMATCH";
            fprintf(stderr, "round %d: after the crash the store holds neither the %u "
                    "acknowledged units nor those plus the in-flight %s unit %u.\n"
                    "  differences from the acknowledged state:\n",
                    round, acked, kind_name(inflight.kind), acked);
            print_diff(&got, &m->l);
            fprintf(stderr, "  differences from the state with the in-flight unit:\n");
            print_diff(&got, &with.l);
            ct_list_free(&with.l);
            result = 1;
        }
    }
    fprintf(stderr, "round %d: killed after %u acknowledged units; in-flight %s unit %s; "
            "%zu keys verified\n", round, acked, kind_name(inflight.kind), outcome, got.n);
    free_unit(&inflight);
    ct_list_free(&got);
    return result;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 10), atoi(argv[5]));

    const char *tmpl = NULL;
    int rounds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--store") == 0)
            tmpl = argv[i + 1];
        else if (strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[i + 1]);
        else
            tmpl = NULL, i = argc;
    }
    if (!tmpl || argc % 2 == 0 || rounds < 1) {
        fprintf(stderr, "usage: %s --store TEMPLATE [--rounds N]\n", argv[0]);
        return 2;
    }
    uint64_t seed = tu_seed("contract crash");
    tu_rng rng;
    tu_rng_init(&rng, seed);
    char *dir = NULL;
    char *uri = ct_expand(tmpl, &dir);

    orbit_kv *kv = NULL;
    int rc = orbit_kv_open(uri, &kv);
    if (rc != 0) {
        fprintf(stderr, "open %s: %s (%s)\n", uri, orbit_err_name(rc), orbit_last_error_detail());
        free(uri);
        tu_rmdir(dir);
        return 1;
    }
    orbit_capabilities caps;
    orbit_kv_capabilities(kv, &caps);
    orbit_kv_close(kv);
    if (!caps.durable) {
        fprintf(stderr, "provider %s is not durable: skipped\n", caps.name);
        free(uri);
        tu_rmdir(dir);
        return 77;
    }
    fprintf(stderr, "crash test on %s, %d rounds\n", uri, rounds);

    model m = {{0}};
    int bad = 0;
    for (int round = 0; round < rounds && !bad; round++)
        bad = run_round(uri, round, seed, &rng, &m, caps.type == ORBIT_PROVIDER_DISTRIBUTED);
    ct_list_free(&m.l);
    if (bad) {
        fprintf(stderr, "contract crash: FAILED (replay: ORBIT_TEST_SEED=%llu); "
                "the store is kept for inspection: %s\n", (unsigned long long)seed, uri);
        free(uri);
        free(dir);
        return 1;
    }
    free(uri);
    tu_rmdir(dir);
    fprintf(stderr, "contract crash: passed\n");
    return 0;
}
