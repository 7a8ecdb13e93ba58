/*
 * net.h - listener and connections, whatever the protocol.
 *
 * Accepts connections, reads their bytes (through a channel: sealed with
 * the cluster key on the peer port), hands them to the port's handler,
 * which parses and answers one request at a time, and writes the replies
 * back in request order. A handler answers at once or defers (a slot),
 * e.g. until replicas answered or a group commit is done. Replies are not
 * sent as they are produced: the node's batch end (node.h) resumes paused
 * connections, commits, and then flushes all pending replies, one write
 * per connection. Backpressure, timeouts, connection limits and shutdown
 * are the same for every port (client, peer, RESP); the protocols live in
 * native.c (with front_native.c and front_peer.c) and resp_server.c.
 */
#ifndef RC_NET_H
#define RC_NET_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "auth.h"
#include "buf.h"
#include "codec.h"
#include "log.h"
#include "seal.h"

struct rc_net;
struct rc_net_slot;

/* A port's protocol. */
struct rc_net_handler {
    void *arg;
    /* Handles at most one request from the start of in[0..len) (the
     * connection's input, parsed in place): appends its reply to out or
     * takes a slot with rc_net_defer(). conn is conn_size zeroed bytes
     * owned by the connection. Returns, with *used set to the bytes
     * consumed: RC_NET_MORE (nothing consumed: the request is not complete),
     * RC_NET_DONE, RC_NET_BAD_REQUEST (a reply queued, counted as a
     * protocol error, the connection stays), RC_NET_CLOSE (reply queued;
     * close once it is sent), RC_NET_PROTO_ERROR (the same, counted as a
     * protocol error), RC_NET_ABORT (the same, and the reply goes out ahead
     * of the replies still deferred: the input broke off, e.g. a frame
     * header that cannot be trusted), RC_NET_HOLD (nothing consumed or
     * answered: the connection must not go on yet; reading pauses and
     * parsing resumes at the batch end after one of its deferred replies
     * completes or rc_net_wake, as after backpressure), or a negative code
     * when no reply could be queued (connection closed). */
    int (*parse)(void *arg, struct rc_net *net, void *conn, const uint8_t *in, size_t len,
                 struct rc_buf *out, size_t *used);
    size_t conn_size;
    /* Appends the reply that refuses a connection over max_conns, in the
     * protocol's own terms (not sent on a sealed connection). */
    int (*refuse)(struct rc_buf *out);
    /* Optional: conn (the handler's state) is about to be freed; anything
     * still in flight that points at it must let go. */
    void (*closed)(void *arg, void *conn);
};

enum {
    RC_NET_MORE = 0,
    RC_NET_DONE = 1,
    RC_NET_CLOSE = 2,
    RC_NET_PROTO_ERROR = 3,
    RC_NET_BAD_REQUEST = 4,
    RC_NET_ABORT = 5,
    RC_NET_HOLD = 6
};

struct rc_net_opts {
    const char *bind;      /* address to listen on */
    int port;              /* TCP port */
    int max_conns;         /* further connections get TOO_MANY_CONNS */
    uint32_t max_frame;    /* a connection's input holds RC_FRAME_HDR + max_frame bytes */
    size_t out_high;       /* pending reply bytes at which reading pauses */
    size_t max_reply;      /* largest single reply, bytes; 0 = one frame (RC_FRAME_HDR +
                              max_frame). Output may exceed out_high by one reply. */
    int max_inflight;      /* deferred requests per connection at which reading pauses */
    int shutdown_ms;       /* how long shutdown waits for clients to drain */
    /* Cluster key (peer port only; borrowed, may change in place on a
     * reload). With at least one key every connection must open with the
     * sealed-stream handshake (seal.h); anything else is closed unanswered
     * and counted in seal_stats (borrowed, may be NULL). */
    const struct rc_seal_keys *keys;
    struct rc_seal_stats *seal_stats;
    /* Client passwords (borrowed; the handler answers AUTH through
     * rc_net_current_auth); NULL = no AUTH needed. Here for the auth
     * timeout and the auth_* counters of rc_net_stats. */
    struct rc_auth *auth;
    int idle_timeout_ms;  /* close a connection silent both ways this long; 0 = never */
    int auth_timeout_ms;  /* with auth: close one not authenticated this long after connecting; 0 = never */
    int frame_timeout_ms; /* close one whose started frame is not complete in this; 0 = never */
    int write_timeout_ms; /* close one whose pending replies do not move for this; 0 = never */
    size_t out_limit;     /* close one holding more reply bytes than this; 0 = no limit */
};

struct rc_net_stats {
    uint64_t conns;          /* open now */
    uint64_t conns_total;    /* accepted since start */
    uint64_t conns_rejected; /* refused over max_conns */
    uint64_t protocol_errors;
    uint64_t read_pauses;        /* reading paused for backpressure (out_high, max_inflight) */
    uint64_t closed_idle;        /* idle_timeout_ms */
    uint64_t closed_slow_frame;  /* frame_timeout_ms (slowloris) */
    uint64_t closed_write_stall; /* write_timeout_ms (client not reading) */
    uint64_t closed_out_limit;   /* out_limit */
    uint64_t closed_auth_timeout; /* auth_timeout_ms */
    uint64_t auth_ok, auth_failures, auth_closed, auth_rejected; /* from opts.auth */
};

