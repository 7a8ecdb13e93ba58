/*
 * resp_server.c - Redis-protocol (RESP2) front end (see resp_server.h).
 *
 * net.c cuts nothing here: its parse hook hands us the connection's input
 * and we parse one command at a time with common/resp.c. A command that
 * needs the data (GET, SET, DEL, MGET, ...) becomes a cmd holding one sub
 * per key, each a coordinator operation; when every sub has answered, the
 * cmd is turned into one RESP reply. Answers that arrive while we are
 * still inside the parse hook (a single-node GET) are encoded straight
 * into the connection's output; the others take a net slot, so replies
 * still leave in request order under pipelining. Read-modify-write
 * commands (SET NX/XX, EXPIRE) run in two phases: a quorum read, then a
 * write decided from it. They are not atomic across coordinators; the
 * exact guarantees are in docs/protocol.md.
 */
#include "resp_server.h"
#include "codec.h"
#include "err.h"
#include "resp.h"
#include "ring.h"

#include <inttypes.h>
#include <stdarg.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* CLIENT SETNAME: Redis has no limit; 128 bytes is more than any client
 * library sends and keeps the per-connection state small. */
#define NAME_MAX_LEN 128
/* Keys of commands waiting for the coordinator, all connections together:
 * each costs a sub here and an op in the coordinator (~300 bytes with a
 * small value), so 1M bound what pipelined MGETs/MSETs of many keys can
 * pin (a few hundred MB) while leaving 1000 clients x 1024 single-key
 * commands in flight untouched. Over it, a command is refused with an
 * error, not queued. */
#define MAX_KEYS_INFLIGHT (1u << 20)
/* Single-key commands (nearly all of them) reuse their cmd from a free
 * list instead of malloc/free per request; a pooled cmd has room for a key
 * and value copy of CMD_POOL_EXTRA bytes (SET NX, EXPIRE), and at most
 * CMD_POOL_MAX (about 2 MiB) are kept. */
#define CMD_POOL_EXTRA 256
#define CMD_POOL_MAX 4096
/* INFO text, and the least room for encoding a deferred reply (which
 * otherwise gets the reply cap, rc_resp_server_opts.max_reply); also what
 * the deferred reply buffer keeps allocated between replies. */
#define REPLY_MIN_CAP (1u << 20)

struct resp_conn {
    uint64_t id;
    size_t name_len;
    char name[NAME_MAX_LEN];
};

struct rc_resp_server {
    struct rc_resp_server_opts opts;
    struct rc_coord *co;
    struct rc_cluster *cluster;
    struct rc_admin *admin;
    struct rc_node *node;
    struct rc_net *net;
    const struct rc_log *log;
    struct rc_resp_limits lim;
    struct rc_resp_limits lim_preauth; /* until AUTH (with --auth-file) */
    struct rc_resp_arg *argv;
    uint8_t *inline_buf;
    struct rc_buf reply; /* deferred replies, encoded before completing their slot */
    struct rc_buf tmp;   /* INFO text */
    uint64_t next_client_id;
    size_t keys_inflight;
    struct cmd *free_cmds;
    size_t nfree_cmds;
    int64_t start_ms;
    uint64_t commands, unknown;
    struct rc_resp_stats stats;
};

/* ---- commands with keys ------------------------------------------- */

enum kind { K_GET, K_SET, K_DEL, K_EXISTS, K_MGET, K_MSET, K_EXPIRE, K_TTL, K_PTTL };
enum cond { C_NONE, C_NX, C_XX };

struct cmd;

struct sub {
    struct cmd *cmd;
    int err;          /* 0, RC_ENOTFOUND or the failure */
    uint8_t *value;   /* MGET, EXPIRE: a copy of the value read */
    size_t value_len;
    uint64_t ttl_ms;  /* remaining, 0 = none */
};

struct cmd {
    struct rc_resp_server *r;
    struct rc_net_slot *slot; /* once deferred */
    struct rc_buf *out;       /* while inside the parse hook */
    enum kind kind;
    enum cond cond;
    int in_handler, busy, finished, phase2, drop;
    int reply_rv;
    int64_t ttl_ms;           /* SET: ttl to write; EXPIRE: the new ttl (<= 0 deletes) */
    uint8_t *key, *value;     /* two-phase commands: copies */
    size_t key_len, value_len;
    size_t n, done;
    int pooled;               /* single-key, small: goes back to the free list */
    struct cmd *next_free;
    char errmsg[96];          /* the coordinator's message with the first failure */
    struct sub subs[];
};

static void cmd_progress(struct cmd *cmd);

static void cmd_free(struct cmd *cmd)
{
    struct rc_resp_server *r = cmd->r;
    size_t i;

    r->keys_inflight -= cmd->n;
    for (i = 0; i < cmd->n; i++)
        free(cmd->subs[i].value);
    if (cmd->pooled && r->nfree_cmds < CMD_POOL_MAX) {
        cmd->next_free = r->free_cmds;
        r->free_cmds = cmd;
        r->nfree_cmds++;
        return;
    }
    free(cmd);
}

