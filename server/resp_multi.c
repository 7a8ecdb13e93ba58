/*
 * resp_multi.c - Redis transactions on the RESP front end: MULTI queues
 * commands, EXEC runs them one after another and answers the array of
 * their replies, WATCH makes EXEC conditional on keys being unchanged.
 *
 * What is guaranteed (README "Redis compatibility: transactions"):
 * nothing queued runs before EXEC; EXEC runs the commands in order, each
 * once the previous one answered, and the connection's later commands
 * wait for it; it is not isolated from other clients, since the keys live
 * on different replica sets and no lock spans them. WATCH reads each
 * key's version through the coordinator; EXEC reads them again and runs
 * nothing (a null reply) if one differs. A write landing between EXEC's
 * re-read and the commands is not seen: that window is documented.
 *
 * EXEC takes one reply slot for the whole array and runs each command
 * through its usual handler with the net's capture (net.h) on, so a
 * handler that defers answers into the array instead of the connection.
 */
#include "resp_int.h"
#include "err.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of commands one connection may queue: Redis bounds them only by
 * its query buffer (1 GB); 64 MiB holds thousands of ordinary commands
 * and a few of the largest values (raised to twice the command cap when
 * --max-value-size allows larger commands). */
#define MULTI_MAX_BYTES (64u << 20)
/* Keys one connection may WATCH: each costs a quorum read at WATCH and
 * again at EXEC; Redis has no limit, applications watch a handful. */
#define WATCH_MAX_KEYS 1024

struct qcmd {
    struct qcmd *next;
    const struct rc_resp_cmd_def *d;
    size_t argc;
    struct rc_resp_arg argv[]; /* then the argument bytes */
};

struct rc_resp_multi {
    struct qcmd *head, *tail;
    size_t n, bytes;
    int failed; /* an error while queueing: EXEC answers EXECABORT */
};

enum wstate { W_PENDING, W_FOUND, W_MISSING, W_FAILED };

struct wkey {
    struct rc_resp_watch *w;
    enum wstate state;
    struct rc_version ver;
    const uint8_t *key;
    size_t len;
    /* EXEC's re-read */
    struct rc_resp_exec *e;
};

/* One WATCH command: its keys, read at once. Owned by the connection
 * (conn), then by the EXEC that checks it (exec); with neither, by its
 * reads still in flight (the last one frees it). */
struct rc_resp_watch {
    struct rc_resp_watch *next;
    struct rc_resp_server *r;
    struct rc_resp_conn *conn;
    struct rc_resp_exec *exec;
    struct rc_net_slot *slot; /* WATCH's reply, when it had to wait */
    int in_handler, proto;
    size_t n, pending;
    char err[160]; /* the first failed read, answered instead of +OK */
    struct wkey keys[];
};

struct rc_resp_exec {
    struct rc_resp_server *r;
    struct rc_net *net;
    struct rc_resp_conn *conn; /* NULL once the connection closed */
    struct rc_resp_conn gone;  /* what the commands see after that */
    struct rc_net_slot *slot;  /* the array's place in the reply stream */
    struct qcmd *q;            /* next to run */
    struct rc_resp_watch *watch;
    size_t checks_pending, watch_pending;
    int proto, changed, in_call, checking, too_large;
    struct rc_buf acc; /* "*n" and the replies so far */
    struct rc_buf imm; /* one handler's immediate reply */
};

static void exec_run(struct rc_resp_exec *e);
static void exec_check(struct rc_resp_exec *e);

/* ---- the queue ------------------------------------------------------ */

static void queue_free(struct rc_resp_multi *m)
{
    struct qcmd *q, *next;

    if (m == NULL)
        return;
    for (q = m->head; q != NULL; q = next) {
        next = q->next;
        free(q);
    }
    free(m);
}

void rc_resp_multi_fail(struct rc_resp_conn *c)
{
    if (c->multi != NULL)
        c->multi->failed = 1;
}

int rc_resp_multi_queue(struct rc_resp_ctx *x, const struct rc_resp_cmd_def *d)
{
    struct rc_resp_multi *m = x->conn->multi;
    size_t cap = x->r->opts.max_command * 2 > MULTI_MAX_BYTES ? x->r->opts.max_command * 2
                                                                : MULTI_MAX_BYTES;
    size_t bytes = sizeof(struct qcmd) + x->argc * sizeof(struct rc_resp_arg), i;
    struct qcmd *q;
    uint8_t *p;

    for (i = 0; i < x->argc; i++)
        bytes += x->argv[i].len;
    if (m->bytes + bytes > cap) {
        m->failed = 1;
        return rc_resp_server_errorf(x, "ERR transaction too large: at most %zu bytes of "
                                        "commands can be queued",
                                     cap);
    }
    q = malloc(bytes);
    if (q == NULL) {
        m->failed = 1;
        return rc_resp_error(x->out, "ERR out of memory queueing the command");
    }
    q->next = NULL;
    q->d = d;
    q->argc = x->argc;
    p = (uint8_t *)&q->argv[x->argc];
    for (i = 0; i < x->argc; i++) {
        memcpy(p, x->argv[i].p, x->argv[i].len);
        q->argv[i].p = p;
        q->argv[i].len = x->argv[i].len;
        p += x->argv[i].len;
    }
    if (m->tail)
        m->tail->next = q;
    else
        m->head = q;
    m->tail = q;
    m->n++;
    m->bytes += bytes;
    return rc_resp_simple(x->out, "QUEUED");
}

