/*
 * test_prom.c - the Prometheus text writer: metric names made from STATS
 * names (units, _total), escaping of help and label values, exact
 * integers, a histogram's cumulative buckets with le in seconds, and the
 * sticky error when the page outgrows its buffer's cap. Known answers are
 * written out in full, so a change of format fails here first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "prom.h"

static void check_name(const char *stat, enum rc_prom_type t, enum rc_prom_unit u,
                       const char *want)
{
    char out[RC_PROM_NAME_MAX + 1];

    assert_int_equal(rc_prom_name(stat, t, u, out, sizeof(out)), 0);
    assert_string_equal(out, want);
}

static void test_names(void **state)
{
    char out[RC_PROM_NAME_MAX + 1], small[16];

    (void)state;
    check_name("uptime_s", RC_PROM_GAUGE, RC_PROM_UNIT_S, "ringcache_uptime_seconds");
    check_name("wb_lag_ms", RC_PROM_GAUGE, RC_PROM_UNIT_MS, "ringcache_wb_lag_seconds");
    check_name("wb_flush_ms_max", RC_PROM_GAUGE, RC_PROM_UNIT_MS,
               "ringcache_wb_flush_max_seconds");
    check_name("maxmemory", RC_PROM_GAUGE, RC_PROM_UNIT_BYTES, "ringcache_maxmemory_bytes");
    check_name("db_bytes", RC_PROM_GAUGE, RC_PROM_UNIT_BYTES, "ringcache_db_bytes");
    check_name("evicted_bytes", RC_PROM_COUNTER, RC_PROM_UNIT_BYTES,
               "ringcache_evicted_bytes_total");
    check_name("ops", RC_PROM_COUNTER, RC_PROM_UNIT_NONE, "ringcache_ops_total");
    check_name("connections_total", RC_PROM_COUNTER, RC_PROM_UNIT_NONE,
               "ringcache_connections_total");
    check_name("keys", RC_PROM_GAUGE, RC_PROM_UNIT_NONE, "ringcache_keys");
    /* "s" is only a unit when the figure is in seconds */
    check_name("hits_s", RC_PROM_UNTYPED, RC_PROM_UNIT_NONE, "ringcache_hits_s");
    /* what is not a name */
    assert_int_equal(rc_prom_name("", RC_PROM_GAUGE, 0, out, sizeof(out)), RC_EINVAL);
    assert_int_equal(rc_prom_name("Keys", RC_PROM_GAUGE, 0, out, sizeof(out)), RC_EINVAL);
    assert_int_equal(rc_prom_name("a-b", RC_PROM_GAUGE, 0, out, sizeof(out)), RC_EINVAL);
    assert_int_equal(rc_prom_name("a__b", RC_PROM_GAUGE, 0, out, sizeof(out)), RC_EINVAL);
    assert_int_equal(rc_prom_name("_a", RC_PROM_GAUGE, 0, out, sizeof(out)), RC_EINVAL);
    assert_int_equal(rc_prom_name("a_", RC_PROM_GAUGE, 0, out, sizeof(out)), RC_EINVAL);
    assert_int_equal(rc_prom_name("a\"b", RC_PROM_GAUGE, 0, out, sizeof(out)), RC_EINVAL);
    /* too long for the room given */
    assert_int_equal(rc_prom_name("read_cache_entries", RC_PROM_GAUGE, 0, small, sizeof(small)),
                     RC_EINVAL);
}

/* The buffer's bytes as a string (it holds no NUL). */
static const char *text(struct rc_buf *b)
{
    static char s[4096];

    assert_true(rc_buf_used(b) < sizeof(s));
    memcpy(s, rc_buf_rptr(b), rc_buf_used(b));
    s[rc_buf_used(b)] = '\0';
    return s;
}

