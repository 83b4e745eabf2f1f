/*
 * The graph resources of the HTTP API, over orbit/graph.h, on the models
 * actor (models-actor, default "orbit"/"default"; config.h):
 *
 *   PUT    /v1/graphs/{g}                      {"endpoint_table": T} (optional): 201,
 *                                              409 EEXIST
 *   PUT    /v1/graphs/{g}/nodes/{id}           {"labels": [..], "props": {..}}: adds or
 *                                              replaces the node (edges kept)
 *   GET    /v1/graphs/{g}/nodes/{id}           {"id", "labels", "props"}
 *   DELETE /v1/graphs/{g}/nodes/{id}           the node and its edges: {"edges_removed"}
 *   POST   /v1/graphs/{g}/edges                {"from", "rel", "to", "weight", "props",
 *                                              "replace": bool}: 201, 409 EEXIST
 *   DELETE /v1/graphs/{g}/edges?from=&rel=&to=
 *   GET    /v1/graphs/{g}/nodes/{id}/neighbors?dir=out|in|both&rel=R
 *                                              the node's edges: {"neighbors": [{"id",
 *                                              "rel", "weight", "dir"}]}
 *   GET    /v1/graphs/{g}/nodes/{id}/neighbors?depth=k&dir=&rel=&limit=
 *                                              distinct nodes within k hops, the start
 *                                              excluded: {"nodes": [{"id", "depth"}]}
 *   GET    /v1/graphs/{g}/path?from=&to=&dir=&rel=&weighted=1&max_depth=
 *                                              {"path": [ids], "cost"}; unreachable:
 *                                              {"path": [], "cost": null}
 *
 * Node ids are UTF-8 strings here (an id that is not is given as
 * "id_base64" in results). Graph handles are cached by name as tables
 * are, until srv_http_graph_release.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/graph.h"
#include "orbit/provider.h"
#include "server/config.h"
#include "server/http_int.h"
#include "server/server.h"

static int open_one(orbit_actor *a, const char *name, void **out)
{
    orbit_graph *h = NULL;
    int rc = orbit_graph_open(NULL, a, name, &h);
    *out = h;
    return rc;
}

static void close_one(void *h) { orbit_graph_close(h); }

static hx_handles g_handles = HX_HANDLES_INIT(open_one, close_one);

static int graph_get(const char *name, orbit_graph **out)
{
    void *h = NULL;
    int rc = hx_handle_get(&g_handles, name, &h);
    *out = h;
    return rc;
}

void srv_http_graph_release(void) { hx_handles_release(&g_handles); }

static const char *name_of(hx_req *r)
{
    const srv_http_str *nm = &r->t.seg[2];
    if (strlen(nm->p) != nm->n) {
        hx_error(r, 400, "EINVAL", "a graph name may not hold NUL bytes");
        return NULL;
    }
    return nm->p;
}

static orbit_graph *graph_of(hx_req *r)
{
    const char *name = name_of(r);
    if (!name)
        return NULL;
    orbit_graph *g = NULL;
    int rc = graph_get(name, &g);
    if (rc == ORBIT_NOTFOUND)
        hx_error(r, 404, "NOTFOUND", "no graph %s", name);
    else if (rc)
        hx_orbit_error(r, rc, "graph");
    return rc ? NULL : g;
}

static void set_id(json_t *o, const uint8_t *id, size_t n)
{
    json_t *s = hx_json_bytes(id, n);
    if (s) {
        json_object_set_new(o, "id", s);
        return;
    }
    orbit_buf b = ORBIT_BUF_INIT;
    hx_b64_encode(&b, id, n);
    json_object_set_new(o, "id_base64", json_stringn(b.len ? (char *)b.data : "", b.len));
    orbit_buf_release(&b);
}

static const char *dir_name(orbit_graph_dir d)
{
    return d == ORBIT_GRAPH_IN ? "in" : d == ORBIT_GRAPH_BOTH ? "both" : "out";
}

/* dir=, rel= (NUL-free) from the query: 0, or -1 after replying. */
static int dir_rel(hx_req *r, orbit_graph_dir *dir, const char **rel)
{
    const srv_http_str *d = srv_http_param(&r->t, "dir");
    const srv_http_str *rl = srv_http_param(&r->t, "rel");
    *dir = ORBIT_GRAPH_OUT;
    if (d && !strcmp(d->p, "in"))
        *dir = ORBIT_GRAPH_IN;
    else if (d && !strcmp(d->p, "both"))
        *dir = ORBIT_GRAPH_BOTH;
    else if (d && strcmp(d->p, "out")) {
        hx_error(r, 400, "EINVAL", "dir: out, in or both");
        return -1;
    }
    if (rl && strlen(rl->p) != rl->n) {
        hx_error(r, 400, "EINVAL", "rel may not hold NUL bytes");
        return -1;
    }
    *rel = rl ? rl->p : NULL;
    return 0;
}

