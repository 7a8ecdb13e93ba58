/*
 * ring.c - key tokens and the consistent-hash ring (see ring.h).
 *
 * The ring is two parallel arrays sorted by token: tokens[] alone is what
 * the binary search touches (8 bytes a vnode keeps it in cache), owners[]
 * names the member of each vnode. Preference lists are walked rather than
 * precomputed: with rf <= RC_RING_MAX_RF the walk takes a handful of steps,
 * and a table would cost rf times the memory of the ring.
 */
#include "ring.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

/* 2^64, the number of tokens, for turning range widths into fractions. */
#define RING_SPAN 18446744073709551616.0

struct rc_ring {
    uint64_t *ids;     /* nids member ids, ascending */
    uint64_t *tokens;  /* ntokens vnode tokens, ascending */
    uint16_t *owners;  /* owners[i]: index in ids of the member of tokens[i] */
    size_t nids;
    size_t ntokens;
    uint64_t mem[];    /* ids, tokens, owners: one allocation */
};

_Static_assert(RC_RING_MAX_MEMBERS - 1 <= UINT16_MAX, "owners[] holds member indices");

/* A vnode while the ring is sorted, before it is split into the arrays. */
struct vnode {
    uint64_t token;
    uint32_t owner;
};

uint64_t rc_ring_token(const void *key, size_t len)
{
    return XXH3_64bits(key, len);
}

