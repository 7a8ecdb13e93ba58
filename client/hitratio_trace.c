/*
 * hitratio_trace.c - trace generator and offline cache simulators for
 * ringcache-hitratio (see hitratio_trace.h for the generator's rules).
 *
 * Everything here is a pure function of its inputs: one splitmix64 stream
 * per use (popularity draws, each permutation, sizes by hash), so a seed
 * names the same trace on every machine and in every run.
 */
#include "hitratio_trace.h"

#include "err.h"
#include "evict.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

/* Stream constants: each use of the seed gets a stream of its own. */
#define STREAM_DRAWS 0x9e3779b97f4a7c15ull
#define STREAM_PERM1 0xbf58476d1ce4e5b9ull
#define STREAM_PERM2 0x94d049bb133111ebull
#define STREAM_SIZES 0xd6e8feb86659fd93ull

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 bits. */
static double uniform(uint64_t *s)
{
    return (double)(splitmix64(s) >> 11) * 0x1.0p-53;
}

uint32_t rc_hr_value_size(uint64_t seed, uint32_t id, int mixed)
{
    uint64_t s = seed ^ STREAM_SIZES ^ ((uint64_t)id << 20);
    double u;

    if (!mixed)
        return RC_HR_FIXED_SIZE;
    u = uniform(&s);
    /* log-uniform: as many keys between 100 B and 1 KiB as between 1 and 10 */
    return (uint32_t)lround(RC_HR_MIN_SIZE * pow((double)RC_HR_MAX_SIZE / RC_HR_MIN_SIZE, u));
}

uint64_t rc_hr_cost(const struct rc_hr_trace *t, uint32_t id)
{
    return (uint64_t)t->size[id] + t->key_bytes;
}

/* Fisher-Yates over 0..n-1 from its own stream. */
static void permute(uint32_t *perm, uint32_t n, uint64_t seed)
{
    uint64_t s = seed;
    uint32_t i, j, tmp;

    for (i = 0; i < n; i++)
        perm[i] = i;
    for (i = n; i > 1; i--) {
        j = (uint32_t)(splitmix64(&s) % i);
        tmp = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = tmp;
    }
}

