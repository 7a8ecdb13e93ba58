/*
 * test_store_contract.c - the contract of store.h, checked on every
 * engine (store_engine.h): point reads and writes, versions, expiry,
 * purge, counters, metadata, batches and the size cap.
 *
 * main() runs the list once per entry of fx_engines[] (store_fixture.c),
 * as a cmocka group named after the engine: ":memory:" (common/memkv.c)
 * and a temporary SQLite directory. The token-range half of the contract
 * is test_store_ranges.c; what only the SQLite engine has (files, WAL,
 * schema, migration, faults of SQLite's allocator) is test_store_sqlite.c;
 * the memory engine's allocation failures are injected in test_memkv.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "err.h"
#include "ring.h"
#include "store.h"
#include "store_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- basics ------------------------------------------------------------- */

static void test_version_cmp(void **state)
{
    struct rc_version a = ver(5, 1), b = ver(5, 2), c = ver(6, 0), d = ver(UINT64_MAX, 0);

    assert_true(rc_version_cmp(&a, &a) == 0);
    assert_true(rc_version_cmp(&a, &b) < 0);
    assert_true(rc_version_cmp(&b, &a) > 0);
    assert_true(rc_version_cmp(&b, &c) < 0);
    assert_true(rc_version_cmp(&c, &d) < 0); /* unsigned, not signed */
}

static void test_put_get_del(void **state)
{
    struct fx *f = *state;
    struct rc_entry e;
    int existed = -1;

    expect_absent(f->s, "k", NOW0);
    assert_int_equal(put(f->s, "k", "hello", 10, 1, 0, NOW0, &existed), 1);
    assert_int_equal(existed, 0);
    expect(f->s, "k", "hello", 10, 1, NOW0);
    assert_int_equal(rc_store_get(f->s, (const uint8_t *)"k", 1, NOW0, &e), 0);
    assert_int_equal(e.expires_ms, 0);
    assert_int_equal(rc_store_commit(f->s), 0);

    assert_int_equal(del(f->s, "k", 11, 1, NOW0, &existed), 1);
    assert_int_equal(existed, 1);
    assert_int_equal(rc_store_get(f->s, (const uint8_t *)"k", 1, NOW0, &e), 0);
    assert_int_equal(e.tombstone, 1);
    assert_null(e.value);
    assert_int_equal(e.expires_ms, NOW0 + GRACE_MS);
    assert_int_equal(rc_store_commit(f->s), 0);
    expect_stats(f->s, 0, 1, 0);

    /* A NULL existed pointer is allowed. */
    assert_int_equal(put(f->s, "k", "again", 12, 1, 0, NOW0, NULL), 1);
    expect(f->s, "k", "again", 12, 1, NOW0);
}

static void test_overwrite(void **state)
{
    struct fx *f = *state;
    int existed;

    assert_int_equal(put(f->s, "k", "short", 1, 1, 0, NOW0, &existed), 1);
    assert_int_equal(put(f->s, "k", "a much longer value", 2, 1, 0, NOW0, &existed), 1);
    assert_int_equal(existed, 1);
    expect(f->s, "k", "a much longer value", 2, 1, NOW0);
    expect_stats(f->s, 1, 0, 1 + 19);
    assert_int_equal(put(f->s, "k", "x", 3, 1, NOW0 + 50, NOW0, &existed), 1);
    expect(f->s, "k", "x", 3, 1, NOW0);
    expect_stats(f->s, 1, 0, 2);
    assert_int_equal(rc_store_commit(f->s), 0);
    expect_stats(f->s, 1, 0, 2);
}

/* A write whose current row the caller supplies (the node's exact cache)
 * gives what a looked-up one gives: applied or ignored by version, existed,
 * counters. */
static int put_known(struct rc_store *s, const char *key, const char *val, uint64_t hlc,
                     uint64_t node, uint64_t old_hlc, uint64_t old_node, size_t old_len,
                     int *existed)
{
    struct rc_version v = ver(hlc, node);
    struct rc_store_live live = {ver(old_hlc, old_node), old_len};

    return rc_store_write_known(s, (const uint8_t *)key, strlen(key), (const uint8_t *)val,
                                val ? strlen(val) : 0, &v, 0, NOW0, &live, existed);
}

