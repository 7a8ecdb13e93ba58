/*
 * rebal.h - what the rebalancing tests (test_rebalance.c,
 * test_rebalance_faults.c) read from a running cluster: per-node STATS
 * counters, sums over a set of nodes, and polls until a rebalance is over,
 * a member count or a member state is seen everywhere.
 *
 * A set of nodes is a bit mask over rr_nodes.nodes (bit i = node i + 1).
 * Polls return how long they took, or -1 after their bound with what
 * they saw printed.
 */
#ifndef RC_TEST_REBAL_H
#define RC_TEST_REBAL_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"

/* STATS and MEMBERS polls: often enough to time a rebalance to 0.2 s. */
#define RR_POLL_MS 200

/* The nodes of a test cluster (slots from rc_h_cluster_new). */
struct rr_nodes {
    struct rc_hserver *nodes[RC_H_MAX_SERVERS];
    int n; /* nodes described */
};

/* What a test reads from one node's STATS. */
struct rr_stat {
    int64_t keys, tombstones, hints, out, in, in_place, dropped, rebalances, running, alive;
};

/* One node's counters; 0, or -1 when it did not answer. */
int rr_read(const struct rc_hserver *s, struct rr_stat *st);

/* Counters of every node in mask into st[node] (others zeroed); 0, or -1
 * if one did not answer. */
int rr_snap(const struct rr_nodes *c, unsigned mask, struct rr_stat *st);

void rr_print_snap(const struct rr_nodes *c, unsigned mask, const struct rr_stat *st,
                   const char *what);
/* rr_snap, then rr_print_snap. */
void rr_print_stats(const struct rr_nodes *c, unsigned mask, const char *what);
/* The rebalance, cleanup, stream and membership lines of the nodes' logs. */
void rr_print_log(const struct rr_nodes *c, unsigned mask);

int64_t rr_sum(const struct rr_nodes *c, unsigned mask, const struct rr_stat *st,
               size_t field_off);
#define RR_SUM(c, mask, st, field) rr_sum((c), (mask), (st), offsetof(struct rr_stat, field))

static inline unsigned rr_all(int n)
{
    return (1u << n) - 1;
}

static inline unsigned rr_without(unsigned mask, int node)
{
    return mask & ~(1u << node);
}

/* max/mean of the keys held by the nodes in mask (-1 when none). */
double rr_imbalance(const struct rr_nodes *c, unsigned mask, const struct rr_stat *st);

/*
 * Polls the nodes in mask until the rebalance after a membership change is
 * over: each sees `alive` members alive, none is rebalancing, each has
 * started a rebalance since base (base[i].rebalances; NULL: no such
 * condition; -1 for a node that may plan nothing) and the keys held sum
 * to sum_want (< 0: any). It must keep holding, with the same counts, for
 * quiet_ms and at least two polls, so a plan yet to start cannot pass for
 * a finished one. Returns the time (rc_h_now_ms) it began to hold, or -1
 * after bound_ms (stats and logs printed).
 */
double rr_wait_settled(const struct rr_nodes *c, unsigned mask, int alive, int64_t sum_want,
                       const struct rr_stat *base, int quiet_ms, int bound_ms);

/* The same, one poll at a time, for a test that acts between polls. */
struct rr_settle {
    unsigned mask;
    int alive;
    int64_t sum_want;
    const struct rr_stat *base;
    int quiet_ms;
    double first; /* when it began to hold, -1 */
    struct rr_stat st[RC_H_MAX_SERVERS], prev[RC_H_MAX_SERVERS];
};
void rr_settle_init(struct rr_settle *s, unsigned mask, int alive, int64_t sum_want,
                    const struct rr_stat *base, int quiet_ms);
/* 1 once settled (s->first is then when it began to hold). */
int rr_settle_poll(const struct rr_nodes *c, struct rr_settle *s);
/* What a poll that never settled saw: counts before and now, the logs. */
void rr_print_unsettled(const struct rr_nodes *c, const struct rr_settle *s, int bound_ms);

/* Ms from t0 to at (a time from rr_wait_settled), or -1 when at is. */
static inline double rr_since(double t0, double at)
{
    return at < 0 ? -1 : at - t0;
}

/* Until every node in mask sees `alive` members alive; ms or -1. */
double rr_wait_alive(const struct rr_nodes *c, unsigned mask, int alive, int bound_ms);

/* 1 when every node in mask lists member id in state. */
int rr_member_state_everywhere(const struct rr_nodes *c, unsigned mask, const char *id,
                               const char *state);
/* Until every node in mask lists member id in state; ms or -1. */
double rr_wait_member_state(const struct rr_nodes *c, unsigned mask, const char *id,
                            const char *state, int bound_ms);

/* keys= of the last log line of s containing needle; -1 when none. */
int64_t rr_log_keys(const struct rc_hserver *s, const char *needle);
/* Number of log lines of s containing needle. */
int rr_log_count(const struct rc_hserver *s, const char *needle);

#endif
