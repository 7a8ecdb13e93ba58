/*
 * ring.h - the consistent-hash ring.
 *
 * Every key maps to a 64-bit token, XXH3-64 of its bytes. The ring is
 * computed from the member list alone (node ids and the vnode count), so
 * every node with the same view builds the same ring, whatever the order
 * of its list; nothing about placement is ever sent on the wire. The store
 * keeps the token next to each key so that a token range can be scanned
 * and streamed without rehashing.
 */
#ifndef RC_RING_H
#define RC_RING_H

#include <stddef.h>
#include <stdint.h>

/*
 * Placement contract. Changing any of this changes where keys live, so
 * nodes of different versions would disagree (tests/unit/test_ring.c pins
 * it with known-answer vectors):
 *  - key token      = XXH3_64bits(key bytes), seed 0.
 *  - vnode token    = XXH3_64bits_withSeed(le64(id), 8, seed = index) for
 *                     index 0 .. vnodes-1, where le64(id) is the node id as
 *                     8 little-endian bytes. Vnode i of a node does not
 *                     depend on the vnode count, so raising V only adds
 *                     tokens.
 *  - the vnode at token t owns the tokens in (previous token, t], the first
 *    vnode also owning everything after the last one (the ring wraps).
 *  - equal tokens of different nodes sort by node id, lowest first; the
 *    lowest therefore owns the range and the others follow it.
 *  - a preference list is the first rf distinct members met walking the
 *    vnodes clockwise (ascending tokens, wrapping) from the key's owner.
 */

/* Owner indices are stored as uint16_t; a gossip full mesh stays far
 * below this, and the cap bounds the work a bad member list can cause. */
#define RC_RING_MAX_MEMBERS 1024

/* Past a few thousand vnodes balance barely improves (share stddev falls
 * as 1/sqrt(V): 1.6% at 4096) while memory grows as 10 bytes per vnode:
 * 1024 members x 4096 vnodes is already 40 MB. */
#define RC_RING_MAX_VNODES 4096

/* Preference lists live in fixed arrays (struct rc_ring_range). 7 replicas
 * with quorum 4 survive 3 failures, beyond what a cache needs. */
#define RC_RING_MAX_RF 7

/*
 * Default vnodes per member, chosen by measurement (tests/bench/ring-bench:
 * 200 random member lists per cell, exact token shares as primary):
 *
 *     V   max/mean (avg)            worst   stddev   lookup ns
 *         N=3   N=8  N=16  N=64     any N   N=64     N=64 rf=3
 *     64  1.10  1.19  1.23  1.31    1.53    12.3%
 *    128  1.07  1.13  1.16  1.22    1.36     8.7%
 *    256  1.05  1.09  1.12  1.15    1.26     6.1%    47 ns
 *    512  1.04  1.07  1.08  1.11    1.17     4.4%    55 ns
 *
 * 256 keeps the busiest of 64 members ~15% above the mean; below it the
 * busiest carries a fifth more than its share. 512 buys 4 points but
 * doubles memory, build time (2 -> 4 ms at 64 members) and the number of
 * ranges a membership change streams (650-770 per added member at 256).
 * At N=64 the ring is 16384 vnodes, 160 KB.
 */
#define RC_RING_DEFAULT_VNODES 256

struct rc_ring;

/* A token range whose preference list differs between two rings. Bounds
 * are inclusive and never wrap (first <= last): token 0 is a valid token,
 * so a half-open (lo, hi] could not say "starting at 0" without a special
 * case. The whole ring is [0, UINT64_MAX]. */
struct rc_ring_range {
    uint64_t first;                     /* first token in the range */
    uint64_t last;                      /* last token in the range */
    int nold;                           /* entries in old_ids */
    int nnew;                           /* entries in new_ids */
    uint64_t old_ids[RC_RING_MAX_RF];   /* preference list in the old ring */
    uint64_t new_ids[RC_RING_MAX_RF];   /* preference list in the new ring */
};

/* Token of a key: XXH3 64-bit with seed 0 (known-answer tests pin it). */
uint64_t rc_ring_token(const void *key, size_t len);

/* Token of vnode `index` of node `id` (see the placement contract). */
uint64_t rc_ring_vnode_token(uint64_t id, uint32_t index);

/* Builds the ring of n members (any order) with `vnodes` vnodes each
 * (1 .. RC_RING_MAX_VNODES; every node must use the same value). n may be 0:
 * the empty ring, whose lookups return no replicas. ids is only read.
 * Returns 0 and *out (caller frees with rc_ring_free); RC_EINVAL for a zero
 * or duplicate id, n > RC_RING_MAX_MEMBERS or a bad vnode count; RC_ENOMEM.
 * On failure *out is NULL. */
int rc_ring_new(const uint64_t *ids, size_t n, int vnodes, struct rc_ring **out);

