/*
 * swim_probe.c - the protocol rounds of the SWIM state machine (swim.h):
 * building datagrams with their piggyback and reply caps, probing (direct,
 * then through others), suspicion timeouts, relays for other probers,
 * received datagrams, joining through a seed and leaving.
 *
 * The member table and every state change live in swim.c; this file only
 * decides when to probe and what to send, and calls in there
 * (swim_int.h) for what it learns.
 */
#include "swim_int.h"
#include "err.h"
#include "skew.h"

#include <assert.h>
#include <string.h>

#include <msgpack.h>

/* Dead members pinged per dead-probe round (round robin). */
#define DEAD_PROBES_PER_ROUND 4

static uint32_t new_seq(struct rc_swim *s)
{
    if (++s->next_seq == 0)
        s->next_seq = 1; /* 0 means "not tracked" */
    return s->next_seq;
}

/* ---- sending ------------------------------------------------------------ */

/* What a datagram says besides its piggyback. */
struct dgram_spec {
    enum rc_swim_type type;
    uint32_t seq;
    uint64_t target_id;
    const char *to_host; /* where it goes */
    uint16_t to_port;
    uint64_t to_id;
    const struct rc_member *ping_target; /* PING_REQ: whom the relay pings */
    uint32_t nack_ms;
};

/* A record with a 253-character host name and the widest integers: what
 * a seed, whose record we do not know yet, may answer with. */
#define WORST_REC_LEN (1 + 9 + 2 + 253 + 3 + 3 + 9 + 1 + 9)

static size_t uint_len(uint64_t v)
{
    return v < 128 ? 1 : v < 256 ? 2 : v < 65536 ? 3 : v <= UINT32_MAX ? 5 : 9;
}

/*
 * Smallest answer a PING or PING_REQ can get: an ACK or NACK
 * [seq, recipient's record, target id, []]. Requests are padded up to it,
 * because a node never answers a datagram with a larger one (a spoofed
 * small request must not make us send a big reply to its victim).
 */
static size_t reply_floor(const struct rc_swim *s, const struct dgram_spec *ds)
{
    uint8_t scratch[WORST_REC_LEN + 16];
    struct swim_fbuf r = {scratch, sizeof(scratch), 0, 0};
    msgpack_packer pk;
    int i = ds->to_id ? swim_find(s, ds->to_id) : -1;

    if (ds->type != RC_SWIM_PING && ds->type != RC_SWIM_PING_REQ)
        return 0;
    if (i > 0) {
        msgpack_packer_init(&pk, &r, swim_fbuf_write);
        swim_pack_member(&pk, &s->members[i], s->members[i].id);
    }
    /* A stamped PING gets a stamped ACK: 9 more bytes (uint64). */
    return RC_SWIM_HDR + 1 + uint_len(ds->seq) + (i > 0 && !r.err ? r.len : WORST_REC_LEN) + 9 +
           1 + (ds->type == RC_SWIM_PING && s->cfg.wall_ms != NULL ? 9 : 0);
}

/* Whether a datagram of this type carries our wall clock (swim.h). */
static int stamps(const struct rc_swim *s, enum rc_swim_type type)
{
    return s->cfg.wall_ms != NULL &&
           (type == RC_SWIM_PING || (type == RC_SWIM_ACK && !s->reply_unstamped));
}

/* Appends a trailing bin element (ignored by receivers) so that the
 * datagram reaches floor bytes; bumps the body's fixarray count. */
static void pad_to(struct swim_fbuf *f, size_t floor)
{
    uint8_t zeros[WORST_REC_LEN + 32] = {0};
    size_t n = floor - f->len;

    n = n > 3 ? n - 3 : 0; /* bin 16 header, always: simple and enough */
    if (n > sizeof(zeros))
        n = sizeof(zeros);
    if (f->len + 3 + n > f->cap || (f->p[RC_SWIM_HDR] & 0xf0) != 0x90 ||
        (f->p[RC_SWIM_HDR] & 0x0f) == 0x0f)
        return; /* no room under the cap: sent unpadded */
    f->p[RC_SWIM_HDR]++;
    swim_fbuf_write(f, "\xc5", 1);
    swim_fbuf_write(f, (const char[]){(char)(n >> 8), (char)n}, 2);
    swim_fbuf_write(f, (const char *)zeros, n);
}

