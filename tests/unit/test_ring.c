/*
 * test_ring.c - key tokens and the consistent-hash ring. Known-answer
 * vectors pin the placement contract in ring.h: if they change, nodes of
 * different versions disagree about where keys live. The rest checks the
 * ring's promises by measurement: order independence, balance, minimal
 * movement, and that rc_ring_diff reports exactly the keys that moved.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Inline xxHash for its default secret: the tie-break test builds a token
 * collision from the published 4-8 byte algorithm. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "err.h"
#include "ring.h"

/* Keys for the statistical tests: enough that 5 sigma of sampling error is
 * a few percent of the smallest share measured. */
#define BALANCE_KEYS 200000
#define MOVE_KEYS 100000
#define ORDER_KEYS 10000

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void random_ids(uint64_t *ids, size_t n, uint64_t seed)
{
    size_t i;

    for (i = 0; i < n; i++) {
        do
            ids[i] = splitmix64(&seed);
        while (ids[i] == 0);
    }
}

static struct rc_ring *new_ring(const uint64_t *ids, size_t n, int vnodes)
{
    struct rc_ring *r = NULL;

    assert_int_equal(rc_ring_new(ids, n, vnodes, &r), 0);
    assert_non_null(r);
    return r;
}

static uint64_t key_token(size_t i)
{
    char key[32];
    int n = snprintf(key, sizeof(key), "key:%zu", i);

    return rc_ring_token(key, (size_t)n);
}

static size_t member_index(const struct rc_ring *r, uint64_t id)
{
    const uint64_t *ids;
    size_t n = rc_ring_members(r, &ids), i;

    for (i = 0; i < n && ids[i] != id; i++)
        ;
    assert_true(i < n);
    return i;
}

static int same_list(const uint64_t *a, int na, const uint64_t *b, int nb)
{
    return na == nb && memcmp(a, b, (size_t)na * sizeof(*a)) == 0;
}

static double width(const struct rc_ring_range *g)
{
    return ((double)(g->last - g->first) + 1) / 18446744073709551616.0;
}

static void test_known_answers(void **state)
{
    (void)state;
    /* XXH3_64bits, seed 0. The empty-input value is the one published in
     * the xxHash reference; the others were computed with libxxhash 0.8.1. */
    assert_int_equal(rc_ring_token("", 0), 0x2D06800538D394C2ULL);
    assert_int_equal(rc_ring_token("a", 1), 0xE6C632B61E964E1FULL);
    assert_int_equal(rc_ring_token("hello", 5), 0x9555E8555C62DCFDULL);
}

static void test_spread(void **state)
{
    char key[32];
    unsigned buckets[16] = {0};
    int i, n;

    (void)state;
    for (i = 0; i < 160000; i++) {
        n = snprintf(key, sizeof(key), "key:%08d", i);
        buckets[rc_ring_token(key, (size_t)n) >> 60]++;
    }
    for (i = 0; i < 16; i++) /* 10000 expected per bucket; 5% is > 5 sigma */
        assert_in_range(buckets[i], 9500, 10500);
}

/* Vnode tokens. Computed once with libxxhash 0.8.1 and checked in: a
 * change here moves every key of every cluster, a wire-compat break. */
