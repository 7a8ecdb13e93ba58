/*
 * gossip_pp.c - the gossip's full-state push-pull over TCP to the peer
 * port, both sides. The client keeps at most one outgoing exchange at a
 * time, a small state machine (pp_set_state) whose bytes go through a
 * channel (channel.h: framing, the cluster key's sealed stream, the
 * refused-peer log); the server side (rc_gossip_push_pull) is called by
 * the peer port's front end (front_peer.c) with a request it framed.
 * Both sample the peer's clock from its stamp (gossip_clock.c) and merge
 * nothing from a node whose clock is beyond the cluster key's window.
 */
#include "gossip_int.h"
#include "container_of.h"
#include "err.h"

#include <stdio.h>
#include <string.h>

/* Read granularity of the push-pull reply. */
#define PP_READ_CHUNK (64 * 1024)

static const char *const pp_state_names[] = {"idle", "connecting", "writing", "reading",
                                             "closing"};

int gossip_pp_init(struct rc_gossip *g)
{
    rc_buf_init(&g->pp.wbuf, RC_GOSSIP_PUSH_PULL_MAX + 64);
    rc_buf_init(&g->pp.sbuf, RC_GOSSIP_PUSH_PULL_MAX);
    /* Sealable whatever the key now: a reload may add one. */
    rc_channel_init(&g->pp.ch, RC_GOSSIP_PUSH_PULL_MAX, PP_READ_CHUNK,
                    RC_GOSSIP_PUSH_PULL_MAX + 64, 1);
    return rc_decoder_init(&g->pp.dec);
}

void gossip_pp_free(struct rc_gossip *g)
{
    rc_decoder_close(&g->pp.dec);
    rc_buf_close(&g->pp.wbuf);
    rc_buf_close(&g->pp.sbuf);
    rc_channel_close(&g->pp.ch);
}

/* ---- client ---------------------------------------------------------------- */

static void pp_set_state(struct rc_gossip *g, enum pp_state st)
{
    rc_log_debug(g->log, "gossip: push-pull %s:%u %s -> %s", g->pp.host, g->pp.port,
                 pp_state_names[g->pp.state], pp_state_names[st]);
    g->pp.state = st;
}

static void on_pp_closed(uv_handle_t *h)
{
    struct rc_gossip *g = container_of(h, struct rc_gossip, pp.tcp);

    pp_set_state(g, PP_IDLE);
    rc_channel_reset(&g->pp.ch);
    rc_buf_shrink(&g->pp.ch.in, 0);
    rc_buf_shrink(&g->pp.ch.raw, 0);
    rc_buf_shrink(&g->pp.ch.sout, 0);
    g->handles_open--;
    if (g->closing && g->handles_open == 0 && g->dns_inflight == 0 && g->closed_cb != NULL)
        g->closed_cb(g->closed_arg);
}

static void pp_finish(struct rc_gossip *g)
{
    uv_timer_stop(&g->pp.timer);
    pp_set_state(g, PP_CLOSING);
    uv_close((uv_handle_t *)&g->pp.tcp, on_pp_closed);
}

static void pp_fail(struct rc_gossip *g, const char *why, int err)
{
    rc_log_info(g->log, "gossip: push-pull with %s:%u failed: %s%s%s", g->pp.host, g->pp.port,
                why, err ? ": " : "", err ? uv_strerror(err) : "");
    pp_finish(g);
}

/* The reply's stamp against the request's: a round-trip sample of the
 * responder's clock. 1 when it is beyond the seal window (keyed): then
 * neither side merges the other's state (rc_gossip_push_pull), and the
 * responder vouches for the live members it lists, whose clocks are all
 * within the window of its own (rc_skew_vouch). */
static int pp_skewed(struct rc_gossip *g, const uint8_t *p, size_t len)
{
    uint64_t from, stamp, now = uv_now(g->loop);
    uint32_t live;
    int64_t off;

    if (rc_swim_state_peek(p, len, &from, &stamp, &live) < 0 || stamp == 0 || from == 0 ||
        from == g->self.id || g->pp.sent_wall == 0)
        return 0;
    off = rc_skew_offset_of(g->pp.sent_wall, stamp, wall_ms());
    rc_skew_add(&g->skew, from, off,
                now - g->pp.sent_ms > UINT32_MAX - 1 ? UINT32_MAX - 1
                                                     : (uint32_t)(now - g->pp.sent_ms),
                now);
    if (!keyed(g) || abs64(off) <= RC_SEAL_WINDOW_MS)
        return 0;
    rc_skew_vouch(&g->skew, from, live, now);
    gossip_skew_log(g, "push-pull reply", from, off);
    return 1;
}

