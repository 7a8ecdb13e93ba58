/*
 * test_rebalance.c - when the ring changes, the affected ranges move, and
 * only those.
 *
 * Real ringcache-server clusters on loopback (RF 3, 100-byte values loaded
 * with pipelined puts) go through a join, a graceful leave, a kill -9, a
 * rejoin on an old data directory, a join under full write load and a
 * join whose receiver crashes mid-stream. Each time the cluster must
 * settle with exactly RF copies of every key (ranges handed over are
 * really deleted), every value readable, and the keys streamed close to
 * the minimum: the keys the receiving node ends up holding. Tests 1-2 and
 * 3-4 share a cluster (a cmocka group): the second starts from the state
 * the first leaves. Measured figures are printed for `ctest -V`.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "codec.h"
#include "harness.h"
#include "rebal.h"
#include "ring.h"

/* A test needs 10-30 s; the alarm only turns a hang into a failure. */
#define TEST_TIMEOUT_S 100
#define NKEYS 20000
#define NEW_KEYS 1000
#define VAL_LEN 100
#define KEY_MAX 32
#define RF 3
/* Requests in flight per pipelined batch: far below the server's
 * per-connection cap of 1024 deferred requests. */
#define WINDOW 200
#define POLL_MS RR_POLL_MS
#define CONVERGE_MS 10000
/* Longer than --rebalance-delay (1 s): a cluster that just formed has
 * planned its last rebalance when nothing changed for this long. */
#define QUIET_MS 1500
/* Failure detection is ~5 s on 4-5 nodes (test_cluster); slack for load. */
#define DETECT_MS 15000
/* Bound on a rebalance of 20,000 keys at the default rate plus the
 * 1 s --rebalance-delay; a rate-limited one gets longer (see the tests). */
#define SETTLE_MS 30000
#define IO_MS 10000
/* Keys moved over the minimum: 5% of slack (a batch resent after a lost
 * ack), 20% when the receiver crashed mid-stream. */
#define MAX_MOVE_RATIO 1.05
#define MAX_RESUME_RATIO 1.2
#define MAX_NODES RC_H_MAX_SERVERS

/* Expected state of one key: the last acknowledged write. */
struct kstate {
    int gen;       /* value generation (0 = the loaded value) */
    int deleted;   /* last write was a delete */
    int uncertain; /* a write failed: either outcome is possible */
};

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness (harness.h) */
    struct rr_nodes c; /* the nodes described */
    int stage;  /* tests done on this cluster (groups of two) */
    int victim; /* node the first test of a group took out */
    int nkeys;  /* keys "k000000".. loaded, all of value generation 0 */
    int newer;  /* test_stray_cleanup: the loaded key given a newer value */
};

/* ---- fixture ---- */

/* One cluster per group; each test gets TEST_TIMEOUT_S. */
static int group_setup(void **state)
{
    *state = rc_h_fixture_new(sizeof(struct fixture), TEST_TIMEOUT_S);
    return *state != NULL ? 0 : -1;
}

/* ---- keys, values, pipelined batches ---- */

static size_t key_of(char *buf, const char *prefix, int i)
{
    return (size_t)snprintf(buf, KEY_MAX, "%s%06d", prefix, i);
}

/* VAL_LEN bytes (buf holds VAL_LEN + 1): "tag-g<gen>-k<i>-" then padding. */
static size_t val_of(char *buf, const char *tag, int gen, int i)
{
    int n = snprintf(buf, VAL_LEN + 1, "%s-g%d-k%06d-", tag, gen, i);
    memset(buf + n, 'a' + i % 26, (size_t)(VAL_LEN - n));
    buf[VAL_LEN] = '\0';
    return VAL_LEN;
}

/* Checks one GET reply against the expected state (NULL: generation 0).
 * 0 when as expected; otherwise a short description in why. */
static int check_get(const struct rc_result *res, const char *tag, const struct kstate *ks, int i,
                     char *why, size_t cap)
{
    char v[VAL_LEN + 1];
    size_t vl;
    if (ks != NULL && ks->uncertain)
        return 0;
    if (ks != NULL && ks->deleted) {
        if (res->err == RC_CLIENT_NOTFOUND)
            return 0;
        snprintf(why, cap, "deleted, got %s '%.*s' (resurrected)", rc_client_err_name(res->err),
                 res->has_value ? (int)(res->value_len < 24 ? res->value_len : 24) : 0,
                 res->has_value ? (const char *)res->value : "");
        return -1;
    }
    vl = val_of(v, tag, ks ? ks->gen : 0, i);
    if (res->err == 0 && res->has_value && res->value_len == vl && memcmp(res->value, v, vl) == 0)
        return 0;
    if (res->err != 0)
        snprintf(why, cap, "want gen %d, got %s (%s)%s", ks ? ks->gen : 0,
                 rc_client_err_name(res->err), res->message ? res->message : "",
                 res->err == RC_CLIENT_NOTFOUND ? " (lost)" : "");
    else
        snprintf(why, cap, "want gen %d, got '%.*s'%s", ks ? ks->gen : 0,
                 (int)(res->value_len < 24 ? res->value_len : 24), (const char *)res->value,
                 " (stale value)");
    return -1;
}

/*
 * Runs op (PUT or GET) on keys prefix+[from, to) through c at consistency
 * cl, WINDOW requests in flight. PUT writes generation 0 of tag; GET
 * expects ks[i] (NULL: generation 0 everywhere). Returns the number of
 * unexpected replies (the first five printed), or -1 on a connection error.
 */
static int batch(struct rc_client *c, int op, const char *prefix, int from, int to,
                 const char *tag, const struct kstate *ks, int cl)
{
    int sent = from, got = from, bad = 0;
    char k[KEY_MAX], v[VAL_LEN + 1], why[160];
    while (got < to) {
        struct rc_result res;
        int rv;
        while (sent < to && sent - got < WINDOW) {
            size_t kl = key_of(k, prefix, sent), vl = val_of(v, tag, 0, sent);
            rv = rc_client_send(c, op, k, kl, op == RC_CLIENT_PUT ? v : NULL,
                                op == RC_CLIENT_PUT ? vl : 0, 0, cl);
            if (rv != 0) {
                printf("batch: send: %s\n", rc_client_strerror(rv));
                return -1;
            }
            sent++;
        }
        rv = rc_client_recv(c, &res);
        if (rv != 0) {
            printf("batch: recv after %d replies: %s\n", got - from, rc_client_strerror(rv));
            return -1;
        }
        if (op == RC_CLIENT_GET) {
            if (check_get(&res, tag, ks ? &ks[got] : NULL, got, why, sizeof(why)) != 0 &&
                bad++ < 5)
                printf("batch: get %s%06d cl %d: %s\n", prefix, got, cl, why);
        } else if (res.err != 0 && bad++ < 5) {
            printf("batch: op %d %s%06d cl %d: %s (%s)\n", op, prefix, got, cl,
                   rc_client_err_name(res.err), res.message ? res.message : "");
        }
        got++;
    }
    return bad;
}

