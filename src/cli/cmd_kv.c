/*
 * `orbit kv`: the plain key-value namespace (orbit/strings.h) from the
 * shell: put, get, del and scan.
 *
 * Arguments are unescaped (orbit_unescape) and output escaped
 * (orbit_escape), so keys and values with ':', spaces, tabs, 0x00 or 0xFF
 * round-trip: `kv get` prints the value and a newline, `kv scan` prints
 * "key<TAB>value" per entry, and a tab or newline inside either is shown as
 * \x09 / \x0a, so the line structure is never ambiguous.
 *
 * Keys live in the default database actor's keyspace
 * (ORBIT_KEYSPACE_DEFAULT, "kv", KEY). A put or del that fails with
 * ORBIT_EUNCERTAIN may or may not have been applied: the message says so
 * and how to find out; it is not retried.
 */
#include <string.h>

#include "cli/cli.h"
#include "orbit/codec.h"
#include "orbit/provider.h"
#include "orbit/strings.h"

const char orbit__usage_kv[] =
    "  orbit kv put KEY VALUE\n"
    "  orbit kv get KEY      print the value; exit 1 if KEY is absent\n"
    "  orbit kv del KEY\n"
    "  orbit kv scan [--prefix P] [--start A] [--end B] [--limit N] "
    "[--reverse]\n"
    "                        one \"key<TAB>value\" line per key, A <= key < "
    "B\n";

/* After a failed write: an uncertain outcome gets a second line saying
 * what it means for this command. */
static void uncertain_hint(int rc, const char *verb, const char *key)
{
    if (rc == ORBIT_EUNCERTAIN)
        fprintf(stderr, "orbit: kv %s %s: the %s may or may not have been "
                        "applied; check with `orbit kv get %s` before "
                        "repeating it\n", verb, key,
                verb[0] == 'p' ? "put" : "delete", key);
}

/* Positional arguments after the verb; "--" ends options, so a key may
 * start with "--". Returns the index of the first one, or -1 (after a
 * usage message) if the count is wrong. */
static int positionals(int argc, char **argv, int want, const char *verb)
{
    int i = 2;
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    else if (i < argc && argv[i][0] == '-' && argv[i][1] == '-') {
        orbit__cli_usage(orbit__usage_kv, "kv %s: unknown option %s", verb,
                         argv[i]);
        return -1;
    }
    if (argc - i != want) {
        orbit__cli_usage(orbit__usage_kv, "kv %s takes %d argument%s", verb,
                         want, want == 1 ? "" : "s");
        return -1;
    }
    return i;
}

static int kv_put(const cli_ctx *ctx, int argc, char **argv)
{
    int i = positionals(argc, argv, 2, "put");
    if (i < 0)
        return CLI_USAGE;
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    orbit_kv *kv = NULL;
    int st = orbit__cli_arg(&key, argv[i], "KEY", orbit__usage_kv);
    if (!st)
        st = orbit__cli_arg(&val, argv[i + 1], "VALUE", orbit__usage_kv);
    if (!st)
        st = orbit__cli_open(ctx, &kv);
    if (!st) {
        orbit_error_clear();
        int rc = orbit_str_put(kv, NULL, key.data, key.len, val.data, val.len);
        if (rc) {
            st = orbit__cli_fail(rc, "kv put %s", argv[i]);
            uncertain_hint(rc, "put", argv[i]);
        }
    }
    orbit_kv_close(kv);
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    return st;
}

static int kv_get(const cli_ctx *ctx, int argc, char **argv)
{
    int i = positionals(argc, argv, 1, "get");
    if (i < 0)
        return CLI_USAGE;
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    orbit_kv *kv = NULL;
    int st = orbit__cli_arg(&key, argv[i], "KEY", orbit__usage_kv);
    if (!st)
        st = orbit__cli_open(ctx, &kv);
    if (!st) {
        orbit_error_clear();
        int rc = orbit_str_get(kv, NULL, key.data, key.len, &val);
        if (rc == ORBIT_NOTFOUND) {
            fprintf(stderr, "orbit: kv get %s: not found\n", argv[i]);
            st = CLI_FAIL;
        } else if (rc) {
            st = orbit__cli_fail(rc, "kv get %s", argv[i]);
        } else if (orbit__cli_put_escaped(stdout, val.data, val.len) ||
                   putchar('\n') == EOF) {
            st = CLI_FAIL;
        }
    }
    orbit_kv_close(kv);
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    return st;
}

