/*
 * test_durability.c - what an acknowledged write survives on nodes with a
 * data directory, now that they serve from memory and write SQLite behind
 * the acknowledgement (issue 16, docs/architecture.md), on real server
 * processes on loopback.
 *
 * The contract under test:
 *  - kill -9 of every node at once loses at most the writes acknowledged
 *    in the last --max-write-lag ms before the kill (LOSS_WINDOW_MS below);
 *  - kill -9 of one node of three (RF 3, W 2) loses nothing acknowledged:
 *    the other replicas hold it, and the restarted node catches up (hints,
 *    anti-entropy) until it serves every key itself;
 *  - a clean stop (SIGTERM) loses nothing, and the restarted node serves
 *    every key from its first answered PING on (warm restart);
 *  - a data directory written by the direct SQLite engine (--write-behind
 *    off) keeps every key, and every delete, when the node is upgraded in
 *    place to write-behind, and the other way round.
 *
 * Every test prints its figures (acknowledged, missing, the oldest missing
 * write's age, restart time) before asserting, so `ctest -V` shows them
 * even on a failure; RC_TEST_FILTER=pattern runs a subset.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

/* Per-test budget; the slowest test (warm restart of 200k keys) takes
 * ~20 s, the binary about a minute. The alarm only turns a hang into a
 * failure. */
#define TEST_TIMEOUT_S 120
#define CONVERGE_MS 15000
#define POLL_MS 100
/* Client io timeout: above the replica timeout (1 s), so a replica timing
 * out shows as the server's TIMEOUT, not as a client-side one. */
#define IO_MS 5000
#define MAX_CLIENTS 16
#define KEY_MAX 48
/* Values of 100 B, the small value. */
#define VALUE_LEN 100
/* Requests in flight per pipelined batch: enough to amortise the round
 * trip, well under the server's --out-buffer. */
#define BATCH 256

/* The write-behind settings under test, written out rather than left to
 * the defaults so the test states the contract it checks: a flush every
 * 100 ms, and clients slowed down before the unflushed writes are older
 * than 1000 ms. */
#define FLUSH_INTERVAL_MS "100"
#define MAX_WRITE_LAG_MS 1000
#define MAX_WRITE_LAG_ARG "1000"
#define WB_ON "--write-behind", "on", "--flush-interval", FLUSH_INTERVAL_MS, \
              "--max-write-lag", MAX_WRITE_LAG_ARG
/* kill -9 of every node may lose what was acknowledged in the last
 * --max-write-lag ms: the flush interval (100 ms) plus up to 900 ms for
 * the flush itself and a writer thread descheduled on a loaded 2-core
 * machine. The default contract (README: no worse than Redis's
 * appendfsync everysec). */
#define LOSS_WINDOW_MS MAX_WRITE_LAG_MS
/* STATS of the write-behind (docs/protocol.md). */
#define STAT_WB_DIRTY "wb_dirty"
#define STAT_WB_LAG "wb_lag_ms"
#define STAT_WB_SNAPSHOTS "wb_snapshots"
/* kill_all runs its nodes with this smallest snapshot threshold instead
 * of 64 MiB, so that snapshots of memory are taken all through its load
 * and the kill lands between, or in the middle of, them. */
#define SNAPSHOT_MIN_ARG "64k"

/* Test 1 and 2: load long enough that an engine which never flushed
 * before the kill loses writes far older than LOSS_WINDOW_MS. */
#define KILL_ALL_LOAD_MS 4000
#define WRITERS 2
/* At least this many acknowledged writes, or the test measured nothing. */
#define MIN_ACKED 1000
#define MAX_ACKS 2000000

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness (harness.h) */
    struct rc_hserver *nodes[RC_H_MAX_SERVERS];
    char ids[RC_H_MAX_SERVERS][RC_H_ID_CAP];
    int n;
};

static int setup(void **state)
{
    return rc_h_fixture_setup(state, sizeof(struct fixture), TEST_TIMEOUT_S);
}

/* ---- keys, values, pipelined requests ---- */

static void key_of(char *k, size_t cap, const char *prefix, long i)
{
    snprintf(k, cap, "%s%08ld", prefix, i);
}

