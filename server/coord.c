/*
 * coord.c - coordinates client operations across the key's replicas (see
 * coord.h).
 *
 * Each GET/PUT/DEL becomes an op: the key's home replicas come from the
 * cluster view (cluster.h), every replica is asked (the local one directly,
 * others over the peer pool), and the front end is answered as soon as the
 * quorum is met or can no longer be met. The op lives on until every
 * replica has answered or timed out (the peer pool guarantees one callback
 * each), so late answers still feed read repair and hints. A read on a
 * single-node ring is answered without an op.
 */
#include "coord.h"
#include "codec.h"
#include "err.h"
#include "lathist.h"
#include "ring.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A TTL beyond a century is certainly a unit mistake (ms vs s). */
#define MAX_TTL_MS (100ULL * 365 * 24 * 3600 * 1000)
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
    int evicted;           /* reads: not found on a replica that evicts */
    int existed;           /* local write: it replaced a live value */
    struct rc_version ver; /* reads: the version this replica has */
};

struct op {
    struct rc_coord *co;
    rc_coord_done later;      /* the front end's answer, with arg */
    void *arg;
    int waiting;              /* not answered yet */
    uint64_t t0_ns;           /* uv_hrtime() at rc_coord_run: its latency */
    uint32_t tag;
    int kind;
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
    int has_evicted;              /* reads: some replica evicted the key... */
    struct rc_version evicted;    /* ...at this version at newest */
    uint8_t *key;
    size_t key_len;
    uint8_t *value; /* write: inline after the op; read: the newest, malloc'd */
    size_t value_len;
    struct op_rep rep[MAX_TARGETS];
};

struct rc_coord {
    struct rc_coord_opts opts;
    struct rc_node *node;
    struct rc_peers *peers;
    struct rc_cluster *cluster;
    struct rc_hints *hints;
    uint64_t self;
    int leaving;
    struct rc_coord_stats st;
    /* Latency from rc_coord_run to the answer, per kind (index kind - 1);
     * the request being run now, for the answers given during it. */
    struct rc_lathist lat[RC_COORD_DEL];
    uint64_t run_t0_ns;
    int run_kind;
};