void hx_graph(hx_req *r)
{
    const char *name = name_of(r);
    if (!name)
        return;
    size_t n;
    hx_body(r, &n);
    json_t *j = n ? hx_body_json(r) : json_object();
    if (!j)
        return;
    orbit_graph_opts o = {0};
    json_t *et = json_object_get(j, "endpoint_table");
    if (et && !(o.endpoint_table = json_string_value(et))) {
        hx_error(r, 400, "EINVAL", "endpoint_table names a table");
        json_decref(j);
        return;
    }
    orbit_actor *actor = NULL;
    int rc = hx_handles_actor(&g_handles, &actor);
    if (!rc)
        rc = orbit_graph_create(NULL, actor, name, &o, NULL);
    if (rc == ORBIT_EEXIST)
        hx_error(r, 409, "EEXIST", "graph %s exists", name);
    else if (rc)
        hx_orbit_error(r, rc, "create graph");
    else
        hx_json(r, 201, json_pack("{s:s}", "graph", name));
    json_decref(j);
}

void hx_graph_node(hx_req *r)
{
    orbit_graph *g = graph_of(r);
    if (!g)
        return;
    const srv_http_str *id = &r->t.seg[4];
    int rc;
    if (r->method == SRV_M_PUT) {
        size_t n;
        hx_body(r, &n);
        json_t *j = n ? hx_body_json(r) : json_object();
        if (!j)
            return;
        json_t *labels = json_object_get(j, "labels"), *props = json_object_get(j, "props");
        size_t nl = json_is_array(labels) ? json_array_size(labels) : 0;
        const char **ls = calloc(nl ? nl : 1, sizeof *ls);
        int ok = ls && (!labels || json_is_array(labels)) && (!props || json_is_object(props));
        for (size_t i = 0; ok && i < nl; i++)
            ok = (ls[i] = json_string_value(json_array_get(labels, i))) != NULL;
        char *pj = ok && props ? json_dumps(props, JSON_COMPACT) : NULL;
        if (!ok) {
            hx_error(r, 400, "EINVAL", "a node is {\"labels\": [strings], \"props\": {object}}");
        } else {
            rc = orbit_graph_add_node(NULL, g, id->p, id->n, ls, nl, pj, ORBIT_GRAPH_REPLACE);
            if (rc)
                hx_orbit_error(r, rc, "node");
            else
                hx_json(r, 200, json_pack("{s:b}", "ok", 1));
        }
        free(pj);
        free(ls);
        json_decref(j);
        return;
    }
    if (r->method == SRV_M_DELETE) {
        size_t removed = 0;
        rc = orbit_graph_del_node(NULL, g, id->p, id->n, &removed);
        if (rc == ORBIT_NOTFOUND)
            hx_error(r, 404, "NOTFOUND", "no such node");
        else if (rc)
            hx_orbit_error(r, rc, "node");
        else
            hx_json(r, 200, json_pack("{s:I}", "edges_removed", (json_int_t)removed));
        return;
    }
    orbit_graph_node nd;
    memset(&nd, 0, sizeof nd);
    rc = orbit_graph_get_node(NULL, g, id->p, id->n, &nd);
    if (rc == ORBIT_NOTFOUND) {
        hx_error(r, 404, "NOTFOUND", "no such node");
    } else if (rc) {
        hx_orbit_error(r, rc, "node");
    } else {
        json_t *o = json_object(), *ls = json_array();
        set_id(o, (const uint8_t *)id->p, id->n);
        for (size_t i = 0; i < nd.nlabels; i++)
            json_array_append_new(ls, json_string(nd.labels[i]));
        json_object_set_new(o, "labels", ls);
        json_t *p = nd.props_json ? json_loads(nd.props_json, 0, NULL) : NULL;
        json_object_set_new(o, "props", p ? p : json_object());
        hx_json(r, 200, o);
    }
    orbit_graph_node_release(&nd);
}

