/*
 * test_redis_proto.c - the RESP front end against the real Redis (issue
 * 17): transactions (MULTI/EXEC/DISCARD/WATCH/UNWATCH), RESP3 (HELLO 3
 * and the reply types that change with it), CLIENT, INFO's fields,
 * COMMAND DOCS and COMMAND INFO of every command served (and a docs row
 * required for each), with the replies compared byte for byte with a
 * redis-server this test starts next to a ringcache node. Then real
 * clients: redis-cli -3, redis-py (tests/redis_proto_client.py, with
 * /usr/bin/python3: pipelines with and without transaction, a connection
 * pool, WATCH through redis-py's transaction helper) and, when built with
 * it, hiredis (MULTI/EXEC; HELLO 3 maps with hiredis 1.x, HELLO 2 with
 * Debian 12's 0.14, which has no RESP3 parser).
 *
 * Scripts are lines "A: CMD args" or "B: CMD args" (two connections per
 * side, so one can change a key another watches) and "P: CMD;CMD;..."
 * (sent on A in one write, replies read until the connection is quiet:
 * pipelining, and CLIENT REPLY, which leaves some commands unanswered).
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#ifdef RC_HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif

#include "harness.h"
#include "redis_side.h"

#define TEST_TIMEOUT_S 120
#define IO_MS 10000
#define QUIET_MS 300
#define CAP (1u << 20)
#define REDIS_START_MS 10000

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness (harness.h) */
    pid_t redis_pid;
    int rc_port, rd_port;
    char rc[CAP], rd[CAP]; /* a script's replies, each side */
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

/* ---- a small RESP2/RESP3 client ---------------------------------------- */

struct conn {
    int fd;
    char in[CAP];
    size_t len;
};

static int fill(struct conn *c, int ms)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    ssize_t n;

    if (c->len >= CAP || poll(&p, 1, ms) != 1)
        return -1;
    n = read(c->fd, c->in + c->len, CAP - c->len);
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
        assert_int_equal(fill(c, IO_MS), 0);
    }
}

/* The end of one reply starting at off (every RESP3 type), waiting for it. */
static size_t reply_end(struct conn *c, size_t off)
{
    size_t e = line_end(c, off);
    long n = strtol(c->in + off + 1, NULL, 10), i;

    switch (c->in[off]) {
    case '$':
    case '=':
    case '!':
        if (n < 0)
            return e;
        while (c->len < e + (size_t)n + 2)
            assert_int_equal(fill(c, IO_MS), 0);
        return e + (size_t)n + 2;
    case '%':
        n *= 2;
        /* fall through */
    case '*':
    case '~':
    case '>':
        for (i = 0; i < n; i++)
            e = reply_end(c, e);
        return e;
    default:
        return e;
    }
}

static void send_words(struct conn *c, const char *line, size_t len)
{
    char buf[4096], words[64][256];
    size_t nw = 0, i = 0, k, n = 0;

    while (i < len && nw < 64) {
        while (i < len && line[i] == ' ')
            i++;
        for (k = 0; i < len && line[i] != ' ' && k < 255; i++)
            words[nw][k++] = line[i];
        words[nw][k] = 0;
        nw += k > 0;
    }
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "*%zu\r\n", nw);
    for (i = 0; i < nw; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "$%zu\r\n%s\r\n", strlen(words[i]),
                              words[i]);
    assert_true(n < sizeof(buf));
    assert_int_equal(rc_h_send_all(c->fd, buf, n, IO_MS), 0);
}

/* One command; its reply appended to out (NUL terminated). */
static void one(struct conn *c, const char *line, size_t len, char *out)
{
    size_t n, o = strlen(out);

    send_words(c, line, len);
    n = reply_end(c, 0);
    assert_true(o + n < CAP);
    memcpy(out + o, c->in, n);
    out[o + n] = 0;
    memmove(c->in, c->in + n, c->len - n);
    c->len -= n;
}

/* Commands separated by ';' in one write; everything that comes back
 * until QUIET_MS pass without a byte, appended to out. */
static void pipelined(struct conn *c, const char *cmds, char *out)
{
    const char *p = cmds, *e;
    size_t o = strlen(out);

    for (; *p; p = *e ? e + 1 : e) {
        e = p + strcspn(p, ";");
        send_words(c, p, (size_t)(e - p));
    }
    while (fill(c, QUIET_MS) == 0)
        ;
    assert_true(o + c->len < CAP);
    memcpy(out + o, c->in, c->len);
    out[o + c->len] = 0;
    c->len = 0;
}

static void conn_open(struct conn *c, int port)
{
    c->fd = rc_h_tcp_connect(port, IO_MS);
    assert_true(c->fd >= 0);
    c->len = 0;
}

/* Runs a script (lines "A: ...", "B: ...", "P: ...") on a side. */
static void run_script(int port, const char *script, char *out)
{
    static struct conn a, b;
    const char *p = script, *e;

    conn_open(&a, port);
    conn_open(&b, port);
    out[0] = 0;
    for (; *p; p = *e ? e + 1 : e) {
        e = p + strcspn(p, "\n");
        if (e - p < 3)
            continue;
        if (p[0] == 'P') {
            char cmds[2048];

            snprintf(cmds, sizeof(cmds), "%.*s", (int)(e - p - 3), p + 3);
            pipelined(&a, cmds, out);
        } else {
            one(p[0] == 'A' ? &a : &b, p + 3, (size_t)(e - p - 3), out);
        }
    }
    close(a.fd);
    close(b.fd);
}

