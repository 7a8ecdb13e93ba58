/*
 * store.c - the node's key-value store on SQLite (see store.h).
 *
 * A ":memory:" store has nothing to make durable and runs on the native
 * engine of common/memkv.c instead (a hash probe per request, not a
 * B-tree insert); every entry point below hands it over first, and the
 * rest of this file is the SQLite store.
 *
 * One connection, every statement prepared at open and reused, so a request
 * costs a few B-tree lookups and no SQL parsing. Writes are grouped into
 * one transaction per event-loop iteration (rc_store_commit). The entry
 * counters are kept in memory as committed totals plus the pending batch's
 * delta, so stats stay exact when a batch is rolled back. Tokens are stored
 * with their top bit flipped so SQLite's signed order is the ring's
 * unsigned order and an inclusive token range [first, last] is one index
 * range, [tok_db(first), tok_db(last)].
 */
#include "store.h"

#include "err.h"
#include "memkv.h"
#include "ring.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

/* Bumped whenever the schema below changes; a database written by a newer
 * build is refused rather than misread. */
#define SCHEMA_VERSION 2

/* A busy database can only mean another process (an operator's sqlite3
 * shell, a backup) holds a lock: we are the only writer. Waiting stalls
 * the event loop, so wait briefly and fail the batch instead. */
#define BUSY_TIMEOUT_MS 1000

/*
 * WAL checkpoints (disk mode). SQLite's default checkpoints in the thread
 * that commits once the WAL passes 1000 pages: copying ~4 MB into the
 * database and two fsyncs, on the event loop, every few thousand writes
 * (the 11 ms on-disk p99 of the first benchmarks). Instead a thread with
 * its own connection runs PASSIVE checkpoints (they never block the
 * writer) once the WAL passes CKPT_PAGES after a commit. Under a steady
 * stream of commits the WAL cannot restart (see checkpoint_if_due), so
 * past CKPT_HARD_PAGES the committing thread copies the last frames
 * itself: the WAL stays under about 64 MiB (4 KiB pages), and the loop
 * pays for a checkpoint 16x less often, and for a fraction of its pages.
 */
#define CKPT_PAGES 1000
#define CKPT_HARD_PAGES 16000

/*
 * On-disk schema (user_version = SCHEMA_VERSION).
 *
 *   kv  WITHOUT ROWID, primary key (token, key): rows are stored in ring
 *       order, so a token-range scan (streaming, digests) reads consecutive
 *       pages, and a point lookup computes the token from the key (XXH3,
 *       ~20 ns) and searches the same b-tree. No secondary index on key or
 *       token is needed: every write touches one b-tree (plus kv_expires
 *       for rows that expire).
 *   | column  | type    | meaning                                          |
 *   |---------|---------|--------------------------------------------------|
 *   | token   | INTEGER | rc_ring_token(key) ^ 2^63 as int64 (see tok_db)  |
 *   | key     | BLOB    | the key bytes (any bytes, NUL included)          |
 *   | hlc     | INTEGER | version HLC timestamp, uint64 bit pattern        |
 *   | node    | INTEGER | version writer node id, uint64 bit pattern       |
 *   | expires | INTEGER | absolute Unix ms, 0 = never; tombstone: purge at |
 *   | value   | BLOB    | the value; NULL = tombstone                      |
 *
 *   kv_expires partial index on (expires) WHERE expires > 0: the purge queue.
 *
 *   Version 1 had primary key `key` and an index on token; every range
 *   scan then paid one b-tree search per row (3x slower streaming). It is
 *   migrated at open (migrate_v1).
 *
 *   meta(name TEXT PRIMARY KEY, value INTEGER): node id, incarnation, ...
 *              (uint64 bit patterns).
 */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS kv(token INTEGER NOT NULL, key BLOB NOT NULL,"
    " hlc INTEGER NOT NULL, node INTEGER NOT NULL, expires INTEGER NOT NULL,"
    " value BLOB, PRIMARY KEY(token, key)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS kv_expires ON kv(expires) WHERE expires > 0;"
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);";

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_GET,
    ST_PEEK,
    ST_PUT,
    ST_PURGE,
    ST_SCAN,
    ST_SCAN_AFTER,
    ST_DIGEST,
    ST_RANGE_COUNT,
    ST_DELETE_RANGE,
    ST_META_GET,
    ST_META_SET,
    ST_PAGE_COUNT,
    ST_EXPIRED_COUNT,
    ST_COUNT
};

/* ST_GET, ST_SCAN and ST_SCAN_AFTER share a column order (row_to_entry).
 * The two scans share parameter numbers; ST_SCAN leaves ?2 unused. The
 * cursor form bounds the index range by (token, key) directly, so paging
 * deep into a range does not rescan the rows before the cursor. */
