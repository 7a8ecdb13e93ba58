/*
 * store_mem.c - the ":memory:" engine of the store: an adapter from
 * store_engine.h to the native in-memory engine of common/memkv.c (a hash
 * probe per request, not a B-tree insert). memkv keeps the store's
 * contract itself; this file converts entries and holds the metadata,
 * which has nothing to outlive the process. The memory budget and the
 * eviction policy are memkv's (rc_memkv_set_evict): this file passes them
 * through.
 */
#include "store_mem.h"

#include "err.h"
#include "memkv.h"

#include <stdlib.h>
#include <string.h>

/* Handed out for zero-length keys and values: an entry's pointers are
 * never NULL except for a tombstone's value. */
static const uint8_t empty_byte;

static void mem_to_entry(const struct rc_memkv_entry *me, struct rc_entry *e)
{
    e->key = me->key_len > 0 ? me->key : &empty_byte;
    e->key_len = me->key_len;
    e->token = me->token;
    e->tombstone = me->value == NULL;
    e->value = e->tombstone ? NULL : me->value_len > 0 ? me->value : &empty_byte;
    e->value_len = me->value_len;
    e->ver.hlc = me->hlc;
    e->ver.node = me->node;
    e->expires_ms = me->expires_ms;
    e->attr = rc_attr_unpack(me->attr);
}

/* The engine's memory budget: max_mem_bytes, or else max_bytes, which
 * capped a memory store before there was a memory budget (--max-db-size
 * on a ":memory:" node keeps meaning what it meant). */
static int64_t mem_budget(const struct rc_store_opts *opts)
{
    return opts->max_mem_bytes > 0 ? opts->max_mem_bytes : opts->max_bytes;
}

int rc_store_mem_init(struct mem_store *m, const struct rc_store_opts *opts)
{
    int err;

    memset(m, 0, sizeof(*m));
    err = rc_memkv_new(mem_budget(opts), opts->tombstone_grace_ms, &m->kv);
    if (err == 0)
        err = rc_memkv_set_evict(m->kv, -1, opts->evict_policy);
    if (err < 0) {
        rc_memkv_free(m->kv);
        m->kv = NULL;
    }
    return err;
}

static int mem_open(const struct rc_store_opts *opts, void **eng, char *errbuf, size_t errlen)
{
    struct mem_store *m = calloc(1, sizeof(*m));
    int err;

    (void)errbuf;
    (void)errlen;
    *eng = NULL;
    if (m == NULL)
        return RC_ENOMEM;
    err = rc_store_mem_init(m, opts);
    if (err < 0) {
        free(m);
        return err;
    }
    *eng = m;
    return 0;
}

/* Nothing to make durable: the store just goes away. */
static void mem_close(void *eng)
{
    struct mem_store *m = eng;

    rc_memkv_free(m->kv);
    free(m);
}

int rc_store_mem_get(void *eng, const uint8_t *key, size_t key_len, uint64_t token, int64_t now_ms,
                   struct rc_entry *e)
{
    struct mem_store *m = eng;
    struct rc_memkv_entry me;
    int rc = rc_memkv_get(m->kv, token, key, key_len, now_ms, &me);

    if (rc == 0)
        mem_to_entry(&me, e);
    return rc;
}

/* live is ignored: the engine's own lookup is a hash probe, so the
 * caller's knowledge saves nothing. */
int rc_store_mem_write(void *eng, const uint8_t *key, size_t key_len, uint64_t token,
                     const uint8_t *value, size_t value_len, const struct rc_attr *attr,
                     const struct rc_version *ver, int64_t expires_ms, int64_t now_ms,
                     const struct rc_store_live *live, int *existed)
{
    struct mem_store *m = eng;

    (void)live;
    return rc_memkv_write_attr(m->kv, token, key, key_len, value, value_len, ver->hlc, ver->node,
                               expires_ms, rc_attr_pack(attr), now_ms, existed);
}

int rc_store_mem_commit(void *eng)
{
    struct mem_store *m = eng;

    rc_memkv_commit(m->kv);
    return 0;
}

uint64_t rc_store_mem_pending(const void *eng)
{
    const struct mem_store *m = eng;

    return rc_memkv_pending(m->kv);
}

int rc_store_mem_purge(void *eng, int64_t now_ms, int max_rows, int *purged)
{
    struct mem_store *m = eng;

    return rc_memkv_purge(m->kv, now_ms, max_rows, purged);
}

struct mem_scan {
    rc_store_scan_cb cb;
    void *arg;
};

static int mem_scan_cb(void *arg, const struct rc_memkv_entry *me)
{
    struct mem_scan *ms = arg;
    struct rc_entry e;

    mem_to_entry(me, &e);
    return ms->cb(ms->arg, &e);
}

int rc_store_mem_scan(void *eng, uint64_t first, uint64_t last, uint64_t after_token,
                    const uint8_t *after_key, size_t after_key_len, int limit, int64_t now_ms,
                    rc_store_scan_cb cb, void *arg)
{
    struct mem_store *m = eng;
    struct mem_scan ms = {cb, arg};

    return rc_memkv_scan(m->kv, first, last, after_token, after_key, after_key_len, limit, now_ms,
                         mem_scan_cb, &ms);
}

