/*
 * Helpers shared by the `orbit` subcommands: error and usage messages in
 * one format, opening the chosen store, option and argument parsing, and
 * escaped output.
 *
 * Every message goes to stderr as "orbit: ..."; data goes to stdout. An
 * argument that names bytes (a key, a value, a bound) is unescaped with
 * orbit_unescape, and bytes printed back are escaped with orbit_escape, so
 * any byte string survives a round trip through the shell.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "orbit/codec.h"
#include "orbit/provider.h"

int orbit__cli_fail(int rc, const char *fmt, ...)
{
    /* Copy the detail first: formatting must not race a later Orbit call. */
    char detail[512];
    snprintf(detail, sizeof detail, "%s", orbit_last_error_detail());
    va_list ap;
    fputs("orbit: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s", orbit_strerror(rc));
    if (detail[0])
        fprintf(stderr, " (%s)", detail);
    fputc('\n', stderr);
    return CLI_FAIL;
}

int orbit__cli_usage(const char *usage, const char *fmt, ...)
{
    va_list ap;
    fputs("orbit: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (usage)
        fprintf(stderr, "usage:\n%s", usage);
    return CLI_USAGE;
}

int orbit__cli_open(const cli_ctx *ctx, orbit_kv **kv)
{
    orbit_error_clear();
    int rc = orbit_kv_open(ctx->store, kv);
    if (rc)
        return orbit__cli_fail(rc, "cannot open store %s", ctx->store);
    return CLI_OK;
}

int orbit__cli_arg(orbit_buf *out, const char *arg, const char *what,
                   const char *usage)
{
    out->len = 0;
    if (orbit_unescape(out, arg, strlen(arg)) != ORBIT_OK)
        return orbit__cli_usage(usage, "bad %s \"%s\": %s", what, arg,
                                orbit_last_error_detail());
    return CLI_OK;
}

int orbit__cli_parse_u64(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int orbit__cli_opt(int argc, char **argv, int *i, const char *name,
                   const char **value)
{
    const char *a = argv[*i];
    if (a[0] != '-' || a[1] != '-')
        return 0;
    size_t n = strlen(name);
    if (strncmp(a + 2, name, n) != 0)
        return 0;
    if (a[2 + n] == '=') {
        *value = a + 3 + n;
        (*i)++;
        return 1;
    }
    if (a[2 + n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[*i + 1];
    *i += 2;
    return 1;
}

int orbit__cli_put_escaped(FILE *f, const void *p, size_t n)
{
    orbit_buf b = ORBIT_BUF_INIT;
    int rc = orbit_escape(&b, p, n);
    if (rc == ORBIT_OK && b.len && fwrite(b.data, 1, b.len, f) != b.len)
        rc = -1;
    orbit_buf_release(&b);
    return rc ? -1 : 0;
}
