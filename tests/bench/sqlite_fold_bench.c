/*
 * sqlite_fold_bench.c - what a row costs SQLite in the write-behind
 * engine's fold (server/store_wb_journal.c), against the alternatives:
 * the fold's INSERT OR REPLACE, an UPSERT (ON CONFLICT DO UPDATE), a plain
 * UPDATE, each on keys sorted by (token, key) as the fold sorts them, 16,384
 * rows per transaction; then a rewrite of the whole table in key order
 * into a new table (Redis's AOF rewrite, applied to SQLite) and its swap.
 * It answers one question: does writing rows in key order into a fresh
 * table cost much less per row than upserting them into the table in
 * place? (It does not: docs/benchmarks.md, "What a fold row costs".)
 *
 * Usage: sqlite-fold-bench [file (/tmp/sqlite-fold-bench.db)] [keys
 * (1000000)] [rows per round (400000)] [page size (4096, SQLite's and
 * ringcache's)]. The table is kv's schema (server/
 * store_sqlite_schema.c), WAL, synchronous=NORMAL, the writer's 16 MiB
 * page cache, values of 100 B. CPU is the process's (user + system: the
 * WAL's writes count), per row.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK 16384 /* the fold's rows per transaction (WB_FOLD_CHUNK) */
#define VALUE_LEN 100

#define KV_SCHEMA(name)                                                                       \
    "CREATE TABLE " name "(token INTEGER NOT NULL, key BLOB NOT NULL, hlc INTEGER NOT NULL," \
    " node INTEGER NOT NULL, expires INTEGER NOT NULL, value BLOB,"                          \
    " attr INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(token, key)) WITHOUT ROWID;"

struct row {
    uint64_t token;
    int key_len;
    char key[24];
};

static const char *const variants[] = {
    "INSERT OR REPLACE INTO kv(key, token, hlc, node, expires, value, attr)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    "INSERT INTO kv(key, token, hlc, node, expires, value, attr)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(token, key) DO UPDATE SET"
    " hlc = excluded.hlc, node = excluded.node, expires = excluded.expires,"
    " value = excluded.value, attr = excluded.attr",
    "UPDATE kv SET hlc = ?3, node = ?4, expires = ?5, value = ?6, attr = ?7"
    " WHERE token = ?2 AND key = ?1",
};
static const char *const names[] = {"INSERT OR REPLACE (the fold)", "UPSERT", "UPDATE"};

static double cpu_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* A 63-bit token from an index (a stand-in for the ring's hash). */
static uint64_t token_of(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x >> 1;
}

static int row_cmp(const void *a, const void *b)
{
    const struct row *x = a, *y = b;

    if (x->token != y->token)
        return x->token < y->token ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK)
        return 0;
    fprintf(stderr, "sqlite-fold-bench: %s: %s\n", sql, err ? err : "?");
    sqlite3_free(err);
    return -1;
}

/* Writes rows[0..n) with st, CHUNK rows per transaction. 0 or -1. */
static int write_rows(sqlite3 *db, sqlite3_stmt *st, const struct row *rows, size_t n,
                      uint64_t *hlc)
{
    static const char value[VALUE_LEN] = {0};
    size_t i;

    for (i = 0; i < n; i++) {
        if (i % CHUNK == 0 && exec(db, "BEGIN IMMEDIATE") < 0)
            return -1;
        sqlite3_bind_blob(st, 1, rows[i].key, rows[i].key_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)rows[i].token);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)(*hlc)++);
        sqlite3_bind_int64(st, 4, 7);
        sqlite3_bind_int64(st, 5, 0);
        sqlite3_bind_blob(st, 6, value, sizeof(value), SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, 0);
        if (sqlite3_step(st) != SQLITE_DONE) {
            fprintf(stderr, "sqlite-fold-bench: step: %s\n", sqlite3_errmsg(db));
            return -1;
        }
        sqlite3_reset(st);
        if ((i % CHUNK == CHUNK - 1 || i == n - 1) && exec(db, "COMMIT") < 0)
            return -1;
    }
    return 0;
}

