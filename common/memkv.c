/*
 * memkv.c - in-memory storage engine (see memkv.h).
 *
 * Buckets are indexed by the top `bits` bits of the token and each chain
 * is sorted by (token, key), so the buckets in index order hold every
 * entry in ring order. The table doubles when entries outnumber buckets;
 * bucket i then splits into 2i and 2i + 1 by the next token bit, which in
 * a sorted chain is a single cut. The split is incremental (a few buckets
 * per write, as Redis rehashes its dicts), so growing a table of millions
 * never stalls the loop: while it runs, buckets below `moved` live in the
 * new array and the others in the old one.
 *
 * Every change of an open batch is recorded as (old entry, new entry) in
 * an undo log; the replaced entry stays allocated until the commit, so a
 * discard relinks it. Each entry is one allocation: header, expiry time
 * (only when it has one), key, value.
 *
 * Eviction (evict.h): a value's allocation starts with the policy's node
 * (struct vitem), a tombstone's does not (tombstones are never evicted,
 * and are not worth 24 bytes of queue links). Every value linked in a
 * chain is in the policy, expired ones included (cheap victims); an
 * eviction is an undo record like a delete, so a discard relinks the
 * entry and gives it back to the policy. The policy exists from
 * rc_memkv_new (noeviction until told otherwise), so switching to an
 * evicting policy finds every entry already in its queues.
 */
/* XXH3_state_t on the stack (range digests) rather than a heap copy. */
#define XXH_STATIC_LINKING_ONLY
#include "memkv.h"
#include "container_of.h"
#include "err.h"
#include "evghost.h"
#include "evict.h"
#include "expcount.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/*
 * 1024 buckets (8 KiB) to start: small next to any real use, and enough
 * that a test with a handful of keys spreads them. Doubling past
 * LOAD_FACTOR entries per bucket keeps chains at one to two entries (a
 * hash probe plus a short walk, tokens compared before keys) for 4 to 8
 * bytes of bucket per entry. Memory is hit ratio in a cache: at one entry
 * per bucket the array took 8 to 16 bytes of each ~200-byte entry of a
 * budget (measured: 2 % more entries held at 2, for no change in a GET's
 * cost worth measuring next to the hash of the key).
 */
#define MIN_BITS 10
#define LOAD_FACTOR 2
#define MAX_BITS 40

/* Old buckets moved to the new array per write while the table grows:
 * the table has doubled long before entries double again, and each step
 * costs a few cache misses. */
#define MOVE_STEP 8

/* Entries a purge call looks at per row it may delete: a bounded walk
 * (16,000 entries for the default 1,000 rows, ~1 ms) that still goes round
 * a table of a million keys in about a minute at one call per second. */
#define PURGE_LOOK_FACTOR 16

/* value_len of a tombstone. */
#define TOMBSTONE UINT32_MAX

/* Estimate of an allocation's overhead (glibc: an 8-byte header, 16-byte
 * granularity). Counted so that the cap means memory, not payload. */
#define ALLOC_OVERHEAD 16

/* The header of an entry. The expiry time follows it only when it has
 * one (most values do not: 8 bytes saved each), then key, then value. */
struct item {
    struct item *next; /* chain, in (token, key) order */
    uint64_t token;
    uint64_t hlc, node;
    uint32_t klen;      /* key length, | HAS_EXPIRES | HAS_ATTR */
    uint32_t value_len; /* TOMBSTONE for a tombstone */
};

/* klen's top bit (keys are at most RC_MEMKV_MAX_LEN): an int64_t expiry
 * time (absolute ms; a tombstone's purge time) follows the header. */
#define HAS_EXPIRES 0x80000000u
/* klen's next bit (keys are at most RC_MEMKV_MAX_KEY): a uint64_t of
 * attributes (rc_memkv_write_attr) follows the expiry time. Most entries
 * have none, and pay nothing for them. */
#define HAS_ATTR 0x40000000u
#define KLEN_MASK (~(HAS_EXPIRES | HAS_ATTR))

/* A value: the policy's node, then the header (a tombstone is a bare
 * struct item). 64 bytes of header for a value, 48 for a tombstone
 * (always a purge time), 8 more for a value with an expiry time. */
struct vitem {
    struct rc_evict_node ev;
    struct item it;
};

/* What evicting one value frees at least: its header and allocation. */
#define EVICT_MIN_FREE ((int64_t)(sizeof(struct vitem) + ALLOC_OVERHEAD))

/*
 * The ghost (evghost.h) remembers budget / GHOST_FRACTION bytes of
 * evicted versions, 24 bytes each, rounded up to a power of two of them:
 * 0.4% to 0.8% of the budget (every byte of it is a byte less for
 * entries: hit ratio), 1/32 to 1/16 of the entries a budget of 200-byte
 * entries holds. Its buckets keep the newest versions, so what it
 * remembers longest is the eviction of recent writes, which is what it
 * guards against: a read repair, a hint or a stream batch of a write
 * still in flight, arriving within seconds. Clamped to [GHOST_MIN,
 * GHOST_MAX] entries (1.5 KiB .. 96 MiB).
 */
#define GHOST_FRACTION 256
#define GHOST_SLOT 24 /* bytes per version remembered (evghost.c) */
#define GHOST_MIN 64
#define GHOST_MAX (1u << 22)

/* Buckets a sample looks at from its random start: enough to find a few
 * values even in the sparsest table (1,024 buckets at ~0.25 entries each
 * when the table is at its minimum), ~2 KiB of sequential bucket reads
 * at most. */
#define SAMPLE_BUCKETS 256

/* The policy's random generator seed: a constant so that runs repeat
 * (the engine has no clock; the seed only decorrelates samples). */
#define EVICT_SEED 0x5eed0f0ccac4e000ull

struct undo {
    struct item *old; /* replaced or deleted; NULL for a new key */
    struct item *new; /* written; NULL for a delete */
};