/* A fresh client on s, op on keys [from, to), freed again. */
static int batch_on(const struct rc_hserver *s, int op, const char *prefix, int from, int to,
                    const char *tag, const struct kstate *ks, int cl)
{
    struct rc_client *c = rc_h_client(s, IO_MS);
    int bad;
    if (c == NULL) {
        printf("batch: cannot connect to %s\n", s->addr);
        return -1;
    }
    bad = batch(c, op, prefix, from, to, tag, ks, cl);
    rc_client_free(c);
    return bad;
}

/* ---- statistics ---- */


/*
 * Describes `total` nodes (extra: arguments for all, or NULL), starts the
 * first `start` of them, waits until they see each other and have settled
 * on the empty ring, then loads NKEYS keys through node 1 and waits until
 * each is held RF times.
 */
static void start_loaded(struct fixture *f, int total, int start, const char *const *extra)
{
    struct rc_client *c;
    double t0;
    assert_int_equal(rc_h_cluster_new(&f->h, total, extra, f->c.nodes), 0);
    f->c.n = total;
    /* These tests count what ring changes move; periodic anti-entropy
     * passes (tested in test_cluster.c) would add sends of their own. */
    for (int i = 0; i < total; i++) {
        assert_int_equal(rc_h_server_add_arg(f->c.nodes[i], "--anti-entropy-interval"), 0);
        assert_int_equal(rc_h_server_add_arg(f->c.nodes[i], "0"), 0);
    }
    assert_int_equal(rc_h_cluster_start(&f->h, f->c.nodes, start), 0);
    assert_true(rr_wait_alive(&f->c, rr_all(start), start, CONVERGE_MS) >= 0);
    assert_true(rr_wait_settled(&f->c, rr_all(start), start, 0, NULL, QUIET_MS, SETTLE_MS) >= 0);

    c = rc_h_client(f->c.nodes[0], IO_MS);
    assert_non_null(c);
    t0 = rc_h_now_ms();
    assert_int_equal(batch(c, RC_CLIENT_PUT, "k", 0, NKEYS, "v", NULL, 0), 0);
    printf("rebalance: loaded %d keys of %d bytes through node 1 in %.0f ms\n", NKEYS, VAL_LEN,
           rc_h_now_ms() - t0);
    rc_client_free(c);
    f->nkeys = NKEYS;
    assert_true(rr_wait_settled(&f->c, rr_all(start), start, (int64_t)RF * NKEYS, NULL, 0,
                             SETTLE_MS) >=
                0);
}

/* ---- 1. join ---- */

/*
 * The join/leave cluster sweeps for strays every LEAVE_SWEEP_MS and streams
 * at LEAVE_RATE, so a leaving node's hand-off (~1.2 MB) lasts ~2.5 s, over
 * which every receiver runs several cleanups. The hand-off arrives before
 * the receivers learn that the node leaves: a cleanup that took it for
 * strays would drop it, and the others would stream it back once the leave
 * is known (the leave ratio catches that).
 */
#define LEAVE_SWEEP_MS "300"
#define LEAVE_RATE "500k"

/* A fifth node joins four holding 20,000 keys: it receives exactly its
 * share, the old owners delete what they handed over, nothing else moves. */
static void test_join(void **state)
{
    struct fixture *f = *state;
    struct rr_stat base[MAX_NODES], st[MAX_NODES];
    const int nn = 4; /* the new node */
    int64_t moved, minimum;
    double t0, settle, ratio;
    const char *const extra[] = {"--cleanup-interval", LEAVE_SWEEP_MS, "--stream-rate",
                                 LEAVE_RATE, NULL};

    start_loaded(f, 5, 4, extra);
    assert_int_equal(rr_snap(&f->c, rr_all(4), base), 0);
    base[nn].rebalances = -1; /* a new node adopts the ring: it may plan nothing */

    t0 = rc_h_now_ms();
    assert_int_equal(rc_h_server_start(&f->h, f->c.nodes[nn]), 0);
    settle = rr_since(t0, rr_wait_settled(&f->c, rr_all(5), 5, (int64_t)RF * NKEYS, base, 0, SETTLE_MS));
    assert_int_equal(rr_snap(&f->c, rr_all(5), st), 0);
    moved = RR_SUM(&f->c, rr_all(5), st, out) - RR_SUM(&f->c, rr_all(5), base, out);
    minimum = st[nn].keys;
    ratio = minimum > 0 ? (double)moved / (double)minimum : -1;
    printf("rebalance: join: settled %.0f ms after the 5th node was started; keys moved %lld "
           "(received: %lld), minimum (keys the new node holds) %lld, ratio %.4f (bound %.2f); "
           "sum of keys %lld; keys dropped by the old owners %lld\n",
           settle, (long long)moved, (long long)st[nn].in, (long long)minimum, ratio,
           MAX_MOVE_RATIO,
           (long long)RR_SUM(&f->c, rr_all(5), st, keys),
           (long long)(RR_SUM(&f->c, rr_all(4), st, dropped) - RR_SUM(&f->c, rr_all(4), base, dropped)));
    rr_print_stats(&f->c, rr_all(5), "after the join");
    assert_true(settle >= 0);
    assert_int_equal(RR_SUM(&f->c, rr_all(5), st, keys), (int64_t)RF * NKEYS);
    assert_true(minimum > 0);
    /* No writes ran: the new node's keys can only have come by streaming,
     * and what it received is the cost seen from its side. (A sender
     * ignores the ack of a batch whose plan was replaced, so its count
     * may fall short of what arrived; hence both sides are checked.) */
    assert_true(st[nn].in >= minimum);
    assert_true((double)st[nn].in <= MAX_MOVE_RATIO * (double)minimum);
    assert_true(ratio <= MAX_MOVE_RATIO);

    t0 = rc_h_now_ms();
    assert_int_equal(batch_on(f->c.nodes[nn], RC_CLIENT_GET, "k", 0, NKEYS, "v", NULL, 0), 0);
    printf("rebalance: join: all %d keys read through the new node in %.0f ms\n", NKEYS,
           rc_h_now_ms() - t0);
    f->stage = 1;
    f->h.passed = 1;
}

