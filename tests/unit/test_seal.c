/*
 * test_seal.c - the cluster key: key files, sealed datagrams (round trip,
 * wrong key, every byte tampered, replay, stale and future timestamps,
 * misdirected, rotation) and sealed streams (handshake, records split
 * anywhere, wrong key, tampering, replayed and reordered records).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "seal.h"

#define NOW 1764158400000ull /* 2025-11-26T12:00:00Z */
#define ID_A 0x1111u
#define ID_B 0x2222u

static const char key_a[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char key_b[] = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

static void keys_of(struct rc_seal_keys *k, const char *first, const char *second)
{
    char text[256], err[128];

    snprintf(text, sizeof(text), "%s\n%s%s", first, second ? second : "", second ? "\n" : "");
    assert_int_equal(rc_seal_keys_parse(text, strlen(text), k, err, sizeof(err)), 0);
}

static int setup(void **state)
{
    (void)state;
    return rc_seal_init();
}

/* ---- key files ---- */

static void test_parse_ok(void **state)
{
    struct rc_seal_keys k;
    char text[512], err[128];

    (void)state;
    snprintf(text, sizeof(text), "# cluster key\n\n  %s  \r\n%s\n", key_b, key_a);
    assert_int_equal(rc_seal_keys_parse(text, strlen(text), &k, err, sizeof(err)), 0);
    assert_int_equal(k.n, 2);
    assert_int_equal(k.k[0].key[0], 0xff);
    assert_int_equal(k.k[1].key[31], 0x1f);
    assert_int_not_equal(k.k[0].id, k.k[1].id);
    assert_int_equal(k.k[1].id, rc_seal_key_id(k.k[1].key));
}

static void expect_bad(const char *text, const char *needle)
{
    struct rc_seal_keys k;
    char err[128] = "";

    assert_int_equal(rc_seal_keys_parse(text, strlen(text), &k, err, sizeof(err)), RC_EINVAL);
    assert_int_equal(k.n, 0);
    if (strstr(err, needle) == NULL)
        fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_parse_bad(void **state)
{
    char text[1024];
    int i;

    (void)state;
    expect_bad("", "no key");
    expect_bad("# only a comment\n", "no key");
    expect_bad("abcd\n", "line 1: a key is 64 hex digits");
    snprintf(text, sizeof(text), "%s\n%.63sz\n", key_a, key_b);
    expect_bad(text, "line 2");
    snprintf(text, sizeof(text), "%s0\n", key_a);
    expect_bad(text, "line 1");
    snprintf(text, sizeof(text), "%s\n%s\n", key_a, key_a);
    expect_bad(text, "same key twice");
    text[0] = '\0';
    for (i = 0; i < RC_SEAL_MAX_KEYS + 1; i++) {
        char line[80];

        snprintf(line, sizeof(line), "%062x%02x\n", 0, i);
        strcat(text, line);
    }
    expect_bad(text, "more than");
}

static void test_load_file(void **state)
{
    char path[] = "/tmp/rc_test_seal_XXXXXX", err[256], warn[256];
    struct rc_seal_keys k;
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, key_a, 64), 64);
    close(fd);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(rc_seal_keys_load(path, &k, err, sizeof(err), warn, sizeof(warn)), 0);
    assert_int_equal(k.n, 1);
    assert_string_equal(warn, "");
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(rc_seal_keys_load(path, &k, err, sizeof(err), warn, sizeof(warn)), 0);
    assert_non_null(strstr(warn, "group"));
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(rc_seal_keys_load(path, &k, err, sizeof(err), warn, sizeof(warn)),
                     RC_EINVAL);
    assert_non_null(strstr(err, "readable by every user"));
    /* Too large (a wrong file named by mistake): refused before parsing. */
    {
        FILE *f = fopen(path, "w");
        int i;

        assert_non_null(f);
        for (i = 0; i < RC_SEAL_FILE_MAX / 64 + 2; i++)
            fprintf(f, "%s\n", key_a);
        fclose(f);
    }
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(rc_seal_keys_load(path, &k, err, sizeof(err), warn, sizeof(warn)),
                     RC_EINVAL);
    assert_non_null(strstr(err, "larger than"));
    /* A directory is not a key file. */
    assert_int_equal(rc_seal_keys_load("/tmp", &k, err, sizeof(err), warn, sizeof(warn)),
                     RC_EINVAL);
    assert_non_null(strstr(err, "not a regular file"));
    unlink(path);
    assert_true(rc_seal_keys_load(path, &k, err, sizeof(err), warn, sizeof(warn)) < 0);
    assert_non_null(strstr(err, "cannot open"));
}

