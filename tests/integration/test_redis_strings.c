/*
 * test_redis_strings.c - the Redis string, expiry and single-key keyspace
 * commands of the RESP front end (server/resp_strings.c), side by side
 * with the real redis-server.
 *
 * The servers are started here; the command scripts and the byte-for-byte
 * comparison are in redis_strings.py (RC_REDIS_STRINGS_PY), run with
 * Debian's /usr/bin/python3, which also drives redis-py. One test runs the
 * same script against redis-server and a single :memory: node; the other
 * runs the multi-key and read-modify-write commands through the three
 * nodes of a cluster (RF=3, W=2, R=2), kills the coordinator of a
 * pipeline of RENAMEs half-way (no value lost: README "Redis
 * compatibility"), then a second node (RENAME and APPEND refused). Without
 * redis-server the side-by-side test is skipped with a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "redis_side.h"

#define NODES 3
#define TEST_TIMEOUT_S 120
#define RUN_TIMEOUT_MS 60000
#define OUT_CAP (1u << 20)
#define REDIS_START_MS 10000
#define PYTHON "/usr/bin/python3"

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness (harness.h) */
    pid_t redis_pid;     /* the redis-server this test started, 0: none */
};

static int setup(void **state)
{
    return rc_h_fixture_setup(state, sizeof(struct fixture), TEST_TIMEOUT_S);
}

/* Stops the redis-server a failed assertion may have left running. */
static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f != NULL)
        rc_h_redis_kill(&f->redis_pid);
    return rc_h_fixture_teardown(state);
}

static const char *script(void)
{
    const char *p = getenv("RC_REDIS_STRINGS_PY");

    return p != NULL ? p : "tests/integration/redis_strings.py";
}

/* redis_strings.py <mode> <ports...>: its output printed, exit 0 wanted. */
static void run_script(const char *mode, const int *ports, int n)
{
    char num[4][16];
    const char *argv[8] = {PYTHON, script(), mode};
    struct rc_hrun r;
    int i;

    for (i = 0; i < n && i < 4; i++) {
        snprintf(num[i], sizeof(num[i]), "%d", ports[i]);
        argv[3 + i] = num[i];
    }
    argv[3 + i] = NULL;
    assert_int_equal(rc_h_run(PYTHON, argv, NULL, NULL, 0, RUN_TIMEOUT_MS, OUT_CAP, &r), 0);
    printf("%s%s", (const char *)r.out, (const char *)r.err);
    assert_int_equal(r.status, 0);
    rc_h_run_free(&r);
}

/* Starts redis-server (Debian's) on 127.0.0.1:port without persistence,
 * its files in the harness's directory, and waits until it accepts. It
 * dies with the test (PR_SET_PDEATHSIG); teardown() stops it otherwise. */
static void start_redis(struct fixture *f, const char *bin, int port)
{
    f->redis_pid = rc_h_redis_start(bin, port, f->h.root, NULL, REDIS_START_MS);
    assert_true(f->redis_pid > 0);
}

static void add_resp_port(struct rc_hserver *s, int *port)
{
    char num[16];

    *port = rc_h_free_port();
    snprintf(num, sizeof(num), "%d", *port);
    assert_int_equal(rc_h_server_add_arg(s, "--resp-port"), 0);
    assert_int_equal(rc_h_server_add_arg(s, num), 0);
}

/* The same command script to redis-server and a :memory: node: every
 * deterministic reply byte for byte, times within a tolerance, the
 * documented differences as documented; then redis-py. */
static void test_side_by_side(void **state)
{
    struct fixture *f = *state;
    const char *bin = "/usr/bin/redis-server";
    struct rc_hserver *s;
    int ports[2];

    if (access(bin, X_OK) != 0) {
        printf("redis-server not found (scripts/deps.sh test installs it): skipped\n");
        f->h.passed = 1;
        skip();
    }
    ports[1] = rc_h_free_port();
    start_redis(f, bin, ports[1]);
    s = rc_h_server_new(&f->h, ":memory:", NULL);
    assert_non_null(s);
    add_resp_port(s, &ports[0]);
    assert_int_equal(rc_h_server_start(&f->h, s), 0);
    run_script("compare", ports, 2);
    kill(f->redis_pid, SIGTERM);
    assert_int_equal(waitpid(f->redis_pid, NULL, 0), f->redis_pid);
    f->redis_pid = 0;
    f->h.passed = 1;
}

/* RENAME, COPY, MSETNX, APPEND, SETNX, EXPIRE NX, ... through different
 * nodes of a 3-node cluster: what one wrote the next reads. Then the
 * node coordinating a pipeline of RENAMEs is killed half-way: every value
 * is still under one of its names. Then a second node is killed: with no
 * quorum, RENAME and APPEND answer an error. */
static void test_cluster(void **state)
{
    static const char *const extra[] = {"--replica-timeout", "5000", NULL};
    struct fixture *f = *state;
    struct rc_hserver *nodes[NODES];
    int ports[NODES], crash[3], i;

    assert_int_equal(rc_h_cluster_new(&f->h, NODES, extra, nodes), 0);
    for (i = 0; i < NODES; i++)
        add_resp_port(nodes[i], &ports[i]);
    assert_int_equal(rc_h_cluster_start(&f->h, nodes, NODES), 0);
    assert_true(rc_h_cluster_wait_converged(nodes, NULL, NODES, 20000) >= 0);
    run_script("cluster", ports, NODES);
    /* The script kills node 1 (its pid) half-way through its RENAMEs. */
    crash[0] = ports[0];
    crash[1] = ports[1];
    crash[2] = (int)nodes[0]->pid;
    run_script("crash", crash, 3);
    rc_h_server_kill(nodes[0]); /* reaps it */
    rc_h_server_kill(nodes[2]);
    run_script("unavailable", &ports[1], 1);
    f->h.passed = 1;
}

/* RESET on a node with --auth-file: the connection is no longer
 * authenticated (and its name is gone), as in Redis. */
static void test_reset_auth(void **state)
{
    struct fixture *f = *state;
    char pwfile[RC_H_PATH];
    struct rc_hserver *s;
    int port;

    assert_int_equal(
        rc_h_write_file(&f->h, "passwords", "reset-pw\n", 0600, pwfile, sizeof(pwfile)), 0);
    s = rc_h_server_new(&f->h, ":memory:", NULL);
    assert_non_null(s);
    assert_int_equal(rc_h_server_add_arg(s, "--auth-file"), 0);
    assert_int_equal(rc_h_server_add_arg(s, pwfile), 0);
    add_resp_port(s, &port);
    assert_int_equal(rc_h_server_start(&f->h, s), 0);
    run_script("reset", &port, 1);
    f->h.passed = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_side_by_side, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_auth, setup, teardown),
    };

    rc_h_test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
