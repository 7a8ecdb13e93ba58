/*
 * test_skew.c - a node with a wrong clock in a keyed cluster (issue 12,
 * "skew is the skewed node's problem").
 *
 * Three nodes with a cluster key; the third runs under libfaketime with
 * its wall clock shifted (the monotonic clock, which drives timeouts, is
 * left alone). At +20 s, inside the seal's 30 s window, the cluster must
 * form and stay whole: nobody is declared dead, and the skewed node says
 * in STATS, MEMBERS and its log that its own clock is ahead. At +90 s,
 * beyond the window, the two good nodes refuse it (it never becomes a
 * member of theirs, not even through push-pull), never declare each other
 * dead, and the skewed node logs that its own clock is the one that is off.
 * A running node whose clock jumps 90 s ahead and back does the same, and
 * the deaths it declared while cut off do not kill anyone once it is heard
 * again.
 * Skipped when libfaketime is not installed (scripts/deps.sh test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define TEST_TIMEOUT_S 120
#define CONVERGE_MS 10000
/* Long enough for several suspicion timeouts (2.4 s each) and push-pull
 * rounds (1 s in this test) to have happened. */
#define OBSERVE_MS 10000
#define MEMBERS_IO_MS 1000
/* The estimate is within a round trip of the truth; on loopback that is
 * milliseconds, so 1 s is a wide margin for scheduling noise. */
#define AHEAD_TOLERANCE_MS 1000

static const char key_a[] = "5f0e1d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100";

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness (harness.h) */
    struct rc_hserver *nodes[3];
    char ids[3][RC_H_ID_CAP];
    char clock_file[RC_H_PATH];
};

/* Sets the third node's clock shift (libfaketime reads it within 1 s). */
static void set_clock(struct fixture *f, const char *shift)
{
    FILE *fp = fopen(f->clock_file, "w");

    assert_non_null(fp);
    fprintf(fp, "%s\n", shift);
    assert_int_equal(fclose(fp), 0);
}

static int setup(void **state)
{
    return rc_h_fixture_setup(state, sizeof(struct fixture), TEST_TIMEOUT_S);
}

/* libfaketime (Debian's libfaketime package), or RC_FAKETIME_LIB; NULL
 * when there is none. */
static const char *faketime_lib(void)
{
    static const char *const where[] = {
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    };
    const char *env = getenv("RC_FAKETIME_LIB");
    size_t i;

    if (env != NULL && *env != '\0')
        return access(env, R_OK) == 0 ? env : NULL;
    for (i = 0; i < sizeof(where) / sizeof(where[0]); i++)
        if (access(where[i], R_OK) == 0)
            return where[i];
    return NULL;
}

/* Skips the test, saying why, when libfaketime is not installed. */
#define REQUIRE_FAKETIME(f)                                                                    \
    do {                                                                                       \
        if (faketime_lib() == NULL) {                                                          \
            printf("  SKIPPED: libfaketime not found (install it: scripts/deps.sh test, or "   \
                   "set RC_FAKETIME_LIB)\n");                                                  \
            (f)->h.passed = 1;                                                                 \
            skip();                                                                            \
        }                                                                                      \
    } while (0)

/* Three keyed nodes; the third one's wall clock runs `shift` ahead
 * ("+20s"). Like the second, it has node 1 as its only seed: beyond the
 * window, the only clock it can measure is that seed's (which vouches
 * for node 2's). shift NULL: its shift is read from f->clock_file
 * (re-read every second), "+0" to begin with. */
static void start_cluster(struct fixture *f, const char *shift)
{
    char path[RC_H_PATH], env[RC_H_PATH + 32], text[sizeof(key_a) + 1];
    int i;

    snprintf(text, sizeof(text), "%s\n", key_a);
    assert_int_equal(rc_h_write_file(&f->h, "cluster.key", text, 0600, path, sizeof(path)), 0);
    assert_int_equal(rc_h_cluster_new(&f->h, 3, NULL, f->nodes), 0);
    for (i = 0; i < 3; i++) {
        assert_int_equal(rc_h_server_add_arg(f->nodes[i], "--cluster-key-file"), 0);
        assert_int_equal(rc_h_server_add_arg(f->nodes[i], path), 0);
        assert_int_equal(rc_h_server_add_arg(f->nodes[i], "--push-pull-interval"), 0);
        assert_int_equal(rc_h_server_add_arg(f->nodes[i], "1000"), 0);
    }
    rc_h_allow_preload_under_asan();
    snprintf(env, sizeof(env), "LD_PRELOAD=%s", faketime_lib());
    assert_int_equal(rc_h_server_setenv(f->nodes[2], env), 0);
    if (shift != NULL) {
        snprintf(env, sizeof(env), "FAKETIME=%s", shift);
    } else {
        snprintf(f->clock_file, sizeof(f->clock_file), "%s/faketime.rc", f->h.root);
        set_clock(f, "+0");
        snprintf(env, sizeof(env), "FAKETIME_TIMESTAMP_FILE=%s", f->clock_file);
        assert_int_equal(rc_h_server_setenv(f->nodes[2], "FAKETIME_CACHE_DURATION=1"), 0);
    }
    assert_int_equal(rc_h_server_setenv(f->nodes[2], env), 0);
    assert_int_equal(rc_h_server_setenv(f->nodes[2], "FAKETIME_DONT_FAKE_MONOTONIC=1"), 0);
    assert_int_equal(rc_h_cluster_start(&f->h, f->nodes, 3), 0);
    assert_int_equal(rc_h_cluster_ids(f->nodes, 3, f->ids), 0);
}