/* ---- 2. leave ---- */

/* SIGTERM to a node of the five: it hands its ranges to their next owners
 * (and only those), exits 0, and every key is still held exactly RF times. */
static void test_leave(void **state)
{
    struct fixture *f = *state;
    struct rr_stat base[MAX_NODES], st[MAX_NODES];
    const int lv = 1; /* node 2: holds data, is not the seed */
    const unsigned rest = rr_all(5) & ~(1u << lv);
    int64_t out_before, minimum, logged, received;
    double t0, exit_ms, settle;
    int status;

    assert_int_equal(f->stage, 1); /* needs the settled 5-node state of test_join */
    assert_int_equal(rr_snap(&f->c, rr_all(5), base), 0);
    out_before = base[lv].out;
    minimum = base[lv].keys;

    t0 = rc_h_now_ms();
    status = rc_h_server_stop(f->c.nodes[lv], 35000);
    exit_ms = rc_h_now_ms() - t0;
    settle = rr_since(t0, rr_wait_settled(&f->c, rest, 4, (int64_t)RF * NKEYS, base, 0, SETTLE_MS));
    assert_int_equal(rr_snap(&f->c, rest, st), 0);
    logged = rr_log_keys(f->c.nodes[lv], "rebalance finished cause=\"this node is leaving\"");
    received = RR_SUM(&f->c, rest, st, in) - RR_SUM(&f->c, rest, base, in);
    printf("rebalance: leave: node %d exited with status %d %.0f ms after SIGTERM; the others "
           "settled %.0f ms after it; it held %lld keys (the minimum), its handoff sent %lld "
           "(log; stream_keys_out before SIGTERM %lld), the others received %lld; ratio "
           "%.4f (bound %.2f)\n",
           lv + 1, status, exit_ms, settle, (long long)minimum, (long long)logged,
           (long long)out_before, (long long)received,
           minimum > 0 ? (double)logged / (double)minimum : -1.0, MAX_MOVE_RATIO);
    rr_print_stats(&f->c, rest, "after the leave");
    assert_int_equal(status, 0);
    assert_true(settle >= 0);
    assert_int_equal(RR_SUM(&f->c, rest, st, keys), (int64_t)RF * NKEYS);
    assert_true(minimum > 0);
    assert_true(logged >= minimum); /* every key it held went to its new owner */
    assert_true((double)logged <= MAX_MOVE_RATIO * (double)minimum);
    /* The others found the handoff in place: the whole leave cost no more. */
    assert_true(received >= logged);
    assert_true((double)received <= MAX_MOVE_RATIO * (double)minimum);

    t0 = rc_h_now_ms();
    assert_int_equal(batch_on(f->c.nodes[0], RC_CLIENT_GET, "k", 0, NKEYS, "v", NULL, 0), 0);
    assert_int_equal(
        batch_on(f->c.nodes[4], RC_CLIENT_GET, "k", 0, NKEYS, "v", NULL, RC_CLIENT_CL_ALL), 0);
    printf("rebalance: leave: all %d keys read (quorum via node 1, ALL via node 5) in %.0f ms\n",
           NKEYS, rc_h_now_ms() - t0);
    f->stage = 2;
    f->h.passed = 1;
}

/* ---- 3. failure ---- */

/* kill -9 of one of four: once it is declared dead the survivors copy its
 * ranges among themselves until every key has RF copies again. */
static void test_failure(void **state)
{
    struct fixture *f = *state;
    struct rr_stat base[MAX_NODES], st[MAX_NODES];
    const int v = 2; /* node 3 */
    const unsigned rest = rr_all(4) & ~(1u << v);
    double t0, dead, restored;
    char id[24];

    start_loaded(f, 4, 4, NULL);
    assert_int_equal(rr_snap(&f->c, rr_all(4), base), 0);
    assert_int_equal(rc_h_node_id(f->c.nodes[v], id, sizeof(id)), 0);

    t0 = rc_h_now_ms();
    rc_h_server_kill(f->c.nodes[v]);
    dead = rr_wait_member_state(&f->c, rest, id, "dead", DETECT_MS);
    restored = rr_since(t0, rr_wait_settled(&f->c, rest, 3, (int64_t)RF * NKEYS, base, 0, SETTLE_MS));
    assert_int_equal(rr_snap(&f->c, rest, st), 0);
    printf("rebalance: failure: node %d (%lld keys) killed; dead everywhere after %.0f ms, RF "
           "restored (sum of keys %lld = %d x %d) %.0f ms after the kill; keys streamed %lld\n",
           v + 1, (long long)base[v].keys, dead, (long long)RR_SUM(&f->c, rest, st, keys), RF, NKEYS,
           restored, (long long)(RR_SUM(&f->c, rest, st, out) - RR_SUM(&f->c, rest, base, out)));
    rr_print_stats(&f->c, rest, "after the failure");
    assert_true(dead >= 0);
    assert_true(restored >= 0);
    assert_int_equal(RR_SUM(&f->c, rest, st, keys), (int64_t)RF * NKEYS);

    /* The dead node still counts: QUORUM reads (2 of its 3 home replicas)
     * find every key; ALL would need it. */
    t0 = rc_h_now_ms();
    assert_int_equal(
        batch_on(f->c.nodes[0], RC_CLIENT_GET, "k", 0, NKEYS, "v", NULL, RC_CLIENT_CL_QUORUM),
        0);
    printf("rebalance: failure: all %d keys read with QUORUM in %.0f ms\n", NKEYS,
           rc_h_now_ms() - t0);
    f->victim = v;
    f->stage = 1;
    f->h.passed = 1;
}

/* ---- 4. rejoin ---- */

