/*
 * front_peer.h - the peer port's front end: internode operations.
 *
 * The native protocol (native.h) with the internode table: PING,
 * REPL_WRITE and REPL_READ go to the local replica (node.c), PUSH_PULL to
 * gossip, RANGE_DIGEST and STREAM to rebalance; anything else is refused.
 * Other nodes are its only clients: the cluster key (net.c and channel.h)
 * guards the port, not client passwords.
 */
#ifndef RC_FRONT_PEER_H
#define RC_FRONT_PEER_H

#include <stdint.h>

#include "native.h"
#include "gossip.h"
#include "log.h"
#include "net.h"
#include "node.h"
#include "rebalance.h"

struct rc_front_peer;

/* node, rebalance and log are borrowed for the front's life; max_frame is
 * the largest frame body accepted. 0 or RC_ENOMEM. */
int rc_front_peer_new(struct rc_node *node, struct rc_rebalance *rb, uint32_t max_frame,
                      const struct rc_log *log, struct rc_front_peer **out);

/* Gossip (borrowed), once it exists: until then PUSH_PULL is refused as an
 * unknown op. */
void rc_front_peer_set_gossip(struct rc_front_peer *fp, struct rc_gossip *g);

/* Fills h so that a net serves the peer port through fp. */
void rc_front_peer_handler(struct rc_front_peer *fp, struct rc_net_handler *h);

/* NULL is a no-op. */
void rc_front_peer_free(struct rc_front_peer *fp);

#endif
