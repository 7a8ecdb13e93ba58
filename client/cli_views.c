/*
 * cli_views.c - the members and ring views of ringcache-cli, and the
 * decoding and JSON helpers the watch view shares (cli_views_int.h).
 *
 * The documents nodes send (MEMBERS, RING) are read through mpdoc.h:
 * bounded on the raw bytes, then type and range checked into fixed-size
 * structs, so nothing a node sends is trusted. members and ring print one
 * view; the live view (watch) is in cli_views_watch.c and
 * cli_views_screen.c.
 */
#include "cli_views_int.h"

#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
#define BAR_WIDTH 30

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
void cli_views_json_count(const char *name, int64_t v)
{
    if (v < 0)
        printf(", \"%s\": null", name);
    else
        printf(", \"%s\": %lld", name, (long long)v);
}

void cli_views_json_text(const char *name, const char *v)
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
int cli_views_dialable(const char *host)
{
    int ch;

    for (; (ch = (unsigned char)*host) != '\0'; host++)
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == ':' || ch == '%' || ch == '_' || ch == '-'))
            return 0;
    return 1;
}

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
int cli_views_decode(int op, const uint8_t *p, size_t len, struct view *v, char *err,
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
        cli_views_mem_init(&v->m[i].mem);
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

void cli_views_mem_init(struct view_mem *vm)
{
    vm->used = vm->max = vm->evicted = vm->hits = vm->misses = -1;
}

void cli_views_mem_take(struct view_mem *vm, const struct rc_result *res)
{
    static const char *const names[] = {"used_memory", "maxmemory", "evicted_keys", "hits",
                                        "misses"};
    int64_t *dst[] = {&vm->used, &vm->max, &vm->evicted, &vm->hits, &vm->misses};
    size_t i, j;

    for (i = 0; i < res->nstats; i++)
        for (j = 0; j < sizeof(names) / sizeof(names[0]); j++)
            if (!res->stats[i].is_str && res->stats[i].num >= 0 &&
                strcmp(res->stats[i].name, names[j]) == 0)
                *dst[j] = res->stats[i].num;
}

/* Bytes in 5 characters or so: 512B, 12.3K, 64.0M, 1.5G. */
static void fmt_short(int64_t b, char *buf, size_t len)
{
    static const char unit[] = "KMGT";
    double d = (double)b;
    int u = -1;

    while (d >= 1024 && u < 3) {
        d /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, len, "%lldB", (long long)b);
    else
        snprintf(buf, len, d < 100 ? "%.1f%c" : "%.0f%c", d, unit[u]);
}

void cli_views_json_mem(const struct view_mem *vm)
{
    cli_views_json_count("used_memory", vm->used);
    cli_views_json_count("maxmemory", vm->max);
    cli_views_json_count("evicted_keys", vm->evicted);
    cli_views_json_count("hits", vm->hits);
    cli_views_json_count("misses", vm->misses);
}

void cli_views_fmt_mem(const struct view_mem *vm, char *buf, size_t len)
{
    char used[24], max[24]; /* "%lldB" of any int64 fits */

    if (vm->used < 0) {
        snprintf(buf, len, "-");
        return;
    }
    fmt_short(vm->used, used, sizeof(used));
    if (vm->max > 0)
        fmt_short(vm->max, max, sizeof(max));
    else
        snprintf(max, sizeof(max), "%s", vm->max == 0 ? "none" : "?");
    snprintf(buf, len, "%s/%s", used, max);
}

void cli_views_fmt_ratio(int64_t hits, int64_t misses, char *buf, size_t len)
{
    if (hits < 0 || misses < 0 || hits + misses == 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.1f%%", 100.0 * (double)hits / (double)(hits + misses));
}

/* A member's "keys" and memory figures from its STATS (left unknown when
 * it cannot be had). */
static void stat_member(struct rc_client *c, struct view_member *m)
{
    struct rc_result res;
    size_t i;

    if (rc_client_stats(c, &res) != 0)
        return;
    for (i = 0; i < res.nstats; i++)
        if (strcmp(res.stats[i].name, "keys") == 0 && !res.stats[i].is_str &&
            res.stats[i].num >= 0)
            m->keys = res.stats[i].num;
    cli_views_mem_take(&m->mem, &res);
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
            stat_member(c, m);
            continue;
        }
        if (strcmp(m->state, "alive") != 0 || m->port == 0 || !cli_views_dialable(m->host))
            continue;
        if (rc_client_connect(m->addr, &o, &pc) == 0)
            stat_member(pc, m);
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
    cli_views_json_text("host", m->host);
    printf(", \"port\": %llu", (unsigned long long)m->port);
    cli_views_json_text("address", m->addr);
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
        cli_views_json_text("state", m->state);
        printf(", \"incarnation\": %llu, \"primary\": %.6g, \"replica\": %.6g, \"self\": %s, "
               "\"clock_offset_ms\": ",
               (unsigned long long)m->incarnation, m->primary, m->replica,
               m->self ? "true" : "false");
        if (m->has_offset)
            printf("%lld", (long long)m->offset_ms);
        else
            fputs("null", stdout);
        cli_views_json_count("keys", m->keys);
        cli_views_json_mem(&m->mem);
        fputs("}", stdout);
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
    printf("  %-16s  %-*s  %-7s  %11s  %7s  %7s  %10s  %10s  %13s  %10s  %6s\n", "ID", w,
           "ADDRESS", "STATE", "INCARNATION", "PRIMARY", "REPLICA", "CLOCK_MS", "KEYS",
           "MEMORY", "EVICTED", "HIT%");
    for (i = 0; i < v->n; i++) {
        char clock[24] = "-", keys[24] = "-", mem[32], evicted[24] = "-", ratio[16];

        m = &v->m[i];
        if (m->has_offset)
            snprintf(clock, sizeof(clock), "%+lld", (long long)m->offset_ms);
        printf("%c %-16s  %-*s  %-7s  %11llu  %6.1f%%  %6.1f%%  %10s  ", m->self ? '*' : ' ',
               m->id, w, m->addr, m->state, (unsigned long long)m->incarnation, m->primary * 100,
               m->replica * 100, clock);
        if (m->keys >= 0)
            snprintf(keys, sizeof(keys), "%lld", (long long)m->keys);
        if (m->mem.evicted >= 0)
            snprintf(evicted, sizeof(evicted), "%lld", (long long)m->mem.evicted);
        cli_views_fmt_mem(&m->mem, mem, sizeof(mem));
        cli_views_fmt_ratio(m->mem.hits, m->mem.misses, ratio, sizeof(ratio));
        printf("%10s  %13s  %10s  %6s\n", keys, mem, evicted, ratio);
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
    rv = cli_views_decode(op, res->value, res->has_value ? res->value_len : 0, &v, err, errlen);
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

