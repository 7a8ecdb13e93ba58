/*
 * test_store_sqlite.c - what only the SQLite engine of the store has:
 * persistence across a reopen (data, tombstones, metadata, counters),
 * rows planted with chosen tokens, data directory and file errors, the
 * background WAL checkpoint, the schema version check and migration,
 * eviction within the file (pages in use, rows with overflow pages,
 * budgets below the file's size) and faults of SQLite's allocator. The
 * engine contract itself is checked on every engine by
 * test_store_contract.c.
 *
 * The allocation-failure tests swap SQLite's allocator in main(), before
 * SQLite is first used, for one that fails the Nth allocation while armed.
 */
#include <pthread.h>
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

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct fx_engine sqlite_engine = {"sqlite", NULL, 1, 0};

/* ---- fault injection: fail the Nth SQLite allocation while armed ------- */

static sqlite3_mem_methods real_mem;
static long fault_at;    /* 0 = disarmed */
static long fault_count; /* allocations seen while armed */
static int fault_fired;

/* The thread that armed the fault: SQLite's allocator is process-wide,
 * and the store's background checkpointer allocates on its own thread at
 * moments that depend on the machine's load; a fault it took would make
 * the armed writes succeed by chance. Only the armed thread's allocations
 * count. */
static pthread_t fault_thread;

static int fault_now(void)
{
    if (fault_at == 0 || !pthread_equal(pthread_self(), fault_thread))
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
    fault_thread = pthread_self();
    fault_count = 0;
    if (n > 0)
        fault_fired = 0;
    fault_at = n;
}

/* The fixture's, disarming first: a failed assertion may have left the
 * fault armed. */
static int teardown(void **state)
{
    fault_arm(0);
    return fx_teardown(state);
}

/* ---- persistence ------------------------------------------------------- */

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

/* ---- rows planted with chosen tokens ------------------------------------ */

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

/* ---- limits and failures ------------------------------------------------ */

/* A batch whose range delete fails itself brings every deleted row back
 * (test_store_contract.c's test_delete_range_discard: one that fails
 * later). */
