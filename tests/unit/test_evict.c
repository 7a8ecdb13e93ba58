/*
 * test_evict.c - the eviction policies against simple models: exact LRU
 * against an array in recency order, S3-FIFO against a plain transcription
 * of the paper's algorithm, volatile-* never picking an entry without an
 * expiry, byte accounting under remove and replace, policy switches in the
 * middle of a random trace (every node comes back exactly once on drain),
 * and allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "evict.h"

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
void __real_free(void *p);
void __wrap_free(void *p);

/* Test-only state: the countdown to the failing calloc (0 = off) and the
 * blocks calloc handed out and free has not taken back yet. */
static long fault_countdown;
#define MAX_LIVE 64
static void *live_block[MAX_LIVE];

void *__wrap_calloc(size_t n, size_t size)
{
    void *p;
    int i;

    if (fault_countdown > 0 && --fault_countdown == 0)
        return NULL;
    p = __real_calloc(n, size);
    for (i = 0; p && i < MAX_LIVE; i++) {
        if (live_block[i] == NULL) {
            live_block[i] = p;
            break;
        }
    }
    return p;
}

void __wrap_free(void *p)
{
    int i;

    for (i = 0; p && i < MAX_LIVE; i++) {
        if (live_block[i] == p)
            live_block[i] = NULL;
    }
    __real_free(p);
}

static int live_blocks(void)
{
    int i, n = 0;

    for (i = 0; i < MAX_LIVE; i++)
        n += live_block[i] != NULL;
    return n;
}

/* ---- a tiny cache the tests drive ---- */

#define NKEYS 256

struct ent {
    struct rc_evict_node node[2]; /* two, so that replace has a new one */
    int cur;
    int in;
    /* Per node: what the charge and hash callbacks answer, and whether the
     * node is the caller's to read (inserted, or old and new during a
     * replace): the callbacks fail the test for any other node, as a
     * freed entry would be read. */
    uint32_t charge[2];
    int readable[2];
    int flags;
    int64_t exp;
    size_t dense; /* index in w->dense */
};

struct world {
    struct ent e[NKEYS];
    struct ent *dense[NKEYS]; /* inserted entries, for uniform sampling */
    size_t ndense;
    uint64_t rng;
    struct rc_evict *ev;
    /* what the last sample call gave, for volatile-ttl */
    struct rc_evict_node *sampled[64 * 8];
    size_t nsampled;
    size_t sample_calls; /* since the last victim */
};

