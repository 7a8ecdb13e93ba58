/*
 * net.h - the client listener and its connections.
 *
 * Reads frames from client connections, hands each decoded request to a
 * handler, and writes the replies back in order. Replies are not sent as
 * they are produced: once per event-loop iteration the handler commits the
 * batch of writes it applied (group commit), and only then are all
 * pending replies flushed, one write per connection. If the commit fails,
 * every write reply of the batch is rewritten into an error before it is
 * sent, so a client is never told "OK" for a write that was lost.
 */
#ifndef RC_NET_H
#define RC_NET_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"
#include "codec.h"
#include "log.h"

struct rc_net;
struct rc_conn;

struct rc_net_handler {
    void *arg;
    /* Handles one request; appends exactly one reply frame to out.
     * Returns 1 when the reply acknowledges a write of the current batch
     * (rewritten to an error if the batch fails), 0 otherwise, or a
     * negative code when no reply could be encoded (connection closed). */
    int (*request)(void *arg, const struct rc_request *req, struct rc_buf *out);
    /* Ends the batch before replies are flushed. 0, or the error that
     * every write reply of the batch must report. */
    int (*commit)(void *arg);
};

struct rc_net_opts {
    const char *bind;      /* address to listen on */
    int port;              /* TCP port */
    int max_conns;         /* further connections get TOO_MANY_CONNS */
    uint32_t max_frame;    /* largest accepted frame body */
    size_t out_high;       /* pending reply bytes at which reading pauses */
    int shutdown_ms;       /* how long shutdown waits for clients to drain */
};

struct rc_net_stats {
    uint64_t conns;          /* open now */
    uint64_t conns_total;    /* accepted since start */
    uint64_t conns_rejected; /* refused over max_conns */
    uint64_t protocol_errors;
};

/* The handler and log are borrowed for the life of the net. */
int rc_net_new(uv_loop_t *loop, const struct rc_net_opts *opts, const struct rc_net_handler *h,
               const struct rc_log *log, struct rc_net **out);

/* Binds and listens. 0 or a libuv error (logged). */
int rc_net_listen(struct rc_net *net);

/* The handler calls this when the store discarded the current batch
 * mid-iteration: write replies produced so far become err. */
void rc_net_fail_batch(struct rc_net *net, int err);

/* Stops accepting, stops reading, flushes pending replies, then closes
 * every connection (forcibly after shutdown_ms). cb runs once all handles
 * are closed. */
void rc_net_shutdown(struct rc_net *net, void (*cb)(void *arg), void *arg);

void rc_net_stats(const struct rc_net *net, struct rc_net_stats *st);

/* Frees the net; only after shutdown completed (or if never listened). */
void rc_net_free(struct rc_net *net);

#endif
