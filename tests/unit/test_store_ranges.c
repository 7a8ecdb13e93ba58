/*
 * test_store_ranges.c - the token-range half of the contract of store.h,
 * checked on every engine (store_engine.h): scans and their cursors,
 * digests, live counts and range deletes over inclusive ranges, the
 * signed boundary and the ends of the ring included.
 *
 * main() runs the list once per entry of fx_engines[] (store_fixture.c),
 * as a cmocka group named after the engine. Point operations are
 * test_store_contract.c.
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

/* ---- scans -------------------------------------------------------------- */

#define SCAN_KEYS 2000

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

/* Opens a second store on the next engine of fx_engines[] (in <tmp>/other
 * when it needs a directory), to compare two engines' answers. Caller
 * closes. */
static struct rc_store *open_other(struct fx *f)
{
    const struct fx_engine *other = &fx_engines[((size_t)(f->engine - fx_engines) + 1) % fx_nengines];
    struct rc_store_opts o = f->opts;
    struct rc_store *s = NULL;
    char dir[128];

    snprintf(dir, sizeof(dir), "%s/other", f->tmp);
    o.data_dir = other->data_dir != NULL ? other->data_dir : dir;
    o.write_behind = other->write_behind;
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
    if (f->engine->durable) { /* counters recomputed at open agree */
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

/* A batch holding range deletes that fails later brings every deleted
 * row back. */
static void test_delete_range_discard(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats before, after;
    struct rc_version v = ver(10, 1);
    uint8_t big[400];
    char key[16];
    int i, err = 0, n;

    f->opts.max_bytes = 64 * 1024;
    fx_reopen(f);
    put_small(f->s, 40);
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

    /* A range delete that succeeds (its failure at the Nth allocation is
     * test_store_sqlite.c's; test_memkv fails the memory engine's). */
    assert_int_equal(put(f->s, "extra", "e", 1, 1, 0, NOW0, NULL), 1);
    assert_int_equal(rc_store_delete_range(f->s, 0, UINT64_MAX, 25, &n), 0);
    assert_int_equal(n, 25);
    check_counts(f->s);
    assert_int_equal(rc_store_commit(f->s), 0);
    check_counts(f->s);
    rc_store_stats(f->s, &after);
    assert_int_equal(after.keys + after.tombstones, 40 + 1 - 25);
}


/* The cases run on every engine. */
#define CASE(fn) cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, fx_teardown, (void *)eng)

int main(void)
{
    int failed = 0;
    size_t i;

    for (i = 0; i < fx_nengines; i++) {
        const struct fx_engine *eng = &fx_engines[i];
        const struct CMUnitTest tests[] = {
            CASE(test_scan_pages),
            CASE(test_scan_ranges),
            CASE(test_digest),
            CASE(test_digest_known),
            CASE(test_digest_split),
            CASE(test_range_count),
            CASE(test_delete_range),
            CASE(test_delete_range_discard),
        };
        failed += cmocka_run_group_tests_name(eng->name, tests, NULL, NULL);
    }
    return failed;
}
