/*
 * coord.c - coordinates client requests across the key's replicas (see coord.h).
 *
 * Each client GET/PUT/DEL becomes an op: the key's preference list comes
 * from the ring, every replica is asked (the local one directly, others
 * over the peer pool), and the client is answered as soon as the quorum is
 * met or can no longer be met. The op lives on until every replica has
 * answered or timed out (the peer pool guarantees one callback each), so
 * late answers still feed read repair and hints. A read on a single-node
 * ring is answered without an op.
 */
#include "coord.h"
#include "codec.h"
#include "gossip.h"
#include "rebalance.h"
#include "resp_server.h"
#include "err.h"
#include "ring.h"

#include <inttypes.h>
#include <stdio.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>
#include <xxhash.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* The keys-held census in STATS: a new pass every 2 s, CENSUS_STEP vnode
 * ranges (each about 1/(256 N) of the data, well under a millisecond to
 * count) every CENSUS_TICK_MS, so counting never holds the loop. A pass
 * reads every key held, so the pause before the next one is also at least
 * CENSUS_PAUSE_FACTOR times what the last pass cost: at most ~5 % of a
 * core (a node holding 780k keys spent 9 % of a core on 2 s passes). */
#define CENSUS_MS 2000
#define CENSUS_TICK_MS 10
#define CENSUS_STEP 16
#define CENSUS_PAUSE_FACTOR 20
/* A TTL beyond a century is certainly a unit mistake (ms vs s). */
#define MAX_TTL_MS (100ULL * 365 * 24 * 3600 * 1000)
/* Hints are retried this often; a replica that came back gets its missed
 * writes within about a second, without hammering one that is still away. */
#define HINT_INTERVAL_MS 500
/* Hint deliveries in flight at once, so a long backlog does not flood a
 * node that just came back. */
#define HINT_INFLIGHT_MAX 256
/* Rounds of a write whose replicas keep answering SUPERSEDED. Round 2
 * carries a version past every one seen in round 1, so only writes that
 * raced this one can supersede it again; four rounds make losing a race
 * three times in a row the only way to hear SUPERSEDED. */
#define MAX_WRITE_ROUNDS 4
/* Targets of one op: the key's home replicas, then as many fallbacks. */
#define MAX_TARGETS (2 * RC_RING_MAX_RF)

struct op;

struct op_rep {
    struct op *op;
    uint64_t node;
    int counts;            /* a home replica: counts for ONE, QUORUM and ALL */
    int done, ok, found;
    int existed;           /* local write: it replaced a live value */
    struct rc_version ver; /* reads: the version this replica has */
};

/* Where a keyed operation's answer goes: encoded into out (native
 * client, immediate), or to cb (another front end, rc_coord_submit). */
struct sink {
    struct rc_net *net;
    struct rc_buf *out;
    rc_coord_cb cb;
    void *arg;
};

struct op {
    struct rc_coord *co;
    struct rc_net_slot *slot; /* the native client's reply; NULL once answered */
    rc_coord_cb cb;           /* or this callback (rc_coord_submit) */
    void *cb_arg;
    int waiting;              /* not answered yet */
    uint32_t id;
    uint32_t opcode;
    int any;       /* level ANY: every target counts, fallbacks included */
    int nrep;      /* targets: home replicas first, then fallbacks */
    int ncount;    /* targets whose answers count (home replicas, or all for ANY) */
    int needed, acks, fails, answered; /* acks and fails of counting targets */
    int superseded; /* some target answered SUPERSEDED this round */
    int round;     /* writes: 1, then one more per SUPERSEDED retry */
    struct rc_version newest; /* the newest version a SUPERSEDED answer named */
    int local;     /* index of this node's target, -1 if none */
    int local_held; /* the local write waits for a remote answer (clock check) */
    int nremote, remote_left, remote_ok, remote_drift; /* this round's remote targets */
    int starting; /* still sending: not finished even if all answered */
    int last_err;
    int existed;
    struct rc_version ver; /* write: the version written; read: the newest seen */
    int64_t expires;       /* absolute, 0 = none (of the write, or of the newest) */
    int best_found, best_tomb;
    uint8_t *key;
    size_t key_len;
    uint8_t *value; /* write: inline after the op; read: the newest, malloc'd */
    size_t value_len;
    struct op_rep rep[MAX_TARGETS];
};

struct hint {
    struct hint *prev, *next;
    struct rc_coord *co;
    uint64_t target;
    int64_t created_ms;
    struct rc_version ver;
    int64_t expires;
    int tombstone, inflight;
    size_t key_len, value_len;
    uint8_t data[]; /* key, then value */
};

struct counters {
    uint64_t ping, get, put, del, stats, members, ring;
    uint64_t hits, misses, errors, unavailable, timeouts;
    uint64_t read_repairs, hints_stored, hints_delivered, hints_dropped;
    uint64_t uncontacted, superseded_retries, superseded, drift_refused, forgotten;
};

struct rc_coord {
    uv_loop_t *loop;
    uv_timer_t hint_timer;
    struct rc_coord_opts opts;
    struct rc_node *node;
    struct rc_peers *peers;
    struct rc_net *net;
    const struct rc_log *log;
    uint64_t self;
    struct rc_ring *ring; /* live members (alive, suspect): where data is placed */
    struct rc_ring *home; /* every member not left: whose answers count */
    struct rc_gossip *gossip; /* NULL until rc_coord_set_gossip */
    rc_coord_skew_fn skew_fn;
    void *skew_arg;
    int need_contact;   /* QUORUM and ALL wait for gossip's first full sync */
    int had_peers;      /* "had_peers" is saved in the node's metadata */
    /* Members known before a restart (saved in the node's metadata) that
     * gossip has not mentioned since: they stay home replicas (counted as
     * dead) until gossip says where they are, so a cluster restarted as a
     * whole does not count quorums among the few members one peer knew. */
    uint64_t *expected;
    size_t nexpected;
    uint64_t known_digest; /* of the member set last saved */
    struct rc_member *members;
    size_t nmembers;
    struct hint *hints_head, *hints_tail;
    size_t nhints, hints_inflight;
    size_t hint_bytes; /* keys and values held in hints (opts.max_hint_bytes) */
    struct rc_buf scratch; /* MEMBERS / RING payloads */
    int64_t start_ms;
    int leaving;
    struct rc_rebalance *rb;
    int keyed;
    const struct rc_seal_stats *seal; /* NULL: none shown */
    const struct rc_resp_stats *resp; /* NULL: no RESP port */
    /* Keys held as primary / as replica (see on_census). */
    uv_timer_t census_timer;
    uint64_t census_primary, census_replica;
    uint64_t census_acc_primary, census_acc_replica;
    uint64_t census_cost_ns; /* CPU the pass under way has cost so far */
    size_t census_idx;
    struct counters ops;
};

static const struct rc_member *find_member(const struct rc_coord *co, uint64_t id)
{
    size_t i;

    for (i = 0; i < co->nmembers; i++)
        if (co->members[i].id == id)
            return &co->members[i];
    return NULL;
}

/* Replicas needed for a consistency level when n replicas exist. */
static int needed_for(uint32_t level, int dflt, int n)
{
    int k;

    switch (level) {
    case RC_CL_ONE: k = 1; break;
    case RC_CL_QUORUM: k = n / 2 + 1; break;
    case RC_CL_ALL: k = n; break;
    default: k = dflt; break;
    }
    if (k > n)
        k = n;
    return k < 1 ? 1 : k;
}

static int reply_error(struct rc_coord *co, struct rc_buf *out, uint32_t id, int err,
                       const char *msg)
{
    co->ops.errors++;
    if (err == RC_EUNAVAILABLE)
        co->ops.unavailable++;
    return rc_encode_error(out, id, err, msg);
}

static int sink_reply(const struct sink *sk, const struct rc_reply *rep)
{
    if (sk->cb != NULL) {
        sk->cb(sk->arg, rep);
        return 0;
    }
    return rc_encode_reply(sk->out, rep);
}

static int sink_error(struct rc_coord *co, const struct sink *sk, uint32_t id, int err,
                      const char *msg)
{
    struct rc_reply rep;

    co->ops.errors++;
    if (err == RC_EUNAVAILABLE)
        co->ops.unavailable++;
    rc_reply_error(&rep, id, err, msg);
    return sink_reply(sk, &rep);
}

