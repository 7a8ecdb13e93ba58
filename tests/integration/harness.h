/*
 * harness.h - run the real ringcache binaries from cmocka integration tests.
 *
 * A struct rc_harness owns one temp directory and every process a test
 * starts in it. Servers run on a free loopback port with their log in the
 * temp directory, so a failing test can print its tail. Children get
 * PR_SET_PDEATHSIG(SIGKILL), and rc_h_close() kills whatever still runs,
 * so no process outlives the test binary even when an assertion aborts a
 * test half-way. rc_h_arm_timeout() is the per-test timeout: the binary
 * exits (and its children die with it) instead of hanging ctest.
 *
 * There is no global state: tests keep the harness in their cmocka state.
 * harness.c runs the processes and speaks the wire protocol;
 * harness_fixture.c is the fixture glue every test file shares (cmocka
 * fixtures, kept clients, clusters started and converged, STATS reads).
 */
#ifndef RC_HARNESS_H
#define RC_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ringcache.h"

#define RC_H_MAX_SERVERS 8
#define RC_H_MAX_EXTRA 16
#define RC_H_PATH 256
#define RC_H_HDR 8 /* frame header bytes (common/codec.h) */
/* Clients a fixture keeps for one test: test_cluster's own bound, the
 * largest of the files (each passes its bound to rc_h_test_client). */
#define RC_H_MAX_CLIENTS 64
#define RC_H_ID_CAP 24 /* a node id (16 hex digits) and its NUL, with room */

struct rc_hserver {
    pid_t pid;                  /* 0 when not running */
    int port;                   /* port of the current (or last) run */
    int peer_port;              /* --peer-port (gossip UDP + internode TCP) */
    int fixed_ports;            /* 1: every start reuses port and peer_port
                                 * (cluster nodes); 0: fresh ones each start */
    char addr[64];              /* "127.0.0.1:port" */
    char data_dir[RC_H_PATH];   /* directory, or ":memory:" */
    char log_path[RC_H_PATH];   /* stdout+stderr of every run, appended */
    char *extra[RC_H_MAX_EXTRA]; /* extra server arguments, owned */
    int nextra;
    char *env[RC_H_MAX_EXTRA + 1]; /* "NAME=value" for the server, owned, NULL-terminated */
    int nenv;
    int last_status;            /* exit status of the last stop, -1 if killed/unknown */
};

struct rc_harness {
    char root[64]; /* mkdtemp'd; removed by rc_h_close */
    const char *server_bin;
    const char *cli_bin;
    struct rc_hserver servers[RC_H_MAX_SERVERS];
    int nservers;
    int passed; /* a test sets this as its last statement; when it is still
                 * 0 at rc_h_test_end/rc_h_close, the server logs are printed */
    unsigned timeout_s; /* per-test budget of rc_h_test_setup (0: none) */
    struct rc_client *clients[RC_H_MAX_CLIENTS]; /* rc_h_client_kept's, owned */
    int nclients;
};

/* Creates the temp directory, reads RC_SERVER_BIN / RC_CLI_BIN, ignores
 * SIGPIPE. Returns 0 or -1 (message printed). */
int rc_h_init(struct rc_harness *h);

/* Frees the kept clients, kills every server still running, removes the
 * temp directory. */
void rc_h_close(struct rc_harness *h);

/* Per-test bracket for fixtures shared by a group: begin clears passed and
 * arms the timeout; end prints the server log tails unless passed. */
void rc_h_test_begin(struct rc_harness *h, unsigned timeout_s);
void rc_h_test_end(struct rc_harness *h);

/* ---- cmocka fixtures ----
 *
 * A test file's fixture is a struct whose FIRST member is a struct
 * rc_harness, so the fixture pointer is also the harness pointer. These
 * allocate it, keep its clients and free it, whether a group or each test
 * owns it. The cmocka-shaped ones (void **state) go straight into
 * cmocka_unit_test_setup_teardown or wrap a file's own setup.
 */

