/*
 * codec.h - the ringcache wire format: frames carrying msgpack messages.
 *
 * Pure functions over byte buffers (no I/O), shared by the server, the
 * client library and the tools. docs/protocol.md is the normative
 * description; the tables here mirror it.
 *
 * Frame (all integers big-endian):
 *
 *   offset size field
 *   0      1    magic 0x52 ('R')
 *   1      1    magic 0x43 ('C')
 *   2      1    protocol version (RC_PROTO_VERSION)
 *   3      1    flags, must be 0
 *   4      4    body length in bytes (<= the receiver's frame limit)
 *   8      n    body: exactly one msgpack array
 *
 * Request body: [op: uint, id: uint32, fields: map uint -> value]
 * Reply body:   [status: uint, id: uint32, fields: map uint -> value]
 *
 * The id is chosen by the sender and echoed in the reply. Unknown field
 * numbers are ignored, so fields can be added without a version bump.
 */
#ifndef RC_CODEC_H
#define RC_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "buf.h"

#define RC_PROTO_VERSION 1
#define RC_FRAME_HDR 8
#define RC_MAGIC0 0x52
#define RC_MAGIC1 0x43

/* Operations. 1-63 are client operations; 64+ are reserved for internode
 * messages (replication, gossip push-pull, streaming). */
enum rc_op {
    RC_OP_PING = 1,
    RC_OP_GET = 2,
    RC_OP_PUT = 3,
    RC_OP_DEL = 4,
    RC_OP_STATS = 5,
    RC_OP_MEMBERS = 6, /* cluster membership, msgpack array in VALUE */
    RC_OP_RING = 7,    /* ring ownership, msgpack map in VALUE */
    RC_OP_ACTIVITY = 8, /* streams in progress and recent events, msgpack map in VALUE */
    RC_OP_AUTH = 9,     /* password in VALUE; answered by the native front end (native.c) */
    RC_OP_FORGET = 10,  /* KEY = a dead member's id (16 hex digits): remove it for good */
    /* internode, on the peer port only */
    RC_OP_INTERNAL = 64,
    RC_OP_REPL_WRITE = 64, /* replica write: key, value|tombstone, version, expiry */
    RC_OP_REPL_READ = 65,  /* replica read: key -> value|tombstone, version, expiry */
    RC_OP_PUSH_PULL = 66,  /* gossip full-state exchange; state in VALUE */
    RC_OP_RANGE_DIGEST = 67, /* RANGE -> DIGEST of the receiver's entries in it */
    RC_OP_STREAM = 68,       /* RANGE + a batch of entries in VALUE, merged by version */
    RC_OP_KEY_SCAN = 75,     /* keys or live counts of token ranges (keyscan.h), in VALUE */
    RC_OP_FLUSH_EPOCH = 76,  /* VERSION: the sender's flush epoch; reply: the receiver's */
};

/* Field numbers in the fields map. */
enum rc_field {
    RC_F_KEY = 1,         /* bin (str accepted) */
    RC_F_VALUE = 2,       /* bin (str accepted) */
    RC_F_TTL_MS = 3,      /* uint: request: time to live; reply: remaining */
    RC_F_CONSISTENCY = 4, /* uint: enum rc_consistency */
    RC_F_MESSAGE = 5,     /* str: human-readable error message */
    RC_F_STATS = 6,       /* map str -> int | str */
    RC_F_VERSION = 7,     /* array [hlc: uint64, node: uint64] */
    RC_F_EXPIRES = 8,     /* uint: absolute expiry, Unix ms (internode) */
    RC_F_TOMBSTONE = 9,   /* bool: the entry is a delete marker (internode) */
    RC_F_EXISTED = 10,    /* bool: a replica write replaced a live value (internode) */
    RC_F_RANGE = 11,      /* array [first: uint64, last: uint64], inclusive token range */
    RC_F_DIGEST = 12,     /* array [digest: uint64, entries: uint64] of a range */
    RC_F_PIECES = 13,     /* uint 1..64: RANGE_DIGEST also returns per-piece digests */
    RC_F_BEFORE = 14,     /* uint: RANGE_DIGEST counts only versions with hlc below it */
    RC_F_EVICTED = 15,    /* bool: the replying node evicts (REPL_READ: it evicted this key
                             lately; RANGE_DIGEST: it has evicted lately) */
};

