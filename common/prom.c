/*
 * prom.c - Prometheus text exposition writer (see prom.h).
 *
 * Format 0.0.4: "# HELP name text" with \ and newline escaped, "# TYPE
 * name type", then "name{label="value",...} value" lines, label values
 * with \, " and newline escaped.
 */
#include "prom.h"
#include "err.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rc_prom_init(struct rc_prom *p, struct rc_buf *out)
{
    p->out = out;
    p->err = 0;
}

static void put(struct rc_prom *p, const char *s, size_t n)
{
    if (p->err == 0)
        p->err = rc_buf_append(p->out, s, n);
}

static void puts_(struct rc_prom *p, const char *s)
{
    put(p, s, strlen(s));
}

/* s with the characters in special escaped: newline as \n, others as \c. */
static void put_escaped(struct rc_prom *p, const char *s, const char *special)
{
    const char *run = s;

    for (; *s; s++) {
        if (strchr(special, *s) == NULL)
            continue;
        put(p, run, (size_t)(s - run));
        put(p, *s == '\n' ? "\\n" : *s == '\\' ? "\\\\" : "\\\"", 2);
        run = s + 1;
    }
    put(p, run, (size_t)(s - run));
}

/* ---- names ----------------------------------------------------------------- */

static int append_tok(char *out, size_t cap, size_t *len, const char *tok, size_t n)
{
    if (*len + 1 + n + 1 > cap)
        return RC_EINVAL;
    out[(*len)++] = '_';
    memcpy(out + *len, tok, n);
    *len += n;
    out[*len] = '\0';
    return 0;
}

int rc_prom_name(const char *stat, enum rc_prom_type type, enum rc_prom_unit unit, char *out,
                 size_t cap)
{
    static const char prefix[] = "ringcache";
    int is_time = unit == RC_PROM_UNIT_MS || unit == RC_PROM_UNIT_S, has_bytes = 0, rv = 0;
    const char *p = stat, *end;
    size_t len = sizeof(prefix) - 1, n;

    if (cap > RC_PROM_NAME_MAX + 1)
        cap = RC_PROM_NAME_MAX + 1;
    if (*stat == '\0' || cap < sizeof(prefix))
        return RC_EINVAL;
    for (end = stat; *end; end++)
        if (!((*end >= 'a' && *end <= 'z') || (*end >= '0' && *end <= '9') || *end == '_'))
            return RC_EINVAL;
    memcpy(out, prefix, sizeof(prefix));
    while (rv == 0 && *p) {
        end = strchr(p, '_');
        n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0)
            return RC_EINVAL; /* "__" or a leading/trailing '_' */
        has_bytes |= n == 5 && memcmp(p, "bytes", 5) == 0;
        /* the time unit's abbreviation goes: it comes back as seconds */
        if (!(is_time && ((n == 2 && memcmp(p, "ms", 2) == 0) || (n == 1 && *p == 's'))))
            rv = append_tok(out, cap, &len, p, n);
        p += n + (end != NULL);
        if (end != NULL && *p == '\0')
            return RC_EINVAL;
    }
    if (rv == 0 && is_time)
        rv = append_tok(out, cap, &len, "seconds", 7);
    if (rv == 0 && unit == RC_PROM_UNIT_BYTES && !has_bytes)
        rv = append_tok(out, cap, &len, "bytes", 5);
    if (rv == 0 && type == RC_PROM_COUNTER &&
        !(len >= 6 && memcmp(out + len - 6, "_total", 6) == 0))
        rv = append_tok(out, cap, &len, "total", 5);
    return rv;
}

double rc_prom_scale(int64_t v, enum rc_prom_unit unit)
{
    return unit == RC_PROM_UNIT_MS ? (double)v / 1000.0 : (double)v;
}

/* ---- lines ----------------------------------------------------------------- */

