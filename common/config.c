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