static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_GET] = "SELECT key, token, hlc, node, expires, value FROM kv"
               " WHERE token = ?2 AND key = ?1",
    /* length() of a blob does not read its overflow pages; it is NULL for
     * a tombstone. */
    [ST_PEEK] = "SELECT hlc, node, expires, length(value) FROM kv"
                " WHERE token = ?2 AND key = ?1",
    [ST_PUT] = "INSERT OR REPLACE INTO kv(key, token, hlc, node, expires, value)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    /* The subquery walks the kv_expires index; RETURNING gives each row's
     * kind and size so the counters stay exact. The kind is "length(value)
     * is NULL", tested in C: SQLite 3.40.1 evaluates `value IS NULL` to 0
     * in DELETE ... RETURNING on a WITHOUT ROWID table. */
    [ST_PURGE] = "DELETE FROM kv WHERE (token, key) IN (SELECT token, key FROM kv"
                 " WHERE expires > 0"
                 " AND expires <= ?1 LIMIT ?2)"
                 " RETURNING length(key), length(value)",
    [ST_SCAN] = "SELECT key, token, hlc, node, expires, value FROM kv"
                " WHERE token >= ?1 AND token <= ?3"
                " AND (value IS NULL OR expires = 0 OR expires > +?4)"
                " ORDER BY token, key LIMIT ?5",
    [ST_SCAN_AFTER] = "SELECT key, token, hlc, node, expires, value FROM kv"
                      " WHERE (token, key) > (?1, ?2) AND token <= ?3"
                      " AND (value IS NULL OR expires = 0 OR expires > +?4)"
                      " ORDER BY token, key LIMIT ?5",
    /* `+?N` (not `?N`) in the expiry tests of the range statements: a bare
     * parameter compared with `expires` makes SQLite check whether the
     * partial index kv_expires (WHERE expires > 0) applies for each new
     * value, and re-prepare the statement on every call, since ?N is the
     * clock. The unary plus keeps it out of index planning.
     *
     * The range statements walk the primary key in order. `value IS NULL` in a SELECT's WHERE
     * (as in ST_SCAN) is evaluated correctly and, like length(), reads
     * only the record header, not the blob (the quirk above is specific
     * to DELETE ... RETURNING). */
    [ST_DIGEST] = "SELECT key, hlc, node FROM kv WHERE token BETWEEN ?1 AND ?2"
                  " AND (value IS NULL OR expires = 0 OR expires > +?3)",
    [ST_RANGE_COUNT] = "SELECT count(*) FROM kv WHERE token BETWEEN ?1 AND ?2"
                       " AND value IS NOT NULL AND (expires = 0 OR expires > +?3)",
    /* Like ST_PURGE, over a range of the primary key. */
    [ST_DELETE_RANGE] = "DELETE FROM kv WHERE (token, key) IN (SELECT token, key FROM kv"
                        " WHERE token BETWEEN ?1 AND ?2 LIMIT ?3)"
                        " RETURNING length(key), length(value)",
    [ST_META_GET] = "SELECT value FROM meta WHERE name = ?1",
    [ST_META_SET] = "INSERT OR REPLACE INTO meta(name, value) VALUES (?1, ?2)",
    [ST_PAGE_COUNT] = "PRAGMA page_count",
    /* Values expired and not yet purged, for the live count: a walk of
     * the kv_expires index up to now, i.e. over what the purge (which
     * walks the same index) has not removed yet. */
    [ST_EXPIRED_COUNT] = "SELECT count(*) FROM kv WHERE expires > 0 AND expires <= ?1"
                         " AND value IS NOT NULL",
};

struct store_counts {
    int64_t keys;
    int64_t tombstones;
    int64_t bytes;
};

/* Metadata of a memory store: a few names (node id, incarnation). */
#define MEM_META_MAX 16
#define MEM_META_NAME 32

struct mem_meta {
    char name[MEM_META_NAME];
    uint64_t value;
};

struct rc_store {
    /* Memory mode: the engine and its metadata; the SQLite fields after
     * them stay unused. */
    struct rc_memkv *mem;
    struct mem_meta meta[MEM_META_MAX];
    int nmeta;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    sqlite3_stmt *held;  /* statement whose row backs the last rc_store_get */
    int64_t grace_ms;
    int64_t page_size;
    uint64_t pending;    /* write calls in the open batch */
    int lost;            /* SQLite rolled the batch back by itself; not yet reported */
    struct store_counts committed;
    struct store_counts delta; /* of the open batch; dropped on rollback */
    int wal_pages;             /* WAL size after the last commit (on_wal) */
    /* The checkpointer (see CKPT_PAGES); ckpt_db NULL without one. The
     * mutex guards the fields after it. */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
    int ckpt_wanted;  /* a commit asked for a run the thread has not begun */
    int ckpt_running; /* the thread is copying */
    int ckpt_stop;
    int64_t checkpoints, ckpt_failures;
};

/* Bound to zero-length blobs: sqlite3_bind_blob(NULL) would bind NULL, and
 * sqlite3_column_blob() returns NULL for an empty blob. */
static const uint8_t empty_byte;

static int64_t tok_db(uint64_t token)
{
    return (int64_t)(token ^ 0x8000000000000000ull);
}

/* The token column of a key's row. */
static int64_t key_tok(const uint8_t *key, size_t key_len)
{
    return tok_db(rc_ring_token(key_len > 0 ? key : &empty_byte, key_len));
}

static uint64_t tok_ring(int64_t v)
{
    return (uint64_t)v ^ 0x8000000000000000ull;
}

static int is_expired(int64_t expires, int64_t now_ms)
{
    return expires > 0 && expires <= now_ms;
}

/* Disk full and the max_page_count cap both surface as SQLITE_FULL. */
static int map_err(int rc)
{
    return (rc & 0xff) == SQLITE_FULL ? RC_EFULL : RC_EIO;
}

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (errbuf == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

/* Reset after every use; clearing the bindings drops the SQLITE_STATIC
 * pointers to caller memory that is gone once we return. */
static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* The row of the last rc_store_get stays live (its pointers are handed
 * out) until the next call; every entry point lets go of it first. */
static void release(struct rc_store *s)
{
    if (s->held != NULL) {
        done(s->held);
        s->held = NULL;
    }
}

/* Called on entry to every function. Besides releasing the held row, it
 * notices a batch that SQLite rolled back by itself, which it may do
 * after an out-of-memory or I/O error in any statement, reads included.
 * The loss is reported by the next write or commit (take_lost): letting
 * a new batch start and commit would tell the caller that writes of the
 * lost batch were stored. */
static void enter(struct rc_store *s)
{
    release(s);
    if (s->pending > 0 && sqlite3_get_autocommit(s->db)) {
        memset(&s->delta, 0, sizeof(s->delta));
        s->pending = 0;
        s->lost = 1;
    }
}

static int take_lost(struct rc_store *s)
{
    if (!s->lost)
        return 0;
    s->lost = 0;
    return RC_EIO;
}

/* Runs a statement that returns no rows. */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    done(st);
    return rc == SQLITE_DONE ? 0 : map_err(rc);
}

