/*
 * peer.c - connection pool to other nodes (see peer.h).
 *
 * Per node one connection, a small state machine:
 *
 *   IDLE -> RESOLVING -> CONNECTING -> CONNECTED -> (error) CLOSING -> IDLE
 *
 * The bytes go through a channel (channel.h): framing, the cluster key's
 * sealed stream, the writes and the refused-peer log are shared with the
 * listener (net.c) and gossip's push-pull.
 *
 * Requests are encoded into the connection's output buffer as they come,
 * and a FIFO of pending entries remembers whom to call back; the server
 * answers in order, so the head of the FIFO always owns the next reply. A
 * request that times out keeps its FIFO place (its reply may still come)
 * with its callback cleared. A connection whose oldest request is long
 * overdue is considered stuck and is reset.
 *
 * Each node also has a circuit breaker, judged from this node's own
 * requests only: gossip may keep a member alive that this node cannot
 * reach (a bridge partition: a third node relays the probes). It is
 *
 *   CLOSED --(BREAKER_FAILS failures in a row)--> OPEN --(cool-down)-->
 *   HALF_OPEN: one request goes through; a reply in time closes it, a
 *   failure re-opens it with the cool-down doubled (capped)
 *
 * and while it is not CLOSED every other request fails at once, so a
 * coordinator counts that replica as failed without waiting out the
 * replica timeout on every request.
 */
#include "peer.h"
#include "container_of.h"
#include "channel.h"
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Timeout resolution: fine enough for request timeouts of a few hundred
 * ms, coarse enough to cost nothing. */
#define SWEEP_MS 20
/* Reconnect backoff after a failed connect: starts small so a restarted
 * node is found quickly, capped so a dead one costs little. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
/* A connection whose oldest request is this late is reset. */
#define STUCK_MS 3000
#define READ_CHUNK (64 * 1024)
/* Breaker: transport failures in a row (request timeouts, failed or
 * timed-out connects, dropped connections; a dropped connection counts
 * once however many requests it carried) that open it. One or two are a
 * slow fsync or a peer restarting; five with no reply in between mean at
 * least one whole replica timeout without an answer at any load, while at
 * light load only a handful of requests pay that timeout. */
#define BREAKER_FAILS 5
/* Cool-down before the first probe: well above a replica timeout (so a
 * probe, which waits one out if the peer is still unreachable, delays few
 * requests), short enough that a healed link carries traffic again within
 * about a second. Doubled after each failed probe up to the cap: a long
 * partition costs one slow request per peer per 8 s, and a link that
 * heals is used again at most 8 s + one replica timeout later. */
#define BREAKER_COOL_MIN_MS 1000
#define BREAKER_COOL_MAX_MS 8000

enum pstate { P_IDLE, P_RESOLVING, P_CONNECTING, P_CONNECTED, P_CLOSING };
enum bstate { B_CLOSED, B_OPEN, B_HALF_OPEN };

struct pending {
    struct pending *next;
    rc_peer_cb cb; /* NULL once answered by a timeout */
    void *arg;
    uint32_t id;
    int err; /* set when failed without a reply */
    int probe; /* the request a half-open breaker let through */
    uint64_t deadline;
};

struct pconn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_getaddrinfo_t gai;
    uv_write_t wreq;
    uv_timer_t ctimer; /* connect timeout */
    struct rc_peers *p;
    struct pconn *next;
    uint64_t node;
    char host[256];
    int port;
    enum pstate state;
    int writing, dirty, tcp_open, forgotten;
    struct rc_buf out, wbuf; /* requests encoded; handed to uv_write */
    struct rc_channel ch;    /* replies received; sealed, the wire */
    /* Its key left the key file: send nothing more on it, close it once
     * what was sent is answered, reopen it with the new key. */
    int retiring;
    uint32_t nqueued, nsent; /* FIFO entries; how many of them were written */
    struct pending *head, *tail;
    uint32_t next_id;
    uint64_t retry_at, backoff;
    int handles; /* open uv handles owned by this conn */
    /* Breaker (see the top of the file). */
    enum bstate bstate;
    uint32_t bfails;             /* failures in a row while CLOSED */
    uint64_t bopen_until, bcool; /* OPEN until then; the cool-down it used */
};