void hx_graph_edges(hx_req *r)
{
    orbit_graph *g = graph_of(r);
    if (!g)
        return;
    int rc;
    if (r->method == SRV_M_DELETE) {
        const srv_http_str *f = srv_http_param(&r->t, "from"), *t = srv_http_param(&r->t, "to"),
                           *rl = srv_http_param(&r->t, "rel");
        if (!f || !t || !rl || strlen(rl->p) != rl->n) {
            hx_error(r, 400, "EINVAL", "name the edge: ?from=&rel=&to=");
            return;
        }
        rc = orbit_graph_del_edge(NULL, g, f->p, f->n, rl->p, t->p, t->n);
        if (rc == ORBIT_NOTFOUND)
            hx_error(r, 404, "NOTFOUND", "no such edge");
        else if (rc)
            hx_orbit_error(r, rc, "edge");
        else
            hx_json(r, 200, json_pack("{s:i}", "deleted", 1));
        return;
    }
    json_t *j = hx_body_json(r);
    if (!j)
        return;
    json_t *f = json_object_get(j, "from"), *t = json_object_get(j, "to");
    const char *rel = json_string_value(json_object_get(j, "rel"));
    json_t *w = json_object_get(j, "weight"), *props = json_object_get(j, "props");
    orbit_graph_edge_opts o = {0};
    char *pj = json_is_object(props) ? json_dumps(props, JSON_COMPACT) : NULL;
    if (!json_is_string(f) || !json_is_string(t) || !rel || (w && !json_is_number(w)) ||
        (props && !json_is_object(props))) {
        hx_error(r, 400, "EINVAL",
                 "an edge is {\"from\", \"rel\", \"to\" (strings), \"weight\" (a number), "
                 "\"props\" (an object), \"replace\" (bool)}");
    } else {
        o.set_weight = w != NULL;
        o.weight = w ? json_number_value(w) : 1;
        o.props_json = pj;
        o.flags = json_is_true(json_object_get(j, "replace")) ? ORBIT_GRAPH_REPLACE : 0;
        rc = orbit_graph_add_edge(NULL, g, json_string_value(f), json_string_length(f), rel,
                                  json_string_value(t), json_string_length(t), &o);
        if (rc)
            hx_orbit_error(r, rc, "edge");
        else
            hx_json(r, 201, json_pack("{s:b}", "ok", 1));
    }
    free(pj);
    json_decref(j);
}

void hx_graph_neighbors(hx_req *r)
{
    orbit_graph *g = graph_of(r);
    if (!g)
        return;
    const srv_http_str *id = &r->t.seg[4];
    orbit_graph_dir dir;
    const char *rel;
    size_t depth, limit;
    if (dir_rel(r, &dir, &rel) || hx_param_size(r, "depth", 0, 1000, &depth) ||
        hx_param_size(r, "limit", 0, 1000000, &limit))
        return;
    orbit_graph_list l;
    orbit_graph_list_init(&l);
    int rc;
    int hops = srv_http_param(&r->t, "depth") != NULL;
    if (hops) {
        orbit_graph_hop_opts o = {dir, rel, (unsigned)depth, limit};
        rc = orbit_graph_traverse(NULL, g, id->p, id->n, &o, &l);
    } else {
        rc = orbit_graph_neighbors(NULL, g, id->p, id->n, dir, rel, &l);
    }
    if (rc) {
        hx_orbit_error(r, rc, "neighbors");
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < l.n; i++) {
            json_t *o = json_object();
            set_id(o, l.items[i].id, l.items[i].id_len);
            if (hops) {
                json_object_set_new(o, "depth", json_integer(l.items[i].depth));
            } else {
                json_object_set_new(o, "rel", json_string(l.items[i].rel ? l.items[i].rel : ""));
                json_object_set_new(o, "weight", json_real(l.items[i].weight));
                json_object_set_new(o, "dir", json_string(dir_name(l.items[i].dir)));
            }
            json_array_append_new(arr, o);
        }
        hx_json(r, 200, json_pack("{s:o}", hops ? "nodes" : "neighbors", arr));
    }
    orbit_graph_list_release(&l);
}

void hx_graph_path(hx_req *r)
{
    orbit_graph *g = graph_of(r);
    if (!g)
        return;
    const srv_http_str *f = srv_http_param(&r->t, "from"), *t = srv_http_param(&r->t, "to");
    orbit_graph_dir dir;
    const char *rel;
    size_t weighted, maxd;
    if (dir_rel(r, &dir, &rel) || hx_param_size(r, "weighted", 0, 1, &weighted) ||
        hx_param_size(r, "max_depth", 0, 1000000, &maxd))
        return;
    if (!f || !t) {
        hx_error(r, 400, "EINVAL", "name the ends: ?from=&to=");
        return;
    }
    orbit_graph_path_opts o = {dir, rel, (int)weighted, (unsigned)maxd};
    orbit_graph_list l;
    orbit_graph_list_init(&l);
    int rc = orbit_graph_path(NULL, g, f->p, f->n, t->p, t->n, &o, &l);
    if (rc == ORBIT_NOTFOUND) {
        hx_json(r, 200, json_pack("{s:[], s:n}", "path", "cost"));
    } else if (rc) {
        hx_orbit_error(r, rc, "path");
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < l.n; i++) {
            json_t *s = hx_json_bytes(l.items[i].id, l.items[i].id_len);
            if (!s) {
                orbit_buf b = ORBIT_BUF_INIT;
                hx_b64_encode(&b, l.items[i].id, l.items[i].id_len);
                s = json_pack("{s:s%}", "id_base64", b.len ? (char *)b.data : "", b.len);
                orbit_buf_release(&b);
            }
            json_array_append_new(arr, s);
        }
        hx_json(r, 200, json_pack("{s:o, s:f}", "path", arr, "cost", l.cost));
    }
    orbit_graph_list_release(&l);
}
