/*
 * test_lathist.c - the fixed-bucket latency histogram: samples land in the
 * first bucket whose bound holds them (bounds inclusive), cumulative
 * counts never fall and end at the sample count, the sum is exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lathist.h"

static void test_bounds_ascending(void **state)
{
    size_t i;

    (void)state;
    for (i = 1; i < RC_LATHIST_NBOUNDS; i++)
        assert_true(rc_lathist_bounds_ns[i] > rc_lathist_bounds_ns[i - 1]);
    /* the span the header promises: a local read to past a replica timeout */
    assert_true(rc_lathist_bounds_ns[0] <= 100000);
    assert_true(rc_lathist_bounds_ns[RC_LATHIST_NBOUNDS - 1] >= 1000000000ull);
}

static void test_buckets(void **state)
{
    struct rc_lathist h;
    size_t i;

    (void)state;
    rc_lathist_init(&h);
    assert_int_equal(rc_lathist_cumulative(&h, RC_LATHIST_NBOUNDS), 0);
    rc_lathist_observe(&h, 0);                        /* first bucket */
    rc_lathist_observe(&h, rc_lathist_bounds_ns[0]);  /* on the bound: still first */
    rc_lathist_observe(&h, rc_lathist_bounds_ns[0] + 1); /* second */
    rc_lathist_observe(&h, rc_lathist_bounds_ns[3]);
    rc_lathist_observe(&h, UINT64_C(3600) * 1000000000u); /* an hour: +Inf only */
    assert_int_equal(h.count, 5);
    assert_int_equal(rc_lathist_cumulative(&h, 0), 2);
    assert_int_equal(rc_lathist_cumulative(&h, 1), 3);
    assert_int_equal(rc_lathist_cumulative(&h, 2), 3);
    assert_int_equal(rc_lathist_cumulative(&h, 3), 4);
    assert_int_equal(rc_lathist_cumulative(&h, RC_LATHIST_NBOUNDS - 1), 4);
    assert_int_equal(rc_lathist_cumulative(&h, RC_LATHIST_NBOUNDS), 5);
    assert_int_equal(rc_lathist_cumulative(&h, RC_LATHIST_NBOUNDS + 7), 5); /* clamped */
    for (i = 1; i <= RC_LATHIST_NBOUNDS; i++)
        assert_true(rc_lathist_cumulative(&h, i) >= rc_lathist_cumulative(&h, i - 1));
    assert_int_equal(h.sum_ns, 0 + rc_lathist_bounds_ns[0] * 2 + 1 + rc_lathist_bounds_ns[3] +
                                   UINT64_C(3600) * 1000000000u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_ascending),
        cmocka_unit_test(test_buckets),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
