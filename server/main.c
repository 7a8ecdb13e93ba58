/*
 * main.c - ringcache-server: parses the configuration and wires the modules.
 *
 * Everything runs on one libuv loop. SIGTERM/SIGINT start a clean
 * shutdown: stop accepting, send the replies already owed, commit, close
 * the store, exit 0.
 */
#include "auth.h"
#include "config.h"
#include "err.h"
#include "evict.h"
#include "protect.h"
#include "log.h"
#include "admin.h"
#include "metrics.h"
#include "cluster.h"
#include "coord.h"
#include "front_native.h"
#include "front_peer.h"
#include "hints.h"
#include "keyspace.h"
#include "gossip.h"
#include "net.h"
#include "node.h"
#include "peer.h"
#include "rebalance.h"
#include "resp_server.h"
#include "memcache.h"

#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

struct server_config {
    const char *bind;
    int64_t port;
    int64_t resp_port;
    int64_t memcache_port;
    const char *data_dir;
    int64_t max_key_size;
    int64_t max_value_size;
    int64_t max_conns;
    int64_t max_db_size;
    int64_t cache_size;
    int64_t read_cache;
    const char *maxmemory;        /* "auto", or bytes (k/m/g) */
    const char *maxmemory_policy; /* common/evict.h's names */
    int64_t tombstone_grace;
    int64_t purge_interval;
    int64_t purge_batch;
    int64_t max_drift;
    int64_t out_buffer;
    int64_t shutdown_timeout;
    const char *log_level;
    int64_t peer_port;
    const char *advertise;
    const char *seeds;
    int64_t rf, r, w;
    int64_t replica_timeout;
    int64_t vnodes;
    int64_t max_hints;
    int64_t max_hint_bytes;
    int64_t hint_ttl;
    int64_t probe_interval;
    int64_t probe_timeout;
    int64_t suspicion_mult;
    int64_t push_pull_interval;
    int64_t stream_rate;
    int64_t stream_batch;
    int64_t handoff_timeout;
    int64_t rebalance_delay;
    int64_t cleanup_interval;
    int64_t anti_entropy_interval;
    const char *cluster_key_file;
    const char *auth_file;
    int insecure;
    int64_t idle_timeout;
    int64_t auth_timeout;
    int64_t frame_timeout;
    int64_t write_timeout;
    int64_t max_output;
    const char *write_behind; /* "on" or "off" */
    int64_t flush_interval;
    int64_t max_write_lag;
    int64_t snapshot_min;
    int64_t metrics_port;
    const char *metrics_bind;
};

/* --maxmemory-policy's names and default, written out for --help (which
 * scripts/bench-hitratio.sh reads for the policies to measure);
 * tests/integration/test_evict.c checks they are common/evict.h's. */
#define POLICY_NAMES                                                                     \
    "noeviction, allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, " \
    "volatile-ttl, volatile-random, allkeys-s3fifo, allkeys-wtinylfu"
#define POLICY_DEFAULT_NAME "allkeys-s3fifo"

#define OPT(name, env, type, def, min, max, field, help) \
    {name, "RINGCACHE_" env, type, def, min, max, offsetof(struct server_config, field), help}