static void bind_bytes(sqlite3_stmt *st, int i, const uint8_t *p, size_t len)
{
    sqlite3_bind_blob64(st, i, len > 0 ? p : &empty_byte, len, SQLITE_STATIC);
}

/* ---- batches ---------------------------------------------------------- */

/* Drops the open batch: the transaction if SQLite has not already rolled
 * it back itself (it may, after SQLITE_FULL), and the counter delta. */
static void discard_batch(struct rc_store *s)
{
    release(s);
    if (!sqlite3_get_autocommit(s->db))
        run(s->st[ST_ROLLBACK]);
    memset(&s->delta, 0, sizeof(s->delta));
    s->pending = 0;
    s->lost = 0; /* reported now, by the caller's error */
}

/* Every mutation goes through here first. */
static int join_batch(struct rc_store *s)
{
    int err;

    if (sqlite3_get_autocommit(s->db)) {
        err = run(s->st[ST_BEGIN]);
        if (err < 0) {
            discard_batch(s);
            return err;
        }
    }
    s->pending++;
    return 0;
}

static int setup_int(sqlite3 *db, const char *sql, int64_t *out);

/* sqlite3_wal_hook: after each commit, with the WAL's size in pages.
 * Replaces SQLite's own auto-checkpoint. */
static int on_wal(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct rc_store *s = arg;

    (void)db;
    (void)name;
    s->wal_pages = pages;
    return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    struct rc_store *s = arg;
    int rc;

    pthread_mutex_lock(&s->ckpt_mu);
    for (;;) {
        while (!s->ckpt_wanted && !s->ckpt_stop)
            pthread_cond_wait(&s->ckpt_cv, &s->ckpt_mu);
        if (s->ckpt_stop)
            break;
        /* Cleared now, not after the run: a commit during the run asks
         * for another one. */
        s->ckpt_wanted = 0;
        s->ckpt_running = 1;
        pthread_mutex_unlock(&s->ckpt_mu);
        rc = sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&s->ckpt_mu);
        s->ckpt_running = 0;
        if (rc == SQLITE_OK)
            s->checkpoints++;
        else
            s->ckpt_failures++;
        pthread_cond_broadcast(&s->ckpt_cv); /* a writer may wait for this one */
    }
    pthread_mutex_unlock(&s->ckpt_mu);
    return NULL;
}

static void checkpoint_if_due(struct rc_store *s)
{
    if (s->ckpt_db == NULL || s->wal_pages < CKPT_PAGES)
        return;
    if (s->wal_pages >= CKPT_HARD_PAGES) {
        /* Writes kept coming while the thread copied, so the WAL never
         * caught up and never restarted (it restarts at a write once every
         * frame is copied). Wait for the thread's run to end (it copies
         * only frames it saw at its start), then copy the rest here, with
         * no writer running: the next write starts the WAL over. */
        pthread_mutex_lock(&s->ckpt_mu);
        while (s->ckpt_running)
            pthread_cond_wait(&s->ckpt_cv, &s->ckpt_mu);
        pthread_mutex_unlock(&s->ckpt_mu);
        if (sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) ==
            SQLITE_OK) {
            pthread_mutex_lock(&s->ckpt_mu);
            s->checkpoints++;
            pthread_mutex_unlock(&s->ckpt_mu);
        }
        return;
    }
    pthread_mutex_lock(&s->ckpt_mu);
    if (!s->ckpt_wanted) {
        s->ckpt_wanted = 1;
        pthread_cond_broadcast(&s->ckpt_cv);
    }
    pthread_mutex_unlock(&s->ckpt_mu);
}

/* A second connection and the thread. Without them (no memory, no
 * thread), SQLite's own auto-checkpoint stays in place. */
static void start_checkpointer(struct rc_store *s)
{
    const char *path = sqlite3_db_filename(s->db, "main");
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

    if (path == NULL || path[0] == '\0')
        return;
    /* A connection learns that the database is in WAL mode (and opens the
     * WAL) at its first read; until then a checkpoint does nothing. */
    if (sqlite3_open_v2(path, &s->ckpt_db, flags, NULL) != SQLITE_OK ||
        setup_int(s->ckpt_db, "SELECT count(*) FROM sqlite_master", NULL) != SQLITE_OK) {
        sqlite3_close(s->ckpt_db);
        s->ckpt_db = NULL;
        return;
    }
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_cond_init(&s->ckpt_cv, NULL);
    if (pthread_create(&s->ckpt_thread, NULL, ckpt_main, s) != 0) {
        pthread_mutex_destroy(&s->ckpt_mu);
        pthread_cond_destroy(&s->ckpt_cv);
        sqlite3_close(s->ckpt_db);
        s->ckpt_db = NULL;
        return;
    }
    sqlite3_wal_hook(s->db, on_wal, s);
}

static void stop_checkpointer(struct rc_store *s)
{
    if (s->ckpt_db == NULL)
        return;
    pthread_mutex_lock(&s->ckpt_mu);
    s->ckpt_stop = 1;
    pthread_cond_signal(&s->ckpt_cv);
    pthread_mutex_unlock(&s->ckpt_mu);
    pthread_join(s->ckpt_thread, NULL);
    pthread_mutex_destroy(&s->ckpt_mu);
    pthread_cond_destroy(&s->ckpt_cv);
    sqlite3_close(s->ckpt_db);
    s->ckpt_db = NULL;
}

