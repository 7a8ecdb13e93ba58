/*
 * seal.c - the cluster key (see seal.h).
 *
 * Everything is XChaCha20-Poly1305 and BLAKE2b from libsodium; nothing
 * here is a primitive of our own. Opening always authenticates before any
 * plaintext is used, and the replay window is only updated by datagrams
 * that authenticated, so forged traffic cannot evict or advance a real
 * sender's state.
 */
#include "seal.h"
#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

static const char dgram_magic[4] = {'R', 'S', 0x01, 'D'};
static const char hello_magic[4] = {'R', 'S', 0x01, 'H'};
static const char kid_label[] = "ringcache key id v1";
static const char tcp_label[] = "ringcache tcp v1";

static void put64(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int rc_seal_init(void)
{
    return sodium_init() < 0 ? RC_EINTERNAL : 0;
}

uint32_t rc_seal_key_id(const uint8_t key[RC_SEAL_KEY_LEN])
{
    uint8_t h[16];

    crypto_generichash(h, sizeof(h), (const uint8_t *)kid_label, sizeof(kid_label) - 1, key,
                       RC_SEAL_KEY_LEN);
    return get32(h);
}

static const struct rc_seal_key *find_key(const struct rc_seal_keys *k, uint32_t id)
{
    uint32_t i;

    for (i = 0; i < k->n; i++)
        if (k->k[i].id == id)
            return &k->k[i];
    return NULL;
}

/* ---- key files -------------------------------------------------------------- */

/* One line (without its newline): 0 for a key stored, 1 for nothing
 * (blank, comment), RC_EINVAL with err set. */
static int parse_line(const char *p, size_t len, unsigned lineno, struct rc_seal_keys *out,
                      char *err, size_t errlen)
{
    struct rc_seal_key key;
    size_t klen = 0;

    while (len > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
        len--;
    if (len == 0 || *p == '#')
        return 1;
    if (len != 2 * RC_SEAL_KEY_LEN ||
        sodium_hex2bin(key.key, sizeof(key.key), p, len, NULL, &klen, NULL) != 0 ||
        klen != RC_SEAL_KEY_LEN) {
        snprintf(err, errlen, "line %u: a key is %d hex digits (ringcache-cli keygen)", lineno,
                 2 * RC_SEAL_KEY_LEN);
        sodium_memzero(&key, sizeof(key));
        return RC_EINVAL;
    }
    if (out->n == RC_SEAL_MAX_KEYS) {
        snprintf(err, errlen, "line %u: more than %d keys", lineno, RC_SEAL_MAX_KEYS);
        sodium_memzero(&key, sizeof(key));
        return RC_EINVAL;
    }
    key.id = rc_seal_key_id(key.key);
    if (find_key(out, key.id) != NULL) {
        snprintf(err, errlen, "line %u: the same key twice", lineno);
        sodium_memzero(&key, sizeof(key));
        return RC_EINVAL;
    }
    out->k[out->n++] = key;
    sodium_memzero(&key, sizeof(key));
    return 0;
}

int rc_seal_keys_parse(const char *text, size_t len, struct rc_seal_keys *out, char *err,
                       size_t errlen)
{
    const char *p = text, *end = text + len;
    unsigned lineno = 0;
    int rv;

    memset(out, 0, sizeof(*out));
    if (errlen > 0)
        err[0] = '\0';
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

        lineno++;
        if (memchr(p, '\0', l) != NULL) {
            snprintf(err, errlen, "line %u: not a text file", lineno);
            rv = RC_EINVAL;
            goto out;
        }
        rv = parse_line(p, l, lineno, out, err, errlen);
        if (rv < 0)
            goto out;
        p += l + (nl != NULL);
    }
    if (out->n == 0) {
        snprintf(err, errlen, "no key in the file (one key per line, 64 hex digits)");
        rv = RC_EINVAL;
        goto out;
    }
    return 0;
out:
    rc_seal_keys_wipe(out);
    return rv;
}

int rc_seal_keys_load(const char *path, struct rc_seal_keys *out, char *err, size_t errlen,
                      char *warn, size_t warnlen)
{
    char text[RC_SEAL_FILE_MAX + 1];
    struct stat st;
    size_t n = 0;
    FILE *f;
    int rv;

    memset(out, 0, sizeof(*out));
    if (warnlen > 0)
        warn[0] = '\0';
    f = fopen(path, "rb");
    if (f == NULL) {
        rv = -errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return rv;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        rv = RC_EINVAL;
        goto out;
    }
    if (st.st_mode & S_IROTH) {
        snprintf(err, errlen, "%s is readable by every user: chmod o-r (or 600) it", path);
        rv = RC_EINVAL;
        goto out;
    }
    if (st.st_mode & S_IRGRP)
        snprintf(warn, warnlen, "%s is readable by its group; 600 is safer", path);
    n = fread(text, 1, sizeof(text), f);
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read %s", path);
        rv = RC_EIO;
        goto out;
    }
    if (n > RC_SEAL_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %d bytes", path, RC_SEAL_FILE_MAX);
        rv = RC_EINVAL;
        goto out;
    }
    rv = rc_seal_keys_parse(text, n, out, err, errlen);
out:
    sodium_memzero(text, sizeof(text));
    fclose(f);
    return rv;
}

