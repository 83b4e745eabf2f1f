/*
 * Helpers shared by the `orbit` subcommands: error and usage messages in
 * one format, exit statuses by one rule (cli.h), help, opening the chosen
 * store (a read never creates one), option and argument parsing, and
 * escaped output.
 *
 * Every message goes to stderr as "orbit: ..."; data and help that was
 * asked for go to stdout. An argument that names bytes (a key, a value, a
 * bound) is unescaped with orbit_unescape, and bytes printed back are
 * escaped (orbit__cli_escape), so any byte string survives a round trip
 * through the shell.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "orbit/codec.h"
#include "orbit/provider.h"

int orbit__cli_status(int rc)
{
    switch (rc) {
    case ORBIT_OK: return CLI_OK;
    case ORBIT_NOTFOUND: return CLI_NOTFOUND;
    case ORBIT_EBADURI:
    case ORBIT_ENOPROVIDER: return CLI_USAGE;
    case ORBIT_EUNCERTAIN: return CLI_UNCERTAIN;
    default: return CLI_FAIL;
    }
}

static int vfail(int rc, const char *fmt, va_list ap)
{
    /* Copy the detail first: formatting must not race a later Orbit call. */
    char detail[512];
    snprintf(detail, sizeof detail, "%s", orbit_last_error_detail());
    fputs("orbit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, ": %s", orbit_strerror(rc));
    if (detail[0])
        fprintf(stderr, " (%s)", detail);
    fputc('\n', stderr);
    return orbit__cli_status(rc);
}

int orbit__cli_fail(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = vfail(rc, fmt, ap);
    va_end(ap);
    return st;
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

int orbit__cli_wants_help(int argc, char **argv, int from)
{
    for (int i = from; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

int orbit__cli_help(const char *usage)
{
    printf("usage:\n%s", usage);
    return CLI_OK;
}

char *orbit__cli_uri_with(const char *uri, const char *opt)
{
    const char *q = strchr(uri, '?');
    /* "x" -> "x?o"; "x?" -> "x?o"; "x?a=1" -> "x?a=1&o" */
    const char *sep = !q ? "?" : q[1] ? "&" : "";
    size_t n = strlen(uri) + strlen(sep) + strlen(opt) + 1;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s%s", uri, sep, opt);
    return out;
}

int orbit__cli_open(const cli_ctx *ctx, int mode, orbit_kv **kv)
{
    *kv = NULL;
    orbit_error_clear();
    orbit_uri *u = NULL;
    int rc = orbit_uri_parse(ctx->store, &u);
    if (rc)
        return orbit__cli_fail(rc, "cannot open store %s", ctx->store);
    int rocksdb = strcmp(orbit_uri_scheme(u), "rocksdb") == 0;
    const char *add = NULL;
    if (ctx->read_only) {
        if (!rocksdb) {
            fprintf(stderr, "orbit: --read-only: only rocksdb: stores have a read-only mode (the store is %s)\n",
                    ctx->store);
            orbit_uri_free(u);
            return CLI_USAGE;
        }
        if (!orbit_uri_param(u, "read_only"))
            add = "read_only=1";
    } else if (mode == CLI_OPEN_READ && rocksdb && !orbit_uri_param(u, "create")) {
        add = "create=0";
    }
    orbit_uri_free(u);
    char *uri = add ? orbit__cli_uri_with(ctx->store, add) : NULL;
    if (add && !uri)
        return orbit__cli_fail(ORBIT_ENOMEM, "cannot open store %s", ctx->store);
    orbit_error_clear();
    rc = orbit_kv_open(uri ? uri : ctx->store, kv);
    free(uri);
    if (!rc)
        return CLI_OK;
    int st = orbit__cli_fail(rc, "cannot open store %s", ctx->store);
    /* A bad option value in the URI is a usage error too. */
    if (rc == ORBIT_EINVAL)
        st = CLI_USAGE;
    if (rc == ORBIT_ENOSTORE && mode == CLI_OPEN_READ)
        fprintf(stderr, "orbit: (commands that only read never create a store: check the path, or write "
                        "to it first with `orbit kv put`)\n");
    return st;
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

/* The length of the valid UTF-8 sequence of a printable character at
 * s[0..n), or 0 if there is none (invalid, overlong, a surrogate, or an
 * invisible or control character that would hide what is stored). */
static size_t printable_utf8(const uint8_t *s, size_t n)
{
    uint32_t cp;
    size_t len;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        cp = s[0] & 0x1Fu;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        cp = s[0] & 0x0Fu;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0; /* overlong or beyond Unicode */
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0; /* surrogates are not characters */
    if (cp <= 0x9F || cp == 0xAD)
        return 0; /* C1 controls, soft hyphen */
    if ((cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F) ||
        cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB))
        return 0; /* zero-width, line/paragraph separators, bidi and other format controls */
    if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE)
        return 0; /* noncharacters */
    if (cp >= 0xE0000 && cp <= 0xE007F)
        return 0; /* tags */
    return len;
}

int orbit__cli_escape(orbit_buf *out, const void *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = p;
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        /* the longest run that prints as itself */
        for (;;) {
            if (run < n && s[run] >= 0x20 && s[run] < 0x7F && s[run] != '\\') {
                run++;
                continue;
            }
            size_t u = run < n && s[run] >= 0x80 ? printable_utf8(s + run, n - run) : 0;
            if (!u)
                break;
            run += u;
        }
        if (run > i && orbit_buf_append(out, s + i, run - i))
            return ORBIT_ENOMEM;
        i = run;
        if (i == n)
            break;
        char e[4];
        size_t el;
        if (s[i] == '\\') {
            e[0] = e[1] = '\\';
            el = 2;
        } else {
            e[0] = '\\';
            e[1] = 'x';
            e[2] = hex[s[i] >> 4];
            e[3] = hex[s[i] & 15];
            el = 4;
        }
        if (orbit_buf_append(out, e, el))
            return ORBIT_ENOMEM;
        i++;
    }
    return ORBIT_OK;
}

int orbit__cli_put_escaped(FILE *f, const void *p, size_t n)
{
    orbit_buf b = ORBIT_BUF_INIT;
    int rc = orbit__cli_escape(&b, p, n);
    if (rc == ORBIT_OK && b.len && fwrite(b.data, 1, b.len, f) != b.len)
        rc = -1;
    orbit_buf_release(&b);
    return rc ? -1 : 0;
}