static const struct rc_opt server_opts[] = {
    OPT("bind", "BIND", RC_OPT_STR, "127.0.0.1", 0, 0, bind,
        "Address to listen on for clients (IPv4 or IPv6 literal)."),
    OPT("port", "PORT", RC_OPT_INT, "7400", 0, 65535, port, "TCP port for clients."),
    OPT("resp-port", "RESP_PORT", RC_OPT_INT, "0", 0, 65535, resp_port,
        "TCP port for Redis clients (RESP2: redis-cli, redis-benchmark, client libraries), "
        "served by the same coordinator and limits as --port; 0 = off."),
    OPT("memcache-port", "MEMCACHE_PORT", RC_OPT_INT, "0", 0, 65535, memcache_port,
        "TCP port for memcached clients (text and meta protocol: memcp, pymemcache, libmemcached "
        "...), served by the same coordinator and limits as --port; 0 = off. memcached has no "
        "AUTH in its text protocol: with --auth-file the port opens only on a loopback --bind "
        "or with --insecure."),
    OPT("data-dir", "DATA_DIR", RC_OPT_STR, "./ringcache-data", 0, 0, data_dir,
        "Directory for the SQLite database; ':memory:' keeps data in memory only, in a native "
        "hash table instead of SQLite (pure cache, lost on restart; docs/architecture.md)."),
    OPT("write-behind", "WRITE_BEHIND", RC_OPT_STR, "on", 0, 0, write_behind,
        "'on': a node with a data directory serves every read and write from memory (the "
        "':memory:' engine, under --maxmemory) and writes SQLite behind, every "
        "--flush-interval, from a thread; a restart loads the database into memory before "
        "serving. An acknowledged write is on disk within --flush-interval plus a flush "
        "(docs/architecture.md). 'off': every write goes to SQLite in the event loop, data "
        "larger than memory is served from disk. Not used with ':memory:'."),
    OPT("flush-interval", "FLUSH_INTERVAL", RC_OPT_INT, "100", 1, 60000, flush_interval,
        "Milliseconds between write-behind flushes: what a crash of every replica at once "
        "may lose of acknowledged writes, at most (plus the flush running). Shorter: smaller "
        "loss, smaller batches (less coalescing, more commits)."),
    OPT("max-write-lag", "MAX_WRITE_LAG", RC_OPT_INT, "1000", 1, 3600 * 1000, max_write_lag,
        "Milliseconds the disk may lag behind memory under write-behind before writes slow "
        "down to the disk's pace (backpressure; nothing is dropped). Redis's everysec delays "
        "writes at 2 s."),
    OPT("snapshot-min", "SNAPSHOT_MIN", RC_OPT_INT, "64m", 4096, INT64_C(1) << 40, snapshot_min,
        "Write-behind: journal bytes below which no snapshot of memory is taken. Past them, "
        "once the journal doubled since the last snapshot, memory is copied into it and what "
        "came before is dropped (Redis's auto-aof-rewrite-min-size). Smaller: a shorter "
        "journal to replay at restart, more snapshots written."),
    OPT("max-key-size", "MAX_KEY_SIZE", RC_OPT_INT, "1024", 1, 65536, max_key_size,
        "Largest key in bytes. Keys are indexed and sent in every internode message, so keep "
        "them short."),
    OPT("max-value-size", "MAX_VALUE_SIZE", RC_OPT_INT, "1m", 0, 256 * 1024 * 1024,
        max_value_size,
        "Largest value in bytes (k/m suffixes). The frame limit is this plus the key limit "
        "plus 4 KiB."),
    OPT("max-conns", "MAX_CONNS", RC_OPT_INT, "10000", 1, 1000000, max_conns,
        "Client connections beyond this are refused with TOO_MANY_CONNS. Each costs a file "
        "descriptor: raise `ulimit -n` with it."),
    OPT("maxmemory", "MAXMEMORY", RC_OPT_STR, "auto", 0, 0, maxmemory,
        "Memory budget of the node's data in bytes (k/m/g), as Redis's maxmemory. With "
        "':memory:' it bounds the entries, their index and metadata, and tombstones; past it "
        "--maxmemory-policy evicts. On disk it covers what the node keeps in memory: SQLite's "
        "page cache (--cache-size) and the read cache, which gets the rest (--read-cache is then "
        "not used). 'auto': 50% of the memory the process may use (the cgroup limit, else "
        "physical memory; the other half is for connections, hints, SQLite and the "
        "allocator), on disk only bounding --cache-size and --read-cache. 0 = no budget. At "
        "least 1 MiB, and with ':memory:' --max-key-size + --max-value-size + 4 KiB, on disk "
        "--cache-size. CONFIG SET maxmemory changes it at run time."),
    OPT("maxmemory-policy", "MAXMEMORY_POLICY", RC_OPT_STR, POLICY_DEFAULT_NAME, 0, 0,
        maxmemory_policy,
        "What to evict at the budget (or, on disk, at --max-db-size): " POLICY_NAMES
        ". noeviction fails writes with FULL instead; volatile-* only evict keys with a TTL. "
        "The default, " POLICY_DEFAULT_NAME ", was chosen by measurement "
        "(docs/benchmarks.md). CONFIG SET maxmemory-policy changes it at run time."),
    OPT("max-db-size", "MAX_DB_SIZE", RC_OPT_INT, "0", 0, INT64_MAX, max_db_size,
        "Cap on the database file in bytes (k/m/g); past it --maxmemory-policy evicts, or "
        "with noeviction writes fail with FULL (reads keep working). With ':memory:' and no "
        "--maxmemory it is the memory budget. 0 = no cap."),
    OPT("cache-size", "CACHE_SIZE", RC_OPT_INT, "64m", 1024 * 1024, INT64_MAX, cache_size,
        "SQLite page cache in bytes: the hot part of the data served without reading the "
        "disk (--write-behind off; write-behind serves from memory and keeps SQLite's caches "
        "small)."),
    OPT("read-cache", "READ_CACHE", RC_OPT_INT, "64m", 0, INT64_MAX, read_cache,
        "Bytes of recently read or written values kept in memory in front of SQLite (k/m/g; "
        "0 = off): a GET that hits it costs a hash lookup instead of a B-tree search, a SET of "
        "a cached key skips the store's lookup of the old row (docs/benchmarks.md). Not used "
        "with ':memory:', whose store is a hash table already."),
    OPT("tombstone-grace", "TOMBSTONE_GRACE", RC_OPT_INT, "86400", 1, 10LL * 365 * 86400,
        tombstone_grace,
        "Seconds a delete marker is kept. Must exceed the longest time a replica can be away "
        "and come back with older data, or deleted keys may reappear."),
    OPT("purge-interval", "PURGE_INTERVAL", RC_OPT_INT, "1000", 10, 3600 * 1000, purge_interval,
        "Milliseconds between purges of expired keys and old tombstones. Expired keys are "
        "never served; this only bounds how long they use disk."),
    OPT("purge-batch", "PURGE_BATCH", RC_OPT_INT, "1000", 1, 1000000, purge_batch,
        "Rows deleted per purge step; bounded so a purge never stalls clients for long."),
    OPT("max-drift", "MAX_DRIFT", RC_OPT_INT, "60000", 1, 86400 * 1000, max_drift,
        "Milliseconds a peer's clock may be ahead before its timestamps are rejected."),
    OPT("out-buffer", "OUT_BUFFER", RC_OPT_INT, "4m", 64 * 1024, 1024 * 1024 * 1024,
        out_buffer,
        "Pending reply bytes per connection at which the server stops reading that client "
        "until it reads its replies (backpressure)."),
    OPT("shutdown-timeout", "SHUTDOWN_TIMEOUT", RC_OPT_INT, "5000", 0, 600 * 1000,
        shutdown_timeout, "Milliseconds shutdown waits for clients to take their replies."),
    OPT("log-level", "LOG_LEVEL", RC_OPT_STR, "info", 0, 0, log_level,
        "debug, info, warn or error."),
    OPT("peer-port", "PEER_PORT", RC_OPT_INT, "7401", 0, 65535, peer_port,
        "Port for other nodes: UDP for gossip, TCP for replication and state exchange."),
    OPT("advertise", "ADVERTISE", RC_OPT_STR, "", 0, 0, advertise,
        "Host name or address other nodes use to reach this one. Default: the bind address, "
        "or this machine's host name when binding to all addresses (containers)."),
    OPT("cluster-key-file", "CLUSTER_KEY_FILE", RC_OPT_STR, "", 0, 0, cluster_key_file,
        "File holding the cluster key(s), one per line as 64 hex digits (ringcache-cli "
        "keygen); mode 600. With it, gossip and every internode connection are encrypted and "
        "authenticated; nodes without the key cannot join, read or write. The first key "
        "sends, all are accepted; SIGHUP re-reads the file (key rotation without downtime)."),
    OPT("seeds", "SEEDS", RC_OPT_STR, "", 0, 0, seeds,
        "Comma-separated host:peer-port of nodes to join through (DNS names allowed); retried "
        "until one answers. Empty: start a new cluster."),
    OPT("rf", "RF", RC_OPT_INT, "3", 1, 7, rf,
        "Replication factor: copies of each key (capped by the number of live nodes)."),
    OPT("r", "READ_QUORUM", RC_OPT_INT, "2", 1, 7, r,
        "Replicas that must answer a read (default consistency). R + W > RF gives "
        "read-your-writes."),
    OPT("w", "WRITE_QUORUM", RC_OPT_INT, "2", 1, 7, w,
        "Replicas that must acknowledge a write (default consistency)."),
    OPT("replica-timeout", "REPLICA_TIMEOUT", RC_OPT_INT, "1000", 10, 60000, replica_timeout,
        "Milliseconds to wait for one replica. Well above a loaded node's latency (a few ms), "
        "well below client timeouts, so a dead replica costs one timeout, not a hang."),
    OPT("vnodes", "VNODES", RC_OPT_INT, "256", 1, 4096, vnodes,
        "Virtual nodes per member. 256 keeps the busiest node within ~15% of the mean up to "
        "64 nodes (docs/benchmarks.md). Must be equal on every node."),
    OPT("max-hints", "MAX_HINTS", RC_OPT_INT, "100000", 0, 100000000, max_hints,
        "Writes kept for unreachable replicas (hinted handoff), in memory; 0 disables."),
    OPT("max-hint-bytes", "MAX_HINT_BYTES", RC_OPT_INT, "64m", 0, INT64_C(1) << 40, max_hint_bytes,
        "Key and value bytes the hints may hold in memory, all targets together; the oldest "
        "hint makes room. 64 MiB keeps a minute of writes at 1 MB/s for a replica that is away."),
    OPT("hint-ttl", "HINT_TTL", RC_OPT_INT, "3600", 1, 86400 * 7, hint_ttl,
        "Seconds a hint is kept; a replica away longer is repaired by streaming."),
    OPT("probe-interval", "PROBE_INTERVAL", RC_OPT_INT, "300", 50, 60000, probe_interval,
        "Gossip protocol period in ms: each node probes one member per period. Shorter "
        "detects failures sooner and costs more datagrams; 300 ms detects a dead node "
        "everywhere within ~5 s on 5 nodes (arithmetic in common/swim.h)."),
    OPT("probe-timeout", "PROBE_TIMEOUT", RC_OPT_INT, "150", 10, 60000, probe_timeout,
        "Ms to wait for a direct ack before asking others to probe (must be below the "
        "interval). Stretched automatically while this node itself is slow (Lifeguard)."),
    OPT("suspicion-mult", "SUSPICION_MULT", RC_OPT_INT, "4", 1, 100, suspicion_mult,
        "Suspicion timeout in probe periods (scaled by log10 of the cluster size): how long "
        "a suspected node has to refute before it is declared dead. Higher means fewer false "
        "positives and slower detection."),
    OPT("push-pull-interval", "PUSH_PULL_INTERVAL", RC_OPT_INT, "10000", 100, 3600 * 1000,
        push_pull_interval,
        "Ms between full-state exchanges with a random member, which repair anything gossip "
        "missed."),
    OPT("stream-rate", "STREAM_RATE", RC_OPT_INT, "64m", 0, INT64_MAX, stream_rate,
        "Bytes per second this node sends when moving ranges to other nodes (k/m/g; 0 = no "
        "limit). 64 MiB/s fills a 1 Gbit/s link by half, leaving room for clients."),
    OPT("stream-batch", "STREAM_BATCH", RC_OPT_INT, "512", 1, 4096, stream_batch,
        "Keys per streaming batch (also capped at the value size limit in bytes): big enough "
        "to amortise a round trip, small enough to keep each scan to a millisecond or so."),
    OPT("handoff-timeout", "HANDOFF_TIMEOUT", RC_OPT_INT, "30000", 0, 3600 * 1000,
        handoff_timeout,
        "On SIGTERM, ms to spend handing this node's ranges to the nodes that take them over "
        "before leaving; the other replicas still hold the data if it runs out."),
    OPT("rebalance-delay", "REBALANCE_DELAY", RC_OPT_INT, "1000", 0, 600 * 1000,
        rebalance_delay,
        "Ms to wait after a membership change before moving data, so that a burst of changes "
        "(a cluster starting, a node flapping) moves data once."),
    OPT("cleanup-interval", "CLEANUP_INTERVAL", RC_OPT_INT, "30000", 100, 24 * 3600 * 1000,
        cleanup_interval,
        "Ms between checks for data this node holds in ranges it does not replicate (left "
        "by a partition or a coordinator whose view lagged); such ranges are handed to their "
        "replicas, then dropped. A check costs one index seek per ring range. Checks wait "
        "--handoff-timeout + --rebalance-delay after another node streamed ranges here that "
        "this node does not replicate yet (a ring change on its way)."),
    OPT("anti-entropy-interval", "ANTI_ENTROPY_INTERVAL", RC_OPT_INT, "60000", 0,
        24 * 3600 * 1000, anti_entropy_interval,
        "Ms between anti-entropy passes: every range this node holds is compared (digests, "
        "then only differing pieces sent) with its other replicas, so replicas that diverged "
        "through faults no read touched converge. Runs with the next cleanup check, so the "
        "period is rounded up to --cleanup-interval. One pass reads each key held about twice; "
        "0 = only after a death or a healed partition."),
    OPT("auth-file", "AUTH_FILE", RC_OPT_STR, "", 0, 0, auth_file,
        "File of client passwords, one per line (several while rotating; '#' lines skipped). "
        "Clients must then send AUTH before anything but PING. Empty: no client auth."),
    OPT("insecure", "INSECURE", RC_OPT_BOOL, "0", 0, 1, insecure,
        "Start even when binding a non-loopback address with neither --auth-file nor a "
        "cluster key (protected mode otherwise refuses)."),
    OPT("idle-timeout", "IDLE_TIMEOUT", RC_OPT_INT, "300", 0, 30 * 86400, idle_timeout,
        "Seconds a client connection may send and receive nothing before it is closed "
        "(0 = never). Frees descriptors held by forgotten clients; pools that keep "
        "connections should ping more often. Not applied on the peer port."),
    OPT("auth-timeout", "AUTH_TIMEOUT", RC_OPT_INT, "10", 0, 3600, auth_timeout,
        "With --auth-file: seconds a client connection may stay unauthenticated before it is "
        "closed (0 = only --idle-timeout). A real client sends AUTH at once; this keeps "
        "anonymous connections from holding the --max-conns slots."),
    OPT("frame-timeout", "FRAME_TIMEOUT", RC_OPT_INT, "30000", 0, 3600 * 1000, frame_timeout,
        "Ms within which a request frame, once started, must arrive whole (0 = never): "
        "cuts byte-at-a-time senders (slowloris). 30 s moves a 1 MiB frame at 35 KiB/s."),
    OPT("write-timeout", "WRITE_TIMEOUT", RC_OPT_INT, "60000", 0, 3600 * 1000, write_timeout,
        "Ms a connection's pending replies may make no progress before it is closed "
        "(0 = never): a client that pipelines and never reads is bounded in memory by "
        "--out-buffer; this frees its connection."),
    OPT("max-output", "MAX_OUTPUT", RC_OPT_INT, "64m", 0, INT64_MAX, max_output,
        "Reply bytes one connection may hold (queued, being written, and finished ones "
        "waiting behind a slow one) before it is closed (0 = no limit). At least "
        "2 x (--out-buffer + frame limit), the most a client that reads can need."),
    OPT("metrics-port", "METRICS_PORT", RC_OPT_INT, "0", 0, 65535, metrics_port,
        "TCP port for Prometheus: HTTP GET /metrics (text format 0.0.4) and GET /health; "
        "0 = off. README lists the metrics."),
    OPT("metrics-bind", "METRICS_BIND", RC_OPT_STR, "127.0.0.1", 0, 0, metrics_bind,
        "Address the metrics port listens on (IPv4 or IPv6 literal). Loopback by default "
        "whatever --bind is: the page has no keys or values, but shows node ids, paths and "
        "traffic, and needs no password. Set it (e.g. 0.0.0.0 in a container) to let a "
        "Prometheus on another host scrape."),
};

