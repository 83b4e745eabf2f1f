/*
 * The etcd provider's store statistics (provider table version 4,
 * orbit_kv_store_stats): two linearizable-or-member reads per call.
 *
 *   size_bytes, live_bytes  Maintenance.Status of the member the transport
 *                           reaches: dbSize (its backend file, allocated
 *                           pages, history not yet compacted and freed pages
 *                           included) and dbSizeInUse (the pages in use;
 *                           etcd 3.4 and later, else not reported). Both
 *                           are the whole member's, shared by every
 *                           namespace and by the commit markers, not this
 *                           store's share.
 *   keys                    a count-only Range over the store's namespace
 *                           (with no namespace: every key below the commit
 *                           markers), exact at the revision it was served.
 * etcd has no read cache to report, and its write buffers are not visible
 * through the API, so the cache and memtable fields stay ORBIT_STAT_NONE.
 *
 * Part of the etcd provider (src/providers/etcd/), referenced by the
 * provider table in etcd.c through etcd_int.h.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "providers/etcd/etcd_int.h"

static int status(etcd *e, orbit_store_stats *out)
{
    Etcdserverpb__StatusRequest rq = ETCDSERVERPB__STATUS_REQUEST__INIT;
    uint8_t req[8];
    size_t len = etcdserverpb__status_request__pack(&rq, req);
    orbit__rpc_call_opts o;
    orbit__etcd_call_opts(e, 1, &o);
    orbit_buf resp = ORBIT_BUF_INIT;
    int rc = orbit__rpc_call(e->rpc, ETCD_M_STATUS, req, len, &o, &resp);
    if (rc) {
        orbit_buf_release(&resp);
        return rc;
    }
    Etcdserverpb__StatusResponse *sr =
        etcdserverpb__status_response__unpack(NULL, resp.len, resp.data);
    orbit_buf_release(&resp);
    if (!sr)
        return orbit_error_set(ORBIT_EPROTO, "etcd: cannot decode a Status answer");
    if (sr->dbsize > 0)
        out->size_bytes = (uint64_t)sr->dbsize;
    if (sr->dbsizeinuse > 0) /* 0: a member before etcd 3.4 */
        out->live_bytes = (uint64_t)sr->dbsizeinuse;
    etcdserverpb__status_response__free_unpacked(sr, NULL);
    return ORBIT_OK;
}

static int count(etcd *e, orbit_store_stats *out)
{
    Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
    uint8_t *hi = malloc(e->nslen ? e->nslen : 1);
    if (!hi)
        return ORBIT_ENOMEM;
    if (e->nslen) {
        rq.key.data = e->ns;
        rq.key.len = e->nslen;
        rq.range_end.data = hi;
        rq.range_end.len = orbit__prefix_successor(e->ns, e->nslen, hi);
        if (!rq.range_end.len) { /* no key bounds it: every key from ns on */
            hi[0] = 0;
            rq.range_end.len = 1;
        }
    } else {
        rq.key.data = (uint8_t *)"\0";
        rq.key.len = 1;
        rq.range_end.data = (uint8_t *)ETCD_MARKER_ROOT;
        rq.range_end.len = ETCD_MARKER_ROOT_LEN;
    }
    rq.count_only = 1;
    rq.serializable = e->serializable;
    size_t sz = etcdserverpb__range_request__get_packed_size(&rq);
    uint8_t *req = malloc(sz ? sz : 1);
    if (!req) {
        free(hi);
        return ORBIT_ENOMEM;
    }
    size_t len = etcdserverpb__range_request__pack(&rq, req);
    free(hi);
    orbit__rpc_call_opts o;
    orbit__etcd_call_opts(e, 1, &o);
    orbit_buf resp = ORBIT_BUF_INIT;
    int rc = orbit__rpc_call(e->rpc, ETCD_M_RANGE, req, len, &o, &resp);
    free(req);
    if (rc) {
        orbit_buf_release(&resp);
        return orbit__etcd_read_rc(rc);
    }
    Etcdserverpb__RangeResponse *rr =
        etcdserverpb__range_response__unpack(NULL, resp.len, resp.data);
    orbit_buf_release(&resp);
    if (!rr)
        return orbit_error_set(ORBIT_EPROTO, "etcd: cannot decode a Range answer");
    out->keys = rr->count > 0 ? (uint64_t)rr->count : 0;
    out->keys_exact = 1;
    etcdserverpb__range_response__free_unpacked(rr, NULL);
    return ORBIT_OK;
}

int orbit__etcd_store_stats(void *self, orbit_store_stats *out)
{
    etcd *e = self;
    int rc = count(e, out);
    if (!rc)
        rc = status(e, out);
    return rc;
}