/* What legitimately differs between the two servers: HELLO's version and
 * connection id. Both are replaced in place by fixed text. */
static void mask(char *s)
{
    static const char *const keys[] = {"$7\r\nversion\r\n", "$2\r\nid\r\n"};
    char *p, *v, *end;
    size_t k;

    for (k = 0; k < 2; k++)
        for (p = strstr(s, keys[k]); p != NULL; p = strstr(p + 1, keys[k])) {
            v = p + strlen(keys[k]);
            end = strstr(v, "\r\n");
            if (end != NULL && *v == '$')
                end = strstr(end + 2, "\r\n");
            if (end == NULL)
                continue;
            memmove(v + 4, end + 2, strlen(end + 2) + 1);
            memcpy(v, k == 0 ? "$V\r\n" : ":I\r\n", 4);
        }
}

static void compare(struct fixture *f, const char *name, const char *script)
{
    run_script(f->rc_port, script, f->rc);
    run_script(f->rd_port, script, f->rd);
    mask(f->rc);
    mask(f->rd);
    if (strcmp(f->rc, f->rd) != 0)
        printf("%s differs:\nringcache: %s\nredis:     %s\n", name, f->rc, f->rd);
    else
        printf("%s: %zu reply bytes identical\n", name, strlen(f->rc));
    assert_string_equal(f->rc, f->rd);
}

/* ---- the servers --------------------------------------------------------- */

static void start_redis_pw(struct fixture *f, const char *bin, const char *pass)
{
    const char *const extra[] = {"--requirepass", pass, NULL};

    f->rd_port = rc_h_free_port();
    f->redis_pid =
        rc_h_redis_start(bin, f->rd_port, f->h.root, pass != NULL ? extra : NULL, REDIS_START_MS);
    assert_true(f->redis_pid > 0);
}

static void start_redis(struct fixture *f, const char *bin)
{
    start_redis_pw(f, bin, NULL);
}

static struct rc_hserver *start_node(struct fixture *f)
{
    static const char *const extra[] = {"--maxmemory-policy", "noeviction", NULL};
    struct rc_hserver *s = rc_h_server_new(&f->h, ":memory:", extra);
    char port[16];

    assert_non_null(s);
    f->rc_port = rc_h_free_port();
    snprintf(port, sizeof(port), "%d", f->rc_port);
    assert_int_equal(rc_h_server_add_arg(s, "--resp-port"), 0);
    assert_int_equal(rc_h_server_add_arg(s, port), 0);
    assert_int_equal(rc_h_server_start(&f->h, s), 0);
    return s;
}

/* Both servers, or a skip when redis-server is missing. */
static struct rc_hserver *start_both(struct fixture *f)
{
    char bin[64];

    if (rc_h_redis_find(bin, sizeof(bin)) < 0) {
        printf("redis-server not found (scripts/deps.sh test installs it): skipped\n");
        f->h.passed = 1;
        skip();
    }
    start_redis(f, bin);
    return start_node(f);
}

/* ---- byte for byte ------------------------------------------------------- */

static void test_transactions(void **state)
{
    struct fixture *f = *state;

    start_both(f);
    /* Nothing runs before EXEC: B reads the key between MULTI and EXEC. */
    compare(f, "queued, not run", "A: DEL t1\nA: MULTI\nA: MULTI\nA: SET t1 1\nA: GET t1\n"
                                  "B: GET t1\nA: EXEC\nB: GET t1\nA: DEL t1\n");
    compare(f, "errors", "A: EXEC\nA: DISCARD\nA: UNWATCH\nA: WATCH t2 t3\nA: MULTI\n"
                         "A: FOO x\nA: GET\nA: SET t2 x\nA: EXEC\nA: GET t2\nA: MULTI\n"
                         "A: WATCH t2\nA: DISCARD\nA: EXEC\nA: MULTI\nA: EXEC\n");
    compare(f, "runtime errors inside EXEC",
            "A: MULTI\nA: SET t4 v\nA: SET t4 v BADOPT\nA: EXPIRE t4 soon\nA: GET t4\nA: DEL t4\n"
            "A: EXEC\n");
    compare(f, "watch",
            "A: SET w1 1\nA: WATCH w1\nB: SET w1 2\nA: MULTI\nA: SET w1 3\nA: EXEC\nA: GET w1\n"
            "A: DEL w2\nA: WATCH w1 w2\nA: MULTI\nA: SET w1 4\nA: EXEC\nA: GET w1\n"
            "A: WATCH w2\nB: SET w2 x\nA: MULTI\nA: GET w2\nA: EXEC\nA: DEL w2\n"
            "A: WATCH w1\nA: UNWATCH\nB: SET w1 9\nA: MULTI\nA: GET w1\nA: EXEC\n"
            "A: WATCH w1\nA: SET w1 5\nA: MULTI\nA: GET w1\nA: EXEC\n"
            "A: WATCH w1\nA: MULTI\nA: DISCARD\nB: SET w1 6\nA: MULTI\nA: GET w1\nA: EXEC\n"
            "A: DEL w1\n");
    /* Pipelined: what follows EXEC waits for it; QUIT inside MULTI runs. */
    compare(f, "pipelined",
            "P: MULTI;SET p1 1;SET p1 2;GET p1;EXEC;GET p1;MULTI;DISCARD;PING;DEL p1\n"
            "P: MULTI;SET p2 a;QUIT\n");
    f->h.passed = 1;
}