/*
 * The killed node comes back on its old data directory after 1,000 keys
 * were written without it: what it still has is found in place and not
 * sent again, so it receives well under half a copy. The 1,000 keys fall
 * into most of its ring-diff ranges (~570 ranges of ~27 keys for ~750 new
 * keys it owns), so a comparison that can only skip whole ranges whose
 * digests match resends most of its data (~80%, measured); passing needs
 * a finer comparison of the ranges that differ.
 */
static void test_rejoin(void **state)
{
    struct fixture *f = *state;
    struct rr_stat base[MAX_NODES], st[MAX_NODES];
    const int v = f->victim;
    const unsigned rest = rr_all(4) & ~(1u << v);
    const int total = NKEYS + NEW_KEYS;
    int64_t in_place;
    double t0, settle, share;

    assert_int_equal(f->stage, 1); /* needs test_failure's state */
    assert_int_equal(batch_on(f->c.nodes[0], RC_CLIENT_PUT, "k", NKEYS, total, "v", NULL, 0), 0);
    assert_true(rr_wait_settled(&f->c, rest, 3, (int64_t)RF * total, NULL, 0, SETTLE_MS) >= 0);
    assert_int_equal(rr_snap(&f->c, rest, base), 0);
    /* Its counters start again, and it may plan nothing at all: the ring
     * it saved before the kill is the ring it comes back to. */
    base[v].rebalances = -1;

    t0 = rc_h_now_ms();
    assert_int_equal(rc_h_server_start(&f->h, f->c.nodes[v]), 0);
    settle = rr_since(t0, rr_wait_settled(&f->c, rr_all(4), 4, (int64_t)RF * total, base, 0, SETTLE_MS));
    assert_int_equal(rr_snap(&f->c, rr_all(4), st), 0);
    in_place = RR_SUM(&f->c, rest, st, in_place) - RR_SUM(&f->c, rest, base, in_place);
    share = st[v].keys > 0 ? (double)st[v].in / (double)st[v].keys : -1;
    printf("rebalance: rejoin: settled %.0f ms after the restart; node %d holds %lld keys, %lld "
           "were streamed to it (%.1f%% of what it holds, bound 50%%); ranges found in place "
           "by the senders: %lld; it sent %lld (its own stale copies); sum of keys %lld\n",
           settle, v + 1, (long long)st[v].keys, (long long)st[v].in, 100.0 * share,
           (long long)in_place, (long long)st[v].out, (long long)RR_SUM(&f->c, rr_all(4), st, keys));
    rr_print_stats(&f->c, rr_all(4), "after the rejoin");
    rr_print_log(&f->c, rr_all(4));
    assert_true(settle >= 0);
    assert_int_equal(RR_SUM(&f->c, rr_all(4), st, keys), (int64_t)RF * total);
    assert_true(in_place > 0);
    assert_true(st[v].keys > 0);
    assert_true(share < 0.5);

    t0 = rc_h_now_ms();
    assert_int_equal(
        batch_on(f->c.nodes[v], RC_CLIENT_GET, "k", 0, total, "v", NULL, RC_CLIENT_CL_ALL), 0);
    printf("rebalance: rejoin: all %d keys read with ALL through node %d in %.0f ms\n", total,
           v + 1, rc_h_now_ms() - t0);
    f->stage = 2;
    f->h.passed = 1;
}

/* ---- 5. writes during a rebalance ---- */

#define W_BATCH 32           /* writes in flight per round */
#define W_MAX_KEYS 200000    /* loaded keys plus those the writer adds */
#define W_MAX_SAMPLES 2000000
#define W_BEFORE_MS 2500     /* load measured before the join */
#define SLOW_RATE "100k"     /* ~400 KB per sender: about 4 s of streaming */
/* A sanity bound, not a target: the replica timeout (1 s). Measured p99
 * is 40-250 ms on a 2-core machine running other tests too. */
#define P99_BOUND_MS 1000

/* The writer's view: what it wrote last per key, and its latencies. */
struct writer {
    const struct rc_hserver *targets[MAX_NODES];
    int ntargets;
    struct kstate *ks;
    int nkeys;            /* keys "k.." 0..nkeys-1 exist or existed */
    atomic_int phase;     /* 0 before the join, 1 during, 2 stop */
    float *lat[2];        /* ms, per phase */
    size_t nlat[2];
    double phase_ms[2];   /* time spent writing in each phase */
    long errors;
    char first_err[200];
};

struct wop {
    int key, op, gen;
};

/* Picks the next W_BATCH distinct keys: mostly overwrites of existing keys
 * in a sweeping cursor, one new key in eight, one delete in sixteen. */
static int plan_round(struct writer *w, int *cursor, struct wop *ops)
{
    int j, n0 = w->nkeys;
    for (j = 0; j < W_BATCH; j++) {
        struct wop *o = &ops[j];
        if (j % 8 == 7 && w->nkeys < W_MAX_KEYS) {
            o->key = w->nkeys++;
            o->op = RC_CLIENT_PUT;
            o->gen = 1;
            continue;
        }
        o->key = (*cursor)++ % n0;
        o->op = j % 16 == 3 ? RC_CLIENT_DEL : RC_CLIENT_PUT;
        o->gen = w->ks[o->key].gen + 1;
    }
    return W_BATCH;
}

static void note_error(struct writer *w, const struct wop *o, const char *what)
{
    if (w->errors++ == 0)
        snprintf(w->first_err, sizeof(w->first_err), "%s k%06d: %s",
                 o->op == RC_CLIENT_DEL ? "del" : "put", o->key, what);
    w->ks[o->key].uncertain = 1;
}

