/*
 * memtab.h - a bounded in-memory read cache of live entries, in front of
 * the SQLite store (server/node.c).
 *
 * A hash table from key to (version, expiry, value) with least-recently-
 * used eviction under a byte budget. It holds only live values (never
 * tombstones) and is kept exact by its one user: a key is added when a
 * read found it in the store or a write of a value was applied, dropped by
 * a delete, and the whole table is dropped whenever the store changes
 * behind it (a discarded batch, a ring change before ranges are deleted).
 * Pure data structure: no I/O, no clock (expiry is the caller's now).
 */
#ifndef RC_MEMTAB_H
#define RC_MEMTAB_H

#include <stddef.h>
#include <stdint.h>

struct rc_memtab;

struct rc_memtab_entry {
    const uint8_t *value; /* borrowed until the next call that changes the table */
    size_t value_len;
    uint64_t ver_hlc, ver_node;
    int64_t expires_ms; /* 0 = never */
};

struct rc_memtab_stats {
    uint64_t entries, bytes, max_bytes;
    uint64_t hits, misses, evictions;
};

/* A table of at most max_bytes (entries, keys, values and their
 * bookkeeping). 0 or RC_ENOMEM. */
int rc_memtab_new(size_t max_bytes, struct rc_memtab **out);
void rc_memtab_free(struct rc_memtab *m);

/* 1 and *e for a live entry (now_ms before its expiry), 0 otherwise (an
 * expired entry is dropped). A hit makes the entry most recently used. */
int rc_memtab_get(struct rc_memtab *m, const uint8_t *key, size_t key_len, int64_t now_ms,
                  struct rc_memtab_entry *e);

/* As rc_memtab_get for a writer that wants the current version: neither
 * counted as a hit or miss nor made most recently used. */
int rc_memtab_peek(struct rc_memtab *m, const uint8_t *key, size_t key_len, int64_t now_ms,
                   struct rc_memtab_entry *e);

/* Adds or replaces key's entry; evicts the least recently used ones to
 * stay within the budget. An entry larger than a quarter of the budget is
 * not kept (any old one for the key is dropped). 0, or RC_ENOMEM with the
 * key absent. */
int rc_memtab_put(struct rc_memtab *m, const uint8_t *key, size_t key_len, const uint8_t *value,
                  size_t value_len, uint64_t ver_hlc, uint64_t ver_node, int64_t expires_ms);

void rc_memtab_del(struct rc_memtab *m, const uint8_t *key, size_t key_len);
void rc_memtab_clear(struct rc_memtab *m);
void rc_memtab_stats(const struct rc_memtab *m, struct rc_memtab_stats *st);

#endif
