/*
 * resp_admin.c - the RESP commands about the connection and the server:
 * PING, ECHO, INFO, DBSIZE, CLIENT, CONFIG, SELECT, HELLO, QUIT, TIME,
 * WAIT, RESET (COMMAND is resp_docs.c's).
 *
 * They answer at once, inside the parse hook, from this node's own state:
 * INFO reads the typed counters of admin.c (struct rc_admin_stats), net.c
 * and the cluster view. CONFIG GET answers what clients and redis-benchmark ask
 * at startup and the memory budget; CONFIG SET sets the budget and its
 * policy (the rest of ringcache is configured with its flags).
 */
#include "resp_int.h"
#include "config.h"
#include "err.h"
#include "evict.h"
#include "ring.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

int rc_resp_admin_ping(struct rc_resp_ctx *x)
{
    if (x->argc > 2)
        return rc_resp_server_errorf(x, "ERR wrong number of arguments for '%s' command",
                                     "ping");
    if (x->argc == 2)
        return rc_resp_bulk(x->out, x->argv[1].p, x->argv[1].len);
    return rc_resp_simple(x->out, "PONG");
}

int rc_resp_admin_echo(struct rc_resp_ctx *x)
{
    return rc_resp_bulk(x->out, x->argv[1].p, x->argv[1].len);
}

int rc_resp_admin_select(struct rc_resp_ctx *x)
{
    int64_t db;

    if (rc_resp_int(&x->argv[1], &db) < 0)
        return rc_resp_error(x->out, "ERR value is not an integer or out of range");
    if (db != 0)
        return rc_resp_error(x->out, "ERR DB index is out of range");
    return rc_resp_simple(x->out, "OK");
}

int rc_resp_admin_quit(struct rc_resp_ctx *x)
{
    int rv = rc_resp_simple(x->out, "OK");

    return rv < 0 ? rv : RC_NET_CLOSE;
}

/* TIME: this node's wall clock (the one expiry and versions use), as
 * Redis sends it: seconds and microseconds, two bulk strings. */
int rc_resp_admin_time(struct rc_resp_ctx *x)
{
    struct timeval tv;
    char s[24], us[24];
    int rv;

    gettimeofday(&tv, NULL);
    snprintf(s, sizeof(s), "%lld", (long long)tv.tv_sec);
    snprintf(us, sizeof(us), "%ld", (long)tv.tv_usec);
    rv = rc_resp_array(x->out, 2);
    if (rv == 0)
        rv = rc_resp_bulk_str(x->out, s);
    return rv < 0 ? rv : rc_resp_bulk_str(x->out, us);
}

/* WAIT numreplicas timeout: a write is acknowledged only once W replicas
 * (--w, at most --rf and the ring's nodes) stored it, so there is nothing to
 * wait for; the answer is how many replicas besides the first every
 * acknowledged write of this connection reached (0 on a single node, as
 * a Redis without replicas says). */
int rc_resp_admin_wait(struct rc_resp_ctx *x)
{
    int64_t n, timeout;
    int w = x->r->opts.w, rf = rc_cluster_rf(x->r->cluster);
    const struct rc_ring *ring = rc_cluster_ring(x->r->cluster);
    const uint64_t *ids;
    size_t members = ring != NULL ? rc_ring_members(ring, &ids) : 1;

    if (rc_resp_int(&x->argv[1], &n) < 0)
        return rc_resp_error(x->out, "ERR value is not an integer or out of range");
    if (rc_resp_int(&x->argv[2], &timeout) < 0)
        return rc_resp_error(x->out, "ERR timeout is not an integer or out of range");
    if (timeout < 0)
        return rc_resp_error(x->out, "ERR timeout is negative");
    if (w > rf)
        w = rf;
    if ((size_t)w > members)
        w = (int)members; /* a key has no more replicas than the ring has nodes */
    return rc_resp_integer(x->out, w > 1 ? w - 1 : 0);
}

