/*
 * store_wb.c - the write-behind engine of the store (store_engine.h), for
 * a data directory: memory serves, SQLite persists behind.
 *
 * The serving copy is the memory engine's memkv (store_mem.c's ops run
 * every read, write, scan, digest, count, purge, range delete and
 * eviction: a read or a miss never touches SQLite). Each key changed since
 * the last flush is remembered in a dirty set (its token and key only;
 * repeated writes of a key coalesce). Every flush_ms, at a commit (never
 * with a batch open), a flush takes each dirty key's state in memory as it
 * is then (a value or a tombstone: upsert the row; absent: delete it),
 * sorted by (token, key), and hands the batch to the writer thread
 * (store_wb_flush.c), which writes it in one transaction. One batch at a
 * time; keys changed meanwhile wait for the next. A failed batch puts its
 * keys back in the set.
 *
 * The file is a persistent copy of memory, not a second tier: an entry
 * memkv drops by itself (eviction, purge, range delete: its drop hook) is
 * deleted from disk too, and a miss never reads the disk. A restart loads
 * the whole table into memory before serving (warm restart).
 *
 * Durability: an acknowledged write is in memory at once and committed to
 * SQLite's WAL within flush_ms plus the flush's own time; the lag is in
 * the stats (wb_lag_ms), and past max_lag_ms rc_store_backlogged tells the
 * node to stop reading clients until the writer catches up.
 */
#include "store_wb.h"

#include "err.h"
#include "memkv.h"
#include "store_mem.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Defaults of rc_store_opts' flush_ms and max_lag_ms: Redis's everysec
 * loses up to a second; a flush every 100 ms keeps the loss of a crash of
 * every node at a tenth of that, and batches are still large (a thousand
 * writes at 10k/s). */
#define WB_FLUSH_MS 100
#define WB_MAX_LAG_MS 1000

/* Dirty bytes (keys and values as written) past which writes are held
 * back whatever the lag: bounds the memory a flush batch copies. 256 MiB
 * is seconds of writes at any rate the writer keeps up with. */
#define WB_MAX_DIRTY_BYTES (256ll << 20)

/* The writer's pace before it has been measured, ms per row: 10 us, the
 * slow end of what store_wb_bench measures (random keys into a table of
 * a million). Measured on flushes of at least WB_PACE_MIN_ROWS. */
#define WB_PACE_START 0.01
#define WB_PACE_MIN_ROWS 1000

/* The longest a commit waits for the writer (backpressure): the loop
 * still runs its timers and peers between waits (a replica timeout is
 * 1 s), and each wait holds back a whole loop iteration of requests. */
#define WB_BACKLOG_WAIT_MS 20

/* The loop thread's SQLite page cache: it reads the table once, in order,
 * at open (a scan needs no cache) and then only metadata. */
#define WB_LOOP_CACHE_KIB 2048

/* Rows per flush at most, and bytes (keys and values). A flush appends
 * one journal row, so its cost on disk is its bytes, whatever their
 * number; what the cap bounds is the loop's time building it (a peek and
 * a copy a key, ~1 ms for 8k keys of 100 B, all clients waiting) and
 * the memory it copies. The keys beyond wait for the next flush, started
 * as soon as this one ends (they are overdue). Measured with 1M keys at
 * pipeline 16: 64k-row flushes stalled the loop ~6 ms each and p99 was
 * 25 ms; 8k rows brought it to ~18 ms. */
#define WB_MAX_BATCH_ROWS 8192
#define WB_MAX_BATCH_BYTES (2 << 20)

/* The largest batch buffer kept for reuse (batch_release): a flush's or
 * a segment's, plus one large value. */
#define WB_SPARE_BYTES (8 << 20)

/* A dirty key in the set's arena: this header then the key, padded to 8. */
struct dkey {
    uint64_t token;
    uint32_t key_len;
    uint32_t taken; /* 1: in a flush already; a later mark adds the key again */
    uint64_t seq;   /* order of the marks that added keys (the flush tokens) */
};

/* The dirty set: keys in an arena, an open-addressing table of arena
 * offsets + 1 (0: empty slot) hashed by token (already a hash). */
struct dirty {
    uint8_t *arena;
    size_t head;       /* the keys before it were taken by flushes (oldest first) */
    size_t len, cap;
    uint64_t *slots;
    size_t nslots, n;  /* n: keys not taken */
    size_t used;       /* slots in use, taken keys included */
    uint64_t seq;      /* keys added so far (never reset) */
    int64_t bytes;     /* key and value bytes as marked */
    int64_t oldest_ms; /* monotonic time of the first mark since the set was emptied */
};

