/*
 * net.c - client listener and connections (see net.h).
 *
 * A connection is a small state machine (conn_set_state is the only place
 * that changes it):
 *
 *   READING  --out >= high water-->  BLOCKED  --out drained-->  READING
 *   READING/BLOCKED --protocol error or shutdown--> DRAINING --flushed--> CLOSING
 *   any --I/O error--> CLOSING
 *
 * In read_cb every complete frame is parsed and handled, the partial one is
 * kept; parsing pauses when the pending output reaches the high-water mark
 * so a client that pipelines without reading cannot grow our memory (TCP
 * backpressure does the rest). Replies are flushed from the loop's check
 * phase, after the handler's group commit, with one write per connection.
 */
#include "net.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Read granularity: large enough that a pipeline of small requests arrives
 * in one read, small enough that 10k idle connections cost little (the
 * buffer is released when a connection goes idle with a larger one). */
#define READ_CHUNK (16 * 1024)
#define LISTEN_BACKLOG 511

enum conn_state { CONN_READING, CONN_BLOCKED, CONN_DRAINING, CONN_CLOSING };

struct wmark {
    uint32_t off; /* offset of the reply frame in the unread part of out */
    uint32_t len;
    uint32_t id;
};

struct rc_conn {
    uv_tcp_t tcp;
    struct rc_net *net;
    uint64_t id; /* for logs */
    enum conn_state state;
    struct rc_buf in;
    struct rc_buf out;  /* replies produced, not yet sent */
    struct rc_buf wbuf; /* replies handed to uv_write */
    uv_write_t wreq;
    int writing;
    struct wmark *marks; /* write replies of the uncommitted batch */
    uint32_t nmarks, marks_alloc;
    int in_batch, in_pending;
    struct rc_conn *prev, *next;    /* all connections */
    struct rc_conn *next_pending;   /* replies to flush this iteration */
    struct rc_conn *next_batch;     /* has write replies in the batch */
};

