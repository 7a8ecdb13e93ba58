/*
 * node.c - the local replica (see node.h).
 *
 * Writes are applied to the store immediately and acknowledged when their
 * batch commits: the waiters of the batch are kept in an array and told
 * the outcome together. If the store discards a batch (disk full, I/O
 * error), every waiter of that batch learns it, so no write is ever
 * acknowledged that was not committed. Every call that can discard the
 * batch (writes, purge, range deletes, metadata) goes through
 * batch_failed, which also drops the read cache.
 */
#include "node.h"
#include "container_of.h"
#include "codec.h"
#include "counter.h"
#include "err.h"
#include "evict.h"
#include "native.h"
#include "hlc.h"
#include "memtab.h"
#include "ring.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


/* When a purge pass fills its batch there is more to do: come back soon,
 * but not in the same loop iteration, so clients are served in between. */
#define PURGE_CATCHUP_MS 10

/* A write waiting for its batch to commit: a callback (coordinator) or a
 * deferred reply on the peer port (replica write from another node). */
struct waiter {
    rc_node_write_cb cb;
    void *arg;             /* cb's argument, or the rc_net_slot */
    uint32_t id;           /* request id, for slot waiters */
    int existed;           /* for slot waiters: reported to the coordinator */
    int durable;           /* slot waiter answered once its writes are on disk */
    uint64_t token;        /* then: the store's flush token (rc_store_flush_token) */
};

struct rc_node {
    uv_loop_t *loop;
    uv_timer_t purge_timer;
    uv_check_t check;     /* batch end after I/O callbacks */
    uv_prepare_t prepare; /* batch end before the loop blocks */
    uv_idle_t kick;       /* while active, the loop polls without blocking */
    uv_idle_t evict;      /* while active: one bounded eviction step per iteration */
    uv_timer_t flush;     /* while the store has changes not on disk (write-behind) */
    struct rc_net *nets[RC_NODE_MAX_NETS]; /* attached: resumed and flushed */
    int nnets;
    struct rc_node_opts opts;
    const struct rc_log *log;
    struct rc_store *store;
    struct rc_hlc hlc;
    uint64_t id;
    char id_hex[17];
    struct waiter *waiters;
    size_t nwaiters, waiters_alloc;
    /* Committed durable waiters whose writes are not on disk yet
     * (write-behind), in token order: answered as flushes end. */
    struct waiter *dwaiters;
    size_t ndwaiters, dwaiters_alloc;
    struct rc_memtab *cache; /* read cache in front of the store; NULL when off */
    struct rc_node_stats st;
    uint32_t actor_prefix; /* this process's counter actors: prefix << 32 | random */
    struct renewed *renewed; /* keys renewed to a new actor (counter_check_own) */
    size_t nrenewed;
    /* FLUSHALL's epoch (rc_node_flush): versions with an hlc below it
     * were flushed; the idle handle drops them in bounded steps from the
     * cursor (token, key) on. */
    uint64_t flush_epoch;
    uv_idle_t flush_drop;
    int flush_dropping;
    uint64_t dropped; /* entries the current drop deleted */
    uint64_t drop_token;
    uint8_t *drop_key; /* max_key bytes; drop_key_len 0: from the start */
    size_t drop_key_len;
    int64_t seen_evicted; /* the store's evicted count when last looked at */
    uint64_t evicted_at;  /* loop time it was last seen to grow; 0 = never */
};

int64_t rc_node_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int add_waiter(struct rc_node *n, rc_node_write_cb cb, void *arg, uint32_t id)
{
    struct waiter *w;

    if (n->nwaiters == n->waiters_alloc) {
        size_t alloc = n->waiters_alloc ? n->waiters_alloc * 2 : 64;

        w = realloc(n->waiters, alloc * sizeof(*w));
        if (w == NULL)
            return RC_ENOMEM;
        n->waiters = w;
        n->waiters_alloc = alloc;
    }
    n->waiters[n->nwaiters++] = (struct waiter){cb, arg, id, 0, 0, 0};
    return 0;
}

static void complete_slot(const struct waiter *w, int err)
{
    if (err == 0) {
        struct rc_reply rep = {.id = w->id, .existed = (unsigned)w->existed};

        rc_native_complete(w->arg, &rep);
    } else {
        rc_native_complete_error(w->arg, w->id, err, NULL);
    }
}

/* A committed durable waiter whose writes are not on disk yet waits in
 * dwaiters; without memory for that, it is answered now (as before
 * write-behind: acknowledged at the commit). */
static void defer_durable(struct rc_node *n, struct waiter *w)
{
    struct waiter *d;

    if (n->ndwaiters == n->dwaiters_alloc) {
        size_t alloc = n->dwaiters_alloc ? n->dwaiters_alloc * 2 : 16;

        d = realloc(n->dwaiters, alloc * sizeof(*d));
        if (d == NULL) {
            complete_slot(w, 0);
            return;
        }
        n->dwaiters = d;
        n->dwaiters_alloc = alloc;
    }
    w->token = rc_store_flush_token(n->store);
    n->dwaiters[n->ndwaiters++] = *w;
}

/* Answers the durable waiters whose flush ended. */
static void finish_durable(struct rc_node *n)
{
    size_t i = 0;

    while (i < n->ndwaiters && rc_store_durable(n->store, n->dwaiters[i].token))
        complete_slot(&n->dwaiters[i++], 0);
    if (i > 0) {
        memmove(n->dwaiters, n->dwaiters + i, (n->ndwaiters - i) * sizeof(*n->dwaiters));
        n->ndwaiters -= i;
    }
}

/* Tells every waiter of the batch its outcome. */
static void finish_batch(struct rc_node *n, int err)
{
    struct waiter *w;
    size_t i, count = n->nwaiters;

    /* Callbacks may start new writes: they belong to the next batch. */
    n->nwaiters = 0;
    for (i = 0; i < count; i++) {
        w = &n->waiters[i];
        if (w->cb)
            w->cb(w->arg, err);
        else if (err == 0 && w->durable &&
                 !rc_store_durable(n->store, rc_store_flush_token(n->store)))
            defer_durable(n, w);
        else
            complete_slot(w, err);
    }
}

/* The store discarded the batch (err < 0): the cache may hold its writes,
 * and every waiter of the batch learns the error. */
static void batch_failed(struct rc_node *n, int err)
{
    rc_node_cache_clear(n);
    finish_batch(n, err);
}

static int commit_pending(const struct rc_node *n)
{
    return rc_store_pending(n->store) > 0 || n->nwaiters > 0;
}

/* Ends the batch: commits and runs the write callbacks; nothing when no
 * write or waiter is pending. */
static void commit_batch(struct rc_node *n)
{
    int rv;

    if (!commit_pending(n))
        return;
    rv = rc_store_commit(n->store);
    n->st.commits++;
    if (rv < 0) {
        n->st.commit_errors++;
        rc_log_warn(n->log, "commit failed, batch discarded: %s", rc_strerror(rv));
        batch_failed(n, rv);
        return;
    }
    finish_batch(n, 0);
}

/* The batch end (node.h). Returns 1 when the flush left work for another
 * pass: replies produced during it, or writes waiting for a commit. */
