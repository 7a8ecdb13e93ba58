/*
 * test_buf.c - the capped byte buffer: the cap is never exceeded, failed
 * growth leaves the contents alone, consumed bytes are reclaimed by
 * compaction, and reset/shrink/close release what they promise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "err.h"

/* The ENOMEM test asks for 2^60 bytes; under ASan that must fail with NULL
 * rather than abort the run. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    size_t i;

    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 31);
}

static void test_init_empty(void **state)
{
    struct rc_buf b;

    (void)state;
    rc_buf_init(&b, 100);
    assert_null(b.data);
    assert_int_equal(rc_buf_used(&b), 0);
    assert_int_equal(b.alloc, 0);
    assert_int_equal(b.cap, 100);
    assert_int_equal(rc_buf_append(&b, "x", 0), 0); /* nothing to add, nothing allocated */
    assert_null(b.data);
    rc_buf_close(&b);
}

static void test_cap_enforced(void **state)
{
    uint8_t src[1000], big[1001];
    struct rc_buf b;

    (void)state;
    fill(src, sizeof(src), 1);
    fill(big, sizeof(big), 2);
    rc_buf_init(&b, 1000);
    assert_int_equal(rc_buf_append(&b, big, 1001), RC_EBUFFER_FULL);
    assert_int_equal(rc_buf_used(&b), 0);
    assert_int_equal(rc_buf_append(&b, src, 600), 0);
    assert_int_equal(rc_buf_append(&b, big, 401), RC_EBUFFER_FULL);
    assert_int_equal(rc_buf_used(&b), 600); /* failed append changed nothing */
    assert_memory_equal(rc_buf_rptr(&b), src, 600);
    assert_int_equal(rc_buf_append(&b, src + 600, 400), 0); /* exactly to the cap */
    assert_int_equal(rc_buf_used(&b), 1000);
    assert_memory_equal(rc_buf_rptr(&b), src, 1000);
    assert_true(b.alloc <= b.cap);
    assert_int_equal(rc_buf_append(&b, "x", 1), RC_EBUFFER_FULL);
    assert_int_equal(rc_buf_reserve(&b, 1), RC_EBUFFER_FULL);
    assert_int_equal(rc_buf_reserve(&b, SIZE_MAX), RC_EBUFFER_FULL); /* no overflow */
    rc_buf_close(&b);

    rc_buf_init(&b, 10); /* below the first allocation size: alloc stays <= cap */
    assert_int_equal(rc_buf_append(&b, src, 10), 0);
    assert_true(b.alloc <= 10);
    assert_int_equal(rc_buf_append(&b, src, 1), RC_EBUFFER_FULL);
    rc_buf_close(&b);

    rc_buf_init(&b, 0);
    assert_int_equal(rc_buf_append(&b, src, 1), RC_EBUFFER_FULL);
    assert_int_equal(rc_buf_reserve(&b, 0), 0);
    rc_buf_close(&b);
}

static void test_growth(void **state)
{
    static uint8_t src[100000];
    struct rc_buf b;
    size_t off;

    (void)state;
    fill(src, sizeof(src), 3);
    rc_buf_init(&b, sizeof(src) + 7); /* an odd cap: the last growth clamps to it */
    for (off = 0; off < sizeof(src); off += 1000) {
        assert_int_equal(rc_buf_append(&b, src + off, 1000), 0);
        assert_true(b.alloc <= b.cap);
    }
    assert_int_equal(rc_buf_used(&b), sizeof(src));
    assert_memory_equal(rc_buf_rptr(&b), src, sizeof(src));
    rc_buf_close(&b);
}

static void test_reserve_commit(void **state)
{
    struct rc_buf b;

    (void)state;
    rc_buf_init(&b, 4096);
    assert_int_equal(rc_buf_reserve(&b, 300), 0);
    assert_true(rc_buf_avail(&b) >= 300);
    memcpy(rc_buf_wptr(&b), "hello", 5);
    rc_buf_commit(&b, 5);
    assert_int_equal(rc_buf_used(&b), 5);
    assert_memory_equal(rc_buf_rptr(&b), "hello", 5);
    assert_int_equal(rc_buf_reserve(&b, 4091), 0);
    assert_int_equal(rc_buf_reserve(&b, 4092), RC_EBUFFER_FULL);
    rc_buf_close(&b);
}

static void test_consume(void **state)
{
    struct rc_buf b;

    (void)state;
    rc_buf_init(&b, 64);
    assert_int_equal(rc_buf_append(&b, "abcdefgh", 8), 0);
    rc_buf_consume(&b, 3);
    assert_int_equal(rc_buf_used(&b), 5);
    assert_memory_equal(rc_buf_rptr(&b), "defgh", 5);
    rc_buf_consume(&b, 0);
    assert_int_equal(rc_buf_used(&b), 5);
    rc_buf_consume(&b, 5); /* all read: offsets rewind for free */
    assert_int_equal(rc_buf_used(&b), 0);
    assert_int_equal(b.start, 0);
    assert_int_equal(b.len, 0);
    rc_buf_close(&b);
}

