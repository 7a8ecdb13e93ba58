/*
 * test_store.c - unit tests for the SQLite store (server/store.c).
 *
 * Most tests run twice, on disk (a mkdtemp directory, removed afterwards)
 * and on ":memory:". Time is always passed in explicitly (a fake clock),
 * so TTL and tombstone grace are exact. The allocation-failure test swaps
 * SQLite's allocator in main(), before SQLite is first used, for one that
 * fails the Nth allocation while armed.
 */
#define _XOPEN_SOURCE 700 /* nftw */

#include "err.h"
#include "ring.h"
#include "store.h"

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <xxhash.h>

#define NOW0 INT64_C(1700000000000)
#define GRACE_MS 1000
#define HALF (UINT64_C(1) << 63) /* tokens below it are stored negative (store.c tok_db) */

/* ---- fault injection: fail the Nth SQLite allocation while armed ------- */

static sqlite3_mem_methods real_mem;
static long fault_at;    /* 0 = disarmed */
static long fault_count; /* allocations seen while armed */
static int fault_fired;

static int fault_now(void)
{
    if (fault_at == 0)
        return 0;
    if (++fault_count == fault_at) {
        fault_fired = 1;
        return 1;
    }
    return 0;
}

static void *fault_malloc(int n)
{
    return fault_now() ? NULL : real_mem.xMalloc(n);
}

static void *fault_realloc(void *p, int n)
{
    return fault_now() ? NULL : real_mem.xRealloc(p, n);
}

/* Arms for the Nth allocation from now (n > 0), or disarms (n = 0).
 * fault_fired keeps telling whether the last armed fault fired. */
static void fault_arm(long n)
{
    fault_count = 0;
    if (n > 0)
        fault_fired = 0;
    fault_at = n;
}

/* ---- fixture ------------------------------------------------------------ */

struct fx {
    char tmp[64];  /* mkdtemp directory, removed by teardown */
    char dir[128]; /* data_dir: <tmp>/data (created by the store) or :memory: */
    int memory;
    struct rc_store_opts opts;
    struct rc_store *s;
};

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fx_open(struct fx *f)
{
    char errbuf[256] = "";
    int err = rc_store_open(&f->opts, &f->s, errbuf, sizeof(errbuf));

    if (err != 0)
        fail_msg("rc_store_open: %s (%s)", rc_strerror(err), errbuf);
}

static void fx_reopen(struct fx *f)
{
    rc_store_close(f->s);
    f->s = NULL;
    fx_open(f);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->memory = *state != NULL && strcmp(*state, "memory") == 0;
    strcpy(f->tmp, "/tmp/rc-test-store-XXXXXX");
    assert_non_null(mkdtemp(f->tmp));
    if (f->memory)
        strcpy(f->dir, ":memory:");
    else
        snprintf(f->dir, sizeof(f->dir), "%s/data", f->tmp);
    f->opts.data_dir = f->dir;
    f->opts.tombstone_grace_ms = GRACE_MS;
    f->opts.cache_kib = 2048;
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    fault_arm(0); /* a failed assertion may have left it armed */
    rc_store_close(f->s);
    rm_rf(f->tmp);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static struct rc_version ver(uint64_t hlc, uint64_t node)
{
    struct rc_version v = {hlc, node};
    return v;
}

static int put(struct rc_store *s, const char *key, const char *val, uint64_t hlc, uint64_t node,
               int64_t exp, int64_t now, int *existed)
{
    struct rc_version v = ver(hlc, node);
    return rc_store_write(s, (const uint8_t *)key, strlen(key), (const uint8_t *)val,
                          val ? strlen(val) : 0, &v, exp, now, existed);
}

static int del(struct rc_store *s, const char *key, uint64_t hlc, uint64_t node, int64_t now,
               int *existed)
{
    return put(s, key, NULL, hlc, node, 0, now, existed);
}

/* Checks that key holds value val (NULL: a tombstone) at version (hlc, node). */
static void expect(struct rc_store *s, const char *key, const char *val, uint64_t hlc,
                   uint64_t node, int64_t now)
{
    struct rc_entry e;

    assert_int_equal(rc_store_get(s, (const uint8_t *)key, strlen(key), now, &e), 0);
    assert_int_equal(e.key_len, strlen(key));
    assert_memory_equal(e.key, key, strlen(key));
    assert_true(e.token == rc_ring_token(key, strlen(key)));
    assert_true(e.ver.hlc == hlc);
    assert_true(e.ver.node == node);
    if (val == NULL) {
        assert_int_equal(e.tombstone, 1);
        assert_null(e.value);
        return;
    }
    assert_int_equal(e.tombstone, 0);
    assert_int_equal(e.value_len, strlen(val));
    assert_memory_equal(e.value, val, strlen(val));
}

static void expect_absent(struct rc_store *s, const char *key, int64_t now)
{
    struct rc_entry e;

    assert_int_equal(rc_store_get(s, (const uint8_t *)key, strlen(key), now, &e), RC_ENOTFOUND);
}

static void expect_stats(struct rc_store *s, int64_t keys, int64_t tombstones, int64_t bytes)
{
    struct rc_store_stats st;

    rc_store_stats(s, &st);
    assert_int_equal(st.keys, keys);
    assert_int_equal(st.tombstones, tombstones);
    assert_int_equal(st.bytes, bytes);
    assert_true(st.db_bytes > 0);
}

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

static uint64_t lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return *x >> 33;
}

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
    if (!f->memory) { /* counters recomputed from the table at open agree */
        fx_reopen(f);
        model_stats(m, f->s, now);
    }
}

/* ---- restart and metadata ---------------------------------------------- */

static void test_restart(void **state)
{
    struct fx *f = *state;
    uint64_t v;

    assert_int_equal(put(f->s, "a", "1", 1, 1, 0, NOW0, NULL), 1);
    assert_int_equal(put(f->s, "b", "2", 1, 1, 0, NOW0, NULL), 1);
    assert_int_equal(del(f->s, "b", 2, 1, NOW0, NULL), 1);
    assert_int_equal(rc_store_meta_set(f->s, "node_id", UINT64_MAX - 7), 0);
    assert_int_equal(rc_store_commit(f->s), 0);
    /* Left uncommitted: rc_store_close commits it. */
    assert_int_equal(put(f->s, "c", "3", 1, 1, 0, NOW0, NULL), 1);
    assert_int_equal(rc_store_meta_set(f->s, "incarnation", 3), 0);
    assert_int_equal(rc_store_pending(f->s), 2);

    fx_reopen(f);
    assert_int_equal(rc_store_pending(f->s), 0);
    expect(f->s, "a", "1", 1, 1, NOW0);
    expect(f->s, "b", NULL, 2, 1, NOW0);
    expect(f->s, "c", "3", 1, 1, NOW0);
    assert_int_equal(rc_store_meta_get(f->s, "node_id", &v), 0);
    assert_true(v == UINT64_MAX - 7);
    assert_int_equal(rc_store_meta_get(f->s, "incarnation", &v), 0);
    assert_true(v == 3);
    expect_stats(f->s, 2, 1, 4);
}

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

/* ---- scans -------------------------------------------------------------- */

#define SCAN_KEYS 2000

struct scanned {
    uint64_t token;
    uint8_t key[16];
    size_t key_len;
    int tombstone;
};

struct collector {
    struct scanned *rows;
    int n, cap;
    int stop_after; /* cb returns 1 after this many rows; 0 = never */
    int any_token;  /* rows were planted with made-up tokens */
};

static int collect(void *arg, const struct rc_entry *e)
{
    struct collector *c = arg;
    struct scanned *r;

    assert_true(c->n < c->cap);
    assert_true(e->key_len <= sizeof(r->key));
    r = &c->rows[c->n++];
    r->token = e->token;
    memcpy(r->key, e->key, e->key_len);
    r->key_len = e->key_len;
    r->tombstone = e->tombstone;
    assert_true(c->any_token || e->token == rc_ring_token(e->key, e->key_len));
    return c->stop_after > 0 && c->n >= c->stop_after;
}

