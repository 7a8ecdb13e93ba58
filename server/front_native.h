/*
 * front_native.h - the native client protocol's front end (client port).
 *
 * Decoded requests (docs/protocol.md) are dispatched from a table indexed
 * by op code: GET, PUT and DEL run on the coordinator (coord.h) through
 * its typed API; PING, STATS, MEMBERS, RING, ACTIVITY and FORGET are
 * answered from the admin module (admin.h). A new command is one table
 * row and one handler. The framing, AUTH (with its pre-auth limits) and
 * decoding are the native protocol's (native.h).
 */
#ifndef RC_FRONT_NATIVE_H
#define RC_FRONT_NATIVE_H

#include "admin.h"
#include "coord.h"
#include "native.h"
#include "net.h"

struct rc_front_native;

/* coord, admin, auth (client passwords, NULL = none) and log are
 * borrowed for the front end's life; max_frame is the largest frame body
 * accepted once authenticated. */
int rc_front_native_new(struct rc_coord *co, struct rc_admin *admin,
                        uint32_t max_frame, struct rc_auth *auth, const struct rc_log *log,
                        struct rc_front_native **out);

/* The client port's handler (net.h). */
void rc_front_native_handler(struct rc_front_native *f, struct rc_net_handler *h);

void rc_front_native_free(struct rc_front_native *f);

#endif
