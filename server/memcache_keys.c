/*
 * memcache_keys.c - the memcached commands on keys, run through the
 * coordinator: get/gets/gat/gats, set/add/replace/append/prepend/cas,
 * delete, incr/decr, touch, and the meta commands mg, ms, md, ma, me.
 *
 * A command becomes a cmd holding one sub per key (several only for a
 * get line). A sub runs one or two coordinator operations: a plain set
 * or delete writes at once; everything conditional (add, replace, cas,
 * append, incr, touch, gat, md with C, ...) reads the key at the read
 * quorum and then writes what the read decided. The two steps are not
 * atomic across coordinators (docs/protocol.md, "memcached front end",
 * has the exact guarantees). Through one node they are serialized per
 * key: a sub that reads then writes locks its key in this front end, and
 * any command on that key from any connection waits behind it (a
 * pipelined "cas k; get k" sees the cas, two incr through one node never
 * lose one). When every sub has answered, the reply is
 * encoded: straight into the connection's output while we are still
 * inside the parse hook, else into the net slot taken for it, so replies
 * leave in request order under pipelining.
 */
#include "memcache_int.h"
#include "err.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keys of commands waiting for the coordinator, all connections together;
 * the same budget as the RESP front end (resp_keys.c) and for the same
 * reason: it bounds what pipelined multi-gets can pin. Over it a command
 * is refused with SERVER_ERROR, not queued. */
#define MAX_KEYS_INFLIGHT (1u << 20)
/* Single-key cmds are pooled instead of malloc/free per request; at most
 * CMD_POOL_MAX (under 2 MiB) are kept. */
#define CMD_POOL_MAX 4096
/* memcached's opaque token limit (meta O flag). */
#define OPAQUE_MAX 32

enum code {
    R_NONE, R_STORED, R_NOT_STORED, R_EXISTS, R_NOT_FOUND, R_DELETED, R_TOUCHED, R_HIT,
    R_MISS, R_NUMBER, R_NONNUMERIC, R_FAIL
};

struct sub {
    struct mc_cmd *cmd;
    struct mc_lock *lock; /* held while it runs, NULL: none */
    struct sub *next_wait; /* in its key's wait queue */
    int phase;         /* 0: the read (or the only write), 1: the write decided from it,
                          2: incr/decr's convergent increment (RC_COORD_INCR) */
    int code;          /* enum code: planned at the decision, final once done */
    int err;           /* R_FAIL: the coordinator's error */
    uint8_t *value;    /* a copy of the value read (several keys, touch, append) */
    size_t value_len;
    uint64_t ttl_ms;   /* remaining, 0 = none */
    uint32_t flags;
    uint64_t cas;      /* of the version read or written, 0 = unknown */
    uint64_t number;   /* incr/decr: the new value */
    size_t key_len;
    uint8_t key[RC_MC_KEY_MAX];
};

struct mc_cmd {
    struct rc_memcache *m;
    struct rc_net_slot *slot; /* once deferred */
    struct rc_buf *out;       /* while inside the parse hook */
    int cmd;                  /* enum rc_mc_cmd */
    int in_handler, busy, replied, reply_rv;
    int noreply;              /* text noreply, meta q */
    /* What the command writes or checks. */
    uint8_t *data;            /* the data block: a copy (malloc) when a read comes first */
    size_t data_len;
    uint32_t flags;
    uint64_t ttl_ms;
    int expire_now;           /* an exptime already past: the write deletes */
    int touch;                /* gat, mg T, ma T: the read rewrites with ttl_ms */
    int has_cas;
    uint64_t cas_in;
    char mode;                /* ms: S E A P R; ma: I or D */
    uint64_t delta, initial;
    int vivify;               /* ma N: create a missing counter */
    uint64_t vivify_ttl_ms;
    /* Meta return flags, in the order asked, and the opaque to echo. */
    char order[RC_MC_MAX_TOKENS];
    size_t norder;
    char opaque[OPAQUE_MAX];
    size_t opaque_len;
    size_t n, done;
    int pooled;
    struct mc_cmd *next_free;
    char errmsg[96];          /* the coordinator's message with the first failure */
    struct sub subs[];
};

static int has_flag(const struct mc_cmd *cmd, char c);
static int sub_run(struct sub *s);
static int needs_lock(const struct mc_cmd *cmd);
static void count_result(struct rc_memcache *m, const struct mc_cmd *cmd);

int rc_mc_line(struct rc_buf *out, const char *line)
{
    int rv = rc_buf_append(out, line, strlen(line));

    return rv < 0 ? rv : rc_buf_append(out, "\r\n", 2);
}

/* ---- flags: one pair of functions between the wire and the coordinator ----
 * The coordinator carries the 32-bit client flags as the value's
 * attributes (rc_coord_req/res.attr, server/store.h); nothing else here
 * touches them. */

static void mc_flags_to_req(struct rc_coord_req *req, uint32_t flags)
{
    req->attr.flags = flags;
}

static uint32_t mc_flags_from_res(const struct rc_coord_res *res)
{
    return res->attr.flags;
}

/* ---- cmds ------------------------------------------------------------- */

static void cmd_free(struct mc_cmd *cmd)
{
    struct rc_memcache *m = cmd->m;
    size_t i;

    m->keys_inflight -= cmd->n;
    for (i = 0; i < cmd->n; i++)
        free(cmd->subs[i].value);
    free(cmd->data);
    if (cmd->pooled && m->nfree_cmds < CMD_POOL_MAX) {
        cmd->next_free = m->free_cmds;
        m->free_cmds = cmd;
        m->nfree_cmds++;
        return;
    }
    free(cmd);
}

static struct mc_cmd *cmd_new(struct rc_memcache *m, size_t n)
{
    struct mc_cmd *cmd;
    int pooled = n == 1;