/* RESET: the connection back to how it started, as Redis 7: no MULTI,
 * nothing watched, RESP2, replies on, no name, database 0, and (with
 * --auth-file) not authenticated. */
int rc_resp_admin_reset(struct rc_resp_ctx *x)
{
    struct rc_auth_conn *ac = rc_net_current_auth(x->net);
    struct rc_resp_conn *c = x->conn;

    rc_resp_multi_closed(c);
    c->proto = 2;
    x->r->cur_proto = 2;
    c->reply_mode = RC_RESP_REPLY_ON;
    c->no_evict = 0;
    c->no_touch = 0;
    c->name_len = 0;
    if (x->r->opts.auth != NULL && ac != NULL)
        ac->authed = 0;
    return rc_resp_simple(x->out, "RESET");
}

/* ---- CONFIG -------------------------------------------------------- */

/* CONFIG GET's parameters: what clients and redis-benchmark ask at
 * startup, and the memory budget, which CONFIG SET changes too. */
enum { P_SAVE, P_APPENDONLY, P_DATABASES, P_MAXMEMORY, P_MAXMEMORY_POLICY, P_COUNT };
static const char *const config_names[P_COUNT] = {"save", "appendonly", "databases", "maxmemory",
                                                  "maxmemory-policy"};

static void config_value(struct rc_resp_server *r, int p, char *buf, size_t len)
{
    const struct rc_node_opts *no = rc_node_opts(r->node);
    const char *name;

    switch (p) {
    case P_SAVE: snprintf(buf, len, "%s", ""); break;
    case P_APPENDONLY: snprintf(buf, len, "no"); break;
    case P_DATABASES: snprintf(buf, len, "1"); break;
    case P_MAXMEMORY: snprintf(buf, len, "%" PRId64, no->max_mem_bytes); break;
    default:
        name = rc_evict_policy_name(no->evict_policy);
        snprintf(buf, len, "%s", name ? name : "?");
    }
}

/* 1 when the parameter name matches a CONFIG GET pattern (glob, any case,
 * as Redis matches them). */
static int config_match(const struct rc_resp_arg *pat, const char *name)
{
    char p[128];
    size_t i;

    if (pat->len >= sizeof(p))
        return 0;
    /* The names are lower case: so is the pattern, for any case. */
    for (i = 0; i < pat->len; i++)
        p[i] = (char)(pat->p[i] >= 'A' && pat->p[i] <= 'Z' ? pat->p[i] - 'A' + 'a' : pat->p[i]);
    p[i] = '\0';
    return fnmatch(p, name, 0) == 0;
}

static int is_glob(const struct rc_resp_arg *a)
{
    size_t i;

    for (i = 0; i < a->len; i++)
        if (a->p[i] == '*' || a->p[i] == '?' || a->p[i] == '[')
            return 1;
    return 0;
}

/* Redis 7 names a parameter asked for without a glob as it was asked
 * ("CONFIG GET MAXMEMORY" answers "MAXMEMORY"), one matched by a glob by
 * its own name; the first argument that matched decides. */
static int config_get(struct rc_resp_ctx *x)
{
    char val[64];
    size_t k, hit[P_COUNT] = {0}; /* the argument that matched, 0: none */
    int p, n = 0, rv;

    for (p = 0; p < P_COUNT; p++)
        for (k = 2; k < x->argc && !hit[p]; k++)
            hit[p] = config_match(&x->argv[k], config_names[p]) ? k : 0;
    for (p = 0; p < P_COUNT; p++)
        n += hit[p] != 0;
    rv = rc_resp_map(x->out, (size_t)n, x->r->cur_proto);
    for (p = 0; rv == 0 && p < P_COUNT; p++) {
        const struct rc_resp_arg *a = &x->argv[hit[p]];

        if (!hit[p])
            continue;
        config_value(x->r, p, val, sizeof(val));
        rv = is_glob(a) ? rc_resp_bulk_str(x->out, config_names[p])
                        : rc_resp_bulk(x->out, a->p, a->len);
        if (rv == 0)
            rv = rc_resp_bulk_str(x->out, val);
    }
    return rv;
}

