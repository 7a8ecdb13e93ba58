/*
 * memkv.c - in-memory storage engine (see memkv.h).
 *
 * Buckets are indexed by the top `bits` bits of the token and each chain
 * is sorted by (token, key), so the buckets in index order hold every
 * entry in ring order. The table doubles when entries outnumber buckets;
 * bucket i then splits into 2i and 2i + 1 by the next token bit, which in
 * a sorted chain is a single cut. The split is incremental (a few buckets
 * per write, as Redis rehashes its dicts), so growing a table of millions
 * never stalls the loop: while it runs, buckets below `moved` live in the
 * new array and the others in the old one.
 *
 * Every change of an open batch is recorded as (old entry, new entry) in
 * an undo log; the replaced entry stays allocated until the commit, so a
 * discard relinks it. Each entry is one allocation: header, key, value.
 */
/* XXH3_state_t on the stack (range digests) rather than a heap copy. */
#define XXH_STATIC_LINKING_ONLY
#include "memkv.h"
#include "err.h"
#include "expcount.h"

#include <stdlib.h>
#include <string.h>

/*
 * 1024 buckets (8 KiB) to start: small next to any real use, and enough
 * that a test with a handful of keys spreads them. Doubling at one entry
 * per bucket keeps chains at about one entry (a hash probe plus a short
 * walk) for 8 bytes of bucket per entry.
 */
#define MIN_BITS 10
#define MAX_BITS 40

/* Old buckets moved to the new array per write while the table grows:
 * the table has doubled long before entries double again, and each step
 * costs a few cache misses. */
#define MOVE_STEP 8

/* Entries a purge call looks at per row it may delete: a bounded walk
 * (16,000 entries for the default 1,000 rows, ~1 ms) that still goes round
 * a table of a million keys in about a minute at one call per second. */
#define PURGE_LOOK_FACTOR 16

/* value_len of a tombstone. */
#define TOMBSTONE UINT32_MAX

/* Estimate of an allocation's overhead (glibc: an 8-byte header, 16-byte
 * granularity). Counted so that the cap means memory, not payload. */
#define ALLOC_OVERHEAD 16

struct item {
    struct item *next; /* chain, in (token, key) order */
    uint64_t token;
    uint64_t hlc, node;
    int64_t expires;
    uint32_t key_len;
    uint32_t value_len; /* TOMBSTONE for a tombstone */
    uint8_t data[];     /* key, then value */
};

struct undo {
    struct item *old; /* replaced or deleted; NULL for a new key */
    struct item *new; /* written; NULL for a delete */
};

struct rc_memkv {
    struct item **tab;   /* 2^bits buckets */
    struct item **old;   /* while growing: 2^(bits - 1) buckets, or NULL */
    uint64_t moved;      /* old buckets below this are in tab */
    int bits;
    int64_t max_bytes, grace_ms;
    struct rc_memkv_stats st;
    int64_t expiring;    /* entries with an expiry time (purge candidates) */
    struct rc_expcount exp; /* expiry times of the values that have one: live count */
    uint64_t purge_next; /* token where the next purge walk starts */
    struct undo *log;
    size_t nlog, caplog;
    uint64_t pending;
};

static int is_tomb(const struct item *it)
{
    return it->value_len == TOMBSTONE;
}

static size_t item_size(size_t key_len, size_t value_len)
{
    return sizeof(struct item) + key_len + value_len;
}

static int64_t item_mem(const struct item *it)
{
    return (int64_t)(item_size(it->key_len, is_tomb(it) ? 0 : it->value_len) + ALLOC_OVERHEAD);
}

static int expired(const struct item *it, int64_t now_ms)
{
    return !is_tomb(it) && it->expires > 0 && it->expires <= now_ms;
}

/* Purge candidate: an expired value or a tombstone past its purge time. */
static int purgeable(const struct item *it, int64_t now_ms)
{
    return it->expires > 0 && it->expires <= now_ms;
}

