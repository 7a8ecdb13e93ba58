/*
 * test_swim.c - the SWIM/Lifeguard state machine on a fake clock and an
 * in-memory network of several instances (1 ms latency) that can kill,
 * mute, deafen, stall or partition nodes; plus the datagram and
 * push-pull codecs fed truncated, lying and random bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "buf.h"
#include "err.h"
#include "swim.h"

#define NMAX 8
#define QCAP 20000
#define BASE_ID 0x1000

struct pkt {
    int from, to;
    uint64_t at;
    size_t len;
    uint8_t data[RC_SWIM_MAX_DGRAM];
};

struct tnet;

struct tnode {
    struct tnet *net;
    struct rc_swim *s;
    int idx, up, deaf, mute, group;
    uint64_t stall_from, stall_until; /* no ticks, inbound held */
    uint64_t inc;                      /* persisted incarnation */
    /* what this node saw happen to node j: first time, 0 = never */
    uint64_t suspect_at[NMAX], dead_at[NMAX], left_at[NMAX], alive_at[NMAX];
    int ndead[NMAX];
    char last_why[NMAX][32];
    /* clocks: this node's wall clock is net->now + wall_skew; the last
     * clock sample it took of node j, and how many */
    int64_t wall_skew;
    int64_t offset[NMAX];
    uint32_t rtt[NMAX], nsamples[NMAX];
};

struct tnet {
    uint64_t now;
    int n;
    struct rc_swim_config cfg;
    struct tnode nodes[NMAX];
    struct pkt *q;
    size_t nq;
    size_t max_len;          /* largest datagram seen */
    uint64_t pings_to[NMAX]; /* PING/PING_REQ datagrams addressed to node j */
    struct rc_swim_out out;
};

static uint64_t node_id(int i) { return BASE_ID + (uint64_t)i; }

static int idx_of_id(uint64_t id)
{
    return id >= BASE_ID && id < BASE_ID + NMAX ? (int)(id - BASE_ID) : -1;
}

static void host_of(int i, char *buf, size_t len) { snprintf(buf, len, "10.0.0.%d", i + 1); }

static int idx_of_host(const char *h)
{
    int i;

    if (sscanf(h, "10.0.0.%d", &i) != 1 || i < 1 || i > NMAX)
        return -1;
    return i - 1;
}

static void on_changed(void *arg, const struct rc_member *m, enum rc_member_state old,
                       const char *why)
{
    struct tnode *nd = arg;
    int j = idx_of_id(m->id);
    uint64_t now = nd->net->now ? nd->net->now : 1;

    (void)old;
    if (j < 0)
        return;
    snprintf(nd->last_why[j], sizeof(nd->last_why[j]), "%s", why);
    if (m->state == RC_MEMBER_SUSPECT && !nd->suspect_at[j])
        nd->suspect_at[j] = now;
    if (m->state == RC_MEMBER_DEAD) {
        nd->ndead[j]++;
        if (!nd->dead_at[j])
            nd->dead_at[j] = now;
    }
    if (m->state == RC_MEMBER_LEFT && !nd->left_at[j])
        nd->left_at[j] = now;
    if (m->state == RC_MEMBER_ALIVE)
        nd->alive_at[j] = now;
}

static int on_save(void *arg, uint64_t inc)
{
    ((struct tnode *)arg)->inc = inc;
    return 0;
}

static uint64_t fake_wall(void *arg)
{
    const struct tnode *nd = arg;

    return (uint64_t)((int64_t)nd->net->now + 1700000000000LL + nd->wall_skew);
}

static void on_sample(void *arg, uint64_t id, int64_t offset_ms, uint32_t rtt_ms)
{
    struct tnode *nd = arg;
    int j = idx_of_id(id);

    assert_true(j >= 0);
    nd->offset[j] = offset_ms;
    nd->rtt[j] = rtt_ms;
    nd->nsamples[j]++;
}

static struct tnet *net_new(int n)
{
    struct tnet *net = calloc(1, sizeof(*net));

    assert_non_null(net);
    net->q = calloc(QCAP, sizeof(*net->q));
    assert_non_null(net->q);
    net->n = n;
    net->now = 1;
    rc_swim_config_defaults(&net->cfg);
    net->cfg.changed = on_changed;
    net->cfg.save_incarnation = on_save;
    return net;
}

/* Starts slot i's node (its address) with the given id. */
static void node_start_as(struct tnet *net, int i, uint64_t id, uint64_t inc, uint64_t seed)
{
    struct tnode *nd = &net->nodes[i];
    struct rc_swim_config cfg = net->cfg;
    struct rc_member self;

    rc_swim_free(nd->s);
    memset(&self, 0, sizeof(self));
    self.id = id;
    host_of(i, self.host, sizeof(self.host));
    self.client_port = 7400;
    self.peer_port = 7401;
    self.incarnation = inc;
    nd->net = net;
    nd->idx = i;
    nd->up = 1;
    nd->inc = inc;
    cfg.cb_arg = nd;
    assert_int_equal(rc_swim_new(&cfg, &self, seed * 131 + (uint64_t)i, net->now, &nd->s), 0);
}

static void node_start(struct tnet *net, int i, uint64_t inc, uint64_t seed)
{
    node_start_as(net, i, node_id(i), inc, seed);
}

static void net_free(struct tnet *net)
{
    int i;

    for (i = 0; i < NMAX; i++)
        rc_swim_free(net->nodes[i].s);
    free(net->q);
    free(net);
}

/* Queues what node `from` produced; drops what a dead, mute or
 * partitioned sender could not get out. */
static void flush(struct tnet *net, int from)
{
    struct tnode *src = &net->nodes[from];
    uint32_t k;

    for (k = 0; k < net->out.n; k++) {
        const struct rc_swim_dgram *d = &net->out.d[k];
        int to = idx_of_host(d->host);
        struct pkt *p;

        assert_true(d->len <= RC_SWIM_MAX_DGRAM);
        if (d->len > net->max_len)
            net->max_len = d->len;
        if (to < 0 || to >= net->n || d->port != 7401 || !src->up || src->mute)
            continue;
        if (d->data[3] == RC_SWIM_PING || d->data[3] == RC_SWIM_PING_REQ)
            net->pings_to[to]++;
        assert_true(net->nq < QCAP);
        p = &net->q[net->nq++];
        p->from = from;
        p->to = to;
        p->at = net->now + 1;
        p->len = d->len;
        memcpy(p->data, d->data, d->len);
    }
    net->out.n = 0;
}

static int stalled(const struct tnode *nd, uint64_t now)
{
    return now >= nd->stall_from && now < nd->stall_until;
}

static void deliver(struct tnet *net)
{
    size_t i, keep = 0;
    char host[32];

    for (i = 0; i < net->nq; i++) {
        struct pkt *p = &net->q[i];
        struct tnode *dst = &net->nodes[p->to];

        if (p->at > net->now || (dst->up && stalled(dst, net->now))) {
            if (keep != i)
                net->q[keep] = *p;
            keep++;
            continue;
        }
        if (!dst->up || dst->deaf || net->nodes[p->from].group != dst->group)
            continue;
        host_of(p->from, host, sizeof(host));
        assert_int_equal(rc_swim_recv(dst->s, host, 7401, p->data, p->len, net->now, &net->out), 0);
        flush(net, p->to);
    }
    net->nq = keep;
}

/* One fake millisecond. A node whose stall just ended reports its timer
 * lateness first and reads what queued up before it ticks, as gossip.c
 * does. */
static void step(struct tnet *net)
{
    int i;

    net->now++;
    for (i = 0; i < net->n; i++) {
        struct tnode *nd = &net->nodes[i];
        uint64_t due;

        if (nd->up && nd->stall_until && net->now == nd->stall_until) {
            due = rc_swim_next_deadline(nd->s);
            if (due < net->now)
                rc_swim_note_late(nd->s, net->now - due, net->now);
        }
    }
    deliver(net);
    for (i = 0; i < net->n; i++) {
        struct tnode *nd = &net->nodes[i];

        if (!nd->up || stalled(nd, net->now) || rc_swim_next_deadline(nd->s) > net->now)
            continue;
        rc_swim_tick(nd->s, net->now, &net->out);
        flush(net, i);
    }
}

static void run_for(struct tnet *net, uint64_t ms)
{
    uint64_t end = net->now + ms;

    while (net->now < end)
        step(net);
}

static enum rc_member_state view(const struct tnet *net, int i, int j)
{
    const struct rc_member *m;
    uint32_t n = rc_swim_members(net->nodes[i].s, &m), k;

    for (k = 0; k < n; k++)
        if (m[k].id == node_id(j))
            return m[k].state;
    return (enum rc_member_state)-1;
}

static uint64_t incarnation_seen(const struct tnet *net, int i, int j)
{
    const struct rc_member *m;
    uint32_t n = rc_swim_members(net->nodes[i].s, &m), k;

    for (k = 0; k < n; k++)
        if (m[k].id == node_id(j))
            return m[k].incarnation;
    return 0;
}

/* Every up node sees every up node alive. */
static int all_alive(const struct tnet *net)
{
    int i, j;

    for (i = 0; i < net->n; i++)
        for (j = 0; j < net->n; j++)
            if (net->nodes[i].up && net->nodes[j].up && view(net, i, j) != RC_MEMBER_ALIVE)
                return 0;
    return 1;
}

static uint64_t run_until_alive(struct tnet *net, uint64_t limit)
{
    uint64_t start = net->now;

    while (!all_alive(net) && net->now - start < limit)
        step(net);
    return net->now - start;
}

static void join_all(struct tnet *net)
{
    char host[32];
    int i;

    host_of(0, host, sizeof(host));
    for (i = 1; i < net->n; i++) {
        if (!net->nodes[i].up)
            continue;
        assert_int_equal(rc_swim_join_seed(net->nodes[i].s, host, 7401, net->now, &net->out), 0);
        flush(net, i);
    }
}

static struct tnet *cluster(int n, uint64_t seed)
{
    struct tnet *net = net_new(n);
    int i;

