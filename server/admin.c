/*
 * admin.c - STATS, the views and the keys-held census (see admin.h).
 *
 * The STATS table below is the one place a figure is named: its row maps
 * the name (a contract: docs/protocol.md lists every one, and a test
 * checks both agree) to a field of struct rc_admin_stats.
 */
#include "admin.h"
#include "container_of.h"
#include "err.h"
#include "evict.h"
#include "gossip.h"
#include "rebalance.h"
#include "resp_server.h"
#include "ring.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* The keys-held census in STATS: a new pass every 2 s, CENSUS_STEP vnode
 * ranges (each about 1/(256 N) of the data, well under a millisecond to
 * count) every CENSUS_TICK_MS, so counting never holds the loop. A pass
 * reads every key held, so the pause before the next one is also at least
 * CENSUS_PAUSE_FACTOR times what the last pass cost: at most ~2 % of a
 * core (a node holding 780k keys spent 9 % of a core on 2 s passes; at
 * 1M keys a pass still took ~5 % of a write-bound core at a factor of
 * 20, in both engines' profiles). */
#define CENSUS_MS 2000
#define CENSUS_TICK_MS 10
#define CENSUS_STEP 16
#define CENSUS_PAUSE_FACTOR 50

struct rc_admin {
    uv_timer_t census_timer;
    struct rc_admin_sources src;
    const struct rc_log *log;
    int64_t start_ms;
    uint64_t ping, stats, members, ring, forgotten;
    uint64_t errors, unavailable; /* rc_admin_count_error */
    /* Keys held as primary / as replica (see on_census). */
    uint64_t census_primary, census_replica;
    uint64_t census_acc_primary, census_acc_replica;
    uint64_t census_cost_ns; /* CPU the pass under way has cost so far */
    struct rc_ring_iter census_it; /* where the pass under way is */
};

/* ---- STATS -------------------------------------------------------------- */

/*
 * One row per figure: its name, its field, and how /metrics exports it
 * (server/metrics.c, README "Metrics"): a counter or a gauge, its unit,
 * its help; rows sharing a family form one metric with a label (they
 * stay adjacent); str rows become labels of an info metric (family).
 * NUM/STR rows without that are exported as untyped.
 */
#define ROW(f, is_str, type, unit, help, fam, lbl, val) \
    {#f, is_str, offsetof(struct rc_admin_stats, f), type, unit, help, fam, lbl, val}
#define NUM(f) ROW(f, 0, RC_PROM_UNTYPED, RC_PROM_UNIT_NONE, NULL, NULL, NULL, NULL)
#define STR(f) ROW(f, 1, RC_PROM_UNTYPED, RC_PROM_UNIT_NONE, NULL, NULL, NULL, NULL)
#define C(f, help) ROW(f, 0, RC_PROM_COUNTER, RC_PROM_UNIT_NONE, help, NULL, NULL, NULL)
#define CB(f, help) ROW(f, 0, RC_PROM_COUNTER, RC_PROM_UNIT_BYTES, help, NULL, NULL, NULL)
#define G(f, help) ROW(f, 0, RC_PROM_GAUGE, RC_PROM_UNIT_NONE, help, NULL, NULL, NULL)
#define GB(f, help) ROW(f, 0, RC_PROM_GAUGE, RC_PROM_UNIT_BYTES, help, NULL, NULL, NULL)
#define GMS(f, help) ROW(f, 0, RC_PROM_GAUGE, RC_PROM_UNIT_MS, help, NULL, NULL, NULL)
#define GS(f, help) ROW(f, 0, RC_PROM_GAUGE, RC_PROM_UNIT_S, help, NULL, NULL, NULL)
#define CL(f, fam, lbl, val, help) \
    ROW(f, 0, RC_PROM_COUNTER, RC_PROM_UNIT_NONE, help, fam, lbl, val)
#define CBL(f, fam, lbl, val, help) \
    ROW(f, 0, RC_PROM_COUNTER, RC_PROM_UNIT_BYTES, help, fam, lbl, val)
#define INFO(f, fam, help) ROW(f, 1, RC_PROM_GAUGE, RC_PROM_UNIT_NONE, help, fam, #f, NULL)

static const struct rc_admin_stat_def stat_defs[] = {
    INFO(version, "build_info", "Build of this node: 1, with its version as a label"),
    INFO(node_id, "node_info", "This node: 1, with its id, data directory and eviction policy"),
    G(pid, "Server process id"),
    GS(uptime_s, "Seconds since the server started"),
    INFO(data_dir, "node_info", NULL),
    G(keys, "Live keys stored on this node (not expired; tombstones excluded)"),
    G(tombstones, "Delete markers stored, until purged after --tombstone-grace"),
    GB(bytes, "Key and value bytes of the values stored, expired ones until purged"),
    GB(db_bytes, "Database size on disk (with :memory:, memory held by the entries)"),
    GB(db_wal_bytes, "Size of SQLite's write-ahead log after the last commit"),
    C(db_checkpoints, "SQLite WAL checkpoints done"),
    G(connections, "Client connections open now (native port)"),
    CL(connections_total, "connections_accepted", NULL, NULL,
       "Client connections accepted (native port)"),
    C(connections_rejected, "Client connections refused over --max-conns"),
    CL(ops_ping, "ops", "op", "ping",
       "Requests received, by operation (get, put, del: native and RESP; others: native)"),
    CL(ops_get, "ops", "op", "get", NULL),
    CL(ops_put, "ops", "op", "put", NULL),
    CL(ops_del, "ops", "op", "del", NULL),
    CL(ops_stats, "ops", "op", "stats", NULL),
    CL(ops_members, "ops", "op", "members", NULL),
    CL(ops_ring, "ops", "op", "ring", NULL),
    C(hits, "GETs coordinated here that found a value"),
    C(misses, "GETs coordinated here that found none"),
    C(errors, "Requests answered with an error status"),
    C(errors_unavailable, "Requests answered UNAVAILABLE (too few replicas)"),
    C(errors_timeout, "Requests answered TIMEOUT"),
    C(protocol_errors, "Malformed frames or bodies received"),
    C(read_pauses, "Times reading a client paused for backpressure"),
    CL(closed_idle, "connections_closed", "reason", "idle",
       "Client connections closed by a limit, by reason"),
    CL(closed_slow_frame, "connections_closed", "reason", "slow_frame", NULL),
    CL(closed_write_stall, "connections_closed", "reason", "write_stall", NULL),
    CL(closed_output_limit, "connections_closed", "reason", "output_limit", NULL),
    CL(closed_auth_timeout, "connections_closed", "reason", "auth_timeout", NULL),
    C(auth_ok, "Successful AUTHs"),
    C(auth_failures, "AUTHs with a wrong password"),
    C(auth_closed, "Connections closed after their third wrong password"),
    C(auth_rejected, "Requests refused with NOAUTH"),
    C(expired_purged, "Expired entries removed from storage"),
    C(replica_writes, "REPL_WRITE requests received from other nodes"),
    C(replica_reads, "REPL_READ requests received from other nodes"),
    C(read_repairs, "Stale or missing replicas repaired after a read"),
    C(read_repairs_evicted, "Missing replicas not repaired because they evict"),
    G(hints_pending, "Writes held for unreachable replicas now"),
    GB(hints_bytes, "Key and value bytes the pending hints hold"),
    C(hints_stored, "Hints kept"),
    C(hints_delivered, "Hints a replica acknowledged"),
    C(hints_dropped, "Hints given up (limits, age, memory, target gone)"),
    C(clock_drift_rejects, "Peer timestamps refused for being more than --max-drift ahead"),
    C(writes_refused_clock_ahead, "Writes refused with DRIFT: this node's clock is ahead"),
    C(replica_writes_superseded, "REPL_WRITEs answered SUPERSEDED (a newer version held)"),
    C(writes_superseded_retried, "Write rounds retried past a newer version"),
    C(incr_actor_renewals, "Counter keys renewed to a new actor: a state came back ahead of this node's copy"),
    C(errors_superseded, "Writes answered SUPERSEDED after 4 rounds"),
    C(errors_not_in_contact, "QUORUM/ALL requests refused before contact with the cluster"),
    G(in_contact, "1 once this node has made contact with its cluster"),
    C(members_forgotten, "Members removed with FORGET through this node"),
    C(read_cache_hits, "Local reads answered by the read cache"),
    C(read_cache_misses, "Local reads that went to the store"),
    G(read_cache_entries, "Values held in the read cache"),
    GB(read_cache_bytes, "Size of the read cache"),
    G(keys_primary, "Live keys in the ranges this node owns as primary (census)"),
    G(keys_replica, "Live keys in the ranges it holds as a secondary replica (census)"),
    CL(stream_keys_out, "stream_keys", "direction", "out",
       "Entries streamed in rebalancing, by direction (out: acknowledged)"),
    CL(stream_keys_in, "stream_keys", "direction", "in", NULL),
    CBL(stream_bytes_out, "stream_bytes", "direction", "out",
        "Key and value bytes streamed in rebalancing, by direction"),
    CBL(stream_bytes_in, "stream_bytes", "direction", "in", NULL),
    C(stream_ranges_sent, "Ranges whose differing data was streamed and acknowledged"),
    C(stream_ranges_in_place, "Ranges not streamed: nothing to send or digests equal"),
    C(ranges_dropped, "Ranges deleted after their new replicas acknowledged them"),
    C(keys_dropped, "Entries deleted with those ranges"),
    C(stream_cleanups, "Cleanups that found data held out of place"),
    C(stream_failures, "Streams that failed for 15 s without an answer"),
    C(resp_replies_too_large, "RESP replies refused for exceeding the reply cap"),
    C(stream_skipped, "Entries not streamed because no frame can carry them"),
    C(anti_entropy_passes, "Anti-entropy passes started"),
    C(anti_entropy_repairs, "Anti-entropy passes that found differing replicas"),
    C(anti_entropy_skipped_evicting, "Differing ranges anti-entropy left alone (eviction)"),
    C(rebalances, "Rebalance plans started"),
    G(rebalance_running, "1 while a rebalance plan runs"),
    G(members, "Members in the membership table, any state"),
    G(members_alive, "Members alive"),
    G(members_known, "Members known (not left): the cluster size that caps quorums"),
    G(replication_factor, "--rf"),
    G(read_quorum, "--r, the default read quorum"),
    G(write_quorum, "--w, the default write quorum"),
    G(vnodes, "--vnodes, virtual nodes per member"),
    GB(max_key_size, "Key size limit"),
    GB(max_value_size, "Value size limit"),
    GB(max_frame_size, "Frame body limit"),
    G(cluster_key, "1 when internode traffic is sealed with a cluster key"),
    C(gossip_auth_failures, "Gossip datagrams dropped for a wrong key or no seal"),
    C(gossip_replays, "Gossip datagrams dropped as replayed or stale"),
    C(peer_auth_failures, "Peer connections refused for the cluster key"),
    GMS(clock_ahead_ms, "How far this node's clock is ahead of the cluster median"),
    G(clock_skewed_peers, "Peers whose clock differs from this node's by more than 1 s"),
    G(peer_breaker_open, "Members whose circuit breaker is open now"),
    C(peer_breaker_trips, "Circuit breakers opened"),
    C(peer_fast_fails, "Internode requests failed at once by an open breaker"),
    GB(maxmemory, "Memory budget of the data (0: none)"),
    INFO(maxmemory_policy, "node_info", NULL),
    GB(used_memory, "What the memory budget counts now"),
    C(evicted_keys, "Entries evicted to stay within the budget"),
    CB(evicted_bytes, "Key and value bytes evicted"),
    C(ghost_refused, "Writes of an evicted key ignored (not newer than the eviction)"),
    C(keyspace_hits, "Same as hits, under Redis's name"),
    C(keyspace_misses, "Same as misses, under Redis's name"),
    G(write_behind, "1 when the data directory is written behind"),
    G(wb_dirty, "Write-behind: keys changed in memory, not yet on disk"),
    GMS(wb_lag_ms, "Write-behind: age of the oldest change not yet on disk"),
    C(wb_flushes, "Write-behind: flushes committed"),
    C(wb_flush_rows, "Write-behind: rows the flushes wrote"),
    GMS(wb_flush_ms_max, "Write-behind: the longest flush"),
    C(wb_flush_errors, "Write-behind: flushes that failed"),
    C(wb_backlog_waits, "Write-behind: batch ends that waited for the disk"),
    GB(wb_journal_bytes, "Write-behind: journal data on disk (the last snapshot and the flushes since)"),
    C(wb_snapshots, "Write-behind: snapshots of memory completed"),
    C(wb_snapshot_errors, "Write-behind: snapshot segments that failed (the snapshot is begun again)"),
    G(wb_snapshotting, "Write-behind: 1 while a snapshot of memory is under way"),
};

#undef ROW
#undef NUM
#undef STR
#undef C
#undef CB
#undef G
#undef GB
#undef GMS
#undef GS
#undef CL
#undef CBL
#undef INFO

_Static_assert(sizeof(stat_defs) / sizeof(stat_defs[0]) <= RC_ADMIN_MAX_STATS,
               "RC_ADMIN_MAX_STATS too small for the STATS table");

static void snap_node(struct rc_admin *a, struct rc_admin_stats *s)
{
    const struct rc_node_opts *no = rc_node_opts(a->src.node);
    struct rc_node_stats ns;

    rc_node_stats(a->src.node, &ns);
    s->node_id = rc_node_id_hex(a->src.node);
    s->data_dir = no->data_dir;
    s->keys = ns.store.keys;
    s->tombstones = ns.store.tombstones;
    s->bytes = ns.store.bytes;
    s->db_bytes = ns.store.db_bytes;
    s->db_wal_bytes = ns.store.wal_bytes;
    s->db_checkpoints = ns.store.checkpoints;
    s->expired_purged = (int64_t)ns.purged;
    s->replica_writes = (int64_t)ns.repl_writes;
    s->replica_reads = (int64_t)ns.repl_reads;
    s->clock_drift_rejects = (int64_t)ns.drift_rejects;
    s->replica_writes_superseded = (int64_t)ns.superseded;
    s->incr_actor_renewals = (int64_t)ns.actor_renewals;
    s->read_cache_hits = (int64_t)ns.cache.hits;
    s->read_cache_misses = (int64_t)ns.cache.misses;
    s->read_cache_entries = (int64_t)ns.cache.entries;
    s->read_cache_bytes = (int64_t)ns.cache.bytes;
    s->max_key_size = no->max_key;
    s->max_value_size = no->max_value;
    s->max_frame_size = (int64_t)no->max_value + no->max_key + 4096;
    s->maxmemory = no->max_mem_bytes;
    s->maxmemory_policy = rc_evict_policy_name(no->evict_policy);
    if (s->maxmemory_policy == NULL)
        s->maxmemory_policy = "?";
    s->used_memory = ns.used_memory;
    s->evicted_keys = ns.store.evicted;
    s->evicted_bytes = ns.store.evicted_bytes;
    s->ghost_refused = ns.store.ghost_refused;
    s->write_behind = no->write_behind;
    s->wb_dirty = ns.store.wb_dirty;
    s->wb_lag_ms = ns.store.wb_lag_ms;
    s->wb_flushes = ns.store.wb_flushes;
    s->wb_flush_rows = ns.store.wb_flush_rows;
    s->wb_flush_ms_max = ns.store.wb_flush_ms_max;
    s->wb_flush_errors = ns.store.wb_flush_errors;
    s->wb_backlog_waits = ns.store.wb_backlog_waits;
    s->wb_journal_bytes = ns.store.wb_journal_bytes;
    s->wb_snapshots = ns.store.wb_snapshots;
    s->wb_snapshot_errors = ns.store.wb_snapshot_errors;
    s->wb_snapshotting = ns.store.wb_snapshotting;
}

static void snap_net(struct rc_admin *a, struct rc_admin_stats *s)
{
    struct rc_net_stats cs = {0};

    if (a->src.net)
        rc_net_stats(a->src.net, &cs);
    s->connections = (int64_t)cs.conns;
    s->connections_total = (int64_t)cs.conns_total;
    s->connections_rejected = (int64_t)cs.conns_rejected;
    s->protocol_errors = (int64_t)cs.protocol_errors;
    s->read_pauses = (int64_t)cs.read_pauses;
    s->closed_idle = (int64_t)cs.closed_idle;
    s->closed_slow_frame = (int64_t)cs.closed_slow_frame;
    s->closed_write_stall = (int64_t)cs.closed_write_stall;
    s->closed_output_limit = (int64_t)cs.closed_out_limit;
    s->closed_auth_timeout = (int64_t)cs.closed_auth_timeout;
    s->auth_ok = (int64_t)cs.auth_ok;
    s->auth_failures = (int64_t)cs.auth_failures;
    s->auth_closed = (int64_t)cs.auth_closed;
    s->auth_rejected = (int64_t)cs.auth_rejected;
}

static void snap_coord(struct rc_admin *a, struct rc_admin_stats *s)
{
    struct rc_coord_stats c;
    struct rc_hints_stats h;

    rc_coord_stats(a->src.coord, &c);
    rc_hints_stats(a->src.hints, &h);
    s->ops_get = (int64_t)c.get;
    s->ops_put = (int64_t)c.put;
    s->ops_del = (int64_t)c.del;
    s->hits = (int64_t)c.hits;
    s->misses = (int64_t)c.misses;
    s->keyspace_hits = s->hits; /* Redis's names, for whoever reads INFO's */
    s->keyspace_misses = s->misses;
    s->errors = (int64_t)(c.errors + a->errors);
    s->errors_unavailable = (int64_t)(c.unavailable + a->unavailable);
    s->errors_timeout = (int64_t)c.timeouts;
    s->read_repairs = (int64_t)c.read_repairs;
    s->read_repairs_evicted = (int64_t)c.read_repairs_evicted;
    s->writes_refused_clock_ahead = (int64_t)c.drift_refused;
    s->writes_superseded_retried = (int64_t)c.superseded_retries;
    s->errors_superseded = (int64_t)c.superseded;
    s->errors_not_in_contact = (int64_t)c.uncontacted;
    s->hints_pending = (int64_t)h.pending;
    s->hints_bytes = (int64_t)h.bytes;
    s->hints_stored = (int64_t)h.stored;
    s->hints_delivered = (int64_t)h.delivered;
    s->hints_dropped = (int64_t)h.dropped;
}

static void snap_rebalance(struct rc_admin *a, struct rc_admin_stats *s)
{
    struct rc_rebalance_stats rs = {0};

    if (a->src.rebalance)
        rc_rebalance_stats(a->src.rebalance, &rs);
    s->stream_keys_out = (int64_t)rs.keys_out;
    s->stream_bytes_out = (int64_t)rs.bytes_out;
    s->stream_keys_in = (int64_t)rs.keys_in;
    s->stream_bytes_in = (int64_t)rs.bytes_in;
    s->stream_ranges_sent = (int64_t)rs.ranges_sent;
    s->stream_ranges_in_place = (int64_t)rs.ranges_skipped;
    s->ranges_dropped = (int64_t)rs.ranges_dropped;
    s->keys_dropped = (int64_t)rs.keys_dropped;
    s->stream_cleanups = (int64_t)rs.sweeps;
    s->stream_failures = (int64_t)rs.stream_failures;
    s->stream_skipped = (int64_t)rs.stream_skipped;
    s->anti_entropy_passes = (int64_t)rs.repairs;
    s->anti_entropy_repairs = (int64_t)rs.repairs_sent;
    s->anti_entropy_skipped_evicting = (int64_t)rs.repairs_skipped_evicting;
    s->rebalances = (int64_t)rs.rebalances;
    s->rebalance_running = rs.running;
}

static void snap_cluster(struct rc_admin *a, struct rc_admin_stats *s)
{
    static const struct rc_seal_stats no_seal;
    const struct rc_seal_stats *ss = a->src.seal != NULL ? a->src.seal : &no_seal;
    struct rc_gossip *g = rc_cluster_gossip(a->src.cluster);
    const struct rc_member *m;
    struct rc_skew_view clock = {0};
    struct rc_peers_stats ps;
    size_t alive, known;

    rc_cluster_counts(a->src.cluster, &alive, &known);
    s->members = (int64_t)rc_cluster_members(a->src.cluster, &m);
    s->members_alive = (int64_t)alive;
    s->members_known = (int64_t)known;
    s->in_contact = rc_cluster_in_contact(a->src.cluster);
    s->members_forgotten = (int64_t)a->forgotten;
    s->replication_factor = rc_cluster_rf(a->src.cluster);
    s->read_quorum = a->src.r;
    s->write_quorum = a->src.w;
    s->vnodes = a->src.vnodes;
    s->cluster_key = a->src.keyed;
    s->gossip_auth_failures = (int64_t)ss->gossip_auth_failures;
    s->gossip_replays = (int64_t)ss->gossip_replays;
    s->peer_auth_failures = (int64_t)ss->peer_auth_failures;
    if (g != NULL)
        rc_gossip_clock_view(g, &clock);
    s->clock_ahead_ms = clock.ahead_ms;
    s->clock_skewed_peers = clock.skewed;
    rc_peers_stats(a->src.peers, &ps);
    s->peer_breaker_open = (int64_t)ps.breaker_open;
    s->peer_breaker_trips = (int64_t)ps.breaker_trips;
    s->peer_fast_fails = (int64_t)ps.fast_fails;
}

void rc_admin_snapshot(struct rc_admin *a, struct rc_admin_stats *s)
{
    memset(s, 0, sizeof(*s));
    s->version = RC_VERSION;
    s->pid = getpid();
    s->uptime_s = (rc_node_now_ms() - a->start_ms) / 1000;
    s->ops_ping = (int64_t)a->ping;
    s->ops_stats = (int64_t)a->stats;
    s->ops_members = (int64_t)a->members;
    s->ops_ring = (int64_t)a->ring;
    s->keys_primary = (int64_t)a->census_primary;
    s->keys_replica = (int64_t)a->census_replica;
    s->resp_replies_too_large = a->src.resp ? (int64_t)a->src.resp->replies_too_large : 0;
    snap_node(a, s);
    snap_net(a, s);
    snap_coord(a, s);
    snap_rebalance(a, s);
    snap_cluster(a, s);
}

size_t rc_admin_stats(struct rc_admin *a, struct rc_stat *st)
{
    /* The snapshot's strings are static or owned by the node: they
     * outlive it. */
    struct rc_admin_stats snap;
    size_t i, n = sizeof(stat_defs) / sizeof(stat_defs[0]);

    a->stats++;
    rc_admin_snapshot(a, &snap);
    for (i = 0; i < n; i++) {
        const struct rc_admin_stat_def *d = &stat_defs[i];
        const char *field = (const char *)&snap + d->off;

        memset(&st[i], 0, sizeof(st[i]));
        st[i].name = d->name;
        st[i].name_len = (uint32_t)strlen(d->name);
        if (d->is_str) {
            st[i].is_str = 1;
            memcpy(&st[i].str, field, sizeof(st[i].str));
            st[i].str_len = (uint32_t)strlen(st[i].str);
        } else {
            memcpy(&st[i].num, field, sizeof(st[i].num));
        }
    }
    return n;
}

size_t rc_admin_stat_defs(const struct rc_admin_stat_def **defs)
{
    *defs = stat_defs;
    return sizeof(stat_defs) / sizeof(stat_defs[0]);
}

/* ---- views -------------------------------------------------------------- */

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);

    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* Share of the ring member id owns; zeros for members not in the ring. */
static void member_shares(uint64_t id, const double *prim, const double *repl, size_t nring,
                          const uint64_t *ring_ids, double *p, double *r)
{
    size_t i;

    *p = *r = 0;
    for (i = 0; i < nring; i++) {
        if (ring_ids[i] == id) {
            *p = prim[i];
            *r = repl[i];
        }
    }
}

/* MEMBERS: [{id, host, port, peer_port, state, incarnation, primary, replica, self,
 * clock_offset_ms}] */
static int pack_members(struct rc_admin *a, msgpack_packer *pk)
{
    double prim[RC_RING_MAX_MEMBERS], repl[RC_RING_MAX_MEMBERS], p, r;
    const struct rc_ring *ring = rc_cluster_ring(a->src.cluster);
    struct rc_gossip *g = rc_cluster_gossip(a->src.cluster);
    uint64_t self = rc_cluster_self(a->src.cluster);
    const uint64_t *ring_ids = NULL;
    size_t nring = ring ? rc_ring_members(ring, &ring_ids) : 0, i, n;
    const struct rc_member *all;
    char id[17];
    int64_t off;

    a->members++;
    n = rc_cluster_members(a->src.cluster, &all);
    if (nring)
        rc_ring_shares(ring, rc_cluster_rf(a->src.cluster), prim, repl);
    msgpack_pack_array(pk, n);
    for (i = 0; i < n; i++) {
        const struct rc_member *m = &all[i];

        member_shares(m->id, prim, repl, nring, ring_ids, &p, &r);
        snprintf(id, sizeof(id), "%016" PRIx64, m->id);
        msgpack_pack_map(pk, 10);
        pack_str(pk, "id"); pack_str(pk, id);
        pack_str(pk, "host"); pack_str(pk, m->host);
        pack_str(pk, "port"); msgpack_pack_uint16(pk, m->client_port);
        pack_str(pk, "peer_port"); msgpack_pack_uint16(pk, m->peer_port);
        pack_str(pk, "state"); pack_str(pk, rc_member_state_name(m->state));
        pack_str(pk, "incarnation"); msgpack_pack_uint64(pk, m->incarnation);
        pack_str(pk, "primary"); msgpack_pack_double(pk, p);
        pack_str(pk, "replica"); msgpack_pack_double(pk, r);
        pack_str(pk, "self"); m->id == self ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        pack_str(pk, "clock_offset_ms");
        if (g != NULL && rc_gossip_member_offset(g, m->id, &off) == 0)
            msgpack_pack_int64(pk, off);
        else
            msgpack_pack_nil(pk);
    }
    return 0;
}

/* RING: {rf, vnodes, max_over_mean, members: [{id, host, port, vnodes, primary, replica}]} */
static int pack_ring(struct rc_admin *a, msgpack_packer *pk)
{
    double prim[RC_RING_MAX_MEMBERS], repl[RC_RING_MAX_MEMBERS], maxp = 0;
    const struct rc_ring *ring = rc_cluster_ring(a->src.cluster);
    int rf = rc_cluster_rf(a->src.cluster);
    const uint64_t *ids = NULL;
    size_t n = ring ? rc_ring_members(ring, &ids) : 0, i;
    char id[17];

    a->ring++;
    if (n)
        rc_ring_shares(ring, rf, prim, repl);
    for (i = 0; i < n; i++)
        maxp = prim[i] > maxp ? prim[i] : maxp;
    msgpack_pack_map(pk, 4);
    pack_str(pk, "rf"); msgpack_pack_int(pk, rf);
    pack_str(pk, "vnodes"); msgpack_pack_int(pk, a->src.vnodes);
    pack_str(pk, "max_over_mean"); msgpack_pack_double(pk, n ? maxp * (double)n : 0);
    pack_str(pk, "members");
    msgpack_pack_array(pk, n);
    for (i = 0; i < n; i++) {
        const struct rc_member *m = rc_cluster_find(a->src.cluster, ids[i]);

        snprintf(id, sizeof(id), "%016" PRIx64, ids[i]);
        msgpack_pack_map(pk, 6);
        pack_str(pk, "id"); pack_str(pk, id);
        pack_str(pk, "host"); pack_str(pk, m ? m->host : "?");
        pack_str(pk, "port"); msgpack_pack_uint16(pk, m ? m->client_port : 0);
        pack_str(pk, "vnodes"); msgpack_pack_int(pk, a->src.vnodes);
        pack_str(pk, "primary"); msgpack_pack_double(pk, prim[i]);
        pack_str(pk, "replica"); msgpack_pack_double(pk, repl[i]);
    }
    return 0;
}

int rc_admin_pack_view(struct rc_admin *a, enum rc_admin_view v, msgpack_packer *pk)
{
    switch (v) {
    case RC_ADMIN_MEMBERS:
        return pack_members(a, pk);
    case RC_ADMIN_RING:
        return pack_ring(a, pk);
    case RC_ADMIN_ACTIVITY:
        if (a->src.rebalance == NULL)
            return RC_EUNKNOWN_OP;
        return rc_rebalance_pack_activity(a->src.rebalance, pk);
    }
    return RC_EUNKNOWN_OP;
}

void rc_admin_ping(struct rc_admin *a)
{
    a->ping++;
}

void rc_admin_count_error(struct rc_admin *a, int err)
{
    a->errors++;
    a->unavailable += err == RC_EUNAVAILABLE;
}

int rc_admin_forget(struct rc_admin *a, const uint8_t *key, size_t len, char *msg, size_t msglen)
{
    uint64_t id = 0;
    size_t i;
    int rv;

    for (i = 0; i < len && len == 16; i++) {
        int c = key[i], d = c >= '0' && c <= '9'   ? c - '0'
                            : c >= 'a' && c <= 'f' ? c - 'a' + 10
                            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                   : -1;

        if (d < 0)
            break;
        id = id << 4 | (uint64_t)d;
    }
    if (len != 16 || i != 16) {
        snprintf(msg, msglen, "key must be a member id: 16 hex digits");
        return RC_EINVAL;
    }
    rv = rc_cluster_forget(a->src.cluster, id);
    if (rv == RC_EUNAVAILABLE)
        snprintf(msg, msglen, "gossip is not running");
    else if (rv == RC_ENOTFOUND)
        snprintf(msg, msglen, "no such member (unknown, or already gone)");
    else if (rv == RC_EINVAL)
        snprintf(msg, msglen, "only a dead member can be forgotten (stop it, or let it leave)");
    else if (rv < 0)
        snprintf(msg, msglen, "%s", rc_strerror(rv));
    if (rv < 0)
        return rv;
    a->forgotten++;
    rc_log_info(a->log, "member %.16s forgotten by an operator: it no longer counts for quorums",
                (const char *)key);
    return 0;
}

/* ---- the keys-held census ------------------------------------------------ */

/* A new pass over ring (NULL: none until the first view). */
static void census_restart(struct rc_admin *a, const struct rc_ring *ring)
{
    a->census_acc_primary = a->census_acc_replica = 0;
    if (ring != NULL)
        rc_ring_iter_init(&a->census_it, ring);
}

/* The keys-held census: live keys this node holds as primary and as a
 * secondary replica (keys beyond their sum are in ranges it no longer
 * replicates), counted vnode range by vnode range of the current ring
 * (rc_ring_iter, kept between ticks) in small steps on a timer, so STATS
 * never waits for a scan of the store. A pass publishes its totals when
 * it completes; a ring change restarts the pass. */
static void on_census(uv_timer_t *t)
{
    struct rc_admin *a = container_of(t, struct rc_admin, census_timer);
    const struct rc_ring *ring = rc_cluster_ring(a->src.cluster);
    uint64_t self = rc_cluster_self(a->src.cluster);
    int rf = rc_cluster_rf(a->src.cluster);
    uint64_t ids[RC_RING_MAX_RF], count, t0 = uv_hrtime(), pause_ms;
    int64_t now = rc_node_now_ms();
    struct rc_ring_vrange v;
    int k, j, mine, step;

    if (ring == NULL)
        return;
    for (step = 0; step < CENSUS_STEP; step++) {
        if (!rc_ring_iter_next(&a->census_it, &v))
            break;
        k = rc_ring_replicas(ring, v.token, rf, ids);
        for (j = 0, mine = -1; j < k; j++)
            if (ids[j] == self)
                mine = j;
        if (mine < 0)
            continue;
        count = 0;
        rc_node_range_count(a->src.node, v.first, v.last, now, &count);
        if (mine == 0)
            a->census_acc_primary += count;
        else
            a->census_acc_replica += count;
    }
    a->census_cost_ns += uv_hrtime() - t0;
    if (step == CENSUS_STEP)
        return; /* more next tick */
    a->census_primary = a->census_acc_primary;
    a->census_replica = a->census_acc_replica;
    census_restart(a, ring);
    pause_ms = a->census_cost_ns / 1000000 * CENSUS_PAUSE_FACTOR;
    a->census_cost_ns = 0;
    uv_timer_start(&a->census_timer, on_census, pause_ms > CENSUS_MS ? pause_ms : CENSUS_MS,
                   CENSUS_TICK_MS);
}

/* Ownership changed: start a new count now (the last totals stay
 * published until it completes). */
static void on_cluster(void *arg, const struct rc_cluster_change *ch)
{
    struct rc_admin *a = arg;

    (void)ch;
    census_restart(a, rc_cluster_ring(a->src.cluster));
    a->census_cost_ns = 0;
    uv_timer_start(&a->census_timer, on_census, 0, CENSUS_TICK_MS);
}

/* ---- life ---------------------------------------------------------------- */

int rc_admin_new(uv_loop_t *loop, const struct rc_admin_sources *src, const struct rc_log *log,
                 struct rc_admin **out)
{
    struct rc_admin *a = calloc(1, sizeof(*a));
    int rv;

    *out = NULL;
    if (a == NULL)
        return RC_ENOMEM;
    a->src = *src;
    a->log = log;
    a->start_ms = rc_node_now_ms();
    rv = rc_cluster_subscribe(src->cluster, on_cluster, a);
    if (rv < 0) {
        free(a);
        return rv;
    }
    uv_timer_init(loop, &a->census_timer);
    uv_unref((uv_handle_t *)&a->census_timer);
    *out = a;
    return 0;
}

void rc_admin_set_net(struct rc_admin *a, struct rc_net *net)
{
    a->src.net = net;
}

void rc_admin_set_rebalance(struct rc_admin *a, struct rc_rebalance *rb)
{
    a->src.rebalance = rb;
}

void rc_admin_set_resp(struct rc_admin *a, const struct rc_resp_stats *st)
{
    a->src.resp = st;
}

void rc_admin_stop(struct rc_admin *a)
{
    uv_close((uv_handle_t *)&a->census_timer, NULL);
}

void rc_admin_free(struct rc_admin *a)
{
    free(a);
}