/* A whole reply frame is in: merge the state it carries. */
static void pp_reply(struct rc_gossip *g, const uint8_t *body, size_t len)
{
    struct rc_reply rep;
    int rv;

    rv = rc_decode_reply(&g->pp.dec, body, len, &rep);
    if (rv == 0 && rep.status != 0)
        rv = rc_err_from_status((int)rep.status);
    if (rv == 0 && !rep.has_value)
        rv = RC_EPROTO;
    if (rv == 0 && pp_skewed(g, rep.value, rep.value_len)) {
        pp_finish(g); /* its view is not ours to take, nor ours its (it did not merge) */
        return;
    }
    if (rv == 0)
        rv = rc_swim_merge_state(g->swim, rep.value, rep.value_len, uv_now(g->loop));
    if (rv < 0) {
        rc_log_info(g->log, "gossip: push-pull with %s:%u: bad reply: %s", g->pp.host,
                    g->pp.port, rc_strerror(rv));
    } else {
        rc_log_debug(g->log, "gossip: push-pull with %s:%u done", g->pp.host, g->pp.port);
        gossip_mark_synced(g);
        gossip_reschedule(g);
    }
    pp_finish(g);
}

static void on_pp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct rc_gossip *g = container_of(h, struct rc_gossip, pp.tcp);

    (void)suggested;
    rc_channel_alloc(&g->pp.ch, buf);
}

static void on_pp_sent(uv_write_t *req, int status);

/* Sealed push-pull: opens what arrived; once the responder's hello is in,
 * seals and sends the request. 0, or -1 when it failed (the exchange is
 * finished). */
static int pp_unseal(struct rc_gossip *g)
{
    struct rc_buf *wire;
    const char *why;
    uv_buf_t b;
    int rv;

    if (!g->pp.ch.sealed)
        return 0; /* the request went out with the connect */
    if (rc_channel_open(&g->pp.ch, g->keys, &why) < 0) {
        if (g->sstats != NULL)
            g->sstats->peer_auth_failures++;
        gossip_auth_log(g, "push-pull reply", g->pp.host, g->pp.port, why);
        pp_finish(g);
        return -1;
    }
    if (!rc_channel_ready(&g->pp.ch) || g->pp.sent)
        return 0;
    rc_buf_reset(&g->pp.ch.sout); /* the hello, written */
    rv = rc_channel_wire(&g->pp.ch, &g->pp.wbuf, &wire);
    if (rv == 0) {
        b = uv_buf_init((char *)rc_buf_rptr(wire), (unsigned)rc_buf_used(wire));
        rv = uv_write(&g->pp.wreq2, (uv_stream_t *)&g->pp.tcp, &b, 1, on_pp_sent);
    }
    if (rv < 0) {
        pp_fail(g, "sending the state", rv);
        return -1;
    }
    g->pp.sent = 1;
    return 0;
}

static void on_pp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct rc_gossip *g = container_of(s, struct rc_gossip, pp.tcp);
    const uint8_t *body;
    size_t len;
    int rv;

    (void)buf;
    if (g->pp.state != PP_READING && !(g->pp.ch.sealed && g->pp.state == PP_WRITING))
        return;
    if (nread < 0) {
        pp_fail(g, "reading the reply", nread == UV_EOF ? 0 : (int)nread);
        return;
    }
    rc_channel_received(&g->pp.ch, (size_t)nread);
    if (pp_unseal(g) < 0)
        return;
    rv = rc_channel_next(&g->pp.ch, &body, &len);
    if (rv < 0) {
        rc_log_info(g->log, "gossip: push-pull with %s:%u: %s", g->pp.host, g->pp.port,
                    rc_strerror(rv));
        pp_finish(g);
    } else if (rv == 1) {
        uv_read_stop(s);
        pp_reply(g, body, len);
    }
}