/* Sends one round through c; returns -1 when the connection broke. */
static int write_round(struct writer *w, struct rc_client *c, int *cursor, int ph)
{
    struct wop ops[W_BATCH];
    char k[KEY_MAX], v[VAL_LEN + 1];
    int n = plan_round(w, cursor, ops), j;
    double t0;
    for (j = 0; j < n; j++) {
        size_t kl = key_of(k, "k", ops[j].key), vl = val_of(v, "v", ops[j].gen, ops[j].key);
        int put = ops[j].op == RC_CLIENT_PUT;
        if (rc_client_send(c, ops[j].op, k, kl, put ? v : NULL, put ? vl : 0, 0, 0) != 0) {
            for (; j < n; j++)
                note_error(w, &ops[j], "send failed");
            return -1;
        }
    }
    t0 = rc_h_now_ms();
    if (rc_client_flush(c) != 0) {
        for (j = 0; j < n; j++)
            note_error(w, &ops[j], "flush failed");
        return -1;
    }
    for (j = 0; j < n; j++) {
        struct rc_result res;
        struct kstate *ks = &w->ks[ops[j].key];
        int rv = rc_client_recv(c, &res);
        if (rv != 0) {
            for (; j < n; j++)
                note_error(w, &ops[j], rc_client_err_name(rv));
            return -1;
        }
        if (w->nlat[ph] < W_MAX_SAMPLES)
            w->lat[ph][w->nlat[ph]++] = (float)(rc_h_now_ms() - t0);
        if (res.err == 0 || (ops[j].op == RC_CLIENT_DEL && res.err == RC_CLIENT_NOTFOUND)) {
            ks->gen = ops[j].gen;
            ks->deleted = ops[j].op == RC_CLIENT_DEL;
            ks->uncertain = 0;
        } else {
            note_error(w, &ops[j], rc_client_err_name(res.err));
        }
    }
    return 0;
}

/* Rounds through the targets in turn until phase 2; at most one round in
 * flight, so the last acknowledged write of a key is its last write. */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct rc_client *cs[MAX_NODES] = {0};
    int cursor = 0, round, i, ph;
    for (round = 0; (ph = atomic_load(&w->phase)) < 2; round++) {
        struct rc_client **c = &cs[round % w->ntargets];
        double t0 = rc_h_now_ms();
        if (*c == NULL)
            *c = rc_h_client(w->targets[round % w->ntargets], IO_MS);
        if (*c == NULL) {
            if (w->errors++ == 0)
                snprintf(w->first_err, sizeof(w->first_err), "cannot connect to %s",
                         w->targets[round % w->ntargets]->addr);
            rc_h_sleep_ms(10);
            continue;
        }
        if (write_round(w, *c, &cursor, ph) != 0) {
            rc_client_free(*c);
            *c = NULL;
        }
        w->phase_ms[ph] += rc_h_now_ms() - t0;
    }
    for (i = 0; i < w->ntargets; i++)
        rc_client_free(cs[i]);
    return NULL;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static double pct(const float *v, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return n == 0 ? -1 : v[i];
}

/* Prints one phase's figures; returns its p99 (ms), -1 without samples. */
static double print_latency(const struct writer *w, int ph, const char *name)
{
    size_t n = w->nlat[ph];
    qsort(w->lat[ph], n, sizeof(float), cmp_float);
    printf("rebalance: writes: %-6s the join: %zu writes in %.0f ms (%.0f/s), latency p50 %.2f "
           "ms, p99 %.2f ms, max %.2f ms\n",
           name, n, w->phase_ms[ph], w->phase_ms[ph] > 0 ? 1000.0 * (double)n / w->phase_ms[ph] : 0,
           pct(w->lat[ph], n, 0.5), pct(w->lat[ph], n, 0.99), n ? (double)w->lat[ph][n - 1] : -1);
    return pct(w->lat[ph], n, 0.99);
}

/* A fifth node joins under a slow stream rate while writes (overwrites,
 * new keys, deletes) run at full speed through the four others: afterwards
 * every node answers with the last value written to every key. */
static void test_writes_during_rebalance(void **state)
{
    struct fixture *f = *state;
    const char *const extra[] = {"--stream-rate", SLOW_RATE, NULL};
    struct rr_stat base[MAX_NODES], st[MAX_NODES];
    struct writer *w = calloc(1, sizeof(*w));
    const int nn = 4;
    pthread_t th;
    double t0, settle, copies, lat_before, lat_during;
    int i, bad = 0, deleted = 0, nkeys;
    long errors;

    assert_non_null(w);
    w->ks = calloc(W_MAX_KEYS, sizeof(*w->ks));
    w->lat[0] = malloc(W_MAX_SAMPLES * sizeof(float));
    w->lat[1] = malloc(W_MAX_SAMPLES * sizeof(float));
    assert_true(w->ks && w->lat[0] && w->lat[1]);
    start_loaded(f, 5, 4, extra);
    w->nkeys = NKEYS;
    for (i = 0; i < 4; i++)
        w->targets[w->ntargets++] = f->c.nodes[i];
    assert_int_equal(rr_snap(&f->c, rr_all(4), base), 0);
    base[nn].rebalances = -1; /* a new node adopts the ring: it may plan nothing */

    assert_int_equal(pthread_create(&th, NULL, writer_main, w), 0);
    rc_h_sleep_ms(W_BEFORE_MS);
    atomic_store(&w->phase, 1);
    t0 = rc_h_now_ms();
    if (rc_h_server_start(&f->h, f->c.nodes[nn]) == 0)
        settle = rr_since(t0, rr_wait_settled(&f->c, rr_all(5), 5, -1, base, 0, 60000));
    else
        settle = -1;
    atomic_store(&w->phase, 2);
    pthread_join(th, NULL);

    assert_int_equal(rr_snap(&f->c, rr_all(5), st), 0);
    for (i = 0; i < w->nkeys; i++)
        deleted += w->ks[i].deleted;
    nkeys = w->nkeys;
    errors = w->errors;
    printf("rebalance: writes: join under load settled %.0f ms after the 5th node started "
           "(--stream-rate %s); the new node received %lld keys by streaming; %d keys written "
           "(%d of them deleted last), %ld write errors%s%s\n",
           settle, SLOW_RATE, (long long)st[nn].in, nkeys, deleted, errors,
           errors ? ", first: " : "", w->first_err);
    lat_before = print_latency(w, 0, "before");
    lat_during = print_latency(w, 1, "during");
    rr_print_stats(&f->c, rr_all(5), "after the join under load");

    t0 = rc_h_now_ms();
    for (i = 0; i < 5 && settle >= 0; i++) {
        int b = batch_on(f->c.nodes[i], RC_CLIENT_GET, "k", 0, nkeys, "v", w->ks,
                         RC_CLIENT_CL_ALL);
        if (b != 0)
            printf("rebalance: writes: node %d: %d keys without their last write\n", i + 1, b);
        bad += b != 0;
    }
    printf("rebalance: writes: %d keys checked with ALL through each of the 5 nodes in %.0f ms\n",
           nkeys, rc_h_now_ms() - t0);
    free(w->ks);
    free(w->lat[0]);
    free(w->lat[1]);
    free(w);
    /* Every live key on exactly RF nodes: nothing left behind on an old
     * owner, nothing missing on the new one (ALL reads repair stragglers). */
    copies = rr_wait_settled(&f->c, rr_all(5), 5, (int64_t)RF * (nkeys - deleted), NULL, 0, 10000);
    printf("rebalance: writes: sum of keys %s %d x %d live keys; p99 %.2f ms before, %.2f ms "
           "during (bound %d ms)\n",
           copies >= 0 ? "=" : "!=", RF, nkeys - deleted, lat_before, lat_during, P99_BOUND_MS);
    assert_true(settle >= 0);
    /* The stream really ran for a while under the writes. */
    assert_true(settle >= 3000);
    assert_true(st[nn].in > 0);
    assert_int_equal(bad, 0);
    assert_int_equal(errors, 0);
    assert_true(copies >= 0);
    assert_true(lat_during >= 0 && lat_during <= P99_BOUND_MS);
    f->h.passed = 1;
}

