/*
 * cli_views.c - the cluster views of ringcache-cli: members, ring, watch.
 *
 * The documents nodes send (MEMBERS, RING, ACTIVITY) are read through
 * mpdoc.h: bounded on the raw bytes, then type and range checked into
 * fixed-size structs, so nothing a node sends is trusted. members and ring
 * print one view. watch polls the whole cluster (MEMBERS from one node,
 * ACTIVITY and STATS from every alive member on kept connections with
 * short timeouts) and redraws a terminal screen in place, or prints one
 * JSON line per change when stdout is not a terminal.
 */
#include "cli_views.h"

#include "err.h"
#include "mpdoc.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

/* Members accepted in one view: four times the gossip table's size
 * (RC_SWIM_MAX_MEMBERS), so no real cluster is refused; bounds the ~600
 * bytes kept per member. */
#define VIEW_MAX_MEMBERS 4096
/* Asking each member for its key count: a healthy node answers STATS in
 * about a millisecond, so 500 ms allows for a loaded one while a member
 * that is down or unreachable from here costs at most about a second
 * (connect, then request) rather than the 5 s default. */
#define PROBE_TIMEOUT_MS 500
/* A STATS reply holds at most 128 entries of < 300 bytes. */
#define PROBE_MAX_REPLY (256u << 10)
/* msgpack-c zone chunk: one chunk holds a small cluster's document. */
#define ZONE_CHUNK (64u << 10)
#define BAR_WIDTH 30

/* Field tables, briefly: VF(struct, "key", KIND, member, max). */
#define VF(type, name, kind, field, max) RC_MPDOC_FIELD(type, name, RC_MPDOC_##kind, field, max)
#define VF_STR(type, name, kind, field) RC_MPDOC_STR(type, name, RC_MPDOC_##kind, field)
#define VF_OPT(type, name, kind, field, max) RC_MPDOC_OPT(type, name, RC_MPDOC_##kind, field, max)
#define VF_OPT_STR(type, name, kind, field) RC_MPDOC_OPT_STR(type, name, RC_MPDOC_##kind, field)
#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- text ------------------------------------------------------------ */

/* Length of the well-formed UTF-8 sequence at p, or 0 if there is none. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
    size_t n, i;
    unsigned char lo = 0x80, hi = 0xBF;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        n = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        n = 3;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        n = 4;
    else
        return 0;
    /* Second-byte ranges that exclude overlong forms and surrogates. */
    if (p[0] == 0xE0)
        lo = 0xA0;
    else if (p[0] == 0xED)
        hi = 0x9F;
    else if (p[0] == 0xF0)
        lo = 0x90;
    else if (p[0] == 0xF4)
        hi = 0x8F;
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

void rc_cli_views_json_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s), n;

    fputc('"', f);
    while (left > 0) {
        n = utf8_len(p, left);
        if (n == 0) {
            fputs("\\ufffd", f);
            n = 1;
        } else if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p);
        } else if (*p < 0x20) {
            fprintf(f, "\\u%04x", *p);
        } else {
            fwrite(p, 1, n, f);
        }
        p += n;
        left -= n;
    }
    fputc('"', f);
}

/* , "name": v, with null for an unknown (negative) count or a NULL string. */
static void json_count(const char *name, int64_t v)
{
    if (v < 0)
        printf(", \"%s\": null", name);
    else
        printf(", \"%s\": %lld", name, (long long)v);
}

static void json_text(const char *name, const char *v)
{
    printf(", \"%s\": ", name);
    if (v != NULL)
        rc_cli_views_json_str(stdout, v);
    else
        fputs("null", stdout);
}

/* ---- members and ring ------------------------------------------------- */

/* Only hosts made of the characters gossip allows in an advertised host
 * (common/swim.h) are dialed. */
static int dialable(const char *host)
{
    int ch;

    for (; (ch = (unsigned char)*host) != '\0'; host++)
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == ':' || ch == '%' || ch == '_' || ch == '-'))
            return 0;
    return 1;
}

struct view_member {
    char id[17];
    char host[256];
    char addr[272]; /* host:port, or [host]:port for an IPv6 literal */
    char state[16];
    uint64_t port, peer_port, incarnation, vnodes;
    double primary, replica;
    int self;
    int64_t keys; /* STATS "keys" of the member, -1 when unknown */
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

static const struct rc_mpdoc_field member_fields[] = {
    VF_STR(view_member, "id", ID, id),
    VF_STR(view_member, "host", HOST, host),
    VF(view_member, "port", UINT, port, 65535),
    VF(view_member, "peer_port", UINT, peer_port, 65535),
    VF_STR(view_member, "state", STATE, state),
    VF(view_member, "incarnation", UINT, incarnation, UINT64_MAX),
    VF(view_member, "primary", UFLOAT, primary, 1),
    VF(view_member, "replica", UFLOAT, replica, 1),
    VF(view_member, "self", BOOL, self, 0),
};

static const struct rc_mpdoc_field ring_member_fields[] = {
    VF_STR(view_member, "id", ID, id),
    VF_STR(view_member, "host", HOST, host),
    VF(view_member, "port", UINT, port, 65535),
    VF(view_member, "vnodes", UINT, vnodes, 1u << 20),
    VF(view_member, "primary", UFLOAT, primary, 1),
    VF(view_member, "replica", UFLOAT, replica, 1),
};

static const struct rc_mpdoc_field ring_fields[] = {
    VF(view, "rf", UINT, rf, 1000),
    VF(view, "vnodes", UINT, vnodes, 1u << 20),
    VF(view, "max_over_mean", UFLOAT, max_over_mean, 1u << 20),
    VF(view, "members", ARRAY, list, 0),
};

static void member_addr(struct view_member *m)
{
    if (strchr(m->host, ':') != NULL)
        snprintf(m->addr, sizeof(m->addr), "[%s]:%u", m->host, (unsigned)m->port);
    else
        snprintf(m->addr, sizeof(m->addr), "%s:%u", m->host, (unsigned)m->port);
}

static int member_cmp(const void *a, const void *b)
{
    const struct view_member *x = a, *y = b;
    int c = strcmp(x->host, y->host);

    if (c != 0)
        return c;
    return x->port < y->port ? -1 : x->port > y->port;
}

/* MEMBERS "clock_offset_ms": an integer, nil when the answering node has
 * no estimate, absent from older servers; so not one of member_fields
 * (which are all required). 1 with *off set when it is a number. */
static int member_offset(const msgpack_object *map, int64_t *off)
{
    uint32_t i;

    if (map->type != MSGPACK_OBJECT_MAP)
        return 0;
    for (i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key, *v = &map->via.map.ptr[i].val;

        if (k->type != MSGPACK_OBJECT_STR || k->via.str.size != 15 ||
            memcmp(k->via.str.ptr, "clock_offset_ms", 15) != 0)
            continue;
        if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
            *off = v->via.i64;
            return 1;
        }
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX) {
            *off = (int64_t)v->via.u64;
            return 1;
        }
        return 0;
    }
    return 0;
}

/* Decodes a MEMBERS or RING document into v, sorted by host:port.
 * v->m is the caller's to free; NULL on error. */
