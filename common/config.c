/*
 * config.c - table-driven options from flags and environment (see config.h).
 */
#include "config.h"
#include "err.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int rc_config_parse_int(const char *s, int64_t *out)
{
    char *end;
    long long v;
    int64_t mul = 1;

    if (s == NULL || *s == '\0')
        return RC_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s)
        return RC_EINVAL;
    if (*end != '\0') {
        switch (*end) {
        case 'k': case 'K': mul = 1024; break;
        case 'm': case 'M': mul = 1024 * 1024; break;
        case 'g': case 'G': mul = 1024 * 1024 * 1024; break;
        default: return RC_EINVAL;
        }
        if (end[1] != '\0' && !((end[1] == 'b' || end[1] == 'B') && end[2] == '\0'))
            return RC_EINVAL;
    }
    if (v > INT64_MAX / mul || v < INT64_MIN / mul)
        return RC_EINVAL;
    *out = (int64_t)v * mul;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    if (strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0) {
        *out = 1;
        return 0;
    }
    if (strcmp(s, "0") == 0 || strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0) {
        *out = 0;
        return 0;
    }
    return RC_EINVAL;
}

/* Stores text into the option's field. `from` names the source for errors. */
static int set_opt(const struct rc_opt *o, void *cfg, const char *text, const char *from, char *err,
                   size_t errlen)
{
    char *field = (char *)cfg + o->offset;
    int64_t v;
    int b;

    switch (o->type) {
    case RC_OPT_STR:
        *(const char **)field = text;
        return 0;
    case RC_OPT_BOOL:
        if (parse_bool(text, &b) < 0) {
            snprintf(err, errlen, "%s: expected true/false, got '%s'", from, text);
            return RC_EINVAL;
        }
        *(int *)field = b;
        return 0;
    case RC_OPT_INT:
        if (rc_config_parse_int(text, &v) < 0) {
            snprintf(err, errlen, "%s: expected an integer, got '%s'", from, text);
            return RC_EINVAL;
        }
        if (v < o->min || v > o->max) {
            snprintf(err, errlen, "%s: %lld is out of range [%lld, %lld]", from, (long long)v,
                     (long long)o->min, (long long)o->max);
            return RC_EINVAL;
        }
        *(int64_t *)field = v;
        return 0;
    }
    snprintf(err, errlen, "%s: bad option type", from);
    return RC_EINVAL;
}

static const struct rc_opt *find_opt(const struct rc_opt *opts, size_t nopts, const char *name,
                                     size_t len)
{
    size_t i;

    for (i = 0; i < nopts; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static int apply_defaults_and_env(const struct rc_opt *opts, size_t nopts, void *cfg, char *err,
                                  size_t errlen)
{
    char from[128];
    const char *env;
    size_t i;
    int rv;

    for (i = 0; i < nopts; i++) {
        const struct rc_opt *o = &opts[i];

        rv = set_opt(o, cfg, o->def ? o->def : (o->type == RC_OPT_STR ? "" : "0"), o->name, err,
                     errlen);
        if (rv < 0)
            return rv;
        env = o->env ? getenv(o->env) : NULL;
        if (env != NULL && *env != '\0') {
            snprintf(from, sizeof(from), "environment variable %s", o->env);
            rv = set_opt(o, cfg, env, from, err, errlen);
            if (rv < 0)
                return rv;
        }
    }
    return 0;
}

int rc_config_parse(const struct rc_opt *opts, size_t nopts, void *cfg, int argc, char **argv,
                    char **rest, int *nrest, char *err, size_t errlen)
{
    const struct rc_opt *o;
    char from[128];
    const char *arg, *eq, *val;
    int i, rv, n = 0;

    rv = apply_defaults_and_env(opts, nopts, cfg, err, errlen);
    if (rv < 0)
        return rv;
    for (i = 1; i < argc; i++) {
        arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (rest == NULL) {
                snprintf(err, errlen, "unexpected argument '%s'", arg);
                return RC_EINVAL;
            }
            rest[n++] = argv[i];
            continue;
        }
        arg += 2;
        eq = strchr(arg, '=');
        o = find_opt(opts, nopts, arg, eq ? (size_t)(eq - arg) : strlen(arg));
        if (o == NULL) {
            snprintf(err, errlen, "unknown option '%s' (see --help)", argv[i]);
            return RC_EINVAL;
        }
        if (eq != NULL) {
            val = eq + 1;
        } else if (o->type == RC_OPT_BOOL) {
            val = "1";
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            snprintf(err, errlen, "option --%s needs a value", o->name);
            return RC_EINVAL;
        }
        snprintf(from, sizeof(from), "--%s", o->name);
        rv = set_opt(o, cfg, val, from, err, errlen);
        if (rv < 0)
            return rv;
    }
    if (nrest != NULL)
        *nrest = n;
    return 0;
}

void rc_config_usage(const struct rc_opt *opts, size_t nopts, FILE *out)
{
    size_t i;

    for (i = 0; i < nopts; i++) {
        const struct rc_opt *o = &opts[i];
        const char *def = o->def ? o->def : "";

        fprintf(out, "  --%s%s\n", o->name, o->type == RC_OPT_BOOL ? "" : " VALUE");
        fprintf(out, "        %s\n", o->help);
        fprintf(out, "        env %s, default: %s\n", o->env ? o->env : "-",
                *def ? def : "(none)");
    }
}

static int parse_port(const char *s, char *port, size_t portlen)
{
    unsigned long v = 0;
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 5)
            return RC_EINVAL;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (i == 0 || v == 0 || v > 65535 || i >= portlen)
        return RC_EINVAL;
    memcpy(port, s, i + 1);
    return 0;
}

