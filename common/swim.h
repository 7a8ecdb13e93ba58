/*
 * swim.h - SWIM gossip membership with Lifeguard, as a pure state machine.
 *
 * Failure detection by probing (ping, then ping-req through k others),
 * suspicion with refutation by incarnation numbers, and dissemination of
 * membership updates piggybacked on every datagram (Das et al., "SWIM",
 * 2002; Dadgar et al., "Lifeguard", arXiv 1707.00788). No sockets, no
 * clocks, no name resolution: the caller passes time in and sends the
 * datagrams handed out; server/gossip.c is that caller.
 */
#ifndef RC_SWIM_H
#define RC_SWIM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Longest advertised host name or IP literal, with its NUL (DNS names are
 * at most 253 characters). */
#define RC_HOST_MAX 256

enum rc_member_state {
    RC_MEMBER_ALIVE = 0,
    RC_MEMBER_SUSPECT = 1,
    RC_MEMBER_DEAD = 2,
    RC_MEMBER_LEFT = 3,
};

/* What everyone knows about one node. host is as advertised (DNS name or
 * IP literal); nothing here resolves it. state_since_ms is on the clock of
 * whoever holds the table (the now_ms passed to rc_swim_*). */
struct rc_member {
    uint64_t id;
    char host[RC_HOST_MAX];
    uint16_t client_port;
    uint16_t peer_port;
    uint64_t incarnation;
    enum rc_member_state state;
    uint64_t state_since_ms;
};

/* "alive", "suspect", "dead", "left"; "?" for anything else. */
const char *rc_member_state_name(enum rc_member_state st);

/*
 * Defaults, tuned for the target deployment: 5 nodes, one 2-core machine,
 * a kill -9'd node dead on every survivor within 5 s, while a node whose
 * event loop lags tens of ms under load is neither declared dead nor
 * declares others dead.
 *
 * Worst-case detection time of a crashed node D (n = 5, LHM = 0, no loss
 * between survivors), T = probe interval:
 *   a. every survivor probes D within (2(n-1) - 1) * T = 7 * 300 = 2100 ms
 *      of the crash: round robin over a list of n-1 reshuffled each pass,
 *      worst when D was first in one pass and is last in the next;
 *   b. that probe fails T = 300 ms after it starts (direct ack 150 ms,
 *      then ping-req until the end of the period), so by 2400 ms every
 *      survivor suspects D on its own account;
 *   c. a suspicion lasts at most the Lifeguard maximum,
 *      max_mult * min = 2 * (4 * 1 * 300) = 2400 ms, and less as the other
 *      survivors' confirmations arrive (1200 ms with all 3).
 *   Every survivor therefore declares D dead by 2400 + 2400 = 4800 ms on
 *   its own timer, earlier when another's "dead" reaches it first; in
 *   practice ~2-3 s, because the first of the four probers is early.
 * A 500 ms interval would put (a)+(b) alone at 4 s, hence 300 ms.
 */
#define RC_SWIM_PROBE_INTERVAL_MS 300 /* see above; 5 nodes x 3.3 pings/s is nothing */
/* Direct ack wait before asking others. Two loops lagging tens of ms still
 * answer well within it, and a late direct ack is accepted until the end of
 * the period, so the only cost of a short value is some extra ping-reqs. */
#define RC_SWIM_PROBE_TIMEOUT_MS 150
/* Indirect probes: 3 independent paths make one lossy link or one slow
 * relay harmless; with n = 5 that is every other member. */
#define RC_SWIM_INDIRECT_CHECKS 3
/* Suspicion minimum = mult * max(1, log10(n)) * interval: 4 periods give a
 * suspected node time to hear of it and get its refutation around. */
#define RC_SWIM_SUSPICION_MULT 4
/* A lone, unconfirmed suspicion lasts twice the minimum (2.4 s): long enough
 * for a falsely suspected node to refute, short enough for point (c). */
#define RC_SWIM_SUSPICION_MAX_MULT 2
/* Each update is piggybacked mult * ceil(log2(n + 1)) times (9 at n = 5),
 * enough for epidemic spread to reach everyone with high probability. */
#define RC_SWIM_RETRANSMIT_MULT 3
/* A dead member is pinged this often so that it can refute when a
 * partition heals; one small datagram every 2 s per node costs nothing. */
#define RC_SWIM_DEAD_PROBE_INTERVAL_MS 2000
/* Left (and forgotten) members are remembered this long so that old gossip
 * about them cannot resurrect them (gossip dies out within seconds;
 * push-pull repeats it every few seconds). Dead members are never reaped:
 * they still count towards the cluster's size for quorums (coord.c) and
 * keep being probed, until an operator forgets them (rc_swim_forget) or a
 * new member takes over their address (a restart with a new id). */