    for (i = 0; i < n; i++)
        node_start(net, i, 1, seed);
    join_all(net);
    assert_true(run_until_alive(net, 10000) < 10000);
    return net;
}

static int ever_dead(const struct tnet *net)
{
    int i, j, c = 0;

    for (i = 0; i < net->n; i++)
        for (j = 0; j < net->n; j++)
            c += net->nodes[i].ndead[j];
    return c;
}

/* Worst case of swim.h, from the configuration: every survivor probes the
 * victim within 2(n-1)-1 periods, the probe takes one more, and then the
 * suspicion runs at most its maximum. */
static uint64_t detect_bound(const struct rc_swim_config *cfg, uint32_t n)
{
    return (uint64_t)(2 * (n - 1)) * cfg->probe_interval_ms +
           rc_swim_suspicion_timeout(cfg, n, 0);
}

/* ---- cluster behaviour ------------------------------------------------- */

static void test_converge(void **state)
{
    struct tnet *net = net_new(5);
    uint64_t t;
    int i;

    (void)state;
    for (i = 0; i < 5; i++)
        node_start(net, i, 1, 7);
    join_all(net);
    t = run_until_alive(net, 20000);
    printf("converged in %llu ms\n", (unsigned long long)t);
    assert_true(t <= 5000);
    for (i = 0; i < 5; i++) {
        const struct rc_member *m;

        assert_int_equal(rc_swim_members(net->nodes[i].s, &m), 5);
        assert_int_equal(m[0].id, node_id(i));
        assert_int_equal(rc_swim_live_count(net->nodes[i].s), 5);
    }
    run_for(net, 5000);
    assert_true(all_alive(net));
    assert_int_equal(ever_dead(net), 0);
    net_free(net);
}

static void test_kill_detected_within_bound(void **state)
{
    uint64_t bound = 0, worst = 0, seed;

    (void)state;
    for (seed = 1; seed <= 30; seed++) {
        struct tnet *net = cluster(5, seed);
        uint64_t t_kill;
        int i, suspected = 0;

        bound = detect_bound(&net->cfg, 5);
        run_for(net, 1000 + seed * 37); /* kill at a different point of the passes */
        t_kill = net->now;
        net->nodes[4].up = 0;
        run_for(net, bound + 2000);
        for (i = 0; i < 4; i++) {
            struct tnode *nd = &net->nodes[i];

            assert_true(nd->dead_at[4] > t_kill);
            assert_true(nd->dead_at[4] - t_kill <= bound);
            if (nd->dead_at[4] - t_kill > worst)
                worst = nd->dead_at[4] - t_kill;
            suspected += nd->suspect_at[4] != 0;
            assert_int_equal(view(net, i, 4), RC_MEMBER_DEAD);
            assert_int_equal(nd->ndead[0] + nd->ndead[1] + nd->ndead[2] + nd->ndead[3], 0);
        }
        assert_true(suspected >= 1); /* alive -> suspect -> dead */
        net_free(net);
    }
    printf("kill -9 detection: worst %llu ms over 30 runs, bound %llu ms\n",
           (unsigned long long)worst, (unsigned long long)bound);
    assert_true(bound <= 5000);
}

static void test_suspect_refuted(void **state)
{
    struct tnet *net = cluster(5, 3);
    uint64_t inc0 = incarnation_seen(net, 0, 2);
    int i, suspected = 0;

    (void)state;
    net->nodes[2].mute = 1; /* its acks are lost; it still hears everything */
    run_for(net, 700);
    net->nodes[2].mute = 0;
    run_for(net, 6000);
    for (i = 0; i < 5; i++) {
        if (i != 2)
            suspected += net->nodes[i].suspect_at[2] != 0;
        assert_int_equal(net->nodes[i].ndead[2], 0);
    }
    assert_true(suspected >= 1);
    assert_true(net->nodes[2].inc > inc0); /* refuted with a higher incarnation, saved */
    for (i = 0; i < 5; i++)
        assert_int_equal(incarnation_seen(net, i, 2), net->nodes[2].inc);
    assert_true(all_alive(net));
    assert_int_equal(ever_dead(net), 0);
    net_free(net);
}

static void test_graceful_leave(void **state)
{
    struct tnet *net = cluster(5, 4);
    uint64_t t_leave, pings;
    int i;

    (void)state;
    t_leave = net->now;
    rc_swim_leave(net->nodes[3].s, net->now, &net->out);
    flush(net, 3);
    assert_int_equal(view(net, 3, 3), RC_MEMBER_LEFT);
    run_for(net, 50);
    for (i = 0; i < 5; i++) {
        if (i == 3)
            continue;
        /* at once, not after a suspicion timeout */
        assert_true(net->nodes[i].left_at[3] > t_leave);
        assert_true(net->nodes[i].left_at[3] - t_leave <= 5);
        assert_int_equal(view(net, i, 3), RC_MEMBER_LEFT);
        assert_int_equal(net->nodes[i].suspect_at[3], 0);
    }
    assert_int_equal(rc_swim_leave_pending(net->nodes[3].s), 0);
    pings = net->pings_to[3];
    run_for(net, 10000);
    assert_int_equal(net->pings_to[3], pings); /* nobody probes it any more */
    assert_int_equal(ever_dead(net), 0);
    net_free(net);
}

static void test_restart_rejoins(void **state)
{
    struct tnet *net = cluster(5, 5);
    char seed_host[32];
    uint64_t old_inc;
    int i;

    (void)state;
    host_of(0, seed_host, sizeof(seed_host));
    /* crash, declared dead, restart with a higher persisted incarnation */
    old_inc = net->nodes[4].inc;
    net->nodes[4].up = 0;
    run_for(net, 6000);
    for (i = 0; i < 4; i++)
        assert_int_equal(view(net, i, 4), RC_MEMBER_DEAD);
    node_start(net, 4, old_inc + 1, 99);
    assert_int_equal(rc_swim_join_seed(net->nodes[4].s, seed_host, 7401, net->now, &net->out), 0);
    flush(net, 4);
    assert_true(run_until_alive(net, 5000) < 5000);
    for (i = 0; i < 4; i++)
        assert_string_equal(net->nodes[i].last_why[4], "alive again");
    /* graceful leave, then restart: re-admitted as a new join */
    rc_swim_leave(net->nodes[3].s, net->now, &net->out);
    flush(net, 3);
    run_for(net, 1000);
    for (i = 0; i < 5; i++)
        if (i != 3)
            assert_int_equal(view(net, i, 3), RC_MEMBER_LEFT);
    node_start(net, 3, net->nodes[3].inc + 1, 98);
    assert_int_equal(rc_swim_join_seed(net->nodes[3].s, seed_host, 7401, net->now, &net->out), 0);
    flush(net, 3);
    assert_true(run_until_alive(net, 5000) < 5000);
    assert_string_equal(net->nodes[0].last_why[3], "joined");
    net_free(net);
}

/* Dead members are kept (they count for quorums) until an operator forgets
 * them; left ones are reaped after the tombstone time. FORGET refuses live
 * members and this node, and spreads "left" to everyone. */
static void test_forget_and_reap(void **state)
{
    struct tnet *net;
    int i;

    (void)state;
    net = net_new(5);
    net->cfg.tombstone_ms = 20000;
    for (i = 0; i < 5; i++)
        node_start(net, i, 1, 7);
    join_all(net);
    assert_true(run_until_alive(net, 5000) < 5000);
    net->nodes[4].up = 0;
    run_for(net, 6000);
    for (i = 0; i < 4; i++)
        assert_int_equal(view(net, i, 4), RC_MEMBER_DEAD);
    run_for(net, 30000); /* past the tombstone time: dead ones stay */
    for (i = 0; i < 4; i++)
        assert_int_equal(view(net, i, 4), RC_MEMBER_DEAD);
    assert_int_equal(rc_swim_forget(net->nodes[0].s, node_id(3), net->now), RC_EINVAL);
    assert_int_equal(rc_swim_forget(net->nodes[0].s, node_id(0), net->now), RC_EINVAL);
    assert_int_equal(rc_swim_forget(net->nodes[0].s, BASE_ID + 7, net->now), RC_ENOTFOUND);
    assert_int_equal(rc_swim_forget(net->nodes[0].s, node_id(4), net->now), 0);
    assert_int_equal(rc_swim_forget(net->nodes[0].s, node_id(4), net->now), RC_ENOTFOUND);
    run_for(net, 2000);
    for (i = 0; i < 4; i++) {
        assert_int_equal(view(net, i, 4), RC_MEMBER_LEFT);
        assert_string_equal(net->nodes[i].last_why[4], i == 0 ? "forgotten" : "left");
    }
    run_for(net, 25000); /* left ones are reaped */
    for (i = 0; i < 4; i++)
        assert_int_equal((int)view(net, i, 4), -1);
    for (i = 0; i < 4; i++) /* only the killed node was ever declared dead */
        assert_int_equal(net->nodes[i].ndead[0] + net->nodes[i].ndead[1] +
                             net->nodes[i].ndead[2] + net->nodes[i].ndead[3], 0);
    net_free(net);
}

/* A new id alive at a dead member's address retires the dead one as
 * "left" (replaced) everywhere, without an operator. */
static void test_replaced_at_address(void **state)
{
    struct tnet *net = cluster(5, 11);
    char seed_host[32];
    int i;

    (void)state;
    host_of(0, seed_host, sizeof(seed_host));
    net->nodes[4].up = 0;
    run_for(net, 6000);
    for (i = 0; i < 4; i++)
        assert_int_equal(view(net, i, 4), RC_MEMBER_DEAD);
    node_start_as(net, 4, BASE_ID + 7, 1, 5); /* same address, a new id */
    assert_int_equal(rc_swim_join_seed(net->nodes[4].s, seed_host, 7401, net->now, &net->out), 0);
    flush(net, 4);
    run_for(net, 3000);
    for (i = 0; i < 5; i++) {
        assert_int_equal(view(net, i, 7), RC_MEMBER_ALIVE);
        if (i < 4)
            assert_int_equal(view(net, i, 4), RC_MEMBER_LEFT);
    }
    net_free(net);
}

