/*
 * swim.c - SWIM + Lifeguard membership state machine (see swim.h).
 *
 * The member table is two parallel arrays, the public records and their
 * private bookkeeping (gossip queue slot, suspicion), so the caller can be
 * handed the records as one array. Lookups are linear: the table holds at
 * most a thousand entries and a datagram at most a hundred updates.
 * Decoding walks the msgpack bytes directly with bounds checks on every
 * length and count; nothing is allocated per datagram.
 */
#include "swim.h"
#include "err.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

/* Relayed probes in flight (ping-req from others). Each is one ping to send
 * and one ack or nack to return; 16 covers every member of a 5-node
 * cluster asking at once several times over, and bounds what a burst of
 * ping-reqs can make us send. */
#define MAX_RELAYS 16
/* Dead members pinged per dead-probe round (round robin). */
#define DEAD_PROBES_PER_ROUND 4
/* Longest wait before a relay nacks; larger requests are clamped. */
#define MAX_NACK_MS 60000
/* Deepest nesting skipped in unknown trailing fields. */
#define SKIP_DEPTH 4

enum probe_phase { PROBE_IDLE, PROBE_DIRECT, PROBE_INDIRECT };

/* Private state of one member, at the same index as its rc_member. */
struct peer {
    uint64_t by;       /* who made the latest claim about it */
    uint64_t upd_seq;  /* order of that claim; larger is newer */
    uint32_t tx_left;  /* piggyback transmissions still due */
    uint32_t nsusp;    /* distinct suspectors in susp_by; [0] started it */
    uint32_t susp_n;   /* live count when the suspicion started */
    uint64_t susp_start;
    uint64_t susp_deadline;
    uint64_t susp_by[RC_SWIM_MAX_INDIRECT + 1];
};

struct probe {
    enum probe_phase phase;
    uint64_t target;
    uint32_t seq;
    uint64_t direct_deadline; /* then ping-req */
    uint64_t end;             /* then the probe has failed */
    uint32_t expected_nacks, nacks;
};

/* A ping we send on behalf of another prober. */
struct relay {
    int used;
    uint32_t seq; /* of our ping */
    uint32_t origin_seq;
    uint64_t target;
    uint64_t nack_at;
    char origin_host[RC_HOST_MAX];
    uint16_t origin_port;
    uint64_t origin_id;
    size_t cap; /* size of the ping-req: our nack may not be larger */
};

struct sort_key {
    uint64_t seq;
    uint32_t idx;
};

struct rc_swim {
    struct rc_swim_config cfg;
    struct rc_member *members; /* [0] is self */
    struct peer *peers;
    uint32_t n;
    uint64_t *order; /* probe order, member ids; a pass runs order_pos..norder */
    uint32_t norder, order_pos;
    struct sort_key *keys; /* scratch for piggyback selection */
    uint64_t rng;
    uint32_t lhm;
    uint32_t next_seq;
    uint64_t upd_counter;
    struct probe probe;
    uint64_t next_probe;
    uint64_t next_dead_probe;
    uint32_t dead_cursor;
    struct relay relays[MAX_RELAYS];
    uint32_t leave_seq;
    uint32_t nleave;
    uint64_t leave_pending[RC_SWIM_LEAVE_FANOUT];
    struct rc_swim_msg msg; /* decode scratch */
    /* While handling a received datagram: its size, the most any datagram
     * produced in answer may have (no amplification); 0 otherwise. */
    size_t reply_cap;
    /* The datagram being built answers the source of the received one
     * (an ACK to a PING): sent only if it fits reply_cap whole. Other
     * answers (relay pings, NACKs, forwarded ACKs) always go out, with
     * piggyback only within reply_cap. */
    int reply_strict;
};

const char *rc_member_state_name(enum rc_member_state st)
{
    static const char *const names[] = {"alive", "suspect", "dead", "left"};

    return (unsigned)st < 4 ? names[st] : "?";
}

void rc_swim_config_defaults(struct rc_swim_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->probe_interval_ms = RC_SWIM_PROBE_INTERVAL_MS;
    cfg->probe_timeout_ms = RC_SWIM_PROBE_TIMEOUT_MS;
    cfg->indirect_checks = RC_SWIM_INDIRECT_CHECKS;
    cfg->suspicion_mult = RC_SWIM_SUSPICION_MULT;
    cfg->suspicion_max_mult = RC_SWIM_SUSPICION_MAX_MULT;
    cfg->retransmit_mult = RC_SWIM_RETRANSMIT_MULT;
    cfg->dead_probe_interval_ms = RC_SWIM_DEAD_PROBE_INTERVAL_MS;
    cfg->tombstone_ms = RC_SWIM_TOMBSTONE_MS;
    cfg->late_threshold_ms = RC_SWIM_LATE_THRESHOLD_MS;
    cfg->max_members = RC_SWIM_MAX_MEMBERS;
}

/* ---- small helpers ---------------------------------------------------- */

/* splitmix64: tiny, and every seed (even 0) gives a good sequence. */
static uint64_t rng_next(struct rc_swim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint32_t rng_below(struct rc_swim *s, uint32_t n)
{
    return n ? (uint32_t)(rng_next(s) % n) : 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* log2(x) in 1/65536 units for x >= 1: integer part from the top bit, then
 * one fraction bit per squaring of the mantissa (kept in Q30). */
static uint64_t log2_q16(uint64_t x)
{
    uint64_t y, r = 0;
    int ip = 63 - __builtin_clzll(x), i;

    if (ip > 32)
        return (uint64_t)ip << 16; /* not reached with our inputs */
    y = (x << 30) >> ip;
    for (i = 15; i >= 0; i--) {
        y = (y * y) >> 30;
        if (y >= (1ULL << 31)) {
            y >>= 1;
            r |= 1ULL << i;
        }
    }
    return ((uint64_t)ip << 16) | r;
}

static uint32_t ceil_log2(uint32_t x)
{
    uint32_t r = 0;

    while (r < 31 && (1u << r) < x)
        r++;
    return r;
}

/* Hosts are DNS names or IP literals: anything else (spaces, control
 * bytes, brackets) would end up in logs and in getaddrinfo. */
static int host_ok(const char *h, size_t len)
{
    size_t i;

    if (len == 0 || len >= RC_HOST_MAX)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)h[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '%' || c == '_'))
            return 0;
    }
    return 1;
}