static void test_lines_and_escaping(void **state)
{
    struct rc_prom_label l[2] = {{"path", "a\\b\"c\nd"}, {"op", "get"}};
    struct rc_buf b;
    struct rc_prom p;

    (void)state;
    rc_buf_init(&b, 4096);
    rc_prom_init(&p, &b);
    rc_prom_family(&p, "ringcache_x_total", "help with \\ and\nnewline \"quoted\"",
                   RC_PROM_COUNTER);
    rc_prom_sample_int(&p, "ringcache_x_total", l, 2, INT64_MAX);
    rc_prom_sample_int(&p, "ringcache_x_total", NULL, 0, -3);
    rc_prom_sample(&p, "ringcache_y", NULL, 0, 0.25);
    rc_prom_sample(&p, "ringcache_y", NULL, 0, NAN);
    rc_prom_sample(&p, "ringcache_y", NULL, 0, -INFINITY);
    rc_prom_family(&p, "ringcache_z", "g", RC_PROM_GAUGE);
    rc_prom_family(&p, "ringcache_u", "u", RC_PROM_UNTYPED);
    assert_int_equal(p.err, 0);
    assert_string_equal(text(&b),
                        "# HELP ringcache_x_total help with \\\\ and\\nnewline \"quoted\"\n"
                        "# TYPE ringcache_x_total counter\n"
                        "ringcache_x_total{path=\"a\\\\b\\\"c\\nd\",op=\"get\"} "
                        "9223372036854775807\n"
                        "ringcache_x_total -3\n"
                        "ringcache_y 0.25\n"
                        "ringcache_y NaN\n"
                        "ringcache_y -Inf\n"
                        "# HELP ringcache_z g\n# TYPE ringcache_z gauge\n"
                        "# HELP ringcache_u u\n# TYPE ringcache_u untyped\n");
    assert_true(rc_prom_scale(1500, RC_PROM_UNIT_MS) == 1.5);
    assert_true(rc_prom_scale(7, RC_PROM_UNIT_S) == 7.0);
    rc_buf_close(&b);
}

static void test_histogram(void **state)
{
    struct rc_prom_label l = {"op", "put"};
    struct rc_lathist h;
    struct rc_buf b;
    struct rc_prom p;
    const char *s;

    (void)state;
    rc_lathist_init(&h);
    rc_lathist_observe(&h, 40000);    /* 40 us */
    rc_lathist_observe(&h, 2000000);  /* 2 ms */
    rc_lathist_observe(&h, 9000000000ull); /* 9 s: past the last bound */
    rc_buf_init(&b, 4096);
    rc_prom_init(&p, &b);
    rc_prom_histogram(&p, "ringcache_d_seconds", &l, 1, &h);
    assert_int_equal(p.err, 0);
    s = text(&b);
    assert_non_null(strstr(s, "ringcache_d_seconds_bucket{op=\"put\",le=\"0.00005\"} 1\n"));
    assert_non_null(strstr(s, "ringcache_d_seconds_bucket{op=\"put\",le=\"0.001\"} 1\n"));
    assert_non_null(strstr(s, "ringcache_d_seconds_bucket{op=\"put\",le=\"0.0025\"} 2\n"));
    assert_non_null(strstr(s, "ringcache_d_seconds_bucket{op=\"put\",le=\"5\"} 2\n"));
    assert_non_null(strstr(s, "ringcache_d_seconds_bucket{op=\"put\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(s, "ringcache_d_seconds_sum{op=\"put\"} 9.00204\n"));
    assert_non_null(strstr(s, "ringcache_d_seconds_count{op=\"put\"} 3\n"));
    /* one line per bound, +Inf, sum and count */
    {
        size_t lines = 0;
        for (; *s; s++)
            lines += *s == '\n';
        assert_int_equal(lines, RC_LATHIST_NBOUNDS + 3);
    }
    rc_buf_close(&b);
}

/* Past the cap the first error sticks and nothing more is written. */
static void test_cap(void **state)
{
    struct rc_buf b;
    struct rc_prom p;
    size_t used;
    int i;

    (void)state;
    rc_buf_init(&b, 100);
    rc_prom_init(&p, &b);
    for (i = 0; i < 20; i++)
        rc_prom_sample_int(&p, "ringcache_some_long_metric_name", NULL, 0, i);
    assert_int_equal(p.err, RC_EBUFFER_FULL);
    used = rc_buf_used(&b);
    assert_true(used <= 100);
    rc_prom_family(&p, "ringcache_a", "b", RC_PROM_GAUGE);
    assert_int_equal(rc_buf_used(&b), used);
    assert_int_equal(p.err, RC_EBUFFER_FULL);
    rc_buf_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_lines_and_escaping),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_cap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
