/*
 * `orbit kv`: the plain key-value namespace (orbit/strings.h) from the
 * shell: put, get, del and scan.
 *
 * Arguments are unescaped (orbit_unescape). A value may instead come from
 * stdin (`kv put KEY -`) or a file (`--value-file F`): those bytes are taken
 * as they are, read into one buffer up to the value limit (64 MiB
 * inclusive, or the store's max_value_size if smaller), and one byte more
 * is ETOOBIG naming the limit, before anything is written.
 *
 * Output is escaped (orbit__cli_escape: printable ASCII and printable
 * UTF-8 as themselves, '\' as \\, every other byte as \xhh), whether or not
 * stdout is a terminal, so it can be pasted back as an argument: `kv get`
 * prints the value and a newline, `kv scan` prints "key<TAB>value" per
 * entry, and a tab or newline inside either is shown as \x09 / \x0a, so
 * the line structure is never ambiguous. `kv get --raw` writes the value's
 * bytes exactly, with no escaping and no newline.
 *
 * get and scan open the store for reading only, so they never create one
 * (orbit__cli_open). Keys live in the default database actor's keyspace
 * (ORBIT_KEYSPACE_DEFAULT, "kv", KEY). A put or del that fails with
 * ORBIT_EUNCERTAIN may or may not have been applied: the message says so
 * and how to find out, the exit status is 4; it is not retried.
 */
#include <errno.h>
#include <string.h>

#include "cli/cli.h"
#include "orbit/codec.h"
#include "orbit/provider.h"
#include "orbit/strings.h"

const char orbit__usage_kv[] =
    "  orbit kv put KEY VALUE         store VALUE under KEY (creates the store if it is missing)\n"
    "  orbit kv put KEY -             the value is stdin, byte for byte\n"
    "  orbit kv put KEY --value-file F  the value is file F, byte for byte\n"
    "                                 (up to the store's value limit: 64 MiB on rocksdb: and memory:)\n"
    "  orbit kv get [--raw|--escape] KEY\n"
    "                                 print the value, escaped, and a newline (default --escape,\n"
    "                                 also when stdout is not a terminal); --raw writes its bytes\n"
    "                                 exactly, no newline; exit 1 if KEY is absent\n"
    "  orbit kv del KEY               delete KEY (deleting an absent key succeeds)\n"
    "  orbit kv scan [--prefix P] [--start A] [--end B] [--limit N] [--reverse]\n"
    "                                 one \"key<TAB>value\" line per key, A <= key < B, in key\n"
    "                                 order (default: every key, no limit, ascending)\n"
    "  get and scan never create a store: a missing one is an error (exit 3).\n"
    "  A KEY starting with '-' goes after \"--\": orbit kv get -- -k\n";

/* The value limit the data models give their users: 64 MiB of the user's
 * bytes, inclusive (docs/ARCHITECTURE.md, Limits; src/model/strings.c).
 * A store's max_value_size counts the stored record, envelope included, so
 * reading stops at the smaller of the two. */
#define CLI_VALUE_MAX ((size_t)64 << 20)

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

/* The parsed command line of one verb: flags, options and positionals. */
typedef struct kv_args {
    const char *pos[2];
    int npos;
    int raw;                /* get --raw */
    const char *value_file; /* put --value-file */
} kv_args;

/* Parse argv[2..]: options before "--", positionals anywhere (a lone "-"
 * is a positional: put's stdin). `flags` lists the verb's options. 0, or
 * CLI_USAGE after a message. */
static int parse_verb(int argc, char **argv, const char *verb, int max_pos, kv_args *a)
{
    memset(a, 0, sizeof *a);
    int opts = 1;
    for (int i = 2; i < argc;) {
        const char *arg = argv[i];
        if (opts && strcmp(arg, "--") == 0) {
            opts = 0;
            i++;
            continue;
        }
        if (opts && arg[0] == '-' && arg[1] == '-') {
            const char *v;
            int r = 0;
            if (strcmp(verb, "get") == 0 && strcmp(arg, "--raw") == 0) {
                a->raw = 1;
                i++;
                continue;
            }
            if (strcmp(verb, "get") == 0 && strcmp(arg, "--escape") == 0) {
                a->raw = 0;
                i++;
                continue;
            }
            if (strcmp(verb, "put") == 0 && (r = orbit__cli_opt(argc, argv, &i, "value-file", &v)) != 0) {
                if (r < 0)
                    return orbit__cli_usage(orbit__usage_kv, "kv put: --value-file needs a file name");
                a->value_file = v;
                continue;
            }
            return orbit__cli_usage(orbit__usage_kv, "kv %s: unknown option %s", verb, arg);
        }
        if (a->npos == max_pos)
            return orbit__cli_usage(orbit__usage_kv, "kv %s: unexpected argument %s", verb, arg);
        a->pos[a->npos++] = arg;
        i++;
    }
    return CLI_OK;
}

/* Read all of f into out, at most limit bytes (0: no limit); what names
 * the source for messages. 0 or an Orbit code with the detail set. */
static int read_value(FILE *f, const char *what, size_t limit, orbit_buf *out)
{
    out->len = 0;
    for (;;) {
        if (orbit_buf_reserve(out, 1 << 16))
            return ORBIT_ENOMEM;
        size_t room = out->cap - out->len;
        /* never read more than one byte past the limit */
        if (limit && limit < SIZE_MAX && room > limit + 1 - out->len)
            room = limit + 1 - out->len;
        size_t got = fread(out->data + out->len, 1, room, f);
        out->len += got;
        if (limit && out->len > limit)
            return orbit_error_set(ORBIT_ETOOBIG,
                                   "the value from %s is over the limit of %zu bytes (%s); "
                                   "nothing was written",
                                   what, limit, limit == CLI_VALUE_MAX ? "64 MiB" : "this store's");
        if (got < room) {
            if (ferror(f))
                return orbit_error_set(ORBIT_EIO, "reading %s: %s", what, strerror(errno));
            if (feof(f))
                return ORBIT_OK;
        }
    }
}