static int find(const struct rc_swim *s, uint64_t id)
{
    uint32_t i;

    for (i = 0; i < s->n; i++)
        if (s->members[i].id == id)
            return (int)i;
    return -1;
}

static int is_live(enum rc_member_state st)
{
    return st == RC_MEMBER_ALIVE || st == RC_MEMBER_SUSPECT;
}

uint32_t rc_swim_live_count(const struct rc_swim *s)
{
    uint32_t i, c = 0;

    for (i = 0; i < s->n; i++)
        c += is_live(s->members[i].state);
    return c;
}

uint32_t rc_swim_lhm(const struct rc_swim *s) { return s->lhm; }

uint64_t rc_swim_probe_timeout(const struct rc_swim *s)
{
    return (uint64_t)s->cfg.probe_timeout_ms * (s->lhm + 1);
}

uint64_t rc_swim_probe_interval(const struct rc_swim *s)
{
    return (uint64_t)s->cfg.probe_interval_ms * (s->lhm + 1);
}

static void lhm_add(struct rc_swim *s, int delta)
{
    int v = (int)s->lhm + delta;

    s->lhm = v < 0 ? 0 : v > RC_SWIM_LHM_MAX ? RC_SWIM_LHM_MAX : (uint32_t)v;
}

static uint32_t new_seq(struct rc_swim *s)
{
    if (++s->next_seq == 0)
        s->next_seq = 1; /* 0 means "not tracked" */
    return s->next_seq;
}

uint64_t rc_swim_suspicion_timeout(const struct rc_swim_config *cfg, uint32_t n, uint32_t c)
{
    uint64_t scale, lo, hi, frac;
    uint32_t k;

    /* max(1, log10(n)) in Q16: log2(n) / log2(10). */
    scale = n > 1 ? (log2_q16(n) << 16) / log2_q16(10) : 0;
    if (scale < 65536)
        scale = 65536;
    lo = (uint64_t)cfg->suspicion_mult * scale * cfg->probe_interval_ms / 65536;
    hi = lo * (cfg->suspicion_max_mult ? cfg->suspicion_max_mult : 1);
    k = n >= 2 ? n - 2 : 0;
    if (k > cfg->indirect_checks)
        k = cfg->indirect_checks;
    if (k < 1 || c >= k)
        return lo;
    frac = (log2_q16(c + 1) << 16) / log2_q16(k + 1);
    return max_u64(lo, hi - (hi - lo) * frac / 65536);
}

/* ---- encoding --------------------------------------------------------- */

/* Packer sink over a fixed buffer; overflow sticks and fails every write. */
struct fbuf {
    uint8_t *p;
    size_t cap, len;
    int err;
};

static int fbuf_write(void *data, const char *buf, size_t n)
{
    struct fbuf *f = data;

    if (f->err || n > f->cap - f->len) {
        f->err = 1;
        return -1;
    }
    memcpy(f->p + f->len, buf, n);
    f->len += n;
    return 0;
}

static void pack_rec(msgpack_packer *pk, uint64_t id, const char *host, size_t host_len,
                     uint16_t cport, uint16_t pport, uint64_t inc, unsigned state, uint64_t by)
{
    msgpack_pack_array(pk, 7);
    msgpack_pack_uint64(pk, id);
    msgpack_pack_str_with_body(pk, host, host_len);
    msgpack_pack_uint16(pk, cport);
    msgpack_pack_uint16(pk, pport);
    msgpack_pack_uint64(pk, inc);
    msgpack_pack_uint8(pk, (uint8_t)state);
    msgpack_pack_uint64(pk, by);
}

static void pack_member(msgpack_packer *pk, const struct rc_member *m, uint64_t by)
{
    pack_rec(pk, m->id, m->host, strlen(m->host), m->client_port, m->peer_port, m->incarnation,
             m->state, by);
}

static void pack_header(struct fbuf *f, enum rc_swim_type type)
{
    const uint8_t hdr[RC_SWIM_HDR] = {'R', 'G', RC_SWIM_VERSION, (uint8_t)type};

    fbuf_write(f, (const char *)hdr, sizeof(hdr));
}

int rc_swim_encode(const struct rc_swim_msg *msg, uint8_t *buf, size_t cap, size_t *len)
{
    struct fbuf f = {buf, cap, 0, 0};
    msgpack_packer pk;
    const struct rc_swim_rec *r;
    uint32_t i;

    *len = 0;
    if (msg->nupdates > RC_SWIM_MAX_UPDATES || msg->type < RC_SWIM_PING ||
        msg->type > RC_SWIM_NACK || !host_ok(msg->from.host, msg->from.host_len))
        return RC_EINVAL;
    if (msg->type == RC_SWIM_PING_REQ && !host_ok(msg->target_host, msg->target_host_len))
        return RC_EINVAL;
    msgpack_packer_init(&pk, &f, fbuf_write);
    pack_header(&f, msg->type);
    msgpack_pack_array(&pk, msg->type == RC_SWIM_PING_REQ ? 7 : 4);
    msgpack_pack_uint32(&pk, msg->seq);
    r = &msg->from;
    pack_rec(&pk, r->id, r->host, r->host_len, r->client_port, r->peer_port, r->incarnation,
             r->state, r->by);
    msgpack_pack_uint64(&pk, msg->target_id);
    msgpack_pack_array(&pk, msg->nupdates);
    for (i = 0; i < msg->nupdates; i++) {
        r = &msg->updates[i];
        if (!host_ok(r->host, r->host_len))
            return RC_EINVAL;
        pack_rec(&pk, r->id, r->host, r->host_len, r->client_port, r->peer_port,
                 r->incarnation, r->state, r->by);
    }
    if (msg->type == RC_SWIM_PING_REQ) {
        msgpack_pack_str_with_body(&pk, msg->target_host, msg->target_host_len);
        msgpack_pack_uint16(&pk, msg->target_port);
        msgpack_pack_uint32(&pk, msg->nack_ms);
    }
    if (f.err)
        return RC_EBUFFER_FULL;
    *len = f.len;
    return 0;
}