struct rc_memkv {
    struct item **tab;   /* 2^bits buckets */
    struct rc_evict *ev; /* the policy: every value linked in a chain */
    struct rc_evghost *ghost; /* NULL until a budget with an evicting policy */
    size_t ghost_entries;     /* the ghost's size asked for (a power of two) */
    int64_t ev_mem;           /* the policy's memory counted in mem_bytes */
    int evicting;             /* the policy evicts (reads are its accesses) */
    uint64_t ev_capacity;     /* the budget the policy is sized for (0: none) */
    struct item **old;   /* while growing: 2^(bits - 1) buckets, or NULL */
    uint64_t moved;      /* old buckets below this are in tab */
    int bits;
    int64_t max_bytes, grace_ms;
    struct rc_memkv_stats st;
    int64_t expiring;    /* entries with an expiry time (purge candidates) */
    struct rc_expcount exp; /* expiry times of the values that have one: live count */
    uint64_t purge_next; /* token where the next purge walk starts */
    struct undo *log;
    size_t nlog, caplog;
    uint64_t pending;
    rc_memkv_drop_fn on_drop; /* told of entries the engine removes itself */
    void *drop_arg;
};

static int is_tomb(const struct item *it)
{
    return it->value_len == TOMBSTONE;
}

/* Bytes of one allocation: a value's carries the policy's node. */
static size_t item_size(size_t key_len, size_t value_len, int tomb, int64_t expires,
                        uint64_t attr)
{
    return (tomb ? sizeof(struct item) : sizeof(struct vitem)) +
           (expires != 0 ? sizeof(int64_t) : 0) + (attr != 0 ? sizeof(uint64_t) : 0) + key_len +
           value_len;
}

size_t rc_memkv_entry_bytes(size_t key_len, size_t value_len, int has_expiry)
{
    return item_size(key_len, value_len, 0, has_expiry ? 1 : 0, 0) + ALLOC_OVERHEAD;
}

static size_t item_key_len(const struct item *it)
{
    return it->klen & KLEN_MASK;
}

static int64_t item_expires(const struct item *it)
{
    return it->klen & HAS_EXPIRES ? *(const int64_t *)(it + 1) : 0;
}

static uint64_t item_attr(const struct item *it)
{
    const uint8_t *p = (const uint8_t *)(it + 1) + (it->klen & HAS_EXPIRES ? sizeof(int64_t) : 0);

    return it->klen & HAS_ATTR ? *(const uint64_t *)p : 0;
}

static const uint8_t *item_key(const struct item *it)
{
    return (const uint8_t *)(it + 1) + (it->klen & HAS_EXPIRES ? sizeof(int64_t) : 0) +
           (it->klen & HAS_ATTR ? sizeof(uint64_t) : 0);
}

static int64_t item_mem(const struct item *it)
{
    return (int64_t)(item_size(item_key_len(it), is_tomb(it) ? 0 : it->value_len, is_tomb(it),
                               item_expires(it), item_attr(it)) +
                     ALLOC_OVERHEAD);
}

static struct rc_evict_node *item_node(struct item *it)
{
    return &container_of(it, struct vitem, it)->ev;
}

static struct item *node_item(const struct rc_evict_node *n)
{
    return &container_of(n, struct vitem, ev)->it;
}

/* A header followed by room for expiry, key and value; NULL when out of
 * memory. */
static struct item *item_alloc(size_t key_len, size_t value_len, int tomb, int64_t expires,
                               uint64_t attr)
{
    struct vitem *v;

    if (tomb)
        return malloc(item_size(key_len, 0, 1, expires, 0));
    v = malloc(item_size(key_len, value_len, 0, expires, attr));
    return v != NULL ? &v->it : NULL;
}

static void item_free(struct item *it)
{
    if (it == NULL)
        return;
    if (is_tomb(it))
        free(it);
    else
        free(container_of(it, struct vitem, it));
}

/* What the policy is told of a value: its memory and whether it expires. */
static uint32_t item_charge(const struct item *it)
{
    int64_t mem = item_mem(it);

    return mem > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)mem;
}

static int item_flags(const struct item *it)
{
    return item_expires(it) > 0 ? RC_EVICT_VOLATILE : 0;
}

static int expired(const struct item *it, int64_t now_ms)
{
    int64_t t = item_expires(it);

    return !is_tomb(it) && t > 0 && t <= now_ms;
}

/* Purge candidate: an expired value or a tombstone past its purge time. */
static int purgeable(const struct item *it, int64_t now_ms)
{
    int64_t t = item_expires(it);

    return t > 0 && t <= now_ms;
}

static void to_entry(const struct item *it, struct rc_memkv_entry *e)
{
    e->key = item_key(it);
    e->key_len = item_key_len(it);
    e->token = it->token;
    e->value = is_tomb(it) ? NULL : e->key + e->key_len;
    e->value_len = is_tomb(it) ? 0 : it->value_len;
    e->hlc = it->hlc;
    e->node = it->node;
    e->expires_ms = item_expires(it);
    e->attr = item_attr(it);
}

/* (token, key) order; keys as SQLite orders blobs. */
static int item_cmp(const struct item *it, uint64_t token, const uint8_t *key, size_t key_len)
{
    size_t it_len, n;
    int c;

    /* Tokens first: a chain walk reads no key until the token matches. */
    if (it->token != token)
        return it->token < token ? -1 : 1;
    it_len = item_key_len(it);
    n = it_len < key_len ? it_len : key_len;
    c = n > 0 ? memcmp(item_key(it), key, n) : 0;
    if (c != 0)
        return c;
    if (it_len != key_len)
        return it_len < key_len ? -1 : 1;
    return 0;
}

