/*
 * client.c - blocking ringcache client with pipelining (see ringcache.h).
 *
 * The socket is non-blocking underneath and every wait is a poll() against
 * the call's deadline, so no call blocks forever. Writing queued requests
 * and reading replies share one pump: while requests go out, replies are
 * read into the receive buffer, so a deep pipeline cannot deadlock with
 * both kernel buffers full (the server stops reading when it cannot
 * write). Replies arrive in request order, so the only bookkeeping is the
 * id the next reply must carry and a count of requests in flight.
 */
#include "ringcache.h"

#include "buf.h"
#include "codec.h"
#include "config.h"
#include "err.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

_Static_assert(RC_CLIENT_NOTFOUND == RC_ENOTFOUND, "public miss code must match RC_ENOTFOUND");
/* (int) casts: the two sides are different enum types. */
_Static_assert((int)RC_CLIENT_GET == (int)RC_OP_GET && (int)RC_CLIENT_PUT == (int)RC_OP_PUT &&
                   (int)RC_CLIENT_DEL == (int)RC_OP_DEL &&
                   (int)RC_CLIENT_PING == (int)RC_OP_PING &&
                   (int)RC_CLIENT_STATS == (int)RC_OP_STATS &&
                   (int)RC_CLIENT_MEMBERS == (int)RC_OP_MEMBERS &&
                   (int)RC_CLIENT_RING == (int)RC_OP_RING &&
                   (int)RC_CLIENT_ACTIVITY == (int)RC_OP_ACTIVITY &&
                   (int)RC_CLIENT_FORGET == (int)RC_OP_FORGET,
               "public op numbers must match the wire");
_Static_assert((int)RC_CLIENT_CL_ONE == (int)RC_CL_ONE &&
                   (int)RC_CLIENT_CL_QUORUM == (int)RC_CL_QUORUM &&
                   (int)RC_CLIENT_CL_ALL == (int)RC_CL_ALL &&
                   (int)RC_CLIENT_CL_ANY == (int)RC_CL_ANY,
               "public consistency levels must match the wire");

#define DEFAULT_PORT "7400"
#define DEF_CONNECT_TIMEOUT_MS 2000
#define DEF_IO_TIMEOUT_MS 5000
#define DEF_MAX_REPLY (64u << 20)

/* Largest key the client frames; the server's own limit is at most this
 * (its --max-key-size tops out at 64 KiB). With the msgpack envelope it
 * bounds the overhead a request adds to its value. */
#define MAX_KEY (64u << 10)
#define REQ_OVERHEAD (MAX_KEY + 256)

/* Bytes asked of each recv(): large enough that a pipeline of small
 * replies costs few system calls. */
#define READ_CHUNK (256u << 10)

/* Idle buffers shrink back to this, so one large value does not pin a
 * large allocation for the life of the connection. */
#define KEEP_BUF (1u << 20)

#define MSG_MAX 256

struct rc_client {
    int fd;
    int broken;            /* 0, or the connection-level error that ended it */
    int drain;             /* broken, but whole replies already read are good */
    int io_timeout_ms;
    uint32_t max_reply;
    size_t max_value;      /* largest value rc_client_send accepts */
    uint32_t next_id;      /* id of the next request queued */
    uint32_t expect_id;    /* id the next reply must carry */
    size_t inflight;
    struct rc_buf sbuf;    /* encoded requests not yet written */
    struct rc_buf rbuf;    /* bytes read, not yet consumed as replies */
    struct rc_decoder dec;
    char message[MSG_MAX];
    struct rc_client_stat stats[RC_MAX_STATS];
};

enum pump_goal { UNTIL_FRAME, UNTIL_SENT };

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ms_left(int64_t deadline)
{
    int64_t left = deadline - now_ms();

    return left > 0 ? (int)left : 0;
}

/* Ids skip 0: a server answers a frame whose id it could not read with 0. */
static uint32_t id_after(uint32_t id)
{
    return id == UINT32_MAX ? 1 : id + 1;
}


/* One address: non-blocking connect, then poll until the deadline. */
static int connect_one(const struct addrinfo *ai, int64_t deadline, int *fd_out)
{
    struct pollfd pfd;
    socklen_t len = sizeof(int);
    int fd, rv = 0, soerr = 0;

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return RC_ECONNECT;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        goto out;
    if (errno != EINPROGRESS) {
        rv = RC_ECONNECT;
        goto out;
    }
    pfd.fd = fd;
    pfd.events = POLLOUT;
    do {
        rv = poll(&pfd, 1, ms_left(deadline));
    } while (rv < 0 && errno == EINTR);
    if (rv == 0)
        rv = RC_ETIMEOUT;
    else if (rv < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0)
        rv = RC_ECONNECT;
    else
        rv = 0;
out:
    if (rv < 0)
        close(fd);
    else
        *fd_out = fd;
    return rv;
}

