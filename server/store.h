/*
 * store.h - the node's local key-value store, in SQLite.
 *
 * One database per node (<data-dir>/ringcache.db), or for a pure cache
 * (":memory:") the native in-memory engine of common/memkv.c, which keeps
 * this same contract (the engines behind it: store_engine.h). Every entry
 * carries its ring token, so a token range is an index range scan
 * (streaming), a version (HLC timestamp + writer node id; the newest
 * version wins, whichever order writes arrive in) and an optional
 * absolute expiry. Deletes write tombstones that are
 * purged after a grace period, so a late, older write cannot resurrect a
 * deleted key.
 *
 * Writes are group-committed: the first write opens a transaction and
 * rc_store_commit() (called once per event-loop iteration) ends it. A
 * write that fails, or a commit that fails, discards the whole batch
 * since the last successful commit; the caller must then report every
 * write of that batch as failed. Reads see uncommitted writes of the batch.
 * A memory store fails only for want of memory: RC_ENOMEM (or RC_EFULL past
 * max_bytes) where a disk store would say RC_EIO.
 *
 * Not thread-safe: one store belongs to one event loop.
 */
#ifndef RC_STORE_H
#define RC_STORE_H

#include <stddef.h>
#include <stdint.h>

struct rc_store;

struct rc_version {
    uint64_t hlc;  /* hybrid logical clock timestamp (common/hlc.h) */
    uint64_t node; /* id of the node that coordinated the write */
};

/* <0, 0, >0 like memcmp: hlc first, node id as tie-break. */
int rc_version_cmp(const struct rc_version *a, const struct rc_version *b);

struct rc_store_opts {
    const char *data_dir;        /* directory, or ":memory:" */
    int64_t tombstone_grace_ms;  /* how long tombstones are kept */
    int64_t max_bytes;           /* database size cap, 0 = unlimited (RC_EFULL past it) */
    int64_t cache_kib;           /* SQLite page cache size */
    /* Eviction (common/evict.h). In memory, max_mem_bytes bounds the
     * engine's memory (entries, index, per-entry metadata, tombstones;
     * 0 = none) and max_bytes is not used; on disk, max_bytes bounds the
     * database file. At the cap, evict_policy (enum rc_evict_policy)
     * picks entries to evict; RC_EVICT_NOEVICTION fails the write with
     * RC_EFULL instead. Tombstones are never evicted (an eviction must
     * not undo a delete); they go when purged after their grace. */
    int64_t max_mem_bytes;
    int evict_policy;
    /* Write-behind (store_wb.c), for a data directory: 1 serves every
     * read and write from memory (the memory engine, under max_mem_bytes
     * or else max_bytes, as ":memory:") and writes SQLite behind, every
     * flush_ms (0: 100), from a thread; 0 is the direct SQLite engine.
     * max_lag_ms (0: 1000) is the lag past which rc_store_backlogged
     * asks the caller to slow writes down. */
    int write_behind;
    int64_t flush_ms;
    int64_t max_lag_ms;
    /* Journal bytes below which write-behind takes no snapshot of
     * memory (0: WB_SNAP_MIN_BYTES, 64 MiB); tests set it small to
     * snapshot all the time. */
    int64_t snapshot_bytes;
};

/*
 * Attributes stored with a value (never with a tombstone: a tombstone's
 * are 0). flags: opaque to the store, the client flags of a memcached
 * item. kind: how the value bytes are read. An entry written without
 * attributes has both 0, and costs no more than before they existed
 * (memory engine: no bytes; SQLite: one integer column of 0).
 */
#define RC_KIND_BYTES 0u   /* plain bytes, last-writer-wins */
#define RC_KIND_COUNTER 1u /* a counter state (common/counter.h), merged */
#define RC_KIND_MAX 1u

struct rc_attr {
    uint32_t flags;
    uint32_t kind; /* RC_KIND_* */
};

/* The attributes as one integer, as the engines keep them (SQLite's attr
 * column, memkv's word): kind in the high 32 bits, flags in the low. */
static inline uint64_t rc_attr_pack(const struct rc_attr *a)
{
    return (uint64_t)a->kind << 32 | a->flags;
}
static inline struct rc_attr rc_attr_unpack(uint64_t v)
{
    struct rc_attr a = {(uint32_t)v, (uint32_t)(v >> 32)};

    return a;
}

/* One stored entry. Pointers are borrowed and valid until the next call
 * on the store. */
struct rc_entry {
    const uint8_t *key;
    size_t key_len;
    uint64_t token;
    const uint8_t *value; /* NULL for a tombstone */
    size_t value_len;
    struct rc_version ver;
    int64_t expires_ms; /* absolute Unix ms; 0 = never. For tombstones: purge time */
    int tombstone;
    struct rc_attr attr; /* 0, 0 for a tombstone */
};

