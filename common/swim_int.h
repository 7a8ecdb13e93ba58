/*
 * swim_int.h - the SWIM state shared by swim.c and swim_probe.c only.
 *
 * swim.c owns the member table (records, claims, gossip queue, life cycle,
 * push-pull); swim_probe.c owns the protocol rounds (probes, relays,
 * received datagrams, leave). Both work on one struct rc_swim, laid out
 * here; nothing outside common/swim*.c includes this file.
 */
#ifndef RC_SWIM_INT_H
#define RC_SWIM_INT_H

#include <stddef.h>
#include <stdint.h>

#include "swim.h"
#include "swim_codec.h"

/* Relayed probes in flight (ping-req from others). Each is one ping to send
 * and one ack or nack to return; 16 covers every member of a 5-node
 * cluster asking at once several times over, and bounds what a burst of
 * ping-reqs can make us send. */
#define MAX_RELAYS 16

enum probe_phase { PROBE_IDLE, PROBE_DIRECT, PROBE_INDIRECT };

/* Private state of one member, at the same index as its rc_member. */
struct peer {
    uint64_t by;       /* who made the latest claim about it */
    uint64_t upd_seq;  /* order of that claim; larger is newer */
    uint32_t tx_left;  /* piggyback transmissions still due */
    uint32_t nsusp;    /* distinct suspectors in susp_by; [0] started it */
    uint32_t susp_n;   /* live count when the suspicion started */
    uint64_t susp_start;
    uint64_t susp_deadline;
    uint64_t susp_by[RC_SWIM_MAX_INDIRECT + 1];
    uint64_t heard; /* last datagram from the member itself (now clock); 0 never */
    uint64_t back;  /* when it last came back from dead (now clock); 0 never */
};

struct probe {
    enum probe_phase phase;
    uint64_t target;
    uint32_t seq;
    uint64_t direct_deadline; /* then ping-req */
    uint64_t end;             /* then the probe has failed */
    uint32_t expected_nacks, nacks;
    uint64_t sent_ms, sent_wall; /* the ping left (now clock, wall clock) */
};

/* A ping we send on behalf of another prober. */
struct relay {
    int used;
    uint32_t seq; /* of our ping */
    uint32_t origin_seq;
    uint64_t target;
    uint64_t nack_at;
    char origin_host[RC_HOST_MAX];
    uint16_t origin_port;
    uint64_t origin_id;
    size_t cap; /* size of the ping-req: our nack may not be larger */
};

struct sort_key {
    uint64_t seq;
    uint32_t idx;
};

struct rc_swim {
    struct rc_swim_config cfg;
    struct rc_member *members; /* [0] is self */
    struct peer *peers;
    uint32_t n;
    uint64_t *order; /* probe order, member ids; a pass runs order_pos..norder */
    uint32_t norder, order_pos;
    struct sort_key *keys; /* scratch for piggyback selection */
    uint64_t rng;
    uint32_t lhm;
    uint32_t next_seq;
    uint64_t upd_counter;
    struct probe probe;
    uint64_t next_probe;
    uint64_t next_dead_probe;
    uint32_t dead_cursor;
    struct relay relays[MAX_RELAYS];
    uint32_t leave_seq;
    uint32_t nleave;
    uint64_t leave_pending[RC_SWIM_LEAVE_FANOUT];
    struct rc_swim_msg msg; /* decode scratch */
    /* While handling a received datagram: its size, the most any datagram
     * produced in answer may have (no amplification); 0 otherwise. */
    size_t reply_cap;
    /* The datagram being built answers the source of the received one
     * (an ACK to a PING): sent only if it fits reply_cap whole. Other
     * answers (relay pings, NACKs, forwarded ACKs) always go out, with
     * piggyback only within reply_cap. */
    int reply_strict;
    /* The received datagram carried no wall clock stamp: an ACK answering
     * it carries none either (an older sender padded its PING without
     * counting one). */
    int reply_unstamped;
};

static inline uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static inline uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

static inline int is_live(enum rc_member_state st)
{
    return st == RC_MEMBER_ALIVE || st == RC_MEMBER_SUSPECT;
}

/* ---- swim.c: the table ------------------------------------------------- */

/* Index of member id in the table, -1 if unknown. */
int swim_find(const struct rc_swim *s, uint64_t id);

/* Uniform in [0, n), 0 when n is 0; from the probe-order PRNG. */
uint32_t swim_rng_below(struct rc_swim *s, uint32_t n);

/* Moves the local health multiplier by delta within 0 .. RC_SWIM_LHM_MAX. */
void swim_lhm_add(struct rc_swim *s, int delta);

/* Tells the caller (cfg.changed) that member i left state old, for why. */
void swim_notify(struct rc_swim *s, uint32_t i, enum rc_member_state old, const char *why);

/* Queues member i's current record, claimed by by, for piggybacking. */
void swim_gossip(struct rc_swim *s, uint32_t i, uint64_t by);

/* Lifeguard confirmation of suspect i by by; 1 when by was new. */
int swim_confirm(struct rc_swim *s, uint32_t i, uint64_t by);

/* The one place a member's state changes (see swim.c). why NULL: the
 * caller is not told. */
void swim_set_state(struct rc_swim *s, uint32_t i, enum rc_member_state st, uint64_t inc,
                    uint64_t by, const char *why, uint64_t now);

/* Forgets member i > 0 (swap with the last). */
void swim_remove_at(struct rc_swim *s, uint32_t i);

/* Applies one claim about a member (rec borrowed for the call). */
void swim_apply(struct rc_swim *s, const struct rc_swim_rec *rec, uint64_t now);

/* Packs the piggybacked updates for a datagram to to_id into f, within
 * f->cap; returns how many. */
uint32_t swim_pack_updates(struct rc_swim *s, uint64_t to_id, struct swim_fbuf *f);

#endif