static void send_dgram(struct rc_swim *s, const struct dgram_spec *ds, struct rc_swim_out *out)
{
    uint8_t tail[RC_HOST_MAX + 16], pig[RC_SWIM_MAX_DGRAM];
    struct swim_fbuf t = {tail, sizeof(tail), 0, 0}, p = {pig, 0, 0, 0}, f;
    struct rc_swim_dgram *d;
    msgpack_packer pk;
    uint32_t nup;
    size_t max = s->reply_cap != 0 && s->reply_cap < RC_SWIM_MAX_DGRAM ? s->reply_cap
                                                                        : RC_SWIM_MAX_DGRAM;
    size_t floor = reply_floor(s, ds), fixed;
    int stamped = stamps(s, ds->type);

    if (out->n == RC_SWIM_MAX_OUT || strlen(ds->to_host) >= RC_HOST_MAX) {
        out->dropped++;
        return;
    }
    d = &out->d[out->n];
    f = (struct swim_fbuf){d->data, RC_SWIM_MAX_DGRAM, 0, 0};
    msgpack_packer_init(&pk, &t, swim_fbuf_write);
    if (ds->type == RC_SWIM_PING_REQ) {
        msgpack_pack_str_with_body(&pk, ds->ping_target->host, strlen(ds->ping_target->host));
        msgpack_pack_uint16(&pk, ds->ping_target->peer_port);
        msgpack_pack_uint32(&pk, ds->nack_ms);
    }
    if (stamped)
        msgpack_pack_uint64(&pk, s->cfg.wall_ms(s->cfg.cb_arg));
    msgpack_packer_init(&pk, &f, swim_fbuf_write);
    swim_pack_header(&f, ds->type);
    msgpack_pack_array(&pk, ds->type == RC_SWIM_PING_REQ ? 7 : 4 + stamped);
    msgpack_pack_uint32(&pk, ds->seq);
    swim_pack_member(&pk, &s->members[0], s->members[0].id);
    msgpack_pack_uint64(&pk, ds->target_id);
    /* Whatever is left, less the tail and a 3-byte array header. An ACK
     * whose fixed part is larger than the PING is not sent at all. */
    fixed = f.len + t.len + 1;
    if (f.err || t.err || RC_SWIM_MAX_DGRAM - f.len < t.len + 3 ||
        (s->reply_strict && fixed > max)) {
        out->dropped++;
        return;
    }
    p.cap = max > f.len + t.len + 3 ? max - f.len - t.len - 3 : 0;
    nup = swim_pack_updates(s, ds->to_id, &p);
    msgpack_pack_array(&pk, nup);
    swim_fbuf_write(&f, (const char *)pig, p.len);
    swim_fbuf_write(&f, (const char *)tail, t.len);
    assert(!f.err); /* the budget above leaves room for all of it */
    if (f.len < floor && floor <= max)
        pad_to(&f, floor);
    memcpy(d->host, ds->to_host, strlen(ds->to_host) + 1);
    d->port = ds->to_port;
    d->to_id = ds->to_id;
    d->len = f.len;
    out->n++;
}

/* A PING, ACK or NACK to a member or an address. */
static void send_simple(struct rc_swim *s, enum rc_swim_type type, uint32_t seq, uint64_t target,
                        const char *host, uint16_t port, uint64_t to_id, struct rc_swim_out *out)
{
    struct dgram_spec ds = {type, seq, target, host, port, to_id, NULL, 0};

    send_dgram(s, &ds, out);
}

static void ping_member(struct rc_swim *s, uint32_t seq, const struct rc_member *m,
                        struct rc_swim_out *out)
{
    send_simple(s, RC_SWIM_PING, seq, m->id, m->host, m->peer_port, m->id, out);
}

/* ---- probing ------------------------------------------------------------ */

/* Next member to probe: round robin over a shuffled list of the live
 * members, reshuffled after each full pass. -1 if there is none. */