/* A value of VALUE_LEN bytes that names its key's number, so a value
 * served for the wrong key or truncated is caught. */
static void value_of(char v[VALUE_LEN], long i)
{
    char head[32];
    int n = snprintf(head, sizeof(head), "v%08ld-", i);
    memset(v, 'a' + (int)(i % 26), VALUE_LEN);
    memcpy(v, head, (size_t)n);
}

static struct rc_client *connect_addr(const char *addr, int io_ms)
{
    struct rc_client_opts o;
    struct rc_client *c = NULL;
    memset(&o, 0, sizeof(o));
    o.connect_timeout_ms = 500;
    o.io_timeout_ms = io_ms;
    return rc_client_connect(addr, &o, &c) == 0 ? c : NULL;
}

/* What a pass of reads found. */
struct reads {
    long ok, missing, wrong, errors;
    int first_error;
};

/*
 * Pipelined GETs at consistency cl of the keys prefix+ids[0..n-1] (ids
 * NULL: 0..n-1) through c. found[i] (when not NULL) gets 1 for a right
 * value, 0 for NOTFOUND, -1 for a wrong value or an error. Returns 0, or
 * a connection error (the tally so far kept).
 */
static int get_many(struct rc_client *c, const char *prefix, const long *ids, long n, int cl,
                    signed char *found, struct reads *r)
{
    long i, j;
    for (i = 0; i < n; i += BATCH) {
        long m = n - i < BATCH ? n - i : BATCH;
        for (j = 0; j < m; j++) {
            char k[KEY_MAX];
            key_of(k, sizeof(k), prefix, ids != NULL ? ids[i + j] : i + j);
            if (rc_client_send(c, RC_CLIENT_GET, k, strlen(k), NULL, 0, 0, cl) != 0)
                return -1;
        }
        for (j = 0; j < m; j++) {
            struct rc_result res;
            char want[VALUE_LEN];
            long id = ids != NULL ? ids[i + j] : i + j;
            int rv = rc_client_recv(c, &res), got;
            if (rv != 0)
                return rv;
            value_of(want, id);
            if (res.err == 0 && res.has_value && res.value_len == VALUE_LEN &&
                memcmp(res.value, want, VALUE_LEN) == 0)
                got = 1, r->ok++;
            else if (res.err == RC_CLIENT_NOTFOUND)
                got = 0, r->missing++;
            else if (res.err == 0)
                got = -1, r->wrong++;
            else {
                got = -1, r->errors++;
                if (r->first_error == 0)
                    r->first_error = res.err;
            }
            if (found != NULL)
                found[i + j] = (signed char)got;
        }
    }
    return 0;
}

/* Pipelined PUTs (or DELs) of prefix+[from, to) through c at the default
 * consistency; the number acknowledged, or -1 on a connection error. */
static long put_range(struct rc_client *c, const char *prefix, long from, long to, int del)
{
    long i, j, acked = 0;
    for (i = from; i < to; i += BATCH) {
        long m = to - i < BATCH ? to - i : BATCH;
        for (j = 0; j < m; j++) {
            char k[KEY_MAX], v[VALUE_LEN];
            key_of(k, sizeof(k), prefix, i + j);
            value_of(v, i + j);
            if (rc_client_send(c, del ? RC_CLIENT_DEL : RC_CLIENT_PUT, k, strlen(k),
                               del ? NULL : v, del ? 0 : VALUE_LEN, 0, 0) != 0)
                return -1;
        }
        for (j = 0; j < m; j++) {
            struct rc_result res;
            if (rc_client_recv(c, &res) != 0)
                return -1;
            acked += res.err == 0;
        }
    }
    return acked;
}

/* ---- clusters ---- */

static void start_cluster(struct fixture *f, int n, const char *const *extra)
{
    double ms;
    assert_int_equal(rc_h_cluster_new(&f->h, n, extra, f->nodes), 0);
    f->n = n;
    assert_int_equal(rc_h_cluster_start(&f->h, f->nodes, n), 0);
    assert_int_equal(rc_h_cluster_ids(f->nodes, n, f->ids), 0);
    ms = rc_h_cluster_wait_converged(f->nodes, (const char(*)[RC_H_ID_CAP])f->ids, n,
                                     CONVERGE_MS);
    printf("durability: %d nodes converged after %.0f ms\n", n, ms);
    assert_true(ms >= 0);
}

