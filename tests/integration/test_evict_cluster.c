/*
 * test_evict_cluster.c - eviction on three real nodes, RF=3, each with a
 * memory budget far below the data written (issue 15): the cluster's
 * repair machinery must not fight eviction, and eviction must never make
 * a read return an older value than one acknowledged.
 *
 * One test, a steady Zipf load (get, then set on a miss, as an
 * application cache does) through every node, with anti-entropy and the
 * cleanup sweep running every second or two so that they get many chances
 * to stream evicted entries back. Interleaved with it, a version check:
 * sequential QUORUM writes of increasing counters to a few keys, each
 * followed by a QUORUM read through another node, which must return the
 * last acknowledged counter or newer, or nothing (a miss is a cache's
 * right; an older value is not).
 *
 * Asserted, with every figure printed first: each node's used_memory stays
 * within its maxmemory (sampled during the load and at the end) and it
 * evicted; no stale read; the entries streamed by the whole cluster stay
 * under STREAM_FRACTION of the client writes (without a membership change,
 * anything streamed is repair traffic); anti-entropy ran, and left
 * differing ranges alone at least once, and reads skipped repairing a
 * replica that evicted (so the checks above were exercised).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "harness.h"

#define TEST_TIMEOUT_S 180
#define NODES 3
#define CONVERGE_MS 15000
/* 4 MiB each against ~60,000 keys of 256-byte values (~20 MB of data per
 * replica with the per-entry overhead): the cache holds about a fifth of
 * the key space, so the Zipf load evicts all the time. */
#define BUDGET "4m"
#define BUDGET_BYTES (4 << 20)
#define KEYS 60000
#define VALUE_LEN 256
#define ALPHA 0.99
#define LOAD_MS 12000
#define BATCH 64
#define VER_KEYS 16
/* Stream traffic allowed, as a fraction of the client writes: repairs of
 * real divergence (a replica timing out under this load) are legitimate,
 * a stream that resends what eviction dropped is not. */
#define STREAM_FRACTION 0.01
#define IO_MS 5000

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness */
};

/* xorshift64*: the test's own deterministic generator. */
static uint64_t rnd_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

/* Zipf over [0, n): inverse of the cumulative distribution. */
struct zipf {
    double *cdf;
    int n;
};

static void zipf_init(struct zipf *z, int n, double alpha)
{
    double sum = 0;
    int i;

    z->cdf = malloc((size_t)n * sizeof(*z->cdf));
    assert_non_null(z->cdf);
    z->n = n;
    for (i = 0; i < n; i++)
        sum += 1.0 / pow(i + 1, alpha);
    z->cdf[0] = 1.0 / sum;
    for (i = 1; i < n; i++)
        z->cdf[i] = z->cdf[i - 1] + 1.0 / pow(i + 1, alpha) / sum;
}

