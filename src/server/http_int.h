/*
 * What the HTTP API's files share (http.c, http_kv.c, http_rel.c,
 * http_doc.c, http_vec.c, http_graph.c, http_ts.c, http_txn.c): the request context and the reply helpers.
 *
 * A request is handled on one HTTP thread, start to end, inside the
 * evhttp callback; handlers reply exactly once through hx_* (which record
 * the status for the metrics). Bodies are the request's input buffer,
 * made contiguous (hx_body), borrowed until the reply.
 */
#ifndef ORBIT_SERVER_HTTP_INT_H
#define ORBIT_SERVER_HTTP_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "orbit/buf.h"
#include "orbit/timeseries.h"
#include "server/http_route.h"

struct evhttp_request;

typedef struct hx_req {
    struct evhttp_request *req;
    srv_http_target t;
    unsigned method;           /* SRV_M_* */
    const srv_http_route_def *route;
    int status;                /* the status replied, 0 before */
    int touched_store;         /* for the per-provider metrics */
} hx_req;

/* The body (borrowed) and its length. */
const uint8_t *hx_body(hx_req *r, size_t *len);
/* The body parsed as JSON (a new reference; NULL after replying 400). */
json_t *hx_body_json(hx_req *r);

/* Reply: JSON (steals j; NULL means {}), bytes, or an error
 * {"error": text, "code": code}. */
void hx_json(hx_req *r, int status, json_t *j);
void hx_bytes(hx_req *r, int status, const char *content_type, const void *p, size_t n);
void hx_error(hx_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Reply the Orbit status rc (an error, ORBIT_NOTFOUND, ...) with its HTTP
 * status: EINVAL 400, NOTFOUND 404, EEXIST/ECONFLICT/ECONSTRAINT/CMPFAIL
 * 409, ETOOBIG 413, ENOTSUP 501, ENOSPACE 507, EUNAVAIL/EBUSY/ETIMEDOUT/
 * ECLOSED/ENOSTORE/ECOMPACTED 503, others 500; the text is what (may be
 * NULL) plus orbit_strerror and the thread's error detail. */
void hx_orbit_error(hx_req *r, int rc, const char *what);
int hx_status_of(int rc);

/* A JSON string of bytes when they are UTF-8, else NULL. */
json_t *hx_json_bytes(const void *p, size_t n);
/* Standard base64 (RFC 4648, padded). encode appends; decode: 0 or -1. */
int hx_b64_encode(orbit_buf *out, const uint8_t *p, size_t n);
int hx_b64_decode(orbit_buf *out, const char *s, size_t n);
/* A non-negative integer query parameter: 0 (value set, or def when
 * absent) or -1 after replying 400. */
int hx_param_size(hx_req *r, const char *name, size_t def, size_t max, size_t *out);

/* Resources. */
void hx_kv_one(hx_req *r);
void hx_kv_scan(hx_req *r);
void hx_tables(hx_req *r);
void hx_table(hx_req *r);
void hx_table_indexes(hx_req *r);
void hx_table_rows(hx_req *r);
void hx_table_row(hx_req *r);
void hx_table_query(hx_req *r);
void hx_docs(hx_req *r);
void hx_doc(hx_req *r);
void hx_vec_coll(hx_req *r);
void hx_vec_item(hx_req *r);
void hx_vec_search(hx_req *r);
void hx_graph(hx_req *r);
void hx_graph_node(hx_req *r);
void hx_graph_neighbors(hx_req *r);
void hx_graph_edges(hx_req *r);
void hx_graph_path(hx_req *r);
void hx_series(hx_req *r);
void hx_series_points(hx_req *r);
void hx_series_last(hx_req *r);
void hx_txn(hx_req *r);

/* The relational resources' shared state (http_rel.c), also used by the
 * transaction endpoint: the default actor, and table handles cached by
 * name (thread-safe; a handle lives until srv_http_rel_release). */
struct orbit_table;
struct orbit_tx;
int hx_rel_table(const char *name, struct orbit_table **out);
void srv_http_rel_release(void);
/* The same for document collections (http_doc.c); create: open with
 * create. */
struct orbit_doc_coll;
int hx_doc_coll(const char *name, int create, struct orbit_doc_coll **out);
void srv_http_doc_release(void);
void srv_http_vec_release(void);
void srv_http_graph_release(void);
void srv_http_ts_release(void);
/* Row <-> JSON by the table's schema. */
struct orbit_row;
int hx_row_from_json(struct orbit_table *t, json_t *obj, struct orbit_row *row, orbit_buf *err);
json_t *hx_row_to_json(const struct orbit_row *row);
/* The columns named by query parameters (each value converted by its
 * column's type) into row: 0, or -1 with err set. */
int hx_row_from_params(struct orbit_table *t, const srv_http_target *tg,
                       struct orbit_row *row, orbit_buf *err);
/* Handles of one kind of named model object, opened on the models actor
 * at first use and kept until hx_handles_release (http_cache.c); any HTTP
 * thread. open gives a new handle of the object NAME of actor a (0 or the
 * model's code: NOTFOUND for no such object); close frees one. */
struct orbit_actor;
typedef struct hx_handle hx_handle;
typedef struct hx_handles {
    pthread_mutex_t mu;
    struct orbit_actor *actor;
    hx_handle *list;
    int (*open)(struct orbit_actor *a, const char *name, void **out);
    void (*close)(void *h);
} hx_handles;
#define HX_HANDLES_INIT(open_fn, close_fn) {PTHREAD_MUTEX_INITIALIZER, NULL, NULL, open_fn, close_fn}
/* *out: the cached handle of NAME, borrowed until hx_handles_release. */
int hx_handle_get(hx_handles *hs, const char *name, void **out);
/* *out: the models actor (opened at first use), borrowed likewise. */
int hx_handles_actor(hx_handles *hs, struct orbit_actor **out);
void hx_handles_release(hx_handles *hs);

/* A series point's value of type t from JSON (http_ts.c): string values
 * borrow j; a JSON value's text goes to *text, which the caller frees.
 * 0 or -1 (j is not of type t). */
int hx_ts_value_from(json_t *j, orbit_ts_type t, orbit_ts_value *v, char **text);
/* The duplicate policies by name, in orbit_ts_dup order (HX_TS_DUPS of them). */
#define HX_TS_DUPS 6
extern const char *const hx_ts_dups[HX_TS_DUPS];

#endif