static void test_delete_range_faults(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats before, after;
    long nfault;
    int err, n;

    f->opts.max_bytes = 64 * 1024;
    fx_reopen(f);
    put_small(f->s, 40);
    assert_int_equal(rc_store_commit(f->s), 0);
    rc_store_stats(f->s, &before);
    check_counts(f->s);

    /* The range delete itself fails at the Nth allocation: the batch,
     * including a write made before it, is gone, the counters with it. */
    for (nfault = 1; nfault < 10000; nfault++) {
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
    assert_true(nfault > 1 && nfault < 10000);
    assert_int_equal(n, 25);
    check_counts(f->s);
    assert_int_equal(rc_store_commit(f->s), 0);
    check_counts(f->s);
    rc_store_stats(f->s, &after);
    assert_int_equal(after.keys + after.tombstones, 40 + 1 - 25);
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
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=4", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(rc_store_open(&f->opts, &s, errbuf, sizeof(errbuf)), RC_EIO);
    assert_null(s);
    assert_non_null(strstr(errbuf, "schema version 4"));
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
    fx_open(f); /* the same after a restart */
    check_keys(f->s, keys);
    rc_store_close(f->s);
    f->s = NULL;
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
    print_message("%ld allocation failures injected (disk)\n", n - 1);
    assert_true(n > 10); /* the faults did hit SQLite */
    assert_true(n < 100000);
}

/* ---- eviction ------------------------------------------------------------ */

/* Pages of the database file and pages in use (not on the freelist), as a
 * second connection sees what was committed. */
static void file_pages(const struct fx *f, int64_t *total, int64_t *used)
{
    char path[192];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t free_pages = -1;

    snprintf(path, sizeof(path), "%s/ringcache.db", f->dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT * FROM pragma_page_count(),"
                                        " pragma_freelist_count()",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    *total = sqlite3_column_int64(st, 0);
    free_pages = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    *used = *total - free_pages;
}

/* Values of 100 B to 10 KB: the larger ones need overflow pages, which
 * only whole free pages give, so eviction must empty leaves. Every write
 * still goes in, and the file stays within its cap. */
static void test_evict_mixed_sizes(void **state)
{
    struct fx *f = *state;
    static uint8_t val[10000];
    struct rc_version v = ver(10, 1);
    struct rc_store_stats st;
    int64_t total, used;
    uint64_t x = 7;
    char key[32];
    int i, n = 4000;

    f->opts.max_bytes = 1 << 20;
    f->opts.evict_policy = RC_EVICT_ALLKEYS_LRU;
    fx_reopen(f);
    memset(val, 'v', sizeof(val));
    for (i = 0; i < n; i++) {
        size_t len = 100 + lcg(&x) % (sizeof(val) - 100 + 1);

        fill_key(key, sizeof(key), "m", i);
        assert_int_equal(rc_store_write(f->s, (const uint8_t *)key, strlen(key), val, len, &v, 0,
                                        NOW0, NULL),
                         1);
        if (i % FILL_BATCH == FILL_BATCH - 1)
            assert_int_equal(rc_store_commit(f->s), 0);
    }
    assert_int_equal(rc_store_commit(f->s), 0);
    rc_store_stats(f->s, &st);
    assert_true(st.db_bytes <= f->opts.max_bytes);
    assert_true(st.evicted > 0 && st.keys + st.evicted == n);
    assert_true(st.bytes > f->opts.max_bytes / 2); /* the file is used, not emptied */
    file_pages(f, &total, &used);
    assert_true(total * 4096 <= f->opts.max_bytes);
    check_counts(f->s);
}

/* A budget below the file's size (set at run time, or a smaller cap at a
 * restart): the file cannot shrink, so what is bounded is the pages in
 * use. evict_step brings them under the budget; writes keep them there,
 * evicting as they go; under noeviction they fail with FULL. */
static void test_evict_below_file(void **state)
{
    struct fx *f = *state;
    int64_t budget = 128 << 10, pages = budget / 4096, total, used;
    struct rc_store_stats st;
    int got, steps = 0;

    f->opts.evict_policy = RC_EVICT_ALLKEYS_RANDOM;
    fx_reopen(f);
    fill(f->s, "e", 6000, 100, 10, 0);
    file_pages(f, &total, &used);
    assert_true(used > 4 * pages);

    assert_int_equal(rc_store_set_evict(f->s, budget, RC_EVICT_ALLKEYS_RANDOM), 0);
    do {
        assert_int_equal(rc_store_evict_step(f->s, NOW0, 100, &got), 0);
        assert_int_equal(rc_store_commit(f->s), 0);
    } while (got > 0 && ++steps < 10000);
    file_pages(f, &total, &used);
    assert_true(used <= pages);
    assert_true(used > pages / 2); /* evicted down to the budget, not far below */
    print_message("evicted to %lld of %lld pages in %d steps\n", (long long)used,
                  (long long)total, steps);

    /* Writes evict as they go: the pages in use stay at the budget. */
    fill(f->s, "more", 3000, 100, 10, 0);
    file_pages(f, &total, &used);
    assert_true(used <= pages + 2);
    check_counts(f->s);

    /* A restart with that cap finds the file too large: the same. */
    f->opts.max_bytes = budget / 2;
    fx_reopen(f);
    fill(f->s, "again", 500, 100, 10, 0);
    do {
        assert_int_equal(rc_store_evict_step(f->s, NOW0, 100, &got), 0);
        assert_int_equal(rc_store_commit(f->s), 0);
    } while (got > 0 && ++steps < 20000);
    file_pages(f, &total, &used);
    assert_true(used <= pages / 2);

    /* Under noeviction, a write past the budget fails (and takes its
     * batch); evict_step does nothing. */
    assert_int_equal(rc_store_set_evict(f->s, budget / 4, RC_EVICT_NOEVICTION), 0);
    assert_int_equal(rc_store_evict_step(f->s, NOW0, 100, &got), 0);
    assert_int_equal(got, 0);
    rc_store_stats(f->s, &st);
    assert_int_equal(put(f->s, "x", "y", 10, 1, 0, NOW0, NULL), RC_EFULL);
    assert_int_equal(rc_store_pending(f->s), 0);
    expect_stats(f->s, st.keys, st.tombstones, st.bytes);
    /* Lifting the budget lets it in. */
    assert_int_equal(rc_store_set_evict(f->s, 0, RC_EVICT_NOEVICTION), 0);
    assert_int_equal(put(f->s, "x", "y", 10, 1, 0, NOW0, NULL), 1);
    assert_int_equal(rc_store_commit(f->s), 0);
}

/* Allocation failures while writes evict: a failed write discards its
 * batch, evictions included, and the counters stay exact. */
static void test_evict_faults(void **state)
{
    struct fx *f = *state;
    struct rc_store_stats before, after;
    struct rc_version v = ver(11, 1);
    static const uint8_t val[500];
    char key[32];
    long nfault;
    int i, err = 0;

    f->opts.max_bytes = 128 << 10;
    f->opts.evict_policy = RC_EVICT_VOLATILE_TTL;
    fx_reopen(f);
    fill(f->s, "e", 3000, 100, 10, NOW0 + 60000);
    rc_store_stats(f->s, &before);
    assert_true(before.evicted > 0);
    for (nfault = 1; nfault < 10000; nfault++) {
        fault_arm(nfault);
        for (i = 0, err = 0; i < 20 && err >= 0; i++) {
            snprintf(key, sizeof(key), "x-%ld-%d", nfault, i);
            err = rc_store_write(f->s, (const uint8_t *)key, strlen(key), val, sizeof(val), &v,
                                 NOW0 + 60000, NOW0, NULL);
        }
        if (err >= 0)
            err = rc_store_commit(f->s);
        fault_arm(0);
        if (err >= 0)
            break;
        assert_int_equal(err, RC_EIO);
        assert_int_equal(rc_store_pending(f->s), 0);
        snprintf(key, sizeof(key), "x-%ld-0", nfault);
        expect_absent(f->s, key, NOW0);
        rc_store_stats(f->s, &after);
        assert_int_equal(after.keys, before.keys);
        assert_int_equal(after.bytes, before.bytes);
        check_counts(f->s);
    }
    assert_true(nfault > 1 && nfault < 10000);
    rc_store_stats(f->s, &after);
    assert_true(after.evicted > before.evicted);
    assert_true(after.db_bytes <= f->opts.max_bytes);
    check_counts(f->s);
}

#define SQLITE(fn)                                                                  \
    cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, teardown, (void *)&sqlite_engine)

int main(void)
{
    static sqlite3_mem_methods fault_mem;
    const struct CMUnitTest tests[] = {
        SQLITE(test_restart),
        SQLITE(test_token_edges),
        SQLITE(test_delete_range_faults),
        SQLITE(test_open_errors),
        SQLITE(test_schema_version),
        SQLITE(test_background_checkpoint),
        SQLITE(test_migrate_v1),
        SQLITE(test_alloc_failures),
        SQLITE(test_evict_mixed_sizes),
        SQLITE(test_evict_below_file),
        SQLITE(test_evict_faults),
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
