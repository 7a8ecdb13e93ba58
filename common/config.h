/*
 * config.h - table-driven command-line and environment options.
 *
 * A program describes its options once, in a table: flag name, environment
 * twin, type, default, limits and help text. rc_config_parse() fills a
 * caller-owned struct from defaults, then the environment, then flags (later
 * wins); rc_config_usage() prints --help from the same table, so help, env
 * names and defaults cannot drift apart.
 */
#ifndef RC_CONFIG_H
#define RC_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum rc_opt_type {
    RC_OPT_STR,  /* const char * field; points into argv/environ/default */
    RC_OPT_INT,  /* int64_t field, decimal, with optional k/m/g suffix (x1024) */
    RC_OPT_BOOL, /* int field; flag alone means 1; env/flag value 0/1/true/false */
};

struct rc_opt {
    const char *name;  /* "port" for --port */
    const char *env;   /* "RINGCACHE_PORT" */
    enum rc_opt_type type;
    const char *def;   /* default as text; NULL = empty string / 0 */
    int64_t min, max;  /* bounds for RC_OPT_INT */
    size_t offset;     /* offsetof(the config struct, field) */
    const char *help;
};

/*
 * Parses argv[1..] (flags "--name value", "--name=value") into cfg.
 * Non-flag arguments are left in argv order in *rest / *nrest when rest is
 * not NULL (otherwise they are an error). Returns 0, 1 when --help was
 * given, or RC_EINVAL with a one-line message in err.
 */
int rc_config_parse(const struct rc_opt *opts, size_t nopts, void *cfg, int argc, char **argv,
                    char **rest, int *nrest, char *err, size_t errlen);

/* Prints one block per option: flag, env twin, default, help. */
void rc_config_usage(const struct rc_opt *opts, size_t nopts, FILE *out);

/*
 * Splits "host:port", "host", "[v6]:port", "[v6]" or a bare IPv6 address
 * into host and port (default_port when none is given). The port must be
 * 1-65535. 0, or RC_EINVAL (also when host or port do not fit).
 */
int rc_config_split_addr(const char *addr, const char *default_port, char *host, size_t hostlen,
                         char *port, size_t portlen);

/* Parses an integer with optional k/m/g suffix; 0 or RC_EINVAL. */
int rc_config_parse_int(const char *s, int64_t *out);

#endif