void rc_seal_keygen_line(char out[66])
{
    uint8_t key[RC_SEAL_KEY_LEN];

    randombytes_buf(key, sizeof(key));
    sodium_bin2hex(out, 65, key, sizeof(key));
    out[64] = '\n';
    out[65] = '\0';
    sodium_memzero(key, sizeof(key));
}

void rc_seal_keys_wipe(struct rc_seal_keys *k)
{
    sodium_memzero(k, sizeof(*k));
}

/* ---- datagrams ------------------------------------------------------------- */

void rc_seal_dgram_init(struct rc_seal_dgram *d, uint64_t self_id, uint64_t now_ms)
{
    memset(d, 0, sizeof(*d));
    d->self_id = self_id;
    d->next_seq = now_ms * 1000;
    d->boot_ms = now_ms;
}

int rc_seal_dgram_seal(struct rc_seal_dgram *d, const struct rc_seal_keys *k, uint64_t to_id,
                       uint64_t now_ms, const uint8_t *in, size_t len, uint8_t *out, size_t outcap,
                       size_t *outlen)
{
    unsigned long long clen = 0;
    const struct rc_seal_key *key = &k->k[0];

    *outlen = 0;
    if (k->n == 0)
        return RC_EINVAL;
    if (outcap < len + RC_SEAL_DGRAM_OVERHEAD)
        return RC_EBUFFER_FULL;
    memcpy(out, dgram_magic, 4);
    put32(out + 4, key->id);
    put64(out + 8, d->self_id);
    put64(out + 16, d->next_seq++);
    randombytes_buf(out + 24, 8);
    put64(out + 32, to_id);
    put64(out + 40, now_ms);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + RC_SEAL_DGRAM_HDR, &clen, in, len, out,
                                               RC_SEAL_DGRAM_HDR, NULL, out + 8, key->key);
    *outlen = RC_SEAL_DGRAM_HDR + (size_t)clen;
    return 0;
}

static struct rc_seal_sender *sender_find(struct rc_seal_dgram *d, uint64_t id)
{
    uint32_t i;

    for (i = 0; i < d->nsenders; i++)
        if (d->senders[i].id == id)
            return &d->senders[i];
    return NULL;
}

/* A slot for a sender heard for the first time: a free one, else the one
 * heard least recently. */
static struct rc_seal_sender *sender_add(struct rc_seal_dgram *d, uint64_t id)
{
    struct rc_seal_sender *s;
    uint32_t i;

    if (d->nsenders < RC_SEAL_MAX_SENDERS) {
        s = &d->senders[d->nsenders++];
    } else {
        s = &d->senders[0];
        for (i = 1; i < d->nsenders; i++)
            if (d->senders[i].last_ms < s->last_ms)
                s = &d->senders[i];
    }
    memset(s, 0, sizeof(*s));
    s->id = id;
    return s;
}

