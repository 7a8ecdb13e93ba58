/*
 * hlc.h - hybrid logical clock (Kulkarni et al., "Logical Physical Clocks").
 *
 * A timestamp is 64 bits: the high 48 are milliseconds since the Unix epoch,
 * the low 16 a counter for events within the same millisecond. Timestamps
 * stay close to wall time (so TTLs and last-writer-wins agree with what
 * people expect) yet never go backwards and always exceed every timestamp
 * the node has seen, so causally later writes win. The wall clock is passed
 * in, which keeps this module pure and testable with a fake clock.
 */
#ifndef RC_HLC_H
#define RC_HLC_H

#include <stdint.h>

#define RC_HLC_LOGICAL_BITS 16
#define RC_HLC_LOGICAL_MASK ((1u << RC_HLC_LOGICAL_BITS) - 1)

struct rc_hlc {
    uint64_t last;         /* newest timestamp issued or seen */
    uint64_t max_drift_ms; /* remote clocks further ahead than this are rejected */
};

void rc_hlc_init(struct rc_hlc *h, uint64_t max_drift_ms);

static inline uint64_t rc_hlc_make(uint64_t ms, uint32_t logical)
{
    return (ms << RC_HLC_LOGICAL_BITS) | (logical & RC_HLC_LOGICAL_MASK);
}
static inline uint64_t rc_hlc_ms(uint64_t ts) { return ts >> RC_HLC_LOGICAL_BITS; }
static inline uint32_t rc_hlc_logical(uint64_t ts) { return (uint32_t)(ts & RC_HLC_LOGICAL_MASK); }

/* Timestamp for a local event (a write this node coordinates). */
uint64_t rc_hlc_now(struct rc_hlc *h, uint64_t wall_ms);

/*
 * Merge a timestamp received from a peer. Returns 0 and sets *out to a
 * timestamp greater than both the remote one and every earlier one, or
 * RC_EDRIFT (state unchanged) when the remote physical time is more than
 * max_drift_ms ahead of wall_ms: adopting it would drag this node's clock
 * into the future and let that peer's writes win forever.
 */
int rc_hlc_update(struct rc_hlc *h, uint64_t remote, uint64_t wall_ms, uint64_t *out);

#endif
