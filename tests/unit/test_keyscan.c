/*
 * test_keyscan.c - the KEY_SCAN payloads (round trips, every refusal of
 * the decoders) and the merge of replicas' answers (newest version per
 * key, tombstones and flushed versions hidden, the step's end honoured).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "keyscan.h"
#include "ring.h"

static struct rc_keyscan_req *whole_ring(int mode, uint32_t count)
{
    struct rc_keyscan_req *q = calloc(1, sizeof(*q));

    assert_non_null(q);
    q->mode = mode;
    q->count = count;
    q->nranges = 1;
    q->first[0] = 0;
    q->last[0] = UINT64_MAX;
    return q;
}

static void test_req_round_trip(void **state)
{
    struct rc_keyscan_req *q = whole_ring(RC_KEYSCAN_KEYS, 10), *d = calloc(1, sizeof(*d));
    msgpack_zone zone;
    struct rc_buf b;

    (void)state;
    assert_true(msgpack_zone_init(&zone, 1024));
    rc_buf_init(&b, 1 << 20);
    q->nranges = 3;
    q->first[0] = 0, q->last[0] = 10;
    q->first[1] = 11, q->last[1] = 11;
    q->first[2] = 1000, q->last[2] = UINT64_MAX;
    assert_int_equal(rc_keyscan_encode_req(&b, q), 0);
    assert_int_equal(rc_keyscan_decode_req(&zone, rc_buf_rptr(&b), rc_buf_used(&b), d), 0);
    assert_int_equal(d->mode, RC_KEYSCAN_KEYS);
    assert_int_equal(d->count, 10);
    assert_int_equal(d->nranges, 3);
    assert_true(d->first[2] == 1000 && d->last[2] == UINT64_MAX && d->last[1] == 11);

    /* Refused: overlapping or descending ranges, first > last, a count of
     * 0 or too large, an unknown mode. */
    q->first[1] = 10;
    rc_buf_reset(&b);
    assert_int_equal(rc_keyscan_encode_req(&b, q), 0);
    assert_int_equal(rc_keyscan_decode_req(&zone, rc_buf_rptr(&b), rc_buf_used(&b), d), RC_EPROTO);
    q->first[1] = 12;
    rc_buf_reset(&b);
    assert_int_equal(rc_keyscan_encode_req(&b, q), 0);
    assert_int_equal(rc_keyscan_decode_req(&zone, rc_buf_rptr(&b), rc_buf_used(&b), d), RC_EPROTO);
    q->first[1] = 11;
    q->count = 0;
    rc_buf_reset(&b);
    assert_int_equal(rc_keyscan_encode_req(&b, q), 0);
    assert_int_equal(rc_keyscan_decode_req(&zone, rc_buf_rptr(&b), rc_buf_used(&b), d), RC_EPROTO);
    q->count = RC_KEYSCAN_MAX_COUNT + 1;
    rc_buf_reset(&b);
    assert_int_equal(rc_keyscan_encode_req(&b, q), 0);
    assert_int_equal(rc_keyscan_decode_req(&zone, rc_buf_rptr(&b), rc_buf_used(&b), d), RC_EPROTO);
    q->count = 5;
    q->mode = 7;
    rc_buf_reset(&b);
    assert_int_equal(rc_keyscan_encode_req(&b, q), 0);
    assert_int_equal(rc_keyscan_decode_req(&zone, rc_buf_rptr(&b), rc_buf_used(&b), d), RC_EPROTO);
    /* Garbage and truncation. */
    assert_int_equal(rc_keyscan_decode_req(&zone, (const uint8_t *)"\x93\x00", 2, d), RC_EPROTO);
    assert_int_equal(rc_keyscan_decode_req(&zone, (const uint8_t *)"", 0, d), RC_EPROTO);
    rc_buf_close(&b);
    msgpack_zone_destroy(&zone);
    free(q);
    free(d);
}

static void add(struct rc_keyscan_set *s, const char *key, uint64_t hlc, uint64_t node, int tomb)
{
    assert_int_equal(rc_keyscan_set_add(s, (const uint8_t *)key, strlen(key),
                                        rc_ring_token(key, strlen(key)), hlc, node, tomb),
                     0);
}