/* 1 if seq was seen, 2 if it is too old to tell, 0 if new. */
static int replay_check(const struct rc_seal_sender *s, uint64_t seq)
{
    uint64_t back;

    if (s == NULL || seq > s->seq)
        return 0;
    back = s->seq - seq;
    if (back >= RC_SEAL_REPLAY_BITS)
        return 2;
    return (int)((s->bits >> back) & 1);
}

static void replay_record(struct rc_seal_sender *s, uint64_t seq, uint64_t ts, uint64_t now_ms)
{
    uint64_t shift;

    s->last_ms = now_ms;
    if (ts > s->ts)
        s->ts = ts;
    if (seq > s->seq || s->bits == 0) {
        shift = seq - s->seq;
        s->bits = s->bits == 0 || shift >= RC_SEAL_REPLAY_BITS ? 1 : (s->bits << shift) | 1;
        s->seq = seq;
    } else {
        s->bits |= (uint64_t)1 << (s->seq - seq);
    }
}

static int dgram_fail(int err, const char *reason, struct rc_seal_stats *stats, const char **why)
{
    if (why != NULL)
        *why = reason;
    if (stats != NULL) {
        if (err == RC_EREPLAY)
            stats->gossip_replays++;
        else
            stats->gossip_auth_failures++;
    }
    return err;
}

int rc_seal_dgram_open(struct rc_seal_dgram *d, const struct rc_seal_keys *k, uint64_t now_ms,
                       const uint8_t *in, size_t len, uint8_t *out, size_t outcap,
                       size_t *outlen, uint64_t *sender, struct rc_seal_stats *stats,
                       const char **why)
{
    const struct rc_seal_key *key;
    struct rc_seal_sender *s;
    unsigned long long mlen = 0;
    uint64_t from, seq, to, ts;

    *outlen = 0;
    *sender = 0;
    d->last_from = d->last_ts = 0;
    if (len < RC_SEAL_DGRAM_OVERHEAD || memcmp(in, dgram_magic, 4) != 0)
        return dgram_fail(RC_ECLUSTER_KEY, "not sealed with a cluster key", stats, why);
    key = find_key(k, get32(in + 4));
    if (key == NULL)
        return dgram_fail(RC_ECLUSTER_KEY, "sealed with a key we do not hold", stats, why);
    if (outcap < len - RC_SEAL_DGRAM_OVERHEAD)
        return RC_EBUFFER_FULL;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, in + RC_SEAL_DGRAM_HDR,
                                                   len - RC_SEAL_DGRAM_HDR, in,
                                                   RC_SEAL_DGRAM_HDR, in + 8, key->key) != 0)
        return dgram_fail(RC_ECLUSTER_KEY, "forged or tampered", stats, why);
    from = get64(in + 8);
    seq = get64(in + 16);
    to = get64(in + 32);
    ts = get64(in + 40);
    if (from == d->self_id) {
        /* A seed list naming ourselves; not an attack worth counting. */
        if (why != NULL)
            *why = "our own datagram";
        return RC_EINVAL;
    }
    d->last_from = from;
    d->last_ts = ts;
    if (to != 0 && to != d->self_id)
        return dgram_fail(RC_EREPLAY, "addressed to another node", stats, why);
    /* Which of the two clocks is off cannot be told from one datagram;
     * the caller compares the stamps of all senders (common/skew.h). */
    if (ts + RC_SEAL_WINDOW_MS < now_ms)
        return dgram_fail(RC_EREPLAY, "stamped over 30 s before this node's clock (a clock off, "
                          "or a replay)", stats, why);
    if (ts > now_ms + RC_SEAL_WINDOW_MS)
        return dgram_fail(RC_EREPLAY, "stamped over 30 s after this node's clock (a clock off)",
                          stats, why);
    if (ts + RC_SEAL_BOOT_SLACK_MS < d->boot_ms)
        return dgram_fail(RC_EREPLAY, "stamped before this node started", stats, why);
    s = sender_find(d, from);
    switch (replay_check(s, seq)) {
    case 1:
        return dgram_fail(RC_EREPLAY, "replayed", stats, why);
    case 2:
        /* Within one run a sender's sequence numbers and timestamps grow
         * together, so an old number with a newer stamp is a new run whose
         * clock started behind the last one's. */
        if (ts <= s->ts)
            return dgram_fail(RC_EREPLAY, "replayed (older than the window)", stats, why);
        s->seq = 0;
        s->bits = 0;
        break;
    default:
        break;
    }
    if (s == NULL)
        s = sender_add(d, from);
    replay_record(s, seq, ts, now_ms);
    *outlen = (size_t)mlen;
    *sender = from;
    return 0;
}

