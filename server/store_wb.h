/*
 * store_wb.h - private to the write-behind engine, which is two files:
 * store_wb.c (the engine: memory serves, dirty keys, flush batches,
 * backpressure, warm restart) and store_wb_flush.c (the SQLite side: the
 * writer thread and its connection, loading the table at open, the
 * metadata). Nothing else includes it; the engine's public face is
 * rc_store_engine_wb (store_engine.h).
 */
#ifndef RC_STORE_WB_H
#define RC_STORE_WB_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* What a flush does to one key's row. */
enum wb_kind {
    WB_DELETE, /* the key is not in memory (evicted, purged, deleted by range) */
    WB_VALUE,  /* upsert a value */
    WB_TOMB    /* upsert a tombstone */
};

/* One row of a batch, in the batch's arena: this header, the key, then
 * the value (WB_VALUE), padded to 8 bytes. */
struct wb_row {
    uint64_t token;
    uint64_t hlc, node;
    int64_t expires;
    uint32_t key_len, value_len;
    uint32_t kind; /* enum wb_kind */
    uint32_t pad;
    uint64_t attr; /* rc_attr_pack of the value's attributes */
};

static inline const uint8_t *wb_row_key(const struct wb_row *r)
{
    return (const uint8_t *)(r + 1);
}

/* A flush: rows in (token, key) order, so SQLite writes each page of the
 * table once per batch. Built on the loop thread, applied by the writer,
 * handed back. */
struct wb_batch {
    uint8_t *buf;  /* the rows */
    size_t len, cap;
    size_t *offs;  /* offsets of the rows in buf, as added */
    const struct wb_row **rows; /* the rows, sorted (by the writer) */
    size_t nrows, caprows;
    int64_t oldest_ms; /* monotonic time of the oldest change it carries */
    uint64_t last_seq; /* the dirty set's mark of its last key (flush tokens) */
    /* Set by the writer: */
    int err;           /* 0, RC_EIO, RC_EFULL or RC_ENOMEM (nothing of the batch written) */
    int64_t took_ms;   /* how long it took */
};

static inline const struct wb_row *wb_batch_row(const struct wb_batch *b, size_t i)
{
    return b->rows[i];
}

struct wb_writer;

/* Opens a connection to <data_dir>/ringcache.db (schema created or
 * migrated, WAL, synchronous=NORMAL: store_sqlite_schema.c) for the loop
 * thread: the load at open, metadata, the file's size. 0, RC_EIO (errbuf)
 * or RC_ENOMEM; *out NULL on failure. */
struct sqlite3;
int rc_wb_db_open(const struct rc_store_opts *opts, struct sqlite3 **out, int64_t *page_size,
                  char *errbuf, size_t errlen);
void rc_wb_db_close(struct sqlite3 *db);

/* Calls fn for every row of the table in (token, key) order; fn returning
 * non-zero stops. The entry is borrowed until fn returns. 0 or RC_EIO. */
int rc_wb_db_load(struct sqlite3 *db, int (*fn)(void *arg, const struct rc_entry *e), void *arg);

/* Metadata on the loop thread's connection, committed at once (a busy
 * writer is waited for, briefly). store.h's meta functions. */
int rc_wb_db_meta_get(struct sqlite3 *db, const char *name, uint64_t *value);
int rc_wb_db_meta_set(struct sqlite3 *db, const char *name, uint64_t value);
/* Pages in use times the page size; 0 on error. */
int64_t rc_wb_db_bytes(struct sqlite3 *db, int64_t page_size);

/* The writer thread, with its own connection. 0, RC_EIO, RC_ENOMEM. */
int rc_wb_writer_start(const struct rc_store_opts *opts, struct wb_writer **out, char *errbuf,
                       size_t errlen);
/* Hands a batch over (the writer owns it until it comes back from
 * rc_wb_writer_poll). At most one batch at a time: only when idle. */
void rc_wb_writer_submit(struct wb_writer *w, struct wb_batch *b);
/* The batch given back when it is done (b->err says how), or NULL while it
 * runs or when none was submitted. wait_ms: how long to wait for it to
 * end (0: not at all, < 0: until it does). */
struct wb_batch *rc_wb_writer_poll(struct wb_writer *w, int wait_ms);
/* Whether a batch is submitted and not yet taken back. */
int rc_wb_writer_busy(struct wb_writer *w);
/* WAL size after the last commit and checkpoints done. */
void rc_wb_writer_stats(struct wb_writer *w, int64_t *wal_bytes, int64_t *checkpoints);
/* Stops the thread (after the batch it runs, not taken back: freed) and
 * closes its connection. NULL is a no-op. */
void rc_wb_writer_stop(struct wb_writer *w);

void rc_wb_batch_free(struct wb_batch *b);

#endif
