/*
 * store_engine.h - the contract between the store (store.c) and the
 * storage engines behind it.
 *
 * store.c is the engine-agnostic door of store.h: it validates what is
 * common to every engine (options, key and length limits, first <= last),
 * zeroes the out-parameters the contract says are 0 on failure, computes
 * each key's ring token once, then makes one indirect call through a
 * struct rc_store_engine. An engine is one file that defines such a table:
 * SQLite for a data directory (store_sqlite.c), the in-memory engine of
 * common/memkv.c for ":memory:" (store_mem.c). Adding an engine, or a layer
 * wrapping one (write-behind), is a new file (its table declared below, the
 * file listed in CMakeLists.txt) plus one line in store.c's choose_engine().
 */
#ifndef RC_STORE_ENGINE_H
#define RC_STORE_ENGINE_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Every op receives the engine's own state (`eng`, what open gave) and
 * has the meaning, results and error codes of the store.h function of the
 * same name, with these differences:
 *
 * - The door has already checked the arguments store.h lists as RC_EINVAL
 *   (key NULL with key_len > 0, key_len or value_len > INT_MAX,
 *   expires_ms < 0, first > last, write_known without live, an eviction
 *   policy out of range) and set the out-parameters (*existed, *digest,
 *   *count, *deleted, *purged, *evicted) to 0;
 *   an engine writes them only when it has a result to give.
 * - token is rc_ring_token(key) (the door computes it once); engines trust it.
 * - Pointers handed out (rc_entry fields, scan entries) are the engine's,
 *   valid as store.h says: until the next call on the store, or until cb
 *   returns. Pointers passed in are borrowed for the call only.
 * - Engines keep the group-commit contract of store.h themselves: a failed
 *   write or commit discards the whole open batch.
 */
struct rc_store_engine {
    const char *name; /* for messages: "sqlite", "memory" */

    /* Creates the engine's state for opts (already validated: data_dir set,
     * no negative sizes, a known eviction policy) into *eng (NULL on
     * failure). 0, RC_EIO (message in errbuf when given), RC_ENOMEM. */
    int (*open)(const struct rc_store_opts *opts, void **eng, char *errbuf, size_t errlen);
    /* Commits what a durable engine has pending (a failure is not reported:
     * nobody is left to hear it) and frees eng. Never called with NULL. */
    void (*close)(void *eng);

    int (*get)(void *eng, const uint8_t *key, size_t key_len, uint64_t token, int64_t now_ms,
               struct rc_entry *e);
    /* rc_store_write when live is NULL, rc_store_write_known otherwise (an
     * engine may ignore live when its own lookup costs nothing); attr is
     * never NULL (zeros: none), already checked, and the engine stores it
     * with a value only and returns it in rc_entry.attr. */
    int (*write)(void *eng, const uint8_t *key, size_t key_len, uint64_t token,
                 const uint8_t *value, size_t value_len, const struct rc_attr *attr,
                 const struct rc_version *ver,
                 int64_t expires_ms, int64_t now_ms, const struct rc_store_live *live,
                 int *existed);
    int (*commit)(void *eng);
    uint64_t (*pending)(const void *eng);
    int (*purge)(void *eng, int64_t now_ms, int max_rows, int *purged);

    /* Range ops: first <= last, checked by the door. */
    int (*scan)(void *eng, uint64_t first, uint64_t last, uint64_t after_token,
                const uint8_t *after_key, size_t after_key_len, int limit, int64_t now_ms,
                rc_store_scan_cb cb, void *arg);
    int (*range_digest_before)(void *eng, uint64_t first, uint64_t last, int64_t now_ms,
                               uint64_t before_hlc, uint64_t *digest, uint64_t *count);
    int (*range_count)(void *eng, uint64_t first, uint64_t last, int64_t now_ms,
                       uint64_t *count);
    int (*delete_range)(void *eng, uint64_t first, uint64_t last, int max_rows, int *deleted);

    /* Fills every field of *st. */
    void (*stats)(void *eng, struct rc_store_stats *st);
    /* Eviction: policy already checked by the door (0 ..
     * RC_EVICT_NPOLICIES - 1); budget < 0 keeps the engine's. */
    int (*set_evict)(void *eng, int64_t budget, int policy);
    int (*evict_step)(void *eng, int64_t now_ms, int max_rows, int *evicted);
    /* The version the key of token was evicted at, if remembered: 1 or 0. */
    int (*evicted)(void *eng, uint64_t token, struct rc_version *ver);
    int64_t (*live_keys)(void *eng, int64_t now_ms);
    int64_t (*volatile_keys)(void *eng, int64_t now_ms, int64_t *avg_ttl_ms);
    /* name is a NUL-terminated string borrowed for the call. */
    int (*meta_get)(void *eng, const char *name, uint64_t *value);
    int (*meta_set)(void *eng, const char *name, uint64_t value);
    /* rc_store_unflushed, rc_store_backlogged: NULL for an engine that
     * writes nothing behind (always 0). */
    int (*unflushed)(const void *eng);
    int (*backlogged)(const void *eng);
    /* rc_store_flush_token, rc_store_durable: NULL when a commit is
     * durable (token 0, always durable). */
    uint64_t (*flush_token)(const void *eng);
    int (*durable)(const void *eng, uint64_t token);
};

/* The engines (store_sqlite.c, store_mem.c, store_wb.c). */
extern const struct rc_store_engine rc_store_engine_sqlite;
extern const struct rc_store_engine rc_store_engine_mem;
extern const struct rc_store_engine rc_store_engine_wb;

#endif
