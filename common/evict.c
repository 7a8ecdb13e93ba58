/*
 * evict.c - cache eviction policies (see evict.h).
 *
 * Every inserted node sits in exactly one of four intrusive lists, whatever
 * the policy: MAIN (the LRU list of the Redis policies, S3-FIFO's main
 * FIFO, W-TinyLFU's probation segment), SMALL (S3-FIFO's small FIFO),
 * WINDOW and PROT (W-TinyLFU's window and protected segment). Each list
 * keeps its own byte and node counts, so the queue targets are exact. A
 * policy switch moves nothing: the lists a policy does not use ("foreign"
 * ones, left over from the previous policy) are read as one of its own
 * queues and drained first, and a hit moves a node into the policy's own
 * list, so the new order settles as entries are read, inserted and
 * evicted. This is why node->epoch stays unused: no node ever holds a
 * stale list number.
 *
 * The sampled policies (allkeys-lfu, volatile-*) keep Redis's eviction
 * pool: the best candidates seen by earlier calls, as node pointers. Every
 * way a node leaves the policy (remove, replace, victim) goes through
 * pool_forget, so the pool never holds a pointer to a node the caller
 * may have freed; scores are recomputed at each call since a pooled node
 * may have been read since.
 */
#include "evict.h"
#include "err.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { Q_MAIN, Q_SMALL, Q_WINDOW, Q_PROT, NQ };

/* Redis's maxmemory-samples default: 5 gets close to exact LRU/LFU at
 * a fraction of the cost (Redis docs, "Approximated LRU algorithm"). */
#define SAMPLES 5
/* Redis's EVPOOL_SIZE: the best candidates kept across calls. */
#define POOL 16
/* Sample calls per victim before volatile-* gives up (NULL: the caller
 * answers FULL, as Redis answers OOM when no key has a TTL). 64 calls of
 * 5 nodes find a volatile node unless fewer than ~1% of entries have one. */
#define MAX_SAMPLE_CALLS 64
/* S3-FIFO moves (small to main) and reinsertions (main) per victim: past
 * this the current tail is evicted whatever its counter, so a call stays
 * bounded even when every node was read lately (counters stop at 3, so a
 * call rarely needs more than a handful). */
#define MAX_STEPS 64

/* Redis's LFU: lfu-log-factor 10 (about 1M reads saturate the counter)
 * and LFU_INIT_VAL 5 (a new key is not evicted before it had a chance). */
#define LFU_LOG_FACTOR 10
#define LFU_INIT 5
/* Redis decays an LFU counter by one per lfu-decay-time (1 minute). We
 * have no clock: time is the access count (inserts and hits), and one
 * decay period is LFU_PERIOD_PER_NODE accesses per inserted node (at
 * least LFU_MIN_PERIOD): the time in which a uniformly read cache reads
 * each entry 16 times. Measured offline (ringcache-hitratio --simulate,
 * docs/benchmarks.md): one access per node decays so fast that LFU is no
 * better than LRU on Zipf traces; 16 gains 5-9 points there; 64 and more
 * gain little more on Zipf and lose up to 5 points when popularity
 * shifts (old counts linger). */
#define LFU_PERIOD_PER_NODE 16
#define LFU_MIN_PERIOD 1024

/* S3-FIFO (Yang et al., SOSP 2023; libCacheSim S3FIFO.c): the small queue
 * holds 10% of the bytes; a small-queue node read at least twice moves to
 * main (move-to-main-threshold=2); counters saturate at 3. */
#define S3_SMALL_PCT 10
#define S3_PROMOTE 2
#define S3_MAX_FREQ 3
/* One ghost slot (8 bytes) per 256 bytes of capacity: ~3% of the budget,
 * enough to remember as many keys as main holds when entries average 256
 * bytes or more (smaller entries: the ghost forgets sooner). */
#define GHOST_BYTES_PER_SLOT 256
#define GHOST_WAYS 4
#define GHOST_MIN_SLOTS 64
/* 2 GiB, reached at a 64 GiB budget: a bound for absurd capacities (a
 * budget meaning "no limit"), not a size anyone should run. */
#define GHOST_MAX_SLOTS (1u << 28)

/* W-TinyLFU (Einziger et al.; Caffeine): 1% window, main split 20%
 * probation / 80% protected. */
#define W_WINDOW_PCT 1
#define W_PROT_PCT 80
/* The sketch is sized for capacity / 64 entries: 4 rows of 4-bit counters,
 * 2 bytes per 64 bytes of budget, ~3% (the ghost's share under S3-FIFO).
 * Its counters see every key read, not only the cached ones, so it needs
 * more columns than the cache has entries: measured offline with 100 B
 * values (~200 B entries), 64 gains up to 0.6 hit-ratio points over 128;
 * 16 gains up to 1 more but takes 12% of the budget. It is halved after
 * 10 increments per entry actually held (Caffeine's sample size, 10 x
 * maximum entries), which ages out old popularity: counted against the
 * nodes, not the assumed entries, so that large entries (fewer of them)
 * age as fast. */
