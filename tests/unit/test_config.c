/*
 * test_config.c - option table parsing: defaults, environment, flags,
 * precedence, bounds and error messages; the memory budget's rules
 * (default, minimum, split on disk) and Redis's memory values.
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

#define MIB (INT64_C(1) << 20)
#define GIB (INT64_C(1) << 30)

/* The default budget: half of the tighter of the cgroup limit and
 * physical memory; a cgroup "limit" above physical memory (v1's no-limit
 * value) is no limit; nothing known gives the fallback; never below 1 MiB. */
static void test_mem_default(void **state)
{
    (void)state;
    assert_int_equal(rc_config_mem_default(0, 16 * GIB), 8 * GIB);
    assert_int_equal(rc_config_mem_default(2 * GIB, 16 * GIB), 1 * GIB);
    assert_int_equal(rc_config_mem_default(INT64_C(9223372036854771712), 16 * GIB), 8 * GIB);
    assert_int_equal(rc_config_mem_default(512 * MIB, 0), 256 * MIB);
    assert_int_equal(rc_config_mem_default(0, 0), RC_MEM_DEFAULT_FALLBACK);
    assert_int_equal(rc_config_mem_default(MIB, 16 * GIB), RC_MEM_MIN_BYTES);
    /* odd sizes: no overflow, no rounding beyond a byte */
    assert_int_equal(rc_config_mem_default(0, INT64_MAX), INT64_MAX / 2);
    assert_int_equal(rc_config_mem_default(0, 3 * MIB + 3), 3 * MIB / 2 + 1);
}

static void test_mem_min(void **state)
{
    (void)state;
    assert_int_equal(rc_config_mem_min(1, 1024, 0), RC_MEM_MIN_BYTES);
    assert_int_equal(rc_config_mem_min(1, MIB + 1024, 0), MIB + 1024 + RC_MEM_ENTRY_SLACK);
    assert_int_equal(rc_config_mem_min(0, MIB + 1024, 64 * MIB), 64 * MIB);
    assert_int_equal(rc_config_mem_min(0, MIB + 1024, 1), RC_MEM_MIN_BYTES);
}

static struct rc_mem_plan_in plan_in(int in_memory, int64_t maxmemory)
{
    struct rc_mem_plan_in in = {0};

    in.maxmemory = maxmemory;
    in.in_memory = in_memory;
    in.phys_mem = 16 * GIB;
    in.max_entry = MIB + 1024;
    in.page_cache = 64 * MIB;
    in.read_cache = 64 * MIB;
    return in;
}

static void test_mem_plan_memory(void **state)
{
    struct rc_mem_plan_in in = plan_in(1, 64 * MIB);
    struct rc_mem_plan p;
    char err[256] = "";

    (void)state;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), 0);
    assert_int_equal(p.budget, 64 * MIB);
    assert_int_equal(p.store_mem, 64 * MIB);
    assert_int_equal(p.defaulted, 0);
    /* not given: half of physical memory, or of the cgroup limit */
    in.maxmemory = -1;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), 0);
    assert_int_equal(p.budget, 8 * GIB);
    assert_int_equal(p.store_mem, 8 * GIB);
    assert_int_equal(p.defaulted, 1);
    in.cgroup_limit = 256 * MIB;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), 0);
    assert_int_equal(p.store_mem, 128 * MIB);
    /* a tiny cgroup: raised to what the node needs, not refused */
    in.cgroup_limit = 2 * MIB;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), 0);
    assert_int_equal(p.store_mem, MIB + 1024 + RC_MEM_ENTRY_SLACK);
    /* --max-db-size was the memory cap of ':memory:' */
    in.max_db_size = 32 * MIB;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), 0);
    assert_int_equal(p.store_mem, 32 * MIB);
    assert_int_equal(p.defaulted, 0);
    /* 0: no budget, explicitly */
    in.maxmemory = 0;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), 0);
    assert_int_equal(p.budget, 0);
    assert_int_equal(p.store_mem, 0);
    /* too small: a clear error naming the minimum */
    in.maxmemory = MIB + 4096;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), RC_EINVAL);
    assert_non_null(strstr(err, "--maxmemory 1052672 is below"));
    assert_non_null(strstr(err, "1053696"));
    /* the benchmark's 1 % budget (1104 KiB) with the default limits */
    in.maxmemory = 1104 * 1024;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), 0);
    in.max_entry = 64 * 1024;
    in.maxmemory = MIB - 1;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), RC_EINVAL);
    in.maxmemory = MIB;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), 0);
}

