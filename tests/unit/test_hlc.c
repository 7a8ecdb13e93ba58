/*
 * test_hlc.c - hybrid logical clock: monotonic, close to wall time,
 * causally after remote timestamps, and refusing far-future peers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "err.h"
#include "hlc.h"

static void test_follows_wall_clock(void **state)
{
    struct rc_hlc h;

    (void)state;
    rc_hlc_init(&h, 1000);
    assert_int_equal(rc_hlc_now(&h, 5000), rc_hlc_make(5000, 0));
    assert_int_equal(rc_hlc_now(&h, 5001), rc_hlc_make(5001, 0));
    assert_int_equal(rc_hlc_ms(rc_hlc_now(&h, 7000)), 7000);
}

static void test_same_ms_counts_up(void **state)
{
    struct rc_hlc h;
    uint64_t a, b, c;

    (void)state;
    rc_hlc_init(&h, 1000);
    a = rc_hlc_now(&h, 5000);
    b = rc_hlc_now(&h, 5000);
    c = rc_hlc_now(&h, 5000);
    assert_true(a < b && b < c);
    assert_int_equal(rc_hlc_logical(c), 2);
    assert_int_equal(rc_hlc_ms(c), 5000);
}

static void test_wall_clock_going_back(void **state)
{
    struct rc_hlc h;
    uint64_t a, b;

    (void)state;
    rc_hlc_init(&h, 1000);
    a = rc_hlc_now(&h, 9000);
    b = rc_hlc_now(&h, 4000); /* NTP stepped the clock back */
    assert_true(b > a);
    assert_int_equal(rc_hlc_ms(b), 9000);
}

static void test_logical_overflow_moves_to_next_ms(void **state)
{
    struct rc_hlc h;
    uint64_t prev = 0, ts = 0;
    uint32_t i;

    (void)state;
    rc_hlc_init(&h, 1000);
    for (i = 0; i <= RC_HLC_LOGICAL_MASK + 1; i++) {
        ts = rc_hlc_now(&h, 100);
        assert_true(ts > prev);
        prev = ts;
    }
    assert_int_equal(rc_hlc_ms(ts), 101);
}

static void test_update_goes_past_remote(void **state)
{
    struct rc_hlc h;
    uint64_t remote = rc_hlc_make(5500, 7), out = 0;

    (void)state;
    rc_hlc_init(&h, 1000);
    rc_hlc_now(&h, 5000);
    assert_int_equal(rc_hlc_update(&h, remote, 5000, &out), 0);
    assert_true(out > remote);
    assert_true(rc_hlc_now(&h, 5000) > out);
    /* Remote behind us: still move forward. */
    assert_int_equal(rc_hlc_update(&h, rc_hlc_make(10, 0), 5000, &out), 0);
    assert_true(out > remote);
}

static void test_update_rejects_drift(void **state)
{
    struct rc_hlc h;
    uint64_t before, out = 0;

    (void)state;
    rc_hlc_init(&h, 1000);
    before = rc_hlc_now(&h, 5000);
    assert_int_equal(rc_hlc_update(&h, rc_hlc_make(6001, 0), 5000, &out), RC_EDRIFT);
    assert_int_equal(h.last, before); /* unchanged */
    assert_int_equal(rc_hlc_update(&h, rc_hlc_make(6000, 0), 5000, &out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follows_wall_clock),
        cmocka_unit_test(test_same_ms_counts_up),
        cmocka_unit_test(test_wall_clock_going_back),
        cmocka_unit_test(test_logical_overflow_moves_to_next_ms),
        cmocka_unit_test(test_update_goes_past_remote),
        cmocka_unit_test(test_update_rejects_drift),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
