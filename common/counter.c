/*
 * counter.c - the convergent counter of counter.h: parsing a base, applying
 * an actor's increment, the join of two states, rendering and the
 * canonical encoding (components sorted by actor, so two equal states
 * encode to the same bytes).
 */
#include "counter.h"

#include "err.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT 1
#define FLAG_FLOAT 1u

/* Redis refuses float text this long (MAX_LONG_DOUBLE_CHARS). */
#define FLOAT_TEXT_MAX 5120

void rc_counter_init(struct rc_counter *c, uint64_t base_hlc, uint64_t base_node)
{
    c->base_int = 0;
    c->base_flt = 0;
    c->base_is_float = 0;
    c->base_hlc = base_hlc;
    c->base_node = base_node;
    c->n = 0;
}

int rc_counter_parse_int(const uint8_t *text, size_t len, int64_t *out)
{
    uint64_t v = 0, lim;
    size_t i = 0;
    int neg = 0;

    if (len == 0 || len > 20)
        return RC_ENOT_INTEGER;
    if (len == 1 && text[0] == '0') {
        *out = 0;
        return 0;
    }
    if (text[0] == '-') {
        neg = 1;
        i = 1;
    }
    /* string2ll: no '+', no leading zero, digits only. */
    if (i == len || text[i] < '1' || text[i] > '9')
        return RC_ENOT_INTEGER;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return RC_ENOT_INTEGER;
        if (v > (lim - (uint64_t)(text[i] - '0')) / 10)
            return RC_ENOT_INTEGER;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int rc_counter_parse_float(const uint8_t *text, size_t len, double *out)
{
    char buf[FLOAT_TEXT_MAX + 1], *end;
    double v;

    if (len == 0 || len > FLOAT_TEXT_MAX || isspace(text[0]) || memchr(text, 0, len) != NULL)
        return RC_ENOT_FLOAT;
    memcpy(buf, text, len);
    buf[len] = '\0';
    errno = 0;
    v = strtod(buf, &end);
    if (end != buf + len || isnan(v) || (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL)))
        return RC_ENOT_FLOAT;
    *out = v;
    return 0;
}

int rc_counter_from_text(struct rc_counter *c, const uint8_t *text, size_t len, int as_float,
                         uint64_t hlc, uint64_t node)
{
    int64_t i;
    double d;

    rc_counter_init(c, hlc, node);
    if (rc_counter_parse_int(text, len, &i) == 0) {
        c->base_int = i;
        return 0;
    }
    if (!as_float)
        return RC_ENOT_INTEGER;
    if (rc_counter_parse_float(text, len, &d) < 0)
        return RC_ENOT_FLOAT;
    c->base_flt = d;
    c->base_is_float = 1;
    return 0;
}

int rc_counter_is_float(const struct rc_counter *c)
{
    uint32_t i;

    if (c->base_is_float)
        return 1;
    for (i = 0; i < c->n; i++)
        if (c->comp[i].flt)
            return 1;
    return 0;
}

/* The integer part: base_int plus every isum, or RC_EOVERFLOW. */
static int int_total(const struct rc_counter *c, int64_t *out)
{
    int64_t t = c->base_int;
    uint32_t i;

    for (i = 0; i < c->n; i++)
        if (__builtin_add_overflow(t, c->comp[i].isum, &t))
            return RC_EOVERFLOW;
    *out = t;
    return 0;
}

/* The value of a float counter, summed in actor order so every replica
 * holding the same state computes the same double. */
static int float_total(const struct rc_counter *c, double *out)
{
    int64_t it;
    double t;
    uint32_t i;
    int err = int_total(c, &it);

    if (err < 0)
        return err;
    t = (double)it + c->base_flt;
    for (i = 0; i < c->n; i++)
        t += c->comp[i].fsum;
    *out = t;
    return 0;
}

