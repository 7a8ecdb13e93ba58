/*
 * resp_server.c - Redis-protocol (RESP2/RESP3) front end (see
 * resp_server.h): the net hook and the command table.
 *
 * net.c cuts nothing here: its parse hook hands us the connection's input
 * and we parse one command at a time with common/resp.c, hold it to the
 * pre-AUTH limits and the AUTH gate, check its arity and dispatch it from
 * the table below to its handler: resp_keys.c for the commands on keys
 * (through the coordinator, deferred through net slots), resp_admin.c for
 * the connection and the server, resp_client.c for CLIENT, resp_multi.c
 * for transactions (inside MULTI the hook queues instead of dispatching,
 * and while an EXEC runs it holds the connection's next commands). AUTH
 * itself is answered here.
 */
#include "resp_int.h"
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- replies ------------------------------------------------------- */

int rc_resp_server_errorf(struct rc_resp_ctx *x, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return rc_resp_error(x->out, msg);
}

/* Encoding a reply into out failed (rv): it was larger than the reply cap
 * (opts.max_reply), or memory ran out. What was written of it since mark
 * is dropped and an error takes its place, so the client gets an answer
 * in order and the connection stays usable. Returns the error's encoding
 * result. */
int rc_resp_server_reply_failed(struct rc_resp_server *r, struct rc_buf *out, size_t mark,
                                int rv)
{
    out->len = out->start + mark;
    if (rv != RC_EBUFFER_FULL)
        return rc_resp_error(out, "ERR out of memory encoding the reply");
    r->stats.replies_too_large++;
    return rc_resp_error(out, "ERR reply too large for the connection's buffer");
}

/* ---- command table ------------------------------------------------ */

/* Checks user/password (user NULL: the one-argument AUTH) with
 * common/auth.c on the connection's state in net.c (so --auth-timeout
 * sees it); the third wrong password on a connection closes it. Returns
 * 1 when authenticated, else the result of the error reply appended
 * (RC_NET_CLOSE when the connection must close after it). Without
 * passwords, Redis 7's default user has none: "AUTH default <anything>"
 * succeeds, the one-argument form is refused. */
int rc_resp_server_auth(struct rc_resp_ctx *x, const struct rc_resp_arg *user,
                        const struct rc_resp_arg *pw)
{
    struct rc_auth *a = x->r->opts.auth;
    struct rc_auth_conn *ac = rc_net_current_auth(x->net);
    int close = 0, rv;

    if (a == NULL && user == NULL)
        return rc_resp_error(x->out,
                             "ERR AUTH <password> called without any password configured for "
                             "the default user. Are you sure your configuration is correct?");
    if (a == NULL && rc_resp_is(user, "default"))
        return 1;
    if (a == NULL)
        return rc_resp_error(x->out, "WRONGPASS invalid username-password pair or user is "
                                     "disabled.");
    if (ac == NULL)
        return rc_resp_error(x->out, "ERR AUTH cannot run inside a transaction here");
    if (user != NULL && !rc_resp_is(user, "default")) {
        /* Counted like a wrong password: a user name is no way around the limit. */
        rc_auth_attempt(a, ac, (const uint8_t *)"", 0, &close);
        rv = rc_resp_error(x->out, "WRONGPASS invalid username-password pair or user is "
                                   "disabled.");
        return rv < 0 ? rv : close ? RC_NET_CLOSE : 0;
    }
    if (rc_auth_attempt(a, ac, pw->p, pw->len, &close) == 0)
        return 1;
    rc_log_warn(x->r->log, "resp client id=%llu: wrong password%s",
                (unsigned long long)x->conn->id, close ? ", closing" : "");
    rv = rc_resp_error(x->out, "WRONGPASS invalid username-password pair or user is disabled.");
    return rv < 0 ? rv : close ? RC_NET_CLOSE : 0;
}

/* AUTH password | AUTH default password (Redis 6 form; no other user
 * exists). */
static int do_auth(struct rc_resp_ctx *x)
{
    int rv;

    if (x->argc > 3)
        return rc_resp_error(x->out, "ERR syntax error");
    rv = rc_resp_server_auth(x, x->argc == 3 ? &x->argv[1] : NULL, &x->argv[x->argc - 1]);
    return rv == 1 ? rc_resp_simple(x->out, "OK") : rv;
}

