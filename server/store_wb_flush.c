/*
 * store_wb_flush.c - the SQLite side of the write-behind engine
 * (store_wb.h): a connection for the loop thread (warm restart, metadata)
 * and one writer thread with its own connection that applies each flush
 * batch in one transaction. The database file is the SQLite engine's, same
 * schema and migrations (store_sqlite_schema.c): a node can switch between
 * the two engines and keep its data.
 */
#include "store_wb.h"

#include "store_sqlite.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* WAL pages after a flush past which the writer checkpoints (PASSIVE:
 * nothing else writes, so it copies every frame and the WAL restarts at
 * the next flush). SQLite's own auto-checkpoint threshold; it runs on the
 * writer thread, never on the event loop. */
#define WB_CKPT_PAGES 1000

enum { W_BEGIN, W_COMMIT, W_ROLLBACK, W_PUT, W_DEL, W_COUNT };

static const char *const writer_sql[W_COUNT] = {
    [W_BEGIN] = "BEGIN IMMEDIATE",
    [W_COMMIT] = "COMMIT",
    [W_ROLLBACK] = "ROLLBACK",
    [W_PUT] = "INSERT OR REPLACE INTO kv(key, token, hlc, node, expires, value, attr)"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [W_DEL] = "DELETE FROM kv WHERE token = ?2 AND key = ?1",
};

struct wb_writer {
    sqlite3 *db;
    sqlite3_stmt *st[W_COUNT];
    int wal_pages;          /* the writer's own: after its last commit */
    pthread_t thread;
    int started;
    pthread_mutex_t mu;     /* guards what follows */
    pthread_cond_t cv;
    struct wb_batch *todo;  /* submitted, not yet begun */
    struct wb_batch *doing; /* being applied, or done and not taken back */
    int done;               /* doing is done */
    int stop;
    int64_t wal_bytes, checkpoints, page_size;
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the loop thread's connection ------------------------------------ */

int rc_wb_db_open(const struct rc_store_opts *opts, sqlite3 **out, int64_t *page_size,
                  char *errbuf, size_t errlen)
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
    free(b->rows);
    free(b);
}

/* sqlite3_wal_hook: the WAL's size after each commit (replaces SQLite's
 * auto-checkpoint: the writer checkpoints itself, WB_CKPT_PAGES). */
static int on_wal(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct wb_writer *w = arg;

    (void)db;
    (void)name;
    w->wal_pages = pages;
    return SQLITE_OK;
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int apply_row(struct wb_writer *w, const struct wb_row *r)
{
    sqlite3_stmt *st = w->st[r->kind == WB_DELETE ? W_DEL : W_PUT];

    rc_store_sqlite_bind_bytes(st, 1, wb_row_key(r), r->key_len);
    sqlite3_bind_int64(st, 2, tok_db(r->token));
    if (r->kind != WB_DELETE) {
        sqlite3_bind_int64(st, 3, (int64_t)r->hlc);
        sqlite3_bind_int64(st, 4, (int64_t)r->node);
        sqlite3_bind_int64(st, 5, r->expires);
        if (r->kind == WB_VALUE)
            rc_store_sqlite_bind_bytes(st, 6, wb_row_key(r) + r->key_len, r->value_len);
        else
            sqlite3_bind_null(st, 6);
        sqlite3_bind_int64(st, 7, r->kind == WB_VALUE ? (int64_t)r->attr : 0);
    }
    return step_done(st);
}

/* (token, key) order, keys as SQLite compares blobs: the table's order. */
static int row_cmp(const void *pa, const void *pb)
{
    const struct wb_row *a = *(const struct wb_row *const *)pa;
    const struct wb_row *b = *(const struct wb_row *const *)pb;
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c;

    if (a->token != b->token)
        return a->token < b->token ? -1 : 1;
    c = n > 0 ? memcmp(wb_row_key(a), wb_row_key(b), n) : 0;
    if (c != 0)
        return c;
    return a->key_len < b->key_len ? -1 : a->key_len > b->key_len;
}

/* The rows in the table's order, so each page is written once per
 * batch. Here, not on the loop: a sort is most of a batch's building. */
static int sort_rows(struct wb_batch *b)
{
    size_t i;

    b->rows = malloc((b->nrows ? b->nrows : 1) * sizeof(*b->rows));
    if (b->rows == NULL)
        return RC_ENOMEM;
    for (i = 0; i < b->nrows; i++)
        b->rows[i] = (const struct wb_row *)(b->buf + b->offs[i]);
    qsort(b->rows, b->nrows, sizeof(*b->rows), row_cmp);
    return 0;
}

/* One transaction for the whole batch: all of it is on disk, or none. */
static void apply_batch(struct wb_writer *w, struct wb_batch *b)
{
    int64_t t0 = mono_ms();
    size_t i;
    int rc;

    if (sort_rows(b) < 0) {
        b->err = RC_ENOMEM;
        b->took_ms = mono_ms() - t0;
        return;
    }
    rc = step_done(w->st[W_BEGIN]);

    for (i = 0; i < b->nrows && rc == SQLITE_OK; i++)
        rc = apply_row(w, wb_batch_row(b, i));
    if (rc == SQLITE_OK)
        rc = step_done(w->st[W_COMMIT]);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(w->db))
        step_done(w->st[W_ROLLBACK]);
    b->err = rc == SQLITE_OK ? 0 : map_err(rc);
    if (rc == SQLITE_OK && w->wal_pages >= WB_CKPT_PAGES &&
        sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) ==
            SQLITE_OK) {
        pthread_mutex_lock(&w->mu);
        w->checkpoints++;
        pthread_mutex_unlock(&w->mu);
    }
    b->took_ms = mono_ms() - t0;
}

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
        w->wal_bytes = (int64_t)w->wal_pages * w->page_size;
        w->done = 1;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void writer_free(struct wb_writer *w)
{
    int i;

    for (i = 0; i < W_COUNT; i++)
        sqlite3_finalize(w->st[i]);
    sqlite3_close(w->db);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

int rc_wb_writer_start(const struct rc_store_opts *opts, struct wb_writer **out, char *errbuf,
                       size_t errlen)
{
    struct wb_writer *w = calloc(1, sizeof(*w));
    int i, rc = SQLITE_OK, err;

    *out = NULL;
    if (w == NULL)
        return RC_ENOMEM;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    err = rc_wb_db_open(opts, &w->db, &w->page_size, errbuf, errlen);
    for (i = 0; err == 0 && i < W_COUNT && rc == SQLITE_OK; i++)
        rc = sqlite3_prepare_v3(w->db, writer_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &w->st[i],
                                NULL);
    if (err == 0 && rc != SQLITE_OK) {
        rc_store_sqlite_set_err(errbuf, errlen, "cannot prepare the writer: %s",
                                sqlite3_errmsg(w->db));
        err = RC_EIO;
    }
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

void rc_wb_writer_stats(struct wb_writer *w, int64_t *wal_bytes, int64_t *checkpoints)
{
    pthread_mutex_lock(&w->mu);
    *wal_bytes = w->wal_bytes;
    *checkpoints = w->checkpoints;
    pthread_mutex_unlock(&w->mu);
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