#define CONFIG_SET_FAILED "ERR CONFIG SET failed (possibly related to argument '%s') - "

/* Redis 7's error for an unknown policy, its eight names in its order,
 * then ringcache's own policies (README: "Memory budget and eviction"),
 * so the text begins exactly as Redis's does. Longer than
 * rc_resp_server_errorf's line. */
static int policy_error(struct rc_resp_ctx *x)
{
    static const char *const redis_order[] = {
        "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
        "allkeys-lru",  "allkeys-lfu",  "allkeys-random",  "noeviction"};
    const size_t nr = sizeof(redis_order) / sizeof(redis_order[0]);
    char msg[512];
    size_t n, i;
    int p;

    n = (size_t)snprintf(msg, sizeof(msg), CONFIG_SET_FAILED "argument(s) must be one of the "
                                                             "following: ",
                         "maxmemory-policy");
    for (i = 0; i < nr && n < sizeof(msg); i++)
        n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s%s", i ? ", " : "", redis_order[i]);
    for (p = 0; p < RC_EVICT_NPOLICIES && n < sizeof(msg); p++) {
        for (i = 0; i < nr && strcmp(redis_order[i], rc_evict_policy_name(p)) != 0; i++)
            ;
        if (i == nr)
            n += (size_t)snprintf(msg + n, sizeof(msg) - n, ", %s", rc_evict_policy_name(p));
    }
    return rc_resp_error(x->out, msg);
}

/* Checks one CONFIG SET pair (its name known: config_check_names) into
 * *budget / *policy; an error reply (Redis's words) when the value is
 * bad, 1 when it is good. */
static int config_check(struct rc_resp_ctx *x, const struct rc_resp_arg *name,
                        const struct rc_resp_arg *val, int64_t *budget, int *policy)
{
    const struct rc_node_opts *no = rc_node_opts(x->r->node);
    int in_memory = rc_node_opts_in_memory(no);
    int64_t min;

    if (rc_resp_is(name, "maxmemory")) {
        if (rc_config_parse_redis_mem((const char *)val->p, val->len, budget) < 0)
            return rc_resp_server_errorf(x, CONFIG_SET_FAILED "argument must be a memory value",
                                         "maxmemory");
        min = rc_config_mem_min(in_memory, (int64_t)no->max_key + no->max_value,
                                no->cache_kib * 1024);
        if (*budget != 0 && *budget < min)
            return rc_resp_server_errorf(
                x, CONFIG_SET_FAILED "maxmemory must be 0 (no budget) or at least %" PRId64
                                     " bytes (%s)",
                "maxmemory", min,
                in_memory ? "1 MiB and the largest entry" : "1 MiB and the page cache");
        return 1;
    }
    *policy = rc_evict_policy_parse((const char *)val->p, val->len); /* maxmemory-policy */
    if (*policy < 0)
        return policy_error(x);
    return 1;
}

/* Redis 7 checks every name before any value: the first unknown or
 * repeated name is the error (a repeat named as it was given). 1 when
 * all are known and distinct. */
static int config_check_names(struct rc_resp_ctx *x)
{
    const struct rc_resp_arg *name;
    int seen[2] = {0, 0}, p;
    size_t k;

    for (k = 2; k < x->argc; k += 2) {
        name = &x->argv[k];
        p = rc_resp_is(name, "maxmemory") ? 0 : rc_resp_is(name, "maxmemory-policy") ? 1 : -1;
        if (p < 0)
            return rc_resp_server_errorf(x, "ERR Unknown option or number of arguments for "
                                            "CONFIG SET - '%.*s'",
                                         (int)(name->len > 64 ? 64 : name->len),
                                         (const char *)name->p);
        if (seen[p]++)
            return rc_resp_server_errorf(x, "ERR CONFIG SET failed (possibly related to argument "
                                            "'%.*s') - duplicate parameter",
                                         (int)name->len, (const char *)name->p);
    }
    return 1;
}