#define NOPTS (sizeof(server_opts) / sizeof(server_opts[0]))

struct server {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint, sighup;
    const char *key_file;       /* NULL: no cluster key */
    struct rc_seal_keys keys;   /* shared, borrowed by gossip, peer port and pool */
    struct rc_seal_stats seal_stats;
    struct rc_log log;
    struct rc_node *node;
    struct rc_peers *peers;
    struct rc_cluster *cluster;
    struct rc_hints *hints;
    struct rc_coord *coord;
    struct rc_admin *admin;
    struct rc_front_native *native;   /* the client port's protocol */
    struct rc_front_peer *front_peer; /* the peer port's */
    struct rc_net *net;      /* client port */
    struct rc_net *peer_net; /* peer port (TCP) */
    struct rc_net *resp_net; /* Redis-protocol port, NULL when off */
    struct rc_resp_server *resp;
    struct rc_keyspace *keyspace; /* SCAN, KEYS, RANDOMKEY, DBSIZE */
    struct rc_metrics *metrics; /* NULL when --metrics-port is 0 */
    struct rc_net *mc_net; /* memcached port, NULL when off */
    struct rc_memcache *mc;
    struct rc_gossip *gossip;
    struct rc_rebalance *rebalance;
    struct rc_auth *auth; /* NULL: no client auth */
    int handoff_timeout_ms;
    int stopping, pending_closes;
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: ringcache-server [OPTIONS]\n\n"
                 "A ringcache node: a key-value cache stored in SQLite, spoken to over\n"
                 "the native protocol (docs/protocol.md). Every option can also be set by\n"
                 "its environment variable; flags win over the environment.\n\nOptions:\n");
    rc_config_usage(server_opts, NOPTS, out);
    fprintf(out, "  --help\n        Show this help.\n");
}

