/*
 * store_wb_flush.c - the SQLite side of the write-behind engine
 * (store_wb.h): a connection for the loop thread (warm restart, metadata)
 * and one writer thread with its own connection that appends each flush
 * batch, and each snapshot segment, to the journal in one transaction
 * (store_wb_journal.c). The database file is the SQLite engine's, same
 * schema and migrations (store_sqlite_schema.c): a node can switch between
 * the two engines and keep its data (the direct engine folds what a
 * journal holds at open; this one replays it into memory).
 */
#include "store_wb.h"

#include "store_sqlite.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* WAL bytes after a commit past which the writer checkpoints (PASSIVE:
 * nothing else writes, so it copies every frame and the WAL restarts at
 * the next commit). Each checkpoint syncs the WAL and the file; 16 MiB
 * is four times SQLite's default of 1,000 pages of 4 KiB, for files of
 * 64 KiB pages. It runs on the writer thread, never on the event loop. */
#define WB_CKPT_BYTES (16 << 20)


/* The writer's SQLite page cache: it only appends (sequential pages) and
 * drops whole journal rows, so what must stay cached is the journal's
 * b-tree interior and the page being written. */
#define WB_WRITER_CACHE_KIB 4096

/* Journal bytes past which the loop holds writes back (backpressure,
 * rc_wb_writer_backlogged): four times the last snapshot's journal, and
 * at least four times the smallest snapshot threshold. A snapshot begins
 * at twice and adds about one more, so only a snapshot that cannot
 * complete (or writes far faster than it copies memory) gets there. */
#define JOURNAL_MAX(w) \
    (4 * ((w)->base_bytes > (w)->snap_min ? (w)->base_bytes : (w)->snap_min))

struct wb_writer {
    sqlite3 *db;
    struct wb_journal j;    /* the writer thread's only */
    int wal_pages;          /* the writer's own: after its last commit */
    int64_t snap_min;       /* rc_store_opts.snapshot_bytes, or WB_SNAP_MIN_BYTES */
    pthread_t thread;
    int started;
    pthread_mutex_t mu;     /* guards what follows */
    pthread_cond_t cv;
    struct wb_batch *todo;  /* submitted, not yet begun */
    struct wb_batch *doing; /* being applied, or done and not taken back */
    int done;               /* doing is done */
    int stop;
    int64_t wal_bytes, checkpoints, page_size;
    /* Copies of j's, for the loop: */
    int64_t journal_bytes, base_bytes, snapshots, snapshot_errors;
    int snapshotting; /* a snapshot begun and not completed */
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the loop thread's connection ------------------------------------ */

int rc_wb_db_open(const struct rc_store_opts *opts, sqlite3 **out, int64_t *page_size,
                  int64_t cache_kib, char *errbuf, size_t errlen)
{
    struct sqlite_store *s = calloc(1, sizeof(*s));
    struct rc_store_opts o = *opts;
    int err;

    *out = NULL;
    if (s == NULL)
        return RC_ENOMEM;
    /* The file is a copy of memory, bounded by the memory budget: no cap
     * of its own (a full file would stall every flush, and then the
     * writes). */
    o.max_bytes = 0;
    /* Memory serves: SQLite's page cache only has to hold what a pass
     * touches at once (--cache-size is the direct engine's). */
    o.cache_kib = cache_kib;
    err = rc_store_sqlite_setup(s, &o, errbuf, errlen);
    if (err < 0) {
        sqlite3_close(s->db);
    } else {
        *out = s->db;
        *page_size = s->page_size;
    }
    free(s);
    return err;
}

void rc_wb_db_close(sqlite3 *db)
{
    sqlite3_close(db);
}

int rc_wb_db_load(sqlite3 *db, int (*fn)(void *arg, const struct rc_entry *e), void *arg)
{
    static const char sql[] = "SELECT key, token, hlc, node, expires, value, attr FROM kv"
                              " ORDER BY token, key";
    sqlite3_stmt *st = NULL;
    struct rc_entry e;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc_store_sqlite_row_to_entry(st, &e);
        if (fn(arg, &e) != 0) {
            rc = SQLITE_DONE;
            break;
        }
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : RC_EIO;
}

int rc_wb_db_meta_get(sqlite3 *db, const char *name, uint64_t *value)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE name = ?1", -1, &st, NULL);

    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *value = (uint64_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? RC_ENOTFOUND : map_err(rc);
}

int rc_wb_db_meta_set(sqlite3 *db, const char *name, uint64_t value)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(name, value) VALUES (?1, ?2)",
                                -1, &st, NULL);

    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t)value);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : map_err(rc);
}

int64_t rc_wb_db_bytes(sqlite3 *db, int64_t page_size)
{
    int64_t pages = 0;

    if (rc_store_sqlite_setup_int(db, "PRAGMA page_count", &pages) != SQLITE_OK)
        return 0;
    return pages * page_size;
}

/* ---- the writer -------------------------------------------------------- */

void rc_wb_batch_free(struct wb_batch *b)
{
    if (b == NULL)
        return;
    free(b->buf);
    free(b->offs);
    free(b);
}

/* sqlite3_wal_hook: the WAL's size after each commit (replaces SQLite's
 * auto-checkpoint: the writer checkpoints itself, WB_CKPT_BYTES). */
static int on_wal(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct wb_writer *w = arg;

    (void)db;
    (void)name;
    w->wal_pages = pages;
    return SQLITE_OK;
}

/* Checkpoints once the WAL passed WB_CKPT_BYTES. */
static void checkpoint(struct wb_writer *w)
{
    if ((int64_t)w->wal_pages * w->page_size >= WB_CKPT_BYTES &&
        sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) ==
            SQLITE_OK) {
        pthread_mutex_lock(&w->mu);
        w->checkpoints++;
        pthread_mutex_unlock(&w->mu);
    }
}

