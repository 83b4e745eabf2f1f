/*
 * A real etcd cluster for tests: N members of Debian's `etcd` binary on free
 * loopback ports, data in a fresh directory (under /dev/shm when it is
 * writable, so raft's fsyncs do not dominate test time).
 *
 * Members are started with fork/exec and stopped by PID. With `tie` set,
 * each member gets PR_SET_PDEATHSIG, so a test process that dies (a failed
 * assertion, a sanitizer abort) takes its cluster with it; the CTest
 * fixture (etcd_cluster start/stop) starts untied members and stops them by
 * the PIDs it wrote down.
 */
#ifndef ORBIT_ETCD_HARNESS_H
#define ORBIT_ETCD_HARNESS_H

#include <sys/types.h>

#define EH_MAX 5

typedef struct eh_member {
    char name[16];
    int client_port, peer_port;
    pid_t pid; /* 0: not running */
} eh_member;

typedef struct eh_cluster {
    int n;
    int tie;
    eh_member m[EH_MAX];
    char root[256];
    char token[64];
    char initial[1024];   /* --initial-cluster */
    char endpoints[512];  /* "127.0.0.1:P,127.0.0.1:Q,..." */
    long max_request_bytes; /* --max-request-bytes; 0: etcd's default */
} eh_cluster;

/* Start n members and wait until the cluster has a leader (20 s at most).
 * 0 on success; -1 with a message on stderr (everything started is
 * stopped again). */
int eh_start(eh_cluster *c, int n, int tie);
/* The same with etcd's --max-request-bytes raised (0: the default). */
int eh_start_opts(eh_cluster *c, int n, int tie, long max_request_bytes);
/* SIGKILL member i and reap it. */
void eh_kill(eh_cluster *c, int i);
/* Start member i again on its data directory. 0 or -1. */
int eh_restart(eh_cluster *c, int i);
/* Index of the member that is leader (asked through Maintenance.Status of
 * every running member), or -1 if none answers as leader. */
int eh_leader(eh_cluster *c);
/* Wait until some running member reports a leader; 0 or -1 on timeout. */
int eh_wait_leader(eh_cluster *c, int timeout_ms);
/* The endpoint "127.0.0.1:P" of member i (static buffer per member). */
const char *eh_endpoint(eh_cluster *c, int i);
/* Kill every member and remove the data directory. */
void eh_stop(eh_cluster *c);

#endif
