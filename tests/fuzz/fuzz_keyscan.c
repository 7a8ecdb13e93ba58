/*
 * fuzz_keyscan.c - libFuzzer target for the KEY_SCAN payload decoders
 * (common/keyscan.c): the input is tried as a request (what a member
 * decodes from a peer) and as a KEYS and a COUNT reply (what the asking
 * node decodes), against the whole ring and a narrow range. Whatever
 * decodes is checked against the limits and merged. Crashes, sanitizer
 * reports and inconsistent results (abort) are findings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "keyscan.h"
#include "ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_KEY 1024 /* --max-key-size's default */

static void keys(msgpack_zone *zone, const uint8_t *p, size_t len, uint64_t first, uint64_t last)
{
    static struct rc_keyscan_req q;
    struct rc_keyscan_set s;
    uint64_t stop;
    size_t i, n;
    int truncated;

    q.mode = RC_KEYSCAN_KEYS;
    q.count = 10;
    q.nranges = 1;
    q.first[0] = first;
    q.last[0] = last;
    rc_keyscan_set_init(&s, RC_KEYSCAN_MAX_ENTRIES, (size_t)RC_KEYSCAN_MAX_ENTRIES * MAX_KEY);
    if (rc_keyscan_decode_keys(zone, p, len, MAX_KEY, &q, &s, &truncated, &stop) == 0) {
        for (i = 0; i < s.n; i++) {
            const struct rc_keyscan_ent *e = &s.e[i];

            if (e->len == 0 || e->len > MAX_KEY || e->token < first || e->token > last ||
                e->token != rc_ring_token(rc_keyscan_key(&s, e), e->len))
                abort();
        }
        if (rc_keyscan_merge(&s, stop, 0, &n) == 0 && n > s.n)
            abort();
    }
    rc_keyscan_set_close(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rc_keyscan_req q;
    uint64_t counts[RC_KEYSCAN_MAX_RANGES];
    msgpack_zone zone;
    uint32_t i;

    if (!msgpack_zone_init(&zone, 4096))
        return 0;
    if (rc_keyscan_decode_req(&zone, data, size, &q) == 0) {
        if (q.nranges > RC_KEYSCAN_MAX_RANGES || q.count == 0 || q.count > RC_KEYSCAN_MAX_COUNT)
            abort();
        for (i = 0; i < q.nranges; i++)
            if (q.first[i] > q.last[i] || (i > 0 && q.first[i] <= q.last[i - 1]))
                abort();
    }
    keys(&zone, data, size, 0, UINT64_MAX);
    keys(&zone, data, size, UINT64_MAX / 2, UINT64_MAX / 2 + (UINT64_MAX / 8));
    (void)rc_keyscan_decode_counts(&zone, data, size, 3, counts);
    msgpack_zone_destroy(&zone);
    return 0;
}