static int kv_put(const cli_ctx *ctx, int argc, char **argv)
{
    kv_args a;
    int st = parse_verb(argc, argv, "put", 2, &a);
    if (st)
        return st;
    int from_stdin = !a.value_file && a.npos == 2 && strcmp(a.pos[1], "-") == 0;
    if (a.npos != (a.value_file ? 1 : 2))
        return orbit__cli_usage(orbit__usage_kv, a.value_file ? "kv put KEY --value-file F takes one KEY"
                                                              : "kv put takes KEY and VALUE (or - for stdin)");
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    orbit_kv *kv = NULL;
    FILE *in = NULL;
    st = orbit__cli_arg(&key, a.pos[0], "KEY", orbit__usage_kv);
    if (!st && a.value_file) {
        in = fopen(a.value_file, "rb");
        if (!in) {
            fprintf(stderr, "orbit: kv put: cannot open %s: %s\n", a.value_file, strerror(errno));
            st = CLI_FAIL;
        }
    } else if (!st && !from_stdin) {
        st = orbit__cli_arg(&val, a.pos[1], "VALUE", orbit__usage_kv);
    }
    if (!st)
        st = orbit__cli_open(ctx, CLI_OPEN_WRITE, &kv);
    if (!st && (in || from_stdin)) {
        orbit_capabilities caps;
        orbit_kv_capabilities(kv, &caps);
        size_t limit = caps.max_value_size && caps.max_value_size < CLI_VALUE_MAX ? caps.max_value_size
                                                                                : CLI_VALUE_MAX;
        orbit_error_clear();
        int rc = read_value(in ? in : stdin, in ? a.value_file : "stdin", limit, &val);
        if (rc)
            st = orbit__cli_fail(rc, "kv put %s", a.pos[0]);
    }
    if (!st) {
        orbit_error_clear();
        int rc = orbit_str_put(kv, NULL, key.data, key.len, val.data, val.len);
        if (rc) {
            st = orbit__cli_fail(rc, "kv put %s", a.pos[0]);
            uncertain_hint(rc, "put", a.pos[0]);
        }
    }
    if (in)
        fclose(in);
    orbit_kv_close(kv);
    orbit_buf_release(&key);
    orbit_buf_release(&val);
    return st;
}

static int kv_get(const cli_ctx *ctx, int argc, char **argv)
{
    kv_args a;
    int st = parse_verb(argc, argv, "get", 1, &a);
    if (st)
        return st;
    if (a.npos != 1)
        return orbit__cli_usage(orbit__usage_kv, "kv get takes one KEY");
    orbit_buf key = ORBIT_BUF_INIT, val = ORBIT_BUF_INIT;
    orbit_kv *kv = NULL;
    st = orbit__cli_arg(&key, a.pos[0], "KEY", orbit__usage_kv);
    if (!st)
        st = orbit__cli_open(ctx, CLI_OPEN_READ, &kv);
    if (!st) {
        orbit_error_clear();
        int rc = orbit_str_get(kv, NULL, key.data, key.len, &val);
        if (rc == ORBIT_NOTFOUND) {
            fprintf(stderr, "orbit: kv get %s: not found\n", a.pos[0]);
            st = CLI_NOTFOUND;
        } else if (rc) {
            st = orbit__cli_fail(rc, "kv get %s", a.pos[0]);
        } else if (a.raw) {
            if (val.len && fwrite(val.data, 1, val.len, stdout) != val.len)
                st = CLI_FAIL;
        } else if (orbit__cli_put_escaped(stdout, val.data, val.len) || putchar('\n') == EOF) {
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
    kv_args a;
    int st = parse_verb(argc, argv, "del", 1, &a);
    if (st)
        return st;
    if (a.npos != 1)
        return orbit__cli_usage(orbit__usage_kv, "kv del takes one KEY");
    orbit_buf key = ORBIT_BUF_INIT;
    orbit_kv *kv = NULL;
    st = orbit__cli_arg(&key, a.pos[0], "KEY", orbit__usage_kv);
    if (!st)
        st = orbit__cli_open(ctx, CLI_OPEN_WRITE, &kv);
    if (!st) {
        orbit_error_clear();
        int rc = orbit_str_del(kv, key.data, key.len);
        if (rc) {
            st = orbit__cli_fail(rc, "kv del %s", a.pos[0]);
            uncertain_hint(rc, "del", a.pos[0]);
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
    int rc = orbit__cli_escape(&o->line, key, klen);
    if (!rc)
        rc = orbit_buf_append(&o->line, "\t", 1);
    if (!rc)
        rc = orbit__cli_escape(&o->line, val, vlen);
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
        st = orbit__cli_open(ctx, CLI_OPEN_READ, &kv);
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
    if (orbit__cli_wants_help(argc, argv, 1))
        return orbit__cli_help(orbit__usage_kv);
    if (argc < 2)
        return orbit__cli_usage(orbit__usage_kv, "kv needs a subcommand");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(argv[1], verbs[i].name) == 0)
            return verbs[i].run(ctx, argc, argv);
    return orbit__cli_usage(orbit__usage_kv, "unknown kv subcommand %s",
                            argv[1]);
}
