/*
 * memcache.h - the memcached front end: text and meta protocol (1.6).
 *
 * A client listener (--memcache-port) on the same event loop, served by
 * the same net.c connections (limits, backpressure, timeouts, in-order
 * deferred replies) and the same coordinator as the native and RESP
 * ports: a memcached command becomes one or two coordinator operations
 * per key (a read, then a write decided from it, for add, cas, append,
 * incr, touch, ...). Parsing is common/mcproto.c; the net hook and the
 * commands about the server are in memcache.c, the commands on keys in
 * memcache_keys.c. Commands, flags and guarantees: README "memcached
 * protocol" and docs/protocol.md.
 */
#ifndef RC_MEMCACHE_H
#define RC_MEMCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "admin.h"
#include "coord.h"
#include "log.h"
#include "net.h"
#include "node.h"

struct rc_memcache;

struct rc_memcache_opts {
    int port;            /* reported by stats */
    size_t max_value;    /* largest data block (the node's --max-value-size) */
    size_t max_line;     /* largest get line (many keys), bytes */
    size_t max_keys;     /* keys of one get line */
    size_t max_reply;    /* bytes of one reply (a get of many large values); over it
                            SERVER_ERROR out of memory writing get response, as memcached */
    int max_conns;       /* reported by stats settings */
};

/* coord, admin, node and log are borrowed for the life of the front end. */
int rc_memcache_new(const struct rc_memcache_opts *opts, struct rc_coord *coord,
                    struct rc_admin *admin, struct rc_node *node, const struct rc_log *log,
                    struct rc_memcache **out);

/* The net handler (parse hook) for the memcached listener. */
void rc_memcache_handler(struct rc_memcache *m, struct rc_net_handler *h);

/* The cluster's keyspace, for flush_all (borrowed; without it flush_all
 * answers SERVER_ERROR). */
struct rc_keyspace;
void rc_memcache_set_keyspace(struct rc_memcache *m, struct rc_keyspace *ks);

/* The memcached net itself, for stats' connection counters (borrowed). */
void rc_memcache_set_net(struct rc_memcache *m, struct rc_net *net);

/* Frees the front end; only after its net was shut down (commands still
 * in flight at the coordinator finish into released slots before that). */
void rc_memcache_free(struct rc_memcache *m);

#endif
