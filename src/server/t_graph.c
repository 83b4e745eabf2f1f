/*
 * The graph commands on the graph model (orbit/graph.h):
 *
 *   GRAPH.ADDNODE g id [LABELS a,b,...] [PROPS json]   -> 1 added, 0 replaced
 *   GRAPH.ADDEDGE g from rel to [WEIGHT w] [PROPS json] -> 1 added, 0 replaced
 *   GRAPH.NEIGHBORS g id [OUT|IN|BOTH] [REL rel] [DEPTH k]
 *        -> the distinct node ids within k hops (default OUT, 1), the start
 *           excluded, by depth then id
 *   GRAPH.PATH g from to [OUT|IN|BOTH] [REL rel] [WEIGHTED]
 *        -> the node ids of a shortest path (fewest hops, or least weight
 *           sum with WEIGHTED), from first; an empty array if none
 *   GRAPH.DELNODE g id           -> 1, or 0 when absent (its edges go too)
 *   GRAPH.DELEDGE g from rel to  -> 1, or 0 when absent
 *
 * A graph of the default actor is created on first write, in the
 * command's transaction. Both endpoints of an edge must exist as nodes
 * when the transaction commits (ADDNODE them first, or in the same
 * MULTI): else the commit fails with the model's constraint error naming
 * the node, and nothing is applied. Reads of a missing graph answer an
 * empty array.
 *
 * Handles of committed graphs are cached (they are immutable); a graph
 * created in the current transaction is opened in it for the command only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orbit/graph.h"
#include "orbit/provider.h"
#include "server/t_models.h"

typedef struct gref {
    orbit_graph *g;
    int owned;
} gref;

static void gref_release(gref *r)
{
    if (r->owned)
        orbit_graph_close(r->g);
    r->g = NULL;
    r->owned = 0;
}

/* Open graph argv[1], creating it when create is set: 0, ORBIT_NOTFOUND,
 * 1 (error replied) or an error. */
static int graph_open(srv_call *x, int create, gref *out)
{
    int bad;
    out->g = NULL;
    out->owned = 0;
    char *name = models_cstr(&x->argv[1], &bad);
    if (!name) {
        if (!bad)
            return ORBIT_ENOMEM;
        reply_error(x, "graph name must not contain NUL bytes");
        return 1;
    }
    int rc = 0;
    out->g = models_cache_get(MC_GRAPH, name);
    if (out->g)
        goto done;
    const orbit_actor *a;
    if ((rc = models_actor(&a)))
        goto done;
    orbit_graph *g;
    rc = orbit_graph_open(NULL, a, name, &g);
    if (rc == 0) {
        out->g = models_cache_put(MC_GRAPH, name, g);
        rc = out->g ? 0 : ORBIT_ENOMEM;
        goto done;
    }
    if (rc != ORBIT_NOTFOUND || !x->tx)
        goto done;
    rc = orbit_graph_open(x->tx, a, name, &g);
    if (rc == ORBIT_NOTFOUND && create) {
        rc = orbit_graph_create(x->tx, a, name, NULL, &g);
        if (rc == 0)
            x->wrote = 1;
        else
            rc = models_fail(x, rc, "GRAPH") ? rc : 1;
    }
    if (rc == 0) {
        out->g = g;
        out->owned = 1;
    }
done:
    free(name);
    return rc;
}

static char *opt_cstr(srv_call *x, const srv_arg *a, const char *what, int *rc)
{
    int bad;
    char *s = models_cstr(a, &bad);
    *rc = 0;
    if (!s) {
        if (bad) {
            reply_error(x, "%s must not contain NUL bytes", what);
            *rc = 1;
        } else {
            *rc = ORBIT_ENOMEM;
        }
    }
    return s;
}

/* ---- writes ----------------------------------------------------------- */

static int cmd_graph_addnode(srv_call *x)
{
    char *labels_s = NULL, *props = NULL;
    char **labels = NULL;
    size_t nlabels = 0;
    int rc = 0;
    for (int i = 3; i < x->argc && !rc; i += 2) {
        if (i + 1 >= x->argc) {
            reply_error(x, ERR_SYNTAX);
            rc = 1;
        } else if (arg_eq(&x->argv[i], "LABELS") && !labels_s) {
            labels_s = opt_cstr(x, &x->argv[i + 1], "LABELS", &rc);
        } else if (arg_eq(&x->argv[i], "PROPS") && !props) {
            props = opt_cstr(x, &x->argv[i + 1], "PROPS", &rc);
        } else {
            reply_error(x, ERR_SYNTAX);
            rc = 1;
        }
    }
    if (!rc && labels_s) {
        labels = calloc(strlen(labels_s) / 2 + 2, sizeof *labels);
        if (!labels)
            rc = ORBIT_ENOMEM;
        for (char *p = labels_s; !rc && p;) {
            char *comma = strchr(p, ',');
            if (comma)
                *comma = 0;
            if (!*p) {
                reply_error(x, "LABELS: a label must not be empty");
                rc = 1;
                break;
            }
            labels[nlabels++] = p;
            p = comma ? comma + 1 : NULL;
        }
    }
    gref g = {NULL, 0};
    if (!rc)
        rc = graph_open(x, 1, &g);
    if (!rc) {
        int added = 1;
        rc = orbit_graph_add_node(x->tx, g.g, x->argv[2].data, x->argv[2].len,
                                  (const char *const *)labels, nlabels, props, 0);
        if (rc == ORBIT_EEXIST) {
            added = 0;
            rc = orbit_graph_add_node(x->tx, g.g, x->argv[2].data, x->argv[2].len,
                                      (const char *const *)labels, nlabels, props,
                                      ORBIT_GRAPH_REPLACE);
        }
        if (rc) {
            rc = models_fail(x, rc, "GRAPH.ADDNODE");
        } else {
            x->wrote = 1;
            reply_int(x, added);
        }
    }
    gref_release(&g);
    free(labels);
    free(labels_s);
    free(props);
    return rc == 1 ? 0 : rc;
}