#define RC_SWIM_TOMBSTONE_MS (3600 * 1000)
/* Timer lateness from which the node treats itself as slow (Lifeguard):
 * a third of the probe timeout is where lateness starts to eat into the
 * time an ack has to arrive. */
#define RC_SWIM_LATE_THRESHOLD_MS 50
/* Table size, self and tombstones included: bounds memory (about 400 KiB)
 * and the full-state payload (about 300 KiB). */
#define RC_SWIM_MAX_MEMBERS 1024

/* Lifeguard's cap on the local health multiplier: timeouts stretch to at
 * most 9x, so even a very sick node keeps probing. */
#define RC_SWIM_LHM_MAX 8
/* Largest datagram produced or accepted: under the 1500-byte Ethernet MTU
 * minus IP/UDP headers and tunnel overhead, so it is never fragmented. */
#define RC_SWIM_MAX_DGRAM 1400
/* Most datagrams one call hands out (a probe with its ping-reqs, a dead
 * probe, nacks, a leave announcement); more are dropped, as UDP may. */
#define RC_SWIM_MAX_OUT 16
/* Hard caps on what the decoder accepts. */
#define RC_SWIM_MAX_INDIRECT 8
#define RC_SWIM_MAX_UPDATES 128 /* a record is >= 8 bytes: 1400 / 8 < 176 */

struct rc_swim_config {
    uint32_t probe_interval_ms;
    uint32_t probe_timeout_ms; /* < probe_interval_ms */
    uint32_t indirect_checks;  /* <= RC_SWIM_MAX_INDIRECT */
    uint32_t suspicion_mult;
    uint32_t suspicion_max_mult; /* >= 1 */
    uint32_t retransmit_mult;
    uint32_t dead_probe_interval_ms;
    uint32_t tombstone_ms;
    uint32_t late_threshold_ms;
    uint32_t max_members; /* 2 .. RC_SWIM_MAX_MEMBERS */
    void *cb_arg;
    /* Membership change of m (self included only when it leaves). old is
     * RC_MEMBER_LEFT for a member seen for the first time (reason
     * "joined"). reason is one of "joined", "probe timeout", "suspected",
     * "suspicion timeout", "declared dead", "refuted", "alive again",
     * "left", "address changed" (same state). May be NULL. */
    void (*changed)(void *arg, const struct rc_member *m, enum rc_member_state old,
                    const char *reason);
    /* Called before a new own incarnation is announced (refutation,
     * leave). A failure is the callee's to report: the announcement goes
     * out anyway, because staying in the cluster matters more and the
     * caller's restart rule (see gossip.h) keeps a lost save harmless.
     * May be NULL. */
    int (*save_incarnation)(void *arg, uint64_t incarnation);
    /* This node's wall clock, Unix ms, stamped into PINGs, ACKs and the
     * push-pull state so that members can measure each other's clock
     * offsets (common/skew.h). May be NULL: nothing is stamped. */
    uint64_t (*wall_ms)(void *arg);
    /* A direct probe of member id was acknowledged with a stamp:
     * offset_ms is its clock minus ours, NTP-style (the stamp against the
     * middle of our send and receive times), within rtt_ms / 2. May be
     * NULL. */
    void (*clock_sample)(void *arg, uint64_t id, int64_t offset_ms, uint32_t rtt_ms);
};

/* A datagram to send: to (host, port), the member to_id (0 when unknown,
 * e.g. a seed). host is as advertised or as passed to rc_swim_recv. */
struct rc_swim_dgram {
    char host[RC_HOST_MAX];
    uint16_t port;
    uint64_t to_id;
    size_t len;
    uint8_t data[RC_SWIM_MAX_DGRAM];
};

/* Caller-provided output of one call. Calls append; the caller empties it
 * (n = 0) after sending. */
struct rc_swim_out {
    uint32_t n;
    uint32_t dropped; /* datagrams that did not fit */
    struct rc_swim_dgram d[RC_SWIM_MAX_OUT];
};

