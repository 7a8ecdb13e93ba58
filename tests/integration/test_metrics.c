/*
 * test_metrics.c - the Prometheus endpoint (--metrics-port) on real
 * server processes, checked with the real tools.
 *
 *  - one node: traffic through the client library, then GET /metrics must
 *    pass `promtool check metrics` (format and lint: HELP, TYPE, units,
 *    _total) and show what was sent (PUT count, hits, misses, the latency
 *    histogram's count, keys), plus /health, HEAD, 404, 405, 400; README's
 *    table lists exactly the metrics the page declares;
 *  - a node joining: the streams to it show per peer, and the keys streamed
 *    out and in add up;
 *  - hostile HTTP: a huge head (431), bytes without any line end (431),
 *    binary garbage and a bad method (400/405), a half request held open
 *    (slowloris) while another client scrapes at once and the client port
 *    keeps serving, then cut by the read timeout; connections over the
 *    cap closed at once; the node stays up;
 *  - a real Prometheus server (Debian's /usr/bin/prometheus) scrapes a
 *    three-node cluster; its HTTP API must return up == 1 and a ringcache
 *    series for all three instances. Skipped, saying so, when the binary
 *    is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define TEST_TIMEOUT_S 120
#define IO_MS 3000
#define PAGE_CAP (1u << 20)
#define PROMETHEUS_BIN "/usr/bin/prometheus"
#define PROMTOOL_BIN "/usr/bin/promtool"
/* The server's read timeout on the metrics port (main.c) and slack. */
#define SERVER_HTTP_TIMEOUT_MS 5000
#define MAX_CLIENTS 8

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness (harness.h) */
    pid_t prom_pid;      /* the Prometheus server this test started, 0: none */
    char page[PAGE_CAP];
};

static int setup(void **state)
{
    return rc_h_fixture_setup(state, sizeof(struct fixture), TEST_TIMEOUT_S);
}

/* Stops the Prometheus server (by its pid) before the harness cleans up. */
static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f != NULL && f->prom_pid > 0) {
        kill(f->prom_pid, SIGKILL);
        waitpid(f->prom_pid, NULL, 0);
        f->prom_pid = 0;
    }
    return rc_h_fixture_teardown(state);
}

/* ---- HTTP over a raw socket ---- */

/* Sends req (len bytes) to 127.0.0.1:port and reads until the server
 * closes, into out (cap bytes, NUL-terminated). Bytes read, or -1. */
static long http_raw(int port, const char *req, size_t len, char *out, size_t cap, int timeout_ms)
{
    int fd = rc_h_tcp_connect(port, timeout_ms);
    double t0 = rc_h_now_ms();
    size_t n = 0;
    ssize_t r;

    if (fd < 0)
        return -1;
    if (rc_h_send_all(fd, req, len, timeout_ms) < 0 && errno != EPIPE && errno != ECONNRESET) {
        close(fd);
        return -1;
    }
    while (n + 1 < cap && rc_h_now_ms() - t0 < timeout_ms) {
        struct timeval tv = {0, 100000};

        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        r = recv(fd, out + n, cap - 1 - n, 0);
        if (r == 0)
            break;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        if (r < 0)
            break; /* a reset after the answer still leaves what was read */
        n += (size_t)r;
    }
    close(fd);
    out[n] = '\0';
    return (long)n;
}

/* http_raw of a NUL-terminated request. */
static long http_str(int port, const char *req, char *out, size_t cap)
{
    return http_raw(port, req, strlen(req), out, cap, IO_MS);
}

static long http_get(int port, const char *path, char *out, size_t cap)
{
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);

    return http_raw(port, req, (size_t)n, out, cap, IO_MS);
}

/* The status code of a raw answer, or -1. */
static int status_of(const char *ans)
{
    int code;

    if (sscanf(ans, "HTTP/1.1 %d ", &code) != 1)
        return -1;
    return code;
}

/* The body of an answer (after the empty line), or "". */
static const char *body_of(const char *ans)
{
    const char *b = strstr(ans, "\r\n\r\n");

    return b ? b + 4 : "";
}

