/*
 * rebalance.c - plans which token ranges move when the ring changes (see
 * rebalance.h), and drives the plans.
 *
 * The cluster view (cluster.c) says who the members are; settle_ms after
 * the last change, the planner (common/plan.c) decides from the settled
 * and the current ring which ranges this node sends to whom and drops,
 * and this file turns its tasks into streams (run by rebalance_send.c) and
 * drives them with a tick timer. A new ring change replaces the plan; work
 * already done is found again by the digests and skipped. The same
 * machinery runs the cleanup sweeps, anti-entropy and a graceful leave.
 */
#include "rebalance_int.h"
#include "container_of.h"
#include "cluster.h"
#include "err.h"
#include "plan.h"
#include "stream.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pump granularity: often enough to keep a stream busy and the rate
 * limiter smooth, rarely enough to cost nothing when idle. */
#define TICK_MS 5
/* Cleanup sweep: after each plan finishes and then every opts.sweep_ms
 * (--cleanup-interval), a node looks for data it holds in ranges it does not replicate (left by a
 * partition: a node that was cut off streams to the members it still
 * saw; or by a write from a coordinator whose view lagged) and hands it
 * to the ring's replicas before deleting it. One existence probe per ring
 * range (an index seek, a few microseconds): ~5 ms for 1,000 ranges.
 *
 * A sweep must not take for strays what another node sends here because it
 * already sees a ring this node does not: a node hands its ranges over
 * *before* it announces that it leaves, and a survivor may declare a death
 * a few seconds before this node does. So data (or a digest request)
 * arriving for a range this node does not replicate holds sweeps back for
 * opts.hold_ms and abandons a sweep under way; once the ring change reaches
 * this node, its own plan makes that data its own. */

static void on_sweep(uv_timer_t *t);

static void plan_free(struct plan *p)
{
    size_t i, j;

    if (p == NULL)
        return;
    for (i = 0; i < p->nstreams; i++) {
        for (j = 0; j < p->streams[i].ntasks; j++)
            free(p->streams[i].tasks[j].cur_key);
        free(p->streams[i].tasks);
    }
    free(p->streams);
    free(p->drops);
    rc_ring_free(p->target);
    free(p);
}

static struct stream *stream_for(struct plan *p, const struct rc_member *m)
{
    struct stream *s;
    size_t i;

    for (i = 0; i < p->nstreams; i++)
        if (p->streams[i].target == m->id)
            return &p->streams[i];
    s = realloc(p->streams, (p->nstreams + 1) * sizeof(*s));
    if (s == NULL)
        return NULL;
    p->streams = s;
    s = &p->streams[p->nstreams++];
    memset(s, 0, sizeof(*s));
    s->target = m->id;
    snprintf(s->host, sizeof(s->host), "%s", m->host);
    s->peer_port = m->peer_port;
    s->client_port = m->client_port;
    return s;
}

/* Appends the planned task pt to the stream to m. */
static int add_task(struct rc_rebalance *rb, struct plan *p, const struct rc_member *m,
                    const struct rc_plan_task *pt)
{
    struct stream *s = stream_for(p, m);
    struct task *t;

    if (s == NULL)
        return RC_ENOMEM;
    t = realloc(s->tasks, (s->ntasks + 1) * sizeof(*t));
    if (t == NULL)
        return RC_ENOMEM;
    s->tasks = t;
    t = &s->tasks[s->ntasks];
    memset(t, 0, sizeof(*t));
    t->cur_key = malloc(rc_node_opts(rb->node)->max_key);
    if (t->cur_key == NULL)
        return RC_ENOMEM;
    s->ntasks++;
    t->first = pt->first;
    t->last = pt->last;
    t->drop = pt->drop;
    t->before = pt->before;
    t->repair = pt->kind == RC_PLAN_REPAIR;
    t->npieces = PIECES;
    t->state = T_LOCAL_DIGEST;
    if (pt->drop >= 0)
        p->drops[pt->drop].pending++;
    return 0;
}

static int count_row(void *arg, const struct rc_entry *e)
{
    (void)arg;
    (void)e;
    return 1;
}

/* 1 when this node holds any row (tombstones included) in [first, last]. */
static int holds_any(struct rc_rebalance *rb, uint64_t first, uint64_t last)
{
    return rc_node_scan(rb->node, first, last, 0, NULL, 0, 1, rc_node_now_ms(), count_row,
                        NULL) > 0;
}

