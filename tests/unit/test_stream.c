/*
 * test_stream.c - the internode streaming decoders: STREAM batches (entry
 * shapes, limits, token range) and RANGE_DIGEST piece digests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "buf.h"
#include "codec.h"
#include "err.h"
#include "ring.h"
#include "stream.h"

struct packbuf {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

static void pb_init(struct packbuf *b)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

static void pack_entry(struct packbuf *b, const char *key, const char *value, uint64_t hlc,
                       uint64_t node, uint64_t expires)
{
    msgpack_pack_array(&b->pk, 5);
    msgpack_pack_bin(&b->pk, strlen(key));
    msgpack_pack_bin_body(&b->pk, key, strlen(key));
    if (value == NULL) {
        msgpack_pack_nil(&b->pk);
    } else {
        msgpack_pack_bin(&b->pk, strlen(value));
        msgpack_pack_bin_body(&b->pk, value, strlen(value));
    }
    msgpack_pack_uint64(&b->pk, hlc);
    msgpack_pack_uint64(&b->pk, node);
    msgpack_pack_uint64(&b->pk, expires);
}

static int setup(void **state)
{
    static msgpack_zone zone;

    if (!msgpack_zone_init(&zone, 4096))
        return -1;
    *state = &zone;
    return 0;
}

static int teardown(void **state)
{
    msgpack_zone_destroy(*state);
    return 0;
}

static void test_batch_ok(void **state)
{
    struct packbuf b;
    const msgpack_object *e;
    struct rc_stream_entry en;
    uint32_t n;

    pb_init(&b);
    msgpack_pack_array(&b.pk, 2);
    pack_entry(&b, "alpha", "one", 100, 7, 0);
    pack_entry(&b, "beta", NULL, 101, 8, 5);
    assert_int_equal(rc_stream_batch(*state, (uint8_t *)b.sb.data, b.sb.size, &e, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rc_stream_entry(&e[0], 1024, 1024, 0, UINT64_MAX, &en), 0);
    assert_int_equal(en.key_len, 5);
    assert_memory_equal(en.key, "alpha", 5);
    assert_int_equal(en.value_len, 3);
    assert_memory_equal(en.value, "one", 3);
    assert_int_equal(en.hlc, 100);
    assert_int_equal(en.node, 7);
    assert_int_equal(rc_stream_entry(&e[1], 1024, 1024, 0, UINT64_MAX, &en), 0);
    assert_null(en.value); /* tombstone */
    assert_int_equal(en.value_len, 0);
    assert_int_equal(en.expires_ms, 5);
    msgpack_sbuffer_destroy(&b.sb);
}

