/*
 * front_native.c - the native client protocol's front end (see
 * front_native.h): the client port's table and its rows. Framing, AUTH
 * and decoding are native.c's, shared with the peer port.
 */
#include "front_native.h"
#include "codec.h"
#include "err.h"
#include "native.h"

#include <stdlib.h>
#include <string.h>

/* The largest view reply: MEMBERS of 1024 nodes is about 150 KiB. */
#define VIEW_MAX (1u << 20)

struct rc_front_native {
    struct rc_coord *co;
    struct rc_admin *admin;
    struct rc_native *native; /* framing, AUTH, the table below */
    struct rc_buf scratch; /* MEMBERS, RING, ACTIVITY payloads */
};

/* An error answered here, not by the coordinator: counted all the same. */
static int reply_error(struct rc_front_native *f, struct rc_buf *out, uint32_t id, int err,
                       const char *msg)
{
    rc_admin_count_error(f->admin, err);
    return rc_encode_error(out, id, err, msg);
}

/* ---- GET, PUT, DEL: the coordinator ----------------------------------- */

/* The coordinator's result as the wire reply: an error with its message;
 * or a reply whose status is NOT_FOUND for a miss (with the version of a
 * DEL), OK otherwise, with what the result holds. */
static void to_reply(const struct rc_coord_res *res, struct rc_reply *rep)
{
    if (res->err < 0 && (res->err != RC_ENOTFOUND || res->msg != NULL)) {
        rc_reply_error(rep, res->tag, res->err, res->msg);
        return;
    }
    memset(rep, 0, sizeof(*rep));
    rep->id = res->tag;
    if (res->err < 0)
        rep->status = (uint32_t)rc_err_to_status(res->err);
    if (res->has_value) {
        rep->has_value = 1;
        rep->value = res->value;
        rep->value_len = (uint32_t)res->value_len;
    }
    if (res->has_version) {
        rep->has_version = 1;
        rep->ver_hlc = res->ver.hlc;
        rep->ver_node = res->ver.node;
    }
    rep->ttl_ms = res->ttl_ms;
    if (res->has_value) {
        rep->flags = res->attr.flags;
        rep->kind = res->attr.kind;
    }
}

/* A request being handled: answered into out at once, or through a slot. */
struct call {
    struct rc_net *net;
    struct rc_buf *out;
    int rv;
};

static void answer_now(void *arg, const struct rc_coord_res *res)
{
    struct call *c = arg;
    struct rc_reply rep;

    to_reply(res, &rep);
    c->rv = rc_encode_reply(c->out, &rep);
}

static void *take_slot(void *arg)
{
    struct call *c = arg;

    return rc_net_defer(c->net);
}

static void answer_later(void *arg, const struct rc_coord_res *res)
{
    struct rc_reply rep;

    to_reply(res, &rep);
    rc_native_complete(arg, &rep);
}

static int do_keyed(void *arg, struct rc_net *net, const struct rc_request *req,
                    struct rc_buf *out)
{
    struct rc_front_native *f = arg;
    struct call c = {net, out, 0};
    struct rc_coord_sink sk = {answer_now, answer_later, take_slot, &c};
    struct rc_coord_req r = {0};

    r.kind = req->op == RC_OP_GET    ? RC_COORD_GET
             : req->op == RC_OP_PUT  ? RC_COORD_PUT
             : req->op == RC_OP_INCR ? RC_COORD_INCR
                                     : RC_COORD_DEL;
    /* A client stores bytes; only INCR makes a counter (a state sent as
     * a PUT would be trusted by every replica's merge). */
    if (req->kind != 0)
        return reply_error(f, out, req->id, RC_EINVAL, "KIND is set by the server only");
    if (req->op == RC_OP_INCR && req->has_delta && req->has_delta_float)
        return reply_error(f, out, req->id, RC_EINVAL, "DELTA and DELTA_FLOAT together");
    r.attr.flags = req->flags;
    r.is_float = req->has_delta_float;
    r.delta = req->has_delta ? req->delta : 1;
    r.fdelta = req->delta_float;
    r.tag = req->id;
    if (req->has_key) {
        r.key = req->key != NULL ? req->key : (const uint8_t *)"";
        r.key_len = req->key_len;
    }
    if (req->has_value) {
        r.value = req->value != NULL ? req->value : (const uint8_t *)"";
        r.value_len = req->value_len;
    }
    r.ttl_ms = req->ttl_ms;
    r.level = req->consistency;
    rc_coord_run(f->co, &r, &sk);
    return c.rv;
}

/* ---- admin ---------------------------------------------------------------- */

static int do_ping(void *arg, struct rc_net *net, const struct rc_request *req,
                   struct rc_buf *out)
{
    struct rc_front_native *f = arg;
    struct rc_reply rep = {.id = req->id};

    rc_admin_ping(f->admin);
    rep.value = req->value;
    rep.value_len = req->value_len;
    rep.has_value = req->has_value;
    return rc_encode_reply(out, &rep);
}

