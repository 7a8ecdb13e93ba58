/*
 * test_config.c - option table parsing: defaults, environment, flags,
 * precedence, bounds and error messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "err.h"

struct cfg {
    const char *name;
    int64_t port;
    int64_t size;
    int verbose;
};

static const struct rc_opt opts[] = {
    {"name", "RCTEST_NAME", RC_OPT_STR, "node", 0, 0, offsetof(struct cfg, name), "a name"},
    {"port", "RCTEST_PORT", RC_OPT_INT, "7400", 1, 65535, offsetof(struct cfg, port), "a port"},
    {"size", "RCTEST_SIZE", RC_OPT_INT, "1m", 0, INT64_MAX, offsetof(struct cfg, size), "size"},
    {"verbose", "RCTEST_VERBOSE", RC_OPT_BOOL, "false", 0, 0, offsetof(struct cfg, verbose), "v"},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static int parse(struct cfg *c, int argc, char **argv, char *err)
{
    return rc_config_parse(opts, NOPTS, c, argc, argv, NULL, NULL, err, 256);
}

static int clear_env(void **state)
{
    (void)state;
    unsetenv("RCTEST_NAME");
    unsetenv("RCTEST_PORT");
    unsetenv("RCTEST_SIZE");
    unsetenv("RCTEST_VERBOSE");
    return 0;
}

static void test_defaults(void **state)
{
    char *argv[] = {"prog", NULL};
    struct cfg c;
    char err[256];

    (void)state;
    assert_int_equal(parse(&c, 1, argv, err), 0);
    assert_string_equal(c.name, "node");
    assert_int_equal(c.port, 7400);
    assert_int_equal(c.size, 1024 * 1024);
    assert_int_equal(c.verbose, 0);
}

static void test_env_then_flags(void **state)
{
    char *argv[] = {"prog", "--port", "9000", "--name=x", "--verbose", NULL};
    struct cfg c;
    char err[256];

    (void)state;
    setenv("RCTEST_PORT", "8000", 1);
    setenv("RCTEST_SIZE", "2k", 1);
    assert_int_equal(parse(&c, 5, argv, err), 0);
    assert_int_equal(c.port, 9000); /* flag beats env */
    assert_int_equal(c.size, 2048); /* env beats default */
    assert_string_equal(c.name, "x");
    assert_int_equal(c.verbose, 1);
    clear_env(NULL);
}

static void test_errors(void **state)
{
    char *bad_range[] = {"prog", "--port", "70000", NULL};
    char *bad_int[] = {"prog", "--port", "12x", NULL};
    char *unknown[] = {"prog", "--nope", NULL};
    char *missing[] = {"prog", "--port", NULL};
    char *stray[] = {"prog", "extra", NULL};
    struct cfg c;
    char err[256];

    (void)state;
    assert_int_equal(parse(&c, 3, bad_range, err), RC_EINVAL);
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(parse(&c, 3, bad_int, err), RC_EINVAL);
    assert_non_null(strstr(err, "--port"));
    assert_int_equal(parse(&c, 2, unknown, err), RC_EINVAL);
    assert_non_null(strstr(err, "--nope"));
    assert_int_equal(parse(&c, 2, missing, err), RC_EINVAL);
    assert_int_equal(parse(&c, 2, stray, err), RC_EINVAL);
    setenv("RCTEST_PORT", "abc", 1);
    assert_int_equal(parse(&c, 1, stray, err), RC_EINVAL);
    assert_non_null(strstr(err, "RCTEST_PORT"));
    clear_env(NULL);
}

static void test_help_and_rest(void **state)
{
    char *help[] = {"prog", "--help", NULL};
    char *args[] = {"prog", "get", "--port", "1", "k", NULL};
    char *rest[4];
    struct cfg c;
    char err[256];
    int nrest = 0;

    (void)state;
    assert_int_equal(parse(&c, 2, help, err), 1);
    assert_int_equal(rc_config_parse(opts, NOPTS, &c, 5, args, rest, &nrest, err, sizeof(err)), 0);
    assert_int_equal(nrest, 2);
    assert_string_equal(rest[0], "get");
    assert_string_equal(rest[1], "k");
    assert_int_equal(c.port, 1);
}

static void test_parse_int(void **state)
{
    int64_t v;

    (void)state;
    assert_int_equal(rc_config_parse_int("10", &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(rc_config_parse_int("3g", &v), 0);
    assert_int_equal(v, 3LL << 30);
    assert_int_equal(rc_config_parse_int("4KB", &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(rc_config_parse_int("", &v), RC_EINVAL);
    assert_int_equal(rc_config_parse_int("1q", &v), RC_EINVAL);
    assert_int_equal(rc_config_parse_int("1kx", &v), RC_EINVAL);
    assert_int_equal(rc_config_parse_int("99999999999999999999", &v), RC_EINVAL);
    assert_int_equal(rc_config_parse_int("9000000000000g", &v), RC_EINVAL);
}

static void test_split_addr(void **state)
{
    char host[64], port[8];

    (void)state;
    assert_int_equal(rc_config_split_addr("node1:7401", "7400", host, sizeof(host), port,
                                          sizeof(port)), 0);
    assert_string_equal(host, "node1");
    assert_string_equal(port, "7401");
    assert_int_equal(rc_config_split_addr("127.0.0.1", "7400", host, sizeof(host), port,
                                          sizeof(port)), 0);
    assert_string_equal(port, "7400");
    assert_int_equal(rc_config_split_addr("[::1]:9", "7400", host, sizeof(host), port,
                                          sizeof(port)), 0);
    assert_string_equal(host, "::1");
    assert_string_equal(port, "9");
    assert_int_equal(rc_config_split_addr("fe80::1", "7400", host, sizeof(host), port,
                                          sizeof(port)), 0);
    assert_string_equal(host, "fe80::1");
    assert_int_equal(rc_config_split_addr("h:0", "7400", host, sizeof(host), port, sizeof(port)),
                     RC_EINVAL);
    assert_int_equal(rc_config_split_addr("h:65536", "7400", host, sizeof(host), port,
                                          sizeof(port)), RC_EINVAL);
    assert_int_equal(rc_config_split_addr("h:", "7400", host, sizeof(host), port, sizeof(port)),
                     RC_EINVAL);
    assert_int_equal(rc_config_split_addr(":7400", "7400", host, sizeof(host), port,
                                          sizeof(port)), RC_EINVAL);
    assert_int_equal(rc_config_split_addr("[::1", "7400", host, sizeof(host), port,
                                          sizeof(port)), RC_EINVAL);
    assert_int_equal(rc_config_split_addr("h:12x", "7400", host, sizeof(host), port,
                                          sizeof(port)), RC_EINVAL);
    assert_int_equal(rc_config_split_addr("a-very-long-host-name-that-does-not-fit-in-here-at-all"
                                          "-no-way:1", "7400", host, 16, port, sizeof(port)),
                     RC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_env_then_flags, clear_env),
        cmocka_unit_test_setup(test_errors, clear_env),
        cmocka_unit_test_setup(test_help_and_rest, clear_env),
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_split_addr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
