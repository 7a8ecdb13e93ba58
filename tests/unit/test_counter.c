/*
 * test_counter.c - the convergent counter: Redis's parsing and rendering,
 * increments and their errors, the merge as a join (commutative,
 * associative, idempotent on random states), no increment lost however
 * replicas exchange states, and the encoding (round trip, hostile bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "counter.h"
#include "err.h"

static int parse_int(const char *s, int64_t *v)
{
    return rc_counter_parse_int((const uint8_t *)s, strlen(s), v);
}

static void test_parse_int_like_redis(void **state)
{
    static const char *bad[] = {"", "+1", " 1", "1 ", "01", "-0", "-", "1a", "9223372036854775808",
                                "-9223372036854775809", "1.0", "123456789012345678901"};
    int64_t v;
    size_t i;

    (void)state;
    assert_int_equal(parse_int("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(parse_int("-12", &v), 0);
    assert_int_equal(v, -12);
    assert_int_equal(parse_int("9223372036854775807", &v), 0);
    assert_int_equal(v, INT64_MAX);
    assert_int_equal(parse_int("-9223372036854775808", &v), 0);
    assert_true(v == INT64_MIN);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse_int(bad[i], &v), RC_ENOT_INTEGER);
}

static void test_parse_float(void **state)
{
    double d;

    (void)state;
    assert_int_equal(rc_counter_parse_float((const uint8_t *)"10.5", 4, &d), 0);
    assert_true(d == 10.5);
    assert_int_equal(rc_counter_parse_float((const uint8_t *)"5.0e3", 5, &d), 0);
    assert_true(d == 5000);
    assert_int_equal(rc_counter_parse_float((const uint8_t *)" 1", 2, &d), RC_ENOT_FLOAT);
    assert_int_equal(rc_counter_parse_float((const uint8_t *)"1x", 2, &d), RC_ENOT_FLOAT);
    assert_int_equal(rc_counter_parse_float((const uint8_t *)"nan", 3, &d), RC_ENOT_FLOAT);
    assert_int_equal(rc_counter_parse_float((const uint8_t *)"", 0, &d), RC_ENOT_FLOAT);
    assert_int_equal(rc_counter_parse_float((const uint8_t *)"1e999", 5, &d), RC_ENOT_FLOAT);
}

static const char *render(const struct rc_counter *c)
{
    static char buf[RC_COUNTER_TEXT_MAX];

    rc_counter_render(c, buf, sizeof(buf));
    return buf;
}

static void test_incr_and_render(void **state)
{
    static struct rc_counter c;
    int64_t v;

    (void)state;
    rc_counter_init(&c, 0, 0);
    assert_string_equal(render(&c), "0");
    assert_int_equal(rc_counter_incr(&c, 7, 1), 0);
    assert_int_equal(rc_counter_incr(&c, 7, 1), 0);
    assert_int_equal(rc_counter_incr(&c, 3, -5), 0);
    assert_string_equal(render(&c), "-3");
    assert_int_equal(c.n, 2);
    assert_int_equal(c.comp[0].actor, 3);
    assert_int_equal(c.comp[1].seq, 2);
    assert_int_equal(rc_counter_value_int(&c, &v), 0);
    assert_int_equal(v, -3);

    /* Redis: SET k 10; INCRBYFLOAT k 0.1 -> "10.1"; 5.0e3 -> "5010.1". */
    assert_int_equal(rc_counter_from_text(&c, (const uint8_t *)"10", 2, 0, 9, 1), 0);
    assert_int_equal(rc_counter_incr_float(&c, 1, 0.1), 0);
    assert_string_equal(render(&c), "10.1");
    assert_int_equal(rc_counter_incr_float(&c, 1, 5.0e3), 0);
    assert_string_equal(render(&c), "5010.1");
    /* Not an integer any more: INCR refuses, as Redis on "5010.1". */
    assert_int_equal(rc_counter_incr(&c, 1, 1), RC_ENOT_INTEGER);
    assert_int_equal(rc_counter_incr_float(&c, 2, -0.1), 0);
    assert_string_equal(render(&c), "5010");
    /* Integral again: INCR reads "5010" as Redis would. */
    assert_int_equal(rc_counter_incr(&c, 2, 1), 0);
    assert_string_equal(render(&c), "5011");

    assert_int_equal(rc_counter_from_text(&c, (const uint8_t *)"3.0", 3, 1, 9, 1), 0);
    assert_string_equal(render(&c), "3");
    assert_int_equal(rc_counter_from_text(&c, (const uint8_t *)"1e20", 4, 1, 9, 1), 0);
    assert_string_equal(render(&c), "100000000000000000000");
    assert_int_equal(rc_counter_from_text(&c, (const uint8_t *)"abc", 3, 0, 9, 1),
                     RC_ENOT_INTEGER);
    assert_int_equal(rc_counter_from_text(&c, (const uint8_t *)"abc", 3, 1, 9, 1),
                     RC_ENOT_FLOAT);
    assert_int_equal(rc_counter_from_text(&c, (const uint8_t *)"1.5", 3, 0, 9, 1),
                     RC_ENOT_INTEGER);
}