/* A zeroed fixture of size bytes (>= sizeof(struct rc_harness)) with its
 * harness initialised (rc_h_init) and timeout_s kept as the per-test
 * budget. Caller frees with rc_h_fixture_free. NULL on failure (said). */
void *rc_h_fixture_new(size_t size, unsigned timeout_s);

/* Frees the kept clients, closes the harness (kills every server, removes
 * the temp directory, prints the logs unless passed), frees the fixture.
 * NULL is ignored. */
void rc_h_fixture_free(void *fixture);

/* Per-test fixture: rc_h_fixture_new, then rc_h_test_begin, into *state.
 * 0, or -1 with *state NULL. */
int rc_h_fixture_setup(void **state, size_t size, unsigned timeout_s);

/* Per-test (or group) teardown: rc_h_fixture_free(*state). Always 0. */
int rc_h_fixture_teardown(void **state);

/* Each test of a group fixture: rc_h_test_begin with the fixture's
 * timeout_s / rc_h_test_end. 0, or -1 without a fixture (group setup
 * failed). */
int rc_h_test_setup(void **state);
int rc_h_test_teardown(void **state);

/* A test of a group fixture, in a cmocka test table. */
#define RC_H_GROUP_TEST(fn)                                                                  \
    cmocka_unit_test_setup_teardown(fn, rc_h_test_setup, rc_h_test_teardown)

/* RC_TEST_FILTER=<glob> (cmocka's * and ?) runs only the matching tests. */
void rc_h_test_filter_from_env(void);

/* End of a group whose servers must stop cleanly: rc_h_servers_stop_clean
 * on s[0..n-1] (pointers into the fixture), then rc_h_fixture_teardown.
 * Returns 0 when every server exited 0, -1 otherwise (cmocka then fails
 * the group). */
int rc_h_fixture_stop_clean(void **state, struct rc_hserver *const *s, int n, int timeout_ms);

/* Asserts (cmocka) that expr, a client call, returns want; on a mismatch
 * prints both as error names first. */
#define rc_h_expect_rc(expr, want)                                                           \
    do {                                                                                     \
        int rc_ = (expr), want_ = (want);                                                    \
        if (rc_ != want_)                                                                    \
            printf("%s:%d: %s = %d (%s), want %d (%s)\n", __FILE__, __LINE__, #expr, rc_,    \
                   rc_client_err_name(rc_), want_, rc_client_err_name(want_));               \
        assert_int_equal(rc_, want_);                                                        \
    } while (0)

/* A client to s (io timeout io_ms) that h keeps and frees at
 * rc_h_fixture_free, even when an assertion ends the test early. NULL
 * when it cannot connect or h keeps RC_H_MAX_CLIENTS already. */
struct rc_client *rc_h_client_kept(struct rc_harness *h, const struct rc_hserver *s, int io_ms);

/* rc_h_client_kept for the running cmocka test: fails the test when h
 * keeps max clients already (the test's own bound) or s does not accept
 * the connection. */
struct rc_client *rc_h_test_client(struct rc_harness *h, const struct rc_hserver *s, int io_ms,
                                   int max);

/* Takes ownership of c (connected by the caller with options of its
 * own): h frees it like a kept one. 0, or -1 when full (c freed). */
int rc_h_client_keep(struct rc_harness *h, struct rc_client *c);

/* Frees one kept client now (e.g. its node was killed); c not kept by h
 * is left alone. */
void rc_h_client_drop(struct rc_harness *h, struct rc_client *c);

/* Frees every kept client now. */
void rc_h_clients_drop(struct rc_harness *h);

/* Writes text to <root>/name and its path into path (cap bytes); mode 0
 * leaves the mode fopen gave it, else chmod(mode). 0, or -1 (said). */
