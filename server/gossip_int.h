/*
 * gossip_int.h - the gossip state shared by gossip.c, gossip_pp.c and
 * gossip_clock.c only.
 *
 * gossip.c owns the UDP socket, name lookups, the SWIM timer, housekeeping
 * and the life cycle; gossip_pp.c the push-pull over TCP (both sides);
 * gossip_clock.c the clock estimates and their reports. All three work on
 * one struct rc_gossip, laid out here; nothing outside server/gossip*.c
 * includes this file.
 */
#ifndef RC_GOSSIP_INT_H
#define RC_GOSSIP_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "channel.h"
#include "codec.h"
#include "gossip.h"

/* Largest UDP payload: anything over RC_SWIM_MAX_DGRAM is rejected by the
 * decoder, but reading it whole keeps a truncated tail from being parsed. */
#define RECV_BUF (64 * 1024)

struct seed {
    char host[RC_HOST_MAX];
    uint16_t port;
};

/* A sealed datagram is the SWIM datagram plus the seal's header and tag. */
#define WIRE_DGRAM_MAX (RC_SWIM_MAX_DGRAM + RC_SEAL_DGRAM_OVERHEAD)

struct queued {
    uint16_t port;
    uint16_t len;
    uint8_t data[WIRE_DGRAM_MAX];
};

/* One cached host name (gossip.c). Owned by the gossip; freed at rc_gossip_free or
 * when evicted (never while its lookup runs). */
struct dns_entry {
    uv_getaddrinfo_t req;
    struct rc_gossip *g;
    struct dns_entry *next;
    char host[RC_HOST_MAX];
    struct sockaddr_storage addr; /* port 0; set per send */
    int have_addr, resolving, failed;
    uint64_t expires, last_used;
    uint32_t nq;
    struct queued q[RC_GOSSIP_DNS_QUEUE];
};

enum pp_state { PP_IDLE, PP_CONNECTING, PP_WRITING, PP_READING, PP_CLOSING };

/* The outgoing push-pull exchange (gossip_pp.c). */
struct pp {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    uv_timer_t timer;
    enum pp_state state;
    struct rc_buf wbuf, sbuf; /* the request frame; our state while encoding it */
    struct rc_decoder dec;
    /* The reply as received; with a cluster key also the wire (sout: the
     * hello, then the sealed request). */
    struct rc_channel ch;
    uv_write_t wreq2;
    int sent;
    char host[RC_HOST_MAX];
    uint16_t port;
    uint32_t id;
    uint64_t sent_ms, sent_wall; /* state encoded (uv_now, wall clock) */
};

struct rc_gossip {
    uv_loop_t *loop;
    uv_udp_t udp;
    uv_timer_t tick_timer;
    uv_timer_t maint_timer;
    struct pp pp;
    struct rc_gossip_cb cb;
    const struct rc_log *log;
    struct rc_swim *swim;
    struct rc_swim_out out;
    struct rc_member self;
    char bind[RC_HOST_MAX];
    int family; /* of the UDP socket; lookups ask for the same */
    struct seed seeds[RC_GOSSIP_MAX_SEEDS];
    uint32_t nseeds, seed_cursor;
    uint32_t push_pull_ms;
    uint64_t rng;
    uint64_t deadline; /* when tick_timer is due, uv_now clock */
    int deferred;
    struct dns_entry *dns;
    uint32_t ndns, dns_inflight;
    uint64_t next_join, join_backoff, alone_since, next_pp;
    uint32_t pp_rounds;
    int joined_once;
    int synced; /* a full-state exchange with a peer completed (rc_gossip_synced) */
    void (*leave_cb)(void *arg);
    void *leave_arg;
    uint64_t leave_deadline;
    void (*closed_cb)(void *arg);
    void *closed_arg;
    int started, closing, handles_open;
    const struct rc_seal_keys *keys;
    struct rc_seal_stats *sstats, own_stats;
    struct rc_seal_dgram sd;
    struct rc_channel_log refused_log; /* traffic refused for the cluster key */
    /* Clocks: offsets per member, the cached summary, and what the log
     * last said (gossip_clock.c). */
    struct rc_skew skew;
    struct rc_skew_view clock;
    uint64_t clock_next;
    int clock_warn_kind; /* 0 nothing, 1 two nodes disagree, 2 ours is off */
    uint64_t clock_warn_ms, peer_warn_id, peer_warn_ms;
    uint64_t skew_log_ms;
    uint32_t skew_suppressed;
    uint8_t rbuf[RECV_BUF];
    uint8_t plain[RECV_BUF];
    uint8_t sealed_out[WIRE_DGRAM_MAX];
};

