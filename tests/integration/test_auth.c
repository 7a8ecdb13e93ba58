/*
 * test_auth.c - client passwords, protected mode and the per-connection
 * limits (idle, slow frame) against real servers.
 *
 * Each test starts its own server with the flags it is about, talks to
 * it over raw sockets where the exact wire behaviour matters and through
 * the client library and ringcache-cli where users meet it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define TEST_TIMEOUT_S 60
#define PASSWORD "correct horse battery staple"
#define OLD_PASSWORD "old-rotated-secret"
/* Wire statuses (common/err.h table). */
#define ST_OK 0
#define ST_NOTFOUND 1
#define ST_FRAME_TOO_LARGE 7
#define ST_INVAL 8
#define ST_NOAUTH 21
#define ST_WRONGPASS 22
#define OP_PING 1
#define OP_GET 2
#define OP_PUT 3
#define OP_STATS 5
#define OP_AUTH 9

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness (harness.h) */
    char pwfile[RC_H_PATH + 16];
};

/* The password file is left as fopen makes it (not 0600). */
static int setup(void **state)
{
    struct fixture *f;

    if (rc_h_fixture_setup(state, sizeof(struct fixture), TEST_TIMEOUT_S) != 0)
        return -1;
    f = *state;
    if (rc_h_write_file(&f->h, "passwords",
                        "# rotation: the old one goes once clients moved\n" OLD_PASSWORD
                        "\n" PASSWORD "\n",
                        0, f->pwfile, sizeof(f->pwfile)) != 0) {
        rc_h_fixture_teardown(state);
        return -1;
    }
    return 0;
}

static struct rc_hserver *start(struct fixture *f, const char *const *extra)
{
    return rc_h_server_launch(&f->h, ":memory:", extra);
}

static struct rc_hserver *start_auth(struct fixture *f, const char *a1, const char *a2)
{
    const char *extra[] = {"--auth-file", f->pwfile, a1, a2, NULL};

    return start(f, extra);
}

/* One raw request, one reply; returns the status or -1. */
static int raw_call(int fd, uint32_t op, uint32_t id, const char *key, const void *value,
                    size_t value_len)
{
    static uint8_t buf[256 * 1024];
    struct rc_hreply rep;
    size_t n;

    n = rc_h_encode_request(buf, 0, sizeof(buf), op, id, key, key ? strlen(key) : 0, value,
                            value_len);
    if (n == 0 || rc_h_send_all(fd, buf, n, 2000) != 0)
        return -1;
    if (rc_h_read_reply(fd, buf, sizeof(buf), 3000, &rep) != 0 || rep.id != id)
        return -1;
    return (int)rep.status;
}

static int raw_auth(int fd, uint32_t id, const char *pw)
{
    return raw_call(fd, OP_AUTH, id, NULL, pw, strlen(pw));
}

static struct rc_client *client_pw(const struct rc_hserver *s, const char *pw, int *err)
{
    struct rc_client_opts o = {.connect_timeout_ms = 2000, .io_timeout_ms = 5000, .password = pw};
    struct rc_client *c = NULL;

    *err = rc_client_connect(s->addr, &o, &c);
    return c;
}

/* Before AUTH only AUTH and PING are served; wrong passwords are refused
 * and the connection stays usable; either password of a rotation works. */
static void test_preauth_rules(void **state)
{
    struct fixture *f = *state;
    struct rc_hserver *s = start_auth(f, NULL, NULL);
    int fd;

    assert_non_null(s);
    fd = rc_h_tcp_connect(s->port, 2000);
    assert_true(fd >= 0);
    assert_int_equal(raw_call(fd, OP_GET, 1, "k", NULL, 0), ST_NOAUTH);
    assert_int_equal(raw_call(fd, OP_PUT, 2, "k", "v", 1), ST_NOAUTH);
    assert_int_equal(raw_call(fd, OP_STATS, 3, NULL, NULL, 0), ST_NOAUTH);
    assert_int_equal(raw_call(fd, OP_PING, 4, NULL, NULL, 0), ST_OK);
    assert_int_equal(raw_call(fd, OP_AUTH, 5, NULL, NULL, 0), ST_INVAL); /* no VALUE */
    assert_int_equal(raw_auth(fd, 6, "wrong"), ST_WRONGPASS);
    assert_int_equal(raw_call(fd, OP_GET, 7, "k", NULL, 0), ST_NOAUTH);
    assert_int_equal(raw_auth(fd, 8, PASSWORD), ST_OK);
    assert_int_equal(raw_call(fd, OP_GET, 9, "k", NULL, 0), ST_NOTFOUND);
    assert_int_equal(raw_call(fd, OP_PUT, 10, "k", "v", 1), ST_OK);
    close(fd);

    fd = rc_h_tcp_connect(s->port, 2000);
    assert_true(fd >= 0);
    assert_int_equal(raw_auth(fd, 1, OLD_PASSWORD), ST_OK);
    assert_int_equal(raw_call(fd, OP_GET, 2, "k", NULL, 0), ST_OK);
    close(fd);
    /* The secret never reaches the log. */
    assert_false(rc_h_log_contains(s, PASSWORD));
    assert_false(rc_h_log_contains(s, OLD_PASSWORD));
    f->h.passed = 1;
}

