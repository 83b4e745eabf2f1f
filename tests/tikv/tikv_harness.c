/*
 * The PD/TiKV test cluster harness (tikv_harness.h). th_start forks
 * /usr/bin/python3 tests/tikv/cluster.py with --ready-file in a fresh temp
 * directory and waits for that file: cluster.py writes it (by rename, so it
 * is complete when it appears) once PD, the stores and the control port
 * serve. The file gives the PD endpoint, the control port and the stores.
 * Control commands are HTTP/1.0 POSTs of a JSON object to
 * 127.0.0.1:<control>/<command>, one connection per call; answers are JSON
 * objects, parsed with jansson.
 */
#include "tikv_harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef TH_CLUSTER_PY
#define TH_CLUSTER_PY "tests/tikv/cluster.py"
#endif

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
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

/* Parse a ready file (see cluster.py). 0 or -1. */
static int read_ready(th_cluster *c, const char *path, long *pid)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[600], a[512];
    unsigned long long n;
    c->nstores = 0;
    *pid = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "pid %ld", pid) == 1)
            continue;
        if (sscanf(line, "pd %511s", a) == 1)
            memcpy(c->pd, a, sizeof c->pd);
        else if (sscanf(line, "control %d", &c->ctl_port) == 1)
            continue;
        else if (sscanf(line, "cluster_id %llu", &n) == 1)
            c->cluster_id = n;
        else if (sscanf(line, "store %llu %31s", &n, a) == 2 && c->nstores < TH_MAX_STORES) {
            c->store_id[c->nstores] = n;
            memcpy(c->store_addr[c->nstores], a, sizeof c->store_addr[0]);
            c->nstores++;
        }
    }
    fclose(f);
    return c->pd[0] && c->ctl_port > 0 ? 0 : -1;
}

/* Remove directories of clusters whose process is gone (a test that was
 * killed cannot clean up after itself). */
static void remove_stale(const char *base)
{
    DIR *d = opendir(base);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "orbit-tikv-", 11) != 0)
            continue;
        char path[512], ready[560];
        snprintf(path, sizeof path, "%s/%s", base, de->d_name);
        snprintf(ready, sizeof ready, "%s/ready", path);
        th_cluster tmp;
        memset(&tmp, 0, sizeof tmp);
        long pid;
        if (read_ready(&tmp, ready, &pid) != 0 || pid <= 1)
            continue; /* starting right now, or not ours */
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            rm_rf(path);
    }
    closedir(d);
}

static void print_log(const th_cluster *c)
{
    char path[320], buf[2048];
    snprintf(path, sizeof path, "%s/cluster.log", c->root);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    fprintf(stderr, "tikv harness: cluster.log:\n%s\n", buf);
}

int th_start(th_cluster *c, const th_options *o)
{
    th_options def = {0};
    if (!o)
        o = &def;
    memset(c, 0, sizeof *c);
    const char *real = getenv("ORBIT_TEST_TIKV_PD");
    if (real && *real) {
        c->external = 1;
        snprintf(c->pd, sizeof c->pd, "%s", real);
        return 0;
    }
    const char *ready_env = getenv("ORBIT_TEST_TIKV_READY");
    if (ready_env && *ready_env) {
        long pid;
        if (read_ready(c, ready_env, &pid) != 0) {
            fprintf(stderr, "tikv harness: cannot read ORBIT_TEST_TIKV_READY=%s\n", ready_env);
            return -1;
        }
        c->attached = 1;
        return 0;
    }
    const char *base = getenv("TMPDIR");
    if (!base || access(base, W_OK) != 0)
        base = "/tmp";
    remove_stale(base);
    snprintf(c->root, sizeof c->root, "%s/orbit-tikv-XXXXXX", base);
    if (!mkdtemp(c->root)) {
        fprintf(stderr, "tikv harness: cannot create a directory under %s: %s\n", base, strerror(errno));
        c->root[0] = '\0';
        return -1;
    }
    char ready[320], log[320], gen[320], stores[16], wait[16], pds[16];
    snprintf(ready, sizeof ready, "%s/ready", c->root);
    snprintf(log, sizeof log, "%s/cluster.log", c->root);
    snprintf(gen, sizeof gen, "%s/gen", c->root);
    snprintf(stores, sizeof stores, "%d", o->stores > 0 ? o->stores : 3);
    snprintf(pds, sizeof pds, "%d", o->pd_members > 0 ? o->pd_members : 1);
    snprintf(wait, sizeof wait, "%d", o->lock_wait_ms > 0 ? o->lock_wait_ms : 300);
    const char *py = getenv("ORBIT_TEST_PYTHON");
    if (!py || !*py)
        py = "/usr/bin/python3";
    const char *script = getenv("ORBIT_TIKV_CLUSTER_PY");
    if (!script || !*script)
        script = TH_CLUSTER_PY;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "tikv harness: fork: %s\n", strerror(errno));
        th_stop(c);
        return -1;
    }
    if (pid == 0) {
        if (o->tie) {
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
        execl(py, py, script, "--ready-file", ready, "--gen-dir", gen, "--stores", stores, "--pd", pds,
              "--split", o->split ? o->split : "", "--key-mode", o->key_mode ? o->key_mode : "txn",
              "--lock-wait-ms", wait, (char *)NULL);
        _exit(127);
    }
    c->pid = pid;
    for (int waited = 0; waited < 30000; waited += 20) {
        long rpid;
        if (access(ready, R_OK) == 0 && read_ready(c, ready, &rpid) == 0)
            return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            c->pid = 0;
            fprintf(stderr, "tikv harness: cluster.py exited (status %d) before serving\n", st);
            print_log(c);
            th_stop(c);
            return -1;
        }
        sleep_ms(20);
    }
    fprintf(stderr, "tikv harness: the cluster in %s did not serve within 30 s\n", c->root);
    print_log(c);
    th_stop(c);
    return -1;
}