static void test_keygen(void **state)
{
    char a[66], b[66], err[64];
    struct rc_seal_keys k;

    (void)state;
    rc_seal_keygen_line(a);
    rc_seal_keygen_line(b);
    assert_int_equal(strlen(a), 65);
    assert_int_equal(a[64], '\n');
    assert_string_not_equal(a, b);
    assert_int_equal(rc_seal_keys_parse(a, strlen(a), &k, err, sizeof(err)), 0);
}

/* ---- datagrams ---- */

struct pair {
    struct rc_seal_dgram a, b;
    struct rc_seal_stats st;
};

static struct pair *pair_new(void)
{
    struct pair *p = calloc(1, sizeof(*p));

    rc_seal_dgram_init(&p->a, ID_A, NOW);
    rc_seal_dgram_init(&p->b, ID_B, NOW);
    return p;
}

static size_t seal_msg(struct rc_seal_dgram *d, const struct rc_seal_keys *k, uint64_t to,
                       uint64_t now, const char *msg, uint8_t *out)
{
    size_t n;

    assert_int_equal(rc_seal_dgram_seal(d, k, to, now, (const uint8_t *)msg, strlen(msg), out,
                                        2048, &n),
                     0);
    assert_int_equal(n, strlen(msg) + RC_SEAL_DGRAM_OVERHEAD);
    return n;
}

static int open_msg(struct pair *p, const struct rc_seal_keys *k, uint64_t now,
                    const uint8_t *in, size_t n, char *out)
{
    size_t len = 0;
    uint64_t from = 0;
    int rv = rc_seal_dgram_open(&p->b, k, now, in, n, (uint8_t *)out, 2048, &len, &from, &p->st,
                                NULL);

    out[len] = '\0';
    if (rv == 0)
        assert_int_equal(from, ID_A);
    return rv;
}

static void test_dgram_roundtrip(void **state)
{
    struct rc_seal_keys k;
    struct pair *p = pair_new();
    uint8_t buf[2048];
    char out[2048];
    size_t n;

    (void)state;
    keys_of(&k, key_a, NULL);
    n = seal_msg(&p->a, &k, ID_B, NOW, "hello gossip", buf);
    assert_memory_not_equal(buf + RC_SEAL_DGRAM_HDR, "hello gossip", 12); /* encrypted */
    assert_int_equal(open_msg(p, &k, NOW + 5, buf, n, out), 0);
    assert_string_equal(out, "hello gossip");
    /* Unknown recipient (a seed) is accepted too. */
    n = seal_msg(&p->a, &k, 0, NOW, "to a seed", buf);
    assert_int_equal(open_msg(p, &k, NOW, buf, n, out), 0);
    assert_string_equal(out, "to a seed");
    /* Empty payload. */
    n = seal_msg(&p->a, &k, ID_B, NOW, "", buf);
    assert_int_equal(open_msg(p, &k, NOW, buf, n, out), 0);
    assert_int_equal(p->st.gossip_auth_failures + p->st.gossip_replays, 0);
    free(p);
}

static void test_dgram_wrong_key(void **state)
{
    struct rc_seal_keys ka, kb;
    struct pair *p = pair_new();
    uint8_t buf[2048];
    char out[2048];
    size_t n;

    (void)state;
    keys_of(&ka, key_a, NULL);
    keys_of(&kb, key_b, NULL);
    n = seal_msg(&p->a, &ka, ID_B, NOW, "x dead", buf);
    assert_int_equal(open_msg(p, &kb, NOW, buf, n, out), RC_ECLUSTER_KEY);
    /* A forger who sets our key id but lacks the key. */
    memcpy(buf + 4, (uint8_t[]){(uint8_t)(kb.k[0].id >> 24), (uint8_t)(kb.k[0].id >> 16),
                                (uint8_t)(kb.k[0].id >> 8), (uint8_t)kb.k[0].id},
           4);
    assert_int_equal(open_msg(p, &kb, NOW, buf, n, out), RC_ECLUSTER_KEY);
    /* Unsealed SWIM bytes. */
    assert_int_equal(open_msg(p, &kb, NOW, (const uint8_t *)"RG\x01\x01garbage", 11, out),
                     RC_ECLUSTER_KEY);
    assert_int_equal(open_msg(p, &kb, NOW, buf, 10, out), RC_ECLUSTER_KEY);
    assert_int_equal(p->st.gossip_auth_failures, 4);
    free(p);
}

