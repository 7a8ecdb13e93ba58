/*
 * coord_int.h - what the coordinator's files share (coord.c: GET, PUT,
 * DEL; coord_incr.c: INCR, built on coord.c's reads and writes). Not for
 * other modules: coord.h is the contract.
 */
#ifndef RC_COORD_INT_H
#define RC_COORD_INT_H

#include "coord.h"
#include "lathist.h"

struct rc_coord {
    struct rc_coord_opts opts;
    struct rc_node *node;
    struct rc_peers *peers;
    struct rc_cluster *cluster;
    struct rc_hints *hints;
    uint64_t self;
    int leaving;
    struct rc_coord_stats st;
    /* Latency from rc_coord_run to the answer, per kind (index kind - 1);
     * the request being run now, for the answers given during it. INCR's
     * own steps are a GET and a PUT, timed as such. */
    struct rc_lathist lat[RC_COORD_DEL];
    uint64_t run_t0_ns;
    int run_kind;
};

/* Runs an INCR request already checked by rc_coord_run (coord_incr.c). */
void rc_coord_incr_start(struct rc_coord *co, const struct rc_coord_req *req,
                         const struct rc_coord_sink *sk);

#endif
