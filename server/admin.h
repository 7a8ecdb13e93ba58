/*
 * admin.h - what an operator sees: STATS, INFO's figures, MEMBERS, RING,
 * ACTIVITY, and FORGET.
 *
 * One snapshot struct holds every figure, typed, filled from the modules
 * that own them; STATS lists it by a table (name -> field) and the RESP
 * INFO command reads its fields, never names, so a figure that is renamed
 * or dropped breaks the build, not a reply. It also runs the keys-held
 * census (keys this node holds as primary and as secondary replica),
 * counted in small steps on a timer so STATS never waits for a scan.
 */
#ifndef RC_ADMIN_H
#define RC_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>
#include <uv.h>

#include "cluster.h"
#include "codec.h"
#include "coord.h"
#include "hints.h"
#include "log.h"
#include "net.h"
#include "node.h"
#include "peer.h"
#include "prom.h"
#include "seal.h"

struct rc_admin;
struct rc_rebalance;
struct rc_resp_stats;

/* The modules whose figures are shown, borrowed for the admin's life;
 * those wired after startup (net, rebalance, resp) may be NULL (zeros). */
struct rc_admin_sources {
    struct rc_node *node;
    struct rc_cluster *cluster;
    struct rc_coord *coord;
    struct rc_hints *hints;
    struct rc_peers *peers;
    struct rc_rebalance *rebalance;
    struct rc_net *net;                 /* the client port */
    const struct rc_resp_stats *resp;   /* the RESP front end */
    const struct rc_seal_stats *seal;   /* NULL: zeros */
    int keyed;                          /* a cluster key is in use */
    int vnodes, r, w;                   /* settings shown */
};

/* Every STATS figure (docs/protocol.md, STATS), by field. */
struct rc_admin_stats {
    const char *version, *node_id, *data_dir;
    int64_t pid, uptime_s;
    int64_t keys, tombstones, bytes, db_bytes, db_wal_bytes, db_checkpoints;
    int64_t connections, connections_total, connections_rejected;
    int64_t ops_ping, ops_get, ops_put, ops_del, ops_stats, ops_members, ops_ring;
    int64_t hits, misses, errors, errors_unavailable, errors_timeout;
    int64_t protocol_errors, read_pauses, closed_idle, closed_slow_frame, closed_write_stall,
        closed_output_limit, closed_auth_timeout;
    int64_t auth_ok, auth_failures, auth_closed, auth_rejected;
    int64_t expired_purged, replica_writes, replica_reads, read_repairs,
        read_repairs_evicted;
    int64_t hints_pending, hints_bytes, hints_stored, hints_delivered, hints_dropped;
    int64_t clock_drift_rejects, writes_refused_clock_ahead, replica_writes_superseded,
        writes_superseded_retried, errors_superseded, errors_not_in_contact, in_contact,
        members_forgotten, incr_actor_renewals;
    int64_t read_cache_hits, read_cache_misses, read_cache_entries, read_cache_bytes;
    int64_t keys_primary, keys_replica;
    int64_t stream_keys_out, stream_bytes_out, stream_keys_in, stream_bytes_in,
        stream_ranges_sent, stream_ranges_in_place, ranges_dropped, keys_dropped,
        stream_cleanups, stream_failures, resp_replies_too_large, stream_skipped,
        anti_entropy_passes, anti_entropy_repairs, anti_entropy_skipped_evicting, rebalances,
        rebalance_running;
    int64_t members, members_alive, members_known, replication_factor, read_quorum,
        write_quorum, vnodes, max_key_size, max_value_size, max_frame_size;
    int64_t cluster_key, gossip_auth_failures, gossip_replays, peer_auth_failures;
    int64_t clock_ahead_ms, clock_skewed_peers;
    int64_t peer_breaker_open, peer_breaker_trips, peer_fast_fails;
    const char *maxmemory_policy;
    int64_t maxmemory, used_memory, evicted_keys, evicted_bytes, ghost_refused;
    int64_t keyspace_hits, keyspace_misses;
    int64_t write_behind, wb_dirty, wb_lag_ms, wb_flushes, wb_flush_rows, wb_flush_ms_max,
        wb_flush_errors, wb_backlog_waits, wb_journal_bytes, wb_snapshots, wb_snapshot_errors,
        wb_snapshotting;
};

/* Subscribes to the cluster (the census restarts on a change). */
int rc_admin_new(uv_loop_t *loop, const struct rc_admin_sources *src, const struct rc_log *log,
                 struct rc_admin **out);

/* Late wiring: the client net, the rebalancer, the RESP front end's counters. */
void rc_admin_set_net(struct rc_admin *a, struct rc_net *net);
void rc_admin_set_rebalance(struct rc_admin *a, struct rc_rebalance *rb);
void rc_admin_set_resp(struct rc_admin *a, const struct rc_resp_stats *st);

/* Every figure now. */
void rc_admin_snapshot(struct rc_admin *a, struct rc_admin_stats *s);

/* The STATS command: the figures as name/value pairs into st (room for
 * RC_ADMIN_MAX_STATS; names static, strings borrowed until the next
 * call), counted in ops_stats. Returns the count. */
#define RC_ADMIN_MAX_STATS 128
size_t rc_admin_stats(struct rc_admin *a, struct rc_stat *st);

/* One row of the STATS table (admin.c): the figure's name and field, and
 * how /metrics exports it (server/metrics.c). type RC_PROM_UNTYPED with
 * help NULL: a row that says nothing more (exported as untyped). family
 * non-NULL: the metric is named after family, and label=value (label
 * NULL: none) tells the rows of the family apart; they are adjacent and
 * the first carries the help. A str row (is_str) is a label, named after
 * the figure, of the info metric family (value 1). */
struct rc_admin_stat_def {
    const char *name;
    int is_str;
    size_t off; /* in struct rc_admin_stats: int64_t, or const char * when is_str */
    enum rc_prom_type type;
    enum rc_prom_unit unit;
    const char *help;
    const char *family, *label, *label_value;
};

/* The STATS table: static rows, their count returned. */
size_t rc_admin_stat_defs(const struct rc_admin_stat_def **defs);

/* The views (docs/protocol.md): MEMBERS, RING, ACTIVITY, packed as one
 * msgpack value. 0, or RC_EUNKNOWN_OP (ACTIVITY without a rebalancer). */
enum rc_admin_view { RC_ADMIN_MEMBERS, RC_ADMIN_RING, RC_ADMIN_ACTIVITY };
int rc_admin_pack_view(struct rc_admin *a, enum rc_admin_view v, msgpack_packer *pk);

/* PING: counted in ops_ping. */
void rc_admin_ping(struct rc_admin *a);

/* A front end answered a client with err outside the coordinator (an
 * unknown op, a failed view or FORGET): counted in errors (and
 * errors_unavailable). */
void rc_admin_count_error(struct rc_admin *a, int err);

/* FORGET of the member whose id is 16 hex digits: 0, or the error with
 * msg filled (rc_cluster_forget's codes, RC_EINVAL for a bad id). */
int rc_admin_forget(struct rc_admin *a, const uint8_t *id, size_t len, char *msg, size_t msglen);

/* Stops the census timer; rc_admin_free after the loop has run it. */
void rc_admin_stop(struct rc_admin *a);
void rc_admin_free(struct rc_admin *a);

#endif
