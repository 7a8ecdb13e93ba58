/*
 * store_wb_bench.c - numbers behind the write-behind engine (store_wb.c):
 * the cost of a SET in the event loop with write-behind and with the
 * direct SQLite engine, the lag while writing as fast as the loop can, the
 * final flush at close, and the warm restart (open: load every row into
 * memory). Usage: store-wb-bench [keys (1000000)] [value bytes (100)].
 * Keys are "key:%010d", written in 64-write batches (a loop iteration's
 * worth, as tests/unit/store_fixture.c's fill), at random-looking order of
 * tokens (the ring's hash).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "store.h"

#define BATCH 64
#define NOW INT64_C(1700000000000)

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* The loop thread's own CPU: what a SET costs the event loop. */
static double thread_cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct rc_store *open_store(const char *dir, int wb, double *took)
{
    struct rc_store_opts o = {0};
    struct rc_store *s = NULL;
    char err[256] = "";
    double t0 = now_s();

    o.data_dir = dir;
    o.tombstone_grace_ms = 86400000;
    o.cache_kib = 65536;
    o.write_behind = wb;
    if (rc_store_open(&o, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "open %s: %s\n", dir, err);
        exit(1);
    }
    *took = now_s() - t0;
    return s;
}

static void run(const char *dir, int wb, long n, size_t vlen)
{
    static uint8_t val[1 << 16];
    struct rc_store_stats st;
    struct rc_store *s;
    struct rc_version v = {1, 1};
    int64_t lag_max = 0;
    double t0, c0, l0, t_set, c_set, l_set, t_open, t_close;
    char key[32];
    long i;
    int kl;

    memset(val, 'v', sizeof(val));
    s = open_store(dir, wb, &t_open);
    t0 = now_s();
    c0 = cpu_s();
    l0 = thread_cpu_s();
    for (i = 0; i < n; i++) {
        kl = snprintf(key, sizeof(key), "key:%010ld", i);
        v.hlc = (uint64_t)i + 1;
        if (rc_store_write(s, (const uint8_t *)key, (size_t)kl, val, vlen, &v, 0, NOW, NULL) != 1)
            exit(2);
        if ((i + 1) % BATCH == 0) {
            rc_store_commit(s);
            if (wb && (i + 1) % (BATCH * 64) == 0) {
                rc_store_stats(s, &st);
                if (st.wb_lag_ms > lag_max)
                    lag_max = st.wb_lag_ms;
            }
        }
    }
    rc_store_commit(s);
    t_set = now_s() - t0;
    c_set = cpu_s() - c0;
    l_set = thread_cpu_s() - l0;
    rc_store_stats(s, &st);
    t0 = now_s();
    if (strcmp(dir, ":memory:") == 0) {
        rc_store_close(s);
        printf("memory %ld SETs: %.0f ns/SET CPU in the loop thread\n", n, l_set * 1e9 / (double)n);
        return;
    }
    rc_store_close(s);
    t_close = now_s() - t0;
    printf("%-13s %ld SETs of %zu B: %.0f ns/SET wall, %.0f ns/SET CPU in the loop thread, "
           "%.0f ns/SET CPU all threads, %.0f SET/s",
           wb ? "write-behind" : strcmp(dir, ":memory:") == 0 ? "memory" : "direct sqlite", n, vlen, t_set * 1e9 / (double)n,
           l_set * 1e9 / (double)n, c_set * 1e9 / (double)n, (double)n / t_set);
    if (wb)
        printf("; lag max %lld ms, flushes %lld, longest %lld ms, backlog waits %lld",
               (long long)lag_max, (long long)st.wb_flushes, (long long)st.wb_flush_ms_max,
               (long long)st.wb_backlog_waits);
    printf("; close %.3f s\n", t_close);
    s = open_store(dir, wb, &t_open);
    rc_store_stats(s, &st);
    if (strcmp(dir, ":memory:") == 0)
        return;
    printf("%-13s reopen (%s): %.3f s for %lld keys\n", wb ? "write-behind" : "direct sqlite",
           wb ? "load into memory" : "open", t_open, (long long)st.keys);
    rc_store_close(s);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    size_t vlen = argc > 2 ? (size_t)atol(argv[2]) : 100;
    char dir[64] = "/tmp/rc-wb-bench-XXXXXX", sub[96], cmd[128];

    if (n <= 0 || vlen > (1 << 16) || mkdtemp(dir) == NULL)
        return 1;
    rc_store_global_init();
    run(":memory:", 0, n, vlen); /* the baseline: the memory engine alone */
    snprintf(sub, sizeof(sub), "%s/wb", dir);
    run(sub, 1, n, vlen);
    snprintf(sub, sizeof(sub), "%s/direct", dir);
    run(sub, 0, n, vlen);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
