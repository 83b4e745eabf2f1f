/*
 * The graph model (orbit/graph.h) on every provider: graphs, nodes and
 * edges, adjacency kept consistent by edge and node changes, neighbours,
 * k-hop traversal, BFS and Dijkstra paths against brute force, endpoint
 * integrity at commit (nodes and an endpoint table), the cost rules
 * (neighbours read one key; a 3-hop traversal makes 3 read calls whatever
 * the fan-out, on a store holding much more unrelated data), and a
 * randomized sequence of node and edge changes checked against an in-test
 * oracle.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt.h"
#include "orbit/graph.h"
#include "orbit/provider.h"

#define S(x) (x), strlen(x)

static orbit_actor *open_actor(ct_store *s, const char *id)
{
    orbit_actor *a;
    mt_check(orbit_actor_open(s->kv, "user", id, &a), 0);
    return a;
}

static void node(orbit_graph *g, const char *id)
{
    mt_check(orbit_graph_add_node(NULL, g, S(id), NULL, 0, NULL, 0), 0);
}

/* "id" or "id:rel" of every item, joined by spaces. */
static const char *show(const orbit_graph_list *l, int with_rel)
{
    static char buf[8192];
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < l->n && o + 300 < sizeof buf; i++) {
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%.*s", i ? " " : "",
                              (int)l->items[i].id_len, (const char *)l->items[i].id);
        if (with_rel && l->items[i].rel)
            o += (size_t)snprintf(buf + o, sizeof buf - o, ":%s", l->items[i].rel);
    }
    return buf;
}

static void expect_neighbors(orbit_graph *g, orbit_tx *tx, const char *id, orbit_graph_dir d,
                             const char *rel, const char *want)
{
    orbit_graph_list l = {0};
    mt_check(orbit_graph_neighbors(tx, g, S(id), d, rel, &l), 0);
    if (strcmp(show(&l, 1), want) != 0) {
        fprintf(stderr, "neighbors of %s dir %d rel %s: got '%s', want '%s'\n", id, (int)d,
                rel ? rel : "*", show(&l, 1), want);
        fail();
    }
    orbit_graph_list_release(&l);
}

static void expect_hops(orbit_graph *g, const char *id, orbit_graph_dir d, const char *rel,
                        unsigned depth, const char *want)
{
    orbit_graph_hop_opts o = {0};
    o.dir = d;
    o.rel = rel;
    o.depth = depth;
    orbit_graph_list l = {0};
    mt_check(orbit_graph_traverse(NULL, g, S(id), &o, &l), 0);
    if (strcmp(show(&l, 0), want) != 0) {
        fprintf(stderr, "%u hops from %s: got '%s', want '%s'\n", depth, id, show(&l, 0), want);
        fail();
    }
    orbit_graph_list_release(&l);
}

static int models_seen;
static void on_commit(void *arg, const orbit_tx_change *c, size_t n, uint64_t v)
{
    (void)arg;
    (void)v;
    for (size_t i = 0; i < n; i++)
        models_seen |= (int)c[i].models;
}

/* ---- graphs and nodes ----------------------------------------------- */

