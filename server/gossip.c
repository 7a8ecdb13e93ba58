/*
 * gossip.c - libuv transport for the SWIM state machine (see gossip.h).
 *
 * Everything runs on the caller's loop: the UDP socket, a timer at the
 * state machine's next deadline, a housekeeping timer (seed joins,
 * push-pull rounds, leave), asynchronous name lookups (uv_getaddrinfo,
 * cached per host name) and at most one outgoing push-pull connection at
 * a time, itself a small state machine (pp_set_state) whose bytes go
 * through a channel (channel.h: framing, the cluster key's sealed
 * stream, the refused-peer log, which datagrams share). A timer that
 * fires late is reported to Lifeguard and, once, deferred by 1 ms so the
 * datagrams that queued up during the stall are read before anything
 * times out.
 */
#include "gossip.h"
#include "container_of.h"
#include "channel.h"
#include "codec.h"
#include "err.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


/* Largest UDP payload: anything over RC_SWIM_MAX_DGRAM is rejected by the
 * decoder, but reading it whole keeps a truncated tail from being parsed. */
#define RECV_BUF (64 * 1024)
/* Read granularity of the push-pull reply. */
#define PP_READ_CHUNK (64 * 1024)

struct seed {
    char host[RC_HOST_MAX];
    uint16_t port;
};

/* A sealed datagram is the SWIM datagram plus the seal's header and tag. */
#define WIRE_DGRAM_MAX (RC_SWIM_MAX_DGRAM + RC_SEAL_DGRAM_OVERHEAD)

struct queued {
    uint16_t port;
    uint16_t len;
    uint8_t data[WIRE_DGRAM_MAX];
};

/* One cached host name. Owned by the gossip; freed at rc_gossip_free or
 * when evicted (never while its lookup runs). */
struct dns_entry {
    uv_getaddrinfo_t req;
    struct rc_gossip *g;
    struct dns_entry *next;
    char host[RC_HOST_MAX];
    struct sockaddr_storage addr; /* port 0; set per send */
    int have_addr, resolving, failed;
    uint64_t expires, last_used;
    uint32_t nq;
    struct queued q[RC_GOSSIP_DNS_QUEUE];
};

enum pp_state { PP_IDLE, PP_CONNECTING, PP_WRITING, PP_READING, PP_CLOSING };

/* The outgoing push-pull exchange. */
struct pp {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    uv_timer_t timer;
    enum pp_state state;
    struct rc_buf wbuf, sbuf; /* the request frame; our state while encoding it */
    struct rc_decoder dec;
    /* The reply as received; with a cluster key also the wire (sout: the
     * hello, then the sealed request). */
    struct rc_channel ch;
    uv_write_t wreq2;
    int sent;
    char host[RC_HOST_MAX];
    uint16_t port;
    uint32_t id;
    uint64_t sent_ms, sent_wall; /* state encoded (uv_now, wall clock) */
};

struct rc_gossip {
    uv_loop_t *loop;
    uv_udp_t udp;
    uv_timer_t tick_timer;
    uv_timer_t maint_timer;
    struct pp pp;
    struct rc_gossip_cb cb;
    const struct rc_log *log;
    struct rc_swim *swim;
    struct rc_swim_out out;
    struct rc_member self;
    char bind[RC_HOST_MAX];
    int family; /* of the UDP socket; lookups ask for the same */
    struct seed seeds[RC_GOSSIP_MAX_SEEDS];
    uint32_t nseeds, seed_cursor;
    uint32_t push_pull_ms;
    uint64_t rng;
    uint64_t deadline; /* when tick_timer is due, uv_now clock */
    int deferred;
    struct dns_entry *dns;
    uint32_t ndns, dns_inflight;
    uint64_t next_join, join_backoff, alone_since, next_pp;
    uint32_t pp_rounds;
    int joined_once;
    int synced; /* a full-state exchange with a peer completed (rc_gossip_synced) */
    void (*leave_cb)(void *arg);
    void *leave_arg;
    uint64_t leave_deadline;
    void (*closed_cb)(void *arg);
    void *closed_arg;
    int started, closing, handles_open;
    const struct rc_seal_keys *keys;
    struct rc_seal_stats *sstats, own_stats;
    struct rc_seal_dgram sd;
    struct rc_channel_log refused_log; /* traffic refused for the cluster key */
    /* Clocks: offsets per member, the cached summary, and what the log
     * last said (see clock_check). */
    struct rc_skew skew;
    struct rc_skew_view clock;
    uint64_t clock_next;
    int clock_warn_kind; /* 0 nothing, 1 two nodes disagree, 2 ours is off */
    uint64_t clock_warn_ms, peer_warn_id, peer_warn_ms;
    uint64_t skew_log_ms;
    uint32_t skew_suppressed;
    uint8_t rbuf[RECV_BUF];
    uint8_t plain[RECV_BUF];
    uint8_t sealed_out[WIRE_DGRAM_MAX];
};

static const char *const pp_state_names[] = {"idle", "connecting", "writing", "reading",
                                             "closing"};

static void reschedule(struct rc_gossip *g);
static void pp_fail(struct rc_gossip *g, const char *why, int err);
static int is_wildcard(const char *a);

static int keyed(const struct rc_gossip *g)
{
    return g->keys != NULL && g->keys->n > 0;
}

