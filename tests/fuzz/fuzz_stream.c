/*
 * fuzz_stream.c - libFuzzer target for the internode streaming decoders
 * (common/stream.c): the input is tried as a STREAM batch (every entry
 * validated against the limits and two token ranges), as RANGE_DIGEST
 * piece digests, and as a whole internode request body whose VALUE, when
 * it has one, goes through the same decoders, as the server does with a
 * STREAM frame from the peer port. Crashes, sanitizer reports and
 * inconsistent results (abort) are findings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "err.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The server defaults (--max-key-size, --max-value-size). */
#define MAX_KEY 1024
#define MAX_VALUE (1024 * 1024)

static volatile uint8_t sink;

static void batch(msgpack_zone *zone, const uint8_t *p, size_t len, uint64_t first,
                  uint64_t last)
{
    const msgpack_object *entries;
    struct rc_stream_entry e;
    uint32_t i, n;

    if (rc_stream_batch(zone, p, len, &entries, &n) != 0)
        return;
    if (n > RC_STREAM_MAX_ENTRIES)
        abort(); /* the pre-check bounds the count */
    for (i = 0; i < n; i++) {
        if (rc_stream_entry(&entries[i], MAX_KEY, MAX_VALUE, first, last, &e) != 0)
            continue;
        /* What the server would store must be within the limits. */
        if (e.key_len == 0 || e.key_len > MAX_KEY || e.value_len > MAX_VALUE ||
            (e.value == NULL && e.value_len != 0) || e.expires_ms < 0)
            abort();
        /* Touch both ends: ASan checks they lie inside the input. */
        sink ^= e.key[0] ^ e.key[e.key_len - 1];
        if (e.value_len > 0)
            sink ^= e.value[0] ^ e.value[e.value_len - 1];
    }
}

static void pieces(msgpack_zone *zone, const uint8_t *p, size_t len, unsigned k)
{
    uint64_t d[RC_STREAM_MAX_PIECES], c[RC_STREAM_MAX_PIECES];
    uint8_t valid[RC_STREAM_MAX_PIECES];

    (void)rc_stream_pieces(zone, p, len, k, d, c, valid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static msgpack_zone zone;
    static struct rc_decoder dec;
    static int ready;
    struct rc_request req;

    if (!ready) {
        if (!msgpack_zone_init(&zone, 64 * 1024) || rc_decoder_init(&dec) != 0)
            abort();
        ready = 1;
    }
    batch(&zone, data, size, 0, UINT64_MAX);
    batch(&zone, data, size, UINT64_C(1) << 62, UINT64_C(3) << 62);
    pieces(&zone, data, size, 16);
    if (size > 0)
        pieces(&zone, data + 1, size - 1, 1 + data[0] % RC_STREAM_MAX_PIECES);
    if (rc_decode_request(&dec, data, size, &req) == 0 && req.has_value) {
        batch(&zone, req.value, req.value_len, req.range_first,
              req.has_range ? req.range_last : UINT64_MAX);
        pieces(&zone, req.value, req.value_len, req.pieces ? req.pieces : 16);
    }
    return 0;
}
