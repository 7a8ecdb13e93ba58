/*
 * resp_keyspace.c - SCAN, KEYS, RANDOMKEY, DBSIZE and FLUSHALL/FLUSHDB
 * over the cluster's keyspace (server/keyspace.h walks the ring and keeps
 * the flush epoch; this file parses Redis's arguments, filters and
 * encodes Redis's replies).
 *
 * Every command takes a slot and runs one or more keyspace steps: SCAN
 * until it looked at COUNT entries (at most SCAN_MAX_STEPS), KEYS and
 * DBSIZE until the ring's end, RANDOMKEY from a random token until a key
 * turns up (wrapping once). The cursor SCAN returns is the ring position
 * after its last step's end, so any node continues it.
 */
#include "resp_int.h"
#include "err.h"
#include "glob.h"
#include "keyspace.h"
#include "ring.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS answers at most this many keys (Redis has no cap; a cluster's
 * keyspace can be far larger than one reply should be): beyond, an error
 * that points to SCAN. */
#define KEYS_MAX 100000
/* Entries asked of each member per step for KEYS and RANDOMKEY: KEYS
 * wants throughput (the cap), RANDOMKEY one key. */
#define KEYS_STEP_COUNT RC_KEYSCAN_MAX_COUNT
/* SCAN's COUNT when none is given: Redis's default. */
#define SCAN_DEFAULT_COUNT 10
/* Steps one SCAN call may take while it has found fewer than COUNT
 * entries: an empty or sparse stretch of the ring (4096 vnode ranges, a
 * 16-node ring) costs one call, not many empty ones, and a call stays
 * bounded. */
#define SCAN_MAX_STEPS 8

enum job_kind { J_SCAN, J_KEYS, J_RANDOMKEY, J_DBSIZE };

struct job {
    struct rc_resp_server *r;
    struct rc_net_slot *slot;
    enum job_kind kind;
    uint32_t count;
    char *pattern; /* NULL = every key */
    size_t pattern_len;
    int type_ok;   /* TYPE absent or "string": ringcache holds strings only */
    uint64_t start; /* RANDOMKEY: the random token */
    int wrapped;    /* RANDOMKEY: passed the ring's end once */
    uint64_t total; /* DBSIZE; SCAN: entries looked at (COUNT is about them) */
    int steps;      /* SCAN: steps taken */
    int proto;      /* the connection's RESP version: RANDOMKEY's nil differs in 3 */
    size_t nkeys;   /* SCAN, KEYS: keys in acc */
    struct rc_buf acc; /* SCAN, KEYS: their bulk strings */
    struct rc_buf reply;
};

static void job_step(struct job *j, uint64_t cursor);

static void job_free(struct job *j)
{
    free(j->pattern);
    rc_buf_close(&j->acc);
    rc_buf_close(&j->reply);
    free(j);
}

static void job_send(struct job *j)
{
    rc_net_complete_bytes(j->slot, rc_buf_rptr(&j->reply), rc_buf_used(&j->reply));
    job_free(j);
}

static void job_fail(struct job *j, int err)
{
    char msg[160];

    rc_buf_reset(&j->reply);
    snprintf(msg, sizeof(msg), "%s %s", rc_err_name(err),
             err == RC_EUNAVAILABLE ? "no live replica answered for part of the keyspace"
                                    : rc_strerror(err));
    rc_resp_error(&j->reply, msg);
    job_send(j);
}

static int key_wanted(const struct job *j, const uint8_t *k, size_t len)
{
    if (!j->type_ok)
        return 0;
    return j->pattern == NULL ||
           rc_glob_match(j->pattern, j->pattern_len, (const char *)k, len, 0);
}

/* Keeps the wanted keys of a step in acc (their bulk strings). */
static int take_keys(struct job *j, const struct rc_keyspace_result *res)
{
    const struct rc_keyscan_set *s = res->set;
    size_t i;
    int rv;

    for (i = 0; i < res->nkeys; i++) {
        if (!key_wanted(j, rc_keyscan_key(s, &s->e[i]), s->e[i].len))
            continue;
        rv = rc_resp_bulk(&j->acc, rc_keyscan_key(s, &s->e[i]), s->e[i].len);
        if (rv < 0)
            return rv;
        j->nkeys++;
    }
    return 0;
}

/* "*<n>\r\n" and the keys gathered, after what reply holds. */
static void send_keys(struct job *j)
{
    char hdr[32];
    int rv;

    snprintf(hdr, sizeof(hdr), "*%zu\r\n", j->nkeys);
    rv = rc_buf_append(&j->reply, hdr, strlen(hdr));
    if (rv == 0)
        rv = rc_buf_append(&j->reply, rc_buf_rptr(&j->acc), rc_buf_used(&j->acc));
    if (rv < 0)
        rc_resp_server_reply_failed(j->r, &j->reply, 0, rv);
    job_send(j);
}

/* A SCAN call goes on while it has looked at fewer than COUNT entries
 * (and within SCAN_MAX_STEPS), so a sparse ring costs few calls. */