/* ---- decoding: a bounded msgpack reader -------------------------------- */

struct rd {
    const uint8_t *p;
    size_t len, pos;
};

static size_t rd_left(const struct rd *r) { return r->len - r->pos; }

static int rd_be(struct rd *r, unsigned size, uint64_t *v)
{
    unsigned i;

    if (size > rd_left(r))
        return RC_EPROTO;
    *v = 0;
    for (i = 0; i < size; i++)
        *v = *v << 8 | r->p[r->pos++];
    return 0;
}

static int rd_uint(struct rd *r, uint64_t max, uint64_t *v)
{
    uint8_t b;

    if (rd_left(r) < 1)
        return RC_EPROTO;
    b = r->p[r->pos++];
    if (b <= 0x7f)
        *v = b;
    else if (b >= 0xcc && b <= 0xcf) {
        if (rd_be(r, 1u << (b - 0xcc), v) < 0)
            return RC_EPROTO;
    } else {
        return RC_EPROTO;
    }
    return *v <= max ? 0 : RC_EPROTO;
}

static int rd_str(struct rd *r, uint32_t max, const char **s, uint32_t *n)
{
    uint64_t len;
    uint8_t b;

    if (rd_left(r) < 1)
        return RC_EPROTO;
    b = r->p[r->pos++];
    if (b >= 0xa0 && b <= 0xbf)
        len = b & 0x1f;
    else if (b >= 0xd9 && b <= 0xdb) {
        if (rd_be(r, 1u << (b - 0xd9), &len) < 0)
            return RC_EPROTO;
    } else {
        return RC_EPROTO;
    }
    if (len > max || len > rd_left(r))
        return RC_EPROTO;
    *s = (const char *)r->p + r->pos;
    *n = (uint32_t)len;
    r->pos += len;
    return 0;
}

/* An array header; the count must fit in the bytes left (an element is at
 * least one byte), so a lying count is caught before any use. */
static int rd_array(struct rd *r, uint32_t *n)
{
    uint64_t v;
    uint8_t b;

    if (rd_left(r) < 1)
        return RC_EPROTO;
    b = r->p[r->pos++];
    if ((b & 0xf0) == 0x90)
        v = b & 0x0f;
    else if (b == 0xdc || b == 0xdd) {
        if (rd_be(r, b == 0xdc ? 2 : 4, &v) < 0)
            return RC_EPROTO;
    } else {
        return RC_EPROTO;
    }
    if (v > rd_left(r))
        return RC_EPROTO;
    *n = (uint32_t)v;
    return 0;
}

/* Payload sizes of the fixed-size formats 0xc0..0xdf; 0xff = not fixed. */
static const uint8_t fixed_size[32] = {
    0,    0xff, 0,    0,    0xff, 0xff, 0xff, 0xff, /* nil, -, false, true, bin, ext */
    0xff, 0xff, 4,    8,    1,    2,    4,    8,    /* ext, float, uint */
    1,    2,    4,    8,    2,    3,    5,    9,    /* int, fixext (type + data) */
    17,   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* fixext 16, str, array, map */
};

/* Skips one object of any type, nesting at most SKIP_DEPTH deep. Work is
 * bounded by the bytes present: every element consumes at least one. */
static int rd_skip(struct rd *r, unsigned depth)
{
    uint64_t n = 0, elems = 0;
    uint8_t b;

    if (depth > SKIP_DEPTH || rd_left(r) < 1)
        return RC_EPROTO;
    b = r->p[r->pos++];
    if (b <= 0x7f || b >= 0xe0)
        return 0;
    if (b <= 0x8f)
        elems = (uint64_t)(b & 0x0f) * 2;
    else if (b <= 0x9f)
        elems = b & 0x0f;
    else if (b <= 0xbf)
        n = b & 0x1f;
    else if (fixed_size[b - 0xc0] != 0xff)
        n = fixed_size[b - 0xc0];
    else if (b == 0xc1)
        return RC_EPROTO;
    else if (b <= 0xc6 || (b >= 0xd9 && b <= 0xdb)) { /* bin, str */
        if (rd_be(r, 1u << ((b <= 0xc6 ? b - 0xc4 : b - 0xd9)), &n) < 0)
            return RC_EPROTO;
    } else if (b <= 0xc9) { /* ext: length, then a type byte */
        if (rd_be(r, 1u << (b - 0xc7), &n) < 0)
            return RC_EPROTO;
        n += 1;
    } else { /* dc dd arrays, de df maps */
        if (rd_be(r, (b & 1) ? 4 : 2, &elems) < 0)
            return RC_EPROTO;
        if (b >= 0xde)
            elems *= 2;
    }
    if (n > rd_left(r) || elems > rd_left(r))
        return RC_EPROTO;
    r->pos += n;
    while (elems-- > 0)
        if (rd_skip(r, depth + 1) < 0)
            return RC_EPROTO;
    return 0;
}

