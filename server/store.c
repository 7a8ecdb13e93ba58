/*
 * store.c - the engine-agnostic door of the store (see store.h).
 *
 * It checks what store.h makes an error on every engine (options, key and
 * length limits, first > last), sets the out-parameters that are 0 on
 * failure, computes a key's ring token once, and hands each call to the
 * engine chosen at open with one indirect call: SQLite for a data
 * directory (store_sqlite.c), the native in-memory engine for ":memory:"
 * (store_mem.c). The engine contract is store_engine.h.
 */
#include "store.h"

#include "err.h"
#include "evict.h"
#include "ring.h"
#include "store_engine.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rc_store {
    const struct rc_store_engine *ops;
    void *eng; /* the engine's state, owned by it (ops->close frees it) */
};

/* Hashed for a zero-length key: the token of no bytes, whatever the
 * caller's pointer (which may be NULL then). */
static const uint8_t empty_byte;

static uint64_t key_token(const uint8_t *key, size_t key_len)
{
    return rc_ring_token(key_len > 0 ? key : &empty_byte, key_len);
}

/* The one place engines are chosen: a new engine, or a layer over one, is
 * one line here. */
static int policy_ok(int policy)
{
    return policy >= 0 && policy < RC_EVICT_NPOLICIES;
}

static const struct rc_store_engine *choose_engine(const struct rc_store_opts *opts)
{
    if (strcmp(opts->data_dir, ":memory:") == 0)
        return &rc_store_engine_mem;
    return opts->write_behind ? &rc_store_engine_wb : &rc_store_engine_sqlite;
}

int rc_version_cmp(const struct rc_version *a, const struct rc_version *b)
{
    if (a->hlc != b->hlc)
        return a->hlc < b->hlc ? -1 : 1;
    if (a->node != b->node)
        return a->node < b->node ? -1 : 1;
    return 0;
}

