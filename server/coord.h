/*
 * coord.h - the coordinator: serves clients through any node.
 *
 * Whichever node a client talks to coordinates its request: it finds the
 * key's replicas on the consistent-hash ring (common/ring.c) built from the
 * live members, sends the operation to each (itself included when it is a
 * replica) and answers when W of them acknowledged a write or R of them
 * answered a read (newest version wins). Stale replicas seen by a read are
 * repaired; writes that could not reach a replica are kept as hints and
 * delivered when it is reachable again (hinted handoff).
 */
#ifndef RC_COORD_H
#define RC_COORD_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "log.h"
#include "net.h"
#include "node.h"
#include "peer.h"
#include "seal.h"
#include "swim.h"

struct rc_coord;

struct rc_coord_opts {
    int rf;              /* replication factor (copies of each key) */
    int r, w;            /* default read / write quorum */
    int timeout_ms;      /* per replica request */
    int vnodes;          /* virtual nodes per member */
    size_t max_hints;    /* hints kept for unreachable replicas, all targets */
    size_t max_hint_bytes; /* and the key and value bytes they may hold */
    int64_t hint_ttl_ms; /* hints older than this are dropped */
    int has_seeds;       /* --seeds given: QUORUM and ALL wait for contact */
};

/* node, peers and log are borrowed for the coordinator's life. */
int rc_coord_new(uv_loop_t *loop, const struct rc_coord_opts *opts, struct rc_node *node,
                 struct rc_peers *peers, const struct rc_log *log, struct rc_coord **out);

/* Client-port handler. */
void rc_coord_handler(struct rc_coord *c, struct rc_net_handler *h);

/*
 * Runs a client GET, PUT or DEL (req as the native protocol carries it)
 * for another front end (the RESP listener). cb runs exactly once,
 * possibly before rc_coord_submit returns; rep and what it points to are
 * borrowed for the duration of the call only. req is copied as needed.
 */
typedef void (*rc_coord_cb)(void *arg, const struct rc_reply *rep);
void rc_coord_submit(struct rc_coord *c, const struct rc_request *req, rc_coord_cb cb, void *arg);

/* The STATS counters (names and strings are static or borrowed until the
 * next call); st holds RC_COORD_MAX_STATS entries. Returns the count. */
#define RC_COORD_MAX_STATS 128
size_t rc_coord_stats(struct rc_coord *c, struct rc_stat *st);

/* Members as gossip sees them (self included), borrowed until the next
 * membership change; the ring built from them (NULL before the first) and
 * the replication factor. */
size_t rc_coord_members(const struct rc_coord *c, const struct rc_member **members);
struct rc_ring;
const struct rc_ring *rc_coord_ring(const struct rc_coord *c, int *rf);

/* The client net, for connection counters in STATS (borrowed). */
void rc_coord_set_net(struct rc_coord *c, struct rc_net *net);

/* Gossip, borrowed for the coordinator's life: whether this node has made
 * contact with its cluster yet (QUORUM and ALL wait for it), FORGET, and
 * the clock estimates STATS (clock_ahead_ms, clock_skewed_peers) and
 * MEMBERS (clock_offset_ms) show. */
struct rc_gossip;
void rc_coord_set_gossip(struct rc_coord *c, struct rc_gossip *g);

/* How far this node's clock is ahead of its peers' (negative: behind):
 * returns the number of peers measured (0: unknown). Writes are refused
 * with DRIFT while it is ahead by more than --max-drift, and this node's
 * own copy waits for a peer's acceptance unless it is known to be within
 * a quarter of it. */
typedef int (*rc_coord_skew_fn)(void *arg, int64_t *ahead_ms);
void rc_coord_set_skew(struct rc_coord *c, rc_coord_skew_fn fn, void *arg);

/* The rebalancer whose progress ACTIVITY and STATS report (borrowed). */
struct rc_rebalance;
void rc_coord_set_rebalance(struct rc_coord *c, struct rc_rebalance *rb);

/* STATS shows whether a cluster key is in use and the seal counters
 * (borrowed for the coordinator's life). */
void rc_coord_set_seal_stats(struct rc_coord *c, int keyed, const struct rc_seal_stats *st);

/* STATS shows the RESP front end's counters (borrowed for the
 * coordinator's life; without a RESP port, none: they read 0). */
struct rc_resp_stats;
void rc_coord_set_resp_stats(struct rc_coord *c, const struct rc_resp_stats *st);

/* The membership as gossip sees it (self included). The ring is rebuilt
 * from the alive and suspect members; returns 0 or RC_ENOMEM (the old
 * ring stays). */
int rc_coord_set_members(struct rc_coord *c, const struct rc_member *members, size_t n);

/* The node is shutting down: with no ring left, clients hear SHUTDOWN
 * rather than UNAVAILABLE. */
void rc_coord_leaving(struct rc_coord *c);

void rc_coord_stop(struct rc_coord *c);
void rc_coord_free(struct rc_coord *c);

#endif
