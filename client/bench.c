/*
 * bench.c - ringcache-bench: a closed-loop load generator.
 *
 * One libuv loop drives every connection, each keeping `pipeline` requests
 * in flight and sending a new one per reply; it speaks the codec directly
 * (not the blocking client) so one thread can saturate a server. Latency
 * (request queued -> reply parsed) goes into a fixed-size log-linear
 * histogram, HdrHistogram's layout, accurate to 1% at no cost per request.
 * Closed-loop means a stall delays later requests instead of queueing
 * them (coordinated omission): tails under overload read low.
 */
#include "buf.h"
#include "hist.h"
#include "codec.h"
#include "config.h"
#include "err.h"
#include "resp.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#define PROG "ringcache-bench"
#define DEFAULT_SERVER "127.0.0.1:7400"
/* Keys are PREFIX then 8 digits: a short, fixed-size buffer per request. */
#define MAX_PREFIX 32


#define TICK_MS 100             /* phase deadlines are checked this often */
#define CONNECT_TIMEOUT_NS 5000000000ull
/* No reply at all for this long means the server is stuck: give up
 * rather than run forever. */
#define STALL_NS 5000000000ull
/* After the run, in-flight replies get this long before connections are
 * closed, so the server does not log a reset for every connection. */
#define DRAIN_NS 1000000000ull
#define READ_CHUNK (64u << 10)
/* Replies larger than this are a protocol error (GETs of keys written by
 * someone else may be larger than -d, so it is generous). */
#define MAX_REPLY (64u << 20)
#define REQ_OVERHEAD 128        /* frame header + envelope + key, per request */
#define MAX_VALUE_SIZE (16u << 20)
#define MAX_INFLIGHT 1000000u   /* connections x pipeline */


struct cfg {
    const char *server;
    const char *password; /* AUTH on every connection before the run; NULL = none */
    const char *prefix;   /* of every key, at most MAX_PREFIX bytes */
    uint64_t conns, pipeline, keyspace, value_size, seed;
    double read_ratio, seconds;
    int load, json, resp;
};

enum phase { PH_CONNECTING, PH_LOADING, PH_RUNNING, PH_DRAINING, PH_DONE };

struct sent {
    uint64_t t0;
    uint32_t id;
    uint32_t op;
};

struct conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    struct bench *b;
    struct rc_buf out[2]; /* [0] collects requests, [1] is being written */
    struct rc_buf in;
    struct sent *fifo;    /* requests in flight, oldest at head */
    uint32_t head, count;
    uint32_t next_id;
    int open;    /* uv_tcp_init done: the handle must be closed */
    int authing; /* AUTH sent (id 0), its reply not read yet */
    int writing, dead;
};

struct counters {
    uint64_t ops, gets, puts, hits, misses, errors;
};

struct bench {
    struct cfg cfg;
    uv_loop_t loop;
    uv_timer_t tick;
    uv_signal_t sigint;
    struct conn *conns;
    struct rc_decoder dec;
    uint8_t *value;
    uint64_t rng;
    enum phase phase;
    uint64_t nconnected, nalive, inflight, handles;
    uint64_t load_next, load_done, load_errors;
    uint64_t lost;       /* connections that failed after the load */
    uint64_t unanswered; /* requests still in flight when the run ended */
    uint64_t phase_t0, run_t0, run_t1, load_t0, load_t1, last_reply;
    struct counters run;
    struct rc_hist hist;
    int failed;
    char fail_msg[256];
    int loop_ok, dec_ok; /* what bench_free must undo */
};

static void set_phase(struct bench *b, enum phase ph);
static void kick_write(struct conn *c);