static int zipf_draw(const struct zipf *z, uint64_t *s)
{
    double u = (double)(rnd_next(s) >> 11) / 9007199254740992.0;
    int lo = 0, hi = z->n - 1;

    while (lo < hi) {
        int mid = (lo + hi) / 2;

        if (z->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct load {
    uint64_t gets, hits, puts, put_errors;
    uint64_t ver_writes, ver_reads, ver_misses, stale;
    uint64_t acked[VER_KEYS];
};

/* One batch through c: BATCH GETs pipelined, then a PUT for each miss. */
static void zipf_batch(struct rc_client *c, const struct zipf *z, uint64_t *seed,
                       struct load *ld)
{
    char keys[BATCH][24], value[VALUE_LEN];
    int miss[BATCH], i, n = 0;
    struct rc_result res;

    memset(value, 'v', sizeof(value));
    for (i = 0; i < BATCH; i++) {
        snprintf(keys[i], sizeof(keys[i]), "z:%d", zipf_draw(z, seed));
        assert_int_equal(rc_client_send(c, RC_CLIENT_GET, keys[i], strlen(keys[i]), NULL, 0, 0,
                                        0),
                         0);
    }
    for (i = 0; i < BATCH; i++) {
        assert_int_equal(rc_client_recv(c, &res), 0);
        ld->gets++;
        miss[i] = res.err != 0;
        ld->hits += res.err == 0;
    }
    for (i = 0; i < BATCH; i++) {
        if (!miss[i])
            continue;
        assert_int_equal(rc_client_send(c, RC_CLIENT_PUT, keys[i], strlen(keys[i]), value,
                                        sizeof(value), 0, 0),
                         0);
        n++;
    }
    for (i = 0; i < n; i++) {
        assert_int_equal(rc_client_recv(c, &res), 0);
        ld->puts++;
        ld->put_errors += res.err != 0;
    }
}

/* Writes counter+1 to ver:k through w at QUORUM, then reads it through r
 * at QUORUM: the answer must be the counter acknowledged or newer, or a
 * miss. */
static void version_step(struct rc_client *w, struct rc_client *r, int k, struct load *ld)
{
    char key[16], value[VALUE_LEN];
    struct rc_result res;
    uint64_t next = ld->acked[k] + 1, got;

    snprintf(key, sizeof(key), "ver:%d", k);
    memset(value, ' ', sizeof(value));
    snprintf(value, sizeof(value), "%020llu", (unsigned long long)next);
    assert_int_equal(rc_client_send(w, RC_CLIENT_PUT, key, strlen(key), value, sizeof(value), 0,
                                    RC_CLIENT_CL_QUORUM),
                     0);
    assert_int_equal(rc_client_recv(w, &res), 0);
    ld->ver_writes++;
    if (res.err == 0)
        ld->acked[k] = next;
    assert_int_equal(rc_client_send(r, RC_CLIENT_GET, key, strlen(key), NULL, 0, 0,
                                    RC_CLIENT_CL_QUORUM),
                     0);
    assert_int_equal(rc_client_recv(r, &res), 0);
    ld->ver_reads++;
    if (res.err != 0) {
        ld->ver_misses++;
        return;
    }
    got = strtoull((const char *)res.value, NULL, 10);
    if (got < ld->acked[k]) {
        ld->stale++;
        printf("stale read of %s: %llu after %llu was acknowledged\n", key,
               (unsigned long long)got, (unsigned long long)ld->acked[k]);
    }
}

/* Fails the test when a node holds more than its budget. */
static void check_budgets(struct rc_hserver *const *nodes, const char *when)
{
    int i;

    for (i = 0; i < NODES; i++) {
        int64_t used = rc_h_stat_of(nodes[i], "used_memory");
        int64_t max = rc_h_stat_of(nodes[i], "maxmemory");

        printf("%s: node %d used_memory=%lld maxmemory=%lld rss=%ld KiB\n", when, i,
               (long long)used, (long long)max, rc_h_server_rss_kib(nodes[i]));
        assert_int_equal(max, BUDGET_BYTES);
        assert_true(used >= 0 && used <= max);
    }
}

static int64_t sum_stat(struct rc_hserver *const *nodes, const char *name)
{
    int64_t sum = 0, v;
    int i;

    for (i = 0; i < NODES; i++) {
        v = rc_h_stat_of(nodes[i], name);
        assert_true(v >= 0);
        sum += v;
    }
    return sum;
}

static void test_zipf_load_rf3(void **state)
{
    struct fixture *f = *state;
    const char *extra[] = {"--data-dir", ":memory:", "--maxmemory", BUDGET,
                           "--cleanup-interval", "1000", "--anti-entropy-interval", "2000",
                           NULL};
    static const char *const policies[NODES] = {"allkeys-s3fifo", "allkeys-lru",
                                                 "allkeys-random"};
    struct rc_hserver *nodes[NODES];
    struct rc_client *c[NODES];
    struct load ld = {0};
    struct zipf z;
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    int64_t streamed, passes, skipped;
    double t0;
    int i, step = 0;

    assert_int_equal(rc_h_cluster_new(&f->h, NODES, extra, nodes), 0);
    /* A different policy per node: every replica sees the same writes and,
     * since a read goes to all of them, the same reads, so one
     * deterministic policy everywhere would keep identical copies. Mixed
     * policies make the replicas differ, as sampled policies or different
     * budgets do in practice. */
    for (i = 0; i < NODES; i++) {
        assert_int_equal(rc_h_server_add_arg(nodes[i], "--maxmemory-policy"), 0);
        assert_int_equal(rc_h_server_add_arg(nodes[i], policies[i]), 0);
    }
    assert_int_equal(rc_h_cluster_start(&f->h, nodes, NODES), 0);
    assert_true(rc_h_cluster_wait_converged(nodes, NULL, NODES, CONVERGE_MS) >= 0);
    for (i = 0; i < NODES; i++)
        c[i] = rc_h_test_client(&f->h, nodes[i], IO_MS, NODES);
    zipf_init(&z, KEYS, ALPHA);
    t0 = rc_h_now_ms();
    while (rc_h_now_ms() - t0 < LOAD_MS) {
        zipf_batch(c[step % NODES], &z, &seed, &ld);
        version_step(c[step % NODES], c[(step + 1) % NODES], step % VER_KEYS, &ld);
        if (++step % 200 == 0)
            check_budgets(nodes, "during the load");
    }
    free(z.cdf);
    /* Two more anti-entropy intervals with the load stopped: passes that
     * compare the replicas as eviction left them. */
    rc_h_sleep_ms(5000);
    check_budgets(nodes, "after the load");
    streamed = sum_stat(nodes, "stream_keys_out");
    passes = sum_stat(nodes, "anti_entropy_passes");
    skipped = sum_stat(nodes, "anti_entropy_skipped_evicting");
    printf("gets=%llu hit_ratio=%.3f puts=%llu put_errors=%llu ver_writes=%llu "
           "ver_reads=%llu ver_misses=%llu stale=%llu\n",
           (unsigned long long)ld.gets, ld.gets ? (double)ld.hits / (double)ld.gets : 0.0,
           (unsigned long long)ld.puts, (unsigned long long)ld.put_errors,
           (unsigned long long)ld.ver_writes, (unsigned long long)ld.ver_reads,
           (unsigned long long)ld.ver_misses, (unsigned long long)ld.stale);
    printf("evicted_keys=%lld ghost_refused=%lld read_repairs=%lld read_repairs_evicted=%lld "
           "stream_keys_out=%lld (%.4f of client writes) anti_entropy_passes=%lld "
           "anti_entropy_skipped_evicting=%lld\n",
           (long long)sum_stat(nodes, "evicted_keys"), (long long)sum_stat(nodes, "ghost_refused"),
           (long long)sum_stat(nodes, "read_repairs"),
           (long long)sum_stat(nodes, "read_repairs_evicted"), (long long)streamed,
           (double)streamed / (double)(ld.puts + ld.ver_writes), (long long)passes,
           (long long)skipped);
    for (i = 0; i < NODES; i++)
        assert_true(rc_h_stat_of(nodes[i], "evicted_keys") > 0);
    assert_true(ld.puts > 10000);
    assert_int_equal(ld.put_errors, 0);
    assert_int_equal(ld.stale, 0);
    assert_true((double)streamed <= STREAM_FRACTION * (double)(ld.puts + ld.ver_writes));
    assert_true(passes > 0);
    assert_true(skipped > 0);
    assert_true(sum_stat(nodes, "read_repairs_evicted") > 0);
    f->h.passed = 1;
}

static int setup(void **state)
{
    return rc_h_fixture_setup(state, sizeof(struct fixture), TEST_TIMEOUT_S);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_zipf_load_rf3, setup, rc_h_fixture_teardown),
    };

    rc_h_test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