static int next_target(struct rc_swim *s)
{
    uint32_t i, j;
    int rebuilt = 0, k;

    for (;;) {
        if (s->order_pos >= s->norder) {
            if (rebuilt || s->n < 2)
                return -1;
            rebuilt = 1;
            s->norder = s->order_pos = 0;
            for (i = 1; i < s->n; i++)
                if (is_live(s->members[i].state))
                    s->order[s->norder++] = s->members[i].id;
            for (i = s->norder; i > 1; i--) { /* Fisher-Yates */
                uint64_t t;

                j = swim_rng_below(s, i);
                t = s->order[i - 1];
                s->order[i - 1] = s->order[j];
                s->order[j] = t;
            }
            if (s->norder == 0)
                return -1;
        }
        k = swim_find(s, s->order[s->order_pos++]);
        if (k > 0 && is_live(s->members[k].state))
            return k;
    }
}

static void start_probe(struct rc_swim *s, uint64_t now, struct rc_swim_out *out)
{
    int i = next_target(s);

    s->next_probe = now + rc_swim_probe_interval(s);
    if (i < 0)
        return;
    s->probe.phase = PROBE_DIRECT;
    s->probe.target = s->members[i].id;
    s->probe.seq = new_seq(s);
    s->probe.direct_deadline = now + rc_swim_probe_timeout(s);
    s->probe.end = s->next_probe;
    s->probe.expected_nacks = s->probe.nacks = 0;
    s->probe.sent_ms = now;
    s->probe.sent_wall = s->cfg.wall_ms != NULL ? s->cfg.wall_ms(s->cfg.cb_arg) : 0;
    ping_member(s, s->probe.seq, &s->members[i], out);
}

/* Up to k (<= RC_SWIM_LEAVE_FANOUT) random alive members other than self
 * and exclude, as indices into dst. */
static uint32_t pick_helpers(struct rc_swim *s, uint64_t exclude, uint32_t k, uint32_t *dst)
{
    uint32_t i, c = 0, j;

    for (i = 1; i < s->n; i++)
        if (s->members[i].state == RC_MEMBER_ALIVE && s->members[i].id != exclude)
            s->keys[c++].idx = i;
    for (i = 0; i < k && i < c; i++) { /* partial Fisher-Yates */
        struct sort_key t;

        j = i + swim_rng_below(s, c - i);
        t = s->keys[i];
        s->keys[i] = s->keys[j];
        s->keys[j] = t;
        dst[i] = s->keys[i].idx;
    }
    return c < k ? c : k;
}

/* Direct ping unanswered: ask k others. The indirect phase always gets its
 * full window from now, so a stalled tick cannot skip it. */
static void go_indirect(struct rc_swim *s, uint64_t now, struct rc_swim_out *out)
{
    struct dgram_spec ds = {RC_SWIM_PING_REQ, s->probe.seq, s->probe.target, NULL, 0, 0, NULL, 0};
    uint64_t window = rc_swim_probe_interval(s) - rc_swim_probe_timeout(s);
    uint32_t i, k, helpers[RC_SWIM_MAX_INDIRECT];
    int t = swim_find(s, s->probe.target);

    if (t < 0) {
        s->probe.phase = PROBE_IDLE;
        return;
    }
    s->probe.phase = PROBE_INDIRECT;
    s->probe.end = max_u64(s->probe.end, now + window);
    s->next_probe = max_u64(s->next_probe, s->probe.end);
    /* Relays must nack before we give up; leave a third for the way back. */
    ds.nack_ms = (uint32_t)min_u64((s->probe.end - now) * 2 / 3, SWIM_MAX_NACK_MS);
    ds.ping_target = &s->members[t];
    k = pick_helpers(s, s->probe.target, s->cfg.indirect_checks, helpers);
    for (i = 0; i < k; i++) {
        const struct rc_member *h = &s->members[helpers[i]];

        ds.to_host = h->host;
        ds.to_port = h->peer_port;
        ds.to_id = h->id;
        send_dgram(s, &ds, out);
    }
    s->probe.expected_nacks = k;
}

static void probe_failed(struct rc_swim *s, uint64_t now)
{
    struct probe *p = &s->probe;
    int i = swim_find(s, p->target);

    /* Lifeguard: nacks that did not come back mean we cannot hear others
     * well, so the fault is likely ours; with no helpers count one. */
    swim_lhm_add(s, p->expected_nacks ? (int)(p->expected_nacks - p->nacks) : 1);
    p->phase = PROBE_IDLE;
    if (i <= 0)
        return;
    if (s->members[i].state == RC_MEMBER_ALIVE)
        swim_set_state(s, (uint32_t)i, RC_MEMBER_SUSPECT, s->members[i].incarnation,
                       s->members[0].id, "probe timeout", now);
    else if (s->members[i].state == RC_MEMBER_SUSPECT &&
             swim_confirm(s, (uint32_t)i, s->members[0].id))
        swim_gossip(s, (uint32_t)i, s->members[0].id);
}

