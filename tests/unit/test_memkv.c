/*
 * test_memkv.c - the in-memory engine (common/memkv.c) against a model.
 *
 * The store contract itself is tested on every engine by
 * test_store_contract and test_store_ranges; here is what only this
 * engine has: tokens chosen by the test (collisions in the bucket bits
 * and in the whole token), growth while a batch is open and while scans
 * page through it, the purge sweep's bound, and the Nth allocation
 * failing (malloc, calloc and realloc are wrapped at link time:
 * -Wl,--wrap). Eviction: every policy keeps the engine within its
 * budget; tombstones and the entry a write replaces are never evicted;
 * the ghost refuses versions evicted; a discard brings evictions back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "evict.h"
#include "memkv.h"

/* ---- allocation faults --------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

/* Test-only state: the countdown to the failing allocation (0 = off). */
static long fault_countdown;
static int fault_fired;

static int fault_now(void)
{
    if (fault_countdown == 0 || --fault_countdown > 0)
        return 0;
    fault_fired = 1;
    return 1;
}

void *__wrap_malloc(size_t n)
{
    return fault_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fault_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fault_now() ? NULL : __real_realloc(p, n);
}

/* The Nth allocation from now fails; fault_fired tells whether it did. */
static void fault_arm(long n)
{
    fault_countdown = n;
    fault_fired = 0;
}

static void fault_off(void)
{
    fault_countdown = 0;
}

/* ---- a model of the engine ------------------------------------------------- */

#define NOW 1000000
#define GRACE 5000
#define MAXM 512

struct mentry {
    char key[16];
    size_t key_len;
    uint64_t token;
    int tomb;
    char value[16];
    uint64_t hlc, node;
    int64_t expires;
};

struct model {
    struct mentry e[MAXM];
    int n;
};

/* (token, key) order, keys as SQLite compares blobs. */
static int order(uint64_t t1, const void *k1, size_t l1, uint64_t t2, const void *k2, size_t l2)
{
    int c = memcmp(k1, k2, l1 < l2 ? l1 : l2);

    if (t1 != t2)
        return t1 < t2 ? -1 : 1;
    if (c != 0)
        return c;
    return l1 < l2 ? -1 : l1 > l2;
}

static int mcmp(const void *a, const void *b)
{
    const struct mentry *x = a, *y = b;

    return order(x->token, x->key, x->key_len, y->token, y->key, y->key_len);
}

static struct mentry *mfind(struct model *m, const char *key)
{
    int i;

    for (i = 0; i < m->n; i++)
        if (m->e[i].key_len == strlen(key) && memcmp(m->e[i].key, key, m->e[i].key_len) == 0)
            return &m->e[i];
    return NULL;
}

static int mexpired(const struct mentry *e, int64_t now)
{
    return !e->tomb && e->expires > 0 && e->expires <= now;
}

/* The engine's write rule, for the model. */
static int mwrite(struct model *m, const char *key, uint64_t token, const char *value, uint64_t hlc,
                  uint64_t node, int64_t expires, int64_t now)
{
    struct mentry *e = mfind(m, key);

    if (e != NULL && !mexpired(e, now) &&
        (hlc < e->hlc || (hlc == e->hlc && node <= e->node)))
        return 0;
    if (e == NULL) {
        assert_true(m->n < MAXM);
        e = &m->e[m->n++];
        memset(e, 0, sizeof(*e));
        e->key_len = strlen(key);
        memcpy(e->key, key, e->key_len);
    }
    e->token = token;
    e->tomb = value == NULL;
    snprintf(e->value, sizeof(e->value), "%s", value ? value : "");
    e->hlc = hlc;
    e->node = node;
    e->expires = value ? expires : now + GRACE;
    return 1;
}

static void mdelete_at(struct model *m, int i)
{
    m->e[i] = m->e[--m->n];
}

struct collect {
    struct rc_memkv_entry e[MAXM];
    char keys[MAXM][16];
    int n;
};

static int collect_cb(void *arg, const struct rc_memkv_entry *e)
{
    struct collect *c = arg;

    assert_true(c->n < MAXM && e->key_len < 16);
    c->e[c->n] = *e;
    memcpy(c->keys[c->n], e->key, e->key_len);
    c->e[c->n].key = (const uint8_t *)c->keys[c->n];
    c->e[c->n].value = NULL; /* borrowed: check_same reads values through get */
    c->n++;
    return 0;
}

/* Live values of the model at t: not tombstones, not expired at t. */
static int64_t mlive(const struct model *m, int64_t t)
{
    int64_t live = 0;
    int i;

    for (i = 0; i < m->n; i++)
        live += !m->e[i].tomb && !mexpired(&m->e[i], t);
    return live;
}

/* The engine holds exactly the model's entries, in the model's order, and
 * counts its live values at now and around it (the clock may go back). */
static void check_same(struct rc_memkv *kv, struct model *m, int64_t now)
{
    static const int64_t shifts[] = {0, 150, -40, 0, 3000, -3000, 0};
    size_t s;
    static struct collect c;
    struct rc_memkv_stats st;
    struct rc_memkv_entry e;
    int64_t keys = 0, tombs = 0, bytes = 0;
    int i, j = 0;

    qsort(m->e, (size_t)m->n, sizeof(m->e[0]), mcmp);
    c.n = 0;
    rc_memkv_scan(kv, 0, UINT64_MAX, 0, NULL, 0, MAXM, now, collect_cb, &c);
    for (i = 0; i < m->n; i++) {
        const struct mentry *me = &m->e[i];

        keys += !me->tomb;
        tombs += me->tomb;
        bytes += me->tomb ? 0 : (int64_t)(me->key_len + strlen(me->value));
        if (mexpired(me, now))
            continue;
        assert_true(j < c.n);
        assert_int_equal(c.e[j].key_len, me->key_len);
        assert_memory_equal(c.keys[j], me->key, me->key_len);
        assert_true(c.e[j].token == me->token);
        assert_true(c.e[j].hlc == me->hlc && c.e[j].node == me->node);
        assert_int_equal(c.e[j].expires_ms, me->expires);
        assert_int_equal(rc_memkv_get(kv, me->token, (const uint8_t *)me->key, me->key_len, now,
                                      &e),
                         0);
        assert_int_equal(e.value == NULL, me->tomb);
        if (!me->tomb) {
            assert_int_equal(e.value_len, strlen(me->value));
            assert_memory_equal(e.value, me->value, e.value_len);
        }
        j++;
    }
    assert_int_equal(j, c.n);
    rc_memkv_stats(kv, &st);
    assert_int_equal(st.keys, keys);
    assert_int_equal(st.tombstones, tombs);
    assert_int_equal(st.bytes, bytes);
    for (s = 0; s < sizeof(shifts) / sizeof(shifts[0]); s++)
        assert_int_equal(rc_memkv_live_keys(kv, now + shifts[s]), mlive(m, now + shifts[s]));
}

/* Tokens that collide: 8 bucket prefixes at most (so chains are long and
 * growth splits them), and keys 2j and 2j + 1 share their whole token. */
static uint64_t test_token(int k)
{
    uint64_t j = (uint64_t)(k / 2);

    return (j % 8) << 61 | j * 7919u;
}

/* ---- tests ---------------------------------------------------------------- */

static struct rc_memkv *new_kv(int64_t max_bytes)
{
    struct rc_memkv *kv;

    assert_int_equal(rc_memkv_new(max_bytes, GRACE, &kv), 0);
    return kv;
}

/* Random writes, deletes, range deletes, purges, commits and discards,
 * checked against the model after each commit or discard. */
