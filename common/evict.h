/*
 * evict.h - cache eviction policies over entries the caller owns.
 *
 * The caller (common/memkv.c, the memory engine) embeds one struct
 * rc_evict_node in each evictable entry, tells the policy what happens to
 * it (insert, replace, remove, read hit), and asks for a victim when it is
 * over its memory budget. The policy only orders and picks nodes; the
 * caller unlinks and frees the entry. Every call is O(1) (bounded work; no
 * sorted structure, no walk of the entries), so eviction never pauses the
 * event loop for more than one request's worth of work.
 *
 * Policies: Redis's names and meanings (noeviction, allkeys-lru/lfu/random,
 * volatile-lru/lfu/ttl/random: volatile-* only consider entries with an
 * expiry time, RC_EVICT_VOLATILE) and two modern ones, S3-FIFO (Yang et
 * al., SOSP 2023) and W-TinyLFU (Einziger et al., Caffeine). The policy can
 * change at run time in O(1): nodes keep their place and per-node state,
 * and the new policy's order settles as entries are read and inserted.
 *
 * Pure data structure: no I/O, no clock (times are the caller's), no
 * globals (the random generator is per instance, seeded by the caller).
 */
#ifndef RC_EVICT_H
#define RC_EVICT_H

#include <stddef.h>
#include <stdint.h>

enum rc_evict_policy {
    RC_EVICT_NOEVICTION = 0, /* never picks a victim: the writer gets FULL */
    RC_EVICT_ALLKEYS_LRU,
    RC_EVICT_ALLKEYS_LFU,
    RC_EVICT_ALLKEYS_RANDOM,
    RC_EVICT_VOLATILE_LRU,
    RC_EVICT_VOLATILE_LFU,
    RC_EVICT_VOLATILE_TTL,
    RC_EVICT_VOLATILE_RANDOM,
    RC_EVICT_ALLKEYS_S3FIFO,
    RC_EVICT_ALLKEYS_WTINYLFU,
    RC_EVICT_NPOLICIES
};

/* The policy a node runs when none is given (chosen by measurement:
 * docs/benchmarks.md, "Hit ratio as a cache"). */
#define RC_EVICT_DEFAULT RC_EVICT_ALLKEYS_S3FIFO

/* "allkeys-lru" etc.; NULL for a value out of range. */
const char *rc_evict_policy_name(int policy);

/* The policy named by name[0..len) (case-insensitive), or RC_EINVAL. */
int rc_evict_policy_parse(const char *name, size_t len);

/* 1 when the policy evicts at all (not noeviction). */
int rc_evict_policy_evicts(int policy);

/* Node flags. */
#define RC_EVICT_VOLATILE 0x01 /* the entry has an expiry time */

/* Embedded in each evictable entry; owned by the policy between insert and
 * remove (or being returned as a victim). The caller zeroes nothing and
 * reads nothing of it. 24 bytes: the entry's charge and key hash are not
 * copied here (8 bytes an entry, hit ratio at a given budget) but asked of
 * the caller (opts.charge, opts.hash) when the policy needs them. */
struct rc_evict_node {
    struct rc_evict_node *prev, *next;
    uint32_t stamp;  /* policy's per-node time (LRU clock, LFU decay time) */
    uint8_t freq;    /* access counter (S3-FIFO 0..3, LFU logarithmic) */
    uint8_t list;    /* which of the policy's queues holds the node */
    uint8_t epoch;   /* unused (0): a switch moves no node (evict.c) */
    uint8_t flags;   /* RC_EVICT_* */
};

/*
 * Sampling, for the policies that pick among random entries (allkeys-lfu,
 * -random, volatile-*), as Redis does: the caller fills out[] with up to
 * max distinct nodes currently inserted, found from a uniformly random
 * position rnd (the memory engine: the bucket of token rnd, then the next
 * ones). Returns how many it gave (0: the caller has none near there).
 * Must not call the policy.
 */
typedef size_t (*rc_evict_sample_fn)(void *arg, uint64_t rnd, struct rc_evict_node **out,
                                     size_t max);

/* The absolute expiry time (ms) of a node's entry, 0 = none: volatile-ttl. */
typedef int64_t (*rc_evict_expires_fn)(void *arg, const struct rc_evict_node *n);

