/*
 * metrics.c - the Prometheus endpoint (see metrics.h).
 *
 * A connection is READ (collecting the request head, under a deadline and
 * a size cap), then WRITE (one uv_write of a head and a body built in
 * full, under a deadline), then LINGER (FIN sent; bytes the client still
 * sends are read and dropped until its FIN or a short deadline, so our
 * close does not become a reset that could discard the answer), then
 * CLOSING. One request per connection: nothing to pipeline, nothing to
 * keep across requests. Every transition goes through set_state.
 */
#include "metrics.h"
#include "buf.h"
#include "container_of.h"
#include "err.h"
#include "lathist.h"
#include "prom.h"
#include "ring.h"
#include "swim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pending connections the kernel queues: scrapers are few. */
#define LISTEN_BACKLOG 64
/* After the answer: how long a client may take to close its side. */
#define LINGER_MS 1000
/* Streams of a running plan shown per peer: one per receiving member, so
 * every cluster below this size; the stack holds them (~7 KiB). */
#define MAX_STREAMS 128
/* The most info metrics (str rows' families) and labels on one. */
#define MAX_INFO 8
#define MAX_INFO_LABELS 16

enum conn_state { CONN_READ, CONN_WRITE, CONN_LINGER, CONN_CLOSING };

/* The answers counted, by status (ringcache_metrics_http_responses_total). */
static const int codes[] = {200, 400, 404, 405, 431, 500};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    uv_shutdown_t sd;
    struct rc_metrics *m;
    struct conn *prev, *next;
    enum conn_state state;
    int handles;        /* open: tcp and timer; the conn is freed at 0 */
    size_t len;         /* request bytes in req */
    char head[256];     /* the answer's status line and headers */
    struct rc_buf body; /* the answer's body, capped at max_page */
    char req[];         /* max_request bytes */
};

struct rc_metrics {
    uv_loop_t *loop;
    uv_tcp_t listener;
    struct rc_metrics_opts opts;
    struct rc_metrics_sources src;
    const struct rc_log *log;
    struct conn *conns; /* open connections, for close */
    int nconns, listener_open, closing;
    void (*close_cb)(void *arg);
    void *close_arg;
    uint64_t responses[NCODES], rejected, timeouts;
};

/* ---- the page ---------------------------------------------------------- */

static int64_t stat_num(const struct rc_admin_stats *s, const struct rc_admin_stat_def *d)
{
    int64_t v;

    memcpy(&v, (const char *)s + d->off, sizeof(v));
    return v;
}

static const char *stat_str(const struct rc_admin_stats *s, const struct rc_admin_stat_def *d)
{
    const char *v;

    memcpy(&v, (const char *)s + d->off, sizeof(v));
    return v != NULL ? v : "";
}

static void fail(struct rc_prom *p, int err)
{
    if (p->err == 0)
        p->err = err;
}

/* Every numeric STATS row, in table order; a family's rows share one
 * HELP/TYPE and differ by their label. */
static void put_stats(struct rc_prom *p, const struct rc_admin_stats *s)
{
    const struct rc_admin_stat_def *defs, *d;
    size_t n = rc_admin_stat_defs(&defs), i;
    const char *fam = NULL;
    char name[RC_PROM_NAME_MAX + 1], help[160];
    struct rc_prom_label l;

    for (i = 0; i < n; i++) {
        d = &defs[i];
        if (d->is_str)
            continue;
        if (d->family == NULL || fam == NULL || strcmp(d->family, fam) != 0) {
            if (rc_prom_name(d->family ? d->family : d->name, d->type, d->unit, name,
                             sizeof(name)) < 0) {
                fail(p, RC_EINVAL);
                return;
            }
            if (d->help != NULL && d->label != NULL) /* several STATS rows: README lists them */
                snprintf(help, sizeof(help), "%s", d->help);
            else if (d->help != NULL)
                snprintf(help, sizeof(help), "%s (STATS %s)", d->help, d->name);
            else
                snprintf(help, sizeof(help), "STATS %s (docs/protocol.md)", d->name);
            rc_prom_family(p, name, help, d->type);
        }
        fam = d->family;
        l.name = d->label;
        l.value = d->label_value;
        if (d->unit == RC_PROM_UNIT_MS)
            rc_prom_sample(p, name, &l, d->label != NULL, rc_prom_scale(stat_num(s, d), d->unit));
        else
            rc_prom_sample_int(p, name, &l, d->label != NULL, stat_num(s, d));
    }
}

