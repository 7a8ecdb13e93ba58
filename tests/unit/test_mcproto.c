/*
 * test_mcproto.c - the memcached text/meta parser and its pure semantics:
 * whole commands only (every prefix asks for more bytes), pipelined
 * commands cut one at a time, memcached 1.6's error lines and what
 * follows them (go on, swallow, close), hostile lengths rejected before
 * any byte of payload is awaited, exptime, CAS and incr/decr arithmetic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mcproto.h"

#define MAX_KEYS 64

static const struct rc_mc_limits lim = {MAX_KEYS, 1024 * 1024, 64 * 1024};
static struct rc_mc_tok keys[MAX_KEYS];

static int parse(const char *in, size_t len, struct rc_mc_req *req, size_t *used,
                 struct rc_mc_error *err)
{
    req->keys = keys;
    return rc_mc_parse((const uint8_t *)in, len, &lim, req, used, err);
}

static int parse_s(const char *in, struct rc_mc_req *req, size_t *used, struct rc_mc_error *err)
{
    return parse(in, strlen(in), req, used, err);
}

static void tok_eq(const struct rc_mc_tok *t, const char *s)
{
    assert_int_equal(t->len, strlen(s));
    assert_memory_equal(t->p, s, t->len);
}

/* An error reply line and its action. */
static void expect_error(const char *in, const char *line, int action)
{
    struct rc_mc_req req;
    struct rc_mc_error err;
    size_t used;

    assert_int_equal(parse_s(in, &req, &used, &err), RC_EPROTO);
    assert_string_equal(err.line, line);
    assert_int_equal(err.action, action);
}

static void test_get(void **state)
{
    struct rc_mc_req req;
    struct rc_mc_error err;
    size_t used;
    const char *in = "get a bb  ccc\r\nget x\r\n";

    (void)state;
    assert_int_equal(parse_s(in, &req, &used, &err), 1);
    assert_int_equal(req.cmd, RC_MC_GET);
    assert_int_equal(req.nkeys, 3);
    tok_eq(&req.keys[0], "a");
    tok_eq(&req.keys[1], "bb");
    tok_eq(&req.keys[2], "ccc");
    assert_int_equal(used, strlen("get a bb  ccc\r\n"));
    /* The next command of the pipeline. */
    assert_int_equal(parse_s(in + used, &req, &used, &err), 1);
    assert_int_equal(req.nkeys, 1);
    /* A bare newline ends a line too. */
    assert_int_equal(parse_s("gats 100 k\n", &req, &used, &err), 1);
    assert_int_equal(req.cmd, RC_MC_GATS);
    assert_int_equal(req.exptime, 100);
    tok_eq(&req.keys[0], "k");
    expect_error("get\r\n", "ERROR", RC_MC_CONTINUE);
    assert_int_equal(parse_s("gat 10\r\n", &req, &used, &err), 1); /* memcached: END */
    assert_int_equal(req.nkeys, 0);
    expect_error("gat\r\n", "ERROR", RC_MC_CONTINUE);
    expect_error("gat abc k\r\n", "CLIENT_ERROR invalid exptime argument", RC_MC_CONTINUE);
}

static void test_prefixes_need_more(void **state)
{
    const char *cmds[] = {"get a b\r\n", "set k 1 2 5\r\nhello\r\n", "ms k 2 T10\r\nhi\r\n",
                          "incr k 10\r\n", "cas k 0 0 1 77 noreply\r\nx\r\n"};
    struct rc_mc_req req;
    struct rc_mc_error err;
    size_t i, n, used;

    (void)state;
    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        for (n = 0; n < strlen(cmds[i]); n++)
            assert_int_equal(parse(cmds[i], n, &req, &used, &err), 0);
        assert_int_equal(parse_s(cmds[i], &req, &used, &err), 1);
        assert_int_equal(used, strlen(cmds[i]));
    }
}

