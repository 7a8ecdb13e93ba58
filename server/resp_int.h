/*
 * resp_int.h - what the files of the RESP front end share; only
 * server/resp_*.c include it (the contract for the rest is resp_server.h).
 *
 * resp_server.c is the net hook: it parses a command, applies the AUTH
 * gate and the arity check, and dispatches from the command table (one
 * row per command, in resp_server.c) to a handler: resp_keys.c for the
 * commands on keys (run through the coordinator), resp_strings.c for the
 * ones that read before they write (or only read a key's metadata),
 * resp_admin.c for the ones about the connection and the server. A new command is one row
 * there, one handler in the file of its kind and its docs row
 * (scripts/gen_resp_docs.py; resp_docs.c).
 */
#ifndef RC_RESP_INT_H
#define RC_RESP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "resp.h"
#include "resp_server.h"

/* CLIENT SETNAME: Redis has no limit; 128 bytes is more than any client
 * library sends and keeps the per-connection state small. */
#define RC_RESP_NAME_MAX 128
/* INFO text, and the least room for encoding a deferred reply (which
 * otherwise gets the reply cap, rc_resp_server_opts.max_reply); also what
 * the deferred reply buffer keeps allocated between replies. */
#define RC_RESP_REPLY_MIN_CAP (1u << 20)

/* Keys of commands waiting for the coordinator, all connections together:
 * each costs a sub here and an op in the coordinator (~300 bytes with a
 * small value), so 1M bound what pipelined MGETs/MSETs of many keys can
 * pin (a few hundred MB) while leaving 1000 clients x 1024 single-key
 * commands in flight untouched. Over it, a command is refused with an
 * error, not queued. (resp_keys.c and resp_strings.c) */
#define RC_RESP_MAX_KEYS_INFLIGHT (1u << 20)
/* CLIENT SETINFO LIB-NAME / LIB-VER: kept for CLIENT LIST/INFO, cut at
 * this length (library names and versions are short). */
#define RC_RESP_LIB_MAX 64

struct rc_resp_multi; /* resp_multi.c: commands queued after MULTI */
struct rc_resp_watch; /* resp_multi.c: keys watched, with their versions */
struct rc_resp_exec;  /* resp_multi.c: an EXEC running */

/* CLIENT REPLY modes. */
enum { RC_RESP_REPLY_ON, RC_RESP_REPLY_OFF, RC_RESP_REPLY_SKIP };

/* Per connection (net.c allocates it zeroed, rc_net_handler.conn_size). */
struct rc_resp_conn {
    uint64_t id; /* net.c's connection id, set at its first command */
    int proto;   /* 2 (0 until HELLO: the same) or 3 */
    int no_evict, no_touch, reply_mode;
    size_t name_len;
    char name[RC_RESP_NAME_MAX];
    char lib_name[RC_RESP_LIB_MAX], lib_ver[RC_RESP_LIB_MAX];
    char last_cmd[32];            /* CLIENT LIST cmd= */
    struct rc_resp_multi *multi;  /* between MULTI and EXEC/DISCARD, else NULL */
    struct rc_resp_watch *watch;  /* WATCHed keys, NULL when none */
    struct rc_resp_exec *exec;    /* EXEC running (later commands wait), else NULL */
};

struct cmd;       /* resp_keys.c: a command waiting for the coordinator */
struct str_locks; /* resp_strings.c: per-key queues of its plans */

struct rc_resp_server {
    struct rc_resp_server_opts opts;
    struct rc_coord *co;
    struct rc_cluster *cluster;
    struct rc_admin *admin;
    struct rc_node *node;
    struct rc_keyspace *ks; /* NULL until rc_resp_server_set_keyspace */
    struct rc_net *net;
    const struct rc_log *log;
    struct rc_resp_limits lim;
    struct rc_resp_limits lim_preauth; /* until AUTH (with --auth-file) */
    struct rc_resp_arg *argv;
    uint8_t *inline_buf;
    struct rc_buf reply; /* deferred replies, encoded before completing their slot */
    struct rc_buf tmp;   /* INFO text */
    int cur_proto;         /* the protocol of the command being dispatched (resp_keys.c) */
    size_t keys_inflight;    /* resp_keys.c: keys of its cmds in flight */
    struct cmd *free_cmds;   /* resp_keys.c: pooled single-key cmds */
    size_t nfree_cmds;
    struct str_locks *str_locks; /* resp_strings.c: keys of its plans in flight */
    int64_t start_ms;
    uint64_t commands, unknown;
    uint64_t ops_window_start_ms, ops_window_cmds, ops_per_sec; /* instantaneous_ops_per_sec */
    char run_id[41];       /* INFO run_id: 40 random hex digits per process */
    struct rc_resp_stats stats;
};

