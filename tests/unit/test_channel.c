/*
 * test_channel.c - the framed, sealed byte stream shared by every TCP
 * transport (server/channel.c), without sockets: frames split where they
 * were read, a sealed stream between two channels byte by byte, a wrong
 * key refused, a removed key noticed, the refused-peer log rate limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "channel.h"
#include "codec.h"
#include "err.h"
#include "seal.h"

#define MAX_FRAME 4096
#define OUT_CAP (64 * 1024)

static const char *const KEY_A =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
static const char *const KEY_B =
    "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n";

static void load(const char *text, struct rc_seal_keys *k)
{
    char err[128];

    assert_int_equal(rc_seal_keys_parse(text, strlen(text), k, err, sizeof(err)), 0);
}

static int setup(void **state)
{
    (void)state;
    return rc_seal_init();
}

/* Moves the bytes of from into to as reads of at most step bytes, opening
 * records as they come (as a read callback would). Returns the first
 * error of rc_channel_open, or 0. */
static int pipe_bytes(struct rc_buf *from, struct rc_channel *to, const struct rc_seal_keys *k,
                      size_t step)
{
    const char *why;
    uv_buf_t b;
    size_t n;
    int rv;

    while (rc_buf_used(from) > 0) {
        rc_channel_alloc(to, &b);
        assert_true(b.len > 0);
        n = rc_buf_used(from) < step ? rc_buf_used(from) : step;
        n = n < b.len ? n : b.len;
        memcpy(b.base, rc_buf_rptr(from), n);
        rc_channel_received(to, n);
        rc_buf_consume(from, n);
        rv = rc_channel_open(to, k, &why);
        if (rv < 0)
            return rv;
    }
    return 0;
}

static void encode_ping(struct rc_buf *out, uint32_t id)
{
    struct rc_request req;

    memset(&req, 0, sizeof(req));
    req.op = RC_OP_PING;
    req.id = id;
    assert_int_equal(rc_encode_request(out, &req), 0);
}

/* Takes the next frame from ch and checks it is the PING with this id. */
static void expect_ping(struct rc_channel *ch, struct rc_decoder *dec, uint32_t id)
{
    struct rc_request req;
    const uint8_t *body;
    size_t len;

    assert_int_equal(rc_channel_next(ch, &body, &len), 1);
    assert_int_equal(rc_decode_request(dec, body, len, &req), 0);
    assert_int_equal(req.op, RC_OP_PING);
    assert_int_equal(req.id, id);
    rc_channel_consume(ch);
}

static void test_plain_frames(void **state)
{
    struct rc_channel ch;
    struct rc_decoder dec;
    struct rc_buf wire, *o;
    const uint8_t *body;
    size_t len;
    uint8_t big[RC_FRAME_HDR];
    uint32_t i;

    (void)state;
    assert_int_equal(rc_decoder_init(&dec), 0);
    rc_channel_init(&ch, MAX_FRAME, 1024, OUT_CAP, 0);
    rc_buf_init(&wire, OUT_CAP);
    for (i = 1; i <= 3; i++)
        encode_ping(&wire, i);
    /* Plain: the bytes to write are the output itself. */
    assert_int_equal(rc_channel_wire(&ch, &wire, &o), 0);
    assert_ptr_equal(o, &wire);
    assert_true(rc_channel_ready(&ch));
    /* All but the last byte: two frames, then the third is incomplete. */
    {
        struct rc_buf part;

        rc_buf_init(&part, OUT_CAP);
        assert_int_equal(rc_buf_append(&part, rc_buf_rptr(&wire), rc_buf_used(&wire) - 1), 0);
        assert_int_equal(pipe_bytes(&part, &ch, NULL, 3), 0);
        rc_buf_close(&part);
    }
    expect_ping(&ch, &dec, 1);
    expect_ping(&ch, &dec, 2);
    assert_int_equal(rc_channel_next(&ch, &body, &len), 0);
    rc_buf_consume(&wire, rc_buf_used(&wire) - 1);
    assert_int_equal(pipe_bytes(&wire, &ch, NULL, 1), 0);
    expect_ping(&ch, &dec, 3);
    assert_int_equal(rc_channel_next(&ch, &body, &len), 0);
    /* A header announcing more than the limit is refused before any body. */
    {
        struct rc_buf one;

        rc_buf_init(&one, OUT_CAP);
        encode_ping(&one, 9);
        memcpy(big, rc_buf_rptr(&one), sizeof(big));
        rc_buf_close(&one);
    }
    big[4] = 0x7f; /* body length, big-endian, far over MAX_FRAME */
    assert_int_equal(rc_buf_append(&wire, big, sizeof(big)), 0);
    assert_int_equal(pipe_bytes(&wire, &ch, NULL, 8), 0);
    assert_int_equal(rc_channel_next(&ch, &body, &len), RC_EFRAME_TOO_LARGE);
    rc_channel_close(&ch);
    rc_buf_close(&wire);
    rc_decoder_close(&dec);
}

