/*
 * The TiKV provider's PD client (tikv_int.h, "PD client"): bootstrap and
 * leader failover through GetMembers, batched TSO, the store address cache,
 * and the GC safe point with the live start_ts registry that holds it back.
 *
 * Transports: `members` is one orbit__rpc over every configured endpoint
 * (GetMembers goes to any member, with the transport's failover); `leader`
 * is one over the leader's client URL as GetMembers reported it. When the
 * leader stops answering (UNAVAILABLE, "not leader", a deadline), the call
 * re-runs GetMembers, swaps `leader` and resends after BoPDRPC. A replaced
 * transport is retired, not closed, until the PD client closes: a caller
 * may still hold it. Stores get one transport each, kept the same way.
 *
 * TSO: one long-lived bidi /pdpb.PD/Tso stream to the leader, reopened
 * after a failure (on the new leader once GetMembers names it). Callers
 * queue; while one TsoRequest is in flight the queue grows, and the next
 * request asks for the whole queue at once (count = waiters), handing out
 * the `count` consecutive logical values PD returns (the response carries
 * the largest). So there is one request in flight at a time, serving every
 * caller that arrived while the previous one was out.
 *
 * GC: with gc_interval set, a thread advances PD's GC safe point to
 * min(now - gc_life_time, oldest live start_ts - 1) every interval, never
 * backwards. Live timestamps are those of open snapshots and transactions
 * (orbit__tikv_live_add/remove); a timestamp at or below the safe point
 * being set is refused there, so no reader can start behind it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "providers/tikv/tikv_int.h"

#define PD_CALL_MS 3000u /* client-go's PD timeout, per attempt */

struct tikv_store {
    uint64_t id;
    char *addr;
    orbit__rpc *rpc; /* owned by the pd (retired list at close) */
    int valid;       /* 0: ask PD again before use */
};

typedef struct tso_waiter {
    uint64_t ts;
    int rc;
    int done;
    char detail[256];
    struct tso_waiter *next;
} tso_waiter;

struct tikv_pd {
    orbit__rpc *members;
    uint64_t cluster_id;

    pthread_mutex_t lock; /* leader, retired, stores */
    orbit__rpc *leader;
    char *leader_addr;
    orbit__rpc **retired;
    size_t nretired, capretired;
    tikv_store *stores;
    size_t nstores, capstores;

    /* TSO batching; the stream is used only by the one caller that has
     * tso_inflight set */
    orbit__rpc_stream *tso;
    orbit__rpc *tso_on; /* the leader transport tso was opened on */
    pthread_mutex_t tso_lock;
    pthread_cond_t tso_cv;
    tso_waiter *tso_head, *tso_tail; /* queued for the next request */
    int tso_inflight;

    /* live start_ts multiset and the GC safe point */
    pthread_mutex_t live_lock;
    uint64_t *live;
    size_t nlive, caplive;
    uint64_t safe_point;  /* PD's, as last seen or set */
    uint64_t sp_pending;  /* the safe point a round is setting (>= safe_point) */
    pthread_t gc_thread;
    pthread_cond_t gc_cv;
    int gc_started, gc_stop;
};

/* ---- transports ------------------------------------------------------------ */

static int open_rpc(tikv *t, const char *endpoints, orbit__rpc **out)
{
    orbit__rpc_config cfg = {0};
    cfg.endpoints = endpoints;
    cfg.ca_file = t->o.ca_file;
    /* client-go: keepalive 10 s / 3 s for both PD and TiKV */
    cfg.keepalive_ms = 10000;
    cfg.keepalive_timeout_ms = 3000;
    return orbit__rpc_open(&cfg, out);
}

static int retire_locked(tikv_pd *pd, orbit__rpc *r)
{
    if (!r)
        return ORBIT_OK;
    if (pd->nretired == pd->capretired) {
        size_t nc = pd->capretired ? pd->capretired * 2 : 8;
        orbit__rpc **x = realloc(pd->retired, nc * sizeof *x);
        if (!x)
            return ORBIT_ENOMEM;
        pd->retired = x;
        pd->capretired = nc;
    }
    pd->retired[pd->nretired++] = r;
    return ORBIT_OK;
}

