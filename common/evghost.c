/*
 * evghost.c - the versions evicted lately (see evghost.h).
 *
 * 2^k buckets of WAYS slots (key hash, hlc, node), each bucket laid out
 * field by field so the hash compare of a lookup reads one 32-byte run.
 * A slot with version (0, 0) is free: no write is older than that, so a
 * version (0, 0) has nothing to protect and is not remembered. A full
 * bucket keeps its WAYS newest versions, the one being added included:
 * the oldest is the least likely to be written again by a replica.
 */
#include "evghost.h"
#include "err.h"

#include <stdlib.h>

/* Slots per bucket: 4 hash compares (one cache line of hashes and the two
 * of versions) per call, and a bucket forgets only when 4 of its keys
 * were evicted more recently than what it loses. */
#define WAYS 4

/* Fewest slots: 16 buckets, 1.5 KiB; a smaller table forgets at once. */
#define MIN_ENTRIES 64

struct bucket {
    uint64_t hash[WAYS];
    uint64_t hlc[WAYS];
    uint64_t node[WAYS];
};

struct rc_evghost {
    struct bucket *b;
    int bits; /* 2^bits buckets */
};

/* (hlc1, node1) < (hlc2, node2): the write order of every replica. */
static int older(uint64_t hlc1, uint64_t node1, uint64_t hlc2, uint64_t node2)
{
    return hlc1 < hlc2 || (hlc1 == hlc2 && node1 < node2);
}

/* A free slot's version is (0, 0): older than any held, so the search
 * for the oldest slot finds a free one first. */
static int is_free(const struct bucket *b, int i)
{
    return (b->hlc[i] | b->node[i]) == 0;
}

/* Fibonacci hashing: the caller's hash is a ring token whose top bits
 * also index memkv's buckets; the multiply decorrelates the two and
 * spreads any hash that is not well mixed (tests' tokens). */
static struct bucket *bucket_of(const struct rc_evghost *g, uint64_t hash)
{
    return &g->b[(hash * 0x9e3779b97f4a7c15ull) >> (64 - g->bits)];
}

/* The slot of hash in b, or -1. */
static int slot_of(const struct bucket *b, uint64_t hash)
{
    int i;

    for (i = 0; i < WAYS; i++)
        if (b->hash[i] == hash && !is_free(b, i))
            return i;
    return -1;
}

int rc_evghost_new(size_t entries, struct rc_evghost **out)
{
    struct rc_evghost *g;
    int bits = 0;

    *out = NULL;
    if (entries < MIN_ENTRIES)
        entries = MIN_ENTRIES;
    /* Buckets: entries / WAYS rounded up to a power of two; a count no
     * allocation could hold is RC_ENOMEM rather than an overflow. */
    while (((size_t)WAYS << bits) < entries) {
        if (bits >= 40)
            return RC_ENOMEM;
        bits++;
    }
    g = malloc(sizeof(*g));
    if (g == NULL)
        return RC_ENOMEM;
    g->bits = bits;
    g->b = calloc((size_t)1 << bits, sizeof(*g->b));
    if (g->b == NULL) {
        free(g);
        return RC_ENOMEM;
    }
    *out = g;
    return 0;
}

void rc_evghost_free(struct rc_evghost *g)
{
    if (g == NULL)
        return;
    free(g->b);
    free(g);
}

void rc_evghost_add(struct rc_evghost *g, uint64_t hash, uint64_t hlc, uint64_t node)
{
    struct bucket *b = bucket_of(g, hash);
    int i, v = 0;

    if ((hlc | node) == 0)
        return;
    /* One pass: the key's slot, else the oldest version (a free slot
     * first); either takes the new version only if it is newer. */
    for (i = 0; i < WAYS; i++) {
        if (b->hash[i] == hash && !is_free(b, i)) {
            v = i;
            break;
        }
        if (older(b->hlc[i], b->node[i], b->hlc[v], b->node[v]))
            v = i;
    }
    if (!older(b->hlc[v], b->node[v], hlc, node))
        return;
    b->hash[v] = hash;
    b->hlc[v] = hlc;
    b->node[v] = node;
}

int rc_evghost_covers(const struct rc_evghost *g, uint64_t hash, uint64_t hlc, uint64_t node)
{
    const struct bucket *b = bucket_of(g, hash);
    int i = slot_of(b, hash);

    return i >= 0 && !older(b->hlc[i], b->node[i], hlc, node);
}

int rc_evghost_has(const struct rc_evghost *g, uint64_t hash)
{
    return slot_of(bucket_of(g, hash), hash) >= 0;
}

int rc_evghost_get(const struct rc_evghost *g, uint64_t hash, uint64_t *hlc, uint64_t *node)
{
    const struct bucket *b = bucket_of(g, hash);
    int i = slot_of(b, hash);

    if (i < 0)
        return 0;
    *hlc = b->hlc[i];
    *node = b->node[i];
    return 1;
}

size_t rc_evghost_mem(const struct rc_evghost *g)
{
    return sizeof(*g) + (sizeof(struct bucket) << g->bits);
}
