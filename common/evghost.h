/*
 * evghost.h - the versions a node evicted lately, so that an eviction
 * never brings back an older value.
 *
 * When a node evicts key K at version V, a replica write of K at a
 * version no newer than V (a read repair, a late hint, a stream batch from
 * another replica that still holds K) must not put K back: it would either
 * undo the eviction over and over (traffic that grows with the eviction
 * rate) or, for an older version, make this node answer an older value
 * than one already acknowledged. The store asks rc_evghost_covers() before
 * inserting a key it does not hold; a newer write (a client's) passes.
 *
 * A fixed table of (key hash, version) in 4-way buckets; a full bucket
 * forgets its oldest version. Bounded memory, O(1) per call; forgetting
 * is safe in the sense that matters (the key then behaves as never held:
 * a cache fill). Pure data structure.
 */
#ifndef RC_EVGHOST_H
#define RC_EVGHOST_H

#include <stddef.h>
#include <stdint.h>

struct rc_evghost;

/* A table remembering about `entries` evictions (rounded up to a power of
 * two, at least 64). 0 or RC_ENOMEM. */
int rc_evghost_new(size_t entries, struct rc_evghost **out);
void rc_evghost_free(struct rc_evghost *g);

/* Remembers that the key of hash was evicted at version (hlc, node);
 * keeps the newer when the key is already remembered. */
void rc_evghost_add(struct rc_evghost *g, uint64_t hash, uint64_t hlc, uint64_t node);

/* 1 when the key of hash was evicted at a version >= (hlc, node): a write
 * of that version must be ignored. 0 otherwise. */
int rc_evghost_covers(const struct rc_evghost *g, uint64_t hash, uint64_t hlc, uint64_t node);

/* 1 when the key of hash is remembered as evicted (any version). */
int rc_evghost_has(const struct rc_evghost *g, uint64_t hash);

/* 1 with the version the key of hash was evicted at (*hlc, *node), 0 when
 * it is not remembered (*hlc and *node untouched). */
int rc_evghost_get(const struct rc_evghost *g, uint64_t hash, uint64_t *hlc, uint64_t *node);

/* Bytes the table takes. */
size_t rc_evghost_mem(const struct rc_evghost *g);

#endif