static void test_storage(void **state)
{
    struct rc_mc_req req;
    struct rc_mc_error err;
    size_t used;
    const char in[] = "set k 4294967295 -1 3 noreply\r\na\0b\r\n";

    (void)state;
    assert_int_equal(parse(in, sizeof(in) - 1, &req, &used, &err), 1);
    assert_int_equal(req.cmd, RC_MC_SET);
    assert_int_equal(req.flags, 4294967295u);
    assert_int_equal(req.exptime, -1);
    assert_true(req.noreply);
    assert_int_equal(req.data_len, 3);
    assert_memory_equal(req.data, "a\0b", 3); /* binary-safe */
    assert_int_equal(used, sizeof(in) - 1);
    assert_int_equal(parse_s("cas k 0 0 1 123\r\nx\r\n", &req, &used, &err), 1);
    assert_int_equal(req.cas, 123);
    assert_false(req.noreply);
    /* A sixth token that is not noreply is ignored, as memcached does. */
    assert_int_equal(parse_s("set k 0 0 1 2\r\nx\r\n", &req, &used, &err), 1);
    assert_false(req.noreply);
}

static void test_storage_errors(void **state)
{
    struct rc_mc_req req;
    struct rc_mc_error err;
    size_t used;
    char longkey[300];

    (void)state;
    expect_error("set k 0 0\r\n", "ERROR", RC_MC_CONTINUE);
    expect_error("set k abc 0 3\r\nabc\r\n", "CLIENT_ERROR bad command line format",
                 RC_MC_CONTINUE);
    expect_error("set k 4294967296 0 1\r\n", "CLIENT_ERROR bad command line format",
                 RC_MC_CONTINUE);
    expect_error("set k 0 0 -1\r\n", "CLIENT_ERROR bad command line format", RC_MC_CONTINUE);
    /* A hostile length: refused on the line alone, no data awaited. */
    assert_int_equal(parse_s("set k 0 0 4294967295\r\n", &req, &used, &err), RC_EPROTO);
    assert_string_equal(err.line, "CLIENT_ERROR bad command line format");
    assert_int_equal(used, strlen("set k 0 0 4294967295\r\n"));
    /* Over the value limit: answered at once, the block swallowed. */
    assert_int_equal(parse_s("set k 0 0 2000000\r\n", &req, &used, &err), RC_EPROTO);
    assert_string_equal(err.line, "SERVER_ERROR object too large for cache");
    assert_int_equal(err.action, RC_MC_SWALLOW);
    assert_int_equal(err.swallow, 2000002);
    /* The block must end in CRLF; its bytes are consumed either way. */
    assert_int_equal(parse_s("set k 0 0 3\r\nabcd\r\n", &req, &used, &err), RC_EPROTO);
    assert_string_equal(err.line, "CLIENT_ERROR bad data chunk");
    assert_int_equal(used, strlen("set k 0 0 3\r\nabcd\r"));
    memset(longkey, 'a', sizeof(longkey));
    snprintf(longkey + 255, sizeof(longkey) - 255, " 0 0 1\r\n"); /* a 251-byte key */
    memcpy(longkey, "set ", 4);
    expect_error(longkey, "CLIENT_ERROR bad command line format", RC_MC_CONTINUE);
    /* Control characters in a key: accepted, as memcached 1.6 does. */
    assert_int_equal(parse_s("set \x10k\x01 0 0 1\r\nx\r\n", &req, &used, &err), 1);
    tok_eq(&req.keys[0], "\x10k\x01");
}

