/*
 * channel.h - one framed, optionally sealed TCP byte stream.
 *
 * Every TCP transport of the server (the listener in net.c for the client,
 * RESP and peer ports, the outgoing peer pool in peer.c, gossip's push-pull
 * in gossip_pp.c) runs the same per-connection byte pipeline, kept here once:
 * the capped input buffer and its reads; with a cluster key, the
 * sealed-stream handshake and record sealing and opening (seal.h);
 * length-prefixed frame splitting with the frame limit (peer.c, gossip_pp.c;
 * on the listener the port's front end finds its requests in the input,
 * with the limit of the moment); the writes; and the rate limit of the
 * warning about peers refused for the cluster key. The owner keeps the
 * socket and its state machine; the channel never allocates per frame
 * (frames are parsed where they were read).
 */
#ifndef RC_CHANNEL_H
#define RC_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"
#include "seal.h"

struct rc_channel {
    /* Plaintext received: frames (or another protocol's bytes, net.c). */
    struct rc_buf in;
    /* Sealed only: bytes as received, not yet opened into in; our hello
     * and sealed records, not yet written. */
    struct rc_buf raw, sout;
    /* NULL until rc_channel_start (a plain connection costs nothing). */
    struct rc_seal_stream *ss;
    int sealed;         /* rc_channel_start ran since the last reset */
    uint32_t max_frame; /* largest frame body rc_channel_next accepts */
    size_t read_chunk;  /* read granularity */
    size_t flen;        /* length of the frame rc_channel_next returned */
};

/* Refused peers are logged at most this often: one line says how many
 * were refused meanwhile, so a prober cannot flood the log. */
#define RC_CHANNEL_LOG_MS 10000

struct rc_channel_log {
    uint64_t last_ms;
    uint32_t suppressed;
};

/*
 * Sets the caps (allocates nothing): in holds one whole frame of
 * max_frame body bytes; with sealable, one record more (a record may
 * straddle two frames, so it always fits once the first is consumed), and
 * raw and sout are sized for reads of read_chunk and for out_cap bytes of
 * plaintext output sealed (rc_channel_wire_cap).
 */
void rc_channel_init(struct rc_channel *ch, uint32_t max_frame, size_t read_chunk,
                     size_t out_cap, int sealable);

/* Bytes on the wire for out_cap bytes of output, hello included: the cap
 * of a buffer that swaps roles with sout. */
size_t rc_channel_wire_cap(size_t out_cap);

/* Starts the sealed-stream handshake (the channel must be sealable): our
 * hello goes into sout, first. initiator: we connected. 0, RC_ENOMEM,
 * RC_EINVAL without a key. */
int rc_channel_start(struct rc_channel *ch, const struct rc_seal_keys *k, int initiator);

/* The connection is gone: empties the buffers, forgets the session keys
 * (a next connection starts afresh); the caps stay. */
void rc_channel_reset(struct rc_channel *ch);

/* Frees the buffers and wipes the session keys. */
void rc_channel_close(struct rc_channel *ch);

/* For a libuv alloc callback: room for the next read (raw when sealed,
 * else in), of at most read_chunk bytes; a zero-length buffer (full, or
 * out of memory) makes libuv report UV_ENOBUFS. */
void rc_channel_alloc(struct rc_channel *ch, uv_buf_t *buf);

/* n bytes were read into the buffer rc_channel_alloc gave. */
void rc_channel_received(struct rc_channel *ch, size_t n);

/*
 * Sealed: opens the records received into in, as far as in has room (call
 * again after consuming). 0 (nothing to do on a plain channel), or
 * RC_ECLUSTER_KEY / RC_EPROTO / RC_ENOMEM with *why set, after which the
 * connection must be closed (see rc_seal_stream_read).
 */
int rc_channel_open(struct rc_channel *ch, const struct rc_seal_keys *k, const char **why);

/* Whether the handshake is done: always on a plain channel. */
int rc_channel_ready(const struct rc_channel *ch);

/*
 * The next whole frame in in: 1 with *body, *len (borrowed until
 * rc_channel_consume), 0 when it is not complete yet, or the framing error
 * of rc_frame_check (RC_EPROTO, RC_EFRAME_TOO_LARGE).
 */
int rc_channel_next(struct rc_channel *ch, const uint8_t **body, size_t *len);

/* Drops the frame rc_channel_next returned. */
void rc_channel_consume(struct rc_channel *ch);

/*
 * The bytes to write for the plaintext in out: out itself on a plain
 * channel; sealed, sout, after sealing out into it (once the handshake is
 * done; out is then emptied). 0, or the seal's error (nothing changed).
 */
int rc_channel_wire(struct rc_channel *ch, struct rc_buf *out, struct rc_buf **wire);

/*
 * Writes o (the bytes rc_channel_wire gave) to s: what the socket takes
 * at once, the rest through req, with o and wbuf swapping roles so the
 * owner keeps producing into o while libuv holds wbuf (empty before; its
 * owner resets it in cb). 0 when everything went at once, 1 when req
 * holds the rest (cb will run), or a libuv error (close the connection).
 */
int rc_channel_send(uv_stream_t *s, struct rc_buf *o, struct rc_buf *wbuf, uv_write_t *req,
                    uv_write_cb cb);

/* 1 when the channel is sealed with a key no longer in k (a reload
 * removed it): its owner should close it once it drained. */
int rc_channel_key_removed(const struct rc_channel *ch, const struct rc_seal_keys *k);

/* A peer was refused for the cluster key at now_ms: 1 when a warning is
 * due now (*suppressed = refusals not logged since the last one), 0 when
 * this one is only counted. */
int rc_channel_log_due(struct rc_channel_log *l, uint64_t now_ms, uint32_t *suppressed);

#endif