/* Polls until every node of f sees all alive, is in contact and takes a
 * PUT and a GET at QUORUM; elapsed ms or -1 after bound_ms. */
static double wait_serving(struct fixture *f, int bound_ms)
{
    double t0 = rc_h_now_ms();
    int i;
    for (i = 0; i < f->n; i++) {
        for (;;) {
            struct rc_client *c = rc_h_client(f->nodes[i], IO_MS);
            int ok = 0;
            if (c != NULL && rc_h_stat_num(c, "in_contact") == 1 &&
                rc_h_sees_all_alive(f->nodes[i], (const char(*)[RC_H_ID_CAP])f->ids, f->n)) {
                struct rc_result res;
                ok = rc_client_send(c, RC_CLIENT_PUT, "probe", 5, "p", 1, 0,
                                    RC_CLIENT_CL_QUORUM) == 0 &&
                     rc_client_recv(c, &res) == 0 && res.err == 0;
            }
            rc_client_free(c);
            if (ok)
                break;
            if (rc_h_now_ms() - t0 > bound_ms)
                return -1;
            rc_h_sleep_ms(POLL_MS);
        }
    }
    return rc_h_now_ms() - t0;
}

/* The write-behind figures of node i, printed (-1: missing); returns
 * its snapshots completed. */
static int64_t print_wb(const struct fixture *f, int i, const char *when)
{
    int64_t dirty = -1, lag = -1, snaps = -1;
    rc_h_server_stat(f->nodes[i], STAT_WB_DIRTY, 1000, &dirty);
    rc_h_server_stat(f->nodes[i], STAT_WB_LAG, 1000, &lag);
    rc_h_server_stat(f->nodes[i], STAT_WB_SNAPSHOTS, 1000, &snaps);
    printf("durability: node %d %s: %s=%lld %s=%lld %s=%lld\n", i + 1, when, STAT_WB_DIRTY,
           (long long)dirty, STAT_WB_LAG, (long long)lag, STAT_WB_SNAPSHOTS, (long long)snaps);
    return snaps;
}

/* ---- a writer thread: sequential acknowledged PUTs ---- */

struct writer {
    pthread_t tid;
    char addr[64];
    char prefix[16];
    atomic_int *stop;
    int rate;       /* acknowledged writes per second at most; 0: no cap */
    long next;      /* next key number to write */
    long n;         /* acknowledged so far */
    long cap;
    long *ids;      /* ids[0..n-1]: key numbers acknowledged, in order */
    double *ack_ms; /* when each was acknowledged (rc_h_now_ms) */
    long errors, reconnects;
};

/* PUTs prefix+next, next+1, ... at the default consistency (W), one at a
 * time, recording each acknowledgement; reconnects after a connection
 * error (its node was killed) until told to stop. */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct rc_client *c = NULL;
    double t0 = rc_h_now_ms();
    while (!atomic_load(w->stop) && w->n < w->cap) {
        char k[KEY_MAX], v[VALUE_LEN];
        struct rc_result res;
        int rv;
        if (w->rate > 0 && w->n > (rc_h_now_ms() - t0) * w->rate / 1000) {
            rc_h_sleep_ms(1);
            continue;
        }
        if (c == NULL && (c = connect_addr(w->addr, IO_MS)) == NULL) {
            rc_h_sleep_ms(20);
            continue;
        }
        key_of(k, sizeof(k), w->prefix, w->next);
        value_of(v, w->next);
        rv = rc_client_send(c, RC_CLIENT_PUT, k, strlen(k), v, VALUE_LEN, 0, 0);
        if (rv == 0)
            rv = rc_client_recv(c, &res);
        if (rv == 0 && res.err == 0) {
            w->ack_ms[w->n] = rc_h_now_ms();
            w->ids[w->n++] = w->next;
        } else {
            w->errors++;
        }
        w->next++;
        if (rv != 0) {
            rc_client_free(c);
            c = NULL;
            w->reconnects++;
        }
    }
    rc_client_free(c);
    return NULL;
}