static int kv_del(const cli_ctx *ctx, int argc, char **argv)
{
    int i = positionals(argc, argv, 1, "del");
    if (i < 0)
        return CLI_USAGE;
    orbit_buf key = ORBIT_BUF_INIT;
    orbit_kv *kv = NULL;
    int st = orbit__cli_arg(&key, argv[i], "KEY", orbit__usage_kv);
    if (!st)
        st = orbit__cli_open(ctx, &kv);
    if (!st) {
        orbit_error_clear();
        int rc = orbit_str_del(kv, key.data, key.len);
        if (rc) {
            st = orbit__cli_fail(rc, "kv del %s", argv[i]);
            uncertain_hint(rc, "del", argv[i]);
        }
    }
    orbit_kv_close(kv);
    orbit_buf_release(&key);
    return st;
}

typedef struct scan_out {
    orbit_buf line; /* reused for every entry */
    int write_failed;
} scan_out;

/* The stop value for a failed write: positive, so it cannot be mistaken
 * for an Orbit error code or ORBIT_NOTFOUND. */
#define SCAN_WRITE_FAILED 2

static int scan_print(void *arg, const uint8_t *key, size_t klen,
                      const uint8_t *val, size_t vlen)
{
    scan_out *o = arg;
    o->line.len = 0;
    int rc = orbit_escape(&o->line, key, klen);
    if (!rc)
        rc = orbit_buf_append(&o->line, "\t", 1);
    if (!rc)
        rc = orbit_escape(&o->line, val, vlen);
    if (!rc)
        rc = orbit_buf_append(&o->line, "\n", 1);
    if (rc)
        return rc;
    if (fwrite(o->line.data, 1, o->line.len, stdout) != o->line.len) {
        o->write_failed = 1;
        return SCAN_WRITE_FAILED;
    }
    return 0;
}

static int kv_scan(const cli_ctx *ctx, int argc, char **argv)
{
    orbit_buf prefix = ORBIT_BUF_INIT, start = ORBIT_BUF_INIT,
              end = ORBIT_BUF_INIT;
    orbit_scan_opts so;
    memset(&so, 0, sizeof so);
    orbit_kv *kv = NULL;
    scan_out out = {ORBIT_BUF_INIT, 0};
    int st = CLI_OK;

    for (int i = 2; i < argc && st == CLI_OK;) {
        const char *v;
        int r;
        if ((r = orbit__cli_opt(argc, argv, &i, "prefix", &v)) > 0) {
            st = orbit__cli_arg(&prefix, v, "prefix", orbit__usage_kv);
            so.prefix = prefix.data ? prefix.data : (const uint8_t *)"";
            so.prefix_len = prefix.len;
        } else if (!r && (r = orbit__cli_opt(argc, argv, &i, "start", &v)) > 0) {
            st = orbit__cli_arg(&start, v, "start", orbit__usage_kv);
            so.start = start.data ? start.data : (const uint8_t *)"";
            so.start_len = start.len;
        } else if (!r && (r = orbit__cli_opt(argc, argv, &i, "end", &v)) > 0) {
            st = orbit__cli_arg(&end, v, "end", orbit__usage_kv);
            so.end = end.data ? end.data : (const uint8_t *)"";
            so.end_len = end.len;
        } else if (!r && (r = orbit__cli_opt(argc, argv, &i, "limit", &v)) > 0) {
            uint64_t n;
            if (orbit__cli_parse_u64(v, &n) || n > SIZE_MAX)
                st = orbit__cli_usage(orbit__usage_kv,
                                      "kv scan: --limit needs a number, got "
                                      "\"%s\"",
                                      v);
            so.limit = (size_t)n;
        } else if (!r && strcmp(argv[i], "--reverse") == 0) {
            so.reverse = 1;
            i++;
        } else if (r < 0) {
            st = orbit__cli_usage(orbit__usage_kv, "kv scan: %s needs a value",
                                  argv[i]);
        } else {
            st = orbit__cli_usage(orbit__usage_kv,
                                  "kv scan: unexpected argument %s", argv[i]);
        }
    }
    if (!st)
        st = orbit__cli_open(ctx, &kv);
    if (!st) {
        orbit_error_clear();
        int rc = orbit_str_scan(kv, NULL, &so, scan_print, &out);
        if (out.write_failed)
            st = CLI_FAIL;
        else if (rc)
            st = orbit__cli_fail(rc, "kv scan");
    }
    orbit_kv_close(kv);
    orbit_buf_release(&out.line);
    orbit_buf_release(&prefix);
    orbit_buf_release(&start);
    orbit_buf_release(&end);
    return st;
}

static const struct {
    const char *name;
    int (*run)(const cli_ctx *, int, char **);
} verbs[] = {
    {"put", kv_put},
    {"get", kv_get},
    {"del", kv_del},
    {"scan", kv_scan},
};

int orbit__cmd_kv(const cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 2)
        return orbit__cli_usage(orbit__usage_kv, "kv needs a subcommand");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(argv[1], verbs[i].name) == 0)
            return verbs[i].run(ctx, argc, argv);
    return orbit__cli_usage(orbit__usage_kv, "unknown kv subcommand %s",
                            argv[1]);
}
