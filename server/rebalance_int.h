/*
 * rebalance_int.h - the rebalancer's state, shared by its files only.
 *
 * rebalance.c plans (ring changes, sweeps, repairs, the leave) and owns the
 * timers and the life cycle; rebalance_send.c runs a plan's streams;
 * rebalance_recv.c answers other nodes' digests and batches;
 * rebalance_view.c keeps the event log and packs ACTIVITY. All work on one
 * struct rc_rebalance, laid out here; nothing outside server/rebalance*.c
 * includes this file.
 */
#ifndef RC_REBALANCE_INT_H
#define RC_REBALANCE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "rebalance.h"
#include "ring.h"
#include "swim.h"

/* Events kept for ACTIVITY / watch. */
#define MAX_EVENTS 64
#define EVENT_LEN 400
/* A range whose digest differs is compared again in this many equal
 * pieces, and only differing pieces are sent: a rejoining node that missed
 * a few writes gets those pieces (1/4096 of the ring each), not whole
 * ranges. 16 pieces cost one round trip and 16 small index scans a side. */
#define PIECES 16

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
    int repair;      /* anti-entropy (RC_PLAN_REPAIR), not a move of ownership */
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
    struct rc_cluster *cluster; /* members and live rings come from it */
    uint64_t self;
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

/* Piece i of k equal pieces of [first, last]; 0 when it is empty. */
static inline int rebalance_piece_bounds(uint64_t first, uint64_t last, int k, int i,
                                         uint64_t *a, uint64_t *b)
{
    uint64_t w = (last - first) / (uint64_t)k + 1;

    if ((uint64_t)i > (last - first) / w)
        return 0;
    *a = first + (uint64_t)i * w;
    *b = i == k - 1 || last - *a < w ? last : *a + w - 1;
    return 1;
}

/* rebalance.c: the tasks of p, and how many of them are done. */
size_t rebalance_plan_tasks(const struct plan *p, size_t *done);
/* rebalance.c: the plan is complete (every stream done, drops deleted):
 * its ring becomes the settled one (a leave calls its done callback), the
 * cleanup sweeps resume, and the plan is freed. */
void rebalance_finish_plan(struct rc_rebalance *rb);
/* rebalance.c: ends the running plan (if any) unfinished and stops the
 * tick; a later plan finds the work already done by its digests. */
void rebalance_cancel_plan(struct rc_rebalance *rb);

/* rebalance_send.c: advances the streams of the running plan by a bounded
 * number of steps; finishes the plan when all is done. */
void rebalance_pump(struct rc_rebalance *rb);

/* rebalance_view.c: records an event for ACTIVITY. */
void rebalance_event(struct rc_rebalance *rb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
