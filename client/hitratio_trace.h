/*
 * hitratio_trace.h - cache traces generated from a seed, and what an
 * offline cache could do with them (Belady, an upper bound, LRU).
 *
 * Pure: no sockets, no libuv, no SQLite, so the unit tests link it alone.
 * ringcache-hitratio (client/hitratio.c) replays these traces against a
 * RESP server; this file says what the key sequence is and what the best
 * possible hit ratio for it would be, so the replayed figure has a limit
 * to be read against.
 *
 * Generator (deterministic for a seed):
 *   - popularity: Zipf(alpha) over ranks 0..keys-1 by inverse CDF (a table
 *     of the cumulative weights, binary-searched with a uniform draw);
 *   - key names: rank r is key id perm[r], perm a Fisher-Yates shuffle of
 *     the ids, so popularity is not ordered by key name;
 *   - scan: one pass over keys/RC_HR_SCAN_DIV new ids (keys, keys+1, ...,
 *     never in the hot set), in ascending order, starting after half of the Zipf requests
 *     and interleaved 1:1 with them until the pass is done;
 *   - shift: after half of the requests, ranks map through a second,
 *     independent permutation (the popular keys change at once);
 *   - sizes: a value size per key id, fixed (100 B) or log-uniform in
 *     100 B..10 KiB from a hash of (seed, id), the same on every request.
 */
#ifndef RC_HITRATIO_TRACE_H
#define RC_HITRATIO_TRACE_H

#include <stdint.h>

#define RC_HR_FIXED_SIZE 100u
#define RC_HR_MIN_SIZE 100u
#define RC_HR_MAX_SIZE 10240u
/* A scan reads keys / RC_HR_SCAN_DIV new keys: with budgets of 1 % and
 * 10 % of the data, twice what the larger cache holds, so it can flush an
 * LRU at either budget without drowning the Zipf requests. */
#define RC_HR_SCAN_DIV 5
/* Bounds that keep every position and id in 32 bits (Belady's heap uses
 * len + id as "never again"), and the tool's memory at a few hundred MiB:
 * 4 B per request for the trace, 16 B more while the bounds are computed,
 * 20 B per key id. */
#define RC_HR_MAX_KEYS (1u << 26)
#define RC_HR_MAX_REQUESTS (1u << 28)

enum rc_hr_kind { RC_HR_ZIPF, RC_HR_SCAN, RC_HR_SHIFT };

struct rc_hr_trace_cfg {
    uint64_t seed;
    double alpha;          /* Zipf exponent, > 0 */
    uint32_t keys;         /* hot key space */
    uint32_t requests;     /* Zipf requests; a scan adds keys/RC_HR_SCAN_DIV more */
    enum rc_hr_kind kind;
    int mixed;             /* 0: every value RC_HR_FIXED_SIZE bytes */
    uint32_t key_bytes;    /* bytes of a key name, counted in each entry's cost */
};

/*
 * A trace: key ids, one per request, and a value size per id. Tests may
 * fill one by hand (key, len, ids, size, key_bytes) for the simulators.
 */
struct rc_hr_trace {
    uint32_t *key;       /* key id of each request, < ids */
    uint32_t len;
    uint32_t ids;        /* number of key ids (hot keys + scan keys) */
    uint32_t *size;      /* value bytes per id */
    uint32_t key_bytes;
    uint64_t data_bytes; /* sum of the hot keys' costs: what a budget is a share of */
};

/* Builds the trace for cfg into *t (caller closes). 0, RC_EINVAL for a
 * configuration out of bounds, RC_ENOMEM; on failure *t is empty. */
int rc_hr_trace_init(struct rc_hr_trace *t, const struct rc_hr_trace_cfg *cfg);
void rc_hr_trace_close(struct rc_hr_trace *t);

/* Bytes an entry for id takes against a budget: key name plus value. */
uint64_t rc_hr_cost(const struct rc_hr_trace *t, uint32_t id);

/* Value size of id under (seed, mixed): the generator's rule, exposed for
 * the replay tool, which only needs sizes. */
uint32_t rc_hr_value_size(uint64_t seed, uint32_t id, int mixed);

/*
 * Offline simulators over t with a byte budget; each stores the number of
 * hits in *hits. 0, RC_EINVAL (trace too long for 32-bit positions),
 * RC_ENOMEM.
 *
 * rc_hr_belady: on a miss the entry is admitted, then while the cache is
 * over budget the entry whose next use is farthest is dropped (possibly
 * the one just admitted: a bypass). With equal costs this is Belady's MIN,
 * the optimal hit count. With mixed sizes it is a feasible offline policy,
 * so its count is a LOWER bound on the optimum, not the optimum.
 *
 * rc_hr_opt_upper: an UPPER bound on any cache's hits with this budget
 * (Berger et al., SIGMETRICS 2018, "PFOO-U"): a hit on a reuse of id after
 * L requests needs cost(id) bytes held for L steps; the cache offers
 * budget * len byte-steps in all, and the cheapest reuses are granted first.
 *
 * rc_hr_lru: exact LRU with the same byte budget (the reference a real
 * LRU is compared with, and the floor Belady must beat).
 */
int rc_hr_belady(const struct rc_hr_trace *t, uint64_t budget, uint64_t *hits);
int rc_hr_opt_upper(const struct rc_hr_trace *t, uint64_t budget, uint64_t *hits);
int rc_hr_lru(const struct rc_hr_trace *t, uint64_t budget, uint64_t *hits);

/* Per-entry bytes a simulated policy charges on top of key and value:
 * what the memory engine spends on one entry besides them (its node with
 * the eviction links, the hash table slot, version and expiry, allocator
 * rounding, its share of the ghost tables), so that the policies are
 * compared holding as many entries as a real node would. Measured:
 * common/memkv.c under allkeys-s3fifo with an 11.3 MB budget, 10-byte keys
 * and 100-byte values, evicting steadily, holds 55,972 keys in
 * 11,299,928 bytes of mem_bytes, 201.9 bytes a key, 91.9 besides key and
 * value (100.4 with the 32-byte evict node, before which this said 90).
 * An estimate for other sizes: the memory engine's own accounting decides
 * in the server. */
#define RC_HR_ENTRY_OVERHEAD 92u

/*
 * rc_hr_policy: the trace through one eviction policy of common/evict.c
 * (enum rc_evict_policy) as an application cache uses it: a GET, and on a
 * miss a SET, which first evicts victims while the new entry would pass
 * the budget; each entry charges its cost plus overhead bytes, and the
 * policy's capacity is the budget. The policy samples from a dense array
 * of the entries (swap-remove), uniform as the memory engine's sampler.
 * 0, RC_EINVAL (policy that does not evict, or a volatile-* one: the trace
 * has no expiry times), RC_ENOMEM.
 */
int rc_hr_policy(const struct rc_hr_trace *t, uint64_t budget, int policy, uint32_t overhead,
                 uint64_t seed, uint64_t *hits);

#endif