static uint64_t next_rand(uint64_t *s)
{
    uint64_t x = (*s += 0x9e3779b97f4a7c15ull);

    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t key_hash(int k)
{
    uint64_t s = (uint64_t)k * 7919u;

    return next_rand(&s);
}

/* O(1): the callbacks run on every list move. */
static struct ent *ent_of(struct world *w, const struct rc_evict_node *n)
{
    uintptr_t off = (uintptr_t)n - (uintptr_t)w->e;
    struct ent *e = off < sizeof(w->e) ? &w->e[off / sizeof(w->e[0])] : NULL;

    if (e == NULL || (n != &e->node[0] && n != &e->node[1]))
        fail_msg("node %p belongs to no entry", (const void *)n);
    return e;
}

/* Which of its entry's two nodes n is. */
static int node_idx(const struct ent *e, const struct rc_evict_node *n)
{
    return n == &e->node[1];
}

static size_t sample_cb(void *arg, uint64_t rnd, struct rc_evict_node **out, size_t max)
{
    struct world *w = arg;
    size_t i, pos;

    w->sample_calls++;
    if (w->ndense == 0)
        return 0;
    pos = (size_t)(rnd % w->ndense);
    for (i = 0; i < max && i < w->ndense; i++) {
        struct ent *e = w->dense[(pos + i) % w->ndense];

        out[i] = &e->node[e->cur];
        if (w->nsampled < sizeof(w->sampled) / sizeof(w->sampled[0]))
            w->sampled[w->nsampled++] = out[i];
    }
    return i;
}

static int64_t expires_cb(void *arg, const struct rc_evict_node *n)
{
    struct world *w = arg;

    return ent_of(w, n)->exp;
}

static uint32_t charge_cb(void *arg, const struct rc_evict_node *n)
{
    struct ent *e = ent_of(arg, n);

    assert_true(e->readable[node_idx(e, n)]);
    return e->charge[node_idx(e, n)];
}

static uint64_t hash_cb(void *arg, const struct rc_evict_node *n)
{
    struct world *w = arg;
    struct ent *e = ent_of(w, n);

    assert_true(e->readable[node_idx(e, n)]);
    return key_hash((int)(e - w->e));
}

static void world_init(struct world *w, int policy, uint64_t capacity, uint64_t seed)
{
    struct rc_evict_opts o = {policy, capacity, seed, sample_cb, expires_cb, charge_cb, hash_cb, w};

    memset(w, 0, sizeof(*w));
    w->rng = seed;
    assert_int_equal(rc_evict_new(&o, &w->ev), 0);
}

static void dense_add(struct world *w, struct ent *e)
{
    e->dense = w->ndense;
    w->dense[w->ndense++] = e;
}

static void dense_del(struct world *w, struct ent *e)
{
    struct ent *last = w->dense[--w->ndense];

    w->dense[e->dense] = last;
    last->dense = e->dense;
}

static void w_insert(struct world *w, int k, uint32_t charge, int flags)
{
    struct ent *e = &w->e[k];

    assert_false(e->in);
    e->in = 1;
    e->charge[e->cur] = charge;
    e->readable[e->cur] = 1;
    e->flags = flags;
    dense_add(w, e);
    rc_evict_insert(w->ev, &e->node[e->cur], flags);
}

static void w_remove(struct world *w, int k)
{
    struct ent *e = &w->e[k];

    assert_true(e->in);
    rc_evict_remove(w->ev, &e->node[e->cur]);
    e->readable[e->cur] = 0;
    e->in = 0;
    dense_del(w, e);
}

static void w_replace(struct world *w, int k, uint32_t charge, int flags)
{
    struct ent *e = &w->e[k];

    assert_true(e->in);
    e->charge[!e->cur] = charge;
    e->readable[!e->cur] = 1;
    rc_evict_replace(w->ev, &e->node[e->cur], &e->node[!e->cur], flags);
    memset(&e->node[e->cur], 0xa5, sizeof(e->node[0])); /* "freed" */
    e->readable[e->cur] = 0;
    e->charge[e->cur] = 0xa5a5a5a5u;
    e->cur = !e->cur;
    e->flags = flags;
}

/* The victim's key (its entry leaves the world), or -1 for NULL. */
static int w_victim(struct world *w)
{
    struct rc_evict_node *n;
    struct ent *e;

    w->nsampled = 0;
    w->sample_calls = 0;
    n = rc_evict_victim(w->ev);
    assert_true(w->sample_calls <= 64); /* bounded search */
    if (n == NULL)
        return -1;
    e = ent_of(w, n);
    assert_true(e->in);
    assert_ptr_equal(n, &e->node[e->cur]);
    e->in = 0;
    e->readable[e->cur] = 0;
    dense_del(w, e);
    memset(n, 0xa5, sizeof(*n)); /* the caller frees victims */
    return (int)(e - w->e);
}

static void check_accounting(const struct world *w)
{
    struct rc_evict_stats st;
    uint64_t bytes = 0;
    int k;

    for (k = 0; k < NKEYS; k++)
        bytes += w->e[k].in ? w->e[k].charge[w->e[k].cur] : 0;
    rc_evict_stats(w->ev, &st);
    assert_int_equal(st.nodes, w->ndense);
    assert_int_equal(st.bytes, bytes);
}

/* Victims until empty: each inserted entry exactly once, then NULL. */
static void drain_all(struct world *w)
{
    size_t expect = w->ndense, got = 0;
    int k;

    while ((k = w_victim(w)) >= 0)
        got++;
    assert_int_equal(got, expect);
    assert_int_equal(w->ndense, 0);
    check_accounting(w);
}

/* ---- tests ---- */

static void test_names(void **state)
{
    int p;

    (void)state;
    for (p = 0; p < RC_EVICT_NPOLICIES; p++) {
        const char *n = rc_evict_policy_name(p);

        assert_non_null(n);
        assert_int_equal(rc_evict_policy_parse(n, strlen(n)), p);
    }
    assert_int_equal(rc_evict_policy_parse("ALLKEYS-LRU", 11), RC_EVICT_ALLKEYS_LRU);
    assert_int_equal(rc_evict_policy_parse("allkeys-lruX", 11), RC_EVICT_ALLKEYS_LRU);
    assert_int_equal(rc_evict_policy_parse("allkeys-lr", 10), RC_EINVAL);
    assert_int_equal(rc_evict_policy_parse("", 0), RC_EINVAL);
    assert_null(rc_evict_policy_name(-1));
    assert_null(rc_evict_policy_name(RC_EVICT_NPOLICIES));
    assert_false(rc_evict_policy_evicts(RC_EVICT_NOEVICTION));
    assert_true(rc_evict_policy_evicts(RC_EVICT_ALLKEYS_LRU));
    assert_true(rc_evict_policy_evicts(RC_EVICT_DEFAULT));
    assert_false(rc_evict_policy_evicts(RC_EVICT_NPOLICIES));
    /* charge and hash are the caller's (evict.h): the node is 24 bytes */
    assert_int_equal(sizeof(struct rc_evict_node), 24);
}

static void test_invalid_opts(void **state)
{
    struct world w;
    struct rc_evict_opts o = {RC_EVICT_ALLKEYS_LRU, 1000, 1, sample_cb, expires_cb,
                              charge_cb,           hash_cb, &w};
    struct rc_evict *ev = (struct rc_evict *)&o;

    (void)state;
    o.policy = RC_EVICT_NPOLICIES;
    assert_int_equal(rc_evict_new(&o, &ev), RC_EINVAL);
    assert_null(ev);
    o.policy = RC_EVICT_ALLKEYS_LRU;
    o.sample = NULL;
    assert_int_equal(rc_evict_new(&o, &ev), RC_EINVAL);
    o.sample = sample_cb;
    o.expires = NULL;
    assert_int_equal(rc_evict_new(&o, &ev), RC_EINVAL);
    o.expires = expires_cb;
    o.charge = NULL;
    assert_int_equal(rc_evict_new(&o, &ev), RC_EINVAL);
    o.charge = charge_cb;
    o.hash = NULL;
    assert_int_equal(rc_evict_new(&o, &ev), RC_EINVAL);
    o.hash = hash_cb;
    assert_int_equal(rc_evict_new(&o, &ev), 0);
    assert_int_equal(rc_evict_set_policy(ev, -1), RC_EINVAL);
    assert_int_equal(rc_evict_set_policy(ev, RC_EVICT_NPOLICIES), RC_EINVAL);
    assert_int_equal(rc_evict_policy(ev), RC_EVICT_ALLKEYS_LRU);
    rc_evict_free(ev);
    rc_evict_free(NULL);
}

static void test_noeviction(void **state)
{
    struct world w;
    int k;

    (void)state;
    world_init(&w, RC_EVICT_NOEVICTION, 1000, 1);
    assert_int_equal(w_victim(&w), -1);
    for (k = 0; k < 10; k++)
        w_insert(&w, k, 100, k & 1 ? RC_EVICT_VOLATILE : 0);
    assert_int_equal(w_victim(&w), -1);
    check_accounting(&w);
    rc_evict_free(w.ev);
}

/* Exact LRU against an array in recency order (model[0] most recent). */
static void test_lru_model(void **state)
{
    struct world w;
    int model[NKEYS], nm = 0, i, j, k, op, step;

    (void)state;
    world_init(&w, RC_EVICT_ALLKEYS_LRU, 100000, 7);
    for (step = 0; step < 20000; step++) {
        op = (int)(next_rand(&w.rng) % 10);
        k = (int)(next_rand(&w.rng) % NKEYS);
        if (!w.e[k].in && op < 5) {
            w_insert(&w, k, 100 + (uint32_t)(next_rand(&w.rng) % 1000), 0);
            memmove(model + 1, model, (size_t)nm * sizeof(int));
            model[0] = k;
            nm++;
        } else if (w.e[k].in && op < 5) {
            rc_evict_hit(w.ev, &w.e[k].node[w.e[k].cur], key_hash(k));
            for (i = 0; model[i] != k; i++)
                ;
            memmove(model + 1, model, (size_t)i * sizeof(int));
            model[0] = k;
        } else if (w.e[k].in && op == 5) {
            w_replace(&w, k, 50 + (uint32_t)(next_rand(&w.rng) % 500), 0); /* keeps its place */
        } else if (w.e[k].in && op == 6) {
            w_remove(&w, k);
            for (i = 0; model[i] != k; i++)
                ;
            memmove(model + i, model + i + 1, (size_t)(nm - i - 1) * sizeof(int));
            nm--;
        } else if (op >= 7 && nm > 0) {
            j = w_victim(&w);
            assert_int_equal(j, model[--nm]);
        }
        check_accounting(&w);
    }
    while (nm > 0)
        assert_int_equal(w_victim(&w), model[--nm]);
    assert_int_equal(w_victim(&w), -1);
    rc_evict_free(w.ev);
}

static void fill_random(struct world *w, int nvolatile_every)
{
    int k;

    for (k = 0; k < NKEYS; k++) {
        int vol = nvolatile_every > 0 && k % nvolatile_every == 0;

        w->e[k].exp = vol ? 1000 + (int64_t)(next_rand(&w->rng) % 100000) : 0;
        w_insert(w, k, 100 + (uint32_t)(k % 7) * 10, vol ? RC_EVICT_VOLATILE : 0);
    }
}

static void test_random_drains(void **state)
{
    static const int pols[] = {RC_EVICT_ALLKEYS_RANDOM, RC_EVICT_ALLKEYS_LFU};
    struct world w;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
        world_init(&w, pols[i], 100000, 3 + i);
        fill_random(&w, 0);
        drain_all(&w);
        rc_evict_free(w.ev);
    }
}