/* AUTH and a request pipelined in one write: the request is served. */
static void test_pipelined_auth(void **state)
{
    struct fixture *f = *state;
    struct rc_hserver *s = start_auth(f, NULL, NULL);
    uint8_t buf[4096];
    struct rc_hreply rep;
    size_t n;
    int fd;

    assert_non_null(s);
    fd = rc_h_tcp_connect(s->port, 2000);
    assert_true(fd >= 0);
    n = rc_h_encode_request(buf, 0, sizeof(buf), OP_AUTH, 1, NULL, 0, PASSWORD,
                            strlen(PASSWORD));
    n = rc_h_encode_request(buf, n, sizeof(buf), OP_GET, 2, "nokey", 5, NULL, 0);
    assert_true(n > 0);
    assert_int_equal(rc_h_send_all(fd, buf, n, 2000), 0);
    assert_int_equal(rc_h_read_reply(fd, buf, sizeof(buf), 3000, &rep), 0);
    assert_int_equal(rep.status, ST_OK);
    assert_int_equal(rc_h_read_reply(fd, buf, sizeof(buf), 3000, &rep), 0);
    assert_int_equal(rep.id, 2);
    assert_int_equal(rep.status, ST_NOTFOUND);
    close(fd);
    f->h.passed = 1;
}

/* The third wrong password closes the connection; all is counted. */
static void test_wrong_password_limit(void **state)
{
    struct fixture *f = *state;
    struct rc_hserver *s = start_auth(f, NULL, NULL);
    struct rc_client *c;
    int fd, err;

    assert_non_null(s);
    fd = rc_h_tcp_connect(s->port, 2000);
    assert_true(fd >= 0);
    assert_int_equal(raw_auth(fd, 1, "guess1"), ST_WRONGPASS);
    assert_int_equal(raw_auth(fd, 2, "guess2"), ST_WRONGPASS);
    assert_int_equal(raw_auth(fd, 3, "guess3"), ST_WRONGPASS);
    assert_int_equal(rc_h_wait_closed(fd, 2000), 0);
    close(fd);

    c = client_pw(s, "nope", &err);
    assert_null(c);
    assert_int_equal(err, RC_CLIENT_WRONGPASS);
    c = client_pw(s, NULL, &err);
    assert_non_null(c);
    assert_int_equal(rc_client_ping(c), 0);
    assert_int_equal(rc_client_put(c, "k", 1, "v", 1, 0), RC_CLIENT_NOAUTH);
    rc_client_free(c);

    c = client_pw(s, PASSWORD, &err);
    assert_non_null(c);
    assert_int_equal(rc_client_put(c, "k", 1, "v", 1, 0), 0);
    assert_int_equal(rc_h_stat_num(c, "auth_failures"), 4);
    assert_int_equal(rc_h_stat_num(c, "auth_closed"), 1);
    assert_int_equal(rc_h_stat_num(c, "auth_rejected"), 1);
    assert_true(rc_h_stat_num(c, "auth_ok") >= 1);
    rc_client_free(c);
    f->h.passed = 1;
}

/* Before AUTH a frame may carry at most 4 KiB: a bigger one (or a lying
 * 4 GiB prefix) is refused without being buffered; after AUTH the normal
 * limit applies. */
