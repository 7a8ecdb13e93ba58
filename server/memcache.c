/*
 * memcache.c - the memcached front end (see memcache.h): the net hook and
 * the commands about the server (stats, version, verbosity, quit, mn).
 *
 * net.c hands us the connection's input; common/mcproto.c cuts one
 * command from it. A parse error gets memcached's own reply line and its
 * follow-up: go on after the line, discard a refused data block as it
 * arrives (the connection's swallow count, so "set k 0 0 2000000" costs
 * no memory), or close (a line too long, the binary protocol). Commands
 * on keys go to memcache_keys.c.
 */
#include "memcache_int.h"
#include "err.h"
#include "evict.h"
#include "keyspace.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* The version we answer: memcached's protocol level first, since clients
 * parse it for features (libmemcached refuses a major version of 0),
 * then ringcache's own. */
#define MC_VERSION "1.6.0-ringcache-" RC_VERSION

static int stat_line(struct rc_buf *out, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int stat_line(struct rc_buf *out, const char *name, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    int n, k;

    n = snprintf(line, sizeof(line), "STAT %s ", name);
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof(line) - (size_t)n - 2, fmt, ap);
    va_end(ap);
    if (k < 0)
        return RC_EINTERNAL;
    n += k < (int)(sizeof(line) - (size_t)n - 2) ? k : (int)(sizeof(line) - (size_t)n - 3);
    line[n++] = '\r';
    line[n++] = '\n';
    return rc_buf_append(out, line, (size_t)n);
}

#define U(name, v) stat_line(out, name, "%" PRIu64, (uint64_t)(v))
#define I(name, v) stat_line(out, name, "%" PRId64, (int64_t)(v))

/* "stats": memcached's general figures, from this node (admin.c's STATS
 * and this front end's own counters). A ringcache_* line or two say what
 * only a cluster has. */
static int stats_general(struct rc_memcache *m, struct rc_buf *out)
{
    struct rc_admin_stats st;
    struct rc_net_stats ns = {0};
    struct rusage ru;
    const struct mc_counters *c = &m->n;
    int rv = 0;

    rc_admin_snapshot(m->admin, &st);
    if (m->net)
        rc_net_stats(m->net, &ns);
    getrusage(RUSAGE_SELF, &ru);
    rv |= I("pid", getpid());
    rv |= I("uptime", (rc_node_now_ms() - m->start_ms) / 1000);
    rv |= I("time", rc_node_now_ms() / 1000);
    rv |= stat_line(out, "version", "%s", MC_VERSION);
    rv |= I("pointer_size", (int64_t)(8 * sizeof(void *)));
    rv |= stat_line(out, "rusage_user", "%ld.%06ld", (long)ru.ru_utime.tv_sec,
                    (long)ru.ru_utime.tv_usec);
    rv |= stat_line(out, "rusage_system", "%ld.%06ld", (long)ru.ru_stime.tv_sec,
                    (long)ru.ru_stime.tv_usec);
    rv |= I("max_connections", m->opts.max_conns);
    rv |= U("curr_connections", ns.conns);
    rv |= U("total_connections", ns.conns_total);
    rv |= U("rejected_connections", ns.conns_rejected);
    rv |= U("cmd_get", c->cmd_get);
    rv |= U("cmd_set", c->cmd_set);
    rv |= U("cmd_flush", c->cmd_flush);
    rv |= U("cmd_touch", c->cmd_touch);
    rv |= U("cmd_meta", c->cmd_meta);
    rv |= U("get_hits", c->get_hits);
    rv |= U("get_misses", c->get_misses);
    rv |= U("delete_misses", c->delete_misses);
    rv |= U("delete_hits", c->delete_hits);
    rv |= U("incr_misses", c->incr_misses);
    rv |= U("incr_hits", c->incr_hits);
    rv |= U("decr_misses", c->decr_misses);
    rv |= U("decr_hits", c->decr_hits);
    rv |= U("cas_misses", c->cas_misses);
    rv |= U("cas_hits", c->cas_hits);
    rv |= U("cas_badval", c->cas_badval);
    rv |= U("touch_hits", c->touch_hits);
    rv |= U("touch_misses", c->touch_misses);
    rv |= U("auth_cmds", 0);
    rv |= U("auth_errors", 0);
    rv |= U("threads", 1);
    rv |= U("curr_items", st.keys);
    rv |= U("bytes", st.bytes);
    rv |= U("evictions", st.evicted_keys);
    rv |= U("limit_maxbytes", st.maxmemory);
    rv |= U("protocol_errors", ns.protocol_errors);
    rv |= stat_line(out, "ringcache_node_id", "%s", st.node_id ? st.node_id : "?");
    rv |= I("ringcache_members_alive", st.members_alive);
    rv |= I("ringcache_replication_factor", st.replication_factor);
    return rv;
}