/* Process-wide SQLite settings for a server: call once, before any store
 * is opened and before other threads exist. Turns SQLite's memory
 * statistics off (they take a global mutex on every allocation, ~3 % of a
 * write's instructions; nothing here reads them). 0 or RC_EIO when SQLite
 * was already initialised (harmless: the defaults stay). */
int rc_store_global_init(void);

/* Opens (creating if needed) the store. *out is NULL on failure.
 * Returns 0, RC_EIO (message logged into errbuf if given), RC_ENOMEM. */
int rc_store_open(const struct rc_store_opts *opts, struct rc_store **out, char *errbuf, size_t errlen);

/* Commits pending writes and closes the database. NULL is a no-op. */
void rc_store_close(struct rc_store *s);

/*
 * Looks a key up. Returns 0 with *e filled (value or tombstone) or
 * RC_ENOTFOUND when there is no entry or the value expired at now_ms.
 * Tombstones are returned (e->tombstone = 1) because their version matters
 * to replicas; callers answering clients treat them as not found.
 */
int rc_store_get(struct rc_store *s, const uint8_t *key, size_t key_len, int64_t now_ms,
                 struct rc_entry *e);

/*
 * Last-writer-wins write of a value (value != NULL) or tombstone
 * (value == NULL; expires_ms is then ignored and set to now + grace).
 * Applied only if ver is newer than the stored version; an expired stored
 * value counts as absent. Returns 1 if applied, 0 if ignored as older or
 * equal, or an error (RC_EFULL, RC_EIO; RC_ENOMEM in memory mode) which
 * discarded the batch.
 * *existed (may be NULL) is set to 1 when a live value was replaced.
 */
int rc_store_write(struct rc_store *s, const uint8_t *key, size_t key_len, const uint8_t *value,
                   size_t value_len, const struct rc_version *ver, int64_t expires_ms,
                   int64_t now_ms, int *existed);

/* What a caller knows exactly of a key's current row: a live value (never
 * a tombstone, never expired at now_ms) with this version and length. */
struct rc_store_live {
    struct rc_version ver;
    size_t value_len;
};

/*
 * rc_store_write for a key whose current row the caller knows (an exact
 * cache holds it): the store skips its own lookup, a B-tree seek that is
 * about a third of a write's cost. Same results.
 */
int rc_store_write_known(struct rc_store *s, const uint8_t *key, size_t key_len,
                         const uint8_t *value, size_t value_len, const struct rc_version *ver,
                         int64_t expires_ms, int64_t now_ms, const struct rc_store_live *live,
                         int *existed);

/*
 * rc_store_write (live NULL) or rc_store_write_known (live set) of a
 * value with attributes (attr NULL: none; ignored for a tombstone).
 * RC_EINVAL for a kind above RC_KIND_MAX. The version decides as in
 * rc_store_write: the store never merges (the node merges counters
 * before it writes).
 */
int rc_store_write_attr(struct rc_store *s, const uint8_t *key, size_t key_len,
                        const uint8_t *value, size_t value_len, const struct rc_attr *attr,
                        const struct rc_version *ver, int64_t expires_ms, int64_t now_ms,
                        const struct rc_store_live *live, int *existed);

/* Commits the open batch, if any. 0, or RC_EFULL / RC_EIO (batch discarded). */
int rc_store_commit(struct rc_store *s);

/* Writes since the last commit (0 when no batch is open). */
uint64_t rc_store_pending(const struct rc_store *s);

/*
 * Write-behind (0 on the other engines). unflushed: 1 while changes wait
 * for the disk or a flush runs; the caller then calls rc_store_commit
 * again within a few milliseconds even when it has nothing to commit
 * (commit starts a flush when one is due and collects the one that
 * finished: the engine has no timer of its own). backlogged: 1 while the
 * disk lags more than max_lag_ms (or the changes waiting pass their
 * memory cap); a commit then waits for the writer, up to 20 ms each
 * (backpressure: the caller's loop slows to the disk's pace while still
 * running its timers; nothing is dropped).
 */
int rc_store_unflushed(const struct rc_store *s);
int rc_store_backlogged(const struct rc_store *s);

/*
 * Write-behind: a token for what is committed so far, which is on disk
 * once rc_store_durable(s, token) is 1 (a later flush succeeded; tokens
 * only grow). For a caller whose acknowledgement lets the sender forget
 * the data (a rebalance stream). The other engines: 0, always durable (a
 * commit is on disk).
 */
