/*
 * The PD/TiKV test cluster for C tests (tests/tikv/README.md): starts
 * tests/tikv/cluster.py (one PD and N stores in one Python process, on free
 * loopback ports, files in a fresh temp directory), waits until it serves,
 * gives the PD endpoint, drives its faults and reads its counters through
 * the cluster's HTTP/JSON control port, and stops it by PID.
 *
 * Where the cluster comes from, in order:
 *   - ORBIT_TEST_TIKV_PD set ("host:port[,host:port...]"): a real PD/TiKV
 *     cluster. Nothing is started; th_has_faults() is 0 and every fault
 *     and counter call returns TH_UNAVAILABLE, so tests skip those parts.
 *   - ORBIT_TEST_TIKV_READY set (the ready file of a running test cluster,
 *     as the tikv_cluster fixture program exports it): that cluster is
 *     used, with faults and counters; th_stop() leaves it running.
 *   - otherwise a new test cluster is started.
 *
 * With `tie` set the cluster process gets PR_SET_PDEATHSIG, so a test that
 * dies takes its cluster with it. PR_SET_PDEATHSIG fires when the thread
 * that called th_start exits: call it from the test's main thread.
 *
 * Thread safety: th_ctl and the helpers built on it may be called from
 * any thread (each call opens its own connection); th_start / th_stop
 * from one thread. No function here aborts; errors go to stderr.
 */
#ifndef ORBIT_TIKV_HARNESS_H
#define ORBIT_TIKV_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TH_MAX_STORES 16
/* Returned by control calls when the cluster has no control port (a real
 * cluster named by ORBIT_TEST_TIKV_PD). */
#define TH_UNAVAILABLE (-2)

typedef struct th_options {
    int stores;           /* 0: 3 */
    int pd_members;       /* 0: 1. Member 0 leads first; th_pd lists all */
    const char *split;    /* comma-separated split keys (UTF-8, no commas); NULL: none */
    const char *key_mode; /* split keys are "txn" keys (default; PD keeps them
                           * memcomparable-encoded) or "raw" keys */
    int lock_wait_ms;     /* pessimistic lock wait for wait_timeout 0; 0: 300 */
    int tie;              /* see above */
} th_options;

typedef struct th_cluster {
    int external;  /* 1: ORBIT_TEST_TIKV_PD, no control port */
    int attached;  /* 1: ORBIT_TEST_TIKV_READY, not ours to stop */
    pid_t pid;     /* the cluster process we started; 0 if none */
    int ctl_port;  /* 0 if none */
    uint64_t cluster_id;
    int nstores;
    uint64_t store_id[TH_MAX_STORES];
    char store_addr[TH_MAX_STORES][32];
    char pd[512];   /* PD endpoints, "127.0.0.1:P" for the test cluster */
    char root[256]; /* temp directory (ready file, cluster.log); "" if none */
} th_cluster;

/* Start (or find, see above) a cluster; o NULL: defaults. 0 on success;
 * -1 with a message on stderr (anything started is stopped again). */
int th_start(th_cluster *c, const th_options *o);
/* Kill the cluster process (SIGKILL, reaped) and remove its directory.
 * Safe to call twice and on a cluster that failed to start. */
void th_stop(th_cluster *c);
/* The PD endpoint string (borrowed from c). */
const char *th_pd(const th_cluster *c);
/* 1 if faults and counters are available. */
int th_has_faults(const th_cluster *c);

/* Send control command cmd with JSON object args (NULL: none). On return
 * *out (if out is not NULL) holds the JSON answer, malloc'd, the caller
 * frees it. 0 on success, -1 on a failed command or connection (the
 * answer's "error" is printed on stderr), TH_UNAVAILABLE if external. */
int th_ctl(th_cluster *c, const char *cmd, const char *args, char **out);

/* Topology faults. space: "txn" or "raw" (NULL: the cluster's key mode).
 * after > 0: the change happens only after that many more store requests
 * (in the middle of an operation). Return 0, -1 or TH_UNAVAILABLE. */
int th_split(th_cluster *c, const void *key, size_t klen, const char *space, int after);
/* Move the leader of the region holding key to store_id (0: the next
 * store). hint 0: NotLeader answers for it carry no leader. */
int th_move_leader(th_cluster *c, const void *key, size_t klen, const char *space,
                   uint64_t store_id, int hint, int after);
/* The store id that leads the region holding key; 0 on error. */
uint64_t th_leader_of(th_cluster *c, const void *key, size_t klen, const char *space);
/* Number of regions; -1 on error. */
int th_region_count(th_cluster *c);

/* Store faults. store_id 0 in th_inject / th_delay: every store. */
int th_busy(th_cluster *c, uint64_t store_id, int count);
/* error: server_is_busy, stale_command, region_not_found,
 * max_timestamp_not_synced, undetermined_result, not_leader,
 * epoch_not_match, raft_entry_too_large, read_index_not_ready,
 * region_not_initialized; or a transport fault: "unavailable" (the call
 * fails with UNAVAILABLE and is not applied) or "lose_response" (it is
 * applied, then fails with UNAVAILABLE: an outcome the client cannot know).
 * method NULL: any method. */
int th_inject(th_cluster *c, uint64_t store_id, const char *error, int count, const char *method);
int th_delay(th_cluster *c, uint64_t store_id, const char *method, int ms);
/* hang 0: the store's port refuses connections; 1: it accepts calls and
 * answers none until revived (each call ends at its deadline). */
int th_kill_store(th_cluster *c, uint64_t store_id, int hang);
int th_revive_store(th_cluster *c, uint64_t store_id);
/* Restart the store's gRPC server: its connections drop, it comes back. */
int th_drop_store(th_cluster *c, uint64_t store_id);
/* Make PD member `member` (index in th_pd's list; -1: the next one) the
 * leader; the others answer every call but GetMembers with UNAVAILABLE
 * "not leader", and a Tso stream to the old leader fails. */
int th_pd_leader(th_cluster *c, int member);
/* The next count PD calls fail with UNAVAILABLE. */
int th_pd_fail(th_cluster *c, int count);
/* Move PD's clock (and so TSO physical time and lock expiry) forward. */
int th_advance_clock(th_cluster *c, long ms);

/* Counters since the start or the last reset; -1 on error or external. */
int th_reset_counters(th_cluster *c);
/* Requests of method (e.g. "KvPrewrite"; NULL: all methods) received by
 * store_id (0: all stores), including those answered with an error. */
long th_counter(th_cluster *c, uint64_t store_id, const char *method);
/* PD unary calls of method (NULL: all); TSO stream messages are
 * th_tso_requests. */
long th_pd_counter(th_cluster *c, const char *method);
long th_tso_requests(th_cluster *c);
/* The most requests of method served at the same time (since reset). */
long th_max_inflight(th_cluster *c, const char *method);
/* Locks held: all of them (key NULL), or 1/0 for one key; -1 on error. */
long th_locks(th_cluster *c, const void *key, size_t klen);

#endif
