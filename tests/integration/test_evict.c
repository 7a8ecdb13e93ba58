/*
 * test_evict.c - the memory budget and eviction of one real node (issue 15):
 * --maxmemory and --maxmemory-policy at startup (bad values refused with a
 * clear message), INFO's and STATS's figures, CONFIG GET/SET of the budget
 * and the policy at run time (a lowered budget evicted down within
 * seconds), and on disk --max-db-size evicting under an allkeys policy
 * where noeviction answers FULL.
 *
 * The node is spoken to over RESP with a raw socket (no redis-cli needed):
 * the commands are small, the replies read whole, SETs pipelined.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "evict.h"
#include "harness.h"

#define TEST_TIMEOUT_S 120
#define IO_MS 10000
#define REPLY_CAP (1u << 20)
/* ~40 MB written into a 4 MiB budget: ten times what fits. */
#define VAL_LEN 1000
#define NKEYS 40000
#define PIPELINE 500

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness (harness.h) */
    char buf[REPLY_CAP];
};

static int setup(void **state)
{
    return rc_h_fixture_setup(state, sizeof(struct fixture), TEST_TIMEOUT_S);
}

/* ---- a small RESP client ------------------------------------------------ */

struct conn {
    int fd;
    char *in; /* bytes read, not yet parsed: in[0..len) */
    size_t len;
};

/* Reads more bytes into c->in (REPLY_CAP at most). 0 or -1. */
static int fill(struct conn *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    ssize_t n;

    if (c->len >= REPLY_CAP || poll(&p, 1, IO_MS) != 1)
        return -1;
    n = read(c->fd, c->in + c->len, REPLY_CAP - c->len);
    if (n <= 0)
        return -1;
    c->len += (size_t)n;
    return 0;
}

/* The end of a CRLF-terminated line starting at off, waiting for it. */
static size_t line_end(struct conn *c, size_t off)
{
    char *e;

    for (;;) {
        e = c->len > off ? memchr(c->in + off, '\n', c->len - off) : NULL;
        if (e != NULL)
            return (size_t)(e - c->in) + 1;
        assert_int_equal(fill(c), 0);
    }
}

/* Reads one reply (nested arrays included) and returns its length in
 * c->in; the caller looks at c->in[0..len) and then drops it. */
static size_t reply_len(struct conn *c, size_t off)
{
    size_t e = line_end(c, off);
    long n = strtol(c->in + off + 1, NULL, 10), i;

    switch (c->in[off]) {
    case '$':
        if (n < 0)
            return e;
        while (c->len < e + (size_t)n + 2)
            assert_int_equal(fill(c), 0);
        return e + (size_t)n + 2;
    case '*':
        for (i = 0; i < n; i++)
            e = reply_len(c, e);
        return e;
    default:
        return e;
    }
}

static void drop(struct conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->len - n);
    c->len -= n;
}

static void send_cmd(struct conn *c, int argc, const char *const *argv, const size_t *lens)
{
    char head[64];
    int i, n;

    n = snprintf(head, sizeof(head), "*%d\r\n", argc);
    assert_int_equal(rc_h_send_all(c->fd, head, (size_t)n, IO_MS), 0);
    for (i = 0; i < argc; i++) {
        size_t l = lens ? lens[i] : strlen(argv[i]);

        n = snprintf(head, sizeof(head), "$%zu\r\n", l);
        assert_int_equal(rc_h_send_all(c->fd, head, (size_t)n, IO_MS), 0);
        assert_int_equal(rc_h_send_all(c->fd, argv[i], l, IO_MS), 0);
        assert_int_equal(rc_h_send_all(c->fd, "\r\n", 2, IO_MS), 0);
    }
}

/* Sends a command of NULL-terminated words and copies its reply, NUL
 * terminated, into out. */