static int run_batch(struct rc_node *n)
{
    int i, owed = 0;

    for (i = 0; i < n->nnets; i++)
        rc_net_resume(n->nets[i]);
    commit_batch(n);
    finish_durable(n);
    for (i = 0; i < n->nnets; i++)
        owed |= rc_net_flush(n->nets[i]);
    return owed || commit_pending(n);
}

/*
 * Write-behind: the store starts a flush, and collects a finished one, at
 * a commit. Writes come with commits; this timer brings the commits that
 * an idle loop would not make (the last writes before a pause), every
 * FLUSH_POLL_MS while something is not on disk. 10 ms: a tenth of the
 * default flush interval, so the lag of a pause is the interval's; it
 * does not keep the loop alive.
 */
#define FLUSH_POLL_MS 10

static void on_flush(uv_timer_t *t)
{
    struct rc_node *n = container_of(t, struct rc_node, flush);

    if (commit_pending(n))
        commit_batch(n);
    else
        rc_store_commit(n->store); /* nothing to commit: only the flush */
    finish_durable(n);
    if (!rc_store_unflushed(n->store))
        uv_timer_stop(t);
}

static void watch_flush(struct rc_node *n)
{
    if (rc_store_unflushed(n->store) && !uv_is_active((uv_handle_t *)&n->flush) &&
        !uv_is_closing((uv_handle_t *)&n->flush))
        uv_timer_start(&n->flush, on_flush, FLUSH_POLL_MS, FLUSH_POLL_MS);
}

static void on_check(uv_check_t *h)
{
    struct rc_node *n = container_of(h, struct rc_node, check);

    uv_idle_stop(&n->kick);
    run_batch(n);
    watch_flush(n);
}

static void on_kick(uv_idle_t *h)
{
    (void)h; /* only there to keep the loop from blocking until on_check */
}

static void on_prepare(uv_prepare_t *h)
{
    struct rc_node *n = container_of(h, struct rc_node, prepare);

    /* A connection the flush resumed (its output went out at once) may
     * have produced replies or writes: they must not wait for unrelated
     * I/O, so the loop polls without blocking and on_check takes them. */
    if (run_batch(n))
        uv_idle_start(&n->kick, on_kick);
    watch_flush(n);
}

int rc_node_opts_in_memory(const struct rc_node_opts *o)
{
    return strcmp(o->data_dir, ":memory:") == 0 || o->write_behind;
}

int rc_node_in_memory(const struct rc_node *n)
{
    return rc_node_opts_in_memory(&n->opts);
}

int rc_node_attach(struct rc_node *n, struct rc_net *net)
{
    if (n->nnets == RC_NODE_MAX_NETS)
        return RC_EINVAL;
    n->nets[n->nnets++] = net;
    return 0;
}

void rc_node_cache_clear(struct rc_node *n)
{
    if (n->cache)
        rc_memtab_clear(n->cache);
}

/* Reads go to the cache first; a live value the store returns is cached
 * (tombstones are not: they are rare to read and expire by themselves). */
int rc_node_get(struct rc_node *n, const uint8_t *key, size_t key_len, struct rc_entry *e)
{
    int64_t now = rc_node_now_ms();
    struct rc_memtab_entry me;
    int rv;

    if (n->cache && rc_memtab_get(n->cache, key, key_len, now, &me) &&
        me.ver_hlc >= n->flush_epoch) {
        memset(e, 0, sizeof(*e));
        e->key = key;
        e->key_len = key_len;
        e->token = rc_ring_token(key, key_len);
        e->value = me.value;
        e->value_len = me.value_len;
        e->ver.hlc = me.ver_hlc;
        e->ver.node = me.ver_node;
        e->expires_ms = me.expires_ms;
        return 0;
    }
    rv = rc_store_get(n->store, key, key_len, now, e);
    if (rv == 0 && e->ver.hlc < n->flush_epoch)
        return RC_ENOTFOUND; /* flushed, not dropped yet */
    /* The cache holds plain values only (it has no room for attributes). */
    if (rv == 0 && n->cache && !e->tombstone && e->attr.flags == 0 && e->attr.kind == 0)
        rc_memtab_put(n->cache, key, key_len, e->value ? e->value : (const uint8_t *)"",
                      e->value_len, e->ver.hlc, e->ver.node, e->expires_ms);
    return rv;
}

/*
 * Whether the read cache's rows are the store's exactly, so a write may
 * skip the store's lookup (rc_store_write_known). Not on a disk store
 * that evicts (a --max-db-size and a policy that evicts): it deletes rows
 * inside a write without saying which, so the cache may still hold a row
 * the store no longer has, and a write told "it is there" would be
 * counted as a replacement. The cache still serves such a row to reads:
 * it is the newest version this node had, as a cache may keep it.
 */
static int known_rows(const struct rc_node *n)
{
    return n->opts.max_db_bytes == 0 || !rc_evict_policy_evicts(n->opts.evict_policy);
}

static const struct rc_attr no_attr;

static int is_plain(const struct rc_attr *a)
{
    return a->flags == 0 && a->kind == 0;
}

/* allocate: an applied value enters the cache even if the key was not
 * cached (client and replica writes); a stream's bulk copy only refreshes
 * cached keys, so it does not push out what clients use. The store's
 * last-writer-wins write: 1 applied, 0 ignored as older, or an error. */
static int node_put(struct rc_node *n, const uint8_t *key, size_t key_len, const uint8_t *value,
                    size_t value_len, const struct rc_attr *attr, const struct rc_version *ver,
                    int64_t expires_ms, int allocate, int *existed)
{
    int64_t now = rc_node_now_ms();
    struct rc_memtab_entry me;
    struct rc_store_live live;
    int cached, rv;

    /* Older than a FLUSHALL: flushed already (a late hint, a stream or a
     * read repair from a node that missed the flush). Ignored. */
    if (ver->hlc < n->flush_epoch)
        return 0;
    /* A cached entry is the store's row exactly: no need to look it up;
     * unless the store may have evicted it behind the cache (known_rows). */
    cached = n->cache && rc_memtab_peek(n->cache, key, key_len, now, &me);
    if (cached && known_rows(n)) {
        live.ver.hlc = me.ver_hlc;
        live.ver.node = me.ver_node;
        live.value_len = me.value_len;
        rv = rc_store_write_attr(n->store, key, key_len, value, value_len, attr, ver,
                                 expires_ms, now, &live, existed);
    } else {
        rv = rc_store_write_attr(n->store, key, key_len, value, value_len, attr, ver,
                                 expires_ms, now, NULL, existed);
    }
    if (rv < 0) {
        /* The store discarded the batch: its earlier writes are lost too. */
        rc_log_warn(n->log, "write failed, batch discarded: %s", rc_strerror(rv));
        batch_failed(n, rv);
    } else if (rv == 1 && (cached || (allocate && n->cache))) {
        /* Applied: the cache takes the new value (the next write of the key
         * skips the store's lookup, the next read the store) or, for a
         * tombstone or a failed put, forgets the key. */
        if (value == NULL || !is_plain(attr) ||
            rc_memtab_put(n->cache, key, key_len, value, value_len, ver->hlc, ver->node,
                          expires_ms) < 0)
            rc_memtab_del(n->cache, key, key_len);
    }
    return rv;
}

