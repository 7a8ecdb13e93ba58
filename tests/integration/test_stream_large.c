/*
 * test_stream_large.c - streaming ranges that hold large values (issue 13,
 * defect 1). Three nodes hold 2,000 values of 4 KiB and a dozen values up
 * to --max-value-size; one is killed (-9), declared dead, and restarted
 * empty (':memory:', or a wiped SQLite data directory: a new member). It
 * must get every key back, with no stream failure: a batch of small values
 * followed by a large one used to outgrow the sender's batch buffer
 * ("buffer limit reached") and the stream retried the same batch forever.
 * Run with the default --max-value-size (1 MiB) and raised to 4 MiB; and a
 * stream that cannot get through (the returning node's frame limit is too
 * small) must be reported, not retried silently; values no frame can carry
 * (--max-value-size lowered since) are skipped and counted.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "harness.h"
#include "rebal.h"

/* Each case takes 10-20 s (detection ~3 s, then streaming); the alarm
 * turns a hang into a failure. */
#define TEST_TIMEOUT_S 90
#define NODES 3
#define NSMALL 2000
#define SMALL_LEN 4096
#define NBIG 12
#define KEY_MAX 32
#define IO_MS 10000
#define CONVERGE_MS 10000
#define QUIET_MS 1500
#define SETTLE_MS 20000
/* Failure detection is ~3 s on three nodes; slack for load. */
#define DETECT_MS 15000
/* The rejoined node must hold every key within this: ~25 MB on loopback
 * at --stream-rate 64m takes well under 2 s. */
#define REFILL_MS 20000
/* A stream that cannot get through is reported once it failed for 15 s
 * without an answer (rebalance_send.c, STALL_MS): within 15-20 s of its first
 * failure. */
#define FAIL_MS 40000
/* `ringcache-cli watch --json` runs this long: its first line comes at once. */
#define WATCH_MS 1500
/* Pipelined small puts in flight. */
#define WINDOW 64

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness (harness.h) */
    struct rr_nodes c;
};

static int setup(void **state)
{
    return rc_h_fixture_setup(state, sizeof(struct fixture), TEST_TIMEOUT_S);
}

/* Big value i: the largest ones exactly max_value, the others a little
 * smaller (sizes that do not line up with any batch boundary). */
static size_t big_len(size_t max_value, int i)
{
    return i % 2 == 0 ? max_value : max_value - (size_t)i * 4099;
}

static void fill(char *buf, size_t len, int i)
{
    size_t j;
    for (j = 0; j < len; j++)
        buf[j] = (char)('a' + (i + j / 4096) % 26);
}

/* Loads NSMALL small and NBIG big values through node 1. */
static void load(const struct fixture *f, size_t max_value)
{
    struct rc_client *c = rc_h_client(f->c.nodes[0], IO_MS);
    struct rc_result res;
    char k[KEY_MAX], *v = malloc(max_value);
    int i, sent = 0, got = 0;
    assert_non_null(c);
    assert_non_null(v);
    while (got < NSMALL) {
        for (; sent < NSMALL && sent - got < WINDOW; sent++) {
            fill(v, SMALL_LEN, sent);
            assert_int_equal(rc_client_send(c, RC_CLIENT_PUT, k,
                                            (size_t)snprintf(k, sizeof(k), "s%05d", sent), v,
                                            SMALL_LEN, 0, 0),
                             0);
        }
        assert_int_equal(rc_client_recv(c, &res), 0);
        assert_int_equal(res.err, 0);
        got++;
    }
    for (i = 0; i < NBIG; i++) {
        size_t n = big_len(max_value, i);
        fill(v, n, i);
        assert_int_equal(rc_client_put(c, k, (size_t)snprintf(k, sizeof(k), "b%02d", i), v, n, 0),
                         0);
    }
    rc_client_free(c);
    free(v);
}

/* STATS entry name of node s; -1 when missing or unreachable. */
static int64_t stat_of(const struct rc_hserver *s, const char *name)
{
    int64_t v;
    return rc_h_server_stat(s, name, IO_MS, &v) == 0 ? v : -1;
}

/* Every node gets --cluster-key-file with one key (internode traffic
 * sealed: records around the frames). */
