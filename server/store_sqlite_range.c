/*
 * store_sqlite_range.c - the token-range ops of the SQLite engine: scans,
 * digests, counts and deletes over an inclusive range [first, last] (the
 * store's door has checked first <= last). Each runs one statement over
 * one range of the (token, key) primary key, [tok_db(first), tok_db(last)].
 */
#include "store_sqlite.h"

#include "memkv.h"

#include <xxhash.h>

int rc_store_sqlite_scan(void *eng, uint64_t first, uint64_t last, uint64_t after_token,
                         const uint8_t *after_key, size_t after_key_len, int limit,
                         int64_t now_ms, rc_store_scan_cb cb, void *arg)
{
    struct sqlite_store *s = eng;
    sqlite3_stmt *st;
    struct rc_entry e;
    int n = 0, rc;

    rc_store_sqlite_enter(s);
    if (limit <= 0)
        return 0;
    /* A cursor below first excludes nothing that token >= first does not;
     * one at or above it bounds the scan from below by itself. */
    if (after_key != NULL && after_token >= first) {
        st = s->st[ST_SCAN_AFTER];
        sqlite3_bind_int64(st, 1, tok_db(after_token));
        rc_store_sqlite_bind_bytes(st, 2, after_key, after_key_len);
    } else {
        st = s->st[ST_SCAN];
        sqlite3_bind_int64(st, 1, tok_db(first));
    }
    sqlite3_bind_int64(st, 3, tok_db(last));
    sqlite3_bind_int64(st, 4, now_ms);
    sqlite3_bind_int(st, 5, limit);
    /* cb must not call back into the store: its entry points reset the
     * statement this loop is stepping. */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc_store_sqlite_row_to_entry(st, &e);
        n++;
        if (cb(arg, &e) != 0 || n == limit) {
            rc = SQLITE_DONE;
            break;
        }
    }
    rc_store_sqlite_done(st);
    return rc == SQLITE_DONE ? n : map_err(rc);
}

/* Adds the current row of ST_DIGEST (key, hlc, node) to the digest, in
 * the format both engines share. */
static void digest_row(sqlite3_stmt *st, XXH3_state_t *h, uint64_t *digest)
{
    *digest ^= rc_memkv_entry_digest(h, sqlite3_column_blob(st, 0),
                                     (size_t)sqlite3_column_bytes(st, 0),
                                     (uint64_t)sqlite3_column_int64(st, 1),
                                     (uint64_t)sqlite3_column_int64(st, 2));
}

int rc_store_sqlite_range_digest_before(void *eng, uint64_t first, uint64_t last,
                                        int64_t now_ms, uint64_t before_hlc, uint64_t *digest,
                                        uint64_t *count)
{
    struct sqlite_store *s = eng;
    sqlite3_stmt *st = s->st[ST_DIGEST];
    XXH3_state_t *h;
    uint64_t d = 0, n = 0;
    int rc;

    rc_store_sqlite_enter(s);
    h = XXH3_createState();
    if (h == NULL)
        return RC_ENOMEM;
    sqlite3_bind_int64(st, 1, tok_db(first));
    sqlite3_bind_int64(st, 2, tok_db(last));
    sqlite3_bind_int64(st, 3, now_ms);
    /* Versions' hlc are below 2^63 (48-bit ms, 16-bit counter), so the
     * signed column compares as the unsigned value would. */
    sqlite3_bind_int64(st, 4, before_hlc > INT64_MAX ? INT64_MAX : (int64_t)before_hlc);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        digest_row(st, h, &d);
        n++;
    }
    rc_store_sqlite_done(st);
    XXH3_freeState(h);
    if (rc != SQLITE_DONE)
        return map_err(rc);
    *digest = d;
    *count = n;
    return 0;
}

int rc_store_sqlite_range_count(void *eng, uint64_t first, uint64_t last, int64_t now_ms,
                                uint64_t *count)
{
    struct sqlite_store *s = eng;
    sqlite3_stmt *st = s->st[ST_RANGE_COUNT];
    int rc;

    rc_store_sqlite_enter(s);
    sqlite3_bind_int64(st, 1, tok_db(first));
    sqlite3_bind_int64(st, 2, tok_db(last));
    sqlite3_bind_int64(st, 3, now_ms);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *count = (uint64_t)sqlite3_column_int64(st, 0);
    rc_store_sqlite_done(st);
    return rc == SQLITE_ROW ? 0 : map_err(rc);
}

int rc_store_sqlite_delete_range(void *eng, uint64_t first, uint64_t last, int max_rows,
                                 int *deleted)
{
    struct sqlite_store *s = eng;
    sqlite3_stmt *st = s->st[ST_DELETE_RANGE];

    rc_store_sqlite_enter(s);
    if (max_rows <= 0)
        return 0;
    sqlite3_bind_int64(st, 1, tok_db(first));
    sqlite3_bind_int64(st, 2, tok_db(last));
    sqlite3_bind_int(st, 3, max_rows);
    return rc_store_sqlite_delete_rows(s, st, deleted);
}
