/*
 * expcount.c - counts of expiry times, and how many have passed (see
 * expcount.h). Open addressing with linear probing; a free slot has
 * when == 0, which no tracked time is.
 */
#include "expcount.h"
#include "err.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* First table: 64 slots (768 bytes), enough for a test or a quiet node. */
#define MIN_CAP 64

static size_t slot_of(int64_t t, size_t cap)
{
    /* Fibonacci hashing: expiry times are clustered (ms apart), and the
     * multiply spreads neighbours over the table. */
    return (size_t)(((uint64_t)t * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

/* The slot holding t, or the free slot where it would go; SIZE_MAX when
 * the table has none (cap 0). */
static size_t find(const struct rc_expcount *e, int64_t t)
{
    size_t i;

    if (e->cap == 0)
        return SIZE_MAX;
    for (i = slot_of(t, e->cap); e->when[i] != 0 && e->when[i] != t; i = (i + 1) & (e->cap - 1))
        ;
    return i;
}

static uint32_t count_at(const struct rc_expcount *e, int64_t t)
{
    size_t i = find(e, t);

    return i != SIZE_MAX && e->when[i] == t ? e->n[i] : 0;
}

void rc_expcount_init(struct rc_expcount *e)
{
    memset(e, 0, sizeof(*e));
}

void rc_expcount_close(struct rc_expcount *e)
{
    free(e->when);
    free(e->n);
    rc_expcount_init(e);
}

/* Moves the slots into a table of cap slots, dropping emptied ones when
 * compact. 0 or RC_ENOMEM (unchanged). */
static int rebuild(struct rc_expcount *e, size_t cap, int compact)
{
    struct rc_expcount t = *e;
    size_t i, j;

    t.when = calloc(cap, sizeof(*t.when));
    t.n = calloc(cap, sizeof(*t.n));
    if (t.when == NULL || t.n == NULL) {
        free(t.when);
        free(t.n);
        return RC_ENOMEM;
    }
    t.cap = cap;
    t.used = t.emptied = 0;
    for (i = 0; i < e->cap; i++) {
        if (e->when[i] == 0 || (compact && e->n[i] == 0))
            continue;
        j = find(&t, e->when[i]);
        t.when[j] = e->when[i];
        t.n[j] = e->n[i];
        t.used++;
        t.emptied += e->n[i] == 0;
    }
    free(e->when);
    free(e->n);
    *e = t;
    return 0;
}

int rc_expcount_reserve(struct rc_expcount *e, size_t more, int compact)
{
    size_t keep, cap;

    /* Compacting pays once emptied slots are half of those in use. */
    if (compact && e->emptied > 0 && e->emptied * 2 >= e->used) {
        keep = e->used - e->emptied;
    } else {
        compact = 0;
        keep = e->used;
        if (e->cap > 0 && keep + more <= e->cap / 2)
            return 0; /* load stays at most 1/2 */
    }
    for (cap = MIN_CAP; cap / 2 < keep + more; cap *= 2)
        if (cap > SIZE_MAX / 4)
            return RC_ENOMEM;
    return rebuild(e, cap, compact);
}

void rc_expcount_add(struct rc_expcount *e, int64_t t, int sign)
{
    size_t i;

    if (t <= 0)
        return;
    i = find(e, t);
    if (i == SIZE_MAX || e->when[i] != t) {
        /* Room was reserved before any addition of a new time, and a
         * removal matches an addition whose slot stays until compaction.
         * The table never fills up, so that find always ends. */
        assert(sign > 0 && i != SIZE_MAX && e->used + 1 < e->cap);
        if (sign < 0 || i == SIZE_MAX || e->used + 1 >= e->cap)
            return;
        e->when[i] = t;
        e->n[i] = 0;
        e->used++;
    } else if (e->n[i] == 0) {
        assert(sign > 0); /* a removal without its addition */
        if (sign < 0)
            return;
        e->emptied--;
    }
    e->n[i] = (uint32_t)((int64_t)e->n[i] + sign);
    if (e->n[i] == 0)
        e->emptied++;
    e->total += sign;
    e->sum_s += sign * (t / 1000);
    e->sum_ms += sign * (t % 1000);
    if (t <= e->mark) {
        e->passed += sign;
        e->passed_s += sign * (t / 1000);
        e->passed_ms += sign * (t % 1000);
    }
}

/* What count_between adds up. */
struct span {
    int64_t n, s, ms;
};

static void span_add(struct span *sp, int64_t t, int64_t n)
{
    sp->n += n;
    sp->s += n * (t / 1000);
    sp->ms += n * (t % 1000);
}

/* The counts of times in (lo, hi] and their sums: one lookup per
 * millisecond, or one pass over the table when that is shorter. */
static struct span count_between(const struct rc_expcount *e, int64_t lo, int64_t hi)
{
    struct span sp = {0, 0, 0};
    int64_t t;
    size_t i;

    if (e->total == 0 || hi <= lo)
        return sp;
    if ((uint64_t)hi - (uint64_t)lo <= e->cap) {
        for (t = lo + 1; t <= hi; t++)
            span_add(&sp, t, count_at(e, t));
        return sp;
    }
    for (i = 0; i < e->cap; i++)
        if (e->when[i] > lo && e->when[i] <= hi)
            span_add(&sp, e->when[i], e->n[i]);
    return sp;
}

int64_t rc_expcount_passed(struct rc_expcount *e, int64_t now)
{
    struct span sp;
    int sign = 1;

    if (now > e->mark) {
        sp = count_between(e, e->mark, now);
    } else { /* the clock went back (or stood still: nothing) */
        sp = count_between(e, now, e->mark);
        sign = -1;
    }
    e->passed += sign * sp.n;
    e->passed_s += sign * sp.s;
    e->passed_ms += sign * sp.ms;
    e->mark = now;
    return e->passed;
}

int64_t rc_expcount_ahead(struct rc_expcount *e, int64_t now, int64_t *avg_ahead_ms)
{
    int64_t n = e->total - rc_expcount_passed(e, now);
    double sum;

    *avg_ahead_ms = 0;
    if (n <= 0)
        return 0;
    sum = (double)(e->sum_s - e->passed_s) * 1000.0 + (double)(e->sum_ms - e->passed_ms);
    *avg_ahead_ms = (int64_t)(sum / (double)n - (double)now + 0.5);
    return n;
}

size_t rc_expcount_mem(const struct rc_expcount *e)
{
    return e->cap * (sizeof(*e->when) + sizeof(*e->n));
}