static void to_entry(const struct item *it, struct rc_memkv_entry *e)
{
    e->key = it->data;
    e->key_len = it->key_len;
    e->token = it->token;
    e->value = is_tomb(it) ? NULL : it->data + it->key_len;
    e->value_len = is_tomb(it) ? 0 : it->value_len;
    e->hlc = it->hlc;
    e->node = it->node;
    e->expires_ms = it->expires;
}

/* (token, key) order; keys as SQLite orders blobs. */
static int item_cmp(const struct item *it, uint64_t token, const uint8_t *key, size_t key_len)
{
    size_t n = it->key_len < key_len ? it->key_len : key_len;
    int c;

    if (it->token != token)
        return it->token < token ? -1 : 1;
    c = n > 0 ? memcmp(it->data, key, n) : 0;
    if (c != 0)
        return c;
    if (it->key_len != key_len)
        return it->key_len < key_len ? -1 : 1;
    return 0;
}

/* Adds (sign 1) or removes (sign -1) an entry from the counters. */
static void count_item(struct rc_memkv *m, const struct item *it, int sign)
{
    if (it == NULL)
        return;
    if (is_tomb(it)) {
        m->st.tombstones += sign;
    } else {
        m->st.keys += sign;
        m->st.bytes += sign * (int64_t)(it->key_len + it->value_len);
    }
    if (it->expires > 0)
        m->expiring += sign;
    if (!is_tomb(it))
        rc_expcount_add(&m->exp, it->expires, sign);
    m->st.mem_bytes += sign * item_mem(it);
}

/* Room in the expiry table for one more value with an expiry, counted in
 * mem_bytes. Emptied slots are dropped only with no batch open: a discard
 * brings back the times of the entries it restores. 0 or RC_ENOMEM. */
static int reserve_expiry(struct rc_memkv *m)
{
    int64_t before = (int64_t)rc_expcount_mem(&m->exp);
    int rv = rc_expcount_reserve(&m->exp, 1, m->nlog == 0);

    m->st.mem_bytes += (int64_t)rc_expcount_mem(&m->exp) - before;
    return rv;
}

/* ---- buckets ------------------------------------------------------------ */

static int64_t tab_mem(int bits)
{
    return (int64_t)(sizeof(struct item *) << bits) + ALLOC_OVERHEAD;
}

/* The chain holding token, and the last token that chain covers. */
static struct item **slot(const struct rc_memkv *m, uint64_t token, uint64_t *end)
{
    uint64_t i;
    int bits = m->bits;

    if (m->old != NULL) {
        i = token >> (64 - (bits - 1));
        if (i >= m->moved) {
            *end = ((i + 1) << (64 - (bits - 1))) - 1;
            return &m->old[i];
        }
    }
    i = token >> (64 - bits);
    *end = ((i + 1) << (64 - bits)) - 1;
    return &m->tab[i];
}

/* Splits old bucket i into tab[2i] and tab[2i + 1]: the chain is sorted,
 * so the entries whose next token bit is set form its tail. */
static void move_bucket(struct rc_memkv *m, uint64_t i)
{
    uint64_t bit = 1ull << (63 - (m->bits - 1));
    struct item *head = m->old[i], **pp = &head;

    while (*pp != NULL && ((*pp)->token & bit) == 0)
        pp = &(*pp)->next;
    m->tab[2 * i + 1] = *pp;
    *pp = NULL;
    m->tab[2 * i] = head;
    m->old[i] = NULL;
}

static void grow_step(struct rc_memkv *m, int steps)
{
    uint64_t nold;

    if (m->old == NULL)
        return;
    nold = 1ull << (m->bits - 1);
    while (steps-- > 0 && m->moved < nold)
        move_bucket(m, m->moved++);
    if (m->moved == nold) {
        free(m->old);
        m->old = NULL;
        m->st.mem_bytes -= tab_mem(m->bits - 1);
    }
}

/* Starts doubling when entries outnumber buckets. Without memory for the
 * new array the chains just get longer; the next write tries again. */
