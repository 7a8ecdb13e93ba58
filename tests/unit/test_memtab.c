/*
 * test_memtab.c - the read cache: exact answers for present, absent,
 * expired, replaced and deleted keys; a writer's peek counts nothing; the byte
 * budget holds with least-recently-used eviction; oversized entries are
 * not kept; growth keeps every key findable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "memtab.h"

#define K(s) (const uint8_t *)(s), strlen(s)

static void test_put_get_del(void **state)
{
    struct rc_memtab *m;
    struct rc_memtab_entry e;
    struct rc_memtab_stats st;

    (void)state;
    assert_int_equal(rc_memtab_new(1 << 20, &m), 0);
    assert_int_equal(rc_memtab_get(m, K("a"), 1000, &e), 0);
    assert_int_equal(rc_memtab_put(m, K("a"), K("hello"), 7, 9, 0), 0);
    assert_int_equal(rc_memtab_get(m, K("a"), 1000, &e), 1);
    assert_int_equal(e.value_len, 5);
    assert_memory_equal(e.value, "hello", 5);
    assert_true(e.ver_hlc == 7 && e.ver_node == 9 && e.expires_ms == 0);
    /* Replaced in place, then by a longer value. */
    assert_int_equal(rc_memtab_put(m, K("a"), K("bye"), 8, 9, 5000), 0);
    assert_int_equal(rc_memtab_get(m, K("a"), 1000, &e), 1);
    assert_int_equal(e.value_len, 3);
    assert_memory_equal(e.value, "bye", 3);
    assert_true(e.ver_hlc == 8 && e.expires_ms == 5000);
    assert_int_equal(rc_memtab_put(m, K("a"), K("a much longer value"), 9, 9, 0), 0);
    assert_int_equal(rc_memtab_get(m, K("a"), 1000, &e), 1);
    assert_int_equal(e.value_len, 19);
    /* Empty values are values. */
    assert_int_equal(rc_memtab_put(m, K("empty"), (const uint8_t *)"", 0, 1, 1, 0), 0);
    assert_int_equal(rc_memtab_get(m, K("empty"), 1000, &e), 1);
    assert_int_equal(e.value_len, 0);
    rc_memtab_del(m, K("a"));
    rc_memtab_del(m, K("nope"));
    assert_int_equal(rc_memtab_get(m, K("a"), 1000, &e), 0);
    rc_memtab_stats(m, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.hits, 4);
    assert_int_equal(st.misses, 2);
    rc_memtab_clear(m);
    assert_int_equal(rc_memtab_get(m, K("empty"), 1000, &e), 0);
    rc_memtab_stats(m, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    rc_memtab_free(m);
}