static void add_cluster_key(struct fixture *f)
{
    char path[RC_H_PATH + 16];
    int i;

    assert_int_equal(
        rc_h_write_file(&f->h, "cluster.key",
                        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
                        0600, path, sizeof(path)),
        0);
    for (i = 0; i < NODES; i++) {
        assert_int_equal(rc_h_server_add_arg(f->c.nodes[i], "--cluster-key-file"), 0);
        assert_int_equal(rc_h_server_add_arg(f->c.nodes[i], path), 0);
    }
}

/*
 * Three nodes with --max-value-size mv (max_value bytes), in memory or on
 * disk (then with a cluster key), loaded; node 3 killed, seen dead,
 * restarted empty; it must hold every key again within REFILL_MS, and no
 * stream may have failed.
 */
/* Starts v (empty) and waits up to REFILL_MS until it holds want keys:
 * ms it took, or -1 (*keys: what it held last). */
static double start_and_refill(struct fixture *f, struct rc_hserver *v, int64_t want,
                               int64_t *keys)
{
    double t0 = rc_h_now_ms();

    assert_int_equal(rc_h_server_start(&f->h, v), 0);
    while (rc_h_now_ms() - t0 < REFILL_MS) {
        *keys = stat_of(v, "keys");
        if (*keys == want)
            return rc_h_now_ms() - t0;
        rc_h_sleep_ms(RR_POLL_MS);
    }
    return -1;
}

/* Describes NODES nodes (extra for all, or NULL; in memory or on SQLite,
 * keyed: with a cluster key), starts them, waits until they see each
 * other and settle, loads values up to max_value through node 1 and waits
 * until every node holds its copies. Returns the last node. */
static struct rc_hserver *start_loaded(struct fixture *f, const char *const *extra,
                                       size_t max_value, int memory, int keyed)
{
    const unsigned all = rr_all(NODES);
    int i;

    assert_int_equal(rc_h_cluster_new(&f->h, NODES, extra, f->c.nodes), 0);
    f->c.n = NODES;
    for (i = 0; memory && i < NODES; i++)
        snprintf(f->c.nodes[i]->data_dir, sizeof(f->c.nodes[i]->data_dir), ":memory:");
    if (keyed)
        add_cluster_key(f);
    assert_int_equal(rc_h_cluster_start(&f->h, f->c.nodes, NODES), 0);
    assert_true(rr_wait_alive(&f->c, all, NODES, CONVERGE_MS) >= 0);
    assert_true(rr_wait_settled(&f->c, all, NODES, 0, NULL, QUIET_MS, SETTLE_MS) >= 0);
    load(f, max_value);
    assert_true(rr_wait_settled(&f->c, all, NODES, NODES * (NSMALL + NBIG), NULL, 0, SETTLE_MS) >=
                0);
    return f->c.nodes[NODES - 1];
}

static void rejoin_empty(struct fixture *f, const char *mv, size_t max_value, int memory)
{
    const char *extra[] = {"--max-value-size", mv, NULL};
    const unsigned all = rr_all(NODES), rest = rr_without(all, NODES - 1);
    const int64_t total = NSMALL + NBIG;
    struct rc_hserver *v;
    char id[24];
    double held = -1;
    int64_t keys = -1, failures = 0, n;
    int i, stalls = 0;

    v = start_loaded(f, extra, max_value, memory, !memory);
    printf("stream_large: %d values of %d bytes and %d up to %zu bytes on %d nodes (%s)\n",
           NSMALL, SMALL_LEN, NBIG, max_value, NODES,
           memory ? ":memory:" : "SQLite, cluster key");

    assert_int_equal(rc_h_node_id(v, id, sizeof(id)), 0);
    rc_h_server_kill(v);
    assert_true(rr_wait_member_state(&f->c, rest, id, "dead", DETECT_MS) >= 0);
    if (!memory) {
        /* A wiped data directory: a fresh one in its place. */
        snprintf(v->data_dir, sizeof(v->data_dir), "%s/wiped", f->h.root);
        assert_int_equal(mkdir(v->data_dir, 0700), 0);
    }
    held = start_and_refill(f, v, total, &keys);
    for (i = 0; i < NODES - 1; i++) {
        stalls += rr_log_count(f->c.nodes[i], "failed (");
        n = stat_of(f->c.nodes[i], "stream_failures");
        failures += n < 0 ? 1 : n; /* missing counts as a failure */
    }
    printf("stream_large: restarted node holds %lld of %lld keys %s%.0f ms; stream failure log "
           "lines on the senders %d, stream_failures %lld\n",
           (long long)keys, (long long)total, held >= 0 ? "after " : "(gave up after ",
           held >= 0 ? held : (double)REFILL_MS, stalls, (long long)failures);
    if (held < 0)
        rr_print_log(&f->c, all);
    assert_true(held >= 0);
    assert_int_equal(stalls, 0);
    assert_int_equal(failures, 0);
    /* And the whole cluster settles at RF copies of everything. */
    assert_true(rr_wait_settled(&f->c, all, NODES, NODES * total, NULL, QUIET_MS, SETTLE_MS) >= 0);
    f->h.passed = 1;
}

