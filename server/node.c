/*
 * node.c - executes client operations against the local store (see node.h).
 *
 * Every write gets a version from the hybrid logical clock plus this node's
 * id, so the same last-writer-wins rule holds whether writes come from
 * clients or, in a cluster, from other replicas. Replies are encoded
 * straight into the connection's output buffer; nothing is copied twice.
 */
#include "node.h"
#include "codec.h"
#include "err.h"
#include "hlc.h"
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* A TTL beyond a century is certainly a unit mistake (ms vs s). */
#define MAX_TTL_MS (100ULL * 365 * 24 * 3600 * 1000)
/* When a purge pass fills its batch there is more to do: come back soon,
 * but not in the same loop iteration, so clients are served in between. */
#define PURGE_CATCHUP_MS 10

struct counters {
    uint64_t ping, get, put, del, stats;
    uint64_t hits, misses, errors, purged;
};

struct rc_node {
    uv_loop_t *loop;
    uv_timer_t purge_timer;
    struct rc_node_opts opts;
    const struct rc_log *log;
    struct rc_store *store;
    struct rc_net *net;
    struct rc_hlc hlc;
    uint64_t id;
    char id_hex[17];
    uint64_t start_ms;
    struct counters ops;
};

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int reply_error(struct rc_node *n, struct rc_buf *out, uint32_t id, int err,
                       const char *msg)
{
    n->ops.errors++;
    return rc_encode_error(out, id, err, msg);
}

/* Key present, non-empty and within the limit. 0 or an encoded error (1). */
static int check_key(struct rc_node *n, const struct rc_request *req, struct rc_buf *out, int *rv)
{
    char msg[96];

    if (!req->has_key || req->key_len == 0) {
        *rv = reply_error(n, out, req->id, RC_EINVAL, req->has_key ? "empty key" : "missing key");
        return 1;
    }
    if (req->key_len > n->opts.max_key) {
        snprintf(msg, sizeof(msg), "key is %u bytes, limit is %u", req->key_len, n->opts.max_key);
        *rv = reply_error(n, out, req->id, RC_EKEY_TOO_LARGE, msg);
        return 1;
    }
    return 0;
}

static int do_get(struct rc_node *n, const struct rc_request *req, struct rc_buf *out)
{
    struct rc_reply rep = {.id = req->id};
    struct rc_entry e;
    int64_t now = wall_ms();
    int rv;

    n->ops.get++;
    if (check_key(n, req, out, &rv))
        return rv;
    rv = rc_store_get(n->store, req->key, req->key_len, now, &e);
    if (rv == RC_ENOTFOUND || (rv == 0 && e.tombstone)) {
        n->ops.misses++;
        rep.status = (uint32_t)rc_err_to_status(RC_ENOTFOUND);
        return rc_encode_reply(out, &rep);
    }
    if (rv < 0)
        return reply_error(n, out, req->id, rv, NULL);
    n->ops.hits++;
    rep.value = e.value;
    rep.value_len = (uint32_t)e.value_len;
    rep.has_value = 1;
    rep.ver_hlc = e.ver.hlc;
    rep.ver_node = e.ver.node;
    rep.has_version = 1;
    if (e.expires_ms > 0)
        rep.ttl_ms = (uint64_t)(e.expires_ms > now ? e.expires_ms - now : 1);
    return rc_encode_reply(out, &rep);
}

/* PUT (value != NULL) and DEL share the write path. Returns 1 for a reply
 * that acknowledges a write of the batch, else 0 / a negative code. */