static void test_overflow_leaves_state(void **state)
{
    static struct rc_counter c, before;
    uint8_t a[RC_COUNTER_MAX_ENC], b[RC_COUNTER_MAX_ENC];
    int la, lb;

    (void)state;
    assert_int_equal(rc_counter_from_text(&c, (const uint8_t *)"9223372036854775806", 19, 0, 1, 1),
                     0);
    assert_int_equal(rc_counter_incr(&c, 5, 1), 0);
    before = c;
    assert_int_equal(rc_counter_incr(&c, 6, 1), RC_EOVERFLOW);
    assert_int_equal(rc_counter_incr(&c, 5, 1), RC_EOVERFLOW);
    la = rc_counter_encode(&c, a, sizeof(a));
    lb = rc_counter_encode(&before, b, sizeof(b));
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, (size_t)la);
    assert_int_equal(rc_counter_incr(&c, 6, -1), 0);
    assert_string_equal(render(&c), "9223372036854775806");
    assert_int_equal(rc_counter_incr_float(&c, 6, 1e308), 0);
    assert_int_equal(rc_counter_incr_float(&c, 6, 1e308), RC_EOVERFLOW);
}

static void test_actor_cap(void **state)
{
    static struct rc_counter c;
    uint64_t i;

    (void)state;
    rc_counter_init(&c, 0, 0);
    for (i = 0; i < RC_COUNTER_MAX_ACTORS; i++)
        assert_int_equal(rc_counter_incr(&c, 1000 - i, 1), 0);
    assert_int_equal(rc_counter_incr(&c, 5000, 1), RC_ECOUNTER_FULL);
    assert_int_equal(rc_counter_incr_float(&c, 5000, 1), RC_ECOUNTER_FULL);
    assert_int_equal(rc_counter_incr(&c, 1000, 1), 0); /* known actors go on */
    assert_int_equal(c.n, RC_COUNTER_MAX_ACTORS);
    assert_string_equal(render(&c), "257");
}

/* A small random state on one of two bases, actors among 8. */
static void random_state(struct rc_counter *c, unsigned *seed)
{
    int ops = rand_r(seed) % 12, i;

    rc_counter_init(c, (uint64_t)(rand_r(seed) % 2) + 1, 1);
    for (i = 0; i < ops; i++) {
        uint64_t actor = (uint64_t)(rand_r(seed) % 8);
        struct rc_counter_comp *k = NULL;
        int found = 0;
        uint32_t j;

        if (rc_counter_incr(c, actor, rand_r(seed) % 100 - 50) < 0)
            continue;
        /* Components of one actor differ between states by seq: bump it at
         * random so two states disagree on who is ahead. */
        for (j = 0; j < c->n; j++)
            if (c->comp[j].actor == actor)
                k = &c->comp[j], found = 1;
        if (found && rand_r(seed) % 2)
            k->seq += (uint64_t)(rand_r(seed) % 3);
    }
}

static void merge_ok(const struct rc_counter *a, const struct rc_counter *b, struct rc_counter *o)
{
    assert_int_equal(rc_counter_merge(a, b, o), 0);
}

