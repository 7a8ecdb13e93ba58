/*
 * test_expcount.c - the expiry-time counter behind the memory store's live
 * key count: known answers, a random model (additions, removals, the clock
 * moving by small and large steps, forwards and back), emptied slots kept
 * for an undo until a compacting reserve, and allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "expcount.h"

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

/* Test-only state: the countdown to the failing calloc (0 = off). */
static long fault_countdown;

void *__wrap_calloc(size_t n, size_t size)
{
    if (fault_countdown > 0 && --fault_countdown == 0)
        return NULL;
    return __real_calloc(n, size);
}

static void add(struct rc_expcount *e, int64_t t, int sign)
{
    if (sign > 0)
        assert_int_equal(rc_expcount_reserve(e, 1, 0), 0);
    rc_expcount_add(e, t, sign);
}

static void test_known_answers(void **state)
{
    struct rc_expcount e;

    (void)state;
    rc_expcount_init(&e);
    assert_int_equal(rc_expcount_passed(&e, 1000), 0);
    add(&e, 100, 1);
    add(&e, 200, 1);
    add(&e, 200, 1);
    add(&e, 300, 1);
    rc_expcount_add(&e, 0, 1);  /* no expiry: ignored */
    rc_expcount_add(&e, -5, 1); /* ignored too */
    assert_int_equal(rc_expcount_passed(&e, 99), 0);
    assert_int_equal(rc_expcount_passed(&e, 100), 1);
    assert_int_equal(rc_expcount_passed(&e, 250), 3);
    assert_int_equal(rc_expcount_passed(&e, 1000000), 4);
    add(&e, 200, -1);
    assert_int_equal(rc_expcount_passed(&e, 1000000), 3);
    assert_int_equal(rc_expcount_passed(&e, 150), 1); /* the clock went back */
    add(&e, 120, 1);                                  /* below the watermark */
    assert_int_equal(rc_expcount_passed(&e, 150), 2);
    add(&e, 5000, 1);                                 /* above it */
    assert_int_equal(rc_expcount_passed(&e, 150), 2);
    assert_int_equal(rc_expcount_passed(&e, 5000), 5);
    assert_int_equal(rc_expcount_passed(&e, 4999), 4);
    assert_true(rc_expcount_mem(&e) > 0);
    rc_expcount_close(&e);
    assert_int_equal(rc_expcount_mem(&e), 0);
}

static uint64_t lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return *x >> 33;
}

#define MODEL_MAX 3000

/* Random additions and removals against a plain array, asking at times
 * that move by a millisecond or by years, forwards and back, so both the
 * per-millisecond walk and the table pass are checked. */
static void test_model(void **state)
{
    static int64_t held[MODEL_MAX];
    struct rc_expcount e;
    uint64_t rnd = 7;
    int64_t now = 1764158400000, base = now, want;
    int n = 0, i, step, j;

    (void)state;
    rc_expcount_init(&e);
    for (step = 0; step < 60000; step++) {
        unsigned op = lcg(&rnd) % 100;

        if (op < 45 && n < MODEL_MAX) {
            /* Mostly near now, some far ahead, some already past. */
            int64_t t = lcg(&rnd) % 10 == 0 ? base + (int64_t)(lcg(&rnd) % 100000000)
                                            : now - 50 + (int64_t)(lcg(&rnd) % 3000);
            held[n++] = t;
            assert_int_equal(rc_expcount_reserve(&e, 1, lcg(&rnd) % 4 == 0), 0);
            rc_expcount_add(&e, t, 1);
        } else if (op < 80 && n > 0) {
            i = (int)(lcg(&rnd) % (uint64_t)n);
            rc_expcount_add(&e, held[i], -1);
            held[i] = held[--n];
        } else if (op < 90) {
            now += (int64_t)(lcg(&rnd) % 40);
        } else if (op < 93) {
            now -= (int64_t)(lcg(&rnd) % 2000); /* the clock goes back */
        } else if (op < 95) {
            now += (int64_t)(lcg(&rnd) % 200000000); /* a long sleep */
        } else if (op < 98) {
            want = 0;
            for (j = 0; j < n; j++)
                want += held[j] <= now;
            assert_int_equal(rc_expcount_passed(&e, now), want);
        } else {
            /* The times still ahead and their average distance (avg_ttl). */
            int64_t ahead = 0, avg, got;
            double sum = 0;

            for (j = 0; j < n; j++)
                if (held[j] > now) {
                    ahead++;
                    sum += (double)(held[j] - now);
                }
            got = rc_expcount_ahead(&e, now, &avg);
            assert_int_equal(got, ahead);
            if (ahead > 0)
                assert_true(llabs(avg - (int64_t)(sum / (double)ahead + 0.5)) <= 1);
            else
                assert_int_equal(avg, 0);
        }
    }
    want = 0;
    for (j = 0; j < n; j++)
        want += held[j] <= now;
    assert_int_equal(rc_expcount_passed(&e, now), want);
    assert_int_equal(e.total, n);
    rc_expcount_close(&e);
}

/* An undo brings back a time whose count went to 0: its slot is still
 * there, so it needs no room; a compacting reserve then drops it. */
static void test_emptied_slots(void **state)
{
    struct rc_expcount e;
    size_t used;
    int64_t t;

    (void)state;
    rc_expcount_init(&e);
    assert_int_equal(rc_expcount_reserve(&e, 40, 0), 0);
    for (t = 1; t <= 40; t++)
        rc_expcount_add(&e, 1000 + t, 1);
    used = e.used;
    for (t = 1; t <= 40; t++)
        rc_expcount_add(&e, 1000 + t, -1);
    assert_int_equal(e.used, used); /* kept, emptied */
    assert_int_equal(e.emptied, 40);
    assert_int_equal(rc_expcount_reserve(&e, 1, 0), 0); /* no compaction asked */
    assert_int_equal(e.used, used);
    for (t = 1; t <= 40; t++) /* the undo: no reserve needed */
        rc_expcount_add(&e, 1000 + t, 1);
    assert_int_equal(e.emptied, 0);
    assert_int_equal(rc_expcount_passed(&e, 1020), 20);
    for (t = 1; t <= 40; t++)
        rc_expcount_add(&e, 1000 + t, -1);
    assert_int_equal(rc_expcount_reserve(&e, 1, 1), 0);
    assert_int_equal(e.used, 0);
    assert_int_equal(e.emptied, 0);
    assert_int_equal(rc_expcount_passed(&e, 5000), 0);
    rc_expcount_close(&e);
}

/* A reserve that cannot allocate changes nothing. */
static void test_alloc_failure(void **state)
{
    struct rc_expcount e;
    int64_t t;
    long k;

    (void)state;
    for (k = 1; k <= 2; k++) {
        rc_expcount_init(&e);
        fault_countdown = k;
        assert_int_equal(rc_expcount_reserve(&e, 1, 0), RC_ENOMEM);
        assert_int_equal(e.cap, 0);
        fault_countdown = 0;
        assert_int_equal(rc_expcount_reserve(&e, 32, 0), 0);
        for (t = 1; t <= 32; t++)
            rc_expcount_add(&e, t, 1);
        fault_countdown = k; /* the growth past half full fails */
        assert_int_equal(rc_expcount_reserve(&e, 1, 0), RC_ENOMEM);
        fault_countdown = 0;
        assert_int_equal(e.total, 32);
        assert_int_equal(rc_expcount_passed(&e, 16), 16);
        rc_expcount_close(&e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_emptied_slots),
        cmocka_unit_test(test_alloc_failure),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
