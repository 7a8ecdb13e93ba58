/*
 * redis_side.c - redis_side.h's redis-server beside ringcache.
 */
#include "redis_side.h"

#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Arguments of a start: the fixed ones, at most this many extra, NULL. */
#define EXTRA_MAX 8

int rc_h_redis_find(char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char dir[512];
    size_t n;

    while (path != NULL && *path != '\0') {
        n = strcspn(path, ":");
        if (n > 0 && n < sizeof(dir)) {
            snprintf(dir, sizeof(dir), "%.*s", (int)n, path);
            snprintf(out, cap, "%s/redis-server", dir);
            if (access(out, X_OK) == 0)
                return 0;
        }
        path += n + (path[n] == ':');
    }
    snprintf(out, cap, "/usr/bin/redis-server");
    return access(out, X_OK) == 0 ? 0 : -1;
}

pid_t rc_h_redis_start(const char *bin, int port, const char *dir, const char *const *extra,
                       int timeout_ms)
{
    const char *argv[12 + EXTRA_MAX];
    char ports[16], logp[RC_H_PATH + 16];
    double t0 = rc_h_now_ms();
    int fd, argc = 0, i;
    pid_t pid;

    snprintf(ports, sizeof(ports), "%d", port);
    snprintf(logp, sizeof(logp), "%s/redis.log", dir);
    argv[argc++] = bin;
    argv[argc++] = "--save";
    argv[argc++] = "";
    argv[argc++] = "--appendonly";
    argv[argc++] = "no";
    argv[argc++] = "--port";
    argv[argc++] = ports;
    argv[argc++] = "--bind";
    argv[argc++] = "127.0.0.1";
    argv[argc++] = "--dir";
    argv[argc++] = dir;
    for (i = 0; extra != NULL && extra[i] != NULL; i++) {
        if (i == EXTRA_MAX)
            return -1;
        argv[argc++] = extra[i];
    }
    argv[argc] = NULL;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    for (;;) {
        fd = rc_h_tcp_connect(port, 1000);
        if (fd >= 0) {
            close(fd);
            return pid;
        }
        if (rc_h_now_ms() - t0 >= timeout_ms || waitpid(pid, NULL, WNOHANG) != 0) {
            rc_h_redis_kill(&pid);
            return -1;
        }
        rc_h_sleep_ms(20);
    }
}

void rc_h_redis_kill(pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGKILL);
    waitpid(*pid, NULL, 0);
    *pid = 0;
}