/* The handler and log are borrowed for the life of the net. */
int rc_net_new(uv_loop_t *loop, const struct rc_net_opts *opts, const struct rc_net_handler *h,
               const struct rc_log *log, struct rc_net **out);

/* Binds and listens. 0 or a libuv error (logged). */
int rc_net_listen(struct rc_net *net);

/* The two halves of the batch end around the group commit (node.h runs
 * them for every attached net). resume: connections paused for
 * backpressure whose output drained parse what they buffered. flush:
 * every pending reply goes out, one write per connection; returns 1 when
 * a connection resumed during the flush produced replies that wait for
 * the next flush, else 0. Both are no-ops on a net that is shut down. */
void rc_net_resume(struct rc_net *net);
int rc_net_flush(struct rc_net *net);

/* Only inside handler->parse: reserves the reply position of the
 * request being handled. NULL when out of memory. The slot must be
 * completed exactly once, even if the client is gone by then. */
struct rc_net_slot *rc_net_defer(struct rc_net *net);

/* Only inside handler->parse: the client-auth state of the connection
 * being served, for the front end, which answers AUTH; --auth-timeout
 * watches the same state. */
struct rc_auth_conn *rc_net_current_auth(struct rc_net *net);

/* Only inside handler->parse: the id of the connection being served, as
 * the net's log lines name it. */
uint64_t rc_net_current_id(struct rc_net *net);

/* What CLIENT LIST shows of a connection (rc_net_conns_each). */
struct rc_net_conn_info {
    uint64_t id;         /* the net's connection id (as the logs name it) */
    char addr[64];       /* peer ip:port */
    char laddr[64];      /* local ip:port */
    int fd;
    uint64_t age_s;      /* since accepted */
    uint64_t idle_s;     /* since the last bytes received */
    size_t qbuf;         /* input buffered, not yet parsed */
    size_t obl;          /* reply bytes held (queued, being written, waiting in slots) */
    int nslots;          /* deferred replies outstanding */
    void *pstate;        /* the handler's state (borrowed for the call) */
};

/* Calls fn for every open connection (not those closing); fn returning
 * nonzero stops the walk. */
void rc_net_conns_each(struct rc_net *net, int (*fn)(void *arg, const struct rc_net_conn_info *ci),
                       void *arg);

/* Only inside handler->parse: the connection being served, as above. */
int rc_net_current_info(struct rc_net *net, struct rc_net_conn_info *ci);

/* Closes the connection with this id: at once, or, the one being served,
 * once the reply being produced is sent (1 is returned then: the handler
 * answers RC_NET_CLOSE). 0 when closed, RC_ENOTFOUND when there is none. */
int rc_net_kill(struct rc_net *net, uint64_t id);

/*
 * Capture, for a front end that runs commands one after another outside
 * its parse hook and gathers their replies (RESP's EXEC). While set,
 * rc_net_defer returns a slot that belongs to no connection: completing
 * it calls cb(arg, reply bytes, len) with the slot's bytes (p NULL when
 * encoding failed) instead of queueing them; the slot is then released.
 * Set around one handler call; rc_net_capture_end restores what was set
 * before (saved by rc_net_capture), so a capture may begin inside another
 * one (a transaction's command completing inside another's handler).
 */
struct rc_net_capture_saved {
    void (*cb)(void *arg, const uint8_t *p, size_t len);
    void *arg;
    void *current;
};
/* conn: the handler state of the connection the commands run for (what
 * rc_net_current_auth/id/info answer meanwhile), NULL once it is gone. */
void rc_net_capture(struct rc_net *net, void (*cb)(void *arg, const uint8_t *p, size_t len),
                    void *arg, void *conn, struct rc_net_capture_saved *saved);
void rc_net_capture_end(struct rc_net *net, const struct rc_net_capture_saved *saved);

/* The handler no longer holds conn (its state, as parse got it) after
 * returning RC_NET_HOLD: it parses again at the batch end. Needed when
 * what it waited for was not one of the connection's own slots (a
 * captured one). */
void rc_net_wake(struct rc_net *net, void *conn);

/* Sends bytes already encoded in the connection's protocol (copied)
 * through the slot, in order, and releases the slot. */
void rc_net_complete_bytes(struct rc_net_slot *slot, const void *bytes, size_t len);

/* The same without a copy, for a front end that encodes straight into the
 * slot: rc_net_slot_begin returns the buffer to append the reply to, or
 * NULL when the client is gone (the slot is then released: nothing more to
 * do); rc_net_slot_end(slot, rv) sends it (rv 0) or, when encoding failed
 * (rv < 0), closes the connection. */
struct rc_buf *rc_net_slot_begin(struct rc_net_slot *slot);
void rc_net_slot_end(struct rc_net_slot *slot, int rv);

/* The key list (opts.keys) was changed in place: connections opened with
 * a key no longer in it stop reading, send the replies they owe, and
 * close (their peer reconnects with its current key). */
void rc_net_keys_changed(struct rc_net *net);

/* Stops accepting, stops reading, flushes pending replies, then closes
 * every connection (forcibly after shutdown_ms). cb runs once all handles
 * are closed. */
void rc_net_shutdown(struct rc_net *net, void (*cb)(void *arg), void *arg);

void rc_net_stats(const struct rc_net *net, struct rc_net_stats *st);

/* Frees the net; only after shutdown completed (or if never listened). */
void rc_net_free(struct rc_net *net);

#endif