void th_stop(th_cluster *c)
{
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
        c->pid = 0;
    }
    if (c->root[0]) {
        rm_rf(c->root);
        c->root[0] = '\0';
    }
    c->ctl_port = 0;
}

const char *th_pd(const th_cluster *c)
{
    return c->pd;
}

int th_has_faults(const th_cluster *c)
{
    return !c->external && c->ctl_port > 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int th_ctl(th_cluster *c, const char *cmd, const char *args, char **out)
{
    if (out)
        *out = NULL;
    if (!th_has_faults(c))
        return TH_UNAVAILABLE;
    if (!args)
        args = "{}";
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    struct timeval tv = {30, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)c->ctl_port);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        fprintf(stderr, "tikv harness: control port %d: %s\n", c->ctl_port, strerror(errno));
        close(s);
        return -1;
    }
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "POST /%s HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      cmd, strlen(args));
    if (hn < 0 || (size_t)hn >= sizeof head || write_all(s, head, (size_t)hn) != 0 ||
        write_all(s, args, strlen(args)) != 0) {
        close(s);
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(s);
        return -1;
    }
    for (;;) {
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(s);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(s, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(s);
    buf[len] = '\0';
    int status = 0;
    char *body = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/%*s %d", &status) != 1 || !body) {
        fprintf(stderr, "tikv harness: bad control answer to %s\n", cmd);
        free(buf);
        return -1;
    }
    body += 4;
    int rc = status == 200 ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "tikv harness: %s %s: %s\n", cmd, args, body);
    if (out) {
        *out = strdup(body);
        if (!*out)
            rc = -1;
    }
    free(buf);
    return rc;
}

/* th_ctl with jansson in and out; *res (if res) is the parsed answer. */
static int ctl_json(th_cluster *c, const char *cmd, json_t *args, json_t **res)
{
    if (res)
        *res = NULL;
    char *a = args ? json_dumps(args, JSON_COMPACT) : NULL;
    json_decref(args);
    if (args && !a)
        return -1;
    char *out = NULL;
    int rc = th_ctl(c, cmd, a, res ? &out : NULL);
    free(a);
    if (rc == 0 && res) {
        *res = json_loads(out, 0, NULL);
        if (!*res)
            rc = -1;
    }
    free(out);
    return rc;
}

static json_t *key_args(const void *key, size_t klen, const char *space)
{
    static const char hex[] = "0123456789abcdef";
    char *h = malloc(klen * 2 + 1);
    if (!h)
        return NULL;
    for (size_t i = 0; i < klen; i++) {
        h[2 * i] = hex[((const unsigned char *)key)[i] >> 4];
        h[2 * i + 1] = hex[((const unsigned char *)key)[i] & 15];
    }
    h[klen * 2] = '\0';
    json_t *o = json_pack("{s:s}", "key_hex", h);
    free(h);
    if (o && space)
        json_object_set_new(o, "space", json_string(space));
    return o;
}

int th_split(th_cluster *c, const void *key, size_t klen, const char *space, int after)
{
    if (!th_has_faults(c))
        return TH_UNAVAILABLE;
    json_t *a = key_args(key, klen, space);
    if (!a)
        return -1;
    json_object_set_new(a, "after", json_integer(after));
    return ctl_json(c, "split", a, NULL);
}

int th_move_leader(th_cluster *c, const void *key, size_t klen, const char *space, uint64_t store_id,
                   int hint, int after)
{
    if (!th_has_faults(c))
        return TH_UNAVAILABLE;
    json_t *a = key_args(key, klen, space);
    if (!a)
        return -1;
    if (store_id)
        json_object_set_new(a, "store_id", json_integer((json_int_t)store_id));
    json_object_set_new(a, "hint", json_boolean(hint));
    json_object_set_new(a, "after", json_integer(after));
    return ctl_json(c, "leader", a, NULL);
}