static void test_memory_1m(void **state)
{
    rejoin_empty(*state, "1m", 1024 * 1024, 1);
}

static void test_sqlite_4m(void **state)
{
    rejoin_empty(*state, "4m", 4 * 1024 * 1024, 0);
}

/* 1 when some occurrence of key in s is followed by something else than
 * 0 (a number) or a closing quote (a string): a non-zero count, a
 * non-empty text. */
static int json_nonzero(const char *s, const char *key)
{
    const char *p;
    for (p = strstr(s, key); p != NULL; p = strstr(p + 1, key)) {
        char c = p[strlen(key)];
        if (c != '0' && c != '"' && c != '\0')
            return 1;
    }
    return 0;
}

/*
 * A stream that cannot get through must say so. Node 3 comes back empty
 * with a smaller --max-value-size (256k) than the others (1m): the 1 MiB
 * values cannot reach it (its frame limit refuses them). Within
 * FAIL_MS a sender counts the stream in STATS stream_failures, logs a
 * warning and shows it in ACTIVITY (the stream's failures and last_error,
 * and an event) and in `ringcache-cli watch`.
 */
static void test_failure_visible(void **state)
{
    struct fixture *f = *state;
    const unsigned all = rr_all(NODES), rest = rr_without(all, NODES - 1);
    struct rc_hserver *v;
    struct rc_client *c;
    struct rc_result res;
    char id[24];
    double t0;
    int64_t failures = 0, n;
    int i, sender = -1, activity = 0, watch;

    v = start_loaded(f, NULL, 1024 * 1024, 1, 0);
    assert_int_equal(rc_h_node_id(v, id, sizeof(id)), 0);
    rc_h_server_kill(v);
    assert_true(rr_wait_member_state(&f->c, rest, id, "dead", DETECT_MS) >= 0);
    assert_int_equal(rc_h_server_add_arg(v, "--max-value-size"), 0);
    assert_int_equal(rc_h_server_add_arg(v, "256k"), 0);
    t0 = rc_h_now_ms();
    assert_int_equal(rc_h_server_start(&f->h, v), 0);
    while (sender < 0 && rc_h_now_ms() - t0 < FAIL_MS) {
        rc_h_sleep_ms(RR_POLL_MS);
        for (i = 0; sender < 0 && i < NODES - 1; i++) {
            n = stat_of(f->c.nodes[i], "stream_failures");
            if (n > 0) {
                sender = i;
                failures = n;
            }
        }
    }
    printf("stream_large: node 3 back with --max-value-size 256k: %s %.0f ms (stream_failures "
           "%lld), it holds %lld keys\n",
           sender >= 0 ? "a sender reported a failing stream after" : "no failure reported in",
           rc_h_now_ms() - t0, (long long)failures, (long long)stat_of(v, "keys"));
    assert_true(sender >= 0);
    assert_true(rc_h_log_contains(f->c.nodes[sender], "attempts in a row failed"));
    c = rc_h_client(f->c.nodes[sender], IO_MS);
    assert_non_null(c);
    /* The event, and the stream's last_error not empty: in MessagePack
     * the key, then a str header other than the empty fixstr 0xa0. (The
     * reason is "frame too large" when the receiver's refusal arrives
     * before its close, "connection closed" otherwise.) */
    if (rc_client_activity(c, &res) == 0 && res.err == 0 && res.has_value) {
        const uint8_t *le = memmem(res.value, res.value_len, "last_error", 10);
        activity = memmem(res.value, res.value_len, "attempts in a row failed", 24) != NULL &&
                   le != NULL && le + 10 < res.value + res.value_len && le[10] != 0xa0;
    }
    rc_client_free(c);
    assert_true(activity);
    /* And `watch --json` (no terminal) shows the failing stream. */
    {
        const char *argv[] = {f->h.cli_bin, "-s", f->c.nodes[sender]->addr, "watch", "--json",
                              NULL};
        struct rc_hrun r;
        const char *out;
        assert_int_equal(rc_h_run(f->h.cli_bin, argv, NULL, NULL, 0, WATCH_MS, 1u << 20, &r), 0);
        out = r.out ? (const char *)r.out : "";
        watch = json_nonzero(out, "\"failures\": ") && json_nonzero(out, "\"last_error\": \"");
        if (!watch)
            printf("watch --json printed: %.600s\n", out);
        else if (strstr(out, "\"streams\"") != NULL)
            printf("stream_large: watch --json: %.400s\n", strstr(out, "\"streams\""));
        rc_h_run_free(&r);
    }
    assert_true(watch);
    f->h.passed = 1;
}

