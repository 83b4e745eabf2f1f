/*
 * `orbit demo`: a short, readable tour of the engine on the chosen store,
 * printing each step: plain keys, an atomic batch, scans, a transaction
 * that commits, one that meets a conflicting write and is retried, a
 * snapshot read, and the store's capabilities and statistics.
 *
 * Rerunnable: every key it touches lives under "demo:" and is overwritten
 * (the counter keeps counting across runs); the store is closed cleanly.
 * A step whose outcome contradicts the contract (a lost write, a missed
 * conflict, a snapshot that moved) makes the demo fail with exit status 1,
 * so `make run` doubles as a smoke test. Steps the store cannot do (no
 * transactions, no snapshots) are skipped with a note.
 *
 * The transaction retry loop retries only retryable errors
 * (orbit_err_retryable). A commit whose outcome is unknown
 * (ORBIT_EUNCERTAIN) is never retried: the demo reads the counter back;
 * if it holds the value the commit wrote, the commit was applied, and
 * otherwise the demo says that the outcome is unknown and stops (a delayed
 * commit may still apply, so a retry could count twice).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "orbit/codec.h"
#include "orbit/record.h"
#include "orbit/strings.h"

const char orbit__usage_demo[] =
    "  orbit demo            a short tour of the engine on the store (writes keys under\n"
    "                        \"demo:\"; creates the store if it is missing; rerunnable)\n";

#define COUNTER "demo:counter"
#define GREETING "demo:greeting"

typedef struct demo {
    orbit_kv *kv;
    orbit_buf a, b; /* scratch */
} demo;

static void show(const char *label, const void *p, size_t n)
{
    printf("%s\"", label);
    orbit__cli_put_escaped(stdout, p, n);
    printf("\"");
}

static int put_str(demo *d, const char *key, const void *val, size_t vlen)
{
    int rc = orbit_str_put(d->kv, NULL, (const uint8_t *)key, strlen(key),
                           val, vlen);
    if (rc)
        return orbit__cli_fail(rc, "demo: put %s", key);
    return CLI_OK;
}

/* Read key and compare with want (NULL: must be absent). */
static int expect(demo *d, const orbit_read_opts *ro, const char *key,
                  const void *want, size_t wlen)
{
    int rc = orbit_str_get(d->kv, ro, (const uint8_t *)key, strlen(key),
                           &d->a);
    if (rc < 0)
        return orbit__cli_fail(rc, "demo: get %s", key);
    if (!want && rc == ORBIT_NOTFOUND)
        return CLI_OK;
    if (want && rc == ORBIT_OK && d->a.len == wlen &&
        (wlen == 0 || memcmp(d->a.data, want, wlen) == 0))
        return CLI_OK;
    fprintf(stderr, "orbit: demo: %s reads back wrong (%s)\n", key,
            rc == ORBIT_NOTFOUND ? "absent" : "other bytes");
    return CLI_FAIL;
}

static int step_plain(demo *d)
{
    static const char hello[] = "hello, orbit";
    static const uint8_t bin[] = {'a', 0x00, 'b', 0xff};
    int st;

    printf("1. plain keys (the \"kv\" namespace of the default keyspace, "
           "values in checksummed records)\n");
    if ((st = put_str(d, GREETING, hello, sizeof hello - 1)))
        return st;
    if ((st = expect(d, NULL, GREETING, hello, sizeof hello - 1)))
        return st;
    show("   put/get " GREETING " = ", d->a.data, d->a.len);
    printf("\n");

    if ((st = put_str(d, "demo:binary", bin, sizeof bin)))
        return st;
    if ((st = expect(d, NULL, "demo:binary", bin, sizeof bin)))
        return st;
    show("   put/get demo:binary = ", d->a.data, d->a.len);
    printf("  (any bytes)\n");

    if ((st = put_str(d, "demo:temp", "x", 1)))
        return st;
    int rc = orbit_str_del(d->kv, (const uint8_t *)"demo:temp", 9);
    if (rc)
        return orbit__cli_fail(rc, "demo: del demo:temp");
    if ((st = expect(d, NULL, "demo:temp", NULL, 0)))
        return st;
    printf("   del demo:temp, then get: not found\n");

    d->b.len = 0;
    rc = orbit_key_kv(&d->b, ORBIT_KEYSPACE_DEFAULT, GREETING, strlen(GREETING));
    if (rc)
        return orbit__cli_fail(rc, "demo: encode key");
    show("   stored under the tuple key (1, \"kv\", \"" GREETING "\") = ",
         d->b.data, d->b.len);
    printf("\n\n");
    return CLI_OK;
}

