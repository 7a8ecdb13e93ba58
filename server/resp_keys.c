/*
 * resp_keys.c - the RESP commands on keys (GET, SET, DEL, MGET, MSET,
 * EXISTS, TTL, ...), run through the coordinator.
 *
 * A command becomes a cmd holding one sub per key, each a coordinator
 * operation (rc_coord_run); when every sub has answered, the cmd is turned
 * into one RESP reply. Answers that arrive while we are still inside the
 * parse hook (a single-node GET) are encoded straight into the
 * connection's output; the others take a net slot, so replies still leave
 * in request order under pipelining. The commands that read before they
 * write (SET NX/XX/GET/KEEPTTL, EXPIRE, APPEND, ...) are plans in
 * resp_strings.c. They are not atomic across coordinators; the exact guarantees
 * are in docs/protocol.md.
 */
#include "resp_int.h"
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Single-key commands (nearly all of them) reuse their cmd from a free
 * list instead of malloc/free per request; a pooled cmd has room for a key
 * and value copy of CMD_POOL_EXTRA bytes, and at most
 * CMD_POOL_MAX (about 2 MiB) are kept. */
#define CMD_POOL_EXTRA 256
#define CMD_POOL_MAX 4096

enum kind { K_GET, K_SET, K_DEL, K_EXISTS, K_MGET, K_MSET, K_TTL, K_PTTL };

struct sub {
    struct cmd *cmd;
    int err;          /* 0, RC_ENOTFOUND or the failure */
    uint8_t *value;   /* MGET: a copy of the value read */
    size_t value_len;
    uint64_t ttl_ms;  /* remaining, 0 = none */
};

struct cmd {
    struct rc_resp_server *r;
    struct rc_net_slot *slot; /* once deferred */
    struct rc_buf *out;       /* while inside the parse hook */
    enum kind kind;
    int in_handler, busy, finished;
    int reply_rv;
    int64_t ttl_ms;           /* SET: ttl to write */
    uint8_t *value;           /* SET: the value (borrowed while submitting) */
    size_t value_len;
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
        return rc_resp_simple(out, "OK");
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
    int keep = cmd->kind == K_MGET;

    s->err = rep->err;
    if (s->err < 0 && s->err != RC_ENOTFOUND && rep->msg != NULL && rep->msg[0] &&
        !cmd->errmsg[0])
        snprintf(cmd->errmsg, sizeof(cmd->errmsg), "%s", rep->msg);
    if (cmd->kind == K_GET) {
        get_done(cmd, s, rep);
        return;
    }
    s->ttl_ms = rep->ttl_ms;
    if (s->err == 0 && keep && rep->has_value) {
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

static void cmd_progress(struct cmd *cmd)
{
    if (cmd->done == cmd->n && !cmd->finished)
        cmd_reply(cmd);
}

static struct cmd *cmd_new(struct rc_resp_server *r, enum kind kind, size_t n, size_t extra)
{
    struct cmd *cmd;

    int pooled = n == 1 && extra <= CMD_POOL_EXTRA;

    if (r->keys_inflight + n > RC_RESP_MAX_KEYS_INFLIGHT)
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

/* SET: a plain one is one PUT; with NX, XX, GET or KEEPTTL it reads
 * first (resp_strings.c, queued behind other such commands on the key). */
int rc_resp_keys_set(struct rc_resp_ctx *x)
{
    struct rc_resp_set_args a;
    struct cmd *cmd;
    int rv = rc_resp_str_set_parse(x, &a);

    if (rv != 0)
        return rv < 0 ? rv : 0; /* answered: a syntax or expire time error */
    if (a.nx || a.xx || a.get || a.keepttl)
        return rc_resp_str_set_run(x, &a);
    cmd = cmd_new(x->r, K_SET, 1, 0);
    if (cmd == NULL)
        return no_cmd(x);
    cmd->value = (uint8_t *)x->argv[2].p; /* used during run_cmd only */
    cmd->value_len = x->argv[2].len;
    cmd->ttl_ms = a.ttl_ms;
    return run_cmd(x->r, x->net, cmd, x->argv, 1, 1, RC_COORD_PUT, x->out);
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