static void partition(struct tnet *net, int split)
{
    int i;

    for (i = 0; i < net->n; i++)
        net->nodes[i].group = i >= split;
}

static int halves_dead(const struct tnet *net, int split)
{
    int i, j;

    for (i = 0; i < net->n; i++)
        for (j = 0; j < net->n; j++)
            if ((i >= split) != (j >= split) && view(net, i, j) != RC_MEMBER_DEAD)
                return 0;
    return 1;
}

static void test_partition_heals_by_dead_probes(void **state)
{
    struct tnet *net = cluster(5, 6);
    uint64_t t;

    (void)state;
    partition(net, 3);
    run_for(net, 8000);
    assert_true(halves_dead(net, 3));
    partition(net, 99);
    t = run_until_alive(net, 15000);
    printf("partition healed by dead probes in %llu ms\n", (unsigned long long)t);
    assert_true(t < 15000);
    run_for(net, 5000);
    assert_true(all_alive(net));
    net_free(net);
}

static void push_pull(struct tnet *net, int client, int server)
{
    struct rc_buf a, b;

    rc_buf_init(&a, 1 << 20);
    rc_buf_init(&b, 1 << 20);
    assert_int_equal(rc_swim_encode_state(net->nodes[client].s, &a), 0);
    assert_int_equal(
        rc_swim_merge_state(net->nodes[server].s, rc_buf_rptr(&a), rc_buf_used(&a), net->now), 0);
    assert_int_equal(rc_swim_encode_state(net->nodes[server].s, &b), 0);
    assert_int_equal(
        rc_swim_merge_state(net->nodes[client].s, rc_buf_rptr(&b), rc_buf_used(&b), net->now), 0);
    rc_buf_close(&a);
    rc_buf_close(&b);
}

static void test_partition_heals_by_push_pull(void **state)
{
    struct tnet *net = net_new(5);
    uint64_t t;
    int i;

    (void)state;
    net->cfg.dead_probe_interval_ms = 1000000000; /* only push-pull can heal */
    for (i = 0; i < 5; i++)
        node_start(net, i, 1, 8);
    join_all(net);
    assert_true(run_until_alive(net, 10000) < 10000);
    partition(net, 3);
    run_for(net, 8000);
    assert_true(halves_dead(net, 3));
    partition(net, 99);
    run_for(net, 3000);
    assert_true(halves_dead(net, 3)); /* nothing crosses on its own */
    push_pull(net, 3, 0);             /* one exchange, as gossip.c does over TCP */
    t = run_until_alive(net, 15000);
    printf("partition healed by one push-pull in %llu ms\n", (unsigned long long)t);
    assert_true(t < 15000);
    net_free(net);
}

static void test_lifeguard_stall(void **state)
{
    struct tnet *net = cluster(5, 9);
    uint32_t lhm_max = 0;
    uint64_t t;

    (void)state;
    run_for(net, 3000);
    assert_int_equal(rc_swim_lhm(net->nodes[0].s), 0);
    /* node 0's loop stalls 800 ms: no ticks, inbound queued */
    net->nodes[0].stall_from = net->now + 1;
    net->nodes[0].stall_until = net->now + 801;
    run_for(net, 800);
    for (t = 0; t < 5; t++) { /* the stall ends: lateness noted, then the mail */
        step(net);
        if (rc_swim_lhm(net->nodes[0].s) > lhm_max)
            lhm_max = rc_swim_lhm(net->nodes[0].s);
    }
    assert_true(lhm_max >= 1);
    run_for(net, 8000);
    assert_int_equal(ever_dead(net), 0); /* not declared dead, declares no one dead */
    assert_true(all_alive(net));
    net_free(net);
}

static void test_lifeguard_missed_acks(void **state)
{
    struct tnet *net = cluster(5, 10);
    uint32_t lhm_max = 0;
    uint64_t t;

    (void)state;
    run_for(net, 3000);
    net->nodes[1].deaf = 1; /* hears no acks, no nacks */
    for (t = 0; t < 800; t++) {
        step(net);
        if (rc_swim_lhm(net->nodes[1].s) > lhm_max)
            lhm_max = rc_swim_lhm(net->nodes[1].s);
    }
    net->nodes[1].deaf = 0;
    assert_true(lhm_max >= 3);
    assert_true(rc_swim_probe_interval(net->nodes[1].s) > net->cfg.probe_interval_ms);
    run_for(net, 8000);
    assert_int_equal(ever_dead(net), 0);
    assert_true(all_alive(net));
    run_for(net, 20000);
    assert_int_equal(rc_swim_lhm(net->nodes[1].s), 0); /* healthy again */
    net_free(net);
}

static void test_note_late(void **state)
{
    struct tnet *net = net_new(1);
    struct rc_swim *s;

    (void)state;
    node_start(net, 0, 1, 1);
    s = net->nodes[0].s;
    rc_swim_note_late(s, net->cfg.late_threshold_ms - 1, 10);
    assert_int_equal(rc_swim_lhm(s), 0);
    rc_swim_note_late(s, 200, 10);
    assert_int_equal(rc_swim_lhm(s), 1);
    assert_int_equal(rc_swim_probe_timeout(s), 2 * net->cfg.probe_timeout_ms);
    assert_int_equal(rc_swim_probe_interval(s), 2 * net->cfg.probe_interval_ms);
    for (int i = 0; i < 20; i++)
        rc_swim_note_late(s, 1000, 10);
    assert_int_equal(rc_swim_lhm(s), RC_SWIM_LHM_MAX);
    net_free(net);
}

static void test_suspicion_timeout_formula(void **state)
{
    struct rc_swim_config cfg;

    (void)state;
    rc_swim_config_defaults(&cfg);
    /* n = 5: min = 4 * 1 * 300, max = 2 * min, k = 3 */
    assert_int_equal(rc_swim_suspicion_timeout(&cfg, 5, 0), 2400);
    assert_int_equal(rc_swim_suspicion_timeout(&cfg, 5, 3), 1200);
    assert_int_equal(rc_swim_suspicion_timeout(&cfg, 5, 7), 1200);
    /* c = 1: 2400 - 1200 * log 2 / log 4 = 1800 */
    assert_int_equal(rc_swim_suspicion_timeout(&cfg, 5, 1), 1800);
    /* n = 2: nobody can confirm, k = 0: straight to the minimum */
    assert_int_equal(rc_swim_suspicion_timeout(&cfg, 2, 0), 1200);
    /* n = 100: log10 scales the minimum by 2 */
    assert_int_equal(rc_swim_suspicion_timeout(&cfg, 100, 3), 2400);
    assert_true(rc_swim_suspicion_timeout(&cfg, 1000, 3) >= 3599 &&
                rc_swim_suspicion_timeout(&cfg, 1000, 3) <= 3600);
}

/* ---- clocks ---------------------------------------------------------------- */

/* Stamped pings and acks measure every member's clock: node 2 runs 20 s
 * ahead, and the one-hop-each-way simulated network is symmetric, so the
 * NTP arithmetic is exact to the millisecond. Nobody dies of the skew
 * (swim itself does not look at clocks). */
static void test_clock_offsets_measured(void **state)
{
    struct tnet *net = net_new(3);
    int i, j;

    (void)state;
    net->cfg.wall_ms = fake_wall;
    net->cfg.clock_sample = on_sample;
    net->nodes[2].wall_skew = 20000;
    net->nodes[1].wall_skew = -300;
    for (i = 0; i < 3; i++)
        node_start(net, i, 1, 7);
    join_all(net);
    assert_true(run_until_alive(net, 10000) < 10000);
    run_for(net, 5000);
    assert_int_equal(ever_dead(net), 0);
    for (i = 0; i < 3; i++)
        for (j = 0; j < 3; j++) {
            int64_t want = net->nodes[j].wall_skew - net->nodes[i].wall_skew;

            if (i == j)
                continue;
            assert_true(net->nodes[i].nsamples[j] >= 3); /* one per probe of j */
            assert_true(net->nodes[i].offset[j] >= want - 1 && net->nodes[i].offset[j] <= want + 1);
            assert_true(net->nodes[i].rtt[j] <= 3);
        }
    net_free(net);
}

/* Nodes that do not stamp (older, or no wall clock given) and nodes that
 * do get along: nobody dies, which needs an ACK to an unstamped PING to be
 * unstamped (a stamped one would outgrow the PING, padded by the old node
 * to the unstamped ACK's size, and be dropped: with two nodes there is no
 * relay to save the probe). The stamping ones measure each other only. */
static void test_clock_stamp_compat(void **state)
{
    struct tnet *net;
    int i, j, n;

    (void)state;
    for (n = 2; n <= 3; n++) {
        net = net_new(n);
        for (i = 0; i < n; i++) {
            net->cfg.wall_ms = i == 0 ? NULL : fake_wall;
            net->cfg.clock_sample = i == 0 ? NULL : on_sample;
            node_start(net, i, 1, 11);
        }
        join_all(net);
        assert_true(run_until_alive(net, 10000) < 10000);
        run_for(net, 8000);
        assert_int_equal(ever_dead(net), 0);
        for (i = 0; i < n; i++) /* not even suspected: every direct ack arrived */
            for (j = 0; j < n; j++)
                assert_true(net->nodes[i].suspect_at[j] == 0);
        assert_true(all_alive(net));
        assert_int_equal(net->nodes[1].nsamples[0], 0);
        if (n == 3) {
            assert_true(net->nodes[1].nsamples[2] > 0 && net->nodes[2].nsamples[1] > 0);
            assert_int_equal(net->nodes[2].nsamples[0], 0);
        }
        net_free(net);
    }
}

/* ---- incarnation rules on one instance ---------------------------------- */

struct solo {
    struct rc_swim *s;
    uint64_t saved;
    int changes;
    char why[32];
    struct rc_swim_out out;
};

static void solo_changed(void *arg, const struct rc_member *m, enum rc_member_state old,
                         const char *why)
{
    struct solo *so = arg;

    (void)m;
    (void)old;
    so->changes++;
    snprintf(so->why, sizeof(so->why), "%s", why);
}