static void test_dgram_tamper_every_byte(void **state)
{
    struct rc_seal_keys k;
    struct pair *p = pair_new();
    uint8_t buf[2048], bad[2048];
    char out[2048];
    size_t n, i;
    int bit;

    (void)state;
    keys_of(&k, key_a, NULL);
    n = seal_msg(&p->a, &k, ID_B, NOW, "member 42 is dead", buf);
    for (i = 0; i < n; i++) {
        for (bit = 0; bit < 8; bit += 7) {
            memcpy(bad, buf, n);
            bad[i] ^= (uint8_t)(1u << bit);
            if (open_msg(p, &k, NOW, bad, n, out) == 0)
                fail_msg("byte %zu bit %d flipped and still opened", i, bit);
        }
    }
    /* Truncated or extended. */
    assert_int_not_equal(open_msg(p, &k, NOW, buf, n - 1, out), 0);
    memcpy(bad, buf, n);
    bad[n] = 0;
    assert_int_not_equal(open_msg(p, &k, NOW, bad, n + 1, out), 0);
    /* The original still opens: failures changed no state. */
    assert_int_equal(open_msg(p, &k, NOW, buf, n, out), 0);
    free(p);
}

static void test_dgram_replay(void **state)
{
    struct rc_seal_keys k;
    struct pair *p = pair_new();
    uint8_t m[3][2048];
    size_t n[3];
    char out[2048];
    int i;

    (void)state;
    keys_of(&k, key_a, NULL);
    for (i = 0; i < 3; i++)
        n[i] = seal_msg(&p->a, &k, ID_B, NOW, "ping", m[i]);
    /* Reordering within the window is fine, once each. */
    assert_int_equal(open_msg(p, &k, NOW, m[2], n[2], out), 0);
    assert_int_equal(open_msg(p, &k, NOW, m[0], n[0], out), 0);
    assert_int_equal(open_msg(p, &k, NOW, m[0], n[0], out), RC_EREPLAY);
    assert_int_equal(open_msg(p, &k, NOW, m[2], n[2], out), RC_EREPLAY);
    assert_int_equal(open_msg(p, &k, NOW, m[1], n[1], out), 0);
    assert_int_equal(open_msg(p, &k, NOW, m[1], n[1], out), RC_EREPLAY);
    assert_int_equal(p->st.gossip_replays, 3);
    /* Older than the bitmap. */
    for (i = 0; i < RC_SEAL_REPLAY_BITS + 1; i++) {
        uint8_t t[2048];
        size_t tn = seal_msg(&p->a, &k, ID_B, NOW, "later", t);

        assert_int_equal(open_msg(p, &k, NOW, t, tn, out), 0);
    }
    n[0] = seal_msg(&p->a, &k, ID_B, NOW, "old", m[0]);
    for (i = 0; i < RC_SEAL_REPLAY_BITS + 1; i++) {
        uint8_t t[2048];
        size_t tn = seal_msg(&p->a, &k, ID_B, NOW, "newer", t);

        assert_int_equal(open_msg(p, &k, NOW, t, tn, out), 0);
    }
    assert_int_equal(open_msg(p, &k, NOW, m[0], n[0], out), RC_EREPLAY);
    free(p);
}

static void test_dgram_time(void **state)
{
    struct rc_seal_keys k;
    struct pair *p = pair_new();
    uint8_t buf[2048];
    char out[2048];
    size_t n;

    (void)state;
    keys_of(&k, key_a, NULL);
    n = seal_msg(&p->a, &k, ID_B, NOW + 10000, "stale", buf);
    assert_int_equal(open_msg(p, &k, NOW + 10000 + RC_SEAL_WINDOW_MS + 1, buf, n, out),
                     RC_EREPLAY);
    n = seal_msg(&p->a, &k, ID_B, NOW + 10000 + RC_SEAL_WINDOW_MS + 1, "future", buf);
    assert_int_equal(open_msg(p, &k, NOW + 10000, buf, n, out), RC_EREPLAY);
    /* Stamped more than the window before the receiver started, and
     * within the window of its clock: only when its clock was stepped
     * back after the start. */
    n = seal_msg(&p->a, &k, ID_B, NOW - RC_SEAL_WINDOW_MS - 5000, "before boot", buf);
    assert_int_equal(open_msg(p, &k, NOW - RC_SEAL_WINDOW_MS - 4000, buf, n, out), RC_EREPLAY);
    /* Misdirected: sent to C, replayed to B. */
    n = seal_msg(&p->a, &k, 0x3333, NOW, "for C", buf);
    assert_int_equal(open_msg(p, &k, NOW, buf, n, out), RC_EREPLAY);
    /* Our own datagram reflected back. */
    assert_int_equal(p->st.gossip_replays, 4);
    /* Our own datagram reflected back: refused, not counted. */
    n = seal_msg(&p->b, &k, ID_B, NOW, "mine", buf);
    assert_int_equal(open_msg(p, &k, NOW, buf, n, out), RC_EINVAL);
    assert_int_equal(p->st.gossip_replays, 4);
    free(p);
}