/* Validates what every keyed operation needs. 0, or an answered error (1). */
static int check_request(struct rc_coord *co, const struct rc_request *req,
                         const struct sink *sk, int *rv)
{
    const struct rc_node_opts *no = rc_node_opts(co->node);
    char msg[96];
    int err = 0;

    if (!req->has_key || req->key_len == 0) {
        snprintf(msg, sizeof(msg), "%s", req->has_key ? "empty key" : "missing key");
        err = RC_EINVAL;
    } else if (req->key_len > no->max_key) {
        snprintf(msg, sizeof(msg), "key is %u bytes, limit is %u", req->key_len, no->max_key);
        err = RC_EKEY_TOO_LARGE;
    } else if (req->op == RC_OP_PUT && !req->has_value) {
        snprintf(msg, sizeof(msg), "missing value");
        err = RC_EINVAL;
    } else if (req->op == RC_OP_PUT && req->value_len > no->max_value) {
        snprintf(msg, sizeof(msg), "value is %u bytes, limit is %u", req->value_len,
                 no->max_value);
        err = RC_EVALUE_TOO_LARGE;
    } else if (req->ttl_ms > MAX_TTL_MS) {
        snprintf(msg, sizeof(msg), "ttl longer than 100 years");
        err = RC_EINVAL;
    } else if (req->consistency > RC_CL_ANY) {
        snprintf(msg, sizeof(msg),
                 "consistency must be 1 (one), 2 (quorum), 3 (all) or 4 (any)");
        err = RC_EINVAL;
    }
    if (err == 0)
        return 0;
    *rv = sink_error(co, sk, req->id, err, msg);
    return 1;
}

/* ---- hints ---------------------------------------------------------- */

static void hint_unlink(struct rc_coord *co, struct hint *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        co->hints_head = h->next;
    if (h->next)
        h->next->prev = h->prev;
    else
        co->hints_tail = h->prev;
    co->nhints--;
    co->hint_bytes -= h->key_len + h->value_len;
    free(h);
}

static int hints_full(const struct rc_coord *co, size_t more)
{
    return co->nhints >= co->opts.max_hints || co->hint_bytes + more > co->opts.max_hint_bytes;
}

/* Keeps a write that could not reach its replica. The oldest hint makes
 * room when a cap (count, bytes) is reached: a long outage is repaired by
 * streaming and anti-entropy on rejoin, not by hints. */
static void hint_add(struct rc_coord *co, const struct op *op, uint64_t target)
{
    size_t bytes = op->key_len + (op->opcode == RC_OP_DEL ? 0 : op->value_len);
    struct hint *h;

    if (co->opts.max_hints == 0)
        return;
    if (bytes > co->opts.max_hint_bytes) {
        co->ops.hints_dropped++;
        return;
    }
    while (hints_full(co, bytes) && co->hints_head && !co->hints_head->inflight) {
        hint_unlink(co, co->hints_head);
        co->ops.hints_dropped++;
    }
    if (hints_full(co, bytes)) {
        co->ops.hints_dropped++;
        return;
    }
    h = malloc(sizeof(*h) + op->key_len + op->value_len);
    if (h == NULL) {
        co->ops.hints_dropped++;
        return;
    }
    h->co = co;
    h->target = target;
    h->created_ms = rc_node_now_ms();
    h->ver = op->ver;
    h->expires = op->expires;
    h->tombstone = op->opcode == RC_OP_DEL;
    h->inflight = 0;
    h->key_len = op->key_len;
    h->value_len = h->tombstone ? 0 : op->value_len;
    memcpy(h->data, op->key, op->key_len);
    if (h->value_len)
        memcpy(h->data + h->key_len, op->value, h->value_len);
    h->next = NULL;
    h->prev = co->hints_tail;
    if (co->hints_tail)
        co->hints_tail->next = h;
    else
        co->hints_head = h;
    co->hints_tail = h;
    co->nhints++;
    co->hint_bytes += bytes;
    co->ops.hints_stored++;
}

static void fill_repl_write(struct rc_request *r, const uint8_t *key, size_t key_len,
                            const uint8_t *value, size_t value_len, int tombstone,
                            const struct rc_version *ver, int64_t expires)
{
    memset(r, 0, sizeof(*r));
    r->op = RC_OP_REPL_WRITE;
    r->key = key;
    r->key_len = (uint32_t)key_len;
    r->has_key = 1;
    if (tombstone) {
        r->tombstone = 1;
    } else {
        r->value = value;
        r->value_len = (uint32_t)value_len;
        r->has_value = 1;
    }
    r->has_version = 1;
    r->ver_hlc = ver->hlc;
    r->ver_node = ver->node;
    r->expires_ms = expires > 0 ? (uint64_t)expires : 0;
}

static void on_hint_sent(void *arg, int err, const struct rc_reply *rep)
{
    struct hint *h = arg;
    struct rc_coord *co = h->co;

    co->hints_inflight--;
    h->inflight = 0;
    if (err == 0 && rep->status == 0) {
        co->ops.hints_delivered++;
        hint_unlink(co, h);
    }
}

