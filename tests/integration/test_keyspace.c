/*
 * test_keyspace.c - the cluster's keyspace over RESP (issue 17): SCAN,
 * KEYS, RANDOMKEY, DBSIZE through any node, and FLUSHALL that stays
 * flushed.
 *
 *  - test_scan_cluster: 3 nodes RF=2; every key written comes back exactly
 *    once from a SCAN through one node and from a SCAN whose cursor moves
 *    from node to node; MATCH, COUNT, TYPE, KEYS, DBSIZE exact, RANDOMKEY.
 *  - test_scan_during_join: a SCAN iteration spanning a 4th node's join
 *    (writes going on), then one spanning another node's leave, then one
 *    spanning a death (kill -9): every key present throughout comes back
 *    exactly once, no key that was never written comes back.
 *  - test_flush_rejoin: 3 nodes RF=3; a node killed with every key on
 *    disk, FLUSHALL, new writes, the node restarted: no flushed key comes
 *    back through GET, SCAN, KEYS or DBSIZE on any node, after several
 *    anti-entropy passes; writes after the flush are kept.
 *  - test_side_by_side: the non-distributed answers (glob semantics of
 *    MATCH and KEYS, reply shapes, errors) against a real redis-server.
 *
 * Spoken to with a raw RESP socket (the commands are small).
 */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
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

#include "harness.h"
#include "redis_side.h"

#define TEST_TIMEOUT_S 180
#define IO_MS 10000
#define REPLY_CAP (4u << 20)
#define MAX_NODES 4
#define NKEYS 2000
#define NJOIN_KEYS 400
#define REDIS_START_MS 10000

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness (harness.h) */
    struct rc_hserver *nodes[MAX_NODES];
    char resp_str[MAX_NODES][16];
    int resp_port[MAX_NODES];
    pid_t redis_pid;
    char buf[REPLY_CAP];
    char buf2[REPLY_CAP];
};

static int setup(void **state)
{
    return rc_h_fixture_setup(state, sizeof(struct fixture), TEST_TIMEOUT_S);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f != NULL)
        rc_h_redis_kill(&f->redis_pid);
    return rc_h_fixture_teardown(state);
}

/* ---- a small RESP client (as test_evict.c's) ----------------------------- */

struct conn {
    int fd;
    char *in;
    size_t len;
};

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

static void send_cmd(struct conn *c, int argc, const char *const *argv)
{
    char head[64];
    int i, n;

    n = snprintf(head, sizeof(head), "*%d\r\n", argc);
    assert_int_equal(rc_h_send_all(c->fd, head, (size_t)n, IO_MS), 0);
    for (i = 0; i < argc; i++) {
        size_t l = strlen(argv[i]);

        n = snprintf(head, sizeof(head), "$%zu\r\n", l);
        assert_int_equal(rc_h_send_all(c->fd, head, (size_t)n, IO_MS), 0);
        assert_int_equal(rc_h_send_all(c->fd, argv[i], l, IO_MS), 0);
        assert_int_equal(rc_h_send_all(c->fd, "\r\n", 2, IO_MS), 0);
    }
}

static void cmd_argv(struct conn *c, char *out, size_t cap, int argc, const char *const *argv)
{
    size_t n;

    send_cmd(c, argc, argv);
    n = reply_len(c, 0);
    assert_true(n < cap);
    memcpy(out, c->in, n);
    out[n] = '\0';
    drop(c, n);
}