static int cmp_scanned(const void *pa, const void *pb)
{
    const struct scanned *a = pa, *b = pb;
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c;

    if (a->token != b->token)
        return a->token < b->token ? -1 : 1;
    c = memcmp(a->key, b->key, n);
    if (c != 0)
        return c;
    return a->key_len < b->key_len ? -1 : a->key_len > b->key_len;
}

static int key_index(const struct scanned *r)
{
    char buf[17];

    memcpy(buf, r->key, r->key_len);
    buf[r->key_len] = '\0';
    return atoi(buf + 4);
}

/* SCAN_KEYS keys "key-N"; every 10th deleted, every 7th (not deleted)
 * already expired at NOW0 (skipped by scans). Fills want with the entries a
 * scan at NOW0 must return, sorted; returns their number. */
static int fill_scan_keys(struct rc_store *s, struct scanned *want)
{
    char key[16];
    int i, n = 0;

    for (i = 0; i < SCAN_KEYS; i++) {
        int expired = i % 7 == 0 && i % 10 != 0;
        snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(put(s, key, "value", 1, 1, expired ? NOW0 - 1 : 0, NOW0 - 10, NULL), 1);
        if (i % 10 == 0)
            assert_int_equal(del(s, key, 2, 1, NOW0 - 10, NULL), 1);
        if (expired)
            continue;
        want[n].token = rc_ring_token(key, strlen(key));
        memcpy(want[n].key, key, strlen(key));
        want[n].key_len = strlen(key);
        want[n].tombstone = i % 10 == 0;
        n++;
    }
    assert_int_equal(rc_store_commit(s), 0);
    qsort(want, (size_t)n, sizeof(*want), cmp_scanned);
    return n;
}

static void test_scan_pages(void **state)
{
    struct fx *f = *state;
    struct scanned *want = calloc(SCAN_KEYS, sizeof(*want));
    struct collector c = {calloc(SCAN_KEYS, sizeof(struct scanned)), 0, SCAN_KEYS, 0, 0};
    int nwant, got, pages = 0, i;

    assert_non_null(want);
    assert_non_null(c.rows);
    nwant = fill_scan_keys(f->s, want);
    got = rc_store_scan(f->s, 0, UINT64_MAX, 0, NULL, 0, 100, NOW0, collect, &c);
    while (got > 0) {
        struct scanned last = c.rows[c.n - 1]; /* the entry's pointers are gone */
        assert_true(got <= 100);
        pages++;
        got = rc_store_scan(f->s, 0, UINT64_MAX, last.token, last.key, last.key_len, 100, NOW0,
                            collect, &c);
    }
    assert_int_equal(got, 0);
    assert_int_equal(c.n, nwant);
    assert_int_equal(pages, (nwant + 99) / 100);
    for (i = 0; i < nwant; i++) {
        assert_int_equal(cmp_scanned(&c.rows[i], &want[i]), 0);
        assert_int_equal(c.rows[i].tombstone, want[i].tombstone);
    }

    /* The callback can stop the scan early. */
    c.n = 0;
    c.stop_after = 3;
    assert_int_equal(rc_store_scan(f->s, 0, UINT64_MAX, 0, NULL, 0, 100, NOW0, collect, &c), 3);
    free(c.rows);
    free(want);
}

/* Scans [first, last] in pages of 37, appending to c; returns the count. */
static int scan_range(struct rc_store *s, uint64_t first, uint64_t last, struct collector *c)
{
    int start = c->n, got, i;

    got = rc_store_scan(s, first, last, 0, NULL, 0, 37, NOW0, collect, c);
    while (got > 0) {
        struct scanned prev = c->rows[c->n - 1];
        got = rc_store_scan(s, first, last, prev.token, prev.key, prev.key_len, 37, NOW0, collect,
                            c);
    }
    assert_int_equal(got, 0);
    for (i = start; i < c->n; i++) {
        assert_true(c->rows[i].token >= first && c->rows[i].token <= last);
        if (i > start)
            assert_true(cmp_scanned(&c->rows[i - 1], &c->rows[i]) < 0);
    }
    return c->n - start;
}

static void check_cover(struct collector *c, int nwant)
{
    char seen[SCAN_KEYS] = {0};
    int i;

    assert_int_equal(c->n, nwant);
    for (i = 0; i < c->n; i++) {
        int k = key_index(&c->rows[i]);
        assert_int_equal(seen[k], 0);
        seen[k] = 1;
    }
}

/* Index of the first entry of want (sorted, n entries) with token >= t;
 * n when there is none. */
static int first_at(const struct scanned *want, int n, uint64_t t)
{
    int i = 0;

    while (i < n && want[i].token < t)
        i++;
    return i;
}

static void test_scan_ranges(void **state)
{
    const uint64_t q = UINT64_C(1) << 62;
    struct fx *f = *state;
    struct scanned *want = calloc(SCAN_KEYS, sizeof(*want));
    struct collector c = {calloc(2 * SCAN_KEYS, sizeof(struct scanned)), 0, 2 * SCAN_KEYS, 0, 0};
    uint64_t lo_tok, hi_tok, cut, below, above;
    int nwant, h;

    assert_non_null(want);
    assert_non_null(c.rows);
    nwant = fill_scan_keys(f->s, want);
    lo_tok = want[0].token;
    hi_tok = want[nwant - 1].token;

    /* The whole ring, and four quarters of it, the last ending at
     * UINT64_MAX. */
    assert_int_equal(scan_range(f->s, 0, UINT64_MAX, &c), nwant);
    check_cover(&c, nwant);
    c.n = 0;
    scan_range(f->s, 0, q - 1, &c);
    scan_range(f->s, q, 2 * q - 1, &c);
    scan_range(f->s, 2 * q, 3 * q - 1, &c);
    scan_range(f->s, 3 * q, UINT64_MAX, &c);
    check_cover(&c, nwant);

    /* A split at the signed boundary, and a wrapping range as two calls. */
    c.n = 0;
    scan_range(f->s, 0, HALF - 1, &c);
    scan_range(f->s, HALF, UINT64_MAX, &c);
    check_cover(&c, nwant);
    cut = want[nwant / 3].token;
    c.n = 0;
    scan_range(f->s, cut + 1, UINT64_MAX, &c); /* the wrapping range (cut, cut] */
    scan_range(f->s, 0, cut, &c);
    check_cover(&c, nwant);

    /* One range across the signed boundary: the nearest entries on either
     * side of it, and nothing between them. */
    h = first_at(want, nwant, HALF);
    assert_true(h > 0 && h < nwant);
    below = want[h - 1].token;
    above = want[h].token;
    c.n = 0;
    assert_int_equal(scan_range(f->s, below, above, &c), 2);
    assert_int_equal(cmp_scanned(&c.rows[0], &want[h - 1]), 0);
    assert_int_equal(cmp_scanned(&c.rows[1], &want[h]), 0);
    assert_int_equal(scan_range(f->s, below + 1, above - 1, &c), 0);
    assert_int_equal(scan_range(f->s, HALF - 1, HALF, &c), 0);
    assert_int_equal(scan_range(f->s, below, HALF - 1, &c), 1);
    assert_int_equal(scan_range(f->s, HALF, above, &c), 1);

    /* Edges: first = 0, last = UINT64_MAX, first == last. */
    c.n = 0;
    assert_int_equal(scan_range(f->s, 0, lo_tok, &c), 1);
    assert_int_equal(scan_range(f->s, lo_tok, lo_tok, &c), 1);
    assert_int_equal(scan_range(f->s, 0, lo_tok - 1, &c), 0);
    assert_int_equal(scan_range(f->s, lo_tok + 1, want[1].token, &c), 1);
    assert_int_equal(scan_range(f->s, hi_tok, UINT64_MAX, &c), 1);
    assert_int_equal(scan_range(f->s, hi_tok, hi_tok, &c), 1);
    assert_int_equal(scan_range(f->s, hi_tok + 1, UINT64_MAX, &c), 0);
    assert_int_equal(scan_range(f->s, UINT64_MAX, UINT64_MAX, &c), 0);
    assert_int_equal(scan_range(f->s, 0, 0, &c), 0);
    /* Inverted ranges are refused, a zero limit returns nothing. */
    assert_int_equal(rc_store_scan(f->s, q, 1, 0, NULL, 0, 10, NOW0, collect, &c), RC_EINVAL);
    assert_int_equal(rc_store_scan(f->s, 1, 0, 0, NULL, 0, 10, NOW0, collect, &c), RC_EINVAL);
    assert_int_equal(rc_store_scan(f->s, 0, UINT64_MAX, 0, NULL, 0, 0, NOW0, collect, &c), 0);
    assert_int_equal(rc_store_scan(f->s, 0, UINT64_MAX, 0, NULL, 0, -1, NOW0, collect, &c), 0);

    /* Cursors: past the range; below first (ignored: lo_tok is included
     * even after a "zzz" cursor at 0); at first, before or after the first
     * key there; on the last entry; between tokens. */
    assert_int_equal(rc_store_scan(f->s, 0, UINT64_MAX, UINT64_MAX, (const uint8_t *)"", 0, 10,
                                   NOW0, collect, &c),
                     0);
    assert_int_equal(rc_store_scan(f->s, 0, cut, cut, want[nwant / 3].key,
                                   want[nwant / 3].key_len, 10, NOW0, collect, &c),
                     0);
    c.n = 0;
    assert_int_equal(rc_store_scan(f->s, lo_tok, UINT64_MAX, 0, (const uint8_t *)"zzz", 3, 1, NOW0,
                                   collect, &c),
                     1);
    assert_int_equal(cmp_scanned(&c.rows[0], &want[0]), 0);
    assert_int_equal(rc_store_scan(f->s, lo_tok, UINT64_MAX, lo_tok - 1, (const uint8_t *)"zzz", 3,
                                   1, NOW0, collect, &c),
                     1);
    assert_int_equal(cmp_scanned(&c.rows[1], &want[0]), 0);
    assert_int_equal(rc_store_scan(f->s, lo_tok, UINT64_MAX, lo_tok, (const uint8_t *)"", 0, 1,
                                   NOW0, collect, &c),
                     1);
    assert_int_equal(cmp_scanned(&c.rows[2], &want[0]), 0);
    assert_int_equal(rc_store_scan(f->s, lo_tok, UINT64_MAX, lo_tok, want[0].key, want[0].key_len,
                                   1, NOW0, collect, &c),
                     1);
    assert_int_equal(cmp_scanned(&c.rows[3], &want[1]), 0);
    assert_int_equal(rc_store_scan(f->s, 0, UINT64_MAX, hi_tok, want[nwant - 1].key,
                                   want[nwant - 1].key_len, 10, NOW0, collect, &c),
                     0);
    assert_int_equal(rc_store_scan(f->s, 0, UINT64_MAX, want[5].token + 1, (const uint8_t *)"", 0,
                                   1, NOW0, collect, &c),
                     1);
    assert_int_equal(cmp_scanned(&c.rows[4], &want[6]), 0);
    free(c.rows);
    free(want);
}

