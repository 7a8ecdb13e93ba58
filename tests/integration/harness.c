/*
 * harness.c - process, socket and frame helpers for the integration tests.
 *
 * Everything here is deliberately independent of the code under test:
 * frames are encoded by hand and replies decoded with plain msgpack-c, so
 * a bug in common/codec.c cannot hide the same bug in the server. Only the
 * readiness probe, the stats helpers and freeing the clients a fixture
 * kept use the client library. The cmocka fixture glue built on this is
 * in harness_fixture.c.
 */
#define _GNU_SOURCE /* nftw, pipe2, close_range */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

extern char **environ;

/* How long a server may take to become ready; SQLite open and recovery
 * after kill -9 are well under a second, 10 s absorbs a loaded CI box. */
#define READY_TIMEOUT_MS 10000
/* Attempts to start on a fresh port: another process may grab the port
 * between rc_h_free_port() and the server's bind. */
#define START_ATTEMPTS 3

double rc_h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void rc_h_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void on_alarm(int sig)
{
    static const char msg[] = "\n*** integration test timed out; exiting (children die with us)\n";
    (void)sig;
    (void)!write(STDOUT_FILENO, msg, sizeof(msg) - 1);
    _exit(1);
}

void rc_h_arm_timeout(unsigned seconds)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(seconds);
}

