/*
 * native.c - the native protocol on a port (see native.h).
 *
 * The parse callback of the net: one frame per call, checked against the
 * frame limit (the pre-auth limit until the connection authenticated)
 * where it lies in the connection's input, decoded in place, answered
 * through the table. AUTH is answered here, never by a table row, so no
 * port can forget to guard its commands. Framing errors are answered with
 * id 0 (nothing of the frame can be trusted) and close the connection; a
 * frame that is intact but does not decode is answered and the connection
 * stays usable. Both count as protocol errors.
 */
#include "native.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

struct rc_native {
    struct rc_native_opts opts;
    const struct rc_log *log;
    struct rc_decoder dec;
    rc_native_fn byop[RC_NATIVE_MAX_OP]; /* NULL: opts.unknown */
};

/* A frame that breaks the framing itself: answer, then close once flushed. */
static int frame_abort(struct rc_native *f, const uint8_t *in, size_t len, int err,
                       struct rc_buf *out, size_t *used)
{
    const char *msg = rc_frame_error_msg(in, len, err);
    int rv;

    rc_log_info(f->log, "closing connection: %s", msg);
    *used = len;
    rv = rc_encode_error(out, 0, err, msg);
    return rv < 0 ? rv : RC_NET_ABORT;
}

/* AUTH is answered here, never by a table row. Sets *close after
 * the last allowed wrong password. */
static int handle_auth(struct rc_native *f, struct rc_net *net, struct rc_auth_conn *ac,
                       const struct rc_request *req, struct rc_buf *out, int *close)
{
    struct rc_reply rep = {.id = req->id};
    int rv;

    *close = 0;
    if (f->opts.auth == NULL)
        return rc_encode_error(out, req->id, RC_EINVAL,
                               "AUTH given but no password is configured on this port");
    if (!req->has_value)
        return rc_encode_error(out, req->id, RC_EINVAL, "AUTH needs the password in VALUE");
    rv = rc_auth_attempt(f->opts.auth, ac, req->value, req->value_len, close);
    if (rv < 0) {
        /* Never the password itself, only that one was wrong. */
        rc_log_warn(f->log, "connection id=%llu: wrong password (%d this connection)%s",
                    (unsigned long long)rc_net_current_id(net), ac->failures,
                    *close ? ", closing" : "");
        return rc_encode_error(out, req->id, rv, NULL);
    }
    return rc_encode_reply(out, &rep);
}

/* Decodes and answers one frame body into out. An RC_NET_* result. */
static int dispatch(struct rc_native *f, struct rc_net *net, struct rc_auth_conn *ac,
                    const uint8_t *body, size_t len, struct rc_buf *out)
{
    struct rc_request req;
    rc_native_fn fn;
    int rv, err, close;

    err = rc_decode_request(&f->dec, body, len, &req);
    if (err < 0) {
        /* The frame was intact, so the connection stays usable. */
        rv = rc_encode_error(out, req.id, err, err == RC_EPROTO ? f->dec.why : NULL);
        return rv < 0 ? rv : RC_NET_BAD_REQUEST;
    }
    if (req.op == RC_OP_AUTH) {
        rv = handle_auth(f, net, ac, &req, out, &close);
        return rv < 0 ? rv : close ? RC_NET_CLOSE : RC_NET_DONE;
    }
    if (req.op != RC_OP_PING && !rc_auth_passed(f->opts.auth, ac)) {
        f->opts.auth->rejected++;
        rv = rc_encode_error(out, req.id, RC_ENOAUTH, "authentication required: send AUTH first");
        return rv < 0 ? rv : RC_NET_DONE;
    }
    fn = req.op < RC_NATIVE_MAX_OP && f->byop[req.op] != NULL ? f->byop[req.op] : f->opts.unknown;
    rv = fn(f->opts.arg, net, &req, out);
    return rv < 0 ? rv : RC_NET_DONE;
}

static int on_parse(void *arg, struct rc_net *net, void *conn, const uint8_t *in, size_t len,
                    struct rc_buf *out, size_t *used)
{
    struct rc_native *f = arg;
    struct rc_auth_conn *ac = rc_net_current_auth(net);
    uint32_t max_frame = f->opts.max_frame;
    size_t flen;
    int rv;

    (void)conn;
    /* Decided per frame: an AUTH earlier in this pipeline lifts it. */
    if (!rc_auth_passed(f->opts.auth, ac) && max_frame > RC_AUTH_PREAUTH_FRAME)
        max_frame = RC_AUTH_PREAUTH_FRAME;
    rv = rc_frame_check(in, len, max_frame, &flen);
    if (rv == 0)
        return RC_NET_MORE;
    if (rv < 0)
        return frame_abort(f, in, len, rv, out, used);
    *used = flen;
    return dispatch(f, net, ac, in + RC_FRAME_HDR, flen - RC_FRAME_HDR, out);
}

static int on_refuse(struct rc_buf *out)
{
    return rc_encode_error(out, 0, RC_ETOO_MANY_CONNS, NULL);
}

void rc_native_handler(struct rc_native *f, struct rc_net_handler *h)
{
    memset(h, 0, sizeof(*h));
    h->arg = f;
    h->parse = on_parse;
    h->refuse = on_refuse;
}

int rc_native_new(const struct rc_native_opts *opts, const struct rc_log *log,
                        struct rc_native **out)
{
    struct rc_native *f;
    size_t i;
    int rv;

    *out = NULL;
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return RC_ENOMEM;
    f->opts = *opts;
    f->log = log;
    for (i = 0; i < opts->nops; i++) {
        if (opts->ops[i].op >= RC_NATIVE_MAX_OP || f->byop[opts->ops[i].op] != NULL ||
            opts->ops[i].op == RC_OP_AUTH || opts->ops[i].fn == NULL) {
            free(f);
            return RC_EINVAL;
        }
        f->byop[opts->ops[i].op] = opts->ops[i].fn;
    }
    rv = rc_decoder_init(&f->dec);
    if (rv < 0) {
        free(f);
        return rv;
    }
    *out = f;
    return 0;
}

void rc_native_free(struct rc_native *f)
{
    if (f == NULL)
        return;
    rc_decoder_close(&f->dec);
    free(f);
}

void rc_native_complete(struct rc_net_slot *slot, const struct rc_reply *rep)
{
    struct rc_buf *b = rc_net_slot_begin(slot);
    int rv;

    if (b == NULL)
        return;
    /* A failed encoding leaves nothing behind (codec.h). */
    rv = rc_encode_reply(b, rep);
    if (rv < 0)
        rv = rc_encode_error(b, rep->id, RC_ENOMEM, NULL);
    rc_net_slot_end(slot, rv);
}

void rc_native_complete_error(struct rc_net_slot *slot, uint32_t id, int err, const char *msg)
{
    struct rc_reply rep;

    rc_reply_error(&rep, id, err, msg);
    rc_native_complete(slot, &rep);
}
