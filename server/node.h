/*
 * node.h - the local replica: this node's store, clock and identity.
 *
 * Owns the SQLite store, the hybrid logical clock, the persistent node id
 * and incarnation, the background purge of expired entries, the read
 * cache, the memory budget (eviction down to a lowered budget, in bounded
 * steps), and the group commit: a write is applied at once (later reads
 * see it) and acknowledged through its callback when the batch it belongs
 * to is committed. It also answers the internode replica operations
 * (REPL_WRITE, REPL_READ), rows of the peer port's table (front_peer.c).
 * Client requests go through the coordinator (coord.c), which calls in
 * here for the local replica.
 *
 * The node is the only door to the store: other modules (rebalancing, the
 * coordinator's census) reach it through the rc_node_* calls below, so the
 * read cache stays exact and a store error that discards the batch is
 * reported to every write of that batch, whoever issued the failing call.
 */
#ifndef RC_NODE_H
#define RC_NODE_H

#include <stdint.h>

#include <uv.h>

#include "counter.h"
#include "log.h"
#include "memtab.h"
#include "net.h"
#include "store.h"

struct rc_node;

struct rc_node_opts {
    const char *data_dir;       /* directory or ":memory:" */
    uint32_t max_key;           /* bytes */
    uint32_t max_value;         /* bytes */
    int64_t tombstone_grace_ms;
    int64_t max_db_bytes;       /* 0 = unlimited */
    int64_t cache_kib;          /* SQLite page cache */
    size_t read_cache_bytes;    /* in-memory read cache (common/memtab.h), 0 = off */
    int64_t purge_interval_ms;
    int purge_batch;
    int64_t max_drift_ms;
    /* The memory budget (--maxmemory; common/config.h's plan), 0 = none:
     * with ":memory:" the store's (store_mem_bytes, the same); on disk
     * what the page cache (cache_kib) and the read cache add up to. */
    int64_t max_mem_bytes;
    int64_t store_mem_bytes; /* rc_store_opts.max_mem_bytes */
    int evict_policy;        /* enum rc_evict_policy (common/evict.h) */
    /* Write-behind on a data directory (rc_store_opts): the data is
     * served from memory, under the memory budget as ":memory:", and
     * written to SQLite behind every flush_ms (0: the store's default);
     * max_lag_ms bounds the lag (0: default). 0: the direct SQLite engine. */
    int write_behind;
    int64_t flush_ms;
    int64_t max_lag_ms;
    int64_t snapshot_bytes; /* write-behind's smallest snapshot threshold (0: default) */
};

struct rc_node_stats {
    struct rc_store_stats store; /* keys: live values only (rc_store_live_keys) */
    uint64_t repl_writes, repl_reads; /* replica operations served */
    uint64_t commits, commit_errors;
    uint64_t purged;
    uint64_t drift_rejects;
    uint64_t actor_renewals; /* counter actor prefixes renewed (node.c, counter_check_own) */
    uint64_t superseded; /* replica writes ignored as older, answered SUPERSEDED */
    struct rc_memtab_stats cache; /* zeros when the read cache is off */
    /* What the budget counts now: the memory store's mem_bytes; on disk
     * the read cache's bytes plus SQLite's page cache, taken as full up to
     * the database's size (SQLite's own figure needs its memory
     * statistics, which are off: rc_store_global_init). */
    int64_t used_memory;
};

/* Called when a write's batch is committed: err 0, or RC_EFULL / RC_EIO. */
typedef void (*rc_node_write_cb)(void *arg, int err);

/* 1 when the store serves from memory (":memory:", or write-behind on a
 * data directory): the memory budget is the store's, no read cache. */
int rc_node_in_memory(const struct rc_node *n);
int rc_node_opts_in_memory(const struct rc_node_opts *o);

/* Opens the store and loads (or creates) the node id. The log is borrowed.
 * On failure *out is NULL and err holds a one-line reason. */
int rc_node_new(uv_loop_t *loop, const struct rc_node_opts *opts, const struct rc_log *log,
                struct rc_node **out, char *err, size_t errlen);

/*
 * The replica operations of the peer port (req as decoded from a peer,
 * validated here: a peer is trusted no more than a client). REPL_WRITE
 * applies the write and answers through a slot of net once its batch
 * commits (at once with SUPERSEDED when the store holds a newer version);
 * REPL_READ answers the local entry, tombstones included. Each appends one
 * reply to out or defers; 0, or a negative code when no reply could be
 * queued.
 */