static int cmd_graph_addedge(srv_call *x)
{
    orbit_graph_edge_opts o = {0};
    char *props = NULL, *rel = NULL;
    int rc = 0;
    for (int i = 5; i < x->argc && !rc; i += 2) {
        if (i + 1 >= x->argc) {
            reply_error(x, ERR_SYNTAX);
            rc = 1;
        } else if (arg_eq(&x->argv[i], "WEIGHT")) {
            if (!models_arg_double(&x->argv[i + 1], &o.weight) || o.weight < 0) {
                reply_error(x, "WEIGHT must be a finite number >= 0");
                rc = 1;
            }
            o.set_weight = 1;
        } else if (arg_eq(&x->argv[i], "PROPS") && !props) {
            props = opt_cstr(x, &x->argv[i + 1], "PROPS", &rc);
        } else {
            reply_error(x, ERR_SYNTAX);
            rc = 1;
        }
    }
    if (!rc)
        rel = opt_cstr(x, &x->argv[3], "the relation", &rc);
    gref g = {NULL, 0};
    if (!rc)
        rc = graph_open(x, 1, &g);
    if (!rc) {
        o.props_json = props;
        int added = 1;
        rc = orbit_graph_add_edge(x->tx, g.g, x->argv[2].data, x->argv[2].len, rel,
                                  x->argv[4].data, x->argv[4].len, &o);
        if (rc == ORBIT_EEXIST) {
            added = 0;
            o.flags = ORBIT_GRAPH_REPLACE;
            rc = orbit_graph_add_edge(x->tx, g.g, x->argv[2].data, x->argv[2].len, rel,
                                      x->argv[4].data, x->argv[4].len, &o);
        }
        if (rc) {
            rc = models_fail(x, rc, "GRAPH.ADDEDGE");
        } else {
            x->wrote = 1;
            reply_int(x, added);
        }
    }
    gref_release(&g);
    free(props);
    free(rel);
    return rc == 1 ? 0 : rc;
}

static int cmd_graph_delnode(srv_call *x)
{
    gref g;
    int rc = graph_open(x, 0, &g);
    if (rc == ORBIT_NOTFOUND) {
        reply_int(x, 0);
        return 0;
    }
    if (rc)
        return rc == 1 ? 0 : rc;
    rc = orbit_graph_del_node(x->tx, g.g, x->argv[2].data, x->argv[2].len, NULL);
    if (rc == ORBIT_NOTFOUND) {
        reply_int(x, 0);
        rc = 0;
    } else if (rc) {
        rc = models_fail(x, rc, "GRAPH.DELNODE");
    } else {
        x->wrote = 1;
        reply_int(x, 1);
    }
    gref_release(&g);
    return rc;
}

static int cmd_graph_deledge(srv_call *x)
{
    int rc;
    char *rel = opt_cstr(x, &x->argv[3], "the relation", &rc);
    if (!rel)
        return rc == 1 ? 0 : rc;
    gref g = {NULL, 0};
    rc = graph_open(x, 0, &g);
    if (rc == ORBIT_NOTFOUND) {
        reply_int(x, 0);
        rc = 0;
    } else if (!rc) {
        rc = orbit_graph_del_edge(x->tx, g.g, x->argv[2].data, x->argv[2].len, rel,
                                  x->argv[4].data, x->argv[4].len);
        if (rc == ORBIT_NOTFOUND) {
            reply_int(x, 0);
            rc = 0;
        } else if (rc) {
            rc = models_fail(x, rc, "GRAPH.DELEDGE");
        } else {
            x->wrote = 1;
            reply_int(x, 1);
        }
    }
    gref_release(&g);
    free(rel);
    return rc == 1 ? 0 : rc;
}

/* ---- reads ------------------------------------------------------------ */

/* Parse [OUT|IN|BOTH] [REL rel] [DEPTH k] [WEIGHTED] from argv[i..).
 * 0 ok, 1 replied, or ENOMEM. */