#define SKETCH_BYTES_PER_ENTRY 64
#define SKETCH_ROWS 4
#define SKETCH_MIN_WIDTH 64
#define SKETCH_MAX_WIDTH (1u << 28)
#define SKETCH_SAMPLE_FACTOR 10
/* Halving is spread over increments, 8 words (128 counters) a call, so no
 * call walks the table; a sweep ends long before the next one is due. */
#define SKETCH_RESET_WORDS 8
/* Caffeine's admission: a candidate at least this frequent gets a 1/128
 * chance against an equally or more frequent victim, so an attacker cannot
 * pin the victim by flooding colliding hashes. */
#define ADMIT_HASHDOS_FREQ 6
/* Protected overflow demoted to probation per hit. */
#define MAX_DEMOTE 4

struct queue {
    struct rc_evict_node head; /* sentinel: head.next newest, head.prev oldest */
    uint64_t bytes, nodes;
};

struct ghost_slot {
    uint32_t fp;  /* folded key hash, 0 = free */
    uint32_t seq; /* ghost insertion number */
};

struct ghost {
    struct ghost_slot *slots;
    size_t nbuckets; /* of GHOST_WAYS slots */
    uint32_t seq;
};

struct sketch {
    uint64_t *words; /* SKETCH_ROWS rows of width 4-bit counters */
    uint32_t width;  /* power of two */
    uint64_t additions;
    size_t reset_pos; /* next word to halve, while resetting */
    int resetting;
};

struct rc_evict {
    int policy;
    uint64_t capacity;
    uint64_t rng;
    rc_evict_sample_fn sample;
    rc_evict_expires_fn expires;
    rc_evict_charge_fn charge;
    rc_evict_hash_fn hash;
    void *arg;
    struct queue q[NQ];
    uint64_t nodes, bytes, victims;
    uint32_t clock; /* accesses (inserts and hits), wraps */
    int evicted;    /* a victim was returned since the policy began */
    struct rc_evict_node *pool[POOL];
    size_t npool;
    struct ghost ghost;
    struct sketch sketch, old_sketch; /* old: before a resize, until the new ages */
    uint64_t sketch_seed;
};

static const char *const policy_names[RC_EVICT_NPOLICIES] = {
    "noeviction",     "allkeys-lru",     "allkeys-lfu",  "allkeys-random",
    "volatile-lru",   "volatile-lfu",    "volatile-ttl", "volatile-random",
    "allkeys-s3fifo", "allkeys-wtinylfu",
};

const char *rc_evict_policy_name(int policy)
{
    return policy >= 0 && policy < RC_EVICT_NPOLICIES ? policy_names[policy] : NULL;
}

int rc_evict_policy_parse(const char *name, size_t len)
{
    int p;

    for (p = 0; p < RC_EVICT_NPOLICIES; p++) {
        if (strlen(policy_names[p]) == len && strncasecmp(policy_names[p], name, len) == 0)
            return p;
    }
    return RC_EINVAL;
}

int rc_evict_policy_evicts(int policy)
{
    return policy > RC_EVICT_NOEVICTION && policy < RC_EVICT_NPOLICIES;
}

/* ---- small helpers ---- */