static int decode_view(int op, const uint8_t *p, size_t len, struct view *v, char *err,
                       size_t errlen)
{
    const struct rc_mpdoc_field *f = ring_member_fields;
    size_t nf = NFIELDS(ring_member_fields), i;
    msgpack_zone zone;
    msgpack_object obj;
    void *m = NULL;
    int rv;

    if (!msgpack_zone_init(&zone, ZONE_CHUNK)) {
        snprintf(err, errlen, "%s", rc_client_strerror(RC_ENOMEM));
        return RC_ENOMEM;
    }
    rv = rc_mpdoc_unpack(p, len, &zone, &obj, err, errlen);
    if (rv == 0 && op == RC_CLIENT_MEMBERS) {
        f = member_fields;
        nf = NFIELDS(member_fields);
        v->list = &obj;
    } else if (rv == 0) {
        rv = rc_mpdoc_map(&obj, ring_fields, NFIELDS(ring_fields), v, err, errlen);
    }
    if (rv == 0)
        rv = rc_mpdoc_array(v->list, f, nf, sizeof(*v->m), VIEW_MAX_MEMBERS, "member", &m, &v->n,
                            err, errlen);
    v->m = m;
    for (i = 0; i < v->n; i++) {
        v->m[i].keys = -1;
        member_addr(&v->m[i]);
        if (op == RC_CLIENT_MEMBERS) /* same order as the array until sorted */
            v->m[i].has_offset = member_offset(&v->list->via.array.ptr[i], &v->m[i].offset_ms);
    }
    v->list = NULL; /* points into the zone */
    if (rv == 0)
        qsort(v->m, v->n, sizeof(*v->m), member_cmp);
    msgpack_zone_destroy(&zone);
    return rv;
}

/* The "keys" entry of a node's STATS, or -1 when it cannot be had. */
static int64_t stat_keys(struct rc_client *c)
{
    struct rc_result res;
    size_t i;

    if (rc_client_stats(c, &res) != 0)
        return -1;
    for (i = 0; i < res.nstats; i++)
        if (strcmp(res.stats[i].name, "keys") == 0 && !res.stats[i].is_str &&
            res.stats[i].num >= 0)
            return res.stats[i].num;
    return -1;
}

/* Keys held by each member, asked of the member itself: this node over
 * the open connection, every other alive one at its client address. */
static void fill_keys(struct rc_client *c, int timeout_ms, const char *password, struct view *v)
{
    struct rc_client_opts o = {.connect_timeout_ms = PROBE_TIMEOUT_MS,
                               .io_timeout_ms = PROBE_TIMEOUT_MS,
                               .max_reply = PROBE_MAX_REPLY,
                               .password = password};
    struct rc_client *pc;
    struct view_member *m;
    size_t i;

    if (timeout_ms > 0 && timeout_ms < PROBE_TIMEOUT_MS)
        o.connect_timeout_ms = o.io_timeout_ms = timeout_ms;
    for (i = 0; i < v->n; i++) {
        m = &v->m[i];
        if (m->self) {
            m->keys = stat_keys(c);
            continue;
        }
        if (strcmp(m->state, "alive") != 0 || m->port == 0 || !dialable(m->host))
            continue;
        if (rc_client_connect(m->addr, &o, &pc) == 0)
            m->keys = stat_keys(pc);
        rc_client_free(pc);
    }
}

static size_t addr_width(const struct view *v)
{
    size_t i, w = strlen("ADDRESS");

    for (i = 0; i < v->n; i++)
        if (strlen(v->m[i].addr) > w)
            w = strlen(v->m[i].addr);
    return w;
}

/* The fields every member entry shares, as JSON members. */
static void json_member_head(const struct view_member *m)
{
    printf("{\"id\": \"%s\"", m->id); /* hex digits */
    json_text("host", m->host);
    printf(", \"port\": %llu", (unsigned long long)m->port);
    json_text("address", m->addr);
}

static void print_members_json(const struct view *v)
{
    const struct view_member *m;
    size_t i;

    fputs("[", stdout);
    for (i = 0; i < v->n; i++) {
        m = &v->m[i];
        fputs(i > 0 ? ",\n " : "\n ", stdout);
        json_member_head(m);
        printf(", \"peer_port\": %llu", (unsigned long long)m->peer_port);
        json_text("state", m->state);
        printf(", \"incarnation\": %llu, \"primary\": %.6g, \"replica\": %.6g, \"self\": %s, "
               "\"clock_offset_ms\": ",
               (unsigned long long)m->incarnation, m->primary, m->replica,
               m->self ? "true" : "false");
        if (m->has_offset)
            printf("%lld", (long long)m->offset_ms);
        else
            fputs("null", stdout);
        if (m->keys < 0)
            fputs(", \"keys\": null}", stdout);
        else
            printf(", \"keys\": %lld}", (long long)m->keys);
    }
    fputs(v->n > 0 ? "\n]\n" : "]\n", stdout);
}

static void print_members(const struct view *v, int json)
{
    const struct view_member *m;
    int w = (int)addr_width(v);
    size_t i;

    if (json) {
        print_members_json(v);
        return;
    }
    printf("  %-16s  %-*s  %-7s  %11s  %7s  %7s  %10s  %10s\n", "ID", w, "ADDRESS", "STATE",
           "INCARNATION", "PRIMARY", "REPLICA", "CLOCK_MS", "KEYS");
    for (i = 0; i < v->n; i++) {
        char clock[24] = "-";

        m = &v->m[i];
        if (m->has_offset)
            snprintf(clock, sizeof(clock), "%+lld", (long long)m->offset_ms);
        printf("%c %-16s  %-*s  %-7s  %11llu  %6.1f%%  %6.1f%%  %10s  ", m->self ? '*' : ' ',
               m->id, w, m->addr, m->state, (unsigned long long)m->incarnation, m->primary * 100,
               m->replica * 100, clock);
        if (m->keys < 0)
            printf("%10s\n", "-");
        else
            printf("%10lld\n", (long long)m->keys);
    }
}

static void print_ring_json(const struct view *v, double busiest, double mean)
{
    const struct view_member *m;
    size_t i;

    printf("{\"rf\": %llu, \"vnodes\": %llu, \"max_over_mean\": %.6g, \"busiest_primary\": "
           "%.6g, \"mean_primary\": %.6g, \"members\": [",
           (unsigned long long)v->rf, (unsigned long long)v->vnodes, v->max_over_mean, busiest,
           mean);
    for (i = 0; i < v->n; i++) {
        m = &v->m[i];
        fputs(i > 0 ? ",\n " : "\n ", stdout);
        json_member_head(m);
        printf(", \"vnodes\": %llu, \"primary\": %.6g, \"replica\": %.6g}",
               (unsigned long long)m->vnodes, m->primary, m->replica);
    }
    fputs(v->n > 0 ? "\n]}\n" : "]}\n", stdout);
}

