/*
 * cli_views_watch.c - ringcache-cli watch: the poll loop.
 *
 * watch polls the whole cluster (MEMBERS from one node, ACTIVITY and STATS
 * from every alive member on kept connections with short timeouts), merges
 * what the nodes report, and hands each round to cli_views_screen.c, which
 * redraws a terminal screen in place or prints one JSON line per change.
 */
#include "cli_views_watch.h"

#include "err.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Streams kept from one poll of the whole cluster: far above any real
 * rebalance (a node streams to a few members), it bounds the ~140 bytes
 * kept per stream whatever the nodes send. */
#define W_MAX_STREAMS 16384
/* Events accepted in one ACTIVITY (servers keep 64). */
#define W_NODE_EVENTS 256
/* Per member per poll: a connect and one pipelined ACTIVITY + STATS.
 * 300 ms is far above a healthy node's millisecond, and keeps a poll with
 * an unreachable member within the 500 ms default interval. */
#define W_TIMEOUT_MS 300
/* A member that cannot be connected is retried after 1 s, doubling to
 * 8 s, so black-holed members do not stretch every poll; a change of its
 * state or incarnation (it came back) retries it at once. */
#define W_RETRY_MIN_MS 1000
#define W_RETRY_MAX_MS 8000
/* STATS, which carries the key counts, is asked every 5 s. A node answers
 * it after counting the keys in every range it owns (at most every 2 s),
 * its event loop blocked meanwhile: 0.1 s for 100k keys, up to 1 s while
 * it rebalances. So a node whose STATS took t is asked again after 20 t
 * at the soonest: a watcher takes at most ~5% of a node's time. */
#define W_STATS_MS 5000
#define W_STATS_SHARE 20
/* The same event text from several nodes within 10 s is one event: every
 * node logs each membership change it sees, within a gossip round or so. */
#define W_MERGE_MS 10000

/* Set by SIGINT/SIGTERM while watch runs. The one global of the CLI, and
 * the one acceptable kind: a signal handler can only reach a
 * sig_atomic_t with static storage. */
static volatile sig_atomic_t watch_stop;

/* The top level while decoding; the pointers are into the zone. */
struct act_doc {
    const msgpack_object *rebalance, *streams, *events;
};

static const struct rc_mpdoc_field act_fields[] = {
    VF(act_doc, "rebalance", MAP, rebalance, 0),
    VF(act_doc, "streams", ARRAY, streams, 0),
    VF(act_doc, "events", ARRAY, events, 0),
};

static const struct rc_mpdoc_field act_summary_fields[] = {
    VF(act_summary, "running", BOOL, running, 0),
    VF_STR(act_summary, "cause", TEXT, cause),
    VF(act_summary, "started_ms", UINT, started_ms, INT64_MAX),
    VF(act_summary, "ranges", UINT, ranges, UINT64_MAX),
    VF(act_summary, "ranges_done", UINT, ranges_done, UINT64_MAX),
    VF(act_summary, "keys_out", UINT, keys_out, UINT64_MAX),
    VF(act_summary, "bytes_out", UINT, bytes_out, UINT64_MAX),
    VF(act_summary, "keys_in", UINT, keys_in, UINT64_MAX),
    VF(act_summary, "bytes_in", UINT, bytes_in, UINT64_MAX),
    VF(act_summary, "rebalances", UINT, rebalances, UINT64_MAX),
    VF(act_summary, "keys_dropped", UINT, keys_dropped, UINT64_MAX),
};

static const struct rc_mpdoc_field act_stream_fields[] = {
    VF_STR(act_stream, "to", ID, to),
    VF_STR(act_stream, "to_addr", TEXT, to_addr),
    VF(act_stream, "ranges", UINT, ranges, UINT64_MAX),
    VF(act_stream, "ranges_done", UINT, ranges_done, UINT64_MAX),
    VF(act_stream, "ranges_in_place", UINT, ranges_in_place, UINT64_MAX),
    VF(act_stream, "keys", UINT, keys, UINT64_MAX),
    VF(act_stream, "bytes", UINT, bytes, UINT64_MAX),
    VF(act_stream, "bytes_per_s", UFLOAT, rate, UINT64_MAX),
    VF(act_stream, "eta_s", FLOAT, eta, 0),
    VF_OPT(act_stream, "failures", UINT, failures, UINT64_MAX),
    VF_OPT_STR(act_stream, "last_error", TEXT, last_error),
};

