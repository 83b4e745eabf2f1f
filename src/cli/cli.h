/*
 * Private to the `orbit` command (src/cli): the subcommand table's entry
 * type and the helpers every subcommand shares.
 *
 * Each subcommand family lives in its own file (cmd_kv.c, cmd_demo.c,
 * cmd_bench.c) and is reached through the table in main.c, like git's
 * builtin/. Subcommands return the process exit status: 0 success,
 * 1 a failed operation (message already printed), 2 a usage error.
 * The CLI sits on the public API only (the headers in include/orbit).
 */
#ifndef ORBIT_CLI_H
#define ORBIT_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "orbit/buf.h"
#include "orbit/kv.h"

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

/* What the global options decided, shared with every subcommand. */
typedef struct cli_ctx {
    const char *store; /* the store URI: --store, $ORBIT_STORE or default */
} cli_ctx;

typedef struct cli_cmd {
    const char *name;
    /* argv[0] is the subcommand's name; argv[argc] is NULL. */
    int (*run)(const cli_ctx *ctx, int argc, char **argv);
    const char *usage; /* its lines of the usage text */
} cli_cmd;

int orbit__cmd_kv(const cli_ctx *ctx, int argc, char **argv);
int orbit__cmd_demo(const cli_ctx *ctx, int argc, char **argv);
int orbit__cmd_bench(const cli_ctx *ctx, int argc, char **argv);

extern const char orbit__usage_kv[];
extern const char orbit__usage_demo[];
extern const char orbit__usage_bench[];

/* Print "orbit: <what>: <strerror(rc)> (<detail>)" on stderr (the detail
 * part only when there is one); returns CLI_FAIL. */
int orbit__cli_fail(int rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print "orbit: <message>" and the given usage text on stderr; returns
 * CLI_USAGE. */
int orbit__cli_usage(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Open ctx->store; on failure print the error and return CLI_FAIL. */
int orbit__cli_open(const cli_ctx *ctx, orbit_kv **kv);

/* Unescape an argument (orbit_unescape) into out (contents replaced).
 * 0, or CLI_USAGE after printing which argument was malformed. */
int orbit__cli_arg(orbit_buf *out, const char *arg, const char *what,
                   const char *usage);

/* Parse a non-negative decimal integer. 0, or -1 if malformed. */
int orbit__cli_parse_u64(const char *s, uint64_t *out);

/* If argv[*i] is the option `name` ("--name VALUE" or "--name=VALUE"),
 * set *value, advance *i past it and return 1; if it is the option but the
 * value is missing return -1; otherwise 0. */
int orbit__cli_opt(int argc, char **argv, int *i, const char *name,
                   const char **value);

/* Write p[0..n) escaped (orbit_escape) to f. 0, or -1 on failure. */
int orbit__cli_put_escaped(FILE *f, const void *p, size_t n);

#endif
