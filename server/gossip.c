/*
 * gossip.c - libuv transport for the SWIM state machine (see gossip.h).
 *
 * Everything runs on the caller's loop: the UDP socket, a timer at the
 * state machine's next deadline, a housekeeping timer (seed joins,
 * push-pull rounds, clock checks, leave) and asynchronous name lookups
 * (uv_getaddrinfo, cached per host name). A timer that fires late is
 * reported to Lifeguard and, once, deferred by 1 ms so the datagrams that
 * queued up during the stall are read before anything times out. The
 * push-pull over TCP lives in gossip_pp.c, the clock estimates in
 * gossip_clock.c; all three share struct rc_gossip (gossip_int.h).
 */
#include "gossip_int.h"
#include "container_of.h"
#include "err.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Rate-limited warning about traffic refused for the cluster key. */
void gossip_auth_log(struct rc_gossip *g, const char *what, const char *host, unsigned port,
                     const char *why)
{
    uint32_t suppressed;

    if (rc_channel_log_due(&g->refused_log, uv_now(g->loop), &suppressed))
        rc_log_warn(g->log,
                    "gossip: %s from=%s:%u refused: %s (%u more refused since the last report)",
                    what, host, port, why, suppressed);
}

/* ---- name resolution ---------------------------------------------------- */

/* IP literal -> sockaddr with port. 0 or an error for names. */
int gossip_numeric_addr(const char *host, uint16_t port, struct sockaddr_storage *sa)
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
int gossip_address_of(struct rc_gossip *g, const char *host, uint16_t port,
                      struct sockaddr_storage *sa, struct dns_entry **entry)
{
    struct dns_entry *e;

    *entry = NULL;
    if (gossip_numeric_addr(host, port, sa) == 0)
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
    rv = gossip_address_of(g, d->host, d->port, &sa, &e);
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
    gossip_reschedule(g);
}

void gossip_reschedule(struct rc_gossip *g)
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
                gossip_oneway_sample(g, g->sd.last_from, g->sd.last_ts, 1, &off))
                gossip_skew_log(g, "datagram", g->sd.last_from, off);
            else
                gossip_auth_log(g, "datagram", host, port, why);
            return; /* nothing is sent back to what did not authenticate */
        }
        data = g->plain;
    }
    rv = rc_swim_recv(g->swim, host, port, data, len, uv_now(g->loop), &g->out);
    if (rv < 0)
        rc_log_debug(g->log, "gossip: datagram ignored from=%s:%u len=%zd: %s", host, port,
                     nread, rc_strerror(rv));
    flush_out(g);
    gossip_reschedule(g);
    check_leave(g);
}

/* Once per process life: the first full-state exchange with a peer (either
 * way) means this node knows the cluster as its peers do, so quorums can
 * be counted against it (coord.c refuses QUORUM and ALL until then). */
void gossip_mark_synced(struct rc_gossip *g)
{
    const struct rc_member *m;

    if (g->synced)
        return;
    g->synced = 1;
    rc_log_info(g->log, "gossip: in contact with the cluster (%u members known)",
                rc_swim_members(g->swim, &m));
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
    gossip_reschedule(g);
    i = g->seed_cursor++ % g->nseeds;
    gossip_pp_start(g, g->seeds[i].host, g->seeds[i].port);
}

static void on_maint(uv_timer_t *t)
{
    struct rc_gossip *g = container_of(t, struct rc_gossip, maint_timer);
    uint64_t now = uv_now(g->loop);

    gossip_clock_check(g, now);
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
            gossip_pp_round(g);
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

int gossip_is_wildcard(const char *a)
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
    } else if (!gossip_is_wildcard(g->bind)) {
        strcpy(g->self.host, g->bind);
    } else {
        rv = uv_os_gethostname(g->self.host, &len);
        if (rv < 0)
            return rv;
    }
    return 0;
}

static uint64_t swim_wall(void *arg)
{
    (void)arg;
    return wall_ms();
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
    c->clock_sample = gossip_clock_sample;
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
    g->keys = opts->keys;
    g->sstats = opts->seal_stats != NULL ? opts->seal_stats : &g->own_stats;
    rc_seal_dgram_init(&g->sd, opts->node_id, wall_ms());
    rv = gossip_pp_init(g);
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

    rv = gossip_numeric_addr(g->bind, g->self.peer_port, &sa);
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
    gossip_reschedule(g);
    return 0;
}

uint32_t rc_gossip_members(const struct rc_gossip *g, const struct rc_member **out)
{
    return rc_swim_members(g->swim, out);
}

int rc_gossip_synced(const struct rc_gossip *g)
{
    return g->synced;
}

int rc_gossip_forget(struct rc_gossip *g, uint64_t id)
{
    int rv = rc_swim_forget(g->swim, id, uv_now(g->loop));

    if (rv == 0 && g->started && !g->closing)
        gossip_reschedule(g); /* the "left" record goes out with the next messages */
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
        gossip_reschedule(g);
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
    gossip_pp_abort(g);
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
    gossip_pp_free(g);
    free(g);
}