static int is_replica(const struct rc_coord *co, const uint8_t *key, size_t key_len, uint64_t id)
{
    uint64_t ids[RC_RING_MAX_RF];
    int n, i;

    n = co->ring ? rc_ring_replicas_key(co->ring, key, key_len, co->opts.rf, ids) : 0;
    for (i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

/* Delivers hints whose target is alive again; drops stale ones. */
static void on_hint_timer(uv_timer_t *t)
{
    struct rc_coord *co = container_of(t, struct rc_coord, hint_timer);
    int64_t now = rc_node_now_ms();
    struct hint *h, *next;
    const struct rc_member *m;
    struct rc_request r;

    for (h = co->hints_head; h != NULL; h = next) {
        next = h->next;
        if (h->inflight)
            continue;
        if (now - h->created_ms > co->opts.hint_ttl_ms) {
            co->ops.hints_dropped++;
            hint_unlink(co, h);
            continue;
        }
        if (co->hints_inflight >= HINT_INFLIGHT_MAX)
            continue;
        m = find_member(co, h->target);
        if (m == NULL || m->state == RC_MEMBER_LEFT) {
            /* Gone for good (left, forgotten, replaced by a new id): the
             * key's current replicas hold the write (fallbacks took it,
             * rebalancing streams it), so the hint has no one to wait for. */
            co->ops.hints_dropped++;
            hint_unlink(co, h);
            continue;
        }
        /* Alive to gossip is not enough: not while this node's breaker
         * for it is open (one hint is its probe once the cool-down ends). */
        if (m->state != RC_MEMBER_ALIVE || !rc_peers_reachable(co->peers, m->id))
            continue;
        if (!is_replica(co, h->data, h->key_len, h->target)) {
            /* The ring moved the key elsewhere meanwhile: its new replicas
             * got the write, or get it from rebalancing. Delivering it now
             * would leave a stray copy on a node that no longer owns it. */
            co->ops.hints_dropped++;
            hint_unlink(co, h);
            continue;
        }
        fill_repl_write(&r, h->data, h->key_len, h->data + h->key_len, h->value_len,
                        h->tombstone, &h->ver, h->expires);
        if (rc_peers_send(co->peers, m->id, m->host, m->peer_port, &r, co->opts.timeout_ms,
                          on_hint_sent, h) == 0) {
            h->inflight = 1;
            co->hints_inflight++;
        }
    }
}

/* ---- ops ------------------------------------------------------------ */

static void op_free(struct op *op)
{
    if (op->opcode == RC_OP_GET)
        free(op->value);
    free(op);
}

static int entry_live(int found, int tomb, int64_t expires)
{
    return found && !tomb && (expires == 0 || expires > rc_node_now_ms());
}

static void op_answer(struct op *op, const struct rc_reply *rep)
{
    op->waiting = 0;
    if (op->cb != NULL)
        op->cb(op->cb_arg, rep);
    else
        rc_net_complete(op->slot, rep);
    op->slot = NULL;
}

static void answer_read(struct op *op)
{
    struct rc_coord *co = op->co;
    struct rc_reply rep = {.id = op->id};
    int64_t now = rc_node_now_ms();

    if (!entry_live(op->best_found, op->best_tomb, op->expires)) {
        co->ops.misses++;
        rep.status = (uint32_t)rc_err_to_status(RC_ENOTFOUND);
    } else {
        co->ops.hits++;
        rep.has_value = 1;
        rep.value = op->value ? op->value : (const uint8_t *)"";
        rep.value_len = (uint32_t)op->value_len;
        rep.has_version = 1;
        rep.ver_hlc = op->ver.hlc;
        rep.ver_node = op->ver.node;
        if (op->expires > 0)
            rep.ttl_ms = (uint64_t)(op->expires > now ? op->expires - now : 1);
    }
    op_answer(op, &rep);
}

static void answer_write(struct op *op)
{
    struct rc_reply rep = {.id = op->id};

    if (op->opcode == RC_OP_DEL && !op->existed)
        rep.status = (uint32_t)rc_err_to_status(RC_ENOTFOUND);
    rep.has_version = 1;
    rep.ver_hlc = op->ver.hlc;
    rep.ver_node = op->ver.node;
    op_answer(op, &rep);
}

static void noop_write_cb(void *arg, int err)
{
    (void)arg;
    (void)err;
}

static void noop_peer_cb(void *arg, int err, const struct rc_reply *rep)
{
    (void)arg;
    (void)err;
    (void)rep;
}

/* After a read: replicas that answered with an older version or nothing
 * get the newest one (read repair). Fire and forget: the next read or the
 * rebalancer catches what this misses. */
static void read_repair(struct op *op)
{
    struct rc_coord *co = op->co;
    const struct rc_member *m;
    struct rc_request r;
    int i, tomb = op->best_tomb;

    if (!op->best_found || (op->expires > 0 && op->expires <= rc_node_now_ms()))
        return;
    for (i = 0; i < op->nrep; i++) {
        struct op_rep *rp = &op->rep[i];

        if (!rp->ok || (rp->found && rc_version_cmp(&rp->ver, &op->ver) >= 0))
            continue;
        co->ops.read_repairs++;
        if (rp->node == co->self) {
            rc_node_write(co->node, op->key, op->key_len, tomb ? NULL : op->value,
                          op->value_len, &op->ver, op->expires, noop_write_cb, NULL, NULL,
                          NULL);
            continue;
        }
        m = find_member(co, rp->node);
        if (m == NULL)
            continue;
        fill_repl_write(&r, op->key, op->key_len, op->value ? op->value : (const uint8_t *)"",
                        op->value_len, tomb, &op->ver, op->expires);
        rc_peers_send(co->peers, m->id, m->host, m->peer_port, &r, co->opts.timeout_ms,
                      noop_peer_cb, NULL);
    }
}

/* What a client is told when the quorum cannot be met: transport trouble
 * becomes UNAVAILABLE or TIMEOUT; a replica's own verdict (FULL, IO,
 * DRIFT, ...) is passed on as it is. */
static int client_error(int err)
{
    switch (err) {
    case RC_ETIMEOUT:
        return RC_ETIMEOUT;
    case RC_ECONNECT:
    case RC_ECLOSED:
    case RC_EBUFFER_FULL:
    case RC_ESHUTDOWN:
    case RC_EUNAVAILABLE:
    case RC_EPROTO:
        return RC_EUNAVAILABLE;
    default:
        return err;
    }
}

/* Answers the client that the write lost to newer versions every round. */
static void answer_superseded(struct op *op)
{
    struct rc_reply rep;
    char msg[128];

    op->co->ops.errors++;
    op->co->ops.superseded++;
    snprintf(msg, sizeof(msg),
             "newer writes to the key won %d rounds in a row (concurrent writers)", op->round);
    rc_reply_error(&rep, op->id, RC_ESUPERSEDED, msg);
    op_answer(op, &rep);
}

static void answer_failed(struct op *op)
{
    struct rc_coord *co = op->co;
    int err = client_error(op->last_err);
    struct rc_reply rep;
    char msg[128];

    snprintf(msg, sizeof(msg), "%d of %d replicas answered, %d needed (last error: %s)",
             op->acks, op->ncount, op->needed, rc_strerror(op->last_err));
    co->ops.errors++;
    if (err == RC_ETIMEOUT)
        co->ops.timeouts++;
    else if (err == RC_EUNAVAILABLE)
        co->ops.unavailable++;
    rc_reply_error(&rep, op->id, err,
                   err == RC_ETIMEOUT || err == RC_EUNAVAILABLE ? msg : NULL);
    op_answer(op, &rep);
}

static void send_to_replica(struct op *op, int i);
static void write_local(struct op *op);
static void op_check(struct op *op);

/* A write some target answered SUPERSEDED, once every target of the round
 * answered: move this node's clock past the newest version named and write
 * again with a new version, so a write acknowledged after another one
 * completed always wins, whatever the clocks (docs/protocol.md §12). 0, or
 * -1 when no round is left (the caller answers). */
static int retry_round(struct op *op)
{
    struct rc_coord *co = op->co;
    struct rc_reply rep;
    int i;

    if (op->round >= MAX_WRITE_ROUNDS)
        return -1;
    if (rc_node_observe(co->node, op->newest.hlc) < 0) {
        /* The newer version comes from a clock beyond --max-drift: this
         * write cannot be ordered after it without dragging our clock. */
        rc_reply_error(&rep, op->id, RC_EDRIFT,
                       "a newer version of the key is stamped beyond --max-drift ahead");
        co->ops.errors++;
        op_answer(op, &rep);
        return -1;
    }
    co->ops.superseded_retries++;
    op->round++;
    rc_node_new_version(co->node, &op->ver);
    op->acks = op->fails = op->answered = op->superseded = 0;
    op->remote_left = op->nremote;
    op->remote_ok = op->remote_drift = 0;
    op->starting = 1;
    for (i = 0; i < op->nrep; i++) {
        op->rep[i].done = op->rep[i].ok = op->rep[i].found = op->rep[i].existed = 0;
        send_to_replica(op, i);
    }
    op->starting = 0;
    op_check(op); /* may free op: every target may have answered already */
    return 0;
}

/* Answers the client once the outcome is known; starts another round of a
 * superseded write; frees the op when every target has answered. */
static void op_check(struct op *op)
{
    int alive = op->ncount - op->fails;

    if (op->waiting && op->acks >= op->needed) {
        if (op->opcode == RC_OP_GET)
            answer_read(op);
        else
            answer_write(op);
    } else if (op->waiting && alive < op->needed) {
        answer_failed(op);
    }
    /* Not answered once all answered: some target held a newer version,
     * and only another round can still succeed. */
    if (op->answered < op->nrep || op->starting)
        return;
    if (op->waiting && op->superseded) {
        if (retry_round(op) == 0)
            return;
        if (op->waiting)
            answer_superseded(op);
    } else if (op->waiting) {
        answer_failed(op); /* not reached: counted answers decide first */
    }
    if (op->opcode == RC_OP_GET)
        read_repair(op);
    op_free(op);
}

/* A remote target answered (err 0: it took the version, or named a newer
 * one). The held local write goes ahead once a remote replica accepted a
 * version stamped by this node's clock, or once every remote target
 * answered (write_local then refuses it if they all failed and one said
 * DRIFT). Returns 1 when it took over op_check (the caller must not touch
 * op again). */
static int remote_answered(struct op *op, int err)
{
    op->remote_left--;
    if (err == RC_EDRIFT)
        op->remote_drift++;
    else if (err == 0)
        op->remote_ok++;
    if (!op->local_held || (err != 0 && op->remote_left > 0))
        return 0;
    op->local_held = 0;
    write_local(op);
    return 1;
}

static int rep_counts(const struct op *op, const struct op_rep *rp)
{
    return op->any || rp->counts;
}

static void rep_fail(struct op_rep *rp, int err)
{
    struct op *op = rp->op;
    const struct rc_member *m;

    rp->done = 1;
    op->answered++;
    if (rep_counts(op, rp)) {
        op->fails++;
        op->last_err = err;
    }
    /* A hint for a live replica the write missed; a dead one gets the
     * range streamed when it is back. */
    if (op->opcode != RC_OP_GET && rp->node != op->co->self &&
        (err == RC_ETIMEOUT || err == RC_ECONNECT || err == RC_ECLOSED ||
         err == RC_EBUFFER_FULL) &&
        (m = find_member(op->co, rp->node)) != NULL && m->state != RC_MEMBER_DEAD)
        hint_add(op->co, op, rp->node);
    if (rp->node != op->co->self && op->opcode != RC_OP_GET && remote_answered(op, err))
        return;
    op_check(op);
}

/* The target holds a newer version: the write was ignored there. */
static void rep_stale(struct op_rep *rp, const struct rc_version *newer)
{
    struct op *op = rp->op;

    rp->done = 1;
    op->answered++;
    op->superseded = 1;
    if (rc_version_cmp(newer, &op->newest) > 0)
        op->newest = *newer;
    if (rp->node != op->co->self && remote_answered(op, 0))
        return;
    op_check(op);
}

static void rep_write_ok(struct op_rep *rp, int existed)
{
    struct op *op = rp->op;

    rp->done = rp->ok = 1;
    op->answered++;
    if (rep_counts(op, rp))
        op->acks++;
    op->existed |= existed;
    if (rp->node != op->co->self && remote_answered(op, 0))
        return;
    op_check(op);
}

static void on_local_write(void *arg, int err)
{
    struct op_rep *rp = arg;

    if (err < 0)
        rep_fail(rp, err);
    else
        rep_write_ok(rp, rp->existed);
}

static void on_remote_write(void *arg, int err, const struct rc_reply *rep)
{
    struct op_rep *rp = arg;
    struct rc_version newer;

    if (err == 0 && rep->status != 0)
        err = rc_err_from_status((int)rep->status);
    if (err == RC_ESUPERSEDED && rep->has_version) {
        newer.hlc = rep->ver_hlc;
        newer.node = rep->ver_node;
        rep_stale(rp, &newer);
    } else if (err < 0) {
        rep_fail(rp, err == RC_ESUPERSEDED ? RC_EPROTO : err);
    } else {
        rep_write_ok(rp, rep->existed);
    }
}

/* Records one replica's read answer; keeps the newest version. */
static void rep_read(struct op_rep *rp, int found, int tomb, const struct rc_version *ver,
                     const uint8_t *value, size_t value_len, int64_t expires)
{
    struct op *op = rp->op;
    uint8_t *copy = NULL;

    rp->done = rp->ok = 1;
    rp->found = found;
    op->answered++;
    if (rep_counts(op, rp))
        op->acks++;
    if (found) {
        rp->ver = *ver;
        if (!op->best_found || rc_version_cmp(ver, &op->ver) > 0) {
            if (!tomb && value_len > 0 && (copy = malloc(value_len)) == NULL) {
                rp->ok = 0; /* cannot hold it: count as failed, never as older */
                if (rep_counts(op, rp)) {
                    op->acks--;
                    op->fails++;
                    op->last_err = RC_ENOMEM;
                }
                op_check(op);
                return;
            }
            if (copy)
                memcpy(copy, value, value_len);
            free(op->value);
            op->value = copy;
            op->value_len = tomb ? 0 : value_len;
            op->ver = *ver;
            op->expires = expires;
            op->best_found = 1;
            op->best_tomb = tomb;
        }
    }
    op_check(op);
}

static void on_remote_read(void *arg, int err, const struct rc_reply *rep)
{
    struct op_rep *rp = arg;
    struct rc_version ver;

    if (err == 0 && rep->status != 0 && rc_err_from_status((int)rep->status) != RC_ENOTFOUND)
        err = rc_err_from_status((int)rep->status);
    if (err < 0) {
        rep_fail(rp, err);
        return;
    }
    if (rep->status != 0 || !rep->has_version) {
        rep_read(rp, 0, 0, NULL, NULL, 0, 0);
        return;
    }
    ver.hlc = rep->ver_hlc;
    ver.node = rep->ver_node;
    rep_read(rp, 1, rep->tombstone, &ver, rep->value, rep->value_len,
             (int64_t)rep->expires_ms);
}

static void local_read(struct op_rep *rp)
{
    struct op *op = rp->op;
    struct rc_entry e;
    int rv;

    rv = rc_node_get(op->co->node, op->key, op->key_len, &e);
    if (rv == RC_ENOTFOUND)
        rep_read(rp, 0, 0, NULL, NULL, 0, 0);
    else if (rv < 0)
        rep_fail(rp, rv);
    else
        rep_read(rp, 1, e.tombstone, &e.ver, e.value, e.value_len, e.expires_ms);
}

/* The write to this node's own store; refused with DRIFT when no remote
 * target took the version and one refused it as stamped too far ahead. */
static void write_local(struct op *op)
{
    struct op_rep *rp = &op->rep[op->local];
    struct rc_version newer;
    int rv;

    if (op->remote_left == 0 && op->remote_ok == 0 && op->remote_drift > 0) {
        rep_fail(rp, RC_EDRIFT);
        return;
    }
    rv = rc_node_write(op->co->node, op->key, op->key_len,
                       op->opcode == RC_OP_DEL ? NULL : op->value, op->value_len, &op->ver,
                       op->expires, on_local_write, rp, &rp->existed, &newer);
    if (rv == RC_ESUPERSEDED)
        rep_stale(rp, &newer);
    else if (rv < 0)
        rep_fail(rp, rv);
    else
        op_check(op);
}

/* Whether this node may write its own copy before any peer has seen the
 * version: only when its clock is known to agree with its peers'. If it is
 * ahead, a version it stamps could be refused by every other replica as
 * DRIFT while its own copy keeps it, and later win over writes that were
 * acknowledged after it. */
static int local_first(const struct rc_coord *co)
{
    int64_t ahead = 0;

    if (co->skew_fn == NULL || co->skew_fn(co->skew_arg, &ahead) <= 0)
        return 0;
    return ahead < rc_node_opts(co->node)->max_drift_ms / 4;
}

/* Sends the op to target i (local or remote). Failures are recorded on
 * the op, never returned: the op decides what they mean. */
static void send_to_replica(struct op *op, int i)
{
    struct rc_coord *co = op->co;
    struct op_rep *rp = &op->rep[i];
    const struct rc_member *m;
    struct rc_request r;
    int rv;

    if (rp->node == co->self) {
        if (op->opcode == RC_OP_GET)
            local_read(rp);
        else if (op->remote_left > 0 && !local_first(co))
            op->local_held = 1; /* remote_answered() releases it */
        else
            write_local(op);
        return;
    }
    m = find_member(co, rp->node);
    if (m == NULL || (m->state != RC_MEMBER_ALIVE && m->state != RC_MEMBER_SUSPECT)) {
        rep_fail(rp, RC_EUNAVAILABLE); /* a dead home replica */
        return;
    }
    if (op->opcode == RC_OP_GET) {
        memset(&r, 0, sizeof(r));
        r.op = RC_OP_REPL_READ;
        r.key = op->key;
        r.key_len = (uint32_t)op->key_len;
        r.has_key = 1;
        rv = rc_peers_send(co->peers, m->id, m->host, m->peer_port, &r, co->opts.timeout_ms,
                           on_remote_read, rp);
    } else {
        fill_repl_write(&r, op->key, op->key_len, op->value, op->value_len,
                        op->opcode == RC_OP_DEL, &op->ver, op->expires);
        rv = rc_peers_send(co->peers, m->id, m->host, m->peer_port, &r, co->opts.timeout_ms,
                           on_remote_write, rp);
    }
    if (rv < 0)
        rep_fail(rp, rv);
}

/* Single-node fast path: the only replica is this node, answer now. */
static int read_local_now(struct rc_coord *co, const struct rc_request *req,
                          const struct sink *sk)
{
    struct rc_reply rep = {.id = req->id};
    struct rc_entry e;
    int64_t now;
    int rv;

    rv = rc_node_get(co->node, req->key, req->key_len, &e);
    if (rv < 0 && rv != RC_ENOTFOUND)
        return sink_error(co, sk, req->id, rv, NULL);
    if (rv == RC_ENOTFOUND || e.tombstone) {
        co->ops.misses++;
        rep.status = (uint32_t)rc_err_to_status(RC_ENOTFOUND);
        return sink_reply(sk, &rep);
    }
    co->ops.hits++;
    now = rc_node_now_ms();
    rep.has_value = 1;
    rep.value = e.value;
    rep.value_len = (uint32_t)e.value_len;
    rep.has_version = 1;
    rep.ver_hlc = e.ver.hlc;
    rep.ver_node = e.ver.node;
    if (e.expires_ms > 0)
        rep.ttl_ms = (uint64_t)(e.expires_ms > now ? e.expires_ms - now : 1);
    return sink_reply(sk, &rep);
}

/* Alive or suspect in gossip, and not behind an open breaker (this
 * node's own view: a bridge partition keeps it alive for gossip). */
static int member_live(const struct rc_coord *co, uint64_t id)
{
    const struct rc_member *m;

    if (id == co->self)
        return 1;
    m = find_member(co, id);
    return m != NULL && (m->state == RC_MEMBER_ALIVE || m->state == RC_MEMBER_SUSPECT) &&
           rc_peers_reachable(co->peers, id);
}

/* Who an op goes to, worked out on the stack before anything is allocated
 * (a read on a single-node ring is answered without an op). */
struct targets {
    int n, nhome, any;
    uint64_t node[MAX_TARGETS];
    unsigned char counts[MAX_TARGETS];
};

/* The op's targets: the key's home replicas (every member that has not
 * left, dead ones included: they count towards n), then for writes, and
 * for reads at ANY, the fallbacks: live members the placement ring gives
 * the key while home replicas are down, which keep RF live copies for
 * rebalancing. Fills t; t->nhome is n (0: no ring yet). */
static void op_targets(struct rc_coord *co, const struct rc_request *req, struct targets *t)
{
    uint64_t ids[RC_RING_MAX_RF];
    int nlive, i, j, known;

    t->any = req->consistency == RC_CL_ANY;
    t->n = t->nhome = co->home ? rc_ring_replicas_key(co->home, req->key, req->key_len,
                                                       co->opts.rf, ids)
                               : 0;
    for (i = 0; i < t->nhome; i++) {
        t->node[i] = ids[i];
        t->counts[i] = 1;
    }
    if (req->op == RC_OP_GET && !t->any)
        return;
    nlive = co->ring ? rc_ring_replicas_key(co->ring, req->key, req->key_len, co->opts.rf, ids)
                     : 0;
    for (i = 0; i < nlive && t->n < MAX_TARGETS; i++) {
        for (j = 0, known = 0; j < t->nhome; j++)
            known |= t->node[j] == ids[i];
        if (!known) {
            t->node[t->n] = ids[i];
            t->counts[t->n++] = t->any;
        }
    }
}

/* Refuses what cannot be done right now, before anything is written:
 * QUORUM and ALL before this node knows its cluster, too few home
 * replicas alive for the level, a write stamped by a clock further ahead
 * of the peers' than --max-drift (every other replica would refuse it).
 * level_needs is what the level needs at the configured RF: the contact
 * gate looks at it, not at needed, because a node that has not made
 * contact may know only itself (n = 1, so QUORUM would need 1 and be
 * served alone). 0, or the error (msg filled). */
static int op_admit(struct rc_coord *co, const struct targets *t, int is_write, int needed,
                    int level_needs, char *msg, size_t len)
{
    int64_t ahead = 0, limit = rc_node_opts(co->node)->max_drift_ms;
    int i, live = 0;

    if (level_needs > 1 && !t->any && co->need_contact &&
        (co->gossip == NULL || !rc_gossip_synced(co->gossip))) {
        co->ops.uncontacted++;
        snprintf(msg, len, "this node has not yet made contact with its cluster "
                           "(QUORUM and ALL wait for it; ONE and ANY are served)");
        return RC_EUNAVAILABLE;
    }
    for (i = 0; i < t->n; i++)
        live += t->counts[i] && member_live(co, t->node[i]);
    if (live < needed) {
        snprintf(msg, len, "%d of %d replicas alive and reachable, %d needed", live,
                 t->any ? t->n : t->nhome, needed);
        return RC_EUNAVAILABLE;
    }
    if (is_write && co->skew_fn != NULL && co->skew_fn(co->skew_arg, &ahead) > 0 &&
        ahead > limit) {
        co->ops.drift_refused++;
        snprintf(msg, len,
                 "this node's clock is %" PRId64 " ms ahead of its peers (limit %" PRId64
                 " ms): fix its time",
                 ahead, limit);
        return RC_EDRIFT;
    }
    return 0;
}

static int start_op(struct rc_coord *co, const struct rc_request *req, const struct sink *sk)
{
    int i, rv, needed, is_read = req->op == RC_OP_GET, dflt = is_read ? co->opts.r : co->opts.w;
    size_t vlen = req->op == RC_OP_PUT ? req->value_len : 0;
    struct targets t;
    struct op *op;
    char msg[160];

    op_targets(co, req, &t);
    if (t.nhome <= 0) {
        if (co->leaving)
            return sink_error(co, sk, req->id, RC_ESHUTDOWN, "this node is leaving the cluster");
        return sink_error(co, sk, req->id, RC_EUNAVAILABLE, "no members in the ring");
    }
    needed = t.any ? 1 : needed_for(req->consistency, dflt, t.nhome);
    rv = op_admit(co, &t, !is_read, needed, needed_for(req->consistency, dflt, co->opts.rf), msg,
                  sizeof(msg));
    if (rv < 0)
        return sink_error(co, sk, req->id, rv, msg);
    if (is_read && t.n == 1 && t.node[0] == co->self)
        return read_local_now(co, req, sk);
    op = calloc(1, sizeof(*op) + req->key_len + vlen);
    if (op == NULL)
        return sink_error(co, sk, req->id, RC_ENOMEM, NULL);
    op->cb = sk->cb;
    op->cb_arg = sk->arg;
    if (op->cb == NULL && (op->slot = rc_net_defer(sk->net)) == NULL) {
        free(op);
        return sink_error(co, sk, req->id, RC_ENOMEM, NULL);
    }
    op->co = co;
    op->opcode = req->op;
    op->any = t.any;
    op->nrep = t.n;
    op->ncount = t.any ? t.n : t.nhome;
    op->needed = needed;
    op->waiting = 1;
    op->id = req->id;
    op->round = 1;
    op->local = -1;
    op->key = (uint8_t *)(op + 1);
    op->key_len = req->key_len;
    memcpy(op->key, req->key, req->key_len);
    if (!is_read) {
        op->value = op->key + op->key_len;
        op->value_len = vlen;
        if (vlen)
            memcpy(op->value, req->value, vlen);
        rc_node_new_version(co->node, &op->ver);
        if (req->op == RC_OP_PUT && req->ttl_ms > 0)
            op->expires = rc_node_now_ms() + (int64_t)req->ttl_ms;
    }
    for (i = 0; i < op->nrep; i++) {
        op->rep[i].op = op;
        op->rep[i].node = t.node[i];
        op->rep[i].counts = t.counts[i];
        if (op->rep[i].node == co->self)
            op->local = i;
        else
            op->nremote++;
    }
    op->remote_left = op->nremote;
    op->starting = 1;
    for (i = 0; i < op->nrep; i++)
        send_to_replica(op, i);
    op->starting = 0;
    op_check(op);
    return 0;
}

/* ---- cluster views -------------------------------------------------- */

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);

    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* Packer sink for the views: remembers a failure, so a cut-off document
 * is never sent as a success. */
struct view_buf {
    struct rc_buf *b;
    int err;
};

static int buf_write(void *data, const char *p, size_t n)
{
    struct view_buf *v = data;
    int rv = rc_buf_append(v->b, p, n);

    if (rv < 0)
        v->err = rv;
    return rv < 0 ? -1 : 0;
}

/* Share of the ring each member owns; zeros for members not in the ring. */
static void member_shares(const struct rc_coord *co, uint64_t id, const double *prim,
                          const double *repl, size_t nring, const uint64_t *ring_ids,
                          double *p, double *r)
{
    size_t i;

    *p = *r = 0;
    for (i = 0; i < nring; i++) {
        if (ring_ids[i] == id) {
            *p = prim[i];
            *r = repl[i];
        }
    }
    (void)co;
}

/* MEMBERS: [{id, host, port, peer_port, state, incarnation, primary, replica, self}] */
static int encode_members(struct rc_coord *co, msgpack_packer *pkp)
{
    double prim[RC_RING_MAX_MEMBERS], repl[RC_RING_MAX_MEMBERS], p, r;
    const uint64_t *ring_ids = NULL;
    size_t nring = co->ring ? rc_ring_members(co->ring, &ring_ids) : 0, i;
    msgpack_packer pk = *pkp;
    char id[17];
    int64_t off;

    if (nring)
        rc_ring_shares(co->ring, co->opts.rf, prim, repl);
    msgpack_pack_array(&pk, co->nmembers);
    for (i = 0; i < co->nmembers; i++) {
        const struct rc_member *m = &co->members[i];

        member_shares(co, m->id, prim, repl, nring, ring_ids, &p, &r);
        snprintf(id, sizeof(id), "%016" PRIx64, m->id);
        msgpack_pack_map(&pk, 10);
        pack_str(&pk, "id"); pack_str(&pk, id);
        pack_str(&pk, "host"); pack_str(&pk, m->host);
        pack_str(&pk, "port"); msgpack_pack_uint16(&pk, m->client_port);
        pack_str(&pk, "peer_port"); msgpack_pack_uint16(&pk, m->peer_port);
        pack_str(&pk, "state"); pack_str(&pk, rc_member_state_name(m->state));
        pack_str(&pk, "incarnation"); msgpack_pack_uint64(&pk, m->incarnation);
        pack_str(&pk, "primary"); msgpack_pack_double(&pk, p);
        pack_str(&pk, "replica"); msgpack_pack_double(&pk, r);
        pack_str(&pk, "self"); m->id == co->self ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
        pack_str(&pk, "clock_offset_ms");
        if (co->gossip != NULL && rc_gossip_member_offset(co->gossip, m->id, &off) == 0)
            msgpack_pack_int64(&pk, off);
        else
            msgpack_pack_nil(&pk);
    }
    return 0;
}

/* RING: {rf, vnodes, max_over_mean, members: [{id, host, port, vnodes, primary, replica}]} */
static int encode_ring(struct rc_coord *co, msgpack_packer *pkp)
{
    double prim[RC_RING_MAX_MEMBERS], repl[RC_RING_MAX_MEMBERS], maxp = 0;
    const uint64_t *ids = NULL;
    size_t n = co->ring ? rc_ring_members(co->ring, &ids) : 0, i;
    msgpack_packer pk = *pkp;
    char id[17];

    if (n)
        rc_ring_shares(co->ring, co->opts.rf, prim, repl);
    for (i = 0; i < n; i++)
        maxp = prim[i] > maxp ? prim[i] : maxp;
    msgpack_pack_map(&pk, 4);
    pack_str(&pk, "rf"); msgpack_pack_int(&pk, co->opts.rf);
    pack_str(&pk, "vnodes"); msgpack_pack_int(&pk, co->opts.vnodes);
    pack_str(&pk, "max_over_mean"); msgpack_pack_double(&pk, n ? maxp * (double)n : 0);
    pack_str(&pk, "members");
    msgpack_pack_array(&pk, n);
    for (i = 0; i < n; i++) {
        const struct rc_member *m = find_member(co, ids[i]);

        snprintf(id, sizeof(id), "%016" PRIx64, ids[i]);
        msgpack_pack_map(&pk, 6);
        pack_str(&pk, "id"); pack_str(&pk, id);
        pack_str(&pk, "host"); pack_str(&pk, m ? m->host : "?");
        pack_str(&pk, "port"); msgpack_pack_uint16(&pk, m ? m->client_port : 0);
        pack_str(&pk, "vnodes"); msgpack_pack_int(&pk, co->opts.vnodes);
        pack_str(&pk, "primary"); msgpack_pack_double(&pk, prim[i]);
        pack_str(&pk, "replica"); msgpack_pack_double(&pk, repl[i]);
    }
    return 0;
}

static int encode_activity(struct rc_coord *co, msgpack_packer *pk)
{
    if (co->rb == NULL)
        return RC_EUNKNOWN_OP;
    return rc_rebalance_pack_activity(co->rb, pk);
}

/* Live keys in the range vnode i owns: (prev, tok], wrapping for the first
 * vnode; a ring of one vnode owns everything. */
static uint64_t range_keys(struct rc_coord *co, uint64_t prev, uint64_t tok, int first,
                           size_t n, int64_t now)
{
    uint64_t a = 0, b = 0;

    if (n == 1) {
        rc_node_range_count(co->node, 0, UINT64_MAX, now, &a);
        return a;
    }
    if (!first) {
        if (prev < tok)
            rc_node_range_count(co->node, prev + 1, tok, now, &a);
        return a;
    }
    rc_node_range_count(co->node, 0, tok, now, &a);
    if (prev < UINT64_MAX)
        rc_node_range_count(co->node, prev + 1, UINT64_MAX, now, &b);
    return a + b;
}

/* The keys-held census: live keys this node holds as primary and as a
 * secondary replica (keys beyond their sum are in ranges it no longer
 * replicates), counted vnode range by vnode range of the current ring in
 * small steps on a timer, so STATS never waits for a scan of the store.
 * A pass publishes its totals when it completes; a ring change restarts
 * the pass. */
static void on_census(uv_timer_t *t)
{
    struct rc_coord *co = container_of(t, struct rc_coord, census_timer);
    const uint64_t *tokens;
    uint64_t ids[RC_RING_MAX_RF], count;
    size_t n, end;
    int k, j, mine;
    int64_t now = rc_node_now_ms();
    uint64_t t0 = uv_hrtime(), pause_ms;

    if (co->ring == NULL)
        return;
    n = rc_ring_tokens(co->ring, &tokens);
    end = co->census_idx + CENSUS_STEP < n ? co->census_idx + CENSUS_STEP : n;
    for (; co->census_idx < end; co->census_idx++) {
        size_t i = co->census_idx;

        k = rc_ring_replicas(co->ring, tokens[i], co->opts.rf, ids);
        for (j = 0, mine = -1; j < k; j++)
            if (ids[j] == co->self)
                mine = j;
        if (mine < 0)
            continue;
        count = range_keys(co, i > 0 ? tokens[i - 1] : tokens[n - 1], tokens[i], i == 0, n, now);
        if (mine == 0)
            co->census_acc_primary += count;
        else
            co->census_acc_replica += count;
    }
    co->census_cost_ns += uv_hrtime() - t0;
    if (co->census_idx < n)
        return;
    co->census_primary = co->census_acc_primary;
    co->census_replica = co->census_acc_replica;
    co->census_acc_primary = co->census_acc_replica = 0;
    co->census_idx = 0;
    pause_ms = co->census_cost_ns / 1000000 * CENSUS_PAUSE_FACTOR;
    co->census_cost_ns = 0;
    uv_timer_start(&co->census_timer, on_census, pause_ms > CENSUS_MS ? pause_ms : CENSUS_MS,
                   CENSUS_TICK_MS);
}

static int reply_view(struct rc_coord *co, const struct rc_request *req, struct rc_buf *out,
                      int (*enc)(struct rc_coord *, msgpack_packer *))
{
    struct rc_reply rep = {.id = req->id};
    struct view_buf vb = {&co->scratch, 0};
    msgpack_packer pk;
    int rv;

    rc_buf_reset(&co->scratch);
    msgpack_packer_init(&pk, &vb, buf_write);
    rv = enc(co, &pk);
    if (rv == 0)
        rv = vb.err;
    if (rv == 0 && rc_buf_used(&co->scratch) == 0)
        rv = RC_EINTERNAL;
    if (rv < 0)
        return reply_error(co, out, req->id, rv, NULL);
    rep.has_value = 1;
    rep.value = rc_buf_rptr(&co->scratch);
    rep.value_len = (uint32_t)rc_buf_used(&co->scratch);
    return rc_encode_reply(out, &rep);
}

/* Capped: a counter added beyond the array is dropped, not written past
 * it (a test checks every name arrives). */
#define MAX_STATS RC_COORD_MAX_STATS
#define STAT_NUM(arr, i, nm, v)                                                          \
    do {                                                                                 \
        if ((i) < MAX_STATS)                                                             \
            (arr)[(i)++] = (struct rc_stat){.name = (nm), .name_len = sizeof(nm) - 1,    \
                                            .num = (int64_t)(v)};                        \
    } while (0)
#define STAT_STR(arr, i, nm, v)                                                          \
    do {                                                                                 \
        if ((i) < MAX_STATS)                                                             \
            (arr)[(i)++] = (struct rc_stat){.name = (nm), .name_len = sizeof(nm) - 1,    \
                                            .is_str = 1, .str = (v),                     \
                                            .str_len = (uint32_t)strlen(v)};             \
    } while (0)

/* The peer pool's breakers (peer.h). */
static uint32_t fill_peer_stats(const struct rc_coord *co, struct rc_stat *st, uint32_t k)
{
    struct rc_peers_stats ps;

    rc_peers_stats(co->peers, &ps);
    STAT_NUM(st, k, "peer_breaker_open", ps.breaker_open);
    STAT_NUM(st, k, "peer_breaker_trips", ps.breaker_trips);
    STAT_NUM(st, k, "peer_fast_fails", ps.fast_fails);
    return k;
}

/* Fills st (RC_COORD_MAX_STATS entries) with the STATS counters. */
static uint32_t fill_stats(struct rc_coord *co, struct rc_stat *st)
{
    const struct rc_node_opts *no = rc_node_opts(co->node);
    static const struct rc_seal_stats no_seal;
    const struct rc_seal_stats *ss = co->seal != NULL ? co->seal : &no_seal;
    struct rc_rebalance_stats rs = {0};
    struct rc_node_stats ns;
    struct rc_net_stats cs = {0};
    struct rc_skew_view clock = {0};
    size_t i, alive = 0, known = 0;
    uint32_t k = 0;

    rc_node_stats(co->node, &ns);
    if (co->rb)
        rc_rebalance_stats(co->rb, &rs);
    if (co->net)
        rc_net_stats(co->net, &cs);
    for (i = 0; i < co->nmembers; i++) {
        alive += co->members[i].state == RC_MEMBER_ALIVE;
        known += co->members[i].state != RC_MEMBER_LEFT;
    }
    known += co->nexpected;
    STAT_STR(st, k, "version", RC_VERSION);
    STAT_STR(st, k, "node_id", rc_node_id_hex(co->node));
    STAT_NUM(st, k, "pid", getpid());
    STAT_NUM(st, k, "uptime_s", (rc_node_now_ms() - co->start_ms) / 1000);
    STAT_STR(st, k, "data_dir", no->data_dir);
    STAT_NUM(st, k, "keys", ns.store.keys);
    STAT_NUM(st, k, "tombstones", ns.store.tombstones);
    STAT_NUM(st, k, "bytes", ns.store.bytes);
    STAT_NUM(st, k, "db_bytes", ns.store.db_bytes);
    STAT_NUM(st, k, "db_wal_bytes", ns.store.wal_bytes);
    STAT_NUM(st, k, "db_checkpoints", ns.store.checkpoints);
    STAT_NUM(st, k, "connections", cs.conns);
    STAT_NUM(st, k, "connections_total", cs.conns_total);
    STAT_NUM(st, k, "connections_rejected", cs.conns_rejected);
    STAT_NUM(st, k, "ops_ping", co->ops.ping);
    STAT_NUM(st, k, "ops_get", co->ops.get);
    STAT_NUM(st, k, "ops_put", co->ops.put);
    STAT_NUM(st, k, "ops_del", co->ops.del);
    STAT_NUM(st, k, "ops_stats", co->ops.stats);
    STAT_NUM(st, k, "ops_members", co->ops.members);
    STAT_NUM(st, k, "ops_ring", co->ops.ring);
    STAT_NUM(st, k, "hits", co->ops.hits);
    STAT_NUM(st, k, "misses", co->ops.misses);
    STAT_NUM(st, k, "errors", co->ops.errors);
    STAT_NUM(st, k, "errors_unavailable", co->ops.unavailable);
    STAT_NUM(st, k, "errors_timeout", co->ops.timeouts);
    STAT_NUM(st, k, "protocol_errors", cs.protocol_errors);
    STAT_NUM(st, k, "read_pauses", cs.read_pauses);
    STAT_NUM(st, k, "closed_idle", cs.closed_idle);
    STAT_NUM(st, k, "closed_slow_frame", cs.closed_slow_frame);
    STAT_NUM(st, k, "closed_write_stall", cs.closed_write_stall);
    STAT_NUM(st, k, "closed_output_limit", cs.closed_out_limit);
    STAT_NUM(st, k, "closed_auth_timeout", cs.closed_auth_timeout);
    STAT_NUM(st, k, "auth_ok", cs.auth_ok);
    STAT_NUM(st, k, "auth_failures", cs.auth_failures);
    STAT_NUM(st, k, "auth_closed", cs.auth_closed);
    STAT_NUM(st, k, "auth_rejected", cs.auth_rejected);
    STAT_NUM(st, k, "expired_purged", ns.purged);
    STAT_NUM(st, k, "replica_writes", ns.repl_writes);
    STAT_NUM(st, k, "replica_reads", ns.repl_reads);
    STAT_NUM(st, k, "read_repairs", co->ops.read_repairs);
    STAT_NUM(st, k, "hints_pending", co->nhints);
    STAT_NUM(st, k, "hints_bytes", co->hint_bytes);
    STAT_NUM(st, k, "hints_stored", co->ops.hints_stored);
    STAT_NUM(st, k, "hints_delivered", co->ops.hints_delivered);
    STAT_NUM(st, k, "hints_dropped", co->ops.hints_dropped);
    STAT_NUM(st, k, "clock_drift_rejects", ns.drift_rejects);
    STAT_NUM(st, k, "writes_refused_clock_ahead", co->ops.drift_refused);
    STAT_NUM(st, k, "replica_writes_superseded", ns.superseded);
    STAT_NUM(st, k, "writes_superseded_retried", co->ops.superseded_retries);
    STAT_NUM(st, k, "errors_superseded", co->ops.superseded);
    STAT_NUM(st, k, "errors_not_in_contact", co->ops.uncontacted);
    STAT_NUM(st, k, "in_contact", !co->need_contact ||
                                      (co->gossip != NULL && rc_gossip_synced(co->gossip)));
    STAT_NUM(st, k, "members_forgotten", co->ops.forgotten);
    STAT_NUM(st, k, "read_cache_hits", ns.cache.hits);
    STAT_NUM(st, k, "read_cache_misses", ns.cache.misses);
    STAT_NUM(st, k, "read_cache_entries", ns.cache.entries);
    STAT_NUM(st, k, "read_cache_bytes", ns.cache.bytes);
    STAT_NUM(st, k, "keys_primary", co->census_primary);
    STAT_NUM(st, k, "keys_replica", co->census_replica);
    STAT_NUM(st, k, "stream_keys_out", rs.keys_out);
    STAT_NUM(st, k, "stream_bytes_out", rs.bytes_out);
    STAT_NUM(st, k, "stream_keys_in", rs.keys_in);
    STAT_NUM(st, k, "stream_bytes_in", rs.bytes_in);
    STAT_NUM(st, k, "stream_ranges_sent", rs.ranges_sent);
    STAT_NUM(st, k, "stream_ranges_in_place", rs.ranges_skipped);
    STAT_NUM(st, k, "ranges_dropped", rs.ranges_dropped);
    STAT_NUM(st, k, "keys_dropped", rs.keys_dropped);
    STAT_NUM(st, k, "stream_cleanups", rs.sweeps);
    STAT_NUM(st, k, "stream_failures", rs.stream_failures);
    STAT_NUM(st, k, "resp_replies_too_large", co->resp ? co->resp->replies_too_large : 0);
    STAT_NUM(st, k, "stream_skipped", rs.stream_skipped);
    STAT_NUM(st, k, "anti_entropy_passes", rs.repairs);
    STAT_NUM(st, k, "anti_entropy_repairs", rs.repairs_sent);
    STAT_NUM(st, k, "rebalances", rs.rebalances);
    STAT_NUM(st, k, "rebalance_running", rs.running);
    STAT_NUM(st, k, "members", co->nmembers);
    STAT_NUM(st, k, "members_alive", alive);
    STAT_NUM(st, k, "members_known", known);
    STAT_NUM(st, k, "replication_factor", co->opts.rf);
    STAT_NUM(st, k, "read_quorum", co->opts.r);
    STAT_NUM(st, k, "write_quorum", co->opts.w);
    STAT_NUM(st, k, "vnodes", co->opts.vnodes);
    STAT_NUM(st, k, "max_key_size", no->max_key);
    STAT_NUM(st, k, "max_value_size", no->max_value);
    STAT_NUM(st, k, "max_frame_size", (int64_t)no->max_value + no->max_key + 4096);
    STAT_NUM(st, k, "cluster_key", co->keyed);
    STAT_NUM(st, k, "gossip_auth_failures", ss->gossip_auth_failures);
    STAT_NUM(st, k, "gossip_replays", ss->gossip_replays);
    STAT_NUM(st, k, "peer_auth_failures", ss->peer_auth_failures);
    if (co->gossip != NULL)
        rc_gossip_clock_view(co->gossip, &clock);
    STAT_NUM(st, k, "clock_ahead_ms", clock.ahead_ms);
    STAT_NUM(st, k, "clock_skewed_peers", clock.skewed);
    k = fill_peer_stats(co, st, k);
    return k;
}

static int do_stats(struct rc_coord *co, const struct rc_request *req, struct rc_buf *out)
{
    struct rc_stat st[RC_COORD_MAX_STATS];
    struct rc_reply rep = {.id = req->id};
    uint32_t k = fill_stats(co, st);

    rep.stats = st;
    rep.nstats = k;
    return rc_encode_reply(out, &rep);
}

static int forget_expected(struct rc_coord *co, uint64_t id);

/* FORGET: KEY is a dead member's id in 16 hex digits. */
static int do_forget(struct rc_coord *co, const struct rc_request *req, struct rc_buf *out)
{
    struct rc_reply rep = {.id = req->id};
    char hex[17];
    uint64_t id = 0;
    int rv, i;

    if (!req->has_key || req->key_len != 16)
        return reply_error(co, out, req->id, RC_EINVAL, "key must be a member id: 16 hex digits");
    for (i = 0; i < 16; i++) {
        int c = req->key[i], d = c >= '0' && c <= '9'   ? c - '0'
                                 : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                 : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                        : -1;

        if (d < 0)
            return reply_error(co, out, req->id, RC_EINVAL,
                               "key must be a member id: 16 hex digits");
        id = id << 4 | (uint64_t)d;
        hex[i] = (char)c;
    }
    hex[16] = '\0';
    if (co->gossip == NULL)
        return reply_error(co, out, req->id, RC_EUNAVAILABLE, "gossip is not running");
    rv = rc_gossip_forget(co->gossip, id);
    if (rv == RC_ENOTFOUND)
        rv = forget_expected(co, id);
    if (rv == RC_ENOTFOUND)
        return reply_error(co, out, req->id, rv, "no such member (unknown, or already gone)");
    if (rv == RC_EINVAL)
        return reply_error(co, out, req->id, rv,
                           "only a dead member can be forgotten (stop it, or let it leave)");
    if (rv < 0)
        return reply_error(co, out, req->id, rv, NULL);
    co->ops.forgotten++;
    rc_log_info(co->log, "member %s forgotten by an operator: it no longer counts for quorums",
                hex);
    return rc_encode_reply(out, &rep);
}

static int on_request(void *arg, struct rc_net *net, const struct rc_request *req,
                      struct rc_buf *out)
{
    struct rc_coord *co = arg;
    struct rc_reply rep = {.id = req->id};
    struct sink sk = {net, out, NULL, NULL};
    int rv;

    switch (req->op) {
    case RC_OP_PING:
        co->ops.ping++;
        rep.value = req->value;
        rep.value_len = req->value_len;
        rep.has_value = req->has_value;
        return rc_encode_reply(out, &rep);
    case RC_OP_GET:
    case RC_OP_PUT:
    case RC_OP_DEL:
        if (req->op == RC_OP_GET)
            co->ops.get++;
        else if (req->op == RC_OP_PUT)
            co->ops.put++;
        else
            co->ops.del++;
        if (check_request(co, req, &sk, &rv))
            return rv;
        return start_op(co, req, &sk);
    case RC_OP_STATS:
        co->ops.stats++;
        return do_stats(co, req, out);
    case RC_OP_MEMBERS:
        co->ops.members++;
        return reply_view(co, req, out, encode_members);
    case RC_OP_RING:
        co->ops.ring++;
        return reply_view(co, req, out, encode_ring);
    case RC_OP_ACTIVITY:
        return reply_view(co, req, out, encode_activity);
    case RC_OP_FORGET:
        return do_forget(co, req, out);
    default:
        return reply_error(co, out, req->id, RC_EUNKNOWN_OP, NULL);
    }
}

size_t rc_coord_stats(struct rc_coord *co, struct rc_stat *st)
{
    return fill_stats(co, st);
}

size_t rc_coord_members(const struct rc_coord *co, const struct rc_member **members)
{
    *members = co->members;
    return co->nmembers;
}

const struct rc_ring *rc_coord_ring(const struct rc_coord *co, int *rf)
{
    *rf = co->opts.rf;
    return co->ring;
}

void rc_coord_submit(struct rc_coord *co, const struct rc_request *req, rc_coord_cb cb, void *arg)
{
    struct sink sk = {NULL, NULL, cb, arg};
    struct rc_reply rep;
    int rv;

    if (req->op == RC_OP_GET)
        co->ops.get++;
    else if (req->op == RC_OP_PUT)
        co->ops.put++;
    else if (req->op == RC_OP_DEL)
        co->ops.del++;
    else {
        rc_reply_error(&rep, req->id, RC_EUNKNOWN_OP, NULL);
        cb(arg, &rep);
        return;
    }
    if (check_request(co, req, &sk, &rv))
        return;
    start_op(co, req, &sk);
}

void rc_coord_handler(struct rc_coord *co, struct rc_net_handler *h)
{
    h->arg = co;
    h->request = on_request;
}

void rc_coord_set_net(struct rc_coord *co, struct rc_net *net)
{
    co->net = net;
}

void rc_coord_set_rebalance(struct rc_coord *co, struct rc_rebalance *rb)
{
    co->rb = rb;
}

void rc_coord_set_gossip(struct rc_coord *co, struct rc_gossip *g)
{
    co->gossip = g;
}

void rc_coord_set_skew(struct rc_coord *co, rc_coord_skew_fn fn, void *arg)
{
    co->skew_fn = fn;
    co->skew_arg = arg;
}

void rc_coord_set_seal_stats(struct rc_coord *co, int keyed, const struct rc_seal_stats *st)
{
    co->keyed = keyed;
    co->seal = st;
}

void rc_coord_set_resp_stats(struct rc_coord *co, const struct rc_resp_stats *st)
{
    co->resp = st;
}

/* Once another member was seen alive, a restart of this node must wait
 * for contact before it serves QUORUM and ALL (it is part of a cluster
 * now), even without --seeds: remembered in the node's metadata. */
static void note_peers(struct rc_coord *co, const struct rc_member *members, size_t n)
{
    size_t i;

    if (co->had_peers)
        return;
    for (i = 0; i < n; i++) {
        if (members[i].id != co->self && members[i].state == RC_MEMBER_ALIVE) {
            co->had_peers = 1;
            if (rc_node_meta_set(co->node, "had_peers", 1) < 0)
                rc_log_warn(co->log, "cannot save had_peers: a restart without --seeds "
                                     "may serve QUORUM before it rejoins");
            return;
        }
    }
}

/* Builds the ring of the live members (alive, suspect), or with home set,
 * of every member that has not left (dead ones included) and the expected
 * ones gossip has not mentioned yet. */
static int ring_of(const struct rc_coord *co, const struct rc_member *members, size_t n,
                   int home, struct rc_ring **out)
{
    uint64_t *ids = malloc((n + co->nexpected + 1) * sizeof(*ids));
    size_t i, k = 0;
    int rv;

    if (ids == NULL)
        return RC_ENOMEM;
    for (i = 0; i < n && k < RC_RING_MAX_MEMBERS; i++) {
        enum rc_member_state st = members[i].state;

        if (st == RC_MEMBER_ALIVE || st == RC_MEMBER_SUSPECT || (home && st == RC_MEMBER_DEAD))
            ids[k++] = members[i].id;
    }
    for (i = 0; home && i < co->nexpected && k < RC_RING_MAX_MEMBERS; i++)
        ids[k++] = co->expected[i];
    rv = rc_ring_new(ids, k, co->opts.vnodes, out);
    free(ids);
    return rv;
}

/* ---- members known across restarts ----------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Loads the member ids saved before a restart (none on a fresh or
 * in-memory node) as expected: home replicas until gossip mentions them. */
static void load_known(struct rc_coord *co)
{
    uint64_t n = 0, id;
    char name[32];
    size_t i;

    if (rc_node_meta_get(co->node, "known_n", &n) < 0 || n == 0 || n > RC_RING_MAX_MEMBERS)
        return;
    co->expected = malloc(n * sizeof(*co->expected));
    if (co->expected == NULL)
        return;
    for (i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "known_%zu", i);
        if (rc_node_meta_get(co->node, name, &id) < 0)
            break;
        if (id != co->self)
            co->expected[co->nexpected++] = id;
    }
}