/* Unix ms, so never negative: differences of two cannot overflow. */
static const struct rc_mpdoc_field act_event_fields[] = {
    VF(act_event, "ms", UINT, ms, INT64_MAX),
    VF_STR(act_event, "text", TEXT, text),
};


static void on_stop(int sig)
{
    (void)sig;
    watch_stop = 1;
}

int64_t cli_watch_clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* FNV-1a, 64 bits: change detection and event identity, not security. */
uint64_t cli_watch_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Members polled: those on the ring. A suspect one is often just busy. */
int cli_watch_asked(const struct w_node *nd)
{
    return strcmp(nd->m.state, "alive") == 0 || strcmp(nd->m.state, "suspect") == 0;
}

/* Retry delay after the fails-th failure in a row. */
static int64_t retry_delay(int fails)
{
    int64_t d = (int64_t)W_RETRY_MIN_MS << (fails < 3 ? fails : 3);

    return d < W_RETRY_MAX_MS ? d : W_RETRY_MAX_MS;
}

static void forget_activity(struct w_node *nd)
{
    nd->reachable = nd->has_act = 0;
    memset(&nd->rb, 0, sizeof(nd->rb));
    free(nd->streams);
    nd->streams = NULL;
    nd->nstreams = 0;
}

static void forget_counts(struct w_node *nd)
{
    nd->keys = nd->keys_primary = nd->keys_replica = nd->rf = -1;
    nd->stats_at = 0;
    cli_views_mem_init(&nd->mem);
    cli_views_mem_init(&nd->prev);
    nd->mem_ms = nd->prev_ms = 0;
}

/* Closes the connection after err (0: no error, the member left). */
static void node_close(struct w_node *nd, int err)
{
    forget_activity(nd);
    forget_counts(nd);
    rc_client_free(nd->c);
    nd->c = NULL;
    nd->err = err;
}

struct w_node *cli_watch_find_node(struct watch *w, const char *id)
{
    size_t i;

    for (i = 0; i < w->n; i++)
        if (strcmp(w->nodes[i].m.id, id) == 0)
            return &w->nodes[i];
    return NULL;
}

/* MEMBERS over c; *broken says c is unusable after an error. */
static int members_from(struct rc_client *c, struct view *v, int *broken, char *err,
                        size_t errlen)
{
    struct rc_result res;
    char detail[160];
    int rv;

    memset(&res, 0, sizeof(res));
    rv = rc_client_members(c, &res);
    if (rv < 0) {
        snprintf(err, errlen, "MEMBERS: %s",
                 res.message != NULL && res.message[0] ? res.message : rc_client_strerror(rv));
        *broken = rv != res.err; /* not the server's answer: the connection failed */
        return rv;
    }
    rv = cli_views_decode(RC_CLIENT_MEMBERS, res.value, res.has_value ? res.value_len : 0, v,
                          detail, sizeof(detail));
    if (rv < 0)
        snprintf(err, errlen, "bad MEMBERS reply: %s", detail);
    return rv;
}

/*
 * The membership, from o->server if it answers, else from any member that
 * answered the last poll, so the view outlives the node it started with.
 * The first contact uses the caller's timeouts and has no fallback.
 */