/* ---- 6. a cut stream resumes ---- */

#define CUT_RATE "64k"      /* ~400 KB per sender: about 6 s of streaming */
#define CUT_AT_SHARE 0.25   /* kill once a quarter of its share has arrived */

/*
 * The new node is killed (kill -9) mid-stream and restarted on its data
 * directory. What it had committed (and acknowledged) is not sent again.
 *
 * How this implementation resumes: a batch is acknowledged after the
 * receiver's commit, and a stream retries from its cursor after a failed
 * batch. But the kill is also a membership change (suspect, possibly
 * dead, then alive again with a higher incarnation), and each one replaces
 * the senders' plan after --rebalance-delay: the new plan starts every
 * range with a digest comparison, so ranges committed before the kill
 * compare equal and are skipped; only the range(s) in flight at the kill
 * are sent again from their start. Ranges are small (a vnode arc, ~20 keys
 * here) next to the whole, so either way the senders' total stays close
 * to what the node ends up holding.
 */
static void test_cut_stream(void **state)
{
    struct fixture *f = *state;
    const char *const extra[] = {"--stream-rate", CUT_RATE, NULL};
    struct rr_stat base[MAX_NODES], st[MAX_NODES];
    const int nn = 4;
    const unsigned old = rr_all(4);
    int64_t expect = (int64_t)NKEYS * RF / 5, in_at_kill = -1, sent, plans;
    double t0, t_kill = -1, settle;
    int running_at_kill = 0, i;

    start_loaded(f, 5, 4, extra);
    assert_int_equal(rr_snap(&f->c, old, base), 0);
    base[nn].rebalances = -1; /* a new node adopts the ring: it may plan nothing */

    t0 = rc_h_now_ms();
    assert_int_equal(rc_h_server_start(&f->h, f->c.nodes[nn]), 0);
    while (rc_h_now_ms() - t0 < SETTLE_MS) {
        struct rr_stat e;
        if (rr_read(f->c.nodes[nn], &e) == 0 && e.in >= (int64_t)(CUT_AT_SHARE * expect) &&
            rr_snap(&f->c, old, st) == 0) {
            for (i = 0; i < 4; i++)
                running_at_kill += st[i].running == 1;
            if (running_at_kill > 0) {
                in_at_kill = e.in;
                break;
            }
        }
        rc_h_sleep_ms(20);
    }
    if (in_at_kill >= 0) {
        t_kill = rc_h_now_ms() - t0;
        rc_h_server_kill(f->c.nodes[nn]);
    }
    printf("rebalance: cut: new node killed %.0f ms after its start with %lld keys received "
           "(of ~%lld), %d senders still running\n",
           t_kill, (long long)in_at_kill, (long long)expect, running_at_kill);
    assert_true(in_at_kill > 0);
    assert_true(in_at_kill < expect * 9 / 10);

    assert_int_equal(rc_h_server_start(&f->h, f->c.nodes[nn]), 0);
    settle = rr_since(t0, rr_wait_settled(&f->c, rr_all(5), 5, (int64_t)RF * NKEYS, base, 0, 60000));
    assert_int_equal(rr_snap(&f->c, rr_all(5), st), 0);
    sent = RR_SUM(&f->c, old, st, out) - RR_SUM(&f->c, old, base, out);
    plans = RR_SUM(&f->c, old, st, rebalances) - RR_SUM(&f->c, old, base, rebalances);
    printf("rebalance: cut: settled %.0f ms after the first start; senders streamed %lld keys "
           "in all, the new node holds %lld: ratio %.4f (bound %.2f); after its restart it "
           "received %lld and sent %lld (its own partial ranges); ranges found in place %lld; "
           "%d stream failures logged; the senders started %lld plans, so it resumed from %s\n",
           settle, (long long)sent, (long long)st[nn].keys,
           st[nn].keys > 0 ? (double)sent / (double)st[nn].keys : -1.0, MAX_RESUME_RATIO,
           (long long)st[nn].in, (long long)st[nn].out,
           (long long)(RR_SUM(&f->c, old, st, in_place) - RR_SUM(&f->c, old, base, in_place)),
           rr_log_count(f->c.nodes[0], "failed (") + rr_log_count(f->c.nodes[1], "failed (") +
               rr_log_count(f->c.nodes[2], "failed (") + rr_log_count(f->c.nodes[3], "failed ("),
           (long long)plans,
           plans == 4 ? "the senders' cursors (no plan was replaced)"
                      : "digests of the ranges done (plans were replaced)");
    rr_print_stats(&f->c, rr_all(5), "after the cut stream");
    assert_true(settle >= 0);
    assert_int_equal(RR_SUM(&f->c, rr_all(5), st, keys), (int64_t)RF * NKEYS);
    assert_true(st[nn].keys > 0);
    assert_true((double)sent <= MAX_RESUME_RATIO * (double)st[nn].keys);
    assert_int_equal(
        batch_on(f->c.nodes[nn], RC_CLIENT_GET, "k", 0, NKEYS, "v", NULL, RC_CLIENT_CL_ALL), 0);
    f->h.passed = 1;
}

/* ---- 6. stray copies cleaned up ---- */

#define STRAYS 300
#define CLEANUP_MS "1500"

/* Sends REPL_WRITEs of key prefix+i = value for i in [0, n) to s's peer
 * port, version (hlc, 777), as a coordinator whose view lagged (or a node
 * cut off by a partition) would; keys whose i is not in want are skipped.
 * Returns how many were acknowledged. */