static void test_vnode_token_vectors(void **state)
{
    static const struct {
        uint64_t id;
        uint32_t index;
        uint64_t token;
    } v[] = {
        {0x0000000000000001ULL, 0, 0x2FBC593564DB792EULL},
        {0x0000000000000001ULL, 1, 0x85671091EDA75EB5ULL},
        {0x0123456789ABCDEFULL, 0, 0xB78DF414284277A6ULL},
        {0x0123456789ABCDEFULL, 255, 0x3F23AE8FEBA2E62CULL},
        {0xFFFFFFFFFFFFFFFFULL, 4095, 0x27DEB7AF9E504FECULL},
    };
    static const uint8_t le[8] = {0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        assert_int_equal(rc_ring_vnode_token(v[i].id, v[i].index), v[i].token);
    /* The documented derivation, spelled out: hash of the little-endian
     * id bytes, seeded with the vnode index. */
    assert_int_equal(rc_ring_vnode_token(0x0123456789ABCDEFULL, 77),
                     XXH3_64bits_withSeed(le, sizeof(le), 77));
}

/* Preference lists on a fixed 3-node ring, computed once and checked in:
 * a change here means nodes of different versions route keys to different
 * replicas, a wire-compat break. */
static void test_replica_vectors(void **state)
{
    static const uint64_t ids[3] = {0x0123456789ABCDEFULL, 0xFEDCBA9876543210ULL,
                                    0xDEADBEEFULL};
    static const uint64_t A = 0x0123456789ABCDEFULL, B = 0xFEDCBA9876543210ULL,
                          C = 0xDEADBEEFULL;
    static const struct {
        const char *key;
        uint64_t list[3];
    } v[] = {
        {"", {B, C, A}},           {"a", {B, A, C}},      {"hello", {B, A, C}},
        {"user:1", {C, B, A}},     {"user:2", {A, C, B}}, {"user:3", {B, A, C}},
        {"session:abc", {C, B, A}}, {"k", {C, B, A}},
    };
    uint64_t out[RC_RING_MAX_RF];
    struct rc_ring *r;
    size_t i;

    (void)state;
    /* Nodes that disagree on V disagree on placement: the default is part
     * of the contract too. */
    assert_int_equal(RC_RING_DEFAULT_VNODES, 256);
    r = new_ring(ids, 3, 256);
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        assert_int_equal(rc_ring_replicas_key(r, v[i].key, strlen(v[i].key), 3, out), 3);
        assert_memory_equal(out, v[i].list, sizeof(v[i].list));
        assert_int_equal(rc_ring_replicas_key(r, v[i].key, strlen(v[i].key), 1, out), 1);
        assert_int_equal(out[0], v[i].list[0]);
    }
    rc_ring_free(r);
}

/* The ring holds exactly the vnode tokens of its members, sorted. */
static void test_tokens_match_contract(void **state)
{
    static const uint64_t ids[] = {42, 7, 0xFFFFFFFFFFFFFFFFULL};
    const uint64_t *tokens, *members;
    uint64_t out[1];
    struct rc_ring *r;
    size_t m, i, k, n;

    (void)state;
    r = new_ring(ids, 3, 100);
    assert_int_equal(rc_ring_members(r, &members), 3);
    assert_int_equal(members[0], 7);
    assert_int_equal(members[1], 42);
    assert_int_equal(members[2], 0xFFFFFFFFFFFFFFFFULL);
    n = rc_ring_tokens(r, &tokens);
    assert_int_equal(n, 300);
    for (k = 1; k < n; k++)
        assert_true(tokens[k - 1] <= tokens[k]);
    for (m = 0; m < 3; m++) {
        for (i = 0; i < 100; i++) {
            uint64_t t = rc_ring_vnode_token(ids[m], (uint32_t)i);

            for (k = 0; k < n && tokens[k] != t; k++)
                ;
            assert_true(k < n);
            /* A vnode owns its own token. */
            assert_int_equal(rc_ring_replicas(r, t, 1, out), 1);
            assert_int_equal(out[0], ids[m]);
        }
    }
    rc_ring_free(r);
}

/* Two members whose vnodes share a token: the lower id owns the range,
 * whatever the vnode indices. The pair is built from xxHash's 4-8 byte
 * path, token = rrmxmx(rotl32(id) ^ (C - seed')): a second id with
 * rotl32(b) = rotl32(a) ^ bitflip(0) ^ bitflip(1) collides. */
/* Ids a < b whose vnode 1 (a) and vnode 0 (b) share a token, built from
 * the published 4-8 byte algorithm; returns that token. Lower id on vnode
 * 1, higher on vnode 0, so an index tie-break would pick the other one. */
static uint64_t colliding_ids(uint64_t *pa, uint64_t *pb)
{
    uint64_t c = 0, f0, f1, a, b, t;
    int i;

    for (i = 7; i >= 0; i--) /* secret bytes 8..15 xor 16..23, LE */
        c = (c << 8) | (uint64_t)(XXH3_kSecret[8 + i] ^ XXH3_kSecret[16 + i]);
    f0 = c;                            /* seed 0: seed' = 0 */
    f1 = c - 0x0100000000000001ULL;    /* seed 1: 1 ^ (bswap32(1) << 32) */
    for (a = 1;; a++) {
        b = ((a << 32) | (a >> 32)) ^ f0 ^ f1;
        b = (b << 32) | (b >> 32);
        if (b > a)
            break;
    }
    t = rc_ring_vnode_token(a, 1);
    assert_int_equal(rc_ring_vnode_token(b, 0), t);
    *pa = a;
    *pb = b;
    return t;
}