/* A receiver whose clock runs fast hears its peers from its first moment,
 * as long as the skew is inside the window (issue 12: with a 1 s boot
 * slack a node 20 s fast refused everyone for 20 s while they heard it);
 * beyond it the refusal names the authenticated sender and its stamp. */
static void test_dgram_fast_receiver(void **state)
{
    struct rc_seal_keys k, other;
    struct pair *p = pair_new();
    uint8_t buf[2048];
    char out[2048];
    size_t n;
    const int64_t skews[] = {1500, 20000, RC_SEAL_WINDOW_MS - 1};
    unsigned i;

    (void)state;
    keys_of(&k, key_a, NULL);
    keys_of(&other, key_b, NULL);
    for (i = 0; i < sizeof(skews) / sizeof(skews[0]); i++) {
        uint64_t b_now = NOW + (uint64_t)skews[i];

        rc_seal_dgram_init(&p->b, ID_B, b_now); /* B starts with its clock ahead */
        n = seal_msg(&p->a, &k, ID_B, NOW, "right after B started", buf);
        assert_int_equal(open_msg(p, &k, b_now + 1, buf, n, out), 0);
        assert_int_equal(p->b.last_from, ID_A);
        assert_int_equal(p->b.last_ts, NOW);
    }
    /* Beyond the window: refused, and the stamp is known. */
    rc_seal_dgram_init(&p->b, ID_B, NOW + RC_SEAL_WINDOW_MS + 60000);
    n = seal_msg(&p->a, &k, ID_B, NOW + 5, "90 s behind", buf);
    assert_int_equal(open_msg(p, &k, NOW + RC_SEAL_WINDOW_MS + 60000, buf, n, out), RC_EREPLAY);
    assert_int_equal(p->b.last_from, ID_A);
    assert_int_equal(p->b.last_ts, NOW + 5);
    /* What does not authenticate names nobody. */
    n = seal_msg(&p->a, &other, ID_B, NOW, "wrong key", buf);
    assert_int_equal(open_msg(p, &k, NOW + RC_SEAL_WINDOW_MS + 60000, buf, n, out),
                     RC_ECLUSTER_KEY);
    assert_int_equal(p->b.last_from, 0);
    assert_int_equal(p->b.last_ts, 0);
    free(p);
}

/* A restarted sender's sequence starts above its previous run's. */
static void test_dgram_sender_restart(void **state)
{
    struct rc_seal_keys k;
    struct pair *p = pair_new();
    uint8_t buf[2048];
    char out[2048];
    size_t n;
    int i;

    (void)state;
    keys_of(&k, key_a, NULL);
    for (i = 0; i < 1000; i++) {
        n = seal_msg(&p->a, &k, ID_B, NOW, "run 1", buf);
        assert_int_equal(open_msg(p, &k, NOW, buf, n, out), 0);
    }
    rc_seal_dgram_init(&p->a, ID_A, NOW + 2);
    n = seal_msg(&p->a, &k, ID_B, NOW + 2, "run 2", buf);
    assert_int_equal(open_msg(p, &k, NOW + 2, buf, n, out), 0);
    /* Restarted with its clock stepped back 5 s: its numbers restart
     * lower, its stamps are still newer than anything it sent: accepted,
     * and replays of the new run are still refused. */
    {
        uint8_t old[2048];
        size_t on;

        on = seal_msg(&p->a, &k, ID_B, NOW + 3000, "run 2 late", old);
        assert_int_equal(open_msg(p, &k, NOW + 3000, old, on, out), 0);
        rc_seal_dgram_init(&p->a, ID_A, NOW - 2000);
        n = seal_msg(&p->a, &k, ID_B, NOW + 3001, "run 3", buf);
        assert_int_equal(open_msg(p, &k, NOW + 3001, buf, n, out), 0);
        assert_string_equal(out, "run 3");
        assert_int_equal(open_msg(p, &k, NOW + 3001, buf, n, out), RC_EREPLAY);
        /* An old-run datagram older than the window, with an older stamp: refused. */
        rc_seal_dgram_init(&p->a, ID_A, NOW - 1000);
        for (i = 0; i < RC_SEAL_REPLAY_BITS + 2; i++) {
            n = seal_msg(&p->a, &k, ID_B, NOW + 3002, "run 4", buf);
            assert_int_equal(open_msg(p, &k, NOW + 3002, buf, n, out), 0);
        }
        n = seal_msg(&p->a, &k, ID_B, NOW + 3000, "stale number, old stamp", buf);
        p->a.next_seq -= 1000; /* (a number far below the window) */
        n = seal_msg(&p->a, &k, ID_B, NOW + 3000, "stale number, old stamp", buf);
        assert_int_equal(open_msg(p, &k, NOW + 3002, buf, n, out), RC_EREPLAY);
    }
    free(p);
}