/* The value of the sample line "series value" in page, or -1. */
static double metric(const char *page, const char *series)
{
    size_t n = strlen(series);
    const char *p = page;

    while ((p = strstr(p, series)) != NULL) {
        if ((p == page || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p += n;
    }
    printf("metrics: no sample %s\n", series);
    return -1;
}

/* GET /metrics from port into f->page; asserts a 200 and returns the body. */
static const char *scrape(struct fixture *f, int port)
{
    long n = http_get(port, "/metrics", f->page, sizeof(f->page));

    assert_true(n > 0);
    if (status_of(f->page) != 200)
        printf("metrics: answer %.200s\n", f->page);
    assert_int_equal(status_of(f->page), 200);
    assert_non_null(strstr(f->page, "Content-Type: text/plain; version=0.0.4"));
    return body_of(f->page);
}

/* promtool check metrics on page: 0 when it passes (its output printed
 * otherwise). */
static int promtool_check(const char *page)
{
    const char *argv[] = {"promtool", "check", "metrics", NULL};
    struct rc_hrun r;
    int ok;

    assert_int_equal(rc_h_run(PROMTOOL_BIN, argv, NULL, page, strlen(page), 30000, 1 << 16, &r),
                     0);
    ok = r.status == 0;
    if (!ok)
        printf("promtool check metrics: status %d\n%s%s\n", r.status, (char *)r.out,
               (char *)r.err);
    rc_h_run_free(&r);
    return ok ? 0 : -1;
}

/* Every metric the page declares (# TYPE) has its row in README's table
 * ("| `name` |"), and every row names a metric the page declares. */
static void check_readme_lists(const char *page)
{
    const char *path = getenv("RC_README_MD"), *p, *e;
    static char doc[1 << 20], name[160], row[200];
    FILE *fp;
    size_t n;
    int missing = 0, rows = 0;

    if (path == NULL) {
        printf("metrics: RC_README_MD not set (run through ctest)\n");
        fail();
    }
    fp = fopen(path, "r");
    assert_non_null(fp);
    n = fread(doc, 1, sizeof(doc) - 1, fp);
    fclose(fp);
    doc[n] = '\0';
    for (p = page; (p = strstr(p, "# TYPE ")) != NULL; p = e) {
        p += 7;
        e = strchr(p, ' ');
        assert_non_null(e);
        assert_true((size_t)(e - p) < sizeof(name));
        memcpy(name, p, (size_t)(e - p));
        name[e - p] = '\0';
        snprintf(row, sizeof(row), "| `%s` |", name);
        if (strstr(doc, row) == NULL) {
            printf("metrics: README has no row for %s\n", name);
            missing++;
        }
    }
    for (p = doc; (p = strstr(p, "\n| `ringcache_")) != NULL; p = e) {
        p += 4;
        e = strchr(p, '`');
        assert_non_null(e);
        snprintf(row, sizeof(row), "# TYPE %.*s ", (int)(e - p), p);
        rows++;
        if (strstr(page, row) == NULL) {
            printf("metrics: README lists %.*s, the server does not export it\n", (int)(e - p),
                   p);
            missing++;
        }
    }
    printf("metrics: README table has %d rows\n", rows);
    assert_int_equal(missing, 0);
}

/* A node with the metrics port on a free port; its port in *mport. */
static struct rc_hserver *metrics_node(struct fixture *f, int *mport)
{
    char port[16];
    const char *extra[] = {"--metrics-port", port, "--data-dir", ":memory:", NULL};
    struct rc_hserver *s;

    *mport = rc_h_free_port();
    assert_true(*mport > 0);
    snprintf(port, sizeof(port), "%d", *mport);
    s = rc_h_server_new(&f->h, ":memory:", extra);
    assert_non_null(s);
    assert_int_equal(rc_h_server_start(&f->h, s), 0);
    return s;
}

/* ---- tests ---- */

/* Traffic, then the page: promtool passes and the counters are what was sent. */
static void test_page_counts_traffic(void **state)
{
    struct fixture *f = *state;
    struct rc_result res;
    struct rc_client *c;
    char key[32], ans[4096];
    const char *page;
    int mport, i;
    struct rc_hserver *s = metrics_node(f, &mport);

    c = rc_h_test_client(&f->h, s, IO_MS, MAX_CLIENTS);
    for (i = 0; i < 25; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        rc_h_expect_rc(rc_client_put(c, key, strlen(key), "v", 1, 0), 0);
    }
    for (i = 0; i < 10; i++) { /* 7 hits, 3 misses */
        snprintf(key, sizeof(key), i < 7 ? "k%d" : "absent%d", i);
        rc_h_expect_rc(rc_client_get(c, key, strlen(key), &res), i < 7 ? 0 : RC_CLIENT_NOTFOUND);
    }
    for (i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "k%d", 20 + i);
        rc_h_expect_rc(rc_client_del(c, key, strlen(key)), 0);
    }
    page = scrape(f, mport);
    assert_int_equal(promtool_check(page), 0);
    check_readme_lists(page);
    assert_true(metric(page, "ringcache_ops_total{op=\"put\"}") == 25);
    assert_true(metric(page, "ringcache_ops_total{op=\"get\"}") == 10);
    assert_true(metric(page, "ringcache_ops_total{op=\"del\"}") == 4);
    assert_true(metric(page, "ringcache_hits_total") == 7);
    assert_true(metric(page, "ringcache_misses_total") == 3);
    assert_true(metric(page, "ringcache_keys") == 21);
    assert_true(metric(page, "ringcache_request_duration_seconds_count{op=\"put\"}") == 25);
    assert_true(metric(page, "ringcache_request_duration_seconds_bucket{op=\"put\",le=\"+Inf\"}") ==
                25);
    assert_true(metric(page, "ringcache_request_duration_seconds_count{op=\"get\"}") == 10);
    assert_true(metric(page, "ringcache_request_duration_seconds_count{op=\"del\"}") == 4);
    assert_true(metric(page, "ringcache_request_duration_seconds_sum{op=\"put\"}") > 0);
    assert_true(metric(page, "ringcache_members_by_state{state=\"alive\"}") == 1);
    assert_true(metric(page, "ringcache_ring_share_ratio{role=\"primary\"}") > 0.99);
    assert_true(metric(page, "ringcache_port_connections{protocol=\"native\"}") >= 1);
    assert_non_null(strstr(page, "\nringcache_build_info{version=\""));
    assert_non_null(strstr(page, "# TYPE ringcache_uptime_seconds gauge\n"));
    assert_non_null(strstr(page, "# TYPE ringcache_evicted_keys_total counter\n"));
    /* a scrape is not a STATS request */
    assert_true(metric(page, "ringcache_ops_total{op=\"stats\"}") == 0);
    /* counters move: 5 more PUTs */
    for (i = 0; i < 5; i++)
        rc_h_expect_rc(rc_client_put(c, "again", 5, "v", 1, 0), 0);
    page = scrape(f, mport);
    assert_true(metric(page, "ringcache_ops_total{op=\"put\"}") == 30);
    assert_true(metric(page, "ringcache_metrics_http_responses_total{code=\"200\"}") >= 1);

    assert_true(http_get(mport, "/health", ans, sizeof(ans)) > 0);
    assert_int_equal(status_of(ans), 200);
    assert_string_equal(body_of(ans), "ok\n");
    assert_true(http_get(mport, "/metrics?x=1", ans, sizeof(ans)) > 0);
    assert_int_equal(status_of(ans), 200);
    assert_true(http_get(mport, "/nope", ans, sizeof(ans)) > 0);
    assert_int_equal(status_of(ans), 404);
    assert_true(http_str(mport, "HEAD /metrics HTTP/1.0\r\n\r\n", ans, sizeof(ans)) > 0);
    assert_int_equal(status_of(ans), 200);
    assert_string_equal(body_of(ans), ""); /* head only */
    assert_true(http_str(mport, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", ans,
                         sizeof(ans)) > 0);
    assert_int_equal(status_of(ans), 405);
    assert_non_null(strstr(ans, "Allow: GET"));
    f->h.passed = 1;
}

/* Marks the connections of fds[0..n) the server closed since the last
 * call in gone[]; returns how many. */
static int poll_closed(const int *fds, int *gone, int n)
{
    int i, k = 0;

    for (i = 0; i < n; i++) {
        if (!gone[i] && rc_h_wait_closed(fds[i], 10) == 0) {
            gone[i] = 1;
            k++;
        }
    }
    return k;
}

/* What a hostile client gets, and that nobody else notices. */
static void test_hostile_clients(void **state)
{
    struct fixture *f = *state;
    static char big[16384], ans[4096];
    struct rc_client *c;
    const char *page, *half;
    double t0, ms;
    int mport, fd, held[20], gone[20], i, closed;
    struct rc_hserver *s = metrics_node(f, &mport);

    c = rc_h_test_client(&f->h, s, IO_MS, MAX_CLIENTS);
    /* a head over 8 KiB: a GET line, then a 12 KiB header */
    i = snprintf(big, sizeof(big), "GET /metrics HTTP/1.1\r\nX-Big: ");
    memset(big + i, 'a', 12288);
    assert_true(http_raw(mport, big, (size_t)i + 12288, ans, sizeof(ans), IO_MS) > 0);
    assert_int_equal(status_of(ans), 431);
    /* no line end at all */
    memset(big, 'A', 10000);
    assert_true(http_raw(mport, big, 10000, ans, sizeof(ans), IO_MS) > 0);
    assert_int_equal(status_of(ans), 431);
    /* binary garbage that happens to end a head */
    for (i = 0; i < 2000; i++)
        big[i] = (char)(i * 131 + 7);
    memcpy(big + 2000, "\r\n\r\n", 4);
    assert_true(http_raw(mport, big, 2004, ans, sizeof(ans), IO_MS) > 0);
    assert_int_equal(status_of(ans), 400);
    /* a method that is no method, one that is not allowed, a bad version */
    assert_true(http_str(mport, "G\x01T /metrics HTTP/1.1\r\n\r\n", ans, sizeof(ans)) > 0);
    assert_int_equal(status_of(ans), 400);
    assert_true(http_str(mport, "DELETE /metrics HTTP/1.1\r\n\r\n", ans, sizeof(ans)) > 0);
    assert_int_equal(status_of(ans), 405);
    assert_true(http_str(mport, "GET /metrics HTTP/9\r\n\r\n", ans, sizeof(ans)) > 0);
    assert_int_equal(status_of(ans), 400);
    /* bare LF line ends are accepted */
    assert_true(http_str(mport, "GET /health HTTP/1.0\n\n", ans, sizeof(ans)) > 0);
    assert_int_equal(status_of(ans), 200);

    /* slowloris: half a request held open; a scrape and the client port
     * are served meanwhile, and the half request is cut by the timeout */
    fd = rc_h_tcp_connect(mport, IO_MS);
    assert_true(fd >= 0);
    half = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
    assert_int_equal(rc_h_send_all(fd, half, strlen(half), IO_MS), 0);
    t0 = rc_h_now_ms();
    page = scrape(f, mport);
    ms = rc_h_now_ms() - t0;
    printf("metrics: scrape beside a half request took %.1f ms\n", ms);
    assert_true(ms < 1000);
    assert_int_equal(promtool_check(page), 0);
    rc_h_expect_rc(rc_client_ping(c), 0);
    t0 = rc_h_now_ms();
    assert_int_equal(rc_h_wait_closed(fd, SERVER_HTTP_TIMEOUT_MS + 3000), 0);
    ms = rc_h_now_ms() - t0;
    printf("metrics: half request closed after %.0f ms\n", ms);
    close(fd);

    /* over the connection cap (16): the extra ones are closed at once.
     * First let the server finish closing the connections above (a
     * scrape's close completes a loop turn after its reply: counted as
     * open until then, it would make 5 of the 20 extra under load). */
    rc_h_sleep_ms(300);
    for (i = 0; i < 20; i++) {
        held[i] = rc_h_tcp_connect(mport, IO_MS);
        assert_true(held[i] >= 0);
    }
    /* the server accepts them in its own time: poll until 4 are closed
     * (within 3 s, before the 5 s read timeout cuts the other 16), then
     * make sure no more go */
    memset(gone, 0, sizeof(gone));
    t0 = rc_h_now_ms();
    closed = 0;
    while (closed < 4 && rc_h_now_ms() - t0 < 3000)
        closed += poll_closed(held, gone, 20);
    rc_h_sleep_ms(200);
    closed += poll_closed(held, gone, 20);
    printf("metrics: %d of 20 idle connections closed at once\n", closed);
    assert_int_equal(closed, 4);
    for (i = 0; i < 20; i++)
        close(held[i]);
    rc_h_sleep_ms(200); /* the server sees the closes */
    page = scrape(f, mport);
    assert_true(metric(page, "ringcache_metrics_connections_rejected_total") == 4);
    assert_true(metric(page, "ringcache_metrics_http_responses_total{code=\"431\"}") == 2);
    assert_true(metric(page, "ringcache_metrics_http_responses_total{code=\"400\"}") == 3);
    assert_true(metric(page, "ringcache_metrics_http_responses_total{code=\"405\"}") == 1);
    assert_true(metric(page, "ringcache_metrics_timeouts_total") >= 1);
    assert_true(rc_h_server_alive(s));
    rc_h_expect_rc(rc_client_ping(c), 0);
    /* a clean stop with a metrics connection open half-way: the port
     * closes it and the node exits 0 (under ASan: nothing leaked) */
    fd = rc_h_tcp_connect(mport, IO_MS);
    assert_true(fd >= 0);
    assert_int_equal(rc_h_send_all(fd, half, strlen(half), IO_MS), 0);
    rc_h_sleep_ms(100);
    rc_h_clients_drop(&f->h);
    assert_int_equal(rc_h_server_stop(s, 10000), 0);
    close(fd);
    f->h.passed = 1;
}

/* A third node joins two with a slow stream: the page of a node streaming
 * to it shows that stream, by peer, while it runs; afterwards the keys
 * streamed out of the two are the keys the new node took in, all of them
 * (RF 3: it holds every key). A lone node never plans (it adopts the
 * ring its first peer brings), hence two to start with. */
static void test_stream_progress_by_peer(void **state)
{
    struct fixture *f = *state;
    const char *extra[] = {"--stream-rate", "100k", "--rebalance-delay", "0", NULL};
    char port[16], key[32], val[128], ids[3][RC_H_ID_CAP], series[160];
    struct rc_hserver *nodes[3];
    struct rc_client *c;
    const char *page;
    int mports[3], i, seen = 0;
    double t0, keys_out, keys_in, running;

    assert_int_equal(rc_h_cluster_new(&f->h, 3, extra, nodes), 0);
    for (i = 0; i < 3; i++) {
        mports[i] = rc_h_free_port();
        snprintf(port, sizeof(port), "%d", mports[i]);
        assert_int_equal(rc_h_server_add_arg(nodes[i], "--metrics-port"), 0);
        assert_int_equal(rc_h_server_add_arg(nodes[i], port), 0);
    }
    assert_int_equal(rc_h_cluster_start(&f->h, nodes, 2), 0);
    assert_int_equal(rc_h_cluster_ids(nodes, 2, ids), 0);
    assert_true(rc_h_cluster_wait_converged(nodes, (const char(*)[RC_H_ID_CAP])ids, 2, 15000) >=
                0);
    c = rc_h_test_client(&f->h, nodes[0], IO_MS, MAX_CLIENTS);
    memset(val, 'v', sizeof(val));
    for (i = 0; i < 3000; i++) { /* ~400 KiB: seconds at 100 KiB/s */
        snprintf(key, sizeof(key), "s%05d", i);
        rc_h_expect_rc(rc_client_put(c, key, strlen(key), val, sizeof(val), 0), 0);
    }
    assert_int_equal(rc_h_server_start(&f->h, nodes[2]), 0);
    assert_int_equal(rc_h_node_id(nodes[2], ids[2], sizeof(ids[2])), 0);
    snprintf(series, sizeof(series), "ringcache_plan_stream_keys{peer=\"%s\"}", ids[2]);
    t0 = rc_h_now_ms();
    while (!seen && rc_h_now_ms() - t0 < 20000) {
        for (i = 0; i < 2 && !seen; i++) {
            page = scrape(f, mports[i]);
            if (strstr(page, series) == NULL || metric(page, series) <= 0)
                continue;
            seen = 1;
            printf("metrics: node %d streaming to %s: %.0f keys so far\n", i + 1, ids[2],
                   metric(page, series));
            assert_true(metric(page, "ringcache_rebalance_running") == 1);
            assert_int_equal(promtool_check(page), 0);
            snprintf(series, sizeof(series), "ringcache_plan_stream_ranges{peer=\"%s\"}", ids[2]);
            assert_true(metric(page, series) > 0);
        }
        rc_h_sleep_ms(100);
    }
    assert_true(seen);
    /* done: every key went out of nodes 1 and 2 and into node 3 */
    t0 = rc_h_now_ms();
    do {
        rc_h_sleep_ms(200);
        running = metric(scrape(f, mports[0]), "ringcache_rebalance_running") +
                  metric(scrape(f, mports[1]), "ringcache_rebalance_running");
    } while (running != 0 && rc_h_now_ms() - t0 < 30000);
    keys_out = metric(scrape(f, mports[0]), "ringcache_stream_keys_total{direction=\"out\"}") +
               metric(scrape(f, mports[1]), "ringcache_stream_keys_total{direction=\"out\"}");
    page = scrape(f, mports[2]);
    keys_in = metric(page, "ringcache_stream_keys_total{direction=\"in\"}");
    printf("metrics: %.0f keys streamed out of nodes 1-2, %.0f into node 3\n", keys_out, keys_in);
    assert_true(keys_out == 3000);
    assert_true(keys_in == 3000);
    assert_true(metric(page, "ringcache_keys") == 3000);
    f->h.passed = 1;
}

/* Starts Prometheus with config at cfg, its API on 127.0.0.1:port. */
static pid_t start_prometheus(struct fixture *f, const char *cfg, int port)
{
    char cfgarg[RC_H_PATH + 32], tsdb[RC_H_PATH + 32], listen[64], log[RC_H_PATH];
    pid_t pid;
    int fd;

    snprintf(cfgarg, sizeof(cfgarg), "--config.file=%s", cfg);
    snprintf(tsdb, sizeof(tsdb), "--storage.tsdb.path=%s/prometheus-data", f->h.root);
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", port);
    snprintf(log, sizeof(log), "%s/prometheus.log", f->h.root);
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(PROMETHEUS_BIN, "prometheus", cfgarg, tsdb, listen, "--log.level=warn",
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Occurrences of needle in s. */
static int count(const char *s, const char *needle)
{
    int n = 0;

    while ((s = strstr(s, needle)) != NULL) {
        n++;
        s += strlen(needle);
    }
    return n;
}

/* Queries Prometheus until every instance of mports[0..n) shows in the
 * result of query with value want (n 0: one series, an aggregate, with
 * that value); 0, or -1 after timeout_ms (last answer printed). */
static int wait_query(struct fixture *f, int pport, const char *query, const int *mports, int n,
                      const char *want, int timeout_ms)
{
    char path[256], needle[64], val[32];
    double t0 = rc_h_now_ms();
    int i, ok;

    snprintf(path, sizeof(path), "/api/v1/query?query=%s", query);
    snprintf(val, sizeof(val), ",\"%s\"]", want);
    for (;;) {
        ok = http_get(pport, path, f->page, sizeof(f->page)) > 0 && status_of(f->page) == 200 &&
             count(f->page, val) == (n > 0 ? n : 1);
        for (i = 0; ok && i < n; i++) {
            snprintf(needle, sizeof(needle), "\"instance\":\"127.0.0.1:%d\"", mports[i]);
            ok = strstr(f->page, needle) != NULL;
        }
        if (ok) {
            printf("prometheus: %s ready after %.0f ms: %.300s\n", query, rc_h_now_ms() - t0,
                   body_of(f->page));
            return 0;
        }
        if (rc_h_now_ms() - t0 > timeout_ms) {
            printf("prometheus: %s not as expected after %d ms: %.2000s\n", query, timeout_ms,
                   body_of(f->page));
            return -1;
        }
        rc_h_sleep_ms(500);
    }
}

/* A real Prometheus scrapes three nodes; its API shows them all. */
static void test_prometheus_scrapes_cluster(void **state)
{
    struct fixture *f = *state;
    struct rc_hserver *nodes[3];
    char ids[3][RC_H_ID_CAP], port[16], cfg_text[1024], cfg[RC_H_PATH], key[16];
    int mports[3], pport, i;
    struct rc_client *c;
    char log_path[RC_H_PATH + 32];

    if (access(PROMETHEUS_BIN, X_OK) != 0) {
        printf("SKIPPED: %s not found (Debian package prometheus): the real-server scrape "
               "test did not run\n",
               PROMETHEUS_BIN);
        f->h.passed = 1;
        skip();
    }
    assert_int_equal(rc_h_cluster_new(&f->h, 3, NULL, nodes), 0);
    for (i = 0; i < 3; i++) {
        mports[i] = rc_h_free_port();
        assert_true(mports[i] > 0);
        snprintf(port, sizeof(port), "%d", mports[i]);
        assert_int_equal(rc_h_server_add_arg(nodes[i], "--metrics-port"), 0);
        assert_int_equal(rc_h_server_add_arg(nodes[i], port), 0);
    }
    assert_int_equal(rc_h_cluster_start(&f->h, nodes, 3), 0);
    assert_int_equal(rc_h_cluster_ids(nodes, 3, ids), 0);
    assert_true(rc_h_cluster_wait_converged(nodes, (const char(*)[RC_H_ID_CAP])ids, 3, 15000) >=
                0);
    c = rc_h_test_client(&f->h, nodes[0], IO_MS, MAX_CLIENTS);
    for (i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "p%d", i);
        rc_h_expect_rc(rc_client_put(c, key, strlen(key), "v", 1, 0), 0);
    }
    snprintf(cfg_text, sizeof(cfg_text),
             "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
             "scrape_configs:\n  - job_name: ringcache\n    static_configs:\n"
             "      - targets: ['127.0.0.1:%d', '127.0.0.1:%d', '127.0.0.1:%d']\n",
             mports[0], mports[1], mports[2]);
    assert_int_equal(rc_h_write_file(&f->h, "prometheus.yml", cfg_text, 0, cfg, sizeof(cfg)), 0);
    pport = rc_h_free_port();
    f->prom_pid = start_prometheus(f, cfg, pport);
    assert_true(f->prom_pid > 0);
    snprintf(log_path, sizeof(log_path), "%s/prometheus.log", f->h.root);
    if (wait_query(f, pport, "up", mports, 3, "1", 30000) < 0) {
        char cmd[RC_H_PATH + 64];
        snprintf(cmd, sizeof(cmd), "tail -c 3000 %s", log_path);
        if (system(cmd) != 0)
            printf("(no prometheus log)\n");
        fail();
    }
    /* every node sees three members alive */
    assert_int_equal(wait_query(f, pport, "ringcache_members_by_state%7Bstate%3D%22alive%22%7D",
                                mports, 3, "3", 15000),
                     0);
    assert_int_equal(wait_query(f, pport, "ringcache_build_info", mports, 3, "1", 15000), 0);
    /* the PUTs sent, summed over the cluster by PromQL */
    assert_int_equal(wait_query(f, pport, "sum%28ringcache_ops_total%7Bop%3D%22put%22%7D%29",
                                mports, 0, "20", 15000),
                     0);
    f->h.passed = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_page_counts_traffic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_progress_by_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prometheus_scrapes_cluster, setup, teardown),
    };

    rc_h_test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