/* The same transactions through node 0 of three (RF 3, W 2): every
 * command of EXEC now waits for replicas, so the deferred path (net
 * capture, the next command started from the previous one's answer, the
 * connection held meanwhile) is what answers; a WATCHed key changed
 * through another node aborts EXEC. */
static void test_transactions_cluster(void **state)
{
    struct fixture *f = *state;
    static const char *const extra[] = {"--maxmemory-policy", "noeviction", NULL};
    struct rc_hserver *nodes[3];
    static struct conn a, b;
    char bin[64], port[3][16];
    int i, rc_ports[3];

    if (rc_h_redis_find(bin, sizeof(bin)) < 0) {
        f->h.passed = 1;
        skip();
    }
    start_redis(f, bin);
    assert_int_equal(rc_h_cluster_new(&f->h, 3, extra, nodes), 0);
    for (i = 0; i < 3; i++) {
        rc_ports[i] = rc_h_free_port();
        snprintf(port[i], sizeof(port[i]), "%d", rc_ports[i]);
        assert_int_equal(rc_h_server_add_arg(nodes[i], "--resp-port"), 0);
        assert_int_equal(rc_h_server_add_arg(nodes[i], port[i]), 0);
    }
    assert_int_equal(rc_h_cluster_start(&f->h, nodes, 3), 0);
    assert_true(rc_h_cluster_wait_converged(nodes, NULL, 3, 20000) >= 0);
    f->rc_port = rc_ports[0];
    compare(f, "cluster: queued, not run",
            "A: DEL t1\nA: MULTI\nA: SET t1 1\nA: GET t1\nB: GET t1\nA: EXEC\nB: GET t1\n"
            "A: DEL t1\n");
    compare(f, "cluster: in order, pipelined",
            "P: MULTI;SET p1 1;GET p1;SET p1 2;GET p1;MGET p1 p2;DEL p1;GET p1;EXEC;GET p1;"
            "SET p1 3;MULTI;GET p1;EXPIRE p1 100;TTL p1;SET p1 v BADOPT;EXEC;DEL p1\n");
    compare(f, "cluster: watch",
            "A: SET w1 1\nA: WATCH w1\nB: SET w1 2\nA: MULTI\nA: SET w1 3\nA: EXEC\n"
            "A: GET w1\nA: WATCH w1 w2\nA: MULTI\nA: SET w1 4\nA: EXEC\nA: GET w1\n"
            "A: DEL w1\nP: WATCH w1;MULTI;SET w1 5;EXEC;GET w1;DEL w1\n");
    compare(f, "cluster: CLIENT REPLY OFF drops deferred replies",
            "P: CLIENT REPLY OFF;SET r1 1;GET r1;MULTI;GET r1;EXEC;CLIENT REPLY ON;GET r1;DEL r1\n");
    /* A write through another node between WATCH and EXEC. */
    conn_open(&a, rc_ports[0]);
    conn_open(&b, rc_ports[2]);
    f->rc[0] = 0;
    one(&a, "SET w3 1", 8, f->rc);
    one(&a, "WATCH w3", 8, f->rc);
    one(&b, "SET w3 2", 8, f->rc);
    one(&a, "MULTI", 5, f->rc);
    one(&a, "SET w3 3", 8, f->rc);
    one(&a, "EXEC", 4, f->rc);
    one(&a, "GET w3", 6, f->rc);
    assert_string_equal(f->rc, "+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*-1\r\n$1\r\n2\r\n");
    close(a.fd);
    /* A client that leaves right after EXEC: the transaction still runs
     * to its end (on a copy of the connection's state), the node serves on. */
    conn_open(&a, rc_ports[0]);
    {
        char cmdl[64];

        send_words(&a, "MULTI", 5);
        for (i = 0; i < 200; i++) {
            snprintf(cmdl, sizeof(cmdl), "SET gone:%d %d", i, i);
            send_words(&a, cmdl, strlen(cmdl));
        }
        send_words(&a, "CLIENT INFO", 11);
        /* Their +QUEUED read first: a close with unread bytes would be a
         * reset, which may drop what the node has not read yet. */
        for (i = 0; i < 202; i++) {
            size_t n = reply_end(&a, 0);

            memmove(a.in, a.in + n, a.len - n);
            a.len -= n;
        }
        send_words(&a, "EXEC", 4);
        send_words(&a, "GET gone:0", 10);
    }
    close(a.fd);
    for (i = 0; i < 100; i++) {
        f->rc[0] = 0;
        one(&b, "GET gone:199", 12, f->rc);
        if (strcmp(f->rc, "$3\r\n199\r\n") == 0)
            break;
        rc_h_sleep_ms(50);
    }
    assert_string_equal(f->rc, "$3\r\n199\r\n");
    close(b.fd);
    f->h.passed = 1;
}

