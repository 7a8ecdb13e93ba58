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
    uint32_t kind;  /* enum wb_kind in the low 8 bits; a value's RC_KIND_* above (<< 8) */
    uint32_t flags; /* a value's client flags (padding, always 0, before attributes:
                       journals of older builds read as values without them) */
};

/* What a row does (enum wb_kind), and the attributes of its value. */
static inline uint32_t wb_row_op(const struct wb_row *r)
{
    return r->kind & 0xffu;
}

static inline uint64_t wb_row_attr(const struct wb_row *r)
{
    struct rc_attr a = {r->flags, r->kind >> 8};

    return wb_row_op(r) == WB_VALUE ? rc_attr_pack(&a) : 0;
}

static inline const uint8_t *wb_row_key(const struct wb_row *r)
{
    return (const uint8_t *)(r + 1);
}

/* A flush (the dirty keys' states) or a snapshot's segment (memory's
 * entries in (token, key) order): one journal row. Built on the loop
 * thread, appended by the writer, handed back. */
struct wb_batch {
    uint8_t *buf;  /* the rows */
    size_t len, cap;
    size_t *offs;  /* offsets of the rows in buf, as added */
    size_t nrows, caprows;
    int64_t oldest_ms; /* monotonic time of the oldest change it carries */
    uint64_t last_seq; /* the dirty set's mark of its last key (flush tokens) */
    int snap;          /* 0: a flush; else a snapshot segment, WB_SNAP_* */
    /* Set by the writer: */
    int err;           /* 0, RC_EIO, RC_EFULL or RC_ENOMEM (nothing of the batch written) */
    int64_t took_ms;   /* how long it took */
};

/* A snapshot segment's place in its snapshot (wb_batch.snap). */
#define WB_SNAP_SEGMENT 1 /* any segment */
#define WB_SNAP_FIRST 2   /* the first: the snapshot begins at its journal row */
#define WB_SNAP_LAST 4    /* the last: completes it */


/*
 * The journal (store_wb_journal.c): the table's state is the kv table,
 * then every journal row (seq order) applied over it. A flush appends its
 * batch as one row. A snapshot appends memory's entries, in token order,
 * as segments (rows of the same format) between flushes; the transaction
 * of its last segment deletes kv's rows and the journal rows before its
 * first segment (Redis's AOF rewrite, from memory, into the same table).
 * The write-behind engine replays kv and the journal into memory at open
 * (rc_wb_journal_replay); the direct engine folds the journal into kv at
 * open (rc_wb_journal_fold_all: each key's last state, in (token, key)
 * order, in folds of a bounded number of rows).
 */
/* Journal bytes below which no snapshot is taken (rc_store_opts.
 * snapshot_bytes changes it: tests). With the rule of twice the last
 * snapshot's journal, as Redis's auto-aof-rewrite-min-size (64mb) and
 * auto-aof-rewrite-percentage (100): a snapshot writes the data once
 * each time the flushes have written as much again, so the disk writes
 * at most twice what the clients write, and a restart replays at most
 * twice the data. */
#define WB_SNAP_MIN_BYTES (64ll << 20)

/* Bytes of one snapshot segment: what the loop copies from memory in one
 * go (~0.3 ms for 1 MiB of 100-byte values), and one journal row. */
#define WB_SNAP_SEGMENT_BYTES (1 << 20)

/* The most journal bytes one fold reads and holds in memory (plus 24
 * bytes a row) when the direct engine folds a journal at open. Larger:
 * fewer passes over kv's leaves (64 MiB is ~500,000 rows of 100 B). */
#define WB_FOLD_BYTES (64ll << 20)

struct sqlite3;
struct sqlite3_stmt;
#define WB_JOURNAL_STMTS 11
struct wb_journal {
    struct sqlite3 *db;
    struct sqlite3_stmt *st[WB_JOURNAL_STMTS];
    int64_t bytes;      /* journal data bytes */
    int64_t base_bytes; /* journal data bytes when the last snapshot completed (or at open) */
    int64_t snap_start; /* seq of the first segment of the snapshot under way; 0: none */
    int64_t snapshots;  /* snapshots completed */
    int64_t max_read;   /* the most a fold reads (WB_FOLD_BYTES unless set after open) */
    int64_t folds;      /* folds completed */
    /* The fold under way (upto 0: none): */
    int64_t upto;       /* the last journal seq it covers */
    int64_t fold_bytes; /* the data bytes of the rows it covers */
    uint8_t **blobs;    /* those rows, read into memory */
    size_t nblobs;
    const struct wb_row **rows; /* each key's last state, sorted */
    size_t nrows, next; /* rows applied so far: [0, next) */
};