int rc_store_commit(struct rc_store *s)
{
    int err;

    if (s->mem != NULL) {
        rc_memkv_commit(s->mem);
        return 0;
    }
    enter(s);
    err = take_lost(s);
    if (err < 0 || sqlite3_get_autocommit(s->db))
        return err;
    err = run(s->st[ST_COMMIT]);
    if (err < 0) {
        discard_batch(s);
        return err;
    }
    s->committed.keys += s->delta.keys;
    s->committed.tombstones += s->delta.tombstones;
    s->committed.bytes += s->delta.bytes;
    memset(&s->delta, 0, sizeof(s->delta));
    s->pending = 0;
    checkpoint_if_due(s);
    return 0;
}

uint64_t rc_store_pending(const struct rc_store *s)
{
    if (s->mem != NULL)
        return rc_memkv_pending(s->mem);
    return s->pending;
}

/* ---- open / close ----------------------------------------------------- */

/* mkdir -p with mode 0700: the database holds every cached value. */
static int make_dirs(const char *dir, char *errbuf, size_t errlen)
{
    char *path = strdup(dir);
    char *p;
    int err = 0;

    if (path == NULL)
        return RC_ENOMEM;
    for (p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            set_err(errbuf, errlen, "cannot create data dir %s: %s", path, strerror(errno));
            err = RC_EIO;
            goto out;
        }
        *p = c;
        if (c == '\0')
            break;
    }
out:
    free(path);
    return err;
}

/* Runs one setup statement (open time only) and reads an integer from its
 * first row when out is not NULL. */
static int setup_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc != SQLITE_OK)
        goto out;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && out != NULL)
        *out = sqlite3_column_int64(st, 0);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        rc = SQLITE_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

static int open_db(struct rc_store *s, const char *data_dir, char *errbuf, size_t errlen)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    char *path = NULL;
    int rc, err;

    err = make_dirs(data_dir, errbuf, errlen);
    if (err < 0)
        return err;
    path = sqlite3_mprintf("%s/ringcache.db", data_dir);
    if (path == NULL)
        return RC_ENOMEM;
    rc = sqlite3_open_v2(path, &s->db, flags, NULL);
    if (rc != SQLITE_OK) {
        /* s->db may be NULL only when SQLite could not allocate it. */
        set_err(errbuf, errlen, "cannot open %s: %s", path,
                s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        sqlite3_free(path);
        return (rc & 0xff) == SQLITE_NOMEM ? RC_ENOMEM : RC_EIO;
    }
    sqlite3_free(path);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    return 0;
}

/*
 * synchronous=NORMAL: in WAL mode a commit is durable against a crash of
 * the process and the database is never corrupted; a power loss can lose
 * the last few group commits, which a cache (whose data also lives on
 * replicas) can afford, and it saves an fsync per commit.
 * temp_store=MEMORY: sorts and temporary indexes never touch disk.
 */
static int set_pragmas(struct rc_store *s, const struct rc_store_opts *opts, char *errbuf,
                       size_t errlen)
{
    sqlite3_stmt *st = NULL;
    char sql[64];
    int64_t pages;
    int rc;

    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        rc = sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0
                 ? SQLITE_OK
                 : SQLITE_CANTOPEN;
    sqlite3_finalize(st);
    if (rc == SQLITE_OK)
        rc = setup_int(s->db, "PRAGMA synchronous=NORMAL", NULL);
    if (rc == SQLITE_OK)
        rc = setup_int(s->db, "PRAGMA temp_store=MEMORY", NULL);
    if (rc == SQLITE_OK && opts->cache_kib > 0) {
        snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%lld", (long long)opts->cache_kib);
        rc = setup_int(s->db, sql, NULL);
    }
    if (rc == SQLITE_OK)
        rc = setup_int(s->db, "PRAGMA page_size", &s->page_size);
    if (rc == SQLITE_OK && opts->max_bytes > 0) {
        /* SQLite never lowers the cap below the current size. The cap
         * bounds the database file; the WAL, checkpointed back into it
         * every 1000 pages by default, comes on top. */
        pages = opts->max_bytes / s->page_size;
        if (pages < 1)
            pages = 1;
        snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%lld", (long long)pages);
        rc = setup_int(s->db, sql, NULL);
    }
    if (rc != SQLITE_OK)
        set_err(errbuf, errlen, "cannot configure database: %s",
                rc == SQLITE_CANTOPEN ? "WAL mode unavailable" : sqlite3_errmsg(s->db));
    return rc;
}

/* Checked before anything is changed: a database from a newer build is
 * left exactly as it was (not even switched to WAL). */
static int check_version(struct rc_store *s, int64_t *out, char *errbuf, size_t errlen)
{
    int64_t version = 0;
    int rc = setup_int(s->db, "PRAGMA user_version", &version);

    *out = version;
    if (rc != SQLITE_OK) {
        set_err(errbuf, errlen, "cannot read database: %s", sqlite3_errmsg(s->db));
        return rc;
    }
    if (version > SCHEMA_VERSION) {
        set_err(errbuf, errlen, "database schema version %lld is newer than this build's (%d)",
                (long long)version, SCHEMA_VERSION);
        return SQLITE_ERROR;
    }
    return SQLITE_OK;
}

/*
 * Schema 1 -> 2 in one transaction: the rows are copied in (token, key)
 * order into the new table, which then takes the old one's name. A crash
 * midway leaves version 1 untouched, to be migrated at the next open. It
 * costs one pass over the data (about 1 s per million small rows).
 */