static void test_graph_and_nodes(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a = open_actor(&s, "g1");
    orbit_graph *g, *g2;
    uint64_t lid;
    mt_check(orbit_tx_listen(on_commit, NULL, &lid), 0);
    models_seen = 0;
    mt_check(orbit_graph_open(NULL, a, "social", &g), ORBIT_NOTFOUND);
    mt_check(orbit_graph_create(NULL, a, "social", NULL, &g), 0);
    assert_true(models_seen & (1 << ORBIT_MODEL_GRAPH));
    mt_check(orbit_graph_create(NULL, a, "social", NULL, NULL), ORBIT_EEXIST);
    mt_check(orbit_graph_create(NULL, a, "", NULL, NULL), ORBIT_EINVAL);
    mt_check(orbit_graph_open(NULL, a, "social", &g2), 0);
    assert_int_equal(orbit_graph_id(g2), orbit_graph_id(g));
    assert_null(orbit_graph_endpoint_table(g2));

    const char *labels[] = {"person", "admin", "person"};
    mt_check(orbit_graph_add_node(NULL, g, S("alice"), labels, 3, "{\"age\":30,\"x\":[1,2]}", 0),
             0);
    mt_check(orbit_graph_add_node(NULL, g, S("alice"), NULL, 0, NULL, 0), ORBIT_EEXIST);
    orbit_graph_node n;
    mt_check(orbit_graph_get_node(NULL, g2, S("alice"), &n), 0);
    orbit_graph_close(g2);
    assert_int_equal(n.nlabels, 2);
    assert_string_equal(n.labels[0], "admin");
    assert_string_equal(n.labels[1], "person");
    assert_string_equal(n.props_json, "{\"age\":30,\"x\":[1,2]}");
    assert_true(n.created_ms > 0);
    uint64_t created = n.created_ms;
    orbit_graph_node_release(&n);

    /* Replace keeps the creation time. */
    mt_check(orbit_graph_add_node(NULL, g, S("alice"), NULL, 0, "{\"age\":31}",
                                  ORBIT_GRAPH_REPLACE),
             0);
    mt_check(orbit_graph_get_node(NULL, g, S("alice"), &n), 0);
    assert_int_equal(n.nlabels, 0);
    assert_string_equal(n.props_json, "{\"age\":31}");
    assert_int_equal(n.created_ms, created);
    orbit_graph_node_release(&n);

    /* Bad input changes nothing. */
    mt_check(orbit_graph_add_node(NULL, g, S("bob"), NULL, 0, "{\"a\":", 0), ORBIT_EINVAL);
    mt_check(orbit_graph_add_node(NULL, g, S("bob"), NULL, 0, "[1]", 0), ORBIT_EINVAL);
    mt_check(orbit_graph_add_node(NULL, g, S("bob"), NULL, 0, "{\"a\":1,\"a\":2}", 0),
             ORBIT_EINVAL);
    const char *empty[] = {""};
    mt_check(orbit_graph_add_node(NULL, g, S("bob"), empty, 1, NULL, 0), ORBIT_EINVAL);
    mt_check(orbit_graph_add_node(NULL, g, "", 0, NULL, 0, NULL, 0), ORBIT_EINVAL);
    mt_check(orbit_graph_get_node(NULL, g, S("bob"), &n), ORBIT_NOTFOUND);
    /* Binary ids. */
    mt_check(orbit_graph_add_node(NULL, g, "a\0b", 3, NULL, 0, NULL, 0), 0);
    mt_check(orbit_graph_get_node(NULL, g, "a\0b", 3, &n), 0);
    orbit_graph_node_release(&n);
    mt_check(orbit_graph_get_node(NULL, g, "a", 1, &n), ORBIT_NOTFOUND);

    size_t removed = 7;
    mt_check(orbit_graph_del_node(NULL, g, S("alice"), &removed), 0);
    assert_int_equal(removed, 0);
    mt_check(orbit_graph_del_node(NULL, g, S("alice"), NULL), ORBIT_NOTFOUND);
    mt_check(orbit_graph_get_node(NULL, g, S("alice"), &n), ORBIT_NOTFOUND);

    /* Drop: everything goes; a new graph of that name starts empty. */
    mt_check(orbit_graph_drop(NULL, g), 0);
    mt_check(orbit_graph_open(NULL, a, "social", &g2 /* replaced */), ORBIT_NOTFOUND);
    orbit_graph_close(g);
    mt_check(orbit_graph_create(NULL, a, "social", NULL, &g), 0);
    mt_check(orbit_graph_get_node(NULL, g, "a\0b", 3, &n), ORBIT_NOTFOUND);
    orbit_graph_close(g);
    mt_check(orbit_tx_unlisten(lid), 0);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- edges and adjacency --------------------------------------------- */

static void test_edges(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a = open_actor(&s, "g2");
    orbit_graph *g;
    mt_check(orbit_graph_create(NULL, a, "social", NULL, &g), 0);
    node(g, "a");
    node(g, "b");
    node(g, "c");
    orbit_graph_edge_opts o = {0};
    o.set_weight = 1;
    o.weight = 2.5;
    o.props_json = "{\"since\":2020}";
    mt_check(orbit_graph_add_edge(NULL, g, S("a"), "knows", S("b"), &o), 0);
    mt_check(orbit_graph_add_edge(NULL, g, S("a"), "knows", S("b"), NULL), ORBIT_EEXIST);
    mt_check(orbit_graph_add_edge(NULL, g, S("a"), "likes", S("b"), NULL), 0);
    mt_check(orbit_graph_add_edge(NULL, g, S("a"), "knows", S("c"), NULL), 0);
    mt_check(orbit_graph_add_edge(NULL, g, S("c"), "knows", S("a"), NULL), 0);
    mt_check(orbit_graph_add_edge(NULL, g, S("b"), "knows", S("b"), NULL), 0); /* self-loop */

    orbit_graph_edge e;
    mt_check(orbit_graph_get_edge(NULL, g, S("a"), "knows", S("b"), &e), 0);
    assert_true(e.weight == 2.5);
    assert_string_equal(e.props_json, "{\"since\":2020}");
    orbit_graph_edge_release(&e);
    mt_check(orbit_graph_get_edge(NULL, g, S("a"), "likes", S("b"), &e), 0);
    assert_true(e.weight == 1.0);
    assert_string_equal(e.props_json, "{}");
    orbit_graph_edge_release(&e);
    mt_check(orbit_graph_get_edge(NULL, g, S("b"), "knows", S("a"), &e), ORBIT_NOTFOUND);

    /* Bad weights, relations and properties are refused. */
    o.weight = -1;
    mt_check(orbit_graph_add_edge(NULL, g, S("b"), "x", S("c"), &o), ORBIT_EINVAL);
    o.weight = NAN;
    mt_check(orbit_graph_add_edge(NULL, g, S("b"), "x", S("c"), &o), ORBIT_EINVAL);
    o.weight = INFINITY;
    mt_check(orbit_graph_add_edge(NULL, g, S("b"), "x", S("c"), &o), ORBIT_EINVAL);
    mt_check(orbit_graph_add_edge(NULL, g, S("b"), "", S("c"), NULL), ORBIT_EINVAL);
    orbit_graph_edge_opts bad = {0};
    bad.props_json = "nope";
    mt_check(orbit_graph_add_edge(NULL, g, S("b"), "x", S("c"), &bad), ORBIT_EINVAL);

    expect_neighbors(g, NULL, "a", ORBIT_GRAPH_OUT, NULL, "b:knows c:knows b:likes");
    expect_neighbors(g, NULL, "a", ORBIT_GRAPH_OUT, "knows", "b:knows c:knows");
    expect_neighbors(g, NULL, "a", ORBIT_GRAPH_OUT, "zzz", "");
    expect_neighbors(g, NULL, "a", ORBIT_GRAPH_IN, NULL, "c:knows");
    expect_neighbors(g, NULL, "a", ORBIT_GRAPH_BOTH, NULL, "b:knows c:knows b:likes c:knows");
    expect_neighbors(g, NULL, "b", ORBIT_GRAPH_IN, NULL, "a:knows b:knows a:likes");
    expect_neighbors(g, NULL, "b", ORBIT_GRAPH_OUT, NULL, "b:knows");
    expect_neighbors(g, NULL, "nobody", ORBIT_GRAPH_BOTH, NULL, "");

    orbit_graph_list l = {0};
    mt_check(orbit_graph_neighbors(NULL, g, S("a"), ORBIT_GRAPH_OUT, "knows", &l), 0);
    assert_true(l.items[0].weight == 2.5 && l.items[0].dir == ORBIT_GRAPH_OUT &&
                l.items[0].depth == 1);
    mt_check(orbit_graph_neighbors(NULL, g, S("a"), (orbit_graph_dir)9, NULL, &l), ORBIT_EINVAL);
    orbit_graph_list_release(&l);

    /* Replace updates the weight in both adjacency records. */
    o.weight = 7;
    o.flags = ORBIT_GRAPH_REPLACE;
    o.props_json = NULL;
    mt_check(orbit_graph_add_edge(NULL, g, S("a"), "knows", S("b"), &o), 0);
    mt_check(orbit_graph_neighbors(NULL, g, S("b"), ORBIT_GRAPH_IN, "knows", &l), 0);
    assert_int_equal(l.n, 2);
    assert_true(l.items[0].weight == 7);
    mt_check(orbit_graph_neighbors(NULL, g, S("a"), ORBIT_GRAPH_OUT, "knows", &l), 0);
    assert_true(l.items[0].weight == 7);
    orbit_graph_list_release(&l);

    mt_check(orbit_graph_del_edge(NULL, g, S("a"), "knows", S("b")), 0);
    mt_check(orbit_graph_del_edge(NULL, g, S("a"), "knows", S("b")), ORBIT_NOTFOUND);
    expect_neighbors(g, NULL, "a", ORBIT_GRAPH_OUT, NULL, "c:knows b:likes");
    expect_neighbors(g, NULL, "b", ORBIT_GRAPH_IN, NULL, "b:knows a:likes");

    /* Deleting a node removes its edges, both ways, and the other ends'
     * entries; a self-loop counts once. */
    size_t removed;
    mt_check(orbit_graph_del_node(NULL, g, S("b"), &removed), 0);
    assert_int_equal(removed, 2); /* a-likes->b, b-knows->b */
    expect_neighbors(g, NULL, "a", ORBIT_GRAPH_BOTH, NULL, "c:knows c:knows");
    mt_check(orbit_graph_get_edge(NULL, g, S("a"), "likes", S("b"), &e), ORBIT_NOTFOUND);
    mt_check(orbit_graph_get_edge(NULL, g, S("b"), "knows", S("b"), &e), ORBIT_NOTFOUND);
    mt_check(orbit_graph_del_node(NULL, g, S("a"), &removed), 0);
    assert_int_equal(removed, 2);
    expect_neighbors(g, NULL, "c", ORBIT_GRAPH_BOTH, NULL, "");

    orbit_graph_close(g);
    orbit_actor_close(a);
    mt_close(&s);
}

/* Inside a transaction reads see its writes; a rollback leaves nothing. */
static void test_in_transaction(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a = open_actor(&s, "g3");
    orbit_graph *g;
    mt_check(orbit_graph_create(NULL, a, "t", NULL, &g), 0);
    for (int round = 0; round < 2; round++) {
        orbit_tx *tx;
        mt_check(orbit_tx_begin(NULL, &tx), 0);
        mt_check(orbit_graph_add_node(tx, g, S("x"), NULL, 0, NULL, 0), 0);
        mt_check(orbit_graph_add_node(tx, g, S("y"), NULL, 0, NULL, 0), 0);
        mt_check(orbit_graph_add_edge(tx, g, S("x"), "r", S("y"), NULL), 0);
        mt_check(orbit_graph_add_edge(tx, g, S("y"), "r", S("x"), NULL), 0);
        mt_check(orbit_graph_add_edge(tx, g, S("x"), "r", S("y"), NULL), ORBIT_EEXIST);
        expect_neighbors(g, tx, "x", ORBIT_GRAPH_BOTH, NULL, "y:r y:r");
        expect_neighbors(g, NULL, "x", ORBIT_GRAPH_BOTH, NULL, "");
        orbit_graph_list l = {0};
        mt_check(orbit_graph_path(tx, g, S("x"), S("y"), NULL, &l), 0);
        assert_int_equal(l.n, 2);
        orbit_graph_list_release(&l);
        if (round == 0) {
            orbit_tx_rollback(tx);
            orbit_graph_node n;
            mt_check(orbit_graph_get_node(NULL, g, S("x"), &n), ORBIT_NOTFOUND);
        } else {
            mt_check(orbit_tx_commit(tx), 0);
        }
    }
    expect_neighbors(g, NULL, "y", ORBIT_GRAPH_OUT, NULL, "x:r");
    orbit_graph_close(g);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- traversal ------------------------------------------------------- */

static void test_traverse(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a = open_actor(&s, "g4");
    orbit_graph *g;
    mt_check(orbit_graph_create(NULL, a, "t", NULL, &g), 0);
    /* a -> b -> c -> d -> a (cycle), b -x-> e, e -> f */
    const char *ids[] = {"a", "b", "c", "d", "e", "f"};
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    for (size_t i = 0; i < 6; i++)
        mt_check(orbit_graph_add_node(tx, g, S(ids[i]), NULL, 0, NULL, 0), 0);
    mt_check(orbit_graph_add_edge(tx, g, S("a"), "r", S("b"), NULL), 0);
    mt_check(orbit_graph_add_edge(tx, g, S("b"), "r", S("c"), NULL), 0);
    mt_check(orbit_graph_add_edge(tx, g, S("c"), "r", S("d"), NULL), 0);
    mt_check(orbit_graph_add_edge(tx, g, S("d"), "r", S("a"), NULL), 0);
    mt_check(orbit_graph_add_edge(tx, g, S("b"), "x", S("e"), NULL), 0);
    mt_check(orbit_graph_add_edge(tx, g, S("e"), "r", S("f"), NULL), 0);
    mt_check(orbit_tx_commit(tx), 0);

    expect_hops(g, "a", ORBIT_GRAPH_OUT, NULL, 1, "b");
    expect_hops(g, "a", ORBIT_GRAPH_OUT, NULL, 2, "b c e");
    expect_hops(g, "a", ORBIT_GRAPH_OUT, NULL, 3, "b c e d f");
    expect_hops(g, "a", ORBIT_GRAPH_OUT, NULL, 9, "b c e d f"); /* start excluded */
    expect_hops(g, "a", ORBIT_GRAPH_OUT, "r", 9, "b c d");
    expect_hops(g, "a", ORBIT_GRAPH_IN, NULL, 2, "d c");
    expect_hops(g, "a", ORBIT_GRAPH_BOTH, NULL, 1, "b d");
    expect_hops(g, "f", ORBIT_GRAPH_IN, NULL, 3, "e b a");
    expect_hops(g, "f", ORBIT_GRAPH_OUT, NULL, 3, "");
    expect_hops(g, "zz", ORBIT_GRAPH_BOTH, NULL, 3, "");

    orbit_graph_hop_opts o = {0};
    o.depth = 3;
    o.limit = 2;
    orbit_graph_list l = {0};
    mt_check(orbit_graph_traverse(NULL, g, S("a"), &o, &l), 0);
    assert_string_equal(show(&l, 0), "b c");
    assert_int_equal(l.items[0].depth, 1);
    assert_int_equal(l.items[1].depth, 2);
    orbit_graph_list_release(&l);
    orbit_graph_close(g);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- the oracle: N nodes, R relations ------------------------------- */

#define ON 10
#define OR 2
static const char *const orels[OR] = {"a", "b"};

typedef struct oracle {
    int node[ON];
    int edge[ON][OR][ON];
    double w[ON][OR][ON];
} oracle;

static const char *oid(int i)
{
    static const char *const ids[ON] = {"n0", "n1", "n2", "n3", "n4",
                                        "n5", "n6", "n7", "n8", "n9"};
    return ids[i];
}

static int oidx(const uint8_t *p, size_t n)
{
    for (int i = 0; i < ON; i++)
        if (strlen(oid(i)) == n && memcmp(oid(i), p, n) == 0)
            return i;
    return -1;
}

/* The neighbours string the model gives, from the oracle. */
static void oracle_neighbors(const oracle *o, int x, orbit_graph_dir d, char *out, size_t cap)
{
    size_t k = 0;
    out[0] = '\0';
    for (int pass = 0; pass < 2; pass++) {
        orbit_graph_dir pd = pass == 0 ? ORBIT_GRAPH_OUT : ORBIT_GRAPH_IN;
        if ((d == ORBIT_GRAPH_OUT && pd == ORBIT_GRAPH_IN) ||
            (d == ORBIT_GRAPH_IN && pd == ORBIT_GRAPH_OUT))
            continue;
        for (int r = 0; r < OR; r++)
            for (int y = 0; y < ON; y++) {
                int has = pd == ORBIT_GRAPH_OUT ? o->edge[x][r][y] : o->edge[y][r][x];
                if (has)
                    k += (size_t)snprintf(out + k, cap - k, "%s%s:%s", k ? " " : "", oid(y),
                                          orels[r]);
            }
    }
}

/* Hop distances from x following dir and rel (-1: any), 99 unreachable. */
static void oracle_bfs(const oracle *o, int x, orbit_graph_dir d, int rel, int dist[ON])
{
    for (int i = 0; i < ON; i++)
        dist[i] = 99;
    dist[x] = 0;
    for (int level = 0; level < ON; level++)
        for (int u = 0; u < ON; u++) {
            if (dist[u] != level)
                continue;
            for (int r = 0; r < OR; r++) {
                if (rel >= 0 && r != rel)
                    continue;
                for (int v = 0; v < ON; v++) {
                    int has = (d != ORBIT_GRAPH_IN && o->edge[u][r][v]) ||
                              (d != ORBIT_GRAPH_OUT && o->edge[v][r][u]);
                    if (has && dist[v] > level + 1)
                        dist[v] = level + 1;
                }
            }
        }
}

/* Least weight from x to every node (Bellman-Ford; INFINITY unreachable). */
static void oracle_weights(const oracle *o, int x, orbit_graph_dir d, double dist[ON])
{
    for (int i = 0; i < ON; i++)
        dist[i] = INFINITY;
    dist[x] = 0;
    for (int it = 0; it < ON; it++)
        for (int u = 0; u < ON; u++)
            for (int r = 0; r < OR; r++)
                for (int v = 0; v < ON; v++) {
                    if (d != ORBIT_GRAPH_IN && o->edge[u][r][v] && dist[u] + o->w[u][r][v] < dist[v])
                        dist[v] = dist[u] + o->w[u][r][v];
                    if (d != ORBIT_GRAPH_OUT && o->edge[v][r][u] &&
                        dist[u] + o->w[v][r][u] < dist[v])
                        dist[v] = dist[u] + o->w[v][r][u];
                }
}

/* Check that l is a real path from x to y in the oracle and return its
 * cost (hops or weights). */
static double check_path(const oracle *o, const orbit_graph_list *l, int x, int y, int weighted)
{
    assert_true(l->n >= 2);
    assert_int_equal(oidx(l->items[0].id, l->items[0].id_len), x);
    assert_int_equal(oidx(l->items[l->n - 1].id, l->items[l->n - 1].id_len), y);
    double cost = 0;
    for (size_t i = 1; i < l->n; i++) {
        int p = oidx(l->items[i - 1].id, l->items[i - 1].id_len);
        int c = oidx(l->items[i].id, l->items[i].id_len);
        int r = strcmp(l->items[i].rel, "a") == 0 ? 0 : 1;
        assert_true(p >= 0 && c >= 0);
        if (l->items[i].dir == ORBIT_GRAPH_OUT) {
            assert_true(o->edge[p][r][c]);
            assert_true(l->items[i].weight == o->w[p][r][c]);
        } else {
            assert_true(o->edge[c][r][p]);
            assert_true(l->items[i].weight == o->w[c][r][p]);
        }
        cost += weighted ? l->items[i].weight : 1;
    }
    assert_true(fabs(cost - l->cost) < 1e-9);
    return cost;
}

static void compare_with_oracle(orbit_graph *g, const oracle *o)
{
    char want[2048];
    for (int x = 0; x < ON; x++) {
        orbit_graph_node n;
        mt_check(orbit_graph_get_node(NULL, g, S(oid(x)), &n), o->node[x] ? 0 : ORBIT_NOTFOUND);
        orbit_graph_node_release(&n);
        for (int d = 0; d <= 2; d++) {
            oracle_neighbors(o, x, (orbit_graph_dir)d, want, sizeof want);
            expect_neighbors(g, NULL, oid(x), (orbit_graph_dir)d, NULL, want);
        }
        /* Two hops both ways: the set of nodes at distance 1..2. */
        int dist[ON];
        oracle_bfs(o, x, ORBIT_GRAPH_BOTH, -1, dist);
        orbit_graph_hop_opts ho = {0};
        ho.dir = ORBIT_GRAPH_BOTH;
        ho.depth = 2;
        orbit_graph_list l = {0};
        mt_check(orbit_graph_traverse(NULL, g, S(oid(x)), &ho, &l), 0);
        int seen[ON] = {0};
        for (size_t i = 0; i < l.n; i++) {
            int y = oidx(l.items[i].id, l.items[i].id_len);
            assert_true(y >= 0 && y != x && !seen[y]);
            seen[y] = 1;
            assert_int_equal((int)l.items[i].depth, dist[y]);
        }
        for (int y = 0; y < ON; y++)
            assert_int_equal(seen[y], y != x && dist[y] <= 2);
        /* Shortest paths to every other node, both kinds, out-edges, from
         * some of the nodes (etcd runs stay short). */
        if (x % 3) {
            orbit_graph_list_release(&l);
            continue;
        }
        int hops[ON];
        double wd[ON];
        oracle_bfs(o, x, ORBIT_GRAPH_OUT, -1, hops);
        oracle_weights(o, x, ORBIT_GRAPH_OUT, wd);
        for (int y = 0; y < ON; y++) {
            if (y == x)
                continue;
            orbit_graph_path_opts po = {0};
            int rc = orbit_graph_path(NULL, g, S(oid(x)), S(oid(y)), &po, &l);
            mt_check(rc, hops[y] == 99 ? ORBIT_NOTFOUND : 0);
            if (!rc)
                assert_true(check_path(o, &l, x, y, 0) == hops[y]);
            po.weighted = 1;
            rc = orbit_graph_path(NULL, g, S(oid(x)), S(oid(y)), &po, &l);
            mt_check(rc, isinf(wd[y]) ? ORBIT_NOTFOUND : 0);
            if (!rc)
                assert_true(fabs(check_path(o, &l, x, y, 1) - wd[y]) < 1e-9);
        }
        orbit_graph_list_release(&l);
    }
}

/* ---- shortest paths against brute force ------------------------------ */

static void test_paths(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a = open_actor(&s, "g5");
    orbit_graph *g;
    mt_check(orbit_graph_create(NULL, a, "p", NULL, &g), 0);
    oracle o;
    memset(&o, 0, sizeof o);
    srand(7);
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    for (int i = 0; i < ON; i++) {
        mt_check(orbit_graph_add_node(tx, g, S(oid(i)), NULL, 0, NULL, 0), 0);
        o.node[i] = 1;
    }
    mt_check(orbit_tx_commit(tx), 0);
    /* 24 random edges with weights 0..4 in steps of 0.5, a few at a time. */
    int added = 0;
    while (added < 24) {
        mt_check(orbit_tx_begin(NULL, &tx), 0);
        for (int k = 0; k < 6; k++) {
            int f = rand() % ON, t = rand() % ON, r = rand() % OR;
            if (o.edge[f][r][t])
                continue;
            orbit_graph_edge_opts eo = {0};
            eo.set_weight = 1;
            eo.weight = (rand() % 9) * 0.5;
            mt_check(orbit_graph_add_edge(tx, g, S(oid(f)), orels[r], S(oid(t)), &eo), 0);
            o.edge[f][r][t] = 1;
            o.w[f][r][t] = eo.weight;
            added++;
        }
        mt_check(orbit_tx_commit(tx), 0);
    }
    compare_with_oracle(g, &o);

    /* Direction, relation and depth limits of paths. */
    orbit_graph_list l = {0};
    orbit_graph_path_opts po = {0};
    po.rel = "a";
    po.dir = ORBIT_GRAPH_BOTH;
    int hops[ON];
    for (int y = 1; y < ON; y++) {
        oracle_bfs(&o, 0, ORBIT_GRAPH_BOTH, 0, hops);
        int rc = orbit_graph_path(NULL, g, S(oid(0)), S(oid(y)), &po, &l);
        mt_check(rc, hops[y] == 99 ? ORBIT_NOTFOUND : 0);
        if (!rc)
            assert_true(check_path(&o, &l, 0, y, 0) == hops[y]);
    }
    oracle_bfs(&o, 0, ORBIT_GRAPH_OUT, -1, hops);
    for (int y = 1; y < ON; y++) {
        if (hops[y] < 2 || hops[y] == 99)
            continue;
        orbit_graph_path_opts lim = {0};
        lim.max_depth = (unsigned)hops[y] - 1;
        mt_check(orbit_graph_path(NULL, g, S(oid(0)), S(oid(y)), &lim, &l), ORBIT_NOTFOUND);
        assert_int_equal(l.n, 0);
    }
    mt_check(orbit_graph_path(NULL, g, S("n3"), S("n3"), NULL, &l), 0);
    assert_int_equal(l.n, 1);
    assert_true(l.cost == 0);
    orbit_graph_list_release(&l);
    orbit_graph_close(g);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- integrity at commit --------------------------------------------- */

static void test_constraints(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a = open_actor(&s, "g6");
    orbit_graph *g;
    mt_check(orbit_graph_create(NULL, a, "social", NULL, &g), 0);
    node(g, "a");

    /* Its own transaction: refused at commit, nothing written. */
    mt_check(orbit_graph_add_edge(NULL, g, S("a"), "knows", S("b"), NULL), ORBIT_ECONSTRAINT);
    assert_non_null(
        strstr(orbit_last_error_detail(), "graph social: edge a-knows->b: node 'b' does not exist"));
    expect_neighbors(g, NULL, "a", ORBIT_GRAPH_BOTH, NULL, "");

    /* The node added later in the same transaction: fine. */
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_graph_add_edge(tx, g, S("a"), "knows", S("b"), NULL), 0);
    mt_check(orbit_graph_add_node(tx, g, S("b"), NULL, 0, NULL, 0), 0);
    mt_check(orbit_tx_commit(tx), 0);
    expect_neighbors(g, NULL, "b", ORBIT_GRAPH_IN, NULL, "a:knows");

    /* An edge added then removed with its missing endpoint: fine. */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_graph_add_edge(tx, g, S("a"), "knows", S("ghost"), NULL), 0);
    mt_check(orbit_graph_del_edge(tx, g, S("a"), "knows", S("ghost")), 0);
    mt_check(orbit_tx_commit(tx), 0);

    /* The endpoint deleted in the same transaction takes the edge with it;
     * the edge added again afterwards fails the commit, and nothing of the
     * transaction is applied. */
    node(g, "c");
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_graph_add_node(tx, g, S("d"), NULL, 0, NULL, 0), 0);
    mt_check(orbit_graph_add_edge(tx, g, S("c"), "likes", S("a"), NULL), 0);
    size_t removed;
    mt_check(orbit_graph_del_node(tx, g, S("a"), &removed), 0);
    assert_int_equal(removed, 2);
    expect_neighbors(g, tx, "c", ORBIT_GRAPH_OUT, NULL, "");
    mt_check(orbit_graph_add_edge(tx, g, S("c"), "likes", S("a"), NULL), 0);
    mt_check(orbit_tx_commit(tx), ORBIT_ECONSTRAINT);
    assert_non_null(
        strstr(orbit_last_error_detail(), "graph social: edge c-likes->a: node 'a' does not exist"));
    orbit_graph_node n;
    mt_check(orbit_graph_get_node(NULL, g, S("a"), &n), 0);
    orbit_graph_node_release(&n);
    mt_check(orbit_graph_get_node(NULL, g, S("d"), &n), ORBIT_NOTFOUND);
    expect_neighbors(g, NULL, "a", ORBIT_GRAPH_OUT, NULL, "b:knows");

    /* A failed edge write inside a transaction leaves it usable. */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_graph_add_edge(tx, g, S("a"), "knows", S("b"), NULL), ORBIT_EEXIST);
    mt_check(orbit_graph_add_edge(tx, g, S("a"), "", S("b"), NULL), ORBIT_EINVAL);
    mt_check(orbit_graph_del_edge(tx, g, S("a"), "zz", S("b")), ORBIT_NOTFOUND);
    mt_check(orbit_graph_add_edge(tx, g, S("b"), "knows", S("a"), NULL), 0);
    mt_check(orbit_tx_commit(tx), 0);
    expect_neighbors(g, NULL, "a", ORBIT_GRAPH_BOTH, NULL, "b:knows b:knows");
    orbit_graph_close(g);

    /* Endpoints as rows of a table of the same actor. */
    orbit_graph_opts go = {0};
    go.endpoint_table = "people";
    mt_check(orbit_graph_create(NULL, a, "byrow", &go, NULL), ORBIT_EINVAL);
    uint64_t tid;
    mt_check(orbit_actor_object_id(a, ORBIT_CATALOG_TABLE, "people", 1, &tid), 0);
    mt_check(orbit_graph_create(NULL, a, "byrow", &go, &g), 0);
    orbit_graph *g2;
    mt_check(orbit_graph_open(NULL, a, "byrow", &g2), 0);
    assert_string_equal(orbit_graph_endpoint_table(g2), "people");
    orbit_graph_close(g2);
    const char *rows[] = {"alice", "bob"};
    orbit_buf key = ORBIT_BUF_INIT, pk = ORBIT_BUF_INIT;
    for (int i = 0; i < 2; i++) {
        pk.len = key.len = 0;
        mt_check(orbit_tuple_str(&pk, rows[i]), 0);
        mt_check(orbit_key_row(&key, orbit_actor_keyspace(a), tid, pk.data, pk.len), 0);
        mt_check(orbit_kv_put(s.kv, key.data, key.len, (const uint8_t *)"row", 3), 0);
    }
    mt_check(orbit_graph_add_edge(NULL, g, S("alice"), "knows", S("bob"), NULL), 0);
    mt_check(orbit_graph_add_edge(NULL, g, S("alice"), "knows", S("carol"), NULL),
             ORBIT_ECONSTRAINT);
    assert_non_null(strstr(orbit_last_error_detail(),
                           "graph byrow: edge alice-knows->carol: row 'carol' of table people "
                           "does not exist"));
    /* The row deleted in the same transaction as the edge is written. */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_graph_add_edge(tx, g, S("bob"), "likes", S("alice"), NULL), 0);
    orbit_txn *t;
    mt_check(orbit_tx_kv_txn(tx, s.kv, "user", "g6", &t), 0);
    mt_check(orbit_txn_del(t, key.data, key.len), 0); /* bob's row */
    mt_check(orbit_tx_commit(tx), ORBIT_ECONSTRAINT);
    assert_non_null(strstr(orbit_last_error_detail(), "row 'bob' of table people"));
    expect_neighbors(g, NULL, "bob", ORBIT_GRAPH_BOTH, NULL, "alice:knows");
    orbit_buf_release(&key);
    orbit_buf_release(&pk);
    orbit_graph_close(g);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- costs ----------------------------------------------------------- */