/* "http://host:port" -> "host:port" (malloc'd). */
static char *strip_scheme(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strlen(p);
    while (n && p[n - 1] == '/')
        n--;
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static void header_init(const tikv *t, Pdpb__RequestHeader *h)
{
    pdpb__request_header__init(h);
    h->cluster_id = t->pd ? t->pd->cluster_id : 0;
}

/* A PD header error as an Orbit code (0: none). */
static int header_rc(const Pdpb__ResponseHeader *h, const char *what)
{
    if (!h || !h->error || h->error->type == PDPB__ERROR_TYPE__OK)
        return ORBIT_OK;
    const char *m = h->error->message ? h->error->message : "";
    if (h->error->type == PDPB__ERROR_TYPE__NOT_BOOTSTRAPPED)
        return orbit_error_set(ORBIT_EUNAVAIL, "PD %s: cluster not bootstrapped: %s", what, m);
    return orbit_error_set(ORBIT_EIO, "PD %s: error %d: %s", what, (int)h->error->type, m);
}

/* GetMembers on any member: learn the cluster id and the leader; swap the
 * leader transport when it moved. */
static int refresh_members(tikv *t, tikv_bo *bo)
{
    tikv_pd *pd = t->pd;
    Pdpb__GetMembersRequest req = PDPB__GET_MEMBERS_REQUEST__INIT;
    Pdpb__RequestHeader h;
    header_init(t, &h);
    req.header = &h;
    size_t len = pdpb__get_members_request__get_packed_size(&req);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return ORBIT_ENOMEM;
    pdpb__get_members_request__pack(&req, buf);
    orbit_buf resp;
    orbit_buf_init(&resp);
    int rc;
    for (;;) {
        orbit__rpc_call_opts o = {0};
        uint32_t left = orbit__tikv_bo_left_ms(bo);
        o.timeout_ms = left ? left : 1;
        o.attempt_ms = PD_CALL_MS;
        o.idempotent = ORBIT__RPC_RESEND;
        o.endpoint = -1;
        orbit__tikv_count(t, TIKV_RPC_PD_GET_MEMBERS);
        rc = orbit__rpc_call(pd->members, PD_M_GET_MEMBERS, buf, len, &o, &resp);
        if (rc == 0)
            break;
        if (rc != ORBIT_EUNAVAIL && rc != ORBIT_ETIMEDOUT)
            break;
        orbit__tikv_bo_fail(bo, ORBIT_EUNAVAIL, "PD GetMembers: %s", orbit_last_error_detail());
        rc = orbit__tikv_bo_sleep(bo, TIKV_BO_PD_RPC, 0);
        if (rc)
            break;
    }
    free(buf);
    if (rc) {
        orbit_buf_release(&resp);
        return rc;
    }
    Pdpb__GetMembersResponse *m = pdpb__get_members_response__unpack(NULL, resp.len, resp.data);
    orbit_buf_release(&resp);
    if (!m)
        return orbit_error_set(ORBIT_EPROTO, "PD GetMembers: malformed response");
    rc = header_rc(m->header, "GetMembers");
    uint64_t cid = m->header ? m->header->cluster_id : 0;
    if (!rc && cid == 0)
        rc = orbit_error_set(ORBIT_EPROTO, "PD GetMembers: no cluster id in the answer");
    if (!rc && pd->cluster_id && cid != pd->cluster_id)
        rc = orbit_error_set(ORBIT_EINVAL, "PD GetMembers: member reports cluster %llu, expected %llu",
                             (unsigned long long)cid, (unsigned long long)pd->cluster_id);
    if (!rc && (!m->leader || m->leader->n_client_urls == 0))
        rc = orbit_error_set(ORBIT_EUNAVAIL, "PD GetMembers: no leader elected yet");
    char *addr = NULL;
    if (!rc) {
        addr = strip_scheme(m->leader->client_urls[0]);
        if (!addr)
            rc = ORBIT_ENOMEM;
    }
    pdpb__get_members_response__free_unpacked(m, NULL);
    if (rc)
        return rc;
    pthread_mutex_lock(&pd->lock);
    /* set once, at open (before any other thread runs); a later answer
     * with another id was refused above */
    if (!pd->cluster_id)
        pd->cluster_id = cid;
    if (pd->leader && pd->leader_addr && strcmp(pd->leader_addr, addr) == 0) {
        pthread_mutex_unlock(&pd->lock);
        free(addr);
        return ORBIT_OK;
    }
    pthread_mutex_unlock(&pd->lock);
    orbit__rpc *nr = NULL;
    rc = open_rpc(t, addr, &nr);
    if (rc) {
        free(addr);
        return rc;
    }
    pthread_mutex_lock(&pd->lock);
    rc = retire_locked(pd, pd->leader);
    if (rc) {
        pthread_mutex_unlock(&pd->lock);
        orbit__rpc_close(nr);
        free(addr);
        return rc;
    }
    pd->leader = nr;
    free(pd->leader_addr);
    pd->leader_addr = addr;
    pthread_mutex_unlock(&pd->lock);
    return ORBIT_OK;
}

/* A unary call to the PD leader, with failover: resp gets the answer. */
static int pd_call(tikv *t, tikv_bo *bo, const char *method, tikv_rpc_kind kind, const uint8_t *req,
                   size_t len, orbit_buf *resp)
{
    tikv_pd *pd = t->pd;
    for (;;) {
        pthread_mutex_lock(&pd->lock);
        orbit__rpc *r = pd->leader;
        pthread_mutex_unlock(&pd->lock);
        int rc;
        if (!r) {
            rc = refresh_members(t, bo);
            if (rc)
                return rc;
            continue;
        }
        orbit__rpc_call_opts o = {0};
        uint32_t left = orbit__tikv_bo_left_ms(bo);
        if (left == 0)
            return orbit_error_set(bo->last_rc ? bo->last_rc : ORBIT_ETIMEDOUT, "PD %s: deadline passed: %s",
                                   method, bo->last[0] ? bo->last : "no answer in time");
        o.timeout_ms = left < PD_CALL_MS ? left : PD_CALL_MS;
        /* no resend inside the transport: a failure here means "ask the
         * members who leads", which only this loop does */
        o.idempotent = 0;
        o.endpoint = 0;
        orbit__tikv_count(t, kind);
        rc = orbit__rpc_call(r, method, req, len, &o, resp);
        if (rc == 0)
            return 0;
        if (rc != ORBIT_EUNAVAIL && rc != ORBIT_ETIMEDOUT && rc != ORBIT_ECLOSED)
            return rc;
        orbit__tikv_bo_fail(bo, ORBIT_EUNAVAIL, "PD %s: %s", method, orbit_last_error_detail());
        /* the leader moved or died: ask the members who leads now */
        int mrc = refresh_members(t, bo);
        if (mrc && mrc != ORBIT_EUNAVAIL && mrc != ORBIT_ETIMEDOUT)
            return mrc;
        if (mrc == 0) {
            pthread_mutex_lock(&pd->lock);
            int moved = pd->leader != r;
            pthread_mutex_unlock(&pd->lock);
            if (moved)
                continue; /* a different process: no need to wait */
        }
        rc = orbit__tikv_bo_sleep(bo, TIKV_BO_PD_RPC, 0);
        if (rc)
            return rc;
    }
}

/* pd_call with messages: pack req, call, unpack the answer as rd into *out
 * (free it with its type's free_unpacked). 0, ORBIT_EPROTO for an answer
 * that does not decode, or pd_call's code. */
static int pd_msg_call(tikv *t, tikv_bo *bo, const char *method, tikv_rpc_kind kind, const ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *rd, ProtobufCMessage **out)
{
    *out = NULL;
    orbit_buf q = ORBIT_BUF_INIT, resp = ORBIT_BUF_INIT;
    size_t len = protobuf_c_message_get_packed_size(req);
    int rc = orbit_buf_reserve(&q, len ? len : 1);
    if (!rc) {
        protobuf_c_message_pack(req, q.data);
        rc = pd_call(t, bo, method, kind, q.data, len, &resp);
    }
    if (!rc && !(*out = protobuf_c_message_unpack(rd, NULL, resp.len, resp.data)))
        rc = orbit_error_set(ORBIT_EPROTO, "PD %s: malformed response", method);
    orbit_buf_release(&q);
    orbit_buf_release(&resp);
    return rc;
}

/* ---- open / close -------------------------------------------------------------- */

static void *gc_main(void *arg);

int orbit__tikv_pd_open(tikv *t)
{
    tikv_pd *pd = calloc(1, sizeof *pd);
    if (!pd)
        return ORBIT_ENOMEM;
    pthread_mutex_init(&pd->lock, NULL);
    pthread_mutex_init(&pd->tso_lock, NULL);
    pthread_cond_init(&pd->tso_cv, NULL);
    pthread_mutex_init(&pd->live_lock, NULL);
    pthread_cond_init(&pd->gc_cv, NULL);
    t->pd = pd;
    int rc = open_rpc(t, t->o.pd_endpoints, &pd->members);
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, t, 0);
    if (!rc)
        rc = refresh_members(t, &bo);
    if (!rc && t->o.gc_interval_ms) {
        if (pthread_create(&pd->gc_thread, NULL, gc_main, t) != 0)
            rc = orbit_error_set(ORBIT_EINTERNAL, "tikv: cannot start the GC thread");
        else
            pd->gc_started = 1;
    }
    if (rc) {
        char d[512];
        snprintf(d, sizeof d, "%s", orbit_last_error_detail());
        orbit__tikv_pd_close(t);
        return orbit_error_set(rc, "tikv: PD at %s: %s", t->o.pd_endpoints, d);
    }
    return ORBIT_OK;
}