/* ---- streams ---------------------------------------------------------------- */

int rc_seal_stream_start(struct rc_seal_stream *s, const struct rc_seal_keys *k, int initiator,
                         struct rc_buf *wire)
{
    uint8_t hello[RC_SEAL_HELLO_LEN];

    memset(s, 0, sizeof(*s));
    if (k->n == 0)
        return RC_EINVAL;
    s->initiator = initiator;
    s->kid = k->k[0].id;
    randombytes_buf(s->nonce, sizeof(s->nonce));
    memcpy(hello, hello_magic, 4);
    put32(hello + 4, s->kid);
    memcpy(hello + 8, s->nonce, sizeof(s->nonce));
    return rc_buf_append(wire, hello, sizeof(hello));
}

/* The peer's hello is in: derive both direction keys. */
static int stream_hello(struct rc_seal_stream *s, const struct rc_seal_keys *k,
                        const uint8_t *hello, const char **why)
{
    crypto_generichash_state st;
    const struct rc_seal_key *key;
    const uint8_t *ni, *nr;
    uint8_t kid[4], okm[64];

    if (memcmp(hello, hello_magic, 4) != 0) {
        *why = "peer did not start with a cluster key hello";
        return RC_ECLUSTER_KEY;
    }
    if (!s->initiator)
        s->kid = get32(hello + 4);
    key = find_key(k, s->kid);
    if (key == NULL) {
        *why = "peer uses a key we do not hold";
        return RC_ECLUSTER_KEY;
    }
    ni = s->initiator ? s->nonce : hello + 8;
    nr = s->initiator ? hello + 8 : s->nonce;
    put32(kid, s->kid);
    crypto_generichash_init(&st, key->key, RC_SEAL_KEY_LEN, sizeof(okm));
    crypto_generichash_update(&st, (const uint8_t *)tcp_label, sizeof(tcp_label) - 1);
    crypto_generichash_update(&st, kid, sizeof(kid));
    crypto_generichash_update(&st, ni, 32);
    crypto_generichash_update(&st, nr, 32);
    crypto_generichash_final(&st, okm, sizeof(okm));
    memcpy(s->initiator ? s->tx : s->rx, okm, RC_SEAL_KEY_LEN);
    memcpy(s->initiator ? s->rx : s->tx, okm + RC_SEAL_KEY_LEN, RC_SEAL_KEY_LEN);
    sodium_memzero(okm, sizeof(okm));
    sodium_memzero(&st, sizeof(st));
    s->state = RC_SEAL_OPEN;
    return 0;
}

static void counter_nonce(uint64_t ctr, uint8_t nonce[24])
{
    int i;

    memset(nonce, 0, 24);
    for (i = 0; i < 8; i++, ctr >>= 8)
        nonce[i] = (uint8_t)ctr;
}

static int stream_fail(struct rc_seal_stream *s, int err, const char *reason, const char **why)
{
    s->state = RC_SEAL_FAILED;
    if (why != NULL)
        *why = reason;
    return err;
}

int rc_seal_stream_read(struct rc_seal_stream *s, const struct rc_seal_keys *k,
                        struct rc_buf *raw, struct rc_buf *plain, const char **why)
{
    const char *reason = NULL;
    unsigned long long mlen;
    uint8_t nonce[24];
    uint32_t n;
    int rv;