uint64_t rc_ring_vnode_token(uint64_t id, uint32_t index)
{
    uint8_t le[8];
    int i;

    /* Explicit byte order: the token must not depend on the host. */
    for (i = 0; i < 8; i++)
        le[i] = (uint8_t)(id >> (8 * i));
    return XXH3_64bits_withSeed(le, sizeof(le), index);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Equal tokens go to the lower member id, the same way on every node.
 * Owners index the ascending id list, so comparing them compares ids. */
static int cmp_vnode(const void *a, const void *b)
{
    const struct vnode *x = a, *y = b;

    if (x->token != y->token)
        return x->token > y->token ? 1 : -1;
    return (x->owner > y->owner) - (x->owner < y->owner);
}

/* Copies, sorts and validates the ids: none zero, none repeated. */
static int set_members(struct rc_ring *r, const uint64_t *ids)
{
    size_t i;

    if (r->nids == 0)
        return 0;
    memcpy(r->ids, ids, r->nids * sizeof(*ids));
    qsort(r->ids, r->nids, sizeof(*r->ids), cmp_u64);
    for (i = 0; i < r->nids; i++) {
        if (r->ids[i] == 0 || (i > 0 && r->ids[i] == r->ids[i - 1]))
            return RC_EINVAL;
    }
    return 0;
}

/* Fills tokens[] and owners[] from the members, sorted. */
static int set_tokens(struct rc_ring *r, int vnodes)
{
    struct vnode *v;
    size_t m, i, k = 0;

    if (r->ntokens == 0)
        return 0;
    v = calloc(r->ntokens, sizeof(*v));
    if (v == NULL)
        return RC_ENOMEM;
    for (m = 0; m < r->nids; m++) {
        for (i = 0; i < (size_t)vnodes; i++) {
            v[k].token = rc_ring_vnode_token(r->ids[m], (uint32_t)i);
            v[k++].owner = (uint32_t)m;
        }
    }
    qsort(v, r->ntokens, sizeof(*v), cmp_vnode);
    for (k = 0; k < r->ntokens; k++) {
        r->tokens[k] = v[k].token;
        r->owners[k] = (uint16_t)v[k].owner;
    }
    free(v);
    return 0;
}

int rc_ring_new(const uint64_t *ids, size_t n, int vnodes, struct rc_ring **out)
{
    struct rc_ring *r = NULL;
    size_t ntokens;
    int err = RC_EINVAL;

    if ((n > 0 && ids == NULL) || n > RC_RING_MAX_MEMBERS || vnodes < 1 ||
        vnodes > RC_RING_MAX_VNODES)
        goto out;
    /* Within the caps none of these sizes can overflow. */
    ntokens = n * (size_t)vnodes;
    r = malloc(sizeof(*r) + (n + ntokens) * sizeof(uint64_t) + ntokens * sizeof(uint16_t));
    if (r == NULL) {
        err = RC_ENOMEM;
        goto out;
    }
    r->nids = n;
    r->ntokens = ntokens;
    r->ids = r->mem;
    r->tokens = r->mem + n;
    r->owners = (uint16_t *)(r->mem + n + ntokens);
    err = set_members(r, ids);
    if (err == 0)
        err = set_tokens(r, vnodes);
out:
    if (err != 0) {
        rc_ring_free(r);
        r = NULL;
    }
    *out = r;
    return err;
}

void rc_ring_free(struct rc_ring *r)
{
    free(r);
}

size_t rc_ring_members(const struct rc_ring *r, const uint64_t **ids)
{
    *ids = r->ids;
    return r->nids;
}

size_t rc_ring_tokens(const struct rc_ring *r, const uint64_t **tokens)
{
    *tokens = r->tokens;
    return r->ntokens;
}

/* Index of the vnode owning token: the first with tokens[i] >= token (the
 * lowest id among equal tokens), or 0 past the last token, as the first
 * vnode's range wraps. The ring must not be empty. The step is arithmetic
 * rather than an if or ?: (which GCC 12 turns into a jump) so that there
 * is no data-dependent branch: on random tokens a branchy search
 * mispredicts half its steps, and this halves lookup time at 64 members
 * (ring-bench: 81 -> 47 ns). */
static size_t owner_index(const struct rc_ring *r, uint64_t token)
{
    const uint64_t *base = r->tokens;
    size_t len = r->ntokens, half, i;

    while (len > 1) {
        half = len / 2;
        base += half * (size_t)(base[half - 1] < token);
        len -= half;
    }
    i = (size_t)(base - r->tokens) + (*base < token);
    return i == r->ntokens ? 0 : i;
}

static int list_len(const struct rc_ring *r, int rf)
{
    if (rf > RC_RING_MAX_RF)
        rf = RC_RING_MAX_RF;
    if ((size_t)rf > r->nids)
        rf = (int)r->nids;
    return rf;
}

/* The first `want` distinct owners clockwise from vnode `start`, as member
 * indices. Every member has a vnode, so one lap finds want <= nids. */
static int walk(const struct rc_ring *r, size_t start, int want, uint16_t *found)
{
    size_t i = start, step;
    int n = 0, k;

    for (step = 0; step < r->ntokens && n < want; step++) {
        for (k = 0; k < n && found[k] != r->owners[i]; k++)
            ;
        if (k == n)
            found[n++] = r->owners[i];
        if (++i == r->ntokens)
            i = 0;
    }
    return n;
}

/* Preference list from vnode `start`, as ids. */
static int walk_ids(const struct rc_ring *r, size_t start, int want, uint64_t *out)
{
    uint16_t found[RC_RING_MAX_RF];
    int n, k;

    n = walk(r, start, want, found);
    for (k = 0; k < n; k++)
        out[k] = r->ids[found[k]];
    return n;
}

int rc_ring_replicas(const struct rc_ring *r, uint64_t token, int rf, uint64_t *out)
{
    if (rf < 1)
        return RC_EINVAL;
    if (r->ntokens == 0)
        return 0;
    return walk_ids(r, owner_index(r, token), list_len(r, rf), out);
}

int rc_ring_replicas_key(const struct rc_ring *r, const void *key, size_t len, int rf,
                         uint64_t *out)
{
    return rc_ring_replicas(r, rc_ring_token(key, len), rf, out);
}

int rc_ring_range_of(const struct rc_ring *r, uint64_t token, uint64_t *first,
                     uint64_t *last)
{
    size_t i;

    if (r->ntokens == 0)
        return RC_ENOTFOUND;
    i = owner_index(r, token);
    /* owner_index picks the first of equal tokens, so the previous vnode
     * has a smaller token, except around the wrap. */
    *first = r->tokens[i == 0 ? r->ntokens - 1 : i - 1] + 1;
    *last = r->tokens[i];
    return 0;
}

void rc_ring_iter_init(struct rc_ring_iter *it, const struct rc_ring *r)
{
    it->r = r;
    it->next = 0;
    it->tail = 0;
}

int rc_ring_iter_next(struct rc_ring_iter *it, struct rc_ring_vrange *out)
{
    const struct rc_ring *r = it->r;
    size_t n = r->ntokens, i;

    if (it->tail) {
        it->tail = 0;
        out->first = r->tokens[n - 1] + 1;
        out->last = UINT64_MAX;
        out->token = r->tokens[0];
        out->vnode = 0;
        return 1;
    }
    while ((i = it->next++) < n) {
        out->token = r->tokens[i];
        out->vnode = i;
        out->last = r->tokens[i];
        if (n == 1) {
            out->first = 0;
            out->last = UINT64_MAX;
            return 1;
        }
        if (i == 0) {
            out->first = 0;
            it->tail = r->tokens[n - 1] < UINT64_MAX;
            return 1;
        }
        /* An equal token's range is empty: the lower id owns the token. */
        if (r->tokens[i - 1] < r->tokens[i]) {
            out->first = r->tokens[i - 1] + 1;
            return 1;
        }
    }
    it->next = n;
    return 0;
}

/* Width of a vnode range as a fraction of the ring; the whole ring (a
 * lone vnode) is 2^64 tokens, which uint64_t cannot count. */
static double range_share(const struct rc_ring_vrange *v)
{
    if (v->first == 0 && v->last == UINT64_MAX)
        return 1.0;
    return (double)(v->last - v->first + 1) / RING_SPAN;
}

int rc_ring_shares(const struct rc_ring *r, int rf, double *primary, double *replica)
{
    uint16_t found[RC_RING_MAX_RF];
    struct rc_ring_iter it;
    struct rc_ring_vrange v;
    size_t i;
    double w;
    int want, n, k;

    if (rf < 1)
        return RC_EINVAL;
    want = list_len(r, rf);
    for (i = 0; i < r->nids; i++) {
        if (primary != NULL)
            primary[i] = 0;
        if (replica != NULL)
            replica[i] = 0;
    }
    rc_ring_iter_init(&it, r);
    while (rc_ring_iter_next(&it, &v)) {
        w = range_share(&v);
        if (primary != NULL)
            primary[r->owners[v.vnode]] += w;
        if (replica == NULL)
            continue;
        n = walk(r, v.vnode, want, found);
        for (k = 0; k < n; k++)
            replica[found[k]] += w;
    }
    return 0;
}

/* Merge cursor over the tokens of one ring. */
struct cursor {
    const struct rc_ring *r;
    size_t next; /* first token not yet passed */
    int want;    /* preference list length in this ring */
};

/* Preference list of the segment that ends at the next boundary: its
 * owner is the next token of the ring, or the first one past the end. */
static int cursor_list(const struct cursor *c, uint64_t *out)
{
    if (c->r->ntokens == 0)
        return 0;
    return walk_ids(c->r, c->next == c->r->ntokens ? 0 : c->next, c->want, out);
}

static uint64_t cursor_peek(const struct cursor *c)
{
    return c->next < c->r->ntokens ? c->r->tokens[c->next] : UINT64_MAX;
}

static void cursor_pass(struct cursor *c, uint64_t boundary)
{
    while (c->next < c->r->ntokens && c->r->tokens[c->next] <= boundary)
        c->next++;
}

static int same_list(const uint64_t *a, int na, const uint64_t *b, int nb)
{
    return na == nb && memcmp(a, b, (size_t)na * sizeof(*a)) == 0;
}

/* Cuts the ring at every token of either ring (and at UINT64_MAX, so
 * nothing wraps); within a segment both preference lists are constant.
 * Stores the changed, coalesced ranges in out when it is not NULL and
 * returns how many there are. */
static size_t diff_walk(struct cursor *a, struct cursor *b, struct rc_ring_range *out)
{
    struct rc_ring_range seg, cur;
    size_t n = 0;
    int pending = 0, changed;

    seg.first = 0;
    for (;;) {
        seg.last = cursor_peek(a) < cursor_peek(b) ? cursor_peek(a) : cursor_peek(b);
        /* Unused slots are zeroed, not left over from another segment. */
        memset(seg.old_ids, 0, sizeof(seg.old_ids));
        memset(seg.new_ids, 0, sizeof(seg.new_ids));
        seg.nold = cursor_list(a, seg.old_ids);
        seg.nnew = cursor_list(b, seg.new_ids);
        cursor_pass(a, seg.last);
        cursor_pass(b, seg.last);
        changed = !same_list(seg.old_ids, seg.nold, seg.new_ids, seg.nnew);
        if (pending && changed && same_list(seg.old_ids, seg.nold, cur.old_ids, cur.nold) &&
            same_list(seg.new_ids, seg.nnew, cur.new_ids, cur.nnew)) {
            cur.last = seg.last;
        } else {
            if (pending && out != NULL)
                out[n] = cur;
            n += (size_t)pending;
            pending = changed;
            cur = seg;
        }
        if (seg.last == UINT64_MAX)
            break;
        seg.first = seg.last + 1;
    }
    if (pending) {
        if (out != NULL)
            out[n] = cur;
        n++;
    }
    return n;
}

int rc_ring_diff(const struct rc_ring *old_ring, const struct rc_ring *new_ring, int rf,
                 struct rc_ring_range **out, size_t *nout)
{
    struct cursor a = {old_ring, 0, 0}, b = {new_ring, 0, 0};
    struct rc_ring_range *ranges = NULL;
    size_t n = 0;
    int err = RC_EINVAL;

    if (rf < 1)
        goto out;
    a.want = list_len(old_ring, rf);
    b.want = list_len(new_ring, rf);
    /* Two passes, count then fill: one exact allocation, and the count is
     * bounded by the tokens of both rings plus one. */
    n = diff_walk(&a, &b, NULL);
    err = 0;
    if (n == 0)
        goto out;
    ranges = calloc(n, sizeof(*ranges));
    if (ranges == NULL) {
        err = RC_ENOMEM;
        n = 0;
        goto out;
    }
    a.next = b.next = 0;
    diff_walk(&a, &b, ranges);
out:
    *out = ranges;
    *nout = n;
    return err;
}
