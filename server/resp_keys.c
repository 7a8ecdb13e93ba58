/*
 * resp_keys.c - the RESP commands on keys (GET, SET, DEL, MGET, MSET,
 * EXISTS, EXPIRE, TTL, ...), run through the coordinator.
 *
 * A command becomes a cmd holding one sub per key, each a coordinator
 * operation (rc_coord_run); when every sub has answered, the cmd is turned
 * into one RESP reply. Answers that arrive while we are still inside the
 * parse hook (a single-node GET) are encoded straight into the
 * connection's output; the others take a net slot, so replies still leave
 * in request order under pipelining. Read-modify-write commands (SET
 * NX/XX, EXPIRE) run in two phases: a quorum read, then a write decided
 * from it. They are not atomic across coordinators; the exact guarantees
 * are in docs/protocol.md.
 */
#include "resp_int.h"
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

enum kind { K_GET, K_SET, K_DEL, K_EXISTS, K_MGET, K_MSET, K_EXPIRE, K_TTL, K_PTTL };
enum cond { C_NONE, C_NX, C_XX };

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
    int in_handler, busy, finished, phase2;
    int reply_rv;
    int64_t ttl_ms;           /* SET: ttl to write; EXPIRE: the new ttl (<= 0 deletes) */
    uint8_t *key, *value;     /* two-phase commands: copies */
    size_t key_len, value_len;
    size_t n, done;
    int pooled;               /* single-key, small: goes back to the free list */
    int proto;                /* the connection's RESP version: nulls differ in 3 */
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
        return cmd->cond != C_NONE && !cmd->phase2 ? rc_resp_null(out, cmd->proto) : rc_resp_simple(out, "OK");
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
                     ? rc_resp_null(out, cmd->proto)
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
        cmd->reply_rv = rv < 0 ? rc_resp_server_reply_failed(r, cmd->out, mark, rv) : rv;
        return;
    }
    if (cmd->slot != NULL) {
        rc_buf_reset(&r->reply);
        rv = encode_result(cmd, &r->reply);
        if (rv < 0)
            rc_resp_server_reply_failed(r, &r->reply, 0, rv);
        rc_net_complete_bytes(cmd->slot, rc_buf_rptr(&r->reply), rc_buf_used(&r->reply));
        /* A reply of many MB does not stay allocated for the next one. */
        rc_buf_reset(&r->reply);
        rc_buf_shrink(&r->reply, RC_RESP_REPLY_MIN_CAP);
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
        rv = rc_resp_null(out, cmd->proto);
    else
        rv = encode_failure(out, cmd, s);
    cmd->done++;
    cmd->finished = 1;
    if (rv < 0)
        rv = rc_resp_server_reply_failed(r, out, mark, rv);
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
    cmd->proto = r->cur_proto;
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

/* cmd_new failed: the node is over its keys-in-flight budget (or out of
 * memory). The client may retry; nothing was started. */
static int no_cmd(struct rc_resp_ctx *x)
{
    return rc_resp_error(x->out, "BUSY too many keys in flight on this node (or out of "
                                 "memory); retry later");
}

static int simple_keys(struct rc_resp_ctx *x, enum kind kind, uint32_t op)
{
    struct cmd *cmd = cmd_new(x->r, kind, x->argc - 1, 0);

    if (cmd == NULL)
        return no_cmd(x);
    return run_cmd(x->r, x->net, cmd, x->argv, 1, 1, op, x->out);
}

int rc_resp_keys_get(struct rc_resp_ctx *x)
{
    return simple_keys(x, K_GET, RC_COORD_GET);
}

int rc_resp_keys_mget(struct rc_resp_ctx *x)
{
    return simple_keys(x, K_MGET, RC_COORD_GET);
}

int rc_resp_keys_del(struct rc_resp_ctx *x)
{
    return simple_keys(x, K_DEL, RC_COORD_DEL);
}

int rc_resp_keys_exists(struct rc_resp_ctx *x)
{
    return simple_keys(x, K_EXISTS, RC_COORD_GET);
}

int rc_resp_keys_ttl(struct rc_resp_ctx *x)
{
    return simple_keys(x, rc_resp_is(&x->argv[0], "PTTL") ? K_PTTL : K_TTL, RC_COORD_GET);
}

int rc_resp_keys_mset(struct rc_resp_ctx *x)
{
    struct cmd *cmd;

    if ((x->argc - 1) % 2 != 0)
        return rc_resp_server_errorf(x, "ERR wrong number of arguments for '%s' command",
                                     "mset");
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

int rc_resp_keys_set(struct rc_resp_ctx *x)
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
            return rc_resp_server_errorf(x, "ERR SET %s is not supported by ringcache",
                                         rc_resp_is(a, "GET") ? "GET" : "KEEPTTL");
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

int rc_resp_keys_expire(struct rc_resp_ctx *x)
{
    int64_t unit = rc_resp_is(&x->argv[0], "EXPIRE") ? 1000 : 1;
    struct cmd *cmd;
    int64_t ttl;

    if (x->argc > 3)
        return rc_resp_server_errorf(x,
                                     "ERR %s options (NX, XX, GT, LT) are not supported by "
                                     "ringcache",
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

int rc_resp_keys_counter(struct rc_resp_ctx *x)
{
    return rc_resp_error(x->out,
                         "ERR INCR, DECR and INCRBY are not supported: ringcache replicas keep the "
                         "last write, so concurrent increments through different nodes would be "
                         "lost");
}

void rc_resp_keys_close(struct rc_resp_server *r)
{
    while (r->free_cmds != NULL) {
        struct cmd *next = r->free_cmds->next_free;

        free(r->free_cmds);
        r->free_cmds = next;
    }
    r->nfree_cmds = 0;
}