static void run_probe(struct rc_swim *s, uint64_t now, struct rc_swim_out *out)
{
    if (s->probe.phase == PROBE_DIRECT && now >= s->probe.direct_deadline)
        go_indirect(s, now, out);
    if (s->probe.phase == PROBE_INDIRECT && now >= s->probe.end)
        probe_failed(s, now);
    if (s->probe.phase == PROBE_IDLE && now >= s->next_probe)
        start_probe(s, now, out);
}

static void expire_suspicions(struct rc_swim *s, uint64_t now)
{
    uint32_t i;

    for (i = 1; i < s->n; i++)
        if (s->members[i].state == RC_MEMBER_SUSPECT && now >= s->peers[i].susp_deadline)
            swim_set_state(s, i, RC_MEMBER_DEAD, s->members[i].incarnation,
                           s->members[0].id, "suspicion timeout", now);
}

/* Pings a few dead members so they can refute once reachable again. The
 * ping carries their dead record (buddy), which makes them refute. */
static void probe_dead(struct rc_swim *s, uint64_t now, struct rc_swim_out *out)
{
    uint32_t seen, sent = 0;

    if (now < s->next_dead_probe)
        return;
    s->next_dead_probe = now + s->cfg.dead_probe_interval_ms;
    for (seen = 0; seen < s->n && sent < DEAD_PROBES_PER_ROUND; seen++) {
        uint32_t i = s->dead_cursor;

        s->dead_cursor = (s->dead_cursor + 1) % s->n;
        if (i > 0 && s->members[i].state == RC_MEMBER_DEAD) {
            ping_member(s, 0, &s->members[i], out);
            sent++;
        }
    }
}

static void expire_relays(struct rc_swim *s, uint64_t now, struct rc_swim_out *out)
{
    uint32_t i;

    for (i = 0; i < MAX_RELAYS; i++) {
        struct relay *r = &s->relays[i];

        if (r->used && now >= r->nack_at) {
            s->reply_cap = r->cap;
            send_simple(s, RC_SWIM_NACK, r->origin_seq, r->target, r->origin_host,
                        r->origin_port, r->origin_id, out);
            s->reply_cap = 0;
            r->used = 0;
        }
    }
}

static void reap_tombstones(struct rc_swim *s, uint64_t now)
{
    uint32_t i = 1;

    while (i < s->n) {
        const struct rc_member *m = &s->members[i];

        if (m->state == RC_MEMBER_LEFT && now - m->state_since_ms >= s->cfg.tombstone_ms)
            swim_remove_at(s, i);
        else
            i++;
    }
}

/* After leaving: repeat the announcement to those who have not acked. */
static void resend_leave(struct rc_swim *s, uint64_t now, struct rc_swim_out *out)
{
    uint32_t j;

    if (now < s->next_probe)
        return;
    s->next_probe = now + s->cfg.probe_interval_ms;
    for (j = 0; j < s->nleave; j++) {
        int i = swim_find(s, s->leave_pending[j]);

        if (i > 0)
            ping_member(s, s->leave_seq, &s->members[i], out);
    }
}

void rc_swim_tick(struct rc_swim *s, uint64_t now, struct rc_swim_out *out)
{
    if (s->members[0].state == RC_MEMBER_LEFT) {
        resend_leave(s, now, out);
    } else {
        expire_suspicions(s, now);
        run_probe(s, now, out);
        probe_dead(s, now, out);
    }
    expire_relays(s, now, out);
    reap_tombstones(s, now);
}