static int sub_err(const struct cmd *cmd)
{
    size_t i;

    for (i = 0; i < cmd->n; i++)
        if (cmd->subs[i].err < 0 && cmd->subs[i].err != RC_ENOTFOUND)
            return (int)i;
    return -1;
}

/* "-UNAVAILABLE 1 of 3 replicas answered, 2 needed": the error class is
 * ringcache's code name, which Redis clients show as the error prefix. */
static int encode_failure(struct rc_buf *out, const struct cmd *cmd, const struct sub *s)
{
    char msg[160];

    snprintf(msg, sizeof(msg), "%s %s", rc_err_name(s->err),
             cmd->errmsg[0] ? cmd->errmsg : rc_strerror(s->err));
    return rc_resp_error(out, msg);
}

/* Encoding a reply into out failed (rv): it was larger than the reply cap
 * (opts.max_reply), or memory ran out. What was written of it since mark
 * is dropped and an error takes its place, so the client gets an answer
 * in order and the connection stays usable. Returns the error's encoding
 * result. */
static int reply_failed(struct rc_resp_server *r, struct rc_buf *out, size_t mark, int rv)
{
    out->len = out->start + mark;
    if (rv != RC_EBUFFER_FULL)
        return rc_resp_error(out, "ERR out of memory encoding the reply");
    r->stats.replies_too_large++;
    return rc_resp_error(out, "ERR reply too large for the connection's buffer");
}

static int64_t ttl_reply(const struct sub *s, int ms)
{
    if (s->err == RC_ENOTFOUND)
        return -2;
    if (s->ttl_ms == 0)
        return -1;
    return ms ? (int64_t)s->ttl_ms : (int64_t)((s->ttl_ms + 500) / 1000);
}

/* Bytes an MGET reply takes, at most: "*<n>\r\n", then "$<len>\r\n<value>\r\n"
 * or "$-1\r\n" per key (a length has at most 20 digits). */
static size_t mget_size(const struct cmd *cmd)
{
    size_t i, total = 24;

    for (i = 0; i < cmd->n; i++)
        total += cmd->subs[i].value_len + 25;
    return total;
}

static int encode_result(struct cmd *cmd, struct rc_buf *out)
{
    int e = sub_err(cmd), rv = 0;
    size_t i;
    int64_t count = 0;

    if (e >= 0)
        return encode_failure(out, cmd, &cmd->subs[e]);
    switch (cmd->kind) {
    case K_GET: /* answered by get_done */
        break;
    case K_SET:
    case K_MSET:
        /* A SET whose condition failed never wrote: nil, as Redis. */
        return cmd->cond != C_NONE && !cmd->phase2 ? rc_resp_nil(out) : rc_resp_simple(out, "OK");
    case K_EXPIRE:
        return rc_resp_integer(out, cmd->phase2 ? 1 : 0);
    case K_TTL:
    case K_PTTL:
        return rc_resp_integer(out, ttl_reply(&cmd->subs[0], cmd->kind == K_PTTL));
    case K_DEL:
    case K_EXISTS:
        for (i = 0; i < cmd->n; i++)
            count += cmd->subs[i].err == 0;
        return rc_resp_integer(out, count);
    case K_MGET:
        if (mget_size(cmd) > cmd->r->opts.max_reply)
            return RC_EBUFFER_FULL; /* -ERR reply too large (reply_failed) */
        rv = rc_resp_array(out, cmd->n);
        for (i = 0; rv == 0 && i < cmd->n; i++)
            rv = cmd->subs[i].err == RC_ENOTFOUND
                     ? rc_resp_nil(out)
                     : rc_resp_bulk(out, cmd->subs[i].value, cmd->subs[i].value_len);
        return rv;
    }
    return RC_EINTERNAL;
}

/* Every sub answered: reply into the connection (inside the hook) or
 * through the slot (later), then free the cmd unless the hook still
 * holds it. */
static void cmd_reply(struct cmd *cmd)
{
    struct rc_resp_server *r = cmd->r;
    size_t mark;

    int rv;

    cmd->finished = 1;
    if (cmd->in_handler) {
        mark = rc_buf_used(cmd->out);
        rv = encode_result(cmd, cmd->out);
        /* No MGET cut off halfway: the error instead. */
        cmd->reply_rv = rv < 0 ? reply_failed(r, cmd->out, mark, rv) : rv;
        return;
    }
    if (cmd->slot != NULL) {
        rc_buf_reset(&r->reply);
        rv = encode_result(cmd, &r->reply);
        if (rv < 0)
            reply_failed(r, &r->reply, 0, rv);
        rc_net_complete_bytes(cmd->slot, rc_buf_rptr(&r->reply), rc_buf_used(&r->reply));
        /* A reply of many MB does not stay allocated for the next one. */
        rc_buf_reset(&r->reply);
        rc_buf_shrink(&r->reply, REPLY_MIN_CAP);
    }
    cmd_free(cmd);
}