int rc_h_write_file(const struct rc_harness *h, const char *name, const char *text,
                    unsigned mode, char *path, size_t cap);

/* Per-test timeout: after seconds, print a message and _exit(1). Children
 * die with the process through PDEATHSIG. 0 disarms. */
void rc_h_arm_timeout(unsigned seconds);

/*
 * Describes a server. data_dir NULL = a fresh directory under the root;
 * extra is a NULL-terminated list of additional arguments (copied) or NULL.
 * Returns the slot (owned by h) or NULL when all are used.
 */
struct rc_hserver *rc_h_server_new(struct rc_harness *h, const char *data_dir,
                                   const char *const *extra);

/* Adds "NAME=value" to the server's environment (from the next start).
 * Returns 0 or -1 when full. */
int rc_h_server_setenv(struct rc_hserver *s, const char *name_value);

/* Adds one argument (copied) for the next starts. 0, or -1 when full. */
int rc_h_server_add_arg(struct rc_hserver *s, const char *arg);

/* rc_h_server_new, then rc_h_server_start: the slot, or NULL (said). */
struct rc_hserver *rc_h_server_launch(struct rc_harness *h, const char *data_dir,
                                      const char *const *extra);

/* Starts the server and waits (10 s) until it accepts a connection and
 * answers PING. Client and peer port are fresh free ports (the peer port
 * free for TCP and UDP), unless s->fixed_ports, when the previous ones
 * are reused (a restart on the same ports). Returns 0, or -1 after
 * printing the log. */
int rc_h_server_start(struct rc_harness *h, struct rc_hserver *s);

/* ---- clusters ---- */

/*
 * Describes n cluster nodes (slots owned by h, returned in out[0..n-1]):
 * each with a fresh data directory and its own client and peer port,
 * reserved now (all distinct, the peer ports free for TCP and UDP) and
 * kept across restarts; nodes 2..n get --seeds 127.0.0.1:<peer port of
 * node 1>. extra as for rc_h_server_new. Returns 0 or -1 (message printed).
 */
int rc_h_cluster_new(struct rc_harness *h, int n, const char *const *extra,
                     struct rc_hserver **out);

/* Starts node 1, waits until it is ready, then starts the others at once
 * and waits until each answers PING. Returns 0 or -1 (logs printed). */
int rc_h_cluster_start(struct rc_harness *h, struct rc_hserver *const *nodes, int n);

/* STATS node_id of nodes[0..n-1] into ids[0..n-1]. 0, or -1 when one
 * does not answer. */
int rc_h_cluster_ids(struct rc_hserver *const *nodes, int n, char (*ids)[RC_H_ID_CAP]);

/* 1 when s lists exactly n members, all alive, including every id of
 * ids[0..n-1] (ids NULL: any ids); 0 otherwise or when it does not answer
 * MEMBERS within 2 s. */
int rc_h_sees_all_alive(const struct rc_hserver *s, const char (*ids)[RC_H_ID_CAP], int n);

/* Polls (every 100 ms, MEMBERS io timeout 2 s) until each of nodes[0..n-1]
 * passes rc_h_sees_all_alive. Returns the ms it took, or -1 after
 * timeout_ms. */
double rc_h_cluster_wait_converged(struct rc_hserver *const *nodes,
                                   const char (*ids)[RC_H_ID_CAP], int n, int timeout_ms);

/* A graceful stop of the servers at the end of a group: SIGTERM to each,
 * its exit status printed; h->passed is set only when every one exited
 * 0 (else rc_h_close prints the logs; a sanitizer report is a non-zero
 * status). Returns 0 when all exited 0, -1 otherwise. */
int rc_h_servers_stop_clean(struct rc_harness *h, struct rc_hserver *const *s, int n,
                            int timeout_ms);

/* One entry of a MEMBERS reply (the CLI's `members --json` has the same
 * fields). Strings are truncated to fit. */