/* Unix ms: datagram timestamps are compared across nodes. */
static uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Rate-limited warning about traffic refused for the cluster key. */
static void auth_log(struct rc_gossip *g, const char *what, const char *host, unsigned port,
                     const char *why)
{
    uint32_t suppressed;

    if (rc_channel_log_due(&g->refused_log, uv_now(g->loop), &suppressed))
        rc_log_warn(g->log,
                    "gossip: %s from=%s:%u refused: %s (%u more refused since the last report)",
                    what, host, port, why, suppressed);
}

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

/* Rate-limited note that a peer's traffic was refused for its stamp; the
 * clock report (clock_check) says whose clock is off. */
static void skew_log(struct rc_gossip *g, const char *what, uint64_t from, int64_t off)
{
    uint64_t now = uv_now(g->loop);

    if (g->skew_log_ms != 0 && now - g->skew_log_ms < RC_GOSSIP_AUTH_LOG_MS) {
        g->skew_suppressed++;
        return;
    }
    rc_log_warn(g->log,
                "gossip: %s from %016" PRIx64 " refused: stamped %" PRId64 " ms %s this node's "
                "clock, beyond the cluster key's %d ms window (%u more since the last report)",
                what, from, abs64(off), off > 0 ? "ahead of" : "behind", RC_SEAL_WINDOW_MS,
                g->skew_suppressed);
    g->skew_log_ms = now;
    g->skew_suppressed = 0;
}

/* A stamp that only says where the sender's clock was when it sent: the
 * delay on the way counts as offset, hence a low rank (skew.h). 1 when it
 * is beyond the seal window and there is a cluster key. A refused
 * datagram's stamp is only taken then (within the window it was refused
 * as a replay, and says nothing), and with the lowest rank when it is
 * behind our clock, since a replay is. A push-pull request's stamp rides
 * a fresh sealed stream. */
static int oneway_sample(struct rc_gossip *g, uint64_t from, uint64_t stamp, int datagram,
                         int64_t *off)
{
    uint32_t rtt;
    int beyond;

    *off = (int64_t)stamp - (int64_t)wall_ms();
    beyond = keyed(g) && abs64(*off) > RC_SEAL_WINDOW_MS;
    if (from == 0 || from == g->self.id || (datagram && !beyond))
        return 0;
    rtt = datagram && *off < 0 ? RC_SKEW_ONEWAY : RC_SKEW_FRESH_ONEWAY_MS;
    rc_skew_add(&g->skew, from, *off, rtt, uv_now(g->loop));
    return beyond;
}

static uint64_t rng_next(struct rc_gossip *g)
{
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 7;
    g->rng ^= g->rng << 17;
    return g->rng;
}

/* ---- name resolution ---------------------------------------------------- */

/* IP literal -> sockaddr with port. 0 or an error for names. */
static int numeric_addr(const char *host, uint16_t port, struct sockaddr_storage *sa)
{
    memset(sa, 0, sizeof(*sa));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)sa) == 0)
        return 0;
    return uv_ip6_addr(host, port, (struct sockaddr_in6 *)sa);
}

static void set_port(struct sockaddr_storage *sa, uint16_t port)
{
    if (sa->ss_family == AF_INET)
        ((struct sockaddr_in *)sa)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

static struct dns_entry *dns_find(struct rc_gossip *g, const char *host)
{
    struct dns_entry *e;

    for (e = g->dns; e != NULL; e = e->next)
        if (strcmp(e->host, host) == 0)
            return e;
    return NULL;
}

/* Makes room by dropping the least recently used idle entry. */
static int dns_evict(struct rc_gossip *g)
{
    struct dns_entry **pp, **victim = NULL;

    for (pp = &g->dns; *pp != NULL; pp = &(*pp)->next)
        if (!(*pp)->resolving && (victim == NULL || (*pp)->last_used < (*victim)->last_used))
            victim = pp;
    if (victim == NULL)
        return -1;
    {
        struct dns_entry *e = *victim;

        *victim = e->next;
        free(e);
        g->ndns--;
    }
    return 0;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res);

static void dns_resolve(struct rc_gossip *g, struct dns_entry *e)
{
    struct addrinfo hints;
    int rv;

    if (e->resolving || g->closing)
        return;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = g->family;
    hints.ai_socktype = SOCK_DGRAM;
    rv = uv_getaddrinfo(g->loop, &e->req, on_resolved, e->host, NULL, &hints);
    if (rv < 0) {
        rc_log_warn(g->log, "gossip: cannot start lookup host=%s: %s", e->host, uv_strerror(rv));
        e->expires = uv_now(g->loop) + RC_GOSSIP_DNS_RETRY_MS;
        return;
    }
    e->resolving = 1;
    g->dns_inflight++;
}

static struct dns_entry *dns_get(struct rc_gossip *g, const char *host)
{
    struct dns_entry *e = dns_find(g, host);

    if (e == NULL) {
        if (g->ndns >= RC_GOSSIP_DNS_MAX && dns_evict(g) < 0)
            return NULL;
        e = calloc(1, sizeof(*e));
        if (e == NULL)
            return NULL;
        e->g = g;
        snprintf(e->host, sizeof(e->host), "%s", host);
        e->next = g->dns;
        g->dns = e;
        g->ndns++;
    }
    e->last_used = uv_now(g->loop);
    if (e->last_used >= e->expires)
        dns_resolve(g, e); /* meanwhile a stale address is still used */
    return e;
}

/* Forces a fresh lookup at the next use (a member changed: maybe its IP). */
static void dns_invalidate(struct rc_gossip *g, const char *host)
{
    struct dns_entry *e = dns_find(g, host);

    if (e != NULL)
        e->expires = 0;
}

static void udp_send(struct rc_gossip *g, const struct sockaddr_storage *sa, const uint8_t *p,
                     size_t len)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
    int rv = uv_udp_try_send(&g->udp, &b, 1, (const struct sockaddr *)sa);

    /* UDP may lose datagrams anyway; SWIM is built for it. */
    if (rv < 0)
        rc_log_debug(g->log, "gossip: send failed: %s", uv_strerror(rv));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct dns_entry *e = container_of(req, struct dns_entry, req);
    struct rc_gossip *g = e->g;
    struct addrinfo *ai;
    uint32_t i;

    e->resolving = 0;
    g->dns_inflight--;
    for (ai = status == 0 ? res : NULL; ai != NULL; ai = ai->ai_next)
        if (ai->ai_family == g->family && ai->ai_addrlen <= sizeof(e->addr))
            break;
    if (ai != NULL) {
        memcpy(&e->addr, ai->ai_addr, ai->ai_addrlen);
        e->have_addr = 1;
        e->failed = 0;
        e->expires = uv_now(g->loop) + RC_GOSSIP_DNS_TTL_MS;
    } else {
        if (!e->failed && status != UV_EAI_CANCELED) /* log once per outage */
            rc_log_warn(g->log, "gossip: cannot resolve host=%s: %s", e->host,
                        status ? uv_strerror(status) : "no address of the socket's family");
        e->failed = 1;
        e->expires = uv_now(g->loop) + RC_GOSSIP_DNS_RETRY_MS;
    }
    uv_freeaddrinfo(res);
    for (i = 0; i < e->nq && e->have_addr && !g->closing; i++) {
        struct sockaddr_storage sa = e->addr;

        set_port(&sa, e->q[i].port);
        udp_send(g, &sa, e->q[i].data, e->q[i].len);
    }
    e->nq = 0;
    if (g->closing && g->handles_open == 0 && g->dns_inflight == 0 && g->closed_cb != NULL)
        g->closed_cb(g->closed_arg);
}

