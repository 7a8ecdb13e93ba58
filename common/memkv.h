/*
 * memkv.h - the in-memory storage engine of a ":memory:" store
 * (server/store_mem.c adapts it to the store; server/store_sqlite.c keeps
 * SQLite for data on disk).
 *
 * A pure cache has nothing to make durable, and SQLite's in-memory
 * database still pays for a B-tree insert, a rollback journal and a page
 * cache on every write (~10,000 instructions; a whole Redis SET is
 * ~4,500). This engine keeps the same contract with a hash table whose
 * bucket is the top bits of the ring token, each chain sorted by
 * (token, key): a lookup is one hash probe, and a token range is a run of
 * consecutive buckets, so streaming, digests and range deletes need no
 * second index. Last-writer-wins versions, tombstones with a purge time,
 * expiry and group-committed batches (an undo log brings a discarded batch
 * back) behave exactly as in the SQLite store.
 *
 * Tokens are computed by the caller (rc_ring_token); the engine trusts
 * them to be the key's. Pure data structure: no I/O, no clock.
 */
#ifndef RC_MEMKV_H
#define RC_MEMKV_H

#include <stddef.h>
#include <stdint.h>

#include <xxhash.h>

struct rc_memkv;

/* One entry. Pointers are borrowed until the next call that changes the
 * table (a write, commit, purge or range delete). */
struct rc_memkv_entry {
    const uint8_t *key;
    size_t key_len;
    uint64_t token;
    const uint8_t *value; /* NULL for a tombstone */
    size_t value_len;
    uint64_t hlc, node; /* version: hlc first, node id as tie-break */
    int64_t expires_ms; /* absolute Unix ms, 0 = never; tombstone: purge time */
    uint64_t attr;      /* opaque attributes (rc_memkv_write_attr); 0 = none */
};

struct rc_memkv_stats {
    int64_t keys;       /* values held (expired ones count until purged) */
    int64_t tombstones;
    int64_t bytes;      /* key and value bytes of the values held */
    int64_t mem_bytes;  /* estimate of the memory held: entries, buckets, expiry table,
                           eviction policy and ghost */
    int64_t max_bytes;  /* the budget (0 = none) */
    int policy;         /* enum rc_evict_policy */
    int64_t evicted;    /* entries evicted (committed or not) */
    int64_t evicted_bytes; /* their key and value bytes */
    int64_t ghost_refused; /* writes ignored because the key was evicted at
                              a version at least as new (evghost.h) */
};

/* Largest key or value the engine stores (lengths are kept in 32 bits,
 * a key's with two flag bits). */
#define RC_MEMKV_MAX_LEN 0x7fffffffu
#define RC_MEMKV_MAX_KEY 0x3fffffffu

/* Bytes a live entry with these key and value lengths charges against the
 * memory budget (its allocation and the allocator's overhead): what
 * MEMORY USAGE reports. */
size_t rc_memkv_entry_bytes(size_t key_len, size_t value_len, int has_expiry);

/* An engine of at most max_bytes of mem_bytes (0 = no cap), whose
 * tombstones are purged grace_ms after their write. 0 or RC_ENOMEM. */
int rc_memkv_new(int64_t max_bytes, int64_t grace_ms, struct rc_memkv **out);

/*
 * Eviction (common/evict.h, common/evghost.h). With a policy that evicts,
 * a write that would pass max_bytes first evicts values (never tombstones:
 * an eviction must not undo a delete; never the entry the write replaces)
 * chosen by the policy, at most RC_MEMKV_EVICT_PER_WRITE of them, and
 * fails with RC_EFULL only when that is not enough: not back within the
 * budget and, if the engine was already above it (a lowered budget, its
 * own tables grown), larger than before the write (so such an engine
 * converges, each write freeing more than it adds). Under noeviction (the
 * default of rc_memkv_new) it fails at once, as before. An eviction is a
 * change of the open batch (a discard brings the entry back; evicted
 * counts it anyway). Reads (rc_memkv_get) are the policy's accesses
 * (skipped under noeviction, where order does not matter); scans, digests
 * and writes are not. The versions evicted are remembered (evghost.h, keyed
 * by token; budget / 64 bytes of it): a value write of a key not held, at
 * a version no newer than the one evicted, is ignored (returns 0) and
 * counted in ghost_refused; a tombstone always goes in.
 */
#define RC_MEMKV_EVICT_PER_WRITE 64

