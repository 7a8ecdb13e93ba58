/*
 * test_hostile.c - hostile bytes on raw sockets against one real server.
 *
 * All tests share one server: the point is that it survives the whole
 * sequence. Each test sends one kind of bad input on its own connection,
 * checks the documented reaction (status code, connection closed or kept),
 * then checks that a long-lived good client and a fresh client still get
 * correct answers, the process is alive, and its memory stayed bounded.
 * Every case also measures the good client's p99 against a baseline taken
 * just before it (during the attack for the ones that last: 10,000 idle
 * connections, byte-per-second senders, 1M pipelined requests never read).
 * VmPeak is compared across the cases whose length fields lie, because a
 * 4 GiB malloc that is freed right away leaves no trace in RSS.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "harness.h"

#define TEST_TIMEOUT_S 60
/* Limits the group's server runs with: short enough that the slowloris
 * and never-reading cases end within seconds, long enough that the
 * half-frame and flood cases (which hold connections ~3 s on purpose)
 * are not cut by them. */
#define FRAME_TIMEOUT_MS 5000
#define WRITE_TIMEOUT_MS 5000
#define STR_(x) #x
#define STR(x) STR_(x)
#define IDLE_CONNS 10000
/* The good client's p99: GETs of one small key, this many per sample.
 * The baseline is taken right before each case (the median of three
 * samples), so that it sees the same load from other processes as the
 * attack that follows; the pass mark is 2x that baseline, with a floor
 * (loopback GETs take ~50 us, so on a 2-core machine shared with other
 * builds 20 scheduler hiccups - 1% of a sample - make the p99, not the
 * server), over up to P99_TRIES samples: a server slowed by the attack
 * fails every one, a neighbour's compile burst does not. */
#define P99_SAMPLES 2000
#define P99_TRIES 5
#if defined(__SANITIZE_ADDRESS__)
#define P99_FLOOR_MS 1.0 /* an ASan server is 2-3x slower, its tail longer */
#else
#define P99_FLOOR_MS 0.5
#endif
/* The server idles at a few MiB; 200 MiB means some buffer grew unbounded.
 * Under AddressSanitizer freed memory sits in a quarantine of up to 256 MiB
 * first, which RSS counts. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_LIMIT_KIB ((200L + 256) * 1024)
#else
#define RSS_LIMIT_KIB (200L * 1024)
#endif
/* A lying length prefix must not turn into an allocation: any growth of
 * the peak virtual size beyond this is a large malloc. */
#define VMPEAK_SLACK_KIB (64L * 1024)
/* Wire statuses (common/err.h table). */
#define ST_OK 0
#define ST_NOTFOUND 1
#define ST_PROTO 2
#define ST_VERSION 3
#define ST_UNKNOWN_OP 4
#define ST_FRAME_TOO_LARGE 7
#define ST_INVAL 8

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness (harness.h) */
    struct rc_hserver *s;
    struct rc_client *good; /* kept by h */
    int checks;
    long peak_rss;
    double base_p99; /* ms */
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* p99 of P99_SAMPLES GETs by the good client, in ms; -1 on an error. */
static double good_p99(struct fixture *f)
{
    static double lat[P99_SAMPLES];
    struct rc_result res;
    int i;

    for (i = 0; i < P99_SAMPLES; i++) {
        double t0 = rc_h_now_ms();
        if (rc_client_get(f->good, "p99-key", 7, &res) != 0)
            return -1;
        lat[i] = rc_h_now_ms() - t0;
    }
    qsort(lat, P99_SAMPLES, sizeof(lat[0]), cmp_double);
    return lat[P99_SAMPLES * 99 / 100];
}

/* Measures the good client's p99 now and checks it against 2x the
 * baseline. ongoing: an attack is running (the baseline is the one taken
 * before it); else the attack is over and each retry takes a fresh
 * baseline just before its sample, so both see the same outside load. */
static void check_p99(struct fixture *f, const char *label, int ongoing)
{
    double base = f->base_p99, limit = 0, p, best_ratio = -1, best = 0, best_base = 0;
    int tries = 0;

    do {
        if (tries > 0) {
            rc_h_sleep_ms(100);
            if (!ongoing)
                base = good_p99(f);
        }
        limit = 2 * (base > P99_FLOOR_MS ? base : P99_FLOOR_MS);
        p = good_p99(f);
        assert_true(p >= 0 && base >= 0);
        if (best_ratio < 0 || p / limit < best_ratio) {
            best_ratio = p / limit;
            best = p;
            best_base = base;
        }
        tries++;
    } while (best_ratio > 1 && tries < P99_TRIES);
    printf("%-28s good client p99 %.3f ms (baseline %.3f ms, pass <= %.3f ms; %d sample%s of "
           "%d GETs%s)\n",
           label, best, best_base, 2 * (best_base > P99_FLOOR_MS ? best_base : P99_FLOOR_MS),
           tries, tries > 1 ? "s" : "", P99_SAMPLES, ongoing ? ", attack running" : "");
    assert_true(best_ratio <= 1);
}

/* Lets the test process hold IDLE_CONNS sockets: the soft limit up to the
 * hard one. Returns the limit now in force. */
static long raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    return rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)rl.rlim_cur;
}

static int connect_good(struct fixture *f)
{
    f->good = rc_h_client_kept(&f->h, f->s, 5000);
    if (f->good == NULL || rc_client_put(f->good, "p99-key", 7, "p99-value", 9, 0) != 0)
        return -1;
    return 0;
}

