/*
 * strcmd.h - the arithmetic of Redis's string and expiry commands, as
 * Redis 7.0 does it, with no I/O: the slice GETRANGE returns, whether
 * EXPIRE NX|XX|GT|LT may set an expiry, what OBJECT ENCODING/REFCOUNT
 * report for a value. server/resp_strings.c runs the commands; these
 * answers are unit-tested against Redis's own (tests/unit/test_strcmd.c).
 */
#ifndef RC_STRCMD_H
#define RC_STRCMD_H

#include <stddef.h>
#include <stdint.h>

/* GETRANGE key start end on a value of len bytes (Redis's getrangeCommand:
 * negative indexes count from the end, both ends clamped, inclusive):
 * the slice is [*off, *off + *n); *n = 0 is the empty string. */
void rc_strcmd_range(size_t len, int64_t start, int64_t end, size_t *off, size_t *n);

/* EXPIRE's conditions (Redis 7). */
enum { RC_STRCMD_NX = 1, RC_STRCMD_XX = 2, RC_STRCMD_GT = 4, RC_STRCMD_LT = 8 };

/* Whether EXPIRE with flags may change the expiry of an existing key from
 * cur (absolute ms, -1: none, which GT/LT treat as infinite) to when.
 * 1 yes, 0 no (the command answers 0). */
int rc_strcmd_expire_ok(int flags, int64_t cur, int64_t when);

/* OBJECT ENCODING of a string value SET stored: "int" for an integer Redis
 * parses (string2ll, at most 20 characters), "embstr" up to 44 bytes,
 * "raw" beyond (static strings). *refcount gets what OBJECT REFCOUNT
 * says: INT_MAX for Redis's shared integers 0..9999, else 1. */
const char *rc_strcmd_encoding(const uint8_t *v, size_t len, int64_t *refcount);

#endif
