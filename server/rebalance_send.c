/*
 * rebalance_send.c - runs a plan's streams (see rebalance_int.h).
 *
 * Per target node one stream, a list of range tasks. A task runs: local
 * digest (an empty range is done at once), remote digest (equal: done,
 * nothing sent), then batches from a cursor (token, key) until the range
 * is exhausted. Each task has at most one request in flight and each
 * stream at most WINDOW tasks at once; the tick (rebalance.c) refills the
 * byte-rate budget and pumps the streams. Callbacks carry the plan's
 * generation, so answers for a replaced plan are ignored.
 */
#include "rebalance_int.h"
#include "err.h"
#include "stream.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Retry of a stream whose target failed: from 200 ms doubling to 5 s. */
#define RETRY_MIN_MS 200
#define RETRY_MAX_MS 5000
/* Rows deleted per tick when dropping ranges handed over: a few ms of work. */
#define DELETE_BATCH 500
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
    rebalance_event(rb, "stream to %016" PRIx64 ": skipped a %zu-byte value too large for "
                        "a frame",
                    f->s->target, (size_t)e->value_len);
    f->skipped = 1;
    fill_cursor(f, e);
}

/*
 * One entry: [key, value | nil, hlc, node, expires(, attr)]. A batch ends once its
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
    uint64_t attr = e->tombstone ? 0 : rc_attr_pack(&e->attr);

    msgpack_pack_array(&f->pk, attr != 0 ? 6 : 5);
    msgpack_pack_bin_with_body(&f->pk, e->key, e->key_len);
    if (e->tombstone)
        msgpack_pack_nil(&f->pk);
    else
        msgpack_pack_bin_with_body(&f->pk, e->value, e->value_len);
    msgpack_pack_uint64(&f->pk, e->ver.hlc);
    msgpack_pack_uint64(&f->pk, e->ver.node);
    msgpack_pack_uint64(&f->pk, e->expires_ms > 0 ? (uint64_t)e->expires_ms : 0);
    if (attr != 0)
        msgpack_pack_uint64(&f->pk, attr);
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
    if (t->mask == 0 ||
        !rebalance_piece_bounds(t->first, t->last, t->npieces, t->piece, &pa, &pb)) {
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
        rebalance_event(rb, "stream to %016" PRIx64 " failing: %d attempts in a row failed "
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
        rebalance_event(rb, "stream to %016" PRIx64 " resumed", s->target);
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
        if (!rebalance_piece_bounds(t->first, t->last, PIECES, i, &pa, &pb))
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
        } else if (t->repair && (rep->evicted || rc_node_evicting(rb->node))) {
            /* Replicas of an evicting cache differ by design: each evicts
             * on its own reads. Resending the difference would put back
             * what was evicted, again every pass (traffic growing with the
             * eviction rate), so anti-entropy leaves such ranges alone;
             * hints still deliver missed writes and read repair fixes
             * stale versions (docs/architecture.md, "Replicas of a
             * cache"). */
            s->skipped++;
            rb->st.repairs_skipped_evicting++;
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
    rebalance_pump(rb);
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
void rebalance_pump(struct rc_rebalance *rb)
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
        rebalance_finish_plan(rb);
}
