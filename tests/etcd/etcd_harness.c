/*
 * The etcd test cluster (etcd_harness.h). Ports come from binding port 0 on
 * 127.0.0.1 and closing the socket just before etcd takes it; a member that
 * loses that race fails to start and the whole start is retried with new
 * ports. The leader is found with Maintenance.Status through Orbit's own
 * transport (src/rpc): a member is leader when status.leader equals the
 * member id in its response header.
 */
#include "etcd_harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "etcd_rpc.pb-c.h"
#include "rpc/rpc.h"

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(s);
    return port;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

const char *eh_endpoint(eh_cluster *c, int i)
{
    static __thread char buf[EH_MAX][32];
    snprintf(buf[i], sizeof buf[i], "127.0.0.1:%d", c->m[i].client_port);
    return buf[i];
}

static int spawn(eh_cluster *c, int i)
{
    eh_member *m = &c->m[i];
    char dir[320], log[320], curl[64], purl[64];
    snprintf(dir, sizeof dir, "%s/%s", c->root, m->name);
    snprintf(log, sizeof log, "%s/%s.log", c->root, m->name);
    snprintf(curl, sizeof curl, "http://127.0.0.1:%d", m->client_port);
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", m->peer_port);
    const char *bin = getenv("ORBIT_ETCD_BIN");
    if (!bin || !*bin)
        bin = "etcd";
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (c->tie) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(1);
        } else {
            setsid();
        }
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        char mrb[32];
        snprintf(mrb, sizeof mrb, "%ld", c->max_request_bytes > 0 ? c->max_request_bytes : 1572864L);
        execlp(bin, bin, "--name", m->name, "--data-dir", dir, "--listen-client-urls", curl,
               "--advertise-client-urls", curl, "--listen-peer-urls", purl,
               "--initial-advertise-peer-urls", purl, "--initial-cluster", c->initial,
               "--initial-cluster-state", "new", "--initial-cluster-token", c->token,
               "--max-request-bytes", mrb,
               /* Short raft timers: a lost leader is replaced in about a second. */
               "--heartbeat-interval", "50", "--election-timeout", "500", (char *)NULL);
        _exit(127);
    }
    m->pid = pid;
    return 0;
}

static void rm_rf(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", path, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

/* Remove data directories whose members are all gone: a test process that
 * was killed cannot clean up, and etcd's preallocated WAL files make each
 * directory a few hundred MB (of RAM, under /dev/shm). */
static void remove_stale(const char *base)
{
    DIR *d = opendir(base);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "orbit-etcd-", 11) != 0)
            continue;
        char path[512], pids[600];
        snprintf(path, sizeof path, "%s/%s", base, de->d_name);
        snprintf(pids, sizeof pids, "%s/pids", path);
        FILE *f = fopen(pids, "r");
        if (!f)
            continue; /* being set up right now, or not ours */
        int pid, alive = 0;
        while (fscanf(f, "%d", &pid) == 1)
            alive |= pid > 1 && kill(pid, 0) == 0;
        fclose(f);
        if (!alive)
            rm_rf(path);
    }
    closedir(d);
}

static void write_pids(eh_cluster *c)
{
    char path[320];
    snprintf(path, sizeof path, "%s/pids", c->root);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    for (int i = 0; i < c->n; i++)
        fprintf(f, "%d\n", (int)c->m[i].pid);
    fclose(f);
}

static int make_root(eh_cluster *c)
{
    const char *bases[] = {"/dev/shm", getenv("TMPDIR"), "/tmp"};
    for (size_t i = 0; i < sizeof bases / sizeof *bases; i++) {
        if (!bases[i] || access(bases[i], W_OK) != 0)
            continue;
        remove_stale(bases[i]);
        /* tmpfs is only worth it with room for three members' WALs. */
        struct statvfs sv;
        if (i == 0 && (statvfs(bases[i], &sv) != 0 || (uint64_t)sv.f_bavail * sv.f_frsize < (2ull << 30)))
            continue;
        snprintf(c->root, sizeof c->root, "%s/orbit-etcd-XXXXXX", bases[i]);
        if (mkdtemp(c->root))
            return 0;
    }
    return -1;
}

static void rm_root(eh_cluster *c)
{
    if (!c->root[0])
        return;
    rm_rf(c->root);
    c->root[0] = '\0';
}

int eh_start(eh_cluster *c, int n, int tie)
{
    return eh_start_opts(c, n, tie, 0);
}

