/*
 * test_hitratio.c - the hit-ratio harness's pure half
 * (client/hitratio_trace.c): the generator is a function of its seed and
 * has the Zipf shape it claims; Belady gives the known answer on a
 * hand-checked trace; and the orderings that must hold between the
 * offline simulators hold on random traces (LRU <= Belady <= upper bound
 * with one size; LRU, Belady <= upper bound with mixed sizes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "evict.h"
#include "hitratio_trace.h"

#include <math.h>

static struct rc_hr_trace_cfg cfg(enum rc_hr_kind kind, double alpha, uint64_t seed)
{
    struct rc_hr_trace_cfg c = {.seed = seed, .alpha = alpha, .keys = 10000,
                                .requests = 200000, .kind = kind, .key_bytes = 13};
    return c;
}

static void test_deterministic(void **state)
{
    struct rc_hr_trace_cfg c = cfg(RC_HR_SCAN, 0.99, 42);
    struct rc_hr_trace a, b;

    (void)state;
    c.mixed = 1;
    assert_int_equal(rc_hr_trace_init(&a, &c), 0);
    assert_int_equal(rc_hr_trace_init(&b, &c), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.key, b.key, a.len * sizeof(*a.key));
    assert_memory_equal(a.size, b.size, a.ids * sizeof(*a.size));
    assert_true(a.data_bytes == b.data_bytes);
    rc_hr_trace_close(&b);
    c.seed = 43;
    assert_int_equal(rc_hr_trace_init(&b, &c), 0);
    assert_true(memcmp(a.key, b.key, a.len * sizeof(*a.key)) != 0);
    rc_hr_trace_close(&a);
    rc_hr_trace_close(&b);
}

static int cmp_desc(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

    return (a < b) - (a > b);
}

/* Share of requests that go to the top 1 % of keys, against the Zipf
 * formula H(keys/100, alpha) / H(keys, alpha). */
static void check_shape(double alpha)
{
    struct rc_hr_trace_cfg c = cfg(RC_HR_ZIPF, alpha, 7);
    struct rc_hr_trace t;
    uint32_t *count = calloc(c.keys, sizeof(*count)), i, top = c.keys / 100, low_ids = 0;
    double h_top = 0, h_all = 0, got = 0;

    assert_non_null(count);
    assert_int_equal(rc_hr_trace_init(&t, &c), 0);
    for (i = 0; i < t.len; i++)
        count[t.key[i]]++;
    /* permuted: the popular keys are not the lowest ids */
    for (i = 0; i < top; i++)
        low_ids += count[i] > (uint32_t)(t.len / c.keys) * 4;
    assert_true(low_ids < top / 2);
    qsort(count, c.keys, sizeof(*count), cmp_desc);
    for (i = 0; i < c.keys; i++) {
        double w = pow(i + 1.0, -alpha);

        h_all += w;
        if (i < top)
            h_top += w;
        if (i < top)
            got += count[i];
    }
    got /= t.len;
    assert_true(fabs(got - h_top / h_all) < 0.02);
    free(count);
    rc_hr_trace_close(&t);
}

static void test_zipf_shape(void **state)
{
    (void)state;
    check_shape(0.8);
    check_shape(0.99);
    check_shape(1.2);
}