/* The str rows: each family an info metric of value 1 whose labels are
 * its rows' values (rows without a family: ringcache_info). */
static void put_info(struct rc_prom *p, const struct rc_admin_stats *s)
{
    const struct rc_admin_stat_def *defs, *d;
    size_t n = rc_admin_stat_defs(&defs), i, j, k, nfam = 0, nl;
    const char *fams[MAX_INFO], *help, *fam;
    struct rc_prom_label l[MAX_INFO_LABELS];
    char name[RC_PROM_NAME_MAX + 1];

    for (i = 0; i < n; i++) {
        fam = defs[i].family ? defs[i].family : "info";
        if (!defs[i].is_str)
            continue;
        for (j = 0; j < nfam && strcmp(fams[j], fam) != 0; j++)
            ;
        if (j == nfam && nfam == MAX_INFO) {
            fail(p, RC_EINVAL);
            return;
        }
        if (j == nfam)
            fams[nfam++] = fam;
    }
    for (j = 0; j < nfam; j++) {
        help = NULL;
        for (i = 0, nl = 0; i < n; i++) {
            d = &defs[i];
            if (!d->is_str || strcmp(d->family ? d->family : "info", fams[j]) != 0)
                continue;
            if (nl == MAX_INFO_LABELS) {
                fail(p, RC_EINVAL);
                return;
            }
            help = help ? help : d->help;
            l[nl].name = d->name;
            l[nl++].value = stat_str(s, d);
        }
        k = rc_prom_name(fams[j], RC_PROM_GAUGE, RC_PROM_UNIT_NONE, name, sizeof(name)) < 0;
        if (k) {
            fail(p, RC_EINVAL);
            return;
        }
        rc_prom_family(p, name, help ? help : "STATS strings (docs/protocol.md)", RC_PROM_GAUGE);
        rc_prom_sample_int(p, name, l, nl, 1);
    }
}

static void put_latency(struct rc_prom *p, const struct rc_metrics *m)
{
    static const struct {
        int kind;
        const char *op;
    } ops[] = {{RC_COORD_GET, "get"}, {RC_COORD_PUT, "put"}, {RC_COORD_DEL, "del"}};
    static const char name[] = "ringcache_request_duration_seconds";
    struct rc_prom_label l = {"op", NULL};
    size_t i;

    rc_prom_family(p, name,
                   "GET, PUT and DEL coordinated by this node (native and RESP), from the "
                   "request to its answer, errors included",
                   RC_PROM_HISTOGRAM);
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        l.value = ops[i].op;
        rc_prom_histogram(p, name, &l, 1, rc_coord_latency(m->src.coord, ops[i].kind));
    }
}

