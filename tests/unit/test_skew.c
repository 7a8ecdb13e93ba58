/*
 * test_skew.c - the clock offset estimator (common/skew.c): the NTP
 * arithmetic, the shortest-round-trip filter, ageing, steps, one-way
 * samples, and the summary (median with ourselves, skewed peers, worst).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "err.h"
#include "skew.h"

#define T0 1000000 /* caller's clock at the start of each test */

static void test_offset_arithmetic(void **state)
{
    (void)state;
    /* peer 20 s ahead, 2 ms round trip, symmetric */
    assert_int_equal(rc_skew_offset_of(1765000000000ULL, 1765000020001ULL, 1765000000002ULL),
                     20000);
    /* peer 90 s behind */
    assert_int_equal(rc_skew_offset_of(1765000090000ULL, 1765000000003ULL, 1765000090006ULL),
                     -90000);
    /* our clock stepped back between send and receipt: still signed */
    assert_int_equal(rc_skew_offset_of(5000, 4000, 3000), 0);
}

static void test_shortest_round_trip_wins(void **state)
{
    struct rc_skew k;
    int64_t off = 0;
    int i;

    (void)state;
    assert_int_equal(rc_skew_init(&k, 8), 0);
    assert_int_equal(rc_skew_get(&k, 7, T0, &off), RC_ENOTFOUND);
    rc_skew_add(&k, 7, 1100, 50, T0);
    rc_skew_add(&k, 7, 1020, 2, T0 + 1);
    rc_skew_add(&k, 7, 1060, 10, T0 + 2);
    assert_int_equal(rc_skew_get(&k, 7, T0 + 3, &off), 0);
    assert_int_equal(off, 1020);
    /* on a tie the newer one */
    rc_skew_add(&k, 7, 1022, 2, T0 + 4);
    assert_int_equal(rc_skew_get(&k, 7, T0 + 5, &off), 0);
    assert_int_equal(off, 1022);
    /* RC_SKEW_SAMPLES later the short ones have been pushed out */
    for (i = 0; i < RC_SKEW_SAMPLES; i++)
        rc_skew_add(&k, 7, 1030, 5, T0 + 10 + (uint64_t)i);
    assert_int_equal(rc_skew_get(&k, 7, T0 + 20, &off), 0);
    assert_int_equal(off, 1030);
    /* and they age out */
    assert_int_equal(rc_skew_get(&k, 7, T0 + 20 + RC_SKEW_TTL_MS, &off), RC_ENOTFOUND);
    rc_skew_forget(&k, 7);
    assert_int_equal(rc_skew_get(&k, 7, T0 + 20, &off), RC_ENOTFOUND);
    rc_skew_close(&k);
}

/* A clock stepped by more than RC_SKEW_STEP_MS shows at once, even with a
 * longer round trip than the samples before the step; a one-way sample
 * (which a replayed datagram could fake) never moves a known estimate,
 * and only serves when nothing better is known. */
static void test_steps_and_one_way(void **state)
{
    struct rc_skew k;
    int64_t off = 0;

    (void)state;
    assert_int_equal(rc_skew_init(&k, 8), 0);
    rc_skew_add(&k, 1, 0, 1, T0);
    rc_skew_add(&k, 1, 20000, 9, T0 + 100); /* stepped 20 s ahead */
    assert_int_equal(rc_skew_get(&k, 1, T0 + 101, &off), 0);
    assert_int_equal(off, 20000);
    rc_skew_add(&k, 1, 20000 + RC_SKEW_STEP_MS - 1, 30, T0 + 200); /* noise, not a step */
    assert_int_equal(rc_skew_get(&k, 1, T0 + 201, &off), 0);
    assert_int_equal(off, 20000);
    rc_skew_add(&k, 1, -90000, RC_SKEW_ONEWAY, T0 + 300);
    assert_int_equal(rc_skew_get(&k, 1, T0 + 301, &off), 0);
    assert_int_equal(off, 20000);
    /* 30 s after the last round trip, newer one-way stamps take over */
    rc_skew_add(&k, 1, -90010, RC_SKEW_ONEWAY, T0 + 100 + RC_SKEW_SUPERSEDED_MS);
    assert_int_equal(rc_skew_get(&k, 1, T0 + 200 + RC_SKEW_SUPERSEDED_MS, &off), 0);
    assert_int_equal(off, 20000); /* the one at T0 + 200 is still recent enough */
    rc_skew_add(&k, 1, -90020, RC_SKEW_ONEWAY, T0 + 201 + RC_SKEW_SUPERSEDED_MS);
    assert_int_equal(rc_skew_get(&k, 1, T0 + 202 + RC_SKEW_SUPERSEDED_MS, &off), 0);
    assert_int_equal(off, -90020); /* of equal rank, the newer */
    /* a member known only one way */
    rc_skew_add(&k, 2, 90000, RC_SKEW_ONEWAY, T0);
    assert_int_equal(rc_skew_get(&k, 2, T0 + 1, &off), 0);
    assert_int_equal(off, 90000);
    /* a fresh one-way stamp outranks a datagram stamp, a round trip both */
    rc_skew_add(&k, 2, 90010, RC_SKEW_FRESH_ONEWAY_MS, T0 + 2);
    rc_skew_add(&k, 2, 90020, RC_SKEW_ONEWAY, T0 + 3);
    assert_int_equal(rc_skew_get(&k, 2, T0 + 4, &off), 0);
    assert_int_equal(off, 90010);
    rc_skew_close(&k);
}

