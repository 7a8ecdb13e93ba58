/*
 * prom.h - the Prometheus text exposition format (0.0.4), written into a
 * capped buffer.
 *
 * Pure: server/metrics.c gathers the figures and serves the bytes. The
 * writer keeps the first error (buffer full, a bad name) and ignores
 * every later call, so a caller writes a whole page and checks once; a
 * page that hit the cap is never served truncated. Metric names are made
 * here from STATS names (rc_prom_name), so the units and suffixes follow
 * one rule: base units (seconds, bytes), `_total` on counters.
 */
#ifndef RC_PROM_H
#define RC_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "lathist.h"

enum rc_prom_type { RC_PROM_UNTYPED, RC_PROM_COUNTER, RC_PROM_GAUGE, RC_PROM_HISTOGRAM };

/* The unit a figure is kept in; ms and s become seconds. */
enum rc_prom_unit { RC_PROM_UNIT_NONE, RC_PROM_UNIT_BYTES, RC_PROM_UNIT_MS, RC_PROM_UNIT_S };

/* Longest metric name made here (Prometheus sets no limit; ours are short). */
#define RC_PROM_NAME_MAX 128

struct rc_prom_label {
    const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]* */
    const char *value; /* any bytes but NUL: escaped */
};

struct rc_prom {
    struct rc_buf *out; /* borrowed; its cap bounds the page */
    int err;            /* the first error, 0 while all went well */
};

/* Writes into out (appending). */
void rc_prom_init(struct rc_prom *p, struct rc_buf *out);

/*
 * The metric name for a STATS figure: "ringcache_" + stat, with a `_ms` or
 * `_s` token dropped and `_seconds` added for time units, `_bytes` added
 * for byte figures whose name does not say bytes, `_total` added to
 * counters that do not end in it. E.g. uptime_s -> ringcache_uptime_seconds,
 * wb_flush_ms_max -> ringcache_wb_flush_max_seconds, maxmemory ->
 * ringcache_maxmemory_bytes, ops_get (counter) -> ringcache_ops_get_total.
 * 0, or RC_EINVAL (empty, a character outside [a-z0-9_], or too long for
 * cap, which is at most RC_PROM_NAME_MAX + 1).
 */
int rc_prom_name(const char *stat, enum rc_prom_type type, enum rc_prom_unit unit, char *out,
                 size_t cap);

/* A figure kept in unit as Prometheus wants it (ms -> s). */
double rc_prom_scale(int64_t v, enum rc_prom_unit unit);

/* "# HELP name help" (help escaped) and "# TYPE name type". */
void rc_prom_family(struct rc_prom *p, const char *name, const char *help, enum rc_prom_type type);

/* One sample line: name, the labels (n may be 0), the value. The integer
 * form prints exactly; the double form as %.15g, or %.17g when that is
 * needed to read back the same value (NaN/Inf as Prometheus spells them). */
void rc_prom_sample_int(struct rc_prom *p, const char *name, const struct rc_prom_label *labels,
                        size_t n, int64_t v);
void rc_prom_sample(struct rc_prom *p, const char *name, const struct rc_prom_label *labels,
                    size_t n, double v);

/* A histogram's samples (after its family): name_bucket per bound with le
 * in seconds plus +Inf, cumulative, then name_sum (seconds) and
 * name_count; labels (n at most 7) on each, le last. */
void rc_prom_histogram(struct rc_prom *p, const char *name, const struct rc_prom_label *labels,
                       size_t n, const struct rc_lathist *h);

#endif