/* The member `id` as node obs lists it, or NULL (m holds the reply). */
static const struct rc_hmember *member_as_seen(const struct fixture *f, int obs, const char *id,
                                               struct rc_hmember *m, int max)
{
    int k = rc_h_members(f->nodes[obs], m, max, MEMBERS_IO_MS);

    return k > 0 ? rc_h_member_find(m, k < max ? k : max, id) : NULL;
}

/* 1 when each of the nodes obs[0..nobs-1] lists each of want[0..nwant-1]
 * alive. */
static int all_alive(const struct fixture *f, const int *obs, int nobs, const int *want,
                     int nwant)
{
    struct rc_hmember m[8];
    int i, j;

    for (i = 0; i < nobs; i++)
        for (j = 0; j < nwant; j++) {
            const struct rc_hmember *t = member_as_seen(f, obs[i], f->ids[want[j]], m, 8);

            if (t == NULL || strcmp(t->state, "alive") != 0)
                return 0;
        }
    return 1;
}

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

/* "-> dead" transitions each node logged about a member in ids[0..n-1]. */
static int deaths_logged(const struct fixture *f, int node, const int *about, int n)
{
    int i, c = 0;

    for (i = 0; i < n; i++)
        c += rc_h_log_count(f->nodes[node], "-> dead", f->ids[about[i]]);
    return c;
}

/* +20 s: inside the window. The cluster forms, nobody dies, and the
 * skewed node knows and says it is the one ahead. */
static void test_ahead_within_window(void **state)
{
    struct fixture *f = *state;
    const int every[] = {0, 1, 2};
    struct rc_hmember m[8];
    const struct rc_hmember *t;
    double t0;
    int ok = 0, dead, i;
    int64_t ahead, ahead_good;

    REQUIRE_FAKETIME(f);
    start_cluster(f, "+20s");
    t0 = rc_h_now_ms();
    while (!ok && rc_h_now_ms() - t0 < CONVERGE_MS) {
        ok = all_alive(f, every, 3, every, 3);
        if (!ok)
            rc_h_sleep_ms(100);
    }
    printf("  converged=%d after %.0f ms\n", ok, rc_h_now_ms() - t0);
    rc_h_sleep_ms(OBSERVE_MS);
    for (dead = 0, i = 0; i < 3; i++)
        dead += deaths_logged(f, i, every, 3);
    printf("  dead transitions logged over the run: %d\n", dead);
    assert_true(ok);
    assert_int_equal(dead, 0);
    assert_true(all_alive(f, every, 3, every, 3));

    ahead = rc_h_stat_of(f->nodes[2], "clock_ahead_ms");
    ahead_good = rc_h_stat_of(f->nodes[0], "clock_ahead_ms");
    printf("  clock_ahead_ms: skewed %lld, node 1 %lld; skewed peers: %lld / %lld\n",
           (long long)ahead, (long long)ahead_good,
           (long long)rc_h_stat_of(f->nodes[2], "clock_skewed_peers"),
           (long long)rc_h_stat_of(f->nodes[0], "clock_skewed_peers"));
    assert_true(abs64(ahead - 20000) <= AHEAD_TOLERANCE_MS);
    assert_true(abs64(ahead_good) <= AHEAD_TOLERANCE_MS);
    assert_int_equal(rc_h_stat_of(f->nodes[2], "clock_skewed_peers"), 2);
    assert_int_equal(rc_h_stat_of(f->nodes[0], "clock_skewed_peers"), 1);
    /* MEMBERS on node 1: the skewed node's clock is ~20 s ahead of it. */
    t = member_as_seen(f, 0, f->ids[2], m, 8);
    assert_non_null(t);
    assert_true(t->has_clock_offset);
    assert_true(abs64(t->clock_offset_ms - 20000) <= AHEAD_TOLERANCE_MS);
    /* The skewed node names its own clock; node 1 names the skewed peer. */
    assert_true(rc_h_log_count(f->nodes[2], "this node's clock is", "ahead") > 0);
    assert_int_equal(rc_h_log_count(f->nodes[0], "this node's clock is", NULL), 0);
    assert_true(rc_h_log_count(f->nodes[0], "clock of peer", f->ids[2]) > 0);
    f->h.passed = 1;
}

/* +90 s: beyond the window. The skewed node is refused, the others stay
 * a healthy pair, and it says its own clock is off. */
