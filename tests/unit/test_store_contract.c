/*
 * test_store_contract.c - the contract of store.h, checked on every
 * engine (store_engine.h): point reads and writes, versions, expiry,
 * purge, counters, metadata, batches, the size cap and eviction.
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
#include "evict.h"
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

/* Reads key's attributes (the key must hold an entry). */
static struct rc_attr attr_of(struct rc_store *s, const char *key)
{
    struct rc_entry e;

    assert_int_equal(rc_store_get(s, (const uint8_t *)key, strlen(key), NOW0, &e), 0);
    return e.attr;
}

static int put_attr(struct rc_store *s, const char *key, const char *val, uint32_t flags,
                    uint32_t kind, uint64_t hlc)
{
    struct rc_version v = ver(hlc, 1);
    struct rc_attr a = {flags, kind};

    return rc_store_write_attr(s, (const uint8_t *)key, strlen(key), (const uint8_t *)val,
                               val ? strlen(val) : 0, &a, &v, 0, NOW0, NULL, NULL);
}

/* Counts scanned entries, checking the counter's attributes. */
static int scan_attr_cb(void *arg, const struct rc_entry *e)
{
    int *n = arg;

    if (e->key_len == 7 && memcmp(e->key, "counter", 7) == 0)
        assert_int_equal(e->attr.kind, RC_KIND_COUNTER);
    (*n)++;
    return 0;
}

/* Attributes: kept with a value, in reads, scans and across a reopen;
 * none on a plain write or a tombstone; replaced by the next write. */