static void test_compaction(void **state)
{
    uint8_t src[100], more[40];
    struct rc_buf b;
    uint8_t *before;

    (void)state;
    fill(src, sizeof(src), 4);
    fill(more, sizeof(more), 5);
    rc_buf_init(&b, 100);
    assert_int_equal(rc_buf_append(&b, src, 100), 0);
    rc_buf_consume(&b, 40); /* 60 unread, 40 consumed at the front */
    before = b.data;
    /* 60 + 41 > cap even though 40 bytes are reclaimable */
    assert_int_equal(rc_buf_append(&b, more, 41), RC_EBUFFER_FULL);
    assert_int_equal(rc_buf_used(&b), 60);
    assert_memory_equal(rc_buf_rptr(&b), src + 40, 60);
    /* 60 + 40 fits once the consumed prefix is dropped */
    assert_int_equal(rc_buf_append(&b, more, 40), 0);
    assert_int_equal(b.start, 0);
    assert_ptr_equal(b.data, before); /* compacted in place, no reallocation */
    assert_int_equal(b.alloc, 100);
    assert_int_equal(rc_buf_used(&b), 100);
    assert_memory_equal(rc_buf_rptr(&b), src + 40, 60);
    assert_memory_equal(rc_buf_rptr(&b) + 60, more, 40);
    rc_buf_close(&b);

    /* compaction while growing keeps the unread bytes too */
    rc_buf_init(&b, 10000);
    assert_int_equal(rc_buf_append(&b, src, 100), 0);
    rc_buf_consume(&b, 90);
    assert_int_equal(rc_buf_append(&b, NULL, 0), 0);
    assert_int_equal(rc_buf_reserve(&b, 5000), 0);
    assert_int_equal(rc_buf_used(&b), 10);
    assert_memory_equal(rc_buf_rptr(&b), src + 90, 10);
    rc_buf_close(&b);
}

static void test_reset_shrink_close(void **state)
{
    uint8_t src[5000];
    struct rc_buf b;
    size_t alloc;

    (void)state;
    fill(src, sizeof(src), 6);
    rc_buf_init(&b, 8192);
    assert_int_equal(rc_buf_append(&b, src, sizeof(src)), 0);
    alloc = b.alloc;
    rc_buf_shrink(&b, 0); /* not empty: must keep everything */
    assert_int_equal(b.alloc, alloc);
    assert_memory_equal(rc_buf_rptr(&b), src, sizeof(src));

    rc_buf_reset(&b); /* empties but keeps the allocation */
    assert_int_equal(rc_buf_used(&b), 0);
    assert_int_equal(b.alloc, alloc);
    rc_buf_shrink(&b, alloc); /* already within keep */
    assert_int_equal(b.alloc, alloc);
    rc_buf_shrink(&b, 1024); /* one big frame must not stay pinned */
    assert_true(b.alloc <= 1024);
    assert_int_equal(rc_buf_used(&b), 0);
    assert_int_equal(rc_buf_append(&b, "again", 5), 0); /* still usable */
    assert_memory_equal(rc_buf_rptr(&b), "again", 5);

    rc_buf_close(&b);
    assert_null(b.data);
    assert_int_equal(b.alloc, 0);
    assert_int_equal(rc_buf_used(&b), 0);
    assert_int_equal(b.cap, 8192); /* reusable with the same cap */
    assert_int_equal(rc_buf_append(&b, "x", 1), 0);
    rc_buf_close(&b);
    rc_buf_close(&b); /* closing twice is harmless */
}

static void test_enomem(void **state)
{
    struct rc_buf b;

    (void)state;
    rc_buf_init(&b, SIZE_MAX);
    assert_int_equal(rc_buf_append(&b, "abc", 3), 0);
    assert_int_equal(rc_buf_reserve(&b, (size_t)1 << 60), RC_ENOMEM);
    assert_int_equal(rc_buf_used(&b), 3);
    assert_memory_equal(rc_buf_rptr(&b), "abc", 3);
    assert_int_equal(rc_buf_append(&b, "d", 1), 0);
    rc_buf_close(&b);
}

static void test_read_space(void **state)
{
    struct rc_buf b;

    (void)state;
    rc_buf_init(&b, 100);
    assert_true(rc_buf_read_space(&b, 64) >= 64);
    rc_buf_commit(&b, 64);
    /* Near the cap only what is left is offered... */
    assert_int_equal(rc_buf_read_space(&b, 64), 36);
    rc_buf_commit(&b, 36);
    /* ...and nothing once full. */
    assert_int_equal(rc_buf_read_space(&b, 64), 0);
    rc_buf_consume(&b, 50);
    assert_true(rc_buf_read_space(&b, 64) >= 50);
    rc_buf_close(&b);
}

/* Formatted lines: appended as formatted, cut at RC_BUF_APPENDF_MAX. */
static void test_appendf(void **state)
{
    struct rc_buf b;
    char big[RC_BUF_APPENDF_MAX + 100];

    (void)state;
    rc_buf_init(&b, 4096);
    assert_int_equal(rc_buf_appendf(&b, "keys:%d,%s\r\n", 42, "x"), 0);
    assert_int_equal(rc_buf_used(&b), 11);
    assert_memory_equal(rc_buf_rptr(&b), "keys:42,x\r\n", 11);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(rc_buf_appendf(&b, "%s", big), 0);
    assert_int_equal(rc_buf_used(&b), 11 + RC_BUF_APPENDF_MAX);
    rc_buf_close(&b);
    /* A full buffer refuses, unchanged. */
    rc_buf_init(&b, 8);
    assert_int_equal(rc_buf_appendf(&b, "%s", "0123456789"), RC_EBUFFER_FULL);
    assert_int_equal(rc_buf_used(&b), 0);
    rc_buf_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_empty),  cmocka_unit_test(test_cap_enforced),
        cmocka_unit_test(test_appendf),
        cmocka_unit_test(test_growth),      cmocka_unit_test(test_reserve_commit),
        cmocka_unit_test(test_consume),     cmocka_unit_test(test_compaction),
        cmocka_unit_test(test_reset_shrink_close), cmocka_unit_test(test_enomem),
        cmocka_unit_test(test_read_space),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