static uint64_t mix64(uint64_t x)
{
    /* splitmix64's finalizer */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rnd64(struct rc_evict *ev)
{
    ev->rng += 0x9e3779b97f4a7c15ull;
    return mix64(ev->rng);
}

static uint32_t fold(uint64_t hash)
{
    return (uint32_t)(hash ^ (hash >> 32));
}

static int is_volatile_policy(int p)
{
    return p == RC_EVICT_VOLATILE_LRU || p == RC_EVICT_VOLATILE_LFU || p == RC_EVICT_VOLATILE_TTL ||
           p == RC_EVICT_VOLATILE_RANDOM;
}

static int is_lfu_policy(int p)
{
    return p == RC_EVICT_ALLKEYS_LFU || p == RC_EVICT_VOLATILE_LFU;
}

/* pct % of cap, rounded down, without overflow for any cap. */
static uint64_t share(uint64_t cap, unsigned pct)
{
    return cap / 100 * pct + cap % 100 * pct / 100;
}

/* The caller's charge and folded hash of a node (evict.h: fixed while it
 * is inserted, so every count adds and subtracts the same value). */
static uint32_t node_charge(const struct rc_evict *ev, const struct rc_evict_node *n)
{
    return ev->charge(ev->arg, n);
}

static uint32_t node_hash(const struct rc_evict *ev, const struct rc_evict_node *n)
{
    return fold(ev->hash(ev->arg, n));
}

static uint8_t small_freq(const struct rc_evict_node *n)
{
    return n->freq < S3_MAX_FREQ ? n->freq : S3_MAX_FREQ;
}

/* ---- lists ---- */

static void q_push(struct rc_evict *ev, int qi, struct rc_evict_node *n, uint32_t charge)
{
    struct queue *q = &ev->q[qi];

    n->prev = &q->head;
    n->next = q->head.next;
    q->head.next->prev = n;
    q->head.next = n;
    q->bytes += charge;
    q->nodes++;
    n->list = (uint8_t)qi;
}

static void q_unlink(struct rc_evict *ev, struct rc_evict_node *n, uint32_t charge)
{
    struct queue *q = &ev->q[n->list];

    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
    q->bytes -= charge;
    q->nodes--;
}

static void q_move(struct rc_evict *ev, struct rc_evict_node *n, int qi)
{
    uint32_t charge = node_charge(ev, n);

    q_unlink(ev, n, charge);
    q_push(ev, qi, n, charge);
}

static struct rc_evict_node *q_tail(const struct rc_evict *ev, int qi)
{
    return ev->q[qi].nodes ? ev->q[qi].head.prev : NULL;
}

/* The tail of the first non-empty list of a and b (a: the foreign one). */
static struct rc_evict_node *tail2(const struct rc_evict *ev, int a, int b)
{
    struct rc_evict_node *t = q_tail(ev, a);

    return t ? t : q_tail(ev, b);
}

/* ---- the eviction pool ---- */

static void pool_forget(struct rc_evict *ev, const struct rc_evict_node *n)
{
    size_t i;

    for (i = 0; i < ev->npool; i++) {
        if (ev->pool[i] == n) {
            ev->pool[i] = ev->pool[--ev->npool];
            return;
        }
    }
}

/* Takes n out of the policy (it stays the caller's). */
static void detach(struct rc_evict *ev, struct rc_evict_node *n)
{
    uint32_t charge = node_charge(ev, n);

    pool_forget(ev, n);
    q_unlink(ev, n, charge);
    ev->nodes--;
    ev->bytes -= charge;
}

/* ---- ghost (S3-FIFO) ---- */

static size_t ghost_buckets(uint64_t capacity)
{
    uint64_t slots = capacity / GHOST_BYTES_PER_SLOT;

    if (slots < GHOST_MIN_SLOTS)
        slots = GHOST_MIN_SLOTS;
    if (slots > GHOST_MAX_SLOTS)
        slots = GHOST_MAX_SLOTS;
    return (size_t)slots / GHOST_WAYS;
}

static int ghost_alloc(struct ghost *g, uint64_t capacity)
{
    g->nbuckets = ghost_buckets(capacity);
    g->slots = calloc(g->nbuckets * GHOST_WAYS, sizeof(*g->slots));
    g->seq = 0;
    if (g->slots == NULL)
        g->nbuckets = 0;
    return g->slots ? 0 : RC_ENOMEM;
}

static struct ghost_slot *ghost_bucket(const struct ghost *g, uint32_t fp)
{
    /* Lemire's multiply-shift maps the mixed hash onto any bucket count. */
    uint64_t b = ((mix64(fp) >> 32) * (uint64_t)g->nbuckets) >> 32;

    return &g->slots[b * GHOST_WAYS];
}

static uint32_t ghost_fp(uint32_t h)
{
    return h ? h : 1;
}

/* How many of the latest ghost insertions count as remembered: about as
 * many entries as the main queue holds when full (S3-FIFO's ghost), from
 * the average charge of the inserted nodes. */
static uint64_t ghost_limit(const struct rc_evict *ev)
{
    uint64_t main_cap = ev->capacity - share(ev->capacity, S3_SMALL_PCT);
    uint64_t avg = ev->nodes ? ev->bytes / ev->nodes : 1;

    return main_cap / (avg ? avg : 1);
}

static void ghost_add(struct rc_evict *ev, uint32_t h)
{
    struct ghost *g = &ev->ghost;
    struct ghost_slot *b, *pick;
    int i;

    if (g->slots == NULL)
        return;
    b = pick = ghost_bucket(g, ghost_fp(h));
    g->seq++;
    for (i = 0; i < GHOST_WAYS; i++) {
        if (b[i].fp == ghost_fp(h) || b[i].fp == 0) {
            pick = &b[i];
            break;
        }
        if ((uint32_t)(g->seq - b[i].seq) > (uint32_t)(g->seq - pick->seq))
            pick = &b[i];
    }
    pick->fp = ghost_fp(h);
    pick->seq = g->seq;
}

/* 1 (and forgets it) when h was evicted from small recently enough. */
static int ghost_take(struct rc_evict *ev, uint32_t h)
{
    struct ghost *g = &ev->ghost;
    struct ghost_slot *b;
    uint64_t limit = ghost_limit(ev);
    int i;

    if (g->slots == NULL)
        return 0;
    b = ghost_bucket(g, ghost_fp(h));
    for (i = 0; i < GHOST_WAYS; i++) {
        if (b[i].fp == ghost_fp(h)) {
            int live = (uint32_t)(g->seq - b[i].seq) < limit;

            b[i].fp = 0;
            return live;
        }
    }
    return 0;
}

/* ---- count-min sketch (W-TinyLFU) ---- */

static uint32_t sketch_width(uint64_t capacity)
{
    uint64_t entries = capacity / SKETCH_BYTES_PER_ENTRY;
    uint32_t w = SKETCH_MIN_WIDTH;

    while ((uint64_t)w * 2 <= entries && w < SKETCH_MAX_WIDTH)
        w *= 2;
    return w;
}

static int sketch_alloc(struct sketch *s, uint64_t capacity)
{
    memset(s, 0, sizeof(*s));
    s->width = sketch_width(capacity);
    s->words = calloc((size_t)s->width * SKETCH_ROWS / 16, sizeof(uint64_t));
    return s->words ? 0 : RC_ENOMEM;
}

static size_t sketch_words(const struct sketch *s)
{
    return s->words ? (size_t)s->width * SKETCH_ROWS / 16 : 0;
}

/* The counter positions of h, one per row. */
static void sketch_pos(const struct sketch *s, uint64_t seed, uint32_t h, size_t pos[SKETCH_ROWS])
{
    uint64_t a = mix64(h ^ seed), b = mix64(a);
    uint32_t idx[SKETCH_ROWS] = {(uint32_t)a, (uint32_t)(a >> 32), (uint32_t)b,
                                 (uint32_t)(b >> 32)};
    int r;

    for (r = 0; r < SKETCH_ROWS; r++)
        pos[r] = (size_t)r * s->width + (idx[r] & (s->width - 1));
}

static unsigned counter_get(const struct sketch *s, size_t p)
{
    return (unsigned)(s->words[p >> 4] >> ((p & 15) * 4)) & 15;
}

static unsigned sketch_estimate(const struct sketch *s, uint64_t seed, uint32_t h)
{
    size_t pos[SKETCH_ROWS];
    unsigned m = 15, c;
    int r;

    if (s->words == NULL)
        return 0;
    sketch_pos(s, seed, h, pos);
    for (r = 0; r < SKETCH_ROWS; r++) {
        c = counter_get(s, pos[r]);
        m = c < m ? c : m;
    }
    return m;
}

static void sketch_halve_some(struct rc_evict *ev)
{
    struct sketch *s = &ev->sketch;
    size_t end = s->reset_pos + SKETCH_RESET_WORDS, n = sketch_words(s);

    for (; s->reset_pos < end && s->reset_pos < n; s->reset_pos++)
        s->words[s->reset_pos] = (s->words[s->reset_pos] >> 1) & 0x7777777777777777ull;
    if (s->reset_pos >= n)
        s->resetting = 0;
}

static void sketch_increment(struct rc_evict *ev, uint32_t h)
{
    struct sketch *s = &ev->sketch;
    size_t pos[SKETCH_ROWS];
    uint64_t held;
    int r, added = 0;

    if (s->words == NULL)
        return;
    if (s->resetting)
        sketch_halve_some(ev);
    sketch_pos(s, ev->sketch_seed, h, pos);
    for (r = 0; r < SKETCH_ROWS; r++) {
        if (counter_get(s, pos[r]) < 15) {
            s->words[pos[r] >> 4] += 1ull << ((pos[r] & 15) * 4);
            added = 1;
        }
    }
    held = ev->nodes > SKETCH_MIN_WIDTH ? ev->nodes : SKETCH_MIN_WIDTH;
    if (added && ++s->additions >= SKETCH_SAMPLE_FACTOR * held && !s->resetting) {
        s->additions /= 2;
        s->resetting = 1;
        s->reset_pos = 0;
        /* The new table now has a period of history: the old one goes. */
        free(ev->old_sketch.words);
        ev->old_sketch.words = NULL;
    }
}

static unsigned frequency(const struct rc_evict *ev, uint32_t h)
{
    unsigned a = sketch_estimate(&ev->sketch, ev->sketch_seed, h);
    unsigned b = sketch_estimate(&ev->old_sketch, ev->sketch_seed, h);

    return a > b ? a : b;
}

/* ---- LFU counter (Redis's evict.c) ---- */

static uint8_t lfu_decayed(const struct rc_evict *ev, const struct rc_evict_node *n)
{
    uint64_t p = ev->nodes * LFU_PERIOD_PER_NODE;
    uint32_t period = p > UINT32_MAX ? UINT32_MAX : (uint32_t)p, periods;

    if (period < LFU_MIN_PERIOD)
        period = LFU_MIN_PERIOD;
    periods = (uint32_t)(ev->clock - n->stamp) / period;

    return periods >= n->freq ? 0 : (uint8_t)(n->freq - periods);
}

static uint8_t lfu_incr(struct rc_evict *ev, uint8_t c)
{
    uint64_t base = c > LFU_INIT ? c - LFU_INIT : 0;
    uint64_t r = rnd64(ev) >> 32;

    /* probability 1 / (base * factor + 1), as Redis's LFULogIncr */
    if (c < 255 && r * (base * LFU_LOG_FACTOR + 1) < (1ull << 32))
        c++;
    return c;
}

/* ---- public: lifecycle ---- */

/* The ghost exists only under S3-FIFO and the sketch only under
 * W-TinyLFU, so that a policy's memory is its own (each ~3% of the
 * budget at most). 0 or RC_ENOMEM (nothing changed). */
static int tables_for(struct rc_evict *ev, int policy)
{
    if (policy == RC_EVICT_ALLKEYS_S3FIFO && ev->ghost.slots == NULL &&
        ghost_alloc(&ev->ghost, ev->capacity) < 0)
        return RC_ENOMEM;
    if (policy == RC_EVICT_ALLKEYS_WTINYLFU && ev->sketch.words == NULL &&
        sketch_alloc(&ev->sketch, ev->capacity) < 0)
        return RC_ENOMEM;
    if (policy != RC_EVICT_ALLKEYS_S3FIFO) {
        free(ev->ghost.slots);
        memset(&ev->ghost, 0, sizeof(ev->ghost));
    }
    if (policy != RC_EVICT_ALLKEYS_WTINYLFU) {
        free(ev->sketch.words);
        free(ev->old_sketch.words);
        memset(&ev->sketch, 0, sizeof(ev->sketch));
        memset(&ev->old_sketch, 0, sizeof(ev->old_sketch));
    }
    return 0;
}

int rc_evict_new(const struct rc_evict_opts *opts, struct rc_evict **out)
{
    struct rc_evict *ev;
    int i;

    *out = NULL;
    if (opts == NULL || opts->policy < 0 || opts->policy >= RC_EVICT_NPOLICIES ||
        opts->sample == NULL || opts->expires == NULL || opts->charge == NULL ||
        opts->hash == NULL)
        return RC_EINVAL;
    ev = calloc(1, sizeof(*ev));
    if (ev == NULL)
        return RC_ENOMEM;
    ev->policy = opts->policy;
    ev->capacity = opts->capacity_bytes;
    ev->rng = opts->seed;
    ev->sketch_seed = mix64(opts->seed ^ 0x5ca1ab1eull);
    ev->sample = opts->sample;
    ev->expires = opts->expires;
    ev->charge = opts->charge;
    ev->hash = opts->hash;
    ev->arg = opts->arg;
    for (i = 0; i < NQ; i++)
        ev->q[i].head.next = ev->q[i].head.prev = &ev->q[i].head;
    if (tables_for(ev, ev->policy) < 0) {
        rc_evict_free(ev);
        return RC_ENOMEM;
    }
    *out = ev;
    return 0;
}

void rc_evict_free(struct rc_evict *ev)
{
    if (ev == NULL)
        return;
    free(ev->ghost.slots);
    free(ev->sketch.words);
    free(ev->old_sketch.words);
    free(ev);
}

int rc_evict_set_policy(struct rc_evict *ev, int policy)
{
    if (policy < 0 || policy >= RC_EVICT_NPOLICIES)
        return RC_EINVAL;
    if (tables_for(ev, policy) < 0)
        return RC_ENOMEM;
    ev->policy = policy;
    ev->npool = 0; /* scores of another policy */
    ev->evicted = ev->victims > 0;
    return 0;
}

int rc_evict_policy(const struct rc_evict *ev)
{
    return ev->policy;
}

void rc_evict_set_capacity(struct rc_evict *ev, uint64_t capacity_bytes)
{
    struct ghost g;
    struct sketch s;

    ev->capacity = capacity_bytes;
    /* A new ghost starts empty (a ghost is only a hint); calloc hands out
     * zero pages, so neither resize walks anything. On allocation failure
     * the old table stays, sized for the old capacity. */
    if (ev->ghost.slots && ghost_buckets(capacity_bytes) != ev->ghost.nbuckets &&
        ghost_alloc(&g, capacity_bytes) == 0) {
        free(ev->ghost.slots);
        ev->ghost = g;
    }
    /* The old sketch keeps answering (the max of both) until the new one
     * has seen a sample period. */
    if (ev->sketch.words && sketch_width(capacity_bytes) != ev->sketch.width &&
        sketch_alloc(&s, capacity_bytes) == 0) {
        free(ev->old_sketch.words);
        ev->old_sketch = ev->sketch;
        ev->sketch = s;
    }
}

/* ---- public: what happens to entries ---- */

/* W-TinyLFU, while the cache fills (no victim yet): the window's overflow
 * moves to probation while main has room. Once the cache evicts, only
 * victim() moves nodes out of the window, through the admission contest:
 * the caller evicts before it inserts, so "main has room" would be true
 * after every eviction and would let every candidate in unopposed. */
static void w_spill_window(struct rc_evict *ev, int max_steps)
{
    uint64_t wtarget = share(ev->capacity, W_WINDOW_PCT);
    uint64_t mtarget = ev->capacity - wtarget;
    struct rc_evict_node *c;
    int i;

    for (i = 0; i < max_steps; i++) {
        c = tail2(ev, Q_SMALL, Q_WINDOW);
        if (c == NULL || ev->q[Q_WINDOW].bytes + ev->q[Q_SMALL].bytes <= wtarget ||
            ev->q[Q_MAIN].bytes + ev->q[Q_PROT].bytes + node_charge(ev, c) > mtarget)
            return;
        q_move(ev, c, Q_MAIN);
    }
}

void rc_evict_insert(struct rc_evict *ev, struct rc_evict_node *n, int flags)
{
    uint32_t charge = node_charge(ev, n);
    int qi = Q_MAIN;

    n->flags = (uint8_t)flags;
    n->stamp = ++ev->clock;
    n->freq = is_lfu_policy(ev->policy) ? LFU_INIT : 0;
    n->epoch = 0;
    ev->nodes++;
    ev->bytes += charge;
    if (ev->policy == RC_EVICT_ALLKEYS_S3FIFO) {
        /* libCacheSim's S3FIFO.c: until the first eviction, a full small
         * queue sends new keys to main (they are as good as any). */
        if (ghost_take(ev, node_hash(ev, n)))
            qi = Q_MAIN;
        else if (!ev->evicted && ev->q[Q_SMALL].bytes >= share(ev->capacity, S3_SMALL_PCT))
            qi = Q_MAIN;
        else
            qi = Q_SMALL;
    } else if (ev->policy == RC_EVICT_ALLKEYS_WTINYLFU) {
        qi = Q_WINDOW;
    }
    q_push(ev, qi, n, charge);
    if (qi == Q_WINDOW && !ev->evicted)
        w_spill_window(ev, 2);
}

void rc_evict_replace(struct rc_evict *ev, struct rc_evict_node *old, struct rc_evict_node *n,
                      int flags)
{
    uint64_t delta = (uint64_t)node_charge(ev, n) - node_charge(ev, old); /* mod 2^64 */
    size_t i;

    /* A node re-charged in place would leave the counts stale: forbidden
     * (evict.h), a new version is a new node. */
    assert(n != old);
    for (i = 0; i < ev->npool; i++) {
        if (ev->pool[i] == old)
            ev->pool[i] = n;
    }
    *n = *old;
    n->prev->next = n;
    n->next->prev = n;
    old->prev = old->next = NULL;
    ev->q[n->list].bytes += delta;
    ev->bytes += delta;
    n->flags = (uint8_t)flags;
}

void rc_evict_remove(struct rc_evict *ev, struct rc_evict_node *n)
{
    detach(ev, n);
}

static void w_hit(struct rc_evict *ev, struct rc_evict_node *n, uint32_t hash)
{
    uint64_t ptarget = share(ev->capacity - share(ev->capacity, W_WINDOW_PCT), W_PROT_PCT);
    struct rc_evict_node *t;
    int i;

    sketch_increment(ev, hash);
    if (n->list == Q_WINDOW || n->list == Q_SMALL) {
        q_move(ev, n, Q_WINDOW);
        return;
    }
    q_move(ev, n, Q_PROT);
    for (i = 0; i < MAX_DEMOTE && ev->q[Q_PROT].bytes > ptarget; i++) {
        t = q_tail(ev, Q_PROT);
        if (t == n)
            break;
        q_move(ev, t, Q_MAIN);
    }
}

void rc_evict_hit(struct rc_evict *ev, struct rc_evict_node *n, uint64_t hash)
{
    switch (ev->policy) {
    case RC_EVICT_ALLKEYS_S3FIFO:
        /* No list move: S3-FIFO's cheap hit. */
        n->freq = (uint8_t)(small_freq(n) < S3_MAX_FREQ ? small_freq(n) + 1 : S3_MAX_FREQ);
        break;
    case RC_EVICT_ALLKEYS_WTINYLFU:
        /* freq too, so that a switch to S3-FIFO keeps what was hot */
        n->freq = (uint8_t)(small_freq(n) < S3_MAX_FREQ ? small_freq(n) + 1 : S3_MAX_FREQ);
        w_hit(ev, n, fold(hash));
        break;
    case RC_EVICT_ALLKEYS_LFU:
    case RC_EVICT_VOLATILE_LFU:
        n->freq = lfu_incr(ev, lfu_decayed(ev, n));
        q_move(ev, n, Q_MAIN);
        break;
    default:
        /* Every Redis policy keeps the LRU list, so a switch to
         * allkeys-lru finds a meaningful order. */
        q_move(ev, n, Q_MAIN);
        break;
    }
    n->stamp = ++ev->clock;
}

void rc_evict_miss(struct rc_evict *ev, uint64_t hash)
{
    if (ev->policy == RC_EVICT_ALLKEYS_WTINYLFU)
        sketch_increment(ev, fold(hash));
}

/* ---- victims ---- */

/* Exact LRU: the list tail. After a switch the other lists may still hold
 * nodes; the tail with the oldest access wins (each list is roughly in
 * access order), until those lists drain. */
static struct rc_evict_node *lru_victim(const struct rc_evict *ev)
{
    struct rc_evict_node *best = NULL, *t;
    int i;

    for (i = 0; i < NQ; i++) {
        t = q_tail(ev, i);
        if (t && (best == NULL ||
                  (uint32_t)(ev->clock - t->stamp) > (uint32_t)(ev->clock - best->stamp)))
            best = t;
    }
    return best;
}

static struct rc_evict_node *random_victim(struct rc_evict *ev, int volatile_only)
{
    struct rc_evict_node *buf[SAMPLES];
    size_t k, i;
    int calls;

    for (calls = 0; calls < MAX_SAMPLE_CALLS; calls++) {
        k = ev->sample(ev->arg, rnd64(ev), buf, volatile_only ? SAMPLES : 1);
        for (i = 0; i < k && i < SAMPLES; i++) {
            if (!volatile_only || (buf[i]->flags & RC_EVICT_VOLATILE))
                return buf[i];
        }
    }
    /* allkeys: the caller's sampler found nothing near; any node will do */
    return volatile_only ? NULL : lru_victim(ev);
}

/* Higher is evicted first. */
static uint64_t score(const struct rc_evict *ev, const struct rc_evict_node *n)
{
    uint32_t age = ev->clock - n->stamp;
    int64_t e;

    switch (ev->policy) {
    case RC_EVICT_ALLKEYS_LFU:
    case RC_EVICT_VOLATILE_LFU:
        return ((uint64_t)(255 - lfu_decayed(ev, n)) << 32) | age;
    case RC_EVICT_VOLATILE_TTL:
        e = ev->expires(ev->arg, n);
        return e > 0 ? UINT64_MAX - (uint64_t)e : 0;
    default:
        return age;
    }
}

static int in_set(struct rc_evict_node *const *set, size_t n, const struct rc_evict_node *x)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (set[i] == x)
            return 1;
    }
    return 0;
}