static void maybe_grow(struct rc_memkv *m)
{
    struct item **tab;

    if (m->old != NULL || m->bits >= MAX_BITS ||
        (uint64_t)(m->st.keys + m->st.tombstones) <= (1ull << m->bits))
        return;
    tab = calloc((size_t)1 << (m->bits + 1), sizeof(*tab));
    if (tab == NULL)
        return;
    m->old = m->tab;
    m->tab = tab;
    m->bits++;
    m->moved = 0;
    m->st.mem_bytes += tab_mem(m->bits);
}

/* The link that points at key's entry, or where it would be inserted. */
static struct item **find(const struct rc_memkv *m, uint64_t token, const uint8_t *key,
                          size_t key_len)
{
    uint64_t end;
    struct item **pp = slot(m, token, &end);

    while (*pp != NULL && item_cmp(*pp, token, key, key_len) < 0)
        pp = &(*pp)->next;
    return pp;
}

static int is_at(struct item *const *pp, uint64_t token, const uint8_t *key, size_t key_len)
{
    return *pp != NULL && item_cmp(*pp, token, key, key_len) == 0;
}

/* ---- the engine -------------------------------------------------------- */

int rc_memkv_new(int64_t max_bytes, int64_t grace_ms, struct rc_memkv **out)
{
    struct rc_memkv *m = calloc(1, sizeof(*m));

    *out = NULL;
    if (m == NULL)
        return RC_ENOMEM;
    m->tab = calloc((size_t)1 << MIN_BITS, sizeof(*m->tab));
    if (m->tab == NULL) {
        free(m);
        return RC_ENOMEM;
    }
    m->bits = MIN_BITS;
    rc_expcount_init(&m->exp);
    m->max_bytes = max_bytes;
    m->grace_ms = grace_ms;
    m->st.mem_bytes = (int64_t)sizeof(*m) + tab_mem(MIN_BITS);
    *out = m;
    return 0;
}

static void free_chain(struct item *it)
{
    struct item *next;

    for (; it != NULL; it = next) {
        next = it->next;
        free(it);
    }
}

void rc_memkv_free(struct rc_memkv *m)
{
    uint64_t i;

    if (m == NULL)
        return;
    rc_memkv_commit(m); /* frees what the batch replaced */
    for (i = 0; i < (1ull << m->bits); i++)
        free_chain(m->tab[i]);
    if (m->old != NULL)
        for (i = m->moved; i < (1ull << (m->bits - 1)); i++)
            free_chain(m->old[i]);
    free(m->tab);
    free(m->old);
    free(m->log);
    rc_expcount_close(&m->exp);
    free(m);
}

int rc_memkv_get(struct rc_memkv *m, uint64_t token, const uint8_t *key, size_t key_len,
                 int64_t now_ms, struct rc_memkv_entry *e)
{
    struct item **pp = find(m, token, key, key_len);

    if (!is_at(pp, token, key, key_len) || expired(*pp, now_ms))
        return RC_ENOTFOUND;
    to_entry(*pp, e);
    return 0;
}

/* Room for one more undo record. */
static int log_reserve(struct rc_memkv *m)
{
    struct undo *log;
    size_t cap;

    if (m->nlog < m->caplog)
        return 0;
    cap = m->caplog ? m->caplog * 2 : 64;
    log = realloc(m->log, cap * sizeof(*log));
    if (log == NULL)
        return RC_ENOMEM;
    m->log = log;
    m->caplog = cap;
    return 0;
}

/* Records a change made in the chains (room reserved by log_reserve) and
 * moves the counters from old to new. */
static void record(struct rc_memkv *m, struct item *old, struct item *new)
{
    m->log[m->nlog].old = old;
    m->log[m->nlog].new = new;
    m->nlog++;
    count_item(m, old, -1);
    count_item(m, new, 1);
}