uint64_t rc_store_flush_token(const struct rc_store *s);
int rc_store_durable(const struct rc_store *s, uint64_t token);

/*
 * Deletes at most max_rows expired values and tombstones past their grace.
 * Bounded so the event loop is never blocked for long. Sets *purged.
 */
int rc_store_purge(struct rc_store *s, int64_t now_ms, int max_rows, int *purged);

/*
 * Token ranges are inclusive, [first, last] with first <= last, as the ring
 * gives them (struct rc_ring_range): token 0 is a valid token, the whole
 * ring is [0, UINT64_MAX], and a wrapping range is two calls. first > last
 * is RC_EINVAL, never an empty range, so that a wrapped range passed by
 * mistake cannot pass for an empty one (whose digest would match anything
 * empty). The range functions run one index range scan each and hold the
 * event loop for their whole run.
 */

/*
 * Scan, in (token, key) order, of entries with first <= token <= last,
 * starting strictly after the cursor (after_token, after_key) when
 * after_key is not NULL (after_key borrowed for the call). Calls cb for at
 * most limit entries (tombstones included, expired values skipped); cb
 * returning non-zero stops early; cb must not call into the store. The
 * entry is borrowed until cb returns. Returns the number of entries passed
 * to cb (0 for limit <= 0), RC_EINVAL, or RC_EIO.
 */
typedef int (*rc_store_scan_cb)(void *arg, const struct rc_entry *e);
int rc_store_scan(struct rc_store *s, uint64_t first, uint64_t last, uint64_t after_token,
                  const uint8_t *after_key, size_t after_key_len, int limit, int64_t now_ms,
                  rc_store_scan_cb cb, void *arg);

/*
 * Order-independent digest of the entries in [first, last] as of now_ms:
 * the XOR over entries of XXH3_64bits(key bytes || le64(hlc) || le64(node))
 * (seed 0; le64 = 8 little-endian bytes), tombstones included, expired
 * values excluded, values and expiry times not hashed; *count is the number
 * of entries hashed. Two stores with the same keys at the same versions in
 * the range give the same digest whatever order the writes came in; the
 * empty range gives 0. XOR makes it additive: the digests of disjoint
 * pieces XOR to the digest of their union, so a caller can split a range to
 * bound the work per call or to find where two replicas differ. A tombstone
 * past its grace but not yet purged still counts, so replicas that purge at
 * different moments can disagree briefly. Cost: O(entries in range), each
 * a lookup of the row (not its value). Returns 0, RC_EINVAL, RC_ENOMEM or
 * RC_EIO (*digest and *count 0 then). The hashed format is a contract between
 * nodes: changing it makes nodes of different versions disagree.
 */
int rc_store_range_digest(struct rc_store *s, uint64_t first, uint64_t last, int64_t now_ms,
                          uint64_t *digest, uint64_t *count);

/* The same over entries whose version's hlc is below before_hlc only
 * (UINT64_MAX: all): anti-entropy leaves out what was written in the last
 * seconds, which the write path is still delivering. */
int rc_store_range_digest_before(struct rc_store *s, uint64_t first, uint64_t last,
                                 int64_t now_ms, uint64_t before_hlc, uint64_t *digest,
                                 uint64_t *count);

/*
 * Live values (not tombstones, not expired at now_ms) in [first, last], as
 * *count. O(entries in range). Returns 0, RC_EINVAL or RC_EIO (*count 0).
 */
int rc_store_range_count(struct rc_store *s, uint64_t first, uint64_t last, int64_t now_ms,
                         uint64_t *count);

/*
 * Deletes at most max_rows entries (values, expired or not, and tombstones)
 * in [first, last], for dropping a range the node no longer replicates in
 * bounded steps: call until *deleted is 0. A write in the batch like any
 * other (the counters follow it; a failed batch brings the rows back).
 * Returns 0 with *deleted (0 for an empty range or max_rows <= 0; the
 * latter opens no batch), RC_EINVAL, or RC_EFULL / RC_EIO (batch
 * discarded, *deleted 0).
 */
int rc_store_delete_range(struct rc_store *s, uint64_t first, uint64_t last, int max_rows,
                          int *deleted);