/* Prepares the statements on db. 0, RC_EIO, RC_ENOMEM. */
int rc_wb_journal_open(struct sqlite3 *db, struct wb_journal *j);
/* Frees a fold under way (its journal rows stay: a later fold redoes it). */
void rc_wb_journal_close(struct wb_journal *j);
/* Appends the batch's rows in one transaction (a snapshot's last
 * segment also drops what the snapshot made redundant). 0 or RC_EIO /
 * RC_EFULL / RC_ENOMEM (nothing appended; a failed first segment leaves
 * no snapshot begun), RC_EINVAL for a segment of no snapshot begun. */
int rc_wb_journal_append(struct wb_journal *j, const struct wb_batch *b);
/* Forgets the snapshot under way (its segments stay, harmless). */
void rc_wb_journal_snapshot_abandon(struct wb_journal *j);
/* Calls fn for each row of the journal in order (seq, then within a
 * journal row); fn returning non-zero stops (negative: an error
 * returned). 0, RC_EIO (a corrupt row), RC_ENOMEM or fn's error. */
int rc_wb_journal_replay(struct sqlite3 *db, int (*fn)(void *arg, const struct wb_row *r),
                         void *arg);
/* One transaction of a fold: begins one if none is under way (reading the
 * journal), applies up to max_rows rows; *done = 1 when the fold ended
 * (the journal rows it covered deleted) or the journal was empty. An
 * error leaves the fold where it was, to be retried. */
int rc_wb_journal_fold_step(struct wb_journal *j, size_t max_rows, int *done);
/* The journal's data bytes. 0 or RC_EIO. */
int rc_wb_journal_size(struct sqlite3 *db, int64_t *bytes);
/* Folds the whole journal (at open, before the table is read), max_read
 * bytes a fold (<= 0: WB_FOLD_BYTES). */
int rc_wb_journal_fold_all(struct sqlite3 *db, int64_t max_read);

struct wb_writer;

/* Opens a connection to <data_dir>/ringcache.db (schema created or
 * migrated, WAL, synchronous=NORMAL: store_sqlite_schema.c) for the loop
 * thread: the load at open, metadata, the file's size. 0, RC_EIO (errbuf)
 * or RC_ENOMEM; *out NULL on failure. */
struct sqlite3;
int rc_wb_db_open(const struct rc_store_opts *opts, struct sqlite3 **out, int64_t *page_size,
                  int64_t cache_kib, char *errbuf, size_t errlen);
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

/* The writer thread, with its own connection. data_bytes: what a
 * snapshot of memory as loaded would write (the first snapshot is due
 * once the journal doubled from the smaller of it and the journal's size:
 * a journal left long by a crash is compacted soon). 0, RC_EIO,
 * RC_ENOMEM. */
int rc_wb_writer_start(const struct rc_store_opts *opts, int64_t data_bytes,
                       struct wb_writer **out, char *errbuf, size_t errlen);
/* Hands a batch over (the writer owns it until it comes back from
 * rc_wb_writer_poll). At most one batch at a time: only when idle. */
void rc_wb_writer_submit(struct wb_writer *w, struct wb_batch *b);
/* The batch given back when it is done (b->err says how), or NULL while it
 * runs or when none was submitted. wait_ms: how long to wait for it to
 * end (0: not at all, < 0: until it does). */
struct wb_batch *rc_wb_writer_poll(struct wb_writer *w, int wait_ms);
/* Whether a batch is submitted and not yet taken back. */
int rc_wb_writer_busy(struct wb_writer *w);
/* The writer's figures of rc_store_stats: WAL size after the last
 * commit, checkpoints, journal bytes, snapshots completed and failed, and
 * whether one is under way. */
void rc_wb_writer_stats(struct wb_writer *w, struct rc_store_stats *st);
/* 1 when the journal has grown enough for a snapshot: past the smallest
 * threshold and twice what it held when the last one completed. */
int rc_wb_writer_snapshot_due(struct wb_writer *w);
/* 1 while the journal is past what snapshots should keep it under (the
 * loop holds writes back meanwhile). */
int rc_wb_writer_backlogged(struct wb_writer *w);
/* Stops the thread (after the batch it runs, not taken back: freed) and
 * closes its connection. NULL is a no-op. */
void rc_wb_writer_stop(struct wb_writer *w);

void rc_wb_batch_free(struct wb_batch *b);

#endif