/* Baseline: the median of three p99 samples, with no attack running. */
static void measure_baseline(struct fixture *f)
{
    double p[3];
    int i;

    for (i = 0; i < 3; i++)
        p[i] = good_p99(f);
    qsort(p, 3, sizeof(p[0]), cmp_double);
    f->base_p99 = p[1];
    printf("baseline: good client p99 %.3f ms over %d GETs (samples %.3f %.3f %.3f); server RSS "
           "%ld KiB\n",
           f->base_p99, P99_SAMPLES, p[0], p[1], p[2], rc_h_server_rss_kib(f->s));
}

static int group_setup(void **state)
{
    static const char *const extra[] = {"--frame-timeout", STR(FRAME_TIMEOUT_MS),
                                        "--write-timeout", STR(WRITE_TIMEOUT_MS),
                                        /* the idle crowd, the good and fresh clients */
                                        "--max-conns", "10100", NULL};
    struct fixture *f = rc_h_fixture_new(sizeof(*f), TEST_TIMEOUT_S);
    *state = f;
    if (f == NULL)
        return -1;
    rc_h_arm_timeout(TEST_TIMEOUT_S);
    printf("descriptor limit of the test process: %ld\n", raise_nofile());
    f->s = rc_h_server_launch(&f->h, NULL, extra);
    if (f->s == NULL || connect_good(f) != 0) {
        rc_h_fixture_teardown(state);
        return -1;
    }
    measure_baseline(f);
    alarm(0);
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;
    if (f == NULL)
        return 0; /* group setup failed (it said why) */
    printf("hostile: peak RSS seen %ld KiB over %d health checks; VmHWM %ld KiB\n", f->peak_rss,
           f->checks, rc_h_server_status_kib(f->s, "VmHWM"));
    rc_h_clients_drop(&f->h); /* the good client */
    /* After all that, a graceful stop still works (and a sanitizer build
     * reports leaks or errors through a non-zero status). */
    return rc_h_fixture_stop_clean(state, &f->s, 1, 10000);
}

/* Before each test: a timeout, and a live server (a previous test that
 * killed it has failed already; later tests get a fresh one). */
static int setup(void **state)
{
    struct fixture *f = *state;
    if (rc_h_test_setup(state) != 0)
        return -1;
    if (rc_h_server_alive(f->s) && f->good != NULL) {
        measure_baseline(f);
        return 0;
    }
    printf("server died (status %d); restarting for the next test\n", f->s->last_status);
    rc_h_print_log_tail(f->s, 4096);
    rc_h_client_drop(&f->h, f->good);
    f->good = NULL;
    if (rc_h_server_start(&f->h, f->s) != 0 || connect_good(f) != 0)
        return -1;
    measure_baseline(f);
    return 0;
}


/* The good client and a fresh one get correct answers; the server is
 * alive with bounded RSS. */
static void check_healthy_v(struct fixture *f, const char *label, int ongoing)
{
    char k[32], v[64];
    struct rc_result res;
    struct rc_client *fresh;
    double t0 = rc_h_now_ms();
    int kl, vl;
    long rss;

    assert_true(rc_h_server_alive(f->s));
    assert_non_null(f->good);
    kl = snprintf(k, sizeof(k), "good-%d", f->checks);
    vl = snprintf(v, sizeof(v), "value-%d-%s", f->checks, label);
    f->checks++;
    rc_h_expect_rc(rc_client_ping(f->good), 0);
    rc_h_expect_rc(rc_client_put(f->good, k, (size_t)kl, v, (size_t)vl, 0), 0);
    rc_h_expect_rc(rc_client_get(f->good, k, (size_t)kl, &res), 0);
    assert_int_equal(res.value_len, vl);
    assert_memory_equal(res.value, v, (size_t)vl);
    rc_h_expect_rc(rc_client_get(f->good, "good-never", 10, &res), RC_CLIENT_NOTFOUND);

    fresh = rc_h_client(f->s, 5000);
    assert_non_null(fresh);
    rc_h_expect_rc(rc_client_get(fresh, k, (size_t)kl, &res), 0);
    assert_int_equal(res.value_len, vl);
    rc_client_free(fresh);

    rss = rc_h_server_rss_kib(f->s);
    if (rss > f->peak_rss)
        f->peak_rss = rss;
    printf("%-28s good client OK in %5.1f ms, server RSS %ld KiB\n", label, rc_h_now_ms() - t0,
           rss);
    assert_true(rss > 0 && rss < RSS_LIMIT_KIB);
    check_p99(f, label, ongoing);
}

static void check_healthy(struct fixture *f, const char *label)
{
    check_healthy_v(f, label, 0);
}

/* The same while an attack keeps running (its connections open). */
static void check_healthy_during(struct fixture *f, const char *label)
{
    check_healthy_v(f, label, 1);
}

static int raw_connect(struct fixture *f)
{
    int fd = rc_h_tcp_connect(f->s->port, 2000);
    assert_true(fd >= 0);
    return fd;
}

/* Reads one reply and checks its status (and id, unless any_id). Returns ms waited. */
static double expect_reply(int fd, uint32_t status, uint32_t id, int any_id)
{
    uint8_t buf[4096];
    struct rc_hreply rep;
    double t0 = rc_h_now_ms();
    int rc = rc_h_read_reply(fd, buf, sizeof(buf), 3000, &rep);
    if (rc == RC_H_EOF || rc == RC_H_TIMEOUT)
        printf("%s without the expected reply (status %u)\n",
               rc == RC_H_EOF ? "connection closed" : "3 s passed", status);
    assert_int_equal(rc, 0);
    if (rep.status != status || (!any_id && rep.id != id))
        printf("reply status %u id %u, want status %u id %u\n", rep.status, rep.id, status, id);
    assert_int_equal(rep.status, status);
    if (!any_id)
        assert_int_equal(rep.id, id);
    return rc_h_now_ms() - t0;
}