static void test_lines(void **state)
{
    struct rc_mc_req req;
    struct rc_mc_error err;
    size_t used;
    char *big = malloc(70 * 1024);

    (void)state;
    assert_non_null(big);
    expect_error("\r\n", "ERROR", RC_MC_CONTINUE);
    expect_error("bogus\r\n", "ERROR", RC_MC_CONTINUE);
    expect_error("\x80\x01\x00\x00", "CLIENT_ERROR the binary protocol is not supported (use "
                                     "the text or meta protocol)",
                 RC_MC_CLOSE);
    /* No newline in 2048 bytes: closed, unless a get with many keys. */
    memset(big, 'x', 3000);
    assert_int_equal(parse(big, 3000, &req, &used, &err), RC_EPROTO);
    assert_string_equal(err.line, "CLIENT_ERROR line too long");
    assert_int_equal(err.action, RC_MC_CLOSE);
    memcpy(big, "get ", 4);
    memset(big + 4, ' ', 3000);
    assert_int_equal(parse(big, 3000, &req, &used, &err), 0);
    /* ... up to the caller's line limit. */
    memset(big + 4, 'k', 70 * 1024 - 4);
    assert_int_equal(parse(big, 70 * 1024, &req, &used, &err), RC_EPROTO);
    assert_int_equal(err.action, RC_MC_CLOSE);
    /* More keys than the caller's array. */
    big[0] = '\0';
    strcat(big, "get");
    for (int i = 0; i < MAX_KEYS + 1; i++)
        strcat(big, " k");
    strcat(big, "\r\n");
    assert_int_equal(parse_s(big, &req, &used, &err), RC_EPROTO);
    assert_int_equal(err.action, RC_MC_CONTINUE);
    free(big);
}

static void test_simple(void **state)
{
    struct rc_mc_req req;
    struct rc_mc_error err;
    size_t used;

    (void)state;
    assert_int_equal(parse_s("incr n 18446744073709551615\r\n", &req, &used, &err), 1);
    assert_int_equal(req.delta, UINT64_MAX);
    expect_error("incr n 18446744073709551616\r\n", "CLIENT_ERROR invalid numeric delta argument",
                 RC_MC_CONTINUE);
    expect_error("incr n -1\r\n", "CLIENT_ERROR invalid numeric delta argument", RC_MC_CONTINUE);
    expect_error("touch k abc\r\n", "CLIENT_ERROR invalid exptime argument", RC_MC_CONTINUE);
    assert_int_equal(parse_s("delete k noreply\r\n", &req, &used, &err), 1);
    assert_true(req.noreply);
    assert_int_equal(parse_s("delete k 0\r\n", &req, &used, &err), 1);
    expect_error("delete k 5\r\n",
                 "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]",
                 RC_MC_CONTINUE);
    expect_error("delete\r\n", "ERROR", RC_MC_CONTINUE);
    assert_int_equal(parse_s("verbosity 1 noreply\r\n", &req, &used, &err), 1);
    assert_true(req.noreply);
    expect_error("verbosity\r\n", "ERROR", RC_MC_CONTINUE);
    assert_int_equal(parse_s("stats slabs\r\n", &req, &used, &err), 1);
    tok_eq(&req.args, "slabs");
    /* flush_all [delay] [noreply], as memcached 1.6 reads it. */
    assert_int_equal(parse_s("flush_all\r\n", &req, &used, &err), 1);
    assert_int_equal(req.cmd, RC_MC_FLUSH_ALL);
    assert_int_equal(req.exptime, 0);
    assert_false(req.noreply);
    assert_int_equal(parse_s("flush_all 10 noreply\r\n", &req, &used, &err), 1);
    assert_int_equal(req.exptime, 10);
    assert_true(req.noreply);
    assert_int_equal(parse_s("flush_all noreply\r\n", &req, &used, &err), 1);
    assert_int_equal(req.exptime, 0);
    assert_true(req.noreply);
    assert_int_equal(parse_s("flush_all 7 x\r\n", &req, &used, &err), 1);
    assert_int_equal(req.exptime, 7);
    assert_false(req.noreply);
    expect_error("flush_all abc\r\n", "CLIENT_ERROR invalid exptime argument", RC_MC_CONTINUE);
    expect_error("flush_all 1 2 3\r\n", "ERROR", RC_MC_CONTINUE);
}

