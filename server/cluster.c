/*
 * cluster.c - this node's one view of its cluster (see cluster.h).
 *
 * Gossip calls in on every membership change; the member list is copied,
 * both rings are rebuilt (a failed rebuild keeps the old ones: routing
 * on a slightly stale ring is better than no ring), and the subscribers
 * are told. The members known before a restart live in the node's
 * metadata (known_n, known_0 ...), rewritten only when the set changes.
 */
#include "cluster.h"
#include "err.h"
#include "gossip.h"
#include "ring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

struct sub {
    rc_cluster_fn fn;
    void *arg;
};

struct rc_cluster {
    struct rc_cluster_opts opts;
    struct rc_node *node;
    struct rc_peers *peers;
    struct rc_gossip *gossip; /* NULL until rc_cluster_set_gossip */
    const struct rc_log *log;
    uint64_t self;
    struct rc_member *members;
    size_t nmembers;
    struct rc_ring *ring; /* live members (alive, suspect): where data is placed */
    struct rc_ring *home; /* every member not left: whose answers count */
    int need_contact;     /* QUORUM and ALL wait for gossip's first full sync */
    int had_peers;        /* "had_peers" is saved in the node's metadata */
    /* Members known before a restart that gossip has not mentioned since:
     * home replicas (counted as dead) until gossip says where they are. */
    uint64_t *expected;
    size_t nexpected;
    uint64_t known_digest; /* of the member set last saved */
    struct sub subs[RC_CLUSTER_MAX_SUBS];
    int nsubs;
};

/* ---- members known across restarts ----------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Loads the member ids saved before a restart (none on a fresh or
 * in-memory node) as expected: home replicas until gossip mentions them. */
static void load_known(struct rc_cluster *c)
{
    uint64_t n = 0, id;
    char name[32];
    size_t i;

    if (rc_node_meta_get(c->node, "known_n", &n) < 0 || n == 0 || n > RC_RING_MAX_MEMBERS)
        return;
    c->expected = malloc(n * sizeof(*c->expected));
    if (c->expected == NULL)
        return;
    for (i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "known_%zu", i);
        if (rc_node_meta_get(c->node, name, &id) < 0)
            break;
        if (id != c->self)
            c->expected[c->nexpected++] = id;
    }
}

/* Drops the expected ids gossip now mentions (in any state: its word is
 * the truth from now on). */
static void prune_expected(struct rc_cluster *c, const struct rc_member *members, size_t n)
{
    size_t i, j, k = 0;

    for (i = 0; i < c->nexpected; i++) {
        for (j = 0; j < n && members[j].id != c->expected[i]; j++)
            ;
        if (j == n)
            c->expected[k++] = c->expected[i];
    }
    c->nexpected = k;
}

/* Saves the member set (not left, expected ones included) when it changed,
 * for the next start of this node. Membership changes are rare: a few
 * small metadata rows each. */
static void save_known(struct rc_cluster *c)
{
    uint64_t *ids = malloc((c->nmembers + c->nexpected + 1) * sizeof(*ids)), digest;
    size_t i, k = 0;
    char name[32];
    int rv = 0;

    if (ids == NULL)
        return;
    for (i = 0; i < c->nmembers && k < RC_RING_MAX_MEMBERS; i++)
        if (c->members[i].state != RC_MEMBER_LEFT)
            ids[k++] = c->members[i].id;
    for (i = 0; i < c->nexpected && k < RC_RING_MAX_MEMBERS; i++)
        ids[k++] = c->expected[i];
    qsort(ids, k, sizeof(*ids), cmp_u64);
    digest = XXH3_64bits(ids, k * sizeof(*ids));
    if (digest != c->known_digest) {
        for (i = 0; rv == 0 && i < k; i++) {
            snprintf(name, sizeof(name), "known_%zu", i);
            rv = rc_node_meta_set(c->node, name, ids[i]);
        }
        if (rv == 0)
            rv = rc_node_meta_set(c->node, "known_n", k);
        if (rv < 0)
            rc_log_warn(c->log, "cannot save the member list: %s", rc_strerror(rv));
        else
            c->known_digest = digest;
    }
    free(ids);
}

/* Once another member was seen alive, a restart of this node must wait
 * for contact before it serves QUORUM and ALL (it is part of a cluster
 * now), even without --seeds: remembered in the node's metadata. */
static void note_peers(struct rc_cluster *c)
{
    size_t i;

    if (c->had_peers)
        return;
    for (i = 0; i < c->nmembers; i++) {
        if (c->members[i].id != c->self && c->members[i].state == RC_MEMBER_ALIVE) {
            c->had_peers = 1;
            if (rc_node_meta_set(c->node, "had_peers", 1) < 0)
                rc_log_warn(c->log, "cannot save had_peers: a restart without --seeds "
                                    "may serve QUORUM before it rejoins");
            return;
        }
    }
}