struct rc_net {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_check_t check;
    uv_timer_t shutdown_timer;
    struct rc_net_opts opts;
    struct rc_net_handler h;
    const struct rc_log *log;
    struct rc_decoder dec;
    struct rc_conn *conns;
    struct rc_conn *pending;
    struct rc_conn *batch;
    struct rc_net_stats stats;
    uint64_t next_conn_id;
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
    if (st == CONN_READING && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        conn_close(c);
}

static void add_pending(struct rc_conn *c)
{
    if (c->in_pending)
        return;
    c->in_pending = 1;
    c->next_pending = c->net->pending;
    c->net->pending = c;
}

static int add_mark(struct rc_conn *c, size_t off, size_t len, uint32_t id)
{
    struct wmark *m;

    if (c->nmarks == c->marks_alloc) {
        uint32_t n = c->marks_alloc ? c->marks_alloc * 2 : 16;

        m = realloc(c->marks, n * sizeof(*m));
        if (m == NULL)
            return RC_ENOMEM;
        c->marks = m;
        c->marks_alloc = n;
    }
    c->marks[c->nmarks++] = (struct wmark){(uint32_t)off, (uint32_t)len, id};
    if (!c->in_batch) {
        c->in_batch = 1;
        c->next_batch = c->net->batch;
        c->net->batch = c;
    }
    return 0;
}

/* Rewrites this connection's write replies into error replies. Frames are
 * self-delimiting, so the output is rebuilt by copying the bytes between
 * marks and encoding an error in place of each marked frame. */
static int rewrite_marks(struct rc_conn *c, int err)
{
    struct rc_buf nb;
    const uint8_t *src = rc_buf_rptr(&c->out);
    size_t pos = 0, used = rc_buf_used(&c->out);
    uint32_t i;
    int rv = 0;

    rc_buf_init(&nb, c->out.cap);
    for (i = 0; i < c->nmarks && rv == 0; i++) {
        const struct wmark *m = &c->marks[i];

        rv = rc_buf_append(&nb, src + pos, m->off - pos);
        if (rv == 0)
            rv = rc_encode_error(&nb, m->id, err, NULL);
        pos = m->off + m->len;
    }
    if (rv == 0)
        rv = rc_buf_append(&nb, src + pos, used - pos);
    if (rv < 0) {
        rc_buf_close(&nb);
        return rv;
    }
    rc_buf_close(&c->out);
    c->out = nb;
    return 0;
}

void rc_net_fail_batch(struct rc_net *net, int err)
{
    struct rc_conn *c, *next;

    for (c = net->batch; c != NULL; c = next) {
        next = c->next_batch;
        if (c->state != CONN_CLOSING && rewrite_marks(c, err) < 0) {
            rc_log_warn(net->log, "cannot rewrite failed batch replies, closing connection");
            conn_close(c);
        }
        c->nmarks = 0;
        c->in_batch = 0;
    }
    net->batch = NULL;
}

static void clear_batch(struct rc_net *net)
{
    struct rc_conn *c;

    for (c = net->batch; c != NULL; c = c->next_batch) {
        c->nmarks = 0;
        c->in_batch = 0;
    }
    net->batch = NULL;
}

/* A frame that breaks the framing itself: answer, then close once flushed. */
static void protocol_abort(struct rc_conn *c, int err)
{
    c->net->stats.protocol_errors++;
    rc_log_info(c->net->log, "closing connection: %s", rc_strerror(err));
    rc_buf_reset(&c->in);
    if (rc_encode_error(&c->out, 0, err, NULL) < 0) {
        conn_close(c);
        return;
    }
    conn_set_state(c, CONN_DRAINING);
    add_pending(c);
}

/* Handles one whole frame. Returns 0, or < 0 when the connection is closed. */
static int handle_frame(struct rc_conn *c, const uint8_t *body, size_t len)
{
    struct rc_net *net = c->net;
    struct rc_request req;
    size_t off = rc_buf_used(&c->out);
    int rv;

    rv = rc_decode_request(&net->dec, body, len, &req);
    if (rv < 0) {
        net->stats.protocol_errors++;
        rv = rc_encode_error(&c->out, req.id, rv, NULL);
    } else {
        rv = net->h.request(net->h.arg, &req, &c->out);
        if (rv == 1)
            rv = add_mark(c, off, rc_buf_used(&c->out) - off, req.id);
    }
    if (rv < 0) {
        rc_log_warn(net->log, "closing connection: cannot queue reply: %s", rc_strerror(rv));
        conn_close(c);
        return rv;
    }
    return 0;
}

/* Parses and handles every complete frame in c->in, until the output
 * reaches the high-water mark. */
static void process_input(struct rc_conn *c)
{
    struct rc_net *net = c->net;
    size_t flen;
    int rv;

    while (c->state == CONN_READING || c->state == CONN_BLOCKED) {
        if (rc_buf_used(&c->out) >= net->opts.out_high) {
            conn_set_state(c, CONN_BLOCKED);
            break;
        }
        rv = rc_frame_check(rc_buf_rptr(&c->in), rc_buf_used(&c->in), net->opts.max_frame, &flen);
        if (rv == 0) {
            conn_set_state(c, CONN_READING);
            break;
        }
        if (rv < 0) {
            protocol_abort(c, rv);
            break;
        }
        if (handle_frame(c, rc_buf_rptr(&c->in) + RC_FRAME_HDR, flen - RC_FRAME_HDR) < 0)
            return;
        rc_buf_consume(&c->in, flen);
    }
    if (rc_buf_used(&c->in) == 0)
        rc_buf_shrink(&c->in, READ_CHUNK);
    if (rc_buf_used(&c->out) > 0)
        add_pending(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct rc_conn *c = container_of(h, struct rc_conn, tcp);
    size_t want = READ_CHUNK, room = c->in.cap - rc_buf_used(&c->in);

    (void)suggested;
    if (want > room)
        want = room;
    if (want == 0 || rc_buf_reserve(&c->in, want) < 0) {
        *buf = uv_buf_init(NULL, 0); /* makes libuv report UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init((char *)rc_buf_wptr(&c->in), (unsigned)rc_buf_avail(&c->in));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct rc_conn *c = container_of(s, struct rc_conn, tcp);

    (void)buf;
    if (nread < 0) {
        if (nread != UV_EOF)
            rc_log_debug(c->net->log, "read error: %s", uv_strerror((int)nread));
        /* Replies to requests already received are still delivered. */
        if (rc_buf_used(&c->out) > 0 || c->writing) {
            conn_set_state(c, CONN_DRAINING);
            add_pending(c);
        } else {
            conn_close(c);
        }
        return;
    }
    rc_buf_commit(&c->in, (size_t)nread);
    process_input(c);
}

static void on_close(uv_handle_t *h)
{
    struct rc_conn *c = container_of(h, struct rc_conn, tcp);
    struct rc_net *net = c->net;

    if (c->prev)
        c->prev->next = c->next;
    else
        net->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    net->stats.conns--;
    rc_buf_close(&c->in);
    rc_buf_close(&c->out);
    rc_buf_close(&c->wbuf);
    free(c->marks);
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
    rc_buf_reset(&c->wbuf);
    rc_buf_shrink(&c->wbuf, READ_CHUNK);
    if (status < 0) {
        rc_log_debug(c->net->log, "write error: %s", uv_strerror(status));
        conn_close(c);
        return;
    }
    /* Flushed from the check phase, after the batch commit: this output
     * may hold replies to writes not committed yet. */
    add_pending(c);
}

static void flush_conn(struct rc_conn *c)
{
    struct rc_buf tmp;
    uv_buf_t b;
    int n;

    if (c->state == CONN_CLOSING || c->writing)
        return;
    if (rc_buf_used(&c->out) > 0) {
        b = uv_buf_init((char *)rc_buf_rptr(&c->out), (unsigned)rc_buf_used(&c->out));
        n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n == UV_EAGAIN)
            n = 0;
        if (n < 0) {
            conn_close(c);
            return;
        }
        rc_buf_consume(&c->out, (size_t)n);
    }
    if (rc_buf_used(&c->out) > 0) {
        /* Hand the rest to libuv and keep producing into the other buffer. */
        tmp = c->wbuf;
        c->wbuf = c->out;
        c->out = tmp;
        b = uv_buf_init((char *)rc_buf_rptr(&c->wbuf), (unsigned)rc_buf_used(&c->wbuf));
        if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
            conn_close(c);
            return;
        }
        c->writing = 1;
        return;
    }
    rc_buf_shrink(&c->out, READ_CHUNK);
    if (c->state == CONN_DRAINING)
        conn_close(c);
    /* Everything went out at once: a connection paused for backpressure
     * resumes here, as no write callback will come to wake it. */
    if (c->state == CONN_BLOCKED)
        process_input(c);
}