/* Adds (sign 1) or removes (sign -1) an entry from the counters. */
static void count_item(struct rc_memkv *m, const struct item *it, int sign)
{
    if (it == NULL)
        return;
    if (is_tomb(it)) {
        m->st.tombstones += sign;
    } else {
        m->st.keys += sign;
        m->st.bytes += sign * (int64_t)(item_key_len(it) + it->value_len);
    }
    if (item_expires(it) > 0)
        m->expiring += sign;
    if (!is_tomb(it))
        rc_expcount_add(&m->exp, item_expires(it), sign);
    m->st.mem_bytes += sign * item_mem(it);
}

/* Room in the expiry table for one more value with an expiry, counted in
 * mem_bytes. Emptied slots are dropped only with no batch open: a discard
 * brings back the times of the entries it restores. 0 or RC_ENOMEM. */
static int reserve_expiry(struct rc_memkv *m, int64_t *grew)
{
    int64_t before = (int64_t)rc_expcount_mem(&m->exp);
    int rv = rc_expcount_reserve(&m->exp, 1, m->nlog == 0);

    *grew = (int64_t)rc_expcount_mem(&m->exp) - before;
    m->st.mem_bytes += *grew;
    return rv;
}

/* ---- buckets ------------------------------------------------------------ */

static int64_t tab_mem(int bits)
{
    return (int64_t)(sizeof(struct item *) << bits) + ALLOC_OVERHEAD;
}

/* The chain holding token, and the last token that chain covers. */
static struct item **slot(const struct rc_memkv *m, uint64_t token, uint64_t *end)
{
    uint64_t i;
    int bits = m->bits;

    if (m->old != NULL) {
        i = token >> (64 - (bits - 1));
        if (i >= m->moved) {
            *end = ((i + 1) << (64 - (bits - 1))) - 1;
            return &m->old[i];
        }
    }
    i = token >> (64 - bits);
    *end = ((i + 1) << (64 - bits)) - 1;
    return &m->tab[i];
}

/* Splits old bucket i into tab[2i] and tab[2i + 1]: the chain is sorted,
 * so the entries whose next token bit is set form its tail. */
static void move_bucket(struct rc_memkv *m, uint64_t i)
{
    uint64_t bit = 1ull << (63 - (m->bits - 1));
    struct item *head = m->old[i], **pp = &head;

    while (*pp != NULL && ((*pp)->token & bit) == 0)
        pp = &(*pp)->next;
    m->tab[2 * i + 1] = *pp;
    *pp = NULL;
    m->tab[2 * i] = head;
    m->old[i] = NULL;
}

static void grow_step(struct rc_memkv *m, int steps)
{
    uint64_t nold;

    if (m->old == NULL)
        return;
    nold = 1ull << (m->bits - 1);
    while (steps-- > 0 && m->moved < nold)
        move_bucket(m, m->moved++);
    if (m->moved == nold) {
        free(m->old);
        m->old = NULL;
        m->st.mem_bytes -= tab_mem(m->bits - 1);
    }
}

/* Starts doubling when entries outnumber buckets. Without memory for the
 * new array, or room for it under the budget (the table is memory too),
 * the chains just get longer; the next write tries again. */
static void maybe_grow(struct rc_memkv *m)
{
    struct item **tab;

    if (m->old != NULL || m->bits >= MAX_BITS ||
        (uint64_t)(m->st.keys + m->st.tombstones) <= ((uint64_t)LOAD_FACTOR << m->bits) ||
        (m->max_bytes > 0 && m->st.mem_bytes + tab_mem(m->bits + 1) > m->max_bytes))
        return;
    tab = calloc((size_t)1 << (m->bits + 1), sizeof(*tab));
    if (tab == NULL)
        return;
    m->old = m->tab;
    m->tab = tab;
    m->bits++;
    m->moved = 0;
    m->st.mem_bytes += tab_mem(m->bits);
}

/* The link that points at key's entry, or where it would be inserted. */
static struct item **find(const struct rc_memkv *m, uint64_t token, const uint8_t *key,
                          size_t key_len)
{
    uint64_t end;
    struct item **pp = slot(m, token, &end);

    while (*pp != NULL && item_cmp(*pp, token, key, key_len) < 0)
        pp = &(*pp)->next;
    return pp;
}

/* key's entry or NULL, and in *link the link find returns, in one walk
 * (the entry's key compared once). */
static struct item *lookup(const struct rc_memkv *m, uint64_t token, const uint8_t *key,
                           size_t key_len, struct item ***link)
{
    uint64_t end;
    struct item **pp = slot(m, token, &end);
    int c = 1;

    while (*pp != NULL && (c = item_cmp(*pp, token, key, key_len)) < 0)
        pp = &(*pp)->next;
    *link = pp;
    return *pp != NULL && c == 0 ? *pp : NULL;
}

/* ---- the policy's view ---------------------------------------------------- */

/* Appends the values of chain it to out (n of max used). */
static size_t sample_chain(const struct item *it, struct rc_evict_node **out, size_t n, size_t max)
{
    for (; it != NULL && n < max; it = it->next)
        if (!is_tomb(it))
            out[n++] = item_node((struct item *)it);
    return n;
}

/* rc_evict_sample_fn: the values of the chains from the bucket of rnd on,
 * in at most SAMPLE_BUCKETS buckets (fewer than the smallest table has,
 * so no bucket is seen twice). Every value in a chain is in the policy.
 * A table not growing is walked by index (the common case, ~2x cheaper
 * than a lookup per bucket). */
static size_t sample_values(void *arg, uint64_t rnd, struct rc_evict_node **out, size_t max)
{
    const struct rc_memkv *m = arg;
    uint64_t t = rnd, end, i, mask = (1ull << m->bits) - 1;
    size_t n = 0;
    int b;

    if (m->old == NULL) {
        for (b = 0, i = rnd >> (64 - m->bits); b < SAMPLE_BUCKETS && n < max; b++, i = (i + 1) & mask)
            n = sample_chain(m->tab[i], out, n, max);
        return n;
    }
    for (b = 0; b < SAMPLE_BUCKETS && n < max; b++) {
        n = sample_chain(*slot(m, t, &end), out, n, max);
        t = end + 1; /* past the top bucket: 0, round the ring */
    }
    return n;
}