/* Shutdown, in order: stop taking clients and send what they are owed;
 * then close the peer port and the peer pool (failing what is still in
 * flight); then the timers and signals, after which the loop ends. */
static void on_closed_step(void *arg);

static void on_gossip_closed(void *arg)
{
    struct server *s = arg;

    rc_node_stop(s->node);
    rc_hints_stop(s->hints);
    rc_admin_stop(s->admin);
    rc_rebalance_stop(s->rebalance);
    rc_keyspace_stop(s->keyspace);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sighup, NULL);
}

static void on_peers_closed(void *arg)
{
    struct server *s = arg;

    rc_gossip_close(s->gossip, on_gossip_closed, s);
}

static void on_closed_step(void *arg)
{
    struct server *s = arg;

    if (--s->pending_closes > 0)
        return;
    rc_peers_close(s->peers, on_peers_closed, s);
}

static void begin_shutdown(struct server *s)
{
    s->pending_closes = (s->resp_net ? 3 : 2) + (s->metrics != NULL) + (s->mc_net != NULL);
    if (s->metrics)
        rc_metrics_close(s->metrics, on_closed_step, s);
    rc_net_shutdown(s->net, on_closed_step, s);
    rc_net_shutdown(s->peer_net, on_closed_step, s);
    if (s->resp_net)
        rc_net_shutdown(s->resp_net, on_closed_step, s);
    if (s->mc_net)
        rc_net_shutdown(s->mc_net, on_closed_step, s);
}

static void on_left(void *arg)
{
    begin_shutdown(arg);
}

/* Our ranges are with their next owners: now tell everyone we are gone. */
static void on_handed_off(void *arg)
{
    struct server *s = arg;

    rc_coord_leaving(s->coord);
    rc_gossip_leave(s->gossip, on_left, s);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct server *s = h->data;

    if (s->stopping) {
        rc_log_warn(&s->log, "second signal: exiting now");
        exit(1);
    }
    s->stopping = 1;
    rc_log_info(&s->log, "shutdown requested signal=%s: handing over data, then leaving",
                signum == SIGTERM ? "TERM" : "INT");
    /* Clients keep being served while our ranges move; then we announce
     * the leave so the others drop us at once. */
    rc_rebalance_handoff(s->rebalance, s->handoff_timeout_ms, on_handed_off, s);
}

/* Loads the cluster key file into keys (untouched on failure). */
static int load_keys(struct server *s, struct rc_seal_keys *keys)
{
    struct rc_seal_keys k;
    char err[256] = "", warn[256] = "";
    int rv = rc_seal_keys_load(s->key_file, &k, err, sizeof(err), warn, sizeof(warn));

    if (rv < 0) {
        rc_log_error(&s->log, "cluster key file: %s", err);
        return rv;
    }
    if (*warn)
        rc_log_warn(&s->log, "cluster key file: %s", warn);
    *keys = k;
    rc_seal_keys_wipe(&k);
    rc_log_info(&s->log, "cluster key: %u key(s), sending with id %08x", keys->n, keys->k[0].id);
    return 0;
}

/* SIGHUP: re-read the key file. The list changes in place; connections
 * already open keep their session keys, new ones use the new list. A bad
 * file keeps the old list. */
static void on_sighup(uv_signal_t *h, int signum)
{
    struct server *s = h->data;

    (void)signum;
    if (s->key_file == NULL) {
        rc_log_info(&s->log, "SIGHUP: no --cluster-key-file, nothing to reload");
        return;
    }
    if (load_keys(s, &s->keys) < 0)
        rc_log_error(&s->log, "SIGHUP: keeping the previous cluster keys");
    else {
        rc_peers_keys_changed(s->peers);
        rc_net_keys_changed(s->peer_net);
    }
}

static int start_gossip(struct server *s, const struct server_config *cfg)
{
    struct rc_gossip_opts go = {0};
    struct rc_gossip_cb cb = {s->cluster, rc_cluster_on_member, rc_cluster_save_incarnation};
    uint64_t inc = 0;
    int rv;

    rc_node_meta_get(s->node, "incarnation", &inc);
    go.bind = cfg->bind;
    go.peer_port = (int)cfg->peer_port;
    go.advertise = *cfg->advertise ? cfg->advertise : NULL;
    go.client_port = (int)cfg->port;
    go.seeds = *cfg->seeds ? cfg->seeds : NULL;
    go.node_id = rc_node_id(s->node);
    go.incarnation = inc;
    go.probe_interval_ms = (int)cfg->probe_interval;
    go.probe_timeout_ms = (int)cfg->probe_timeout;
    go.suspicion_mult = (int)cfg->suspicion_mult;
    go.push_pull_interval_ms = (int)cfg->push_pull_interval;
    go.keys = s->key_file != NULL ? &s->keys : NULL;
    go.seal_stats = &s->seal_stats;
    rv = rc_gossip_new(&s->loop, &go, &cb, &s->log, &s->gossip);
    if (rv < 0) {
        rc_log_error(&s->log, "invalid gossip settings (--seeds, --advertise): %s",
                     rc_strerror(rv));
        return rv;
    }
    rc_front_peer_set_gossip(s->front_peer, s->gossip);
    rc_cluster_set_gossip(s->cluster, s->gossip);
    rv = rc_gossip_start(s->gossip);
    if (rv < 0)
        return rv;
    return rc_cluster_start(s->cluster);
}

