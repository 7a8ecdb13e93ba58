/*
 * hints.c - hinted handoff (see hints.h).
 *
 * Hints are a list in arrival order, so the oldest is the first to make
 * room and the first to be retried. A timer walks it every
 * HINT_INTERVAL_MS and sends what it can, a bounded number at a time.
 */
#include "hints.h"
#include "container_of.h"
#include "codec.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>


/* Hints are retried this often; a replica that came back gets its missed
 * writes within about a second, without hammering one that is still away. */
#define HINT_INTERVAL_MS 500
/* Hint deliveries in flight at once, so a long backlog does not flood a
 * node that just came back. */
#define HINT_INFLIGHT_MAX 256

struct hint {
    struct hint *prev, *next;
    struct rc_hints *hs;
    uint64_t target;
    int64_t created_ms;
    struct rc_version ver;
    int64_t expires;
    struct rc_attr attr; /* the value's (a counter state is merged on delivery) */
    int tombstone, inflight;
    size_t key_len, value_len;
    uint8_t data[]; /* key, then value */
};

struct rc_hints {
    uv_timer_t timer;
    struct rc_hints_opts opts;
    struct rc_cluster *cluster;
    struct rc_peers *peers;
    struct hint *head, *tail;
    size_t n, inflight;
    size_t bytes; /* keys and values held (opts.max_bytes) */
    uint64_t stored, delivered, dropped;
};

static void hint_unlink(struct rc_hints *hs, struct hint *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        hs->head = h->next;
    if (h->next)
        h->next->prev = h->prev;
    else
        hs->tail = h->prev;
    hs->n--;
    hs->bytes -= h->key_len + h->value_len;
    free(h);
}

static int hints_full(const struct rc_hints *hs, size_t more)
{
    return hs->n >= hs->opts.max_hints || hs->bytes + more > hs->opts.max_bytes;
}

void rc_hints_add(struct rc_hints *hs, uint64_t target, const uint8_t *key, size_t key_len,
                  const uint8_t *value, size_t value_len, const struct rc_version *ver,
                  int64_t expires_ms)
{
    rc_hints_add_attr(hs, target, key, key_len, value, value_len, NULL, ver, expires_ms);
}

void rc_hints_add_attr(struct rc_hints *hs, uint64_t target, const uint8_t *key, size_t key_len,
                       const uint8_t *value, size_t value_len, const struct rc_attr *attr,
                       const struct rc_version *ver, int64_t expires_ms)
{
    size_t vlen = value != NULL ? value_len : 0, bytes = key_len + vlen;
    struct hint *h;

    if (hs->opts.max_hints == 0)
        return;
    if (bytes > hs->opts.max_bytes) {
        hs->dropped++;
        return;
    }
    while (hints_full(hs, bytes) && hs->head && !hs->head->inflight) {
        hint_unlink(hs, hs->head);
        hs->dropped++;
    }
    if (hints_full(hs, bytes) || (h = malloc(sizeof(*h) + bytes)) == NULL) {
        hs->dropped++;
        return;
    }
    h->hs = hs;
    h->target = target;
    h->created_ms = rc_node_now_ms();
    h->ver = *ver;
    h->expires = expires_ms;
    h->tombstone = value == NULL;
    memset(&h->attr, 0, sizeof(h->attr));
    if (attr != NULL && value != NULL)
        h->attr = *attr;
    h->inflight = 0;
    h->key_len = key_len;
    h->value_len = vlen;
    memcpy(h->data, key, key_len);
    if (vlen)
        memcpy(h->data + key_len, value, vlen);
    h->next = NULL;
    h->prev = hs->tail;
    if (hs->tail)
        hs->tail->next = h;
    else
        hs->head = h;
    hs->tail = h;
    hs->n++;
    hs->bytes += bytes;
    hs->stored++;
}