static void test_model(void **state)
{
    static struct model committed, cur;
    struct rc_memkv *kv = new_kv(0);
    unsigned seed = 12345;
    char key[16], value[16];
    int op, k, i, r, n;

    (void)state;
    memset(&committed, 0, sizeof(committed));
    cur = committed;
    for (op = 0; op < 20000; op++) {
        int what = rand_r(&seed) % 100;
        int64_t now = NOW + op;

        k = rand_r(&seed) % 400;
        snprintf(key, sizeof(key), "k%d", k);
        snprintf(value, sizeof(value), "v%d", op);
        if (what < 60) {
            uint64_t hlc = (uint64_t)(rand_r(&seed) % 50);
            int64_t exp = rand_r(&seed) % 5 == 0 ? now + rand_r(&seed) % 200 : 0;
            r = rc_memkv_write(kv, test_token(k), (const uint8_t *)key, strlen(key),
                               what < 50 ? (const uint8_t *)value : NULL, strlen(value), hlc, 1,
                               exp, now, NULL);
            assert_int_equal(r, mwrite(&cur, key, test_token(k), what < 50 ? value : NULL, hlc, 1,
                                       exp, now));
        } else if (what < 65) {
            uint64_t a = (uint64_t)(rand_r(&seed) % 8) << 61, b = a + (1ull << 60);
            assert_int_equal(rc_memkv_delete_range(kv, a, b, 3, &n), 0);
            qsort(cur.e, (size_t)cur.n, sizeof(cur.e[0]), mcmp);
            for (i = 0, r = 0; i < cur.n && r < 3;) {
                if (cur.e[i].token >= a && cur.e[i].token <= b) {
                    memmove(&cur.e[i], &cur.e[i + 1], (size_t)(cur.n - i - 1) * sizeof(cur.e[0]));
                    cur.n--;
                    r++;
                } else {
                    i++;
                }
            }
            assert_int_equal(n, r);
        } else if (what < 68) {
            assert_int_equal(rc_memkv_purge(kv, now, 1000, &n), 0);
            for (i = 0, r = 0; i < cur.n;) {
                if (cur.e[i].expires > 0 && cur.e[i].expires <= now) {
                    mdelete_at(&cur, i);
                    r++;
                } else {
                    i++;
                }
            }
            /* 400 keys at most: one call looks at all of them, from
             * wherever the last one stopped. */
            assert_true(n <= r);
            if (n < r) { /* the sweep started mid-ring: the rest next time */
                assert_int_equal(rc_memkv_purge(kv, now, 1000, &i), 0);
                assert_int_equal(n + i, r);
            }
        } else if (what < 90) {
            rc_memkv_commit(kv);
            committed = cur;
            check_same(kv, &cur, now);
        } else {
            rc_memkv_discard(kv);
            cur = committed;
            check_same(kv, &cur, now);
        }
    }
    rc_memkv_free(kv);
}

/* 200,000 keys: the table doubles several times, each time a few buckets
 * per write; reads, scans and a discard during the moves see everything. */
static void test_growth(void **state)
{
    struct rc_memkv *kv = new_kv(0);
    struct rc_memkv_entry e;
    struct rc_memkv_stats st;
    uint64_t digest, count, d2, c2, first_digest = 0;
    char key[24];
    int i, n;

    (void)state;
    for (i = 0; i < 200000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        /* A spread of tokens, as XXH3 gives them. */
        uint64_t tok = (uint64_t)i * 0x9e3779b97f4a7c15ull;
        assert_int_equal(rc_memkv_write(kv, tok, (const uint8_t *)key, strlen(key),
                                        (const uint8_t *)"v", 1, 1, 1, 0, NOW, NULL),
                         1);
        first_digest ^= rc_memkv_entry_digest(NULL, (const uint8_t *)key, strlen(key), 1, 1);
        if (i % 1000 == 999)
            rc_memkv_commit(kv);
    }
    rc_memkv_commit(kv);
    for (i = 0; i < 200000; i += 997) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(rc_memkv_get(kv, (uint64_t)i * 0x9e3779b97f4a7c15ull,
                                      (const uint8_t *)key, strlen(key), NOW, &e),
                         0);
    }
    rc_memkv_range_digest(kv, 0, UINT64_MAX, NOW, &digest, &count);
    assert_true(count == 200000);
    assert_true(digest == first_digest);
    /* Additive over a split at any token. */
    rc_memkv_range_digest(kv, 0, 0x1234567890abcdefull, NOW, &d2, &c2);
    rc_memkv_range_digest(kv, 0x1234567890abcdf0ull, UINT64_MAX, NOW, &digest, &count);
    assert_true((d2 ^ digest) == first_digest && c2 + count == 200000);

    /* A batch that starts a doubling, then is discarded. */
    rc_memkv_stats(kv, &st);
    for (i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "more-%d", i);
        assert_int_equal(rc_memkv_write(kv, (uint64_t)i * 0x7f4a7c159e3779b9ull,
                                        (const uint8_t *)key, strlen(key), (const uint8_t *)"w", 1,
                                        1, 1, 0, NOW, NULL),
                         1);
    }
    rc_memkv_discard(kv);
    rc_memkv_range_digest(kv, 0, UINT64_MAX, NOW, &digest, &count);
    assert_true(count == 200000 && digest == first_digest);
    assert_int_equal(rc_memkv_range_count(kv, 0, UINT64_MAX, NOW), 200000);
    assert_int_equal(rc_memkv_delete_range(kv, 0, UINT64_MAX, 300000, &n), 0);
    assert_int_equal(n, 200000);
    rc_memkv_commit(kv);
    rc_memkv_stats(kv, &st);
    assert_int_equal(st.keys, 0);
    rc_memkv_free(kv);
}

/* Scan paging with a cursor while writes make the table grow between
 * pages: every key present throughout is seen exactly once, in order. */
static void test_scan_cursor_growth(void **state)
{
    static struct collect c;
    struct rc_memkv *kv = new_kv(0);
    uint64_t last_tok = 0;
    char key[24], last_key[16];
    size_t last_len = 0;
    int i, seen = 0, pages = 0, w = 0, n;

    (void)state;
    for (i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        rc_memkv_write(kv, test_token(i), (const uint8_t *)key, strlen(key), (const uint8_t *)"v",
                       1, 1, 1, 0, NOW, NULL);
    }
    rc_memkv_commit(kv);
    for (;;) {
        c.n = 0;
        n = rc_memkv_scan(kv, 0, UINT64_MAX, last_tok, pages ? (const uint8_t *)last_key : NULL,
                          last_len, 100, NOW, collect_cb, &c);
        if (n == 0)
            break;
        for (i = 0; i < c.n; i++) {
            /* Strictly after the previous entry, across pages too. */
            if (pages > 0 || i > 0)
                assert_true(order(last_tok, last_key, last_len, c.e[i].token, c.keys[i],
                                  c.e[i].key_len) < 0);
            last_tok = c.e[i].token;
            last_len = c.e[i].key_len;
            memcpy(last_key, c.keys[i], last_len);
            /* Keys of the initial set start with 'k'; new ones with 'n'. */
            seen += c.keys[i][0] == 'k';
        }
        pages++;
        /* Writes between pages: new keys, so the table doubles. */
        for (i = 0; i < 500; i++, w++) {
            snprintf(key, sizeof(key), "n%d", w);
            rc_memkv_write(kv, (uint64_t)w * 0x9e3779b97f4a7c15ull, (const uint8_t *)key,
                           strlen(key), (const uint8_t *)"v", 1, 1, 1, 0, NOW, NULL);
        }
        rc_memkv_commit(kv);
    }
    assert_int_equal(seen, 3000);
    rc_memkv_free(kv);
}