/* Tries every address of the name in turn within one shared deadline.
 * Name resolution itself is not covered by the timeout (getaddrinfo
 * cannot be interrupted). */
static int open_socket(const char *addr, int timeout_ms, int *fd_out)
{
    struct addrinfo hints, *res = NULL, *ai;
    char host[1025], port[8];
    int64_t deadline = now_ms() + timeout_ms;
    int rv, one = 1;

    rv = rc_config_split_addr(addr, DEFAULT_PORT, host, sizeof(host), port, sizeof(port));
    if (rv < 0)
        return rv;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return RC_ECONNECT;
    rv = RC_ECONNECT;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        rv = connect_one(ai, deadline, fd_out);
        if (rv == 0 || ms_left(deadline) == 0)
            break;
    }
    freeaddrinfo(res);
    if (rv == 0)
        (void)setsockopt(*fd_out, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return rv;
}

int rc_client_connect(const char *addr, const struct rc_client_opts *opts, struct rc_client **out)
{
    struct rc_client *c = NULL;
    int connect_ms = DEF_CONNECT_TIMEOUT_MS, rv;

    if (out == NULL)
        return RC_EINVAL;
    *out = NULL;
    if (addr == NULL)
        return RC_EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return RC_ENOMEM;
    c->fd = -1;
    c->io_timeout_ms = DEF_IO_TIMEOUT_MS;
    c->max_reply = DEF_MAX_REPLY;
    if (opts != NULL) {
        if (opts->connect_timeout_ms > 0)
            connect_ms = opts->connect_timeout_ms;
        if (opts->io_timeout_ms > 0)
            c->io_timeout_ms = opts->io_timeout_ms;
        if (opts->max_reply > 0)
            c->max_reply = opts->max_reply;
    }
    /* A client that may read back values of max_reply bytes may store
     * them too; a small max_reply still allows the default value size. */
    c->max_value = c->max_reply > DEF_MAX_REPLY ? c->max_reply : DEF_MAX_REPLY;
    c->next_id = c->expect_id = 1;
    rc_buf_init(&c->sbuf, c->max_value + REQ_OVERHEAD);
    rc_buf_init(&c->rbuf, (size_t)c->max_reply + RC_FRAME_HDR);
    rv = rc_decoder_init(&c->dec);
    if (rv < 0) {
        free(c);
        return rv;
    }
    rv = open_socket(addr, connect_ms, &c->fd);
    if (rv == 0 && opts != NULL && opts->password != NULL)
        rv = rc_client_auth(c, opts->password, strlen(opts->password));
    if (rv < 0) {
        rc_client_free(c);
        return rv;
    }
    *out = c;
    return 0;
}

void rc_client_free(struct rc_client *c)
{
    if (c == NULL)
        return;
    if (c->fd >= 0)
        close(c->fd);
    rc_buf_close(&c->sbuf);
    rc_buf_close(&c->rbuf);
    rc_decoder_close(&c->dec);
    free(c);
}

/* Records a connection-level error: every later call returns it. */
static int fail(struct rc_client *c, int err)
{
    if (c->broken == 0)
        c->broken = err;
    return err;
}

/* A reset is the peer closing on us: report it as such. */
static int sock_err(int e)
{
    return e == EPIPE || e == ECONNRESET ? RC_ECLOSED : -e;
}

static int write_some(struct rc_client *c)
{
    ssize_t n;

    n = send(c->fd, rc_buf_rptr(&c->sbuf), rc_buf_used(&c->sbuf), MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        return sock_err(errno);
    }
    rc_buf_consume(&c->sbuf, (size_t)n);
    if (rc_buf_used(&c->sbuf) == 0)
        rc_buf_shrink(&c->sbuf, KEEP_BUF);
    return 0;
}

/* Reads at most room bytes (room > 0), so rbuf never passes its cap. */
static int read_some(struct rc_client *c, size_t room)
{
    ssize_t n;
    int rv;

    rv = rc_buf_reserve(&c->rbuf, room < READ_CHUNK ? room : READ_CHUNK);
    if (rv < 0)
        return rv;
    n = recv(c->fd, rc_buf_wptr(&c->rbuf), rc_buf_avail(&c->rbuf), 0);
    if (n == 0)
        return RC_ECLOSED;
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        return sock_err(errno);
    }
    rc_buf_commit(&c->rbuf, (size_t)n);
    return 0;
}