static void test_keys_round_trip(void **state)
{
    struct rc_keyscan_req *q = whole_ring(RC_KEYSCAN_KEYS, 10);
    struct rc_keyscan_set s, d;
    msgpack_zone zone;
    struct rc_buf b;
    uint64_t last, tok = rc_ring_token("b", 1);
    int truncated;

    (void)state;
    assert_true(msgpack_zone_init(&zone, 1024));
    rc_buf_init(&b, 1 << 20);
    rc_keyscan_set_init(&s, 16, 1024);
    rc_keyscan_set_init(&d, 16, 1024);
    add(&s, "a", 5, 1, 0);
    add(&s, "b", 6, 2, 1);
    assert_int_equal(rc_keyscan_encode_keys(&b, 1, 42, &s), 0);
    assert_int_equal(rc_keyscan_decode_keys(&zone, rc_buf_rptr(&b), rc_buf_used(&b), 1024, q, &d,
                                            &truncated, &last),
                     0);
    assert_int_equal(truncated, 1);
    assert_true(last == 42);
    assert_int_equal(d.n, 2);
    assert_memory_equal(rc_keyscan_key(&d, &d.e[1]), "b", 1);
    assert_true(d.e[1].token == tok && d.e[1].hlc == 6 && d.e[1].node == 2 && d.e[1].tomb);

    /* A key outside the ranges asked is refused (its token is computed,
     * not read), so is one over the key size. */
    q->first[0] = tok + 1 > tok ? tok + 1 : tok;
    rc_keyscan_set_reset(&d);
    if (tok < UINT64_MAX) {
        q->first[0] = tok + 1;
        assert_int_equal(rc_keyscan_decode_keys(&zone, rc_buf_rptr(&b), rc_buf_used(&b), 1024, q,
                                                &d, &truncated, &last),
                         RC_EPROTO);
    }
    q->first[0] = 0;
    assert_int_equal(rc_keyscan_decode_keys(&zone, rc_buf_rptr(&b), rc_buf_used(&b), 0, q, &d,
                                            &truncated, &last),
                     RC_EPROTO);
    /* The set's cap: an error, not a growth. */
    rc_keyscan_set_close(&d);
    rc_keyscan_set_init(&d, 1, 1024);
    assert_int_equal(rc_keyscan_decode_keys(&zone, rc_buf_rptr(&b), rc_buf_used(&b), 1024, q, &d,
                                            &truncated, &last),
                     RC_EBUFFER_FULL);
    rc_keyscan_set_close(&s);
    rc_keyscan_set_close(&d);
    rc_buf_close(&b);
    msgpack_zone_destroy(&zone);
    free(q);
}

static void test_counts_round_trip(void **state)
{
    uint64_t c[3] = {0, 7, UINT64_MAX}, d[3];
    msgpack_zone zone;
    struct rc_buf b;

    (void)state;
    assert_true(msgpack_zone_init(&zone, 1024));
    rc_buf_init(&b, 4096);
    assert_int_equal(rc_keyscan_encode_counts(&b, c, 3), 0);
    assert_int_equal(rc_keyscan_decode_counts(&zone, rc_buf_rptr(&b), rc_buf_used(&b), 3, d), 0);
    assert_true(d[0] == 0 && d[1] == 7 && d[2] == UINT64_MAX);
    /* Another number of counts than ranges asked: refused. */
    assert_int_equal(rc_keyscan_decode_counts(&zone, rc_buf_rptr(&b), rc_buf_used(&b), 2, d),
                     RC_EPROTO);
    rc_buf_close(&b);
    msgpack_zone_destroy(&zone);
}

static int kept_has(const struct rc_keyscan_set *s, size_t n, const char *key)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (s->e[i].len == strlen(key) && memcmp(rc_keyscan_key(s, &s->e[i]), key, s->e[i].len) == 0)
            return 1;
    return 0;
}

static void test_merge(void **state)
{
    struct rc_keyscan_set s;
    size_t n, i;

    (void)state;
    rc_keyscan_set_init(&s, 64, 4096);
    /* Three replicas' answers, in any order. */
    add(&s, "live", 10, 1, 0);
    add(&s, "live", 10, 1, 0);   /* the same version twice: once */
    add(&s, "deleted", 5, 1, 0);
    add(&s, "deleted", 9, 2, 1); /* a newer tombstone hides it */
    add(&s, "revived", 9, 2, 1);
    add(&s, "revived", 12, 3, 0); /* a newer value beats the tombstone */
    add(&s, "flushed", 3, 1, 0);  /* below the floor */
    add(&s, "one", 4, 1, 0);      /* only one replica has it */
    add(&s, "stale", 20, 1, 0);
    add(&s, "stale", 19, 2, 0);
    assert_int_equal(rc_keyscan_merge(&s, UINT64_MAX, 4, &n), 0);
    assert_int_equal(n, 4);
    assert_true(kept_has(&s, n, "live") && kept_has(&s, n, "revived") && kept_has(&s, n, "one") &&
                kept_has(&s, n, "stale"));
    for (i = 1; i < n; i++)
        assert_true(s.e[i - 1].token <= s.e[i].token);
    for (i = 0; i < n; i++)
        if (s.e[i].len == 5 && memcmp(rc_keyscan_key(&s, &s.e[i]), "stale", 5) == 0)
            assert_true(s.e[i].hlc == 20);

    /* upto: nothing past the step's end. */
    rc_keyscan_set_reset(&s);
    add(&s, "a", 1, 1, 0);
    add(&s, "b", 1, 1, 0);
    add(&s, "c", 1, 1, 0);
    {
        uint64_t t[3] = {rc_ring_token("a", 1), rc_ring_token("b", 1), rc_ring_token("c", 1)};
        uint64_t mid = t[0];

        for (i = 0; i < 3; i++) /* the middle token */
            if ((t[i] > t[0]) + (t[i] > t[1]) + (t[i] > t[2]) == 1)
                mid = t[i];
        assert_int_equal(rc_keyscan_merge(&s, mid, 0, &n), 0);
        assert_int_equal(n, 2);
        assert_true(s.e[0].token < s.e[1].token && s.e[1].token == mid);
    }
    rc_keyscan_set_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_req_round_trip),
        cmocka_unit_test(test_keys_round_trip),
        cmocka_unit_test(test_counts_round_trip),
        cmocka_unit_test(test_merge),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
