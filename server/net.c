/*
 * net.c - listener and connections, protocol-agnostic (see net.h).
 *
 * A connection is a small state machine. conn_set_state makes every
 * transition between READING, BLOCKED and DRAINING (it starts and stops
 * reading); conn_close is the only way into CLOSING, and the accept sets
 * the first state (BLOCKED until the connection is counted):
 *
 *   READING  --out >= high water-->  BLOCKED  --out drained-->  READING
 *   READING/BLOCKED --protocol error or shutdown--> DRAINING --flushed--> CLOSING
 *   any --I/O error--> CLOSING
 *
 * The bytes of a connection go through a channel (channel.h: the cluster
 * key's sealed stream on the peer port). In read_cb the handler's parse
 * takes every complete request, in place, and the partial one is kept;
 * parsing pauses when the pending output reaches the high-water mark or
 * too many requests are deferred, so a client that pipelines without
 * reading cannot grow our memory (TCP backpressure does the rest). What a
 * request means, AUTH included, is the handler's business (native.c for
 * the client and peer ports, resp_server.c).
 *
 * Limits (each off at 0): a sweep timer closes connections that sent and
 * received nothing for idle_timeout_ms, that did not authenticate within
 * auth_timeout_ms of connecting (when auth is on), that started a request
 * and did not finish it within frame_timeout_ms (slowloris), or whose
 * pending replies made no write progress for write_timeout_ms (a client
 * that never reads: backpressure bounds its memory, this frees its
 * descriptor). A
 * connection holding more than out_limit reply bytes (finished replies
 * piling up behind a slow one) is closed at once.
 *
 * Deferred replies wait in a per-connection FIFO of slots. While the FIFO
 * is not empty, immediate replies queue behind it in slots of their own,
 * which keeps request order. Replies are flushed by the node's batch end
 * (node.h), after the group commit, with one write per connection.
 */
#include "net.h"
#include "container_of.h"
#include "channel.h"
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#ifdef __linux__
#include <linux/sockios.h>
#endif


/* Read granularity: large enough that a pipeline of small requests arrives
 * in one read, small enough that 10k idle connections cost little (the
 * buffer is released when a connection goes idle with a larger one). */
#define READ_CHUNK (16 * 1024)
#define LISTEN_BACKLOG 511

/* What a connection's output holds at most: up to the high-water mark,
 * then one more reply (reading pauses at the mark). */
static size_t out_cap(const struct rc_net_opts *o)
{
    return o->out_high + (o->max_reply ? o->max_reply : RC_FRAME_HDR + (size_t)o->max_frame);
}

enum conn_state { CONN_READING, CONN_BLOCKED, CONN_DRAINING, CONN_CLOSING };

struct rc_net_slot {
    struct rc_net_slot *next;
    struct rc_net *net;
    struct rc_conn *conn; /* NULL once the connection is gone */
    int done;
    struct rc_buf bytes;  /* the encoded reply once done */
    /* A captured slot (rc_net_capture): in no FIFO, completion calls this. */
    void (*cb)(void *arg, const uint8_t *p, size_t len);
    void *cb_arg;
};

struct rc_conn {
    uv_tcp_t tcp;
    struct rc_net *net;
    uint64_t id; /* for logs */
    enum conn_state state;
    struct rc_auth_conn auth; /* the handler's, through rc_net_current_auth */
    uint64_t opened_ms;      /* loop time of the accept */
    uint64_t last_in_ms;     /* loop time of the last bytes received */
    uint64_t last_out_ms;    /* ... of the last write progress (or of queueing on idle) */
    uint64_t frame_start_ms; /* a partial request is buffered since then; 0 = none */
    size_t slot_bytes;       /* finished replies waiting in slots */
    size_t last_queue;       /* pending_out() at the last sweep */
    struct rc_channel ch; /* bytes received (ch.in) and, sealed, the wire */
    struct rc_buf out;  /* replies produced, not yet sent */
    struct rc_buf wbuf; /* replies handed to uv_write */
    uv_write_t wreq;
    int writing;
    struct rc_net_slot *slots, *slots_tail; /* replies not ready to go to out */
    int nslots;
    int in_pending;
    struct rc_conn *prev, *next;  /* all connections */
    struct rc_conn *next_pending; /* replies to flush this iteration */
    void *pstate; /* the protocol's per-connection state (handler conn_size) */
};

/* Released slots are kept for reuse, up to this many, so a busy cluster
 * node does not malloc/free per request. */
#define SLOT_CACHE 4096

