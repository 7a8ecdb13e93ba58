/*
 * main.c - ringcache-server: parses the configuration and wires the modules.
 *
 * Everything runs on one libuv loop. SIGTERM/SIGINT start a clean
 * shutdown: stop accepting, send the replies already owed, commit, close
 * the store, exit 0.
 */
#include "config.h"
#include "err.h"
#include "log.h"
#include "net.h"
#include "node.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

struct server_config {
    const char *bind;
    int64_t port;
    const char *data_dir;
    int64_t max_key_size;
    int64_t max_value_size;
    int64_t max_conns;
    int64_t max_db_size;
    int64_t cache_size;
    int64_t tombstone_grace;
    int64_t purge_interval;
    int64_t purge_batch;
    int64_t max_drift;
    int64_t out_buffer;
    int64_t shutdown_timeout;
    const char *log_level;
};

#define OPT(name, env, type, def, min, max, field, help) \
    {name, "RINGCACHE_" env, type, def, min, max, offsetof(struct server_config, field), help}

static const struct rc_opt server_opts[] = {
    OPT("bind", "BIND", RC_OPT_STR, "127.0.0.1", 0, 0, bind,
        "Address to listen on for clients (IPv4 or IPv6 literal)."),
    OPT("port", "PORT", RC_OPT_INT, "7400", 0, 65535, port, "TCP port for clients."),
    OPT("data-dir", "DATA_DIR", RC_OPT_STR, "./ringcache-data", 0, 0, data_dir,
        "Directory for the SQLite database; ':memory:' keeps data in memory only (pure cache, "
        "lost on restart)."),
    OPT("max-key-size", "MAX_KEY_SIZE", RC_OPT_INT, "1024", 1, 65536, max_key_size,
        "Largest key in bytes. Keys are indexed and sent in every internode message, so keep "
        "them short."),
    OPT("max-value-size", "MAX_VALUE_SIZE", RC_OPT_INT, "1m", 0, 256 * 1024 * 1024,
        max_value_size,
        "Largest value in bytes (k/m suffixes). The frame limit is this plus the key limit "
        "plus 4 KiB."),
    OPT("max-conns", "MAX_CONNS", RC_OPT_INT, "10000", 1, 1000000, max_conns,
        "Client connections beyond this are refused with TOO_MANY_CONNS. Each costs a file "
        "descriptor: raise `ulimit -n` with it."),
    OPT("max-db-size", "MAX_DB_SIZE", RC_OPT_INT, "0", 0, INT64_MAX, max_db_size,
        "Cap on the database size in bytes (k/m/g); writes past it fail with FULL, reads keep "
        "working. 0 = limited by the disk."),
    OPT("cache-size", "CACHE_SIZE", RC_OPT_INT, "64m", 1024 * 1024, INT64_MAX, cache_size,
        "SQLite page cache in bytes: the hot part of the data served without reading the "
        "disk."),
    OPT("tombstone-grace", "TOMBSTONE_GRACE", RC_OPT_INT, "86400", 1, 10LL * 365 * 86400,
        tombstone_grace,
        "Seconds a delete marker is kept. Must exceed the longest time a replica can be away "
        "and come back with older data, or deleted keys may reappear."),
    OPT("purge-interval", "PURGE_INTERVAL", RC_OPT_INT, "1000", 10, 3600 * 1000, purge_interval,
        "Milliseconds between purges of expired keys and old tombstones. Expired keys are "
        "never served; this only bounds how long they use disk."),
    OPT("purge-batch", "PURGE_BATCH", RC_OPT_INT, "1000", 1, 1000000, purge_batch,
        "Rows deleted per purge step; bounded so a purge never stalls clients for long."),
    OPT("max-drift", "MAX_DRIFT", RC_OPT_INT, "60000", 1, 86400 * 1000, max_drift,
        "Milliseconds a peer's clock may be ahead before its timestamps are rejected."),
    OPT("out-buffer", "OUT_BUFFER", RC_OPT_INT, "4m", 64 * 1024, 1024 * 1024 * 1024,
        out_buffer,
        "Pending reply bytes per connection at which the server stops reading that client "
        "until it reads its replies (backpressure)."),
    OPT("shutdown-timeout", "SHUTDOWN_TIMEOUT", RC_OPT_INT, "5000", 0, 600 * 1000,
        shutdown_timeout, "Milliseconds shutdown waits for clients to take their replies."),
    OPT("log-level", "LOG_LEVEL", RC_OPT_STR, "info", 0, 0, log_level,
        "debug, info, warn or error."),
};

#define NOPTS (sizeof(server_opts) / sizeof(server_opts[0]))