static void print_ring(const struct view *v, int json)
{
    const struct view_member *m;
    double busiest = 0, mean = v->n > 0 ? 1.0 / (double)v->n : 0;
    int w = (int)addr_width(v), bar;
    size_t i;

    for (i = 0; i < v->n; i++)
        busiest = v->m[i].primary > busiest ? v->m[i].primary : busiest;
    if (json) {
        print_ring_json(v, busiest, mean);
        return;
    }
    if (v->n == 0)
        puts("(no members in the ring)");
    else
        printf("%-16s  %-*s  %6s  %7s  %7s\n", "ID", w, "ADDRESS", "VNODES", "PRIMARY",
               "REPLICA");
    for (i = 0; i < v->n; i++) {
        m = &v->m[i];
        /* Scaled to the busiest member, which gets the full width. */
        bar = busiest > 0 ? (int)(m->primary / busiest * BAR_WIDTH + 0.5) : 0;
        printf("%-16s  %-*s  %6llu  %6.1f%%  %6.1f%%  %.*s\n", m->id, w, m->addr,
               (unsigned long long)m->vnodes, m->primary * 100, m->replica * 100, bar,
               "##############################");
    }
    printf("members %zu, rf %llu", v->n, (unsigned long long)v->rf);
    if (v->rf > v->n)
        printf(" (%zu effective)", v->n);
    printf(", vnodes %llu, busiest primary share %.1f%% vs mean %.1f%% (max/mean %.2f)\n",
           (unsigned long long)v->vnodes, busiest * 100, mean * 100,
           mean > 0 ? busiest / mean : 0);
}

int rc_cli_views_print(int op, struct rc_client *c, const struct rc_result *res, int timeout_ms,
                       const char *password, int json, char *err, size_t errlen)
{
    struct view v;
    int rv;

    memset(&v, 0, sizeof(v));
    rv = decode_view(op, res->value, res->has_value ? res->value_len : 0, &v, err, errlen);
    if (rv < 0)
        return rv;
    if (op == RC_CLIENT_MEMBERS) {
        fill_keys(c, timeout_ms, password, &v);
        print_members(&v, json);
    } else {
        print_ring(&v, json);
    }
    free(v.m);
    return 0;
}

/* ---- watch ------------------------------------------------------------ */

/* Members watched: the gossip table's size (RC_SWIM_MAX_MEMBERS); a
 * longer list is counted, not watched. */
#define W_MAX_MEMBERS 1024
/* Streams kept from one poll of the whole cluster: far above any real
 * rebalance (a node streams to a few members), it bounds the ~140 bytes
 * kept per stream whatever the nodes send. */
#define W_MAX_STREAMS 16384
/* Events accepted in one ACTIVITY (servers keep 64), and merged events
 * remembered: room for a burst without losing the ones on screen. */
#define W_NODE_EVENTS 256
#define W_MAX_EVENTS 256
/* Bytes of event text and rebalance cause kept (servers send up to 400):
 * a membership event or a rebalance summary fits on one line. */
#define W_TEXT 200
#define W_SHOW_EVENTS 10 /* on the terminal: the last events */
#define W_SHOW_STREAMS 8 /* and the streams in progress */
/* Per member per poll: a connect and one pipelined ACTIVITY + STATS.
 * 300 ms is far above a healthy node's millisecond, and keeps a poll with
 * an unreachable member within the 500 ms default interval. */
#define W_TIMEOUT_MS 300
/* A member that cannot be connected is retried after 1 s, doubling to
 * 8 s, so black-holed members do not stretch every poll; a change of its
 * state or incarnation (it came back) retries it at once. */
#define W_RETRY_MIN_MS 1000
#define W_RETRY_MAX_MS 8000
/* STATS, which carries the key counts, is asked every 5 s. A node answers
 * it after counting the keys in every range it owns (at most every 2 s),
 * its event loop blocked meanwhile: 0.1 s for 100k keys, up to 1 s while
 * it rebalances. So a node whose STATS took t is asked again after 20 t
 * at the soonest: a watcher takes at most ~5% of a node's time. */
#define W_STATS_MS 5000
#define W_STATS_SHARE 20
/* The same event text from several nodes within 10 s is one event: every
 * node logs each membership change it sees, within a gossip round or so. */
#define W_MERGE_MS 10000
#define W_LINE 400    /* widest terminal line drawn */
#define W_BAR 20      /* progress bar */
#define W_ADDR_COL 28 /* address columns are cut to this */

/* Set by SIGINT/SIGTERM while watch runs. The one global of the CLI, and
 * the one acceptable kind: a signal handler can only reach a
 * sig_atomic_t with static storage. */
static volatile sig_atomic_t watch_stop;

/* ACTIVITY, as one node reports it (docs/protocol.md). */
struct act_summary {
    int running;
    char cause[W_TEXT];
    uint64_t started_ms, ranges, ranges_done, keys_out, bytes_out, keys_in, bytes_in;
    uint64_t rebalances, keys_dropped;
};

struct act_stream {
    char to[17];
    char to_addr[80]; /* only shown when "to" is not a member we know */
    uint64_t ranges, ranges_done, ranges_in_place, keys, bytes;
    double rate, eta;
    uint64_t failures;   /* attempts in a row that failed (absent from older servers: 0) */
    char last_error[W_TEXT];
};

struct act_event {
    int64_t ms;
    char text[W_TEXT];
};

/* The top level while decoding; the pointers are into the zone. */
struct act_doc {
    const msgpack_object *rebalance, *streams, *events;
};

static const struct rc_mpdoc_field act_fields[] = {
    VF(act_doc, "rebalance", MAP, rebalance, 0),
    VF(act_doc, "streams", ARRAY, streams, 0),
    VF(act_doc, "events", ARRAY, events, 0),
};

static const struct rc_mpdoc_field act_summary_fields[] = {
    VF(act_summary, "running", BOOL, running, 0),
    VF_STR(act_summary, "cause", TEXT, cause),
    VF(act_summary, "started_ms", UINT, started_ms, INT64_MAX),
    VF(act_summary, "ranges", UINT, ranges, UINT64_MAX),
    VF(act_summary, "ranges_done", UINT, ranges_done, UINT64_MAX),
    VF(act_summary, "keys_out", UINT, keys_out, UINT64_MAX),
    VF(act_summary, "bytes_out", UINT, bytes_out, UINT64_MAX),
    VF(act_summary, "keys_in", UINT, keys_in, UINT64_MAX),
    VF(act_summary, "bytes_in", UINT, bytes_in, UINT64_MAX),
    VF(act_summary, "rebalances", UINT, rebalances, UINT64_MAX),
    VF(act_summary, "keys_dropped", UINT, keys_dropped, UINT64_MAX),
};

static const struct rc_mpdoc_field act_stream_fields[] = {
    VF_STR(act_stream, "to", ID, to),
    VF_STR(act_stream, "to_addr", TEXT, to_addr),
    VF(act_stream, "ranges", UINT, ranges, UINT64_MAX),
    VF(act_stream, "ranges_done", UINT, ranges_done, UINT64_MAX),
    VF(act_stream, "ranges_in_place", UINT, ranges_in_place, UINT64_MAX),
    VF(act_stream, "keys", UINT, keys, UINT64_MAX),
    VF(act_stream, "bytes", UINT, bytes, UINT64_MAX),
    VF(act_stream, "bytes_per_s", UFLOAT, rate, UINT64_MAX),
    VF(act_stream, "eta_s", FLOAT, eta, 0),
    VF_OPT(act_stream, "failures", UINT, failures, UINT64_MAX),
    VF_OPT_STR(act_stream, "last_error", TEXT, last_error),
};

/* Unix ms, so never negative: differences of two cannot overflow. */
static const struct rc_mpdoc_field act_event_fields[] = {
    VF(act_event, "ms", UINT, ms, INT64_MAX),
    VF_STR(act_event, "text", TEXT, text),
};