static void test_ahead_beyond_window(void **state)
{
    struct fixture *f = *state;
    const int good[] = {0, 1};
    struct rc_hmember m[8];
    const struct rc_hmember *t;
    double t0;
    int ok = 0, let_in = 0, dead, i;

    REQUIRE_FAKETIME(f);
    start_cluster(f, "+90s");
    t0 = rc_h_now_ms();
    while (!ok && rc_h_now_ms() - t0 < CONVERGE_MS) {
        ok = all_alive(f, good, 2, good, 2);
        if (!ok)
            rc_h_sleep_ms(100);
    }
    printf("  good pair converged=%d after %.0f ms\n", ok, rc_h_now_ms() - t0);
    /* Throughout: neither good node ever lists the skewed one as alive. */
    t0 = rc_h_now_ms();
    while (rc_h_now_ms() - t0 < OBSERVE_MS) {
        for (i = 0; i < 2; i++) {
            t = member_as_seen(f, i, f->ids[2], m, 8);
            let_in += t != NULL && strcmp(t->state, "alive") == 0;
        }
        rc_h_sleep_ms(200);
    }
    dead = deaths_logged(f, 0, good, 2) + deaths_logged(f, 1, good, 2);
    printf("  times a good node listed the skewed one alive: %d; good nodes declared dead by "
           "good nodes: %d\n",
           let_in, dead);
    assert_true(ok);
    assert_int_equal(let_in, 0);
    assert_int_equal(dead, 0);
    assert_true(all_alive(f, good, 2, good, 2));
    assert_true(rc_h_stat_of(f->nodes[2], "clock_ahead_ms") >= 90000 - AHEAD_TOLERANCE_MS);
    assert_true(rc_h_log_count(f->nodes[2], "this node's clock is", "ahead") > 0);
    assert_int_equal(rc_h_log_count(f->nodes[0], "this node's clock is", NULL), 0);
    assert_true(rc_h_log_count(f->nodes[0], "clock of peer", f->ids[2]) > 0);
    f->h.passed = 1;
}

/* A running node's clock jumps 90 s ahead, then back: the other two stay
 * a healthy pair and stop hearing it, it says its own clock is off, and
 * once the clock is right it comes back and says so. */
static void test_clock_jumps_and_returns(void **state)
{
    struct fixture *f = *state;
    const int good[] = {0, 1}, every[] = {0, 1, 2};
    struct rc_hmember m[8];
    const struct rc_hmember *t;
    double t0;
    int ok = 0, said = 0, dead, i;

    REQUIRE_FAKETIME(f);
    start_cluster(f, NULL);
    t0 = rc_h_now_ms();
    while (!ok && rc_h_now_ms() - t0 < CONVERGE_MS) {
        ok = all_alive(f, every, 3, every, 3);
        if (!ok)
            rc_h_sleep_ms(100);
    }
    assert_true(ok);
    set_clock(f, "+90s");
    /* Its own log names its clock once its peers were measured again:
     * by push-pull (its seed's, or another's in the first seconds), or,
     * for a peer it only hears one way now, once its round trips from
     * before the jump are superseded (RC_SKEW_SUPERSEDED_MS, 30 s); and
     * node 1's names it. */
    t0 = rc_h_now_ms();
    while (!said && rc_h_now_ms() - t0 < 45000) {
        said = rc_h_log_count(f->nodes[2], "this node's clock is", "ahead") > 0 &&
               rc_h_log_count(f->nodes[0], "clock of peer", f->ids[2]) > 0;
        if (!said)
            rc_h_sleep_ms(250);
    }
    printf("  the jumped node and node 1 named its clock after %.0f ms\n", rc_h_now_ms() - t0);
    assert_true(said);
    for (i = 0; i < 2; i++) { /* the good ones stopped hearing it */
        t = member_as_seen(f, i, f->ids[2], m, 8);
        assert_true(t == NULL || strcmp(t->state, "alive") != 0);
    }
    assert_true(all_alive(f, good, 2, good, 2));
    set_clock(f, "+0");
    t0 = rc_h_now_ms();
    ok = 0;
    while (!ok && rc_h_now_ms() - t0 < 20000) {
        ok = all_alive(f, every, 3, every, 3);
        if (!ok)
            rc_h_sleep_ms(200);
    }
    printf("  back together %.0f ms after the clock was set right\n", rc_h_now_ms() - t0);
    assert_true(ok);
    rc_h_sleep_ms(2 * 1000);
    dead = deaths_logged(f, 0, good, 2) + deaths_logged(f, 1, good, 2);
    printf("  good nodes declared dead by good nodes: %d\n", dead);
    assert_int_equal(dead, 0);
    for (i = 0; i < 2; i++) /* the good ones never thought their own clock was off */
        assert_int_equal(rc_h_log_count(f->nodes[i], "this node's clock is", NULL), 0);
    assert_true(rc_h_log_count(f->nodes[2], "agrees with its peers again", NULL) > 0);
    f->h.passed = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ahead_within_window, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_ahead_beyond_window, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_clock_jumps_and_returns, setup, rc_h_fixture_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