/* The check phase runs once per loop iteration after I/O callbacks: resume
 * connections that drained, end the batch, then flush every reply. */
static void on_check(uv_check_t *h)
{
    struct rc_net *net = container_of(h, struct rc_net, check);
    struct rc_conn *c, *next;
    int rv;

    for (c = net->pending; c != NULL; c = c->next_pending)
        if (c->state == CONN_BLOCKED && !c->writing &&
            rc_buf_used(&c->out) < net->opts.out_high / 2)
            process_input(c);
    rv = net->h.commit(net->h.arg);
    if (rv < 0)
        rc_net_fail_batch(net, rv);
    clear_batch(net);
    c = net->pending;
    net->pending = NULL;
    for (; c != NULL; c = next) {
        next = c->next_pending;
        c->in_pending = 0;
        flush_conn(c);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct rc_net *net = container_of(server, struct rc_net, listener);
    struct rc_conn *c;

    if (status < 0) {
        rc_log_warn(net->log, "accept failed: %s", uv_strerror(status));
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL || uv_tcp_init(net->loop, &c->tcp) < 0) {
        free(c);
        rc_log_warn(net->log, "accept failed: out of memory");
        return;
    }
    c->net = net;
    c->id = ++net->next_conn_id;
    rc_buf_init(&c->in, RC_FRAME_HDR + (size_t)net->opts.max_frame);
    /* Output may exceed the high-water mark by one reply at most. */
    rc_buf_init(&c->out, net->opts.out_high + RC_FRAME_HDR + net->opts.max_frame);
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
    if (net->stats.conns > (uint64_t)net->opts.max_conns) {
        net->stats.conns_rejected++;
        rc_log_warn(net->log, "connection refused: limit of %d connections reached",
                    net->opts.max_conns);
        if (rc_encode_error(&c->out, 0, RC_ETOO_MANY_CONNS, NULL) < 0) {
            conn_close(c);
            return;
        }
        conn_set_state(c, CONN_DRAINING);
        add_pending(c);
        return;
    }
    net->stats.conns_total++;
    conn_set_state(c, CONN_READING);
}

int rc_net_new(uv_loop_t *loop, const struct rc_net_opts *opts, const struct rc_net_handler *h,
               const struct rc_log *log, struct rc_net **out)
{
    struct rc_net *net;
    int rv;

    *out = NULL;
    net = calloc(1, sizeof(*net));
    if (net == NULL)
        return RC_ENOMEM;
    rv = rc_decoder_init(&net->dec);
    if (rv < 0) {
        free(net);
        return rv;
    }
    net->loop = loop;
    net->opts = *opts;
    net->h = *h;
    net->log = log;
    uv_check_init(loop, &net->check);
    uv_timer_init(loop, &net->shutdown_timer);
    net->handles_open = 2;
    uv_check_start(&net->check, on_check);
    /* The check handle must not keep the loop alive by itself. */
    uv_unref((uv_handle_t *)&net->check);
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
        net->check.data = net;
        net->shutdown_timer.data = net;
        uv_close((uv_handle_t *)&net->check, on_handle_closed);
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
    /* Keep the check phase running while we drain. */
    uv_ref((uv_handle_t *)&net->check);
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

void rc_net_stats(const struct rc_net *net, struct rc_net_stats *st)
{
    *st = net->stats;
}

void rc_net_free(struct rc_net *net)
{
    if (net == NULL)
        return;
    rc_decoder_close(&net->dec);
    free(net);
}