/* ---- the view --------------------------------------------------------- */

/* Builds the ring of the live members (alive, suspect), without this node
 * if without_self is set; or with home set, of every member that has not
 * left (dead ones included) and the expected ones gossip has not mentioned
 * yet. */
static int ring_of(const struct rc_cluster *c, const struct rc_member *members, size_t n,
                   int home, int without_self, struct rc_ring **out)
{
    uint64_t *ids = malloc((n + c->nexpected + 1) * sizeof(*ids));
    size_t i, k = 0;
    int rv;

    if (ids == NULL)
        return RC_ENOMEM;
    for (i = 0; i < n && k < RC_RING_MAX_MEMBERS; i++) {
        enum rc_member_state st = members[i].state;

        if (without_self && members[i].id == c->self)
            continue;
        if (st == RC_MEMBER_ALIVE || st == RC_MEMBER_SUSPECT || (home && st == RC_MEMBER_DEAD))
            ids[k++] = members[i].id;
    }
    for (i = 0; home && i < c->nexpected && k < RC_RING_MAX_MEMBERS; i++)
        ids[k++] = c->expected[i];
    rv = rc_ring_new(ids, k, c->opts.vnodes, out);
    free(ids);
    return rv;
}

/* Copies the members and rebuilds both rings: 0, or RC_ENOMEM with the
 * old view kept whole. */
static int set_members(struct rc_cluster *c, const struct rc_member *members, size_t n)
{
    struct rc_member *copy;
    struct rc_ring *ring = NULL, *home = NULL;
    int rv;

    copy = malloc((n ? n : 1) * sizeof(*copy));
    if (copy == NULL)
        return RC_ENOMEM;
    prune_expected(c, members, n);
    rv = ring_of(c, members, n, 0, 0, &ring);
    if (rv == 0)
        rv = ring_of(c, members, n, 1, 0, &home);
    if (rv < 0) {
        rc_ring_free(ring);
        free(copy);
        return rv;
    }
    memcpy(copy, members, n * sizeof(*copy));
    free(c->members);
    c->members = copy;
    c->nmembers = n;
    rc_ring_free(c->ring);
    c->ring = ring;
    rc_ring_free(c->home);
    c->home = home;
    note_peers(c);
    save_known(c);
    return 0;
}

/* Takes gossip's current member list and tells the subscribers. */
static int refresh(struct rc_cluster *c, const struct rc_member *m, enum rc_member_state old,
                   const char *reason)
{
    struct rc_cluster_change ch = {m, old, reason, NULL, 0};
    const struct rc_member *all;
    int i, rv;

    ch.nmembers = rc_gossip_members(c->gossip, &all);
    ch.members = all;
    /* Ranges this node no longer replicates may be deleted from the store
     * from now on, behind the read cache. */
    rc_node_cache_clear(c->node);
    rv = set_members(c, all, ch.nmembers);
    if (rv < 0)
        rc_log_error(c->log, "cannot rebuild the ring: out of memory; keeping the old one");
    for (i = 0; i < c->nsubs; i++)
        c->subs[i].fn(c->subs[i].arg, &ch);
    return rv;
}

void rc_cluster_on_member(void *arg, const struct rc_member *m, enum rc_member_state old,
                          const char *reason)
{
    struct rc_cluster *c = arg;

    refresh(c, m, old, reason);
    /* The peer pool follows: no retries towards the dead, an immediate
     * one towards a member that came back. */
    if (m->state == RC_MEMBER_DEAD || m->state == RC_MEMBER_LEFT)
        rc_peers_forget(c->peers, m->id);
    else if (m->state == RC_MEMBER_ALIVE)
        rc_peers_retry_now(c->peers, m->id);
}

int rc_cluster_save_incarnation(void *arg, uint64_t incarnation)
{
    struct rc_cluster *c = arg;

    return rc_node_meta_set(c->node, "incarnation", incarnation);
}

int rc_cluster_start(struct rc_cluster *c)
{
    return refresh(c, NULL, RC_MEMBER_ALIVE, "start");
}

int rc_cluster_subscribe(struct rc_cluster *c, rc_cluster_fn fn, void *arg)
{
    if (c->nsubs == RC_CLUSTER_MAX_SUBS)
        return RC_ENOMEM;
    c->subs[c->nsubs].fn = fn;
    c->subs[c->nsubs++].arg = arg;
    return 0;
}