static int fetch_members(struct watch *w, int first, struct view *v, char *err, size_t errlen)
{
    struct rc_client_opts o = first && w->o->copts ? *w->o->copts : w->popts;
    char detail[200];
    size_t i;
    int rv = 0, broken = 0;

    o.max_reply = RC_CLI_VIEW_MAX_REPLY;
    if (w->seed == NULL && cli_watch_clock_ms(CLOCK_MONOTONIC) >= w->seed_retry_at) {
        w->seed_err = rc_client_connect(w->o->server, &o, &w->seed);
        if (w->seed_err < 0)
            w->seed_retry_at = cli_watch_clock_ms(CLOCK_MONOTONIC) + retry_delay(w->seed_fails++);
    }
    if (w->seed == NULL) {
        rv = w->seed_err;
        snprintf(detail, sizeof(detail), "%s", rc_client_strerror(rv));
    } else {
        rv = members_from(w->seed, v, &broken, detail, sizeof(detail));
        w->seed_fails = 0;
        if (rv == 0) {
            snprintf(w->via, sizeof(w->via), "%s", w->o->server);
            return 0;
        }
        if (broken) {
            rc_client_free(w->seed);
            w->seed = NULL;
        }
    }
    snprintf(err, errlen, "%.100s: %s", w->o->server, detail);
    for (i = 0; !first && i < w->n; i++) {
        if (w->nodes[i].c == NULL || !w->nodes[i].reachable)
            continue;
        if (members_from(w->nodes[i].c, v, &broken, detail, sizeof(detail)) == 0) {
            snprintf(w->via, sizeof(w->via), "%s", w->nodes[i].m.addr);
            return 0;
        }
        if (broken) {
            rc_client_free(w->nodes[i].c); /* the probe reconnects */
            w->nodes[i].c = NULL;
        }
    }
    return rv < 0 ? rv : RC_EPROTO;
}

/* Takes the new member list, keeping what is known of members seen before. */
static void adopt(struct watch *w, const struct view *v)
{
    size_t i, j, n = v->n < W_MAX_MEMBERS ? v->n : W_MAX_MEMBERS;
    const struct view_member *m;
    struct w_node *nd, *tmp;

    for (i = 0; i < n; i++) {
        m = &v->m[i];
        nd = &w->spare[i];
        for (j = 0; j < w->n && strcmp(w->nodes[j].m.id, m->id) != 0; j++)
            ;
        if (j < w->n) {
            *nd = w->nodes[j];
            w->nodes[j].m.id[0] = '\0'; /* taken: a repeated id gets a fresh slot */
            if (strcmp(nd->m.state, m->state) != 0 || nd->m.incarnation != m->incarnation)
                nd->retry_at = 0; /* it changed: worth a try at once */
        } else {
            memset(nd, 0, sizeof(*nd));
            forget_counts(nd);
        }
        nd->m = *m;
    }
    for (j = 0; j < w->n; j++)
        if (w->nodes[j].m.id[0] != '\0')
            node_close(&w->nodes[j], 0);
    tmp = w->nodes;
    w->nodes = w->spare;
    w->spare = tmp;
    w->n = n;
    w->beyond = v->n - n;
}

/* Adds one event to the merged, time-ordered list, unless it is known. */
static void add_event(struct watch *w, const char *src, const struct act_event *e)
{
    uint64_t h = FNV_STR(FNV_INIT, e->text);
    struct w_event *x, *near = NULL;
    int64_t d, best = W_MERGE_MS + 1;
    size_t i, at;

    for (i = 0; i < w->nev; i++) {
        x = &w->ev[i];
        if (x->hash != h || strcmp(x->text, e->text) != 0)
            continue;
        if (strcmp(x->src, src) == 0) {
            if (x->ms == e->ms)
                return; /* seen before */
            continue;
        }
        d = x->ms > e->ms ? x->ms - e->ms : e->ms - x->ms;
        if (d < best) {
            best = d;
            near = x; /* the closest in time, should one text recur */
        }
    }
    if (near != NULL) {
        near->nodes++;
        return;
    }
    if (w->nev == W_MAX_EVENTS) {
        if (e->ms < w->ev[0].ms)
            return; /* older than everything kept */
        memmove(&w->ev[0], &w->ev[1], (w->nev - 1) * sizeof(w->ev[0]));
        w->nev--;
    }
    for (at = w->nev; at > 0 && w->ev[at - 1].ms > e->ms; at--)
        ;
    memmove(&w->ev[at + 1], &w->ev[at], (w->nev - at) * sizeof(w->ev[0]));
    x = &w->ev[at];
    x->ms = e->ms;
    x->hash = h;
    memcpy(x->src, src, sizeof(x->src));
    memcpy(x->text, e->text, sizeof(x->text));
    x->nodes = 1;
    x->emitted = 0;
    w->nev++;
}