static int holds_cb(void *arg, uint64_t first, uint64_t last)
{
    return holds_any(arg, first, last);
}

/* The streams and drops of the planner's output (see plan.h). */
static int adopt_plan(struct rc_rebalance *rb, struct plan *p, const struct rc_plan *pl)
{
    size_t i;
    int rv;

    if (pl->ndrops > 0 && (p->drops = calloc(pl->ndrops, sizeof(*p->drops))) == NULL)
        return RC_ENOMEM;
    for (i = 0; i < pl->ndrops; i++) {
        p->drops[i].first = pl->drops[i].first;
        p->drops[i].last = pl->drops[i].last;
    }
    p->ndrops = pl->ndrops;
    for (i = 0; i < pl->ntasks; i++) {
        const struct rc_member *m = rc_cluster_find(rb->cluster, pl->tasks[i].target);

        if (m == NULL)
            continue; /* the planner only targets members: not reached */
        rv = add_task(rb, p, m, &pl->tasks[i]);
        if (rv < 0)
            return rv;
    }
    p->ranges = pl->ranges;
    p->repair = pl->repair;
    return 0;
}

/* Builds the plan from the settled ring to target (which it takes over);
 * a sweep plan (target has the settled ring's members) only cleans up, and
 * with repair also compares every range with its other replicas. After a
 * ring change the planner adds a repair itself after a death or a heal. */
static int make_plan(struct rc_rebalance *rb, struct rc_ring *target, int handoff, int sweep,
                     int repair, struct plan **out)
{
    struct rc_plan_input in;
    struct rc_plan *pl = NULL;
    struct plan *p;
    int rv;

    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        rc_ring_free(target);
        return RC_ENOMEM;
    }
    p->target = target;
    p->handoff = handoff;
    p->sweep = sweep;
    memset(&in, 0, sizeof(in));
    in.old_ring = rb->settled;
    in.new_ring = target;
    in.rf = rc_cluster_rf(rb->cluster);
    in.self = rb->self;
    in.nmembers = rc_cluster_members(rb->cluster, &in.members);
    in.handoff = handoff;
    in.sweep = sweep;
    in.repair = repair;
    in.heal = rb->heal;
    in.now_ms = rc_node_now_ms();
    in.holds = holds_cb;
    in.holds_arg = rb;
    rv = rc_plan_new(&in, &pl);
    if (rv == 0)
        rv = adopt_plan(rb, p, pl);
    rc_plan_free(pl);
    if (rv < 0) {
        plan_free(p);
        return rv;
    }
    p->gen = ++rb->gen;
    p->started_ms = (uint64_t)rc_node_now_ms();
    *out = p;
    return 0;
}

size_t rebalance_plan_tasks(const struct plan *p, size_t *done)
{
    size_t i, total = 0;

    *done = 0;
    for (i = 0; i < p->nstreams; i++) {
        total += p->streams[i].ntasks;
        *done += p->streams[i].done;
    }
    return total;
}

/* Remembers the settled ring's members, so that after a restart this node
 * compares against what it held before instead of pushing everything it
 * has to everyone. Part of the current write batch. */
static void save_settled(struct rc_rebalance *rb)
{
    const uint64_t *ids;
    size_t n = rc_ring_members(rb->settled, &ids), i;
    char name[32];
    int rv;

    rv = rc_node_meta_stage(rb->node, "settled_n", n);
    for (i = 0; rv == 0 && i < n; i++) {
        snprintf(name, sizeof(name), "settled_%zu", i);
        rv = rc_node_meta_stage(rb->node, name, ids[i]);
    }
    if (rv < 0)
        rc_log_warn(rb->log, "cannot save the settled ring: %s", rc_strerror(rv));
}

static int store_empty(struct rc_rebalance *rb)
{
    return rc_node_store_empty(rb->node);
}

/* The settled ring saved by an earlier run; for a node with data but no
 * saved ring, one of this node alone (whatever it holds is then checked
 * against the cluster); for a new, empty node, none yet. */
