/*
 * `orbit bench etcd`: Orbit's etcd provider next to bare gRPC calls.
 *
 * Runs `ops` puts, then `ops` gets, with `depth` operations in flight:
 * through orbit_kv_submit on the store, and as the same unary etcd calls on
 * the shared transport with no Orbit layer (a plain KV.Put / KV.Range per
 * operation). Prints ops/s of each, the ratio Orbit/bare for put and get,
 * and linearizable against serializable get throughput. An Orbit put is
 * one etcd Txn that also advances a commit marker (exactly-once retries),
 * so the put ratio includes that cost.
 */
#ifndef ORBIT_CLI_BENCH_ETCD_H
#define ORBIT_CLI_BENCH_ETCD_H

#include <stdint.h>
#include <stdio.h>

/* store_uri: "etcd://HOST:PORT[,...][?options]" (a namespace option keeps
 * the benchmark's keys apart). 0 on success, else an Orbit error code (its
 * text printed to out). */
int orbit__bench_etcd(const char *store_uri, uint64_t ops, int depth, FILE *out);

#endif
