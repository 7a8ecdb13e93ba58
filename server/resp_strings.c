/*
 * resp_strings.c - the Redis string, expiry and single-key keyspace
 * commands that read before they write (APPEND, SETRANGE, GETSET, GETEX,
 * SETNX, MSETNX, SET GET/KEEPTTL, EXPIRE NX|XX|GT|LT, EXPIREAT, PERSIST,
 * RENAME, COPY, ...) or only read (STRLEN, GETRANGE, TYPE, TOUCH, OBJECT,
 * MEMORY USAGE, EXPIRETIME).
 *
 * The coordinator knows GET, PUT and DEL with last-writer-wins versions,
 * so each command is one plan: GET its keys at the node's read quorum (in
 * parallel), decide from what was read (a per-command function) the reply
 * and the writes, then PUT/DEL at the write quorum. The writes of a plan
 * run in parallel, or one after the other when order matters (RENAME
 * writes the new key before it deletes the old one, so a failure between
 * leaves a copy, never a loss). Single-key plans on one key through one
 * node run one after the other (a per-key queue), so a connection pool's
 * APPENDs or SETNXs through one node behave as in Redis; across nodes
 * nothing is locked: two plans racing through different nodes both read,
 * both write, and the newer version wins (README "Redis compatibility",
 * docs/architecture.md).
 */
#include "resp_int.h"
#include "err.h"
#include "memkv.h"
#include "strcmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Redis's largest string (proto-max-bulk-len, 512 MiB): SETRANGE and
 * APPEND past it get Redis's own error; past ringcache's --max-value-size
 * (smaller) they get ours. */
#define REDIS_MAX_STRING ((int64_t)512 << 20)

/* Buckets of the per-key queues: a node has at most a few thousand
 * single-key plans in flight in practice (1024 per pipelining connection),
 * so chains stay short; more keys only make the walk longer. */
#define LOCK_BUCKETS 4096

enum rkind { REP_OK, REP_INT, REP_NIL, REP_BULK, REP_SIMPLE, REP_ERR };

struct sop {
    struct scmd *cmd;
    int kind;            /* RC_COORD_GET / PUT / DEL */
    const uint8_t *key;  /* into cmd's copy of the arguments */
    size_t key_len;
    const uint8_t *value; /* PUT: borrowed until submitted */
    size_t value_len;
    int64_t ttl_ms;       /* PUT */
    int err;              /* 0, RC_ENOTFOUND or the failure */
    int probe;            /* GET: only existence, length and time left are
                           * needed (TYPE, STRLEN, RENAME's destination...):
                           * a value of up to --max-value-size is not copied */
    uint8_t *got;         /* GET hit: a copy of the value (owned), unless probe */
    size_t got_len;
    uint64_t got_ttl_ms;  /* GET hit: time left, 0 = none */
};

struct scmd;
typedef void (*decide_fn)(struct scmd *c);

struct scmd {
    struct rc_resp_server *r;
    struct rc_net_slot *slot; /* once deferred */
    struct rc_buf *out;       /* while inside the parse hook */
    decide_fn decide;
    int in_handler, busy, finished, reply_rv;
    int proto;                /* the connection's RESP version: nulls differ in 3 */
    int writing, sequential;
    size_t nread, nwrite, next, done;
    int64_t a, b;             /* integer arguments (offsets, times) */
    int flags;
    const uint8_t *val;       /* the value argument (copy) */
    size_t val_len;
    uint8_t *built;           /* a value the plan built (APPEND, SETRANGE), owned */
    enum rkind rk;
    int64_t rint;
    const uint8_t *rbulk;     /* REP_BULK: into a read value or the arguments */
    size_t rbulk_len;
    char rmsg[160];           /* REP_SIMPLE / REP_ERR text */
    char errmsg[96];          /* the coordinator's message with the first failure */
    /* The per-key queue (single-key plans): the holder is in its bucket's
     * chain and heads the FIFO of the plans waiting for the key. */
    int locked;
    uint64_t hash;
    struct scmd *lock_next;            /* holder: next in the bucket */
    struct scmd *wait_head, *wait_tail; /* holder: plans waiting for the key */
    struct scmd *wait_next;            /* waiter: next in the queue or ready list */
    struct sop ops[];         /* nread reads, then the writes */
};

struct str_locks {
    struct scmd *bucket[LOCK_BUCKETS]; /* holders */
    struct scmd *ready, *ready_tail;   /* waiters whose turn came, to start */
    int starting;                      /* start_ready runs: no recursion */
};

static void lock_release(struct scmd *c);

/* ---- the plan engine ------------------------------------------------ */

static void scmd_free(struct scmd *c)
{
    size_t i;

    if (c->locked)
        lock_release(c); /* may start the next plan on the key */
    c->r->keys_inflight -= c->nread;
    for (i = 0; i < c->nread; i++)
        free(c->ops[i].got);
    free(c->built);
    free(c);
}

static int encode(struct scmd *c, struct rc_buf *out)
{
    size_t i;

    for (i = 0; i < c->nread + c->nwrite; i++) {
        const struct sop *o = &c->ops[i];
        char msg[200];

        if (o->err < 0 && o->err != RC_ENOTFOUND) {
            snprintf(msg, sizeof(msg), "%s %s", rc_err_name(o->err),
                     c->errmsg[0] ? c->errmsg : rc_strerror(o->err));
            return rc_resp_error(out, msg);
        }
    }
    switch (c->rk) {
    case REP_OK:
        return rc_resp_simple(out, "OK");
    case REP_INT:
        return rc_resp_integer(out, c->rint);
    case REP_NIL:
        return rc_resp_null(out, c->proto);
    case REP_BULK:
        return rc_resp_bulk(out, c->rbulk ? c->rbulk : (const uint8_t *)"", c->rbulk_len);
    case REP_SIMPLE:
        return rc_resp_simple(out, c->rmsg);
    case REP_ERR:
        return rc_resp_error(out, c->rmsg);
    }
    return RC_EINTERNAL;
}