/*
 * One poll round: writes queued requests and reads replies, whichever the
 * socket allows. Reading stops only when rbuf is at its cap, which
 * cannot happen while its first frame is incomplete (a frame is at most
 * the cap), so waiting for a reply always makes progress.
 */
static int pump_step(struct rc_client *c, int64_t deadline)
{
    struct pollfd pfd = {.fd = c->fd, .events = 0, .revents = 0};
    size_t room = c->rbuf.cap - rc_buf_used(&c->rbuf);
    int rv;

    if (rc_buf_used(&c->sbuf) > 0)
        pfd.events |= POLLOUT;
    if (room > 0)
        pfd.events |= POLLIN;
    if (pfd.events == 0)
        return RC_EBUFFER_FULL; /* unread replies fill rbuf: caller must recv */
    rv = poll(&pfd, 1, ms_left(deadline));
    if (rv < 0)
        return errno == EINTR ? 0 : -errno;
    if (rv == 0)
        return RC_ETIMEOUT;
    if (pfd.revents & POLLNVAL)
        return RC_ECLOSED;
    if (room > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
        rv = read_some(c, room);
        if (rv < 0)
            return rv;
    }
    if (pfd.revents & (POLLOUT | POLLERR))
        return rc_buf_used(&c->sbuf) > 0 ? write_some(c) : 0;
    return 0;
}

/* 1 with *frame_len set when a whole frame starts rbuf, 0 when more
 * bytes are needed, or the framing error. */
static int front_frame(struct rc_client *c, size_t *frame_len)
{
    return rc_frame_check(rc_buf_rptr(&c->rbuf), rc_buf_used(&c->rbuf), c->max_reply, frame_len);
}

/*
 * A server may answer and close while we are still writing (it refuses an
 * oversized frame that way): its reply sits in the socket before the
 * reset that failed our write. Read what is queued and deliver a whole
 * frame before reporting err; the next call reports it.
 */
static int salvage(struct rc_client *c, int err, size_t *frame_len)
{
    size_t before;
    int i;

    /* Bounded: a reset socket only returns what was already queued. */
    for (i = 0; i < 64 && rc_buf_used(&c->rbuf) < c->rbuf.cap; i++) {
        before = rc_buf_used(&c->rbuf);
        if (read_some(c, c->rbuf.cap - before) < 0 || rc_buf_used(&c->rbuf) == before)
            break;
    }
    if (front_frame(c, frame_len) != 1)
        return err;
    fail(c, err);
    c->drain = 1;
    return 0;
}

/* Runs pump_step until goal: a whole frame at the front of rbuf
 * (*frame_len set) or every queued request written. */
static int pump(struct rc_client *c, enum pump_goal goal, size_t *frame_len)
{
    int64_t deadline = now_ms() + c->io_timeout_ms;
    int rv;

    if (rc_buf_used(&c->rbuf) == 0)
        rc_buf_shrink(&c->rbuf, KEEP_BUF); /* last result's pointers are dead now */
    for (;;) {
        if (goal == UNTIL_FRAME) {
            rv = front_frame(c, frame_len);
            if (rv != 0)
                return rv < 0 ? rv : 0;
        } else if (rc_buf_used(&c->sbuf) == 0) {
            return 0;
        }
        rv = pump_step(c, deadline);
        if (rv < 0)
            return goal == UNTIL_FRAME && rv != RC_ETIMEOUT ? salvage(c, rv, frame_len) : rv;
    }
}

/* INCR's delta, given as decimal text: an integer (DELTA), else a
 * finite float (DELTA_FLOAT). 0 or RC_EINVAL. */
static int incr_delta(const void *text, size_t len, struct rc_request *req)
{
    char buf[64], *end;
    long long v;
    double d;

    if (len == 0 || len >= sizeof(buf))
        return RC_EINVAL;
    memcpy(buf, text, len);
    buf[len] = '\0';
    errno = 0;
    v = strtoll(buf, &end, 10);
    if (*end == '\0' && errno == 0 && !isspace((unsigned char)buf[0])) {
        req->has_delta = 1;
        req->delta = v;
        return 0;
    }
    errno = 0;
    d = strtod(buf, &end);
    if (*end != '\0' || errno != 0 || isspace((unsigned char)buf[0]) || !isfinite(d))
        return RC_EINVAL;
    req->has_delta_float = 1;
    req->delta_float = d;
    return 0;
}