struct rc_hmember {
    char id[24];
    char host[64];
    int port, peer_port;
    char state[16]; /* "alive", "suspect", "dead", "left" */
    uint64_t incarnation;
    double primary, replica;
    int self;
    int has_clock_offset;    /* clock_offset_ms was a number (not nil or absent) */
    int64_t clock_offset_ms; /* that member's clock minus the answering node's */
};

/* MEMBERS over the native protocol (a raw frame, the reply decoded with
 * msgpack-c). Fills up to max entries; returns how many the reply had
 * (may exceed max), or -1 on a connection, status or format error. */
int rc_h_members(const struct rc_hserver *s, struct rc_hmember *out, int max, int timeout_ms);

/* Parses `ringcache-cli members --json` output: a JSON array of objects.
 * Unknown keys are skipped. Returns the number of objects (may exceed
 * max) or -1 on malformed JSON. */
int rc_h_members_json(const char *json, struct rc_hmember *out, int max);

/* The member with this id in m[0..n-1], or NULL. */
const struct rc_hmember *rc_h_member_find(const struct rc_hmember *m, int n, const char *id);

/* STATS node_id of a running server into id (>= 17 bytes); 0 or -1. */
int rc_h_node_id(const struct rc_hserver *s, char *id, size_t cap);

/* SIGTERM, then waits up to timeout_ms. Returns the exit status (0..255),
 * -(signal) if killed by a signal, or -1000 if it did not exit in time
 * (it is then SIGKILLed). */
int rc_h_server_stop(struct rc_hserver *s, int timeout_ms);
/* The same with another signal (SIGINT), or sig 0 to only wait for an
 * exit already under way (a second SIGTERM may mean "exit now"). */
int rc_h_server_stop_sig(struct rc_hserver *s, int sig, int timeout_ms);

/* SIGKILL and reap. */
void rc_h_server_kill(struct rc_hserver *s);

/* 1 when the process is still running (not exited / reaped). */
int rc_h_server_alive(struct rc_hserver *s);

/* A KiB figure from /proc/PID/status ("VmRSS", "VmHWM", "VmPeak", ...), or -1. */
long rc_h_server_status_kib(const struct rc_hserver *s, const char *field);
/* Resident set size in KiB, or -1. */
long rc_h_server_rss_kib(const struct rc_hserver *s);

/* Lines of the server log that contain a and, unless b is NULL, b. */
int rc_h_log_count(const struct rc_hserver *s, const char *a, const char *b);

/* 1 when the server log contains needle. */
int rc_h_log_contains(const struct rc_hserver *s, const char *needle);

/* Prints the last max_bytes of the server log to stdout. */
void rc_h_print_log_tail(const struct rc_hserver *s, size_t max_bytes);

/* Client connected to the server with io timeout io_ms; NULL on failure. */
struct rc_client *rc_h_client(const struct rc_hserver *s, int io_ms);

/* Looks a named entry up in a STATS result. Returns 0 and sets *num (or
 * *str for string entries) or -1 when missing. */
int rc_h_stat(const struct rc_result *res, const char *name, int64_t *num, const char **str);

/* Convenience: STATS on c, then one numeric entry; -1 when missing or on error. */
int64_t rc_h_stat_num(struct rc_client *c, const char *name);

/* rc_h_stat_num over a connection of its own to s (io timeout io_ms).
 * Returns -1 when it cannot connect; else 0 with *v set (-1 when the
 * entry is missing or STATS failed), so a caller can tell the two. */
int rc_h_server_stat(const struct rc_hserver *s, const char *name, int io_ms, int64_t *v);

/* The same for a test that needs the answer: fails the running cmocka
 * test when s does not accept a connection (io timeout 2 s); else the
 * entry, -1 when it is missing. */
int64_t rc_h_stat_of(const struct rc_hserver *s, const char *name);

/* ---- subprocesses ---- */

