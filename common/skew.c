/*
 * skew.c - clock offsets between members (see skew.h).
 *
 * A flat table searched linearly: it holds one entry per member heard
 * (a handful; at most the member cap), and lookups happen a few times a
 * second, not per request.
 */
#include "skew.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

int rc_skew_init(struct rc_skew *k, uint32_t cap)
{
    memset(k, 0, sizeof(*k));
    if (cap == 0)
        return RC_EINVAL;
    k->m = calloc(cap, sizeof(*k->m));
    k->scratch = calloc((size_t)cap + 1, sizeof(*k->scratch));
    if (k->m == NULL || k->scratch == NULL) {
        rc_skew_close(k);
        return RC_ENOMEM;
    }
    k->cap = cap;
    return 0;
}

void rc_skew_close(struct rc_skew *k)
{
    free(k->m);
    free(k->scratch);
    memset(k, 0, sizeof(*k));
}

int64_t rc_skew_offset_of(uint64_t t0, uint64_t t1, uint64_t t3)
{
    /* (t0 + t3) / 2 without overflow: t0 + (t3 - t0) / 2, signed in case
     * our clock stepped back between the two readings. */
    int64_t mid = (int64_t)t0 + ((int64_t)t3 - (int64_t)t0) / 2;

    return (int64_t)t1 - mid;
}

static int estimate(const struct rc_skew_member *m, uint64_t now_ms, int64_t *offset_ms);

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

static int find(const struct rc_skew *k, uint64_t id)
{
    uint32_t i;

    for (i = 0; i < k->n; i++)
        if (k->m[i].id == id)
            return (int)i;
    return -1;
}

/* A slot for id: a free one, else the one sampled least recently. */
static struct rc_skew_member *slot_for(struct rc_skew *k, uint64_t id)
{
    struct rc_skew_member *m;
    uint32_t i;

    if (k->n < k->cap) {
        m = &k->m[k->n++];
    } else {
        m = &k->m[0];
        for (i = 1; i < k->n; i++)
            if (k->m[i].last_ms < m->last_ms)
                m = &k->m[i];
    }
    memset(m, 0, sizeof(*m));
    m->id = id;
    return m;
}

void rc_skew_add(struct rc_skew *k, uint64_t id, int64_t offset_ms, uint32_t rtt_ms,
                 uint64_t now_ms)
{
    struct rc_skew_member *m;
    int64_t cur;
    int i;

    if (id == 0 || k->cap == 0)
        return;
    i = find(k, id);
    m = i >= 0 ? &k->m[i] : slot_for(k, id);
    if (rtt_ms != RC_SKEW_ONEWAY && estimate(m, now_ms, &cur) == 0 &&
        abs64(offset_ms - cur) > RC_SKEW_STEP_MS)
        m->n = m->next = 0; /* stepped: the old samples describe another clock */
    m->s[m->next] = (struct rc_skew_sample){offset_ms, rtt_ms, now_ms};
    m->next = (m->next + 1) % RC_SKEW_SAMPLES;
    if (m->n < RC_SKEW_SAMPLES)
        m->n++;
    m->last_ms = now_ms;
}

void rc_skew_forget(struct rc_skew *k, uint64_t id)
{
    int i = find(k, id);

    if (i < 0)
        return;
    k->m[i] = k->m[--k->n];
}

/* The estimate of one member: the offset of its shortest round trip
 * among the samples younger than the TTL. 0 or RC_ENOTFOUND. */
static int estimate(const struct rc_skew_member *m, uint64_t now_ms, int64_t *offset_ms)
{
    const struct rc_skew_sample *best = NULL;
    uint32_t i;

    for (i = 0; i < m->n; i++) {
        const struct rc_skew_sample *s = &m->s[i];

        if ((now_ms > s->at_ms && now_ms - s->at_ms > RC_SKEW_TTL_MS) ||
            m->last_ms - s->at_ms > RC_SKEW_SUPERSEDED_MS)
            continue;
        /* On a tie the newer sample wins: the clock may have been stepped. */
        if (best == NULL || s->rtt_ms < best->rtt_ms ||
            (s->rtt_ms == best->rtt_ms && s->at_ms > best->at_ms))
            best = s;
    }
    if (best == NULL)
        return RC_ENOTFOUND;
    *offset_ms = best->offset_ms;
    return 0;
}