/* Rotation: A sends with its first key; receivers holding [A], [B,A],
 * [A,B] open it, [B] does not. */
static void test_dgram_rotation(void **state)
{
    struct rc_seal_keys send_a, send_ba, r_a, r_ba, r_ab, r_b;
    struct pair *p = pair_new();
    uint8_t buf[2048];
    char out[2048];
    size_t n;

    (void)state;
    keys_of(&send_a, key_a, NULL);
    keys_of(&send_ba, key_b, key_a);
    keys_of(&r_a, key_a, NULL);
    keys_of(&r_ba, key_b, key_a);
    keys_of(&r_ab, key_a, key_b);
    keys_of(&r_b, key_b, NULL);
    n = seal_msg(&p->a, &send_a, ID_B, NOW, "on A", buf);
    assert_int_equal(open_msg(p, &r_b, NOW, buf, n, out), RC_ECLUSTER_KEY);
    assert_int_equal(open_msg(p, &r_a, NOW, buf, n, out), 0);
    n = seal_msg(&p->a, &send_a, ID_B, NOW, "on A", buf);
    assert_int_equal(open_msg(p, &r_ba, NOW, buf, n, out), 0);
    n = seal_msg(&p->a, &send_a, ID_B, NOW, "on A", buf);
    assert_int_equal(open_msg(p, &r_ab, NOW, buf, n, out), 0);
    /* Switched to B first: [A] can no longer open, the others can. */
    n = seal_msg(&p->a, &send_ba, ID_B, NOW, "on B", buf);
    assert_int_equal(open_msg(p, &r_a, NOW, buf, n, out), RC_ECLUSTER_KEY);
    assert_int_equal(open_msg(p, &r_ab, NOW, buf, n, out), 0);
    n = seal_msg(&p->a, &send_ba, ID_B, NOW, "on B", buf);
    assert_int_equal(open_msg(p, &r_ba, NOW, buf, n, out), 0);
    n = seal_msg(&p->a, &send_ba, ID_B, NOW, "on B", buf);
    assert_int_equal(open_msg(p, &r_b, NOW, buf, n, out), 0);
    free(p);
}

/* Only authenticated senders take a replay slot; the table is bounded. */
static void test_dgram_many_senders(void **state)
{
    struct rc_seal_keys k;
    struct pair *p = pair_new();
    struct rc_seal_dgram *s = calloc(1, sizeof(*s));
    uint8_t buf[2048];
    char out[2048];
    size_t n, olen;
    uint64_t id, from;

    (void)state;
    keys_of(&k, key_a, NULL);
    for (id = 1; id <= RC_SEAL_MAX_SENDERS + 10; id++) {
        rc_seal_dgram_init(s, 0x10000 + id, NOW);
        n = seal_msg(s, &k, ID_B, NOW, "hi", buf);
        assert_int_equal(rc_seal_dgram_open(&p->b, &k, NOW + id, buf, n, (uint8_t *)out,
                                            sizeof(out), &olen, &from, NULL, NULL),
                         0);
        assert_int_equal(from, 0x10000 + id);
    }
    assert_int_equal(p->b.nsenders, RC_SEAL_MAX_SENDERS);
    free(s);
    free(p);
}

/* ---- streams ---- */

struct link {
    struct rc_seal_stream c, s;
    struct rc_buf c2s, s2c, cplain, splain;
};