enum rc_consistency {
    RC_CL_DEFAULT = 0,
    RC_CL_ONE = 1,
    RC_CL_QUORUM = 2,
    RC_CL_ALL = 3,
    RC_CL_ANY = 4, /* sloppy: any live node, fallbacks included (coord.c) */
};

/* Decoder limits. Nesting and element counts bound the work and memory
 * spent on one frame independently of what its length prefix claims. */
#define RC_MAX_DEPTH 4     /* deepest legal message: body/fields/stats */
#define RC_MAX_FIELDS 32   /* entries in a fields map */
#define RC_MAX_STATS 128   /* entries in a stats map */
#define RC_MAX_PIECES 64   /* sub-range digests per RANGE_DIGEST */

struct rc_stat {
    const char *name; /* not NUL-terminated when decoded: use name_len */
    uint32_t name_len;
    int is_str;
    int64_t num;
    const char *str;
    uint32_t str_len;
};

/* Pointers in decoded messages borrow from the frame body. */
struct rc_request {
    uint32_t op;
    uint32_t id;
    const uint8_t *key;
    uint32_t key_len;
    const uint8_t *value;
    uint32_t value_len;
    uint64_t ttl_ms; /* 0 = no expiry */
    uint32_t consistency;
    uint64_t ver_hlc;    /* internode writes: the entry's version */
    uint64_t ver_node;
    uint64_t expires_ms; /* internode writes: absolute expiry, 0 = none */
    uint64_t range_first, range_last; /* streaming: inclusive token range */
    uint32_t pieces;                  /* RANGE_DIGEST: equal pieces to digest too, 0 = none */
    uint64_t before_hlc; /* RANGE_DIGEST: only versions with an hlc below it, 0 = all */
    unsigned has_range : 1;
    unsigned has_key : 1;
    unsigned has_value : 1;
    unsigned has_version : 1;
    unsigned tombstone : 1;
};

struct rc_reply {
    uint32_t status; /* 0 = OK, else the wire number of an RC_E* code */
    uint32_t id;
    const uint8_t *value;
    uint32_t value_len;
    const char *message;
    uint32_t message_len;
    uint64_t ttl_ms; /* remaining time to live, 0 = none */
    uint64_t ver_hlc;
    uint64_t ver_node;
    uint64_t expires_ms; /* internode reads: absolute expiry, 0 = none */
    uint64_t digest, digest_count; /* RANGE_DIGEST */
    const struct rc_stat *stats; /* encode: caller's array; decode: see rc_decoder */
    uint32_t nstats;
    unsigned has_value : 1;
    unsigned has_version : 1;
    unsigned tombstone : 1;
    unsigned existed : 1;
    unsigned has_digest : 1;
    unsigned evicted : 1;
};

/*
 * MESSAGE prefixes of PROTO replies (docs/protocol.md section 7), so a
 * client can tell the two apart: a frame error ("malformed frame: ...")
 * is answered with id 0 and the connection closed; a body error
 * ("malformed body: ...") with the request id when it could be read and
 * the connection kept open.
 */
#define RC_MSG_BAD_FRAME "malformed frame"
#define RC_MSG_BAD_BODY "malformed body"

/* Room for "malformed body: field <20 digits> has the wrong type or value". */
#define RC_DECODER_WHY 96

/* Holds the msgpack zone reused across decodes and the decoded stats.
 * One per connection or per thread; not shared. */