/* Reads one reply whose status is status or alt_status (any id). */
static double expect_reply2(int fd, uint32_t status, uint32_t alt_status)
{
    uint8_t buf[4096];
    struct rc_hreply rep;
    double t0 = rc_h_now_ms();
    int rc = rc_h_read_reply(fd, buf, sizeof(buf), 3000, &rep);
    if (rc != 0)
        printf("no reply (%d), want status %u or %u\n", rc, status, alt_status);
    assert_int_equal(rc, 0);
    if (rep.status != status && rep.status != alt_status)
        printf("reply status %u, want %u or %u\n", rep.status, status, alt_status);
    assert_true(rep.status == status || rep.status == alt_status);
    return rc_h_now_ms() - t0;
}

/* A PING on fd is answered: the connection is still usable. */
static void expect_usable(int fd, uint32_t id)
{
    uint8_t req[64];
    size_t n = rc_h_encode_request(req, 0, sizeof(req), 1, id, NULL, 0, NULL, 0);
    assert_int_equal(rc_h_send_all(fd, req, n, 2000), 0);
    expect_reply(fd, ST_OK, id, 0);
}

static void expect_closed_v(int fd, int verbose)
{
    double t0 = rc_h_now_ms();
    int rc = rc_h_wait_closed(fd, 3000);
    if (rc != 0)
        printf("server kept the connection open\n");
    assert_int_equal(rc, 0);
    if (verbose)
        printf("  connection closed %.1f ms after the reply\n", rc_h_now_ms() - t0);
}

static void expect_closed(int fd)
{
    expect_closed_v(fd, 0);
}

/* Sends bytes on a fresh connection and expects status (id 0) then close. */
static void reply_then_close(struct fixture *f, const void *p, size_t n, uint32_t status,
                             const char *label)
{
    int fd = raw_connect(f);
    double ms;
    assert_int_equal(rc_h_send_all(fd, p, n, 2000), 0);
    ms = expect_reply(fd, status, 0, 0);
    printf("%s: status %u in %.1f ms\n", label, status, ms);
    expect_closed_v(fd, 1);
    close(fd);
    check_healthy(f, label);
}

/* Sends a framed body and expects status (id any) on a connection that stays usable. */
static void framed_reply_stays_open2(struct fixture *f, const uint8_t *body, uint32_t len,
                                     uint32_t status, uint32_t alt_status, const char *label);

static void framed_reply_stays_open(struct fixture *f, const uint8_t *body, uint32_t len,
                                    uint32_t status, const char *label)
{
    framed_reply_stays_open2(f, body, len, status, status, label);
}

/* As above, accepting either of two statuses. */
static void framed_reply_stays_open2(struct fixture *f, const uint8_t *body, uint32_t len,
                                     uint32_t status, uint32_t alt_status, const char *label)
{
    int fd = raw_connect(f);
    uint8_t hdr[RC_H_HDR];
    long peak0 = rc_h_server_status_kib(f->s, "VmPeak"), peak1;
    double ms;
    rc_h_frame_header(hdr, 1, 0, len);
    assert_int_equal(rc_h_send_all(fd, hdr, sizeof(hdr), 2000), 0);
    assert_int_equal(rc_h_send_all(fd, body, len, 2000), 0);
    ms = expect_reply2(fd, status, alt_status);
    expect_usable(fd, 4242);
    expect_usable(fd, 4243);
    close(fd);
    peak1 = rc_h_server_status_kib(f->s, "VmPeak");
    printf("%s: status %u in %.1f ms, connection usable, VmPeak %ld -> %ld KiB\n", label, status,
           ms, peak0, peak1);
    assert_true(peak1 - peak0 < VMPEAK_SLACK_KIB);
    check_healthy(f, label);
}

static void test_bad_magic(void **state)
{
    struct fixture *f = *state;
    static const char junk[] = "XXXXXXXXXXXXXXXXXXXXXXXX";
    reply_then_close(f, junk, sizeof(junk) - 1, ST_PROTO, "bad magic");
    f->h.passed = 1;
}

static void test_bad_flags(void **state)
{
    struct fixture *f = *state;
    uint8_t frame[64];
    size_t n = rc_h_encode_request(frame, 0, sizeof(frame), 1, 5, NULL, 0, NULL, 0);
    frame[3] = 0x80;
    reply_then_close(f, frame, n, ST_PROTO, "nonzero flags");
    f->h.passed = 1;
}

static void test_bad_version(void **state)
{
    struct fixture *f = *state;
    uint8_t frame[64];
    size_t n = rc_h_encode_request(frame, 0, sizeof(frame), 1, 5, NULL, 0, NULL, 0);
    frame[2] = 2;
    reply_then_close(f, frame, n, ST_VERSION, "version 2");
    f->h.passed = 1;
}

static void test_http(void **state)
{
    struct fixture *f = *state;
    static const char http[] = "GET / HTTP/1.1\r\n\r\n";
    reply_then_close(f, http, sizeof(http) - 1, ST_PROTO, "HTTP request");
    f->h.passed = 1;
}

/* Header declaring a body of 4 GiB - 1 (and one just over the limit):
 * rejected from the header alone, before any body byte, without allocating. */
static void test_huge_frame(void **state)
{
    struct fixture *f = *state;
    uint8_t hdr[RC_H_HDR];
    long peak0 = rc_h_server_status_kib(f->s, "VmPeak"), peak1;
    struct rc_result res;
    int64_t limit = -1;

    rc_h_frame_header(hdr, 1, 0, 0xffffffffu);
    reply_then_close(f, hdr, sizeof(hdr), ST_FRAME_TOO_LARGE, "4 GiB frame header");
    peak1 = rc_h_server_status_kib(f->s, "VmPeak");
    printf("  VmPeak %ld -> %ld KiB\n", peak0, peak1);
    assert_true(peak1 - peak0 < VMPEAK_SLACK_KIB);

    /* Default limit: max value + max key + 4096. */
    rc_h_expect_rc(rc_client_stats(f->good, &res), 0);
    if (rc_h_stat(&res, "max_frame_size", &limit, NULL) != 0)
        limit = 1048576 + 1024 + 4096;
    printf("  frame limit %lld\n", (long long)limit);
    rc_h_frame_header(hdr, 1, 0, (uint32_t)limit + 1);
    reply_then_close(f, hdr, sizeof(hdr), ST_FRAME_TOO_LARGE, "frame limit + 1");
    f->h.passed = 1;
}

