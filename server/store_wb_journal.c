/*
 * store_wb_journal.c - the write-behind journal: a flush appends, a fold
 * brings the table up to date (store_wb.h).
 *
 * Why: a flush that upserts its rows into the kv table rewrites one 4 KiB
 * b-tree leaf per row when the keys are random over a large table (a
 * second of writes to a million keys touches most of its ~30,000 leaves,
 * once or twice each), and the WAL and the checkpoint write each page
 * again: the disk, not the CPU, set the pace of a sustained random SET
 * load. A flush now appends its batch as one row of the journal
 * (sequential pages, ~1 byte written per byte of data), and the fold
 * applies many flushes at once: each key's last state only, sorted by
 * (token, key), so a leaf takes all of its rows in one write. That is
 * Redis's AOF and its rewrite, with SQLite as both.
 *
 * Format of a journal row (table wb_journal, schema 3 and up): seq (INTEGER
 * PRIMARY KEY, in flush order) and data, the batch's arena as built on
 * the loop: for each row its struct wb_row header (48 bytes of
 * fixed-width fields, host byte order: the file is local to the node;
 * a value's attributes in kind's high bits and the last field, which
 * journals written before attributes hold as zero padding),
 * the key and the value (WB_VALUE), zero-padded to 8 bytes. Each row is
 * the key's whole state at its flush (value, tombstone or absent), so
 * the table's state is: kv, then every journal row in seq order applied
 * over it. A fold never needs more than that, which is what makes a crash
 * at any point harmless: its transactions apply states of journal rows
 * that stay in the journal until the transaction that deletes them, the
 * fold's last; replaying them over a partly folded table ends in the
 * same states.
 */
#include "store_wb.h"

#include "err.h"
#include "store_sqlite.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

enum {
    J_BEGIN,
    J_COMMIT,
    J_ROLLBACK,
    J_PUT,
    J_DEL,
    J_ADD,
    J_DROP,
    J_READ,
    J_CLEAR_KV,
    J_DROP_BEFORE,
    J_SIZE,
    J_COUNT
};

static const char *const journal_sql[J_COUNT] = {
    [J_BEGIN] = "BEGIN IMMEDIATE",
    [J_COMMIT] = "COMMIT",
    [J_ROLLBACK] = "ROLLBACK",
    [J_PUT] = "INSERT OR REPLACE INTO kv(key, token, hlc, node, expires, value, attr)"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [J_DEL] = "DELETE FROM kv WHERE token = ?2 AND key = ?1",
    [J_ADD] = "INSERT INTO wb_journal(data) VALUES (?1)",
    [J_DROP] = "DELETE FROM wb_journal WHERE seq <= ?1",
    [J_READ] = "SELECT seq, data FROM wb_journal ORDER BY seq",
    [J_CLEAR_KV] = "DELETE FROM kv",
    [J_DROP_BEFORE] = "DELETE FROM wb_journal WHERE seq < ?1",
    [J_SIZE] = "SELECT coalesce(sum(length(data)), 0) FROM wb_journal",
};

_Static_assert(J_COUNT == WB_JOURNAL_STMTS, "wb_journal's statements");

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* The bytes a row takes in a batch arena or a journal row. */
static size_t row_size(const struct wb_row *r)
{
    return sizeof(*r) + pad8((size_t)r->key_len + (wb_row_op(r) == WB_VALUE ? r->value_len : 0));
}

int rc_wb_journal_open(sqlite3 *db, struct wb_journal *j)
{
    int i, rc = SQLITE_OK;

    memset(j, 0, sizeof(*j));
    j->db = db;
    j->max_read = WB_FOLD_BYTES;
    for (i = 0; i < J_COUNT && rc == SQLITE_OK; i++)
        rc = sqlite3_prepare_v3(db, journal_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &j->st[i],
                                NULL);
    if (rc != SQLITE_OK) {
        rc_wb_journal_close(j);
        return map_err(rc);
    }
    return 0;
}

static void fold_clear(struct wb_journal *j)
{
    size_t i;

    for (i = 0; i < j->nblobs; i++)
        free(j->blobs[i]);
    free(j->blobs);
    free(j->rows);
    j->blobs = NULL;
    j->rows = NULL;
    j->nblobs = j->nrows = j->next = 0;
    j->upto = 0;
    j->fold_bytes = 0;
}

