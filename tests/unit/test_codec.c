/*
 * test_codec.c - the wire codec: round trips of every message kind, frame
 * header checks, a known-answer encoding, and hostile bodies (truncations,
 * lying counts and lengths, deep nesting, wrong types, pseudo-random
 * garbage) that must be refused with RC_EPROTO without large allocations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "codec.h"
#include "err.h"

#define BIG_CAP (4u << 20) /* room for a 1 MiB value and more */
#define MIB (1u << 20)

static int setup_decoder(void **state)
{
    struct rc_decoder *d = malloc(sizeof(*d));

    if (d == NULL || rc_decoder_init(d) != 0) {
        free(d);
        return -1;
    }
    *state = d;
    return 0;
}

static int teardown_decoder(void **state)
{
    rc_decoder_close(*state);
    free(*state);
    return 0;
}

/* Parses "93 01 07 80"-style hex (spaces ignored) into out. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    unsigned v;

    while (*hex != '\0') {
        if (*hex == ' ') {
            hex++;
            continue;
        }
        assert_true(n < cap);
        assert_int_equal(sscanf(hex, "%2x", &v), 1);
        out[n++] = (uint8_t)v;
        hex += 2;
    }
    return n;
}

static int dec_req_hex(struct rc_decoder *d, const char *hex, struct rc_request *out)
{
    static uint8_t body[4096];
    size_t n = unhex(hex, body, sizeof(body));

    return rc_decode_request(d, body, n, out);
}

static int dec_rep_hex(struct rc_decoder *d, const char *hex, struct rc_reply *out)
{
    static uint8_t body[4096];
    size_t n = unhex(hex, body, sizeof(body));

    return rc_decode_reply(d, body, n, out);
}

/* Checks the frame at the front of b and returns its body. */
static const uint8_t *frame_body(const struct rc_buf *b, size_t *len)
{
    size_t flen = 99;

    assert_int_equal(rc_frame_check(rc_buf_rptr(b), rc_buf_used(b), UINT32_MAX, &flen), 1);
    assert_int_equal(flen, rc_buf_used(b));
    *len = flen - RC_FRAME_HDR;
    return rc_buf_rptr(b) + RC_FRAME_HDR;
}

static void assert_bytes(const void *a, uint32_t alen, const void *b, uint32_t blen)
{
    assert_int_equal(alen, blen);
    if (alen > 0)
        assert_memory_equal(a, b, alen);
}

static void assert_req_equal(const struct rc_request *a, const struct rc_request *b)
{
    assert_int_equal(a->op, b->op);
    assert_int_equal(a->id, b->id);
    assert_int_equal(a->has_key, b->has_key);
    assert_int_equal(a->has_value, b->has_value);
    if (a->has_key)
        assert_bytes(a->key, a->key_len, b->key, b->key_len);
    if (a->has_value)
        assert_bytes(a->value, a->value_len, b->value, b->value_len);
    assert_int_equal(a->ttl_ms, b->ttl_ms);
    assert_int_equal(a->consistency, b->consistency);
    assert_int_equal(a->has_version, b->has_version);
    assert_int_equal(a->ver_hlc, b->ver_hlc);
    assert_int_equal(a->ver_node, b->ver_node);
    assert_int_equal(a->expires_ms, b->expires_ms);
    assert_int_equal(a->tombstone, b->tombstone);
    assert_int_equal(a->has_range, b->has_range);
    assert_int_equal(a->range_first, b->range_first);
    assert_int_equal(a->range_last, b->range_last);
    assert_int_equal(a->pieces, b->pieces);
    assert_int_equal(a->before_hlc, b->before_hlc);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->has_delta, b->has_delta);
    assert_true(a->delta == b->delta);
    assert_int_equal(a->has_delta_float, b->has_delta_float);
    assert_true(a->delta_float == b->delta_float);
}

static void assert_rep_equal(const struct rc_reply *a, const struct rc_reply *b)
{
    uint32_t i;

    assert_int_equal(a->status, b->status);
    assert_int_equal(a->id, b->id);
    assert_int_equal(a->has_value, b->has_value);
    if (a->has_value)
        assert_bytes(a->value, a->value_len, b->value, b->value_len);
    assert_int_equal(a->message != NULL, b->message != NULL);
    if (a->message != NULL)
        assert_bytes(a->message, a->message_len, b->message, b->message_len);
    assert_int_equal(a->ttl_ms, b->ttl_ms);
    assert_int_equal(a->has_version, b->has_version);
    assert_int_equal(a->ver_hlc, b->ver_hlc);
    assert_int_equal(a->ver_node, b->ver_node);
    assert_int_equal(a->expires_ms, b->expires_ms);
    assert_int_equal(a->tombstone, b->tombstone);
    assert_int_equal(a->existed, b->existed);
    assert_int_equal(a->evicted, b->evicted);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->has_digest, b->has_digest);
    assert_int_equal(a->digest, b->digest);
    assert_int_equal(a->digest_count, b->digest_count);
    assert_int_equal(a->nstats, b->nstats);
    for (i = 0; i < a->nstats; i++) {
        assert_bytes(a->stats[i].name, a->stats[i].name_len, b->stats[i].name,
                     b->stats[i].name_len);
        assert_int_equal(a->stats[i].is_str, b->stats[i].is_str);
        if (a->stats[i].is_str)
            assert_bytes(a->stats[i].str, a->stats[i].str_len, b->stats[i].str,
                         b->stats[i].str_len);
        else
            assert_int_equal(a->stats[i].num, b->stats[i].num);
    }
}

/* Encodes in, decodes it back into out; out borrows from b. */
static void roundtrip_req(struct rc_decoder *d, struct rc_buf *b, const struct rc_request *in,
                          struct rc_request *out)
{
    const uint8_t *body;
    size_t len;

    rc_buf_init(b, BIG_CAP);
    assert_int_equal(rc_encode_request(b, in), 0);
    body = frame_body(b, &len);
    assert_int_equal(rc_decode_request(d, body, len, out), 0);
    assert_req_equal(in, out);
}

static void roundtrip_rep(struct rc_decoder *d, struct rc_buf *b, const struct rc_reply *in,
                          struct rc_reply *out)
{
    const uint8_t *body;
    size_t len;

    rc_buf_init(b, BIG_CAP);
    assert_int_equal(rc_encode_reply(b, in), 0);
    body = frame_body(b, &len);
    assert_int_equal(rc_decode_reply(d, body, len, out), 0);
    assert_rep_equal(in, out);
}