static void cmd(struct conn *c, char *out, size_t cap, ...)
{
    const char *argv[12];
    va_list ap;
    int argc = 0;

    va_start(ap, cap);
    while (argc < 12 && (argv[argc] = va_arg(ap, const char *)) != NULL)
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

/* SETs name<i> = v<i> for i in [from, to), pipelined; every reply +OK. */
static void set_range(struct conn *c, const char *name, int from, int to)
{
    char key[64], val[64];
    const char *argv[3] = {"SET", key, val};
    int i, sent = 0;
    size_t n;

    for (i = from; i < to; i++) {
        snprintf(key, sizeof(key), "%s%d", name, i);
        snprintf(val, sizeof(val), "v%d", i);
        send_cmd(c, 3, argv);
        sent++;
        if (sent == 200 || i == to - 1) {
            while (sent-- > 0) {
                n = reply_len(c, 0);
                if (n != 5 || memcmp(c->in, "+OK\r\n", 5) != 0)
                    printf("SET %s: %.*s\n", key, (int)n, c->in);
                assert_true(n == 5 && memcmp(c->in, "+OK\r\n", 5) == 0);
                drop(c, n);
            }
            sent = 0;
        }
    }
}

/* ---- reading replies ----------------------------------------------------- */

/* Reads "$<len>\r\n<bytes>\r\n" at *p into out (NUL-terminated). */
static void bulk_at(const char **p, char *out, size_t cap)
{
    long n;

    assert_int_equal(**p, '$');
    n = strtol(*p + 1, NULL, 10);
    assert_true(n >= 0 && (size_t)n < cap);
    *p = strchr(*p, '\n') + 1;
    memcpy(out, *p, (size_t)n);
    out[n] = '\0';
    *p += n + 2;
}

static long count_at(const char **p, char type)
{
    long n;

    assert_int_equal(**p, type);
    n = strtol(*p + 1, NULL, 10);
    *p = strchr(*p, '\n') + 1;
    return n;
}

/* Keys seen, by name: prefix p<i> in counts[i]; anything else fails. */
struct seen {
    const char *prefix[2];
    int *counts[2];
    int n[2];
    long total;
};

static void see(struct seen *s, const char *key)
{
    int k;

    for (k = 0; k < 2; k++) {
        size_t pl = s->prefix[k] ? strlen(s->prefix[k]) : 0;
        char *end;
        long i;

        if (pl == 0 || strncmp(key, s->prefix[k], pl) != 0)
            continue;
        i = strtol(key + pl, &end, 10);
        if (*end == '\0' && i >= 0 && i < s->n[k]) {
            s->counts[k][i]++;
            s->total++;
            return;
        }
    }
    printf("a key never written came back: '%s'\n", key);
    fail();
}

/* One SCAN call's reply in buf: adds its keys to s, returns the cursor. */
static unsigned long long scan_reply(const char *buf, struct seen *s)
{
    const char *p = buf;
    char cur[32], key[256];
    long n, i;

    if (buf[0] != '*')
        printf("SCAN answered: %s\n", buf);
    assert_int_equal(count_at(&p, '*'), 2);
    bulk_at(&p, cur, sizeof(cur));
    n = count_at(&p, '*');
    for (i = 0; i < n; i++) {
        bulk_at(&p, key, sizeof(key));
        if (s)
            see(s, key);
    }
    return strtoull(cur, NULL, 10);
}

/* A whole SCAN iteration, call i through conns[i % nconn]; calls counted. */
static int scan_all(struct conn *conns, int nconn, struct seen *s, char *buf, const char *count,
                    const char *match)
{
    unsigned long long cur = 0;
    char cs[32];
    int calls = 0;

    do {
        snprintf(cs, sizeof(cs), "%llu", cur);
        if (match)
            cmd(&conns[calls % nconn], buf, REPLY_CAP, "SCAN", cs, "MATCH", match, "COUNT",
                count, NULL);
        else
            cmd(&conns[calls % nconn], buf, REPLY_CAP, "SCAN", cs, "COUNT", count, NULL);
        cur = scan_reply(buf, s);
        calls++;
        assert_true(calls < 100000);
    } while (cur != 0);
    return calls;
}

static void expect_all_once(const int *counts, int n, const char *what)
{
    int i;

    for (i = 0; i < n; i++) {
        if (counts[i] != 1)
            printf("%s: key %d returned %d times\n", what, i, counts[i]);
        assert_int_equal(counts[i], 1);
    }
}

static long long integer_of(const char *buf)
{
    if (buf[0] != ':')
        printf("expected an integer, got: %s\n", buf);
    assert_int_equal(buf[0], ':');
    return strtoll(buf + 1, NULL, 10);
}

/* ---- clusters ------------------------------------------------------------ */

/* n nodes described (each with a RESP port), the first nstart started
 * and converged. */
static void cluster(struct fixture *f, int n, int nstart, const char *const *extra)
{
    int i;

    assert_int_equal(rc_h_cluster_new(&f->h, n, extra, f->nodes), 0);
    for (i = 0; i < n; i++) {
        f->resp_port[i] = rc_h_free_port();
        snprintf(f->resp_str[i], sizeof(f->resp_str[i]), "%d", f->resp_port[i]);
        assert_int_equal(rc_h_server_add_arg(f->nodes[i], "--resp-port"), 0);
        assert_int_equal(rc_h_server_add_arg(f->nodes[i], f->resp_str[i]), 0);
    }
    assert_int_equal(rc_h_cluster_start(&f->h, f->nodes, nstart), 0);
    assert_true(rc_h_cluster_wait_converged(f->nodes, NULL, nstart, 30000) >= 0);
}

static const char *const scan_extra[] = {"--rf", "2", "--replica-timeout", "5000", NULL};

static void test_scan_cluster(void **state)
{
    struct fixture *f = *state;
    struct conn c[3];
    int counts[NKEYS], i, calls;
    struct seen s = {{"k:", NULL}, {counts, NULL}, {NKEYS, 0}, 0};
    char want[64];

    cluster(f, 3, 3, scan_extra);
    for (i = 0; i < 3; i++)
        conn_open(&c[i], f->resp_port[i]);
    set_range(&c[0], "k:", 0, NKEYS);

    /* Through one node, small and large COUNT. */
    memset(counts, 0, sizeof(counts));
    calls = scan_all(c, 1, &s, f->buf, "10", NULL);
    expect_all_once(counts, NKEYS, "SCAN COUNT 10 via node 1");
    printf("SCAN COUNT 10: %d keys in %d calls\n", NKEYS, calls);
    assert_true(calls > 1);
    memset(counts, 0, sizeof(counts));
    scan_all(c, 1, &s, f->buf, "1000", NULL);
    expect_all_once(counts, NKEYS, "SCAN COUNT 1000 via node 1");

    /* The cursor moves from node to node. */
    memset(counts, 0, sizeof(counts));
    scan_all(c, 3, &s, f->buf, "25", NULL);
    expect_all_once(counts, NKEYS, "SCAN across nodes");

    /* MATCH: exactly the keys k:1, k:1x, k:1xx, k:1xxx below NKEYS. */
    memset(counts, 0, sizeof(counts));
    scan_all(c + 1, 2, &s, f->buf, "100", "k:1*");
    for (i = 0; i < NKEYS; i++) {
        snprintf(want, sizeof(want), "%d", i);
        assert_int_equal(counts[i], want[0] == '1');
    }

    /* TYPE string is every key; any other type none. */
    {
        unsigned long long cur = 0;
        char cs[32];
        int type_calls = 0;

        memset(counts, 0, sizeof(counts));
        s.total = 0;
        do {
            snprintf(cs, sizeof(cs), "%llu", cur);
            cmd(&c[2], f->buf, REPLY_CAP, "SCAN", cs, "COUNT", "500", "TYPE", "string", NULL);
            cur = scan_reply(f->buf, &s);
        } while (cur != 0 && ++type_calls < 100000);
        expect_all_once(counts, NKEYS, "SCAN TYPE string");
        s.total = 0;
        do {
            snprintf(cs, sizeof(cs), "%llu", cur);
            cmd(&c[0], f->buf, REPLY_CAP, "SCAN", cs, "COUNT", "500", "TYPE", "hash", NULL);
            cur = scan_reply(f->buf, &s);
        } while (cur != 0);
        assert_int_equal(s.total, 0);
    }

    /* KEYS through each node: k:1?? is k:100 .. k:199. */
    for (i = 0; i < 3; i++) {
        const char *p = f->buf;
        char key[64];
        long n, k;

        memset(counts, 0, sizeof(counts));
        cmd(&c[i], f->buf, REPLY_CAP, "KEYS", "k:1??", NULL);
        n = count_at(&p, '*');
        assert_int_equal(n, 100);
        for (k = 0; k < n; k++) {
            bulk_at(&p, key, sizeof(key));
            see(&s, key);
        }
        for (k = 0; k < NKEYS; k++)
            assert_int_equal(counts[k], k >= 100 && k < 200);
    }

    /* DBSIZE: the cluster's keys, exact when quiet, through every node. */
    for (i = 0; i < 3; i++) {
        cmd(&c[i], f->buf, REPLY_CAP, "DBSIZE", NULL);
        assert_int_equal(integer_of(f->buf), NKEYS);
    }

    /* RANDOMKEY: a key that exists; different ones over a few calls. */
    {
        char first[64] = "";
        int differs = 0;
        const char *p;
        char key[64];

        for (i = 0; i < 20; i++) {
            cmd(&c[i % 3], f->buf, REPLY_CAP, "RANDOMKEY", NULL);
            p = f->buf;
            bulk_at(&p, key, sizeof(key));
            memset(counts, 0, sizeof(counts));
            see(&s, key);
            if (first[0] == '\0')
                snprintf(first, sizeof(first), "%s", key);
            else
                differs += strcmp(first, key) != 0;
        }
        assert_true(differs > 0);
    }

    /* A deleted key is not a key. */
    cmd(&c[0], f->buf, REPLY_CAP, "DEL", "k:7", NULL);
    assert_string_equal(f->buf, ":1\r\n");
    memset(counts, 0, sizeof(counts));
    scan_all(c, 3, &s, f->buf, "200", NULL);
    assert_int_equal(counts[7], 0);
    counts[7] = 1;
    expect_all_once(counts, NKEYS, "SCAN after DEL");
    cmd(&c[1], f->buf, REPLY_CAP, "DBSIZE", NULL);
    assert_int_equal(integer_of(f->buf), NKEYS - 1);

    for (i = 0; i < 3; i++)
        conn_close(&c[i]);
    f->h.passed = 1;
}

static void test_scan_during_join(void **state)
{
    struct fixture *f = *state;
    struct conn c[4], w;
    int counts[NKEYS], jcounts[NJOIN_KEYS], calls = 0, joined = 0, written = 0, i;
    struct seen s = {{"k:", "j:"}, {counts, jcounts}, {NKEYS, NJOIN_KEYS}, 0};
    unsigned long long cur = 0;
    char cs[32];
    int64_t in = 0;
    double t0;

    cluster(f, 4, 3, scan_extra);
    for (i = 0; i < 3; i++)
        conn_open(&c[i], f->resp_port[i]);
    conn_open(&w, f->resp_port[1]);
    set_range(&c[0], "k:", 0, NKEYS);
    /* Past the first plan of the new cluster (--rebalance-delay, 1 s): a
     * node joining within it is adopted without streaming (anti-entropy
     * fills it later), and this test wants the join's streams. */
    rc_h_sleep_ms(2500);
    memset(counts, 0, sizeof(counts));
    memset(jcounts, 0, sizeof(jcounts));

    /* Small steps, slowly, so the iteration spans the join and the
     * streaming it causes; the 4th node answers too once it is up. */
    t0 = rc_h_now_ms();
    do {
        if (calls == 5) {
            assert_int_equal(rc_h_server_start(&f->h, f->nodes[3]), 0);
            conn_open(&c[3], f->resp_port[3]);
            joined = 1;
        }
        if (written < NJOIN_KEYS) {
            set_range(&w, "j:", written, written + 10);
            written += 10;
        }
        snprintf(cs, sizeof(cs), "%llu", cur);
        cmd(&c[calls % (joined ? 4 : 3)], f->buf, REPLY_CAP, "SCAN", cs, "COUNT", "10", NULL);
        cur = scan_reply(f->buf, &s);
        calls++;
        rc_h_sleep_ms(40);
    } while (cur != 0);
    printf("SCAN during the join: %d calls over %.1f s\n", calls, (rc_h_now_ms() - t0) / 1000);
    assert_true(joined);
    /* The join happened inside the iteration: the new node took data. */
    assert_int_equal(rc_h_server_stat(f->nodes[3], "keys", 2000, &in), 0);
    printf("keys held by the new node at the end of the iteration: %lld\n", (long long)in);
    assert_true(in > 0);
    expect_all_once(counts, NKEYS, "SCAN during join");
    for (i = 0; i < NJOIN_KEYS; i++)
        assert_true(jcounts[i] <= 1);

    /* Settled: a full iteration and DBSIZE are exact again. */
    assert_true(rc_h_cluster_wait_converged(f->nodes, NULL, 4, 30000) >= 0);
    rc_h_sleep_ms(3000);
    memset(counts, 0, sizeof(counts));
    memset(jcounts, 0, sizeof(jcounts));
    scan_all(c, 4, &s, f->buf, "100", NULL);
    expect_all_once(counts, NKEYS, "SCAN after join");
    expect_all_once(jcounts, NJOIN_KEYS, "SCAN after join (keys written during it)");
    for (i = 0; i < 4; i++) {
        cmd(&c[i], f->buf, REPLY_CAP, "DBSIZE", NULL);
        assert_int_equal(integer_of(f->buf), NKEYS + NJOIN_KEYS);
    }

    /* Another iteration while node 2 leaves (SIGTERM: it hands its ranges
     * over, then announces it), through nodes 1, 3 and 4. */
    memset(counts, 0, sizeof(counts));
    memset(jcounts, 0, sizeof(jcounts));
    conn_close(&c[1]);
    c[1] = c[3];
    cur = 0;
    calls = 0;
    do {
        if (calls == 5) /* no wait: the handover runs during the iteration */
            assert_int_equal(kill(f->nodes[1]->pid, SIGTERM), 0);
        snprintf(cs, sizeof(cs), "%llu", cur);
        cmd(&c[calls % 3], f->buf, REPLY_CAP, "SCAN", cs, "COUNT", "20", NULL);
        cur = scan_reply(f->buf, &s);
        calls++;
        rc_h_sleep_ms(30);
    } while (cur != 0);
    printf("SCAN during the leave: %d calls, node 2 %s at the end\n", calls,
           rc_h_server_alive(f->nodes[1]) ? "still handing over" : "gone");
    assert_int_equal(rc_h_server_stop_sig(f->nodes[1], 0, 30000), 0);
    expect_all_once(counts, NKEYS, "SCAN during leave");
    expect_all_once(jcounts, NJOIN_KEYS, "SCAN during leave (keys written during the join)");

    /* And one while node 3 dies (kill -9): RF=2, so every range it held
     * has another live replica, answering while the death is detected. */
    memset(counts, 0, sizeof(counts));
    memset(jcounts, 0, sizeof(jcounts));
    cur = 0;
    calls = 0;
    do {
        if (calls == 5) {
            rc_h_server_kill(f->nodes[2]);
            conn_close(&c[2]);
        }
        snprintf(cs, sizeof(cs), "%llu", cur);
        cmd(&c[calls < 5 ? calls % 3 : calls % 2], f->buf, REPLY_CAP, "SCAN", cs, "COUNT", "20",
            NULL);
        cur = scan_reply(f->buf, &s);
        calls++;
        rc_h_sleep_ms(30);
    } while (cur != 0);
    printf("SCAN during a death: %d calls\n", calls);
    expect_all_once(counts, NKEYS, "SCAN during a death");
    expect_all_once(jcounts, NJOIN_KEYS, "SCAN during a death (keys written during the join)");
    for (i = 0; i < 2; i++)
        conn_close(&c[i]);
    conn_close(&w);
    f->h.passed = 1;
}

#define NFLUSH 500
#define NAFTER 50

static void test_flush_rejoin(void **state)
{
    static const char *const extra[] = {"--rf", "3", "--anti-entropy-interval", "1000",
                                        "--cleanup-interval", "1000", "--replica-timeout",
                                        "5000", NULL};
    struct fixture *f = *state;
    struct conn c[3];
    int counts[NFLUSH], acounts[NAFTER], i, k;
    struct seen s = {{"old:", "after:"}, {counts, acounts}, {NFLUSH, NAFTER}, 0};
    char key[64];
    int64_t passes = 0;

    cluster(f, 3, 3, extra);
    for (i = 0; i < 3; i++)
        conn_open(&c[i], f->resp_port[i]);
    set_range(&c[0], "old:", 0, NFLUSH);
    /* RF=3: node 3 holds every key, on disk. */
    conn_close(&c[2]);
    rc_h_sleep_ms(500); /* past the write-behind flush: the copy is on disk */
    rc_h_server_kill(f->nodes[2]);

    cmd(&c[0], f->buf, REPLY_CAP, "FLUSHALL", NULL);
    assert_string_equal(f->buf, "+OK\r\n");
    cmd(&c[1], f->buf, REPLY_CAP, "DBSIZE", NULL);
    assert_int_equal(integer_of(f->buf), 0);
    cmd(&c[1], f->buf, REPLY_CAP, "GET", "old:1", NULL);
    assert_string_equal(f->buf, "$-1\r\n");
    set_range(&c[1], "after:", 0, NAFTER);

    /* The node comes back with its old copy of every key. */
    assert_int_equal(rc_h_server_start(&f->h, f->nodes[2]), 0);
    conn_open(&c[2], f->resp_port[2]);
    assert_true(rc_h_cluster_wait_converged(f->nodes, NULL, 3, 30000) >= 0);
    /* Several anti-entropy passes and cleanups everywhere. */
    rc_h_sleep_ms(5000);
    for (i = 0; i < 3; i++) {
        assert_int_equal(rc_h_server_stat(f->nodes[i], "anti_entropy_passes", 2000, &passes), 0);
        printf("node %d: anti-entropy passes %lld\n", i + 1, (long long)passes);
    }

    for (i = 0; i < 3; i++) {
        memset(counts, 0, sizeof(counts));
        memset(acounts, 0, sizeof(acounts));
        scan_all(&c[i], 1, &s, f->buf, "100", NULL);
        for (k = 0; k < NFLUSH; k++)
            assert_int_equal(counts[k], 0);
        expect_all_once(acounts, NAFTER, "SCAN after the flush");
        cmd(&c[i], f->buf, REPLY_CAP, "DBSIZE", NULL);
        assert_int_equal(integer_of(f->buf), NAFTER);
        cmd(&c[i], f->buf, REPLY_CAP, "KEYS", "old:*", NULL);
        assert_string_equal(f->buf, "*0\r\n");
        for (k = 0; k < NFLUSH; k += 7) {
            snprintf(key, sizeof(key), "old:%d", k);
            cmd(&c[i], f->buf, REPLY_CAP, "GET", key, NULL);
            assert_string_equal(f->buf, "$-1\r\n");
        }
    }
    /* It learned the epoch (it was down when it was set) and deleted the
     * old copy of every key it came back with. */
    assert_true(rc_h_log_contains(f->nodes[2], "flush: epoch"));
    assert_true(rc_h_log_contains(f->nodes[2], "(500 deleted)"));
    /* Writes after the flush, through the node that was away. */
    cmd(&c[2], f->buf, REPLY_CAP, "SET", "old:3", "new", NULL);
    assert_string_equal(f->buf, "+OK\r\n");
    cmd(&c[0], f->buf, REPLY_CAP, "GET", "old:3", NULL);
    assert_string_equal(f->buf, "$3\r\nnew\r\n");
    for (i = 0; i < 3; i++)
        conn_close(&c[i]);
    f->h.passed = 1;
}

/* ---- side by side with redis-server ------------------------------------- */

static void start_redis(struct fixture *f, const char *bin, int port)
{
    f->redis_pid = rc_h_redis_start(bin, port, f->h.root, NULL, REDIS_START_MS);
    assert_true(f->redis_pid > 0);
}

/* The same command to both; the replies must be byte for byte equal. */
static void same(struct fixture *f, struct conn *rc, struct conn *rd, int argc,
                 const char *const *argv)
{
    cmd_argv(rc, f->buf, REPLY_CAP, argc, argv);
    cmd_argv(rd, f->buf2, REPLY_CAP, argc, argv);
    if (strcmp(f->buf, f->buf2) != 0)
        printf("%s %s: ringcache %s redis %s\n", argv[0], argc > 1 ? argv[1] : "", f->buf,
               f->buf2);
    assert_string_equal(f->buf, f->buf2);
}

#define SAME(...)                                                                              \
    do {                                                                                       \
        const char *const a_[] = {__VA_ARGS__};                                                \
        same(f, &rc, &rd, (int)(sizeof(a_) / sizeof(a_[0])), a_);                              \
    } while (0)

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A KEYS reply as its sorted lines (the order of keys differs: Redis's
 * is its hash table's, ringcache's the ring's). */
static void sorted_keys(const char *buf, char *out, size_t cap)
{
    const char *p = buf;
    char *keys[256], key[256];
    long n, i;
    size_t len = 0;

    n = count_at(&p, '*');
    assert_true(n >= 0 && n < 256);
    for (i = 0; i < n; i++) {
        bulk_at(&p, key, sizeof(key));
        keys[i] = strdup(key);
    }
    qsort(keys, (size_t)n, sizeof(keys[0]), str_cmp);
    out[0] = '\0';
    for (i = 0; i < n; i++) {
        len += (size_t)snprintf(out + len, cap - len, "%s|", keys[i]);
        free(keys[i]);
    }
}

static void test_side_by_side(void **state)
{
    /* Keys and patterns that exercise every branch of Redis's glob. */
    static const char *const keys[] = {
        "hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "h?llo", "h[a]llo", "h\\llo",
        "ab", "a-b", "a]b", "a^b", "abc", "ABC", "x", "foo:1", "foo:22", "foo:bar",
        "[", "]", "\\", "-", "a*b*c", "aXbYc", "zzzz", "b", "c", "d"};
    static const char *const patterns[] = {
        "*", "h?llo", "h*llo", "h[ae]llo", "h[^e]llo", "h[a-b]llo", "h[b-a]llo", "h\\*llo",
        "h\\?llo", "h[\\]]*", "a[]]b", "a[^]]b", "a[-]b", "a[", "[", "\\[", "\\\\", "*\\",
        "foo:*", "foo:??", "foo:[0-9]*", "*o*", "a*b*c", "a*b*c*", "***", "?", "[a-c]",
        "[^a-c]", "ABC", "abc", "x*", "*x", "h[a-", "[]", "[\\", "a\\"};
    struct fixture *f = *state;
    const char *ex[4];
    char redis[RC_H_PATH], rport[16], a[8192], b[8192];
    struct rc_hserver *srv;
    struct conn rc, rd;
    size_t i;
    int redis_port;

    if (rc_h_redis_find(redis, sizeof(redis)) < 0) {
        printf("redis-server not found (scripts/deps.sh test installs it): side-by-side "
               "test skipped\n");
        f->h.passed = 1;
        skip();
    }
    redis_port = rc_h_free_port();
    start_redis(f, redis, redis_port);
    snprintf(rport, sizeof(rport), "%d", rc_h_free_port());
    ex[0] = "--resp-port";
    ex[1] = rport;
    ex[2] = NULL;
    srv = rc_h_server_launch(&f->h, ":memory:", ex);
    assert_non_null(srv);
    conn_open(&rc, atoi(rport));
    conn_open(&rd, redis_port);

    /* Empty keyspace. */
    SAME("DBSIZE");
    SAME("RANDOMKEY");
    SAME("KEYS", "*");
    SAME("SCAN", "0");
    SAME("SCAN", "0", "MATCH", "x*", "COUNT", "5", "TYPE", "string");
    /* Errors. */
    SAME("SCAN", "abc");
    SAME("SCAN", "-1");
    SAME("SCAN", "1.5");
    SAME("SCAN", "18446744073709551616");
    SAME("SCAN", "0", "COUNT", "0");
    SAME("SCAN", "0", "COUNT", "-3");
    SAME("SCAN", "0", "COUNT", "x");
    SAME("SCAN", "0", "MATCH");
    SAME("SCAN", "0", "FOO", "bar");
    SAME("SCAN");
    SAME("KEYS");
    SAME("KEYS", "a", "b");
    SAME("DBSIZE", "x");
    SAME("RANDOMKEY", "x");
    SAME("FLUSHALL", "FOO");
    SAME("FLUSHALL", "ASYNC", "SYNC");
    SAME("FLUSHDB", "NOW");

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        SAME("SET", keys[i], "v");
    SAME("DBSIZE");
    for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        const char *argv[2] = {"KEYS", patterns[i]};

        cmd_argv(&rc, f->buf, REPLY_CAP, 2, argv);
        cmd_argv(&rd, f->buf2, REPLY_CAP, 2, argv);
        sorted_keys(f->buf, a, sizeof(a));
        sorted_keys(f->buf2, b, sizeof(b));
        if (strcmp(a, b) != 0)
            printf("KEYS %s: ringcache %s redis %s\n", patterns[i], a, b);
        assert_string_equal(a, b);
    }
    /* SCAN with MATCH, one call of a large COUNT over these few keys: both
     * answer cursor 0 and the same set. */
    for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        const char *argv[6] = {"SCAN", "0", "MATCH", patterns[i], "COUNT", "1000"};
        const char *done = "*2\r\n$1\r\n0\r\n";

        cmd_argv(&rc, f->buf, REPLY_CAP, 6, argv);
        cmd_argv(&rd, f->buf2, REPLY_CAP, 6, argv);
        assert_memory_equal(f->buf2, done, strlen(done));
        assert_memory_equal(f->buf, done, strlen(done));
        sorted_keys(f->buf + strlen(done), a, sizeof(a));
        sorted_keys(f->buf2 + strlen(done), b, sizeof(b));
        if (strcmp(a, b) != 0)
            printf("SCAN MATCH %s: ringcache %s redis %s\n", patterns[i], a, b);
        assert_string_equal(a, b);
    }
    SAME("FLUSHALL", "SYNC");
    SAME("DBSIZE");
    SAME("KEYS", "*");
    SAME("SET", "after", "1");
    SAME("FLUSHDB", "ASYNC");
    SAME("GET", "after");
    SAME("DBSIZE");
    conn_close(&rc);
    conn_close(&rd);
    f->h.passed = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_side_by_side, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_during_join, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_rejoin, setup, teardown),
    };

    rc_h_test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