struct rc_net {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t shutdown_timer;
    uv_timer_t sweep_timer;
    struct rc_net_opts opts;
    struct rc_net_handler h;
    const struct rc_log *log;
    struct rc_conn *conns;
    struct rc_conn *pending;
    struct rc_conn *current; /* connection whose request is being handled */
    struct rc_buf scratch;   /* immediate replies that must queue behind slots */
    struct rc_net_slot *free_slots;
    int nfree_slots;
    void (*capture_cb)(void *arg, const uint8_t *p, size_t len); /* rc_net_capture */
    void *capture_arg;
    struct rc_net_stats stats;
    uint64_t next_conn_id;
    struct rc_channel_log refused_log; /* cluster key refusals */
    int listening, shutting_down, handles_open;
    void (*shutdown_cb)(void *arg);
    void *shutdown_arg;
};

static void conn_close(struct rc_conn *c);
static void flush_conn(struct rc_conn *c);
static void process_input(struct rc_conn *c);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void maybe_finish_shutdown(struct rc_net *net);

/* The port has a cluster key: every connection is sealed. */
static int keyed(const struct rc_net *net)
{
    return net->opts.keys != NULL && net->opts.keys->n > 0;
}

static const char *const state_names[] = {"reading", "blocked", "draining", "closing"};