/* Drops the expected ids gossip now mentions (in any state: its word is
 * the truth from now on). */
static void prune_expected(struct rc_coord *co, const struct rc_member *members, size_t n)
{
    size_t i, j, k = 0;

    for (i = 0; i < co->nexpected; i++) {
        for (j = 0; j < n && members[j].id != co->expected[i]; j++)
            ;
        if (j == n)
            co->expected[k++] = co->expected[i];
    }
    co->nexpected = k;
}

/* Saves the member set (not left, expected ones included) when it changed,
 * for the next start of this node. Membership changes are rare: a few
 * small metadata rows each. */
static void save_known(struct rc_coord *co, const struct rc_member *members, size_t n)
{
    uint64_t *ids = malloc((n + co->nexpected + 1) * sizeof(*ids)), digest;
    size_t i, k = 0;
    char name[32];
    int rv = 0;

    if (ids == NULL)
        return;
    for (i = 0; i < n && k < RC_RING_MAX_MEMBERS; i++)
        if (members[i].state != RC_MEMBER_LEFT)
            ids[k++] = members[i].id;
    for (i = 0; i < co->nexpected && k < RC_RING_MAX_MEMBERS; i++)
        ids[k++] = co->expected[i];
    qsort(ids, k, sizeof(*ids), cmp_u64);
    digest = XXH3_64bits(ids, k * sizeof(*ids));
    if (digest != co->known_digest) {
        for (i = 0; rv == 0 && i < k; i++) {
            snprintf(name, sizeof(name), "known_%zu", i);
            rv = rc_node_meta_set(co->node, name, ids[i]);
        }
        if (rv == 0)
            rv = rc_node_meta_set(co->node, "known_n", k);
        if (rv < 0)
            rc_log_warn(co->log, "cannot save the member list: %s", rc_strerror(rv));
        else
            co->known_digest = digest;
    }
    free(ids);
}