/*
 * This process increments a counter as its own actor, counting on its
 * copy holding that actor's latest component: it applies every one of its
 * increments locally first. That stops being true once the copy was
 * dropped (a cleanup after a ring change, an eviction, a purge) and a
 * state came back from elsewhere holding that component: the state may
 * lag (a quorum of one, or a ring that moved under the write), and
 * counting on from it would give a later increment a seq an earlier one
 * had, and the join would keep only one of the two. So when a state
 * arrives holding the key's current actor of this process ahead of the
 * copy (or with no copy), the key is renewed: it counts as a new actor
 * (same prefix, a new low half) from then on; the old component stays, as
 * any other actor's, and is never incremented again.
 *
 * The renewed keys are remembered here, as a key's hash and the low half
 * of its actor now: open addressing, RENEW_SLOTS a power of two, allocated
 * at the first renewal (1 MiB). Past RENEW_MAX keys the process draws a
 * new prefix instead, which renews every key at once, and empties the
 * table. Renewing the key, not the process, keeps the counters that were
 * never dropped on their actor: under eviction a process-wide renewal at
 * each event would add a component to every busy counter each time, and
 * a counter holds at most RC_COUNTER_MAX_ACTORS.
 */
#define RENEW_SLOTS 65536
#define RENEW_MAX (RENEW_SLOTS / 2)

struct renewed {
    uint64_t hash; /* rc_ring_token(key) | 1; 0: an empty slot */
    uint32_t low;
};

static uint64_t renew_hash(const uint8_t *key, size_t key_len)
{
    return rc_ring_token(key, key_len) | 1;
}

/* The slot of hash: its entry, or the empty slot it would take. The
 * table is never more than half full, so the probe ends. */
static struct renewed *renewed_slot(struct rc_node *n, uint64_t hash)
{
    size_t i = (size_t)hash & (RENEW_SLOTS - 1);

    while (n->renewed[i].hash != 0 && n->renewed[i].hash != hash)
        i = (i + 1) & (RENEW_SLOTS - 1);
    return &n->renewed[i];
}

/* The renewed key's entry, or NULL. */
static const struct renewed *renewed_find(struct rc_node *n, const uint8_t *key, size_t key_len)
{
    const struct renewed *r;

    if (n->renewed == NULL)
        return NULL;
    r = renewed_slot(n, renew_hash(key, key_len));
    return r->hash != 0 ? r : NULL;
}

static uint32_t random_u32(struct rc_node *n)
{
    uint32_t v = 0;

    if (uv_random(NULL, NULL, &v, sizeof(v), 0, NULL) < 0)
        v = (uint32_t)rc_hlc_now(&n->hlc, (uint64_t)rc_node_now_ms());
    return v;
}

static void renew_actor(struct rc_node *n, const uint8_t *key, size_t key_len)
{
    struct renewed *r;
    uint32_t old = n->actor_prefix;

    n->st.actor_renewals++;
    if (n->renewed == NULL)
        n->renewed = calloc(RENEW_SLOTS, sizeof(*n->renewed));
    if (n->renewed != NULL && n->nrenewed < RENEW_MAX) {
        r = renewed_slot(n, renew_hash(key, key_len));
        if (r->hash == 0) {
            r->hash = renew_hash(key, key_len);
            n->nrenewed++;
        }
        r->low = random_u32(n);
        rc_log_debug(n->log, "counter: a state came back holding this process's component "
                             "ahead of its copy; the key counts as a new actor from now on");
        return;
    }
    while (n->actor_prefix == old)
        n->actor_prefix = random_u32(n);
    if (n->renewed != NULL)
        memset(n->renewed, 0, RENEW_SLOTS * sizeof(*n->renewed));
    n->nrenewed = 0;
    rc_log_info(n->log, "counter: %d keys renewed their actor; this process counts as a new "
                        "actor for every key from now on", RENEW_MAX);
}

/* Renews key when in holds its current actor of this process (the one
 * counter_actor would pick after the merge) ahead of cur, the copy held
 * (NULL: none). */
static void counter_check_own(struct rc_node *n, const uint8_t *key, size_t key_len,
                              const struct rc_counter *cur, const struct rc_counter *in)
{
    const struct renewed *r = renewed_find(n, key, key_len);
    uint64_t now = r != NULL ? (uint64_t)n->actor_prefix << 32 | r->low : 0;
    uint32_t i, j;

    for (i = 0; i < in->n; i++) {
        if ((uint32_t)(in->comp[i].actor >> 32) != n->actor_prefix ||
            (now != 0 && in->comp[i].actor != now))
            continue;
        for (j = 0; cur != NULL && j < cur->n; j++)
            if (cur->comp[j].actor == in->comp[i].actor)
                break;
        if (cur != NULL && j < cur->n && cur->comp[j].seq >= in->comp[i].seq)
            continue;
        renew_actor(n, key, key_len);
        return;
    }
}

/*
 * A counter state arriving (common/counter.h): merged with a counter held
 * here, so that no replica ever drops an increment another one applied.
 * Against anything else (no entry, a value, a tombstone) it is a
 * last-writer-wins write; when that loses to a newer SET or DEL it is
 * absorbed all the same (the counter was reset after it), never
 * SUPERSEDED, which would make a coordinator write it again over the
 * reset. 1 written, 2 absorbed (nothing to write), or an error.
 */
static int counter_write(struct rc_node *n, const uint8_t *key, size_t key_len,
                         const uint8_t *value, size_t value_len, const struct rc_attr *attr,
                         const struct rc_version *ver, int64_t expires_ms, int allocate,
                         int *existed)
{
    struct rc_counter cur, in, join;
    uint8_t buf[RC_COUNTER_MAX_ENC];
    struct rc_attr ja = *attr;
    struct rc_version held, fresh;
    struct rc_entry e;
    int64_t exp;
    int rv, len, in_newer;

    if (rc_counter_decode(value, value_len, &in) < 0)
        return RC_EINVAL;
    rv = rc_node_get(n, key, key_len, &e);
    if (rv < 0 && rv != RC_ENOTFOUND)
        return rv;
    if (rv == RC_ENOTFOUND || e.tombstone || e.attr.kind != RC_KIND_COUNTER ||
        rc_counter_decode(e.value, e.value_len, &cur) < 0) {
        counter_check_own(n, key, key_len, NULL, &in);
        rv = node_put(n, key, key_len, value, value_len, attr, ver, expires_ms, allocate, existed);
        return rv == 0 ? 2 : rv;
    }
    counter_check_own(n, key, key_len, &cur, &in);
    held = e.ver;
    in_newer = rc_version_cmp(ver, &held) > 0;
    exp = in_newer ? expires_ms : e.expires_ms;
    if (!in_newer)
        ja.flags = e.attr.flags;
    if (existed != NULL)
        *existed = 1;
    switch (rc_counter_reconcile(&cur, &in, in_newer, &join)) {
    case RC_COUNTER_KEEP:
        return 2;
    case RC_COUNTER_ADOPT:
        return node_put(n, key, key_len, value, value_len, attr, ver, expires_ms, allocate,
                        NULL);
    case RC_COUNTER_JOIN:
        /* A version newer than both: the clock has seen ver (the callers
         * observe it) and held (it is stored here). */
        (void)rc_node_observe(n, held.hlc);
        rc_node_new_version(n, &fresh);
        len = rc_counter_encode(&join, buf, sizeof(buf));
        if (len < 0)
            return len;
        return node_put(n, key, key_len, buf, (size_t)len, &ja, &fresh, exp, allocate, NULL);
    default:
        return RC_ECOUNTER_FULL;
    }
}