static void test_write_known(void **state)
{
    struct fx *f = *state;
    struct rc_version v = ver(9, 1);
    int existed = -1;

    assert_int_equal(put(f->s, "k", "first", 5, 1, 0, NOW0, NULL), 1);
    assert_int_equal(put(f->s, "j", "other", 5, 1, 0, NOW0, NULL), 1);
    expect_stats(f->s, 2, 0, 2 * (1 + 5));
    /* Newer: applied, the old row replaced and counted out. */
    assert_int_equal(put_known(f->s, "k", "second!", 6, 1, 5, 1, 5, &existed), 1);
    assert_int_equal(existed, 1);
    expect(f->s, "k", "second!", 6, 1, NOW0);
    expect_stats(f->s, 2, 0, (1 + 7) + (1 + 5));
    /* Equal or older: ignored, nothing changes. */
    assert_int_equal(put_known(f->s, "k", "stale", 6, 1, 6, 1, 7, &existed), 0);
    assert_int_equal(existed, 0);
    assert_int_equal(put_known(f->s, "k", "stale", 5, 9, 6, 1, 7, NULL), 0);
    expect(f->s, "k", "second!", 6, 1, NOW0);
    /* A tombstone over a known live row. */
    assert_int_equal(put_known(f->s, "k", NULL, 7, 1, 6, 1, 7, &existed), 1);
    assert_int_equal(existed, 1);
    assert_int_equal(rc_store_commit(f->s), 0);
    expect(f->s, "k", NULL, 7, 1, NOW0);
    expect_stats(f->s, 1, 1, 1 + 5);
    assert_int_equal(rc_store_write_known(f->s, (const uint8_t *)"j", 1, (const uint8_t *)"x", 1,
                                          &v, 0, NOW0, NULL, NULL),
                     RC_EINVAL);
}

static void test_lww(void **state)
{
    struct fx *f = *state;
    int existed;

    assert_int_equal(put(f->s, "k", "a", 10, 1, 0, NOW0, NULL), 1);
    assert_int_equal(put(f->s, "k", "older", 9, 9, 0, NOW0, &existed), 0);
    assert_int_equal(existed, 0);
    assert_int_equal(put(f->s, "k", "equal", 10, 1, 0, NOW0, NULL), 0);
    /* The node id breaks the tie. */
    assert_int_equal(put(f->s, "k", "tie", 10, 2, 0, NOW0, &existed), 1);
    assert_int_equal(existed, 1);
    assert_int_equal(put(f->s, "k", "tie-lower", 10, 1, 0, NOW0, NULL), 0);
    expect(f->s, "k", "tie", 10, 2, NOW0);

    /* A late, older write after a delete must not resurrect the key. */
    assert_int_equal(del(f->s, "k", 20, 1, NOW0, NULL), 1);
    assert_int_equal(rc_store_commit(f->s), 0);
    assert_int_equal(put(f->s, "k", "late", 15, 5, 0, NOW0 + 10, &existed), 0);
    assert_int_equal(del(f->s, "k", 19, 1, NOW0 + 10, NULL), 0);
    expect(f->s, "k", NULL, 20, 1, NOW0 + 10);

    /* A delete that arrives before the write it follows. */
    assert_int_equal(del(f->s, "k2", 5, 1, NOW0, &existed), 1);
    assert_int_equal(existed, 0);
    assert_int_equal(put(f->s, "k2", "v", 4, 1, 0, NOW0, NULL), 0);
    expect(f->s, "k2", NULL, 5, 1, NOW0);

    /* Versions above INT64_MAX order as unsigned. */
    assert_int_equal(put(f->s, "k3", "hi", UINT64_MAX - 1, 0, 0, NOW0, NULL), 1);
    assert_int_equal(put(f->s, "k3", "lo", 1, 0, 0, NOW0, NULL), 0);
    assert_int_equal(put(f->s, "k3", "max", UINT64_MAX - 1, UINT64_MAX, 0, NOW0, NULL), 1);
    assert_int_equal(rc_store_commit(f->s), 0);
    expect(f->s, "k3", "max", UINT64_MAX - 1, UINT64_MAX, NOW0);
}