/* One watched member, kept across polls (matched by id). */
struct w_node {
    struct view_member m; /* as the last MEMBERS had it; m.keys unused */
    struct rc_client *c;  /* kept open between polls, NULL after an error */
    int fails, err;       /* failures in a row, the last one's code */
    int64_t retry_at;     /* monotonic ms: connect again from then on */
    int64_t stats_at;     /* monotonic ms: STATS again from then on */
    int reachable;        /* answered this poll */
    int has_act;          /* with a well-formed ACTIVITY */
    int64_t keys, keys_primary, keys_replica, rf; /* STATS; -1 unknown */
    struct act_summary rb;
    struct act_stream *streams;
    size_t nstreams;
    int has_mark;         /* the last event merged from it */
    int64_t mark_ms;
    uint64_t mark_hash;
    int in, out;          /* streams in progress to and from it */
    double in_rate, out_rate;
};

/* An event merged from all nodes: src is the first node that reported it,
 * nodes how many did (within W_MERGE_MS). */
struct w_event {
    int64_t ms;
    uint64_t hash;
    char src[17];
    char text[W_TEXT];
    int nodes, emitted;
};

struct watch {
    const struct rc_cli_watch_opts *o;
    struct rc_client_opts popts; /* probes */
    struct rc_client *seed;      /* o->server, asked for MEMBERS */
    int seed_err, seed_fails;    /* as for a member */
    int64_t seed_retry_at;
    struct w_node *nodes, *spare; /* W_MAX_MEMBERS each, sorted by host:port */
    size_t n, beyond;            /* watched; listed past W_MAX_MEMBERS */
    size_t nstreams;             /* over all nodes, this poll */
    char via[272];               /* who answered the last MEMBERS */
    int stale;                   /* the last MEMBERS failed: err says why */
    char merr[320];
    struct w_event ev[W_MAX_EVENTS]; /* oldest first */
    size_t nev;
    uint64_t sig;                /* of what the last JSON line showed */
    int frames, tty, rows, cols, lines;
};

