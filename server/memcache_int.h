/*
 * memcache_int.h - what the files of the memcached front end share; only
 * server/memcache*.c include it (the contract for the rest is memcache.h).
 *
 * memcache.c is the net hook: it parses a command (common/mcproto.c),
 * answers the ones about the server (stats, version, verbosity, quit, mn)
 * and hands the ones on keys to memcache_keys.c, which runs them through
 * the coordinator.
 */
#ifndef RC_MEMCACHE_INT_H
#define RC_MEMCACHE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "mcproto.h"
#include "memcache.h"

/* memcached's own counters, as its "stats" names them (reported with the
 * node's figures by memcache.c). */
struct mc_counters {
    uint64_t cmd_get, get_hits, get_misses, cmd_set, cmd_touch, touch_hits, touch_misses;
    uint64_t delete_hits, delete_misses, incr_hits, incr_misses, decr_hits, decr_misses;
    uint64_t cas_hits, cas_misses, cas_badval, cmd_meta, commands, errors;
    uint64_t replies_too_large;
    uint64_t cmd_flush;
};

/* Per connection (net.c allocates it zeroed, rc_net_handler.conn_size). */
struct mc_conn {
    uint64_t swallow; /* bytes of a refused data block still to discard */
};

struct mc_cmd;  /* memcache_keys.c */
struct mc_lock; /* memcache_keys.c: a key with a read-then-write in flight */

/* Buckets of the key lock table (memcache_keys.c): locks live only while
 * a conditional command runs, a few thousand at most under load. */
#define RC_MC_LOCK_BUCKETS 4096

struct rc_memcache {
    struct rc_memcache_opts opts;
    struct rc_coord *co;
    struct rc_admin *admin;
    struct rc_node *node;
    struct rc_net *net;
    struct rc_keyspace *ks; /* flush_all (rc_memcache_set_keyspace); NULL: refused */
    const struct rc_log *log;
    struct rc_mc_limits lim;
    struct rc_mc_tok *keys; /* the parser's key array (opts.max_keys) */
    int64_t start_ms;
    int verbosity;
    size_t keys_inflight;      /* memcache_keys.c: keys of its cmds in flight */
    struct mc_cmd *free_cmds;  /* memcache_keys.c: pooled single-key cmds */
    size_t nfree_cmds;
    struct mc_lock *locks[RC_MC_LOCK_BUCKETS]; /* memcache_keys.c */
    size_t nlocks;
    struct mc_counters n;
};

/* One command being answered: for the call only; req borrows from the
 * connection's input. */
struct mc_ctx {
    struct rc_memcache *m;
    struct rc_net *net;
    const struct rc_mc_req *req;
    struct rc_buf *out; /* the connection's output */
};

/* Appends a reply line (CRLF added). rc_buf_append's result. */
int rc_mc_line(struct rc_buf *out, const char *line);

/* ---- memcache_keys.c ---------------------------------------------------- */

/* A command on keys (get family, storage, delete, incr/decr, touch, mg,
 * ms, md, ma, me): answers into x->out or through a net slot. 0, or a
 * negative code when no reply could be queued (the connection closes). */
int rc_mc_keys_run(struct mc_ctx *x);

/* Frees the pooled cmds (the front end is being freed). */
void rc_mc_keys_close(struct rc_memcache *m);

#endif