static int stray_writes(const struct rc_hserver *s, const char *prefix, const int *want, int n,
                        const char *value, uint64_t hlc)
{
    struct rc_request r;
    struct rc_hreply rep;
    struct rc_buf b;
    uint8_t reply[4096];
    char key[KEY_MAX];
    int fd, i, acked = 0;
    fd = rc_h_tcp_connect(s->peer_port, IO_MS);
    if (fd < 0)
        return 0;
    rc_buf_init(&b, 1 << 16);
    for (i = 0; i < n; i++) {
        memset(&r, 0, sizeof(r));
        r.op = RC_OP_REPL_WRITE;
        r.id = (uint32_t)i + 1;
        r.key = (const uint8_t *)key;
        r.key_len = (uint32_t)snprintf(key, sizeof(key), "%s%06d", prefix, want[i]);
        r.has_key = 1;
        r.value = (const uint8_t *)value;
        r.value_len = (uint32_t)strlen(value);
        r.has_value = 1;
        r.has_version = 1;
        r.ver_hlc = hlc;
        r.ver_node = 777;
        rc_buf_reset(&b);
        if (rc_encode_request(&b, &r) != 0 ||
            rc_h_send_all(fd, rc_buf_rptr(&b), rc_buf_used(&b), IO_MS) != 0 ||
            rc_h_read_reply(fd, reply, sizeof(reply), IO_MS, &rep) != 0)
            break;
        acked += rep.status == 0;
    }
    rc_buf_close(&b);
    close(fd);
    return acked;
}

/* GETs at consistency ALL through s of prefix+want[i]: the number whose
 * reply is not exactly value (first few printed). */
static int read_all_eq(const struct rc_hserver *s, const char *prefix, const int *want, int n,
                       const char *value)
{
    struct rc_client *c = rc_h_client(s, IO_MS);
    struct rc_result res;
    char key[KEY_MAX];
    int i, bad = 0;
    if (c == NULL)
        return n;
    for (i = 0; i < n; i++) {
        size_t kl = key_of(key, prefix, want[i]);
        if (rc_client_send(c, RC_CLIENT_GET, key, kl, NULL, 0, 0, RC_CLIENT_CL_ALL) != 0 ||
            rc_client_recv(c, &res) != 0) {
            bad += n - i;
            break;
        }
        if (res.err != 0 || res.value_len != strlen(value) ||
            memcmp(res.value, value, res.value_len) != 0) {
            if (bad++ < 5)
                printf("strays: %s via %s: %s (%zu bytes, version %llx/%llx)\n", key, s->addr,
                       res.err ? rc_client_err_name(res.err) : "other value", res.value_len,
                       (unsigned long long)res.ver_hlc, (unsigned long long)res.ver_node);
        }
    }
    rc_client_free(c);
    return bad;
}

/* Node ids of the first n nodes, as the ring knows them. */
static int ring_of_nodes(const struct fixture *f, int n, struct rc_ring **out)
{
    uint64_t ids[MAX_NODES];
    char id[24];
    int i;
    for (i = 0; i < n; i++) {
        if (rc_h_node_id(f->c.nodes[i], id, sizeof(id)) != 0)
            return -1;
        ids[i] = strtoull(id, NULL, 16);
    }
    return rc_ring_new(ids, (size_t)n, 256, out);
}

/*
 * Copies on a node that does not replicate them (what a partition or a
 * lagging coordinator leaves): node 1 receives replica writes for STRAYS
 * new keys and one existing key, none of which it replicates, the existing
 * one newer than the cluster's copies. Its cleanup sweep hands them to
 * their replicas and drops them: node 1 is back to what it held, every
 * stray key has RF copies, the newer value won, nothing else moved.
 */
