/*
 * tikv_cluster: the CTest fixture around tikv_harness for suites that take
 * a store URI (the contract suite), as etcd_cluster is for etcd.
 *
 *   tikv_cluster start FILE [--stores N] [--split K1,K2...] [--key-mode txn|raw]
 *                             start a PD/TiKV test cluster (not tied to
 *                             this process), write FILE: line 1 the PD
 *                             endpoint, line 2 the cluster's directory,
 *                             line 3 its PID
 *   tikv_cluster stop FILE    SIGKILL that PID, remove the directory and FILE
 *   tikv_cluster run FILE -- CMD ARGS...
 *                             run CMD with every "{pd}" in ARGS replaced by
 *                             line 1 of FILE, and ORBIT_TEST_TIKV_READY set
 *                             to the cluster's ready file, so a test using
 *                             tikv_harness attaches to it (faults and
 *                             counters included) instead of starting one
 *
 * With ORBIT_TEST_TIKV_PD set, start records that endpoint and starts
 * nothing, and run leaves ORBIT_TEST_TIKV_READY unset.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tikv_harness.h"

static int stop(const char *file);

static int read_file(const char *file, char *pd, size_t pdsz, char *root, size_t rootsz, long *pid)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return -1;
    int ok = fgets(pd, (int)pdsz, f) && fgets(root, (int)rootsz, f) && fscanf(f, "%ld", pid) == 1;
    fclose(f);
    if (!ok)
        return -1;
    pd[strcspn(pd, "\n")] = '\0';
    root[strcspn(root, "\n")] = '\0';
    return 0;
}

static int start(const char *file, int argc, char **argv)
{
    stop(file); /* a cluster this file still records (ctest --repeat) */
    th_options o = {0};
    for (int i = 0; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--stores") == 0)
            o.stores = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--split") == 0)
            o.split = argv[i + 1];
        else if (strcmp(argv[i], "--key-mode") == 0)
            o.key_mode = argv[i + 1];
        else {
            fprintf(stderr, "tikv_cluster start: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    th_cluster c;
    if (th_start(&c, &o) != 0)
        return 1;
    FILE *f = fopen(file, "w");
    if (!f) {
        th_stop(&c);
        return 1;
    }
    fprintf(f, "%s\n%s\n%ld\n", th_pd(&c), c.root[0] ? c.root : "-", (long)c.pid);
    fclose(f);
    printf("PD/TiKV test cluster up: PD %s\n", th_pd(&c));
    return 0;
}

static int stop(const char *file)
{
    char pd[512], root[256];
    long pid;
    if (read_file(file, pd, sizeof pd, root, sizeof root, &pid) != 0)
        return 0; /* nothing was started */
    if (pid > 1) {
        kill((pid_t)pid, SIGKILL);
        for (int i = 0; i < 100 && kill((pid_t)pid, 0) == 0; i++) {
            /* not our child (start exited): init reaps it */
            struct timespec ts = {0, 20000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (root[0] == '/' && strstr(root, "orbit-tikv-")) {
        pid_t p = fork();
        if (p == 0) {
            execlp("rm", "rm", "-rf", root, (char *)NULL);
            _exit(127);
        }
        if (p > 0)
            waitpid(p, NULL, 0);
    }
    unlink(file);
    return 0;
}

static int run(const char *file, int argc, char **argv)
{
    char pd[512], root[256];
    long pid;
    if (read_file(file, pd, sizeof pd, root, sizeof root, &pid) != 0) {
        fprintf(stderr, "tikv_cluster run: no cluster file %s (fixture not started?)\n", file);
        return 1;
    }
    if (root[0] == '/') {
        char ready[300];
        snprintf(ready, sizeof ready, "%s/ready", root);
        setenv("ORBIT_TEST_TIKV_READY", ready, 1);
    }
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args)
        return 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *at = strstr(a, "{pd}");
        if (!at) {
            args[i] = argv[i];
            continue;
        }
        size_t n = strlen(a) - strlen("{pd}") + strlen(pd) + 1;
        args[i] = malloc(n);
        if (!args[i])
            return 1;
        snprintf(args[i], n, "%.*s%s%s", (int)(at - a), a, pd, at + strlen("{pd}"));
    }
    execvp(args[0], args);
    fprintf(stderr, "tikv_cluster run: cannot execute %s: %s\n", args[0], strerror(errno));
    return 127;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "start") == 0)
        return start(argv[2], argc - 3, argv + 3);
    if (argc == 3 && strcmp(argv[1], "stop") == 0)
        return stop(argv[2]);
    if (argc >= 5 && strcmp(argv[1], "run") == 0 && strcmp(argv[3], "--") == 0)
        return run(argv[2], argc - 4, argv + 4);
    fprintf(stderr, "usage: tikv_cluster start FILE [--stores N] [--split K,...] [--key-mode txn|raw]\n"
                    "       tikv_cluster stop FILE\n"
                    "       tikv_cluster run FILE -- CMD ARGS...\n");
    return 2;
}