static void test_scan_and_shift(void **state)
{
    struct rc_hr_trace_cfg c = cfg(RC_HR_SCAN, 0.99, 3);
    struct rc_hr_trace t;
    uint32_t i, seen = 0, first_half_top = 0, second_half_top = 0, best1 = 0, best2 = 0;
    uint32_t *c1, *c2;

    (void)state;
    assert_int_equal(rc_hr_trace_init(&t, &c), 0);
    assert_int_equal(t.len, c.requests + c.keys / RC_HR_SCAN_DIV);
    for (i = 0; i < t.len; i++) {
        if (t.key[i] < c.keys)
            continue;
        assert_int_equal(t.key[i], c.keys + seen); /* one ascending pass */
        assert_true(i >= c.requests / 2);
        seen++;
    }
    assert_int_equal(seen, c.keys / RC_HR_SCAN_DIV);
    for (i = 0; i < t.ids; i++)
        assert_int_equal(t.size[i], RC_HR_FIXED_SIZE);
    rc_hr_trace_close(&t);

    c = cfg(RC_HR_SHIFT, 0.99, 3);
    c.mixed = 1;
    assert_int_equal(rc_hr_trace_init(&t, &c), 0);
    c1 = calloc(c.keys, sizeof(*c1));
    c2 = calloc(c.keys, sizeof(*c2));
    assert_non_null(c1);
    assert_non_null(c2);
    for (i = 0; i < t.len; i++)
        (i < t.len / 2 ? c1 : c2)[t.key[i]]++;
    for (i = 0; i < c.keys; i++) {
        if (c1[i] > best1)
            best1 = c1[i], first_half_top = i;
        if (c2[i] > best2)
            best2 = c2[i], second_half_top = i;
        assert_in_range(t.size[i], RC_HR_MIN_SIZE, RC_HR_MAX_SIZE);
    }
    assert_int_not_equal(first_half_top, second_half_top);
    free(c1);
    free(c2);
    rc_hr_trace_close(&t);
}

/* The textbook reference string (Silberschatz, 3 frames). Belady's MIN as
 * a demand pager misses 9 times (11 hits); a cache that may decline to
 * keep a value (bypass) does one better, 12 hits, the optimum found by an
 * exhaustive search over every choice at every miss. LRU misses 12 (8 hits). */