static int build_request(const struct rc_client *c, int op, const void *key, size_t key_len,
                         const void *value, size_t value_len, uint64_t ttl_ms, int consistency,
                         struct rc_request *req)
{
    memset(req, 0, sizeof(*req));
    if (op < RC_CLIENT_PING || op > RC_CLIENT_INCR || consistency < RC_CLIENT_CL_DEFAULT ||
        consistency > RC_CLIENT_CL_ANY)
        return RC_EINVAL;
    req->op = (uint32_t)op;
    req->id = c->next_id;
    req->consistency = (uint32_t)consistency;
    if (op == RC_CLIENT_GET || op == RC_CLIENT_PUT || op == RC_CLIENT_DEL ||
        op == RC_CLIENT_FORGET || op == RC_CLIENT_INCR) {
        if (key == NULL && key_len > 0)
            return RC_EINVAL;
        if (key_len > MAX_KEY)
            return RC_EKEY_TOO_LARGE;
        req->has_key = 1;
        req->key = key != NULL ? key : (const uint8_t *)"";
        req->key_len = (uint32_t)key_len;
    }
    if (op == RC_CLIENT_INCR && value != NULL)
        return incr_delta(value, value_len, req);
    if (op == RC_CLIENT_PUT || op == RC_CLIENT_AUTH) {
        if (value == NULL && value_len > 0)
            return RC_EINVAL;
        if (value_len > c->max_value)
            return RC_EVALUE_TOO_LARGE;
        req->has_value = 1;
        req->value = value != NULL ? value : (const uint8_t *)"";
        req->value_len = (uint32_t)value_len;
        req->ttl_ms = ttl_ms;
    }
    return 0;
}

int rc_client_send(struct rc_client *c, int op, const void *key, size_t key_len, const void *value,
                   size_t value_len, uint64_t ttl_ms, int consistency)
{
    struct rc_request req;
    int rv;

    if (c == NULL)
        return RC_EINVAL;
    if (c->broken)
        return c->broken;
    rv = build_request(c, op, key, key_len, value, value_len, ttl_ms, consistency, &req);
    if (rv < 0)
        return rv;
    rv = rc_encode_request(&c->sbuf, &req);
    if (rv == RC_EBUFFER_FULL && rc_buf_used(&c->sbuf) > 0) {
        /* Make room by writing what is queued; replies read meanwhile
         * wait in rbuf. If rbuf fills first, the caller must recv. */
        rv = pump(c, UNTIL_SENT, NULL);
        if (rv < 0)
            return rv == RC_EBUFFER_FULL ? rv : fail(c, rv);
        rv = rc_encode_request(&c->sbuf, &req);
    }
    if (rv < 0)
        return rv;
    c->next_id = id_after(c->next_id);
    c->inflight++;
    return 0;
}

int rc_client_flush(struct rc_client *c)
{
    int rv;

    if (c == NULL)
        return RC_EINVAL;
    if (c->broken)
        return c->broken;
    rv = pump(c, UNTIL_SENT, NULL);
    if (rv < 0 && rv != RC_EBUFFER_FULL)
        return fail(c, rv);
    return rv;
}

/* Copies at most dstlen - 1 bytes, cutting at a UTF-8 character boundary
 * so truncated names and messages stay valid text. */
