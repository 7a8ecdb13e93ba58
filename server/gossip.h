/*
 * gossip.h - cluster membership over UDP: the libuv transport of swim.c.
 *
 * One UDP socket on the peer port carries SWIM probes and piggybacked
 * gossip; one timer, set to the state machine's next deadline, drives it
 * and measures its own lateness for Lifeguard. Host names are resolved
 * asynchronously and cached briefly, so a container that comes back with
 * a new IP is found again. A periodic full-state push-pull runs over TCP
 * to the peer port, framed by the regular codec (RC_OP_PUSH_PULL).
 */
#ifndef RC_GOSSIP_H
#define RC_GOSSIP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"
#include "log.h"
#include "seal.h"
#include "skew.h"
#include "swim.h"

/* Full-state exchange with one random member this often: it repairs
 * whatever piggybacking missed (all retransmissions lost) within 10 s, and
 * costs one short TCP exchange of about 100 bytes per member. */
#define RC_GOSSIP_PUSH_PULL_INTERVAL_MS 10000
/* Every 6th push-pull (about a minute) goes to a seed instead, which
 * rejoins two halves whose partition outlived the dead tombstones. */
#define RC_GOSSIP_SEED_PUSH_PULL_EVERY 6
/* A push-pull (connect, send, reply) that takes longer is abandoned: a
 * healthy peer answers in milliseconds, a hung one must not hold the slot. */
#define RC_GOSSIP_PUSH_PULL_TIMEOUT_MS 2000
/* Largest push-pull frame body: 1024 members of at most ~290 bytes, with
 * room to spare. */
#define RC_GOSSIP_PUSH_PULL_MAX (1024 * 1024)
/* Resolved names are trusted this long. Short, because a restarted
 * container keeps its name but not its IP, and a probe sent to the old IP
 * is a false failure; a member changing state also forces a refresh. */
#define RC_GOSSIP_DNS_TTL_MS 5000
/* After a failed lookup, wait this long before asking again. */
#define RC_GOSSIP_DNS_RETRY_MS 1000
/* Distinct host names cached (least recently used goes first). */
#define RC_GOSSIP_DNS_MAX 128
/* Datagrams held per name while its first lookup runs. */
#define RC_GOSSIP_DNS_QUEUE 4
/* Seeds are retried from 500 ms, doubling, up to 30 s: fast when the
 * cluster starts together, quiet when a seed is down for long. */
#define RC_GOSSIP_JOIN_BACKOFF_MIN_MS 500
#define RC_GOSSIP_JOIN_BACKOFF_MAX_MS 30000
/* A node that has seen no other live member this long joins through its
 * seeds again; longer than a failure detection (5 s), so a short blip is
 * left to the dead-member probes. */
#define RC_GOSSIP_REJOIN_AFTER_MS 10000
/* How long a leave waits for the members told directly to ack. */
#define RC_GOSSIP_LEAVE_WAIT_MS 1000
/* The clock summary (rc_gossip_clock_skew) is recomputed this often:
 * samples arrive a few times a second, and callers may read it per
 * request, so they read a cached copy. */
#define RC_GOSSIP_CLOCK_CHECK_MS 1000
/* While a clock is off, the log says so this often (and once when it is
 * right again): loud enough to be found, not a flood. */
#define RC_GOSSIP_CLOCK_LOG_MS 60000
/* Housekeeping (joins, push-pull, leave) granularity. */
#define RC_GOSSIP_MAINT_MS 250
#define RC_GOSSIP_MAX_SEEDS 32

struct rc_gossip;

/* Integer tunables: 0 selects the RC_SWIM_* / RC_GOSSIP_* default. */
struct rc_gossip_opts {
    const char *bind;      /* IP literal for the UDP socket, e.g. "0.0.0.0" */
    int peer_port;         /* UDP here; the peer TCP listener shares the number */
    const char *advertise; /* how others reach us (name or IP); NULL = bind,
                            * or this host's name when bind is a wildcard */
    int client_port;       /* advertised to clients through membership */
    const char *seeds;     /* "host:port,host:port" ("[v6]:port"); NULL = none */
    uint64_t node_id;      /* != 0 */
    uint64_t incarnation;  /* the last one saved by save_incarnation, or 0 */
    int probe_interval_ms;
    int probe_timeout_ms;
    int indirect_checks;
    int suspicion_mult;
    int suspicion_max_mult;
    int push_pull_interval_ms;
    int dead_probe_interval_ms;
    int retransmit_mult;
    /* Cluster key (borrowed for the gossip's life; NULL or no key: plain
     * datagrams and push-pull, as without this feature). The caller may
     * change the list in place (reload) between callbacks. */
    const struct rc_seal_keys *keys;
    struct rc_seal_stats *seal_stats; /* borrowed; counters we add to; may be NULL */
};