static int solo_save(void *arg, uint64_t inc)
{
    ((struct solo *)arg)->saved = inc;
    return 0;
}

static struct solo *solo_new(uint64_t id, uint32_t max_members)
{
    struct solo *so = calloc(1, sizeof(*so));
    struct rc_swim_config cfg;
    struct rc_member self;

    assert_non_null(so);
    rc_swim_config_defaults(&cfg);
    cfg.changed = solo_changed;
    cfg.save_incarnation = solo_save;
    cfg.cb_arg = so;
    cfg.max_members = max_members;
    memset(&self, 0, sizeof(self));
    self.id = id;
    strcpy(self.host, "10.9.9.9");
    self.peer_port = 7401;
    self.incarnation = 10;
    assert_int_equal(rc_swim_new(&cfg, &self, 1, 1, &so->s), 0);
    return so;
}

static void solo_free(struct solo *so)
{
    rc_swim_free(so->s);
    free(so);
}

static struct rc_swim_rec rec(uint64_t id, const char *host, uint64_t inc,
                              enum rc_member_state st)
{
    struct rc_swim_rec r;

    memset(&r, 0, sizeof(r));
    r.id = id;
    r.host = host;
    r.host_len = (uint32_t)strlen(host);
    r.peer_port = 7401;
    r.client_port = 7400;
    r.incarnation = inc;
    r.state = st;
    r.by = id;
    return r;
}

/* A PING from member 0xB0 carrying one update. */
static int feed(struct solo *so, struct rc_swim_rec up)
{
    static struct rc_swim_msg m;
    uint8_t buf[RC_SWIM_MAX_DGRAM];
    size_t len;

    memset(&m, 0, sizeof(m));
    m.type = RC_SWIM_PING;
    m.seq = 1;
    m.from = rec(0xB0, "10.1.1.1", 1, RC_MEMBER_ALIVE);
    m.target_id = 0;
    m.nupdates = 1;
    m.updates[0] = up;
    assert_int_equal(rc_swim_encode(&m, buf, sizeof(buf), &len), 0);
    /* Padded as a real node pads a PING to a seed (trailing bin element),
     * since an ACK is never larger than its PING. */
    buf[RC_SWIM_HDR]++;
    buf[len++] = 0xc5;
    buf[len++] = 1;
    buf[len++] = 0;
    memset(buf + len, 0, 256);
    len += 256;
    so->out.n = 0;
    return rc_swim_recv(so->s, "10.1.1.1", 7401, buf, len, 100, &so->out);
}

static const struct rc_member *member(const struct solo *so, uint64_t id)
{
    const struct rc_member *m;
    uint32_t n = rc_swim_members(so->s, &m), i;

    for (i = 0; i < n; i++)
        if (m[i].id == id)
            return &m[i];
    return NULL;
}

static void expect(struct solo *so, struct rc_swim_rec up, uint64_t inc, enum rc_member_state st)
{
    const struct rc_member *m;

    assert_int_equal(feed(so, up), 0);
    m = member(so, up.id);
    assert_non_null(m);
    assert_int_equal(m->incarnation, inc);
    assert_int_equal(m->state, st);
}

/* The stamp on the wire: PING and ACK carry it as a fifth element, which
 * older decoders skip as an extra; padding after it (or without it) is
 * not mistaken for one; STATE carries it third. */
static void test_clock_stamp_codec(void **state)
{
    struct rc_swim_msg *m = calloc(1, sizeof(*m)), *d = calloc(1, sizeof(*d));
    uint8_t buf[RC_SWIM_MAX_DGRAM + 8];
    uint64_t from, wall;
    uint32_t live;
    struct rc_buf st;
    size_t len;
    int t;

    (void)state;
    assert_non_null(m);
    assert_non_null(d);
    for (t = RC_SWIM_PING; t <= RC_SWIM_NACK; t++) {
        memset(m, 0, sizeof(*m));
        m->type = (enum rc_swim_type)t;
        m->seq = 5;
        m->from = rec(0xB0, "b", 1, RC_MEMBER_ALIVE);
        m->target_host = "a";
        m->target_host_len = 1;
        m->wall_ms = 1765000000123ULL;
        assert_int_equal(rc_swim_encode(m, buf, sizeof(buf), &len), 0);
        assert_int_equal(rc_swim_decode(buf, len, d), 0);
        /* only PING and ACK carry it */
        assert_true(d->wall_ms == (t == RC_SWIM_PING || t == RC_SWIM_ACK ? m->wall_ms : 0));
        if (t == RC_SWIM_PING) {
            /* a padding bin after the stamp, as send_dgram appends */
            assert_int_equal(buf[RC_SWIM_HDR], 0x95);
            buf[RC_SWIM_HDR] = 0x96;
            memcpy(buf + len, "\xc5\x00\x02\x00\x00", 5);
            assert_int_equal(rc_swim_decode(buf, len + 5, d), 0);
            assert_true(d->wall_ms == m->wall_ms);
            /* an old node's padded PING: bin in fifth place, no stamp */
            m->wall_ms = 0;
            assert_int_equal(rc_swim_encode(m, buf, sizeof(buf), &len), 0);
            assert_int_equal(buf[RC_SWIM_HDR], 0x94);
            buf[RC_SWIM_HDR] = 0x95;
            memcpy(buf + len, "\xc5\x00\x02\x00\x00", 5);
            assert_int_equal(rc_swim_decode(buf, len + 5, d), 0);
            assert_true(d->wall_ms == 0);
        }
    }
    /* STATE: stamped with the configured wall clock, or not at all */
    {
        struct solo *a = solo_new(0xA0, 8);
        struct rc_swim_config cfg;
        struct rc_member self;
        struct rc_swim *s2;
        struct tnode nd;
        struct tnet net;

        rc_buf_init(&st, 1 << 16);
        assert_int_equal(rc_swim_encode_state(a->s, &st), 0);
        assert_int_equal(rc_swim_state_peek(rc_buf_rptr(&st), rc_buf_used(&st), &from, &wall, &live), 0);
        assert_true(from == 0xA0 && wall == 0 && live == 1);
        memset(&nd, 0, sizeof(nd));
        memset(&net, 0, sizeof(net));
        net.now = 5;
        nd.net = &net;
        rc_swim_config_defaults(&cfg);
        cfg.wall_ms = fake_wall;
        cfg.cb_arg = &nd;
        memset(&self, 0, sizeof(self));
        self.id = 0xA1;
        strcpy(self.host, "a1");
        assert_int_equal(rc_swim_new(&cfg, &self, 1, 5, &s2), 0);
        rc_buf_reset(&st);
        assert_int_equal(rc_swim_encode_state(s2, &st), 0);
        assert_int_equal(rc_swim_state_peek(rc_buf_rptr(&st), rc_buf_used(&st), &from, &wall, &live), 0);
        assert_true(from == 0xA1 && wall == 1700000000005ULL && live == 1);
        /* and an old node merges it, the stamp skipped as an extra */
        assert_int_equal(rc_swim_merge_state(a->s, rc_buf_rptr(&st), rc_buf_used(&st), 10), 0);
        assert_int_equal(member(a, 0xA1)->state, RC_MEMBER_ALIVE);
        assert_true(rc_swim_state_peek(rc_buf_rptr(&st), rc_buf_used(&st) - 1, &from, &wall, &live) < 0);
        rc_swim_free(s2);
        rc_buf_close(&st);
        solo_free(a);
    }
    free(m);
    free(d);
}

/* A PING from `from` carrying one update, received at now. */
static int feed_from(struct solo *so, struct rc_swim_rec from, struct rc_swim_rec up, uint64_t now)
{
    static struct rc_swim_msg m;
    uint8_t buf[RC_SWIM_MAX_DGRAM];
    size_t len;

    memset(&m, 0, sizeof(m));
    m.type = RC_SWIM_PING;
    m.seq = 0; /* no ack wanted */
    m.from = from;
    m.nupdates = 1;
    m.updates[0] = up;
    assert_int_equal(rc_swim_encode(&m, buf, sizeof(buf), &len), 0);
    so->out.n = 0;
    return rc_swim_recv(so->s, "10.1.1.1", 7401, buf, len, now, &so->out);
}

/* A "dead" claim about a member we heard ourselves within suspicion_mult
 * (4) probe periods
 * is stale (its author was cut off: a partition, a refused clock) and is
 * taken as a suspicion, which the member refutes; later, or about a
 * member already suspect, it kills as before. */
static void test_stale_dead_claim(void **state)
{
    struct solo *a = solo_new(0xA0, 16);
    const struct rc_swim_rec b = rec(0xB0, "10.1.1.1", 3, RC_MEMBER_ALIVE),
                             c = rec(0xC0, "10.1.1.3", 1, RC_MEMBER_ALIVE),
                             d = rec(0xD0, "10.1.1.4", 1, RC_MEMBER_ALIVE);
    struct rc_swim_rec claim = rec(0xB0, "10.1.1.1", 3, RC_MEMBER_DEAD);
    const uint64_t window = RC_SWIM_SUSPICION_MULT * RC_SWIM_PROBE_INTERVAL_MS;

    (void)state;
    claim.by = 0xC0;
    assert_int_equal(feed_from(a, b, d, 1000), 0); /* heard b at 1000 */
    assert_int_equal(feed_from(a, c, claim, 1000 + window - 1), 0);
    assert_int_equal(member(a, 0xB0)->state, RC_MEMBER_SUSPECT);
    /* b refutes */
    assert_int_equal(feed_from(a, rec(0xB0, "10.1.1.1", 4, RC_MEMBER_ALIVE), d, 1000 + window), 0);
    assert_int_equal(member(a, 0xB0)->state, RC_MEMBER_ALIVE);
    /* not heard for the window: the claim kills */
    claim.incarnation = 4;
    assert_int_equal(feed_from(a, c, claim, 1000 + 2 * window), 0);
    assert_int_equal(member(a, 0xB0)->state, RC_MEMBER_DEAD);
    /* d: never heard directly (only of, through others): killed at once */
    claim = rec(0xD0, "10.1.1.4", 1, RC_MEMBER_DEAD);
    assert_int_equal(feed_from(a, c, claim, 1000 + 2 * window), 0);
    assert_int_equal(member(a, 0xD0)->state, RC_MEMBER_DEAD);
    /* a suspect heard lately still dies of a dead claim */
    assert_int_equal(feed_from(a, rec(0xE0, "10.1.1.5", 1, RC_MEMBER_ALIVE), d, 9000), 0);
    assert_int_equal(feed_from(a, c, rec(0xE0, "10.1.1.5", 1, RC_MEMBER_SUSPECT), 9001), 0);
    assert_int_equal(member(a, 0xE0)->state, RC_MEMBER_SUSPECT);
    assert_int_equal(feed_from(a, c, rec(0xE0, "10.1.1.5", 1, RC_MEMBER_DEAD), 9002), 0);
    assert_int_equal(member(a, 0xE0)->state, RC_MEMBER_DEAD);
    solo_free(a);
}

