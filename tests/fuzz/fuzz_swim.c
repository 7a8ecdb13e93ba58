/*
 * fuzz_swim.c - libFuzzer target for the gossip decoders, which read
 * datagrams and push-pull states straight from the network: the input is
 * tried as a datagram (decoded, re-encoded, decoded again to the same
 * bytes), fed to a live state machine as a received datagram, and merged
 * as a full state. Crashes, sanitizer reports and mismatches are findings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "swim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const uint8_t *data, size_t size)
{
    static struct rc_swim_msg a, b;
    static uint8_t out[RC_SWIM_MAX_DGRAM], out2[RC_SWIM_MAX_DGRAM];
    size_t n = 0, n2 = 0;

    if (rc_swim_decode(data, size, &a) != 0)
        return;
    if (rc_swim_encode(&a, out, sizeof(out), &n) != 0)
        return; /* a valid input may not fit once re-encoded canonically */
    if (rc_swim_decode(out, n, &b) != 0 || rc_swim_encode(&b, out2, sizeof(out2), &n2) != 0 ||
        n != n2 || memcmp(out, out2, n) != 0)
        abort();
}

/* A fixed wall clock, so that stamps are written and samples taken. */
static uint64_t fixed_wall(void *arg)
{
    (void)arg;
    return 1765000000000ULL;
}

static void no_sample(void *arg, uint64_t id, int64_t offset_ms, uint32_t rtt_ms)
{
    (void)arg;
    (void)id;
    (void)offset_ms;
    (void)rtt_ms;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rc_swim_config cfg;
    uint64_t from, wall;
    uint32_t live;
    struct rc_member self;
    struct rc_swim *s = NULL;
    static struct rc_swim_out out;

    roundtrip(data, size);
    rc_swim_config_defaults(&cfg);
    cfg.wall_ms = fixed_wall;
    cfg.clock_sample = no_sample;
    rc_swim_state_peek(data, size, &from, &wall, &live);
    memset(&self, 0, sizeof(self));
    self.id = 1;
    strcpy(self.host, "127.0.0.1");
    self.client_port = 7400;
    self.peer_port = 7401;
    if (rc_swim_new(&cfg, &self, 42, 1000, &s) != 0)
        return 0;
    memset(&out, 0, sizeof(out));
    rc_swim_recv(s, "127.0.0.2", 7401, data, size, 1000, &out);
    rc_swim_merge_state(s, data, size, 1001);
    rc_swim_tick(s, 5000, &out);
    rc_swim_free(s);
    return 0;
}