/* A node's events, oldest first: those after the last one taken from it
 * (all of them when it is not among them: a restart, or more than a
 * server keeps happened between two polls). */
static void merge_events(struct watch *w, struct w_node *nd, const struct act_event *ev,
                         size_t n)
{
    size_t i, start = 0;

    if (n == 0)
        return;
    for (i = n; nd->has_mark && i-- > 0;) {
        if (ev[i].ms == nd->mark_ms && FNV_STR(FNV_INIT, ev[i].text) == nd->mark_hash) {
            start = i + 1;
            break;
        }
    }
    for (i = start; i < n; i++)
        add_event(w, nd->m.id, &ev[i]);
    nd->has_mark = 1;
    nd->mark_ms = ev[n - 1].ms;
    nd->mark_hash = FNV_STR(FNV_INIT, ev[n - 1].text);
}

/* An ACTIVITY reply: the node's summary and streams replace the last
 * ones, its events are merged. A malformed one leaves has_act 0. */
static void take_activity(struct watch *w, struct w_node *nd, const struct rc_result *res)
{
    struct act_doc doc = {0};
    struct act_summary sum;
    msgpack_zone zone;
    msgpack_object obj;
    void *streams = NULL, *events = NULL;
    size_t ns = 0, ne = 0;
    char err[160];
    int rv;

    memset(&sum, 0, sizeof(sum));
    if (!msgpack_zone_init(&zone, ZONE_CHUNK))
        return;
    rv = rc_mpdoc_unpack(res->value, res->has_value ? res->value_len : 0, &zone, &obj, err,
                         sizeof(err));
    if (rv == 0)
        rv = rc_mpdoc_map(&obj, act_fields, NFIELDS(act_fields), &doc, err, sizeof(err));
    if (rv == 0)
        rv = rc_mpdoc_map(doc.rebalance, act_summary_fields, NFIELDS(act_summary_fields), &sum,
                          err, sizeof(err));
    if (rv == 0)
        rv = rc_mpdoc_array(doc.streams, act_stream_fields, NFIELDS(act_stream_fields),
                            sizeof(struct act_stream), W_MAX_STREAMS - w->nstreams, "stream",
                            &streams, &ns, err, sizeof(err));
    if (rv == 0)
        rv = rc_mpdoc_array(doc.events, act_event_fields, NFIELDS(act_event_fields),
                            sizeof(struct act_event), W_NODE_EVENTS, "event", &events, &ne, err,
                            sizeof(err));
    msgpack_zone_destroy(&zone);
    if (rv == 0) {
        nd->has_act = 1;
        nd->rb = sum;
        nd->streams = streams;
        nd->nstreams = ns;
        w->nstreams += ns;
        merge_events(w, nd, events, ne);
    } else {
        free(streams);
    }
    free(events);
}

double cli_watch_evict_rate(const struct w_node *nd)
{
    int64_t dt = nd->mem_ms - nd->prev_ms;

    if (nd->prev_ms == 0 || dt <= 0 || nd->mem.evicted < 0 || nd->prev.evicted < 0 ||
        nd->mem.evicted < nd->prev.evicted) /* a restart */
        return -1;
    return (double)(nd->mem.evicted - nd->prev.evicted) * 1000 / (double)dt;
}

void cli_watch_hit_ratio(const struct w_node *nd, char *buf, size_t len)
{
    if (nd->prev_ms == 0 || nd->prev.hits < 0 || nd->prev.misses < 0 ||
        nd->mem.hits < nd->prev.hits || nd->mem.misses < nd->prev.misses)
        snprintf(buf, len, "-");
    else
        cli_views_fmt_ratio(nd->mem.hits - nd->prev.hits, nd->mem.misses - nd->prev.misses, buf,
                            len);
}

