/*
 * lathist.c - fixed-bucket latency histogram (see lathist.h).
 */
#include "lathist.h"

#include <string.h>

#define US 1000ull
#define MS 1000000ull
#define S 1000000000ull

const uint64_t rc_lathist_bounds_ns[RC_LATHIST_NBOUNDS] = {
    50 * US,  100 * US, 250 * US, 500 * US, 1 * MS, 2500 * US, 5 * MS, 10 * MS,
    25 * MS,  50 * MS,  100 * MS, 250 * MS, 500 * MS, 1 * S,   2500 * MS, 5 * S,
};

void rc_lathist_init(struct rc_lathist *h)
{
    memset(h, 0, sizeof(*h));
}

void rc_lathist_observe(struct rc_lathist *h, uint64_t ns)
{
    size_t i = 0;

    while (i < RC_LATHIST_NBOUNDS && ns > rc_lathist_bounds_ns[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum_ns += ns;
}

uint64_t rc_lathist_cumulative(const struct rc_lathist *h, size_t i)
{
    uint64_t c = 0;
    size_t j;

    if (i > RC_LATHIST_NBOUNDS)
        i = RC_LATHIST_NBOUNDS;
    for (j = 0; j <= i; j++)
        c += h->counts[j];
    return c;
}