    if (m->keys_inflight + n > MAX_KEYS_INFLIGHT)
        return NULL;
    if (pooled && m->free_cmds != NULL) {
        cmd = m->free_cmds;
        m->free_cmds = cmd->next_free;
        m->nfree_cmds--;
        memset(cmd, 0, sizeof(*cmd) + sizeof(struct sub));
    } else {
        cmd = calloc(1, sizeof(*cmd) + n * sizeof(struct sub));
    }
    if (cmd == NULL)
        return NULL;
    m->keys_inflight += n;
    cmd->m = m;
    cmd->pooled = pooled;
    cmd->n = n;
    return cmd;
}

/* ---- replies ---------------------------------------------------------- */

/* What a sub's reply shows of the value: a copy it holds, or (the last
 * key of a command, answered inside the coordinator's callback) the
 * coordinator's own bytes, borrowed for the call. */
struct view {
    const uint8_t *value;
    size_t len;
};


static int64_t ttl_s(const struct sub *s)
{
    return s->ttl_ms == 0 ? -1 : (int64_t)((s->ttl_ms + 999) / 1000);
}

/* The meta return flags asked for, in their order (" f0 t-1 kfoo O12"). */
static int meta_flags(struct rc_buf *out, const struct mc_cmd *cmd, const struct sub *s,
                      const struct view *v)
{
    size_t i;
    int rv = 0;

    for (i = 0; rv == 0 && i < cmd->norder; i++) {
        switch (cmd->order[i]) {
        case 'O':
            rv = rc_buf_appendf(out, " O%.*s", (int)cmd->opaque_len, cmd->opaque);
            break;
        case 'k':
            rv = rc_buf_appendf(out, " k%.*s", (int)s->key_len, (const char *)s->key);
            break;
        case 'c':
            if (s->cas)
                rv = rc_buf_appendf(out, " c%" PRIu64, s->cas);
            break;
        case 'f':
            if (s->code == R_HIT)
                rv = rc_buf_appendf(out, " f%" PRIu32, s->flags);
            break;
        case 't':
            if (s->code == R_HIT || s->code == R_NUMBER)
                rv = rc_buf_appendf(out, " t%" PRId64, ttl_s(s));
            break;
        case 's':
            if (s->code == R_HIT)
                rv = rc_buf_appendf(out, " s%zu", v->len);
            break;
        default: /* v, q, T, N, ... take no place in the reply */
            break;
        }
    }
    return rv;
}

static int failure(struct rc_buf *out, const struct mc_cmd *cmd, const struct sub *s)
{
    return rc_buf_appendf(out, "SERVER_ERROR %s %s\r\n", rc_err_name(s->err),
                   cmd->errmsg[0] ? cmd->errmsg : rc_strerror(s->err));
}

/* "VA <len> <flags>\r\n<data>\r\n" or "<code> <flags>\r\n". */
static int meta_reply(struct rc_buf *out, const struct mc_cmd *cmd, const struct sub *s,
                      const struct view *v, const char *code, int with_value)
{
    int rv = with_value ? rc_buf_appendf(out, "VA %zu", v->len) : rc_buf_append(out, code, 2);

    if (rv == 0)
        rv = meta_flags(out, cmd, s, v);
    if (rv == 0)
        rv = rc_buf_append(out, "\r\n", 2);
    if (rv == 0 && with_value)
        rv = rc_buf_append(out, v->value ? v->value : (const uint8_t *)"", v->len);
    if (rv == 0 && with_value)
        rv = rc_buf_append(out, "\r\n", 2);
    return rv;
}

