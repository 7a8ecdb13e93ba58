/*
 * swim.c - SWIM + Lifeguard membership state machine (see swim.h): the
 * member table, the claims that change it, update dissemination, push-pull
 * and the life cycle. The protocol rounds that drive it (probes, relays,
 * received datagrams, leave) are in swim_probe.c, the wire codec in
 * swim_codec.c.
 *
 * The member table is two parallel arrays, the public records and their
 * private bookkeeping (gossip queue slot, suspicion), so the caller can be
 * handed the records as one array. Lookups are linear: the table holds at
 * most a thousand entries and a datagram at most a hundred updates.
 */
#include "swim_int.h"
#include "err.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

/* After a member comes back from dead, the "dead" claims it made while
 * cut off are still being piggybacked for a few seconds (each is sent
 * retransmit_mult * log2(n) times, about one per probe period); for this
 * many periods its dead claims only make suspects. */
#define RETURN_GRACE_PERIODS 32

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

uint32_t swim_rng_below(struct rc_swim *s, uint32_t n)
{
    return n ? (uint32_t)(rng_next(s) % n) : 0;
}

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

int swim_find(const struct rc_swim *s, uint64_t id)
{
    uint32_t i;

    for (i = 0; i < s->n; i++)
        if (s->members[i].id == id)
            return (int)i;
    return -1;
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

void swim_lhm_add(struct rc_swim *s, int delta)
{
    int v = (int)s->lhm + delta;

    s->lhm = v < 0 ? 0 : v > RC_SWIM_LHM_MAX ? RC_SWIM_LHM_MAX : (uint32_t)v;
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

/* ---- the table ---------------------------------------------------------- */

void swim_notify(struct rc_swim *s, uint32_t i, enum rc_member_state old, const char *why)
{
    if (s->cfg.changed != NULL)
        s->cfg.changed(s->cfg.cb_arg, &s->members[i], old, why);
}

static uint32_t retransmit_limit(const struct rc_swim *s)
{
    return s->cfg.retransmit_mult * ceil_log2(rc_swim_live_count(s) + 1);
}

/* Queues member i's current record for piggybacking, newest first. */
void swim_gossip(struct rc_swim *s, uint32_t i, uint64_t by)
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
    at = s->order_pos + swim_rng_below(s, s->norder - s->order_pos + 1);
    memmove(s->order + at + 1, s->order + at, (s->norder - at) * sizeof(uint64_t));
    s->order[at] = id;
    s->norder++;
}

/* Forgets member i (swap with the last). */
void swim_remove_at(struct rc_swim *s, uint32_t i)
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
    swim_remove_at(s, (uint32_t)victim);
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
int swim_confirm(struct rc_swim *s, uint32_t i, uint64_t by)
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
            swim_set_state(s, j, RC_MEMBER_LEFT, o->incarnation, s->members[0].id, "replaced", now);
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
void swim_set_state(struct rc_swim *s, uint32_t i, enum rc_member_state st, uint64_t inc,
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
    swim_gossip(s, i, by);
    if (st == RC_MEMBER_SUSPECT && (old != RC_MEMBER_SUSPECT || inc != old_inc))
        start_suspicion(s, i, by, now); /* a new suspicion, not a confirmation */
    else if (st != RC_MEMBER_SUSPECT)
        clear_suspicion(&s->peers[i]);
    if (is_live(st) && !is_live(old)) {
        order_insert(s, m->id);
        retire_replaced(s, i, now);
    }
    if (is_live(st) && old == RC_MEMBER_DEAD)
        s->peers[i].back = now;
    if (!is_live(st) && s->probe.phase != PROBE_IDLE && s->probe.target == m->id)
        s->probe.phase = PROBE_IDLE; /* nothing to learn from it any more */
    if (old != st && why != NULL)
        swim_notify(s, i, old, why);
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
        swim_lhm_add(s, 1); /* Lifeguard: needing to refute hints we are the slow one */
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
        swim_set_state(s, (uint32_t)i, rec->state, rec->incarnation, rec->by, "joined", now);
    else /* a tombstone: stops stale gossip; a dead one is probed */
        swim_set_state(s, (uint32_t)i, rec->state, rec->incarnation, rec->by, NULL, now);
}

/*
 * A "dead" claim about a member we heard from ourselves this recently is
 * stale: its author was cut off from it (a partition, or a clock the
 * cluster key refused), and tells it on once heard again (issue 12: a
 * node whose clock came back from +90 s got its peers declared dead).
 * Taken as "suspect", the member refutes within a round trip. A member
 * that really died is declared dead no sooner than a failed probe (a
 * period) plus the shortest suspicion (suspicion_mult periods) after it
 * was last heard, so a window of suspicion_mult periods never delays a
 * real death.
 */
static int heard_lately(const struct rc_swim *s, uint32_t i, uint64_t now)
{
    uint64_t h = s->peers[i].heard;

    return h != 0 && now >= h &&
           now - h < (uint64_t)s->cfg.suspicion_mult * s->cfg.probe_interval_ms;
}

/* Whether author came back from dead lately: then its "dead" claims were
 * made while it was cut off (RETURN_GRACE_PERIODS). Slows down a real
 * death it reports by one suspicion at most, which we time ourselves. */
static int just_back(const struct rc_swim *s, uint64_t author, uint64_t now)
{
    int j = swim_find(s, author);
    uint64_t b = j > 0 ? s->peers[j].back : 0;

    return b != 0 && now >= b &&
           now - b < (uint64_t)RETURN_GRACE_PERIODS * s->cfg.probe_interval_ms;
}

/*
 * Applies one claim about a member: a newer incarnation always wins; at
 * equal incarnation alive < suspect < dead < left. A repeated suspicion
 * from someone new is a Lifeguard confirmation.
 */
void swim_apply(struct rc_swim *s, const struct rc_swim_rec *rec, uint64_t now)
{
    struct rc_swim_rec stale;
    struct rc_member *m;
    int i, moved;

    if (rec->id == s->members[0].id) {
        self_claim(s, rec);
        return;
    }
    i = swim_find(s, rec->id);
    if (i < 0) {
        add_member(s, rec, now);
        return;
    }
    m = &s->members[i];
    /* A returned author's claims about others are stale whatever we
     * think of the member now: it tells its suspicions first, then its
     * deaths, so the member is often suspect already when the death
     * arrives. */
    if (rec->state == RC_MEMBER_DEAD &&
        ((m->state == RC_MEMBER_ALIVE && heard_lately(s, (uint32_t)i, now)) ||
         (is_live(m->state) && rec->by != rec->id && just_back(s, rec->by, now)))) {
        stale = *rec;
        stale.state = RC_MEMBER_SUSPECT;
        rec = &stale;
    }
    if (rec->incarnation == m->incarnation && rec->state == m->state) {
        if (rec->state == RC_MEMBER_SUSPECT && swim_confirm(s, (uint32_t)i, rec->by))
            swim_gossip(s, (uint32_t)i, rec->by); /* pass the confirmation on */
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
        swim_set_state(s, (uint32_t)i, rec->state, rec->incarnation, rec->by, NULL, now);
        if (moved)
            swim_notify(s, (uint32_t)i, m->state, "address changed");
        return;
    }
    swim_set_state(s, (uint32_t)i, rec->state, rec->incarnation, rec->by,
                   reason_for(m->state, rec->state), now);
}

int rc_swim_forget(struct rc_swim *s, uint64_t id, uint64_t now_ms)
{
    int i = swim_find(s, id);

    if (i < 0 || s->members[i].state == RC_MEMBER_LEFT)
        return RC_ENOTFOUND;
    if (i == 0 || s->members[i].state != RC_MEMBER_DEAD)
        return RC_EINVAL;
    swim_set_state(s, (uint32_t)i, RC_MEMBER_LEFT, s->members[i].incarnation,
                   s->members[0].id, "forgotten", now_ms);
    return 0;
}

uint32_t rc_swim_members(const struct rc_swim *s, const struct rc_member **out)
{
    *out = s->members;
    return s->n;
}

/* ---- dissemination ------------------------------------------------------ */

static int key_cmp(const void *a, const void *b)
{
    const struct sort_key *x = a, *y = b;

    return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

/* Packs member i's record into f if it fits. 1 if packed. */
static int pack_if_fits(struct rc_swim *s, struct swim_fbuf *f, uint32_t i)
{
    msgpack_packer pk;
    size_t mark = f->len;

    msgpack_packer_init(&pk, f, swim_fbuf_write);
    swim_pack_member(&pk, &s->members[i], s->peers[i].by);
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
uint32_t swim_pack_updates(struct rc_swim *s, uint64_t to_id, struct swim_fbuf *f)
{
    uint32_t i, nkeys = 0, count = 0;
    int buddy = to_id ? swim_find(s, to_id) : -1;

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
    msgpack_pack_array(&pk, s->cfg.wall_ms != NULL ? 3 : 2);
    msgpack_pack_uint64(&pk, s->members[0].id);
    msgpack_pack_array(&pk, s->n);
    for (i = 0; i < s->n; i++)
        swim_pack_member(&pk, &s->members[i], i == 0 ? s->members[0].id : s->peers[i].by);
    if (s->cfg.wall_ms != NULL)
        msgpack_pack_uint64(&pk, s->cfg.wall_ms(s->cfg.cb_arg));
    if (k.err < 0) {
        out->len = out->start + mark;
        return k.err;
    }
    return 0;
}

/* Walks a STATE payload; with s != NULL applies each record. *from and
 * *wall get the sender and its stamp (0: none), *live the records alive
 * or suspect. */
static int walk_state(struct rc_swim *s, const uint8_t *buf, size_t len, uint64_t now,
                      uint64_t *from, uint64_t *wall, uint32_t *live)
{
    struct rc_swim_rec rec;
    struct swim_rd r;
    uint32_t count, nrec, i;
    unsigned type;
    int rv;

    rv = swim_rd_header(&r, buf, len, &type);
    if (rv < 0)
        return rv;
    *wall = 0;
    *live = 0;
    if (type != RC_SWIM_STATE || swim_rd_state_head(&r, &count, from, &nrec) < 0)
        return RC_EPROTO;
    for (i = 0; i < nrec; i++) {
        if (swim_rd_rec(&r, &rec) < 0)
            return RC_EPROTO;
        *live += is_live(rec.state);
        if (s == NULL)
            continue;
        if (rec.state == RC_MEMBER_DEAD && rec.id != s->members[0].id && swim_find(s, rec.id) >= 0)
            rec.state = RC_MEMBER_SUSPECT; /* stale views must not kill: let it refute */
        swim_apply(s, &rec, now);
    }
    return swim_rd_state_tail(&r, count, wall);
}

int rc_swim_merge_state(struct rc_swim *s, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    uint64_t from, wall;
    uint32_t live;
    int rv = walk_state(NULL, buf, len, now_ms, &from, &wall, &live);

    return rv < 0 ? rv : walk_state(s, buf, len, now_ms, &from, &wall, &live);
}

int rc_swim_state_peek(const uint8_t *buf, size_t len, uint64_t *from_id, uint64_t *wall_ms,
                       uint32_t *live)
{
    return walk_state(NULL, buf, len, 0, from_id, wall_ms, live);
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
    if (!config_ok(cfg) || self->id == 0 ||
        !swim_host_ok(self->host, strnlen(self->host, RC_HOST_MAX)))
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
    s->next_probe = now_ms + swim_rng_below(s, cfg->probe_interval_ms);
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
