/*
 * cli_views_int.h - what the cli_views*.c files share: a MEMBERS or RING
 * document decoded into fixed-size structs, and the JSON and field-table
 * helpers. Internal to ringcache-cli's views; cli_views.h is the contract
 * cli.c uses.
 */
#ifndef RC_CLI_VIEWS_INT_H
#define RC_CLI_VIEWS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "cli_views.h"
#include "mpdoc.h"

/* msgpack-c zone chunk: one chunk holds a small cluster's document. */
#define ZONE_CHUNK (64u << 10)

/* Field tables, briefly: VF(struct, "key", KIND, member, max). */
#define VF(type, name, kind, field, max) RC_MPDOC_FIELD(type, name, RC_MPDOC_##kind, field, max)
#define VF_STR(type, name, kind, field) RC_MPDOC_STR(type, name, RC_MPDOC_##kind, field)
#define VF_OPT(type, name, kind, field, max) RC_MPDOC_OPT(type, name, RC_MPDOC_##kind, field, max)
#define VF_OPT_STR(type, name, kind, field) RC_MPDOC_OPT_STR(type, name, RC_MPDOC_##kind, field)
#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* A member's memory budget and reads, from its STATS (issue 15); -1:
 * unknown (unreachable, or a server without them). */
struct view_mem {
    int64_t used, max, evicted, hits, misses;
};

void cli_views_mem_init(struct view_mem *vm);
/* Takes the figures a STATS result has (the others stay as they were). */
void cli_views_mem_take(struct view_mem *vm, const struct rc_result *res);
/* Memory used of the budget, "12.3M/64.0M" ("12.3M/none" without one),
 * "-" when unknown. */
void cli_views_fmt_mem(const struct view_mem *vm, char *buf, size_t len);
/* The figures as JSON members (", \"used_memory\": ..."), members and watch alike. */
void cli_views_json_mem(const struct view_mem *vm);
/* hits / (hits + misses) as "93.1%", "-" when unknown or no reads. */
void cli_views_fmt_ratio(int64_t hits, int64_t misses, char *buf, size_t len);

struct view_member {
    char id[17];
    char host[256];
    char addr[272]; /* host:port, or [host]:port for an IPv6 literal */
    char state[16];
    uint64_t port, peer_port, incarnation, vnodes;
    double primary, replica;
    int self;
    int64_t keys; /* STATS "keys" of the member, -1 when unknown */
    struct view_mem mem; /* its memory and reads (members only) */
    int has_offset;    /* MEMBERS "clock_offset_ms" was a number */
    int64_t offset_ms; /* its clock minus the answering node's */
};

struct view {
    uint64_t rf, vnodes;
    double max_over_mean;
    const msgpack_object *list; /* the member array while decoding */
    struct view_member *m;
    size_t n;
};

/* , "name": v on stdout, with null for an unknown (negative) count or a
 * NULL string. */
void cli_views_json_count(const char *name, int64_t v);
void cli_views_json_text(const char *name, const char *v);

/* 1 when host only has the characters gossip allows in an advertised host
 * (common/swim.h), so it may be dialed. */
int cli_views_dialable(const char *host);

/* Decodes a MEMBERS or RING (op) document p[0..len) into v, sorted by
 * host:port. v->m is the caller's to free; NULL on error, with err saying
 * what was wrong. 0, RC_EPROTO or RC_ENOMEM. */
int cli_views_decode(int op, const uint8_t *p, size_t len, struct view *v, char *err,
                     size_t errlen);

#endif