/* Decimal digits of v into the end of buf (24 bytes); returns the start. */
static char *u64_dec(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

/* "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n", formatted by hand:
 * the hot path of every get. */
static int text_get(struct rc_buf *out, const struct mc_cmd *cmd, const struct sub *s,
                    const struct view *v)
{
    char head[RC_MC_KEY_MAX + 80], num[24], *d;
    size_t n = 6;
    int rv;

    if (s->code != R_HIT)
        return 0;
    memcpy(head, "VALUE ", 6);
    memcpy(head + n, s->key, s->key_len);
    n += s->key_len;
    head[n++] = ' ';
    d = u64_dec(s->flags, num + sizeof(num));
    memcpy(head + n, d, (size_t)(num + sizeof(num) - d));
    n += (size_t)(num + sizeof(num) - d);
    head[n++] = ' ';
    d = u64_dec(v->len, num + sizeof(num));
    memcpy(head + n, d, (size_t)(num + sizeof(num) - d));
    n += (size_t)(num + sizeof(num) - d);
    if (cmd->cmd == RC_MC_GETS || cmd->cmd == RC_MC_GATS) {
        head[n++] = ' ';
        d = u64_dec(s->cas, num + sizeof(num));
        memcpy(head + n, d, (size_t)(num + sizeof(num) - d));
        n += (size_t)(num + sizeof(num) - d);
    }
    head[n++] = '\r';
    head[n++] = '\n';
    rv = rc_buf_reserve(out, n + v->len + 2);
    if (rv == 0)
        rv = rc_buf_append(out, head, n);
    if (rv == 0)
        rv = rc_buf_append(out, v->value ? v->value : (const uint8_t *)"", v->len);
    return rv == 0 ? rc_buf_append(out, "\r\n", 2) : rv;
}

static const char *text_code(int code)
{
    switch (code) {
    case R_STORED: return "STORED";
    case R_NOT_STORED: return "NOT_STORED";
    case R_EXISTS: return "EXISTS";
    case R_NOT_FOUND: return "NOT_FOUND";
    case R_DELETED: return "DELETED";
    case R_TOUCHED: return "TOUCHED";
    default: return "SERVER_ERROR internal error";
    }
}

/* A meta reply. q hides what memcached 1.6.18 hides: EN of mg, HD of
 * ms/md, the answer of ma; NS, EX and NF always show. */
static int meta_one(struct rc_buf *out, const struct mc_cmd *cmd, const struct sub *s,
                    const struct view *v)
{
    int q = cmd->noreply;
    struct view nv;

    switch (s->code) {
    case R_HIT:
        if (cmd->cmd == RC_MC_ME)
            return rc_buf_appendf(out, "ME %.*s exp=%" PRId64 " la=0 cas=%" PRIu64
                                " fetch=no cls=1 size=%zu\r\n",
                           (int)s->key_len, (const char *)s->key, ttl_s(s), s->cas,
                           s->key_len + v->len);
        return meta_reply(out, cmd, s, v, "HD", has_flag(cmd, 'v'));
    case R_MISS:
        if (cmd->cmd == RC_MC_ME)
            return rc_buf_append(out, "EN\r\n", 4);
        return q ? 0 : meta_reply(out, cmd, s, v, "EN", 0);
    case R_NUMBER:
        nv.len = s->value_len;
        nv.value = s->value;
        return q ? 0 : meta_reply(out, cmd, s, &nv, "HD", has_flag(cmd, 'v'));
    case R_STORED:
    case R_DELETED:
    case R_TOUCHED:
        return q ? 0 : meta_reply(out, cmd, s, v, "HD", 0);
    case R_NOT_STORED:
        return meta_reply(out, cmd, s, v, "NS", 0);
    case R_EXISTS:
        return meta_reply(out, cmd, s, v, "EX", 0);
    case R_NOT_FOUND:
        return meta_reply(out, cmd, s, v, "NF", 0);
    }
    return RC_EINTERNAL;
}

/* One sub's reply (its key's part of a get). */
static int encode_sub(struct rc_buf *out, const struct mc_cmd *cmd, const struct sub *s,
                      const struct view *v)
{
    if (s->code == R_FAIL)
        return failure(out, cmd, s);
    if (s->code == R_NONNUMERIC)
        return cmd->noreply && cmd->cmd < RC_MC_MG
                   ? 0 /* memcached's noreply hides this error too */
                   : rc_mc_line(out, "CLIENT_ERROR cannot increment or decrement non-numeric "
                                     "value");
    if (cmd->cmd >= RC_MC_MG)
        return meta_one(out, cmd, s, v);
    if (cmd->cmd <= RC_MC_GATS)
        return text_get(out, cmd, s, v);
    if (cmd->noreply)
        return 0;
    if (s->code == R_NUMBER)
        return rc_buf_appendf(out, "%" PRIu64 "\r\n", s->number);
    return rc_mc_line(out, text_code(s->code));
}

/* The whole reply; last (may be NULL) is the view of the sub answered
 * in the current callback. */
static int encode(struct rc_buf *out, struct mc_cmd *cmd, const struct sub *last,
                  const struct view *lastv)
{
    size_t i;
    int rv = 0;

    for (i = 0; i < cmd->n; i++)
        if (cmd->subs[i].code == R_FAIL)
            return failure(out, cmd, &cmd->subs[i]);
    for (i = 0; rv == 0 && i < cmd->n; i++) {
        const struct sub *s = &cmd->subs[i];
        struct view v = {s->value, s->value_len};

        rv = encode_sub(out, cmd, s, s == last && lastv != NULL ? lastv : &v);
    }
    if (rv == 0 && cmd->cmd <= RC_MC_GATS)
        rv = rc_buf_append(out, "END\r\n", 5);
    return rv;
}

/* Encodes the reply into the connection (inside the hook) or its slot. */
static void cmd_reply(struct mc_cmd *cmd, const struct sub *last, const struct view *lastv)
{
    struct rc_buf *out;
    size_t mark = 0;
    int rv;

    cmd->replied = 1;
    count_result(cmd->m, cmd);
    if (cmd->in_handler) {
        out = cmd->out;
        mark = rc_buf_used(out);
    } else {
        /* No slot: it could not be taken (out of memory), the connection
         * closed; the client is gone either way. */
        out = cmd->slot ? rc_net_slot_begin(cmd->slot) : NULL;
        if (out == NULL)
            return;
    }
    rv = encode(out, cmd, last, lastv);
    if (rv == 0 && rc_buf_used(out) - mark > cmd->m->opts.max_reply)
        rv = RC_EBUFFER_FULL;
    if (rv < 0) {
        /* No get cut off halfway: memcached's error instead. */
        out->len = out->start + mark;
        if (rv == RC_EBUFFER_FULL)
            cmd->m->n.replies_too_large++;
        rv = rc_mc_line(out, "SERVER_ERROR out of memory writing get response");
    }
    if (cmd->in_handler)
        cmd->reply_rv = rv;
    else
        rc_net_slot_end(cmd->slot, rv);
}

/* A sub finished: the last one replies, and frees the cmd unless the
 * parse hook still holds it (rc_mc_keys_run frees it then); then its key
 * lock passes on. A sub's callback returns right after it submitted a
 * write, and the lock is released after the cmd is done with (a waiter
 * may be a sub of the same cmd, which then finishes it), so no frame up
 * the stack touches the cmd once it is freed. */
static void lock_release(struct rc_memcache *m, struct mc_lock *lk);

static void sub_finished(struct sub *s, const struct view *v)
{
    struct mc_cmd *cmd = s->cmd;
    struct rc_memcache *m = cmd->m;
    struct mc_lock *lk = s->lock;

    s->lock = NULL;
    if (++cmd->done == cmd->n) {
        cmd_reply(cmd, s, v);
        if (!cmd->in_handler)
            cmd_free(cmd);
    }
    if (lk != NULL)
        lock_release(m, lk);
}

/* ---- the coordinator ----------------------------------------------------- */

static void sub_done(void *arg, const struct rc_coord_res *res);

static void submit(struct sub *s, int kind, const uint8_t *val, size_t vlen, uint64_t ttl_ms,
                   uint32_t flags)
{
    struct rc_coord_sink sk = {sub_done, sub_done, NULL, s};
    struct rc_coord_req req = {.kind = kind, .key = s->key, .key_len = s->key_len};

    if (kind == RC_COORD_PUT) {
        req.value = val ? val : (const uint8_t *)"";
        req.value_len = vlen;
        req.ttl_ms = ttl_ms;
        mc_flags_to_req(&req, flags);
    }
    rc_coord_run(s->cmd->m->co, &req, &sk);
}

/* The write a sub's decision calls for (phase 1), with the sub's flags;
 * an exptime already past deletes instead, as memcached's item would be
 * gone at once. The caller returns right after: the answer may come
 * before this returns and free the cmd. */
static void sub_write(struct sub *s, int code, const uint8_t *val, size_t vlen, uint64_t ttl_ms,
                      int expire_now)
{
    s->phase = 1;
    s->code = code;
    if (expire_now)
        submit(s, RC_COORD_DEL, NULL, 0, 0, 0);
    else
        submit(s, RC_COORD_PUT, val, vlen, ttl_ms, s->flags);
}

static int has_flag(const struct mc_cmd *cmd, char c)
{
    return memchr(cmd->order, c, cmd->norder) != NULL;
}

/* Keeps a copy of the value read (the reply of a multi-key get, or the
 * rewrite of a touch or append needs it after the callback). */
static int keep_value(struct sub *s, const struct rc_coord_res *res)
{
    s->value = malloc(res->value_len ? res->value_len : 1);
    if (s->value == NULL)
        return RC_ENOMEM;
    memcpy(s->value, res->value, res->value_len);
    s->value_len = res->value_len;
    return 0;
}

/*
 * incr/decr and ma: the counter operation. For now a read and a
 * last-writer-wins write of the result: two increments racing through
 * different coordinators may lose one. The convergent counters
 * (RC_COORD_INCR, docs/architecture.md "Counters") are to replace it,
 * with memcached's wrap-around and decr's floor at 0 on top.
 */
/*
 * incr/decr on a value that exists, holds a number up to 2^63-1 and is
 * neither checked (cas) nor touched: the cluster's convergent counter
 * (RC_COORD_INCR; docs/architecture.md "Counters"), so increments through
 * different nodes are never lost. decr's floor at 0 is applied to the
 * value read (it subtracts at most that much); two decrements racing
 * through different nodes may still take the sum below 0, which reads as
 * 0 (the sum is kept, so later increments count from it). 1 when the
 * increment was started, 0 when the command keeps memcached's own
 * read-then-write (wrap-around past 2^64, a value above 2^63-1, cas,
 * touch, a missing key).
 */
static int mc_counter_converge(struct sub *s, const struct rc_coord_res *res)
{
    struct mc_cmd *cmd = s->cmd;
    struct rc_coord_sink sk = {sub_done, sub_done, NULL, s};
    struct rc_coord_req req = {.kind = RC_COORD_INCR, .key = s->key, .key_len = s->key_len};
    int incr = cmd->mode != 'D';
    uint64_t cur;

    if (res->err != 0 || cmd->has_cas || cmd->touch ||
        rc_mc_arith(res->value, res->value_len, 1, 0, &cur) < 0 || cur > (uint64_t)INT64_MAX)
        return 0;
    if (incr && cmd->delta > (uint64_t)INT64_MAX - cur)
        return 0; /* wraps at 2^64: memcached's arithmetic, below */
    req.delta = incr ? (int64_t)cmd->delta : -(int64_t)(cmd->delta < cur ? cmd->delta : cur);
    s->flags = mc_flags_from_res(res);
    s->phase = 2;
    s->code = R_NUMBER;
    rc_coord_run(cmd->m->co, &req, &sk);
    return 1;
}

/* The increment's answer: the new total as text. */
static void mc_counter_done(struct sub *s, const struct rc_coord_res *res)
{
    int64_t total = 0;
    char num[24];
    size_t n = res->value_len < sizeof(num) - 1 ? res->value_len : sizeof(num) - 1;

    if (res->value != NULL)
        memcpy(num, res->value, n);
    num[n] = '\0';
    if (res->err != 0 || n == 0 || sscanf(num, "%" SCNd64, &total) != 1) {
        s->code = R_NONNUMERIC; /* the value was made non-numeric meanwhile */
        sub_finished(s, NULL);
        return;
    }
    s->number = total > 0 ? (uint64_t)total : 0;
    if (res->has_version)
        s->cas = rc_mc_cas(res->ver.hlc, res->ver.node);
    /* ma v returns the value: the number as stored (no padding). */
    n = (size_t)snprintf(num, sizeof(num), "%" PRIu64, s->number);
    free(s->value);
    s->value = malloc(n);
    if (s->value == NULL) {
        s->value_len = 0;
        s->code = R_FAIL;
        s->err = RC_ENOMEM;
        sub_finished(s, NULL);
        return;
    }
    memcpy(s->value, num, n);
    s->value_len = n;
    sub_finished(s, NULL);
}

static void mc_counter_apply(struct sub *s, const struct rc_coord_res *res)
{
    struct mc_cmd *cmd = s->cmd;
    char num[24];
    size_t len;
    int incr = cmd->mode != 'D';
    uint64_t ttl = cmd->touch ? cmd->ttl_ms : res->ttl_ms;

    if (mc_counter_converge(s, res))
        return;

    if (res->err == RC_ENOTFOUND) {
        if (!cmd->vivify) {
            s->code = R_NOT_FOUND;
            sub_finished(s, NULL);
            return;
        }
        s->number = cmd->initial;
        ttl = cmd->vivify_ttl_ms;
    } else if (cmd->has_cas && rc_mc_cas(res->ver.hlc, res->ver.node) != cmd->cas_in) {
        s->code = R_EXISTS;
        sub_finished(s, NULL);
        return;
    } else if (rc_mc_arith(res->value, res->value_len, incr, cmd->delta, &s->number) < 0) {
        s->code = R_NONNUMERIC;
        sub_finished(s, NULL);
        return;
    }
    s->ttl_ms = ttl;
    s->flags = res->err == 0 ? mc_flags_from_res(res) : 0;
    len = (size_t)snprintf(num, sizeof(num), "%" PRIu64, s->number);
    /* memcached's incr/decr rewrite a shorter number in place, padded
     * with spaces to the old length (its ma does so only when nobody else
     * holds the item: not reproduced, ma stores the bare number). */
    s->value_len = res->err == 0 && res->value_len > len && cmd->cmd < RC_MC_MG
                       ? res->value_len : len;
    s->value = malloc(s->value_len);
    if (s->value == NULL) {
        s->code = R_FAIL;
        s->err = RC_ENOMEM;
        sub_finished(s, NULL);
        return;
    }
    memset(s->value, ' ', s->value_len);
    memcpy(s->value, num, len);
    sub_write(s, R_NUMBER, s->value, s->value_len, ttl, 0);
}

/* append/prepend: the stored value with the block added, its flags and
 * expiry kept (memcached ignores those given with the command). */
static void concat_write(struct sub *s, const struct rc_coord_res *res, int append)
{
    struct mc_cmd *cmd = s->cmd;
    size_t len = res->value_len + cmd->data_len;
    uint8_t *v;

    if (len > cmd->m->opts.max_value) {
        s->code = R_NOT_STORED; /* memcached: the item could not grow */
        sub_finished(s, NULL);
        return;
    }
    v = malloc(len ? len : 1);
    if (v == NULL) {
        s->code = R_FAIL;
        s->err = RC_ENOMEM;
        sub_finished(s, NULL);
        return;
    }
    memcpy(v + (append ? 0 : cmd->data_len), res->value, res->value_len);
    memcpy(v + (append ? res->value_len : 0), cmd->data, cmd->data_len);
    s->value = v; /* freed with the cmd */
    s->value_len = len;
    s->flags = mc_flags_from_res(res);
    sub_write(s, R_STORED, v, len, res->ttl_ms, 0);
}

/* The storage commands once the read answered (res: hit or NOTFOUND). */
static void store_decide(struct sub *s, const struct rc_coord_res *res)
{
    struct mc_cmd *cmd = s->cmd;
    int hit = res->err == 0;
    char mode = cmd->mode;

    if ((mode == 'E' && hit) || ((mode == 'R' || mode == 'A' || mode == 'P') && !hit)) {
        s->code = R_NOT_STORED;
    } else if (cmd->has_cas && !hit) {
        s->code = R_NOT_FOUND;
    } else if (cmd->has_cas && rc_mc_cas(res->ver.hlc, res->ver.node) != cmd->cas_in) {
        s->code = R_EXISTS;
    } else if (mode == 'A' || mode == 'P') {
        concat_write(s, res, mode == 'A');
        return;
    } else {
        s->flags = cmd->flags;
        sub_write(s, R_STORED, cmd->data, cmd->data_len, cmd->ttl_ms, cmd->expire_now);
        return;
    }
    sub_finished(s, NULL);
}

/* The get family, mg, me, touch: the read answered. */
static void read_decide(struct sub *s, const struct rc_coord_res *res)
{
    struct mc_cmd *cmd = s->cmd;
    struct view v = {res->value, res->value_len};

    if (res->err == RC_ENOTFOUND) {
        s->code = cmd->cmd == RC_MC_TOUCH ? R_NOT_FOUND : R_MISS;
        sub_finished(s, NULL);
        return;
    }
    s->flags = mc_flags_from_res(res);
    s->ttl_ms = res->ttl_ms;
    s->cas = res->has_version ? rc_mc_cas(res->ver.hlc, res->ver.node) : 0;
    if (!cmd->touch && cmd->n == 1) {
        s->code = R_HIT;
        sub_finished(s, &v); /* answered from the coordinator's bytes */
        return;
    }
    if (keep_value(s, res) < 0) {
        s->code = R_FAIL;
        s->err = RC_ENOMEM;
        sub_finished(s, NULL);
        return;
    }
    if (!cmd->touch) {
        s->code = R_HIT;
        sub_finished(s, NULL);
        return;
    }
    s->ttl_ms = cmd->ttl_ms;
    sub_write(s, cmd->cmd == RC_MC_TOUCH ? R_TOUCHED : R_HIT, s->value, s->value_len,
              cmd->ttl_ms, cmd->expire_now);
}

static void sub_done(void *arg, const struct rc_coord_res *res)
{
    struct sub *s = arg;
    struct mc_cmd *cmd = s->cmd;

    if (res->err < 0 && res->err != RC_ENOTFOUND) {
        if (res->msg != NULL && res->msg[0] && !cmd->errmsg[0])
            snprintf(cmd->errmsg, sizeof(cmd->errmsg), "%s", res->msg);
        s->code = R_FAIL;
        s->err = res->err;
        sub_finished(s, NULL);
        return;
    }
    if (s->phase == 2) {
        mc_counter_done(s, res);
        return;
    }
    if (s->phase == 1) {
        /* The write answered: the code decided before it stands (a DEL
         * of a key gone meanwhile is still the delete asked for). */
        if (res->has_version && !cmd->expire_now)
            s->cas = rc_mc_cas(res->ver.hlc, res->ver.node);
        if (cmd->cmd == RC_MC_DELETE || (cmd->cmd == RC_MC_MD && !cmd->has_cas))
            s->code = res->err == RC_ENOTFOUND ? R_NOT_FOUND : R_DELETED;
        sub_finished(s, NULL);
        return;
    }
    switch (cmd->cmd) {
    case RC_MC_INCR:
    case RC_MC_DECR:
    case RC_MC_MA:
        mc_counter_apply(s, res);
        return;
    case RC_MC_MD: /* with C: the read decides the delete */
        if (res->err == RC_ENOTFOUND)
            s->code = R_NOT_FOUND;
        else if (rc_mc_cas(res->ver.hlc, res->ver.node) != cmd->cas_in)
            s->code = R_EXISTS;
        else {
            sub_write(s, R_DELETED, NULL, 0, 0, 1);
            return;
        }
        sub_finished(s, NULL);
        return;
    case RC_MC_SET: case RC_MC_ADD: case RC_MC_REPLACE: case RC_MC_APPEND:
    case RC_MC_PREPEND: case RC_MC_CAS: case RC_MC_MS:
        store_decide(s, res);
        return;
    default:
        read_decide(s, res);
    }
}

/* A sub's first operation: a plain set or delete writes at once, the
 * rest reads first. */
static void sub_start(struct sub *s)
{
    struct mc_cmd *cmd = s->cmd;

    if ((cmd->cmd == RC_MC_SET || cmd->cmd == RC_MC_MS) && cmd->mode == 'S' && !cmd->has_cas) {
        s->flags = cmd->flags;
        sub_write(s, R_STORED, cmd->data, cmd->data_len, cmd->ttl_ms, cmd->expire_now);
        return;
    }
    if (cmd->cmd == RC_MC_DELETE || (cmd->cmd == RC_MC_MD && !cmd->has_cas)) {
        sub_write(s, R_DELETED, NULL, 0, 0, 1);
        return;
    }
    submit(s, RC_COORD_GET, NULL, 0, 0, 0);
}

/* ---- commands ------------------------------------------------------------ */

static int meta_error(struct mc_ctx *x, const char *line)
{
    x->m->n.errors++;
    return rc_mc_line(x->out, line);
}

/* The meta flags a command takes here (allowed) and those memcached
 * 1.6 knows for it (known): a known one not allowed is refused as not
 * supported (README lists them), any other as memcached does. */
static void meta_flagsets(int cmd, const char **allowed, const char **known)
{
    switch (cmd) {
    case RC_MC_MG: *allowed = "vtcfkqOTs"; *known = "bcfhklOqstuvENRT"; break;
    case RC_MC_MS: *allowed = "qOkcCTFM"; *known = "bcCEFIkOqsSTMN"; break;
    case RC_MC_MD: *allowed = "qOkC"; *known = "bCEIkOqTx"; break;
    case RC_MC_MA: *allowed = "qOkNJDTMvtcC"; *known = "bCENJDTMOqtcvk"; break;
    default: *allowed = *known = ""; break;
    }
}

/* The meta flags into the cmd; NULL or the error line. */
static const char *meta_setup(struct mc_cmd *cmd, const struct rc_mc_req *req, int64_t now_s)
{
    const struct rc_mc_meta *mt = &req->meta;
    const char *allowed, *known;
    const struct rc_mc_tok *a;
    uint64_t u;
    int64_t t;
    size_t i;

    meta_flagsets(req->cmd, &allowed, &known);
    for (i = 0; i < mt->n; i++)
        if (strchr(allowed, mt->order[i]) == NULL)
            return strchr(known, mt->order[i]) != NULL
                       ? "CLIENT_ERROR flag not supported by ringcache for this command"
                       : "CLIENT_ERROR invalid flag";
    memcpy(cmd->order, mt->order, mt->n);
    cmd->norder = mt->n;
    if (rc_mc_has(mt, 'O')) {
        a = &mt->arg[rc_mc_flag_index('O')];
        if (a->len > OPAQUE_MAX)
            return "CLIENT_ERROR opaque token too long";
        memcpy(cmd->opaque, a->p, a->len);
        cmd->opaque_len = a->len;
    }
    if (rc_mc_has(mt, 'T')) {
        if (rc_mc_flag_i64(mt, 'T', &t) < 0)
            return "CLIENT_ERROR bad token in command line format";
        cmd->expire_now = rc_mc_exptime(t, now_s, &cmd->ttl_ms);
        cmd->touch = 1;
    }
    if (rc_mc_has(mt, 'F')) {
        if (rc_mc_flag_u64(mt, 'F', &u) < 0 || u > UINT32_MAX)
            return "CLIENT_ERROR bad token in command line format";
        cmd->flags = (uint32_t)u;
    }
    if (rc_mc_has(mt, 'C')) {
        if (rc_mc_flag_u64(mt, 'C', &cmd->cas_in) < 0)
            return "CLIENT_ERROR bad token in command line format";
        cmd->has_cas = 1;
    }
    if (rc_mc_has(mt, 'N')) {
        if (rc_mc_flag_i64(mt, 'N', &t) < 0)
            return "CLIENT_ERROR bad token in command line format";
        rc_mc_exptime(t, now_s, &cmd->vivify_ttl_ms);
        cmd->vivify = 1;
    }
    if (rc_mc_has(mt, 'J') && rc_mc_flag_u64(mt, 'J', &cmd->initial) < 0)
        return "CLIENT_ERROR invalid numeric initial value";
    cmd->delta = 1;
    if (rc_mc_has(mt, 'D') && rc_mc_flag_u64(mt, 'D', &cmd->delta) < 0)
        return "CLIENT_ERROR invalid numeric delta argument";
    cmd->mode = req->cmd == RC_MC_MA ? 'I' : 'S';
    if (rc_mc_has(mt, 'M')) {
        a = &mt->arg[rc_mc_flag_index('M')];
        if (a->len != 1)
            return req->cmd == RC_MC_MA ? "CLIENT_ERROR invalid mode for ma M token"
                                        : "CLIENT_ERROR invalid mode for ms M token";
        cmd->mode = (char)(a->p[0] >= 'a' && a->p[0] <= 'z' ? a->p[0] - 32 : a->p[0]);
        if (req->cmd == RC_MC_MA && cmd->mode == '+')
            cmd->mode = 'I';
        if (req->cmd == RC_MC_MA && cmd->mode == '-')
            cmd->mode = 'D';
        if (req->cmd == RC_MC_MA ? strchr("ID", cmd->mode) == NULL
                                 : strchr("SEAPR", cmd->mode) == NULL)
            return req->cmd == RC_MC_MA ? "CLIENT_ERROR invalid mode for ma M token"
                                        : "CLIENT_ERROR invalid mode for ms M token";
    }
    return NULL;
}

/* The text commands' settings into the cmd. */
static void text_setup(struct mc_cmd *cmd, const struct rc_mc_req *req, int64_t now_s)
{
    static const char modes[] = {[RC_MC_SET] = 'S', [RC_MC_ADD] = 'E', [RC_MC_REPLACE] = 'R',
                                 [RC_MC_APPEND] = 'A', [RC_MC_PREPEND] = 'P', [RC_MC_CAS] = 'S'};

    cmd->noreply = req->noreply;
    cmd->flags = req->flags;
    if (req->cmd >= RC_MC_SET && req->cmd <= RC_MC_CAS)
        cmd->mode = modes[req->cmd];
    cmd->has_cas = req->cmd == RC_MC_CAS;
    cmd->cas_in = req->cas;
    cmd->delta = req->delta;
    cmd->mode = req->cmd == RC_MC_INCR ? 'I' : req->cmd == RC_MC_DECR ? 'D' : cmd->mode;
    if (req->cmd == RC_MC_GAT || req->cmd == RC_MC_GATS || req->cmd == RC_MC_TOUCH)
        cmd->touch = 1;
    if (req->cmd != RC_MC_INCR && req->cmd != RC_MC_DECR)
        cmd->expire_now = rc_mc_exptime(req->exptime, now_s, &cmd->ttl_ms);
}

static void count(struct rc_memcache *m, const struct rc_mc_req *req)
{
    switch (req->cmd) {
    case RC_MC_GET: case RC_MC_GETS: case RC_MC_GAT: case RC_MC_GATS: case RC_MC_MG:
        m->n.cmd_get += req->nkeys;
        break;
    case RC_MC_TOUCH:
        m->n.cmd_touch++;
        break;
    case RC_MC_SET: case RC_MC_ADD: case RC_MC_REPLACE: case RC_MC_APPEND:
    case RC_MC_PREPEND: case RC_MC_CAS: case RC_MC_MS:
        m->n.cmd_set++;
        break;
    default:
        break;
    }
}

/* Hits and misses as memcached counts them, once the cmd answered. */
static void count_result(struct rc_memcache *m, const struct mc_cmd *cmd)
{
    size_t i;

    for (i = 0; i < cmd->n; i++) {
        int c = cmd->subs[i].code;

        switch (cmd->cmd) {
        case RC_MC_GET: case RC_MC_GETS: case RC_MC_GAT: case RC_MC_GATS: case RC_MC_MG:
            m->n.get_hits += c == R_HIT;
            m->n.get_misses += c == R_MISS;
            break;
        case RC_MC_TOUCH:
            m->n.touch_hits += c == R_TOUCHED;
            m->n.touch_misses += c == R_NOT_FOUND;
            break;
        case RC_MC_DELETE: case RC_MC_MD:
            m->n.delete_hits += c == R_DELETED;
            m->n.delete_misses += c == R_NOT_FOUND;
            break;
        case RC_MC_INCR:
            m->n.incr_hits += c == R_NUMBER;
            m->n.incr_misses += c == R_NOT_FOUND;
            break;
        case RC_MC_DECR:
            m->n.decr_hits += c == R_NUMBER;
            m->n.decr_misses += c == R_NOT_FOUND;
            break;
        case RC_MC_CAS:
            m->n.cas_hits += c == R_STORED;
            m->n.cas_misses += c == R_NOT_FOUND;
            m->n.cas_badval += c == R_EXISTS;
            break;
        default:
            break;
        }
        m->n.errors += c == R_FAIL || c == R_NONNUMERIC;
    }
}

int rc_mc_keys_run(struct mc_ctx *x)
{
    const struct rc_mc_req *req = x->req;
    struct rc_memcache *m = x->m;
    int64_t now_s = rc_node_now_ms() / 1000;
    const char *bad = NULL;
    struct mc_cmd *cmd;
    size_t i;
    int rv, copy;

    count(m, req);
    if (req->nkeys == 0) /* "gat 10": no key, memcached answers END */
        return rc_buf_append(x->out, "END\r\n", 5);
    cmd = cmd_new(m, req->nkeys);
    if (cmd == NULL)
        return rc_mc_line(x->out, "SERVER_ERROR too many keys in flight on this node (or out "
                                  "of memory); retry later");
    cmd->cmd = req->cmd;
    if (req->cmd >= RC_MC_MG) {
        cmd->noreply = req->noreply;
        bad = meta_setup(cmd, req, now_s);
        cmd->flags = rc_mc_has(&req->meta, 'F') ? cmd->flags : 0;
    } else {
        text_setup(cmd, req, now_s);
    }
    if (bad != NULL) {
        cmd_free(cmd);
        return meta_error(x, bad);
    }
    /* The block is needed after this call when a read comes first, or
     * when the command may wait behind another on its key. */
    copy = req->data != NULL && (needs_lock(cmd) || m->nlocks > 0);
    if (copy) {
        cmd->data = malloc(req->data_len ? req->data_len : 1);
        if (cmd->data == NULL) {
            cmd_free(cmd);
            return rc_mc_line(x->out, "SERVER_ERROR out of memory storing object");
        }
        memcpy(cmd->data, req->data, req->data_len);
    } else {
        cmd->data = (uint8_t *)req->data; /* used during this call only */
    }
    cmd->data_len = req->data_len;
    cmd->out = x->out;
    cmd->in_handler = 1;
    for (i = 0; i < cmd->n; i++) {
        cmd->subs[i].cmd = cmd;
        cmd->subs[i].key_len = req->keys[i].len;
        memcpy(cmd->subs[i].key, req->keys[i].p, req->keys[i].len);
    }
    for (i = 0; i < cmd->n; i++) {
        if (sub_run(&cmd->subs[i]) < 0) {
            cmd->subs[i].code = R_FAIL;
            cmd->subs[i].err = RC_ENOMEM;
            sub_finished(&cmd->subs[i], NULL);
        }
    }
    cmd->in_handler = 0;
    if (!copy)
        cmd->data = NULL; /* borrowed: the writes that needed it copied it */
    if (cmd->replied) {
        rv = cmd->reply_rv;
        cmd_free(cmd);
        return rv;
    }
    cmd->slot = rc_net_defer(x->net);
    if (cmd->slot == NULL)
        return RC_ENOMEM; /* the subs free the cmd when they answer; the connection closes */
    return 0;
}

/* ---- key locks -------------------------------------------------------------
 * A key with a read-then-write in flight through this node, and the subs
 * waiting for it in arrival order. The lock passes to the next waiter
 * (whatever its command) so that waiters run in order; it is freed when
 * nobody holds or waits for it. */

struct mc_lock {
    struct mc_lock *next; /* bucket chain */
    struct sub *head, *tail;
    int held, draining;
    size_t key_len;
    uint64_t hash;
    uint8_t key[RC_MC_KEY_MAX];
};

static uint64_t key_hash(const uint8_t *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ k[i]) * 1099511628211ULL;
    return h;
}

