/*
 * store_sqlite_evict.c - the SQLite engine's budget and eviction: the
 * database file is bounded by max_bytes (SQLite's max_page_count), and
 * under a policy that evicts a write that would fail with FULL evicts rows
 * instead (store.h, common/evict.h).
 *
 * The disk knows no access times or frequencies (recording them would
 * turn every read into a write), so the policies are applied as far as
 * the rows tell: volatile-* consider only values with an expiry time,
 * volatile-ttl takes the soonest to expire, and every other policy
 * (allkeys-lru, -lfu, -random, S3-FIFO, W-TinyLFU, volatile-lru, -lfu,
 * -random) picks at random among the rows sampled. Values already expired
 * go first under every policy. Tombstones are never evicted (an eviction
 * must not undo a delete). The versions evicted are remembered in an
 * evghost, so a replica's write of an evicted version does not bring it
 * back.
 *
 * Where the room comes from. A full SQLite file has room for a new row
 * only where rows were deleted next to it (in its leaf page or the two
 * siblings SQLite rebalances with) or in free pages, and a page is freed
 * only when its rows are gone (a leaf below a third full merges with its
 * siblings). Deleting rows at random across the file frees neither, so
 * the victims of a write are a run of value rows from its key on in token
 * order: its leaf, then whole leaves. Tokens are hashes, so these are
 * random keys all the same. Writes make their room first, keeping a few
 * pages free below the cap (rc_store_sqlite_before_put): an eviction's
 * delete may itself need a page, and on a file with none it could not
 * evict at all. Measured, 100-byte rows, 8 MiB file, 300,000 writes:
 * 20 us a write (12 us uncapped); evicting only after a write failed
 * kept 13 % more rows but took 29 us a write and, rarely, could not
 * evict at all (a FULL that discards the batch).
 *
 * Statement rollback. SQLite 3.40 rolls the whole transaction (our batch)
 * back on SQLITE_FULL unless the statement keeps a statement journal,
 * which it does only for a statement that may write several rows and
 * abort: ST_PUT_EVICT is such a statement (INSERT ... SELECT, with NOT
 * NULL columns that abort), so a FULL undoes just that insert and the
 * batch survives for the eviction and the retry. Should SQLite roll the
 * batch back anyway, the write fails with FULL as under noeviction.
 */
#include "store_sqlite.h"

#include "err.h"
#include "evghost.h"
#include "evict.h"

#include <stdio.h>
#include <time.h>
#include <xxhash.h>

/*
 * Versions the ghost remembers (24 bytes each: 1.5 MiB). A replica writes
 * back an evicted version by read repair (within a request), a hint (when
 * the peer returns) or a stream (a rejoin); 65536 evictions cover several
 * seconds at the highest eviction rates a disk node sustains (~10,000/s),
 * and past that a key behaves as never held (a cache fill: evghost.h).
 */
#define GHOST_ENTRIES 65536

/*
 * Rows evicted for one write, at most: the bound of the memory engine
 * (RC_MEMKV_EVICT_PER_WRITE), so a write never costs more than that many
 * deletes. Rounds evict 4, 8, then 16 rows: one victim in its leaf is
 * often room enough for a small row, and 4 leave room for the next
 * writes too (100-byte rows, 1 MiB file, evicting only at a failed write:
 * 18 us a write instead of 31, for 1.6 % fewer rows held); a row with an
 * overflow chain needs free pages, i.e. whole leaves emptied.
 */
#define EVICT_PER_WRITE 64
#define EVICT_FIRST_ROUND 4
#define EVICT_ROUND_MAX 16
/* Rows looked at per victim wanted, and at least: volatile-ttl picks the
 * soonest of 16 (Redis samples 5), and a run of tombstones or, under
 * volatile-*, of values without expiry still leaves victims to pick. */
#define SAMPLE_PER_VICTIM 4
#define SAMPLE_MIN 16
/* Rounds that found no victim before a write gives up with FULL, each at a
 * new random position. */
#define EVICT_MISSES 4
/* Pages an eviction's delete may need, kept free (at most; a sixteenth
 * of a smaller cap): a delete that moves cells between pages splits one
 * page, rarely two, and is retried with fewer rows when even that fails. */
