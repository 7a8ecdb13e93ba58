/*
 * fuzz_mcproto.c - libFuzzer target for the memcached text/meta parser,
 * which reads memcached clients' bytes straight from the network: the
 * input is parsed command after command, as the front end does (a
 * swallowed block skipped, a close ending it); every key and data block
 * must lie inside the input, keys obey memcached's rules, the data block
 * respects the value limit and every error has a reply line. Parsing a
 * prefix of a whole command must ask for more bytes, never succeed or
 * fail differently. Crashes, sanitizer reports and mismatches are findings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mcproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_KEYS 64

static const struct rc_mc_limits lim = {MAX_KEYS, 4096, 1u << 14};

static int inside(const uint8_t *p, size_t n, const uint8_t *base, size_t len)
{
    return p >= base && p + n <= base + len;
}

static void check(const struct rc_mc_req *req, const uint8_t *base, size_t len)
{
    size_t i;

    for (i = 0; i < req->nkeys; i++)
        if (!inside(req->keys[i].p, req->keys[i].len, base, len) ||
            !rc_mc_key_ok(req->keys[i].p, req->keys[i].len) ||
            memchr(req->keys[i].p, ' ', req->keys[i].len) != NULL)
            abort();
    if (req->data != NULL && (!inside(req->data, req->data_len, base, len) ||
                              req->data_len > lim.max_value))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rc_mc_tok keys[MAX_KEYS];
    struct rc_mc_req req, req2;
    struct rc_mc_error err, err2;
    size_t off = 0, used, used2, p;
    int rv, rv2;

    while (off < size) {
        req.keys = keys;
        rv = rc_mc_parse(data + off, size - off, &lim, &req, &used, &err);
        if (rv == 0)
            break;
        if (used > size - off || (used == 0 && !(rv < 0 && err.action == RC_MC_CLOSE)))
            abort();
        if (rv == 1) {
            check(&req, data + off, size - off);
            /* Every shorter prefix of this command needs more bytes. */
            for (p = 0; p < used; p += 1 + used / 8) {
                req2.keys = keys;
                rv2 = rc_mc_parse(data + off, p, &lim, &req2, &used2, &err2);
                if (rv2 == 1)
                    abort();
                (void)err2;
            }
        } else {
            if (rv != RC_EPROTO || err.line == NULL)
                abort();
            if (err.action == RC_MC_CLOSE)
                break;
            if (err.action == RC_MC_SWALLOW)
                used = err.swallow > size - off - used ? size - off : used + (size_t)err.swallow;
        }
        off += used;
    }
    return 0;
}