static void take_stats(struct w_node *nd, const struct rc_result *res)
{
    static const char *const names[] = {"keys", "keys_primary", "keys_replica",
                                        "replication_factor"};
    int64_t *dst[] = {&nd->keys, &nd->keys_primary, &nd->keys_replica, &nd->rf};
    size_t i, j;

    for (i = 0; i < res->nstats; i++)
        for (j = 0; j < sizeof(names) / sizeof(names[0]); j++)
            if (!res->stats[i].is_str && res->stats[i].num >= 0 &&
                strcmp(res->stats[i].name, names[j]) == 0)
                *dst[j] = res->stats[i].num;
    /* Rates between this STATS and the last: evictions per second and the
     * hit ratio of the reads in between (cli_views_screen.c). */
    nd->prev = nd->mem;
    nd->prev_ms = nd->mem_ms;
    cli_views_mem_init(&nd->mem);
    cli_views_mem_take(&nd->mem, res);
    nd->mem_ms = cli_watch_clock_ms(CLOCK_MONOTONIC);
}

/* One member: ACTIVITY, and STATS when due, pipelined on its kept
 * connection. Counts survive a poll without STATS; a failure clears them. */
static void probe(struct watch *w, struct w_node *nd)
{
    int64_t t0 = cli_watch_clock_ms(CLOCK_MONOTONIC), cost;
    struct rc_result res;
    int rv, stats;

    forget_activity(nd);
    if (!cli_watch_asked(nd) || nd->m.port == 0 || !cli_views_dialable(nd->m.host)) {
        node_close(nd, 0);
        return;
    }
    if (nd->c == NULL && t0 < nd->retry_at)
        return; /* still failed: err says how */
    if (nd->c == NULL && (rv = rc_client_connect(nd->m.addr, &w->popts, &nd->c)) < 0) {
        node_close(nd, rv);
        nd->retry_at = t0 + retry_delay(nd->fails++);
        return;
    }
    stats = t0 >= nd->stats_at;
    rv = rc_client_send(nd->c, RC_CLIENT_ACTIVITY, NULL, 0, NULL, 0, 0, RC_CLIENT_CL_DEFAULT);
    if (rv == 0 && stats)
        rv = rc_client_send(nd->c, RC_CLIENT_STATS, NULL, 0, NULL, 0, 0, RC_CLIENT_CL_DEFAULT);
    if (rv == 0)
        rv = rc_client_recv(nd->c, &res);
    if (rv == 0 && res.err == 0)
        take_activity(w, nd, &res); /* before the next recv reuses res's bytes */
    if (rv == 0 && stats)
        rv = rc_client_recv(nd->c, &res);
    if (rv < 0) {
        node_close(nd, rv); /* a slow node is asked again next poll */
        return;
    }
    nd->fails = nd->err = 0;
    nd->reachable = 1;
    if (stats) {
        cost = (cli_watch_clock_ms(CLOCK_MONOTONIC) - t0) * W_STATS_SHARE;
        nd->stats_at = t0 + (cost > W_STATS_MS ? cost : W_STATS_MS);
        if (res.err == 0)
            take_stats(nd, &res);
    }
}

/* Streams in progress to and from each member. */
static void flows(struct watch *w)
{
    const struct act_stream *s;
    struct w_node *nd, *to;
    size_t i, j;

    for (i = 0; i < w->n; i++) {
        nd = &w->nodes[i];
        nd->in = nd->out = 0;
        nd->in_rate = nd->out_rate = 0;
    }
    for (i = 0; i < w->n; i++) {
        nd = &w->nodes[i];
        for (j = 0; j < nd->nstreams; j++) {
            s = &nd->streams[j];
            if (s->ranges_done >= s->ranges)
                continue;
            nd->out++;
            nd->out_rate += s->rate;
            if ((to = cli_watch_find_node(w, s->to)) != NULL) {
                to->in++;
                to->in_rate += s->rate;
            }
        }
    }
}

