/*
 * test_evghost.c - the evicted-versions table (common/evghost.c): the
 * version rule against a model, a full table forgetting only old
 * versions, how much a table remembers at a given load (the hash must
 * spread tokens that share their top bits), and its size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "evghost.h"

static struct rc_evghost *ghost(size_t entries)
{
    struct rc_evghost *g;

    assert_int_equal(rc_evghost_new(entries, &g), 0);
    assert_non_null(g);
    return g;
}

/* Tokens as the tests of memkv make them: 8 distinct top-3-bit prefixes,
 * the rest a small multiple (poorly mixed on purpose). */
static uint64_t token(uint64_t j)
{
    return (j % 8) << 61 | j * 7919u;
}

static void test_version_rule(void **state)
{
    struct rc_evghost *g = ghost(0);

    (void)state;
    assert_false(rc_evghost_has(g, 42));
    assert_false(rc_evghost_covers(g, 42, 0, 0));
    rc_evghost_add(g, 42, 10, 2);
    assert_true(rc_evghost_has(g, 42));
    assert_false(rc_evghost_has(g, 43));
    /* Covered: any version up to (10, 2), node breaking a tie of hlc. */
    assert_true(rc_evghost_covers(g, 42, 1, 99));
    assert_true(rc_evghost_covers(g, 42, 10, 1));
    assert_true(rc_evghost_covers(g, 42, 10, 2));
    assert_false(rc_evghost_covers(g, 42, 10, 3));
    assert_false(rc_evghost_covers(g, 42, 11, 0));
    assert_false(rc_evghost_covers(g, 43, 1, 1));
    /* An older eviction does not lower it; a newer one raises it. */
    rc_evghost_add(g, 42, 5, 9);
    assert_true(rc_evghost_covers(g, 42, 10, 2));
    rc_evghost_add(g, 42, 12, 0);
    assert_true(rc_evghost_covers(g, 42, 12, 0));
    /* get gives the version remembered, and nothing for a key it lacks. */
    {
        uint64_t hlc = 77, node = 78;

        assert_true(rc_evghost_get(g, 42, &hlc, &node));
        assert_int_equal(hlc, 12);
        assert_int_equal(node, 0);
        hlc = 77;
        assert_false(rc_evghost_get(g, 43, &hlc, &node));
        assert_int_equal(hlc, 77);
    }
    assert_false(rc_evghost_covers(g, 42, 12, 1));
    /* Hash 0 is a key like another; version (0, 0) protects nothing. */
    rc_evghost_add(g, 0, 3, 0);
    assert_true(rc_evghost_covers(g, 0, 3, 0));
    rc_evghost_add(g, 7, 0, 0);
    assert_false(rc_evghost_has(g, 7));
    rc_evghost_free(g);
    rc_evghost_free(NULL);
}

/* Random evictions of 16 keys in a roomy table, against the newest
 * version of each. */
#define NKEYS 16
static void test_model(void **state)
{
    struct rc_evghost *g = ghost(1024);
    uint64_t hlc[NKEYS] = {0}, node[NKEYS] = {0}, h, q, n;
    unsigned seed = 7;
    int i, k;

    (void)state;
    for (i = 0; i < 20000; i++) {
        k = rand_r(&seed) % NKEYS;
        h = (uint64_t)(rand_r(&seed) % 64);
        n = (uint64_t)(rand_r(&seed) % 3);
        if (rand_r(&seed) % 2) {
            rc_evghost_add(g, token((uint64_t)k), h, n);
            if ((h || n) && (h > hlc[k] || (h == hlc[k] && n > node[k]))) {
                hlc[k] = h;
                node[k] = n;
            }
        }
        q = hlc[k] || node[k];
        assert_int_equal(rc_evghost_has(g, token((uint64_t)k)), q);
        assert_int_equal(rc_evghost_covers(g, token((uint64_t)k), h, n),
                         q && (h < hlc[k] || (h == hlc[k] && n <= node[k])));
    }
    rc_evghost_free(g);
}

