/*
 * glob.c - Redis's stringmatchlen, bounds-checked (see glob.h).
 *
 * Redis reads its pattern as an sds and relies on the NUL after it in a
 * few places (an unclosed class, trailing stars); here every read is
 * checked against the length instead, which gives the same answers since
 * a NUL is never '\\', ']', '-' or '*'.
 */
#include "glob.h"

#include <ctype.h>

/* Redis's cap: deeper star recursion is a no-match. */
#define GLOB_MAX_NESTING 1000

static int fold(int c, int nocase)
{
    return nocase ? tolower(c) : c;
}

/* One class "[...]" starting after the '['; *pp / *plen advance to its
 * ']' (or to the last byte when unclosed). 1 when c is in it. */
static int class_match(const unsigned char **pp, size_t *plen, int c, int nocase)
{
    const unsigned char *p = *pp;
    size_t n = *plen;
    int neg, match = 0;

    neg = n > 0 && p[0] == '^';
    if (neg) {
        p++;
        n--;
    }
    for (;;) {
        if (n == 0) { /* unclosed: stay on the last byte, as Redis */
            p--;
            n++;
            break;
        }
        if (p[0] == '\\' && n >= 2) {
            p++;
            n--;
            if (p[0] == c)
                match = 1;
        } else if (p[0] == ']') {
            break;
        } else if (n >= 3 && p[1] == '-') {
            int lo = p[0], hi = p[2], t;

            if (lo > hi) {
                t = lo;
                lo = hi;
                hi = t;
            }
            if (fold(c, nocase) >= fold(lo, nocase) && fold(c, nocase) <= fold(hi, nocase))
                match = 1;
            p += 2;
            n -= 2;
        } else if (fold(p[0], nocase) == fold(c, nocase)) {
            match = 1;
        }
        p++;
        n--;
    }
    *pp = p;
    *plen = n;
    return neg ? !match : match;
}

static int match_impl(const unsigned char *p, size_t plen, const unsigned char *s, size_t slen,
                      int nocase, int *skip_longer, int nesting)
{
    if (nesting > GLOB_MAX_NESTING)
        return 0;
    while (plen && slen) {
        switch (p[0]) {
        case '*':
            while (plen > 1 && p[1] == '*') {
                p++;
                plen--;
            }
            if (plen == 1)
                return 1;
            while (slen) {
                if (match_impl(p + 1, plen - 1, s, slen, nocase, skip_longer, nesting + 1))
                    return 1;
                if (*skip_longer)
                    return 0;
                s++;
                slen--;
            }
            /* The rest matches nowhere in the rest of s: an earlier star
             * taking more cannot help either (Redis's argument). */
            *skip_longer = 1;
            return 0;
        case '?':
            s++;
            slen--;
            break;
        case '[':
            p++;
            plen--;
            if (!class_match(&p, &plen, s[0], nocase))
                return 0;
            s++;
            slen--;
            break;
        case '\\':
            if (plen >= 2) {
                p++;
                plen--;
            }
            /* fall through */
        default:
            if (fold(p[0], nocase) != fold(s[0], nocase))
                return 0;
            s++;
            slen--;
            break;
        }
        p++;
        plen--;
        if (slen == 0) {
            while (plen && p[0] == '*') {
                p++;
                plen--;
            }
            break;
        }
    }
    return plen == 0 && slen == 0;
}

int rc_glob_match(const char *p, size_t plen, const char *s, size_t slen, int nocase)
{
    int skip = 0;

    return match_impl((const unsigned char *)p, plen, (const unsigned char *)s, slen, nocase,
                      &skip, 0);
}