/* The sealed request went out (the hello's write reported on its own). */
static void on_pp_sent(uv_write_t *req, int status)
{
    struct rc_gossip *g = container_of(req, struct rc_gossip, pp.wreq2);

    if (g->pp.state == PP_IDLE || g->pp.state == PP_CLOSING)
        return;
    if (status < 0)
        pp_fail(g, "sending the state", status);
    else if (g->pp.state == PP_WRITING)
        pp_set_state(g, PP_READING);
}

static void on_pp_write(uv_write_t *req, int status)
{
    struct rc_gossip *g = container_of(req, struct rc_gossip, pp.wreq);
    int rv;

    if (g->pp.state != PP_WRITING)
        return; /* closed meanwhile */
    if (status < 0) {
        pp_fail(g, "sending the state", status);
        return;
    }
    if (g->pp.ch.sealed)
        return; /* only the hello: reading already runs, pp_unseal sends the rest */
    pp_set_state(g, PP_READING);
    rv = uv_read_start((uv_stream_t *)&g->pp.tcp, on_pp_alloc, on_pp_read);
    if (rv < 0)
        pp_fail(g, "reading", rv);
}

static void on_pp_connect(uv_connect_t *req, int status)
{
    struct rc_gossip *g = container_of(req, struct rc_gossip, pp.creq);
    uv_buf_t b;
    int rv;

    if (g->pp.state != PP_CONNECTING)
        return;
    if (status < 0) {
        pp_fail(g, "connecting", status);
        return;
    }
    pp_set_state(g, PP_WRITING);
    g->pp.sent = 0;
    if (keyed(g)) {
        /* Hello first; the request is sealed once the responder's hello
         * (its nonce) is in, so reading starts now. */
        rv = rc_channel_start(&g->pp.ch, g->keys, 1);
        if (rv == 0)
            rv = uv_read_start((uv_stream_t *)&g->pp.tcp, on_pp_alloc, on_pp_read);
        if (rv < 0) {
            pp_fail(g, "starting the cluster key handshake", 0);
            return;
        }
        b = uv_buf_init((char *)rc_buf_rptr(&g->pp.ch.sout),
                        (unsigned)rc_buf_used(&g->pp.ch.sout));
    } else {
        b = uv_buf_init((char *)rc_buf_rptr(&g->pp.wbuf), (unsigned)rc_buf_used(&g->pp.wbuf));
    }
    rv = uv_write(&g->pp.wreq, (uv_stream_t *)&g->pp.tcp, &b, 1, on_pp_write);
    if (rv < 0)
        pp_fail(g, "sending", rv);
}

static void on_pp_timeout(uv_timer_t *t)
{
    struct rc_gossip *g = container_of(t, struct rc_gossip, pp.timer);

    if (g->pp.state != PP_IDLE && g->pp.state != PP_CLOSING)
        pp_fail(g, "timed out", 0);
}

/* The request frame carrying our full state. */
static int pp_build(struct rc_gossip *g)
{
    struct rc_request req;
    int rv;

    rc_buf_reset(&g->pp.sbuf);
    rc_buf_reset(&g->pp.wbuf);
    rc_buf_reset(&g->pp.ch.in);
    g->pp.sent_ms = uv_now(g->loop);
    g->pp.sent_wall = wall_ms(); /* the stamp encode_state puts in, near enough */
    rv = rc_swim_encode_state(g->swim, &g->pp.sbuf);
    if (rv < 0)
        return rv;
    memset(&req, 0, sizeof(req));
    req.op = RC_OP_PUSH_PULL;
    req.id = ++g->pp.id;
    req.has_value = 1;
    req.value = rc_buf_rptr(&g->pp.sbuf);
    req.value_len = (uint32_t)rc_buf_used(&g->pp.sbuf);
    rv = rc_encode_request(&g->pp.wbuf, &req);
    rc_buf_reset(&g->pp.sbuf);
    return rv;
}

/* Starts a push-pull with host:port unless one is running or the name is
 * still being looked up (the next round retries). */