static void observe(struct rc_coord *co, int kind, uint64_t t0_ns)
{
    if (kind >= RC_COORD_GET && kind <= RC_COORD_DEL)
        rc_lathist_observe(&co->lat[kind - 1], uv_hrtime() - t0_ns);
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

/* Answers the front end at once (during rc_coord_run). */
static void answer_now(struct rc_coord *co, const struct rc_coord_sink *sk,
                       struct rc_coord_res *res)
{
    if (res->err < 0 && res->err != RC_ENOTFOUND) {
        co->st.errors++;
        if (res->err == RC_EUNAVAILABLE)
            co->st.unavailable++;
    }
    observe(co, co->run_kind, co->run_t0_ns);
    sk->now(sk->arg, res);
}

static void fail_now(struct rc_coord *co, const struct rc_coord_sink *sk, uint32_t tag, int err,
                     const char *msg)
{
    struct rc_coord_res res = {.tag = tag, .err = err, .msg = msg};

    answer_now(co, sk, &res);
}

/* Validates what every operation needs. 0, or the error (msg filled). */
static int check_request(const struct rc_coord *co, const struct rc_coord_req *req, char *msg,
                         size_t len)
{
    const struct rc_node_opts *no = rc_node_opts(co->node);

    if (req->key == NULL || req->key_len == 0) {
        snprintf(msg, len, "%s", req->key == NULL ? "missing key" : "empty key");
        return RC_EINVAL;
    }
    if (req->key_len > no->max_key) {
        snprintf(msg, len, "key is %zu bytes, limit is %u", req->key_len, no->max_key);
        return RC_EKEY_TOO_LARGE;
    }
    if (req->kind == RC_COORD_PUT && req->value == NULL) {
        snprintf(msg, len, "missing value");
        return RC_EINVAL;
    }
    if (req->kind == RC_COORD_PUT && req->value_len > no->max_value) {
        snprintf(msg, len, "value is %zu bytes, limit is %u", req->value_len, no->max_value);
        return RC_EVALUE_TOO_LARGE;
    }
    if (req->ttl_ms > MAX_TTL_MS) {
        snprintf(msg, len, "ttl longer than 100 years");
        return RC_EINVAL;
    }
    if (req->level > RC_CL_ANY) {
        snprintf(msg, len, "consistency must be 1 (one), 2 (quorum), 3 (all) or 4 (any)");
        return RC_EINVAL;
    }
    return 0;
}

/* ---- ops ------------------------------------------------------------ */

static void op_free(struct op *op)
{
    if (op->kind == RC_COORD_GET)
        free(op->value);
    free(op);
}

static int entry_live(int found, int tomb, int64_t expires)
{
    return found && !tomb && (expires == 0 || expires > rc_node_now_ms());
}

/* A replica evicted a version newer than the newest value any replica
 * gave: that value is older than one acknowledged, so the read is a miss
 * (a cache's answer), never the older value. */
static int evicted_newer(const struct op *op)
{
    return op->has_evicted &&
           (!op->best_found || rc_version_cmp(&op->evicted, &op->ver) > 0);
}

/* Notes that rp found nothing because it evicted the key at ver. */
static void rep_evicted(struct op_rep *rp, const struct rc_version *ver)
{
    struct op *op = rp->op;

    if (!op->has_evicted || rc_version_cmp(ver, &op->evicted) > 0) {
        op->evicted = *ver;
        op->has_evicted = 1;
    }
}

static void op_answer(struct op *op, const struct rc_coord_res *res)
{
    op->waiting = 0;
    observe(op->co, op->kind, op->t0_ns);
    op->later(op->arg, res);
}

static void answer_read(struct op *op)
{
    struct rc_coord *co = op->co;
    struct rc_coord_res res = {.tag = op->tag};
    int64_t now = rc_node_now_ms();

    if (!entry_live(op->best_found, op->best_tomb, op->expires) || evicted_newer(op)) {
        co->st.misses++;
        res.err = RC_ENOTFOUND;
    } else {
        co->st.hits++;
        res.has_value = 1;
        res.value = op->value ? op->value : (const uint8_t *)"";
        res.value_len = op->value_len;
        res.has_version = 1;
        res.ver = op->ver;
        if (op->expires > 0)
            res.ttl_ms = (uint64_t)(op->expires > now ? op->expires - now : 1);
    }
    op_answer(op, &res);
}

static void answer_write(struct op *op)
{
    struct rc_coord_res res = {.tag = op->tag, .has_version = 1, .ver = op->ver};

    if (op->kind == RC_COORD_DEL && !op->existed)
        res.err = RC_ENOTFOUND;
    op_answer(op, &res);
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

    if (!op->best_found || (op->expires > 0 && op->expires <= rc_node_now_ms()) ||
        evicted_newer(op))
        return;
    for (i = 0; i < op->nrep; i++) {
        struct op_rep *rp = &op->rep[i];

        if (!rp->ok || (rp->found && rc_version_cmp(&rp->ver, &op->ver) >= 0))
            continue;
        if (!rp->found && rp->evicted) {
            /* A replica that evicts and lacks the key most likely chose
             * to drop it: putting it back would undo its evictions on
             * every read (traffic growing with the eviction rate). */
            co->st.read_repairs_evicted++;
            continue;
        }
        co->st.read_repairs++;
        if (rp->node == co->self) {
            rc_node_write(co->node, op->key, op->key_len, tomb ? NULL : op->value,
                          op->value_len, &op->ver, op->expires, noop_write_cb, NULL, NULL,
                          NULL);
            continue;
        }
        m = rc_cluster_find(co->cluster, rp->node);
        if (m == NULL)
            continue;
        rc_request_repl_write(&r, op->key, op->key_len,
                              op->value ? op->value : (const uint8_t *)"", op->value_len, tomb,
                              op->ver.hlc, op->ver.node, op->expires);
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
    struct rc_coord_res res = {.tag = op->tag, .err = RC_ESUPERSEDED};
    char msg[128];

    op->co->st.errors++;
    op->co->st.superseded++;
    snprintf(msg, sizeof(msg),
             "newer writes to the key won %d rounds in a row (concurrent writers)", op->round);
    res.msg = msg;
    op_answer(op, &res);
}

static void answer_failed(struct op *op)
{
    struct rc_coord *co = op->co;
    int err = client_error(op->last_err);
    struct rc_coord_res res = {.tag = op->tag, .err = err};
    char msg[128];

    snprintf(msg, sizeof(msg), "%d of %d replicas answered, %d needed (last error: %s)",
             op->acks, op->ncount, op->needed, rc_strerror(op->last_err));
    co->st.errors++;
    if (err == RC_ETIMEOUT)
        co->st.timeouts++;
    else if (err == RC_EUNAVAILABLE)
        co->st.unavailable++;
    res.msg = err == RC_ETIMEOUT || err == RC_EUNAVAILABLE ? msg : NULL;
    op_answer(op, &res);
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
    struct rc_coord_res res = {.tag = op->tag, .err = RC_EDRIFT};
    int i;

    if (op->round >= MAX_WRITE_ROUNDS)
        return -1;
    if (rc_node_observe(co->node, op->newest.hlc) < 0) {
        /* The newer version comes from a clock beyond --max-drift: this
         * write cannot be ordered after it without dragging our clock. */
        res.msg = "a newer version of the key is stamped beyond --max-drift ahead";
        co->st.errors++;
        op_answer(op, &res);
        return -1;
    }
    co->st.superseded_retries++;
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
        if (op->kind == RC_COORD_GET)
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
    if (op->kind == RC_COORD_GET)
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
    if (op->kind != RC_COORD_GET && rp->node != op->co->self &&
        (err == RC_ETIMEOUT || err == RC_ECONNECT || err == RC_ECLOSED ||
         err == RC_EBUFFER_FULL) &&
        (m = rc_cluster_find(op->co->cluster, rp->node)) != NULL && m->state != RC_MEMBER_DEAD)
        rc_hints_add(op->co->hints, rp->node, op->key, op->key_len,
                     op->kind == RC_COORD_DEL ? NULL : op->value, op->value_len, &op->ver,
                     op->expires);
    if (rp->node != op->co->self && op->kind != RC_COORD_GET && remote_answered(op, err))
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
        rp->evicted = rep->status != 0 && rep->evicted;
        if (rp->evicted && rep->has_version) {
            ver.hlc = rep->ver_hlc;
            ver.node = rep->ver_node;
            rep_evicted(rp, &ver);
        }
        rep_read(rp, 0, 0, NULL, NULL, 0, 0);
        return;
    }
    ver.hlc = rep->ver_hlc;
    ver.node = rep->ver_node;
    if (ver.hlc < rc_node_flush_epoch(rp->op->co->node)) {
        /* Written before a FLUSHALL the replica has not heard of yet. */
        rep_read(rp, 0, 0, NULL, NULL, 0, 0);
        return;
    }
    rep_read(rp, 1, rep->tombstone, &ver, rep->value, rep->value_len,
             (int64_t)rep->expires_ms);
}

static void local_read(struct op_rep *rp)
{
    struct op *op = rp->op;
    struct rc_version ver;
    struct rc_entry e;
    int rv;

    rv = rc_node_get(op->co->node, op->key, op->key_len, &e);
    if (rv == RC_ENOTFOUND) {
        rp->evicted = rc_node_evicting(op->co->node);
        if (rp->evicted && rc_node_evicted(op->co->node, op->key, op->key_len, &ver))
            rep_evicted(rp, &ver);
        rep_read(rp, 0, 0, NULL, NULL, 0, 0);
    } else if (rv < 0) {
        rep_fail(rp, rv);
    } else {
        rep_read(rp, 1, e.tombstone, &e.ver, e.value, e.value_len, e.expires_ms);
    }
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
                       op->kind == RC_COORD_DEL ? NULL : op->value, op->value_len, &op->ver,
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

    if (rc_cluster_clock_ahead(co->cluster, &ahead) <= 0)
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
        if (op->kind == RC_COORD_GET)
            local_read(rp);
        else if (op->remote_left > 0 && !local_first(co))
            op->local_held = 1; /* remote_answered() releases it */
        else
            write_local(op);
        return;
    }
    m = rc_cluster_find(co->cluster, rp->node);
    if (m == NULL || (m->state != RC_MEMBER_ALIVE && m->state != RC_MEMBER_SUSPECT)) {
        rep_fail(rp, RC_EUNAVAILABLE); /* a dead home replica */
        return;
    }
    if (op->kind == RC_COORD_GET) {
        memset(&r, 0, sizeof(r));
        r.op = RC_OP_REPL_READ;
        r.key = op->key;
        r.key_len = (uint32_t)op->key_len;
        r.has_key = 1;
        rv = rc_peers_send(co->peers, m->id, m->host, m->peer_port, &r, co->opts.timeout_ms,
                           on_remote_read, rp);
    } else {
        rc_request_repl_write(&r, op->key, op->key_len, op->value, op->value_len,
                              op->kind == RC_COORD_DEL, op->ver.hlc, op->ver.node,
                              op->expires);
        rv = rc_peers_send(co->peers, m->id, m->host, m->peer_port, &r, co->opts.timeout_ms,
                           on_remote_write, rp);
    }
    if (rv < 0)
        rep_fail(rp, rv);
}