int rc_resp_multi_multi(struct rc_resp_ctx *x)
{
    if (x->conn->multi != NULL)
        return rc_resp_error(x->out, "ERR MULTI calls can not be nested");
    x->conn->multi = calloc(1, sizeof(*x->conn->multi));
    if (x->conn->multi == NULL)
        return rc_resp_error(x->out, "ERR out of memory");
    return rc_resp_simple(x->out, "OK");
}

/* ---- WATCH ---------------------------------------------------------- */

static void watch_free(struct rc_resp_watch *w)
{
    struct rc_resp_watch *next;

    for (; w != NULL; w = next) {
        next = w->next;
        free(w);
    }
}

/* Forgets the connection's watched keys; batches still reading are left
 * to their reads (the last frees it). */
static void unwatch(struct rc_resp_conn *c)
{
    struct rc_resp_watch *w, *next;

    for (w = c->watch; w != NULL; w = next) {
        next = w->next;
        w->next = NULL;
        w->conn = NULL;
        if (w->pending == 0)
            free(w);
    }
    c->watch = NULL;
}

static size_t watched_keys(const struct rc_resp_conn *c)
{
    const struct rc_resp_watch *w;
    size_t n = 0;

    for (w = c->watch; w != NULL; w = w->next)
        n += w->n;
    return n;
}

static int watch_reply(struct rc_resp_watch *w, struct rc_buf *out)
{
    return w->err[0] ? rc_resp_error(out, w->err) : rc_resp_simple(out, "OK");
}

/* Every key of a WATCH was read. */
static void watch_done(struct rc_resp_watch *w)
{
    struct rc_buf *b;

    if (w->slot != NULL) {
        b = rc_net_slot_begin(w->slot);
        if (b != NULL)
            rc_net_slot_end(w->slot, watch_reply(w, b));
        w->slot = NULL;
    }
    if (w->exec != NULL) {
        struct rc_resp_exec *e = w->exec;

        if (--e->watch_pending == 0 && !e->in_call)
            exec_check(e);
        return;
    }
    if (w->conn == NULL && !w->in_handler)
        free(w); /* unwatched or the connection closed meanwhile */
}

static void watch_read_done(void *arg, const struct rc_coord_res *res)
{
    struct wkey *k = arg;
    struct rc_resp_watch *w = k->w;

    if (res->err == 0 && res->has_version) {
        k->state = W_FOUND;
        k->ver = res->ver;
    } else if (res->err == RC_ENOTFOUND || res->err == 0) {
        k->state = W_MISSING;
    } else {
        k->state = W_FAILED;
        if (!w->err[0])
            snprintf(w->err, sizeof(w->err), "%s WATCH could not read a key: %s",
                     rc_err_name(res->err), res->msg && res->msg[0] ? res->msg
                                                                   : rc_strerror(res->err));
    }
    if (--w->pending == 0 && !w->in_handler)
        watch_done(w);
}

static void read_key(struct rc_resp_server *r, const uint8_t *key, size_t len, rc_coord_done cb,
                     void *arg)
{
    struct rc_coord_sink sk = {cb, cb, NULL, arg};
    struct rc_coord_req req = {.kind = RC_COORD_GET, .key = key, .key_len = len};

    rc_coord_run(r->co, &req, &sk);
}