static void test_resp3(void **state)
{
    struct fixture *f = *state;

    start_both(f);
    compare(f, "HELLO", "A: HELLO\nA: HELLO 4\nA: HELLO x\nA: HELLO 1\nA: HELLO 3 SETNAME x y\n"
                        "A: HELLO 3 FOO\nA: HELLO 3 AUTH bob pw\nA: HELLO 2 AUTH default any\n"
                        "A: HELLO 3 SETNAME conn1\nA: CLIENT GETNAME\nA: HELLO\nA: HELLO 2\n");
    compare(f, "RESP3 replies",
            "A: HELLO 3\nA: DEL r3\nA: GET r3\nA: MGET r3 r3\nA: SET r3 v NX\nA: SET r3 v NX\n"
            "A: SET r3 w XX\nA: CONFIG GET appendonly\nA: CONFIG GET maxmemory-policy\n"
            "A: CLIENT GETNAME\nA: WATCH r3\nB: SET r3 x\nA: MULTI\nA: GET r3\nA: EXEC\n"
            "A: MULTI\nA: GET r3\nA: GET nokey3\nA: EXEC\n"
            "A: COMMAND DOCS get echo ping\nA: COMMAND DOCS nosuch\nA: EXISTS r3 nokey3\n"
            "A: HELLO 2\nA: GET nokey3\nA: DEL r3\n");
    compare(f, "RESP2 replies", "A: CONFIG GET appendonly\n"
                                "A: COMMAND DOCS get echo ping mget watch incrby select multi\n"
                                "A: GET nokey3\n");
    f->h.passed = 1;
}

/* With a password: HELLO before AUTH, HELLO ... AUTH wrong and right,
 * as Redis with requirepass answers. */
static void test_hello_auth(void **state)
{
    struct fixture *f = *state;
    char bin[64], pwfile[RC_H_PATH + 16], rport[16];
    const char *extra[] = {"--auth-file", pwfile, "--resp-port", rport, NULL};
    struct rc_hserver *s;
    FILE *fp;

    if (rc_h_redis_find(bin, sizeof(bin)) < 0) {
        f->h.passed = 1;
        skip();
    }
    start_redis_pw(f, bin, "s3cret");
    snprintf(pwfile, sizeof(pwfile), "%s/resp-passwords", f->h.root);
    fp = fopen(pwfile, "w");
    assert_non_null(fp);
    fputs("s3cret\n", fp);
    fclose(fp);
    assert_int_equal(chmod(pwfile, 0600), 0);
    f->rc_port = rc_h_free_port();
    snprintf(rport, sizeof(rport), "%d", f->rc_port);
    s = rc_h_server_new(&f->h, ":memory:", extra);
    assert_non_null(s);
    assert_int_equal(rc_h_server_start(&f->h, s), 0);
    compare(f, "HELLO with a password",
            "A: HELLO 3\nA: GET k\nA: MULTI\nA: HELLO 3 AUTH default wrong\n"
            "A: HELLO 3 AUTH default s3cret SETNAME app\nA: CLIENT GETNAME\nA: GET nokey\n"
            "B: HELLO 2 AUTH default s3cret\nB: GET nokey\n");
    f->h.passed = 1;
}

static void test_client(void **state)
{
    struct fixture *f = *state;

    start_both(f);
    compare(f, "CLIENT",
            "A: CLIENT SETNAME a\nA: CLIENT GETNAME\nA: CLIENT SETNAME\nA: CLIENT ID x\n"
            "A: CLIENT KILL 1.2.3.4:5\nA: CLIENT KILL ID 99999\nA: CLIENT KILL ID x\n"
            "A: CLIENT KILL USER nobody\nA: CLIENT KILL SKIPME maybe\nA: CLIENT KILL FOO x\n"
            "A: CLIENT REPLY BAD\nA: CLIENT REPLY\nA: CLIENT NO-EVICT on\nA: CLIENT NO-EVICT x\n"
            "A: CLIENT NO-EVICT off\nA: CLIENT FOO\nA: CLIENT LIST TYPE foo\n"
            "A: CLIENT LIST ID x\nA: CLIENT LIST TYPE pubsub\n"
            "P: CLIENT REPLY OFF;PING;CLIENT REPLY SKIP;PING;PING;CLIENT REPLY ON;PING;"
            "CLIENT REPLY SKIP;PING;PING\n");
    f->h.passed = 1;
}

/* ---- fields and formats -------------------------------------------------- */

/* The keys of a CLIENT LIST/INFO line, in order ("id addr laddr ..."). */
static void line_keys(const char *line, char *out, size_t cap)
{
    size_t n = 0;
    const char *p = line, *eq;

    out[0] = 0;
    while (*p && *p != '\n' && *p != '\r') {
        eq = strchr(p, '=');
        if (eq == NULL)
            break;
        n += (size_t)snprintf(out + n, cap - n, "%.*s ", (int)(eq - p), p);
        p = strchr(eq, ' ');
        if (p == NULL)
            break;
        p++;
    }
}

static const char *field(const char *text, const char *name, char *val, size_t cap)
{
    char key[64];
    const char *p;

    snprintf(key, sizeof(key), "%s", name);
    p = strstr(text, key);
    if (p == NULL)
        return NULL;
    p += strlen(key);
    snprintf(val, cap, "%.*s", (int)strcspn(p, " \r\n"), p);
    return val;
}

/* CLIENT INFO/LIST lay out Redis's fields in Redis's order; CLIENT KILL
 * closes the named connections; SETINFO validates as Redis 7.2 does. */
