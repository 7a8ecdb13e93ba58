/*
 * memtab.c - bounded LRU read cache of live entries (see memtab.h).
 *
 * Chained hash table (power-of-two buckets, doubled when entries exceed
 * buckets) plus a doubly-linked LRU list. Each entry is one allocation:
 * header, key, then room for the value; a replacement that fits the room
 * is done in place, so overwriting a cached key allocates nothing.
 */
#include "memtab.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#define MIN_BUCKETS 1024

struct ent {
    struct ent *hnext;
    struct ent *prev, *next; /* LRU: head is the most recently used */
    uint64_t hash;
    uint64_t hlc, node;
    int64_t expires;
    size_t klen, vlen, vcap;
    uint8_t data[]; /* key, then vcap bytes for the value */
};

struct rc_memtab {
    struct ent **buckets;
    size_t nbuckets, count;
    size_t bytes, max_bytes;
    struct ent *head, *tail;
    uint64_t hits, misses, evictions;
};

static size_t ent_bytes(const struct ent *e)
{
    return sizeof(*e) + e->klen + e->vcap;
}

int rc_memtab_new(size_t max_bytes, struct rc_memtab **out)
{
    struct rc_memtab *m = calloc(1, sizeof(*m));

    *out = NULL;
    if (m == NULL)
        return RC_ENOMEM;
    m->buckets = calloc(MIN_BUCKETS, sizeof(*m->buckets));
    if (m->buckets == NULL) {
        free(m);
        return RC_ENOMEM;
    }
    m->nbuckets = MIN_BUCKETS;
    m->max_bytes = max_bytes;
    *out = m;
    return 0;
}

static void lru_unlink(struct rc_memtab *m, struct ent *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        m->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        m->tail = e->prev;
}

static void lru_front(struct rc_memtab *m, struct ent *e)
{
    e->prev = NULL;
    e->next = m->head;
    if (m->head)
        m->head->prev = e;
    else
        m->tail = e;
    m->head = e;
}

static struct ent **find(struct rc_memtab *m, const uint8_t *key, size_t klen, uint64_t h)
{
    struct ent **pp = &m->buckets[h & (m->nbuckets - 1)];

    for (; *pp != NULL; pp = &(*pp)->hnext)
        if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->data, key, klen) == 0)
            return pp;
    return pp;
}

/* Unlinks *pp from its bucket and the LRU list and frees it. */
static void remove_at(struct rc_memtab *m, struct ent **pp)
{
    struct ent *e = *pp;

    *pp = e->hnext;
    lru_unlink(m, e);
    m->count--;
    m->bytes -= ent_bytes(e);
    free(e);
}

static void evict(struct rc_memtab *m)
{
    while (m->bytes > m->max_bytes && m->tail != NULL) {
        struct ent *e = m->tail;

        remove_at(m, find(m, e->data, e->klen, e->hash));
        m->evictions++;
    }
}

/* Doubles the buckets once entries outnumber them; a failed allocation
 * only leaves chains longer. */
static void maybe_grow(struct rc_memtab *m)
{
    struct ent **nb, *e, *next;
    size_t n = m->nbuckets * 2, i;

    if (m->count <= m->nbuckets || n > SIZE_MAX / sizeof(*nb))
        return;
    nb = calloc(n, sizeof(*nb));
    if (nb == NULL)
        return;
    for (i = 0; i < m->nbuckets; i++)
        for (e = m->buckets[i]; e != NULL; e = next) {
            next = e->hnext;
            e->hnext = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
        }
    free(m->buckets);
    m->buckets = nb;
    m->nbuckets = n;
}

/* read: a GET (counted as a hit or miss, made most recently used). */
static int lookup(struct rc_memtab *m, const uint8_t *key, size_t key_len, int64_t now_ms,
                  struct rc_memtab_entry *out, int read)
{
    uint64_t h = XXH3_64bits(key, key_len);
    struct ent **pp = find(m, key, key_len, h), *e = *pp;

