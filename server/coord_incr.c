/*
 * coord_incr.c - INCR through any node (coord.h): a counter that cannot
 * lose an increment (common/counter.h, docs/architecture.md "Counters").
 *
 * Three steps, each a plain use of what exists: (1) a GET of the key's
 * raw state at the request's read level, whose replies coord.c joins; (2)
 * one home replica applies the increment as its own actor after merging
 * what (1) read (rc_node_incr here, REPL_INCR elsewhere); (3) a PUT of the
 * new state at the version that replica gave it, at the write level: every
 * replica merges it (node.c), so a concurrent increment through another
 * replica is kept beside it, never overwritten. The client is acknowledged
 * after (3). Step (2) is never retried on another replica: the first may
 * have applied it, and a second actor would count it twice; the client
 * hears an error, and the increment is then of unknown outcome (counted
 * once, or not at all).
 */
#include "coord_int.h"

#include "codec.h"
#include "counter.h"
#include "err.h"
#include "ring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct incr {
    struct rc_coord *co;
    rc_coord_done later; /* the front end's answer, with arg */
    void *arg;
    uint32_t tag, level;
    int is_float;
    int64_t delta;
    double fdelta;
    /* (1): what was read, if anything */
    int has_seen, seen_tomb;
    uint8_t *seen;
    size_t seen_len;
    struct rc_attr seen_attr;
    struct rc_version seen_ver;
    int64_t seen_expires;
    /* (2): the new state */
    struct rc_node_incr_out out;
    uint8_t *key;
    size_t key_len;
};

static void incr_free(struct incr *in)
{
    free(in->seen);
    free(in);
}

static void incr_answer(struct incr *in, int err, const char *msg)
{
    struct rc_coord_res res = {.tag = in->tag, .err = err, .msg = msg};

    if (err == 0) {
        res.has_value = 1;
        res.value = (const uint8_t *)in->out.text;
        res.value_len = in->out.text_len;
        res.has_version = 1;
        res.ver = in->out.ver;
        res.attr.flags = in->out.flags;
        res.attr.kind = RC_KIND_COUNTER;
    } else {
        in->co->st.errors++;
    }
    in->later(in->arg, &res);
    incr_free(in);
}

/* (3) done: the new state is on W replicas (or not). */
static void on_written(void *arg, const struct rc_coord_res *res)
{
    struct incr *in = arg;
    char msg[160];

    if (res->err == 0) {
        incr_answer(in, 0, NULL);
        return;
    }
    snprintf(msg, sizeof(msg),
             "the increment was applied by one replica but not acknowledged by enough "
             "(%s): its outcome is unknown",
             res->msg ? res->msg : rc_strerror(res->err));
    incr_answer(in, res->err, msg);
}

static void write_state(struct incr *in)
{
    struct rc_coord_req req = {.kind = RC_COORD_PUT, .tag = in->tag, .level = in->level};
    struct rc_coord_sink sk = {.now = on_written, .later = on_written, .arg = in};

    req.key = in->key;
    req.key_len = in->key_len;
    req.value = in->out.state;
    req.value_len = in->out.state_len;
    req.attr.flags = in->out.flags;
    req.attr.kind = RC_KIND_COUNTER;
    req.at = &in->out.ver;
    req.expires_ms = in->out.expires_ms;
    rc_coord_run(in->co, &req, &sk);
}

/* (2) done on this node: its batch committed. */
static void on_local_incr(void *arg, int err)
{
    struct incr *in = arg;

    if (err < 0)
        incr_answer(in, err, "the increment's write failed on this replica");
    else
        write_state(in);
}

/* (2) done on another replica. */
static void on_remote_incr(void *arg, int err, const struct rc_reply *rep)
{
    struct incr *in = arg;
    struct rc_counter c;
    char msg[160];

    if (err == 0 && rep->status != 0)
        err = rc_err_from_status((int)rep->status);
    if (err == 0 && (!rep->has_value || !rep->has_version || rep->value_len > RC_COUNTER_MAX_ENC ||
                     rc_counter_decode(rep->value, rep->value_len, &c) < 0))
        err = RC_EPROTO;
    if (err < 0) {
        /* Transport trouble: the replica may have applied it. Its own
         * refusal (not an integer, overflow, ...): it did not. */
        int unknown = err == RC_ETIMEOUT || err == RC_ECLOSED || err == RC_EPROTO ||
                      err == RC_ENOMEM;

        snprintf(msg, sizeof(msg), "%s%s", rc_strerror(err),
                 unknown ? " (the increment's outcome is unknown)" : "");
        incr_answer(in, err == RC_ECONNECT || err == RC_ECLOSED ? RC_EUNAVAILABLE : err,
                    msg[0] ? msg : NULL);
        return;
    }
    memcpy(in->out.state, rep->value, rep->value_len);
    in->out.state_len = rep->value_len;
    in->out.ver.hlc = rep->ver_hlc;
    in->out.ver.node = rep->ver_node;
    in->out.expires_ms = (int64_t)rep->expires_ms;
    in->out.flags = rep->flags;
    in->out.text_len = rc_counter_render(&c, in->out.text, sizeof(in->out.text));
    (void)rc_node_observe(in->co->node, rep->ver_hlc);
    write_state(in);
}

/* The replica that applies the increment: this node when it is a home
 * replica of the key, else the first live one in ring order (so
 * increments of one key through different nodes tend to land on one
 * actor, keeping the counter's components few). 0 with *id, or
 * RC_EUNAVAILABLE. */
