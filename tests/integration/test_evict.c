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
 * test_config_side_by_side sends the same commands to the real Redis
 * (redis-server, installed by scripts/deps.sh test) and compares.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "evict.h"
#include "harness.h"
#include "redis_side.h"

#define TEST_TIMEOUT_S 120
#define IO_MS 10000
#define REPLY_CAP (1u << 20)
/* ~40 MB written into a 4 MiB budget: ten times what fits. */
#define VAL_LEN 1000
#define NKEYS 40000
#define PIPELINE 500

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness (harness.h) */
    pid_t redis_pid;     /* a real redis-server this test started, 0: none */
    char buf[REPLY_CAP];
    char buf2[REPLY_CAP]; /* Redis's reply, next to ringcache's in buf */
};

static int setup(void **state)
{
    return rc_h_fixture_setup(state, sizeof(struct fixture), TEST_TIMEOUT_S);
}

/* Stops the redis-server a failed assertion may have left running. */
static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f != NULL)
        rc_h_redis_kill(&f->redis_pid);
    return rc_h_fixture_teardown(state);
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

/* Sends a command of argc words and copies its reply, NUL terminated,
 * into out. */
static void cmd_argv(struct conn *c, char *out, size_t cap, int argc, const char *const *argv)
{
    size_t n;

    send_cmd(c, argc, argv, NULL);
    n = reply_len(c, 0);
    assert_true(n < cap);
    memcpy(out, c->in, n);
    out[n] = '\0';
    drop(c, n);
}

