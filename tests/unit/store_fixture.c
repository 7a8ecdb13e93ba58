/*
 * store_fixture.c - the store tests' shared fixture and helpers (see
 * store_fixture.h).
 */
#define _XOPEN_SOURCE 700 /* nftw */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store_fixture.h"

#include "err.h"
#include "ring.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

const struct fx_engine fx_engines[] = {
    {"memory", ":memory:", 0, 0},
    {"sqlite", NULL, 1, 0},
    {"write-behind", NULL, 1, 1},
};
const size_t fx_nengines = sizeof(fx_engines) / sizeof(fx_engines[0]);

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void fx_open(struct fx *f)
{
    char errbuf[256] = "";
    int err = rc_store_open(&f->opts, &f->s, errbuf, sizeof(errbuf));

    if (err != 0)
        fail_msg("rc_store_open: %s (%s)", rc_strerror(err), errbuf);
}

void fx_reopen(struct fx *f)
{
    rc_store_close(f->s);
    f->s = NULL;
    fx_open(f);
}

int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->engine = *state;
    strcpy(f->tmp, "/tmp/rc-test-store-XXXXXX");
    assert_non_null(mkdtemp(f->tmp));
    if (f->engine->data_dir != NULL)
        snprintf(f->dir, sizeof(f->dir), "%s", f->engine->data_dir);
    else
        snprintf(f->dir, sizeof(f->dir), "%s/data", f->tmp);
    f->opts.data_dir = f->dir;
    f->opts.tombstone_grace_ms = GRACE_MS;
    f->opts.cache_kib = 2048;
    f->opts.write_behind = f->engine->write_behind;
    fx_open(f);
    *state = f;
    return 0;
}

int fx_teardown(void **state)
{
    struct fx *f = *state;

    rc_store_close(f->s);
    rm_rf(f->tmp);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

struct rc_version ver(uint64_t hlc, uint64_t node)
{
    struct rc_version v = {hlc, node};
    return v;
}

int put(struct rc_store *s, const char *key, const char *val, uint64_t hlc, uint64_t node,
               int64_t exp, int64_t now, int *existed)
{
    struct rc_version v = ver(hlc, node);
    return rc_store_write(s, (const uint8_t *)key, strlen(key), (const uint8_t *)val,
                          val ? strlen(val) : 0, &v, exp, now, existed);
}

int del(struct rc_store *s, const char *key, uint64_t hlc, uint64_t node, int64_t now,
               int *existed)
{
    return put(s, key, NULL, hlc, node, 0, now, existed);
}

/* Checks that key holds value val (NULL: a tombstone) at version (hlc, node). */
void expect(struct rc_store *s, const char *key, const char *val, uint64_t hlc,
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

void expect_absent(struct rc_store *s, const char *key, int64_t now)
{
    struct rc_entry e;

    assert_int_equal(rc_store_get(s, (const uint8_t *)key, strlen(key), now, &e), RC_ENOTFOUND);
}

void expect_stats(struct rc_store *s, int64_t keys, int64_t tombstones, int64_t bytes)
{
    struct rc_store_stats st;

    rc_store_stats(s, &st);
    assert_int_equal(st.keys, keys);
    assert_int_equal(st.tombstones, tombstones);
    assert_int_equal(st.bytes, bytes);
    assert_true(st.db_bytes > 0);
}

uint64_t lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return *x >> 33;
}

void put_small(struct rc_store *s, int n)
{
    char key[24];
    int i;

    for (i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "small-%d", i);
        if (i % 4 == 0)
            assert_int_equal(del(s, key, 1, 1, NOW0, NULL), 1);
        else
            assert_int_equal(put(s, key, "v", 1, 1, 0, NOW0, NULL), 1);
    }
}

int fill_key(char *buf, size_t len, const char *prefix, int i)
{
    return snprintf(buf, len, "%s-%d", prefix, i);
}

void fill(struct rc_store *s, const char *prefix, int n, size_t vlen, uint64_t hlc, int64_t exp)
{
    static uint8_t val[16384];
    struct rc_version v;
    char key[32];
    int i;

    assert_true(vlen <= sizeof(val));
    memset(val, 'v', sizeof(val));
    for (i = 0; i < n; i++) {
        v = ver(hlc + (uint64_t)i, 1);
        fill_key(key, sizeof(key), prefix, i);
        val[0] = (uint8_t)i;
        assert_int_equal(rc_store_write(s, (const uint8_t *)key, strlen(key), val, vlen, &v, exp,
                                        NOW0, NULL),
                         1);
        if (i % FILL_BATCH == FILL_BATCH - 1)
            assert_int_equal(rc_store_commit(s), 0);
    }
    assert_int_equal(rc_store_commit(s), 0);
}

/* ---- scans and token ranges ----------------------------------------------- */

int collect(void *arg, const struct rc_entry *e)
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

int cmp_scanned(const void *pa, const void *pb)
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

/* Scans [first, last] in pages of 37, appending to c; returns the count. */
int scan_range(struct rc_store *s, uint64_t first, uint64_t last, struct collector *c)
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
void check_counts(struct rc_store *s)
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
uint64_t entry_term(const void *key, size_t key_len, uint64_t hlc, uint64_t node)
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

uint64_t digest_of(struct rc_store *s, uint64_t first, uint64_t last, int64_t now,
                          uint64_t *count)
{
    uint64_t d = 1, n = 1;

    assert_int_equal(rc_store_range_digest(s, first, last, now, &d, &n), 0);
    if (count != NULL)
        *count = n;
    return d;
}

uint64_t count_of(struct rc_store *s, uint64_t first, uint64_t last, int64_t now)
{
    uint64_t n = UINT64_MAX;

    assert_int_equal(rc_store_range_count(s, first, last, now, &n), 0);
    return n;
}

int delete_of(struct rc_store *s, uint64_t first, uint64_t last, int max_rows)
{
    int n = -1;

    assert_int_equal(rc_store_delete_range(s, first, last, max_rows, &n), 0);
    assert_true(n >= 0 && (n == 0 || n <= max_rows));
    return n;
}