static int poll_round(struct watch *w, int first, char *err, size_t errlen)
{
    struct view v;
    size_t i;
    int rv;

    memset(&v, 0, sizeof(v));
    rv = fetch_members(w, first, &v, w->merr, sizeof(w->merr));
    if (rv < 0 && first) {
        snprintf(err, errlen, "%s", w->merr);
        return rv;
    }
    w->stale = rv < 0;
    if (rv == 0)
        adopt(w, &v);
    free(v.m);
    w->nstreams = 0;
    for (i = 0; i < w->n && !watch_stop; i++)
        probe(w, &w->nodes[i]); /* stopped: nothing more is shown */
    flows(w);
    return 0;
}

static void sleep_until(int64_t t)
{
    struct timespec ts;
    int64_t left;

    /* A signal cuts the sleep short (no SA_RESTART): the flag is seen. */
    while (!watch_stop && (left = t - cli_watch_clock_ms(CLOCK_MONOTONIC)) > 0) {
        ts.tv_sec = (time_t)(left / 1000);
        ts.tv_nsec = (long)(left % 1000) * 1000000;
        nanosleep(&ts, NULL);
    }
}

static void watch_free(struct watch *w)
{
    size_t i;

    for (i = 0; i < w->n; i++)
        node_close(&w->nodes[i], 0);
    rc_client_free(w->seed);
    free(w->nodes);
    free(w->spare);
    free(w);
}

static struct watch *watch_new(const struct rc_cli_watch_opts *o)
{
    struct watch *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->nodes = calloc(W_MAX_MEMBERS, sizeof(*w->nodes));
    w->spare = calloc(W_MAX_MEMBERS, sizeof(*w->spare));
    if (w->nodes == NULL || w->spare == NULL) {
        watch_free(w);
        return NULL;
    }
    w->o = o;
    w->popts.connect_timeout_ms = w->popts.io_timeout_ms = W_TIMEOUT_MS;
    if (o->timeout_ms > 0 && o->timeout_ms < W_TIMEOUT_MS)
        w->popts.connect_timeout_ms = w->popts.io_timeout_ms = o->timeout_ms;
    w->popts.max_reply = RC_CLI_VIEW_MAX_REPLY; /* MEMBERS, when o->server is gone */
    w->popts.password = o->copts != NULL ? o->copts->password : NULL;
    w->tty = !o->json && isatty(STDOUT_FILENO);
    return w;
}

/* Polls and shows until stopped. RC_EIO when stdout fails. */
static int watch_run(struct watch *w, char *err, size_t errlen)
{
    int64_t started = cli_watch_clock_ms(CLOCK_MONOTONIC);

    for (;;) {
        if (w->tty)
            cli_watch_tty_frame(w);
        else
            cli_watch_json_line(w);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            snprintf(err, errlen, "cannot write to stdout: %s", strerror(errno));
            return RC_EIO;
        }
        sleep_until(started + w->o->interval_ms);
        if (watch_stop)
            return 0;
        started = cli_watch_clock_ms(CLOCK_MONOTONIC);
        poll_round(w, 0, NULL, 0);
        if (watch_stop)
            return 0;
    }
}

int rc_cli_views_watch(const struct rc_cli_watch_opts *o, char *err, size_t errlen)
{
    struct sigaction sa, old_int, old_term;
    struct watch *w;
    int rv;

    w = watch_new(o);
    if (w == NULL) {
        snprintf(err, errlen, "%s", rc_client_strerror(RC_ENOMEM));
        return RC_ENOMEM;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    watch_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rv = poll_round(w, 1, err, errlen);
    if (rv == 0)
        rv = watch_run(w, err, errlen);
    if (w->tty && w->frames > 0) {
        fputs("\x1b[?25h", stdout); /* the cursor back */
        fflush(stdout);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    watch_free(w);
    return rv;
}