void orbit__tikv_pd_close(tikv *t)
{
    tikv_pd *pd = t->pd;
    if (!pd)
        return;
    if (pd->gc_started) {
        pthread_mutex_lock(&pd->live_lock);
        pd->gc_stop = 1;
        pthread_cond_broadcast(&pd->gc_cv);
        pthread_mutex_unlock(&pd->live_lock);
        pthread_join(pd->gc_thread, NULL);
    }
    orbit__rpc_stream_close(pd->tso);
    for (size_t i = 0; i < pd->nstores; i++) {
        orbit__rpc_close(pd->stores[i].rpc);
        free(pd->stores[i].addr);
    }
    free(pd->stores);
    for (size_t i = 0; i < pd->nretired; i++)
        orbit__rpc_close(pd->retired[i]);
    free(pd->retired);
    orbit__rpc_close(pd->leader);
    free(pd->leader_addr);
    orbit__rpc_close(pd->members);
    free(pd->live);
    pthread_cond_destroy(&pd->gc_cv);
    pthread_mutex_destroy(&pd->live_lock);
    pthread_cond_destroy(&pd->tso_cv);
    pthread_mutex_destroy(&pd->tso_lock);
    pthread_mutex_destroy(&pd->lock);
    free(pd);
    t->pd = NULL;
}