/* CONFIG SET name value [name value ...]: all checked, then all applied
 * (Redis's atomic form). This node only: each node of a cluster has its
 * own budget. */
static int config_set(struct rc_resp_ctx *x)
{
    int64_t budget = -1;
    int policy = -1, rv;
    size_t k;

    if (x->argc < 4)
        return rc_resp_error(x->out, "ERR wrong number of arguments for 'config|set' command");
    if (x->argc % 2 != 0) /* a name without its value: Redis 7's answer */
        return rc_resp_error(x->out, "ERR syntax error");
    rv = config_check_names(x);
    if (rv != 1)
        return rv;
    for (k = 2; k < x->argc; k += 2) {
        rv = config_check(x, &x->argv[k], &x->argv[k + 1], &budget, &policy);
        if (rv != 1)
            return rv;
    }
    rv = rc_node_set_evict(x->r->node, budget, policy);
    if (rv < 0)
        return rc_resp_server_errorf(x, "ERR CONFIG SET failed - %s", rc_strerror(rv));
    rc_log_info(x->r->log, "CONFIG SET: maxmemory %" PRId64 " maxmemory-policy %s",
                rc_node_opts(x->r->node)->max_mem_bytes,
                rc_evict_policy_name(rc_node_opts(x->r->node)->evict_policy));
    return rc_resp_simple(x->out, "OK");
}

int rc_resp_admin_config(struct rc_resp_ctx *x)
{
    if (rc_resp_is(&x->argv[1], "GET") && x->argc < 3)
        return rc_resp_error(x->out, "ERR wrong number of arguments for 'config|get' command");
    if (rc_resp_is(&x->argv[1], "GET"))
        return config_get(x);
    if (rc_resp_is(&x->argv[1], "SET"))
        return config_set(x);
    return rc_resp_error(x->out, "ERR CONFIG: only CONFIG GET and CONFIG SET (maxmemory, "
                                 "maxmemory-policy) are supported (configure ringcache with "
                                 "its flags)");
}

/* The Redis version ringcache answers as (HELLO, INFO redis_version):
 * the 7.x command set it follows, so clients enable what Redis 7 has. */
#define REDIS_COMPAT_VERSION "7.2.0"

/* HELLO [protover [AUTH user pass] [SETNAME name]]: Redis 7's checks in
 * its order (version, options, authentication, name), then the map. */