/* Room for the pool and the samples: a call may bring up to SAMPLES new
 * nodes when the previous ones left us one short; every node a call
 * returns is considered (volatile-ttl: the soonest of all sampled). */
#define CANDIDATES (POOL + 2 * SAMPLES)

/* Fills c[] with the pool and fresh samples; returns how many. */
static size_t gather(struct rc_evict *ev, struct rc_evict_node **c, int volatile_only)
{
    struct rc_evict_node *buf[SAMPLES];
    size_t n = 0, added = 0, k, i;
    int calls;

    for (i = 0; i < ev->npool; i++) {
        if (!volatile_only || (ev->pool[i]->flags & RC_EVICT_VOLATILE))
            c[n++] = ev->pool[i];
    }
    for (calls = 0; added < SAMPLES && calls < MAX_SAMPLE_CALLS; calls++) {
        k = ev->sample(ev->arg, rnd64(ev), buf, SAMPLES);
        for (i = 0; i < k && i < SAMPLES; i++) {
            if ((volatile_only && !(buf[i]->flags & RC_EVICT_VOLATILE)) || in_set(c, n, buf[i]))
                continue;
            c[n++] = buf[i];
            added++;
        }
        /* allkeys: one call's distinct nodes are the sample (Redis). */
        if (!volatile_only && k > 0)
            break;
    }
    return n;
}