/* A member back from dead tells the deaths it declared while cut off; for
 * a while they only make suspects, even of members we have not heard. */
static void test_dead_claims_of_the_returned(void **state)
{
    struct solo *a = solo_new(0xA0, 16);
    const struct rc_swim_rec b = rec(0xB0, "10.1.1.1", 3, RC_MEMBER_ALIVE),
                             d = rec(0xD0, "10.1.1.4", 1, RC_MEMBER_ALIVE);
    struct rc_swim_rec claim, of_b;
    const uint64_t grace = 32 * RC_SWIM_PROBE_INTERVAL_MS, t = 100000;

    (void)state;
    assert_int_equal(feed_from(a, b, d, 1000), 0);
    claim = rec(0xC0, "10.1.1.3", 1, RC_MEMBER_DEAD);
    claim.by = 0xB0;
    assert_int_equal(feed_from(a, b, claim, 1001), 0);
    assert_int_equal(member(a, 0xC0)->state, RC_MEMBER_DEAD);
    /* c is back (refuted) at t, and says d is dead: d was last heard long
     * ago, yet the claim only makes it suspect */
    claim = rec(0xD0, "10.1.1.4", 1, RC_MEMBER_DEAD);
    claim.by = 0xC0;
    assert_int_equal(feed_from(a, rec(0xC0, "10.1.1.3", 2, RC_MEMBER_ALIVE), b, t), 0);
    assert_int_equal(member(a, 0xC0)->state, RC_MEMBER_ALIVE);
    assert_int_equal(feed_from(a, rec(0xC0, "10.1.1.3", 2, RC_MEMBER_ALIVE), claim, t + grace - 1),
                     0);
    assert_int_equal(member(a, 0xD0)->state, RC_MEMBER_SUSPECT);
    /* its suspicion first, then its death, of b (heard at 1000, long ago):
     * b, suspect by then, stays suspect (integration_skew under ASan: a
     * good node declared dead by its good peer) */
    of_b = rec(0xB0, "10.1.1.1", 3, RC_MEMBER_SUSPECT);
    of_b.by = 0xC0;
    assert_int_equal(feed_from(a, rec(0xC0, "10.1.1.3", 2, RC_MEMBER_ALIVE), of_b, t + 1), 0);
    assert_int_equal(member(a, 0xB0)->state, RC_MEMBER_SUSPECT);
    of_b.state = RC_MEMBER_DEAD;
    assert_int_equal(feed_from(a, rec(0xC0, "10.1.1.3", 2, RC_MEMBER_ALIVE), of_b, t + 2), 0);
    assert_int_equal(member(a, 0xB0)->state, RC_MEMBER_SUSPECT);
    /* d refutes; after the grace c's claims count again */
    assert_int_equal(feed_from(a, rec(0xD0, "10.1.1.4", 2, RC_MEMBER_ALIVE), b, t + grace), 0);
    claim.incarnation = 2;
    assert_int_equal(feed_from(a, rec(0xC0, "10.1.1.3", 2, RC_MEMBER_ALIVE), claim,
                               t + 2 * grace), 0);
    assert_int_equal(member(a, 0xD0)->state, RC_MEMBER_DEAD);
    solo_free(a);
}

static void test_incarnation_rules(void **state)
{
    struct solo *so = solo_new(0xA0, 64);
    const uint64_t X = 0xC0;
    const char *h = "x.example";

    (void)state;
    expect(so, rec(X, h, 5, RC_MEMBER_ALIVE), 5, RC_MEMBER_ALIVE);
    assert_string_equal(so->why, "joined");
    expect(so, rec(X, h, 4, RC_MEMBER_SUSPECT), 5, RC_MEMBER_ALIVE);  /* older: ignored */
    expect(so, rec(X, h, 5, RC_MEMBER_SUSPECT), 5, RC_MEMBER_SUSPECT); /* suspect@n > alive@n */
    expect(so, rec(X, h, 5, RC_MEMBER_ALIVE), 5, RC_MEMBER_SUSPECT);   /* alive@n < suspect@n */
    expect(so, rec(X, h, 6, RC_MEMBER_ALIVE), 6, RC_MEMBER_ALIVE);     /* alive@n+1 refutes */
    assert_string_equal(so->why, "refuted");
    expect(so, rec(X, h, 6, RC_MEMBER_DEAD), 6, RC_MEMBER_DEAD);       /* dead@n > alive@n */
    expect(so, rec(X, h, 6, RC_MEMBER_SUSPECT), 6, RC_MEMBER_DEAD);    /* dead@n > suspect@n */
    expect(so, rec(X, h, 6, RC_MEMBER_ALIVE), 6, RC_MEMBER_DEAD);
    expect(so, rec(X, h, 7, RC_MEMBER_SUSPECT), 7, RC_MEMBER_SUSPECT); /* newer suspect wins */
    expect(so, rec(X, h, 7, RC_MEMBER_DEAD), 7, RC_MEMBER_DEAD);       /* dead@n > suspect@n */
    expect(so, rec(X, h, 8, RC_MEMBER_ALIVE), 8, RC_MEMBER_ALIVE);
    assert_string_equal(so->why, "alive again");
    expect(so, rec(X, h, 8, RC_MEMBER_LEFT), 8, RC_MEMBER_LEFT);
    assert_string_equal(so->why, "left");
    /* left is final for its incarnation: stale gossip cannot resurrect */
    expect(so, rec(X, h, 8, RC_MEMBER_ALIVE), 8, RC_MEMBER_LEFT);
    expect(so, rec(X, h, 8, RC_MEMBER_SUSPECT), 8, RC_MEMBER_LEFT);
    expect(so, rec(X, h, 8, RC_MEMBER_DEAD), 8, RC_MEMBER_LEFT);
    expect(so, rec(X, h, 7, RC_MEMBER_ALIVE), 8, RC_MEMBER_LEFT);
    /* ... but a restart with a higher incarnation re-admits, at a new address */
    expect(so, rec(X, "x2.example", 9, RC_MEMBER_ALIVE), 9, RC_MEMBER_ALIVE);
    assert_string_equal(so->why, "joined");
    assert_string_equal(member(so, X)->host, "x2.example");
    /* same state, newer incarnation, new address: reported */
    expect(so, rec(X, "x3.example", 10, RC_MEMBER_ALIVE), 10, RC_MEMBER_ALIVE);
    assert_string_equal(so->why, "address changed");
    /* same incarnation, other address: ignored (conflict) */
    expect(so, rec(X, "x4.example", 10, RC_MEMBER_ALIVE), 10, RC_MEMBER_ALIVE);
    assert_string_equal(member(so, X)->host, "x3.example");
    /* unknown members announced dead or left become tombstones, silently */
    so->changes = 0;
    expect(so, rec(0xD0, h, 3, RC_MEMBER_LEFT), 3, RC_MEMBER_LEFT);
    expect(so, rec(0xD1, h, 3, RC_MEMBER_DEAD), 3, RC_MEMBER_DEAD);
    assert_int_equal(so->changes, 0);
    expect(so, rec(0xD0, h, 3, RC_MEMBER_ALIVE), 3, RC_MEMBER_LEFT);
    solo_free(so);
}

static void test_self_refutation(void **state)
{
    struct solo *so = solo_new(0xA0, 64);
    const struct rc_member *me;

    (void)state;
    me = member(so, 0xA0);
    assert_int_equal(me->incarnation, 10);
    assert_int_equal(feed(so, rec(0xA0, "10.9.9.9", 10, RC_MEMBER_ALIVE)), 0);
    assert_int_equal(me->incarnation, 10); /* nothing to refute */
    assert_int_equal(feed(so, rec(0xA0, "10.9.9.9", 9, RC_MEMBER_DEAD)), 0);
    assert_int_equal(me->incarnation, 10); /* older claim */
    assert_int_equal(feed(so, rec(0xA0, "10.9.9.9", 10, RC_MEMBER_SUSPECT)), 0);
    assert_int_equal(me->incarnation, 11);
    assert_int_equal(so->saved, 11); /* persisted before it is announced */
    assert_int_equal(rc_swim_lhm(so->s), 1);
    assert_int_equal(feed(so, rec(0xA0, "10.9.9.9", 14, RC_MEMBER_DEAD)), 0);
    assert_int_equal(me->incarnation, 15);
    assert_int_equal(me->state, RC_MEMBER_ALIVE);
    /* the ack announces it */
    assert_int_equal(so->out.n, 1);
    {
        struct rc_swim_msg *m = malloc(sizeof(*m));

        assert_int_equal(rc_swim_decode(so->out.d[0].data, so->out.d[0].len, m), 0);
        assert_int_equal(m->type, RC_SWIM_ACK);
        assert_int_equal(m->from.id, 0xA0);
        assert_int_equal(m->from.incarnation, 15);
        assert_int_equal(m->from.state, RC_MEMBER_ALIVE);
        assert_string_equal(so->out.d[0].host, "10.1.1.1");
        free(m);
    }
    /* leaving bumps and persists too, and is final */
    rc_swim_leave(so->s, 200, &so->out);
    assert_int_equal(me->state, RC_MEMBER_LEFT);
    assert_int_equal(me->incarnation, 16);
    assert_int_equal(so->saved, 16);
    assert_int_equal(feed(so, rec(0xA0, "10.9.9.9", 16, RC_MEMBER_SUSPECT)), 0);
    assert_int_equal(me->incarnation, 16);
    assert_int_equal(me->state, RC_MEMBER_LEFT);
    solo_free(so);
}

