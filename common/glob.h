/*
 * glob.h - Redis's glob-style pattern match (KEYS, SCAN MATCH).
 *
 * The same semantics as Redis's stringmatchlen (util.c): `*` any run of
 * bytes, `?` one byte, `[abc]` / `[^abc]` / `[a-z]` a class (a reversed
 * range is swapped, an unclosed class ends at the pattern's end), `\x` the
 * byte x; everything else matches itself. Bytes, not characters; both
 * pattern and subject are length-delimited (no NUL needed). Redis's
 * protections are kept: a nesting cap on `*` recursion and the
 * "skip longer matches" cut, so a pattern of many stars cannot make a
 * match exponential.
 */
#ifndef RC_GLOB_H
#define RC_GLOB_H

#include <stddef.h>

/* 1 when s matches the pattern p, else 0. nocase: ASCII case-insensitive. */
int rc_glob_match(const char *p, size_t plen, const char *s, size_t slen, int nocase);

#endif
