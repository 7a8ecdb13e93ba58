/*
 * test_counter.c - counters that never lose an increment (issue 17;
 * docs/architecture.md "Counters").
 *
 * The main case: five nodes, RF 3, one client thread per node
 * incrementing one hot key (and a few others) over RESP while a replica
 * of the hot key is killed with SIGKILL and restarted mid-run. At the
 * end a read at ALL must give, for every key, at least the acknowledged
 * increments and at most those plus the ones whose outcome the client
 * could not know (an error or a timeout). The semantics (SET then INCR,
 * INCR then SET, DEL then INCR, an expired key, INCRBYFLOAT, the errors)
 * are compared with a redis-server started side by side.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "codec.h"
#include "err.h"
#include "harness.h"
#include "redis_side.h"

#define TEST_TIMEOUT_S 180
#define IO_MS 3000
#define LINE_CAP 512
#define NODES 5
#define NKEYS 4           /* the hot key, then 3 more */
#define RUN_MS 9000       /* the workers' run */
#define KILL_AT_MS 2500   /* a replica of the hot key is killed then... */
#define RESTART_AT_MS 5000 /* ...and restarted */
#define REDIS_START_MS 5000

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness (harness.h) */
    struct rc_hserver *nodes[RC_H_MAX_SERVERS];
    char ids[RC_H_MAX_SERVERS][RC_H_ID_CAP];
    int resp[RC_H_MAX_SERVERS]; /* RESP port of each node */
    pid_t redis_pid;
};

static int setup(void **state)
{
    return rc_h_fixture_setup(state, sizeof(struct fixture), TEST_TIMEOUT_S);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f != NULL)
        rc_h_redis_kill(&f->redis_pid);
    return rc_h_fixture_teardown(state);
}

/* ---- a RESP client that never asserts (worker threads use it) ---- */

struct rconn {
    int fd, port;
    char in[LINE_CAP * 2];
    size_t len;
};

static int rconn_open(struct rconn *c, int port)
{
    c->port = port;
    c->len = 0;
    c->fd = rc_h_tcp_connect(port, IO_MS);
    return c->fd >= 0 ? 0 : -1;
}