struct wb_store {
    struct mem_store mem; /* first: a struct wb_store is a struct mem_store for store_mem.c */
    struct sqlite3 *db;   /* the loop thread's connection: load, metadata */
    int64_t page_size;
    struct wb_writer *writer;
    struct dirty dirty;
    int64_t flush_ms, max_lag_ms;
    int64_t inflight_rows, inflight_oldest; /* the flush at the writer; 0 rows: none */
    struct {
        int active;       /* a snapshot begun and not completed or abandoned */
        int inflight;     /* one of its segments is at the writer */
        int turn;         /* under backpressure: a segment goes before the next flush */
        int have_cursor;  /* segments were taken: (token, key) is the last entry copied */
        uint64_t token;
        uint8_t *key;
        size_t key_len, key_cap;
        int64_t retry_ms; /* a segment failed: no snapshot before then (monotonic) */
    } snap;
    struct wb_batch *spare; /* a batch done with, its buffers kept for the next */
    int64_t flushes, flush_rows, flush_ms_max, flush_errors;
    int64_t backlog_waits; /* commits that waited for the writer (backpressure) */
    double ms_per_row; /* the writer's recent pace (backpressure's estimate) */
    uint64_t started;  /* flushes handed to the writer */
    uint64_t flushed_seq; /* keys added up to this mark are on disk (flush tokens) */
    int failed_since_empty; /* a flush failed since the engine was last all on disk */
    /* Drops the hook could not mark (no memory): their rows stay on disk
     * until the key is written again. Harmless for a cache: such a row is
     * a value at its version (last-writer-wins orders it), an expired one
     * (skipped at load) or a tombstone. */
    int64_t unmarked;
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* ---- the dirty set ------------------------------------------------------ */

static const struct dkey *dkey_at(const struct dirty *d, uint64_t slot)
{
    return (const struct dkey *)(d->arena + (slot - 1));
}

static int dirty_grow_slots(struct dirty *d)
{
    size_t n = d->nslots ? d->nslots * 2 : 1024, i, j;
    uint64_t *slots = calloc(n, sizeof(*slots));

    if (slots == NULL)
        return RC_ENOMEM;
    for (i = 0; i < d->nslots; i++) {
        if (d->slots[i] == 0 || dkey_at(d, d->slots[i])->taken) {
            d->used -= d->slots[i] != 0;
            continue;
        }
        for (j = dkey_at(d, d->slots[i])->token & (n - 1); slots[j] != 0; j = (j + 1) & (n - 1))
            ;
        slots[j] = d->slots[i];
    }
    free(d->slots);
    d->slots = slots;
    d->nslots = n;
    return 0;
}

/* Room for one more key of key_len bytes. 0 or RC_ENOMEM. */
static int dirty_reserve(struct dirty *d, size_t key_len)
{
    size_t need = sizeof(struct dkey) + pad8(key_len), cap;
    uint8_t *a;

    if ((d->used + 1) * 2 > d->nslots && dirty_grow_slots(d) < 0)
        return RC_ENOMEM;
    if (d->len + need <= d->cap)
        return 0;
    cap = d->cap ? d->cap * 2 : 64 * 1024;
    while (cap < d->len + need)
        cap *= 2;
    a = realloc(d->arena, cap);
    if (a == NULL)
        return RC_ENOMEM;
    d->arena = a;
    d->cap = cap;
    return 0;
}

/* Marks (token, key) dirty; bytes counts towards the cap when the key is
 * new to the set. 0 or RC_ENOMEM. */
static int dirty_mark(struct dirty *d, uint64_t token, const uint8_t *key, size_t key_len,
                      int64_t bytes)
{
    size_t need = sizeof(struct dkey) + pad8(key_len), j;
    struct dkey *k;

    if (dirty_reserve(d, key_len) < 0)
        return RC_ENOMEM;
    for (j = token & (d->nslots - 1); d->slots[j] != 0; j = (j + 1) & (d->nslots - 1)) {
        const struct dkey *o = dkey_at(d, d->slots[j]);

        if (!o->taken && o->token == token && o->key_len == key_len &&
            (key_len == 0 || memcmp(o + 1, key, key_len) == 0))
            return 0;
    }
    k = (struct dkey *)(d->arena + d->len);
    k->token = token;
    k->key_len = (uint32_t)key_len;
    k->taken = 0;
    k->seq = ++d->seq;
    if (key_len > 0)
        memcpy(k + 1, key, key_len);
    d->slots[j] = d->len + 1;
    d->used++;
    d->len += need;
    if (d->n++ == 0)
        d->oldest_ms = mono_ms();
    d->bytes += bytes;
    return 0;
}

static void dirty_clear(struct dirty *d)
{
    if (d->used > 0)
        memset(d->slots, 0, d->nslots * sizeof(*d->slots));
    d->head = 0;
    d->len = 0;
    d->n = 0;
    d->used = 0;
    d->bytes = 0;
}

static void dirty_free(struct dirty *d)
{
    free(d->arena);
    free(d->slots);
}

/* Drops the taken keys' room: the keys not taken into a new set, in
 * the same order, as old as the set was. 0, or RC_ENOMEM with nothing
 * changed. */
static int dirty_compact(struct dirty *d)
{
    size_t off = d->head;
    struct dirty t;
    const struct dkey *k;
    size_t o;

    memset(&t, 0, sizeof(t));
    for (o = off; o < d->len; o += sizeof(*k) + pad8(k->key_len)) {
        k = (const struct dkey *)(d->arena + o);
        if (dirty_mark(&t, k->token, (const uint8_t *)(k + 1), k->key_len, 0) < 0) {
            dirty_free(&t);
            return RC_ENOMEM;
        }
        /* Each key is new to t: its record is the last one. */
        ((struct dkey *)(t.arena + (o - off)))->seq = k->seq;
    }
    t.seq = d->seq;
    t.bytes = d->bytes;
    t.oldest_ms = d->oldest_ms;
    dirty_free(d);
    *d = t;
    return 0;
}

static void mark(struct wb_store *w, uint64_t token, const uint8_t *key, size_t key_len,
                 int64_t bytes)
{
    if (dirty_mark(&w->dirty, token, key, key_len, bytes) < 0)
        w->unmarked++;
}

/* memkv's drop hook: an entry left memory (eviction, purge, range
 * delete): its row must go too. */
static void on_drop(void *arg, uint64_t token, const uint8_t *key, size_t key_len)
{
    mark(arg, token, key, key_len, (int64_t)key_len);
}

/* ---- flushes -------------------------------------------------------------- */

static int batch_reserve(struct wb_batch *b, size_t bytes)
{
    size_t cap;
    uint8_t *buf;
    size_t *offs;

    if (b->nrows == b->caprows) {
        cap = b->caprows ? b->caprows * 2 : 1024;
        offs = realloc(b->offs, cap * sizeof(*offs));
        if (offs == NULL)
            return RC_ENOMEM;
        b->offs = offs;
        b->caprows = cap;
    }
    if (b->len + bytes <= b->cap)
        return 0;
    cap = b->cap ? b->cap * 2 : 256 * 1024;
    while (cap < b->len + bytes)
        cap *= 2;
    buf = realloc(b->buf, cap);
    if (buf == NULL)
        return RC_ENOMEM;
    b->buf = buf;
    b->cap = cap;
    return 0;
}

/* A batch to fill: the spare one, or a new one. */
static struct wb_batch *batch_new(struct wb_store *w)
{
    struct wb_batch *b = w->spare;