static void test_ttl(void **state)
{
    struct fx *f = *state;
    int existed;

    assert_int_equal(put(f->s, "k", "v", 10, 1, NOW0 + 1000, NOW0, NULL), 1);
    expect(f->s, "k", "v", 10, 1, NOW0 + 999);
    expect_absent(f->s, "k", NOW0 + 1000);
    expect_absent(f->s, "k", NOW0 + 5000);
    expect_stats(f->s, 1, 0, 2); /* expired values count until purged */

    /* An expired value counts as absent: even an older version replaces it. */
    assert_int_equal(put(f->s, "k", "new", 5, 1, 0, NOW0 + 2000, &existed), 1);
    assert_int_equal(existed, 0);
    expect(f->s, "k", "new", 5, 1, NOW0 + 2000);

    /* Deleting an expired value: it did not exist. */
    assert_int_equal(put(f->s, "k2", "v", 10, 1, NOW0 + 10, NOW0, NULL), 1);
    assert_int_equal(del(f->s, "k2", 11, 1, NOW0 + 20, &existed), 1);
    assert_int_equal(existed, 0);
    expect_stats(f->s, 1, 1, 4);
}

/* ---- purge -------------------------------------------------------------- */

static void test_purge(void **state)
{
    struct fx *f = *state;
    int n;

    assert_int_equal(put(f->s, "a", "1", 1, 1, NOW0 + 100, NOW0, NULL), 1);
    assert_int_equal(put(f->s, "b", "22", 1, 1, NOW0 + 200, NOW0, NULL), 1);
    assert_int_equal(put(f->s, "c", "333", 1, 1, 0, NOW0, NULL), 1);
    assert_int_equal(put(f->s, "d", "4444", 1, 1, NOW0 + 5000, NOW0, NULL), 1);
    assert_int_equal(put(f->s, "t", "x", 1, 1, 0, NOW0, NULL), 1);
    assert_int_equal(del(f->s, "t", 2, 1, NOW0 + 50, NULL), 1); /* purge at NOW0 + 1050 */
    assert_int_equal(rc_store_commit(f->s), 0);
    expect_stats(f->s, 4, 1, 2 + 3 + 4 + 5);

    assert_int_equal(rc_store_purge(f->s, NOW0 + 99, 100, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(rc_store_purge(f->s, NOW0 + 150, 100, &n), 0);
    assert_int_equal(n, 1);
    expect_stats(f->s, 3, 1, 3 + 4 + 5);
    assert_int_equal(rc_store_purge(f->s, NOW0 + 1049, 100, &n), 0);
    assert_int_equal(n, 1); /* b; the tombstone is still in its grace */
    expect(f->s, "t", NULL, 2, 1, NOW0 + 1049);
    assert_int_equal(rc_store_commit(f->s), 0);
    assert_int_equal(rc_store_purge(f->s, NOW0 + 1050, 100, &n), 0);
    assert_int_equal(n, 1);
    expect_absent(f->s, "t", NOW0 + 1050);
    expect_stats(f->s, 2, 0, 4 + 5);
    assert_int_equal(rc_store_purge(f->s, INT64_MAX, 100, &n), 0);
    assert_int_equal(n, 1); /* d; c never expires */
    assert_int_equal(rc_store_commit(f->s), 0);
    expect(f->s, "c", "333", 1, 1, INT64_MAX);
    expect_stats(f->s, 1, 0, 4);
}

static void test_purge_bounded(void **state)
{
    struct fx *f = *state;
    char key[16];
    int i, n;

    for (i = 0; i < 25; i++) {
        snprintf(key, sizeof(key), "e%02d", i);
        assert_int_equal(put(f->s, key, "v", 1, 1, NOW0 + i, NOW0 - 1, NULL), 1);
    }
    assert_int_equal(rc_store_commit(f->s), 0);
    assert_int_equal(rc_store_purge(f->s, NOW0 + 100, 0, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(rc_store_pending(f->s), 0);
    assert_int_equal(rc_store_purge(f->s, NOW0 + 100, 10, &n), 0);
    assert_int_equal(n, 10);
    assert_int_equal(rc_store_purge(f->s, NOW0 + 100, 10, &n), 0);
    assert_int_equal(n, 10);
    expect_stats(f->s, 5, 0, 5 * 4);
    assert_int_equal(rc_store_purge(f->s, NOW0 + 100, 10, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(rc_store_purge(f->s, NOW0 + 100, 10, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(rc_store_commit(f->s), 0);
    expect_stats(f->s, 0, 0, 0);
}

/* ---- counters against a model ------------------------------------------ */

#define MODEL_KEYS 40

struct model_row {
    int state; /* 0 absent, 1 value, 2 tombstone */
    struct rc_version ver;
    size_t vlen;
    int64_t exp;
};

/* Applies a write to the model the way the store's contract says to. */
static int model_write(struct model_row *r, struct rc_version v, int tomb, size_t vlen,
                       int64_t exp, int64_t now, int *existed)
{
    int expired = r->state == 1 && r->exp > 0 && r->exp <= now;

    *existed = 0;
    if (r->state != 0 && !expired && rc_version_cmp(&v, &r->ver) <= 0)
        return 0;
    *existed = r->state == 1 && !expired;
    r->state = tomb ? 2 : 1;
    r->ver = v;
    r->vlen = vlen;
    r->exp = tomb ? now + GRACE_MS : exp;
    return 1;
}

/* Values of the model live at now: not expired (at now, not yet purged). */
static int64_t model_live(const struct model_row *m, int64_t now)
{
    int64_t live = 0;
    int i;

    for (i = 0; i < MODEL_KEYS; i++)
        live += m[i].state == 1 && (m[i].exp == 0 || m[i].exp > now);
    return live;
}

/* The counters, and the live count at now and a little before and after
 * it (rc_store_live_keys may be asked about any time, the clock may go
 * back). */
static void model_stats(const struct model_row *m, struct rc_store *s, int64_t now)
{
    static const int64_t shifts[] = {0, -150, 0, 120, 499, 0};
    int64_t keys = 0, tombs = 0, bytes = 0;
    size_t j;
    int i;

    for (i = 0; i < MODEL_KEYS; i++) {
        keys += m[i].state == 1;
        tombs += m[i].state == 2;
        bytes += m[i].state == 1 ? (int64_t)(4 + m[i].vlen) : 0;
    }
    expect_stats(s, keys, tombs, bytes);
    for (j = 0; j < sizeof(shifts) / sizeof(shifts[0]); j++)
        assert_int_equal(rc_store_live_keys(s, now + shifts[j]), model_live(m, now + shifts[j]));
}

static void test_counters_model(void **state)
{
    static const uint8_t zeros[64];
    struct fx *f = *state;
    struct model_row m[MODEL_KEYS];
    uint64_t rnd = 42;
    int64_t now = NOW0;
    char key[8];
    int i, step, want, got, ex_want, ex_got, n;

    memset(m, 0, sizeof(m));
    for (step = 0; step < 3000; step++) {
        unsigned op = lcg(&rnd) % 100;
        i = (int)(lcg(&rnd) % MODEL_KEYS);
        snprintf(key, sizeof(key), "m%03d", i);
        struct rc_version v = ver(lcg(&rnd) % 200, lcg(&rnd) % 3);
        if (op < 60) {
            size_t vlen = lcg(&rnd) % 64;
            int64_t exp = lcg(&rnd) % 3 == 0 ? now + (int64_t)(lcg(&rnd) % 500) : 0;
            want = model_write(&m[i], v, 0, vlen, exp, now, &ex_want);
            got = rc_store_write(f->s, (const uint8_t *)key, 4, zeros, vlen, &v, exp, now, &ex_got);
        } else if (op < 85) {
            want = model_write(&m[i], v, 1, 0, 0, now, &ex_want);
            got = rc_store_write(f->s, (const uint8_t *)key, 4, NULL, 0, &v, 0, now, &ex_got);
        } else if (op < 90) {
            for (i = 0; i < MODEL_KEYS; i++)
                if (m[i].state != 0 && m[i].exp > 0 && m[i].exp <= now)
                    m[i].state = 0;
            assert_int_equal(rc_store_purge(f->s, now, 1000, &n), 0);
            continue;
        } else if (op < 97) {
            assert_int_equal(rc_store_commit(f->s), 0);
            continue;
        } else {
            now += 200;
            continue;
        }
        assert_int_equal(got, want);
        assert_int_equal(ex_got, ex_want);
        model_stats(m, f->s, now);
    }
    assert_int_equal(rc_store_commit(f->s), 0);
    model_stats(m, f->s, now);
    if (f->engine->durable) { /* counters recomputed at open agree */
        fx_reopen(f);
        model_stats(m, f->s, now);
    }
}

/* ---- metadata ---------------------------------------------------------- */

static void test_meta(void **state)
{
    struct fx *f = *state;
    uint64_t v = 99;

    assert_int_equal(rc_store_meta_get(f->s, "nope", &v), RC_ENOTFOUND);
    assert_int_equal(rc_store_meta_set(f->s, "x", 1), 0);
    assert_int_equal(rc_store_meta_get(f->s, "x", &v), 0); /* reads see the batch */
    assert_true(v == 1);
    assert_int_equal(rc_store_meta_set(f->s, "x", 0), 0);
    assert_int_equal(rc_store_commit(f->s), 0);
    assert_int_equal(rc_store_meta_get(f->s, "x", &v), 0);
    assert_true(v == 0);
}

static void test_pending(void **state)
{
    struct fx *f = *state;

    assert_int_equal(rc_store_pending(f->s), 0);
    assert_int_equal(rc_store_commit(f->s), 0); /* nothing to commit */
    assert_int_equal(put(f->s, "k", "v", 5, 1, 0, NOW0, NULL), 1);
    assert_int_equal(rc_store_pending(f->s), 1);
    assert_int_equal(put(f->s, "k", "v", 4, 1, 0, NOW0, NULL), 0); /* joins the open batch */
    assert_int_equal(rc_store_pending(f->s), 2);
    assert_int_equal(rc_store_commit(f->s), 0);
    assert_int_equal(rc_store_pending(f->s), 0);
    assert_int_equal(put(f->s, "k", "v", 4, 1, 0, NOW0, NULL), 0); /* opens no batch */
    assert_int_equal(rc_store_pending(f->s), 0);
}

/* ---- keys and values ---------------------------------------------------- */

static void test_binary_keys(void **state)
{
    static const struct {
        const char *k;
        size_t len;
    } keys[] = {{"a\0b", 3}, {"a\0c", 3}, {"a", 1}, {"", 0}, {"\0", 1}, {"\0\0", 2}};
    struct fx *f = *state;
    struct rc_version v = ver(1, 1);
    struct rc_entry e;
    uint8_t val;
    size_t i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        val = (uint8_t)i;
        assert_int_equal(rc_store_write(f->s, (const uint8_t *)keys[i].k, keys[i].len, &val, 1, &v,
                                        0, NOW0, NULL),
                         1);
    }
    assert_int_equal(rc_store_commit(f->s), 0);
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        assert_int_equal(
            rc_store_get(f->s, (const uint8_t *)keys[i].k, keys[i].len, NOW0, &e), 0);
        assert_int_equal(e.key_len, keys[i].len);
        assert_non_null(e.key);
        assert_memory_equal(e.key, keys[i].k, keys[i].len);
        assert_true(e.token == rc_ring_token(keys[i].k, keys[i].len));
        assert_int_equal(e.value_len, 1);
        assert_int_equal(e.value[0], i);
    }
    expect_stats(f->s, 6, 0, 3 + 3 + 1 + 0 + 1 + 2 + 6);
}

static void test_empty_value(void **state)
{
    struct fx *f = *state;
    struct rc_version v = ver(1, 1);
    struct rc_entry e;
    uint8_t buf[1] = {0};

    assert_int_equal(rc_store_write(f->s, (const uint8_t *)"k", 1, buf, 0, &v, 0, NOW0, NULL), 1);
    assert_int_equal(rc_store_commit(f->s), 0);
    assert_int_equal(rc_store_get(f->s, (const uint8_t *)"k", 1, NOW0, &e), 0);
    assert_int_equal(e.tombstone, 0);
    assert_non_null(e.value);
    assert_int_equal(e.value_len, 0);
    expect_stats(f->s, 1, 0, 1);

    v.hlc = 2;
    assert_int_equal(rc_store_write(f->s, (const uint8_t *)"k", 1, NULL, 0, &v, 0, NOW0, NULL), 1);
    assert_int_equal(rc_store_get(f->s, (const uint8_t *)"k", 1, NOW0, &e), 0);
    assert_int_equal(e.tombstone, 1);
    assert_null(e.value);
    expect_stats(f->s, 0, 1, 0);
}

static void test_bad_args(void **state)
{
    struct fx *f = *state;
    struct rc_version v = ver(1, 1);
    struct rc_entry e;

    assert_int_equal(rc_store_write(f->s, NULL, 3, NULL, 0, &v, 0, NOW0, NULL), RC_EINVAL);
    assert_int_equal(rc_store_write(f->s, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1, &v, -5,
                                    NOW0, NULL),
                     RC_EINVAL);
    assert_int_equal(rc_store_get(f->s, NULL, 3, NOW0, &e), RC_EINVAL);
    assert_int_equal(rc_store_pending(f->s), 0);
}


/* ---- limits and failures ------------------------------------------------ */

static void test_max_bytes(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats before, after;
    struct rc_version v = ver(10, 1);
    uint8_t big[400];
    char key[16];
    int i, err = 0;

    f->opts.max_bytes = 64 * 1024;
    fx_reopen(f);
    for (i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "small-%d", i);
        assert_int_equal(put(f->s, key, "v", 1, 1, 0, NOW0, NULL), 1);
    }
    assert_int_equal(rc_store_commit(f->s), 0);
    rc_store_stats(f->s, &before);

    /* One batch: overwrites, deletes, then large values until it is full. */
    assert_int_equal(put(f->s, "small-0", "changed", 2, 1, 0, NOW0, NULL), 1);
    assert_int_equal(del(f->s, "small-1", 2, 1, NOW0, NULL), 1);
    memset(big, 'x', sizeof(big));
    for (i = 0; i < 1000 && err >= 0; i++) {
        snprintf(key, sizeof(key), "big-%d", i);
        err = rc_store_write(f->s, (const uint8_t *)key, strlen(key), big, sizeof(big), &v, 0, NOW0,
                             NULL);
    }
    assert_int_equal(err, RC_EFULL);
    assert_true(i > 10);
    assert_int_equal(rc_store_pending(f->s), 0);
    assert_int_equal(rc_store_commit(f->s), 0);

    /* The batch is gone; what was committed before is intact. */
    rc_store_stats(f->s, &after);
    assert_int_equal(after.keys, before.keys);
    assert_int_equal(after.tombstones, before.tombstones);
    assert_int_equal(after.bytes, before.bytes);
    assert_true(after.db_bytes <= 64 * 1024);
    expect(f->s, "small-0", "v", 1, 1, NOW0);
    expect(f->s, "small-1", "v", 1, 1, NOW0);
    expect_absent(f->s, "big-0", NOW0);

    /* Writing still works, and a commit that fits succeeds. */
    assert_int_equal(put(f->s, "small-0", "changed", 2, 1, 0, NOW0, NULL), 1);
    assert_int_equal(rc_store_commit(f->s), 0);
    expect(f->s, "small-0", "changed", 2, 1, NOW0);
    expect_stats(f->s, 20, 0, before.bytes + 6);
}

/* The cases run on every engine. */
/* The cases run on every engine. */
#define CASE(fn) cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, fx_teardown, (void *)eng)

int main(void)
{
    const struct CMUnitTest once[] = {
        cmocka_unit_test(test_version_cmp),
    };
    int failed = cmocka_run_group_tests_name("version", once, NULL, NULL);
    size_t i;

    for (i = 0; i < fx_nengines; i++) {
        const struct fx_engine *eng = &fx_engines[i];
        const struct CMUnitTest tests[] = {
            CASE(test_put_get_del),
            CASE(test_overwrite),
            CASE(test_lww),
            CASE(test_write_known),
            CASE(test_ttl),
            CASE(test_purge),
            CASE(test_purge_bounded),
            CASE(test_counters_model),
            CASE(test_meta),
            CASE(test_pending),
            CASE(test_binary_keys),
            CASE(test_empty_value),
            CASE(test_bad_args),
            CASE(test_max_bytes),
        };
        failed += cmocka_run_group_tests_name(eng->name, tests, NULL, NULL);
    }
    return failed;
}