static const char usage_text[] =
    "Usage: " PROG " [OPTIONS]\n"
    "\n"
    "Closed-loop load generator for a ringcache server: CONNS connections each\n"
    "keep PIPELINE requests in flight, for SECONDS, on keys PREFIX%08u drawn\n"
    "uniformly from the key space. Prints operations, throughput, GET hits and\n"
    "misses, errors and latency percentiles (request queued -> reply parsed).\n"
    "\n"
    "  -s HOST:PORT     server (default $RINGCACHE_SERVER, else " DEFAULT_SERVER ")\n"
    "  -a PASSWORD      AUTH with this password first (default $RINGCACHE_AUTH)\n"
    "  -c CONNS         connections, 1..10000 (default 50)\n"
    "  -P PIPELINE      requests in flight per connection, 1..4096 (default 1)\n"
    "  -n KEYSPACE      number of distinct keys, 1..4294967295 (default 100000)\n"
    "  -d VALUE_SIZE    PUT value size in bytes, 0..16777216 (default 100)\n"
    "  -r READ_RATIO    fraction of GETs, 0..1 (default 0.9)\n"
    "  -t SECONDS       duration of the measured run, 0.1..86400 (default 10)\n"
    "  --load           first PUT every key once (not measured), then run\n"
    "  --key-prefix P   key prefix, up to 32 bytes (default \"key:\"): runs with\n"
    "                   different value sizes on different keys\n"
    "  --seed N         random seed (default: from the clock; printed)\n"
    "  --json           print one JSON object instead of text\n"
    "  --resp           speak the Redis protocol (GET/SET) instead of ringcache's:\n"
    "                   a ringcache --resp-port, or Redis itself, for comparisons\n"
    "  -h, --help       this text\n"
    "\n"
    "Ctrl-C ends the run early and prints what was measured.\n"
    "Exit status: 0 ok, 1 server unreachable/stuck or no operation completed,\n"
    "2 bad usage.\n"
    "\n"
    "Environment:\n"
    "  RINGCACHE_SERVER default server address (HOST:PORT)\n"
    "  RINGCACHE_AUTH   password (as -a, which wins)\n";