static void rconn_close(struct rconn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int rsend(struct rconn *c, int argc, const char *const *argv)
{
    char buf[LINE_CAP];
    size_t off = 0;
    int i, n;

    n = snprintf(buf, sizeof(buf), "*%d\r\n", argc);
    off = (size_t)n;
    for (i = 0; i < argc; i++) {
        n = snprintf(buf + off, sizeof(buf) - off, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
        if (n < 0 || (size_t)n >= sizeof(buf) - off)
            return -1;
        off += (size_t)n;
    }
    return rc_h_send_all(c->fd, buf, off, IO_MS);
}

/* One reply (a simple line, or a bulk string) into out as its raw text
 * without the last CRLF. 0, or -1 (timeout, closed, too long). */
static int rrecv(struct rconn *c, char *out, size_t cap)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    char *e;
    size_t need;
    ssize_t n;
    long blen;

    for (;;) {
        e = c->len > 0 ? memchr(c->in, '\n', c->len) : NULL;
        if (e != NULL) {
            need = (size_t)(e - c->in) + 1;
            if (c->in[0] == '$' && (blen = strtol(c->in + 1, NULL, 10)) >= 0)
                need += (size_t)blen + 2;
            if (c->len >= need) {
                if (need - 2 >= cap)
                    return -1;
                memcpy(out, c->in, need - 2);
                out[need - 2] = '\0';
                memmove(c->in, c->in + need, c->len - need);
                c->len -= need;
                return 0;
            }
        }
        if (c->len >= sizeof(c->in) || poll(&p, 1, IO_MS) != 1)
            return -1;
        n = read(c->fd, c->in + c->len, sizeof(c->in) - c->len);
        if (n <= 0)
            return -1;
        c->len += (size_t)n;
    }
}

/* A command and its reply; -1 on a transport failure. */
static int rcmd(struct rconn *c, char *out, size_t cap, ...)
{
    const char *argv[8];
    va_list ap;
    int argc = 0;

    va_start(ap, cap);
    while (argc < 8 && (argv[argc] = va_arg(ap, const char *)) != NULL)
        argc++;
    va_end(ap);
    if (rsend(c, argc, argv) < 0)
        return -1;
    return rrecv(c, out, cap);
}

/* ---- the concurrent run ---- */

static const char *const keys[NKEYS] = {"hot", "ctr:a", "ctr:b", "ctr:c"};

struct worker {
    pthread_t th;
    int port, id;
    atomic_int *stop;
    long acked[NKEYS], unknown[NKEYS], refused;
    char last_err[128];
};

/* Increments through its own node until told to stop: the hot key every
 * other time, the others in turn. An error or a timeout is an increment
 * of unknown outcome (it may have been applied); the connection is then
 * opened again (its node may be down: it retries until it is back). */
static void *work(void *arg)
{
    struct worker *w = arg;
    struct rconn c = {.fd = -1};
    char line[LINE_CAP];
    long i = 0;
    int k;

    while (!atomic_load(w->stop)) {
        if (c.fd < 0 && rconn_open(&c, w->port) < 0) {
            rc_h_sleep_ms(50);
            continue;
        }
        k = i % 2 == 0 ? 0 : 1 + (int)((i / 2 + w->id) % (NKEYS - 1));
        i++;
        if (rcmd(&c, line, sizeof(line), "INCR", keys[k], NULL) < 0) {
            w->unknown[k]++;
            rconn_close(&c);
            continue;
        }
        if (line[0] == ':') {
            w->acked[k]++;
        } else {
            w->unknown[k]++;
            snprintf(w->last_err, sizeof(w->last_err), "%.100s", line);
        }
    }
    rconn_close(&c);
    return NULL;
}

/* The node's RESP port is fixed (the node restarts on it). */
static void add_resp_port(struct fixture *f, int i)
{
    char port[16];

    f->resp[i] = rc_h_free_port();
    snprintf(port, sizeof(port), "%d", f->resp[i]);
    assert_int_equal(rc_h_server_add_arg(f->nodes[i], "--resp-port"), 0);
    assert_int_equal(rc_h_server_add_arg(f->nodes[i], port), 0);
}

static void start_cluster(struct fixture *f, int n)
{
    static const char *const extra[] = {"--rf", "3", NULL};
    int i;

    assert_int_equal(rc_h_cluster_new(&f->h, n, extra, f->nodes), 0);
    for (i = 0; i < n; i++)
        add_resp_port(f, i);
    assert_int_equal(rc_h_cluster_start(&f->h, f->nodes, n), 0);
    assert_int_equal(rc_h_cluster_ids(f->nodes, n, f->ids), 0);
    assert_true(rc_h_cluster_wait_converged(f->nodes, (const char(*)[RC_H_ID_CAP])f->ids, n,
                                            15000) >= 0);
}

/* A GET at a consistency level through the native client: the value as a
 * number, or -1 on a miss, or fails the test. */
static long read_at(struct fixture *f, int node, const char *key, int level)
{
    struct rc_client *c = rc_h_test_client(&f->h, f->nodes[node], IO_MS, 32);
    struct rc_result res;
    char text[64];
    long v;
    int rv;

    assert_non_null(c);
    rc_h_expect_rc(rc_client_send(c, RC_CLIENT_GET, key, strlen(key), NULL, 0, 0, level), 0);
    rc_h_expect_rc(rc_client_flush(c), 0);
    rv = rc_client_recv(c, &res);
    if (rv == 0)
        rv = res.err;
    if (rv == RC_CLIENT_NOTFOUND)
        return -1;
    rc_h_expect_rc(rv, 0);
    assert_true(res.value_len < sizeof(text));
    memcpy(text, res.value, res.value_len);
    text[res.value_len] = '\0';
    v = strtol(text, NULL, 10);
    rc_h_client_drop(&f->h, c);
    return v;
}

/* The node (not node 0, the seed) that holds key alone in its store: key
 * is the only one written so far, so a node with one key replicates it. */
static int replica_of_first_key(struct fixture *f, int n)
{
    int i;

    for (i = 1; i < n; i++)
        if (rc_h_stat_of(f->nodes[i], "keys") == 1)
            return i;
    return -1;
}

static void test_concurrent_incr_across_restart(void **state)
{
    struct fixture *f = *state;
    struct worker w[NODES];
    atomic_int stop = 0;
    struct rconn c;
    char line[LINE_CAP];
    long acked[NKEYS] = {0}, unknown[NKEYS] = {0}, v, all;
    double t0;
    int i, k, victim, killed = 0, restarted = 0;

    start_cluster(f, NODES);
    /* One increment first, to find a replica of the hot key to kill. */
    assert_int_equal(rconn_open(&c, f->resp[0]), 0);
    assert_int_equal(rcmd(&c, line, sizeof(line), "INCR", "hot", NULL), 0);
    assert_string_equal(line, ":1");
    rconn_close(&c);
    acked[0] = 1;
    rc_h_sleep_ms(300); /* the third replica's copy lands */
    victim = replica_of_first_key(f, NODES);
    assert_true(victim > 0);
    printf("counter: killing node %d (a replica of \"hot\") mid-run\n", victim);

    memset(w, 0, sizeof(w));
    for (i = 0; i < NODES; i++) {
        w[i].port = f->resp[i];
        w[i].id = i;
        w[i].stop = &stop;
        assert_int_equal(pthread_create(&w[i].th, NULL, work, &w[i]), 0);
    }
    t0 = rc_h_now_ms();
    while (rc_h_now_ms() - t0 < RUN_MS) {
        if (!killed && rc_h_now_ms() - t0 >= KILL_AT_MS) {
            rc_h_server_kill(f->nodes[victim]);
            killed = 1;
        }
        if (killed && !restarted && rc_h_now_ms() - t0 >= RESTART_AT_MS) {
            assert_int_equal(rc_h_server_start(&f->h, f->nodes[victim]), 0);
            restarted = 1;
        }
        rc_h_sleep_ms(20);
    }
    atomic_store(&stop, 1);
    for (i = 0; i < NODES; i++) {
        pthread_join(w[i].th, NULL);
        for (k = 0; k < NKEYS; k++) {
            acked[k] += w[i].acked[k];
            unknown[k] += w[i].unknown[k];
        }
        if (w[i].last_err[0])
            printf("counter: worker %d last error: %s\n", i, w[i].last_err);
    }
    /* The restarted node is back in everyone's view before the reads. */
    assert_true(rc_h_cluster_wait_converged(f->nodes, (const char(*)[RC_H_ID_CAP])f->ids, NODES,
                                            15000) >= 0);
    for (k = 0; k < NKEYS; k++) {
        all = read_at(f, k % NODES, keys[k], RC_CLIENT_CL_ALL);
        printf("counter: %-6s acknowledged %ld, unknown %ld, read at ALL %ld\n", keys[k],
               acked[k], unknown[k], all);
        assert_true(acked[k] > 100); /* the run did increment */
        assert_true(all >= acked[k]);
        assert_true(all <= acked[k] + unknown[k]);
        /* The ALL read repaired every replica with the join: QUORUM
         * through every node now gives the same total. */
        for (i = 0; i < NODES; i++) {
            v = read_at(f, i, keys[k], RC_CLIENT_CL_QUORUM);
            assert_int_equal(v, all);
        }
    }
    f->h.passed = 1;
}

/* ---- the same commands against redis-server ---- */

static void start_redis(struct fixture *f, const char *bin, int port)
{
    f->redis_pid = rc_h_redis_start(bin, port, f->h.root, NULL, REDIS_START_MS);
    assert_true(f->redis_pid > 0);
}

/* Sends one command to both and asserts the same reply. */
static void same(struct rconn *rc, struct rconn *rd, ...)
{
    const char *argv[8];
    char a[LINE_CAP], b[LINE_CAP];
    va_list ap;
    int argc = 0;

    va_start(ap, rd);
    while (argc < 8 && (argv[argc] = va_arg(ap, const char *)) != NULL)
        argc++;
    va_end(ap);
    assert_int_equal(rsend(rc, argc, argv), 0);
    assert_int_equal(rrecv(rc, a, sizeof(a)), 0);
    assert_int_equal(rsend(rd, argc, argv), 0);
    assert_int_equal(rrecv(rd, b, sizeof(b)), 0);
    if (strcmp(a, b) != 0)
        printf("counter: %s %s%s%s: ringcache %s, redis %s\n", argv[0], argc > 1 ? argv[1] : "",
               argc > 2 ? " " : "", argc > 2 ? argv[2] : "", a, b);
    assert_string_equal(a, b);
}

/* Three nodes (so the increments go through the coordinator and REPL_INCR
 * for keys this node does not hold), every command through node 0,
 * compared with redis-server. */
static void test_semantics_like_redis(void **state)
{
    struct fixture *f = *state;
    struct rconn rc, rd;
    char bin[600], line[LINE_CAP];
    int rport = rc_h_free_port();

    if (rc_h_redis_find(bin, sizeof(bin)) < 0) {
        printf("counter: no redis-server: install it (scripts/deps.sh test)\n");
        fail();
    }
    start_redis(f, bin, rport);
    start_cluster(f, 3);
    assert_int_equal(rconn_open(&rc, f->resp[0]), 0);
    assert_int_equal(rconn_open(&rd, rport), 0);
    /* A missing key counts from 0. */
    same(&rc, &rd, "INCR", "n", NULL);
    same(&rc, &rd, "INCRBY", "n", "41", NULL);
    same(&rc, &rd, "DECR", "n", NULL);
    same(&rc, &rd, "DECRBY", "n", "-10", NULL);
    same(&rc, &rd, "GET", "n", NULL);
    /* SET then INCR: the text is the base. */
    same(&rc, &rd, "SET", "s", "100", NULL);
    same(&rc, &rd, "INCR", "s", NULL);
    same(&rc, &rd, "GET", "s", NULL);
    /* INCR then SET: the SET resets the counter, the next INCR counts
     * from it. */
    same(&rc, &rd, "INCRBY", "r", "5", NULL);
    same(&rc, &rd, "SET", "r", "7", NULL);
    same(&rc, &rd, "GET", "r", NULL);
    same(&rc, &rd, "INCR", "r", NULL);
    /* DEL then INCR: from 0 again, nothing of before comes back. */
    same(&rc, &rd, "INCRBY", "d", "9", NULL);
    same(&rc, &rd, "DEL", "d", NULL);
    same(&rc, &rd, "GET", "d", NULL);
    same(&rc, &rd, "INCR", "d", NULL);
    same(&rc, &rd, "INCR", "d", NULL);
    /* INCR keeps the TTL; an expired key counts from 0. */
    same(&rc, &rd, "SET", "t", "10", "EX", "100", NULL);
    same(&rc, &rd, "INCR", "t", NULL);
    same(&rc, &rd, "TTL", "t", NULL);
    same(&rc, &rd, "SET", "x", "10", "PX", "150", NULL);
    rc_h_sleep_ms(300);
    same(&rc, &rd, "INCR", "x", NULL);
    same(&rc, &rd, "TTL", "x", NULL);
    /* Floats: values exact in binary, where Redis's long double and
     * ringcache's double agree to the last digit (README "Counters"). */
    same(&rc, &rd, "SET", "f", "10.50", NULL);
    same(&rc, &rd, "INCRBYFLOAT", "f", "0.25", NULL);
    same(&rc, &rd, "INCRBYFLOAT", "f", "-5", NULL);
    same(&rc, &rd, "INCRBYFLOAT", "f", "5.0e3", NULL);
    same(&rc, &rd, "GET", "f", NULL);
    same(&rc, &rd, "INCR", "f", NULL);
    same(&rc, &rd, "INCRBYFLOAT", "f", "-0.75", NULL);
    same(&rc, &rd, "INCR", "f", NULL);
    same(&rc, &rd, "SET", "h", "10", NULL);
    same(&rc, &rd, "INCRBYFLOAT", "h", "0.1", NULL);
    /* Where they differ: the shortest text of the double. */
    assert_int_equal(rcmd(&rc, line, sizeof(line), "INCRBYFLOAT", "h", "4995.5", NULL), 0);
    assert_string_equal(line, "$6\r\n5005.6");
    same(&rc, &rd, "INCRBYFLOAT", "g", "3", NULL);
    same(&rc, &rd, "INCRBY", "g", "2", NULL);
    /* Errors. */
    same(&rc, &rd, "SET", "w", "abc", NULL);
    same(&rc, &rd, "INCR", "w", NULL);
    same(&rc, &rd, "INCRBYFLOAT", "w", "1", NULL);
    same(&rc, &rd, "SET", "w", " 1", NULL);
    same(&rc, &rd, "INCR", "w", NULL);
    same(&rc, &rd, "INCRBY", "w", "x", NULL);
    same(&rc, &rd, "INCRBYFLOAT", "w", "x", NULL);
    same(&rc, &rd, "INCRBYFLOAT", "w", "nan", NULL);
    same(&rc, &rd, "DECRBY", "w", "-9223372036854775808", NULL);
    same(&rc, &rd, "SET", "m", "9223372036854775806", NULL);
    same(&rc, &rd, "INCR", "m", NULL);
    same(&rc, &rd, "INCR", "m", NULL);
    same(&rc, &rd, "GET", "m", NULL);
    same(&rc, &rd, "SET", "m", "-9223372036854775807", NULL);
    same(&rc, &rd, "DECRBY", "m", "2", NULL);
    same(&rc, &rd, "INCR", NULL);
    same(&rc, &rd, "INCRBY", "m", NULL);
    /* A counter reads as plain text through every command. */
    same(&rc, &rd, "INCRBY", "p", "12", NULL);
    same(&rc, &rd, "EXISTS", "p", NULL);
    /* FLUSHALL: counting starts again from 0 (no component of before
     * comes back). */
    same(&rc, &rd, "FLUSHALL", NULL);
    same(&rc, &rd, "GET", "n", NULL);
    same(&rc, &rd, "INCR", "n", NULL);
    same(&rc, &rd, "INCRBY", "n", "4", NULL);
    assert_int_equal(rcmd(&rc, line, sizeof(line), "GET", "n", NULL), 0);
    rconn_close(&rc);
    rconn_close(&rd);
    f->h.passed = 1;
}

/* ---- convergence without reads ---- */

/* RESP INCRs of key through node i, n of them; each must be acknowledged. */
static void incr_n(struct fixture *f, int node, const char *key, int n)
{
    struct rconn c;
    char line[LINE_CAP];
    int i;

    assert_int_equal(rconn_open(&c, f->resp[node]), 0);
    for (i = 0; i < n; i++) {
        assert_int_equal(rcmd(&c, line, sizeof(line), "INCR", key, NULL), 0);
        assert_int_equal(line[0], ':');
    }
    rconn_close(&c);
}

/* What node's own store holds for key: a read at ONE through it while the
 * other nodes are paused (SIGSTOP) answers from the local replica alone,
 * and no read repair follows (the others time out after it answered). */
static long local_value(struct fixture *f, int node, int n)
{
    long v;
    int i;

    for (i = 0; i < n; i++)
        if (i != node)
            kill(f->nodes[i]->pid, SIGSTOP);
    v = read_at(f, node, "conv", RC_CLIENT_CL_ONE);
    for (i = 0; i < n; i++)
        if (i != node)
            kill(f->nodes[i]->pid, SIGCONT);
    return v;
}

/* A replica that missed increments (down, no hints) converges on the
 * join by anti-entropy alone: its own store ends with every increment. */
static void test_anti_entropy_converges(void **state)
{
    static const char *const extra[] = {"--rf", "3", "--max-hints", "0", "--anti-entropy-interval",
                                        "1000", "--cleanup-interval", "1000", NULL};
    struct fixture *f = *state;
    double t0;
    long v = -1;
    int i;

    assert_int_equal(rc_h_cluster_new(&f->h, 3, extra, f->nodes), 0);
    for (i = 0; i < 3; i++)
        add_resp_port(f, i);
    assert_int_equal(rc_h_cluster_start(&f->h, f->nodes, 3), 0);
    assert_int_equal(rc_h_cluster_ids(f->nodes, 3, f->ids), 0);
    assert_true(rc_h_cluster_wait_converged(f->nodes, (const char(*)[RC_H_ID_CAP])f->ids, 3,
                                            15000) >= 0);
    incr_n(f, 0, "conv", 50);
    rc_h_server_kill(f->nodes[2]);
    /* Both live replicas apply increments as their own actors. */
    incr_n(f, 0, "conv", 70);
    incr_n(f, 1, "conv", 80);
    assert_int_equal(rc_h_server_start(&f->h, f->nodes[2]), 0);
    assert_true(rc_h_cluster_wait_converged(f->nodes, (const char(*)[RC_H_ID_CAP])f->ids, 3,
                                            15000) >= 0);
    t0 = rc_h_now_ms();
    while (rc_h_now_ms() - t0 < 30000) {
        v = local_value(f, 2, 3);
        if (v == 200)
            break;
        rc_h_sleep_ms(500);
    }
    printf("counter: the restarted replica holds %ld after %.0f ms\n", v, rc_h_now_ms() - t0);
    assert_int_equal(v, 200);
    /* And the others still do. */
    assert_int_equal(local_value(f, 0, 3), 200);
    assert_int_equal(local_value(f, 1, 3), 200);
    f->h.passed = 1;
}

/* ---- the native protocol and the CLI ---- */

/* Reads exactly n bytes. 0 or -1. */
static int recv_all(int fd, uint8_t *p, size_t n)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    ssize_t got;

    while (n > 0) {
        if (poll(&pf, 1, IO_MS) != 1)
            return -1;
        got = read(fd, p, n);
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* One request frame to s, its reply decoded into rep (borrowing from
 * body, which the caller frees). */
static void native_call(const struct rc_hserver *s, const struct rc_request *req,
                        struct rc_decoder *d, struct rc_reply *rep, uint8_t **body)
{
    struct rc_buf b;
    uint8_t hdr[RC_H_HDR];
    uint32_t len;
    int fd = rc_h_tcp_connect(s->port, IO_MS);

    assert_true(fd >= 0);
    rc_buf_init(&b, 1 << 20);
    assert_int_equal(rc_encode_request(&b, req), 0);
    assert_int_equal(rc_h_send_all(fd, rc_buf_rptr(&b), rc_buf_used(&b), IO_MS), 0);
    rc_buf_close(&b);
    assert_int_equal(recv_all(fd, hdr, sizeof(hdr)), 0);
    len = (uint32_t)hdr[4] << 24 | (uint32_t)hdr[5] << 16 | (uint32_t)hdr[6] << 8 | hdr[7];
    *body = malloc(len ? len : 1);
    assert_non_null(*body);
    assert_int_equal(recv_all(fd, *body, len), 0);
    close(fd);
    assert_int_equal(rc_decode_reply(d, *body, len, rep), 0);
}

/* PUT keeps 32-bit client flags (memcached's), GET returns them; INCR
 * through the native protocol, the client library and ringcache-cli. */
static void test_native_flags_and_incr(void **state)
{
    struct fixture *f = *state;
    struct rc_request req = {.op = RC_OP_PUT, .id = 1, .has_key = 1, .has_value = 1};
    struct rc_decoder d;
    struct rc_reply rep;
    struct rc_result res;
    struct rc_client *c;
    struct rc_hrun r;
    uint8_t *body;
    const char *argv[8];

    start_cluster(f, 3);
    assert_int_equal(rc_decoder_init(&d), 0);
    req.key = (const uint8_t *)"item";
    req.key_len = 4;
    req.value = (const uint8_t *)"payload";
    req.value_len = 7;
    req.flags = 0xdeadbeefu;
    native_call(f->nodes[1], &req, &d, &rep, &body);
    assert_int_equal(rep.status, 0);
    free(body);
    memset(&req, 0, sizeof(req));
    req.op = RC_OP_GET;
    req.id = 2;
    req.has_key = 1;
    req.key = (const uint8_t *)"item";
    req.key_len = 4;
    native_call(f->nodes[2], &req, &d, &rep, &body);
    assert_int_equal(rep.status, 0);
    assert_int_equal(rep.flags, 0xdeadbeefu);
    assert_int_equal(rep.value_len, 7);
    free(body);
    /* A client cannot forge a counter. */
    req.op = RC_OP_PUT;
    req.has_value = 1;
    req.value = (const uint8_t *)"x";
    req.value_len = 1;
    req.kind = 1;
    native_call(f->nodes[0], &req, &d, &rep, &body);
    assert_int_equal(rep.status, (uint32_t)rc_err_to_status(RC_EINVAL));
    free(body);
    /* INCR with DELTA_FLOAT; without a delta it adds 1. */
    memset(&req, 0, sizeof(req));
    req.op = RC_OP_INCR;
    req.id = 3;
    req.has_key = 1;
    req.key = (const uint8_t *)"n";
    req.key_len = 1;
    req.has_delta_float = 1;
    req.delta_float = 1.5;
    native_call(f->nodes[0], &req, &d, &rep, &body);
    assert_int_equal(rep.status, 0);
    assert_int_equal(rep.value_len, 3);
    assert_memory_equal(rep.value, "1.5", 3);
    free(body);
    rc_decoder_close(&d);
    c = rc_h_test_client(&f->h, f->nodes[1], IO_MS, 32);
    assert_non_null(c);
    rc_h_expect_rc(rc_client_incr(c, "m", 1, "41", &res), 0);
    rc_h_expect_rc(rc_client_incr(c, "m", 1, NULL, &res), 0);
    assert_int_equal(res.value_len, 2);
    assert_memory_equal(res.value, "42", 2);
    rc_h_expect_rc(rc_client_incr(c, "item", 4, NULL, &res),
                   (int)RC_ENOT_INTEGER); /* "payload" */
    argv[0] = f->h.cli_bin;
    argv[1] = "-s";
    argv[2] = f->nodes[2]->addr;
    argv[3] = "incr";
    argv[4] = "m";
    argv[5] = "-2";
    argv[6] = NULL;
    assert_int_equal(rc_h_run(f->h.cli_bin, argv, NULL, NULL, 0, 10000, 4096, &r), 0);
    assert_int_equal(r.status, 0);
    assert_string_equal((const char *)r.out, "40\n");
    rc_h_run_free(&r);
    f->h.passed = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_semantics_like_redis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_native_flags_and_incr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anti_entropy_converges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_incr_across_restart, setup, teardown),
    };

    rc_h_test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