/* Initiator a and responder b exchange hellos, then a's frames reach b
 * sealed, one byte per read. */
static void test_sealed_round_trip(void **state)
{
    struct rc_seal_keys k, other;
    struct rc_channel a, b;
    struct rc_decoder dec;
    struct rc_buf out, *o;
    uint32_t i;

    (void)state;
    load(KEY_A, &k);
    load(KEY_B, &other);
    assert_int_equal(rc_decoder_init(&dec), 0);
    rc_channel_init(&a, MAX_FRAME, 1024, OUT_CAP, 1);
    rc_channel_init(&b, MAX_FRAME, 1024, OUT_CAP, 1);
    rc_buf_init(&out, OUT_CAP);
    assert_int_equal(rc_channel_start(&a, &k, 1), 0);
    assert_int_equal(rc_channel_start(&b, &k, 0), 0);
    assert_false(rc_channel_ready(&a));
    /* Before the peer's hello, output waits unsealed; only the hello goes. */
    encode_ping(&out, 1);
    assert_int_equal(rc_channel_wire(&a, &out, &o), 0);
    assert_ptr_equal(o, &a.sout);
    assert_int_equal(rc_buf_used(o), RC_SEAL_HELLO_LEN);
    assert_true(rc_buf_used(&out) > 0);
    assert_int_equal(pipe_bytes(&a.sout, &b, &k, 1), 0);
    assert_int_equal(pipe_bytes(&b.sout, &a, &k, 7), 0);
    assert_true(rc_channel_ready(&a));
    assert_true(rc_channel_ready(&b));
    for (i = 2; i <= 50; i++)
        encode_ping(&out, i);
    assert_int_equal(rc_channel_wire(&a, &out, &o), 0);
    assert_int_equal(rc_buf_used(&out), 0);
    assert_int_equal(pipe_bytes(o, &b, &k, 1), 0);
    for (i = 1; i <= 50; i++)
        expect_ping(&b, &dec, i);
    /* A reload that drops the key: both ends notice. */
    assert_false(rc_channel_key_removed(&a, &k));
    assert_false(rc_channel_key_removed(&b, &k));
    assert_true(rc_channel_key_removed(&a, &other));
    assert_true(rc_channel_key_removed(&b, &other));
    /* A dropped connection starts afresh, plain until started again. */
    rc_channel_reset(&a);
    assert_true(rc_channel_ready(&a));
    assert_false(rc_channel_key_removed(&a, &other));
    rc_channel_close(&a);
    rc_channel_close(&b);
    rc_buf_close(&out);
    rc_decoder_close(&dec);
}

static void test_wrong_key_refused(void **state)
{
    struct rc_seal_keys k, other;
    struct rc_channel a, b;

    (void)state;
    load(KEY_A, &k);
    load(KEY_B, &other);
    rc_channel_init(&a, MAX_FRAME, 1024, OUT_CAP, 1);
    rc_channel_init(&b, MAX_FRAME, 1024, OUT_CAP, 1);
    assert_int_equal(rc_channel_start(&a, &other, 1), 0);
    assert_int_equal(rc_channel_start(&b, &k, 0), 0);
    assert_int_equal(pipe_bytes(&a.sout, &b, &k, 64), RC_ECLUSTER_KEY);
    rc_channel_close(&a);
    rc_channel_close(&b);
}

static void test_refused_log_rate(void **state)
{
    struct rc_channel_log l = {0};
    uint32_t suppressed = 99;
    int i;

    (void)state;
    assert_int_equal(rc_channel_log_due(&l, 1000, &suppressed), 1);
    assert_int_equal(suppressed, 0);
    for (i = 0; i < 5; i++)
        assert_int_equal(rc_channel_log_due(&l, 1000 + RC_CHANNEL_LOG_MS - 1, &suppressed), 0);
    assert_int_equal(rc_channel_log_due(&l, 1000 + RC_CHANNEL_LOG_MS, &suppressed), 1);
    assert_int_equal(suppressed, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_frames),
        cmocka_unit_test(test_sealed_round_trip),
        cmocka_unit_test(test_wrong_key_refused),
        cmocka_unit_test(test_refused_log_rate),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