static int start_rebalance(struct server *s, const struct server_config *cfg)
{
    struct rc_rebalance_opts ro = {0};
    int rv;

    ro.batch_keys = (int)cfg->stream_batch;
    /* Payload a batch aims at: half a frame, big enough that batches of
     * small values are full. A batch never exceeds what a frame holds
     * (max_frame: rebalance_send.c ends it before an entry that does not fit,
     * and a large value travels alone). */
    ro.batch_bytes = (size_t)cfg->max_value_size / 2 + 1;
    ro.max_frame = (uint32_t)(cfg->max_value_size + cfg->max_key_size + 4096);
    ro.rate_bytes = cfg->stream_rate;
    ro.timeout_ms = (int)(cfg->replica_timeout * 5);
    ro.settle_ms = (int)cfg->rebalance_delay;
    ro.sweep_ms = (int)cfg->cleanup_interval;
    ro.repair_ms = (int)cfg->anti_entropy_interval;
    /* A leaving node may hand over for up to --handoff-timeout before it
     * announces that it left; then this node plans after --rebalance-delay. */
    ro.hold_ms = (int)(cfg->handoff_timeout + cfg->rebalance_delay);
    s->handoff_timeout_ms = (int)cfg->handoff_timeout;
    rv = rc_rebalance_new(&s->loop, &ro, s->cluster, s->node, s->peers, &s->log,
                          &s->rebalance);
    if (rv < 0)
        return rv;
    rc_admin_set_rebalance(s->admin, s->rebalance);
    return rc_cluster_subscribe(s->cluster, rc_rebalance_on_cluster, s->rebalance);
}

/* The cluster view, hinted handoff, the coordinator and the admin views. */
static int start_cluster(struct server *s, const struct server_config *cfg)
{
    struct rc_cluster_opts cl = {0};
    struct rc_hints_opts ho = {0};
    struct rc_coord_opts co = {0};
    struct rc_admin_sources src = {0};
    int rv;

    cl.rf = (int)cfg->rf;
    cl.vnodes = (int)cfg->vnodes;
    cl.has_seeds = *cfg->seeds != '\0';
    rv = rc_cluster_new(&cl, s->node, s->peers, &s->log, &s->cluster);
    if (rv < 0)
        return rv;
    ho.max_hints = (size_t)cfg->max_hints;
    ho.max_bytes = (size_t)cfg->max_hint_bytes;
    ho.ttl_ms = cfg->hint_ttl * 1000;
    ho.timeout_ms = (int)cfg->replica_timeout;
    rv = rc_hints_new(&s->loop, &ho, s->cluster, s->peers, &s->hints);
    if (rv < 0)
        return rv;
    co.rf = (int)cfg->rf;
    co.r = (int)cfg->r;
    co.w = (int)cfg->w;
    co.timeout_ms = (int)cfg->replica_timeout;
    rv = rc_coord_new(&co, s->node, s->peers, s->cluster, s->hints, &s->coord);
    if (rv < 0)
        return rv;
    src.node = s->node;
    src.cluster = s->cluster;
    src.coord = s->coord;
    src.hints = s->hints;
    src.peers = s->peers;
    src.seal = &s->seal_stats;
    src.keyed = s->key_file != NULL;
    src.vnodes = (int)cfg->vnodes;
    src.r = (int)cfg->r;
    src.w = (int)cfg->w;
    return rc_admin_new(&s->loop, &src, &s->log, &s->admin);
}

/* ---- the memory budget ----------------------------------------------------
 * The arithmetic is common/config.c's (rc_config_mem_plan); here are the
 * figures it needs from the system. */

/* A number from a one-line file; 0 when absent, unreadable or "max". */
static int64_t read_limit_file(const char *path)
{
    char line[64];
    int64_t v = 0;
    FILE *f = fopen(path, "r");

    if (f == NULL)
        return 0;
    if (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (rc_config_parse_int(line, &v) < 0 || v < 0)
            v = 0;
    }
    fclose(f);
    return v;
}

/* The smaller of two limits where 0 means none. */
static int64_t min_limit(int64_t a, int64_t b)
{
    return a == 0 ? b : b == 0 ? a : a < b ? a : b;
}

/* The memory limit of this process's cgroup (0 = none found): cgroup v2's
 * memory.max of its own group and every parent up to the mount (the
 * tightest applies), or cgroup v1's memory.limit_in_bytes. The group's
 * path is in /proc/self/cgroup ("0::/path" for v2, "N:memory:/path" for
 * v1); inside a container's cgroup namespace it is "/". */
static int64_t cgroup_limit(void)
{
    char line[512], v1_rel[512] = "", v2_rel[512] = "", path[768], *p, *rel;
    int64_t lim = 0;
    int v1;
    FILE *f = fopen("/proc/self/cgroup", "r");

    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "0::", 3) == 0)
            snprintf(v2_rel, sizeof(v2_rel), "%s", line + 3);
        else if ((p = strstr(line, ":memory:")) != NULL)
            snprintf(v1_rel, sizeof(v1_rel), "%s", p + 8);
    }
    if (f != NULL)
        fclose(f);
    /* A hybrid system lists both; the memory controller is then v1's. */
    v1 = *v1_rel != '\0';
    rel = v1 ? v1_rel : v2_rel;
    if (*rel != '/' || strstr(rel, "..") != NULL)
        snprintf(rel, sizeof(v1_rel), "/");
    for (;;) {
        snprintf(path, sizeof(path), "/sys/fs/cgroup%s%s/%s", v1 ? "/memory" : "",
                 strcmp(rel, "/") == 0 ? "" : rel, v1 ? "memory.limit_in_bytes" : "memory.max");
        lim = min_limit(lim, read_limit_file(path));
        p = strrchr(rel, '/');
        if (p == NULL || p == rel)
            break;
        *p = '\0';
    }
    if (strcmp(rel, "/") != 0) { /* the mount's own group */
        snprintf(path, sizeof(path), "/sys/fs/cgroup%s/%s", v1 ? "/memory" : "",
                 v1 ? "memory.limit_in_bytes" : "memory.max");
        lim = min_limit(lim, read_limit_file(path));
    }
    return lim;
}

static int64_t phys_mem(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

    return pages > 0 && size > 0 ? (int64_t)pages * size : 0;
}

/* --maxmemory and --maxmemory-policy into the node's options; a clear
 * error for a bad value. */
