/*
 * store_sqlite.c - the SQLite engine of the store (store_engine.h), for a
 * store with a data directory.
 *
 * One connection, every statement prepared at open and reused, so a request
 * costs a few B-tree lookups and no SQL parsing. Writes are grouped into
 * one transaction per event-loop iteration (commit). The entry counters are
 * kept in memory as committed totals plus the pending batch's delta, so
 * stats stay exact when a batch is rolled back. Tokens are stored with
 * their top bit flipped (tok_db). The schema and opening the file are in
 * store_sqlite_schema.c, the token-range ops in store_sqlite_range.c, the
 * file's budget and eviction in store_sqlite_evict.c.
 */
#include "store_sqlite.h"

#include "err.h"
#include "store_engine.h"
#include "store_wb.h"

#include <stdlib.h>
#include <string.h>

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

/* Over the schema of store_sqlite_schema.c. ST_GET, ST_SCAN and
 * ST_SCAN_AFTER share a column order (rc_store_sqlite_row_to_entry).
 * The two scans share parameter numbers; ST_SCAN leaves ?2 unused. The
 * cursor form bounds the index range by (token, key) directly, so paging
 * deep into a range does not rescan the rows before the cursor. */
static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_GET] = "SELECT key, token, hlc, node, expires, value, attr FROM kv"
               " WHERE token = ?2 AND key = ?1",
    /* length() of a blob does not read its overflow pages; it is NULL for
     * a tombstone. */
    [ST_PEEK] = "SELECT hlc, node, expires, length(value) FROM kv"
                " WHERE token = ?2 AND key = ?1",
    [ST_PUT] = "INSERT OR REPLACE INTO kv(key, token, hlc, node, expires, value, attr)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    /* The same, in the form that keeps a statement journal, so that a FULL
     * undoes this insert only and not the batch (store_sqlite_evict.c):
     * used under a cap and a policy that evicts. */
    [ST_PUT_EVICT] = "INSERT OR REPLACE INTO kv(key, token, hlc, node, expires, value, attr)"
                     " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7",
    /* The subquery walks the kv_expires index; RETURNING gives each row's
     * kind and size so the counters stay exact. The kind is "length(value)
     * is NULL", tested in C: SQLite 3.40.1 evaluates `value IS NULL` to 0
     * in DELETE ... RETURNING on a WITHOUT ROWID table. */
    [ST_PURGE] = "DELETE FROM kv WHERE (token, key) IN (SELECT token, key FROM kv"
                 " WHERE expires > 0"
                 " AND expires <= ?1 LIMIT ?2)"
                 " RETURNING length(key), length(value)",
    [ST_SCAN] = "SELECT key, token, hlc, node, expires, value, attr FROM kv"
                " WHERE token >= ?1 AND token <= ?3"
                " AND (value IS NULL OR expires = 0 OR expires > +?4)"
                " ORDER BY token, key LIMIT ?5",
    [ST_SCAN_AFTER] = "SELECT key, token, hlc, node, expires, value, attr FROM kv"
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
                  " AND (value IS NULL OR expires = 0 OR expires > +?3) AND hlc < +?4",
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
    /* Live values that expire and their mean expiry (INFO keyspace). */
    [ST_VOLATILE] = "SELECT count(*), coalesce(avg(expires), 0) FROM kv"
                    " WHERE expires > ?1 AND value IS NOT NULL",
    [ST_FREELIST_COUNT] = "PRAGMA freelist_count",
    /* Eviction (store_sqlite_evict.c): the sample s is the ?3 rows from
     * token ?1 on in (token, key) order, continued from the ring's start
     * when the end comes first; of its values (?4: 0 any, 1 with an
     * expiry, 2 with an expiry, soonest first), never the row (?5, ?6),
     * at most ?2 go: the ones expired at ?7 first, then in ?4's order,
     * then from ?1 on (the wrapped part last). Like ST_PURGE, RETURNING
     * gives what the counters need, and the version for the ghost. */
    [ST_EVICT] = "WITH s(token, key, v, expires) AS ("
                 "SELECT * FROM (SELECT token, key, value IS NOT NULL, expires FROM kv"
                 " WHERE token >= ?1 ORDER BY token, key LIMIT ?3)"
                 " UNION ALL SELECT * FROM (SELECT token, key, value IS NOT NULL, expires"
                 " FROM kv ORDER BY token, key LIMIT ?3) LIMIT ?3)"
                 " DELETE FROM kv WHERE (token, key) IN (SELECT token, key FROM s"
                 " WHERE v AND (?4 = 0 OR expires > 0) AND (token, key) IS NOT (?5, ?6)"
                 " ORDER BY expires > 0 AND expires <= ?7 DESC,"
                 " CASE WHEN ?4 = 2 THEN expires ELSE 0 END, token < ?1, token, key LIMIT ?2)"
                 " RETURNING length(key), length(value), token, hlc, node",
};