/* Encode a string record and add it to the batch under
 * (ORBIT_KEYSPACE_DEFAULT, "kv", key). */
static int batch_str(demo *d, orbit_batch *b, const char *key, const char *v)
{
    orbit_record_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.model = ORBIT_MODEL_KV;
    d->a.len = 0;
    d->b.len = 0;
    int rc = orbit_key_kv(&d->a, ORBIT_KEYSPACE_DEFAULT, key, strlen(key));
    if (!rc)
        rc = orbit_record_encode(&d->b, d->a.data, d->a.len, &meta, NULL,
                                 (const uint8_t *)v, strlen(v));
    if (!rc)
        rc = orbit_batch_put(b, d->a.data, d->a.len, d->b.data, d->b.len);
    return rc;
}

static int step_batch(demo *d)
{
    static const char *const fruit[][2] = {
        {"demo:fruit:apple", "red"},
        {"demo:fruit:banana", "yellow"},
        {"demo:fruit:cherry", "dark red"},
    };
    orbit_batch *b = NULL;
    int rc = orbit_batch_new(&b);
    if (rc)
        return orbit__cli_fail(rc, "demo: batch");

    printf("2. an atomic batch: three puts and a delete, all or nothing\n");
    for (size_t i = 0; i < 3 && !rc; i++)
        rc = batch_str(d, b, fruit[i][0], fruit[i][1]);
    if (!rc) {
        d->a.len = 0;
        rc = orbit_key_kv(&d->a, ORBIT_KEYSPACE_DEFAULT, "demo:fruit:durian", 17);
    }
    if (!rc)
        rc = orbit_batch_del(b, d->a.data, d->a.len);
    if (!rc)
        rc = orbit_kv_write(d->kv, b);
    orbit_batch_free(b);
    if (rc)
        return orbit__cli_fail(rc, "demo: batch write");
    for (size_t i = 0; i < 3; i++) {
        int st = expect(d, NULL, fruit[i][0], fruit[i][1],
                        strlen(fruit[i][1]));
        if (st)
            return st;
    }
    printf("   wrote demo:fruit:{apple,banana,cherry}, deleted "
           "demo:fruit:durian\n\n");
    return CLI_OK;
}

static int print_entry(void *arg, const uint8_t *key, size_t klen,
                       const uint8_t *val, size_t vlen)
{
    int *n = arg;
    (*n)++;
    printf("   ");
    orbit__cli_put_escaped(stdout, key, klen);
    printf(" = ");
    orbit__cli_put_escaped(stdout, val, vlen);
    printf("\n");
    return 0;
}

static int step_scan(demo *d)
{
    orbit_scan_opts so;
    memset(&so, 0, sizeof so);
    so.prefix = (const uint8_t *)"demo:fruit:";
    so.prefix_len = strlen("demo:fruit:");
    int n = 0;

    printf("3. ordered scans\n   prefix \"demo:fruit:\":\n");
    int rc = orbit_str_scan(d->kv, NULL, &so, print_entry, &n);
    if (rc)
        return orbit__cli_fail(rc, "demo: scan");
    if (n != 3) {
        fprintf(stderr, "orbit: demo: the scan saw %d fruit, expected 3\n", n);
        return CLI_FAIL;
    }
    so.reverse = 1;
    so.limit = 2;
    n = 0;
    printf("   the same, reversed, limit 2:\n");
    rc = orbit_str_scan(d->kv, NULL, &so, print_entry, &n);
    if (rc)
        return orbit__cli_fail(rc, "demo: reverse scan");
    if (n != 2) {
        fprintf(stderr, "orbit: demo: the limited scan saw %d keys\n", n);
        return CLI_FAIL;
    }
    printf("\n");
    return CLI_OK;
}

