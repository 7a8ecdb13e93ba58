/*
 * peer.h - persistent, pipelined connections to other nodes' peer ports.
 *
 * The coordinator, gossip push-pull and streaming send requests to other
 * nodes through this pool: one TCP connection per node, kept open and
 * reconnected with backoff, requests pipelined and matched to replies in
 * order. Every request gets exactly one callback, never from inside
 * rc_peers_send itself: a reply, or RC_ETIMEOUT / RC_ECONNECT /
 * RC_ECLOSED / RC_ESHUTDOWN. Requests produced during one loop iteration
 * are written together just before the loop blocks.
 *
 * A per-node circuit breaker, from this node's own view (gossip may call
 * the node alive), stops sending to a node after several transport
 * failures in a row: requests to it fail at once with RC_ECONNECT, a
 * single probe request goes through after a cool-down, and a reply in
 * time reopens the way (details and thresholds in peer.c).
 */
#ifndef RC_PEER_H
#define RC_PEER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "codec.h"
#include "log.h"
#include "seal.h"

struct rc_peers;

/* err is 0 with rep valid only during the call, or a negative code with
 * rep NULL. */
typedef void (*rc_peer_cb)(void *arg, int err, const struct rc_reply *rep);

struct rc_peers_opts {
    int connect_timeout_ms;  /* give up on a connect attempt after this */
    uint32_t max_frame;      /* largest reply body accepted */
    size_t max_queued_bytes; /* per node: bytes queued or in flight before sends fail */
    /* Cluster key (borrowed; may change in place on a reload): with a key
     * every connection starts with the sealed-stream handshake (seal.h);
     * a peer that fails it gets its requests failed with RC_ECLUSTER_KEY,
     * counted in seal_stats (borrowed, may be NULL). */
    const struct rc_seal_keys *keys;
    struct rc_seal_stats *seal_stats;
    /* The node's --bind address (copied; NULL, "", 0.0.0.0 or :: = none):
     * an IP literal here is the source of every outgoing connection of
     * the same family, so the peer sees (and firewalls can filter on) the
     * address this node listens on, not whatever the route picks. */
    const char *bind;
};

int rc_peers_new(uv_loop_t *loop, const struct rc_peers_opts *opts, const struct rc_log *log,
                 struct rc_peers **out);

/*
 * Sends req to node (reachable at host:port; host may be a DNS name,
 * resolved on every connect so a moved container is found). Returns 0
 * (cb will run exactly once) or an error with cb never called:
 * RC_ECONNECT when the node's breaker is open (nothing is sent),
 * RC_EBUFFER_FULL when the node's queue is at its cap, RC_ENOMEM,
 * RC_ESHUTDOWN.
 */
int rc_peers_send(struct rc_peers *p, uint64_t node, const char *host, int port,
                  const struct rc_request *req, int timeout_ms, rc_peer_cb cb, void *arg);

/* 0 while node's breaker is open (its cool-down running, or its probe in
 * flight): rc_peers_send would fail at once. 1 otherwise, including for a
 * node never sent to and when a probe may go. */
int rc_peers_reachable(const struct rc_peers *p, uint64_t node);

struct rc_peers_stats {
    uint64_t breaker_open;  /* nodes whose breaker is open (or half-open) now */
    uint64_t breaker_trips; /* breakers opened after failures in a row, since start */
    uint64_t fast_fails;    /* requests refused at once by an open breaker */
};

void rc_peers_stats(const struct rc_peers *p, struct rc_peers_stats *out);

/* The key list (opts.keys) was changed in place: connections opened with
 * a key no longer in it stop taking requests, close once what they sent
 * is answered, and reopen with the current sending key; nothing fails. */
void rc_peers_keys_changed(struct rc_peers *p);

/* Gossip heard the node alive again (it refuted a suspicion, or came
 * back): if its breaker is open, the cool-down ends now and the next
 * request to it is the probe, so a restarted node is used again at once. */
void rc_peers_retry_now(struct rc_peers *p, uint64_t node);

/* Closes the node's connection (member died or left); its pending
 * requests fail with RC_ECLOSED. */
void rc_peers_forget(struct rc_peers *p, uint64_t node);

/* Fails everything pending with RC_ESHUTDOWN, closes every handle, then
 * calls cb. */
void rc_peers_close(struct rc_peers *p, void (*cb)(void *arg), void *arg);

/* After rc_peers_close completed. NULL is a no-op. */
void rc_peers_free(struct rc_peers *p);

#endif
