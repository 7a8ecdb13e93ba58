/*
 * test_cli.c - ringcache-cli run as a subprocess against a real server.
 *
 * One server serves the whole group (tests use disjoint keys). Each CLI
 * run gets stdin bytes, a timeout and captured stdout/stderr, and the
 * tests compare exit codes and output byte for byte: scripts depend on
 * both. The client library is used only to cross-check what the CLI
 * stored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "harness.h"

#define TEST_TIMEOUT_S 40
#define RUN_TIMEOUT_MS 10000
#define OUT_CAP (16u << 20)
#define MAX_ARGS 16

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness (harness.h) */
    struct rc_hserver *s;
    struct rc_hrun r; /* last run; freed by the next run and by teardown */
};

/* One server for the whole group. */
static int group_setup(void **state)
{
    struct fixture *f = rc_h_fixture_new(sizeof(*f), TEST_TIMEOUT_S);
    *state = f;
    if (f == NULL)
        return -1;
    if (f->h.cli_bin == NULL || f->h.cli_bin[0] == '\0') {
        printf("RC_CLI_BIN is not set\n");
        goto fail;
    }
    rc_h_arm_timeout(TEST_TIMEOUT_S);
    f->s = rc_h_server_launch(&f->h, NULL, NULL);
    if (f->s == NULL)
        goto fail;
    alarm(0);
    return 0;
fail:
    rc_h_fixture_teardown(state);
    return -1;
}

/* A graceful stop still works after the group (a sanitizer build reports
 * leaks or errors through a non-zero status). */
static int group_teardown(void **state)
{
    struct fixture *f = *state;
    if (f == NULL)
        return 0; /* group setup failed (it said why) */
    rc_h_run_free(&f->r);
    return rc_h_fixture_stop_clean(state, &f->s, 1, 10000);
}

static int setup(void **state)
{
    struct fixture *f = *state;
    if (rc_h_test_setup(state) != 0)
        return -1;
    return rc_h_server_alive(f->s) ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (!f->h.passed && f->r.out != NULL)
        printf("last CLI run: status %d, stdout %zu bytes, stderr: %s\n", f->r.status,
               f->r.out_len, (const char *)f->r.err);
    return rc_h_test_teardown(state);
}

/*
 * Runs the CLI with the given arguments (NULL-terminated), prefixed by
 * "-s <server>" when server is not NULL, with env additions and stdin.
 * Returns the run (owned by the fixture) after checking it finished.
 */
static struct rc_hrun *run_in(struct fixture *f, const char *server, const char *const *env,
                              const void *in, size_t in_len, const char *arg, ...)
{
    const char *argv[MAX_ARGS + 4];
    va_list ap;
    int n = 0;

    argv[n++] = f->h.cli_bin;
    if (server != NULL) {
        argv[n++] = "-s";
        argv[n++] = server;
    }
    va_start(ap, arg);
    for (; arg != NULL && n < MAX_ARGS + 2; arg = va_arg(ap, const char *))
        argv[n++] = arg;
    va_end(ap);
    argv[n] = NULL;

    rc_h_run_free(&f->r);
    assert_int_equal(rc_h_run(f->h.cli_bin, argv, env, in, in_len, RUN_TIMEOUT_MS, OUT_CAP, &f->r),
                     0);
    if (f->r.timed_out)
        printf("CLI run timed out after %d ms\n", RUN_TIMEOUT_MS);
    assert_false(f->r.timed_out);
    return &f->r;
}

#define run(f, ...) run_in((f), (f)->s->addr, NULL, NULL, 0, __VA_ARGS__, NULL)

static void expect_out(const struct rc_hrun *r, int status, const void *out, size_t out_len)
{
    if (r->status != status || r->out_len != out_len || memcmp(r->out, out, out_len) != 0)
        printf("CLI: status %d (want %d), stdout %zu bytes \"%.200s\" (want %zu bytes), stderr "
               "\"%.300s\"\n",
               r->status, status, r->out_len, (const char *)r->out, out_len,
               (const char *)r->err);
    assert_int_equal(r->status, status);
    assert_int_equal(r->out_len, out_len);
    assert_memory_equal(r->out, out, out_len);
}

#define expect_text(r, status, text) expect_out((r), (status), (text), strlen(text))