static void cmd(struct conn *c, char *out, size_t cap, ...)
{
    const char *argv[8];
    va_list ap;
    int argc = 0;
    size_t n;

    va_start(ap, cap);
    while (argc < 8 && (argv[argc] = va_arg(ap, const char *)) != NULL)
        argc++;
    va_end(ap);
    send_cmd(c, argc, argv, NULL);
    n = reply_len(c, 0);
    assert_true(n < cap);
    memcpy(out, c->in, n);
    out[n] = '\0';
    drop(c, n);
}

static void conn_open(struct conn *c, int port)
{
    c->fd = rc_h_tcp_connect(port, IO_MS);
    assert_true(c->fd >= 0);
    c->in = malloc(REPLY_CAP);
    assert_non_null(c->in);
    c->len = 0;
}

static void conn_close(struct conn *c)
{
    close(c->fd);
    free(c->in);
}

/* An INFO field as a number (-1 when absent) or its text into val. */
static int64_t info_field(struct conn *c, char *buf, const char *name, char *val, size_t cap)
{
    char key[64];
    const char *p, *e;

    cmd(c, buf, REPLY_CAP, "INFO", "all", NULL);
    snprintf(key, sizeof(key), "\n%s:", name);
    p = strstr(buf, key);
    if (p == NULL)
        return -1;
    p += strlen(key);
    e = strstr(p, "\r\n");
    assert_non_null(e);
    if (val != NULL)
        snprintf(val, cap, "%.*s", (int)(e - p), p);
    return strtoll(p, NULL, 10);
}

/* SETs of keys [from, to) with VAL_LEN-byte values, pipelined; returns
 * how many were answered +OK (the others' errors into last_err). */
static int set_range(struct conn *c, int from, int to, char *last_err, size_t cap)
{
    static char val[VAL_LEN];
    char key[32];
    const char *argv[3] = {"SET", key, val};
    size_t lens[3] = {3, 0, VAL_LEN}, n;
    int i, j, ok = 0;

    for (i = from; i < to; i += PIPELINE) {
        for (j = i; j < to && j < i + PIPELINE; j++) {
            lens[1] = (size_t)snprintf(key, sizeof(key), "key:%08d", j);
            memset(val, 'a' + j % 26, sizeof(val));
            send_cmd(c, 3, argv, lens);
        }
        for (j = i; j < to && j < i + PIPELINE; j++) {
            n = reply_len(c, 0);
            if (n >= 3 && memcmp(c->in, "+OK", 3) == 0)
                ok++;
            else if (last_err != NULL)
                snprintf(last_err, cap, "%.*s", (int)(n > 200 ? 200 : n), c->in);
            drop(c, n);
        }
    }
    return ok;
}

static struct rc_hserver *start_resp(struct fixture *f, const char *data_dir,
                                     const char *const *extra, int *resp_port)
{
    struct rc_hserver *s = rc_h_server_new(&f->h, data_dir, extra);
    char port[16];

    assert_non_null(s);
    *resp_port = rc_h_free_port();
    snprintf(port, sizeof(port), "%d", *resp_port);
    assert_int_equal(rc_h_server_add_arg(s, "--resp-port"), 0);
    assert_int_equal(rc_h_server_add_arg(s, port), 0);
    assert_int_equal(rc_h_server_start(&f->h, s), 0);
    return s;
}

/* ringcache-cli members: the header's new columns, and this node's
 * MEMORY cell ending with budget (e.g. "/4.0M"). */
static void cli_members(struct fixture *f, const struct rc_hserver *s, const char *budget)
{
    const char *argv[] = {f->h.cli_bin, "-s", s->addr, "members", NULL};
    const char *line;
    struct rc_hrun r;

    assert_int_equal(rc_h_run(f->h.cli_bin, argv, NULL, NULL, 0, 10000, 1 << 16, &r), 0);
    printf("%s", (const char *)r.out);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr((const char *)r.out, "MEMORY"));
    assert_non_null(strstr((const char *)r.out, "EVICTED"));
    assert_non_null(strstr((const char *)r.out, "HIT%"));
    line = strstr((const char *)r.out, "\n* ");
    assert_non_null(line);
    assert_non_null(strstr(line, budget));
    rc_h_run_free(&r);
}