/* ---- helpers ---- */

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fail_run(struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Ends the run as a failure; the first message wins. */
static void fail_run(struct bench *b, const char *fmt, ...)
{
    va_list ap;

    if (!b->failed) {
        b->failed = 1;
        va_start(ap, fmt);
        vsnprintf(b->fail_msg, sizeof(b->fail_msg), fmt, ap);
        va_end(ap);
    }
    set_phase(b, PH_DONE);
}

/* ---- requests and replies ---- */

/* GET key / SET key value as a RESP multibulk; out unchanged on failure. */
static int resp_request(struct rc_buf *out, uint32_t op, const char *key, size_t klen,
                        const uint8_t *value, size_t vlen)
{
    size_t mark = rc_buf_used(out);
    int rv;

    rv = rc_resp_array(out, op == RC_OP_PUT ? 3 : 2);
    if (rv == 0)
        rv = rc_resp_bulk(out, op == RC_OP_PUT ? "SET" : "GET", 3);
    if (rv == 0)
        rv = rc_resp_bulk(out, key, klen);
    if (rv == 0 && op == RC_OP_PUT)
        rv = rc_resp_bulk(out, value, vlen);
    if (rv < 0)
        out->len = out->start + mark;
    return rv;
}

static int issue(struct conn *c, uint32_t op, uint32_t keynum)
{
    struct bench *b = c->b;
    struct rc_request req;
    char key[MAX_PREFIX + 16];
    struct sent *s;
    int n, rv;

    n = snprintf(key, sizeof(key), "%s%08u", b->cfg.prefix, keynum);
    if (b->cfg.resp) {
        rv = resp_request(&c->out[0], op, key, (size_t)n, b->value, b->cfg.value_size);
        goto sent;
    }
    memset(&req, 0, sizeof(req));
    req.op = op;
    req.id = c->next_id;
    req.key = (const uint8_t *)key;
    req.key_len = (uint32_t)n;
    req.has_key = 1;
    if (op == RC_OP_PUT) {
        req.value = b->value;
        req.value_len = (uint32_t)b->cfg.value_size;
        req.has_value = 1;
    }
    rv = rc_encode_request(&c->out[0], &req);
sent:
    if (rv < 0)
        return rv;
    s = &c->fifo[(c->head + c->count) % b->cfg.pipeline];
    s->t0 = uv_hrtime();
    s->id = req.id;
    s->op = op;
    c->count++;
    c->next_id++;
    b->inflight++;
    return 0;
}

/* Tops the connection up to `pipeline` requests for the current phase. */
static void fill(struct conn *c)
{
    struct bench *b = c->b;
    uint64_t r;
    int rv = 0;

    while (!c->dead && c->count < b->cfg.pipeline && rv == 0) {
        if (b->phase == PH_LOADING) {
            if (b->load_next >= b->cfg.keyspace)
                break;
            rv = issue(c, RC_OP_PUT, (uint32_t)b->load_next++);
        } else if (b->phase == PH_RUNNING) {
            /* Low 32 bits pick the key (scaled, not modulo), high 32 the op. */
            r = rng_next(&b->rng);
            rv = issue(c, (double)(r >> 32) * 0x1p-32 < b->cfg.read_ratio ? RC_OP_GET : RC_OP_PUT,
                       (uint32_t)(((r & 0xFFFFFFFFu) * b->cfg.keyspace) >> 32));
        } else {
            break;
        }
    }
    if (rv < 0)
        fail_run(b, "cannot encode a request: %s", rc_strerror(rv));
    kick_write(c);
}

static void count_reply(struct bench *b, const struct sent *s, uint32_t status, uint64_t now)
{
    struct counters *k = &b->run;
    int err = status > 1000 ? RC_EPROTO : rc_err_from_status((int)status);

    b->last_reply = now;
    if (b->phase == PH_LOADING) {
        b->load_done++;
        b->load_errors += err != 0;
        return;
    }
    if (b->phase != PH_RUNNING)
        return; /* replies after the run are not measured */
    k->ops++;
    if (s->op == RC_OP_GET) {
        k->gets++;
        k->hits += err == 0;
        k->misses += err == RC_ENOTFOUND;
        if (err == RC_ENOTFOUND)
            err = 0;
    } else {
        k->puts++;
    }
    if (err != 0)
        k->errors++;
    else
        rc_hist_add(&b->hist, now - s->t0);
}

static void conn_fail(struct conn *c, const char *what, const char *why);

static void conn_ready(struct conn *c)
{
    struct bench *b = c->b;

    if (++b->nconnected == b->cfg.conns)
        set_phase(b, b->cfg.load ? PH_LOADING : PH_RUNNING);
}

/* The first reply on a connection with a password: AUTH's, id 0. */
static int auth_reply(struct conn *c, const struct rc_reply *rep)
{
    int err = rc_err_from_status((int)rep->status);

    c->authing = 0;
    if (rep->id != 0) {
        conn_fail(c, "bad reply", "id does not match the AUTH request");
        return -1;
    }
    if (err != 0) {
        fail_run(c->b, "AUTH refused by %s: %s", c->b->cfg.server, rc_strerror(err));
        return -1;
    }
    conn_ready(c);
    return 0;
}

static int send_auth(struct conn *c)
{
    struct rc_request req;
    int rv;

    memset(&req, 0, sizeof(req));
    req.op = RC_OP_AUTH;
    req.id = 0; /* data requests count from 1 */
    req.value = (const uint8_t *)c->b->cfg.password;
    req.value_len = (uint32_t)strlen(c->b->cfg.password);
    req.has_value = 1;
    rv = rc_encode_request(&c->out[0], &req);
    if (rv < 0)
        return rv;
    c->authing = 1;
    kick_write(c);
    return 0;
}

static void replies_done(struct bench *b)
{
    if (b->phase == PH_LOADING && b->load_done == b->cfg.keyspace)
        set_phase(b, PH_RUNNING);
    else if (b->phase == PH_DRAINING && b->inflight == 0)
        set_phase(b, PH_DONE);
}

/* RESP replies carry no id: they answer the oldest request in order. A
 * null bulk is a miss, an error reply an error. */
static void parse_resp_replies(struct conn *c)
{
    struct bench *b = c->b;
    struct sent *s;
    size_t used;
    char kind;
    int rv, nil;

    while (!c->dead) {
        rv = rc_resp_reply_check(rc_buf_rptr(&c->in), rc_buf_used(&c->in), MAX_REPLY, &kind,
                                 &nil, &used);
        if (rv == 0)
            break;
        if (rv < 0 || c->count == 0) {
            conn_fail(c, "bad reply", rv < 0 ? "not RESP" : "reply without a request");
            return;
        }
        s = &c->fifo[c->head];
        c->head = (c->head + 1) % (uint32_t)b->cfg.pipeline;
        c->count--;
        b->inflight--;
        count_reply(b, s,
                    kind == '-' ? (uint32_t)rc_err_to_status(RC_EINTERNAL)
                    : nil       ? (uint32_t)rc_err_to_status(RC_ENOTFOUND)
                                : 0,
                    uv_hrtime());
        rc_buf_consume(&c->in, used);
    }
    replies_done(b);
}

/* Parses every whole frame in c->in. */
static void parse_replies(struct conn *c)
{
    struct bench *b = c->b;
    struct rc_reply rep;
    struct sent *s;
    size_t flen;
    int rv;

    if (b->cfg.resp) {
        parse_resp_replies(c);
        return;
    }
    while (!c->dead) {
        rv = rc_frame_check(rc_buf_rptr(&c->in), rc_buf_used(&c->in), MAX_REPLY, &flen);
        if (rv == 0)
            break;
        if (rv > 0)
            rv = rc_decode_reply(&b->dec, rc_buf_rptr(&c->in) + RC_FRAME_HDR,
                                 flen - RC_FRAME_HDR, &rep);
        if (rv < 0) {
            conn_fail(c, "bad reply", rc_strerror(rv));
            return;
        }
        if (c->authing) {
            if (auth_reply(c, &rep) < 0)
                return;
            rc_buf_consume(&c->in, flen);
            continue;
        }
        s = &c->fifo[c->head];
        if (c->count == 0 || rep.id != s->id) {
            conn_fail(c, "bad reply", "id does not match the oldest request");
            return;
        }
        c->head = (c->head + 1) % (uint32_t)b->cfg.pipeline;
        c->count--;
        b->inflight--;
        count_reply(b, s, rep.status, uv_hrtime());
        rc_buf_consume(&c->in, flen);
    }
    replies_done(b);
}

/* ---- connections ---- */

static void on_close(uv_handle_t *h)
{
    struct bench *b = h->data;

    b->handles--;
}

static void on_conn_close(uv_handle_t *h)
{
    struct conn *c = h->data;

    c->b->handles--;
}

static void conn_close(struct conn *c)
{
    if (!c->open || c->dead)
        return;
    c->dead = 1;
    c->b->nalive--;
    c->b->inflight -= c->count;
    uv_close((uv_handle_t *)&c->tcp, on_conn_close);
}

/* A connection failing mid-run costs its in-flight requests (counted as
 * errors) and its share of the load; the run goes on with the others. */
static void conn_fail(struct conn *c, const char *what, const char *why)
{
    struct bench *b = c->b;

    if (c->dead)
        return;
    if (b->phase == PH_RUNNING)
        b->run.errors += c->count;
    if (b->phase == PH_CONNECTING || b->phase == PH_LOADING) {
        fail_run(b, "%s: %s (server %s)", what, why, b->cfg.server);
        return;
    }
    if (!b->failed && b->lost++ == 0)
        snprintf(b->fail_msg, sizeof(b->fail_msg), "%s: %s", what, why);
    conn_close(c);
    if (b->nalive == 0 && b->phase == PH_RUNNING)
        fail_run(b, "all connections lost (%s: %s)", what, why);
    else if (b->nalive == 0)
        set_phase(b, PH_DONE);
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;

    c->writing = 0;
    rc_buf_reset(&c->out[1]);
    if (c->dead)
        return;
    if (status < 0) {
        conn_fail(c, "write failed", uv_strerror(status));
        return;
    }
    kick_write(c);
}

static void kick_write(struct conn *c)
{
    struct rc_buf tmp;
    uv_buf_t buf;
    int rv;

    if (c->dead || c->writing || rc_buf_used(&c->out[0]) == 0)
        return;
    /* The written buffer must stay put until on_write: swap, keep filling [0]. */
    tmp = c->out[1];
    c->out[1] = c->out[0];
    c->out[0] = tmp;
    buf = uv_buf_init((char *)rc_buf_rptr(&c->out[1]), (unsigned)rc_buf_used(&c->out[1]));
    rv = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
    if (rv < 0) {
        conn_fail(c, "write failed", uv_strerror(rv));
        return;
    }
    c->writing = 1;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    size_t room = c->in.cap - rc_buf_used(&c->in);

    *buf = uv_buf_init(NULL, 0); /* read_cb then sees UV_ENOBUFS */
    if (room > 0 && rc_buf_reserve(&c->in, room < READ_CHUNK ? room : READ_CHUNK) == 0)
        *buf = uv_buf_init((char *)rc_buf_wptr(&c->in), (unsigned)rc_buf_avail(&c->in));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;

    if (nread < 0) {
        conn_fail(c, nread == UV_EOF ? "server closed the connection" : "read failed",
                  uv_strerror((int)nread));
        return;
    }
    rc_buf_commit(&c->in, (size_t)nread);
    parse_replies(c);
    fill(c);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    struct bench *b = c->b;

    if (c->dead || b->phase != PH_CONNECTING)
        return;
    if (status < 0) {
        fail_run(b, "cannot connect to %s: %s", b->cfg.server, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    status = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (status < 0) {
        fail_run(b, "cannot read from %s: %s", b->cfg.server, uv_strerror(status));
        return;
    }
    if (b->cfg.password == NULL) {
        conn_ready(c);
        return;
    }
    status = send_auth(c);
    if (status < 0)
        fail_run(b, "cannot send AUTH: %s", rc_strerror(status));
}

static int conn_start(struct bench *b, struct conn *c, const struct sockaddr *sa)
{
    size_t req_max = b->cfg.value_size + REQ_OVERHEAD;
    int rv;

    c->b = b;
    c->next_id = 1;
    c->creq.data = c;
    c->wreq.data = c;
    /* Plus room for AUTH with the longest password. */
    rc_buf_init(&c->out[0], req_max * b->cfg.pipeline + 1024);
    rc_buf_init(&c->out[1], req_max * b->cfg.pipeline + 1024);
    rc_buf_init(&c->in, MAX_REPLY + RC_FRAME_HDR);
    c->fifo = calloc(b->cfg.pipeline, sizeof(*c->fifo));
    if (c->fifo == NULL)
        return RC_ENOMEM;
    rv = uv_tcp_init(&b->loop, &c->tcp);
    if (rv < 0)
        return rv;
    c->tcp.data = c;
    c->open = 1;
    b->handles++;
    b->nalive++;
    rv = uv_tcp_connect(&c->creq, &c->tcp, sa, on_connect);
    if (rv < 0)
        conn_close(c);
    return rv;
}

/* ---- phases ---- */

static void close_all(struct bench *b)
{
    uint64_t i;

    for (i = 0; i < b->cfg.conns; i++)
        conn_close(&b->conns[i]);
    if (!uv_is_closing((uv_handle_t *)&b->tick))
        uv_close((uv_handle_t *)&b->tick, on_close);
    if (!uv_is_closing((uv_handle_t *)&b->sigint))
        uv_close((uv_handle_t *)&b->sigint, on_close);
}

/* All phase changes go through here. */
static void set_phase(struct bench *b, enum phase ph)
{
    uint64_t i, now = uv_hrtime();

    if (b->phase == PH_DONE || b->phase == ph)
        return;
    if (b->phase == PH_LOADING)
        b->load_t1 = now;
    if (b->phase == PH_RUNNING)
        b->run_t1 = now;
    b->phase = ph;
    b->phase_t0 = b->last_reply = now;
    if (ph == PH_LOADING)
        b->load_t0 = now;
    if (ph == PH_RUNNING)
        b->run_t0 = now;
    if (ph == PH_DRAINING && b->inflight == 0)
        ph = b->phase = PH_DONE;
    if (ph == PH_DONE) {
        b->unanswered = b->inflight;
        close_all(b);
        return;
    }
    if (ph == PH_LOADING || ph == PH_RUNNING)
        for (i = 0; i < b->cfg.conns && b->phase == ph; i++)
            fill(&b->conns[i]);
}

static void on_tick(uv_timer_t *t)
{
    struct bench *b = t->data;
    uint64_t now = uv_hrtime();
    double left;

    switch (b->phase) {
    case PH_CONNECTING:
        if (now - b->phase_t0 > CONNECT_TIMEOUT_NS)
            fail_run(b, "timed out connecting to %s", b->cfg.server);
        return;
    case PH_RUNNING:
        left = b->cfg.seconds * 1e9 - (double)(now - b->run_t0);
        if (left <= 0) {
            set_phase(b, PH_DRAINING);
            return;
        }
        if (left < TICK_MS * 1e6) /* end the run on time, not at the next tick */
            uv_timer_start(t, on_tick, (uint64_t)ceil(left / 1e6), TICK_MS);
        break;
    case PH_DRAINING:
        if (now - b->phase_t0 > DRAIN_NS)
            set_phase(b, PH_DONE);
        return;
    default:
        break;
    }
    if (b->inflight > 0 && now - b->last_reply > STALL_NS)
        fail_run(b, "no reply from %s for %llu s", b->cfg.server,
                 (unsigned long long)(STALL_NS / 1000000000ull));
}

static void on_sigint(uv_signal_t *s, int signum)
{
    struct bench *b = s->data;

    if (b->phase == PH_RUNNING)
        set_phase(b, PH_DRAINING);
    else
        fail_run(b, "interrupted");
}

/* ---- command line ---- */

enum flag_kind { F_STR, F_U64, F_DBL, F_BOOL };

struct flag {
    const char *sh, *lg;
    enum flag_kind kind;
    size_t off;
    uint64_t umin, umax;
    double dmin, dmax;
};

#define U64F(sh, lg, field, lo, hi) {sh, lg, F_U64, offsetof(struct cfg, field), lo, hi, 0, 0}
#define DBLF(sh, lg, field, lo, hi) {sh, lg, F_DBL, offsetof(struct cfg, field), 0, 0, lo, hi}

static const struct flag flags[] = {
    {"-s", "--server", F_STR, offsetof(struct cfg, server), 0, 0, 0, 0},
    {"-a", "--auth", F_STR, offsetof(struct cfg, password), 0, 0, 0, 0},
    {NULL, "--key-prefix", F_STR, offsetof(struct cfg, prefix), 0, 0, 0, 0},
    U64F("-c", "--connections", conns, 1, 10000),
    U64F("-P", "--pipeline", pipeline, 1, 4096),
    U64F("-n", "--keyspace", keyspace, 1, UINT32_MAX),
    U64F("-d", "--value-size", value_size, 0, MAX_VALUE_SIZE),
    DBLF("-r", "--read-ratio", read_ratio, 0.0, 1.0),
    DBLF("-t", "--duration", seconds, 0.1, 86400.0),
    U64F(NULL, "--seed", seed, 0, UINT64_MAX),
    {NULL, "--load", F_BOOL, offsetof(struct cfg, load), 0, 0, 0, 0},
    {NULL, "--json", F_BOOL, offsetof(struct cfg, json), 0, 0, 0, 0},
    {NULL, "--resp", F_BOOL, offsetof(struct cfg, resp), 0, 0, 0, 0},
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs(PROG ": error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see --help)\n", stderr);
    return -1;
}

static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* Stores one flag's value into cfg, checking type and range. */
static int set_flag(const struct flag *f, const char *v, struct cfg *cfg)
{
    char *end = NULL;
    uint64_t u;
    double d;

    switch (f->kind) {
    case F_STR:
        if (v[0] == '\0')
            return usage_error("%s needs a value", f->lg);
        *(const char **)((char *)cfg + f->off) = v;
        return 0;
    case F_U64:
        if (parse_u64(v, &u) < 0 || u < f->umin || u > f->umax)
            return usage_error("%s wants a whole number in %llu..%llu, got '%s'", f->lg,
                               (unsigned long long)f->umin, (unsigned long long)f->umax, v);
        *(uint64_t *)((char *)cfg + f->off) = u;
        return 0;
    case F_DBL:
        d = strtod(v, &end);
        if (end == v || *end != '\0' || !isfinite(d) || d < f->dmin || d > f->dmax)
            return usage_error("%s wants a number in %g..%g, got '%s'", f->lg, f->dmin, f->dmax,
                               v);
        *(double *)((char *)cfg + f->off) = d;
        return 0;
    default:
        *(int *)((char *)cfg + f->off) = 1;
        return 0;
    }
}

/* Returns 0, 1 after --help, or -1 after a usage error (printed). */
static int parse_args(int argc, char **argv, struct cfg *cfg)
{
    const struct flag *f;
    const char *eq;
    size_t i, n;
    int a;

    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "-h") == 0 || strcmp(argv[a], "--help") == 0)
            return 1;
        eq = strncmp(argv[a], "--", 2) == 0 ? strchr(argv[a], '=') : NULL;
        n = eq != NULL ? (size_t)(eq - argv[a]) : strlen(argv[a]);
        for (i = 0, f = NULL; i < sizeof(flags) / sizeof(flags[0]) && f == NULL; i++)
            if ((flags[i].sh != NULL && eq == NULL && strcmp(argv[a], flags[i].sh) == 0) ||
                (strlen(flags[i].lg) == n && strncmp(argv[a], flags[i].lg, n) == 0))
                f = &flags[i];
        if (f == NULL)
            return usage_error("unknown argument '%s'", argv[a]);
        if (f->kind == F_BOOL && eq != NULL)
            return usage_error("%s takes no value", f->lg);
        if (f->kind != F_BOOL && eq == NULL && a + 1 >= argc)
            return usage_error("%s needs a value", f->lg);
        if (set_flag(f, eq != NULL ? eq + 1 : f->kind == F_BOOL ? "" : argv[++a], cfg) < 0)
            return -1;
    }
    if (cfg->conns * cfg->pipeline > MAX_INFLIGHT)
        return usage_error("connections x pipeline must be at most %u", MAX_INFLIGHT);
    /* Write buffers hold up to pipeline requests per connection, twice. */
    if (cfg->conns * cfg->pipeline * (cfg->value_size + REQ_OVERHEAD) > (4ull << 30))
        return usage_error("connections x pipeline x value size must stay under 4 GiB");
    return 0;
}