static void test_stray_cleanup(void **state)
{
    struct fixture *f = *state;
    const char *const extra[] = {"--cleanup-interval", CLEANUP_MS, NULL};
    struct rr_stat base[MAX_NODES], st[MAX_NODES];
    struct rc_ring *ring = NULL;
    struct rc_client *c;
    struct rc_result res;
    uint64_t ids[RF], self, hlc;
    struct timespec now;
    int strays[STRAYS], old_key[1] = {-1}, i, k, acked, cleanups = 0;
    char key[KEY_MAX], id[24];
    double t0, done = -1;
    int64_t v;

    start_loaded(f, 4, 4, extra);
    assert_int_equal(ring_of_nodes(f, 4, &ring), 0);
    assert_int_equal(rc_h_node_id(f->c.nodes[0], id, sizeof(id)), 0);
    self = strtoull(id, NULL, 16);
    /* Keys node 1 does not replicate: new ones, and one loaded key. */
    for (i = 0, k = 0; k < STRAYS; i++) {
        size_t n = key_of(key, "s", i);
        int r = rc_ring_replicas_key(ring, key, n, RF, ids);
        if (r == RF && ids[0] != self && ids[1] != self && ids[2] != self)
            strays[k++] = i;
    }
    for (i = 0; i < NKEYS && old_key[0] < 0; i++) {
        size_t n = key_of(key, "k", i);
        int r = rc_ring_replicas_key(ring, key, n, RF, ids);
        if (r == RF && ids[0] != self && ids[1] != self && ids[2] != self)
            old_key[0] = i;
    }
    rc_ring_free(ring);
    assert_true(old_key[0] >= 0);
    f->newer = old_key[0];
    assert_int_equal(rr_snap(&f->c, rr_all(4), base), 0);

    /* A version from the wall clock (HLC: Unix ms << 16), newer than the
     * loaded keys' and within the nodes' drift bound. */
    clock_gettime(CLOCK_REALTIME, &now);
    hlc = ((uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000) << 16;
    t0 = rc_h_now_ms();
    acked = stray_writes(f->c.nodes[0], "s", strays, STRAYS, "stray", hlc);
    acked += stray_writes(f->c.nodes[0], "k", old_key, 1, "newer", hlc);
    assert_int_equal(acked, STRAYS + 1);
    assert_int_equal(rr_read(f->c.nodes[0], &st[0]), 0);
    printf("rebalance: strays: node 1 holds %lld keys (%lld before %d stray writes)\n",
           (long long)st[0].keys, (long long)base[0].keys, acked);
    assert_int_equal(st[0].keys, base[0].keys + STRAYS + 1);

    /* Back to what it held, and every stray key on its RF replicas. */
    while (rc_h_now_ms() - t0 < SETTLE_MS) {
        if (rr_snap(&f->c, rr_all(4), st) == 0 && st[0].keys == base[0].keys &&
            RR_SUM(&f->c, rr_all(4), st, keys) == (int64_t)RF * (NKEYS + STRAYS)) {
            done = rc_h_now_ms() - t0;
            break;
        }
        rc_h_sleep_ms(POLL_MS);
    }
    c = rc_h_client(f->c.nodes[0], IO_MS);
    assert_non_null(c);
    if (rc_client_stats(c, &res) == 0 && res.err == 0 &&
        rc_h_stat(&res, "stream_cleanups", &v, NULL) == 0)
        cleanups = (int)v;
    rc_client_free(c);
    printf("rebalance: strays: cleaned up %.0f ms after the writes (cleanup interval %s ms): "
           "node 1 holds %lld keys (want %lld), all nodes %lld (want %lld); node 1 ran %d "
           "cleanups and sent %lld keys\n",
           done, CLEANUP_MS, (long long)st[0].keys, (long long)base[0].keys,
           (long long)RR_SUM(&f->c, rr_all(4), st, keys), (long long)RF * (NKEYS + STRAYS), cleanups,
           (long long)(st[0].out - base[0].out));
    rr_print_log(&f->c, 1);
    assert_true(done >= 0);
    assert_true(cleanups >= 1);
    /* What moved: the strays (to each of their RF replicas; the old key's
     * replicas take the newer version), nothing else. */
    assert_true(st[0].out - base[0].out <= (int64_t)RF * (STRAYS + 1));
    for (i = 1; i < 4; i++)
        assert_int_equal(st[i].keys - base[i].keys >= 0, 1);
    /* Every stray readable from every node with all replicas answering;
     * the loaded key now has the newer value. */
    for (i = 0; i < 4; i++)
        assert_int_equal(read_all_eq(f->c.nodes[i], "s", strays, STRAYS, "stray") +
                             read_all_eq(f->c.nodes[i], "k", old_key, 1, "newer"),
                         0);
    f->h.passed = 1;
}

/* Bound for a whole cluster stopping at once: far below --handoff-timeout
 * (30 s), which a node used to wait out retrying streams to nodes that had
 * already left. */
#define STOP_ALL_MS 10000

/*
 * SIGTERM to every node at once (docker-compose down, a rolling script
 * gone wrong): each exits 0 well within the hand-off timeout, and the
 * cluster restarted from its data dirs holds every key RF times.
 */
static void test_stop_all(void **state)
{
    struct fixture *f = *state;
    int status[4], i;
    double t0, took[4], restored;

    assert_int_equal(f->c.n, 4); /* the cluster of test_stray_cleanup */
    t0 = rc_h_now_ms();
    for (i = 0; i < 4; i++)
        kill(f->c.nodes[i]->pid, SIGTERM);
    for (i = 0; i < 4; i++) {
        status[i] = rc_h_server_stop_sig(f->c.nodes[i], 0, STOP_ALL_MS);
        took[i] = rc_h_now_ms() - t0;
    }
    printf("rebalance: stop all: exit status %d %d %d %d after %.0f %.0f %.0f %.0f ms "
           "(bound %d ms)\n",
           status[0], status[1], status[2], status[3], took[0], took[1], took[2], took[3],
           STOP_ALL_MS);
    rr_print_log(&f->c, rr_all(4));
    for (i = 0; i < 4; i++)
        assert_int_equal(status[i], 0);

    t0 = rc_h_now_ms();
    assert_int_equal(rc_h_cluster_start(&f->h, f->c.nodes, 4), 0);
    restored = rr_since(t0, rr_wait_settled(&f->c, rr_all(4), 4,
                                                 (int64_t)RF * (NKEYS + STRAYS), NULL, QUIET_MS,
                                                 SETTLE_MS));
    printf("rebalance: stop all: restarted, %lld copies (what the nodes took over from each "
           "other while stopping cleaned up) %.0f ms after the start\n",
           (long long)RF * (NKEYS + STRAYS), restored);
    rr_print_stats(&f->c, rr_all(4), "after the restart");
    assert_true(restored >= 0);
    assert_int_equal(batch_on(f->c.nodes[1], RC_CLIENT_GET, "k", 0, f->newer, "v", NULL,
                              RC_CLIENT_CL_ALL) +
                         batch_on(f->c.nodes[1], RC_CLIENT_GET, "k", f->newer + 1, NKEYS, "v",
                                  NULL, RC_CLIENT_CL_ALL),
                     0);
    f->h.passed = 1;
}

int main(void)
{
    const struct CMUnitTest join_leave[] = {
        RC_H_GROUP_TEST(test_join),
        RC_H_GROUP_TEST(test_leave),
    };
    const struct CMUnitTest fail_rejoin[] = {
        RC_H_GROUP_TEST(test_failure),
        RC_H_GROUP_TEST(test_rejoin),
    };
    const struct CMUnitTest under_load[] = {
        RC_H_GROUP_TEST(test_writes_during_rebalance),
    };
    const struct CMUnitTest cut[] = {
        RC_H_GROUP_TEST(test_cut_stream),
    };
    const struct CMUnitTest strays[] = {
        RC_H_GROUP_TEST(test_stray_cleanup),
        RC_H_GROUP_TEST(test_stop_all),
    };
    int failed = 0;
    /* RC_TEST_FILTER=<glob> (cmocka's * and ?): a subset (tests 2 and 4 need 1 and 3). */
    rc_h_test_filter_from_env();
    failed += cmocka_run_group_tests_name("join_leave", join_leave, group_setup,
                                          rc_h_fixture_teardown);
    failed += cmocka_run_group_tests_name("failure_rejoin", fail_rejoin, group_setup,
                                          rc_h_fixture_teardown);
    failed += cmocka_run_group_tests_name("writes_during_rebalance", under_load, group_setup,
                                          rc_h_fixture_teardown);
    failed += cmocka_run_group_tests_name("cut_stream", cut, group_setup, rc_h_fixture_teardown);
    failed += cmocka_run_group_tests_name("stray_cleanup", strays, group_setup,
                                          rc_h_fixture_teardown);
    return failed;
}
