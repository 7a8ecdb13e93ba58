/*
 * stream.h - decoders for the internode streaming payloads, which arrive
 * from the peer port: a STREAM request's batch of entries and a
 * RANGE_DIGEST reply's per-piece digests (docs/protocol.md, section 13,
 * "Internode operations": RANGE_DIGEST (67) and STREAM (68)).
 *
 * Pure functions over bytes, so that a fuzz target (tests/fuzz/
 * fuzz_stream.c) reaches exactly the code the server runs. Both go through
 * rc_msgpack_check before msgpack-c sees a byte, so declared counts and
 * lengths are bounded by the bytes present.
 *
 * STREAM batch (VALUE): array of up to RC_STREAM_MAX_ENTRIES entries
 *   [key: bin (1..max_key), value: bin (<= max_value) | nil = tombstone,
 *    hlc: uint, node: uint, expires: uint (<= INT64_MAX, Unix ms, 0 = none),
 *    attr: uint (optional: the value's attributes, kind << 32 | flags,
 *    server/store.h; absent = 0, sent only when not 0)]
 * every key hashing into the request's RANGE.
 * RANGE_DIGEST pieces (reply VALUE): array of npieces [digest: uint, count: uint].
 */
#ifndef RC_STREAM_H
#define RC_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* Most entries accepted in one STREAM batch (bounds decode work). */
#define RC_STREAM_MAX_ENTRIES 4096
/* Most pieces a RANGE_DIGEST reply may carry (RC_MAX_PIECES in codec.h). */
#define RC_STREAM_MAX_PIECES 64

/*
 * Sizes, so a sender never builds a batch the receiver's frame limit (or
 * its own buffers) refuse. Bytes one entry takes in a batch besides its
 * key and value, at most: its array header (1), the key's and the value's
 * bin 32 headers (5 + 5), hlc, node, expires and attr as uint 64 (9 x 4)
 * = 47.
 */
#define RC_STREAM_ENTRY_OVERHEAD 47
/* Bytes a STREAM request's frame body holds besides the entries, at most:
 * array, op and id (1 + 5 + 5), map (1), RANGE (1 + 1 + 9 + 9), VALUE's
 * field and bin 32 header (1 + 5), the batch's array 32 header (5) = 43;
 * 128 leaves room for a field added later. */
#define RC_STREAM_FRAME_OVERHEAD 128

/* Encoded size of one entry, at most. */
static inline size_t rc_stream_entry_size(size_t key_len, size_t value_len)
{
    return key_len + value_len + RC_STREAM_ENTRY_OVERHEAD;
}

/*
 * Most bytes of encoded entries one batch may hold so that its STREAM
 * request fits a frame body of max_frame bytes (the peer port's limit,
 * max value + max key + 4 KiB): one entry of the largest key and value
 * always fits alone. 0 when max_frame is too small for any entry.
 */
static inline size_t rc_stream_batch_cap(uint32_t max_frame)
{
    return max_frame > RC_STREAM_FRAME_OVERHEAD ? (size_t)max_frame - RC_STREAM_FRAME_OVERHEAD : 0;
}

struct rc_stream_entry {
    const uint8_t *key; /* borrowed from the decoded batch */
    uint32_t key_len;
    const uint8_t *value; /* NULL for a tombstone */
    uint32_t value_len;
    uint64_t hlc, node;
    int64_t expires_ms;
    uint64_t attr; /* 0 = none */
};

/*
 * Decodes a batch into zone (cleared first): *entries points at the n
 * undecoded entries, to be read with rc_stream_entry. 0 or RC_EPROTO.
 */
int rc_stream_batch(msgpack_zone *zone, const uint8_t *buf, size_t len,
                    const msgpack_object **entries, uint32_t *n);

/*
 * Validates one entry of a batch against the limits and the request's
 * inclusive token range [first, last], filling e. 0 or RC_EPROTO.
 */
int rc_stream_entry(const msgpack_object *o, uint32_t max_key, uint32_t max_value,
                    uint64_t first, uint64_t last, struct rc_stream_entry *e);

/*
 * Decodes per-piece digests into zone (cleared first). On 0, digest[i]
 * and count[i] are set and valid[i] is 1 for every well-formed piece
 * (a malformed piece is 0: treated as differing). RC_EPROTO when the
 * whole value is unusable (then every piece must be sent).
 */
int rc_stream_pieces(msgpack_zone *zone, const uint8_t *buf, size_t len, unsigned npieces,
                     uint64_t *digest, uint64_t *count, uint8_t *valid);

#endif