uint64_t orbit__tikv_cluster_id(const tikv *t)
{
    return t->pd ? t->pd->cluster_id : 0;
}

/* ---- TSO ----------------------------------------------------------------------- */

/* Send one TsoRequest on the stream (opening it first) and read its answer
 * into resp. On failure the stream is closed. */
static int tso_exchange(tikv *t, tikv_bo *bo, const uint8_t *req, size_t len, orbit_buf *resp)
{
    tikv_pd *pd = t->pd;
    int rc = 0;
    if (!pd->tso) {
        pthread_mutex_lock(&pd->lock);
        orbit__rpc *r = pd->leader;
        pthread_mutex_unlock(&pd->lock);
        if (!r)
            return orbit_error_set(ORBIT_EUNAVAIL, "PD Tso: no leader known");
        rc = orbit__rpc_stream_open(r, 0, PD_M_TSO, &pd->tso);
        if (rc)
            return rc;
        pd->tso_on = r;
    }
    uint32_t left = orbit__tikv_bo_left_ms(bo);
    if (left == 0)
        return orbit_error_set(bo->last_rc ? bo->last_rc : ORBIT_ETIMEDOUT, "PD Tso: deadline passed: %s",
                               bo->last[0] ? bo->last : "no answer in time");
    uint32_t wait = left < PD_CALL_MS ? left : PD_CALL_MS;
    orbit__tikv_count(t, TIKV_RPC_PD_TSO);
    rc = orbit__rpc_stream_send(pd->tso, req, len, wait);
    if (!rc)
        rc = orbit__rpc_stream_recv(pd->tso, wait, resp);
    if (rc) {
        orbit__rpc_stream_close(pd->tso);
        pd->tso = NULL;
        pd->tso_on = NULL;
    }
    return rc;
}

/* One TsoRequest for count timestamps: *last gets the largest. PD failover
 * as pd_call's, with the stream reopened on the leader. */