/* Skips the elements of an array beyond the `known` ones. */
static int rd_skip_extra(struct rd *r, uint32_t count, uint32_t known)
{
    while (count-- > known)
        if (rd_skip(r, 1) < 0)
            return RC_EPROTO;
    return 0;
}

static int rd_rec(struct rd *r, struct rc_swim_rec *rec)
{
    uint64_t v[6];
    uint32_t count;

    if (rd_array(r, &count) < 0 || count < 7)
        return RC_EPROTO;
    if (rd_uint(r, UINT64_MAX, &v[0]) < 0 || v[0] == 0 ||
        rd_str(r, RC_HOST_MAX - 1, &rec->host, &rec->host_len) < 0 ||
        !host_ok(rec->host, rec->host_len) || rd_uint(r, UINT16_MAX, &v[1]) < 0 ||
        rd_uint(r, UINT16_MAX, &v[2]) < 0 || rd_uint(r, UINT64_MAX, &v[3]) < 0 ||
        rd_uint(r, RC_MEMBER_LEFT, &v[4]) < 0 || rd_uint(r, UINT64_MAX, &v[5]) < 0)
        return RC_EPROTO;
    rec->id = v[0];
    rec->client_port = (uint16_t)v[1];
    rec->peer_port = (uint16_t)v[2];
    rec->incarnation = v[3];
    rec->state = (enum rc_member_state)v[4];
    rec->by = v[5];
    return rd_skip_extra(r, count, 7);
}

static int rd_header(struct rd *r, const uint8_t *buf, size_t len, unsigned *type)
{
    r->p = buf;
    r->len = len;
    r->pos = RC_SWIM_HDR;
    if (len < RC_SWIM_HDR || buf[0] != 'R' || buf[1] != 'G')
        return RC_EPROTO;
    if (buf[2] != RC_SWIM_VERSION)
        return RC_EVERSION;
    *type = buf[3];
    return 0;
}

static int decode_ping_req(struct rd *r, struct rc_swim_msg *msg)
{
    uint64_t port, nack;

    if (rd_str(r, RC_HOST_MAX - 1, &msg->target_host, &msg->target_host_len) < 0 ||
        !host_ok(msg->target_host, msg->target_host_len) || rd_uint(r, UINT16_MAX, &port) < 0 ||
        rd_uint(r, UINT32_MAX, &nack) < 0)
        return RC_EPROTO;
    msg->target_port = (uint16_t)port;
    msg->nack_ms = (uint32_t)min_u64(nack, MAX_NACK_MS);
    return 0;
}

int rc_swim_decode(const uint8_t *buf, size_t len, struct rc_swim_msg *msg)
{
    struct rd r;
    uint64_t v;
    uint32_t count, nup, i, known;
    unsigned type;
    int rv;

    msg->nupdates = 0;
    rv = rd_header(&r, buf, len, &type);
    if (rv < 0)
        return rv;
    if (type < RC_SWIM_PING || type > RC_SWIM_NACK || len > RC_SWIM_MAX_DGRAM)
        return RC_EPROTO;
    msg->type = (enum rc_swim_type)type;
    known = type == RC_SWIM_PING_REQ ? 7 : 4;
    if (rd_array(&r, &count) < 0 || count < known || rd_uint(&r, UINT32_MAX, &v) < 0)
        return RC_EPROTO;
    msg->seq = (uint32_t)v;
    if (rd_rec(&r, &msg->from) < 0 || rd_uint(&r, UINT64_MAX, &msg->target_id) < 0 ||
        rd_array(&r, &nup) < 0 || nup > RC_SWIM_MAX_UPDATES)
        return RC_EPROTO;
    for (i = 0; i < nup; i++)
        if (rd_rec(&r, &msg->updates[i]) < 0)
            return RC_EPROTO;
    msg->nupdates = nup;
    msg->target_host = NULL;
    msg->target_host_len = 0;
    msg->target_port = 0;
    msg->nack_ms = 0;
    if (type == RC_SWIM_PING_REQ && decode_ping_req(&r, msg) < 0)
        return RC_EPROTO;
    if (rd_skip_extra(&r, count, known) < 0 || r.pos != len)
        return RC_EPROTO;
    return 0;
}

/* ---- the table ---------------------------------------------------------- */

static void notify(struct rc_swim *s, uint32_t i, enum rc_member_state old, const char *why)
{
    if (s->cfg.changed != NULL)
        s->cfg.changed(s->cfg.cb_arg, &s->members[i], old, why);
}

static uint32_t retransmit_limit(const struct rc_swim *s)
{
    return s->cfg.retransmit_mult * ceil_log2(rc_swim_live_count(s) + 1);
}

/* Queues member i's current record for piggybacking, newest first. */
static void gossip(struct rc_swim *s, uint32_t i, uint64_t by)
{
    s->peers[i].by = by;
    s->peers[i].upd_seq = ++s->upd_counter;
    s->peers[i].tx_left = retransmit_limit(s);
}

/* Inserts id at a random place in the rest of the current pass (SWIM: a
 * new member is probed within one pass, not after the next reshuffle). */
static void order_insert(struct rc_swim *s, uint64_t id)
{
    uint32_t i, at;

    for (i = s->order_pos; i < s->norder; i++)
        if (s->order[i] == id)
            return;
    if (s->norder == s->cfg.max_members && s->order_pos > 0) {
        memmove(s->order, s->order + s->order_pos, (s->norder - s->order_pos) * sizeof(uint64_t));
        s->norder -= s->order_pos;
        s->order_pos = 0;
    }
    if (s->norder == s->cfg.max_members)
        return; /* taken up at the next reshuffle */
    at = s->order_pos + rng_below(s, s->norder - s->order_pos + 1);
    memmove(s->order + at + 1, s->order + at, (s->norder - at) * sizeof(uint64_t));
    s->order[at] = id;
    s->norder++;
}

