/*
 * rebalance_recv.c - the receiving side of rebalancing: RANGE_DIGEST and
 * STREAM from the peer port (front_peer.c). A digest is answered whole and,
 * when asked, in equal pieces, so the sender sends only what differs; a
 * batch is checked entry by entry before any of it is applied, and is
 * acknowledged once committed. Data for a range this node does not
 * replicate yet holds its cleanup sweeps back (rebalance.c).
 */
#include "rebalance_int.h"
#include "cluster.h"
#include "codec.h"
#include "err.h"
#include "native.h"
#include "plan.h"
#include "stream.h"

static int batch_write(void *data, const char *p, size_t n)
{
    return rc_buf_append(data, p, n) < 0 ? -1 : 0;
}

/* VALUE of a RANGE_DIGEST reply: [[digest, count] x pieces]. */
static int pack_pieces(struct rc_rebalance *rb, const struct rc_request *req, struct rc_reply *rep)
{
    uint64_t pa, pb, d, n;
    msgpack_packer pk;
    int i, k = (int)req->pieces, rv;

    rc_buf_reset(&rb->batch);
    msgpack_packer_init(&pk, &rb->batch, batch_write);
    if (msgpack_pack_array(&pk, (size_t)k) < 0)
        return RC_ENOMEM;
    for (i = 0; i < k; i++) {
        d = n = 0;
        if (rebalance_piece_bounds(req->range_first, req->range_last, k, i, &pa, &pb)) {
            rv = rc_node_range_digest_before(rb->node, pa, pb, rc_node_now_ms(),
                                             req->before_hlc ? req->before_hlc : UINT64_MAX,
                                             &d, &n);
            if (rv < 0)
                return rv;
        }
        if (msgpack_pack_array(&pk, 2) < 0 || msgpack_pack_uint64(&pk, d) < 0 ||
            msgpack_pack_uint64(&pk, n) < 0)
            return RC_ENOMEM;
    }
    rep->has_value = 1;
    rep->value = rc_buf_rptr(&rb->batch);
    rep->value_len = (uint32_t)rc_buf_used(&rb->batch);
    return 0;
}

/* A digest or batch for [.., last] arrived: if this node does not
 * replicate that range in its settled ring, the sender sees another ring
 * (see the sweep comment in rebalance.c); no sweep until the views agree. */
static void note_incoming(struct rc_rebalance *rb, uint64_t last)
{
    if (rb->settled == NULL || rb->opts.sweep_ms <= 0 ||
        !rc_plan_stray(rb->settled, rc_cluster_rf(rb->cluster), rb->self, last))
        return;
    rb->hold_until = uv_now(rb->loop) + (uint64_t)rb->opts.hold_ms;
    if (rb->plan != NULL && rb->plan->sweep) {
        rc_log_info(rb->log, "cleanup abandoned: another node is streaming ranges here that "
                             "this node does not replicate yet (a ring change on its way)");
        rebalance_event(rb, "cleanup abandoned: a ring change is on its way");
        rebalance_cancel_plan(rb);
    }
}

static int handle_digest(struct rc_rebalance *rb, const struct rc_request *req, struct rc_buf *out)
{
    struct rc_reply rep = {.id = req->id};
    int rv;

    if (!req->has_range)
        return rc_encode_error(out, req->id, RC_EINVAL, "RANGE_DIGEST needs RANGE");
    note_incoming(rb, req->range_last);
    rv = rc_node_range_digest_before(rb->node, req->range_first, req->range_last,
                                     rc_node_now_ms(),
                                     req->before_hlc ? req->before_hlc : UINT64_MAX,
                                     &rep.digest, &rep.digest_count);
    if (rv == 0 && req->pieces > 0 && rep.digest_count > 0)
        rv = pack_pieces(rb, req, &rep);
    if (rv < 0)
        return rc_encode_error(out, req->id, rv, NULL);
    rep.has_digest = 1;
    rep.evicted = rc_node_evicting(rb->node);
    return rc_encode_reply(out, &rep);
}

/* Checks one decoded entry (apply = 0: also merges its timestamp into
 * this node's clock) or applies it (apply = 1). 0 or an error. */
static int apply_entry(struct rc_rebalance *rb, const struct rc_request *req,
                       const msgpack_object *o, uint64_t *bytes, int apply)
{
    const struct rc_node_opts *no = rc_node_opts(rb->node);
    struct rc_stream_entry e;
    struct rc_version ver;
    struct rc_attr attr;
    int rv;

    rv = rc_stream_entry(o, no->max_key, no->max_value, req->range_first, req->range_last, &e);
    if (rv < 0)
        return rv;
    attr = rc_attr_unpack(e.attr);
    if (attr.kind > RC_KIND_MAX)
        return RC_EPROTO;
    ver.hlc = e.hlc;
    ver.node = e.node;
    if (!apply)
        return rc_node_observe(rb->node, ver.hlc); /* clock: merge, refuse drift */
    *bytes += e.key_len + e.value_len;
    return rc_node_apply_attr(rb->node, e.key, e.key_len, e.value, e.value_len, &attr, &ver,
                              e.expires_ms);
}

static int handle_stream(struct rc_rebalance *rb, struct rc_net *net, const struct rc_request *req,
                         struct rc_buf *out)
{
    const msgpack_object *entries;
    struct rc_net_slot *slot;
    uint64_t bytes = 0;
    uint32_t i, n;
    int rv;

    if (!req->has_range || !req->has_value)
        return rc_encode_error(out, req->id, RC_EINVAL, "STREAM needs RANGE and VALUE");
    note_incoming(rb, req->range_last);
    rv = rc_stream_batch(&rb->zone, req->value, req->value_len, &entries, &n);
    if (rv < 0)
        return rc_encode_error(out, req->id, rv, RC_MSG_BAD_BODY ": bad stream batch in VALUE");
    /* Validate the whole batch before applying any of it. */
    for (i = 0; i < n; i++) {
        rv = apply_entry(rb, req, &entries[i], &bytes, 0);
        if (rv < 0)
            return rc_encode_error(out, req->id, rv,
                                   rv == RC_EPROTO ? RC_MSG_BAD_BODY ": stream entry rejected"
                                                   : "stream entry rejected");
    }
    for (i = 0; i < n; i++) {
        rv = apply_entry(rb, req, &entries[i], &bytes, 1);
        if (rv < 0)
            return rc_encode_error(out, req->id, rv, NULL);
    }
    rb->st.keys_in += n;
    rb->st.bytes_in += bytes;
    /* Acknowledged once the batch is committed here. */
    slot = rc_net_defer(net);
    if (slot == NULL)
        return rc_encode_error(out, req->id, RC_ENOMEM, NULL);
    rv = rc_node_ack_at_commit(rb->node, slot, req->id);
    if (rv < 0)
        rc_native_complete_error(slot, req->id, rv, NULL);
    return 0;
}

int rc_rebalance_handle(struct rc_rebalance *rb, struct rc_net *net, const struct rc_request *req,
                        struct rc_buf *out)
{
    if (req->op == RC_OP_RANGE_DIGEST)
        return handle_digest(rb, req, out);
    return handle_stream(rb, net, req, out);
}
