/*
 * test_err.c - error codes: every RC_ERR_MAP entry has its name, message
 * and wire status both ways; system errors pass through; unknown codes
 * and statuses degrade to safe answers instead of crashing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "err.h"

static const struct {
    int err;
    int status;
    const char *name;
    const char *msg;
} table[] = {
#define ROW(name, code, msg) {RC_E##name, code, #name, msg},
    RC_ERR_MAP(ROW)
#undef ROW
};

#define NTABLE (sizeof(table) / sizeof(table[0]))

static void test_table_entries(void **state)
{
    size_t i;

    (void)state;
    assert_true(NTABLE >= 22); /* entries are added, never removed */
    for (i = 0; i < NTABLE; i++) {
        assert_int_equal(table[i].err, -(RC_ERR_BASE + table[i].status));
        assert_true(table[i].err <= -RC_ERR_BASE - 1); /* never collides with errno */
        assert_string_equal(rc_err_name(table[i].err), table[i].name);
        assert_string_equal(rc_strerror(table[i].err), table[i].msg);
        assert_int_equal(rc_err_to_status(table[i].err), table[i].status);
        assert_int_equal(rc_err_from_status(table[i].status), table[i].err);
    }
}

/* Wire numbers are forever: spot-check the ones clients rely on most. */
static void test_wire_numbers_fixed(void **state)
{
    size_t i, j;

    (void)state;
    assert_int_equal(rc_err_to_status(RC_ENOTFOUND), 1);
    assert_int_equal(rc_err_to_status(RC_EPROTO), 2);
    assert_int_equal(rc_err_to_status(RC_EVERSION), 3);
    assert_int_equal(rc_err_to_status(RC_EFRAME_TOO_LARGE), 7);
    assert_int_equal(rc_err_to_status(RC_EIO), 11);
    assert_int_equal(rc_err_to_status(RC_EBUFFER_FULL), 20);
    assert_int_equal(rc_err_to_status(RC_ENOAUTH), 21);
    assert_int_equal(rc_err_to_status(RC_EWRONGPASS), 22);
    for (i = 0; i < NTABLE; i++) {
        assert_true(table[i].status > 0);
        for (j = i + 1; j < NTABLE; j++)
            assert_int_not_equal(table[i].status, table[j].status);
    }
}

static void test_success(void **state)
{
    (void)state;
    assert_string_equal(rc_err_name(0), "OK");
    assert_string_equal(rc_strerror(0), "success");
    assert_int_equal(rc_err_to_status(0), 0);
    assert_int_equal(rc_err_to_status(1), 0); /* positive results are not errors */
    assert_int_equal(rc_err_to_status(INT_MAX), 0);
    assert_int_equal(rc_err_from_status(0), 0);
}

static void test_errno_passthrough(void **state)
{
    static const int errs[] = {ENOENT, EPIPE, ECONNRESET, ENOSPC, EACCES, EAGAIN, EIO};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        assert_string_equal(rc_strerror(-errs[i]), strerror(errs[i]));
        /* A symbolic name, not one of ours nor "unknown". */
        assert_string_not_equal(rc_err_name(-errs[i]), "UNKNOWN");
        assert_string_not_equal(rc_err_name(-errs[i]), "OK");
        assert_true(strlen(rc_err_name(-errs[i])) > 0);
        /* System errors are never sent raw: they go out as IO. */
        assert_int_equal(rc_err_to_status(-errs[i]), rc_err_to_status(RC_EIO));
    }
    assert_string_equal(rc_strerror(-4095), "end of file"); /* UV_EOF */
    assert_int_equal(rc_err_to_status(-4095), rc_err_to_status(RC_EIO));
}

static void test_unknown_codes(void **state)
{
    static const int codes[] = {-RC_ERR_BASE, -RC_ERR_BASE - 99, -RC_ERR_BASE - 999,
                                -20000, -4096, INT_MIN};
    static const int statuses[] = {99, 100, 999, 1000, 1001, 99999, INT_MAX, -1, INT_MIN};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        assert_string_equal(rc_strerror(codes[i]), "unknown error");
        assert_string_equal(rc_err_name(codes[i]), "UNKNOWN");
        assert_int_equal(rc_err_to_status(codes[i]), rc_err_to_status(RC_EIO));
    }
    /* A status from a newer peer is still an error, just not a known one. */
    for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
        assert_int_equal(rc_err_from_status(statuses[i]), RC_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_entries),     cmocka_unit_test(test_wire_numbers_fixed),
        cmocka_unit_test(test_success),           cmocka_unit_test(test_errno_passthrough),
        cmocka_unit_test(test_unknown_codes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
