/*
 * node.h - one ringcache node: executes client operations.
 *
 * Owns the local store, the hybrid logical clock, the node's identity and
 * its counters, and the background purge of expired entries. It plugs into
 * net.c as the request handler. The cluster coordinator (replication,
 * quorum) builds on the same entry points.
 */
#ifndef RC_NODE_H
#define RC_NODE_H

#include <stdint.h>

#include <uv.h>

#include "log.h"
#include "net.h"

struct rc_node;

struct rc_node_opts {
    const char *data_dir;       /* directory or ":memory:" */
    uint32_t max_key;           /* bytes */
    uint32_t max_value;         /* bytes */
    uint32_t max_frame;         /* reported in STATS */
    int64_t tombstone_grace_ms;
    int64_t max_db_bytes;       /* 0 = unlimited */
    int64_t cache_kib;          /* SQLite page cache */
    int64_t purge_interval_ms;
    int purge_batch;
    int64_t max_drift_ms;
};

/* Opens the store and loads (or creates) the node id. The log is borrowed.
 * On failure *out is NULL and err holds a one-line reason. */
int rc_node_new(uv_loop_t *loop, const struct rc_node_opts *opts, const struct rc_log *log,
                struct rc_node **out, char *err, size_t errlen);

/* Fills h so that net.c sends requests to this node. */
void rc_node_handler(struct rc_node *n, struct rc_net_handler *h);

/* The net whose connection counters STATS reports (borrowed). */
void rc_node_set_net(struct rc_node *n, struct rc_net *net);

/* Starts the background purge timer. */
void rc_node_start(struct rc_node *n);

/* Stops timers (their handles close on the loop). */
void rc_node_stop(struct rc_node *n);

/* Commits pending writes, closes the store, frees. Call after the loop
 * has finished (all handles closed). NULL is a no-op. */
void rc_node_free(struct rc_node *n);

uint64_t rc_node_id(const struct rc_node *n);

#endif