static int stats_settings(struct rc_memcache *m, struct rc_buf *out)
{
    struct rc_admin_stats st;
    int rv = 0;

    rc_admin_snapshot(m->admin, &st);
    rv |= I("maxbytes", st.maxmemory);
    rv |= I("maxconns", m->opts.max_conns);
    rv |= I("tcpport", m->opts.port);
    rv |= I("udpport", 0);
    rv |= I("verbosity", m->verbosity);
    rv |= stat_line(out, "evictions", "%s",
                    st.maxmemory_policy && strcmp(st.maxmemory_policy, "noeviction") == 0
                        ? "off" : "on");
    rv |= stat_line(out, "cas_enabled", "yes");
    rv |= I("item_size_max", (int64_t)m->opts.max_value);
    rv |= I("key_max", RC_MC_KEY_MAX);
    rv |= I("num_threads", 1);
    rv |= stat_line(out, "binding_protocol", "ascii");
    rv |= stat_line(out, "maxmemory_policy", "%s",
                    st.maxmemory_policy ? st.maxmemory_policy : "?");
    return rv;
}

/* ringcache has no slab classes: one class, 1, holds every item, so the
 * tools that walk "stats items" / "stats slabs" find this node's items
 * and memory there. */
static int stats_items(struct rc_memcache *m, struct rc_buf *out, int slabs)
{
    struct rc_admin_stats st;
    int rv = 0;

    rc_admin_snapshot(m->admin, &st);
    if (!slabs) {
        rv |= I("items:1:number", st.keys);
        rv |= I("items:1:evicted", st.evicted_keys);
        rv |= I("items:1:mem_requested", st.bytes);
        return rv;
    }
    rv |= I("1:chunk_size", (int64_t)m->opts.max_value);
    rv |= I("1:used_chunks", st.keys);
    rv |= I("1:mem_requested", st.bytes);
    rv |= U("1:get_hits", m->n.get_hits);
    rv |= U("1:cmd_set", m->n.cmd_set);
    rv |= I("active_slabs", 1);
    rv |= I("total_malloced", st.used_memory);
    return rv;
}

static int do_stats(struct rc_memcache *m, const struct rc_mc_req *req, struct rc_buf *out)
{
    const struct rc_mc_tok *a = &req->args;
    int rv;

    if (a->len == 0)
        rv = stats_general(m, out);
    else if (a->len == 8 && memcmp(a->p, "settings", 8) == 0)
        rv = stats_settings(m, out);
    else if (a->len == 5 && memcmp(a->p, "items", 5) == 0)
        rv = stats_items(m, out, 0);
    else if (a->len == 5 && memcmp(a->p, "slabs", 5) == 0)
        rv = stats_items(m, out, 1);
    else
        return rc_mc_line(out, "ERROR"); /* memcached's answer to an unknown group */
    return rv < 0 ? rv : rc_buf_append(out, "END\r\n", 5);
}

/* The commands about the server: answered at once. RC_NET_DONE, or
 * RC_NET_CLOSE for quit. */
static int server_cmd(struct rc_memcache *m, const struct rc_mc_req *req, struct rc_buf *out)
{
    int64_t v;

    switch (req->cmd) {
    case RC_MC_STATS:
        return do_stats(m, req, out);
    case RC_MC_VERSION:
        return rc_mc_line(out, "VERSION " MC_VERSION);
    case RC_MC_VERBOSITY:
        if (rc_mc_i64(req->args.p, req->args.len, &v) == 0)
            m->verbosity = v > 0 ? (int)(v > 10 ? 10 : v) : 0;
        /* Accepted and reported by "stats settings"; the node's log level
         * is --log-level. */
        return req->noreply ? 0 : rc_mc_line(out, "OK");
    case RC_MC_MN:
        return rc_mc_line(out, "MN");
    default: /* quit: closes without a word, as memcached */
        return RC_NET_CLOSE;
    }
}

static void on_flushed(void *arg, int acked, int asked)
{
    struct rc_net_slot *slot = arg;
    char line[200];
    int n;

    if (acked > asked / 2)
        n = snprintf(line, sizeof(line), "OK\r\n");
    else
        n = snprintf(line, sizeof(line),
                     "SERVER_ERROR flush recorded on %d of %d live members; the others learn "
                     "it from their peers within seconds\r\n",
                     acked, asked);
    rc_net_complete_bytes(slot, line, (size_t)n);
}

/*
 * flush_all [delay] [noreply]: the cluster's flush (RESP FLUSHALL's:
 * keyspace.h), so every node forgets every item, not this one's copies
 * only. Without a delay it answers once a majority of the live members
 * recorded it (SERVER_ERROR, naming how many did, otherwise); with one
 * (relative seconds, or an absolute Unix time past 30 days, as memcached
 * reads exptime) it answers OK at once and this node starts the flush
 * when the delay ends.
 */
