/*
 * resp_admin.c - the RESP commands about the connection and the server:
 * PING, ECHO, INFO, DBSIZE, COMMAND, CLIENT, CONFIG, SELECT, HELLO, QUIT.
 *
 * They answer at once, inside the parse hook, from this node's own state:
 * INFO reads the typed counters of admin.c (struct rc_admin_stats), net.c
 * and the cluster view; COMMAND reports the command table of
 * resp_server.c. CONFIG answers what clients and redis-benchmark ask at
 * startup and sets nothing (ringcache is configured with its flags).
 */
#include "resp_int.h"
#include "ring.h"

#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
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

int rc_resp_admin_dbsize(struct rc_resp_ctx *x)
{
    struct rc_node_stats ns;

    rc_node_stats(x->r->node, &ns);
    return rc_resp_integer(x->out, ns.store.keys);
}

int rc_resp_admin_client(struct rc_resp_ctx *x)
{
    const struct rc_resp_arg *sub = &x->argv[1];
    struct rc_resp_conn *c = x->conn;
    size_t i;

    if (rc_resp_is(sub, "SETNAME") && x->argc == 3) {
        const struct rc_resp_arg *n = &x->argv[2];

        for (i = 0; i < n->len; i++)
            if (n->p[i] <= ' ' || n->p[i] > '~')
                return rc_resp_error(x->out, "ERR Client names cannot contain spaces, newlines "
                                             "or special characters.");
        if (n->len > RC_RESP_NAME_MAX)
            return rc_resp_error(x->out, "ERR client name longer than 128 bytes");
        memcpy(c->name, n->p, n->len);
        c->name_len = n->len;
        return rc_resp_simple(x->out, "OK");
    }
    if (rc_resp_is(sub, "GETNAME") && x->argc == 2)
        return c->name_len ? rc_resp_bulk(x->out, c->name, c->name_len) : rc_resp_nil(x->out);
    if (rc_resp_is(sub, "ID") && x->argc == 2)
        return rc_resp_integer(x->out, (int64_t)c->id);
    if (rc_resp_is(sub, "SETINFO") && x->argc == 4)
        return rc_resp_simple(x->out, "OK"); /* library name/version: accepted, not kept */
    return rc_resp_error(x->out, "ERR unknown subcommand or wrong number of arguments for "
                                 "'CLIENT'. Try CLIENT SETNAME, GETNAME, ID.");
}

int rc_resp_admin_config(struct rc_resp_ctx *x)
{
    /* What redis-benchmark and clients ask at startup; nothing is settable. */
    static const char *const params[][2] = {{"save", ""}, {"appendonly", "no"},
                                            {"databases", "1"}};
    size_t i, n = 0, k;
    int rv;

    if (!rc_resp_is(&x->argv[1], "GET") || x->argc < 3)
        return rc_resp_error(x->out, "ERR CONFIG: only CONFIG GET is supported (configure "
                                     "ringcache with its flags)");
    for (i = 0; i < sizeof(params) / sizeof(params[0]); i++)
        for (k = 2; k < x->argc; k++)
            if (rc_resp_is(&x->argv[k], params[i][0]) || rc_resp_is(&x->argv[k], "*")) {
                n++;
                break;
            }
    rv = rc_resp_array(x->out, n * 2);
    for (i = 0; rv == 0 && i < sizeof(params) / sizeof(params[0]); i++)
        for (k = 2; k < x->argc; k++)
            if (rc_resp_is(&x->argv[k], params[i][0]) || rc_resp_is(&x->argv[k], "*")) {
                rv = rc_resp_bulk_str(x->out, params[i][0]);
                if (rv == 0)
                    rv = rc_resp_bulk_str(x->out, params[i][1]);
                break;
            }
    return rv;
}

/* One COMMAND entry: [name, arity, [flags], first, last, step]. */
static int encode_command(struct rc_buf *out, const struct rc_resp_cmd_def *d)
{
    char flags[64], *save = NULL, *f;
    size_t nf = 0, i;
    int rv;

    for (i = 0; d->flags[i]; i++)
        nf += d->flags[i] == ' ';
    nf += d->flags[0] != 0;
    rv = rc_resp_array(out, 6);
    if (rv == 0)
        rv = rc_resp_bulk_str(out, d->name);
    if (rv == 0)
        rv = rc_resp_integer(out, d->arity);
    if (rv == 0)
        rv = rc_resp_array(out, nf);
    snprintf(flags, sizeof(flags), "%s", d->flags);
    for (f = strtok_r(flags, " ", &save); rv == 0 && f; f = strtok_r(NULL, " ", &save))
        rv = rc_resp_simple(out, f);
    if (rv == 0)
        rv = rc_resp_integer(out, d->first);
    if (rv == 0)
        rv = rc_resp_integer(out, d->last);
    if (rv == 0)
        rv = rc_resp_integer(out, d->step);
    return rv;
}