/* volatile-*: never a node without an expiry; NULL once none is left. */
static void test_volatile_only(void **state)
{
    static const int pols[] = {RC_EVICT_VOLATILE_RANDOM, RC_EVICT_VOLATILE_LRU,
                               RC_EVICT_VOLATILE_LFU, RC_EVICT_VOLATILE_TTL};
    struct world w;
    size_t i;
    int k, got;

    (void)state;
    for (i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
        world_init(&w, pols[i], 100000, 11 + i);
        fill_random(&w, 4); /* 64 of 256 volatile */
        for (got = 0; (k = w_victim(&w)) >= 0; got++)
            assert_true(w.e[k].flags & RC_EVICT_VOLATILE);
        /* The search is bounded (64 samples of 5): the last one or two
         * among ~190 others may be missed, no more. */
        assert_true(got <= NKEYS / 4 && got >= NKEYS / 4 - 4);
        for (k = 0; k < NKEYS; k++) {
            if (w.e[k].in && (w.e[k].flags & RC_EVICT_VOLATILE))
                w_remove(&w, k);
        }
        assert_int_equal(w_victim(&w), -1);
        assert_int_equal(w.ndense, NKEYS - NKEYS / 4);
        /* an entry that gains an expiry becomes a candidate */
        k = 1;
        w_replace(&w, k, 120, RC_EVICT_VOLATILE);
        w.e[k].exp = 5;
        assert_int_equal(w_victim(&w), k);
        assert_int_equal(w_victim(&w), -1);
        check_accounting(&w);
        rc_evict_free(w.ev);
    }
}

