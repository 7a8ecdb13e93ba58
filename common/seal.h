/*
 * seal.h - the cluster key: authenticated encryption of internode traffic.
 *
 * Pure (libsodium only, no sockets, no clocks of its own): callers pass the
 * time in. Three parts:
 *  - a key list loaded from a file (first key sends, every key receives),
 *    which is how keys rotate without downtime;
 *  - sealed gossip datagrams (XChaCha20-Poly1305, sender, sequence number,
 *    recipient and timestamp authenticated) with a per-sender replay
 *    window;
 *  - sealed TCP streams: both ends send a hello with a fresh nonce, derive
 *    per-connection keys from the cluster key and both nonces, then carry
 *    records with counter nonces, so a replayed, reordered or spliced
 *    record fails to open.
 * The wire formats are tabled below and in docs/protocol.md ("Cluster key").
 */
#ifndef RC_SEAL_H
#define RC_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define RC_SEAL_KEY_LEN 32
/* A rotation needs two keys at once; a few more leave room for a slow
 * rollout. More would only make every failed open slower. */
#define RC_SEAL_MAX_KEYS 8
/* Longest key file accepted (8 keys of 64 hex digits, comments). */
#define RC_SEAL_FILE_MAX 8192

/*
 * Sealed datagram (all integers big-endian):
 *
 * | off | size | field                                                 |
 * |----:|-----:|-------------------------------------------------------|
 * | 0   | 4    | 'R' 'S' 0x01 'D'                                      |
 * | 4   | 4    | key id (rc_seal_key_id of the sending key)            |
 * | 8   | 8    | sender node id                                        |
 * | 16  | 8    | sender sequence number                                |
 * | 24  | 8    | random                                                |
 * | 32  | 8    | recipient node id, 0 when the sender does not know it |
 * | 40  | 8    | sender's wall clock, Unix ms                          |
 * | 48  | n+16 | XChaCha20-Poly1305 of the SWIM datagram, with tag     |
 *
 * The nonce is bytes 8..31 (unique: a sender never repeats a sequence
 * number, and 64 random bits cover a clock that went back across a
 * restart); the associated data is bytes 0..47.
 */
#define RC_SEAL_DGRAM_HDR 48
#define RC_SEAL_TAG 16
#define RC_SEAL_DGRAM_OVERHEAD (RC_SEAL_DGRAM_HDR + RC_SEAL_TAG)
/* A datagram stamped further than this from the receiver's clock is
 * refused: wide enough for clocks NTP keeps in sync, narrow enough that a
 * datagram captured now cannot be replayed much later. */
#define RC_SEAL_WINDOW_MS 30000
/*
 * After a restart the replay window is empty; datagrams stamped more than
 * this before the receiver started are refused. It is the whole window,
 * not less, because the check reads a peer's stamp against this node's
 * clock: with a 1 s slack, a node whose clock ran 20 s fast refused every
 * peer for 20 s after it started while they accepted it, so it declared
 * them dead and they believed it (issue 12). A node may be off by up to
 * the window and still be heard from its first second.
 * The price: during the first RC_SEAL_WINDOW_MS after a restart, a
 * datagram captured in the window before it can be replayed once (until
 * the real sender's next one fills the sender's replay window). That is
 * what the network itself may do (UDP delays and duplicates), and SWIM
 * orders every claim by incarnation, so a replayed claim is at worst as
 * stale as a delayed one: it cannot kill a member that has refuted since,
 * nor bring back one that left. What remains of the check is a clock
 * stepped back after the start.
 */
#define RC_SEAL_BOOT_SLACK_MS RC_SEAL_WINDOW_MS
/* Senders whose replay window is tracked (the member cap); the least
 * recently heard is forgotten first, and only authenticated senders get in. */
#define RC_SEAL_MAX_SENDERS 1024
/* Reordering tolerated per sender, in datagrams. */
#define RC_SEAL_REPLAY_BITS 64