static int migrate_v1(struct rc_store *s, char *errbuf, size_t errlen)
{
    static const char sql[] =
        "BEGIN IMMEDIATE;"
        "CREATE TABLE kv_v2(token INTEGER NOT NULL, key BLOB NOT NULL,"
        " hlc INTEGER NOT NULL, node INTEGER NOT NULL, expires INTEGER NOT NULL,"
        " value BLOB, PRIMARY KEY(token, key)) WITHOUT ROWID;"
        "INSERT INTO kv_v2(token, key, hlc, node, expires, value)"
        " SELECT token, key, hlc, node, expires, value FROM kv ORDER BY token, key;"
        "DROP TABLE kv;"
        "ALTER TABLE kv_v2 RENAME TO kv;"
        "CREATE INDEX kv_expires ON kv(expires) WHERE expires > 0;"
        "PRAGMA user_version=2;"
        "COMMIT;";
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK) {
        set_err(errbuf, errlen, "cannot migrate database from schema 1: %s",
                sqlite3_errmsg(s->db));
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

/* Creates the schema (a no-op when it exists) in one transaction. */
static int init_schema(struct rc_store *s, char *errbuf, size_t errlen)
{
    char sql[48];
    int rc;

    snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", SCHEMA_VERSION);
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        set_err(errbuf, errlen, "cannot create schema: %s", sqlite3_errmsg(s->db));
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

/* One pass over the table at open; afterwards the counters are maintained
 * incrementally. */
static int load_counts(struct rc_store *s)
{
    static const char sql[] = "SELECT count(value), count(*) - count(value),"
                              " coalesce(sum(length(key) + length(value)), 0) FROM kv";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        s->committed.keys = sqlite3_column_int64(st, 0);
        s->committed.tombstones = sqlite3_column_int64(st, 1);
        s->committed.bytes = sqlite3_column_int64(st, 2);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Counters, then every statement the store will ever run. */
static int load_state(struct rc_store *s, char *errbuf, size_t errlen)
{
    int i, rc = load_counts(s);

    for (i = 0; i < ST_COUNT && rc == SQLITE_OK; i++)
        rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
    if (rc != SQLITE_OK)
        set_err(errbuf, errlen, "cannot load database: %s", sqlite3_errmsg(s->db));
    return rc;
}

static void free_store(struct rc_store *s)
{
    int i;

    if (s->mem != NULL) {
        rc_memkv_free(s->mem);
        free(s);
        return;
    }
    stop_checkpointer(s);
    for (i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s);
}

int rc_store_global_init(void)
{
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK ? 0 : RC_EIO;
}

int rc_store_open(const struct rc_store_opts *opts, struct rc_store **out, char *errbuf,
                  size_t errlen)
{
    struct rc_store *s;
    int64_t version = 0;
    int rc, err;

    *out = NULL;
    if (opts->data_dir == NULL || opts->data_dir[0] == '\0' || opts->tombstone_grace_ms < 0 ||
        opts->max_bytes < 0 || opts->cache_kib < 0) {
        set_err(errbuf, errlen, "invalid store options");
        return RC_EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return RC_ENOMEM;
    s->grace_ms = opts->tombstone_grace_ms;
    if (strcmp(opts->data_dir, ":memory:") == 0) {
        err = rc_memkv_new(opts->max_bytes, opts->tombstone_grace_ms, &s->mem);
        if (err < 0)
            free(s);
        else
            *out = s;
        return err;
    }
    err = open_db(s, opts->data_dir, errbuf, errlen);
    if (err < 0)
        goto out;
    rc = check_version(s, &version, errbuf, errlen);
    if (rc == SQLITE_OK)
        rc = set_pragmas(s, opts, errbuf, errlen);
    if (rc == SQLITE_OK && version == 1)
        rc = migrate_v1(s, errbuf, errlen);
    if (rc == SQLITE_OK)
        rc = init_schema(s, errbuf, errlen);
    if (rc == SQLITE_OK)
        rc = load_state(s, errbuf, errlen);
    if (rc == SQLITE_OK)
        start_checkpointer(s);
    if (rc != SQLITE_OK)
        err = (rc & 0xff) == SQLITE_NOMEM ? RC_ENOMEM : RC_EIO;
out:
    if (err < 0)
        free_store(s);
    else
        *out = s;
    return err;
}

void rc_store_close(struct rc_store *s)
{
    if (s == NULL)
        return;
    /* A failed commit has already discarded the batch; nobody is left to
     * report it to. (A memory store just goes away.) */
    if (s->mem == NULL)
        rc_store_commit(s);
    free_store(s);
}

/* ---- memory mode: conversions for common/memkv.c ------------------------ */

static void mem_to_entry(const struct rc_memkv_entry *me, struct rc_entry *e)
{
    e->key = me->key_len > 0 ? me->key : &empty_byte;
    e->key_len = me->key_len;
    e->token = me->token;
    e->tombstone = me->value == NULL;
    e->value = e->tombstone ? NULL : me->value_len > 0 ? me->value : &empty_byte;
    e->value_len = me->value_len;
    e->ver.hlc = me->hlc;
    e->ver.node = me->node;
    e->expires_ms = me->expires_ms;
}

struct mem_scan {
    rc_store_scan_cb cb;
    void *arg;
};

static int mem_scan_cb(void *arg, const struct rc_memkv_entry *me)
{
    struct mem_scan *ms = arg;
    struct rc_entry e;

    mem_to_entry(me, &e);
    return ms->cb(ms->arg, &e);
}

static struct mem_meta *mem_meta_find(struct rc_store *s, const char *name)
{
    int i;

    for (i = 0; i < s->nmeta; i++)
        if (strcmp(s->meta[i].name, name) == 0)
            return &s->meta[i];
    return NULL;
}

/* ---- reads ------------------------------------------------------------ */

/* Fills e from the current row of ST_GET / ST_SCAN*; pointers borrowed
 * from the statement. */
static void row_to_entry(sqlite3_stmt *st, struct rc_entry *e)
{
    e->key = sqlite3_column_blob(st, 0);
    e->key_len = (size_t)sqlite3_column_bytes(st, 0);
    if (e->key == NULL)
        e->key = &empty_byte;
    e->token = tok_ring(sqlite3_column_int64(st, 1));
    e->ver.hlc = (uint64_t)sqlite3_column_int64(st, 2);
    e->ver.node = (uint64_t)sqlite3_column_int64(st, 3);
    e->expires_ms = sqlite3_column_int64(st, 4);
    e->tombstone = sqlite3_column_type(st, 5) == SQLITE_NULL;
    e->value = NULL;
    e->value_len = 0;
    if (!e->tombstone) {
        e->value = sqlite3_column_blob(st, 5);
        e->value_len = (size_t)sqlite3_column_bytes(st, 5);
        if (e->value == NULL)
            e->value = &empty_byte;
    }
}

int rc_store_get(struct rc_store *s, const uint8_t *key, size_t key_len, int64_t now_ms,
                 struct rc_entry *e)
{
    sqlite3_stmt *st = s->st[ST_GET];
    struct rc_memkv_entry me;
    int rc;

    if (key == NULL && key_len > 0)
        return RC_EINVAL;
    if (s->mem != NULL) {
        rc = rc_memkv_get(s->mem, rc_ring_token(key_len > 0 ? key : &empty_byte, key_len), key,
                          key_len, now_ms, &me);
        if (rc == 0)
            mem_to_entry(&me, e);
        return rc;
    }
    enter(s);
    bind_bytes(st, 1, key, key_len);
    sqlite3_bind_int64(st, 2, key_tok(key, key_len));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        row_to_entry(st, e);
        if (!e->tombstone && is_expired(e->expires_ms, now_ms)) {
            done(st);
            return RC_ENOTFOUND;
        }
        s->held = st; /* keeps e's pointers valid until the next call */
        return 0;
    }
    done(st);
    return rc == SQLITE_DONE ? RC_ENOTFOUND : map_err(rc);
}

int rc_store_scan(struct rc_store *s, uint64_t first, uint64_t last, uint64_t after_token,
                  const uint8_t *after_key, size_t after_key_len, int limit, int64_t now_ms,
                  rc_store_scan_cb cb, void *arg)
{
    sqlite3_stmt *st;
    struct rc_entry e;
    struct mem_scan ms = {cb, arg};
    int n = 0, rc;

    if (first > last)
        return RC_EINVAL;
    if (s->mem != NULL)
        return rc_memkv_scan(s->mem, first, last, after_token, after_key, after_key_len, limit,
                             now_ms, mem_scan_cb, &ms);
    enter(s);
    if (limit <= 0)
        return 0;
    /* A cursor below first excludes nothing that token >= first does not;
     * one at or above it bounds the scan from below by itself. */
    if (after_key != NULL && after_token >= first) {
        st = s->st[ST_SCAN_AFTER];
        sqlite3_bind_int64(st, 1, tok_db(after_token));
        bind_bytes(st, 2, after_key, after_key_len);
    } else {
        st = s->st[ST_SCAN];
        sqlite3_bind_int64(st, 1, tok_db(first));
    }
    sqlite3_bind_int64(st, 3, tok_db(last));
    sqlite3_bind_int64(st, 4, now_ms);
    sqlite3_bind_int(st, 5, limit);
    /* cb must not call back into the store: its entry points reset the
     * statement this loop is stepping. */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        row_to_entry(st, &e);
        n++;
        if (cb(arg, &e) != 0 || n == limit) {
            rc = SQLITE_DONE;
            break;
        }
    }
    done(st);
    return rc == SQLITE_DONE ? n : map_err(rc);
}

/* Adds the current row of ST_DIGEST (key, hlc, node) to the digest, in
 * the format both engines share. */
static void digest_row(sqlite3_stmt *st, XXH3_state_t *h, uint64_t *digest)
{
    *digest ^= rc_memkv_entry_digest(h, sqlite3_column_blob(st, 0),
                                     (size_t)sqlite3_column_bytes(st, 0),
                                     (uint64_t)sqlite3_column_int64(st, 1),
                                     (uint64_t)sqlite3_column_int64(st, 2));
}

int rc_store_range_digest(struct rc_store *s, uint64_t first, uint64_t last, int64_t now_ms,
                          uint64_t *digest, uint64_t *count)
{
    sqlite3_stmt *st = s->st[ST_DIGEST];
    XXH3_state_t *h;
    uint64_t d = 0, n = 0;
    int rc;

    *digest = 0;
    *count = 0;
    if (first > last)
        return RC_EINVAL;
    if (s->mem != NULL) {
        rc_memkv_range_digest(s->mem, first, last, now_ms, digest, count);
        return 0;
    }
    enter(s);
    h = XXH3_createState();
    if (h == NULL)
        return RC_ENOMEM;
    sqlite3_bind_int64(st, 1, tok_db(first));
    sqlite3_bind_int64(st, 2, tok_db(last));
    sqlite3_bind_int64(st, 3, now_ms);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        digest_row(st, h, &d);
        n++;
    }
    done(st);
    XXH3_freeState(h);
    if (rc != SQLITE_DONE)
        return map_err(rc);
    *digest = d;
    *count = n;
    return 0;
}

int rc_store_range_count(struct rc_store *s, uint64_t first, uint64_t last, int64_t now_ms,
                         uint64_t *count)
{
    sqlite3_stmt *st = s->st[ST_RANGE_COUNT];
    int rc;

    *count = 0;
    if (first > last)
        return RC_EINVAL;
    if (s->mem != NULL) {
        *count = rc_memkv_range_count(s->mem, first, last, now_ms);
        return 0;
    }
    enter(s);
    sqlite3_bind_int64(st, 1, tok_db(first));
    sqlite3_bind_int64(st, 2, tok_db(last));
    sqlite3_bind_int64(st, 3, now_ms);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *count = (uint64_t)sqlite3_column_int64(st, 0);
    done(st);
    return rc == SQLITE_ROW ? 0 : map_err(rc);
}

void rc_store_stats(struct rc_store *s, struct rc_store_stats *st)
{
    sqlite3_stmt *pc = s->st[ST_PAGE_COUNT];
    struct rc_memkv_stats ms;

    if (s->mem != NULL) {
        rc_memkv_stats(s->mem, &ms);
        st->keys = ms.keys;
        st->tombstones = ms.tombstones;
        st->bytes = ms.bytes;
        st->db_bytes = ms.mem_bytes;
        st->wal_bytes = 0;
        st->checkpoints = 0;
        return;
    }
    enter(s);
    st->db_bytes = 0;
    if (sqlite3_step(pc) == SQLITE_ROW)
        st->db_bytes = sqlite3_column_int64(pc, 0) * s->page_size;
    st->wal_bytes = (int64_t)s->wal_pages * s->page_size;
    st->checkpoints = 0;
    if (s->ckpt_db != NULL) {
        pthread_mutex_lock(&s->ckpt_mu);
        st->checkpoints = s->checkpoints;
        pthread_mutex_unlock(&s->ckpt_mu);
    }
    done(pc);
    enter(s); /* the pragma may have failed and taken the batch with it */
    st->keys = s->committed.keys + s->delta.keys;
    st->tombstones = s->committed.tombstones + s->delta.tombstones;
    st->bytes = s->committed.bytes + s->delta.bytes;
}

int64_t rc_store_live_keys(struct rc_store *s, int64_t now_ms)
{
    sqlite3_stmt *st = s->st[ST_EXPIRED_COUNT];
    int64_t expired = 0;

    if (s->mem != NULL)
        return rc_memkv_live_keys(s->mem, now_ms);
    enter(s);
    sqlite3_bind_int64(st, 1, now_ms);
    if (sqlite3_step(st) == SQLITE_ROW)
        expired = sqlite3_column_int64(st, 0);
    done(st);
    enter(s); /* a failed step may have taken the batch with it */
    return s->committed.keys + s->delta.keys - expired;
}

/* ---- writes ----------------------------------------------------------- */

/* What a write replaces; found = 0 when the key has no row. */
struct old_row {
    int found;
    int tombstone;
    int expired;
    int64_t value_len;
    struct rc_version ver;
};

static int peek(struct rc_store *s, const uint8_t *key, size_t key_len, int64_t token,
                int64_t now_ms, struct old_row *old)
{
    sqlite3_stmt *st = s->st[ST_PEEK];
    int rc;

    memset(old, 0, sizeof(*old));
    bind_bytes(st, 1, key, key_len);
    sqlite3_bind_int64(st, 2, token);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        old->found = 1;
        old->ver.hlc = (uint64_t)sqlite3_column_int64(st, 0);
        old->ver.node = (uint64_t)sqlite3_column_int64(st, 1);
        old->tombstone = sqlite3_column_type(st, 3) == SQLITE_NULL;
        old->expired = !old->tombstone && is_expired(sqlite3_column_int64(st, 2), now_ms);
        old->value_len = sqlite3_column_int64(st, 3);
        rc = SQLITE_DONE;
    }
    done(st);
    return rc == SQLITE_DONE ? 0 : map_err(rc);
}