/* GET: the reply is encoded straight from the coordinator's answer, with
 * no copy of the value. */
static void get_done(struct cmd *cmd, struct sub *s, const struct rc_coord_res *rep)
{
    struct rc_resp_server *r = cmd->r;
    struct rc_buf *out = cmd->in_handler ? cmd->out : &r->reply;
    size_t mark;
    int rv;

    if (!cmd->in_handler)
        rc_buf_reset(out);
    mark = rc_buf_used(out);
    if (s->err == 0)
        rv = rc_resp_bulk(out, rep->value ? rep->value : (const uint8_t *)"", rep->value_len);
    else if (s->err == RC_ENOTFOUND)
        rv = rc_resp_nil(out);
    else
        rv = encode_failure(out, cmd, s);
    cmd->done++;
    cmd->finished = 1;
    if (rv < 0)
        rv = reply_failed(r, out, mark, rv);
    if (cmd->in_handler) {
        cmd->reply_rv = rv;
        return;
    }
    if (cmd->slot != NULL)
        rc_net_complete_bytes(cmd->slot, rc_buf_rptr(out), rc_buf_used(out));
    cmd_free(cmd);
}

static void sub_done(void *arg, const struct rc_coord_res *rep)
{
    struct sub *s = arg;
    struct cmd *cmd = s->cmd;
    int keep = cmd->kind == K_MGET || cmd->kind == K_EXPIRE;

    s->err = rep->err;
    if (s->err < 0 && s->err != RC_ENOTFOUND && rep->msg != NULL && rep->msg[0] &&
        !cmd->errmsg[0])
        snprintf(cmd->errmsg, sizeof(cmd->errmsg), "%s", rep->msg);
    if (cmd->kind == K_GET) {
        get_done(cmd, s, rep);
        return;
    }
    s->ttl_ms = rep->ttl_ms;
    if (s->err == 0 && keep && rep->has_value && !cmd->phase2) {
        /* The value is borrowed for this call only. */
        s->value = malloc(rep->value_len ? rep->value_len : 1);
        if (s->value == NULL) {
            s->err = RC_ENOMEM;
        } else {
            memcpy(s->value, rep->value, rep->value_len);
            s->value_len = rep->value_len;
        }
    }
    cmd->done++;
    if (!cmd->busy)
        cmd_progress(cmd);
}

static void submit(struct cmd *cmd, struct sub *s, int kind, const uint8_t *key, size_t klen,
                   const uint8_t *val, size_t vlen, int64_t ttl_ms)
{
    struct rc_coord_sink sk = {sub_done, sub_done, NULL, s};
    struct rc_coord_req req = {.kind = kind, .key = key, .key_len = klen};

    if (kind == RC_COORD_PUT) {
        req.value = val;
        req.value_len = vlen;
        req.ttl_ms = ttl_ms > 0 ? (uint64_t)ttl_ms : 0;
    }
    s->cmd = cmd;
    rc_coord_run(cmd->r->co, &req, &sk);
}

/* The read phase of SET NX/XX and EXPIRE answered: decide and write. */
static void start_phase2(struct cmd *cmd)
{
    struct sub *s = &cmd->subs[0];
    int64_t ttl = cmd->ttl_ms;

    cmd->phase2 = 1;
    cmd->done = 0;
    cmd->busy = 1;
    if (cmd->kind == K_SET) {
        submit(cmd, s, RC_COORD_PUT, cmd->key, cmd->key_len, cmd->value, cmd->value_len, ttl);
    } else if (ttl <= 0) {
        submit(cmd, s, RC_COORD_DEL, cmd->key, cmd->key_len, NULL, 0, 0);
    } else {
        /* EXPIRE rewrites the value it read with the new expiry. */
        uint8_t *v = s->value;
        size_t vl = s->value_len;

        s->value = NULL;
        submit(cmd, s, RC_COORD_PUT, cmd->key, cmd->key_len, v ? v : (const uint8_t *)"", vl, ttl);
        free(v);
    }
    cmd->busy = 0;
}

static int wants_phase2(const struct cmd *cmd)
{
    const struct sub *s = &cmd->subs[0];

    if (cmd->phase2 || (cmd->kind != K_SET && cmd->kind != K_EXPIRE))
        return 0;
    if (s->err < 0 && s->err != RC_ENOTFOUND)
        return 0; /* the read failed: report it */
    if (cmd->kind == K_EXPIRE)
        return s->err == 0;
    return cmd->cond == C_NX ? s->err == RC_ENOTFOUND : s->err == 0;
}