static void scmd_reply(struct scmd *c)
{
    struct rc_resp_server *r = c->r;
    size_t mark;
    int rv;

    c->finished = 1;
    if (c->in_handler) {
        mark = rc_buf_used(c->out);
        rv = encode(c, c->out);
        c->reply_rv = rv < 0 ? rc_resp_server_reply_failed(r, c->out, mark, rv) : rv;
        return;
    }
    if (c->slot != NULL) {
        rc_buf_reset(&r->reply);
        rv = encode(c, &r->reply);
        if (rv < 0)
            rc_resp_server_reply_failed(r, &r->reply, 0, rv);
        rc_net_complete_bytes(c->slot, rc_buf_rptr(&r->reply), rc_buf_used(&r->reply));
        rc_buf_reset(&r->reply);
        rc_buf_shrink(&r->reply, RC_RESP_REPLY_MIN_CAP);
    }
    scmd_free(c);
}

static void step(struct scmd *c);

static void op_done(void *arg, const struct rc_coord_res *rep)
{
    struct sop *o = arg;
    struct scmd *c = o->cmd;

    o->err = rep->err;
    if (o->err < 0 && o->err != RC_ENOTFOUND && rep->msg != NULL && rep->msg[0] &&
        !c->errmsg[0])
        snprintf(c->errmsg, sizeof(c->errmsg), "%s", rep->msg);
    if (o->kind == RC_COORD_GET && o->err == 0) {
        o->got_len = rep->value_len;
        o->got_ttl_ms = rep->ttl_ms;
    }
    if (o->kind == RC_COORD_GET && o->err == 0 && !o->probe) {
        /* The value is borrowed for this call only. */
        o->got = malloc(rep->value_len ? rep->value_len : 1);
        if (o->got == NULL) {
            o->err = RC_ENOMEM;
        } else {
            memcpy(o->got, rep->value, rep->value_len);
        }
    }
    if (o->kind == RC_COORD_DEL && o->err == RC_ENOTFOUND)
        o->err = 0; /* deleting what is already gone is done */
    c->done++;
    if (!c->busy)
        step(c);
}

static void submit(struct scmd *c, struct sop *o)
{
    struct rc_coord_sink sk = {op_done, op_done, NULL, o};
    struct rc_coord_req req = {.kind = o->kind, .key = o->key, .key_len = o->key_len};

    if (o->kind == RC_COORD_PUT) {
        req.value = o->value ? o->value : (const uint8_t *)"";
        req.value_len = o->value_len;
        req.ttl_ms = o->ttl_ms > 0 ? (uint64_t)o->ttl_ms : 0;
    }
    o->cmd = c;
    rc_coord_run(c->r->co, &req, &sk);
}

static int failed(const struct scmd *c, size_t from, size_t to)
{
    size_t i;

    for (i = from; i < to; i++)
        if (c->ops[i].err < 0 && c->ops[i].err != RC_ENOTFOUND)
            return 1;
    return 0;
}

/* Moves the plan on after each answer: reads all in -> decide -> writes
 * (all at once, or the next one when sequential) -> reply. Answers that
 * arrive while it submits (busy) are counted and picked up by the loop. */
static void step(struct scmd *c)
{
    size_t i;

    c->busy = 1;
    for (;;) {
        if (!c->writing) {
            if (c->done < c->nread)
                break;
            if (failed(c, 0, c->nread))
                goto reply;
            c->decide(c); /* sets the reply and appends the writes */
            c->writing = 1;
            c->done = 0;
            c->next = c->sequential ? 0 : c->nwrite;
            for (i = 0; i < c->next; i++)
                submit(c, &c->ops[c->nread + i]);
            continue;
        }
        if (c->sequential && c->done == c->next && c->next < c->nwrite &&
            !failed(c, c->nread, c->nread + c->next)) {
            submit(c, &c->ops[c->nread + c->next++]);
            continue;
        }
        if (c->done < c->next)
            break;
        goto reply;
    }
    c->busy = 0;
    return;
reply:
    c->busy = 0;
    scmd_reply(c); /* frees c unless the handler still holds it */
}

/* A plan with nread keys (argv[first], argv[first+kstep], ...) and room
 * for max_writes writes; val (may be NULL) is copied too. NULL when over
 * the keys-in-flight budget or out of memory. */
static struct scmd *scmd_new(struct rc_resp_ctx *x, decide_fn decide, size_t nread, size_t first,
                             size_t kstep, size_t max_writes, const struct rc_resp_arg *val)
{
    struct rc_resp_server *r = x->r;
    size_t i, bytes = 0, nops = nread + max_writes;
    struct scmd *c;
    uint8_t *p;

    if (r->keys_inflight + nread > RC_RESP_MAX_KEYS_INFLIGHT)
        return NULL;
    for (i = 0; i < nread; i++)
        bytes += x->argv[first + i * kstep].len;
    bytes += val != NULL ? val->len : 0;
    c = calloc(1, sizeof(*c) + nops * sizeof(struct sop) + bytes + 1);
    if (c == NULL)
        return NULL;
    r->keys_inflight += nread;
    c->r = r;
    c->proto = r->cur_proto;
    c->decide = decide;
    c->nread = nread;
    p = (uint8_t *)&c->ops[nops];
    for (i = 0; i < nread; i++) {
        const struct rc_resp_arg *k = &x->argv[first + i * kstep];

        memcpy(p, k->p, k->len);
        c->ops[i].kind = RC_COORD_GET;
        c->ops[i].key = p;
        c->ops[i].key_len = k->len;
        p += k->len;
    }
    if (val != NULL) {
        memcpy(p, val->p, val->len);
        c->val = p;
        c->val_len = val->len;
    }
    return c;
}

/* ---- per-key queues ------------------------------------------------- */