static void test_summary(void **state)
{
    struct rc_skew k;
    struct rc_skew_view v;

    (void)state;
    assert_int_equal(rc_skew_init(&k, 8), 0);
    rc_skew_summary(&k, T0, &v);
    assert_int_equal(v.npeers, 0);
    assert_int_equal(v.ahead_ms, 0);
    assert_int_equal(v.worst_id, 0);
    /* the skewed node's view: both peers 20 s behind it */
    rc_skew_add(&k, 1, -20003, 1, T0);
    rc_skew_add(&k, 2, -19998, 1, T0);
    rc_skew_summary(&k, T0, &v);
    assert_int_equal(v.npeers, 2);
    assert_int_equal(v.ahead_ms, 19998); /* median of {-20003, -19998, 0} */
    assert_int_equal(v.skewed, 2);
    assert_int_equal(v.spread_ms, 5);
    assert_true(v.worst_ms >= -5 && v.worst_ms <= 5); /* the peers agree: none is off */
    rc_skew_close(&k);

    /* a good node's view: one peer agrees, one is 20 s ahead */
    assert_int_equal(rc_skew_init(&k, 8), 0);
    rc_skew_add(&k, 1, 3, 1, T0);
    rc_skew_add(&k, 2, 20001, 1, T0);
    rc_skew_summary(&k, T0, &v);
    assert_int_equal(v.ahead_ms, -3); /* median of {0, 3, 20001} */
    assert_int_equal(v.skewed, 1);
    assert_int_equal(v.worst_id, 2);
    assert_int_equal(v.worst_ms, 19998);
    /* two nodes: the difference splits, nobody can tell */
    rc_skew_forget(&k, 1);
    rc_skew_summary(&k, T0, &v);
    assert_int_equal(v.npeers, 1);
    assert_int_equal(v.ahead_ms, -10000);
    /* old samples do not count */
    rc_skew_summary(&k, T0 + RC_SKEW_TTL_MS + 1, &v);
    assert_int_equal(v.npeers, 0);
    assert_int_equal(v.ahead_ms, 0);
    rc_skew_close(&k);
}

/* A lone seed that refused us for our stamp, and lists two other live
 * members (all within the key's window of it), stands for three clocks:
 * the median is then its clock, not halfway, and we know ours is off.
 * The vouching ages out with the samples, and an even count of clocks
 * still takes the mean of the middle two. */
static void test_vouching(void **state)
{
    struct rc_skew k;
    struct rc_skew_view v;

    (void)state;
    assert_int_equal(rc_skew_init(&k, 8), 0);
    rc_skew_vouch(&k, 1, 3, T0); /* no sample yet: nothing */
    rc_skew_add(&k, 1, -90000, 3, T0);
    rc_skew_summary(&k, T0, &v);
    assert_int_equal(v.nclocks, 2);
    assert_int_equal(v.ahead_ms, 45000);
    rc_skew_vouch(&k, 1, 3, T0);
    rc_skew_summary(&k, T0 + 1, &v);
    assert_int_equal(v.npeers, 1);
    assert_int_equal(v.nclocks, 4);
    assert_int_equal(v.ahead_ms, 90000); /* {0, -90000 x3} */
    assert_int_equal(v.skewed, 1);
    rc_skew_vouch(&k, 1, 2, T0 + 2);
    rc_skew_summary(&k, T0 + 2, &v);
    assert_int_equal(v.nclocks, 3);
    assert_int_equal(v.ahead_ms, 90000);
    /* a second peer measured: nobody's word counts, {0, 10, -90000} (the
     * vouching node may be the wrong one, listing peers it lost) */
    rc_skew_add(&k, 2, 10, 1, T0 + 3);
    rc_skew_summary(&k, T0 + 3, &v);
    assert_int_equal(v.nclocks, 3);
    assert_int_equal(v.ahead_ms, 0);
    assert_int_equal(v.worst_id, 1);
    /* alone again, the vouching counts until its TTL */
    rc_skew_forget(&k, 2);
    rc_skew_summary(&k, T0 + 4, &v);
    assert_int_equal(v.ahead_ms, 90000);
    rc_skew_add(&k, 1, -90000, 3, T0 + RC_SKEW_TTL_MS);
    rc_skew_summary(&k, T0 + RC_SKEW_TTL_MS + 3, &v);
    assert_int_equal(v.nclocks, 2);
    assert_int_equal(v.ahead_ms, 45000);
    rc_skew_close(&k);
}

/* The table is capped: the member sampled least recently goes first. */
static void test_cap(void **state)
{
    struct rc_skew k;
    int64_t off;

    (void)state;
    assert_int_equal(rc_skew_init(&k, 0), RC_EINVAL);
    rc_skew_close(&k);
    assert_int_equal(rc_skew_init(&k, 2), 0);
    rc_skew_add(&k, 0, 5, 1, T0); /* id 0 is nobody */
    assert_int_equal(k.n, 0);
    rc_skew_add(&k, 1, 10, 1, T0);
    rc_skew_add(&k, 2, 20, 1, T0 + 1);
    rc_skew_add(&k, 1, 11, 1, T0 + 2);
    rc_skew_add(&k, 3, 30, 1, T0 + 3); /* evicts 2 */
    assert_int_equal(rc_skew_get(&k, 2, T0 + 4, &off), RC_ENOTFOUND);
    assert_int_equal(rc_skew_get(&k, 1, T0 + 4, &off), 0);
    assert_int_equal(rc_skew_get(&k, 3, T0 + 4, &off), 0);
    assert_int_equal(off, 30);
    rc_skew_close(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offset_arithmetic),
        cmocka_unit_test(test_shortest_round_trip_wins),
        cmocka_unit_test(test_steps_and_one_way),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_vouching),
        cmocka_unit_test(test_cap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