/* Bound to zero-length blobs: sqlite3_bind_blob(NULL) would bind NULL, and
 * sqlite3_column_blob() returns NULL for an empty blob. */
static const uint8_t empty_byte;

static int is_expired(int64_t expires, int64_t now_ms)
{
    return expires > 0 && expires <= now_ms;
}

/* Reset after every use; clearing the bindings drops the SQLITE_STATIC
 * pointers to caller memory that is gone once we return. */
void rc_store_sqlite_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* The row of the last rc_store_get stays live (its pointers are handed
 * out) until the next call; every entry point lets go of it first. */
static void release(struct sqlite_store *s)
{
    if (s->held != NULL) {
        rc_store_sqlite_done(s->held);
        s->held = NULL;
    }
}

/* Called on entry to every function. Besides releasing the held row, it
 * notices a batch that SQLite rolled back by itself, which it may do
 * after an out-of-memory or I/O error in any statement, reads included.
 * The loss is reported by the next write or commit (take_lost): letting
 * a new batch start and commit would tell the caller that writes of the
 * lost batch were stored. */
void rc_store_sqlite_enter(struct sqlite_store *s)
{
    release(s);
    if (s->pending > 0 && sqlite3_get_autocommit(s->db)) {
        memset(&s->delta, 0, sizeof(s->delta));
        s->pending = 0;
        s->lost = 1;
    }
}

static int take_lost(struct sqlite_store *s)
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

    rc_store_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : map_err(rc);
}

void rc_store_sqlite_bind_bytes(sqlite3_stmt *st, int i, const uint8_t *p, size_t len)
{
    sqlite3_bind_blob64(st, i, len > 0 ? p : &empty_byte, len, SQLITE_STATIC);
}

int rc_store_sqlite_pragma_int(sqlite3_stmt *st, int64_t *out)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    rc_store_sqlite_done(st);
    return rc == SQLITE_ROW ? 0 : RC_EIO;
}

/* ---- batches ---------------------------------------------------------- */

/* Drops the open batch: the transaction if SQLite has not already rolled
 * it back itself (it may, after SQLITE_FULL), and the counter delta. */
static void discard_batch(struct sqlite_store *s)
{
    release(s);
    if (!sqlite3_get_autocommit(s->db))
        run(s->st[ST_ROLLBACK]);
    memset(&s->delta, 0, sizeof(s->delta));
    s->pending = 0;
    s->lost = 0; /* reported now, by the caller's error */
}

/* Every mutation goes through here first. */
static int join_batch(struct sqlite_store *s)
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

/* sqlite3_wal_hook: after each commit, with the WAL's size in pages.
 * Replaces SQLite's own auto-checkpoint. */
