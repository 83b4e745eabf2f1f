/*
 * The HTTP API's request-line parsing and routing (http_route.c): no I/O,
 * no store, no libevent, so it is fuzzed alone (fuzz/fuzz_http.c).
 *
 * srv_http_parse splits a request target's raw path into percent-decoded
 * segments and its query string into decoded name/value pairs ('+' is a
 * space in the query); srv_http_route matches the method and segments
 * against the API's route table and names the handler.
 *
 * Ownership: a srv_http_target owns every byte it points to (one arena,
 * freed by srv_http_target_release); a segment or value may hold NUL
 * bytes (from %00) and is also NUL-terminated at p[n].
 */
#ifndef ORBIT_SERVER_HTTP_ROUTE_H
#define ORBIT_SERVER_HTTP_ROUTE_H

#include <stddef.h>

#define SRV_HTTP_MAX_SEGS 16
#define SRV_HTTP_MAX_PARAMS 32

typedef struct srv_http_str {
    char *p;
    size_t n;
} srv_http_str;

typedef struct srv_http_target {
    srv_http_str seg[SRV_HTTP_MAX_SEGS];
    size_t nseg;
    /* the raw path after "/v1/kv/", decoded as one string (a key may hold
     * '/'); set only when the path starts with it */
    srv_http_str rest;
    int has_rest;
    srv_http_str pname[SRV_HTTP_MAX_PARAMS], pval[SRV_HTTP_MAX_PARAMS];
    size_t nparam;
    char *arena;
} srv_http_target;

/* Methods (a mask for the route table). */
enum {
    SRV_M_GET = 1,
    SRV_M_HEAD = 2,
    SRV_M_PUT = 4,
    SRV_M_POST = 8,
    SRV_M_DELETE = 16,
    SRV_M_PATCH = 32,
    SRV_M_OTHER = 64,
};

/*
 * Parse path (the raw path, starting with '/', plen bytes) and query (raw,
 * may be NULL). 0; -1 for a malformed target (a path not starting with
 * '/', a bad %-escape, too many segments or parameters, an empty segment
 * other than a trailing slash), with *why set to a static text; -2 out of
 * memory. On failure t holds nothing to release.
 */
int srv_http_parse(const char *path, size_t plen, const char *query, size_t qlen,
                   srv_http_target *t, const char **why);
void srv_http_target_release(srv_http_target *t);

/* The value of query parameter name (its first occurrence), or NULL. */
const srv_http_str *srv_http_param(const srv_http_target *t, const char *name);

/* Handlers named by the route table (http.c dispatches on them). */
typedef enum srv_http_handler {
    H_NONE = 0,
    H_HEALTH,
    H_METRICS,
    H_PROVIDERS,
    H_KV_SCAN,
    H_KV_ONE,
    H_TABLES,
    H_TABLE,
    H_TABLE_INDEXES,
    H_TABLE_ROWS,
    H_TABLE_ROW,
    H_TABLE_QUERY,
    H_DOCS,
    H_DOC,
    H_VEC_COLL,
    H_VEC_ITEM,
    H_VEC_SEARCH,
    H_GRAPH,
    H_GRAPH_NODE,
    H_GRAPH_NEIGHBORS,
    H_GRAPH_EDGES,
    H_GRAPH_PATH,
    H_SERIES,
    H_SERIES_POINTS,
    H_SERIES_LAST,
    H_TXN,
} srv_http_handler;

typedef struct srv_http_route_def {
    const char *pattern; /* "/v1/tables/{}/rows/{...}": {} one segment, {...} one or more */
    unsigned methods;    /* SRV_M_* mask */
    srv_http_handler handler;
    const char *name;    /* the metrics label, e.g. "/v1/kv/{key}" */
} srv_http_route_def;

/*
 * Route: 0 and *route set; 1 when the path matches a route whose methods do
 * not include method (*route is that route, for the Allow header); -1 no
 * route matches.
 */
int srv_http_route(const srv_http_target *t, unsigned method, const srv_http_route_def **route);

/* The route table, ended by an entry with pattern NULL. */
extern const srv_http_route_def srv_http_routes[];

#endif