int rc_h_init(struct rc_harness *h)
{
    memset(h, 0, sizeof(*h));
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    h->server_bin = getenv("RC_SERVER_BIN");
    h->cli_bin = getenv("RC_CLI_BIN");
    if (h->server_bin == NULL || h->server_bin[0] == '\0') {
        printf("harness: RC_SERVER_BIN is not set\n");
        return -1;
    }
    snprintf(h->root, sizeof(h->root), "/tmp/rc-itest-XXXXXX");
    if (mkdtemp(h->root) == NULL) {
        printf("harness: mkdtemp: %s\n", strerror(errno));
        h->root[0] = '\0';
        return -1;
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void rc_h_test_begin(struct rc_harness *h, unsigned timeout_s)
{
    h->passed = 0;
    rc_h_arm_timeout(timeout_s);
}

void rc_h_test_end(struct rc_harness *h)
{
    int i;
    alarm(0);
    if (h->passed)
        return;
    for (i = 0; i < h->nservers; i++)
        if (h->servers[i].log_path[0] != '\0')
            rc_h_print_log_tail(&h->servers[i], 4096);
}

void rc_h_close(struct rc_harness *h)
{
    int i, j;
    rc_h_test_end(h);
    rc_h_clients_drop(h);
    for (i = 0; i < h->nservers; i++) {
        struct rc_hserver *s = &h->servers[i];
        if (s->pid > 0)
            rc_h_server_kill(s);
        for (j = 0; j < s->nextra; j++)
            free(s->extra[j]);
        for (j = 0; j < s->nenv; j++)
            free(s->env[j]);
        s->nextra = s->nenv = 0;
    }
    if (h->root[0] != '\0')
        nftw(h->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    h->root[0] = '\0';
    h->nservers = 0;
}

/* ---- processes ---- */

/* environ without RINGCACHE_* plus add (NULL-terminated). Caller frees the
 * array (not the strings). */
static char **build_env(const char *const *add)
{
    size_t n = 0, nadd = 0, i, k = 0;
    char **env;
    while (environ[n] != NULL)
        n++;
    while (add != NULL && add[nadd] != NULL)
        nadd++;
    env = calloc(n + nadd + 1, sizeof(*env));
    if (env == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        if (strncmp(environ[i], "RINGCACHE_", 10) != 0)
            env[k++] = environ[i];
    for (i = 0; i < nadd; i++)
        env[k++] = (char *)add[i];
    env[k] = NULL;
    return env;
}

/* In the child once stdio is in place: die with the parent, default
 * SIGPIPE, and no inherited descriptors (a test's client socket kept open
 * by a child would keep that connection alive on the server). */
static void child_common(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(126);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGALRM, SIG_DFL);
    close_range(3, ~0u, 0);
}

struct rc_hserver *rc_h_server_new(struct rc_harness *h, const char *data_dir,
                                   const char *const *extra)
{
    struct rc_hserver *s;
    char root[sizeof(h->root)];
    int idx;
    if (h->nservers >= RC_H_MAX_SERVERS)
        return NULL;
    memcpy(root, h->root, sizeof(root));
    idx = h->nservers++;
    s = &h->servers[idx];
    memset(s, 0, sizeof(*s));
    s->last_status = -1;
    if (data_dir != NULL) {
        snprintf(s->data_dir, sizeof(s->data_dir), "%s", data_dir);
    } else {
        snprintf(s->data_dir, sizeof(s->data_dir), "%s/data%d", root, idx);
        if (mkdir(s->data_dir, 0700) != 0) {
            printf("harness: mkdir %s: %s\n", s->data_dir, strerror(errno));
            return NULL;
        }
    }
    snprintf(s->log_path, sizeof(s->log_path), "%s/server%d.log", root, idx);
    while (extra != NULL && extra[s->nextra] != NULL && s->nextra < RC_H_MAX_EXTRA) {
        s->extra[s->nextra] = strdup(extra[s->nextra]);
        if (s->extra[s->nextra] == NULL)
            return NULL;
        s->nextra++;
    }
    return s;
}

int rc_h_server_setenv(struct rc_hserver *s, const char *name_value)
{
    if (s->nenv >= RC_H_MAX_EXTRA)
        return -1;
    s->env[s->nenv] = strdup(name_value);
    if (s->env[s->nenv] == NULL)
        return -1;
    s->env[++s->nenv] = NULL;
    return 0;
}

static pid_t spawn_server(struct rc_harness *h, struct rc_hserver *s)
{
    char port[16], peer_port[16];
    const char *argv[16 + RC_H_MAX_EXTRA];
    char **env;
    int n = 0, i, fd;
    pid_t parent = getpid(), pid;

    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(peer_port, sizeof(peer_port), "%d", s->peer_port);
    argv[n++] = h->server_bin;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--port";
    argv[n++] = port;
    /* Always a peer port of our own: the default (7401) would collide
     * between servers of parallel tests and with a node already running. */
    argv[n++] = "--peer-port";
    argv[n++] = peer_port;
    argv[n++] = "--data-dir";
    argv[n++] = s->data_dir;
    argv[n++] = "--log-level";
    argv[n++] = "debug";
    for (i = 0; i < s->nextra; i++)
        argv[n++] = s->extra[i];
    argv[n] = NULL;

    fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    env = build_env((const char *const *)s->env);
    if (fd < 0 || env == NULL) {
        printf("harness: cannot open %s or build env\n", s->log_path);
        if (fd >= 0)
            close(fd);
        free(env);
        return -1;
    }
    dprintf(fd, "==== harness: starting %s on port %d, peer port %d\n", h->server_bin, s->port,
            s->peer_port);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        child_common(parent);
        /* cwd in the temp dir: a stray relative file (say ":memory:") lands
         * where the tests can see it and rc_h_close removes it. */
        if (chdir(h->root) != 0)
            _exit(127);
        execve(argv[0], (char *const *)argv, env);
        dprintf(STDERR_FILENO, "harness: execve %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd);
    free(env);
    if (pid < 0)
        printf("harness: fork: %s\n", strerror(errno));
    return pid;
}

/* Reaps s->pid if it exited. Returns 1 if it is gone. */
static int reap_nohang(struct rc_hserver *s)
{
    int st;
    pid_t r;
    if (s->pid <= 0)
        return 1;
    r = waitpid(s->pid, &st, WNOHANG);
    if (r == 0)
        return 0;
    if (r == s->pid)
        s->last_status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    s->pid = 0;
    return 1;
}

static int wait_ready(struct rc_hserver *s)
{
    double deadline = rc_h_now_ms() + READY_TIMEOUT_MS;
    while (rc_h_now_ms() < deadline) {
        int fd;
        if (reap_nohang(s)) {
            printf("harness: server exited early (status %d)\n", s->last_status);
            return -1;
        }
        fd = rc_h_tcp_connect(s->port, 200);
        if (fd >= 0) {
            struct rc_client *c;
            close(fd);
            c = rc_h_client(s, 1000);
            if (c != NULL) {
                int rc = rc_client_ping(c);
                rc_client_free(c);
                if (rc == 0)
                    return 0;
            }
        }
        rc_h_sleep_ms(20);
    }
    printf("harness: server on port %d not ready after %d ms\n", s->port, READY_TIMEOUT_MS);
    return -1;
}

int rc_h_server_add_arg(struct rc_hserver *s, const char *arg)
{
    if (s->nextra >= RC_H_MAX_EXTRA)
        return -1;
    s->extra[s->nextra] = strdup(arg);
    if (s->extra[s->nextra] == NULL)
        return -1;
    s->nextra++;
    return 0;
}

static int reserve_ports(int *ports, const int *udp, int n);

int rc_h_server_start(struct rc_harness *h, struct rc_hserver *s)
{
    int attempt, attempts = s->fixed_ports ? 1 : START_ATTEMPTS;
    if (s->pid > 0) {
        printf("harness: server already running\n");
        return -1;
    }
    for (attempt = 0; attempt < attempts; attempt++) {
        double t0 = rc_h_now_ms();
        if (!s->fixed_ports || s->port <= 0 || s->peer_port <= 0) {
            static const int udp[2] = {0, 1};
            int ports[2];
            if (reserve_ports(ports, udp, 2) != 0)
                return -1;
            s->port = ports[0];
            s->peer_port = ports[1];
        }
        snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", s->port);
        s->pid = spawn_server(h, s);
        if (s->pid < 0) {
            s->pid = 0;
            return -1;
        }
        if (wait_ready(s) == 0) {
            printf("harness: server pid %d ready on %s (peer port %d) in %.0f ms\n", (int)s->pid,
                   s->addr, s->peer_port, rc_h_now_ms() - t0);
            return 0;
        }
        rc_h_print_log_tail(s, 4096);
        if (s->pid > 0) {
            rc_h_server_kill(s);
            return -1; /* running but not answering: a retry will not help */
        }
    }
    return -1;
}

int rc_h_server_stop(struct rc_hserver *s, int timeout_ms)
{
    return rc_h_server_stop_sig(s, SIGTERM, timeout_ms);
}

int rc_h_server_stop_sig(struct rc_hserver *s, int sig, int timeout_ms)
{
    double deadline = rc_h_now_ms() + timeout_ms;
    if (s->pid <= 0)
        return s->last_status;
    if (sig != 0)
        kill(s->pid, sig);
    while (rc_h_now_ms() < deadline) {
        if (reap_nohang(s))
            return s->last_status;
        rc_h_sleep_ms(5);
    }
    printf("harness: server pid %d ignored signal %d for %d ms; killing\n", (int)s->pid, sig,
           timeout_ms);
    rc_h_server_kill(s);
    s->last_status = -1000;
    return -1000;
}

void rc_h_server_kill(struct rc_hserver *s)
{
    int st;
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    if (waitpid(s->pid, &st, 0) == s->pid)
        s->last_status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    s->pid = 0;
}

int rc_h_server_alive(struct rc_hserver *s)
{
    return !reap_nohang(s);
}

long rc_h_server_status_kib(const struct rc_hserver *s, const char *field)
{
    char path[64], line[256];
    size_t flen = strlen(field);
    long kib = -1;
    FILE *f;
    if (s->pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)s->pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            if (sscanf(line + flen + 1, "%ld", &kib) != 1)
                kib = -1;
            break;
        }
    }
    fclose(f);
    return kib;
}

long rc_h_server_rss_kib(const struct rc_hserver *s)
{
    return rc_h_server_status_kib(s, "VmRSS");
}

int rc_h_log_count(const struct rc_hserver *s, const char *a, const char *b)
{
    char line[2048];
    int n = 0;
    FILE *fp = fopen(s->log_path, "r");
    if (fp == NULL)
        return 0;
    while (fgets(line, sizeof(line), fp) != NULL)
        n += strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL);
    fclose(fp);
    return n;
}

int rc_h_log_contains(const struct rc_hserver *s, const char *needle)
{
    char line[1024];
    int found = 0;
    FILE *f = fopen(s->log_path, "r");
    if (f == NULL)
        return 0;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

void rc_h_print_log_tail(const struct rc_hserver *s, size_t max_bytes)
{
    char buf[4096];
    size_t n;
    long size;
    FILE *f = fopen(s->log_path, "r");
    if (f == NULL) {
        printf("harness: no log at %s\n", s->log_path);
        return;
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    if (size > (long)max_bytes)
        fseek(f, size - (long)max_bytes, SEEK_SET);
    else
        fseek(f, 0, SEEK_SET);
    printf("---- tail of %s ----\n", s->log_path);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, stdout);
    printf("---- end of log ----\n");
    fclose(f);
}

struct rc_client *rc_h_client(const struct rc_hserver *s, int io_ms)
{
    struct rc_client_opts o;
    struct rc_client *c = NULL;
    memset(&o, 0, sizeof(o));
    o.connect_timeout_ms = 2000;
    o.io_timeout_ms = io_ms;
    if (rc_client_connect(s->addr, &o, &c) != 0)
        return NULL;
    return c;
}

int rc_h_stat(const struct rc_result *res, const char *name, int64_t *num, const char **str)
{
    size_t i;
    for (i = 0; i < res->nstats; i++) {
        if (strcmp(res->stats[i].name, name) != 0)
            continue;
        if (num != NULL)
            *num = res->stats[i].is_str ? -1 : res->stats[i].num;
        if (str != NULL)
            *str = res->stats[i].is_str ? res->stats[i].str : NULL;
        return 0;
    }
    return -1;
}

int64_t rc_h_stat_num(struct rc_client *c, const char *name)
{
    struct rc_result res;
    int64_t v = -1;
    if (rc_client_stats(c, &res) != 0 || res.err != 0)
        return -1;
    if (rc_h_stat(&res, name, &v, NULL) != 0)
        return -1;
    return v;
}

/* ---- subprocesses ---- */

struct capture {
    int fd;
    uint8_t *buf;
    size_t len, cap;
};

/* Reads what is available; returns 1 at EOF/error, 0 otherwise. */
static int capture_read(struct capture *c)
{
    uint8_t tmp[65536];
    ssize_t n = read(c->fd, tmp, sizeof(tmp));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0)
        return 1;
    if (c->len < c->cap) {
        size_t k = (size_t)n < c->cap - c->len ? (size_t)n : c->cap - c->len;
        memcpy(c->buf + c->len, tmp, k);
        c->len += k;
    }
    return 0;
}

static pid_t spawn_cmd(const char *bin, const char *const *argv, char **env, int in[2], int out[2],
                       int err[2])
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    child_common(parent);
    execve(bin, (char *const *)argv, env);
    dprintf(STDERR_FILENO, "harness: execve %s: %s\n", bin, strerror(errno));
    _exit(127);
}