/* ---- token ranges: digest, count, delete -------------------------------- */

/* Running totals of a scan, and its cursor. */
struct tally {
    int64_t keys, tombstones, bytes;
    uint64_t token;
    uint8_t key[2048];
    size_t key_len;
};

static int tally_cb(void *arg, const struct rc_entry *e)
{
    struct tally *t = arg;

    assert_true(e->key_len <= sizeof(t->key));
    t->keys += !e->tombstone;
    t->tombstones += e->tombstone;
    t->bytes += e->tombstone ? 0 : (int64_t)(e->key_len + e->value_len);
    t->token = e->token;
    memcpy(t->key, e->key, e->key_len);
    t->key_len = e->key_len;
    return 0;
}

/* The counters agree with a scan of the whole ring (for stores holding no
 * expired values at NOW0: the scan skips them, the counters keep them). */
static void check_counts(struct rc_store *s)
{
    struct tally *t = calloc(1, sizeof(*t));
    int got, pages = 0;

    assert_non_null(t);
    do {
        got = rc_store_scan(s, 0, UINT64_MAX, t->token, pages > 0 ? t->key : NULL, t->key_len, 500,
                            NOW0, tally_cb, t);
        assert_true(got >= 0);
        pages++;
    } while (got > 0);
    expect_stats(s, t->keys, t->tombstones, t->bytes);
    free(t);
}

/* The digest term of one entry, computed here from its definition. */
static uint64_t entry_term(const void *key, size_t key_len, uint64_t hlc, uint64_t node)
{
    uint8_t *buf = malloc(key_len + 16);
    uint64_t h;
    int i;

    assert_non_null(buf);
    if (key_len > 0)
        memcpy(buf, key, key_len);
    for (i = 0; i < 8; i++) {
        buf[key_len + i] = (uint8_t)(hlc >> (8 * i));
        buf[key_len + 8 + i] = (uint8_t)(node >> (8 * i));
    }
    h = XXH3_64bits(buf, key_len + 16);
    free(buf);
    return h;
}

static uint64_t digest_of(struct rc_store *s, uint64_t first, uint64_t last, int64_t now,
                          uint64_t *count)
{
    uint64_t d = 1, n = 1;

    assert_int_equal(rc_store_range_digest(s, first, last, now, &d, &n), 0);
    if (count != NULL)
        *count = n;
    return d;
}

static uint64_t count_of(struct rc_store *s, uint64_t first, uint64_t last, int64_t now)
{
    uint64_t n = UINT64_MAX;

    assert_int_equal(rc_store_range_count(s, first, last, now, &n), 0);
    return n;
}

static int delete_of(struct rc_store *s, uint64_t first, uint64_t last, int max_rows)
{
    int n = -1;

    assert_int_equal(rc_store_delete_range(s, first, last, max_rows, &n), 0);
    assert_true(n >= 0 && (n == 0 || n <= max_rows));
    return n;
}

/* Plants rows with chosen tokens (the schema is documented: the token
 * column holds token ^ 2^63) in the closed store's database. */
struct planted {
    const char *key;
    uint64_t token;
    int tombstone;
};

static const struct planted planted[] = {
    {"z0", 0, 0},          {"a0", 0, 0},          {"one", 1, 1},
    {"s-1", HALF - 1, 0},  {"s0", HALF, 0},       {"s+1", HALF + 1, 1},
    {"m-1", UINT64_MAX - 1, 0}, {"max", UINT64_MAX, 1},
};
#define NPLANTED (sizeof(planted) / sizeof(planted[0]))

static void plant(struct fx *f)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    char path[192];
    size_t i;

    rc_store_close(f->s);
    f->s = NULL;
    snprintf(path, sizeof(path), "%s/ringcache.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO kv(key, token, hlc, node, expires, value)"
                                        " VALUES (?1, ?2, 7, 3, ?3, ?4)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    for (i = 0; i < NPLANTED; i++) {
        const struct planted *p = &planted[i];
        sqlite3_bind_blob(st, 1, p->key, (int)strlen(p->key), SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t)(p->token ^ HALF));
        sqlite3_bind_int64(st, 3, p->tombstone ? NOW0 + GRACE_MS : 0);
        if (p->tombstone)
            sqlite3_bind_null(st, 4);
        else
            sqlite3_bind_blob(st, 4, "vv", 2, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    fx_open(f);
}

/* Digest, tombstone count and live count of the planted rows in [first, last]. */
static void planted_in(uint64_t first, uint64_t last, uint64_t *digest, uint64_t *entries,
                       uint64_t *live)
{
    size_t i;

    *digest = *entries = *live = 0;
    for (i = 0; i < NPLANTED; i++) {
        const struct planted *p = &planted[i];
        if (p->token < first || p->token > last)
            continue;
        *digest ^= entry_term(p->key, strlen(p->key), 7, 3);
        (*entries)++;
        *live += !p->tombstone;
    }
}