static void test_meta(void **state)
{
    struct rc_mc_req req;
    struct rc_mc_error err;
    size_t used;
    uint64_t v;
    int64_t i;

    (void)state;
    assert_int_equal(parse_s("mg key v t c f k O123 q T-5\r\n", &req, &used, &err), 1);
    assert_int_equal(req.cmd, RC_MC_MG);
    tok_eq(&req.keys[0], "key");
    assert_true(rc_mc_has(&req.meta, 'v') && rc_mc_has(&req.meta, 'q'));
    assert_false(rc_mc_has(&req.meta, 's'));
    assert_true(req.noreply);
    assert_int_equal(rc_mc_flag_u64(&req.meta, 'O', &v), 0);
    assert_int_equal(v, 123);
    assert_int_equal(rc_mc_flag_i64(&req.meta, 'T', &i), 0);
    assert_int_equal(i, -5);
    assert_int_equal(rc_mc_flag_u64(&req.meta, 'v', &v), RC_EINVAL);
    assert_int_equal(req.meta.n, 8);
    assert_int_equal(req.meta.order[0], 'v');
    assert_int_equal(parse_s("ms k 2 T0 F5 MA\r\nhi\r\n", &req, &used, &err), 1);
    assert_int_equal(req.data_len, 2);
    tok_eq(&req.meta.arg[rc_mc_flag_index('M')], "A");
    assert_int_equal(parse_s("mn\r\n", &req, &used, &err), 1);
    assert_int_equal(req.cmd, RC_MC_MN);
    expect_error("mg\r\n", "ERROR", RC_MC_CONTINUE);
    expect_error("me\r\n", "CLIENT_ERROR bad command line format", RC_MC_CONTINUE);
    expect_error("ms k abc\r\nhi\r\n", "CLIENT_ERROR bad command line format", RC_MC_CONTINUE);
    expect_error("mg k 1\r\n", "CLIENT_ERROR invalid flag", RC_MC_CONTINUE);
}

static void test_exptime(void **state)
{
    uint64_t ttl;
    const int64_t now = 1700000000;

    (void)state;
    assert_int_equal(rc_mc_exptime(0, now, &ttl), 0);
    assert_int_equal(ttl, 0);
    assert_int_equal(rc_mc_exptime(10, now, &ttl), 0);
    assert_int_equal(ttl, 10000);
    assert_int_equal(rc_mc_exptime(RC_MC_REALTIME_MAXDELTA, now, &ttl), 0);
    assert_int_equal(ttl, (uint64_t)RC_MC_REALTIME_MAXDELTA * 1000);
    /* Above 30 days: an absolute Unix time. */
    assert_int_equal(rc_mc_exptime(now + 60, now, &ttl), 0);
    assert_int_equal(ttl, 60000);
    assert_int_equal(rc_mc_exptime(now, now, &ttl), 1);
    assert_int_equal(rc_mc_exptime(RC_MC_REALTIME_MAXDELTA + 1, now, &ttl), 1);
    assert_int_equal(rc_mc_exptime(-1, now, &ttl), 1);
}

static void test_cas_and_arith(void **state)
{
    uint64_t out;

    (void)state;
    assert_int_not_equal(rc_mc_cas(1, 2), rc_mc_cas(2, 1));
    assert_int_not_equal(rc_mc_cas(5, 7), rc_mc_cas(6, 7));
    assert_int_equal(rc_mc_cas(5, 7), rc_mc_cas(5, 7));
    assert_int_not_equal(rc_mc_cas(0, 0), 0);
    assert_int_equal(rc_mc_arith((const uint8_t *)"10", 2, 1, 5, &out), 0);
    assert_int_equal(out, 15);
    assert_int_equal(rc_mc_arith((const uint8_t *)"10", 2, 0, 100, &out), 0);
    assert_int_equal(out, 0);
    assert_int_equal(rc_mc_arith((const uint8_t *)"18446744073709551615", 20, 1, 2, &out), 0);
    assert_int_equal(out, 1); /* wraps, as memcached */
    assert_int_equal(rc_mc_arith((const uint8_t *)"x", 1, 1, 1, &out), RC_EINVAL);
    assert_int_equal(rc_mc_arith((const uint8_t *)"", 0, 1, 1, &out), RC_EINVAL);
    assert_int_equal(rc_mc_arith((const uint8_t *)"-1", 2, 1, 1, &out), RC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),           cmocka_unit_test(test_prefixes_need_more),
        cmocka_unit_test(test_storage),       cmocka_unit_test(test_storage_errors),
        cmocka_unit_test(test_lines),         cmocka_unit_test(test_simple),
        cmocka_unit_test(test_meta),          cmocka_unit_test(test_exptime),
        cmocka_unit_test(test_cas_and_arith),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