int rc_resp_admin_hello(struct rc_resp_ctx *x)
{
    const struct rc_resp_arg *user = NULL, *pass = NULL, *name = NULL;
    int authed = rc_auth_passed(x->r->opts.auth, rc_net_current_auth(x->net));
    int64_t v = x->conn->proto == 3 ? 3 : 2;
    int rv, proto;
    size_t j;

    if (x->argc >= 2) {
        if (rc_resp_int(&x->argv[1], &v) < 0)
            return rc_resp_error(x->out, "ERR Protocol version is not an integer or out of range");
        if (v < 2 || v > 3)
            return rc_resp_error(x->out, "NOPROTO unsupported protocol version");
    }
    for (j = 2; j < x->argc; j++) {
        size_t more = x->argc - 1 - j;

        if (rc_resp_is(&x->argv[j], "AUTH") && more >= 2) {
            user = &x->argv[j + 1];
            pass = &x->argv[j + 2];
            j += 2;
        } else if (rc_resp_is(&x->argv[j], "SETNAME") && more >= 1) {
            name = &x->argv[++j];
        } else {
            return rc_resp_server_errorf(x, "ERR Syntax error in HELLO option '%.*s'",
                                         (int)(x->argv[j].len > 64 ? 64 : x->argv[j].len),
                                         (const char *)x->argv[j].p);
        }
    }
    if (!authed && user == NULL)
        return rc_resp_error(x->out,
                             "NOAUTH HELLO must be called with the client already authenticated, "
                             "otherwise the HELLO AUTH <user> <pass> option can be used to "
                             "authenticate the client and select the RESP protocol version "
                             "at the same time");
    if (user != NULL && (rv = rc_resp_server_auth(x, user, pass)) != 1)
        return rv;
    if (name != NULL && (rv = rc_resp_client_setname(x, name)) != 1)
        return rv;
    proto = (int)v;
    x->conn->proto = proto;
    x->r->cur_proto = proto;
    rv = rc_resp_map(x->out, 7, proto);
    if (rv == 0) rv = rc_resp_bulk_str(x->out, "server");
    if (rv == 0) rv = rc_resp_bulk_str(x->out, "redis");
    if (rv == 0) rv = rc_resp_bulk_str(x->out, "version");
    if (rv == 0) rv = rc_resp_bulk_str(x->out, REDIS_COMPAT_VERSION);
    if (rv == 0) rv = rc_resp_bulk_str(x->out, "proto");
    if (rv == 0) rv = rc_resp_integer(x->out, proto);
    if (rv == 0) rv = rc_resp_bulk_str(x->out, "id");
    if (rv == 0) rv = rc_resp_integer(x->out, (int64_t)x->conn->id);
    if (rv == 0) rv = rc_resp_bulk_str(x->out, "mode");
    if (rv == 0) rv = rc_resp_bulk_str(x->out, "standalone");
    if (rv == 0) rv = rc_resp_bulk_str(x->out, "role");
    if (rv == 0) rv = rc_resp_bulk_str(x->out, "master");
    if (rv == 0) rv = rc_resp_bulk_str(x->out, "modules");
    if (rv == 0) rv = rc_resp_array(x->out, 0);
    return rv;
}

/* ---- INFO ---------------------------------------------------------- */

/* INFO's lines: one that cannot be appended (no memory) is left out of
 * the text; the reply itself is still sent. */
#define tprintf(b, ...) ((void)rc_buf_appendf((b), __VA_ARGS__))

static int64_t rss_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return (int64_t)rss * sysconf(_SC_PAGESIZE);
}

static void info_cluster(struct rc_resp_server *r, struct rc_buf *b)
{
    double prim[RC_RING_MAX_MEMBERS], repl[RC_RING_MAX_MEMBERS];
    const struct rc_member *m;
    const uint64_t *ids = NULL;
    const struct rc_ring *ring;
    size_t nm, nr = 0, i, j;
    int rf;

    nm = rc_cluster_members(r->cluster, &m);
    ring = rc_cluster_ring(r->cluster);
    rf = rc_cluster_rf(r->cluster);
    if (ring != NULL) {
        nr = rc_ring_members(ring, &ids);
        rc_ring_shares(ring, rf, prim, repl);
    }
    tprintf(b, "# Cluster\r\ncluster_enabled:0\r\nringcache_members:%zu\r\n"
               "ring_members:%zu\r\nreplication_factor:%d\r\n", nm, nr, rf);
    for (i = 0; i < nm; i++) {
        double p = 0, q = 0;

        for (j = 0; j < nr; j++)
            if (ids[j] == m[i].id) {
                p = prim[j];
                q = repl[j];
            }
        tprintf(b, "member%zu:id=%016" PRIx64 ",host=%s,port=%u,peer_port=%u,state=%s,"
                   "primary=%.4f,replica=%.4f,self=%d\r\n",
                i, m[i].id, m[i].host, m[i].client_port, m[i].peer_port,
                rc_member_state_name(m[i].state), p, q,
                m[i].id == rc_node_id(r->node));
    }
}

/* INFO memory: Redis's budget fields first. used_memory is what the
 * budget counts (the data: admin.h's used_memory), not Redis's every
 * allocation; the allocator's total is allocator_allocated. */