static void test_tie_break(void **state)
{
    uint64_t a, b, t, ids[2], out[2], first, last;
    double primary[2];
    struct rc_ring *r;

    (void)state;
    t = colliding_ids(&a, &b);

    ids[0] = b;
    ids[1] = a;
    r = new_ring(ids, 2, 2);
    assert_int_equal(rc_ring_replicas(r, t, 2, out), 2);
    assert_int_equal(out[0], a);
    assert_int_equal(out[1], b);
    assert_int_equal(rc_ring_range_of(r, t, &first, &last), 0);
    assert_int_equal(last, t);
    assert_int_equal(rc_ring_range_of(r, t + 1, &first, &last), 0);
    assert_int_equal(first, t + 1);
    assert_int_equal(rc_ring_shares(r, 1, primary, NULL), 0);
    assert_true(primary[0] + primary[1] > 1 - 1e-12 && primary[0] + primary[1] < 1 + 1e-12);
    rc_ring_free(r);
}

static void shuffle(uint64_t *ids, size_t n, uint64_t *seed)
{
    size_t i, j;
    uint64_t tmp;

    for (i = n - 1; i > 0; i--) {
        j = (size_t)(splitmix64(seed) % (i + 1));
        tmp = ids[i];
        ids[i] = ids[j];
        ids[j] = tmp;
    }
}

/* Any order of the same member list gives the same ring. */
static void test_order_independence(void **state)
{
    enum { N = 16, SHUFFLES = 50, RF = 3 };
    static uint64_t ref[ORDER_KEYS][RF];
    uint64_t ids[N], out[RF], seed = 11;
    const uint64_t *t0, *t1, *m0, *m1;
    struct rc_ring *r0, *r;
    size_t n0, k;
    int s;

    (void)state;
    random_ids(ids, N, 10);
    r0 = new_ring(ids, N, RC_RING_DEFAULT_VNODES);
    n0 = rc_ring_tokens(r0, &t0);
    rc_ring_members(r0, &m0);
    for (k = 0; k < ORDER_KEYS; k++)
        assert_int_equal(rc_ring_replicas(r0, key_token(k), RF, ref[k]), RF);
    for (s = 0; s < SHUFFLES; s++) {
        shuffle(ids, N, &seed);
        r = new_ring(ids, N, RC_RING_DEFAULT_VNODES);
        assert_int_equal(rc_ring_tokens(r, &t1), n0);
        assert_memory_equal(t0, t1, n0 * sizeof(*t0));
        assert_int_equal(rc_ring_members(r, &m1), N);
        assert_memory_equal(m0, m1, N * sizeof(*m0));
        for (k = 0; k < ORDER_KEYS; k++) {
            assert_int_equal(rc_ring_replicas(r, key_token(k), RF, out), RF);
            assert_memory_equal(out, ref[k], sizeof(out));
        }
        rc_ring_free(r);
    }
    rc_ring_free(r0);
}

/* Lists hold min(rf, members, RC_RING_MAX_RF) distinct members. */
static void test_replicas_distinct(void **state)
{
    uint64_t ids[10], out[RC_RING_MAX_RF];
    struct rc_ring *r;
    size_t n, k;
    int rf, got, want, i, j;

    (void)state;
    random_ids(ids, 10, 20);
    for (n = 1; n <= 10; n++) {
        r = new_ring(ids, n, 16);
        for (rf = 1; rf <= RC_RING_MAX_RF + 2; rf++) {
            want = rf < (int)n ? rf : (int)n;
            want = want < RC_RING_MAX_RF ? want : RC_RING_MAX_RF;
            for (k = 0; k < 500; k++) {
                got = rc_ring_replicas(r, key_token(k), rf, out);
                assert_int_equal(got, want);
                for (i = 0; i < got; i++) {
                    member_index(r, out[i]);
                    for (j = 0; j < i; j++)
                        assert_true(out[i] != out[j]);
                }
            }
        }
        rc_ring_free(r);
    }
}

static void test_rf_limits(void **state)
{
    uint64_t ids[10], out[RC_RING_MAX_RF];
    double share[10];
    struct rc_ring_range *ranges = (struct rc_ring_range *)1;
    size_t nr = 1;
    struct rc_ring *r;

    (void)state;
    random_ids(ids, 10, 30);
    r = new_ring(ids, 10, 64);
    assert_int_equal(rc_ring_replicas(r, 123, 100, out), RC_RING_MAX_RF);
    assert_int_equal(rc_ring_replicas(r, 123, 0, out), RC_EINVAL);
    assert_int_equal(rc_ring_replicas(r, 123, -1, out), RC_EINVAL);
    assert_int_equal(rc_ring_shares(r, 0, share, NULL), RC_EINVAL);
    assert_int_equal(rc_ring_diff(r, r, 0, &ranges, &nr), RC_EINVAL);
    assert_null(ranges);
    assert_int_equal(nr, 0);
    rc_ring_free(r);
}

