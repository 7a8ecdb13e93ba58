/*
 * store_sqlite.h - private to the SQLite engine of the store, which is
 * three files: store_sqlite.c (the engine: batches, point reads and
 * writes, metadata, stats, the checkpointer), store_sqlite_range.c (token
 * range scans, digests, counts and deletes) and store_sqlite_schema.c (the
 * on-disk schema and opening the database). Nothing outside them includes
 * it; the engine's public face is rc_store_engine_sqlite (store_engine.h).
 */
#ifndef RC_STORE_SQLITE_H
#define RC_STORE_SQLITE_H

#include "store.h"

#include "err.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* Every statement the engine runs, prepared at open (stmt_sql in
 * store_sqlite.c). */
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

struct store_counts {
    int64_t keys;
    int64_t tombstones;
    int64_t bytes;
};

struct sqlite_store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    sqlite3_stmt *held;  /* statement whose row backs the last get */
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

/* Tokens are stored with their top bit flipped, so SQLite's signed order
 * is the ring's unsigned order and an inclusive token range [first, last]
 * is one index range, [tok_db(first), tok_db(last)]. */
static inline int64_t tok_db(uint64_t token)
{
    return (int64_t)(token ^ 0x8000000000000000ull);
}

static inline uint64_t tok_ring(int64_t v)
{
    return (uint64_t)v ^ 0x8000000000000000ull;
}

/* Disk full and the max_page_count cap both surface as SQLITE_FULL. */
static inline int map_err(int rc)
{
    return (rc & 0xff) == SQLITE_FULL ? RC_EFULL : RC_EIO;
}

/* store_sqlite.c: shared with the range functions. */

/* Called on entry to every op: lets go of the row of the last get and
 * notices a batch SQLite rolled back by itself. */
void rc_store_sqlite_enter(struct sqlite_store *s);
/* Resets a statement and clears its bindings after every use. */
void rc_store_sqlite_done(sqlite3_stmt *st);
/* Binds bytes as a blob (never NULL, even when len is 0); borrowed until
 * rc_store_sqlite_done. */
void rc_store_sqlite_bind_bytes(sqlite3_stmt *st, int i, const uint8_t *p, size_t len);
/* Fills e from the current row of ST_GET / ST_SCAN*; pointers borrowed
 * from the statement until it steps or is reset. */
void rc_store_sqlite_row_to_entry(sqlite3_stmt *st, struct rc_entry *e);
/* Runs a bound DELETE ... RETURNING length(key), length(value) in the
 * batch, keeping the counters. 0 with *deleted, or RC_EFULL / RC_EIO
 * (batch discarded). */
int rc_store_sqlite_delete_rows(struct sqlite_store *s, sqlite3_stmt *st, int *deleted);

/* store_sqlite_range.c: the range ops of store_engine.h (eng is a
 * struct sqlite_store). */
int rc_store_sqlite_scan(void *eng, uint64_t first, uint64_t last, uint64_t after_token,
                         const uint8_t *after_key, size_t after_key_len, int limit,
                         int64_t now_ms, rc_store_scan_cb cb, void *arg);
int rc_store_sqlite_range_digest_before(void *eng, uint64_t first, uint64_t last,
                                        int64_t now_ms, uint64_t before_hlc, uint64_t *digest,
                                        uint64_t *count);
int rc_store_sqlite_range_count(void *eng, uint64_t first, uint64_t last, int64_t now_ms,
                                uint64_t *count);
int rc_store_sqlite_delete_range(void *eng, uint64_t first, uint64_t last, int max_rows,
                                 int *deleted);

/* store_sqlite_schema.c. */

/* Opens <opts->data_dir>/ringcache.db into s->db (creating the directory,
 * mode 0700), refuses a newer schema, sets the pragmas, migrates schema 1
 * and creates the schema. 0, RC_EIO (message in errbuf) or RC_ENOMEM; on
 * failure s->db may be open and is the caller's to close. */
int rc_store_sqlite_setup(struct sqlite_store *s, const struct rc_store_opts *opts,
                          char *errbuf, size_t errlen);
/* Runs one statement (open time only) and reads an integer from its first
 * row when out is not NULL. An SQLite result code. */
int rc_store_sqlite_setup_int(sqlite3 *db, const char *sql, int64_t *out);
/* snprintf into errbuf when it is given. */
void rc_store_sqlite_set_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
