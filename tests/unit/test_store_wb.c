/*
 * test_store_wb.c - what only the write-behind engine has (server/store_wb.c):
 * the rows a flush writes (read back with SQLite directly), the warm
 * restart, evictions and range deletes reaching the disk, coalescing, what
 * a crash before a flush loses, and a schema-1 database loaded after its
 * migration. The store contract itself runs on this engine in
 * test_store_contract.c and test_store_ranges.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store_fixture.h"

#include "err.h"
#include "evict.h"
#include "ring.h"
#include "store.h"
#include "store_wb.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const struct fx_engine wb_engine = {"write-behind", NULL, 1, 1};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Commits until every change is on disk (the node's flush timer does the
 * same); fails after 5 s. */
static void settle(struct rc_store *s)
{
    int i;

    for (i = 0; i < 5000 && (rc_store_commit(s), rc_store_unflushed(s)); i++)
        sleep_ms(1);
    assert_false(rc_store_unflushed(s));
}

/* The store's file on a connection of its own. fold: with the journal
 * folded into kv first, as the direct engine's open reads the file
 * (flushes and snapshots append to the journal); 0: as it is. */
static sqlite3 *db_of(struct fx *f, int fold)
{
    char path[192];
    sqlite3 *db = NULL;

    snprintf(path, sizeof(path), "%s/ringcache.db", f->dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (fold)
        assert_int_equal(rc_wb_journal_fold_all(db, 0), 0);
    return db;
}

/* The first column of sql's first row on the file (-1: no row). */
static int64_t db_query(struct fx *f, const char *sql, int fold)
{
    sqlite3 *db = db_of(f, fold);
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int64_t db_int(struct fx *f, const char *sql)
{
    return db_query(f, sql, 1);
}

static int64_t rows_of(struct fx *f)
{
    return db_int(f, "SELECT count(*) FROM kv");
}

static int setup_wb(void **state)
{
    *state = (void *)&wb_engine;
    return fx_setup(state);
}

/* Reopens with other options (the fixture's, changed by the caller). */
static void reopen_with(struct fx *f, int64_t flush_ms)
{
    f->opts.flush_ms = flush_ms;
    fx_reopen(f);
}

/* A flush writes each row as memory holds it: value, version, expiry,
 * tombstones; nothing before the flush is due. */
static void test_flush_writes_rows(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats st;

    reopen_with(f, 200);
    assert_int_equal(put(f->s, "a", "alpha", 10, 3, NOW0 + 5000, NOW0, NULL), 1);
    assert_int_equal(put(f->s, "b", "beta", 11, 4, 0, NOW0, NULL), 1);
    assert_int_equal(del(f->s, "c", 12, 5, NOW0, NULL), 1);
    assert_int_equal(rc_store_commit(f->s), 0);
    /* Not due yet: memory has it, the disk not. */
    assert_int_equal(rows_of(f), 0);
    assert_true(rc_store_unflushed(f->s));
    rc_store_stats(f->s, &st);
    assert_int_equal(st.wb_dirty, 3);
    settle(f->s);
    assert_int_equal(rows_of(f), 3);
    assert_int_equal(db_int(f, "SELECT hlc * 1000 + node FROM kv WHERE key = CAST('a' AS BLOB)"),
                     10003);
    assert_int_equal(db_int(f, "SELECT expires FROM kv WHERE key = CAST('a' AS BLOB)"),
                     NOW0 + 5000);
    assert_int_equal(db_int(f, "SELECT length(value) FROM kv WHERE key = CAST('b' AS BLOB)"), 4);
    assert_int_equal(db_int(f, "SELECT value IS NULL FROM kv WHERE key = CAST('c' AS BLOB)"), 1);
    assert_int_equal(db_int(f, "SELECT expires FROM kv WHERE key = CAST('c' AS BLOB)"),
                     NOW0 + GRACE_MS);
    rc_store_stats(f->s, &st);
    assert_int_equal(st.wb_dirty, 0);
    assert_int_equal(st.wb_lag_ms, 0);
    assert_int_equal(st.wb_flushes, 1);
    assert_int_equal(st.wb_flush_rows, 3);
    assert_int_equal(st.wb_flush_errors, 0);
}

/* Close flushes; open loads values, tombstones, versions and expiry. */
static void test_reopen_loads(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats before;
    struct rc_entry e;

    reopen_with(f, 60000); /* nothing flushes before the close */
    assert_int_equal(put(f->s, "v", "value", 7, 2, NOW0 + 9000, NOW0, NULL), 1);
    assert_int_equal(put(f->s, "w", "", 8, 2, 0, NOW0, NULL), 1);
    assert_int_equal(del(f->s, "t", 9, 2, NOW0, NULL), 1);
    fill(f->s, "many", 500, 100, 100, 0);
    rc_store_stats(f->s, &before);
    assert_int_equal(rows_of(f), 0);
    fx_reopen(f);
    expect(f->s, "v", "value", 7, 2, NOW0);
    assert_int_equal(rc_store_get(f->s, (const uint8_t *)"v", 1, NOW0, &e), 0);
    assert_int_equal(e.expires_ms, NOW0 + 9000);
    expect(f->s, "w", "", 8, 2, NOW0);
    expect(f->s, "t", NULL, 9, 2, NOW0);
    assert_int_equal(rc_store_get(f->s, (const uint8_t *)"t", 1, NOW0, &e), 0);
    assert_int_equal(e.expires_ms, NOW0 + GRACE_MS); /* the purge time it had */
    expect_stats(f->s, 502, 1, before.bytes);
}

/* An entry evicted from memory is deleted from disk at the next flush:
 * the disk holds what memory holds. */
static void test_evicted_deleted_from_disk(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats st;

    f->opts.max_mem_bytes = 2 << 20;
    f->opts.evict_policy = RC_EVICT_ALLKEYS_LRU;
    reopen_with(f, 10);
    fill(f->s, "first", 2000, 200, 1, 0); /* fits: on disk */
    settle(f->s);
    rc_store_stats(f->s, &st);
    assert_int_equal(st.evicted, 0);
    assert_int_equal(rows_of(f), 2000);
    fill(f->s, "then", 20000, 200, 10000, 0); /* pushes the first ones out */
    settle(f->s);
    rc_store_stats(f->s, &st);
    assert_true(st.evicted > 2000);
    assert_int_equal(rows_of(f), st.keys + st.tombstones);
    /* And a restart under the same budget holds the same. */
    fx_reopen(f);
    rc_store_stats(f->s, &st);
    assert_int_equal(rows_of(f), st.keys + st.tombstones);
}

/* Range deletes and purges reach the disk. */
static void test_range_delete_and_purge_persisted(void **state)
{
    struct fx *f = *state;
    int deleted, purged;

    reopen_with(f, 10);
    fill(f->s, "r", 300, 10, 1, 0);
    assert_int_equal(put(f->s, "exp", "x", 1000, 1, NOW0 + 10, NOW0, NULL), 1);
    assert_int_equal(rc_store_commit(f->s), 0);
    settle(f->s);
    assert_int_equal(rows_of(f), 301);
    assert_int_equal(rc_store_purge(f->s, NOW0 + 20, 1000, &purged), 0);
    assert_int_equal(purged, 1);
    assert_int_equal(rc_store_commit(f->s), 0);
    settle(f->s);
    assert_int_equal(rows_of(f), 300);
    do {
        assert_int_equal(rc_store_delete_range(f->s, 0, HALF - 1, 50, &deleted), 0);
        assert_int_equal(rc_store_commit(f->s), 0);
    } while (deleted > 0);
    settle(f->s);
    assert_int_equal(db_int(f, "SELECT count(*) FROM kv WHERE token < 0"), 0);
    assert_int_equal(rows_of(f), (int64_t)count_of(f->s, 0, UINT64_MAX, NOW0));
}

/* 1000 writes of one key between two flushes are one row write. */
static void test_coalescing(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats st;
    char val[16];
    int i;

    reopen_with(f, 500);
    for (i = 0; i < 1000; i++) {
        snprintf(val, sizeof(val), "v%d", i);
        assert_int_equal(put(f->s, "hot", val, 10 + (uint64_t)i, 1, 0, NOW0, NULL), 1);
        assert_int_equal(rc_store_commit(f->s), 0);
    }
    settle(f->s);
    rc_store_stats(f->s, &st);
    assert_int_equal(st.wb_flushes, 1);
    assert_int_equal(st.wb_flush_rows, 1);
    assert_int_equal(db_int(f, "SELECT hlc FROM kv WHERE key = CAST('hot' AS BLOB)"), 1009);
}

/* More keys than a flush takes: close writes them all, a batch at a
 * time, and a restart loads them all. */
static void test_close_flushes_every_batch(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats st;

    f->opts.max_lag_ms = 3600000; /* no backpressure flush either */
    reopen_with(f, 60000);
    fill(f->s, "bulk", 140000, 20, 1, 0); /* three batches of at most 65536 */
    assert_int_equal(rows_of(f), 0);
    fx_reopen(f);
    assert_int_equal(rows_of(f), 140000);
    rc_store_stats(f->s, &st);
    assert_int_equal(st.keys, 140000);
}

/* Backpressure: with more waiting than the writer can write within
 * max_lag_ms, the store says so and a commit waits for the writer; once
 * the disk caught up, it no longer does. */
static void test_backpressure(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats st;

    f->opts.max_lag_ms = 50;
    reopen_with(f, 10);
    assert_false(rc_store_backlogged(f->s));
    fill(f->s, "bp", 40000, 20, 1, 0); /* commits every 64: some wait */
    rc_store_stats(f->s, &st);
    assert_true(st.wb_backlog_waits > 0);
    assert_true(st.wb_dirty > 0);
    settle(f->s);
    assert_false(rc_store_backlogged(f->s));
    rc_store_stats(f->s, &st);
    assert_int_equal(st.wb_dirty, 0);
    assert_true(st.wb_flushes >= 1);
    assert_int_equal(st.wb_flush_rows, 40000);
    assert_int_equal(rows_of(f), 40000);
}

/* A crash (the process ends without closing) loses the writes not yet
 * flushed, and only those. */
static void test_crash_loses_only_unflushed(void **state)
{
    struct fx *f = *state;
    int status;
    pid_t pid;

    rc_store_close(f->s);
    f->s = NULL;
    f->opts.flush_ms = 300;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rc_store *s = NULL;

        if (rc_store_open(&f->opts, &s, NULL, 0) != 0)
            _exit(2);
        put(s, "flushed", "yes", 1, 1, 0, NOW0, NULL);
        rc_store_commit(s);
        while (rc_store_commit(s), rc_store_unflushed(s))
            sleep_ms(1);
        put(s, "lost", "yes", 2, 1, 0, NOW0, NULL);
        rc_store_commit(s); /* acknowledged, not due for 300 ms */
        _exit(rc_store_unflushed(s) ? 0 : 3);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    fx_open(f);
    expect(f->s, "flushed", "yes", 1, 1, NOW0);
    expect_absent(f->s, "lost", NOW0);
}

/* A schema-1 database (before the (token, key) primary key) is migrated
 * and loaded; its metadata is read. */
static void test_migrates_v1(void **state)
{
    struct fx *f = *state;
    char path[192], sql[512];
    uint64_t id = 0;
    sqlite3 *db;
    int i;

    rc_store_close(f->s);
    f->s = NULL;
    rm_rf(f->dir);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/ringcache.db", f->dir);
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
    for (i = 0; i < 50; i++) {
        char key[16];

        snprintf(key, sizeof(key), "old-%d", i);
        snprintf(sql, sizeof(sql),
                 "INSERT INTO kv VALUES(CAST('%s' AS BLOB), %lld, %d, 7, 0, %s)", key,
                 (long long)(rc_ring_token(key, strlen(key)) ^ 0x8000000000000000ull), 100 + i,
                 i % 10 == 0 ? "NULL" : "CAST('v' AS BLOB)");
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    sqlite3_close(db);
    fx_open(f);
    expect(f->s, "old-3", "v", 103, 7, NOW0);
    expect(f->s, "old-10", NULL, 110, 7, NOW0);
    /* Values: old-1..9 (5 + 1 bytes), old-11..49 but the tens (6 + 1). */
    expect_stats(f->s, 45, 5, 9 * 6 + 36 * 7);
    assert_int_equal(rc_store_meta_get(f->s, "node_id", &id), 0);
    assert_int_equal(id, 42);
    assert_int_equal(db_int(f, "PRAGMA user_version"), 4); /* migrated through 2 and 3 */
}


/* Journal rows built by hand, as a flush builds them (store_wb.c). */
struct jbatch {
    struct wb_batch b;
    uint8_t buf[4096];
};

static void jrow(struct jbatch *j, const char *key, int kind, const char *val, uint64_t hlc)
{
    struct wb_row *r = (struct wb_row *)(j->buf + j->b.len);
    size_t klen = strlen(key), vlen = kind == WB_VALUE ? strlen(val) : 0;
    size_t size = sizeof(*r) + ((klen + vlen + 7) & ~(size_t)7);

    assert_true(j->b.len + size <= sizeof(j->buf));
    memset(r, 0, size);
    r->token = rc_ring_token(key, klen);
    r->key_len = (uint32_t)klen;
    r->value_len = (uint32_t)vlen;
    r->kind = (uint32_t)kind;
    r->hlc = hlc;
    r->node = 1;
    r->expires = kind == WB_TOMB ? NOW0 + GRACE_MS : 0;
    memcpy(r + 1, key, klen);
    memcpy((uint8_t *)(r + 1) + klen, val != NULL ? val : "", vlen);
    j->b.buf = j->buf;
    j->b.len += size;
    j->b.nrows++;
}

static void jappend(struct wb_journal *jr, struct jbatch *j)
{
    assert_int_equal(rc_wb_journal_append(jr, &j->b), 0);
    memset(j, 0, sizeof(*j));
}

/* A crash in the middle of a fold (some of its transactions committed,
 * the journal rows it covers still there) and flushes appended after it
 * began: the next open folds again and every key ends in its last state,
 * deletes included; the journal is then empty. */
static void test_crash_mid_fold(void **state)
{
    struct fx *f = *state;
    struct wb_journal jr;
    struct jbatch *j = calloc(1, sizeof(*j));
    sqlite3 *db;
    char path[192];
    int done = 0;

    assert_non_null(j);
    assert_int_equal(put(f->s, "k2", "disk", 5, 1, 0, NOW0, NULL), 1);
    rc_store_close(f->s); /* the table holds k2 = disk (folded at close) */
    f->s = NULL;
    snprintf(path, sizeof(path), "%s/ringcache.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(rc_wb_journal_open(db, &jr), 0);
    jrow(j, "k1", WB_VALUE, "one", 10);
    jrow(j, "k2", WB_VALUE, "two", 11);
    jrow(j, "k3", WB_TOMB, NULL, 12);
    jappend(&jr, j);
    jrow(j, "k1", WB_VALUE, "one-b", 20);
    jrow(j, "k2", WB_DELETE, NULL, 0);
    jrow(j, "k4", WB_VALUE, "four", 21);
    jappend(&jr, j);
    jrow(j, "k3", WB_VALUE, "three", 30);
    jappend(&jr, j);
    /* Two of the fold's transactions (one row each), then a flush that
     * came after the fold began, then the crash (the fold abandoned). */
    assert_int_equal(rc_wb_journal_fold_step(&jr, 1, &done), 0);
    assert_false(done);
    assert_int_equal(rc_wb_journal_fold_step(&jr, 1, &done), 0);
    assert_false(done);
    jrow(j, "k4", WB_VALUE, "four-b", 40);
    jrow(j, "k5", WB_TOMB, NULL, 41);
    jappend(&jr, j);
    rc_wb_journal_close(&jr);
    /* The open's fold, in folds of one journal row each (the cap that
     * keeps a fold's memory bounded): the same end states. */
    assert_int_equal(rc_wb_journal_fold_all(db, 1), 0);
    sqlite3_close(db);
    free(j);

    fx_open(f);
    expect(f->s, "k1", "one-b", 20, 1, NOW0);
    expect_absent(f->s, "k2", NOW0);
    expect(f->s, "k3", "three", 30, 1, NOW0);
    expect(f->s, "k4", "four-b", 40, 1, NOW0);
    expect(f->s, "k5", NULL, 41, 1, NOW0);
    assert_int_equal(db_int(f, "SELECT count(*) FROM wb_journal"), 0);
    assert_int_equal(rows_of(f), 4);
}

/* A model of what a store should hold: NKEYS keys, each absent, a value
 * or a tombstone at a version; the value is a function of its version. */
#define NKEYS 2000
struct model {
    uint8_t live[NKEYS]; /* 0: never written; 1: value; 2: tombstone */
    uint64_t hlc[NKEYS];
};

/* The value written at version hlc: 400-1400 bytes (large enough for a
 * snapshot of NKEYS keys to take several segments). */
static const char *model_val(uint64_t hlc, char *buf, size_t cap)
{
    size_t n = 400 + (size_t)(hlc * 7919 % 1000), i;

    assert_true(n < cap);
    for (i = 0; i < n; i++)
        buf[i] = (char)('a' + (hlc + i) % 26);
    buf[n] = '\0';
    return buf;
}

/* One round of random writes (4 in 5) and deletes of keys 0..nkeys-1,
 * committed; the model follows. The generator x and clock *hlc go on. */
static void model_round(struct rc_store *s, struct model *m, int nkeys, int ops, uint64_t *x,
                        uint64_t *hlc)
{
    char key[32], val[1500];
    int i, k;

    for (i = 0; i < ops; i++) {
        k = (int)(lcg(x) % (uint64_t)nkeys);
        snprintf(key, sizeof(key), "key-%d", k);
        ++*hlc;
        if (lcg(x) % 5 == 0) {
            if (s != NULL)
                assert_int_equal(del(s, key, *hlc, 1, NOW0, NULL), 1);
            m->live[k] = 2;
        } else {
            if (s != NULL)
                assert_int_equal(put(s, key, model_val(*hlc, val, sizeof(val)), *hlc, 1, 0,
                                     NOW0, NULL),
                                 1);
            m->live[k] = 1;
        }
        m->hlc[k] = *hlc;
        if (s != NULL && i % 20 == 19)
            assert_int_equal(rc_store_commit(s), 0);
    }
    if (s != NULL)
        assert_int_equal(rc_store_commit(s), 0);
}

static void model_check(struct rc_store *s, const struct model *m, int nkeys)
{
    char key[32], val[1500];
    int k;

    for (k = 0; k < nkeys; k++) {
        snprintf(key, sizeof(key), "key-%d", k);
        if (m->live[k] == 0)
            expect_absent(s, key, NOW0);
        else
            expect(s, key, m->live[k] == 1 ? model_val(m->hlc[k], val, sizeof(val)) : NULL,
                   m->hlc[k], 1, NOW0);
    }
}

/* The file read back by both engines: the store (open or not) is opened
 * with write-behind, which replays the journal into memory, then with the
 * direct engine, which folds it into kv; each must hold the model. The
 * direct engine's store is left open. */
static void model_check_both(struct fx *f, const struct model *m, int nkeys)
{
    if (f->s != NULL)
        rc_store_close(f->s);
    f->s = NULL;
    f->opts.write_behind = 1;
    fx_open(f);
    model_check(f->s, m, nkeys);
    rc_store_close(f->s);
    f->s = NULL;
    f->opts.write_behind = 0;
    fx_open(f);
    model_check(f->s, m, nkeys);
}

/* A figure of the file as it is, without folding the journal. */
static int64_t raw_count(struct fx *f, const char *sql)
{
    return db_query(f, sql, 0);
}

/* Commits until every change is flushed (snapshots may go on). */
static void flushed(struct rc_store *s)
{
    struct rc_store_stats st;
    int i;

    for (i = 0; i < 5000 && (rc_store_commit(s), rc_store_stats(s, &st), st.wb_dirty > 0); i++)
        sleep_ms(1);
    assert_int_equal(st.wb_dirty, 0);
}

/* Snapshotting all the time (a threshold of 64 KiB) under random writes
 * and deletes: what the file holds, read at the next open by either
 * engine, is exactly what memory held at the close; the snapshots did
 * run, and each dropped the journal before it (the journal stays within
 * a few snapshots of the data, not the sum of every flush). */
static void test_snapshots_under_load(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats st;
    struct model *m = calloc(1, sizeof(*m));
    uint64_t x = 12345, hlc = 1000;
    int64_t written = 0;
    int b;

    assert_non_null(m);
    f->opts.snapshot_bytes = 64 << 10;
    f->opts.flush_ms = 1;
    fx_reopen(f);
    for (b = 0; b < 60; b++) {
        model_round(f->s, m, 300, 40, &x, &hlc);
        written += 40 * 900;
        if (b % 10 == 0)
            settle(f->s);
    }
    settle(f->s);
    rc_store_stats(f->s, &st);
    assert_true(st.wb_snapshots >= 3);
    assert_int_equal(st.wb_snapshot_errors, 0);
    /* ~2 MB written over 300 keys (~270 KB of data): the journal holds
     * the last snapshot and what came after it. */
    assert_true(st.wb_journal_bytes < written / 2);
    assert_int_equal(raw_count(f, "SELECT coalesce(sum(length(data)), 0) FROM wb_journal"),
                     st.wb_journal_bytes);
    model_check_both(f, m, 300);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM wb_journal"), 0);
    free(m);
}

/* A file the direct engine wrote (rows in kv), opened with write-behind:
 * loaded; changed; the first snapshot to complete empties kv and the
 * journal before it; and the data is whole after, for both engines. */
static void test_snapshot_replaces_table(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats st;
    struct model *m = calloc(1, sizeof(*m));
    uint64_t x = 777, hlc = 5000;
    int i;

    assert_non_null(m);
    rc_store_close(f->s);
    f->s = NULL;
    f->opts.write_behind = 0;
    fx_open(f);
    model_round(f->s, m, NKEYS, 3000, &x, &hlc);
    rc_store_close(f->s);
    f->s = NULL;
    assert_true(raw_count(f, "SELECT count(*) FROM kv") > 1000);

    f->opts.write_behind = 1;
    f->opts.snapshot_bytes = 256 << 10;
    f->opts.flush_ms = 1;
    fx_open(f);
    model_check(f->s, m, NKEYS);
    for (i = 0; i < 50; i++) {
        model_round(f->s, m, NKEYS, 50, &x, &hlc);
        flushed(f->s);
    }
    settle(f->s);
    rc_store_stats(f->s, &st);
    assert_true(st.wb_snapshots >= 1);
    assert_int_equal(raw_count(f, "SELECT count(*) FROM kv"), 0);
    model_check_both(f, m, NKEYS);
    free(m);
}

/*
 * kill -9 in the middle of a snapshot: a child process writes rounds of
 * random changes, waits after each until it is flushed, tells the parent
 * which round is on disk, and exits without closing at the first moment
 * a snapshot is under way (some of its segments in the journal, not the
 * last). The parent replays the same rounds into a model: the file, read
 * by either engine, holds exactly the rounds told. A second child does
 * the same but dies just after a snapshot of several segments completed.
 */
static void crash_during(struct fx *f, int when_completed)
{
    struct model *m = calloc(1, sizeof(*m));
    uint64_t x = 4242, hlc = 90000;
    int fds[2], status, r, told = -1, got;
    pid_t pid;

    assert_non_null(m);
    if (f->s != NULL)
        rc_store_close(f->s);
    f->s = NULL;
    f->opts.write_behind = 1;
    f->opts.snapshot_bytes = 512 << 10;
    f->opts.flush_ms = 1;
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rc_store *s = NULL;
        struct rc_store_stats st;
        int64_t mid_at = -1; /* snapshots completed when one was first seen under way */

        close(fds[0]);
        if (rc_store_open(&f->opts, &s, NULL, 0) != 0)
            _exit(2);
        for (r = 0; r < 400; r++) {
            model_round(s, m, NKEYS, 100, &x, &hlc);
            do {
                rc_store_commit(s);
                rc_store_stats(s, &st);
            } while (st.wb_dirty > 0);
            if (write(fds[1], &r, sizeof(r)) != sizeof(r))
                _exit(3);
            /* After: a snapshot of several segments (one was seen under
             * way) completed, and no other begun. */
            if (when_completed ? mid_at >= 0 && st.wb_snapshots > mid_at && !st.wb_snapshotting
                               : st.wb_snapshotting)
                _exit(0);
            if (st.wb_snapshotting && mid_at < 0)
                mid_at = st.wb_snapshots;
        }
        _exit(4);
    }
    close(fds[1]);
    while (read(fds[0], &got, sizeof(got)) == sizeof(got))
        told = got;
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(told >= 0);
    for (r = 0; r <= told; r++)
        model_round(NULL, m, NKEYS, 100, &x, &hlc);
    model_check_both(f, m, NKEYS);
    free(m);
}

static void test_crash_mid_snapshot(void **state)
{
    crash_during(*state, 0);
}

static void test_crash_after_snapshot(void **state)
{
    crash_during(*state, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flush_writes_rows, setup_wb, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reopen_loads, setup_wb, fx_teardown),
        cmocka_unit_test_setup_teardown(test_evicted_deleted_from_disk, setup_wb, fx_teardown),
        cmocka_unit_test_setup_teardown(test_range_delete_and_purge_persisted, setup_wb,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_coalescing, setup_wb, fx_teardown),
        cmocka_unit_test_setup_teardown(test_close_flushes_every_batch, setup_wb, fx_teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, setup_wb, fx_teardown),
        cmocka_unit_test_setup_teardown(test_crash_loses_only_unflushed, setup_wb, fx_teardown),
        cmocka_unit_test_setup_teardown(test_migrates_v1, setup_wb, fx_teardown),
        cmocka_unit_test_setup_teardown(test_crash_mid_fold, setup_wb, fx_teardown),
        cmocka_unit_test_setup_teardown(test_snapshots_under_load, setup_wb, fx_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_replaces_table, setup_wb, fx_teardown),
        cmocka_unit_test_setup_teardown(test_crash_mid_snapshot, setup_wb, fx_teardown),
        cmocka_unit_test_setup_teardown(test_crash_after_snapshot, setup_wb, fx_teardown),
    };
    return cmocka_run_group_tests_name("store_wb", tests, NULL, NULL);
}