int rc_config_split_addr(const char *addr, const char *default_port, char *host, size_t hostlen,
                         char *port, size_t portlen)
{
    const char *h = addr, *end, *colon;
    size_t n;

    if (parse_port(default_port, port, portlen) < 0)
        return RC_EINVAL;
    if (addr[0] == '[') {
        h = addr + 1;
        end = strchr(h, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':'))
            return RC_EINVAL;
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        colon = strchr(addr, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL)
            colon = NULL; /* two colons: a bare IPv6 address */
        end = colon != NULL ? colon : addr + strlen(addr);
    }
    n = (size_t)(end - h);
    if (n == 0 || n >= hostlen)
        return RC_EINVAL;
    memcpy(host, h, n);
    host[n] = '\0';
    return colon != NULL ? parse_port(colon + 1, port, portlen) : 0;
}

/* ---- the memory budget --------------------------------------------------- */

int64_t rc_config_mem_default(int64_t cgroup_limit, int64_t phys_mem)
{
    int64_t avail = phys_mem > 0 ? phys_mem : 0, b;

    /* A cgroup v1 "no limit" is a huge number, above physical memory. */
    if (cgroup_limit > 0 && (avail == 0 || cgroup_limit < avail))
        avail = cgroup_limit;
    if (avail == 0)
        return RC_MEM_DEFAULT_FALLBACK;
    b = avail / 100 * RC_MEM_DEFAULT_PCT + avail % 100 * RC_MEM_DEFAULT_PCT / 100;
    return b > RC_MEM_MIN_BYTES ? b : RC_MEM_MIN_BYTES;
}

int64_t rc_config_mem_min(int in_memory, int64_t max_entry, int64_t page_cache)
{
    int64_t need = in_memory ? max_entry + RC_MEM_ENTRY_SLACK : page_cache;

    return need > RC_MEM_MIN_BYTES ? need : RC_MEM_MIN_BYTES;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Disk: the page cache and the read cache under the budget. */
static void plan_disk(const struct rc_mem_plan_in *in, struct rc_mem_plan *out)
{
    out->page_cache = in->page_cache;
    out->read_cache = in->read_cache;
    if (out->budget == 0)
        return;
    if (!out->defaulted) {
        out->read_cache = out->budget - out->page_cache; /* >= 0: checked */
        return;
    }
    out->page_cache = min64(out->page_cache, out->budget);
    out->read_cache = min64(out->read_cache, out->budget - out->page_cache);
}

int rc_config_mem_plan(const struct rc_mem_plan_in *in, struct rc_mem_plan *out, char *err,
                       size_t errlen)
{
    int64_t min = rc_config_mem_min(in->in_memory, in->max_entry, in->page_cache);
    const char *what = "--maxmemory";

    memset(out, 0, sizeof(*out));
    out->budget = in->maxmemory;
    if (out->budget < 0 && in->in_memory && in->max_db_size > 0) {
        /* Before --maxmemory, --max-db-size capped a memory store. */
        out->budget = in->max_db_size;
        what = "--max-db-size (the memory budget of ':memory:' without --maxmemory)";
    } else if (out->budget < 0) {
        out->budget = rc_config_mem_default(in->cgroup_limit, in->phys_mem);
        out->defaulted = 1;
        if (in->in_memory && out->budget < min)
            out->budget = min;
    }
    if (!out->defaulted && out->budget > 0 && out->budget < min) {
        snprintf(err, errlen,
                 "%s %lld is below the smallest budget this node can run with, %lld bytes (%s)",
                 what, (long long)out->budget, (long long)min,
                 in->in_memory ? "1 MiB, and the largest entry: --max-key-size + "
                                 "--max-value-size + 4 KiB"
                               : "1 MiB, and on disk SQLite's page cache, --cache-size, "
                                 "which the budget covers");
        return RC_EINVAL;
    }
    if (in->in_memory)
        out->store_mem = out->budget;
    else
        plan_disk(in, out);
    return 0;
}

int rc_config_parse_redis_mem(const char *s, size_t len, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t mul;
    } units[] = {{"", 1},       {"b", 1},          {"k", 1000},      {"kb", 1024},
                 {"m", 1000000}, {"mb", 1048576}, {"g", 1000000000}, {"gb", 1073741824}};
    uint64_t v = 0;
    size_t i = 0, u;

    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (v > (uint64_t)INT64_MAX / 10)
            return RC_EINVAL;
        v = v * 10 + (uint64_t)(s[i++] - '0');
    }
    if (i == 0 || v > (uint64_t)INT64_MAX)
        return RC_EINVAL;
    for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        if (strlen(units[u].unit) != len - i || strncasecmp(s + i, units[u].unit, len - i) != 0)
            continue;
        if (v > (uint64_t)(INT64_MAX / units[u].mul))
            return RC_EINVAL;
        *out = (int64_t)v * units[u].mul;
        return 0;
    }
    return RC_EINVAL;
}

void rc_config_human_bytes(int64_t bytes, char *buf, size_t len)
{
    double d = (double)bytes;

    /* Redis's bytesToHuman, up to gigabytes. */
    if (bytes < 1024)
        snprintf(buf, len, "%lldB", (long long)bytes);
    else if (bytes < 1024 * 1024)
        snprintf(buf, len, "%.2fK", d / 1024);
    else if (bytes < INT64_C(1024) * 1024 * 1024)
        snprintf(buf, len, "%.2fM", d / (1024 * 1024));
    else
        snprintf(buf, len, "%.2fG", d / (1024.0 * 1024 * 1024));
}