int rc_store_open(const struct rc_store_opts *opts, struct rc_store **out, char *errbuf,
                  size_t errlen)
{
    struct rc_store *s;
    int err;

    *out = NULL;
    if (opts->data_dir == NULL || opts->data_dir[0] == '\0' || opts->tombstone_grace_ms < 0 ||
        opts->max_bytes < 0 || opts->cache_kib < 0 || opts->max_mem_bytes < 0 ||
        opts->flush_ms < 0 || opts->max_lag_ms < 0 ||
        !policy_ok(opts->evict_policy)) {
        if (errbuf != NULL && errlen > 0)
            snprintf(errbuf, errlen, "invalid store options");
        return RC_EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return RC_ENOMEM;
    s->ops = choose_engine(opts);
    err = s->ops->open(opts, &s->eng, errbuf, errlen);
    if (err < 0) {
        free(s);
        return err;
    }
    *out = s;
    return 0;
}

void rc_store_close(struct rc_store *s)
{
    if (s == NULL)
        return;
    s->ops->close(s->eng);
    free(s);
}

int rc_store_get(struct rc_store *s, const uint8_t *key, size_t key_len, int64_t now_ms,
                 struct rc_entry *e)
{
    if (key == NULL && key_len > 0)
        return RC_EINVAL;
    return s->ops->get(s->eng, key, key_len, key_token(key, key_len), now_ms, e);
}

static const struct rc_attr no_attr;

static int write_checked(struct rc_store *s, const uint8_t *key, size_t key_len,
                         const uint8_t *value, size_t value_len, const struct rc_attr *attr,
                         const struct rc_version *ver, int64_t expires_ms, int64_t now_ms,
                         const struct rc_store_live *live, int *existed)
{
    if (existed != NULL)
        *existed = 0;
    if ((key == NULL && key_len > 0) || key_len > INT_MAX || value_len > INT_MAX ||
        expires_ms < 0 || (attr != NULL && attr->kind > RC_KIND_MAX))
        return RC_EINVAL;
    /* A tombstone has no attributes. */
    if (attr == NULL || value == NULL)
        attr = &no_attr;
    return s->ops->write(s->eng, key, key_len, key_token(key, key_len), value, value_len, attr,
                         ver, expires_ms, now_ms, live, existed);
}

int rc_store_write(struct rc_store *s, const uint8_t *key, size_t key_len, const uint8_t *value,
                   size_t value_len, const struct rc_version *ver, int64_t expires_ms,
                   int64_t now_ms, int *existed)
{
    return write_checked(s, key, key_len, value, value_len, NULL, ver, expires_ms, now_ms, NULL,
                         existed);
}

int rc_store_write_known(struct rc_store *s, const uint8_t *key, size_t key_len,
                         const uint8_t *value, size_t value_len, const struct rc_version *ver,
                         int64_t expires_ms, int64_t now_ms, const struct rc_store_live *live,
                         int *existed)
{
    if (live == NULL)
        return RC_EINVAL;
    return write_checked(s, key, key_len, value, value_len, NULL, ver, expires_ms, now_ms, live,
                         existed);
}

int rc_store_write_attr(struct rc_store *s, const uint8_t *key, size_t key_len,
                        const uint8_t *value, size_t value_len, const struct rc_attr *attr,
                        const struct rc_version *ver, int64_t expires_ms, int64_t now_ms,
                        const struct rc_store_live *live, int *existed)
{
    return write_checked(s, key, key_len, value, value_len, attr, ver, expires_ms, now_ms, live,
                         existed);
}

int rc_store_commit(struct rc_store *s)
{
    return s->ops->commit(s->eng);
}

uint64_t rc_store_pending(const struct rc_store *s)
{
    return s->ops->pending(s->eng);
}

int rc_store_unflushed(const struct rc_store *s)
{
    return s->ops->unflushed != NULL && s->ops->unflushed(s->eng);
}

int rc_store_backlogged(const struct rc_store *s)
{
    return s->ops->backlogged != NULL && s->ops->backlogged(s->eng);
}

uint64_t rc_store_flush_token(const struct rc_store *s)
{
    return s->ops->flush_token != NULL ? s->ops->flush_token(s->eng) : 0;
}

int rc_store_durable(const struct rc_store *s, uint64_t token)
{
    return s->ops->durable == NULL || s->ops->durable(s->eng, token);
}

int rc_store_purge(struct rc_store *s, int64_t now_ms, int max_rows, int *purged)
{
    *purged = 0;
    return s->ops->purge(s->eng, now_ms, max_rows, purged);
}

int rc_store_scan(struct rc_store *s, uint64_t first, uint64_t last, uint64_t after_token,
                  const uint8_t *after_key, size_t after_key_len, int limit, int64_t now_ms,
                  rc_store_scan_cb cb, void *arg)
{
    if (first > last)
        return RC_EINVAL;
    return s->ops->scan(s->eng, first, last, after_token, after_key, after_key_len, limit,
                        now_ms, cb, arg);
}

int rc_store_range_digest(struct rc_store *s, uint64_t first, uint64_t last, int64_t now_ms,
                          uint64_t *digest, uint64_t *count)
{
    return rc_store_range_digest_before(s, first, last, now_ms, UINT64_MAX, digest, count);
}

int rc_store_range_digest_before(struct rc_store *s, uint64_t first, uint64_t last,
                                 int64_t now_ms, uint64_t before_hlc, uint64_t *digest,
                                 uint64_t *count)
{
    *digest = 0;
    *count = 0;
    if (first > last)
        return RC_EINVAL;
    return s->ops->range_digest_before(s->eng, first, last, now_ms, before_hlc, digest, count);
}

int rc_store_range_count(struct rc_store *s, uint64_t first, uint64_t last, int64_t now_ms,
                         uint64_t *count)
{
    *count = 0;
    if (first > last)
        return RC_EINVAL;
    return s->ops->range_count(s->eng, first, last, now_ms, count);
}

int rc_store_delete_range(struct rc_store *s, uint64_t first, uint64_t last, int max_rows,
                          int *deleted)
{
    *deleted = 0;
    if (first > last)
        return RC_EINVAL;
    return s->ops->delete_range(s->eng, first, last, max_rows, deleted);
}

void rc_store_stats(struct rc_store *s, struct rc_store_stats *st)
{
    memset(st, 0, sizeof(*st));
    s->ops->stats(s->eng, st);
}

int64_t rc_store_live_keys(struct rc_store *s, int64_t now_ms)
{
    return s->ops->live_keys(s->eng, now_ms);
}

int64_t rc_store_volatile_keys(struct rc_store *s, int64_t now_ms, int64_t *avg_ttl_ms)
{
    return s->ops->volatile_keys(s->eng, now_ms, avg_ttl_ms);
}

int rc_store_set_evict(struct rc_store *s, int64_t budget, int policy)
{
    if (!policy_ok(policy))
        return RC_EINVAL;
    return s->ops->set_evict(s->eng, budget, policy);
}

int rc_store_evict_step(struct rc_store *s, int64_t now_ms, int max_rows, int *evicted)
{
    *evicted = 0;
    return s->ops->evict_step(s->eng, now_ms, max_rows, evicted);
}

int rc_store_evicted(struct rc_store *s, const uint8_t *key, size_t key_len,
                     struct rc_version *ver)
{
    if (key == NULL && key_len > 0)
        return 0;
    return s->ops->evicted(s->eng, key_token(key, key_len), ver);
}

int rc_store_meta_get(struct rc_store *s, const char *name, uint64_t *value)
{
    return s->ops->meta_get(s->eng, name, value);
}

int rc_store_meta_set(struct rc_store *s, const char *name, uint64_t value)
{
    return s->ops->meta_set(s->eng, name, value);
}