static void test_merge_is_a_join(void **state)
{
    static struct rc_counter a, b, c, ab, ba, ab_c, bc, a_bc, aa, tmp;
    unsigned seed = 1234;
    int round;

    (void)state;
    for (round = 0; round < 2000; round++) {
        random_state(&a, &seed);
        random_state(&b, &seed);
        random_state(&c, &seed);
        merge_ok(&a, &b, &ab);
        merge_ok(&b, &a, &ba);
        assert_true(rc_counter_equal(&ab, &ba)); /* commutative */
        merge_ok(&ab, &c, &ab_c);
        merge_ok(&b, &c, &bc);
        merge_ok(&a, &bc, &a_bc);
        assert_true(rc_counter_equal(&ab_c, &a_bc)); /* associative */
        merge_ok(&a, &a, &aa);
        assert_true(rc_counter_equal(&aa, &a)); /* idempotent */
        merge_ok(&ab, &a, &tmp);
        assert_true(rc_counter_equal(&tmp, &ab)); /* ab is above a */
        tmp = a; /* in place */
        merge_ok(&tmp, &b, &tmp);
        assert_true(rc_counter_equal(&tmp, &ab));
        tmp = b;
        merge_ok(&a, &tmp, &tmp);
        assert_true(rc_counter_equal(&tmp, &ab));
    }
}

/* Three replicas, three actors, increments interleaved with states
 * exchanged at random (some lost): once every replica has merged every
 * other, each shows exactly the sum of all increments. */
static void test_no_increment_lost(void **state)
{
    static struct rc_counter rep[3], tmp;
    unsigned seed = 99;
    int64_t want = 0, v;
    int i, r;

    (void)state;
    for (r = 0; r < 3; r++)
        rc_counter_init(&rep[r], 0, 0);
    for (i = 0; i < 5000; i++) {
        int who = rand_r(&seed) % 3, to = rand_r(&seed) % 3;
        int64_t d = rand_r(&seed) % 7 - 3;

        /* Actor `who` increments on its own replica. */
        assert_int_equal(rc_counter_incr(&rep[who], 100 + (uint64_t)who, d), 0);
        want += d;
        if (rand_r(&seed) % 3 == 0) { /* sometimes ship it */
            merge_ok(&rep[to], &rep[who], &tmp);
            rep[to] = tmp;
        }
    }
    for (r = 0; r < 3; r++)
        for (i = 0; i < 3; i++) {
            merge_ok(&rep[r], &rep[i], &tmp);
            rep[r] = tmp;
        }
    for (r = 0; r < 3; r++) {
        assert_int_equal(rc_counter_value_int(&rep[r], &v), 0);
        assert_int_equal(v, want);
    }
}

static void test_newer_base_wins(void **state)
{
    static struct rc_counter old, reset, out;

    (void)state;
    rc_counter_init(&old, 10, 1);
    assert_int_equal(rc_counter_incr(&old, 1, 5), 0);
    assert_int_equal(rc_counter_from_text(&reset, (const uint8_t *)"100", 3, 0, 20, 2), 0);
    merge_ok(&old, &reset, &out);
    assert_string_equal(render(&out), "100");
    merge_ok(&reset, &old, &out);
    assert_string_equal(render(&out), "100");
}

static void test_reconcile(void **state)
{
    static struct rc_counter a, b, j;

    (void)state;
    rc_counter_init(&a, 0, 0);
    assert_int_equal(rc_counter_incr(&a, 1, 1), 0);
    b = a;
    /* Equal states: the newer version is adopted, an older one kept. */
    assert_int_equal(rc_counter_reconcile(&a, &b, 1, &j), RC_COUNTER_ADOPT);
    assert_int_equal(rc_counter_reconcile(&a, &b, 0, &j), RC_COUNTER_KEEP);
    /* b ahead of a. */
    assert_int_equal(rc_counter_incr(&b, 1, 1), 0);
    assert_int_equal(rc_counter_reconcile(&a, &b, 1, &j), RC_COUNTER_ADOPT);
    assert_int_equal(rc_counter_reconcile(&b, &a, 0, &j), RC_COUNTER_KEEP);
    /* b ahead but stamped older than a: the join (b) gets a fresh version. */
    assert_int_equal(rc_counter_reconcile(&a, &b, 0, &j), RC_COUNTER_JOIN);
    assert_true(rc_counter_equal(&j, &b));
    /* Concurrent: each has what the other lacks. */
    assert_int_equal(rc_counter_incr(&a, 2, 5), 0);
    assert_int_equal(rc_counter_reconcile(&a, &b, 1, &j), RC_COUNTER_JOIN);
    assert_string_equal(render(&j), "7");
}