/* Feeds stdin and drains both outputs until the child closes them or the
 * deadline passes. Returns 0, or -1 on timeout. */
static int pump(int *in_fd, const uint8_t *in, size_t in_len, struct capture *cap, double deadline)
{
    size_t off = 0;
    int open_out = 2;
    while (open_out > 0 || *in_fd >= 0) {
        struct pollfd p[3];
        int np = 0, i, wait_ms = (int)(deadline - rc_h_now_ms());
        if (wait_ms <= 0)
            return -1;
        for (i = 0; i < 2; i++)
            if (cap[i].fd >= 0)
                p[np++] = (struct pollfd){.fd = cap[i].fd, .events = POLLIN};
        if (*in_fd >= 0)
            p[np++] = (struct pollfd){.fd = *in_fd, .events = POLLOUT};
        if (poll(p, (nfds_t)np, wait_ms) < 0 && errno != EINTR)
            return -1;
        for (i = 0; i < 2; i++) {
            if (cap[i].fd >= 0 && capture_read(&cap[i])) {
                close(cap[i].fd);
                cap[i].fd = -1;
                open_out--;
            }
        }
        if (*in_fd >= 0) {
            ssize_t n = off < in_len ? write(*in_fd, in + off, in_len - off) : 0;
            if (n > 0)
                off += (size_t)n;
            if (off >= in_len || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                close(*in_fd);
                *in_fd = -1;
            }
        }
    }
    return 0;
}