uint64_t th_leader_of(th_cluster *c, const void *key, size_t klen, const char *space)
{
    json_t *r;
    if (ctl_json(c, "region", key_args(key, klen, space), &r) != 0)
        return 0;
    uint64_t id = (uint64_t)json_integer_value(json_object_get(r, "leader"));
    json_decref(r);
    return id;
}

int th_region_count(th_cluster *c)
{
    json_t *st;
    if (ctl_json(c, "status", NULL, &st) != 0)
        return -1;
    int n = (int)json_array_size(json_object_get(st, "regions"));
    json_decref(st);
    return n;
}

int th_busy(th_cluster *c, uint64_t store_id, int count)
{
    return ctl_json(c, "busy", json_pack("{s:I,s:i}", "store_id", (json_int_t)store_id, "count", count), NULL);
}

int th_inject(th_cluster *c, uint64_t store_id, const char *error, int count, const char *method)
{
    json_t *a = json_pack("{s:I,s:s,s:i}", "store_id", (json_int_t)store_id, "error", error, "count", count);
    if (a && method)
        json_object_set_new(a, "method", json_string(method));
    return ctl_json(c, "inject", a, NULL);
}

int th_delay(th_cluster *c, uint64_t store_id, const char *method, int ms)
{
    json_t *a = json_pack("{s:I,s:i}", "store_id", (json_int_t)store_id, "ms", ms);
    if (a && method)
        json_object_set_new(a, "method", json_string(method));
    return ctl_json(c, "delay", a, NULL);
}

int th_kill_store(th_cluster *c, uint64_t store_id, int hang)
{
    return ctl_json(c, "kill", json_pack("{s:I,s:s}", "store_id", (json_int_t)store_id, "mode",
                                         hang ? "hang" : "down"), NULL);
}

int th_revive_store(th_cluster *c, uint64_t store_id)
{
    return ctl_json(c, "revive", json_pack("{s:I}", "store_id", (json_int_t)store_id), NULL);
}

int th_drop_store(th_cluster *c, uint64_t store_id)
{
    return ctl_json(c, "drop", json_pack("{s:I}", "store_id", (json_int_t)store_id), NULL);
}

int th_pd_leader(th_cluster *c, int member)
{
    return ctl_json(c, "pd_leader", member >= 0 ? json_pack("{s:i}", "member", member) : NULL, NULL);
}

int th_pd_fail(th_cluster *c, int count)
{
    return ctl_json(c, "pd_fail", json_pack("{s:i}", "count", count), NULL);
}

int th_advance_clock(th_cluster *c, long ms)
{
    return ctl_json(c, "clock", json_pack("{s:I}", "advance_ms", (json_int_t)ms), NULL);
}

int th_reset_counters(th_cluster *c)
{
    return ctl_json(c, "reset", NULL, NULL);
}

static long sum_methods(json_t *obj, const char *method)
{
    if (method)
        return (long)json_integer_value(json_object_get(obj, method));
    long n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) n += (long)json_integer_value(v);
    return n;
}

long th_counter(th_cluster *c, uint64_t store_id, const char *method)
{
    json_t *res;
    if (ctl_json(c, "counters", NULL, &res) != 0)
        return -1;
    json_t *stores = json_object_get(res, "stores");
    long n = 0;
    if (store_id) {
        char id[24];
        snprintf(id, sizeof id, "%llu", (unsigned long long)store_id);
        n = sum_methods(json_object_get(stores, id), method);
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(stores, k, v) n += sum_methods(v, method);
    }
    json_decref(res);
    return n;
}

long th_pd_counter(th_cluster *c, const char *method)
{
    json_t *res;
    if (ctl_json(c, "counters", NULL, &res) != 0)
        return -1;
    long n = sum_methods(json_object_get(res, "pd"), method);
    json_decref(res);
    return n;
}

long th_tso_requests(th_cluster *c)
{
    json_t *res;
    if (ctl_json(c, "counters", NULL, &res) != 0)
        return -1;
    long n = (long)json_integer_value(json_object_get(res, "tso_requests"));
    json_decref(res);
    return n;
}

long th_max_inflight(th_cluster *c, const char *method)
{
    json_t *res;
    if (ctl_json(c, "counters", NULL, &res) != 0)
        return -1;
    long n = (long)json_integer_value(json_object_get(json_object_get(res, "max_inflight"), method));
    json_decref(res);
    return n;
}

long th_locks(th_cluster *c, const void *key, size_t klen)
{
    json_t *res;
    if (!key) {
        if (ctl_json(c, "locks", NULL, &res) != 0)
            return -1;
        long n = (long)json_array_size(json_object_get(res, "locks"));
        json_decref(res);
        return n;
    }
    if (ctl_json(c, "key", key_args(key, klen, "txn"), &res) != 0)
        return -1;
    long n = json_is_object(json_object_get(res, "lock")) ? 1 : 0;
    json_decref(res);
    return n;
}
