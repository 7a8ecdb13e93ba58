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

/*
 * The memory budget (--maxmemory): what the node keeps of its data in
 * memory. Pure arithmetic over numbers the caller read (server/main.c
 * reads the cgroup limit and the machine's memory), so the rule is unit
 * tested.
 *
 * Default, when --maxmemory is not given: RC_MEM_DEFAULT_PCT % of the
 * memory the process may use, the cgroup limit when there is one below
 * physical memory, else physical memory. Half, not all: the budget counts
 * the data only, and the process also needs its connection buffers
 * (--out-buffer per client), hints (--max-hint-bytes), SQLite's own
 * allocations and the allocator's slack and fragmentation; a node that
 * may use all of its limit for data is the node the OOM killer takes.
 * When neither figure is known, RC_MEM_DEFAULT_FALLBACK.
 *
 * Smallest budget (RC_MEM_MIN_BYTES, and more, see rc_config_mem_min):
 * 1 MiB catches a unit typo (--maxmemory 64 meant as 64m), which would
 * give a node that evicts everything it is given; a memory store's budget
 * must also hold the largest entry the node accepts with its metadata
 * (RC_MEM_ENTRY_SLACK), or a write the node accepts could never be
 * stored. Not two: the benchmark's 1 % budgets (~1.1 MiB,
 * scripts/bench-hitratio.sh) run with the default 1 MiB value limit, and
 * a store at its budget evicts others to make room. On disk, the budget
 * holds SQLite's page cache whole.
 */
#define RC_MEM_DEFAULT_PCT 50
#define RC_MEM_DEFAULT_FALLBACK (INT64_C(512) << 20)
#define RC_MEM_MIN_BYTES (INT64_C(1) << 20)
/* An entry's metadata and its share of the index, generously: the memory
 * engine charges ~100 bytes per entry (common/memkv.c). */
#define RC_MEM_ENTRY_SLACK 4096

/* The default budget from the cgroup limit and physical memory in bytes
 * (0 = none or unknown). Never below RC_MEM_MIN_BYTES. */
int64_t rc_config_mem_default(int64_t cgroup_limit, int64_t phys_mem);

/* The smallest budget a node accepts: for a memory store whose largest
 * entry is max_entry bytes (key + value limits), or on disk with a page
 * cache of page_cache bytes (in_memory 0). */
int64_t rc_config_mem_min(int in_memory, int64_t max_entry, int64_t page_cache);

/* What the budget gives each consumer. */
struct rc_mem_plan_in {
    int64_t maxmemory;    /* bytes; 0 = no budget; < 0 = not given (default rule) */
    int in_memory;        /* the ":memory:" engine */
    int64_t cgroup_limit, phys_mem; /* for the default; 0 = none / unknown */
    int64_t max_entry;    /* --max-key-size + --max-value-size */
    int64_t page_cache;   /* --cache-size (disk) */
    int64_t read_cache;   /* --read-cache (disk) */
    int64_t max_db_size;  /* --max-db-size: with ":memory:", the budget when --maxmemory is not given */
};

struct rc_mem_plan {
    int64_t budget;     /* 0 = none */
    int defaulted;      /* 1: the default rule chose it */
    int64_t store_mem;  /* the memory store's max_mem_bytes (0 on disk) */
    int64_t page_cache; /* SQLite's page cache, bytes (disk) */
    int64_t read_cache; /* the read cache, bytes (disk; 0 = off) */
};

/*
 * Memory store: store_mem = the budget. Disk: the budget covers what the
 * node keeps in memory, SQLite's page cache and the read cache: a given
 * budget keeps the page cache (--cache-size) and gives the rest to the
 * read cache (--read-cache is not used); the default budget only bounds
 * them (each as given, shrunk to fit, the page cache first). No budget:
 * everything as given. Returns 0, or RC_EINVAL with a one-line reason in
 * err when a given budget is below rc_config_mem_min.
 */
int rc_config_mem_plan(const struct rc_mem_plan_in *in, struct rc_mem_plan *out, char *err,
                       size_t errlen);

/* Parses a byte count as Redis's CONFIG SET does: digits with an optional
 * unit b, k (1000), kb (1024), m, mb, g, gb, any case. 0 or RC_EINVAL. */
int rc_config_parse_redis_mem(const char *s, size_t len, int64_t *out);

/* Bytes as Redis's INFO shows them: "1023B", "1.50K", "4.00M", "2.00G". */
void rc_config_human_bytes(int64_t bytes, char *buf, size_t len);

#endif