/* Frees the ring. NULL is a no-op. */
void rc_ring_free(struct rc_ring *r);

/* Number of members; *ids is set to them in ascending order (borrowed,
 * valid until rc_ring_free). Per-member outputs use this order. */
size_t rc_ring_members(const struct rc_ring *r, const uint64_t **ids);

/* Number of vnodes on the ring; *tokens is set to their tokens in ascending
 * order (borrowed, valid until rc_ring_free). */
size_t rc_ring_tokens(const struct rc_ring *r, const uint64_t **tokens);

/* Preference list of a token: the first min(rf, members, RC_RING_MAX_RF)
 * distinct members clockwise from it, its owner first. out must hold that
 * many ids (RC_RING_MAX_RF always suffices). Returns the count (0 on the
 * empty ring) or RC_EINVAL for rf < 1. */
int rc_ring_replicas(const struct rc_ring *r, uint64_t token, int rf, uint64_t *out);

/* rc_ring_replicas of rc_ring_token(key, len). */
int rc_ring_replicas_key(const struct rc_ring *r, const void *key, size_t len, int rf,
                         uint64_t *out);

/* The vnode range that holds token: tokens first .. last inclusive. The
 * range of the first vnode wraps; then first > last and the range is
 * [first, UINT64_MAX] plus [0, last] (first == last + 1 is the whole ring,
 * a ring of one vnode). Returns 0, or RC_ENOTFOUND on the empty ring. */
int rc_ring_range_of(const struct rc_ring *r, uint64_t token, uint64_t *first,
                     uint64_t *last);

/*
 * Walk over the vnode ranges of a ring: inclusive, non-wrapping ranges
 * that together cover every token once. Vnode i owns (tokens[i-1],
 * tokens[i]] (rc_ring_tokens order); the yield order is
 *  - a ring of one vnode: [0, UINT64_MAX], once;
 *  - vnode 0 (it wraps): [0, tokens[0]], then, unless the last token is
 *    UINT64_MAX, [last token + 1, UINT64_MAX], both with vnode 0;
 *  - vnodes 1 .. n-1 ascending: [tokens[i-1] + 1, tokens[i]], skipping a
 *    vnode whose token equals the previous one (its range is empty: the
 *    lower id owns a shared token).
 * So the ranges ascend except that the wrapping tail comes right after the
 * head. The preference list of every token in a range is that of the
 * range's `token` (rc_ring_replicas). The empty ring yields nothing.
 *
 *     struct rc_ring_iter it;
 *     struct rc_ring_vrange v;
 *
 *     rc_ring_iter_init(&it, ring);
 *     while (rc_ring_iter_next(&it, &v))
 *         use(v.first, v.last, v.token);
 *
 * The iterator is plain data, valid while the ring is: it may be kept
 * between calls to walk a ring in steps.
 */
struct rc_ring_vrange {
    uint64_t first, last; /* inclusive, first <= last */
    uint64_t token;       /* the owning vnode's token */
    size_t vnode;         /* the owning vnode's index in rc_ring_tokens order */
};

struct rc_ring_iter {
    const struct rc_ring *r;
    size_t next; /* next vnode to yield */
    int tail;    /* vnode 0's wrapping tail is due next */
};

/* Starts a walk over r's vnode ranges (r is borrowed for the walk). */
void rc_ring_iter_init(struct rc_ring_iter *it, const struct rc_ring *r);

/* Stores the next range in *out and returns 1; returns 0 when the walk is
 * over (*out untouched). */
int rc_ring_iter_next(struct rc_ring_iter *it, struct rc_ring_vrange *out);

/* Fraction of the 2^64 tokens each member owns: primary[m] as owner,
 * replica[m] anywhere in the preference list of length rf, for m in
 * rc_ring_members order. Either array may be NULL; each must hold one
 * entry per member. The primaries sum to 1 and the replicas to
 * min(rf, members, RC_RING_MAX_RF) (0 and 0 on the empty ring).
 * Returns 0 or RC_EINVAL for rf < 1. */
int rc_ring_shares(const struct rc_ring *r, int rf, double *primary, double *replica);

/* The token ranges whose preference list (rf, ordered) differs between
 * old_ring and new_ring, with both lists. Ranges are ascending, disjoint
 * and maximal: neighbours with identical (old, new) lists are merged, and
 * the ring is cut at token 0 so no range wraps. As tokens depend only on
 * (id, index), common members keep their relative order when both rings
 * use the same vnode count, and a changed list is then a changed set.
 * Either ring may be empty. Returns 0 with *out (caller frees with free();
 * NULL when *nout is 0) and *nout, RC_EINVAL for rf < 1, or RC_ENOMEM;
 * on failure *out is NULL and *nout 0. */
int rc_ring_diff(const struct rc_ring *old_ring, const struct rc_ring *new_ring, int rf,
                 struct rc_ring_range **out, size_t *nout);

#endif