int rc_resp_multi_watch(struct rc_resp_ctx *x)
{
    struct rc_resp_conn *c = x->conn;
    size_t n = x->argc - 1, bytes = 0, i;
    struct rc_resp_watch *w;
    uint8_t *p;

    if (c->multi != NULL)
        return rc_resp_error(x->out, "ERR WATCH inside MULTI is not allowed");
    if (watched_keys(c) + n > WATCH_MAX_KEYS)
        return rc_resp_server_errorf(x, "ERR at most %d keys can be watched per connection",
                                     WATCH_MAX_KEYS);
    for (i = 1; i < x->argc; i++)
        bytes += x->argv[i].len;
    w = calloc(1, sizeof(*w) + n * sizeof(struct wkey) + bytes);
    if (w == NULL)
        return rc_resp_error(x->out, "ERR out of memory");
    w->r = x->r;
    w->conn = c;
    w->n = w->pending = n;
    p = (uint8_t *)&w->keys[n];
    for (i = 0; i < n; i++) {
        memcpy(p, x->argv[i + 1].p, x->argv[i + 1].len);
        w->keys[i] = (struct wkey){.w = w, .key = p, .len = x->argv[i + 1].len};
        p += x->argv[i + 1].len;
    }
    w->next = c->watch;
    c->watch = w;
    w->in_handler = 1;
    for (i = 0; i < n; i++)
        read_key(x->r, w->keys[i].key, w->keys[i].len, watch_read_done, &w->keys[i]);
    w->in_handler = 0;
    if (w->pending == 0)
        return watch_reply(w, x->out);
    w->slot = rc_net_defer(x->net);
    if (w->slot == NULL)
        return RC_ENOMEM; /* w stays on the connection, freed with it */
    return RC_NET_DONE;
}

int rc_resp_multi_unwatch(struct rc_resp_ctx *x)
{
    unwatch(x->conn);
    return rc_resp_simple(x->out, "OK");
}

/* ---- EXEC ----------------------------------------------------------- */

static void exec_free(struct rc_resp_exec *e)
{
    struct qcmd *q, *next;

    for (q = e->q; q != NULL; q = next) {
        next = q->next;
        free(q);
    }
    watch_free(e->watch);
    rc_buf_close(&e->acc);
    rc_buf_close(&e->imm);
    free(e);
}

static void exec_reply(struct rc_resp_exec *e, const uint8_t *p, size_t len)
{
    if (e->conn != NULL) {
        e->conn->exec = NULL; /* the connection's next commands may run */
        rc_net_wake(e->net, e->conn);
    }
    rc_net_complete_bytes(e->slot, p, len);
    exec_free(e);
}

static void exec_finish(struct rc_resp_exec *e)
{
    struct rc_buf *b = &e->imm;

    if (e->too_large) {
        rc_buf_reset(b);
        rc_resp_server_reply_failed(e->r, b, 0, RC_EBUFFER_FULL);
        exec_reply(e, rc_buf_rptr(b), rc_buf_used(b));
        return;
    }
    exec_reply(e, rc_buf_rptr(&e->acc), rc_buf_used(&e->acc));
}

/* One command's reply (p NULL: it could not be encoded). */
static void exec_append(struct rc_resp_exec *e, const uint8_t *p, size_t len)
{
    struct qcmd *q = e->q;

    if (p == NULL) {
        rc_buf_reset(&e->imm);
        rc_resp_error(&e->imm, "ERR out of memory encoding the reply");
        p = rc_buf_rptr(&e->imm);
        len = rc_buf_used(&e->imm);
    }
    if (rc_buf_append(&e->acc, p, len) < 0)
        e->too_large = 1;
    e->q = q->next;
    free(q);
}

/* A deferred command of the transaction answered (net capture). */
static void captured(void *arg, const uint8_t *p, size_t len)
{
    struct rc_resp_exec *e = arg;

    if (e->in_call) {
        /* Answered before its handler returned: as if at once. */
        if (p == NULL || rc_buf_append(&e->imm, p, len) < 0)
            e->too_large = 1;
        return;
    }
    exec_append(e, p, len);
    exec_run(e);
}

static void exec_run(struct rc_resp_exec *e)
{
    int outer_proto = e->r->cur_proto; /* this may run inside another command's hook */

    while (e->q != NULL) {
        struct qcmd *q = e->q;
        struct rc_resp_ctx x = {e->r, e->net, e->conn ? e->conn : &e->gone, q->argv, q->argc,
                                &e->imm};
        struct rc_net_capture_saved saved;
        int rv;

        rc_buf_reset(&e->imm);
        e->r->cur_proto = e->proto;
        e->in_call = 1;
        rc_net_capture(e->net, captured, e, e->conn, &saved);
        rv = rc_resp_server_dispatch(&x);
        rc_net_capture_end(e->net, &saved);
        e->in_call = 0;
        if (rv < 0 && rc_buf_used(&e->imm) == 0)
            rc_resp_server_errorf(&x, "ERR %s failed inside the transaction: %s", q->d->name,
                                  rc_strerror(rv));
        else if (rc_buf_used(&e->imm) == 0) {
            e->r->cur_proto = outer_proto;
            return; /* deferred: captured() goes on */
        }
        exec_append(e, rc_buf_rptr(&e->imm), rc_buf_used(&e->imm));
    }
    e->r->cur_proto = outer_proto;
    exec_finish(e);
}