uint64_t rc_swim_next_deadline(const struct rc_swim *s)
{
    uint64_t d = UINT64_MAX;
    uint32_t i;
    int any_dead = 0;

    if (s->members[0].state == RC_MEMBER_LEFT)
        d = s->nleave ? s->next_probe : d;
    else if (s->probe.phase == PROBE_DIRECT)
        d = s->probe.direct_deadline;
    else if (s->probe.phase == PROBE_INDIRECT)
        d = s->probe.end;
    else
        d = s->next_probe;
    for (i = 0; i < MAX_RELAYS; i++)
        if (s->relays[i].used)
            d = min_u64(d, s->relays[i].nack_at);
    for (i = 1; i < s->n; i++) {
        const struct rc_member *m = &s->members[i];

        if (m->state == RC_MEMBER_SUSPECT)
            d = min_u64(d, s->peers[i].susp_deadline);
        if (!is_live(m->state))
            d = min_u64(d, m->state_since_ms + s->cfg.tombstone_ms);
        any_dead |= m->state == RC_MEMBER_DEAD;
    }
    if (any_dead && s->members[0].state != RC_MEMBER_LEFT)
        d = min_u64(d, s->next_dead_probe);
    return d;
}

void rc_swim_note_late(struct rc_swim *s, uint64_t late_ms, uint64_t now_ms)
{
    uint32_t i;

    (void)now_ms;
    if (late_ms < s->cfg.late_threshold_ms)
        return;
    swim_lhm_add(s, 1);
    /* Acks, nacks and refutations that arrived while we were not running
     * are still unread: give them the time back before judging. */
    s->probe.direct_deadline += late_ms;
    s->probe.end += late_ms;
    s->next_probe += late_ms;
    for (i = 0; i < MAX_RELAYS; i++)
        s->relays[i].nack_at += late_ms;
    for (i = 1; i < s->n; i++) {
        s->peers[i].susp_start += late_ms;
        s->peers[i].susp_deadline += late_ms;
    }
}

/* ---- receiving ---------------------------------------------------------- */

static void on_ping_req(struct rc_swim *s, const struct rc_swim_msg *m, const char *from_host,
                        uint16_t from_port, uint64_t now, struct rc_swim_out *out)
{
    char host[RC_HOST_MAX];
    struct relay *r = NULL;
    uint32_t i;

    if (m->target_id == s->members[0].id) { /* asked to ping ourselves: we are here */
        s->reply_strict = 1;
        send_simple(s, RC_SWIM_ACK, m->seq, m->target_id, from_host, from_port, m->from.id, out);
        s->reply_strict = 0;
        return;
    }
    for (i = 0; i < MAX_RELAYS && r == NULL; i++)
        if (!s->relays[i].used)
            r = &s->relays[i];
    if (r == NULL || strlen(from_host) >= RC_HOST_MAX)
        return; /* the prober counts a missing nack against itself, rightly */
    r->used = 1;
    r->seq = new_seq(s);
    r->origin_seq = m->seq;
    r->target = m->target_id;
    r->nack_at = now + m->nack_ms;
    memcpy(r->origin_host, from_host, strlen(from_host) + 1);
    r->origin_port = from_port;
    r->origin_id = m->from.id;
    r->cap = s->reply_cap;
    memcpy(host, m->target_host, m->target_host_len);
    host[m->target_host_len] = '\0';
    send_simple(s, RC_SWIM_PING, r->seq, m->target_id, host, m->target_port, m->target_id, out);
}

/* The ack of our own probe, straight from its target and stamped: one
 * sample of its clock offset. (A relayed ack is stamped by the relay.) */
static void clock_sample(struct rc_swim *s, const struct rc_swim_msg *m, uint64_t now)
{
    const struct probe *p = &s->probe;
    uint64_t rtt = now - p->sent_ms;

    if (s->cfg.clock_sample == NULL || s->cfg.wall_ms == NULL || m->wall_ms == 0 ||
        p->sent_wall == 0 || m->from.id != p->target || now < p->sent_ms)
        return;
    s->cfg.clock_sample(s->cfg.cb_arg, m->from.id,
                        rc_skew_offset_of(p->sent_wall, m->wall_ms, s->cfg.wall_ms(s->cfg.cb_arg)),
                        rtt > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)rtt);
}

static void on_ack(struct rc_swim *s, const struct rc_swim_msg *m, uint64_t now,
                   struct rc_swim_out *out)
{
    struct probe *p = &s->probe;
    uint32_t i;

    if (p->phase != PROBE_IDLE && m->seq == p->seq && m->target_id == p->target) {
        clock_sample(s, m, now);
        p->phase = PROBE_IDLE;
        swim_lhm_add(s, -1);
        return;
    }
    if (m->seq != 0 && m->seq == s->leave_seq) {
        for (i = 0; i < s->nleave; i++)
            if (s->leave_pending[i] == m->from.id)
                s->leave_pending[i] = s->leave_pending[--s->nleave];
        return;
    }
    for (i = 0; i < MAX_RELAYS; i++) {
        struct relay *r = &s->relays[i];

        if (r->used && m->seq == r->seq && m->target_id == r->target) {
            send_simple(s, RC_SWIM_ACK, r->origin_seq, r->target, r->origin_host,
                        r->origin_port, r->origin_id, out);
            r->used = 0;
        }
    }
}