static int tso_request(tikv *t, tikv_bo *bo, uint32_t count, uint64_t *last)
{
    tikv_pd *pd = t->pd;
    Pdpb__TsoRequest req = PDPB__TSO_REQUEST__INIT;
    Pdpb__RequestHeader h;
    for (;;) {
        header_init(t, &h);
        req.header = &h;
        req.count = count;
        uint8_t stackbuf[128];
        size_t len = pdpb__tso_request__get_packed_size(&req);
        if (len > sizeof stackbuf)
            return orbit_error_set(ORBIT_EINTERNAL, "PD Tso: request too large");
        pdpb__tso_request__pack(&req, stackbuf);
        orbit_buf resp;
        orbit_buf_init(&resp);
        orbit__rpc *was = pd->tso_on;
        int rc = tso_exchange(t, bo, stackbuf, len, &resp);
        if (rc == ORBIT_EUNAVAIL || rc == ORBIT_ETIMEDOUT || rc == ORBIT_EPROTO || rc == ORBIT_ECLOSED) {
            orbit_buf_release(&resp);
            orbit__tikv_bo_fail(bo, ORBIT_EUNAVAIL, "PD Tso: %s", orbit_last_error_detail());
            int mrc = refresh_members(t, bo);
            if (mrc && mrc != ORBIT_EUNAVAIL && mrc != ORBIT_ETIMEDOUT)
                return mrc;
            pthread_mutex_lock(&pd->lock);
            int moved = mrc == 0 && was && pd->leader != was;
            pthread_mutex_unlock(&pd->lock);
            if (!moved && (rc = orbit__tikv_bo_sleep(bo, TIKV_BO_PD_RPC, 0)) != 0)
                return rc;
            continue;
        }
        if (rc) {
            orbit_buf_release(&resp);
            return rc;
        }
        Pdpb__TsoResponse *r = pdpb__tso_response__unpack(NULL, resp.len, resp.data);
        orbit_buf_release(&resp);
        if (!r)
            return orbit_error_set(ORBIT_EPROTO, "PD Tso: malformed response");
        rc = header_rc(r->header, "Tso");
        if (!rc && (!r->timestamp || r->count != count))
            rc = orbit_error_set(ORBIT_EPROTO, "PD Tso: asked for %u timestamps, got %u", count, r->count);
        if (!rc && (r->timestamp->logical < (int64_t)count - 1 || r->timestamp->physical <= 0))
            rc = orbit_error_set(ORBIT_EPROTO, "PD Tso: timestamp %lld.%lld cannot hold %u values",
                                 (long long)r->timestamp->physical, (long long)r->timestamp->logical, count);
        if (!rc)
            *last = TIKV_TS_COMPOSE(r->timestamp->physical, r->timestamp->logical);
        pdpb__tso_response__free_unpacked(r, NULL);
        if (rc == ORBIT_EUNAVAIL) {
            orbit__tikv_bo_fail(bo, rc, "PD Tso: %s", orbit_last_error_detail());
            rc = orbit__tikv_bo_sleep(bo, TIKV_BO_PD_RPC, 0);
            if (rc)
                return rc;
            continue;
        }
        return rc;
    }
}

int orbit__tikv_tso(tikv *t, tikv_bo *bo, uint64_t *ts)
{
    tikv_bo own;
    if (!bo) {
        orbit__tikv_bo_init(&own, t, 0);
        bo = &own;
    }
    tikv_pd *pd = t->pd;
    tso_waiter me;
    memset(&me, 0, sizeof me);
    pthread_mutex_lock(&pd->tso_lock);
    if (pd->tso_tail)
        pd->tso_tail->next = &me;
    else
        pd->tso_head = &me;
    pd->tso_tail = &me;
    while (!me.done) {
        if (pd->tso_inflight) {
            pthread_cond_wait(&pd->tso_cv, &pd->tso_lock);
            continue;
        }
        /* send for the whole queue (me included) */
        tso_waiter *batch = pd->tso_head;
        pd->tso_head = pd->tso_tail = NULL;
        uint32_t n = 0;
        for (tso_waiter *w = batch; w; w = w->next)
            n++;
        pd->tso_inflight = 1;
        pthread_mutex_unlock(&pd->tso_lock);
        uint64_t last = 0;
        int rc = tso_request(t, bo, n, &last);
        char detail[256] = "";
        if (rc)
            snprintf(detail, sizeof detail, "%s", orbit_last_error_detail());
        pthread_mutex_lock(&pd->tso_lock);
        uint64_t first = last - (n - 1);
        uint32_t i = 0;
        for (tso_waiter *w = batch, *next; w; w = next) {
            next = w->next;
            w->rc = rc;
            w->ts = rc ? 0 : first + i++;
            if (rc)
                snprintf(w->detail, sizeof w->detail, "%s", detail);
            w->next = NULL;
            w->done = 1;
        }
        pd->tso_inflight = 0;
        pthread_cond_broadcast(&pd->tso_cv);
    }
    pthread_mutex_unlock(&pd->tso_lock);
    if (me.rc)
        return orbit_error_set(me.rc, "%s", me.detail);
    atomic_fetch_add(&t->n_tso_ts, 1);
    *ts = me.ts;
    return ORBIT_OK;
}

/* ---- regions -------------------------------------------------------------------- */