static void test_array32_lie(void **state)
{
    struct fixture *f = *state;
    static const uint8_t body[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    framed_reply_stays_open(f, body, sizeof(body), ST_PROTO, "array32 of 4G items");
    f->h.passed = 1;
}

static void test_map32_lie(void **state)
{
    struct fixture *f = *state;
    /* [1, 7, map32 with 4G entries] */
    static const uint8_t body[] = {0x93, 0x01, 0x07, 0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0xc0};
    framed_reply_stays_open(f, body, sizeof(body), ST_PROTO, "map32 of 4G entries");
    f->h.passed = 1;
}

static void test_bin32_lie(void **state)
{
    struct fixture *f = *state;
    /* [3, 9, {1: bin32 of 4 GiB - 1 holding "abc"}] */
    static const uint8_t body[] = {0x93, 0x03, 0x09, 0x81, 0x01, 0xc6,
                                   0xff, 0xff, 0xff, 0xff, 'a',  'b', 'c'};
    framed_reply_stays_open(f, body, sizeof(body), ST_PROTO, "bin32 of 4 GiB");
    f->h.passed = 1;
}

static void test_str32_and_ext_lies(void **state)
{
    struct fixture *f = *state;
    /* [2, 10, {1: str32 of 4 GiB - 1}] and an ext32 of 4 GiB as the key */
    static const uint8_t str[] = {0x93, 0x02, 0x0a, 0x81, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'};
    static const uint8_t ext[] = {0x93, 0x02, 0x0b, 0x81, 0x01, 0xc9,
                                  0xff, 0xff, 0xff, 0xff, 0x01, 'x'};
    framed_reply_stays_open(f, str, sizeof(str), ST_PROTO, "str32 of 4 GiB");
    framed_reply_stays_open(f, ext, sizeof(ext), ST_PROTO, "ext32 of 4 GiB");
    f->h.passed = 1;
}

static void test_deep_nesting(void **state)
{
    struct fixture *f = *state;
    enum { DEPTH = 10000 };
    static uint8_t abody[DEPTH + 1], mbody[2 * DEPTH + 1];
    size_t i;

    memset(abody, 0x91, DEPTH); /* [[[...nil...]]]: fixarray of one, 10,000 deep */
    abody[DEPTH] = 0xc0;
    for (i = 0; i < DEPTH; i++) { /* {1: {1: ... nil}} */
        mbody[2 * i] = 0x81;
        mbody[2 * i + 1] = 0x01;
    }
    mbody[2 * DEPTH] = 0xc0;
    framed_reply_stays_open(f, abody, sizeof(abody), ST_PROTO, "arrays nested 10000 deep");
    framed_reply_stays_open(f, mbody, sizeof(mbody), ST_PROTO, "maps nested 10000 deep");
    f->h.passed = 1;
}

static void test_malformed_bodies(void **state)
{
    struct fixture *f = *state;
    static const uint8_t not_array[] = {0x01};
    static const uint8_t short_array[] = {0x92, 0x01, 0x05};
    static const uint8_t trailing[] = {0x93, 0x01, 0x05, 0x80, 0x00};
    static const uint8_t truncated[] = {0x93, 0x01, 0x05, 0x81, 0x01, 0xc4, 0x10, 'a'};
    static const uint8_t reserved[] = {0x93, 0x01, 0x05, 0xc1};
    framed_reply_stays_open(f, not_array, sizeof(not_array), ST_PROTO, "body not an array");
    framed_reply_stays_open(f, short_array, sizeof(short_array), ST_PROTO, "array of 2");
    framed_reply_stays_open(f, trailing, sizeof(trailing), ST_PROTO, "trailing byte");
    framed_reply_stays_open(f, truncated, sizeof(truncated), ST_PROTO, "bin past body end");
    framed_reply_stays_open(f, reserved, sizeof(reserved), ST_PROTO, "reserved byte 0xc1");
    framed_reply_stays_open(f, not_array, 0, ST_PROTO, "empty body");
    f->h.passed = 1;
}

/* Reads one reply: status, id, and a MESSAGE that starts with prefix. */
static void expect_reply_msg(int fd, uint32_t status, uint32_t id, const char *prefix,
                             const char *label)
{
    uint8_t buf[4096];
    struct rc_hreply rep;
    size_t plen = strlen(prefix);
    int rc = rc_h_read_reply(fd, buf, sizeof(buf), 3000, &rep);

    if (rc != 0)
        printf("%s: no reply (%d)\n", label, rc);
    assert_int_equal(rc, 0);
    printf("%s: status %u id %u message \"%.*s\"\n", label, rep.status, rep.id,
           rep.message ? (int)rep.message_len : 0, rep.message ? rep.message : "");
    assert_int_equal(rep.status, status);
    assert_int_equal(rep.id, id);
    assert_non_null(rep.message);
    assert_true(rep.message_len >= plen);
    assert_memory_equal(rep.message, prefix, plen);
}

/*
 * Regression (issue 13, defect 5): a body refused for anything after its
 * [op, id] prefix was answered with id 0, and body and frame errors both
 * said "malformed frame". All the bad bodies go pipelined in one write on
 * one connection: each is answered in order with its own id and a
 * "malformed body: " MESSAGE, and the connection stays usable; a framing
 * error is answered with id 0 and "malformed frame: ", then closed.
 */
static void test_malformed_body_ids(void **state)
{
    static const struct {
        const char *label;
        uint8_t body[16];
        uint32_t len;
        uint32_t id;
    } cases[] = {
        {"extra array element", {0x94, 0x01, 0xcd, 0x12, 0x34, 0x80, 0xc0}, 7, 0x1234},
        {"truncated body", {0x93, 0x03, 0xce, 0x00, 0x01, 0xe2, 0x40, 0x82, 0x01, 0xc4, 0x05, 'a'},
         12, 123456},
        {"bad byte in a field", {0x93, 0x03, 0x2a, 0x81, 0x01, 0xc1}, 6, 42},
        {"map count over its entries", {0x93, 0x03, 0x2b, 0x83, 0x01, 0xa1, 'k'}, 7, 43},
        {"too deep", {0x93, 0x01, 0x2c, 0x81, 0x14, 0x91, 0x91, 0x90}, 8, 44},
        {"no id", {0x91, 0x01}, 2, 0},
    };
    static const uint8_t many_head[] = {0x93, 0x01, 0x2d, 0x81, 0x14, 0xdc, 0x01, 0xfb};
    struct fixture *f = *state;
    static uint8_t wire[4096];
    uint8_t frame[64];
    size_t n = 0, i, k;
    int fd;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rc_h_frame_header(wire + n, 1, 0, cases[i].len);
        memcpy(wire + n + RC_H_HDR, cases[i].body, cases[i].len);
        n += RC_H_HDR + cases[i].len;
    }
    /* too many objects: 507 nils make 513 with the envelope (limit 512) */
    k = sizeof(many_head) + 507;
    rc_h_frame_header(wire + n, 1, 0, (uint32_t)k);
    memcpy(wire + n + RC_H_HDR, many_head, sizeof(many_head));
    memset(wire + n + RC_H_HDR + sizeof(many_head), 0xc0, 507);
    n += RC_H_HDR + k;
    fd = raw_connect(f);
    assert_int_equal(rc_h_send_all(fd, wire, n, 2000), 0);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_reply_msg(fd, ST_PROTO, cases[i].id, "malformed body: ", cases[i].label);
    expect_reply_msg(fd, ST_PROTO, 45, "malformed body: ", "too many objects");
    expect_usable(fd, 4244);
    close(fd);

    /* A framing error: id 0, "malformed frame: ", closed. */
    n = rc_h_encode_request(frame, 0, sizeof(frame), 1, 46, NULL, 0, NULL, 0);
    frame[3] = 0x01;
    fd = raw_connect(f);
    assert_int_equal(rc_h_send_all(fd, frame, n, 2000), 0);
    expect_reply_msg(fd, ST_PROTO, 0, "malformed frame: ", "nonzero flags");
    expect_closed(fd);
    close(fd);
    check_healthy(f, "malformed body ids");
    f->h.passed = 1;
}

/* Well-formed msgpack with the wrong shapes for its fields. */
static void test_wrong_field_types(void **state)
{
    struct fixture *f = *state;
    static const uint8_t int_key[] = {0x93, 0x03, 0x14, 0x82, 0x01, 0x05, 0x02, 0xc4, 0x01, 'v'};
    static const uint8_t no_key[] = {0x93, 0x03, 0x15, 0x81, 0x02, 0xc4, 0x01, 'v'};
    static const uint8_t str_op[] = {0x93, 0xa1, 'x', 0x16, 0x80};
    static const uint8_t big_id[] = {0x93, 0x01, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0x80};
    static const uint8_t neg_ttl[] = {0x93, 0x03, 0x17, 0x83, 0x01, 0xc4, 0x01, 'k',
                                      0x02, 0xc4, 0x01, 'v',  0x03, 0xff};
    static const uint8_t map_key[] = {0x93, 0x02, 0x18, 0x81, 0xc4, 0x01, 'k', 0xc4, 0x01, 'k'};
    framed_reply_stays_open2(f, int_key, sizeof(int_key), ST_PROTO, ST_INVAL, "key is an int");
    framed_reply_stays_open2(f, no_key, sizeof(no_key), ST_PROTO, ST_INVAL, "PUT without key");
    framed_reply_stays_open2(f, str_op, sizeof(str_op), ST_PROTO, ST_INVAL, "op is a string");
    framed_reply_stays_open2(f, big_id, sizeof(big_id), ST_PROTO, ST_INVAL, "id over 32 bits");
    framed_reply_stays_open2(f, neg_ttl, sizeof(neg_ttl), ST_PROTO, ST_INVAL, "negative ttl");
    framed_reply_stays_open2(f, map_key, sizeof(map_key), ST_PROTO, ST_INVAL, "bin field number");
    {
        /* None of those PUTs stored anything. */
        struct rc_result res;
        rc_h_expect_rc(rc_client_get(f->good, "k", 1, &res), RC_CLIENT_NOTFOUND);
    }
    f->h.passed = 1;
}

/* Junk far larger than one read: the PROTO reply still arrives. */
static void test_long_garbage(void **state)
{
    struct fixture *f = *state;
    static uint8_t junk[256 * 1024];
    int fd = raw_connect(f);
    double ms;
    memset(junk, 'X', sizeof(junk));
    (void)rc_h_send_all(fd, junk, sizeof(junk), 2000); /* may be cut short by the close */
    ms = expect_reply(fd, ST_PROTO, 0, 0);
    printf("256 KiB of junk: PROTO in %.1f ms\n", ms);
    expect_closed_v(fd, 1);
    close(fd);
    check_healthy(f, "256 KiB junk");
    f->h.passed = 1;
}

static void test_unknown_op(void **state)
{
    struct fixture *f = *state;
    uint8_t frame[64];
    size_t n = rc_h_encode_request(frame, 0, sizeof(frame), 42, 31337, NULL, 0, NULL, 0);
    int fd = raw_connect(f);
    double ms;
    assert_int_equal(rc_h_send_all(fd, frame, n, 2000), 0);
    ms = expect_reply(fd, ST_UNKNOWN_OP, 31337, 0);
    printf("op 42: UNKNOWN_OP in %.1f ms\n", ms);
    expect_usable(fd, 31338);
    /* An internode-range op from a client is no better. */
    n = rc_h_encode_request(frame, 0, sizeof(frame), 200, 31339, "k", 1, NULL, 0);
    assert_int_equal(rc_h_send_all(fd, frame, n, 2000), 0);
    expect_reply(fd, ST_UNKNOWN_OP, 31339, 0);
    expect_usable(fd, 31340);
    close(fd);
    check_healthy(f, "unknown op");
    f->h.passed = 1;
}

static void test_truncated_then_close(void **state)
{
    struct fixture *f = *state;
    uint8_t frame[256];
    size_t n = rc_h_encode_request(frame, 0, sizeof(frame), 3, 1, "trunc", 5, "0123456789", 10);
    size_t cut;
    for (cut = 1; cut < n; cut += 3) {
        int fd = raw_connect(f);
        assert_int_equal(rc_h_send_all(fd, frame, cut, 2000), 0);
        if (cut % 2 == 1)
            shutdown(fd, SHUT_WR); /* half-close first, then close */
        close(fd);
    }
    check_healthy(f, "truncated frames");
    {
        /* The cut-off PUT was never applied. */
        struct rc_result res;
        rc_h_expect_rc(rc_client_get(f->good, "trunc", 5, &res), RC_CLIENT_NOTFOUND);
    }
    f->h.passed = 1;
}

/* 200 connections each holding half a frame while the good client works. */
static void test_half_frames(void **state)
{
    struct fixture *f = *state;
    enum { N = 200 };
    static uint8_t val[1000];
    uint8_t frame[1200];
    int fds[N], i;
    size_t n;
    double t0, worst = 0;

    memset(val, 'h', sizeof(val));
    n = rc_h_encode_request(frame, 0, sizeof(frame), 3, 1, "half", 4, val, sizeof(val));
    for (i = 0; i < N; i++) {
        fds[i] = raw_connect(f);
        assert_int_equal(rc_h_send_all(fds[i], frame, i % 2 ? n / 2 : 5, 2000), 0);
    }
    for (i = 0; i < 100; i++) {
        char k[16];
        int kl = snprintf(k, sizeof(k), "hf-%d", i);
        double ms;
        t0 = rc_h_now_ms();
        rc_h_expect_rc(rc_client_put(f->good, k, (size_t)kl, k, (size_t)kl, 0), 0);
        ms = rc_h_now_ms() - t0;
        worst = ms > worst ? ms : worst;
    }
    printf("200 half frames open: worst good-client PUT %.1f ms, connections stat %lld\n", worst,
           (long long)rc_h_stat_num(f->good, "connections"));
    assert_true(rc_h_stat_num(f->good, "connections") >= N + 1);
    check_healthy_during(f, "200 half-frame conns");
    for (i = 0; i < N; i++)
        close(fds[i]);
    {
        /* Closing them all frees their slots (and the half PUTs never land). */
        struct rc_result res;
        double deadline = rc_h_now_ms() + 3000;
        int64_t conns;
        while ((conns = rc_h_stat_num(f->good, "connections")) > 1 && rc_h_now_ms() < deadline)
            rc_h_sleep_ms(20);
        printf("  connections after closing them: %lld\n", (long long)conns);
        assert_int_equal(conns, 1);
        rc_h_expect_rc(rc_client_get(f->good, "half", 4, &res), RC_CLIENT_NOTFOUND);
    }
    f->h.passed = 1;
}

/* A client that pipelines 100,000 PINGs and never reads a reply, then
 * keeps sending them for 3 s: the server has to stop reading it (bounded
 * reply buffer) and keep serving the good client. */
static void test_flood_no_read(void **state)
{
    struct fixture *f = *state;
    enum { N = 100000 };
    size_t cap = (size_t)N * 16, len = 0, off = 0;
    uint64_t sent = 0;
    uint8_t *buf = malloc(cap);
    double t0, worst = 0, all_sent_ms = -1;
    long rss;
    int fd, i, pings = 0;

    assert_non_null(buf);
    for (i = 0; i < N; i++) {
        len = rc_h_encode_request(buf, len, cap, 1, (uint32_t)i + 1, NULL, 0, NULL, 0);
        assert_true(len > 0);
    }
    fd = raw_connect(f);
    t0 = rc_h_now_ms();
    while (rc_h_now_ms() - t0 < 3000) {
        double p0;
        ssize_t k;
        int burst;
        for (burst = 0; burst < 64; burst++) {
            k = send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            assert_true(k > 0);
            sent += (uint64_t)k;
            off += (size_t)k;
            if (off == len) {
                off = 0; /* the same 100,000 PINGs again */
                if (all_sent_ms < 0)
                    all_sent_ms = rc_h_now_ms() - t0;
            }
        }
        p0 = rc_h_now_ms();
        rc_h_expect_rc(rc_client_ping(f->good), 0);
        pings++;
        worst = rc_h_now_ms() - p0 > worst ? rc_h_now_ms() - p0 : worst;
        rc_h_sleep_ms(2);
    }
    rss = rc_h_server_rss_kib(f->s);
    printf("flood: %llu request bytes (%.1f x 100,000 PINGs) accepted in 3 s, first 100,000 in "
           "%.0f ms; good client %d pings, worst %.1f ms; RSS %ld KiB\n",
           (unsigned long long)sent, (double)sent / (double)len, all_sent_ms, pings, worst, rss);
    assert_true(worst < 1000);
    check_healthy_during(f, "flood, unread");
    close(fd);
    free(buf);
    check_healthy(f, "flood closed");
    f->h.passed = 1;
}

/* HTTP on the peer port (internode TCP) gets the same treatment as on the
 * client port: one PROTO reply, then closed. The RESP port's HTTP and
 * 10,000-deep nesting cases are in test_resp.c (test_malformed). */
static void test_http_peer_port(void **state)
{
    struct fixture *f = *state;
    static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = rc_h_tcp_connect(f->s->peer_port, 2000);
    double ms;

    assert_true(fd >= 0);
    assert_int_equal(rc_h_send_all(fd, http, sizeof(http) - 1, 2000), 0);
    ms = expect_reply(fd, ST_PROTO, 0, 0);
    printf("HTTP on the peer port: status %u in %.1f ms\n", ST_PROTO, ms);
    expect_closed_v(fd, 1);
    close(fd);
    check_healthy(f, "HTTP on peer port");
    f->h.passed = 1;
}

/* 10,000 connections that connect and send nothing, held while the good
 * client is measured: accepted (max-conns is 10100 here), cheap, and no
 * slower service for others. */
static void test_idle_crowd(void **state)
{
    struct fixture *f = *state;
    static int fds[IDLE_CONNS];
    long limit = raise_nofile(), rss0 = rc_h_server_rss_kib(f->s), rss1;
    int i, n = IDLE_CONNS;
    double t0 = rc_h_now_ms();
    int64_t conns;

    if (limit < IDLE_CONNS + 64) {
        n = (int)limit - 64;
        printf("descriptor hard limit %ld: testing %d idle connections, not %d\n", limit, n,
               IDLE_CONNS);
    }
    for (i = 0; i < n; i++) {
        fds[i] = rc_h_tcp_connect(f->s->port, 5000);
        if (fds[i] < 0)
            printf("connect %d failed\n", i);
        assert_true(fds[i] >= 0);
    }
    /* The server accepts asynchronously: wait until it counts them all. */
    while ((conns = rc_h_stat_num(f->good, "connections")) < n + 1 && rc_h_now_ms() - t0 < 20000)
        rc_h_sleep_ms(50);
    rss1 = rc_h_server_rss_kib(f->s);
    printf("%d idle connections open in %.0f ms; server connections %lld; RSS %ld -> %ld KiB "
           "(%.1f KiB per connection)\n",
           n, rc_h_now_ms() - t0, (long long)conns, rss0, rss1, (double)(rss1 - rss0) / n);
    assert_true(conns >= n + 1);
    check_healthy_during(f, "10,000 idle connections");
    for (i = 0; i < n; i++)
        close(fds[i]);
    t0 = rc_h_now_ms();
    while (rc_h_stat_num(f->good, "connections") > 1 && rc_h_now_ms() - t0 < 10000)
        rc_h_sleep_ms(50);
    assert_int_equal(rc_h_stat_num(f->good, "connections"), 1);
    check_healthy(f, "idle crowd gone");
    f->h.passed = 1;
}

/* Slowloris: 50 connections each sending a PUT one byte per second. The
 * frame timeout cuts every one of them; the good client does not notice. */
static void test_byte_per_second(void **state)
{
    struct fixture *f = *state;
    enum { N = 50 };
    uint8_t frame[256];
    int fds[N], i, open = N, sent = 0, measured = 0;
    int64_t slow0 = rc_h_stat_num(f->good, "closed_slow_frame"), slow1;
    double t0 = rc_h_now_ms(), closed_ms = -1;
    size_t n = rc_h_encode_request(frame, 0, sizeof(frame), 3, 1, "slowloris", 9, "0123456789",
                                   10);

    for (i = 0; i < N; i++)
        fds[i] = raw_connect(f);
    while (open > 0 && rc_h_now_ms() - t0 < FRAME_TIMEOUT_MS + 5000) {
        for (i = 0; i < N; i++) {
            if (fds[i] < 0)
                continue;
            if ((size_t)sent >= n - 1 || rc_h_send_all(fds[i], frame + sent, 1, 1000) != 0 ||
                rc_h_wait_closed(fds[i], 0) == 0) {
                close(fds[i]);
                fds[i] = -1;
                open--;
            }
        }
        sent++;
        if (!measured && rc_h_now_ms() - t0 > FRAME_TIMEOUT_MS / 2) {
            /* Mid-attack: every slow connection holds a partial frame. */
            check_p99(f, "during byte-per-second", 1);
            measured = 1;
        }
        rc_h_sleep_ms(1000);
    }
    closed_ms = rc_h_now_ms() - t0;
    slow1 = rc_h_stat_num(f->good, "closed_slow_frame");
    printf("byte-per-second: %d senders, %d bytes each sent, all closed after %.0f ms "
           "(--frame-timeout %d); closed_slow_frame %lld -> %lld\n",
           N, sent, closed_ms, FRAME_TIMEOUT_MS, (long long)slow0, (long long)slow1);
    assert_int_equal(open, 0);
    assert_true(sent < (int)n - 1); /* cut before the frame could complete */
    assert_true(slow1 - slow0 == N);
    check_healthy(f, "byte-per-second");
    f->h.passed = 1;
}

/* 1,000,000 PINGs pipelined on one connection that never reads: the
 * server stops reading at --out-buffer (memory bounded), then closes the
 * connection once its replies made no progress for --write-timeout. */
static void test_million_pipelined(void **state)
{
    struct fixture *f = *state;
    enum { N = 1000000 };
    size_t cap = (size_t)N * 16, len = 0, off = 0;
    uint8_t *buf = malloc(cap);
    int64_t stall0 = rc_h_stat_num(f->good, "closed_write_stall"), stall1;
    double t0, blocked_ms = -1, closed_ms = -1, last_progress;
    long rss, rss_max = 0;
    int fd, i, measured = 0;

    assert_non_null(buf);
    for (i = 0; i < N; i++) {
        len = rc_h_encode_request(buf, len, cap, 1, (uint32_t)i + 1, NULL, 0, NULL, 0);
        assert_true(len > 0);
    }
    fd = raw_connect(f);
    t0 = last_progress = rc_h_now_ms();
    while (rc_h_now_ms() - t0 < WRITE_TIMEOUT_MS + 10000) {
        ssize_t k = off < len ? send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT) : 0;
        if (k > 0) {
            off += (size_t)k;
            last_progress = rc_h_now_ms();
            continue;
        }
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            closed_ms = rc_h_now_ms() - t0; /* reset by the server */
            break;
        }
        if (rc_h_wait_closed(fd, 0) == 0) {
            closed_ms = rc_h_now_ms() - t0;
            break;
        }
        if (blocked_ms < 0 && rc_h_now_ms() - last_progress > 500)
            blocked_ms = last_progress - t0;
        rss = rc_h_server_rss_kib(f->s);
        rss_max = rss > rss_max ? rss : rss_max;
        if (blocked_ms >= 0 && !measured) {
            check_p99(f, "1M pipelined, blocked", 1);
            measured = 1;
        }
        rc_h_sleep_ms(50);
    }
    stall1 = rc_h_stat_num(f->good, "closed_write_stall");
    printf("1M pipelined PINGs never read: %zu of %zu request bytes (%.0f%%) accepted, sender "
           "blocked after %.0f ms, closed after %.0f ms (--write-timeout %d); server RSS max "
           "%ld KiB; closed_write_stall %lld -> %lld\n",
           off, len, 100.0 * (double)off / (double)len, blocked_ms, closed_ms, WRITE_TIMEOUT_MS,
           rss_max, (long long)stall0, (long long)stall1);
    close(fd);
    free(buf);
    assert_true(closed_ms > 0);
    assert_true(off < len); /* backpressure: the server stopped taking them */
    assert_true(stall1 == stall0 + 1);
    assert_true(rc_h_stat_num(f->good, "read_pauses") >= 1); /* backpressure, counted */
    assert_true(rss_max < RSS_LIMIT_KIB);
    check_healthy(f, "1M pipelined, closed");
    f->h.passed = 1;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Random bytes from a fixed seed on 100 connections. Odd ones are raw
 * garbage: PROTO, then closed. Even ones carry a valid header and a
 * random body of the declared length: one error reply, connection kept. */