int rc_node_repl_write(struct rc_node *n, struct rc_net *net, const struct rc_request *req,
                       struct rc_buf *out);
int rc_node_repl_read(struct rc_node *n, const struct rc_request *req, struct rc_buf *out);
/* REPL_INCR: rc_node_incr for a coordinator (DELTA or DELTA_FLOAT; with
 * VERSION, the entry it read first: VALUE or TOMBSTONE, FLAGS, KIND,
 * EXPIRES), answered once the batch commits with the new state (VALUE,
 * KIND, FLAGS, VERSION, EXPIRES). */
int rc_node_repl_incr(struct rc_node *n, struct rc_net *net, const struct rc_request *req,
                      struct rc_buf *out);

/*
 * The batch end. The node owns one uv_check and one uv_prepare handle;
 * each runs the batch end once per loop iteration, in three steps:
 *
 *   1. every attached net resumes its connections that were paused for
 *      backpressure and have drained (rc_net_resume): the requests they
 *      buffered join the batch;
 *   2. one commit of the store's batch, then every waiter of the batch is
 *      told its outcome (write callbacks, deferred replica replies); a
 *      commit only happens when a write or a waiter is pending, so the
 *      STATS counter "commits" counts real commits;
 *   3. every attached net flushes its pending replies, one write per
 *      connection (rc_net_flush), the completions of step 2 included.
 *
 * The check phase runs it after I/O callbacks, the prepare phase after
 * timers and before the loop blocks, so a reply completed anywhere
 * (timers included) never waits for unrelated I/O to wake the loop; if a
 * flush in the prepare phase leaves new work (a resumed connection whose
 * requests wrote or replied), the loop polls without blocking and the
 * check phase takes it at once. A local write is acknowledged (its
 * callback, its deferred replica reply) in step 2 only, so a reply that
 * waits for it is flushed after the batch holding the write committed.
 *
 * Attaches a net (client, RESP or peer port) to the batch end. The net is
 * borrowed: it must stay allocated until the node's handles are closed
 * (rc_node_stop, or any uv_close of the loop's handles); it may be shut
 * down before (a shut-down net has nothing to resume or flush). 0, or
 * RC_EINVAL when RC_NODE_MAX_NETS are attached already.
 */
#define RC_NODE_MAX_NETS 5 /* the client, peer, RESP and memcached ports, and one spare */
int rc_node_attach(struct rc_node *n, struct rc_net *net);

/* Local read at wall-clock now. 0 with *e (tombstones included; borrowed
 * until the next store call) or RC_ENOTFOUND (absent or expired). Live
 * values come from the read cache when it holds them. */
int rc_node_get(struct rc_node *n, const uint8_t *key, size_t key_len, struct rc_entry *e);

/* 1 with *ver when the store evicted key lately, at version *ver (it
 * remembers: rc_store_evicted), so that its absence here is a cache's
 * choice, not a missed write: read repair leaves it alone, and a read
 * that finds only older values elsewhere is a miss. 0 otherwise. */
int rc_node_evicted(struct rc_node *n, const uint8_t *key, size_t key_len,
                    struct rc_version *ver);

/* 1 while the store evicts: it evicted entries within the last
 * RC_NODE_EVICTING_MS (looked at once a second). A key missing here is
 * then a cache's choice rather than a missed write: read repair and
 * anti-entropy leave it alone (replicas of an evicting cache differ by
 * design). */
#define RC_NODE_EVICTING_MS (10 * 60 * 1000)
int rc_node_evicting(struct rc_node *n);

/*
 * Local last-writer-wins write (value NULL = tombstone). Returns 0 and
 * calls cb(arg, err) exactly once at the batch's commit, or returns an
 * error without calling cb: RC_ESUPERSEDED when the store holds a newer
 * version of the key (then in *newer, if not NULL), so the write was
 * ignored. A write of the version already stored is a success (a
 * repeat). *existed (may be NULL) tells whether a live value was replaced.
 */
int rc_node_write(struct rc_node *n, const uint8_t *key, size_t key_len, const uint8_t *value,
                  size_t value_len, const struct rc_version *ver, int64_t expires_ms,
                  rc_node_write_cb cb, void *arg, int *existed, struct rc_version *newer);

