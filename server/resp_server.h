/*
 * resp_server.h - the Redis-protocol (RESP2/RESP3) front end.
 *
 * A second client listener (--resp-port) on the same event loop, served
 * by the same net.c connections (with their limits, backpressure and
 * in-order deferred replies) and the same coordinator: a Redis command
 * becomes one or more coordinator operations (GET/PUT/DEL) and their
 * answers are gathered into one RESP reply. Any node answers any key, so
 * clients need no MOVED redirects. Commands and their guarantees are in
 * docs/protocol.md ("RESP front end"). The net hook and the command table
 * are in resp_server.c, the commands in resp_keys.c, resp_strings.c,
 * resp_admin.c, resp_client.c (CLIENT), resp_multi.c (transactions),
 * resp_docs.c.
 */
#ifndef RC_RESP_SERVER_H
#define RC_RESP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "admin.h"
#include "cluster.h"
#include "coord.h"
#include "log.h"
#include "auth.h"
#include "net.h"
#include "node.h"

struct rc_resp_server;

struct rc_resp_server_opts {
    int port;            /* reported by INFO */
    size_t max_args;     /* arguments per command */
    size_t max_command;  /* bytes of one command (the connection's input cap) */
    size_t max_reply;    /* bytes of one reply: a larger one (an MGET of many large values)
                            is answered with -ERR reply too large for the connection's
                            buffer instead; net.c's output takes one reply this large */
    struct rc_auth *auth; /* client passwords (borrowed), NULL = no AUTH needed */
    int w;               /* the write quorum (--w): what WAIT reports */
};

/* coord, cluster, admin, node and log are borrowed for the life of the
 * front end. */
int rc_resp_server_new(const struct rc_resp_server_opts *opts, struct rc_coord *coord,
                       struct rc_cluster *cluster, struct rc_admin *admin, struct rc_node *node,
                       const struct rc_log *log, struct rc_resp_server **out);

/* The net handler (parse hook) for the RESP listener. */
void rc_resp_server_handler(struct rc_resp_server *r, struct rc_net_handler *h);

/* Counters for STATS (rc_admin_set_resp). */
struct rc_resp_stats {
    uint64_t replies_too_large; /* replies over max_reply, answered with an error instead */
};

/* Borrowed for the front end's life. */
const struct rc_resp_stats *rc_resp_server_stats(const struct rc_resp_server *r);

/* The cluster keyspace walker for SCAN, KEYS, RANDOMKEY and DBSIZE
 * (borrowed for the front end's life); without it they answer an error. */
struct rc_keyspace;
void rc_resp_server_set_keyspace(struct rc_resp_server *r, struct rc_keyspace *ks);

/* The RESP net itself, for INFO's client counters (borrowed). */
void rc_resp_server_set_net(struct rc_resp_server *r, struct rc_net *net);

/* Frees the front end; only after its net was shut down (commands still
 * in flight at the coordinator finish into released slots before that). */
void rc_resp_server_free(struct rc_resp_server *r);

#endif