void gossip_pp_start(struct rc_gossip *g, const char *host, uint16_t port)
{
    struct sockaddr_storage sa, src;
    struct dns_entry *e;
    int rv;

    if (g->pp.state != PP_IDLE || g->closing || gossip_address_of(g, host, port, &sa, &e) != 1)
        return;
    snprintf(g->pp.host, sizeof(g->pp.host), "%s", host);
    g->pp.port = port;
    rv = pp_build(g);
    if (rv < 0) {
        rc_log_warn(g->log, "gossip: cannot encode state: %s", rc_strerror(rv));
        return;
    }
    rv = uv_tcp_init(g->loop, &g->pp.tcp);
    if (rv < 0)
        return;
    g->handles_open++;
    pp_set_state(g, PP_CONNECTING);
    uv_timer_start(&g->pp.timer, on_pp_timeout, RC_GOSSIP_PUSH_PULL_TIMEOUT_MS, 0);
    /* Leave from our own address (as the peer pool does): peers and
     * firewalls see the address this node is known by. */
    if (!gossip_is_wildcard(g->bind) && gossip_numeric_addr(g->bind, 0, &src) == 0 &&
        src.ss_family == sa.ss_family &&
        (rv = uv_tcp_bind(&g->pp.tcp, (const struct sockaddr *)&src, 0)) < 0) {
        pp_fail(g, "binding", rv);
        return;
    }
    rv = uv_tcp_connect(&g->pp.creq, &g->pp.tcp, (const struct sockaddr *)&sa, on_pp_connect);
    if (rv < 0)
        pp_fail(g, "connecting", rv);
}

/* A random live member other than self; -1 if none. */
static int random_member(struct rc_gossip *g)
{
    const struct rc_member *m;
    uint32_t n = rc_swim_members(g->swim, &m), live = 0, i, pick;

    for (i = 1; i < n; i++)
        live += m[i].state == RC_MEMBER_ALIVE;
    if (live == 0)
        return -1;
    pick = (uint32_t)(rng_next(g) % live);
    for (i = 1; i < n; i++)
        if (m[i].state == RC_MEMBER_ALIVE && pick-- == 0)
            return (int)i;
    return -1;
}

void gossip_pp_round(struct rc_gossip *g)
{
    const struct rc_member *m;
    int i;

    rc_swim_members(g->swim, &m);
    if (g->nseeds > 0 && ++g->pp_rounds % RC_GOSSIP_SEED_PUSH_PULL_EVERY == 0) {
        const struct seed *s = &g->seeds[g->seed_cursor++ % g->nseeds];

        gossip_pp_start(g, s->host, s->port);
        return;
    }
    i = random_member(g);
    if (i > 0)
        gossip_pp_start(g, m[i].host, m[i].peer_port);
}

void gossip_pp_abort(struct rc_gossip *g)
{
    if (g->pp.state != PP_IDLE && g->pp.state != PP_CLOSING) {
        pp_set_state(g, PP_CLOSING);
        uv_close((uv_handle_t *)&g->pp.tcp, on_pp_closed);
    }
}

/* ---- server side ----------------------------------------------------------- */

int rc_gossip_push_pull(struct rc_gossip *g, const uint8_t *in, size_t len,
                        struct rc_buf *out_state)
{
    uint64_t from, stamp;
    uint32_t live;
    int64_t off;
    int rv = rc_swim_state_peek(in, len, &from, &stamp, &live);

    if (rv < 0)
        return rv;
    if (stamp != 0 && gossip_oneway_sample(g, from, stamp, 0, &off)) {
        /* A node whose clock is beyond the window hears nobody (its
         * datagrams and ours are refused), so its view says everyone is
         * dead: merged, it would start suspicions of healthy members and
         * make it a member nobody can probe (issue 12's false deaths).
         * It gets our stamped state back, not merged there either, so it
         * can tell that its clock is the one that is off. Neither side
         * counts this as contact (gossip_mark_synced). */
        gossip_skew_log(g, "push-pull", from, off);
        return rc_swim_encode_state(g->swim, out_state);
    }
    rv = rc_swim_merge_state(g->swim, in, len, uv_now(g->loop));
    if (rv < 0)
        return rv;
    gossip_mark_synced(g); /* the initiator's whole table arrived */
    if (g->started)
        gossip_reschedule(g); /* the merge may have started suspicions */
    return rc_swim_encode_state(g->swim, out_state);
}