int eh_start_opts(eh_cluster *c, int n, int tie, long max_request_bytes)
{
    if (n < 1 || n > EH_MAX)
        return -1;
    for (int tries = 0; tries < 3; tries++) {
        memset(c, 0, sizeof *c);
        c->n = n;
        c->tie = tie;
        c->max_request_bytes = max_request_bytes;
        if (make_root(c) != 0) {
            fprintf(stderr, "etcd harness: cannot create a data directory\n");
            return -1;
        }
        snprintf(c->token, sizeof c->token, "orbit-%d-%ld", (int)getpid(), (long)time(NULL) + tries);
        size_t off = 0, eoff = 0;
        for (int i = 0; i < n; i++) {
            eh_member *m = &c->m[i];
            snprintf(m->name, sizeof m->name, "m%d", i);
            m->client_port = free_port();
            m->peer_port = free_port();
            off += (size_t)snprintf(c->initial + off, sizeof c->initial - off, "%s%s=http://127.0.0.1:%d",
                                    i ? "," : "", m->name, m->peer_port);
            eoff += (size_t)snprintf(c->endpoints + eoff, sizeof c->endpoints - eoff, "%s127.0.0.1:%d",
                                     i ? "," : "", m->client_port);
        }
        int ok = 1;
        for (int i = 0; i < n && ok; i++)
            ok = spawn(c, i) == 0;
        write_pids(c);
        if (ok && eh_wait_leader(c, 20000) == 0) {
            int all = 1;
            for (int i = 0; i < n; i++)
                all &= c->m[i].pid > 0 && waitpid(c->m[i].pid, NULL, WNOHANG) == 0;
            if (all)
                return 0;
        }
        fprintf(stderr, "etcd harness: cluster in %s did not elect a leader (attempt %d)\n", c->root, tries + 1);
        eh_stop(c);
    }
    return -1;
}

void eh_kill(eh_cluster *c, int i)
{
    if (c->m[i].pid > 0) {
        kill(c->m[i].pid, SIGKILL);
        waitpid(c->m[i].pid, NULL, 0);
    }
    c->m[i].pid = 0;
}

int eh_restart(eh_cluster *c, int i)
{
    if (c->m[i].pid > 0)
        return 0;
    int rc = spawn(c, i);
    write_pids(c);
    return rc;
}

/* 1 if member i says it is the leader, 0 if not, -1 if it does not answer. */
static int is_leader(eh_cluster *c, int i)
{
    orbit__rpc_config cfg = {eh_endpoint(c, i), NULL, 0, 0, 0};
    orbit__rpc *r = NULL;
    if (orbit__rpc_open(&cfg, &r) != 0)
        return -1;
    Etcdserverpb__StatusRequest rq = ETCDSERVERPB__STATUS_REQUEST__INIT;
    uint8_t buf[16];
    size_t len = etcdserverpb__status_request__pack(&rq, buf);
    orbit__rpc_call_opts o = {1000, 0, 1, 0};
    orbit_buf resp = ORBIT_BUF_INIT;
    int res = -1;
    if (orbit__rpc_call(r, "/etcdserverpb.Maintenance/Status", buf, len, &o, &resp) == 0) {
        Etcdserverpb__StatusResponse *st = etcdserverpb__status_response__unpack(NULL, resp.len, resp.data);
        if (st) {
            res = st->header && st->leader != 0 && st->leader == st->header->member_id;
            etcdserverpb__status_response__free_unpacked(st, NULL);
        }
    }
    orbit_buf_release(&resp);
    orbit__rpc_close(r);
    return res;
}

int eh_leader(eh_cluster *c)
{
    for (int i = 0; i < c->n; i++)
        if (c->m[i].pid > 0 && is_leader(c, i) == 1)
            return i;
    return -1;
}

int eh_wait_leader(eh_cluster *c, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        for (int i = 0; i < c->n; i++)
            if (c->m[i].pid > 0 && waitpid(c->m[i].pid, NULL, WNOHANG) == c->m[i].pid)
                c->m[i].pid = 0; /* exited: a port race or a crash */
        if (eh_leader(c) >= 0)
            return 0;
        sleep_ms(100);
    }
    return -1;
}

void eh_stop(eh_cluster *c)
{
    for (int i = 0; i < c->n; i++)
        eh_kill(c, i);
    rm_root(c);
}