#define RESERVE_PAGES 4
/* Rows evict_step looks at per call, at most (SAMPLE_PER_VICTIM per victim
 * wanted): bounded work per event-loop iteration whatever max_rows is
 * (measured: a step of 100 rows, commit included, 0.4 ms). */
#define STEP_SAMPLE_MAX 4096

/* ?4 of ST_EVICT: which rows may go, and in which order. */
enum evict_mode {
    MODE_ANY = 0,      /* any value: random (token order from a random point) */
    MODE_VOLATILE = 1, /* values with an expiry time, random */
    MODE_TTL = 2,      /* values with an expiry time, the soonest first */
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int64_t random_token(struct sqlite_store *s)
{
    return tok_db(splitmix64(&s->ev.rng));
}

static int policy_mode(int policy)
{
    switch (policy) {
    case RC_EVICT_VOLATILE_TTL:
        return MODE_TTL;
    case RC_EVICT_VOLATILE_LRU:
    case RC_EVICT_VOLATILE_LFU:
    case RC_EVICT_VOLATILE_RANDOM:
        return MODE_VOLATILE;
    default:
        return MODE_ANY;
    }
}

static int may_evict(const struct sqlite_store *s)
{
    return rc_evict_policy_evicts(s->ev.policy) && s->ev.ghost != NULL;
}

/* The statement journal costs a few percent of a write (measured: 11.5
 * against 12.5 us for 100-byte rows, uncapped): paid only with a cap to
 * evict under. Without one, a FULL means the disk is full, as before. */
sqlite3_stmt *rc_store_sqlite_put_stmt(struct sqlite_store *s)
{
    return s->st[may_evict(s) && s->ev.max_pages > 0 ? ST_PUT_EVICT : ST_PUT];
}

/* Each row ST_EVICT deleted: length(key), length(value), token, hlc, node. */
static void on_evicted(void *arg, sqlite3_stmt *st)
{
    struct sqlite_store *s = arg;

    s->ev.evicted++;
    s->ev.evicted_bytes += sqlite3_column_int64(st, 0) + sqlite3_column_int64(st, 1);
    rc_evghost_add(s->ev.ghost, tok_ring(sqlite3_column_int64(st, 2)),
                   (uint64_t)sqlite3_column_int64(st, 3), (uint64_t)sqlite3_column_int64(st, 4));
}

/*
 * Evicts at most want value rows chosen by the policy among the `sample`
 * rows from position pos (token order, wrapping round the ring), never
 * the row of (token, key) when key is not NULL. In the batch. 0 with *n,
 * 1 when the delete itself found no room (nothing evicted; fewer rows at
 * a time may pass), or RC_EFULL / RC_EIO (batch discarded).
 */
static int evict_rows(struct sqlite_store *s, int64_t pos, int want, int sample,
                      const uint8_t *key, size_t key_len, int64_t token, int64_t now_ms, int *n)
{
    sqlite3_stmt *st = s->st[ST_EVICT];
    int err;

    *n = 0;
    sqlite3_bind_int64(st, 1, pos);
    sqlite3_bind_int(st, 2, want);
    sqlite3_bind_int(st, 3, sample);
    sqlite3_bind_int(st, 4, policy_mode(s->ev.policy));
    if (key != NULL) {
        sqlite3_bind_int64(st, 5, token);
        rc_store_sqlite_bind_bytes(st, 6, key, key_len);
    }
    sqlite3_bind_int64(st, 7, now_ms);
    err = rc_store_sqlite_delete_rows_cb(s, st, n, on_evicted, s, 1);
    /* The delete needed a page (rows moved between pages of the b-tree
     * made one split) and SQLite undid just the delete: nothing went, the
     * batch is intact. */
    if (err == RC_EFULL && !sqlite3_get_autocommit(s->db))
        return 1;
    return err;
}

/* Pages holding data: the file's pages less the free ones; the file's
 * size alone when that is below limit (one statement instead of two:
 * 0.3 us). 0 or RC_EIO. */
static int pages_in_use(struct sqlite_store *s, int64_t limit, int64_t *pages)
{
    int64_t total = 0, free_pages = 0;
    int err = rc_store_sqlite_pragma_int(s->st[ST_PAGE_COUNT], &total);

    if (err == 0 && total >= limit)
        err = rc_store_sqlite_pragma_int(s->st[ST_FREELIST_COUNT], &free_pages);
    *pages = total - free_pages;
    return err;
}

int rc_store_sqlite_evicted(void *eng, uint64_t token, struct rc_version *ver)
{
    struct sqlite_store *s = eng;

    return s->ev.ghost != NULL && rc_evghost_get(s->ev.ghost, token, &ver->hlc, &ver->node);
}

int rc_store_sqlite_ghost_refuses(struct sqlite_store *s, uint64_t token,
                                  const struct rc_version *ver)
{
    if (s->ev.ghost == NULL || !rc_evghost_covers(s->ev.ghost, token, ver->hlc, ver->node))
        return 0;
    s->ev.ghost_refused++;
    return 1;
}

/* Pages kept free below the cap under a policy that evicts (see
 * rc_store_sqlite_before_put): 4, or a sixteenth of a small cap. */
static int64_t reserve_pages(const struct sqlite_store *s)
{
    int64_t r = s->ev.max_pages / 16;

    return r < 1 ? 1 : r > RESERVE_PAGES ? RESERVE_PAGES : r;
}

/*
 * A write's room is made before it, while the pages in use (the file's
 * less the free ones) stay under the cap less a small reserve: an
 * eviction's delete may itself need a page (rows moved between pages of
 * the b-tree make one split), and with none left it fails too, so a full
 * file could not evict at all. The victims are runs of rows from the
 * write's key on, which make room in its leaf and empty whole leaves;
 * the loop stops after EVICT_PER_WRITE rows or where nothing can go, and
 * the put then finds out (rc_store_sqlite_evict_retry).
 *
 * The same check bounds a budget below the file's size: SQLite's own cap
 * is then the file's size (it never lowers the cap below it, and the file
 * does not shrink: freed pages stay in it for reuse), so under noeviction
 * a write past the budget fails with FULL here.
 */
int rc_store_sqlite_before_put(struct sqlite_store *s, const uint8_t *key, size_t key_len,
                               int64_t token, int64_t now_ms)
{
    int64_t used, limit;
    int want = EVICT_FIRST_ROUND, total = 0, n, err;

    if (s->ev.max_pages == 0 || (!may_evict(s) && !s->ev.over_file))
        return 0;
    if (!may_evict(s)) {
        err = pages_in_use(s, s->ev.max_pages, &used);
        return err < 0 ? err : used >= s->ev.max_pages ? RC_EFULL : 0;
    }
    limit = s->ev.max_pages - reserve_pages(s);
    for (;;) {
        err = pages_in_use(s, limit, &used);
        if (err < 0 || used < limit || total >= EVICT_PER_WRITE)
            return err;
        if (want > EVICT_PER_WRITE - total)
            want = EVICT_PER_WRITE - total;
        err = evict_rows(s, token, want, SAMPLE_PER_VICTIM * want + SAMPLE_MIN, key, key_len,
                         token, now_ms, &n);
        if (err < 0)
            return err;
        if (n == 0)
            return 0;
        total += n;
        if (want < EVICT_ROUND_MAX)
            want *= 2;
    }
}

int rc_store_sqlite_evict_retry(struct sqlite_store *s, int err, const uint8_t *key,
                                size_t key_len, int64_t token, int64_t now_ms,
                                rc_store_sqlite_put_fn put, void *arg)
{
    int64_t pos = token;
    int want = EVICT_FIRST_ROUND, total = 0, misses = 0, n, e;

    while (err == RC_EFULL && may_evict(s) && !sqlite3_get_autocommit(s->db) &&
           total < EVICT_PER_WRITE) {
        if (want > EVICT_PER_WRITE - total)
            want = EVICT_PER_WRITE - total;
        e = evict_rows(s, pos, want, SAMPLE_PER_VICTIM * want + SAMPLE_MIN, key, key_len, token,
                       now_ms, &n);
        if (e < 0)
            return e;
        if (e == 1 && want > 1) {
            /* Fewer rows at once move fewer cells between pages. */
            want /= 2;
            continue;
        }
        if (n == 0) {
            /* Nothing evictable here (tombstones, no expiry under
             * volatile-*, or not one row could go): room must come from
             * elsewhere, i.e. from pages freed. */
            if (++misses == EVICT_MISSES)
                break;
            pos = random_token(s);
            continue;
        }
        total += n;
        if (want < EVICT_ROUND_MAX)
            want *= 2;
        err = put(arg);
    }
    return err;
}

/* The ghost, created when a policy first evicts. 0 or RC_ENOMEM. */
static int need_ghost(struct sqlite_store *s, int policy)
{
    if (!rc_evict_policy_evicts(policy) || s->ev.ghost != NULL)
        return 0;
    return rc_evghost_new(GHOST_ENTRIES, &s->ev.ghost);
}

/* Sets SQLite's cap for a budget of bytes (0: none) and notes whether the
 * budget is below the file's size. 0 or RC_EIO. */
static int set_cap(struct sqlite_store *s, int64_t bytes)
{
    int64_t pages = 0, cap = 0;
    char sql[64];

    if (bytes > 0) {
        pages = bytes / s->page_size;
        if (pages < 1)
            pages = 1;
    }
    snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%lld",
             (long long)(pages > 0 ? pages : s->ev.no_cap_pages));
    if (rc_store_sqlite_setup_int(s->db, sql, &cap) != SQLITE_OK)
        return RC_EIO;
    s->ev.max_bytes = bytes;
    s->ev.max_pages = pages;
    /* SQLite answers with the cap in force: the file's size when that is
     * larger than what was asked. */
    s->ev.over_file = pages > 0 && cap > pages;
    return 0;
}