/* ---- report ---- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", (unsigned char)*s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static double rate(uint64_t n, uint64_t ns)
{
    return ns > 0 ? (double)n * 1e9 / (double)ns : 0.0;
}

static void report_json(const struct bench *b)
{
    const struct counters *k = &b->run;
    uint64_t run_ns = b->run_t1 - b->run_t0, load_ns = b->load_t1 - b->load_t0;

    printf("{\"server\": ");
    json_str(stdout, b->cfg.server);
    printf(", \"connections\": %llu, \"pipeline\": %llu, \"keyspace\": %llu, "
           "\"value_size\": %llu, \"read_ratio\": %g, \"seed\": %llu, ",
           (unsigned long long)b->cfg.conns, (unsigned long long)b->cfg.pipeline,
           (unsigned long long)b->cfg.keyspace, (unsigned long long)b->cfg.value_size,
           b->cfg.read_ratio, (unsigned long long)b->cfg.seed);
    if (b->cfg.load)
        printf("\"load\": {\"puts\": %llu, \"errors\": %llu, \"seconds\": %.3f, "
               "\"ops_per_sec\": %.1f}, ",
               (unsigned long long)b->load_done, (unsigned long long)b->load_errors,
               (double)load_ns / 1e9, rate(b->load_done, load_ns));
    else
        printf("\"load\": null, ");
    printf("\"seconds\": %.3f, \"ops\": %llu, \"ops_per_sec\": %.1f, \"gets\": %llu, "
           "\"puts\": %llu, \"hits\": %llu, \"misses\": %llu, \"errors\": %llu, ",
           (double)run_ns / 1e9, (unsigned long long)k->ops, rate(k->ops, run_ns),
           (unsigned long long)k->gets, (unsigned long long)k->puts,
           (unsigned long long)k->hits, (unsigned long long)k->misses,
           (unsigned long long)k->errors);
    printf("\"latency_us\": {\"p50\": %.1f, \"p99\": %.1f, \"p99_9\": %.1f, \"max\": %.1f}}\n",
           (double)rc_hist_pct(&b->hist, 50) / 1e3, (double)rc_hist_pct(&b->hist, 99) / 1e3,
           (double)rc_hist_pct(&b->hist, 99.9) / 1e3, (double)b->hist.max / 1e3);
}

static void report_text(const struct bench *b)
{
    const struct counters *k = &b->run;
    uint64_t run_ns = b->run_t1 - b->run_t0, load_ns = b->load_t1 - b->load_t0;

    printf("server      %s, %llu connections, pipeline %llu, %llu keys, %llu-byte values, "
           "%.0f%% GET, seed %llu\n",
           b->cfg.server, (unsigned long long)b->cfg.conns, (unsigned long long)b->cfg.pipeline,
           (unsigned long long)b->cfg.keyspace, (unsigned long long)b->cfg.value_size,
           b->cfg.read_ratio * 100.0, (unsigned long long)b->cfg.seed);
    if (b->cfg.load)
        printf("load        %llu PUTs in %.2f s (%.0f ops/s, %llu errors)\n",
               (unsigned long long)b->load_done, (double)load_ns / 1e9,
               rate(b->load_done, load_ns), (unsigned long long)b->load_errors);
    printf("ops         %llu in %.2f s\n", (unsigned long long)k->ops, (double)run_ns / 1e9);
    printf("throughput  %.0f ops/s\n", rate(k->ops, run_ns));
    printf("get         %llu (hits %llu, misses %llu)\n", (unsigned long long)k->gets,
           (unsigned long long)k->hits, (unsigned long long)k->misses);
    printf("put         %llu\n", (unsigned long long)k->puts);
    printf("errors      %llu\n", (unsigned long long)k->errors);
    printf("latency us  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
           (double)rc_hist_pct(&b->hist, 50) / 1e3, (double)rc_hist_pct(&b->hist, 99) / 1e3,
           (double)rc_hist_pct(&b->hist, 99.9) / 1e3, (double)b->hist.max / 1e3);
}

/* ---- setup and main ---- */