/* A write of a value with attributes or a tombstone: counters merge
 * (counter_write), everything else is last-writer-wins. 1 applied, 0
 * ignored as older, 2 absorbed into the counter held, or an error. */
static int node_write(struct rc_node *n, const uint8_t *key, size_t key_len, const uint8_t *value,
                      size_t value_len, const struct rc_attr *attr, const struct rc_version *ver,
                      int64_t expires_ms, int allocate, int *existed)
{
    if (attr == NULL || value == NULL)
        attr = &no_attr;
    if (attr->kind == RC_KIND_COUNTER)
        return counter_write(n, key, key_len, value, value_len, attr, ver, expires_ms, allocate,
                             existed);
    return node_put(n, key, key_len, value, value_len, attr, ver, expires_ms, allocate, existed);
}

/* After the store ignored a write (rv 0): RC_ESUPERSEDED with the stored
 * version when it is newer, 0 when it is this very version (a repeat:
 * read repair, a hint, a retried request). */
static int check_superseded(struct rc_node *n, const uint8_t *key, size_t key_len,
                            const struct rc_version *ver, struct rc_version *newer)
{
    struct rc_entry e;

    if (ver->hlc < n->flush_epoch) {
        /* The coordinator moves its clock past the flush and writes again:
         * a write made after FLUSHALL by a node that has not heard of it
         * yet still lands. */
        if (newer != NULL) {
            newer->hlc = n->flush_epoch;
            newer->node = 0;
        }
        return RC_ESUPERSEDED;
    }
    if (rc_node_get(n, key, key_len, &e) < 0 || rc_version_cmp(&e.ver, ver) <= 0)
        return 0;
    if (newer != NULL)
        *newer = e.ver;
    return RC_ESUPERSEDED;
}

int rc_node_write(struct rc_node *n, const uint8_t *key, size_t key_len, const uint8_t *value,
                  size_t value_len, const struct rc_version *ver, int64_t expires_ms,
                  rc_node_write_cb cb, void *arg, int *existed, struct rc_version *newer)
{
    return rc_node_write_attr(n, key, key_len, value, value_len, NULL, ver, expires_ms, cb, arg,
                              existed, newer);
}

int rc_node_write_attr(struct rc_node *n, const uint8_t *key, size_t key_len,
                       const uint8_t *value, size_t value_len, const struct rc_attr *attr,
                       const struct rc_version *ver, int64_t expires_ms, rc_node_write_cb cb,
                       void *arg, int *existed, struct rc_version *newer)
{
    int rv;

    /* Write first: if the store discards the batch, finish_batch tells the
     * earlier waiters and this caller learns it from rv alone. */
    rv = node_write(n, key, key_len, value, value_len, attr, ver, expires_ms, 1, existed);
    if (rv < 0)
        return rv;
    if (rv == 0 && (rv = check_superseded(n, key, key_len, ver, newer)) < 0)
        return rv;
    return add_waiter(n, cb, arg, 0);
}

int rc_node_apply(struct rc_node *n, const uint8_t *key, size_t key_len, const uint8_t *value,
                  size_t value_len, const struct rc_version *ver, int64_t expires_ms)
{
    return rc_node_apply_attr(n, key, key_len, value, value_len, NULL, ver, expires_ms);
}

int rc_node_apply_attr(struct rc_node *n, const uint8_t *key, size_t key_len,
                       const uint8_t *value, size_t value_len, const struct rc_attr *attr,
                       const struct rc_version *ver, int64_t expires_ms)
{
    int rv = node_write(n, key, key_len, value, value_len, attr, ver, expires_ms, 0, NULL);

    return rv < 0 ? rv : 0;
}

/* The actor this process increments key's counter c as: the one the key
 * was renewed to (counter_check_own), else the one of c's components that
 * is this process's (its prefix), else a new one. A new actor, not a fixed
 * one, when this node holds none of its components: the state it held may
 * be lost (evicted, purged, handed over) while another replica still has
 * that component at some seq, and counting again from seq 0 under the
 * same actor would make the two collide. */
static uint64_t counter_actor(struct rc_node *n, const uint8_t *key, size_t key_len,
                              const struct rc_counter *c)
{
    const struct renewed *r = renewed_find(n, key, key_len);
    uint32_t i;

    if (r != NULL)
        return (uint64_t)n->actor_prefix << 32 | r->low;
    for (i = 0; i < c->n; i++)
        if ((uint32_t)(c->comp[i].actor >> 32) == n->actor_prefix)
            return c->comp[i].actor;
    return (uint64_t)n->actor_prefix << 32 | random_u32(n);
}

/* The counter state key starts an increment from, read from the store
 * (the entry e, rv its lookup's result), into *c with its expiry and
 * flags: a counter as it is; a value's text as the base (INCR keeps the
 * TTL); nothing or a tombstone as base 0 at the tombstone's version, or
 * the flush epoch (so a counter started after a DEL or a FLUSHALL never
 * merges with one from before it). */
static int counter_start(const struct rc_node *n, int rv, const struct rc_entry *e,
                         int is_float, struct rc_counter *c, int64_t *exp, uint32_t *flags)
{
    *exp = 0;
    *flags = 0;
    if (rv == RC_ENOTFOUND || e->tombstone) {
        /* A key never written counts from the last FLUSHALL's epoch, so a
         * counter from before the flush (its base older) never merges
         * back into one started after it. */
        rc_counter_init(c, rv == 0 ? e->ver.hlc : n->flush_epoch, rv == 0 ? e->ver.node : 0);
        return 0;
    }
    *exp = e->expires_ms;
    *flags = e->attr.flags;
    if (e->attr.kind == RC_KIND_COUNTER)
        return rc_counter_decode(e->value, e->value_len, c) < 0 ? RC_EIO : 0;
    return rc_counter_from_text(c, e->value, e->value_len, is_float, e->ver.hlc, e->ver.node);
}