static void test_entry_limits(void **state)
{
    struct packbuf b;
    const msgpack_object *e;
    struct rc_stream_entry en;
    uint64_t tok = rc_ring_token("alpha", 5);
    uint32_t n;

    pb_init(&b);
    msgpack_pack_array(&b.pk, 3);
    pack_entry(&b, "alpha", "0123456789", 1, 1, 0);
    pack_entry(&b, "alpha", "v", 1, 1, (uint64_t)INT64_MAX + 1); /* expiry too large */
    msgpack_pack_array(&b.pk, 4);                               /* wrong shape */
    msgpack_pack_nil(&b.pk);
    msgpack_pack_nil(&b.pk);
    msgpack_pack_nil(&b.pk);
    msgpack_pack_nil(&b.pk);
    assert_int_equal(rc_stream_batch(*state, (uint8_t *)b.sb.data, b.sb.size, &e, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(rc_stream_entry(&e[0], 1024, 10, 0, UINT64_MAX, &en), 0);
    assert_int_equal(rc_stream_entry(&e[0], 1024, 9, 0, UINT64_MAX, &en), RC_EPROTO);
    assert_int_equal(rc_stream_entry(&e[0], 4, 1024, 0, UINT64_MAX, &en), RC_EPROTO);
    /* The key's token must lie in the announced range. */
    assert_int_equal(rc_stream_entry(&e[0], 1024, 1024, tok, tok, &en), 0);
    if (tok < UINT64_MAX)
        assert_int_equal(rc_stream_entry(&e[0], 1024, 1024, tok + 1, UINT64_MAX, &en),
                         RC_EPROTO);
    if (tok > 0)
        assert_int_equal(rc_stream_entry(&e[0], 1024, 1024, 0, tok - 1, &en), RC_EPROTO);
    assert_int_equal(rc_stream_entry(&e[1], 1024, 1024, 0, UINT64_MAX, &en), RC_EPROTO);
    assert_int_equal(rc_stream_entry(&e[2], 1024, 1024, 0, UINT64_MAX, &en), RC_EPROTO);
    msgpack_sbuffer_destroy(&b.sb);
}

static void test_batch_malformed(void **state)
{
    /* array32 claiming 4G entries, a map, truncation, trailing bytes */
    static const uint8_t lie[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0};
    static const uint8_t map[] = {0x80};
    static const uint8_t trunc[] = {0x91, 0x95, 0xc4, 0x05, 'a'};
    static const uint8_t trailing[] = {0x90, 0x00};
    const msgpack_object *e;
    uint32_t n = 7;

    assert_int_equal(rc_stream_batch(*state, lie, sizeof(lie), &e, &n), RC_EPROTO);
    assert_int_equal(n, 0);
    assert_int_equal(rc_stream_batch(*state, map, sizeof(map), &e, &n), RC_EPROTO);
    assert_int_equal(rc_stream_batch(*state, trunc, sizeof(trunc), &e, &n), RC_EPROTO);
    assert_int_equal(rc_stream_batch(*state, trailing, sizeof(trailing), &e, &n), RC_EPROTO);
    assert_int_equal(rc_stream_batch(*state, NULL, 0, &e, &n), RC_EPROTO);
}

static void test_pieces(void **state)
{
    struct packbuf b;
    uint64_t d[4], c[4];
    uint8_t valid[4];
    int i;

    pb_init(&b);
    msgpack_pack_array(&b.pk, 4);
    for (i = 0; i < 3; i++) {
        msgpack_pack_array(&b.pk, 2);
        msgpack_pack_uint64(&b.pk, 1000 + (uint64_t)i);
        msgpack_pack_uint64(&b.pk, (uint64_t)i);
    }
    msgpack_pack_str(&b.pk, 1); /* a malformed piece: treated as differing */
    msgpack_pack_str_body(&b.pk, "x", 1);
    assert_int_equal(rc_stream_pieces(*state, (uint8_t *)b.sb.data, b.sb.size, 4, d, c, valid), 0);
    for (i = 0; i < 3; i++) {
        assert_int_equal(valid[i], 1);
        assert_int_equal(d[i], 1000 + (uint64_t)i);
        assert_int_equal(c[i], (uint64_t)i);
    }
    assert_int_equal(valid[3], 0);
    /* The wrong number of pieces: unusable as a whole. */
    assert_int_equal(rc_stream_pieces(*state, (uint8_t *)b.sb.data, b.sb.size, 3, d, c, valid),
                     RC_EPROTO);
    assert_int_equal(valid[0], 0);
    assert_int_equal(rc_stream_pieces(*state, (uint8_t *)b.sb.data, b.sb.size, 0, d, c, valid),
                     RC_EPROTO);
    msgpack_sbuffer_destroy(&b.sb);
}

/* The size bounds a sender batches by (issue 13): the largest entry - key
 * and value at their limits, every integer at its widest - stays within
 * rc_stream_entry_size, fits rc_stream_batch_cap alone, and a STREAM
 * request carrying a batch of that cap fits the peer port's frame limit
 * (max value + max key + 4 KiB), whatever its id and range. */
static void test_size_bounds(void **state)
{
    const size_t max_key = 1024, max_value = 1024 * 1024;
    const uint32_t max_frame = (uint32_t)(max_value + max_key + 4096);
    size_t cap = rc_stream_batch_cap(max_frame), batch_len;
    uint8_t *key = malloc(max_key), *value = malloc(max_value), *batch = malloc(cap + 5);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct rc_request r;
    struct rc_buf out;

    (void)state;
    assert_non_null(key);
    assert_non_null(value);
    assert_non_null(batch);
    memset(key, 'k', max_key);
    memset(value, 'v', max_value);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 5);
    msgpack_pack_bin_with_body(&pk, key, max_key);
    msgpack_pack_bin_with_body(&pk, value, max_value);
    msgpack_pack_uint64(&pk, UINT64_MAX);
    msgpack_pack_uint64(&pk, UINT64_MAX);
    msgpack_pack_uint64(&pk, INT64_MAX);
    assert_true(sb.size <= rc_stream_entry_size(max_key, max_value));
    assert_true(rc_stream_entry_size(max_key, max_value) <= cap);
    /* The batch as the sender sends it: array 32 header, then the entries. */
    batch[0] = 0xdd;
    batch[1] = batch[2] = batch[3] = 0;
    batch[4] = 1;
    memcpy(batch + 5, sb.data, sb.size);
    batch_len = 5 + cap; /* the rest of the cap: padding, for the size only */
    memset(&r, 0, sizeof(r));
    r.op = RC_OP_STREAM;
    r.id = UINT32_MAX;
    r.has_range = 1;
    r.range_first = UINT64_MAX - 1;
    r.range_last = UINT64_MAX;
    r.has_value = 1;
    r.value = batch;
    r.value_len = (uint32_t)batch_len;
    rc_buf_init(&out, 2 * (size_t)max_frame);
    assert_int_equal(rc_encode_request(&out, &r), 0);
    assert_true(rc_buf_used(&out) - RC_FRAME_HDR <= max_frame);
    /* A frame limit too small for anything gives no cap at all. */
    assert_int_equal(rc_stream_batch_cap(RC_STREAM_FRAME_OVERHEAD), 0);
    rc_buf_close(&out);
    msgpack_sbuffer_destroy(&sb);
    free(key);
    free(value);
    free(batch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_entry_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pieces, setup, teardown),
        cmocka_unit_test(test_size_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
