/*
 * metrics.h - the Prometheus endpoint (--metrics-port): HTTP GET /metrics
 * in the text exposition format 0.0.4, and GET /health.
 *
 * A tiny HTTP/1.x server on the node's loop, written to be safe rather
 * than general: one request per connection (answered with Connection:
 * close), only GET (HEAD too), a request head capped in size and in time,
 * a capped page written without blocking, a capped number of connections.
 * A slow or hostile client costs at most one slot and its buffers until
 * its deadline; the node's other ports never wait for it. The page is
 * built from admin.c's STATS table (names, types, units, help), the
 * coordinator's latency histograms, the cluster view and the listeners'
 * counters (README "Metrics" lists every metric).
 */
#ifndef RC_METRICS_H
#define RC_METRICS_H

#include <stddef.h>

#include <uv.h>

#include "admin.h"
#include "cluster.h"
#include "coord.h"
#include "log.h"
#include "net.h"
#include "rebalance.h"

struct rc_metrics;

/* Most listeners shown with a protocol label. */
#define RC_METRICS_MAX_PORTS 8

struct rc_metrics_opts {
    const char *bind;     /* IPv4 or IPv6 literal */
    int port;
    int max_conns;        /* connections beyond are closed at once */
    size_t max_request;   /* request head bytes: beyond, 431 and close */
    int timeout_ms;       /* to receive the head, and again to write the answer */
    size_t max_page;      /* answer bytes: a bigger page is a 500, never truncated */
};

/* The figures shown, borrowed for the metrics' life. */
struct rc_metrics_sources {
    struct rc_admin *admin;
    struct rc_coord *coord;
    struct rc_cluster *cluster;
    struct rc_rebalance *rebalance;
    struct {
        const char *protocol; /* label value: "native", "resp", "peer", ... */
        struct rc_net *net;
    } ports[RC_METRICS_MAX_PORTS];
    size_t nports;
};

int rc_metrics_new(uv_loop_t *loop, const struct rc_metrics_opts *opts,
                   const struct rc_metrics_sources *src, const struct rc_log *log,
                   struct rc_metrics **out);

/* Binds and listens. 0 or a libuv error (logged). */
int rc_metrics_listen(struct rc_metrics *m);

/* The page now, appended to out (its cap bounds it): 0, or RC_EBUFFER_FULL,
 * RC_ENOMEM, RC_EINVAL (a bad name in a table; out then holds a part). */
int rc_metrics_render(struct rc_metrics *m, struct rc_buf *out);

/* Stops listening and closes every connection; cb runs once all are
 * closed. rc_metrics_free after that. */
void rc_metrics_close(struct rc_metrics *m, void (*cb)(void *arg), void *arg);
void rc_metrics_free(struct rc_metrics *m);

#endif