static int recv_msg(struct rc_swim *s, const char *from_host, uint16_t from_port,
                    const struct rc_swim_msg *m, uint64_t now, struct rc_swim_out *out);

int rc_swim_recv(struct rc_swim *s, const char *from_host, uint16_t from_port, const uint8_t *buf,
                 size_t len, uint64_t now, struct rc_swim_out *out)
{
    struct rc_swim_msg *m = &s->msg;
    int rv;

    rv = rc_swim_decode(buf, len, m);
    if (rv < 0)
        return rv;
    if (m->from.id == s->members[0].id)
        return RC_EINVAL; /* our own datagram, or another node with our id */
    s->reply_cap = len;
    s->reply_unstamped = m->wall_ms == 0;
    rv = recv_msg(s, from_host, from_port, m, now, out);
    s->reply_cap = 0;
    s->reply_unstamped = 0;
    return rv;
}

/* rc_swim_recv for a decoded message; replies are capped by reply_cap. */
static int recv_msg(struct rc_swim *s, const char *from_host, uint16_t from_port,
                    const struct rc_swim_msg *m, uint64_t now, struct rc_swim_out *out)
{
    uint32_t i;
    int k;

    swim_apply(s, &m->from, now);
    k = swim_find(s, m->from.id);
    if (k > 0)
        s->peers[k].heard = now;
    for (i = 0; i < m->nupdates; i++)
        swim_apply(s, &m->updates[i], now);
    switch (m->type) {
    case RC_SWIM_PING:
        if (m->target_id == 0 || m->target_id == s->members[0].id) {
            s->reply_strict = 1;
            send_simple(s, RC_SWIM_ACK, m->seq, s->members[0].id, from_host, from_port,
                        m->from.id, out);
            s->reply_strict = 0;
        }
        break;
    case RC_SWIM_ACK:
        on_ack(s, m, now, out);
        break;
    case RC_SWIM_NACK:
        if (s->probe.phase == PROBE_INDIRECT && m->seq == s->probe.seq &&
            s->probe.nacks < s->probe.expected_nacks)
            s->probe.nacks++;
        break;
    default:
        if (s->members[0].state != RC_MEMBER_LEFT)
            on_ping_req(s, m, from_host, from_port, now, out);
        break;
    }
    return 0;
}

int rc_swim_join_seed(struct rc_swim *s, const char *host, uint16_t port, uint64_t now_ms,
                      struct rc_swim_out *out)
{
    (void)now_ms;
    if (host == NULL || !swim_host_ok(host, strlen(host)))
        return RC_EINVAL;
    send_simple(s, RC_SWIM_PING, 0, 0, host, port, 0, out);
    return 0;
}

void rc_swim_leave(struct rc_swim *s, uint64_t now, struct rc_swim_out *out)
{
    struct rc_member *me = &s->members[0];
    uint32_t k, i, to[RC_SWIM_LEAVE_FANOUT];

    if (me->state == RC_MEMBER_LEFT)
        return;
    if (s->cfg.save_incarnation != NULL)
        s->cfg.save_incarnation(s->cfg.cb_arg, me->incarnation + 1);
    me->incarnation++;
    me->state = RC_MEMBER_LEFT;
    me->state_since_ms = now;
    s->probe.phase = PROBE_IDLE;
    swim_notify(s, 0, RC_MEMBER_ALIVE, "left");
    s->leave_seq = new_seq(s);
    s->nleave = 0;
    k = pick_helpers(s, 0, RC_SWIM_LEAVE_FANOUT, to);
    for (i = 0; i < k; i++) {
        const struct rc_member *m = &s->members[to[i]];

        s->leave_pending[s->nleave++] = m->id;
        ping_member(s, s->leave_seq, m, out);
    }
    s->next_probe = now + s->cfg.probe_interval_ms;
}

uint32_t rc_swim_leave_pending(const struct rc_swim *s) { return s->nleave; }