/* rc_evict_expires_fn. */
static int64_t value_expires(void *arg, const struct rc_evict_node *n)
{
    (void)arg;
    return item_expires(node_item(n));
}

/* rc_evict_charge_fn: an item's size never changes (a write allocates a
 * new item), and old stays allocated until the commit or the discard
 * that frees it has told the policy, as evict.h asks. */
static uint32_t value_charge(void *arg, const struct rc_evict_node *n)
{
    (void)arg;
    return item_charge(node_item(n));
}

/* rc_evict_hash_fn: the token, as reads pass it to rc_evict_hit. */
static uint64_t value_hash(void *arg, const struct rc_evict_node *n)
{
    (void)arg;
    return node_item(n)->token;
}

/* Tells the policy that new took old's place in a chain (either may be
 * NULL or a tombstone; values only are the policy's). */
static void policy_swap(struct rc_memkv *m, struct item *old, struct item *new)
{
    int ov = old != NULL && !is_tomb(old), nv = new != NULL && !is_tomb(new);

    if (ov && nv)
        rc_evict_replace(m->ev, item_node(old), item_node(new), item_flags(new));
    else if (ov)
        rc_evict_remove(m->ev, item_node(old));
    else if (nv)
        rc_evict_insert(m->ev, item_node(new), item_flags(new));
}

/* Brings the policy's own memory (its ghost queue, its sketch) into
 * mem_bytes: it changes as the policy works, not through this file. */
static void sync_ev_mem(struct rc_memkv *m)
{
    struct rc_evict_stats es;

    rc_evict_stats(m->ev, &es);
    m->st.mem_bytes += (int64_t)es.mem_bytes - m->ev_mem;
    m->ev_mem = (int64_t)es.mem_bytes;
}

/* Versions the ghost remembers for a budget (GHOST_FRACTION), a power of
 * two as evghost.c rounds it. */
static size_t ghost_target(int64_t max_bytes)
{
    uint64_t want = (uint64_t)max_bytes / GHOST_FRACTION / GHOST_SLOT;
    size_t n = GHOST_MIN;

    while (n < want && n < GHOST_MAX)
        n *= 2;
    return n;
}

/* A ghost sized for the budget, when there is none or the budget moved
 * past another power of two (the old one is dropped: forgetting is safe,
 * evghost.h). 0, or RC_ENOMEM with the old ghost kept. */
static int size_ghost(struct rc_memkv *m)
{
    size_t want = ghost_target(m->max_bytes);
    struct rc_evghost *g;

    if (m->ghost != NULL && m->ghost_entries == want)
        return 0;
    if (rc_evghost_new(want, &g) < 0)
        return RC_ENOMEM;
    if (m->ghost != NULL)
        m->st.mem_bytes -= (int64_t)(rc_evghost_mem(m->ghost) + ALLOC_OVERHEAD);
    rc_evghost_free(m->ghost);
    m->ghost = g;
    m->ghost_entries = want;
    m->st.mem_bytes += (int64_t)(rc_evghost_mem(g) + ALLOC_OVERHEAD);
    return 0;
}

/* ---- the engine -------------------------------------------------------- */

int rc_memkv_new(int64_t max_bytes, int64_t grace_ms, struct rc_memkv **out)
{
    struct rc_memkv *m = calloc(1, sizeof(*m));
    /* Capacity 0: noeviction needs no ghost or sketch (set_evict). */
    struct rc_evict_opts o = {RC_EVICT_NOEVICTION,
                              0,
                              EVICT_SEED,
                              sample_values,
                              value_expires,
                              value_charge,
                              value_hash,
                              m};

    *out = NULL;
    if (m == NULL)
        return RC_ENOMEM;
    m->tab = calloc((size_t)1 << MIN_BITS, sizeof(*m->tab));
    if (m->tab == NULL || rc_evict_new(&o, &m->ev) < 0) {
        free(m->tab);
        free(m);
        return RC_ENOMEM;
    }
    m->bits = MIN_BITS;
    rc_expcount_init(&m->exp);
    m->max_bytes = max_bytes > 0 ? max_bytes : 0;
    m->grace_ms = grace_ms;
    m->st.mem_bytes = (int64_t)sizeof(*m) + tab_mem(MIN_BITS);
    m->st.max_bytes = m->max_bytes;
    m->st.policy = RC_EVICT_NOEVICTION;
    sync_ev_mem(m);
    *out = m;
    return 0;
}

int rc_memkv_set_evict(struct rc_memkv *m, int64_t max_bytes, int policy)
{
    uint64_t cap;
    int err;

    if (policy < 0 || policy >= RC_EVICT_NPOLICIES)
        return RC_EINVAL;
    err = rc_evict_set_policy(m->ev, policy); /* its own table: RC_ENOMEM */
    if (err < 0)
        return err;
    if (max_bytes >= 0) {
        m->max_bytes = max_bytes;
        m->st.max_bytes = max_bytes;
    }
    m->st.policy = policy;
    m->evicting = rc_evict_policy_evicts(policy);
    /* The policy sizes its ghost and sketch for the budget it evicts
     * under; noeviction keeps the smallest (memory the budget then holds
     * data in). Resized only on a change: each resize allocates. */
    cap = m->evicting && m->max_bytes > 0 ? (uint64_t)m->max_bytes : 0;
    if (cap != m->ev_capacity) {
        rc_evict_set_capacity(m->ev, cap);
        m->ev_capacity = cap;
    }
    /* Without memory for it now, the first eviction asks again. */
    if (m->evicting && m->max_bytes > 0)
        (void)size_ghost(m);
    sync_ev_mem(m);
    return 0;
}

static void free_chain(struct item *it)
{
    struct item *next;

    for (; it != NULL; it = next) {
        next = it->next;
        item_free(it);
    }
}