/* Keys with one token order as SQLite orders blobs; token edges. */
static void test_order_and_edges(void **state)
{
    static struct collect c;
    static const struct {
        const char *k;
        size_t len;
    } keys[] = {{"b", 1}, {"a\0", 2}, {"a", 1}, {"", 0}, {"ab", 2}};
    struct rc_memkv *kv = new_kv(0);
    uint64_t d, n;
    size_t i;

    (void)state;
    for (i = 0; i < 5; i++)
        assert_int_equal(rc_memkv_write(kv, 42, (const uint8_t *)keys[i].k, keys[i].len,
                                        (const uint8_t *)"v", 1, 1, 1, 0, NOW, NULL),
                         1);
    assert_int_equal(rc_memkv_write(kv, 0, (const uint8_t *)"lo", 2, (const uint8_t *)"v", 1, 1,
                                    1, 0, NOW, NULL),
                     1);
    assert_int_equal(rc_memkv_write(kv, UINT64_MAX, (const uint8_t *)"hi", 2,
                                    (const uint8_t *)"v", 1, 1, 1, 0, NOW, NULL),
                     1);
    c.n = 0;
    assert_int_equal(rc_memkv_scan(kv, 42, 42, 0, NULL, 0, 100, NOW, collect_cb, &c), 5);
    assert_int_equal(c.e[0].key_len, 0);
    assert_memory_equal(c.keys[1], "a", 1);
    assert_int_equal(c.e[1].key_len, 1);
    assert_memory_equal(c.keys[2], "a\0", 2);
    assert_memory_equal(c.keys[3], "ab", 2);
    assert_memory_equal(c.keys[4], "b", 1);
    /* After ("a", 42): three left. */
    c.n = 0;
    assert_int_equal(rc_memkv_scan(kv, 0, UINT64_MAX, 42, (const uint8_t *)"a", 1, 100, NOW,
                                   collect_cb, &c),
                     4);
    assert_true(c.e[3].token == UINT64_MAX);
    rc_memkv_range_digest(kv, 0, 0, NOW, &d, &n);
    assert_true(n == 1);
    rc_memkv_range_digest(kv, UINT64_MAX, UINT64_MAX, NOW, &d, &n);
    assert_true(n == 1);
    assert_int_equal(rc_memkv_range_count(kv, 1, UINT64_MAX - 1, NOW), 5);
    rc_memkv_free(kv);
}

/* One purge call looks at a bounded number of entries and the next goes
 * on where it stopped, round the ring. */
static void test_purge_sweep(void **state)
{
    struct rc_memkv *kv = new_kv(0);
    char key[24];
    int i, n, calls = 0, total = 0;

    (void)state;
    /* 5,000 keys, every 100th expiring at NOW + 10. */
    for (i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "p%d", i);
        rc_memkv_write(kv, (uint64_t)i * 0x9e3779b97f4a7c15ull, (const uint8_t *)key, strlen(key),
                       (const uint8_t *)"v", 1, 1, 1, i % 100 == 0 ? NOW + 10 : 0, NOW, NULL);
    }
    rc_memkv_commit(kv);
    assert_int_equal(rc_memkv_purge(kv, NOW, 10, &n), 0); /* nothing due yet */
    assert_int_equal(n, 0);
    /* max_rows 10 looks at 160 entries a call: 5,000 / 160 -> 32 calls
     * (plus the one above and a turn of the ring) find all 50. */
    while (total < 50 && calls < 100) {
        assert_int_equal(rc_memkv_purge(kv, NOW + 10, 10, &n), 0);
        assert_true(n <= 10);
        total += n;
        calls++;
        rc_memkv_commit(kv);
    }
    assert_int_equal(total, 50);
    assert_true(calls >= 30 && calls <= 66);
    assert_int_equal(rc_memkv_range_count(kv, 0, UINT64_MAX, NOW + 10), 4950);
    rc_memkv_free(kv);
}

/* The cap counts memory: past it a growing write is refused and the
 * batch goes; a write that shrinks (a tombstone for a value) still passes. */
static void test_cap(void **state)
{
    struct rc_memkv *kv = new_kv(64 * 1024);
    struct rc_memkv_stats st;
    uint8_t big[500];
    char key[24];
    int i, r = 1;

    (void)state;
    memset(big, 'x', sizeof(big));
    for (i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "c%d", i);
        assert_int_equal(rc_memkv_write(kv, (uint64_t)i << 40, (const uint8_t *)key, strlen(key),
                                        big, sizeof(big), 1, 1, 0, NOW, NULL),
                         1);
    }
    rc_memkv_commit(kv);
    for (i = 10; r == 1; i++) {
        snprintf(key, sizeof(key), "c%d", i);
        r = rc_memkv_write(kv, (uint64_t)i << 40, (const uint8_t *)key, strlen(key), big,
                           sizeof(big), 1, 1, 0, NOW, NULL);
    }
    assert_int_equal(r, RC_EFULL);
    assert_int_equal(rc_memkv_pending(kv), 0);
    rc_memkv_stats(kv, &st);
    assert_int_equal(st.keys, 10);
    /* Fill to the brim, committed. */
    for (i = 10, r = 1; r != RC_EFULL; i++) {
        snprintf(key, sizeof(key), "c%d", i);
        r = rc_memkv_write(kv, (uint64_t)i << 40, (const uint8_t *)key, strlen(key), big,
                           sizeof(big), 1, 1, 0, NOW, NULL);
        if (r == 1)
            rc_memkv_commit(kv);
    }
    rc_memkv_stats(kv, &st);
    assert_true(st.mem_bytes <= 64 * 1024);
    assert_int_equal(rc_memkv_write(kv, 0, (const uint8_t *)"c0", 2, NULL, 0, 2, 1, 0, NOW, NULL),
                     1);
    rc_memkv_commit(kv);
    rc_memkv_free(kv);
}

/* Allocation N of a batch fails, for every N: the call reports it, the
 * committed state is intact, and (under ASan) nothing leaks. */
static void test_alloc_failures(void **state)
{
    static struct model m;
    struct rc_memkv *kv;
    char key[16];
    long nf;
    int i, n, err;

    (void)state;
    for (nf = 1; nf < 100000; nf++) {
        fault_arm(nf);
        err = rc_memkv_new(0, GRACE, &kv);
        if (err < 0) {
            assert_int_equal(err, RC_ENOMEM);
            assert_null(kv);
            continue;
        }
        memset(&m, 0, sizeof(m));
        fault_off();
        for (i = 0; i < 40; i++) { /* committed before the faults */
            snprintf(key, sizeof(key), "c%d", i);
            assert_int_equal(rc_memkv_write(kv, test_token(i), (const uint8_t *)key, strlen(key),
                                            (const uint8_t *)"v", 1, 1, 1, 0, NOW, NULL),
                             1);
            mwrite(&m, key, test_token(i), "v", 1, 1, 0, NOW);
        }
        rc_memkv_commit(kv);
        fault_arm(nf);
        err = 0;
        /* Enough writes (2,000 entries) to grow the table and the undo
         * log several times. */
        for (i = 0; i < 2000 && err >= 0; i++) {
            snprintf(key, sizeof(key), "w%d", i);
            /* Every third with an expiry: the expiry table grows too. */
            err = rc_memkv_write(kv, (uint64_t)i * 0x9e3779b97f4a7c15ull, (const uint8_t *)key,
                                 strlen(key), (const uint8_t *)"x", 1, 2, 1,
                                 i % 3 == 0 ? NOW + 1 + i : 0, NOW, NULL);
        }
        if (err >= 0)
            err = rc_memkv_delete_range(kv, 0, UINT64_MAX, 100, &n);
        if (err >= 0)
            err = rc_memkv_purge(kv, NOW, 10, &n);
        fault_off();
        if (err < 0) {
            assert_int_equal(err, RC_ENOMEM);
            assert_int_equal(rc_memkv_pending(kv), 0);
            check_same(kv, &m, NOW);
        } else {
            rc_memkv_commit(kv);
        }
        rc_memkv_free(kv);
        if (!fault_fired)
            break;
    }
    print_message("%ld allocation failures injected\n", nf - 1);
    assert_true(nf > 10 && nf < 100000);
}

