/*
 * skew.h - clock offsets between members, estimated from what they stamp.
 *
 * NTP's arithmetic on gossip probes: a ping sent at t0 and acknowledged
 * at t3 (both on our wall clock) by a peer that stamped t1 in its ack says
 * the peer's clock is t1 - (t0 + t3) / 2 ahead of ours, give or take half
 * the round trip. Per member the last RC_SKEW_SAMPLES samples are kept and
 * the one with the shortest round trip is believed (NTP's clock filter):
 * queueing only ever lengthens a round trip, so the shortest is the least
 * distorted. One-way samples (a stamp read on arrival, e.g. from a
 * datagram refused for its stamp) only count when no round trip is known.
 * Pure: no clocks; the caller passes the time in. server/gossip_clock.c
 * and server/gossip_pp.c feed it.
 */
#ifndef RC_SKEW_H
#define RC_SKEW_H

#include <stddef.h>
#include <stdint.h>

/* Samples kept per member. A member is probed every (n - 1) gossip
 * periods, so 8 samples span 5 s at n = 3 and 10 s at n = 5: enough for a
 * short round trip to be among them, short enough that a clock stepped
 * by NTP (or an operator) shows within seconds. */
#define RC_SKEW_SAMPLES 8
/* A member not sampled for this long has no estimate. Long, because a
 * node refused by every peer for its clock hears its seeds only through
 * the joins it retries, at most every 30 s per seed (gossip.h). */
#define RC_SKEW_TTL_MS 120000
/* Samples taken this long before a member's newest one no longer count:
 * while it answers probes, round trips arrive every (n - 1) gossip
 * periods, far more often, so a one-way stamp (which a replay could fake)
 * never outranks them; once it stops answering (refused for its clock),
 * its one-way stamps take over within this time rather than the TTL. */
#define RC_SKEW_SUPERSEDED_MS 30000
/* Offsets beyond this (in either direction) are counted as "skewed" in
 * STATS and logged: far above the estimate's error on a LAN (half a round
 * trip, a millisecond), yet below the skew at which last-writer-wins
 * visibly reorders writes a client makes one after another (issue 12 saw
 * writes lost with a clock 1 s ahead), and the seal's old boot slack. */
#define RC_SKEW_WARN_MS 1000
/* A sample this far from the current estimate means the clock was
 * stepped (by NTP, an operator, a VM resumed): the older samples are
 * dropped rather than outvoting it for RC_SKEW_SAMPLES probes. Far above
 * half of any round trip a healthy cluster sees, so noise never does it.
 * One-way samples (RC_SKEW_ONEWAY) never do it: a replayed datagram
 * carries an old stamp, and must not be able to move an estimate. */
#define RC_SKEW_STEP_MS 5000
/* Round trip recorded for a one-way sample: larger than any real one, so
 * a round-trip sample of the same member is always preferred. */
#define RC_SKEW_ONEWAY UINT32_MAX
/* Round trip recorded for a one-way stamp known not to be a replay: a
 * push-pull request read by its responder (a fresh sealed stream), or a
 * datagram stamped ahead of our clock (a replay is older than the
 * original, never newer). It outranks RC_SKEW_ONEWAY and may show a step.
 * A push-pull request's stamp is taken before the connect and the key
 * handshake, a round trip and a half; 2 s covers that on any network a
 * cluster runs on. */
#define RC_SKEW_FRESH_ONEWAY_MS 2000

struct rc_skew_sample {
    int64_t offset_ms; /* the member's clock minus ours */
    uint32_t rtt_ms;   /* RC_SKEW_ONEWAY: one-way */
    uint64_t at_ms;    /* when taken, caller's clock */
};

struct rc_skew_member {
    uint64_t id;
    uint64_t last_ms; /* newest sample */
    uint32_t n, next; /* samples held; slot the next one goes to */
    struct rc_skew_sample s[RC_SKEW_SAMPLES];
    uint32_t clocks;     /* clocks it stands for in the median (rc_skew_vouch); 0 = 1 */
    uint64_t clocks_ms;  /* when that was said */
};

/* One entry of the median: an offset and how many clocks it stands for. */
struct rc_skew_point {
    int64_t offset_ms;
    uint32_t clocks;
};

/* Caller-owned table (init/close); at most cap members, the one sampled
 * least recently is forgotten first. */
struct rc_skew {
    uint32_t cap, n;
    struct rc_skew_member *m;
    struct rc_skew_point *scratch; /* cap + 1 entries for the median */
};

/* What the table says at one moment (rc_skew_summary). */
struct rc_skew_view {
    uint32_t npeers;  /* members with an estimate */
    uint32_t nclocks; /* clocks in the median: ours, and each peer's times its vouching */
    int64_t ahead_ms; /* our clock minus the median clock (positive: we are ahead) */
    int64_t spread_ms; /* largest minus smallest peer offset (0 with < 2 peers) */
    uint32_t skewed;  /* peers whose offset from us exceeds RC_SKEW_WARN_MS */
    uint64_t worst_id; /* peer farthest from the median; 0 when none */
    int64_t worst_ms; /* its clock minus the median clock */
};

/* 0 or RC_ENOMEM (then close is still safe). cap >= 1. */
int rc_skew_init(struct rc_skew *k, uint32_t cap);
void rc_skew_close(struct rc_skew *k);

/* Records a sample for member id (!= 0), taken at now_ms. */
void rc_skew_add(struct rc_skew *k, uint64_t id, int64_t offset_ms, uint32_t rtt_ms,
                 uint64_t now_ms);

/* The NTP-style sample of a round trip: t0 send, t3 receipt (our wall
 * clock), t1 the peer's stamp (its wall clock), all Unix ms. */
int64_t rc_skew_offset_of(uint64_t t0, uint64_t t1, uint64_t t3);

/*
 * Member id (which must have a sample) vouches for `clocks` clocks, its
 * own included: it counts that many times in the median until
 * RC_SKEW_TTL_MS after now_ms, and only while it is the one member with
 * an estimate. For a peer that refused us for our stamp (beyond the
 * cluster key's window) while it lists clocks - 1 other live members:
 * they are within the window of its clock, so a node that hears only that
 * one peer (a lone seed) can still tell that its own clock is the one
 * that is off, not the seed's. Only then: a node that measures others
 * needs nobody's word, and a peer's "alive" list lags its view by a
 * suspicion timeout (a node whose clock just jumped still lists its old
 * peers alive, and would vouch for clocks 90 s from its own).
 */
void rc_skew_vouch(struct rc_skew *k, uint64_t id, uint32_t clocks, uint64_t now_ms);

/* Forgets member id (it left or was removed). */
void rc_skew_forget(struct rc_skew *k, uint64_t id);

/* Member id's estimated offset (its clock minus ours) into *offset_ms:
 * 0, or RC_ENOTFOUND when it has no sample younger than RC_SKEW_TTL_MS. */
int rc_skew_get(const struct rc_skew *k, uint64_t id, uint64_t now_ms, int64_t *offset_ms);

/*
 * Summarises every member with an estimate. The median is taken over our
 * own clock (offset 0) and theirs (each counted as many times as it
 * vouches for, rc_skew_vouch), so that in a cluster of three one wrong
 * clock cannot move it, and between two nodes the difference splits
 * evenly (neither can tell whose clock is wrong). O(members log members).
 */
void rc_skew_summary(struct rc_skew *k, uint64_t now_ms, struct rc_skew_view *out);

#endif