static void info_memory(const struct rc_admin_stats *st, struct rc_buf *b)
{
    struct mallinfo2 mi = mallinfo2();
    char used[32], rss_h[32], max[32];
    int64_t rss = rss_bytes();

    rc_config_human_bytes(st->used_memory, used, sizeof(used));
    rc_config_human_bytes(rss, rss_h, sizeof(rss_h));
    rc_config_human_bytes(st->maxmemory, max, sizeof(max));
    tprintf(b, "# Memory\r\nused_memory:%" PRId64 "\r\nused_memory_human:%s\r\n"
               "used_memory_rss:%" PRId64 "\r\nused_memory_rss_human:%s\r\n",
            st->used_memory, used, rss, rss_h);
    tprintf(b, "maxmemory:%" PRId64 "\r\nmaxmemory_human:%s\r\nmaxmemory_policy:%s\r\n"
               "allocator_allocated:%zu\r\n",
            st->maxmemory, max, st->maxmemory_policy, mi.uordblks + mi.hblkhd);
    tprintf(b, "store_db_bytes:%" PRId64 "\r\nstore_value_bytes:%" PRId64
               "\r\nread_cache_bytes:%" PRId64 "\r\nread_cache_entries:%" PRId64
               "\r\nread_cache_hits:%" PRId64 "\r\nread_cache_misses:%" PRId64 "\r\n",
            st->db_bytes, st->bytes, st->read_cache_bytes, st->read_cache_entries,
            st->read_cache_hits, st->read_cache_misses);
    /* Write-behind's lag, as STATS gives it (docs/protocol.md). */
    tprintf(b, "write_behind:%" PRId64 "\r\nwb_dirty:%" PRId64 "\r\nwb_lag_ms:%" PRId64
               "\r\nwb_flushes:%" PRId64 "\r\nwb_flush_ms_max:%" PRId64
               "\r\nwb_backlog_waits:%" PRId64 "\r\nwb_journal_bytes:%" PRId64
               "\r\nwb_snapshots:%" PRId64 "\r\n\r\n",
            st->write_behind, st->wb_dirty, st->wb_lag_ms, st->wb_flushes, st->wb_flush_ms_max,
            st->wb_backlog_waits, st->wb_journal_bytes, st->wb_snapshots);
}

/* The rate over the last full second; 0 once no command came for two. */
static uint64_t ops_per_sec(const struct rc_resp_server *r)
{
    int64_t now = rc_node_now_ms();

    return now - (int64_t)r->ops_window_start_ms > 2000 ? 0 : r->ops_per_sec;
}

/* INFO server: what clients and exporters read. hz is the rate of the
 * expiry sweep (--purge-interval-ms), the work Redis's hz paces. */
static void info_server(struct rc_resp_server *r, struct rc_buf *b, int64_t up)
{
    const struct rc_node_opts *no = rc_node_opts(r->node);
    char exe[512] = "";
    struct utsname u;
    ssize_t n;
    int hz = no->purge_interval_ms > 0 ? (int)(1000 / no->purge_interval_ms) : 0;

    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = 0;
    if (uname(&u) < 0)
        memset(&u, 0, sizeof(u));
    tprintf(b, "# Server\r\nredis_version:%s\r\nringcache_version:%s\r\n"
               "redis_mode:standalone\r\nos:%s %s %s\r\narch_bits:%d\r\n",
            REDIS_COMPAT_VERSION, RC_VERSION, u.sysname, u.release, u.machine,
            (int)(sizeof(void *) * 8));
    tprintf(b, "process_id:%d\r\nrun_id:%s\r\ntcp_port:%d\r\nuptime_in_seconds:%" PRId64
               "\r\nuptime_in_days:%" PRId64 "\r\nhz:%d\r\nexecutable:%s\r\nconfig_file:\r\n"
               "node_id:%s\r\n\r\n",
            (int)getpid(), r->run_id, r->opts.port, up, up / 86400, hz < 1 ? 1 : hz, exe,
            rc_node_id_hex(r->node));
}