struct rc_peers {
    uv_loop_t *loop;
    uv_timer_t sweep;
    uv_prepare_t prepare;
    struct rc_peers_opts opts;
    const struct rc_log *log;
    struct rc_decoder dec;
    struct pconn *conns;
    struct pending *failed, *failed_tail; /* callbacks to run at prepare */
    struct sockaddr_storage src; /* outgoing source address, port 0 */
    int has_src;
    int closing, handles;
    struct rc_channel_log refused_log; /* peers refused for the cluster key */
    uint64_t breaker_trips, fast_fails;
    void (*close_cb)(void *);
    void *close_arg;
};

static void start_connect(struct pconn *c);
static void retire(struct pconn *c);
static void conn_reset(struct pconn *c, int err);
static void maybe_closed(struct rc_peers *p);

/* ---- breaker ---- */

static int transport_error(int err)
{
    return err == RC_ETIMEOUT || err == RC_ECONNECT || err == RC_ECLOSED || err == RC_EPROTO;
}

static void breaker_reset(struct pconn *c)
{
    c->bstate = B_CLOSED;
    c->bfails = 0;
    c->bcool = 0;
}

/* A reply came in time: the node is reachable. */
static void breaker_ok(struct pconn *c)
{
    c->bfails = 0;
    if (c->bstate == B_CLOSED)
        return;
    rc_log_info(c->p->log, "peer %016llx %s:%d answering again: breaker closed",
                (unsigned long long)c->node, c->host, c->port);
    breaker_reset(c);
}

/* A request failed (err), probe says whether it was the half-open one. */
static void breaker_fail(struct pconn *c, int err, int probe)
{
    uint64_t now = uv_now(c->p->loop);

    if (probe && c->bstate == B_HALF_OPEN) {
        c->bcool = c->bcool * 2 > BREAKER_COOL_MAX_MS ? BREAKER_COOL_MAX_MS : c->bcool * 2;
        c->bstate = B_OPEN;
        c->bopen_until = now + c->bcool;
        rc_log_debug(c->p->log, "peer %016llx probe failed (%s): breaker open for %llu ms",
                     (unsigned long long)c->node, rc_err_name(err),
                     (unsigned long long)c->bcool);
        return;
    }
    if (c->bstate != B_CLOSED || !transport_error(err) || ++c->bfails < BREAKER_FAILS)
        return;
    c->bstate = B_OPEN;
    c->bcool = BREAKER_COOL_MIN_MS;
    c->bopen_until = now + c->bcool;
    c->p->breaker_trips++;
    rc_log_warn(c->p->log,
                "peer %016llx %s:%d: %u requests in a row failed (last: %s); failing requests "
                "to it at once, probing every %d-%d ms (breaker open)",
                (unsigned long long)c->node, c->host, c->port, c->bfails, rc_err_name(err),
                BREAKER_COOL_MIN_MS, BREAKER_COOL_MAX_MS);
}

/* Whether a request may go to c now: 0 no, 1 yes, 2 yes as the probe.
 * The probe also waits for the reconnect backoff, so that it tries a
 * connect rather than failing on the backoff alone. */
static int breaker_admit(const struct pconn *c, uint64_t now)
{
    if (c->bstate == B_CLOSED)
        return 1;
    if (c->bstate == B_OPEN && now >= c->bopen_until && now >= c->retry_at)
        return 2;
    return 0;
}

static void defer_fail(struct rc_peers *p, struct pending *pd, int err)
{
    pd->err = err;
    pd->next = NULL;
    if (p->failed_tail)
        p->failed_tail->next = pd;
    else
        p->failed = pd;
    p->failed_tail = pd;
}

/* Moves every pending request of c to the failed list. */
static void fail_all(struct pconn *c, int err)
{
    struct pending *pd, *next;
    int failed = 0, probe = 0;

    for (pd = c->head; pd != NULL; pd = next) {
        next = pd->next;
        probe |= pd->probe && pd->cb != NULL;
        failed |= pd->cb != NULL;
        if (pd->cb)
            defer_fail(c->p, pd, err);
        else
            free(pd);
    }
    /* One connection lost is one failure, however much it carried. */
    if (failed)
        breaker_fail(c, err, probe);
    c->head = c->tail = NULL;
    c->nqueued = c->nsent = 0;
    c->retiring = 0;
    rc_buf_reset(&c->out);
    rc_buf_reset(&c->ch.sout);
}