static void writer_start(struct writer *w, const struct rc_hserver *s, const char *prefix,
                         int rate, atomic_int *stop)
{
    memset(w, 0, sizeof(*w));
    w->rate = rate;
    snprintf(w->addr, sizeof(w->addr), "%s", s->addr);
    snprintf(w->prefix, sizeof(w->prefix), "%s", prefix);
    w->stop = stop;
    w->cap = MAX_ACKS;
    w->ids = calloc((size_t)w->cap, sizeof(*w->ids));
    w->ack_ms = calloc((size_t)w->cap, sizeof(*w->ack_ms));
    assert_non_null(w->ids);
    assert_non_null(w->ack_ms);
    assert_int_equal(pthread_create(&w->tid, NULL, writer_main, w), 0);
}

static void writer_free(struct writer *w)
{
    free(w->ids);
    free(w->ack_ms);
}

/* ---- 1. every node killed at once ---- */

/* What test 1 found for one writer's keys. */
struct loss {
    long acked, missing_quorum, missing_everywhere, wrong, errors, late;
    double oldest_missing_ms; /* age at the kill of the oldest write missing at QUORUM */
};

/*
 * The keys of w missing at QUORUM through node 1 are looked up at ONE on
 * every node (missing everywhere, or held by one replica only), and each
 * one's age at the kill is checked against LOSS_WINDOW_MS.
 */
static void count_losses(struct fixture *f, const struct writer *w, double kill_ms,
                         struct loss *l)
{
    struct reads r = {0};
    signed char *found = calloc((size_t)w->n + 1, 1);
    struct rc_client *c = rc_h_test_client(&f->h, f->nodes[0], IO_MS, MAX_CLIENTS);
    long i;
    int node;

    assert_non_null(found);
    assert_int_equal(get_many(c, w->prefix, w->ids, w->n, RC_CLIENT_CL_QUORUM, found, &r), 0);
    l->acked += w->n;
    l->wrong += r.wrong;
    l->errors += r.errors;
    for (i = 0; i < w->n; i++) {
        double age = kill_ms - w->ack_ms[i];
        int anywhere = 0;
        if (found[i] != 0)
            continue;
        l->missing_quorum++;
        if (age > l->oldest_missing_ms)
            l->oldest_missing_ms = age;
        if (age > LOSS_WINDOW_MS) {
            if (l->late < 5)
                printf("durability: %s%08ld acknowledged %.0f ms before the kill is missing\n",
                       w->prefix, w->ids[i], age);
            l->late++;
        }
        for (node = 0; node < f->n && !anywhere; node++) {
            struct rc_client *one = rc_h_client(f->nodes[node], IO_MS);
            struct reads ro = {0};
            signed char got = 0;
            if (one != NULL && get_many(one, w->prefix, &w->ids[i], 1, RC_CLIENT_CL_ONE, &got,
                                        &ro) == 0)
                anywhere = got == 1;
            rc_client_free(one);
        }
        l->missing_everywhere += !anywhere;
    }
    free(found);
}

/*
 * 3 nodes on disk, RF 3, W 2, write-behind with a 100 ms flush. Two
 * threads write acknowledged PUTs through nodes 1 and 2 for 4 s; then all
 * three get SIGKILL at the same moment and are restarted on the same
 * ports. Every acknowledged key is read at QUORUM: each one missing must
 * have been acknowledged within LOSS_WINDOW_MS of the kill. An engine
 * that flushes only at a clean shutdown, or does not load its SQLite file
 * at start, loses writes seconds old and fails. The nodes snapshot memory
 * all along (--snapshot-min 64k), so the files are snapshots, abandoned
 * ones among them, and journal.
 */