static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

int rc_version_cmp(const struct rc_version *a, const struct rc_version *b)
{
    if (a->hlc != b->hlc)
        return a->hlc < b->hlc ? -1 : 1;
    if (a->node != b->node)
        return a->node < b->node ? -1 : 1;
    return 0;
}

static int put_row(struct rc_store *s, const uint8_t *key, size_t key_len, int64_t token,
                   const uint8_t *value, size_t value_len, const struct rc_version *ver,
                   int64_t expires_ms)
{
    sqlite3_stmt *st = s->st[ST_PUT];

    bind_bytes(st, 1, key, key_len);
    sqlite3_bind_int64(st, 2, token);
    sqlite3_bind_int64(st, 3, (int64_t)ver->hlc);
    sqlite3_bind_int64(st, 4, (int64_t)ver->node);
    sqlite3_bind_int64(st, 5, expires_ms);
    if (value != NULL)
        bind_bytes(st, 6, value, value_len);
    else
        sqlite3_bind_null(st, 6);
    return run(st);
}

/* Moves the batch's counter delta from the old row to the new one. */
static void account(struct store_counts *d, const struct old_row *old, size_t key_len,
                    const uint8_t *value, size_t value_len)
{
    if (old->found && old->tombstone) {
        d->tombstones--;
    } else if (old->found) {
        d->keys--;
        d->bytes -= (int64_t)key_len + old->value_len;
    }
    if (value != NULL) {
        d->keys++;
        d->bytes += (int64_t)(key_len + value_len);
    } else {
        d->tombstones++;
    }
}

