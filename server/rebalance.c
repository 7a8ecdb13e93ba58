/*
 * rebalance.c - streams the token ranges whose replicas changed (see rebalance.h).
 *
 * The planner (common/plan.c) decides from the settled and the current
 * ring which ranges this node sends to whom and drops; this file turns its
 * tasks into streams, per target node one, a list of range tasks. A task
 * runs: local digest (an empty range is done at once), remote digest
 * (equal: done, nothing sent), then batches from a cursor (token, key)
 * until the range is exhausted. Each task has at most one request in
 * flight and each stream at most WINDOW tasks at once; a tick timer pumps
 * the streams and enforces the byte-rate limit. A new ring change replaces
 * the plan; work already done is found again by the digests and skipped.
 * Callbacks carry the plan's generation, so answers for a replaced plan
 * are ignored.
 */
#include "rebalance.h"
#include "container_of.h"
#include "cluster.h"
#include "codec.h"
#include "err.h"
#include "native.h"
#include "plan.h"
#include "ring.h"
#include "store.h"
#include "stream.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Pump granularity: often enough to keep a stream busy and the rate
 * limiter smooth, rarely enough to cost nothing when idle. */
#define TICK_MS 5
/* Retry of a stream whose target failed: from 200 ms doubling to 5 s. */
#define RETRY_MIN_MS 200
#define RETRY_MAX_MS 5000
/* Rows deleted per tick when dropping ranges handed over: a few ms of work. */
#define DELETE_BATCH 500
/* Events kept for ACTIVITY / watch. */
#define MAX_EVENTS 64
#define EVENT_LEN 400
/* A range whose digest differs is compared again in this many equal
 * pieces, and only differing pieces are sent: a rejoining node that missed
 * a few writes gets those pieces (1/4096 of the ring each), not whole
 * ranges. 16 pieces cost one round trip and 16 small index scans a side. */
#define PIECES 16
/* Local steps (a digest or a batch scan, each about a millisecond) per
 * pump: bounds how long rebalancing holds the loop at once, so gossip acks
 * and client requests are never delayed by more than a few ms. */
#define PUMP_STEPS 8
/* Tasks (ranges) of one stream with a request in flight at once: a round
 * trip waits for the receiver's commit (1-2 ms), so one at a time leaves
 * both nodes idle; sixteen keep them busy while the memory in flight
 * stays at sixteen batches per target, and under INFLIGHT_BYTES. */
#define WINDOW 16
/* Bytes of batches one stream keeps in flight: WINDOW batches of 512 KiB
 * (the default batch: --max-value-size 1m / 2), so streams of small values
 * keep their pace, while with large values what waits for one target in
 * the peer pool stays far below its queue cap (main.c), which would refuse
 * the batch (BUFFER_FULL) and stall the stream. One batch always goes. */
#define INFLIGHT_BYTES (8u << 20)
/* Time a stream may fail without a single answer before it counts as
 * failing: a warning, STATS stream_failures, an event. Longer than failure
 * detection plus --rebalance-delay (a few seconds), so a target that died
 * is replaced by a new plan before it is reported; short enough that an
 * operator sees a stuck stream at once. It keeps retrying every
 * RETRY_MAX_MS (the target may come back or be fixed), and a success says
 * so in the log. ACTIVITY shows failures and last_error all along. */
#define STALL_MS 15000
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

enum task_state { T_LOCAL_DIGEST, T_REMOTE_DIGEST, T_SEND, T_DONE };

struct drop {
    uint64_t first, last;
    int pending; /* tasks of this range not yet done */
    int failed;
};

struct task {
    uint64_t first, last;
    enum task_state state;
    int drop; /* index into plan drops, or -1 */
    uint64_t local_digest, local_count;
    uint64_t mask; /* pieces still to send (bit i = piece i of npieces) */
    int npieces;   /* PIECES, or 1 when the target had nothing in the range */
    int piece;     /* piece being sent */
    int inflight;  /* a request of this task awaits its answer */
    uint64_t before; /* compare only versions with an hlc below it; 0 = all */
    int has_cursor;
    uint64_t cur_token;
    size_t cur_key_len;
    uint8_t *cur_key; /* max_key bytes, owned */
};

struct stream {
    uint64_t target;
    char host[RC_HOST_MAX];
    uint16_t peer_port, client_port;
    struct task *tasks;
    size_t ntasks, next, done, skipped;
    uint64_t keys, bytes;
    int inflight, failures; /* failures: attempts in a row that failed */
    int last_err;           /* the latest failure's code, 0 after a success */
    int reported;           /* counted as failing (STALL_MS), until a success */
    uint64_t fail_since;    /* loop time of the first failure in a row */
    size_t inflight_bytes;  /* batch bytes awaiting their answer */
    uint64_t retry_at, started_ms, finished_ms;
};

struct plan {
    uint64_t gen;
    struct stream *streams;
    size_t nstreams;
    struct drop *drops;
    size_t ndrops, next_drop;
    struct rc_ring *target; /* becomes the settled ring when done */
    char cause[EVENT_LEN];
    uint64_t started_ms;
    size_t ranges; /* diff ranges considered */
    size_t rr;     /* stream the next pump starts with */
    int handoff;
    int sweep;     /* a cleanup of ranges held but not replicated here */
    int repair;    /* also compares every range held with its other replicas */
};

struct event {
    int64_t ms;
    char text[EVENT_LEN];
};