static void test_client_list_kill(void **state)
{
    struct fixture *f = *state;
    static struct conn a, b, r;
    char rk[1024], ck[1024], v[64], cmdl[128];
    const char *rdline, *rcline;

    start_both(f);
    conn_open(&r, f->rd_port);
    f->rd[0] = 0;
    one(&r, "CLIENT INFO", 11, f->rd);
    close(r.fd);
    conn_open(&a, f->rc_port);
    conn_open(&b, f->rc_port);
    f->rc[0] = 0;
    one(&a, "CLIENT INFO", 11, f->rc);
    rdline = strstr(f->rd, "id=");
    rcline = strstr(f->rc, "id=");
    assert_non_null(rdline);
    assert_non_null(rcline);
    line_keys(rdline, rk, sizeof(rk));
    line_keys(rcline, ck, sizeof(ck));
    printf("redis:     %s\nringcache: %s\n", rk, ck);
    /* Redis 7.0's fields, then 7.2's lib-name lib-ver. */
    assert_int_equal(strncmp(rk, ck, strlen(rk)), 0);
    assert_string_equal(ck + strlen(rk), "lib-name lib-ver ");
    assert_non_null(strstr(f->rc, "cmd=client|info "));

    f->rc[0] = 0;
    one(&a, "CLIENT SETINFO lib-name redis-py", 32, f->rc);
    one(&a, "CLIENT SETINFO lib-ver 5.0.1", 28, f->rc);
    one(&a, "CLIENT SETINFO LIB-NAME a\x01b", 27, f->rc);
    one(&a, "CLIENT SETINFO badattr x", 24, f->rc);
    one(&a, "CLIENT SETINFO lib-name", 23, f->rc);
    assert_string_equal(f->rc, "+OK\r\n+OK\r\n"
                               "-ERR LIB-NAME cannot contain spaces, newlines or special "
                               "characters.\r\n-ERR Unrecognized option 'badattr'\r\n"
                               "-ERR wrong number of arguments for 'client|setinfo' command\r\n");
    f->rc[0] = 0;
    one(&a, "CLIENT INFO", 11, f->rc);
    assert_non_null(strstr(f->rc, " lib-name=redis-py lib-ver=5.0.1\n"));

    /* B's id and address from its CLIENT INFO; A kills B by id, then the
     * old form by address finds nobody. */
    f->rd[0] = 0;
    one(&b, "CLIENT INFO", 11, f->rd);
    assert_non_null(field(f->rd, "id=", v, sizeof(v)));
    f->rc[0] = 0;
    one(&a, "CLIENT LIST", 11, f->rc);
    snprintf(cmdl, sizeof(cmdl), "id=%s addr=", v);
    assert_non_null(strstr(f->rc, cmdl)); /* B is listed */
    snprintf(cmdl, sizeof(cmdl), "CLIENT KILL ID %s", v);
    f->rc[0] = 0;
    one(&a, cmdl, strlen(cmdl), f->rc);
    assert_string_equal(f->rc, ":1\r\n");
    assert_int_equal(fill(&b, IO_MS), -1); /* closed */
    assert_non_null(field(f->rd, "addr=", v, sizeof(v)));
    snprintf(cmdl, sizeof(cmdl), "CLIENT KILL %s", v);
    f->rc[0] = 0;
    one(&a, cmdl, strlen(cmdl), f->rc);
    assert_string_equal(f->rc, "-ERR No such client\r\n");
    /* SKIPME no with its own address: +1 and the connection closes. */
    f->rc[0] = 0;
    one(&a, "CLIENT INFO", 11, f->rc);
    assert_non_null(field(f->rc, "laddr=", v, sizeof(v)));
    snprintf(cmdl, sizeof(cmdl), "CLIENT KILL LADDR %s SKIPME no", v);
    f->rc[0] = 0;
    one(&a, cmdl, strlen(cmdl), f->rc);
    assert_string_equal(f->rc, ":1\r\n");
    assert_int_equal(fill(&a, IO_MS), -1);
    close(a.fd);
    close(b.fd);
    f->h.passed = 1;
}

/* INFO carries the fields clients and exporters read, as Redis names
 * them; RESP3 sends it as a verbatim string, as Redis 7 does. */
