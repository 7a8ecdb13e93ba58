/*
 * swim_codec.h - SWIM wire primitives shared by the swim*.c files only.
 *
 * Not a contract for other code: swim.h is. The datagram and STATE formats
 * are documented there; this exposes the pieces of their encoder and
 * bounded decoder that the state machine needs to build datagrams with
 * piggyback and to read a STATE payload record by record.
 */
#ifndef RC_SWIM_CODEC_H
#define RC_SWIM_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "swim.h"

/* Longest wait before a relay nacks; larger requests are clamped. */
#define SWIM_MAX_NACK_MS 60000

/* Packer sink over a fixed buffer; overflow sticks and fails every write. */
struct swim_fbuf {
    uint8_t *p;
    size_t cap, len;
    int err;
};

/* msgpack_packer callback over a struct swim_fbuf (data). */
int swim_fbuf_write(void *data, const char *buf, size_t n);

/* Packs m's record, with by as its author; errors stick in the sink. */
void swim_pack_member(msgpack_packer *pk, const struct rc_member *m, uint64_t by);

/* Writes the 4-byte datagram header for type. */
void swim_pack_header(struct swim_fbuf *f, enum rc_swim_type type);

/* 1 when h[0..len) is a valid advertised host (swim.h: [A-Za-z0-9.:%_-],
 * 1..255 bytes). */
int swim_host_ok(const char *h, size_t len);

/* A bounded reader over received bytes (borrowed). */
struct swim_rd {
    const uint8_t *p;
    size_t len, pos;
};

/* Starts r on buf and checks the 4-byte header; *type is its type byte.
 * 0, RC_EPROTO or RC_EVERSION. */
int swim_rd_header(struct swim_rd *r, const uint8_t *buf, size_t len, unsigned *type);

/* Reads one record; rec->host points into the bytes. 0 or RC_EPROTO. */
int swim_rd_rec(struct swim_rd *r, struct rc_swim_rec *rec);

/* STATE body, after the header: [from_id, members, wall_ms?, ...]. head
 * reads up to the members' array header (*count is the body's element
 * count, *nrec the records that follow, <= RC_SWIM_MAX_MEMBERS); after the
 * records, tail reads the optional stamp (*wall, left alone when absent)
 * and checks that nothing but ignored trailing elements follows.
 * 0 or RC_EPROTO. */
int swim_rd_state_head(struct swim_rd *r, uint32_t *count, uint64_t *from, uint32_t *nrec);
int swim_rd_state_tail(struct swim_rd *r, uint32_t count, uint64_t *wall);

#endif
