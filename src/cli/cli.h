/*
 * Private to the `orbit` command (src/cli): the subcommand table's entry
 * type and the helpers every subcommand shares.
 *
 * Each subcommand family lives in its own file (cmd_kv.c, cmd_demo.c,
 * cmd_bench.c, cmd_store.c) and is reached through the table in main.c,
 * like git's builtin/. Subcommands return the process exit status, one
 * rule for all of them:
 *   0  success
 *   1  not found (`kv get` of an absent key), and nothing else
 *   2  bad usage: the command line, or a store URI that is malformed,
 *      names no built-in provider or has an unknown or bad option
 *   3  the store or an operation failed (cannot be opened, missing,
 *      unreachable, corrupt, a value over the limit, an I/O error)
 *   4  a write's outcome is unknown (ORBIT_EUNCERTAIN): it may or may not
 *      have been applied; check before repeating it
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
#define CLI_NOTFOUND 1
#define CLI_USAGE 2
#define CLI_FAIL 3
#define CLI_UNCERTAIN 4

/* What the global options decided, shared with every subcommand. */
typedef struct cli_ctx {
    const char *store; /* the store URI: --store, $ORBIT_STORE or default */
    int read_only;     /* --read-only */
} cli_ctx;

/* How a subcommand opens the store. */
#define CLI_OPEN_WRITE 0 /* may create a missing store */
#define CLI_OPEN_READ 1  /* only reads: never creates one */

typedef struct cli_cmd {
    const char *name;
    /* argv[0] is the subcommand's name; argv[argc] is NULL. */
    int (*run)(const cli_ctx *ctx, int argc, char **argv);
    const char *usage; /* its lines of the usage text */
} cli_cmd;

int orbit__cmd_kv(const cli_ctx *ctx, int argc, char **argv);
int orbit__cmd_demo(const cli_ctx *ctx, int argc, char **argv);
int orbit__cmd_bench(const cli_ctx *ctx, int argc, char **argv);
int orbit__cmd_store(const cli_ctx *ctx, int argc, char **argv);

extern const char orbit__usage_kv[];
extern const char orbit__usage_demo[];
extern const char orbit__usage_bench[];
extern const char orbit__usage_store[];

/* The exit status for an Orbit error code rc < 0 (the rule above). */
int orbit__cli_status(int rc);

/* Print "orbit: <what>: <strerror(rc)> (<detail>)" on stderr (the detail
 * part only when there is one); returns orbit__cli_status(rc). */
int orbit__cli_fail(int rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print "orbit: <message>" and the given usage text on stderr; returns
 * CLI_USAGE. */
int orbit__cli_usage(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Whether argv[from..argc) asks for help ("-h" or "--help" before any
 * "--"). */
int orbit__cli_wants_help(int argc, char **argv, int from);

/* Print usage text on stdout (help that was asked for); returns CLI_OK. */
int orbit__cli_help(const char *usage);

/* Open ctx->store (mode CLI_OPEN_READ or CLI_OPEN_WRITE); on failure print
 * the error and return its exit status. A read never creates a store: on a
 * rocksdb: store the option create=0 is added (read_only=1 with
 * --read-only, which only rocksdb: stores have). */
int orbit__cli_open(const cli_ctx *ctx, int mode, orbit_kv **kv);

/* uri with "name=value" added as an option ("?" or "&" as the URI needs);
 * NULL if out of memory. The caller frees it. */
char *orbit__cli_uri_with(const char *uri, const char *opt);

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

/* Append p[0..n) to out in the escaped form: printable ASCII as itself,
 * '\' as "\\", valid UTF-8 of printable characters as itself, every
 * other byte (controls, invalid or overlong UTF-8, C1 controls, bidi and
 * other invisible format characters) as \xhh. orbit_unescape reads it
 * back to the same bytes. 0 or ORBIT_ENOMEM. */
int orbit__cli_escape(orbit_buf *out, const void *p, size_t n);

/* Write p[0..n) escaped (orbit__cli_escape) to f. 0, or -1 on failure. */
int orbit__cli_put_escaped(FILE *f, const void *p, size_t n);

#endif