static void test_belady_known(void **state)
{
    uint32_t ref[] = {7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1};
    uint32_t size[8] = {10, 10, 10, 10, 10, 10, 10, 10};
    uint32_t small[] = {1, 2, 3, 1, 2, 3};
    struct rc_hr_trace t = {.key = ref, .len = 20, .ids = 8, .size = size};
    uint64_t hits;

    (void)state;
    assert_int_equal(rc_hr_belady(&t, 30, &hits), 0);
    assert_int_equal(hits, 12);
    assert_int_equal(rc_hr_lru(&t, 30, &hits), 0);
    assert_int_equal(hits, 8);
    assert_int_equal(rc_hr_opt_upper(&t, 30, &hits), 0);
    assert_true(hits >= 12);
    /* 1 2 3 1 2 3, room for two: keep 1 and 2, bypass 3 -> 2 hits; LRU 0 */
    t.key = small;
    t.len = 6;
    assert_int_equal(rc_hr_belady(&t, 20, &hits), 0);
    assert_int_equal(hits, 2);
    assert_int_equal(rc_hr_lru(&t, 20, &hits), 0);
    assert_int_equal(hits, 0);
    /* no room at all: no hits, nothing breaks */
    assert_int_equal(rc_hr_belady(&t, 5, &hits), 0);
    assert_int_equal(hits, 0);
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The policies of common/evict.c through rc_hr_policy (no per-entry
 * overhead): allkeys-lru is exactly the LRU simulator, every policy stays
 * under the upper bound (and under Belady, the optimum, with one size). */
static void check_policies(const struct rc_hr_trace *t, uint64_t b, uint64_t bel, uint64_t lru,
                           uint64_t up)
{
    static const int pols[] = {RC_EVICT_ALLKEYS_LFU, RC_EVICT_ALLKEYS_RANDOM,
                               RC_EVICT_ALLKEYS_S3FIFO, RC_EVICT_ALLKEYS_WTINYLFU};
    uint64_t sim;
    size_t i;

    assert_int_equal(rc_hr_policy(t, b, RC_EVICT_ALLKEYS_LRU, 0, 1, &sim), 0);
    assert_int_equal(sim, lru);
    for (i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
        assert_int_equal(rc_hr_policy(t, b, pols[i], 0, 1, &sim), 0);
        assert_true(sim <= up);
        assert_true(bel == 0 || sim <= bel);
    }
}

/* Random traces (uniform and skewed ids), every budget from tiny to all. */
static void check_orderings(int mixed)
{
    uint32_t key[400], size[32], round, i;
    struct rc_hr_trace t = {.key = key, .len = 400, .ids = 32, .size = size, .key_bytes = 4};
    uint64_t s = 0x1234567 + (uint64_t)mixed, b, bel, lru, up;

    for (round = 0; round < 300; round++) {
        for (i = 0; i < t.len; i++)
            key[i] = round % 2 ? (uint32_t)(rnd(&s) % 32) : (uint32_t)(rnd(&s) % 32 * (rnd(&s) % 32) / 32);
        for (i = 0; i < t.ids; i++)
            size[i] = mixed ? (uint32_t)(1 + rnd(&s) % 100) : 50;
        for (b = 0; b <= 32 * 110; b += 97) {
            assert_int_equal(rc_hr_belady(&t, b, &bel), 0);
            assert_int_equal(rc_hr_lru(&t, b, &lru), 0);
            assert_int_equal(rc_hr_opt_upper(&t, b, &up), 0);
            assert_true(up >= lru);
            assert_true(up >= bel);
            if (!mixed)
                assert_true(bel >= lru); /* Belady is the optimum with one size */
            if (b >= 110) /* every entry fits: the simulators agree on the budget */
                check_policies(&t, b, mixed ? 0 : bel, lru, up);
        }
    }
}

static void test_orderings_fixed(void **state)
{
    (void)state;
    check_orderings(0);
}

static void test_orderings_mixed(void **state)
{
    (void)state;
    check_orderings(1);
}

static void test_bad_cfg(void **state)
{
    struct rc_hr_trace_cfg c = cfg(RC_HR_ZIPF, 0.99, 1);
    struct rc_hr_trace t;

    (void)state;
    c.keys = 0;
    assert_int_equal(rc_hr_trace_init(&t, &c), RC_EINVAL);
    assert_null(t.key);
    c = cfg(RC_HR_ZIPF, 0, 1);
    assert_int_equal(rc_hr_trace_init(&t, &c), RC_EINVAL);
    c = cfg(RC_HR_ZIPF, 0.99, 1);
    c.requests = RC_HR_MAX_REQUESTS + 1;
    assert_int_equal(rc_hr_trace_init(&t, &c), RC_EINVAL);
}

/* A policy that does not evict any key cannot be simulated. */
static void test_policy_bad(void **state)
{
    uint32_t key[2] = {0, 1}, size[2] = {10, 10};
    struct rc_hr_trace t = {.key = key, .len = 2, .ids = 2, .size = size, .key_bytes = 4};
    uint64_t hits = 7;

    (void)state;
    assert_int_equal(rc_hr_policy(&t, 100, RC_EVICT_NOEVICTION, 0, 1, &hits), RC_EINVAL);
    assert_int_equal(rc_hr_policy(&t, 100, RC_EVICT_VOLATILE_LRU, 0, 1, &hits), RC_EINVAL);
    assert_int_equal(rc_hr_policy(&t, 100, RC_EVICT_NPOLICIES, 0, 1, &hits), RC_EINVAL);
    assert_int_equal(hits, 0);
    key[1] = 0;
    assert_int_equal(rc_hr_policy(&t, 100, RC_EVICT_ALLKEYS_S3FIFO, 0, 1, &hits), 0);
    assert_int_equal(hits, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),  cmocka_unit_test(test_zipf_shape),
        cmocka_unit_test(test_scan_and_shift), cmocka_unit_test(test_belady_known),
        cmocka_unit_test(test_orderings_fixed), cmocka_unit_test(test_orderings_mixed),
        cmocka_unit_test(test_bad_cfg),        cmocka_unit_test(test_policy_bad),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
