/*
 * Store URIs: "scheme:body?k=v&k2=v2", the one way a store is named.
 *
 * The scheme picks the provider; the body means what the provider says (a
 * directory for rocksdb, a host list for etcd; a leading "//" is dropped);
 * options are percent-decoded. Schemes whose body is a filesystem path
 * (rocksdb) refuse the two forms that are surely mistakes, with a hint: a
 * leading "//" (rocksdb://tmp/x would be the relative path tmp/x) and a
 * leading "~" (no shell expands it after the colon, so it would create a
 * directory named "~"). Each option remembers whether a provider
 * asked for it, so orbit_uri_check_unused() can turn a misspelt option into
 * an error instead of silently ignoring it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/provider.h"

typedef struct uri_param {
    char *name;
    char *value;
    int used;
} uri_param;

struct orbit_uri {
    char *scheme;
    char *body;
    uri_param *params;
    size_t nparams;
};

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decode s[0..n) into a new string; NULL on a bad escape (*bad set)
 * or allocation failure. */
static char *decode(const char *s, size_t n, int *bad)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                *bad = 1;
                return NULL;
            }
            out[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

void orbit_uri_free(orbit_uri *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->nparams; i++) {
        free(u->params[i].name);
        free(u->params[i].value);
    }
    free(u->params);
    free(u->scheme);
    free(u->body);
    free(u);
}

static int parse_query(orbit_uri *u, const char *text, const char *q)
{
    size_t count = 1;
    for (const char *p = q; *p; p++)
        count += *p == '&';
    u->params = calloc(count, sizeof *u->params);
    if (!u->params)
        return ORBIT_ENOMEM;
    const char *p = q;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len == 0)
            return orbit_error_set(ORBIT_EBADURI, "store URI \"%s\": empty option", text);
        const char *eq = memchr(p, '=', len);
        size_t nlen = eq ? (size_t)(eq - p) : len;
        int bad = 0;
        char *name = decode(p, nlen, &bad);
        char *value = name ? (eq ? decode(eq + 1, len - nlen - 1, &bad) : strdup("")) : NULL;
        if (!name || !value) {
            free(name);
            free(value);
            if (bad)
                return orbit_error_set(ORBIT_EBADURI, "store URI \"%s\": bad %%-escape in options", text);
            return ORBIT_ENOMEM;
        }
        if (nlen == 0) {
            free(name);
            free(value);
            return orbit_error_set(ORBIT_EBADURI, "store URI \"%s\": option without a name", text);
        }
        for (size_t i = 0; i < u->nparams; i++) {
            if (strcmp(u->params[i].name, name) == 0) {
                int rc = orbit_error_set(ORBIT_EBADURI, "store URI \"%s\": option \"%s\" given twice", text, name);
                free(name);
                free(value);
                return rc;
            }
        }
        u->params[u->nparams].name = name;
        u->params[u->nparams].value = value;
        u->nparams++;
        if (!amp)
            break;
        p = amp + 1;
        if (!*p)
            return orbit_error_set(ORBIT_EBADURI, "store URI \"%s\": trailing '&'", text);
    }
    return ORBIT_OK;
}

/* Schemes whose body is a path on the local filesystem. */
static int path_scheme(const char *scheme)
{
    return strcmp(scheme, "rocksdb") == 0;
}

/* The path forms refused for a path scheme; 0 or ORBIT_EBADURI. */
static int check_path(const char *text, const char *scheme, const char *rest)
{
    if (rest[0] == '/' && rest[1] == '/') {
        const char *p = rest + 2;
        while (*p == '/')
            p++;
        return orbit_error_set(ORBIT_EBADURI,
                               "store URI \"%s\": %s: takes a path, not //: write %s:/%.*s for the "
                               "absolute path or %s:%.*s for a relative one",
                               text, scheme, scheme, (int)strcspn(p, "?"), p, scheme,
                               (int)strcspn(p, "?"), p);
    }
    if (rest[0] == '~')
        return orbit_error_set(ORBIT_EBADURI,
                               "store URI \"%s\": a path starting with '~' is not expanded here "
                               "(the shell does not expand it after ':'); write %s:$HOME%.*s or an "
                               "absolute path",
                               text, scheme, (int)strcspn(rest + 1, "?"), rest + 1);
    return ORBIT_OK;
}

int orbit_uri_parse(const char *text, orbit_uri **out)
{
    *out = NULL;
    if (!text)
        return orbit_error_set(ORBIT_EINVAL, "store URI is NULL");
    const char *colon = strchr(text, ':');
    if (!colon || colon == text)
        return orbit_error_set(ORBIT_EBADURI,
                               "store URI \"%s\": expected SCHEME:... (e.g. memory:, rocksdb:PATH)", text);
    for (const char *p = text; p < colon; p++) {
        if (!(isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.'))
            return orbit_error_set(ORBIT_EBADURI, "store URI \"%s\": bad character in scheme", text);
    }
    orbit_uri *u = calloc(1, sizeof *u);
    if (!u)
        return ORBIT_ENOMEM;
    u->scheme = strndup(text, (size_t)(colon - text));
    const char *rest = colon + 1;
    for (char *s = u->scheme; s && *s; s++)
        *s = (char)tolower((unsigned char)*s);
    if (u->scheme && path_scheme(u->scheme)) {
        int rc = check_path(text, u->scheme, rest);
        if (rc) {
            orbit_uri_free(u);
            return rc;
        }
    }
    if (rest[0] == '/' && rest[1] == '/')
        rest += 2;
    const char *q = strchr(rest, '?');
    u->body = q ? strndup(rest, (size_t)(q - rest)) : strdup(rest);
    if (!u->scheme || !u->body) {
        orbit_uri_free(u);
        return ORBIT_ENOMEM;
    }
    if (q && q[1]) {
        int rc = parse_query(u, text, q + 1);
        if (rc) {
            orbit_uri_free(u);
            return rc;
        }
    }
    *out = u;
    return ORBIT_OK;
}

const char *orbit_uri_scheme(const orbit_uri *u) { return u->scheme; }
const char *orbit_uri_body(const orbit_uri *u) { return u->body; }

const char *orbit_uri_param(orbit_uri *u, const char *name)
{
    for (size_t i = 0; i < u->nparams; i++) {
        if (strcmp(u->params[i].name, name) == 0) {
            u->params[i].used = 1;
            return u->params[i].value;
        }
    }
    return NULL;
}

int orbit_uri_param_u64(orbit_uri *u, const char *name, uint64_t dflt, uint64_t *out)
{
    const char *v = orbit_uri_param(u, name);
    if (!v) {
        *out = dflt;
        return ORBIT_OK;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-')
        return orbit_error_set(ORBIT_EINVAL, "option %s=%s: expected a non-negative integer", name, v);
    *out = x;
    return ORBIT_OK;
}

int orbit_uri_param_bool(orbit_uri *u, const char *name, int dflt, int *out)
{
    const char *v = orbit_uri_param(u, name);
    if (!v) {
        *out = dflt;
        return ORBIT_OK;
    }
    if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) {
        *out = 1;
        return ORBIT_OK;
    }
    if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) {
        *out = 0;
        return ORBIT_OK;
    }
    return orbit_error_set(ORBIT_EINVAL, "option %s=%s: expected on or off", name, v);
}

int orbit_uri_check_unused(const orbit_uri *u)
{
    for (size_t i = 0; i < u->nparams; i++) {
        if (!u->params[i].used)
            return orbit_error_set(ORBIT_EINVAL, "unknown option \"%s\" for provider %s",
                                   u->params[i].name, u->scheme);
    }
    return ORBIT_OK;
}
