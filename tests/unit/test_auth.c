/*
 * test_auth.c - the password file format, the constant-time match, the
 * per-connection attempt rules, and protected mode's startup decision.
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

#include "auth.h"
#include "err.h"
#include "protect.h"

static int parse(struct rc_auth *a, const char *text, char *err, size_t errlen)
{
    return rc_auth_parse(a, text, strlen(text), err, errlen);
}

static int match(const struct rc_auth *a, const char *pw)
{
    return rc_auth_match(a, (const uint8_t *)pw, strlen(pw));
}

static void test_parse_lines(void **state)
{
    struct rc_auth *a = malloc(sizeof(*a));
    char err[128];

    (void)state;
    assert_non_null(a);
    assert_int_equal(parse(a, "# rotation\nold-secret\r\n\nnew secret with spaces\n", err,
                           sizeof(err)), 0);
    assert_int_equal(a->npw, 2);
    assert_true(match(a, "old-secret"));
    assert_true(match(a, "new secret with spaces"));
    /* \r\n stripped, nothing else: no trimming of spaces. */
    assert_false(match(a, "old-secret\r"));
    assert_false(match(a, "new secret with spaces "));
    assert_false(match(a, "# rotation"));
    assert_false(match(a, ""));
    /* Last line without a newline. */
    assert_int_equal(parse(a, "only", err, sizeof(err)), 0);
    assert_int_equal(a->npw, 1);
    assert_true(match(a, "only"));
    free(a);
}

static void test_parse_errors(void **state)
{
    struct rc_auth *a = malloc(sizeof(*a));
    char err[128], big[RC_AUTH_PW_MAX + 2];
    const char *nine = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
    const char nul[] = "ab\0cd\n";

    (void)state;
    assert_non_null(a);
    assert_int_equal(parse(a, "", err, sizeof(err)), RC_EINVAL);
    assert_non_null(strstr(err, "no password"));
    assert_int_equal(parse(a, "# only a comment\n\n", err, sizeof(err)), RC_EINVAL);
    assert_int_equal(parse(a, nine, err, sizeof(err)), RC_EINVAL);
    assert_non_null(strstr(err, "line 9"));
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(parse(a, big, err, sizeof(err)), RC_EINVAL);
    assert_non_null(strstr(err, "line 1"));
    /* The message never echoes the secret. */
    assert_null(strstr(err, "xxxx"));
    big[RC_AUTH_PW_MAX] = '\0'; /* exactly the maximum is fine */
    assert_int_equal(parse(a, big, err, sizeof(err)), 0);
    assert_true(match(a, big));
    assert_int_equal(rc_auth_parse(a, nul, sizeof(nul) - 1, err, sizeof(err)), RC_EINVAL);
    free(a);
}

static void test_match_lengths(void **state)
{
    struct rc_auth *a = malloc(sizeof(*a));
    uint8_t pw[RC_AUTH_PW_MAX + 100];
    char err[128];

    (void)state;
    assert_non_null(a);
    assert_int_equal(parse(a, "abc\n", err, sizeof(err)), 0);
    assert_false(match(a, "ab"));
    assert_false(match(a, "abcd"));
    assert_false(match(a, "abd"));
    assert_true(match(a, "abc"));
    /* A prefix of zeros must not match a shorter password padded with zeros. */
    assert_false(rc_auth_match(a, (const uint8_t *)"abc\0", 4));
    /* Longer than the maximum: compared safely, never matches. */
    memset(pw, 'a', sizeof(pw));
    assert_false(rc_auth_match(a, pw, sizeof(pw)));
    assert_false(rc_auth_match(a, pw, 0));
    free(a);
}