static void test_kill_all(void **state)
{
    struct fixture *f = *state;
    static const char *const extra[] = {WB_ON, "--snapshot-min", SNAPSHOT_MIN_ARG, NULL};
    struct writer w[WRITERS];
    struct loss l = {0};
    atomic_int stop = 0;
    double kill_ms, t0, serve_ms;
    int64_t snaps[3] = {0};
    int i;

    start_cluster(f, 3, extra);
    for (i = 0; i < WRITERS; i++) {
        char prefix[16];
        snprintf(prefix, sizeof(prefix), "ka%d-", i);
        writer_start(&w[i], f->nodes[i % f->n], prefix, 0, &stop);
    }
    rc_h_sleep_ms(KILL_ALL_LOAD_MS - 300);
    for (i = 0; i < f->n; i++)
        snaps[i] = print_wb(f, i, "300 ms before the kill");
    rc_h_sleep_ms(300);
    /* The same moment: every SIGKILL sent before any is reaped. */
    for (i = 0; i < f->n; i++)
        if (f->nodes[i]->pid > 0) /* never kill(0): that is our own group */
            kill(f->nodes[i]->pid, SIGKILL);
    kill_ms = rc_h_now_ms();
    for (i = 0; i < f->n; i++)
        rc_h_server_kill(f->nodes[i]);
    atomic_store(&stop, 1);
    for (i = 0; i < WRITERS; i++)
        pthread_join(w[i].tid, NULL);

    t0 = rc_h_now_ms();
    assert_int_equal(rc_h_cluster_start(&f->h, f->nodes, f->n), 0);
    serve_ms = wait_serving(f, CONVERGE_MS);
    printf("durability: kill_all: restarted, serving QUORUM everywhere after %.0f ms\n",
           serve_ms < 0 ? -1 : rc_h_now_ms() - t0);
    assert_true(serve_ms >= 0);
    for (i = 0; i < WRITERS; i++)
        count_losses(f, &w[i], kill_ms, &l);

    printf("durability: kill_all (3 nodes RF 3 W 2, --flush-interval %s ms, --max-write-lag %d "
           "ms, %d ms of load): acknowledged=%ld (%.0f/s), missing at QUORUM=%ld, missing on "
           "every node=%ld, oldest missing acknowledged %.0f ms before the kill (allowed %d "
           "ms), missing older than that=%ld, wrong values=%ld, read errors=%ld\n",
           FLUSH_INTERVAL_MS, MAX_WRITE_LAG_MS, KILL_ALL_LOAD_MS, l.acked,
           l.acked * 1000.0 / KILL_ALL_LOAD_MS, l.missing_quorum, l.missing_everywhere,
           l.oldest_missing_ms, LOSS_WINDOW_MS, l.late, l.wrong, l.errors);
    for (i = 0; i < WRITERS; i++)
        writer_free(&w[i]);
    assert_true(l.acked >= MIN_ACKED);
    assert_int_equal(l.late, 0);
    assert_int_equal(l.wrong, 0);
    assert_int_equal(l.errors, 0);
    /* The files the restart read were made of snapshots and journal, not
     * of flushes alone. */
    for (i = 0; i < f->n; i++)
        assert_true(snaps[i] >= 1);
    f->h.passed = 1;
}

/* ---- 2. one node killed mid-load ---- */

/* Catch-up is bounded by hints (delivered once gossip sees the node
 * alive) and anti-entropy, run every 2 s here (default 60 s) so what the
 * victim acknowledged but had not flushed comes back within the wait.
 * Hints drain at 256 per 500 ms per holder (server/hints.c): an
 * unthrottled writer (~12k/s) left ~37k hints, 26-43 s of catch-up. The
 * writer is capped at KILL_ONE_RATE, so 1.5 s down leaves ~6k hints, a
 * few seconds; 60 s leaves room for a loaded machine. */
#define CATCHUP_MS 60000
#define PHASE_MS 1500
#define KILL_ONE_RATE 4000

/* Polls until the victim holds as many live keys as the reference node
 * and the others hold no hints; elapsed ms or -1 after bound_ms.
 * *hints_ms: when the hints were first all delivered (-1: never). */
