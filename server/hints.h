/*
 * hints.h - hinted handoff: writes kept for a replica that missed them.
 *
 * When a write could not reach a live home replica (a timeout, a closed
 * breaker), the coordinator keeps it here as a hint and delivers it when
 * the replica is reachable again, so a short outage is repaired within
 * about a second of the return. Hints are bounded in count and bytes (the
 * oldest make room) and in age; a long outage is repaired by streaming and
 * anti-entropy on rejoin, not by hints. A hint whose target left, or no
 * longer replicates the key, is dropped: the key's current replicas hold
 * the write.
 */
#ifndef RC_HINTS_H
#define RC_HINTS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cluster.h"
#include "peer.h"
#include "store.h"

struct rc_hints;

struct rc_hints_opts {
    size_t max_hints;      /* hints kept, all targets */
    size_t max_bytes;      /* and the key and value bytes they may hold */
    int64_t ttl_ms;        /* hints older than this are dropped */
    int timeout_ms;        /* per delivery */
};

struct rc_hints_stats {
    uint64_t pending, bytes; /* held now */
    uint64_t stored, delivered, dropped;
};

/* cluster and peers are borrowed for the hints' life. */
int rc_hints_new(uv_loop_t *loop, const struct rc_hints_opts *opts, struct rc_cluster *cluster,
                 struct rc_peers *peers, struct rc_hints **out);

/* Keeps a write (value NULL: a tombstone) for target; copies what it
 * keeps. Counted as dropped when a cap leaves no room. */
void rc_hints_add(struct rc_hints *h, uint64_t target, const uint8_t *key, size_t key_len,
                  const uint8_t *value, size_t value_len, const struct rc_version *ver,
                  int64_t expires_ms);
/* The same for a value with attributes (store.h; NULL: none), delivered
 * with them (a counter state is merged by the replica, node.h). */
void rc_hints_add_attr(struct rc_hints *h, uint64_t target, const uint8_t *key, size_t key_len,
                       const uint8_t *value, size_t value_len, const struct rc_attr *attr,
                       const struct rc_version *ver, int64_t expires_ms);

void rc_hints_stats(const struct rc_hints *h, struct rc_hints_stats *st);

/* Closes the timer; rc_hints_free after the loop has run it. */
void rc_hints_stop(struct rc_hints *h);
void rc_hints_free(struct rc_hints *h);

#endif