int rc_node_incr(struct rc_node *n, const struct rc_node_incr *rq, struct rc_node_incr_out *out,
                 rc_node_write_cb cb, void *arg)
{
    struct rc_counter c;
    struct rc_attr attr = {0, RC_KIND_COUNTER};
    struct rc_entry e;
    uint64_t actor;
    int rv, len;

    if (rq->has_seen) {
        /* What the coordinator read first joins this replica's state, so
         * the increment counts from at least what a quorum holds. */
        if (rc_node_observe(n, rq->seen_ver.hlc) < 0)
            return RC_EDRIFT;
        rv = node_write(n, rq->key, rq->key_len, rq->seen_tomb ? NULL : rq->seen_value,
                        rq->seen_len, &rq->seen_attr, &rq->seen_ver, rq->seen_expires, 1, NULL);
        if (rv < 0)
            return rv;
    }
    rv = rc_node_get(n, rq->key, rq->key_len, &e);
    if (rv < 0 && rv != RC_ENOTFOUND)
        return rv;
    /* The new version must be newer than the copy's, or the store keeps
     * the copy and this increment is in no store here: the next one
     * would count from the copy and give the same seq again. */
    if (rv == 0 && rc_node_observe(n, e.ver.hlc) < 0)
        return RC_EDRIFT;
    rv = counter_start(n, rv, &e, rq->is_float, &c, &out->expires_ms, &attr.flags);
    if (rv < 0)
        return rv;
    actor = counter_actor(n, rq->key, rq->key_len, &c);
    rv = rq->is_float ? rc_counter_incr_float(&c, actor, rq->fdelta)
                      : rc_counter_incr(&c, actor, rq->delta);
    if (rv < 0)
        return rv;
    len = rc_counter_encode(&c, out->state, sizeof(out->state));
    if (len < 0)
        return len;
    out->state_len = (size_t)len;
    out->flags = attr.flags;
    out->text_len = rc_counter_render(&c, out->text, sizeof(out->text));
    rc_node_new_version(n, &out->ver);
    rv = node_put(n, rq->key, rq->key_len, out->state, out->state_len, &attr, &out->ver,
                  out->expires_ms, 1, NULL);
    if (rv < 0)
        return rv;
    if (rv == 0) /* not applied (older than a FLUSHALL): not counted */
        return RC_ESUPERSEDED;
    return add_waiter(n, cb, arg, 0);
}

int rc_node_observe(struct rc_node *n, uint64_t hlc)
{
    uint64_t merged;

    if (rc_hlc_update(&n->hlc, hlc, (uint64_t)rc_node_now_ms(), &merged) < 0) {
        n->st.drift_rejects++;
        return RC_EDRIFT;
    }
    return 0;
}

int rc_node_ack_at_commit(struct rc_node *n, struct rc_net_slot *slot, uint32_t id)
{
    int rv = add_waiter(n, NULL, slot, id);

    if (rv == 0)
        n->waiters[n->nwaiters - 1].durable = 1;
    return rv;
}

void rc_node_new_version(struct rc_node *n, struct rc_version *ver)
{
    ver->hlc = rc_hlc_now(&n->hlc, (uint64_t)rc_node_now_ms());
    ver->node = n->id;
}

/* Checks sizes of a replica request: a peer is trusted no more than a client. */
static int check_sizes(const struct rc_node *n, const struct rc_request *req)
{
    if (!req->has_key || req->key_len == 0)
        return RC_EINVAL;
    if (req->key_len > n->opts.max_key)
        return RC_EKEY_TOO_LARGE;
    if (req->has_value && req->value_len > n->opts.max_value)
        return RC_EVALUE_TOO_LARGE;
    return 0;
}

int rc_node_repl_write(struct rc_node *n, struct rc_net *net, const struct rc_request *req,
                       struct rc_buf *out)
{
    struct rc_version ver = {req->ver_hlc, req->ver_node}, newer;
    struct rc_attr attr;
    struct rc_net_slot *slot;
    int rv, existed = 0;

    n->st.repl_writes++;
    rv = check_sizes(n, req);
    if (rv == 0 && (!req->has_version || (!req->tombstone && !req->has_value) ||
                    req->expires_ms > INT64_MAX || req->kind > RC_KIND_MAX))
        rv = RC_EINVAL;
    if (rv == 0)
        rv = rc_node_observe(n, req->ver_hlc);
    if (rv < 0)
        return rc_encode_error(out, req->id, rv, NULL);
    attr.flags = req->flags;
    attr.kind = req->kind;
    rv = node_write(n, req->key, req->key_len, req->tombstone ? NULL : req->value,
                    req->tombstone ? 0 : req->value_len, &attr, &ver, (int64_t)req->expires_ms,
                    1, &existed);
    if (rv < 0)
        return rc_encode_error(out, req->id, rv, NULL);
    if (rv == 0 && check_superseded(n, req->key, req->key_len, &ver, &newer) < 0) {
        /* Ignored as older: say so, with the version that won, so the
         * coordinator can move its clock past it and write again rather
         * than acknowledge a write that has no effect. */
        struct rc_reply rep = {.id = req->id, .has_version = 1};

        rep.status = (uint32_t)rc_err_to_status(RC_ESUPERSEDED);
        rep.ver_hlc = newer.hlc;
        rep.ver_node = newer.node;
        n->st.superseded++;
        return rc_encode_reply(out, &rep);
    }
    /* Acknowledged when the batch commits. */
    slot = rc_net_defer(net);
    if (slot == NULL)
        return rc_encode_error(out, req->id, RC_ENOMEM, NULL);
    rv = add_waiter(n, NULL, slot, req->id);
    if (rv < 0)
        rc_native_complete_error(slot, req->id, rv, NULL);
    else
        n->waiters[n->nwaiters - 1].existed = existed;
    return 0;
}

/* A REPL_INCR waiting for its batch: the reply it will send. */
struct repl_incr {
    struct rc_net_slot *slot;
    uint32_t id;
    struct rc_node_incr_out out;
};

static void repl_incr_done(void *arg, int err)
{
    struct repl_incr *ri = arg;
    struct rc_reply rep = {.id = ri->id, .has_value = 1, .has_version = 1};

    if (ri->slot == NULL) {
        /* answered already (no slot): nothing to send */
    } else if (err < 0) {
        rc_native_complete_error(ri->slot, ri->id, err, NULL);
    } else {
        rep.value = ri->out.state;
        rep.value_len = (uint32_t)ri->out.state_len;
        rep.ver_hlc = ri->out.ver.hlc;
        rep.ver_node = ri->out.ver.node;
        rep.expires_ms = ri->out.expires_ms > 0 ? (uint64_t)ri->out.expires_ms : 0;
        rep.flags = ri->out.flags;
        rep.kind = RC_KIND_COUNTER;
        rc_native_complete(ri->slot, &rep);
    }
    free(ri);
}

int rc_node_repl_incr(struct rc_node *n, struct rc_net *net, const struct rc_request *req,
                      struct rc_buf *out)
{
    struct rc_node_incr rq = {0};
    struct repl_incr *ri;
    int rv = check_sizes(n, req);