/* Members by state, and this node's share of the ring. */
static void put_cluster(struct rc_prom *p, const struct rc_metrics *m)
{
    static const char states[] = "ringcache_members_by_state",
                      share[] = "ringcache_ring_share_ratio";
    double prim[RC_RING_MAX_MEMBERS], repl[RC_RING_MAX_MEMBERS], mine_p = 0, mine_r = 0;
    const struct rc_ring *ring = rc_cluster_ring(m->src.cluster);
    uint64_t self = rc_cluster_self(m->src.cluster);
    const struct rc_member *all;
    const uint64_t *ids = NULL;
    size_t n = rc_cluster_members(m->src.cluster, &all), nring, i;
    int64_t count[RC_MEMBER_LEFT + 1] = {0};
    struct rc_prom_label l;
    int st;

    for (i = 0; i < n; i++)
        if ((int)all[i].state >= 0 && all[i].state <= RC_MEMBER_LEFT)
            count[all[i].state]++;
    rc_prom_family(p, states, "Members in this node's membership table, by state", RC_PROM_GAUGE);
    l.name = "state";
    for (st = 0; st <= RC_MEMBER_LEFT; st++) {
        l.value = rc_member_state_name((enum rc_member_state)st);
        rc_prom_sample_int(p, states, &l, 1, count[st]);
    }
    nring = ring ? rc_ring_members(ring, &ids) : 0;
    if (nring > 0 && rc_ring_shares(ring, rc_cluster_rf(m->src.cluster), prim, repl) == 0) {
        for (i = 0; i < nring; i++) {
            if (ids[i] == self) {
                mine_p = prim[i];
                mine_r = repl[i];
            }
        }
    }
    rc_prom_family(p, share,
                   "Fraction of the token ring this node holds: as primary, and anywhere among "
                   "a key's RF replicas",
                   RC_PROM_GAUGE);
    l.name = "role";
    l.value = "primary";
    rc_prom_sample(p, share, &l, 1, mine_p);
    l.value = "replica";
    rc_prom_sample(p, share, &l, 1, mine_r);
}

/* The running plan's streams, per receiving peer (none between plans):
 * gauges, since a new plan starts them again from zero. */
static void put_streams(struct rc_prom *p, const struct rc_metrics *m)
{
    static const struct {
        const char *name, *help;
    } fams[] = {
        {"ringcache_plan_stream_ranges", "Running rebalance plan: ranges to stream, by peer"},
        {"ringcache_plan_stream_ranges_done", "Running rebalance plan: ranges done, by peer"},
        {"ringcache_plan_stream_keys", "Running rebalance plan: entries streamed, by peer"},
        {"ringcache_plan_stream_bytes", "Running rebalance plan: bytes streamed, by peer"},
        {"ringcache_plan_stream_failures",
         "Running rebalance plan: attempts in a row that failed, by peer"},
    };
    struct rc_rebalance_stream st[MAX_STREAMS];
    struct rc_prom_label l = {"peer", NULL};
    char id[17];
    size_t n = 0, f, i;
    uint64_t v;

    if (m->src.rebalance != NULL)
        n = rc_rebalance_streams(m->src.rebalance, st, MAX_STREAMS);
    if (n > MAX_STREAMS)
        n = MAX_STREAMS;
    for (f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        rc_prom_family(p, fams[f].name, fams[f].help, RC_PROM_GAUGE);
        for (i = 0; i < n; i++) {
            v = f == 0 ? st[i].ranges : f == 1 ? st[i].ranges_done : f == 2 ? st[i].keys
                : f == 3 ? st[i].bytes : (uint64_t)st[i].failures;
            snprintf(id, sizeof(id), "%016" PRIx64, st[i].peer);
            l.value = id;
            rc_prom_sample_int(p, fams[f].name, &l, 1, (int64_t)v);
        }
    }
}

/* The listeners' connection counters, by protocol. */
static void put_ports(struct rc_prom *p, const struct rc_metrics *m)
{
    static const struct {
        const char *name, *help;
        enum rc_prom_type type;
    } fams[] = {
        {"ringcache_port_connections", "Connections open now, by listener", RC_PROM_GAUGE},
        {"ringcache_port_connections_accepted_total", "Connections accepted, by listener",
         RC_PROM_COUNTER},
        {"ringcache_port_connections_rejected_total",
         "Connections refused over the listener's cap (--max-conns; 4096 on the peer port)", RC_PROM_COUNTER},
        {"ringcache_port_protocol_errors_total", "Malformed requests received, by listener",
         RC_PROM_COUNTER},
    };
    struct rc_net_stats ns;
    struct rc_prom_label l = {"protocol", NULL};
    size_t f, i;
    uint64_t v;

    for (f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        rc_prom_family(p, fams[f].name, fams[f].help, fams[f].type);
        for (i = 0; i < m->src.nports; i++) {
            rc_net_stats(m->src.ports[i].net, &ns);
            v = f == 0 ? ns.conns : f == 1 ? ns.conns_total : f == 2 ? ns.conns_rejected
                                                                       : ns.protocol_errors;
            l.value = m->src.ports[i].protocol;
            rc_prom_sample_int(p, fams[f].name, &l, 1, (int64_t)v);
        }
    }
}