static struct pconn *find_conn(struct rc_peers *p, uint64_t node)
{
    struct pconn *c;

    for (c = p->conns; c != NULL; c = c->next)
        if (c->node == node)
            return c;
    return NULL;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct pconn *c = h->data;
    struct rc_peers *p = c->p;

    if (--c->handles > 0)
        return;
    if (c->forgotten || p->closing) {
        struct pconn **pp;

        for (pp = &p->conns; *pp != c; pp = &(*pp)->next)
            ;
        *pp = c->next;
        rc_buf_close(&c->out);
        rc_buf_close(&c->wbuf);
        rc_channel_close(&c->ch);
        free(c);
        maybe_closed(p);
    }
}

static void on_tcp_closed(uv_handle_t *h)
{
    struct pconn *c = h->data;

    c->tcp_open = 0;
    c->state = P_IDLE;
    c->writing = 0;
    c->retiring = 0;
    c->nsent = 0;
    rc_buf_reset(&c->wbuf);
    rc_channel_reset(&c->ch);
    if (c->forgotten || c->p->closing) {
        on_handle_closed(h);
        return;
    }
    c->handles--;
    /* Requests queued while we were closing go out on a new connection. */
    if (c->head != NULL)
        start_connect(c);
}

/* Drops the connection and fails what it carried. */
static void conn_reset(struct pconn *c, int err)
{
    if (c->state == P_CLOSING)
        return;
    fail_all(c, err);
    uv_timer_stop(&c->ctimer);
    if (c->tcp_open) {
        c->state = P_CLOSING;
        uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
    } else if (c->state != P_RESOLVING) {
        c->state = P_IDLE;
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct pconn *c = container_of(req, struct pconn, wreq);

    c->writing = 0;
    rc_buf_reset(&c->wbuf);
    if (status < 0) {
        rc_log_debug(c->p->log, "peer %016llx write failed: %s", (unsigned long long)c->node,
                     uv_strerror(status));
        conn_reset(c, RC_ECLOSED);
        return;
    }
    if (rc_buf_used(&c->out) > 0 || rc_buf_used(&c->ch.sout) > 0)
        c->dirty = 1;
    if (c->retiring && c->nsent == 0 && c->state == P_CONNECTED)
        retire(c);
}

/* What to write: out, or sealed records of it (channel.h). NULL when c
 * was reset. */
static struct rc_buf *wire_out(struct pconn *c)
{
    struct rc_buf *o;

    if (rc_channel_wire(&c->ch, &c->out, &o) < 0) {
        conn_reset(c, RC_ENOMEM);
        return NULL;
    }
    return o;
}

static void flush(struct pconn *c)
{
    struct rc_buf *o;
    int rv;

    c->dirty = 0;
    if (c->state != P_CONNECTED || c->writing || c->retiring)
        return;
    o = wire_out(c);
    if (o == NULL)
        return;
    if (rc_channel_ready(&c->ch))
        c->nsent = c->nqueued; /* everything queued is on its way now */
    rv = rc_channel_send((uv_stream_t *)&c->tcp, o, &c->wbuf, &c->wreq, on_write);
    if (rv < 0)
        conn_reset(c, RC_ECLOSED);
    else
        c->writing = rv == 1;
}

/* Closes a retiring connection whose sent requests are all answered; the
 * requests still queued stay and go out on a new connection. */
static void retire(struct pconn *c)
{
    rc_log_info(c->p->log, "peer %016llx %s:%d: reconnecting, its cluster key was removed",
                (unsigned long long)c->node, c->host, c->port);
    c->state = P_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
}

/* Hands one reply to the oldest pending request. 0, or <0 if c was reset. */
static int deliver(struct pconn *c, const uint8_t *body, size_t len)
{
    struct rc_reply rep;
    struct pending *pd = c->head;
    int rv;

    if (pd == NULL) {
        rc_log_warn(c->p->log, "peer %016llx sent a reply nobody asked for",
                    (unsigned long long)c->node);
        conn_reset(c, RC_EPROTO);
        return RC_EPROTO;
    }
    rv = rc_decode_reply(&c->p->dec, body, len, &rep);
    if (rv == 0 && rep.id == 0 && rep.status != 0) {
        /* The node refused what this connection sent as a whole (a frame
         * over its limit, say: its --max-value-size is smaller) and closes
         * it: every request pending fails with the node's reason, which
         * the callers can report. */
        rv = rc_err_from_status((int)rep.status);
        rc_log_warn(c->p->log, "peer %016llx closed the connection: %s",
                    (unsigned long long)c->node, rc_strerror(rv));
        conn_reset(c, rv);
        return rv;
    }
    if (rv < 0 || rep.id != pd->id) {
        rc_log_warn(c->p->log, "peer %016llx sent a malformed or out-of-order reply",
                    (unsigned long long)c->node);
        conn_reset(c, RC_EPROTO);
        return RC_EPROTO;
    }
    c->head = pd->next;
    if (c->head == NULL)
        c->tail = NULL;
    c->nqueued--;
    if (c->nsent > 0)
        c->nsent--;
    if (pd->cb) {
        /* In time (a late one, its callback cleared, proves nothing: its
         * timeout was counted as a failure). */
        breaker_ok(c);
        pd->cb(pd->arg, 0, &rep);
    }
    free(pd);
    if (c->state == P_CONNECTED && c->retiring && c->nsent == 0) {
        retire(c);
        return RC_ECLOSED;
    }
    return c->state == P_CONNECTED ? 0 : RC_ECLOSED;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct pconn *c = h->data;

    (void)suggested;
    rc_channel_alloc(&c->ch, buf);
}

/* A peer failed the cluster key: counted, logged (rate limited), and its
 * requests fail; it is retried with the reconnect backoff. */
static void auth_refuse(struct pconn *c, const char *why)
{
    struct rc_peers *p = c->p;
    uint32_t suppressed;

    if (p->opts.seal_stats != NULL)
        p->opts.seal_stats->peer_auth_failures++;
    if (rc_channel_log_due(&p->refused_log, uv_now(p->loop), &suppressed))
        rc_log_warn(p->log, "peer %016llx %s:%d refused: %s (%u more since the last report)",
                    (unsigned long long)c->node, c->host, c->port, why, suppressed);
    conn_reset(c, RC_ECLUSTER_KEY);
}

/* Opens what arrived on a sealed connection; the peer's hello lets the
 * queued requests go. 0, or < 0 when c was reset. */
static int unseal(struct pconn *c)
{
    int was_ready = rc_channel_ready(&c->ch);
    const char *why;

    if (rc_channel_open(&c->ch, c->p->opts.keys, &why) < 0) {
        auth_refuse(c, why);
        return RC_ECLUSTER_KEY;
    }
    if (!was_ready && rc_channel_ready(&c->ch)) {
        c->dirty = 1; /* in case a write is still under way */
        flush(c);
    }
    return c->state == P_CONNECTED ? 0 : RC_ECLOSED;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct pconn *c = s->data;
    const uint8_t *body;
    size_t len;
    int rv;

    (void)buf;
    if (nread < 0) {
        conn_reset(c, RC_ECLOSED);
        return;
    }
    rc_channel_received(&c->ch, (size_t)nread);
    for (;;) {
        if (unseal(c) < 0)
            return;
        rv = rc_channel_next(&c->ch, &body, &len);
        if (rv == 0)
            break;
        if (rv < 0) {
            conn_reset(c, RC_EPROTO);
            return;
        }
        if (deliver(c, body, len) < 0)
            return;
        rc_channel_consume(&c->ch);
    }
}

static void on_connect_timeout(uv_timer_t *t)
{
    struct pconn *c = container_of(t, struct pconn, ctimer);

    if (c->state == P_CONNECTING) {
        rc_log_debug(c->p->log, "peer %016llx %s:%d connect timed out",
                     (unsigned long long)c->node, c->host, c->port);
        c->retry_at = uv_now(c->p->loop) + c->backoff;
        conn_reset(c, RC_ECONNECT);
    }
}

static void connect_failed(struct pconn *c, const char *why)
{
    rc_log_debug(c->p->log, "peer %016llx %s:%d unreachable: %s", (unsigned long long)c->node,
                 c->host, c->port, why);
    c->retry_at = uv_now(c->p->loop) + c->backoff;
    c->backoff = c->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff * 2;
    conn_reset(c, RC_ECONNECT);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct pconn *c = container_of(req, struct pconn, creq);

    uv_timer_stop(&c->ctimer);
    if (c->state != P_CONNECTING)
        return; /* timed out meanwhile; the close is under way */
    if (status < 0) {
        connect_failed(c, uv_strerror(status));
        return;
    }
    c->state = P_CONNECTED;
    c->backoff = BACKOFF_MIN_MS;
    uv_tcp_nodelay(&c->tcp, 1);
    if (c->p->opts.keys != NULL && c->p->opts.keys->n > 0 &&
        rc_channel_start(&c->ch, c->p->opts.keys, 1) < 0) {
        /* Our hello goes first; requests wait in out for the peer's. */
        conn_reset(c, RC_ENOMEM);
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        conn_reset(c, RC_ECLOSED);
        return;
    }
    flush(c);
}

static void connect_addr(struct pconn *c, const struct sockaddr *sa)
{
    int rv;

    rv = uv_tcp_init(c->p->loop, &c->tcp);
    if (rv < 0) {
        connect_failed(c, uv_strerror(rv));
        return;
    }
    c->tcp.data = c;
    c->tcp_open = 1;
    c->handles++;
    c->state = P_CONNECTING;
    if (c->p->has_src && c->p->src.ss_family == sa->sa_family) {
        rv = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&c->p->src, 0);
        if (rv < 0) {
            connect_failed(c, uv_strerror(rv));
            return;
        }
    }
    rv = uv_tcp_connect(&c->creq, &c->tcp, sa, on_connect);
    if (rv < 0) {
        connect_failed(c, uv_strerror(rv));
        return;
    }
    uv_timer_start(&c->ctimer, on_connect_timeout, (uint64_t)c->p->opts.connect_timeout_ms, 0);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct pconn *c = container_of(req, struct pconn, gai);

    c->handles--; /* the request, counted like a handle while it runs */
    if (c->forgotten || c->p->closing) {
        uv_freeaddrinfo(res);
        c->state = P_IDLE;
        uv_close((uv_handle_t *)&c->ctimer, on_handle_closed);
        return;
    }
    if (status < 0 || res == NULL) {
        c->state = P_IDLE;
        connect_failed(c, status < 0 ? uv_strerror(status) : "no address");
        uv_freeaddrinfo(res);
        return;
    }
    connect_addr(c, res->ai_addr);
    uv_freeaddrinfo(res);
}