/* 1 when there is a cluster key: datagrams and push-pull are sealed. */
static inline int keyed(const struct rc_gossip *g)
{
    return g->keys != NULL && g->keys->n > 0;
}

/* Unix ms: datagram timestamps are compared across nodes. */
static inline uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

static inline uint64_t rng_next(struct rc_gossip *g)
{
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 7;
    g->rng ^= g->rng << 17;
    return g->rng;
}

/* ---- gossip.c ------------------------------------------------------------ */

/* Sets the SWIM timer to the state machine's next deadline. */
void gossip_reschedule(struct rc_gossip *g);

/* Once per process life: notes the first full-state exchange with a peer
 * (rc_gossip_synced) and logs it. */
void gossip_mark_synced(struct rc_gossip *g);

/* Rate-limited warning about traffic refused for the cluster key. */
void gossip_auth_log(struct rc_gossip *g, const char *what, const char *host, unsigned port,
                     const char *why);

/* IP literal -> sockaddr with port. 0 or an error for names. */
int gossip_numeric_addr(const char *host, uint16_t port, struct sockaddr_storage *sa);

/* 1 for "", "0.0.0.0" and "::". */
int gossip_is_wildcard(const char *a);

/* Where host:port is, now: 1 with *sa set, 0 when a lookup must finish
 * first (started if needed; *entry is its cache entry), -1 when it cannot
 * be known. */
int gossip_address_of(struct rc_gossip *g, const char *host, uint16_t port,
                      struct sockaddr_storage *sa, struct dns_entry **entry);

/* ---- gossip_pp.c --------------------------------------------------------- */

/* Buffers and decoder of the push-pull client: 0 or an error. Undone by
 * gossip_pp_free. */
int gossip_pp_init(struct rc_gossip *g);
void gossip_pp_free(struct rc_gossip *g);

/* Starts a push-pull with host:port unless one is running or the name is
 * still being looked up (the next round retries). */
void gossip_pp_start(struct rc_gossip *g, const char *host, uint16_t port);

/* One push-pull round: with a random live member, or every
 * RC_GOSSIP_SEED_PUSH_PULL_EVERY rounds with the next seed. */
void gossip_pp_round(struct rc_gossip *g);

/* Closing: abandons a running exchange (its socket is one of the handles
 * counted in handles_open). */
void gossip_pp_abort(struct rc_gossip *g);

/* ---- gossip_clock.c ------------------------------------------------------ */

/* Rate-limited note that a peer's traffic was refused for its stamp. */
void gossip_skew_log(struct rc_gossip *g, const char *what, uint64_t from, int64_t off);

/* Takes a one-way clock sample from a stamp (see gossip_clock.c): 1 when
 * it is beyond the seal window and there is a cluster key; *off is the
 * stamp minus our clock. */
int gossip_oneway_sample(struct rc_gossip *g, uint64_t from, uint64_t stamp, int datagram,
                         int64_t *off);

/* Recomputes the cached clock summary and logs whose clock is off, at most
 * every RC_GOSSIP_CLOCK_CHECK_MS (the housekeeping timer calls it). */
void gossip_clock_check(struct rc_gossip *g, uint64_t now);

/* rc_swim_config.clock_sample (arg is the gossip): a round-trip sample
 * from a probe. */
void gossip_clock_sample(void *arg, uint64_t id, int64_t offset_ms, uint32_t rtt_ms);

#endif
