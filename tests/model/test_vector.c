/*
 * The vector model (orbit/vector.h) on every provider: collections and
 * their definition, put/get/delete with metadata, refused input (wrong
 * dimension, NaN, infinity, zero vectors under cosine), exact top-k search
 * checked against a brute-force computation for each metric, ties, the
 * metadata filter, dimension consistency at commit, batch puts, and costs
 * on a store holding much more unrelated data.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt.h"
#include "orbit/provider.h"
#include "orbit/vector.h"

#define S(x) (x), strlen(x)

static int is_etcd(const orbit_kv *kv)
{
    orbit_capabilities caps;
    orbit_kv_capabilities(kv, &caps);
    return strcmp(caps.name, "etcd") == 0;
}

static uint64_t rng_state;
static double rnd01(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static orbit_vec_coll *mk(orbit_actor *a, const char *name, uint32_t dim, orbit_vec_metric m)
{
    orbit_vec_coll *c = NULL;
    mt_check(orbit_vec_coll_create(a, name, dim, m), 0);
    mt_check(orbit_vec_coll_open(a, name, &c), 0);
    return c;
}

static void test_collections(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "ml", "team", &a), 0);
    orbit_vec_coll *c = NULL;
    mt_check(orbit_vec_coll_open(a, "emb", &c), ORBIT_NOTFOUND);
    mt_check(orbit_vec_coll_create(a, "emb", 0, ORBIT_VEC_L2), ORBIT_EINVAL);
    mt_check(orbit_vec_coll_create(a, "emb", ORBIT_VEC_DIM_MAX + 1, ORBIT_VEC_L2), ORBIT_EINVAL);
    mt_check(orbit_vec_coll_create(a, "emb", 4, (orbit_vec_metric)9), ORBIT_EINVAL);
    c = mk(a, "emb", 4, ORBIT_VEC_COSINE);
    mt_check(orbit_vec_coll_create(a, "emb", 4, ORBIT_VEC_COSINE), ORBIT_EEXIST);
    assert_int_equal(orbit_vec_coll_dim(c), 4);
    assert_int_equal(orbit_vec_coll_metric(c), ORBIT_VEC_COSINE);
    orbit_vec_metric m;
    mt_check(orbit_vec_metric_parse("IP", &m), 0);
    assert_int_equal(m, ORBIT_VEC_IP);
    mt_check(orbit_vec_metric_parse("dot", &m), ORBIT_EINVAL);
    assert_string_equal(orbit_vec_metric_name(ORBIT_VEC_L2), "l2");

    float v[4] = {1, 2, 3, 4};
    mt_check(orbit_vec_put(NULL, c, S("a"), v, 4, NULL, 0), 0);
    mt_check(orbit_vec_put(NULL, c, S("b"), v, 4, NULL, 0), 0);
    orbit_vec_info info;
    mt_check(orbit_vec_coll_info(NULL, c, &info), 0);
    assert_int_equal(info.dim, 4);
    assert_int_equal(info.metric, ORBIT_VEC_COSINE);
    assert_int_equal(info.count, 2);

    mt_check(orbit_vec_coll_drop(NULL, a, "emb"), 0);
    mt_check(orbit_vec_coll_drop(NULL, a, "emb"), ORBIT_NOTFOUND);
    mt_check(orbit_vec_coll_info(NULL, c, &info), ORBIT_NOTFOUND);
    orbit_vec_coll_close(c);
    c = mk(a, "emb", 8, ORBIT_VEC_L2);
    mt_check(orbit_vec_coll_info(NULL, c, &info), 0);
    assert_int_equal(info.count, 0);
    assert_int_equal(info.dim, 8);
    orbit_vec_coll_close(c);
    orbit_actor_close(a);
    mt_close(&s);
}

static void test_put_get_delete(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "ml", "team", &a), 0);
    orbit_vec_coll *c = mk(a, "v", 3, ORBIT_VEC_COSINE);
    float v[3] = {0.5f, -1.25f, 3e-8f};
    mt_check(orbit_vec_put(NULL, c, S("x"), v, 3, S("{\"genre\": \"jazz\", \"y\": 1999}")), 0);
    orbit_buf vb = ORBIT_BUF_INIT, mb = ORBIT_BUF_INIT;
    mt_check(orbit_vec_get(NULL, c, S("x"), &vb, &mb), 0);
    assert_int_equal(vb.len, 3 * sizeof(float));
    assert_memory_equal(vb.data, v, sizeof v);
    assert_string_equal((char *)mb.data, "{\"genre\":\"jazz\",\"y\":1999}");
    mt_check(orbit_vec_get(NULL, c, S("nope"), &vb, &mb), ORBIT_NOTFOUND);
    assert_int_equal(vb.len, 0);

    /* refused input: nothing written */
    float w[4] = {1, 2, 3, 4};
    mt_check(orbit_vec_put(NULL, c, S("x"), w, 4, NULL, 0), ORBIT_EINVAL);
    assert_non_null(strstr(orbit_last_error_detail(), "dimension 3"));
    assert_non_null(strstr(orbit_last_error_detail(), "has 4"));
    float bad[3] = {1, NAN, 0};
    mt_check(orbit_vec_put(NULL, c, S("x"), bad, 3, NULL, 0), ORBIT_EINVAL);
    assert_non_null(strstr(orbit_last_error_detail(), "NaN"));
    bad[1] = INFINITY;
    mt_check(orbit_vec_put(NULL, c, S("x"), bad, 3, NULL, 0), ORBIT_EINVAL);
    float zero[3] = {0, 0, 0};
    mt_check(orbit_vec_put(NULL, c, S("x"), zero, 3, NULL, 0), ORBIT_EINVAL);
    mt_check(orbit_vec_put(NULL, c, S("x"), v, 3, S("{bad")), ORBIT_EINVAL);
    mt_check(orbit_vec_put(NULL, c, S("x"), v, 3, S("[1]")), ORBIT_EINVAL);
    mt_check(orbit_vec_put(NULL, c, "", 0, v, 3, NULL, 0), ORBIT_EINVAL);
    mt_check(orbit_vec_get(NULL, c, S("x"), &vb, &mb), 0);
    assert_memory_equal(vb.data, v, sizeof v);

    /* in a transaction: errors leave it usable; rollback leaves nothing */
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_vec_put(tx, c, S("t"), w, 4, NULL, 0), ORBIT_EINVAL);
    mt_check(orbit_vec_put(tx, c, S("t"), v, 3, NULL, 0), 0);
    mt_check(orbit_vec_get(tx, c, S("t"), &vb, NULL), 0);
    orbit_tx_rollback(tx);
    mt_check(orbit_vec_get(NULL, c, S("t"), &vb, NULL), ORBIT_NOTFOUND);

    /* batch: one bad item refuses all */
    orbit_vec_item items[3] = {
        {"b1", 2, v, 3, NULL, 0}, {"b2", 2, w, 4, NULL, 0}, {"b3", 2, v, 3, "{}", 2}};
    mt_check(orbit_vec_put_many(NULL, c, 3, items), ORBIT_EINVAL);
    assert_non_null(strstr(orbit_last_error_detail(), "item 1"));
    mt_check(orbit_vec_get(NULL, c, S("b1"), &vb, NULL), ORBIT_NOTFOUND);
    items[1].v = v;
    items[1].dim = 3;
    mt_check(orbit_vec_put_many(NULL, c, 3, items), 0);
    mt_check(orbit_vec_get(NULL, c, S("b3"), &vb, &mb), 0);
    assert_int_equal(mb.len, 2);

    mt_check(orbit_vec_delete(NULL, c, S("x")), 0);
    mt_check(orbit_vec_delete(NULL, c, S("x")), ORBIT_NOTFOUND);
    mt_check(orbit_vec_get(NULL, c, S("x"), &vb, &mb), ORBIT_NOTFOUND);
    orbit_buf_release(&vb);
    orbit_buf_release(&mb);
    orbit_vec_coll_close(c);
    orbit_actor_close(a);
    mt_close(&s);
}

