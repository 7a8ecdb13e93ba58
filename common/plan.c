/*
 * plan.c - the rebalance planner (see plan.h for the rules).
 *
 * One pass per kind of work, in the order rebalance.c starts it: the
 * ranges of the ring diff, then (sweeps) the stray ranges, then (repairs)
 * every vnode range this node replicates. rebalance.c builds one stream
 * per target, in the order targets first appear, each running its tasks in
 * plan order: those two orders are what a change here would change.
 */
#include "plan.h"
#include "err.h"
#include "hlc.h"

#include <stdlib.h>
#include <string.h>

/* The plan being built and what it is built from. */
struct builder {
    const struct rc_plan_input *in;
    struct rc_plan *p;
    size_t task_cap, drop_cap;
};

static int contains(const uint64_t *ids, int n, uint64_t id)
{
    int i;

    for (i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

static const struct rc_member *find_member(const struct rc_plan_input *in, uint64_t id)
{
    size_t i;

    for (i = 0; i < in->nmembers; i++)
        if (in->members[i].id == id)
            return &in->members[i];
    return NULL;
}

static int is_alive(const struct rc_plan_input *in, uint64_t id)
{
    const struct rc_member *m = find_member(in, id);

    return m != NULL && m->state == RC_MEMBER_ALIVE;
}

/* Doubles *cap (from 16) and the array behind *arr; 0 or RC_ENOMEM. */
static int grow(void **arr, size_t *cap, size_t size)
{
    size_t n = *cap ? *cap * 2 : 16;
    void *a = realloc(*arr, n * size);

    if (a == NULL)
        return RC_ENOMEM;
    *arr = a;
    *cap = n;
    return 0;
}

static int add_task(struct builder *b, uint64_t target, enum rc_plan_kind kind, uint64_t first,
                    uint64_t last, int drop, uint64_t before)
{
    struct rc_plan *p = b->p;
    struct rc_plan_task *t;

    if (p->ntasks == b->task_cap && grow((void **)&p->tasks, &b->task_cap, sizeof(*t)) < 0)
        return RC_ENOMEM;
    t = &p->tasks[p->ntasks++];
    t->first = first;
    t->last = last;
    t->target = target;
    t->kind = kind;
    t->drop = drop;
    t->before = before;
    return 0;
}

/* One task per RC_PLAN_CHUNK_TOKENS piece of [first, last]. */
static int add_chunks(struct builder *b, uint64_t target, enum rc_plan_kind kind,
                      uint64_t first, uint64_t last, int drop, uint64_t before)
{
    int rv;

    while (last - first >= RC_PLAN_CHUNK_TOKENS) {
        rv = add_task(b, target, kind, first, first + RC_PLAN_CHUNK_TOKENS - 1, drop, before);
        if (rv < 0)
            return rv;
        first += RC_PLAN_CHUNK_TOKENS;
    }
    return add_task(b, target, kind, first, last, drop, before);
}

/* Appends a drop of [first, last]; its index, or RC_ENOMEM. */
static int add_drop(struct builder *b, uint64_t first, uint64_t last)
{
    struct rc_plan *p = b->p;

    if (p->ndrops == b->drop_cap &&
        grow((void **)&p->drops, &b->drop_cap, sizeof(*p->drops)) < 0)
        return RC_ENOMEM;
    p->drops[p->ndrops].first = first;
    p->drops[p->ndrops].last = last;
    return (int)p->ndrops++;
}

/* 1 when this node sends range r: it was dropped from it, or no dropped
 * replica is alive and it is the first live old replica that stays. */
static int is_sender(const struct rc_plan_input *in, const struct rc_ring_range *r)
{
    int i, dropped_alive = 0;

    if (contains(r->old_ids, r->nold, in->self) && !contains(r->new_ids, r->nnew, in->self))
        return 1;
    for (i = 0; i < r->nold; i++)
        if (!contains(r->new_ids, r->nnew, r->old_ids[i]) && is_alive(in, r->old_ids[i]))
            dropped_alive = 1;
    if (dropped_alive)
        return 0; /* the dropped holders send */
    for (i = 0; i < r->nold; i++)
        if (is_alive(in, r->old_ids[i]) && contains(r->new_ids, r->nnew, r->old_ids[i]))
            return r->old_ids[i] == in->self;
    return 0;
}

/* This node's part of one changed range: sends to each new replica, and a
 * drop when this node loses the range (digest first, so a range another
 * holder already sent costs nothing). */
static int plan_range(struct builder *b, const struct rc_ring_range *r)
{
    const struct rc_plan_input *in = b->in;
    int i, drop = -1, rv;

    if (!is_sender(in, r))
        return 0;
    if (contains(r->old_ids, r->nold, in->self) && !contains(r->new_ids, r->nnew, in->self) &&
        !in->handoff) {
        drop = add_drop(b, r->first, r->last);
        if (drop < 0)
            return drop;
    }
    for (i = 0; i < r->nnew; i++) {
        uint64_t id = r->new_ids[i];

        if (contains(r->old_ids, r->nold, id) || id == in->self || !find_member(in, id))
            continue;
        rv = add_chunks(b, id, RC_PLAN_MOVE, r->first, r->last, drop, 0);
        if (rv < 0)
            return rv;
    }
    return 0;
}

/* A member of the old ring that is gone from the new one without having
 * left gracefully died: whatever it was still sending when it died is lost
 * from the plans of the others. */
static int member_died(const struct rc_plan_input *in)
{
    const uint64_t *old_ids, *new_ids;
    size_t nold = rc_ring_members(in->old_ring, &old_ids), nnew, i, j;
    const struct rc_member *m;

    nnew = rc_ring_members(in->new_ring, &new_ids);
    for (i = 0; i < nold; i++) {
        for (j = 0; j < nnew && new_ids[j] != old_ids[i]; j++)
            ;
        m = find_member(in, old_ids[i]);
        if (j == nnew && (m == NULL || m->state != RC_MEMBER_LEFT))
            return 1;
    }
    return 0;
}

/* Repair: for every range this node replicates, a digest comparison with
 * each other replica, sending only what differs. Every replica does it, so
 * a replica that is the one short (say, the node a dead one was streaming
 * to) is filled by the others, at the cost of a digest round trip per
 * range and replica pair. */
static int plan_repair(struct builder *b, uint64_t before)
{
    const struct rc_plan_input *in = b->in;
    struct rc_ring_iter it;
    struct rc_ring_vrange v;
    uint64_t ids[RC_RING_MAX_RF];
    int k, j, rv;

    rc_ring_iter_init(&it, in->new_ring);
    while (rc_ring_iter_next(&it, &v)) {
        k = rc_ring_replicas(in->new_ring, v.token, in->rf, ids);
        if (k < 2 || !contains(ids, k, in->self))
            continue;
        for (j = 0; j < k; j++) {
            if (ids[j] == in->self || !find_member(in, ids[j]))
                continue;
            rv = add_chunks(b, ids[j], RC_PLAN_REPAIR, v.first, v.last, -1, before);
            if (rv < 0)
                return rv;
        }
    }
    return 0;
}

/* The sweep: every vnode range without this node among its replicas where
 * this node still holds something goes to each replica (digest first:
 * usually they have it) and is dropped once all of them acknowledged. */
static int plan_strays(struct builder *b)
{
    const struct rc_plan_input *in = b->in;
    const uint64_t *tokens;
    struct rc_ring_iter it;
    struct rc_ring_vrange v;
    uint64_t ids[RC_RING_MAX_RF];
    int k, j, drop, rv;

    if (rc_ring_tokens(in->new_ring, &tokens) < 2)
        return 0; /* one member replicates everything */
    rc_ring_iter_init(&it, in->new_ring);
    while (rc_ring_iter_next(&it, &v)) {
        k = rc_ring_replicas(in->new_ring, v.token, in->rf, ids);
        if (k < 1 || contains(ids, k, in->self) || !in->holds(in->holds_arg, v.first, v.last))
            continue;
        drop = add_drop(b, v.first, v.last);
        if (drop < 0)
            return drop;
        b->p->ranges++;
        for (j = 0; j < k; j++) {
            if (!find_member(in, ids[j]))
                continue;
            rv = add_chunks(b, ids[j], RC_PLAN_STRAY, v.first, v.last, drop, 0);
            if (rv < 0)
                return rv;
        }
    }
    return 0;
}

static int plan_diff(struct builder *b)
{
    struct rc_ring_range *ranges = NULL;
    size_t n = 0, i;
    int rv;

    rv = rc_ring_diff(b->in->old_ring, b->in->new_ring, b->in->rf, &ranges, &n);
    for (i = 0; rv == 0 && i < n; i++)
        rv = plan_range(b, &ranges[i]);
    free(ranges);
    b->p->ranges += n;
    return rv;
}

int rc_plan_new(const struct rc_plan_input *in, struct rc_plan **out)
{
    struct builder b = {in, NULL, 0, 0};
    uint64_t before = 0;
    int rv = RC_EINVAL, repair = in->repair;

    *out = NULL;
    if (in->rf < 1 || in->new_ring == NULL || (!in->sweep && in->old_ring == NULL) ||
        (in->sweep && in->holds == NULL))
        return rv;
    b.p = calloc(1, sizeof(*b.p));
    if (b.p == NULL)
        return RC_ENOMEM;
    rv = in->sweep ? plan_strays(&b) : plan_diff(&b);
    /*
     * Anti-entropy: after a death (the dead node's streams are lost), after
     * a dead member came back (a healed partition: each node planned from
     * its own settled ring, and those rings differed, so a range can have
     * been assigned to a sender that does not know it holds it), and when
     * asked (periodically, on a sweep), every range is compared with its
     * other replicas. A leaving node only hands over.
     */
    if (!in->handoff && !in->sweep && (in->heal || member_died(in)))
        repair = 1;
    b.p->repair = repair && !in->handoff;
    /* Periodic passes leave the last seconds' writes to the write path;
     * after a death or a heal everything is compared. */
    if (in->sweep)
        before = rc_hlc_make((uint64_t)(in->now_ms - RC_PLAN_REPAIR_QUIET_MS), 0);
    if (rv == 0 && b.p->repair)
        rv = plan_repair(&b, before);
    if (rv < 0) {
        rc_plan_free(b.p);
        return rv;
    }
    *out = b.p;
    return 0;
}

void rc_plan_free(struct rc_plan *p)
{
    if (p == NULL)
        return;
    free(p->tasks);
    free(p->drops);
    free(p);
}

int rc_plan_stray(const struct rc_ring *r, int rf, uint64_t id, uint64_t token)
{
    uint64_t ids[RC_RING_MAX_RF];
    int k = rc_ring_replicas(r, token, rf, ids);

    return k >= 1 && !contains(ids, k, id);
}
