/*
 * test_security.c - the cluster key (--cluster-key-file), with real
 * server processes.
 *
 * A keyed cluster forms and serves; a node with the wrong key and a node
 * without a key can neither join (the keyed nodes never list them) nor
 * read or write; a raw REPL_WRITE to the peer port is dropped unanswered;
 * forged gossip (a crafted "node 2 is dead", unsealed or sealed with a
 * wrong key) changes nothing, while the same datagram sealed with the
 * right key does (the control that shows the forgery would work); a
 * captured datagram replayed is refused and counted; UDP answers are no
 * larger than what caused them; the keys rotate A -> [A,B] -> [B,A] -> B
 * by SIGHUP with no member ever suspected and reads and writes working;
 * a world-readable key file is refused at startup. The test holds the
 * key and seals with common/seal.c, as a node would.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "codec.h"
#include "err.h"
#include "harness.h"
#include "seal.h"
#include "swim.h"

#define TEST_TIMEOUT_S 120
#define CONVERGE_MS 10000
#define MEMBERS_IO_MS 1000
/* How long outsiders get to try to join: two push-pull rounds at the
 * test's interval and many gossip periods. */
#define OUTSIDER_MS 6000

static const char key_a[] = "5f0e1d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100";
static const char key_b[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const char key_x[] = "deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef";

struct fixture {
    struct rc_harness h; /* first: the fixture is the harness (harness.h) */
    struct rc_hserver *nodes[RC_H_MAX_SERVERS];
    char ids[RC_H_MAX_SERVERS][RC_H_ID_CAP];
    char key_path[RC_H_MAX_SERVERS][RC_H_PATH];
    int n;
};

static int setup(void **state)
{
    if (rc_h_fixture_setup(state, sizeof(struct fixture), TEST_TIMEOUT_S) != 0)
        return -1;
    if (rc_seal_init() != 0) {
        rc_h_fixture_teardown(state);
        return -1;
    }
    return 0;
}

/* ---- helpers ---- */

/* Writes a key file (lines joined by '\n') with mode 600 under the root. */
static void write_keys(const char *path, const char *first, const char *second, mode_t mode)
{
    char tmp[RC_H_PATH + 8];
    FILE *fp;

    /* Written aside and renamed, as an operator's tool should: a reload
     * never sees half a file. */
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fp = fopen(tmp, "w");
    assert_non_null(fp);
    fprintf(fp, "# ringcache cluster key\n%s\n", first);
    if (second != NULL)
        fprintf(fp, "%s\n", second);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(tmp, mode), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static void keys_of(struct rc_seal_keys *k, const char *hex)
{
    char err[128];

    assert_int_equal(rc_seal_keys_parse(hex, strlen(hex), k, err, sizeof(err)), 0);
}

static uint64_t id_num(const char *hex)
{
    return strtoull(hex, NULL, 16);
}

/* n keyed nodes, node i with its own key file holding key (first). */
static void start_keyed(struct fixture *f, int n, const char *key, int env_for_last)
{
    int i;

    assert_int_equal(rc_h_cluster_new(&f->h, n, NULL, f->nodes), 0);
    f->n = n;
    for (i = 0; i < n; i++) {
        char env[RC_H_PATH + 40];

        snprintf(f->key_path[i], sizeof(f->key_path[i]), "%s/node%d.key", f->h.root, i + 1);
        write_keys(f->key_path[i], key, NULL, 0600);
        /* Quicker full-state exchanges: an outsider gets several tries. */
        assert_int_equal(rc_h_server_add_arg(f->nodes[i], "--push-pull-interval"), 0);
        assert_int_equal(rc_h_server_add_arg(f->nodes[i], "1000"), 0);
        if (env_for_last && i == n - 1) {
            snprintf(env, sizeof(env), "RINGCACHE_CLUSTER_KEY_FILE=%s", f->key_path[i]);
            assert_int_equal(rc_h_server_setenv(f->nodes[i], env), 0);
        } else {
            assert_int_equal(rc_h_server_add_arg(f->nodes[i], "--cluster-key-file"), 0);
            assert_int_equal(rc_h_server_add_arg(f->nodes[i], f->key_path[i]), 0);
        }
    }
    assert_int_equal(rc_h_cluster_start(&f->h, f->nodes, n), 0);
    assert_int_equal(rc_h_cluster_ids(f->nodes, n, f->ids), 0);
}

/* Until each of the first n nodes lists exactly them, all alive. */
static void wait_converged(const struct fixture *f, int n)
{
    double ms = rc_h_cluster_wait_converged(f->nodes, f->ids, n, CONVERGE_MS);

    assert_true(ms >= 0);
    printf("  keyed cluster of %d converged in %.0f ms\n", n, ms);
}

static void put_ok(const struct rc_hserver *s, const char *key, const char *val)
{
    struct rc_client *c = rc_h_client(s, 3000);
    int rv;

    assert_non_null(c);
    rv = rc_client_put(c, key, strlen(key), val, strlen(val), 0);
    if (rv != 0)
        fail_msg("put %s via %s: %s", key, s->addr, rc_client_strerror(rv));
    rc_client_free(c);
}

/* GET: 0 and the value compared, or the error. */
static int get_is(const struct rc_hserver *s, const char *key, const char *want)
{
    struct rc_client *c = rc_h_client(s, 3000);
    struct rc_result res;
    int rv;

    assert_non_null(c);
    rv = rc_client_get(c, key, strlen(key), &res);
    if (rv == 0 && want != NULL &&
        (res.value_len != strlen(want) || memcmp(res.value, want, res.value_len) != 0))
        rv = -1;
    rc_client_free(c);
    return rv;
}

/* One keyed request at consistency ONE: the outcome (0, a miss, an error). */
static int one_op(const struct rc_hserver *s, int op, const char *key, const char *val)
{
    struct rc_client *c = rc_h_client(s, 3000);
    struct rc_result res;
    int rv;

    assert_non_null(c);
    rv = rc_client_send(c, op, key, strlen(key), val, val != NULL ? strlen(val) : 0, 0,
                        RC_CLIENT_CL_ONE);
    if (rv == 0)
        rv = rc_client_recv(c, &res);
    if (rv == 0)
        rv = res.err;
    rc_client_free(c);
    return rv;
}

/* A bound UDP socket on 127.0.0.1 (the test's gossip endpoint). */
static int udp_socket(int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void udp_send_to(int fd, int port, const uint8_t *p, size_t n)
{
    struct sockaddr_in a;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    assert_int_equal(sendto(fd, p, n, 0, (struct sockaddr *)&a, sizeof(a)), (ssize_t)n);
}

/* Next datagram within ms: its length, or 0 when none came. */
static size_t udp_recv(int fd, uint8_t *buf, size_t cap, int ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    ssize_t n;

    if (poll(&pfd, 1, ms) <= 0)
        return 0;
    n = recv(fd, buf, cap, 0);
    return n > 0 ? (size_t)n : 0;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- tests ---- */

/* Three keyed nodes (one keyed through the environment) form a cluster
 * and serve reads and writes through every node. */
static void test_keyed_cluster_serves(void **state)
{
    struct fixture *f = *state;
    char key[32], val[32];
    int i;

    start_keyed(f, 3, key_a, 1);
    wait_converged(f, 3);
    for (i = 0; i < 30; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(val, sizeof(val), "v%d", i);
        put_ok(f->nodes[i % 3], key, val);
    }
    for (i = 0; i < 30; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(val, sizeof(val), "v%d", i);
        assert_int_equal(get_is(f->nodes[(i + 1) % 3], key, val), 0);
    }
    for (i = 0; i < 3; i++) {
        assert_int_equal(rc_h_stat_of(f->nodes[i], "cluster_key"), 1);
        assert_int_equal(rc_h_stat_of(f->nodes[i], "gossip_auth_failures"), 0);
        assert_int_equal(rc_h_stat_of(f->nodes[i], "peer_auth_failures"), 0);
        assert_true(rc_h_stat_of(f->nodes[i], "replica_writes") > 0);
    }
    f->h.passed = 1;
}

/* A wrong-key node and a keyless node, both seeded with node 1: never
 * members, cannot read what the cluster holds, cannot write into it. */
static void test_outsiders_cannot_join(void **state)
{
    struct fixture *f = *state;
    const char *no_extra[] = {NULL};
    struct rc_hserver *wrong, *none;
    char seeds[64], path[RC_H_PATH], wrong_id[24], none_id[24];
    struct rc_hmember m[16];
    double t0;
    int i, k;

    start_keyed(f, 3, key_a, 0);
    wait_converged(f, 3);
    put_ok(f->nodes[0], "inside", "secret");
    snprintf(seeds, sizeof(seeds), "127.0.0.1:%d", f->nodes[0]->peer_port);
    snprintf(path, sizeof(path), "%s/wrong.key", f->h.root);
    write_keys(path, key_x, NULL, 0600);
    wrong = rc_h_server_new(&f->h, NULL, no_extra);
    none = rc_h_server_new(&f->h, NULL, no_extra);
    assert_non_null(wrong);
    assert_non_null(none);
    assert_int_equal(rc_h_server_add_arg(wrong, "--cluster-key-file"), 0);
    assert_int_equal(rc_h_server_add_arg(wrong, path), 0);
    assert_int_equal(rc_h_server_add_arg(wrong, "--seeds"), 0);
    assert_int_equal(rc_h_server_add_arg(wrong, seeds), 0);
    assert_int_equal(rc_h_server_add_arg(wrong, "--push-pull-interval"), 0);
    assert_int_equal(rc_h_server_add_arg(wrong, "1000"), 0);
    assert_int_equal(rc_h_server_add_arg(none, "--seeds"), 0);
    assert_int_equal(rc_h_server_add_arg(none, seeds), 0);
    assert_int_equal(rc_h_server_add_arg(none, "--push-pull-interval"), 0);
    assert_int_equal(rc_h_server_add_arg(none, "1000"), 0);
    assert_int_equal(rc_h_server_start(&f->h, wrong), 0);
    assert_int_equal(rc_h_server_start(&f->h, none), 0);
    assert_int_equal(rc_h_node_id(wrong, wrong_id, sizeof(wrong_id)), 0);
    assert_int_equal(rc_h_node_id(none, none_id, sizeof(none_id)), 0);

    /* Throughout: the keyed nodes list exactly themselves, all alive;
     * the outsiders see only themselves. */
    t0 = rc_h_now_ms();
    while (rc_h_now_ms() - t0 < OUTSIDER_MS) {
        for (i = 0; i < 3; i++) {
            k = rc_h_members(f->nodes[i], m, 16, MEMBERS_IO_MS);
            assert_int_equal(k, 3);
            assert_null(rc_h_member_find(m, k, wrong_id));
            assert_null(rc_h_member_find(m, k, none_id));
            assert_true(rc_h_sees_all_alive(f->nodes[i], f->ids, 3));
        }
        assert_int_equal(rc_h_members(wrong, m, 16, MEMBERS_IO_MS), 1);
        assert_int_equal(rc_h_members(none, m, 16, MEMBERS_IO_MS), 1);
        rc_h_sleep_ms(200);
    }
    /* They cannot read the cluster's data, and what they write stays
     * with them. Never in contact with the cluster of their --seeds, they
     * refuse QUORUM (the default R and W) and serve ONE alone
     * (docs/protocol.md section 12). */
    assert_int_equal(get_is(wrong, "inside", NULL), RC_EUNAVAILABLE);
    assert_int_equal(get_is(none, "inside", NULL), RC_EUNAVAILABLE);
    assert_int_equal(one_op(wrong, RC_CLIENT_GET, "inside", NULL), RC_CLIENT_NOTFOUND);
    assert_int_equal(one_op(none, RC_CLIENT_GET, "inside", NULL), RC_CLIENT_NOTFOUND);
    assert_int_equal(one_op(wrong, RC_CLIENT_PUT, "from-wrong", "x"), 0);
    assert_int_equal(one_op(none, RC_CLIENT_PUT, "from-none", "x"), 0);
    for (i = 0; i < 3; i++) {
        assert_int_equal(get_is(f->nodes[i], "from-wrong", NULL), RC_CLIENT_NOTFOUND);
        assert_int_equal(get_is(f->nodes[i], "from-none", NULL), RC_CLIENT_NOTFOUND);
    }
    assert_int_equal(get_is(f->nodes[1], "inside", "secret"), 0);
    /* Refused and counted on the seed, and said so in its log. */
    printf("  node 1: gossip_auth_failures=%lld peer_auth_failures=%lld\n",
           (long long)rc_h_stat_of(f->nodes[0], "gossip_auth_failures"),
           (long long)rc_h_stat_of(f->nodes[0], "peer_auth_failures"));
    assert_true(rc_h_stat_of(f->nodes[0], "gossip_auth_failures") > 0);
    assert_true(rc_h_stat_of(f->nodes[0], "peer_auth_failures") > 0);
    /* Logged with the reason, once per 10 s per kind (rate limited). */
    assert_true(rc_h_log_contains(f->nodes[0], "gossip: datagram from=127.0.0.1:"));
    assert_true(rc_h_log_contains(f->nodes[0], "sealed with a key we do not hold") ||
                rc_h_log_contains(f->nodes[0], "not sealed with a cluster key"));
    assert_true(rc_h_log_contains(f->nodes[0], "peer connection from=127.0.0.1 refused"));
    f->h.passed = 1;
}

/* A REPL_WRITE frame as a replica would get it from a coordinator. */
static size_t repl_write_frame(uint8_t *out, size_t cap, const char *key, const char *val)
{
    struct rc_request req;
    struct rc_buf b;
    size_t n;

    memset(&req, 0, sizeof(req));
    req.op = RC_OP_REPL_WRITE;
    req.id = 1;
    req.key = (const uint8_t *)key;
    req.key_len = (uint32_t)strlen(key);
    req.has_key = 1;
    req.value = (const uint8_t *)val;
    req.value_len = (uint32_t)strlen(val);
    req.has_value = 1;
    req.ver_hlc = wall_ms() << 16;
    req.ver_node = 0x4242;
    req.has_version = 1;
    rc_buf_init(&b, cap);
    assert_int_equal(rc_encode_request(&b, &req), 0);
    n = rc_buf_used(&b);
    memcpy(out, rc_buf_rptr(&b), n);
    rc_buf_close(&b);
    return n;
}

/* Raw internode writes: refused on a keyed peer port (plain, and after a
 * wrong-key handshake), accepted on an unkeyed one (the control). */
static void test_raw_peer_write_refused(void **state)
{
    struct fixture *f = *state;
    const char *no_extra[] = {NULL};
    struct rc_seal_keys wrong;
    struct rc_seal_stream ss;
    struct rc_buf wire;
    struct rc_hreply rep;
    struct rc_hserver *plain;
    uint8_t frame[256], buf[4096];
    size_t n;
    int fd, i;

    start_keyed(f, 1, key_a, 0);
    n = repl_write_frame(frame, sizeof(frame), "raw", "injected");
    /* Plain frame: closed without an answer. */
    fd = rc_h_tcp_connect(f->nodes[0]->peer_port, 2000);
    assert_true(fd >= 0);
    assert_int_equal(rc_h_send_all(fd, frame, n, 2000), 0);
    assert_int_equal(rc_h_wait_closed(fd, 3000), 0);
    close(fd);
    /* The same after a handshake with the wrong key. */
    keys_of(&wrong, key_x);
    rc_buf_init(&wire, 1 << 16);
    fd = rc_h_tcp_connect(f->nodes[0]->peer_port, 2000);
    assert_true(fd >= 0);
    assert_int_equal(rc_seal_stream_start(&ss, &wrong, 1, &wire), 0);
    /* Pretend the hello went through (we cannot derive the server's keys
     * anyway): seal with keys derived from nonsense. */
    ss.state = RC_SEAL_OPEN;
    assert_int_equal(rc_seal_stream_write(&ss, frame, n, &wire), 0);
    assert_int_equal(rc_h_send_all(fd, rc_buf_rptr(&wire), rc_buf_used(&wire), 2000), 0);
    assert_int_equal(rc_h_wait_closed(fd, 3000), 0);
    close(fd);
    rc_buf_close(&wire);
    for (i = 0; i < 10; i++) /* and not applied */
        assert_int_equal(get_is(f->nodes[0], "raw", NULL), RC_CLIENT_NOTFOUND);
    assert_true(rc_h_stat_of(f->nodes[0], "peer_auth_failures") >= 2);

    /* Control: the very same frame on an unkeyed node's peer port is
     * answered and stored, so the frame itself is valid. */
    plain = rc_h_server_new(&f->h, NULL, no_extra);
    assert_non_null(plain);
    assert_int_equal(rc_h_server_start(&f->h, plain), 0);
    fd = rc_h_tcp_connect(plain->peer_port, 2000);
    assert_true(fd >= 0);
    assert_int_equal(rc_h_send_all(fd, frame, n, 2000), 0);
    assert_int_equal(rc_h_read_reply(fd, buf, sizeof(buf), 3000, &rep), 0);
    assert_int_equal(rep.status, 0);
    close(fd);
    assert_int_equal(get_is(plain, "raw", "injected"), 0);
    f->h.passed = 1;
}

/* The node's record as node obs sees it, for crafting datagrams. */
static void record_of(const struct fixture *f, int obs, int target, struct rc_hmember *out)
{
    struct rc_hmember m[16];
    const struct rc_hmember *t;
    int k = rc_h_members(f->nodes[obs], m, 16, MEMBERS_IO_MS);

    assert_true(k > 0);
    t = rc_h_member_find(m, k, f->ids[target]);
    assert_non_null(t);
    *out = *t;
}

/* A PING from `from` (record fields) carrying one update about `about`. */
static size_t craft_ping(uint8_t *buf, size_t cap, uint32_t seq, uint64_t from_id,
                         const char *from_host, int from_port, int from_peer, uint64_t from_inc,
                         uint64_t target, const struct rc_hmember *about, enum rc_member_state st,
                         uint64_t about_inc)
{
    static struct rc_swim_msg m;
    size_t len;

    memset(&m, 0, sizeof(m));
    m.type = RC_SWIM_PING;
    m.seq = seq;
    m.from.id = from_id;
    m.from.host = from_host;
    m.from.host_len = (uint32_t)strlen(from_host);
    m.from.client_port = (uint16_t)from_port;
    m.from.peer_port = (uint16_t)from_peer;
    m.from.incarnation = from_inc;
    m.from.state = RC_MEMBER_ALIVE;
    m.from.by = from_id; /* as a node sends its own record */
    m.target_id = target;
    if (about != NULL) {
        m.nupdates = 1;
        m.updates[0].id = id_num(about->id);
        m.updates[0].host = about->host;
        m.updates[0].host_len = (uint32_t)strlen(about->host);
        m.updates[0].client_port = (uint16_t)about->port;
        m.updates[0].peer_port = (uint16_t)about->peer_port;
        m.updates[0].incarnation = about_inc;
        m.updates[0].state = st;
        m.updates[0].by = from_id;
    }
    assert_int_equal(rc_swim_encode(&m, buf, cap, &len), 0);
    return len;
}

/* Node 2's state and incarnation as nodes 1 and 3 see them stay put. */
static void expect_node2_untouched(const struct fixture *f, uint64_t inc, int ms)
{
    double t0 = rc_h_now_ms();
    struct rc_hmember r;
    int obs;

    while (rc_h_now_ms() - t0 < ms) {
        for (obs = 0; obs < 3; obs += 2) {
            record_of(f, obs, 1, &r);
            if (strcmp(r.state, "alive") != 0 || r.incarnation != inc)
                fail_msg("node %d sees node 2 %s incarnation %llu (was alive, %llu)", obs + 1,
                         r.state, (unsigned long long)r.incarnation, (unsigned long long)inc);
        }
        rc_h_sleep_ms(100);
    }
}

static void test_forged_and_replayed_gossip(void **state)
{
    struct fixture *f = *state;
    struct rc_seal_keys good, wrong;
    struct rc_seal_dgram *forger = calloc(1, sizeof(*forger));
    struct rc_hmember n2;
    uint8_t plain[RC_SWIM_MAX_DGRAM], sealed[RC_SWIM_MAX_DGRAM + 128], ack[2048];
    size_t plen, slen, alen;
    uint64_t fake = 0xf0f0f0f0f0f0f0f0ull, inc2, auth0, replay0;
    int fd, port, i;
    struct rc_hmember m[16];

    assert_non_null(forger);
    start_keyed(f, 3, key_a, 0);
    wait_converged(f, 3);
    keys_of(&good, key_a);
    keys_of(&wrong, key_x);
    fd = udp_socket(&port);
    record_of(f, 0, 1, &n2);
    inc2 = n2.incarnation;
    auth0 = (uint64_t)rc_h_stat_of(f->nodes[0], "gossip_auth_failures");

    /* "Node 2 is dead", from a made-up member, unsealed and wrong-key
     * sealed, to node 1 and node 3, several times. */
    plen = craft_ping(plain, sizeof(plain), 5, fake, "127.0.0.1", port, port, 1, 0, &n2,
                      RC_MEMBER_DEAD, inc2);
    rc_seal_dgram_init(forger, fake, wall_ms());
    for (i = 0; i < 5; i++) {
        udp_send_to(fd, f->nodes[0]->peer_port, plain, plen);
        udp_send_to(fd, f->nodes[2]->peer_port, plain, plen);
        assert_int_equal(rc_seal_dgram_seal(forger, &wrong, 0, wall_ms(), plain, plen, sealed,
                                            sizeof(sealed), &slen),
                         0);
        udp_send_to(fd, f->nodes[0]->peer_port, sealed, slen);
    }
    /* Nothing comes back to an unauthenticated sender. */
    assert_int_equal(udp_recv(fd, ack, sizeof(ack), 500), 0);
    expect_node2_untouched(f, inc2, 3000);
    assert_int_equal(rc_h_members(f->nodes[0], m, 16, MEMBERS_IO_MS), 3);
    assert_true((uint64_t)rc_h_stat_of(f->nodes[0], "gossip_auth_failures") >= auth0 + 10);

    /* Capture and replay: a valid PING (node 2's own record, no news)
     * sealed with the key by a sender of its own; node 1 answers it once,
     * with an ACK no larger than the PING, and never again. */
    plen = craft_ping(plain, sizeof(plain), 77, id_num(f->ids[1]), n2.host, n2.port,
                      n2.peer_port, inc2, id_num(f->ids[0]), NULL, RC_MEMBER_ALIVE, 0);
    rc_seal_dgram_init(forger, 0x5eed5eed, wall_ms());
    assert_int_equal(rc_seal_dgram_seal(forger, &good, id_num(f->ids[0]), wall_ms(), plain, plen,
                                        sealed, sizeof(sealed), &slen),
                     0);
    replay0 = (uint64_t)rc_h_stat_of(f->nodes[0], "gossip_replays");
    udp_send_to(fd, f->nodes[0]->peer_port, sealed, slen);
    alen = udp_recv(fd, ack, sizeof(ack), 2000);
    printf("  sealed ping %zu bytes, ack %zu bytes\n", slen, alen);
    assert_true(alen > RC_SEAL_DGRAM_OVERHEAD); /* the control: it was processed */
    assert_true(alen <= slen);                   /* no amplification */
    for (i = 0; i < 3; i++) {
        udp_send_to(fd, f->nodes[0]->peer_port, sealed, slen);
        assert_int_equal(udp_recv(fd, ack, sizeof(ack), 700), 0);
    }
    assert_int_equal((uint64_t)rc_h_stat_of(f->nodes[0], "gossip_replays"), replay0 + 3);
    /* Replayed to another node (it was addressed to node 1): refused too. */
    udp_send_to(fd, f->nodes[2]->peer_port, sealed, slen);
    assert_int_equal(udp_recv(fd, ack, sizeof(ack), 700), 0);
    expect_node2_untouched(f, inc2, 1000);

    /* The control for the forgery: the same "node 2 is dead" sealed with
     * the right key does change node 1's view (the made-up sender joins,
     * node 2 is suspected and refutes), so the refusals above are what
     * kept the cluster intact. */
    plen = craft_ping(plain, sizeof(plain), 6, fake, "127.0.0.1", port, port, 1, 0, &n2,
                      RC_MEMBER_DEAD, inc2);
    rc_seal_dgram_init(forger, fake, wall_ms());
    assert_int_equal(rc_seal_dgram_seal(forger, &good, 0, wall_ms(), plain, plen, sealed,
                                        sizeof(sealed), &slen),
                     0);
    udp_send_to(fd, f->nodes[0]->peer_port, sealed, slen);
    {
        double t0 = rc_h_now_ms();
        int seen = 0;

        while (!seen && rc_h_now_ms() - t0 < 3000) {
            int k = rc_h_members(f->nodes[0], m, 16, MEMBERS_IO_MS);
            const struct rc_hmember *t;
            char fake_hex[24];

            snprintf(fake_hex, sizeof(fake_hex), "%016llx", (unsigned long long)fake);
            record_of(f, 0, 1, &n2);
            t = k > 0 ? rc_h_member_find(m, k, fake_hex) : NULL;
            seen = t != NULL || n2.incarnation > inc2 || strcmp(n2.state, "alive") != 0;
            rc_h_sleep_ms(50);
        }
        assert_true(seen);
    }
    close(fd);
    free(forger);
    f->h.passed = 1;
}

/* Rotation by SIGHUP on every node: [A] -> [A,B] -> [B,A] -> [B]; no
 * member is ever anything but alive, nothing is refused, data flows. */
static void test_rotation_without_downtime(void **state)
{
    struct fixture *f = *state;
    struct rc_seal_keys ka, kb;
    const char *steps[3][2] = {{key_a, key_b}, {key_b, key_a}, {key_b, NULL}};
    char needle[3][96], key[32];
    int step, i, j, ops = 0;
    double t0;

    start_keyed(f, 3, key_a, 0);
    wait_converged(f, 3);
    keys_of(&ka, key_a);
    keys_of(&kb, key_b);
    snprintf(needle[0], sizeof(needle[0]), "cluster key: 2 key(s), sending with id %08x",
             ka.k[0].id);
    snprintf(needle[1], sizeof(needle[1]), "cluster key: 2 key(s), sending with id %08x",
             kb.k[0].id);
    snprintf(needle[2], sizeof(needle[2]), "cluster key: 1 key(s), sending with id %08x",
             kb.k[0].id);
    for (step = 0; step < 3; step++) {
        for (i = 0; i < 3; i++) {
            write_keys(f->key_path[i], steps[step][0], steps[step][1], 0600);
            assert_int_equal(kill(f->nodes[i]->pid, SIGHUP), 0);
            /* Nodes switch one at a time, with traffic in between. */
            t0 = rc_h_now_ms();
            while (!rc_h_log_contains(f->nodes[i], needle[step])) {
                assert_true(rc_h_now_ms() - t0 < 5000);
                rc_h_sleep_ms(20);
            }
            t0 = rc_h_now_ms();
            while (rc_h_now_ms() - t0 < 1500) {
                for (j = 0; j < 3; j++)
                    if (!rc_h_sees_all_alive(f->nodes[j], f->ids, 3))
                        fail_msg("step %d node %d: node %d sees a member not alive", step, i + 1,
                                 j + 1);
                snprintf(key, sizeof(key), "rot-%d", ops);
                put_ok(f->nodes[ops % 3], key, key);
                assert_int_equal(get_is(f->nodes[(ops + 1) % 3], key, key), 0);
                ops++;
                rc_h_sleep_ms(50);
            }
        }
        printf("  rotation step %d done (%d writes and reads so far)\n", step + 1, ops);
    }
    for (i = 0; i < 3; i++) {
        assert_int_equal(rc_h_stat_of(f->nodes[i], "gossip_auth_failures"), 0);
        assert_int_equal(rc_h_stat_of(f->nodes[i], "peer_auth_failures"), 0);
        assert_false(rc_h_log_contains(f->nodes[i], "-> suspect"));
        assert_false(rc_h_log_contains(f->nodes[i], "-> dead"));
    }
    /* Connections opened with key A were closed and reopened with B
     * once A was removed. */
    assert_true(rc_h_log_contains(f->nodes[0], "its cluster key was removed") ||
                rc_h_log_contains(f->nodes[1], "its cluster key was removed") ||
                rc_h_log_contains(f->nodes[2], "its cluster key was removed"));
    /* A bad file on SIGHUP keeps the keys in use. */
    write_keys(f->key_path[0], "not a key", NULL, 0600);
    assert_int_equal(kill(f->nodes[0]->pid, SIGHUP), 0);
    t0 = rc_h_now_ms();
    while (!rc_h_log_contains(f->nodes[0], "keeping the previous cluster keys")) {
        assert_true(rc_h_now_ms() - t0 < 5000);
        rc_h_sleep_ms(20);
    }
    put_ok(f->nodes[0], "after-bad-reload", "ok");
    assert_int_equal(get_is(f->nodes[2], "after-bad-reload", "ok"), 0);
    f->h.passed = 1;
}

/* Startup refuses an unsafe or malformed key file with a clear message. */
static void test_bad_key_files(void **state)
{
    struct fixture *f = *state;
    struct {
        const char *content;
        mode_t mode;
        const char *msg;
    } cases[] = {
        {key_a, 0644, "readable by every user"},
        {"0123", 0600, "64 hex digits"},
        {"", 0600, "no key"},
    };
    char path[RC_H_PATH];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[] = {f->h.server_bin, "--data-dir", ":memory:", "--port", "0",
                              "--peer-port", "0", "--cluster-key-file", path, NULL};
        struct rc_hrun r;

        snprintf(path, sizeof(path), "%s/bad%zu.key", f->h.root, i);
        write_keys(path, cases[i].content, NULL, cases[i].mode);
        assert_int_equal(rc_h_run(f->h.server_bin, argv, NULL, NULL, 0, 5000, 1 << 16, &r), 0);
        assert_int_not_equal(r.status, 0);
        if (strstr((const char *)r.err, cases[i].msg) == NULL)
            fail_msg("case %zu: stderr lacks '%s': %s", i, cases[i].msg, (const char *)r.err);
        rc_h_run_free(&r);
    }
    f->h.passed = 1;
}

/* `ringcache-cli keygen > file`: a valid key, in a file made private,
 * that a node starts with. */
static void test_keygen(void **state)
{
    struct fixture *f = *state;
    char path[RC_H_PATH], cmd[2 * RC_H_PATH + 64], err[256], warn[256];
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    struct rc_seal_keys k1, k2;
    struct rc_hrun r;
    struct stat st;
    const char *no_extra[] = {NULL};
    struct rc_hserver *s;

    snprintf(path, sizeof(path), "%s/gen.key", f->h.root);
    snprintf(cmd, sizeof(cmd), "umask 022; '%s' keygen > '%s'", f->h.cli_bin, path);
    assert_int_equal(rc_h_run("/bin/sh", argv, NULL, NULL, 0, 5000, 4096, &r), 0);
    assert_int_equal(r.status, 0);
    rc_h_run_free(&r);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    assert_int_equal(st.st_size, 65);
    assert_int_equal(rc_seal_keys_load(path, &k1, err, sizeof(err), warn, sizeof(warn)), 0);
    assert_int_equal(k1.n, 1);
    assert_int_equal(rc_h_run("/bin/sh", argv, NULL, NULL, 0, 5000, 4096, &r), 0);
    rc_h_run_free(&r);
    assert_int_equal(rc_seal_keys_load(path, &k2, err, sizeof(err), warn, sizeof(warn)), 0);
    assert_memory_not_equal(k1.k[0].key, k2.k[0].key, RC_SEAL_KEY_LEN); /* random */
    s = rc_h_server_new(&f->h, NULL, no_extra);
    assert_non_null(s);
    assert_int_equal(rc_h_server_add_arg(s, "--cluster-key-file"), 0);
    assert_int_equal(rc_h_server_add_arg(s, path), 0);
    assert_int_equal(rc_h_server_start(&f->h, s), 0);
    assert_int_equal(rc_h_stat_of(s, "cluster_key"), 1);
    f->h.passed = 1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keyed_cluster_serves, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_outsiders_cannot_join, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_raw_peer_write_refused, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_forged_and_replayed_gossip, setup,
                                        rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_rotation_without_downtime, setup,
                                        rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bad_key_files, setup, rc_h_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_keygen, setup, rc_h_fixture_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