/* Where host:port is, now: 1 with *sa set, 0 when a lookup must finish
 * first (started if needed), -1 when it cannot be known. */
static int address_of(struct rc_gossip *g, const char *host, uint16_t port,
                      struct sockaddr_storage *sa, struct dns_entry **entry)
{
    struct dns_entry *e;

    *entry = NULL;
    if (numeric_addr(host, port, sa) == 0)
        return 1;
    e = dns_get(g, host);
    if (e == NULL)
        return -1;
    *entry = e;
    if (!e->have_addr)
        return 0;
    *sa = e->addr;
    set_port(sa, port);
    return 1;
}

static void send_dgram(struct rc_gossip *g, const struct rc_swim_dgram *d)
{
    struct sockaddr_storage sa;
    struct dns_entry *e;
    const uint8_t *data = d->data;
    size_t len = d->len;
    int rv;

    if (keyed(g)) {
        /* Sealed now, so a datagram queued behind a lookup keeps the time
         * it was produced; a lookup is far shorter than the window. */
        rv = rc_seal_dgram_seal(&g->sd, g->keys, d->to_id, wall_ms(), d->data, d->len,
                                g->sealed_out, sizeof(g->sealed_out), &len);
        if (rv < 0) {
            rc_log_warn(g->log, "gossip: cannot seal a datagram: %s", rc_strerror(rv));
            return;
        }
        data = g->sealed_out;
    }
    rv = address_of(g, d->host, d->port, &sa, &e);
    if (rv == 1) {
        udp_send(g, &sa, data, len);
    } else if (rv == 0 && e->nq < RC_GOSSIP_DNS_QUEUE) {
        e->q[e->nq].port = d->port;
        e->q[e->nq].len = (uint16_t)len;
        memcpy(e->q[e->nq].data, data, len);
        e->nq++;
    }
}

static void flush_out(struct rc_gossip *g)
{
    uint32_t i;

    for (i = 0; i < g->out.n; i++)
        send_dgram(g, &g->out.d[i]);
    if (g->out.dropped > 0)
        rc_log_debug(g->log, "gossip: %u datagrams over the per-call limit dropped",
                     g->out.dropped);
    g->out.n = 0;
    g->out.dropped = 0;
}

/* ---- the SWIM timer ------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    struct rc_gossip *g = container_of(t, struct rc_gossip, tick_timer);
    uint64_t now, late;

    uv_update_time(g->loop);
    now = uv_now(g->loop);
    late = now > g->deadline ? now - g->deadline : 0;
    if (!g->deferred && late >= RC_SWIM_LATE_THRESHOLD_MS) {
        /* The loop was busy: timers run before I/O, so acks that arrived
         * meanwhile are still unread. Tell Lifeguard, read them, then judge. */
        rc_log_debug(g->log, "gossip: timer late by %" PRIu64 " ms", late);
        rc_swim_note_late(g->swim, late, now);
        g->deferred = 1;
        g->deadline = now + 1;
        uv_timer_start(&g->tick_timer, on_tick, 1, 0);
        return;
    }
    g->deferred = 0;
    rc_swim_tick(g->swim, now, &g->out);
    flush_out(g);
    reschedule(g);
}