static void cmd_progress(struct cmd *cmd)
{
    while (cmd->done == cmd->n && !cmd->finished) {
        if (wants_phase2(cmd)) {
            start_phase2(cmd);
            continue;
        }
        if (cmd->phase2 && cmd->kind == K_EXPIRE && cmd->subs[0].err == RC_ENOTFOUND)
            cmd->subs[0].err = 0; /* deleting the key it just read: still a 1 */
        cmd_reply(cmd);
        return;
    }
}

static struct cmd *cmd_new(struct rc_resp_server *r, enum kind kind, size_t n, size_t extra)
{
    struct cmd *cmd;

    int pooled = n == 1 && extra <= CMD_POOL_EXTRA;

    if (r->keys_inflight + n > MAX_KEYS_INFLIGHT)
        return NULL;
    if (pooled && r->free_cmds != NULL) {
        cmd = r->free_cmds;
        r->free_cmds = cmd->next_free;
        r->nfree_cmds--;
        memset(cmd, 0, sizeof(*cmd) + sizeof(struct sub));
    } else {
        cmd = calloc(1, sizeof(*cmd) + (pooled ? 1 : n) * sizeof(struct sub) +
                            (pooled ? CMD_POOL_EXTRA : extra));
    }
    if (cmd == NULL)
        return NULL;
    r->keys_inflight += n;
    cmd->r = r;
    cmd->pooled = pooled;
    cmd->kind = kind;
    cmd->n = n;
    return cmd;
}

/* Runs a cmd whose subs are described by argv: keys at first, first+step,
 * ...; for MSET the value follows each key. */
static int run_cmd(struct rc_resp_server *r, struct rc_net *net, struct cmd *cmd,
                   const struct rc_resp_arg *argv, size_t first, size_t step, uint32_t op,
                   struct rc_buf *out)
{
    size_t i;
    int rv;

    cmd->out = out;
    cmd->in_handler = 1;
    cmd->busy = 1;
    for (i = 0; i < cmd->n; i++) {
        const struct rc_resp_arg *k = &argv[first + i * step];

        if (op == RC_COORD_PUT && cmd->kind == K_MSET)
            submit(cmd, &cmd->subs[i], op, k->p, k->len, k[1].p, k[1].len, 0);
        else if (op == RC_COORD_PUT)
            submit(cmd, &cmd->subs[i], op, k->p, k->len, cmd->value, cmd->value_len, cmd->ttl_ms);
        else
            submit(cmd, &cmd->subs[i], op, k->p, k->len, NULL, 0, 0);
    }
    cmd->busy = 0;
    cmd_progress(cmd);
    cmd->in_handler = 0;
    if (cmd->finished) {
        rv = cmd->reply_rv;
        cmd_free(cmd);
        return rv < 0 ? rv : RC_NET_DONE;
    }
    cmd->slot = rc_net_defer(net);
    if (cmd->slot == NULL) {
        /* The subs still call back: the cmd is freed when they are done,
         * with nobody to tell; the connection closes. */
        return RC_ENOMEM;
    }
    return RC_NET_DONE;
}

/* ---- command table ------------------------------------------------ */

struct ctx {
    struct rc_resp_server *r;
    struct rc_net *net;
    struct resp_conn *conn;
    const struct rc_resp_arg *argv;
    size_t argc;
    struct rc_buf *out;
};

struct cmd_def {
    const char *name;
    int arity; /* Redis convention: exact if > 0, at least -arity if < 0 */
    const char *flags;
    int first, last, step; /* key positions, as COMMAND reports them */
    int (*fn)(struct ctx *x);
};

