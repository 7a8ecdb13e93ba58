/*
 * cli_views_watch.h - the state of ringcache-cli's watch view, shared by
 * the poller (cli_views_watch.c) and the screen that shows it
 * (cli_views_screen.c). Internal to those two files.
 */
#ifndef RC_CLI_VIEWS_WATCH_H
#define RC_CLI_VIEWS_WATCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cli_views_int.h"

/* Members watched: the gossip table's size (RC_SWIM_MAX_MEMBERS); a
 * longer list is counted, not watched. */
#define W_MAX_MEMBERS 1024
/* Merged events remembered: room for a burst without losing the ones on
 * screen. */
#define W_MAX_EVENTS 256
/* Bytes of event text and rebalance cause kept (servers send up to 400):
 * a membership event or a rebalance summary fits on one line. */
#define W_TEXT 200

/* ACTIVITY, as one node reports it (docs/protocol.md). */
struct act_summary {
    int running;
    char cause[W_TEXT];
    uint64_t started_ms, ranges, ranges_done, keys_out, bytes_out, keys_in, bytes_in;
    uint64_t rebalances, keys_dropped;
};

struct act_stream {
    char to[17];
    char to_addr[80]; /* only shown when "to" is not a member we know */
    uint64_t ranges, ranges_done, ranges_in_place, keys, bytes;
    double rate, eta;
    uint64_t failures;   /* attempts in a row that failed (absent from older servers: 0) */
    char last_error[W_TEXT];
};

struct act_event {
    int64_t ms;
    char text[W_TEXT];
};

/* One watched member, kept across polls (matched by id). */
struct w_node {
    struct view_member m; /* as the last MEMBERS had it; m.keys unused */
    struct rc_client *c;  /* kept open between polls, NULL after an error */
    int fails, err;       /* failures in a row, the last one's code */
    int64_t retry_at;     /* monotonic ms: connect again from then on */
    int64_t stats_at;     /* monotonic ms: STATS again from then on */
    int reachable;        /* answered this poll */
    int has_act;          /* with a well-formed ACTIVITY */
    int64_t keys, keys_primary, keys_replica, rf; /* STATS; -1 unknown */
    struct view_mem mem, prev; /* the last two STATS' memory and reads */
    int64_t mem_ms, prev_ms;   /* when they were taken (monotonic ms; 0: not yet) */
    struct act_summary rb;
    struct act_stream *streams;
    size_t nstreams;
    int has_mark;         /* the last event merged from it */
    int64_t mark_ms;
    uint64_t mark_hash;
    int in, out;          /* streams in progress to and from it */
    double in_rate, out_rate;
};

/* An event merged from all nodes: src is the first node that reported it,
 * nodes how many did (within W_MERGE_MS). */
struct w_event {
    int64_t ms;
    uint64_t hash;
    char src[17];
    char text[W_TEXT];
    int nodes, emitted;
};

struct watch {
    const struct rc_cli_watch_opts *o;
    struct rc_client_opts popts; /* probes */
    struct rc_client *seed;      /* o->server, asked for MEMBERS */
    int seed_err, seed_fails;    /* as for a member */
    int64_t seed_retry_at;
    struct w_node *nodes, *spare; /* W_MAX_MEMBERS each, sorted by host:port */
    size_t n, beyond;            /* watched; listed past W_MAX_MEMBERS */
    size_t nstreams;             /* over all nodes, this poll */
    char via[272];               /* who answered the last MEMBERS */
    int stale;                   /* the last MEMBERS failed: err says why */
    char merr[320];
    struct w_event ev[W_MAX_EVENTS]; /* oldest first */
    size_t nev;
    uint64_t sig;                /* of what the last JSON line showed */
    int frames, tty, rows, cols, lines;
};

/* Evictions per second and the hit ratio over the last two STATS of a
 * member: -1 and "-" until two with the figures were taken. */
double cli_watch_evict_rate(const struct w_node *nd);
void cli_watch_hit_ratio(const struct w_node *nd, char *buf, size_t len);

/* CLOCK_MONOTONIC or CLOCK_REALTIME in ms. */
int64_t cli_watch_clock_ms(clockid_t id);

/* FNV-1a, 64 bits: change detection and event identity, not security. */
uint64_t cli_watch_fnv(uint64_t h, const void *p, size_t n);

#define FNV_INIT 0xcbf29ce484222325ull
#define FNV_STR(h, s) cli_watch_fnv((h), (s), strlen(s) + 1)
#define FNV_VAL(h, v) cli_watch_fnv((h), &(v), sizeof(v))

/* Members polled: those on the ring. A suspect one is often just busy. */
int cli_watch_asked(const struct w_node *nd);

/* The watched member with this id, NULL if none. */
struct w_node *cli_watch_find_node(struct watch *w, const char *id);

/* One JSON line on stdout when anything but the moving counters changed. */
void cli_watch_json_line(struct watch *w);

/* Redraws the terminal screen in place. */
void cli_watch_tty_frame(struct watch *w);

#endif
