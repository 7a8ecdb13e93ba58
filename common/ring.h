/*
 * ring.h - the consistent-hash ring.
 *
 * Every key maps to a 64-bit token, XXH3-64 of its bytes; the ring (built
 * in the clustering issue) assigns token ranges to nodes. The store keeps
 * the token next to each key so that a token range can be scanned and
 * streamed without rehashing.
 */
#ifndef RC_RING_H
#define RC_RING_H

#include <stddef.h>
#include <stdint.h>

/* Token of a key: XXH3 64-bit with seed 0 (known-answer tests pin it). */
uint64_t rc_ring_token(const void *key, size_t len);

#endif