int rc_h_run(const char *bin, const char *const *argv, const char *const *env, const void *in,
             size_t in_len, int timeout_ms, size_t cap, struct rc_hrun *r)
{
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1}, st = 0, rc = -1, i;
    struct capture c[2];
    double t0 = rc_h_now_ms(), deadline = t0 + timeout_ms;
    char **envp = build_env(env);
    pid_t pid;

    memset(r, 0, sizeof(*r));
    memset(c, 0, sizeof(c));
    r->out = malloc(cap + 1);
    r->err = malloc(cap + 1);
    if (envp == NULL || r->out == NULL || r->err == NULL || pipe2(pin, O_CLOEXEC) != 0 ||
        pipe2(pout, O_CLOEXEC) != 0 || pipe2(perr, O_CLOEXEC) != 0)
        goto out;
    pid = spawn_cmd(bin, argv, envp, pin, pout, perr);
    if (pid < 0)
        goto out;
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    pin[0] = pout[1] = perr[1] = -1;
    fcntl(pin[1], F_SETFL, O_NONBLOCK);
    fcntl(pout[0], F_SETFL, O_NONBLOCK);
    fcntl(perr[0], F_SETFL, O_NONBLOCK);
    c[0] = (struct capture){pout[0], r->out, 0, cap};
    c[1] = (struct capture){perr[0], r->err, 0, cap};
    pout[0] = perr[0] = -1;

    if (pump(&pin[1], in, in_len, c, deadline) != 0)
        r->timed_out = 1;
    while (!r->timed_out && waitpid(pid, &st, WNOHANG) == 0) {
        if (rc_h_now_ms() >= deadline)
            r->timed_out = 1;
        else
            rc_h_sleep_ms(2);
    }
    if (r->timed_out) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        r->status = -1000;
    } else {
        r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    }
    r->out_len = c[0].len;
    r->err_len = c[1].len;
    r->out[r->out_len] = '\0';
    r->err[r->err_len] = '\0';
    r->elapsed_ms = rc_h_now_ms() - t0;
    rc = 0;
out:
    for (i = 0; i < 2; i++)
        if (c[i].fd > 0)
            close(c[i].fd);
    for (i = 0; i < 2; i++) {
        if (pin[i] >= 0)
            close(pin[i]);
        if (pout[i] >= 0)
            close(pout[i]);
        if (perr[i] >= 0)
            close(perr[i]);
    }
    free(envp);
    if (rc != 0)
        rc_h_run_free(r);
    return rc;
}

void rc_h_run_free(struct rc_hrun *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
    r->out_len = r->err_len = 0;
}

/* ---- sockets ---- */

static int reserve_one(int udp, int fds[2]);

/* Test servers get ports below Linux's ephemeral range (32768-60999 by
 * default): a port the kernel hands out for outgoing connections could be
 * taken by some client socket while a test node is down, and the node
 * could not restart on it. */
#define PORT_LOW 20000
#define PORT_SPAN 12000

/* A candidate port, different on each call and in each process. */
static int candidate_port(void)
{
    struct timespec ts;
    unsigned seed;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    seed = (unsigned)getpid() * 2654435761u ^ (unsigned)ts.tv_nsec;
    return PORT_LOW + (int)(rand_r(&seed) % PORT_SPAN);
}

int rc_h_free_port(void)
{
    int fds[2], port = -1;

    if (reserve_one(0, fds) > 0) {
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);

        if (getsockname(fds[0], (struct sockaddr *)&sa, &sl) == 0)
            port = ntohs(sa.sin_port);
        close(fds[0]);
    }
    return port;
}

/* Binds a TCP socket (and with udp a UDP socket on the same number) on
 * every address to a free port below the ephemeral range. The sockets stay open in fds so
 * that the next reservation gets another port. Returns the port or -1. */
/* Ports this process handed out: a port is reserved only until the
 * server it is for binds it, which may be much later (a node started in
 * the middle of a test), so a later reservation must not pick it again
 * although it is free then (two nodes of one test then failed with
 * "address already in use"). A ring of the last ISSUED_MAX. */
#define ISSUED_MAX 512
static int issued[ISSUED_MAX];
static unsigned nissued;

static int was_issued(int port)
{
    unsigned i, n = nissued < ISSUED_MAX ? nissued : ISSUED_MAX;

    for (i = 0; i < n; i++)
        if (issued[i] == port)
            return 1;
    return 0;
}

static int issue(int port)
{
    issued[nissued++ % ISSUED_MAX] = port;
    return port;
}

static int reserve_one(int udp, int fds[2])
{
    int attempt;
    for (attempt = 0; attempt < 256; attempt++) {
        struct sockaddr_in sa;
        int port = -1, cand = candidate_port();
        if (was_issued(cand))
            continue;
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
        sa.sin_port = htons((uint16_t)cand);
        fds[1] = -1;
        fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[0] < 0)
            return -1;
        if (bind(fds[0], (struct sockaddr *)&sa, sizeof(sa)) == 0)
            port = cand;
        if (port > 0 && !udp)
            return issue(port);
        if (port > 0) {
            fds[1] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (fds[1] >= 0 && bind(fds[1], (struct sockaddr *)&sa, sizeof(sa)) == 0)
                return issue(port);
        }
        close(fds[0]);
        if (fds[1] >= 0)
            close(fds[1]);
        fds[0] = fds[1] = -1;
    }
    return -1;
}

/* n distinct free ports (udp[i]: free for UDP too), all reserved at once
 * and released together. 0 or -1. */