/* FNV-1a: a cheap spread of keys over the buckets. */
static uint64_t key_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static int same_key(const struct sop *a, const struct sop *b)
{
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* c (one key) takes its key: 1 when it may start now, 0 when it was
 * queued behind the plan holding the key (it starts when that one is
 * freed). Without memory for the table, plans are not queued. */
static int lock_take(struct scmd *c)
{
    struct str_locks *l = c->r->str_locks;
    struct scmd *h, **b;

    if (l == NULL) {
        l = calloc(1, sizeof(*l));
        if (l == NULL)
            return 1;
        c->r->str_locks = l;
    }
    c->hash = key_hash(c->ops[0].key, c->ops[0].key_len);
    b = &l->bucket[c->hash % LOCK_BUCKETS];
    for (h = *b; h != NULL; h = h->lock_next) {
        if (h->hash != c->hash || !same_key(&h->ops[0], &c->ops[0]))
            continue;
        if (h->wait_tail != NULL)
            h->wait_tail->wait_next = c;
        else
            h->wait_head = c;
        h->wait_tail = c;
        return 0;
    }
    c->locked = 1;
    c->lock_next = *b;
    *b = c;
    return 1;
}

static void scmd_start(struct scmd *c);

/* The waiters whose turn came, one after the other: a plan that finishes
 * at once (a local read) hands its key on through this loop, not by
 * recursion. */
static void start_ready(struct str_locks *l)
{
    struct scmd *w;

    l->starting = 1;
    while ((w = l->ready) != NULL) {
        l->ready = w->wait_next;
        if (l->ready == NULL)
            l->ready_tail = NULL;
        w->wait_next = NULL;
        scmd_start(w);
    }
    l->starting = 0;
}

/* c is done with its key: the first waiter becomes the holder (with the
 * rest of the queue) and starts. */
static void lock_release(struct scmd *c)
{
    struct str_locks *l = c->r->str_locks;
    struct scmd **b = &l->bucket[c->hash % LOCK_BUCKETS], *w = c->wait_head;

    while (*b != c)
        b = &(*b)->lock_next;
    *b = c->lock_next;
    c->locked = 0;
    if (w == NULL)
        return;
    w->wait_head = w->wait_next;
    w->wait_tail = w->wait_head != NULL ? c->wait_tail : NULL;
    w->wait_next = NULL;
    w->locked = 1;
    w->lock_next = l->bucket[w->hash % LOCK_BUCKETS];
    l->bucket[w->hash % LOCK_BUCKETS] = w;
    if (l->ready_tail != NULL)
        l->ready_tail->wait_next = w;
    else
        l->ready = w;
    l->ready_tail = w;
    if (!l->starting)
        start_ready(l);
}

void rc_resp_str_close(struct rc_resp_server *r)
{
    free(r->str_locks); /* no plan is left: the coordinator answered all */
    r->str_locks = NULL;
}

/* A queued plan's turn: its reads (its reply goes through its slot). */
static void scmd_start(struct scmd *c)
{
    size_t i;

    c->busy = 1;
    for (i = 0; i < c->nread; i++)
        submit(c, &c->ops[i]);
    c->busy = 0;
    step(c);
}

/* Runs the plan: its reads, or straight to decide when it has none; a
 * single-key plan whose key is busy on this node waits its turn. */
static int scmd_run(struct rc_resp_ctx *x, struct scmd *c)
{
    size_t i;
    int rv;

    c->out = x->out;
    if (c->nread == 1 && !lock_take(c)) {
        c->slot = rc_net_defer(x->net);
        /* Without a slot it still runs in its turn, then frees itself;
         * the connection closes. */
        return c->slot == NULL ? RC_ENOMEM : RC_NET_DONE;
    }
    c->in_handler = 1;
    c->busy = 1;
    for (i = 0; i < c->nread; i++)
        submit(c, &c->ops[i]);
    c->busy = 0;
    step(c);
    c->in_handler = 0;
    if (c->finished) {
        rv = c->reply_rv;
        scmd_free(c);
        return rv < 0 ? rv : RC_NET_DONE;
    }
    c->slot = rc_net_defer(x->net);
    if (c->slot == NULL)
        return RC_ENOMEM; /* the ops still call back and free c; the connection closes */
    return RC_NET_DONE;
}

static int no_cmd(struct rc_resp_ctx *x)
{
    return rc_resp_error(x->out, "BUSY too many keys in flight on this node (or out of "
                                 "memory); retry later");
}

/* A write of the plan (after its reads). */
static void add_write(struct scmd *c, int kind, const struct sop *key, const uint8_t *v,
                      size_t vlen, int64_t ttl_ms)
{
    struct sop *o = &c->ops[c->nread + c->nwrite++];

    o->kind = kind;
    o->key = key->key;
    o->key_len = key->key_len;
    o->value = v;
    o->value_len = vlen;
    o->ttl_ms = ttl_ms;
}

static void put_keep_ttl(struct scmd *c, const struct sop *k, const uint8_t *v, size_t vlen)
{
    add_write(c, RC_COORD_PUT, k, v, vlen, (int64_t)k->got_ttl_ms);
}

static int exists(const struct sop *o)
{
    return o->err == 0;
}

static void reply_int(struct scmd *c, int64_t v)
{
    c->rk = REP_INT;
    c->rint = v;
}

static void reply_bulk(struct scmd *c, const uint8_t *p, size_t len)
{
    c->rk = REP_BULK;
    c->rbulk = p;
    c->rbulk_len = len;
}

static void reply_old(struct scmd *c, const struct sop *o)
{
    if (exists(o))
        reply_bulk(c, o->got, o->got_len);
    else
        c->rk = REP_NIL;
}

static void reply_err(struct scmd *c, const char *msg)
{
    c->rk = REP_ERR;
    snprintf(c->rmsg, sizeof(c->rmsg), "%s", msg);
}

/* ---- arguments -------------------------------------------------------- */

static int err_not_int(struct rc_resp_ctx *x)
{
    return rc_resp_error(x->out, "ERR value is not an integer or out of range");
}

static int err_expire_time(struct rc_resp_ctx *x, const char *name)
{
    return rc_resp_server_errorf(x, "ERR invalid expire time in '%s' command", name);
}

/* A relative TTL argument of SETEX/PSETEX/SET/GETEX in unit (1000: s) as
 * ms, or an absolute one (abs: EXAT/PXAT) as ms left, as Redis checks it:
 * 1 for not a number, 2 for <= 0 or past what a ms clock holds. A past
 * absolute time gives *ms <= 0. */
static int expire_arg(const struct rc_resp_arg *a, int64_t unit, int abs, int64_t *ms)
{
    int64_t v, now = rc_node_now_ms();

    if (rc_resp_int(a, &v) < 0)
        return 1;
    if (v <= 0 || v > INT64_MAX / unit)
        return 2;
    v *= unit;
    if (!abs && v > INT64_MAX - now)
        return 2;
    *ms = abs ? v - now : v;
    return 0;
}

static int64_t max_value(const struct rc_resp_server *r)
{
    return (int64_t)rc_node_opts(r->node)->max_value;
}

/* The length a write would give a value: Redis's limit, then ours. */
static int length_error(const struct rc_resp_server *r, int64_t len, char *msg, size_t cap)
{
    if (len > REDIS_MAX_STRING) {
        snprintf(msg, cap, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        return -1;
    }
    if (len > max_value(r)) {
        snprintf(msg, cap,
                 "ERR string exceeds maximum allowed size (ringcache --max-value-size, %lld "
                 "bytes)",
                 (long long)max_value(r));
        return -1;
    }
    return 0;
}

/* ---- SET with GET / KEEPTTL, SETNX, SETEX, PSETEX, GETSET --------------- */

enum { F_NX = 1, F_XX = 2, F_GET = 4, F_KEEPTTL = 8, F_TTL = 16, F_PERSIST = 32 };


static void decide_set(struct scmd *c)
{
    const struct sop *k = &c->ops[0];
    int had = exists(k), write = !((c->flags & F_NX) && had) && !((c->flags & F_XX) && !had);
    int64_t ttl = (c->flags & F_KEEPTTL) && had ? (int64_t)k->got_ttl_ms : c->a;

    if (write)
        add_write(c, RC_COORD_PUT, k, c->val, c->val_len, ttl);
    if (c->flags & F_GET)
        reply_old(c, k);
    else
        c->rk = write ? REP_OK : REP_NIL;
}

/* Redis's parseExtendedStringArgumentsOrReply: each word against the
 * ones it excludes, the time's number checked only after the words. */
int rc_resp_str_set_parse(struct rc_resp_ctx *x, struct rc_resp_set_args *a)
{
    const struct rc_resp_arg *t = NULL;
    int64_t unit = 1;
    int abs = 0, rv;
    size_t i;

    memset(a, 0, sizeof(*a));
    for (i = 3; i < x->argc; i++) {
        const struct rc_resp_arg *w = &x->argv[i];
        int ex = rc_resp_is(w, "EX"), px = rc_resp_is(w, "PX");
        int exat = rc_resp_is(w, "EXAT"), pxat = rc_resp_is(w, "PXAT");

        if (rc_resp_is(w, "NX") && !a->xx) {
            a->nx = 1;
        } else if (rc_resp_is(w, "XX") && !a->nx) {
            a->xx = 1;
        } else if (rc_resp_is(w, "GET")) {
            a->get = 1;
        } else if (rc_resp_is(w, "KEEPTTL") && t == NULL) {
            a->keepttl = 1;
        } else if ((ex || px || exat || pxat) && t == NULL && !a->keepttl && i + 1 < x->argc) {
            t = &x->argv[++i];
            unit = ex || exat ? 1000 : 1;
            abs = exat || pxat;
        } else {
            rv = rc_resp_error(x->out, "ERR syntax error");
            return rv < 0 ? rv : 1;
        }
    }
    if (t == NULL)
        return 0;
    rv = expire_arg(t, unit, abs, &a->ttl_ms);
    if (rv != 0) {
        rv = rv == 1 ? err_not_int(x) : err_expire_time(x, "set");
        return rv < 0 ? rv : 1;
    }
    if (a->ttl_ms <= 0)
        a->ttl_ms = 1; /* already past: expires at once, as in Redis */
    return 0;
}

int rc_resp_str_set_run(struct rc_resp_ctx *x, const struct rc_resp_set_args *a)
{
    struct scmd *c = scmd_new(x, decide_set, 1, 1, 1, 1, &x->argv[2]);

    if (c == NULL)
        return no_cmd(x);
    c->flags = (a->nx ? F_NX : 0) | (a->xx ? F_XX : 0) | (a->get ? F_GET : 0) |
               (a->keepttl ? F_KEEPTTL : 0);
    c->a = a->ttl_ms;
    return scmd_run(x, c);
}

/* SETNX answers 1/0, not OK/nil: fixed up from decide_set's reply. */
static void decide_setnx(struct scmd *c)
{
    decide_set(c);
    reply_int(c, c->nwrite);
}

int rc_resp_str_setnx(struct rc_resp_ctx *x)
{
    struct scmd *c = scmd_new(x, decide_setnx, 1, 1, 1, 1, &x->argv[2]);

    if (c == NULL)
        return no_cmd(x);
    c->flags = F_NX;
    return scmd_run(x, c);
}

static void decide_plain_set(struct scmd *c)
{
    add_write(c, RC_COORD_PUT, &c->ops[0], c->val, c->val_len, c->a);
    c->rk = REP_OK;
}

/* SETEX key seconds value, PSETEX key ms value: one write, no read. */
int rc_resp_str_setex(struct rc_resp_ctx *x)
{
    int ms = rc_resp_is(&x->argv[0], "PSETEX");
    struct scmd *c;
    int64_t ttl;
    int rv;

    rv = expire_arg(&x->argv[2], ms ? 1 : 1000, 0, &ttl);
    if (rv == 1)
        return err_not_int(x);
    if (rv == 2)
        return err_expire_time(x, ms ? "psetex" : "setex");
    c = scmd_new(x, decide_plain_set, 1, 1, 1, 1, &x->argv[3]);
    if (c == NULL)
        return no_cmd(x);
    /* No read: the key's op becomes the write (add_write on itself). */
    c->nread = 0;
    c->r->keys_inflight -= 1;
    c->a = ttl;
    return scmd_run(x, c);
}

static void decide_getset(struct scmd *c)
{
    add_write(c, RC_COORD_PUT, &c->ops[0], c->val, c->val_len, 0);
    reply_old(c, &c->ops[0]);
}

int rc_resp_str_getset(struct rc_resp_ctx *x)
{
    struct scmd *c = scmd_new(x, decide_getset, 1, 1, 1, 1, &x->argv[2]);

    if (c == NULL)
        return no_cmd(x);
    return scmd_run(x, c);
}

/* ---- GETDEL, GETEX, APPEND, STRLEN, GETRANGE, SETRANGE -------------- */

static void decide_getdel(struct scmd *c)
{
    if (exists(&c->ops[0]))
        add_write(c, RC_COORD_DEL, &c->ops[0], NULL, 0, 0);
    reply_old(c, &c->ops[0]);
}

static void decide_getex(struct scmd *c)
{
    const struct sop *k = &c->ops[0];

    reply_old(c, k);
    if (!exists(k))
        return;
    if (c->b == 1 || c->b == 2) {
        reply_err(c, c->b == 1 ? "ERR value is not an integer or out of range"
                               : "ERR invalid expire time in 'getex' command");
        return;
    }
    if ((c->flags & F_TTL) && c->a <= 0)
        add_write(c, RC_COORD_DEL, k, NULL, 0, 0); /* EXAT/PXAT in the past */
    else if (c->flags & F_TTL)
        add_write(c, RC_COORD_PUT, k, k->got, k->got_len, c->a);
    else if ((c->flags & F_PERSIST) && k->got_ttl_ms > 0)
        add_write(c, RC_COORD_PUT, k, k->got, k->got_len, 0);
}

int rc_resp_str_getex(struct rc_resp_ctx *x)
{
    int flags = 0, bad = 0;
    int64_t ttl = 0;
    struct scmd *c;
    size_t i;

    for (i = 2; i < x->argc; i++) {
        const struct rc_resp_arg *a = &x->argv[i];
        int ex = rc_resp_is(a, "EX"), px = rc_resp_is(a, "PX");
        int exat = rc_resp_is(a, "EXAT"), pxat = rc_resp_is(a, "PXAT");

        if (rc_resp_is(a, "PERSIST") && !(flags & F_TTL)) {
            flags |= F_PERSIST;
        } else if ((ex || px || exat || pxat) && !(flags & (F_TTL | F_PERSIST)) &&
                   i + 1 < x->argc) {
            /* A bad number is reported only if the key exists (decide_getex):
             * Redis checks the syntax, looks the key up, then the number. */
            bad = expire_arg(&x->argv[++i], ex || exat ? 1000 : 1, exat || pxat, &ttl);
            flags |= F_TTL;
        } else {
            return rc_resp_error(x->out, "ERR syntax error");
        }
    }
    c = scmd_new(x, decide_getex, 1, 1, 1, 1, NULL);
    if (c == NULL)
        return no_cmd(x);
    c->flags = flags;
    c->a = ttl;
    c->b = bad;
    return scmd_run(x, c);
}

static void decide_append(struct scmd *c)
{
    struct sop *k = &c->ops[0];
    size_t old = exists(k) ? k->got_len : 0;

    if (length_error(c->r, (int64_t)(old + c->val_len), c->rmsg, sizeof(c->rmsg)) < 0) {
        c->rk = REP_ERR;
        return;
    }
    c->built = malloc(old + c->val_len + 1);
    if (c->built == NULL) {
        reply_err(c, "ERR out of memory");
        return;
    }
    if (old > 0)
        memcpy(c->built, k->got, old);
    memcpy(c->built + old, c->val, c->val_len);
    put_keep_ttl(c, k, c->built, old + c->val_len);
    reply_int(c, (int64_t)(old + c->val_len));
}

static void decide_strlen(struct scmd *c)
{
    reply_int(c, exists(&c->ops[0]) ? (int64_t)c->ops[0].got_len : 0);
}

static void decide_getrange(struct scmd *c)
{
    const struct sop *k = &c->ops[0];
    size_t off, n;

    rc_strcmd_range(exists(k) ? k->got_len : 0, c->a, c->b, &off, &n);
    reply_bulk(c, n > 0 ? k->got + off : NULL, n);
}

static void decide_setrange(struct scmd *c)
{
    struct sop *k = &c->ops[0];
    size_t old = exists(k) ? k->got_len : 0, off = (size_t)c->a, len;

    if (c->val_len == 0) {
        reply_int(c, (int64_t)old); /* nothing to write, as Redis */
        return;
    }
    len = off + c->val_len > old ? off + c->val_len : old;
    c->built = calloc(1, len + 1); /* the gap past the old value is zero bytes */
    if (c->built == NULL) {
        reply_err(c, "ERR out of memory");
        return;
    }
    if (old > 0)
        memcpy(c->built, k->got, old);
    memcpy(c->built + off, c->val, c->val_len);
    put_keep_ttl(c, k, c->built, len);
    reply_int(c, (int64_t)len);
}

static int one_key(struct rc_resp_ctx *x, decide_fn fn, int probe,
                   const struct rc_resp_arg *val, int64_t a, int64_t b)
{
    struct scmd *c = scmd_new(x, fn, 1, 1, 1, 1, val);

    if (c == NULL)
        return no_cmd(x);
    c->ops[0].probe = probe;
    c->a = a;
    c->b = b;
    return scmd_run(x, c);
}

int rc_resp_str_getdel(struct rc_resp_ctx *x)
{
    return one_key(x, decide_getdel, 0, NULL, 0, 0);
}

int rc_resp_str_append(struct rc_resp_ctx *x)
{
    return one_key(x, decide_append, 0, &x->argv[2], 0, 0);
}

int rc_resp_str_strlen(struct rc_resp_ctx *x)
{
    return one_key(x, decide_strlen, 1, NULL, 0, 0);
}

int rc_resp_str_getrange(struct rc_resp_ctx *x)
{
    int64_t start, end;

    if (rc_resp_int(&x->argv[2], &start) < 0 || rc_resp_int(&x->argv[3], &end) < 0)
        return err_not_int(x);
    return one_key(x, decide_getrange, 0, NULL, start, end);
}

int rc_resp_str_setrange(struct rc_resp_ctx *x)
{
    int64_t off;
    char msg[160];

    if (rc_resp_int(&x->argv[2], &off) < 0)
        return err_not_int(x);
    if (off < 0)
        return rc_resp_error(x->out, "ERR offset is out of range");
    if (x->argv[3].len > 0 &&
        length_error(x->r, off > REDIS_MAX_STRING ? off : off + (int64_t)x->argv[3].len, msg,
                     sizeof(msg)) < 0)
        return rc_resp_error(x->out, msg);
    return one_key(x, decide_setrange, 0, &x->argv[3], off, 0);
}

/* ---- expiry ----------------------------------------------------------- */

/* Redis 7's expireGenericCommand after its lookup: the flags against the
 * current expiry, then a time already past deletes the key. */
static void decide_expire(struct scmd *c)
{
    const struct sop *k = &c->ops[0];
    int64_t now = rc_node_now_ms(), when = c->a;
    int64_t cur = k->got_ttl_ms > 0 ? now + (int64_t)k->got_ttl_ms : -1;

    reply_int(c, exists(k) && rc_strcmd_expire_ok(c->flags, cur, when));
    if (!c->rint)
        return;
    if (when <= now)
        add_write(c, RC_COORD_DEL, k, NULL, 0, 0);
    else
        add_write(c, RC_COORD_PUT, k, k->got, k->got_len, when - now);
}

/* EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT key time [NX|XX|GT|LT], checked
 * in Redis's order (options, then the number, then overflow). */
int rc_resp_str_expire(struct rc_resp_ctx *x)
{
    static const char *const names[] = {"expire", "pexpire", "expireat", "pexpireat"};
    int which = 0, flags = 0;
    int64_t when, base;
    struct scmd *c;
    size_t i;

    while (which < 3 && !rc_resp_is(&x->argv[0], names[which]))
        which++;
    for (i = 3; i < x->argc; i++) {
        const struct rc_resp_arg *a = &x->argv[i];

        if (rc_resp_is(a, "NX"))
            flags |= RC_STRCMD_NX;
        else if (rc_resp_is(a, "XX"))
            flags |= RC_STRCMD_XX;
        else if (rc_resp_is(a, "GT"))
            flags |= RC_STRCMD_GT;
        else if (rc_resp_is(a, "LT"))
            flags |= RC_STRCMD_LT;
        else
            return rc_resp_server_errorf(x, "ERR Unsupported option %.*s",
                                         (int)(a->len > 128 ? 128 : a->len), (const char *)a->p);
    }
    if ((flags & RC_STRCMD_NX) && (flags & (RC_STRCMD_XX | RC_STRCMD_GT | RC_STRCMD_LT)))
        return rc_resp_error(x->out, "ERR NX and XX, GT or LT options at the same time are "
                                     "not compatible");
    if ((flags & RC_STRCMD_GT) && (flags & RC_STRCMD_LT))
        return rc_resp_error(x->out, "ERR GT and LT options at the same time are not "
                                     "compatible");
    if (rc_resp_int(&x->argv[2], &when) < 0)
        return err_not_int(x);
    if (which == 0 || which == 2) {
        if (when > INT64_MAX / 1000 || when < INT64_MIN / 1000)
            return err_expire_time(x, names[which]);
        when *= 1000;
    }
    base = which < 2 ? rc_node_now_ms() : 0;
    if (when > INT64_MAX - base)
        return err_expire_time(x, names[which]);
    c = scmd_new(x, decide_expire, 1, 1, 1, 1, NULL);
    if (c == NULL)
        return no_cmd(x);
    c->a = when + base;
    c->flags = flags;
    return scmd_run(x, c);
}

static void decide_expiretime(struct scmd *c)
{
    const struct sop *k = &c->ops[0];
    int64_t at = rc_node_now_ms() + (int64_t)k->got_ttl_ms;

    if (!exists(k))
        reply_int(c, -2);
    else if (k->got_ttl_ms == 0)
        reply_int(c, -1);
    else
        reply_int(c, c->a ? at : (at + 500) / 1000);
}

int rc_resp_str_expiretime(struct rc_resp_ctx *x)
{
    return one_key(x, decide_expiretime, 1, NULL, rc_resp_is(&x->argv[0], "PEXPIRETIME"), 0);
}

static void decide_persist(struct scmd *c)
{
    const struct sop *k = &c->ops[0];

    reply_int(c, exists(k) && k->got_ttl_ms > 0);
    if (c->rint)
        add_write(c, RC_COORD_PUT, k, k->got, k->got_len, 0);
}

int rc_resp_str_persist(struct rc_resp_ctx *x)
{
    return one_key(x, decide_persist, 0, NULL, 0, 0);
}

/* ---- TYPE, TOUCH, OBJECT, MEMORY ------------------------------------- */

static void decide_type(struct scmd *c)
{
    c->rk = REP_SIMPLE;
    snprintf(c->rmsg, sizeof(c->rmsg), "%s", exists(&c->ops[0]) ? "string" : "none");
}

int rc_resp_str_type(struct rc_resp_ctx *x)
{
    return one_key(x, decide_type, 1, NULL, 0, 0);
}

static void decide_touch(struct scmd *c)
{
    size_t i;

    reply_int(c, 0);
    for (i = 0; i < c->nread; i++)
        c->rint += exists(&c->ops[i]);
}

int rc_resp_str_touch(struct rc_resp_ctx *x)
{
    struct scmd *c = scmd_new(x, decide_touch, x->argc - 1, 1, 1, 0, NULL);
    size_t i;

    if (c == NULL)
        return no_cmd(x);
    for (i = 0; i < c->nread; i++)
        c->ops[i].probe = 1;
    return scmd_run(x, c);
}

/* OBJECT ENCODING / REFCOUNT: what Redis would report for a value SET
 * stored. (Redis reports "raw" for any value APPEND or SETRANGE built;
 * ringcache does not remember how a value was made.) */
static void decide_object(struct scmd *c)
{
    const struct sop *k = &c->ops[0];
    const char *enc;
    int64_t refs;

    if (!exists(k)) {
        c->rk = REP_NIL;
        return;
    }
    enc = rc_strcmd_encoding(k->got, k->got_len, &refs);
    if (c->flags == 1)
        reply_bulk(c, (const uint8_t *)enc, strlen(enc));
    else
        reply_int(c, refs);
}

static const char *const object_help[] = {
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Not tracked by ringcache (an error).",
    "IDLETIME <key>",
    "    Not tracked by ringcache (an error).",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
};

static int help_reply(struct rc_resp_ctx *x, const char *const *lines, size_t n)
{
    size_t i;
    int rv = rc_resp_array(x->out, n);

    for (i = 0; rv == 0 && i < n; i++)
        rv = rc_resp_simple(x->out, lines[i]);
    return rv;
}

/* "ERR unknown subcommand 'x'. Try OBJECT HELP." / the arity error of a
 * known one, as Redis 7 words them. */
static int subcommand_error(struct rc_resp_ctx *x, const char *cmd, const char *known)
{
    const struct rc_resp_arg *s = &x->argv[1];

    if (known != NULL)
        return rc_resp_server_errorf(x, "ERR wrong number of arguments for '%s|%s' command",
                                     cmd, known);
    return rc_resp_server_errorf(x, "ERR unknown subcommand '%.*s'. Try %s HELP.",
                                 (int)(s->len > 128 ? 128 : s->len), (const char *)s->p,
                                 rc_resp_is(&x->argv[0], "OBJECT") ? "OBJECT" : "MEMORY");
}

int rc_resp_str_object(struct rc_resp_ctx *x)
{
    static const char *const subs[] = {"help", "encoding", "refcount", "freq", "idletime"};
    const struct rc_resp_arg *s = &x->argv[1];
    struct scmd *c;
    int i = 0;

    while (i < 5 && !rc_resp_is(s, subs[i]))
        i++;
    if (i == 5)
        return subcommand_error(x, "object", NULL);
    if (x->argc != (i == 0 ? 2u : 3u))
        return subcommand_error(x, "object", subs[i]);
    if (i == 0)
        return help_reply(x, object_help, sizeof(object_help) / sizeof(object_help[0]));
    if (i >= 3)
        return rc_resp_server_errorf(x,
                                     "ERR ringcache does not track per-key access %s "
                                     "(OBJECT %s is not supported)",
                                     i == 3 ? "frequency" : "time", i == 3 ? "FREQ" : "IDLETIME");
    c = scmd_new(x, decide_object, 1, 2, 1, 0, NULL);
    if (c == NULL)
        return no_cmd(x);
    c->flags = i; /* 1 ENCODING, 2 REFCOUNT */
    return scmd_run(x, c);
}

static void decide_memory(struct scmd *c)
{
    const struct sop *k = &c->ops[0];

    if (!exists(k))
        c->rk = REP_NIL;
    else
        reply_int(c, (int64_t)rc_memkv_entry_bytes(k->key_len, k->got_len, k->got_ttl_ms > 0));
}

static const char *const memory_help[] = {
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes one copy of <key> and its value takes in a ringcache",
    "    node's in-memory store.",
    "HELP",
    "    Prints this help.",
};

/* MEMORY USAGE key [SAMPLES n] (SAMPLES is checked and has nothing to
 * sample: a string has no nested values), MEMORY HELP. */
int rc_resp_str_memory(struct rc_resp_ctx *x)
{
    int64_t n;
    struct scmd *c;

    if (rc_resp_is(&x->argv[1], "HELP") && x->argc == 2)
        return help_reply(x, memory_help, sizeof(memory_help) / sizeof(memory_help[0]));
    if (!rc_resp_is(&x->argv[1], "USAGE"))
        return subcommand_error(x, "memory",
                                rc_resp_is(&x->argv[1], "HELP") ? "help" : NULL);
    if (x->argc < 3)
        return subcommand_error(x, "memory", "usage");
    if (x->argc != 3 && !(x->argc == 5 && rc_resp_is(&x->argv[3], "SAMPLES")))
        return rc_resp_error(x->out, "ERR syntax error");
    if (x->argc == 5 && rc_resp_int(&x->argv[4], &n) < 0)
        return err_not_int(x);
    c = scmd_new(x, decide_memory, 1, 2, 1, 0, NULL);
    if (c == NULL)
        return no_cmd(x);
    c->ops[0].probe = 1;
    return scmd_run(x, c);
}

/* ---- MSETNX, RENAME, RENAMENX, COPY: several keys --------------------- */

/* Orders reads by key, then by position in the command. */
static int by_key_then_pos(const void *pa, const void *pb)
{
    const struct sop *a = *(const struct sop *const *)pa, *b = *(const struct sop *const *)pb;
    int d = memcmp(a->key, b->key, a->key_len < b->key_len ? a->key_len : b->key_len);

    if (d != 0)
        return d;
    if (a->key_len != b->key_len)
        return a->key_len < b->key_len ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* If no key exists, one PUT per distinct key: a key named twice gets its
 * last value, as in Redis (two parallel PUTs of one key would race). */
static void decide_msetnx(struct scmd *c)
{
    const struct sop **sorted;
    size_t i;

    reply_int(c, 0);
    for (i = 0; i < c->nread; i++)
        if (exists(&c->ops[i]))
            return;
    sorted = malloc(c->nread * sizeof(*sorted));
    if (sorted == NULL) {
        reply_err(c, "ERR out of memory");
        return;
    }
    for (i = 0; i < c->nread; i++)
        sorted[i] = &c->ops[i];
    qsort(sorted, c->nread, sizeof(*sorted), by_key_then_pos);
    for (i = 0; i < c->nread; i++) {
        const struct sop *k = sorted[i];

        if (i + 1 < c->nread && k->key_len == sorted[i + 1]->key_len &&
            memcmp(k->key, sorted[i + 1]->key, k->key_len) == 0)
            continue; /* a later value for the same key follows */
        add_write(c, RC_COORD_PUT, k, k->value, k->value_len, 0);
    }
    free(sorted);
    reply_int(c, 1);
}

/* Copies MSETNX's values (argv[2], argv[4], ...) into one buffer the plan
 * owns, each read op pointing at its key's value. */
static int keep_values(struct scmd *c, const struct rc_resp_arg *argv)
{
    size_t i, bytes = 0;
    uint8_t *p;

    for (i = 0; i < c->nread; i++)
        bytes += argv[2 + 2 * i].len;
    c->built = malloc(bytes + 1);
    if (c->built == NULL)
        return RC_ENOMEM;
    p = c->built;
    for (i = 0; i < c->nread; i++) {
        const struct rc_resp_arg *v = &argv[2 + 2 * i];

        memcpy(p, v->p, v->len);
        c->ops[i].value = p;
        c->ops[i].value_len = v->len;
        c->ops[i].probe = 1; /* only whether the key exists */
        p += v->len;
    }
    return 0;
}

/* MSETNX: every key is read; if none exists, all are written (in
 * parallel, each at the write quorum). */
int rc_resp_str_msetnx(struct rc_resp_ctx *x)
{
    size_t n = (x->argc - 1) / 2;
    struct scmd *c;

    if ((x->argc - 1) % 2 != 0)
        return rc_resp_error(x->out, "ERR wrong number of arguments for 'msetnx' command");
    c = scmd_new(x, decide_msetnx, n, 1, 2, n, NULL);
    if (c == NULL)
        return no_cmd(x);
    if (keep_values(c, x->argv) < 0) {
        scmd_free(c);
        return no_cmd(x);
    }
    return scmd_run(x, c);
}

/* RENAME / RENAMENX (flags 1), COPY (flags 2, REPLACE: 4): read source
 * and destination; write the destination with the source's value and
 * time left, then (RENAME) delete the source. */
static void decide_move(struct scmd *c)
{
    const struct sop *src = &c->ops[0], *dst = &c->ops[1];
    int nx = c->flags & 1, copy = c->flags & 2, replace = c->flags & 4;

    if (!exists(src)) {
        if (copy)
            reply_int(c, 0);
        else
            reply_err(c, "ERR no such key");
        return;
    }
    if (!copy && same_key(src, dst)) {
        if (nx)
            reply_int(c, 0);
        else
            c->rk = REP_OK;
        return;
    }
    if ((nx || (copy && !replace)) && exists(dst)) {
        reply_int(c, 0);
        return;
    }
    add_write(c, RC_COORD_PUT, dst, src->got, src->got_len, (int64_t)src->got_ttl_ms);
    if (!copy)
        add_write(c, RC_COORD_DEL, src, NULL, 0, 0);
    if (copy || nx)
        reply_int(c, 1);
    else
        c->rk = REP_OK;
}

int rc_resp_str_rename(struct rc_resp_ctx *x)
{
    struct scmd *c = scmd_new(x, decide_move, 2, 1, 1, 2, NULL);

    if (c == NULL)
        return no_cmd(x);
    c->flags = rc_resp_is(&x->argv[0], "RENAMENX") ? 1 : 0;
    c->sequential = 1;
    c->ops[1].probe = 1; /* the destination: whether it exists */
    return scmd_run(x, c);
}

/* COPY source destination [DB n] [REPLACE]: ringcache has database 0
 * only (like SELECT). */
int rc_resp_str_copy(struct rc_resp_ctx *x)
{
    int flags = 2;
    int64_t db;
    struct scmd *c;
    size_t i;

    for (i = 3; i < x->argc; i++) {
        if (rc_resp_is(&x->argv[i], "REPLACE")) {
            flags |= 4;
        } else if (rc_resp_is(&x->argv[i], "DB") && i + 1 < x->argc) {
            if (rc_resp_int(&x->argv[++i], &db) < 0 || db < INT32_MIN || db > INT32_MAX)
                return err_not_int(x);
            if (db != 0)
                return rc_resp_error(x->out, "ERR DB index is out of range");
        } else {
            return rc_resp_error(x->out, "ERR syntax error");
        }
    }
    if (x->argv[1].len == x->argv[2].len &&
        memcmp(x->argv[1].p, x->argv[2].p, x->argv[1].len) == 0)
        return rc_resp_error(x->out, "ERR source and destination objects are the same");
    c = scmd_new(x, decide_move, 2, 1, 1, 2, NULL);
    if (c == NULL)
        return no_cmd(x);
    c->flags = flags;
    c->ops[1].probe = 1;
    return scmd_run(x, c);
}

/* ---- data types ringcache does not have ------------------------------- */

int rc_resp_str_no_type(struct rc_resp_ctx *x)
{
    return rc_resp_error(x->out, "ERR ringcache is a key-value cache: lists, hashes, sets, "
                                 "sorted sets and streams are not supported");
}