static int do_stats(void *arg, struct rc_net *net, const struct rc_request *req,
                    struct rc_buf *out)
{
    struct rc_front_native *f = arg;
    struct rc_stat st[RC_ADMIN_MAX_STATS];
    struct rc_reply rep = {.id = req->id};

    rep.stats = st;
    rep.nstats = (uint32_t)rc_admin_stats(f->admin, st);
    return rc_encode_reply(out, &rep);
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

static int reply_view(struct rc_front_native *f, const struct rc_request *req,
                      struct rc_buf *out, enum rc_admin_view view)
{
    struct rc_reply rep = {.id = req->id};
    struct view_buf vb = {&f->scratch, 0};
    msgpack_packer pk;
    int rv;

    rc_buf_reset(&f->scratch);
    msgpack_packer_init(&pk, &vb, buf_write);
    rv = rc_admin_pack_view(f->admin, view, &pk);
    if (rv == 0)
        rv = vb.err;
    if (rv == 0 && rc_buf_used(&f->scratch) == 0)
        rv = RC_EINTERNAL;
    if (rv < 0)
        return reply_error(f, out, req->id, rv, NULL);
    rep.has_value = 1;
    rep.value = rc_buf_rptr(&f->scratch);
    rep.value_len = (uint32_t)rc_buf_used(&f->scratch);
    return rc_encode_reply(out, &rep);
}

static int do_members(void *arg, struct rc_net *net, const struct rc_request *req,
                      struct rc_buf *out)
{
    struct rc_front_native *f = arg;
    return reply_view(f, req, out, RC_ADMIN_MEMBERS);
}

static int do_ring(void *arg, struct rc_net *net, const struct rc_request *req,
                   struct rc_buf *out)
{
    struct rc_front_native *f = arg;
    return reply_view(f, req, out, RC_ADMIN_RING);
}

static int do_activity(void *arg, struct rc_net *net, const struct rc_request *req,
                       struct rc_buf *out)
{
    struct rc_front_native *f = arg;
    return reply_view(f, req, out, RC_ADMIN_ACTIVITY);
}

/* FORGET: KEY is a dead member's id in 16 hex digits. */
static int do_forget(void *arg, struct rc_net *net, const struct rc_request *req,
                     struct rc_buf *out)
{
    struct rc_front_native *f = arg;
    struct rc_reply rep = {.id = req->id};
    char msg[96];
    int rv;

    rv = rc_admin_forget(f->admin, req->has_key ? req->key : NULL,
                         req->has_key ? req->key_len : 0, msg, sizeof(msg));
    if (rv < 0)
        return reply_error(f, out, req->id, rv, msg);
    return rc_encode_reply(out, &rep);
}

/* ---- dispatch ----------------------------------------------------------- */

/* The client commands (codec.h); AUTH is answered before dispatch
 * (native.c), any other op is UNKNOWN_OP. */
static const struct rc_native_op cmds[] = {
    {RC_OP_PING, do_ping},         {RC_OP_GET, do_keyed},         {RC_OP_PUT, do_keyed},
    {RC_OP_DEL, do_keyed},         {RC_OP_STATS, do_stats},       {RC_OP_MEMBERS, do_members},
    {RC_OP_RING, do_ring},         {RC_OP_ACTIVITY, do_activity}, {RC_OP_FORGET, do_forget},
    {RC_OP_INCR, do_keyed},
};

static int do_unknown(void *arg, struct rc_net *net, const struct rc_request *req,
                      struct rc_buf *out)
{
    (void)net;
    return reply_error(arg, out, req->id, RC_EUNKNOWN_OP, NULL);
}

int rc_front_native_new(struct rc_coord *co, struct rc_admin *admin,
                        uint32_t max_frame, struct rc_auth *auth, const struct rc_log *log,
                        struct rc_front_native **out)
{
    struct rc_native_opts o = {0};
    struct rc_front_native *f = calloc(1, sizeof(*f));
    int rv;

    *out = NULL;
    if (f == NULL)
        return RC_ENOMEM;
    f->co = co;
    f->admin = admin;
    rc_buf_init(&f->scratch, VIEW_MAX);
    o.max_frame = max_frame;
    o.auth = auth;
    o.ops = cmds;
    o.nops = sizeof(cmds) / sizeof(cmds[0]);
    o.unknown = do_unknown;
    o.arg = f;
    rv = rc_native_new(&o, log, &f->native);
    if (rv < 0) {
        free(f);
        return rv;
    }
    *out = f;
    return 0;
}

void rc_front_native_handler(struct rc_front_native *f, struct rc_net_handler *h)
{
    rc_native_handler(f->native, h);
}

void rc_front_native_free(struct rc_front_native *f)
{
    if (f == NULL)
        return;
    rc_native_free(f->native);
    rc_buf_close(&f->scratch);
    free(f);
}
