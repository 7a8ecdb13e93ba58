/*
 * fuzz_resp.c - libFuzzer target for the RESP2 parser, which reads Redis
 * clients' bytes straight from the network: the input is parsed command
 * after command, as the server does; every argument must lie inside the
 * input or the scratch area and respect the limits; each command is
 * re-encoded as a multibulk array and must parse back to the same
 * arguments. Crashes, sanitizer reports and mismatches are findings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 64

static const struct rc_resp_limits lim = {MAX_ARGS, 4096, 1u << 16};
/* Re-encoding an inline command adds a header per argument. */
static const struct rc_resp_limits lim_back = {MAX_ARGS, 4096, 1u << 20};

static int inside(const uint8_t *p, size_t n, const uint8_t *base, size_t len)
{
    return p >= base && p + n <= base + len;
}

static void roundtrip(const struct rc_resp_arg *argv, size_t argc)
{
    static struct rc_resp_arg back[MAX_ARGS];
    static uint8_t scratch[RC_RESP_MAX_INLINE];
    struct rc_buf b;
    size_t n = 0, used = 0, i;
    const char *err;

    rc_buf_init(&b, 1u << 20);
    if (rc_resp_array(&b, argc) < 0)
        abort();
    for (i = 0; i < argc; i++)
        if (rc_resp_bulk(&b, argv[i].p, argv[i].len) < 0)
            abort();
    if (rc_resp_parse(rc_buf_rptr(&b), rc_buf_used(&b), &lim_back, back, &n, &used, scratch, &err) != 1 ||
        n != argc || used != rc_buf_used(&b))
        abort();
    for (i = 0; i < argc; i++)
        if (back[i].len != argv[i].len || memcmp(back[i].p, argv[i].p, argv[i].len) != 0)
            abort();
    rc_buf_close(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rc_resp_arg argv[MAX_ARGS];
    static uint8_t scratch[RC_RESP_MAX_INLINE];
    size_t off = 0, argc, used, i;
    const char *err;
    int rv;

    while (off < size) {
        rv = rc_resp_parse(data + off, size - off, &lim, argv, &argc, &used, scratch, &err);
        if (rv < 0 && (rv != RC_EPROTO || err == NULL))
            abort();
        if (rv <= 0)
            break;
        if (used == 0 || used > size - off || argc > MAX_ARGS)
            abort();
        for (i = 0; i < argc; i++)
            if (argv[i].len > lim.max_bulk ||
                !(inside(argv[i].p, argv[i].len, data + off, used) ||
                  inside(argv[i].p, argv[i].len, scratch, sizeof(scratch))))
                abort();
        roundtrip(argv, argc);
        off += used;
    }
    return 0;
}