static void reschedule(struct rc_gossip *g)
{
    uint64_t d, now = uv_now(g->loop);

    if (g->closing || g->deferred)
        return;
    d = rc_swim_next_deadline(g->swim);
    if (d == UINT64_MAX) {
        uv_timer_stop(&g->tick_timer);
        return;
    }
    g->deadline = d > now ? d : now;
    uv_timer_start(&g->tick_timer, on_tick, g->deadline - now, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct rc_gossip *g = container_of(h, struct rc_gossip, udp);

    (void)suggested;
    *buf = uv_buf_init((char *)g->rbuf, sizeof(g->rbuf));
}

static void check_leave(struct rc_gossip *g)
{
    void (*cb)(void *arg) = g->leave_cb;

    if (cb == NULL)
        return;
    if (rc_swim_leave_pending(g->swim) > 0 && uv_now(g->loop) < g->leave_deadline)
        return;
    rc_log_info(g->log, "gossip: leave announced, %u members did not ack",
                rc_swim_leave_pending(g->swim));
    g->leave_cb = NULL;
    cb(g->leave_arg);
}

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags)
{
    struct rc_gossip *g = container_of(h, struct rc_gossip, udp);
    char host[RC_HOST_MAX];
    const uint8_t *data;
    uint16_t port;
    size_t len;
    int rv;

    if (nread < 0) {
        rc_log_debug(g->log, "gossip: recv error: %s", uv_strerror((int)nread));
        return;
    }
    if (nread == 0 || addr == NULL || (flags & UV_UDP_PARTIAL) || g->closing)
        return;
    if (uv_ip_name(addr, host, sizeof(host)) < 0)
        return;
    port = ntohs(addr->sa_family == AF_INET ? ((const struct sockaddr_in *)addr)->sin_port
                                            : ((const struct sockaddr_in6 *)addr)->sin6_port);
    data = (const uint8_t *)buf->base;
    len = (size_t)nread;
    if (keyed(g)) {
        const char *why = "";
        uint64_t from;

        rv = rc_seal_dgram_open(&g->sd, g->keys, wall_ms(), data, len, g->plain,
                                sizeof(g->plain), &len, &from, g->sstats, &why);
        if (rv == RC_EINVAL) {
            rc_log_debug(g->log, "gossip: datagram ignored from=%s:%u: %s", host, port, why);
            return;
        }
        if (rv < 0) {
            int64_t off;

            if (rv == RC_EREPLAY && g->sd.last_from != 0 &&
                oneway_sample(g, g->sd.last_from, g->sd.last_ts, 1, &off))
                skew_log(g, "datagram", g->sd.last_from, off);
            else
                auth_log(g, "datagram", host, port, why);
            return; /* nothing is sent back to what did not authenticate */
        }
        data = g->plain;
    }
    rv = rc_swim_recv(g->swim, host, port, data, len, uv_now(g->loop), &g->out);
    if (rv < 0)
        rc_log_debug(g->log, "gossip: datagram ignored from=%s:%u len=%zd: %s", host, port,
                     nread, rc_strerror(rv));
    flush_out(g);
    reschedule(g);
    check_leave(g);
}

/* Once per process life: the first full-state exchange with a peer (either
 * way) means this node knows the cluster as its peers do, so quorums can
 * be counted against it (coord.c refuses QUORUM and ALL until then). */
static void mark_synced(struct rc_gossip *g)
{
    const struct rc_member *m;

    if (g->synced)
        return;
    g->synced = 1;
    rc_log_info(g->log, "gossip: in contact with the cluster (%u members known)",
                rc_swim_members(g->swim, &m));
}

/* ---- push-pull client ------------------------------------------------------ */

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
    skew_log(g, "push-pull reply", from, off);
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
        mark_synced(g);
        reschedule(g);
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
        auth_log(g, "push-pull reply", g->pp.host, g->pp.port, why);
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
static void pp_start(struct rc_gossip *g, const char *host, uint16_t port)
{
    struct sockaddr_storage sa, src;
    struct dns_entry *e;
    int rv;

    if (g->pp.state != PP_IDLE || g->closing || address_of(g, host, port, &sa, &e) != 1)
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
    if (!is_wildcard(g->bind) && numeric_addr(g->bind, 0, &src) == 0 &&
        src.ss_family == sa.ss_family &&
        (rv = uv_tcp_bind(&g->pp.tcp, (const struct sockaddr *)&src, 0)) < 0) {
        pp_fail(g, "binding", rv);
        return;
    }
    rv = uv_tcp_connect(&g->pp.creq, &g->pp.tcp, (const struct sockaddr *)&sa, on_pp_connect);
    if (rv < 0)
        pp_fail(g, "connecting", rv);
}

/* ---- housekeeping ----------------------------------------------------------- */