static int reserve_ports(int *ports, const int *udp, int n)
{
    int fds[2 * 2 * RC_H_MAX_SERVERS], i, rc = 0;
    if (n > 2 * RC_H_MAX_SERVERS)
        return -1;
    for (i = 0; i < n; i++) {
        ports[i] = reserve_one(udp[i], &fds[2 * i]);
        if (ports[i] < 0) {
            printf("harness: no free port\n");
            rc = -1;
            n = i;
            break;
        }
    }
    for (i = 0; i < 2 * n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return rc;
}

int rc_h_free_port_tcp_udp(void)
{
    static const int udp[1] = {1};
    int port;
    return reserve_ports(&port, udp, 1) == 0 ? port : -1;
}

int rc_h_listen_blackhole(int *port)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

int rc_h_tcp_connect(int port, int timeout_ms)
{
    struct sockaddr_in sa;
    struct pollfd p;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), err = 0, one = 1;
    socklen_t el = sizeof(err);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (errno != EINPROGRESS)
            goto fail;
        p = (struct pollfd){.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, timeout_ms) != 1)
            goto fail;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0)
            goto fail;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
fail:
    close(fd);
    return -1;
}

int rc_h_send_all(int fd, const void *p, size_t n, int timeout_ms)
{
    const uint8_t *b = p;
    double deadline = rc_h_now_ms() + timeout_ms;
    while (n > 0) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        ssize_t k;
        int wait_ms = (int)(deadline - rc_h_now_ms());
        if (wait_ms <= 0 || poll(&pf, 1, wait_ms) != 1)
            return -1;
        k = send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (k <= 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads exactly n bytes. Returns n, the (smaller) count read before EOF,
 * -2 on a timeout before the first byte, or -1 on error / later timeout. */
static ssize_t recv_exact(int fd, uint8_t *buf, size_t n, double deadline)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        ssize_t k;
        int wait_ms = (int)(deadline - rc_h_now_ms());
        if (wait_ms <= 0 || poll(&pf, 1, wait_ms) != 1)
            return got == 0 ? -2 : -1;
        k = recv(fd, buf + got, n - got, MSG_DONTWAIT);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (k < 0) {
            printf("recv: %s\n", strerror(errno));
            return -1;
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

void rc_h_frame_header(uint8_t hdr[8], uint8_t version, uint8_t flags, uint32_t body_len)
{
    hdr[0] = 'R';
    hdr[1] = 'C';
    hdr[2] = version;
    hdr[3] = flags;
    hdr[4] = (uint8_t)(body_len >> 24);
    hdr[5] = (uint8_t)(body_len >> 16);
    hdr[6] = (uint8_t)(body_len >> 8);
    hdr[7] = (uint8_t)body_len;
}

/* msgpack writers over a bounded buffer; *len is advanced, and set past
 * cap on overflow so the caller can detect it once at the end. */
static void put_bytes(uint8_t *buf, size_t *len, size_t cap, const void *p, size_t n)
{
    if (*len + n > cap) {
        *len = cap + 1;
        return;
    }
    memcpy(buf + *len, p, n);
    *len += n;
}

static void put_be(uint8_t *buf, size_t *len, size_t cap, uint8_t tag, uint64_t v, int width)
{
    uint8_t b[9];
    int i;
    b[0] = tag;
    for (i = 0; i < width; i++)
        b[1 + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
    put_bytes(buf, len, cap, b, (size_t)width + 1);
}

static void put_uint(uint8_t *buf, size_t *len, size_t cap, uint64_t v)
{
    uint8_t b = (uint8_t)v;
    if (v < 128)
        put_bytes(buf, len, cap, &b, 1);
    else if (v <= 0xff)
        put_be(buf, len, cap, 0xcc, v, 1);
    else if (v <= 0xffff)
        put_be(buf, len, cap, 0xcd, v, 2);
    else if (v <= 0xffffffffu)
        put_be(buf, len, cap, 0xce, v, 4);
    else
        put_be(buf, len, cap, 0xcf, v, 8);
}

static void put_bin(uint8_t *buf, size_t *len, size_t cap, const void *p, size_t n)
{
    if (n <= 0xff)
        put_be(buf, len, cap, 0xc4, n, 1);
    else if (n <= 0xffff)
        put_be(buf, len, cap, 0xc5, n, 2);
    else
        put_be(buf, len, cap, 0xc6, n, 4);
    put_bytes(buf, len, cap, p, n);
}

size_t rc_h_encode_request(uint8_t *buf, size_t len, size_t cap, uint32_t op, uint32_t id,
                           const void *key, size_t key_len, const void *value, size_t value_len)
{
    size_t start = len, pos;
    uint8_t b;
    if (len + RC_H_HDR > cap)
        return 0;
    pos = len + RC_H_HDR;
    b = 0x93;
    put_bytes(buf, &pos, cap, &b, 1);
    put_uint(buf, &pos, cap, op);
    put_uint(buf, &pos, cap, id);
    b = (uint8_t)(0x80 | ((key != NULL) + (value != NULL)));
    put_bytes(buf, &pos, cap, &b, 1);
    if (key != NULL) {
        put_uint(buf, &pos, cap, 1);
        put_bin(buf, &pos, cap, key, key_len);
    }
    if (value != NULL) {
        put_uint(buf, &pos, cap, 2);
        put_bin(buf, &pos, cap, value, value_len);
    }
    if (pos > cap)
        return 0;
    rc_h_frame_header(buf + start, 1, 0, (uint32_t)(pos - start - RC_H_HDR));
    return pos;
}

static int decode_reply(const uint8_t *body, size_t len, struct rc_hreply *rep)
{
    msgpack_unpacked u;
    size_t off = 0;
    int rc = -1;
    uint32_t i;

    memset(rep, 0, sizeof(*rep));
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, (const char *)body, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len)
        goto out;
    if (u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size != 3)
        goto out;
    if (u.data.via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        u.data.via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        u.data.via.array.ptr[2].type != MSGPACK_OBJECT_MAP)
        goto out;
    rep->status = (uint32_t)u.data.via.array.ptr[0].via.u64;
    rep->id = (uint32_t)u.data.via.array.ptr[1].via.u64;
    for (i = 0; i < u.data.via.array.ptr[2].via.map.size; i++) {
        const msgpack_object_kv *kv = &u.data.via.array.ptr[2].via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_POSITIVE_INTEGER && kv->key.via.u64 == 5 &&
            kv->val.type == MSGPACK_OBJECT_STR) {
            rep->message = kv->val.via.str.ptr;
            rep->message_len = kv->val.via.str.size;
            continue;
        }
        if (kv->key.type != MSGPACK_OBJECT_POSITIVE_INTEGER || kv->key.via.u64 != 2)
            continue;
        if (kv->val.type == MSGPACK_OBJECT_BIN) {
            /* The object points into body, which the caller owns. */
            rep->value = (const uint8_t *)kv->val.via.bin.ptr;
            rep->value_len = kv->val.via.bin.size;
            rep->has_value = 1;
        } else if (kv->val.type == MSGPACK_OBJECT_STR) {
            rep->value = (const uint8_t *)kv->val.via.str.ptr;
            rep->value_len = kv->val.via.str.size;
            rep->has_value = 1;
        }
    }
    rc = 0;
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}

int rc_h_read_reply(int fd, uint8_t *buf, size_t cap, int timeout_ms, struct rc_hreply *rep)
{
    double deadline = rc_h_now_ms() + timeout_ms;
    uint32_t blen;
    ssize_t n = recv_exact(fd, buf, RC_H_HDR, deadline);
    if (n == 0)
        return RC_H_EOF;
    if (n == -2)
        return RC_H_TIMEOUT;
    if (n != RC_H_HDR) {
        printf("read_reply: %s\n", n < 0 ? "error or timeout inside the header" : "EOF inside the header");
        return -1;
    }
    if (buf[0] != 'R' || buf[1] != 'C' || buf[2] != 1 || buf[3] != 0) {
        printf("read_reply: bad reply header %02x %02x %02x %02x\n", buf[0], buf[1], buf[2],
               buf[3]);
        return -1;
    }
    blen = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
    if ((size_t)blen > cap - RC_H_HDR) {
        printf("read_reply: reply body of %u bytes exceeds buffer\n", blen);
        return -1;
    }
    n = recv_exact(fd, buf + RC_H_HDR, blen, deadline);
    if (n != (ssize_t)blen) {
        printf("read_reply: truncated body (%zd of %u)\n", n, blen);
        return -1;
    }
    if (decode_reply(buf + RC_H_HDR, blen, rep) != 0) {
        printf("read_reply: undecodable reply body (%u bytes)\n", blen);
        return -1;
    }
    return 0;
}

int rc_h_wait_closed(int fd, int timeout_ms)
{
    double deadline = rc_h_now_ms() + timeout_ms;
    uint8_t tmp[4096];
    for (;;) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        ssize_t k;
        int wait_ms = (int)(deadline - rc_h_now_ms());
        if (wait_ms <= 0 || poll(&pf, 1, wait_ms) != 1)
            return -1;
        k = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
            return 0;
    }
}

/* ---- clusters ---- */

int rc_h_cluster_new(struct rc_harness *h, int n, const char *const *extra,
                     struct rc_hserver **out)
{
    int ports[2 * RC_H_MAX_SERVERS], udp[2 * RC_H_MAX_SERVERS], i;
    char seeds[64];
    if (n < 1 || h->nservers + n > RC_H_MAX_SERVERS) {
        printf("harness: a cluster of %d does not fit (%d slots used of %d)\n", n, h->nservers,
               RC_H_MAX_SERVERS);
        return -1;
    }
    for (i = 0; i < 2 * n; i++)
        udp[i] = i % 2; /* client port TCP, peer port TCP + UDP */
    if (reserve_ports(ports, udp, 2 * n) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        out[i] = rc_h_server_new(h, NULL, extra);
        if (out[i] == NULL)
            return -1;
        out[i]->port = ports[2 * i];
        out[i]->peer_port = ports[2 * i + 1];
        out[i]->fixed_ports = 1;
        snprintf(out[i]->addr, sizeof(out[i]->addr), "127.0.0.1:%d", out[i]->port);
    }
    snprintf(seeds, sizeof(seeds), "127.0.0.1:%d", out[0]->peer_port);
    for (i = 1; i < n; i++)
        if (rc_h_server_add_arg(out[i], "--seeds") != 0 || rc_h_server_add_arg(out[i], seeds) != 0)
            return -1;
    return 0;
}

int rc_h_cluster_start(struct rc_harness *h, struct rc_hserver *const *nodes, int n)
{
    double t0;
    int i;
    if (n < 1 || rc_h_server_start(h, nodes[0]) != 0)
        return -1;
    t0 = rc_h_now_ms();
    for (i = 1; i < n; i++) {
        if (nodes[i]->pid > 0) {
            printf("harness: node %d already running\n", i + 1);
            return -1;
        }
        nodes[i]->pid = spawn_server(h, nodes[i]);
        if (nodes[i]->pid < 0) {
            nodes[i]->pid = 0;
            return -1;
        }
    }
    for (i = 1; i < n; i++) {
        if (wait_ready(nodes[i]) != 0) {
            rc_h_print_log_tail(nodes[i], 4096);
            return -1;
        }
    }
    printf("harness: cluster of %d ready (nodes 2..%d in %.0f ms), ports", n, n,
           rc_h_now_ms() - t0);
    for (i = 0; i < n; i++)
        printf(" %d/%d", nodes[i]->port, nodes[i]->peer_port);
    printf("\n");
    return 0;
}

/* MEMBERS on the wire (docs/protocol.md); the harness keeps its own copy
 * of the number, independent of common/codec.h. */
#define OP_MEMBERS 6
/* A MEMBERS reply of a few members is well under a KiB; 1 MiB is the
 * server's own cap for it. */
#define MEMBERS_REPLY_MAX (1u << 20)

static void copy_str(char *dst, size_t cap, const char *p, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, p, n);
    dst[n] = '\0';
}