/* volatile-ttl: the victim expires no later than any node sampled for it. */
static void test_volatile_ttl_soonest(void **state)
{
    struct world w;
    size_t i;
    int k, round;

    (void)state;
    world_init(&w, RC_EVICT_VOLATILE_TTL, 100000, 5);
    fill_random(&w, 1); /* all volatile */
    for (round = 0; round < NKEYS; round++) {
        k = w_victim(&w);
        assert_true(k >= 0);
        assert_true(w.nsampled > 0);
        for (i = 0; i < w.nsampled; i++) {
            if (w.sampled[i] != &w.e[k].node[w.e[k].cur])
                assert_true(w.e[k].exp <= ent_of(&w, w.sampled[i])->exp);
        }
    }
    assert_int_equal(w_victim(&w), -1);
    rc_evict_free(w.ev);
}

/* volatile-lru: the victim was read no later than any node sampled for it
 * (the test keeps its own access order). */
static void test_volatile_lru_oldest(void **state)
{
    struct world w;
    uint64_t last[NKEYS], now = 0;
    size_t i;
    int k, round;

    (void)state;
    world_init(&w, RC_EVICT_VOLATILE_LRU, 100000, 6);
    fill_random(&w, 1);
    for (k = 0; k < NKEYS; k++)
        last[k] = ++now;
    for (round = 0; round < 2000; round++) {
        k = (int)(next_rand(&w.rng) % NKEYS);
        if (w.e[k].in) {
            rc_evict_hit(w.ev, &w.e[k].node[w.e[k].cur], key_hash(k));
            last[k] = ++now;
        }
        if (round % 10 == 0) {
            k = w_victim(&w);
            assert_true(k >= 0);
            for (i = 0; i < w.nsampled; i++) {
                if (w.sampled[i] != &w.e[k].node[w.e[k].cur])
                    assert_true(last[k] <= last[ent_of(&w, w.sampled[i]) - w.e]);
            }
        }
    }
    rc_evict_free(w.ev);
}

