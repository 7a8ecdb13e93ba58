/*
 * hist.h - a latency histogram for the load generators: fixed size,
 * HdrHistogram's log-linear layout, accurate to 1 % at the cost of an
 * increment per sample.
 */
#ifndef RC_HIST_H
#define RC_HIST_H

#include <stddef.h>
#include <stdint.h>

/* Histogram: 2^RC_HIST_SUB_BITS linear sub-buckets per power of two, i.e.
 * values are kept to within 1/128 (0.8%); all of uint64 ns fits in 59 KiB. */
#define RC_HIST_SUB_BITS 8
#define RC_HIST_SUB (1u << RC_HIST_SUB_BITS)
#define RC_HIST_HALF (RC_HIST_SUB / 2)
#define RC_HIST_LEN (RC_HIST_SUB + (64 - RC_HIST_SUB_BITS) * RC_HIST_HALF)

struct rc_hist {
    uint64_t counts[RC_HIST_LEN];
    uint64_t total, max;
};

/* Records one sample (any unit; the load generators use ns). */
void rc_hist_add(struct rc_hist *h, uint64_t v);

/* The p-th percentile (0 < p <= 100): the upper edge of its bucket, at
 * most the largest sample; 0 when empty. */
uint64_t rc_hist_pct(const struct rc_hist *h, double p);

#endif