static void test_empty_ring(void **state)
{
    uint64_t out[RC_RING_MAX_RF], first, last;
    const uint64_t *p;
    struct rc_ring *r;

    (void)state;
    r = new_ring(NULL, 0, RC_RING_DEFAULT_VNODES);
    assert_int_equal(rc_ring_members(r, &p), 0);
    assert_int_equal(rc_ring_tokens(r, &p), 0);
    assert_int_equal(rc_ring_replicas(r, 0, 3, out), 0);
    assert_int_equal(rc_ring_replicas_key(r, "k", 1, 3, out), 0);
    assert_int_equal(rc_ring_range_of(r, 5, &first, &last), RC_ENOTFOUND);
    assert_int_equal(rc_ring_shares(r, 3, NULL, NULL), 0);
    rc_ring_free(r);
    rc_ring_free(NULL);
}

static void expect_einval(const uint64_t *ids, size_t n, int vnodes)
{
    struct rc_ring *r = (struct rc_ring *)1;

    assert_int_equal(rc_ring_new(ids, n, vnodes, &r), RC_EINVAL);
    assert_null(r);
}

static void test_validation(void **state)
{
    static uint64_t many[RC_RING_MAX_MEMBERS + 1];
    static const uint64_t dup[] = {5, 9, 5};
    static const uint64_t zero[] = {5, 0, 9};
    size_t i;

    (void)state;
    for (i = 0; i < RC_RING_MAX_MEMBERS + 1; i++)
        many[i] = i + 1;
    expect_einval(dup, 3, 8);
    expect_einval(zero, 3, 8);
    expect_einval(many, RC_RING_MAX_MEMBERS + 1, 1);
    expect_einval(NULL, 2, 8);
    expect_einval(dup, 1, 0);
    expect_einval(dup, 1, -3);
    expect_einval(dup, 1, RC_RING_MAX_VNODES + 1);
    /* The limits themselves are accepted. */
    rc_ring_free(new_ring(many, RC_RING_MAX_MEMBERS, 1));
    rc_ring_free(new_ring(dup, 1, RC_RING_MAX_VNODES));
}

static int in_range(uint64_t t, uint64_t first, uint64_t last)
{
    return first <= last ? (first <= t && t <= last) : (t >= first || t <= last);
}

/* range_of gives the vnode range around a token: it ends at a vnode token,
 * one owner covers it, and the token before it belongs elsewhere. */
static void test_range_of(void **state)
{
    uint64_t ids[5], seed = 41, t, first, last, o1[1], o2[1];
    const uint64_t *tokens;
    struct rc_ring *r;
    size_t n, k;
    int i;

    (void)state;
    random_ids(ids, 5, 40);
    r = new_ring(ids, 5, 32);
    n = rc_ring_tokens(r, &tokens);
    for (i = 0; i < 10000; i++) {
        t = i < 2 ? (i == 0 ? 0 : UINT64_MAX) : splitmix64(&seed);
        assert_int_equal(rc_ring_range_of(r, t, &first, &last), 0);
        assert_true(in_range(t, first, last));
        for (k = 0; k < n && tokens[k] != last; k++)
            ;
        assert_true(k < n);
        rc_ring_replicas(r, t, 1, o1);
        rc_ring_replicas(r, first, 1, o2);
        assert_int_equal(o1[0], o2[0]);
        rc_ring_replicas(r, last, 1, o2);
        assert_int_equal(o1[0], o2[0]);
        /* The previous range ends where this one starts. */
        assert_false(in_range(first - 1, first, last));
        assert_int_equal(rc_ring_range_of(r, first - 1, &t, &last), 0);
        assert_int_equal(last, first - 1);
    }
    rc_ring_free(r);

    /* One vnode: its range wraps all the way round, first == last + 1. */
    r = new_ring(ids, 1, 1);
    assert_int_equal(rc_ring_range_of(r, 0, &first, &last), 0);
    assert_int_equal(last, rc_ring_vnode_token(ids[0], 0));
    assert_int_equal(first, last + 1);
    rc_ring_free(r);
}