struct rc_rebalance {
    uv_loop_t *loop;
    uv_timer_t tick, settle, sweep;
    uint64_t hold_until; /* loop time before which no sweep starts */
    uint64_t next_repair; /* loop time of the next anti-entropy pass */
    int heal;             /* a dead member came back: the next plan repairs */
    struct rc_rebalance_opts opts;
    struct rc_node *node;
    struct rc_peers *peers;
    const struct rc_log *log;
    uint64_t self;
    struct rc_member *members;
    size_t nmembers;
    struct rc_ring *settled;
    struct plan *plan;
    uint64_t gen;
    double tokens; /* rate limiter: bytes that may be sent now */
    uint64_t last_refill;
    struct rc_buf batch, entries;
    size_t batch_cap;  /* most bytes of entries a batch holds (fits a frame) */
    uint8_t *last_key; /* max_key bytes */
    size_t max_key;
    msgpack_zone zone;
    struct rc_rebalance_stats st;
    struct event events[MAX_EVENTS];
    size_t nevents, event_next;
    char pending_cause[EVENT_LEN];
    int leaving;
    void (*handoff_done)(void *);
    void *handoff_arg;
    uv_timer_t handoff_timer;
};

/* What a peer callback needs to find its stream again, if still current. */
struct req_ctx {
    struct rc_rebalance *rb;
    uint64_t gen;
    size_t stream, task;
    size_t batch_keys, batch_bytes, wire;
    uint64_t last_token;
    size_t last_key_len;
    int exhausted;
    uint8_t last_key[];
};

static void pump(struct rc_rebalance *rb);
static void on_sweep(uv_timer_t *t);

void rc_rebalance_event(struct rc_rebalance *rb, const char *fmt, ...)
{
    struct event *e = &rb->events[rb->event_next];
    va_list ap;

    e->ms = rc_node_now_ms();
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof(e->text), fmt, ap);
    va_end(ap);
    rb->event_next = (rb->event_next + 1) % MAX_EVENTS;
    if (rb->nevents < MAX_EVENTS)
        rb->nevents++;
}

static const struct rc_member *find_member(const struct rc_rebalance *rb, uint64_t id)
{
    size_t i;

    for (i = 0; i < rb->nmembers; i++)
        if (rb->members[i].id == id)
            return &rb->members[i];
    return NULL;
}

/* Ring of the members a coordinator would route to (alive and suspect),
 * optionally without this node (graceful leave). */
static int ring_of(const struct rc_rebalance *rb, int without_self, struct rc_ring **out)
{
    uint64_t ids[RC_RING_MAX_MEMBERS];
    size_t i, k = 0;

    for (i = 0; i < rb->nmembers && k < RC_RING_MAX_MEMBERS; i++) {
        const struct rc_member *m = &rb->members[i];

        if ((m->state == RC_MEMBER_ALIVE || m->state == RC_MEMBER_SUSPECT) &&
            !(without_self && m->id == rb->self))
            ids[k++] = m->id;
    }
    return rc_ring_new(ids, k, rb->opts.vnodes, out);
}

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

/* Piece i of k equal pieces of [first, last]; 0 when it is empty. */
static int piece_bounds(uint64_t first, uint64_t last, int k, int i, uint64_t *a, uint64_t *b)
{
    uint64_t w = (last - first) / (uint64_t)k + 1;

    if ((uint64_t)i > (last - first) / w)
        return 0;
    *a = first + (uint64_t)i * w;
    *b = i == k - 1 || last - *a < w ? last : *a + w - 1;
    return 1;
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
        const struct rc_member *m = find_member(rb, pl->tasks[i].target);

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
    in.rf = rb->opts.rf;
    in.self = rb->self;
    in.members = rb->members;
    in.nmembers = rb->nmembers;
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

static size_t plan_tasks(const struct plan *p, size_t *done)
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
        if (i == n && rc_ring_new(ids, (size_t)n, rb->opts.vnodes, &rb->settled) == 0)
            return 0;
    }
    if (store_empty(rb)) {
        /* A new node holds nothing to hand anyone: it adopts the first
         * ring it sees (rb->settled stays NULL until then). */
        rb->settled = NULL;
        return 0;
    }
    ids[0] = rb->self;
    return rc_ring_new(ids, 1, rb->opts.vnodes, &rb->settled);
}