/* stderr is exactly one non-empty line. */
static void expect_one_line_err(const struct rc_hrun *r)
{
    const char *nl = memchr(r->err, '\n', r->err_len);
    printf("stderr: %s", (const char *)r->err);
    assert_true(r->err_len > 1);
    assert_non_null(nl);
    assert_true(nl == (const char *)r->err + r->err_len - 1);
}

static void test_put_get_del(void **state)
{
    struct fixture *f = *state;
    expect_text(run(f, "put", "k1", "v1"), 0, "OK\n");
    assert_int_equal(f->r.err_len, 0);
    expect_text(run(f, "get", "k1"), 0, "v1"); /* exact bytes, no newline: not a tty */
    assert_int_equal(f->r.err_len, 0);
    expect_text(run(f, "put", "k1", "second"), 0, "OK\n");
    expect_text(run(f, "get", "k1"), 0, "second");
    expect_text(run(f, "del", "k1"), 0, "OK\n");
    expect_text(run(f, "del", "k1"), 1, "(nil)\n");
    expect_text(run(f, "get", "k1"), 1, "");
    expect_text(run(f, "ping"), 0, "PONG\n");
    /* A key starting with "--" after the "--" separator. */
    expect_text(run(f, "put", "sp", "a value with  spaces\tand tab"), 0, "OK\n");
    expect_text(run(f, "get", "sp"), 0, "a value with  spaces\tand tab");
    expect_text(run(f, "put", "--", "--dash", "dv"), 0, "OK\n");
    expect_text(run(f, "get", "--", "--dash"), 0, "dv");
    f->h.passed = 1;
}

static void test_get_missing(void **state)
{
    struct fixture *f = *state;
    struct rc_hrun *r = run(f, "get", "never-stored");
    expect_text(r, 1, "");
    assert_int_equal(r->err_len, 0);
    f->h.passed = 1;
}

static void test_binary_stdin(void **state)
{
    struct fixture *f = *state;
    static const uint8_t head[] = {0, 0xff, '\n', '\r', 0, 1, ' ', 'x', 0xfe, 0, '\n'};
    enum { BIG = 100 * 1024 };
    uint8_t val[sizeof(head) + 256], *big = malloc(BIG);
    struct rc_client *c;
    struct rc_result res;
    size_t i;

    assert_non_null(big);
    memcpy(val, head, sizeof(head));
    for (i = 0; i < 256; i++)
        val[sizeof(head) + i] = (uint8_t)(255 - i);
    expect_text(run_in(f, f->s->addr, NULL, val, sizeof(val), "put", "bin", "-", NULL), 0, "OK\n");
    expect_out(run(f, "get", "bin"), 0, val, sizeof(val));

    for (i = 0; i < BIG; i++)
        big[i] = (uint8_t)(i * 131 + (i >> 8));
    expect_text(run_in(f, f->s->addr, NULL, big, BIG, "put", "bigbin", "-", NULL), 0, "OK\n");
    expect_out(run(f, "get", "bigbin"), 0, big, BIG);

    /* Empty stdin stores an empty value. */
    expect_text(run_in(f, f->s->addr, NULL, "", 0, "put", "empty", "-", NULL), 0, "OK\n");
    expect_text(run(f, "get", "empty"), 0, "");

    /* What the CLI stored is exactly what a library client reads. */
    c = rc_h_client(f->s, 5000);
    assert_non_null(c);
    assert_int_equal(rc_client_get(c, "bin", 3, &res), 0);
    assert_int_equal(res.value_len, sizeof(val));
    assert_memory_equal(res.value, val, sizeof(val));
    assert_int_equal(rc_client_get(c, "empty", 5, &res), 0);
    assert_int_equal(res.value_len, 0);
    rc_client_free(c);
    free(big);
    f->h.passed = 1;
}

static void test_ttl(void **state)
{
    struct fixture *f = *state;
    double t0 = rc_h_now_ms(), gone = -1;
    expect_text(run(f, "put", "ttlkey", "tv", "--ttl", "1"), 0, "OK\n");
    expect_text(run(f, "get", "ttlkey"), 0, "tv");
    expect_text(run(f, "put", "ttlkeep", "kv"), 0, "OK\n");
    while (rc_h_now_ms() - t0 < 3000) {
        struct rc_hrun *r = run(f, "get", "ttlkey");
        if (r->status == 1) {
            gone = rc_h_now_ms() - t0;
            break;
        }
        expect_text(r, 0, "tv");
        rc_h_sleep_ms(50);
    }
    printf("--ttl 1 key gone after %.0f ms\n", gone);
    assert_true(gone >= 900);
    expect_text(run(f, "get", "ttlkeep"), 0, "kv");
    f->h.passed = 1;
}