/* Ranges of one walk, in yield order. */
static size_t iter_all(const struct rc_ring *r, struct rc_ring_vrange *out, size_t cap)
{
    struct rc_ring_iter it;
    size_t n = 0;

    rc_ring_iter_init(&it, r);
    while (n < cap && rc_ring_iter_next(&it, &out[n]))
        n++;
    assert_int_equal(rc_ring_iter_next(&it, &out[cap - 1]), 0);
    assert_int_equal(rc_ring_iter_next(&it, &out[cap - 1]), 0); /* stays over */
    return n;
}

static int cmp_vrange(const void *a, const void *b)
{
    const struct rc_ring_vrange *x = a, *y = b;

    return (x->first > y->first) - (x->first < y->first);
}

/* The walk's contract (ring.h): ranges that cover the ring once, in the
 * documented order, each inside its vnode's range with one preference
 * list, an equal token's empty range skipped. */
static void check_iter(const struct rc_ring *r)
{
    struct rc_ring_vrange v[300], sorted[300];
    uint64_t o1[3], o2[3], first, last;
    const uint64_t *tokens;
    size_t nt = rc_ring_tokens(r, &tokens), n = iter_all(r, v, 300), i, equal = 0, tail;
    int k;

    assert_true(nt > 0 && nt < 290);
    for (i = 1; i < nt; i++)
        equal += tokens[i] == tokens[i - 1];
    tail = nt > 1 && tokens[nt - 1] < UINT64_MAX;
    assert_int_equal(n, nt == 1 ? 1 : nt + tail - equal);
    /* Order: vnode 0's head, its wrapping tail, then the others ascending. */
    assert_true(v[0].first == 0 && v[0].vnode == 0);
    assert_true(v[0].last == (nt == 1 ? UINT64_MAX : tokens[0]));
    if (tail) {
        assert_true(v[1].first == tokens[nt - 1] + 1 && v[1].last == UINT64_MAX);
        assert_int_equal(v[1].vnode, 0);
    }
    for (i = 1 + tail; i < n; i++) {
        assert_true(v[i].vnode > v[i - 1].vnode);
        assert_true(v[i].first == tokens[v[i].vnode - 1] + 1 && v[i].last == tokens[v[i].vnode]);
    }
    for (i = 0; i < n; i++) {
        assert_true(v[i].first <= v[i].last);
        assert_true(v[i].token == tokens[v[i].vnode]);
        /* One vnode range, one preference list. */
        assert_int_equal(rc_ring_range_of(r, v[i].first, &first, &last), 0);
        assert_true(last == v[i].token);
        assert_int_equal(rc_ring_range_of(r, v[i].last, &first, &last), 0);
        assert_true(last == v[i].token);
        k = rc_ring_replicas(r, v[i].token, 3, o1);
        assert_int_equal(rc_ring_replicas(r, v[i].first, 3, o2), k);
        assert_memory_equal(o1, o2, (size_t)k * sizeof(o1[0]));
        assert_int_equal(rc_ring_replicas(r, v[i].last, 3, o2), k);
        assert_memory_equal(o1, o2, (size_t)k * sizeof(o1[0]));
    }
    /* Every token once: sorted, the ranges abut from 0 to UINT64_MAX. */
    memcpy(sorted, v, n * sizeof(v[0]));
    qsort(sorted, n, sizeof(sorted[0]), cmp_vrange);
    assert_true(sorted[0].first == 0 && sorted[n - 1].last == UINT64_MAX);
    for (i = 1; i < n; i++)
        assert_true(sorted[i].first == sorted[i - 1].last + 1);
}

static void test_iter(void **state)
{
    struct rc_ring_vrange v[300], rest[300];
    struct rc_ring_iter it, copy;
    uint64_t ids[5], a, b;
    struct rc_ring *r;
    size_t n, i, k;
    int vnodes;

    (void)state;
    random_ids(ids, 5, 60);
    for (n = 1; n <= 5; n += 2) {
        for (vnodes = 1; vnodes <= 32; vnodes *= 4) {
            r = new_ring(ids, n, vnodes);
            check_iter(r);
            rc_ring_free(r);
        }
    }
    /* A shared token: the higher id's vnode has an empty range. */
    colliding_ids(&a, &b);
    ids[0] = a;
    ids[1] = b;
    r = new_ring(ids, 2, 2);
    check_iter(r);
    rc_ring_free(r);

    /* The empty ring yields nothing. */
    r = new_ring(NULL, 0, 4);
    rc_ring_iter_init(&it, r);
    assert_int_equal(rc_ring_iter_next(&it, &v[0]), 0);
    rc_ring_free(r);

    /* The iterator is plain data: a copy taken midway (at the tail, too)
     * walks the rest the same way. */
    r = new_ring(ids, 2, 16);
    n = iter_all(r, v, 300);
    for (k = 0; k <= n; k++) {
        rc_ring_iter_init(&it, r);
        for (i = 0; i < k; i++)
            assert_int_equal(rc_ring_iter_next(&it, &rest[0]), 1);
        copy = it;
        for (i = k; rc_ring_iter_next(&copy, &rest[i]); i++)
            assert_memory_equal(&rest[i], &v[i], sizeof(v[i]));
        assert_int_equal(i, n);
    }
    rc_ring_free(r);
}

