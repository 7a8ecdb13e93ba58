/*
 * ringcache.h - client library for ringcache (native protocol).
 *
 * A blocking client for one server connection, with pipelining: queue any
 * number of requests with rc_client_send(), then read the replies, in
 * order, with rc_client_recv(). The one-call helpers (rc_client_get, ...)
 * do both. Every call has a timeout; no call blocks forever.
 *
 * Errors are negative codes (see rc_client_strerror); a status from the
 * server (e.g. key not found) is returned the same way, so
 * rc_client_get() returning RC_CLIENT_NOTFOUND means a miss. After a
 * connection-level error (timeout, closed, malformed reply) the client is
 * unusable and must be freed.
 */
#ifndef RINGCACHE_H
#define RINGCACHE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rc_client;

/* Error code for a miss; equal to the library's RC_ENOTFOUND. */
#define RC_CLIENT_NOTFOUND (-10001)

struct rc_client_opts {
    int connect_timeout_ms; /* default 2000 */
    int io_timeout_ms;      /* per send/recv call; default 5000 */
    uint32_t max_reply;     /* largest reply body accepted; default 64 MiB */
    const char *password;   /* when not NULL, sent with AUTH right after connecting (and
                             * a wrong one fails the connect); copied */
};

/* Consistency levels for rc_client_send (0 = server default). */
enum {
    RC_CLIENT_CL_DEFAULT = 0,
    RC_CLIENT_CL_ONE = 1,
    RC_CLIENT_CL_QUORUM = 2,
    RC_CLIENT_CL_ALL = 3,
    RC_CLIENT_CL_ANY = 4 /* writes: any live node, fallbacks included (see docs/protocol.md) */
};

/* Operations for rc_client_send. MEMBERS, RING and ACTIVITY take no key;
 * their reply's value is a msgpack document (docs/protocol.md, section 6). */
enum {
    RC_CLIENT_PING = 1,
    RC_CLIENT_GET = 2,
    RC_CLIENT_PUT = 3,
    RC_CLIENT_DEL = 4,
    RC_CLIENT_STATS = 5,
    RC_CLIENT_MEMBERS = 6,
    RC_CLIENT_RING = 7,
    RC_CLIENT_ACTIVITY = 8,
    RC_CLIENT_AUTH = 9, /* the password goes in value */
    RC_CLIENT_FORGET = 10, /* key = a dead member's id, 16 hex digits */
    RC_CLIENT_INCR = 11    /* value = the increment as decimal text, integer or float
                              (NULL: 1); the reply's value is the new total as text */
};

/* Wire errors a client sees from a server with --auth-file; equal to the
 * library's RC_ENOAUTH / RC_EWRONGPASS. */
#define RC_CLIENT_NOAUTH (-10021)
#define RC_CLIENT_WRONGPASS (-10022)

struct rc_client_stat {
    char name[64];
    int is_str;
    int64_t num;
    char str[192];
};

/* One reply. Pointers are valid until the next call on the client. */
struct rc_result {
    int err;              /* 0, or the error code for the server's status */
    uint32_t id;          /* id of the request it answers */
    const uint8_t *value; /* GET: the value; MEMBERS, RING, ACTIVITY: the msgpack document */
    size_t value_len;
    int has_value;
    const char *message;  /* error message from the server (NUL-terminated), or "" */
    uint64_t ttl_ms;      /* GET: remaining TTL, 0 = none */
    uint64_t ver_hlc, ver_node;
    const struct rc_client_stat *stats; /* STATS */
    size_t nstats;
};

/* "host:port", "host" (port 7400), "[v6addr]:port". opts may be NULL. *out NULL on failure. */
int rc_client_connect(const char *addr, const struct rc_client_opts *opts, struct rc_client **out);
void rc_client_free(struct rc_client *c);

/* Queues one request (sent at the next recv or flush). Returns 0 or an error
 * (e.g. key too large for the frame). key/value are copied. */
int rc_client_send(struct rc_client *c, int op, const void *key, size_t key_len, const void *value,
                   size_t value_len, uint64_t ttl_ms, int consistency);
int rc_client_flush(struct rc_client *c);

/* Next reply, in request order. Returns 0 with res filled (res->err holds
 * the request's own outcome), or a connection-level error. */
int rc_client_recv(struct rc_client *c, struct rc_result *res);

/* Requests sent or queued whose replies were not read yet. */
size_t rc_client_inflight(const struct rc_client *c);

/* One-call helpers; return 0, RC_CLIENT_NOTFOUND, the server's error, or a
 * connection error. Results borrowed as for rc_client_recv. */
int rc_client_ping(struct rc_client *c);
/* Authenticates the connection (servers with --auth-file): 0,
 * RC_CLIENT_WRONGPASS (the server closes after 3 wrong tries), or an error. */
int rc_client_auth(struct rc_client *c, const void *password, size_t len);
int rc_client_get(struct rc_client *c, const void *key, size_t key_len, struct rc_result *res);
int rc_client_put(struct rc_client *c, const void *key, size_t key_len, const void *value,
                  size_t value_len, uint64_t ttl_ms);
int rc_client_del(struct rc_client *c, const void *key, size_t key_len);
/* Adds delta (decimal text: "5", "-2", "0.5"; NULL: 1) to the key's
 * counter (docs/protocol.md, INCR); res->value is the new total as text. */
int rc_client_incr(struct rc_client *c, const void *key, size_t key_len, const char *delta,
                   struct rc_result *res);
int rc_client_stats(struct rc_client *c, struct rc_result *res);
/* The membership as the connected node sees it: res->value holds the
 * msgpack document, undecoded. Bytes from the network: bound and check
 * every type before use. The RING view has no call of its own:
 * rc_client_send(RC_CLIENT_RING) then rc_client_recv, as the CLI does. */
int rc_client_members(struct rc_client *c, struct rc_result *res);
/* The connected node's rebalancing: its streams in progress and its recent
 * events (docs/protocol.md, ACTIVITY). res->value as for members. */
int rc_client_activity(struct rc_client *c, struct rc_result *res);

/* Message and name for any code the library returns. */
const char *rc_client_strerror(int err);
const char *rc_client_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
