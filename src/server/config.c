/*
 * orbitd's settings: one table of options, read from three sources in
 * increasing precedence: a config file (--config FILE or $ORBIT_CONFIG;
 * Redis-style lines "name value", '#' comments), the environment
 * (ORBIT_<NAME> with '-' as '_', e.g. ORBIT_REQUIREPASS, ORBIT_PORT), and
 * the command line (--name value). So flags win over the environment,
 * which wins over the file. Sizes take k/m/g suffixes (kb/mb/gb alike,
 * powers of 1024); cache-size is in MiB without a suffix.
 *
 * Placement (config.h): providers and routes are named settings, given
 * any number of times: `provider NAME URI` / `route TYPE NAME` lines,
 * ORBIT_PROVIDERS="NAME=URI;..." / ORBIT_ROUTES="TYPE=NAME;...", and
 * --provider NAME=URI / --route TYPE=NAME flags. Each name is one setting:
 * a higher source replaces the value a lower one gave it, and a name given
 * twice by one source is an error. `store URI` is the provider "default".
 * With none named, the provider "default" is SRV_DEFAULT_STORE. The
 * scalar ones (default-provider, placement, catalog, models-actor) are in
 * the option table like every other setting.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/config.h"
#include "server/server.h"

/* T_PSTR: a string field of g_place; T_STORE: the store URI (also the
 * provider "default"). */
enum { T_STR, T_INT, T_SIZE, T_BOOL, T_LEVEL, T_CACHE, T_STORE, T_PSTR, T_TIKV };

typedef struct opt {
    const char *name;
    int type;
    size_t off;
    const char *help;
} opt;

srv_place_cfg g_place;

/* The source being read: 0 file, 1 environment, 2 flags. */
static int g_level;

#define O(f) offsetof(srv_config, f)
#define P(f) offsetof(srv_place_cfg, f)

static const opt OPTS[] = {
    {"store", T_STORE, O(store),
     "store URI: the provider \"default\" (default " SRV_DEFAULT_STORE ")"},
    {"tikv-endpoints", T_TIKV, 0,
     "PD endpoints HOST:PORT[,...]: the provider \"tikv\" (tikv://ENDPOINTS; the seed's ORBIT_TIKV_ENDPOINTS)"},
    {"default-provider", T_PSTR, P(default_provider),
     "the provider holding the catalog and unrouted actors (default: the first)"},
    {"placement", T_PSTR, P(placement), "by_actor_type (default) or default"},
    {"catalog", T_PSTR, P(catalog),
     "durable or volatile: may a non-durable default provider hold the catalog"},
    {"models-actor", T_PSTR, P(models_actor),
     "TYPE/ID of the actor owning the model objects (default orbit/default)"},
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

/* ---- named settings: providers and routes ----------------------------- */

static int bad_name(const char *s, size_t n)
{
    if (!n)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (isspace((unsigned char)s[i]) || s[i] == '=' || s[i] == ';' || !s[i])
            return 1;
    return 0;
}

/* Add or replace `what` NAME -> value from the current source (g_level). */
static int named_add(srv_named **list, size_t *n, const char *what, const char *name, size_t nl,
                     const char *value, const char *origin, int from_store)
{
    if (bad_name(name, nl)) {
        fprintf(stderr, "orbitd: %s: %s name '%.*s': expected one word (no spaces, '=' or ';')\n",
                origin, what, (int)nl, name);
        return -1;
    }
    if (!value[0]) {
        fprintf(stderr, "orbitd: %s: %s %.*s: no %s given\n", origin, what, (int)nl, name,
                strcmp(what, "provider") ? "provider name" : "URI");
        return -1;
    }
    srv_named *e = NULL;
    for (size_t i = 0; i < *n; i++)
        if (strlen((*list)[i].name) == nl && !strncmp((*list)[i].name, name, nl))
            e = &(*list)[i];
    if (e && e->level == g_level && !(from_store && e->from_store)) {
        fprintf(stderr, "orbitd: %s: %s %.*s given twice (first at %s)\n", origin, what, (int)nl,
                name, e->origin);
        return -1;
    }
    char *v = strdup(value);
    if (!v)
        return -1;
    if (!e) {
        srv_named *nw = realloc(*list, (*n + 1) * sizeof *nw);
        if (!nw) {
            free(v);
            return -1;
        }
        *list = nw;
        e = &nw[(*n)++];
        memset(e, 0, sizeof *e);
        e->name = strndup(name, nl);
        if (!e->name) {
            (*n)--;
            free(v);
            return -1;
        }
    }
    free(e->value);
    e->value = v;
    e->level = g_level;
    e->from_store = from_store;
    snprintf(e->origin, sizeof e->origin, "%s", origin);
    return 0;
}

/* "NAME REST" (a file line) or "NAME=REST" (an environment item, a flag):
 * the name, then the rest with surrounding blanks trimmed. */
static int named_item(int route, const char *item, int sep_eq, const char *origin)
{
    const char *what = route ? "route" : "provider";
    const char *s = item;
    while (isspace((unsigned char)*s))
        s++;
    const char *e = s;
    if (sep_eq)
        while (*e && *e != '=')
            e++;
    else
        while (*e && !isspace((unsigned char)*e))
            e++;
    if (sep_eq && *e != '=') {
        fprintf(stderr, "orbitd: %s: expected %s, got '%s'\n", origin,
                route ? "ACTOR_TYPE=PROVIDER" : "NAME=URI", item);
        return -1;
    }
    size_t nl = (size_t)(e - s);
    while (nl && isspace((unsigned char)s[nl - 1]))
        nl--;
    const char *v = *e ? e + 1 : e;
    while (isspace((unsigned char)*v))
        v++;
    char val[4096];
    size_t vl = strlen(v);
    while (vl && isspace((unsigned char)v[vl - 1]))
        vl--;
    if (vl >= sizeof val) {
        fprintf(stderr, "orbitd: %s: %s value too long\n", origin, what);
        return -1;
    }
    memcpy(val, v, vl);
    val[vl] = 0;
    if (route && bad_name(val, vl) && vl) {
        fprintf(stderr, "orbitd: %s: route %.*s: provider name '%s': expected one word\n", origin,
                (int)nl, s, val);
        return -1;
    }
    return route ? named_add(&g_place.routes, &g_place.nroutes, what, s, nl, val, origin, 0)
                 : named_add(&g_place.providers, &g_place.nproviders, what, s, nl, val, origin,
                             0);
}

/* ORBIT_PROVIDERS / ORBIT_ROUTES: items separated by ';' (or newlines). */
static int named_env(int route, const char *env)
{
    const char *v = getenv(env);
    if (!v || !v[0])
        return 0;
    char *copy = strdup(v);
    if (!copy)
        return -1;
    int rc = 0;
    char *save = NULL;
    for (char *it = strtok_r(copy, ";\n", &save); it && !rc; it = strtok_r(NULL, ";\n", &save)) {
        const char *t = it;
        while (isspace((unsigned char)*t))
            t++;
        if (*t)
            rc = named_item(route, it, 1, env);
    }
    free(copy);
    return rc;
}

static void named_free(srv_named *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(l[i].name);
        free(l[i].value);
    }
    free(l);
}