/* An expiry time is stored only by the entries that have one: a value
 * without takes 8 bytes less; whatever the caller gave comes back. */
/* Attributes: 8 bytes more only on an entry that has them, kept with an
 * expiry time too, none on a tombstone, undone by a discard. */
static void test_attr_storage(void **state)
{
    struct rc_memkv *kv = new_kv(0);
    struct rc_memkv_stats st;
    struct rc_memkv_entry e;
    int64_t plain, with;

    (void)state;
    rc_memkv_stats(kv, &st);
    plain = st.mem_bytes;
    assert_int_equal(rc_memkv_write_attr(kv, 5, (const uint8_t *)"a", 1, (const uint8_t *)"v", 1,
                                         1, 1, 0, 0, NOW, NULL),
                     1);
    rc_memkv_stats(kv, &st);
    plain = st.mem_bytes - plain;
    with = st.mem_bytes;
    assert_int_equal(rc_memkv_write_attr(kv, 5, (const uint8_t *)"c", 1, (const uint8_t *)"v", 1,
                                         1, 1, 0, 9, NOW, NULL),
                     1);
    rc_memkv_stats(kv, &st);
    with = st.mem_bytes - with;
    assert_int_equal(with, plain + 8);
    assert_int_equal(rc_memkv_write_attr(kv, 5, (const uint8_t *)"b", 1, (const uint8_t *)"v", 1,
                                         1, 1, NOW + 50, UINT64_C(0x100000002), NOW, NULL),
                     1);
    rc_memkv_commit(kv);
    assert_int_equal(rc_memkv_get(kv, 5, (const uint8_t *)"c", 1, NOW, &e), 0);
    assert_true(e.attr == 9 && e.expires_ms == 0);
    assert_int_equal(rc_memkv_get(kv, 5, (const uint8_t *)"b", 1, NOW, &e), 0);
    assert_true(e.attr == UINT64_C(0x100000002) && e.expires_ms == NOW + 50);
    assert_memory_equal(e.key, "b", 1);
    assert_memory_equal(e.value, "v", 1);
    assert_int_equal(rc_memkv_get(kv, 5, (const uint8_t *)"a", 1, NOW, &e), 0);
    assert_true(e.attr == 0);
    /* Discarded: the old entry and its attributes come back. */
    assert_int_equal(rc_memkv_write(kv, 5, (const uint8_t *)"b", 1, (const uint8_t *)"w", 1, 2,
                                    1, 0, NOW, NULL),
                     1);
    assert_int_equal(rc_memkv_get(kv, 5, (const uint8_t *)"b", 1, NOW, &e), 0);
    assert_true(e.attr == 0);
    rc_memkv_discard(kv);
    assert_int_equal(rc_memkv_get(kv, 5, (const uint8_t *)"b", 1, NOW, &e), 0);
    assert_true(e.attr == UINT64_C(0x100000002));
    /* A tombstone has none. */
    assert_int_equal(rc_memkv_write_attr(kv, 5, (const uint8_t *)"b", 1, NULL, 0, 3, 1, 0, 7, NOW,
                                         NULL),
                     1);
    assert_int_equal(rc_memkv_get(kv, 5, (const uint8_t *)"b", 1, NOW, &e), 0);
    assert_true(e.value == NULL && e.attr == 0);
    rc_memkv_free(kv);
}

/* A persistent copy's states load whatever their version (the copy
 * records them in the order memory had them), a key's absence removes it,
 * and the counts follow. */
static void test_load_replaces(void **state)
{
    struct rc_memkv *kv = new_kv(0);
    struct rc_memkv_stats st;
    struct rc_memkv_entry e;
    const uint8_t *k = (const uint8_t *)"k";

    (void)state;
    assert_int_equal(rc_memkv_load(kv, 5, k, 1, (const uint8_t *)"new", 3, 9, 1, 0, 0, NOW), 1);
    assert_int_equal(rc_memkv_load(kv, 5, k, 1, (const uint8_t *)"old", 3, 2, 1, 0, 0, NOW), 1);
    assert_int_equal(rc_memkv_get(kv, 5, k, 1, NOW, &e), 0);
    assert_true(e.hlc == 2 && e.value_len == 3);
    assert_memory_equal(e.value, "old", 3);
    assert_int_equal(rc_memkv_load(kv, 5, k, 1, NULL, 0, 1, 1, NOW + 5, 0, NOW), 1);
    assert_int_equal(rc_memkv_get(kv, 5, k, 1, NOW, &e), 0);
    assert_true(e.value == NULL && e.hlc == 1 && e.expires_ms == NOW + 5);
    rc_memkv_stats(kv, &st);
    assert_true(st.keys == 0 && st.tombstones == 1);
    assert_int_equal(rc_memkv_unload(kv, 5, k, 1), 1);
    assert_int_equal(rc_memkv_unload(kv, 5, k, 1), 0);
    assert_int_equal(rc_memkv_get(kv, 5, k, 1, NOW, &e), RC_ENOTFOUND);
    rc_memkv_stats(kv, &st);
    assert_true(st.keys == 0 && st.tombstones == 0 && st.mem_bytes >= 0);
    /* An ordinary write after it still orders by version. */
    assert_int_equal(rc_memkv_write(kv, 5, k, 1, (const uint8_t *)"w", 1, 3, 1, 0, NOW, NULL), 1);
    assert_int_equal(rc_memkv_write(kv, 5, k, 1, (const uint8_t *)"x", 1, 2, 1, 0, NOW, NULL), 0);
    rc_memkv_commit(kv);
    rc_memkv_free(kv);
}

static void test_expiry_storage(void **state)
{
    static const int64_t exps[] = {0, NOW + 10, -5, 0, INT64_MAX};
    struct rc_memkv *kv = new_kv(0);
    struct rc_memkv_stats st;
    struct rc_memkv_entry e;
    int64_t mem[5], before;
    char key[16];
    int i;

    (void)state;
    for (i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "x%d", i);
        rc_memkv_stats(kv, &st);
        before = st.mem_bytes;
        assert_int_equal(rc_memkv_write(kv, 77, (const uint8_t *)key, strlen(key),
                                        (const uint8_t *)"value", 5, 1, 1, exps[i], NOW, NULL),
                         1);
        rc_memkv_stats(kv, &st);
        mem[i] = st.mem_bytes - before;
    }
    rc_memkv_commit(kv);
    /* (mem[1] also holds the expiry table's first allocation.) */
    assert_true(mem[3] == mem[0] && mem[2] == mem[0] + 8 && mem[4] == mem[2] && mem[1] > mem[2]);
    for (i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "x%d", i);
        assert_int_equal(rc_memkv_get(kv, 77, (const uint8_t *)key, strlen(key), NOW, &e), 0);
        assert_true(e.expires_ms == exps[i] && e.value_len == 5 && e.key_len == 2);
        assert_memory_equal(e.key, key, 2);
        assert_memory_equal(e.value, "value", 5);
    }
    /* A tombstone always has its purge time. */
    assert_int_equal(rc_memkv_write(kv, 77, (const uint8_t *)"x0", 2, NULL, 0, 2, 1, 0, NOW, NULL),
                     1);
    assert_int_equal(rc_memkv_get(kv, 77, (const uint8_t *)"x0", 2, NOW, &e), 0);
    assert_true(e.value == NULL && e.expires_ms == NOW + GRACE);
    assert_int_equal(rc_memkv_range_count(kv, 0, UINT64_MAX, NOW + 10), 3);
    rc_memkv_free(kv);
}