void rc_memkv_free(struct rc_memkv *m)
{
    uint64_t i;

    if (m == NULL)
        return;
    rc_memkv_commit(m); /* frees what the batch replaced */
    for (i = 0; i < (1ull << m->bits); i++)
        free_chain(m->tab[i]);
    if (m->old != NULL)
        for (i = m->moved; i < (1ull << (m->bits - 1)); i++)
            free_chain(m->old[i]);
    free(m->tab);
    free(m->old);
    free(m->log);
    rc_expcount_close(&m->exp);
    rc_evict_free(m->ev);
    rc_evghost_free(m->ghost);
    free(m);
}

/* A read is the policy's access; under noeviction the order does not
 * matter yet (it settles after a switch), so reads skip the policy. */
int rc_memkv_evicted(const struct rc_memkv *m, uint64_t token, uint64_t *hlc, uint64_t *node)
{
    return m->ghost != NULL && rc_evghost_get(m->ghost, token, hlc, node);
}

int rc_memkv_get(struct rc_memkv *m, uint64_t token, const uint8_t *key, size_t key_len,
                 int64_t now_ms, struct rc_memkv_entry *e)
{
    struct item **pp, *it = lookup(m, token, key, key_len, &pp);

    if (it == NULL || expired(it, now_ms)) {
        if (m->evicting)
            rc_evict_miss(m->ev, token);
        return RC_ENOTFOUND;
    }
    if (m->evicting) {
        if (is_tomb(it))
            rc_evict_miss(m->ev, token);
        else
            rc_evict_hit(m->ev, item_node(it), token);
    }
    to_entry(it, e);
    return 0;
}

/* Room for one more undo record. */
static int log_reserve(struct rc_memkv *m)
{
    struct undo *log;
    size_t cap;

    if (m->nlog < m->caplog)
        return 0;
    cap = m->caplog ? m->caplog * 2 : 64;
    log = realloc(m->log, cap * sizeof(*log));
    if (log == NULL)
        return RC_ENOMEM;
    m->log = log;
    m->caplog = cap;
    return 0;
}

/* Records a change made in the chains (room reserved by log_reserve) and
 * moves the counters from old to new. */
static void record(struct rc_memkv *m, struct item *old, struct item *new)
{
    m->log[m->nlog].old = old;
    m->log[m->nlog].new = new;
    m->nlog++;
    count_item(m, old, -1);
    count_item(m, new, 1);
}

/* Tells the owner that an entry left the table other than by a write. */
static void notify_drop(struct rc_memkv *m, const struct item *it)
{
    if (m->on_drop != NULL)
        m->on_drop(m->drop_arg, it->token, item_key(it), item_key_len(it));
}

/* ---- eviction ------------------------------------------------------------ */

/*
 * Evicts the policy's next victim in the batch: unlinked, recorded as a
 * delete (a discard relinks it and gives it back to the policy), its
 * version remembered by the ghost. keep (the entry a write is replacing,
 * whose undo record is still to come) is never evicted: it goes back to
 * the policy. 1 evicted, 2 kept, 0 no victim, RC_ENOMEM.
 */
static int evict_one(struct rc_memkv *m, const struct item *keep)
{
    struct rc_evict_node *n;
    struct item *it, **pp;

    if (log_reserve(m) < 0 || (m->ghost == NULL && size_ghost(m) < 0))
        return RC_ENOMEM;
    n = rc_evict_victim(m->ev);
    if (n == NULL)
        return 0;
    it = node_item(n);
    if (it == keep) {
        rc_evict_insert(m->ev, n, item_flags(it));
        return 2;
    }
    pp = find(m, it->token, item_key(it), item_key_len(it));
    *pp = it->next; /* find stops at the entry itself */
    record(m, it, NULL);
    notify_drop(m, it);
    rc_evghost_add(m->ghost, it->token, it->hlc, it->node);
    m->st.evicted++;
    m->st.evicted_bytes += (int64_t)item_key_len(it) + it->value_len;
    return 1;
}

/*
 * Room under the budget for grow more bytes, evicting at most
 * RC_MEMKV_EVICT_PER_WRITE values but not keep. Enough is back within the
 * budget or, when the engine was already above it (its own tables grew:
 * the expiry table, the ghost; a lowered budget), no larger than before
 * the write: each write then frees more than it adds, so the engine
 * converges instead of refusing every write (an RC_EFULL would give the
 * evictions back with the batch). The number evicted (links into the
 * chains may have moved), RC_EFULL or RC_ENOMEM.
 */
static int make_room(struct rc_memkv *m, int64_t grow, const struct item *keep, int max_evict)
{
    int64_t before;
    int tries, r, n = 0;

    if (m->max_bytes <= 0 || grow <= 0 || m->st.mem_bytes + grow <= m->max_bytes)
        return 0;
    if (!m->evicting)
        return RC_EFULL;
    sync_ev_mem(m);
    before = m->st.mem_bytes;
    for (tries = 0; tries < max_evict && m->st.mem_bytes + grow > m->max_bytes; tries++) {
        r = evict_one(m, keep);
        if (r < 0)
            return r;
        if (r == 0)
            break;
        n += r == 1;
    }
    if (m->st.mem_bytes + grow > m->max_bytes && m->st.mem_bytes + grow > before)
        return RC_EFULL;
    return n;
}

int rc_memkv_evict(struct rc_memkv *m, int max_rows, int *evicted)
{
    int r, n = 0;

    *evicted = 0;
    if (m->max_bytes <= 0 || !m->evicting)
        return 0;
    sync_ev_mem(m);
    while (n < max_rows && m->st.mem_bytes > m->max_bytes) {
        r = evict_one(m, NULL);
        if (r < 0) {
            rc_memkv_discard(m);
            return r;
        }
        if (r == 0)
            break;
        n++;
    }
    if (n > 0)
        m->pending++;
    *evicted = n;
    return 0;
}