/* Redis's evictionPoolPopulate + pick: the best of pool and samples is the
 * victim, the next POOL best stay for the next call. */
static struct rc_evict_node *pool_victim(struct rc_evict *ev)
{
    struct rc_evict_node *c[CANDIDATES], *x;
    uint64_t s[CANDIDATES], sx;
    int volatile_only = is_volatile_policy(ev->policy);
    size_t n = gather(ev, c, volatile_only), i, j;

    if (n == 0)
        return volatile_only ? NULL : lru_victim(ev);
    for (i = 0; i < n; i++) {
        x = c[i];
        sx = score(ev, x);
        for (j = i; j > 0 && s[j - 1] < sx; j--) {
            c[j] = c[j - 1];
            s[j] = s[j - 1];
        }
        c[j] = x;
        s[j] = sx;
    }
    ev->npool = n - 1 < POOL ? n - 1 : POOL;
    memcpy(ev->pool, c + 1, ev->npool * sizeof(*c));
    return c[0];
}

/* S3-FIFO's small queue (after a switch, W-TinyLFU's window drains as part
 * of it): a node read twice moves to main, the first other one is the
 * victim and its hash goes to the ghost. NULL when small ran empty. */
static struct rc_evict_node *s3_evict_small(struct rc_evict *ev, int *steps)
{
    struct rc_evict_node *t;