static void test_requests_roundtrip(void **state)
{
    static const uint8_t key[] = "user:42", val[] = "some value";
    struct rc_request reqs[8], out;
    struct rc_buf b;
    size_t i;

    memset(reqs, 0, sizeof(reqs));
    reqs[0].op = RC_OP_PING;
    reqs[1] = (struct rc_request){.op = RC_OP_PING, .id = 9, .value = val, .value_len = 10,
                                  .has_value = 1};
    reqs[2] = (struct rc_request){.op = RC_OP_GET, .id = 1, .key = key, .key_len = 7,
                                  .has_key = 1, .consistency = RC_CL_QUORUM};
    reqs[3] = (struct rc_request){.op = RC_OP_PUT, .id = 0xffffffffu, .key = key, .key_len = 7,
                                  .has_key = 1, .value = val, .value_len = 10, .has_value = 1,
                                  .ttl_ms = 60000, .consistency = RC_CL_ALL};
    reqs[4] = (struct rc_request){.op = RC_OP_PUT, .id = 3, .key = key, .key_len = 7,
                                  .has_key = 1, .value = val, .value_len = 0, .has_value = 1,
                                  .ttl_ms = UINT64_MAX};
    reqs[5] = (struct rc_request){.op = RC_OP_DEL, .id = 128, .key = key, .key_len = 7,
                                  .has_key = 1};
    reqs[6] = (struct rc_request){.op = RC_OP_STATS, .id = 65536};
    reqs[7] = (struct rc_request){.op = 0xffffffffu, .id = 255}; /* unknown op: codec passes it */
    for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        roundtrip_req(*state, &b, &reqs[i], &out);
        rc_buf_close(&b);
    }
}

static void test_replies_roundtrip(void **state)
{
    static const uint8_t val[] = {0, 1, 2, 0, 0xff};
    struct rc_stat st[4] = {
        {.name = "version", .name_len = 7, .is_str = 1, .str = "0.1.0", .str_len = 5},
        {.name = "keys", .name_len = 4, .num = 12345},
        {.name = "neg", .name_len = 3, .num = INT64_MIN},
        {.name = "big", .name_len = 3, .num = INT64_MAX},
    };
    struct rc_reply reps[5], out;
    struct rc_buf b;
    size_t i;

    memset(reps, 0, sizeof(reps));
    reps[0].id = 4; /* plain OK */
    reps[1] = (struct rc_reply){.status = 1, .id = 5, .message = "key not found",
                                .message_len = 13};
    reps[2] = (struct rc_reply){.id = 6, .value = val, .value_len = sizeof(val), .has_value = 1,
                                .ttl_ms = 1500, .has_version = 1,
                                .ver_hlc = 0x0123456789abcdefu, .ver_node = UINT64_MAX};
    reps[3] = (struct rc_reply){.id = 7, .has_version = 1, .ver_hlc = 1, .ver_node = 0};
    reps[4] = (struct rc_reply){.id = 8, .stats = st, .nstats = 4};
    for (i = 0; i < sizeof(reps) / sizeof(reps[0]); i++) {
        roundtrip_rep(*state, &b, &reps[i], &out);
        rc_buf_close(&b);
    }
}

static void test_full_stats_roundtrip(void **state)
{
    struct rc_stat st[RC_MAX_STATS];
    char names[RC_MAX_STATS][8];
    struct rc_reply in, out;
    struct rc_buf b;
    int i;

    for (i = 0; i < RC_MAX_STATS; i++) {
        snprintf(names[i], sizeof(names[i]), "s%d", i);
        st[i] = (struct rc_stat){.name = names[i], .name_len = (uint32_t)strlen(names[i])};
        if (i % 2) {
            st[i].is_str = 1;
            st[i].str = names[i];
            st[i].str_len = st[i].name_len;
        } else {
            st[i].num = (int64_t)i * -1000003;
        }
    }
    memset(&in, 0, sizeof(in));
    in.stats = st;
    in.nstats = RC_MAX_STATS;
    roundtrip_rep(*state, &b, &in, &out);
    rc_buf_close(&b);
}

static void test_error_reply(void **state)
{
    struct rc_reply out;
    const uint8_t *body;
    struct rc_buf b;
    size_t len;

    rc_buf_init(&b, 1024);
    assert_int_equal(rc_encode_error(&b, 77, RC_ENOTFOUND, NULL), 0);
    body = frame_body(&b, &len);
    assert_int_equal(rc_decode_reply(*state, body, len, &out), 0);
    assert_int_equal(out.id, 77);
    assert_int_equal(rc_err_from_status((int)out.status), RC_ENOTFOUND);
    assert_bytes(out.message, out.message_len, "key not found", 13);
    rc_buf_reset(&b);

    assert_int_equal(rc_encode_error(&b, 0, RC_EKEY_TOO_LARGE, "key is 2000 bytes"), 0);
    body = frame_body(&b, &len);
    assert_int_equal(rc_decode_reply(*state, body, len, &out), 0);
    assert_int_equal(out.status, 5);
    assert_bytes(out.message, out.message_len, "key is 2000 bytes", 17);
    rc_buf_reset(&b);

    /* System errors go out as IO, never as a raw errno. */
    assert_int_equal(rc_encode_error(&b, 1, -5, NULL), 0);
    body = frame_body(&b, &len);
    assert_int_equal(rc_decode_reply(*state, body, len, &out), 0);
    assert_int_equal(rc_err_from_status((int)out.status), RC_EIO);
    rc_buf_close(&b);
}

static void test_binary_keys(void **state)
{
    static const uint8_t nul_key[] = {0, 'a', 0, 0, 'b', 0};
    uint8_t all[256];
    struct rc_request in, out;
    struct rc_buf b;
    int i;

    for (i = 0; i < 256; i++)
        all[i] = (uint8_t)(255 - i);
    memset(&in, 0, sizeof(in));
    in.op = RC_OP_PUT;
    in.has_key = in.has_value = 1;

    in.key = all; /* empty key: present, zero length (the server says INVAL) */
    in.key_len = 0;
    in.value = all;
    in.value_len = 0;
    roundtrip_req(*state, &b, &in, &out);
    assert_int_equal(out.has_key, 1);
    assert_int_equal(out.key_len, 0);
    rc_buf_close(&b);

    in.key = nul_key;
    in.key_len = sizeof(nul_key);
    in.value = all;
    in.value_len = sizeof(all);
    roundtrip_req(*state, &b, &in, &out);
    rc_buf_close(&b);
}