int rc_store_sqlite_evict_open(struct sqlite_store *s, const struct rc_store_opts *opts)
{
    struct timespec ts;
    uint64_t seed[2];

    clock_gettime(CLOCK_REALTIME, &ts);
    seed[0] = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    seed[1] = (uint64_t)(uintptr_t)s;
    s->ev.rng = XXH3_64bits(seed, sizeof(seed));
    s->ev.policy = opts->evict_policy;
    if (need_ghost(s, opts->evict_policy) < 0)
        return RC_ENOMEM;
    return set_cap(s, opts->max_bytes);
}

void rc_store_sqlite_evict_close(struct sqlite_store *s)
{
    rc_evghost_free(s->ev.ghost);
    s->ev.ghost = NULL;
}

int rc_store_sqlite_set_evict(void *eng, int64_t budget, int policy)
{
    struct sqlite_store *s = eng;
    int err;

    rc_store_sqlite_enter(s);
    if (need_ghost(s, policy) < 0)
        return RC_ENOMEM;
    if (budget >= 0 && (err = set_cap(s, budget)) < 0)
        return err;
    s->ev.policy = policy;
    return 0;
}

/*
 * Under a budget at or above the file's size SQLite's cap holds it: there
 * is never anything to do. Below it, evicts from a few random positions
 * while the pages in use pass the budget; the random policies evict runs
 * of consecutive rows, which empty whole leaves and so free pages.
 */