    while ((t = tail2(ev, Q_WINDOW, Q_SMALL)) != NULL) {
        if (small_freq(t) >= S3_PROMOTE && *steps < MAX_STEPS) {
            ++*steps;
            t->freq = 0; /* libCacheSim: main starts it afresh */
            q_move(ev, t, Q_MAIN);
            continue;
        }
        ghost_add(ev, node_hash(ev, t));
        return t;
    }
    return NULL;
}

/* S3-FIFO's main queue (after a switch, W-TinyLFU's protected segment
 * drains as part of it): a 2-bit CLOCK, read nodes go round again with one
 * count less. */
static struct rc_evict_node *s3_evict_main(struct rc_evict *ev, int steps)
{
    struct rc_evict_node *t;

    while ((t = tail2(ev, Q_PROT, Q_MAIN)) != NULL) {
        if (small_freq(t) > 0 && steps < MAX_STEPS) {
            steps++;
            t->freq = (uint8_t)(small_freq(t) - 1);
            q_move(ev, t, Q_MAIN);
            continue;
        }
        return t;
    }
    return NULL;
}

static struct rc_evict_node *s3_victim(struct rc_evict *ev)
{
    uint64_t small_bytes = ev->q[Q_SMALL].bytes + ev->q[Q_WINDOW].bytes;
    uint64_t main_nodes = ev->q[Q_MAIN].nodes + ev->q[Q_PROT].nodes;
    struct rc_evict_node *v = NULL;
    int steps = 0;