static void test_attempts(void **state)
{
    struct rc_auth *a = malloc(sizeof(*a));
    struct rc_auth_conn conn = {0}, other = {0};
    char err[128];
    int close = -1;

    (void)state;
    assert_non_null(a);
    assert_int_equal(parse(a, "pw\n", err, sizeof(err)), 0);
    assert_false(rc_auth_passed(a, &conn));
    assert_true(rc_auth_passed(NULL, &conn)); /* auth off */
    assert_int_equal(rc_auth_attempt(a, &conn, (const uint8_t *)"x", 1, &close), RC_EWRONGPASS);
    assert_int_equal(close, 0);
    assert_int_equal(rc_auth_attempt(a, &conn, (const uint8_t *)"y", 1, &close), RC_EWRONGPASS);
    assert_int_equal(close, 0);
    assert_int_equal(rc_auth_attempt(a, &conn, (const uint8_t *)"z", 1, &close), RC_EWRONGPASS);
    assert_int_equal(close, 1);
    assert_false(rc_auth_passed(a, &conn));
    assert_int_equal(rc_auth_attempt(a, &other, (const uint8_t *)"pw", 2, &close), 0);
    assert_int_equal(close, 0);
    assert_true(rc_auth_passed(a, &other));
    assert_int_equal(a->ok, 1);
    assert_int_equal(a->failures, 3);
    assert_int_equal(a->closed, 1);
    free(a);
}

static void test_load_file(void **state)
{
    struct rc_auth *a = malloc(sizeof(*a));
    char path[] = "/tmp/rc_test_authXXXXXX", err[256];
    int fd;

    (void)state;
    assert_non_null(a);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret\n", 7), 7);
    close(fd);
    assert_int_equal(rc_auth_load(a, path, err, sizeof(err)), 0);
    assert_true(match(a, "s3cret"));
    unlink(path);
    assert_true(rc_auth_load(a, path, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "cannot open"));
    free(a);
}

static void test_loopback(void **state)
{
    (void)state;
    assert_true(rc_protect_is_loopback("127.0.0.1"));
    assert_true(rc_protect_is_loopback("127.1.2.3"));
    assert_true(rc_protect_is_loopback("::1"));
    assert_true(rc_protect_is_loopback("::ffff:127.0.0.1"));
    assert_true(rc_protect_is_loopback("localhost"));
    assert_true(rc_protect_is_loopback("LOCALHOST"));
    assert_false(rc_protect_is_loopback("0.0.0.0"));
    assert_false(rc_protect_is_loopback("::"));
    assert_false(rc_protect_is_loopback("10.0.0.1"));
    assert_false(rc_protect_is_loopback("128.0.0.1"));
    assert_false(rc_protect_is_loopback("::ffff:10.0.0.1"));
    assert_false(rc_protect_is_loopback("node1.example"));
    assert_false(rc_protect_is_loopback(""));
}

static void test_protect_decision(void **state)
{
    char msg[512];

    (void)state;
    /* Loopback: never refused, whatever else is set. */
    assert_int_equal(rc_protect_check("127.0.0.1", false, false, false, msg, sizeof(msg)), 0);
    assert_string_equal(msg, "");
    assert_int_equal(rc_protect_check("::1", false, false, false, msg, sizeof(msg)), 0);
    /* Wildcard with nothing: refused, and the message names what to set. */
    assert_int_equal(rc_protect_check("0.0.0.0", false, false, false, msg, sizeof(msg)),
                     RC_EINVAL);
    assert_non_null(strstr(msg, "--auth-file"));
    assert_non_null(strstr(msg, "RINGCACHE_AUTH_FILE"));
    assert_non_null(strstr(msg, "--cluster-key-file"));
    assert_non_null(strstr(msg, "--insecure"));
    assert_non_null(strstr(msg, "0.0.0.0"));
    assert_int_equal(rc_protect_check("::", false, false, false, msg, sizeof(msg)), RC_EINVAL);
    assert_int_equal(rc_protect_check("10.1.2.3", false, false, false, msg, sizeof(msg)),
                     RC_EINVAL);
    /* --insecure: starts, with a warning. */
    assert_int_equal(rc_protect_check("0.0.0.0", false, false, true, msg, sizeof(msg)), 1);
    assert_non_null(strstr(msg, "--insecure"));
    /* One of the two: starts, warning names the missing one. */
    assert_int_equal(rc_protect_check("0.0.0.0", true, false, false, msg, sizeof(msg)), 1);
    assert_non_null(strstr(msg, "--cluster-key-file"));
    assert_int_equal(rc_protect_check("0.0.0.0", false, true, false, msg, sizeof(msg)), 1);
    assert_non_null(strstr(msg, "--auth-file"));
    /* Both: silent. */
    assert_int_equal(rc_protect_check("0.0.0.0", true, true, false, msg, sizeof(msg)), 0);
    assert_string_equal(msg, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_lines),     cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_match_lengths),   cmocka_unit_test(test_attempts),
        cmocka_unit_test(test_load_file),       cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_protect_decision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