int rc_skew_get(const struct rc_skew *k, uint64_t id, uint64_t now_ms, int64_t *offset_ms)
{
    int i = find(k, id);

    return i < 0 ? RC_ENOTFOUND : estimate(&k->m[i], now_ms, offset_ms);
}

void rc_skew_vouch(struct rc_skew *k, uint64_t id, uint32_t clocks, uint64_t now_ms)
{
    int i = find(k, id);

    if (i < 0)
        return;
    k->m[i].clocks = clocks < 1 ? 1 : clocks > k->cap ? k->cap : clocks;
    k->m[i].clocks_ms = now_ms;
}

static uint32_t clocks_of(const struct rc_skew_member *m, uint64_t now_ms)
{
    if (m->clocks <= 1 || (now_ms > m->clocks_ms && now_ms - m->clocks_ms > RC_SKEW_TTL_MS))
        return 1;
    return m->clocks;
}

static int cmp_point(const void *a, const void *b)
{
    int64_t x = ((const struct rc_skew_point *)a)->offset_ms,
            y = ((const struct rc_skew_point *)b)->offset_ms;

    return x < y ? -1 : x > y;
}

/* The offset at position pos of the sorted points, each repeated clocks
 * times. */
static int64_t nth(const struct rc_skew_point *p, uint32_t n, uint64_t pos)
{
    uint32_t i;

    for (i = 0; i + 1 < n && pos >= p[i].clocks; i++)
        pos -= p[i].clocks;
    return p[i].offset_ms;
}

/* Weighted median; of two middle values, their mean (written so that it
 * cannot overflow). */
static int64_t median_of(struct rc_skew_point *p, uint32_t n)
{
    uint64_t total = 0;
    uint32_t i;
    int64_t lo, hi;

    qsort(p, n, sizeof(*p), cmp_point);
    for (i = 0; i < n; i++)
        total += p[i].clocks;
    hi = nth(p, n, total / 2);
    if (total % 2)
        return hi;
    lo = nth(p, n, total / 2 - 1);
    return lo + (hi - lo) / 2;
}

void rc_skew_summary(struct rc_skew *k, uint64_t now_ms, struct rc_skew_view *out)
{
    int64_t off, median, lo = 0, hi = 0;
    uint32_t i, n = 0;

    memset(out, 0, sizeof(*out));
    if (k->cap == 0)
        return;
    k->scratch[n++] = (struct rc_skew_point){0, 1}; /* our own clock */
    for (i = 0; i < k->n; i++) {
        if (estimate(&k->m[i], now_ms, &off) < 0)
            continue;
        if (out->npeers == 0 || off < lo)
            lo = off;
        if (out->npeers == 0 || off > hi)
            hi = off;
        out->npeers++;
        out->skewed += abs64(off) > RC_SKEW_WARN_MS;
        k->scratch[n++] = (struct rc_skew_point){off, clocks_of(&k->m[i], now_ms)};
    }
    if (out->npeers > 1) /* vouching only counts for a lone peer (skew.h) */
        for (i = 1; i < n; i++)
            k->scratch[i].clocks = 1;
    median = median_of(k->scratch, n);
    for (i = 0; i < n; i++)
        out->nclocks += k->scratch[i].clocks;
    out->ahead_ms = -median;
    out->spread_ms = hi - lo;
    for (i = 0; i < k->n; i++) {
        if (estimate(&k->m[i], now_ms, &off) < 0)
            continue;
        if (out->worst_id == 0 || abs64(off - median) > abs64(out->worst_ms)) {
            out->worst_id = k->m[i].id;
            out->worst_ms = off - median;
        }
    }
}