static void test_random_garbage(void **state)
{
    struct fixture *f = *state;
    enum { N = 100, MAXLEN = 4096 };
    uint64_t seed = 0x5eed2026cafef00dull;
    static uint8_t buf[RC_H_HDR + MAXLEN];
    int fds[N], i, closed = 0, kept = 0, replies = 0;
    long peak0 = rc_h_server_status_kib(f->s, "VmPeak"), peak1;
    int64_t perr0 = rc_h_stat_num(f->good, "protocol_errors"), perr1;

    for (i = 0; i < N; i++) {
        size_t n = 1 + xorshift(&seed) % MAXLEN, j, off = 0;
        fds[i] = raw_connect(f);
        if (i % 2 == 0) {
            rc_h_frame_header(buf, 1, 0, (uint32_t)n);
            off = RC_H_HDR;
        }
        for (j = 0; j < n; j++)
            buf[off + j] = (uint8_t)xorshift(&seed);
        if (i % 2 == 1 && buf[0] == 'R')
            buf[0] = 'r'; /* keep the odd ones bad from the first byte */
        /* The server may close early; a failed send is a fine outcome. */
        (void)rc_h_send_all(fds[i], buf, off + n, 2000);
    }
    for (i = 0; i < N; i++) {
        uint8_t rbuf[4096];
        struct rc_hreply rep;
        int rc = rc_h_read_reply(fds[i], rbuf, sizeof(rbuf), 3000, &rep);
        if (rc != 0 || rep.status == ST_OK)
            printf("conn %d: read %d, status %u\n", i, rc, rc == 0 ? rep.status : 0);
        assert_int_equal(rc, 0);
        assert_int_not_equal(rep.status, ST_OK);
        replies++;
        if (i % 2) {
            expect_closed(fds[i]);
            closed++;
        } else {
            expect_usable(fds[i], 7000 + (uint32_t)i);
            kept++;
        }
        close(fds[i]);
    }
    peak1 = rc_h_server_status_kib(f->s, "VmPeak");
    perr1 = rc_h_stat_num(f->good, "protocol_errors");
    printf("random garbage on %d conns: %d replies, %d closed, %d kept open; VmPeak %ld -> %ld KiB; "
           "protocol_errors %lld -> %lld\n",
           N, replies, closed, kept, peak0, peak1, (long long)perr0, (long long)perr1);
    assert_true(peak1 - peak0 < VMPEAK_SLACK_KIB);
    assert_true(perr1 >= perr0 + N);
    check_healthy(f, "random garbage");
    f->h.passed = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_magic, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_bad_flags, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_bad_version, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_http, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_huge_frame, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_array32_lie, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_map32_lie, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_bin32_lie, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_str32_and_ext_lies, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_deep_nesting, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_bodies, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_body_ids, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_field_types, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_long_garbage, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_op, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_truncated_then_close, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_half_frames, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_flood_no_read, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_random_garbage, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_http_peer_port, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_idle_crowd, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_byte_per_second, setup, rc_h_test_teardown),
        cmocka_unit_test_setup_teardown(test_million_pipelined, setup, rc_h_test_teardown),
    };
    return cmocka_run_group_tests_name("integration_hostile", tests, group_setup, group_teardown);
}