/* volatile-* with no volatile node: NULL after a bounded search. */
static void test_volatile_none(void **state)
{
    static const int pols[] = {RC_EVICT_VOLATILE_RANDOM, RC_EVICT_VOLATILE_LRU,
                               RC_EVICT_VOLATILE_LFU, RC_EVICT_VOLATILE_TTL};
    struct world w;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
        world_init(&w, pols[i], 100000, 21 + i);
        fill_random(&w, 0);
        assert_int_equal(w_victim(&w), -1); /* w_victim checks <= 64 calls */
        assert_true(w.sample_calls >= 1);
        check_accounting(&w);
        rc_evict_free(w.ev);
    }
}

/* ---- S3-FIFO against a plain transcription of the algorithm ----
 * Yang et al. (SOSP 2023), Algorithm 1, with libCacheSim's choices:
 * promotion at freq >= 2 with freq reset, reinsertion with freq - 1,
 * counters capped at 3, new keys to main while the small queue is full
 * and nothing was evicted yet; the ghost remembers as many keys as main
 * holds when full (main's share over the average charge); at most 64
 * moves per victim. Arrays in FIFO order: [0] is the oldest. */
struct s3ref {
    int small[NKEYS], nsmall, main[NKEYS], nmain;
    int where[NKEYS]; /* 0 none, 1 small, 2 main */
    int freq[NKEYS];
    uint32_t charge[NKEYS];
    uint64_t small_bytes, main_bytes, cap;
    int nodes, evicted;
    int in_ghost[NKEYS];
    uint32_t ghost_at[NKEYS], gseq;
};

static void arr_del(int *a, int *n, int k)
{
    int i;

    for (i = 0; a[i] != k; i++)
        ;
    memmove(a + i, a + i + 1, (size_t)(*n - i - 1) * sizeof(int));
    (*n)--;
}

static void ref_push(struct s3ref *r, int where, int k)
{
    r->where[k] = where;
    if (where == 1) {
        r->small[r->nsmall++] = k;
        r->small_bytes += r->charge[k];
    } else {
        r->main[r->nmain++] = k;
        r->main_bytes += r->charge[k];
    }
}

static void ref_del(struct s3ref *r, int k)
{
    if (r->where[k] == 1) {
        arr_del(r->small, &r->nsmall, k);
        r->small_bytes -= r->charge[k];
    } else {
        arr_del(r->main, &r->nmain, k);
        r->main_bytes -= r->charge[k];
    }
    r->where[k] = 0;
}

static void ref_insert(struct s3ref *r, int k, uint32_t charge)
{
    uint64_t bytes, limit;
    int live;

    r->charge[k] = charge;
    r->freq[k] = 0;
    r->nodes++;
    bytes = r->small_bytes + r->main_bytes + charge;
    limit = (r->cap - r->cap / 10) / (bytes / (uint64_t)r->nodes);
    live = r->in_ghost[k] && (uint32_t)(r->gseq - r->ghost_at[k]) < limit;
    r->in_ghost[k] = 0;
    if (live || (!r->evicted && r->small_bytes >= r->cap / 10))
        ref_push(r, 2, k);
    else
        ref_push(r, 1, k);
}

static int ref_victim(struct s3ref *r)
{
    int t, steps = 0;

    r->evicted = 1;
    if ((r->small_bytes > 0 && r->small_bytes >= r->cap / 10) || r->nmain == 0) {
        while (r->nsmall > 0) {
            t = r->small[0];
            ref_del(r, t);
            if (r->freq[t] >= 2 && steps < 64) {
                steps++;
                r->freq[t] = 0;
                ref_push(r, 2, t);
                continue;
            }
            r->in_ghost[t] = 1;
            r->ghost_at[t] = ++r->gseq;
            r->nodes--;
            return t;
        }
    }
    while (r->nmain > 0) {
        t = r->main[0];
        ref_del(r, t);
        if (r->freq[t] > 0 && steps < 64) {
            steps++;
            r->freq[t]--;
            ref_push(r, 2, t);
            continue;
        }
        r->nodes--;
        return t;
    }
    return -1;
}