static void test_preauth_frame_limit(void **state)
{
    struct fixture *f = *state;
    struct rc_hserver *s = start_auth(f, NULL, NULL);
    static uint8_t value[100 * 1024];
    uint8_t buf[64];
    struct rc_hreply rep;
    size_t n;
    int fd;

    assert_non_null(s);
    fd = rc_h_tcp_connect(s->port, 2000);
    assert_true(fd >= 0);
    rc_h_frame_header(buf, 1, 0, 4097);
    assert_int_equal(rc_h_send_all(fd, buf, 8, 2000), 0);
    assert_int_equal(rc_h_read_reply(fd, buf, sizeof(buf), 3000, &rep), 0);
    assert_int_equal(rep.status, ST_FRAME_TOO_LARGE);
    assert_int_equal(rc_h_wait_closed(fd, 2000), 0);
    close(fd);

    /* The limit holds for every frame before AUTH, not just the first. */
    fd = rc_h_tcp_connect(s->port, 2000);
    assert_true(fd >= 0);
    n = rc_h_encode_request(buf, 0, sizeof(buf), OP_PING, 1, NULL, 0, NULL, 0);
    rc_h_frame_header(buf + n, 1, 0, 5000);
    assert_int_equal(rc_h_send_all(fd, buf, n + 8, 2000), 0);
    assert_int_equal(rc_h_read_reply(fd, buf, sizeof(buf), 3000, &rep), 0);
    assert_int_equal(rep.status, ST_OK);
    assert_int_equal(rc_h_read_reply(fd, buf, sizeof(buf), 3000, &rep), 0);
    assert_int_equal(rep.status, ST_FRAME_TOO_LARGE);
    close(fd);

    fd = rc_h_tcp_connect(s->port, 2000);
    assert_true(fd >= 0);
    rc_h_frame_header(buf, 1, 0, 0xFFFFFFFFu);
    assert_int_equal(rc_h_send_all(fd, buf, 8, 2000), 0);
    assert_int_equal(rc_h_read_reply(fd, buf, sizeof(buf), 3000, &rep), 0);
    assert_int_equal(rep.status, ST_FRAME_TOO_LARGE);
    close(fd);

    memset(value, 'v', sizeof(value));
    fd = rc_h_tcp_connect(s->port, 2000);
    assert_true(fd >= 0);
    assert_int_equal(raw_auth(fd, 1, PASSWORD), ST_OK);
    assert_int_equal(raw_call(fd, OP_PUT, 2, "big", value, sizeof(value)), ST_OK);
    close(fd);
    f->h.passed = 1;
}

/* A server without --auth-file answers AUTH with a clear error. */
static void test_auth_not_configured(void **state)
{
    struct fixture *f = *state;
    struct rc_hserver *s = start(f, NULL);
    int fd;

    assert_non_null(s);
    fd = rc_h_tcp_connect(s->port, 2000);
    assert_true(fd >= 0);
    assert_int_equal(raw_auth(fd, 1, "x"), ST_INVAL);
    assert_int_equal(raw_call(fd, OP_GET, 2, "k", NULL, 0), ST_NOTFOUND);
    close(fd);
    f->h.passed = 1;
}

static int run_cli(const struct rc_hserver *s, const char *const *argv, const char *const *env,
                   struct rc_hrun *r)
{
    return rc_h_run(argv[0], argv, env, NULL, 0, 10000, 65536, r);
}