void rc_wb_journal_close(struct wb_journal *j)
{
    int i;

    fold_clear(j);
    for (i = 0; i < J_COUNT; i++)
        sqlite3_finalize(j->st[i]);
    memset(j->st, 0, sizeof(j->st));
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Ends a failed transaction; returns rc. */
static int rollback(struct wb_journal *j, int rc)
{
    if (!sqlite3_get_autocommit(j->db))
        step_done(j->st[J_ROLLBACK]);
    return rc;
}

/* The journal's data bytes, on the writer's statement. */
static int journal_bytes(struct wb_journal *j, int64_t *bytes)
{
    sqlite3_stmt *st = j->st[J_SIZE];
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        *bytes = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/*
 * A snapshot's last segment: what came before its first segment is
 * redundant now. The snapshot holds every key memory held as of some
 * moment after that segment was built, each journal row after it holds
 * every change made since (a flush is built from memory as it is, and
 * rows are in the order they were built), so kv and the rows before the
 * first segment are dropped in the transaction that completes it: the
 * table's state is still kv (now empty) and the journal in order.
 */
static int snapshot_complete(struct wb_journal *j)
{
    int rc = step_done(j->st[J_CLEAR_KV]);

    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(j->st[J_DROP_BEFORE], 1, j->snap_start);
        rc = step_done(j->st[J_DROP_BEFORE]);
    }
    return rc;
}

int rc_wb_journal_append(struct wb_journal *j, const struct wb_batch *b)
{
    sqlite3_stmt *st = j->st[J_ADD];
    int64_t bytes = j->bytes + (int64_t)b->len;
    int rc;

    /* An empty flush writes nothing; an empty segment still marks where
     * its snapshot begins or ends (an empty memory is a snapshot too). */
    if (b->nrows == 0 && b->snap == 0)
        return 0;
    if ((b->snap & WB_SNAP_FIRST) == 0 && b->snap != 0 && j->snap_start == 0)
        return RC_EINVAL; /* a segment of a snapshot that never began here */
    rc = step_done(j->st[J_BEGIN]);
    if (rc == SQLITE_OK) {
        sqlite3_bind_blob64(st, 1, b->len > 0 ? (const void *)b->buf : "", b->len,
                            SQLITE_STATIC);
        rc = step_done(st);
    }
    if (rc == SQLITE_OK && (b->snap & WB_SNAP_FIRST))
        j->snap_start = sqlite3_last_insert_rowid(j->db);
    if (rc == SQLITE_OK && (b->snap & WB_SNAP_LAST)) {
        rc = snapshot_complete(j);
        if (rc == SQLITE_OK)
            rc = journal_bytes(j, &bytes);
    }
    if (rc == SQLITE_OK)
        rc = step_done(j->st[J_COMMIT]);
    if (rc != SQLITE_OK) {
        if (b->snap & WB_SNAP_FIRST)
            j->snap_start = 0;
        return map_err(rollback(j, rc));
    }
    j->bytes = bytes;
    if (b->snap & WB_SNAP_LAST) {
        j->snap_start = 0;
        j->base_bytes = bytes;
        j->snapshots++;
    }
    return 0;
}

/* Abandons the snapshot under way: its segments stay in the journal,
 * harmless (states memory held, replayed in order), dropped with the rest
 * by the next snapshot to complete. */
void rc_wb_journal_snapshot_abandon(struct wb_journal *j)
{
    j->snap_start = 0;
}

/* Checks a journal row's rows and counts them; 0 or RC_EIO (corrupt). */
static int blob_rows(const uint8_t *p, size_t len, size_t *n)
{
    size_t off = 0, sz;
    const struct wb_row *r;

    *n = 0;
    while (off < len) {
        if (len - off < sizeof(*r))
            return RC_EIO;
        r = (const struct wb_row *)(p + off);
        if (wb_row_op(r) > WB_TOMB || (r->kind >> 8) > RC_KIND_MAX || r->key_len > len ||
            r->value_len > len)
            return RC_EIO;
        sz = row_size(r);
        if (sz > len - off)
            return RC_EIO;
        off += sz;
        (*n)++;
    }
    return 0;
}

/* A row and its place in the journal (the later of two states wins). */
struct jrow {
    const struct wb_row *r;
    size_t at;
};

/* (token, key) as the table orders them, then journal order. */
static int jrow_cmp(const void *pa, const void *pb)
{
    const struct jrow *x = pa, *y = pb;
    const struct wb_row *a = x->r, *b = y->r;
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c;

    if (a->token != b->token)
        return a->token < b->token ? -1 : 1;
    c = n > 0 ? memcmp(wb_row_key(a), wb_row_key(b), n) : 0;
    if (c != 0)
        return c;
    if (a->key_len != b->key_len)
        return a->key_len < b->key_len ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

static int same_key(const struct wb_row *a, const struct wb_row *b)
{
    return a->token == b->token && a->key_len == b->key_len &&
           memcmp(wb_row_key(a), wb_row_key(b), a->key_len) == 0;
}

/*
 * Reads the whole journal (its rows up to the last seq now) into memory
 * and keeps, sorted by (token, key), the last state of each key: the
 * work of a fold. 0, RC_EIO, RC_ENOMEM.
 */
static int fold_begin(struct wb_journal *j)
{
    sqlite3_stmt *st = j->st[J_READ];
    struct jrow *all = NULL;
    size_t n = 0, cap = 0, i, k, off, m;
    int rc, err = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const uint8_t *p = sqlite3_column_blob(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        uint8_t *copy, **nb;

        if ((err = blob_rows(p, len, &m)) < 0)
            break;
        copy = malloc(len ? len : 1);
        nb = realloc(j->blobs, (j->nblobs + 1) * sizeof(*nb));
        if (copy == NULL || nb == NULL) {
            free(copy);
            if (nb != NULL)
                j->blobs = nb;
            err = RC_ENOMEM;
            break;
        }
        j->blobs = nb;
        memcpy(copy, p, len);
        j->blobs[j->nblobs++] = copy;
        if (n + m > cap) {
            size_t ncap = cap ? cap : 4096;
            struct jrow *na;

            while (ncap < n + m)
                ncap *= 2;
            na = realloc(all, ncap * sizeof(*na));
            if (na == NULL) {
                err = RC_ENOMEM;
                break;
            }
            all = na;
            cap = ncap;
        }
        for (off = 0; off < len; n++) {
            all[n].r = (const struct wb_row *)(copy + off);
            all[n].at = n;
            off += row_size(all[n].r);
        }
        j->upto = sqlite3_column_int64(st, 0);
        j->fold_bytes += (int64_t)len;
        /* A fold takes the oldest max_read bytes at most (what it holds
         * in memory); the rows after wait for the next, in order. */
        if (j->fold_bytes >= j->max_read) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    if (err == 0 && rc != SQLITE_DONE)
        err = map_err(rc);
    if (err == 0 && n > 0) {
        qsort(all, n, sizeof(*all), jrow_cmp);
        j->rows = malloc(n * sizeof(*j->rows));
        if (j->rows == NULL)
            err = RC_ENOMEM;
    }
    if (err < 0) {
        free(all);
        fold_clear(j);
        return err;
    }
    /* The last of each run of one key: its state at the last flush. */
    for (i = 0, k = 0; i < n; i++)
        if (i + 1 == n || !same_key(all[i].r, all[i + 1].r))
            j->rows[k++] = all[i].r;
    j->nrows = k;
    free(all);
    return 0;
}

static int apply_row(struct wb_journal *j, const struct wb_row *r)
{
    sqlite3_stmt *st = j->st[wb_row_op(r) == WB_DELETE ? J_DEL : J_PUT];

    rc_store_sqlite_bind_bytes(st, 1, wb_row_key(r), r->key_len);
    sqlite3_bind_int64(st, 2, tok_db(r->token));
    if (wb_row_op(r) != WB_DELETE) {
        sqlite3_bind_int64(st, 3, (int64_t)r->hlc);
        sqlite3_bind_int64(st, 4, (int64_t)r->node);
        sqlite3_bind_int64(st, 5, r->expires);
        sqlite3_bind_int64(st, 7, (int64_t)wb_row_attr(r));
        if (wb_row_op(r) == WB_VALUE)
            rc_store_sqlite_bind_bytes(st, 6, wb_row_key(r) + r->key_len, r->value_len);
        else
            sqlite3_bind_null(st, 6);
    }
    return step_done(st);
}

int rc_wb_journal_fold_step(struct wb_journal *j, size_t max_rows, int *done)
{
    size_t end;
    int rc, err;

    *done = 0;
    if (j->upto == 0) {
        err = fold_begin(j);
        if (err < 0)
            return err;
        if (j->upto == 0) { /* nothing in the journal (folded elsewhere) */
            j->bytes = 0;
            *done = 1;
            return 0;
        }
    }
    end = j->nrows - j->next > max_rows ? j->next + max_rows : j->nrows;
    rc = step_done(j->st[J_BEGIN]);
    for (size_t i = j->next; i < end && rc == SQLITE_OK; i++)
        rc = apply_row(j, j->rows[i]);
    if (rc == SQLITE_OK && end == j->nrows) {
        sqlite3_bind_int64(j->st[J_DROP], 1, j->upto);
        rc = step_done(j->st[J_DROP]);
    }
    if (rc == SQLITE_OK)
        rc = step_done(j->st[J_COMMIT]);
    if (rc != SQLITE_OK)
        return map_err(rollback(j, rc)); /* the fold goes on from j->next */
    j->next = end;
    if (end == j->nrows) {
        j->bytes -= j->fold_bytes;
        if (j->bytes < 0)
            j->bytes = 0;
        j->folds++;
        fold_clear(j);
        *done = 1;
    }
    return 0;
}

int rc_wb_journal_replay(sqlite3 *db, int (*fn)(void *arg, const struct wb_row *r), void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT data FROM wb_journal ORDER BY seq", -1, &st, NULL);
    uint8_t *copy = NULL;
    size_t copy_cap = 0;
    int err = 0;

    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const uint8_t *p = sqlite3_column_blob(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0), m, off;

        rc = SQLITE_OK;
        /* A blob that fits its page is read in place, at any alignment;
         * the rows' 64-bit fields want 8. */
        if (((uintptr_t)p & 7) != 0) {
            if (len > copy_cap) {
                uint8_t *c = realloc(copy, len);

                if (c == NULL) {
                    err = RC_ENOMEM;
                    break;
                }
                copy = c;
                copy_cap = len;
            }
            memcpy(copy, p, len);
            p = copy;
        }
        if ((err = blob_rows(p, len, &m)) < 0)
            break;
        for (off = 0; off < len; off += row_size((const struct wb_row *)(p + off)))
            if ((err = fn(arg, (const struct wb_row *)(p + off))) != 0)
                break;
        if (err != 0)
            break;
    }
    sqlite3_finalize(st);
    free(copy);
    if (err != 0)
        return err < 0 ? err : 0;
    return rc == SQLITE_DONE ? 0 : map_err(rc);
}

int rc_wb_journal_size(sqlite3 *db, int64_t *bytes)
{
    return rc_store_sqlite_setup_int(db, "SELECT coalesce(sum(length(data)), 0) FROM wb_journal",
                                     bytes) == SQLITE_OK
               ? 0
               : RC_EIO;
}

int rc_wb_journal_fold_all(sqlite3 *db, int64_t max_read)
{
    struct wb_journal j;
    int64_t bytes = 0;
    int err, done = 0;

    if (rc_wb_journal_size(db, &bytes) < 0)
        return RC_EIO;
    if (bytes == 0)
        return 0;
    err = rc_wb_journal_open(db, &j);
    if (err < 0)
        return err;
    j.bytes = bytes;
    if (max_read > 0)
        j.max_read = max_read;
    /* Fold after fold (each reads max_read at most) until the journal is
     * empty. */
    while (err == 0 && bytes > 0) {
        done = 0;
        while (err == 0 && !done)
            err = rc_wb_journal_fold_step(&j, SIZE_MAX, &done);
        if (err == 0 && rc_wb_journal_size(db, &bytes) < 0)
            err = RC_EIO;
    }
    rc_wb_journal_close(&j);
    return err;
}