static void check_planted(struct rc_store *s, uint64_t first, uint64_t last)
{
    struct collector c = {calloc(NPLANTED, sizeof(struct scanned)), 0, NPLANTED, 0, 1};
    uint64_t d, n, live, got_n;

    assert_non_null(c.rows);
    planted_in(first, last, &d, &n, &live);
    assert_int_equal(scan_range(s, first, last, &c), n);
    assert_true(digest_of(s, first, last, NOW0, &got_n) == d);
    assert_int_equal(got_n, n);
    assert_int_equal(count_of(s, first, last, NOW0), live);
    free(c.rows);
}

/* Tokens 0, UINT64_MAX and both sides of the signed boundary, which real
 * keys cannot be made to hit. */
static void test_token_edges(void **state)
{
    static const uint64_t cuts[] = {0, 1, 2, HALF - 2, HALF - 1, HALF, HALF + 1, HALF + 2,
                                    UINT64_MAX - 1, UINT64_MAX};
    struct fx *f = *state;
    struct collector c = {calloc(NPLANTED, sizeof(struct scanned)), 0, NPLANTED, 0, 1};
    size_t i, j;

    assert_non_null(c.rows);
    plant(f);
    expect_stats(f->s, 5, 3, 4 + 4 + 5 + 4 + 5); /* z0 a0 s-1 s0 m-1, with "vv" */
    check_counts(f->s);
    for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
        for (j = i; j < sizeof(cuts) / sizeof(cuts[0]); j++)
            check_planted(f->s, cuts[i], cuts[j]);

    /* Two keys at token 0, in key order; a cursor between them. */
    assert_int_equal(rc_store_scan(f->s, 0, 0, 0, NULL, 0, 10, NOW0, collect, &c), 2);
    assert_memory_equal(c.rows[0].key, "a0", 2);
    assert_memory_equal(c.rows[1].key, "z0", 2);
    c.n = 0;
    assert_int_equal(
        rc_store_scan(f->s, 0, 0, 0, (const uint8_t *)"a0", 2, 10, NOW0, collect, &c), 1);
    assert_memory_equal(c.rows[0].key, "z0", 2);
    c.n = 0;
    assert_int_equal(
        rc_store_scan(f->s, 0, UINT64_MAX, 0, (const uint8_t *)"", 0, 10, NOW0, collect, &c), 8);
    c.n = 0;
    assert_int_equal(rc_store_scan(f->s, 0, UINT64_MAX, HALF - 1, (const uint8_t *)"s-1", 3, 10,
                                   NOW0, collect, &c),
                     4);
    assert_true(c.rows[0].token == HALF);
    c.n = 0;
    assert_int_equal(rc_store_scan(f->s, 0, UINT64_MAX, UINT64_MAX - 1, (const uint8_t *)"m-1", 3,
                                   10, NOW0, collect, &c),
                     1);
    assert_true(c.rows[0].token == UINT64_MAX);

    /* Deleting single tokens and across the boundary. */
    assert_int_equal(delete_of(f->s, UINT64_MAX, UINT64_MAX, 10), 1);
    assert_int_equal(delete_of(f->s, 0, 0, 1), 1);
    assert_int_equal(delete_of(f->s, 0, 0, 1), 1);
    assert_int_equal(delete_of(f->s, 0, 0, 1), 0);
    assert_int_equal(delete_of(f->s, HALF - 1, HALF, 10), 2);
    check_counts(f->s);
    expect_stats(f->s, 1, 2, 3 + 2);
    assert_int_equal(rc_store_commit(f->s), 0);
    fx_reopen(f);
    expect_stats(f->s, 1, 2, 3 + 2);
    assert_int_equal(scan_range(f->s, 0, UINT64_MAX, &c), 3);
    free(c.rows);
}

/* Opens a second store of the other kind: on disk if f's is in memory,
 * in memory if f's is on disk. Caller closes. */
static struct rc_store *open_other(struct fx *f)
{
    struct rc_store_opts o = f->opts;
    struct rc_store *s = NULL;
    char dir[128];

    snprintf(dir, sizeof(dir), "%s/other", f->tmp);
    o.data_dir = f->memory ? dir : ":memory:";
    assert_int_equal(rc_store_open(&o, &s, NULL, 0), 0);
    return s;
}

#define DIGEST_KEYS 300

/* Writes key i of the digest set at its final version: every 7th a
 * tombstone, every 11th (else) a value expiring before NOW0 (not in the
 * digest), every 5th one expiring later. Values differ by `salt`: values
 * are not part of the digest. */
static void digest_put(struct rc_store *s, int i, int salt, uint64_t *want, uint64_t *nwant)
{
    char key[16], val[16];
    int64_t exp = i % 11 == 0 ? NOW0 - 5 : i % 5 == 0 ? NOW0 + 100000 + salt : 0;

    snprintf(key, sizeof(key), "d-%d", i);
    snprintf(val, sizeof(val), "v%d-%d", i, salt);
    if (i % 7 == 0)
        assert_int_equal(del(s, key, 100 + (uint64_t)i, 2, NOW0 - 10, NULL), 1);
    else
        assert_int_equal(put(s, key, val, 100 + (uint64_t)i, 2, exp, NOW0 - 10, NULL), 1);
    if (want != NULL && (i % 7 == 0 || i % 11 != 0)) {
        *want ^= entry_term(key, strlen(key), 100 + (uint64_t)i, 2);
        (*nwant)++;
    }
}

static void test_digest(void **state)
{
    struct fx *f = *state;
    struct rc_store *b = open_other(f);
    uint8_t *longkey = malloc(1000);
    struct rc_version v = ver(5, 9);
    uint64_t want = 0, nwant = 0, da, db, na, nb;
    char key[16];
    int i;

    assert_non_null(longkey);
    memset(longkey, 'L', 1000);
    assert_true(digest_of(f->s, 0, UINT64_MAX, NOW0, &na) == 0);
    assert_int_equal(na, 0);

    /* A: ascending, straight to the final versions. B: descending, after
     * older versions of every key (including values where A has
     * tombstones), committed in several batches. */
    for (i = 0; i < DIGEST_KEYS; i++)
        digest_put(f->s, i, 1, &want, &nwant);
    for (i = DIGEST_KEYS - 1; i >= 0; i--) {
        snprintf(key, sizeof(key), "d-%d", i);
        assert_int_equal(put(b, key, "old", 1, 1, 0, NOW0 - 20, NULL), 1);
        if (i % 50 == 0)
            assert_int_equal(rc_store_commit(b), 0);
    }
    for (i = DIGEST_KEYS - 1; i >= 0; i--)
        digest_put(b, i, 2, NULL, NULL);
    /* Keys of any length, the empty key included. */
    assert_int_equal(rc_store_write(f->s, longkey, 1000, longkey, 10, &v, 0, NOW0, NULL), 1);
    assert_int_equal(rc_store_write(f->s, (const uint8_t *)"", 0, NULL, 0, &v, 0, NOW0, NULL), 1);
    assert_int_equal(rc_store_write(b, (const uint8_t *)"", 0, NULL, 0, &v, 0, NOW0, NULL), 1);
    assert_int_equal(rc_store_write(b, longkey, 1000, longkey, 20, &v, 0, NOW0, NULL), 1);
    want ^= entry_term(longkey, 1000, 5, 9) ^ entry_term("", 0, 5, 9);
    nwant += 2;
    /* An expired value only B holds does not count. */
    assert_int_equal(put(b, "gone", "x", 1, 1, NOW0, NOW0 - 1, NULL), 1);
    assert_int_equal(rc_store_commit(b), 0);

    /* A's batch is still open: reads see it. */
    assert_true(digest_of(f->s, 0, UINT64_MAX, NOW0, &na) == want);
    assert_int_equal(na, nwant);
    assert_int_equal(rc_store_commit(f->s), 0);
    assert_true(digest_of(f->s, 0, UINT64_MAX, NOW0, &na) == want);
    assert_true(digest_of(b, 0, UINT64_MAX, NOW0, &nb) == want);
    assert_int_equal(nb, nwant);
    assert_true(want != 0);
    /* Both halves of the ring too. */
    assert_true(digest_of(f->s, 0, HALF - 1, NOW0, NULL) == digest_of(b, 0, HALF - 1, NOW0, NULL));
    assert_true(digest_of(f->s, HALF, UINT64_MAX, NOW0, NULL) ==
                digest_of(b, HALF, UINT64_MAX, NOW0, NULL));

    /* Each change tells the stores apart until the other store has it:
     * a newer hlc, a node-id tie-break, a tombstone over a value, an extra
     * key, a tombstone for a key never seen. */
    {
        static const struct {
            const char *key, *val;
            uint64_t hlc, node;
            int dcount;
        } ch[] = {
            {"d-1", "x", 102, 2, 0},  {"d-2", "x", 102, 3, 0}, {"d-3", NULL, 200, 1, 0},
            {"extra", "e", 1, 1, 1}, {"never", NULL, 1, 1, 1},
        };
        size_t k;

        for (k = 0; k < sizeof(ch) / sizeof(ch[0]); k++) {
            da = digest_of(f->s, 0, UINT64_MAX, NOW0, &na);
            assert_int_equal(put(b, ch[k].key, ch[k].val, ch[k].hlc, ch[k].node, 0, NOW0, NULL),
                             1);
            db = digest_of(b, 0, UINT64_MAX, NOW0, &nb);
            assert_true(da != db);
            assert_int_equal(nb, na + (uint64_t)ch[k].dcount);
            assert_int_equal(put(f->s, ch[k].key, ch[k].val, ch[k].hlc, ch[k].node, 0, NOW0, NULL),
                             1);
            assert_true(digest_of(f->s, 0, UINT64_MAX, NOW0, NULL) == db);
        }
    }

    /* A value counts until it expires; a tombstone even past its grace. */
    da = digest_of(f->s, 0, UINT64_MAX, NOW0, &na);
    assert_int_equal(put(b, "ttl", "t", 1, 1, NOW0 + 100, NOW0, NULL), 1);
    assert_true(digest_of(b, 0, UINT64_MAX, NOW0 + 99, &nb) ==
                (da ^ entry_term("ttl", 3, 1, 1)));
    assert_int_equal(nb, na + 1);
    assert_true(digest_of(b, 0, UINT64_MAX, NOW0 + 100, &nb) == da);
    assert_int_equal(nb, na);
    assert_true(digest_of(f->s, 0, UINT64_MAX, NOW0 + 10 * GRACE_MS, NULL) ==
                digest_of(b, 0, UINT64_MAX, NOW0 + 10 * GRACE_MS, NULL));

    assert_int_equal(rc_store_range_digest(f->s, 2, 1, NOW0, &da, &na), RC_EINVAL);
    assert_true(da == 0 && na == 0);
    rc_store_close(b);
    free(longkey);
}