/* The counter's value in a record: decimal text. */
static long long parse_counter(const uint8_t *p, size_t n)
{
    char num[32];
    if (n >= sizeof num)
        n = sizeof num - 1;
    memcpy(num, p, n);
    num[n] = '\0';
    return strtoll(num, NULL, 10);
}

/* The counter's record inside a transaction: decode, and keep the meta so
 * the new record keeps its creation time. */
static int read_counter(demo *d, orbit_txn *t, const orbit_buf *key,
                        long long *value, orbit_record_meta *meta)
{
    int rc = orbit_txn_get(t, key->data, key->len, &d->a);
    if (rc == ORBIT_NOTFOUND) {
        memset(meta, 0, sizeof *meta);
        *value = 0;
        return ORBIT_OK;
    }
    if (rc)
        return rc;
    const uint8_t *p;
    size_t n;
    rc = orbit_record_decode(d->a.data, d->a.len, key->data, key->len, meta,
                             &d->b, &p, &n);
    if (rc)
        return rc;
    *value = parse_counter(p, n);
    return ORBIT_OK;
}

static int write_counter(demo *d, orbit_txn *t, const orbit_buf *key,
                         long long value, const orbit_record_meta *old)
{
    char num[32];
    int n = snprintf(num, sizeof num, "%lld", value);
    orbit_record_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.model = ORBIT_MODEL_KV;
    meta.created_ms = old->created_ms;
    d->b.len = 0;
    int rc = orbit_record_encode(&d->b, key->data, key->len, &meta, NULL,
                                 (const uint8_t *)num, (size_t)n);
    if (rc)
        return rc;
    return orbit_txn_put(t, key->data, key->len, d->b.data, d->b.len);
}

/*
 * The attempt's commit (or write) returned ORBIT_EUNCERTAIN: it may or may
 * not have been applied, and it may still apply later. Never retry it.
 * Read the counter back: if it holds what the attempt wrote, the commit
 * was applied; otherwise the outcome stays unknown and the demo stops.
 */
static int uncertain_commit(demo *d, int attempt, const char *where,
                            long long wrote, long long *result)
{
    char detail[256];
    snprintf(detail, sizeof detail, "%s", orbit_last_error_detail());
    printf("   attempt %d: OUTCOME UNKNOWN at %s (%s: %s%s%s): the "
           "transaction may or may not have been applied; it is not "
           "retried\n",
           attempt, where, orbit_err_name(ORBIT_EUNCERTAIN),
           orbit_strerror(ORBIT_EUNCERTAIN), detail[0] ? "; " : "", detail);
    int rc = orbit_str_get(d->kv, NULL, (const uint8_t *)COUNTER,
                           strlen(COUNTER), &d->a);
    if (rc == ORBIT_OK && parse_counter(d->a.data, d->a.len) == wrote) {
        printf("   read back: " COUNTER " = %lld, so the commit was "
               "applied\n", wrote);
        *result = wrote;
        return CLI_OK;
    }
    if (rc < 0)
        return orbit__cli_fail(rc, "demo: read back after an uncertain "
                               "commit");
    fprintf(stderr, "orbit: demo: transaction %s: outcome unknown (%s), "
                    "and " COUNTER " does not show it; stopping rather "
                    "than risk applying it twice\n", where,
            orbit_err_name(ORBIT_EUNCERTAIN));
    return CLI_UNCERTAIN;
}

/*
 * Increment the counter in a transaction. When `interfere` is set, a plain
 * write changes the counter between the first attempt's read and write:
 * the store must report a conflict (at the write or at commit), and the
 * retry then starts from the new value.
 */
