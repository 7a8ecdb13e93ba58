/*
 * cluster.h - this node's one view of its cluster.
 *
 * Gossip (gossip.c) says who the members are; this module turns that into
 * what the rest of the server asks about: the member list, the two rings
 * built from it (placement and home, below), lookups by id, whether a
 * member is alive and reachable, and whether this node is in contact with
 * its cluster yet. Modules that react to a membership change (the
 * rebalancer, the read cache, the admin census, the peer pool) subscribe
 * and are told once per change, after both rings were rebuilt.
 *
 * Two rings, both over the same vnodes:
 * - placement: the live members (alive, suspect). Where data lives now,
 *   and where writes go when a home replica is down (fallbacks);
 * - home: every member that has not left, dead ones included, plus the
 *   members this node knew before a restart that gossip has not mentioned
 *   yet ("expected"). Only home replicas count for ONE, QUORUM and ALL, so
 *   a level never counts against the few members one node happens to see.
 * A dead member leaves the home ring when it leaves for good: an operator
 * forgets it (rc_cluster_forget) or a new id comes alive at its address.
 */
#ifndef RC_CLUSTER_H
#define RC_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "node.h"
#include "peer.h"
#include "swim.h"

struct rc_cluster;
struct rc_gossip;
struct rc_ring;

struct rc_cluster_opts {
    int rf;        /* replication factor */
    int vnodes;    /* virtual nodes per member */
    int has_seeds; /* --seeds given: QUORUM and ALL wait for contact */
};

/* What a subscriber is told: the member that changed (NULL for the first
 * view, at start), its state before, gossip's reason ("joined", "dead",
 * ...), and every member now (self included; borrowed for the call). */
struct rc_cluster_change {
    const struct rc_member *member;
    enum rc_member_state old;
    const char *reason;
    const struct rc_member *members;
    size_t nmembers;
};
typedef void (*rc_cluster_fn)(void *arg, const struct rc_cluster_change *ch);

/* Most subscribers (there are four). */
#define RC_CLUSTER_MAX_SUBS 8

/* node, peers and log are borrowed for the cluster's life. Loads the
 * members saved before a restart (node metadata). */
int rc_cluster_new(const struct rc_cluster_opts *opts, struct rc_node *node,
                   struct rc_peers *peers, const struct rc_log *log, struct rc_cluster **out);

/* Calls fn after every membership change, in subscription order.
 * 0 or RC_ENOMEM (more than RC_CLUSTER_MAX_SUBS). */
int rc_cluster_subscribe(struct rc_cluster *c, rc_cluster_fn fn, void *arg);

/* Gossip, borrowed for the cluster's life: its callbacks (struct
 * rc_gossip_cb) are rc_cluster_on_member and rc_cluster_save_incarnation
 * with this cluster as arg; rc_cluster_start takes the first view. */
void rc_cluster_set_gossip(struct rc_cluster *c, struct rc_gossip *g);
void rc_cluster_on_member(void *arg, const struct rc_member *m, enum rc_member_state old,
                          const char *reason);
int rc_cluster_save_incarnation(void *arg, uint64_t incarnation);
/* The first view, once gossip started: 0 or RC_ENOMEM (no ring yet). */
int rc_cluster_start(struct rc_cluster *c);

/* Members as gossip sees them (self included), borrowed until the next
 * change. */
size_t rc_cluster_members(const struct rc_cluster *c, const struct rc_member **members);
/* The member with this id, or NULL. */
const struct rc_member *rc_cluster_find(const struct rc_cluster *c, uint64_t id);
/* The placement ring (live members) and the home ring; NULL before the
 * first view. Borrowed until the next change. */
const struct rc_ring *rc_cluster_ring(const struct rc_cluster *c);
const struct rc_ring *rc_cluster_home(const struct rc_cluster *c);
/* A new ring of the live members, as the placement ring (alive, suspect),
 * without this node if without_self is set (where its data goes once it
 * left): a snapshot the caller owns and frees with rc_ring_free. 0, or
 * RC_ENOMEM (rc_ring_new's errors) with *out NULL. */
int rc_cluster_new_ring(const struct rc_cluster *c, int without_self, struct rc_ring **out);

uint64_t rc_cluster_self(const struct rc_cluster *c);
int rc_cluster_rf(const struct rc_cluster *c);
int rc_cluster_vnodes(const struct rc_cluster *c);

/* This node, or a member alive or suspect in gossip and not behind an
 * open breaker of this node's peer pool (a bridge partition keeps a
 * member alive for gossip). */
int rc_cluster_live(const struct rc_cluster *c, uint64_t id);
/* Whether id is among the key's RF replicas on the placement ring. */
int rc_cluster_is_replica(const struct rc_cluster *c, const uint8_t *key, size_t key_len,
                          uint64_t id);

/* Whether QUORUM and ALL may be served: no contact is needed (a single
 * node that never had peers), or gossip has made it. */
int rc_cluster_in_contact(const struct rc_cluster *c);
/* How far this node's clock is ahead of its peers' (gossip's estimate):
 * the number of peers measured (0: unknown), *ahead_ms set when > 0. */
int rc_cluster_clock_ahead(const struct rc_cluster *c, int64_t *ahead_ms);
/* Gossip, for the views that show its clock estimates (NULL before
 * rc_cluster_set_gossip). */
struct rc_gossip *rc_cluster_gossip(const struct rc_cluster *c);

/* Counts for STATS: members alive, and members known (not left, expected
 * ones included). */
void rc_cluster_counts(const struct rc_cluster *c, size_t *alive, size_t *known);

/* FORGET: a dead member leaves the home ring for good, spread by gossip
 * as left; or an expected member gossip never mentioned is dropped. 0,
 * RC_ENOTFOUND (unknown or already gone), RC_EINVAL (not dead),
 * RC_EUNAVAILABLE (no gossip), RC_ENOMEM. */
int rc_cluster_forget(struct rc_cluster *c, uint64_t id);

void rc_cluster_free(struct rc_cluster *c);

#endif