/* The hashed format is a contract between nodes. Known answers computed
 * once with libxxhash 0.8.1 (one-shot XXH3_64bits) and checked in:
 * "k" 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 and the same with
 * hlc and node swapped. */
static void test_digest_known(void **state)
{
    struct fx *f = *state;
    uint64_t t = rc_ring_token("k", 1), n;

    assert_true(entry_term("k", 1, 1, 2) == UINT64_C(0xaff18b8223146217));
    assert_true(entry_term("k", 1, 2, 1) == UINT64_C(0x92565bb925be13a3));
    assert_int_equal(put(f->s, "k", "value", 1, 2, 0, NOW0, NULL), 1);
    assert_true(digest_of(f->s, t, t, NOW0, &n) == UINT64_C(0xaff18b8223146217));
    assert_int_equal(n, 1);
    assert_int_equal(del(f->s, "k", 2, 1, NOW0, NULL), 1);
    assert_int_equal(rc_store_commit(f->s), 0);
    assert_true(digest_of(f->s, 0, UINT64_MAX, NOW0, &n) == UINT64_C(0x92565bb925be13a3));
    assert_int_equal(n, 1);
    /* Past its grace, until purged, the tombstone still counts. */
    assert_true(digest_of(f->s, 0, UINT64_MAX, NOW0 + 10 * GRACE_MS, &n) ==
                UINT64_C(0x92565bb925be13a3));
    assert_int_equal(n, 1);
    assert_true(digest_of(f->s, 0, t - 1, NOW0, &n) == 0);
    assert_int_equal(n, 0);
}

/* The digest set of fill_scan_keys: want, at versions (1, 1) for values
 * and (2, 1) for tombstones. */
static uint64_t want_term(const struct scanned *w)
{
    return entry_term(w->key, w->key_len, w->tombstone ? 2 : 1, 1);
}

static void test_digest_split(void **state)
{
    struct fx *f = *state;
    struct scanned *want = calloc(SCAN_KEYS, sizeof(*want));
    uint64_t cuts[64], whole, nwhole, x = 0, nx = 0, rnd = 7, n, d, expect_d;
    int nwant, ncuts = 0, i, k, lo;

    assert_non_null(want);
    nwant = fill_scan_keys(f->s, want);
    whole = digest_of(f->s, 0, UINT64_MAX, NOW0, &nwhole);
    assert_int_equal(nwhole, nwant);

    /* Pieces [cuts[i], cuts[i + 1] - 1]: random cuts, the signed boundary,
     * and single-token pieces around two entries. */
    cuts[ncuts++] = 0;
    cuts[ncuts++] = HALF;
    cuts[ncuts++] = want[10].token;
    cuts[ncuts++] = want[10].token + 1;
    cuts[ncuts++] = want[nwant - 1].token;
    while (ncuts < 60)
        cuts[ncuts++] = (lcg(&rnd) << 33) ^ lcg(&rnd) ^ (lcg(&rnd) << 52);
    for (i = 1; i < ncuts; i++) /* insertion sort, dropping duplicates */
        for (k = i; k > 0 && cuts[k - 1] >= cuts[k]; k--) {
            uint64_t t = cuts[k - 1];
            cuts[k - 1] = cuts[k];
            cuts[k] = t;
        }
    lo = 0;
    for (i = 0; i < ncuts; i++) {
        uint64_t first = cuts[i];
        uint64_t last = i + 1 < ncuts ? cuts[i + 1] - 1 : UINT64_MAX;
        if (i + 1 < ncuts && cuts[i + 1] == first)
            continue;
        d = digest_of(f->s, first, last, NOW0, &n);
        expect_d = 0;
        for (k = lo; k < nwant && want[k].token <= last; k++)
            expect_d ^= want_term(&want[k]);
        assert_int_equal(n, k - lo);
        assert_true(d == expect_d);
        if (first == want[10].token && last == first)
            assert_int_equal(n, 1);
        lo = k;
        x ^= d;
        nx += n;
    }
    assert_int_equal(lo, nwant);
    assert_true(x == whole);
    assert_int_equal(nx, nwhole);
    free(want);
}

static void test_range_count(void **state)
{
    struct fx *f = *state;
    struct scanned *want = calloc(SCAN_KEYS, sizeof(*want));
    uint64_t t_val, t_tomb, sum = 0, q = UINT64_C(1) << 62, n;
    int nwant, live = 0, i;

    assert_non_null(want);
    assert_int_equal(count_of(f->s, 0, UINT64_MAX, NOW0), 0);
    nwant = fill_scan_keys(f->s, want);
    for (i = 0; i < nwant; i++)
        live += !want[i].tombstone;
    assert_int_equal(count_of(f->s, 0, UINT64_MAX, NOW0), live);
    for (i = 0; i < 4; i++)
        sum += count_of(f->s, (uint64_t)i * q, i == 3 ? UINT64_MAX : (uint64_t)(i + 1) * q - 1,
                        NOW0);
    assert_int_equal(sum, live);
    assert_int_equal(count_of(f->s, 0, HALF - 1, NOW0) + count_of(f->s, HALF, UINT64_MAX, NOW0),
                     live);

    /* One entry's token: 1 for a value, 0 for a tombstone. */
    for (i = 0; want[i].tombstone; i++)
        ;
    t_val = want[i].token;
    for (i = 0; !want[i].tombstone; i++)
        ;
    t_tomb = want[i].token;
    assert_int_equal(count_of(f->s, t_val, t_val, NOW0), 1);
    assert_int_equal(count_of(f->s, t_tomb, t_tomb, NOW0), 0);

    /* Expiry: counted before, not at, the expiry time; a batch's writes
     * count before the commit. */
    assert_int_equal(put(f->s, "ttl", "v", 1, 1, NOW0 + 50, NOW0, NULL), 1);
    t_val = rc_ring_token("ttl", 3);
    assert_int_equal(count_of(f->s, t_val, t_val, NOW0 + 49), 1);
    assert_int_equal(count_of(f->s, t_val, t_val, NOW0 + 50), 0);
    assert_int_equal(count_of(f->s, 0, UINT64_MAX, NOW0 + 49), live + 1);
    assert_int_equal(del(f->s, "ttl", 2, 1, NOW0, NULL), 1);
    assert_int_equal(count_of(f->s, 0, UINT64_MAX, NOW0), live);
    /* Values expired at NOW0 by fill_scan_keys count in the past. */
    assert_true(count_of(f->s, 0, UINT64_MAX, NOW0 - 2) > (uint64_t)live);

    n = 5;
    assert_int_equal(rc_store_range_count(f->s, 1, 0, NOW0, &n), RC_EINVAL);
    assert_int_equal(n, 0);
    free(want);
}