/* ---- search against brute force ------------------------------------- */

static double brute(orbit_vec_metric m, const float *q, const float *v, uint32_t d)
{
    double ab = 0, aa = 0, bb = 0, l2 = 0;
    for (uint32_t i = 0; i < d; i++) {
        ab += (double)q[i] * v[i];
        aa += (double)q[i] * q[i];
        bb += (double)v[i] * v[i];
        l2 += ((double)q[i] - v[i]) * ((double)q[i] - v[i]);
    }
    if (m == ORBIT_VEC_L2)
        return l2;
    if (m == ORBIT_VEC_IP)
        return ab;
    return 1 - ab / (sqrt(aa) * sqrt(bb));
}

/* badness: lower is better */
static double badness(orbit_vec_metric m, double score) { return m == ORBIT_VEC_IP ? -score : score; }

static void check_hits(orbit_vec_metric m, const float *q, const float *vecs, int n, uint32_t d,
                       const int *eligible, const orbit_vec_hit *h, size_t nh, size_t k)
{
    int n_elig = 0;
    for (int i = 0; i < n; i++)
        n_elig += eligible[i];
    assert_int_equal(nh, (size_t)n_elig < k ? (size_t)n_elig : k);
    const double tol = 1e-4;
    double worst = -INFINITY;
    char *seen = calloc((size_t)n, 1);
    for (size_t j = 0; j < nh; j++) {
        char idz[16] = "";
        assert_true(h[j].idlen < sizeof idz);
        memcpy(idz, h[j].id, h[j].idlen);
        int i = atoi(idz + 1); /* ids "v%04d" */
        assert_true(i >= 0 && i < n && eligible[i] && !seen[i]);
        seen[i] = 1;
        double want = brute(m, q, vecs + (size_t)i * d, d);
        assert_true(fabs(h[j].score - want) <= tol * (1 + fabs(want)));
        double b = badness(m, h[j].score);
        if (j)
            assert_true(b >= badness(m, h[j - 1].score));
        worst = b;
    }
    /* nothing left out is better than the worst hit (beyond rounding) */
    for (int i = 0; nh == k && i < n; i++) {
        if (!eligible[i] || seen[i])
            continue;
        double b = badness(m, brute(m, q, vecs + (size_t)i * d, d));
        assert_true(b >= worst - tol * (1 + fabs(worst)));
    }
    free(seen);
}

