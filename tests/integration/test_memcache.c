/*
 * test_memcache.c - the memcached front end (--memcache-port) against a
 * real memcached 1.6 and the real clients of Debian.
 *
 * One 3-node cluster (RF=3, W=2, R=2), each node with a memcached port,
 * and one real memcached started by the test serve the whole group. The
 * same command scripts go to memcached and to a node over raw TCP and
 * the replies are compared byte for byte where they are deterministic
 * (CAS values and stats are compared by shape). libmemcached-tools
 * (memccp, memccat, memcrm, memcstat, memcslap), pymemcache (with a
 * HashClient over the three nodes) and python3-memcache run against the
 * nodes (tests/integration/memcache_clients.py); hostile input must leave
 * the node serving.
 *
 * The flags tests assert that 32-bit client flags round-trip (stored with
 * every item: the value's attributes, server/store.h), through another
 * node and through the serializers of both Python libraries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define NODES 3
#define TEST_TIMEOUT_S 120
#define RUN_TIMEOUT_MS 60000
#define OUT_CAP (16u << 20)
#define IO_MS 10000
#define MEMCACHED "/usr/bin/memcached"
#define PYTHON "/usr/bin/python3"

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness (harness.h) */
    struct rc_hserver *nodes[NODES];
    int mc_port[NODES];
    char port_str[NODES][16];
    pid_t memcached;     /* the real one, 0 when not running */
    int real_port;
    char script[RC_H_PATH]; /* memcache_clients.py */
    struct rc_hrun r;
};

/* ---- the real memcached ---------------------------------------------- */