static void copy_text(char *dst, size_t dstlen, const char *src, size_t len)
{
    size_t n = len < dstlen - 1 ? len : dstlen - 1;

    if (n < len)
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    if (n > 0)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static void fill_result(struct rc_client *c, const struct rc_reply *rep, struct rc_result *res)
{
    const struct rc_stat *s;
    struct rc_client_stat *d;
    uint32_t i;

    /* Statuses past the table are unknown anyway; the check keeps the
     * conversion to int in range. */
    res->err = rep->status > 1000 ? RC_EPROTO : rc_err_from_status((int)rep->status);
    res->id = rep->id;
    res->value = rep->value;
    res->value_len = rep->value_len;
    res->has_value = rep->has_value;
    copy_text(c->message, sizeof(c->message), rep->message, rep->message_len);
    res->message = c->message;
    res->ttl_ms = rep->ttl_ms;
    res->ver_hlc = rep->ver_hlc;
    res->ver_node = rep->ver_node;
    for (i = 0; i < rep->nstats && i < RC_MAX_STATS; i++) {
        s = &rep->stats[i];
        d = &c->stats[i];
        copy_text(d->name, sizeof(d->name), s->name, s->name_len);
        d->is_str = s->is_str;
        d->num = s->num;
        copy_text(d->str, sizeof(d->str), s->is_str ? s->str : "", s->is_str ? s->str_len : 0);
    }
    res->stats = c->stats;
    res->nstats = i;
}

int rc_client_recv(struct rc_client *c, struct rc_result *res)
{
    struct rc_reply rep;
    size_t flen = 0;
    int rv;

    if (c == NULL || res == NULL)
        return RC_EINVAL;
    memset(res, 0, sizeof(*res));
    res->message = "";
    if (c->inflight == 0)
        return c->broken ? c->broken : RC_EINVAL; /* nothing to wait for */
    if (c->broken) {
        if (!c->drain || front_frame(c, &flen) != 1)
            return c->broken;
    } else {
        rv = pump(c, UNTIL_FRAME, &flen);
        if (rv < 0)
            return fail(c, rv);
    }
    rv = rc_decode_reply(&c->dec, rc_buf_rptr(&c->rbuf) + RC_FRAME_HDR, flen - RC_FRAME_HDR, &rep);
    /* Id 0 with an error is the server refusing a frame it could not
     * read (too large, malformed) before closing: replies come in order,
     * so that frame is the oldest request in flight. */
    if (rv == 0 && rep.id == 0 && rep.status != 0)
        fail(c, RC_ECLOSED);
    else if (rv == 0 && rep.id != c->expect_id)
        rv = RC_EPROTO;
    if (rv < 0) {
        c->drain = 0;
        return fail(c, rv);
    }
    c->expect_id = id_after(c->expect_id);
    c->inflight--;
    /* Consuming only moves an offset; rep's pointers stay valid until the
     * next call touches rbuf. */
    rc_buf_consume(&c->rbuf, flen);
    fill_result(c, &rep, res);
    /* Keep the pipeline moving without waiting. An error here is left for
     * the next pump to meet again, which first collects queued replies. */
    if (rc_buf_used(&c->sbuf) > 0 && c->broken == 0)
        (void)write_some(c);
    return 0;
}

size_t rc_client_inflight(const struct rc_client *c)
{
    return c != NULL ? c->inflight : 0;
}

/* One request, one reply. Refused while pipelined requests are pending,
 * whose replies would be taken for this one's. */
static int call(struct rc_client *c, int op, const void *key, size_t key_len, const void *value,
                size_t value_len, uint64_t ttl_ms, struct rc_result *res)
{
    int rv;

    if (c == NULL || res == NULL)
        return RC_EINVAL;
    if (c->broken)
        return c->broken;
    if (c->inflight > 0)
        return RC_EINVAL;
    rv = rc_client_send(c, op, key, key_len, value, value_len, ttl_ms, RC_CLIENT_CL_DEFAULT);
    if (rv < 0)
        return rv;
    rv = rc_client_recv(c, res);
    if (rv < 0)
        return rv;
    return res->err;
}

int rc_client_ping(struct rc_client *c)
{
    struct rc_result res;

    return call(c, RC_CLIENT_PING, NULL, 0, NULL, 0, 0, &res);
}

int rc_client_auth(struct rc_client *c, const void *password, size_t len)
{
    struct rc_result res;

    return call(c, RC_CLIENT_AUTH, NULL, 0, password, len, 0, &res);
}

int rc_client_get(struct rc_client *c, const void *key, size_t key_len, struct rc_result *res)
{
    return call(c, RC_CLIENT_GET, key, key_len, NULL, 0, 0, res);
}

int rc_client_put(struct rc_client *c, const void *key, size_t key_len, const void *value,
                  size_t value_len, uint64_t ttl_ms)
{
    struct rc_result res;

    return call(c, RC_CLIENT_PUT, key, key_len, value, value_len, ttl_ms, &res);
}

int rc_client_incr(struct rc_client *c, const void *key, size_t key_len, const char *delta,
                   struct rc_result *res)
{
    return call(c, RC_CLIENT_INCR, key, key_len, delta, delta ? strlen(delta) : 0, 0, res);
}

int rc_client_del(struct rc_client *c, const void *key, size_t key_len)
{
    struct rc_result res;

    return call(c, RC_CLIENT_DEL, key, key_len, NULL, 0, 0, &res);
}

int rc_client_stats(struct rc_client *c, struct rc_result *res)
{
    return call(c, RC_CLIENT_STATS, NULL, 0, NULL, 0, 0, res);
}

int rc_client_members(struct rc_client *c, struct rc_result *res)
{
    return call(c, RC_CLIENT_MEMBERS, NULL, 0, NULL, 0, 0, res);
}

int rc_client_activity(struct rc_client *c, struct rc_result *res)
{
    return call(c, RC_CLIENT_ACTIVITY, NULL, 0, NULL, 0, 0, res);
}

const char *rc_client_strerror(int err)
{
    return rc_strerror(err);
}

const char *rc_client_err_name(int err)
{
    return rc_err_name(err);
}