static void test_info(void **state)
{
    struct fixture *f = *state;
    static const char *const names[] = {
        "\nredis_version:", "\nos:", "\narch_bits:", "\nprocess_id:", "\nrun_id:",
        "\ntcp_port:", "\nuptime_in_seconds:", "\nuptime_in_days:", "\nhz:", "\nexecutable:",
        "\nconfig_file:", "\nrole:master", "\nexpired_keys:", "\ninstantaneous_ops_per_sec:",
        "\ntotal_commands_processed:", "\ntotal_connections_received:", "\ndb0:keys=",
        "\nconnected_clients:", NULL};
    struct rc_hserver *s;
    char v[128], want[32];
    size_t i;

    s = start_both(f);
    run_script(f->rd_port, "A: SET k v\nA: INFO\n", f->rd);
    run_script(f->rc_port, "A: SET k v\nA: INFO\n", f->rc);
    for (i = 0; names[i] != NULL; i++) {
        printf("%-30s redis %s ringcache %s\n", names[i] + 1,
               strstr(f->rd, names[i]) ? "yes" : "no", strstr(f->rc, names[i]) ? "yes" : "no");
        assert_non_null(strstr(f->rd, names[i]));
        assert_non_null(strstr(f->rc, names[i]));
    }
    assert_non_null(field(f->rc, "\nrun_id:", v, sizeof(v)));
    assert_int_equal(strlen(v), 40);
    assert_int_equal(strspn(v, "0123456789abcdef"), 40);
    snprintf(want, sizeof(want), "%d", (int)s->pid);
    assert_string_equal(field(f->rc, "\nprocess_id:", v, sizeof(v)), want);
    snprintf(want, sizeof(want), "%d", f->rc_port);
    assert_string_equal(field(f->rc, "\ntcp_port:", v, sizeof(v)), want);
    assert_string_equal(field(f->rc, "\narch_bits:", v, sizeof(v)), "64");
    /* One key without a TTL: the same line as Redis's. */
    assert_string_equal(field(f->rc, "\ndb0:keys=", v, sizeof(v)), "1,expires=0,avg_ttl=0");
    assert_string_equal(field(f->rd, "\ndb0:keys=", v, sizeof(v)), "1,expires=0,avg_ttl=0");
    assert_true(atol(field(f->rc, "\ntotal_commands_processed:", v, sizeof(v))) >= 2);
    run_script(f->rd_port, "A: HELLO 3\nA: INFO server\n", f->rd);
    run_script(f->rc_port, "A: HELLO 3\nA: INFO server\n", f->rc);
    assert_non_null(strstr(f->rd, "\r\n=")); /* verbatim: "=<len>\r\ntxt:# Server" */
    assert_non_null(strstr(f->rd, "\r\ntxt:# Server\r\n"));
    assert_non_null(strstr(f->rc, "\r\ntxt:# Server\r\n"));
    f->h.passed = 1;
}

/* ---- COMMAND and COMMAND DOCS -------------------------------------------- */

/* Containers whose replies list only the subcommands ringcache answers
 * (resp_docs.c): the one documented difference from Redis. Their
 * subcommands are compared one by one ("client|list"); in the
 * container's own reply the subcommand element is cut on both sides. */
static const char *const cut_containers[] = {"client", "config", "command", "object",
                                             "memory", NULL};

/* Replaces the element at off of the reply in s with "+CUT". */
static void cut_elem(char *s, size_t off)
{
    static struct conn tmp;
    size_t n = strlen(s), e;

    memcpy(tmp.in, s, n);
    tmp.len = n;
    tmp.fd = -1;
    e = reply_end(&tmp, off);
    memmove(s + off + 6, s + e, n - e + 1);
    memcpy(s + off, "+CUT\r\n", 6);
}

/* The offset of the k-th element (0 first) of the aggregate at off. */
static size_t elem_at(char *s, size_t off, int k)
{
    static struct conn tmp;
    size_t n = strlen(s);

    memcpy(tmp.in, s, n);
    tmp.len = n;
    tmp.fd = -1;
    off = line_end(&tmp, off);
    while (k-- > 0)
        off = reply_end(&tmp, off);
    return off;
}

/* A container's DOCS reply ({name: {..., subcommands: X}}) and INFO
 * reply ([[..9 fields.., X]]): X cut. */
static void cut_subcommands(char *docs, char *info)
{
    char *p = strstr(docs, "$11\r\nsubcommands\r\n");

    assert_non_null(p);
    cut_elem(docs, (size_t)(p - docs) + 18);
    cut_elem(info, elem_at(info, elem_at(info, 0, 0), 9));
}

static int is_container(const char *name)
{
    size_t i;

    for (i = 0; cut_containers[i] != NULL; i++)
        if (strcmp(name, cut_containers[i]) == 0)
            return 1;
    return 0;
}

/* COMMAND LIST (RESP2) into names[], their count. */
static size_t command_list(struct conn *c, char names[][48], size_t cap)
{
    static char out[CAP];
    const char *p;
    size_t n = 0;
    long len;

    out[0] = 0;
    one(c, "COMMAND LIST", 12, out);
    assert_int_equal(out[0], '*');
    for (p = strstr(out, "\r\n") + 2; *p == '$' && n < cap; n++) {
        len = strtol(p + 1, NULL, 10);
        p = strstr(p, "\r\n") + 2;
        assert_true(len > 0 && len < 48);
        snprintf(names[n], 48, "%.*s", (int)len, p);
        p += len + 2;
    }
    assert_int_equal(*p, 0);
    return n;
}

/* Every command ringcache serves, and each subcommand it lists, against
 * redis-server: COMMAND DOCS and COMMAND INFO byte for byte, in RESP2 and
 * RESP3. A command without a docs row must be one answered with the
 * "not supported" data-type error (those have none on purpose); COMMAND
 * COUNT, COMMAND, COMMAND DOCS and COMMAND LIST agree with each other. */