/* FORGET of an id gossip does not know but this node expected (it was a
 * member before this node's restart, and its "left" record is gone). */
static int forget_expected(struct rc_coord *co, uint64_t id)
{
    size_t i;

    for (i = 0; i < co->nexpected && co->expected[i] != id; i++)
        ;
    if (i == co->nexpected)
        return RC_ENOTFOUND;
    co->expected[i] = co->expected[--co->nexpected];
    return rc_coord_set_members(co, co->members, co->nmembers);
}

int rc_coord_set_members(struct rc_coord *co, const struct rc_member *members, size_t n)
{
    struct rc_member *copy;
    struct rc_ring *ring = NULL, *home = NULL;
    int rv;

    copy = malloc((n ? n : 1) * sizeof(*copy));
    if (copy == NULL)
        return RC_ENOMEM;
    prune_expected(co, members, n);
    rv = ring_of(co, members, n, 0, &ring);
    if (rv == 0)
        rv = ring_of(co, members, n, 1, &home);
    if (rv < 0) {
        rc_ring_free(ring);
        free(copy);
        return rv;
    }
    memcpy(copy, members, n * sizeof(*copy));
    free(co->members);
    co->members = copy;
    co->nmembers = n;
    rc_ring_free(co->ring);
    co->ring = ring;
    rc_ring_free(co->home);
    co->home = home;
    note_peers(co, copy, n);
    save_known(co, copy, n);
    /* Ownership changed: start a new count now (the last totals stay
     * published until it completes). */
    co->census_idx = 0;
    co->census_acc_primary = co->census_acc_replica = 0;
    co->census_cost_ns = 0;
    uv_timer_start(&co->census_timer, on_census, 0, CENSUS_TICK_MS);
    return 0;
}