    if (rv == 0 && req->has_delta == req->has_delta_float)
        rv = RC_EINVAL; /* exactly one increment */
    if (rv == 0 && req->has_version &&
        ((!req->tombstone && !req->has_value) || req->expires_ms > INT64_MAX ||
         req->kind > RC_KIND_MAX))
        rv = RC_EINVAL;
    if (rv < 0)
        return rc_encode_error(out, req->id, rv, NULL);
    rq.key = req->key;
    rq.key_len = req->key_len;
    rq.is_float = req->has_delta_float;
    rq.delta = req->delta;
    rq.fdelta = req->delta_float;
    if (req->has_version) {
        rq.has_seen = 1;
        rq.seen_tomb = req->tombstone;
        rq.seen_value = req->value;
        rq.seen_len = req->value_len;
        rq.seen_attr.flags = req->flags;
        rq.seen_attr.kind = req->kind;
        rq.seen_ver.hlc = req->ver_hlc;
        rq.seen_ver.node = req->ver_node;
        rq.seen_expires = (int64_t)req->expires_ms;
    }
    ri = malloc(sizeof(*ri));
    if (ri == NULL)
        return rc_encode_error(out, req->id, RC_ENOMEM, NULL);
    ri->id = req->id;
    ri->slot = NULL;
    rv = rc_node_incr(n, &rq, &ri->out, repl_incr_done, ri);
    if (rv < 0) {
        free(ri);
        return rc_encode_error(out, req->id, rv, NULL);
    }
    /* Deferred after the increment: a slot taken first would have to be
     * completed on every error path above. rc_node_incr's callback runs
     * at the batch end, after this returns. */
    ri->slot = rc_net_defer(net);
    if (ri->slot == NULL) /* applied, but not acknowledged: an unknown outcome */
        return rc_encode_error(out, req->id, RC_ENOMEM, NULL);
    return 0;
}

int rc_node_evicted(struct rc_node *n, const uint8_t *key, size_t key_len,
                    struct rc_version *ver)
{
    return rc_store_evicted(n->store, key, key_len, ver);
}

/* On every purge tick (about once a second): evicted_at is then the time
 * of the latest eviction within a tick, and rc_node_evicting, asked on
 * every read that finds nothing, costs no look at the store. */
static void note_evictions(struct rc_node *n)
{
    struct rc_store_stats st;
    uint64_t now = uv_now(n->loop);

    rc_store_stats(n->store, &st);
    if (st.evicted != n->seen_evicted) {
        n->seen_evicted = st.evicted;
        n->evicted_at = now > 0 ? now : 1;
    }
}

int rc_node_evicting(struct rc_node *n)
{
    return n->evicted_at > 0 && uv_now(n->loop) - n->evicted_at < RC_NODE_EVICTING_MS;
}

int rc_node_repl_read(struct rc_node *n, const struct rc_request *req, struct rc_buf *out)
{
    struct rc_reply rep = {.id = req->id};
    struct rc_entry e;
    int rv;

    n->st.repl_reads++;
    rv = check_sizes(n, req);
    if (rv == 0)
        rv = rc_node_get(n, req->key, req->key_len, &e);
    if (rv == RC_ENOTFOUND && rc_node_evicting(n)) {
        /* Nothing here, and this node evicts: its absence is likely a
         * cache's choice, and the version evicted when still known. */
        rep.status = (uint32_t)rc_err_to_status(RC_ENOTFOUND);
        rep.evicted = 1;
        if (rc_node_evicted(n, req->key, req->key_len, &e.ver)) {
            rep.has_version = 1;
            rep.ver_hlc = e.ver.hlc;
            rep.ver_node = e.ver.node;
        }
        return rc_encode_reply(out, &rep);
    }
    if (rv < 0)
        return rc_encode_error(out, req->id, rv, NULL);
    rep.has_version = 1;
    rep.ver_hlc = e.ver.hlc;
    rep.ver_node = e.ver.node;
    rep.expires_ms = e.expires_ms > 0 ? (uint64_t)e.expires_ms : 0;
    if (e.tombstone) {
        rep.tombstone = 1;
    } else {
        rep.has_value = 1;
        rep.value = e.value;
        rep.value_len = (uint32_t)e.value_len;
        rep.flags = e.attr.flags;
        rep.kind = e.attr.kind;
    }
    return rc_encode_reply(out, &rep);
}

/*
 * Eviction down to a lowered budget (rc_node_set_evict): one step of at
 * most RC_NODE_EVICT_STEP entries per loop iteration, in the batch like
 * any write (the batch end commits it). An active idle handle keeps the
 * loop from blocking, so the steps run back to back when no client is
 * there and between requests when there are. 128 entries: the memory
 * engine evicts one in well under a microsecond (an unlink and a free),
 * so a step costs about what a pipelined burst of a few requests does.
 * Measured (:memory:, 1 KB values, CONFIG SET maxmemory 400m -> 64mb):
 * ~300k entries shed in under 1.5 s while a client's PINGs kept their
 * p50/p99 (0.03/0.20 ms). Stops when a step finds the store within its
 * budget (or nothing more to evict).
 */
static void on_evict(uv_idle_t *h)
{
    struct rc_node *n = container_of(h, struct rc_node, evict);
    int evicted = 0, rv;

    rv = rc_store_evict_step(n->store, rc_node_now_ms(), RC_NODE_EVICT_STEP, &evicted);
    if (rv < 0) {
        rc_log_warn(n->log, "eviction failed, batch discarded: %s", rc_strerror(rv));
        batch_failed(n, rv);
        uv_idle_stop(h);
        return;
    }
    if (evicted == 0) {
        uv_idle_stop(h);
        return;
    }
    /* Rows went behind the read cache (disk): it must not serve them. */
    rc_node_cache_clear(n);
}

/* The read cache at a new size: a new, empty table (memtab has no
 * resize; a cache may start cold). */
static int resize_read_cache(struct rc_node *n, size_t bytes)
{
    struct rc_memtab *m = NULL;

    if (bytes > 0 && rc_memtab_new(bytes, &m) < 0)
        bytes = 0;
    rc_memtab_free(n->cache);
    n->cache = m;
    n->opts.read_cache_bytes = bytes;
    return m == NULL && bytes > 0 ? RC_ENOMEM : 0;
}

int rc_node_set_evict(struct rc_node *n, int64_t budget, int policy)
{
    int in_memory = rc_node_in_memory(n), rv;
    int64_t page = n->opts.cache_kib * 1024;

    if (policy >= 0 && rc_evict_policy_name(policy) == NULL)
        return RC_EINVAL;
    if (budget > 0 && !in_memory && budget < page)
        return RC_EINVAL;
    rv = rc_store_set_evict(n->store, in_memory ? budget : -1,
                            policy >= 0 ? policy : n->opts.evict_policy);
    if (rv < 0)
        return rv;
    if (policy >= 0)
        n->opts.evict_policy = policy;
    if (budget < 0)
        goto out;
    n->opts.max_mem_bytes = budget;
    if (in_memory)
        n->opts.store_mem_bytes = budget;
    else if (budget > 0) /* 0 (no budget) leaves the caches as they are */
        rv = resize_read_cache(n, (size_t)(budget - page));
out:
    if (!uv_is_closing((uv_handle_t *)&n->evict))
        uv_idle_start(&n->evict, on_evict);
    return rv;
}

static void on_purge(uv_timer_t *t)
{
    struct rc_node *n = container_of(t, struct rc_node, purge_timer);
    int purged = 0, rv;

    note_evictions(n);
    rv = rc_store_purge(n->store, rc_node_now_ms(), n->opts.purge_batch, &purged);
    if (rv < 0) {
        rc_log_warn(n->log, "purge failed: %s", rc_strerror(rv));
        batch_failed(n, rv);
        purged = 0;
    }
    /* Committed at the next batch end (the prepare phase). */
    n->st.purged += (uint64_t)purged;
    if (purged > 0)
        rc_log_debug(n->log, "purged expired=%d", purged);
    uv_timer_start(t, on_purge,
                   purged >= n->opts.purge_batch ? PURGE_CATCHUP_MS
                                                  : (uint64_t)n->opts.purge_interval_ms,
                   0);
}