struct server {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    struct rc_log log;
    struct rc_node *node;
    struct rc_net *net;
    int stopping;
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: ringcache-server [OPTIONS]\n\n"
                 "A ringcache node: a key-value cache stored in SQLite, spoken to over\n"
                 "the native protocol (docs/protocol.md). Every option can also be set by\n"
                 "its environment variable; flags win over the environment.\n\nOptions:\n");
    rc_config_usage(server_opts, NOPTS, out);
    fprintf(out, "  --help\n        Show this help.\n");
}

static void on_net_closed(void *arg)
{
    struct server *s = arg;

    rc_node_stop(s->node);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct server *s = h->data;

    if (s->stopping) {
        rc_log_warn(&s->log, "second signal: exiting now");
        exit(1);
    }
    s->stopping = 1;
    rc_log_info(&s->log, "shutdown requested signal=%s", signum == SIGTERM ? "TERM" : "INT");
    rc_net_shutdown(s->net, on_net_closed, s);
}

static int run(struct server *s, const struct server_config *cfg)
{
    struct rc_node_opts no = {0};
    struct rc_net_opts nopt = {0};
    struct rc_net_handler h;
    char err[256] = "";
    int rv;

    no.data_dir = cfg->data_dir;
    no.max_key = (uint32_t)cfg->max_key_size;
    no.max_value = (uint32_t)cfg->max_value_size;
    no.max_frame = (uint32_t)(cfg->max_value_size + cfg->max_key_size + 4096);
    no.tombstone_grace_ms = cfg->tombstone_grace * 1000;
    no.max_db_bytes = cfg->max_db_size;
    no.cache_kib = cfg->cache_size / 1024;
    no.purge_interval_ms = cfg->purge_interval;
    no.purge_batch = (int)cfg->purge_batch;
    no.max_drift_ms = cfg->max_drift;
    rv = rc_node_new(&s->loop, &no, &s->log, &s->node, err, sizeof(err));
    if (rv < 0) {
        rc_log_error(&s->log, "cannot open store in '%s': %s", cfg->data_dir, err);
        return rv;
    }
    rc_node_handler(s->node, &h);
    nopt.bind = cfg->bind;
    nopt.port = (int)cfg->port;
    nopt.max_conns = (int)cfg->max_conns;
    nopt.max_frame = no.max_frame;
    nopt.out_high = (size_t)cfg->out_buffer;
    nopt.shutdown_ms = (int)cfg->shutdown_timeout;
    rv = rc_net_new(&s->loop, &nopt, &h, &s->log, &s->net);
    if (rv < 0)
        return rv;
    rc_node_set_net(s->node, s->net);
    rv = rc_net_listen(s->net);
    if (rv < 0)
        return rv;
    rc_log_info(&s->log, "node ready id=%016llx data_dir=%s version=%s",
                (unsigned long long)rc_node_id(s->node), cfg->data_dir, RC_VERSION);
    uv_signal_init(&s->loop, &s->sigterm);
    uv_signal_init(&s->loop, &s->sigint);
    s->sigterm.data = s->sigint.data = s;
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    rc_node_start(s->node);
    return uv_run(&s->loop, UV_RUN_DEFAULT);
}

int main(int argc, char **argv)
{
    struct server_config cfg;
    struct server s;
    char err[256] = "";
    int rv, level;

    memset(&s, 0, sizeof(s));
    rv = rc_config_parse(server_opts, NOPTS, &cfg, argc, argv, NULL, NULL, err, sizeof(err));
    if (rv == 1) {
        usage(stdout);
        return 0;
    }
    if (rv < 0) {
        fprintf(stderr, "ringcache-server: %s\n", err);
        return 2;
    }
    level = rc_log_parse_level(cfg.log_level);
    if (level < 0) {
        fprintf(stderr, "ringcache-server: --log-level: expected debug|info|warn|error, got '%s'\n",
                cfg.log_level);
        return 2;
    }
    rc_log_init(&s.log, level, stderr);
    /* A client vanishing mid-write must be an EPIPE, not a dead server. */
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&s.loop);
    rv = run(&s, &cfg);
    if (rv < 0 && s.net != NULL && !s.stopping) {
        /* Startup failed after the net existed: close what is open. */
        s.stopping = 1;
        rc_net_shutdown(s.net, on_net_closed, &s);
        uv_signal_init(&s.loop, &s.sigterm);
        uv_signal_init(&s.loop, &s.sigint);
        uv_run(&s.loop, UV_RUN_DEFAULT);
    }
    rc_node_free(s.node);
    rc_net_free(s.net);
    if (uv_loop_close(&s.loop) != 0)
        rc_log_warn(&s.log, "event loop closed with handles still open");
    if (rv < 0)
        return 1;
    rc_log_info(&s.log, "shutdown complete");
    return 0;
}