static void join_seeds(struct rc_gossip *g, uint64_t now)
{
    uint32_t i;

    if (g->nseeds == 0)
        return;
    rc_log_info(g->log, "gossip: contacting %u seeds", g->nseeds);
    for (i = 0; i < g->nseeds; i++)
        rc_swim_join_seed(g->swim, g->seeds[i].host, g->seeds[i].port, now, &g->out);
    flush_out(g);
    reschedule(g);
    i = g->seed_cursor++ % g->nseeds;
    pp_start(g, g->seeds[i].host, g->seeds[i].port);
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

static void push_pull_round(struct rc_gossip *g)
{
    const struct rc_member *m;
    int i;

    rc_swim_members(g->swim, &m);
    if (g->nseeds > 0 && ++g->pp_rounds % RC_GOSSIP_SEED_PUSH_PULL_EVERY == 0) {
        const struct seed *s = &g->seeds[g->seed_cursor++ % g->nseeds];

        pp_start(g, s->host, s->port);
        return;
    }
    i = random_member(g);
    if (i > 0)
        pp_start(g, m[i].host, m[i].peer_port);
}

/* ---- clocks ------------------------------------------------------------------ */

/* Says in the log whose clock is off: ours when the median of the
 * members' clocks is far from it (every peer off by about the same
 * amount), a peer's when it alone is far from the median. */
static void clock_self_report(struct rc_gossip *g, uint64_t now)
{
    const struct rc_skew_view *v = &g->clock;
    int kind = v->npeers == 0 || abs64(v->ahead_ms) <= RC_SKEW_WARN_MS ? 0
               : v->nclocks <= 2                                         ? 1
                                                                         : 2;

    if (kind == 0) {
        if (g->clock_warn_kind != 0)
            rc_log_info(g->log, "clock: this node's clock agrees with its peers again (%" PRId64
                        " ms from the median of %u peers and itself)",
                        v->ahead_ms, v->npeers);
        g->clock_warn_kind = 0;
        return;
    }
    if (kind == g->clock_warn_kind && now - g->clock_warn_ms < RC_GOSSIP_CLOCK_LOG_MS)
        return;
    g->clock_warn_kind = kind;
    g->clock_warn_ms = now;
    if (kind == 1) {
        rc_log_warn(g->log, "clock: this node and its only peer %016" PRIx64 " differ by %" PRId64
                    " ms; with two nodes it cannot tell whose clock is off",
                    v->worst_id, 2 * abs64(v->ahead_ms));
        return;
    }
    rc_log_warn(g->log,
                "clock: this node's clock is %" PRId64 " ms %s the median of the cluster's "
                "clocks (peers measured: %u, clocks counted: %u): its own clock is off, fix "
                "this host's time sync (NTP)%s",
                abs64(v->ahead_ms), v->ahead_ms > 0 ? "ahead of" : "behind", v->npeers,
                v->nclocks,
                keyed(g) && abs64(v->ahead_ms) > RC_SEAL_WINDOW_MS
                    ? "; beyond the cluster key's window the peers refuse this node and it "
                      "refuses them until its clock is fixed"
                    : "");
}

static void clock_peer_report(struct rc_gossip *g, uint64_t now)
{
    const struct rc_skew_view *v = &g->clock;
    const struct rc_member *m;
    uint32_t n = rc_swim_members(g->swim, &m), i;
    char where[RC_HOST_MAX + 16] = "not a member";

    if (v->npeers < 2 || v->worst_id == 0 || abs64(v->worst_ms) <= RC_SKEW_WARN_MS) {
        if (g->peer_warn_id != 0)
            rc_log_info(g->log, "clock: the clock of peer %016" PRIx64 " agrees again, or it "
                        "is gone", g->peer_warn_id);
        g->peer_warn_id = 0;
        return;
    }
    if (v->worst_id == g->peer_warn_id && now - g->peer_warn_ms < RC_GOSSIP_CLOCK_LOG_MS)
        return;
    g->peer_warn_id = v->worst_id;
    g->peer_warn_ms = now;
    for (i = 1; i < n; i++)
        if (m[i].id == v->worst_id)
            snprintf(where, sizeof(where), "%s:%u", m[i].host, m[i].peer_port);
    rc_log_warn(g->log,
                "clock: the clock of peer %016" PRIx64 " (%s) is %" PRId64 " ms %s the median "
                "of this node's and its peers' clocks: that node's clock is off%s",
                v->worst_id, where, abs64(v->worst_ms), v->worst_ms > 0 ? "ahead of" : "behind",
                keyed(g) && abs64(v->worst_ms) > RC_SEAL_WINDOW_MS
                    ? "; beyond the cluster key's window, it is refused"
                    : "");
}

static void clock_check(struct rc_gossip *g, uint64_t now)
{
    if (now < g->clock_next)
        return;
    g->clock_next = now + RC_GOSSIP_CLOCK_CHECK_MS;
    rc_skew_summary(&g->skew, now, &g->clock);
    clock_self_report(g, now);
    clock_peer_report(g, now);
}

static uint64_t swim_wall(void *arg)
{
    (void)arg;
    return wall_ms();
}

static void on_clock_sample(void *arg, uint64_t id, int64_t offset_ms, uint32_t rtt_ms)
{
    struct rc_gossip *g = arg;

    rc_skew_add(&g->skew, id, offset_ms, rtt_ms, uv_now(g->loop));
}

int rc_gossip_clock_skew(const struct rc_gossip *g, int64_t *ahead_ms)
{
    *ahead_ms = g->clock.ahead_ms;
    return (int)g->clock.npeers;
}

void rc_gossip_clock_view(const struct rc_gossip *g, struct rc_skew_view *out)
{
    *out = g->clock;
}

int rc_gossip_member_offset(const struct rc_gossip *g, uint64_t id, int64_t *offset_ms)
{
    if (id == g->self.id) {
        *offset_ms = 0;
        return 0;
    }
    return rc_skew_get(&g->skew, id, uv_now(g->loop), offset_ms);
}

static void on_maint(uv_timer_t *t)
{
    struct rc_gossip *g = container_of(t, struct rc_gossip, maint_timer);
    uint64_t now = uv_now(g->loop);

    clock_check(g, now);
    if (g->leave_cb != NULL) {
        check_leave(g);
        return;
    }
    if (rc_swim_live_count(g->swim) > 1) {
        if (!g->joined_once)
            g->next_pp = now; /* just joined: fetch the full table at once */
        g->joined_once = 1;
        g->alone_since = 0;
        g->join_backoff = RC_GOSSIP_JOIN_BACKOFF_MIN_MS;
        if (now >= g->next_pp) {
            /* +-10% jitter keeps nodes started together from syncing up */
            g->next_pp = now + g->push_pull_ms * 9 / 10 + rng_next(g) % (g->push_pull_ms / 5 + 1);
            push_pull_round(g);
        }
        return;
    }
    if (g->alone_since == 0)
        g->alone_since = now;
    if ((g->joined_once && now - g->alone_since < RC_GOSSIP_REJOIN_AFTER_MS) || now < g->next_join)
        return;
    join_seeds(g, now);
    g->next_join = now + g->join_backoff;
    g->join_backoff = g->join_backoff * 2 > RC_GOSSIP_JOIN_BACKOFF_MAX_MS
                          ? RC_GOSSIP_JOIN_BACKOFF_MAX_MS
                          : g->join_backoff * 2;
}

/* ---- membership callbacks ---------------------------------------------------- */

static void on_changed(void *arg, const struct rc_member *m, enum rc_member_state old,
                       const char *why)
{
    struct rc_gossip *g = arg;

    /* A member seen for the first time comes "from" left in the state
     * machine; the log says what a person expects. */
    rc_log_info(g->log, "member %016" PRIx64 " %s:%u %s -> %s reason=%s incarnation=%" PRIu64,
                m->id, m->host, m->peer_port,
                strcmp(why, "joined") == 0 ? "new" : rc_member_state_name(old),
                rc_member_state_name(m->state), why, m->incarnation);
    /* A comeback or a move may come with a new IP; a suspect may be one
     * we keep probing at an old IP. */
    if (m->state == RC_MEMBER_ALIVE || m->state == RC_MEMBER_SUSPECT)
        dns_invalidate(g, m->host);
    if (m->state == RC_MEMBER_LEFT)
        rc_skew_forget(&g->skew, m->id); /* its clock no longer matters */
    if (g->cb.member_changed != NULL)
        g->cb.member_changed(g->cb.arg, m, old, why);
}

static int on_save(void *arg, uint64_t inc)
{
    struct rc_gossip *g = arg;
    int rv = g->cb.save_incarnation != NULL ? g->cb.save_incarnation(g->cb.arg, inc) : 0;

    if (rv < 0)
        rc_log_warn(g->log, "gossip: cannot save incarnation %" PRIu64 ": %s", inc,
                    rc_strerror(rv));
    return rv;
}

/* ---- setup ----------------------------------------------------------------- */

/* One "host:port" or "[v6]:port" of the seeds list (len bytes at s). */
static int parse_seed(const char *s, size_t len, struct seed *out)
{
    const char *colon, *h = s;
    size_t hlen;
    char *end, num[8];
    long port;

    for (colon = s + len; colon > s && colon[-1] != ':'; colon--)
        ;
    if (colon == s)
        return RC_EINVAL;
    hlen = (size_t)(colon - 1 - s);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= RC_HOST_MAX || (size_t)(s + len - colon) >= sizeof(num) ||
        s + len == colon)
        return RC_EINVAL;
    memcpy(num, colon, (size_t)(s + len - colon));
    num[s + len - colon] = '\0';
    port = strtol(num, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535)
        return RC_EINVAL;
    memcpy(out->host, h, hlen);
    out->host[hlen] = '\0';
    out->port = (uint16_t)port;
    return 0;
}