/* Loads the persistent node id, or creates one on first start. */
static int load_node_id(struct rc_node *n)
{
    uint64_t id = 0;
    int rv;

    rv = rc_store_meta_get(n->store, "node_id", &id);
    if (rv == 0 && id != 0)
        goto out;
    do {
        rv = uv_random(NULL, NULL, &id, sizeof(id), 0, NULL);
        if (rv < 0)
            return rv;
    } while (id == 0);
    rv = rc_store_meta_set(n->store, "node_id", id);
    if (rv == 0)
        rv = rc_store_commit(n->store);
    if (rv < 0)
        return rv;
out:
    n->id = id;
    snprintf(n->id_hex, sizeof(n->id_hex), "%016" PRIx64, id);
    return 0;
}

int rc_node_new(uv_loop_t *loop, const struct rc_node_opts *opts, const struct rc_log *log,
                struct rc_node **out, char *err, size_t errlen)
{
    struct rc_store_opts so = {0};
    struct rc_node *n;
    int rv;

    *out = NULL;
    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        snprintf(err, errlen, "out of memory");
        return RC_ENOMEM;
    }
    n->loop = loop;
    n->opts = *opts;
    n->log = log;
    rc_hlc_init(&n->hlc, (uint64_t)opts->max_drift_ms);
    so.data_dir = opts->data_dir;
    so.tombstone_grace_ms = opts->tombstone_grace_ms;
    so.max_bytes = opts->max_db_bytes;
    so.cache_kib = opts->cache_kib;
    so.max_mem_bytes = opts->store_mem_bytes;
    so.evict_policy = opts->evict_policy;
    so.write_behind = opts->write_behind;
    so.flush_ms = opts->flush_ms;
    so.max_lag_ms = opts->max_lag_ms;
    so.snapshot_bytes = opts->snapshot_bytes;
    rv = rc_store_open(&so, &n->store, err, errlen);
    if (rv < 0)
        goto out;
    /* A memory store answers from a hash table itself: a cache in front
     * of it would only hold every value twice. */
    if (opts->read_cache_bytes > 0 && !rc_node_opts_in_memory(opts) &&
        rc_memtab_new(opts->read_cache_bytes, &n->cache) < 0) {
        snprintf(err, errlen, "out of memory");
        rv = RC_ENOMEM;
        goto out;
    }
    rv = load_node_id(n);
    if (rv < 0) {
        snprintf(err, errlen, "cannot store node id: %s", rc_strerror(rv));
        goto out;
    }
    /* Counter actors of this process incarnation: a random prefix per
     * boot, so a node restarted (its memory lost or not) never reuses a
     * component it had (common/counter.h). */
    rv = uv_random(NULL, NULL, &n->actor_prefix, sizeof(n->actor_prefix), 0, NULL);
    if (rv < 0) {
        snprintf(err, errlen, "no randomness: %s", rc_strerror(rv));
        goto out;
    }
    /* Two keys: the drop's cursor and the scan's newest key. */
    n->drop_key = malloc(2 * (size_t)(opts->max_key ? opts->max_key : 1));
    if (n->drop_key == NULL) {
        snprintf(err, errlen, "out of memory");
        rv = RC_ENOMEM;
        goto out;
    }
    if (rc_store_meta_get(n->store, "flush_epoch", &n->flush_epoch) < 0)
        n->flush_epoch = 0;
    uv_idle_init(loop, &n->flush_drop);
    uv_unref((uv_handle_t *)&n->flush_drop);
    uv_timer_init(loop, &n->purge_timer);
    uv_check_init(loop, &n->check);
    uv_prepare_init(loop, &n->prepare);
    uv_idle_init(loop, &n->kick);
    uv_unref((uv_handle_t *)&n->kick); /* it shortens a poll, never keeps the loop alive */
    uv_idle_init(loop, &n->evict);
    uv_unref((uv_handle_t *)&n->evict);
    uv_timer_init(loop, &n->flush);
    uv_unref((uv_handle_t *)&n->flush);
    *out = n;
    return 0;
out:
    rc_memtab_free(n->cache);
    rc_store_close(n->store);
    free(n->drop_key);
    free(n);
    return rv;
}

void rc_node_start(struct rc_node *n)
{
    uv_timer_start(&n->purge_timer, on_purge, (uint64_t)n->opts.purge_interval_ms, 0);
    uv_check_start(&n->check, on_check);
    uv_prepare_start(&n->prepare, on_prepare);
    /* A flush interrupted by a stop resumes (from the start: cheap). */
    if (n->flush_epoch > 0)
        rc_node_flush(n, n->flush_epoch);
    /* A store reopened over its budget comes down too. */
    uv_idle_start(&n->evict, on_evict);
    /* The batch end must not keep the loop alive by itself. */
    uv_unref((uv_handle_t *)&n->check);
    uv_unref((uv_handle_t *)&n->prepare);
}

void rc_node_stop(struct rc_node *n)
{
    uv_close((uv_handle_t *)&n->purge_timer, NULL);
    uv_close((uv_handle_t *)&n->check, NULL);
    uv_close((uv_handle_t *)&n->prepare, NULL);
    uv_close((uv_handle_t *)&n->kick, NULL);
    uv_close((uv_handle_t *)&n->evict, NULL);
    uv_close((uv_handle_t *)&n->flush, NULL);
    uv_close((uv_handle_t *)&n->flush_drop, NULL);
}

void rc_node_free(struct rc_node *n)
{
    if (n == NULL)
        return;
    commit_batch(n);
    rc_memtab_free(n->cache);
    rc_store_close(n->store); /* flushes everything */
    finish_durable(n);
    free(n->waiters);
    free(n->dwaiters);
    free(n->drop_key);
    free(n->renewed);
    free(n);
}

uint64_t rc_node_id(const struct rc_node *n)
{
    return n->id;
}

const char *rc_node_id_hex(const struct rc_node *n)
{
    return n->id_hex;
}

const struct rc_node_opts *rc_node_opts(const struct rc_node *n)
{
    return &n->opts;
}

void rc_node_stats(struct rc_node *n, struct rc_node_stats *st)
{
    *st = n->st;
    rc_store_stats(n->store, &st->store);
    /* STATS keys, DBSIZE and INFO keyspace promise live keys: expired
     * values waiting for the purge do not count. */
    st->store.keys = rc_store_live_keys(n->store, rc_node_now_ms());
    if (n->cache)
        rc_memtab_stats(n->cache, &st->cache);
    if (rc_node_in_memory(n))
        st->used_memory = st->store.mem_bytes;
    else
        st->used_memory = (int64_t)st->cache.bytes +
                          (st->store.db_bytes < n->opts.cache_kib * 1024 ? st->store.db_bytes
                                                                         : n->opts.cache_kib * 1024);
}