/*
 * Ignored writes made while a batch is open join it too (pending counts
 * them): the newer version they lost to may be in the batch, and if the
 * batch is discarded the caller must not report them as settled. live: the
 * caller's exact knowledge of the current row, or NULL to look it up.
 */
static int write_row(struct rc_store *s, const uint8_t *key, size_t key_len, const uint8_t *value,
                     size_t value_len, const struct rc_version *ver, int64_t expires_ms,
                     int64_t now_ms, const struct rc_store_live *live, int *existed)
{
    struct old_row old;
    int64_t token;
    int err;

    if (existed != NULL)
        *existed = 0;
    if ((key == NULL && key_len > 0) || key_len > INT_MAX || value_len > INT_MAX || expires_ms < 0)
        return RC_EINVAL;
    if (s->mem != NULL) /* a hash probe: the caller's knowledge saves nothing */
        return rc_memkv_write(s->mem, rc_ring_token(key_len > 0 ? key : &empty_byte, key_len),
                              key, key_len, value, value_len, ver->hlc, ver->node, expires_ms,
                              now_ms, existed);
    enter(s);
    err = take_lost(s);
    if (err < 0)
        return err;
    token = key_tok(key, key_len);
    if (live != NULL) {
        memset(&old, 0, sizeof(old));
        old.found = 1;
        old.value_len = (int64_t)live->value_len;
        old.ver = live->ver;
    } else {
        err = peek(s, key, key_len, token, now_ms, &old);
    }
    if (err == 0 && old.found && !old.expired && rc_version_cmp(ver, &old.ver) <= 0) {
        if (!sqlite3_get_autocommit(s->db))
            s->pending++;
        return 0;
    }
    if (value == NULL)
        expires_ms = add_sat(now_ms, s->grace_ms);
    if (err == 0)
        err = join_batch(s);
    if (err == 0)
        err = put_row(s, key, key_len, token, value, value_len, ver, expires_ms);
    if (err < 0) {
        discard_batch(s);
        return err;
    }
    account(&s->delta, &old, key_len, value, value_len);
    if (existed != NULL)
        *existed = old.found && !old.tombstone && !old.expired;
    return 1;
}