/*
 * Values written under a larger --max-value-size than the cluster runs
 * with now: no frame can carry them. Three nodes on SQLite load the
 * values at 1m; nodes 1 and 2 are restarted on their data with 256k;
 * node 3 comes back empty with 256k. The senders skip the large values
 * (STATS stream_skipped, a warning each) and stream everything else: the
 * new node ends up with every small key, and no stream stalls on them.
 */
static void test_oversized_skipped(void **state)
{
    struct fixture *f = *state;
    const unsigned all = rr_all(NODES), rest = rr_without(all, NODES - 1);
    struct rc_hserver *v;
    char id[24];
    double held = -1;
    int64_t keys = -1, skipped = 0, failures = 0, n;
    int i;

    v = start_loaded(f, NULL, 1024 * 1024, 0, 0);
    for (i = 0; i < NODES; i++) {
        assert_int_equal(rc_h_server_add_arg(f->c.nodes[i], "--max-value-size"), 0);
        assert_int_equal(rc_h_server_add_arg(f->c.nodes[i], "256k"), 0);
    }
    /* Killed with every value on disk (write-behind: STATS wb_dirty 0
     * within a flush), so they come back holding the large ones. */
    for (i = 0; i < NODES; i++) {
        double t0 = rc_h_now_ms();

        while (stat_of(f->c.nodes[i], "wb_dirty") != 0 && rc_h_now_ms() - t0 < 10000)
            rc_h_sleep_ms(20);
        assert_int_equal(stat_of(f->c.nodes[i], "wb_dirty"), 0);
    }
    for (i = 0; i < NODES - 1; i++) {
        rc_h_server_kill(f->c.nodes[i]);
        assert_int_equal(rc_h_server_start(&f->h, f->c.nodes[i]), 0);
    }
    assert_true(rr_wait_alive(&f->c, all, NODES, CONVERGE_MS) >= 0);
    assert_int_equal(rc_h_node_id(v, id, sizeof(id)), 0);
    rc_h_server_kill(v);
    assert_true(rr_wait_member_state(&f->c, rest, id, "dead", DETECT_MS) >= 0);
    snprintf(v->data_dir, sizeof(v->data_dir), "%s/wiped", f->h.root);
    assert_int_equal(mkdir(v->data_dir, 0700), 0);
    held = start_and_refill(f, v, NSMALL, &keys);
    for (i = 0; i < NODES - 1; i++) {
        n = stat_of(f->c.nodes[i], "stream_skipped");
        skipped += n > 0 ? n : 0;
        n = stat_of(f->c.nodes[i], "stream_failures");
        failures += n < 0 ? 1 : n;
    }
    printf("stream_large: --max-value-size lowered to 256k: the empty node holds %lld of the "
           "%d small keys after %.0f ms; %lld large values skipped by the senders, "
           "stream_failures %lld\n",
           (long long)keys, NSMALL, held >= 0 ? held : (double)REFILL_MS, (long long)skipped,
           (long long)failures);
    if (held < 0)
        rr_print_log(&f->c, all);
    assert_true(held >= 0);
    assert_true(skipped >= NBIG);
    assert_int_equal(failures, 0);
    assert_true(rc_h_log_contains(f->c.nodes[0], "more than a frame holds") ||
                rc_h_log_contains(f->c.nodes[1], "more than a frame holds"));
    f->h.passed = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_memory_1m, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_4m, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_failure_visible, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_oversized_skipped, setup, rc_h_fixture_teardown),
    };
    rc_h_test_filter_from_env();
    return cmocka_run_group_tests_name("stream_large", tests, NULL, NULL);
}