static void test_attr_round_trip(void **state)
{
    struct fx *f = *state;
    struct rc_attr a;
    int n = 0;

    assert_int_equal(put_attr(f->s, "flagged", "v", 0xdeadbeefu, RC_KIND_BYTES, 5), 1);
    assert_int_equal(put_attr(f->s, "counter", "\x01state", 7, RC_KIND_COUNTER, 5), 1);
    assert_int_equal(put(f->s, "plain", "p", 5, 1, 0, NOW0, NULL), 1);
    assert_int_equal(put_attr(f->s, "gone", NULL, 9, RC_KIND_COUNTER, 5), 1);
    a = attr_of(f->s, "flagged");
    assert_int_equal(a.flags, 0xdeadbeefu);
    assert_int_equal(a.kind, RC_KIND_BYTES);
    a = attr_of(f->s, "counter");
    assert_int_equal(a.flags, 7);
    assert_int_equal(a.kind, RC_KIND_COUNTER);
    a = attr_of(f->s, "plain");
    assert_int_equal(a.flags, 0);
    assert_int_equal(a.kind, 0);
    a = attr_of(f->s, "gone"); /* a tombstone keeps none */
    assert_int_equal(a.flags, 0);
    assert_int_equal(a.kind, 0);
    assert_int_equal(put_attr(f->s, "bad", "v", 0, RC_KIND_MAX + 1, 5), RC_EINVAL);
    assert_int_equal(rc_store_commit(f->s), 0);
    if (f->engine->durable) {
        fx_reopen(f);
        a = attr_of(f->s, "flagged");
        assert_int_equal(a.flags, 0xdeadbeefu);
        a = attr_of(f->s, "counter");
        assert_int_equal(a.kind, RC_KIND_COUNTER);
    }
    /* A scan hands them out too. */
    assert_int_equal(rc_store_scan(f->s, 0, UINT64_MAX, 0, NULL, 0, 100, NOW0, scan_attr_cb, &n),
                     4);
    assert_int_equal(n, 4);
    /* The next write replaces them, a plain one with none. */
    assert_int_equal(put(f->s, "flagged", "w", 6, 1, 0, NOW0, NULL), 1);
    a = attr_of(f->s, "flagged");
    assert_int_equal(a.flags, 0);
    assert_int_equal(put_attr(f->s, "flagged", "x", 1, RC_KIND_BYTES, 7), 1);
    assert_int_equal(attr_of(f->s, "flagged").flags, 1);
    assert_int_equal(rc_store_commit(f->s), 0);
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
    /* The cap bounds the file, except under write-behind: there it bounds
     * memory, and the file (a copy of memory, in 64 KiB pages) has none. */
    if (!f->engine->write_behind)
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

/* ---- eviction ------------------------------------------------------------ */

/*
 * The budget each engine is tested with: what max_mem_bytes bounds in
 * memory (entries, index, metadata, the policy's and the ghost's tables)
 * and what max_bytes bounds on disk (the file: 64 pages of 4 KiB).
 */
#define MEM_BUDGET (INT64_C(1) << 20)
#define DISK_BUDGET (INT64_C(256) << 10)
/* Fill values: 100 bytes, the small values of a cache. */
#define FILL_VLEN 100

/* The budget bounds memory: ":memory:", and write-behind (memory
 * serves, the file is its copy). */
static int is_memory(const struct fx *f)
{
    return strcmp(f->engine->name, "memory") == 0 || f->engine->write_behind;
}

static int64_t budget_of(const struct fx *f)
{
    return is_memory(f) ? MEM_BUDGET : DISK_BUDGET;
}

/* Reopens with the engine's budget knob set to bytes (the other one 0). */
static void reopen_budget(struct fx *f, int64_t bytes, int policy)
{
    f->opts.max_mem_bytes = is_memory(f) ? bytes : 0;
    f->opts.max_bytes = is_memory(f) ? 0 : bytes;
    f->opts.evict_policy = policy;
    fx_reopen(f);
}

/* What the budget bounds: the memory held, or the database file. */
static int64_t used_of(const struct fx *f)
{
    struct rc_store_stats st;

    rc_store_stats(f->s, &st);
    return is_memory(f) ? st.mem_bytes : st.db_bytes;
}

/* Writes of 10x the budget's bytes. */
static int fill_rows(const struct fx *f)
{
    return (int)(10 * budget_of(f) / (FILL_VLEN + 8));
}

/* A store with a budget and a policy that evicts takes 10x its budget,
 * stays within it, and its counters say what went. */
static void test_evict_budget(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats st;
    int n = fill_rows(f);

    reopen_budget(f, budget_of(f), RC_EVICT_DEFAULT);
    fill(f->s, "e", n, FILL_VLEN, 10, 0);
    rc_store_stats(f->s, &st);
    assert_true(used_of(f) <= budget_of(f));
    assert_true(st.evicted > 0);
    assert_true(st.keys > 0 && st.keys < n);
    assert_int_equal(st.keys + st.evicted, n); /* nothing overwritten */
    assert_true(st.evicted_bytes >= st.evicted * (FILL_VLEN + 3));
    assert_int_equal(st.evict_policy, RC_EVICT_DEFAULT);
    assert_int_equal(st.max_mem_bytes, budget_of(f));
    check_counts(f->s);
    /* What is held reads back as written. */
    expect_stats(f->s, st.keys, 0, st.bytes);
}

/* Every policy that evicts keeps the budget; volatile-* evict only values
 * with an expiry time, so values without one all stay. */
static void test_evict_policies(void **state)
{
    struct fx *f = *state;
    int64_t far = NOW0 + 3600 * 1000;
    int n = fill_rows(f) / 2, policy, i;
    struct rc_store_stats st;
    char key[32];

    for (policy = 1; policy < RC_EVICT_NPOLICIES; policy++) {
        int is_volatile = policy == RC_EVICT_VOLATILE_LRU || policy == RC_EVICT_VOLATILE_LFU ||
                          policy == RC_EVICT_VOLATILE_TTL || policy == RC_EVICT_VOLATILE_RANDOM;

        rc_store_close(f->s);
        f->s = NULL;
        rm_rf(f->dir);
        reopen_budget(f, budget_of(f), policy);
        if (is_volatile)
            fill(f->s, "keep", 50, FILL_VLEN, 10, 0);
        fill(f->s, "e", n, FILL_VLEN, 10, far);
        rc_store_stats(f->s, &st);
        assert_true(used_of(f) <= budget_of(f));
        assert_true(st.evicted > 0);
        for (i = 0; is_volatile && i < 50; i++) {
            fill_key(key, sizeof(key), "keep", i);
            assert_int_equal(rc_store_get(f->s, (const uint8_t *)key, strlen(key), NOW0,
                                          &(struct rc_entry){0}),
                             0);
        }
    }
}

/* Overwrites at the cap: the entry being replaced is never the victim
 * (its replacement would be counted twice), and each write says it
 * replaced a live value. */
static void test_evict_overwrite(void **state)
{
    struct fx *f = *state;
    static const uint8_t big[3 * FILL_VLEN];
    struct rc_store_stats before, after;
    int n = fill_rows(f), i, done = 0, existed;
    struct rc_version v;
    struct rc_entry e;
    char key[32];

    reopen_budget(f, budget_of(f), RC_EVICT_ALLKEYS_RANDOM);
    fill(f->s, "e", n, FILL_VLEN, 10, 0);
    rc_store_stats(f->s, &before);
    for (i = 0; i < n && done < 500; i++) {
        fill_key(key, sizeof(key), "e", i);
        if (rc_store_get(f->s, (const uint8_t *)key, strlen(key), NOW0, &e) != 0)
            continue;
        v = ver(e.ver.hlc + 1, 1);
        existed = -1;
        assert_int_equal(rc_store_write(f->s, (const uint8_t *)key, strlen(key), big, sizeof(big),
                                        &v, 0, NOW0, &existed),
                         1);
        assert_int_equal(existed, 1);
        assert_int_equal(rc_store_get(f->s, (const uint8_t *)key, strlen(key), NOW0, &e), 0);
        assert_int_equal(e.value_len, sizeof(big));
        if (++done % FILL_BATCH == 0)
            assert_int_equal(rc_store_commit(f->s), 0);
    }
    assert_int_equal(rc_store_commit(f->s), 0);
    assert_int_equal(done, 500);
    rc_store_stats(f->s, &after);
    assert_true(after.evicted > before.evicted);
    assert_int_equal(after.keys + (after.evicted - before.evicted), before.keys);
    assert_true(used_of(f) <= budget_of(f));
    check_counts(f->s);
}

/* Tombstones are never evicted: an eviction must not undo a delete. */
static void test_evict_keeps_tombstones(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats st;
    char key[32];
    int i;

    reopen_budget(f, budget_of(f), RC_EVICT_ALLKEYS_RANDOM);
    for (i = 0; i < 100; i++) {
        fill_key(key, sizeof(key), "gone", i);
        assert_int_equal(del(f->s, key, 20, 1, NOW0, NULL), 1);
    }
    assert_int_equal(rc_store_commit(f->s), 0);
    fill(f->s, "e", fill_rows(f), FILL_VLEN, 10, 0);
    rc_store_stats(f->s, &st);
    assert_true(st.evicted > 0);
    assert_int_equal(st.tombstones, 100);
    for (i = 0; i < 100; i++) {
        fill_key(key, sizeof(key), "gone", i);
        expect(f->s, key, NULL, 20, 1, NOW0);
    }
}

static int holds(struct fx *f, const char *prefix, int i)
{
    struct rc_entry e;
    char key[32];

    fill_key(key, sizeof(key), prefix, i);
    return rc_store_get(f->s, (const uint8_t *)key, strlen(key), NOW0, &e) == 0;
}

/* Versions above every other of these tests: the ghost's buckets keep
 * their newest versions, as a clock makes the latest writes. */
#define GHOST_HLC (UINT64_C(1) << 40)
#define GHOST_KEYS 256

/* Writes GHOST_KEYS keys "g-i" at versions (GHOST_HLC + i, 1), then more
 * keys until one of them is evicted: its index, or -1. */
static int evict_one(struct fx *f)
{
    char prefix[16];
    int round, i;

    fill(f->s, "g", GHOST_KEYS, FILL_VLEN, GHOST_HLC, 0);
    for (round = 0; round < 1000; round++) {
        for (i = 0; i < GHOST_KEYS; i++)
            if (!holds(f, "g", i))
                return i;
        snprintf(prefix, sizeof(prefix), "p%d", round);
        fill(f->s, prefix, FILL_BATCH, FILL_VLEN, 10, 0);
    }
    return -1;
}

/* A replica's write of an evicted version (read repair, a hint, a stream)
 * is ignored; a newer one, and a delete, are not. */
static void test_evict_ghost(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats before, after;
    int n = fill_rows(f), i;
    uint64_t hlc;
    char key[32];

    reopen_budget(f, budget_of(f), RC_EVICT_ALLKEYS_RANDOM);
    fill(f->s, "e", n, FILL_VLEN, 10, 0);
    i = evict_one(f);
    assert_true(i >= 0);
    fill_key(key, sizeof(key), "g", i);
    hlc = GHOST_HLC + (uint64_t)i;
    /* The store tells the version it evicted (REPL_READ's EVICTED), and
     * nothing of a key it never evicted. */
    {
        struct rc_version ev = {0, 0};

        assert_int_equal(rc_store_evicted(f->s, (const uint8_t *)key, strlen(key), &ev), 1);
        assert_int_equal(ev.hlc, hlc);
        assert_int_equal(ev.node, 1);
        assert_int_equal(rc_store_evicted(f->s, (const uint8_t *)"never", 5, &ev), 0);
    }
    rc_store_stats(f->s, &before);
    /* The version evicted, and an older one. */
    assert_int_equal(put(f->s, key, "old", hlc, 1, 0, NOW0, NULL), 0);
    assert_int_equal(put(f->s, key, "older", hlc - 1, 7, 0, NOW0, NULL), 0);
    expect_absent(f->s, key, NOW0);
    rc_store_stats(f->s, &after);
    assert_int_equal(after.ghost_refused, before.ghost_refused + 2);
    assert_int_equal(after.keys, before.keys);
    assert_int_equal(put(f->s, key, "new", hlc, 2, 0, NOW0, NULL), 1);
    expect(f->s, key, "new", hlc, 2, NOW0);
    assert_int_equal(rc_store_commit(f->s), 0);

    /* A delete of an evicted key, even at an older version, is kept. */
    for (i = 0; i < n && holds(f, "e", i); i++)
        ;
    assert_true(i < n);
    fill_key(key, sizeof(key), "e", i);
    assert_int_equal(del(f->s, key, 5, 1, NOW0, NULL), 1);
    expect(f->s, key, NULL, 5, 1, NOW0);
    assert_int_equal(rc_store_commit(f->s), 0);
}

/* noeviction keeps the old behaviour: FULL, and nothing evicted. */
static void test_evict_noeviction(void **state)
{
    struct fx *f = *state;
    uint8_t val[FILL_VLEN];
    struct rc_version v = ver(10, 1);
    struct rc_store_stats st;
    char key[32];
    int i, err = 0;

    reopen_budget(f, budget_of(f), RC_EVICT_NOEVICTION);
    memset(val, 'v', sizeof(val));
    for (i = 0; i < fill_rows(f) && err >= 0; i++) {
        fill_key(key, sizeof(key), "e", i);
        err = rc_store_write(f->s, (const uint8_t *)key, strlen(key), val, sizeof(val), &v, 0, NOW0,
                             NULL);
        if (err >= 0 && i % FILL_BATCH == FILL_BATCH - 1)
            err = rc_store_commit(f->s);
    }
    assert_int_equal(err, RC_EFULL);
    assert_int_equal(rc_store_pending(f->s), 0);
    rc_store_stats(f->s, &st);
    assert_int_equal(st.evicted, 0);
    assert_true(st.keys > 0);
    assert_true(used_of(f) <= budget_of(f));
    /* Switching to a policy that evicts lets writes in. */
    assert_int_equal(rc_store_set_evict(f->s, -1, RC_EVICT_ALLKEYS_RANDOM), 0);
    fill(f->s, "more", 2 * FILL_BATCH, FILL_VLEN, 10, 0);
    rc_store_stats(f->s, &st);
    assert_true(st.evicted > 0);
    assert_int_equal(st.evict_policy, RC_EVICT_ALLKEYS_RANDOM);
}

static void test_evict_bad_args(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats st;
    struct rc_store *s = NULL;
    struct rc_store_opts o = f->opts;
    int n = -1;

    assert_int_equal(rc_store_set_evict(f->s, -1, RC_EVICT_NPOLICIES), RC_EINVAL);
    assert_int_equal(rc_store_set_evict(f->s, 1 << 20, -1), RC_EINVAL);
    assert_int_equal(rc_store_set_evict(f->s, 1 << 20, 1000), RC_EINVAL);
    rc_store_stats(f->s, &st);
    assert_int_equal(st.evict_policy, RC_EVICT_NOEVICTION);
    assert_int_equal(st.max_mem_bytes, 0); /* the bad calls changed nothing */

    o.evict_policy = RC_EVICT_NPOLICIES;
    assert_int_equal(rc_store_open(&o, &s, NULL, 0), RC_EINVAL);
    assert_null(s);
    o.evict_policy = RC_EVICT_ALLKEYS_LRU;
    o.max_mem_bytes = -1;
    assert_int_equal(rc_store_open(&o, &s, NULL, 0), RC_EINVAL);
    assert_null(s);

    /* Nothing to do: no budget, or no rows allowed. */
    assert_int_equal(rc_store_evict_step(f->s, NOW0, 100, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(rc_store_set_evict(f->s, 4096, RC_EVICT_ALLKEYS_LRU), 0);
    n = -1;
    assert_int_equal(rc_store_evict_step(f->s, NOW0, 0, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(rc_store_pending(f->s), 0);
}

/* A budget lowered below what is held: rc_store_evict_step evicts down in
 * bounded steps and then stops; writes go on meanwhile. */
static void test_evict_lower_budget(void **state)
{
    struct fx *f = *state;
    int64_t low = budget_of(f) / 4;
    int n = fill_rows(f) / 10, steps = 0, got, total = 0;
    struct rc_store_stats st;

    reopen_budget(f, 0, RC_EVICT_ALLKEYS_RANDOM);
    fill(f->s, "e", n, FILL_VLEN, 10, 0);
    assert_int_equal(rc_store_set_evict(f->s, low, RC_EVICT_ALLKEYS_RANDOM), 0);
    rc_store_stats(f->s, &st);
    assert_int_equal(st.max_mem_bytes, low);
    assert_int_equal(st.evicted, 0); /* nothing evicted by the change itself */
    do {
        got = -1;
        assert_int_equal(rc_store_evict_step(f->s, NOW0, 50, &got), 0);
        assert_true(got >= 0 && got <= 50);
        assert_int_equal(rc_store_commit(f->s), 0);
        total += got;
    } while (got > 0 && ++steps < 10000);
    assert_true(got == 0);
    rc_store_stats(f->s, &st);
    assert_true(total > 0 && total == st.evicted);
    assert_true(st.keys > 0 && st.keys < n);
    assert_true(steps > 1); /* bounded per call */
    if (is_memory(f))
        assert_true(st.mem_bytes <= low);
    /* Writes stay within the lowered budget. */
    fill(f->s, "more", n, FILL_VLEN, 10, 0);
    if (is_memory(f))
        assert_true(used_of(f) <= low);
    check_counts(f->s);
}

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
            CASE(test_attr_round_trip),
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
            CASE(test_evict_budget),
            CASE(test_evict_policies),
            CASE(test_evict_overwrite),
            CASE(test_evict_keeps_tombstones),
            CASE(test_evict_ghost),
            CASE(test_evict_noeviction),
            CASE(test_evict_bad_args),
            CASE(test_evict_lower_budget),
        };
        failed += cmocka_run_group_tests_name(eng->name, tests, NULL, NULL);
    }
    return failed;
}
