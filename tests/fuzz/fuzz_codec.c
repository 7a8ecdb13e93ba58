/*
 * fuzz_codec.c - libFuzzer target for the wire decoder, which reads bytes
 * straight from the network. The input is tried as a whole frame and as a
 * bare body; anything that decodes must re-encode to a message that
 * decodes to the same values. Crashes, leaks, sanitizer reports and
 * mismatches (abort) are findings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "codec.h"
#include "err.h"

/* Same order of magnitude as the server's default frame limit. */
#define FUZZ_MAX_BODY (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_bytes(const void *a, uint32_t alen, const void *b, uint32_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static void check_request(struct rc_decoder *d2, const struct rc_request *a, size_t n)
{
    struct rc_request b;
    struct rc_buf out;
    size_t flen;

    rc_buf_init(&out, 2 * n + 64); /* canonical form re-sends str as bin: may grow */
    if (rc_encode_request(&out, a) != 0 ||
        rc_frame_check(rc_buf_rptr(&out), rc_buf_used(&out), UINT32_MAX, &flen) != 1 ||
        flen != rc_buf_used(&out) ||
        rc_decode_request(d2, rc_buf_rptr(&out) + RC_FRAME_HDR, flen - RC_FRAME_HDR, &b) != 0)
        abort();
    if (a->op != b.op || a->id != b.id || a->has_key != b.has_key ||
        a->has_value != b.has_value || a->ttl_ms != b.ttl_ms ||
        a->consistency != b.consistency ||
        (a->has_key && !same_bytes(a->key, a->key_len, b.key, b.key_len)) ||
        (a->has_value && !same_bytes(a->value, a->value_len, b.value, b.value_len)))
        abort();
    rc_buf_close(&out);
}

static int same_stats(const struct rc_reply *a, const struct rc_reply *b)
{
    const struct rc_stat *x, *y;
    uint32_t i;

    if (a->nstats != b->nstats)
        return 0;
    for (i = 0; i < a->nstats; i++) {
        x = &a->stats[i];
        y = &b->stats[i];
        if (!same_bytes(x->name, x->name_len, y->name, y->name_len) || x->is_str != y->is_str ||
            (x->is_str ? !same_bytes(x->str, x->str_len, y->str, y->str_len) : x->num != y->num))
            return 0;
    }
    return 1;
}

static void check_reply(struct rc_decoder *d2, const struct rc_reply *a, size_t n)
{
    struct rc_reply b;
    struct rc_buf out;
    size_t flen;

    rc_buf_init(&out, 2 * n + 64); /* canonical form re-sends str as bin: may grow */
    if (rc_encode_reply(&out, a) != 0 ||
        rc_frame_check(rc_buf_rptr(&out), rc_buf_used(&out), UINT32_MAX, &flen) != 1 ||
        flen != rc_buf_used(&out) ||
        rc_decode_reply(d2, rc_buf_rptr(&out) + RC_FRAME_HDR, flen - RC_FRAME_HDR, &b) != 0)
        abort();
    if (a->status != b.status || a->id != b.id || a->has_value != b.has_value ||
        a->ttl_ms != b.ttl_ms || a->has_version != b.has_version ||
        a->ver_hlc != b.ver_hlc || a->ver_node != b.ver_node ||
        (a->message == NULL) != (b.message == NULL) ||
        (a->message && !same_bytes(a->message, a->message_len, b.message, b.message_len)) ||
        (a->has_value && !same_bytes(a->value, a->value_len, b.value, b.value_len)) ||
        !same_stats(a, &b))
        abort();
    rc_buf_close(&out);
}

/* A refusal says why as "malformed body: ...", within d->why; success
 * leaves no reason behind. */
static void check_why(const struct rc_decoder *d, int rv)
{
    size_t n = strnlen(d->why, sizeof(d->why));

    if (n == sizeof(d->why) || (rv == 0 && n != 0) ||
        (rv == RC_EPROTO && strncmp(d->why, RC_MSG_BAD_BODY ": ", sizeof(RC_MSG_BAD_BODY ": ") - 1) != 0))
        abort();
}

static void decode_body(struct rc_decoder *d, struct rc_decoder *d2, const uint8_t *p, size_t n)
{
    struct rc_request req;
    struct rc_reply rep;
    int rv;

    rv = rc_decode_request(d, p, n, &req);
    if (rv != 0 && rv != RC_EPROTO)
        abort();
    check_why(d, rv);
    if (rv == 0)
        check_request(d2, &req, n);
    rv = rc_decode_reply(d, p, n, &rep);
    if (rv != 0 && rv != RC_EPROTO)
        abort();
    check_why(d, rv);
    if (rv == 0)
        check_reply(d2, &rep, n); /* d2: rep.stats lives in d */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Decoders live for the whole run, as they do per connection. */
    static struct rc_decoder d, d2;
    static int ready;
    size_t flen = 1;
    int rv;

    if (!ready) {
        if (rc_decoder_init(&d) != 0 || rc_decoder_init(&d2) != 0)
            abort();
        ready = 1;
    }
    rv = rc_frame_check(data, size, FUZZ_MAX_BODY, &flen);
    if (rv == 1) {
        if (flen < RC_FRAME_HDR || flen > size)
            abort();
        decode_body(&d, &d2, data + RC_FRAME_HDR, flen - RC_FRAME_HDR);
    } else if (flen != 0 || (rv != 0 && rv != RC_EPROTO && rv != RC_EVERSION &&
                             rv != RC_EFRAME_TOO_LARGE)) {
        abort();
    }
    /* Also as a bare body, so the fuzzer need not learn the header first. */
    decode_body(&d, &d2, data, size);
    return 0;
}