static void test_env_server(void **state)
{
    struct fixture *f = *state;
    char good[96], bad[96];
    const char *env_good[] = {good, NULL}, *env_bad[] = {bad, NULL};
    snprintf(good, sizeof(good), "RINGCACHE_SERVER=%s", f->s->addr);
    snprintf(bad, sizeof(bad), "RINGCACHE_SERVER=127.0.0.1:%d", rc_h_free_port());

    expect_text(run_in(f, NULL, env_good, NULL, 0, "ping", NULL), 0, "PONG\n");
    expect_text(run_in(f, NULL, env_good, NULL, 0, "put", "envk", "envv", NULL), 0, "OK\n");
    expect_text(run(f, "get", "envk"), 0, "envv");
    /* The variable is really what selects the server... */
    expect_text(run_in(f, NULL, env_bad, NULL, 0, "ping", NULL), 2, "");
    expect_one_line_err(&f->r);
    /* ...and -s overrides it. */
    expect_text(run_in(f, f->s->addr, env_bad, NULL, 0, "get", "envk", NULL), 0, "envv");
    f->h.passed = 1;
}

static void test_closed_port(void **state)
{
    struct fixture *f = *state;
    char addr[64];
    struct rc_hrun *r;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", rc_h_free_port());
    r = run_in(f, addr, NULL, NULL, 0, "ping", NULL);
    printf("closed port: exit %d after %.0f ms\n", r->status, r->elapsed_ms);
    expect_text(r, 2, "");
    expect_one_line_err(r);
    assert_true(r->elapsed_ms < 3000);
    r = run_in(f, addr, NULL, NULL, 0, "--timeout", "500", "get", "x", NULL);
    expect_text(r, 2, "");
    expect_one_line_err(r);
    assert_true(r->elapsed_ms < 3000);
    f->h.passed = 1;
}

