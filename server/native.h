/*
 * native.h - the native protocol on a port: framed msgpack requests,
 * AUTH, and dispatch from a table.
 *
 * Plugs into a net (net.h) as its handler: finds each frame in the
 * connection's input (docs/protocol.md), answers AUTH and refuses all but
 * AUTH and PING until a connection authenticated (in frames of at most
 * RC_AUTH_PREAUTH_FRAME body bytes), decodes the request in place and
 * hands it to the row of the port's table for its op. The client port's
 * table is front_native.c's, the peer port's front_peer.c's; a new command
 * is one row and one handler there.
 */
#ifndef RC_NATIVE_H
#define RC_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "codec.h"
#include "log.h"
#include "net.h"

struct rc_native;

/* Answers one decoded request (req borrowed for the call): appends exactly
 * one reply frame to out, or takes a slot with rc_net_defer() and answers
 * through it later. 0, or a negative code when no reply could be queued. */
typedef int (*rc_native_fn)(void *arg, struct rc_net *net, const struct rc_request *req,
                            struct rc_buf *out);

/* One row of a dispatch table. */
struct rc_native_op {
    uint32_t op; /* RC_OP_*, below RC_NATIVE_MAX_OP, not AUTH */
    rc_native_fn fn;
};

/* Ops are numbered below this (client 1..63, internode 64..). */
#define RC_NATIVE_MAX_OP 128

struct rc_native_opts {
    uint32_t max_frame;   /* largest frame body once authenticated */
    struct rc_auth *auth; /* client passwords; NULL = AUTH not needed */
    const struct rc_native_op *ops; /* the table */
    size_t nops;
    rc_native_fn unknown; /* ops not in the table */
    void *arg;            /* every row's first argument */
};

/* The table (opts->ops), auth and log are borrowed for the life of
 * the result. 0, RC_EINVAL (an op out of range, AUTH, or an op twice in
 * the table), RC_ENOMEM. */
int rc_native_new(const struct rc_native_opts *opts, const struct rc_log *log,
                  struct rc_native **out);

/* Fills h so that a net speaks the native protocol through nt. */
void rc_native_handler(struct rc_native *nt, struct rc_net_handler *h);

/* NULL is a no-op. */
void rc_native_free(struct rc_native *nt);

/* Answers a deferred request (a slot from rc_net_defer) with rep, encoded
 * as a reply frame; an encoding failure becomes an OUT_OF_MEMORY reply.
 * Releases the slot. */
void rc_native_complete(struct rc_net_slot *slot, const struct rc_reply *rep);

/* The same for an error reply (msg NULL: rc_strerror(err)). */
void rc_native_complete_error(struct rc_net_slot *slot, uint32_t id, int err, const char *msg);

#endif
