/*
 * resp_client.c - CLIENT: ID, GETNAME, SETNAME, SETINFO, INFO, LIST,
 * KILL, REPLY, NO-EVICT, NO-TOUCH, as Redis 7.2 answers them.
 *
 * The registry of connections is net.c's own list (rc_net_conns_each):
 * the front end keeps only what Redis shows that net.c does not know
 * (name, library, protocol, last command, transaction) in each
 * connection's rc_resp_conn, so there is no second list to keep in step.
 */
#include "resp_int.h"
#include "err.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Redis's rule for names and library attributes: printable ASCII
 * without blanks, so a CLIENT LIST line splits on spaces. */
static int printable(const struct rc_resp_arg *a)
{
    size_t i;

    for (i = 0; i < a->len; i++)
        if (a->p[i] < '!' || a->p[i] > '~')
            return 0;
    return 1;
}

static int wrong_args(struct rc_resp_ctx *x, const char *sub)
{
    return rc_resp_server_errorf(x, "ERR wrong number of arguments for 'client|%s' command", sub);
}

/* One CLIENT LIST line (Redis 7.2's field order; what ringcache does not
 * have — pub/sub, databases, query buffer accounting — is 0). */
/* Appends one line; 0 or RC_EBUFFER_FULL. */
static int client_line(const struct rc_net_conn_info *ci, struct rc_buf *b)
{
    const struct rc_resp_conn *c = ci->pstate;
    char line[1024], flags[8];
    size_t nf = 0, qn = 0, qbytes = 0;
    int n;

    rc_resp_multi_stats(c, &qn, &qbytes);
    if (c->multi != NULL)
        flags[nf++] = 'x';
    if (c->no_evict)
        flags[nf++] = 'e';
    if (c->no_touch)
        flags[nf++] = 'T';
    if (nf == 0)
        flags[nf++] = 'N';
    flags[nf] = 0;
    n = snprintf(line, sizeof(line),
                 "id=%" PRIu64 " addr=%s laddr=%s fd=%d name=%.*s age=%" PRIu64 " idle=%" PRIu64
                 " flags=%s db=0 sub=0 psub=0 ssub=0 multi=%d qbuf=%zu qbuf-free=0 argv-mem=0 "
                 "multi-mem=%zu rbs=0 rbp=0 obl=%zu oll=%d omem=%zu tot-mem=%zu events=r "
                 "cmd=%s user=default redir=-1 resp=%d lib-name=%s lib-ver=%s\n",
                 ci->id, ci->addr, ci->laddr, ci->fd, (int)c->name_len, c->name, ci->age_s,
                 ci->idle_s, flags, c->multi != NULL ? (int)qn : -1, ci->qbuf, qbytes, ci->obl,
                 ci->nslots, ci->obl, ci->qbuf + ci->obl + qbytes,
                 c->last_cmd[0] ? c->last_cmd : "NULL", c->proto == 3 ? 3 : 2, c->lib_name,
                 c->lib_ver);
    if (n <= 0)
        return 0;
    return rc_buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* CLIENT LIST's filters: TYPE (only normal clients exist) and ID. */
struct list_walk {
    struct rc_buf *b;
    int err; /* the text outgrew its buffer */
    const struct rc_resp_arg *ids;
    size_t nids;
    int none; /* TYPE master/replica/pubsub: no such clients */
};

static int list_one(void *arg, const struct rc_net_conn_info *ci)
{
    struct list_walk *w = arg;
    size_t i;
    int64_t id;

    if (w->none)
        return 1;
    for (i = 0; i < w->nids; i++)
        if (rc_resp_int(&w->ids[i], &id) == 0 && (uint64_t)id == ci->id)
            break;
    if ((w->nids == 0 || i < w->nids) && client_line(ci, w->b) < 0) {
        w->err = 1;
        return 1;
    }
    return 0;
}

static int client_list(struct rc_resp_ctx *x)
{
    struct list_walk w = {&x->r->tmp, 0, NULL, 0, 0};
    const struct rc_resp_arg *a;
    int64_t id;
    size_t i;

    rc_buf_reset(w.b);
    for (i = 2; i < x->argc; i++) {
        a = &x->argv[i];
        if (rc_resp_is(a, "TYPE") && i + 1 < x->argc) {
            a = &x->argv[++i];
            if (!rc_resp_is(a, "normal") && !rc_resp_is(a, "master") &&
                !rc_resp_is(a, "replica") && !rc_resp_is(a, "slave") && !rc_resp_is(a, "pubsub"))
                return rc_resp_server_errorf(x, "ERR Unknown client type '%.*s'",
                                             (int)(a->len > 64 ? 64 : a->len),
                                             (const char *)a->p);
            w.none = !rc_resp_is(a, "normal");
        } else if (rc_resp_is(a, "ID") && i + 1 < x->argc) {
            w.ids = &x->argv[i + 1];
            w.nids = x->argc - i - 1;
            for (; i + 1 < x->argc; i++)
                if (rc_resp_int(&x->argv[i + 1], &id) < 0 || id <= 0)
                    return rc_resp_error(x->out, "ERR Invalid client ID");
        } else {
            return rc_resp_error(x->out, "ERR syntax error");
        }
    }
    rc_net_conns_each(x->net, list_one, &w);
    if (w.err)
        return rc_resp_error(x->out, "ERR CLIENT LIST is larger than the reply buffer: use "
                                     "CLIENT LIST ID or TYPE to narrow it");
    return rc_resp_verbatim(x->out, rc_buf_rptr(w.b), rc_buf_used(w.b), x->r->cur_proto);
}

static int client_info(struct rc_resp_ctx *x)
{
    struct rc_net_conn_info ci;
    struct rc_buf *b = &x->r->tmp;

    if (rc_net_current_info(x->net, &ci) < 0)
        return rc_resp_error(x->out, "ERR CLIENT INFO is not available inside a transaction");
    rc_buf_reset(b);
    if (client_line(&ci, b) < 0)
        return rc_resp_error(x->out, "ERR out of memory");
    return rc_resp_verbatim(x->out, rc_buf_rptr(b), rc_buf_used(b), x->r->cur_proto);
}

/* ---- KILL ----------------------------------------------------------- */

struct kill_filter {
    uint64_t id;                       /* 0: any */
    const struct rc_resp_arg *addr, *laddr; /* NULL: any */
    int skipme;
    uint64_t self;
    uint64_t ids[64];                  /* matched, killed after the walk */
    size_t n, more;
};

static int arg_eq(const struct rc_resp_arg *a, const char *s)
{
    return a->len == strlen(s) && memcmp(a->p, s, a->len) == 0;
}

static int kill_match(void *arg, const struct rc_net_conn_info *ci)
{
    struct kill_filter *f = arg;

    if ((f->id && ci->id != f->id) || (f->addr && !arg_eq(f->addr, ci->addr)) ||
        (f->laddr && !arg_eq(f->laddr, ci->laddr)) || (f->skipme && ci->id == f->self))
        return 0;
    if (f->n < sizeof(f->ids) / sizeof(f->ids[0]))
        f->ids[f->n++] = ci->id;
    else
        f->more = 1;
    return 0;
}

/* Kills what matched; 1 in *self_killed when the caller was among them
 * (closed once its reply is sent). Returns how many. */
static int64_t kill_matched(struct rc_resp_ctx *x, struct kill_filter *f, int *self_killed)
{
    int64_t killed = 0;
    size_t i;
    int rv;

    do {
        f->n = f->more = 0;
        rc_net_conns_each(x->net, kill_match, f);
        for (i = 0; i < f->n; i++) {
            rv = rc_net_kill(x->net, f->ids[i]);
            if (rv == 1) {
                *self_killed = 1;
                f->skipme = 1; /* counted once; not matched again */
            }
            killed += rv >= 0;
        }
    } while (f->more);
    return killed;
}

static int client_kill(struct rc_resp_ctx *x)
{
    struct kill_filter f = {0};
    const struct rc_resp_arg *k, *v;
    int self_killed = 0, rv;
    int64_t n, id;
    size_t i;

    f.skipme = 1;
    f.self = x->conn->id;
    if (x->argc == 3) {
        /* The old form: CLIENT KILL ip:port, +OK or an error. */
        f.addr = &x->argv[2];
        f.skipme = 0;
        n = kill_matched(x, &f, &self_killed);
        if (n == 0)
            return rc_resp_error(x->out, "ERR No such client");
        rv = rc_resp_simple(x->out, "OK");
        return rv < 0 ? rv : self_killed ? RC_NET_CLOSE : 0;
    }
    if (x->argc % 2 != 0)
        return rc_resp_error(x->out, "ERR syntax error");
    for (i = 2; i < x->argc; i += 2) {
        k = &x->argv[i];
        v = &x->argv[i + 1];
        if (rc_resp_is(k, "ID")) {
            if (rc_resp_int(v, &id) < 0 || id <= 0)
                return rc_resp_error(x->out, "ERR client-id should be greater than 0");
            f.id = (uint64_t)id;
        } else if (rc_resp_is(k, "ADDR")) {
            f.addr = v;
        } else if (rc_resp_is(k, "LADDR")) {
            f.laddr = v;
        } else if (rc_resp_is(k, "SKIPME")) {
            if (rc_resp_is(v, "yes"))
                f.skipme = 1;
            else if (rc_resp_is(v, "no"))
                f.skipme = 0;
            else
                return rc_resp_error(x->out, "ERR syntax error");
        } else if (rc_resp_is(k, "USER")) {
            if (!arg_eq(v, "default"))
                return rc_resp_server_errorf(x, "ERR No such user '%.*s'",
                                             (int)(v->len > 64 ? 64 : v->len),
                                             (const char *)v->p);
        } else {
            return rc_resp_error(x->out, "ERR syntax error");
        }
    }
    n = kill_matched(x, &f, &self_killed);
    rv = rc_resp_integer(x->out, n);
    return rv < 0 ? rv : self_killed ? RC_NET_CLOSE : 0;
}

/* ---- the rest ------------------------------------------------------- */

static int client_setname(struct rc_resp_ctx *x, const struct rc_resp_arg *n)
{
    struct rc_resp_conn *c = x->conn;

    if (!printable(n))
        return rc_resp_error(x->out, "ERR Client names cannot contain spaces, newlines or "
                                     "special characters.");
    if (n->len > RC_RESP_NAME_MAX)
        return rc_resp_server_errorf(x, "ERR client name longer than %d bytes",
                                     RC_RESP_NAME_MAX);
    memcpy(c->name, n->p, n->len);
    c->name_len = n->len;
    return 1;
}

int rc_resp_client_setname(struct rc_resp_ctx *x, const struct rc_resp_arg *name)
{
    return client_setname(x, name);
}

/* CLIENT SETINFO LIB-NAME|LIB-VER value (Redis 7.2). */
static int client_setinfo(struct rc_resp_ctx *x)
{
    const struct rc_resp_arg *attr = &x->argv[2], *v = &x->argv[3];
    char *dst;

    if (rc_resp_is(attr, "LIB-NAME"))
        dst = x->conn->lib_name;
    else if (rc_resp_is(attr, "LIB-VER"))
        dst = x->conn->lib_ver;
    else
        return rc_resp_server_errorf(x, "ERR Unrecognized option '%.*s'",
                                     (int)(attr->len > 64 ? 64 : attr->len),
                                     (const char *)attr->p);
    if (!printable(v))
        return rc_resp_server_errorf(x, "ERR %.*s cannot contain spaces, newlines or special "
                                        "characters.",
                                     (int)attr->len, (const char *)attr->p);
    if (v->len >= RC_RESP_LIB_MAX)
        return rc_resp_server_errorf(x, "ERR %.*s longer than %d bytes", (int)attr->len,
                                     (const char *)attr->p, RC_RESP_LIB_MAX - 1);
    memcpy(dst, v->p, v->len);
    dst[v->len] = 0;
    return rc_resp_simple(x->out, "OK");
}

static int on_off(struct rc_resp_ctx *x, int *flag)
{
    if (rc_resp_is(&x->argv[2], "on"))
        *flag = 1;
    else if (rc_resp_is(&x->argv[2], "off"))
        *flag = 0;
    else
        return rc_resp_error(x->out, "ERR syntax error");
    return rc_resp_simple(x->out, "OK");
}

/* CLIENT REPLY ON|OFF|SKIP: OFF and SKIP answer nothing themselves;
 * resp_server.c drops the replies that follow. */
static int client_reply(struct rc_resp_ctx *x)
{
    const struct rc_resp_arg *m = &x->argv[2];

    if (rc_resp_is(m, "ON")) {
        x->conn->reply_mode = RC_RESP_REPLY_ON;
        return rc_resp_simple(x->out, "OK");
    }
    if (rc_resp_is(m, "OFF"))
        x->conn->reply_mode = RC_RESP_REPLY_OFF;
    else if (rc_resp_is(m, "SKIP")) {
        if (x->conn->reply_mode != RC_RESP_REPLY_OFF) /* OFF stays OFF (Redis) */
            x->conn->reply_mode = RC_RESP_REPLY_SKIP;
    }
    else
        return rc_resp_error(x->out, "ERR syntax error");
    return 0;
}

int rc_resp_admin_client(struct rc_resp_ctx *x)
{
    const struct rc_resp_arg *sub = &x->argv[1];
    struct rc_resp_conn *c = x->conn;
    int rv;

    if (rc_resp_is(sub, "ID"))
        return x->argc != 2 ? wrong_args(x, "id") : rc_resp_integer(x->out, (int64_t)c->id);
    if (rc_resp_is(sub, "GETNAME"))
        return x->argc != 2 ? wrong_args(x, "getname")
               : c->name_len ? rc_resp_bulk(x->out, c->name, c->name_len)
                             : rc_resp_null(x->out, x->r->cur_proto);
    if (rc_resp_is(sub, "SETNAME")) {
        if (x->argc != 3)
            return wrong_args(x, "setname");
        rv = client_setname(x, &x->argv[2]);
        return rv == 1 ? rc_resp_simple(x->out, "OK") : rv;
    }
    if (rc_resp_is(sub, "SETINFO"))
        return x->argc != 4 ? wrong_args(x, "setinfo") : client_setinfo(x);
    if (rc_resp_is(sub, "INFO"))
        return x->argc != 2 ? wrong_args(x, "info") : client_info(x);
    if (rc_resp_is(sub, "LIST"))
        return client_list(x);
    if (rc_resp_is(sub, "KILL"))
        return x->argc < 3 ? wrong_args(x, "kill") : client_kill(x);
    if (rc_resp_is(sub, "REPLY"))
        return x->argc != 3 ? wrong_args(x, "reply") : client_reply(x);
    if (rc_resp_is(sub, "NO-EVICT"))
        /* ringcache never evicts clients (Redis's maxmemory-clients):
         * the flag is kept and shown, as it changes nothing here. */
        return x->argc != 3 ? wrong_args(x, "no-evict") : on_off(x, &c->no_evict);
    if (rc_resp_is(sub, "NO-TOUCH")) {
        if (x->argc != 3)
            return wrong_args(x, "no-touch");
        if (rc_resp_is(&x->argv[2], "on"))
            return rc_resp_error(x->out, "ERR CLIENT NO-TOUCH on is not supported: ringcache "
                                         "reads always count for the eviction policy");
        return on_off(x, &c->no_touch);
    }
    return rc_resp_server_errorf(x, "ERR unknown subcommand '%.*s'. Try CLIENT HELP.",
                                 (int)(sub->len > 64 ? 64 : sub->len), (const char *)sub->p);
}