static void start_connect(struct pconn *c)
{
    struct sockaddr_storage sa;
    struct addrinfo hints;
    char port[16];
    int rv;

    if (c->state != P_IDLE || c->p->closing)
        return;
    if (uv_now(c->p->loop) < c->retry_at) {
        fail_all(c, RC_ECONNECT);
        return;
    }
    if (uv_ip4_addr(c->host, c->port, (struct sockaddr_in *)&sa) == 0 ||
        uv_ip6_addr(c->host, c->port, (struct sockaddr_in6 *)&sa) == 0) {
        connect_addr(c, (const struct sockaddr *)&sa);
        return;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", c->port);
    c->state = P_RESOLVING;
    c->handles++;
    rv = uv_getaddrinfo(c->p->loop, &c->gai, on_resolved, c->host, port, &hints);
    if (rv < 0) {
        c->handles--;
        c->state = P_IDLE;
        connect_failed(c, uv_strerror(rv));
    }
}

static struct pconn *conn_new(struct rc_peers *p, uint64_t node, const char *host, int port)
{
    struct pconn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->p = p;
    c->node = node;
    snprintf(c->host, sizeof(c->host), "%s", host);
    c->port = port;
    c->backoff = BACKOFF_MIN_MS;
    rc_buf_init(&c->out, p->opts.max_queued_bytes);
    rc_buf_init(&c->wbuf, p->opts.max_queued_bytes);
    rc_channel_init(&c->ch, p->opts.max_frame, READ_CHUNK, p->opts.max_queued_bytes,
                    p->opts.keys != NULL);
    /* Sealed, wbuf and the channel's sout swap roles, so share a cap. */
    if (p->opts.keys != NULL)
        c->wbuf.cap = rc_channel_wire_cap(p->opts.max_queued_bytes);
    uv_timer_init(p->loop, &c->ctimer);
    c->ctimer.data = c;
    c->handles = 1;
    c->next = p->conns;
    p->conns = c;
    return c;
}

int rc_peers_send(struct rc_peers *p, uint64_t node, const char *host, int port,
                  const struct rc_request *req, int timeout_ms, rc_peer_cb cb, void *arg)
{
    struct rc_request r = *req;
    struct pconn *c;
    struct pending *pd;
    int rv, admit;

    if (p->closing)
        return RC_ESHUTDOWN;
    c = find_conn(p, node);
    if (c != NULL && (c->port != port || strcmp(c->host, host) != 0) && c->state != P_CLOSING) {
        /* The node moved (restarted elsewhere): reconnect to the new place. */
        conn_reset(c, RC_ECLOSED);
        snprintf(c->host, sizeof(c->host), "%s", host);
        c->port = port;
        c->retry_at = 0;
        breaker_reset(c); /* a new place: nothing known about it yet */
    }
    if (c == NULL && (c = conn_new(p, node, host, port)) == NULL)
        return RC_ENOMEM;
    if (rc_buf_used(&c->out) + rc_buf_used(&c->wbuf) + rc_buf_used(&c->ch.sout) >=
        p->opts.max_queued_bytes)
        return RC_EBUFFER_FULL;
    admit = breaker_admit(c, uv_now(p->loop));
    if (admit == 0) {
        p->fast_fails++;
        return RC_ECONNECT;
    }
    pd = calloc(1, sizeof(*pd));
    if (pd == NULL)
        return RC_ENOMEM;
    r.id = ++c->next_id;
    rv = rc_encode_request(&c->out, &r);
    if (rv < 0) {
        free(pd);
        return rv;
    }
    if (admit == 2) {
        c->bstate = B_HALF_OPEN;
        pd->probe = 1;
    }
    pd->cb = cb;
    pd->arg = arg;
    pd->id = r.id;
    pd->deadline = uv_now(p->loop) + (uint64_t)timeout_ms;
    if (c->tail)
        c->tail->next = pd;
    else
        c->head = pd;
    c->tail = pd;
    c->nqueued++;
    c->dirty = 1;
    if (c->state == P_IDLE)
        start_connect(c);
    return 0;
}

/* Runs before the loop blocks: deferred failures, then one write per node. */
static void on_prepare(uv_prepare_t *h)
{
    struct rc_peers *p = container_of(h, struct rc_peers, prepare);
    struct pending *pd;
    struct pconn *c;

    while ((pd = p->failed) != NULL) {
        p->failed = pd->next;
        if (p->failed == NULL)
            p->failed_tail = NULL;
        pd->cb(pd->arg, pd->err, NULL);
        free(pd);
    }
    for (c = p->conns; c != NULL; c = c->next)
        if (c->dirty)
            flush(c);
}

static void on_sweep(uv_timer_t *t)
{
    struct rc_peers *p = container_of(t, struct rc_peers, sweep);
    uint64_t now = uv_now(p->loop);
    struct pending *pd;
    struct pconn *c;

    for (c = p->conns; c != NULL; c = c->next) {
    again:
        /* A callback may send or reset this connection: rescan after each. */
        for (pd = c->head; pd != NULL; pd = pd->next) {
            if (pd->cb && now >= pd->deadline) {
                rc_peer_cb cb = pd->cb;

                pd->cb = NULL;
                breaker_fail(c, RC_ETIMEOUT, pd->probe);
                cb(pd->arg, RC_ETIMEOUT, NULL);
                goto again;
            }
        }
        if (c->head && c->state == P_CONNECTED && now > c->head->deadline + STUCK_MS) {
            rc_log_warn(p->log, "peer %016llx %s:%d not answering, reconnecting",
                        (unsigned long long)c->node, c->host, c->port);
            conn_reset(c, RC_ETIMEOUT);
        }
    }
}

/* Parses opts->bind into p->src when it names one address. */
static void set_source(struct rc_peers *p, const char *bind)
{
    struct sockaddr_storage *sa = &p->src;

    p->opts.bind = NULL; /* not kept: the caller's string may go */
    if (bind == NULL || *bind == '\0' || strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "::") == 0)
        return;
    if (uv_ip4_addr(bind, 0, (struct sockaddr_in *)sa) == 0 ||
        uv_ip6_addr(bind, 0, (struct sockaddr_in6 *)sa) == 0)
        p->has_src = 1;
}