/* ---- eviction ---------------------------------------------------------- */

#define EV_BUDGET (256 * 1024)
#define EV_VALUE 100
#define EV_MAX 8192

static const int evicting[] = {
    RC_EVICT_ALLKEYS_LRU,     RC_EVICT_ALLKEYS_LFU,     RC_EVICT_ALLKEYS_RANDOM,
    RC_EVICT_VOLATILE_LRU,    RC_EVICT_VOLATILE_LFU,    RC_EVICT_VOLATILE_TTL,
    RC_EVICT_VOLATILE_RANDOM, RC_EVICT_ALLKEYS_S3FIFO,  RC_EVICT_ALLKEYS_WTINYLFU,
};
#define NEVICTING ((int)(sizeof(evicting) / sizeof(evicting[0])))

static int is_volatile(int policy)
{
    return policy >= RC_EVICT_VOLATILE_LRU && policy <= RC_EVICT_VOLATILE_RANDOM;
}

/* Key i: "e<i>" (under 16 bytes), a spread token; its value at version
 * hlc names both, padded to EV_VALUE bytes. */
static size_t ev_key(int i, char *key)
{
    return (size_t)snprintf(key, 16, "e%d", i);
}

static uint64_t ev_token(int i)
{
    return (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull;
}

static void ev_value(int i, uint64_t hlc, uint8_t *v)
{
    memset(v, 'a' + i % 26, EV_VALUE);
    snprintf((char *)v, 24, "v%d@%llu", i, (unsigned long long)hlc);
}

static int ev_write(struct rc_memkv *kv, int i, uint64_t hlc, int64_t expires)
{
    uint8_t v[EV_VALUE];
    char key[16];
    size_t len = ev_key(i, key);

    ev_value(i, hlc, v);
    return rc_memkv_write(kv, ev_token(i), (const uint8_t *)key, len, v, EV_VALUE, hlc, 1,
                          expires, NOW, NULL);
}

static int ev_delete(struct rc_memkv *kv, int i, uint64_t hlc)
{
    char key[16];
    size_t len = ev_key(i, key);

    return rc_memkv_write(kv, ev_token(i), (const uint8_t *)key, len, NULL, 0, hlc, 1, 0, NOW,
                          NULL);
}

/* 0 and the version when key i is held (a tombstone: *tomb), else -1. */
static int ev_get(struct rc_memkv *kv, int i, uint64_t *hlc, int *tomb)
{
    struct rc_memkv_entry e;
    uint8_t v[EV_VALUE];
    char key[16];
    size_t len = ev_key(i, key);

    if (rc_memkv_get(kv, ev_token(i), (const uint8_t *)key, len, NOW, &e) != 0)
        return -1;
    *hlc = e.hlc;
    *tomb = e.value == NULL;
    if (e.value != NULL) { /* the value of that key at that version */
        ev_value(i, e.hlc, v);
        assert_int_equal(e.value_len, EV_VALUE);
        assert_memory_equal(e.value, v, EV_VALUE);
    }
    return 0;
}

struct census {
    int64_t values, tombs, bytes;
    uint64_t digest;
};

static int census_cb(void *arg, const struct rc_memkv_entry *e)
{
    struct census *c = arg;

    if (e->value == NULL) {
        c->tombs++;
    } else {
        c->values++;
        c->bytes += (int64_t)(e->key_len + e->value_len);
    }
    c->digest ^= rc_memkv_entry_digest(NULL, e->key, e->key_len, e->hlc, e->node);
    return 0;
}

/* The entries a scan sees agree with the counters; within the budget
 * when asked. */
static struct census ev_check(struct rc_memkv *kv, int within)
{
    struct census c = {0, 0, 0, 0};
    struct rc_memkv_stats st;

    rc_memkv_scan(kv, 0, UINT64_MAX, 0, NULL, 0, INT32_MAX, NOW, census_cb, &c);
    rc_memkv_stats(kv, &st);
    assert_int_equal(c.values, st.keys);
    assert_int_equal(c.tombs, st.tombstones);
    assert_int_equal(c.bytes, st.bytes);
    if (within)
        assert_true(st.mem_bytes <= st.max_bytes);
    return c;
}

static struct rc_memkv *ev_kv(int policy)
{
    struct rc_memkv *kv = new_kv(0);

    assert_int_equal(rc_memkv_set_evict(kv, EV_BUDGET, policy), 0);
    return kv;
}

/* Ten budgets' worth of writes (new keys, overwrites, reads between):
 * every write goes in, and every commit leaves the engine within its
 * budget, for every evicting policy. */
static void test_evict_budget(void **state)
{
    struct rc_memkv_stats st;
    struct rc_memkv *kv;
    uint64_t hlc;
    int p, i, tomb, held;

    (void)state;
    for (p = 0; p < NEVICTING; p++) {
        int64_t exp = is_volatile(evicting[p]) ? NOW + 1000000 : 0;

        kv = ev_kv(evicting[p]);
        /* ~220 bytes an entry: ~1,000 fill the budget; 12,000 writes. */
        for (i = 0; i < 12000; i++) {
            /* Every fourth write overwrites a recent key. */
            int k = i % 4 == 3 ? i - 1 - (i / 4) % 50 : i;

            /* One distinct expiry time per write: the expiry table
             * (expcount.h) doubles as values pile up, and the write that
             * doubles it evicts for its growth too, so the budget holds
             * at every commit. */
            assert_int_equal(ev_write(kv, k, 10 + (uint64_t)i, exp ? exp + i : 0),
                             1);
            if (i % 3 == 0)
                ev_get(kv, i / 2, &hlc, &tomb); /* reads for the policy */
            if (i % 10 == 9) {
                rc_memkv_commit(kv);
                ev_check(kv, 1);
            }
        }
        rc_memkv_commit(kv);
        ev_check(kv, 1);
        rc_memkv_stats(kv, &st);
        assert_true(st.evicted > 0);
        assert_int_equal(st.policy, evicting[p]);
        assert_true(st.max_bytes == EV_BUDGET);
        /* Full (at least half the budget in values), and every key held
         * reads back its own value (ev_get checks it). */
        assert_true(st.keys * 230 > EV_BUDGET / 2);
        for (i = 0, held = 0; i < 12000; i++)
            held += ev_get(kv, i, &hlc, &tomb) == 0;
        assert_int_equal(held, st.keys);
        rc_memkv_free(kv);
    }
}

/* Heavy eviction never takes a tombstone: a deleted key stays deleted,
 * and an older write of it is still refused. A delete of a key evicted
 * is stored. */
static void test_evict_keeps_tombstones(void **state)
{
    struct rc_memkv_stats st;
    struct rc_memkv *kv;
    uint64_t hlc;
    int p, i, tomb, evicted_key = -1;

    (void)state;
    for (p = 0; p < NEVICTING; p++) {
        int64_t exp = is_volatile(evicting[p]) ? NOW + 1000000 : 0;

        kv = ev_kv(evicting[p]);
        for (i = 0; i < 200; i++)
            assert_int_equal(ev_write(kv, i, 5, exp), 1);
        for (i = 0; i < 200; i += 2)
            assert_int_equal(ev_delete(kv, i, 6), 1);
        rc_memkv_commit(kv);
        for (i = 1000; i < 11000; i++) {
            assert_int_equal(ev_write(kv, i, 10, exp), 1);
            if (i % 10 == 0)
                rc_memkv_commit(kv);
        }
        rc_memkv_commit(kv);
        rc_memkv_stats(kv, &st);
        assert_int_equal(st.tombstones, 100);
        for (i = 0; i < 200; i += 2) {
            assert_int_equal(ev_get(kv, i, &hlc, &tomb), 0);
            assert_true(tomb && hlc == 6);
            assert_int_equal(ev_write(kv, i, 4, exp), 0);
        }
        /* A key of the first fill that went: its delete goes in. */
        for (i = 1; i < 200 && evicted_key < 0; i += 2)
            if (ev_get(kv, i, &hlc, &tomb) < 0)
                evicted_key = i;
        assert_true(evicted_key > 0);
        assert_int_equal(ev_delete(kv, evicted_key, 7), 1);
        assert_int_equal(ev_get(kv, evicted_key, &hlc, &tomb), 0);
        assert_true(tomb && hlc == 7);
        evicted_key = -1;
        rc_memkv_commit(kv);
        ev_check(kv, 1);
        rc_memkv_free(kv);
    }
}

/* Whether key i is held, without a read (a read is the policy's access). */
static int ev_held(struct rc_memkv *kv, int i)
{
    return rc_memkv_range_count(kv, ev_token(i), ev_token(i), NOW) > 0;
}

/* Writes until key k is gone; the number of writes made. */
static int evict_key(struct rc_memkv *kv, int k, int from)
{
    int i;

    for (i = from; ev_held(kv, k); i++) {
        assert_true(i < from + 100000);
        assert_int_equal(ev_write(kv, i, 1, 0), 1);
        rc_memkv_commit(kv);
    }
    return i - from;
}

/* Key 0 evicted at version 20 (node 1): a value at a version up to that
 * is ignored and counted, a newer one applied; a newer node at the same
 * hlc wins too. */
static void test_ghost(void **state)
{
    struct rc_memkv_stats st;
    struct rc_memkv *kv = ev_kv(RC_EVICT_ALLKEYS_LRU);
    uint8_t v[EV_VALUE];
    uint64_t hlc;
    int tomb;

    (void)state;
    assert_int_equal(ev_write(kv, 0, 20, 0), 1);
    rc_memkv_commit(kv);
    assert_true(evict_key(kv, 0, 1) > 0);
    rc_memkv_stats(kv, &st);
    assert_int_equal(st.ghost_refused, 0);
    assert_int_equal(ev_write(kv, 0, 10, 0), 0); /* v1 */
    assert_int_equal(ev_write(kv, 0, 20, 0), 0); /* v2 itself */
    rc_memkv_stats(kv, &st);
    assert_int_equal(st.ghost_refused, 2);
    assert_int_equal(ev_get(kv, 0, &hlc, &tomb), -1);
    ev_value(0, 20, v);
    assert_int_equal(rc_memkv_write(kv, ev_token(0), (const uint8_t *)"e0", 2, v, EV_VALUE, 20, 2,
                                    0, NOW, NULL),
                     1);
    assert_int_equal(ev_get(kv, 0, &hlc, &tomb), 0);
    assert_true(hlc == 20 && !tomb);
    rc_memkv_commit(kv);
    /* Evicted again at (20, 2): v3 goes in. */
    evict_key(kv, 0, 100000);
    assert_int_equal(ev_write(kv, 0, 20, 0), 0);
    assert_int_equal(ev_write(kv, 0, 30, 0), 1); /* v3 */
    assert_int_equal(ev_get(kv, 0, &hlc, &tomb), 0);
    assert_true(hlc == 30);
    rc_memkv_stats(kv, &st);
    assert_int_equal(st.ghost_refused, 3);
    /* A tombstone of an evicted key is never refused. */
    evict_key(kv, 0, 200000);
    assert_int_equal(ev_delete(kv, 0, 25), 1);
    rc_memkv_commit(kv);
    rc_memkv_free(kv);
}

/* A batch that evicts, then is discarded: the same entries, versions,
 * values and counters as before it (evicted and ghost_refused count
 * what happened, committed or not). The engine goes on evicting after. */
static void test_evict_discard(void **state)
{
    struct rc_memkv_stats st0, st1;
    struct rc_memkv *kv;
    struct census c0, c1;
    uint64_t hlc;
    int p, i, tomb, held0[2000];

    (void)state;
    for (p = 0; p < NEVICTING; p++) {
        int64_t exp = is_volatile(evicting[p]) ? NOW + 1000000 : 0;

        kv = ev_kv(evicting[p]);
        for (i = 0; i < 2000; i++) {
            assert_int_equal(ev_write(kv, i, 3, exp), 1);
            rc_memkv_commit(kv);
        }
        for (i = 0; i < 2000; i++)
            held0[i] = ev_get(kv, i, &hlc, &tomb) == 0;
        c0 = ev_check(kv, 1);
        rc_memkv_stats(kv, &st0);
        for (i = 5000; i < 5600; i++)
            assert_int_equal(ev_write(kv, i, 3, exp), 1);
        /* Overwrites and deletes of held keys in the same batch. */
        for (i = 0; i < 2000; i += 7)
            if (held0[i])
                assert_int_equal(i % 2 ? ev_write(kv, i, 4, exp) : ev_delete(kv, i, 4), 1);
        rc_memkv_stats(kv, &st1);
        assert_true(st1.evicted > st0.evicted);
        rc_memkv_discard(kv);
        c1 = ev_check(kv, 1);
        assert_true(c1.digest == c0.digest && c1.values == c0.values);
        rc_memkv_stats(kv, &st1);
        assert_int_equal(st1.keys, st0.keys);
        assert_int_equal(st1.tombstones, st0.tombstones);
        assert_int_equal(st1.bytes, st0.bytes);
        assert_int_equal(st1.mem_bytes, st0.mem_bytes);
        for (i = 0; i < 2000; i++) {
            assert_int_equal(ev_get(kv, i, &hlc, &tomb) == 0, held0[i]);
            assert_true(!held0[i] || (hlc == 3 && !tomb));
        }
        /* The policy has every entry back: it evicts them as before. */
        for (i = 10000; i < 14000; i++) {
            assert_int_equal(ev_write(kv, i, 3, exp), 1);
            if (i % 10 == 0) {
                rc_memkv_commit(kv);
                ev_check(kv, 1);
            }
        }
        rc_memkv_commit(kv);
        rc_memkv_free(kv);
    }
}

/* The entry a write replaces is never its victim: with the replaced key
 * the oldest (LRU's first choice), a growing overwrite evicts others and
 * a discard gives both back; alone in the budget, it is RC_EFULL. */
static void test_evict_not_replaced(void **state)
{
    struct rc_memkv_stats st;
    struct rc_memkv *kv = ev_kv(RC_EVICT_ALLKEYS_LRU);
    uint8_t big[4096];
    uint64_t hlc;
    int i, tomb, n;

    (void)state;
    for (i = 0; i < 3000; i++) {
        assert_int_equal(ev_write(kv, i, 1, 0), 1);
        rc_memkv_commit(kv);
    }
    for (i = 0; !ev_held(kv, i); i++)
        ;
    /* Key i is now the oldest held; overwrite it with 4 KiB, in a batch
     * that deletes another key first (a delete evicts nothing). */
    memset(big, 'b', sizeof(big));
    assert_int_equal(ev_delete(kv, 2999, 2), 1);
    rc_memkv_stats(kv, &st);
    n = (int)st.keys;
    {
        char key[16];
        size_t len = ev_key(i, key);

        assert_int_equal(rc_memkv_write(kv, ev_token(i), (const uint8_t *)key, len, big,
                                        sizeof(big), 2, 1, 0, NOW, NULL),
                         1);
        rc_memkv_stats(kv, &st);
        assert_true(st.keys < n); /* others went */
        assert_int_equal(rc_memkv_get(kv, ev_token(i), (const uint8_t *)key, len, NOW,
                                      &(struct rc_memkv_entry){0}),
                         0);
    }
    ev_check(kv, 1);
    rc_memkv_discard(kv);
    assert_int_equal(ev_get(kv, i, &hlc, &tomb), 0);
    assert_true(hlc == 1);
    assert_int_equal(ev_get(kv, 2999, &hlc, &tomb), 0);
    assert_true(hlc == 1 && !tomb);
    rc_memkv_stats(kv, &st);
    assert_int_equal(st.keys, n + 1);
    ev_check(kv, 1);
    rc_memkv_free(kv);

    /* Alone: nothing else to evict. */
    kv = new_kv(0);
    assert_int_equal(rc_memkv_set_evict(kv, 20 * 1024, RC_EVICT_ALLKEYS_LRU), 0);
    assert_int_equal(ev_write(kv, 0, 1, 0), 1);
    rc_memkv_commit(kv);
    {
        uint8_t huge[16384];

        memset(huge, 'h', sizeof(huge));
        assert_int_equal(rc_memkv_write(kv, ev_token(0), (const uint8_t *)"e0", 2, huge,
                                        sizeof(huge), 2, 1, 0, NOW, NULL),
                         RC_EFULL);
    }
    assert_int_equal(ev_get(kv, 0, &hlc, &tomb), 0);
    assert_true(hlc == 1);
    rc_memkv_free(kv);
}

/* A lowered budget: rc_memkv_evict gets there in calls of at most
 * max_rows; within budget it does nothing. */
static void test_evict_lowered(void **state)
{
    struct rc_memkv_stats st;
    struct rc_memkv *kv;
    int p, i, n, calls, total;

    (void)state;
    for (p = 0; p < NEVICTING; p++) {
        int64_t exp = is_volatile(evicting[p]) ? NOW + 1000000 : 0;

        kv = ev_kv(evicting[p]);
        for (i = 0; i < 3000; i++) {
            assert_int_equal(ev_write(kv, i, 1, exp), 1);
            rc_memkv_commit(kv);
        }
        assert_int_equal(rc_memkv_evict(kv, 50, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(rc_memkv_pending(kv), 0);
        assert_int_equal(rc_memkv_set_evict(kv, EV_BUDGET / 4, evicting[p]), 0);
        rc_memkv_stats(kv, &st);
        assert_true(st.mem_bytes > EV_BUDGET / 4 && st.max_bytes == EV_BUDGET / 4);
        for (calls = 0, total = 0;; calls++) {
            assert_true(calls < 1000);
            assert_int_equal(rc_memkv_evict(kv, 50, &n), 0);
            assert_true(n >= 0 && n <= 50);
            rc_memkv_commit(kv);
            if (n == 0)
                break;
            total += n;
        }
        ev_check(kv, 1);
        rc_memkv_stats(kv, &st);
        assert_true(total > 0 && st.evicted >= total);
        /* ~1,140 entries at the old budget, ~250 at the new one. */
        assert_true(calls >= total / 50 && calls <= total / 50 + 1);
        /* Keeps writing within the new budget. */
        for (i = 5000; i < 6000; i++) {
            assert_int_equal(ev_write(kv, i, 1, exp), 1);
            rc_memkv_commit(kv);
        }
        ev_check(kv, 1);
        rc_memkv_free(kv);
    }
}

/* A lowered budget and no rc_memkv_evict: each write evicts more than it
 * adds (RC_MEMKV_EVICT_PER_WRITE), so the writes alone bring the engine
 * back within the budget, mem_bytes falling at every one. */
static void test_evict_converges(void **state)
{
    struct rc_memkv_stats st, last;
    struct rc_memkv *kv = ev_kv(RC_EVICT_ALLKEYS_LRU);
    int i;

    (void)state;
    for (i = 0; i < 3000; i++) {
        assert_int_equal(ev_write(kv, i, 1, 0), 1);
        rc_memkv_commit(kv);
    }
    assert_int_equal(rc_memkv_set_evict(kv, EV_BUDGET / 4, RC_EVICT_ALLKEYS_LRU), 0);
    rc_memkv_stats(kv, &last);
    for (i = 10000;; i++) {
        assert_int_equal(ev_write(kv, i, 1, 0), 1);
        rc_memkv_commit(kv);
        rc_memkv_stats(kv, &st);
        if (st.mem_bytes <= st.max_bytes)
            break;
        assert_true(st.mem_bytes < last.mem_bytes);
        last = st;
    }
    /* ~850 entries to shed at ~63 a write. */
    assert_true(i - 10000 <= 20);
    for (i = 20000; i < 21000; i++) {
        assert_int_equal(ev_write(kv, i, 1, 0), 1);
        rc_memkv_commit(kv);
        ev_check(kv, 1);
    }
    rc_memkv_free(kv);
}

/* Reads are the policy's accesses, scans are not: under LRU a key read
 * now and then outlives ten budgets of writes; one only scanned does not. */
static void test_evict_reads(void **state)
{
    static struct collect c;
    struct rc_memkv *kv = ev_kv(RC_EVICT_ALLKEYS_LRU);
    uint64_t hlc;
    int i, tomb;

    (void)state;
    assert_int_equal(ev_write(kv, 0, 1, 0), 1);
    assert_int_equal(ev_write(kv, 1, 1, 0), 1);
    rc_memkv_commit(kv);
    for (i = 2; i < 12000; i++) {
        assert_int_equal(ev_write(kv, i, 1, 0), 1);
        rc_memkv_commit(kv);
        if (i % 100 == 0) {
            assert_int_equal(ev_get(kv, 0, &hlc, &tomb), 0);
            c.n = 0;
            rc_memkv_scan(kv, ev_token(1), ev_token(1), 0, NULL, 0, 1, NOW, collect_cb, &c);
        }
    }
    assert_true(ev_held(kv, 0));
    assert_false(ev_held(kv, 1));
    rc_memkv_free(kv);
}

/* The bucket array doubles under the budget only: at every budget of a
 * sweep (one of them full just as entries outnumber buckets), a commit
 * is never above it. */
static void test_evict_table_growth(void **state)
{
    struct rc_memkv_stats st;
    struct rc_memkv *kv;
    int64_t budget;
    int i;

    (void)state;
    for (budget = 160 * 1024; budget < 320 * 1024; budget += 2048) {
        kv = new_kv(0);
        assert_int_equal(rc_memkv_set_evict(kv, budget, RC_EVICT_ALLKEYS_LRU), 0);
        for (i = 0; i < (int)(budget / 100); i++) {
            assert_int_equal(ev_write(kv, i, 1, 0), 1);
            rc_memkv_commit(kv);
            rc_memkv_stats(kv, &st);
            assert_true(st.mem_bytes <= budget);
        }
        ev_check(kv, 1);
        rc_memkv_free(kv);
    }
}

/* noeviction, and volatile-* with nothing that expires: RC_EFULL, the
 * batch discarded, nothing evicted. */
static void test_evict_full(void **state)
{
    static const int full[] = {RC_EVICT_NOEVICTION, RC_EVICT_VOLATILE_LRU, RC_EVICT_VOLATILE_LFU,
                               RC_EVICT_VOLATILE_TTL, RC_EVICT_VOLATILE_RANDOM};
    struct rc_memkv_stats st;
    struct rc_memkv *kv;
    size_t p;
    int i, r = 1;

    (void)state;
    for (p = 0; p < sizeof(full) / sizeof(full[0]); p++) {
        kv = ev_kv(full[p]);
        for (i = 0, r = 1; i < 5000 && r == 1; i++) {
            r = ev_write(kv, i, 1, 0);
            if (r == 1 && i % 2 == 1)
                rc_memkv_commit(kv);
        }
        assert_int_equal(r, RC_EFULL);
        assert_int_equal(rc_memkv_pending(kv), 0);
        rc_memkv_stats(kv, &st);
        assert_int_equal(st.evicted, 0);
        assert_true(st.keys > 0 && st.keys % 2 == 0); /* the odd one's batch went */
        assert_int_equal(rc_memkv_evict(kv, 10, &i), 0);
        assert_int_equal(i, 0);
        ev_check(kv, 1);
        rc_memkv_free(kv);
    }
    kv = new_kv(0);
    assert_int_equal(rc_memkv_set_evict(kv, 1000, RC_EVICT_NPOLICIES), RC_EINVAL);
    assert_int_equal(rc_memkv_set_evict(kv, 1000, -1), RC_EINVAL);
    rc_memkv_stats(kv, &st);
    assert_true(st.max_bytes == 0 && st.policy == RC_EVICT_NOEVICTION);
    /* S3-FIFO's ghost cannot be allocated: nothing changes. */
    fault_arm(1);
    assert_int_equal(rc_memkv_set_evict(kv, 1 << 20, RC_EVICT_ALLKEYS_S3FIFO), RC_ENOMEM);
    fault_off();
    rc_memkv_stats(kv, &st);
    assert_true(st.max_bytes == 0 && st.policy == RC_EVICT_NOEVICTION);
    assert_int_equal(rc_memkv_set_evict(kv, 1 << 20, RC_EVICT_ALLKEYS_S3FIFO), 0);
    rc_memkv_stats(kv, &st);
    assert_true(st.max_bytes == 1 << 20 && st.policy == RC_EVICT_ALLKEYS_S3FIFO);
    rc_memkv_free(kv);
}

/* The policy changes every few hundred writes, noeviction included,
 * while batches commit and discard: consistent and within budget
 * throughout (under noeviction a full write is RC_EFULL). */
static void test_evict_switch(void **state)
{
    struct rc_memkv_stats st;
    struct rc_memkv *kv = new_kv(0);
    unsigned seed = 99;
    int i, r, policy = RC_EVICT_ALLKEYS_LRU, full = 0;

    (void)state;
    assert_int_equal(rc_memkv_set_evict(kv, EV_BUDGET, policy), 0);
    for (i = 0; i < 30000; i++) {
        if (i % 300 == 0) {
            policy = rand_r(&seed) % RC_EVICT_NPOLICIES;
            assert_int_equal(rc_memkv_set_evict(kv, -1, policy), 0);
        }
        /* Half the keys expire (volatile-* has victims), some never. */
        r = ev_write(kv, rand_r(&seed) % 20000, 1 + (uint64_t)i, i % 2 ? NOW + 100000 + i : 0);
        if (r == RC_EFULL) {
            full++;
            assert_true(policy == RC_EVICT_NOEVICTION || is_volatile(policy));
            continue;
        }
        assert_true(r == 0 || r == 1);
        if (rand_r(&seed) % 20 == 0)
            rc_memkv_discard(kv);
        else if (i % 5 == 0)
            rc_memkv_commit(kv);
        else
            continue;
        ev_check(kv, 0);
        /* Above the budget only by what the expiry table grew while a
         * write was refused (noeviction, volatile-* without victims). */
        rc_memkv_stats(kv, &st);
        assert_true(st.mem_bytes <= EV_BUDGET + EV_BUDGET / 8);
    }
    rc_memkv_commit(kv);
    /* Under an evicting policy, writes bring it back within. */
    assert_int_equal(rc_memkv_set_evict(kv, -1, RC_EVICT_ALLKEYS_LRU), 0);
    for (i = 0; i < 100; i++) {
        assert_int_equal(ev_write(kv, 30000 + i, 1, 0), 1);
        rc_memkv_commit(kv);
    }
    ev_check(kv, 1);
    rc_memkv_stats(kv, &st);
    assert_true(st.evicted > 0);
    print_message("%d full writes under noeviction or volatile-*\n", full);
    rc_memkv_free(kv);
}

/* Allocation N fails during writes that evict and an rc_memkv_evict
 * after a lowered budget, for every N: the call reports it, the batch is
 * gone, the committed state is intact, and the engine still evicts. */
static void test_evict_alloc_failures(void **state)
{
    struct rc_memkv_stats st0, st;
    struct rc_memkv *kv;
    struct census c0, c;
    long nf;
    int i, n, err;

    (void)state;
    for (nf = 1; nf < 100000; nf++) {
        fault_off();
        kv = new_kv(0);
        assert_int_equal(rc_memkv_set_evict(kv, 64 * 1024, RC_EVICT_ALLKEYS_LRU), 0);
        for (i = 0; i < 200; i++) {
            assert_int_equal(ev_write(kv, i, 1, i % 3 ? 0 : NOW + 1000 + i), 1);
            rc_memkv_commit(kv);
        }
        c0 = ev_check(kv, 1);
        rc_memkv_stats(kv, &st0);
        fault_arm(nf);
        err = rc_memkv_set_evict(kv, 64 * 1024 + 1, RC_EVICT_ALLKEYS_S3FIFO);
        for (i = 1000; i < 1600 && err >= 0; i++)
            err = ev_write(kv, i, 1, i % 3 ? 0 : NOW + 1000 + i);
        if (err >= 0)
            err = rc_memkv_set_evict(kv, 32 * 1024, RC_EVICT_ALLKEYS_LRU);
        if (err >= 0)
            err = rc_memkv_evict(kv, 1000, &n);
        fault_off();
        if (err < 0) {
            assert_int_equal(err, RC_ENOMEM);
            assert_int_equal(rc_memkv_pending(kv), 0);
            c = ev_check(kv, 0);
            assert_true(c.digest == c0.digest);
            rc_memkv_stats(kv, &st);
            assert_int_equal(st.keys, st0.keys);
            assert_int_equal(st.bytes, st0.bytes);
        } else {
            rc_memkv_commit(kv);
            ev_check(kv, 1);
        }
        /* Whatever happened, it goes on evicting within its budget. */
        assert_int_equal(rc_memkv_set_evict(kv, 48 * 1024, RC_EVICT_ALLKEYS_LRU), 0);
        do {
            assert_int_equal(rc_memkv_evict(kv, 100, &n), 0);
            rc_memkv_commit(kv);
        } while (n > 0);
        for (i = 2000; i < 2500; i++) {
            assert_int_equal(ev_write(kv, i, 1, 0), 1);
            rc_memkv_commit(kv);
        }
        ev_check(kv, 1);
        rc_memkv_free(kv);
        if (!fault_fired)
            break;
    }
    print_message("%ld allocation failures injected\n", nf - 1);
    assert_true(nf > 10 && nf < 100000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_scan_cursor_growth),
        cmocka_unit_test(test_order_and_edges),
        cmocka_unit_test(test_purge_sweep),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_expiry_storage),
        cmocka_unit_test(test_attr_storage),
        cmocka_unit_test(test_load_replaces),
        cmocka_unit_test(test_evict_budget),
        cmocka_unit_test(test_evict_keeps_tombstones),
        cmocka_unit_test(test_ghost),
        cmocka_unit_test(test_evict_discard),
        cmocka_unit_test(test_evict_not_replaced),
        cmocka_unit_test(test_evict_lowered),
        cmocka_unit_test(test_evict_converges),
        cmocka_unit_test(test_evict_table_growth),
        cmocka_unit_test(test_evict_reads),
        cmocka_unit_test(test_evict_full),
        cmocka_unit_test(test_evict_switch),
        cmocka_unit_test(test_evict_alloc_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