static int load_settled(struct rc_rebalance *rb)
{
    uint64_t n = 0, ids[RC_RING_MAX_MEMBERS];
    char name[32];
    size_t i;

    if (rc_node_meta_get(rb->node, "settled_n", &n) == 0 && n > 0 && n <= RC_RING_MAX_MEMBERS) {
        for (i = 0; i < n; i++) {
            snprintf(name, sizeof(name), "settled_%zu", i);
            if (rc_node_meta_get(rb->node, name, &ids[i]) < 0)
                break;
        }
        if (i == n &&
            rc_ring_new(ids, (size_t)n, rc_cluster_vnodes(rb->cluster), &rb->settled) == 0)
            return 0;
    }
    if (store_empty(rb)) {
        /* A new node holds nothing to hand anyone: it adopts the first
         * ring it sees (rb->settled stays NULL until then). */
        rb->settled = NULL;
        return 0;
    }
    ids[0] = rb->self;
    return rc_ring_new(ids, 1, rc_cluster_vnodes(rb->cluster), &rb->settled);
}

void rebalance_finish_plan(struct rc_rebalance *rb)
{
    struct plan *p = rb->plan;
    uint64_t keys = 0, bytes = 0, ms = (uint64_t)rc_node_now_ms() - p->started_ms;
    size_t i, tasks, done, skipped = 0;

    for (i = 0; i < p->nstreams; i++) {
        keys += p->streams[i].keys;
        bytes += p->streams[i].bytes;
        skipped += p->streams[i].skipped;
    }
    tasks = rebalance_plan_tasks(p, &done);
    if (p->repair && keys > 0)
        rb->st.repairs_sent++;
    if (p->sweep && p->ndrops == 0 && keys == 0) {
        rc_log_debug(rb->log, "anti-entropy: %zu range copies compared, all equal", tasks);
    } else {
        const char *what = p->sweep && p->ndrops == 0 ? "anti-entropy"
                           : p->sweep                 ? "cleanup"
                                                      : "rebalance";

        rc_log_info(rb->log,
                    "%s finished cause=\"%s\" ranges_changed=%zu sends=%zu skipped=%zu "
                    "keys=%" PRIu64 " bytes=%" PRIu64 " ranges_dropped=%zu duration_ms=%" PRIu64,
                    what, p->cause, p->ranges, tasks, skipped, keys, bytes, p->ndrops, ms);
        rebalance_event(rb, "%s finished: %zu range sends (%zu already in place), "
                            "%" PRIu64 " keys, %" PRIu64 " bytes, %zu ranges dropped, %" PRIu64
                            " ms",
                        what, tasks, skipped, keys, bytes, p->ndrops, ms);
    }
    rc_ring_free(rb->settled);
    rb->settled = p->target;
    p->target = NULL;
    rb->st.running = 0;
    if (!p->handoff)
        save_settled(rb);
    /* Soon after a plan (a partition that healed leaves strays), then
     * periodically. */
    if (!p->handoff && rb->opts.sweep_ms > 0)
        uv_timer_start(&rb->sweep, on_sweep,
                       (uint64_t)(p->sweep ? rb->opts.sweep_ms : rb->opts.settle_ms),
                       (uint64_t)rb->opts.sweep_ms);
    if (p->handoff && rb->handoff_done) {
        void (*cb)(void *) = rb->handoff_done;

        rb->handoff_done = NULL;
        uv_timer_stop(&rb->handoff_timer);
        cb(rb->handoff_arg);
    }
    plan_free(p);
    rb->plan = NULL;
}

void rebalance_cancel_plan(struct rc_rebalance *rb)
{
    plan_free(rb->plan);
    rb->plan = NULL;
    rb->st.running = 0;
    uv_timer_stop(&rb->tick);
}

static void on_tick(uv_timer_t *t)
{
    struct rc_rebalance *rb = container_of(t, struct rc_rebalance, tick);
    uint64_t now = uv_now(rb->loop);

    if (rb->opts.rate_bytes > 0) {
        rb->tokens += (double)rb->opts.rate_bytes * (double)(now - rb->last_refill) / 1000.0;
        /* At most a tenth of a second of burst. */
        if (rb->tokens > (double)rb->opts.rate_bytes / 10)
            rb->tokens = (double)rb->opts.rate_bytes / 10;
    }
    rb->last_refill = now;
    rebalance_pump(rb);
    if (rb->plan == NULL)
        uv_timer_stop(&rb->tick);
}

