/*
 * rebalance.h - moves exactly the affected key ranges when the ring changes.
 *
 * Every node compares the ring it last settled on with the current one
 * (rc_ring_diff) and, for each token range that gained a replica, works
 * out who sends it (common/plan.h states the rules in full and plans them
 * without I/O): a node dropped from the range while still alive (it
 * holds the data and must hand it over before deleting it), else the first
 * live old replica. Every node computes the same answer, so each range is
 * sent once. A send starts with a digest comparison, so a replica that
 * already has the data (a rejoining node, a range another holder already
 * sent) costs one round trip, not a copy. Data flows in bounded batches,
 * a few in flight per target, under a byte-rate limit, and resumes from the
 * last acknowledged key after a cut. A node deletes a range it no longer
 * replicates only after the new replicas acknowledged it.
 */
#ifndef RC_REBALANCE_H
#define RC_REBALANCE_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>
#include <uv.h>

#include "log.h"
#include "net.h"
#include "node.h"
#include "peer.h"

struct rc_cluster;
struct rc_cluster_change;
struct rc_rebalance;

/* The replication factor and vnodes are the cluster's (cluster.h). */
struct rc_rebalance_opts {
    int batch_keys;        /* entries per stream batch */
    size_t batch_bytes;    /* payload at which a stream batch ends (or earlier: a batch
                              never exceeds one frame, rc_stream_batch_cap) */
    int64_t rate_bytes;    /* outgoing stream bytes per second, 0 = unlimited */
    uint32_t max_frame;    /* the peer port's frame body limit (every node's; 0 = max value
                              + max key + 4 KiB): no batch's request exceeds it */
    int timeout_ms;        /* per batch / digest request */
    int settle_ms;         /* wait after the last ring change before planning */
    int sweep_ms;          /* between cleanups of ranges held but not replicated here */
    int hold_ms;           /* cleanups wait this long after data arrives for a range this
                              node does not replicate (its sender sees a ring change this
                              node has not seen yet: a hand-off before a leave, say) */
    int repair_ms;         /* anti-entropy: every range compared with its other replicas
                              this often (with a cleanup), 0 = only after deaths and heals */
};

struct rc_rebalance_stats {
    uint64_t keys_out, bytes_out, keys_in, bytes_in;
    uint64_t ranges_sent, ranges_skipped, ranges_dropped, keys_dropped;
    uint64_t rebalances;
    uint64_t sweeps; /* cleanups that found data held out of place */
    uint64_t stream_failures; /* streams that failed for STALL_MS without an answer */
    uint64_t stream_skipped;  /* entries too large for any frame, not sent */
    uint64_t repairs; /* anti-entropy passes: every range compared with its replicas */
    uint64_t repairs_sent; /* of which sent data (replicas had diverged) */
    uint64_t repairs_skipped_evicting; /* differing repair ranges left alone: a side evicts */
    int running;
};

/* cluster, node, peers and log are borrowed for the rebalancer's life;
 * the members and the rings planned towards are the cluster's. */
int rc_rebalance_new(uv_loop_t *loop, const struct rc_rebalance_opts *opts,
                     struct rc_cluster *cluster, struct rc_node *node, struct rc_peers *peers,
                     const struct rc_log *log, struct rc_rebalance **out);

/* A cluster subscriber (rc_cluster_fn; arg is the rebalancer): records the
 * change as an event for ACTIVITY; planning starts settle_ms after the last
 * change, against the last settled ring. */
void rc_rebalance_on_cluster(void *arg, const struct rc_cluster_change *ch);

/* Peer-port operations RANGE_DIGEST and STREAM. */
int rc_rebalance_handle(struct rc_rebalance *rb, struct rc_net *net, const struct rc_request *req,
                        struct rc_buf *out);

/* Graceful leave: stream every range this node holds to the nodes that
 * take it over once it is gone, then call done (also after timeout_ms). */
void rc_rebalance_handoff(struct rc_rebalance *rb, int timeout_ms, void (*done)(void *arg),
                          void *arg);

/* ACTIVITY payload: {"rebalance": {...}, "streams": [...], "events": [...]} */
int rc_rebalance_pack_activity(struct rc_rebalance *rb, msgpack_packer *pk);

void rc_rebalance_stats(const struct rc_rebalance *rb, struct rc_rebalance_stats *st);

/* One stream of the running plan, as ACTIVITY shows it (/metrics, per peer). */
struct rc_rebalance_stream {
    uint64_t peer; /* the receiving member's id */
    uint64_t ranges, ranges_done, ranges_in_place, keys, bytes;
    int failures; /* attempts in a row that failed, 0 while it works */
};

/* The running plan's streams into out[0..max): how many it has (may be
 * more than max); 0 when no plan runs. */
size_t rc_rebalance_streams(const struct rc_rebalance *rb, struct rc_rebalance_stream *out,
                            size_t max);

void rc_rebalance_stop(struct rc_rebalance *rb);
void rc_rebalance_free(struct rc_rebalance *rb);

#endif