int rc_resp_admin_command(struct rc_resp_ctx *x)
{
    const struct rc_resp_arg *sub = x->argc > 1 ? &x->argv[1] : NULL;
    const struct rc_resp_cmd_def *d, *table;
    size_t i, n;
    int rv;

    table = rc_resp_server_commands(&n);
    if (sub == NULL) {
        rv = rc_resp_array(x->out, n);
        for (i = 0; rv == 0 && i < n; i++)
            rv = encode_command(x->out, &table[i]);
        return rv;
    }
    if (rc_resp_is(sub, "COUNT"))
        return rc_resp_integer(x->out, (int64_t)n);
    if (rc_resp_is(sub, "DOCS"))
        return rc_resp_array(x->out, 0); /* redis-cli falls back to its built-in help */
    if (rc_resp_is(sub, "INFO")) {
        rv = rc_resp_array(x->out, x->argc - 2);
        for (i = 2; rv == 0 && i < x->argc; i++) {
            d = rc_resp_server_find(&x->argv[i]);
            /* Redis answers a nil entry for an unknown name. */
            rv = d ? encode_command(x->out, d) : rc_resp_nil(x->out);
        }
        return rv;
    }
    return rc_resp_server_errorf(x,
                                 "ERR unknown subcommand '%.*s'. Try COMMAND COUNT, INFO, DOCS.",
                                 (int)(sub->len > 64 ? 64 : sub->len), (const char *)sub->p);
}

int rc_resp_admin_hello(struct rc_resp_ctx *x)
{
    int64_t v = 2;
    int rv;

    if (x->argc > 1 && (rc_resp_int(&x->argv[1], &v) < 0 || v < 2 || v > 3))
        return rc_resp_error(x->out, "NOPROTO unsupported protocol version");
    if (v == 3)
        return rc_resp_error(x->out, "NOPROTO sorry, this server speaks RESP2 only");
    if (x->argc > 2)
        return rc_resp_error(x->out, "ERR HELLO: AUTH and SETNAME options are not supported");
    rv = rc_resp_array(x->out, 14);
    if (rv == 0) rv = rc_resp_bulk_str(x->out, "server");
    if (rv == 0) rv = rc_resp_bulk_str(x->out, "ringcache");
    if (rv == 0) rv = rc_resp_bulk_str(x->out, "version");
    if (rv == 0) rv = rc_resp_bulk_str(x->out, RC_VERSION);
    if (rv == 0) rv = rc_resp_bulk_str(x->out, "proto");
    if (rv == 0) rv = rc_resp_integer(x->out, 2);
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

static void tprintf(struct rc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tprintf(struct rc_buf *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        rc_buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

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

static void info_text(struct rc_resp_server *r, struct rc_buf *b, const char *sec)
{
    struct rc_admin_stats st;
    struct rc_net_stats ns = {0};
    int all = sec == NULL;
    int64_t up = (rc_node_now_ms() - r->start_ms) / 1000;
    struct mallinfo2 mi = mallinfo2();

    rc_admin_snapshot(r->admin, &st);
    if (r->net)
        rc_net_stats(r->net, &ns);
    if (all || strcmp(sec, "server") == 0)
        tprintf(b, "# Server\r\nredis_version:7.0.0\r\nringcache_version:%s\r\n"
                   "redis_mode:standalone\r\nprocess_id:%d\r\ntcp_port:%d\r\n"
                   "uptime_in_seconds:%" PRId64 "\r\nuptime_in_days:%" PRId64 "\r\n"
                   "node_id:%s\r\n\r\n",
                RC_VERSION, (int)getpid(), r->opts.port, up, up / 86400,
                rc_node_id_hex(r->node));
    if (all || strcmp(sec, "clients") == 0)
        tprintf(b, "# Clients\r\nconnected_clients:%" PRIu64 "\r\nnative_clients:%" PRId64
                   "\r\n\r\n", ns.conns, st.connections);
    if (all || strcmp(sec, "memory") == 0)
        tprintf(b, "# Memory\r\nused_memory:%zu\r\nused_memory_rss:%" PRId64
                   "\r\nstore_db_bytes:%" PRId64 "\r\nstore_value_bytes:%" PRId64
                   "\r\nread_cache_bytes:%" PRId64 "\r\nread_cache_entries:%" PRId64
                   "\r\nread_cache_hits:%" PRId64 "\r\nread_cache_misses:%" PRId64 "\r\n\r\n",
                mi.uordblks + mi.hblkhd, rss_bytes(), st.db_bytes,
                st.bytes, st.read_cache_bytes,
                st.read_cache_entries, st.read_cache_hits,
                st.read_cache_misses);
    if (all || strcmp(sec, "stats") == 0)
        tprintf(b, "# Stats\r\ntotal_connections_received:%" PRIu64
                   "\r\ntotal_commands_processed:%" PRIu64 "\r\nrejected_connections:%" PRIu64
                   "\r\nkeyspace_hits:%" PRId64 "\r\nkeyspace_misses:%" PRId64
                   "\r\ntotal_error_replies:%" PRId64 "\r\nunknown_commands:%" PRIu64
                   "\r\nprotocol_errors:%" PRIu64 "\r\nread_repairs:%" PRId64
                   "\r\nhints_pending:%" PRId64 "\r\n\r\n",
                ns.conns_total, r->commands, ns.conns_rejected, st.hits,
                st.misses, st.errors, r->unknown,
                ns.protocol_errors, st.read_repairs,
                st.hints_pending);
    if (all || strcmp(sec, "keyspace") == 0)
        tprintf(b, "# Keyspace\r\ndb0:keys=%" PRId64 "\r\n\r\n", st.keys);
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
    return rc_resp_bulk(x->out, rc_buf_rptr(b), rc_buf_used(b));
}