static int run(sqlite3 *db, struct row *all, size_t keys, struct row *batch, size_t per_round,
               int page_size)
{
    sqlite3_stmt *st = NULL;
    uint64_t hlc = 1;
    unsigned seed = 1;
    double c0;
    char sql[64];
    size_t i;
    int v;

    snprintf(sql, sizeof(sql), "PRAGMA page_size=%d;", page_size);
    if (exec(db, sql) < 0 ||
        exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                 " PRAGMA cache_size=-16384;") < 0 ||
        exec(db, KV_SCHEMA("kv") "CREATE INDEX kv_expires ON kv(expires) WHERE expires > 0;") < 0)
        return -1;
    if (sqlite3_prepare_v2(db, variants[0], -1, &st, NULL) != SQLITE_OK ||
        write_rows(db, st, all, keys, &hlc) < 0)
        return -1;
    sqlite3_finalize(st);
    if (exec(db, "PRAGMA wal_checkpoint(TRUNCATE)") < 0)
        return -1;
    printf("table of %zu keys of %d B, pages of %d B; each round: %zu random keys, sorted\n",
           keys, VALUE_LEN, page_size, per_round);
    for (v = 0; v < 3; v++) {
        for (i = 0; i < per_round; i++)
            batch[i] = all[(size_t)rand_r(&seed) % keys];
        qsort(batch, per_round, sizeof(*batch), row_cmp);
        if (sqlite3_prepare_v2(db, variants[v], -1, &st, NULL) != SQLITE_OK)
            return -1;
        c0 = cpu_s();
        if (write_rows(db, st, batch, per_round, &hlc) < 0)
            return -1;
        printf("  %-30s %.2f us of CPU per row\n", names[v], (cpu_s() - c0) * 1e6 / per_round);
        sqlite3_finalize(st);
        if (exec(db, "PRAGMA wal_checkpoint(PASSIVE)") < 0)
            return -1;
    }
    if (exec(db, KV_SCHEMA("kv_new")) < 0 ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO kv_new(key, token, hlc, node, expires, value, attr)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    c0 = cpu_s();
    if (write_rows(db, st, all, keys, &hlc) < 0)
        return -1;
    printf("  %-30s %.2f us of CPU per row\n", "rewrite in key order", (cpu_s() - c0) * 1e6 / keys);
    sqlite3_finalize(st);
    c0 = cpu_s();
    if (exec(db, "BEGIN; DROP TABLE kv; ALTER TABLE kv_new RENAME TO kv;"
                 " CREATE INDEX kv_expires ON kv(expires) WHERE expires > 0; COMMIT;") < 0)
        return -1;
    printf("  %-30s %.2f s of CPU (%.2f us per row)\n", "swap: drop, rename, index", cpu_s() - c0,
           (cpu_s() - c0) * 1e6 / keys);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/tmp/sqlite-fold-bench.db";
    size_t keys = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
    size_t per_round = argc > 3 ? strtoul(argv[3], NULL, 10) : 400000;
    int page_size = argc > 4 ? atoi(argv[4]) : 4096;
    struct row *all = malloc(keys * sizeof(*all));
    struct row *batch = malloc(per_round * sizeof(*batch));
    char wal[512];
    sqlite3 *db = NULL;
    size_t i;
    int rv = 1;

    if (keys == 0 || per_round == 0 || page_size < 512 || page_size > 65536 ||
        (page_size & (page_size - 1)) != 0) {
        fprintf(stderr, "usage: sqlite-fold-bench [file] [keys > 0] [rows per round > 0] "
                        "[page size: a power of two, 512 to 65536]\n");
        goto out;
    }
    if (all == NULL || batch == NULL) {
        fprintf(stderr, "sqlite-fold-bench: out of memory\n");
        goto out;
    }
    remove(path);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    remove(wal);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        goto out;
    for (i = 0; i < keys; i++) {
        all[i].key_len = snprintf(all[i].key, sizeof(all[i].key), "key:%zu", i);
        all[i].token = token_of(i + 1);
    }
    qsort(all, keys, sizeof(*all), row_cmp);
    rv = run(db, all, keys, batch, per_round, page_size) < 0;
out:
    sqlite3_close(db);
    remove(path);
    remove(wal);
    free(all);
    free(batch);
    return rv;
}
