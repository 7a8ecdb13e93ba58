/*
 * test_strcmd.c - Redis's string and expiry arithmetic (common/strcmd.c)
 * against answers redis-server 7.0 gave: GETRANGE slices on "hello"
 * (negative, clamped, extreme indexes), the EXPIRE NX/XX/GT/LT table, and
 * OBJECT ENCODING/REFCOUNT of values at each boundary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "strcmd.h"

struct range_case {
    int64_t start, end;
    const char *want;
};

static void test_range(void **state)
{
    /* redis-cli: SET k hello; GETRANGE k <start> <end> */
    static const struct range_case cases[] = {
        {0, -1, "hello"},          {-3, -1, "llo"},       {-100, 100, "hello"},
        {4, 1, ""},                {-1, -5, ""},          {2, 2, "l"},
        {10, 20, ""},              {0, INT64_MAX, "hello"}, {INT64_MIN, -1, "hello"},
        {INT64_MIN, INT64_MIN, "h"}, {INT64_MAX, -1, ""}, {-5, -5, "h"},
        {1, 3, "ell"},             {0, 0, "h"},           {-1, -1, "o"},
    };
    const char *v = "hello";
    size_t i, off, n;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rc_strcmd_range(5, cases[i].start, cases[i].end, &off, &n);
        assert_int_equal(n, strlen(cases[i].want));
        assert_memory_equal(v + off, cases[i].want, n);
    }
    /* A missing key or an empty value: always the empty string. */
    rc_strcmd_range(0, 0, -1, &off, &n);
    assert_int_equal(n, 0);
    rc_strcmd_range(0, -1, 0, &off, &n);
    assert_int_equal(n, 0);
}

struct expire_case {
    int flags;
    int64_t cur, when;
    int want;
};

static void test_expire_flags(void **state)
{
    static const struct expire_case cases[] = {
        {0, -1, 10, 1},
        {0, 5, 1, 1},
        {RC_STRCMD_NX, -1, 10, 1},
        {RC_STRCMD_NX, 5, 10, 0},
        {RC_STRCMD_XX, -1, 10, 0},
        {RC_STRCMD_XX, 5, 10, 1},
        {RC_STRCMD_GT, -1, 10, 0}, /* no expiry is infinite: nothing is greater */
        {RC_STRCMD_GT, 5, 10, 1},
        {RC_STRCMD_GT, 5, 5, 0},
        {RC_STRCMD_GT, 5, 4, 0},
        {RC_STRCMD_LT, -1, 10, 1}, /* anything is less than infinite */
        {RC_STRCMD_LT, 5, 4, 1},
        {RC_STRCMD_LT, 5, 5, 0},
        {RC_STRCMD_LT, 5, 10, 0},
        {RC_STRCMD_XX | RC_STRCMD_GT, -1, 10, 0},
        {RC_STRCMD_XX | RC_STRCMD_GT, 5, 10, 1},
        {RC_STRCMD_XX | RC_STRCMD_LT, -1, 1, 0},
        {RC_STRCMD_XX | RC_STRCMD_LT, 5, 1, 1},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(rc_strcmd_expire_ok(cases[i].flags, cases[i].cur, cases[i].when),
                         cases[i].want);
}

struct enc_case {
    const char *value;
    const char *enc;
    int64_t refcount;
};

static void test_encoding(void **state)
{
    /* redis-cli: SET k <value>; OBJECT ENCODING k; OBJECT REFCOUNT k */
    static const struct enc_case cases[] = {
        {"123", "int", 2147483647},
        {"0", "int", 2147483647},
        {"9999", "int", 2147483647},
        {"10000", "int", 1},
        {"12345", "int", 1},
        {"-5", "int", 1},
        {"-1", "int", 1},
        {"-9223372036854775808", "int", 1},
        {"12345678901234567890", "embstr", 1}, /* over 64 bits */
        {"007", "embstr", 1},
        {"+1", "embstr", 1},
        {" 1", "embstr", 1},
        {"-0", "embstr", 1},
        {"", "embstr", 1},
        {"v", "embstr", 1},
        {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "embstr", 1}, /* 44 */
        {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "raw", 1},   /* 45 */
    };
    int64_t refs;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *v = cases[i].value;

        assert_string_equal(rc_strcmd_encoding((const uint8_t *)v, strlen(v), &refs),
                            cases[i].enc);
        assert_int_equal(refs, cases[i].refcount);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_expire_flags),
        cmocka_unit_test(test_encoding),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