/* The endpoint's own counters. */
static void put_self(struct rc_prom *p, const struct rc_metrics *m)
{
    static const char resp[] = "ringcache_metrics_http_responses_total",
                      rej[] = "ringcache_metrics_connections_rejected_total",
                      tmo[] = "ringcache_metrics_timeouts_total";
    struct rc_prom_label l = {"code", NULL};
    char code[8];
    size_t i;

    rc_prom_family(p, resp, "Answers of the metrics endpoint, by HTTP status", RC_PROM_COUNTER);
    for (i = 0; i < NCODES; i++) {
        snprintf(code, sizeof(code), "%d", codes[i]);
        l.value = code;
        rc_prom_sample_int(p, resp, &l, 1, (int64_t)m->responses[i]);
    }
    rc_prom_family(p, rej, "Metrics connections closed at once over the connection cap",
                   RC_PROM_COUNTER);
    rc_prom_sample_int(p, rej, NULL, 0, (int64_t)m->rejected);
    rc_prom_family(p, tmo, "Metrics connections closed for sending or reading too slowly",
                   RC_PROM_COUNTER);
    rc_prom_sample_int(p, tmo, NULL, 0, (int64_t)m->timeouts);
}

int rc_metrics_render(struct rc_metrics *m, struct rc_buf *out)
{
    struct rc_admin_stats snap;
    struct rc_prom p;

    rc_prom_init(&p, out);
    rc_admin_snapshot(m->src.admin, &snap);
    put_stats(&p, &snap);
    put_info(&p, &snap);
    put_latency(&p, m);
    put_cluster(&p, m);
    put_streams(&p, m);
    put_ports(&p, m);
    put_self(&p, m);
    return p.err;
}

/* ---- connections ------------------------------------------------------- */

static void maybe_closed(struct rc_metrics *m)
{
    void (*cb)(void *);

    if (!m->closing || m->nconns > 0 || m->listener_open || m->close_cb == NULL)
        return;
    cb = m->close_cb;
    m->close_cb = NULL;
    cb(m->close_arg);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct rc_metrics *m = c->m;

    if (--c->handles > 0)
        return;
    rc_buf_close(&c->body);
    free(c);
    m->nconns--;
    maybe_closed(m);
}

static void on_timeout(uv_timer_t *t);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* The one place a connection changes state: each state's deadline. */
static void set_state(struct conn *c, enum conn_state st)
{
    if (c->state == CONN_CLOSING)
        return;
    c->state = st;
    switch (st) {
    case CONN_READ:
    case CONN_WRITE:
        uv_timer_start(&c->timer, on_timeout, (uint64_t)c->m->opts.timeout_ms, 0);
        break;
    case CONN_LINGER:
        uv_timer_start(&c->timer, on_timeout, LINGER_MS, 0);
        break;
    case CONN_CLOSING:
        if (c->prev)
            c->prev->next = c->next;
        else
            c->m->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
        uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
        break;
    }
}

static void on_timeout(uv_timer_t *t)
{
    struct conn *c = container_of(t, struct conn, timer);

    if (c->state != CONN_LINGER)
        c->m->timeouts++;
    set_state(c, CONN_CLOSING);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct conn *c = h->data;

    (void)hint;
    /* LINGER drops what arrives: read it over the request's space. */
    if (c->state == CONN_LINGER)
        c->len = 0;
    buf->base = c->req + c->len;
    buf->len = c->m->opts.max_request - c->len;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;

    if (c->state == CONN_CLOSING)
        return;
    if (status < 0 || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        set_state(c, CONN_CLOSING);
}

static void on_written(uv_write_t *req, int status)
{
    struct conn *c = req->data;

    if (c->state == CONN_CLOSING)
        return;
    rc_buf_close(&c->body);
    if (status < 0 || uv_shutdown(&c->sd, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        set_state(c, CONN_CLOSING);
        return;
    }
    set_state(c, CONN_LINGER);
}

static const char *reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    default: return "Internal Server Error";
    }
}