/* Counters after deleting [first, last] from fill_scan_keys's set. */
static void expect_fill_minus(struct rc_store *s, uint64_t first, uint64_t last)
{
    int64_t keys = 0, tombs = 0, bytes = 0;
    char key[16];
    int i;

    for (i = 0; i < SCAN_KEYS; i++) {
        uint64_t t;
        snprintf(key, sizeof(key), "key-%d", i);
        t = rc_ring_token(key, strlen(key));
        if (t >= first && t <= last)
            continue;
        keys += i % 10 != 0;
        tombs += i % 10 == 0;
        bytes += i % 10 != 0 ? (int64_t)strlen(key) + 5 : 0;
    }
    expect_stats(s, keys, tombs, bytes);
}

static void test_delete_range(void **state)
{
    struct fx *f = *state;
    struct scanned *want = calloc(SCAN_KEYS, sizeof(*want));
    struct collector c = {calloc(SCAN_KEYS, sizeof(struct scanned)), 0, SCAN_KEYS, 0, 0};
    uint64_t first, last, n;
    char key[16];
    int nwant, in_range = 0, got, total = 0, steps = 0, i;

    assert_non_null(want);
    assert_non_null(c.rows);
    nwant = fill_scan_keys(f->s, want);
    first = want[100].token;
    last = want[700].token;
    for (i = 0; i < SCAN_KEYS; i++) { /* expired values included */
        uint64_t t;
        snprintf(key, sizeof(key), "key-%d", i);
        t = rc_ring_token(key, strlen(key));
        in_range += t >= first && t <= last;
    }
    assert_true(in_range > 601);

    /* Nothing to do opens no batch; an inverted range is refused. */
    assert_int_equal(delete_of(f->s, first, last, 0), 0);
    assert_int_equal(delete_of(f->s, first, last, -3), 0);
    assert_int_equal(rc_store_pending(f->s), 0);
    got = 7;
    assert_int_equal(rc_store_delete_range(f->s, last, first, 10, &got), RC_EINVAL);
    assert_int_equal(got, 0);
    assert_int_equal(rc_store_pending(f->s), 0);

    /* Bounded steps until the range is empty. */
    do {
        got = delete_of(f->s, first, last, 50);
        total += got;
        steps++;
        assert_int_equal(rc_store_pending(f->s), steps);
        if (total < in_range)
            assert_int_equal(got, 50);
    } while (got > 0);
    assert_int_equal(total, in_range);
    assert_int_equal(steps, in_range / 50 + 1 + (in_range % 50 != 0));
    assert_int_equal(delete_of(f->s, first, last, 50), 0);

    /* Reads see it before the commit; the rest is untouched. */
    expect_fill_minus(f->s, first, last);
    assert_int_equal(scan_range(f->s, first, last, &c), 0);
    assert_int_equal(count_of(f->s, first, last, NOW0), 0);
    assert_true(digest_of(f->s, first, last, NOW0, &n) == 0);
    assert_int_equal(n, 0);
    assert_int_equal(scan_range(f->s, 0, first - 1, &c), 100);
    assert_int_equal(scan_range(f->s, last + 1, UINT64_MAX, &c), nwant - 701);
    for (i = 0; i < 100; i++)
        assert_int_equal(cmp_scanned(&c.rows[i], &want[i]), 0);
    for (i = 100; i < c.n; i++)
        assert_int_equal(cmp_scanned(&c.rows[i], &want[i + 601]), 0);
    assert_int_equal(rc_store_commit(f->s), 0);
    expect_fill_minus(f->s, first, last);
    if (!f->memory) { /* counters recomputed at open agree */
        fx_reopen(f);
        expect_fill_minus(f->s, first, last);
    }

    /* An empty range, then everything, in steps of 333. */
    assert_int_equal(delete_of(f->s, first, last, 10), 0);
    while (delete_of(f->s, 0, UINT64_MAX, 333) > 0)
        ;
    expect_stats(f->s, 0, 0, 0);
    assert_int_equal(rc_store_commit(f->s), 0);
    expect_stats(f->s, 0, 0, 0);
    free(c.rows);
    free(want);
}

/* A batch holding range deletes that fails later, or whose range delete
 * fails itself, brings every deleted row back. */
static void test_delete_range_discard(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats before, after;
    struct rc_version v = ver(10, 1);
    uint8_t big[400];
    char key[16];
    long nfault;
    int i, err = 0, n;

    f->opts.max_bytes = 64 * 1024;
    fx_reopen(f);
    for (i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "small-%d", i);
        if (i % 4 == 0)
            assert_int_equal(del(f->s, key, 1, 1, NOW0, NULL), 1);
        else
            assert_int_equal(put(f->s, key, "v", 1, 1, 0, NOW0, NULL), 1);
    }
    assert_int_equal(rc_store_commit(f->s), 0);
    rc_store_stats(f->s, &before);
    check_counts(f->s);

    /* Deletes, then large values until the batch is full. */
    assert_int_equal(delete_of(f->s, 0, HALF, 15), 15);
    assert_int_equal(delete_of(f->s, HALF, UINT64_MAX, 5), 5);
    memset(big, 'x', sizeof(big));
    for (i = 0; i < 1000 && err >= 0; i++) {
        snprintf(key, sizeof(key), "big-%d", i);
        err = rc_store_write(f->s, (const uint8_t *)key, strlen(key), big, sizeof(big), &v, 0, NOW0,
                             NULL);
    }
    assert_int_equal(err, RC_EFULL);
    assert_int_equal(rc_store_pending(f->s), 0);
    assert_int_equal(rc_store_commit(f->s), 0);
    rc_store_stats(f->s, &after);
    assert_int_equal(after.keys, before.keys);
    assert_int_equal(after.tombstones, before.tombstones);
    assert_int_equal(after.bytes, before.bytes);
    check_counts(f->s);
    expect(f->s, "small-1", "v", 1, 1, NOW0);
    expect(f->s, "small-4", NULL, 1, 1, NOW0);

    /* The range delete itself fails at the Nth allocation: the batch,
     * including a write made before it, is gone, the counters with it.
     * (SQLite's allocations; test_memkv fails the memory engine's.) */
    for (nfault = f->memory ? 10000 : 1; nfault < 10000; nfault++) {
        assert_int_equal(put(f->s, "extra", "e", 1, 1, 0, NOW0, NULL), 1);
        fault_arm(nfault);
        err = rc_store_delete_range(f->s, 0, UINT64_MAX, 25, &n);
        fault_arm(0);
        if (err == 0)
            break;
        assert_int_equal(err, RC_EIO);
        assert_int_equal(n, 0);
        assert_int_equal(rc_store_pending(f->s), 0);
        expect_absent(f->s, "extra", NOW0);
        rc_store_stats(f->s, &after);
        assert_int_equal(after.keys, before.keys);
        assert_int_equal(after.tombstones, before.tombstones);
        assert_int_equal(after.bytes, before.bytes);
        check_counts(f->s);
    }
    if (f->memory) {
        assert_int_equal(put(f->s, "extra", "e", 1, 1, 0, NOW0, NULL), 1);
        assert_int_equal(rc_store_delete_range(f->s, 0, UINT64_MAX, 25, &n), 0);
    } else {
        assert_true(nfault > 1 && nfault < 10000);
    }
    assert_int_equal(n, 25);
    check_counts(f->s);
    assert_int_equal(rc_store_commit(f->s), 0);
    check_counts(f->s);
    rc_store_stats(f->s, &after);
    assert_int_equal(after.keys + after.tombstones, 40 + 1 - 25);
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