static double wait_caught_up(struct fixture *f, int victim, int ref, int bound_ms,
                             int64_t *keys_v, int64_t *keys_ref, double *hints_ms)
{
    double t0 = rc_h_now_ms();
    *hints_ms = -1;
    for (;;) {
        int64_t h0 = -1, h1 = -1;
        int i, j = 0;
        for (i = 0; i < f->n; i++)
            if (i != victim)
                rc_h_server_stat(f->nodes[i], "hints_pending", 2000, j++ ? &h1 : &h0);
        rc_h_server_stat(f->nodes[victim], "keys", 2000, keys_v);
        rc_h_server_stat(f->nodes[ref], "keys", 2000, keys_ref);
        if (h0 == 0 && h1 == 0 && *hints_ms < 0)
            *hints_ms = rc_h_now_ms() - t0;
        if (h0 == 0 && h1 == 0 && *keys_v == *keys_ref && *keys_v > 0)
            return rc_h_now_ms() - t0;
        if (rc_h_now_ms() - t0 > bound_ms)
            return -1;
        rc_h_sleep_ms(200);
    }
}

/*
 * 3 nodes on disk, RF 3, W 2. A thread writes acknowledged PUTs through
 * node 1; node 3 is killed -9 after 1.5 s, restarted 1.5 s later, and the
 * load goes on 1.5 s more. Every acknowledged key is then read at QUORUM
 * (0 missing: W 2 means two replicas held it), and, once node 3 caught up,
 * at ONE through node 3 (a read at ONE answers from the coordinator's own
 * copy when it is a replica): 0 missing.
 */
static void test_kill_one_mid_load(void **state)
{
    struct fixture *f = *state;
    enum { A, B, C };
    static const char *const extra[] = {WB_ON, "--anti-entropy-interval", "2000",
                                        "--cleanup-interval", "1000", NULL};
    struct writer w;
    struct reads rq = {0}, r1 = {0};
    struct rc_client *cb, *cc;
    atomic_int stop = 0;
    int64_t keys_c0 = -1, keys_c = -1, keys_a = -1, dummy = -1;
    double down_ms, caught, hints_ms;

    start_cluster(f, 3, extra);
    writer_start(&w, f->nodes[A], "k1-", KILL_ONE_RATE, &stop);
    rc_h_sleep_ms(PHASE_MS);
    print_wb(f, C, "before its kill");
    rc_h_server_kill(f->nodes[C]);
    down_ms = rc_h_now_ms();
    rc_h_sleep_ms(PHASE_MS);
    assert_int_equal(rc_h_server_start(&f->h, f->nodes[C]), 0);
    down_ms = rc_h_now_ms() - down_ms;
    rc_h_server_stat(f->nodes[C], "keys", 2000, &keys_c0);
    rc_h_sleep_ms(PHASE_MS);
    atomic_store(&stop, 1);
    pthread_join(w.tid, NULL);
    rc_h_server_stat(f->nodes[A], "keys", 2000, &dummy);
    printf("durability: kill_one: node 3 down %.0f ms; it held %lld keys when it served again "
           "(node 1 holds %lld now); writer: %ld acknowledged, %ld errors\n",
           down_ms, (long long)keys_c0, (long long)dummy, w.n, w.errors);

    caught = wait_caught_up(f, C, A, CATCHUP_MS, &keys_c, &keys_a, &hints_ms);
    cb = rc_h_test_client(&f->h, f->nodes[B], IO_MS, MAX_CLIENTS);
    assert_int_equal(get_many(cb, w.prefix, w.ids, w.n, RC_CLIENT_CL_QUORUM, NULL, &rq), 0);
    cc = rc_h_test_client(&f->h, f->nodes[C], IO_MS, MAX_CLIENTS);
    assert_int_equal(get_many(cc, w.prefix, w.ids, w.n, RC_CLIENT_CL_ONE, NULL, &r1), 0);
    printf("durability: kill_one (node 3 of 3 killed -9 under load, W 2): acknowledged=%ld; "
           "QUORUM through node 2: missing=%ld wrong=%ld errors=%ld; hints all delivered "
           "after %.0f ms, node 3 caught up after %.0f ms (keys %lld, node 1 %lld; -1 = not "
           "within %d ms); ONE through node 3: missing=%ld wrong=%ld errors=%ld\n",
           w.n, rq.missing, rq.wrong, rq.errors, hints_ms, caught, (long long)keys_c,
           (long long)keys_a, CATCHUP_MS, r1.missing, r1.wrong, r1.errors);
    writer_free(&w);
    assert_true(w.n >= MIN_ACKED);
    assert_int_equal(rq.missing + rq.wrong + rq.errors, 0);
    assert_true(caught >= 0);
    assert_int_equal(r1.missing + r1.wrong + r1.errors, 0);
    f->h.passed = 1;
}

