/*
 * etcd_cluster: the CTest fixture around etcd_harness for suites that take
 * a store URI (the contract suite).
 *
 *   etcd_cluster start FILE   start 3 members (--max-request-bytes raised
 *                             to ETCD_FIXTURE_MAX_REQUEST, so suites that
 *                             write two 1 MiB values in one batch can run
 *                             with the matching URI option), write FILE: line 1 the
 *                             endpoints, line 2 the data directory, then
 *                             one PID per line
 *   etcd_cluster stop FILE    SIGKILL those PIDs, wait for them to go,
 *                             remove the data directory and FILE
 *   etcd_cluster run FILE -- CMD ARGS...
 *                             run CMD with every "{endpoints}" in ARGS
 *                             replaced by line 1 of FILE
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "etcd_harness.h"

#define ETCD_FIXTURE_MAX_REQUEST (8L << 20)

static int stop(const char *file);

static int start(const char *file)
{
    /* A cluster this file still records (a fixture set up twice, as under
     * `ctest --repeat`, or a run that never reached its cleanup) is stopped
     * first: overwriting the file would leave its members running. */
    stop(file);
    eh_cluster c;
    if (eh_start_opts(&c, 3, 0, ETCD_FIXTURE_MAX_REQUEST) != 0)
        return 1;
    FILE *f = fopen(file, "w");
    if (!f) {
        eh_stop(&c);
        return 1;
    }
    fprintf(f, "%s\n%s\n", c.endpoints, c.root);
    for (int i = 0; i < c.n; i++)
        fprintf(f, "%d\n", (int)c.m[i].pid);
    fclose(f);
    printf("etcd cluster up: %s\n", c.endpoints);
    return 0;
}

static int read_head(const char *file, char *eps, size_t epsz, char *root, size_t rootsz, FILE **rest)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return -1;
    if (!fgets(eps, (int)epsz, f) || !fgets(root, (int)rootsz, f)) {
        fclose(f);
        return -1;
    }
    eps[strcspn(eps, "\n")] = '\0';
    root[strcspn(root, "\n")] = '\0';
    *rest = f;
    return 0;
}

/* Gone, or a zombie waiting for a reaper that may never come (the members'
 * parent exited right after starting them). */
static int gone(int pid)
{
    if (kill(pid, 0) != 0)
        return 1;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] == 'Z';
}

static int stop(const char *file)
{
    char eps[512], root[256];
    FILE *f;
    if (read_head(file, eps, sizeof eps, root, sizeof root, &f) != 0)
        return 0; /* nothing was started */
    int pid;
    while (fscanf(f, "%d", &pid) == 1) {
        if (pid <= 1)
            continue;
        kill(pid, SIGKILL);
        for (int i = 0; i < 100 && !gone(pid); i++) {
            struct timespec ts = {0, 50000000L};
            nanosleep(&ts, NULL);
        }
    }
    fclose(f);
    if (strncmp(root, "/", 1) == 0 && strstr(root, "orbit-etcd-")) {
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
    char eps[512], root[256];
    FILE *f;
    if (read_head(file, eps, sizeof eps, root, sizeof root, &f) != 0) {
        fprintf(stderr, "etcd_cluster run: no cluster file %s (fixture not started?)\n", file);
        return 1;
    }
    fclose(f);
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args)
        return 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *at = strstr(a, "{endpoints}");
        if (!at) {
            args[i] = argv[i];
            continue;
        }
        size_t n = strlen(a) - strlen("{endpoints}") + strlen(eps) + 1;
        args[i] = malloc(n);
        if (!args[i])
            return 1;
        snprintf(args[i], n, "%.*s%s%s", (int)(at - a), a, eps, at + strlen("{endpoints}"));
    }
    execvp(args[0], args);
    fprintf(stderr, "etcd_cluster run: cannot execute %s: %s\n", args[0], strerror(errno));
    return 127;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "start") == 0)
        return start(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "stop") == 0)
        return stop(argv[2]);
    if (argc >= 5 && strcmp(argv[1], "run") == 0 && strcmp(argv[3], "--") == 0)
        return run(argv[2], argc - 4, argv + 4);
    fprintf(stderr, "usage: %s start FILE | stop FILE | run FILE -- CMD ARGS...\n", argv[0]);
    return 2;
}