/* A server that accepts but never answers: --timeout bounds the wait. */
static void test_unresponsive_server(void **state)
{
    struct fixture *f = *state;
    char addr[64];
    struct rc_hrun *r;
    int port, fd = rc_h_listen_blackhole(&port);
    assert_true(fd >= 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    r = run_in(f, addr, NULL, NULL, 0, "--timeout", "500", "ping", NULL);
    close(fd);
    printf("unresponsive server, --timeout 500: exit %d after %.0f ms\n", r->status, r->elapsed_ms);
    expect_text(r, 2, "");
    expect_one_line_err(r);
    assert_true(r->elapsed_ms < 3000);
    f->h.passed = 1;
}

/* A value over the server's frame limit is refused with a size error. */
static void test_too_large(void **state)
{
    struct fixture *f = *state;
    size_t n = 2u << 20;
    uint8_t *v = malloc(n);
    struct rc_hrun *r;
    assert_non_null(v);
    memset(v, 'z', n);
    r = run_in(f, f->s->addr, NULL, v, n, "put", "huge", "-", NULL);
    free(v);
    expect_text(r, 2, "");
    expect_one_line_err(r);
    assert_non_null(strstr((const char *)r->err, "TOO_LARGE"));
    expect_text(run(f, "get", "huge"), 1, "");
    f->h.passed = 1;
}

static void test_usage_errors(void **state)
{
    struct fixture *f = *state;
    expect_text(run(f, "frobnicate"), 2, "");
    expect_one_line_err(&f->r);
    expect_text(run(f, "get"), 2, "");
    assert_true(f->r.err_len > 0);
    expect_text(run(f, "put", "k"), 2, "");
    assert_true(f->r.err_len > 0);
    expect_text(run(f, "get", "a", "b"), 2, "");
    assert_true(f->r.err_len > 0);
    expect_text(run(f, "put", "k", "v", "--ttl", "soon"), 2, "");
    assert_true(f->r.err_len > 0);
    expect_text(run_in(f, "127.0.0.1:notaport", NULL, NULL, 0, "ping", NULL), 2, "");
    assert_true(f->r.err_len > 0);
    /* None of these stored anything. */
    expect_text(run(f, "get", "k"), 1, "");
    f->h.passed = 1;
}

static void test_stats_json(void **state)
{
    struct fixture *f = *state;
    struct rc_hrun *r;
    const char *s, *e;

    expect_text(run(f, "put", "statk", "sv"), 0, "OK\n");
    r = run(f, "stats", "--json");
    assert_int_equal(r->status, 0);
    printf("stats --json: %s", (const char *)r->out);
    s = (const char *)r->out;
    e = s + r->out_len;
    while (s < e && (*s == ' ' || *s == '\n'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\n'))
        e--;
    assert_true(e - s >= 2);
    assert_int_equal(*s, '{');
    assert_int_equal(e[-1], '}');
    assert_non_null(strstr(s, "\"keys\":"));
    assert_non_null(strstr(s, "\"ops_put\":"));

    r = run(f, "stats");
    assert_int_equal(r->status, 0);
    assert_non_null(strstr((const char *)r->out, "keys"));
    f->h.passed = 1;
}

/* Appends printf output to a growing buffer of cap bytes. */
static void addf(char *buf, size_t *len, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void addf(char *buf, size_t *len, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < cap - *len);
    *len += (size_t)n;
}

static void test_pipe_mode(void **state)
{
    struct fixture *f = *state;
    enum { N = 5000 };
    size_t cap = 1u << 20, in_len = 0, exp_len = 0, err_at;
    char *in = malloc(cap), *exp = malloc(cap);
    const char *out, *nl;
    struct rc_hrun *r;
    int i;

    assert_non_null(in);
    assert_non_null(exp);
    for (i = 0; i < N; i++) {
        addf(in, &in_len, cap, "put pk%d pv%d\n", i, i * 7);
        addf(exp, &exp_len, cap, "OK\n");
    }
    addf(in, &in_len, cap, "frobnicate pk1\n");
    err_at = exp_len; /* the ERR line is checked on its own */
    for (i = 0; i < N; i++) {
        addf(in, &in_len, cap, "get pk%d\n", i);
        addf(exp, &exp_len, cap, "pv%d\n", i * 7);
    }
    addf(in, &in_len, cap, "get pk-missing\nping\n");
    addf(exp, &exp_len, cap, "(nil)\nPONG\n");

    r = run_in(f, f->s->addr, NULL, in, in_len, NULL);
    printf("pipe mode: %d lines in %.0f ms, exit %d\n", 2 * N + 3, r->elapsed_ms, r->status);
    out = (const char *)r->out;
    /* Everything before the ERR line, the ERR line, everything after. */
    assert_true(r->out_len > err_at);
    assert_memory_equal(out, exp, err_at);
    nl = memchr(out + err_at, '\n', r->out_len - err_at);
    assert_non_null(nl);
    printf("invalid line gave: %.*s\n", (int)(nl - (out + err_at)), out + err_at);
    assert_memory_equal(out + err_at, "ERR ", 4);
    {
        const char *p = out + err_at + 4;
        while (p < nl && ((*p >= 'A' && *p <= 'Z') || *p == '_'))
            p++;
        assert_true(p > out + err_at + 4); /* a CODE_NAME */
        assert_true(p < nl && *p == ' ');  /* then a message */
    }
    nl++;
    if ((size_t)(r->out + r->out_len - (const uint8_t *)nl) != exp_len - err_at ||
        memcmp(nl, exp + err_at, exp_len - err_at) != 0)
        printf("pipe mode output after the ERR line differs (%zu bytes, want %zu)\n",
               (size_t)(r->out + r->out_len - (const uint8_t *)nl), exp_len - err_at);
    assert_int_equal((size_t)(r->out + r->out_len - (const uint8_t *)nl), exp_len - err_at);
    assert_memory_equal(nl, exp + err_at, exp_len - err_at);
    assert_int_equal(r->status, 2); /* any ERR line: exit 2 */

    /* Without failures: exit 0, (nil) for misses of get and del. */
    {
        static const char batch[] = "del pk0\nget pk0\ndel pk0\nget pk1\n";
        r = run_in(f, f->s->addr, NULL, batch, sizeof(batch) - 1, NULL);
    }
    expect_text(r, 0, "OK\n(nil)\n(nil)\npv7\n");
    free(in);
    free(exp);
    f->h.passed = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_del, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_stdin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unresponsive_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipe_mode, setup, teardown),
    };
    return cmocka_run_group_tests_name("integration_cli", tests, group_setup, group_teardown);
}
