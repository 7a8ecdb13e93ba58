/*
 * store_fixture.h - what the store's unit-test binaries share: a store
 * opened on one engine in a fresh temporary directory, and the helpers
 * that write, read and check it. test_store_contract.c and
 * test_store_ranges.c run every case on each engine; test_store_sqlite.c
 * holds what only the SQLite engine has (files, WAL, schema, SQLite's
 * allocator).
 *
 * Time is always passed in explicitly (a fake clock), so TTL and tombstone
 * grace are exact. Include after <cmocka.h> and its prerequisites.
 */
#ifndef RC_TEST_STORE_FIXTURE_H
#define RC_TEST_STORE_FIXTURE_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

#define NOW0 INT64_C(1700000000000)
#define GRACE_MS 1000
#define HALF (UINT64_C(1) << 63) /* tokens below it are stored negative (store_sqlite.h tok_db) */

/* An engine the tests can open a store on. */
struct fx_engine {
    const char *name;     /* "memory", "sqlite", "write-behind": names the cmocka group */
    const char *data_dir; /* the store's data_dir, or NULL for <tmp>/data */
    int durable;          /* what was committed survives close and reopen */
    int write_behind;     /* rc_store_opts.write_behind */
};

/* The engines every contract case runs on (test_store_contract.c,
 * test_store_ranges.c): a new engine is one more line in store_fixture.c. */
extern const struct fx_engine fx_engines[];
extern const size_t fx_nengines;

struct fx {
    const struct fx_engine *engine;
    char tmp[64];  /* mkdtemp directory, removed by teardown */
    char dir[128]; /* data_dir: <tmp>/data (created by the store) or the engine's */
    struct rc_store_opts opts;
    struct rc_store *s;
};

/* cmocka setup: *state is the const struct fx_engine to open on; becomes
 * the struct fx. Teardown closes the store and removes the directory. */
int fx_setup(void **state);
int fx_teardown(void **state);
void fx_open(struct fx *f);
void fx_reopen(struct fx *f);
void rm_rf(const char *path);

struct rc_version ver(uint64_t hlc, uint64_t node);
int put(struct rc_store *s, const char *key, const char *val, uint64_t hlc, uint64_t node,
        int64_t exp, int64_t now, int *existed);
int del(struct rc_store *s, const char *key, uint64_t hlc, uint64_t node, int64_t now,
        int *existed);
/* Checks that key holds value val (NULL: a tombstone) at version (hlc, node). */
void expect(struct rc_store *s, const char *key, const char *val, uint64_t hlc, uint64_t node,
            int64_t now);
void expect_absent(struct rc_store *s, const char *key, int64_t now);
void expect_stats(struct rc_store *s, int64_t keys, int64_t tombstones, int64_t bytes);
/* A small deterministic generator (an LCG): 31 bits a call. */
uint64_t lcg(uint64_t *x);
/* Keys "small-0" .. "small-<n-1>" at version (1, 1): every 4th a tombstone,
 * the others "v". */
void put_small(struct rc_store *s, int n);

/* Writes per batch of fill(): a loop iteration's worth. */
#define FILL_BATCH 64
/* "prefix-i" into buf. */
int fill_key(char *buf, size_t len, const char *prefix, int i);
/* Writes keys prefix-0 .. prefix-<n-1>, values of vlen bytes (at most
 * 16 KiB), key i at version (hlc + i, 1) (later writes are newer, as the
 * clock makes them), expiring at exp (0: never), committing
 * every FILL_BATCH and at the end; every write and commit must succeed. */
void fill(struct rc_store *s, const char *prefix, int n, size_t vlen, uint64_t hlc, int64_t exp);

/* Scans. */
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

/* rc_store_scan_cb appending to a struct collector. */
int collect(void *arg, const struct rc_entry *e);
/* (token, key) order, keys as SQLite compares blobs. */
int cmp_scanned(const void *pa, const void *pb);
/* Scans [first, last] in pages of 37, appending to c; returns the count. */
int scan_range(struct rc_store *s, uint64_t first, uint64_t last, struct collector *c);

/* Token ranges. */

/* The counters agree with a scan of the whole ring (for stores holding no
 * expired values at NOW0: the scan skips them, the counters keep them). */
void check_counts(struct rc_store *s);
/* The digest term of one entry, computed here from its definition. */
uint64_t entry_term(const void *key, size_t key_len, uint64_t hlc, uint64_t node);
uint64_t digest_of(struct rc_store *s, uint64_t first, uint64_t last, int64_t now,
                   uint64_t *count);
uint64_t count_of(struct rc_store *s, uint64_t first, uint64_t last, int64_t now);
int delete_of(struct rc_store *s, uint64_t first, uint64_t last, int max_rows);

#endif