/* ---- 3. warm restart ---- */

#define WARM_KEYS 200000
#define STOP_MS 30000

/* A client to s that the test keeps, and the number of keys loaded. */
static long load_keys(struct fixture *f, struct rc_hserver *s, const char *prefix, long n)
{
    struct rc_client *c = rc_h_test_client(&f->h, s, IO_MS, MAX_CLIENTS);
    long acked = put_range(c, prefix, 0, n, 0);
    rc_h_client_drop(&f->h, c);
    return acked;
}

/* SIGTERM, which must exit 0, then a start on the same data directory and
 * ports; the ms from spawn to the first answered PING. */
static double restart_clean(struct fixture *f, struct rc_hserver *s, double *stop_ms)
{
    double t0 = rc_h_now_ms();
    assert_int_equal(rc_h_server_stop(s, STOP_MS), 0);
    *stop_ms = rc_h_now_ms() - t0;
    t0 = rc_h_now_ms();
    assert_int_equal(rc_h_server_start(&f->h, s), 0);
    return rc_h_now_ms() - t0;
}

/*
 * One node on disk with 200k keys of 100 B, stopped with SIGTERM and
 * started again: every key is served, with its value, from the first
 * answered PING on (a node that serves while it loads must not answer a
 * miss for a key not loaded yet). Prints the time to serve.
 */
static void test_warm_restart(void **state)
{
    struct fixture *f = *state;
    static const char *const extra[] = {WB_ON, NULL};
    struct rc_hserver *s;
    struct rc_client *c;
    struct reads r = {0};
    double t0, load_ms, stop_ms, start_ms, read_ms;
    long acked;
    int64_t keys;

    s = rc_h_server_new(&f->h, NULL, extra);
    assert_non_null(s);
    s->fixed_ports = 1;
    assert_int_equal(rc_h_server_start(&f->h, s), 0);
    t0 = rc_h_now_ms();
    acked = load_keys(f, s, "warm-", WARM_KEYS);
    load_ms = rc_h_now_ms() - t0;
    assert_int_equal(acked, WARM_KEYS);

    start_ms = restart_clean(f, s, &stop_ms);
    t0 = rc_h_now_ms();
    c = rc_h_test_client(&f->h, s, IO_MS, MAX_CLIENTS);
    assert_int_equal(get_many(c, "warm-", NULL, WARM_KEYS, RC_CLIENT_CL_DEFAULT, NULL, &r), 0);
    read_ms = rc_h_now_ms() - t0;
    keys = rc_h_stat_num(c, "keys");
    printf("durability: warm_restart: %d keys of %d B loaded in %.0f ms (%.0f/s); SIGTERM exit "
           "after %.0f ms; restart to first PING %.0f ms; then read back in %.0f ms: ok=%ld "
           "missing=%ld wrong=%ld errors=%ld; STATS keys=%lld\n",
           WARM_KEYS, VALUE_LEN, load_ms, WARM_KEYS * 1000.0 / load_ms, stop_ms, start_ms,
           read_ms, r.ok, r.missing, r.wrong, r.errors, (long long)keys);
    assert_int_equal(r.ok, WARM_KEYS);
    assert_int_equal(keys, WARM_KEYS);
    f->h.passed = 1;
}

/* ---- 4. upgrade in place ---- */

#define UPGRADE_KEYS 20000
#define UPGRADE_DEL_EVERY 10 /* every 10th key deleted: deletes must stay deleted */
#define UPGRADE_NEW 2000