/*
 * Datagram format. A 4-byte header, then one msgpack array:
 *
 *   offset size field
 *   0      1    'R' (0x52)
 *   1      1    'G' (0x47)
 *   2      1    version, RC_SWIM_VERSION
 *   3      1    type, enum rc_swim_type
 *   4      n    body, one msgpack array, nothing after it
 *
 *   type          body
 *   1 PING        [seq, from, target_id, updates, wall_ms]
 *   2 ACK         [seq, from, target_id, updates, wall_ms]
 *   3 PING_REQ    [seq, from, target_id, updates, target_host, target_port,
 *                  nack_ms]
 *   4 NACK        [seq, from, target_id, updates]
 *   5 STATE       [from_id, members, state_wall_ms] (push-pull, over TCP)
 *
 *   field         msgpack        meaning
 *   seq           uint <= 2^32-1 probe number chosen by the prober; 0 = no
 *                                ack wanted (announcements)
 *   from          record         the sender's own record
 *   target_id     uint64         PING: the node meant (0 = whoever listens,
 *                                used for seeds); ACK/NACK: the node probed;
 *                                PING_REQ: the node to ping
 *   updates       array of record, <= RC_SWIM_MAX_UPDATES, newest first
 *   target_host   str 1..255     where to ping target_id
 *   target_port   uint16
 *   nack_ms       uint <= 60000  how long the relay waits before a NACK
 *   wall_ms       uint64         the sender's wall clock, Unix ms, when it
 *                                sent this (optional: a node without it is
 *                                simply not measured; an ACK carries it only
 *                                when the PING did, so it never outgrows a
 *                                PING padded by an older node). A trailing
 *                                element that is not an uint is padding.
 *   state_wall_ms uint64         STATE: the sender's wall clock (optional)
 *   members       array of record, <= RC_SWIM_MAX_MEMBERS
 *   record        [id: uint64 != 0, host: str 1..255 of [A-Za-z0-9.:%_-],
 *                  client_port: uint16, peer_port: uint16,
 *                  incarnation: uint64, state: uint 0..3,
 *                  by: uint64 (who made this claim; the suspector for
 *                  suspect, counted as a Lifeguard confirmation)]
 *
 * Arrays may carry extra trailing elements (ignored, nesting <= 4), so
 * fields can be added without a version bump.
 */
#define RC_SWIM_VERSION 1
#define RC_SWIM_HDR 4

enum rc_swim_type {
    RC_SWIM_PING = 1,
    RC_SWIM_ACK = 2,
    RC_SWIM_PING_REQ = 3,
    RC_SWIM_NACK = 4,
    RC_SWIM_STATE = 5,
};

/* A decoded record; host points into the datagram (not NUL-terminated). */
struct rc_swim_rec {
    uint64_t id;
    const char *host;
    uint32_t host_len;
    uint16_t client_port;
    uint16_t peer_port;
    uint64_t incarnation;
    enum rc_member_state state;
    uint64_t by;
};

struct rc_swim_msg {
    enum rc_swim_type type;
    uint32_t seq;
    struct rc_swim_rec from;
    uint64_t target_id;
    const char *target_host; /* PING_REQ only; borrowed */
    uint32_t target_host_len;
    uint16_t target_port;
    uint32_t nack_ms;
    uint64_t wall_ms; /* PING, ACK: the sender's stamp; 0 = none */
    uint32_t nupdates;
    struct rc_swim_rec updates[RC_SWIM_MAX_UPDATES];
};

/*
 * Decodes one datagram (PING, ACK, PING_REQ or NACK) without allocating:
 * every length and count is checked against the bytes left before use.
 * Returns 0, RC_EVERSION, or RC_EPROTO.
 */
int rc_swim_decode(const uint8_t *buf, size_t len, struct rc_swim_msg *msg);

/* Encodes msg whole into buf. 0 or RC_EBUFFER_FULL (cap too small) or
 * RC_EINVAL (a count or host beyond the limits above). */
int rc_swim_encode(const struct rc_swim_msg *msg, uint8_t *buf, size_t cap, size_t *len);

struct rc_swim;

/* Fills cfg with the RC_SWIM_* defaults and no callbacks. */
void rc_swim_config_defaults(struct rc_swim_config *cfg);

/*
 * Creates the state machine for self (copied; its id must be != 0, its
 * host valid, its incarnation the one to announce; the state is forced to
 * alive). seed feeds the probe-order PRNG. Allocates max_members entries.
 * Returns 0, RC_EINVAL or RC_ENOMEM; *out is NULL on failure.
 */
int rc_swim_new(const struct rc_swim_config *cfg, const struct rc_member *self, uint64_t seed,
                uint64_t now_ms, struct rc_swim **out);
void rc_swim_free(struct rc_swim *s); /* NULL is a no-op */

/* Runs timeouts due at now_ms: probes, suspicions, relays, dead probes,
 * tombstones. Datagrams to send are appended to out. */
void rc_swim_tick(struct rc_swim *s, uint64_t now_ms, struct rc_swim_out *out);

/* When rc_swim_tick next has work (absolute, same clock as now_ms). */
uint64_t rc_swim_next_deadline(const struct rc_swim *s);