static int on_wal(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct sqlite_store *s = arg;

    (void)db;
    (void)name;
    s->wal_pages = pages;
    return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    struct sqlite_store *s = arg;
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

static void checkpoint_if_due(struct sqlite_store *s)
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
static void start_checkpointer(struct sqlite_store *s)
{
    const char *path = sqlite3_db_filename(s->db, "main");
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

    if (path == NULL || path[0] == '\0')
        return;
    /* A connection learns that the database is in WAL mode (and opens the
     * WAL) at its first read; until then a checkpoint does nothing. */
    if (sqlite3_open_v2(path, &s->ckpt_db, flags, NULL) != SQLITE_OK ||
        rc_store_sqlite_setup_int(s->ckpt_db, "SELECT count(*) FROM sqlite_master", NULL) !=
            SQLITE_OK) {
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

static void stop_checkpointer(struct sqlite_store *s)
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

static int sq_commit(void *eng)
{
    struct sqlite_store *s = eng;
    int err;

    rc_store_sqlite_enter(s);
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

static uint64_t sq_pending(const void *eng)
{
    const struct sqlite_store *s = eng;

    return s->pending;
}

/* One pass over the table at open; afterwards the counters are maintained
 * incrementally. */
static int load_counts(struct sqlite_store *s)
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
static int load_state(struct sqlite_store *s, char *errbuf, size_t errlen)
{
    int i, rc = load_counts(s);

    for (i = 0; i < ST_COUNT && rc == SQLITE_OK; i++)
        rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
    if (rc != SQLITE_OK)
        rc_store_sqlite_set_err(errbuf, errlen, "cannot load database: %s",
                                sqlite3_errmsg(s->db));
    return rc;
}

static void free_store(struct sqlite_store *s)
{
    int i;

    stop_checkpointer(s);
    rc_store_sqlite_evict_close(s);
    for (i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s);
}

int rc_store_global_init(void)
{
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK ? 0 : RC_EIO;
}

static int sq_open(const struct rc_store_opts *opts, void **eng, char *errbuf, size_t errlen)
{
    struct sqlite_store *s = calloc(1, sizeof(*s));
    int rc, err;

    *eng = NULL;
    if (s == NULL)
        return RC_ENOMEM;
    s->grace_ms = opts->tombstone_grace_ms;
    err = rc_store_sqlite_setup(s, opts, errbuf, errlen);
    /* What write-behind's journal holds (its flushes and snapshots, a
     * switch from --write-behind on) goes into the table before anything
     * reads it. */
    if (err == 0 && (err = rc_wb_journal_fold_all(s->db, 0)) < 0)
        rc_store_sqlite_set_err(errbuf, errlen, "cannot fold the write-behind journal: %s",
                                sqlite3_errmsg(s->db));
    if (err == 0 && (rc = load_state(s, errbuf, errlen)) != SQLITE_OK)
        err = (rc & 0xff) == SQLITE_NOMEM ? RC_ENOMEM : RC_EIO;
    if (err == 0 && (err = rc_store_sqlite_evict_open(s, opts)) < 0)
        rc_store_sqlite_set_err(errbuf, errlen, "cannot set the database budget: %s",
                                rc_strerror(err));
    if (err < 0) {
        free_store(s);
        return err;
    }
    start_checkpointer(s);
    *eng = s;
    return 0;
}

/* A failed commit has already discarded the batch; nobody is left to
 * report it to. */
static void sq_close(void *eng)
{
    sq_commit(eng);
    free_store(eng);
}

/* ---- reads ------------------------------------------------------------ */

/* Fills e from the current row of ST_GET / ST_SCAN*; pointers borrowed
 * from the statement. */
void rc_store_sqlite_row_to_entry(sqlite3_stmt *st, struct rc_entry *e)
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
    e->attr = rc_attr_unpack(e->tombstone ? 0 : (uint64_t)sqlite3_column_int64(st, 6));
    if (!e->tombstone) {
        e->value = sqlite3_column_blob(st, 5);
        e->value_len = (size_t)sqlite3_column_bytes(st, 5);
        if (e->value == NULL)
            e->value = &empty_byte;
    }
}

static int sq_get(void *eng, const uint8_t *key, size_t key_len, uint64_t token, int64_t now_ms,
                  struct rc_entry *e)
{
    struct sqlite_store *s = eng;
    sqlite3_stmt *st = s->st[ST_GET];
    int rc;

    rc_store_sqlite_enter(s);
    rc_store_sqlite_bind_bytes(st, 1, key, key_len);
    sqlite3_bind_int64(st, 2, tok_db(token));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        rc_store_sqlite_row_to_entry(st, e);
        if (!e->tombstone && is_expired(e->expires_ms, now_ms)) {
            rc_store_sqlite_done(st);
            return RC_ENOTFOUND;
        }
        s->held = st; /* keeps e's pointers valid until the next call */
        return 0;
    }
    rc_store_sqlite_done(st);
    return rc == SQLITE_DONE ? RC_ENOTFOUND : map_err(rc);
}

static void sq_stats(void *eng, struct rc_store_stats *st)
{
    struct sqlite_store *s = eng;
    sqlite3_stmt *pc = s->st[ST_PAGE_COUNT];

    rc_store_sqlite_enter(s);
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
    rc_store_sqlite_done(pc);
    rc_store_sqlite_enter(s); /* the pragma may have failed and taken the batch with it */
    st->keys = s->committed.keys + s->delta.keys;
    st->tombstones = s->committed.tombstones + s->delta.tombstones;
    st->bytes = s->committed.bytes + s->delta.bytes;
    rc_store_sqlite_evict_stats(s, st);
}

static int64_t sq_live_keys(void *eng, int64_t now_ms)
{
    struct sqlite_store *s = eng;
    sqlite3_stmt *st = s->st[ST_EXPIRED_COUNT];
    int64_t expired = 0;

    rc_store_sqlite_enter(s);
    sqlite3_bind_int64(st, 1, now_ms);
    if (sqlite3_step(st) == SQLITE_ROW)
        expired = sqlite3_column_int64(st, 0);
    rc_store_sqlite_done(st);
    rc_store_sqlite_enter(s); /* a failed step may have taken the batch with it */
    return s->committed.keys + s->delta.keys - expired;
}

static int64_t sq_volatile_keys(void *eng, int64_t now_ms, int64_t *avg_ttl_ms)
{
    struct sqlite_store *s = eng;
    sqlite3_stmt *st = s->st[ST_VOLATILE];
    int64_t n = 0;

    *avg_ttl_ms = 0;
    rc_store_sqlite_enter(s);
    sqlite3_bind_int64(st, 1, now_ms);
    if (sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
        if (n > 0)
            *avg_ttl_ms = (int64_t)(sqlite3_column_double(st, 1) - (double)now_ms + 0.5);
    }
    rc_store_sqlite_done(st);
    rc_store_sqlite_enter(s); /* a failed step may have taken the batch with it */
    return n;
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

static int peek(struct sqlite_store *s, const uint8_t *key, size_t key_len, int64_t token,
                int64_t now_ms, struct old_row *old)
{
    sqlite3_stmt *st = s->st[ST_PEEK];
    int rc;

    memset(old, 0, sizeof(*old));
    rc_store_sqlite_bind_bytes(st, 1, key, key_len);
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
    rc_store_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : map_err(rc);
}

static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int put_row(struct sqlite_store *s, const uint8_t *key, size_t key_len, int64_t token,
                   const uint8_t *value, size_t value_len, const struct rc_attr *attr,
                   const struct rc_version *ver, int64_t expires_ms)
{
    sqlite3_stmt *st = rc_store_sqlite_put_stmt(s);

    rc_store_sqlite_bind_bytes(st, 1, key, key_len);
    sqlite3_bind_int64(st, 2, token);
    sqlite3_bind_int64(st, 3, (int64_t)ver->hlc);
    sqlite3_bind_int64(st, 4, (int64_t)ver->node);
    sqlite3_bind_int64(st, 5, expires_ms);
    if (value != NULL)
        rc_store_sqlite_bind_bytes(st, 6, value, value_len);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_int64(st, 7, value != NULL ? (int64_t)rc_attr_pack(attr) : 0);
    return run(st);
}

/* put_row's arguments, for a retry after an eviction. */
struct put_args {
    struct sqlite_store *s;
    const uint8_t *key, *value;
    size_t key_len, value_len;
    int64_t token, expires_ms;
    const struct rc_version *ver;
    const struct rc_attr *attr;
};

static int put_again(void *arg)
{
    const struct put_args *a = arg;

    return put_row(a->s, a->key, a->key_len, a->token, a->value, a->value_len, a->attr, a->ver,
                   a->expires_ms);
}

/* Puts the row in the open batch, making room first or after a FULL when
 * the budget and the policy call for it (store_sqlite_evict.c). */
static int put_in_budget(struct sqlite_store *s, struct put_args *a, int64_t now_ms)
{
    int err = rc_store_sqlite_before_put(s, a->key, a->key_len, a->token, now_ms);

    if (err == 0)
        err = put_again(a);
    if (err == RC_EFULL)
        err = rc_store_sqlite_evict_retry(s, err, a->key, a->key_len, a->token, now_ms,
                                          put_again, a);
    return err;
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
 * batch is discarded the caller must not report them as settled. A value
 * for a key not held is ignored too when the key was evicted at a version
 * at least as new (the ghost, store_sqlite_evict.c). live: the caller's
 * exact knowledge of the current row, or NULL to look it up.
 */
static int sq_write(void *eng, const uint8_t *key, size_t key_len, uint64_t ring_token,
                    const uint8_t *value, size_t value_len, const struct rc_attr *attr,
                    const struct rc_version *ver, int64_t expires_ms, int64_t now_ms,
                    const struct rc_store_live *live, int *existed)
{
    struct sqlite_store *s = eng;
    struct old_row old;
    int64_t token;
    int err;

    rc_store_sqlite_enter(s);
    err = take_lost(s);
    if (err < 0)
        return err;
    token = tok_db(ring_token);
    if (live != NULL) {
        memset(&old, 0, sizeof(old));
        old.found = 1;
        old.value_len = (int64_t)live->value_len;
        old.ver = live->ver;
    } else {
        err = peek(s, key, key_len, token, now_ms, &old);
    }
    if (err == 0 && ((old.found && !old.expired && rc_version_cmp(ver, &old.ver) <= 0) ||
                     (!old.found && value != NULL &&
                      rc_store_sqlite_ghost_refuses(s, ring_token, ver)))) {
        if (!sqlite3_get_autocommit(s->db))
            s->pending++;
        return 0;
    }
    if (value == NULL)
        expires_ms = add_sat(now_ms, s->grace_ms);
    if (err == 0)
        err = join_batch(s);
    if (err == 0) {
        struct put_args a = {s, key, value, key_len, value_len, token, expires_ms, ver, attr};
        err = put_in_budget(s, &a, now_ms);
    }
    if (err < 0) {
        discard_batch(s);
        return err;
    }
    account(&s->delta, &old, key_len, value, value_len);
    if (existed != NULL)
        *existed = old.found && !old.tombstone && !old.expired;
    return 1;
}

/*
 * Runs a bound DELETE ... RETURNING length(key), length(value) statement
 * (ST_PURGE, ST_DELETE_RANGE) in the batch, taking each deleted row out of
 * the counters. The kind is "length(value) is NULL", tested in C (see
 * ST_PURGE). Like any write it is undone with the batch, and a failure
 * discards the batch.
 */
int rc_store_sqlite_delete_rows(struct sqlite_store *s, sqlite3_stmt *st, int *deleted)
{
    return rc_store_sqlite_delete_rows_cb(s, st, deleted, NULL, NULL, 0);
}

int rc_store_sqlite_delete_rows_cb(struct sqlite_store *s, sqlite3_stmt *st, int *deleted,
                                   rc_store_sqlite_row_fn on_row, void *arg, int keep_on_full)
{
    struct store_counts d = {0, 0, 0};
    int n = 0, rc, err;

    err = take_lost(s);
    if (err == 0)
        err = join_batch(s);
    if (err < 0) {
        rc_store_sqlite_done(st);
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
        if (on_row != NULL)
            on_row(arg, st);
    }
    rc_store_sqlite_done(st);
    if (rc != SQLITE_DONE) {
        /* RETURNING rows come after every change is made: a failure
         * returned none, so d is empty. */
        if (!(keep_on_full && map_err(rc) == RC_EFULL && !sqlite3_get_autocommit(s->db)))
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
static int sq_purge(void *eng, int64_t now_ms, int max_rows, int *purged)
{
    struct sqlite_store *s = eng;
    sqlite3_stmt *st = s->st[ST_PURGE];

    rc_store_sqlite_enter(s);
    if (max_rows <= 0)
        return 0;
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int(st, 2, max_rows);
    return rc_store_sqlite_delete_rows(s, st, purged);
}

/* ---- metadata --------------------------------------------------------- */

static int sq_meta_get(void *eng, const char *name, uint64_t *value)
{
    struct sqlite_store *s = eng;
    sqlite3_stmt *st = s->st[ST_META_GET];
    int rc;

    rc_store_sqlite_enter(s);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *value = (uint64_t)sqlite3_column_int64(st, 0);
    rc_store_sqlite_done(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? RC_ENOTFOUND : map_err(rc);
}

/* A write in the batch like any other: durable after the next
 * rc_store_commit() (or rc_store_close()), discarded with a failed batch. */
static int sq_meta_set(void *eng, const char *name, uint64_t value)
{
    struct sqlite_store *s = eng;
    sqlite3_stmt *st = s->st[ST_META_SET];
    int err;

    rc_store_sqlite_enter(s);
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

const struct rc_store_engine rc_store_engine_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .get = sq_get,
    .write = sq_write,
    .commit = sq_commit,
    .pending = sq_pending,
    .purge = sq_purge,
    .scan = rc_store_sqlite_scan,
    .range_digest_before = rc_store_sqlite_range_digest_before,
    .range_count = rc_store_sqlite_range_count,
    .delete_range = rc_store_sqlite_delete_range,
    .stats = sq_stats,
    .set_evict = rc_store_sqlite_set_evict,
    .evict_step = rc_store_sqlite_evict_step,
    .evicted = rc_store_sqlite_evicted,
    .live_keys = sq_live_keys,
    .volatile_keys = sq_volatile_keys,
    .meta_get = sq_meta_get,
    .meta_set = sq_meta_set,
};
