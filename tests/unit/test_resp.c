/*
 * test_resp.c - the RESP2 parser and encoders: whole commands only, every
 * prefix of a command asks for more bytes, pipelined commands are cut one
 * at a time, inline commands follow Redis's quoting, and every malformed
 * or oversized header is an error before any byte of payload is needed.
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
#include "resp.h"

#define MAX_ARGS 16

static const struct rc_resp_limits lim = {MAX_ARGS, 1024, 4096};
static struct rc_resp_arg argv[MAX_ARGS];
static uint8_t scratch[RC_RESP_MAX_INLINE];

static int parse(const char *in, size_t len, size_t *argc, size_t *used, const char **err)
{
    return rc_resp_parse((const uint8_t *)in, len, &lim, argv, argc, used, scratch, err);
}

static void assert_arg(size_t i, const char *want)
{
    assert_int_equal(argv[i].len, strlen(want));
    assert_memory_equal(argv[i].p, want, argv[i].len);
}

static void test_multibulk(void **state)
{
    const char *in = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nxy\r\n";
    size_t argc, used;
    const char *err;

    (void)state;
    assert_int_equal(parse(in, strlen(in), &argc, &used, &err), 1);
    assert_int_equal(argc, 3);
    assert_int_equal(used, strlen(in));
    assert_arg(0, "SET");
    assert_arg(1, "k");
    assert_arg(2, "v\r\nxy"); /* binary-safe: CRLF inside a bulk is data */
}

static void test_every_prefix_needs_more(void **state)
{
    const char *in = "*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n";
    size_t argc, used, i;
    const char *err;

    (void)state;
    for (i = 0; i < strlen(in); i++)
        assert_int_equal(parse(in, i, &argc, &used, &err), 0);
    assert_int_equal(parse(in, strlen(in), &argc, &used, &err), 1);
}

static void test_pipeline(void **state)
{
    const char *in = "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nPING\r\n";
    size_t argc, used, off = 0;
    const char *err;

    (void)state;
    assert_int_equal(parse(in, strlen(in), &argc, &used, &err), 1);
    assert_int_equal(argc, 1);
    assert_int_equal(used, 14);
    off += used;
    assert_int_equal(parse(in + off, strlen(in) - off, &argc, &used, &err), 1);
    assert_int_equal(argc, 2);
    assert_arg(1, "hi");
    off += used;
    assert_int_equal(parse(in + off, strlen(in) - off, &argc, &used, &err), 1);
    assert_int_equal(argc, 1);
    assert_arg(0, "PING");
    assert_int_equal(off + used, strlen(in));
}

static void test_inline(void **state)
{
    const char *in = "set  \"a b\\x41\\n\" 'it\\'s'\t x\r\n";
    const char *lf = "GET k\n";
    size_t argc, used;
    const char *err;

    (void)state;
    assert_int_equal(parse(in, strlen(in), &argc, &used, &err), 1);
    assert_int_equal(used, strlen(in));
    assert_int_equal(argc, 4);
    assert_arg(0, "set");
    assert_arg(1, "a bA\n");
    assert_arg(2, "it's");
    assert_arg(3, "x");
    assert_int_equal(parse(lf, strlen(lf), &argc, &used, &err), 1);
    assert_int_equal(argc, 2);
    assert_int_equal(parse("GET k", 5, &argc, &used, &err), 0);
    /* An empty line is consumed and yields no command. */
    assert_int_equal(parse("\r\nPING\r\n", 8, &argc, &used, &err), 1);
    assert_int_equal(argc, 0);
    assert_int_equal(used, 2);
}

static void test_inline_errors(void **state)
{
    static char big[RC_RESP_MAX_INLINE + 10];
    size_t argc, used;
    const char *err;

    (void)state;
    assert_int_equal(parse("SET \"abc\r\n", 10, &argc, &used, &err), RC_EPROTO);
    assert_string_equal(err, "unbalanced quotes in request");
    assert_int_equal(parse("SET \"a\"b\r\n", 10, &argc, &used, &err), RC_EPROTO);
    assert_int_equal(parse("SET 'a\r\n", 8, &argc, &used, &err), RC_EPROTO);
    memset(big, 'a', sizeof(big));
    assert_int_equal(parse(big, sizeof(big), &argc, &used, &err), RC_EPROTO);
    assert_string_equal(err, "too big inline request");
    /* More arguments than the limit. */
    assert_int_equal(parse("a b c d e f g h i j k l m n o p q\r\n", 35, &argc, &used, &err),
                     RC_EPROTO);
}