static srv_named *named_find(srv_named *l, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(l[i].name, name))
            return &l[i];
    return NULL;
}

static void list_providers(char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = 0;
    for (size_t i = 0; i < g_place.nproviders && k + 1 < cap; i++) {
        int w = snprintf(buf + k, cap - k, "%s%s", i ? ", " : "", g_place.providers[i].name);
        if (w < 0)
            break;
        k += (size_t)w;
    }
}

/* The checks that need every source read. 0 or -1 after printing. */
static int place_validate(void)
{
    if (!g_place.nproviders) {
        int lvl = g_level;
        g_level = -1;
        int rc = named_add(&g_place.providers, &g_place.nproviders, "provider", "default", 7,
                           SRV_DEFAULT_STORE, "the default store", 1);
        g_level = lvl;
        if (rc)
            return -1;
    }
    char names[512];
    list_providers(names, sizeof names);
    if (g_place.default_provider &&
        !named_find(g_place.providers, g_place.nproviders, g_place.default_provider)) {
        fprintf(stderr, "orbitd: default-provider %s: no provider is named %s (providers: %s)\n",
                g_place.default_provider, g_place.default_provider, names);
        return -1;
    }
    for (size_t i = 0; i < g_place.nroutes; i++) {
        srv_named *r = &g_place.routes[i];
        if (!named_find(g_place.providers, g_place.nproviders, r->value)) {
            fprintf(stderr,
                    "orbitd: %s: route %s -> %s: no provider is named %s (providers: %s)\n",
                    r->origin, r->name, r->value, r->value, names);
            return -1;
        }
    }
    const char *pl = g_place.placement ? g_place.placement : "by_actor_type";
    if (!strcmp(pl, "default")) {
        if (g_place.nroutes) {
            fprintf(stderr, "orbitd: placement default ignores routes, but %zu are set (%s: "
                            "route %s): use placement by_actor_type, or drop the routes\n",
                    g_place.nroutes, g_place.routes[0].origin, g_place.routes[0].name);
            return -1;
        }
    } else if (!strcmp(pl, "by_data_pattern") || !strcmp(pl, "custom")) {
        fprintf(stderr, "orbitd: placement %s: not available in orbitd (it resolves its actors "
                        "without a context or callback); use by_actor_type or default\n",
                pl);
        return -1;
    } else if (strcmp(pl, "by_actor_type")) {
        fprintf(stderr, "orbitd: placement: expected by_actor_type or default, got '%s'\n", pl);
        return -1;
    }
    if (g_place.catalog && strcmp(g_place.catalog, "durable") &&
        strcmp(g_place.catalog, "volatile")) {
        fprintf(stderr, "orbitd: catalog: expected durable or volatile, got '%s'\n",
                g_place.catalog);
        return -1;
    }
    const char *ma = g_place.models_actor ? g_place.models_actor : "orbit/default";
    const char *slash = strchr(ma, '/');
    if (!slash || slash == ma || !slash[1] || strchr(slash + 1, '/') || bad_name(ma, strlen(ma))) {
        fprintf(stderr, "orbitd: models-actor: expected TYPE/ID (one word each), got '%s'\n", ma);
        return -1;
    }
    free(g_place.models_type);
    free(g_place.models_id);
    g_place.models_type = strndup(ma, (size_t)(slash - ma));
    g_place.models_id = strdup(slash + 1);
    if (!g_place.models_type || !g_place.models_id)
        return -1;
    if (!strcmp(g_place.models_type, "orbit") && strcmp(g_place.models_id, "default")) {
        fprintf(stderr, "orbitd: models-actor %s: the actor type 'orbit' is reserved (only "
                        "orbit/default, the Redis database's actor, may be used)\n",
                ma);
        return -1;
    }
    return 0;
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
    char *base = (o->type == T_PSTR ? (char *)&g_place : (char *)c) + o->off;
    switch (o->type) {
    case T_TIKV: {
        /* a shorthand: provider tikv = tikv://v */
        if (!v[0] || strstr(v, "://")) {
            fprintf(stderr, "orbitd: %s: tikv-endpoints: expected HOST:PORT[,HOST:PORT...], got '%s'\n",
                    src, v);
            return -1;
        }
        size_t n = strlen(v) + sizeof "tikv://";
        char *uri = malloc(n);
        if (!uri)
            return -1;
        snprintf(uri, n, "tikv://%s", v);
        int rc = named_add(&g_place.providers, &g_place.nproviders, "provider", "tikv", 4, uri, src,
                           0);
        free(uri);
        return rc ? -1 : 0;
    }
    case T_STORE:
        if (!v[0]) {
            fprintf(stderr, "orbitd: %s: store: no URI given\n", src);
            return -1;
        }
        if (named_add(&g_place.providers, &g_place.nproviders, "provider", "default", 7, v, src,
                      1))
            return -1;
        /* c->store keeps the URI too */
        /* fall through */
    case T_PSTR:
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
        char src[600];
        snprintf(src, sizeof src, "%s:%d", path, lineno);
        size_t kl = (size_t)(sp - s);
        if ((kl == 8 && !strncasecmp(s, "provider", 8)) || (kl == 5 && !strncasecmp(s, "route", 5))) {
            rc = named_item(kl == 5, val, 0, src);
            continue;
        }
        const opt *o = find_opt(s, kl);
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
    fprintf(f, "  --%-26s %s\n", "provider NAME=URI",
            "open URI as provider NAME (repeatable; file: provider NAME URI;");
    fprintf(f, "  %-28s %s\n", "", "environment: ORBIT_PROVIDERS=\"NAME=URI;...\")");
    fprintf(f, "  --%-26s %s\n", "route TYPE=NAME",
            "place actors of TYPE on provider NAME (repeatable; file: route TYPE NAME;");
    fprintf(f, "  %-28s %s\n", "", "environment: ORBIT_ROUTES=\"TYPE=NAME;...\")");
    fprintf(f, "  --%-26s %s\n", "config FILE", "read settings from FILE (also $ORBIT_CONFIG)");
}

int srv_config_load(srv_config *c, int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    memset(&g_place, 0, sizeof g_place);
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
    g_level = 0;
    if (file && file[0] && load_file(c, file))
        return 2;

    g_level = 1;
    if (named_env(0, "ORBIT_PROVIDERS") || named_env(1, "ORBIT_ROUTES"))
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

    g_level = 2;
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
        if ((nl == 8 && !strncmp(name, "provider", 8)) || (nl == 5 && !strncmp(name, "route", 5))) {
            const char *v = eq ? eq + 1 : NULL;
            if (!v) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "orbitd: %s needs a value\n", a);
                    return 2;
                }
                v = argv[++i];
            }
            if (named_item(nl == 5, v, 1, nl == 5 ? "--route" : "--provider"))
                return 2;
            continue;
        }
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
    if (place_validate())
        return 2;
    srv_log_level = c->log_level;
    return 0;
}

void srv_config_release(srv_config *c)
{
    free(c->store);
    free(c->bind);
    free(c->requirepass);
    memset(c, 0, sizeof *c);
    named_free(g_place.providers, g_place.nproviders);
    named_free(g_place.routes, g_place.nroutes);
    free(g_place.default_provider);
    free(g_place.placement);
    free(g_place.catalog);
    free(g_place.models_actor);
    free(g_place.models_type);
    free(g_place.models_id);
    memset(&g_place, 0, sizeof g_place);
}

char *srv_config_provider_uri(const struct srv_config *c, const char *uri)
{
    size_t n = strlen(uri) + 64;
    char *u = malloc(n);
    if (!u)
        return NULL;
    if (c->cache_mb && !strncmp(uri, "rocksdb:", 8) && !strstr(uri, "cache_mb="))
        snprintf(u, n, "%s%scache_mb=%llu", uri, strchr(uri, '?') ? "&" : "?",
                 (unsigned long long)c->cache_mb);
    else
        snprintf(u, n, "%s", uri);
    return u;
}

char *srv_config_store_uri(const srv_config *c)
{
    return srv_config_provider_uri(c, c->store);
}