static void test_search_brute_force(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    int small = is_etcd(s.kv);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "ml", "team", &a), 0);
    const uint32_t d = 13; /* not a multiple of 8: the tail loop runs */
    const int n = small ? 60 : 300;
    float *vecs = malloc(sizeof(float) * d * (size_t)n);
    int *elig = malloc(sizeof(int) * (size_t)n), *elig_f = malloc(sizeof(int) * (size_t)n);
    rng_state = 7;
    for (size_t i = 0; i < d * (size_t)n; i++)
        vecs[i] = (float)(rnd01() * 2 - 1);
    static const char *const genres[] = {"jazz", "rock", "pop"};
    for (int m = ORBIT_VEC_L2; m <= ORBIT_VEC_IP; m++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", m);
        orbit_vec_coll *c = mk(a, name, d, (orbit_vec_metric)m);
        orbit_vec_item *items = calloc((size_t)n, sizeof *items);
        char (*ids)[16] = calloc((size_t)n, 16);
        char (*meta)[48] = calloc((size_t)n, 48);
        for (int i = 0; i < n; i++) {
            snprintf(ids[i], 16, "v%04d", i % 10000);
            snprintf(meta[i], 48, "{\"genre\":\"%s\",\"n\":{\"k\":%d}}", genres[i % 3], i % 2);
            items[i] = (orbit_vec_item){ids[i], 5, vecs + (size_t)i * d, d, meta[i],
                                        strlen(meta[i])};
            if (i % 10 == 9)
                items[i].meta = NULL; /* some without metadata */
            elig[i] = 1;
            elig_f[i] = items[i].meta && i % 3 == 1;
        }
        for (int i = 0; i < n; i += 50) /* etcd: bounded transactions */
            mt_check(orbit_vec_put_many(NULL, c, n - i < 50 ? (size_t)(n - i) : 50, items + i), 0);
        for (int t = 0; t < 4; t++) {
            float q[13];
            for (uint32_t j = 0; j < d; j++)
                q[j] = (float)(rnd01() * 2 - 1);
            size_t k = t == 3 ? (size_t)n + 5 : (size_t)(1 + t * 7);
            orbit_vec_search_opts o = {0};
            o.k = k;
            orbit_vec_hit *h = NULL;
            size_t nh = 0;
            mt_check(orbit_vec_search(NULL, c, q, d, &o, &h, &nh), 0);
            check_hits((orbit_vec_metric)m, q, vecs, n, d, elig, h, nh, k);
            orbit_vec_hits_free(h, nh);
            /* filtered */
            o.filter_path = "genre";
            o.filter_value = "\"rock\"";
            o.filter_value_len = 6;
            o.with_meta = 1;
            mt_check(orbit_vec_search(NULL, c, q, d, &o, &h, &nh), 0);
            check_hits((orbit_vec_metric)m, q, vecs, n, d, elig_f, h, nh, k);
            for (size_t j = 0; j < nh; j++)
                assert_non_null(strstr(h[j].meta, "\"rock\""));
            orbit_vec_hits_free(h, nh);
        }
        free(items);
        free(ids);
        free(meta);
        orbit_vec_coll_close(c);
    }
    free(vecs);
    free(elig);
    free(elig_f);
    orbit_actor_close(a);
    mt_close(&s);
}