static void info_text(struct rc_resp_server *r, struct rc_buf *b, const char *sec)
{
    struct rc_admin_stats st;
    struct rc_net_stats ns = {0};
    int all = sec == NULL;
    int64_t up = (rc_node_now_ms() - r->start_ms) / 1000;

    rc_admin_snapshot(r->admin, &st);
    if (r->net)
        rc_net_stats(r->net, &ns);
    if (all || strcmp(sec, "server") == 0)
        info_server(r, b, up);
    if (all || strcmp(sec, "clients") == 0)
        tprintf(b, "# Clients\r\nconnected_clients:%" PRIu64 "\r\nnative_clients:%" PRId64
                   "\r\n\r\n", ns.conns, st.connections);
    if (all || strcmp(sec, "memory") == 0)
        info_memory(&st, b);
    if (all || strcmp(sec, "replication") == 0)
        tprintf(b, "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n");
    if (all || strcmp(sec, "stats") == 0)
        tprintf(b, "# Stats\r\ntotal_connections_received:%" PRIu64
                   "\r\ntotal_commands_processed:%" PRIu64 "\r\ninstantaneous_ops_per_sec:%" PRIu64
                   "\r\nexpired_keys:%" PRId64 "\r\n",
                ns.conns_total, r->commands, ops_per_sec(r), st.expired_purged);
    if (all || strcmp(sec, "stats") == 0)
        tprintf(b, "rejected_connections:%" PRIu64
                   "\r\nevicted_keys:%" PRId64
                   "\r\nkeyspace_hits:%" PRId64 "\r\nkeyspace_misses:%" PRId64
                   "\r\ntotal_error_replies:%" PRId64 "\r\nunknown_commands:%" PRIu64
                   "\r\nprotocol_errors:%" PRIu64 "\r\nread_repairs:%" PRId64
                   "\r\nhints_pending:%" PRId64 "\r\n\r\n",
                ns.conns_rejected, st.evicted_keys,
                st.keyspace_hits, st.keyspace_misses, st.errors, r->unknown,
                ns.protocol_errors, st.read_repairs,
                st.hints_pending);
    if (all || strcmp(sec, "keyspace") == 0) {
        /* This node's copies (Redis Cluster's INFO is per node too; DBSIZE
         * counts the cluster's keys); no db0 line when empty, as Redis. */
        int64_t avg_ttl = 0, vol = rc_node_volatile_keys(r->node, &avg_ttl);

        tprintf(b, "# Keyspace\r\n");
        if (st.keys > 0)
            tprintf(b, "db0:keys=%" PRId64 ",expires=%" PRId64 ",avg_ttl=%" PRId64 "\r\n",
                    st.keys, vol, avg_ttl);
        tprintf(b, "\r\n");
    }
    if (all || strcmp(sec, "cluster") == 0) {
        info_cluster(r, b);
        tprintf(b, "\r\n");
    }
}

int rc_resp_admin_info(struct rc_resp_ctx *x)
{
    struct rc_buf *b = &x->r->tmp;
    char sec[16];
    size_t i, k;

    rc_buf_reset(b);
    if (x->argc == 1)
        info_text(x->r, b, NULL);
    for (i = 1; i < x->argc; i++) {
        const struct rc_resp_arg *a = &x->argv[i];

        if (rc_resp_is(a, "all") || rc_resp_is(a, "everything") || rc_resp_is(a, "default")) {
            info_text(x->r, b, NULL);
            continue;
        }
        if (a->len >= sizeof(sec))
            continue;
        for (k = 0; k < a->len; k++)
            sec[k] = (char)(a->p[k] >= 'A' && a->p[k] <= 'Z' ? a->p[k] - 'A' + 'a' : a->p[k]);
        sec[k] = 0;
        info_text(x->r, b, sec);
    }
    /* Redis ends the text without the last blank line. */
    if (rc_buf_used(b) >= 2)
        b->len -= 2;
    return rc_resp_verbatim(x->out, rc_buf_rptr(b), rc_buf_used(b), x->r->cur_proto);
}