int rc_peers_new(uv_loop_t *loop, const struct rc_peers_opts *opts, const struct rc_log *log,
                 struct rc_peers **out)
{
    struct rc_peers *p;
    int rv;

    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return RC_ENOMEM;
    rv = rc_decoder_init(&p->dec);
    if (rv < 0) {
        free(p);
        return rv;
    }
    p->loop = loop;
    p->opts = *opts;
    set_source(p, opts->bind);
    p->log = log;
    uv_timer_init(loop, &p->sweep);
    uv_prepare_init(loop, &p->prepare);
    p->sweep.data = p->prepare.data = p;
    p->handles = 2;
    uv_timer_start(&p->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_prepare_start(&p->prepare, on_prepare);
    /* Neither keeps the process alive on its own. */
    uv_unref((uv_handle_t *)&p->sweep);
    uv_unref((uv_handle_t *)&p->prepare);
    *out = p;
    return 0;
}

void rc_peers_retry_now(struct rc_peers *p, uint64_t node)
{
    struct pconn *c = find_conn(p, node);

    if (c != NULL && c->bstate == B_OPEN) {
        c->bopen_until = 0;
        c->retry_at = 0;
    }
}

int rc_peers_reachable(const struct rc_peers *p, uint64_t node)
{
    const struct pconn *c;

    for (c = p->conns; c != NULL; c = c->next)
        if (c->node == node)
            return breaker_admit(c, uv_now(p->loop)) != 0;
    return 1;
}

void rc_peers_stats(const struct rc_peers *p, struct rc_peers_stats *out)
{
    const struct pconn *c;

    memset(out, 0, sizeof(*out));
    for (c = p->conns; c != NULL; c = c->next)
        out->breaker_open += c->bstate != B_CLOSED && !c->forgotten;
    out->breaker_trips = p->breaker_trips;
    out->fast_fails = p->fast_fails;
}

void rc_peers_keys_changed(struct rc_peers *p)
{
    struct pconn *c;

    if (p->opts.keys == NULL)
        return;
    for (c = p->conns; c != NULL; c = c->next) {
        if (c->state != P_CONNECTED || !rc_channel_key_removed(&c->ch, p->opts.keys))
            continue;
        c->retiring = 1;
        if (c->nsent == 0 && !c->writing)
            retire(c);
    }
}

void rc_peers_forget(struct rc_peers *p, uint64_t node)
{
    struct pconn *c = find_conn(p, node);

    if (c == NULL || c->forgotten)
        return;
    conn_reset(c, RC_ECLOSED);
    c->forgotten = 1;
    if (c->state != P_RESOLVING)
        uv_close((uv_handle_t *)&c->ctimer, on_handle_closed);
    /* A resolving conn finishes in on_resolved, which closes the timer. */
}

static void on_pool_handle_closed(uv_handle_t *h)
{
    struct rc_peers *p = h->data;

    p->handles--;
    maybe_closed(p);
}

static void maybe_closed(struct rc_peers *p)
{
    void (*cb)(void *);

    if (!p->closing || p->conns != NULL || p->handles > 0 || p->close_cb == NULL)
        return;
    cb = p->close_cb;
    p->close_cb = NULL;
    cb(p->close_arg);
}

void rc_peers_close(struct rc_peers *p, void (*cb)(void *arg), void *arg)
{
    struct pconn *c, *next;

    p->close_cb = cb;
    p->close_arg = arg;
    for (c = p->conns; c != NULL; c = next) {
        next = c->next;
        rc_peers_forget(p, c->node);
    }
    p->closing = 1;
    /* Deliver the failures now: the prepare handle is about to close. */
    on_prepare(&p->prepare);
    uv_close((uv_handle_t *)&p->sweep, on_pool_handle_closed);
    uv_close((uv_handle_t *)&p->prepare, on_pool_handle_closed);
}

void rc_peers_free(struct rc_peers *p)
{
    if (p == NULL)
        return;
    rc_decoder_close(&p->dec);
    free(p);
}