/* First rank whose cumulative weight exceeds u. */
static uint32_t draw_rank(const double *cdf, uint32_t n, double u)
{
    uint32_t lo = 0, hi = n - 1, mid;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static int check_cfg(const struct rc_hr_trace_cfg *c)
{
    if (c->keys == 0 || c->keys > RC_HR_MAX_KEYS || c->requests == 0 ||
        c->requests > RC_HR_MAX_REQUESTS || !(c->alpha > 0 && c->alpha < 10))
        return RC_EINVAL;
    if (c->kind != RC_HR_ZIPF && c->kind != RC_HR_SCAN && c->kind != RC_HR_SHIFT)
        return RC_EINVAL;
    return 0;
}

/* Fills t->key for cfg from the cdf and the permutations. */
static void fill_requests(struct rc_hr_trace *t, const struct rc_hr_trace_cfg *c,
                          const double *cdf, const uint32_t *perm1, const uint32_t *perm2)
{
    uint64_t s = c->seed ^ STREAM_DRAWS;
    uint32_t half = c->requests / 2, i, pos = 0, scanned = 0;
    uint32_t scan = c->kind == RC_HR_SCAN ? c->keys / RC_HR_SCAN_DIV : 0;

    for (i = 0; i < c->requests; i++) {
        uint32_t r = draw_rank(cdf, c->keys, uniform(&s));

        if (i >= half && scanned < scan)
            t->key[pos++] = c->keys + scanned++;
        t->key[pos++] = (c->kind == RC_HR_SHIFT && i >= half) ? perm2[r] : perm1[r];
    }
    while (scanned < scan)
        t->key[pos++] = c->keys + scanned++;
}

int rc_hr_trace_init(struct rc_hr_trace *t, const struct rc_hr_trace_cfg *c)
{
    double *cdf = NULL, sum = 0;
    uint32_t *perm1 = NULL, *perm2 = NULL, i;
    int rv = check_cfg(c);

    memset(t, 0, sizeof(*t));
    if (rv < 0)
        return rv;
    t->ids = c->kind == RC_HR_SCAN ? c->keys + c->keys / RC_HR_SCAN_DIV : c->keys;
    t->len = c->kind == RC_HR_SCAN ? c->requests + c->keys / RC_HR_SCAN_DIV : c->requests;
    t->key_bytes = c->key_bytes;
    t->key = malloc((size_t)t->len * sizeof(*t->key));
    t->size = malloc((size_t)t->ids * sizeof(*t->size));
    cdf = malloc((size_t)c->keys * sizeof(*cdf));
    perm1 = malloc((size_t)c->keys * sizeof(*perm1));
    perm2 = malloc((size_t)c->keys * sizeof(*perm2));
    rv = RC_ENOMEM;
    if (t->key == NULL || t->size == NULL || cdf == NULL || perm1 == NULL || perm2 == NULL)
        goto out;
    for (i = 0; i < c->keys; i++)
        cdf[i] = sum += pow((double)i + 1, -c->alpha);
    for (i = 0; i < c->keys; i++)
        cdf[i] /= sum;
    cdf[c->keys - 1] = 1.0; /* no draw falls past the last rank */
    permute(perm1, c->keys, c->seed ^ STREAM_PERM1);
    permute(perm2, c->keys, c->seed ^ STREAM_PERM2);
    fill_requests(t, c, cdf, perm1, perm2);
    for (i = 0; i < t->ids; i++)
        t->size[i] = rc_hr_value_size(c->seed, i, c->mixed);
    for (i = 0; i < c->keys; i++)
        t->data_bytes += rc_hr_cost(t, i);
    rv = 0;
out:
    free(cdf);
    free(perm1);
    free(perm2);
    if (rv < 0)
        rc_hr_trace_close(t);
    return rv;
}

void rc_hr_trace_close(struct rc_hr_trace *t)
{
    free(t->key);
    free(t->size);
    memset(t, 0, sizeof(*t));
}

/* next[i] = position of the next request for key[i], or len + key[i] when
 * there is none (distinct values, all past every real position). */
static uint32_t *next_uses(const struct rc_hr_trace *t)
{
    uint32_t *next = malloc((size_t)t->len * sizeof(*next));
    uint32_t *last = malloc((size_t)t->ids * sizeof(*last));
    uint32_t i;

    if (next == NULL || last == NULL) {
        free(next);
        free(last);
        return NULL;
    }
    for (i = 0; i < t->ids; i++)
        last[i] = t->len + i;
    for (i = t->len; i-- > 0;) {
        next[i] = last[t->key[i]];
        last[t->key[i]] = i;
    }
    free(last);
    return next;
}

/* ---- a max-heap of positions (Belady's "farthest next use") ---------- */

struct heap {
    uint32_t *v;
    uint32_t n;
};

static void heap_push(struct heap *h, uint32_t x)
{
    uint32_t i = h->n++, p;

    while (i > 0 && h->v[p = (i - 1) / 2] < x) {
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = x;
}

static uint32_t heap_pop(struct heap *h)
{
    uint32_t top = h->v[0], x = h->v[--h->n], i = 0, c;

    while ((c = 2 * i + 1) < h->n) {
        if (c + 1 < h->n && h->v[c + 1] > h->v[c])
            c++;
        if (h->v[c] <= x)
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = x;
    return top;
}

static int trace_ok(const struct rc_hr_trace *t)
{
    return t->len > 0 && (uint64_t)t->len + t->ids < NONE;
}

int rc_hr_belady(const struct rc_hr_trace *t, uint64_t budget, uint64_t *hits)
{
    uint32_t *next = NULL, *cur = NULL, i;
    struct heap h = {NULL, 0};
    uint64_t used = 0;
    int rv = RC_EINVAL;

    *hits = 0;
    if (!trace_ok(t))
        return rv;
    rv = RC_ENOMEM;
    next = next_uses(t);
    cur = malloc((size_t)t->ids * sizeof(*cur));
    h.v = malloc((size_t)t->len * sizeof(*h.v)); /* one push per request */
    if (next == NULL || cur == NULL || h.v == NULL)
        goto out;
    /* cur[id]: the next use of id's cached entry, NONE when not cached. A
     * heap slot p is live iff cur[key of p] == p; older slots are skipped. */
    memset(cur, 0xff, (size_t)t->ids * sizeof(*cur));
    for (i = 0; i < t->len; i++) {
        uint32_t k = t->key[i];

        if (cur[k] == i)
            (*hits)++;
        else
            used += rc_hr_cost(t, k);
        cur[k] = next[i];
        heap_push(&h, next[i]);
        while (used > budget) {
            uint32_t p = heap_pop(&h), v = p < t->len ? t->key[p] : p - t->len;

            if (cur[v] != p)
                continue;
            cur[v] = NONE;
            used -= rc_hr_cost(t, v);
        }
    }
    rv = 0;
out:
    free(next);
    free(cur);
    free(h.v);
    return rv;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

int rc_hr_opt_upper(const struct rc_hr_trace *t, uint64_t budget, uint64_t *hits)
{
    uint32_t *next = NULL, i, n = 0;
    uint64_t *need = NULL;
    long double room = (long double)budget * t->len;
    int rv = RC_EINVAL;

    *hits = 0;
    if (!trace_ok(t))
        return rv;
    rv = RC_ENOMEM;
    next = next_uses(t);
    need = malloc((size_t)t->len * sizeof(*need));
    if (next == NULL || need == NULL)
        goto out;
    for (i = 0; i < t->len; i++) {
        uint64_t c = rc_hr_cost(t, t->key[i]);

        /* a reuse needs the entry held from request i to request next[i] */
        if (next[i] < t->len && c <= budget)
            need[n++] = c * (next[i] - i);
    }
    qsort(need, n, sizeof(*need), cmp_u64);
    for (i = 0; i < n && (long double)need[i] <= room; i++) {
        room -= need[i];
        (*hits)++;
    }
    rv = 0;
out:
    free(next);
    free(need);
    return rv;
}

int rc_hr_lru(const struct rc_hr_trace *t, uint64_t budget, uint64_t *hits)
{
    /* a doubly linked list over ids; head = most recent */
    uint32_t *prev = malloc((size_t)t->ids * sizeof(*prev));
    uint32_t *nxt = malloc((size_t)t->ids * sizeof(*nxt));
    uint8_t *in = calloc(t->ids ? t->ids : 1, 1);
    uint32_t head = NONE, tail = NONE, i;
    uint64_t used = 0;
    int rv = RC_ENOMEM;

    *hits = 0;
    if (prev == NULL || nxt == NULL || in == NULL)
        goto out;
    for (i = 0; i < t->len; i++) {
        uint32_t k = t->key[i];

        if (in[k]) {
            (*hits)++;
            if (k == head)
                continue;
            nxt[prev[k]] = nxt[k]; /* unlink; k is not the head */
            if (nxt[k] != NONE)
                prev[nxt[k]] = prev[k];
            else
                tail = prev[k];
        } else {
            in[k] = 1;
            used += rc_hr_cost(t, k);
        }
        prev[k] = NONE;
        nxt[k] = head;
        if (head != NONE)
            prev[head] = k;
        head = k;
        if (tail == NONE)
            tail = k;
        while (used > budget) {
            uint32_t v = tail;

            tail = prev[v];
            if (tail != NONE)
                nxt[tail] = NONE;
            else
                head = NONE;
            in[v] = 0;
            used -= rc_hr_cost(t, v);
        }
    }
    rv = 0;
out:
    free(prev);
    free(nxt);
    free(in);
    return rv;
}

/* ---- a policy of common/evict.c over the trace ---- */

struct sim {
    const struct rc_hr_trace *t;
    uint32_t overhead;          /* bytes charged per entry besides its cost */
    uint64_t seed;              /* of sim_hash */
    struct rc_evict_node *node; /* per id */
    uint32_t *dense;            /* ids inserted, in any order */
    uint32_t *pos;              /* id -> its index in dense */
    uint32_t ndense;
};

/* Consecutive ids of the dense array from a random index: a uniform
 * position, then the next ones, as the memory engine's bucket walk. */
static size_t sim_sample(void *arg, uint64_t rnd, struct rc_evict_node **out, size_t max)
{
    struct sim *s = arg;
    size_t i, p;

    if (s->ndense == 0)
        return 0;
    p = (size_t)(rnd % s->ndense);
    for (i = 0; i < max && i < s->ndense; i++)
        out[i] = &s->node[s->dense[(p + i) % s->ndense]];
    return i;
}

static int64_t sim_expires(void *arg, const struct rc_evict_node *n)
{
    (void)arg;
    (void)n;
    return 0;
}

static uint64_t sim_hash(uint64_t seed, uint32_t id)
{
    uint64_t s = seed ^ ((uint64_t)id << 16);

    return splitmix64(&s);
}

/* rc_evict_charge_fn: an id's cost plus the per-entry overhead (fixed
 * while it is cached, as evict.h asks). */
static uint32_t sim_charge_of(const struct sim *s, uint32_t id)
{
    uint64_t c = rc_hr_cost(s->t, id) + s->overhead;

    return c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
}

static uint32_t sim_charge(void *arg, const struct rc_evict_node *n)
{
    const struct sim *s = arg;

    return sim_charge_of(s, (uint32_t)(n - s->node));
}

static uint64_t sim_node_hash(void *arg, const struct rc_evict_node *n)
{
    const struct sim *s = arg;

    return sim_hash(s->seed, (uint32_t)(n - s->node));
}

/* Evicts until charge more bytes fit in budget (or nothing is left). */
static void sim_make_room(struct sim *s, struct rc_evict *ev, uint64_t *used, uint64_t charge,
                          uint64_t budget)
{
    struct rc_evict_node *v;

    while (*used + charge > budget && (v = rc_evict_victim(ev)) != NULL) {
        uint32_t id = (uint32_t)(v - s->node), last = s->dense[--s->ndense];

        *used -= sim_charge_of(s, id);
        s->dense[s->pos[id]] = last;
        s->pos[last] = s->pos[id];
        s->pos[id] = NONE;
    }
}

int rc_hr_policy(const struct rc_hr_trace *t, uint64_t budget, int policy, uint32_t overhead,
                 uint64_t seed, uint64_t *hits)
{
    struct sim s = {t, overhead, seed, NULL, NULL, NULL, 0};
    struct rc_evict_opts o = {policy,    budget,     seed,          sim_sample,
                              sim_expires, sim_charge, sim_node_hash, &s};
    struct rc_evict *ev = NULL;
    uint64_t used = 0, charge;
    uint32_t i, k;
    int rv;

    *hits = 0;
    if (!rc_evict_policy_evicts(policy) || policy == RC_EVICT_VOLATILE_LRU ||
        policy == RC_EVICT_VOLATILE_LFU || policy == RC_EVICT_VOLATILE_TTL ||
        policy == RC_EVICT_VOLATILE_RANDOM)
        return RC_EINVAL;
    s.node = calloc(t->ids ? t->ids : 1, sizeof(*s.node));
    s.dense = malloc((size_t)(t->ids ? t->ids : 1) * sizeof(*s.dense));
    s.pos = malloc((size_t)(t->ids ? t->ids : 1) * sizeof(*s.pos));
    rv = RC_ENOMEM;
    if (s.node == NULL || s.dense == NULL || s.pos == NULL || (rv = rc_evict_new(&o, &ev)) < 0)
        goto out;
    memset(s.pos, 0xff, (size_t)t->ids * sizeof(*s.pos));
    for (i = 0; i < t->len; i++) {
        k = t->key[i];
        if (s.pos[k] != NONE) {
            (*hits)++;
            rc_evict_hit(ev, &s.node[k], sim_hash(seed, k));
            continue;
        }
        rc_evict_miss(ev, sim_hash(seed, k));
        charge = sim_charge_of(&s, k);
        sim_make_room(&s, ev, &used, charge, budget);
        rc_evict_insert(ev, &s.node[k], 0);
        used += charge;
        s.pos[k] = s.ndense;
        s.dense[s.ndense++] = k;
    }
    rv = 0;
out:
    rc_evict_free(ev);
    free(s.node);
    free(s.dense);
    free(s.pos);
    return rv;
}