/* A skewed key: the square of a uniform draw favours low keys. */
static int skewed_key(uint64_t *rng)
{
    uint64_t u = next_rand(rng) % 1000;

    return (int)(u * u * NKEYS / 1000000);
}

static void test_s3fifo_reference(void **state)
{
    static struct s3ref r;
    struct world w;
    uint64_t cap = 1000000;
    uint32_t charge;
    int step, k, op, victims = 0;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.cap = cap;
    world_init(&w, RC_EVICT_ALLKEYS_S3FIFO, cap, 99);
    for (step = 0; step < 200000; step++) {
        k = skewed_key(&w.rng);
        op = (int)(next_rand(&w.rng) % 100);
        if (w.e[k].in && op < 3) {
            w_remove(&w, k);
            ref_del(&r, k);
            r.nodes--;
        } else if (w.e[k].in && op < 6) {
            charge = 5000 + (uint32_t)(next_rand(&w.rng) % 10000);
            w_replace(&w, k, charge, 0);
            *(r.where[k] == 1 ? &r.small_bytes : &r.main_bytes) += (uint64_t)charge - r.charge[k];
            r.charge[k] = charge;
        } else if (w.e[k].in) {
            rc_evict_hit(w.ev, &w.e[k].node[w.e[k].cur], key_hash(k));
            r.freq[k] = r.freq[k] < 3 ? r.freq[k] + 1 : 3;
        } else {
            charge = 5000 + (uint32_t)(key_hash(k) % 10000);
            while (r.small_bytes + r.main_bytes + charge > cap) {
                int v = ref_victim(&r);

                assert_int_equal(w_victim(&w), v);
                victims++;
            }
            w_insert(&w, k, charge, 0);
            ref_insert(&r, k, charge);
        }
        check_accounting(&w);
    }
    assert_true(victims > 10000); /* the trace exercised eviction */
    while (r.nodes > 0)
        assert_int_equal(w_victim(&w), ref_victim(&r));
    assert_int_equal(w_victim(&w), -1);
    rc_evict_free(w.ev);
}

/* A hot set read often, then a scan of keys read once: S3-FIFO and
 * W-TinyLFU keep the hot set, LRU loses it. */
static int hot_left_after_scan(int policy)
{
    struct world w;
    int k, round, left = 0;

    world_init(&w, policy, 100 * 200, 31);
    for (round = 0; round < 20; round++) {
        for (k = 0; k < 50; k++) {
            if (!w.e[k].in) {
                rc_evict_miss(w.ev, key_hash(k));
                while (w.ndense >= 100)
                    w_victim(&w);
                w_insert(&w, k, 200, 0);
            } else {
                rc_evict_hit(w.ev, &w.e[k].node[w.e[k].cur], key_hash(k));
            }
        }
    }
    for (k = 50; k < NKEYS; k++) {
        rc_evict_miss(w.ev, key_hash(k));
        while (w.ndense >= 100)
            w_victim(&w);
        w_insert(&w, k, 200, 0);
    }
    for (k = 0; k < 50; k++)
        left += w.e[k].in;
    check_accounting(&w);
    rc_evict_free(w.ev);
    return left;
}

static void test_scan_resistance(void **state)
{
    (void)state;
    assert_int_equal(hot_left_after_scan(RC_EVICT_ALLKEYS_LRU), 0);
    assert_true(hot_left_after_scan(RC_EVICT_ALLKEYS_S3FIFO) >= 45);
    assert_true(hot_left_after_scan(RC_EVICT_ALLKEYS_WTINYLFU) >= 45);
    assert_true(hot_left_after_scan(RC_EVICT_ALLKEYS_LFU) >= 40);
}

/* Random operations with policy switches and capacity changes in the
 * middle: every victim is an inserted node, the byte count stays exact,
 * and a final drain under each evicting policy returns every node once. */