/* ---- push-pull ----------------------------------------------------------- */

static void test_push_pull_merge(void **state)
{
    struct solo *a = solo_new(0xA0, 64), *e = solo_new(0xE0, 64), *f = solo_new(0xF0, 64);
    struct rc_buf st;
    size_t cut;
    uint32_t n;
    const struct rc_member *m;

    (void)state;
    feed(a, rec(0xB5, "b.example", 3, RC_MEMBER_ALIVE));
    feed(a, rec(0xC0, "c.example", 4, RC_MEMBER_LEFT));
    feed(a, rec(0xD0, "d.example", 5, RC_MEMBER_DEAD));
    feed(a, rec(0xE0, "10.9.9.9", 10, RC_MEMBER_SUSPECT)); /* a suspects e */
    rc_buf_init(&st, 1 << 20);
    assert_int_equal(rc_swim_encode_state(a->s, &st), 0);
    {
        uint64_t from, wall;
        uint32_t live;

        assert_int_equal(
            rc_swim_state_peek(rc_buf_rptr(&st), rc_buf_used(&st), &from, &wall, &live), 0);
        assert_int_equal(live, 3); /* a, b0 (who fed it), b5: e, at a's own address, was
                                    * retired as replaced */
    }
    /* a bad payload changes nothing: truncated at every offset */
    for (cut = 0; cut < rc_buf_used(&st); cut++) {
        assert_true(rc_swim_merge_state(e->s, rc_buf_rptr(&st), cut, 100) < 0);
        assert_int_equal(rc_swim_members(e->s, &m), 1);
    }
    assert_int_equal(rc_swim_merge_state(e->s, rc_buf_rptr(&st), rc_buf_used(&st), 100), 0);
    n = rc_swim_members(e->s, &m);
    assert_int_equal(n, 6); /* e, a, the sender b0, b5, c, d: tombstones included */
    assert_int_equal(member(e, 0xA0)->state, RC_MEMBER_ALIVE);
    assert_int_equal(member(e, 0xB5)->state, RC_MEMBER_ALIVE);
    assert_int_equal(member(e, 0xC0)->state, RC_MEMBER_LEFT);
    assert_int_equal(member(e, 0xD0)->state, RC_MEMBER_DEAD);
    assert_int_equal(member(e, 0xE0)->incarnation, 11); /* e refuted a's suspicion */
    /* stale alive gossip about the left member cannot resurrect it */
    expect(e, rec(0xC0, "c.example", 4, RC_MEMBER_ALIVE), 4, RC_MEMBER_LEFT);
    /* a remote "dead" about a member we think alive only makes it suspect */
    feed(f, rec(0xD0, "d.example", 5, RC_MEMBER_ALIVE));
    assert_int_equal(rc_swim_merge_state(f->s, rc_buf_rptr(&st), rc_buf_used(&st), 100), 0);
    assert_int_equal(member(f, 0xD0)->state, RC_MEMBER_SUSPECT);
    /* wrong type or version */
    {
        uint8_t bad[8] = {'R', 'G', 2, RC_SWIM_STATE, 0x92, 0x01, 0x90};

        assert_int_equal(rc_swim_merge_state(f->s, bad, 7, 100), RC_EVERSION);
        bad[2] = RC_SWIM_VERSION;
        bad[3] = RC_SWIM_PING;
        assert_int_equal(rc_swim_merge_state(f->s, bad, 7, 100), RC_EPROTO);
        bad[3] = RC_SWIM_STATE;
        assert_int_equal(rc_swim_merge_state(f->s, bad, 7, 100), 0);
    }
    rc_buf_close(&st);
    solo_free(a);
    solo_free(e);
    solo_free(f);
}

/* ---- piggyback budget and retransmission --------------------------------- */

/* A STATE payload of n members with long host names, packed by hand. */
static int sink_write(void *data, const char *p, size_t n)
{
    return rc_buf_append(data, p, n) < 0 ? -1 : 0;
}

static void big_state(struct rc_buf *b, uint32_t n, size_t host_len)
{
    static const uint8_t hdr[4] = {'R', 'G', RC_SWIM_VERSION, RC_SWIM_STATE};
    msgpack_packer pk;
    char host[RC_HOST_MAX];
    uint32_t i;

    msgpack_packer_init(&pk, b, sink_write);
    rc_buf_append(b, hdr, 4);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint64(&pk, 0x77);
    msgpack_pack_array(&pk, n);
    for (i = 0; i < n; i++) {
        snprintf(host, sizeof(host), "n%03u", i);
        memset(host + 4, 'h', host_len - 4);
        host[host_len] = '\0';
        msgpack_pack_array(&pk, 7);
        msgpack_pack_uint64(&pk, 0x10000 + i);
        msgpack_pack_str_with_body(&pk, host, host_len);
        msgpack_pack_uint16(&pk, 7400);
        msgpack_pack_uint16(&pk, 7401);
        msgpack_pack_uint64(&pk, UINT64_MAX - i);
        msgpack_pack_uint8(&pk, i % 3 == 0 ? RC_MEMBER_SUSPECT : RC_MEMBER_ALIVE);
        msgpack_pack_uint64(&pk, UINT64_MAX);
    }
}

static void check_out(struct rc_swim_out *out, struct rc_swim_msg *m, uint32_t *most)
{
    uint32_t k;

    for (k = 0; k < out->n; k++) {
        assert_true(out->d[k].len <= RC_SWIM_MAX_DGRAM);
        assert_int_equal(rc_swim_decode(out->d[k].data, out->d[k].len, m), 0);
        if (m->nupdates > *most)
            *most = m->nupdates;
    }
    out->n = 0;
}

/* Runs so for ms of fake time with no network (every probe fails, so it
 * sends ping-reqs, suspects, declares dead) and answers pings; every
 * datagram must stay within RC_SWIM_MAX_DGRAM. */
static uint32_t churn(struct solo *so, struct rc_swim_msg *m, uint64_t ms)
{
    uint32_t most = 0;
    uint64_t now;

    for (now = 2; now < ms; now++) {
        if (rc_swim_next_deadline(so->s) <= now)
            rc_swim_tick(so->s, now, &so->out);
        check_out(&so->out, m, &most);
        if (now % 97 == 0) {
            assert_int_equal(feed(so, rec(0xB1, "10.1.1.2", 1, RC_MEMBER_ALIVE)), 0);
            check_out(&so->out, m, &most);
        }
    }
    return most;
}

static void test_piggyback_budget(void **state)
{
    struct rc_swim_msg *m = malloc(sizeof(*m));
    struct solo *so;
    struct rc_buf b;
    uint32_t most;

    (void)state;
    assert_non_null(m);
    rc_buf_init(&b, 1 << 20);
    /* 100 members with 250-byte names: ping-reqs name them too */
    so = solo_new(0xA0, 256);
    big_state(&b, 100, 250);
    assert_int_equal(rc_swim_merge_state(so->s, rc_buf_rptr(&b), rc_buf_used(&b), 1), 0);
    assert_int_equal(rc_swim_live_count(so->s), 101);
    most = churn(so, m, 20000);
    assert_true(most >= 3);
    solo_free(so);
    /* short names: the byte budget, not the count, is what stops packing */
    so = solo_new(0xA0, 256);
    rc_buf_reset(&b);
    big_state(&b, 100, 8);
    assert_int_equal(rc_swim_merge_state(so->s, rc_buf_rptr(&b), rc_buf_used(&b), 1), 0);
    most = churn(so, m, 5000);
    printf("piggyback: up to %u updates in one datagram\n", most);
    assert_true(most >= 25);
    rc_buf_close(&b);
    free(m);
    solo_free(so);
}

/* No amplification: whatever a node sends back to the source of a PING
 * is at most as large as the PING, however much gossip it has queued; a
 * forged PING too small for our record gets no answer; one large enough
 * gets an ACK carrying piggyback within its size. And our own PINGs are
 * padded to at least the smallest ACK they ask for. */
static void test_no_amplification(void **state)
{
    struct solo *so = solo_new(0xA0, 64);
    struct rc_swim_msg *m = calloc(1, sizeof(*m));
    uint8_t buf[RC_SWIM_MAX_DGRAM];
    static char hosts[40][32];
    size_t len, pad, k;
    uint32_t i, answered = 0, piggybacked = 0;

    (void)state;
    assert_non_null(m);
    for (i = 0; i < 40; i++) { /* plenty of queued gossip */
        snprintf(hosts[i], sizeof(hosts[i]), "node-%u.example.internal", i);
        m->type = RC_SWIM_PING;
        m->from = rec(0x100 + i, hosts[i], 1, RC_MEMBER_ALIVE);
        m->nupdates = 0;
        assert_int_equal(rc_swim_encode(m, buf, sizeof(buf), &len), 0);
        assert_int_equal(rc_swim_recv(so->s, hosts[i], 7401, buf, len, 100, &so->out), 0);
        so->out.n = 0;
    }
    for (pad = 0; pad < 600; pad += 7) {
        memset(m, 0, sizeof(*m));
        m->type = RC_SWIM_PING;
        m->seq = 9;
        m->from = rec(0xE0, "a", 1, RC_MEMBER_ALIVE); /* a forger's tiny record */
        assert_int_equal(rc_swim_encode(m, buf, sizeof(buf), &len), 0);
        if (pad > 0) {
            buf[RC_SWIM_HDR]++;
            buf[len++] = 0xc5;
            buf[len++] = (uint8_t)(pad >> 8);
            buf[len++] = (uint8_t)pad;
            memset(buf + len, 0, pad);
            len += pad;
        }
        so->out.n = 0;
        assert_int_equal(rc_swim_recv(so->s, "10.6.6.6", 9999, buf, len, 100, &so->out), 0);
        for (k = 0; k < so->out.n; k++) {
            if (strcmp(so->out.d[k].host, "10.6.6.6") != 0)
                continue;
            if (so->out.d[k].len > len)
                fail_msg("%zu-byte reply to a %zu-byte ping", so->out.d[k].len, len);
            answered++;
            assert_int_equal(rc_swim_decode(so->out.d[k].data, so->out.d[k].len, m), 0);
            piggybacked += m->nupdates > 0;
        }
    }
    printf("amplification: %u of 86 pings answered, %u with piggyback\n", answered, piggybacked);
    assert_true(answered > 70);     /* all but the ones smaller than our record */
    assert_true(piggybacked > 50);  /* larger pings get gossip back */
    /* Our own pings: at least as large as the smallest ACK they ask for
     * (the target's record; a seed's unknown one is taken at its largest). */
    so->out.n = 0;
    assert_int_equal(rc_swim_join_seed(so->s, "seed.example", 7401, 100, &so->out), 0);
    assert_int_equal(so->out.n, 1);
    assert_true(so->out.d[0].len >= 300);
    assert_int_equal(rc_swim_decode(so->out.d[0].data, so->out.d[0].len, m), 0);
    free(m);
    solo_free(so);
}