static void test_search_details(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "ml", "team", &a), 0);
    orbit_vec_coll *c = mk(a, "t", 2, ORBIT_VEC_L2);
    float same[2] = {1, 1}, far[2] = {5, 5}, q[2] = {1, 1};
    mt_check(orbit_vec_put(NULL, c, S("b"), same, 2, S("{\"a\":{\"b\":[1,2]}}")), 0);
    mt_check(orbit_vec_put(NULL, c, S("a"), same, 2, S("{\"a\":{\"b\":[1,3]}}")), 0);
    mt_check(orbit_vec_put(NULL, c, S("c"), same, 2, NULL, 0), 0);
    mt_check(orbit_vec_put(NULL, c, S("0"), far, 2, S("{\"a\":{\"b\":[1,2]}}")), 0);
    orbit_vec_search_opts o = {0};
    o.k = 3;
    orbit_vec_hit *h;
    size_t nh;
    mt_check(orbit_vec_search(NULL, c, q, 2, &o, &h, &nh), 0);
    /* ties broken by id */
    assert_int_equal(nh, 3);
    assert_memory_equal(h[0].id, "a", 1);
    assert_memory_equal(h[1].id, "b", 1);
    assert_memory_equal(h[2].id, "c", 1);
    assert_true(h[0].score == 0.0);
    assert_null(h[0].meta);
    orbit_vec_hits_free(h, nh);
    o.filter_path = "$.a.b[1]";
    o.filter_value = "2";
    o.filter_value_len = 1;
    mt_check(orbit_vec_search(NULL, c, q, 2, &o, &h, &nh), 0);
    assert_int_equal(nh, 2);
    assert_memory_equal(h[0].id, "b", 1);
    assert_memory_equal(h[1].id, "0", 1);
    assert_true(fabs(h[1].score - 32.0) < 1e-6); /* squared L2 */
    orbit_vec_hits_free(h, nh);

    /* refused queries */
    float q3[3] = {1, 2, 3};
    mt_check(orbit_vec_search(NULL, c, q3, 3, &o, &h, &nh), ORBIT_EINVAL);
    assert_non_null(strstr(orbit_last_error_detail(), "dimension 2"));
    float qn[2] = {NAN, 1};
    mt_check(orbit_vec_search(NULL, c, qn, 2, &o, &h, &nh), ORBIT_EINVAL);
    o.filter_path = "$.a[*]";
    mt_check(orbit_vec_search(NULL, c, q, 2, &o, &h, &nh), ORBIT_EINVAL);
    o.filter_path = "a";
    o.filter_value = "{bad";
    o.filter_value_len = 4;
    mt_check(orbit_vec_search(NULL, c, q, 2, &o, &h, &nh), ORBIT_EINVAL);
    o.filter_path = NULL;
    o.k = 0;
    mt_check(orbit_vec_search(NULL, c, q, 2, &o, &h, &nh), ORBIT_EINVAL);

    /* inside a transaction a search sees its writes */
    o.k = 10;
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_vec_put(tx, c, S("n"), q, 2, NULL, 0), 0);
    mt_check(orbit_vec_delete(tx, c, S("0")), 0);
    mt_check(orbit_vec_search(tx, c, q, 2, &o, &h, &nh), 0);
    assert_int_equal(nh, 4);
    orbit_vec_hits_free(h, nh);
    mt_check(orbit_tx_commit(tx), 0);

    /* cosine and inner product scores */
    orbit_vec_coll *cc = mk(a, "cos", 2, ORBIT_VEC_COSINE), *ip = mk(a, "ip", 2, ORBIT_VEC_IP);
    float x[2] = {1, 0}, y[2] = {0, 3}, mx[2] = {-2, 0};
    mt_check(orbit_vec_put(NULL, cc, S("x"), x, 2, NULL, 0), 0);
    mt_check(orbit_vec_put(NULL, cc, S("y"), y, 2, NULL, 0), 0);
    mt_check(orbit_vec_put(NULL, cc, S("mx"), mx, 2, NULL, 0), 0);
    mt_check(orbit_vec_put(NULL, ip, S("x"), x, 2, NULL, 0), 0);
    mt_check(orbit_vec_put(NULL, ip, S("y"), y, 2, NULL, 0), 0);
    mt_check(orbit_vec_put(NULL, ip, S("mx"), mx, 2, NULL, 0), 0);
    float qq[2] = {2, 0};
    mt_check(orbit_vec_search(NULL, cc, qq, 2, &o, &h, &nh), 0);
    assert_int_equal(nh, 3);
    assert_memory_equal(h[0].id, "x", 1);
    assert_true(fabs(h[0].score) < 1e-6);
    assert_true(fabs(h[1].score - 1) < 1e-6);
    assert_true(fabs(h[2].score - 2) < 1e-6);
    orbit_vec_hits_free(h, nh);
    float zq[2] = {0, 0};
    mt_check(orbit_vec_search(NULL, cc, zq, 2, &o, &h, &nh), ORBIT_EINVAL);
    mt_check(orbit_vec_search(NULL, ip, qq, 2, &o, &h, &nh), 0);
    assert_memory_equal(h[0].id, "x", 1);
    assert_true(fabs(h[0].score - 2) < 1e-6);
    assert_memory_equal(h[1].id, "y", 1);
    assert_memory_equal(h[2].id, "mx", 2);
    assert_true(fabs(h[2].score + 4) < 1e-6);
    orbit_vec_hits_free(h, nh);
    orbit_vec_coll_close(cc);
    orbit_vec_coll_close(ip);
    orbit_vec_coll_close(c);
    orbit_actor_close(a);
    mt_close(&s);
}