static struct mc_lock **lock_slot(struct rc_memcache *m, const struct sub *s, uint64_t h)
{
    struct mc_lock **p = &m->locks[h % RC_MC_LOCK_BUCKETS];

    while (*p != NULL && ((*p)->hash != h || (*p)->key_len != s->key_len ||
                          memcmp((*p)->key, s->key, s->key_len) != 0))
        p = &(*p)->next;
    return p;
}

/* Commands that only read, or only write, need no lock of their own. */
static int needs_lock(const struct mc_cmd *cmd)
{
    switch (cmd->cmd) {
    case RC_MC_GET: case RC_MC_GETS: case RC_MC_MG: case RC_MC_ME:
        return cmd->touch;
    case RC_MC_SET: case RC_MC_MS:
        return cmd->mode != 'S' || cmd->has_cas;
    case RC_MC_DELETE:
        return 0;
    case RC_MC_MD:
        return cmd->has_cas;
    default:
        return 1;
    }
}

static void lock_release(struct rc_memcache *m, struct mc_lock *lk)
{
    struct sub *s;

    lk->held = 0;
    if (lk->draining)
        return; /* a caller up the stack runs the next waiter */
    lk->draining = 1;
    while (!lk->held && lk->head != NULL) {
        s = lk->head;
        lk->head = s->next_wait;
        if (lk->head == NULL)
            lk->tail = NULL;
        lk->held = 1;
        s->lock = lk;
        sub_start(s);
    }
    lk->draining = 0;
    if (!lk->held && lk->head == NULL) {
        struct mc_lock **p = &m->locks[lk->hash % RC_MC_LOCK_BUCKETS];

        while (*p != lk)
            p = &(*p)->next;
        *p = lk->next;
        m->nlocks--;
        free(lk);
    }
}