static void run_switches(int final_policy, uint64_t seed)
{
    struct world w;
    uint64_t cap = 40000;
    struct rc_evict_stats st;
    int step, k, op, p;

    world_init(&w, RC_EVICT_ALLKEYS_S3FIFO, cap, seed);
    for (step = 0; step < 30000; step++) {
        k = skewed_key(&w.rng);
        op = (int)(next_rand(&w.rng) % 1000);
        if (op < 5) {
            p = (int)(next_rand(&w.rng) % RC_EVICT_NPOLICIES);
            assert_int_equal(rc_evict_set_policy(w.ev, p), 0);
            assert_int_equal(rc_evict_policy(w.ev), p);
        } else if (op < 7) {
            cap = 20000 + next_rand(&w.rng) % 200000;
            rc_evict_set_capacity(w.ev, cap);
        } else if (w.e[k].in && op < 40) {
            w_remove(&w, k);
        } else if (w.e[k].in && op < 80) {
            w_replace(&w, k, 100 + (uint32_t)(next_rand(&w.rng) % 400),
                      op & 1 ? RC_EVICT_VOLATILE : 0);
        } else if (w.e[k].in) {
            rc_evict_hit(w.ev, &w.e[k].node[w.e[k].cur], key_hash(k));
        } else {
            rc_evict_miss(w.ev, key_hash(k));
            rc_evict_stats(w.ev, &st);
            while (st.bytes + 500 > cap && w_victim(&w) >= 0)
                rc_evict_stats(w.ev, &st);
            w.e[k].exp = (int64_t)(next_rand(&w.rng) % 1000) + 1;
            w_insert(&w, k, 100 + (uint32_t)(next_rand(&w.rng) % 400),
                     op & 1 ? RC_EVICT_VOLATILE : 0);
        }
        check_accounting(&w);
    }
    rc_evict_stats(w.ev, &st);
    assert_true(st.victims > 1000);
    /* the policy's own memory: a few % of the largest capacity used */
    assert_true(st.mem_bytes < 4096 + 220000 / 10);
    assert_int_equal(rc_evict_set_policy(w.ev, final_policy), 0);
    drain_all(&w);
    rc_evict_free(w.ev);
}

static void test_switch_under_load(void **state)
{
    static const int finals[] = {RC_EVICT_ALLKEYS_LRU, RC_EVICT_ALLKEYS_LFU,
                                 RC_EVICT_ALLKEYS_RANDOM, RC_EVICT_ALLKEYS_S3FIFO,
                                 RC_EVICT_ALLKEYS_WTINYLFU};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(finals) / sizeof(finals[0]); i++)
        run_switches(finals[i], 100 + i);
}

/* Every counter at its maximum: a victim still comes in bounded work. */
static void test_bounded_reinsertion(void **state)
{
    static const int pols[] = {RC_EVICT_ALLKEYS_S3FIFO, RC_EVICT_ALLKEYS_WTINYLFU};
    struct world w;
    size_t i;
    int k, r;

    (void)state;
    for (i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
        world_init(&w, pols[i], 1000000, 41);
        fill_random(&w, 0);
        for (r = 0; r < 5; r++) {
            for (k = 0; k < NKEYS; k++)
                rc_evict_hit(w.ev, &w.e[k].node[w.e[k].cur], key_hash(k));
        }
        drain_all(&w);
        rc_evict_free(w.ev);
    }
}

/* W-TinyLFU's admission: a newcomer seen as often as probation's oldest
 * (once: its miss) is not admitted, one seen more often is. */
static void test_wtinylfu_admission(void **state)
{
    struct world w;
    int k, kept = 0;

    (void)state;
    /* 100 entries of 10000 B; a 1% window holds one */
    world_init(&w, RC_EVICT_ALLKEYS_WTINYLFU, 100 * 10000, 51);
    for (k = 0; k < 100; k++) {
        rc_evict_miss(w.ev, key_hash(k));
        w_insert(&w, k, 10000, 0);
    }
    for (k = 100; k < 200; k++) {
        rc_evict_miss(w.ev, key_hash(k));
        while (w.ndense >= 100)
            w_victim(&w);
        w_insert(&w, k, 10000, 0);
    }
    for (k = 0; k < 100; k++)
        kept += w.e[k].in;
    assert_true(kept >= 97); /* all but the window's few */
    /* key 200 missed twice: more frequent than any resident, it wins its
     * contest when it leaves the window, and stays while newcomers seen
     * once come and go */
    rc_evict_miss(w.ev, key_hash(200));
    for (k = 200; k < 220; k++) {
        rc_evict_miss(w.ev, key_hash(k));
        while (w.ndense >= 100)
            w_victim(&w);
        w_insert(&w, k, 10000, 0);
    }
    assert_true(w.e[200].in);
    for (k = 201; k < 218; k++)
        assert_false(w.e[k].in);
    check_accounting(&w);
    rc_evict_free(w.ev);
}