static int pick_replica(struct incr *in, uint64_t *id)
{
    const struct rc_ring *home = rc_cluster_home(in->co->cluster);
    uint64_t ids[RC_RING_MAX_RF];
    int n, i;

    n = home ? rc_ring_replicas_key(home, in->key, in->key_len, in->co->opts.rf, ids) : 0;
    for (i = 0; i < n; i++)
        if (ids[i] == in->co->self) {
            *id = ids[i];
            return 0;
        }
    for (i = 0; i < n; i++)
        if (rc_cluster_live(in->co->cluster, ids[i])) {
            *id = ids[i];
            return 0;
        }
    return RC_EUNAVAILABLE;
}

static void apply_incr(struct incr *in)
{
    struct rc_coord *co = in->co;
    const struct rc_member *m;
    struct rc_request r;
    uint64_t id = 0;
    int rv = pick_replica(in, &id);

    if (rv < 0) {
        incr_answer(in, rv, "no replica of the key is alive");
        return;
    }
    if (id == co->self) {
        struct rc_node_incr rq = {.key = in->key, .key_len = in->key_len,
                                  .is_float = in->is_float, .delta = in->delta,
                                  .fdelta = in->fdelta, .has_seen = in->has_seen,
                                  .seen_tomb = in->seen_tomb, .seen_value = in->seen,
                                  .seen_len = in->seen_len, .seen_attr = in->seen_attr,
                                  .seen_ver = in->seen_ver, .seen_expires = in->seen_expires};

        rv = rc_node_incr(co->node, &rq, &in->out, on_local_incr, in);
        if (rv < 0)
            incr_answer(in, rv, NULL);
        return;
    }
    m = rc_cluster_find(co->cluster, id);
    if (m == NULL) {
        incr_answer(in, RC_EUNAVAILABLE, "no replica of the key is alive");
        return;
    }
    memset(&r, 0, sizeof(r));
    r.op = RC_OP_REPL_INCR;
    r.key = in->key;
    r.key_len = (uint32_t)in->key_len;
    r.has_key = 1;
    if (in->is_float) {
        r.has_delta_float = 1;
        r.delta_float = in->fdelta;
    } else {
        r.has_delta = 1;
        r.delta = in->delta;
    }
    if (in->has_seen) {
        r.has_version = 1;
        r.ver_hlc = in->seen_ver.hlc;
        r.ver_node = in->seen_ver.node;
        r.tombstone = (unsigned)in->seen_tomb;
        if (!in->seen_tomb) {
            r.has_value = 1;
            r.value = in->seen ? in->seen : (const uint8_t *)"";
            r.value_len = (uint32_t)in->seen_len;
            r.flags = in->seen_attr.flags;
            r.kind = in->seen_attr.kind;
            r.expires_ms = in->seen_expires > 0 ? (uint64_t)in->seen_expires : 0;
        }
    }
    rv = rc_peers_send(co->peers, m->id, m->host, m->peer_port, &r, co->opts.timeout_ms,
                       on_remote_incr, in);
    if (rv < 0) /* not sent: nothing was applied */
        incr_answer(in, RC_EUNAVAILABLE, rc_strerror(rv));
}

/* (1) done: keeps what was read (a value or a tombstone's version). */
static void on_read(void *arg, const struct rc_coord_res *res)
{
    struct incr *in = arg;

    if (res->err < 0 && res->err != RC_ENOTFOUND) {
        incr_answer(in, res->err, res->msg);
        return;
    }
    if (res->has_version) {
        in->has_seen = 1;
        in->seen_ver = res->ver;
        in->seen_tomb = res->err == RC_ENOTFOUND;
        if (!in->seen_tomb) {
            in->seen_attr = res->attr;
            in->seen_expires = res->expires_ms;
            in->seen_len = res->value_len;
            if (res->value_len > 0 && (in->seen = malloc(res->value_len)) == NULL) {
                incr_answer(in, RC_ENOMEM, NULL);
                return;
            }
            if (res->value_len > 0)
                memcpy(in->seen, res->value, res->value_len);
        }
    }
    apply_incr(in);
}

void rc_coord_incr_start(struct rc_coord *co, const struct rc_coord_req *req,
                         const struct rc_coord_sink *sk)
{
    struct rc_coord_req get = {.kind = RC_COORD_GET, .tag = req->tag, .level = req->level,
                               .raw = 1};
    struct rc_coord_sink rsk = {.now = on_read, .later = on_read};
    struct rc_coord_res res = {.tag = req->tag, .err = RC_ENOMEM};
    struct incr *in = calloc(1, sizeof(*in) + req->key_len);

    if (in == NULL) {
        co->st.errors++;
        sk->now(sk->arg, &res);
        return;
    }
    in->co = co;
    in->tag = req->tag;
    in->level = req->level;
    in->is_float = req->is_float;
    in->delta = req->delta;
    in->fdelta = req->fdelta;
    in->key = (uint8_t *)(in + 1);
    in->key_len = req->key_len;
    memcpy(in->key, req->key, req->key_len);
    in->later = sk->later;
    in->arg = sk->defer != NULL ? sk->defer(sk->arg) : sk->arg;
    if (in->arg == NULL) {
        free(in);
        co->st.errors++;
        sk->now(sk->arg, &res);
        return;
    }
    get.key = in->key;
    get.key_len = in->key_len;
    rsk.arg = in;
    rc_coord_run(co, &get, &rsk);
}