static void test_command_docs(void **state)
{
    struct fixture *f = *state;
    static char names[512][48];
    static struct conn a, b;
    static char rcd[CAP], rdd[CAP];
    char line[128], *v, *w;
    size_t n, i, top = 0, documented = 0, refused = 0, compared = 0;
    int proto;

    start_both(f);
    conn_open(&a, f->rc_port);
    conn_open(&b, f->rd_port);
    n = command_list(&a, names, 512);
    assert_true(n > 60);
    for (proto = 2; proto <= 3; proto++) {
        if (proto == 3) {
            rcd[0] = rdd[0] = 0;
            one(&a, "HELLO 3", 7, rcd);
            one(&b, "HELLO 3", 7, rdd);
        }
        top = documented = refused = 0;
        for (i = 0; i < n; i++) {
            int sub = strchr(names[i], '|') != NULL;

            top += !sub;
            rcd[0] = rdd[0] = 0;
            snprintf(line, sizeof(line), "COMMAND DOCS %.47s", names[i]);
            one(&a, line, strlen(line), rcd);
            if (strcmp(rcd, proto == 2 ? "*0\r\n" : "%0\r\n") == 0) {
                /* No docs row: only for a refused data-type command. */
                assert_false(sub);
                snprintf(line, sizeof(line), "%.47s k", names[i]);
                rcd[0] = 0;
                one(&a, line, strlen(line), rcd);
                if (strstr(rcd, "are not supported") == NULL)
                    printf("%s is served without a COMMAND DOCS row: %s\n", names[i], rcd);
                assert_non_null(strstr(rcd, "-ERR ringcache is a key-value cache: lists"));
                refused++;
                continue;
            }
            documented += !sub;
            one(&b, line, strlen(line), rdd);
            snprintf(line, sizeof(line), "COMMAND INFO %.47s", names[i]);
            v = rcd + strlen(rcd);
            w = rdd + strlen(rdd);
            one(&a, line, strlen(line), rcd);
            one(&b, line, strlen(line), rdd);
            if (is_container(names[i])) {
                /* Two replies each: split at the INFO one and cut both. */
                static char rci[CAP], rdi[CAP];

                snprintf(rci, sizeof(rci), "%s", v);
                snprintf(rdi, sizeof(rdi), "%s", w);
                *v = *w = 0;
                assert_string_not_equal(rdi, rci); /* Redis lists more subcommands */
                cut_subcommands(rcd, rci);
                cut_subcommands(rdd, rdi);
                strcat(rcd, rci);
                strcat(rdd, rdi);
            }
            if (strcmp(rcd, rdd) != 0)
                printf("RESP%d %s differs:\nringcache: %s\nredis:     %s\n", proto, names[i],
                       rcd, rdd);
            assert_string_equal(rcd, rdd);
            compared++;
        }
    }
    printf("%zu names listed (%zu commands: %zu documented, %zu refused data-type ones), "
           "%zu DOCS+INFO pairs (RESP2 and RESP3) identical to redis-server's\n",
           n, top, documented, refused, compared);
    /* COUNT is the commands; COMMAND and COMMAND INFO list them all;
     * COMMAND DOCS without names documents every documented one. */
    rcd[0] = 0;
    one(&a, "HELLO 2", 7, rcd);
    rcd[0] = 0;
    one(&a, "COMMAND COUNT", 13, rcd);
    snprintf(line, sizeof(line), ":%zu\r\n", top);
    assert_string_equal(rcd, line);
    snprintf(line, sizeof(line), "*%zu\r\n", top);
    rcd[0] = 0;
    one(&a, "COMMAND", 7, rcd);
    assert_memory_equal(rcd, line, strlen(line));
    rcd[0] = 0;
    one(&a, "COMMAND INFO", 12, rcd);
    assert_memory_equal(rcd, line, strlen(line));
    snprintf(line, sizeof(line), "*%zu\r\n", 2 * documented);
    rcd[0] = 0;
    one(&a, "COMMAND DOCS", 12, rcd);
    assert_memory_equal(rcd, line, strlen(line));
    close(a.fd);
    close(b.fd);
    f->h.passed = 1;
}

/* ---- real clients -------------------------------------------------------- */

static const char *run(struct fixture *f, const char *const *argv, const char *in,
                       struct rc_hrun *r)
{
    assert_int_equal(rc_h_run(argv[0], argv, NULL, in, in ? strlen(in) : 0, 30000, CAP, r), 0);
    if (r->status != 0)
        printf("%s exited %d: %.*s\n", argv[0], r->status, (int)r->out_len, (const char *)r->out);
    (void)f;
    return (const char *)r->out;
}

/* redis-cli -3 (RESP3) and redis-cli reading commands from stdin (which
 * asks COMMAND DOCS first), the same output from both servers. */
static void test_redis_cli(void **state)
{
    struct fixture *f = *state;
    static const char *const cmds =
        "DEL c1\nSET c1 v\nGET c1\nGET nokey\nMGET c1 nokey\nMULTI\nSET c1 w\nGET c1\nEXEC\n"
        "CONFIG GET appendonly\nCLIENT GETNAME\nDEL c1\n";
    char port[2][16];
    struct rc_hrun r1, r2;
    int side, proto;

    start_both(f);
    snprintf(port[0], sizeof(port[0]), "%d", f->rc_port);
    snprintf(port[1], sizeof(port[1]), "%d", f->rd_port);
    for (proto = 2; proto <= 3; proto++) {
        struct rc_hrun *rr[2] = {&r1, &r2};

        for (side = 0; side < 2; side++) {
            const char *argv[] = {"/usr/bin/redis-cli", "-p", port[side], proto == 3 ? "-3" : "-2",
                                  NULL};

            run(f, argv, cmds, rr[side]);
            assert_int_equal(rr[side]->status, 0);
        }
        printf("redis-cli -%d:\n%.*s", proto, (int)r1.out_len, (const char *)r1.out);
        assert_int_equal(r1.out_len, r2.out_len);
        assert_memory_equal(r1.out, r2.out, r1.out_len);
        rc_h_run_free(&r1);
        rc_h_run_free(&r2);
    }
    f->h.passed = 1;
}

