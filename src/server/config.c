/*
 * orbitd's settings: one table of options, read from three sources in
 * increasing precedence: a config file (--config FILE or $ORBIT_CONFIG;
 * Redis-style lines "name value", '#' comments), the environment
 * (ORBIT_<NAME> with '-' as '_', e.g. ORBIT_REQUIREPASS, ORBIT_PORT), and
 * the command line (--name value). So flags win over the environment,
 * which wins over the file. Sizes take k/m/g suffixes (kb/mb/gb alike,
 * powers of 1024); cache-size is in MiB without a suffix.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/server.h"

enum { T_STR, T_INT, T_SIZE, T_BOOL, T_LEVEL, T_CACHE };

typedef struct opt {
    const char *name;
    int type;
    size_t off;
    const char *help;
} opt;

#define O(f) offsetof(srv_config, f)

static const opt OPTS[] = {
    {"store", T_STR, O(store), "store URI (default " SRV_DEFAULT_STORE ")"},
    {"bind", T_STR, O(bind), "address to listen on (default 127.0.0.1)"},
    {"port", T_INT, O(port), "RESP port (default 6379)"},
    {"http-port", T_INT, O(http_port), "HTTP API port (default 8080; 0: no HTTP)"},
    {"http-max-body", T_SIZE, O(http_max_body), "largest HTTP request body (default 64mb)"},
    {"http-max-header", T_SIZE, O(http_max_header), "largest HTTP request line plus headers (default 64kb)"},
    {"http-timeout", T_INT, O(http_timeout), "close HTTP connections idle this many seconds (default 60)"},
    {"http-threads", T_INT, O(http_threads), "HTTP threads (default 2)"},
    {"requirepass", T_STR, O(requirepass), "password clients must AUTH with"},
    {"protected-mode", T_BOOL, O(protected_mode),
     "yes: refuse non-loopback binds without a password (default yes)"},
    {"threads", T_INT, O(threads), "worker threads (default 2)"},
    {"cache-size", T_CACHE, O(cache_mb), "store block cache in MiB (rocksdb cache_mb)"},
    {"proto-max-bulk-len", T_SIZE, O(max_bulk_len), "largest bulk string (default 512mb)"},
    {"client-query-buffer-limit", T_SIZE, O(max_query_len),
     "largest unparsed input per client (default 1gb)"},
    {"maxclients", T_INT, O(max_clients), "most connected clients (default 10000)"},
    {"timeout", T_INT, O(idle_timeout), "close clients idle this many seconds (0: never)"},
    {"loglevel", T_LEVEL, O(log_level), "debug, info, warn or error (default info)"},
    {"active-expire-hz", T_INT, O(expire_hz), "active expiry cycles per second (default 10)"},
};

#define NOPTS (sizeof OPTS / sizeof OPTS[0])

static const opt *find_opt(const char *name, size_t n)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(OPTS[i].name) == n && !strncasecmp(OPTS[i].name, name, n))
            return &OPTS[i];
    return NULL;
}

static int parse_size(const char *v, unsigned long long *out, unsigned long long unit_default)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || errno || v[0] == '-')
        return -1;
    unsigned long long mul = unit_default;
    if (*end) {
        char u = (char)tolower((unsigned char)*end);
        if (u == 'k')
            mul = 1024ULL;
        else if (u == 'm')
            mul = 1024ULL * 1024;
        else if (u == 'g')
            mul = 1024ULL * 1024 * 1024;
        else if (u == 'b' && !end[1])
            mul = 1;
        else
            return -1;
        end++;
        if (*end && !((*end == 'b' || *end == 'B') && !end[1]))
            return -1;
    }
    if (mul && n > ~0ULL / mul)
        return -1;
    *out = n * mul;
    return 0;
}

static int set_opt(srv_config *c, const opt *o, const char *v, const char *src)
{
    char *base = (char *)c + o->off;
    switch (o->type) {
    case T_STR: {
        char **p = (char **)base;
        char *d = strdup(v);
        if (!d)
            return -1;
        free(*p);
        *p = d;
        return 0;
    }
    case T_INT: {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (end == v || *end || errno || n < 0 || n > 1000000000) {
            fprintf(stderr, "orbitd: %s: %s: expected a non-negative integer, got '%s'\n", src,
                    o->name, v);
            return -1;
        }
        *(int *)base = (int)n;
        return 0;
    }
    case T_SIZE: {
        unsigned long long n;
        if (parse_size(v, &n, 1) || n == 0) {
            fprintf(stderr, "orbitd: %s: %s: expected a size such as 512mb, got '%s'\n", src,
                    o->name, v);
            return -1;
        }
        *(size_t *)base = (size_t)n;
        return 0;
    }
    case T_CACHE: {
        unsigned long long n;
        int has_unit = v[0] && isalpha((unsigned char)v[strlen(v) - 1]);
        if (parse_size(v, &n, 1024ULL * 1024)) {
            fprintf(stderr, "orbitd: %s: %s: expected MiB or a size such as 256mb, got '%s'\n",
                    src, o->name, v);
            return -1;
        }
        (void)has_unit;
        uint64_t mb = n / (1024ULL * 1024);
        *(uint64_t *)base = mb ? mb : 1;
        return 0;
    }
    case T_BOOL:
        if (!strcasecmp(v, "yes") || !strcmp(v, "1") || !strcasecmp(v, "on")) {
            *(int *)base = 1;
            return 0;
        }
        if (!strcasecmp(v, "no") || !strcmp(v, "0") || !strcasecmp(v, "off")) {
            *(int *)base = 0;
            return 0;
        }
        fprintf(stderr, "orbitd: %s: %s: expected yes or no, got '%s'\n", src, o->name, v);
        return -1;
    case T_LEVEL: {
        int l = srv_log_parse_level(v);
        if (l < 0) {
            fprintf(stderr, "orbitd: %s: %s: expected debug, info, warn or error, got '%s'\n",
                    src, o->name, v);
            return -1;
        }
        *(int *)base = l;
        return 0;
    }
    }
    return -1;
}

static int load_file(srv_config *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "orbitd: cannot read config file %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        if (!*s || *s == '#')
            continue;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
            *--e = 0;
        char *sp = s;
        while (*sp && !isspace((unsigned char)*sp))
            sp++;
        char *val = sp;
        while (isspace((unsigned char)*val))
            val++;
        const opt *o = find_opt(s, (size_t)(sp - s));
        char src[600];
        snprintf(src, sizeof src, "%s:%d", path, lineno);
        if (!o) {
            fprintf(stderr, "orbitd: %s: unknown setting '%.*s'\n", src, (int)(sp - s), s);
            rc = -1;
            break;
        }
        /* a value may be quoted */
        size_t vl = strlen(val);
        if (vl >= 2 && ((val[0] == '"' && val[vl - 1] == '"') ||
                        (val[0] == '\'' && val[vl - 1] == '\''))) {
            val[vl - 1] = 0;
            val++;
        }
        rc = set_opt(c, o, val, src);
    }
    fclose(f);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: orbitd [--config FILE] [--name value ...]\n\n"
               "Settings (file: \"name value\"; environment: ORBIT_NAME; flags win over the\n"
               "environment, which wins over the file):\n");
    for (size_t i = 0; i < NOPTS; i++)
        fprintf(f, "  --%-26s %s\n", OPTS[i].name, OPTS[i].help);
    fprintf(f, "  --%-26s %s\n", "config FILE", "read settings from FILE (also $ORBIT_CONFIG)");
}