static int parse_seeds(struct rc_gossip *g, const char *list)
{
    const char *p = list, *end;

    while (p != NULL && *p != '\0') {
        size_t len;

        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        end = strchr(p, ',');
        len = end != NULL ? (size_t)(end - p) : strlen(p);
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (g->nseeds == RC_GOSSIP_MAX_SEEDS ||
            parse_seed(p, len, &g->seeds[g->nseeds]) < 0) {
            rc_log_error(g->log, "gossip: bad seed '%.*s' (want host:port, at most %d)",
                         (int)len, p, RC_GOSSIP_MAX_SEEDS);
            return RC_EINVAL;
        }
        g->nseeds++;
        p = end;
    }
    return 0;
}

static int is_wildcard(const char *a)
{
    return *a == '\0' || strcmp(a, "0.0.0.0") == 0 || strcmp(a, "::") == 0;
}

/* Our own record: id, advertised host and ports, starting incarnation. */
static int make_self(struct rc_gossip *g, const struct rc_gossip_opts *o)
{
    size_t len = sizeof(g->self.host);
    uint64_t wall = (uint64_t)time(NULL);
    int rv;

    memset(&g->self, 0, sizeof(g->self));
    g->self.id = o->node_id;
    g->self.client_port = (uint16_t)o->client_port;
    g->self.peer_port = (uint16_t)o->peer_port;
    g->self.incarnation = o->incarnation == UINT64_MAX ? o->incarnation
                          : o->incarnation + 1 > wall ? o->incarnation + 1
                                                      : wall;
    if (o->advertise != NULL && *o->advertise != '\0') {
        if (strlen(o->advertise) >= len)
            return RC_EINVAL;
        strcpy(g->self.host, o->advertise);
    } else if (!is_wildcard(g->bind)) {
        strcpy(g->self.host, g->bind);
    } else {
        rv = uv_os_gethostname(g->self.host, &len);
        if (rv < 0)
            return rv;
    }
    return 0;
}

