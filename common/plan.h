/*
 * plan.h - the rebalance planner: which token ranges this node sends to
 * whom when the ring changes, and which ranges it drops afterwards.
 *
 * Pure: the inputs are two rings, the member list and a few flags, the
 * output a list of range tasks and drops, so every rule below is unit
 * tested without sockets or a store (tests/unit/test_plan.c). The one
 * question that needs the store, "does this node hold anything in this
 * range", comes in as a callback. server/rebalance.c turns a plan into
 * streams; it decides when to plan, the planner decides what.
 *
 * The rules (every node applies them to the same rings and member states,
 * so each range has the same sender everywhere and is sent once):
 *  - a range whose preference list gained replicas is sent to each new
 *    replica by every node dropped from the range while still alive (it
 *    holds the data and must hand it over before deleting it); when no
 *    dropped node is alive, by the first old replica (in preference order)
 *    that is alive and stays a replica. "Alive" is RC_MEMBER_ALIVE: a
 *    suspect member is not trusted to send.
 *  - a node dropped from a range drops it once the new replicas acknowledged
 *    (not on a graceful leave, a handoff: the leaving node keeps its data).
 *  - a member of the old ring missing from the new one without having left
 *    died; after a death, or after a dead member came back (heal), every
 *    range this node replicates is compared with each other replica
 *    (repair). A periodic repair on a sweep leaves out the last
 *    RC_PLAN_REPAIR_QUIET_MS of writes, which the write path still delivers.
 *  - a sweep plans no ring change: it hands every vnode range this node does
 *    not replicate but holds data in to the range's replicas, then drops it.
 *  - tasks only go to members in the member list, never to this node, and
 *    cover at most RC_PLAN_CHUNK_TOKENS tokens each.
 */
#ifndef RC_PLAN_H
#define RC_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "ring.h"
#include "swim.h"

/* Longest token range one task covers: 1/256 of the ring. A digest walks
 * at most that share of a node's data at once (a scan is further cut into
 * batches), and tasks are big enough that batches are full: 1/1024 gave
 * batches of a few dozen keys and a third of the streaming rate. */
#define RC_PLAN_CHUNK_TOKENS (UINT64_C(1) << 56)

/* A periodic anti-entropy pass leaves out versions younger than this: the
 * write path (and its hints) is still delivering them, so replicas that
 * differ only by writes in flight are not "repaired" by resending whole
 * pieces under a steady write load. Ten seconds covers a replica timeout,
 * a hint round and a loaded machine's stalls. */
#define RC_PLAN_REPAIR_QUIET_MS 10000

enum rc_plan_kind {
    RC_PLAN_MOVE,   /* the range gained this replica in the ring change */
    RC_PLAN_REPAIR, /* anti-entropy: compare with another replica */
    RC_PLAN_STRAY   /* sweep: held here, not replicated here, hand it over */
};

/* One send: compare [first, last] with target by digest, send what differs. */
struct rc_plan_task {
    uint64_t first, last;   /* inclusive, first <= last */
    uint64_t target;        /* member id, never the planning node */
    enum rc_plan_kind kind;
    int drop;               /* index in drops that waits for this task, or -1 */
    uint64_t before;        /* compare only versions with an hlc below it; 0 = all */
};

/* A range this node deletes once every task naming it is done. */
struct rc_plan_drop {
    uint64_t first, last; /* inclusive */
};

struct rc_plan_input {
    const struct rc_ring *old_ring; /* the ring last settled on (unused by a sweep) */
    const struct rc_ring *new_ring; /* the ring to settle on */
    int rf;
    uint64_t self;                  /* the planning node */
    const struct rc_member *members; /* every known member; only id and state are read */
    size_t nmembers;
    int handoff; /* this node leaves gracefully: send, drop nothing, no repair */
    int sweep;   /* no ring change (new_ring only): hand over and drop strays */
    int repair;  /* compare every range with its other replicas */
    int heal;    /* a dead member came back: a ring change also repairs */
    int64_t now_ms; /* wall clock, for the quiet window of a sweep's repair */
    /* Sweeps only: 1 when this node holds any entry (tombstones included)
     * in [first, last], else 0. */
    int (*holds)(void *arg, uint64_t first, uint64_t last);
    void *holds_arg;
};

struct rc_plan {
    struct rc_plan_task *tasks; /* in the order they should start */
    size_t ntasks;
    struct rc_plan_drop *drops;
    size_t ndrops;
    size_t ranges; /* changed ranges of the diff, plus stray ranges found */
    int repair;    /* the plan includes a repair pass */
};

/* Plans this node's part of the change described by in (borrowed for the
 * call). Returns 0 and *out (caller frees with rc_plan_free), RC_EINVAL for
 * rf < 1, a missing ring (old_ring may only be NULL for a sweep) or a
 * sweep without holds, or RC_ENOMEM; on failure *out is NULL. */
int rc_plan_new(const struct rc_plan_input *in, struct rc_plan **out);

/* Frees the plan. NULL is a no-op. */
void rc_plan_free(struct rc_plan *p);

/* 1 when the ring has replicas for token and id is not one of them: data
 * id holds there is out of place (or arriving ahead of a ring change). */
int rc_plan_stray(const struct rc_ring *r, int rf, uint64_t id, uint64_t token);

#endif