static void test_max_size_values(void **state)
{
    uint8_t *key = malloc(1024), *val = malloc(MIB);
    struct rc_request in, out;
    struct rc_reply rin, rout;
    struct rc_buf b;
    size_t i, flen;

    assert_non_null(key);
    assert_non_null(val);
    for (i = 0; i < MIB; i++)
        val[i] = (uint8_t)(i * 7 + (i >> 12));
    memset(key, 'k', 1024);
    in = (struct rc_request){.op = RC_OP_PUT, .id = 1, .key = key, .key_len = 1024,
                             .has_key = 1, .value = val, .value_len = MIB, .has_value = 1};
    roundtrip_req(*state, &b, &in, &out);
    /* Fits the server's default frame limit: value + key + 4096. */
    assert_int_equal(rc_frame_check(rc_buf_rptr(&b), rc_buf_used(&b), MIB + 1024 + 4096, &flen), 1);
    rc_buf_close(&b);

    rin = (struct rc_reply){.id = 2, .value = val, .value_len = MIB, .has_value = 1,
                            .has_version = 1, .ver_hlc = 5, .ver_node = 6};
    roundtrip_rep(*state, &b, &rin, &rout);
    rc_buf_close(&b);
    free(key);
    free(val);
}

/*
 * PUT key "hello" value "world", ttl 0, id 1:
 *   52 43            magic "RC"
 *   01               protocol version 1
 *   00               flags
 *   00 00 00 14      body length 20
 *   93               array of 3
 *   03               op PUT
 *   01               id 1
 *   82               map of 2 (ttl 0 is omitted)
 *   01 c4 05 68 65 6c 6c 6f   field 1 KEY: bin 8, 5 bytes "hello"
 *   02 c4 05 77 6f 72 6c 64   field 2 VALUE: bin 8, 5 bytes "world"
 */
static void test_known_answer_put(void **state)
{
    static const char want_hex[] = "52 43 01 00 00 00 00 14 93 03 01 82"
                                   " 01 c4 05 68 65 6c 6c 6f 02 c4 05 77 6f 72 6c 64";
    uint8_t want[64];
    size_t n = unhex(want_hex, want, sizeof(want));
    struct rc_request req = {.op = RC_OP_PUT, .id = 1, .key = (const uint8_t *)"hello",
                             .key_len = 5, .has_key = 1, .value = (const uint8_t *)"world",
                             .value_len = 5, .has_value = 1};
    struct rc_buf b;

    (void)state;
    rc_buf_init(&b, 1024);
    assert_int_equal(rc_encode_request(&b, &req), 0);
    assert_int_equal(rc_buf_used(&b), n);
    assert_memory_equal(rc_buf_rptr(&b), want, n);
    rc_buf_reset(&b);

    /* PING id 0 with no fields: 52 43 01 00 00000004 | 93 01 00 80 */
    req = (struct rc_request){.op = RC_OP_PING};
    n = unhex("52 43 01 00 00 00 00 04 93 01 00 80", want, sizeof(want));
    assert_int_equal(rc_encode_request(&b, &req), 0);
    assert_int_equal(rc_buf_used(&b), n);
    assert_memory_equal(rc_buf_rptr(&b), want, n);
    rc_buf_close(&b);
}

static void test_frame_check(void **state)
{
    uint8_t f[32];
    size_t flen, i, n;

    (void)state;
    n = unhex("52 43 01 00 00 00 00 04 93 01 00 80", f, sizeof(f));
    for (i = 0; i < n; i++) { /* incomplete header, then incomplete body */
        flen = 99;
        assert_int_equal(rc_frame_check(f, i, 1024, &flen), 0);
        assert_int_equal(flen, 0);
    }
    assert_int_equal(rc_frame_check(f, n, 1024, &flen), 1);
    assert_int_equal(flen, n);
    f[n] = 0x52; /* the start of the next pipelined frame is not counted */
    assert_int_equal(rc_frame_check(f, n + 1, 1024, &flen), 1);
    assert_int_equal(flen, n);

    /* exact limit passes, one byte over fails */
    assert_int_equal(rc_frame_check(f, n, 4, &flen), 1);
    assert_int_equal(rc_frame_check(f, n, 3, &flen), RC_EFRAME_TOO_LARGE);
    assert_int_equal(flen, 0);
    memset(f + 4, 0xff, 4); /* 4 GiB declared: refused from the header alone */
    assert_int_equal(rc_frame_check(f, 8, UINT32_MAX - 1, &flen), RC_EFRAME_TOO_LARGE);
    assert_int_equal(rc_frame_check(f, 8, UINT32_MAX, &flen), 0);
    memset(f + 4, 0, 4); /* empty body at limit 0 */
    assert_int_equal(rc_frame_check(f, 8, 0, &flen), 1);
    assert_int_equal(flen, 8);
    f[7] = 4;

    f[0] = 'G'; /* "GET / HTTP/1.1": refused at the first byte */
    assert_int_equal(rc_frame_check(f, 1, 1024, &flen), RC_EPROTO);
    assert_int_equal(rc_frame_check(f, n, 1024, &flen), RC_EPROTO);
    assert_int_equal(flen, 0);
    f[0] = 0x52;
    f[1] = 0x44;
    assert_int_equal(rc_frame_check(f, 2, 1024, &flen), RC_EPROTO);
    f[1] = 0x43;
    f[2] = 2;
    assert_int_equal(rc_frame_check(f, 3, 1024, &flen), RC_EVERSION);
    f[2] = 0;
    assert_int_equal(rc_frame_check(f, n, 1024, &flen), RC_EVERSION);
    f[3] = 1; /* version is judged before flags */
    assert_int_equal(rc_frame_check(f, n, 1024, &flen), RC_EVERSION);
    f[2] = 1;
    assert_int_equal(rc_frame_check(f, 4, 1024, &flen), RC_EPROTO);
    f[3] = 0x80;
    assert_int_equal(rc_frame_check(f, n, 1024, &flen), RC_EPROTO);
    assert_int_equal(flen, 0);
}

