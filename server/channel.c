/*
 * channel.c - framed, optionally sealed byte stream (see channel.h).
 *
 * Received bytes flow raw -> (open records) -> in -> frames parsed in
 * place; output flows out (the owner's) -> (seal records) -> sout. The
 * seal's state is allocated only when a connection is sealed, so the
 * thousands of plain client connections a node holds pay nothing for it.
 */
#include "channel.h"
#include "codec.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

void rc_channel_init(struct rc_channel *ch, uint32_t max_frame, size_t read_chunk,
                     size_t out_cap, int sealable)
{
    memset(ch, 0, sizeof(*ch));
    ch->max_frame = max_frame;
    ch->read_chunk = read_chunk;
    rc_buf_init(&ch->in, RC_FRAME_HDR + (size_t)max_frame + (sealable ? RC_SEAL_RECORD_MAX : 0));
    if (sealable) {
        rc_buf_init(&ch->raw, read_chunk + RC_SEAL_RECORD_MAX + RC_SEAL_RECORD_OVERHEAD);
        rc_buf_init(&ch->sout, rc_channel_wire_cap(out_cap));
    }
}

size_t rc_channel_wire_cap(size_t out_cap)
{
    return rc_seal_stream_wire_len(out_cap) + RC_SEAL_HELLO_LEN;
}

int rc_channel_start(struct rc_channel *ch, const struct rc_seal_keys *k, int initiator)
{
    if (ch->ss == NULL && (ch->ss = calloc(1, sizeof(*ch->ss))) == NULL)
        return RC_ENOMEM;
    rc_buf_reset(&ch->raw);
    rc_buf_reset(&ch->sout);
    ch->sealed = 1;
    return rc_seal_stream_start(ch->ss, k, initiator, &ch->sout);
}

void rc_channel_reset(struct rc_channel *ch)
{
    rc_buf_reset(&ch->in);
    rc_buf_reset(&ch->raw);
    rc_buf_reset(&ch->sout);
    if (ch->ss != NULL)
        memset(ch->ss, 0, sizeof(*ch->ss)); /* session keys */
    ch->sealed = 0;
    ch->flen = 0;
}

void rc_channel_close(struct rc_channel *ch)
{
    rc_channel_reset(ch);
    rc_buf_close(&ch->in);
    rc_buf_close(&ch->raw);
    rc_buf_close(&ch->sout);
    free(ch->ss);
    ch->ss = NULL;
}

void rc_channel_alloc(struct rc_channel *ch, uv_buf_t *buf)
{
    struct rc_buf *b = ch->sealed ? &ch->raw : &ch->in;
    size_t n = rc_buf_read_space(b, ch->read_chunk);

    *buf = uv_buf_init(n ? (char *)rc_buf_wptr(b) : NULL, (unsigned)n);
}

void rc_channel_received(struct rc_channel *ch, size_t n)
{
    rc_buf_commit(ch->sealed ? &ch->raw : &ch->in, n);
}

int rc_channel_open(struct rc_channel *ch, const struct rc_seal_keys *k, const char **why)
{
    *why = "";
    if (!ch->sealed)
        return 0;
    return rc_seal_stream_read(ch->ss, k, &ch->raw, &ch->in, why);
}

int rc_channel_ready(const struct rc_channel *ch)
{
    return !ch->sealed || ch->ss->state == RC_SEAL_OPEN;
}

int rc_channel_next(struct rc_channel *ch, const uint8_t **body, size_t *len)
{
    int rv = rc_frame_check(rc_buf_rptr(&ch->in), rc_buf_used(&ch->in), ch->max_frame, &ch->flen);

    if (rv != 1)
        return rv;
    *body = rc_buf_rptr(&ch->in) + RC_FRAME_HDR;
    *len = ch->flen - RC_FRAME_HDR;
    return 1;
}

void rc_channel_consume(struct rc_channel *ch)
{
    rc_buf_consume(&ch->in, ch->flen);
    ch->flen = 0;
}

int rc_channel_wire(struct rc_channel *ch, struct rc_buf *out, struct rc_buf **wire)
{
    int rv;

    if (!ch->sealed) {
        *wire = out;
        return 0;
    }
    if (rc_buf_used(out) > 0 && ch->ss->state == RC_SEAL_OPEN) {
        rv = rc_seal_stream_write(ch->ss, rc_buf_rptr(out), rc_buf_used(out), &ch->sout);
        if (rv < 0)
            return rv;
        rc_buf_reset(out);
    }
    *wire = &ch->sout;
    return 0;
}

int rc_channel_send(uv_stream_t *s, struct rc_buf *o, struct rc_buf *wbuf, uv_write_t *req,
                    uv_write_cb cb)
{
    struct rc_buf tmp;
    uv_buf_t b;
    int n;

    if (rc_buf_used(o) == 0)
        return 0;
    b = uv_buf_init((char *)rc_buf_rptr(o), (unsigned)rc_buf_used(o));
    n = uv_try_write(s, &b, 1);
    if (n == UV_EAGAIN)
        n = 0;
    if (n < 0)
        return n;
    rc_buf_consume(o, (size_t)n);
    if (rc_buf_used(o) == 0)
        return 0;
    tmp = *wbuf;
    *wbuf = *o;
    *o = tmp;
    b = uv_buf_init((char *)rc_buf_rptr(wbuf), (unsigned)rc_buf_used(wbuf));
    n = uv_write(req, s, &b, 1, cb);
    return n < 0 ? n : 1;
}

int rc_channel_key_removed(const struct rc_channel *ch, const struct rc_seal_keys *k)
{
    uint32_t i;

    /* A responder learns the key id from the initiator's hello. */
    if (!ch->sealed || (!ch->ss->initiator && ch->ss->state != RC_SEAL_OPEN))
        return 0;
    for (i = 0; i < k->n; i++)
        if (k->k[i].id == ch->ss->kid)
            return 0;
    return 1;
}

int rc_channel_log_due(struct rc_channel_log *l, uint64_t now_ms, uint32_t *suppressed)
{
    if (l->last_ms != 0 && now_ms - l->last_ms < RC_CHANNEL_LOG_MS) {
        l->suppressed++;
        return 0;
    }
    *suppressed = l->suppressed;
    l->last_ms = now_ms;
    l->suppressed = 0;
    return 1;
}