int rc_store_mem_range_digest_before(void *eng, uint64_t first, uint64_t last, int64_t now_ms,
                                   uint64_t before_hlc, uint64_t *digest, uint64_t *count)
{
    struct mem_store *m = eng;

    rc_memkv_range_digest_before(m->kv, first, last, now_ms, before_hlc, digest, count);
    return 0;
}

int rc_store_mem_range_count(void *eng, uint64_t first, uint64_t last, int64_t now_ms,
                           uint64_t *count)
{
    struct mem_store *m = eng;

    *count = rc_memkv_range_count(m->kv, first, last, now_ms);
    return 0;
}

int rc_store_mem_delete_range(void *eng, uint64_t first, uint64_t last, int max_rows,
                            int *deleted)
{
    struct mem_store *m = eng;

    return rc_memkv_delete_range(m->kv, first, last, max_rows, deleted);
}

/* db_bytes is the engine's estimate of the memory it holds; there is no
 * WAL and no checkpoint. */
void rc_store_mem_stats(void *eng, struct rc_store_stats *st)
{
    struct mem_store *m = eng;
    struct rc_memkv_stats ms;

    rc_memkv_stats(m->kv, &ms);
    st->keys = ms.keys;
    st->tombstones = ms.tombstones;
    st->bytes = ms.bytes;
    st->db_bytes = ms.mem_bytes;
    st->wal_bytes = 0;
    st->checkpoints = 0;
    st->mem_bytes = ms.mem_bytes;
    st->max_mem_bytes = ms.max_bytes;
    st->evict_policy = ms.policy;
    st->evicted = ms.evicted;
    st->evicted_bytes = ms.evicted_bytes;
    st->ghost_refused = ms.ghost_refused;
}

int rc_store_mem_set_evict(void *eng, int64_t budget, int policy)
{
    struct mem_store *m = eng;

    return rc_memkv_set_evict(m->kv, budget, policy);
}

/* memkv evicts in its batch (an undo log brings the entries back if the
 * batch is discarded); there is no clock in what it decides. */
int rc_store_mem_evicted(void *eng, uint64_t token, struct rc_version *ver)
{
    struct mem_store *m = eng;

    return rc_memkv_evicted(m->kv, token, &ver->hlc, &ver->node);
}

int rc_store_mem_evict_step(void *eng, int64_t now_ms, int max_rows, int *evicted)
{
    struct mem_store *m = eng;

    if (max_rows <= 0)
        return 0;
    return rc_memkv_evict(m->kv, max_rows, evicted);
}

int64_t rc_store_mem_live_keys(void *eng, int64_t now_ms)
{
    struct mem_store *m = eng;

    return rc_memkv_live_keys(m->kv, now_ms);
}

int64_t rc_store_mem_volatile_keys(void *eng, int64_t now_ms, int64_t *avg_ttl_ms)
{
    struct mem_store *m = eng;

    return rc_memkv_volatile(m->kv, now_ms, avg_ttl_ms);
}

static struct mem_meta *meta_find(struct mem_store *m, const char *name)
{
    int i;

    for (i = 0; i < m->nmeta; i++)
        if (strcmp(m->meta[i].name, name) == 0)
            return &m->meta[i];
    return NULL;
}

int rc_store_mem_meta_get(void *eng, const char *name, uint64_t *value)
{
    struct mem_meta *mm = meta_find(eng, name);

    if (mm == NULL)
        return RC_ENOTFOUND;
    *value = mm->value;
    return 0;
}

/* Nothing survives the process, so there is nothing to undo. */
int rc_store_mem_meta_set(void *eng, const char *name, uint64_t value)
{
    struct mem_store *m = eng;
    struct mem_meta *mm = meta_find(m, name);

    if (mm == NULL) {
        if (strlen(name) >= MEM_META_NAME || m->nmeta == MEM_META_MAX)
            return RC_EINVAL;
        mm = &m->meta[m->nmeta++];
        strcpy(mm->name, name);
    }
    mm->value = value;
    return 0;
}

const struct rc_store_engine rc_store_engine_mem = {
    .name = "memory",
    .open = mem_open,
    .close = mem_close,
    .get = rc_store_mem_get,
    .write = rc_store_mem_write,
    .commit = rc_store_mem_commit,
    .pending = rc_store_mem_pending,
    .purge = rc_store_mem_purge,
    .scan = rc_store_mem_scan,
    .range_digest_before = rc_store_mem_range_digest_before,
    .range_count = rc_store_mem_range_count,
    .delete_range = rc_store_mem_delete_range,
    .stats = rc_store_mem_stats,
    .set_evict = rc_store_mem_set_evict,
    .evict_step = rc_store_mem_evict_step,
    .evicted = rc_store_mem_evicted,
    .live_keys = rc_store_mem_live_keys,
    .volatile_keys = rc_store_mem_volatile_keys,
    .meta_get = rc_store_mem_meta_get,
    .meta_set = rc_store_mem_meta_set,
};