static void scan_result(struct job *j, const struct rc_keyspace_result *res)
{
    char cur[24];
    int rv;

    rv = take_keys(j, res);
    if (rv < 0) {
        rc_resp_server_reply_failed(j->r, &j->reply, 0, rv);
        job_send(j);
        return;
    }
    j->total += res->nkeys;
    if (!res->done && j->total < j->count && ++j->steps < SCAN_MAX_STEPS) {
        job_step(j, res->next);
        return;
    }
    snprintf(cur, sizeof(cur), "%llu", (unsigned long long)res->next);
    rv = rc_resp_array(&j->reply, 2);
    if (rv == 0)
        rv = rc_resp_bulk_str(&j->reply, cur);
    if (rv < 0) {
        rc_resp_server_reply_failed(j->r, &j->reply, 0, rv);
        job_send(j);
        return;
    }
    send_keys(j);
}

static void keys_result(struct job *j, const struct rc_keyspace_result *res)
{
    int rv = take_keys(j, res);

    if (rv == 0 && j->nkeys > KEYS_MAX) {
        rc_resp_error(&j->reply, "ERR KEYS would return more than 100000 keys from the "
                                 "cluster; iterate with SCAN instead");
        job_send(j);
        return;
    }
    if (rv < 0) {
        rc_resp_server_reply_failed(j->r, &j->reply, 0, rv);
        job_send(j);
        return;
    }
    if (!res->done) {
        job_step(j, res->next);
        return;
    }
    send_keys(j);
}

static void randomkey_result(struct job *j, const struct rc_keyspace_result *res)
{
    const struct rc_keyscan_set *s = res->set;

    if (res->nkeys > 0) {
        rc_resp_bulk(&j->reply, rc_keyscan_key(s, &s->e[0]), s->e[0].len);
        job_send(j);
        return;
    }
    if (j->wrapped && (res->done || res->end >= j->start)) {
        rc_resp_null(&j->reply, j->proto); /* the whole ring walked: empty */
        job_send(j);
        return;
    }
    if (res->done) {
        j->wrapped = 1;
        job_step(j, 0);
        return;
    }
    job_step(j, res->next);
}

static void on_step(void *arg, const struct rc_keyspace_result *res)
{
    struct job *j = arg;

    if (res->err < 0) {
        job_fail(j, res->err);
        return;
    }
    switch (j->kind) {
    case J_SCAN:
        scan_result(j, res);
        return;
    case J_KEYS:
        keys_result(j, res);
        return;
    case J_RANDOMKEY:
        randomkey_result(j, res);
        return;
    case J_DBSIZE:
        j->total += res->count;
        if (!res->done) {
            job_step(j, res->next);
            return;
        }
        rc_resp_integer(&j->reply, (int64_t)j->total);
        job_send(j);
        return;
    }
}

static void job_step(struct job *j, uint64_t cursor)
{
    rc_keyspace_step(j->r->ks, j->kind == J_DBSIZE ? RC_KEYSCAN_COUNT : RC_KEYSCAN_KEYS, cursor,
                     j->count, on_step, j);
}

static struct job *job_new(struct rc_resp_server *r, enum job_kind kind)
{
    struct job *j = calloc(1, sizeof(*j));

    if (j == NULL)
        return NULL;
    j->r = r;
    j->kind = kind;
    j->proto = r->cur_proto;
    j->type_ok = 1;
    j->count = kind == J_RANDOMKEY ? 1 : KEYS_STEP_COUNT;
    rc_buf_init(&j->acc, r->opts.max_reply);
    rc_buf_init(&j->reply, r->opts.max_reply);
    return j;
}

/* Takes the slot and runs the first step (which may answer at once). */
static int job_start(struct rc_resp_ctx *x, struct job *j, uint64_t cursor)
{
    j->slot = rc_net_defer(x->net);
    if (j->slot == NULL) {
        job_free(j);
        return RC_ENOMEM;
    }
    job_step(j, cursor);
    return RC_NET_DONE;
}

static int no_keyspace(struct rc_resp_ctx *x)
{
    return rc_resp_error(x->out, "ERR keyspace commands are not available on this node");
}

static int set_pattern(struct job *j, const struct rc_resp_arg *a)
{
    free(j->pattern);
    j->pattern = NULL;
    /* "*" matches everything: no filter (as Redis). */
    if (a->len == 1 && a->p[0] == '*')
        return 0;
    j->pattern = malloc(a->len ? a->len : 1);
    if (j->pattern == NULL)
        return RC_ENOMEM;
    memcpy(j->pattern, a->p, a->len);
    j->pattern_len = a->len;
    return 0;
}

/* Redis's cursor, parsed as Redis 7 parses it (strtoul, base 10): no
 * leading space, nothing after the digits, in range; so "-1" is
 * UINT64_MAX and "" is 0, as there. */
