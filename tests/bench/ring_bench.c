/*
 * ring_bench.c - numbers behind the ring's tunables: lookup and build
 * cost, balance for each vnode count, and keys moved by a membership
 * change against the minimum. RC_RING_DEFAULT_VNODES cites its output.
 * Ids and keys come from a fixed-seed generator so runs are comparable.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "err.h"
#include "ring.h"

/* Random member lists per balance cell: enough for the mean and the worst
 * case to be stable to the second decimal, and the whole run under 20 s. */
#define TRIALS 200
#define LOOKUPS 1000000
#define MOVE_KEYS 1000000
#define RF 3

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void random_ids(uint64_t *ids, size_t n, uint64_t *seed)
{
    size_t i;

    for (i = 0; i < n; i++) {
        do
            ids[i] = splitmix64(seed);
        while (ids[i] == 0);
    }
}

static struct rc_ring *must_ring(const uint64_t *ids, size_t n, int vnodes)
{
    struct rc_ring *r;
    int err = rc_ring_new(ids, n, vnodes, &r);

    if (err != 0) {
        fprintf(stderr, "rc_ring_new: %s\n", rc_strerror(err));
        exit(1);
    }
    return r;
}

static void bench_lookup(size_t n, int vnodes)
{
    static uint64_t tokens[LOOKUPS];
    uint64_t ids[64], out[RC_RING_MAX_RF], seed = 1, sink = 0;
    struct rc_ring *r;
    double t;
    size_t i;

    random_ids(ids, n, &seed);
    r = must_ring(ids, n, vnodes);
    for (i = 0; i < LOOKUPS; i++)
        tokens[i] = splitmix64(&seed);
    t = now_s();
    for (i = 0; i < LOOKUPS; i++) {
        rc_ring_replicas(r, tokens[i], RF, out);
        sink ^= out[0];
    }
    t = now_s() - t;
    printf("lookup  N=%-3zu V=%-4d rf=%d: %6.1f ns per rc_ring_replicas (%llx)\n", n, vnodes,
           RF, t * 1e9 / LOOKUPS, (unsigned long long)(sink & 0xf));
    rc_ring_free(r);
}

static void bench_build(size_t n, int vnodes, int reps)
{
    static uint64_t ids[RC_RING_MAX_MEMBERS];
    uint64_t seed = 2;
    double t;
    int i;

    random_ids(ids, n, &seed);
    t = now_s();
    for (i = 0; i < reps; i++)
        rc_ring_free(must_ring(ids, n, vnodes));
    t = now_s() - t;
    printf("build   N=%-4zu V=%-4d: %9.3f ms (%zu vnodes, %zu KB)\n", n, vnodes,
           t * 1e3 / reps, n * (size_t)vnodes, n * (size_t)vnodes * 10 / 1024);
}

/* Max/mean and relative stddev of the members' primary token shares. */
static void balance(const uint64_t *ids, size_t n, int vnodes, double *maxr, double *sd)
{
    double share[64], max = 0, var = 0, mean = 1.0 / (double)n;
    struct rc_ring *r = must_ring(ids, n, vnodes);
    size_t i;

    rc_ring_shares(r, 1, share, NULL);
    for (i = 0; i < n; i++) {
        if (share[i] > max)
            max = share[i];
        var += (share[i] - mean) * (share[i] - mean);
    }
    *maxr = max / mean;
    *sd = sqrt(var / (double)n) / mean;
    rc_ring_free(r);
}

static void bench_balance(void)
{
    static const size_t ns[] = {3, 5, 8, 16, 32, 64};
    static const int vs[] = {64, 128, 256, 512};
    uint64_t ids[64], seed = 3;
    double m, sd, msum, mworst, sdsum;
    size_t a, b;
    int t;

    printf("\nbalance: primary token share over %d random member lists\n", TRIALS);
    printf("  N    V  max/mean(avg)  max/mean(worst)  stddev/mean(avg)\n");
    for (b = 0; b < sizeof(vs) / sizeof(vs[0]); b++) {
        for (a = 0; a < sizeof(ns) / sizeof(ns[0]); a++) {
            msum = mworst = sdsum = 0;
            for (t = 0; t < TRIALS; t++) {
                random_ids(ids, ns[a], &seed);
                balance(ids, ns[a], vs[b], &m, &sd);
                msum += m;
                sdsum += sd;
                mworst = m > mworst ? m : mworst;
            }
            printf("%3zu %4d  %13.3f  %15.3f  %16.3f\n", ns[a], vs[b], msum / TRIALS, mworst,
                   sdsum / TRIALS);
        }
    }
}

