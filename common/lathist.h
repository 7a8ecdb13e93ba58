/*
 * lathist.h - a request latency histogram with fixed buckets, shaped for
 * Prometheus: cumulative bucket counts, a sum and a count.
 *
 * Fixed upper bounds (RC_LATHIST_BOUNDS_NS) rather than a log-linear
 * layout: a scrape exports every bucket as a series, so a few well chosen
 * bounds that span a local read (~50 us) to a replica timeout (1 s and
 * more) are worth more than precision; client/hist.h is the precise one
 * for the load generators. Observing costs a short linear scan. Pure: the
 * caller measures the time.
 */
#ifndef RC_LATHIST_H
#define RC_LATHIST_H

#include <stddef.h>
#include <stdint.h>

/* Upper bounds in ns, ascending; a last implicit bucket is +Inf. From a
 * read served by the node itself (tens of us) through quorum round trips
 * on a LAN (hundreds of us to ms) to a replica timeout (--replica-timeout,
 * 1 s by default, more with retried rounds). */
#define RC_LATHIST_NBOUNDS 16
extern const uint64_t rc_lathist_bounds_ns[RC_LATHIST_NBOUNDS];

struct rc_lathist {
    uint64_t counts[RC_LATHIST_NBOUNDS + 1]; /* per bucket, not cumulative; last: +Inf */
    uint64_t count;                          /* samples */
    uint64_t sum_ns;                         /* their sum (wraps after 584 years of latency) */
};

/* Zeroes h. */
void rc_lathist_init(struct rc_lathist *h);

/* Records one sample of ns nanoseconds. */
void rc_lathist_observe(struct rc_lathist *h, uint64_t ns);

/* Samples <= the i-th bound (i == RC_LATHIST_NBOUNDS: all of them): the
 * cumulative count Prometheus's le buckets carry. */
uint64_t rc_lathist_cumulative(const struct rc_lathist *h, size_t i);

#endif