/* ringcache-cli --auth and RINGCACHE_AUTH. */
static void test_cli_auth(void **state)
{
    struct fixture *f = *state;
    struct rc_hserver *s = start_auth(f, NULL, NULL);
    struct rc_hrun r;
    char env_pw[128];

    assert_non_null(s);
    const char *put[] = {f->h.cli_bin, "-s", s->addr, "--auth", PASSWORD, "put", "ck", "cv", NULL};
    assert_int_equal(run_cli(s, put, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    rc_h_run_free(&r);

    const char *get[] = {f->h.cli_bin, "-s", s->addr, "get", "ck", NULL};
    snprintf(env_pw, sizeof(env_pw), "RINGCACHE_AUTH=%s", PASSWORD);
    const char *env[] = {env_pw, NULL};
    assert_int_equal(run_cli(s, get, env, &r), 0);
    assert_int_equal(r.status, 0);
    assert_memory_equal(r.out, "cv", 2);
    rc_h_run_free(&r);

    assert_int_equal(run_cli(s, get, NULL, &r), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr((char *)r.err, "NOAUTH"));
    rc_h_run_free(&r);

    const char *bad[] = {f->h.cli_bin, "-s", s->addr, "-a", "wrong", "get", "ck", NULL};
    assert_int_equal(run_cli(s, bad, NULL, &r), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr((char *)r.err, "invalid password"));
    rc_h_run_free(&r);

    /* The members view probes every node with the same password. */
    const char *members[] = {f->h.cli_bin, "-s", s->addr, "-a", PASSWORD, "members", "--json", NULL};
    assert_int_equal(run_cli(s, members, NULL, &r), 0);
    assert_int_equal(r.status, 0);
    rc_h_run_free(&r);
    f->h.passed = 1;
}

/* ringcache-bench -a: every connection authenticates before the run;
 * --key-prefix names the keys it uses. */
static void test_bench_auth(void **state)
{
    struct fixture *f = *state;
    struct rc_hserver *s = start_auth(f, NULL, NULL);
    const char *bench = getenv("RC_BENCH_BIN");
    struct rc_result res;
    struct rc_client *c;
    struct rc_hrun r;

    assert_non_null(s);
    assert_non_null(bench);
    const char *ok[] = {bench, "-s", s->addr, "-a", PASSWORD, "-c", "4", "-t", "0.3", NULL};
    assert_int_equal(rc_h_run(bench, ok, NULL, NULL, 0, 15000, 65536, &r), 0);
    assert_int_equal(r.status, 0);
    rc_h_run_free(&r);
    const char *bad[] = {bench, "-s", s->addr, "-a", "wrong", "-c", "2", "-t", "0.3", NULL};
    assert_int_equal(rc_h_run(bench, bad, NULL, NULL, 0, 15000, 65536, &r), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr((char *)r.err, "AUTH refused"));
    rc_h_run_free(&r);

    /* --key-prefix: --load writes pfx:00000000.. instead of key:.. */
    const char *pfx[] = {bench, "-s", s->addr, "-a", PASSWORD, "-c", "2", "-n", "20", "-r",
                         "1", "--key-prefix", "pfx:", "--load", "-t", "0.2", "--json", NULL};
    assert_int_equal(rc_h_run(bench, pfx, NULL, NULL, 0, 15000, 65536, &r), 0);
    assert_int_equal(r.status, 0);
    /* Every PUT of the load acknowledged (a GET below that misses would
     * otherwise not say why: this failed once under ASan). */
    if (strstr((char *)r.out, "\"load\": {\"puts\": 20, \"errors\": 0") == NULL)
        printf("bench --load: %.600s\nstderr: %.300s\n", (char *)r.out, (char *)r.err);
    assert_non_null(strstr((char *)r.out, "\"load\": {\"puts\": 20, \"errors\": 0"));
    rc_h_run_free(&r);
    c = rc_h_client(s, 5000);
    assert_non_null(c);
    assert_int_equal(rc_client_auth(c, PASSWORD, strlen(PASSWORD)), 0);
    assert_int_equal(rc_client_get(c, "pfx:00000019", 12, &res), 0);
    assert_int_equal(res.value_len, 100);
    assert_int_equal(rc_client_get(c, "key:00000019", 12, &res), RC_CLIENT_NOTFOUND);
    rc_client_free(c);
    /* A prefix past 32 bytes is refused up front, with a usage error. */
    const char *longp[] = {bench, "-s", s->addr, "--key-prefix",
                           "0123456789abcdef0123456789abcdefX", NULL};
    assert_int_equal(rc_h_run(bench, longp, NULL, NULL, 0, 15000, 65536, &r), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr((char *)r.err, "--key-prefix is longer than 32 bytes"));
    rc_h_run_free(&r);
    f->h.passed = 1;
}

/* Protected mode: a wildcard bind with neither passwords nor a cluster
 * key refuses to start and names the settings; --insecure, a password
 * file or a cluster key lets it start. */
static void test_protected_mode(void **state)
{
    struct fixture *f = *state;
    char port[16], peer[16], dir[RC_H_PATH + 8];
    struct rc_hrun r;

    snprintf(port, sizeof(port), "%d", rc_h_free_port());
    snprintf(peer, sizeof(peer), "%d", rc_h_free_port_tcp_udp());
    snprintf(dir, sizeof(dir), "%s/pm", f->h.root);
    const char *argv[] = {f->h.server_bin, "--bind", "0.0.0.0", "--port", port, "--peer-port",
                          peer, "--data-dir", ":memory:", "--advertise", "127.0.0.1", NULL};
    assert_int_equal(rc_h_run(argv[0], argv, NULL, NULL, 0, 10000, 65536, &r), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr((char *)r.err, "protected mode"));
    assert_non_null(strstr((char *)r.err, "--auth-file"));
    assert_non_null(strstr((char *)r.err, "--insecure"));
    rc_h_run_free(&r);

    /* The same through the environment twin of --insecure. */
    const char *extra[] = {"--bind", "0.0.0.0", "--advertise", "127.0.0.1", NULL};
    struct rc_hserver *s = rc_h_server_new(&f->h, ":memory:", extra);
    assert_non_null(s);
    assert_int_equal(rc_h_server_setenv(s, "RINGCACHE_INSECURE=1"), 0);
    assert_int_equal(rc_h_server_start(&f->h, s), 0);
    assert_true(rc_h_log_contains(s, "--insecure"));
    rc_h_server_stop(s, 5000);

    const char *with_pw[] = {"--bind", "0.0.0.0", "--advertise", "127.0.0.1", "--auth-file",
                             f->pwfile, NULL};
    s = rc_h_server_new(&f->h, ":memory:", with_pw);
    assert_non_null(s);
    assert_int_equal(rc_h_server_start(&f->h, s), 0);
    assert_true(rc_h_log_contains(s, "without --cluster-key-file"));
    rc_h_server_stop(s, 5000);

    /* A cluster key alone lets it start too, with a warning about clients. */
    {
        char keyfile[RC_H_PATH + 16];
        assert_int_equal(
            rc_h_write_file(&f->h, "pm.key",
                            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
                            0600, keyfile, sizeof(keyfile)),
            0);
        const char *with_key[] = {"--bind", "0.0.0.0", "--advertise", "127.0.0.1",
                                  "--cluster-key-file", keyfile, NULL};
        s = rc_h_server_new(&f->h, ":memory:", with_key);
        assert_non_null(s);
        assert_int_equal(rc_h_server_start(&f->h, s), 0);
        assert_true(rc_h_log_contains(s, "without --auth-file"));
        rc_h_server_stop(s, 5000);
    }

    /* A bad password file stops the start with a message, no secret. */
    const char *nofile[] = {f->h.server_bin, "--port", port, "--peer-port", peer, "--data-dir",
                            ":memory:", "--auth-file", "/nonexistent/pw", NULL};
    assert_int_equal(rc_h_run(nofile[0], nofile, NULL, NULL, 0, 10000, 65536, &r), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr((char *)r.err, "--auth-file: cannot open '/nonexistent/pw'"));
    rc_h_run_free(&r);
    f->h.passed = 1;
}

/* --auth-timeout: a connection that does not authenticate is closed even
 * if it keeps sending PINGs; an authenticated one is not. */
static void test_auth_timeout(void **state)
{
    struct fixture *f = *state;
    struct rc_hserver *s = start_auth(f, "--auth-timeout", "1");
    struct rc_client *c;
    int anon, authed, i, closed = 0, err;
    double t0;

    assert_non_null(s);
    anon = rc_h_tcp_connect(s->port, 2000);
    authed = rc_h_tcp_connect(s->port, 2000);
    assert_true(anon >= 0 && authed >= 0);
    assert_int_equal(raw_auth(authed, 1, PASSWORD), ST_OK);
    t0 = rc_h_now_ms();
    for (i = 0; i < 12 && !closed; i++) {
        closed = raw_call(anon, OP_PING, (uint32_t)i + 1, NULL, NULL, 0) != ST_OK;
        if (!closed)
            rc_h_sleep_ms(200);
    }
    printf("unauthenticated connection pinging every 200 ms closed after %.0f ms "
           "(--auth-timeout 1)\n",
           rc_h_now_ms() - t0);
    assert_true(closed);
    assert_int_equal(raw_call(authed, OP_GET, 2, "k", NULL, 0), ST_NOTFOUND);
    c = client_pw(s, PASSWORD, &err);
    assert_non_null(c);
    assert_int_equal(rc_h_stat_num(c, "closed_auth_timeout"), 1);
    rc_client_free(c);
    close(anon);
    close(authed);
    f->h.passed = 1;
}

/* --idle-timeout closes silent client connections, not busy ones, and
 * never the peer port's. */
static void test_idle_timeout(void **state)
{
    struct fixture *f = *state;
    const char *extra[] = {"--idle-timeout", "1", NULL};
    struct rc_hserver *s = start(f, extra);
    struct rc_client *c;
    int idle, busy, peer, i;
    double t0;

    assert_non_null(s);
    idle = rc_h_tcp_connect(s->port, 2000);
    busy = rc_h_tcp_connect(s->port, 2000);
    peer = rc_h_tcp_connect(s->peer_port, 2000);
    assert_true(idle >= 0 && busy >= 0 && peer >= 0);
    t0 = rc_h_now_ms();
    for (i = 0; i < 8; i++) {
        rc_h_sleep_ms(250);
        assert_int_equal(raw_call(busy, OP_PING, (uint32_t)i + 1, NULL, NULL, 0), ST_OK);
    }
    assert_int_equal(rc_h_wait_closed(idle, 2000), 0);
    printf("idle connection closed after %.0f ms (--idle-timeout 1)\n", rc_h_now_ms() - t0);
    assert_int_equal(raw_call(busy, OP_PING, 100, NULL, NULL, 0), ST_OK);
    assert_int_equal(raw_call(peer, OP_PING, 1, NULL, NULL, 0), ST_OK);
    c = rc_h_client(s, 5000);
    assert_non_null(c);
    assert_true(rc_h_stat_num(c, "closed_idle") >= 1);
    rc_client_free(c);
    close(idle);
    close(busy);
    close(peer);
    f->h.passed = 1;
}

/* --frame-timeout cuts a frame sent a byte at a time, on both ports. */
static void test_slow_frame(void **state)
{
    struct fixture *f = *state;
    const char *extra[] = {"--frame-timeout", "1000", NULL};
    struct rc_hserver *s = start(f, extra);
    uint8_t frame[256];
    struct rc_client *c;
    size_t n, i;
    int fd, port, closed;
    double t0;

    assert_non_null(s);
    n = rc_h_encode_request(frame, 0, sizeof(frame), OP_PUT, 1, "slow", 4, "value", 5);
    for (port = 0; port < 2; port++) {
        fd = rc_h_tcp_connect(port == 0 ? s->port : s->peer_port, 2000);
        assert_true(fd >= 0);
        t0 = rc_h_now_ms();
        closed = 0;
        for (i = 0; i < n && !closed; i++) {
            if (rc_h_send_all(fd, frame + i, 1, 1000) != 0)
                closed = 1;
            else
                closed = rc_h_wait_closed(fd, 200) == 0;
        }
        assert_true(closed);
        printf("byte-per-200ms sender on the %s port cut after %.0f ms (--frame-timeout 1000)\n",
               port == 0 ? "client" : "peer", rc_h_now_ms() - t0);
        assert_true(rc_h_now_ms() - t0 < 3000);
        close(fd);
    }
    c = rc_h_client(s, 5000);
    assert_non_null(c);
    assert_true(rc_h_stat_num(c, "closed_slow_frame") >= 1);
    rc_client_free(c);
    f->h.passed = 1;
}

/* --write-timeout cuts a client that takes nothing, not one that reads
 * its replies slowly: 100 KB/s through a 4 MiB reply buffer is progress
 * even though one buffer takes 40 s to go out. */
static void test_slow_reader_kept(void **state)
{
    struct fixture *f = *state;
    const char *extra[] = {"--write-timeout", "2000", NULL};
    struct rc_hserver *s = start(f, extra);
    static uint8_t reqs[200 * 64], value[60 * 1024], tmp[10 * 1024];
    struct rc_client *c;
    size_t n = 0, got = 0;
    ssize_t k;
    double t0;
    int i, fd;

    assert_non_null(s);
    c = rc_h_client(s, 5000);
    assert_non_null(c);
    memset(value, 's', sizeof(value));
    assert_int_equal(rc_client_put(c, "big", 3, value, sizeof(value), 0), 0);
    for (i = 0; i < 200; i++)
        n = rc_h_encode_request(reqs, n, sizeof(reqs), OP_GET, (uint32_t)i + 1, "big", 3, NULL,
                                0);
    fd = rc_h_tcp_connect(s->port, 2000);
    assert_true(fd >= 0);
    assert_int_equal(rc_h_send_all(fd, reqs, n, 2000), 0);
    t0 = rc_h_now_ms();
    while (rc_h_now_ms() - t0 < 6000) {
        rc_h_sleep_ms(100);
        k = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        assert_true(k > 0); /* never closed, always something to read */
        got += (size_t)k;
    }
    printf("slow reader: %zu bytes read in 6 s at ~100 KB/s, closed_write_stall %lld "
           "(--write-timeout 2000)\n",
           got, (long long)rc_h_stat_num(c, "closed_write_stall"));
    assert_int_equal(rc_h_stat_num(c, "closed_write_stall"), 0);
    close(fd);
    rc_client_free(c);
    f->h.passed = 1;
}

/* --max-output: a client that pipelines GETs of a large value through a
 * coordinator (each one deferred until the other replica answers) and
 * never reads. Backpressure cannot stop those replies, which were asked
 * for already; the cap closes the connection instead of holding them
 * all. The other clients are unaffected. */
static void test_output_limit(void **state)
{
    struct fixture *f = *state;
    const char *extra[] = {"--rf", "2", "--r", "2", "--w", "2", "--out-buffer", "64k",
                           "--max-value-size", "64k", "--max-output", "300k", NULL};
    static uint8_t reqs[1000 * 64], value[60 * 1024];
    struct rc_hserver *nodes[2];
    struct rc_client *c;
    struct rc_result res;
    size_t n = 0;
    int i, fd;
    double t0;

    assert_int_equal(rc_h_cluster_new(&f->h, 2, extra, nodes), 0);
    assert_int_equal(rc_h_cluster_start(&f->h, nodes, 2), 0);
    c = rc_h_client(nodes[0], 5000);
    assert_non_null(c);
    t0 = rc_h_now_ms();
    while (rc_h_stat_num(c, "members_alive") < 2 && rc_h_now_ms() - t0 < 15000)
        rc_h_sleep_ms(100);
    assert_int_equal(rc_h_stat_num(c, "members_alive"), 2);
    memset(value, 'o', sizeof(value));
    assert_int_equal(rc_client_put(c, "big", 3, value, sizeof(value), 0), 0);

    for (i = 0; i < 1000; i++)
        n = rc_h_encode_request(reqs, n, sizeof(reqs), OP_GET, (uint32_t)i + 1, "big", 3, NULL,
                                0);
    assert_true(n > 0);
    fd = rc_h_tcp_connect(nodes[0]->port, 2000);
    assert_true(fd >= 0);
    t0 = rc_h_now_ms();
    assert_int_equal(rc_h_send_all(fd, reqs, n, 2000), 0);
    /* Not reading (rc_h_wait_closed would): watch the counter instead. */
    while (rc_h_stat_num(c, "closed_output_limit") < 1 && rc_h_now_ms() - t0 < 10000)
        rc_h_sleep_ms(20);
    printf("1000 pipelined GETs of 60 KiB never read: closed after %.0f ms (--max-output 300k); "
           "server RSS %ld KiB\n",
           rc_h_now_ms() - t0, rc_h_server_rss_kib(nodes[0]));
    assert_int_equal(rc_h_stat_num(c, "closed_output_limit"), 1);
    /* What the kernel buffers held comes first, then the close. */
    assert_int_equal(rc_h_wait_closed(fd, 5000), 0);
    close(fd);
    /* The replica reads it asked for still drain through the shared peer
     * connection (60 MB): a quorum read may time out meanwhile. */
    t0 = rc_h_now_ms();
    do {
        rc_client_free(c);
        c = rc_h_client(nodes[0], 5000);
        assert_non_null(c);
        i = rc_client_get(c, "big", 3, &res);
    } while (i != 0 && rc_h_now_ms() - t0 < 15000);
    printf("  next quorum GET ok after %.0f ms\n", rc_h_now_ms() - t0);
    assert_int_equal(i, 0);
    assert_int_equal(res.value_len, sizeof(value));
    rc_client_free(c);
    f->h.passed = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_preauth_rules, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_auth, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password_limit, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_preauth_frame_limit, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_auth_not_configured, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cli_auth, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bench_auth, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_protected_mode, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_auth_timeout, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_slow_frame, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_slow_reader_kept, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_output_limit, setup, rc_h_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