/*
 * Sealed stream: each side first sends a hello,
 *
 * | off | size | field                                        |
 * |----:|-----:|----------------------------------------------|
 * | 0   | 4    | 'R' 'S' 0x01 'H'                             |
 * | 4   | 4    | key id (the initiator's sending key decides) |
 * | 8   | 32   | random nonce                                 |
 *
 * then records: a 4-byte length n (16 < n <= RC_SEAL_RECORD_MAX + 16),
 * then n bytes of XChaCha20-Poly1305 (no associated data) with the nonce
 * le64(record counter of that direction, from 0) || 16 zero bytes. The
 * direction keys are BLAKE2b-512 keyed with the cluster key over
 * "ringcache tcp v1" || key id || initiator nonce || responder nonce:
 * bytes 0..31 initiator -> responder, 32..63 the other way.
 */
#define RC_SEAL_HELLO_LEN 40
#define RC_SEAL_RECORD_MAX (16 * 1024) /* like TLS: bounded buffering per record */
#define RC_SEAL_RECORD_HDR 4
#define RC_SEAL_RECORD_OVERHEAD (RC_SEAL_RECORD_HDR + RC_SEAL_TAG)

struct rc_seal_key {
    uint32_t id;
    uint8_t key[RC_SEAL_KEY_LEN];
};

struct rc_seal_keys {
    uint32_t n; /* 0: no cluster key */
    struct rc_seal_key k[RC_SEAL_MAX_KEYS];
};

/* Drop and failure counters, shown by STATS. */
struct rc_seal_stats {
    uint64_t gossip_auth_failures; /* wrong key, forged, tampered, unkeyed */
    uint64_t gossip_replays;       /* replayed, stale or misdirected */
    uint64_t peer_auth_failures;   /* TCP connections refused on the peer port or by us */
};

/* Initialises libsodium; 0 or RC_EINTERNAL. Call once before anything else. */
int rc_seal_init(void);

/* The 4-byte id of a key: BLAKE2b keyed with the key over a fixed label.
 * Reveals nothing of the key; tells a receiver which key to try. */
uint32_t rc_seal_key_id(const uint8_t key[RC_SEAL_KEY_LEN]);

/*
 * Parses a key file's text: one key per line as 64 hex digits; blank lines
 * and lines starting with '#' are skipped; the first key is the sending
 * key. 0, or RC_EINVAL with a reason in err (line number, what is wrong):
 * wrong length, not hex, no key, more than RC_SEAL_MAX_KEYS, two keys with
 * the same id.
 */
int rc_seal_keys_parse(const char *text, size_t len, struct rc_seal_keys *out, char *err,
                       size_t errlen);

/* Reads and parses the file at path. Refuses (RC_EINVAL) a file readable
 * by others than its owner and group, and one larger than
 * RC_SEAL_FILE_MAX; warn gets a message (else "") when the group can read
 * it. errno-style codes for I/O errors, with err set. */
int rc_seal_keys_load(const char *path, struct rc_seal_keys *out, char *err, size_t errlen,
                      char *warn, size_t warnlen);

/* Writes a fresh random key as a key file line ("<64 hex>\n", 66 bytes
 * with the NUL) into out. */
void rc_seal_keygen_line(char out[66]);

/* Sets every key byte to zero. */
void rc_seal_keys_wipe(struct rc_seal_keys *k);

/* ---- datagrams ---------------------------------------------------------- */

/* What a receiver remembers of one sender: its highest sequence number
 * and which of the 63 below it arrived, the newest timestamp it sent
 * (ts), and when we last heard it (last_ms, for eviction). */
struct rc_seal_sender {
    uint64_t id, seq, bits, ts, last_ms;
};

/* Per-node datagram state: own id and sequence, replay windows, counters.
 * Caller-owned (embed it); no allocation. */
struct rc_seal_dgram {
    uint64_t self_id;
    uint64_t next_seq;
    uint64_t boot_ms;
    /* Set by every rc_seal_dgram_open whose datagram authenticated, even
     * when it was then refused (stale, replayed, misdirected): the sender
     * and the stamp it put on it, so a refusal for the stamp tells whose
     * clock is how far off. 0 when the last one did not authenticate. */
    uint64_t last_from, last_ts;
    uint32_t nsenders;
    struct rc_seal_sender senders[RC_SEAL_MAX_SENDERS];
};