int orbit__tikv_pd_get_region(tikv *t, tikv_bo *bo, int prev, const uint8_t *key, size_t klen,
                              Pdpb__GetRegionResponse **out)
{
    *out = NULL;
    Pdpb__GetRegionRequest req = PDPB__GET_REGION_REQUEST__INIT;
    Pdpb__RequestHeader h;
    header_init(t, &h);
    req.header = &h;
    req.region_key.data = (uint8_t *)key;
    req.region_key.len = klen;
    int rc = pd_msg_call(t, bo, prev ? PD_M_GET_PREV_REGION : PD_M_GET_REGION, TIKV_RPC_PD_GET_REGION, &req.base,
                         &pdpb__get_region_response__descriptor, (ProtobufCMessage **)out);
    if (!rc && (*out)->header && (*out)->header->error &&
        (*out)->header->error->type == PDPB__ERROR_TYPE__REGION_NOT_FOUND) {
        if ((*out)->region) {
            metapb__region__free_unpacked((*out)->region, NULL);
            (*out)->region = NULL;
        }
        return ORBIT_OK;
    }
    if (!rc)
        rc = header_rc((*out)->header, "GetRegion");
    if (rc && *out) {
        pdpb__get_region_response__free_unpacked(*out, NULL);
        *out = NULL;
    }
    return rc;
}

int orbit__tikv_pd_scan_regions(tikv *t, tikv_bo *bo, const uint8_t *start, size_t slen, const uint8_t *end,
                                size_t elen, int32_t limit, Pdpb__ScanRegionsResponse **out)
{
    *out = NULL;
    Pdpb__ScanRegionsRequest req = PDPB__SCAN_REGIONS_REQUEST__INIT;
    Pdpb__RequestHeader h;
    header_init(t, &h);
    req.header = &h;
    req.start_key.data = (uint8_t *)start;
    req.start_key.len = slen;
    req.end_key.data = (uint8_t *)end;
    req.end_key.len = elen;
    req.limit = limit;
    int rc = pd_msg_call(t, bo, PD_M_SCAN_REGIONS, TIKV_RPC_PD_SCAN_REGIONS, &req.base,
                         &pdpb__scan_regions_response__descriptor, (ProtobufCMessage **)out);
    if (!rc)
        rc = header_rc((*out)->header, "ScanRegions");
    if (rc && *out) {
        pdpb__scan_regions_response__free_unpacked(*out, NULL);
        *out = NULL;
    }
    return rc;
}

/* ---- stores ---------------------------------------------------------------------- */

static tikv_store *find_store_locked(tikv_pd *pd, uint64_t id)
{
    for (size_t i = 0; i < pd->nstores; i++)
        if (pd->stores[i].id == id)
            return &pd->stores[i];
    return NULL;
}

static int is_tiflash(const Metapb__Store *s)
{
    for (size_t i = 0; i < s->n_labels; i++)
        if (s->labels[i]->key && s->labels[i]->value && strcmp(s->labels[i]->key, "engine") == 0 &&
            strncmp(s->labels[i]->value, "tiflash", 7) == 0)
            return 1;
    return 0;
}