static void test_mem_plan_disk(void **state)
{
    struct rc_mem_plan_in in = plan_in(0, 256 * MIB);
    struct rc_mem_plan p;
    char err[256] = "";

    (void)state;
    /* given: the page cache keeps --cache-size, the read cache the rest */
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), 0);
    assert_int_equal(p.store_mem, 0);
    assert_int_equal(p.page_cache, 64 * MIB);
    assert_int_equal(p.read_cache, 192 * MIB);
    in.maxmemory = 64 * MIB;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), 0);
    assert_int_equal(p.read_cache, 0);
    in.maxmemory = 63 * MIB;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), RC_EINVAL);
    assert_non_null(strstr(err, "--cache-size"));
    /* default: only bounds them, page cache first */
    in.maxmemory = -1;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), 0);
    assert_int_equal(p.budget, 8 * GIB);
    assert_int_equal(p.page_cache, 64 * MIB);
    assert_int_equal(p.read_cache, 64 * MIB);
    in.cgroup_limit = 160 * MIB;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), 0);
    assert_int_equal(p.page_cache, 64 * MIB);
    assert_int_equal(p.read_cache, 16 * MIB);
    in.cgroup_limit = 64 * MIB;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), 0);
    assert_int_equal(p.page_cache, 32 * MIB);
    assert_int_equal(p.read_cache, 0);
    /* none: as given */
    in.maxmemory = 0;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), 0);
    assert_int_equal(p.page_cache, 64 * MIB);
    assert_int_equal(p.read_cache, 64 * MIB);
    /* --max-db-size on disk caps the file, not memory */
    in.maxmemory = -1;
    in.cgroup_limit = 0;
    in.max_db_size = MIB;
    assert_int_equal(rc_config_mem_plan(&in, &p, err, sizeof(err)), 0);
    assert_int_equal(p.defaulted, 1);
}

static void test_redis_mem(void **state)
{
    static const struct {
        const char *s;
        int64_t v;
    } ok[] = {{"0", 0},         {"100", 100},           {"100b", 100},  {"1k", 1000},
              {"1kb", 1024},     {"2m", 2000000},       {"2MB", 2097152}, {"1g", 1000000000},
              {"1Gb", 1073741824}, {"9223372036854775807", INT64_MAX}};
    static const char *const bad[] = {"", "k", "-1", "1.5mb", "1x", "1 mb", "1kbb",
                                      "9223372036854775808", "9999999999gb"};
    int64_t v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(rc_config_parse_redis_mem(ok[i].s, strlen(ok[i].s), &v), 0);
        assert_int_equal(v, ok[i].v);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(rc_config_parse_redis_mem(bad[i], strlen(bad[i]), &v), RC_EINVAL);
}

static void test_human_bytes(void **state)
{
    char b[32];

    (void)state;
    rc_config_human_bytes(0, b, sizeof(b));
    assert_string_equal(b, "0B");
    rc_config_human_bytes(1023, b, sizeof(b));
    assert_string_equal(b, "1023B");
    rc_config_human_bytes(1536, b, sizeof(b));
    assert_string_equal(b, "1.50K");
    rc_config_human_bytes(4 * MIB, b, sizeof(b));
    assert_string_equal(b, "4.00M");
    rc_config_human_bytes(3 * GIB, b, sizeof(b));
    assert_string_equal(b, "3.00G");
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
        cmocka_unit_test(test_mem_default),
        cmocka_unit_test(test_mem_min),
        cmocka_unit_test(test_mem_plan_memory),
        cmocka_unit_test(test_mem_plan_disk),
        cmocka_unit_test(test_redis_mem),
        cmocka_unit_test(test_human_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