static int do_write(struct rc_node *n, const struct rc_request *req, struct rc_buf *out)
{
    struct rc_reply rep = {.id = req->id};
    struct rc_version ver;
    int64_t now = wall_ms(), expires = 0;
    int is_put = req->op == RC_OP_PUT, existed = 0, rv;
    char msg[96];

    if (check_key(n, req, out, &rv))
        return rv;
    if (is_put && !req->has_value)
        return reply_error(n, out, req->id, RC_EINVAL, "missing value");
    if (is_put && req->value_len > n->opts.max_value) {
        snprintf(msg, sizeof(msg), "value is %u bytes, limit is %u", req->value_len,
                 n->opts.max_value);
        return reply_error(n, out, req->id, RC_EVALUE_TOO_LARGE, msg);
    }
    if (req->ttl_ms > MAX_TTL_MS)
        return reply_error(n, out, req->id, RC_EINVAL, "ttl longer than 100 years");
    if (is_put && req->ttl_ms > 0)
        expires = now + (int64_t)req->ttl_ms;
    ver.hlc = rc_hlc_now(&n->hlc, (uint64_t)now);
    ver.node = n->id;
    rv = rc_store_write(n->store, req->key, req->key_len, is_put ? req->value : NULL,
                        is_put ? req->value_len : 0, &ver, expires, now, &existed);
    if (rv < 0) {
        /* The store discarded the whole batch: earlier acks become errors. */
        rc_log_warn(n->log, "write failed: %s", rc_strerror(rv));
        if (n->net)
            rc_net_fail_batch(n->net, rv);
        return reply_error(n, out, req->id, rv, NULL);
    }
    if (!is_put && !existed)
        rep.status = (uint32_t)rc_err_to_status(RC_ENOTFOUND);
    rep.ver_hlc = ver.hlc;
    rep.ver_node = ver.node;
    rep.has_version = 1;
    rv = rc_encode_reply(out, &rep);
    return rv < 0 ? rv : 1;
}

#define STAT_NUM(arr, i, nm, v) \
    (arr)[(i)++] = (struct rc_stat){.name = (nm), .name_len = sizeof(nm) - 1, .num = (int64_t)(v)}
#define STAT_STR(arr, i, nm, v)                                                          \
    (arr)[(i)++] = (struct rc_stat){.name = (nm), .name_len = sizeof(nm) - 1, .is_str = 1, \
                                    .str = (v), .str_len = (uint32_t)strlen(v)}

static int do_stats(struct rc_node *n, const struct rc_request *req, struct rc_buf *out)
{
    struct rc_stat st[32];
    struct rc_store_stats ss;
    struct rc_net_stats ns = {0};
    struct rc_reply rep = {.id = req->id};
    uint32_t i = 0;

    n->ops.stats++;
    rc_store_stats(n->store, &ss);
    if (n->net)
        rc_net_stats(n->net, &ns);
    STAT_STR(st, i, "version", RC_VERSION);
    STAT_STR(st, i, "node_id", n->id_hex);
    STAT_NUM(st, i, "pid", getpid());
    STAT_NUM(st, i, "uptime_s", (wall_ms() - (int64_t)n->start_ms) / 1000);
    STAT_STR(st, i, "data_dir", n->opts.data_dir);
    STAT_NUM(st, i, "keys", ss.keys);
    STAT_NUM(st, i, "tombstones", ss.tombstones);
    STAT_NUM(st, i, "bytes", ss.bytes);
    STAT_NUM(st, i, "db_bytes", ss.db_bytes);
    STAT_NUM(st, i, "connections", ns.conns);
    STAT_NUM(st, i, "connections_total", ns.conns_total);
    STAT_NUM(st, i, "connections_rejected", ns.conns_rejected);
    STAT_NUM(st, i, "ops_ping", n->ops.ping);
    STAT_NUM(st, i, "ops_get", n->ops.get);
    STAT_NUM(st, i, "ops_put", n->ops.put);
    STAT_NUM(st, i, "ops_del", n->ops.del);
    STAT_NUM(st, i, "ops_stats", n->ops.stats);
    STAT_NUM(st, i, "hits", n->ops.hits);
    STAT_NUM(st, i, "misses", n->ops.misses);
    STAT_NUM(st, i, "errors", n->ops.errors);
    STAT_NUM(st, i, "protocol_errors", ns.protocol_errors);
    STAT_NUM(st, i, "expired_purged", n->ops.purged);
    STAT_NUM(st, i, "max_key_size", n->opts.max_key);
    STAT_NUM(st, i, "max_value_size", n->opts.max_value);
    STAT_NUM(st, i, "max_frame_size", n->opts.max_frame);
    rep.stats = st;
    rep.nstats = i;
    return rc_encode_reply(out, &rep);
}

static int on_request(void *arg, const struct rc_request *req, struct rc_buf *out)
{
    struct rc_node *n = arg;
    struct rc_reply rep = {.id = req->id};

    switch (req->op) {
    case RC_OP_PING:
        n->ops.ping++;
        rep.value = req->value;
        rep.value_len = req->value_len;
        rep.has_value = req->has_value;
        return rc_encode_reply(out, &rep);
    case RC_OP_GET:
        return do_get(n, req, out);
    case RC_OP_PUT:
        n->ops.put++;
        return do_write(n, req, out);
    case RC_OP_DEL:
        n->ops.del++;
        return do_write(n, req, out);
    case RC_OP_STATS:
        return do_stats(n, req, out);
    default:
        return reply_error(n, out, req->id, RC_EUNKNOWN_OP, NULL);
    }
}