int orbit__tikv_store_rpc(tikv *t, tikv_bo *bo, uint64_t store_id, orbit__rpc **out)
{
    tikv_pd *pd = t->pd;
    *out = NULL;
    pthread_mutex_lock(&pd->lock);
    tikv_store *s = find_store_locked(pd, store_id);
    if (s && s->valid) {
        *out = s->rpc;
        pthread_mutex_unlock(&pd->lock);
        return ORBIT_OK;
    }
    pthread_mutex_unlock(&pd->lock);

    Pdpb__GetStoreRequest req = PDPB__GET_STORE_REQUEST__INIT;
    Pdpb__RequestHeader h;
    header_init(t, &h);
    req.header = &h;
    req.store_id = store_id;
    Pdpb__GetStoreResponse *r;
    int rc = pd_msg_call(t, bo, PD_M_GET_STORE, TIKV_RPC_PD_GET_STORE, &req.base,
                         &pdpb__get_store_response__descriptor, (ProtobufCMessage **)&r);
    if (rc)
        return rc;
    rc = header_rc(r->header, "GetStore");
    if (rc == ORBIT_EIO)
        rc = orbit_error_set(ORBIT_EUNAVAIL, "tikv: store %llu: %s", (unsigned long long)store_id,
                             orbit_last_error_detail());
    if (!rc && (!r->store || !r->store->address || !r->store->address[0]))
        rc = orbit_error_set(ORBIT_EUNAVAIL, "tikv: PD knows no address for store %llu",
                             (unsigned long long)store_id);
    if (!rc && r->store->state == METAPB__STORE_STATE__Tombstone)
        rc = orbit_error_set(ORBIT_EUNAVAIL, "tikv: store %llu is a tombstone", (unsigned long long)store_id);
    if (!rc && is_tiflash(r->store))
        rc = orbit_error_set(ORBIT_EUNAVAIL, "tikv: store %llu is a TiFlash store", (unsigned long long)store_id);
    char *addr = NULL;
    if (!rc && !(addr = strdup(r->store->address)))
        rc = ORBIT_ENOMEM;
    pdpb__get_store_response__free_unpacked(r, NULL);
    if (rc)
        return rc;

    pthread_mutex_lock(&pd->lock);
    s = find_store_locked(pd, store_id);
    if (s && strcmp(s->addr, addr) == 0) {
        s->valid = 1;
        *out = s->rpc;
        pthread_mutex_unlock(&pd->lock);
        free(addr);
        return ORBIT_OK;
    }
    pthread_mutex_unlock(&pd->lock);
    orbit__rpc *nr = NULL;
    rc = open_rpc(t, addr, &nr);
    if (rc) {
        free(addr);
        return rc;
    }
    pthread_mutex_lock(&pd->lock);
    s = find_store_locked(pd, store_id);
    if (s) {
        if (strcmp(s->addr, addr) == 0) {
            /* another thread dialled it meanwhile */
            s->valid = 1;
            *out = s->rpc;
            pthread_mutex_unlock(&pd->lock);
            orbit__rpc_close(nr);
            free(addr);
            return ORBIT_OK;
        }
        rc = retire_locked(pd, s->rpc);
        if (!rc) {
            free(s->addr);
            s->addr = addr;
            s->rpc = nr;
            s->valid = 1;
            *out = nr;
        }
    } else {
        if (pd->nstores == pd->capstores) {
            size_t nc = pd->capstores ? pd->capstores * 2 : 8;
            tikv_store *x = realloc(pd->stores, nc * sizeof *x);
            if (!x)
                rc = ORBIT_ENOMEM;
            else {
                pd->stores = x;
                pd->capstores = nc;
            }
        }
        if (!rc) {
            tikv_store *ns = &pd->stores[pd->nstores++];
            ns->id = store_id;
            ns->addr = addr;
            ns->rpc = nr;
            ns->valid = 1;
            *out = nr;
        }
    }
    pthread_mutex_unlock(&pd->lock);
    if (rc) {
        orbit__rpc_close(nr);
        free(addr);
    }
    return rc;
}

void orbit__tikv_store_invalidate(tikv *t, uint64_t store_id)
{
    tikv_pd *pd = t->pd;
    pthread_mutex_lock(&pd->lock);
    tikv_store *s = find_store_locked(pd, store_id);
    if (s)
        s->valid = 0;
    pthread_mutex_unlock(&pd->lock);
}

/* ---- live timestamps and GC --------------------------------------------------------- */

int orbit__tikv_live_add(tikv *t, uint64_t ts)
{
    tikv_pd *pd = t->pd;
    pthread_mutex_lock(&pd->live_lock);
    if (ts <= pd->sp_pending || ts <= pd->safe_point) {
        uint64_t sp = pd->sp_pending > pd->safe_point ? pd->sp_pending : pd->safe_point;
        pthread_mutex_unlock(&pd->live_lock);
        return orbit_error_set(ORBIT_ECOMPACTED,
                               "tikv: timestamp %llu is at or below the GC safe point %llu: its history may be "
                               "collected",
                               (unsigned long long)ts, (unsigned long long)sp);
    }
    if (pd->nlive == pd->caplive) {
        size_t nc = pd->caplive ? pd->caplive * 2 : 64;
        uint64_t *x = realloc(pd->live, nc * sizeof *x);
        if (!x) {
            pthread_mutex_unlock(&pd->live_lock);
            return ORBIT_ENOMEM;
        }
        pd->live = x;
        pd->caplive = nc;
    }
    pd->live[pd->nlive++] = ts;
    pthread_mutex_unlock(&pd->live_lock);
    return ORBIT_OK;
}

void orbit__tikv_live_remove(tikv *t, uint64_t ts)
{
    tikv_pd *pd = t->pd;
    pthread_mutex_lock(&pd->live_lock);
    for (size_t i = 0; i < pd->nlive; i++)
        if (pd->live[i] == ts) {
            pd->live[i] = pd->live[--pd->nlive];
            break;
        }
    pthread_mutex_unlock(&pd->live_lock);
}