/* self_id != 0; now_ms is the wall clock (Unix ms). The sequence starts at
 * the current time in microseconds, so it keeps growing across restarts
 * without being saved (a node sends far fewer than 10^6 datagrams/s). */
void rc_seal_dgram_init(struct rc_seal_dgram *d, uint64_t self_id, uint64_t now_ms);

/* Seals in (len bytes) for recipient to_id (0 = unknown) with the first
 * key into out (room outcap >= len + RC_SEAL_DGRAM_OVERHEAD). 0 with
 * *outlen set, RC_EINVAL when there is no key, RC_EBUFFER_FULL. */
int rc_seal_dgram_seal(struct rc_seal_dgram *d, const struct rc_seal_keys *k, uint64_t to_id,
                       uint64_t now_ms, const uint8_t *in, size_t len, uint8_t *out, size_t outcap,
                       size_t *outlen);

/* Opens a received datagram into out (room outcap >= len -
 * RC_SEAL_DGRAM_OVERHEAD). On success *outlen is set, *sender is the
 * authenticated sender id, and its sequence number is recorded.
 * A sequence number far below the highest seen, stamped later than
 * anything that sender sent before, is a sender restarted after its
 * clock went back: its window starts again there.
 * Errors: RC_ECLUSTER_KEY (not sealed, unknown key id, forged or
 * tampered: stats->gossip_auth_failures++), RC_EREPLAY (seen before,
 * older than the window, stamped outside RC_SEAL_WINDOW_MS or before our
 * start, or addressed to another node: stats->gossip_replays++),
 * RC_EINVAL (our own datagram back, e.g. we are in our seed list; not
 * counted), RC_EBUFFER_FULL. why (may be NULL) gets a static reason. */
int rc_seal_dgram_open(struct rc_seal_dgram *d, const struct rc_seal_keys *k, uint64_t now_ms,
                       const uint8_t *in, size_t len, uint8_t *out, size_t outcap,
                       size_t *outlen, uint64_t *sender, struct rc_seal_stats *stats,
                       const char **why);

/* ---- streams ------------------------------------------------------------- */

enum rc_seal_stream_state { RC_SEAL_HELLO_WAIT = 0, RC_SEAL_OPEN = 1, RC_SEAL_FAILED = 2 };

struct rc_seal_stream {
    enum rc_seal_stream_state state;
    int initiator;
    uint32_t kid; /* initiator: its sending key's id */
    uint8_t nonce[32];
    uint8_t tx[RC_SEAL_KEY_LEN], rx[RC_SEAL_KEY_LEN];
    uint64_t tx_ctr, rx_ctr;
};

/* Starts a stream and appends our hello to wire (sent as is, first).
 * Initiators pick the first key. 0, RC_EINVAL without a key, or the
 * buffer's error. */
int rc_seal_stream_start(struct rc_seal_stream *s, const struct rc_seal_keys *k, int initiator,
                         struct rc_buf *wire);

/*
 * Consumes what it can of the bytes received (raw): the peer's hello, then
 * every complete record whose plaintext fits in plain (appended). Stops
 * without error when raw holds a partial hello or record, or plain has no
 * room for the next record (call again once plain drained). Errors, after
 * which the connection must be closed: RC_ECLUSTER_KEY (not a hello, key id
 * unknown to us, a record that does not open: wrong key, tampered,
 * replayed or reordered), RC_EPROTO (a record length out of bounds),
 * RC_ENOMEM. why (may be NULL) gets a static reason.
 */
int rc_seal_stream_read(struct rc_seal_stream *s, const struct rc_seal_keys *k,
                        struct rc_buf *raw, struct rc_buf *plain, const char **why);

/* Seals len bytes as records appended to wire. Only once the stream is
 * open (RC_EINVAL before). 0 or the buffer's error (wire unchanged). */
int rc_seal_stream_write(struct rc_seal_stream *s, const uint8_t *p, size_t len,
                         struct rc_buf *wire);

/* Bytes on the wire for len bytes of plaintext. */
size_t rc_seal_stream_wire_len(size_t len);

#endif