int rc_counter_value_int(const struct rc_counter *c, int64_t *out)
{
    double d;
    int err;

    if (!rc_counter_is_float(c))
        return int_total(c, out);
    err = float_total(c, &d);
    if (err < 0)
        return err;
    /* What Redis does with the text: an integral float in range reads as
     * an integer (2^63 itself does not fit). */
    if (!isfinite(d) || d != floor(d) || d < -9223372036854775808.0 ||
        d >= 9223372036854775808.0)
        return RC_ENOT_INTEGER;
    *out = (int64_t)d;
    return 0;
}

/* Index of actor's component, or where it would go (sorted). */
static uint32_t find_actor(const struct rc_counter *c, uint64_t actor, int *found)
{
    uint32_t lo = 0, hi = c->n;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (c->comp[mid].actor < actor)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < c->n && c->comp[lo].actor == actor;
    return lo;
}

/* The actor's component, inserted empty (seq 0) if new; NULL when full. */
static struct rc_counter_comp *actor_comp(struct rc_counter *c, uint64_t actor)
{
    int found;
    uint32_t i = find_actor(c, actor, &found);

    if (found)
        return &c->comp[i];
    if (c->n >= RC_COUNTER_MAX_ACTORS)
        return NULL;
    memmove(&c->comp[i + 1], &c->comp[i], (c->n - i) * sizeof(c->comp[0]));
    c->n++;
    memset(&c->comp[i], 0, sizeof(c->comp[i]));
    c->comp[i].actor = actor;
    return &c->comp[i];
}

/* Removes a component actor_comp just inserted (an increment refused). */
static void drop_new(struct rc_counter *c, struct rc_counter_comp *p)
{
    uint32_t i = (uint32_t)(p - c->comp);

    memmove(&c->comp[i], &c->comp[i + 1], (c->n - i - 1) * sizeof(c->comp[0]));
    c->n--;
}

int rc_counter_incr(struct rc_counter *c, uint64_t actor, int64_t delta)
{
    struct rc_counter_comp *p;
    int64_t v, sum, nv;
    int err = rc_counter_value_int(c, &v);

    if (err < 0)
        return err;
    if (__builtin_add_overflow(v, delta, &nv))
        return RC_EOVERFLOW;
    p = actor_comp(c, actor);
    if (p == NULL)
        return RC_ECOUNTER_FULL;
    if (__builtin_add_overflow(p->isum, delta, &sum) || p->seq == UINT64_MAX) {
        if (p->seq == 0)
            drop_new(c, p);
        return RC_EOVERFLOW;
    }
    /* The other sums of the new state must still add up in int64: the
     * value did not overflow, but a float counter's integer part might. */
    p->isum = sum;
    if (int_total(c, &v) < 0) {
        p->isum -= delta;
        if (p->seq == 0)
            drop_new(c, p);
        return RC_EOVERFLOW;
    }
    p->seq++;
    return 0;
}

int rc_counter_incr_float(struct rc_counter *c, uint64_t actor, double delta)
{
    struct rc_counter_comp *p;
    double v;
    int err;

    if (!isfinite(delta))
        return RC_ENOT_FLOAT;
    err = float_total(c, &v);
    if (err < 0)
        return err;
    if (!isfinite(v + delta))
        return RC_EOVERFLOW;
    p = actor_comp(c, actor);
    if (p == NULL)
        return RC_ECOUNTER_FULL;
    if (p->seq == UINT64_MAX || !isfinite(p->fsum + delta)) {
        if (p->seq == 0)
            drop_new(c, p);
        return RC_EOVERFLOW;
    }
    p->fsum += delta;
    p->flt = 1;
    p->seq++;
    return 0;
}

static int base_cmp(const struct rc_counter *a, const struct rc_counter *b)
{
    if (a->base_hlc != b->base_hlc)
        return a->base_hlc < b->base_hlc ? -1 : 1;
    if (a->base_node != b->base_node)
        return a->base_node < b->base_node ? -1 : 1;
    /* Same version, different text cannot happen between honest nodes;
     * order it anyway so the merge stays a join. */
    if (a->base_int != b->base_int)
        return a->base_int < b->base_int ? -1 : 1;
    if (a->base_is_float != b->base_is_float)
        return a->base_is_float < b->base_is_float ? -1 : 1;
    return memcmp(&a->base_flt, &b->base_flt, sizeof(double));
}