    if (b == NULL)
        return calloc(1, sizeof(*b));
    w->spare = NULL;
    return b;
}

/* Done with a batch: kept as the spare unless one is kept already or its
 * buffer grew past WB_SPARE_BYTES (a large value). Why: a buffer freed
 * and allocated again is fresh pages from the kernel (glibc maps blocks
 * this large), each one a page fault on the loop, every flush. */
static void batch_release(struct wb_store *w, struct wb_batch *b)
{
    if (w->spare != NULL || b->cap > WB_SPARE_BYTES) {
        rc_wb_batch_free(b);
        return;
    }
    b->len = 0;
    b->nrows = 0;
    b->oldest_ms = 0;
    b->last_seq = 0;
    b->snap = 0;
    b->err = 0;
    b->took_ms = 0;
    w->spare = b;
}

/* Appends key's current state in memory to the batch. */
static int batch_add(struct wb_store *w, struct wb_batch *b, uint64_t token, const uint8_t *key,
                     size_t key_len)
{
    struct rc_memkv_entry e;
    int found = rc_memkv_peek(w->mem.kv, token, key, key_len, &e) == 0;
    size_t vlen = found && e.value != NULL ? e.value_len : 0;
    struct wb_row *r;

    if (batch_reserve(b, sizeof(*r) + pad8(key_len + vlen)) < 0)
        return RC_ENOMEM;
    r = (struct wb_row *)(b->buf + b->len);
    memset(r, 0, sizeof(*r));
    r->token = token;
    r->key_len = (uint32_t)key_len;
    r->kind = !found ? WB_DELETE : e.value == NULL ? WB_TOMB : WB_VALUE;
    if (found && e.value != NULL) {
        struct rc_attr a = rc_attr_unpack(e.attr);

        r->kind |= a.kind << 8;
        r->flags = a.flags;
    }
    if (found) {
        r->hlc = e.hlc;
        r->node = e.node;
        r->expires = e.expires_ms;
        r->value_len = (uint32_t)vlen;
    }
    if (key_len > 0)
        memcpy((uint8_t *)(r + 1), key, key_len);
    if (vlen > 0)
        memcpy((uint8_t *)(r + 1) + key_len, e.value, vlen);
    b->offs[b->nrows++] = b->len;
    b->len += sizeof(*r) + pad8(key_len + vlen);
    return 0;
}

/* The dirty keys' states (the writer sorts them, off the loop); the set
 * is emptied. NULL (the set kept) without memory for the batch. */
static struct wb_batch *build_batch(struct wb_store *w)
{
    struct wb_batch *b = batch_new(w);
    struct dirty *d = &w->dirty;
    struct dkey *k;
    size_t off;