    if (s->state == RC_SEAL_FAILED)
        return stream_fail(s, RC_ECLUSTER_KEY, "stream already failed", why);
    if (rc_buf_used(raw) == 0)
        return 0; /* (and raw may not even be allocated yet) */
    if (s->state == RC_SEAL_HELLO_WAIT) {
        /* Reject a wrong magic as soon as it shows: a plain frame's 8-byte
         * header must not leave us waiting for 40 bytes. */
        n = rc_buf_used(raw) < 4 ? (uint32_t)rc_buf_used(raw) : 4;
        if (memcmp(rc_buf_rptr(raw), hello_magic, n) != 0)
            return stream_fail(s, RC_ECLUSTER_KEY, "peer did not start with a cluster key hello",
                               why);
        if (rc_buf_used(raw) < RC_SEAL_HELLO_LEN)
            return 0;
        rv = stream_hello(s, k, rc_buf_rptr(raw), &reason);
        if (rv < 0)
            return stream_fail(s, rv, reason, why);
        rc_buf_consume(raw, RC_SEAL_HELLO_LEN);
    }
    while (rc_buf_used(raw) >= RC_SEAL_RECORD_HDR) {
        n = get32(rc_buf_rptr(raw));
        if (n <= RC_SEAL_TAG || n > RC_SEAL_RECORD_MAX + RC_SEAL_TAG)
            return stream_fail(s, RC_EPROTO, "record length out of bounds", why);
        if (rc_buf_used(raw) < RC_SEAL_RECORD_HDR + (size_t)n)
            return 0;
        rv = rc_buf_reserve(plain, n - RC_SEAL_TAG);
        if (rv == RC_EBUFFER_FULL)
            return 0; /* wait until the reader drains plain */
        if (rv < 0)
            return stream_fail(s, rv, "out of memory", why);
        counter_nonce(s->rx_ctr, nonce);
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(rc_buf_wptr(plain), &mlen, NULL,
                                                       rc_buf_rptr(raw) + RC_SEAL_RECORD_HDR, n,
                                                       NULL, 0, nonce, s->rx) != 0)
            return stream_fail(s, RC_ECLUSTER_KEY,
                               "record does not open (wrong key, tampered or replayed)", why);
        s->rx_ctr++;
        rc_buf_commit(plain, (size_t)mlen);
        rc_buf_consume(raw, RC_SEAL_RECORD_HDR + (size_t)n);
    }
    return 0;
}

size_t rc_seal_stream_wire_len(size_t len)
{
    size_t records = (len + RC_SEAL_RECORD_MAX - 1) / RC_SEAL_RECORD_MAX;

    return len + records * RC_SEAL_RECORD_OVERHEAD;
}

int rc_seal_stream_write(struct rc_seal_stream *s, const uint8_t *p, size_t len,
                         struct rc_buf *wire)
{
    unsigned long long clen;
    uint8_t nonce[24];
    size_t done = 0;
    int rv;

    if (s->state != RC_SEAL_OPEN)
        return RC_EINVAL;
    rv = rc_buf_reserve(wire, rc_seal_stream_wire_len(len));
    if (rv < 0)
        return rv;
    while (done < len) {
        size_t chunk = len - done > RC_SEAL_RECORD_MAX ? RC_SEAL_RECORD_MAX : len - done;
        uint8_t *w = rc_buf_wptr(wire);

        put32(w, (uint32_t)(chunk + RC_SEAL_TAG));
        counter_nonce(s->tx_ctr++, nonce);
        crypto_aead_xchacha20poly1305_ietf_encrypt(w + RC_SEAL_RECORD_HDR, &clen, p + done, chunk,
                                                   NULL, 0, NULL, nonce, s->tx);
        rc_buf_commit(wire, RC_SEAL_RECORD_HDR + (size_t)clen);
        done += chunk;
    }
    return 0;
}