/* One command being answered: what every handler gets, for the call only.
 * argv points into the connection's input (or the inline buffer). */
struct rc_resp_ctx {
    struct rc_resp_server *r;
    struct rc_net *net;
    struct rc_resp_conn *conn;
    const struct rc_resp_arg *argv;
    size_t argc;
    struct rc_buf *out; /* the connection's output */
};

/* Answers one command whose arity its row allowed: appends exactly one
 * reply to x->out, or takes a slot with rc_net_defer() and answers
 * through it later. 0 or RC_NET_DONE; RC_NET_CLOSE to close once the
 * reply is sent; a negative code when no reply could be queued (the
 * connection closes). */
typedef int (*rc_resp_fn)(struct rc_resp_ctx *x);

/* One row of the command table; COMMAND reports name to step. */
struct rc_resp_cmd_def {
    const char *name;
    int arity; /* Redis convention: exact if > 0, at least -arity if < 0 */
    const char *flags;
    int first, last, step; /* key positions */
    rc_resp_fn fn;
    int preauth; /* allowed before AUTH */
};

/* ---- resp_server.c ------------------------------------------------- */

/* AUTH's check, shared with HELLO ... AUTH: 1 when authenticated, else
 * the result of the error reply appended (RC_NET_CLOSE: close after it). */
int rc_resp_server_auth(struct rc_resp_ctx *x, const struct rc_resp_arg *user,
                        const struct rc_resp_arg *pw);

/* Dispatches one command as the parse hook does after MULTI/AUTH checks
 * (arity checked, table lookup): for EXEC, which replays a queue. */
int rc_resp_server_dispatch(struct rc_resp_ctx *x);

/* The table (borrowed, static) and its size in *n. */
const struct rc_resp_cmd_def *rc_resp_server_commands(size_t *n);

/* The row for a command name (any case), NULL if none. */
const struct rc_resp_cmd_def *rc_resp_server_find(const struct rc_resp_arg *name);

/* An error reply formatted like printf (up to 255 bytes); the encoding's
 * result. */
