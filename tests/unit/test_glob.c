/*
 * test_glob.c - common/glob.c against Redis's answers: every pattern x
 * subject below was put to redis-server 7.0.15 (KEYS over exactly these
 * keys) and the bits record what it returned; the integration test
 * (tests/integration/test_keyspace.c) also compares live.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "glob.h"

struct vec {
    const char *pattern;
    const char *bits;
};

static const char *const subjects[] = {"hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "h?llo", "h[a]llo", "h\\llo", "ab", "a-b", "a]b", "a^b", "abc", "ABC", "x", "a*b*c", "aXbYc", "[", "]", "\\", "-", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"};
/* pattern, then a bit per subject (1: Redis 7.0.15's KEYS returned it) */
static const struct vec vectors[] = {
    {"*", "11111111111111111111111"},
    {"h?llo", "11100110100000000000000"},
    {"h*llo", "11111111100000000000000"},
    {"h[ae]llo", "11000000000000000000000"},
    {"h[^e]llo", "01100110100000000000000"},
    {"h[a-b]llo", "01000000000000000000000"},
    {"h[b-a]llo", "01000000000000000000000"},
    {"h\\*llo", "00000100000000000000000"},
    {"h[\\]]*", "00000000000000000000000"},
    {"a[]]b", "00000000000000000000000"},
    {"a[^]]b", "00000000000000000000000"},
    {"a[-]b", "00000000001000000000000"},
    {"a[", "00000000000000000000000"},
    {"[", "00000000000000000000000"},
    {"\\[", "00000000000000000010000"},
    {"\\\\", "00000000000000000000100"},
    {"*\\", "00000000000000000000100"},
    {"a*b*c", "00000000000001001100000"},
    {"a*b*c*", "00000000000001001100000"},
    {"?", "00000000000000010011110"},
    {"[a-c]", "00000000000000000000000"},
    {"[^a-c]", "00000000000000010011110"},
    {"h[a-", "00000000000000000000000"},
    {"[]", "00000000000000000000000"},
    {"[\\", "00000000000000000000100"},
    {"a\\", "00000000000000000000000"},
    {"a*a*a*a*a*a*a*a*a*a*b", "00000000000000000000001"},
    {"A*", "00000000000000100000000"},
    {"*llo", "11111111100000000000000"},
    {"a[]-]b", "00000000000000000000000"},
    {"a[\\-]b", "00000000001000000000000"},
    {"[]]", "00000000000000000000000"},
    {"**b", "00000000011110000000001"},
    {"a?", "00000000010000000000000"},
    {"?b", "00000000010000000000000"},
};

static void test_redis_vectors(void **state)
{
    size_t i, k, ns = sizeof(subjects) / sizeof(subjects[0]);

    (void)state;
    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        assert_int_equal(strlen(vectors[i].bits), ns);
        for (k = 0; k < ns; k++) {
            int want = vectors[i].bits[k] == '1';
            int got = rc_glob_match(vectors[i].pattern, strlen(vectors[i].pattern), subjects[k],
                                    strlen(subjects[k]), 0);

            if (got != want)
                printf("pattern '%s' subject '%s': got %d, Redis %d\n", vectors[i].pattern,
                       subjects[k], got, want);
            assert_int_equal(got, want);
        }
    }
}

/* Lengths, not NULs: bytes past the length are never read, and a NUL
 * inside is an ordinary byte. */
static void test_lengths(void **state)
{
    (void)state;
    assert_true(rc_glob_match("ab*", 2, "ab", 2, 0));
    assert_false(rc_glob_match("ab*", 2, "abc", 3, 0));
    assert_true(rc_glob_match("a\0b", 3, "a\0b", 3, 0));
    assert_true(rc_glob_match("a?b", 3, "a\0b", 3, 0));
    assert_false(rc_glob_match("a[", 2, "a[", 2, 0));
    assert_true(rc_glob_match("", 0, "", 0, 0));
    assert_false(rc_glob_match("", 0, "a", 1, 0));
    /* As Redis's stringmatchlen: "*" does not match the empty string
     * (KEYS * and MATCH * skip the match altogether, here as there). */
    assert_false(rc_glob_match("*", 1, "", 0, 0));
    assert_true(rc_glob_match("\xff*", 2, "\xff\xfe", 2, 0));
}

static void test_nocase(void **state)
{
    (void)state;
    assert_true(rc_glob_match("HeLLo", 5, "hello", 5, 1));
    assert_false(rc_glob_match("HeLLo", 5, "hello", 5, 0));
    assert_true(rc_glob_match("h[A-Z]llo", 9, "hello", 5, 1));
}

/* Many stars against a long non-matching subject: Redis's skip-longer
 * cut keeps it linear-ish (without it this takes hours). */
static void test_star_blowup(void **state)
{
    char subject[4096], pattern[256];
    size_t i;

    (void)state;
    memset(subject, 'a', sizeof(subject));
    for (i = 0; i + 2 < sizeof(pattern); i += 2) {
        pattern[i] = 'a';
        pattern[i + 1] = '*';
    }
    pattern[sizeof(pattern) - 2] = 'b';
    assert_false(rc_glob_match(pattern, sizeof(pattern) - 1, subject, sizeof(subject), 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_vectors),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_nocase),
        cmocka_unit_test(test_star_blowup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