/* Forgets member i (swap with the last). */
static void remove_at(struct rc_swim *s, uint32_t i)
{
    assert(i > 0 && i < s->n);
    s->n--;
    if (i != s->n) {
        s->members[i] = s->members[s->n];
        s->peers[i] = s->peers[s->n];
    }
    if (s->dead_cursor >= s->n)
        s->dead_cursor = 0;
}

/* A free slot, evicting the oldest tombstone when the table is full.
 * -1 when every slot holds a live member. */
static int alloc_slot(struct rc_swim *s)
{
    uint32_t i;
    int victim = -1;

    if (s->n < s->cfg.max_members)
        return (int)s->n++;
    for (i = 1; i < s->n; i++)
        if (!is_live(s->members[i].state) &&
            (victim < 0 || s->members[i].state_since_ms < s->members[victim].state_since_ms))
            victim = (int)i;
    if (victim < 0)
        return -1;
    remove_at(s, (uint32_t)victim);
    return (int)s->n++;
}

static void clear_suspicion(struct peer *p)
{
    p->nsusp = 0;
    p->susp_deadline = 0;
}

static void start_suspicion(struct rc_swim *s, uint32_t i, uint64_t by, uint64_t now)
{
    struct peer *p = &s->peers[i];

    p->nsusp = 1;
    p->susp_by[0] = by;
    p->susp_n = rc_swim_live_count(s);
    p->susp_start = now;
    p->susp_deadline = now + rc_swim_suspicion_timeout(&s->cfg, p->susp_n, 0);
}

/* Lifeguard: an independent suspicion of an already suspected member
 * shortens the timeout. Returns 1 when by was new. */
static int confirm(struct rc_swim *s, uint32_t i, uint64_t by)
{
    struct peer *p = &s->peers[i];
    uint32_t j;

    for (j = 0; j < p->nsusp; j++)
        if (p->susp_by[j] == by)
            return 0;
    if (p->nsusp == RC_SWIM_MAX_INDIRECT + 1)
        return 0;
    p->susp_by[p->nsusp++] = by;
    p->susp_deadline =
        p->susp_start + rc_swim_suspicion_timeout(&s->cfg, p->susp_n, p->nsusp - 1);
    return 1;
}

static void set_state(struct rc_swim *s, uint32_t i, enum rc_member_state st, uint64_t inc,
                      uint64_t by, const char *why, uint64_t now);

static int same_addr(const struct rc_member *a, const struct rc_member *b)
{
    return a->peer_port == b->peer_port && strcmp(a->host, b->host) == 0;
}

/* Another member is alive at the address (host and peer port) of member j,
 * which is dead or suspect: two nodes cannot listen there at once, so j was
 * restarted with a new id (an in-memory node, a wiped data directory) and
 * is gone for good. It is retired as "left", so it stops counting towards
 * quorums without waiting for an operator's forget. Whichever comes first
 * (the new id alive, the old one suspected or declared dead) triggers it. */
static void retire_if_replaced(struct rc_swim *s, uint32_t j, uint64_t now)
{
    const struct rc_member *o = &s->members[j];
    uint32_t i;

    if (j == 0 || (o->state != RC_MEMBER_DEAD && o->state != RC_MEMBER_SUSPECT))
        return;
    for (i = 0; i < s->n; i++) {
        if (i != j && s->members[i].state == RC_MEMBER_ALIVE && same_addr(&s->members[i], o)) {
            set_state(s, j, RC_MEMBER_LEFT, o->incarnation, s->members[0].id, "replaced", now);
            return;
        }
    }
}

/* Member i came alive: retire what it replaced at its address. */
static void retire_replaced(struct rc_swim *s, uint32_t i, uint64_t now)
{
    uint32_t j;

    for (j = 1; j < s->n; j++)
        if (j != i && same_addr(&s->members[j], &s->members[i]))
            retire_if_replaced(s, j, now);
}

/*
 * The one place a member's state changes. Side effects: gossip the new
 * record, start or clear its suspicion, put it back in the probe order
 * when it comes back, stop probing it when it goes, tell the caller.
 */
static void set_state(struct rc_swim *s, uint32_t i, enum rc_member_state st, uint64_t inc,
                      uint64_t by, const char *why, uint64_t now)
{
    struct rc_member *m = &s->members[i];
    enum rc_member_state old = m->state;
    uint64_t old_inc = m->incarnation;

    m->incarnation = inc;
    if (old != st) {
        m->state = st;
        m->state_since_ms = now;
    }
    gossip(s, i, by);
    if (st == RC_MEMBER_SUSPECT && (old != RC_MEMBER_SUSPECT || inc != old_inc))
        start_suspicion(s, i, by, now); /* a new suspicion, not a confirmation */
    else if (st != RC_MEMBER_SUSPECT)
        clear_suspicion(&s->peers[i]);
    if (is_live(st) && !is_live(old)) {
        order_insert(s, m->id);
        retire_replaced(s, i, now);
    }
    if (!is_live(st) && s->probe.phase != PROBE_IDLE && s->probe.target == m->id)
        s->probe.phase = PROBE_IDLE; /* nothing to learn from it any more */
    if (old != st && why != NULL)
        notify(s, i, old, why);
    if (old != st)
        retire_if_replaced(s, i, now);
}

static const char *reason_for(enum rc_member_state old, enum rc_member_state st)
{
    switch (st) {
    case RC_MEMBER_ALIVE:
        return old == RC_MEMBER_SUSPECT ? "refuted" : old == RC_MEMBER_DEAD ? "alive again"
                                                                            : "joined";
    case RC_MEMBER_SUSPECT:
        return "suspected";
    case RC_MEMBER_DEAD:
        return "declared dead";
    default:
        return "left";
    }
}