    if ((small_bytes > 0 && small_bytes >= share(ev->capacity, S3_SMALL_PCT)) || main_nodes == 0)
        v = s3_evict_small(ev, &steps);
    return v ? v : s3_evict_main(ev, steps);
}

static int w_admit(struct rc_evict *ev, const struct rc_evict_node *cand,
                   const struct rc_evict_node *victim)
{
    unsigned fc = frequency(ev, node_hash(ev, cand)), fv = frequency(ev, node_hash(ev, victim));

    if (fc > fv)
        return 1;
    return fc >= ADMIT_HASHDOS_FREQ && (rnd64(ev) & 127) == 0;
}

/* W-TinyLFU: while the window is over its share, its oldest node competes
 * with probation's oldest for a place in main (the sketch decides); within
 * its share, main's oldest goes. After a switch, S3-FIFO's small queue
 * drains as part of the window. */
static struct rc_evict_node *w_victim(struct rc_evict *ev)
{
    uint64_t wtarget = share(ev->capacity, W_WINDOW_PCT);
    struct rc_evict_node *c, *v;

    c = tail2(ev, Q_SMALL, Q_WINDOW);
    v = tail2(ev, Q_MAIN, Q_PROT);
    if (c == NULL || v == NULL)
        return c ? c : v;
    if (ev->q[Q_WINDOW].bytes + ev->q[Q_SMALL].bytes <= wtarget)
        return v;
    if (w_admit(ev, c, v)) {
        q_move(ev, c, Q_MAIN);
        return v;
    }
    return c;
}

