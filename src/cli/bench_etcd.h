/*
 * `orbit --store etcd://... bench kv`: Orbit's etcd provider next to a bare
 * loop of the same unary etcd calls, on one cluster in one run.
 *
 * With `depth` operations in flight, `ops` operations of each workload:
 * bare KV.Put; bare KV.Txn built as Orbit's guarded put is (compare a commit
 * marker's mod_revision, put the key, put the marker); Orbit's put, guarded
 * (the default) and with writes=plain; bare KV.Range and Orbit's get, both
 * linearizable and serializable. Prints ops/s and client CPU per operation
 * of each, and the ratios: Orbit / the same bare calls (the cost of Orbit's
 * own layers), bare Txn / bare Put (the cost of the exactly-once guard), and
 * serializable / linearizable gets. See bench_etcd.c for the method.
 */
#ifndef ORBIT_CLI_BENCH_ETCD_H
#define ORBIT_CLI_BENCH_ETCD_H

#include <stdint.h>
#include <stdio.h>

/* store_uri: "etcd://HOST:PORT[,...][?options]" without read= or writes=
 * (the benchmark runs both modes of each); its namespace option keeps the
 * benchmark's keys apart: they are NS "bench/<n>", and are deleted at the
 * end. ops: 1..100000000; depth: 1..4096. The report goes to out. Returns
 * 0, or an Orbit error code after printing the reason on stderr. */
int orbit__bench_etcd(const char *store_uri, uint64_t ops, int depth, FILE *out);

#endif