/*
 * The bytes a node's entry accounts for (capped at UINT32_MAX by the
 * caller), and its key hash (the ring token; any well-mixed 64-bit hash:
 * S3-FIFO's ghost and W-TinyLFU's sketch need a victim's key). Called on
 * insert, replace, remove, victim and list moves, for nodes inserted or
 * being inserted, and for old during rc_evict_replace(old, n): old must
 * still be readable then. Contract: both must not change while the node is
 * inserted (an entry whose size changes is a new node, through replace),
 * or the byte counts drift. Must not call the policy.
 */
typedef uint32_t (*rc_evict_charge_fn)(void *arg, const struct rc_evict_node *n);
typedef uint64_t (*rc_evict_hash_fn)(void *arg, const struct rc_evict_node *n);

struct rc_evict_opts {
    int policy;              /* enum rc_evict_policy */
    uint64_t capacity_bytes; /* the budget the queues are sized against */
    uint64_t seed;           /* random generator seed (sampling, sketch) */
    rc_evict_sample_fn sample;
    rc_evict_expires_fn expires;
    rc_evict_charge_fn charge;
    rc_evict_hash_fn hash;
    void *arg; /* passed to every callback */
};

struct rc_evict;

/* 0, RC_EINVAL (policy out of range, a callback NULL) or RC_ENOMEM. */
int rc_evict_new(const struct rc_evict_opts *opts, struct rc_evict **out);
/* Frees the policy's own memory; nodes belong to the caller. NULL: no-op. */
void rc_evict_free(struct rc_evict *ev);

/* O(1); the nodes stay inserted. 0, RC_EINVAL, or RC_ENOMEM when the new
 * policy's own table (S3-FIFO's ghost, W-TinyLFU's sketch: allocated only
 * while that policy runs) cannot be allocated; the policy is then
 * unchanged. */
int rc_evict_set_policy(struct rc_evict *ev, int policy);
int rc_evict_policy(const struct rc_evict *ev);
/* Resizes the queues' targets (S3-FIFO's small queue, W-TinyLFU's window
 * and sketch: the sketch grows in bounded steps, never in one pass). */
void rc_evict_set_capacity(struct rc_evict *ev, uint64_t capacity_bytes);

/* A new entry; its charge and hash come from opts.charge and opts.hash. */
void rc_evict_insert(struct rc_evict *ev, struct rc_evict_node *n, int flags);
/* A newer version of an inserted entry replaces old (an overwrite): n takes
 * old's place and history; old is no longer the policy's. n != old (a
 * changed entry is a new node: its charge may differ), and old is still
 * the caller's to read during the call (its charge leaves the counts). */
void rc_evict_replace(struct rc_evict *ev, struct rc_evict_node *old, struct rc_evict_node *n,
                      int flags);
/* The entry is gone for another reason than eviction (delete, expiry,
 * range drop, a discarded batch): forgotten, nothing remembered. */
void rc_evict_remove(struct rc_evict *ev, struct rc_evict_node *n);
/* A read found the entry; hash is what opts.hash gives for n (passed to
 * spare the read path a call). */
void rc_evict_hit(struct rc_evict *ev, struct rc_evict_node *n, uint64_t hash);
/* A read found nothing for hash (frequency sketches count misses too). */
void rc_evict_miss(struct rc_evict *ev, uint64_t hash);

/*
 * Picks the next entry to evict and removes it from the policy (S3-FIFO
 * remembers its hash in its ghost queue). NULL when the policy does not
 * evict (noeviction), nothing is inserted, or a volatile-* policy found no
 * entry with an expiry time within its bounded search. Bounded work per
 * call, whatever the entries' counters.
 */
struct rc_evict_node *rc_evict_victim(struct rc_evict *ev);

struct rc_evict_stats {
    uint64_t nodes, bytes;      /* inserted */
    uint64_t victims;           /* returned by rc_evict_victim */
    uint64_t mem_bytes;         /* the policy's own memory (ghost, sketch):
                                   at most ~3% of capacity_bytes */
};
void rc_evict_stats(const struct rc_evict *ev, struct rc_evict_stats *st);

#endif