/* How many of the first `added` tokens a table remembers. */
static int remembered(const struct rc_evghost *g, int added)
{
    int i, r = 0;

    for (i = 0; i < added; i++)
        r += rc_evghost_has(g, token((uint64_t)i));
    return r;
}

/* A full table: an older eviction is not remembered and changes nothing;
 * a newer one replaces exactly one older version. Memory never grows. */
static void test_full_table(void **state)
{
    struct rc_evghost *g = ghost(64);
    size_t mem = rc_evghost_mem(g);
    int i, before;

    (void)state;
    for (i = 0; i < 10000; i++)
        rc_evghost_add(g, token((uint64_t)i), 1000 + (uint64_t)i, 1);
    /* 625 keys a bucket on average: every slot holds one. */
    assert_int_equal(remembered(g, 10000), 64);
    /* The most recent ones are kept: the last added always. */
    assert_true(rc_evghost_covers(g, token(9999), 10999, 1));
    for (i = 0; i < 10000 - 4 * 64 * 4; i++)
        if (rc_evghost_has(g, token((uint64_t)i)))
            break;
    /* Survivors are among the newest: at 16 buckets, an old one surviving
     * 4 newer arrivals in its bucket for ~1,000 adds is a broken order. */
    assert_int_equal(i, 10000 - 4 * 64 * 4);
    rc_evghost_add(g, token(20000), 5, 1);
    assert_false(rc_evghost_has(g, token(20000)));
    assert_int_equal(remembered(g, 10000), 64);
    before = remembered(g, 10000);
    rc_evghost_add(g, token(20001), 50000, 1);
    assert_true(rc_evghost_has(g, token(20001)));
    assert_int_equal(remembered(g, 10000), before - 1);
    assert_true(rc_evghost_mem(g) == mem);
    rc_evghost_free(g);
}

/* At half load a 4-way table forgets a few percent, at full load about a
 * fifth (Poisson bucket loads): a hash that kept the tokens' shared top
 * bits, or their multiples of 7919, would do far worse. */
static void test_load(void **state)
{
    struct rc_evghost *g = ghost(4096);
    int i;

    (void)state;
    for (i = 0; i < 2048; i++)
        rc_evghost_add(g, token((uint64_t)i), 1, 1);
    assert_true(remembered(g, 2048) >= 2048 * 90 / 100);
    for (; i < 4096; i++)
        rc_evghost_add(g, token((uint64_t)i), 1, 1);
    assert_true(remembered(g, 4096) >= 4096 * 70 / 100);
    rc_evghost_free(g);
}

/* Sizes round up to a power of two, at least 64; an impossible size is
 * RC_ENOMEM with no table. */
static void test_size(void **state)
{
    struct rc_evghost *g;
    size_t m1, m64, m65, m128, m256;

    (void)state;
    g = ghost(1);
    m1 = rc_evghost_mem(g);
    rc_evghost_free(g);
    g = ghost(64);
    m64 = rc_evghost_mem(g);
    rc_evghost_free(g);
    g = ghost(65);
    m65 = rc_evghost_mem(g);
    rc_evghost_free(g);
    g = ghost(128);
    m128 = rc_evghost_mem(g);
    rc_evghost_free(g);
    g = ghost(256);
    m256 = rc_evghost_mem(g);
    rc_evghost_free(g);
    assert_true(m1 == m64 && m65 == m128);
    assert_true(m256 - m128 == 2 * (m128 - m64));
    /* (hash, hlc, node): 24 bytes a slot. */
    assert_true(m128 - m64 == 64 * 24);
    g = (struct rc_evghost *)&g;
    assert_int_equal(rc_evghost_new(SIZE_MAX, &g), RC_ENOMEM);
    assert_null(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_rule), cmocka_unit_test(test_model),
        cmocka_unit_test(test_full_table),   cmocka_unit_test(test_load),
        cmocka_unit_test(test_size),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