static void test_truncated(void **state)
{
    struct rc_stat st[2] = {{.name = "a", .name_len = 1, .num = -300},
                            {.name = "bb", .name_len = 2, .is_str = 1, .str = "x", .str_len = 1}};
    struct rc_request req = {.op = RC_OP_PUT, .id = 70000, .key = (const uint8_t *)"key",
                             .key_len = 3, .has_key = 1, .value = (const uint8_t *)"value",
                             .value_len = 5, .has_value = 1, .ttl_ms = 1ull << 40,
                             .consistency = 2};
    struct rc_reply rep = {.id = 9, .message = "m", .message_len = 1, .stats = st, .nstats = 2,
                           .has_version = 1, .ver_hlc = 1ull << 50, .ver_node = 3,
                           .ttl_ms = 4};
    struct rc_request rq;
    struct rc_reply rp;
    struct rc_buf b;
    size_t i, flen, len;
    const uint8_t *p;

    rc_buf_init(&b, 1024);
    assert_int_equal(rc_encode_request(&b, &req), 0);
    p = frame_body(&b, &len);
    for (i = 0; i < len + RC_FRAME_HDR; i++)
        assert_int_equal(rc_frame_check(rc_buf_rptr(&b), i, 1024, &flen), 0);
    for (i = 0; i < len; i++)
        assert_int_equal(rc_decode_request(*state, p, i, &rq), RC_EPROTO);
    assert_int_equal(rc_decode_request(*state, p, len, &rq), 0);
    rc_buf_reset(&b);

    assert_int_equal(rc_encode_reply(&b, &rep), 0);
    p = frame_body(&b, &len);
    for (i = 0; i < len; i++)
        assert_int_equal(rc_decode_reply(*state, p, i, &rp), RC_EPROTO);
    assert_int_equal(rc_decode_reply(*state, p, len, &rp), 0);
    rc_buf_close(&b);
}

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* Decodes p both ways: each must return 0 or RC_EPROTO, and a request that
 * decodes must survive a re-encode unchanged. Returns 1 if either decoded. */
static int decode_any(struct rc_decoder *d, const uint8_t *p, size_t n)
{
    struct rc_request rq, rq2;
    struct rc_reply rp;
    struct rc_buf b;
    const uint8_t *body;
    size_t len;
    int r1, r2;

    r1 = rc_decode_request(d, p, n, &rq);
    assert_true(r1 == 0 || r1 == RC_EPROTO);
    if (r1 == 0) {
        /* canonical form can be longer: a str key is re-sent as bin */
        rc_buf_init(&b, 2 * n + 64);
        assert_int_equal(rc_encode_request(&b, &rq), 0);
        body = frame_body(&b, &len);
        assert_int_equal(rc_decode_request(d, body, len, &rq2), 0);
        assert_req_equal(&rq, &rq2);
        rc_buf_close(&b);
    }
    r2 = rc_decode_reply(d, p, n, &rp);
    assert_true(r2 == 0 || r2 == RC_EPROTO);
    return r1 == 0 || r2 == 0;
}

/* Fixed seeds, so a failure is reproducible. */
static void test_garbage(void **state)
{
    static const uint8_t heads[] = {0x90, 0x93, 0x81, 0x82, 0xdc, 0xdd, 0xde, 0xdf, 0xc4, 0xc5,
                                    0xc6, 0xd9, 0xda, 0xdb, 0xc7, 0xc8, 0xc9, 0xd4, 0xd8, 0xcf,
                                    0xd3, 0xcb, 0xc0, 0xc1, 0x00, 0x01, 0x07, 0xa3, 0xff, 0xe0};
    struct rc_request put = {.op = RC_OP_PUT, .id = 5, .key = (const uint8_t *)"k", .key_len = 1,
                             .has_key = 1, .value = (const uint8_t *)"vv", .value_len = 2,
                             .has_value = 1, .ttl_ms = 1000, .consistency = 1};
    struct rc_buf valid;
    uint8_t buf[96];
    uint64_t s = 0x9e3779b97f4a7c15u;
    size_t vlen, n, j;
    int i, ok = 0, ok_mut = 0;

    rc_buf_init(&valid, 256);
    assert_int_equal(rc_encode_request(&valid, &put), 0);
    vlen = rc_buf_used(&valid) - RC_FRAME_HDR;
    for (i = 0; i < 20000; i++) { /* random bytes, half starting like an array */
        n = xorshift64(&s) % sizeof(buf);
        for (j = 0; j < n; j++)
            buf[j] = (uint8_t)xorshift64(&s);
        if (n > 0 && i % 2)
            buf[0] = 0x93;
        ok += decode_any(*state, buf, n);
    }
    for (i = 0; i < 20000; i++) { /* a valid PUT with 1-4 bytes replaced */
        memcpy(buf, rc_buf_rptr(&valid) + RC_FRAME_HDR, vlen);
        for (j = xorshift64(&s) % 4 + 1; j > 0; j--)
            buf[xorshift64(&s) % vlen] = (uint8_t)xorshift64(&s);
        ok_mut += decode_any(*state, buf, vlen);
    }
    for (i = 0; i < 20000; i++) { /* streams of msgpack format bytes */
        n = xorshift64(&s) % sizeof(buf);
        for (j = 0; j < n; j++)
            buf[j] = xorshift64(&s) % 3 ? heads[xorshift64(&s) % sizeof(heads)]
                                        : (uint8_t)xorshift64(&s);
        ok += decode_any(*state, buf, n);
    }
    assert_true(ok_mut > 0); /* mutations do reach the field decoding */
    rc_buf_close(&valid);
}

static void test_lying_counts(void **state)
{
    static const char *bodies[] = {
        "dd ff ff ff ff",                      /* array32 of 4G items in 5 bytes */
        "dc ff ff",                            /* array16 of 65535 */
        "93 03 01 df ff ff ff ff",             /* map32 of 4G pairs */
        "93 03 01 de 00 02 01 c0",             /* 2 pairs need >= 4 bytes */
        "93 03 01 81 01 c6 ff ff ff ff",       /* bin32 of 4 GiB */
        "93 03 01 81 01 db ff ff ff ff",       /* str32 of 4 GiB */
        "93 03 01 81 09 c9 ff ff ff ff 01",    /* ext32 of 4 GiB */
        "93 03 01 81 01 c5 00 10 61 62 63",    /* bin16 of 16 with 3 present */
        "93 03 01 81 01 c4",                   /* bin8 without its length */
        "93 03 01 81 03 cf 00",                /* uint64 cut short */
        "93 03 01 81 09 d8 01",                /* fixext16 cut short */
        "93 03 01 81 09 dd 00 00 00 02 c0",    /* nested array lies by one */
        "94 03 01 80",                         /* top level lies by one */
    };
    struct rc_request rq;
    struct rc_reply rp;
    uint8_t *deep;
    size_t i;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        assert_int_equal(dec_req_hex(*state, bodies[i], &rq), RC_EPROTO);
        assert_int_equal(dec_rep_hex(*state, bodies[i], &rp), RC_EPROTO);
    }
    /* 10,000 nested arrays, complete and well formed: depth alone refuses it */
    deep = malloc(10001);
    assert_non_null(deep);
    memset(deep, 0x91, 10000);
    deep[10000] = 0x90;
    assert_int_equal(rc_decode_request(*state, deep, 10001, &rq), RC_EPROTO);
    assert_int_equal(rc_decode_reply(*state, deep, 10001, &rp), RC_EPROTO);
    free(deep);
}