static void check_done(void *arg, const struct rc_coord_res *res)
{
    struct wkey *k = arg;
    struct rc_resp_exec *e = k->e;

    if (k->state == W_FAILED)
        e->changed = 1;
    else if (res->err == 0 && res->has_version)
        e->changed |= k->state != W_FOUND || rc_version_cmp(&k->ver, &res->ver) != 0;
    else if (res->err == RC_ENOTFOUND || res->err == 0)
        e->changed |= k->state != W_MISSING;
    else
        e->changed = 1; /* cannot tell: the transaction does not run */
    if (--e->checks_pending == 0 && !e->in_call)
        exec_check(e);
}

/* Runs once the WATCH reads are in, then once the re-reads are: decides. */
static void exec_check(struct rc_resp_exec *e)
{
    struct rc_resp_watch *w;
    size_t i;

    if (!e->checking) {
        e->checking = 1;
        e->in_call = 1;
        for (w = e->watch; w != NULL; w = w->next)
            e->checks_pending += w->n;
        for (w = e->watch; w != NULL; w = w->next)
            for (i = 0; i < w->n; i++) {
                w->keys[i].e = e;
                read_key(e->r, w->keys[i].key, w->keys[i].len, check_done, &w->keys[i]);
            }
        e->in_call = 0;
        if (e->checks_pending > 0)
            return;
    }
    if (e->changed) {
        /* A watched key changed: nothing runs, the null reply (Redis). */
        rc_buf_reset(&e->imm);
        rc_resp_null_array(&e->imm, e->proto);
        exec_reply(e, rc_buf_rptr(&e->imm), rc_buf_used(&e->imm));
        return;
    }
    exec_run(e);
}

int rc_resp_multi_exec(struct rc_resp_ctx *x)
{
    struct rc_resp_conn *c = x->conn;
    struct rc_resp_multi *m = c->multi;
    struct rc_resp_exec *e;
    struct rc_resp_watch *w, *next;
    size_t m_n;

    if (m == NULL)
        return rc_resp_error(x->out, "ERR EXEC without MULTI");
    c->multi = NULL;
    if (m->failed) {
        queue_free(m);
        unwatch(c);
        return rc_resp_error(x->out, "EXECABORT Transaction discarded because of previous "
                                     "errors.");
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        queue_free(m);
        unwatch(c);
        return rc_resp_error(x->out, "ERR out of memory");
    }
    e->r = x->r;
    e->net = x->net;
    e->conn = c;
    e->proto = c->proto == 3 ? 3 : 2;
    e->q = m->head;
    m_n = m->n;
    m->head = NULL;
    queue_free(m);
    rc_buf_init(&e->acc, x->r->opts.max_reply);
    rc_buf_init(&e->imm, x->r->opts.max_reply);
    if (rc_resp_array(&e->acc, m_n) < 0) {
        e->watch = NULL;
        exec_free(e);
        unwatch(c);
        return RC_ENOMEM;
    }
    /* EXEC unwatches: the batches are the EXEC's to check now. */
    e->watch = c->watch;
    c->watch = NULL;
    for (w = e->watch; w != NULL; w = w->next) {
        w->conn = NULL;
        w->exec = e;
        e->watch_pending += w->pending != 0;
    }
    e->slot = rc_net_defer(x->net);
    if (e->slot == NULL) {
        /* Batches still reading are left to their reads. */
        for (w = e->watch; w != NULL; w = next) {
            next = w->next;
            w->next = NULL;
            w->exec = NULL;
            if (w->pending == 0)
                free(w);
        }
        e->watch = NULL;
        exec_free(e);
        return RC_ENOMEM;
    }
    c->exec = e;
    if (e->watch_pending == 0)
        exec_check(e);
    return RC_NET_DONE;
}

int rc_resp_multi_discard(struct rc_resp_ctx *x)
{
    if (x->conn->multi == NULL)
        return rc_resp_error(x->out, "ERR DISCARD without MULTI");
    queue_free(x->conn->multi);
    x->conn->multi = NULL;
    unwatch(x->conn);
    return rc_resp_simple(x->out, "OK");
}

void rc_resp_multi_stats(const struct rc_resp_conn *c, size_t *n, size_t *bytes)
{
    *n = c->multi ? c->multi->n : 0;
    *bytes = c->multi ? c->multi->bytes : 0;
}

void rc_resp_multi_closed(struct rc_resp_conn *c)
{
    struct rc_resp_exec *e = c->exec;

    queue_free(c->multi);
    c->multi = NULL;
    unwatch(c);
    if (e != NULL) {
        /* It runs to the end (its writes were acknowledged to nobody but
         * may have begun); the commands see a copy of the connection. */
        e->gone = *c;
        e->gone.exec = NULL;
        e->conn = NULL;
        c->exec = NULL;
    }
}