static int do_flush_all(struct rc_memcache *m, struct rc_net *net, const struct rc_mc_req *req,
                        struct rc_buf *out)
{
    struct rc_net_slot *slot;
    uint64_t delay_ms = 0;

    if (m->ks == NULL)
        return rc_mc_line(out, "SERVER_ERROR flush_all is not available on this node");
    m->n.cmd_flush++;
    if (req->exptime > 0 && rc_mc_exptime(req->exptime, rc_node_now_ms() / 1000, &delay_ms) == 0 &&
        delay_ms > 0) {
        rc_keyspace_flushall_at(m->ks, (int64_t)delay_ms);
        return req->noreply ? 0 : rc_mc_line(out, "OK");
    }
    if (req->noreply) {
        rc_keyspace_flushall_at(m->ks, 0);
        return 0;
    }
    slot = rc_net_defer(net);
    if (slot == NULL)
        return RC_ENOMEM;
    rc_keyspace_flushall(m->ks, on_flushed, slot);
    return 0;
}

static int on_parse(void *arg, struct rc_net *net, void *conn, const uint8_t *in, size_t len,
                    struct rc_buf *out, size_t *used)
{
    struct rc_memcache *m = arg;
    struct mc_conn *c = conn;
    struct rc_mc_req req;
    struct rc_mc_error err;
    struct mc_ctx x = {m, net, &req, out};
    int rv;

    if (c->swallow > 0) {
        /* A refused data block: discarded as it arrives. */
        *used = len < c->swallow ? len : (size_t)c->swallow;
        c->swallow -= *used;
        return *used ? RC_NET_DONE : RC_NET_MORE;
    }
    req.keys = m->keys;
    rv = rc_mc_parse(in, len, &m->lim, &req, used, &err);
    if (rv == 0)
        return RC_NET_MORE;
    if (rv < 0) {
        m->n.errors++;
        rv = err.line[0] ? rc_mc_line(out, err.line) : 0;
        if (rv < 0)
            return rv;
        if (err.action == RC_MC_SWALLOW)
            c->swallow = err.swallow;
        return err.action == RC_MC_CLOSE ? RC_NET_PROTO_ERROR : RC_NET_BAD_REQUEST;
    }
    m->n.commands++;
    if (req.cmd >= RC_MC_MG && req.cmd <= RC_MC_ME)
        m->n.cmd_meta++;
    if (req.cmd == RC_MC_STATS || req.cmd == RC_MC_VERSION || req.cmd == RC_MC_VERBOSITY ||
        req.cmd == RC_MC_QUIT || req.cmd == RC_MC_MN) {
        rv = server_cmd(m, &req, out);
    } else if (req.cmd == RC_MC_FLUSH_ALL) {
        rv = do_flush_all(m, net, &req, out);
    } else {
        rv = rc_mc_keys_run(&x);
    }
    if (rv < 0)
        return rv;
    return rv == RC_NET_CLOSE ? RC_NET_CLOSE : RC_NET_DONE;
}

static int on_refuse(struct rc_buf *out)
{
    return rc_mc_line(out, "SERVER_ERROR too many open connections");
}

void rc_memcache_handler(struct rc_memcache *m, struct rc_net_handler *h)
{
    memset(h, 0, sizeof(*h));
    h->arg = m;
    h->parse = on_parse;
    h->conn_size = sizeof(struct mc_conn);
    h->refuse = on_refuse;
}

void rc_memcache_set_keyspace(struct rc_memcache *m, struct rc_keyspace *ks)
{
    m->ks = ks;
}

void rc_memcache_set_net(struct rc_memcache *m, struct rc_net *net)
{
    m->net = net;
}

int rc_memcache_new(const struct rc_memcache_opts *opts, struct rc_coord *coord,
                    struct rc_admin *admin, struct rc_node *node, const struct rc_log *log,
                    struct rc_memcache **out)
{
    struct rc_memcache *m;

    *out = NULL;
    if (opts->max_keys < 2 || opts->max_line < RC_MC_LINE_MAX)
        return RC_EINVAL;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return RC_ENOMEM;
    m->opts = *opts;
    m->co = coord;
    m->admin = admin;
    m->node = node;
    m->log = log;
    m->lim.max_keys = opts->max_keys;
    m->lim.max_value = opts->max_value;
    m->lim.max_line = opts->max_line;
    m->keys = calloc(opts->max_keys, sizeof(*m->keys));
    if (m->keys == NULL) {
        free(m);
        return RC_ENOMEM;
    }
    m->start_ms = rc_node_now_ms();
    *out = m;
    return 0;
}

void rc_memcache_free(struct rc_memcache *m)
{
    if (m == NULL)
        return;
    rc_mc_keys_close(m);
    free(m->keys);
    free(m);
}
