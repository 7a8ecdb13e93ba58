/*
 * front_native.h - the native client protocol's front end (client port).
 *
 * Decoded requests (docs/protocol.md) are dispatched from a table indexed
 * by op code: GET, PUT and DEL run on the coordinator (coord.h) through
 * its typed API; PING, STATS, MEMBERS, RING, ACTIVITY and FORGET are
 * answered from the admin module (admin.h). A new command is one table
 * row and one handler.
 */
#ifndef RC_FRONT_NATIVE_H
#define RC_FRONT_NATIVE_H

#include "admin.h"
#include "coord.h"
#include "net.h"

struct rc_front_native;

/* coord and admin are borrowed for the front end's life. */
int rc_front_native_new(struct rc_coord *co, struct rc_admin *admin, struct rc_node *node,
                        struct rc_front_native **out);

/* The client port's handler (net.h). */
void rc_front_native_handler(struct rc_front_native *f, struct rc_net_handler *h);

void rc_front_native_free(struct rc_front_native *f);

#endif
