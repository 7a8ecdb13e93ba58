/*
 * expcount.h - how many of a multiset of expiry times have passed.
 *
 * The memory store (memkv.c) has no index on expiry: its purge walks the
 * ring, so an expired value may wait a minute to be removed, and counting
 * the live values exactly would take a walk of every entry. This keeps
 * the expiry time of every value that has one, as a count per distinct
 * millisecond in a hash table, and a running count of those at or before
 * a watermark. Moving the watermark to now costs one lookup per
 * millisecond the clock moved (or one pass over the table, if that is
 * fewer): ~1,000 lookups for a question a second, independent of the
 * number of values. Memory: 12 bytes per slot, at most 2 slots per
 * distinct expiry millisecond held (plus emptied ones until compacted).
 *
 * Adding and removing never allocate, so a caller can keep the counts in
 * step from a function that cannot fail (memkv's undo path): it reserves
 * room first (rc_expcount_reserve), where a failure can still be
 * reported. Emptied slots are kept until a compacting reserve, so an undo
 * that brings a removed time back always finds its slot. Pure data
 * structure: no clock, no I/O.
 */
#ifndef RC_EXPCOUNT_H
#define RC_EXPCOUNT_H

#include <stddef.h>
#include <stdint.h>

struct rc_expcount {
    int64_t *when;   /* slot -> expiry time (Unix ms); 0 = free */
    uint32_t *n;     /* slot -> how many times equal when; 0 = emptied, kept */
    size_t cap;      /* slots, a power of two; 0 until the first reserve */
    size_t used;     /* slots with when != 0 */
    size_t emptied;  /* of which with n == 0 */
    int64_t total;   /* times held */
    int64_t mark;    /* every held time <= mark is counted in passed */
    int64_t passed;
    /* Sums of the held times, and of those counted in passed, as whole
     * seconds plus milliseconds (each part an exact int64 for billions of
     * times, where one sum in ms would overflow past ~5 million): the
     * average expiry of the times still ahead, without a walk. */
    int64_t sum_s, sum_ms, passed_s, passed_ms;
};

void rc_expcount_init(struct rc_expcount *e);
void rc_expcount_close(struct rc_expcount *e);

/*
 * Makes room so that the next `more` additions of new distinct times
 * succeed without allocating. compact = 1 also drops emptied slots,
 * which is only safe when no caller relies on them (no undo pending).
 * 0 or RC_ENOMEM (nothing changed).
 */
int rc_expcount_reserve(struct rc_expcount *e, size_t more, int compact);

/*
 * Adds (sign 1) or removes (sign -1) one occurrence of time t (> 0; other
 * values are ignored). A removal must match an earlier addition; an
 * addition of a time without a slot needs room reserved before.
 */
void rc_expcount_add(struct rc_expcount *e, int64_t t, int sign);

/* How many held times are <= now (moves the watermark to now). */
int64_t rc_expcount_passed(struct rc_expcount *e, int64_t now);

/* How many held times are > now, and (when any) their average minus now
 * in ms into *avg_ahead_ms (0 when none): Redis's avg_ttl, exact. Moves
 * the watermark to now. */
int64_t rc_expcount_ahead(struct rc_expcount *e, int64_t now, int64_t *avg_ahead_ms);

/* Bytes allocated. */
size_t rc_expcount_mem(const struct rc_expcount *e);

#endif