/* ---- writes and batches ---------------------------------------------------- */

/* Whether a write of (hlc, node) must be ignored: an older version than
 * the live entry's, or a value for a key not held whose eviction at a
 * version at least as new the ghost remembers (a tombstone always goes
 * in: a delete is never lost). */
static int write_ignored(struct rc_memkv *m, const struct item *old, int is_value,
                         uint64_t token, uint64_t hlc, uint64_t node, int64_t now_ms)
{
    if (old != NULL)
        return !expired(old, now_ms) &&
               (hlc < old->hlc || (hlc == old->hlc && node <= old->node));
    if (is_value && m->ghost != NULL && rc_evghost_covers(m->ghost, token, hlc, node)) {
        m->st.ghost_refused++;
        return 1;
    }
    return 0;
}

static void fill_item(struct item *it, uint64_t token, const uint8_t *key, size_t key_len,
                      const uint8_t *value, size_t value_len, uint64_t hlc, uint64_t node,
                      int64_t expires, uint64_t attr)
{
    uint8_t *data = (uint8_t *)(it + 1);

    it->token = token;
    it->hlc = hlc;
    it->node = node;
    it->klen = (uint32_t)key_len | (expires != 0 ? HAS_EXPIRES : 0) | (attr != 0 ? HAS_ATTR : 0);
    it->value_len = value != NULL ? (uint32_t)value_len : TOMBSTONE;
    if (expires != 0) {
        *(int64_t *)data = expires;
        data += sizeof(int64_t);
    }
    if (attr != 0) {
        *(uint64_t *)data = attr;
        data += sizeof(uint64_t);
    }
    if (key_len > 0)
        memcpy(data, key, key_len);
    if (value != NULL && value_len > 0)
        memcpy(data + key_len, value, value_len);
}

/* rc_memkv_write; a tombstone's purge time is tomb_exp when it is not 0
 * (a load keeps the one it had), else now_ms + grace. */
static int put_entry(struct rc_memkv *m, uint64_t token, const uint8_t *key, size_t key_len,
                     const uint8_t *value, size_t value_len, uint64_t hlc, uint64_t node,
                     int64_t expires_ms, uint64_t attr, int64_t now_ms, int64_t tomb_exp,
                     int force, int *existed)
{
    struct item **pp, *old, *it;
    size_t vlen = value != NULL ? value_len : 0;
    int tomb = value == NULL, r;
    int64_t exp, grew = 0;

    if (existed != NULL)
        *existed = 0;
    if (key_len > RC_MEMKV_MAX_KEY || vlen > RC_MEMKV_MAX_LEN)
        return RC_EINVAL;
    if (tomb)
        attr = 0;
    grow_step(m, MOVE_STEP);
    old = lookup(m, token, key, key_len, &pp);
    if (!force && write_ignored(m, old, !tomb, token, hlc, node, now_ms)) {
        if (m->nlog > 0 || m->pending > 0)
            m->pending++;
        return 0;
    }
    if (!tomb && expires_ms > 0 && reserve_expiry(m, &grew) < 0) {
        rc_memkv_discard(m);
        return RC_ENOMEM;
    }
    /* A tombstone's expiry is its purge time. */
    exp = !tomb ? expires_ms
          : tomb_exp != 0 ? tomb_exp
                          : (now_ms > INT64_MAX - m->grace_ms ? INT64_MAX : now_ms + m->grace_ms);
    /* The expiry table doubled for this write (rare, and itself a pass
     * over the table): evict its growth now too, as many entries as that
     * takes (each frees at least EVICT_MIN_FREE), so that the budget holds
     * at this commit rather than over the next writes. */
    r = make_room(m, (int64_t)(item_size(key_len, vlen, tomb, exp, attr) + ALLOC_OVERHEAD) -
                         (old ? item_mem(old) : 0),
                  old, RC_MEMKV_EVICT_PER_WRITE +
                           (int)(grew / EVICT_MIN_FREE < INT_MAX / 2 ? grew / EVICT_MIN_FREE
                                                                     : INT_MAX / 2));
    it = r >= 0 && log_reserve(m) == 0 ? item_alloc(key_len, vlen, tomb, exp, attr) : NULL;
    if (it == NULL) {
        rc_memkv_discard(m);
        return r < 0 ? r : RC_ENOMEM;
    }
    if (r > 0) /* evictions unlinked entries: pp may be one's link */
        pp = find(m, token, key, key_len);
    fill_item(it, token, key, key_len, value, value_len, hlc, node, exp, attr);
    it->next = old != NULL ? old->next : *pp;
    *pp = it;
    if (existed != NULL)
        *existed = old != NULL && !is_tomb(old) && !expired(old, now_ms);
    record(m, old, it);
    policy_swap(m, old, it);
    m->pending++;
    maybe_grow(m);
    return 1;
}

int rc_memkv_write(struct rc_memkv *m, uint64_t token, const uint8_t *key, size_t key_len,
                   const uint8_t *value, size_t value_len, uint64_t hlc, uint64_t node,
                   int64_t expires_ms, int64_t now_ms, int *existed)
{
    return put_entry(m, token, key, key_len, value, value_len, hlc, node, expires_ms, 0, now_ms,
                     0, 0, existed);
}

int rc_memkv_write_attr(struct rc_memkv *m, uint64_t token, const uint8_t *key, size_t key_len,
                        const uint8_t *value, size_t value_len, uint64_t hlc, uint64_t node,
                        int64_t expires_ms, uint64_t attr, int64_t now_ms, int *existed)
{
    return put_entry(m, token, key, key_len, value, value_len, hlc, node, expires_ms, attr,
                     now_ms, 0, 0, existed);
}

