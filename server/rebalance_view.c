/*
 * rebalance_view.c - what the rebalancer shows: the event log (the last
 * MAX_EVENTS ring changes, plans and stream troubles; the oldest is
 * overwritten), the ACTIVITY document (the running plan, its streams, the
 * events) and the STATS counters. Apart from appending events it only
 * reads the state the other rebalance*.c files keep.
 */
#include "rebalance_int.h"
#include "err.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void rebalance_event(struct rc_rebalance *rb, const char *fmt, ...)
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
    size_t i, done = 0, total = p ? rebalance_plan_tasks(p, &done) : 0;

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

size_t rc_rebalance_streams(const struct rc_rebalance *rb, struct rc_rebalance_stream *out,
                            size_t max)
{
    const struct plan *p = rb->plan;
    size_t i;

    for (i = 0; p && i < p->nstreams && i < max; i++) {
        const struct stream *s = &p->streams[i];

        out[i].peer = s->target;
        out[i].ranges = s->ntasks;
        out[i].ranges_done = s->done;
        out[i].ranges_in_place = s->skipped;
        out[i].keys = s->keys;
        out[i].bytes = s->bytes;
        out[i].failures = s->failures;
    }
    return p ? p->nstreams : 0;
}