static int parse_cursor(const struct rc_resp_arg *a, uint64_t *out)
{
    char tmp[128], *end;

    if (a->len >= sizeof(tmp))
        return -1;
    memcpy(tmp, a->p, a->len);
    tmp[a->len] = '\0';
    if (isspace((unsigned char)tmp[0]))
        return -1;
    errno = 0;
    *out = strtoull(tmp, &end, 10);
    return *end != '\0' || errno == ERANGE ? -1 : 0;
}

int rc_resp_keyspace_scan(struct rc_resp_ctx *x)
{
    struct job *j;
    uint64_t cursor;
    int64_t count;
    size_t i;

    if (x->r->ks == NULL)
        return no_keyspace(x);
    if (parse_cursor(&x->argv[1], &cursor) < 0)
        return rc_resp_error(x->out, "ERR invalid cursor");
    j = job_new(x->r, J_SCAN);
    if (j == NULL)
        return RC_ENOMEM;
    j->count = SCAN_DEFAULT_COUNT;
    for (i = 2; i < x->argc; i += 2) {
        const struct rc_resp_arg *o = &x->argv[i];

        if (i + 1 >= x->argc)
            goto syntax;
        if (rc_resp_is(o, "COUNT")) {
            if (rc_resp_int(&x->argv[i + 1], &count) < 0) {
                job_free(j);
                return rc_resp_error(x->out, "ERR value is not an integer or out of range");
            }
            if (count < 1)
                goto syntax;
            j->count = count > RC_KEYSCAN_MAX_COUNT ? RC_KEYSCAN_MAX_COUNT : (uint32_t)count;
        } else if (rc_resp_is(o, "MATCH")) {
            if (set_pattern(j, &x->argv[i + 1]) < 0) {
                job_free(j);
                return RC_ENOMEM;
            }
        } else if (rc_resp_is(o, "TYPE")) {
            j->type_ok = rc_resp_is(&x->argv[i + 1], "string");
        } else {
            goto syntax;
        }
    }
    return job_start(x, j, cursor);
syntax:
    job_free(j);
    return rc_resp_error(x->out, "ERR syntax error");
}

int rc_resp_keyspace_keys(struct rc_resp_ctx *x)
{
    struct job *j;

    if (x->r->ks == NULL)
        return no_keyspace(x);
    j = job_new(x->r, J_KEYS);
    if (j == NULL || set_pattern(j, &x->argv[1]) < 0) {
        if (j)
            job_free(j);
        return RC_ENOMEM;
    }
    return job_start(x, j, 0);
}

int rc_resp_keyspace_randomkey(struct rc_resp_ctx *x)
{
    struct job *j;
    uint64_t seed[2];

    if (x->r->ks == NULL)
        return no_keyspace(x);
    j = job_new(x->r, J_RANDOMKEY);
    if (j == NULL)
        return RC_ENOMEM;
    /* Any well-mixed token will do: the hash of the clock and a counter. */
    seed[0] = uv_hrtime();
    seed[1] = x->r->commands;
    j->start = rc_ring_token(seed, sizeof(seed));
    return job_start(x, j, j->start);
}

int rc_resp_keyspace_dbsize(struct rc_resp_ctx *x)
{
    struct job *j;

    if (x->r->ks == NULL)
        return no_keyspace(x);
    j = job_new(x->r, J_DBSIZE);
    if (j == NULL)
        return RC_ENOMEM;
    return job_start(x, j, 0);
}

/* FLUSHALL / FLUSHDB answered: OK once a majority of the live members
 * (this one included) recorded the epoch; the rest learn it from the
 * epoch exchange. Fewer: say how far it got (it is recorded and spreads
 * anyway, and a retry is harmless). */
static void on_flushed(void *arg, int acked, int asked)
{
    struct rc_net_slot *slot = arg;
    struct rc_buf b;
    char msg[200];

    rc_buf_init(&b, 256);
    if (acked > asked / 2) {
        rc_resp_simple(&b, "OK");
    } else {
        snprintf(msg, sizeof(msg),
                 "UNAVAILABLE flush recorded on %d of %d live members; the others learn it "
                 "from their peers within seconds",
                 acked, asked);
        rc_resp_error(&b, msg);
    }
    rc_net_complete_bytes(slot, rc_buf_rptr(&b), rc_buf_used(&b));
    rc_buf_close(&b);
}

/* FLUSHALL and FLUSHDB [ASYNC|SYNC]: one database, so the same. Both modes
 * answer once the members recorded the epoch; the entries themselves are
 * dropped in the background either way (they are invisible at once). */
int rc_resp_keyspace_flush(struct rc_resp_ctx *x)
{
    struct rc_net_slot *slot;

    if (x->r->ks == NULL)
        return no_keyspace(x);
    if (x->argc > 2 ||
        (x->argc == 2 && !rc_resp_is(&x->argv[1], "ASYNC") && !rc_resp_is(&x->argv[1], "SYNC")))
        return rc_resp_error(x->out, "ERR syntax error");
    slot = rc_net_defer(x->net);
    if (slot == NULL)
        return RC_ENOMEM;
    rc_keyspace_flushall(x->r->ks, on_flushed, slot);
    return RC_NET_DONE;
}