int rc_memkv_load(struct rc_memkv *m, uint64_t token, const uint8_t *key, size_t key_len,
                  const uint8_t *value, size_t value_len, uint64_t hlc, uint64_t node,
                  int64_t expires_ms, uint64_t attr, int64_t now_ms)
{
    int rv = put_entry(m, token, key, key_len, value, value_len, hlc, node, expires_ms, attr,
                       now_ms, value == NULL && expires_ms > 0 ? expires_ms : 0, 1, NULL);

    if (rv >= 0)
        rc_memkv_commit(m);
    return rv;
}

int rc_memkv_unload(struct rc_memkv *m, uint64_t token, const uint8_t *key, size_t key_len)
{
    struct item **pp, *it = lookup(m, token, key, key_len, &pp);

    if (it == NULL)
        return 0;
    if (log_reserve(m) < 0)
        return RC_ENOMEM;
    *pp = it->next;
    record(m, it, NULL);
    policy_swap(m, it, NULL);
    rc_memkv_commit(m);
    return 1;
}

void rc_memkv_set_drop_hook(struct rc_memkv *m, rc_memkv_drop_fn fn, void *arg)
{
    m->on_drop = fn;
    m->drop_arg = arg;
}

int rc_memkv_peek(const struct rc_memkv *m, uint64_t token, const uint8_t *key, size_t key_len,
                  struct rc_memkv_entry *e)
{
    struct item **pp, *it = lookup(m, token, key, key_len, &pp);

    if (it == NULL)
        return RC_ENOTFOUND;
    to_entry(it, e);
    return 0;
}

void rc_memkv_commit(struct rc_memkv *m)
{
    size_t i;

    for (i = 0; i < m->nlog; i++)
        item_free(m->log[i].old);
    m->nlog = 0;
    m->pending = 0;
}

/* Undo log entries newest first: each one's new entry is in its chain
 * (later changes of the same key were undone before it). The policy gets
 * the old entry back in the new one's place (an evicted entry: as a new
 * insert). */
void rc_memkv_discard(struct rc_memkv *m)
{
    struct undo *u;
    struct item **pp, *at;

    while (m->nlog > 0) {
        u = &m->log[--m->nlog];
        at = u->new != NULL ? u->new : u->old;
        pp = find(m, at->token, item_key(at), item_key_len(at));
        count_item(m, u->new, -1);
        count_item(m, u->old, 1);
        policy_swap(m, u->new, u->old);
        if (u->new != NULL) {
            *pp = u->new->next; /* find stops at the entry itself */
            item_free(u->new);
        }
        if (u->old != NULL) {
            u->old->next = *pp;
            *pp = u->old;
        }
    }
    m->pending = 0;
}

uint64_t rc_memkv_pending(const struct rc_memkv *m)
{
    return m->pending;
}

/* ---- ranges ------------------------------------------------------------- */

/*
 * The walk every range function shares: calls visit for each entry with
 * first <= token <= last (after the cursor when after_key is set), bucket
 * by bucket in ring order, with the link pointing at the entry so visit
 * may unlink it. visit returns 0 to go on with the next entry, 1 when it
 * unlinked the entry (the link now points at the next one), -1 to stop.
 */
struct walk {
    uint64_t first, last;
    uint64_t after_token;
    const uint8_t *after_key; /* NULL: no cursor */
    size_t after_key_len;
    int (*visit)(struct walk *w, struct item **pp);
    void *arg;
};

static int walk_range(struct rc_memkv *m, struct walk *w)
{
    uint64_t t = w->first, end;
    struct item **pp;
    int r;

    if (w->after_key != NULL && w->after_token > t)
        t = w->after_token;
    for (;;) {
        pp = slot(m, t, &end);
        while (*pp != NULL && (*pp)->token <= w->last) {
            if ((*pp)->token < t ||
                (w->after_key != NULL &&
                 item_cmp(*pp, w->after_token, w->after_key, w->after_key_len) <= 0)) {
                pp = &(*pp)->next;
                continue;
            }
            r = w->visit(w, pp);
            if (r < 0)
                return -1;
            if (r == 0)
                pp = &(*pp)->next;
        }
        if (end >= w->last)
            return 0;
        t = end + 1;
    }
}

struct scan_arg {
    int64_t now_ms;
    int limit, n;
    rc_memkv_scan_cb cb;
    void *arg;
};

static int scan_visit(struct walk *w, struct item **pp)
{
    struct scan_arg *a = w->arg;
    struct rc_memkv_entry e;

    if (expired(*pp, a->now_ms))
        return 0;
    to_entry(*pp, &e);
    a->n++;
    return a->cb(a->arg, &e) != 0 || a->n == a->limit ? -1 : 0;
}

int rc_memkv_scan(struct rc_memkv *m, uint64_t first, uint64_t last, uint64_t after_token,
                  const uint8_t *after_key, size_t after_key_len, int limit, int64_t now_ms,
                  rc_memkv_scan_cb cb, void *arg)
{
    struct scan_arg a = {now_ms, limit, 0, cb, arg};
    struct walk w = {first, last, after_token, after_key, after_key_len, scan_visit, &a};

    if (limit <= 0 || first > last)
        return 0;
    walk_range(m, &w);
    return a.n;
}

uint64_t rc_memkv_entry_digest(XXH3_state_t *h, const uint8_t *key, size_t key_len, uint64_t hlc,
                               uint64_t node)
{
    uint8_t buf[256];
    int i;

    /* The common short key hashes in one call, from a copy. */
    if (key_len <= sizeof(buf) - 16) {
        if (key_len > 0)
            memcpy(buf, key, key_len);
        for (i = 0; i < 8; i++) {
            buf[key_len + i] = (uint8_t)(hlc >> (8 * i));
            buf[key_len + 8 + i] = (uint8_t)(node >> (8 * i));
        }
        return XXH3_64bits(buf, key_len + 16);
    }
    for (i = 0; i < 8; i++) {
        buf[i] = (uint8_t)(hlc >> (8 * i));
        buf[8 + i] = (uint8_t)(node >> (8 * i));
    }
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, key, key_len);
    XXH3_64bits_update(h, buf, 16);
    return XXH3_64bits_digest(h);
}