static void on_stop(int sig)
{
    (void)sig;
    watch_stop = 1;
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* FNV-1a, 64 bits: change detection and event identity, not security. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

#define FNV_INIT 0xcbf29ce484222325ull
#define FNV_STR(h, s) fnv((h), (s), strlen(s) + 1)
#define FNV_VAL(h, v) fnv((h), &(v), sizeof(v))

/* Members polled: those on the ring. A suspect one is often just busy. */
static int asked(const struct w_node *nd)
{
    return strcmp(nd->m.state, "alive") == 0 || strcmp(nd->m.state, "suspect") == 0;
}

/* Retry delay after the fails-th failure in a row. */
static int64_t retry_delay(int fails)
{
    int64_t d = (int64_t)W_RETRY_MIN_MS << (fails < 3 ? fails : 3);

    return d < W_RETRY_MAX_MS ? d : W_RETRY_MAX_MS;
}

static void forget_activity(struct w_node *nd)
{
    nd->reachable = nd->has_act = 0;
    memset(&nd->rb, 0, sizeof(nd->rb));
    free(nd->streams);
    nd->streams = NULL;
    nd->nstreams = 0;
}

static void forget_counts(struct w_node *nd)
{
    nd->keys = nd->keys_primary = nd->keys_replica = nd->rf = -1;
    nd->stats_at = 0;
}

/* Closes the connection after err (0: no error, the member left). */
static void node_close(struct w_node *nd, int err)
{
    forget_activity(nd);
    forget_counts(nd);
    rc_client_free(nd->c);
    nd->c = NULL;
    nd->err = err;
}

static struct w_node *find_node(struct watch *w, const char *id)
{
    size_t i;

    for (i = 0; i < w->n; i++)
        if (strcmp(w->nodes[i].m.id, id) == 0)
            return &w->nodes[i];
    return NULL;
}

/* MEMBERS over c; *broken says c is unusable after an error. */
static int members_from(struct rc_client *c, struct view *v, int *broken, char *err,
                        size_t errlen)
{
    struct rc_result res;
    char detail[160];
    int rv;

    memset(&res, 0, sizeof(res));
    rv = rc_client_members(c, &res);
    if (rv < 0) {
        snprintf(err, errlen, "MEMBERS: %s",
                 res.message != NULL && res.message[0] ? res.message : rc_client_strerror(rv));
        *broken = rv != res.err; /* not the server's answer: the connection failed */
        return rv;
    }
    rv = decode_view(RC_CLIENT_MEMBERS, res.value, res.has_value ? res.value_len : 0, v, detail,
                     sizeof(detail));
    if (rv < 0)
        snprintf(err, errlen, "bad MEMBERS reply: %s", detail);
    return rv;
}

/*
 * The membership, from o->server if it answers, else from any member that
 * answered the last poll, so the view outlives the node it started with.
 * The first contact uses the caller's timeouts and has no fallback.
 */
static int fetch_members(struct watch *w, int first, struct view *v, char *err, size_t errlen)
{
    struct rc_client_opts o = first && w->o->copts ? *w->o->copts : w->popts;
    char detail[200];
    size_t i;
    int rv = 0, broken = 0;

    o.max_reply = RC_CLI_VIEW_MAX_REPLY;
    if (w->seed == NULL && clock_ms(CLOCK_MONOTONIC) >= w->seed_retry_at) {
        w->seed_err = rc_client_connect(w->o->server, &o, &w->seed);
        if (w->seed_err < 0)
            w->seed_retry_at = clock_ms(CLOCK_MONOTONIC) + retry_delay(w->seed_fails++);
    }
    if (w->seed == NULL) {
        rv = w->seed_err;
        snprintf(detail, sizeof(detail), "%s", rc_client_strerror(rv));
    } else {
        rv = members_from(w->seed, v, &broken, detail, sizeof(detail));
        w->seed_fails = 0;
        if (rv == 0) {
            snprintf(w->via, sizeof(w->via), "%s", w->o->server);
            return 0;
        }
        if (broken) {
            rc_client_free(w->seed);
            w->seed = NULL;
        }
    }
    snprintf(err, errlen, "%.100s: %s", w->o->server, detail);
    for (i = 0; !first && i < w->n; i++) {
        if (w->nodes[i].c == NULL || !w->nodes[i].reachable)
            continue;
        if (members_from(w->nodes[i].c, v, &broken, detail, sizeof(detail)) == 0) {
            snprintf(w->via, sizeof(w->via), "%s", w->nodes[i].m.addr);
            return 0;
        }
        if (broken) {
            rc_client_free(w->nodes[i].c); /* the probe reconnects */
            w->nodes[i].c = NULL;
        }
    }
    return rv < 0 ? rv : RC_EPROTO;
}

/* Takes the new member list, keeping what is known of members seen before. */
static void adopt(struct watch *w, const struct view *v)
{
    size_t i, j, n = v->n < W_MAX_MEMBERS ? v->n : W_MAX_MEMBERS;
    const struct view_member *m;
    struct w_node *nd, *tmp;

    for (i = 0; i < n; i++) {
        m = &v->m[i];
        nd = &w->spare[i];
        for (j = 0; j < w->n && strcmp(w->nodes[j].m.id, m->id) != 0; j++)
            ;
        if (j < w->n) {
            *nd = w->nodes[j];
            w->nodes[j].m.id[0] = '\0'; /* taken: a repeated id gets a fresh slot */
            if (strcmp(nd->m.state, m->state) != 0 || nd->m.incarnation != m->incarnation)
                nd->retry_at = 0; /* it changed: worth a try at once */
        } else {
            memset(nd, 0, sizeof(*nd));
            forget_counts(nd);
        }
        nd->m = *m;
    }
    for (j = 0; j < w->n; j++)
        if (w->nodes[j].m.id[0] != '\0')
            node_close(&w->nodes[j], 0);
    tmp = w->nodes;
    w->nodes = w->spare;
    w->spare = tmp;
    w->n = n;
    w->beyond = v->n - n;
}

/* Adds one event to the merged, time-ordered list, unless it is known. */
static void add_event(struct watch *w, const char *src, const struct act_event *e)
{
    uint64_t h = FNV_STR(FNV_INIT, e->text);
    struct w_event *x, *near = NULL;
    int64_t d, best = W_MERGE_MS + 1;
    size_t i, at;

    for (i = 0; i < w->nev; i++) {
        x = &w->ev[i];
        if (x->hash != h || strcmp(x->text, e->text) != 0)
            continue;
        if (strcmp(x->src, src) == 0) {
            if (x->ms == e->ms)
                return; /* seen before */
            continue;
        }
        d = x->ms > e->ms ? x->ms - e->ms : e->ms - x->ms;
        if (d < best) {
            best = d;
            near = x; /* the closest in time, should one text recur */
        }
    }
    if (near != NULL) {
        near->nodes++;
        return;
    }
    if (w->nev == W_MAX_EVENTS) {
        if (e->ms < w->ev[0].ms)
            return; /* older than everything kept */
        memmove(&w->ev[0], &w->ev[1], (w->nev - 1) * sizeof(w->ev[0]));
        w->nev--;
    }
    for (at = w->nev; at > 0 && w->ev[at - 1].ms > e->ms; at--)
        ;
    memmove(&w->ev[at + 1], &w->ev[at], (w->nev - at) * sizeof(w->ev[0]));
    x = &w->ev[at];
    x->ms = e->ms;
    x->hash = h;
    memcpy(x->src, src, sizeof(x->src));
    memcpy(x->text, e->text, sizeof(x->text));
    x->nodes = 1;
    x->emitted = 0;
    w->nev++;
}

/* A node's events, oldest first: those after the last one taken from it
 * (all of them when it is not among them: a restart, or more than a
 * server keeps happened between two polls). */
static void merge_events(struct watch *w, struct w_node *nd, const struct act_event *ev,
                         size_t n)
{
    size_t i, start = 0;

    if (n == 0)
        return;
    for (i = n; nd->has_mark && i-- > 0;) {
        if (ev[i].ms == nd->mark_ms && FNV_STR(FNV_INIT, ev[i].text) == nd->mark_hash) {
            start = i + 1;
            break;
        }
    }
    for (i = start; i < n; i++)
        add_event(w, nd->m.id, &ev[i]);
    nd->has_mark = 1;
    nd->mark_ms = ev[n - 1].ms;
    nd->mark_hash = FNV_STR(FNV_INIT, ev[n - 1].text);
}

/* An ACTIVITY reply: the node's summary and streams replace the last
 * ones, its events are merged. A malformed one leaves has_act 0. */
static void take_activity(struct watch *w, struct w_node *nd, const struct rc_result *res)
{
    struct act_doc doc = {0};
    struct act_summary sum;
    msgpack_zone zone;
    msgpack_object obj;
    void *streams = NULL, *events = NULL;
    size_t ns = 0, ne = 0;
    char err[160];
    int rv;

    memset(&sum, 0, sizeof(sum));
    if (!msgpack_zone_init(&zone, ZONE_CHUNK))
        return;
    rv = rc_mpdoc_unpack(res->value, res->has_value ? res->value_len : 0, &zone, &obj, err,
                         sizeof(err));
    if (rv == 0)
        rv = rc_mpdoc_map(&obj, act_fields, NFIELDS(act_fields), &doc, err, sizeof(err));
    if (rv == 0)
        rv = rc_mpdoc_map(doc.rebalance, act_summary_fields, NFIELDS(act_summary_fields), &sum,
                          err, sizeof(err));
    if (rv == 0)
        rv = rc_mpdoc_array(doc.streams, act_stream_fields, NFIELDS(act_stream_fields),
                            sizeof(struct act_stream), W_MAX_STREAMS - w->nstreams, "stream",
                            &streams, &ns, err, sizeof(err));
    if (rv == 0)
        rv = rc_mpdoc_array(doc.events, act_event_fields, NFIELDS(act_event_fields),
                            sizeof(struct act_event), W_NODE_EVENTS, "event", &events, &ne, err,
                            sizeof(err));
    msgpack_zone_destroy(&zone);
    if (rv == 0) {
        nd->has_act = 1;
        nd->rb = sum;
        nd->streams = streams;
        nd->nstreams = ns;
        w->nstreams += ns;
        merge_events(w, nd, events, ne);
    } else {
        free(streams);
    }
    free(events);
}

static void take_stats(struct w_node *nd, const struct rc_result *res)
{
    static const char *const names[] = {"keys", "keys_primary", "keys_replica",
                                        "replication_factor"};
    int64_t *dst[] = {&nd->keys, &nd->keys_primary, &nd->keys_replica, &nd->rf};
    size_t i, j;

    for (i = 0; i < res->nstats; i++)
        for (j = 0; j < sizeof(names) / sizeof(names[0]); j++)
            if (!res->stats[i].is_str && res->stats[i].num >= 0 &&
                strcmp(res->stats[i].name, names[j]) == 0)
                *dst[j] = res->stats[i].num;
}

/* One member: ACTIVITY, and STATS when due, pipelined on its kept
 * connection. Counts survive a poll without STATS; a failure clears them. */
static void probe(struct watch *w, struct w_node *nd)
{
    int64_t t0 = clock_ms(CLOCK_MONOTONIC), cost;
    struct rc_result res;
    int rv, stats;

    forget_activity(nd);
    if (!asked(nd) || nd->m.port == 0 || !dialable(nd->m.host)) {
        node_close(nd, 0);
        return;
    }
    if (nd->c == NULL && t0 < nd->retry_at)
        return; /* still failed: err says how */
    if (nd->c == NULL && (rv = rc_client_connect(nd->m.addr, &w->popts, &nd->c)) < 0) {
        node_close(nd, rv);
        nd->retry_at = t0 + retry_delay(nd->fails++);
        return;
    }
    stats = t0 >= nd->stats_at;
    rv = rc_client_send(nd->c, RC_CLIENT_ACTIVITY, NULL, 0, NULL, 0, 0, RC_CLIENT_CL_DEFAULT);
    if (rv == 0 && stats)
        rv = rc_client_send(nd->c, RC_CLIENT_STATS, NULL, 0, NULL, 0, 0, RC_CLIENT_CL_DEFAULT);
    if (rv == 0)
        rv = rc_client_recv(nd->c, &res);
    if (rv == 0 && res.err == 0)
        take_activity(w, nd, &res); /* before the next recv reuses res's bytes */
    if (rv == 0 && stats)
        rv = rc_client_recv(nd->c, &res);
    if (rv < 0) {
        node_close(nd, rv); /* a slow node is asked again next poll */
        return;
    }
    nd->fails = nd->err = 0;
    nd->reachable = 1;
    if (stats) {
        cost = (clock_ms(CLOCK_MONOTONIC) - t0) * W_STATS_SHARE;
        nd->stats_at = t0 + (cost > W_STATS_MS ? cost : W_STATS_MS);
        if (res.err == 0)
            take_stats(nd, &res);
    }
}

/* Streams in progress to and from each member. */
static void flows(struct watch *w)
{
    const struct act_stream *s;
    struct w_node *nd, *to;
    size_t i, j;

    for (i = 0; i < w->n; i++) {
        nd = &w->nodes[i];
        nd->in = nd->out = 0;
        nd->in_rate = nd->out_rate = 0;
    }
    for (i = 0; i < w->n; i++) {
        nd = &w->nodes[i];
        for (j = 0; j < nd->nstreams; j++) {
            s = &nd->streams[j];
            if (s->ranges_done >= s->ranges)
                continue;
            nd->out++;
            nd->out_rate += s->rate;
            if ((to = find_node(w, s->to)) != NULL) {
                to->in++;
                to->in_rate += s->rate;
            }
        }
    }
}

static int poll_round(struct watch *w, int first, char *err, size_t errlen)
{
    struct view v;
    size_t i;
    int rv;

    memset(&v, 0, sizeof(v));
    rv = fetch_members(w, first, &v, w->merr, sizeof(w->merr));
    if (rv < 0 && first) {
        snprintf(err, errlen, "%s", w->merr);
        return rv;
    }
    w->stale = rv < 0;
    if (rv == 0)
        adopt(w, &v);
    free(v.m);
    w->nstreams = 0;
    for (i = 0; i < w->n && !watch_stop; i++)
        probe(w, &w->nodes[i]); /* stopped: nothing more is shown */
    flows(w);
    return 0;
}

/* ---- watch: output ----------------------------------------------------- */

struct totals {
    size_t alive, unreachable, running, active;
    int64_t keys, copies, rf;
    int keys_complete;
    const struct w_node *cause; /* a node rebalancing, for its cause */
};

static void totals(const struct watch *w, struct totals *t)
{
    const struct w_node *nd;
    size_t i;

    memset(t, 0, sizeof(*t));
    t->rf = -1;
    t->keys_complete = 1;
    for (i = 0; i < w->n; i++) {
        nd = &w->nodes[i];
        if (!asked(nd))
            continue;
        t->alive += strcmp(nd->m.state, "alive") == 0;
        t->unreachable += !nd->reachable;
        if (nd->rf >= 0 && t->rf < 0)
            t->rf = nd->rf;
        if (nd->keys_primary >= 0 && nd->keys >= 0) {
            t->keys += nd->keys_primary; /* each key has one primary */
            t->copies += nd->keys;
        } else {
            t->keys_complete = 0;
        }
        if (nd->has_act && nd->rb.running) {
            t->running++;
            t->cause = t->cause ? t->cause : nd;
        }
        t->active += (size_t)nd->out;
    }
}

/* Whatever a JSON line reports except counters that move on their own
 * (keys, bytes, rates): a new line is printed when this changes. */
static uint64_t signature(const struct watch *w)
{
    const struct w_node *nd;
    const struct act_stream *s;
    uint64_t h = FNV_INIT;
    size_t i, j;

    h = FNV_VAL(h, w->stale);
    h = FNV_STR(h, w->via);
    h = FNV_VAL(h, w->beyond);
    for (i = 0; i < w->n; i++) {
        nd = &w->nodes[i];
        h = FNV_STR(FNV_STR(FNV_STR(h, nd->m.id), nd->m.addr), nd->m.state);
        h = FNV_VAL(FNV_VAL(FNV_VAL(h, nd->reachable), nd->has_act), nd->rb.running);
        for (j = 0; j < nd->nstreams; j++) {
            s = &nd->streams[j];
            h = FNV_VAL(FNV_VAL(FNV_VAL(FNV_STR(h, s->to), s->ranges), s->ranges_done), s->keys);
        }
    }
    return h;
}

static void json_members(const struct watch *w)
{
    const struct w_node *nd;
    size_t i;

    fputs(", \"members\": [", stdout);
    for (i = 0; i < w->n; i++) {
        nd = &w->nodes[i];
        printf("%s{\"id\": \"%s\"", i > 0 ? ", " : "", nd->m.id); /* hex digits */
        json_text("address", nd->m.addr);
        json_text("state", nd->m.state);
        printf(", \"reachable\": %s", nd->reachable ? "true" : "false");
        json_text("error", nd->err < 0 ? rc_client_err_name(nd->err) : NULL);
        json_count("keys", nd->keys);
        json_count("keys_primary", nd->keys_primary);
        json_count("keys_replica", nd->keys_replica);
        printf(", \"primary\": %.6g, \"replica\": %.6g, \"rebalancing\": %s, \"streams_in\": "
               "%d, \"streams_out\": %d}",
               nd->m.primary, nd->m.replica, !nd->has_act ? "null" : nd->rb.running ? "true" : "false",
               nd->in, nd->out);
    }
    fputc(']', stdout);
}

static void json_streams(struct watch *w)
{
    const struct w_node *nd, *to;
    const struct act_stream *s;
    size_t i, j, k = 0;

    fputs(", \"streams\": [", stdout);
    for (i = 0; i < w->n; i++) {
        nd = &w->nodes[i];
        for (j = 0; j < nd->nstreams; j++) {
            s = &nd->streams[j];
            to = find_node(w, s->to);
            printf("%s{\"from\": \"%s\"", k++ > 0 ? ", " : "", nd->m.id);
            json_text("from_address", nd->m.addr);
            printf(", \"to\": \"%s\"", s->to);
            json_text("to_address", to != NULL ? to->m.addr : s->to_addr);
            printf(", \"ranges\": %llu, \"ranges_done\": %llu, \"ranges_in_place\": %llu, "
                   "\"keys\": %llu, \"bytes\": %llu, \"bytes_per_s\": %.1f, \"eta_s\": %.1f, "
                   "\"failures\": %llu",
                   (unsigned long long)s->ranges, (unsigned long long)s->ranges_done,
                   (unsigned long long)s->ranges_in_place, (unsigned long long)s->keys,
                   (unsigned long long)s->bytes, s->rate, s->eta,
                   (unsigned long long)s->failures);
            json_text("last_error", s->last_error);
            fputc('}', stdout);
        }
    }
    fputc(']', stdout);
}

/* Events not printed yet; the first line gets only the last few. */
static void json_events(struct watch *w)
{
    struct w_event *e;
    size_t i, k = 0, from = 0;

    if (w->frames == 0 && w->nev > W_SHOW_EVENTS)
        from = w->nev - W_SHOW_EVENTS;
    fputs(", \"events\": [", stdout);
    for (i = 0; i < w->nev; i++) {
        e = &w->ev[i];
        if (!e->emitted && i >= from) {
            printf("%s{\"ms\": %lld, \"node\": \"%s\"", k++ > 0 ? ", " : "", (long long)e->ms,
                   e->src);
            json_text("text", e->text);
            printf(", \"nodes\": %d}", e->nodes);
        }
        e->emitted = 1;
    }
    fputc(']', stdout);
}

/* One line when anything but the moving counters changed. */
static void json_line(struct watch *w)
{
    uint64_t sig = signature(w);
    struct totals t;
    size_t i;
    int fresh = 0;

    for (i = 0; i < w->nev && !fresh; i++)
        fresh = !w->ev[i].emitted;
    if (w->frames > 0 && sig == w->sig && !fresh)
        return;
    w->sig = sig;
    totals(w, &t);
    printf("{\"time_ms\": %lld", (long long)clock_ms(CLOCK_REALTIME));
    json_text("via", w->via);
    printf(", \"stale\": %s", w->stale ? "true" : "false");
    json_text("error", w->stale ? w->merr : NULL);
    printf(", \"members_total\": %zu, \"alive\": %zu, \"unreachable\": %zu", w->n + w->beyond,
           t.alive, t.unreachable);
    json_count("rf", t.rf);
    printf(", \"keys\": %lld, \"keys_complete\": %s, \"rebalancing\": %zu", (long long)t.keys,
           t.keys_complete ? "true" : "false", t.running);
    json_members(w);
    json_streams(w);
    json_events(w);
    fputs("}\n", stdout);
    w->frames++;
}

/* ---- watch: terminal ---------------------------------------------------- */

static void fmt_bytes(double b, char *buf, size_t len)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;

    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(buf, len, u == 0 ? "%.0f %s" : "%.1f %s", b, unit[u]);
}