static void conn_set_state(struct rc_conn *c, enum conn_state st)
{
    if (c->state == st || c->state == CONN_CLOSING)
        return;
    rc_log_debug(c->net->log, "conn state id=%llu %s -> %s", (unsigned long long)c->id,
                 state_names[c->state], state_names[st]);
    if (c->state == CONN_READING)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->state = st;
    /* Time spent paused by us is not the client's slowness. */
    if (st == CONN_READING && c->frame_start_ms != 0)
        c->frame_start_ms = uv_now(c->net->loop);
    if (st == CONN_READING && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        conn_close(c);
}

static void add_pending(struct rc_conn *c)
{
    /* A closing connection is freed at the end of this loop iteration and
     * must not be on a list walked later. */
    if (c->in_pending || c->state == CONN_CLOSING)
        return;
    c->in_pending = 1;
    c->next_pending = c->net->pending;
    c->net->pending = c;
}

static struct rc_net_slot *slot_new(struct rc_net *net, struct rc_conn *c)
{
    struct rc_net_slot *sl = net->free_slots;

    if (sl != NULL) {
        net->free_slots = sl->next;
        net->nfree_slots--;
    } else {
        sl = malloc(sizeof(*sl));
        if (sl == NULL)
            return NULL;
        rc_buf_init(&sl->bytes, out_cap(&net->opts));
    }
    sl->net = net;
    sl->next = NULL;
    sl->conn = c;
    sl->done = 0;
    sl->cb = NULL;
    if (c == NULL) {
        sl->cb = net->capture_cb;
        sl->cb_arg = net->capture_arg;
        return sl;
    }
    if (c->slots_tail)
        c->slots_tail->next = sl;
    else
        c->slots = sl;
    c->slots_tail = sl;
    c->nslots++;
    return sl;
}

static void slot_release(struct rc_net *net, struct rc_net_slot *sl)
{
    rc_buf_reset(&sl->bytes);
    rc_buf_shrink(&sl->bytes, READ_CHUNK);
    if (net->nfree_slots >= SLOT_CACHE) {
        rc_buf_close(&sl->bytes);
        free(sl);
        return;
    }
    sl->next = net->free_slots;
    net->free_slots = sl;
    net->nfree_slots++;
}

/* Moves finished replies at the head of the FIFO into out, in order, as
 * far as out's cap allows (the rest follows after the next flush). */
static void drain_slots(struct rc_conn *c)
{
    struct rc_net_slot *sl;

    while ((sl = c->slots) != NULL && sl->done) {
        if (rc_buf_append(&c->out, rc_buf_rptr(&sl->bytes), rc_buf_used(&sl->bytes)) < 0)
            break;
        c->slot_bytes -= rc_buf_used(&sl->bytes);
        c->slots = sl->next;
        if (c->slots == NULL)
            c->slots_tail = NULL;
        c->nslots--;
        slot_release(c->net, sl);
    }
    if (rc_buf_used(&c->out) > 0)
        add_pending(c);
}

/* Reply bytes the connection holds: queued, being written, and finished
 * but waiting behind a slower reply. Over out_limit the client is closed
 * (its replies are lost; it was not taking them anyway). 1 if closed. */
static int over_out_limit(struct rc_conn *c)
{
    struct rc_net *net = c->net;
    size_t held = rc_buf_used(&c->out) + rc_buf_used(&c->wbuf) + c->slot_bytes;

    if (net->opts.out_limit == 0 || held <= net->opts.out_limit || c->state == CONN_CLOSING)
        return 0;
    net->stats.closed_out_limit++;
    rc_log_warn(net->log, "closing connection id=%llu: %zu reply bytes held, over the output limit of %zu",
                (unsigned long long)c->id, held, net->opts.out_limit);
    conn_close(c);
    return 1;
}

/* A slot's reply is complete: it counts toward what the connection holds,
 * and goes out as soon as every reply before it has. */
static void slot_finished(struct rc_conn *c, struct rc_net_slot *sl)
{
    sl->done = 1;
    c->slot_bytes += rc_buf_used(&sl->bytes);
    if (over_out_limit(c))
        return;
    if (sl == c->slots)
        drain_slots(c);
}

struct rc_net_slot *rc_net_defer(struct rc_net *net)
{
    if (net->capture_cb != NULL)
        return slot_new(net, NULL);
    return net->current ? slot_new(net, net->current) : NULL;
}

void rc_net_capture(struct rc_net *net, void (*cb)(void *arg, const uint8_t *p, size_t len),
                    void *arg, void *conn, struct rc_net_capture_saved *saved)
{
    saved->cb = net->capture_cb;
    saved->arg = net->capture_arg;
    saved->current = net->current;
    net->capture_cb = cb;
    net->capture_arg = arg;
    /* The handler state sits right after its connection (on_connection). */
    net->current = conn != NULL ? (struct rc_conn *)conn - 1 : NULL;
}

void rc_net_capture_end(struct rc_net *net, const struct rc_net_capture_saved *saved)
{
    net->capture_cb = saved->cb;
    net->capture_arg = saved->arg;
    net->current = saved->current;
}

static void sockname(uv_tcp_t *t, int peer, char *out, size_t cap)
{
    struct sockaddr_storage sa;
    char ip[48] = "?";
    int len = sizeof(sa), port = 0;

    out[0] = 0;
    if ((peer ? uv_tcp_getpeername(t, (struct sockaddr *)&sa, &len)
              : uv_tcp_getsockname(t, (struct sockaddr *)&sa, &len)) < 0)
        return;
    uv_ip_name((struct sockaddr *)&sa, ip, sizeof(ip));
    if (sa.ss_family == AF_INET)
        port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
    else if (sa.ss_family == AF_INET6)
        port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
    snprintf(out, cap, "%s:%d", ip, port);
}

static void conn_info(struct rc_conn *c, struct rc_net_conn_info *ci)
{
    uint64_t now = uv_now(c->net->loop);
    uv_os_fd_t fd = -1;

    ci->id = c->id;
    sockname(&c->tcp, 1, ci->addr, sizeof(ci->addr));
    sockname(&c->tcp, 0, ci->laddr, sizeof(ci->laddr));
    ci->fd = uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 ? (int)fd : -1;
    ci->age_s = (now - c->opened_ms) / 1000;
    ci->idle_s = (now - c->last_in_ms) / 1000;
    ci->qbuf = rc_buf_used(&c->ch.in);
    ci->obl = rc_buf_used(&c->out) + rc_buf_used(&c->wbuf) + c->slot_bytes;
    ci->nslots = c->nslots;
    ci->pstate = c->pstate;
}

void rc_net_conns_each(struct rc_net *net, int (*fn)(void *arg, const struct rc_net_conn_info *ci),
                       void *arg)
{
    struct rc_net_conn_info ci;
    struct rc_conn *c, *next;

    for (c = net->conns; c != NULL; c = next) {
        next = c->next;
        if (c->state == CONN_CLOSING)
            continue;
        conn_info(c, &ci);
        if (fn(arg, &ci))
            return;
    }
}

int rc_net_current_info(struct rc_net *net, struct rc_net_conn_info *ci)
{
    if (net->current == NULL)
        return RC_ENOTFOUND;
    conn_info(net->current, ci);
    return 0;
}

void rc_net_wake(struct rc_net *net, void *conn)
{
    (void)net;
    add_pending((struct rc_conn *)conn - 1);
}

int rc_net_kill(struct rc_net *net, uint64_t id)
{
    struct rc_conn *c;

    for (c = net->conns; c != NULL; c = c->next) {
        if (c->id != id || c->state == CONN_CLOSING)
            continue;
        if (c == net->current)
            return 1;
        conn_close(c);
        return 0;
    }
    return RC_ENOTFOUND;
}

struct rc_auth_conn *rc_net_current_auth(struct rc_net *net)
{
    return net->current ? &net->current->auth : NULL;
}

uint64_t rc_net_current_id(struct rc_net *net)
{
    return net->current ? net->current->id : 0;
}

struct rc_buf *rc_net_slot_begin(struct rc_net_slot *sl)
{
    if (sl->cb != NULL)
        return &sl->bytes;
    if (sl->conn == NULL) {
        /* The client left before its answer: nobody to tell. */
        slot_release(sl->net, sl);
        return NULL;
    }
    return &sl->bytes;
}

void rc_net_slot_end(struct rc_net_slot *sl, int rv)
{
    if (sl->cb != NULL) {
        /* Released first: the callback may run the next command, which
         * may take this very slot again. */
        void (*cb)(void *, const uint8_t *, size_t) = sl->cb;
        void *arg = sl->cb_arg;
        struct rc_buf b = sl->bytes;

        rc_buf_init(&sl->bytes, b.cap);
        slot_release(sl->net, sl);
        cb(arg, rv < 0 ? NULL : rc_buf_rptr(&b), rv < 0 ? 0 : rc_buf_used(&b));
        rc_buf_close(&b);
        return;
    }
    if (rv < 0)
        conn_close(sl->conn);
    else
        slot_finished(sl->conn, sl);
}

void rc_net_complete_bytes(struct rc_net_slot *sl, const void *bytes, size_t len)
{
    struct rc_buf *b = rc_net_slot_begin(sl);

    if (b != NULL)
        rc_net_slot_end(sl, rc_buf_append(b, bytes, len));
}

/* After a request was handled into out (rv its result): an immediate
 * reply that had to queue behind deferred ones goes into a slot of its
 * own. Returns 0, or < 0 when the connection is closed. */
static int queue_reply(struct rc_conn *c, struct rc_buf *out, int rv)
{
    struct rc_net *net = c->net;
    struct rc_net_slot *sl;

    if (rv == 0 && out == &net->scratch && rc_buf_used(out) > 0) {
        /* An immediate reply behind deferred ones waits in a slot too. */
        sl = slot_new(net, c);
        rv = sl ? rc_buf_append(&sl->bytes, rc_buf_rptr(out), rc_buf_used(out)) : RC_ENOMEM;
        if (sl) {
            sl->done = 1;
            c->slot_bytes += rc_buf_used(&sl->bytes);
        }
        rc_buf_reset(out);
    }
    if (rv < 0) {
        rc_buf_reset(&net->scratch);
        rc_log_warn(net->log, "closing connection: cannot queue reply: %s", rc_strerror(rv));
        conn_close(c);
        return rv;
    }
    return 0;
}

/* Lets the handler parse at most one request from the start of c's
 * input. Returns 1 when one was handled, 0 when more bytes are needed,
 * 2 when the handler holds the input until a deferred reply completes,
 * < 0 when the connection is closing. */
static int handle_parsed(struct rc_conn *c)
{
    struct rc_net *net = c->net;
    struct rc_buf *in = &c->ch.in;
    struct rc_buf *out = c->slots ? &net->scratch : &c->out;
    size_t used = 0;
    int rv;

    net->current = c;
    rv = net->h.parse(net->h.arg, net, c->pstate, rc_buf_rptr(in), rc_buf_used(in), out, &used);
    net->current = NULL;
    if (rv == RC_NET_MORE)
        return 0;
    if (rv == RC_NET_HOLD)
        return 2;
    if (rv == RC_NET_ABORT && out == &net->scratch) {
        /* The input broke off: its answer goes ahead of the replies still
         * deferred, as nothing after it was read. */
        int err = rc_buf_append(&c->out, rc_buf_rptr(out), rc_buf_used(out));

        rc_buf_reset(out);
        if (err < 0)
            rv = err;
    }
    if (queue_reply(c, out, rv < 0 ? rv : 0) < 0)
        return -1;
    rc_buf_consume(in, used);
    c->frame_start_ms = 0;
    if (rv == RC_NET_BAD_REQUEST || rv == RC_NET_PROTO_ERROR || rv == RC_NET_ABORT)
        net->stats.protocol_errors++;
    if (rv == RC_NET_CLOSE || rv == RC_NET_PROTO_ERROR || rv == RC_NET_ABORT) {
        rc_buf_reset(in);
        conn_set_state(c, CONN_DRAINING);
        add_pending(c);
        return -1;
    }
    return over_out_limit(c) ? -1 : 1;
}

/* A connection that failed the cluster key: counted, logged (rate
 * limited), closed without a word, since a reply would only help a prober. */
static void auth_refuse(struct rc_conn *c, const char *why)
{
    struct rc_net *net = c->net;
    char peer[64] = "?";
    struct sockaddr_storage sa;
    int len = sizeof(sa);
    uint32_t suppressed;

    if (net->opts.seal_stats != NULL)
        net->opts.seal_stats->peer_auth_failures++;
    if (rc_channel_log_due(&net->refused_log, uv_now(net->loop), &suppressed)) {
        if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &len) == 0)
            uv_ip_name((struct sockaddr *)&sa, peer, sizeof(peer));
        rc_log_warn(net->log,
                    "peer connection from=%s refused: %s (%u more refused since the last report)",
                    peer, why, suppressed);
    }
    conn_close(c);
}