/* Runs a sub now, or queues it behind the command holding its key. 0, or
 * RC_ENOMEM (nothing started). */
static int sub_run(struct sub *s)
{
    struct rc_memcache *m = s->cmd->m;
    struct mc_lock **p, *lk;
    uint64_t h;

    if (m->nlocks == 0 && !needs_lock(s->cmd)) {
        sub_start(s);
        return 0;
    }
    h = key_hash(s->key, s->key_len);
    p = lock_slot(m, s, h);
    if (*p != NULL) {
        lk = *p;
        if (lk->tail)
            lk->tail->next_wait = s;
        else
            lk->head = s;
        lk->tail = s;
        return 0;
    }
    if (!needs_lock(s->cmd)) {
        sub_start(s);
        return 0;
    }
    lk = calloc(1, sizeof(*lk));
    if (lk == NULL)
        return RC_ENOMEM;
    lk->hash = h;
    lk->key_len = s->key_len;
    memcpy(lk->key, s->key, s->key_len);
    lk->held = 1;
    *p = lk;
    m->nlocks++;
    s->lock = lk;
    sub_start(s);
    return 0;
}

void rc_mc_keys_close(struct rc_memcache *m)
{
    while (m->free_cmds != NULL) {
        struct mc_cmd *next = m->free_cmds->next_free;

        free(m->free_cmds);
        m->free_cmds = next;
    }
    m->nfree_cmds = 0;
}