static void fmt_eta(double s, char *buf, size_t len)
{
    long v = s < 1e7 ? (long)(s + 0.5) : 9999999;

    if (s < 0)
        snprintf(buf, len, "?");
    else if (v < 60)
        snprintf(buf, len, "%lds", v);
    else if (v < 3600)
        snprintf(buf, len, "%ldm%02lds", v / 60, v % 60);
    else
        snprintf(buf, len, "%ldh%02ldm", v / 3600, v / 60 % 60);
}

/* Local wall-clock time of a Unix ms; with the milliseconds if ms_too. */
static void fmt_clock(int64_t ms, int ms_too, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL)
        snprintf(buf, len, "?");
    else if (ms_too)
        snprintf(buf, len, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(ms % 1000));
    else
        snprintf(buf, len, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* One screen line, cut to the terminal's width (one column spare, so the
 * cursor never waits at the margin) and to its height; anything that is
 * not printable ASCII becomes '?', so column widths stay true. */
__attribute__((format(printf, 2, 3))) static void tline(struct watch *w, const char *fmt, ...)
{
    char line[W_LINE + 1];
    va_list ap;
    int n, i;

    if (w->lines >= w->rows - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    n = n < 0 ? 0 : n > W_LINE ? W_LINE : n;
    n = n < w->cols - 1 ? n : w->cols - 1;
    for (i = 0; i < n; i++)
        if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f)
            line[i] = '?';
    fwrite(line, 1, (size_t)n, stdout);
    fputs("\x1b[K\n", stdout);
    w->lines++;
}