static void link_init(struct link *l, const struct rc_seal_keys *kc, const struct rc_seal_keys *ks)
{
    memset(l, 0, sizeof(*l));
    rc_buf_init(&l->c2s, 1 << 22);
    rc_buf_init(&l->s2c, 1 << 22);
    rc_buf_init(&l->cplain, 1 << 22);
    rc_buf_init(&l->splain, 1 << 22);
    assert_int_equal(rc_seal_stream_start(&l->c, kc, 1, &l->c2s), 0);
    assert_int_equal(rc_seal_stream_start(&l->s, ks, 0, &l->s2c), 0);
    assert_int_equal(rc_buf_used(&l->c2s), RC_SEAL_HELLO_LEN);
}

static void link_close(struct link *l)
{
    rc_buf_close(&l->c2s);
    rc_buf_close(&l->s2c);
    rc_buf_close(&l->cplain);
    rc_buf_close(&l->splain);
}

/* Feeds raw to the reader in pieces of step bytes. */
static int feed(struct rc_seal_stream *st, const struct rc_seal_keys *k, struct rc_buf *raw,
                struct rc_buf *plain, size_t step)
{
    struct rc_buf in;
    int rv = 0;

    rc_buf_init(&in, 1 << 22);
    while (rc_buf_used(raw) > 0 && rv == 0) {
        size_t m = rc_buf_used(raw) < step ? rc_buf_used(raw) : step;

        assert_int_equal(rc_buf_append(&in, rc_buf_rptr(raw), m), 0);
        rc_buf_consume(raw, m);
        rv = rc_seal_stream_read(st, k, &in, plain, NULL);
    }
    rc_buf_close(&in);
    return rv;
}

static void test_stream_roundtrip(void **state)
{
    struct rc_seal_keys k;
    struct link l;
    static uint8_t big[100000];
    size_t i, steps[] = {1, 7, 40, 4096, 1 << 20};

    (void)state;
    keys_of(&k, key_a, NULL);
    for (i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 31);
    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        link_init(&l, &k, &k);
        assert_int_equal(rc_seal_stream_write(&l.c, big, 10, &l.c2s), RC_EINVAL); /* no hello yet */
        assert_int_equal(feed(&l.s, &k, &l.c2s, &l.splain, steps[i]), 0);
        assert_int_equal(feed(&l.c, &k, &l.s2c, &l.cplain, steps[i]), 0);
        assert_int_equal(l.c.state, RC_SEAL_OPEN);
        assert_int_equal(l.s.state, RC_SEAL_OPEN);
        assert_int_equal(rc_seal_stream_write(&l.c, big, sizeof(big), &l.c2s), 0);
        assert_int_equal(rc_buf_used(&l.c2s), rc_seal_stream_wire_len(sizeof(big)));
        assert_int_equal(rc_seal_stream_write(&l.c, big, 3, &l.c2s), 0);
        assert_int_equal(feed(&l.s, &k, &l.c2s, &l.splain, steps[i]), 0);
        assert_int_equal(rc_buf_used(&l.splain), sizeof(big) + 3);
        assert_memory_equal(rc_buf_rptr(&l.splain), big, sizeof(big));
        assert_int_equal(rc_seal_stream_write(&l.s, big + 5, 1000, &l.s2c), 0);
        assert_int_equal(feed(&l.c, &k, &l.s2c, &l.cplain, steps[i]), 0);
        assert_memory_equal(rc_buf_rptr(&l.cplain), big + 5, 1000);
        link_close(&l);
    }
}