/* One row per command: name, arity, flags, first/last/step key (as
 * COMMAND reports them: Redis 7.0's values, which integration_redis_proto
 * compares; nothing here reads the flags), handler, allowed before AUTH.
 * A new command also needs its docs row: scripts/gen_resp_docs.py. */
static const struct rc_resp_cmd_def commands[] = {
    {"ping", -1, "fast", 0, 0, 0, rc_resp_admin_ping, 1},
    {"echo", 2, "loading stale fast", 0, 0, 0, rc_resp_admin_echo, 0},
    {"get", 2, "readonly fast", 1, 1, 1, rc_resp_keys_get, 0},
    {"set", -3, "write denyoom", 1, 1, 1, rc_resp_keys_set, 0},
    {"del", -2, "write", 1, -1, 1, rc_resp_keys_del, 0},
    {"unlink", -2, "write fast", 1, -1, 1, rc_resp_keys_del, 0},
    {"exists", -2, "readonly fast", 1, -1, 1, rc_resp_keys_exists, 0},
    {"mget", -2, "readonly fast", 1, -1, 1, rc_resp_keys_mget, 0},
    {"mset", -3, "write denyoom", 1, -1, 2, rc_resp_keys_mset, 0},
    {"expire", -3, "write fast", 1, 1, 1, rc_resp_str_expire, 0},
    {"pexpire", -3, "write fast", 1, 1, 1, rc_resp_str_expire, 0},
    {"ttl", 2, "readonly fast", 1, 1, 1, rc_resp_keys_ttl, 0},
    {"pttl", 2, "readonly fast", 1, 1, 1, rc_resp_keys_ttl, 0},
    {"incr", 2, "write denyoom fast", 1, 1, 1, rc_resp_keys_counter, 0},
    {"decr", 2, "write denyoom fast", 1, 1, 1, rc_resp_keys_counter, 0},
    {"incrby", 3, "write denyoom fast", 1, 1, 1, rc_resp_keys_counter, 0},
    {"decrby", 3, "write denyoom fast", 1, 1, 1, rc_resp_keys_counter, 0},
    {"incrbyfloat", 3, "write denyoom fast", 1, 1, 1, rc_resp_keys_counter, 0},
    {"info", -1, "loading stale", 0, 0, 0, rc_resp_admin_info, 0},
    {"dbsize", 1, "readonly fast", 0, 0, 0, rc_resp_keyspace_dbsize, 0},
    {"scan", -2, "readonly", 0, 0, 0, rc_resp_keyspace_scan, 0},
    {"keys", 2, "readonly", 0, 0, 0, rc_resp_keyspace_keys, 0},
    {"randomkey", 1, "readonly", 0, 0, 0, rc_resp_keyspace_randomkey, 0},
    {"flushall", -1, "write", 0, 0, 0, rc_resp_keyspace_flush, 0},
    {"flushdb", -1, "write", 0, 0, 0, rc_resp_keyspace_flush, 0},
    {"command", -1, "loading stale", 0, 0, 0, rc_resp_docs_command, 0},
    {"client", -2, "", 0, 0, 0, rc_resp_admin_client, 0},
    {"config", -2, "", 0, 0, 0, rc_resp_admin_config, 0},
    {"select", 2, "loading stale fast", 0, 0, 0, rc_resp_admin_select, 0},
    {"hello", -1, "noscript loading stale fast no_auth allow_busy", 0, 0, 0, rc_resp_admin_hello,
     1},
    {"auth", -2, "noscript loading stale fast no_auth allow_busy", 0, 0, 0, do_auth, 1},
    {"multi", 1, "noscript loading stale fast allow_busy", 0, 0, 0, rc_resp_multi_multi, 0},
    {"exec", 1, "noscript loading stale skip_slowlog", 0, 0, 0, rc_resp_multi_exec, 0},
    {"discard", 1, "noscript loading stale fast allow_busy", 0, 0, 0, rc_resp_multi_discard, 0},
    {"watch", -2, "noscript loading stale fast allow_busy", 1, -1, 1, rc_resp_multi_watch, 0},
    {"unwatch", 1, "noscript loading stale fast allow_busy", 0, 0, 0, rc_resp_multi_unwatch, 0},
    {"quit", -1, "noscript loading stale fast no_auth allow_busy", 0, 0, 0, rc_resp_admin_quit, 1},
    /* resp_strings.c: read, decide, write (README "Redis compatibility") */
    {"setnx", 3, "write denyoom fast", 1, 1, 1, rc_resp_str_setnx, 0},
    {"setex", 4, "write denyoom", 1, 1, 1, rc_resp_str_setex, 0},
    {"psetex", 4, "write denyoom", 1, 1, 1, rc_resp_str_setex, 0},
    {"getset", 3, "write denyoom fast", 1, 1, 1, rc_resp_str_getset, 0},
    {"getdel", 2, "write fast", 1, 1, 1, rc_resp_str_getdel, 0},
    {"getex", -2, "write fast", 1, 1, 1, rc_resp_str_getex, 0},
    {"append", 3, "write denyoom fast", 1, 1, 1, rc_resp_str_append, 0},
    {"strlen", 2, "readonly fast", 1, 1, 1, rc_resp_str_strlen, 0},
    {"getrange", 4, "readonly", 1, 1, 1, rc_resp_str_getrange, 0},
    {"substr", 4, "readonly", 1, 1, 1, rc_resp_str_getrange, 0},
    {"setrange", 4, "write denyoom", 1, 1, 1, rc_resp_str_setrange, 0},
    {"msetnx", -3, "write denyoom", 1, -1, 2, rc_resp_str_msetnx, 0},
    {"expireat", -3, "write fast", 1, 1, 1, rc_resp_str_expire, 0},
    {"pexpireat", -3, "write fast", 1, 1, 1, rc_resp_str_expire, 0},
    {"expiretime", 2, "readonly fast", 1, 1, 1, rc_resp_str_expiretime, 0},
    {"pexpiretime", 2, "readonly fast", 1, 1, 1, rc_resp_str_expiretime, 0},
    {"persist", 2, "write fast", 1, 1, 1, rc_resp_str_persist, 0},
    {"type", 2, "readonly fast", 1, 1, 1, rc_resp_str_type, 0},
    {"touch", -2, "readonly fast", 1, -1, 1, rc_resp_str_touch, 0},
    {"object", -2, "", 0, 0, 0, rc_resp_str_object, 0},
    {"memory", -2, "", 0, 0, 0, rc_resp_str_memory, 0},
    {"rename", 3, "write", 1, 2, 1, rc_resp_str_rename, 0},
    {"renamenx", 3, "write fast", 1, 2, 1, rc_resp_str_rename, 0},
    {"copy", -3, "write denyoom", 1, 2, 1, rc_resp_str_copy, 0},
    {"time", 1, "loading stale fast", 0, 0, 0, rc_resp_admin_time, 0},
    {"wait", 3, "noscript", 0, 0, 0, rc_resp_admin_wait, 0},
    {"reset", 1, "noscript loading stale fast no_auth allow_busy", 0, 0, 0, rc_resp_admin_reset, 1},
    /* Data types ringcache does not have: one error for all (README). */
    {"lpush", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"rpush", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"lpop", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"rpop", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"llen", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"lrange", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"lindex", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"lrem", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"ltrim", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"blpop", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"brpop", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"hset", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"hsetnx", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"hmset", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"hget", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"hmget", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"hgetall", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"hdel", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"hexists", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"hincrby", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"hkeys", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"hvals", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"hlen", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"sadd", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"srem", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"smembers", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"sismember", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"scard", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"spop", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"zadd", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"zrem", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"zrange", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"zrangebyscore", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"zscore", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"zincrby", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"zcard", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"zrank", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"zpopmin", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"xadd", -1, "write", 1, 1, 1, rc_resp_str_no_type, 0},
    {"xrange", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
    {"xread", -1, "readonly", 0, 0, 0, rc_resp_str_no_type, 0},
    {"xlen", -1, "readonly", 1, 1, 1, rc_resp_str_no_type, 0},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

const struct rc_resp_cmd_def *rc_resp_server_commands(size_t *n)
{
    *n = NCOMMANDS;
    return commands;
}

const struct rc_resp_cmd_def *rc_resp_server_find(const struct rc_resp_arg *name)
{
    size_t i;

    for (i = 0; i < NCOMMANDS; i++)
        if (rc_resp_is(name, commands[i].name))
            return &commands[i];
    return NULL;
}

/* ---- parse hook ---------------------------------------------------- */

/* "-ERR unknown command 'foo', with args beginning with: 'a' 'b' " as
 * Redis words it; control characters become spaces so the error stays on
 * one line. */
static int unknown_command(struct rc_resp_ctx *x)
{
    char msg[512];
    size_t len = 0, i, k;

    len += (size_t)snprintf(msg, sizeof(msg),
                            "ERR unknown command '%.*s', with args beginning with: ",
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

static int arity_ok(const struct rc_resp_cmd_def *d, size_t argc)
{
    return d->arity > 0 ? argc == (size_t)d->arity : argc >= (size_t)-d->arity;
}

/* CLIENT LIST's cmd=: the name, "client|list" for a container command. */
static void set_last_cmd(struct rc_resp_ctx *x, const struct rc_resp_cmd_def *d)
{
    char *p = x->conn->last_cmd;
    size_t cap = sizeof(x->conn->last_cmd), i;
    int n;

    if (x->argc > 1 && (d->fn == rc_resp_admin_client || d->fn == rc_resp_admin_config ||
                        d->fn == rc_resp_docs_command))
        n = snprintf(p, cap, "%s|%.*s", d->name, (int)(x->argv[1].len > 16 ? 16 : x->argv[1].len),
                     (const char *)x->argv[1].p);
    else
        n = snprintf(p, cap, "%s", d->name);
    for (i = 0; n > 0 && i < (size_t)n && i < cap; i++)
        if (p[i] >= 'A' && p[i] <= 'Z')
            p[i] = (char)(p[i] - 'A' + 'a');
        else if (p[i] < '!' || p[i] > '~')
            p[i] = '?';
}

int rc_resp_server_dispatch(struct rc_resp_ctx *x)
{
    const struct rc_resp_cmd_def *d = rc_resp_server_find(&x->argv[0]);

    if (d == NULL)
        return unknown_command(x);
    if (!arity_ok(d, x->argc))
        return rc_resp_server_errorf(x, "ERR wrong number of arguments for '%s' command",
                                     d->name);
    set_last_cmd(x, d);
    return d->fn(x);
}

/* Commands that act on the transaction itself run at once inside MULTI
 * (Redis: EXEC, DISCARD, MULTI, WATCH, QUIT); every other is queued. */
static int runs_in_multi(const struct rc_resp_cmd_def *d)
{
    return d->fn == rc_resp_multi_exec || d->fn == rc_resp_multi_discard ||
           d->fn == rc_resp_multi_multi || d->fn == rc_resp_multi_watch ||
           d->fn == rc_resp_admin_quit || d->fn == rc_resp_admin_reset;
}

/* instantaneous_ops_per_sec: commands counted over windows of a second
 * (Redis samples every 100 ms and averages 16 samples; one window is as
 * informative for a dashboard and needs no timer). */
static void count_command(struct rc_resp_server *r)
{
    int64_t now = rc_node_now_ms();

    r->commands++;
    if (now - (int64_t)r->ops_window_start_ms >= 1000) {
        r->ops_per_sec = r->ops_window_start_ms == 0
                             ? 0
                             : r->ops_window_cmds * 1000 / (uint64_t)(now - (int64_t)r->ops_window_start_ms);
        r->ops_window_start_ms = (uint64_t)now;
        r->ops_window_cmds = 0;
    }
    r->ops_window_cmds++;
}

/* CLIENT REPLY OFF/SKIP: the reply is produced and thrown away, deferred
 * ones through the net's capture. */
static void drop_reply(void *arg, const uint8_t *p, size_t n)
{
    (void)arg;
    (void)p;
    (void)n;
}

/* Runs (or, inside MULTI, queues) one checked command, under CLIENT
 * REPLY's mode. */
static int run_command(struct rc_resp_ctx *x, const struct rc_resp_cmd_def *d, int queue)
{
    struct rc_resp_conn *c = x->conn;
    size_t mark = rc_buf_used(x->out);
    struct rc_net_capture_saved saved;
    int mode = c->reply_mode, rv;

    if (!queue)
        set_last_cmd(x, d);
    /* CLIENT REPLY answers (ON) or not (OFF, SKIP) by itself. */
    if (mode == RC_RESP_REPLY_ON ||
        (!queue && d->fn == rc_resp_admin_client && rc_resp_is(&x->argv[1], "REPLY")))
        return queue ? rc_resp_multi_queue(x, d) : d->fn(x);
    rc_net_capture(x->net, drop_reply, NULL, x->conn, &saved);
    rv = queue ? rc_resp_multi_queue(x, d) : d->fn(x);
    rc_net_capture_end(x->net, &saved);
    if (rv >= 0)
        x->out->len = x->out->start + mark;
    if (mode == RC_RESP_REPLY_SKIP)
        c->reply_mode = RC_RESP_REPLY_ON;
    return rv;
}

static int on_parse(void *arg, struct rc_net *net, void *conn, const uint8_t *in, size_t len,
                    struct rc_buf *out, size_t *used)
{
    struct rc_resp_server *r = arg;
    struct rc_resp_conn *c = conn;
    struct rc_resp_ctx x = {r, net, c, r->argv, 0, out};
    const struct rc_resp_cmd_def *d;
    const char *err = NULL;
    char msg[128];
    int rv, authed;

    if (c->id == 0)
        c->id = rc_net_current_id(net);
    /* An EXEC is running: what follows it waits for its reply. */
    if (c->exec != NULL)
        return RC_NET_HOLD;
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
    count_command(r);
    r->cur_proto = c->proto == 3 ? 3 : 2;
    d = rc_resp_server_find(&x.argv[0]);
    if (!authed && (d == NULL || !d->preauth)) {
        r->opts.auth->rejected++;
        rc_resp_multi_fail(c);
        rv = rc_resp_error(out, "NOAUTH Authentication required.");
    } else if (d == NULL) {
        rc_resp_multi_fail(c); /* inside MULTI: EXEC answers EXECABORT (Redis) */
        rv = unknown_command(&x);
    } else if (!arity_ok(d, x.argc)) {
        rc_resp_multi_fail(c);
        rv = rc_resp_server_errorf(&x, "ERR wrong number of arguments for '%s' command",
                                   d->name);
    } else {
        rv = run_command(&x, d, c->multi != NULL && !runs_in_multi(d));
    }
    return rv < 0 ? rv : (rv == RC_NET_CLOSE ? RC_NET_CLOSE : RC_NET_DONE);
}

static void on_closed(void *arg, void *conn)
{
    (void)arg;
    rc_resp_multi_closed(conn);
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
    h->conn_size = sizeof(struct rc_resp_conn);
    h->refuse = on_refuse;
    h->closed = on_closed;
}

void rc_resp_server_set_keyspace(struct rc_resp_server *r, struct rc_keyspace *ks)
{
    r->ks = ks;
}

void rc_resp_server_set_net(struct rc_resp_server *r, struct rc_net *net)
{
    r->net = net;
}

/* INFO run_id: 40 hex digits, new for each process (Redis draws them from
 * /dev/urandom; the clock and pid are the fallback). */
static void new_run_id(char out[41])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t raw[20];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(raw, 1, sizeof(raw), f) : 0, i;
    uint64_t seed = (uint64_t)rc_node_now_ms() ^ ((uint64_t)getpid() << 32);

    if (f)
        fclose(f);
    for (i = got; i < sizeof(raw); i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        raw[i] = (uint8_t)(seed >> 56);
    }
    for (i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[40] = 0;
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
    rc_buf_init(&r->reply, opts->max_reply > RC_RESP_REPLY_MIN_CAP ? opts->max_reply
                                                                   : RC_RESP_REPLY_MIN_CAP);
    rc_buf_init(&r->tmp, RC_RESP_REPLY_MIN_CAP);
    r->start_ms = rc_node_now_ms();
    new_run_id(r->run_id);
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
    rc_resp_keys_close(r);
    rc_resp_str_close(r);
    free(r->argv);
    free(r->inline_buf);
    rc_buf_close(&r->reply);
    rc_buf_close(&r->tmp);
    free(r);
}