static void test_alloc_failure(void **state)
{
    static const int pols[] = {RC_EVICT_ALLKEYS_S3FIFO, RC_EVICT_ALLKEYS_WTINYLFU};
    struct rc_evict_opts o = {0, 1 << 20, 1, sample_cb, expires_cb, charge_cb, hash_cb, NULL};
    struct rc_evict *ev;
    size_t i;
    long n;
    int rc, base = live_blocks();

    (void)state;
    for (i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
        o.policy = pols[i];
        for (n = 1;; n++) {
            fault_countdown = n;
            ev = (struct rc_evict *)&o;
            rc = rc_evict_new(&o, &ev);
            if (rc == 0)
                break;
            assert_int_equal(rc, RC_ENOMEM);
            assert_null(ev);
            assert_int_equal(live_blocks(), base);
        }
        fault_countdown = 0;
        assert_int_equal(n, 3); /* the instance and its table both failed once */
        assert_int_equal(live_blocks(), base + 2);
        rc_evict_free(ev);
        assert_int_equal(live_blocks(), base);
    }
    /* a switch whose table cannot be allocated leaves the policy as it was */
    o.policy = RC_EVICT_ALLKEYS_LRU;
    assert_int_equal(rc_evict_new(&o, &ev), 0);
    fault_countdown = 1;
    assert_int_equal(rc_evict_set_policy(ev, RC_EVICT_ALLKEYS_WTINYLFU), RC_ENOMEM);
    assert_int_equal(rc_evict_policy(ev), RC_EVICT_ALLKEYS_LRU);
    fault_countdown = 0;
    assert_int_equal(rc_evict_set_policy(ev, RC_EVICT_ALLKEYS_WTINYLFU), 0);
    assert_int_equal(live_blocks(), base + 2);
    assert_int_equal(rc_evict_set_policy(ev, RC_EVICT_ALLKEYS_S3FIFO), 0);
    assert_int_equal(live_blocks(), base + 2); /* the sketch went, the ghost came */
    rc_evict_free(ev);
    assert_int_equal(live_blocks(), base);
}

/* The policy's own memory: nothing beyond the instance for the Redis
 * policies, ~3% of the budget for S3-FIFO's ghost or W-TinyLFU's sketch. */
static void test_mem_bytes(void **state)
{
    struct rc_evict_opts o = {RC_EVICT_ALLKEYS_LRU, 100 << 20, 1, sample_cb, expires_cb,
                              charge_cb,           hash_cb,   NULL};
    struct rc_evict_stats st;
    struct rc_evict *ev;
    int p;

    (void)state;
    assert_int_equal(rc_evict_new(&o, &ev), 0);
    for (p = 0; p < RC_EVICT_NPOLICIES; p++) {
        assert_int_equal(rc_evict_set_policy(ev, p), 0);
        rc_evict_stats(ev, &st);
        if (p == RC_EVICT_ALLKEYS_S3FIFO || p == RC_EVICT_ALLKEYS_WTINYLFU)
            assert_true(st.mem_bytes > o.capacity_bytes / 100 &&
                        st.mem_bytes < o.capacity_bytes / 100 * 4);
        else
            assert_true(st.mem_bytes < 4096);
    }
    /* growing keeps the old sketch until the new one has aged once: both
     * count, and the total stays bounded */
    rc_evict_set_capacity(ev, 400 << 20);
    rc_evict_stats(ev, &st);
    assert_true(st.mem_bytes > (400u << 20) / 100 && st.mem_bytes < (500u << 20) / 100 * 4);
    rc_evict_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_invalid_opts),
        cmocka_unit_test(test_noeviction),
        cmocka_unit_test(test_lru_model),
        cmocka_unit_test(test_random_drains),
        cmocka_unit_test(test_volatile_only),
        cmocka_unit_test(test_volatile_ttl_soonest),
        cmocka_unit_test(test_volatile_lru_oldest),
        cmocka_unit_test(test_volatile_none),
        cmocka_unit_test(test_s3fifo_reference),
        cmocka_unit_test(test_scan_resistance),
        cmocka_unit_test(test_wtinylfu_admission),
        cmocka_unit_test(test_switch_under_load),
        cmocka_unit_test(test_bounded_reinsertion),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_mem_bytes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