/* One interpreter and protocol: the same transcript from both servers. */
static void redis_py(struct fixture *f, const char *python, const char *script,
                     const char *proto)
{
    char port[2][16];
    struct rc_hrun r1, r2;

    snprintf(port[0], sizeof(port[0]), "%d", f->rc_port);
    snprintf(port[1], sizeof(port[1]), "%d", f->rd_port);
    {
        const char *a1[] = {python, "-W", "error", script, port[0], proto, NULL};
        const char *a2[] = {python, "-W", "error", script, port[1], proto, NULL};

        run(f, a1, NULL, &r1);
        run(f, a2, NULL, &r2);
    }
    printf("%s %s transcript (ringcache):\n%.*s", python, proto ? proto : "",
           (int)r1.out_len, (const char *)r1.out);
    assert_int_equal(r1.status, 0);
    assert_int_equal(r2.status, 0);
    assert_int_equal(r1.out_len, r2.out_len);
    assert_memory_equal(r1.out, r2.out, r1.out_len);
    rc_h_run_free(&r1);
    rc_h_run_free(&r2);
}

/* tests/redis_proto_client.py with Debian's redis-py (RESP2 only), and,
 * when RC_REDIS_PY3 names a python with redis-py 5 or later (e.g. a venv
 * with PyPI's current redis), with it in RESP2 and RESP3: the same
 * transcript from both servers, no warning (-W error). */
static void test_redis_py(void **state)
{
    struct fixture *f = *state;
    char script[600];
    const char *src = getenv("RC_SOURCE_DIR"), *py3 = getenv("RC_REDIS_PY3");

    if (access("/usr/bin/python3", X_OK) != 0 || src == NULL) {
        printf("/usr/bin/python3 or RC_SOURCE_DIR missing: skipped\n");
        f->h.passed = 1;
        skip();
    }
    start_both(f);
    snprintf(script, sizeof(script), "%s/tests/redis_proto_client.py", src);
    redis_py(f, "/usr/bin/python3", script, NULL);
    if (py3 != NULL && py3[0]) {
        redis_py(f, py3, script, "2");
        redis_py(f, py3, script, "3");
    } else {
        printf("RC_REDIS_PY3 not set: redis-py 5+ (RESP3) not run\n");
    }
    f->h.passed = 1;
}

#ifdef RC_HAVE_HIREDIS
/* The transcript of a hiredis session into out: pipelined MULTI/EXEC,
 * then HELLO's map (RESP3 with hiredis 1.x). */
static void hiredis_session(int port, char *out, size_t cap)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    redisReply *r;
    size_t n = 0, i;

    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisAppendCommand(c, "DEL h1");
    redisAppendCommand(c, "MULTI");
    redisAppendCommand(c, "SET h1 %s", "v1");
    redisAppendCommand(c, "GET h1");
    redisAppendCommand(c, "EXEC");
    for (i = 0; i < 5; i++) {
        assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
        n += (size_t)snprintf(out + n, cap - n, "type=%d ", r->type);
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 2)
            n += (size_t)snprintf(out + n, cap - n, "[%s %s] ", r->element[0]->str,
                                  r->element[1]->str);
        freeReplyObject(r);
    }
#if HIREDIS_MAJOR >= 1
    /* hiredis 1.x parses RESP3: HELLO 3's map, nulls, CONFIG GET's map. */
    r = redisCommand(c, "HELLO 3");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_MAP);
    assert_int_equal(r->elements, 14);
    for (i = 0; i < r->elements; i += 2)
        n += (size_t)snprintf(out + n, cap - n, "%s:%d ", r->element[i]->str,
                              r->element[i + 1]->type);
    freeReplyObject(r);
    r = redisCommand(c, "GET nokey");
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = redisCommand(c, "CONFIG GET appendonly");
    assert_int_equal(r->type, REDIS_REPLY_MAP);
    n += (size_t)snprintf(out + n, cap - n, "%s=%s ", r->element[0]->str, r->element[1]->str);
    freeReplyObject(r);
#else
    /* hiredis 0.14 (Debian 12) has no RESP3 parser: HELLO 2's reply, the
     * same map as a flat array of 14. */
    r = redisCommand(c, "HELLO 2");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 14);
    for (i = 0; i < r->elements; i += 2)
        n += (size_t)snprintf(out + n, cap - n, "%s:%d ", r->element[i]->str,
                              r->element[i + 1]->type);
    freeReplyObject(r);
#endif
    r = redisCommand(c, "DEL h1");
    freeReplyObject(r);
    redisFree(c);
}

static void test_hiredis(void **state)
{
    struct fixture *f = *state;

    start_both(f);
    hiredis_session(f->rc_port, f->rc, CAP);
    hiredis_session(f->rd_port, f->rd, CAP);
    printf("hiredis: %s\n", f->rc);
    assert_string_equal(f->rc, f->rd);
    f->h.passed = 1;
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resp3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hello_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_list_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_docs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_cli, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_py, setup, teardown),
#ifdef RC_HAVE_HIREDIS
        cmocka_unit_test_setup_teardown(test_hiredis, setup, teardown),
#endif
    };

    rc_h_test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