static void test_encode_round_trip(void **state)
{
    static struct rc_counter a, b;
    uint8_t buf[RC_COUNTER_MAX_ENC], buf2[RC_COUNTER_MAX_ENC];
    unsigned seed = 5;
    int i, len;

    (void)state;
    for (i = 0; i < 200; i++) {
        random_state(&a, &seed);
        if (i % 3 == 0)
            assert_int_equal(rc_counter_incr_float(&a, 42, 0.25), 0);
        len = rc_counter_encode(&a, buf, sizeof(buf));
        assert_int_equal(len, RC_COUNTER_HDR_LEN + (int)a.n * RC_COUNTER_COMP_LEN);
        assert_int_equal(rc_counter_decode(buf, (size_t)len, &b), 0);
        assert_true(rc_counter_equal(&a, &b));
        assert_int_equal(rc_counter_encode(&b, buf2, sizeof(buf2)), len);
        assert_memory_equal(buf, buf2, (size_t)len);
        assert_int_equal(rc_counter_decode(buf, (size_t)len - 1, &b), RC_EPROTO);
    }
    assert_int_equal(rc_counter_encode(&a, buf, 3), RC_EINVAL);
}

static void test_decode_rejects_hostile(void **state)
{
    static struct rc_counter a, b;
    uint8_t buf[RC_COUNTER_MAX_ENC], bad[RC_COUNTER_MAX_ENC];
    int len;

    (void)state;
    rc_counter_init(&a, 1, 1);
    assert_int_equal(rc_counter_incr(&a, 1, 1), 0);
    assert_int_equal(rc_counter_incr(&a, 2, 1), 0);
    len = rc_counter_encode(&a, buf, sizeof(buf));
    memcpy(bad, buf, (size_t)len);
    bad[0] = 2; /* unknown format */
    assert_int_equal(rc_counter_decode(bad, (size_t)len, &b), RC_EPROTO);
    memcpy(bad, buf, (size_t)len);
    bad[2] = 0xff; /* n past the bytes and the cap */
    bad[3] = 0xff;
    assert_int_equal(rc_counter_decode(bad, (size_t)len, &b), RC_EPROTO);
    memcpy(bad, buf, (size_t)len);
    /* Second actor equal to the first: not canonical. */
    memcpy(bad + RC_COUNTER_HDR_LEN + RC_COUNTER_COMP_LEN, bad + RC_COUNTER_HDR_LEN, 8);
    assert_int_equal(rc_counter_decode(bad, (size_t)len, &b), RC_EPROTO);
    memcpy(bad, buf, (size_t)len);
    memset(bad + RC_COUNTER_HDR_LEN + 8, 0, 8); /* seq 0 */
    assert_int_equal(rc_counter_decode(bad, (size_t)len, &b), RC_EPROTO);
    memcpy(bad, buf, (size_t)len);
    memset(bad + 12, 0xff, 8); /* NaN base */
    assert_int_equal(rc_counter_decode(bad, (size_t)len, &b), RC_EPROTO);
    assert_int_equal(rc_counter_decode(buf, 5, &b), RC_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_int_like_redis),
        cmocka_unit_test(test_parse_float),
        cmocka_unit_test(test_incr_and_render),
        cmocka_unit_test(test_overflow_leaves_state),
        cmocka_unit_test(test_actor_cap),
        cmocka_unit_test(test_merge_is_a_join),
        cmocka_unit_test(test_no_increment_lost),
        cmocka_unit_test(test_newer_base_wins),
        cmocka_unit_test(test_reconcile),
        cmocka_unit_test(test_encode_round_trip),
        cmocka_unit_test(test_decode_rejects_hostile),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