static int increment(demo *d, int interfere, long long *result)
{
    orbit_buf key = ORBIT_BUF_INIT;
    int rc = orbit_key_kv(&key, ORBIT_KEYSPACE_DEFAULT, COUNTER, strlen(COUNTER));
    if (rc) {
        orbit_buf_release(&key);
        return orbit__cli_fail(rc, "demo: encode key");
    }
    int st = CLI_OK, conflicts = 0;
    for (int attempt = 1;; attempt++) {
        orbit_txn *t = NULL;
        orbit_record_meta meta;
        long long v = 0;
        const char *where = "begin";
        rc = orbit_kv_txn_begin(d->kv, NULL, &t);
        if (!rc) {
            where = "read";
            rc = read_counter(d, t, &key, &v, &meta);
        }
        if (!rc)
            printf("   attempt %d: read %s = %lld\n", attempt, COUNTER, v);
        if (!rc && interfere && attempt == 1) {
            char num[32];
            int n = snprintf(num, sizeof num, "%lld", v + 100);
            printf("   meanwhile, a plain write outside the transaction "
                   "sets it to %s\n", num);
            if ((st = put_str(d, COUNTER, num, (size_t)n))) {
                orbit_txn_rollback(t);
                break;
            }
        }
        if (!rc) {
            where = "write";
            rc = write_counter(d, t, &key, v + 1, &meta);
        }
        if (!rc) {
            where = "commit";
            rc = orbit_txn_commit(t);
            t = NULL;
        }
        if (t)
            orbit_txn_rollback(t);
        if (!rc) {
            printf("   attempt %d: wrote %lld, committed\n", attempt, v + 1);
            *result = v + 1;
            break;
        }
        if (rc == ORBIT_EUNCERTAIN) {
            st = uncertain_commit(d, attempt, where, v + 1, result);
            break;
        }
        if (!orbit_err_retryable(rc) || attempt == 5) {
            st = orbit__cli_fail(rc, "demo: transaction %s", where);
            break;
        }
        conflicts++;
        printf("   attempt %d: %s at %s (%s), rolled back; retrying\n",
               attempt, orbit_strerror(rc), where, orbit_err_name(rc));
    }
    if (st == CLI_OK && interfere && conflicts == 0) {
        fprintf(stderr, "orbit: demo: the interfering write was not "
                        "detected as a conflict\n");
        st = CLI_FAIL;
    }
    orbit_buf_release(&key);
    return st;
}

static int step_txn(demo *d, const orbit_capabilities *caps)
{
    long long v1 = 0, v2 = 0;
    int st;
    if (!caps->supports_transactions) {
        printf("4-5. transactions: skipped, %s has none\n\n", caps->name);
        return CLI_OK;
    }
    printf("4. a transaction: read-modify-write of " COUNTER "\n");
    if ((st = increment(d, 0, &v1)))
        return st;
    printf("\n5. a transaction that meets a concurrent write, and is "
           "retried\n");
    if ((st = increment(d, 1, &v2)))
        return st;
    char num[32];
    int n = snprintf(num, sizeof num, "%lld", v2);
    if ((st = expect(d, NULL, COUNTER, num, (size_t)n)))
        return st;
    printf("   " COUNTER " is now %lld: the retry saw the other write, none "
           "was lost\n\n", v2);
    return CLI_OK;
}

static int step_snapshot(demo *d, const orbit_capabilities *caps)
{
    static const char before[] = "hello, orbit";
    static const char after[] = "hello again";
    if (!caps->supports_snapshots) {
        printf("6. snapshots: skipped, %s has none\n\n", caps->name);
        return CLI_OK;
    }
    printf("6. a snapshot read\n");
    orbit_snapshot *snap = NULL;
    int rc = orbit_kv_snapshot(d->kv, &snap);
    if (rc)
        return orbit__cli_fail(rc, "demo: snapshot");
    printf("   snapshot taken; then " GREETING " is overwritten with \"%s\"\n",
           after);
    int st = put_str(d, GREETING, after, sizeof after - 1);
    orbit_read_opts ro = {snap};
    if (!st)
        st = expect(d, &ro, GREETING, before, sizeof before - 1);
    if (!st)
        show("   read at the snapshot: ", d->a.data, d->a.len);
    if (!st)
        st = expect(d, NULL, GREETING, after, sizeof after - 1);
    if (!st) {
        show("; latest: ", d->a.data, d->a.len);
        printf("\n\n");
    }
    orbit_snapshot_release(snap);
    if (!st)
        st = put_str(d, GREETING, before, sizeof before - 1);
    return st;
}