/* Total order on two components of one actor: seq first; the rest only
 * breaks ties that honest actors never make (the same seq twice). */
static int comp_cmp(const struct rc_counter_comp *a, const struct rc_counter_comp *b)
{
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    if (a->isum != b->isum)
        return a->isum < b->isum ? -1 : 1;
    if (a->flt != b->flt)
        return a->flt < b->flt ? -1 : 1;
    return memcmp(&a->fsum, &b->fsum, sizeof(double));
}

int rc_counter_merge(const struct rc_counter *a, const struct rc_counter *b,
                     struct rc_counter *out)
{
    static const size_t hdr = offsetof(struct rc_counter, comp);
    struct rc_counter_comp tmp[RC_COUNTER_MAX_ACTORS];
    uint32_t i = 0, j = 0, n = 0;
    int c = base_cmp(a, b);

    if (c != 0) {
        const struct rc_counter *w = c > 0 ? a : b;

        if (w != out) {
            memcpy(out, w, hdr);
            memcpy(out->comp, w->comp, w->n * sizeof(w->comp[0]));
        }
        return 0;
    }
    while (i < a->n || j < b->n) {
        if (n == RC_COUNTER_MAX_ACTORS)
            return RC_ECOUNTER_FULL;
        if (j == b->n || (i < a->n && a->comp[i].actor < b->comp[j].actor)) {
            tmp[n++] = a->comp[i++];
        } else if (i == a->n || b->comp[j].actor < a->comp[i].actor) {
            tmp[n++] = b->comp[j++];
        } else {
            tmp[n++] = comp_cmp(&a->comp[i], &b->comp[j]) >= 0 ? a->comp[i] : b->comp[j];
            i++;
            j++;
        }
    }
    if (a != out)
        memcpy(out, a, hdr);
    out->n = n;
    memcpy(out->comp, tmp, n * sizeof(tmp[0]));
    return 0;
}

int rc_counter_reconcile(const struct rc_counter *stored, const struct rc_counter *in,
                         int in_newer, struct rc_counter *join)
{
    int err = rc_counter_merge(stored, in, join);

    if (err < 0)
        return err;
    if (rc_counter_equal(join, in) && in_newer)
        return RC_COUNTER_ADOPT;
    if (rc_counter_equal(join, stored))
        return RC_COUNTER_KEEP;
    return RC_COUNTER_JOIN;
}

int rc_counter_equal(const struct rc_counter *a, const struct rc_counter *b)
{
    uint32_t i;

    if (base_cmp(a, b) != 0 || a->n != b->n)
        return 0;
    for (i = 0; i < a->n; i++)
        if (a->comp[i].actor != b->comp[i].actor || comp_cmp(&a->comp[i], &b->comp[i]) != 0)
            return 0;
    return 1;
}

/* A double as Redis's INCRBYFLOAT shows it (ld2string, LD_STR_HUMAN):
 * positional notation, no trailing zeros. Redis computes in long double
 * and prints 17 digits; a double printed with the fewest digits that read
 * back the same gives the same text for the values people add (10.5,
 * 0.1 + 0.2 = "0.30000000000000004" being the one honest difference). */
static size_t render_double(double d, char *buf, size_t cap)
{
    char e[64];
    int p, exp10, dec, len;
    char *dot;

    if (d == 0)
        d = 0; /* -0 reads "0" in Redis */
    for (p = 1; p <= 17; p++) {
        snprintf(e, sizeof(e), "%.*e", p - 1, d);
        if (strtod(e, NULL) == d)
            break;
    }
    if (p > 17)
        p = 17;
    exp10 = atoi(strchr(e, 'e') + 1);
    dec = p - 1 - exp10;
    if (dec < 0)
        dec = 0;
    len = snprintf(buf, cap, "%.*f", dec, d);
    if (len < 0 || (size_t)len >= cap) {
        len = snprintf(buf, cap, "%.17g", d);
        return len < 0 ? 0 : (size_t)len;
    }
    dot = strchr(buf, '.');
    if (dot != NULL) {
        while (len > 0 && buf[len - 1] == '0')
            buf[--len] = '\0';
        if (buf[len - 1] == '.')
            buf[--len] = '\0';
    }
    return (size_t)len;
}