/* Add edges[i] = {from, to} under rel in transactions of `per` edges. */
static void add_edges(orbit_graph *g, const char (*e)[2][16], size_t n, const char *rel)
{
    for (size_t i = 0; i < n;) {
        orbit_tx *tx;
        mt_check(orbit_tx_begin(NULL, &tx), 0);
        for (size_t k = 0; k < 12 && i < n; k++, i++)
            mt_check(orbit_graph_add_edge(tx, g, S(e[i][0]), rel, S(e[i][1]), NULL), 0);
        mt_check(orbit_tx_commit(tx), 0);
    }
}

static void add_nodes(orbit_graph *g, const char (*ids)[16], size_t n)
{
    for (size_t i = 0; i < n;) {
        orbit_tx *tx;
        mt_check(orbit_tx_begin(NULL, &tx), 0);
        for (size_t k = 0; k < 40 && i < n; k++, i++)
            mt_check(orbit_graph_add_node(tx, g, S(ids[i]), NULL, 0, NULL, 0), 0);
        mt_check(orbit_tx_commit(tx), 0);
    }
}

static void test_costs(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a = open_actor(&s, "g7");
    orbit_graph *g, *noise;
    mt_check(orbit_graph_create(NULL, a, "tree", NULL, &g), 0);
    mt_check(orbit_graph_create(NULL, a, "noise", NULL, &noise), 0);

    /* A tree of fan-out 4 and depth 3 from "r" (85 nodes, 84 edges). */
    static char ids[85][16];
    static char edges[84][2][16];
    size_t nn = 0, ne = 0;
    snprintf(ids[nn++], 16, "r");
    for (size_t i = 0; nn < 85; i++)
        for (int c = 0; c < 4 && nn < 85; c++) {
            size_t len = strlen(ids[i]);
            memcpy(ids[nn], ids[i], len);
            ids[nn][len] = (char)('0' + c);
            ids[nn][len + 1] = '\0';
            memcpy(edges[ne][0], ids[i], 16);
            memcpy(edges[ne][1], ids[nn], 16);
            nn++;
            ne++;
        }
    add_nodes(g, (const char (*)[16])ids, nn);
    add_edges(g, (const char (*)[2][16])edges, ne, "child");
    /* Unrelated data: the same tree in another graph, edges of another
     * relation in this one, and plain keys of the actor. */
    add_nodes(noise, (const char (*)[16])ids, nn);
    add_edges(noise, (const char (*)[2][16])edges, ne, "child");
    static char back[84][2][16];
    for (size_t i = 0; i < ne; i++) {
        memcpy(back[i][0], edges[i][1], 16);
        memcpy(back[i][1], edges[i][0], 16);
    }
    add_edges(g, (const char (*)[2][16])back, 40, "parent");
    orbit_batch *b;
    mt_check(orbit_batch_new(&b), 0);
    for (int i = 0; i < 300; i++) {
        char k[32];
        snprintf(k, sizeof k, "plain%04d", i);
        orbit_buf key = ORBIT_BUF_INIT;
        mt_check(orbit_key_kv(&key, orbit_actor_keyspace(a), k, strlen(k)), 0);
        mt_check(orbit_batch_put(b, key.data, key.len, (const uint8_t *)"v", 1), 0);
        orbit_buf_release(&key);
        if (orbit_batch_count(b) == 100) {
            mt_check(orbit_kv_write(s.kv, b), 0);
            orbit_batch_clear(b);
        }
    }
    orbit_batch_free(b);

    mt_counter c;
    orbit_kv_stats d;
    orbit_graph_list l = {0};

    /* Neighbours: exactly that node's record. */
    mt_stats_reset(s.kv, &c);
    mt_check(orbit_graph_neighbors(NULL, g, S("r"), ORBIT_GRAPH_OUT, NULL, &l), 0);
    d = mt_stats_delta(s.kv, &c);
    assert_int_equal(l.n, 4);
    assert_int_equal(d.read_calls, 1);
    assert_int_equal(d.keys_read, 1);
    assert_int_equal(d.scans, 0);
    mt_stats_reset(s.kv, &c);
    mt_check(orbit_graph_neighbors(NULL, g, S("r1"), ORBIT_GRAPH_BOTH, "child", &l), 0);
    d = mt_stats_delta(s.kv, &c);
    assert_int_equal(l.n, 5);
    assert_int_equal(d.read_calls, 1);
    assert_int_equal(d.keys_read, 2);

    /* Three hops: three read calls, reading the records of 1 + 4 + 16
     * frontier nodes, whatever else the store holds. */
    orbit_graph_hop_opts ho = {0};
    ho.depth = 3;
    ho.rel = "child";
    mt_stats_reset(s.kv, &c);
    mt_check(orbit_graph_traverse(NULL, g, S("r"), &ho, &l), 0);
    d = mt_stats_delta(s.kv, &c);
    assert_int_equal(l.n, 84);
    assert_int_equal(d.read_calls, 3);
    assert_int_equal(d.multi_gets, 3);
    assert_int_equal(d.keys_read, 1 + 4 + 16);
    assert_int_equal(d.scans, 0);
    /* Inside a transaction as well, and both ways (two records a node). */
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    ho.dir = ORBIT_GRAPH_BOTH;
    mt_stats_reset(s.kv, &c);
    mt_check(orbit_graph_traverse(tx, g, S("r1"), &ho, &l), 0);
    d = mt_stats_delta(s.kv, &c);
    assert_true(l.n > 20);
    assert_int_equal(d.read_calls, 3);
    orbit_tx_rollback(tx);

    /* Paths: one call per level (BFS); Dijkstra a few per level. */
    orbit_graph_path_opts po = {0};
    mt_stats_reset(s.kv, &c);
    mt_check(orbit_graph_path(NULL, g, S("r"), S("r123"), &po, &l), 0);
    d = mt_stats_delta(s.kv, &c);
    assert_string_equal(show(&l, 0), "r r1 r12 r123");
    assert_int_equal(d.read_calls, 3);
    po.weighted = 1;
    po.rel = "child";
    mt_stats_reset(s.kv, &c);
    mt_check(orbit_graph_path(NULL, g, S("r"), S("r123"), &po, &l), 0);
    d = mt_stats_delta(s.kv, &c);
    assert_string_equal(show(&l, 0), "r r1 r12 r123");
    assert_true(l.cost == 3);
    assert_true(d.read_calls <= 2 * 3);

    /* Writes: an edge add reads its three keys in one call. */
    node(g, "x");
    mt_stats_reset(s.kv, &c);
    mt_check(orbit_graph_add_edge(NULL, g, S("x"), "child", S("r"), NULL), 0);
    d = mt_stats_delta(s.kv, &c);
    assert_true(d.read_calls <= 1 + 2); /* + the two endpoint checks */
    assert_int_equal(d.puts, 3);
    orbit_graph_list_release(&l);
    orbit_graph_close(g);
    orbit_graph_close(noise);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- randomized, against the oracle ----------------------------------- */

static int oracle_touches(const oracle *o, int x)
{
    for (int r = 0; r < OR; r++)
        for (int y = 0; y < ON; y++)
            if (o->edge[x][r][y] || o->edge[y][r][x])
                return 1;
    return 0;
}

static void random_oracle(size_t page)
{
    ct_store s;
    mt_open(&s);
    orbit_actor *a = open_actor(&s, "g8");
    orbit_graph *g;
    orbit_graph_opts go = {0};
    go.adj_page_bytes = page;
    mt_check(orbit_graph_create(NULL, a, "rnd", &go, &g), 0);
    oracle o, tent;
    memset(&o, 0, sizeof o);
    srand(12345);
    int commits = 0, refused = 0;
    for (int group = 0; group < 60; group++) {
        tent = o;
        orbit_tx *tx;
        mt_check(orbit_tx_begin(NULL, &tx), 0);
        int nops = 1 + rand() % 4;
        for (int k = 0; k < nops; k++) {
            int op = rand() % 10, x = rand() % ON, y = rand() % ON, r = rand() % OR;
            if (op < 3) { /* add node */
                unsigned fl = rand() % 2 ? ORBIT_GRAPH_REPLACE : 0;
                int want = tent.node[x] && !fl ? ORBIT_EEXIST : 0;
                mt_check(orbit_graph_add_node(tx, g, S(oid(x)), NULL, 0, NULL, fl), want);
                tent.node[x] = 1;
            } else if (op < 4) { /* delete node */
                int want = tent.node[x] || oracle_touches(&tent, x) ? 0 : ORBIT_NOTFOUND;
                mt_check(orbit_graph_del_node(tx, g, S(oid(x)), NULL), want);
                tent.node[x] = 0;
                for (int rr = 0; rr < OR; rr++)
                    for (int z = 0; z < ON; z++)
                        tent.edge[x][rr][z] = tent.edge[z][rr][x] = 0;
            } else if (op < 8) { /* add or replace an edge */
                orbit_graph_edge_opts eo = {0};
                eo.set_weight = 1;
                eo.weight = rand() % 5;
                eo.flags = rand() % 2 ? ORBIT_GRAPH_REPLACE : 0;
                int want = tent.edge[x][r][y] && !eo.flags ? ORBIT_EEXIST : 0;
                mt_check(orbit_graph_add_edge(tx, g, S(oid(x)), orels[r], S(oid(y)), &eo), want);
                if (!want) {
                    tent.edge[x][r][y] = 1;
                    tent.w[x][r][y] = eo.weight;
                }
            } else { /* delete an edge */
                int want = tent.edge[x][r][y] ? 0 : ORBIT_NOTFOUND;
                mt_check(orbit_graph_del_edge(tx, g, S(oid(x)), orels[r], S(oid(y))), want);
                tent.edge[x][r][y] = 0;
            }
        }
        /* The commit fails iff an edge is left with a missing endpoint. */
        int bad = 0;
        for (int x = 0; x < ON; x++)
            for (int r = 0; r < OR; r++)
                for (int y = 0; y < ON; y++)
                    if (tent.edge[x][r][y] && (!tent.node[x] || !tent.node[y]))
                        bad = 1;
        mt_check(orbit_tx_commit(tx), bad ? ORBIT_ECONSTRAINT : 0);
        if (!bad) {
            o = tent;
            commits++;
        } else {
            refused++;
        }
        if (group % 20 == 19) {
            for (int x = 0; x < ON; x++) {
                char want[2048];
                oracle_neighbors(&o, x, ORBIT_GRAPH_BOTH, want, sizeof want);
                expect_neighbors(g, NULL, oid(x), ORBIT_GRAPH_BOTH, NULL, want);
            }
        }
    }
    assert_true(commits > 10);
    assert_true(refused > 0);
    compare_with_oracle(g, &o);
    orbit_graph_close(g);
    orbit_actor_close(a);
    mt_close(&s);
}

/* Default pages (every list in its head), and 64-byte pages (a few entries
 * a page: splits, emptied pages, bounds). */
static void test_random_oracle(void **state)
{
    (void)state;
    random_oracle(0);
    random_oracle(64);
}

/* Keys under a prefix (a node's head and its pages). */
static size_t count_prefix(orbit_kv *kv, const orbit_buf *prefix)
{
    orbit_scan_opts so = {0};
    so.prefix = prefix->data;
    so.prefix_len = prefix->len;
    so.keys_only = 1;
    orbit_iter *it;
    mt_check(orbit_kv_iter(kv, NULL, &so, &it), 0);
    size_t n = 0;
    const uint8_t *k, *v;
    size_t kl, vl;
    while (orbit_iter_next(it, &k, &kl, &v, &vl) == 0)
        n++;
    orbit_iter_close(it);
    return n;
}

/* A hub whose lists span many pages: reads stay at one call for the heads
 * and one for the pages, edits touch single pages, emptied pages go. */
static void test_paging(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a = open_actor(&s, "g10");
    orbit_graph *g;
    orbit_graph_opts go = {0};
    go.adj_page_bytes = 8;
    mt_check(orbit_graph_create(NULL, a, "hub", &go, NULL), ORBIT_EINVAL);
    go.adj_page_bytes = 64;
    mt_check(orbit_graph_create(NULL, a, "hub", &go, &g), 0);
    enum { NX = 120 };
    static char xs[NX][8];
    for (int i = 0; i < NX; i++)
        snprintf(xs[i], sizeof xs[i], "x%03d", i);
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_graph_add_node(tx, g, S("h"), NULL, 0, NULL, 0), 0);
    for (int i = 0; i < NX; i++)
        mt_check(orbit_graph_add_node(tx, g, S(xs[i]), NULL, 0, NULL, 0), 0);
    mt_check(orbit_tx_commit(tx), 0);
    /* In a shuffled order, so that pages split everywhere. */
    for (int i = 0; i < NX;) {
        mt_check(orbit_tx_begin(NULL, &tx), 0);
        for (int k = 0; k < 12 && i < NX; k++, i++) {
            int x = (i * 37) % NX;
            char rel[4] = {'r', (char)('0' + x % 3), 0};
            orbit_graph_edge_opts eo = {0};
            eo.set_weight = 1;
            eo.weight = x;
            mt_check(orbit_graph_add_edge(tx, g, S("h"), rel, S(xs[x]), &eo), 0);
            if (x % 4 == 0)
                mt_check(orbit_graph_add_edge(tx, g, S(xs[x]), "b", S("h"), NULL), 0);
        }
        mt_check(orbit_tx_commit(tx), 0);
    }
    orbit_buf hp = ORBIT_BUF_INIT;
    mt_check(orbit_key_adjacency_prefix(&hp, orbit_actor_keyspace(a), orbit_graph_id(g),
                                        ORBIT_EDGE_OUT, "h", 1),
             0);
    size_t pages = count_prefix(s.kv, &hp);
    assert_true(pages > 10);

    orbit_graph_list l = {0};
    mt_counter c;
    mt_stats_reset(s.kv, &c);
    mt_check(orbit_graph_neighbors(NULL, g, S("h"), ORBIT_GRAPH_OUT, NULL, &l), 0);
    orbit_kv_stats d = mt_stats_delta(s.kv, &c);
    assert_int_equal(l.n, NX);
    assert_int_equal(d.read_calls, 2);
    assert_int_equal(d.keys_read, pages);
    for (size_t i = 0; i < l.n; i++) {
        int x = (int)(i / 40) + 3 * (int)(i % 40); /* r0: 0,3,6..; r1: 1,4,..; r2 */
        char want[8];
        snprintf(want, sizeof want, "x%03d", x);
        assert_int_equal(l.items[i].id_len, 4);
        assert_memory_equal(l.items[i].id, want, 4);
        assert_true(l.items[i].rel[1] == '0' + x % 3);
        assert_true(l.items[i].weight == x);
    }
    /* One relation: only the pages that may hold it. */
    mt_stats_reset(s.kv, &c);
    mt_check(orbit_graph_neighbors(NULL, g, S("h"), ORBIT_GRAPH_OUT, "r1", &l), 0);
    d = mt_stats_delta(s.kv, &c);
    assert_int_equal(l.n, NX / 3);
    assert_true(d.read_calls <= 2);
    assert_true(d.keys_read < pages);
    expect_neighbors(g, NULL, "h", ORBIT_GRAPH_IN, NULL,
                     "x000:b x004:b x008:b x012:b x016:b x020:b x024:b x028:b x032:b x036:b "
                     "x040:b x044:b x048:b x052:b x056:b x060:b x064:b x068:b x072:b x076:b "
                     "x080:b x084:b x088:b x092:b x096:b x100:b x104:b x108:b x112:b x116:b");
    /* Two hops both ways: all x, read with two calls per hop at most. */
    orbit_graph_hop_opts ho = {0};
    ho.dir = ORBIT_GRAPH_BOTH;
    ho.depth = 2;
    mt_stats_reset(s.kv, &c);
    mt_check(orbit_graph_traverse(NULL, g, S("h"), &ho, &l), 0);
    d = mt_stats_delta(s.kv, &c);
    assert_int_equal(l.n, NX);
    assert_true(d.read_calls <= 2 * 2);
    /* Weighted path through the pages. */
    orbit_graph_path_opts po = {0};
    po.weighted = 1;
    mt_check(orbit_graph_path(NULL, g, S("h"), S("x119"), &po, &l), 0);
    assert_true(l.cost == 119);

    /* Deleting every edge of one relation empties (and deletes) pages. */
    for (int x = 0; x < NX;) {
        mt_check(orbit_tx_begin(NULL, &tx), 0);
        for (int k = 0; k < 12 && x < NX; k++, x += 3)
            mt_check(orbit_graph_del_edge(tx, g, S("h"), "r0", S(xs[x])), 0);
        mt_check(orbit_tx_commit(tx), 0);
    }
    size_t pages2 = count_prefix(s.kv, &hp);
    assert_true(pages2 < pages);
    mt_check(orbit_graph_neighbors(NULL, g, S("h"), ORBIT_GRAPH_OUT, "r0", &l), 0);
    assert_int_equal(l.n, 0);
    mt_check(orbit_graph_neighbors(NULL, g, S("h"), ORBIT_GRAPH_OUT, NULL, &l), 0);
    assert_int_equal(l.n, NX - NX / 3);
    /* The other relations too: the out-list goes entirely. (Deleting a
     * node writes two keys per edge, and etcd takes 126 a transaction.) */
    for (int x = 0; x < NX;) {
        mt_check(orbit_tx_begin(NULL, &tx), 0);
        for (int k = 0; k < 12 && x < NX; k++, x++)
            if (x % 3)
                mt_check(orbit_graph_del_edge(tx, g, S("h"), x % 3 == 1 ? "r1" : "r2",
                                              S(xs[x])),
                         0);
        mt_check(orbit_tx_commit(tx), 0);
    }
    assert_int_equal(count_prefix(s.kv, &hp), 0);
    /* Deleting the hub removes every edge and every page of its lists. */
    orbit_buf ip = ORBIT_BUF_INIT;
    mt_check(orbit_key_adjacency_prefix(&ip, orbit_actor_keyspace(a), orbit_graph_id(g),
                                        ORBIT_EDGE_IN, "h", 1),
             0);
    assert_true(count_prefix(s.kv, &ip) > 2);
    size_t removed;
    mt_check(orbit_graph_del_node(NULL, g, S("h"), &removed), 0);
    assert_int_equal(removed, NX / 4);
    assert_int_equal(count_prefix(s.kv, &ip), 0);
    orbit_buf_release(&ip);
    for (int x = 0; x < NX; x++) {
        mt_check(orbit_graph_neighbors(NULL, g, S(xs[x]), ORBIT_GRAPH_BOTH, NULL, &l), 0);
        assert_int_equal(l.n, 0);
    }
    orbit_buf_release(&hp);
    orbit_graph_list_release(&l);
    orbit_graph_close(g);
    orbit_actor_close(a);
    mt_close(&s);
}