/* rc_node_write of a value with attributes (store.h; NULL: none). A
 * counter state (kind RC_KIND_COUNTER) merges with a counter held here
 * (common/counter.h) instead of replacing it, and is never SUPERSEDED:
 * what it brings is kept in the join, or it lost to a newer SET or DEL. */
int rc_node_write_attr(struct rc_node *n, const uint8_t *key, size_t key_len,
                       const uint8_t *value, size_t value_len, const struct rc_attr *attr,
                       const struct rc_version *ver, int64_t expires_ms, rc_node_write_cb cb,
                       void *arg, int *existed, struct rc_version *newer);

/*
 * An increment applied by this replica as its own actor (INCR, REPL_INCR).
 * has_seen: an entry the coordinator read first (value or tombstone, with
 * attributes, version and expiry), written here (merged) before the
 * increment. The increment counts from the key's state here: a counter,
 * a value's text (an integer, or for a float increment a float; else
 * RC_ENOT_INTEGER / RC_ENOT_FLOAT), or 0 for nothing or a tombstone. It
 * keeps the key's expiry. Returns 0 with *out (the new state, its
 * version, expiry, flags and rendered total) and calls cb at the batch's
 * commit, or an error without calling cb (RC_EOVERFLOW, RC_ECOUNTER_FULL,
 * RC_EDRIFT, a store error).
 */
struct rc_node_incr {
    const uint8_t *key;
    size_t key_len;
    int is_float;
    int64_t delta;
    double fdelta;
    int has_seen, seen_tomb;
    const uint8_t *seen_value;
    size_t seen_len;
    struct rc_attr seen_attr;
    struct rc_version seen_ver;
    int64_t seen_expires;
};
struct rc_node_incr_out {
    uint8_t state[RC_COUNTER_MAX_ENC];
    size_t state_len;
    struct rc_version ver;
    int64_t expires_ms;
    uint32_t flags;
    char text[RC_COUNTER_TEXT_MAX];
    size_t text_len;
};
int rc_node_incr(struct rc_node *n, const struct rc_node_incr *rq, struct rc_node_incr_out *out,
                 rc_node_write_cb cb, void *arg);

/* The same write without a callback, for bulk merges (streaming): its
 * batch is acknowledged as a whole with rc_node_ack_at_commit. */
int rc_node_apply(struct rc_node *n, const uint8_t *key, size_t key_len, const uint8_t *value,
                  size_t value_len, const struct rc_version *ver, int64_t expires_ms);

/* rc_node_apply with attributes (a counter merges, as in rc_node_write_attr). */
int rc_node_apply_attr(struct rc_node *n, const uint8_t *key, size_t key_len,
                       const uint8_t *value, size_t value_len, const struct rc_attr *attr,
                       const struct rc_version *ver, int64_t expires_ms);

/* Completes slot (request id) with OK when the current batch commits (on
 * write-behind: once a flush put it on disk, as the sender then forgets
 * it), or with the error that discarded it. 0 or RC_ENOMEM. */
int rc_node_ack_at_commit(struct rc_node *n, struct rc_net_slot *slot, uint32_t id);

/* Merges a timestamp seen from a peer into this node's clock: 0, or
 * RC_EDRIFT when it is too far in the future (counted, not adopted). */
int rc_node_observe(struct rc_node *n, uint64_t hlc);

/* A new version for a write this node coordinates. */
void rc_node_new_version(struct rc_node *n, struct rc_version *ver);

/* Wall clock in Unix ms (the time base for expiry and versions). */
int64_t rc_node_now_ms(void);

/* Drops the read cache. Called on every membership change, as
 * docs/architecture.md promises: rebalancing may then delete ranges this
 * node no longer replicates (rc_node_delete_range drops the cache itself
 * too, so the cache stays exact either way). */
void rc_node_cache_clear(struct rc_node *n);

/*
 * CONFIG SET maxmemory / maxmemory-policy: a new budget (< 0: keep it;
 * 0: none) and policy (< 0: keep it). With ":memory:" the store's budget;
 * on disk the read cache takes budget - page cache (the page cache keeps
 * its size, set at start) and starts empty at its new size, and the
 * store's database cap (--max-db-size) stays. A budget below what is held
 * takes effect at once for writes; the excess is evicted a bounded number
 * of entries per loop iteration (RC_NODE_EVICT_STEP), so clients are
 * served in between. 0; RC_EINVAL (an unknown policy, or on disk a budget
 * below the page cache) changed nothing; RC_ENOMEM (the new read cache)
 * left the read cache off.
 */
