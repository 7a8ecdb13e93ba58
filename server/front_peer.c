/*
 * front_peer.c - peer port front end (see front_peer.h).
 *
 * A table and thin rows: each row unpacks what its module needs and calls
 * it; the framing, decoding and ordering are native.c's and net.c's.
 */
#include "front_peer.h"
#include "err.h"
#include "keyspace.h"

#include <stdlib.h>

/* The full state of 1024 members fits with ample room. */
#define PUSH_PULL_STATE_MAX (4u << 20)

struct rc_front_peer {
    struct rc_node *node;
    struct rc_rebalance *rb;
    struct rc_gossip *gossip; /* NULL until set */
    struct rc_native *front;
    struct rc_buf state; /* our state, answering a push-pull */
};

static int do_ping(void *arg, struct rc_net *net, const struct rc_request *req,
                   struct rc_buf *out)
{
    struct rc_reply rep = {.id = req->id};

    (void)arg;
    (void)net;
    return rc_encode_reply(out, &rep);
}

static int do_repl_write(void *arg, struct rc_net *net, const struct rc_request *req,
                         struct rc_buf *out)
{
    struct rc_front_peer *fp = arg;

    return rc_node_repl_write(fp->node, net, req, out);
}

static int do_repl_read(void *arg, struct rc_net *net, const struct rc_request *req,
                        struct rc_buf *out)
{
    struct rc_front_peer *fp = arg;

    (void)net;
    return rc_node_repl_read(fp->node, req, out);
}

/* Merges the sender's state and answers with ours. */
static int do_push_pull(void *arg, struct rc_net *net, const struct rc_request *req,
                        struct rc_buf *out)
{
    struct rc_front_peer *fp = arg;
    struct rc_reply rep = {.id = req->id};
    int rv;

    (void)net;
    if (fp->gossip == NULL || !req->has_value)
        return rc_encode_error(out, req->id, fp->gossip ? RC_EINVAL : RC_EUNKNOWN_OP, NULL);
    rc_buf_reset(&fp->state);
    rv = rc_gossip_push_pull(fp->gossip, req->value, req->value_len, &fp->state);
    if (rv < 0)
        return rc_encode_error(out, req->id, rv, NULL);
    rep.has_value = 1;
    rep.value = rc_buf_rptr(&fp->state);
    rep.value_len = (uint32_t)rc_buf_used(&fp->state);
    return rc_encode_reply(out, &rep);
}

/* RANGE_DIGEST and STREAM. */
static int do_stream(void *arg, struct rc_net *net, const struct rc_request *req,
                     struct rc_buf *out)
{
    struct rc_front_peer *fp = arg;

    return rc_rebalance_handle(fp->rb, net, req, out);
}

/* KEY_SCAN: this node's keys (or live counts) in the ranges asked. */
static int do_key_scan(void *arg, struct rc_net *net, const struct rc_request *req,
                       struct rc_buf *out)
{
    struct rc_front_peer *fp = arg;

    (void)net;
    return rc_keyspace_serve(fp->node, req, out);
}

/* FLUSH_EPOCH: FLUSHALL's epoch, max-merged both ways. */
static int do_flush_epoch(void *arg, struct rc_net *net, const struct rc_request *req,
                          struct rc_buf *out)
{
    struct rc_front_peer *fp = arg;

    (void)net;
    return rc_keyspace_serve_epoch(fp->node, req, out);
}

static int do_unknown(void *arg, struct rc_net *net, const struct rc_request *req,
                      struct rc_buf *out)
{
    (void)arg;
    (void)net;
    return rc_encode_error(out, req->id, RC_EUNKNOWN_OP,
                           "the peer port serves internode operations only");
}

static const struct rc_native_op peer_ops[] = {
    {RC_OP_PING, do_ping},
    {RC_OP_REPL_WRITE, do_repl_write},
    {RC_OP_REPL_READ, do_repl_read},
    {RC_OP_PUSH_PULL, do_push_pull},
    {RC_OP_RANGE_DIGEST, do_stream},
    {RC_OP_STREAM, do_stream},
    {RC_OP_KEY_SCAN, do_key_scan},
    {RC_OP_FLUSH_EPOCH, do_flush_epoch},
};

int rc_front_peer_new(struct rc_node *node, struct rc_rebalance *rb, uint32_t max_frame,
                      const struct rc_log *log, struct rc_front_peer **out)
{
    struct rc_native_opts o = {0};
    struct rc_front_peer *fp;
    int rv;

    *out = NULL;
    fp = calloc(1, sizeof(*fp));
    if (fp == NULL)
        return RC_ENOMEM;
    fp->node = node;
    fp->rb = rb;
    rc_buf_init(&fp->state, PUSH_PULL_STATE_MAX);
    o.max_frame = max_frame;
    o.auth = NULL; /* the cluster key guards this port */
    o.ops = peer_ops;
    o.nops = sizeof(peer_ops) / sizeof(peer_ops[0]);
    o.unknown = do_unknown;
    o.arg = fp;
    rv = rc_native_new(&o, log, &fp->front);
    if (rv < 0) {
        free(fp);
        return rv;
    }
    *out = fp;
    return 0;
}

void rc_front_peer_set_gossip(struct rc_front_peer *fp, struct rc_gossip *g)
{
    fp->gossip = g;
}

void rc_front_peer_handler(struct rc_front_peer *fp, struct rc_net_handler *h)
{
    rc_native_handler(fp->front, h);
}

void rc_front_peer_free(struct rc_front_peer *fp)
{
    if (fp == NULL)
        return;
    rc_native_free(fp->front);
    rc_buf_close(&fp->state);
    free(fp);
}