static void test_multibulk_errors(void **state)
{
    static const struct {
        const char *in;
        const char *err;
    } cases[] = {
        {"*x\r\n", "invalid multibulk length"},
        {"*17\r\n", "invalid multibulk length"}, /* over max_args */
        {"*99999999999999999999\r\n", "invalid multibulk length"},
        {"*1\r\n:1\r\n", "expected '$' before a bulk string"},
        {"*1\r\n$-1\r\n", "invalid bulk length"},
        {"*1\r\n$1025\r\n", "invalid bulk length"}, /* over max_bulk, no payload needed */
        {"*1\r\n$999999999999\r\n", "invalid bulk length"},
        {"*1\r\n$01\r\n", "invalid bulk length"},
        {"*1\r\n$2\r\nabXY", "expected CRLF after a bulk string"},
        {"*1\r\n$ 1\r\n", "invalid bulk length"},
        {"*1\rx", "invalid multibulk length"},
        {"*4\r\n$1000\r\n", NULL}, /* fine so far: needs more */
        {"*5\r\n$1000\r\n0", NULL},
    };
    size_t argc, used, i;
    const char *err;
    int rv;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rv = parse(cases[i].in, strlen(cases[i].in), &argc, &used, &err);
        if (cases[i].err == NULL) {
            assert_int_equal(rv, 0);
            continue;
        }
        assert_int_equal(rv, RC_EPROTO);
        assert_string_equal(err, cases[i].err);
    }
}

static void test_request_too_big(void **state)
{
    /* Five bulks of 1000 bytes: each fits max_bulk, together over 4096. */
    char in[6000];
    size_t argc, used, n = 0, i;
    const char *err;

    (void)state;
    n += (size_t)sprintf(in, "*5\r\n");
    for (i = 0; i < 5; i++) {
        n += (size_t)sprintf(in + n, "$1000\r\n");
        memset(in + n, 'v', 1000);
        n += 1000;
        memcpy(in + n, "\r\n", 2);
        n += 2;
    }
    assert_int_equal(parse(in, n, &argc, &used, &err), RC_EPROTO);
    assert_string_equal(err, "request too big");
    /* Refused as soon as the fifth header declares it, before its bytes. */
    assert_int_equal(parse(in, 4 + 4 * 1009 + 7, &argc, &used, &err), RC_EPROTO);
    /* A header line that never ends is refused at the command limit. */
    memset(in, '1', sizeof(in));
    in[0] = '*';
    assert_int_equal(parse(in, sizeof(in), &argc, &used, &err), RC_EPROTO);
    assert_string_equal(err, "request too big");
}

static void test_empty_and_negative_count(void **state)
{
    size_t argc, used;
    const char *err;

    (void)state;
    assert_int_equal(parse("*0\r\n", 4, &argc, &used, &err), 1);
    assert_int_equal(argc, 0);
    assert_int_equal(used, 4);
    assert_int_equal(parse("*-1\r\n", 5, &argc, &used, &err), 1);
    assert_int_equal(argc, 0);
    assert_int_equal(parse("*1\r\n$0\r\n\r\n", 10, &argc, &used, &err), 1);
    assert_int_equal(argc, 1);
    assert_int_equal(argv[0].len, 0);
}

static void test_int(void **state)
{
    static const struct {
        const char *s;
        int ok;
        int64_t v;
    } cases[] = {
        {"0", 1, 0}, {"42", 1, 42}, {"-7", 1, -7},
        {"9223372036854775807", 1, INT64_MAX}, {"-9223372036854775808", 1, INT64_MIN},
        {"9223372036854775808", 0, 0}, {"", 0, 0}, {"-", 0, 0}, {"01", 0, 0},
        {"+1", 0, 0}, {" 1", 0, 0}, {"1x", 0, 0}, {"-0", 0, 0},
    };
    struct rc_resp_arg a;
    int64_t v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        a.p = (const uint8_t *)cases[i].s;
        a.len = strlen(cases[i].s);
        v = 12345;
        assert_int_equal(rc_resp_int(&a, &v) == 0, cases[i].ok);
        if (cases[i].ok)
            assert_true(v == cases[i].v);
    }
    a.p = (const uint8_t *)"get";
    a.len = 3;
    assert_true(rc_resp_is(&a, "GET"));
    assert_false(rc_resp_is(&a, "GETX"));
}

static void test_encoders(void **state)
{
    const char *want = "+OK\r\n-ERR a  b\r\n:-12\r\n$3\r\na\0b\r\n$-1\r\n*2\r\n$0\r\n\r\n:0\r\n";
    size_t wlen = 50;
    struct rc_buf b;

    (void)state;
    rc_buf_init(&b, 1024);
    assert_int_equal(rc_resp_simple(&b, "OK"), 0);
    assert_int_equal(rc_resp_error(&b, "ERR a\r\nb"), 0);
    assert_int_equal(rc_resp_integer(&b, -12), 0);
    assert_int_equal(rc_resp_bulk(&b, "a\0b", 3), 0);
    assert_int_equal(rc_resp_nil(&b), 0);
    assert_int_equal(rc_resp_array(&b, 2), 0);
    assert_int_equal(rc_resp_bulk_str(&b, ""), 0);
    assert_int_equal(rc_resp_integer(&b, 0), 0);
    assert_int_equal(rc_buf_used(&b), wlen);
    assert_memory_equal(rc_buf_rptr(&b), want, wlen);
    rc_buf_close(&b);
    /* A full buffer leaves the output unchanged. */
    rc_buf_init(&b, 8);
    assert_int_equal(rc_resp_bulk(&b, "0123456789", 10), RC_EBUFFER_FULL);
    assert_int_equal(rc_buf_used(&b), 0);
    rc_buf_close(&b);
}