void rc_cluster_set_gossip(struct rc_cluster *c, struct rc_gossip *g)
{
    c->gossip = g;
}

/* ---- lookups ---------------------------------------------------------- */

size_t rc_cluster_members(const struct rc_cluster *c, const struct rc_member **members)
{
    *members = c->members;
    return c->nmembers;
}

const struct rc_member *rc_cluster_find(const struct rc_cluster *c, uint64_t id)
{
    size_t i;

    for (i = 0; i < c->nmembers; i++)
        if (c->members[i].id == id)
            return &c->members[i];
    return NULL;
}

const struct rc_ring *rc_cluster_ring(const struct rc_cluster *c)
{
    return c->ring;
}

const struct rc_ring *rc_cluster_home(const struct rc_cluster *c)
{
    return c->home;
}

int rc_cluster_new_ring(const struct rc_cluster *c, int without_self, struct rc_ring **out)
{
    *out = NULL;
    return ring_of(c, c->members, c->nmembers, 0, without_self, out);
}

uint64_t rc_cluster_self(const struct rc_cluster *c)
{
    return c->self;
}

int rc_cluster_rf(const struct rc_cluster *c)
{
    return c->opts.rf;
}

int rc_cluster_vnodes(const struct rc_cluster *c)
{
    return c->opts.vnodes;
}

int rc_cluster_live(const struct rc_cluster *c, uint64_t id)
{
    const struct rc_member *m;

    if (id == c->self)
        return 1;
    m = rc_cluster_find(c, id);
    return m != NULL && (m->state == RC_MEMBER_ALIVE || m->state == RC_MEMBER_SUSPECT) &&
           rc_peers_reachable(c->peers, id);
}

int rc_cluster_is_replica(const struct rc_cluster *c, const uint8_t *key, size_t key_len,
                          uint64_t id)
{
    uint64_t ids[RC_RING_MAX_RF];
    int n, i;

    n = c->ring ? rc_ring_replicas_key(c->ring, key, key_len, c->opts.rf, ids) : 0;
    for (i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

int rc_cluster_in_contact(const struct rc_cluster *c)
{
    return !c->need_contact || (c->gossip != NULL && rc_gossip_synced(c->gossip));
}

int rc_cluster_clock_ahead(const struct rc_cluster *c, int64_t *ahead_ms)
{
    return c->gossip != NULL ? rc_gossip_clock_skew(c->gossip, ahead_ms) : 0;
}

struct rc_gossip *rc_cluster_gossip(const struct rc_cluster *c)
{
    return c->gossip;
}

void rc_cluster_counts(const struct rc_cluster *c, size_t *alive, size_t *known)
{
    size_t i;

    *alive = *known = 0;
    for (i = 0; i < c->nmembers; i++) {
        *alive += c->members[i].state == RC_MEMBER_ALIVE;
        *known += c->members[i].state != RC_MEMBER_LEFT;
    }
    *known += c->nexpected;
}

/* FORGET of an id gossip does not know but this node expected (it was a
 * member before this node's restart, and its "left" record is gone). */
static int forget_expected(struct rc_cluster *c, uint64_t id)
{
    size_t i;

    for (i = 0; i < c->nexpected && c->expected[i] != id; i++)
        ;
    if (i == c->nexpected)
        return RC_ENOTFOUND;
    c->expected[i] = c->expected[--c->nexpected];
    return set_members(c, c->members, c->nmembers);
}

int rc_cluster_forget(struct rc_cluster *c, uint64_t id)
{
    int rv;

    if (c->gossip == NULL)
        return RC_EUNAVAILABLE;
    rv = rc_gossip_forget(c->gossip, id);
    return rv == RC_ENOTFOUND ? forget_expected(c, id) : rv;
}

/* ---- life ------------------------------------------------------------- */

int rc_cluster_new(const struct rc_cluster_opts *opts, struct rc_node *node,
                   struct rc_peers *peers, const struct rc_log *log, struct rc_cluster **out)
{
    struct rc_cluster *c;
    uint64_t had = 0;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return RC_ENOMEM;
    c->opts = *opts;
    c->node = node;
    c->peers = peers;
    c->log = log;
    c->self = rc_node_id(node);
    if (rc_node_meta_get(node, "had_peers", &had) == 0 && had)
        c->had_peers = 1;
    c->need_contact = opts->has_seeds || c->had_peers;
    load_known(c);
    *out = c;
    return 0;
}

void rc_cluster_free(struct rc_cluster *c)
{
    if (c == NULL)
        return;
    rc_ring_free(c->ring);
    rc_ring_free(c->home);
    free(c->expected);
    free(c->members);
    free(c);
}