static void print_caps(const orbit_capabilities *c)
{
    static const char *const types[] = {"?", "in-memory", "embedded",
                                        "distributed"};
    const char *type = (unsigned)c->type < 4 ? types[c->type] : "?";
    printf("store: %s (%s, %s)\n", c->name ? c->name : "?", type,
           c->durable ? "durable" : "not durable");
    printf("  transactions: %s; distributed: %s; multi-region: %s; "
           "snapshots: %s; native async: %s\n",
           c->supports_transactions ? "yes" : "no",
           c->supports_distributed_transactions ? "yes" : "no",
           c->supports_multi_region ? "yes" : "no",
           c->supports_snapshots ? "yes" : "no", c->native_async ? "yes" : "no");
    printf("  isolation:%s%s%s\n",
           c->isolation_levels & ORBIT_ISO_BIT(ORBIT_ISO_SNAPSHOT)
               ? " snapshot" : "",
           c->isolation_levels & ORBIT_ISO_BIT(ORBIT_ISO_READ_COMMITTED)
               ? " read-committed" : "",
           c->isolation_levels & ORBIT_ISO_BIT(ORBIT_ISO_SERIALIZABLE)
               ? " serializable" : "");
    printf("  limits: batch ops %zu, key %zu, value %zu bytes (0: none)\n\n",
           c->max_batch_ops, c->max_key_size, c->max_value_size);
}

static void print_stats(orbit_kv *kv)
{
    orbit_kv_stats s;
    orbit_kv_stats_get(kv, &s);
    printf("7. this session's statistics\n");
    printf("   gets %" PRIu64 ", puts %" PRIu64 ", deletes %" PRIu64
           ", batches %" PRIu64 ", scans %" PRIu64 "\n",
           s.gets, s.puts, s.deletes, s.batches, s.scans);
    printf("   txns begun %" PRIu64 ", committed %" PRIu64
           ", rolled back %" PRIu64 ", conflicted %" PRIu64 "\n",
           s.txns_begun, s.txns_committed, s.txns_rolled_back,
           s.txns_conflicted);
    printf("   keys read %" PRIu64 ", written %" PRIu64 "; bytes read %" PRIu64
           ", written %" PRIu64 "; errors %" PRIu64 "\n",
           s.keys_read, s.keys_written, s.bytes_read, s.bytes_written,
           s.errors);
}

int orbit__cmd_demo(const cli_ctx *ctx, int argc, char **argv)
{
    if (orbit__cli_wants_help(argc, argv, 1))
        return orbit__cli_help(orbit__usage_demo);
    if (argc != 1)
        return orbit__cli_usage(orbit__usage_demo, "demo takes no arguments");
    demo d = {NULL, ORBIT_BUF_INIT, ORBIT_BUF_INIT};
    int st = orbit__cli_open(ctx, CLI_OPEN_WRITE, &d.kv);
    if (st)
        return st;
    orbit_capabilities caps;
    orbit_kv_capabilities(d.kv, &caps);
    printf("Orbit demo on %s\n", ctx->store);
    print_caps(&caps);

    st = step_plain(&d);
    if (!st)
        st = step_batch(&d);
    if (!st)
        st = step_scan(&d);
    if (!st)
        st = step_txn(&d, &caps);
    if (!st)
        st = step_snapshot(&d, &caps);
    if (!st) {
        print_stats(d.kv);
        printf("\nDone. Look around with: orbit --store '%s' kv scan "
               "--prefix demo:\n", ctx->store);
    }
    orbit_kv_close(d.kv);
    orbit_buf_release(&d.a);
    orbit_buf_release(&d.b);
    return st;
}