int rc_memkv_write(struct rc_memkv *m, uint64_t token, const uint8_t *key, size_t key_len,
                   const uint8_t *value, size_t value_len, uint64_t hlc, uint64_t node,
                   int64_t expires_ms, int64_t now_ms, int *existed)
{
    struct item **pp, *old, *it;
    size_t vlen = value != NULL ? value_len : 0;
    int64_t grow;

    if (existed != NULL)
        *existed = 0;
    if (key_len > RC_MEMKV_MAX_LEN || vlen > RC_MEMKV_MAX_LEN)
        return RC_EINVAL;
    grow_step(m, MOVE_STEP);
    pp = find(m, token, key, key_len);
    old = is_at(pp, token, key, key_len) ? *pp : NULL;
    if (old != NULL && !expired(old, now_ms) &&
        (hlc < old->hlc || (hlc == old->hlc && node <= old->node))) {
        if (m->nlog > 0 || m->pending > 0)
            m->pending++;
        return 0;
    }
    if (value != NULL && expires_ms > 0 && reserve_expiry(m) < 0) {
        rc_memkv_discard(m);
        return RC_ENOMEM;
    }
    grow = (int64_t)(item_size(key_len, vlen) + ALLOC_OVERHEAD) - (old ? item_mem(old) : 0);
    if (m->max_bytes > 0 && grow > 0 && m->st.mem_bytes + grow > m->max_bytes) {
        rc_memkv_discard(m);
        return RC_EFULL;
    }
    it = log_reserve(m) == 0 ? malloc(item_size(key_len, vlen)) : NULL;
    if (it == NULL) {
        rc_memkv_discard(m);
        return RC_ENOMEM;
    }
    it->token = token;
    it->hlc = hlc;
    it->node = node;
    it->key_len = (uint32_t)key_len;
    if (key_len > 0)
        memcpy(it->data, key, key_len);
    if (value != NULL) {
        it->value_len = (uint32_t)value_len;
        it->expires = expires_ms;
        if (value_len > 0)
            memcpy(it->data + key_len, value, value_len);
    } else {
        it->value_len = TOMBSTONE;
        it->expires = now_ms > INT64_MAX - m->grace_ms ? INT64_MAX : now_ms + m->grace_ms;
    }
    it->next = old != NULL ? old->next : *pp;
    *pp = it;
    if (existed != NULL)
        *existed = old != NULL && !is_tomb(old) && !expired(old, now_ms);
    record(m, old, it);
    m->pending++;
    maybe_grow(m);
    return 1;
}

void rc_memkv_commit(struct rc_memkv *m)
{
    size_t i;

    for (i = 0; i < m->nlog; i++)
        free(m->log[i].old);
    m->nlog = 0;
    m->pending = 0;
}

/* Undo log entries newest first: each one's new entry is in its chain
 * (later changes of the same key were undone before it). */
void rc_memkv_discard(struct rc_memkv *m)
{
    struct undo *u;
    struct item **pp, *at;

    while (m->nlog > 0) {
        u = &m->log[--m->nlog];
        at = u->new != NULL ? u->new : u->old;
        pp = find(m, at->token, at->data, at->key_len);
        count_item(m, u->new, -1);
        count_item(m, u->old, 1);
        if (u->new != NULL) {
            *pp = u->new->next; /* find stops at the entry itself */
            free(u->new);
        }
        if (u->old != NULL) {
            u->old->next = *pp;
            *pp = u->old;
        }
    }
    m->pending = 0;
}

uint64_t rc_memkv_pending(const struct rc_memkv *m)
{
    return m->pending;
}

/* ---- ranges ------------------------------------------------------------- */

/*
 * The walk every range function shares: calls visit for each entry with
 * first <= token <= last (after the cursor when after_key is set), bucket
 * by bucket in ring order, with the link pointing at the entry so visit
 * may unlink it. visit returns 0 to go on with the next entry, 1 when it
 * unlinked the entry (the link now points at the next one), -1 to stop.
 */