static void test_depth_and_object_limits(void **state)
{
    struct rc_request rq;
    uint8_t body[1024];
    size_t n, i;

    /* body / fields / array / array is 4 deep: allowed (field 20 is unknown) */
    assert_int_equal(dec_req_hex(*state, "93 01 07 81 14 91 90", &rq), 0);
    assert_int_equal(rq.id, 7);
    assert_int_equal(dec_req_hex(*state, "93 01 07 81 14 91 91 90", &rq), RC_EPROTO);
    assert_int_equal(dec_req_hex(*state, "93 01 07 81 14 91 81 01 80", &rq), RC_EPROTO);

    /* 6 objects of envelope and field header plus k nils: 512 in all is the cap */
    for (i = 506; i <= 507; i++) {
        n = unhex("93 01 07 81 14 dc", body, sizeof(body));
        body[n++] = (uint8_t)(i >> 8);
        body[n++] = (uint8_t)i;
        memset(body + n, 0xc0, i);
        n += i;
        assert_int_equal(rc_decode_request(*state, body, n, &rq), i == 506 ? 0 : RC_EPROTO);
    }
}

static void test_fields_limits(void **state)
{
    struct rc_request rq;
    struct rc_reply rp;
    uint8_t body[1024];
    size_t n;
    int i, count;

    for (count = RC_MAX_FIELDS; count <= RC_MAX_FIELDS + 1; count++) {
        n = unhex("93 02 07 de", body, sizeof(body));
        body[n++] = 0;
        body[n++] = (uint8_t)count;
        for (i = 0; i < count; i++) { /* unknown fields 64.. */
            body[n++] = (uint8_t)(64 + i);
            body[n++] = 0xc0;
        }
        assert_int_equal(rc_decode_request(*state, body, n, &rq),
                         count <= RC_MAX_FIELDS ? 0 : RC_EPROTO);
        assert_int_equal(rq.id, 7);
    }
    for (count = RC_MAX_STATS; count <= RC_MAX_STATS + 1; count++) {
        n = unhex("93 00 07 81 06 de", body, sizeof(body));
        body[n++] = 0;
        body[n++] = (uint8_t)count;
        for (i = 0; i < count; i++) { /* "a": 0, repeated names are kept as sent */
            body[n++] = 0xa1;
            body[n++] = 'a';
            body[n++] = (uint8_t)(i & 0x7f);
        }
        assert_int_equal(rc_decode_reply(*state, body, n, &rp),
                         count <= RC_MAX_STATS ? 0 : RC_EPROTO);
        if (count <= RC_MAX_STATS) {
            assert_int_equal(rp.nstats, count);
            assert_int_equal(rp.stats[100].num, 100);
        }
    }
}

static void test_wrong_types_request(void **state)
{
    static const struct {
        const char *hex;
        uint32_t id; /* id expected in the RC_EPROTO result */
    } bad[] = {
        {"93 a1 78 07 80", 7},                          /* op is a str */
        {"93 ff 07 80", 7},                             /* op negative */
        {"93 cf 00 00 00 01 00 00 00 00 07 80", 7},     /* op > uint32 */
        {"93 01 ff 80", 0},                             /* id negative */
        {"93 01 cf 00 00 00 01 00 00 00 00 80", 0},     /* id > uint32 */
        {"93 01 a0 80", 0},                             /* id is a str */
        {"93 01 07 90", 7},                             /* fields is an array */
        {"93 01 07 c0", 7},                             /* fields is nil */
        {"93 02 07 81 a1 31 a1 6b", 7},                 /* field number is a str */
        {"93 02 07 81 ff c0", 7},                       /* field number negative */
        {"93 02 07 81 ca 3f 80 00 00 c0", 7},           /* field number is a float */
        {"93 02 07 81 01 05", 7},                       /* KEY is an int */
        {"93 02 07 81 01 c0", 7},                       /* KEY is nil */
        {"93 03 07 82 01 a1 6b 02 90", 7},              /* VALUE is an array */
        {"93 03 07 81 03 ff", 7},                       /* TTL negative */
        {"93 03 07 81 03 a1 31", 7},                    /* TTL is a str */
        {"93 03 07 81 03 ca 00 00 00 00", 7},           /* TTL is a float */
        {"93 02 07 81 04 cf 00 00 00 01 00 00 00 00", 7}, /* CONSISTENCY > uint32 */
        {"93 02 07 82 01 a1 61 01 a1 62", 7},           /* KEY twice */
    };
    struct rc_request rq;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&rq, 0xaa, sizeof(rq));
        assert_int_equal(dec_req_hex(*state, bad[i].hex, &rq), RC_EPROTO);
        assert_int_equal(rq.id, bad[i].id);
        assert_int_equal(rq.op, 0);
        assert_int_equal(rq.has_key, 0);
        assert_null(rq.key);
    }
}

static void test_wrong_types_reply(void **state)
{
    static const char *bad[] = {
        "93 a0 07 80",                                   /* status is a str */
        "93 00 07 81 05 c4 01 78",                       /* MESSAGE is bin */
        "93 00 07 81 07 01",                             /* VERSION not an array */
        "93 00 07 81 07 91 01",                          /* VERSION of 1 */
        "93 00 07 81 07 93 01 02 03",                    /* VERSION of 3 */
        "93 00 07 81 07 92 01 ff",                       /* VERSION negative */
        "93 00 07 81 07 92 a0 01",                       /* VERSION str */
        "93 00 07 81 06 90",                             /* STATS not a map */
        "93 00 07 81 06 81 01 01",                       /* stat name is an int */
        "93 00 07 81 06 81 a1 61 ca 00 00 00 00",        /* stat value float */
        "93 00 07 81 06 81 a1 61 c0",                    /* stat value nil */
        "93 00 07 81 06 81 a1 61 c4 00",                 /* stat value bin */
        "93 00 07 81 06 81 a1 61 cf 80 00 00 00 00 00 00 00", /* > INT64_MAX */
        "93 00 07 81 02 05",                             /* VALUE is an int */
        "93 00 07 81 03 ff",                             /* TTL negative */
    };
    struct rc_reply rp;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(dec_rep_hex(*state, bad[i], &rp), RC_EPROTO);
        assert_int_equal(rp.id, 7);
        assert_int_equal(rp.nstats, 0);
        assert_null(rp.message);
    }
    assert_int_equal(dec_rep_hex(*state,
                                 "93 00 07 81 06 82 a1 61 cf 7f ff ff ff ff ff ff ff"
                                 " a1 62 d3 80 00 00 00 00 00 00 00",
                                 &rp),
                     0);
    assert_int_equal(rp.nstats, 2);
    assert_int_equal(rp.stats[0].num, INT64_MAX);
    assert_int_equal(rp.stats[1].num, INT64_MIN);
}