static int on_commit(void *arg)
{
    struct rc_node *n = arg;
    int rv;

    if (rc_store_pending(n->store) == 0)
        return 0;
    rv = rc_store_commit(n->store);
    if (rv < 0)
        rc_log_warn(n->log, "commit failed, batch discarded: %s", rc_strerror(rv));
    return rv;
}

static void on_purge(uv_timer_t *t)
{
    struct rc_node *n = container_of(t, struct rc_node, purge_timer);
    int purged = 0, rv;

    rv = rc_store_purge(n->store, wall_ms(), n->opts.purge_batch, &purged);
    if (rv == 0)
        rv = on_commit(n);
    if (rv < 0) {
        rc_log_warn(n->log, "purge failed: %s", rc_strerror(rv));
        if (n->net)
            rc_net_fail_batch(n->net, rv);
        purged = 0;
    }
    n->ops.purged += (uint64_t)purged;
    if (purged > 0)
        rc_log_debug(n->log, "purged expired=%d", purged);
    uv_timer_start(t, on_purge,
                   purged >= n->opts.purge_batch ? PURGE_CATCHUP_MS
                                                  : (uint64_t)n->opts.purge_interval_ms,
                   0);
}

/* Loads the persistent node id, or creates one on first start. */
static int load_node_id(struct rc_node *n)
{
    uint64_t id = 0;
    int rv;

    rv = rc_store_meta_get(n->store, "node_id", &id);
    if (rv == 0 && id != 0)
        goto out;
    do {
        rv = uv_random(NULL, NULL, &id, sizeof(id), 0, NULL);
        if (rv < 0)
            return rv;
    } while (id == 0);
    rv = rc_store_meta_set(n->store, "node_id", id);
    if (rv == 0)
        rv = rc_store_commit(n->store);
    if (rv < 0)
        return rv;
out:
    n->id = id;
    snprintf(n->id_hex, sizeof(n->id_hex), "%016" PRIx64, id);
    return 0;
}

int rc_node_new(uv_loop_t *loop, const struct rc_node_opts *opts, const struct rc_log *log,
                struct rc_node **out, char *err, size_t errlen)
{
    struct rc_store_opts so = {0};
    struct rc_node *n;
    int rv;

    *out = NULL;
    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        snprintf(err, errlen, "out of memory");
        return RC_ENOMEM;
    }
    n->loop = loop;
    n->opts = *opts;
    n->log = log;
    n->start_ms = (uint64_t)wall_ms();
    rc_hlc_init(&n->hlc, (uint64_t)opts->max_drift_ms);
    so.data_dir = opts->data_dir;
    so.tombstone_grace_ms = opts->tombstone_grace_ms;
    so.max_bytes = opts->max_db_bytes;
    so.cache_kib = opts->cache_kib;
    rv = rc_store_open(&so, &n->store, err, errlen);
    if (rv < 0)
        goto out;
    rv = load_node_id(n);
    if (rv < 0) {
        snprintf(err, errlen, "cannot store node id: %s", rc_strerror(rv));
        goto out;
    }
    uv_timer_init(loop, &n->purge_timer);
    *out = n;
    return 0;
out:
    rc_store_close(n->store);
    free(n);
    return rv;
}

void rc_node_handler(struct rc_node *n, struct rc_net_handler *h)
{
    h->arg = n;
    h->request = on_request;
    h->commit = on_commit;
}

void rc_node_set_net(struct rc_node *n, struct rc_net *net)
{
    n->net = net;
}

void rc_node_start(struct rc_node *n)
{
    uv_timer_start(&n->purge_timer, on_purge, (uint64_t)n->opts.purge_interval_ms, 0);
}

void rc_node_stop(struct rc_node *n)
{
    uv_close((uv_handle_t *)&n->purge_timer, NULL);
}

void rc_node_free(struct rc_node *n)
{
    if (n == NULL)
        return;
    rc_store_close(n->store);
    free(n);
}

uint64_t rc_node_id(const struct rc_node *n)
{
    return n->id;
}