static int memory_opts(struct server *s, const struct server_config *cfg, struct rc_node_opts *no)
{
    struct rc_mem_plan_in in = {0};
    struct rc_mem_plan plan;
    char err[256], human[32];
    int rv;

    if (strcmp(cfg->write_behind, "on") != 0 && strcmp(cfg->write_behind, "off") != 0) {
        rc_log_error(&s->log, "--write-behind: expected 'on' or 'off', got '%s'",
                     cfg->write_behind);
        return RC_EINVAL;
    }
    rv = rc_evict_policy_parse(cfg->maxmemory_policy, strlen(cfg->maxmemory_policy));
    if (rv < 0) {
        rc_log_error(&s->log, "--maxmemory-policy: unknown policy '%s'; the policies are: %s",
                     cfg->maxmemory_policy, POLICY_NAMES);
        return RC_EINVAL;
    }
    no->evict_policy = rv;
    in.maxmemory = -1;
    if (strcmp(cfg->maxmemory, "auto") != 0 &&
        (rc_config_parse_int(cfg->maxmemory, &in.maxmemory) < 0 || in.maxmemory < 0)) {
        rc_log_error(&s->log, "--maxmemory: expected 'auto' or a byte count (k/m/g), got '%s'",
                     cfg->maxmemory);
        return RC_EINVAL;
    }
    in.in_memory = rc_node_opts_in_memory(no);
    if (in.maxmemory < 0) {
        in.cgroup_limit = cgroup_limit();
        in.phys_mem = phys_mem();
    }
    in.max_entry = cfg->max_key_size + cfg->max_value_size;
    in.page_cache = cfg->cache_size;
    in.read_cache = cfg->read_cache;
    in.max_db_size = cfg->max_db_size;
    rv = rc_config_mem_plan(&in, &plan, err, sizeof(err));
    if (rv < 0) {
        rc_log_error(&s->log, "%s", err);
        return rv;
    }
    no->max_mem_bytes = plan.budget;
    no->store_mem_bytes = plan.store_mem;
    no->cache_kib = plan.page_cache / 1024;
    no->read_cache_bytes = (size_t)plan.read_cache;
    rc_config_human_bytes(plan.budget, human, sizeof(human));
    rc_log_info(&s->log, "memory budget %s (%lld bytes%s) policy %s%s", plan.budget ? human : "none",
                (long long)plan.budget,
                plan.defaulted ? ", default: 50% of the cgroup limit or physical memory" : "",
                rc_evict_policy_name(no->evict_policy),
                in.in_memory ? "" : "; on disk: page cache + read cache");
    return 0;
}

static void node_opts_from(const struct server_config *cfg, struct rc_node_opts *no)
{
    memset(no, 0, sizeof(*no));
    no->data_dir = cfg->data_dir;
    no->max_key = (uint32_t)cfg->max_key_size;
    no->max_value = (uint32_t)cfg->max_value_size;
    no->tombstone_grace_ms = cfg->tombstone_grace * 1000;
    no->max_db_bytes = cfg->max_db_size;
    no->cache_kib = cfg->cache_size / 1024;
    no->read_cache_bytes = (size_t)cfg->read_cache;
    no->purge_interval_ms = cfg->purge_interval;
    no->purge_batch = (int)cfg->purge_batch;
    no->max_drift_ms = cfg->max_drift;
    no->write_behind = strcmp(cfg->data_dir, ":memory:") != 0 &&
                       strcmp(cfg->write_behind, "on") == 0;
    no->flush_ms = cfg->flush_interval;
    no->max_lag_ms = cfg->max_write_lag;
    no->snapshot_bytes = cfg->snapshot_min;
}

/* The Redis-protocol listener: the client port's limits, its own port. */
static int open_resp(struct server *s, const struct server_config *cfg, struct rc_net_opts *o)
{
    struct rc_resp_server_opts ro = {0};
    struct rc_net_handler h;
    int rv;

    if (cfg->resp_port == 0)
        return 0;
    ro.port = (int)cfg->resp_port;
    ro.max_command = RC_FRAME_HDR + (size_t)o->max_frame;
    /* One reply (an MGET of many values) goes out whole, as Redis sends
     * it, up to half of --max-output: with the output below the
     * high-water mark (--out-buffer <= half of it, checked at start) it
     * stays within the limit, so a client that reads is never closed for
     * it. Without --max-output, 512 MiB (Redis's largest bulk string).
     * Beyond: -ERR reply too large for the connection's buffer. */
    ro.max_reply = cfg->max_output > 0 ? (size_t)cfg->max_output / 2 : (size_t)512 << 20;
    if (ro.max_reply < RC_FRAME_HDR + (size_t)o->max_frame)
        ro.max_reply = RC_FRAME_HDR + (size_t)o->max_frame;
    /* MSET/MGET/DEL of up to 64k keys in one command: more than any
     * client sends, and the argument vector (1 MiB) is allocated once. */
    ro.max_args = 65536;
    ro.auth = s->auth;
    ro.w = (int)cfg->w;
    rv = rc_resp_server_new(&ro, s->coord, s->cluster, s->admin, s->node, &s->log, &s->resp);
    if (rv < 0)
        return rv;
    rc_resp_server_set_keyspace(s->resp, s->keyspace);
    o->port = (int)cfg->resp_port;
    o->max_conns = (int)cfg->max_conns;
    o->max_inflight = 1024;
    /* A client port: client passwords and timeouts, no cluster key. */
    o->keys = NULL;
    o->seal_stats = NULL;
    o->auth = s->auth;
    o->idle_timeout_ms = (int)(cfg->idle_timeout * 1000);
    o->max_reply = ro.max_reply; /* the output takes one such reply */
    rc_admin_set_resp(s->admin, rc_resp_server_stats(s->resp));
    rc_resp_server_handler(s->resp, &h);
    rv = rc_net_new(&s->loop, o, &h, &s->log, &s->resp_net);
    if (rv < 0)
        return rv;
    rc_resp_server_set_net(s->resp, s->resp_net);
    return rc_node_attach(s->node, s->resp_net);
}

/* The memcached listener: the client port's limits, its own port, no
 * client passwords (the text protocol has no AUTH; check_access decides
 * whether it may open at all). */
static int open_memcache(struct server *s, const struct server_config *cfg,
                         const struct rc_net_opts *client)
{
    struct rc_memcache_opts mo = {0};
    struct rc_net_opts o = *client;
    struct rc_net_handler h;
    int rv;

    if (cfg->memcache_port == 0)
        return 0;
    mo.port = (int)cfg->memcache_port;
    mo.max_value = (size_t)cfg->max_value_size;
    /* A get line of many keys (pymemcache's get_many, libmemcached's
     * mget) up to 64 KiB and 8192 keys: about 250 keys of the longest
     * kind, 8192 short ones; a cmd of that many keys costs ~2.3 MB. */
    mo.max_line = 64 * 1024;
    mo.max_keys = 8192;
    /* One reply (a get of many values) as large as RESP's (open_resp). */
    mo.max_reply = cfg->max_output > 0 ? (size_t)cfg->max_output / 2 : (size_t)512 << 20;
    if (mo.max_reply < RC_FRAME_HDR + (size_t)client->max_frame)
        mo.max_reply = RC_FRAME_HDR + (size_t)client->max_frame;
    mo.max_conns = (int)cfg->max_conns;
    rv = rc_memcache_new(&mo, s->coord, s->admin, s->node, &s->log, &s->mc);
    if (rv < 0)
        return rv;
    o.port = (int)cfg->memcache_port;
    o.auth = NULL;
    o.auth_timeout_ms = 0;
    o.max_reply = mo.max_reply;
    rc_memcache_handler(s->mc, &h);
    rv = rc_net_new(&s->loop, &o, &h, &s->log, &s->mc_net);
    if (rv < 0)
        return rv;
    rc_memcache_set_net(s->mc, s->mc_net);
    rc_memcache_set_keyspace(s->mc, s->keyspace);
    return rc_node_attach(s->node, s->mc_net);
}

