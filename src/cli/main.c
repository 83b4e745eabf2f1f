/*
 * The `orbit` command: global options, then one subcommand family looked up
 * in a table (like git's builtin/), each implemented in its own cmd_*.c.
 *
 * Exit status, one rule for every command (cli.h): 0 success; 1 not found
 * (`kv get` of an absent key); 2 bad usage, including a malformed store
 * URI, an unknown provider or URI option; 3 the store or the operation
 * failed; 4 a write's outcome is unknown. --help and -h work on every
 * command and subcommand (usage on stdout, exit 0). The store is --store
 * URI, else $ORBIT_STORE, else rocksdb:./data (memory: in a build without
 * the rocksdb provider, ORBIT_WITH_ROCKSDB=OFF). The CLI is the top layer:
 * it uses only the public headers and decides what to do with every error
 * the library returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "orbit/provider.h"

/* CMake passes the project's version (CMakeLists.txt, project VERSION);
 * tests/cli checks that `orbit --version` prints that one. */
#ifndef ORBIT_VERSION
#define ORBIT_VERSION "0.2.0"
#endif

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
    "  orbit [--store URI] [--read-only] COMMAND [ARGS]\n"
    "  orbit help [COMMAND] | --help | -h\n"
    "  orbit --version       the version and the providers built in\n";

static const char usage_help[] = "  orbit help [COMMAND]  this text, or one command's\n";

static const cli_cmd commands[] = {
    {"kv", orbit__cmd_kv, orbit__usage_kv},
    {"store", orbit__cmd_store, orbit__usage_store},
    {"demo", orbit__cmd_demo, orbit__usage_demo},
    {"bench", orbit__cmd_bench, orbit__usage_bench},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void print_usage(FILE *f)
{
    fprintf(f, "usage:\n%s\ncommands:\n", usage_global);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fputs(commands[i].usage, f);
    fputs(usage_help, f);
    fputs("\n"
          "--store URI   the store (default: $ORBIT_STORE, else " DEFAULT_STORE ")\n"
          "--read-only   open a rocksdb: store read-only (read_only=1): writes fail\n"
          "URIs: memory:" URI_ROCKSDB URI_ETCD "\n"
          "KEY, VALUE, P, A and B accept the escapes \\\\ \\0 \\n \\t \\r "
          "\\xHH;\n"
          "output shows printable ASCII and UTF-8 as is, '\\' as \\\\ and every "
          "other byte as \\xhh.\n"
          "Exit status: 0 success, 1 not found, 2 bad usage (also a bad store URI),\n"
          "3 the store or the operation failed, 4 a write's outcome is unknown.\n",
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

/* The providers this orbit can open: those registered in the liborbit it
 * loaded. */
static int print_version(void)
{
    static const char *const names[] = {"memory", "rocksdb", "etcd"};
    printf("orbit %s\nproviders:", ORBIT_VERSION);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (orbit_provider_find(names[i]))
            printf(" %s", names[i]);
    printf("\n");
    return CLI_OK;
}

static int help_for(const char *name)
{
    for (size_t c = 0; c < NCOMMANDS; c++)
        if (strcmp(name, commands[c].name) == 0)
            return orbit__cli_help(commands[c].usage);
    return usage_error("help: no command named %s", name);
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
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0)
            return print_version();
        if (strcmp(argv[i], "--read-only") == 0) {
            ctx.read_only = 1;
            i++;
            continue;
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
        if (i + 1 < argc)
            return help_for(argv[i + 1]);
        print_usage(stdout);
        return CLI_OK;
    }

    for (size_t c = 0; c < NCOMMANDS; c++) {
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