/*
 * Handles a datagram that came from (from_host, from_port), the numeric
 * source address; replies go there. Returns 0, or RC_EPROTO/RC_EVERSION
 * for a datagram that was ignored (the table is unchanged then). A "dead"
 * claim about an alive member that we heard from ourselves within the
 * last suspicion_mult probe periods, or made by a member that came back
 * from dead within the last 32 periods, is taken as "suspect": it comes
 * from a node that was cut off (a partition, a clock the cluster key
 * refused), and the member gets to refute it.
 */
int rc_swim_recv(struct rc_swim *s, const char *from_host, uint16_t from_port, const uint8_t *buf,
                 size_t len, uint64_t now_ms, struct rc_swim_out *out);

/* Pings a seed whose id is unknown; its ack makes it (and us, to it) a
 * member. RC_EINVAL for a bad host. */
int rc_swim_join_seed(struct rc_swim *s, const char *host, uint16_t port, uint64_t now_ms,
                      struct rc_swim_out *out);

/* Marks self left with a higher incarnation, stops probing, and announces
 * it directly to up to RC_SWIM_LEAVE_FANOUT members (and to whoever pings
 * us from now on). Idempotent. */
void rc_swim_leave(struct rc_swim *s, uint64_t now_ms, struct rc_swim_out *out);

/* How many of the members told directly of our leave have not acked yet. */
uint32_t rc_swim_leave_pending(const struct rc_swim *s);

/*
 * Removes a dead member for good (an operator's decision: it is not coming
 * back, so it stops counting towards quorums): it becomes "left" with the
 * reason "forgotten", which gossip spreads. 0, RC_ENOTFOUND (unknown or
 * already gone), or RC_EINVAL (alive or suspect, or this node: a live node
 * is stopped or leaves by itself). If the node comes back after all, it
 * refutes with a higher incarnation and joins again.
 */
int rc_swim_forget(struct rc_swim *s, uint64_t id, uint64_t now_ms);

/* Timer lateness seen by the caller: at or above late_threshold_ms the
 * node counts itself slow (LHM + 1) and moves its pending deadlines out by
 * late_ms, since nothing could be heard while it was not running. */
void rc_swim_note_late(struct rc_swim *s, uint64_t late_ms, uint64_t now_ms);

/* The table: self first, then every known member in any state (dead and
 * left ones until their tombstone expires). Valid until the next call. */
uint32_t rc_swim_members(const struct rc_swim *s, const struct rc_member **out);

/* Members alive or suspect, self included. */
uint32_t rc_swim_live_count(const struct rc_swim *s);

/* Lifeguard local health multiplier, 0 .. RC_SWIM_LHM_MAX. */
uint32_t rc_swim_lhm(const struct rc_swim *s);

/* Current probe timeout and interval, both scaled by (LHM + 1). */
uint64_t rc_swim_probe_timeout(const struct rc_swim *s);
uint64_t rc_swim_probe_interval(const struct rc_swim *s);

/*
 * Suspicion timeout in ms for a live count n and c independent
 * confirmations (Lifeguard): with min = mult * max(1, log10(n)) * interval,
 * max = max_mult * min and k = min(indirect_checks, n - 2) expected
 * confirmations, timeout = max(min, max - (max - min) * log(c + 1) /
 * log(k + 1)); simply min when k < 1. Integer fixed-point, no libm.
 */
uint64_t rc_swim_suspicion_timeout(const struct rc_swim_config *cfg, uint32_t n, uint32_t c);

/* Full state for push-pull (type STATE): every member, tombstones included.
 * Appended to out; 0, RC_EBUFFER_FULL or RC_ENOMEM (out unchanged). */
int rc_swim_encode_state(const struct rc_swim *s, struct rc_buf *out);

/*
 * Merges a STATE payload. The whole payload is validated before anything
 * is applied, so a bad one changes nothing (RC_EPROTO/RC_EVERSION). A
 * remote "dead" is taken as "suspect": the remote view may be stale, and
 * a live node then gets to refute.
 */
int rc_swim_merge_state(struct rc_swim *s, const uint8_t *buf, size_t len, uint64_t now_ms);

/* Validates a STATE payload whole and reads its sender, its stamp (0 when
 * it carries none) and how many records are alive or suspect (the
 * sender's own included), so the caller can decide before merging.
 * 0, RC_EPROTO or RC_EVERSION. */
int rc_swim_state_peek(const uint8_t *buf, size_t len, uint64_t *from_id, uint64_t *wall_ms,
                       uint32_t *live);

/* Direct leave announcements; the rest goes by gossip. */
#define RC_SWIM_LEAVE_FANOUT 8

#endif