/* A claim at >= our incarnation that we are not alive (or a record from a
 * previous life of ours): announce ourselves alive with a higher number. */
static void self_claim(struct rc_swim *s, const struct rc_swim_rec *rec)
{
    struct rc_member *me = &s->members[0];

    if (rec->incarnation < me->incarnation || me->state == RC_MEMBER_LEFT)
        return;
    if (rec->incarnation == me->incarnation && rec->state == RC_MEMBER_ALIVE)
        return;
    if (rec->state == RC_MEMBER_SUSPECT || rec->state == RC_MEMBER_DEAD)
        lhm_add(s, 1); /* Lifeguard: needing to refute hints we are the slow one */
    if (s->cfg.save_incarnation != NULL)
        s->cfg.save_incarnation(s->cfg.cb_arg, rec->incarnation + 1);
    me->incarnation = rec->incarnation + 1;
    /* Our from-record carries it; the peers that take it gossip it on. */
}

static void copy_addr(struct rc_member *m, const struct rc_swim_rec *rec)
{
    memcpy(m->host, rec->host, rec->host_len);
    m->host[rec->host_len] = '\0';
    m->client_port = rec->client_port;
    m->peer_port = rec->peer_port;
}

static void add_member(struct rc_swim *s, const struct rc_swim_rec *rec, uint64_t now)
{
    struct rc_member *m;
    int i = alloc_slot(s);

    if (i < 0)
        return; /* full of live members: max_members is the cap */
    m = &s->members[i];
    memset(m, 0, sizeof(*m));
    memset(&s->peers[i], 0, sizeof(s->peers[i]));
    m->id = rec->id;
    copy_addr(m, rec);
    m->state = RC_MEMBER_LEFT; /* "not a member" until set_state */
    m->incarnation = rec->incarnation;
    m->state_since_ms = now;
    if (is_live(rec->state))
        set_state(s, (uint32_t)i, rec->state, rec->incarnation, rec->by, "joined", now);
    else /* a tombstone: stops stale gossip; a dead one is probed */
        set_state(s, (uint32_t)i, rec->state, rec->incarnation, rec->by, NULL, now);
}

/*
 * Applies one claim about a member: a newer incarnation always wins; at
 * equal incarnation alive < suspect < dead < left. A repeated suspicion
 * from someone new is a Lifeguard confirmation.
 */
static void apply(struct rc_swim *s, const struct rc_swim_rec *rec, uint64_t now)
{
    struct rc_member *m;
    int i, moved;

    if (rec->id == s->members[0].id) {
        self_claim(s, rec);
        return;
    }
    i = find(s, rec->id);
    if (i < 0) {
        add_member(s, rec, now);
        return;
    }
    m = &s->members[i];
    if (rec->incarnation == m->incarnation && rec->state == m->state) {
        if (rec->state == RC_MEMBER_SUSPECT && confirm(s, (uint32_t)i, rec->by))
            gossip(s, (uint32_t)i, rec->by); /* pass the confirmation on */
        return;
    }
    if (rec->incarnation < m->incarnation ||
        (rec->incarnation == m->incarnation && rec->state < m->state))
        return;
    moved = rec->incarnation > m->incarnation &&
            (rec->host_len != strlen(m->host) || memcmp(rec->host, m->host, rec->host_len) != 0 ||
             rec->peer_port != m->peer_port || rec->client_port != m->client_port);
    if (rec->incarnation > m->incarnation)
        copy_addr(m, rec);
    if (rec->state == m->state) {
        set_state(s, (uint32_t)i, rec->state, rec->incarnation, rec->by, NULL, now);
        if (moved)
            notify(s, (uint32_t)i, m->state, "address changed");
        return;
    }
    set_state(s, (uint32_t)i, rec->state, rec->incarnation, rec->by,
              reason_for(m->state, rec->state), now);
}

/* ---- sending ------------------------------------------------------------ */

static int key_cmp(const void *a, const void *b)
{
    const struct sort_key *x = a, *y = b;

    return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

/* Packs member i's record into f if it fits. 1 if packed. */
static int pack_if_fits(struct rc_swim *s, struct fbuf *f, uint32_t i)
{
    msgpack_packer pk;
    size_t mark = f->len;

    msgpack_packer_init(&pk, f, fbuf_write);
    pack_member(&pk, &s->members[i], s->peers[i].by);
    if (f->err) {
        f->err = 0;
        f->len = mark;
        return 0;
    }
    if (s->peers[i].tx_left > 0)
        s->peers[i].tx_left--;
    return 1;
}

/*
 * Chooses the piggybacked updates for a datagram to to_id and packs them
 * into f (budget = f->cap). The recipient's own record goes first when we
 * think it suspect or dead, so it can refute at once (Lifeguard's buddy
 * system); then queued updates, newest first, while they fit.
 */
static uint32_t pack_updates(struct rc_swim *s, uint64_t to_id, struct fbuf *f)
{
    uint32_t i, nkeys = 0, count = 0;
    int buddy = to_id ? find(s, to_id) : -1;

    if (buddy > 0 && (s->members[buddy].state == RC_MEMBER_SUSPECT ||
                      s->members[buddy].state == RC_MEMBER_DEAD))
        count += pack_if_fits(s, f, (uint32_t)buddy);
    else
        buddy = -1;
    for (i = 1; i < s->n; i++)
        if (s->peers[i].tx_left > 0 && (int)i != buddy && s->members[i].id != to_id)
            s->keys[nkeys++] = (struct sort_key){s->peers[i].upd_seq, i};
    qsort(s->keys, nkeys, sizeof(s->keys[0]), key_cmp);
    for (i = 0; i < nkeys && count < RC_SWIM_MAX_UPDATES && f->cap - f->len >= 8; i++)
        count += pack_if_fits(s, f, s->keys[i].idx);
    return count;
}

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
    struct fbuf r = {scratch, sizeof(scratch), 0, 0};
    msgpack_packer pk;
    int i = ds->to_id ? find(s, ds->to_id) : -1;

    if (ds->type != RC_SWIM_PING && ds->type != RC_SWIM_PING_REQ)
        return 0;
    if (i > 0) {
        msgpack_packer_init(&pk, &r, fbuf_write);
        pack_member(&pk, &s->members[i], s->members[i].id);
    }
    return RC_SWIM_HDR + 1 + uint_len(ds->seq) + (i > 0 && !r.err ? r.len : WORST_REC_LEN) + 9 +
           1;
}