static void on_hint_sent(void *arg, int err, const struct rc_reply *rep)
{
    struct hint *h = arg;
    struct rc_hints *hs = h->hs;

    hs->inflight--;
    h->inflight = 0;
    if (err == 0 && rep->status == 0) {
        hs->delivered++;
        hint_unlink(hs, h);
    }
}

/* Whether h is dropped rather than delivered, ever: too old, its target
 * gone for good, or no longer a replica of the key. */
static int hint_stale(const struct rc_hints *hs, const struct hint *h, int64_t now,
                      const struct rc_member *m)
{
    if (now - h->created_ms > hs->opts.ttl_ms)
        return 1;
    /* Gone for good (left, forgotten, replaced by a new id): the key's
     * current replicas hold the write (fallbacks took it, rebalancing
     * streams it), so the hint has no one to wait for. */
    if (m == NULL || m->state == RC_MEMBER_LEFT)
        return 1;
    /* The ring moved the key elsewhere meanwhile: its new replicas got the
     * write, or get it from rebalancing. Delivering it now would leave a
     * stray copy on a node that no longer owns it. Checked only once the
     * target is back: a dead target is off the placement ring. */
    return m->state == RC_MEMBER_ALIVE &&
           !rc_cluster_is_replica(hs->cluster, h->data, h->key_len, h->target);
}

/* Delivers hints whose target is alive again; drops stale ones. */
static void on_timer(uv_timer_t *t)
{
    struct rc_hints *hs = container_of(t, struct rc_hints, timer);
    int64_t now = rc_node_now_ms();
    struct hint *h, *next;
    const struct rc_member *m;
    struct rc_request r;

    for (h = hs->head; h != NULL; h = next) {
        next = h->next;
        if (h->inflight)
            continue;
        m = rc_cluster_find(hs->cluster, h->target);
        if (hint_stale(hs, h, now, m)) {
            hs->dropped++;
            hint_unlink(hs, h);
            continue;
        }
        /* Alive to gossip is not enough: not while this node's breaker
         * for it is open (one hint is its probe once the cool-down ends). */
        if (hs->inflight >= HINT_INFLIGHT_MAX || m->state != RC_MEMBER_ALIVE ||
            !rc_peers_reachable(hs->peers, m->id))
            continue;
        rc_request_repl_write(&r, h->data, h->key_len, h->data + h->key_len, h->value_len,
                              h->tombstone, h->ver.hlc, h->ver.node, h->expires);
        r.flags = h->attr.flags;
        r.kind = h->attr.kind;
        if (rc_peers_send(hs->peers, m->id, m->host, m->peer_port, &r, hs->opts.timeout_ms,
                          on_hint_sent, h) == 0) {
            h->inflight = 1;
            hs->inflight++;
        }
    }
}

void rc_hints_stats(const struct rc_hints *hs, struct rc_hints_stats *st)
{
    st->pending = hs->n;
    st->bytes = hs->bytes;
    st->stored = hs->stored;
    st->delivered = hs->delivered;
    st->dropped = hs->dropped;
}

int rc_hints_new(uv_loop_t *loop, const struct rc_hints_opts *opts, struct rc_cluster *cluster,
                 struct rc_peers *peers, struct rc_hints **out)
{
    struct rc_hints *hs = calloc(1, sizeof(*hs));

    *out = NULL;
    if (hs == NULL)
        return RC_ENOMEM;
    hs->opts = *opts;
    hs->cluster = cluster;
    hs->peers = peers;
    uv_timer_init(loop, &hs->timer);
    uv_timer_start(&hs->timer, on_timer, HINT_INTERVAL_MS, HINT_INTERVAL_MS);
    uv_unref((uv_handle_t *)&hs->timer);
    *out = hs;
    return 0;
}

void rc_hints_stop(struct rc_hints *hs)
{
    uv_close((uv_handle_t *)&hs->timer, NULL);
}

void rc_hints_free(struct rc_hints *hs)
{
    if (hs == NULL)
        return;
    while (hs->head)
        hint_unlink(hs, hs->head);
    free(hs);
}