static void test_stream_wrong_key(void **state)
{
    struct rc_seal_keys ka, kb, kba;
    struct link l;

    (void)state;
    keys_of(&ka, key_a, NULL);
    keys_of(&kb, key_b, NULL);
    keys_of(&kba, key_b, key_a);
    /* The responder does not hold the initiator's key id. */
    link_init(&l, &ka, &kb);
    assert_int_equal(feed(&l.s, &kb, &l.c2s, &l.splain, 1000), RC_ECLUSTER_KEY);
    link_close(&l);
    /* A forger claiming our key id: the first record does not open. */
    link_init(&l, &ka, &kb);
    memcpy((uint8_t *)rc_buf_rptr(&l.c2s) + 4, rc_buf_rptr(&l.s2c) + 4, 4);
    l.c.kid = kb.k[0].id;
    {
        struct rc_seal_keys forged = kb;

        memset(forged.k[0].key, 0x55, RC_SEAL_KEY_LEN); /* same id, other bytes */
        assert_int_equal(feed(&l.s, &kb, &l.c2s, &l.splain, 1000), 0);
        assert_int_equal(feed(&l.c, &forged, &l.s2c, &l.cplain, 1000), 0);
        assert_int_equal(rc_seal_stream_write(&l.c, (const uint8_t *)"REPL_WRITE", 10, &l.c2s), 0);
        assert_int_equal(feed(&l.s, &kb, &l.c2s, &l.splain, 1000), RC_ECLUSTER_KEY);
        assert_int_equal(rc_buf_used(&l.splain), 0);
    }
    link_close(&l);
    /* Rotation: initiator on [B,A], responder on [A,B]: fine. */
    link_init(&l, &kba, &ka);
    assert_int_equal(feed(&l.s, &ka, &l.c2s, &l.splain, 1000), RC_ECLUSTER_KEY);
    link_close(&l);
    keys_of(&ka, key_a, key_b);
    link_init(&l, &kba, &ka);
    assert_int_equal(feed(&l.s, &ka, &l.c2s, &l.splain, 1000), 0);
    assert_int_equal(feed(&l.c, &kba, &l.s2c, &l.cplain, 1000), 0);
    assert_int_equal(rc_seal_stream_write(&l.c, (const uint8_t *)"hi", 2, &l.c2s), 0);
    assert_int_equal(feed(&l.s, &ka, &l.c2s, &l.splain, 1000), 0);
    assert_memory_equal(rc_buf_rptr(&l.splain), "hi", 2);
    link_close(&l);
}

static void test_stream_plain_peer(void **state)
{
    struct rc_seal_keys k;
    struct rc_seal_stream s;
    struct rc_buf raw, plain, wire;
    const char *why = NULL;

    (void)state;
    keys_of(&k, key_a, NULL);
    rc_buf_init(&raw, 4096);
    rc_buf_init(&plain, 4096);
    rc_buf_init(&wire, 4096);
    assert_int_equal(rc_seal_stream_start(&s, &k, 0, &wire), 0);
    /* An unkeyed node's frame header is refused from its first byte. */
    rc_buf_append(&raw, "RC", 2);
    assert_int_equal(rc_seal_stream_read(&s, &k, &raw, &plain, &why), RC_ECLUSTER_KEY);
    assert_non_null(why);
    assert_int_equal(rc_seal_stream_read(&s, &k, &raw, &plain, &why), RC_ECLUSTER_KEY);
    rc_buf_close(&raw);
    rc_buf_close(&plain);
    rc_buf_close(&wire);
}