int rc_resp_server_errorf(struct rc_resp_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Encoding a reply into out failed (rv): it was larger than the reply cap
 * (opts.max_reply), or memory ran out. What was written of it since mark
 * is dropped and an error takes its place, so the client gets an answer
 * in order and the connection stays usable. Returns the error's encoding
 * result. */
int rc_resp_server_reply_failed(struct rc_resp_server *r, struct rc_buf *out, size_t mark,
                                int rv);

/* ---- resp_keys.c: commands on keys, through the coordinator -------- */

int rc_resp_keys_get(struct rc_resp_ctx *x);
int rc_resp_keys_set(struct rc_resp_ctx *x);
int rc_resp_keys_del(struct rc_resp_ctx *x); /* DEL, UNLINK */
int rc_resp_keys_exists(struct rc_resp_ctx *x);
int rc_resp_keys_mget(struct rc_resp_ctx *x);
int rc_resp_keys_mset(struct rc_resp_ctx *x);
int rc_resp_keys_ttl(struct rc_resp_ctx *x);    /* TTL, PTTL */
int rc_resp_keys_counter(struct rc_resp_ctx *x); /* INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT */

/* Frees the pooled cmds (the front end is being freed). */
void rc_resp_keys_close(struct rc_resp_server *r);

/* ---- resp_keyspace.c: the cluster's keyspace (keyspace.h) ---------- */

int rc_resp_keyspace_scan(struct rc_resp_ctx *x);
int rc_resp_keyspace_keys(struct rc_resp_ctx *x);
int rc_resp_keyspace_randomkey(struct rc_resp_ctx *x);
int rc_resp_keyspace_dbsize(struct rc_resp_ctx *x);
int rc_resp_keyspace_flush(struct rc_resp_ctx *x); /* FLUSHALL, FLUSHDB */

/* ---- resp_strings.c: read-modify-write and single-key commands ----- */

/* SET's options, checked as Redis 7 does (every word, then the time). */
struct rc_resp_set_args {
    int nx, xx, get, keepttl;
    int64_t ttl_ms; /* 0: none; a time already past is 1 ms (expires at once) */
};

/* Parses argv[3...] of SET into *a: 0, or 1 when an error reply was
 * queued (syntax, not an integer, invalid expire time), or a negative
 * code when it could not be. */
int rc_resp_str_set_parse(struct rc_resp_ctx *x, struct rc_resp_set_args *a);
/* SET with GET or KEEPTTL (a read first); a from rc_resp_str_set_parse. */
int rc_resp_str_set_run(struct rc_resp_ctx *x, const struct rc_resp_set_args *a);
int rc_resp_str_setnx(struct rc_resp_ctx *x);
int rc_resp_str_setex(struct rc_resp_ctx *x);     /* SETEX, PSETEX */
int rc_resp_str_getset(struct rc_resp_ctx *x);
int rc_resp_str_getdel(struct rc_resp_ctx *x);
int rc_resp_str_getex(struct rc_resp_ctx *x);
int rc_resp_str_append(struct rc_resp_ctx *x);
int rc_resp_str_strlen(struct rc_resp_ctx *x);
int rc_resp_str_getrange(struct rc_resp_ctx *x);  /* GETRANGE, SUBSTR */
int rc_resp_str_setrange(struct rc_resp_ctx *x);
int rc_resp_str_msetnx(struct rc_resp_ctx *x);
int rc_resp_str_expire(struct rc_resp_ctx *x);    /* EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT */
int rc_resp_str_expiretime(struct rc_resp_ctx *x); /* EXPIRETIME, PEXPIRETIME */
int rc_resp_str_persist(struct rc_resp_ctx *x);
int rc_resp_str_type(struct rc_resp_ctx *x);
int rc_resp_str_touch(struct rc_resp_ctx *x);
int rc_resp_str_object(struct rc_resp_ctx *x);
int rc_resp_str_memory(struct rc_resp_ctx *x);
int rc_resp_str_rename(struct rc_resp_ctx *x);    /* RENAME, RENAMENX */
int rc_resp_str_copy(struct rc_resp_ctx *x);
int rc_resp_str_no_type(struct rc_resp_ctx *x);   /* LPUSH, HSET, SADD, ZADD, XADD, ... */

/* Frees the per-key queues (the front end is being freed). */
void rc_resp_str_close(struct rc_resp_server *r);
/* ---- resp_multi.c: MULTI, EXEC, DISCARD, WATCH, UNWATCH ------------- */

/* Inside MULTI: queues the command (checked: known, arity) and answers
 * +QUEUED, or answers the error and marks the transaction failed. */
int rc_resp_multi_queue(struct rc_resp_ctx *x, const struct rc_resp_cmd_def *d);
/* Marks the transaction failed (an error while queueing, e.g. NOAUTH). */
void rc_resp_multi_fail(struct rc_resp_conn *c);
int rc_resp_multi_multi(struct rc_resp_ctx *x);
int rc_resp_multi_exec(struct rc_resp_ctx *x);
int rc_resp_multi_discard(struct rc_resp_ctx *x);
int rc_resp_multi_watch(struct rc_resp_ctx *x);
int rc_resp_multi_unwatch(struct rc_resp_ctx *x);
/* The connection is closing: frees its queue, lets go of what is in flight. */
void rc_resp_multi_closed(struct rc_resp_conn *c);
/* Commands queued and their bytes (CLIENT LIST multi=, multi-mem=). */
void rc_resp_multi_stats(const struct rc_resp_conn *c, size_t *n, size_t *bytes);

/* ---- resp_client.c: CLIENT ------------------------------------------ */

int rc_resp_admin_client(struct rc_resp_ctx *x);
/* Sets the connection's name (CLIENT SETNAME, HELLO SETNAME): 1, or the
 * result of the error reply it appended. */
int rc_resp_client_setname(struct rc_resp_ctx *x, const struct rc_resp_arg *name);

/* ---- resp_docs.c: COMMAND (COUNT, INFO, LIST, DOCS) ----------------- */

int rc_resp_docs_command(struct rc_resp_ctx *x);

/* ---- resp_admin.c: the connection and the server -------------------- */

int rc_resp_admin_ping(struct rc_resp_ctx *x);
int rc_resp_admin_echo(struct rc_resp_ctx *x);
int rc_resp_admin_info(struct rc_resp_ctx *x);
int rc_resp_admin_config(struct rc_resp_ctx *x);
int rc_resp_admin_select(struct rc_resp_ctx *x);
int rc_resp_admin_hello(struct rc_resp_ctx *x);
int rc_resp_admin_quit(struct rc_resp_ctx *x);
int rc_resp_admin_time(struct rc_resp_ctx *x);
int rc_resp_admin_wait(struct rc_resp_ctx *x);
int rc_resp_admin_reset(struct rc_resp_ctx *x);

#endif