static pid_t start_memcached(int port)
{
    char p[16];
    pid_t pid;

    snprintf(p, sizeof(p), "%d", port);
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* memcached refuses to run as root without a user to switch to. */
        if (geteuid() == 0)
            execl(MEMCACHED, "memcached", "-u", "nobody", "-p", p, "-l", "127.0.0.1", "-U", "0",
                  "-t", "1", (char *)NULL);
        else
            execl(MEMCACHED, "memcached", "-p", p, "-l", "127.0.0.1", "-U", "0", "-t", "1",
                  (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* ---- raw connections ---------------------------------------------------- */

/* Reads until the reply ends with end (or EOF when end is NULL, or the
 * peer closes); returns the bytes (NUL-terminated, caller frees) and
 * their count in *n, "<EOF>" appended when the peer closed. */
static char *read_reply(int fd, const char *end, size_t *n)
{
    size_t cap = 1 << 16, len = 0, el = end ? strlen(end) : 0;
    char *buf = malloc(cap + 8);
    double deadline = rc_h_now_ms() + IO_MS;
    struct pollfd pfd = {fd, POLLIN, 0};
    ssize_t k;

    assert_non_null(buf);
    while (rc_h_now_ms() < deadline) {
        if (end != NULL && len >= el && memcmp(buf + len - el, end, el) == 0)
            break;
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 8);
            assert_non_null(buf);
        }
        k = recv(fd, buf + len, cap - len, 0);
        if (k <= 0) {
            memcpy(buf + len, "<EOF>", 5);
            len += 5;
            break;
        }
        len += (size_t)k;
    }
    buf[len] = '\0';
    *n = len;
    return buf;
}

/* Sends a script on a new connection and reads the reply up to end. */
static char *exchange(int port, const void *in, size_t in_len, const char *end, size_t *n)
{
    int fd = rc_h_tcp_connect(port, IO_MS);
    char *out;

    assert_true(fd >= 0);
    assert_int_equal(rc_h_send_all(fd, in, in_len, IO_MS), 0);
    out = read_reply(fd, end, n);
    close(fd);
    return out;
}

static void print_bytes(const char *what, const char *p, size_t n)
{
    size_t i;

    printf("  %s: \"", what);
    for (i = 0; i < n && i < 400; i++)
        if (p[i] >= ' ' && p[i] < 127)
            putchar(p[i]);
        else
            printf("\\x%02x", (unsigned char)p[i]);
    printf("\"%s\n", n > 400 ? "..." : "");
}

/* The same script to memcached and to node 0, replies compared. Scripts
 * that keep the connection end with mn (answered MN) so the read knows
 * where the reply ends. */
static int same_as_memcached(struct fixture *f, const void *in, size_t len, int closes)
{
    const char *end = closes ? NULL : "MN\r\n";
    size_t na, nb;
    char *a = exchange(f->real_port, in, len, end, &na);
    char *b = exchange(f->mc_port[0], in, len, end, &nb);
    int same = na == nb && memcmp(a, b, na) == 0;

    if (!same) {
        printf("replies differ for script:\n");
        print_bytes("script", in, len);
        print_bytes("memcached", a, na);
        print_bytes("ringcache", b, nb);
    }
    free(a);
    free(b);
    return same;
}

#define SCRIPT(s) s, sizeof(s) - 1

/* ---- fixture ------------------------------------------------------------- */

static int group_setup(void **state)
{
    static const char *const extra[] = {"--replica-timeout", "5000", NULL};
    struct fixture *f = rc_h_fixture_new(sizeof(*f), TEST_TIMEOUT_S);
    const char *src = getenv("RC_MEMCACHE_CLIENTS");
    int i, fd;

    *state = f;
    if (f == NULL)
        return -1;
    snprintf(f->script, sizeof(f->script), "%s", src ? src : "");
    rc_h_arm_timeout(TEST_TIMEOUT_S);
    if (rc_h_cluster_new(&f->h, NODES, extra, f->nodes) != 0)
        goto fail;
    for (i = 0; i < NODES; i++) {
        f->mc_port[i] = rc_h_free_port();
        snprintf(f->port_str[i], sizeof(f->port_str[i]), "%d", f->mc_port[i]);
        if (rc_h_server_add_arg(f->nodes[i], "--memcache-port") != 0 ||
            rc_h_server_add_arg(f->nodes[i], f->port_str[i]) != 0)
            goto fail;
    }
    if (rc_h_cluster_start(&f->h, f->nodes, NODES) != 0 ||
        rc_h_cluster_wait_converged(f->nodes, NULL, NODES, 20000) < 0)
        goto fail;
    f->real_port = rc_h_free_port();
    f->memcached = start_memcached(f->real_port);
    for (i = 0; i < 50; i++) {
        fd = rc_h_tcp_connect(f->real_port, 1000);
        if (fd >= 0) {
            close(fd);
            break;
        }
        rc_h_sleep_ms(100);
    }
    if (i == 50) {
        printf("memcached did not start on port %d\n", f->real_port);
        goto fail;
    }
    alarm(0);
    return 0;
fail:
    rc_h_fixture_teardown(state);
    return -1;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;

    if (f == NULL)
        return -1;
    if (f->memcached > 0) {
        kill(f->memcached, SIGTERM);
        waitpid(f->memcached, NULL, 0);
    }
    rc_h_run_free(&f->r);
    return rc_h_fixture_stop_clean(state, f->nodes, NODES, 15000);
}

/* ---- byte-for-byte against memcached ------------------------------------- */

static void test_text_protocol_same_as_memcached(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *s;
        size_t n;
    } scripts[] = {
        {SCRIPT("set t:a 0 0 5\r\nhello\r\nget t:a\r\nget t:a t:missing t:a\r\nmn\r\n")},
        {SCRIPT("add t:a 0 0 1\r\nx\r\nadd t:b 0 0 1\r\nx\r\nreplace t:missing 0 0 1\r\nx\r\n"
                "replace t:b 0 0 2\r\nyy\r\nget t:b\r\nmn\r\n")},
        {SCRIPT("append t:b 0 0 1\r\nz\r\nprepend t:b 0 0 1\r\na\r\nget t:b\r\n"
                "append t:none 0 0 1\r\nz\r\nprepend t:none 0 0 1\r\nz\r\nmn\r\n")},
        {SCRIPT("delete t:b\r\ndelete t:b\r\ndelete t:a 0\r\ndelete t:a 5\r\n"
                "delete t:a noreply\r\nget t:a t:b\r\nmn\r\n")},
        {SCRIPT("incr t:n 1\r\nset t:n 0 0 2\r\n10\r\nincr t:n 5\r\ndecr t:n 100\r\n"
                "incr t:n 18446744073709551615\r\nincr t:n abc\r\nincr t:n -1\r\n"
                "set t:s 0 0 3\r\nabc\r\nincr t:s 1\r\ndecr t:s 1\r\nmn\r\n")},
        {SCRIPT("set t:w 0 0 20\r\n18446744073709551615\r\nincr t:w 2\r\nget t:w\r\nmn\r\n")},
        {SCRIPT("touch t:missing 10\r\nset t:t 0 0 1\r\nx\r\ntouch t:t 100\r\ntouch t:t abc\r\n"
                "gat 100 t:t t:missing\r\ngat abc t:t\r\ngat 10\r\ngat 50 t:t t:t\r\n"
                "gets t:missing t:missing\r\nmn\r\n")},
        {SCRIPT("set t:e 0 0 1\r\nx\r\ntouch t:e -1\r\nget t:e\r\nset t:e2 0 -1 1\r\nx\r\n"
                "get t:e2\r\nmn\r\n")},
        {SCRIPT("cas t:none 0 0 1 1\r\nx\r\nset t:c 0 0 1\r\nx\r\ncas t:c 0 0 1 1\r\ny\r\n"
                "get t:c\r\nmn\r\n")},
        {SCRIPT("set t:nr 0 0 1 noreply\r\na\r\nadd t:nr 0 0 1 noreply\r\nb\r\n"
                "append t:nr 0 0 1 noreply\r\nc\r\nget t:nr\r\nincr t:nr 1 noreply\r\nmn\r\n")},
        {SCRIPT("set t:bin 0 0 6\r\n\x00\r\n\xff\x01\n\r\nget t:bin\r\nmn\r\n")},
        {SCRIPT("get t:lf\nset t:lf 0 0 1\nx\r\nget t:lf\nmn\n")},
        {SCRIPT("set \x10t:ctl\x01\t 0 0 1\r\nx\r\nget \x10t:ctl\x01\t\r\nmn\r\n")},
        /* Errors that keep the connection. */
        {SCRIPT("\r\nbogus\r\nget\r\nset t:x 0 0\r\nset t:x abc 0 1\r\nx\r\n"
                "set t:x 0 0 -1\r\nset t:x 0 0 4294967295\r\nmn\r\n")},
        {SCRIPT("set t:x 0 0 3\r\nabcd\r\nget t:x\r\nset t:x 0 0 1 2\r\nx\r\nget t:x\r\nmn\r\n")},
        {SCRIPT("set t:kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
                "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
                "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
                "kkkkkkkkkkkkkkkkkkkkk 0 0 1\r\nx\r\nmn\r\n")},
        {SCRIPT("verbosity 1\r\nverbosity\r\nverbosity 1 noreply\r\nverbosity x\r\n"
                "stats nosuchgroup\r\nmn\r\n")},
        /* Meta commands. */
        {SCRIPT("ms m:a 2\r\nhi\r\nmg m:a v\r\nmg m:a k O123 v\r\nmg m:a s v\r\nmg m:none v\r\n"
                "mg m:none k O9\r\nmg m:none q v\r\nmg m:a q\r\nmn\r\n")},
        {SCRIPT("ms m:b 1 ME\r\nx\r\nms m:b 1 ME\r\ny\r\nms m:b 1 MA\r\nz\r\nms m:b 1 MP\r\na\r\n"
                "mg m:b v\r\nms m:none 1 MR\r\nx\r\nms m:none 1 MA\r\nx\r\nms m:b 1 q\r\nq\r\n"
                "ms m:b 1 k O1\r\nw\r\nmn\r\n")},
        {SCRIPT("md m:b\r\nmd m:b\r\nmd m:b q\r\nmd m:b k O3\r\nms m:d 1\r\nx\r\nmd m:d q\r\n"
                "mg m:d v\r\nmn\r\n")},
        {SCRIPT("ma m:n\r\nma m:n N0 J13 v\r\nma m:n v D5\r\nma m:n MD v D100\r\nma m:n v\r\n"
                "ma m:n q\r\nma m:n q v\r\nma m:n M- v\r\nma m:n M+ v D7\r\n"
                "ms m:s 1\r\nx\r\nma m:s\r\nmn\r\n")},
        {SCRIPT("mg\r\nme\r\nmg m:a 1\r\nms m:x abc\r\nxx\r\nms m:x 1 MX\r\nx\r\nma m:x MX\r\n"
                "mg m:a O123456789012345678901234567890123\r\nmn\r\n")},
        {SCRIPT("ms m:t 1 T0 F0\r\nx\r\nmg m:t t v\r\nma m:t2 N0 J5 t v\r\nme m:none\r\nmn\r\n")},
    };
    size_t i;
    int bad = 0;

    for (i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
        bad += !same_as_memcached(f, scripts[i].s, scripts[i].n, 0);
    /* quit closes without a word. */
    bad += !same_as_memcached(f, SCRIPT("mn\r\nquit\r\nmn\r\n"), 1);
    assert_int_equal(bad, 0);
    f->h.passed = 1;
}

/* What differs on purpose is checked for its own answer. */
static void test_closing_errors(void **state)
{
    struct fixture *f = *state;
    char line[3000];
    size_t n;
    char *out;

    out = exchange(f->mc_port[0], SCRIPT("quit\r\nmn\r\n"), NULL, &n);
    assert_string_equal(out, "<EOF>");
    free(out);
    /* No newline in 2048 bytes: memcached closes silently, we say why. */
    memset(line, 'x', sizeof(line));
    out = exchange(f->mc_port[0], line, sizeof(line), NULL, &n);
    assert_string_equal(out, "CLIENT_ERROR line too long\r\n<EOF>");
    free(out);
    /* The binary protocol's magic byte: an error and a close (memcached
     * speaks it; ringcache does not). */
    out = exchange(f->mc_port[0], SCRIPT("\x80\x0a\x00\x00\x00\x00\x00\x00"), NULL, &n);
    assert_string_equal(out, "CLIENT_ERROR the binary protocol is not supported (use the text "
                             "or meta protocol)\r\n<EOF>");
    free(out);
    /* A get of many keys may exceed 2048 bytes. */
    {
        char *big = malloc(20000);
        size_t len = 0;
        int i;

        assert_non_null(big);
        len += (size_t)sprintf(big, "get");
        for (i = 0; i < 1500; i++)
            len += (size_t)sprintf(big + len, " many:%d", i);
        len += (size_t)sprintf(big + len, "\r\nmn\r\n");
        out = exchange(f->mc_port[0], big, len, "MN\r\n", &n);
        assert_string_equal(out, "END\r\nMN\r\n");
        free(out);
        free(big);
    }
    f->h.passed = 1;
}

/* gets/cas across nodes: the CAS unique of a version is the same whichever
 * node is asked, changes with every write, and cas checks it. */
static void test_cas_across_nodes(void **state)
{
    struct fixture *f = *state;
    char cmd[256], cas0[32], cas1[32], cas2[32];
    size_t n;
    char *out;

    out = exchange(f->mc_port[0], SCRIPT("set c:k 0 0 2\r\nv1\r\nmn\r\n"), "MN\r\n", &n);
    assert_string_equal(out, "STORED\r\nMN\r\n");
    free(out);
    out = exchange(f->mc_port[1], SCRIPT("gets c:k\r\n"), "END\r\n", &n);
    assert_int_equal(sscanf(out, "VALUE c:k 0 2 %31s", cas1), 1);
    free(out);
    out = exchange(f->mc_port[2], SCRIPT("gets c:k\r\n"), "END\r\n", &n);
    assert_int_equal(sscanf(out, "VALUE c:k 0 2 %31s", cas2), 1);
    free(out);
    assert_string_equal(cas1, cas2);
    snprintf(cas0, sizeof(cas0), "%s", cas1);
    /* cas through another node with that unique: stored once. */
    n = (size_t)snprintf(cmd, sizeof(cmd), "cas c:k 0 0 2 %s\r\nv2\r\ncas c:k 0 0 2 %s\r\nv3\r\n"
                                           "get c:k\r\nmn\r\n", cas0, cas0);
    out = exchange(f->mc_port[2], cmd, n, "MN\r\n", &n);
    assert_string_equal(out, "STORED\r\nEXISTS\r\nVALUE c:k 0 2\r\nv2\r\nEND\r\nMN\r\n");
    free(out);
    out = exchange(f->mc_port[0], SCRIPT("mg c:k c v\r\n"), "\r\nv2\r\n", &n);
    assert_int_equal(sscanf(out, "VA 2 c%31s", cas1), 1);
    assert_string_not_equal(cas1, cas0);
    free(out);
    /* ms with C: the meta form of cas. */
    n = (size_t)snprintf(cmd, sizeof(cmd), "ms c:k 2 C%s\r\nv4\r\nms c:k 2 C%s\r\nv5\r\nmn\r\n",
                         cas0, cas1);
    out = exchange(f->mc_port[1], cmd, n, "MN\r\n", &n);
    assert_string_equal(out, "EX\r\nHD\r\nMN\r\n");
    free(out);
    f->h.passed = 1;
}

/* Read-then-write commands through one node are serialized per key:
 * 4 connections pipelining 250 incr each on one counter, and appends
 * interleaved, lose nothing. */
static void test_conditional_serialized_on_node(void **state)
{
    struct fixture *f = *state;
    enum { CONNS = 4, EACH = 250 };
    char *buf = malloc(EACH * 48 + 8), *out; /* 38 bytes a round */
    int fd[CONNS], i, k, ends;
    size_t len = 0, n;

    assert_non_null(buf);
    out = exchange(f->mc_port[1], SCRIPT("set s:ctr 0 0 1\r\n0\r\nset s:app 0 0 0\r\n\r\nmn\r\n"),
                   "MN\r\n", &n);
    assert_string_equal(out, "STORED\r\nSTORED\r\nMN\r\n");
    free(out);
    for (k = 0; k < EACH; k++)
        len += (size_t)sprintf(buf + len, "incr s:ctr 1\r\nappend s:app 0 0 1\r\nx\r\n");
    len += (size_t)sprintf(buf + len, "mn\r\n");
    for (i = 0; i < CONNS; i++) {
        fd[i] = rc_h_tcp_connect(f->mc_port[1], IO_MS);
        assert_true(fd[i] >= 0);
    }
    for (i = 0; i < CONNS; i++)
        assert_int_equal(rc_h_send_all(fd[i], buf, len, IO_MS), 0);
    for (i = 0; i < CONNS; i++) {
        out = read_reply(fd[i], "MN\r\n", &n);
        close(fd[i]);
        for (ends = 0, k = 0; out[k]; k++)
            ends += strncmp(out + k, "STORED\r\n", 8) == 0;
        assert_int_equal(ends, EACH);
        free(out);
    }
    free(buf);
    out = exchange(f->mc_port[2], SCRIPT("get s:ctr\r\nmg s:app s\r\nmn\r\n"), "MN\r\n", &n);
    assert_string_equal(out, "VALUE s:ctr 0 4\r\n1000\r\nEND\r\nHD s1000\r\nMN\r\n");
    free(out);
    f->h.passed = 1;
}

/* incr/decr through different nodes at once lose nothing (the cluster's
 * convergent counter): 3 connections, one per node, 300 incr by 2 and
 * 100 decr by 1 each, pipelined; flags kept, decr floors at 0. */
static void test_incr_across_nodes(void **state)
{
    struct fixture *f = *state;
    enum { EACH = 300, DECRS = 100 };
    char *buf = malloc((EACH + DECRS) * 24 + 8), *out;
    int fd[NODES], i, k;
    size_t len = 0, n;

    assert_non_null(buf);
    out = exchange(f->mc_port[0], SCRIPT("set x:ctr 7 0 1\r\n0\r\nmn\r\n"), "MN\r\n", &n);
    assert_string_equal(out, "STORED\r\nMN\r\n");
    free(out);
    for (k = 0; k < EACH; k++) {
        len += (size_t)sprintf(buf + len, "incr x:ctr 2\r\n");
        if (k % 3 == 0)
            len += (size_t)sprintf(buf + len, "decr x:ctr 1\r\n");
    }
    len += (size_t)sprintf(buf + len, "mn\r\n");
    for (i = 0; i < NODES; i++) {
        fd[i] = rc_h_tcp_connect(f->mc_port[i], IO_MS);
        assert_true(fd[i] >= 0);
    }
    for (i = 0; i < NODES; i++)
        assert_int_equal(rc_h_send_all(fd[i], buf, len, IO_MS), 0);
    for (i = 0; i < NODES; i++) {
        out = read_reply(fd[i], "MN\r\n", &n);
        close(fd[i]);
        assert_null(strstr(out, "ERROR"));
        free(out);
    }
    free(buf);
    /* 3 x (300 x 2 - 100 x 1) = 1500, through any node. */
    for (i = 0; i < NODES; i++) {
        out = exchange(f->mc_port[i], SCRIPT("get x:ctr\r\n"), "END\r\n", &n);
        assert_string_equal(out, "VALUE x:ctr 7 4\r\n1500\r\nEND\r\n");
        free(out);
    }
    /* decr stops at 0, incr goes on from there. */
    out = exchange(f->mc_port[1], SCRIPT("decr x:ctr 2000\r\nincr x:ctr 3\r\nincr x:nope 1\r\nmn\r\n"),
                   "MN\r\n", &n);
    assert_string_equal(out, "0\r\n3\r\nNOT_FOUND\r\nMN\r\n");
    free(out);
    f->h.passed = 1;
}

/* Stats answer in memcached's shape: STAT lines, then END. */
static void expect_stats_shape(const char *out, const char *const *names)
{
    const char *p = out;
    char want[96];
    size_t i;

    while (strncmp(p, "STAT ", 5) == 0) {
        p = strstr(p, "\r\n");
        assert_non_null(p);
        p += 2;
    }
    assert_string_equal(p, "END\r\n");
    for (i = 0; names[i] != NULL; i++) {
        snprintf(want, sizeof(want), "STAT %s ", names[i]);
        if (strstr(out, want) == NULL)
            printf("missing: %s\n", names[i]);
        assert_non_null(strstr(out, want));
    }
}

static void test_stats_shapes(void **state)
{
    struct fixture *f = *state;
    static const char *const general[] = {
        "pid", "uptime", "time", "version", "pointer_size", "rusage_user", "rusage_system",
        "max_connections", "curr_connections", "total_connections", "cmd_get", "cmd_set",
        "cmd_touch", "get_hits", "get_misses", "delete_hits", "incr_hits", "cas_badval",
        "threads", "curr_items", "bytes", "evictions", "limit_maxbytes", NULL};
    static const char *const settings[] = {"maxbytes", "maxconns", "tcpport", "verbosity",
                                           "evictions", "item_size_max", NULL};
    static const char *const items[] = {"items:1:number", NULL};
    static const char *const slabs[] = {"active_slabs", "total_malloced", NULL};
    size_t n;
    char *out, *real;

    out = exchange(f->mc_port[0], SCRIPT("stats\r\n"), "END\r\n", &n);
    real = exchange(f->real_port, SCRIPT("stats\r\n"), "END\r\n", &n);
    expect_stats_shape(out, general);
    expect_stats_shape(real, general); /* the names are memcached's own */
    free(out);
    free(real);
    out = exchange(f->mc_port[0], SCRIPT("stats settings\r\n"), "END\r\n", &n);
    expect_stats_shape(out, settings);
    free(out);
    out = exchange(f->mc_port[0], SCRIPT("stats items\r\n"), "END\r\n", &n);
    expect_stats_shape(out, items);
    free(out);
    out = exchange(f->mc_port[0], SCRIPT("stats slabs\r\n"), "END\r\n", &n);
    expect_stats_shape(out, slabs);
    free(out);
    out = exchange(f->mc_port[0], SCRIPT("version\r\n"), "\r\n", &n);
    assert_true(strncmp(out, "VERSION 1.6.", 12) == 0);
    free(out);
    f->h.passed = 1;
}

/* ---- hostile input --------------------------------------------------- */

static void expect_serving(struct fixture *f)
{
    size_t n;
    char *out = exchange(f->mc_port[0], SCRIPT("mn\r\n"), "MN\r\n", &n);

    assert_string_equal(out, "MN\r\n");
    free(out);
    assert_true(rc_h_server_alive(f->nodes[0]));
}

static void test_hostile(void **state)
{
    struct fixture *f = *state;
    size_t n, len, i;
    char *out, *flood;
    uint8_t junk[8192];
    int fd, ends = 0;

    /* A huge declared length: refused on the line, nothing awaited. */
    out = exchange(f->mc_port[0], SCRIPT("set h:k 0 0 4294967295\r\nmn\r\n"), "MN\r\n", &n);
    assert_string_equal(out, "CLIENT_ERROR bad command line format\r\nMN\r\n");
    free(out);
    /* Over the value limit (1 MiB): answered at once, the block
     * discarded as it arrives, the connection still usable. */
    flood = malloc(2u << 20);
    assert_non_null(flood);
    len = (size_t)sprintf(flood, "set h:big 0 0 2000000\r\n");
    memset(flood + len, 'x', 2000000);
    len += 2000000;
    len += (size_t)sprintf(flood + len, "\r\nget h:big\r\nmn\r\n");
    out = exchange(f->mc_port[0], flood, len, "MN\r\n", &n);
    assert_string_equal(out, "SERVER_ERROR object too large for cache\r\nEND\r\nMN\r\n");
    free(out);
    free(flood);
    /* A block without its CRLF. */
    out = exchange(f->mc_port[0], SCRIPT("set h:k 0 0 2\r\nabcdmn\r\n"), "MN\r\n", &n);
    assert_string_equal(out, "CLIENT_ERROR bad data chunk\r\nMN\r\n");
    free(out);
    /* 100k pipelined gets on one connection: all answered, in order. */
    flood = malloc(100000 * 12 + 16);
    assert_non_null(flood);
    for (len = 0, i = 0; i < 100000; i++)
        len += (size_t)sprintf(flood + len, "get h:f%zu\r\n", i % 10);
    len += (size_t)sprintf(flood + len, "mn\r\n");
    fd = rc_h_tcp_connect(f->mc_port[0], IO_MS);
    assert_true(fd >= 0);
    assert_int_equal(rc_h_send_all(fd, flood, len, 60000), 0);
    free(flood);
    out = read_reply(fd, "MN\r\n", &n);
    close(fd);
    for (i = 0; i + 5 <= n; i++)
        if (memcmp(out + i, "END\r\n", 5) == 0)
            ends++;
    free(out);
    assert_int_equal(ends, 100000);
    /* Binary garbage with newlines: ERROR lines, never a crash. */
    srand(18);
    for (i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(rand() & 0xff);
    junk[0] = 'x'; /* not the binary magic */
    for (i = 100; i + 1 < sizeof(junk); i += 100) {
        junk[i] = '\n';
        junk[i + 1] = 'x'; /* no line starts with the binary magic */
    }
    fd = rc_h_tcp_connect(f->mc_port[0], IO_MS);
    assert_true(fd >= 0);
    assert_int_equal(rc_h_send_all(fd, junk, sizeof(junk), IO_MS), 0);
    rc_h_send_all(fd, "\r\nmn\r\n", 6, IO_MS);
    out = read_reply(fd, NULL, &n);
    close(fd);
    free(out);
    expect_serving(f);
    /* Binary garbage without newlines: closed after 2048 bytes. */
    for (i = 0; i < sizeof(junk); i++)
        if (junk[i] == '\n')
            junk[i] = 'y';
    out = exchange(f->mc_port[0], junk, sizeof(junk), NULL, &n);
    assert_non_null(strstr(out, "<EOF>"));
    free(out);
    expect_serving(f);
    f->h.passed = 1;
}

/* ---- real clients ----------------------------------------------------- */

static const char *run_tool(struct fixture *f, const char *bin, const char *const *argv,
                            int want_status)
{
    rc_h_run_free(&f->r);
    assert_int_equal(rc_h_run(bin, argv, NULL, NULL, 0, RUN_TIMEOUT_MS, OUT_CAP, &f->r), 0);
    if (f->r.status != want_status)
        printf("%s: status %d, stdout \"%.400s\", stderr \"%.400s\"\n", bin, f->r.status,
               (const char *)f->r.out, (const char *)f->r.err);
    assert_int_equal(f->r.status, want_status);
    return (const char *)f->r.out;
}

static void test_libmemcached_tools(void **state)
{
    struct fixture *f = *state;
    char servers[64], servers1[64], file[RC_H_PATH];
    const char *out;

    snprintf(servers, sizeof(servers), "--servers=127.0.0.1:%d", f->mc_port[0]);
    snprintf(servers1, sizeof(servers1), "--servers=127.0.0.1:%d", f->mc_port[1]);
    assert_int_equal(rc_h_write_file(&f->h, "tool-key.txt", "content of a file\n", 0, file,
                                     sizeof(file)), 0);
    {
        const char *cp[] = {"memccp", servers, file, NULL};
        const char *cat[] = {"memccat", servers1, "tool-key.txt", NULL};
        const char *rm[] = {"memcrm", servers1, "tool-key.txt", NULL};
        const char *stat[] = {"memcstat", servers, NULL};
        const char *slap[] = {"memcslap", servers, "--concurrency=4", "--execute-number=500",
                              "--test=set", NULL};
        const char *slapget[] = {"memcslap", servers, "--concurrency=4",
                                 "--execute-number=500", "--test=get", NULL};

        run_tool(f, "/usr/bin/memccp", cp, 0);
        out = run_tool(f, "/usr/bin/memccat", cat, 0);
        assert_string_equal(out, "content of a file\n\n");
        run_tool(f, "/usr/bin/memcrm", rm, 0);
        run_tool(f, "/usr/bin/memccat", cat, 1); /* gone */
        out = run_tool(f, "/usr/bin/memcstat", stat, 0);
        assert_non_null(strstr(out, "curr_items:"));
        assert_non_null(strstr(out, "version: 1.6.0-ringcache"));
        out = run_tool(f, "/usr/bin/memcslap", slap, 0);
        assert_non_null(strstr(out, "Time to set"));
        out = run_tool(f, "/usr/bin/memcslap", slapget, 0);
        assert_non_null(strstr(out, "Time to get"));
    }
    f->h.passed = 1;
}

static void run_python(struct fixture *f, const char *what)
{
    const char *argv[] = {PYTHON, f->script, what, f->port_str[0], f->port_str[1],
                          f->port_str[2], NULL};

    if (f->script[0] == '\0')
        fail_msg("RC_MEMCACHE_CLIENTS (tests/integration/memcache_clients.py) not set");
    run_tool(f, PYTHON, argv, 0);
}

static void test_pymemcache(void **state)
{
    run_python(*state, "pymemcache");
    ((struct fixture *)*state)->h.passed = 1;
}

static void test_pymemcache_hashclient(void **state)
{
    run_python(*state, "hashclient");
    ((struct fixture *)*state)->h.passed = 1;
}

static void test_python_memcache(void **state)
{
    run_python(*state, "python-memcache");
    ((struct fixture *)*state)->h.passed = 1;
}

/* With --auth-file the memcached port (which has no AUTH) opens only on
 * a loopback bind or with --insecure. */
static void test_auth_file_policy(void **state)
{
    struct fixture *f = *state;
    char pw[RC_H_PATH], port[16], mc[16], peer[16], want[64];
    const char *bin = f->h.server_bin;

    assert_int_equal(rc_h_write_file(&f->h, "mc-auth", "secret-password-1\n", 0600, pw,
                                     sizeof(pw)), 0);
    snprintf(port, sizeof(port), "%d", rc_h_free_port());
    snprintf(mc, sizeof(mc), "%d", rc_h_free_port());
    snprintf(peer, sizeof(peer), "%d", rc_h_free_port_tcp_udp());
    {
        const char *refused[] = {bin, "--bind", "0.0.0.0", "--port", port, "--peer-port", peer,
                                 "--memcache-port", mc, "--auth-file", pw, "--data-dir",
                                 ":memory:", NULL};
        const char *loopback[] = {bin, "--bind", "127.0.0.1", "--port", port, "--peer-port",
                                  peer, "--memcache-port", mc, "--auth-file", pw,
                                  "--data-dir", ":memory:", NULL};

        rc_h_run_free(&f->r);
        assert_int_equal(rc_h_run(bin, refused, NULL, NULL, 0, 10000, OUT_CAP, &f->r), 0);
        assert_false(f->r.timed_out);
        assert_int_not_equal(f->r.status, 0);
        assert_non_null(strstr((const char *)f->r.err, "--memcache-port"));
        assert_non_null(strstr((const char *)f->r.err, "--insecure"));
        /* On loopback it serves (killed by the run's timeout, still up). */
        rc_h_run_free(&f->r);
        assert_int_equal(rc_h_run(bin, loopback, NULL, NULL, 0, 1500, OUT_CAP, &f->r), 0);
        assert_true(f->r.timed_out);
        snprintf(want, sizeof(want), "listening addr=127.0.0.1:%s", mc);
        assert_non_null(strstr((const char *)f->r.err, want));
    }
    f->h.passed = 1;
}

/* ---- FLAGS ---------------------------------------------------------------- */

static void test_flags_text(void **state)
{
    struct fixture *f = *state;
    int same;
    size_t n;
    char *out;

    out = exchange(f->mc_port[0], SCRIPT("set fl:k 4294967295 0 1\r\nx\r\nmn\r\n"), "MN\r\n", &n);
    free(out);
    out = exchange(f->mc_port[1], SCRIPT("get fl:k\r\nmg fl:k f\r\nms fl:m 1 F42\r\ny\r\n"
                                          "mg fl:m f v\r\nappend fl:m 0 0 1\r\nz\r\nget fl:m\r\nmn\r\n"),
                   "MN\r\n", &n);
    same = strcmp(out, "VALUE fl:k 4294967295 1\r\nx\r\nEND\r\nHD f4294967295\r\nHD\r\n"
                       "VA 1 f42\r\ny\r\nSTORED\r\nVALUE fl:m 42 2\r\nyz\r\nEND\r\nMN\r\n") == 0;
    if (!same)
        print_bytes("flags did not round-trip; got", out, n);
    free(out);
    assert_true(same);
    f->h.passed = 1;
}

static void test_flags_clients(void **state)
{
    run_python(*state, "flags");
    ((struct fixture *)*state)->h.passed = 1;
}


/* flush_all is the cluster's: an item set through one node and flushed
 * through another is gone through every node; a delayed flush_all lets
 * items live until its delay ends and then takes them (those set in
 * between too), and answers like memcached (last test: it empties the
 * cluster and the real memcached). */
static void test_flush_all(void **state)
{
    struct fixture *f = *state;
    size_t n;
    char *out;
    int i, bad = 0;

    bad += !same_as_memcached(f, SCRIPT("flush_all abc\r\nflush_all 1 2 3\r\nflush_all noreply\r\n"
                                        "flush_all 0\r\nflush_all -5\r\nflush_all\r\nmn\r\n"), 0);
    assert_int_equal(bad, 0);
    out = exchange(f->mc_port[0], SCRIPT("set fa:1 0 0 1\r\nx\r\nset fa:2 5 0 1\r\ny\r\nmn\r\n"),
                   "MN\r\n", &n);
    assert_string_equal(out, "STORED\r\nSTORED\r\nMN\r\n");
    free(out);
    out = exchange(f->mc_port[1], SCRIPT("flush_all\r\n"), "\r\n", &n);
    assert_string_equal(out, "OK\r\n");
    free(out);
    for (i = 0; i < NODES; i++) {
        out = exchange(f->mc_port[i], SCRIPT("get fa:1 fa:2\r\n"), "END\r\n", &n);
        assert_string_equal(out, "END\r\n");
        free(out);
    }
    /* Writes after it stay. */
    out = exchange(f->mc_port[2], SCRIPT("set fa:3 0 0 1\r\nz\r\nget fa:3\r\n"), "END\r\n", &n);
    assert_string_equal(out, "STORED\r\nVALUE fa:3 0 1\r\nz\r\nEND\r\n");
    free(out);

    /* Delayed: 2 s. Until then everything is served, fa:4 set meanwhile
     * included; after, neither. */
    out = exchange(f->mc_port[0], SCRIPT("flush_all 2\r\nset fa:4 0 0 1\r\nw\r\nget fa:3\r\n"),
                   "END\r\n", &n);
    assert_string_equal(out, "OK\r\nSTORED\r\nVALUE fa:3 0 1\r\nz\r\nEND\r\n");
    free(out);
    out = exchange(f->mc_port[1], SCRIPT("get fa:4\r\n"), "END\r\n", &n);
    assert_string_equal(out, "VALUE fa:4 0 1\r\nw\r\nEND\r\n");
    free(out);
    rc_h_sleep_ms(3000);
    for (i = 0; i < NODES; i++) {
        out = exchange(f->mc_port[i], SCRIPT("get fa:3 fa:4\r\n"), "END\r\n", &n);
        assert_string_equal(out, "END\r\n");
        free(out);
    }
    out = exchange(f->mc_port[1], SCRIPT("stats\r\n"), "END\r\n", &n);
    assert_non_null(strstr(out, "STAT cmd_flush "));
    assert_null(strstr(out, "STAT cmd_flush 0\r\n"));
    free(out);
    f->h.passed = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        RC_H_GROUP_TEST(test_text_protocol_same_as_memcached),
        RC_H_GROUP_TEST(test_closing_errors),
        RC_H_GROUP_TEST(test_cas_across_nodes),
        RC_H_GROUP_TEST(test_conditional_serialized_on_node),
        RC_H_GROUP_TEST(test_incr_across_nodes),
        RC_H_GROUP_TEST(test_stats_shapes),
        RC_H_GROUP_TEST(test_hostile),
        RC_H_GROUP_TEST(test_libmemcached_tools),
        RC_H_GROUP_TEST(test_pymemcache),
        RC_H_GROUP_TEST(test_pymemcache_hashclient),
        RC_H_GROUP_TEST(test_python_memcache),
        RC_H_GROUP_TEST(test_auth_file_policy),
        RC_H_GROUP_TEST(test_flags_text),
        RC_H_GROUP_TEST(test_flags_clients),
        RC_H_GROUP_TEST(test_flush_all), /* last: it empties the cluster */
    };

    rc_h_test_filter_from_env();
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