static void test_open_errors(void **state)
{
    struct fx *f = *state;
    struct rc_store_opts o = f->opts;
    struct rc_store *s = (struct rc_store *)1;
    char dir[192], errbuf[256];
    struct stat sb;
    FILE *fp;

    /* Nested directories are created, private to the owner. */
    snprintf(dir, sizeof(dir), "%s/a/b/c", f->tmp);
    o.data_dir = dir;
    assert_int_equal(rc_store_open(&o, &s, errbuf, sizeof(errbuf)), 0);
    rc_store_close(s);
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);

    /* The data dir is a regular file. */
    snprintf(dir, sizeof(dir), "%s/file", f->tmp);
    fp = fopen(dir, "w");
    assert_non_null(fp);
    fclose(fp);
    errbuf[0] = '\0';
    assert_int_equal(rc_store_open(&o, &s, errbuf, sizeof(errbuf)), RC_EIO);
    assert_null(s);
    assert_true(strlen(errbuf) > 0);

    /* The database file is not a database. */
    snprintf(dir, sizeof(dir), "%s/junk", f->tmp);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(dir, sizeof(dir), "%s/junk/ringcache.db", f->tmp);
    fp = fopen(dir, "w");
    assert_non_null(fp);
    fputs("not an SQLite database, but long enough to have been one's header\n", fp);
    fclose(fp);
    snprintf(dir, sizeof(dir), "%s/junk", f->tmp);
    errbuf[0] = '\0';
    assert_int_equal(rc_store_open(&o, &s, errbuf, sizeof(errbuf)), RC_EIO);
    assert_null(s);
    assert_true(strlen(errbuf) > 0);

    o.data_dir = "";
    assert_int_equal(rc_store_open(&o, &s, NULL, 0), RC_EINVAL);
    assert_null(s);
}

/* The WAL is checkpointed by the store's thread, not on the writer's
 * path: after ~15 MB of commits a checkpoint has run, the WAL restarts
 * small at the next commit, and it never grew past the hard bound
 * (CKPT_HARD_PAGES, 16000 pages, plus the last batch: 500 random inserts
 * dirty ~1,300 pages). */