struct rc_store_stats {
    int64_t keys;       /* values held (expired ones count until purged) */
    int64_t mem_bytes;  /* memory engine: memory the data takes (what
                           max_mem_bytes bounds); disk: 0 */
    int64_t max_mem_bytes; /* the budget in force, what rc_store_set_evict
                              sets (memory: max_mem_bytes; disk: max_bytes,
                              the file's); 0 = none */
    int evict_policy;   /* the policy in force */
    int64_t evicted;    /* entries evicted since the store opened */
    int64_t evicted_bytes; /* their key and value bytes */
    int64_t ghost_refused; /* writes ignored: the key was evicted at a
                              version at least as new (common/evghost.h) */
    int64_t tombstones;
    int64_t bytes;      /* sum of key and value lengths of live values */
    int64_t db_bytes;   /* size of the database (pages in use) */
    int64_t wal_bytes;  /* write-ahead log after the last commit (disk mode) */
    int64_t checkpoints; /* WAL checkpoints done (disk mode) */
    /* Write-behind (0 for the other engines): keys changed in memory and
     * not yet on disk (in the flush running included), the age of the
     * oldest such change, flushes done, rows they wrote (upserts and
     * deletes), the longest flush, flushes that failed (their keys are
     * retried), commits that waited for the writer because the lag passed
     * max_lag_ms (backpressure). */
    int64_t wb_dirty;
    int64_t wb_lag_ms;
    int64_t wb_flushes;
    int64_t wb_flush_rows;
    int64_t wb_flush_ms_max;
    int64_t wb_flush_errors;
    int64_t wb_backlog_waits;
    /* The journal flushes and snapshots append to (store_wb_journal.c):
     * its data bytes (the last snapshot and the flushes since), snapshots
     * of memory completed, snapshot segments that failed (the snapshot
     * is begun again later), 1 while one is under way. */
    int64_t wb_journal_bytes;
    int64_t wb_snapshots;
    int64_t wb_snapshot_errors;
    int64_t wb_snapshotting;
};
void rc_store_stats(struct rc_store *s, struct rc_store_stats *st);

/*
 * Live values: not tombstones, not expired at now_ms; that is, stats'
 * keys minus the expired values not yet purged. Exact. On disk it counts
 * the expired rows along the expiry index (the purge's own queue, so
 * usually the rows of the last --purge-interval; on a read error it
 * counts none); in memory it asks the engine's expiry table
 * (rc_memkv_live_keys). Neither walks the live entries.
 */
int64_t rc_store_live_keys(struct rc_store *s, int64_t now_ms);

/*
 * Live values with an expiry time (INFO keyspace's expires=) and their
 * average time to live in ms (avg_ttl=; 0 when none). Exact. In memory
 * from the engine's expiry table (no walk); on disk a walk of the
 * kv_expires index over the values that expire (INFO only).
 */
int64_t rc_store_volatile_keys(struct rc_store *s, int64_t now_ms, int64_t *avg_ttl_ms);

/*
 * Changes the budget (max_mem_bytes in memory, max_bytes on disk; < 0
 * leaves it) and the policy at run time (CONFIG SET maxmemory ...). A
 * budget below what is held takes effect at once for writes; what is held
 * beyond it is evicted by rc_store_evict_step, in bounded steps. 0,
 * RC_EINVAL (policy out of range), RC_ENOMEM (the new policy's tables,
 * the evicted versions' table) or, on disk, RC_EIO.
 *
 * On disk the file never shrinks (SQLite keeps freed pages for reuse), so
 * a budget below the file's size bounds the pages in use: writes past it
 * evict first (or fail with RC_EFULL under noeviction), and evict_step
 * brings them under it. The disk has no access times: every policy but
 * volatile-ttl picks at random among a sample (volatile-* among values
 * with an expiry time), volatile-ttl the soonest to expire.
 */
int rc_store_set_evict(struct rc_store *s, int64_t budget, int policy);

/*
 * While the store holds more than its budget, evicts at most max_rows
 * entries under its policy (none under noeviction). A write in the batch
 * like any other. 0 with *evicted (0: within budget, or nothing more can
 * be evicted), or RC_ENOMEM / RC_EIO (batch discarded).
 */
int rc_store_evict_step(struct rc_store *s, int64_t now_ms, int max_rows, int *evicted);

/*
 * 1 with *ver when the store evicted key at version *ver and still
 * remembers it (common/evghost.h: a bounded table of the latest
 * evictions), 0 otherwise. For a key not found: the coordinator tells a
 * cache's choice (no read repair; an older value elsewhere is a miss)
 * from a missed write. Says nothing of whether the key is held again.
 */
int rc_store_evicted(struct rc_store *s, const uint8_t *key, size_t key_len,
                     struct rc_version *ver);

/* Small persistent metadata (node id, incarnation). get: 0 or RC_ENOTFOUND. */
int rc_store_meta_get(struct rc_store *s, const char *name, uint64_t *value);
int rc_store_meta_set(struct rc_store *s, const char *name, uint64_t value);

#endif