static int gc_get(tikv *t, tikv_bo *bo, uint64_t *sp)
{
    Pdpb__GetGCSafePointRequest req = PDPB__GET_GCSAFE_POINT_REQUEST__INIT;
    Pdpb__RequestHeader h;
    header_init(t, &h);
    req.header = &h;
    Pdpb__GetGCSafePointResponse *r;
    int rc = pd_msg_call(t, bo, PD_M_GET_GC_SAFE_POINT, TIKV_RPC_PD_GC_SAFE_POINT, &req.base,
                         &pdpb__get_gcsafe_point_response__descriptor, (ProtobufCMessage **)&r);
    if (rc)
        return rc;
    rc = header_rc(r->header, "GetGCSafePoint");
    if (!rc)
        *sp = r->safe_point;
    pdpb__get_gcsafe_point_response__free_unpacked(r, NULL);
    return rc;
}

static int gc_set(tikv *t, tikv_bo *bo, uint64_t want, uint64_t *now)
{
    Pdpb__UpdateGCSafePointRequest req = PDPB__UPDATE_GCSAFE_POINT_REQUEST__INIT;
    Pdpb__RequestHeader h;
    header_init(t, &h);
    req.header = &h;
    req.safe_point = want;
    Pdpb__UpdateGCSafePointResponse *r;
    int rc = pd_msg_call(t, bo, PD_M_UPDATE_GC_SAFE_POINT, TIKV_RPC_PD_GC_SAFE_POINT, &req.base,
                         &pdpb__update_gcsafe_point_response__descriptor, (ProtobufCMessage **)&r);
    if (rc)
        return rc;
    rc = header_rc(r->header, "UpdateGCSafePoint");
    if (!rc)
        *now = r->new_safe_point;
    pdpb__update_gcsafe_point_response__free_unpacked(r, NULL);
    return rc;
}

int orbit__tikv_gc_safe_point(tikv *t, int refresh, uint64_t *sp)
{
    tikv_pd *pd = t->pd;
    if (refresh) {
        tikv_bo bo;
        orbit__tikv_bo_init(&bo, t, 0);
        uint64_t v = 0;
        int rc = gc_get(t, &bo, &v);
        if (rc)
            return rc;
        pthread_mutex_lock(&pd->live_lock);
        if (v > pd->safe_point)
            pd->safe_point = v;
        pthread_mutex_unlock(&pd->live_lock);
    }
    pthread_mutex_lock(&pd->live_lock);
    *sp = pd->safe_point;
    pthread_mutex_unlock(&pd->live_lock);
    return ORBIT_OK;
}

int orbit__tikv_gc_round(tikv *t, uint64_t *out)
{
    tikv_pd *pd = t->pd;
    tikv_bo bo;
    orbit__tikv_bo_init(&bo, t, 0);
    uint64_t now = 0, cur = 0;
    int rc = orbit__tikv_tso(t, &bo, &now);
    if (!rc)
        rc = gc_get(t, &bo, &cur);
    if (rc)
        return rc;
    uint64_t phys = TIKV_TS_PHYSICAL(now);
    uint64_t life = t->o.gc_life_time_ms;
    uint64_t want = phys > life ? TIKV_TS_COMPOSE(phys - life, 0) : 0;
    pthread_mutex_lock(&pd->live_lock);
    if (cur > pd->safe_point)
        pd->safe_point = cur;
    for (size_t i = 0; i < pd->nlive; i++)
        if (pd->live[i] - 1 < want)
            want = pd->live[i] - 1;
    int advance = want > pd->safe_point;
    if (advance && want > pd->sp_pending)
        pd->sp_pending = want; /* from here on no reader registers at or below it */
    pthread_mutex_unlock(&pd->live_lock);
    uint64_t got = cur;
    if (advance)
        rc = gc_set(t, &bo, want, &got);
    pthread_mutex_lock(&pd->live_lock);
    if (!rc && got > pd->safe_point)
        pd->safe_point = got;
    if (out)
        *out = pd->safe_point;
    pthread_mutex_unlock(&pd->live_lock);
    return rc;
}

static void *gc_main(void *arg)
{
    tikv *t = arg;
    tikv_pd *pd = t->pd;
    pthread_mutex_lock(&pd->live_lock);
    while (!pd->gc_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (t->o.gc_interval_ms % 1000u) * 1000000u;
        ts.tv_sec += (time_t)(t->o.gc_interval_ms / 1000u) + (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        while (!pd->gc_stop && pthread_cond_timedwait(&pd->gc_cv, &pd->live_lock, &ts) == 0)
            ;
        if (pd->gc_stop)
            break;
        pthread_mutex_unlock(&pd->live_lock);
        /* a failed round (PD away) is simply tried again next interval */
        (void)orbit__tikv_gc_round(t, NULL);
        pthread_mutex_lock(&pd->live_lock);
    }
    pthread_mutex_unlock(&pd->live_lock);
    return NULL;
}
