/*
 * hist.c - the load generators' latency histogram (see hist.h).
 */
#include "hist.h"

#include <math.h>

static size_t hist_index(uint64_t v)
{
    unsigned e;

    if (v < RC_HIST_SUB)
        return (size_t)v;
    e = 63u - (unsigned)__builtin_clzll(v); /* >= RC_HIST_SUB_BITS */
    return RC_HIST_SUB + (size_t)(e - RC_HIST_SUB_BITS) * RC_HIST_HALF +
           (size_t)((v >> (e - (RC_HIST_SUB_BITS - 1))) - RC_HIST_HALF);
}

/* Largest value that lands in bucket i. */
static uint64_t hist_upper(size_t i)
{
    size_t k;
    unsigned shift;

    if (i < RC_HIST_SUB)
        return i;
    k = i - RC_HIST_SUB;
    shift = (unsigned)(k / RC_HIST_HALF) + 1;
    return ((uint64_t)(RC_HIST_HALF + k % RC_HIST_HALF + 1) << shift) - 1;
}

void rc_hist_add(struct rc_hist *h, uint64_t v)
{
    h->counts[hist_index(v)]++;
    h->total++;
    if (v > h->max)
        h->max = v;
}

uint64_t rc_hist_pct(const struct rc_hist *h, double p)
{
    uint64_t want, seen = 0, v;
    size_t i;

    if (h->total == 0)
        return 0;
    want = (uint64_t)ceil(p / 100.0 * (double)h->total);
    if (want == 0)
        want = 1;
    for (i = 0; i < RC_HIST_LEN; i++) {
        seen += h->counts[i];
        if (seen >= want) {
            v = hist_upper(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}