static void test_lenient_forms(void **state)
{
    struct rc_request rq;
    struct rc_reply rp;

    /* non-canonical integer and container encodings are fine */
    assert_int_equal(dec_req_hex(*state, "dc 00 03 d0 02 cd 01 00 de 00 01 01 a3 6b 65 79", &rq),
                     0);
    assert_int_equal(rq.op, RC_OP_GET);
    assert_int_equal(rq.id, 256);
    assert_int_equal(rq.has_key, 1);
    assert_bytes(rq.key, rq.key_len, "key", 3); /* str accepted for KEY */
    assert_int_equal(dec_req_hex(*state, "dd 00 00 00 03 01 cf 00 00 00 00 ff ff ff ff 80", &rq),
                     0);
    assert_int_equal(rq.id, UINT32_MAX);
    assert_int_equal(dec_req_hex(*state, "93 03 07 82 03 cf ff ff ff ff ff ff ff ff 04 ce ff ff ff ff",
                                 &rq),
                     0);
    assert_int_equal(rq.ttl_ms, UINT64_MAX);
    assert_int_equal(rq.consistency, UINT32_MAX);

    /* unknown fields of any type are skipped; reply-only fields in a request too */
    assert_int_equal(dec_req_hex(*state,
                                 "93 01 07 88 00 c0 14 ca 3f 80 00 00 0a 92 01 02 15 81 a1 61 c3"
                                 " 0c d4 01 00 05 a1 78 1e c0 cf ff ff ff ff ff ff ff ff 90",
                                 &rq),
                     0);
    assert_int_equal(rq.op, 1);
    assert_int_equal(rq.has_key, 0);
    /* KEY and CONSISTENCY mean nothing in a reply */
    assert_int_equal(dec_rep_hex(*state, "93 00 07 82 01 05 04 a0", &rp), 0);
    assert_int_equal(rp.has_value, 0);
    /* empty stats map: decodes as no stats */
    assert_int_equal(dec_rep_hex(*state, "93 00 07 81 06 80", &rp), 0);
    assert_int_equal(rp.nstats, 0);
}

static void test_shape(void **state)
{
    static const char *bad[] = {
        "",
        "80",                /* map at top level */
        "01",                /* int at top level */
        "a0",                /* str at top level */
        "c0",                /* nil at top level */
        "c1",                /* never-used format byte */
        "dc",                /* array16 without its count */
        "90",                /* wrong arity: 0 */
        "92 01 07",          /* 2 */
        "94 01 07 80 c0",    /* 4 */
        "93 01 07 80 00",    /* trailing byte */
        "93 01 07 80 93 01 08 80", /* two messages in one body */
        "93 01 07 81 09 c1", /* never-used format byte inside */
    };
    struct rc_request rq;
    struct rc_reply rp;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(dec_req_hex(*state, bad[i], &rq), RC_EPROTO);
        assert_int_equal(dec_rep_hex(*state, bad[i], &rp), RC_EPROTO);
    }
}

static void test_encode_buffer_full(void **state)
{
    static const uint8_t val[100];
    struct rc_request big = {.op = RC_OP_PUT, .id = 1, .key = (const uint8_t *)"k", .key_len = 1,
                             .has_key = 1, .value = val, .value_len = 100, .has_value = 1};
    struct rc_request ping = {.op = RC_OP_PING, .id = 2};
    struct rc_reply rep = {.id = 3, .value = val, .value_len = 100, .has_value = 1};
    struct rc_buf b;
    size_t flen, frame;

    (void)state;
    rc_buf_init(&b, 16);
    assert_int_equal(rc_encode_request(&b, &big), RC_EBUFFER_FULL);
    assert_int_equal(rc_buf_used(&b), 0);
    assert_int_equal(rc_encode_reply(&b, &rep), RC_EBUFFER_FULL);
    assert_int_equal(rc_encode_error(&b, 1, RC_EINVAL, NULL), RC_EBUFFER_FULL);
    assert_int_equal(rc_buf_used(&b), 0);
    rc_buf_close(&b);

    /* Unread bytes before the frame, behind a consumed prefix: kept intact
     * even though growing compacts the buffer. */
    rc_buf_init(&b, 64);
    assert_int_equal(rc_buf_append(&b, "xxxxxabcde", 10), 0);
    rc_buf_consume(&b, 5);
    assert_int_equal(rc_encode_request(&b, &big), RC_EBUFFER_FULL);
    assert_int_equal(rc_buf_used(&b), 5);
    assert_memory_equal(rc_buf_rptr(&b), "abcde", 5);
    assert_int_equal(rc_encode_request(&b, &ping), 0);
    assert_memory_equal(rc_buf_rptr(&b), "abcde", 5);
    assert_int_equal(rc_frame_check(rc_buf_rptr(&b) + 5, rc_buf_used(&b) - 5, 64, &flen), 1);
    rc_buf_close(&b);

    /* A frame fits a cap of exactly its size, not one byte less. */
    rc_buf_init(&b, 1024);
    assert_int_equal(rc_encode_request(&b, &big), 0);
    frame = rc_buf_used(&b);
    rc_buf_close(&b);
    rc_buf_init(&b, frame);
    assert_int_equal(rc_encode_request(&b, &big), 0);
    rc_buf_close(&b);
    rc_buf_init(&b, frame - 1);
    assert_int_equal(rc_encode_request(&b, &big), RC_EBUFFER_FULL);
    assert_int_equal(rc_buf_used(&b), 0);
    rc_buf_close(&b);
}

static void test_pipelined(void **state)
{
    struct rc_request rq, in = {.op = RC_OP_GET, .key = (const uint8_t *)"k", .key_len = 1,
                                .has_key = 1};
    struct rc_buf b;
    size_t flen;
    uint32_t id;

    rc_buf_init(&b, 4096);
    for (id = 0; id < 10; id++) {
        in.id = id;
        assert_int_equal(rc_encode_request(&b, &in), 0);
    }
    for (id = 0; id < 10; id++) {
        assert_int_equal(rc_frame_check(rc_buf_rptr(&b), rc_buf_used(&b), 4096, &flen), 1);
        assert_int_equal(rc_decode_request(*state, rc_buf_rptr(&b) + RC_FRAME_HDR,
                                           flen - RC_FRAME_HDR, &rq),
                         0);
        assert_int_equal(rq.id, id);
        rc_buf_consume(&b, flen);
    }
    assert_int_equal(rc_buf_used(&b), 0);
    rc_buf_close(&b);
}

/*
 * Regression (found by fuzz_codec): msgpack-c gives an empty str/bin the
 * pointer of the last non-empty one, or NULL if there was none, so an empty
 * MESSAGE decoded as absent after a round trip. Empty strings must come
 * out present and non-NULL.
 */
