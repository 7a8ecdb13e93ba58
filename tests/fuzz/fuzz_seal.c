/*
 * fuzz_seal.c - libFuzzer target for the cluster key's openers
 * (common/seal.c), which read gossip datagrams and peer-port streams
 * before anything is authenticated, and the key file parser. The first
 * byte picks a mode, the rest is the input:
 *   0  the bytes as a received datagram (opened by a node holding a key);
 *   1  the bytes as what a responder reads after accepting a connection,
 *      cut into reads at fuzzer-chosen points;
 *   2  the same for an initiator, after a genuine responder hello: the
 *      bytes follow that hello (records of a real session);
 *   3  the bytes as a key file;
 *   4  round trip: the bytes are a payload sealed and opened (must come
 *      back identical), then opened again (must be refused as a replay).
 * Crashes, sanitizer reports and broken properties (abort) are findings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1764158400000ull
static const char key_hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static const struct rc_seal_keys *keys(void)
{
    static struct rc_seal_keys k;
    char err[64];

    if (k.n == 0) {
        if (rc_seal_init() != 0 ||
            rc_seal_keys_parse(key_hex, sizeof(key_hex) - 1, &k, err, sizeof(err)) != 0)
            abort();
    }
    return &k;
}

static void open_dgram(const uint8_t *p, size_t n)
{
    static struct rc_seal_dgram d;
    static uint8_t out[70000];
    struct rc_seal_stats st = {0};
    const char *why = NULL;
    uint64_t from;
    size_t len;
    int rv;

    rc_seal_dgram_init(&d, 2, NOW);
    rv = rc_seal_dgram_open(&d, keys(), NOW, p, n, out, sizeof(out), &len, &from, &st, &why);
    if (rv == 0 || why == NULL)
        abort(); /* forging a tag is not something a fuzzer does */
}

/* Reads p in pieces whose sizes come from the input itself. */
static void read_stream(struct rc_seal_stream *s, const uint8_t *p, size_t n)
{
    struct rc_buf raw, plain;
    size_t off = 0;
    int rv = 0;

    rc_buf_init(&raw, 1 << 20);
    rc_buf_init(&plain, 64 * 1024);
    while (off < n && rv == 0) {
        size_t piece = 1 + p[off] % 64;

        if (piece > n - off)
            piece = n - off;
        if (rc_buf_append(&raw, p + off, piece) != 0)
            break;
        off += piece;
        rv = rc_seal_stream_read(s, keys(), &raw, &plain, NULL);
        if (rc_buf_used(&plain) > 0)
            abort(); /* nothing opens without the peer's keys */
    }
    rc_buf_close(&raw);
    rc_buf_close(&plain);
}

static void stream_responder(const uint8_t *p, size_t n)
{
    struct rc_seal_stream s;
    struct rc_buf wire;

    rc_buf_init(&wire, 4096);
    if (rc_seal_stream_start(&s, keys(), 0, &wire) != 0)
        abort();
    read_stream(&s, p, n);
    rc_buf_close(&wire);
}

static void stream_initiator(const uint8_t *p, size_t n)
{
    struct rc_seal_stream c, r;
    struct rc_buf cw, rw, plain;

    rc_buf_init(&cw, 4096);
    rc_buf_init(&rw, 4096);
    rc_buf_init(&plain, 4096);
    if (rc_seal_stream_start(&c, keys(), 1, &cw) != 0 ||
        rc_seal_stream_start(&r, keys(), 0, &rw) != 0 ||
        rc_seal_stream_read(&c, keys(), &rw, &plain, NULL) != 0 || c.state != RC_SEAL_OPEN)
        abort();
    read_stream(&c, p, n);
    rc_buf_close(&cw);
    rc_buf_close(&rw);
    rc_buf_close(&plain);
}

static void parse_keys(const uint8_t *p, size_t n)
{
    struct rc_seal_keys k;
    char err[128];

    if (rc_seal_keys_parse((const char *)p, n, &k, err, sizeof(err)) == 0 &&
        (k.n == 0 || k.n > RC_SEAL_MAX_KEYS))
        abort();
}

static void roundtrip(const uint8_t *p, size_t n)
{
    static struct rc_seal_dgram a, b;
    static uint8_t sealed[70000], out[70000];
    uint64_t from;
    size_t slen, olen;

    if (n > 65000)
        return;
    rc_seal_dgram_init(&a, 1, NOW);
    rc_seal_dgram_init(&b, 2, NOW);
    if (rc_seal_dgram_seal(&a, keys(), 2, NOW, p, n, sealed, sizeof(sealed), &slen) != 0 ||
        rc_seal_dgram_open(&b, keys(), NOW, sealed, slen, out, sizeof(out), &olen, &from, NULL,
                           NULL) != 0 ||
        olen != n || from != 1 || (n > 0 && memcmp(out, p, n) != 0))
        abort();
    if (rc_seal_dgram_open(&b, keys(), NOW, sealed, slen, out, sizeof(out), &olen, &from, NULL,
                           NULL) != RC_EREPLAY)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 5) {
    case 0:
        open_dgram(data + 1, size - 1);
        break;
    case 1:
        stream_responder(data + 1, size - 1);
        break;
    case 2:
        stream_initiator(data + 1, size - 1);
        break;
    case 3:
        parse_keys(data + 1, size - 1);
        break;
    default:
        roundtrip(data + 1, size - 1);
        break;
    }
    return 0;
}
