/*
 * The models' shared reader (see reader.h): one place that decides whether
 * a read goes through the caller's transaction, a snapshot or the latest
 * data.
 */
#include "model/reader.h"

#include <string.h>

#include "orbit/provider.h"

int orbit__reader_open(orbit__reader *r, orbit_tx *tx, const orbit_actor *a, int snapshot)
{
    memset(r, 0, sizeof *r);
    r->kv = orbit_actor_store(a);
    if (tx)
        return orbit_tx_kv_txn(tx, r->kv, orbit_actor_type(a), orbit_actor_id(a), &r->txn);
    if (snapshot) {
        orbit_capabilities caps;
        orbit_kv_capabilities(r->kv, &caps);
        if (caps.supports_snapshots) {
            int rc = orbit_kv_snapshot(r->kv, &r->snap);
            if (rc)
                return rc;
            r->ro.snapshot = r->snap;
        }
    }
    return ORBIT_OK;
}

void orbit__reader_close(orbit__reader *r)
{
    if (r->snap)
        orbit_snapshot_release(r->snap);
    r->snap = NULL;
    r->ro.snapshot = NULL;
}

int orbit__reader_get(orbit__reader *r, const uint8_t *k, size_t kl, orbit_buf *out)
{
    if (r->txn)
        return orbit_txn_get(r->txn, k, kl, out);
    return orbit_kv_get(r->kv, &r->ro, k, kl, out);
}

int orbit__reader_iter(orbit__reader *r, const orbit_scan_opts *so, orbit_iter **it)
{
    if (r->txn)
        return orbit_txn_iter(r->txn, so, it);
    return orbit_kv_iter(r->kv, &r->ro, so, it);
}

int orbit__reader_mget(orbit__reader *r, size_t n, const orbit_slice *keys, orbit_buf *vals,
                       int *st)
{
    if (n == 0)
        return ORBIT_OK;
    if (r->txn)
        return orbit_txn_multi_get(r->txn, n, keys, vals, st);
    return orbit_kv_multi_get(r->kv, &r->ro, n, keys, vals, st);
}