/* A relay's traffic on behalf of a PING_REQ (the PING it sends, the NACK
 * it sends back) carries piggyback only within the PING_REQ's size. */
static void test_relay_no_amplification(void **state)
{
    struct solo *so = solo_new(0xA0, 64);
    struct rc_swim_msg *m = calloc(1, sizeof(*m));
    static char hosts[40][32];
    uint8_t buf[RC_SWIM_MAX_DGRAM];
    size_t len, k, sizes[] = {0, 120, 400};
    uint32_t i, z, relayed = 0, nacks = 0;
    uint64_t now = 100;

    (void)state;
    assert_non_null(m);
    for (i = 0; i < 40; i++) {
        snprintf(hosts[i], sizeof(hosts[i]), "node-%u.example.internal", i);
        memset(m, 0, sizeof(*m));
        m->type = RC_SWIM_PING;
        m->from = rec(0x100 + i, hosts[i], 1, RC_MEMBER_ALIVE);
        assert_int_equal(rc_swim_encode(m, buf, sizeof(buf), &len), 0);
        assert_int_equal(rc_swim_recv(so->s, hosts[i], 7401, buf, len, now, &so->out), 0);
        so->out.n = 0;
    }
    for (z = 0; z < 3; z++) {
        memset(m, 0, sizeof(*m));
        m->type = RC_SWIM_PING_REQ;
        m->seq = 50 + z;
        m->from = rec(0xE0, "10.6.6.6", 1, RC_MEMBER_ALIVE);
        m->target_id = 0x105;
        m->target_host = hosts[5];
        m->target_host_len = (uint32_t)strlen(hosts[5]);
        m->target_port = 7401;
        m->nack_ms = 50;
        assert_int_equal(rc_swim_encode(m, buf, sizeof(buf), &len), 0);
        if (sizes[z] > 0) { /* padded like a real node's */
            buf[RC_SWIM_HDR]++;
            buf[len++] = 0xc5;
            buf[len++] = (uint8_t)(sizes[z] >> 8);
            buf[len++] = (uint8_t)sizes[z];
            memset(buf + len, 0, sizes[z]);
            len += sizes[z];
        }
        so->out.n = 0;
        assert_int_equal(rc_swim_recv(so->s, "10.6.6.6", 7401, buf, len, now, &so->out), 0);
        for (k = 0; k < so->out.n; k++) {
            assert_int_equal(rc_swim_decode(so->out.d[k].data, so->out.d[k].len, m), 0);
            if (m->type != RC_SWIM_PING)
                continue;
            relayed++;
            /* Piggyback within the request: anything beyond the request's
             * size is the relay's own fixed part, never gossip. */
            if (so->out.d[k].len > len && m->nupdates > 0)
                fail_msg("relayed ping of %zu bytes with %u updates for a %zu-byte request",
                         so->out.d[k].len, m->nupdates, len);
            if (sizes[z] >= 400)
                assert_true(so->out.d[k].len <= len);
        }
        now += 60; /* past nack_ms: the relay gives up and nacks */
        so->out.n = 0;
        rc_swim_tick(so->s, now, &so->out);
        for (k = 0; k < so->out.n; k++) {
            if (so->out.d[k].data[3] != RC_SWIM_NACK)
                continue;
            nacks++;
            assert_int_equal(rc_swim_decode(so->out.d[k].data, so->out.d[k].len, m), 0);
            if (so->out.d[k].len > len && m->nupdates > 0)
                fail_msg("%zu-byte nack with %u updates for a %zu-byte request",
                         so->out.d[k].len, m->nupdates, len);
        }
    }
    printf("relay: %u pings relayed, %u nacks\n", relayed, nacks);
    assert_int_equal(relayed, 3);
    assert_int_equal(nacks, 3);
    free(m);
    solo_free(so);
}

/* Counts how often one update goes out, piggybacked on acks. */
static void test_retransmit_limit(void **state)
{
    struct solo *so = solo_new(0xA0, 64);
    struct rc_swim_msg *m = malloc(sizeof(*m));
    uint32_t k, seen = 0, i, limit;

    (void)state;
    assert_non_null(m);
    feed(so, rec(0xB1, "b1", 1, RC_MEMBER_ALIVE));
    feed(so, rec(0xB2, "b2", 1, RC_MEMBER_ALIVE));
    /* live once c joins: self, the sender 0xB0, b1, b2, c = 5 */
    limit = RC_SWIM_RETRANSMIT_MULT * 3; /* ceil(log2(5 + 1)) = 3 */
    for (i = 0; i < 40; i++) {
        assert_int_equal(feed(so, rec(i == 0 ? 0xC0 : 0xB1, i == 0 ? "c.example" : "b1", 1,
                                      RC_MEMBER_ALIVE)),
                         0);
        for (k = 0; k < so->out.n; k++) {
            uint32_t u;

            assert_int_equal(rc_swim_decode(so->out.d[k].data, so->out.d[k].len, m), 0);
            for (u = 0; u < m->nupdates; u++)
                seen += m->updates[u].id == 0xC0;
        }
    }
    assert_int_equal(seen, limit);
    free(m);
    solo_free(so);
}

/* ---- decoder robustness -------------------------------------------------- */

static size_t valid_dgram(enum rc_swim_type type, uint8_t *buf, size_t cap)
{
    static struct rc_swim_msg m;
    size_t len;
    int i;

    memset(&m, 0, sizeof(m));
    m.type = type;
    m.seq = 77;
    m.from = rec(0xB0, "node-b.cluster.local", 3, RC_MEMBER_ALIVE);
    m.target_id = 0xC0;
    m.nupdates = 3;
    for (i = 0; i < 3; i++)
        m.updates[i] = rec(0xD0 + (uint64_t)i, "fe80::1%eth0", 9, (enum rc_member_state)i);
    m.target_host = "10.0.0.3";
    m.target_host_len = 8;
    m.target_port = 7401;
    m.nack_ms = 200;
    assert_int_equal(rc_swim_encode(&m, buf, cap, &len), 0);
    return len;
}

static void test_decode_roundtrip_and_truncation(void **state)
{
    struct rc_swim_msg *m = malloc(sizeof(*m));
    uint8_t buf[RC_SWIM_MAX_DGRAM];
    size_t len, cut;
    int t;

    (void)state;
    assert_non_null(m);
    for (t = RC_SWIM_PING; t <= RC_SWIM_NACK; t++) {
        len = valid_dgram((enum rc_swim_type)t, buf, sizeof(buf));
        assert_int_equal(rc_swim_decode(buf, len, m), 0);
        assert_int_equal(m->type, t);
        assert_int_equal(m->seq, 77);
        assert_int_equal(m->from.id, 0xB0);
        assert_int_equal(m->from.host_len, strlen("node-b.cluster.local"));
        assert_memory_equal(m->from.host, "node-b.cluster.local", m->from.host_len);
        assert_int_equal(m->target_id, 0xC0);
        assert_int_equal(m->nupdates, 3);
        assert_int_equal(m->updates[2].state, RC_MEMBER_DEAD);
        assert_int_equal(m->updates[1].incarnation, 9);
        if (t == RC_SWIM_PING_REQ) {
            assert_int_equal(m->target_port, 7401);
            assert_int_equal(m->nack_ms, 200);
            assert_memory_equal(m->target_host, "10.0.0.3", 8);
        }
        for (cut = 0; cut < len; cut++)
            assert_true(rc_swim_decode(buf, cut, m) < 0);
        buf[len] = 0xc0; /* trailing byte */
        assert_int_equal(rc_swim_decode(buf, len + 1, m), RC_EPROTO);
    }
    /* too small a buffer to encode into */
    assert_int_equal(rc_swim_encode(m, buf, 10, &len), RC_EBUFFER_FULL);
    free(m);
}

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    unsigned v;

    while (*hex) {
        if (*hex == ' ') {
            hex++;
            continue;
        }
        assert_int_equal(sscanf(hex, "%2x", &v), 1);
        out[n++] = (uint8_t)v;
        hex += 2;
    }
    return n;
}

static int dec_hex(const char *hex)
{
    static struct rc_swim_msg m;
    uint8_t buf[4096];

    return rc_swim_decode(buf, unhex(hex, buf), &m);
}

/* A PING body prefix: [seq=1, from=[0xB0,"h",0,1,2,0,0xB0], target=0, ... */
#define HDR "52 47 01 01 "
#define FROM "97 cc b0 a1 68 00 01 02 00 cc b0 "