/* The same with NULL-terminated words. */
static void cmd(struct conn *c, char *out, size_t cap, ...)
{
    const char *argv[8];
    va_list ap;
    int argc = 0;

    va_start(ap, cap);
    while (argc < 8 && (argv[argc] = va_arg(ap, const char *)) != NULL)
        argc++;
    va_end(ap);
    cmd_argv(c, out, cap, argc, argv);
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

/* The value of field name in INFO's text into val; 0, or -1 when absent. */
static int info_text_field(const char *text, const char *name, char *val, size_t cap)
{
    char key[64];
    const char *p, *e;

    snprintf(key, sizeof(key), "\n%s:", name);
    p = strstr(text, key);
    if (p == NULL)
        return -1;
    p += strlen(key);
    e = strstr(p, "\r\n");
    assert_non_null(e);
    snprintf(val, cap, "%.*s", (int)(e - p), p);
    return 0;
}

/* An INFO field as a number (-1 when absent) or its text into val. */
static int64_t info_field(struct conn *c, char *buf, const char *name, char *val, size_t cap)
{
    char v[128];

    cmd(c, buf, REPLY_CAP, "INFO", "all", NULL);
    if (info_text_field(buf, name, v, sizeof(v)) < 0)
        return -1;
    if (val != NULL)
        snprintf(val, cap, "%s", v);
    return strtoll(v, NULL, 10);
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

/* ringcache-cli watch --json: its first line has this node's budget and
 * memory figures (the node's object: "maxmemory": <bytes>). watch runs
 * until stopped; the harness kills it after a second. */
static void cli_watch_json(struct fixture *f, const struct rc_hserver *s, int64_t budget)
{
    const char *argv[] = {f->h.cli_bin, "-s", s->addr, "watch", "--json", "--interval", "200",
                          NULL};
    char want[64];
    struct rc_hrun r;

    assert_int_equal(rc_h_run(f->h.cli_bin, argv, NULL, NULL, 0, 1500, 1 << 20, &r), 0);
    snprintf(want, sizeof(want), "\"maxmemory\": %lld", (long long)budget);
    printf("watch --json, %zu bytes, first 300: %.300s\n", r.out_len, (const char *)r.out);
    assert_non_null(strstr((const char *)r.out, want));
    assert_non_null(strstr((const char *)r.out, "\"used_memory\": "));
    assert_non_null(strstr((const char *)r.out, "\"evicted_keys\": "));
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
    cli_watch_json(f, s, 4 << 20);

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

/* ---- side by side with the real Redis ------------------------------------ */

#define REDIS_START_MS 10000

/* Starts bin on 127.0.0.1:port without persistence, its files and log in
 * the harness's temporary directory, and waits until it answers PING. The
 * child dies with the test (PR_SET_PDEATHSIG) even if the test's timeout
 * kills it; teardown() stops it otherwise. */
static void start_redis(struct fixture *f, const char *bin, int port)
{
    struct conn c;

    f->redis_pid = rc_h_redis_start(bin, port, f->h.root, NULL, REDIS_START_MS);
    assert_true(f->redis_pid > 0);
    conn_open(&c, port);
    cmd(&c, f->buf2, REPLY_CAP, "PING", NULL);
    assert_string_equal(f->buf2, "+PONG\r\n");
    conn_close(&c);
}

/* Sends the same NULL-terminated command to ringcache (reply in rc) and
 * Redis (reply in rd), printing both. */
static void both(struct conn *rcc, struct conn *rdc, char *rc, char *rd, ...)
{
    const char *argv[8];
    va_list ap;
    int argc = 0;

    va_start(ap, rd);
    while (argc < 8 && (argv[argc] = va_arg(ap, const char *)) != NULL)
        argc++;
    va_end(ap);
    cmd_argv(rcc, rc, REPLY_CAP, argc, argv);
    cmd_argv(rdc, rd, REPLY_CAP, argc, argv);
    printf("%s %s%s%s%s:\n  ringcache %.200s  redis     %.200s", argv[0],
           argc > 1 ? argv[1] : "", argc > 2 ? " " : "", argc > 2 ? argv[2] : "",
           argc > 3 ? " ..." : "", rc, rd);
}

/* The same, and the replies must be byte for byte the same. */
#define SAME(...)                                                                          \
    do {                                                                                   \
        both(rcc, rdc, rc, rd, __VA_ARGS__, NULL);                                         \
        assert_string_equal(rc, rd);                                                       \
        compared++;                                                                        \
    } while (0)

/* Redis's bytesToHuman: "123B" or "1.50K", "2.00M", "1.00G" ... */
static int human_format(const char *v)
{
    size_t d = strspn(v, "0123456789");

    if (d == 0)
        return 0;
    if (strcmp(v + d, "B") == 0)
        return 1;
    return v[d] == '.' && strspn(v + d + 1, "0123456789") == 2 && v[d + 3] != '\0' &&
           strchr("KMGTPE", v[d + 3]) != NULL && v[d + 4] == '\0';
}

static int digits(const char *v)
{
    return *v != '\0' && strspn(v, "0123456789") == strlen(v);
}

/* INFO <section> on both: the same header line; each field present on
 * both and either equal (same[]) or in the same format (number or
 * human-readable size). */
static void info_side_by_side(struct conn *rcc, struct conn *rdc, char *rc, char *rd,
                              const char *section, const char *const *same,
                              const char *const *nums, const char *const *humans)
{
    char a[128], b[128];
    int i;

    cmd(rcc, rc, REPLY_CAP, "INFO", section, NULL);
    cmd(rdc, rd, REPLY_CAP, "INFO", section, NULL);
    /* "$<len>\r\n# Memory\r\n...": the first line of the text */
    assert_memory_equal(strchr(rc, '\n') + 1, strchr(rd, '\n') + 1,
                        strcspn(strchr(rd, '\n') + 1, "\r") + 2);
    for (i = 0; same[i] != NULL; i++) {
        assert_int_equal(info_text_field(rc, same[i], a, sizeof(a)), 0);
        assert_int_equal(info_text_field(rd, same[i], b, sizeof(b)), 0);
        printf("INFO %s %s: ringcache %s, redis %s\n", section, same[i], a, b);
        assert_string_equal(a, b);
    }
    for (i = 0; nums[i] != NULL; i++) {
        assert_int_equal(info_text_field(rc, nums[i], a, sizeof(a)), 0);
        assert_int_equal(info_text_field(rd, nums[i], b, sizeof(b)), 0);
        printf("INFO %s %s: ringcache %s, redis %s\n", section, nums[i], a, b);
        assert_true(digits(a) && digits(b));
    }
    for (i = 0; humans[i] != NULL; i++) {
        assert_int_equal(info_text_field(rc, humans[i], a, sizeof(a)), 0);
        assert_int_equal(info_text_field(rd, humans[i], b, sizeof(b)), 0);
        printf("INFO %s %s: ringcache %s, redis %s\n", section, humans[i], a, b);
        assert_true(human_format(a) && human_format(b));
    }
}

/* A hit and a miss move keyspace_hits and keyspace_misses by one on both. */
static void hits_side_by_side(struct conn *rcc, struct conn *rdc, char *rc, char *rd)
{
    int64_t h[2], m[2], h2[2], m2[2];
    struct conn *c[2] = {rcc, rdc};
    int i;

    for (i = 0; i < 2; i++) {
        h[i] = info_field(c[i], rc, "keyspace_hits", NULL, 0);
        m[i] = info_field(c[i], rc, "keyspace_misses", NULL, 0);
        cmd(c[i], rd, REPLY_CAP, "SET", "side:k", "v", NULL);
        assert_string_equal(rd, "+OK\r\n");
        cmd(c[i], rd, REPLY_CAP, "GET", "side:k", NULL);
        assert_string_equal(rd, "$1\r\nv\r\n");
        cmd(c[i], rd, REPLY_CAP, "GET", "side:nokey", NULL);
        assert_string_equal(rd, "$-1\r\n");
        h2[i] = info_field(c[i], rc, "keyspace_hits", NULL, 0);
        m2[i] = info_field(c[i], rc, "keyspace_misses", NULL, 0);
        printf("%s: keyspace_hits +%lld, keyspace_misses +%lld\n", i ? "redis" : "ringcache",
               (long long)(h2[i] - h[i]), (long long)(m2[i] - m[i]));
        assert_int_equal(h2[i] - h[i], 1);
        assert_int_equal(m2[i] - m[i], 1);
    }
}

/* The budget and the policy: set, read back, in Redis's units and any
 * case, on both. */
static int compare_set_get(struct conn *rcc, struct conn *rdc, char *rc, char *rd)
{
    static const char *const sizes[] = {"2mb", "3MB", "5000kb", "1gb", "2gb", "2g",
                                        "3m",  "4194304", "1048576b", "0"};
    static const char *const policies[] = {"volatile-lru", "volatile-lfu", "volatile-random",
                                           "volatile-ttl", "allkeys-lru",  "allkeys-lfu",
                                           "allkeys-random", "noeviction", "ALLKEYS-LRU"};
    int compared = 0;
    size_t i;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        SAME("CONFIG", "SET", "maxmemory", sizes[i]);
        assert_string_equal(rc, "+OK\r\n");
        SAME("CONFIG", "GET", "maxmemory");
    }
    SAME("CONFIG", "SET", "MaxMemory", "2mb");
    SAME("CONFIG", "GET", "MAXMEMORY"); /* a name without glob comes back as asked */
    SAME("CONFIG", "GET", "maxmemory");
    for (i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
        SAME("CONFIG", "SET", "maxmemory-policy", policies[i]);
        assert_string_equal(rc, "+OK\r\n");
        SAME("CONFIG", "GET", "maxmemory-policy");
    }
    SAME("CONFIG", "SET", "maxmemory", "3mb", "maxmemory-policy", "allkeys-lfu");
    SAME("CONFIG", "GET", "maxmemory");
    SAME("CONFIG", "GET", "maxmemory-policy");
    SAME("CONFIG", "GET", "no-such-param"); /* *0 */
    SAME("CONFIG", "GET", "maxmemory-policy?");
    return compared;
}

/* Bad input: the same error text, and nothing changed. */
static int compare_errors(struct conn *rcc, struct conn *rdc, char *rc, char *rd)
{
    static const char *const bad_sizes[] = {"notanumber", "-1", "1.5mb", " 2mb", "0x10",
                                            "+5", "2tb", "12kib"};
    int compared = 0;
    size_t i;

    for (i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++)
        SAME("CONFIG", "SET", "maxmemory", bad_sizes[i]);
    SAME("CONFIG", "SET", "MAXMEMORY", "lots"); /* the error names it in lower case */
    SAME("CONFIG", "SET", "maxmemory");          /* arity */
    SAME("CONFIG", "SET");
    SAME("CONFIG", "GET");
    SAME("CONFIG", "SET", "maxmemory", "3mb", "maxmemory-policy"); /* odd: syntax error */
    SAME("CONFIG", "SET", "no-such-param", "1");
    SAME("CONFIG", "SET", "maxmemory", "bad", "no-such-param", "1"); /* names first */
    SAME("CONFIG", "SET", "MAXMEMORY", "2mb", "maxmemory", "3mb"); /* duplicate parameter */
    SAME("CONFIG", "GET", "maxmemory");                            /* unchanged: 3mb */
    return compared;
}

/* The replies to an unknown policy: Redis's exact text, then ringcache's
 * own policies (README: the error lists every name this node accepts). */
static void check_policy_error(const char *rc, const char *rd)
{
    static const char head[] = "-ERR CONFIG SET failed (possibly related to argument "
                               "'maxmemory-policy') - argument(s) must be one of the "
                               "following: ";
    char want[1024];
    size_t n;
    int p;

    assert_memory_equal(rd, head, sizeof(head) - 1);
    n = strlen(rd) - 2; /* without the CRLF */
    snprintf(want, sizeof(want), "%.*s", (int)n, rd);
    for (p = 0; p < RC_EVICT_NPOLICIES; p++)
        if (strstr(rd, rc_evict_policy_name(p)) == NULL)
            n += (size_t)snprintf(want + n, sizeof(want) - n, ", %s", rc_evict_policy_name(p));
    snprintf(want + n, sizeof(want) - n, "\r\n");
    assert_string_equal(rc, want);
}

/* Where ringcache differs on purpose (README "Memory budget and
 * eviction"): each side's own answer. */
static void compare_differences(struct conn *rcc, struct conn *rdc, char *rc, char *rd)
{
    const char *a, *e;
    char pair[256];

    /* Below 1 MiB: Redis takes it, ringcache refuses it (a unit typo
     * such as "64" would leave no room for any entry). */
    both(rcc, rdc, rc, rd, "CONFIG", "SET", "maxmemory", "100k", NULL);
    assert_string_equal(rd, "+OK\r\n");
    assert_non_null(strstr(rc, "-ERR CONFIG SET failed (possibly related to argument "
                               "'maxmemory') - maxmemory must be 0 (no budget) or at least "));
    /* An empty value: Redis reads it as 0 (no budget), ringcache as an
     * error, so a script's unset variable does not remove the budget. */
    both(rcc, rdc, rc, rd, "CONFIG", "SET", "maxmemory", "", NULL);
    assert_string_equal(rd, "+OK\r\n");
    assert_string_equal(rc, "-ERR CONFIG SET failed (possibly related to argument "
                            "'maxmemory') - argument must be a memory value\r\n");
    /* Past 2^63 - 1: Redis takes up to 2^64 - 1, ringcache's sizes are
     * signed 64-bit. */
    both(rcc, rdc, rc, rd, "CONFIG", "SET", "maxmemory", "18446744073709551615", NULL);
    assert_string_equal(rd, "+OK\r\n");
    assert_string_equal(rc, "-ERR CONFIG SET failed (possibly related to argument "
                            "'maxmemory') - argument must be a memory value\r\n");
    both(rcc, rdc, rc, rd, "CONFIG", "SET", "maxmemory", "3mb", NULL);
    assert_string_equal(rc, rd);
    /* A glob: ringcache has two of Redis's maxmemory* parameters; each of
     * its pairs is in Redis's reply. */
    both(rcc, rdc, rc, rd, "CONFIG", "GET", "maxmemory*", NULL);
    assert_memory_equal(rc, "*4\r\n", 4);
    for (a = strchr(rc, '\n') + 1; *a != '\0'; a = e) {
        e = strstr(a, "\r\n") + 2;
        e = strstr(e, "\r\n") + 2; /* "$n\r\nname\r\n" */
        e = strstr(e, "\r\n") + 2;
        e = strstr(e, "\r\n") + 2; /* "$n\r\nvalue\r\n" */
        snprintf(pair, sizeof(pair), "%.*s", (int)(e - a), a);
        assert_non_null(strstr(rd, pair));
    }
    /* ringcache's own policies, which Redis refuses */
    both(rcc, rdc, rc, rd, "CONFIG", "SET", "maxmemory-policy", "allkeys-s3fifo", NULL);
    assert_string_equal(rc, "+OK\r\n");
    assert_memory_equal(rd, "-ERR", 4);
}

/* The same commands to the real Redis and to a :memory: node: CONFIG
 * SET/GET of maxmemory and maxmemory-policy answer byte for byte as
 * Redis does, INFO memory/stats carry the same fields in the same
 * formats; the deliberate differences are each side's documented answer. */
static void test_config_side_by_side(void **state)
{
    struct fixture *f = *state;
    static const char *const extra[] = {"--maxmemory", "4m", "--max-value-size", "64k", NULL};
    static const char *const mem_same[] = {"maxmemory", "maxmemory_human", "maxmemory_policy",
                                           NULL};
    static const char *const mem_nums[] = {"used_memory", NULL};
    static const char *const mem_human[] = {"used_memory_human", NULL};
    static const char *const stats_nums[] = {"evicted_keys", "keyspace_hits", "keyspace_misses",
                                             NULL};
    static const char *const none[] = {NULL};
    static const char *const budgets[] = {"2mb", "5000kb", "1gb", "3m", "0"};
    char bin[600], *rc = f->buf, *rd = f->buf2;
    struct conn rcc, rdc;
    int port, rport, compared = 0;
    size_t i;

    if (rc_h_redis_find(bin, sizeof(bin)) < 0) {
        printf("redis-server not found (scripts/deps.sh test installs it): side-by-side "
               "skipped\n");
        f->h.passed = 1;
        skip();
    }
    rport = rc_h_free_port();
    start_redis(f, bin, rport);
    start_resp(f, ":memory:", extra, &port);
    conn_open(&rcc, port);
    conn_open(&rdc, rport);

    compared += compare_set_get(&rcc, &rdc, rc, rd);
    compared += compare_errors(&rcc, &rdc, rc, rd);
    both(&rcc, &rdc, rc, rd, "CONFIG", "SET", "maxmemory-policy", "bogus", NULL);
    check_policy_error(rc, rd);
    both(&rcc, &rdc, rc, rd, "CONFIG", "SET", "maxmemory", "5mb", "maxmemory-policy", "nope",
         NULL);
    check_policy_error(rc, rd); /* and the good pair is not applied: */
    both(&rcc, &rdc, rc, rd, "CONFIG", "GET", "maxmemory", NULL);
    assert_string_equal(rc, rd);
    compare_differences(&rcc, &rdc, rc, rd);

    cmd(&rcc, rc, REPLY_CAP, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru", NULL);
    cmd(&rdc, rd, REPLY_CAP, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru", NULL);
    for (i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++) {
        cmd(&rcc, rc, REPLY_CAP, "CONFIG", "SET", "maxmemory", budgets[i], NULL);
        cmd(&rdc, rd, REPLY_CAP, "CONFIG", "SET", "maxmemory", budgets[i], NULL);
        info_side_by_side(&rcc, &rdc, rc, rd, "memory", mem_same, mem_nums, mem_human);
    }
    info_side_by_side(&rcc, &rdc, rc, rd, "stats", none, stats_nums, none);
    hits_side_by_side(&rcc, &rdc, rc, rd);
    printf("%d commands answered byte for byte as redis-server does\n", compared);
    conn_close(&rcc);
    conn_close(&rdc);
    kill(f->redis_pid, SIGTERM);
    assert_int_equal(waitpid(f->redis_pid, NULL, 0), f->redis_pid);
    f->redis_pid = 0;
    f->h.passed = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_memory_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_startup_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_db_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_side_by_side, setup, teardown),
    };

    rc_h_test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
