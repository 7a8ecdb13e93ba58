/*
 * store_mem.h - the memory engine's ops (store_mem.c), shared with the
 * write-behind engine (store_wb.c), which serves from the same memkv and
 * adds persistence behind it. The ops take a struct mem_store as `eng`;
 * a layer over it puts its struct mem_store first, so that its own state
 * is a valid `eng` for every op it does not wrap.
 */
#ifndef RC_STORE_MEM_H
#define RC_STORE_MEM_H

#include "store_engine.h"

#include <stddef.h>
#include <stdint.h>

/* Metadata of a memory store: a few names (node id, incarnation). */
#define MEM_META_MAX 16
#define MEM_META_NAME 32

struct mem_meta {
    char name[MEM_META_NAME];
    uint64_t value;
};

struct mem_store {
    struct rc_memkv *kv;
    struct mem_meta meta[MEM_META_MAX];
    int nmeta;
};

/* Zeroes m and creates its memkv under opts' budget and policy. 0 or
 * RC_ENOMEM (m->kv NULL). rc_memkv_free(m->kv) undoes it. */
int rc_store_mem_init(struct mem_store *m, const struct rc_store_opts *opts);

/* The ops of store_engine.h, eng a struct mem_store (or starting with one). */
int rc_store_mem_get(void *eng, const uint8_t *key, size_t key_len, uint64_t token,
                     int64_t now_ms, struct rc_entry *e);
int rc_store_mem_write(void *eng, const uint8_t *key, size_t key_len, uint64_t token,
                       const uint8_t *value, size_t value_len, const struct rc_attr *attr,
                       const struct rc_version *ver, int64_t expires_ms, int64_t now_ms,
                       const struct rc_store_live *live, int *existed);
int rc_store_mem_commit(void *eng);
uint64_t rc_store_mem_pending(const void *eng);
int rc_store_mem_purge(void *eng, int64_t now_ms, int max_rows, int *purged);
int rc_store_mem_scan(void *eng, uint64_t first, uint64_t last, uint64_t after_token,
                      const uint8_t *after_key, size_t after_key_len, int limit, int64_t now_ms,
                      rc_store_scan_cb cb, void *arg);
int rc_store_mem_range_digest_before(void *eng, uint64_t first, uint64_t last, int64_t now_ms,
                                     uint64_t before_hlc, uint64_t *digest, uint64_t *count);
int rc_store_mem_range_count(void *eng, uint64_t first, uint64_t last, int64_t now_ms,
                             uint64_t *count);
int rc_store_mem_delete_range(void *eng, uint64_t first, uint64_t last, int max_rows,
                              int *deleted);
void rc_store_mem_stats(void *eng, struct rc_store_stats *st);
int rc_store_mem_set_evict(void *eng, int64_t budget, int policy);
int rc_store_mem_evict_step(void *eng, int64_t now_ms, int max_rows, int *evicted);
int rc_store_mem_evicted(void *eng, uint64_t token, struct rc_version *ver);
int64_t rc_store_mem_live_keys(void *eng, int64_t now_ms);
int64_t rc_store_mem_volatile_keys(void *eng, int64_t now_ms, int64_t *avg_ttl_ms);
int rc_store_mem_meta_get(void *eng, const char *name, uint64_t *value);
int rc_store_mem_meta_set(void *eng, const char *name, uint64_t value);

#endif
