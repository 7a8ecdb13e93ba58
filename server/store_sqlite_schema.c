/*
 * store_sqlite_schema.c - the SQLite engine's database file: where it
 * lives, the on-disk schema, its version check and migration, and the
 * connection's pragmas, all run once at open (store_sqlite.h).
 */
#include "store_sqlite.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Bumped whenever the schema below changes; a database written by a newer
 * build is refused rather than misread. */
#define SCHEMA_VERSION 4

/* A busy database can only mean another process (an operator's sqlite3
 * shell, a backup) holds a lock: we are the only writer. Waiting stalls
 * the event loop, so wait briefly and fail the batch instead. */
#define BUSY_TIMEOUT_MS 1000

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
 *   | attr    | INTEGER | rc_attr_pack: kind << 32 | client flags; 0 = none |
 *
 *   kv_expires partial index on (expires) WHERE expires > 0: the purge queue.
 *
 *   Version 1 had primary key `key` and an index on token; every range
 *   scan then paid one b-tree search per row (3x slower streaming). It is
 *   migrated at open (migrate_v1). Versions up to 3 had no attr column;
 *   it is added at open (migrate_attr, which rewrites no row: SQLite keeps
 *   the default of an added column in the schema), making version 4.
 *
 *   meta(name TEXT PRIMARY KEY, value INTEGER): node id, incarnation, ...
 *              (uint64 bit patterns).
 *
 *   wb_journal(seq INTEGER PRIMARY KEY, data BLOB): write-behind's flushes
 *       and snapshots of memory (store_wb_journal.c); the table's state is
 *       kv with the journal applied in seq order. The write-behind engine
 *       replays both into memory at open; the direct engine folds the
 *       journal into kv. Version 3 added it (a version 2 file gains the
 *       empty table at open; an older build refuses a version 3 file
 *       rather than miss a journal).
 */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS kv(token INTEGER NOT NULL, key BLOB NOT NULL,"
    " hlc INTEGER NOT NULL, node INTEGER NOT NULL, expires INTEGER NOT NULL,"
    " value BLOB, attr INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(token, key)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS kv_expires ON kv(expires) WHERE expires > 0;"
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS wb_journal(seq INTEGER PRIMARY KEY, data BLOB NOT NULL);";

void rc_store_sqlite_set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (errbuf == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

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
            rc_store_sqlite_set_err(errbuf, errlen, "cannot create data dir %s: %s", path,
                                    strerror(errno));
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
int rc_store_sqlite_setup_int(sqlite3 *db, const char *sql, int64_t *out)
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

static int open_db(struct sqlite_store *s, const char *data_dir, char *errbuf, size_t errlen)
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
        rc_store_sqlite_set_err(errbuf, errlen, "cannot open %s: %s", path,
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
static int set_pragmas(struct sqlite_store *s, const struct rc_store_opts *opts, char *errbuf,
                       size_t errlen)
{
    sqlite3_stmt *st = NULL;
    char sql[64];
    int64_t pages;
    int rc;

    /* A new file for write-behind gets 64 KiB pages: it only appends
     * journal rows of up to megabytes and drops old ones, and SQLite
     * writes (to the WAL, then at the checkpoint) and reads one page a
     * system call. An existing file keeps its pages (SQLite ignores the
     * pragma once the file has any), and a file in WAL mode cannot change
     * them: hence before journal_mode. */
    rc = SQLITE_OK;
    if (opts->write_behind)
        rc = rc_store_sqlite_setup_int(s->db, "PRAGMA page_size=65536", NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        rc = sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0
                 ? SQLITE_OK
                 : SQLITE_CANTOPEN;
    sqlite3_finalize(st);
    if (rc == SQLITE_OK)
        rc = rc_store_sqlite_setup_int(s->db, "PRAGMA synchronous=NORMAL", NULL);
    if (rc == SQLITE_OK)
        rc = rc_store_sqlite_setup_int(s->db, "PRAGMA temp_store=MEMORY", NULL);
    if (rc == SQLITE_OK && opts->cache_kib > 0) {
        snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%lld", (long long)opts->cache_kib);
        rc = rc_store_sqlite_setup_int(s->db, sql, NULL);
    }
    if (rc == SQLITE_OK)
        rc = rc_store_sqlite_setup_int(s->db, "PRAGMA page_size", &s->page_size);
    /* What "no cap" is to this build of SQLite, for a budget lifted later
     * (store_sqlite_evict.c). */
    if (rc == SQLITE_OK)
        rc = rc_store_sqlite_setup_int(s->db, "PRAGMA max_page_count", &s->ev.no_cap_pages);
    if (rc == SQLITE_OK && opts->max_bytes > 0) {
        /* SQLite never lowers the cap below the current size. The cap
         * bounds the database file; the WAL, checkpointed back into it
         * every 1000 pages by default, comes on top. */
        pages = opts->max_bytes / s->page_size;
        if (pages < 1)
            pages = 1;
        snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%lld", (long long)pages);
        rc = rc_store_sqlite_setup_int(s->db, sql, NULL);
    }
    if (rc != SQLITE_OK)
        rc_store_sqlite_set_err(errbuf, errlen, "cannot configure database: %s",
                                rc == SQLITE_CANTOPEN ? "WAL mode unavailable"
                                                      : sqlite3_errmsg(s->db));
    return rc;
}

/* Checked before anything is changed: a database from a newer build is
 * left exactly as it was (not even switched to WAL). */
static int check_version(struct sqlite_store *s, int64_t *out, char *errbuf, size_t errlen)
{
    int64_t version = 0;
    int rc = rc_store_sqlite_setup_int(s->db, "PRAGMA user_version", &version);

    *out = version;
    if (rc != SQLITE_OK) {
        rc_store_sqlite_set_err(errbuf, errlen, "cannot read database: %s",
                                sqlite3_errmsg(s->db));
        return rc;
    }
    if (version > SCHEMA_VERSION) {
        rc_store_sqlite_set_err(errbuf, errlen,
                                "database schema version %lld is newer than this build's (%d)",
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
static int migrate_v1(struct sqlite_store *s, char *errbuf, size_t errlen)
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
        rc_store_sqlite_set_err(errbuf, errlen, "cannot migrate database from schema 1: %s",
                                sqlite3_errmsg(s->db));
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

/* Schema 2 or 3 -> 4 in one transaction: the attr column, 0 for every
 * row (a change of the table's definition only, O(1) whatever the data).
 * A version 2 file gains wb_journal afterwards, in init_schema. */
static int migrate_attr(struct sqlite_store *s, int64_t from, char *errbuf, size_t errlen)
{
    static const char sql[] = "BEGIN IMMEDIATE;"
                              "ALTER TABLE kv ADD COLUMN attr INTEGER NOT NULL DEFAULT 0;"
                              "PRAGMA user_version=4;"
                              "COMMIT;";
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK) {
        rc_store_sqlite_set_err(errbuf, errlen, "cannot migrate database from schema %lld: %s",
                                (long long)from, sqlite3_errmsg(s->db));
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

/* Creates the schema (a no-op when it exists) in one transaction. */
static int init_schema(struct sqlite_store *s, char *errbuf, size_t errlen)
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
        rc_store_sqlite_set_err(errbuf, errlen, "cannot create schema: %s",
                                sqlite3_errmsg(s->db));
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

int rc_store_sqlite_setup(struct sqlite_store *s, const struct rc_store_opts *opts,
                          char *errbuf, size_t errlen)
{
    int64_t version = 0;
    int rc, err;

    err = open_db(s, opts->data_dir, errbuf, errlen);
    if (err < 0)
        return err;
    rc = check_version(s, &version, errbuf, errlen);
    if (rc == SQLITE_OK)
        rc = set_pragmas(s, opts, errbuf, errlen);
    if (rc == SQLITE_OK && version == 1)
        rc = migrate_v1(s, errbuf, errlen);
    if (rc == SQLITE_OK && version >= 1 && version <= 3)
        rc = migrate_attr(s, version, errbuf, errlen);
    if (rc == SQLITE_OK)
        rc = init_schema(s, errbuf, errlen);
    if (rc != SQLITE_OK)
        return (rc & 0xff) == SQLITE_NOMEM ? RC_ENOMEM : RC_EIO;
    return 0;
}