static void start_plan(struct rc_rebalance *rb, struct rc_ring *target, int handoff, int sweep,
                       int repair, const char *cause)
{
    struct plan *p;
    size_t tasks, done;
    int rv;

    if (rb->plan != NULL) {
        /* Superseded: keep what was settled; digests find the work done. */
        rebalance_event(rb, "rebalance restarted: the ring changed again");
        plan_free(rb->plan);
        rb->plan = NULL;
    }
    rv = make_plan(rb, target, handoff, sweep, repair, &p);
    if (rv < 0) {
        rc_log_error(rb->log, "cannot plan rebalance: %s", rc_strerror(rv));
        return;
    }
    if (p->repair) {
        rb->heal = 0;
        rb->st.repairs++;
        rb->next_repair = uv_now(rb->loop) + (uint64_t)rb->opts.repair_ms;
    }
    tasks = rebalance_plan_tasks(p, &done);
    if (sweep && p->ndrops == 0 && tasks == 0) {
        plan_free(p); /* nothing held out of place: the usual case */
        return;
    }
    snprintf(p->cause, sizeof(p->cause), "%s", cause);
    rb->plan = p;
    rb->st.rebalances++;
    rb->st.running = 1;
    if (sweep && p->ndrops == 0) {
        /* A periodic anti-entropy pass: quiet unless replicas differ. */
        rc_log_debug(rb->log, "anti-entropy: comparing %zu range copies with other replicas",
                     tasks);
    } else if (sweep) {
        rb->st.sweeps++;
        rc_log_info(rb->log, "cleanup started: %zu ranges held here that other nodes replicate; "
                             "handing them over (sends=%zu), then dropping them",
                    p->ndrops, tasks);
        rebalance_event(rb, "cleanup started: %zu ranges held here belong to other nodes",
                        p->ndrops);
    } else {
        rc_log_info(rb->log, "rebalance started cause=\"%s\" ranges_changed=%zu sends=%zu "
                             "targets=%zu drops=%zu",
                    cause, p->ranges, tasks, p->nstreams, p->ndrops);
        rebalance_event(rb,
                        "rebalance started (%s): %zu ranges changed, %zu to send to %zu nodes",
                        cause, p->ranges, tasks, p->nstreams);
    }
    rb->last_refill = uv_now(rb->loop);
    uv_timer_start(&rb->tick, on_tick, TICK_MS, TICK_MS);
    rebalance_pump(rb);
}

static int same_members(const struct rc_ring *a, const struct rc_ring *b)
{
    const uint64_t *ia, *ib;
    size_t na, nb;

    if (a == NULL || b == NULL)
        return 0;
    na = rc_ring_members(a, &ia);
    nb = rc_ring_members(b, &ib);
    return na == nb && (na == 0 || memcmp(ia, ib, na * sizeof(*ia)) == 0);
}

static void on_settle(uv_timer_t *t)
{
    struct rc_rebalance *rb = container_of(t, struct rc_rebalance, settle);
    struct rc_ring *target;

    if (rb->leaving)
        return;
    if (rc_cluster_new_ring(rb->cluster, 0, &target) < 0) {
        rc_log_error(rb->log, "cannot build the ring to rebalance to: out of memory");
        return;
    }
    if (rb->settled == NULL) {
        const uint64_t *ids;

        if (rc_ring_members(target, &ids) < 2) {
            rc_ring_free(target); /* alone so far: wait for the cluster */
            return;
        }
        rb->settled = target;
        save_settled(rb);
        if (store_empty(rb)) {
            rc_log_info(rb->log, "new node: adopting the current ring, nothing to hand over");
            return;
        }
        /* It took writes before its first plan (members changed while the
         * cluster was forming): the next anti-entropy pass compares them
         * with their replicas (a new node that joins under writes holds
         * what the write path gave it, so no pass is forced here). */
        rc_log_info(rb->log, "adopting the current ring; the data already held is compared "
                             "with its replicas by the next anti-entropy pass");
        return;
    }
    /* A suspect refuting, or a change that left the set of ring members as
     * it was, moves nothing: keep the running plan, start no empty one. */
    if (same_members(target, rb->plan ? rb->plan->target : rb->settled)) {
        rc_ring_free(target);
        return;
    }
    start_plan(rb, target, 0, 0, 0, rb->pending_cause);
}

/* The cleanup sweep (every opts.sweep_ms): only while nothing else runs and
 * the view matches the settled ring; a pending change plans first. */