static void test_empty_strings(void **state)
{
    struct rc_request rq;
    struct rc_reply rp;

    assert_int_equal(dec_rep_hex(*state, "93 00 05 81 05 a0", &rp), 0);
    assert_non_null(rp.message);
    assert_int_equal(rp.message_len, 0);
    assert_int_equal(dec_rep_hex(*state, "93 00 05 82 06 81 a0 a0 02 c4 00", &rp), 0);
    assert_int_equal(rp.nstats, 1);
    assert_non_null(rp.stats[0].name);
    assert_non_null(rp.stats[0].str);
    assert_int_equal(rp.has_value, 1);
    assert_non_null(rp.value);
    assert_int_equal(dec_req_hex(*state, "93 03 01 82 01 a0 02 c4 00", &rq), 0);
    assert_non_null(rq.key);
    assert_non_null(rq.value);
    assert_int_equal(rq.key_len + rq.value_len, 0);
}

/* Internode messages: replica writes and reads, digests, stream ranges. */
static void test_internode_roundtrip(void **state)
{
    struct rc_request rq = {.op = RC_OP_REPL_WRITE, .id = 9, .has_key = 1};
    struct rc_request rq_out;
    struct rc_reply rp = {.id = 9, .has_version = 1, .tombstone = 1, .existed = 1};
    struct rc_reply rp_out;
    struct rc_buf b;

    rq.key = (const uint8_t *)"k";
    rq.key_len = 1;
    rq.has_version = 1;
    rq.ver_hlc = UINT64_MAX;
    rq.ver_node = 0x0123456789abcdefULL;
    rq.expires_ms = (uint64_t)INT64_MAX;
    rq.tombstone = 1;
    roundtrip_req(*state, &b, &rq, &rq_out);
    rc_buf_close(&b);
    memset(&rq, 0, sizeof(rq));
    rq.op = RC_OP_RANGE_DIGEST;
    rq.has_range = 1;
    rq.range_first = 0;
    rq.range_last = UINT64_MAX;
    rq.pieces = 16;
    rq.before_hlc = 0x0123456789abcdefULL; /* anti-entropy's cutoff (field 14) */
    roundtrip_req(*state, &b, &rq, &rq_out);
    rc_buf_close(&b);
    rp.ver_hlc = 5;
    rp.ver_node = 6;
    rp.expires_ms = 1234567890123ULL;
    rp.has_digest = 1;
    rp.digest = 0xfeedfacecafebeefULL;
    rp.digest_count = 42;
    rp.evicted = 1; /* field 15 */
    roundtrip_rep(*state, &b, &rp, &rp_out);
    rc_buf_close(&b);
    /* EVICTED (15) of a reply must be a bool: status 0, id 1, {15: 1}. */
    assert_int_equal(dec_rep_hex(*state, "93 00 01 81 0f 01", &rp_out), RC_EPROTO);
    assert_int_equal(dec_rep_hex(*state, "93 00 01 81 0f c3", &rp_out), 0);
    assert_int_equal(rp_out.evicted, 1);
    /* A range whose first token is above its last is malformed. */
    assert_int_equal(dec_req_hex(*state, "93 43 01 81 0b 92 02 01", &rq_out), RC_EPROTO);
    assert_int_equal(dec_req_hex(*state, "93 43 01 81 0b 92 01 01", &rq_out), 0);
    /* BEFORE (14) must be an unsigned integer. */
    assert_int_equal(dec_req_hex(*state, "93 43 01 81 0e a1 78", &rq_out), RC_EPROTO);
    assert_int_equal(dec_req_hex(*state, "93 43 01 81 0e 07", &rq_out), 0);
    assert_int_equal(rq_out.before_hlc, 7);
    /* Attributes (16, 17) and increments (18, 19): absent means 0. */
    memset(&rq, 0, sizeof(rq));
    rq.op = RC_OP_REPL_INCR;
    rq.flags = UINT32_MAX;
    rq.kind = 1;
    rq.has_delta = 1;
    rq.delta = INT64_MIN;
    roundtrip_req(*state, &b, &rq, &rq_out);
    rc_buf_close(&b);
    rq.has_delta = 0;
    rq.delta = 0;
    rq.has_delta_float = 1;
    rq.delta_float = -0.125;
    roundtrip_req(*state, &b, &rq, &rq_out);
    rc_buf_close(&b);
    memset(&rp, 0, sizeof(rp));
    rp.flags = 0xdeadbeefu;
    rp.kind = 1;
    roundtrip_rep(*state, &b, &rp, &rp_out);
    rc_buf_close(&b);
    /* FLAGS must fit 32 bits; DELTA int64; DELTA_FLOAT finite. */
    assert_int_equal(dec_req_hex(*state, "93 45 01 81 10 cf 00 00 00 01 00 00 00 00", &rq_out),
                     RC_EPROTO);
    assert_int_equal(dec_req_hex(*state, "93 45 01 81 12 cf 80 00 00 00 00 00 00 00", &rq_out),
                     RC_EPROTO);
    assert_int_equal(dec_req_hex(*state, "93 45 01 81 12 ff", &rq_out), 0);
    assert_true(rq_out.has_delta && rq_out.delta == -1);
    assert_int_equal(dec_req_hex(*state, "93 45 01 81 13 cb 7f f0 00 00 00 00 00 00", &rq_out),
                     RC_EPROTO); /* infinity */
    assert_int_equal(dec_req_hex(*state, "93 45 01 81 13 a1 78", &rq_out), RC_EPROTO);
    /* TOMBSTONE must be a bool, EXPIRES must fit in int64. */
    assert_int_equal(dec_req_hex(*state, "93 40 01 81 09 01", &rq_out), RC_EPROTO);
    assert_int_equal(dec_req_hex(*state, "93 40 01 81 08 cf 80 00 00 00 00 00 00 00", &rq_out),
                     RC_EPROTO);
}

/*
 * Regression (issue 13, defect 5): a body refused for anything after its
 * [op, id] prefix - an extra element, truncation inside an intact frame, a
 * bad byte in a field, a lying map count, too deep, too many objects - was
 * answered with id 0 although the id was readable. Every such body must
 * give back its id, and d->why must say "malformed body: <reason>".
 */
