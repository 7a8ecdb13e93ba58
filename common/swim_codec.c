/*
 * swim_codec.c - the SWIM datagram codec: rc_swim_encode, rc_swim_decode
 * and the wire primitives the state machine shares (swim_codec.h).
 *
 * Kept apart from the state machine because it is the part that meets
 * untrusted bytes (fuzzed by tests/fuzz/fuzz_swim.c). Decoding walks the
 * msgpack bytes directly with bounds checks on every length and count;
 * nothing is allocated per datagram.
 */
#include "swim_codec.h"
#include "err.h"

#include <string.h>

/* Deepest nesting skipped in unknown trailing fields. */
#define SKIP_DEPTH 4

/* Hosts are DNS names or IP literals: anything else (spaces, control
 * bytes, brackets) would end up in logs and in getaddrinfo. */
int swim_host_ok(const char *h, size_t len)
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

/* ---- encoding --------------------------------------------------------- */

int swim_fbuf_write(void *data, const char *buf, size_t n)
{
    struct swim_fbuf *f = data;

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

void swim_pack_member(msgpack_packer *pk, const struct rc_member *m, uint64_t by)
{
    pack_rec(pk, m->id, m->host, strlen(m->host), m->client_port, m->peer_port, m->incarnation,
             m->state, by);
}

void swim_pack_header(struct swim_fbuf *f, enum rc_swim_type type)
{
    const uint8_t hdr[RC_SWIM_HDR] = {'R', 'G', RC_SWIM_VERSION, (uint8_t)type};

    swim_fbuf_write(f, (const char *)hdr, sizeof(hdr));
}

int rc_swim_encode(const struct rc_swim_msg *msg, uint8_t *buf, size_t cap, size_t *len)
{
    struct swim_fbuf f = {buf, cap, 0, 0};
    msgpack_packer pk;
    const struct rc_swim_rec *r;
    uint32_t i;
    int stamped;

    *len = 0;
    if (msg->nupdates > RC_SWIM_MAX_UPDATES || msg->type < RC_SWIM_PING ||
        msg->type > RC_SWIM_NACK || !swim_host_ok(msg->from.host, msg->from.host_len))
        return RC_EINVAL;
    if (msg->type == RC_SWIM_PING_REQ && !swim_host_ok(msg->target_host, msg->target_host_len))
        return RC_EINVAL;
    stamped = (msg->type == RC_SWIM_PING || msg->type == RC_SWIM_ACK) && msg->wall_ms != 0;
    msgpack_packer_init(&pk, &f, swim_fbuf_write);
    swim_pack_header(&f, msg->type);
    msgpack_pack_array(&pk, msg->type == RC_SWIM_PING_REQ ? 7 : 4 + stamped);
    msgpack_pack_uint32(&pk, msg->seq);
    r = &msg->from;
    pack_rec(&pk, r->id, r->host, r->host_len, r->client_port, r->peer_port, r->incarnation,
             r->state, r->by);
    msgpack_pack_uint64(&pk, msg->target_id);
    msgpack_pack_array(&pk, msg->nupdates);
    for (i = 0; i < msg->nupdates; i++) {
        r = &msg->updates[i];
        if (!swim_host_ok(r->host, r->host_len))
            return RC_EINVAL;
        pack_rec(&pk, r->id, r->host, r->host_len, r->client_port, r->peer_port,
                 r->incarnation, r->state, r->by);
    }
    if (msg->type == RC_SWIM_PING_REQ) {
        msgpack_pack_str_with_body(&pk, msg->target_host, msg->target_host_len);
        msgpack_pack_uint16(&pk, msg->target_port);
        msgpack_pack_uint32(&pk, msg->nack_ms);
    }
    if (stamped)
        msgpack_pack_uint64(&pk, msg->wall_ms);
    if (f.err)
        return RC_EBUFFER_FULL;
    *len = f.len;
    return 0;
}

/* ---- decoding: a bounded msgpack reader -------------------------------- */

static size_t rd_left(const struct swim_rd *r) { return r->len - r->pos; }

static int rd_be(struct swim_rd *r, unsigned size, uint64_t *v)
{
    unsigned i;

    if (size > rd_left(r))
        return RC_EPROTO;
    *v = 0;
    for (i = 0; i < size; i++)
        *v = *v << 8 | r->p[r->pos++];
    return 0;
}

static int rd_uint(struct swim_rd *r, uint64_t max, uint64_t *v)
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

static int rd_str(struct swim_rd *r, uint32_t max, const char **s, uint32_t *n)
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
static int rd_array(struct swim_rd *r, uint32_t *n)
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
static int rd_skip(struct swim_rd *r, unsigned depth)
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

/* 1 when the next object is an unsigned integer. */
static int rd_is_uint(const struct swim_rd *r)
{
    uint8_t b = rd_left(r) > 0 ? r->p[r->pos] : 0xc1;

    return b <= 0x7f || (b >= 0xcc && b <= 0xcf);
}

/* Skips the elements of an array beyond the `known` ones. */
static int rd_skip_extra(struct swim_rd *r, uint32_t count, uint32_t known)
{
    while (count-- > known)
        if (rd_skip(r, 1) < 0)
            return RC_EPROTO;
    return 0;
}

int swim_rd_rec(struct swim_rd *r, struct rc_swim_rec *rec)
{
    uint64_t v[6];
    uint32_t count;

    if (rd_array(r, &count) < 0 || count < 7)
        return RC_EPROTO;
    if (rd_uint(r, UINT64_MAX, &v[0]) < 0 || v[0] == 0 ||
        rd_str(r, RC_HOST_MAX - 1, &rec->host, &rec->host_len) < 0 ||
        !swim_host_ok(rec->host, rec->host_len) || rd_uint(r, UINT16_MAX, &v[1]) < 0 ||
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

int swim_rd_header(struct swim_rd *r, const uint8_t *buf, size_t len, unsigned *type)
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

static int decode_ping_req(struct swim_rd *r, struct rc_swim_msg *msg)
{
    uint64_t port, nack;

    if (rd_str(r, RC_HOST_MAX - 1, &msg->target_host, &msg->target_host_len) < 0 ||
        !swim_host_ok(msg->target_host, msg->target_host_len) ||
        rd_uint(r, UINT16_MAX, &port) < 0 || rd_uint(r, UINT32_MAX, &nack) < 0)
        return RC_EPROTO;
    msg->target_port = (uint16_t)port;
    msg->nack_ms = (uint32_t)(nack < SWIM_MAX_NACK_MS ? nack : SWIM_MAX_NACK_MS);
    return 0;
}

int rc_swim_decode(const uint8_t *buf, size_t len, struct rc_swim_msg *msg)
{
    struct swim_rd r;
    uint64_t v;
    uint32_t count, nup, i, known;
    unsigned type;
    int rv;

    msg->nupdates = 0;
    rv = swim_rd_header(&r, buf, len, &type);
    if (rv < 0)
        return rv;
    if (type < RC_SWIM_PING || type > RC_SWIM_NACK || len > RC_SWIM_MAX_DGRAM)
        return RC_EPROTO;
    msg->type = (enum rc_swim_type)type;
    known = type == RC_SWIM_PING_REQ ? 7 : 4;
    if (rd_array(&r, &count) < 0 || count < known || rd_uint(&r, UINT32_MAX, &v) < 0)
        return RC_EPROTO;
    msg->seq = (uint32_t)v;
    if (swim_rd_rec(&r, &msg->from) < 0 || rd_uint(&r, UINT64_MAX, &msg->target_id) < 0 ||
        rd_array(&r, &nup) < 0 || nup > RC_SWIM_MAX_UPDATES)
        return RC_EPROTO;
    for (i = 0; i < nup; i++)
        if (swim_rd_rec(&r, &msg->updates[i]) < 0)
            return RC_EPROTO;
    msg->nupdates = nup;
    msg->target_host = NULL;
    msg->target_host_len = 0;
    msg->target_port = 0;
    msg->nack_ms = 0;
    if (type == RC_SWIM_PING_REQ && decode_ping_req(&r, msg) < 0)
        return RC_EPROTO;
    msg->wall_ms = 0;
    if ((type == RC_SWIM_PING || type == RC_SWIM_ACK) && count > known && rd_is_uint(&r)) {
        if (rd_uint(&r, UINT64_MAX, &msg->wall_ms) < 0)
            return RC_EPROTO;
        known++;
    }
    if (rd_skip_extra(&r, count, known) < 0 || r.pos != len)
        return RC_EPROTO;
    return 0;
}

/* ---- STATE (push-pull) ------------------------------------------------- */

int swim_rd_state_head(struct swim_rd *r, uint32_t *count, uint64_t *from, uint32_t *nrec)
{
    if (rd_array(r, count) < 0 || *count < 2 || rd_uint(r, UINT64_MAX, from) < 0 ||
        rd_array(r, nrec) < 0 || *nrec > RC_SWIM_MAX_MEMBERS)
        return RC_EPROTO;
    return 0;
}

int swim_rd_state_tail(struct swim_rd *r, uint32_t count, uint64_t *wall)
{
    uint32_t known = 2;

    if (count > known && rd_is_uint(r)) {
        if (rd_uint(r, UINT64_MAX, wall) < 0)
            return RC_EPROTO;
        known++;
    }
    if (rd_skip_extra(r, count, known) < 0 || r->pos != r->len)
        return RC_EPROTO;
    return 0;
}