/* Sets the budget (< 0 keeps it; 0 = none) and the policy; O(1) (the
 * ghost is sized for the budget here, from zeroed pages; without memory
 * for it the first eviction allocates it). What is held beyond a lowered
 * budget is evicted by rc_memkv_evict, or by the writes. 0, RC_EINVAL
 * (policy out of range) or RC_ENOMEM (the policy's own table, evict.h:
 * nothing changed). */
int rc_memkv_set_evict(struct rc_memkv *m, int64_t max_bytes, int policy);

/* While over the budget, evicts at most max_rows values in the batch.
 * 0 with *evicted (0 when within budget or nothing can go), RC_ENOMEM
 * (batch discarded). */
int rc_memkv_evict(struct rc_memkv *m, int max_rows, int *evicted);

/* 1 with the version (*hlc, *node) at which the key of token was evicted,
 * when the ghost still remembers it; 0 otherwise (nothing evicted, or
 * forgotten). Says nothing of whether the key is held again since. */
int rc_memkv_evicted(const struct rc_memkv *m, uint64_t token, uint64_t *hlc, uint64_t *node);

/* Frees everything, the open batch included. NULL is a no-op. */
void rc_memkv_free(struct rc_memkv *m);

/* 0 with *e (a value or a tombstone), or RC_ENOTFOUND when the key has no
 * entry or its value expired at now_ms. */
int rc_memkv_get(struct rc_memkv *m, uint64_t token, const uint8_t *key, size_t key_len,
                 int64_t now_ms, struct rc_memkv_entry *e);

/*
 * Last-writer-wins write of a value (value != NULL) or a tombstone (value
 * NULL, purged at now_ms + grace). Applied only if (hlc, node) is newer
 * than the stored version; an expired value counts as absent. Returns 1
 * when applied, 0 when ignored, or RC_EFULL (past max_bytes) / RC_ENOMEM,
 * which discarded the whole open batch. *existed (may be NULL) is 1 when a
 * live value was replaced. Lengths over RC_MEMKV_MAX_LEN are RC_EINVAL.
 */
int rc_memkv_write(struct rc_memkv *m, uint64_t token, const uint8_t *key, size_t key_len,
                   const uint8_t *value, size_t value_len, uint64_t hlc, uint64_t node,
                   int64_t expires_ms, int64_t now_ms, int *existed);

/* rc_memkv_write of a value with attributes: an opaque uint64 kept with
 * the value (8 bytes more, only when not 0), returned in entry.attr. A
 * tombstone keeps none. Keys are at most RC_MEMKV_MAX_KEY long. */
int rc_memkv_write_attr(struct rc_memkv *m, uint64_t token, const uint8_t *key, size_t key_len,
                        const uint8_t *value, size_t value_len, uint64_t hlc, uint64_t node,
                        int64_t expires_ms, uint64_t attr, int64_t now_ms, int *existed);

/*
 * A key's state as loaded from a persistent copy (server/store_wb.c's warm
 * restart): rc_memkv_write committed at once (no batch may be open), a
 * tombstone keeping its purge time expires_ms (0: now_ms + grace), and
 * whatever the version held: the copy records states in the order memory
 * had them, and memory may go back to an older version (one written
 * after the newer was purged, evicted or flushed away). Evicts to make
 * room as a write does (the drop hook hears of it). 1 or the errors of
 * rc_memkv_write.
 */
int rc_memkv_load(struct rc_memkv *m, uint64_t token, const uint8_t *key, size_t key_len,
                  const uint8_t *value, size_t value_len, uint64_t hlc, uint64_t node,
                  int64_t expires_ms, uint64_t attr, int64_t now_ms);
/* The key's entry removed, as a persistent copy records its absence:
 * committed at once, no drop hook. 1 removed, 0 not there, RC_ENOMEM. */
int rc_memkv_unload(struct rc_memkv *m, uint64_t token, const uint8_t *key, size_t key_len);

/*
 * The drop hook: fn(arg, token, key, key_len) for every entry the engine
 * unlinks other than by a write replacing it: evictions (in writes and
 * rc_memkv_evict), purges and range deletes, as they happen (a discarded
 * batch brings the entry back without a word: the owner must read the
 * key's state again rather than trust the call). The key is borrowed for
 * the call; fn must not call the engine. NULL fn: no hook (the default).
 * For a persistent copy kept behind the table (store_wb.c).
 */