/* Unauthenticated traffic is logged at most this often, with a count of
 * what was suppressed meanwhile: a flood must not become a log flood. */
#define RC_GOSSIP_AUTH_LOG_MS 10000

struct rc_gossip_cb {
    void *arg;
    /* A member changed state (see rc_swim_config.changed for old and
     * reason). m is valid during the call only. The callee may read
     * rc_gossip_members but must not call other rc_gossip functions. */
    void (*member_changed)(void *arg, const struct rc_member *m, enum rc_member_state old,
                           const char *reason);
    /* Must durably store incarnation before it is announced; 0 or an
     * error. At start an error fails rc_gossip_start; later ones (when
     * refuting) are logged and the announcement goes out anyway. */
    int (*save_incarnation)(void *arg, uint64_t incarnation);
};

/*
 * Validates opts (seeds, advertise host) and allocates; nothing is bound
 * yet. opts strings are copied; cb and log are borrowed for the gossip's
 * life. The incarnation this run announces is
 *   max(opts->incarnation + 1, wall-clock seconds):
 * higher than anything the cluster remembers of a previous run when the
 * number was saved, and, when it was lost (new disk), still higher unless
 * the previous run refuted more than once per second on average.
 * Returns 0, RC_EINVAL or RC_ENOMEM; *out is NULL on failure.
 */
int rc_gossip_new(uv_loop_t *loop, const struct rc_gossip_opts *opts,
                  const struct rc_gossip_cb *cb, const struct rc_log *log,
                  struct rc_gossip **out);

/* Saves the incarnation, binds the UDP socket, starts the timers and
 * contacts the seeds. 0, the save error, or a libuv error (logged); after
 * a bind error the handles exist, so rc_gossip_close before freeing. */
int rc_gossip_start(struct rc_gossip *g);

/* The member table, self first, all states (see rc_swim_members);
 * state_since_ms is on the uv_now() clock. Valid until control returns to
 * the loop. */
uint32_t rc_gossip_members(const struct rc_gossip *g, const struct rc_member **out);

/* 1 once this node has exchanged its full membership table with a peer
 * since it started (a push-pull either way): before that it may not know
 * the cluster it belongs to, and the coordinator refuses QUORUM and ALL. */
int rc_gossip_synced(const struct rc_gossip *g);

/* Forgets a dead member for good (rc_swim_forget): 0, RC_ENOTFOUND,
 * RC_EINVAL (alive, suspect, or this node). */
int rc_gossip_forget(struct rc_gossip *g, uint64_t id);

/*
 * Server side of a push-pull: merges the peer's state (in, len: the VALUE
 * of its RC_OP_PUSH_PULL request, borrowed) and appends our own full state
 * to out_state (the reply's VALUE); with a cluster key, a peer whose stamp
 * is beyond its window gets our state but nothing of its own is merged.
 * 0, RC_EPROTO/RC_EVERSION (bad state, nothing merged, nothing appended)
 * or RC_EBUFFER_FULL/RC_ENOMEM.
 */
int rc_gossip_push_pull(struct rc_gossip *g, const uint8_t *in, size_t len,
                        struct rc_buf *out_state);

/*
 * Clocks (common/skew.h). Returns how many peers have a clock estimate
 * (heard within RC_SKEW_TTL_MS: live members, and also nodes refused for
 * their stamps, which are not members but whose clocks are known), and
 * sets *ahead_ms to how far this node's clock is ahead of the median of
 * theirs and its own (negative: behind; 0 when there is none). Cached,
 * recomputed every RC_GOSSIP_CLOCK_CHECK_MS: O(1).
 */
int rc_gossip_clock_skew(const struct rc_gossip *g, int64_t *ahead_ms);

/* The whole cached summary (peers, ahead, skewed peers, worst peer). */
void rc_gossip_clock_view(const struct rc_gossip *g, struct rc_skew_view *out);

/* Member id's clock minus ours, in ms: 0 with *offset_ms set (0 for
 * ourselves), or RC_ENOTFOUND when it has no estimate. O(members). */
int rc_gossip_member_offset(const struct rc_gossip *g, uint64_t id, int64_t *offset_ms);

/* Announces that we leave (directly to several members and by gossip),
 * then calls done(arg) once they acked or after RC_GOSSIP_LEAVE_WAIT_MS.
 * Keep the gossip running until then. */
void rc_gossip_leave(struct rc_gossip *g, void (*done)(void *arg), void *arg);

/* Stops everything; closed(arg) runs once every handle and lookup is
 * finished (a pending leave's done runs first). */
void rc_gossip_close(struct rc_gossip *g, void (*closed)(void *arg), void *arg);

/* Frees; after closed ran, or if never started. NULL is a no-op. */
void rc_gossip_free(struct rc_gossip *g);

#endif