static void tty_header(struct watch *w, const struct totals *t)
{
    char now[16], since[16], keys[64], rf[24];
    int64_t started = t->running > 0 ? (int64_t)t->cause->rb.started_ms : 0;

    fmt_clock(clock_ms(CLOCK_REALTIME), 0, now, sizeof(now));
    if (t->keys_complete)
        snprintf(keys, sizeof(keys), "%lld (%lld copies)", (long long)t->keys,
                 (long long)t->copies);
    else if (t->keys > 0)
        snprintf(keys, sizeof(keys), ">= %lld (not all answered)", (long long)t->keys);
    else
        snprintf(keys, sizeof(keys), "?");
    snprintf(rf, sizeof(rf), "%lld", (long long)t->rf);
    tline(w, "%s  members %zu, alive %zu, rf %s, keys %s", now, w->n + w->beyond, t->alive,
          t->rf >= 0 ? rf : "?", keys);
    if (w->stale) {
        tline(w, "MEMBERS FAILED (%s); showing the last membership", w->merr);
    } else if (t->running > 0) {
        fmt_eta(started > 0 ? (double)(clock_ms(CLOCK_REALTIME) - started) / 1000 : -1, since,
                sizeof(since));
        tline(w, "rebalancing on %zu node%s, %zu stream%s in progress; %.8s: %s (for %s)",
              t->running, t->running == 1 ? "" : "s", t->active, t->active == 1 ? "" : "s",
              t->cause->m.id, t->cause->rb.cause, since);
    } else {
        tline(w, "no rebalance running; via %s every %d ms, Ctrl-C quits", w->via,
              w->o->interval_ms);
    }
}

static void streaming_text(const struct w_node *nd, char *buf, size_t len)
{
    char in[24], out[24];

    fmt_bytes(nd->in_rate, in, sizeof(in));
    fmt_bytes(nd->out_rate, out, sizeof(out));
    if (!asked(nd))
        snprintf(buf, len, "%s", "");
    else if (!nd->reachable)
        snprintf(buf, len, "unreachable (%s)", nd->err < 0 ? rc_client_strerror(nd->err) : "?");
    else if (!nd->has_act)
        snprintf(buf, len, "(no activity report)");
    else if (nd->in > 0 && nd->out > 0)
        snprintf(buf, len, "in %d @ %s/s, out %d @ %s/s", nd->in, in, nd->out, out);
    else if (nd->in > 0)
        snprintf(buf, len, "in %d @ %s/s", nd->in, in);
    else if (nd->out > 0)
        snprintf(buf, len, "out %d @ %s/s", nd->out, out);
    else
        snprintf(buf, len, "%s", nd->rb.running ? "rebalancing" : "-");
}

static void tty_members(struct watch *w, size_t max_rows)
{
    const struct w_node *nd;
    char keys[24], flow[96];
    size_t i, shown;
    int aw = 7;

    for (i = 0; i < w->n; i++)
        aw = (int)strlen(w->nodes[i].m.addr) > aw ? (int)strlen(w->nodes[i].m.addr) : aw;
    aw = aw < W_ADDR_COL ? aw : W_ADDR_COL;
    shown = w->n <= max_rows ? w->n : max_rows - 1;
    tline(w, "  %-8s  %-*s  %-7s  %10s  %7s  %7s  %s", "ID", aw, "ADDRESS", "STATE", "KEYS",
          "PRIMARY", "REPLICA", "STREAMING");
    for (i = 0; i < shown; i++) {
        nd = &w->nodes[i];
        snprintf(keys, sizeof(keys), "%lld", (long long)nd->keys);
        streaming_text(nd, flow, sizeof(flow));
        tline(w, "%c %.8s  %-*.*s  %-7s  %10s  %6.1f%%  %6.1f%%  %s", nd->m.self ? '*' : ' ',
              nd->m.id, aw, W_ADDR_COL, nd->m.addr, nd->m.state, nd->keys >= 0 ? keys : "-",
              nd->m.primary * 100, nd->m.replica * 100, flow);
    }
    if (shown < w->n + w->beyond)
        tline(w, "  ... %zu more members (a taller terminal shows more; --json lists all)",
              w->n + w->beyond - shown);
}