struct walk {
    uint64_t first, last;
    uint64_t after_token;
    const uint8_t *after_key; /* NULL: no cursor */
    size_t after_key_len;
    int (*visit)(struct walk *w, struct item **pp);
    void *arg;
};

static int walk_range(struct rc_memkv *m, struct walk *w)
{
    uint64_t t = w->first, end;
    struct item **pp;
    int r;

    if (w->after_key != NULL && w->after_token > t)
        t = w->after_token;
    for (;;) {
        pp = slot(m, t, &end);
        while (*pp != NULL && (*pp)->token <= w->last) {
            if ((*pp)->token < t ||
                (w->after_key != NULL &&
                 item_cmp(*pp, w->after_token, w->after_key, w->after_key_len) <= 0)) {
                pp = &(*pp)->next;
                continue;
            }
            r = w->visit(w, pp);
            if (r < 0)
                return -1;
            if (r == 0)
                pp = &(*pp)->next;
        }
        if (end >= w->last)
            return 0;
        t = end + 1;
    }
}

struct scan_arg {
    int64_t now_ms;
    int limit, n;
    rc_memkv_scan_cb cb;
    void *arg;
};

static int scan_visit(struct walk *w, struct item **pp)
{
    struct scan_arg *a = w->arg;
    struct rc_memkv_entry e;

    if (expired(*pp, a->now_ms))
        return 0;
    to_entry(*pp, &e);
    a->n++;
    return a->cb(a->arg, &e) != 0 || a->n == a->limit ? -1 : 0;
}

int rc_memkv_scan(struct rc_memkv *m, uint64_t first, uint64_t last, uint64_t after_token,
                  const uint8_t *after_key, size_t after_key_len, int limit, int64_t now_ms,
                  rc_memkv_scan_cb cb, void *arg)
{
    struct scan_arg a = {now_ms, limit, 0, cb, arg};
    struct walk w = {first, last, after_token, after_key, after_key_len, scan_visit, &a};

    if (limit <= 0 || first > last)
        return 0;
    walk_range(m, &w);
    return a.n;
}

uint64_t rc_memkv_entry_digest(XXH3_state_t *h, const uint8_t *key, size_t key_len, uint64_t hlc,
                               uint64_t node)
{
    uint8_t buf[256];
    int i;

    /* The common short key hashes in one call, from a copy. */
    if (key_len <= sizeof(buf) - 16) {
        if (key_len > 0)
            memcpy(buf, key, key_len);
        for (i = 0; i < 8; i++) {
            buf[key_len + i] = (uint8_t)(hlc >> (8 * i));
            buf[key_len + 8 + i] = (uint8_t)(node >> (8 * i));
        }
        return XXH3_64bits(buf, key_len + 16);
    }
    for (i = 0; i < 8; i++) {
        buf[i] = (uint8_t)(hlc >> (8 * i));
        buf[8 + i] = (uint8_t)(node >> (8 * i));
    }
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, key, key_len);
    XXH3_64bits_update(h, buf, 16);
    return XXH3_64bits_digest(h);
}

struct digest_arg {
    int64_t now_ms;
    XXH3_state_t *h;
    uint64_t digest, count;
};

static int digest_visit(struct walk *w, struct item **pp)
{
    struct digest_arg *a = w->arg;
    const struct item *it = *pp;

    if (!expired(it, a->now_ms)) {
        a->digest ^= rc_memkv_entry_digest(a->h, it->data, it->key_len, it->hlc, it->node);
        a->count++;
    }
    return 0;
}

void rc_memkv_range_digest(struct rc_memkv *m, uint64_t first, uint64_t last, int64_t now_ms,
                           uint64_t *digest, uint64_t *count)
{
    XXH3_state_t h; /* only used for keys over ~240 bytes */
    struct digest_arg a = {now_ms, &h, 0, 0};
    struct walk w = {first, last, 0, NULL, 0, digest_visit, &a};

    if (first <= last)
        walk_range(m, &w);
    *digest = a.digest;
    *count = a.count;
}