#define OPT_OR(v, def) ((v) > 0 ? (uint32_t)(v) : (uint32_t)(def))

static void make_config(struct rc_gossip *g, const struct rc_gossip_opts *o,
                        struct rc_swim_config *c)
{
    rc_swim_config_defaults(c);
    c->probe_interval_ms = OPT_OR(o->probe_interval_ms, c->probe_interval_ms);
    c->probe_timeout_ms = OPT_OR(o->probe_timeout_ms, c->probe_timeout_ms);
    c->indirect_checks = OPT_OR(o->indirect_checks, c->indirect_checks);
    c->suspicion_mult = OPT_OR(o->suspicion_mult, c->suspicion_mult);
    c->suspicion_max_mult = OPT_OR(o->suspicion_max_mult, c->suspicion_max_mult);
    c->dead_probe_interval_ms = OPT_OR(o->dead_probe_interval_ms, c->dead_probe_interval_ms);
    c->retransmit_mult = OPT_OR(o->retransmit_mult, c->retransmit_mult);
    c->cb_arg = g;
    c->changed = on_changed;
    c->save_incarnation = on_save;
    c->wall_ms = swim_wall;
    c->clock_sample = on_clock_sample;
    g->push_pull_ms = OPT_OR(o->push_pull_interval_ms, RC_GOSSIP_PUSH_PULL_INTERVAL_MS);
}

int rc_gossip_new(uv_loop_t *loop, const struct rc_gossip_opts *opts,
                  const struct rc_gossip_cb *cb, const struct rc_log *log,
                  struct rc_gossip **out)
{
    struct rc_swim_config cfg;
    struct rc_gossip *g;
    int rv;

    *out = NULL;
    if (opts->node_id == 0 || opts->peer_port < 1 || opts->peer_port > 65535 ||
        opts->client_port < 0 || opts->client_port > 65535 || opts->bind == NULL ||
        strlen(opts->bind) >= RC_HOST_MAX)
        return RC_EINVAL;
    g = calloc(1, sizeof(*g));
    if (g == NULL)
        return RC_ENOMEM;
    g->loop = loop;
    g->log = log;
    g->cb = *cb;
    strcpy(g->bind, opts->bind);
    g->rng = opts->node_id ^ uv_hrtime();
    g->rng = g->rng ? g->rng : 1;
    g->join_backoff = RC_GOSSIP_JOIN_BACKOFF_MIN_MS;
    rc_buf_init(&g->pp.wbuf, RC_GOSSIP_PUSH_PULL_MAX + 64);
    rc_buf_init(&g->pp.sbuf, RC_GOSSIP_PUSH_PULL_MAX);
    /* Sealable whatever the key now: a reload may add one. */
    rc_channel_init(&g->pp.ch, RC_GOSSIP_PUSH_PULL_MAX, PP_READ_CHUNK,
                    RC_GOSSIP_PUSH_PULL_MAX + 64, 1);
    g->keys = opts->keys;
    g->sstats = opts->seal_stats != NULL ? opts->seal_stats : &g->own_stats;
    rc_seal_dgram_init(&g->sd, opts->node_id, wall_ms());
    rv = rc_decoder_init(&g->pp.dec);
    if (rv < 0) {
        free(g);
        return rv;
    }
    rv = rc_skew_init(&g->skew, RC_SWIM_MAX_MEMBERS);
    if (rv < 0) {
        rc_gossip_free(g);
        return rv;
    }
    rv = parse_seeds(g, opts->seeds);
    if (rv == 0) {
        rv = make_self(g, opts);
        if (rv < 0)
            rc_log_error(log, "gossip: no usable advertise address: %s", rc_strerror(rv));
    }
    make_config(g, opts, &cfg);
    if (rv == 0)
        rv = rc_swim_new(&cfg, &g->self, g->rng, uv_now(loop), &g->swim);
    if (rv < 0) {
        if (rv == RC_EINVAL)
            rc_log_error(log, "gossip: invalid options (advertise='%s', timeouts)", g->self.host);
        rc_gossip_free(g);
        return rv;
    }
    *out = g;
    return 0;
}

static int bind_udp(struct rc_gossip *g)
{
    struct sockaddr_storage sa;
    int rv;

    rv = numeric_addr(g->bind, g->self.peer_port, &sa);
    if (rv < 0) {
        rc_log_error(g->log, "gossip: bind address '%s' is not an IP literal", g->bind);
        return rv;
    }
    g->family = sa.ss_family;
    rv = uv_udp_bind(&g->udp, (const struct sockaddr *)&sa, 0);
    if (rv == 0)
        rv = uv_udp_recv_start(&g->udp, on_alloc, on_udp_recv);
    if (rv < 0)
        rc_log_error(g->log, "gossip: cannot bind udp %s:%u: %s", g->bind, g->self.peer_port,
                     uv_strerror(rv));
    return rv;
}