struct rc_decoder {
    msgpack_zone zone;
    struct rc_stat stats[RC_MAX_STATS];
    /* After rc_decode_* returned RC_EPROTO: why, as "malformed body: ...",
     * NUL-terminated; "" after other results. */
    char why[RC_DECODER_WHY];
};

int rc_decoder_init(struct rc_decoder *d); /* 0 or RC_ENOMEM */
void rc_decoder_close(struct rc_decoder *d);

/*
 * Looks at the start of buf for a frame header.
 * Returns 1 when a whole frame is present (*frame_len = header + body),
 * 0 when more bytes are needed, or RC_EPROTO (bad magic or flags),
 * RC_EVERSION, RC_EFRAME_TOO_LARGE (body > max_body). On error
 * *frame_len is 0.
 */
int rc_frame_check(const uint8_t *buf, size_t len, uint32_t max_body, size_t *frame_len);

/* The MESSAGE for a frame rc_frame_check refused with err (the same buf
 * and len): "malformed frame: ..." for RC_EPROTO, rc_strerror(err) for the
 * others. Static string. */
const char *rc_frame_error_msg(const uint8_t *buf, size_t len, int err);

/*
 * Decode a frame body (without the header). The body is validated byte
 * by byte before any allocation: declared sizes and counts must fit in the
 * bytes present, nesting is capped by RC_MAX_DEPTH, and the body must be
 * exactly one array. Returns 0, RC_EPROTO, or RC_ENOMEM. On RC_EPROTO
 * out->id is the request id when it could be read (else 0), so the error
 * can be answered to the right request, and d->why says what was wrong.
 * The id can be read when the body starts with an array header declaring
 * at least 2 elements, one well-formed object (the op), then an unsigned
 * integer below 2^32, whatever follows or is missing after it.
 */
int rc_decode_request(struct rc_decoder *d, const uint8_t *body, size_t len, struct rc_request *out);
int rc_decode_reply(struct rc_decoder *d, const uint8_t *body, size_t len, struct rc_reply *out);

/*
 * Append one whole frame to out. Returns 0 or RC_EBUFFER_FULL / RC_ENOMEM,
 * in which case out is unchanged.
 */
int rc_encode_request(struct rc_buf *out, const struct rc_request *req);
int rc_encode_reply(struct rc_buf *out, const struct rc_reply *rep);

/*
 * The bounded pre-check used before msgpack-c sees untrusted bytes, for
 * other decoders of nested payloads (the STREAM batches and RANGE_DIGEST
 * pieces of common/stream.c; gossip does not use it: common/swim.c walks
 * its datagrams with its own bounds-checked reader): buf must be exactly
 * one msgpack array whose every declared length and count fits in the
 * bytes present, nested at most max_depth (<= 8) deep, with at most
 * max_objects objects in all. 0 or RC_EPROTO.
 */
#define RC_MSGPACK_MAX_DEPTH 8
int rc_msgpack_check(const uint8_t *buf, size_t len, unsigned max_depth, unsigned max_objects);

/* Fills rep as an error reply for request id (msg NULL: rc_strerror(err),
 * or for RC_EPROTO a generic "malformed body: ..." since a frame error
 * always names itself; borrowed, must stay valid until encoded). */
void rc_reply_error(struct rc_reply *rep, uint32_t id, int err, const char *msg);

/* Fills r as a REPL_WRITE of key at version (hlc, node) with an absolute
 * expiry (0 = none): of value, or with tombstone set, of a tombstone.
 * Pointers are borrowed. */
void rc_request_repl_write(struct rc_request *r, const uint8_t *key, size_t key_len,
                           const uint8_t *value, size_t value_len, int tombstone, uint64_t hlc,
                           uint64_t node, int64_t expires_ms);

/* Convenience: an error reply for request id with err's status and message
 * (msg may be NULL to use rc_strerror(err)). */
int rc_encode_error(struct rc_buf *out, uint32_t id, int err, const char *msg);

#endif
