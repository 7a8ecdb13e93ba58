/*
 * fuzz_counter.c - libFuzzer target for the counter state decoder
 * (common/counter.c), which reads states from a replica's store and from
 * peers (REPL_WRITE, REPL_INCR replies, STREAM entries). A state that
 * decodes must encode back to the same bytes (the encoding is canonical),
 * merge with itself into itself, and render within its buffer; the input
 * split in two is merged both ways to the same state. Crashes, sanitizer
 * reports and inconsistent results (abort) are findings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "counter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rc_counter a, b, ab, ba;
static uint8_t enc[RC_COUNTER_MAX_ENC];

static void check_one(const uint8_t *p, size_t len, struct rc_counter *c)
{
    char text[RC_COUNTER_TEXT_MAX];
    int n;

    n = rc_counter_encode(c, enc, sizeof(enc));
    if (n < 0 || (size_t)n != len || memcmp(enc, p, len) != 0)
        abort();
    if (rc_counter_merge(c, c, &ab) != 0 || !rc_counter_equal(&ab, c))
        abort();
    if (rc_counter_render(c, text, sizeof(text)) >= sizeof(text))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t half = size / 2;
    int ra, rb;

    if (rc_counter_decode(data, size, &a) == 0)
        check_one(data, size, &a);
    ra = rc_counter_decode(data, half, &a);
    rb = rc_counter_decode(data + half, size - half, &b);
    if (ra == 0 && rb == 0) {
        ra = rc_counter_merge(&a, &b, &ab);
        rb = rc_counter_merge(&b, &a, &ba);
        if (ra != rb || (ra == 0 && !rc_counter_equal(&ab, &ba)))
            abort();
    }
    return 0;
}