static int key_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, name, n) == 0;
}

static double obj_num(const msgpack_object *v)
{
    switch (v->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return (double)v->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return (double)v->via.i64;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return v->via.f64;
    default:
        return -1;
    }
}

static void member_from_obj(const msgpack_object *o, struct rc_hmember *m)
{
    uint32_t i;
    memset(m, 0, sizeof(*m));
    for (i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        if (v->type == MSGPACK_OBJECT_STR) {
            if (key_is(k, "id"))
                copy_str(m->id, sizeof(m->id), v->via.str.ptr, v->via.str.size);
            else if (key_is(k, "host"))
                copy_str(m->host, sizeof(m->host), v->via.str.ptr, v->via.str.size);
            else if (key_is(k, "state"))
                copy_str(m->state, sizeof(m->state), v->via.str.ptr, v->via.str.size);
        } else if (v->type == MSGPACK_OBJECT_BOOLEAN && key_is(k, "self")) {
            m->self = v->via.boolean;
        } else if (key_is(k, "incarnation") && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            m->incarnation = v->via.u64;
        } else if (key_is(k, "port")) {
            m->port = (int)obj_num(v);
        } else if (key_is(k, "peer_port")) {
            m->peer_port = (int)obj_num(v);
        } else if (key_is(k, "primary")) {
            m->primary = obj_num(v);
        } else if (key_is(k, "replica")) {
            m->replica = obj_num(v);
        } else if (key_is(k, "clock_offset_ms") &&
                   (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
                    v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)) {
            m->has_clock_offset = 1;
            m->clock_offset_ms = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER
                                     ? (int64_t)v->via.u64
                                     : v->via.i64;
        }
    }
}

