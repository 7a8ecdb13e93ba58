/*
 * ring.c - key tokens and the consistent-hash ring (see ring.h).
 */
#include "ring.h"

#include <xxhash.h>

uint64_t rc_ring_token(const void *key, size_t len)
{
    return XXH3_64bits(key, len);
}