static void finish_plan(struct rc_rebalance *rb)
{
    struct plan *p = rb->plan;
    uint64_t keys = 0, bytes = 0, ms = (uint64_t)rc_node_now_ms() - p->started_ms;
    size_t i, tasks, done, skipped = 0;

    for (i = 0; i < p->nstreams; i++) {
        keys += p->streams[i].keys;
        bytes += p->streams[i].bytes;
        skipped += p->streams[i].skipped;
    }
    tasks = plan_tasks(p, &done);
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
        rc_rebalance_event(rb, "%s finished: %zu range sends (%zu already in place), "
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

/* ---- sending -------------------------------------------------------- */

struct batch_fill {
    struct rc_rebalance *rb;
    const struct stream *s;
    msgpack_packer pk;
    size_t count, bytes;
    uint64_t last_token;
    uint8_t *last_key; /* copy: the scan's pointers die with the callback */
    size_t last_key_len;
    int full;    /* the scan stopped before the range's end */
    int skipped; /* the batch's first entry was too large to send */
    int err;
};

static int buf_write(void *data, const char *p, size_t n)
{
    struct batch_fill *f = data;
    int rv = rc_buf_append(&f->rb->entries, p, n);

    if (rv < 0)
        f->err = rv;
    return rv < 0 ? -1 : 0;
}

/* The cursor resumes after e. */
static void fill_cursor(struct batch_fill *f, const struct rc_entry *e)
{
    f->last_token = e->token;
    f->last_key_len = e->key_len < f->rb->max_key ? e->key_len : f->rb->max_key;
    memcpy(f->last_key, e->key, f->last_key_len);
}

/* An entry no frame can carry: written under a larger --max-value-size
 * than this node runs with now. The target would refuse it as well. */
static void skip_entry(struct batch_fill *f, const struct rc_entry *e, size_t size)
{
    struct rc_rebalance *rb = f->rb;

    rb->st.stream_skipped++;
    rc_log_warn(rb->log, "stream to %016" PRIx64 ": skipping a key of %zu bytes with a value "
                         "of %zu bytes: %zu bytes encoded, more than a frame holds (%zu); was "
                         "--max-value-size lowered?",
                f->s->target, (size_t)e->key_len, (size_t)e->value_len, size, rb->batch_cap);
    rc_rebalance_event(rb, "stream to %016" PRIx64 ": skipped a %zu-byte value too large for "
                           "a frame",
                       f->s->target, (size_t)e->value_len);
    f->skipped = 1;
    fill_cursor(f, e);
}

/*
 * One entry: [key, value | nil, hlc, node, expires]. A batch ends once its
 * payload reaches batch_bytes, or before an entry that would take its
 * encoding past batch_cap (what a frame holds), so a batch never outgrows
 * the frame limit nor the buffers: the next batch starts with that entry,
 * and a batch's first entry always goes, so a large value travels alone.
 */
static int fill_entry(void *arg, const struct rc_entry *e)
{
    struct batch_fill *f = arg;
    struct rc_rebalance *rb = f->rb;
    size_t vlen = e->tombstone ? 0 : e->value_len;
    size_t size = rc_stream_entry_size(e->key_len, vlen);

    if (f->count == 0 && size > rb->batch_cap) {
        skip_entry(f, e, size);
        f->full = 1; /* the next scan resumes after it */
        return 1;
    }
    if (f->count > 0 && rc_buf_used(&rb->entries) + size > rb->batch_cap) {
        f->full = 1;
        return 1;
    }
    msgpack_pack_array(&f->pk, 5);
    msgpack_pack_bin_with_body(&f->pk, e->key, e->key_len);
    if (e->tombstone)
        msgpack_pack_nil(&f->pk);
    else
        msgpack_pack_bin_with_body(&f->pk, e->value, e->value_len);
    msgpack_pack_uint64(&f->pk, e->ver.hlc);
    msgpack_pack_uint64(&f->pk, e->ver.node);
    msgpack_pack_uint64(&f->pk, e->expires_ms > 0 ? (uint64_t)e->expires_ms : 0);
    f->count++;
    f->bytes += e->key_len + vlen; /* payload, as the receiver counts it */
    fill_cursor(f, e);
    if (f->err < 0 || f->bytes >= rb->opts.batch_bytes)
        f->full = 1;
    return f->full;
}

static void on_peer_reply(void *arg, int err, const struct rc_reply *rep);

static struct req_ctx *ctx_new(struct rc_rebalance *rb, size_t stream, size_t task,
                               size_t key_len)
{
    struct req_ctx *c = calloc(1, sizeof(*c) + key_len);

    if (c == NULL)
        return NULL;
    c->rb = rb;
    c->gen = rb->plan->gen;
    c->stream = stream;
    c->task = task;
    return c;
}

static int send_req(struct rc_rebalance *rb, struct stream *s, struct task *t,
                    struct rc_request *r, struct req_ctx *c)
{
    int rv = rc_peers_send(rb->peers, s->target, s->host, s->peer_port, r, rb->opts.timeout_ms,
                           on_peer_reply, c);

    if (rv < 0) {
        free(c);
        return rv;
    }
    t->inflight = 1;
    s->inflight++;
    s->inflight_bytes += c->wire;
    return 0;
}

/* The current piece is exhausted: move on; the task is done after the last. */
static void next_piece(struct task *t)
{
    t->mask &= ~(UINT64_C(1) << t->piece);
    t->has_cursor = 0;
    if (t->mask == 0)
        t->state = T_DONE;
}

/* The cursor of t moves to where the scan f stopped. */
static void move_cursor(struct task *t, uint64_t token, const uint8_t *key, size_t key_len)
{
    t->has_cursor = 1;
    t->cur_token = token;
    t->cur_key_len = key_len;
    memcpy(t->cur_key, key, key_len);
}

/* The STREAM request of the packed entries, as rb->batch (array 32 header
 * in front of the entries). 0 or RC_ENOMEM. */
static int build_batch(struct rc_rebalance *rb, size_t count)
{
    uint8_t hdr[5];

    hdr[0] = 0xdd;
    hdr[1] = (uint8_t)(count >> 24);
    hdr[2] = (uint8_t)(count >> 16);
    hdr[3] = (uint8_t)(count >> 8);
    hdr[4] = (uint8_t)count;
    rc_buf_reset(&rb->batch);
    if (rc_buf_append(&rb->batch, hdr, sizeof(hdr)) < 0 ||
        rc_buf_append(&rb->batch, rc_buf_rptr(&rb->entries), rc_buf_used(&rb->entries)) < 0)
        return RC_ENOMEM;
    return 0;
}

/* Sends the next batch of the current task, or completes the task. */
static int send_batch(struct rc_rebalance *rb, struct stream *s, struct task *t, size_t si,
                      size_t ti)
{
    struct batch_fill f;
    struct rc_request r;
    struct req_ctx *c;
    uint64_t pa, pb;
    int n;

    while (t->mask != 0 && !(t->mask & (UINT64_C(1) << t->piece)))
        t->piece++;
    if (t->mask == 0 || !piece_bounds(t->first, t->last, t->npieces, t->piece, &pa, &pb)) {
        t->state = T_DONE;
        return 0;
    }
    memset(&f, 0, sizeof(f));
    f.rb = rb;
    f.s = s;
    f.last_key = rb->last_key;
    rc_buf_reset(&rb->entries);
    msgpack_packer_init(&f.pk, &f, buf_write);
    n = rc_node_scan(rb->node, pa, pb, t->cur_token, t->has_cursor ? t->cur_key : NULL,
                     t->cur_key_len, rb->opts.batch_keys, rc_node_now_ms(), fill_entry, &f);
    if (n < 0 || f.err < 0)
        return n < 0 ? n : f.err;
    if (f.count == 0) {
        if (f.skipped)
            move_cursor(t, f.last_token, f.last_key, f.last_key_len); /* past what cannot go */
        else
            next_piece(t);
        return 0;
    }
    c = ctx_new(rb, si, ti, f.last_key_len);
    if (c == NULL)
        return RC_ENOMEM;
    c->batch_keys = f.count;
    c->batch_bytes = f.bytes;
    c->last_token = f.last_token;
    c->last_key_len = f.last_key_len;
    memcpy(c->last_key, f.last_key, f.last_key_len);
    /* The scan ran out of entries, not of room. */
    c->exhausted = !f.full && n < rb->opts.batch_keys;
    if (build_batch(rb, f.count) < 0) {
        free(c);
        return RC_ENOMEM;
    }
    memset(&r, 0, sizeof(r));
    r.op = RC_OP_STREAM;
    r.has_range = 1;
    r.range_first = pa;
    r.range_last = pb;
    r.has_value = 1;
    r.value = rc_buf_rptr(&rb->batch);
    r.value_len = (uint32_t)rc_buf_used(&rb->batch);
    c->wire = r.value_len;
    rb->tokens -= (double)r.value_len;
    return send_req(rb, s, t, &r, c);
}

static int send_digest(struct rc_rebalance *rb, struct stream *s, struct task *t, size_t si,
                       size_t ti)
{
    struct rc_request r;
    struct req_ctx *c;
    int rv;

    rv = rc_node_range_digest_before(rb->node, t->first, t->last, rc_node_now_ms(),
                                     t->before ? t->before : UINT64_MAX, &t->local_digest,
                                     &t->local_count);
    if (rv < 0)
        return rv;
    if (t->local_count == 0) {
        /* Nothing here to send: whatever the target has is all there is. */
        t->state = T_DONE;
        s->skipped++;
        rb->st.ranges_skipped++;
        return 0;
    }
    c = ctx_new(rb, si, ti, 0);
    if (c == NULL)
        return RC_ENOMEM;
    memset(&r, 0, sizeof(r));
    r.op = RC_OP_RANGE_DIGEST;
    r.has_range = 1;
    r.range_first = t->first;
    r.range_last = t->last;
    r.pieces = PIECES;
    r.before_hlc = t->before;
    t->state = T_REMOTE_DIGEST;
    return send_req(rb, s, t, &r, c);
}

static void task_done(struct rc_rebalance *rb, struct stream *s, struct task *t)
{
    struct plan *p = rb->plan;

    (void)rb;
    t->state = T_DONE;
    s->done++;
    while (s->next < s->ntasks && s->tasks[s->next].state == T_DONE)
        s->next++;
    if (t->drop >= 0)
        p->drops[t->drop].pending--;
}

/* A request of s failed (or could not be built): back off, and once it
 * has failed for STALL_MS without an answer, report it as failing. */
static void stream_failed(struct rc_rebalance *rb, struct stream *s, int err)
{
    uint64_t now = uv_now(rb->loop), backoff = RETRY_MIN_MS << (s->failures < 5 ? s->failures : 5);

    s->last_err = err;
    /* Requests in flight together fail together (a connection reset, a
     * timeout): they are one attempt, already backing off. */
    if (now < s->retry_at)
        return;
    if (backoff > RETRY_MAX_MS)
        backoff = RETRY_MAX_MS;
    if (s->failures++ == 0)
        s->fail_since = now;
    s->retry_at = now + backoff;
    if (!s->reported && now - s->fail_since >= STALL_MS) {
        s->reported = 1;
        rb->st.stream_failures++;
        rc_log_warn(rb->log, "stream to %016" PRIx64 " %s:%u failing: %d attempts in a row "
                             "failed over %" PRIu64 " s (last: %s); its ranges stay a copy "
                             "short until it gets through; retrying every %d ms",
                    s->target, s->host, s->peer_port, s->failures,
                    (now - s->fail_since) / 1000, rc_strerror(err), RETRY_MAX_MS);
        rc_rebalance_event(rb, "stream to %016" PRIx64 " failing: %d attempts in a row failed "
                               "(%s)",
                           s->target, s->failures, rc_strerror(err));
    } else if (s->failures == 1 || s->failures % 10 == 0) {
        rc_log_warn(rb->log, "stream to %016" PRIx64 " %s:%u failed (%s), retrying in %" PRIu64
                             " ms from the last acknowledged key",
                    s->target, s->host, s->peer_port, rc_strerror(err), backoff);
    }
}

/* An answer came: the stream works (again). */
static void stream_ok(struct rc_rebalance *rb, struct stream *s)
{
    if (s->reported) {
        rc_log_info(rb->log, "stream to %016" PRIx64 " %s:%u resumed after %d failed attempts",
                    s->target, s->host, s->peer_port, s->failures);
        rc_rebalance_event(rb, "stream to %016" PRIx64 " resumed", s->target);
    }
    s->failures = 0;
    s->last_err = 0;
    s->reported = 0;
}

/* Pieces whose digests differ and that hold something here to send. The
 * peer's per-piece digests come as VALUE = [[digest, count] x PIECES];
 * without them every piece is sent. */
static uint64_t differing_pieces(struct rc_rebalance *rb, const struct task *t,
                                 const struct rc_reply *rep)
{
    uint64_t mask = 0, pa, pb, d, n, all = 0, rd[PIECES], rn[PIECES];
    uint8_t valid[PIECES];
    int i, have = 0;

    if (rep->has_value && rc_stream_pieces(&rb->zone, rep->value, rep->value_len, PIECES, rd, rn,
                                           valid) == 0)
        have = 1;
    for (i = 0; i < PIECES; i++) {
        if (!piece_bounds(t->first, t->last, PIECES, i, &pa, &pb))
            break;
        all |= UINT64_C(1) << i;
        if (rc_node_range_digest_before(rb->node, pa, pb, rc_node_now_ms(),
                                        t->before ? t->before : UINT64_MAX, &d, &n) < 0)
            return all | (UINT64_C(1) << i); /* cannot tell: send it */
        if (n == 0)
            continue; /* nothing here for it */
        if (have && valid[i] && rd[i] == d && rn[i] == n)
            continue;
        mask |= UINT64_C(1) << i;
    }
    return mask;
}

static void on_peer_reply(void *arg, int err, const struct rc_reply *rep)
{
    struct req_ctx *c = arg;
    struct rc_rebalance *rb = c->rb;
    struct stream *s;
    struct task *t;

    if (rb->plan == NULL || rb->plan->gen != c->gen) {
        free(c); /* a replaced plan */
        return;
    }
    s = &rb->plan->streams[c->stream];
    t = &s->tasks[c->task];
    t->inflight = 0;
    s->inflight--;
    s->inflight_bytes -= c->wire;
    if (err == 0 && rep->status != 0)
        err = rc_err_from_status((int)rep->status);
    if (err < 0) {
        stream_failed(rb, s, err);
    } else if (t->state == T_REMOTE_DIGEST) {
        stream_ok(rb, s);
        if (rep->has_digest && rep->digest == t->local_digest &&
            rep->digest_count == t->local_count) {
            s->skipped++;
            rb->st.ranges_skipped++;
            task_done(rb, s, t);
        } else if (rep->has_digest && rep->digest_count == 0) {
            /* The target has nothing here (a joining node): send it all. */
            t->npieces = 1;
            t->mask = 1;
            t->piece = 0;
            t->has_cursor = 0;
            t->state = T_SEND;
        } else {
            t->npieces = PIECES;
            t->mask = differing_pieces(rb, t, rep);
            t->piece = 0;
            t->has_cursor = 0;
            t->state = t->mask ? T_SEND : T_DONE;
            if (t->mask == 0) {
                s->skipped++;
                rb->st.ranges_skipped++;
                task_done(rb, s, t);
            }
        }
    } else {
        stream_ok(rb, s);
        s->keys += c->batch_keys;
        s->bytes += c->batch_bytes;
        rb->st.keys_out += c->batch_keys;
        rb->st.bytes_out += c->batch_bytes;
        move_cursor(t, c->last_token, c->last_key, c->last_key_len);
        if (c->exhausted) {
            next_piece(t);
            if (t->state == T_DONE) {
                rb->st.ranges_sent++;
                task_done(rb, s, t);
            }
        }
    }
    free(c);
    pump(rb);
}

/* Deletes, in bounded steps, the ranges this node handed over. Returns 1
 * while there is more to do. */
static int drop_step(struct rc_rebalance *rb, struct plan *p)
{
    struct drop *d;
    int deleted = 0, rv, steps = 0;

    while (p->next_drop < p->ndrops) {
        if (steps++ >= PUMP_STEPS)
            return 1; /* more next tick */
        d = &p->drops[p->next_drop];
        if (d->pending > 0)
            return 1; /* not confirmed yet: keep the copies */
        rv = rc_node_delete_range(rb->node, d->first, d->last, DELETE_BATCH, &deleted);
        if (rv < 0) {
            rc_log_warn(rb->log, "cannot drop handed-over range: %s", rc_strerror(rv));
            p->next_drop++;
            continue;
        }
        rb->st.keys_dropped += (uint64_t)deleted;
        if (deleted >= DELETE_BATCH)
            return 1; /* more next tick */
        rb->st.ranges_dropped++;
        p->next_drop++;
    }
    return 0;
}

/* Advances every stream that is not waiting; ends the plan when all is
 * done. At most PUMP_STEPS local steps (digests, scans) per call, starting
 * with a different stream each time: a plan of thousands of small ranges
 * never holds the loop for long, and no stream starves the others. */
static void pump(struct rc_rebalance *rb)
{
    struct plan *p = rb->plan;
    uint64_t now = uv_now(rb->loop);
    size_t i, j, k, busy = 0, steps = 0;
    int rv;

    if (p == NULL)
        return;
    for (k = 0; k < p->nstreams; k++) {
        struct stream *s;

        i = (p->rr + k) % p->nstreams;
        s = &p->streams[i];
        for (j = s->next; j < s->ntasks && j < s->next + WINDOW * 4 &&
                          s->inflight < WINDOW && now >= s->retry_at && steps < PUMP_STEPS;
             j++) {
            struct task *t = &s->tasks[j];

            if (t->state == T_DONE || t->inflight)
                continue;
            if (t->state == T_SEND && rb->opts.rate_bytes > 0 && rb->tokens <= 0)
                break; /* over the rate: the tick refills */
            if (t->state == T_SEND && s->inflight_bytes >= INFLIGHT_BYTES)
                continue; /* enough on its way; digests may still go */
            steps++;
            if (t->state == T_LOCAL_DIGEST || t->state == T_REMOTE_DIGEST)
                rv = send_digest(rb, s, t, i, j);
            else
                rv = send_batch(rb, s, t, i, j);
            if (rv < 0) {
                stream_failed(rb, s, rv);
                break;
            }
            if (t->state == T_DONE && !t->inflight)
                task_done(rb, s, t);
        }
        if (s->next < s->ntasks)
            busy++;
        else if (s->finished_ms == 0)
            s->finished_ms = now;
    }
    if (p->nstreams > 0)
        p->rr = (p->rr + 1) % p->nstreams;
    if (busy == 0 && !drop_step(rb, p))
        finish_plan(rb);
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
    pump(rb);
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
        rc_rebalance_event(rb, "rebalance restarted: the ring changed again");
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
    tasks = plan_tasks(p, &done);
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
        rc_rebalance_event(rb, "cleanup started: %zu ranges held here belong to other nodes",
                           p->ndrops);
    } else {
        rc_log_info(rb->log, "rebalance started cause=\"%s\" ranges_changed=%zu sends=%zu "
                             "targets=%zu drops=%zu",
                    cause, p->ranges, tasks, p->nstreams, p->ndrops);
        rc_rebalance_event(rb,
                           "rebalance started (%s): %zu ranges changed, %zu to send to %zu nodes",
                           cause, p->ranges, tasks, p->nstreams);
    }
    rb->last_refill = uv_now(rb->loop);
    uv_timer_start(&rb->tick, on_tick, TICK_MS, TICK_MS);
    pump(rb);
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
    if (ring_of(rb, 0, &target) < 0) {
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
    if (ring_of(rb, 0, &target) < 0)
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

    if (ring_of(rb, 1, &target) < 0)
        return;
    if (rb->plan != NULL && same_members(target, rb->plan->target)) {
        rc_ring_free(target);
        return;
    }
    if (rc_ring_members(target, &ids) == 0) {
        void (*cb)(void *) = rb->handoff_done;

        rc_ring_free(target);
        rc_log_info(rb->log, "handoff: no other member left; leaving with the data on disk");
        plan_free(rb->plan);
        rb->plan = NULL;
        rb->st.running = 0;
        rb->handoff_done = NULL;
        uv_timer_stop(&rb->handoff_timer);
        uv_timer_stop(&rb->tick);
        cb(rb->handoff_arg);
        return;
    }
    start_plan(rb, target, 1, 0, 0, "this node is leaving (members changed)");
}

/* A member that was dead and is alive again (a partition healed, a node
 * restarted on its data): the next plan compares every range with its
 * replicas (anti-entropy), since plans made on either side of a partition
 * started from different settled rings. */
static void note_returns(struct rc_rebalance *rb, const struct rc_member *now, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const struct rc_member *was = find_member(rb, now[i].id);

        if (was != NULL && was->state == RC_MEMBER_DEAD &&
            (now[i].state == RC_MEMBER_ALIVE || now[i].state == RC_MEMBER_SUSPECT))
            rb->heal = 1;
    }
}

void rc_rebalance_members_changed(struct rc_rebalance *rb, const struct rc_member *members,
                                  size_t n, const char *event)
{
    struct rc_member *copy = malloc((n ? n : 1) * sizeof(*copy));

    if (copy == NULL) {
        rc_log_error(rb->log, "cannot track membership for rebalancing: out of memory");
        return;
    }
    memcpy(copy, members, n * sizeof(*copy));
    note_returns(rb, copy, n);
    free(rb->members);
    rb->members = copy;
    rb->nmembers = n;
    if (event != NULL) {
        rc_rebalance_event(rb, "%s", event);
        snprintf(rb->pending_cause, sizeof(rb->pending_cause), "%s", event);
    } else if (rb->pending_cause[0] == '\0') {
        snprintf(rb->pending_cause, sizeof(rb->pending_cause), "node started");
    }
    if (!rb->leaving)
        uv_timer_start(&rb->settle, on_settle, (uint64_t)rb->opts.settle_ms, 0);
    else if (rb->handoff_done != NULL)
        replan_handoff(rb);
}

/* ---- receiving ------------------------------------------------------ */

static int batch_write(void *data, const char *p, size_t n)
{
    return rc_buf_append(data, p, n) < 0 ? -1 : 0;
}

/* VALUE of a RANGE_DIGEST reply: [[digest, count] x pieces]. */
static int pack_pieces(struct rc_rebalance *rb, const struct rc_request *req, struct rc_reply *rep)
{
    uint64_t pa, pb, d, n;
    msgpack_packer pk;
    int i, k = (int)req->pieces, rv;

    rc_buf_reset(&rb->batch);
    msgpack_packer_init(&pk, &rb->batch, batch_write);
    if (msgpack_pack_array(&pk, (size_t)k) < 0)
        return RC_ENOMEM;
    for (i = 0; i < k; i++) {
        d = n = 0;
        if (piece_bounds(req->range_first, req->range_last, k, i, &pa, &pb)) {
            rv = rc_node_range_digest_before(rb->node, pa, pb, rc_node_now_ms(),
                                             req->before_hlc ? req->before_hlc : UINT64_MAX,
                                             &d, &n);
            if (rv < 0)
                return rv;
        }
        if (msgpack_pack_array(&pk, 2) < 0 || msgpack_pack_uint64(&pk, d) < 0 ||
            msgpack_pack_uint64(&pk, n) < 0)
            return RC_ENOMEM;
    }
    rep->has_value = 1;
    rep->value = rc_buf_rptr(&rb->batch);
    rep->value_len = (uint32_t)rc_buf_used(&rb->batch);
    return 0;
}

/* A digest or batch for [.., last] arrived: if this node does not
 * replicate that range in its settled ring, the sender sees another ring
 * (see the sweep comment at the top); no sweep until the views agree. */
static void note_incoming(struct rc_rebalance *rb, uint64_t last)
{
    if (rb->settled == NULL || rb->opts.sweep_ms <= 0 ||
        !rc_plan_stray(rb->settled, rb->opts.rf, rb->self, last))
        return;
    rb->hold_until = uv_now(rb->loop) + (uint64_t)rb->opts.hold_ms;
    if (rb->plan != NULL && rb->plan->sweep) {
        rc_log_info(rb->log, "cleanup abandoned: another node is streaming ranges here that "
                             "this node does not replicate yet (a ring change on its way)");
        rc_rebalance_event(rb, "cleanup abandoned: a ring change is on its way");
        plan_free(rb->plan);
        rb->plan = NULL;
        rb->st.running = 0;
        uv_timer_stop(&rb->tick);
    }
}

static int handle_digest(struct rc_rebalance *rb, const struct rc_request *req, struct rc_buf *out)
{
    struct rc_reply rep = {.id = req->id};
    int rv;

    if (!req->has_range)
        return rc_encode_error(out, req->id, RC_EINVAL, "RANGE_DIGEST needs RANGE");
    note_incoming(rb, req->range_last);
    rv = rc_node_range_digest_before(rb->node, req->range_first, req->range_last,
                                     rc_node_now_ms(),
                                     req->before_hlc ? req->before_hlc : UINT64_MAX,
                                     &rep.digest, &rep.digest_count);
    if (rv == 0 && req->pieces > 0 && rep.digest_count > 0)
        rv = pack_pieces(rb, req, &rep);
    if (rv < 0)
        return rc_encode_error(out, req->id, rv, NULL);
    rep.has_digest = 1;
    return rc_encode_reply(out, &rep);
}

/* Checks one decoded entry (apply = 0: also merges its timestamp into
 * this node's clock) or applies it (apply = 1). 0 or an error. */
static int apply_entry(struct rc_rebalance *rb, const struct rc_request *req,
                       const msgpack_object *o, uint64_t *bytes, int apply)
{
    const struct rc_node_opts *no = rc_node_opts(rb->node);
    struct rc_stream_entry e;
    struct rc_version ver;
    int rv;

    rv = rc_stream_entry(o, no->max_key, no->max_value, req->range_first, req->range_last, &e);
    if (rv < 0)
        return rv;
    ver.hlc = e.hlc;
    ver.node = e.node;
    if (!apply)
        return rc_node_observe(rb->node, ver.hlc); /* clock: merge, refuse drift */
    *bytes += e.key_len + e.value_len;
    return rc_node_apply(rb->node, e.key, e.key_len, e.value, e.value_len, &ver, e.expires_ms);
}

static int handle_stream(struct rc_rebalance *rb, struct rc_net *net, const struct rc_request *req,
                         struct rc_buf *out)
{
    const msgpack_object *entries;
    struct rc_net_slot *slot;
    uint64_t bytes = 0;
    uint32_t i, n;
    int rv;

    if (!req->has_range || !req->has_value)
        return rc_encode_error(out, req->id, RC_EINVAL, "STREAM needs RANGE and VALUE");
    note_incoming(rb, req->range_last);
    rv = rc_stream_batch(&rb->zone, req->value, req->value_len, &entries, &n);
    if (rv < 0)
        return rc_encode_error(out, req->id, rv, RC_MSG_BAD_BODY ": bad stream batch in VALUE");
    /* Validate the whole batch before applying any of it. */
    for (i = 0; i < n; i++) {
        rv = apply_entry(rb, req, &entries[i], &bytes, 0);
        if (rv < 0)
            return rc_encode_error(out, req->id, rv,
                                   rv == RC_EPROTO ? RC_MSG_BAD_BODY ": stream entry rejected"
                                                   : "stream entry rejected");
    }
    for (i = 0; i < n; i++) {
        rv = apply_entry(rb, req, &entries[i], &bytes, 1);
        if (rv < 0)
            return rc_encode_error(out, req->id, rv, NULL);
    }
    rb->st.keys_in += n;
    rb->st.bytes_in += bytes;
    /* Acknowledged once the batch is committed here. */
    slot = rc_net_defer(net);
    if (slot == NULL)
        return rc_encode_error(out, req->id, RC_ENOMEM, NULL);
    rv = rc_node_ack_at_commit(rb->node, slot, req->id);
    if (rv < 0)
        rc_native_complete_error(slot, req->id, rv, NULL);
    return 0;
}

int rc_rebalance_handle(struct rc_rebalance *rb, struct rc_net *net, const struct rc_request *req,
                        struct rc_buf *out)
{
    if (req->op == RC_OP_RANGE_DIGEST)
        return handle_digest(rb, req, out);
    return handle_stream(rb, net, req, out);
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
    if (ring_of(rb, 1, &target) < 0) {
        rb->handoff_done = NULL;
        done(arg);
        return;
    }
    /* Hand over what this node holds as the ring now stands. */
    if (rb->plan == NULL || rb->settled == NULL) {
        rc_ring_free(rb->settled);
        rb->settled = NULL;
        ring_of(rb, 0, &rb->settled);
    }
    uv_timer_start(&rb->handoff_timer, on_handoff_timeout, (uint64_t)timeout_ms, 0);
    start_plan(rb, target, 1, 0, 0, "this node is leaving");
}

/* ---- views ---------------------------------------------------------- */

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);

    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_stream(msgpack_packer *pk, const struct stream *s, uint64_t now,
                        uint64_t started)
{
    double secs = (double)((s->finished_ms ? s->finished_ms : now) - started) / 1000.0;
    double rate = secs > 0 ? (double)s->bytes / secs : 0;
    double eta = -1;
    char id[17], addr[RC_HOST_MAX + 8];

    if (s->done > 0 && s->done < s->ntasks && secs > 0)
        eta = secs * (double)(s->ntasks - s->done) / (double)s->done;
    else if (s->done == s->ntasks)
        eta = 0;
    snprintf(id, sizeof(id), "%016" PRIx64, s->target);
    snprintf(addr, sizeof(addr), strchr(s->host, ':') ? "[%s]:%u" : "%s:%u", s->host,
             s->client_port);
    msgpack_pack_map(pk, 11);
    pack_str(pk, "to"); pack_str(pk, id);
    pack_str(pk, "to_addr"); pack_str(pk, addr);
    pack_str(pk, "ranges"); msgpack_pack_uint64(pk, s->ntasks);
    pack_str(pk, "ranges_done"); msgpack_pack_uint64(pk, s->done);
    pack_str(pk, "ranges_in_place"); msgpack_pack_uint64(pk, s->skipped);
    pack_str(pk, "keys"); msgpack_pack_uint64(pk, s->keys);
    pack_str(pk, "bytes"); msgpack_pack_uint64(pk, s->bytes);
    pack_str(pk, "bytes_per_s"); msgpack_pack_double(pk, rate);
    pack_str(pk, "eta_s"); msgpack_pack_double(pk, eta);
    pack_str(pk, "failures"); msgpack_pack_uint64(pk, (uint64_t)s->failures);
    pack_str(pk, "last_error"); pack_str(pk, s->last_err ? rc_strerror(s->last_err) : "");
}