static void test_stream_tamper_replay(void **state)
{
    struct rc_seal_keys k;
    struct link l;
    struct rc_buf copy;
    size_t rec, i;
    uint8_t save[64];

    (void)state;
    keys_of(&k, key_a, NULL);
    /* Every byte of a record flipped: refused. */
    for (i = 0; i < RC_SEAL_RECORD_OVERHEAD + 5; i++) {
        link_init(&l, &k, &k);
        assert_int_equal(feed(&l.s, &k, &l.c2s, &l.splain, 1000), 0);
        assert_int_equal(feed(&l.c, &k, &l.s2c, &l.cplain, 1000), 0);
        assert_int_equal(rc_seal_stream_write(&l.c, (const uint8_t *)"hello", 5, &l.c2s), 0);
        ((uint8_t *)rc_buf_rptr(&l.c2s))[i] ^= 0x01;
        /* A longer length only makes the reader wait for more bytes. */
        if (feed(&l.s, &k, &l.c2s, &l.splain, 1000) == 0 && i >= RC_SEAL_RECORD_HDR)
            fail_msg("record byte %zu flipped and still opened", i);
        assert_int_equal(rc_buf_used(&l.splain), 0);
        link_close(&l);
    }
    /* Replayed record, and swapped records. */
    link_init(&l, &k, &k);
    assert_int_equal(feed(&l.s, &k, &l.c2s, &l.splain, 1000), 0);
    assert_int_equal(feed(&l.c, &k, &l.s2c, &l.cplain, 1000), 0);
    assert_int_equal(rc_seal_stream_write(&l.c, (const uint8_t *)"first", 5, &l.c2s), 0);
    rec = rc_buf_used(&l.c2s);
    memcpy(save, rc_buf_rptr(&l.c2s), rec);
    assert_int_equal(feed(&l.s, &k, &l.c2s, &l.splain, 1000), 0);
    rc_buf_init(&copy, 4096);
    rc_buf_append(&copy, save, rec);
    assert_int_equal(feed(&l.s, &k, &copy, &l.splain, 1000), RC_ECLUSTER_KEY);
    rc_buf_close(&copy);
    link_close(&l);

    link_init(&l, &k, &k);
    assert_int_equal(feed(&l.s, &k, &l.c2s, &l.splain, 1000), 0);
    assert_int_equal(feed(&l.c, &k, &l.s2c, &l.cplain, 1000), 0);
    assert_int_equal(rc_seal_stream_write(&l.c, (const uint8_t *)"one", 3, &l.c2s), 0);
    rec = rc_buf_used(&l.c2s);
    memcpy(save, rc_buf_rptr(&l.c2s), rec);
    rc_buf_consume(&l.c2s, rec);
    assert_int_equal(rc_seal_stream_write(&l.c, (const uint8_t *)"two", 3, &l.c2s), 0);
    rc_buf_append(&l.c2s, save, rec); /* "two" then "one" */
    assert_int_equal(feed(&l.s, &k, &l.c2s, &l.splain, 1000), RC_ECLUSTER_KEY);
    assert_int_equal(rc_buf_used(&l.splain), 0);
    link_close(&l);

    /* A whole session replayed to a new connection: new nonces, so the
     * old first record does not open. */
    link_init(&l, &k, &k);
    assert_int_equal(feed(&l.c, &k, &l.s2c, &l.cplain, 1000), 0);
    rc_buf_init(&copy, 4096);
    rc_buf_append(&copy, rc_buf_rptr(&l.c2s), rc_buf_used(&l.c2s));
    assert_int_equal(rc_seal_stream_write(&l.c, (const uint8_t *)"put", 3, &copy), 0);
    link_close(&l);
    link_init(&l, &k, &k);
    assert_int_equal(feed(&l.s, &k, &copy, &l.splain, 1000), RC_ECLUSTER_KEY);
    rc_buf_close(&copy);
    link_close(&l);
}

/* A reader whose plaintext buffer is full waits instead of failing. */
static void test_stream_backpressure(void **state)
{
    struct rc_seal_keys k;
    struct link l;
    static uint8_t big[3 * RC_SEAL_RECORD_MAX];

    (void)state;
    keys_of(&k, key_a, NULL);
    link_init(&l, &k, &k);
    rc_buf_close(&l.splain);
    rc_buf_init(&l.splain, RC_SEAL_RECORD_MAX + 10);
    assert_int_equal(feed(&l.s, &k, &l.c2s, &l.splain, 1000), 0);
    assert_int_equal(feed(&l.c, &k, &l.s2c, &l.cplain, 1000), 0);
    assert_int_equal(rc_seal_stream_write(&l.c, big, sizeof(big), &l.c2s), 0);
    assert_int_equal(rc_seal_stream_read(&l.s, &k, &l.c2s, &l.splain, NULL), 0);
    assert_int_equal(rc_buf_used(&l.splain), RC_SEAL_RECORD_MAX);
    rc_buf_consume(&l.splain, RC_SEAL_RECORD_MAX);
    assert_int_equal(rc_seal_stream_read(&l.s, &k, &l.c2s, &l.splain, NULL), 0);
    rc_buf_consume(&l.splain, rc_buf_used(&l.splain));
    assert_int_equal(rc_seal_stream_read(&l.s, &k, &l.c2s, &l.splain, NULL), 0);
    assert_int_equal(rc_buf_used(&l.splain), RC_SEAL_RECORD_MAX);
    assert_int_equal(rc_buf_used(&l.c2s), 0);
    link_close(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_keygen),
        cmocka_unit_test(test_dgram_roundtrip),
        cmocka_unit_test(test_dgram_wrong_key),
        cmocka_unit_test(test_dgram_tamper_every_byte),
        cmocka_unit_test(test_dgram_replay),
        cmocka_unit_test(test_dgram_time),
        cmocka_unit_test(test_dgram_fast_receiver),
        cmocka_unit_test(test_dgram_sender_restart),
        cmocka_unit_test(test_dgram_rotation),
        cmocka_unit_test(test_dgram_many_senders),
        cmocka_unit_test(test_stream_roundtrip),
        cmocka_unit_test(test_stream_wrong_key),
        cmocka_unit_test(test_stream_plain_peer),
        cmocka_unit_test(test_stream_tamper_replay),
        cmocka_unit_test(test_stream_backpressure),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