struct digest_arg {
    int64_t now_ms;
    uint64_t before_hlc;
    XXH3_state_t *h;
    uint64_t digest, count;
};

static int digest_visit(struct walk *w, struct item **pp)
{
    struct digest_arg *a = w->arg;
    const struct item *it = *pp;

    if (!expired(it, a->now_ms) && it->hlc < a->before_hlc) {
        a->digest ^=
            rc_memkv_entry_digest(a->h, item_key(it), item_key_len(it), it->hlc, it->node);
        a->count++;
    }
    return 0;
}

void rc_memkv_range_digest(struct rc_memkv *m, uint64_t first, uint64_t last, int64_t now_ms,
                           uint64_t *digest, uint64_t *count)
{
    rc_memkv_range_digest_before(m, first, last, now_ms, UINT64_MAX, digest, count);
}

void rc_memkv_range_digest_before(struct rc_memkv *m, uint64_t first, uint64_t last,
                                  int64_t now_ms, uint64_t before_hlc, uint64_t *digest,
                                  uint64_t *count)
{
    XXH3_state_t h; /* only used for keys over ~240 bytes */
    struct digest_arg a = {now_ms, before_hlc, &h, 0, 0};
    struct walk w = {first, last, 0, NULL, 0, digest_visit, &a};

    if (first <= last)
        walk_range(m, &w);
    *digest = a.digest;
    *count = a.count;
}

struct count_arg {
    int64_t now_ms;
    uint64_t count;
};

static int count_visit(struct walk *w, struct item **pp)
{
    struct count_arg *a = w->arg;

    a->count += !is_tomb(*pp) && !expired(*pp, a->now_ms);
    return 0;
}

uint64_t rc_memkv_range_count(struct rc_memkv *m, uint64_t first, uint64_t last, int64_t now_ms)
{
    struct count_arg a = {now_ms, 0};
    struct walk w = {first, last, 0, NULL, 0, count_visit, &a};

    if (first <= last)
        walk_range(m, &w);
    return a.count;
}

/* ---- deletes ------------------------------------------------------------ */

struct delete_arg {
    struct rc_memkv *m;
    int64_t now_ms; /* purge: only purgeable entries; INT64_MIN: any */
    int max_rows, deleted;
    int64_t looked, max_look; /* max_look 0: no bound */
    uint64_t stop_token;      /* the entry the walk stopped at */
    int nomem;
};

static int delete_visit(struct walk *w, struct item **pp)
{
    struct delete_arg *a = w->arg;
    struct item *it = *pp;

    a->stop_token = it->token;
    if (a->max_look > 0 && a->looked++ >= a->max_look)
        return -1;
    if (a->now_ms != INT64_MIN && !purgeable(it, a->now_ms))
        return 0;
    if (log_reserve(a->m) < 0) {
        a->nomem = 1;
        return -1;
    }
    *pp = it->next;
    record(a->m, it, NULL);
    notify_drop(a->m, it);
    policy_swap(a->m, it, NULL);
    a->deleted++;
    return a->deleted == a->max_rows ? -1 : 1;
}

/* Returns walk_range's result, or RC_ENOMEM (batch discarded). The batch
 * joins even when nothing is deleted, as a SQLite DELETE does. */
static int delete_walk(struct rc_memkv *m, struct walk *w, struct delete_arg *a)
{
    int r = walk_range(m, w);

    if (a->nomem) {
        rc_memkv_discard(m);
        return RC_ENOMEM;
    }
    m->pending++;
    return r;
}

int rc_memkv_delete_range(struct rc_memkv *m, uint64_t first, uint64_t last, int max_rows,
                          int *deleted)
{
    struct delete_arg a = {m, INT64_MIN, max_rows, 0, 0, 0, 0, 0};
    struct walk w = {first, last, 0, NULL, 0, delete_visit, &a};
    int err;

    *deleted = 0;
    if (max_rows <= 0 || first > last)
        return 0;
    err = delete_walk(m, &w, &a);
    if (err == RC_ENOMEM)
        return err;
    *deleted = a.deleted;
    return 0;
}

/* The walk goes from purge_next to the top of the ring, then from 0. */
int rc_memkv_purge(struct rc_memkv *m, int64_t now_ms, int max_rows, int *purged)
{
    struct delete_arg a = {m, now_ms, max_rows, 0, 0, 0, 0, 0};
    struct walk w = {0, UINT64_MAX, 0, NULL, 0, delete_visit, &a};
    int err;

    *purged = 0;
    if (max_rows <= 0)
        return 0;
    if (m->expiring == 0) {
        /* Nothing can be purged; still a write in the batch. */
        m->pending++;
        return 0;
    }
    a.max_look = (int64_t)max_rows * PURGE_LOOK_FACTOR;
    w.first = m->purge_next;
    err = delete_walk(m, &w, &a);
    if (err == RC_ENOMEM)
        return err;
    /* Stopped by a bound: go on from the entry it stopped at (looked at
     * again if it is still there). Went through: start over at 0. */
    m->purge_next = err < 0 ? a.stop_token : 0;
    *purged = a.deleted;
    return 0;
}

void rc_memkv_stats(const struct rc_memkv *m, struct rc_memkv_stats *st)
{
    struct rc_evict_stats es;

    *st = m->st;
    rc_evict_stats(m->ev, &es); /* the policy's memory as of now */
    st->mem_bytes += (int64_t)es.mem_bytes - m->ev_mem;
}

int64_t rc_memkv_live_keys(struct rc_memkv *m, int64_t now_ms)
{
    return m->st.keys - rc_expcount_passed(&m->exp, now_ms);
}

int64_t rc_memkv_volatile(struct rc_memkv *m, int64_t now_ms, int64_t *avg_ttl_ms)
{
    return rc_expcount_ahead(&m->exp, now_ms, avg_ttl_ms);
}