static void test_expiry(void **state)
{
    struct rc_memtab *m;
    struct rc_memtab_entry e;
    struct rc_memtab_stats st;

    (void)state;
    assert_int_equal(rc_memtab_new(1 << 20, &m), 0);
    assert_int_equal(rc_memtab_put(m, K("t"), K("v"), 1, 1, 2000), 0);
    assert_int_equal(rc_memtab_get(m, K("t"), 1999, &e), 1);
    assert_int_equal(rc_memtab_get(m, K("t"), 2000, &e), 0); /* expired: dropped */
    rc_memtab_stats(m, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(rc_memtab_get(m, K("t"), 0, &e), 0);
    rc_memtab_free(m);
}

/* A writer's peek sees what a read sees, but is no hit or miss and does
 * not make the entry most recently used; expired entries go all the same. */
static void test_peek(void **state)
{
    static uint8_t val[1000];
    struct rc_memtab *m;
    struct rc_memtab_entry e;
    struct rc_memtab_stats st;
    char key[16];
    int i;

    (void)state;
    assert_int_equal(rc_memtab_new(8000, &m), 0);
    assert_int_equal(rc_memtab_put(m, K("old"), val, sizeof(val), 1, 2, 0), 0);
    assert_int_equal(rc_memtab_put(m, K("new"), val, sizeof(val), 3, 4, 0), 0);
    assert_int_equal(rc_memtab_put(m, K("ttl"), K("v"), 5, 6, 900), 0);
    assert_int_equal(rc_memtab_peek(m, K("old"), 500, &e), 1);
    assert_true(e.ver_hlc == 1 && e.ver_node == 2 && e.value_len == sizeof(val));
    assert_int_equal(rc_memtab_peek(m, K("none"), 500, &e), 0);
    assert_int_equal(rc_memtab_peek(m, K("ttl"), 1000, &e), 0); /* expired: dropped */
    assert_int_equal(rc_memtab_get(m, K("ttl"), 0, &e), 0);
    rc_memtab_stats(m, &st);
    assert_int_equal(st.hits, 0);
    assert_int_equal(st.misses, 1); /* the get only */
    assert_int_equal(st.entries, 2);
    /* "old" stayed least recently used despite the peek: it goes first. */
    for (i = 0; st.evictions == 0; i++) {
        snprintf(key, sizeof(key), "fill%d", i);
        assert_int_equal(rc_memtab_put(m, K(key), val, sizeof(val), 7, 8, 0), 0);
        rc_memtab_stats(m, &st);
    }
    assert_int_equal(st.evictions, 1);
    assert_int_equal(rc_memtab_peek(m, K("old"), 500, &e), 0);
    assert_int_equal(rc_memtab_peek(m, K("new"), 500, &e), 1);
    rc_memtab_free(m);
}

static void test_budget_and_lru(void **state)
{
    static uint8_t val[8000];
    struct rc_memtab *m;
    struct rc_memtab_entry e;
    struct rc_memtab_stats st;
    char key[16];
    int i;

    (void)state;
    memset(val, 'v', sizeof(val));
    assert_int_equal(rc_memtab_new(20000, &m), 0);
    for (i = 0; i < 25; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(rc_memtab_put(m, K(key), val, 1000, 1, 1, 0), 0);
        if (i == 15) /* k0 becomes the most recently used */
            assert_int_equal(rc_memtab_get(m, K("k0"), 0, &e), 1);
    }
    rc_memtab_stats(m, &st);
    assert_true(st.bytes <= 20000);
    assert_true(st.evictions > 0);
    assert_int_equal(st.entries + st.evictions, 25);
    assert_int_equal(rc_memtab_get(m, K("k24"), 0, &e), 1);
    assert_int_equal(rc_memtab_get(m, K("k0"), 0, &e), 1); /* kept: used recently */
    assert_int_equal(rc_memtab_get(m, K("k1"), 0, &e), 0); /* the oldest went first */
    /* Over a quarter of the budget: not kept, and the old copy goes too. */
    assert_int_equal(rc_memtab_put(m, K("k0"), val, 6000, 2, 1, 0), 0);
    assert_int_equal(rc_memtab_get(m, K("k0"), 0, &e), 0);
    assert_int_equal(rc_memtab_put(m, K("k24"), val, 6000, 2, 1, 0), 0);
    assert_int_equal(rc_memtab_get(m, K("k24"), 0, &e), 0);
    rc_memtab_stats(m, &st);
    assert_true(st.bytes <= 20000);
    rc_memtab_free(m);
}

static void test_growth(void **state)
{
    struct rc_memtab *m;
    struct rc_memtab_entry e;
    char key[16], v[16];
    int i;

    (void)state;
    assert_int_equal(rc_memtab_new(64u << 20, &m), 0);
    for (i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "key:%d", i);
        snprintf(v, sizeof(v), "%d", i * 7);
        assert_int_equal(rc_memtab_put(m, K(key), K(v), (uint64_t)i, 1, 0), 0);
    }
    for (i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "key:%d", i);
        snprintf(v, sizeof(v), "%d", i * 7);
        assert_int_equal(rc_memtab_get(m, K(key), 0, &e), 1);
        assert_int_equal(e.value_len, strlen(v));
        assert_memory_equal(e.value, v, e.value_len);
        assert_true(e.ver_hlc == (uint64_t)i);
    }
    rc_memtab_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_del),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_peek),
        cmocka_unit_test(test_budget_and_lru),
        cmocka_unit_test(test_growth),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