/* The RESP3 encoders, and the RESP2 form each writes for proto 2 (what
 * Redis 7 sends a RESP2 client), byte for byte. */
static void test_encoders_resp3(void **state)
{
    static const char want3[] = "_\r\n_\r\n%2\r\n~3\r\n#t\r\n#f\r\n,1.5\r\n,inf\r\n"
                                ",-inf\r\n=7\r\ntxt:abc\r\n";
    static const char want2[] = "$-1\r\n*-1\r\n*4\r\n*3\r\n:1\r\n:0\r\n$3\r\n1.5\r\n$3\r\ninf\r\n"
                                "$4\r\n-inf\r\n$3\r\nabc\r\n";
    const char *want[2] = {want2, want3};
    struct rc_buf b;
    int proto;

    (void)state;
    for (proto = 2; proto <= 3; proto++) {
        rc_buf_init(&b, 1024);
        assert_int_equal(rc_resp_null(&b, proto), 0);
        assert_int_equal(rc_resp_null_array(&b, proto), 0);
        assert_int_equal(rc_resp_map(&b, 2, proto), 0);
        assert_int_equal(rc_resp_set(&b, 3, proto), 0);
        assert_int_equal(rc_resp_bool(&b, 1, proto), 0);
        assert_int_equal(rc_resp_bool(&b, 0, proto), 0);
        assert_int_equal(rc_resp_double(&b, 1.5, proto), 0);
        assert_int_equal(rc_resp_double(&b, 1.0 / 0.0, proto), 0);
        assert_int_equal(rc_resp_double(&b, -1.0 / 0.0, proto), 0);
        assert_int_equal(rc_resp_verbatim(&b, "abc", 3, proto), 0);
        assert_int_equal(rc_buf_used(&b), strlen(want[proto - 2]));
        assert_memory_equal(rc_buf_rptr(&b), want[proto - 2], strlen(want[proto - 2]));
        rc_buf_close(&b);
    }
    /* A full buffer leaves the output unchanged. */
    rc_buf_init(&b, 8);
    assert_int_equal(rc_resp_verbatim(&b, "0123", 4, 3), RC_EBUFFER_FULL);
    assert_int_equal(rc_buf_used(&b), 0);
    assert_int_equal(rc_resp_double(&b, 0.1, 3), RC_EBUFFER_FULL);
    assert_int_equal(rc_buf_used(&b), 0);
    rc_buf_close(&b);
}

static void test_reply_check(void **state)
{
    static const struct {
        const char *in;
        int rv;
        char kind;
        int nil;
        size_t used;
    } cases[] = {
        {"+OK\r\n", 1, '+', 0, 5},
        {"-ERR x\r\n+OK\r\n", 1, '-', 0, 8},
        {":-3\r\n", 1, ':', 0, 5},
        {"$-1\r\n", 1, '$', 1, 5},
        {"$3\r\nabc\r\n", 1, '$', 0, 9},
        {"$3\r\nab", 0, 0, 0, 0},
        {"*2\r\n$1\r\na\r\n$-1\r\n", 1, '*', 0, 16},
        {"*2\r\n$1\r\na\r\n", 0, 0, 0, 0},
        {"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", RC_EPROTO, 0, 0, 0},
        {"$5000\r\n", RC_EPROTO, 0, 0, 0}, /* over max_bulk */
        {"$3\r\nabcXY", RC_EPROTO, 0, 0, 0},
        {"?x\r\n", RC_EPROTO, 0, 0, 0},
        {":x\r\n", RC_EPROTO, 0, 0, 0},
        {"+OK", 0, 0, 0, 0},
    };
    size_t used, i;
    char kind;
    int nil, rv;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kind = 0;
        nil = 0;
        rv = rc_resp_reply_check((const uint8_t *)cases[i].in, strlen(cases[i].in), 1024, &kind,
                                 &nil, &used);
        assert_int_equal(rv, cases[i].rv);
        if (rv == 1) {
            assert_int_equal(kind, cases[i].kind);
            assert_int_equal(nil, cases[i].nil);
            assert_int_equal(used, cases[i].used);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multibulk),
        cmocka_unit_test(test_every_prefix_needs_more),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_inline),
        cmocka_unit_test(test_inline_errors),
        cmocka_unit_test(test_multibulk_errors),
        cmocka_unit_test(test_request_too_big),
        cmocka_unit_test(test_empty_and_negative_count),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_encoders),
        cmocka_unit_test(test_encoders_resp3),
        cmocka_unit_test(test_reply_check),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
