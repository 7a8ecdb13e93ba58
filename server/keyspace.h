/*
 * keyspace.h - the cluster's keyspace, whichever node is asked: SCAN,
 * KEYS, RANDOMKEY and DBSIZE walk the ring in token order and ask the
 * live replicas of each range for their entries (the KEY_SCAN internode
 * operation, common/keyscan.h).
 *
 * A step covers a window of up to RC_KEYSPACE_WINDOW vnode ranges of the
 * placement ring starting at a cursor (a token). Every live placement
 * replica of each range is asked (one request per member, listing its
 * ranges), and the answers are merged per key, newest version wins: a key
 * one replica misses (a node that just joined, a hint still pending) is
 * still returned by the others, and a key deleted on any replica whose
 * tombstone is newest is not. A member that stops early (its COUNT
 * reached) stops the step at its last token, so the step returns exactly
 * the keys with cursor <= token <= its end, and the next cursor is the
 * token after it. Cursors are ring positions, not node-local state, so
 * any node continues an iteration, and each key present for the whole
 * iteration is returned exactly once whatever joins or leaves meanwhile.
 */
#ifndef RC_KEYSPACE_H
#define RC_KEYSPACE_H

#include <stdint.h>

#include "buf.h"
#include "cluster.h"
#include "codec.h"
#include "keyscan.h"
#include "log.h"
#include "node.h"
#include "peer.h"

/* Vnode ranges per step: a node's 256 vnodes make 257 ranges on its own
 * ring (the first one wraps), so one step walks a 1-node ring and two a
 * 3-node one, while one step's request stays under 10 KiB per member. */
#define RC_KEYSPACE_WINDOW 512
/* DBSIZE's window is smaller: a member counts by walking its entries in
 * the ranges asked, holding its loop, so a step over 64 of a 3-node
 * ring's 769 ranges walks ~1/12 of what it holds (a few ms per million
 * keys) instead of most of it. */
#define RC_KEYSPACE_COUNT_WINDOW 64

struct rc_keyspace;

/* Every member asks one random live member for its flush epoch (and
 * tells its own) this often, so an epoch reaches a node that was away
 * within a few rounds of its return: one small request per node per
 * period. */
#define RC_KEYSPACE_EPOCH_SYNC_MS 1000

/* cluster, node, peers and log are borrowed for the module's life.
 * timeout_ms: per member request. Subscribes to the cluster (a member
 * coming back alive is told the flush epoch at once). */
int rc_keyspace_new(uv_loop_t *loop, struct rc_cluster *c, struct rc_node *n,
                    struct rc_peers *p, uint32_t max_key, int timeout_ms,
                    const struct rc_log *log, struct rc_keyspace **out);

/* Starts the epoch exchange timer; stop closes it (at shutdown). */
void rc_keyspace_start(struct rc_keyspace *ks);
void rc_keyspace_stop(struct rc_keyspace *ks);

/* Steps still waiting for members are abandoned (their callbacks never
 * run): call after the loop stopped. NULL is a no-op. */
void rc_keyspace_free(struct rc_keyspace *ks);

/*
 * FLUSHALL: a new flush epoch F (an HLC timestamp of this node) applied
 * here (rc_node_flush) and sent to every live member (FLUSH_EPOCH).
 * cb(arg, acked, asked): how many members in all (this one included)
 * recorded F, of how many were alive here. Members that were down learn F
 * from the epoch exchange when they return; any node that knows F refuses
 * older versions, so nothing flushed comes back. cb runs exactly once,
 * possibly before this returns.
 */
typedef void (*rc_keyspace_flush_cb)(void *arg, int acked, int asked);
void rc_keyspace_flushall(struct rc_keyspace *ks, rc_keyspace_flush_cb cb, void *arg);

/*
 * memcached's flush_all <delay>: the same flush, started by this node's
 * timer in delay_ms (<= 0: now, without waiting for the members). One is
 * pending at most: a new call replaces it. Entries written before it
 * fires are flushed too (their versions are older than its epoch), as
 * memcached invalidates what exists when the delay ends. A delayed flush
 * lives on this node only: if it stops first, the flush does not happen.
 */
void rc_keyspace_flushall_at(struct rc_keyspace *ks, int64_t delay_ms);

/* The peer op FLUSH_EPOCH: adopts the sender's epoch (VERSION's hlc) if
 * newer and answers with this node's (in VERSION). */
int rc_keyspace_serve_epoch(struct rc_node *n, const struct rc_request *req, struct rc_buf *out);

/* The peer op KEY_SCAN: answers from this node's store. */
int rc_keyspace_serve(struct rc_node *n, const struct rc_request *req, struct rc_buf *out);

/* What a step found, borrowed for the callback. err 0 or RC_EUNAVAILABLE
 * (no live replica of some range of the window answered), RC_ENOMEM.
 * KEYS mode: set->e[0 .. nkeys) are the live keys, in token order, of
 * cursor <= token <= end. COUNT mode: count is the live keys there
 * (per range, the largest count among its replicas). next: the cursor
 * after end; done when end is the ring's last token. */
struct rc_keyspace_result {
    int err;
    const struct rc_keyscan_set *set;
    size_t nkeys;
    uint64_t count;
    uint64_t end, next;
    int done;
};
typedef void (*rc_keyspace_cb)(void *arg, const struct rc_keyspace_result *res);

/* One step from cursor (mode: enum rc_keyscan_mode; count: entries per
 * member, 1 .. RC_KEYSCAN_MAX_COUNT). cb runs exactly once, possibly
 * before this returns (a cluster of one node answers at once). */
void rc_keyspace_step(struct rc_keyspace *ks, int mode, uint64_t cursor, uint32_t count,
                      rc_keyspace_cb cb, void *arg);

#endif