int rc_coord_new(uv_loop_t *loop, const struct rc_coord_opts *opts, struct rc_node *node,
                 struct rc_peers *peers, const struct rc_log *log, struct rc_coord **out)
{
    struct rc_coord *co;
    uint64_t had = 0;

    *out = NULL;
    co = calloc(1, sizeof(*co));
    if (co == NULL)
        return RC_ENOMEM;
    co->loop = loop;
    co->opts = *opts;
    co->node = node;
    co->peers = peers;
    co->log = log;
    co->self = rc_node_id(node);
    co->start_ms = rc_node_now_ms();
    if (rc_node_meta_get(node, "had_peers", &had) == 0 && had)
        co->had_peers = 1;
    co->need_contact = opts->has_seeds || co->had_peers;
    load_known(co);
    /* Members view of 1024 nodes is about 150 KiB. */
    rc_buf_init(&co->scratch, 1u << 20);
    uv_timer_init(loop, &co->hint_timer);
    uv_timer_start(&co->hint_timer, on_hint_timer, HINT_INTERVAL_MS, HINT_INTERVAL_MS);
    uv_unref((uv_handle_t *)&co->hint_timer);
    uv_timer_init(loop, &co->census_timer);
    uv_unref((uv_handle_t *)&co->census_timer);
    *out = co;
    return 0;
}

void rc_coord_leaving(struct rc_coord *co)
{
    co->leaving = 1;
}

void rc_coord_stop(struct rc_coord *co)
{
    uv_close((uv_handle_t *)&co->hint_timer, NULL);
    uv_close((uv_handle_t *)&co->census_timer, NULL);
}

void rc_coord_free(struct rc_coord *co)
{
    if (co == NULL)
        return;
    while (co->hints_head)
        hint_unlink(co, co->hints_head);
    rc_ring_free(co->ring);
    rc_ring_free(co->home);
    free(co->expected);
    free(co->members);
    rc_buf_close(&co->scratch);
    free(co);
}