/* Item 6: a collection dropped, or dropped and created with another
 * dimension, while a transaction writes to it fails that commit. */
static void test_dimension_consistency_at_commit(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "ml", "team", &a), 0);
    orbit_vec_coll *c = mk(a, "e", 4, ORBIT_VEC_L2);
    float v4[4] = {1, 2, 3, 4};
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_vec_put(tx, c, S("x"), v4, 4, NULL, 0), 0);
    mt_check(orbit_vec_coll_drop(NULL, a, "e"), 0);
    mt_check(orbit_vec_coll_create(a, "e", 8, ORBIT_VEC_COSINE), 0);
    mt_check(orbit_tx_commit(tx), ORBIT_ECONSTRAINT);
    assert_non_null(strstr(orbit_last_error_detail(),
                           "collection 'e' is dim 8 cosine, the transaction wrote dim 4 l2"));
    /* nothing applied, and the handle now knows the new definition */
    assert_int_equal(orbit_vec_coll_dim(c), 8);
    orbit_buf vb = ORBIT_BUF_INIT;
    mt_check(orbit_vec_get(NULL, c, S("x"), &vb, NULL), ORBIT_NOTFOUND);
    mt_check(orbit_vec_put(NULL, c, S("x"), v4, 4, NULL, 0), ORBIT_EINVAL);

    /* dropped only */
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    float v8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    mt_check(orbit_vec_put(tx, c, S("y"), v8, 8, NULL, 0), 0);
    mt_check(orbit_vec_coll_drop(NULL, a, "e"), 0);
    mt_check(orbit_tx_commit(tx), ORBIT_ECONSTRAINT);
    assert_non_null(strstr(orbit_last_error_detail(), "dropped"));
    mt_check(orbit_vec_put(NULL, c, S("y"), v8, 8, NULL, 0), ORBIT_NOTFOUND);

    /* an unchanged collection commits */
    orbit_vec_coll *c2 = mk(a, "f", 8, ORBIT_VEC_L2);
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_vec_put(tx, c2, S("y"), v8, 8, NULL, 0), 0);
    mt_check(orbit_vec_put(tx, c2, S("z"), v8, 8, NULL, 0), 0);
    mt_check(orbit_tx_commit(tx), 0);
    mt_check(orbit_vec_get(NULL, c2, S("z"), &vb, NULL), 0);
    orbit_buf_release(&vb);
    orbit_vec_coll_close(c2);
    orbit_vec_coll_close(c);
    orbit_actor_close(a);
    mt_close(&s);
}