/* ---- concurrency ------------------------------------------------------ */

/* Several threads add edges into one hub node (every one rewrites the
 * hub's in-record: conflicts, retried), while another deletes and re-adds
 * a node others keep linking to. Afterwards no edge is lost, none dangles,
 * and every out entry has its in entry and the reverse. */
#define CT 3
#define CK 8

typedef struct conc_arg {
    orbit_graph *g;
    int thread;
    int done, refused;
    int fail; /* an unexpected code */
} conc_arg;

typedef struct conc_op {
    orbit_graph *g;
    char from[16], to[16];
    const char *rel;
    int del; /* delete then add the node `to` */
} conc_op;

static int conc_fn(orbit_tx *tx, void *arg)
{
    conc_op *o = arg;
    if (o->del) {
        int rc = orbit_graph_del_node(tx, o->g, S(o->to), NULL);
        if (rc < 0)
            return rc;
        return 0;
    }
    return orbit_graph_add_edge(tx, o->g, S(o->from), o->rel, S(o->to), NULL);
}

static void *conc_thread(void *p)
{
    conc_arg *c = p;
    for (int j = 0; j < CK; j++) {
        conc_op o = {0};
        o.g = c->g;
        snprintf(o.from, sizeof o.from, "p%d_%d", c->thread, j);
        if (c->thread == CT) { /* the deleter: v goes and comes back */
            snprintf(o.to, sizeof o.to, "v");
            o.del = 1;
            int rc = orbit_tx_run(NULL, 200, conc_fn, &o);
            int rc2 = orbit_graph_add_node(NULL, c->g, S("v"), NULL, 0, NULL, ORBIT_GRAPH_REPLACE);
            if (rc || rc2)
                c->fail = rc ? rc : rc2;
            continue;
        }
        snprintf(o.to, sizeof o.to, "h");
        o.rel = "hub";
        int rc = orbit_tx_run(NULL, 200, conc_fn, &o);
        if (rc) {
            c->fail = rc;
            continue;
        }
        c->done++;
        snprintf(o.to, sizeof o.to, "v");
        o.rel = "vee";
        rc = orbit_tx_run(NULL, 200, conc_fn, &o);
        if (rc == ORBIT_ECONSTRAINT)
            c->refused++;
        else if (rc)
            c->fail = rc;
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a = open_actor(&s, "g9");
    orbit_graph *g;
    mt_check(orbit_graph_create(NULL, a, "c", NULL, &g), 0);
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_graph_add_node(tx, g, S("h"), NULL, 0, NULL, 0), 0);
    mt_check(orbit_graph_add_node(tx, g, S("v"), NULL, 0, NULL, 0), 0);
    mt_check(orbit_tx_commit(tx), 0);
    for (int t = 0; t < CT; t++) {
        mt_check(orbit_tx_begin(NULL, &tx), 0);
        for (int j = 0; j < CK; j++) {
            char id[16];
            snprintf(id, sizeof id, "p%d_%d", t, j);
            mt_check(orbit_graph_add_node(tx, g, S(id), NULL, 0, NULL, 0), 0);
        }
        mt_check(orbit_tx_commit(tx), 0);
    }
    pthread_t th[CT + 1];
    conc_arg ca[CT + 1];
    for (int t = 0; t <= CT; t++) {
        ca[t] = (conc_arg){g, t, 0, 0, 0};
        assert_int_equal(pthread_create(&th[t], NULL, conc_thread, &ca[t]), 0);
    }
    for (int t = 0; t <= CT; t++) {
        pthread_join(th[t], NULL);
        mt_check(ca[t].fail, 0);
    }
    /* Every hub edge is there, on both sides. */
    orbit_graph_list l = {0}, m = {0};
    mt_check(orbit_graph_neighbors(NULL, g, S("h"), ORBIT_GRAPH_IN, NULL, &l), 0);
    assert_int_equal(l.n, CT * CK);
    /* v's edges: each in entry has its out entry and the reverse. */
    mt_check(orbit_graph_neighbors(NULL, g, S("v"), ORBIT_GRAPH_IN, NULL, &l), 0);
    size_t vin = l.n, vout = 0;
    for (size_t i = 0; i < l.n; i++) {
        mt_check(orbit_graph_neighbors(NULL, g, l.items[i].id, l.items[i].id_len, ORBIT_GRAPH_OUT,
                                       "vee", &m),
                 0);
        assert_int_equal(m.n, 1);
    }
    for (int t = 0; t < CT; t++)
        for (int j = 0; j < CK; j++) {
            char id[16];
            snprintf(id, sizeof id, "p%d_%d", t, j);
            mt_check(orbit_graph_neighbors(NULL, g, S(id), ORBIT_GRAPH_OUT, NULL, &m), 0);
            assert_true(m.n >= 1 && m.n <= 2);
            assert_string_equal(m.items[0].rel, "hub");
            vout += m.n - 1;
        }
    assert_int_equal(vin, vout);
    orbit_graph_node n;
    mt_check(orbit_graph_get_node(NULL, g, S("v"), &n), 0);
    orbit_graph_node_release(&n);
    orbit_graph_list_release(&l);
    orbit_graph_list_release(&m);
    orbit_graph_close(g);
    orbit_actor_close(a);
    mt_close(&s);
}