static int decode_members(const uint8_t *p, size_t len, struct rc_hmember *out, int max)
{
    msgpack_unpacked u;
    size_t off = 0;
    uint32_t i;
    int rc = -1;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, (const char *)p, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len || u.data.type != MSGPACK_OBJECT_ARRAY) {
        printf("harness: MEMBERS reply is not one msgpack array\n");
        goto out;
    }
    for (i = 0; i < u.data.via.array.size; i++) {
        if (u.data.via.array.ptr[i].type != MSGPACK_OBJECT_MAP) {
            printf("harness: MEMBERS entry %u is not a map\n", i);
            goto out;
        }
        if ((int)i < max)
            member_from_obj(&u.data.via.array.ptr[i], &out[i]);
    }
    rc = (int)u.data.via.array.size;
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}

int rc_h_members(const struct rc_hserver *s, struct rc_hmember *out, int max, int timeout_ms)
{
    uint8_t req[64], *buf = malloc(MEMBERS_REPLY_MAX);
    struct rc_hreply rep;
    size_t len = rc_h_encode_request(req, 0, sizeof(req), OP_MEMBERS, 1, NULL, 0, NULL, 0);
    int fd = -1, rc = -1;
    if (buf == NULL || s->port <= 0)
        goto out;
    fd = rc_h_tcp_connect(s->port, timeout_ms);
    if (fd < 0 || rc_h_send_all(fd, req, len, timeout_ms) != 0)
        goto out;
    if (rc_h_read_reply(fd, buf, MEMBERS_REPLY_MAX, timeout_ms, &rep) != 0)
        goto out;
    if (rep.status != 0 || !rep.has_value) {
        printf("harness: MEMBERS on %s: status %u\n", s->addr, rep.status);
        goto out;
    }
    rc = decode_members(rep.value, rep.value_len, out, max);
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

/* A small JSON reader, enough for the CLI's member list: a cursor over a
 * NUL-terminated text, nesting bounded. */
#define JSON_MAX_DEPTH 16

static void jws(const char **p)
{
    while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
        (*p)++;
}

static int hex_digit(char h)
{
    if (h >= '0' && h <= '9')
        return h - '0';
    if ((h | 0x20) >= 'a' && (h | 0x20) <= 'f')
        return (h | 0x20) - 'a' + 10;
    return -1;
}

/* A string at *p into out (cap bytes, truncated; out NULL = skip). Escapes
 * are decoded; \u outside ASCII becomes '?'. 0 or -1. */
static int jstring(const char **p, char *out, size_t cap)
{
    size_t n = 0;
    const char *s = *p;
    if (*s++ != '"')
        return -1;
    while (*s != '"') {
        char c = *s++;
        if (c == '\0' || (unsigned char)c < 0x20)
            return -1;
        if (c == '\\') {
            c = *s++;
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case '"': case '\\': case '/': break;
            case 'u': {
                unsigned v = 0;
                int i;
                for (i = 0; i < 4; i++, s++) {
                    int d = hex_digit(*s);
                    if (d < 0)
                        return -1;
                    v = v * 16 + (unsigned)d;
                }
                c = v < 0x80 ? (char)v : '?';
                break;
            }
            default:
                return -1;
            }
        }
        if (out != NULL && n + 1 < cap)
            out[n++] = c;
    }
    if (out != NULL && cap > 0)
        out[n] = '\0';
    *p = s + 1;
    return 0;
}