static int resolve(struct bench *b, struct sockaddr_storage *ss)
{
    struct addrinfo hints;
    uv_getaddrinfo_t req;
    char host[1025], port[8];
    int rv;

    if (rc_config_split_addr(b->cfg.server, "7400", host, sizeof(host), port, sizeof(port)) < 0) {
        usage_error("bad server address '%s' (want HOST:PORT or [IPv6]:PORT)", b->cfg.server);
        return -2;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rv = uv_getaddrinfo(&b->loop, &req, NULL, host, port, &hints); /* NULL cb: synchronous */
    if (rv < 0) {
        fprintf(stderr, PROG ": error: cannot resolve %s: %s\n", host, uv_strerror(rv));
        return -1;
    }
    memcpy(ss, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
    return 0;
}

/* Runs the whole benchmark on b->loop. 0, or the exit status when the
 * address is unusable (2 malformed, 1 unresolvable). */
static int bench_run(struct bench *b)
{
    struct sockaddr_storage ss;
    uint64_t i;
    int rv;

    rv = resolve(b, &ss);
    if (rv < 0)
        return rv == -2 ? 2 : 1;
    uv_timer_init(&b->loop, &b->tick);
    uv_signal_init(&b->loop, &b->sigint);
    b->tick.data = b->sigint.data = b;
    b->handles = 2;
    uv_timer_start(&b->tick, on_tick, TICK_MS, TICK_MS);
    uv_signal_start(&b->sigint, on_sigint, SIGINT);
    b->phase_t0 = uv_hrtime();
    for (i = 0; i < b->cfg.conns && b->phase != PH_DONE; i++) {
        rv = conn_start(b, &b->conns[i], (const struct sockaddr *)&ss);
        if (rv < 0)
            fail_run(b, "cannot open connection %llu: %s", (unsigned long long)i + 1,
                     rc_strerror(rv));
    }
    uv_run(&b->loop, UV_RUN_DEFAULT);
    assert(b->handles == 0); /* the loop only ends once every handle closed */
    return 0;
}

static void bench_free(struct bench *b)
{
    uint64_t i;

    for (i = 0; b->conns != NULL && i < b->cfg.conns; i++) {
        rc_buf_close(&b->conns[i].out[0]);
        rc_buf_close(&b->conns[i].out[1]);
        rc_buf_close(&b->conns[i].in);
        free(b->conns[i].fifo);
    }
    free(b->conns);
    free(b->value);
    if (b->dec_ok)
        rc_decoder_close(&b->dec);
    if (b->loop_ok)
        uv_loop_close(&b->loop);
    free(b);
}

static int bench_init(struct bench *b)
{
    uint64_t i;

    b->conns = calloc(b->cfg.conns, sizeof(*b->conns));
    b->value = malloc(b->cfg.value_size + 1);
    b->dec_ok = b->conns != NULL && b->value != NULL && rc_decoder_init(&b->dec) == 0;
    b->loop_ok = b->dec_ok && uv_loop_init(&b->loop) == 0;
    if (!b->loop_ok) {
        fprintf(stderr, PROG ": error: out of memory\n");
        return -1;
    }
    for (i = 0; i < b->cfg.value_size; i++)
        b->value[i] = (uint8_t)('a' + i % 26);
    b->rng = b->cfg.seed;
    return 0;
}

int main(int argc, char **argv)
{
    const char *env = getenv("RINGCACHE_SERVER");
    const char *pw = getenv("RINGCACHE_AUTH");
    struct bench *b;
    int rv, status = 1;

    b = calloc(1, sizeof(*b));
    if (b == NULL)
        return 1;
    b->cfg.server = env != NULL && env[0] != '\0' ? env : DEFAULT_SERVER;
    b->cfg.password = pw != NULL && pw[0] != '\0' ? pw : NULL;
    b->cfg.prefix = "key:";
    b->cfg.conns = 50;
    b->cfg.pipeline = 1;
    b->cfg.keyspace = 100000;
    b->cfg.value_size = 100;
    b->cfg.read_ratio = 0.9;
    b->cfg.seconds = 10;
    b->cfg.seed = uv_hrtime() ^ ((uint64_t)uv_os_getpid() << 32);
    rv = parse_args(argc, argv, &b->cfg);
    if (rv == 0 && strlen(b->cfg.prefix) > MAX_PREFIX)
        rv = usage_error("--key-prefix is longer than %d bytes", MAX_PREFIX);
    if (rv != 0) {
        if (rv > 0)
            fputs(usage_text, stdout);
        free(b);
        return rv > 0 ? 0 : 2;
    }
    if (bench_init(b) < 0)
        goto out;
    rv = bench_run(b);
    if (rv > 0) {
        status = rv;
        goto out;
    }
    if (b->run_t0 != 0)
        b->cfg.json ? report_json(b) : report_text(b);
    if (b->failed)
        fprintf(stderr, PROG ": error: %s\n", b->fail_msg);
    else if (b->lost > 0)
        fprintf(stderr, PROG ": warning: %llu connections lost (first: %s)\n",
                (unsigned long long)b->lost, b->fail_msg);
    if (!b->failed && b->unanswered > 0)
        fprintf(stderr, PROG ": warning: %llu requests unanswered %.1f s after the run\n",
                (unsigned long long)b->unanswered, (double)DRAIN_NS / 1e9);
    if (!b->failed && b->run.ops == 0)
        fprintf(stderr, PROG ": error: no operation completed\n");
    status = b->failed || b->run.ops == 0 ? 1 : 0;
out:
    bench_free(b);
    return status;
}