static void on_sweep(uv_timer_t *t)
{
    struct rc_rebalance *rb = container_of(t, struct rc_rebalance, sweep);
    struct rc_ring *target;

    if (rb->leaving || rb->plan != NULL || rb->settled == NULL || uv_is_active((uv_handle_t *)&rb->settle))
        return;
    if (uv_now(rb->loop) < rb->hold_until) {
        /* Come back when the hold ends, then keep the usual period. */
        uv_timer_start(&rb->sweep, on_sweep, rb->hold_until - uv_now(rb->loop),
                       (uint64_t)rb->opts.sweep_ms);
        return;
    }
    if (rc_cluster_new_ring(rb->cluster, 0, &target) < 0)
        return;
    if (!same_members(target, rb->settled)) {
        rc_ring_free(target);
        return;
    }
    start_plan(rb, target, 0, 1,
               rb->opts.repair_ms > 0 && uv_now(rb->loop) >= rb->next_repair,
               "cleanup");
}

/* Leaving while members change (others stopping too, say): hand over to
 * the ring as it is now, and stop waiting for nodes that are gone. With no
 * other member left, there is nobody to hand to: leave with the data on
 * disk. */
static void replan_handoff(struct rc_rebalance *rb)
{
    struct rc_ring *target;
    const uint64_t *ids;

    if (rc_cluster_new_ring(rb->cluster, 1, &target) < 0)
        return;
    if (rb->plan != NULL && same_members(target, rb->plan->target)) {
        rc_ring_free(target);
        return;
    }
    if (rc_ring_members(target, &ids) == 0) {
        void (*cb)(void *) = rb->handoff_done;

        rc_ring_free(target);
        rc_log_info(rb->log, "handoff: no other member left; leaving with the data on disk");
        rebalance_cancel_plan(rb);
        rb->handoff_done = NULL;
        uv_timer_stop(&rb->handoff_timer);
        cb(rb->handoff_arg);
        return;
    }
    start_plan(rb, target, 1, 0, 0, "this node is leaving (members changed)");
}

/* The membership changed: plan settle_ms after the last change (or, while
 * leaving, hand over to the ring as it is now). event describes the change
 * for ACTIVITY and the plan's cause; NULL for the first view. */
static void members_changed(struct rc_rebalance *rb, const char *event)
{
    if (event != NULL) {
        rebalance_event(rb, "%s", event);
        snprintf(rb->pending_cause, sizeof(rb->pending_cause), "%s", event);
    } else if (rb->pending_cause[0] == '\0') {
        snprintf(rb->pending_cause, sizeof(rb->pending_cause), "node started");
    }
    if (!rb->leaving)
        uv_timer_start(&rb->settle, on_settle, (uint64_t)rb->opts.settle_ms, 0);
    else if (rb->handoff_done != NULL)
        replan_handoff(rb);
}

/* ---- graceful leave ------------------------------------------------- */

static void on_handoff_timeout(uv_timer_t *t)
{
    struct rc_rebalance *rb = container_of(t, struct rc_rebalance, handoff_timer);
    void (*cb)(void *) = rb->handoff_done;

    if (cb == NULL)
        return;
    rc_log_warn(rb->log, "handoff did not finish in time; leaving anyway (the remaining "
                         "replicas keep the data)");
    rb->handoff_done = NULL;
    cb(rb->handoff_arg);
}

void rc_rebalance_handoff(struct rc_rebalance *rb, int timeout_ms, void (*done)(void *arg),
                          void *arg)
{
    struct rc_ring *target;

    rb->leaving = 1;
    uv_timer_stop(&rb->settle);
    rb->handoff_done = done;
    rb->handoff_arg = arg;
    if (rc_cluster_new_ring(rb->cluster, 1, &target) < 0) {
        rb->handoff_done = NULL;
        done(arg);
        return;
    }
    /* Hand over what this node holds as the ring now stands. */
    if (rb->plan == NULL || rb->settled == NULL) {
        rc_ring_free(rb->settled);
        rb->settled = NULL;
        rc_cluster_new_ring(rb->cluster, 0, &rb->settled);
    }
    uv_timer_start(&rb->handoff_timer, on_handoff_timeout, (uint64_t)timeout_ms, 0);
    start_plan(rb, target, 1, 0, 0, "this node is leaving");
}

