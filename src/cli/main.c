/*
 * The `orbit` command: global options, then one subcommand family looked up
 * in a table (like git's builtin/), each implemented in its own cmd_*.c.
 *
 * Exit status: 0 success; 1 an operation failed (including a missing key
 * for `kv get`); 2 bad usage. The store is --store URI, else $ORBIT_STORE,
 * else rocksdb:./data (memory: in a build without the rocksdb provider,
 * ORBIT_WITH_ROCKSDB=OFF). The CLI is the top layer: it uses only the public
 * headers and decides what to do with every error the library returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#ifdef ORBIT_HAVE_ROCKSDB
#define DEFAULT_STORE "rocksdb:./data"
#define URI_ROCKSDB "   rocksdb:PATH[?option=value&...]"
#else
#define DEFAULT_STORE "memory:"
#define URI_ROCKSDB ""
#endif
#ifdef ORBIT_HAVE_ETCD
#define URI_ETCD "   etcd://HOST:PORT[,HOST:PORT...][?option=value&...]"
#else
#define URI_ETCD ""
#endif

static const char usage_global[] =
    "  orbit [--store URI] COMMAND [ARGS]\n"
    "  orbit help | --help\n";

static const char usage_help[] = "  orbit help            this text\n";

static const cli_cmd commands[] = {
    {"kv", orbit__cmd_kv, orbit__usage_kv},
    {"demo", orbit__cmd_demo, orbit__usage_demo},
    {"bench", orbit__cmd_bench, orbit__usage_bench},
};

static void print_usage(FILE *f)
{
    fprintf(f, "usage:\n%s\ncommands:\n", usage_global);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fputs(commands[i].usage, f);
    fputs(usage_help, f);
    fputs("\n"
          "The store is --store URI, else $ORBIT_STORE, else " DEFAULT_STORE
          ".\n"
          "URIs: memory:" URI_ROCKSDB URI_ETCD "\n"
          "KEY, VALUE, P, A and B accept the escapes \\\\ \\0 \\n \\t \\r "
          "\\xHH;\n"
          "output shows every non-printable byte as \\xHH and '\\' as "
          "\\\\.\n"
          "Exit status: 0 success, 1 failure (or key not found), 2 bad "
          "usage.\n",
          f);
}

static int usage_error(const char *fmt, const char *arg)
    __attribute__((format(printf, 1, 0)));

static int usage_error(const char *fmt, const char *arg)
{
    fputs("orbit: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    print_usage(stderr);
    return CLI_USAGE;
}

int main(int argc, char **argv)
{
    cli_ctx ctx = {0};
    int i = 1;

    while (i < argc && argv[i][0] == '-') {
        const char *v;
        int r = orbit__cli_opt(argc, argv, &i, "store", &v);
        if (r < 0)
            return usage_error("%s needs a URI", argv[i]);
        if (r > 0) {
            ctx.store = v;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_usage(stdout);
            return CLI_OK;
        }
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        return usage_error("unknown option %s", argv[i]);
    }
    if (!ctx.store) {
        const char *env = getenv("ORBIT_STORE");
        ctx.store = env && *env ? env : DEFAULT_STORE;
    }
    if (i >= argc)
        return usage_error("%s", "no command given");
    if (strcmp(argv[i], "help") == 0) {
        print_usage(stdout);
        return CLI_OK;
    }

    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        if (strcmp(argv[i], commands[c].name) != 0)
            continue;
        int rc = commands[c].run(&ctx, argc - i, argv + i);
        /* Data written to a closed pipe or a full disk is a failure too. */
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "orbit: cannot write output\n");
            if (rc == CLI_OK)
                rc = CLI_FAIL;
        }
        return rc;
    }
    return usage_error("unknown command %s", argv[i]);
}