#define RC_NODE_EVICT_STEP 128
int rc_node_set_evict(struct rc_node *n, int64_t budget, int policy);

/* start: starts the background purge timer and the batch end (call once
 * the nets are attached, before running the loop). stop: closes the
 * node's handles; after it no batch end runs (rc_node_free commits what
 * is left). */
void rc_node_start(struct rc_node *n);
void rc_node_stop(struct rc_node *n);

/* Commits pending writes, closes the store, frees. Call after the loop
 * has finished (all handles closed), before the attached nets are freed
 * (the last commit may complete their slots). NULL is a no-op. */
void rc_node_free(struct rc_node *n);

uint64_t rc_node_id(const struct rc_node *n);
const char *rc_node_id_hex(const struct rc_node *n);
const struct rc_node_opts *rc_node_opts(const struct rc_node *n);
void rc_node_stats(struct rc_node *n, struct rc_node_stats *st);

/*
 * Persistent metadata (incarnation for gossip, the settled ring for
 * rebalancing). get: 0 or RC_ENOTFOUND. set: written and committed at
 * once (with whatever else the batch holds). stage: written in the
 * current batch, durable when it commits. RC_EINVAL (a name the memory
 * store has no room for) touched nothing; any other error discarded the
 * batch, and its waiters were told.
 */
int rc_node_meta_get(struct rc_node *n, const char *name, uint64_t *value);
int rc_node_meta_set(struct rc_node *n, const char *name, uint64_t value);
int rc_node_meta_stage(struct rc_node *n, const char *name, uint64_t value);

/*
 * Range operations for rebalancing and the census: the store's own calls
 * (store.h, which says what each returns), with the node in place of the
 * store. They hold the event loop for their run, so callers bound the
 * work per call. cb of rc_node_scan must not call into the node.
 */
int rc_node_scan(struct rc_node *n, uint64_t first, uint64_t last, uint64_t after_token,
                 const uint8_t *after_key, size_t after_key_len, int limit, int64_t now_ms,
                 rc_store_scan_cb cb, void *arg);
int rc_node_range_digest_before(struct rc_node *n, uint64_t first, uint64_t last, int64_t now_ms,
                                uint64_t before_hlc, uint64_t *digest, uint64_t *count);
int rc_node_range_count(struct rc_node *n, uint64_t first, uint64_t last, int64_t now_ms,
                        uint64_t *count);

/* Deletes at most max_rows entries of [first, last] in the current batch
 * (rc_store_delete_range), for dropping a range handed over: call until
 * *deleted is 0. The read cache forgets what was deleted. RC_EINVAL (a
 * wrapped range) touched nothing; any other error discarded the batch,
 * and its waiters were told. */
int rc_node_delete_range(struct rc_node *n, uint64_t first, uint64_t last, int max_rows,
                         int *deleted);

/*
 * FLUSHALL (server/keyspace.c spreads it): every version with an hlc below
 * epoch is flushed. The epoch is kept in the store's metadata (it
 * survives a restart); from now on reads treat such entries as absent,
 * writes of such versions are ignored (rc_node_write and REPL_WRITE
 * answer SUPERSEDED with version (epoch, 0), so the coordinator writes
 * again past it; streams and repairs are dropped), the clock moves past
 * it, and an idle handle deletes them in bounded steps. An epoch at or
 * below the current one changes nothing. 0, or the error of storing it.
 */
int rc_node_flush(struct rc_node *n, uint64_t epoch);
uint64_t rc_node_flush_epoch(const struct rc_node *n);
/* 1 while older entries are still being deleted. */
int rc_node_flush_dropping(const struct rc_node *n);

/* 1 when the store holds no entry at all (values, expired or not, and
 * tombstones), else 0. */
int rc_node_store_empty(struct rc_node *n);

/* This node's live values that expire, and their mean time to live in ms
 * (INFO keyspace: rc_store_volatile_keys). */
int64_t rc_node_volatile_keys(struct rc_node *n, int64_t *avg_ttl_ms);

#endif
