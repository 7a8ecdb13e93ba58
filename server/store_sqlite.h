/*
 * store_sqlite.h - private to the SQLite engine of the store, which is
 * four files: store_sqlite.c (the engine: batches, point reads and
 * writes, metadata, stats, the checkpointer), store_sqlite_range.c (token
 * range scans, digests, counts and deletes), store_sqlite_evict.c (the
 * file's budget and eviction) and store_sqlite_schema.c (the on-disk
 * schema and opening the database). Nothing outside them includes
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
    ST_PUT_EVICT,
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
    ST_VOLATILE,
    ST_FREELIST_COUNT,
    ST_EVICT,
    ST_COUNT
};

struct store_counts {
    int64_t keys;
    int64_t tombstones;
    int64_t bytes;
};

struct rc_evghost;

/* The file's budget and eviction (store_sqlite_evict.c). */
struct sqlite_evict {
    int policy;               /* enum rc_evict_policy */
    int64_t max_bytes;        /* the budget as given (0 = none) */
    int64_t max_pages;        /* max_bytes in pages (0 = none) */
    int64_t no_cap_pages;     /* SQLite's max_page_count before any cap */
    int over_file;            /* the budget is below the file's size (see
                                 store_sqlite_evict.c): writes check it */
    uint64_t rng;             /* random positions (splitmix64 state) */
    struct rc_evghost *ghost; /* versions evicted; NULL until a policy evicts */
    int64_t evicted, evicted_bytes, ghost_refused;
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
    struct sqlite_evict ev;
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
/* The same with each row handed to on_row (when not NULL) after it is
 * counted (columns 0 and 1 are length(key), length(value), the others the
 * statement's); with keep_on_full, a FULL that SQLite undid alone (the
 * statement, not the batch: an eviction's delete may need a page) keeps
 * the batch and returns RC_EFULL. */
typedef void (*rc_store_sqlite_row_fn)(void *arg, sqlite3_stmt *st);
int rc_store_sqlite_delete_rows_cb(struct sqlite_store *s, sqlite3_stmt *st, int *deleted,
                                   rc_store_sqlite_row_fn on_row, void *arg, int keep_on_full);
/* Reads an integer from the first row of a pragma statement (ST_PAGE_COUNT,
 * ST_FREELIST_COUNT); 0 or RC_EIO. */
int rc_store_sqlite_pragma_int(sqlite3_stmt *st, int64_t *out);

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

/* store_sqlite_evict.c: the budget and eviction. */

/* At open, after the schema: the budget of opts (the cap itself was set
 * by rc_store_sqlite_setup) and the policy. 0, RC_ENOMEM or RC_EIO. */
int rc_store_sqlite_evict_open(struct sqlite_store *s, const struct rc_store_opts *opts);
void rc_store_sqlite_evict_close(struct sqlite_store *s);
/* The statement a write puts its row with: ST_PUT, or with a cap and a
 * policy that evicts ST_PUT_EVICT (see there). */
sqlite3_stmt *rc_store_sqlite_put_stmt(struct sqlite_store *s);
/* A value write of a key the store does not hold, at version ver: 1 when
 * it must be ignored (the key was evicted at a version at least as new;
 * counted), else 0. */
int rc_store_sqlite_ghost_refuses(struct sqlite_store *s, uint64_t token,
                                  const struct rc_version *ver);
/* Before a write of key (token: tok_db), in the open batch: 0 when it may
 * go ahead (after evicting to make room when the budget is below the
 * file's size), or RC_EFULL / RC_EIO (the caller discards the batch). */
int rc_store_sqlite_before_put(struct sqlite_store *s, const uint8_t *key, size_t key_len,
                               int64_t token, int64_t now_ms);
/* After put (which writes key's row) failed with err in the open batch:
 * when err is RC_EFULL, the policy evicts and the batch survived, evicts
 * rows and calls put(arg) again, a bounded number of times. Returns the
 * last error, or 0 once put succeeded. */
typedef int (*rc_store_sqlite_put_fn)(void *arg);
int rc_store_sqlite_evict_retry(struct sqlite_store *s, int err, const uint8_t *key,
                                size_t key_len, int64_t token, int64_t now_ms,
                                rc_store_sqlite_put_fn put, void *arg);
/* The ops of store_engine.h. */
int rc_store_sqlite_set_evict(void *eng, int64_t budget, int policy);
int rc_store_sqlite_evict_step(void *eng, int64_t now_ms, int max_rows, int *evicted);
int rc_store_sqlite_evicted(void *eng, uint64_t token, struct rc_version *ver);
/* Fills the eviction fields of *st. */
void rc_store_sqlite_evict_stats(struct sqlite_store *s, struct rc_store_stats *st);

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