int rc_store_sqlite_evict_step(void *eng, int64_t now_ms, int max_rows, int *evicted)
{
    struct sqlite_store *s = eng;
    int64_t used, sample, looked = 0;
    int done = 0, round, n, want, err;

    rc_store_sqlite_enter(s);
    if (max_rows <= 0 || !s->ev.over_file || !may_evict(s))
        return 0;
    err = pages_in_use(s, 0, &used);
    if (err < 0 || used <= s->ev.max_pages)
        return err;
    for (round = 0; round < EVICT_MISSES && done < max_rows && looked < STEP_SAMPLE_MAX; round++) {
        want = max_rows - done;
        sample = SAMPLE_PER_VICTIM * (int64_t)want;
        if (sample > STEP_SAMPLE_MAX - looked)
            sample = STEP_SAMPLE_MAX - looked;
        if (want > sample)
            want = (int)sample;
        err = evict_rows(s, random_token(s), want, (int)sample, NULL, 0, 0, now_ms, &n);
        if (err < 0)
            return err;
        /* err 1 (the delete found no room) counts as a miss: the file has
         * free pages here, so it is rare. */
        looked += sample;
        done += n;
    }
    *evicted = done;
    return 0;
}

void rc_store_sqlite_evict_stats(struct sqlite_store *s, struct rc_store_stats *st)
{
    st->mem_bytes = 0;
    st->max_mem_bytes = s->ev.max_bytes;
    st->evict_policy = s->ev.policy;
    st->evicted = s->ev.evicted;
    st->evicted_bytes = s->ev.evicted_bytes;
    st->ghost_refused = s->ev.ghost_refused;
}
