/*
 * keyscan.h - the KEY_SCAN internode payloads and the merge of replicas'
 * answers (docs/protocol.md, "KEY_SCAN (75)"); pure, over bytes.
 *
 * A node answering SCAN, KEYS, RANDOMKEY or DBSIZE for the whole cluster
 * asks each live member for its entries in the token ranges it
 * replicates; each member answers from its own store. The request and
 * reply bodies travel in VALUE:
 *
 *   request  [mode: uint, count: uint, ranges: [first, last, first, last, ...]]
 *            ranges inclusive, ascending, disjoint, at most RC_KEYSCAN_MAX_RANGES
 *   mode 0 (KEYS) reply   [truncated: bool, last: uint, entries: [[key: bin, hlc: uint,
 *                          node: uint, tombstone: bool], ...]]
 *            entries in (token, key) order, tombstones included (their version
 *            hides older copies elsewhere), expired values left out; at most
 *            count entries plus the rest of the last token's, so the keys of one
 *            token are never split; truncated: the member stopped at token last.
 *   mode 1 (COUNT) reply  [count: uint, ...] one per range: live values in it.
 *
 * Every decoder goes through rc_msgpack_check first.
 */
#ifndef RC_KEYSCAN_H
#define RC_KEYSCAN_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "buf.h"

enum rc_keyscan_mode { RC_KEYSCAN_KEYS = 0, RC_KEYSCAN_COUNT = 1 };

/* Ranges in one request: a step covers at most this many vnode ranges
 * (256 vnodes x 2 members, plus their wrap), each member gets those it
 * replicates. 18 bytes each on the wire: 18 KiB at most. */
#define RC_KEYSCAN_MAX_RANGES 1024
/* Entries one member returns in one step (COUNT is capped to it): 1,000
 * keys of the largest size (1 KiB) still fit one peer frame. */
#define RC_KEYSCAN_MAX_COUNT 1000
/* Entries accepted in one reply: count plus the rest of the last token's
 * (64-bit token collisions are rare; more is an attack). */
#define RC_KEYSCAN_MAX_ENTRIES (RC_KEYSCAN_MAX_COUNT + 64)

/* One entry: its key's bytes are at keys + off in the set that holds it. */
struct rc_keyscan_ent {
    uint64_t token, hlc, node;
    uint32_t off, len;
    int tomb;
};

/* Entries with copies of their keys, capped at init. */
struct rc_keyscan_set {
    struct rc_keyscan_ent *e;
    size_t n, cap, max;
    struct rc_buf keys;
};

void rc_keyscan_set_init(struct rc_keyscan_set *s, size_t max_entries, size_t max_key_bytes);
void rc_keyscan_set_close(struct rc_keyscan_set *s);
void rc_keyscan_set_reset(struct rc_keyscan_set *s);
/* Copies key in: 0, RC_EBUFFER_FULL (over a cap) or RC_ENOMEM. */
int rc_keyscan_set_add(struct rc_keyscan_set *s, const uint8_t *key, size_t len, uint64_t token,
                       uint64_t hlc, uint64_t node, int tomb);
static inline const uint8_t *rc_keyscan_key(const struct rc_keyscan_set *s,
                                            const struct rc_keyscan_ent *e)
{
    return rc_buf_rptr(&s->keys) + e->off;
}

struct rc_keyscan_req {
    int mode;
    uint32_t count;
    uint32_t nranges;
    uint64_t first[RC_KEYSCAN_MAX_RANGES], last[RC_KEYSCAN_MAX_RANGES];
};

/* Encoders append to out: 0, RC_EBUFFER_FULL or RC_ENOMEM (out may then
 * hold part of it: reset it). */
int rc_keyscan_encode_req(struct rc_buf *out, const struct rc_keyscan_req *q);
int rc_keyscan_encode_keys(struct rc_buf *out, int truncated, uint64_t last,
                           const struct rc_keyscan_set *s);
int rc_keyscan_encode_counts(struct rc_buf *out, const uint64_t *counts, uint32_t n);

/* Decoders (zone cleared first). 0 or RC_EPROTO: a mode other than the
 * two, a count of 0 or over RC_KEYSCAN_MAX_COUNT, ranges not ascending and
 * disjoint, a key empty or over max_key, a key whose token lies in none of
 * q's ranges, more entries than RC_KEYSCAN_MAX_ENTRIES or counts than
 * ranges. decode_keys appends to s (RC_EBUFFER_FULL/RC_ENOMEM from it). */
int rc_keyscan_decode_req(msgpack_zone *zone, const uint8_t *buf, size_t len,
                          struct rc_keyscan_req *q);
int rc_keyscan_decode_keys(msgpack_zone *zone, const uint8_t *buf, size_t len, uint32_t max_key,
                           const struct rc_keyscan_req *q, struct rc_keyscan_set *s,
                           int *truncated, uint64_t *last);
int rc_keyscan_decode_counts(msgpack_zone *zone, const uint8_t *buf, size_t len, uint32_t n,
                             uint64_t *counts);

/*
 * Merges the answers of several replicas gathered in s: sorts s->e by
 * (token, key, newest version first) and keeps, per key, its newest
 * version if that is a value with token <= upto and hlc >= floor (a flush
 * epoch: older versions were flushed; 0 = none). The kept entries are
 * moved to the front of s->e in order, *nkept says how many. 0 or
 * RC_ENOMEM (nothing kept).
 */
int rc_keyscan_merge(struct rc_keyscan_set *s, uint64_t upto, uint64_t floor, size_t *nkept);

#endif