static void test_decode_hostile(void **state)
{
    char hex[2048];
    size_t i;

    (void)state;
    assert_int_equal(dec_hex(HDR "94 01" FROM "00 90"), 0);
    /* header */
    assert_int_equal(dec_hex(""), RC_EPROTO);
    assert_int_equal(dec_hex("52 47 01"), RC_EPROTO);
    assert_int_equal(dec_hex("52 48 01 01 94 01" FROM "00 90"), RC_EPROTO);
    assert_int_equal(dec_hex("52 47 02 01 94 01" FROM "00 90"), RC_EVERSION);
    assert_int_equal(dec_hex("52 47 01 05 94 01" FROM "00 90"), RC_EPROTO); /* STATE in UDP */
    assert_int_equal(dec_hex("52 47 01 09 94 01" FROM "00 90"), RC_EPROTO);
    /* lying counts: body array, updates array, record array, str length */
    assert_int_equal(dec_hex(HDR "dd ff ff ff ff 01" FROM "00 90"), RC_EPROTO);
    assert_int_equal(dec_hex(HDR "94 01" FROM "00 dd ff ff ff ff"), RC_EPROTO);
    assert_int_equal(dec_hex(HDR "94 01" FROM "00 dc 00 81" FROM), RC_EPROTO); /* 129 > cap */
    assert_int_equal(dec_hex(HDR "94 01" FROM "00 dc ff ff" FROM), RC_EPROTO);
    assert_int_equal(dec_hex(HDR "94 01 97 cc b0 db ff ff ff ff 68 00 01 02 00 cc b0 00 90"),
                     RC_EPROTO);
    assert_int_equal(dec_hex(HDR "94 01 9f cc b0 a1 68 00 01 02 00 cc b0 00 90"), RC_EPROTO);
    /* bad fields: id 0, empty host, host with a space, state 4, port 65536, seq > 2^32 */
    assert_int_equal(dec_hex(HDR "94 01 97 00 a1 68 00 01 02 00 00 00 90"), RC_EPROTO);
    assert_int_equal(dec_hex(HDR "94 01 97 01 a0 00 01 02 00 00 00 90"), RC_EPROTO);
    assert_int_equal(dec_hex(HDR "94 01 97 01 a2 68 20 00 01 02 00 00 00 90"), RC_EPROTO);
    assert_int_equal(dec_hex(HDR "94 01 97 01 a1 68 00 01 02 04 00 00 90"), RC_EPROTO);
    assert_int_equal(dec_hex(HDR "94 01 97 01 a1 68 00 ce 00 01 00 00 02 00 00 00 90"),
                     RC_EPROTO);
    assert_int_equal(dec_hex(HDR "94 cf 00 00 00 01 00 00 00 00" FROM "00 90"), RC_EPROTO);
    /* wrong types */
    assert_int_equal(dec_hex(HDR "94 c0" FROM "00 90"), RC_EPROTO);
    assert_int_equal(dec_hex(HDR "94 01" FROM "a1 68 90"), RC_EPROTO);
    assert_int_equal(dec_hex(HDR "93 01" FROM "00"), RC_EPROTO); /* too few elements */
    /* extra trailing elements are skipped, but bounded */
    assert_int_equal(dec_hex(HDR "96 01" FROM "00 90 c3 81 a1 6b 92 01 02"), 0);
    assert_int_equal(dec_hex(HDR "95 01" FROM "00 90 91 91 91 91 91 91 01"), RC_EPROTO);
    assert_int_equal(dec_hex(HDR "95 01" FROM "00 90 c1"), RC_EPROTO);
    assert_int_equal(dec_hex(HDR "95 01" FROM "00 90 c6 ff ff ff ff"), RC_EPROTO);
    assert_int_equal(dec_hex(HDR "95 01" FROM "00 90 df ff ff ff ff"), RC_EPROTO);
    /* oversized host: 300 bytes (str16), then exactly 255 (accepted) */
    strcpy(hex, HDR "94 01 97 01 da 01 2c ");
    for (i = 0; i < 300; i++)
        strcat(hex, "61");
    strcat(hex, " 00 01 02 00 00 00 90");
    assert_int_equal(dec_hex(hex), RC_EPROTO);
    strcpy(hex, HDR "94 01 97 01 d9 ff ");
    for (i = 0; i < 255; i++)
        strcat(hex, "61");
    strcat(hex, " 00 01 02 00 00 00 90");
    assert_int_equal(dec_hex(hex), 0);
    strcpy(hex, HDR "94 01 97 01 da 01 00 ");
    for (i = 0; i < 256; i++)
        strcat(hex, "61");
    strcat(hex, " 00 01 02 00 00 00 90");
    assert_int_equal(dec_hex(hex), RC_EPROTO);
}

static uint64_t xs(uint64_t *st)
{
    *st ^= *st << 13;
    *st ^= *st >> 7;
    *st ^= *st << 17;
    return *st;
}

static void test_decode_garbage(void **state)
{
    struct solo *so = solo_new(0xA0, 64);
    struct rc_swim_msg *m = malloc(sizeof(*m));
    uint8_t buf[RC_SWIM_MAX_DGRAM + 64], valid[RC_SWIM_MAX_DGRAM];
    uint64_t st = 0x243f6a8885a308d3ULL;
    size_t len, vlen, j;
    int i, ok = 0;

    (void)state;
    assert_non_null(m);
    vlen = valid_dgram(RC_SWIM_PING_REQ, valid, sizeof(valid));
    for (i = 0; i < 20000; i++) {
        if (i % 2 == 0) { /* pure noise behind a valid header */
            len = xs(&st) % sizeof(buf);
            for (j = 0; j < len; j++)
                buf[j] = (uint8_t)xs(&st);
            if (len >= 4 && i % 4 == 0)
                memcpy(buf, "RG\x01\x01", 4);
        } else { /* a valid datagram with a few bytes flipped */
            memcpy(buf, valid, vlen);
            len = vlen;
            for (j = 0; j < 1 + xs(&st) % 4; j++)
                buf[xs(&st) % vlen] = (uint8_t)xs(&st);
        }
        if (rc_swim_decode(buf, len, m) == 0) {
            ok++;
            assert_true(m->nupdates <= RC_SWIM_MAX_UPDATES);
            assert_true(m->from.host_len > 0 && m->from.host_len < RC_HOST_MAX);
        }
        so->out.n = 0;
        (void)rc_swim_recv(so->s, "10.1.1.1", 7401, buf, len, 100 + (uint64_t)i, &so->out);
        if (len >= 4)
            buf[3] = RC_SWIM_STATE;
        (void)rc_swim_merge_state(so->s, buf, len, 100 + (uint64_t)i);
        if (rc_swim_next_deadline(so->s) <= 100 + (uint64_t)i)
            rc_swim_tick(so->s, 100 + (uint64_t)i, &so->out);
    }
    printf("garbage: %d of 20000 decoded\n", ok);
    free(m);
    solo_free(so);
}

static void test_table_full(void **state)
{
    struct solo *so = solo_new(0xA0, 4);
    const struct rc_member *m;

    (void)state;
    /* sender 0xB0 takes a slot: self, b0, then two more */
    feed(so, rec(0xC1, "c1", 1, RC_MEMBER_DEAD));
    feed(so, rec(0xC2, "c2", 1, RC_MEMBER_ALIVE));
    assert_int_equal(rc_swim_members(so->s, &m), 4);
    /* full: a new member evicts the tombstone */
    feed(so, rec(0xC3, "c3", 1, RC_MEMBER_ALIVE));
    assert_int_equal(rc_swim_members(so->s, &m), 4);
    assert_null(member(so, 0xC1));
    assert_non_null(member(so, 0xC3));
    /* full of live members: the newcomer is dropped */
    feed(so, rec(0xC4, "c4", 1, RC_MEMBER_ALIVE));
    assert_null(member(so, 0xC4));
    solo_free(so);
}

static void test_bad_config(void **state)
{
    struct rc_swim_config cfg;
    struct rc_member self;
    struct rc_swim *s = (struct rc_swim *)&cfg;

    (void)state;
    rc_swim_config_defaults(&cfg);
    memset(&self, 0, sizeof(self));
    self.id = 1;
    strcpy(self.host, "bad host");
    assert_int_equal(rc_swim_new(&cfg, &self, 1, 0, &s), RC_EINVAL);
    assert_null(s);
    strcpy(self.host, "ok");
    cfg.probe_timeout_ms = cfg.probe_interval_ms;
    assert_int_equal(rc_swim_new(&cfg, &self, 1, 0, &s), RC_EINVAL);
    rc_swim_config_defaults(&cfg);
    self.id = 0;
    assert_int_equal(rc_swim_new(&cfg, &self, 1, 0, &s), RC_EINVAL);
    assert_string_equal(rc_member_state_name(RC_MEMBER_SUSPECT), "suspect");
    assert_string_equal(rc_member_state_name((enum rc_member_state)9), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_converge),
        cmocka_unit_test(test_kill_detected_within_bound),
        cmocka_unit_test(test_suspect_refuted),
        cmocka_unit_test(test_graceful_leave),
        cmocka_unit_test(test_restart_rejoins),
        cmocka_unit_test(test_forget_and_reap),
        cmocka_unit_test(test_replaced_at_address),
        cmocka_unit_test(test_partition_heals_by_dead_probes),
        cmocka_unit_test(test_partition_heals_by_push_pull),
        cmocka_unit_test(test_lifeguard_stall),
        cmocka_unit_test(test_lifeguard_missed_acks),
        cmocka_unit_test(test_note_late),
        cmocka_unit_test(test_suspicion_timeout_formula),
        cmocka_unit_test(test_clock_offsets_measured),
        cmocka_unit_test(test_clock_stamp_compat),
        cmocka_unit_test(test_clock_stamp_codec),
        cmocka_unit_test(test_stale_dead_claim),
        cmocka_unit_test(test_dead_claims_of_the_returned),
        cmocka_unit_test(test_incarnation_rules),
        cmocka_unit_test(test_self_refutation),
        cmocka_unit_test(test_push_pull_merge),
        cmocka_unit_test(test_piggyback_budget),
        cmocka_unit_test(test_retransmit_limit),
        cmocka_unit_test(test_no_amplification),
        cmocka_unit_test(test_relay_no_amplification),
        cmocka_unit_test(test_decode_roundtrip_and_truncation),
        cmocka_unit_test(test_decode_hostile),
        cmocka_unit_test(test_decode_garbage),
        cmocka_unit_test(test_table_full),
        cmocka_unit_test(test_bad_config),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