/* Shares add up to 1 (primary) and min(rf, n) (replica). */
static void test_shares_sum(void **state)
{
    uint64_t ids[12];
    double p[12], q[12], sp, sq;
    struct rc_ring *r;
    size_t n, m;
    int rf;

    (void)state;
    random_ids(ids, 12, 50);
    for (n = 1; n <= 12; n += 3) {
        r = new_ring(ids, n, 64);
        for (rf = 1; rf <= RC_RING_MAX_RF + 1; rf++) {
            assert_int_equal(rc_ring_shares(r, rf, p, q), 0);
            sp = sq = 0;
            for (m = 0; m < n; m++) {
                assert_true(p[m] <= q[m] + 1e-12);
                sp += p[m];
                sq += q[m];
            }
            assert_true(sp > 1 - 1e-9 && sp < 1 + 1e-9);
            m = (size_t)(rf < RC_RING_MAX_RF ? rf : RC_RING_MAX_RF);
            m = m < n ? m : n;
            assert_true(sq > (double)m - 1e-9 && sq < (double)m + 1e-9);
        }
        rc_ring_free(r);
    }
    r = new_ring(ids, 1, 1);
    assert_int_equal(rc_ring_shares(r, 3, p, q), 0);
    assert_true(p[0] == 1.0 && q[0] == 1.0);
    rc_ring_free(r);
}

/* Balance at the default V, from exact token shares and from keys. The
 * bounds come from ring-bench: over 200 random member lists the worst
 * share max/mean at V=256 was 1.26 for any N in 3..64; keys add sampling
 * noise (~2% per member at N=64, 3125 keys each), hence 1.35. */
static void test_balance(void **state)
{
    static const size_t ns[] = {3, 5, 8, 16, 32, 64};
    static unsigned count[64];
    uint64_t ids[64], out[1];
    double share[64], smax, kmax, f, p;
    struct rc_ring *r;
    size_t a, m, k, n;

    (void)state;
    for (a = 0; a < sizeof(ns) / sizeof(ns[0]); a++) {
        n = ns[a];
        random_ids(ids, n, 60 + a);
        r = new_ring(ids, n, RC_RING_DEFAULT_VNODES);
        assert_int_equal(rc_ring_shares(r, 1, share, NULL), 0);
        memset(count, 0, sizeof(count));
        for (k = 0; k < BALANCE_KEYS; k++) {
            rc_ring_replicas(r, key_token(k), 1, out);
            count[member_index(r, out[0])]++;
        }
        smax = kmax = 0;
        for (m = 0; m < n; m++) {
            p = share[m];
            f = (double)count[m] / BALANCE_KEYS;
            /* Keys agree with the exact shares within 5 sigma. */
            assert_true((f - p) * (f - p) <= 25 * p * (1 - p) / BALANCE_KEYS);
            smax = p > smax ? p : smax;
            kmax = f > kmax ? f : kmax;
        }
        print_message("balance N=%-2zu V=%d: max/mean %.3f by token share, %.3f by %d keys\n",
                      n, RC_RING_DEFAULT_VNODES, smax * (double)n, kmax * (double)n,
                      BALANCE_KEYS);
        assert_true(smax * (double)n <= 1.30);
        assert_true(kmax * (double)n <= 1.35);
        rc_ring_free(r);
    }
}