static void test_costs(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    int small = is_etcd(s.kv);
    orbit_actor *a, *b;
    mt_check(orbit_actor_open(s.kv, "ml", "a", &a), 0);
    mt_check(orbit_actor_open(s.kv, "ml", "b", &b), 0);
    const uint32_t d = 16;
    orbit_vec_coll *c = mk(a, "mine", d, ORBIT_VEC_L2), *other = mk(a, "other", d, ORBIT_VEC_L2),
                   *far = mk(b, "mine", d, ORBIT_VEC_L2);
    float v[16];
    char id[16];
    int n_other = small ? 100 : 1000, n = 30;
    orbit_vec_coll *fill[2] = {other, far};
    for (int f = 0; f < 2; f++) {
        for (int i = 0; i < n_other; i += 50) {
            orbit_tx *tx;
            mt_check(orbit_tx_begin(NULL, &tx), 0);
            for (int j = i; j < i + 50 && j < n_other; j++) {
                for (uint32_t k = 0; k < d; k++)
                    v[k] = (float)(j + k);
                snprintf(id, sizeof id, "o%05d", j);
                mt_check(orbit_vec_put(tx, fill[f], S(id), v, d, NULL, 0), 0);
            }
            mt_check(orbit_tx_commit(tx), 0);
        }
    }
    for (int i = 0; i < (small ? 50 : 1000); i++) {
        snprintf(id, sizeof id, "plain%05d", i);
        mt_check(orbit_kv_put(s.kv, (const uint8_t *)id, strlen(id), (const uint8_t *)"v", 1), 0);
    }
    for (int i = 0; i < n; i++) {
        for (uint32_t k = 0; k < d; k++)
            v[k] = (float)(i * k);
        snprintf(id, sizeof id, "m%03d", i);
        mt_check(orbit_vec_put(NULL, c, S(id), v, d, S("{\"p\":1}")), 0);
    }
    mt_counter m;
    orbit_buf vb = ORBIT_BUF_INIT;
    mt_stats_reset(s.kv, &m);
    mt_check(orbit_vec_get(NULL, c, S("m007"), &vb, NULL), 0);
    orbit_kv_stats st = mt_stats_delta(s.kv, &m);
    assert_int_equal(st.keys_read, 1);
    assert_int_equal(st.read_calls, 1);

    /* search: the meta record, then exactly this collection's vectors in one scan */
    orbit_vec_search_opts o = {0};
    o.k = 5;
    orbit_vec_hit *h;
    size_t nh;
    mt_stats_reset(s.kv, &m);
    mt_check(orbit_vec_search(NULL, c, v, d, &o, &h, &nh), 0);
    st = mt_stats_delta(s.kv, &m);
    assert_int_equal(nh, 5);
    orbit_vec_hits_free(h, nh);
    assert_int_equal(st.keys_read, 1 + (uint64_t)n);
    assert_int_equal(st.read_calls, 2);
    assert_int_equal(st.gets, 1);

    orbit_vec_info info;
    mt_stats_reset(s.kv, &m);
    mt_check(orbit_vec_coll_info(NULL, c, &info), 0);
    st = mt_stats_delta(s.kv, &m);
    assert_int_equal(info.count, (uint64_t)n);
    assert_int_equal(st.keys_read, 1 + (uint64_t)n);

    /* a put reads nothing but the meta record at commit (latest + in the txn) */
    mt_stats_reset(s.kv, &m);
    mt_check(orbit_vec_put(NULL, c, S("m000"), v, d, NULL, 0), 0);
    st = mt_stats_delta(s.kv, &m);
    assert_int_equal(st.keys_read, 2);
    orbit_buf_release(&vb);
    orbit_vec_coll_close(c);
    orbit_vec_coll_close(other);
    orbit_vec_coll_close(far);
    orbit_actor_close(a);
    orbit_actor_close(b);
    mt_close(&s);
}