/* Appends a trailing bin element (ignored by receivers) so that the
 * datagram reaches floor bytes; bumps the body's fixarray count. */
static void pad_to(struct fbuf *f, size_t floor)
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
    fbuf_write(f, "\xc5", 1);
    fbuf_write(f, (const char[]){(char)(n >> 8), (char)n}, 2);
    fbuf_write(f, (const char *)zeros, n);
}

static void send_dgram(struct rc_swim *s, const struct dgram_spec *ds, struct rc_swim_out *out)
{
    uint8_t tail[RC_HOST_MAX + 16], pig[RC_SWIM_MAX_DGRAM];
    struct fbuf t = {tail, sizeof(tail), 0, 0}, p = {pig, 0, 0, 0}, f;
    struct rc_swim_dgram *d;
    msgpack_packer pk;
    uint32_t nup;
    size_t max = s->reply_cap != 0 && s->reply_cap < RC_SWIM_MAX_DGRAM ? s->reply_cap
                                                                        : RC_SWIM_MAX_DGRAM;
    size_t floor = reply_floor(s, ds), fixed;

    if (out->n == RC_SWIM_MAX_OUT || strlen(ds->to_host) >= RC_HOST_MAX) {
        out->dropped++;
        return;
    }
    d = &out->d[out->n];
    f = (struct fbuf){d->data, RC_SWIM_MAX_DGRAM, 0, 0};
    msgpack_packer_init(&pk, &t, fbuf_write);
    if (ds->type == RC_SWIM_PING_REQ) {
        msgpack_pack_str_with_body(&pk, ds->ping_target->host, strlen(ds->ping_target->host));
        msgpack_pack_uint16(&pk, ds->ping_target->peer_port);
        msgpack_pack_uint32(&pk, ds->nack_ms);
    }
    msgpack_packer_init(&pk, &f, fbuf_write);
    pack_header(&f, ds->type);
    msgpack_pack_array(&pk, ds->type == RC_SWIM_PING_REQ ? 7 : 4);
    msgpack_pack_uint32(&pk, ds->seq);
    pack_member(&pk, &s->members[0], s->members[0].id);
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
    nup = pack_updates(s, ds->to_id, &p);
    msgpack_pack_array(&pk, nup);
    fbuf_write(&f, (const char *)pig, p.len);
    fbuf_write(&f, (const char *)tail, t.len);
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

                j = rng_below(s, i);
                t = s->order[i - 1];
                s->order[i - 1] = s->order[j];
                s->order[j] = t;
            }
            if (s->norder == 0)
                return -1;
        }
        k = find(s, s->order[s->order_pos++]);
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

        j = i + rng_below(s, c - i);
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
    int t = find(s, s->probe.target);

    if (t < 0) {
        s->probe.phase = PROBE_IDLE;
        return;
    }
    s->probe.phase = PROBE_INDIRECT;
    s->probe.end = max_u64(s->probe.end, now + window);
    s->next_probe = max_u64(s->next_probe, s->probe.end);
    /* Relays must nack before we give up; leave a third for the way back. */
    ds.nack_ms = (uint32_t)min_u64((s->probe.end - now) * 2 / 3, MAX_NACK_MS);
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
    int i = find(s, p->target);

    /* Lifeguard: nacks that did not come back mean we cannot hear others
     * well, so the fault is likely ours; with no helpers count one. */
    lhm_add(s, p->expected_nacks ? (int)(p->expected_nacks - p->nacks) : 1);
    p->phase = PROBE_IDLE;
    if (i <= 0)
        return;
    if (s->members[i].state == RC_MEMBER_ALIVE)
        set_state(s, (uint32_t)i, RC_MEMBER_SUSPECT, s->members[i].incarnation,
                  s->members[0].id, "probe timeout", now);
    else if (s->members[i].state == RC_MEMBER_SUSPECT && confirm(s, (uint32_t)i, s->members[0].id))
        gossip(s, (uint32_t)i, s->members[0].id);
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
            set_state(s, i, RC_MEMBER_DEAD, s->members[i].incarnation, s->members[0].id,
                      "suspicion timeout", now);
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
            remove_at(s, i);
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
        int i = find(s, s->leave_pending[j]);

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
    lhm_add(s, 1);
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