static void test_background_checkpoint(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats st;
    struct rc_version v = {1, 1};
    uint8_t value[1024];
    char key[32];
    int64_t max_wal = 0;
    int b, i, n, waited;

    memset(value, 'c', sizeof(value));
    for (b = 0; b < 30; b++) {
        for (i = 0; i < 500; i++) {
            n = snprintf(key, sizeof(key), "ckpt-%d-%d", b, i);
            v.hlc++;
            assert_int_equal(rc_store_write(f->s, (const uint8_t *)key, (size_t)n, value,
                                            sizeof(value), &v, 0, 1000, NULL),
                             1);
        }
        assert_int_equal(rc_store_commit(f->s), 0);
        rc_store_stats(f->s, &st);
        if (st.wal_bytes > max_wal)
            max_wal = st.wal_bytes;
    }
    for (waited = 0; waited < 5000; waited += 10) {
        rc_store_stats(f->s, &st);
        if (st.checkpoints > 0)
            break;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    printf("checkpoint: WAL peaked at %lld bytes during the writes, %lld checkpoints\n",
           (long long)max_wal, (long long)st.checkpoints);
    assert_true(st.checkpoints > 0);
    assert_true(max_wal > 0);
    assert_true(max_wal <= (int64_t)(16000 + 2000) * 4096);
    /* Once a checkpoint has caught up, the next commit starts the WAL over
     * (polled: the thread may still be copying). */
    for (waited = 0; waited < 10000; waited += 100) {
        v.hlc++;
        assert_int_equal(rc_store_write(f->s, (const uint8_t *)"tail", 4, value, 10, &v, 0, 1000,
                                        NULL),
                         1);
        assert_int_equal(rc_store_commit(f->s), 0);
        rc_store_stats(f->s, &st);
        if (st.wal_bytes < (int64_t)1000 * 4096)
            break;
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    printf("checkpoint: WAL peaked at %lld bytes, %lld checkpoints, %lld bytes after\n",
           (long long)max_wal, (long long)st.checkpoints, (long long)st.wal_bytes);
    assert_true(st.wal_bytes < (int64_t)1000 * 4096);
    rc_store_stats(f->s, &st);
    assert_int_equal(st.keys, 30 * 500 + 1);
}

static void test_schema_version(void **state)
{
    struct fx *f = *state;
    struct rc_store *s;
    char path[192], errbuf[256] = "";
    sqlite3 *db;

    rc_store_close(f->s);
    f->s = NULL;
    snprintf(path, sizeof(path), "%s/ringcache.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=3", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(rc_store_open(&f->opts, &s, errbuf, sizeof(errbuf)), RC_EIO);
    assert_null(s);
    assert_non_null(strstr(errbuf, "schema version 3"));
}

static int collect_keys(void *arg, const struct rc_entry *e)
{
    char *out = arg;

    strncat(out, (const char *)e->key, e->key_len);
    strcat(out, ",");
    return 0;
}

/* A database written by schema 1 (primary key `key`, index on token) is
 * migrated at open: every row, tombstone and expiry survives, point
 * lookups and ring-order scans work, the counters are right. */
static void test_migrate_v1(void **state)
{
    static const char *const keys[] = {"alpha", "beta", "gamma", "delta", "tomb"};
    struct fx *f = *state;
    struct rc_store *s = NULL;
    struct rc_store_stats st;
    struct rc_entry e;
    char path[192], sql[512], errbuf[256] = "", order[128] = "", want[128] = "";
    struct rc_version v = {200, 7};
    uint64_t toks[5];
    sqlite3 *db;
    int i, j;

    rc_store_close(f->s);
    f->s = NULL;
    snprintf(path, sizeof(path), "%s/ringcache.db", f->dir);
    unlink(path);
    snprintf(sql, sizeof(sql), "%s-wal", path);
    unlink(sql);
    snprintf(sql, sizeof(sql), "%s-shm", path);
    unlink(sql);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE kv(key BLOB PRIMARY KEY, token INTEGER NOT NULL,"
                     " hlc INTEGER NOT NULL, node INTEGER NOT NULL, expires INTEGER NOT NULL,"
                     " value BLOB) WITHOUT ROWID;"
                     "CREATE INDEX kv_token ON kv(token);"
                     "CREATE INDEX kv_expires ON kv(expires) WHERE expires > 0;"
                     "CREATE TABLE meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
                     "INSERT INTO meta VALUES('node_id', 42);"
                     "PRAGMA user_version=1;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    for (i = 0; i < 5; i++) {
        toks[i] = rc_ring_token(keys[i], strlen(keys[i]));
        snprintf(sql, sizeof(sql),
                 "INSERT INTO kv VALUES(CAST('%s' AS BLOB), %lld, %d, 7, %d, %s)", keys[i],
                 (long long)(toks[i] ^ 0x8000000000000000ull), 100 + i, i == 1 ? 9000000 : 0,
                 i == 4 ? "NULL" : "CAST('v' AS BLOB)");
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    sqlite3_close(db);

    assert_int_equal(rc_store_open(&f->opts, &s, errbuf, sizeof(errbuf)), 0);
    f->s = s;
    assert_int_equal(rc_store_get(s, (const uint8_t *)"gamma", 5, 1000, &e), 0);
    assert_int_equal(e.ver.hlc, 102);
    assert_int_equal(e.token, toks[2]);
    assert_int_equal(rc_store_get(s, (const uint8_t *)"beta", 4, 1000, &e), 0);
    assert_int_equal(e.expires_ms, 9000000);
    assert_int_equal(rc_store_get(s, (const uint8_t *)"tomb", 4, 1000, &e), 0);
    assert_true(e.tombstone);
    rc_store_stats(s, &st);
    assert_int_equal(st.keys, 4);
    assert_int_equal(st.tombstones, 1);
    /* The scan returns ring order. */
    assert_int_equal(rc_store_scan(s, 0, UINT64_MAX, 0, NULL, 0, 100, 1000, collect_keys, order),
                     5);
    for (i = 0; i < 5; i++) {
        int best = -1;

        for (j = 0; j < 5; j++)
            if (!strstr(want, keys[j]) && (best < 0 || toks[j] < toks[best]))
                best = j;
        strcat(want, keys[best]);
        strcat(want, ",");
    }
    assert_string_equal(order, want);
    /* Written to after the migration, and reopened: still version 2. */
    assert_int_equal(rc_store_write(s, (const uint8_t *)"alpha", 5, (const uint8_t *)"w", 1, &v,
                                    0, 1000, NULL),
                     1);
    assert_int_equal(rc_store_commit(s), 0);
    rc_store_close(s);
    f->s = NULL;
    assert_int_equal(rc_store_open(&f->opts, &s, errbuf, sizeof(errbuf)), 0);
    f->s = s;
    assert_int_equal(rc_store_get(s, (const uint8_t *)"alpha", 5, 1000, &e), 0);
    assert_int_equal(e.ver.hlc, 200);
}

static int count_only(void *arg, const struct rc_entry *e)
{
    return 0;
}

#define FAULT_KEYS 24

/* What the caller knows about each key's write. */
enum { KEY_NONE, KEY_PENDING, KEY_ACKED, KEY_FAILED };

/* A batch ended: its writes are stored if err == 0, else all failed. */
static void settle(int *keys, int err)
{
    int i;

    for (i = 0; i < FAULT_KEYS; i++)
        if (keys[i] == KEY_PENDING)
            keys[i] = err == 0 ? KEY_ACKED : KEY_FAILED;
}

/* Acknowledged writes are there (key i is a tombstone when i % 5 == 0),
 * failed ones are not, and the counters agree. */
static void check_keys(struct rc_store *s, const int *keys)
{
    struct rc_entry e;
    char key[16];
    int i, values = 0, tombs = 0, bytes = 0;

    for (i = 0; i < FAULT_KEYS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        if (keys[i] == KEY_FAILED) {
            expect_absent(s, key, NOW0);
            continue;
        }
        assert_int_equal(keys[i], KEY_ACKED);
        assert_int_equal(rc_store_get(s, (const uint8_t *)key, strlen(key), NOW0, &e), 0);
        assert_int_equal(e.tombstone, i % 5 == 0);
        tombs += i % 5 == 0;
        values += i % 5 != 0;
        bytes += i % 5 != 0 ? (int)strlen(key) + 5 : 0;
    }
    expect_stats(s, values, tombs, bytes);
}

/* One run of open / writes and reads / commits / purge / close with the
 * allocator armed to fail once. Returns 1 when the fault never fired. */
static int fault_run(struct fx *f, long n)
{
    struct rc_store *s = NULL;
    struct rc_entry e;
    int keys[FAULT_KEYS] = {0};
    char key[16];
    uint64_t digest, count, none;
    int i, err, purged;

    rm_rf(f->tmp);
    assert_int_equal(mkdir(f->tmp, 0700), 0);
    fault_arm(n);
    err = rc_store_open(&f->opts, &s, NULL, 0);
    if (err != 0) {
        fault_arm(0);
        assert_true(err == RC_ENOMEM || err == RC_EIO);
        assert_null(s);
        return 0;
    }
    for (i = 0; i < FAULT_KEYS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        keys[i] = KEY_PENDING;
        err = put(s, key, i % 5 ? "value" : NULL, 1, 1, i % 3 ? 0 : NOW0 + 100000, NOW0, NULL);
        assert_true(err == 1 || err == RC_EIO);
        if (err < 0)
            settle(keys, err);
        /* A failing read may take the batch with it; the next write or
         * commit must say so. */
        err = rc_store_get(s, (const uint8_t *)"k1", 2, NOW0, &e);
        assert_true(err == 0 || err == RC_ENOTFOUND || err == RC_EIO);
        if (i == 10 && (err = rc_store_meta_set(s, "m", 1)) < 0)
            settle(keys, err);
        if (i % 8 == 7)
            settle(keys, rc_store_commit(s));
    }
    err = rc_store_purge(s, NOW0 + 5, 5, &purged);
    if (err < 0)
        settle(keys, err);
    err = rc_store_scan(s, 0, UINT64_MAX, 0, NULL, 0, 100, NOW0, count_only, NULL);
    assert_true(err >= 0 || err == RC_EIO);
    err = rc_store_range_digest(s, 0, UINT64_MAX, NOW0, &digest, &count);
    assert_true(err == 0 || err == RC_EIO);
    err = rc_store_range_count(s, 0, HALF - 1, NOW0, &count);
    assert_true(err == 0 || err == RC_EIO);
    /* A range holding no key of the test: only its failure matters. */
    none = rc_ring_token("none", 4);
    err = rc_store_delete_range(s, none, none, 10, &purged);
    assert_true(err == 0 || err == RC_EIO);
    if (err < 0)
        settle(keys, err);
    settle(keys, rc_store_commit(s));
    fault_arm(0);
    check_keys(s, keys);
    rc_store_close(s);
    if (!f->memory) { /* the same after a restart */
        fx_open(f);
        check_keys(f->s, keys);
        rc_store_close(f->s);
        f->s = NULL;
    }
    return !fault_fired;
}

static void test_alloc_failures(void **state)
{
    struct fx *f = *state;
    long n;

    rc_store_close(f->s);
    f->s = NULL;
    for (n = 1; n < 100000; n++)
        if (fault_run(f, n))
            break;
    print_message("%ld allocation failures injected (%s)\n", n - 1, f->memory ? "memory" : "disk");
    assert_true(n > 10); /* the faults did hit SQLite */
    assert_true(n < 100000);
}

#define BOTH(fn)                                                                \
    cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, "disk"),     \
        cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, "memory")
#define DISK(fn) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, "disk")

int main(void)
{
    static sqlite3_mem_methods fault_mem;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_cmp),
        BOTH(test_put_get_del),
        BOTH(test_overwrite),
        BOTH(test_lww),
        BOTH(test_write_known),
        BOTH(test_ttl),
        BOTH(test_purge),
        BOTH(test_purge_bounded),
        BOTH(test_counters_model),
        DISK(test_restart),
        BOTH(test_meta),
        BOTH(test_pending),
        BOTH(test_binary_keys),
        BOTH(test_empty_value),
        BOTH(test_bad_args),
        BOTH(test_scan_pages),
        BOTH(test_scan_ranges),
        DISK(test_token_edges),
        BOTH(test_digest),
        BOTH(test_digest_known),
        BOTH(test_digest_split),
        BOTH(test_range_count),
        BOTH(test_delete_range),
        BOTH(test_delete_range_discard),
        BOTH(test_max_bytes),
        DISK(test_open_errors),
        DISK(test_schema_version),
        DISK(test_background_checkpoint),
        DISK(test_migrate_v1),
        /* A memory store runs no SQLite; its engine's allocation
         * failures are injected in test_memkv. */
        DISK(test_alloc_failures),
    };

    /* Must precede any other SQLite call in the process. */
    if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem) != SQLITE_OK)
        return 1;
    fault_mem = real_mem;
    fault_mem.xMalloc = fault_malloc;
    fault_mem.xRealloc = fault_realloc;
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &fault_mem) != SQLITE_OK)
        return 1;
    /* Without lookaside every small allocation goes through fault_malloc. */
    if (sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0) != SQLITE_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