/* Listeners hear of committed writes, with the model, never of a
 * rolled-back one. */
static int notified;
static unsigned last_models;
static char last_actor[16];

static void on_commit(void *arg, const orbit_tx_change *ch, size_t n, uint64_t v)
{
    (void)arg;
    (void)v;
    notified++;
    last_models = n ? ch[0].models : 0;
    snprintf(last_actor, sizeof last_actor, "%s", n ? ch[0].actor_id : "");
}

static void test_listeners(void **state)
{
    (void)state;
    ct_store s;
    mt_open(&s);
    orbit_actor *a;
    mt_check(orbit_actor_open(s.kv, "u", "7", &a), 0);
    uint64_t lid;
    orbit_vec_coll *c = mk(a, "n", 2, ORBIT_VEC_L2);
    mt_check(orbit_tx_listen(on_commit, NULL, &lid), 0);
    notified = 0;
    float v[2] = {1, 2};
    orbit_tx *tx;
    mt_check(orbit_tx_begin(NULL, &tx), 0);
    mt_check(orbit_vec_put(tx, c, S("x"), v, 2, NULL, 0), 0);
    orbit_tx_rollback(tx);
    assert_int_equal(notified, 0);
    mt_check(orbit_vec_put(NULL, c, S("x"), v, 2, NULL, 0), 0);
    assert_int_equal(notified, 1);
    assert_true(last_models & (1u << ORBIT_MODEL_VEC));
    assert_string_equal(last_actor, "7");
    mt_check(orbit_tx_unlisten(lid), 0);
    orbit_vec_coll_close(c);
    orbit_actor_close(a);
    mt_close(&s);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listeners),
        cmocka_unit_test(test_collections),
        cmocka_unit_test(test_put_get_delete),
        cmocka_unit_test(test_search_brute_force),
        cmocka_unit_test(test_search_details),
        cmocka_unit_test(test_dimension_consistency_at_commit),
        cmocka_unit_test(test_costs),
    };
    return mt_main(argc, argv, tests, sizeof tests / sizeof tests[0]);
}