typedef void (*rc_memkv_drop_fn)(void *arg, uint64_t token, const uint8_t *key, size_t key_len);
void rc_memkv_set_drop_hook(struct rc_memkv *m, rc_memkv_drop_fn fn, void *arg);

/* The key's entry as it is, expired or not, without telling the eviction
 * policy (not a client's access): 0 with *e, or RC_ENOTFOUND. */
int rc_memkv_peek(const struct rc_memkv *m, uint64_t token, const uint8_t *key, size_t key_len,
                  struct rc_memkv_entry *e);

/* Ends the open batch: what it replaced or deleted is freed. Never fails. */
void rc_memkv_commit(struct rc_memkv *m);

/* Undoes every change of the open batch. */
void rc_memkv_discard(struct rc_memkv *m);

/* Mutating calls in the open batch, ignored writes made while it is open
 * included (0 when no batch is open). */
uint64_t rc_memkv_pending(const struct rc_memkv *m);

/*
 * Deletes at most max_rows expired values and tombstones past their purge
 * time, looking at a bounded number of entries from where the previous
 * call stopped (the sweep goes round the ring). Part of the batch.
 * 0 with *purged, or RC_ENOMEM (batch discarded).
 */
int rc_memkv_purge(struct rc_memkv *m, int64_t now_ms, int max_rows, int *purged);

/*
 * Range functions: inclusive token ranges [first, last], first <= last
 * (checked by the caller). Entries come in (token, key) order, keys
 * compared as SQLite compares blobs (memcmp, then the shorter first), so
 * a scan cursor means the same on either engine.
 *
 * scan: entries after the cursor (after_token, after_key) when after_key
 * is not NULL, tombstones included, values expired at now_ms skipped; at
 * most limit; cb returning non-zero stops. cb must not call the engine.
 * Returns the number of entries passed to cb.
 */
typedef int (*rc_memkv_scan_cb)(void *arg, const struct rc_memkv_entry *e);
int rc_memkv_scan(struct rc_memkv *m, uint64_t first, uint64_t last, uint64_t after_token,
                  const uint8_t *after_key, size_t after_key_len, int limit, int64_t now_ms,
                  rc_memkv_scan_cb cb, void *arg);

/* The range digest of store.h (XOR of rc_memkv_entry_digest over entries,
 * tombstones included, expired values not) and the entries hashed. */
void rc_memkv_range_digest(struct rc_memkv *m, uint64_t first, uint64_t last, int64_t now_ms,
                           uint64_t *digest, uint64_t *count);
/* The same over entries whose version's hlc is below before_hlc only. */
void rc_memkv_range_digest_before(struct rc_memkv *m, uint64_t first, uint64_t last,
                                  int64_t now_ms, uint64_t before_hlc, uint64_t *digest,
                                  uint64_t *count);

/* Live values (not tombstones, not expired at now_ms) in the range. */
uint64_t rc_memkv_range_count(struct rc_memkv *m, uint64_t first, uint64_t last, int64_t now_ms);

/* Deletes at most max_rows entries of the range (any kind), in the batch.
 * 0 with *deleted, or RC_ENOMEM (batch discarded). */
int rc_memkv_delete_range(struct rc_memkv *m, uint64_t first, uint64_t last, int max_rows,
                          int *deleted);

void rc_memkv_stats(const struct rc_memkv *m, struct rc_memkv_stats *st);

/* Values not expired at now_ms: stats' keys minus the expired ones not
 * yet purged, exactly, from the expiry table (expcount.h: about one hash
 * lookup per millisecond since the last call, never a walk of the
 * entries). */
int64_t rc_memkv_live_keys(struct rc_memkv *m, int64_t now_ms);

/* Live values with an expiry time (not yet passed at now_ms), and their
 * average time to live in ms into *avg_ttl_ms (0 when none); exact, from
 * the expiry table (common/expcount.h), no walk. */
int64_t rc_memkv_volatile(struct rc_memkv *m, int64_t now_ms, int64_t *avg_ttl_ms);

/*
 * One entry's share of a range digest: XXH3_64bits(key || le64(hlc) ||
 * le64(node)), seed 0. A key of up to 240 bytes is hashed from a copy
 * on the stack; a longer one streams through the caller's state h (may be
 * NULL when keys are known to be short). The format is a contract between
 * nodes: both engines use this function.
 */
uint64_t rc_memkv_entry_digest(XXH3_state_t *h, const uint8_t *key, size_t key_len, uint64_t hlc,
                               uint64_t node);

#endif