int rc_rebalance_new(uv_loop_t *loop, const struct rc_rebalance_opts *opts,
                     struct rc_cluster *cluster, struct rc_node *node, struct rc_peers *peers,
                     const struct rc_log *log, struct rc_rebalance **out)
{
    struct rc_rebalance *rb;
    const struct rc_node_opts *no = rc_node_opts(node);
    /* The peer port's frame limit: every node's, as main.c sets it. */
    uint32_t max_frame = opts->max_frame ? opts->max_frame : no->max_value + no->max_key + 4096;
    size_t cap = rc_stream_batch_cap(max_frame);

    *out = NULL;
    rb = calloc(1, sizeof(*rb));
    if (rb == NULL)
        return RC_ENOMEM;
    if (!msgpack_zone_init(&rb->zone, 64 * 1024)) {
        free(rb);
        return RC_ENOMEM;
    }
    rb->loop = loop;
    rb->opts = *opts;
    /* batch_bytes is the payload a batch aims at; batch_cap what it may
     * never exceed encoded (fill_entry): one entry of the largest key and
     * value fits alone. */
    if (rb->opts.batch_bytes > no->max_value)
        rb->opts.batch_bytes = no->max_value > 0 ? no->max_value : 1;
    rb->batch_cap = cap;
    rb->cluster = cluster;
    rb->node = node;
    rb->peers = peers;
    rb->log = log;
    rb->self = rc_node_id(node);
    rc_buf_init(&rb->batch, cap + 5); /* array 32 header + entries */
    rc_buf_init(&rb->entries, cap);
    rb->max_key = no->max_key;
    rb->last_key = malloc(no->max_key ? no->max_key : 1);
    if (rb->last_key == NULL) {
        rc_rebalance_free(rb);
        return RC_ENOMEM;
    }
    uv_timer_init(loop, &rb->tick);
    uv_timer_init(loop, &rb->settle);
    uv_timer_init(loop, &rb->sweep);
    uv_timer_init(loop, &rb->handoff_timer);
    /* The ring this node last settled on (or itself alone on a fresh data
     * dir): what it holds is compared against the cluster once the members
     * are seen, and handed over or dropped where it no longer belongs. */
    if (load_settled(rb) < 0) {
        rc_rebalance_free(rb);
        return RC_ENOMEM;
    }
    if (rb->opts.sweep_ms > 0)
        uv_timer_start(&rb->sweep, on_sweep, (uint64_t)rb->opts.sweep_ms,
                       (uint64_t)rb->opts.sweep_ms);
    rb->next_repair = uv_now(loop) + (uint64_t)rb->opts.repair_ms;
    *out = rb;
    return 0;
}

void rc_rebalance_stop(struct rc_rebalance *rb)
{
    uv_close((uv_handle_t *)&rb->tick, NULL);
    uv_close((uv_handle_t *)&rb->settle, NULL);
    uv_close((uv_handle_t *)&rb->sweep, NULL);
    uv_close((uv_handle_t *)&rb->handoff_timer, NULL);
}

void rc_rebalance_free(struct rc_rebalance *rb)
{
    if (rb == NULL)
        return;
    plan_free(rb->plan);
    rc_ring_free(rb->settled);
    rc_buf_close(&rb->batch);
    rc_buf_close(&rb->entries);
    free(rb->last_key);
    msgpack_zone_destroy(&rb->zone);
    free(rb);
}

void rc_rebalance_on_cluster(void *arg, const struct rc_cluster_change *ch)
{
    struct rc_rebalance *rb = arg;
    const struct rc_member *m = ch->member;
    char event[RC_HOST_MAX + 128];

    if (m == NULL) {
        members_changed(rb, NULL);
        return;
    }
    /* A member that was dead and is alive again (a partition healed, a
     * node restarted on its data): the next plan compares every range with
     * its replicas (anti-entropy), since plans made on either side of a
     * partition started from different settled rings. */
    if (ch->old == RC_MEMBER_DEAD &&
        (m->state == RC_MEMBER_ALIVE || m->state == RC_MEMBER_SUSPECT))
        rb->heal = 1;
    snprintf(event, sizeof(event), "%016llx %s:%u %s -> %s (%s)", (unsigned long long)m->id,
             m->host, m->client_port,
             strcmp(ch->reason, "joined") == 0 ? "new" : rc_member_state_name(ch->old),
             rc_member_state_name(m->state), ch->reason);
    members_changed(rb, event);
}