static const char *type_name(enum rc_prom_type t)
{
    switch (t) {
    case RC_PROM_COUNTER: return "counter";
    case RC_PROM_GAUGE: return "gauge";
    case RC_PROM_HISTOGRAM: return "histogram";
    case RC_PROM_UNTYPED: break;
    }
    return "untyped";
}

void rc_prom_family(struct rc_prom *p, const char *name, const char *help, enum rc_prom_type type)
{
    puts_(p, "# HELP ");
    puts_(p, name);
    put(p, " ", 1);
    put_escaped(p, help, "\\\n");
    puts_(p, "\n# TYPE ");
    puts_(p, name);
    put(p, " ", 1);
    puts_(p, type_name(type));
    put(p, "\n", 1);
}

static void put_series(struct rc_prom *p, const char *name, const struct rc_prom_label *labels,
                       size_t n)
{
    size_t i;

    puts_(p, name);
    if (n == 0)
        return;
    put(p, "{", 1);
    for (i = 0; i < n; i++) {
        if (i)
            put(p, ",", 1);
        puts_(p, labels[i].name);
        put(p, "=\"", 2);
        put_escaped(p, labels[i].value, "\\\"\n");
        put(p, "\"", 1);
    }
    put(p, "}", 1);
}

void rc_prom_sample_int(struct rc_prom *p, const char *name, const struct rc_prom_label *labels,
                        size_t n, int64_t v)
{
    char num[32];

    put_series(p, name, labels, n);
    snprintf(num, sizeof(num), " %" PRId64 "\n", v);
    puts_(p, num);
}

static void format_double(char *num, size_t cap, double v)
{
    if (isnan(v))
        snprintf(num, cap, "NaN");
    else if (isinf(v))
        snprintf(num, cap, "%s", v > 0 ? "+Inf" : "-Inf");
    else if (snprintf(num, cap, "%.15g", v), strtod(num, NULL) != v)
        snprintf(num, cap, "%.17g", v); /* the shortest form that reads back the same */
}

void rc_prom_sample(struct rc_prom *p, const char *name, const struct rc_prom_label *labels,
                    size_t n, double v)
{
    char num[40];

    put_series(p, name, labels, n);
    format_double(num, sizeof(num), v);
    put(p, " ", 1);
    puts_(p, num);
    put(p, "\n", 1);
}

/* ns as seconds without exponent or trailing zeros: 50000 -> "0.00005". */
static void format_seconds(char *num, size_t cap, uint64_t ns)
{
    size_t len;

    snprintf(num, cap, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
    len = strlen(num);
    while (num[len - 1] == '0')
        num[--len] = '\0';
    if (num[len - 1] == '.')
        num[--len] = '\0';
}

void rc_prom_histogram(struct rc_prom *p, const char *name, const struct rc_prom_label *labels,
                       size_t n, const struct rc_lathist *h)
{
    struct rc_prom_label l[8];
    char series[RC_PROM_NAME_MAX + 16], le[32];
    size_t i;

    if (n > 7 || strlen(name) > RC_PROM_NAME_MAX) {
        if (p->err == 0)
            p->err = RC_EINVAL;
        return;
    }
    memcpy(l, labels, n * sizeof(*l));
    l[n].name = "le";
    l[n].value = le;
    snprintf(series, sizeof(series), "%s_bucket", name);
    for (i = 0; i <= RC_LATHIST_NBOUNDS; i++) {
        if (i < RC_LATHIST_NBOUNDS)
            format_seconds(le, sizeof(le), rc_lathist_bounds_ns[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        rc_prom_sample_int(p, series, l, n + 1, (int64_t)rc_lathist_cumulative(h, i));
    }
    snprintf(series, sizeof(series), "%s_sum", name);
    rc_prom_sample(p, series, labels, n, (double)h->sum_ns / 1e9);
    snprintf(series, sizeof(series), "%s_count", name);
    rc_prom_sample_int(p, series, labels, n, (int64_t)h->count);
}