int srv_config_load(srv_config *c, int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    c->store = strdup(SRV_DEFAULT_STORE);
    c->bind = strdup("127.0.0.1");
    c->port = 6379;
    c->http_port = 8080;
    c->http_max_body = (size_t)64 * 1024 * 1024;
    c->http_max_header = (size_t)64 * 1024;
    c->http_timeout = 60;
    c->http_threads = 2;
    c->protected_mode = 1;
    c->threads = 2;
    c->max_bulk_len = (size_t)512 * 1024 * 1024;
    c->max_query_len = (size_t)1024 * 1024 * 1024;
    c->max_clients = 10000;
    c->log_level = LOG_INFO;
    c->expire_hz = 10;
    if (!c->store || !c->bind)
        return 2;

    const char *file = getenv("ORBIT_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-v")) {
            printf("orbitd 0.2.0\n");
            return 1;
        }
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "orbitd: --config needs a file\n");
                return 2;
            }
            file = argv[++i];
        }
    }
    if (file && file[0] && load_file(c, file))
        return 2;

    for (size_t i = 0; i < NOPTS; i++) {
        char env[64] = "ORBIT_";
        size_t k = strlen(env);
        for (const char *p = OPTS[i].name; *p && k + 1 < sizeof env; p++)
            env[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        env[k] = 0;
        const char *v = getenv(env);
        if (v && v[0] && set_opt(c, &OPTS[i], v, env))
            return 2;
    }

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--config")) {
            i++;
            continue;
        }
        if (strncmp(a, "--", 2)) {
            fprintf(stderr, "orbitd: unexpected argument '%s' (see --help)\n", a);
            return 2;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const opt *o = find_opt(name, nl);
        if (!o) {
            fprintf(stderr, "orbitd: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else {
            if (i + 1 >= argc) {
                fprintf(stderr, "orbitd: %s needs a value\n", a);
                return 2;
            }
            v = argv[++i];
        }
        if (set_opt(c, o, v, a))
            return 2;
    }
    if (c->threads < 1 || c->threads > 256) {
        fprintf(stderr, "orbitd: threads must be between 1 and 256\n");
        return 2;
    }
    if (c->port < 1 || c->port > 65535 || c->http_port > 65535) {
        fprintf(stderr, "orbitd: ports must be between 1 and 65535\n");
        return 2;
    }
    if (c->max_clients < 1) {
        fprintf(stderr, "orbitd: maxclients must be at least 1\n");
        return 2;
    }
    if (c->expire_hz < 1 || c->expire_hz > 500) {
        fprintf(stderr, "orbitd: active-expire-hz must be between 1 and 500\n");
        return 2;
    }
    srv_log_level = c->log_level;
    return 0;
}

void srv_config_release(srv_config *c)
{
    free(c->store);
    free(c->bind);
    free(c->requirepass);
    memset(c, 0, sizeof *c);
}

char *srv_config_store_uri(const srv_config *c)
{
    size_t n = strlen(c->store) + 64;
    char *u = malloc(n);
    if (!u)
        return NULL;
    if (c->cache_mb && !strncmp(c->store, "rocksdb:", 8) && !strstr(c->store, "cache_mb="))
        snprintf(u, n, "%s%scache_mb=%llu", c->store, strchr(c->store, '?') ? "&" : "?",
                 (unsigned long long)c->cache_mb);
    else
        snprintf(u, n, "%s", c->store);
    return u;
}