static int open_nets(struct server *s, const struct server_config *cfg)
{
    struct rc_net_opts o = {0};
    struct rc_net_handler h = {0};
    int rv;

    o.bind = cfg->bind;
    o.port = (int)cfg->port;
    o.max_conns = (int)cfg->max_conns;
    o.max_frame = (uint32_t)(cfg->max_value_size + cfg->max_key_size + 4096);
    o.out_high = (size_t)cfg->out_buffer;
    /* Deferred requests per connection: deep enough for any sane pipeline,
     * small enough that one client cannot pin unbounded coordinator state. */
    o.max_inflight = 1024;
    o.shutdown_ms = (int)cfg->shutdown_timeout;
    o.auth = s->auth;
    o.idle_timeout_ms = (int)(cfg->idle_timeout * 1000);
    o.auth_timeout_ms = (int)(cfg->auth_timeout * 1000);
    o.frame_timeout_ms = (int)cfg->frame_timeout;
    o.write_timeout_ms = (int)cfg->write_timeout;
    o.out_limit = (size_t)cfg->max_output;
    rv = rc_front_native_new(s->coord, s->admin, o.max_frame, s->auth, &s->log,
                             &s->native);
    if (rv == 0)
        rv = open_memcache(s, cfg, &o);
    if (rv < 0)
        return rv;
    rc_front_native_handler(s->native, &h);
    rv = rc_net_new(&s->loop, &o, &h, &s->log, &s->net);
    if (rv == 0)
        rv = rc_node_attach(s->node, s->net);
    if (rv < 0)
        return rv;
    rc_admin_set_net(s->admin, s->net);
    /* Internode: other nodes pipeline replica writes deeply. */
    o.port = (int)cfg->peer_port;
    o.max_conns = 4096;
    o.max_inflight = 65536;
    o.keys = s->key_file != NULL ? &s->keys : NULL;
    o.seal_stats = &s->seal_stats;
    /* Pooled internode connections are idle between bursts by design;
     * client passwords do not apply (the cluster key does). */
    o.auth = NULL;
    o.idle_timeout_ms = 0;
    rv = rc_front_peer_new(s->node, s->rebalance, o.max_frame, &s->log, &s->front_peer);
    if (rv < 0)
        return rv;
    rc_front_peer_handler(s->front_peer, &h);
    rv = rc_net_new(&s->loop, &o, &h, &s->log, &s->peer_net);
    if (rv == 0)
        rv = rc_node_attach(s->node, s->peer_net);
    if (rv < 0)
        return rv;
    rv = open_resp(s, cfg, &o);
    if (rv < 0)
        return rv;
    rv = rc_net_listen(s->net);
    if (rv == 0)
        rv = rc_net_listen(s->peer_net);
    if (rv == 0 && s->resp_net)
        rv = rc_net_listen(s->resp_net);
    if (rv == 0 && s->mc_net)
        rv = rc_net_listen(s->mc_net);
    return rv;
}

/* The Prometheus endpoint, after the listeners it shows. */
static int open_metrics(struct server *s, const struct server_config *cfg)
{
    struct rc_metrics_opts mo = {0};
    struct rc_metrics_sources src = {0};
    int rv;

    if (cfg->metrics_port == 0)
        return 0;
    mo.bind = cfg->metrics_bind;
    mo.port = (int)cfg->metrics_port;
    /* A few scrapers (Prometheus, a second one, curl): 16 leaves room,
     * and bounds what hostile clients can hold to 16 x (8 KiB + a page). */
    mo.max_conns = 16;
    /* A scrape's head is ~300 bytes; 8 KiB is what most servers allow. */
    mo.max_request = 8192;
    /* A local scraper sends its request at once and reads the page in
     * milliseconds; 5 s is generous and cuts half requests (slowloris). */
    mo.timeout_ms = 5000;
    /* The page is ~40 KiB; room for many more series. */
    mo.max_page = 4u << 20;
    src.admin = s->admin;
    src.coord = s->coord;
    src.cluster = s->cluster;
    src.rebalance = s->rebalance;
    src.ports[src.nports].protocol = "native";
    src.ports[src.nports++].net = s->net;
    src.ports[src.nports].protocol = "peer";
    src.ports[src.nports++].net = s->peer_net;
    if (s->resp_net) {
        src.ports[src.nports].protocol = "resp";
        src.ports[src.nports++].net = s->resp_net;
    }
    rv = rc_metrics_new(&s->loop, &mo, &src, &s->log, &s->metrics);
    if (rv < 0)
        return rv;
    return rc_metrics_listen(s->metrics);
}

/* Raises the descriptor limit towards what --max-conns needs (clients,
 * the peer port's 4096, the store and some slack), as far as the hard
 * limit allows, and says so when that is not enough. */
static void raise_nofile(struct server *s, const struct server_config *cfg)
{
    rlim_t want = (rlim_t)cfg->max_conns + 4096 + 64;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        rc_log_warn(&s->log,
                    "file descriptor limit %llu is below the %llu that --max-conns %lld needs: "
                    "raise the hard limit (ulimit -Hn) or lower --max-conns",
                    (unsigned long long)rl.rlim_cur, (unsigned long long)want,
                    (long long)cfg->max_conns);
}

/* Client passwords and protected mode; before anything listens. */
static int check_access(struct server *s, const struct server_config *cfg)
{
    uint64_t frame = (uint64_t)(cfg->max_value_size + cfg->max_key_size + 4096);
    struct stat st;
    char msg[512];
    int rv;

    if (cfg->max_output != 0 && (uint64_t)cfg->max_output < 2 * ((uint64_t)cfg->out_buffer + frame)) {
        rc_log_error(&s->log, "--max-output %lld is below 2 x (--out-buffer + frame limit) = %llu: "
                     "raise it, or set 0 for no limit", (long long)cfg->max_output,
                     (unsigned long long)(2 * ((uint64_t)cfg->out_buffer + frame)));
        return RC_EINVAL;
    }
    if (*cfg->auth_file) {
        s->auth = malloc(sizeof(*s->auth));
        if (s->auth == NULL)
            return RC_ENOMEM;
        rv = rc_auth_load(s->auth, cfg->auth_file, msg, sizeof(msg));
        if (rv < 0) {
            rc_log_error(&s->log, "--auth-file: %s", msg);
            return rv;
        }
        rc_log_info(&s->log, "client auth on: %d password(s) from %s", s->auth->npw,
                    cfg->auth_file);
        if (stat(cfg->auth_file, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) != 0)
            rc_log_warn(&s->log, "--auth-file %s is readable by other users: chmod 600 it",
                        cfg->auth_file);
    }
    /* memcached's text protocol has no AUTH: a node that requires it of
     * clients does not open an unauthenticated door to the same data
     * beyond this machine unless told so. */
    if (cfg->memcache_port != 0 && s->auth != NULL && !cfg->insecure &&
        !rc_protect_is_loopback(cfg->bind)) {
        rc_log_error(&s->log, "--memcache-port: the memcached text protocol has no AUTH, and "
                              "--auth-file is set with a non-loopback --bind %s: bind to loopback, "
                              "drop --memcache-port, or pass --insecure to serve it anyway",
                     cfg->bind);
        return RC_EINVAL;
    }
    /* After the cluster key is loaded (run). */
    rv = rc_protect_check(cfg->bind, s->auth != NULL, s->key_file != NULL, cfg->insecure != 0,
                          msg, sizeof(msg));
    if (rv < 0) {
        rc_log_error(&s->log, "%s", msg);
        return rv;
    }
    if (rv > 0)
        rc_log_warn(&s->log, "%s", msg);
    return 0;
}