struct count_arg {
    int64_t now_ms;
    uint64_t count;
};

static int count_visit(struct walk *w, struct item **pp)
{
    struct count_arg *a = w->arg;

    a->count += !is_tomb(*pp) && !expired(*pp, a->now_ms);
    return 0;
}

uint64_t rc_memkv_range_count(struct rc_memkv *m, uint64_t first, uint64_t last, int64_t now_ms)
{
    struct count_arg a = {now_ms, 0};
    struct walk w = {first, last, 0, NULL, 0, count_visit, &a};

    if (first <= last)
        walk_range(m, &w);
    return a.count;
}

/* ---- deletes ------------------------------------------------------------ */

struct delete_arg {
    struct rc_memkv *m;
    int64_t now_ms; /* purge: only purgeable entries; INT64_MIN: any */
    int max_rows, deleted;
    int64_t looked, max_look; /* max_look 0: no bound */
    uint64_t stop_token;      /* the entry the walk stopped at */
    int nomem;
};

static int delete_visit(struct walk *w, struct item **pp)
{
    struct delete_arg *a = w->arg;
    struct item *it = *pp;

    a->stop_token = it->token;
    if (a->max_look > 0 && a->looked++ >= a->max_look)
        return -1;
    if (a->now_ms != INT64_MIN && !purgeable(it, a->now_ms))
        return 0;
    if (log_reserve(a->m) < 0) {
        a->nomem = 1;
        return -1;
    }
    *pp = it->next;
    record(a->m, it, NULL);
    a->deleted++;
    return a->deleted == a->max_rows ? -1 : 1;
}

/* Returns walk_range's result, or RC_ENOMEM (batch discarded). The batch
 * joins even when nothing is deleted, as a SQLite DELETE does. */
static int delete_walk(struct rc_memkv *m, struct walk *w, struct delete_arg *a)
{
    int r = walk_range(m, w);

    if (a->nomem) {
        rc_memkv_discard(m);
        return RC_ENOMEM;
    }
    m->pending++;
    return r;
}

int rc_memkv_delete_range(struct rc_memkv *m, uint64_t first, uint64_t last, int max_rows,
                          int *deleted)
{
    struct delete_arg a = {m, INT64_MIN, max_rows, 0, 0, 0, 0, 0};
    struct walk w = {first, last, 0, NULL, 0, delete_visit, &a};
    int err;

    *deleted = 0;
    if (max_rows <= 0 || first > last)
        return 0;
    err = delete_walk(m, &w, &a);
    if (err == RC_ENOMEM)
        return err;
    *deleted = a.deleted;
    return 0;
}

/* The walk goes from purge_next to the top of the ring, then from 0. */
int rc_memkv_purge(struct rc_memkv *m, int64_t now_ms, int max_rows, int *purged)
{
    struct delete_arg a = {m, now_ms, max_rows, 0, 0, 0, 0, 0};
    struct walk w = {0, UINT64_MAX, 0, NULL, 0, delete_visit, &a};
    int err;

    *purged = 0;
    if (max_rows <= 0)
        return 0;
    if (m->expiring == 0) {
        /* Nothing can be purged; still a write in the batch. */
        m->pending++;
        return 0;
    }
    a.max_look = (int64_t)max_rows * PURGE_LOOK_FACTOR;
    w.first = m->purge_next;
    err = delete_walk(m, &w, &a);
    if (err == RC_ENOMEM)
        return err;
    /* Stopped by a bound: go on from the entry it stopped at (looked at
     * again if it is still there). Went through: start over at 0. */
    m->purge_next = err < 0 ? a.stop_token : 0;
    *purged = a.deleted;
    return 0;
}

void rc_memkv_stats(const struct rc_memkv *m, struct rc_memkv_stats *st)
{
    *st = m->st;
}

int64_t rc_memkv_live_keys(struct rc_memkv *m, int64_t now_ms)
{
    return m->st.keys - rc_expcount_passed(&m->exp, now_ms);
}