    if (e != NULL && e->expires > 0 && e->expires <= now_ms) {
        remove_at(m, pp);
        e = NULL;
    }
    if (e == NULL) {
        m->misses += (uint64_t)read;
        return 0;
    }
    if (read) {
        m->hits++;
        if (m->head != e) {
            lru_unlink(m, e);
            lru_front(m, e);
        }
    }
    out->value = e->data + e->klen;
    out->value_len = e->vlen;
    out->ver_hlc = e->hlc;
    out->ver_node = e->node;
    out->expires_ms = e->expires;
    return 1;
}

int rc_memtab_get(struct rc_memtab *m, const uint8_t *key, size_t key_len, int64_t now_ms,
                  struct rc_memtab_entry *out)
{
    return lookup(m, key, key_len, now_ms, out, 1);
}

int rc_memtab_peek(struct rc_memtab *m, const uint8_t *key, size_t key_len, int64_t now_ms,
                   struct rc_memtab_entry *out)
{
    return lookup(m, key, key_len, now_ms, out, 0);
}

int rc_memtab_put(struct rc_memtab *m, const uint8_t *key, size_t klen, const uint8_t *value,
                  size_t vlen, uint64_t hlc, uint64_t node, int64_t expires)
{
    uint64_t h = XXH3_64bits(key, klen);
    struct ent **pp = find(m, key, klen, h), *e = *pp;

    if (sizeof(*e) + klen + vlen > m->max_bytes / 4) {
        if (e != NULL)
            remove_at(m, pp);
        return 0;
    }
    if (e != NULL && e->vcap >= vlen && e->vcap <= 2 * vlen + 64) {
        /* In place: same key, the value fits its room (without pinning a
         * much larger one). */
        memcpy(e->data + e->klen, value, vlen);
        e->vlen = vlen;
        e->hlc = hlc;
        e->node = node;
        e->expires = expires;
        if (m->head != e) {
            lru_unlink(m, e);
            lru_front(m, e);
        }
        return 0;
    }
    if (e != NULL)
        remove_at(m, pp);
    e = malloc(sizeof(*e) + klen + vlen);
    if (e == NULL)
        return RC_ENOMEM;
    e->hash = h;
    e->hlc = hlc;
    e->node = node;
    e->expires = expires;
    e->klen = klen;
    e->vlen = e->vcap = vlen;
    memcpy(e->data, key, klen);
    memcpy(e->data + klen, value, vlen);
    pp = &m->buckets[h & (m->nbuckets - 1)];
    e->hnext = *pp;
    *pp = e;
    lru_front(m, e);
    m->count++;
    m->bytes += ent_bytes(e);
    evict(m);
    maybe_grow(m);
    return 0;
}

void rc_memtab_del(struct rc_memtab *m, const uint8_t *key, size_t key_len)
{
    uint64_t h = XXH3_64bits(key, key_len);
    struct ent **pp = find(m, key, key_len, h);

    if (*pp != NULL)
        remove_at(m, pp);
}

void rc_memtab_clear(struct rc_memtab *m)
{
    struct ent *e, *next;

    for (e = m->head; e != NULL; e = next) {
        next = e->next;
        free(e);
    }
    memset(m->buckets, 0, m->nbuckets * sizeof(*m->buckets));
    m->head = m->tail = NULL;
    m->count = 0;
    m->bytes = 0;
}

void rc_memtab_stats(const struct rc_memtab *m, struct rc_memtab_stats *st)
{
    st->entries = m->count;
    st->bytes = m->bytes;
    st->max_bytes = m->max_bytes;
    st->hits = m->hits;
    st->misses = m->misses;
    st->evictions = m->evictions;
}

void rc_memtab_free(struct rc_memtab *m)
{
    if (m == NULL)
        return;
    rc_memtab_clear(m);
    free(m->buckets);
    free(m);
}