static int reply_err(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int reply_err(struct ctx *x, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return rc_resp_error(x->out, msg);
}

static int ok(struct ctx *x)
{
    return rc_resp_simple(x->out, "OK");
}

static int do_ping(struct ctx *x)
{
    if (x->argc > 2)
        return reply_err(x, "ERR wrong number of arguments for '%s' command", "ping");
    if (x->argc == 2)
        return rc_resp_bulk(x->out, x->argv[1].p, x->argv[1].len);
    return rc_resp_simple(x->out, "PONG");
}

static int do_echo(struct ctx *x)
{
    return rc_resp_bulk(x->out, x->argv[1].p, x->argv[1].len);
}

/* cmd_new failed: the node is over its keys-in-flight budget (or out of
 * memory). The client may retry; nothing was started. */
static int no_cmd(struct ctx *x)
{
    return rc_resp_error(x->out, "BUSY too many keys in flight on this node (or out of "
                                 "memory); retry later");
}

static int simple_keys(struct ctx *x, enum kind kind, uint32_t op)
{
    struct cmd *cmd = cmd_new(x->r, kind, x->argc - 1, 0);

    if (cmd == NULL)
        return no_cmd(x);
    return run_cmd(x->r, x->net, cmd, x->argv, 1, 1, op, x->out);
}

static int do_get(struct ctx *x)
{
    return simple_keys(x, K_GET, RC_COORD_GET);
}

static int do_mget(struct ctx *x)
{
    return simple_keys(x, K_MGET, RC_COORD_GET);
}

static int do_del(struct ctx *x)
{
    return simple_keys(x, K_DEL, RC_COORD_DEL);
}

static int do_exists(struct ctx *x)
{
    return simple_keys(x, K_EXISTS, RC_COORD_GET);
}

static int do_ttl(struct ctx *x)
{
    return simple_keys(x, rc_resp_is(&x->argv[0], "PTTL") ? K_PTTL : K_TTL, RC_COORD_GET);
}

static int do_mset(struct ctx *x)
{
    struct cmd *cmd;

    if ((x->argc - 1) % 2 != 0)
        return reply_err(x, "ERR wrong number of arguments for '%s' command", "mset");
    cmd = cmd_new(x->r, K_MSET, (x->argc - 1) / 2, 0);
    if (cmd == NULL)
        return no_cmd(x);
    return run_cmd(x->r, x->net, cmd, x->argv, 1, 2, RC_COORD_PUT, x->out);
}

/* A TTL argument in the given unit (1000 for seconds) as milliseconds.
 * 0 or RC_EINVAL on a non-number, an overflow, or (unless allow_neg) a
 * value below 1. */
static int ttl_arg(const struct rc_resp_arg *a, int64_t unit, int allow_neg, int64_t *ms)
{
    int64_t v;

    if (rc_resp_int(a, &v) < 0)
        return RC_EINVAL;
    if (!allow_neg && v <= 0)
        return RC_EINVAL;
    if (v > INT64_MAX / unit || v < INT64_MIN / unit)
        return RC_EINVAL;
    *ms = v * unit;
    return 0;
}

/* Copies key and value into the cmd for the write of a two-phase command. */
static void keep_kv(struct cmd *cmd, const struct rc_resp_arg *k, const struct rc_resp_arg *v)
{
    cmd->key = (uint8_t *)&cmd->subs[cmd->n];
    cmd->key_len = k->len;
    memcpy(cmd->key, k->p, k->len);
    if (v != NULL) {
        cmd->value = cmd->key + k->len;
        cmd->value_len = v->len;
        memcpy(cmd->value, v->p, v->len);
    }
}

static int do_set(struct ctx *x)
{
    enum cond cond = C_NONE;
    int64_t ttl = 0, at;
    int has_ttl = 0;
    struct cmd *cmd;
    size_t i;

    for (i = 3; i < x->argc; i++) {
        const struct rc_resp_arg *a = &x->argv[i];
        int64_t unit = rc_resp_is(a, "EX") || rc_resp_is(a, "EXAT") ? 1000 : 1;
        int abs = rc_resp_is(a, "EXAT") || rc_resp_is(a, "PXAT");

        if (rc_resp_is(a, "NX") && cond == C_NONE) {
            cond = C_NX;
        } else if (rc_resp_is(a, "XX") && cond == C_NONE) {
            cond = C_XX;
        } else if ((rc_resp_is(a, "EX") || rc_resp_is(a, "PX") || abs) && !has_ttl &&
                   i + 1 < x->argc) {
            if (ttl_arg(&x->argv[++i], unit, 0, &ttl) < 0)
                return rc_resp_error(x->out, "ERR invalid expire time in 'set' command");
            if (abs) {
                /* Already past: the value expires at once, as in Redis. */
                at = ttl - rc_node_now_ms();
                ttl = at > 0 ? at : 1;
            }
            has_ttl = 1;
        } else if (rc_resp_is(a, "GET") || rc_resp_is(a, "KEEPTTL")) {
            return reply_err(x, "ERR SET %s is not supported by ringcache", rc_resp_is(a, "GET") ? "GET" : "KEEPTTL");
        } else {
            return rc_resp_error(x->out, "ERR syntax error");
        }
    }
    if (cond == C_NONE) {
        cmd = cmd_new(x->r, K_SET, 1, 0);
        if (cmd == NULL)
            return no_cmd(x);
        cmd->value = (uint8_t *)x->argv[2].p; /* used during run_cmd only */
        cmd->value_len = x->argv[2].len;
        cmd->ttl_ms = ttl;
        cmd->phase2 = 1;
        return run_cmd(x->r, x->net, cmd, x->argv, 1, 1, RC_COORD_PUT, x->out);
    }
    cmd = cmd_new(x->r, K_SET, 1, x->argv[1].len + x->argv[2].len);
    if (cmd == NULL)
        return no_cmd(x);
    keep_kv(cmd, &x->argv[1], &x->argv[2]);
    cmd->cond = cond;
    cmd->ttl_ms = ttl;
    return run_cmd(x->r, x->net, cmd, x->argv, 1, 1, RC_COORD_GET, x->out);
}

static int do_expire(struct ctx *x)
{
    int64_t unit = rc_resp_is(&x->argv[0], "EXPIRE") ? 1000 : 1;
    struct cmd *cmd;
    int64_t ttl;

    if (x->argc > 3)
        return reply_err(x, "ERR %s options (NX, XX, GT, LT) are not supported by ringcache",
                         unit == 1000 ? "EXPIRE" : "PEXPIRE");
    if (ttl_arg(&x->argv[2], unit, 1, &ttl) < 0)
        return rc_resp_error(x->out, "ERR value is not an integer or out of range");
    cmd = cmd_new(x->r, K_EXPIRE, 1, x->argv[1].len);
    if (cmd == NULL)
        return no_cmd(x);
    keep_kv(cmd, &x->argv[1], NULL);
    cmd->ttl_ms = ttl;
    return run_cmd(x->r, x->net, cmd, x->argv, 1, 1, RC_COORD_GET, x->out);
}

static int do_counter(struct ctx *x)
{
    return rc_resp_error(x->out,
                         "ERR INCR, DECR and INCRBY are not supported: ringcache replicas keep the "
                         "last write, so concurrent increments through different nodes would be "
                         "lost");
}

static int do_select(struct ctx *x)
{
    int64_t db;

    if (rc_resp_int(&x->argv[1], &db) < 0)
        return rc_resp_error(x->out, "ERR value is not an integer or out of range");
    if (db != 0)
        return rc_resp_error(x->out, "ERR DB index is out of range");
    return ok(x);
}

static int do_quit(struct ctx *x)
{
    int rv = ok(x);

    return rv < 0 ? rv : RC_NET_CLOSE;
}

/* AUTH password | AUTH default password (Redis 6 form; no other user
 * exists). Checked by common/auth.c like the native AUTH, on the
 * connection's state in net.c (so --auth-timeout sees it); the third
 * wrong password on a connection closes it. */
static int do_auth(struct ctx *x)
{
    struct rc_auth *a = x->r->opts.auth;
    struct rc_auth_conn *ac = rc_net_current_auth(x->net);
    const struct rc_resp_arg *pw = &x->argv[x->argc - 1];
    int close = 0, rv;

    if (a == NULL)
        return rc_resp_error(x->out,
                             "ERR AUTH <password> called without any password configured for "
                             "the default user. Are you sure your configuration is correct?");
    if (x->argc > 3)
        return rc_resp_error(x->out, "ERR syntax error");
    if (ac == NULL)
        return RC_EINTERNAL;
    if (x->argc == 3 && !rc_resp_is(&x->argv[1], "default")) {
        /* Counted like a wrong password: a user name is no way around the limit. */
        rc_auth_attempt(a, ac, (const uint8_t *)"", 0, &close);
        rv = rc_resp_error(x->out, "WRONGPASS invalid username-password pair or user is "
                                   "disabled.");
        return rv < 0 ? rv : close ? RC_NET_CLOSE : 0;
    }
    if (rc_auth_attempt(a, ac, pw->p, pw->len, &close) == 0)
        return ok(x);
    rc_log_warn(x->r->log, "resp client id=%llu: wrong password%s",
                (unsigned long long)x->conn->id, close ? ", closing" : "");
    rv = rc_resp_error(x->out, "WRONGPASS invalid username-password pair or user is disabled.");
    return rv < 0 ? rv : close ? RC_NET_CLOSE : 0;
}

static int do_dbsize(struct ctx *x)
{
    struct rc_node_stats ns;

    rc_node_stats(x->r->node, &ns);
    return rc_resp_integer(x->out, ns.store.keys);
}

static int do_client(struct ctx *x)
{
    const struct rc_resp_arg *sub = &x->argv[1];
    struct resp_conn *c = x->conn;
    size_t i;

    if (rc_resp_is(sub, "SETNAME") && x->argc == 3) {
        const struct rc_resp_arg *n = &x->argv[2];

        for (i = 0; i < n->len; i++)
            if (n->p[i] <= ' ' || n->p[i] > '~')
                return rc_resp_error(x->out, "ERR Client names cannot contain spaces, newlines "
                                             "or special characters.");
        if (n->len > NAME_MAX_LEN)
            return rc_resp_error(x->out, "ERR client name longer than 128 bytes");
        memcpy(c->name, n->p, n->len);
        c->name_len = n->len;
        return ok(x);
    }
    if (rc_resp_is(sub, "GETNAME") && x->argc == 2)
        return c->name_len ? rc_resp_bulk(x->out, c->name, c->name_len) : rc_resp_nil(x->out);
    if (rc_resp_is(sub, "ID") && x->argc == 2)
        return rc_resp_integer(x->out, (int64_t)c->id);
    if (rc_resp_is(sub, "SETINFO") && x->argc == 4)
        return ok(x); /* library name/version: accepted, not kept */
    return rc_resp_error(x->out, "ERR unknown subcommand or wrong number of arguments for "
                                 "'CLIENT'. Try CLIENT SETNAME, GETNAME, ID.");
}

static int do_config(struct ctx *x)
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

static int do_info(struct ctx *x);
static int do_command(struct ctx *x);
static int do_hello(struct ctx *x);

static const struct cmd_def commands[] = {
    {"ping", -1, "fast", 0, 0, 0, do_ping},
    {"echo", 2, "fast", 0, 0, 0, do_echo},
    {"get", 2, "readonly fast", 1, 1, 1, do_get},
    {"set", -3, "write", 1, 1, 1, do_set},
    {"del", -2, "write", 1, -1, 1, do_del},
    {"unlink", -2, "write fast", 1, -1, 1, do_del},
    {"exists", -2, "readonly fast", 1, -1, 1, do_exists},
    {"mget", -2, "readonly fast", 1, -1, 1, do_mget},
    {"mset", -3, "write", 1, -1, 2, do_mset},
    {"expire", -3, "write fast", 1, 1, 1, do_expire},
    {"pexpire", -3, "write fast", 1, 1, 1, do_expire},
    {"ttl", 2, "readonly fast", 1, 1, 1, do_ttl},
    {"pttl", 2, "readonly fast", 1, 1, 1, do_ttl},
    {"incr", 2, "write", 1, 1, 1, do_counter},
    {"decr", 2, "write", 1, 1, 1, do_counter},
    {"incrby", 3, "write", 1, 1, 1, do_counter},
    {"decrby", 3, "write", 1, 1, 1, do_counter},
    {"info", -1, "loading stale", 0, 0, 0, do_info},
    {"dbsize", 1, "readonly fast", 0, 0, 0, do_dbsize},
    {"command", -1, "loading stale", 0, 0, 0, do_command},
    {"client", -2, "loading stale", 0, 0, 0, do_client},
    {"config", -2, "admin loading stale", 0, 0, 0, do_config},
    {"select", 2, "loading stale fast", 0, 0, 0, do_select},
    {"hello", -1, "loading stale fast", 0, 0, 0, do_hello},
    {"auth", -2, "noscript loading stale fast", 0, 0, 0, do_auth},
    {"quit", -1, "loading stale fast", 0, 0, 0, do_quit},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct cmd_def *find_command(const struct rc_resp_arg *name)
{
    size_t i;

    for (i = 0; i < NCOMMANDS; i++)
        if (rc_resp_is(name, commands[i].name))
            return &commands[i];
    return NULL;
}

/* One COMMAND entry: [name, arity, [flags], first, last, step]. */
static int encode_command(struct rc_buf *out, const struct cmd_def *d)
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

static int do_command(struct ctx *x)
{
    const struct rc_resp_arg *sub = x->argc > 1 ? &x->argv[1] : NULL;
    const struct cmd_def *d;
    size_t i;
    int rv;

    if (sub == NULL) {
        rv = rc_resp_array(x->out, NCOMMANDS);
        for (i = 0; rv == 0 && i < NCOMMANDS; i++)
            rv = encode_command(x->out, &commands[i]);
        return rv;
    }
    if (rc_resp_is(sub, "COUNT"))
        return rc_resp_integer(x->out, (int64_t)NCOMMANDS);
    if (rc_resp_is(sub, "DOCS"))
        return rc_resp_array(x->out, 0); /* redis-cli falls back to its built-in help */
    if (rc_resp_is(sub, "INFO")) {
        rv = rc_resp_array(x->out, x->argc - 2);
        for (i = 2; rv == 0 && i < x->argc; i++) {
            d = find_command(&x->argv[i]);
            /* Redis answers a nil entry for an unknown name. */
            rv = d ? encode_command(x->out, d) : rc_resp_nil(x->out);
        }
        return rv;
    }
    return reply_err(x, "ERR unknown subcommand '%.*s'. Try COMMAND COUNT, INFO, DOCS.",
                     (int)(sub->len > 64 ? 64 : sub->len), (const char *)sub->p);
}

static int do_hello(struct ctx *x)
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

static int do_info(struct ctx *x)
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

/* ---- parse hook ---------------------------------------------------- */

/* "-ERR unknown command 'foo', with args beginning with: 'a' 'b' " as
 * Redis words it; control characters become spaces so the error stays on
 * one line. */
static int unknown_command(struct ctx *x)
{
    char msg[512];
    size_t len = 0, i, k;

    len += (size_t)snprintf(msg, sizeof(msg), "ERR unknown command '%.*s', with args beginning with: ",
                            (int)(x->argv[0].len > 128 ? 128 : x->argv[0].len),
                            (const char *)x->argv[0].p);
    for (i = 1; i < x->argc && len < sizeof(msg) - 140; i++)
        len += (size_t)snprintf(msg + len, sizeof(msg) - len, "'%.*s' ",
                                (int)(x->argv[i].len > 128 ? 128 : x->argv[i].len),
                                (const char *)x->argv[i].p);
    for (k = 0; k < len && k < sizeof(msg); k++)
        if ((unsigned char)msg[k] < ' ')
            msg[k] = ' ';
    x->r->unknown++;
    return rc_resp_error(x->out, msg);
}

static int arity_ok(const struct cmd_def *d, size_t argc)
{
    return d->arity > 0 ? argc == (size_t)d->arity : argc >= (size_t)-d->arity;
}

static int on_parse(void *arg, struct rc_net *net, void *conn, const uint8_t *in, size_t len,
                    struct rc_buf *out, size_t *used)
{
    struct rc_resp_server *r = arg;
    struct resp_conn *c = conn;
    struct ctx x = {r, net, c, r->argv, 0, out};
    const struct cmd_def *d;
    const char *err = NULL;
    char msg[128];
    int rv, authed;

    if (c->id == 0)
        c->id = ++r->next_client_id;
    authed = rc_auth_passed(r->opts.auth, rc_net_current_auth(net));
    /* Before AUTH, small commands only (as Redis bounds unauthenticated
     * requests): what an anonymous client can make the server hold is
     * bounded by the pre-auth limits, not by --max-value-size. */
    rv = rc_resp_parse(in, len, authed ? &r->lim : &r->lim_preauth, r->argv, &x.argc, used,
                       r->inline_buf, &err);
    if (rv < 0) {
        snprintf(msg, sizeof(msg), "ERR Protocol error: %s", err);
        rv = rc_resp_error(out, msg);
        return rv < 0 ? rv : RC_NET_PROTO_ERROR;
    }
    if (rv == 0)
        return RC_NET_MORE;
    if (x.argc == 0)
        return RC_NET_DONE; /* an empty line or "*0": consumed, no answer (Redis) */
    r->commands++;
    d = find_command(&x.argv[0]);
    if (!authed && (d == NULL || (d->fn != do_auth && d->fn != do_quit && d->fn != do_ping))) {
        r->opts.auth->rejected++;
        rv = rc_resp_error(out, "NOAUTH Authentication required.");
    } else if (d == NULL)
        rv = unknown_command(&x);
    else if (!arity_ok(d, x.argc))
        rv = reply_err(&x, "ERR wrong number of arguments for '%s' command", d->name);
    else
        rv = d->fn(&x);
    return rv < 0 ? rv : (rv == RC_NET_CLOSE ? RC_NET_CLOSE : RC_NET_DONE);
}

static int on_refuse(struct rc_buf *out)
{
    return rc_resp_error(out, "ERR max number of clients reached");
}

void rc_resp_server_handler(struct rc_resp_server *r, struct rc_net_handler *h)
{
    memset(h, 0, sizeof(*h));
    h->arg = r;
    h->parse = on_parse;
    h->conn_size = sizeof(struct resp_conn);
    h->refuse = on_refuse;
}

void rc_resp_server_set_net(struct rc_resp_server *r, struct rc_net *net)
{
    r->net = net;
}

int rc_resp_server_new(const struct rc_resp_server_opts *opts, struct rc_coord *coord,
                       struct rc_cluster *cluster, struct rc_admin *admin, struct rc_node *node,
                       const struct rc_log *log, struct rc_resp_server **out)
{
    struct rc_resp_server *r;

    *out = NULL;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return RC_ENOMEM;
    r->opts = *opts;
    r->co = coord;
    r->cluster = cluster;
    r->admin = admin;
    r->node = node;
    r->log = log;
    r->lim.max_args = opts->max_args;
    r->lim.max_bulk = opts->max_command;
    r->lim.max_command = opts->max_command;
    /* Redis's own limits for unauthenticated clients: 10 arguments, 16 KiB
     * (past them it closes the connection, as here). */
    r->lim_preauth.max_args = 10;
    r->lim_preauth.max_bulk = 16384;
    r->lim_preauth.max_command = 16384;
    r->argv = calloc(opts->max_args, sizeof(*r->argv));
    r->inline_buf = malloc(RC_RESP_MAX_INLINE);
    if (r->argv == NULL || r->inline_buf == NULL) {
        rc_resp_server_free(r);
        return RC_ENOMEM;
    }
    /* A deferred reply may be as large as an immediate one: both end up
     * in the connection's output, which takes one reply of max_reply. */
    rc_buf_init(&r->reply, opts->max_reply > REPLY_MIN_CAP ? opts->max_reply : REPLY_MIN_CAP);
    rc_buf_init(&r->tmp, REPLY_MIN_CAP);
    r->start_ms = rc_node_now_ms();
    *out = r;
    return 0;
}

const struct rc_resp_stats *rc_resp_server_stats(const struct rc_resp_server *r)
{
    return &r->stats;
}

void rc_resp_server_free(struct rc_resp_server *r)
{
    if (r == NULL)
        return;
    while (r->free_cmds != NULL) {
        struct cmd *next = r->free_cmds->next_free;

        free(r->free_cmds);
        r->free_cmds = next;
    }
    free(r->argv);
    free(r->inline_buf);
    rc_buf_close(&r->reply);
    rc_buf_close(&r->tmp);
    free(r);
}