/* Sends code with c->body (built by the caller; for errors a line of
 * text is put here), head only for HEAD, then closes. */
static void answer(struct conn *c, int code, const char *ctype, const char *text, int head_only)
{
    uv_buf_t bufs[2];
    size_t i;
    int n;

    for (i = 0; i < NCODES; i++)
        c->m->responses[i] += codes[i] == code;
    if (text != NULL) {
        rc_buf_reset(&c->body);
        if (rc_buf_append(&c->body, text, strlen(text)) < 0) {
            set_state(c, CONN_CLOSING);
            return;
        }
    }
    uv_read_stop((uv_stream_t *)&c->tcp);
    n = snprintf(c->head, sizeof(c->head),
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                 "Connection: close\r\n\r\n",
                 code, reason(code), ctype, rc_buf_used(&c->body),
                 code == 405 ? "Allow: GET, HEAD\r\n" : "");
    bufs[0] = uv_buf_init(c->head, (unsigned)n);
    bufs[1] = uv_buf_init((char *)rc_buf_rptr(&c->body), (unsigned)rc_buf_used(&c->body));
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, bufs, head_only ? 1 : 2, on_written) < 0) {
        set_state(c, CONN_CLOSING);
        return;
    }
    set_state(c, CONN_WRITE);
}

/* Whether s[0..n) is a token of letters (a method). */
static int is_method(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!(s[i] >= 'A' && s[i] <= 'Z') && !(s[i] >= 'a' && s[i] <= 'z'))
            return 0;
    return n > 0;
}