/* Finds the range holding t in sorted, disjoint ranges, or NULL. */
static const struct rc_ring_range *find_range(const struct rc_ring_range *g, size_t n,
                                              uint64_t t)
{
    size_t lo = 0, hi = n, mid;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (g[mid].last < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && g[lo].first <= t ? &g[lo] : NULL;
}

/* Checks rc_ring_diff(r0, r1) against the rings themselves: ranges are
 * ascending, disjoint, maximal and carry both lists; a key's list changed
 * iff its token lies in a range. Returns the share of the ring covered. */
static double check_diff(const struct rc_ring *r0, const struct rc_ring *r1, int rf)
{
    uint64_t l0[RC_RING_MAX_RF], l1[RC_RING_MAX_RF], t;
    const struct rc_ring_range *g;
    struct rc_ring_range *ranges;
    size_t nr, i;
    double covered = 0;
    int n0, n1;

    assert_int_equal(rc_ring_diff(r0, r1, rf, &ranges, &nr), 0);
    for (i = 0; i < nr; i++) {
        g = &ranges[i];
        assert_true(g->first <= g->last);
        assert_true(i == 0 || ranges[i - 1].last < g->first);
        assert_false(same_list(g->old_ids, g->nold, g->new_ids, g->nnew));
        if (i > 0 && ranges[i - 1].last + 1 == g->first)
            assert_false(same_list(g->old_ids, g->nold, ranges[i - 1].old_ids,
                                   ranges[i - 1].nold) &&
                         same_list(g->new_ids, g->nnew, ranges[i - 1].new_ids,
                                   ranges[i - 1].nnew));
        for (t = g->first;; t = g->last) {
            n0 = rc_ring_replicas(r0, t, rf, l0);
            n1 = rc_ring_replicas(r1, t, rf, l1);
            assert_true(same_list(l0, n0, g->old_ids, g->nold));
            assert_true(same_list(l1, n1, g->new_ids, g->nnew));
            if (t == g->last)
                break;
        }
        covered += width(g);
    }
    for (i = 0; i < MOVE_KEYS; i++) {
        t = key_token(i);
        n0 = rc_ring_replicas(r0, t, rf, l0);
        n1 = rc_ring_replicas(r1, t, rf, l1);
        g = find_range(ranges, nr, t);
        assert_int_equal(g != NULL, !same_list(l0, n0, l1, n1));
    }
    free(ranges);
    return covered;
}

/* Keys of a ring with one member more (big) against one without (small):
 * every changed list is the small list with `id` inserted and the tail
 * dropped, so nothing moves between members present in both. Returns the
 * fraction of keys whose owner differs. */
static double check_one_member(const struct rc_ring *small, const struct rc_ring *big,
                               uint64_t id, int rf)
{
    uint64_t ls[RC_RING_MAX_RF], lb[RC_RING_MAX_RF], rest[RC_RING_MAX_RF];
    size_t k, moved = 0;
    int ns, nb, i, j;

    for (k = 0; k < MOVE_KEYS; k++) {
        ns = rc_ring_replicas(small, key_token(k), rf, ls);
        nb = rc_ring_replicas(big, key_token(k), rf, lb);
        if (same_list(ls, ns, lb, nb))
            continue;
        for (i = j = 0; i < nb; i++) {
            if (lb[i] != id)
                rest[j++] = lb[i];
        }
        assert_int_equal(j, nb - 1);
        assert_memory_equal(rest, ls, (size_t)j * sizeof(*ls));
        moved += ls[0] != lb[0];
    }
    return (double)moved / MOVE_KEYS;
}

/* Adding a member to, or removing one from, nsmall + 1 members (the one
 * at ids[changed]): the owner moves for the changed member's share of
 * keys, ~1/(nsmall + 1): against its exact share within 5 sigma of
 * sampling, against 1/N within 4x the ~5% spread of a member's share at
 * V=256. The diff covers exactly its replica share (rf=3) and its primary
 * share (rf=1). */
static void check_membership_change(size_t nsmall, size_t changed, int adding)
{
    uint64_t ids[8], other[8];
    double p[8], q[8], moved, cov, ideal = 1.0 / (double)(nsmall + 1);
    struct rc_ring *small, *big;
    size_t i, j;

    random_ids(ids, nsmall + 1, 70 + changed);
    for (i = j = 0; i <= nsmall; i++) {
        if (i != changed)
            other[j++] = ids[i];
    }
    small = new_ring(other, nsmall, RC_RING_DEFAULT_VNODES);
    big = new_ring(ids, nsmall + 1, RC_RING_DEFAULT_VNODES);
    assert_int_equal(rc_ring_shares(big, 3, p, q), 0);
    i = member_index(big, ids[changed]);

    moved = check_one_member(small, big, ids[changed], 3);
    print_message("%s: owner moved for %.4f of keys (member's share %.4f, 1/N %.4f), "
                  "rf=3 lists changed on %.4f of the ring\n",
                  adding ? "add" : "remove", moved, p[i], ideal, q[i]);
    assert_true((moved - p[i]) * (moved - p[i]) <= 25 * p[i] * (1 - p[i]) / MOVE_KEYS);
    assert_true(moved > ideal * 0.8 && moved < ideal * 1.2);
    cov = adding ? check_diff(small, big, 3) : check_diff(big, small, 3);
    assert_true(cov > q[i] - 1e-9 && cov < q[i] + 1e-9);
    cov = adding ? check_diff(small, big, 1) : check_diff(big, small, 1);
    assert_true(cov > p[i] - 1e-9 && cov < p[i] + 1e-9);
    rc_ring_free(small);
    rc_ring_free(big);
}

/* 5 -> 6 members. */
static void test_add_member(void **state)
{
    (void)state;
    check_membership_change(5, 5, 1);
}

/* 5 -> 4 members, removing one from the middle of the id list. */
static void test_remove_member(void **state)
{
    (void)state;
    check_membership_change(4, 2, 0);
}

static void test_diff_identical(void **state)
{
    uint64_t ids[5];
    struct rc_ring *r0, *r1;
    struct rc_ring_range *ranges = (struct rc_ring_range *)1;
    size_t nr = 1;

    (void)state;
    random_ids(ids, 5, 80);
    r0 = new_ring(ids, 5, RC_RING_DEFAULT_VNODES);
    r1 = new_ring(ids, 5, RC_RING_DEFAULT_VNODES);
    assert_int_equal(rc_ring_diff(r0, r1, 3, &ranges, &nr), 0);
    assert_null(ranges);
    assert_int_equal(nr, 0);
    rc_ring_free(r0);
    rc_ring_free(r1);
}

/* From nothing, every token gets a list: the diff tiles [0, UINT64_MAX]. */
static void test_diff_from_empty(void **state)
{
    uint64_t ids[5];
    struct rc_ring *empty, *r;
    struct rc_ring_range *g;
    size_t n, i;

    (void)state;
    random_ids(ids, 5, 90);
    empty = new_ring(NULL, 0, RC_RING_DEFAULT_VNODES);
    r = new_ring(ids, 5, RC_RING_DEFAULT_VNODES);
    assert_int_equal(rc_ring_diff(empty, r, 3, &g, &n), 0);
    assert_true(n > 0);
    assert_int_equal(g[0].first, 0);
    assert_int_equal(g[n - 1].last, UINT64_MAX);
    for (i = 0; i < n; i++) {
        assert_true(i == 0 || g[i].first == g[i - 1].last + 1);
        assert_int_equal(g[i].nold, 0);
        assert_int_equal(g[i].old_ids[0], 0); /* unused slots are zeroed */
        assert_int_equal(g[i].nnew, 3);
    }
    free(g);
    /* And back: everything is lost. */
    assert_true(check_diff(r, empty, 3) > 1 - 1e-9);
    assert_true(check_diff(empty, empty, 3) == 0);
    rc_ring_free(empty);
    rc_ring_free(r);
}

/* Diffs are exact for any pair of rings, here a change of vnode count
 * (where order-only changes of a list are possible) and a full swap. */
static void test_diff_other_changes(void **state)
{
    uint64_t ids[8];
    struct rc_ring *a, *b, *c;

    (void)state;
    random_ids(ids, 8, 100);
    a = new_ring(ids, 5, 128);
    b = new_ring(ids, 5, 256);
    c = new_ring(ids + 4, 4, 64);
    check_diff(a, b, 3);
    check_diff(a, c, 2);
    check_diff(c, b, RC_RING_MAX_RF);
    rc_ring_free(a);
    rc_ring_free(b);
    rc_ring_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_vnode_token_vectors),
        cmocka_unit_test(test_replica_vectors),
        cmocka_unit_test(test_tokens_match_contract),
        cmocka_unit_test(test_tie_break),
        cmocka_unit_test(test_order_independence),
        cmocka_unit_test(test_replicas_distinct),
        cmocka_unit_test(test_rf_limits),
        cmocka_unit_test(test_empty_ring),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_range_of),
        cmocka_unit_test(test_iter),
        cmocka_unit_test(test_shares_sum),
        cmocka_unit_test(test_balance),
        cmocka_unit_test(test_add_member),
        cmocka_unit_test(test_remove_member),
        cmocka_unit_test(test_diff_identical),
        cmocka_unit_test(test_diff_from_empty),
        cmocka_unit_test(test_diff_other_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
