/*
 * coord.h - the coordinator: runs a client's GET, PUT or DEL on the key's
 * replicas, whichever node the client talks to.
 *
 * The front ends (native protocol, RESP) decode their own commands into a
 * typed request and get a typed result with an RC_E* code (err.h); no
 * front end maps wire statuses. The coordinator finds the key's home
 * replicas in the cluster view (cluster.h), sends the operation to each
 * (itself included when it is a replica) and answers when W of them
 * acknowledged a write or R of them answered a read (newest version
 * wins). Stale replicas seen by a read are repaired; writes that could
 * not reach a live replica are kept as hints (hints.h).
 */
#ifndef RC_COORD_H
#define RC_COORD_H

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "hints.h"
#include "node.h"
#include "peer.h"

struct rc_coord;

struct rc_coord_opts {
    int rf;         /* replication factor (copies of each key) */
    int r, w;       /* default read / write quorum */
    int timeout_ms; /* per replica request */
};

enum rc_coord_kind { RC_COORD_GET = 1, RC_COORD_PUT, RC_COORD_DEL };

/* One operation. Pointers are borrowed for the call (copied as needed). */
struct rc_coord_req {
    int kind;             /* enum rc_coord_kind */
    uint32_t tag;         /* the caller's (its request id): echoed in the result */
    const uint8_t *key;   /* NULL: missing (INVAL) */
    size_t key_len;
    const uint8_t *value; /* PUT (NULL: missing) */
    size_t value_len;
    uint64_t ttl_ms;      /* PUT: 0 = no expiry */
    uint32_t level;       /* RC_CL_* (codec.h); 0 = the node's default R or W */
    uint32_t flags;       /* PUT: the client's 32-bit flags (memcached), stored with the
                             value; carried by the `counter` branch (issue 18), not yet here */
};

/* Its outcome; pointers borrowed for the callback only. */
struct rc_coord_res {
    uint32_t tag;
    int err;          /* 0; RC_ENOTFOUND: GET miss, DEL of no live value; or an error */
    const char *msg;  /* NULL, or why (for errors other than NOTFOUND) */
    const uint8_t *value; /* GET hit */
    size_t value_len;
    uint64_t ttl_ms;  /* GET hit: time left, 0 = none */
    uint32_t flags;   /* GET hit: the flags stored with the value (see rc_coord_req.flags) */
    struct rc_version ver; /* GET hit: its version; PUT, DEL: the version written */
    unsigned has_value : 1;
    unsigned has_version : 1;
};

typedef void (*rc_coord_done)(void *arg, const struct rc_coord_res *res);

/*
 * Where the result goes. Exactly one of now and later is called, once.
 * now(arg, res) runs during rc_coord_run when the answer is known at once
 * (a local read, a refused request). Otherwise defer (if not NULL) is
 * called once during rc_coord_run and its return value is the arg later
 * gets when the replicas have answered (NULL from defer: out of memory,
 * answered at once with RC_ENOMEM through now). A front end answers at
 * once into its output and takes a reply slot only when it has to wait.
 */
struct rc_coord_sink {
    rc_coord_done now;
    rc_coord_done later;
    void *(*defer)(void *arg);
    void *arg;
};

/* cluster, hints, node and peers are borrowed for the coordinator's life. */
int rc_coord_new(const struct rc_coord_opts *opts, struct rc_node *node, struct rc_peers *peers,
                 struct rc_cluster *cluster, struct rc_hints *hints, struct rc_coord **out);

void rc_coord_run(struct rc_coord *co, const struct rc_coord_req *req,
                  const struct rc_coord_sink *sink);

struct rc_coord_stats {
    uint64_t get, put, del;
    uint64_t hits, misses, errors, unavailable, timeouts;
    uint64_t read_repairs;
    uint64_t read_repairs_evicted; /* repairs not sent: the replica evicted the key */
    uint64_t uncontacted;        /* QUORUM/ALL refused before contact */
    uint64_t superseded_retries; /* write rounds retried after SUPERSEDED */
    uint64_t superseded;         /* writes answered SUPERSEDED */
    uint64_t drift_refused;      /* writes refused: this node's clock ahead */
};
void rc_coord_stats(const struct rc_coord *co, struct rc_coord_stats *st);

/* Latency of kind's requests (enum rc_coord_kind) from rc_coord_run to
 * the answer given to the front end, errors included; NULL for another
 * kind. Borrowed for the coordinator's life. */
struct rc_lathist;
const struct rc_lathist *rc_coord_latency(const struct rc_coord *co, int kind);

/* The node is shutting down: with no ring left, clients hear SHUTDOWN
 * rather than UNAVAILABLE. */
void rc_coord_leaving(struct rc_coord *co);

/* Frees; ops still waiting for replicas are owned by the peer pool's
 * callbacks, which run (with errors) when it closes, before this. */
void rc_coord_free(struct rc_coord *co);

#endif