static int contains(const uint64_t *list, int n, uint64_t id)
{
    int i;

    for (i = 0; i < n; i++) {
        if (list[i] == id)
            return 1;
    }
    return 0;
}

/* Counts keys whose owner / replica set changed from r0 to r1, keys that
 * moved between two members present in both rings (consistent hashing
 * says none), and the token share rc_ring_diff reports. */
static void movement(const char *what, const struct rc_ring *r0, const struct rc_ring *r1,
                     uint64_t changed_id, double ideal)
{
    uint64_t l0[RC_RING_MAX_RF], l1[RC_RING_MAX_RF], seed = 4, tok;
    size_t i, primary = 0, set = 0, stray = 0, nr;
    struct rc_ring_range *ranges;
    double span = 0;
    int n0, n1, k;

    for (i = 0; i < MOVE_KEYS; i++) {
        tok = splitmix64(&seed);
        n0 = rc_ring_replicas(r0, tok, RF, l0);
        n1 = rc_ring_replicas(r1, tok, RF, l1);
        primary += l0[0] != l1[0];
        if (l0[0] != l1[0] && l0[0] != changed_id && l1[0] != changed_id)
            stray++;
        for (k = 0; k < n1 && contains(l0, n0, l1[k]); k++)
            ;
        set += k < n1;
    }
    if (rc_ring_diff(r0, r1, RF, &ranges, &nr) != 0)
        exit(1);
    for (i = 0; i < nr; i++)
        span += ((double)(ranges[i].last - ranges[i].first) + 1) / 18446744073709551616.0;
    free(ranges);
    printf("%-16s primary moved %.4f (min %.4f, x%.3f)  rf=%d set changed %.4f "
           "(min %.4f, x%.3f)  diff: %zu ranges, %.4f of ring  stray %zu\n",
           what, (double)primary / MOVE_KEYS, ideal, (double)primary / MOVE_KEYS / ideal, RF,
           (double)set / MOVE_KEYS, ideal * RF, (double)set / MOVE_KEYS / (ideal * RF), nr,
           span, stray);
}

static void bench_movement(size_t n)
{
    uint64_t ids[65], seed = 5;
    struct rc_ring *small, *big;
    char what[32];

    random_ids(ids, n + 1, &seed);
    small = must_ring(ids, n, RC_RING_DEFAULT_VNODES);
    big = must_ring(ids, n + 1, RC_RING_DEFAULT_VNODES);
    snprintf(what, sizeof(what), "add    %zu->%zu", n, n + 1);
    movement(what, small, big, ids[n], 1.0 / (double)(n + 1));
    snprintf(what, sizeof(what), "remove %zu->%zu", n + 1, n);
    movement(what, big, small, ids[n], 1.0 / (double)(n + 1));
    rc_ring_free(small);
    rc_ring_free(big);
}

int main(void)
{
    bench_lookup(5, RC_RING_DEFAULT_VNODES);
    bench_lookup(64, RC_RING_DEFAULT_VNODES);
    bench_lookup(64, 512);
    printf("\n");
    bench_build(5, RC_RING_DEFAULT_VNODES, 1000);
    bench_build(64, RC_RING_DEFAULT_VNODES, 100);
    bench_build(64, 512, 100);
    bench_build(RC_RING_MAX_MEMBERS, RC_RING_DEFAULT_VNODES, 5);
    bench_build(RC_RING_MAX_MEMBERS, RC_RING_MAX_VNODES, 1);
    bench_balance();
    printf("\nmovement over %d random keys, V=%d (min = share the changed member must "
           "take or give up when balanced)\n",
           MOVE_KEYS, RC_RING_DEFAULT_VNODES);
    bench_movement(4);
    bench_movement(5);
    bench_movement(16);
    bench_movement(64);
    return 0;
}