int rc_node_meta_get(struct rc_node *n, const char *name, uint64_t *value)
{
    return rc_store_meta_get(n->store, name, value);
}

int rc_node_meta_stage(struct rc_node *n, const char *name, uint64_t value)
{
    int rv = rc_store_meta_set(n->store, name, value);

    /* RC_EINVAL is a name the memory store has no room for: nothing lost. */
    if (rv < 0 && rv != RC_EINVAL)
        batch_failed(n, rv);
    return rv;
}

/* Commits the store's batch outside the batch end: the waiters of the
 * batch are told at the next batch end (their writes are durable), or now
 * if the commit failed. */
int rc_node_meta_set(struct rc_node *n, const char *name, uint64_t value)
{
    int rv = rc_node_meta_stage(n, name, value);

    if (rv < 0)
        return rv;
    rv = rc_store_commit(n->store);
    if (rv < 0)
        batch_failed(n, rv);
    return rv;
}

int rc_node_scan(struct rc_node *n, uint64_t first, uint64_t last, uint64_t after_token,
                 const uint8_t *after_key, size_t after_key_len, int limit, int64_t now_ms,
                 rc_store_scan_cb cb, void *arg)
{
    return rc_store_scan(n->store, first, last, after_token, after_key, after_key_len, limit,
                         now_ms, cb, arg);
}

int rc_node_range_digest_before(struct rc_node *n, uint64_t first, uint64_t last, int64_t now_ms,
                                uint64_t before_hlc, uint64_t *digest, uint64_t *count)
{
    return rc_store_range_digest_before(n->store, first, last, now_ms, before_hlc, digest, count);
}

int rc_node_range_count(struct rc_node *n, uint64_t first, uint64_t last, int64_t now_ms,
                        uint64_t *count)
{
    return rc_store_range_count(n->store, first, last, now_ms, count);
}

int rc_node_delete_range(struct rc_node *n, uint64_t first, uint64_t last, int max_rows,
                         int *deleted)
{
    int rv = rc_store_delete_range(n->store, first, last, max_rows, deleted);

    /* Deleted behind the read cache: a copy it held must not outlive the
     * row (a lagging coordinator may still read here). */
    if (rv == 0 && *deleted > 0)
        rc_node_cache_clear(n);
    /* RC_EINVAL is a bad range: nothing was touched. */
    if (rv < 0 && rv != RC_EINVAL)
        batch_failed(n, rv);
    return rv;
}

int64_t rc_node_volatile_keys(struct rc_node *n, int64_t *avg_ttl_ms)
{
    return rc_store_volatile_keys(n->store, rc_node_now_ms(), avg_ttl_ms);
}

int rc_node_store_empty(struct rc_node *n)
{
    struct rc_store_stats st;

    rc_store_stats(n->store, &st);
    return st.keys == 0 && st.tombstones == 0;
}

/* ---- FLUSHALL: the flush epoch ------------------------------------- */

/* Entries the drop looks at per loop iteration: like a purge batch, a few
 * ms at most, so clients and gossip are served in between. */
#define FLUSH_DROP_STEP 512

struct drop_scan {
    uint64_t epoch;
    uint64_t tokens[FLUSH_DROP_STEP];
    int ntokens;
    uint64_t keep_token; /* a token holding a version at or past the epoch */
    int keep;
    uint8_t *last_key;
    size_t last_len;
    uint64_t last_token;
    int seen;
};

/* Collects the tokens all of whose entries are older than the epoch (a
 * token's entries are adjacent in scan order); a token shared with a
 * newer entry (a 64-bit collision) is left alone. */
static int drop_scan_cb(void *arg, const struct rc_entry *e)
{
    struct drop_scan *d = arg;

    if (d->ntokens > 0 && d->tokens[d->ntokens - 1] == e->token) {
        if (e->ver.hlc >= d->epoch)
            d->ntokens--;
    } else if (e->ver.hlc < d->epoch && !(d->keep && d->keep_token == e->token)) {
        d->tokens[d->ntokens++] = e->token;
    }
    if (e->ver.hlc >= d->epoch) {
        d->keep = 1;
        d->keep_token = e->token;
    }
    memcpy(d->last_key, e->key, e->key_len);
    d->last_len = e->key_len;
    d->last_token = e->token;
    d->seen++;
    return 0;
}

static void on_flush_drop(uv_idle_t *h)
{
    struct rc_node *n = container_of(h, struct rc_node, flush_drop);
    struct drop_scan d = {.epoch = n->flush_epoch,
                          .last_key = n->drop_key + (n->opts.max_key ? n->opts.max_key : 1)};
    int i, deleted, rv;

    rv = rc_store_scan(n->store, n->drop_key_len ? n->drop_token : 0, UINT64_MAX, n->drop_token,
                       n->drop_key_len ? n->drop_key : NULL, n->drop_key_len, FLUSH_DROP_STEP,
                       rc_node_now_ms(), drop_scan_cb, &d);
    for (i = 0; rv >= 0 && i < d.ntokens; i++) {
        do {
            rv = rc_node_delete_range(n, d.tokens[i], d.tokens[i], 64, &deleted);
            n->dropped += rv == 0 ? (uint64_t)deleted : 0;
        } while (rv == 0 && deleted == 64);
    }
    if (rv < 0) {
        rc_log_warn(n->log, "flush: dropping older entries failed: %s (retrying)",
                    rc_strerror(rv));
        return;
    }
    if (d.seen > 0) {
        n->drop_token = d.last_token;
        memcpy(n->drop_key, d.last_key, d.last_len);
        n->drop_key_len = d.last_len;
    }
    if (d.seen < FLUSH_DROP_STEP) {
        uv_idle_stop(h);
        n->flush_dropping = 0;
        rc_log_info(n->log, "flush: every entry older than epoch %" PRIu64 " dropped (%" PRIu64
                            " deleted)",
                    n->flush_epoch, n->dropped);
    }
}

uint64_t rc_node_flush_epoch(const struct rc_node *n)
{
    return n->flush_epoch;
}

int rc_node_flush_dropping(const struct rc_node *n)
{
    return n->flush_dropping;
}

int rc_node_flush(struct rc_node *n, uint64_t epoch)
{
    int rv, fresh = epoch > n->flush_epoch;

    if (epoch == 0 || (epoch < n->flush_epoch) || (epoch == n->flush_epoch && n->flush_dropping))
        return 0;
    if (fresh) {
        /* Versions this node makes from now on are newer than the flush. */
        rc_node_observe(n, epoch);
        rv = rc_node_meta_set(n, "flush_epoch", epoch);
        if (rv < 0 && rv != RC_EINVAL) /* EINVAL: a memory store without room, nothing to keep */
            return rv;
        n->flush_epoch = epoch;
        rc_node_cache_clear(n);
        rc_log_info(n->log, "flush: epoch %" PRIu64 ", dropping older entries", epoch);
    }
    n->drop_token = 0;
    n->drop_key_len = 0;
    n->dropped = 0;
    n->flush_dropping = 1;
    if (!uv_is_closing((uv_handle_t *)&n->flush_drop))
        uv_idle_start(&n->flush_drop, on_flush_drop);
    return 0;
}