int rc_store_write(struct rc_store *s, const uint8_t *key, size_t key_len, const uint8_t *value,
                   size_t value_len, const struct rc_version *ver, int64_t expires_ms,
                   int64_t now_ms, int *existed)
{
    return write_row(s, key, key_len, value, value_len, ver, expires_ms, now_ms, NULL, existed);
}

int rc_store_write_known(struct rc_store *s, const uint8_t *key, size_t key_len,
                         const uint8_t *value, size_t value_len, const struct rc_version *ver,
                         int64_t expires_ms, int64_t now_ms, const struct rc_store_live *live,
                         int *existed)
{
    if (live == NULL)
        return RC_EINVAL;
    return write_row(s, key, key_len, value, value_len, ver, expires_ms, now_ms, live, existed);
}

/*
 * Runs a bound DELETE ... RETURNING length(key), length(value) statement
 * (ST_PURGE, ST_DELETE_RANGE) in the batch, taking each deleted row out of
 * the counters. The kind is "length(value) is NULL", tested in C (see
 * ST_PURGE). Like any write it is undone with the batch, and a failure
 * discards the batch.
 */
static int delete_rows(struct rc_store *s, sqlite3_stmt *st, int *deleted)
{
    struct store_counts d = {0, 0, 0};
    int n = 0, rc, err;

    err = take_lost(s);
    if (err == 0)
        err = join_batch(s);
    if (err < 0) {
        done(st);
        return err;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        if (sqlite3_column_type(st, 1) == SQLITE_NULL) {
            d.tombstones--;
        } else {
            d.keys--;
            d.bytes -= sqlite3_column_int64(st, 0) + sqlite3_column_int64(st, 1);
        }
    }
    done(st);
    if (rc != SQLITE_DONE) {
        discard_batch(s);
        return map_err(rc);
    }
    s->delta.keys += d.keys;
    s->delta.tombstones += d.tombstones;
    s->delta.bytes += d.bytes;
    *deleted = n;
    return 0;
}

/* Purge costs no extra commit; undone with the batch, the rows simply stay
 * for the next sweep. */
int rc_store_purge(struct rc_store *s, int64_t now_ms, int max_rows, int *purged)
{
    sqlite3_stmt *st = s->st[ST_PURGE];

    *purged = 0;
    if (s->mem != NULL)
        return rc_memkv_purge(s->mem, now_ms, max_rows, purged);
    enter(s);
    if (max_rows <= 0)
        return 0;
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int(st, 2, max_rows);
    return delete_rows(s, st, purged);
}

int rc_store_delete_range(struct rc_store *s, uint64_t first, uint64_t last, int max_rows,
                          int *deleted)
{
    sqlite3_stmt *st = s->st[ST_DELETE_RANGE];

    *deleted = 0;
    if (first > last)
        return RC_EINVAL;
    if (s->mem != NULL)
        return rc_memkv_delete_range(s->mem, first, last, max_rows, deleted);
    enter(s);
    if (max_rows <= 0)
        return 0;
    sqlite3_bind_int64(st, 1, tok_db(first));
    sqlite3_bind_int64(st, 2, tok_db(last));
    sqlite3_bind_int(st, 3, max_rows);
    return delete_rows(s, st, deleted);
}

/* ---- metadata --------------------------------------------------------- */

int rc_store_meta_get(struct rc_store *s, const char *name, uint64_t *value)
{
    sqlite3_stmt *st = s->st[ST_META_GET];
    struct mem_meta *mm;
    int rc;

    if (s->mem != NULL) {
        mm = mem_meta_find(s, name);
        if (mm == NULL)
            return RC_ENOTFOUND;
        *value = mm->value;
        return 0;
    }
    enter(s);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *value = (uint64_t)sqlite3_column_int64(st, 0);
    done(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? RC_ENOTFOUND : map_err(rc);
}

/* A write in the batch like any other: durable after the next
 * rc_store_commit() (or rc_store_close()), discarded with a failed batch. */
int rc_store_meta_set(struct rc_store *s, const char *name, uint64_t value)
{
    sqlite3_stmt *st = s->st[ST_META_SET];
    struct mem_meta *mm;
    int err;

    if (s->mem != NULL) {
        /* Nothing survives the process, so there is nothing to undo. */
        mm = mem_meta_find(s, name);
        if (mm == NULL) {
            if (strlen(name) >= MEM_META_NAME || s->nmeta == MEM_META_MAX)
                return RC_EINVAL;
            mm = &s->meta[s->nmeta++];
            strcpy(mm->name, name);
        }
        mm->value = value;
        return 0;
    }
    enter(s);
    err = take_lost(s);
    if (err == 0)
        err = join_batch(s);
    if (err < 0)
        return err;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)value);
    err = run(st);
    if (err < 0)
        discard_batch(s);
    return err;
}