int rc_gossip_start(struct rc_gossip *g)
{
    int rv;

    if (g->cb.save_incarnation != NULL) {
        rv = g->cb.save_incarnation(g->cb.arg, g->self.incarnation);
        if (rv < 0) {
            rc_log_error(g->log, "gossip: cannot save incarnation: %s", rc_strerror(rv));
            return rv;
        }
    }
    uv_udp_init(g->loop, &g->udp);
    uv_timer_init(g->loop, &g->tick_timer);
    uv_timer_init(g->loop, &g->maint_timer);
    uv_timer_init(g->loop, &g->pp.timer);
    g->handles_open = 4;
    g->started = 1;
    rv = bind_udp(g);
    if (rv < 0)
        return rv;
    rc_log_info(g->log,
                "gossip: listening udp=%s:%u advertise=%s id=%016" PRIx64 " incarnation=%" PRIu64
                " seeds=%u",
                g->bind, g->self.peer_port, g->self.host, g->self.id, g->self.incarnation,
                g->nseeds);
    uv_timer_start(&g->maint_timer, on_maint, 0, RC_GOSSIP_MAINT_MS);
    reschedule(g);
    return 0;
}

uint32_t rc_gossip_members(const struct rc_gossip *g, const struct rc_member **out)
{
    return rc_swim_members(g->swim, out);
}

int rc_gossip_push_pull(struct rc_gossip *g, const uint8_t *in, size_t len,
                        struct rc_buf *out_state)
{
    uint64_t from, stamp;
    uint32_t live;
    int64_t off;
    int rv = rc_swim_state_peek(in, len, &from, &stamp, &live);

    if (rv < 0)
        return rv;
    if (stamp != 0 && oneway_sample(g, from, stamp, 0, &off)) {
        /* A node whose clock is beyond the window hears nobody (its
         * datagrams and ours are refused), so its view says everyone is
         * dead: merged, it would start suspicions of healthy members and
         * make it a member nobody can probe (issue 12's false deaths).
         * It gets our stamped state back, not merged there either, so it
         * can tell that its clock is the one that is off. Neither side
         * counts this as contact (mark_synced). */
        skew_log(g, "push-pull", from, off);
        return rc_swim_encode_state(g->swim, out_state);
    }
    rv = rc_swim_merge_state(g->swim, in, len, uv_now(g->loop));
    if (rv < 0)
        return rv;
    mark_synced(g); /* the initiator's whole table arrived */
    if (g->started)
        reschedule(g); /* the merge may have started suspicions */
    return rc_swim_encode_state(g->swim, out_state);
}

int rc_gossip_synced(const struct rc_gossip *g)
{
    return g->synced;
}

int rc_gossip_forget(struct rc_gossip *g, uint64_t id)
{
    int rv = rc_swim_forget(g->swim, id, uv_now(g->loop));

    if (rv == 0 && g->started && !g->closing)
        reschedule(g); /* the "left" record goes out with the next messages */
    return rv;
}

void rc_gossip_leave(struct rc_gossip *g, void (*done)(void *arg), void *arg)
{
    uint64_t now = uv_now(g->loop);

    rc_swim_leave(g->swim, now, &g->out);
    if (g->started && !g->closing)
        flush_out(g);
    g->out.n = 0;
    g->leave_cb = done;
    g->leave_arg = arg;
    g->leave_deadline = now + RC_GOSSIP_LEAVE_WAIT_MS;
    if (!g->started || g->closing)
        check_leave(g);
    else
        reschedule(g);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct rc_gossip *g = h->data;

    g->handles_open--;
    if (g->handles_open == 0 && g->dns_inflight == 0 && g->closed_cb != NULL)
        g->closed_cb(g->closed_arg);
}

void rc_gossip_close(struct rc_gossip *g, void (*closed)(void *arg), void *arg)
{
    struct dns_entry *e;

    g->closed_cb = closed;
    g->closed_arg = arg;
    if (g->closing)
        return;
    g->closing = 1;
    if (g->leave_cb != NULL) {
        g->leave_deadline = 0;
        check_leave(g);
    }
    for (e = g->dns; e != NULL; e = e->next)
        if (e->resolving)
            uv_cancel((uv_req_t *)&e->req); /* or it finishes on its own */
    if (!g->started) {
        if (closed != NULL)
            closed(arg);
        return;
    }
    g->udp.data = g->tick_timer.data = g->maint_timer.data = g->pp.timer.data = g;
    uv_close((uv_handle_t *)&g->udp, on_handle_closed);
    uv_close((uv_handle_t *)&g->tick_timer, on_handle_closed);
    uv_close((uv_handle_t *)&g->maint_timer, on_handle_closed);
    uv_close((uv_handle_t *)&g->pp.timer, on_handle_closed);
    if (g->pp.state != PP_IDLE && g->pp.state != PP_CLOSING) {
        pp_set_state(g, PP_CLOSING);
        uv_close((uv_handle_t *)&g->pp.tcp, on_pp_closed);
    }
}

void rc_gossip_free(struct rc_gossip *g)
{
    struct dns_entry *e, *next;

    if (g == NULL)
        return;
    for (e = g->dns; e != NULL; e = next) {
        next = e->next;
        free(e);
    }
    rc_swim_free(g->swim);
    rc_skew_close(&g->skew);
    rc_decoder_close(&g->pp.dec);
    rc_buf_close(&g->pp.wbuf);
    rc_buf_close(&g->pp.sbuf);
    rc_channel_close(&g->pp.ch);
    free(g);
}
