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
static void *live[MAX_LIVE];

void *__wrap_calloc(size_t n, size_t size)
{
    void *p;
    int i;

    if (fault_countdown > 0 && --fault_countdown == 0)
        return NULL;
    p = __real_calloc(n, size);
    for (i = 0; p && i < MAX_LIVE; i++) {
        if (live[i] == NULL) {
            live[i] = p;
            break;
        }
    }
    return p;
}

void __wrap_free(void *p)
{
    int i;

    for (i = 0; p && i < MAX_LIVE; i++) {
        if (live[i] == p)
            live[i] = NULL;
    }
    __real_free(p);
}

static int live_blocks(void)
{
    int i, n = 0;

    for (i = 0; i < MAX_LIVE; i++)
        n += live[i] != NULL;
    return n;
}

/* ---- a tiny cache the tests drive ---- */

#define NKEYS 256

struct ent {
    struct rc_evict_node node[2]; /* two, so that replace has a new one */
    int cur;
    int in;
    uint32_t charge;
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

static struct ent *ent_of(struct world *w, const struct rc_evict_node *n)
{
    int k;

    for (k = 0; k < NKEYS; k++) {
        if (n == &w->e[k].node[0] || n == &w->e[k].node[1])
            return &w->e[k];
    }
    fail_msg("node %p belongs to no entry", (const void *)n);
    return NULL;
}

static size_t sample_cb(void *arg, uint64_t rnd, struct rc_evict_node **out, size_t max)
{
    struct world *w = arg;
    size_t i, pos;

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

static void world_init(struct world *w, int policy, uint64_t capacity, uint64_t seed)
{
    struct rc_evict_opts o = {policy, capacity, seed, sample_cb, expires_cb, w};

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
    e->charge = charge;
    e->flags = flags;
    dense_add(w, e);
    rc_evict_insert(w->ev, &e->node[e->cur], key_hash(k), charge, flags);
}

static void w_remove(struct world *w, int k)
{
    struct ent *e = &w->e[k];

    assert_true(e->in);
    rc_evict_remove(w->ev, &e->node[e->cur]);
    e->in = 0;
    dense_del(w, e);
}

static void w_replace(struct world *w, int k, uint32_t charge, int flags)
{
    struct ent *e = &w->e[k];

    assert_true(e->in);
    rc_evict_replace(w->ev, &e->node[e->cur], &e->node[!e->cur], charge, flags);
    memset(&e->node[e->cur], 0xa5, sizeof(e->node[0])); /* "freed" */
    e->cur = !e->cur;
    e->charge = charge;
    e->flags = flags;
}

/* The victim's key (its entry leaves the world), or -1 for NULL. */
static int w_victim(struct world *w)
{
    struct rc_evict_node *n;
    struct ent *e;

    w->nsampled = 0;
    n = rc_evict_victim(w->ev);
    if (n == NULL)
        return -1;
    e = ent_of(w, n);
    assert_true(e->in);
    assert_ptr_equal(n, &e->node[e->cur]);
    e->in = 0;
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
        bytes += w->e[k].in ? w->e[k].charge : 0;
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
}

static void test_invalid_opts(void **state)
{
    struct world w;
    struct rc_evict_opts o = {RC_EVICT_ALLKEYS_LRU, 1000, 1, sample_cb, expires_cb, &w};
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

static void test_alloc_failure(void **state)
{
    struct rc_evict_opts o = {RC_EVICT_ALLKEYS_S3FIFO, 1 << 20, 1, sample_cb, expires_cb, NULL};
    struct rc_evict *ev;
    long n;
    int rc, base = live_blocks();

    (void)state;
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
    assert_true(n > 1); /* at least one failure was injected */
    assert_int_equal(live_blocks(), base + (int)n - 1); /* the n-1 callocs, kept */
    rc_evict_free(ev);
    assert_int_equal(live_blocks(), base);
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
        cmocka_unit_test(test_alloc_failure),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