struct rc_hrun {
    int status;      /* exit code; -(signal) when killed; -1000 on timeout */
    int timed_out;
    uint8_t *out;    /* stdout, NUL-terminated after out_len bytes; caller frees via rc_h_run_free */
    size_t out_len;
    uint8_t *err;    /* stderr, likewise */
    size_t err_len;
    double elapsed_ms;
};

/*
 * Runs bin with argv (argv[0] included, NULL-terminated) and env additions
 * ("NAME=value", NULL-terminated, or NULL), feeding in/in_len on stdin and
 * capturing up to cap bytes of each output stream. RINGCACHE_* variables
 * of the test's own environment are not passed on. Kills the child after
 * timeout_ms. Returns 0 (see r->status) or -1 if it could not be run.
 */
int rc_h_run(const char *bin, const char *const *argv, const char *const *env, const void *in,
             size_t in_len, int timeout_ms, size_t cap, struct rc_hrun *r);
void rc_h_run_free(struct rc_hrun *r);

/* ---- raw sockets and frames ---- */

/* Monotonic milliseconds. */
double rc_h_now_ms(void);
void rc_h_sleep_ms(int ms);

/* A port nothing listens on right now (bind port 0, read it, close). */
int rc_h_free_port(void);
/* A port free for both a TCP and a UDP bind on every address. */
int rc_h_free_port_tcp_udp(void);

/* A listening socket on 127.0.0.1 that never accepts (the kernel still
 * completes handshakes into the backlog): a server that never answers.
 * Returns the fd and sets *port, or -1. */
int rc_h_listen_blackhole(int *port);

/* Blocking TCP connection to 127.0.0.1:port; fd or -1. */
int rc_h_tcp_connect(int port, int timeout_ms);

/* Sends all bytes (poll + send, MSG_NOSIGNAL). 0, or -1 on error/timeout. */
int rc_h_send_all(int fd, const void *p, size_t n, int timeout_ms);

/* Writes an 8-byte frame header: magic, version, flags, body length. */
void rc_h_frame_header(uint8_t hdr[8], uint8_t version, uint8_t flags, uint32_t body_len);

/* Appends a whole request frame [op, id, {key?, value?, ttl?}] to buf
 * (cap bytes); returns the new length or 0 if it does not fit. key/value
 * NULL = field absent. */
size_t rc_h_encode_request(uint8_t *buf, size_t len, size_t cap, uint32_t op, uint32_t id,
                           const void *key, size_t key_len, const void *value, size_t value_len);

/* A decoded reply (pointers into the caller's frame buffer). */
struct rc_hreply {
    uint32_t status;
    uint32_t id;
    const uint8_t *value;
    size_t value_len;
    int has_value;
    const char *message; /* MESSAGE (field 5), not NUL-terminated; NULL if absent */
    size_t message_len;
};

#define RC_H_EOF 1     /* rc_h_read_reply: connection closed before any byte */
#define RC_H_TIMEOUT 2 /* rc_h_read_reply: no byte at all within the timeout */

/*
 * Reads one reply frame into buf (cap bytes) and decodes it. Returns 0,
 * RC_H_EOF when the peer closed cleanly before a frame began, RC_H_TIMEOUT
 * when nothing arrived, or -1 on reset, a partial frame (closed or timed
 * out half-way) or an undecodable reply (message printed).
 */
int rc_h_read_reply(int fd, uint8_t *buf, size_t cap, int timeout_ms, struct rc_hreply *rep);

/* Waits until the peer closes (EOF or reset), discarding data. 0 when
 * closed within timeout_ms, -1 otherwise. */
int rc_h_wait_closed(int fd, int timeout_ms);

/* An ASan build of the server refuses to start with another library
 * (libfaketime) preloaded before its runtime: lets it, for every server
 * started from now on (sets verify_asan_link_order=0 in ASAN_OPTIONS). */
void rc_h_allow_preload_under_asan(void);

#endif