/* ---- tests --------------------------------------------------------------- */

/* A :memory: node with a 4 MiB budget takes ~40 MB of writes: every SET
 * succeeds, it stays within the budget, evicts, counts hits and misses;
 * CONFIG SET lowers the budget (evicted down within seconds) and switches
 * the policy; a bad policy is refused as Redis refuses it. */
static void test_memory_budget(void **state)
{
    struct fixture *f = *state;
    static const char *const extra[] = {"--maxmemory", "4m", "--max-value-size", "64k", NULL};
    struct rc_hserver *s;
    char *b = f->buf, val[128], err[256] = "";
    int64_t used, max, evicted, hits, misses, hits2, misses2;
    struct conn c;
    int port, ok, i;
    double t0;

    s = start_resp(f, ":memory:", extra, &port);
    conn_open(&c, port);
    cmd(&c, b, REPLY_CAP, "CONFIG", "GET", "maxmemory", NULL);
    assert_string_equal(b, "*2\r\n$9\r\nmaxmemory\r\n$7\r\n4194304\r\n");
    cmd(&c, b, REPLY_CAP, "CONFIG", "GET", "maxmemory-policy", NULL);
    snprintf(val, sizeof(val), "*2\r\n$16\r\nmaxmemory-policy\r\n$%zu\r\n%s\r\n",
             strlen(rc_evict_policy_name(RC_EVICT_DEFAULT)), rc_evict_policy_name(RC_EVICT_DEFAULT));
    assert_string_equal(b, val);

    ok = set_range(&c, 0, NKEYS, err, sizeof(err));
    printf("%d of %d SETs of %d bytes into a 4 MiB budget answered OK%s%s\n", ok, NKEYS,
           VAL_LEN, *err ? "; last error: " : "", err);
    assert_int_equal(ok, NKEYS);
    used = info_field(&c, b, "used_memory", NULL, 0);
    max = info_field(&c, b, "maxmemory", NULL, 0);
    evicted = info_field(&c, b, "evicted_keys", NULL, 0);
    info_field(&c, b, "maxmemory_human", val, sizeof(val));
    printf("used_memory %lld maxmemory %lld (%s) evicted_keys %lld\n", (long long)used,
           (long long)max, val, (long long)evicted);
    assert_int_equal(max, 4 << 20);
    assert_string_equal(val, "4.00M");
    assert_true(used > 0 && used <= max);
    assert_true(evicted > 0);
    info_field(&c, b, "maxmemory_policy", val, sizeof(val));
    assert_string_equal(val, rc_evict_policy_name(RC_EVICT_DEFAULT));
    /* STATS says the same */
    assert_int_equal(rc_h_stat_of(s, "maxmemory"), 4 << 20);
    assert_true(rc_h_stat_of(s, "evicted_keys") >= evicted);
    assert_true(rc_h_stat_of(s, "evicted_bytes") >= evicted * VAL_LEN);

    /* ringcache-cli members shows memory used of the budget, evictions
     * and the hit ratio per node. */
    cli_members(f, s, "/4.0M");

    /* Hits and misses move: the last keys written are there, the first
     * ones were evicted (4 MiB holds a tenth of them). */
    hits = info_field(&c, b, "keyspace_hits", NULL, 0);
    misses = info_field(&c, b, "keyspace_misses", NULL, 0);
    cmd(&c, b, REPLY_CAP, "GET", "key:00039999", NULL);
    assert_memory_equal(b, "$1000\r\n", 7);
    cmd(&c, b, REPLY_CAP, "GET", "key:00000000", NULL);
    assert_string_equal(b, "$-1\r\n");
    cmd(&c, b, REPLY_CAP, "GET", "no-such-key", NULL);
    hits2 = info_field(&c, b, "keyspace_hits", NULL, 0);
    misses2 = info_field(&c, b, "keyspace_misses", NULL, 0);
    printf("keyspace_hits %lld -> %lld, keyspace_misses %lld -> %lld\n", (long long)hits,
           (long long)hits2, (long long)misses, (long long)misses2);
    assert_int_equal(hits2, hits + 1);
    assert_int_equal(misses2, misses + 2);
    assert_int_equal(rc_h_stat_of(s, "keyspace_hits"), hits2);

    /* A lower budget: evicted down within seconds, bounded steps. */
    cmd(&c, b, REPLY_CAP, "CONFIG", "SET", "maxmemory", "2mb", NULL);
    assert_string_equal(b, "+OK\r\n");
    t0 = rc_h_now_ms();
    do {
        used = info_field(&c, b, "used_memory", NULL, 0);
        if (used > (2 << 20))
            rc_h_sleep_ms(20);
    } while (used > (2 << 20) && rc_h_now_ms() - t0 < 5000);
    printf("CONFIG SET maxmemory 2mb: used_memory %lld after %.0f ms\n", (long long)used,
           rc_h_now_ms() - t0);
    assert_true(used <= (2 << 20));
    cmd(&c, b, REPLY_CAP, "CONFIG", "GET", "maxmemory", NULL);
    assert_string_equal(b, "*2\r\n$9\r\nmaxmemory\r\n$7\r\n2097152\r\n");
    /* still taking writes within the new budget */
    assert_int_equal(set_range(&c, NKEYS, NKEYS + 4000, NULL, 0), 4000);
    assert_true(info_field(&c, b, "used_memory", NULL, 0) <= (2 << 20));

    /* Bad values are Redis's errors, and change nothing. */
    cmd(&c, b, REPLY_CAP, "CONFIG", "SET", "maxmemory-policy", "bogus", NULL);
    printf("%s", b);
    assert_non_null(strstr(b, "-ERR CONFIG SET failed (possibly related to argument "
                              "'maxmemory-policy') - argument(s) must be one of the following: "));
    for (i = 0; i < RC_EVICT_NPOLICIES; i++)
        assert_non_null(strstr(b, rc_evict_policy_name(i)));
    cmd(&c, b, REPLY_CAP, "CONFIG", "SET", "maxmemory", "100k", NULL);
    printf("%s", b);
    assert_non_null(strstr(b, "-ERR CONFIG SET failed (possibly related to argument "
                              "'maxmemory') - "));
    cmd(&c, b, REPLY_CAP, "CONFIG", "SET", "maxmemory", "lots", NULL);
    assert_non_null(strstr(b, "-ERR CONFIG SET failed (possibly related to argument "
                              "'maxmemory') - argument must be a memory value"));
    cmd(&c, b, REPLY_CAP, "CONFIG", "SET", "port", "1", NULL);
    assert_memory_equal(b, "-ERR Unknown option", 19);
    /* atomic: a bad pair leaves the good one unapplied */
    cmd(&c, b, REPLY_CAP, "CONFIG", "SET", "maxmemory", "3mb", "maxmemory-policy", "nope", NULL);
    assert_memory_equal(b, "-ERR", 4);
    assert_int_equal(info_field(&c, b, "maxmemory", NULL, 0), 2 << 20);

    cmd(&c, b, REPLY_CAP, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru", NULL);
    assert_string_equal(b, "+OK\r\n");
    cmd(&c, b, REPLY_CAP, "CONFIG", "GET", "maxmemory*", NULL);
    assert_string_equal(b, "*4\r\n$9\r\nmaxmemory\r\n$7\r\n2097152\r\n"
                           "$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lru\r\n");
    info_field(&c, b, "maxmemory_policy", val, sizeof(val));
    assert_string_equal(val, "allkeys-lru");
    assert_int_equal(set_range(&c, 0, 4000, NULL, 0), 4000);
    assert_true(info_field(&c, b, "used_memory", NULL, 0) <= (2 << 20));
    /* 0: no budget */
    cmd(&c, b, REPLY_CAP, "CONFIG", "SET", "maxmemory", "0", NULL);
    assert_string_equal(b, "+OK\r\n");
    assert_int_equal(info_field(&c, b, "maxmemory", NULL, 0), 0);
    conn_close(&c);
    f->h.passed = 1;
}

/* Runs the server with args (and env: "NAME=value", or NULL) and expects
 * a startup failure whose stderr holds every needle. */
static void expect_refused(struct fixture *f, const char *const *args, const char *const *env,
                           const char *const *needles)
{
    const char *argv[16] = {f->h.server_bin, "--port", "0", "--peer-port", "0",
                            "--data-dir", ":memory:"};
    struct rc_hrun r;
    int n = 7, i;

    for (i = 0; args[i] != NULL; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    assert_int_equal(rc_h_run(f->h.server_bin, argv, env, NULL, 0, 10000, 1 << 16, &r), 0);
    printf("%s: exit %d: %s", args[0] ? args[1] : env[0], r.status, (const char *)r.err);
    assert_true(r.status != 0);
    for (i = 0; needles[i] != NULL; i++)
        assert_non_null(strstr((const char *)r.err, needles[i]));
    rc_h_run_free(&r);
}

/* An unknown policy and a budget too small to run with are clear startup
 * errors; --help lists every policy and the default. */
static void test_startup_errors(void **state)
{
    struct fixture *f = *state;
    static const char *const bogus[] = {"--maxmemory-policy", "bogus", NULL};
    static const char *const bogus_why[] = {"unknown policy 'bogus'", "allkeys-lru",
                                            "volatile-ttl", NULL};
    static const char *const small[] = {"--maxmemory", "64", NULL};
    static const char *const small_why[] = {"--maxmemory 64 is below the smallest budget", NULL};
    static const char *const no_args[] = {NULL};
    static const char *const env_small[] = {"RINGCACHE_MAXMEMORY=64", NULL};
    static const char *const small_entry[] = {"--maxmemory", "1m", NULL}; /* 1 MiB values */
    static const char *const entry_why[] = {"--max-key-size + --max-value-size + 4 KiB", NULL};
    static const char *const typo[] = {"--maxmemory", "4x", NULL};
    static const char *const typo_why[] = {"--maxmemory: expected 'auto' or a byte count", NULL};
    const char *argv[] = {f->h.server_bin, "--help", NULL};
    const char *block, *end;
    char def[128];
    struct rc_hrun r;
    int i;

    expect_refused(f, bogus, NULL, bogus_why);
    expect_refused(f, small, NULL, small_why);
    expect_refused(f, small_entry, NULL, entry_why);
    expect_refused(f, typo, NULL, typo_why);
    expect_refused(f, no_args, env_small, small_why); /* the environment twin */
    assert_int_equal(rc_h_run(f->h.server_bin, argv, NULL, NULL, 0, 10000, 1 << 20, &r), 0);
    assert_int_equal(r.status, 0);
    block = strstr((const char *)r.out, "\n  --maxmemory-policy ");
    assert_non_null(block);
    end = strstr(block + 1, "\n  --");
    assert_non_null(end);
    for (i = 0; i < RC_EVICT_NPOLICIES; i++) {
        const char *p = strstr(block, rc_evict_policy_name(i));

        if (p == NULL || p > end)
            printf("--help does not list policy %s\n", rc_evict_policy_name(i));
        assert_true(p != NULL && p < end);
    }
    snprintf(def, sizeof(def), "default: %s\n", rc_evict_policy_name(RC_EVICT_DEFAULT));
    assert_non_null(strstr(block, def));
    assert_true(strstr(block, def) < end);
    rc_h_run_free(&r);
    f->h.passed = 1;
}

/* Disk: --max-db-size bounds the file; allkeys-lru evicts and every
 * write succeeds, noeviction answers FULL as before issue 15. */
static void test_disk_db_cap(void **state)
{
    struct fixture *f = *state;
    /* The file's cap and the read cache are the direct SQLite engine's. */
    static const char *const lru[] = {"--max-db-size", "2m", "--maxmemory-policy",
                                      "allkeys-lru", "--write-behind", "off", NULL};
    static const char *const noev[] = {"--max-db-size", "2m", "--maxmemory-policy",
                                       "noeviction", "--write-behind", "off", NULL};
    char *b = f->buf, err[256] = "";
    struct rc_hserver *s;
    struct conn c;
    int port, ok;
    int64_t evicted, dbb, keys, census;
    double t0;

    s = start_resp(f, NULL, lru, &port);
    conn_open(&c, port);
    ok = set_range(&c, 0, 10000, err, sizeof(err));
    evicted = info_field(&c, b, "evicted_keys", NULL, 0);
    dbb = rc_h_stat_of(s, "db_bytes");
    printf("disk, --max-db-size 2m, allkeys-lru: %d of 10000 SETs OK%s%s; evicted_keys %lld, "
           "db_bytes %lld\n", ok, *err ? ", last error " : "", err, (long long)evicted,
           (long long)dbb);
    assert_int_equal(ok, 10000);
    assert_true(evicted > 0);
    assert_int_equal(rc_h_stat_of(s, "evicted_keys"), evicted);
    assert_true(info_field(&c, b, "used_memory", NULL, 0) > 0);
    /* Rewrites of keys the read cache still holds but the store evicted
     * are new rows: the count of keys stays the rows' count (the census,
     * keys_primary, counts rows; one node holds every key as primary). */
    assert_int_equal(set_range(&c, 0, 10000, NULL, 0), 10000);
    t0 = rc_h_now_ms();
    do {
        rc_h_sleep_ms(200);
        keys = rc_h_stat_of(s, "keys");
        census = rc_h_stat_of(s, "keys_primary");
    } while (keys != census && rc_h_now_ms() - t0 < 8000);
    printf("after rewriting: keys %lld, rows counted by the census %lld\n", (long long)keys,
           (long long)census);
    assert_int_equal(keys, census);
    /* On disk CONFIG SET maxmemory sizes the read cache (budget - page
     * cache, 64 MiB by default); below the page cache it is refused. */
    cmd(&c, b, REPLY_CAP, "CONFIG", "SET", "maxmemory", "96mb", NULL);
    assert_string_equal(b, "+OK\r\n");
    assert_int_equal(info_field(&c, b, "maxmemory", NULL, 0), 96 << 20);
    assert_int_equal(set_range(&c, 0, 1000, NULL, 0), 1000);
    cmd(&c, b, REPLY_CAP, "GET", "key:00000999", NULL);
    assert_memory_equal(b, "$1000\r\n", 7);
    assert_true(info_field(&c, b, "read_cache_hits", NULL, 0) > 0);
    cmd(&c, b, REPLY_CAP, "CONFIG", "SET", "maxmemory", "32mb", NULL);
    assert_non_null(strstr(b, "-ERR CONFIG SET failed (possibly related to argument "
                              "'maxmemory') - maxmemory must be 0 (no budget) or at least "
                              "67108864 bytes"));
    conn_close(&c);
    assert_int_equal(rc_h_server_stop(s, 10000), 0);

    s = start_resp(f, NULL, noev, &port);
    conn_open(&c, port);
    err[0] = '\0';
    ok = set_range(&c, 0, 10000, err, sizeof(err));
    printf("disk, --max-db-size 2m, noeviction: %d of 10000 SETs OK; last error %s\n", ok, err);
    assert_true(ok > 0 && ok < 10000);
    assert_non_null(strstr(err, "-"));
    assert_int_equal(info_field(&c, b, "evicted_keys", NULL, 0), 0);
    conn_close(&c);
    f->h.passed = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_memory_budget, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_startup_errors, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_disk_db_cap, setup, rc_h_fixture_teardown),
    };

    rc_h_test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