int rc_rebalance_pack_activity(struct rc_rebalance *rb, msgpack_packer *pk)
{
    const struct plan *p = rb->plan;
    uint64_t now = (uint64_t)rc_node_now_ms();
    size_t i, done = 0, total = p ? plan_tasks(p, &done) : 0;

    msgpack_pack_map(pk, 3);
    pack_str(pk, "rebalance");
    msgpack_pack_map(pk, 13);
    pack_str(pk, "running"); p ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    pack_str(pk, "cause"); pack_str(pk, p ? p->cause : "");
    pack_str(pk, "started_ms"); msgpack_pack_uint64(pk, p ? p->started_ms : 0);
    pack_str(pk, "ranges"); msgpack_pack_uint64(pk, total);
    pack_str(pk, "ranges_done"); msgpack_pack_uint64(pk, done);
    pack_str(pk, "keys_out"); msgpack_pack_uint64(pk, rb->st.keys_out);
    pack_str(pk, "bytes_out"); msgpack_pack_uint64(pk, rb->st.bytes_out);
    pack_str(pk, "keys_in"); msgpack_pack_uint64(pk, rb->st.keys_in);
    pack_str(pk, "bytes_in"); msgpack_pack_uint64(pk, rb->st.bytes_in);
    pack_str(pk, "rebalances"); msgpack_pack_uint64(pk, rb->st.rebalances);
    pack_str(pk, "keys_dropped"); msgpack_pack_uint64(pk, rb->st.keys_dropped);
    pack_str(pk, "stream_failures"); msgpack_pack_uint64(pk, rb->st.stream_failures);
    pack_str(pk, "stream_skipped"); msgpack_pack_uint64(pk, rb->st.stream_skipped);
    pack_str(pk, "streams");
    msgpack_pack_array(pk, p ? p->nstreams : 0);
    for (i = 0; p && i < p->nstreams; i++)
        pack_stream(pk, &p->streams[i], now, p->started_ms);
    pack_str(pk, "events");
    msgpack_pack_array(pk, rb->nevents);
    for (i = 0; i < rb->nevents; i++) {
        /* Oldest first. */
        const struct event *e =
            &rb->events[(rb->event_next + MAX_EVENTS - rb->nevents + i) % MAX_EVENTS];

        msgpack_pack_map(pk, 2);
        pack_str(pk, "ms"); msgpack_pack_int64(pk, e->ms);
        pack_str(pk, "text"); pack_str(pk, e->text);
    }
    return 0;
}