static int parse_read_opts(srv_call *x, int i, int allow_depth, orbit_graph_dir *dir,
                           char **rel, long long *depth, int *weighted)
{
    int rc = 0;
    for (; i < x->argc && !rc; i++) {
        const srv_arg *a = &x->argv[i];
        if (arg_eq(a, "OUT"))
            *dir = ORBIT_GRAPH_OUT;
        else if (arg_eq(a, "IN"))
            *dir = ORBIT_GRAPH_IN;
        else if (arg_eq(a, "BOTH"))
            *dir = ORBIT_GRAPH_BOTH;
        else if (arg_eq(a, "REL") && i + 1 < x->argc && !*rel)
            *rel = opt_cstr(x, &x->argv[++i], "REL", &rc);
        else if (allow_depth && arg_eq(a, "DEPTH") && i + 1 < x->argc) {
            if (!arg_ll(&x->argv[++i], depth) || *depth < 1 || *depth > 1000) {
                reply_error(x, "DEPTH must be an integer from 1 to 1000");
                rc = 1;
            }
        } else if (!allow_depth && arg_eq(a, "WEIGHTED"))
            *weighted = 1;
        else {
            reply_error(x, ERR_SYNTAX);
            rc = 1;
        }
    }
    return rc;
}

static void reply_ids(srv_call *x, const orbit_graph_list *l)
{
    reply_array(x, (long long)l->n);
    for (size_t i = 0; i < l->n; i++)
        reply_bulk(x, l->items[i].id, l->items[i].id_len);
}

static int cmd_graph_neighbors(srv_call *x)
{
    orbit_graph_dir dir = ORBIT_GRAPH_OUT;
    char *rel = NULL;
    long long depth = 1;
    int weighted = 0;
    int rc = parse_read_opts(x, 3, 1, &dir, &rel, &depth, &weighted);
    gref g = {NULL, 0};
    if (!rc)
        rc = graph_open(x, 0, &g);
    if (rc == ORBIT_NOTFOUND) {
        reply_array(x, 0);
        rc = 0;
    } else if (!rc) {
        orbit_graph_list l;
        orbit_graph_list_init(&l);
        orbit_graph_hop_opts o = {.dir = dir, .rel = rel, .depth = (unsigned)depth};
        rc = orbit_graph_traverse(x->tx, g.g, x->argv[2].data, x->argv[2].len, &o, &l);
        if (rc)
            rc = models_fail(x, rc, "GRAPH.NEIGHBORS");
        else
            reply_ids(x, &l);
        orbit_graph_list_release(&l);
    }
    gref_release(&g);
    free(rel);
    return rc == 1 ? 0 : rc;
}

static int cmd_graph_path(srv_call *x)
{
    orbit_graph_dir dir = ORBIT_GRAPH_OUT;
    char *rel = NULL;
    long long depth = 0;
    int weighted = 0;
    int rc = parse_read_opts(x, 4, 0, &dir, &rel, &depth, &weighted);
    gref g = {NULL, 0};
    if (!rc)
        rc = graph_open(x, 0, &g);
    if (rc == ORBIT_NOTFOUND) {
        reply_array(x, 0);
        rc = 0;
    } else if (!rc) {
        orbit_graph_list l;
        orbit_graph_list_init(&l);
        orbit_graph_path_opts o = {.dir = dir, .rel = rel, .weighted = weighted};
        rc = orbit_graph_path(x->tx, g.g, x->argv[2].data, x->argv[2].len, x->argv[3].data,
                              x->argv[3].len, &o, &l);
        if (rc == ORBIT_NOTFOUND) {
            reply_array(x, 0);
            rc = 0;
        } else if (rc) {
            rc = models_fail(x, rc, "GRAPH.PATH");
        } else {
            reply_ids(x, &l);
        }
        orbit_graph_list_release(&l);
    }
    gref_release(&g);
    free(rel);
    return rc == 1 ? 0 : rc;
}

#define W CMD_WRITE
#define R CMD_READONLY

const srv_command srv_graph_commands[] = {
    {"graph.addnode", cmd_graph_addnode, -3, W, 1, 1, 1, "graph",
     "Add or replace a node (the graph is created on first use)",
     "graph id [LABELS label,label,...] [PROPS json]", NULL},
    {"graph.addedge", cmd_graph_addedge, -5, W, 1, 1, 1, "graph",
     "Add or replace an edge; both endpoints must be nodes at commit",
     "graph from relation to [WEIGHT weight] [PROPS json]", NULL},
    {"graph.neighbors", cmd_graph_neighbors, -3, R, 1, 1, 1, "graph",
     "The distinct node ids within DEPTH hops, the start excluded",
     "graph id [OUT|IN|BOTH] [REL relation] [DEPTH k]", NULL},
    {"graph.path", cmd_graph_path, -4, R, 1, 1, 1, "graph",
     "The node ids of a shortest path, or an empty array",
     "graph from to [OUT|IN|BOTH] [REL relation] [WEIGHTED]", NULL},
    {"graph.delnode", cmd_graph_delnode, 3, W, 1, 1, 1, "graph",
     "Delete a node and its edges", "graph id", NULL},
    {"graph.deledge", cmd_graph_deledge, 5, W, 1, 1, 1, "graph", "Delete an edge",
     "graph from relation to", NULL},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL},
};