/* One transaction for the whole batch: all of it is on disk, or none. A
 * snapshot's segment that fails abandons its snapshot (the loop begins
 * another later). */
static void apply_batch(struct wb_writer *w, struct wb_batch *b)
{
    int64_t t0 = mono_ms();

    b->err = rc_wb_journal_append(&w->j, b);
    if (b->err == 0)
        checkpoint(w);
    else if (b->snap != 0)
        rc_wb_journal_snapshot_abandon(&w->j);
    b->took_ms = mono_ms() - t0;
}

/* Applies each batch handed over, in order. */
static void *writer_main(void *arg)
{
    struct wb_writer *w = arg;
    struct wb_batch *b;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->todo == NULL && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->todo == NULL)
            break;
        b = w->todo;
        w->todo = NULL;
        w->doing = b;
        w->done = 0;
        pthread_mutex_unlock(&w->mu);
        apply_batch(w, b);
        pthread_mutex_lock(&w->mu);
        w->done = 1;
        if (b->err != 0 && b->snap != 0)
            w->snapshot_errors++;
        w->wal_bytes = (int64_t)w->wal_pages * w->page_size;
        w->journal_bytes = w->j.bytes;
        w->base_bytes = w->j.base_bytes;
        w->snapshots = w->j.snapshots;
        w->snapshotting = w->j.snap_start != 0;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void writer_free(struct wb_writer *w)
{
    rc_wb_journal_close(&w->j);
    sqlite3_close(w->db);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

int rc_wb_writer_start(const struct rc_store_opts *opts, int64_t data_bytes,
                       struct wb_writer **out, char *errbuf, size_t errlen)
{
    struct wb_writer *w = calloc(1, sizeof(*w));
    int err;

    *out = NULL;
    if (w == NULL)
        return RC_ENOMEM;
    w->snap_min = opts->snapshot_bytes > 0 ? opts->snapshot_bytes : WB_SNAP_MIN_BYTES;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    err = rc_wb_db_open(opts, &w->db, &w->page_size, WB_WRITER_CACHE_KIB, errbuf, errlen);
    if (err == 0 && (err = rc_wb_journal_open(w->db, &w->j)) < 0)
        rc_store_sqlite_set_err(errbuf, errlen, "cannot prepare the writer: %s",
                                sqlite3_errmsg(w->db));
    /* The base the next snapshot is measured against: the journal as the
     * open found it, or the data, when smaller. */
    if (err == 0 && rc_wb_journal_size(w->db, &w->j.bytes) < 0)
        err = RC_EIO;
    w->j.base_bytes = w->j.bytes < data_bytes ? w->j.bytes : data_bytes;
    w->base_bytes = w->j.base_bytes;
    w->journal_bytes = w->j.bytes;
    if (err == 0) {
        sqlite3_wal_hook(w->db, on_wal, w);
        if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
            rc_store_sqlite_set_err(errbuf, errlen, "cannot start the writer thread");
            err = RC_ENOMEM;
        }
    }
    if (err < 0) {
        writer_free(w);
        return err;
    }
    w->started = 1;
    *out = w;
    return 0;
}

void rc_wb_writer_submit(struct wb_writer *w, struct wb_batch *b)
{
    pthread_mutex_lock(&w->mu);
    w->todo = b;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Whether the batch submitted is done (or none is there); under mu. */
static int settled(const struct wb_writer *w)
{
    return w->todo == NULL && (w->doing == NULL || w->done);
}

struct wb_batch *rc_wb_writer_poll(struct wb_writer *w, int wait_ms)
{
    struct wb_batch *b = NULL;
    struct timespec until;

    pthread_mutex_lock(&w->mu);
    if (wait_ms < 0) {
        while (!settled(w))
            pthread_cond_wait(&w->cv, &w->mu);
    } else if (wait_ms > 0 && !settled(w)) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait_ms / 1000;
        until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!settled(w) && pthread_cond_timedwait(&w->cv, &w->mu, &until) == 0)
            ;
    }
    if (w->todo == NULL && w->doing != NULL && w->done) {
        b = w->doing;
        w->doing = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    return b;
}

int rc_wb_writer_busy(struct wb_writer *w)
{
    int busy;

    pthread_mutex_lock(&w->mu);
    busy = w->todo != NULL || w->doing != NULL;
    pthread_mutex_unlock(&w->mu);
    return busy;
}

void rc_wb_writer_stats(struct wb_writer *w, struct rc_store_stats *st)
{
    pthread_mutex_lock(&w->mu);
    st->wal_bytes = w->wal_bytes;
    st->checkpoints = w->checkpoints;
    st->wb_journal_bytes = w->journal_bytes;
    st->wb_snapshots = w->snapshots;
    st->wb_snapshot_errors = w->snapshot_errors;
    st->wb_snapshotting = w->snapshotting;
    pthread_mutex_unlock(&w->mu);
}

int rc_wb_writer_snapshot_due(struct wb_writer *w)
{
    int due;

    pthread_mutex_lock(&w->mu);
    due = w->journal_bytes >= w->snap_min && w->journal_bytes >= 2 * w->base_bytes;
    pthread_mutex_unlock(&w->mu);
    return due;
}

int rc_wb_writer_backlogged(struct wb_writer *w)
{
    int over;

    pthread_mutex_lock(&w->mu);
    over = w->journal_bytes >= JOURNAL_MAX(w);
    pthread_mutex_unlock(&w->mu);
    return over;
}

void rc_wb_writer_stop(struct wb_writer *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->started)
        pthread_join(w->thread, NULL);
    rc_wb_batch_free(w->todo);
    rc_wb_batch_free(w->doing);
    writer_free(w);
}