/* Single-node fast path: the only replica is this node, answer now. */
static void read_local_now(struct rc_coord *co, const struct rc_coord_req *req,
                           const struct rc_coord_sink *sk)
{
    struct rc_coord_res res = {.tag = req->tag};
    struct rc_entry e;
    int64_t now;
    int rv;

    rv = rc_node_get(co->node, req->key, req->key_len, &e);
    if (rv < 0 && rv != RC_ENOTFOUND) {
        fail_now(co, sk, req->tag, rv, NULL);
        return;
    }
    if (rv == RC_ENOTFOUND || e.tombstone) {
        co->st.misses++;
        res.err = RC_ENOTFOUND;
        answer_now(co, sk, &res);
        return;
    }
    co->st.hits++;
    now = rc_node_now_ms();
    res.has_value = 1;
    res.value = e.value;
    res.value_len = e.value_len;
    res.has_version = 1;
    res.ver = e.ver;
    if (e.expires_ms > 0)
        res.ttl_ms = (uint64_t)(e.expires_ms > now ? e.expires_ms - now : 1);
    answer_now(co, sk, &res);
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
static void op_targets(struct rc_coord *co, const struct rc_coord_req *req, struct targets *t)
{
    const struct rc_ring *home = rc_cluster_home(co->cluster);
    const struct rc_ring *ring = rc_cluster_ring(co->cluster);
    uint64_t ids[RC_RING_MAX_RF];
    int nlive, i, j, known;

    t->any = req->level == RC_CL_ANY;
    t->n = t->nhome = home ? rc_ring_replicas_key(home, req->key, req->key_len, co->opts.rf, ids)
                           : 0;
    for (i = 0; i < t->nhome; i++) {
        t->node[i] = ids[i];
        t->counts[i] = 1;
    }
    if (req->kind == RC_COORD_GET && !t->any)
        return;
    nlive = ring ? rc_ring_replicas_key(ring, req->key, req->key_len, co->opts.rf, ids) : 0;
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

    if (level_needs > 1 && !t->any && !rc_cluster_in_contact(co->cluster)) {
        co->st.uncontacted++;
        snprintf(msg, len, "this node has not yet made contact with its cluster "
                           "(QUORUM and ALL wait for it; ONE and ANY are served)");
        return RC_EUNAVAILABLE;
    }
    for (i = 0; i < t->n; i++)
        live += t->counts[i] && rc_cluster_live(co->cluster, t->node[i]);
    if (live < needed) {
        snprintf(msg, len, "%d of %d replicas alive and reachable, %d needed", live,
                 t->any ? t->n : t->nhome, needed);
        return RC_EUNAVAILABLE;
    }
    if (is_write && rc_cluster_clock_ahead(co->cluster, &ahead) > 0 && ahead > limit) {
        co->st.drift_refused++;
        snprintf(msg, len,
                 "this node's clock is %" PRId64 " ms ahead of its peers (limit %" PRId64
                 " ms): fix its time",
                 ahead, limit);
        return RC_EDRIFT;
    }
    return 0;
}

/* A new op for req with targets t, the key and value copied inline. */
static struct op *op_new(struct rc_coord *co, const struct rc_coord_req *req,
                         const struct targets *t, int needed)
{
    size_t vlen = req->kind == RC_COORD_PUT ? req->value_len : 0;
    struct op *op = calloc(1, sizeof(*op) + req->key_len + vlen);
    int i;

    if (op == NULL)
        return NULL;
    op->co = co;
    op->kind = req->kind;
    op->any = t->any;
    op->nrep = t->n;
    op->ncount = t->any ? t->n : t->nhome;
    op->needed = needed;
    op->waiting = 1;
    op->tag = req->tag;
    op->t0_ns = co->run_t0_ns;
    op->round = 1;
    op->local = -1;
    op->key = (uint8_t *)(op + 1);
    op->key_len = req->key_len;
    memcpy(op->key, req->key, req->key_len);
    if (req->kind != RC_COORD_GET) {
        op->value = op->key + op->key_len;
        op->value_len = vlen;
        if (vlen)
            memcpy(op->value, req->value, vlen);
        rc_node_new_version(co->node, &op->ver);
        if (req->kind == RC_COORD_PUT && req->ttl_ms > 0)
            op->expires = rc_node_now_ms() + (int64_t)req->ttl_ms;
    }
    for (i = 0; i < op->nrep; i++) {
        op->rep[i].op = op;
        op->rep[i].node = t->node[i];
        op->rep[i].counts = t->counts[i];
        if (op->rep[i].node == co->self)
            op->local = i;
        else
            op->nremote++;
    }
    op->remote_left = op->nremote;
    return op;
}

static void start_op(struct rc_coord *co, const struct rc_coord_req *req,
                     const struct rc_coord_sink *sk)
{
    int i, rv, needed, is_read = req->kind == RC_COORD_GET, dflt = is_read ? co->opts.r : co->opts.w;
    struct targets t;
    struct op *op;
    char msg[160];

    op_targets(co, req, &t);
    if (t.nhome <= 0) {
        if (co->leaving)
            fail_now(co, sk, req->tag, RC_ESHUTDOWN, "this node is leaving the cluster");
        else
            fail_now(co, sk, req->tag, RC_EUNAVAILABLE, "no members in the ring");
        return;
    }
    needed = t.any ? 1 : needed_for(req->level, dflt, t.nhome);
    rv = op_admit(co, &t, !is_read, needed, needed_for(req->level, dflt, co->opts.rf), msg,
                  sizeof(msg));
    if (rv < 0) {
        fail_now(co, sk, req->tag, rv, msg);
        return;
    }
    if (is_read && t.n == 1 && t.node[0] == co->self) {
        read_local_now(co, req, sk);
        return;
    }
    op = op_new(co, req, &t, needed);
    if (op == NULL) {
        fail_now(co, sk, req->tag, RC_ENOMEM, NULL);
        return;
    }
    op->later = sk->later;
    op->arg = sk->defer != NULL ? sk->defer(sk->arg) : sk->arg;
    if (op->arg == NULL) {
        free(op);
        fail_now(co, sk, req->tag, RC_ENOMEM, NULL);
        return;
    }
    op->starting = 1;
    for (i = 0; i < op->nrep; i++)
        send_to_replica(op, i);
    op->starting = 0;
    op_check(op);
}

/* ---- the API ---------------------------------------------------------- */

void rc_coord_run(struct rc_coord *co, const struct rc_coord_req *req,
                  const struct rc_coord_sink *sk)
{
    char msg[96];
    int rv;

    co->run_t0_ns = uv_hrtime();
    co->run_kind = req->kind;
    if (req->kind == RC_COORD_GET)
        co->st.get++;
    else if (req->kind == RC_COORD_PUT)
        co->st.put++;
    else if (req->kind == RC_COORD_DEL)
        co->st.del++;
    else {
        fail_now(co, sk, req->tag, RC_EUNKNOWN_OP, NULL);
        return;
    }
    rv = check_request(co, req, msg, sizeof(msg));
    if (rv < 0) {
        fail_now(co, sk, req->tag, rv, msg);
        return;
    }
    start_op(co, req, sk);
}

void rc_coord_stats(const struct rc_coord *co, struct rc_coord_stats *st)
{
    *st = co->st;
}

const struct rc_lathist *rc_coord_latency(const struct rc_coord *co, int kind)
{
    return kind >= RC_COORD_GET && kind <= RC_COORD_DEL ? &co->lat[kind - 1] : NULL;
}

int rc_coord_new(const struct rc_coord_opts *opts, struct rc_node *node, struct rc_peers *peers,
                 struct rc_cluster *cluster, struct rc_hints *hints, struct rc_coord **out)
{
    struct rc_coord *co;

    *out = NULL;
    co = calloc(1, sizeof(*co));
    if (co == NULL)
        return RC_ENOMEM;
    co->opts = *opts;
    co->node = node;
    co->peers = peers;
    co->cluster = cluster;
    co->hints = hints;
    co->self = rc_node_id(node);
    *out = co;
    return 0;
}

void rc_coord_leaving(struct rc_coord *co)
{
    co->leaving = 1;
}

void rc_coord_free(struct rc_coord *co)
{
    free(co);
}