size_t rc_counter_render(const struct rc_counter *c, char *buf, size_t cap)
{
    int64_t v;
    double d;
    int len;

    if (!rc_counter_is_float(c)) {
        if (int_total(c, &v) < 0)
            v = 0; /* increments refuse to overflow; a forged state reads 0 */
        len = snprintf(buf, cap, "%lld", (long long)v);
        return len < 0 ? 0 : (size_t)len;
    }
    if (float_total(c, &d) < 0)
        d = 0;
    return render_double(d, buf, cap);
}

static void put64(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;

    for (i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t dbits(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bitsd(uint64_t u)
{
    double d;

    memcpy(&d, &u, sizeof(d));
    return d;
}

int rc_counter_encode(const struct rc_counter *c, uint8_t *buf, size_t cap)
{
    size_t need = RC_COUNTER_HDR_LEN + (size_t)c->n * RC_COUNTER_COMP_LEN;
    uint8_t *p = buf;
    uint32_t i;

    if (cap < need || c->n > RC_COUNTER_MAX_ACTORS)
        return RC_EINVAL;
    p[0] = FORMAT;
    p[1] = c->base_is_float ? FLAG_FLOAT : 0;
    p[2] = (uint8_t)c->n;
    p[3] = (uint8_t)(c->n >> 8);
    put64(p + 4, (uint64_t)c->base_int);
    put64(p + 12, dbits(c->base_flt));
    put64(p + 20, c->base_hlc);
    put64(p + 28, c->base_node);
    p += RC_COUNTER_HDR_LEN;
    for (i = 0; i < c->n; i++, p += RC_COUNTER_COMP_LEN) {
        put64(p, c->comp[i].actor);
        put64(p + 8, c->comp[i].seq);
        put64(p + 16, (uint64_t)c->comp[i].isum);
        put64(p + 24, dbits(c->comp[i].fsum));
        p[32] = c->comp[i].flt ? FLAG_FLOAT : 0;
    }
    return (int)need;
}

int rc_counter_decode(const uint8_t *buf, size_t len, struct rc_counter *c)
{
    const uint8_t *p;
    uint32_t n, i;

    if (len < RC_COUNTER_HDR_LEN || buf[0] != FORMAT || (buf[1] & ~FLAG_FLOAT) != 0)
        return RC_EPROTO;
    n = (uint32_t)buf[2] | (uint32_t)buf[3] << 8;
    if (n > RC_COUNTER_MAX_ACTORS || len != RC_COUNTER_HDR_LEN + (size_t)n * RC_COUNTER_COMP_LEN)
        return RC_EPROTO;
    c->base_is_float = buf[1] & FLAG_FLOAT;
    c->base_int = (int64_t)get64(buf + 4);
    c->base_flt = bitsd(get64(buf + 12));
    c->base_hlc = get64(buf + 20);
    c->base_node = get64(buf + 28);
    if (!isfinite(c->base_flt))
        return RC_EPROTO;
    p = buf + RC_COUNTER_HDR_LEN;
    for (i = 0; i < n; i++, p += RC_COUNTER_COMP_LEN) {
        struct rc_counter_comp *k = &c->comp[i];

        k->actor = get64(p);
        k->seq = get64(p + 8);
        k->isum = (int64_t)get64(p + 16);
        k->fsum = bitsd(get64(p + 24));
        k->flt = p[32] & FLAG_FLOAT;
        /* Canonical: actors strictly increasing, every component used. */
        if ((p[32] & ~FLAG_FLOAT) != 0 || k->seq == 0 || !isfinite(k->fsum) ||
            (i > 0 && k->actor <= c->comp[i - 1].actor))
            return RC_EPROTO;
    }
    c->n = n;
    return 0;
}