static int run(struct server *s, const struct server_config *cfg)
{
    struct rc_node_opts no;
    struct rc_peers_opts po = {0};
    char err[256] = "";
    int rv;

    if (rc_seal_init() < 0) {
        rc_log_error(&s->log, "cannot initialise libsodium");
        return RC_EINTERNAL;
    }
    if (*cfg->cluster_key_file) {
        s->key_file = cfg->cluster_key_file;
        rv = load_keys(s, &s->keys);
        if (rv < 0)
            return rv;
    } else {
        rc_log_warn(&s->log, "no --cluster-key-file: internode traffic is neither encrypted nor "
                             "authenticated; keep the peer port on a trusted network");
    }
    rv = check_access(s, cfg);
    if (rv < 0)
        return rv;
    raise_nofile(s, cfg);
    node_opts_from(cfg, &no);
    rv = memory_opts(s, cfg, &no);
    if (rv < 0)
        return rv;
    rv = rc_node_new(&s->loop, &no, &s->log, &s->node, err, sizeof(err));
    if (rv < 0) {
        rc_log_error(&s->log, "cannot open store in '%s': %s", cfg->data_dir, err);
        return rv;
    }
    po.connect_timeout_ms = (int)cfg->replica_timeout;
    po.max_frame = (uint32_t)(cfg->max_value_size + cfg->max_key_size + 4096);
    /* Per peer: room for a deep pipeline of large values, bounded; and
     * always for a few whole frames, or a value near a raised
     * --max-value-size could never be sent (replicated or streamed). */
    po.max_queued_bytes = 64u << 20;
    if (po.max_queued_bytes < 4 * ((size_t)RC_FRAME_HDR + po.max_frame))
        po.max_queued_bytes = 4 * ((size_t)RC_FRAME_HDR + po.max_frame);
    po.keys = s->key_file != NULL ? &s->keys : NULL;
    po.seal_stats = &s->seal_stats;
    po.bind = cfg->bind;
    rv = rc_peers_new(&s->loop, &po, &s->log, &s->peers);
    if (rv < 0)
        return rv;
    rv = start_cluster(s, cfg);
    if (rv < 0)
        return rv;
    /* On every node, RESP port or not: it answers KEY_SCAN through the
     * peer port and keeps the flush epoch in step with the others. */
    rv = rc_keyspace_new(&s->loop, s->cluster, s->node, s->peers, (uint32_t)cfg->max_key_size,
                         (int)cfg->replica_timeout, &s->log, &s->keyspace);
    if (rv < 0)
        return rv;
    rv = start_rebalance(s, cfg);
    if (rv < 0)
        return rv;
    rv = open_nets(s, cfg);
    if (rv < 0)
        return rv;
    rv = open_metrics(s, cfg);
    if (rv < 0)
        return rv;
    rv = start_gossip(s, cfg);
    if (rv < 0)
        return rv;
    rc_log_info(&s->log, "node ready id=%016llx data_dir=%s version=%s",
                (unsigned long long)rc_node_id(s->node), cfg->data_dir, RC_VERSION);
    uv_signal_init(&s->loop, &s->sigterm);
    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sighup);
    s->sigterm.data = s->sigint.data = s->sighup.data = s;
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sighup, on_sighup, SIGHUP);
    rc_node_start(s->node);
    rc_keyspace_start(s->keyspace);
    return uv_run(&s->loop, UV_RUN_DEFAULT);
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Startup failed part-way: nothing is connected yet, so closing every
 * handle (all embedded in structs freed after the loop) is enough. */
static void abort_startup(struct server *s)
{
    uv_walk(&s->loop, close_any, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
}

int main(int argc, char **argv)
{
    struct server_config cfg;
    struct server s;
    char err[256] = "";
    int rv, level;

    memset(&s, 0, sizeof(s));
    rv = rc_config_parse(server_opts, NOPTS, &cfg, argc, argv, NULL, NULL, err, sizeof(err));
    if (rv == 1) {
        usage(stdout);
        return 0;
    }
    if (rv < 0) {
        fprintf(stderr, "ringcache-server: %s\n", err);
        return 2;
    }
    level = rc_log_parse_level(cfg.log_level);
    if (level < 0) {
        fprintf(stderr, "ringcache-server: --log-level: expected debug|info|warn|error, got '%s'\n",
                cfg.log_level);
        return 2;
    }
    rc_log_init(&s.log, level, stderr);
    /* A client vanishing mid-write must be an EPIPE, not a dead server. */
    signal(SIGPIPE, SIG_IGN);
#ifdef M_MMAP_THRESHOLD
    /* glibc raises its mmap threshold each time a block it mapped on its
     * own is freed (up to 32 MiB): write-behind's flush batches and folds
     * (up to 16 and 64 MiB, freed at every flush and fold) then come from
     * the heap, and their pages stay resident once freed (+112 bytes a
     * key at a million keys, measured). A fixed threshold maps every block
     * of 1 MiB or more on its own and returns it to the system when freed
     * (the entries themselves are far smaller and unaffected). */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
    if (rc_store_global_init() < 0)
        rc_log_warn(&s.log, "SQLite was initialised early: its memory statistics stay on");
    uv_loop_init(&s.loop);
    rv = run(&s, &cfg);
    if (rv < 0 && s.node != NULL && !s.stopping)
        abort_startup(&s);
    rc_front_native_free(s.native);
    rc_front_peer_free(s.front_peer);
    rc_admin_free(s.admin);
    rc_coord_free(s.coord);
    rc_hints_free(s.hints);
    rc_cluster_free(s.cluster);
    rc_rebalance_free(s.rebalance);
    rc_gossip_free(s.gossip);
    rc_peers_free(s.peers);
    rc_node_free(s.node);
    rc_net_free(s.net);
    rc_net_free(s.peer_net);
    rc_net_free(s.resp_net);
    rc_resp_server_free(s.resp);
    rc_keyspace_free(s.keyspace);
    rc_metrics_free(s.metrics);
    rc_net_free(s.mc_net);
    rc_memcache_free(s.mc);
    rc_seal_keys_wipe(&s.keys);
    if (s.auth != NULL) {
        memset(s.auth, 0, sizeof(*s.auth));
        free(s.auth);
    }
    if (uv_loop_close(&s.loop) != 0)
        rc_log_warn(&s.log, "event loop closed with handles still open");
    if (rv < 0)
        return 1;
    rc_log_info(&s.log, "shutdown complete");
    return 0;
}