/* Handles every complete request in c's input, until the output reaches
 * the high-water mark. */
static void process_input(struct rc_conn *c)
{
    struct rc_net *net = c->net;
    const char *why;
    int rv;

    while (c->state == CONN_READING || c->state == CONN_BLOCKED) {
        if (rc_channel_open(&c->ch, net->opts.keys, &why) < 0) {
            auth_refuse(c, why);
            return;
        }
        /* Finished replies waiting behind a deferred one count too: a PUT
         * then a thousand GETs of a large value would otherwise park
         * every GET reply in a slot before the PUT commits. */
        if (rc_buf_used(&c->out) + c->slot_bytes >= net->opts.out_high ||
            c->nslots >= net->opts.max_inflight) {
            if (c->state == CONN_READING)
                net->stats.read_pauses++;
            conn_set_state(c, CONN_BLOCKED);
            break;
        }
        rv = handle_parsed(c);
        if (rv < 0)
            break;
        if (rv == 2) {
            /* Completing the awaited slot puts c on the pending list,
             * whose resume parses again. */
            conn_set_state(c, CONN_BLOCKED);
            break;
        }
        if (rv == 0) {
            conn_set_state(c, CONN_READING);
            break;
        }
    }
    if (c->state == CONN_CLOSING)
        return;
    if (rc_buf_used(&c->ch.in) == 0)
        rc_buf_shrink(&c->ch.in, READ_CHUNK);
    else if (c->frame_start_ms == 0)
        c->frame_start_ms = uv_now(net->loop);
    if (rc_buf_used(&c->out) > 0)
        add_pending(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct rc_conn *c = container_of(h, struct rc_conn, tcp);

    (void)suggested;
    rc_channel_alloc(&c->ch, buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct rc_conn *c = container_of(s, struct rc_conn, tcp);

    (void)buf;
    if (nread < 0) {
        if (nread != UV_EOF)
            rc_log_debug(c->net->log, "read error: %s", uv_strerror((int)nread));
        /* Replies to requests already received are still delivered. */
        if (rc_buf_used(&c->out) > 0 || c->writing || c->slots) {
            conn_set_state(c, CONN_DRAINING);
            add_pending(c);
        } else {
            conn_close(c);
        }
        return;
    }
    rc_channel_received(&c->ch, (size_t)nread);
    c->last_in_ms = uv_now(c->net->loop);
    process_input(c);
}

static void on_close(uv_handle_t *h)
{
    struct rc_conn *c = container_of(h, struct rc_conn, tcp);
    struct rc_net *net = c->net;
    struct rc_net_slot *sl;

    if (c->prev)
        c->prev->next = c->next;
    else
        net->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    net->stats.conns--;
    if (net->h.closed != NULL)
        net->h.closed(net->h.arg, c->pstate);
    if (c->in_pending) {
        /* Added before it was closed: take it off the list. */
        struct rc_conn **pp = &net->pending;

        while (*pp != NULL && *pp != c)
            pp = &(*pp)->next_pending;
        if (*pp == c)
            *pp = c->next_pending;
    }
    while ((sl = c->slots) != NULL) {
        c->slots = sl->next;
        if (sl->done)
            slot_release(net, sl);
        else
            sl->conn = NULL; /* freed when its owner completes it */
    }
    rc_channel_close(&c->ch);
    rc_buf_close(&c->out);
    rc_buf_close(&c->wbuf);
    free(c);
    maybe_finish_shutdown(net);
}

static void conn_close(struct rc_conn *c)
{
    if (c->state == CONN_CLOSING)
        return;
    if (c->state == CONN_READING)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->state = CONN_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_write(uv_write_t *req, int status)
{
    struct rc_conn *c = container_of(req, struct rc_conn, wreq);

    c->writing = 0;
    c->last_out_ms = uv_now(c->net->loop);
    rc_buf_reset(&c->wbuf);
    rc_buf_shrink(&c->wbuf, READ_CHUNK);
    if (status < 0) {
        rc_log_debug(c->net->log, "write error: %s", uv_strerror(status));
        conn_close(c);
        return;
    }
    /* Flushed at the batch end, after the commit: this output may hold
     * replies to writes not committed yet. */
    add_pending(c);
}

/* The bytes to write: c->out, or sealed records of it (channel.h).
 * NULL when the connection was closed. */
static struct rc_buf *wire_out(struct rc_conn *c)
{
    struct rc_buf *o;

    if (rc_channel_wire(&c->ch, &c->out, &o) < 0) {
        rc_log_warn(c->net->log, "closing peer connection: cannot seal replies");
        conn_close(c);
        return NULL;
    }
    return o;
}

static void flush_conn(struct rc_conn *c)
{
    struct rc_buf *o;
    int rv;

    if (c->state == CONN_CLOSING || c->writing)
        return;
    drain_slots(c);
    o = wire_out(c);
    if (o == NULL)
        return;
    /* Progress, or the start of a wait: the write stall clock runs only
     * while uv_write holds bytes the client does not take. */
    if (rc_buf_used(o) > 0)
        c->last_out_ms = uv_now(c->net->loop);
    rv = rc_channel_send((uv_stream_t *)&c->tcp, o, &c->wbuf, &c->wreq, on_write);
    if (rv < 0) {
        conn_close(c);
        return;
    }
    if (rv == 1) {
        c->writing = 1;
        return;
    }
    rc_buf_shrink(&c->out, READ_CHUNK);
    rc_buf_shrink(o, READ_CHUNK);
    if (c->state == CONN_DRAINING && c->slots == NULL)
        conn_close(c);
    /* Everything went out at once: a connection paused for backpressure
     * resumes here, as no write callback will come to wake it. */
    if (c->state == CONN_BLOCKED)
        process_input(c);
}

/* Before the commit: connections that drained read on. The node's batch
 * end runs this after I/O callbacks and again before the loop blocks, so
 * a reply completed anywhere never waits for unrelated I/O. */
void rc_net_resume(struct rc_net *net)
{
    struct rc_conn *c;

    for (c = net->pending; c != NULL; c = c->next_pending)
        if (c->state == CONN_BLOCKED && !c->writing &&
            rc_buf_used(&c->out) + c->slot_bytes < net->opts.out_high / 2 &&
            c->nslots < net->opts.max_inflight / 2)
            process_input(c);
}

/* After the commit: every pending reply goes out. */
int rc_net_flush(struct rc_net *net)
{
    struct rc_conn *c, *next;

    c = net->pending;
    net->pending = NULL;
    for (; c != NULL; c = next) {
        next = c->next_pending;
        c->in_pending = 0;
        flush_conn(c);
    }
    /* Listed again now: a connection whose output all went out resumed
     * reading (flush_conn) and may have new replies; one still writing
     * is taken up by its write callback. */
    for (c = net->pending; c != NULL; c = c->next_pending)
        if (!c->writing && rc_buf_used(&c->out) > 0)
            return 1;
    return 0;
}

/* Prepares a connection for the cluster key: our hello goes out first,
 * then records. wbuf and the channel's sout swap roles, so they share a
 * cap. */
static int seal_conn(struct rc_conn *c)
{
    c->wbuf.cap = rc_channel_wire_cap(c->out.cap);
    return rc_channel_start(&c->ch, c->net->opts.keys, 0);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct rc_net *net = container_of(server, struct rc_net, listener);
    struct rc_conn *c;

    if (status < 0) {
        rc_log_warn(net->log, "accept failed: %s", uv_strerror(status));
        return;
    }
    c = calloc(1, sizeof(*c) + net->h.conn_size);
    if (c == NULL || uv_tcp_init(net->loop, &c->tcp) < 0) {
        free(c);
        rc_log_warn(net->log, "accept failed: out of memory");
        return;
    }
    c->net = net;
    c->pstate = c + 1;
    c->id = ++net->next_conn_id;
    c->opened_ms = c->last_in_ms = c->last_out_ms = uv_now(net->loop);
    /* Output may exceed the high-water mark by one reply at most. */
    rc_buf_init(&c->out, out_cap(&net->opts));
    rc_channel_init(&c->ch, net->opts.max_frame, READ_CHUNK, c->out.cap, keyed(net));
    rc_buf_init(&c->wbuf, c->out.cap);
    c->next = net->conns;
    if (net->conns)
        net->conns->prev = c;
    net->conns = c;
    net->stats.conns++;
    c->state = CONN_BLOCKED; /* not reading yet */
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (keyed(net) && seal_conn(c) < 0) {
        rc_log_warn(net->log, "accept failed: out of memory");
        conn_close(c);
        return;
    }
    if (net->stats.conns > (uint64_t)net->opts.max_conns) {
        net->stats.conns_rejected++;
        rc_log_warn(net->log, "connection refused: limit of %d connections reached",
                    net->opts.max_conns);
        if (c->ch.sealed || net->h.refuse(&c->out) < 0) {
            conn_close(c);
            return;
        }
        conn_set_state(c, CONN_DRAINING);
        add_pending(c);
        return;
    }
    net->stats.conns_total++;
    conn_set_state(c, CONN_READING);
    if (c->ch.sealed)
        add_pending(c); /* our hello */
}

/* Bytes on their way to the client: in libuv's write queue, plus (Linux)
 * in the kernel's send queue, which drains as the client reads even while
 * libuv waits for the socket to become writable (a third of the send
 * buffer free) before it hands over more. */
static size_t pending_out(struct rc_conn *c)
{
    size_t q = uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
#ifdef SIOCOUTQ
    uv_os_fd_t fd;
    int kq = 0;

    if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0 && ioctl(fd, SIOCOUTQ, &kq) == 0 &&
        kq > 0)
        q += (size_t)kq;
#endif
    return q;
}

/* The limit a connection broke, counted; NULL if none. */
static const char *conn_expired(struct rc_conn *c, uint64_t now)
{
    struct rc_net *net = c->net;
    const struct rc_net_opts *o = &net->opts;
    uint64_t last = c->last_in_ms > c->last_out_ms ? c->last_in_ms : c->last_out_ms;

    if (c->writing) {
        /* A slow reader that takes a few bytes at a time is progressing:
         * only output that has not moved counts as a stall. */
        size_t q = pending_out(c);

        if (q != c->last_queue)
            c->last_out_ms = now;
        c->last_queue = q;
    }
    if (o->write_timeout_ms > 0 && c->writing &&
        now - c->last_out_ms >= (uint64_t)o->write_timeout_ms) {
        net->stats.closed_write_stall++;
        return "replies not read within the write timeout";
    }
    if (o->auth != NULL && o->auth_timeout_ms > 0 && !c->auth.authed &&
        now - c->opened_ms >= (uint64_t)o->auth_timeout_ms) {
        net->stats.closed_auth_timeout++;
        return "not authenticated within the auth timeout";
    }
    if (c->state != CONN_READING)
        return NULL; /* paused by us: the client is not the slow one */
    if (o->frame_timeout_ms > 0 && c->frame_start_ms != 0 &&
        now - c->frame_start_ms >= (uint64_t)o->frame_timeout_ms) {
        net->stats.closed_slow_frame++;
        return "frame not completed within the frame timeout";
    }
    if (o->idle_timeout_ms > 0 && !c->writing && c->slots == NULL &&
        now - last >= (uint64_t)o->idle_timeout_ms) {
        net->stats.closed_idle++;
        return "idle timeout";
    }
    return NULL;
}

static void on_sweep(uv_timer_t *t)
{
    struct rc_net *net = container_of(t, struct rc_net, sweep_timer);
    uint64_t now = uv_now(net->loop);
    struct rc_conn *c;
    const char *why;

    for (c = net->conns; c != NULL; c = c->next) {
        if (c->state == CONN_CLOSING || (why = conn_expired(c, now)) == NULL)
            continue;
        rc_log_info(net->log, "closing connection id=%llu: %s", (unsigned long long)c->id, why);
        conn_close(c);
    }
}

/* How often the limits are checked: a quarter of the shortest timeout, so
 * one fires at most 25% late, within 50 ms .. 1 s (10k connections take
 * well under a millisecond to walk). 0 when no timeout is set. */
static uint64_t sweep_interval(const struct rc_net_opts *o)
{
    int t[4] = {o->idle_timeout_ms, o->frame_timeout_ms, o->write_timeout_ms,
                o->auth != NULL ? o->auth_timeout_ms : 0};
    uint64_t best = 0;
    int i, any = 0;

    for (i = 0; i < 4; i++) {
        any |= t[i] > 0;
        if (t[i] > 0 && (best == 0 || (uint64_t)t[i] / 4 < best))
            best = (uint64_t)t[i] / 4;
    }
    if (best == 0 && any)
        best = 50;
    if (best != 0 && best < 50)
        best = 50;
    return best > 1000 ? 1000 : best;
}

int rc_net_new(uv_loop_t *loop, const struct rc_net_opts *opts, const struct rc_net_handler *h,
               const struct rc_log *log, struct rc_net **out)
{
    struct rc_net *net;

    *out = NULL;
    net = calloc(1, sizeof(*net));
    if (net == NULL)
        return RC_ENOMEM;
    rc_buf_init(&net->scratch, out_cap(opts));
    net->loop = loop;
    net->opts = *opts;
    net->h = *h;
    net->log = log;
    uv_timer_init(loop, &net->shutdown_timer);
    uv_timer_init(loop, &net->sweep_timer);
    net->handles_open = 2;
    if (sweep_interval(opts) > 0) {
        uv_timer_start(&net->sweep_timer, on_sweep, sweep_interval(opts), sweep_interval(opts));
        uv_unref((uv_handle_t *)&net->sweep_timer);
    }
    *out = net;
    return 0;
}

int rc_net_listen(struct rc_net *net)
{
    struct sockaddr_storage sa;
    int rv;

    rv = uv_ip4_addr(net->opts.bind, net->opts.port, (struct sockaddr_in *)&sa);
    if (rv < 0)
        rv = uv_ip6_addr(net->opts.bind, net->opts.port, (struct sockaddr_in6 *)&sa);
    if (rv < 0) {
        rc_log_error(net->log, "invalid bind address '%s' (an IPv4 or IPv6 literal is needed)",
                     net->opts.bind);
        return rv;
    }
    rv = uv_tcp_init(net->loop, &net->listener);
    if (rv < 0)
        return rv;
    net->handles_open++;
    net->listening = 1;
    rv = uv_tcp_bind(&net->listener, (const struct sockaddr *)&sa, 0);
    if (rv == 0)
        rv = uv_listen((uv_stream_t *)&net->listener, LISTEN_BACKLOG, on_connection);
    if (rv < 0) {
        rc_log_error(net->log, "cannot listen on %s:%d: %s", net->opts.bind, net->opts.port,
                     uv_strerror(rv));
        return rv;
    }
    rc_log_info(net->log, "listening addr=%s:%d", net->opts.bind, net->opts.port);
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct rc_net *net = h->data;

    net->handles_open--;
    maybe_finish_shutdown(net);
}

static void maybe_finish_shutdown(struct rc_net *net)
{
    void (*cb)(void *);

    if (!net->shutting_down)
        return;
    if (net->conns != NULL)
        return;
    if (net->shutting_down == 1) {
        /* All clients gone: close our own handles. */
        net->shutting_down = 2;
        net->shutdown_timer.data = net;
        net->sweep_timer.data = net;
        uv_close((uv_handle_t *)&net->sweep_timer, on_handle_closed);
        uv_close((uv_handle_t *)&net->shutdown_timer, on_handle_closed);
        return;
    }
    if (net->handles_open == 0 && net->shutdown_cb != NULL) {
        cb = net->shutdown_cb;
        net->shutdown_cb = NULL;
        cb(net->shutdown_arg);
    }
}

static void on_shutdown_timeout(uv_timer_t *t)
{
    struct rc_net *net = container_of(t, struct rc_net, shutdown_timer);
    struct rc_conn *c;

    rc_log_warn(net->log, "shutdown: closing connections that did not drain in %d ms",
                net->opts.shutdown_ms);
    for (c = net->conns; c != NULL; c = c->next)
        conn_close(c);
}

void rc_net_shutdown(struct rc_net *net, void (*cb)(void *arg), void *arg)
{
    struct rc_conn *c;

    if (net->shutting_down)
        return;
    net->shutting_down = 1;
    net->shutdown_cb = cb;
    net->shutdown_arg = arg;
    /* The shutdown timer, active until every connection is gone, keeps
     * the loop (and so the node's batch end) running while we drain. */
    if (net->listening) {
        net->listener.data = net;
        uv_close((uv_handle_t *)&net->listener, on_handle_closed);
    }
    for (c = net->conns; c != NULL; c = c->next) {
        if (c->state == CONN_CLOSING)
            continue;
        conn_set_state(c, CONN_DRAINING);
        add_pending(c);
    }
    uv_timer_start(&net->shutdown_timer, on_shutdown_timeout, (uint64_t)net->opts.shutdown_ms, 0);
    maybe_finish_shutdown(net);
}

void rc_net_keys_changed(struct rc_net *net)
{
    struct rc_conn *c;

    if (net->opts.keys == NULL)
        return;
    for (c = net->conns; c != NULL; c = c->next) {
        if ((c->state != CONN_READING && c->state != CONN_BLOCKED) ||
            !rc_channel_key_removed(&c->ch, net->opts.keys))
            continue;
        rc_log_info(net->log, "peer connection id=%llu: closing, its cluster key was removed",
                    (unsigned long long)c->id);
        conn_set_state(c, CONN_DRAINING);
        add_pending(c);
    }
}

void rc_net_stats(const struct rc_net *net, struct rc_net_stats *st)
{
    *st = net->stats;
    if (net->opts.auth != NULL) {
        st->auth_ok = net->opts.auth->ok;
        st->auth_failures = net->opts.auth->failures;
        st->auth_closed = net->opts.auth->closed;
        st->auth_rejected = net->opts.auth->rejected;
    }
}

void rc_net_free(struct rc_net *net)
{
    struct rc_net_slot *sl;

    if (net == NULL)
        return;
    rc_buf_close(&net->scratch);
    while ((sl = net->free_slots) != NULL) {
        net->free_slots = sl->next;
        rc_buf_close(&sl->bytes);
        free(sl);
    }
    free(net);
}