static void tty_stream(struct watch *w, const struct w_node *from, const struct act_stream *s)
{
    const struct w_node *to = find_node(w, s->to);
    char ranges[48], bytes[24], rate[24], eta[24], bar[W_BAR + 1];
    double frac = s->ranges > 0 ? (double)s->ranges_done / (double)s->ranges : 1;
    int fill = (int)(frac * W_BAR), i;

    for (i = 0; i < W_BAR; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[W_BAR] = '\0';
    snprintf(ranges, sizeof(ranges), "%llu/%llu", (unsigned long long)s->ranges_done,
             (unsigned long long)s->ranges);
    fmt_bytes((double)s->bytes, bytes, sizeof(bytes));
    fmt_bytes(s->rate, rate, sizeof(rate));
    fmt_eta(s->eta, eta, sizeof(eta));
    tline(w, "  %-21.21s -> %-21.21s  %11s  %9llu  %10s  %10s/s  %7s  [%s] %3d%%", from->m.addr,
          to != NULL ? to->m.addr : s->to_addr, ranges, (unsigned long long)s->keys, bytes, rate,
          eta, bar, (int)(frac * 100));
    /* A stream that cannot get through says why (the sender retries). */
    if (s->failures > 0)
        tline(w, "    FAILING: %llu attempts in a row failed (%s), retrying",
              (unsigned long long)s->failures, s->last_error[0] ? s->last_error : "?");
}

static void tty_streams(struct watch *w, size_t active)
{
    const struct w_node *nd;
    const struct act_stream *s;
    size_t i, j, shown = 0;

    if (active == 0) {
        tline(w, "STREAMS: none in progress");
        return;
    }
    tline(w, "STREAMS in progress: %zu", active);
    tline(w, "  %-21s    %-21s  %11s  %9s  %10s  %12s  %7s  PROGRESS", "FROM", "TO", "RANGES",
          "KEYS", "BYTES", "RATE", "ETA");
    for (i = 0; i < w->n; i++) {
        nd = &w->nodes[i];
        for (j = 0; j < nd->nstreams && shown < W_SHOW_STREAMS; j++) {
            s = &nd->streams[j];
            if (s->ranges_done >= s->ranges)
                continue;
            tty_stream(w, nd, s);
            shown++;
        }
    }
    if (shown < active)
        tline(w, "  ... %zu more streams", active - shown);
}

static void tty_events(struct watch *w, size_t show)
{
    const struct w_event *e;
    char at[16], seen[24];
    size_t i;

    tline(w, "EVENTS (last %zu, all nodes)", show);
    for (i = w->nev - show; i < w->nev; i++) {
        e = &w->ev[i];
        fmt_clock(e->ms, 1, at, sizeof(at));
        seen[0] = '\0';
        if (e->nodes > 1)
            snprintf(seen, sizeof(seen), "  [%d nodes]", e->nodes);
        tline(w, "  %s  %.8s  %s%s", at, e->src, e->text, seen);
    }
}

/* Redraws the screen in place: home, every line cleared to its end, the
 * rest of the screen cleared, so nothing flickers. Sections below the
 * members table have fixed heights; the table gets what is left. */
static void tty_frame(struct watch *w)
{
    struct winsize ws;
    struct totals t;
    size_t show_e = w->nev < W_SHOW_EVENTS ? w->nev : W_SHOW_EVENTS, fixed, rows;

    w->rows = 24;
    w->cols = 80;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
        w->rows = ws.ws_row;
        w->cols = ws.ws_col;
    }
    totals(w, &t);
    fixed = 2 + 1 + 1 + 1 + 1 + 1 + 1 + show_e;
    if (t.active > 0)
        fixed += 1 + (t.active < W_SHOW_STREAMS ? t.active : W_SHOW_STREAMS + 1);
    rows = (size_t)w->rows > fixed + 4 ? (size_t)w->rows - 1 - fixed : 3;
    w->lines = 0;
    fputs(w->frames == 0 ? "\x1b[?25l\x1b[H\x1b[2J" : "\x1b[H", stdout);
    tty_header(w, &t);
    tline(w, "%s", "");
    tty_members(w, rows);
    tline(w, "%s", "");
    tty_streams(w, t.active);
    tline(w, "%s", "");
    tty_events(w, show_e);
    fputs("\x1b[J", stdout);
    w->frames++;
}

static void sleep_until(int64_t t)
{
    struct timespec ts;
    int64_t left;

    /* A signal cuts the sleep short (no SA_RESTART): the flag is seen. */
    while (!watch_stop && (left = t - clock_ms(CLOCK_MONOTONIC)) > 0) {
        ts.tv_sec = (time_t)(left / 1000);
        ts.tv_nsec = (long)(left % 1000) * 1000000;
        nanosleep(&ts, NULL);
    }
}

static void watch_free(struct watch *w)
{
    size_t i;

    for (i = 0; i < w->n; i++)
        node_close(&w->nodes[i], 0);
    rc_client_free(w->seed);
    free(w->nodes);
    free(w->spare);
    free(w);
}

static struct watch *watch_new(const struct rc_cli_watch_opts *o)
{
    struct watch *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->nodes = calloc(W_MAX_MEMBERS, sizeof(*w->nodes));
    w->spare = calloc(W_MAX_MEMBERS, sizeof(*w->spare));
    if (w->nodes == NULL || w->spare == NULL) {
        watch_free(w);
        return NULL;
    }
    w->o = o;
    w->popts.connect_timeout_ms = w->popts.io_timeout_ms = W_TIMEOUT_MS;
    if (o->timeout_ms > 0 && o->timeout_ms < W_TIMEOUT_MS)
        w->popts.connect_timeout_ms = w->popts.io_timeout_ms = o->timeout_ms;
    w->popts.max_reply = RC_CLI_VIEW_MAX_REPLY; /* MEMBERS, when o->server is gone */
    w->popts.password = o->copts != NULL ? o->copts->password : NULL;
    w->tty = !o->json && isatty(STDOUT_FILENO);
    return w;
}

/* Polls and shows until stopped. RC_EIO when stdout fails. */
static int watch_run(struct watch *w, char *err, size_t errlen)
{
    int64_t started = clock_ms(CLOCK_MONOTONIC);

    for (;;) {
        if (w->tty)
            tty_frame(w);
        else
            json_line(w);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            snprintf(err, errlen, "cannot write to stdout: %s", strerror(errno));
            return RC_EIO;
        }
        sleep_until(started + w->o->interval_ms);
        if (watch_stop)
            return 0;
        started = clock_ms(CLOCK_MONOTONIC);
        poll_round(w, 0, NULL, 0);
        if (watch_stop)
            return 0;
    }
}

int rc_cli_views_watch(const struct rc_cli_watch_opts *o, char *err, size_t errlen)
{
    struct sigaction sa, old_int, old_term;
    struct watch *w;
    int rv;

    w = watch_new(o);
    if (w == NULL) {
        snprintf(err, errlen, "%s", rc_client_strerror(RC_ENOMEM));
        return RC_ENOMEM;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    watch_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rv = poll_round(w, 1, err, errlen);
    if (rv == 0)
        rv = watch_run(w, err, errlen);
    if (w->tty && w->frames > 0) {
        fputs("\x1b[?25h", stdout); /* the cursor back */
        fflush(stdout);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    watch_free(w);
    return rv;
}