static void test_id_of_malformed_bodies(void **state)
{
    static const struct {
        const char *hex;
        uint32_t id; /* id the RC_EPROTO result must carry, 0 = unreadable */
        const char *why; /* expected in d->why */
    } bad[] = {
        {"94 01 07 80 c0", 7, "not an array of 3 elements"},        /* extra element */
        {"92 01 07", 7, "not an array of 3 elements"},              /* no fields */
        {"93 03 07", 7, "truncated"},                               /* cut after the id */
        {"93 03 07 82 01 c4 05 61", 7, "truncated"},                /* bin cut short */
        {"93 03 07 81 01 c1", 7, "0xc1"},                           /* bad byte in a field */
        {"93 03 07 83 01 a1 6b", 7, "truncated"},                   /* map count > entries */
        {"93 01 07 81 14 91 91 90", 7, "nested too deep"},
        {"93 01 07 80 00", 7, "bytes after the array"},
        {"93 01 07 82 01 a1 61 01 a1 62", 7, "field 1 appears twice"},
        {"93 03 07 81 03 ff", 7, "field 3 has the wrong type or value"},
        {"93 01 07 81 a1 31 c0", 7, "field number"},
        {"93 01 07 90", 7, "fields are not a map"},
        {"93 a1 78 07 80", 7, "op is not"},                         /* op a str */
        {"94 91 01 07 80 c0", 7, "not an array of 3"},              /* op a container */
        {"dc 00 04 01 d1 01 00 80 c0", 256, "not an array of 3"},   /* int16 id, array16 */
        {"dd 00 00 00 05 01 ce 00 01 00 00 80", 65536, "truncated"}, /* array32 cut short */
        {"93 01 d0 7f 80 00", 127, "bytes after"},                  /* int8 id */
        {"91 01", 0, "not an array of 3"},                          /* no id at all */
        {"93 01", 0, "truncated"},
        {"93 01 ff 80 c0", 0, "bytes after"},                       /* negative id */
        {"93 01 d0 ff 80", 0, "id is not"},                         /* int8 -1 */
        {"93 01 cf 00 00 00 01 00 00 00 00 80 c0", 0, "bytes after"}, /* id > 2^32 */
        {"93 c1 07 80", 0, "0xc1"},                                 /* op unreadable */
        {"93 c4 05 61 07 80", 0, "truncated"},                      /* op bin cut short */
        {"01", 0, "not a MessagePack array"},
        {"", 0, "empty body"},
    };
    struct rc_decoder *d = *state;
    struct rc_request rq;
    struct rc_reply rp;
    uint8_t body[1024];
    size_t i, n;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&rq, 0xaa, sizeof(rq));
        assert_int_equal(dec_req_hex(d, bad[i].hex, &rq), RC_EPROTO);
        if (rq.id != bad[i].id || strstr(d->why, bad[i].why) == NULL)
            print_error("body %s: id %u, want %u; why \"%s\", want \"%s\"\n", bad[i].hex, rq.id,
                        bad[i].id, d->why, bad[i].why);
        assert_int_equal(rq.id, bad[i].id);
        assert_int_equal(strncmp(d->why, "malformed body: ", 16), 0);
        assert_non_null(strstr(d->why, bad[i].why));
        assert_int_equal(rq.op, 0);
        assert_int_equal(rq.has_key, 0);
        /* Replies carry their id the same way (the kind is the status),
         * except that KEY (field 1) means nothing in a reply. */
        if (strstr(bad[i].why, "field 1 ") != NULL) {
            assert_int_equal(dec_rep_hex(d, bad[i].hex, &rp), 0);
            continue;
        }
        assert_int_equal(dec_rep_hex(d, bad[i].hex, &rp), RC_EPROTO);
        assert_int_equal(rp.id, bad[i].id);
        assert_int_equal(strncmp(d->why, "malformed body: ", 16), 0);
    }
    /* More than 512 objects: the id comes first, so it is known. */
    n = unhex("93 01 07 81 14 dc 01 fb", body, sizeof(body));
    memset(body + n, 0xc0, 507);
    assert_int_equal(rc_decode_request(d, body, n + 507, &rq), RC_EPROTO);
    assert_int_equal(rq.id, 7);
    assert_non_null(strstr(d->why, "too many objects"));
    /* A valid body clears the reason. */
    assert_int_equal(dec_req_hex(d, "93 01 07 80", &rq), 0);
    assert_string_equal(d->why, "");
}

/* Frame errors and body errors say which they are (docs/protocol.md §7). */
static void test_error_messages(void **state)
{
    static const uint8_t magic[] = {'G', 'E', 'T', ' '};
    static const uint8_t flags[] = {0x52, 0x43, 0x01, 0x80, 0, 0, 0, 4};
    static const uint8_t version[] = {0x52, 0x43, 0x02, 0x00};
    struct rc_reply out;
    const uint8_t *body;
    struct rc_buf b;
    size_t len, flen;

    assert_int_equal(rc_frame_check(magic, sizeof(magic), 64, &flen), RC_EPROTO);
    assert_string_equal(rc_frame_error_msg(magic, sizeof(magic), RC_EPROTO),
                        "malformed frame: bad magic bytes, not a ringcache frame");
    assert_int_equal(rc_frame_check(flags, sizeof(flags), 64, &flen), RC_EPROTO);
    assert_string_equal(rc_frame_error_msg(flags, sizeof(flags), RC_EPROTO),
                        "malformed frame: reserved flags byte not zero");
    assert_int_equal(rc_frame_check(version, sizeof(version), 64, &flen), RC_EVERSION);
    assert_string_equal(rc_frame_error_msg(version, sizeof(version), RC_EVERSION),
                        rc_strerror(RC_EVERSION));
    /* A PROTO error reply without a message of its own is a body error:
     * frame errors always name themselves. */
    rc_buf_init(&b, 1024);
    assert_int_equal(rc_encode_error(&b, 9, RC_EPROTO, NULL), 0);
    body = frame_body(&b, &len);
    assert_int_equal(rc_decode_reply(*state, body, len, &out), 0);
    assert_int_equal(out.id, 9);
    assert_int_equal(out.status, 2);
    assert_true(out.message_len > 16);
    assert_memory_equal(out.message, "malformed body: ", 16);
    rc_buf_close(&b);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_decoder, teardown_decoder)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_requests_roundtrip),
        T(test_replies_roundtrip),
        T(test_full_stats_roundtrip),
        T(test_error_reply),
        T(test_binary_keys),
        T(test_max_size_values),
        T(test_known_answer_put),
        T(test_frame_check),
        T(test_truncated),
        T(test_garbage),
        T(test_lying_counts),
        T(test_depth_and_object_limits),
        T(test_fields_limits),
        T(test_wrong_types_request),
        T(test_wrong_types_reply),
        T(test_lenient_forms),
        T(test_shape),
        T(test_encode_buffer_full),
        T(test_pipelined),
        T(test_empty_strings),
        T(test_internode_roundtrip),
        T(test_id_of_malformed_bodies),
        T(test_error_messages),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