/* Replaces s's extra arguments (for the next start) with args. */
static void set_args(struct rc_hserver *s, const char *const *args)
{
    int i;
    for (i = 0; i < s->nextra; i++)
        free(s->extra[i]);
    s->nextra = 0;
    for (i = 0; args[i] != NULL; i++)
        assert_int_equal(rc_h_server_add_arg(s, args[i]), 0);
}

/* Reads prefix+[0, n) through s: right values for the keys kept, NOTFOUND
 * for every del_every-th (0: none deleted). Returns the keys wrong. */
static long check_upgrade(struct fixture *f, struct rc_hserver *s, const char *prefix, long n,
                          int del_every, const char *when)
{
    struct rc_client *c = rc_h_test_client(&f->h, s, IO_MS, MAX_CLIENTS);
    signed char *found = calloc((size_t)n, 1);
    struct reads r = {0};
    long i, bad = 0, back = 0, lost = 0;
    assert_non_null(found);
    assert_int_equal(get_many(c, prefix, NULL, n, RC_CLIENT_CL_DEFAULT, found, &r), 0);
    for (i = 0; i < n; i++) {
        int deleted = del_every > 0 && i % del_every == 0;
        if (deleted && found[i] != 0)
            back++;
        else if (!deleted && found[i] != 1)
            lost++;
    }
    bad = back + lost;
    printf("durability: upgrade: %s: %ld keys of '%s': lost or wrong=%ld, deleted ones back=%ld "
           "(read errors %ld)\n",
           when, n, prefix, lost, back, r.errors);
    free(found);
    rc_h_client_drop(&f->h, c);
    return bad;
}

/*
 * A data directory written by the direct SQLite engine (--write-behind
 * off: 20k keys, every 10th deleted), restarted with write-behind on:
 * every key kept is served, no deleted one comes back, and the node runs
 * write-behind (its STATS show it). Keys written then survive a restart
 * back to --write-behind off: one file format for both engines.
 */
static void test_upgrade_in_place(void **state)
{
    struct fixture *f = *state;
    static const char *const off[] = {"--write-behind", "off", NULL};
    static const char *const on[] = {WB_ON, NULL};
    struct rc_hserver *s;
    struct rc_client *c;
    double stop_ms, start_ms;
    long bad = 0, dels;
    int64_t dirty;

    s = rc_h_server_new(&f->h, NULL, off);
    assert_non_null(s);
    s->fixed_ports = 1;
    assert_int_equal(rc_h_server_start(&f->h, s), 0);
    assert_int_equal(load_keys(f, s, "up-", UPGRADE_KEYS), UPGRADE_KEYS);
    c = rc_h_test_client(&f->h, s, IO_MS, MAX_CLIENTS);
    for (dels = 0; dels < UPGRADE_KEYS; dels += UPGRADE_DEL_EVERY)
        assert_int_equal(put_range(c, "up-", dels, dels + 1, 1), 1);
    rc_h_client_drop(&f->h, c);

    set_args(s, on);
    start_ms = restart_clean(f, s, &stop_ms);
    dirty = rc_h_stat_of(s, STAT_WB_DIRTY);
    printf("durability: upgrade: restarted with write-behind on in %.0f ms; %s=%lld\n",
           start_ms, STAT_WB_DIRTY, (long long)dirty);
    bad += check_upgrade(f, s, "up-", UPGRADE_KEYS, UPGRADE_DEL_EVERY, "write-behind on");
    assert_int_equal(load_keys(f, s, "new-", UPGRADE_NEW), UPGRADE_NEW);

    set_args(s, off);
    restart_clean(f, s, &stop_ms);
    bad += check_upgrade(f, s, "up-", UPGRADE_KEYS, UPGRADE_DEL_EVERY, "back to off");
    bad += check_upgrade(f, s, "new-", UPGRADE_NEW, 0, "back to off");
    assert_true(dirty >= 0); /* the node ran write-behind: its STATS have the lag */
    assert_int_equal(bad, 0);
    f->h.passed = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill_all, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_kill_one_mid_load, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_warm_restart, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_in_place, setup, rc_h_fixture_teardown),
    };
    rc_h_test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