struct rc_evict_node *rc_evict_victim(struct rc_evict *ev)
{
    struct rc_evict_node *v;

    if (ev->nodes == 0)
        return NULL;
    switch (ev->policy) {
    case RC_EVICT_ALLKEYS_LRU:
        v = lru_victim(ev);
        break;
    case RC_EVICT_ALLKEYS_RANDOM:
        v = random_victim(ev, 0);
        break;
    case RC_EVICT_VOLATILE_RANDOM:
        v = random_victim(ev, 1);
        break;
    case RC_EVICT_ALLKEYS_LFU:
    case RC_EVICT_VOLATILE_LRU:
    case RC_EVICT_VOLATILE_LFU:
    case RC_EVICT_VOLATILE_TTL:
        v = pool_victim(ev);
        break;
    case RC_EVICT_ALLKEYS_S3FIFO:
        v = s3_victim(ev);
        break;
    case RC_EVICT_ALLKEYS_WTINYLFU:
        v = w_victim(ev);
        break;
    default:
        return NULL;
    }
    if (v != NULL) {
        detach(ev, v);
        ev->victims++;
        ev->evicted = 1;
    }
    return v;
}

void rc_evict_stats(const struct rc_evict *ev, struct rc_evict_stats *st)
{
    st->nodes = ev->nodes;
    st->bytes = ev->bytes;
    st->victims = ev->victims;
    st->mem_bytes = sizeof(*ev) + ev->ghost.nbuckets * GHOST_WAYS * sizeof(struct ghost_slot) +
                    (sketch_words(&ev->sketch) + sketch_words(&ev->old_sketch)) * sizeof(uint64_t);
}