static void on_ack(struct rc_swim *s, const struct rc_swim_msg *m, struct rc_swim_out *out)
{
    struct probe *p = &s->probe;
    uint32_t i;

    if (p->phase != PROBE_IDLE && m->seq == p->seq && m->target_id == p->target) {
        p->phase = PROBE_IDLE;
        lhm_add(s, -1);
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
    rv = recv_msg(s, from_host, from_port, m, now, out);
    s->reply_cap = 0;
    return rv;
}

/* rc_swim_recv for a decoded message; replies are capped by reply_cap. */
static int recv_msg(struct rc_swim *s, const char *from_host, uint16_t from_port,
                    const struct rc_swim_msg *m, uint64_t now, struct rc_swim_out *out)
{
    uint32_t i;

    apply(s, &m->from, now);
    for (i = 0; i < m->nupdates; i++)
        apply(s, &m->updates[i], now);
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
        on_ack(s, m, out);
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
    if (host == NULL || !host_ok(host, strlen(host)))
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
    notify(s, 0, RC_MEMBER_ALIVE, "left");
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

int rc_swim_forget(struct rc_swim *s, uint64_t id, uint64_t now_ms)
{
    int i = find(s, id);

    if (i < 0 || s->members[i].state == RC_MEMBER_LEFT)
        return RC_ENOTFOUND;
    if (i == 0 || s->members[i].state != RC_MEMBER_DEAD)
        return RC_EINVAL;
    set_state(s, (uint32_t)i, RC_MEMBER_LEFT, s->members[i].incarnation, s->members[0].id,
              "forgotten", now_ms);
    return 0;
}

uint32_t rc_swim_members(const struct rc_swim *s, const struct rc_member **out)
{
    *out = s->members;
    return s->n;
}

/* ---- push-pull ---------------------------------------------------------- */

struct bsink {
    struct rc_buf *b;
    int err;
};

static int bsink_write(void *data, const char *p, size_t n)
{
    struct bsink *k = data;
    int rv;

    if (k->err < 0)
        return -1;
    rv = rc_buf_append(k->b, p, n);
    if (rv < 0) {
        k->err = rv;
        return -1;
    }
    return 0;
}

int rc_swim_encode_state(const struct rc_swim *s, struct rc_buf *out)
{
    const uint8_t hdr[RC_SWIM_HDR] = {'R', 'G', RC_SWIM_VERSION, RC_SWIM_STATE};
    struct bsink k = {out, 0};
    size_t mark = rc_buf_used(out);
    msgpack_packer pk;
    uint32_t i;

    msgpack_packer_init(&pk, &k, bsink_write);
    bsink_write(&k, (const char *)hdr, sizeof(hdr));
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint64(&pk, s->members[0].id);
    msgpack_pack_array(&pk, s->n);
    for (i = 0; i < s->n; i++)
        pack_member(&pk, &s->members[i], i == 0 ? s->members[0].id : s->peers[i].by);
    if (k.err < 0) {
        out->len = out->start + mark;
        return k.err;
    }
    return 0;
}

/* Walks a STATE payload; with s != NULL applies each record. */
static int walk_state(struct rc_swim *s, const uint8_t *buf, size_t len, uint64_t now)
{
    struct rc_swim_rec rec;
    struct rd r;
    uint64_t from;
    uint32_t count, nrec, i;
    unsigned type;
    int rv;

    rv = rd_header(&r, buf, len, &type);
    if (rv < 0)
        return rv;
    if (type != RC_SWIM_STATE || rd_array(&r, &count) < 0 || count < 2 ||
        rd_uint(&r, UINT64_MAX, &from) < 0 || rd_array(&r, &nrec) < 0 ||
        nrec > RC_SWIM_MAX_MEMBERS)
        return RC_EPROTO;
    for (i = 0; i < nrec; i++) {
        if (rd_rec(&r, &rec) < 0)
            return RC_EPROTO;
        if (s == NULL)
            continue;
        if (rec.state == RC_MEMBER_DEAD && rec.id != s->members[0].id && find(s, rec.id) >= 0)
            rec.state = RC_MEMBER_SUSPECT; /* stale views must not kill: let it refute */
        apply(s, &rec, now);
    }
    if (rd_skip_extra(&r, count, 2) < 0 || r.pos != len)
        return RC_EPROTO;
    return 0;
}

int rc_swim_merge_state(struct rc_swim *s, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    int rv = walk_state(NULL, buf, len, now_ms);

    return rv < 0 ? rv : walk_state(s, buf, len, now_ms);
}

/* ---- life cycle --------------------------------------------------------- */

static int config_ok(const struct rc_swim_config *c)
{
    return c->probe_interval_ms > 0 && c->probe_timeout_ms > 0 &&
           c->probe_timeout_ms < c->probe_interval_ms &&
           c->indirect_checks <= RC_SWIM_MAX_INDIRECT && c->suspicion_mult > 0 &&
           c->suspicion_max_mult > 0 && c->retransmit_mult > 0 &&
           c->dead_probe_interval_ms > 0 && c->max_members >= 2 &&
           c->max_members <= RC_SWIM_MAX_MEMBERS;
}

int rc_swim_new(const struct rc_swim_config *cfg, const struct rc_member *self, uint64_t seed,
                uint64_t now_ms, struct rc_swim **out)
{
    struct rc_swim *s;
    size_t n;

    *out = NULL;
    if (!config_ok(cfg) || self->id == 0 || !host_ok(self->host, strnlen(self->host, RC_HOST_MAX)))
        return RC_EINVAL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return RC_ENOMEM;
    n = cfg->max_members;
    s->members = calloc(n, sizeof(*s->members));
    s->peers = calloc(n, sizeof(*s->peers));
    s->order = calloc(n, sizeof(*s->order));
    s->keys = calloc(n, sizeof(*s->keys));
    if (s->members == NULL || s->peers == NULL || s->order == NULL || s->keys == NULL) {
        rc_swim_free(s);
        return RC_ENOMEM;
    }
    s->cfg = *cfg;
    s->rng = seed;
    s->members[0] = *self;
    s->members[0].state = RC_MEMBER_ALIVE;
    s->members[0].state_since_ms = now_ms;
    s->n = 1;
    /* Spread the first probes of nodes started together over a period. */
    s->next_probe = now_ms + rng_below(s, cfg->probe_interval_ms);
    s->next_dead_probe = now_ms + cfg->dead_probe_interval_ms;
    *out = s;
    return 0;
}

void rc_swim_free(struct rc_swim *s)
{
    if (s == NULL)
        return;
    free(s->members);
    free(s->peers);
    free(s->order);
    free(s->keys);
    free(s);
}