void rc_rebalance_stats(const struct rc_rebalance *rb, struct rc_rebalance_stats *st)
{
    *st = rb->st;
}

int rc_rebalance_new(uv_loop_t *loop, const struct rc_rebalance_opts *opts, struct rc_node *node,
                     struct rc_peers *peers, const struct rc_log *log, struct rc_rebalance **out)
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
    free(rb->members);
    rc_buf_close(&rb->batch);
    rc_buf_close(&rb->entries);
    free(rb->last_key);
    msgpack_zone_destroy(&rb->zone);
    free(rb);
}

void rc_rebalance_on_cluster(void *arg, const struct rc_cluster_change *ch)
{
    const struct rc_member *m = ch->member;
    char event[RC_HOST_MAX + 128];

    if (m == NULL) {
        rc_rebalance_members_changed(arg, ch->members, ch->nmembers, NULL);
        return;
    }
    snprintf(event, sizeof(event), "%016llx %s:%u %s -> %s (%s)", (unsigned long long)m->id,
             m->host, m->client_port,
             strcmp(ch->reason, "joined") == 0 ? "new" : rc_member_state_name(ch->old),
             rc_member_state_name(m->state), ch->reason);
    rc_rebalance_members_changed(arg, ch->members, ch->nmembers, event);
}