    if (b == NULL)
        return NULL;
    for (off = d->head;
         off < d->len && b->nrows < WB_MAX_BATCH_ROWS && b->len < WB_MAX_BATCH_BYTES;
         off += sizeof(*k) + pad8(k->key_len)) {
        k = (struct dkey *)(d->arena + off);
        if (batch_add(w, b, k->token, (const uint8_t *)(k + 1), k->key_len) < 0)
            goto fail;
        b->last_seq = k->seq;
    }
    /* Taken only now that the batch is whole: a failure leaves the set.
     * The bytes go with the keys taken, in proportion (an estimate). */
    d->bytes = d->n > 0 ? (int64_t)((double)d->bytes * (double)(d->n - b->nrows) / (double)d->n)
                        : 0;
    for (; d->head < off; d->head += sizeof(*k) + pad8(k->key_len)) {
        k = (struct dkey *)(d->arena + d->head);
        k->taken = 1;
        d->n--;
    }
    b->oldest_ms = d->oldest_ms;
    if (d->n == 0)
        dirty_clear(d);
    else if (d->head > d->len / 2)
        (void)dirty_compact(d); /* each key moved once at most; without memory, kept */
    return b;
fail:
    batch_release(w, b);
    return NULL;
}

/* ---- snapshots -------------------------------------------------------------- */

/*
 * A snapshot copies memory into the journal, a segment at a time, in
 * (token, key) order, while the node serves: the segments and the flushes
 * share the writer, one batch at a time. No segment is consistent with
 * another, and none needs to be: each journal row holds states memory
 * had when it was built, rows are replayed in the order they were built,
 * and every key changed after a segment copied it is in a later flush
 * (store_wb_journal.c). The last segment's transaction drops what came
 * before the first.
 */

/* Entries per segment at most: bounds the loop's time on small entries. */
#define SNAP_SEGMENT_ENTRIES 16384

/* After a failed segment, the next snapshot waits this long (ms). */
#define SNAP_RETRY_MS 1000

/* Whether a batch (a flush or a segment) is at the writer. */
static int writer_busy(const struct wb_store *w)
{
    return w->inflight_rows > 0 || w->snap.inflight;
}

/* Appends a row of the entry's state to the segment; stops the scan once
 * the segment is full. */
static int segment_add(void *arg, const struct rc_memkv_entry *e)
{
    struct wb_batch *b = arg;
    size_t vlen = e->value != NULL ? e->value_len : 0;
    struct wb_row *r;

    if (batch_reserve(b, sizeof(*r) + pad8(e->key_len + vlen)) < 0) {
        b->err = RC_ENOMEM;
        return 1;
    }
    r = (struct wb_row *)(b->buf + b->len);
    memset(r, 0, sizeof(*r));
    r->token = e->token;
    r->key_len = (uint32_t)e->key_len;
    r->kind = e->value == NULL ? WB_TOMB : WB_VALUE;
    if (e->value != NULL) {
        struct rc_attr a = rc_attr_unpack(e->attr);

        r->kind |= a.kind << 8;
        r->flags = a.flags;
    }
    r->hlc = e->hlc;
    r->node = e->node;
    r->expires = e->expires_ms;
    r->value_len = (uint32_t)vlen;
    if (e->key_len > 0)
        memcpy((uint8_t *)(r + 1), e->key, e->key_len);
    if (vlen > 0)
        memcpy((uint8_t *)(r + 1) + e->key_len, e->value, vlen);
    b->offs[b->nrows++] = b->len;
    b->len += sizeof(*r) + pad8(e->key_len + vlen);
    return b->len >= WB_SNAP_SEGMENT_BYTES;
}

static void snapshot_abandon(struct wb_store *w)
{
    w->snap.active = 0;
    w->snap.have_cursor = 0;
    w->snap.retry_ms = mono_ms() + SNAP_RETRY_MS;
}

/* Builds the snapshot's next segment from memory and hands it to the
 * writer (which must be idle). */
static void segment_start(struct wb_store *w)
{
    static const uint8_t empty[1];
    struct wb_batch *b = batch_new(w);
    const struct wb_row *last;
    int n;

    if (b == NULL) {
        snapshot_abandon(w);
        return;
    }
    b->snap = WB_SNAP_SEGMENT | (w->snap.have_cursor ? 0 : WB_SNAP_FIRST);
    /* now_ms 0: expired values too (the purge removes them, then their
     * rows), as memory holds them. */
    n = rc_memkv_scan(w->mem.kv, 0, UINT64_MAX, w->snap.token,
                      w->snap.have_cursor ? (w->snap.key != NULL ? w->snap.key : empty) : NULL,
                      w->snap.key_len, SNAP_SEGMENT_ENTRIES, 0, segment_add, b);
    if (b->err == 0 && b->nrows > 0) {
        last = (const struct wb_row *)(b->buf + b->offs[b->nrows - 1]);
        if (last->key_len > w->snap.key_cap) {
            uint8_t *k = realloc(w->snap.key, last->key_len);

            if (k == NULL)
                b->err = RC_ENOMEM;
            else {
                w->snap.key = k;
                w->snap.key_cap = last->key_len;
            }
        }
        if (b->err == 0) {
            w->snap.token = last->token;
            w->snap.key_len = last->key_len;
            if (last->key_len > 0)
                memcpy(w->snap.key, wb_row_key(last), last->key_len);
        }
    }
    if (b->err != 0) {
        batch_release(w, b);
        snapshot_abandon(w);
        return;
    }
    w->snap.have_cursor = 1;
    /* The scan went through: the end of memory. */
    if (b->len < WB_SNAP_SEGMENT_BYTES && n < SNAP_SEGMENT_ENTRIES)
        b->snap |= WB_SNAP_LAST;
    w->snap.inflight = 1;
    rc_wb_writer_submit(w->writer, b);
}

/* With the writer idle: the snapshot's next segment, or a new snapshot
 * when the journal has grown enough. 1 when a segment was handed over. */
static int snapshot_step(struct wb_store *w)
{
    if (!w->snap.active) {
        if (mono_ms() < w->snap.retry_ms || !rc_wb_writer_snapshot_due(w->writer))
            return 0;
        w->snap.active = 1;
        w->snap.have_cursor = 0;
    }
    segment_start(w);
    return w->snap.inflight;
}

/* A segment came back from the writer. */
static void segment_done(struct wb_store *w, struct wb_batch *b)
{
    w->snap.inflight = 0;
    if (b->err != 0)
        snapshot_abandon(w);
    else if (b->snap & WB_SNAP_LAST) {
        w->snap.active = 0;
        w->snap.have_cursor = 0;
    }
    batch_release(w, b);
}

/* Takes back the batch the writer finished, if any: its keys go back to
 * the set when it failed (they are written again by a later flush, from
 * memory as it is then). */
static void collect(struct wb_store *w, int wait_ms)
{
    struct wb_batch *b = rc_wb_writer_poll(w->writer, wait_ms);
    const struct wb_row *r;
    int64_t oldest;
    size_t i;

    if (b == NULL)
        return;
    if (b->snap != 0) {
        segment_done(w, b);
        return;
    }
    w->inflight_rows = 0;
    if (b->err == 0) {
        /* Flushes run one at a time and a failed one's keys join the next
         * before it is built: every change of a token up to this one is
         * on disk. */
        w->flushed_seq = b->last_seq;
        if (w->dirty.n == 0)
            w->failed_since_empty = 0;
        w->flushes++;
        w->flush_rows += (int64_t)b->nrows;
        if (b->took_ms > w->flush_ms_max)
            w->flush_ms_max = b->took_ms;
        if (b->nrows >= WB_PACE_MIN_ROWS) /* small ones say little: ms resolution */
            w->ms_per_row = 0.7 * w->ms_per_row + 0.3 * (double)b->took_ms / (double)b->nrows;
    } else {
        w->flush_errors++;
        w->failed_since_empty = 1;
        oldest = w->dirty.n > 0 && w->dirty.oldest_ms < b->oldest_ms ? w->dirty.oldest_ms
                                                                     : b->oldest_ms;
        for (i = 0; i < b->nrows; i++) {
            r = (const struct wb_row *)(b->buf + b->offs[i]); /* rows: maybe unsorted */
            mark(w, r->token, wb_row_key(r), r->key_len, (int64_t)(r->key_len + r->value_len));
        }
        w->dirty.oldest_ms = oldest;
    }
    batch_release(w, b);
}

/* Hands the dirty keys to the writer (which must be idle). */
static void start_flush(struct wb_store *w)
{
    struct wb_batch *b;

    if (w->dirty.n == 0)
        return;
    b = build_batch(w);
    if (b == NULL)
        return; /* kept: tried again at the next commit */
    w->inflight_rows = (int64_t)b->nrows;
    w->inflight_oldest = b->oldest_ms;
    w->started++;
    rc_wb_writer_submit(w->writer, b);
}

/* At a commit (no batch open): collects a finished flush, starts the next
 * one when due. */
static void flush_if_due(struct wb_store *w)
{
    if (writer_busy(w))
        collect(w, 0);
    if (writer_busy(w))
        return;
    if (w->dirty.n > 0 && mono_ms() - w->dirty.oldest_ms >= w->flush_ms)
        start_flush(w);
    else
        (void)snapshot_step(w); /* between flushes */
}

/* Everything to disk, waiting for it (close), a batch at a time. Two
 * failures end it: nobody is left to report them to. */
static void flush_all(struct wb_store *w)
{
    int64_t errors = w->flush_errors;

    while (writer_busy(w))
        collect(w, -1);
    while (w->dirty.n > 0 && w->flush_errors - errors < 2) {
        start_flush(w);
        if (w->inflight_rows == 0)
            break; /* no memory for a batch */
        collect(w, -1);
    }
}

/* ---- open and close -------------------------------------------------------- */

struct load_arg {
    struct wb_store *w;
    int err;
};

/*
 * One key's state from the file into memory, as it is: expired values
 * and tombstones past their purge time too, as the SQLite engine keeps
 * them until the purge (the store has no clock of its own; the purge's
 * first sweep removes them, and its drop hook their rows). The table's
 * rows come first, then the journal's in order, each replacing the key's
 * state (absent: removed). A state memory has no room for (noeviction
 * under a budget smaller than the data) is left out, the key with it (an
 * older state of the key must not be served instead): the key stays in
 * the file, not served, until a snapshot completes without it (a restart
 * with a larger budget before then loads it).
 */
static int load_state(struct load_arg *a, uint64_t token, const uint8_t *key, size_t key_len,
                      const uint8_t *value, size_t value_len, uint64_t hlc, uint64_t node,
                      int64_t expires_ms, uint64_t attr)
{
    struct rc_memkv *kv = a->w->mem.kv;
    int rv = rc_memkv_load(kv, token, key, key_len, value, value_len, hlc, node, expires_ms, attr,
                           0);

    if (rv == RC_EFULL)
        rv = rc_memkv_unload(kv, token, key, key_len);
    if (rv < 0) {
        a->err = rv;
        return 1;
    }
    return 0;
}

static int load_row(void *arg, const struct rc_entry *e)
{
    return load_state(arg, e->token, e->key, e->key_len, e->tombstone ? NULL : e->value,
                      e->value_len, e->ver.hlc, e->ver.node, e->expires_ms,
                      rc_attr_pack(&e->attr));
}

static int replay_row(void *arg, const struct wb_row *r)
{
    struct load_arg *a = arg;
    const uint8_t *key = wb_row_key(r);
    int rv;

    switch (wb_row_op(r)) {
    case WB_DELETE:
        rv = rc_memkv_unload(a->w->mem.kv, r->token, key, r->key_len);
        return rv < 0 ? rv : 0;
    case WB_TOMB:
        rv = load_state(a, r->token, key, r->key_len, NULL, 0, r->hlc, r->node, r->expires, 0);
        break;
    default:
        rv = load_state(a, r->token, key, r->key_len, key + r->key_len, r->value_len, r->hlc,
                        r->node, r->expires, wb_row_attr(r));
        break;
    }
    return rv != 0 ? a->err : 0;
}

static void wb_free(struct wb_store *w)
{
    rc_wb_writer_stop(w->writer);
    rc_wb_db_close(w->db);
    rc_memkv_free(w->mem.kv);
    dirty_free(&w->dirty);
    free(w->snap.key);
    rc_wb_batch_free(w->spare);
    free(w);
}

static int wb_open(const struct rc_store_opts *opts, void **eng, char *errbuf, size_t errlen)
{
    struct wb_store *w = calloc(1, sizeof(*w));
    struct load_arg la;
    int err;

    *eng = NULL;
    if (w == NULL)
        return RC_ENOMEM;
    w->flush_ms = opts->flush_ms > 0 ? opts->flush_ms : WB_FLUSH_MS;
    w->max_lag_ms = opts->max_lag_ms > 0 ? opts->max_lag_ms : WB_MAX_LAG_MS;
    w->ms_per_row = WB_PACE_START;
    err = rc_store_mem_init(&w->mem, opts);
    if (err < 0) {
        free(w);
        return err;
    }
    rc_memkv_set_drop_hook(w->mem.kv, on_drop, w);
    err = rc_wb_db_open(opts, &w->db, &w->page_size, WB_LOOP_CACHE_KIB, errbuf, errlen);
    if (err == 0) {
        la = (struct load_arg){w, 0};
        err = rc_wb_db_load(w->db, load_row, &la);
        if (err == 0)
            err = la.err;
        if (err == 0)
            err = rc_wb_journal_replay(w->db, replay_row, &la);
        if (err < 0 && errbuf != NULL && errlen > 0 && errbuf[0] == '\0')
            snprintf(errbuf, errlen, "cannot load the database: %s", rc_strerror(err));
    }
    if (err == 0) {
        struct rc_memkv_stats ms;

        /* A snapshot's bytes: each entry's row header, key and value. */
        rc_memkv_stats(w->mem.kv, &ms);
        err = rc_wb_writer_start(opts,
                                 ms.bytes + (ms.keys + ms.tombstones) *
                                                (int64_t)(sizeof(struct wb_row) + 8),
                                 &w->writer, errbuf, errlen);
    }
    if (err < 0) {
        wb_free(w);
        return err;
    }
    *eng = w;
    return 0;
}

/* A clean shutdown loses nothing: every change goes to disk first. */
static void wb_close(void *eng)
{
    struct wb_store *w = eng;

    rc_memkv_commit(w->mem.kv);
    flush_all(w);
    /* A snapshot under way is left as it is: the next open replays its
     * segments with the rest of the journal. */
    wb_free(w);
}

/* ---- the ops that change memory: memkv's, plus a dirty mark ---------- */

static int wb_write(void *eng, const uint8_t *key, size_t key_len, uint64_t token,
                    const uint8_t *value, size_t value_len, const struct rc_attr *attr,
                    const struct rc_version *ver, int64_t expires_ms, int64_t now_ms,
                    const struct rc_store_live *live, int *existed)
{
    struct wb_store *w = eng;
    int rv;

    /* Room to mark the key first: a write that cannot reach the disk
     * fails (discarding the batch, as any failed write) rather than be
     * applied in memory only. */
    if (dirty_reserve(&w->dirty, key_len) < 0) {
        rc_memkv_discard(w->mem.kv);
        return RC_ENOMEM;
    }
    rv = rc_store_mem_write(eng, key, key_len, token, value, value_len, attr, ver, expires_ms,
                            now_ms, live, existed);
    if (rv == 1)
        mark(w, token, key, key_len, (int64_t)(key_len + (value != NULL ? value_len : 0)));
    return rv;
}

static int wb_backlogged(const void *eng);

/*
 * Backpressure: while the disk lags more than max_lag_ms (or the dirty
 * bytes pass their cap), a commit waits for the flush running, up to
 * WB_BACKLOG_WAIT_MS, and starts the next as soon as it ended, so the
 * loop (and with it every client) goes at the writer's pace and the lag
 * stays near max_lag_ms. Redis's everysec does the same: it delays writes
 * while an fsync is over two seconds late. Nothing is dropped.
 */
static int wb_commit(void *eng)
{
    struct wb_store *w = eng;

    rc_memkv_commit(w->mem.kv);
    if (wb_backlogged(w)) {
        w->backlog_waits++;
        if (writer_busy(w))
            collect(w, WB_BACKLOG_WAIT_MS);
        if (writer_busy(w))
            return 0;
        /* Flushes and a snapshot's segments take turns: the lag needs the
         * one, a journal grown too long the other. */
        if (w->snap.turn && snapshot_step(w)) {
            w->snap.turn = 0;
            return 0;
        }
        start_flush(w);
        w->snap.turn = 1;
        if (!writer_busy(w))
            (void)snapshot_step(w);
        return 0;
    }
    flush_if_due(w);
    return 0;
}

static int wb_unflushed(const void *eng)
{
    const struct wb_store *w = eng;

    return w->dirty.n > 0 || w->inflight_rows > 0 || w->snap.active || w->snap.inflight;
}

/* Changes committed and not yet in a flush go into the next one; a
 * flush under way carries the rest. */
static uint64_t wb_flush_token(const void *eng)
{
    const struct wb_store *w = eng;

    /* Flushes take the set's keys in the order they were added (a
     * flush's leftovers stay ahead of later marks): a change is on disk
     * once the flush holding the last key added so far succeeded. A key
     * changed again while in the set is written from the state it has at
     * its flush, so its earlier place covers it. */
    return w->dirty.seq;
}

/* After a failed flush its keys are behind later ones: until everything
 * is on disk again, only an empty engine says a token is durable. */
static int wb_durable(const void *eng, uint64_t token)
{
    const struct wb_store *w = eng;

    if (w->failed_since_empty)
        return w->dirty.n == 0 && w->inflight_rows == 0;
    return w->flushed_seq >= token;
}

/* The age of the oldest change not yet on disk, ms (0: none). */
static int64_t lag_ms(const struct wb_store *w, int64_t now)
{
    int64_t oldest = INT64_MAX;

    if (w->inflight_rows > 0)
        oldest = w->inflight_oldest;
    if (w->dirty.n > 0 && w->dirty.oldest_ms < oldest)
        oldest = w->dirty.oldest_ms;
    return oldest == INT64_MAX ? 0 : now - oldest;
}

/* Backlogged when the lag, plus what the writer needs at its recent
 * pace to write what waits, passes max_lag_ms: writes are held back
 * before the lag is there, not after (memory takes writes far faster
 * than SQLite: a second of them is many seconds of flushing). */
static int wb_backlogged(const void *eng)
{
    const struct wb_store *w = eng;
    double drain;

    if (!wb_unflushed(eng))
        return 0;
    drain = (double)((int64_t)w->dirty.n + w->inflight_rows) * w->ms_per_row;
    return (double)lag_ms(w, mono_ms()) + drain > (double)w->max_lag_ms ||
           w->dirty.bytes > WB_MAX_DIRTY_BYTES || rc_wb_writer_backlogged(w->writer);
}

/* The memory engine's figures; the disk's size, WAL and checkpoints are
 * the file's. */
static void wb_stats(void *eng, struct rc_store_stats *st)
{
    struct wb_store *w = eng;

    rc_store_mem_stats(eng, st);
    st->db_bytes = rc_wb_db_bytes(w->db, w->page_size);
    rc_wb_writer_stats(w->writer, st);
    st->wb_dirty = (int64_t)w->dirty.n + w->inflight_rows;
    st->wb_lag_ms = lag_ms(w, mono_ms());
    st->wb_flushes = w->flushes;
    st->wb_flush_rows = w->flush_rows;
    st->wb_flush_ms_max = w->flush_ms_max;
    st->wb_flush_errors = w->flush_errors + w->unmarked;
    st->wb_backlog_waits = w->backlog_waits;
}

static int wb_meta_get(void *eng, const char *name, uint64_t *value)
{
    struct wb_store *w = eng;

    return rc_wb_db_meta_get(w->db, name, value);
}

/* Committed at once on the loop's connection, after the flush running
 * (if any) is done: the writer then holds no lock, so the write cannot
 * time out behind a long flush (SQLite has one writer at a time).
 * Metadata changes are rare (node id, incarnation). */
static int wb_meta_set(void *eng, const char *name, uint64_t value)
{
    struct wb_store *w = eng;

    while (writer_busy(w))
        collect(w, -1);
    return rc_wb_db_meta_set(w->db, name, value);
}

/* Purges, range deletes and evictions are memkv's: its drop hook marks
 * what they remove. */
const struct rc_store_engine rc_store_engine_wb = {
    .name = "write-behind",
    .open = wb_open,
    .close = wb_close,
    .get = rc_store_mem_get,
    .write = wb_write,
    .commit = wb_commit,
    .pending = rc_store_mem_pending,
    .purge = rc_store_mem_purge,
    .scan = rc_store_mem_scan,
    .range_digest_before = rc_store_mem_range_digest_before,
    .range_count = rc_store_mem_range_count,
    .delete_range = rc_store_mem_delete_range,
    .stats = wb_stats,
    .set_evict = rc_store_mem_set_evict,
    .evict_step = rc_store_mem_evict_step,
    .evicted = rc_store_mem_evicted,
    .live_keys = rc_store_mem_live_keys,
    .volatile_keys = rc_store_mem_volatile_keys,
    .meta_get = wb_meta_get,
    .meta_set = wb_meta_set,
    .unflushed = wb_unflushed,
    .backlogged = wb_backlogged,
    .flush_token = wb_flush_token,
    .durable = wb_durable,
};