/* A stored record that fails verification is ECORRUPT naming its key, and
 * a write that meets it changes nothing. */
static void test_corrupt(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a = open_actor(&s, "g11");
    orbit_graph *g;
    mt_check(orbit_graph_create(NULL, a, "c", NULL, &g), 0);
    node(g, "a");
    node(g, "b");
    mt_check(orbit_graph_add_edge(NULL, g, S("a"), "r", S("b"), NULL), 0);
    orbit_buf k = ORBIT_BUF_INIT;
    mt_check(orbit_key_adjacency_prefix(&k, orbit_actor_keyspace(a), orbit_graph_id(g),
                                        ORBIT_EDGE_OUT, "a", 1),
             0);
    mt_check(orbit_kv_put(s.kv, k.data, k.len, (const uint8_t *)"garbage", 7), 0);
    orbit_graph_list l = {0};
    mt_check(orbit_graph_neighbors(NULL, g, S("a"), ORBIT_GRAPH_OUT, NULL, &l), ORBIT_ECORRUPT);
    assert_non_null(strstr(orbit_last_error_detail(), "grp"));
    assert_int_equal(l.n, 0);
    mt_check(orbit_graph_add_edge(NULL, g, S("a"), "r", S("a"), NULL), ORBIT_ECORRUPT);
    mt_check(orbit_graph_del_node(NULL, g, S("a"), NULL), ORBIT_ECORRUPT);
    orbit_graph_edge e;
    mt_check(orbit_graph_get_edge(NULL, g, S("a"), "r", S("a"), &e), ORBIT_NOTFOUND);
    mt_check(orbit_graph_get_edge(NULL, g, S("a"), "r", S("b"), &e), 0);
    orbit_graph_edge_release(&e);
    expect_neighbors(g, NULL, "b", ORBIT_GRAPH_IN, NULL, "a:r");
    orbit_graph_hop_opts ho = {0};
    ho.dir = ORBIT_GRAPH_IN;
    ho.depth = 2;
    mt_check(orbit_graph_traverse(NULL, g, S("b"), &ho, &l), 0);
    ho.dir = ORBIT_GRAPH_BOTH;
    mt_check(orbit_graph_traverse(NULL, g, S("b"), &ho, &l), ORBIT_ECORRUPT);
    orbit_buf_release(&k);
    orbit_graph_list_release(&l);
    orbit_graph_close(g);
    orbit_actor_close(a);
    mt_close(&s);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graph_and_nodes),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_in_transaction),
        cmocka_unit_test(test_traverse),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_constraints),
        cmocka_unit_test(test_costs),
        cmocka_unit_test(test_random_oracle),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_paging),
        cmocka_unit_test(test_corrupt),
    };
    return mt_main(argc, argv, tests, sizeof tests / sizeof tests[0]);
}