/* The request head is complete (line ends at eol): answer it. */
static void handle(struct conn *c, size_t eol)
{
    static const char text[] = "text/plain; charset=utf-8",
                      prom[] = "text/plain; version=0.0.4; charset=utf-8";
    const char *line = c->req, *sp1, *sp2, *end = c->req + eol;
    size_t plen;
    int head, rv;

    if (eol > 0 && line[eol - 1] == '\r')
        end--;
    sp1 = memchr(line, ' ', (size_t)(end - line));
    sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
    if (sp2 == NULL || !is_method(line, (size_t)(sp1 - line)) || sp1[1] != '/' ||
        (size_t)(end - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
        (sp2[8] != '0' && sp2[8] != '1')) {
        answer(c, 400, text, "bad request\n", 0);
        return;
    }
    head = sp1 - line == 4 && memcmp(line, "HEAD", 4) == 0;
    if (!head && !(sp1 - line == 3 && memcmp(line, "GET", 3) == 0)) {
        answer(c, 405, text, "only GET\n", 0);
        return;
    }
    for (plen = 0; sp1 + 1 + plen < sp2 && sp1[1 + plen] != '?'; plen++)
        ;
    if (plen == 8 && memcmp(sp1 + 1, "/metrics", 8) == 0) {
        rv = rc_metrics_render(c->m, &c->body);
        if (rv < 0) {
            rc_log_warn(c->m->log, "metrics page not served: %s", rc_strerror(rv));
            answer(c, 500, text, "metrics page too large or invalid (see the node's log)\n", 0);
        } else {
            answer(c, 200, prom, NULL, head);
        }
    } else if (plen == 7 && memcmp(sp1 + 1, "/health", 7) == 0) {
        answer(c, 200, text, "ok\n", head);
    } else {
        answer(c, 404, text, "not found: try /metrics or /health\n", head);
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    const char *eol;
    size_t from, i;

    (void)buf;
    if (nread < 0) {
        set_state(c, CONN_CLOSING);
        return;
    }
    if (c->state != CONN_READ)
        return; /* LINGER: dropped */
    from = c->len >= 3 ? c->len - 3 : 0;
    c->len += (size_t)nread;
    /* The head ends at an empty line (CRLF CRLF, or bare LF LF). */
    for (i = from; i + 1 < c->len; i++) {
        if (c->req[i] != '\n')
            continue;
        if (c->req[i + 1] == '\n' ||
            (c->req[i + 1] == '\r' && i + 2 < c->len && c->req[i + 2] == '\n')) {
            eol = memchr(c->req, '\n', c->len);
            handle(c, (size_t)(eol - c->req));
            return;
        }
    }
    if (c->len == c->m->opts.max_request)
        answer(c, 431, "text/plain; charset=utf-8", "request head too large\n", 0);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct rc_metrics *m = container_of((uv_tcp_t *)server, struct rc_metrics, listener);
    struct conn *c;

    if (status < 0 || m->closing)
        return;
    c = calloc(1, sizeof(*c) + m->opts.max_request);
    if (c == NULL)
        return; /* the connection waits in the backlog; retried on the next */
    c->m = m;
    c->tcp.data = c->timer.data = c->sd.data = c;
    rc_buf_init(&c->body, m->opts.max_page);
    uv_tcp_init(m->loop, &c->tcp);
    uv_timer_init(m->loop, &c->timer);
    c->handles = 2;
    m->nconns++;
    c->next = m->conns;
    if (m->conns)
        m->conns->prev = c;
    m->conns = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        set_state(c, CONN_CLOSING);
        return;
    }
    if (m->nconns > m->opts.max_conns) {
        m->rejected++;
        set_state(c, CONN_CLOSING);
        return;
    }
    set_state(c, CONN_READ);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        set_state(c, CONN_CLOSING);
}

/* ---- life ----------------------------------------------------------------- */

int rc_metrics_new(uv_loop_t *loop, const struct rc_metrics_opts *opts,
                   const struct rc_metrics_sources *src, const struct rc_log *log,
                   struct rc_metrics **out)
{
    struct rc_metrics *m;

    *out = NULL;
    if (opts->max_conns < 1 || opts->max_request < 64 || opts->timeout_ms < 1 ||
        opts->max_page < 4096 || src->nports > RC_METRICS_MAX_PORTS)
        return RC_EINVAL;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return RC_ENOMEM;
    m->loop = loop;
    m->opts = *opts;
    m->src = *src;
    m->log = log;
    *out = m;
    return 0;
}

int rc_metrics_listen(struct rc_metrics *m)
{
    struct sockaddr_storage sa;
    int rv;

    rv = uv_ip4_addr(m->opts.bind, m->opts.port, (struct sockaddr_in *)&sa);
    if (rv < 0)
        rv = uv_ip6_addr(m->opts.bind, m->opts.port, (struct sockaddr_in6 *)&sa);
    if (rv < 0) {
        rc_log_error(m->log, "--metrics-bind: invalid address '%s' (an IPv4 or IPv6 literal)",
                     m->opts.bind);
        return rv;
    }
    rv = uv_tcp_init(m->loop, &m->listener);
    if (rv < 0)
        return rv;
    m->listener_open = 1;
    rv = uv_tcp_bind(&m->listener, (const struct sockaddr *)&sa, 0);
    if (rv == 0)
        rv = uv_listen((uv_stream_t *)&m->listener, LISTEN_BACKLOG, on_connection);
    if (rv < 0) {
        rc_log_error(m->log, "cannot listen for metrics on %s:%d: %s", m->opts.bind,
                     m->opts.port, uv_strerror(rv));
        return rv;
    }
    rc_log_info(m->log, "metrics listening addr=%s:%d (GET /metrics, /health)", m->opts.bind,
                m->opts.port);
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct rc_metrics *m = container_of((uv_tcp_t *)h, struct rc_metrics, listener);

    m->listener_open = 0;
    maybe_closed(m);
}

void rc_metrics_close(struct rc_metrics *m, void (*cb)(void *arg), void *arg)
{
    m->closing = 1;
    m->close_cb = cb;
    m->close_arg = arg;
    while (m->conns != NULL)
        set_state(m->conns, CONN_CLOSING);
    if (m->listener_open && !uv_is_closing((uv_handle_t *)&m->listener))
        uv_close((uv_handle_t *)&m->listener, on_listener_closed);
    else
        maybe_closed(m);
}

void rc_metrics_free(struct rc_metrics *m)
{
    free(m);
}
