/*
 * hlc.c - hybrid logical clock (see hlc.h).
 */
#include "hlc.h"
#include "err.h"

void rc_hlc_init(struct rc_hlc *h, uint64_t max_drift_ms)
{
    h->last = 0;
    h->max_drift_ms = max_drift_ms;
}

/* The smallest timestamp that is > both floor and the wall clock. When the
 * counter of the current millisecond is exhausted we step into the next
 * millisecond rather than wrap: the clock runs marginally ahead for a
 * moment, which is harmless, while wrapping would go backwards. */
static uint64_t next_after(uint64_t floor, uint64_t wall_ms)
{
    uint64_t wall = rc_hlc_make(wall_ms, 0);

    if (wall > floor)
        return wall;
    return floor + 1;
}

uint64_t rc_hlc_now(struct rc_hlc *h, uint64_t wall_ms)
{
    h->last = next_after(h->last, wall_ms);
    return h->last;
}

int rc_hlc_update(struct rc_hlc *h, uint64_t remote, uint64_t wall_ms, uint64_t *out)
{
    uint64_t floor;

    if (rc_hlc_ms(remote) > wall_ms + h->max_drift_ms)
        return RC_EDRIFT;
    floor = remote > h->last ? remote : h->last;
    h->last = next_after(floor, wall_ms);
    *out = h->last;
    return 0;
}