static int jnumber(const char **p, double *d, uint64_t *u)
{
    char *end;
    const char *s = *p;
    *d = strtod(s, &end);
    if (end == s)
        return -1;
    *u = (*s >= '0' && *s <= '9') ? strtoull(s, NULL, 10) : 0;
    *p = end;
    return 0;
}

static int jskip(const char **p, int depth)
{
    double d;
    uint64_t u;
    char close;
    jws(p);
    if (**p == '"')
        return jstring(p, NULL, 0);
    if (strncmp(*p, "true", 4) == 0 || strncmp(*p, "null", 4) == 0) {
        *p += 4;
        return 0;
    }
    if (strncmp(*p, "false", 5) == 0) {
        *p += 5;
        return 0;
    }
    if (**p != '{' && **p != '[')
        return jnumber(p, &d, &u);
    if (depth >= JSON_MAX_DEPTH)
        return -1;
    close = **p == '{' ? '}' : ']';
    (*p)++;
    jws(p);
    if (**p == close) {
        (*p)++;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            jws(p);
            if (jstring(p, NULL, 0) != 0)
                return -1;
            jws(p);
            if (*(*p)++ != ':')
                return -1;
        }
        if (jskip(p, depth + 1) != 0)
            return -1;
        jws(p);
        if (**p == close) {
            (*p)++;
            return 0;
        }
        if (*(*p)++ != ',')
            return -1;
    }
}

/* One "key": value of a member object; m NULL = parse and drop. */
static int jmember_field(const char **p, struct rc_hmember *m)
{
    char key[32];
    double d;
    uint64_t u;
    jws(p);
    if (jstring(p, key, sizeof(key)) != 0)
        return -1;
    jws(p);
    if (*(*p)++ != ':')
        return -1;
    jws(p);
    if (m == NULL)
        return jskip(p, 1);
    if (**p == '"' && (!strcmp(key, "id") || !strcmp(key, "host") || !strcmp(key, "state"))) {
        char *dst = !strcmp(key, "id") ? m->id : !strcmp(key, "host") ? m->host : m->state;
        size_t cap = !strcmp(key, "id") ? sizeof(m->id)
                     : !strcmp(key, "host") ? sizeof(m->host) : sizeof(m->state);
        return jstring(p, dst, cap);
    }
    if (!strcmp(key, "self") && (strncmp(*p, "true", 4) == 0 || strncmp(*p, "false", 5) == 0)) {
        m->self = **p == 't';
        return jskip(p, 1);
    }
    if ((**p >= '0' && **p <= '9') || **p == '-') {
        if (jnumber(p, &d, &u) != 0)
            return -1;
        if (!strcmp(key, "port"))
            m->port = (int)d;
        else if (!strcmp(key, "peer_port"))
            m->peer_port = (int)d;
        else if (!strcmp(key, "incarnation"))
            m->incarnation = u;
        else if (!strcmp(key, "primary"))
            m->primary = d;
        else if (!strcmp(key, "replica"))
            m->replica = d;
        return 0;
    }
    return jskip(p, 1);
}

int rc_h_members_json(const char *json, struct rc_hmember *out, int max)
{
    const char *p = json;
    int n = 0;
    jws(&p);
    if (*p++ != '[')
        return -1;
    jws(&p);
    if (*p == ']')
        return 0;
    for (;;) {
        struct rc_hmember *m = n < max ? &out[n] : NULL;
        jws(&p);
        if (*p++ != '{')
            return -1;
        if (m != NULL)
            memset(m, 0, sizeof(*m));
        jws(&p);
        if (*p == '}') {
            p++;
        } else {
            for (;;) {
                if (jmember_field(&p, m) != 0)
                    return -1;
                jws(&p);
                if (*p == '}') {
                    p++;
                    break;
                }
                if (*p++ != ',')
                    return -1;
            }
        }
        n++;
        jws(&p);
        if (*p == ']')
            break;
        if (*p++ != ',')
            return -1;
    }
    p++;
    jws(&p);
    return *p == '\0' ? n : -1;
}

const struct rc_hmember *rc_h_member_find(const struct rc_hmember *m, int n, const char *id)
{
    int i;
    for (i = 0; i < n; i++)
        if (strcmp(m[i].id, id) == 0)
            return &m[i];
    return NULL;
}

int rc_h_node_id(const struct rc_hserver *s, char *id, size_t cap)
{
    struct rc_client *c = rc_h_client(s, 2000);
    struct rc_result res;
    const char *str = NULL;
    int rc = -1;
    if (c == NULL)
        return -1;
    if (rc_client_stats(c, &res) == 0 && res.err == 0 &&
        rc_h_stat(&res, "node_id", NULL, &str) == 0 && str != NULL) {
        snprintf(id, cap, "%s", str);
        rc = 0;
    }
    rc_client_free(c);
    return rc;
}

/*
 * An AddressSanitizer build of the server refuses to start when another
 * library (libfaketime) is preloaded before its runtime, unless told not
 * to check. The option goes into this process's environment, which every
 * server inherits (the harness only adds variables after it, and the
 * first of two equal names wins), so the faked node gets it too; it is
 * harmless for the others and ignored by builds without ASan.
 */
void rc_h_allow_preload_under_asan(void)
{
    const char *cur = getenv("ASAN_OPTIONS");
    char opts[512];
    if (cur != NULL && strstr(cur, "verify_asan_link_order") != NULL)
        return;
    snprintf(opts, sizeof(opts), "%s%sverify_asan_link_order=0", cur != NULL ? cur : "",
             cur != NULL && *cur != '\0' ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
}
