/*
 * cli_views_screen.c - what ringcache-cli watch shows of each poll: one
 * JSON line per change when stdout is not a terminal, else a terminal
 * screen redrawn in place (header, members, streams, events), cut to the
 * terminal's size. Reads the state cli_views_watch.c keeps; changes only
 * what was shown (events emitted, frame and line counts).
 */
#include "cli_views_watch.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define W_SHOW_EVENTS 10 /* on the terminal: the last events */
#define W_SHOW_STREAMS 8 /* and the streams in progress */
#define W_LINE 400    /* widest terminal line drawn */
#define W_BAR 20      /* progress bar */
#define W_ADDR_COL 28 /* address columns are cut to this */

struct totals {
    size_t alive, unreachable, running, active;
    int64_t keys, copies, rf;
    int keys_complete;
    const struct w_node *cause; /* a node rebalancing, for its cause */
};

static void totals(const struct watch *w, struct totals *t)
{
    const struct w_node *nd;
    size_t i;

    memset(t, 0, sizeof(*t));
    t->rf = -1;
    t->keys_complete = 1;
    for (i = 0; i < w->n; i++) {
        nd = &w->nodes[i];
        if (!cli_watch_asked(nd))
            continue;
        t->alive += strcmp(nd->m.state, "alive") == 0;
        t->unreachable += !nd->reachable;
        if (nd->rf >= 0 && t->rf < 0)
            t->rf = nd->rf;
        if (nd->keys_primary >= 0 && nd->keys >= 0) {
            t->keys += nd->keys_primary; /* each key has one primary */
            t->copies += nd->keys;
        } else {
            t->keys_complete = 0;
        }
        if (nd->has_act && nd->rb.running) {
            t->running++;
            t->cause = t->cause ? t->cause : nd;
        }
        t->active += (size_t)nd->out;
    }
}

/* Whatever a JSON line reports except counters that move on their own
 * (keys, bytes, rates): a new line is printed when this changes. */
static uint64_t signature(const struct watch *w)
{
    const struct w_node *nd;
    const struct act_stream *s;
    uint64_t h = FNV_INIT;
    size_t i, j;

    h = FNV_VAL(h, w->stale);
    h = FNV_STR(h, w->via);
    h = FNV_VAL(h, w->beyond);
    for (i = 0; i < w->n; i++) {
        nd = &w->nodes[i];
        h = FNV_STR(FNV_STR(FNV_STR(h, nd->m.id), nd->m.addr), nd->m.state);
        h = FNV_VAL(FNV_VAL(FNV_VAL(h, nd->reachable), nd->has_act), nd->rb.running);
        for (j = 0; j < nd->nstreams; j++) {
            s = &nd->streams[j];
            h = FNV_VAL(FNV_VAL(FNV_VAL(FNV_STR(h, s->to), s->ranges), s->ranges_done), s->keys);
        }
    }
    return h;
}

static void json_members(const struct watch *w)
{
    const struct w_node *nd;
    size_t i;

    fputs(", \"members\": [", stdout);
    for (i = 0; i < w->n; i++) {
        nd = &w->nodes[i];
        printf("%s{\"id\": \"%s\"", i > 0 ? ", " : "", nd->m.id); /* hex digits */
        cli_views_json_text("address", nd->m.addr);
        cli_views_json_text("state", nd->m.state);
        printf(", \"reachable\": %s", nd->reachable ? "true" : "false");
        cli_views_json_text("error", nd->err < 0 ? rc_client_err_name(nd->err) : NULL);
        cli_views_json_count("keys", nd->keys);
        cli_views_json_count("keys_primary", nd->keys_primary);
        cli_views_json_count("keys_replica", nd->keys_replica);
        cli_views_json_mem(&nd->mem);
        printf(", \"primary\": %.6g, \"replica\": %.6g, \"rebalancing\": %s, \"streams_in\": "
               "%d, \"streams_out\": %d}",
               nd->m.primary, nd->m.replica, !nd->has_act ? "null" : nd->rb.running ? "true" : "false",
               nd->in, nd->out);
    }
    fputc(']', stdout);
}

static void json_streams(struct watch *w)
{
    const struct w_node *nd, *to;
    const struct act_stream *s;
    size_t i, j, k = 0;

    fputs(", \"streams\": [", stdout);
    for (i = 0; i < w->n; i++) {
        nd = &w->nodes[i];
        for (j = 0; j < nd->nstreams; j++) {
            s = &nd->streams[j];
            to = cli_watch_find_node(w, s->to);
            printf("%s{\"from\": \"%s\"", k++ > 0 ? ", " : "", nd->m.id);
            cli_views_json_text("from_address", nd->m.addr);
            printf(", \"to\": \"%s\"", s->to);
            cli_views_json_text("to_address", to != NULL ? to->m.addr : s->to_addr);
            printf(", \"ranges\": %llu, \"ranges_done\": %llu, \"ranges_in_place\": %llu, "
                   "\"keys\": %llu, \"bytes\": %llu, \"bytes_per_s\": %.1f, \"eta_s\": %.1f, "
                   "\"failures\": %llu",
                   (unsigned long long)s->ranges, (unsigned long long)s->ranges_done,
                   (unsigned long long)s->ranges_in_place, (unsigned long long)s->keys,
                   (unsigned long long)s->bytes, s->rate, s->eta,
                   (unsigned long long)s->failures);
            cli_views_json_text("last_error", s->last_error);
            fputc('}', stdout);
        }
    }
    fputc(']', stdout);
}

/* Events not printed yet; the first line gets only the last few. */
static void json_events(struct watch *w)
{
    struct w_event *e;
    size_t i, k = 0, from = 0;

    if (w->frames == 0 && w->nev > W_SHOW_EVENTS)
        from = w->nev - W_SHOW_EVENTS;
    fputs(", \"events\": [", stdout);
    for (i = 0; i < w->nev; i++) {
        e = &w->ev[i];
        if (!e->emitted && i >= from) {
            printf("%s{\"ms\": %lld, \"node\": \"%s\"", k++ > 0 ? ", " : "", (long long)e->ms,
                   e->src);
            cli_views_json_text("text", e->text);
            printf(", \"nodes\": %d}", e->nodes);
        }
        e->emitted = 1;
    }
    fputc(']', stdout);
}

/* One line when anything but the moving counters changed. */
void cli_watch_json_line(struct watch *w)
{
    uint64_t sig = signature(w);
    struct totals t;
    size_t i;
    int fresh = 0;

    for (i = 0; i < w->nev && !fresh; i++)
        fresh = !w->ev[i].emitted;
    if (w->frames > 0 && sig == w->sig && !fresh)
        return;
    w->sig = sig;
    totals(w, &t);
    printf("{\"time_ms\": %lld", (long long)cli_watch_clock_ms(CLOCK_REALTIME));
    cli_views_json_text("via", w->via);
    printf(", \"stale\": %s", w->stale ? "true" : "false");
    cli_views_json_text("error", w->stale ? w->merr : NULL);
    printf(", \"members_total\": %zu, \"alive\": %zu, \"unreachable\": %zu", w->n + w->beyond,
           t.alive, t.unreachable);
    cli_views_json_count("rf", t.rf);
    printf(", \"keys\": %lld, \"keys_complete\": %s, \"rebalancing\": %zu", (long long)t.keys,
           t.keys_complete ? "true" : "false", t.running);
    json_members(w);
    json_streams(w);
    json_events(w);
    fputs("}\n", stdout);
    w->frames++;
}

/* ---- watch: terminal ---------------------------------------------------- */

static void fmt_bytes(double b, char *buf, size_t len)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;

    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(buf, len, u == 0 ? "%.0f %s" : "%.1f %s", b, unit[u]);
}

static void fmt_eta(double s, char *buf, size_t len)
{
    long v = s < 1e7 ? (long)(s + 0.5) : 9999999;

    if (s < 0)
        snprintf(buf, len, "?");
    else if (v < 60)
        snprintf(buf, len, "%lds", v);
    else if (v < 3600)
        snprintf(buf, len, "%ldm%02lds", v / 60, v % 60);
    else
        snprintf(buf, len, "%ldh%02ldm", v / 3600, v / 60 % 60);
}

/* Local wall-clock time of a Unix ms; with the milliseconds if ms_too. */
static void fmt_clock(int64_t ms, int ms_too, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL)
        snprintf(buf, len, "?");
    else if (ms_too)
        snprintf(buf, len, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(ms % 1000));
    else
        snprintf(buf, len, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* One screen line, cut to the terminal's width (one column spare, so the
 * cursor never waits at the margin) and to its height; anything that is
 * not printable ASCII becomes '?', so column widths stay true. */
__attribute__((format(printf, 2, 3))) static void tline(struct watch *w, const char *fmt, ...)
{
    char line[W_LINE + 1];
    va_list ap;
    int n, i;

    if (w->lines >= w->rows - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    n = n < 0 ? 0 : n > W_LINE ? W_LINE : n;
    n = n < w->cols - 1 ? n : w->cols - 1;
    for (i = 0; i < n; i++)
        if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f)
            line[i] = '?';
    fwrite(line, 1, (size_t)n, stdout);
    fputs("\x1b[K\n", stdout);
    w->lines++;
}

static void tty_header(struct watch *w, const struct totals *t)
{
    char now[16], since[16], keys[64], rf[24];
    int64_t started = t->running > 0 ? (int64_t)t->cause->rb.started_ms : 0;

    fmt_clock(cli_watch_clock_ms(CLOCK_REALTIME), 0, now, sizeof(now));
    if (t->keys_complete)
        snprintf(keys, sizeof(keys), "%lld (%lld copies)", (long long)t->keys,
                 (long long)t->copies);
    else if (t->keys > 0)
        snprintf(keys, sizeof(keys), ">= %lld (not all answered)", (long long)t->keys);
    else
        snprintf(keys, sizeof(keys), "?");
    snprintf(rf, sizeof(rf), "%lld", (long long)t->rf);
    tline(w, "%s  members %zu, alive %zu, rf %s, keys %s", now, w->n + w->beyond, t->alive,
          t->rf >= 0 ? rf : "?", keys);
    if (w->stale) {
        tline(w, "MEMBERS FAILED (%s); showing the last membership", w->merr);
    } else if (t->running > 0) {
        fmt_eta(started > 0 ? (double)(cli_watch_clock_ms(CLOCK_REALTIME) - started) / 1000 : -1,
                since, sizeof(since));
        tline(w, "rebalancing on %zu node%s, %zu stream%s in progress; %.8s: %s (for %s)",
              t->running, t->running == 1 ? "" : "s", t->active, t->active == 1 ? "" : "s",
              t->cause->m.id, t->cause->rb.cause, since);
    } else {
        tline(w, "no rebalance running; via %s every %d ms, Ctrl-C quits", w->via,
              w->o->interval_ms);
    }
}

static void streaming_text(const struct w_node *nd, char *buf, size_t len)
{
    char in[24], out[24];

    fmt_bytes(nd->in_rate, in, sizeof(in));
    fmt_bytes(nd->out_rate, out, sizeof(out));
    if (!cli_watch_asked(nd))
        snprintf(buf, len, "%s", "");
    else if (!nd->reachable)
        snprintf(buf, len, "unreachable (%s)", nd->err < 0 ? rc_client_strerror(nd->err) : "?");
    else if (!nd->has_act)
        snprintf(buf, len, "(no activity report)");
    else if (nd->in > 0 && nd->out > 0)
        snprintf(buf, len, "in %d @ %s/s, out %d @ %s/s", nd->in, in, nd->out, out);
    else if (nd->in > 0)
        snprintf(buf, len, "in %d @ %s/s", nd->in, in);
    else if (nd->out > 0)
        snprintf(buf, len, "out %d @ %s/s", nd->out, out);
    else
        snprintf(buf, len, "%s", nd->rb.running ? "rebalancing" : "-");
}

static void tty_members(struct watch *w, size_t max_rows)
{
    const struct w_node *nd;
    char keys[24], flow[96], mem[32], ev[24], ratio[16];
    size_t i, shown;
    int aw = 7;
    double rate;

    for (i = 0; i < w->n; i++)
        aw = (int)strlen(w->nodes[i].m.addr) > aw ? (int)strlen(w->nodes[i].m.addr) : aw;
    aw = aw < W_ADDR_COL ? aw : W_ADDR_COL;
    shown = w->n <= max_rows ? w->n : max_rows - 1;
    tline(w, "  %-8s  %-*s  %-7s  %10s  %7s  %7s  %13s  %8s  %6s  %s", "ID", aw, "ADDRESS",
          "STATE", "KEYS", "PRIMARY", "REPLICA", "MEMORY", "EVICT/S", "HIT%", "STREAMING");
    for (i = 0; i < shown; i++) {
        nd = &w->nodes[i];
        snprintf(keys, sizeof(keys), "%lld", (long long)nd->keys);
        streaming_text(nd, flow, sizeof(flow));
        cli_views_fmt_mem(&nd->mem, mem, sizeof(mem));
        rate = cli_watch_evict_rate(nd);
        if (rate < 0)
            snprintf(ev, sizeof(ev), "-");
        else
            snprintf(ev, sizeof(ev), rate < 10 ? "%.1f" : "%.0f", rate);
        cli_watch_hit_ratio(nd, ratio, sizeof(ratio));
        tline(w, "%c %.8s  %-*.*s  %-7s  %10s  %6.1f%%  %6.1f%%  %13s  %8s  %6s  %s",
              nd->m.self ? '*' : ' ', nd->m.id, aw, W_ADDR_COL, nd->m.addr, nd->m.state,
              nd->keys >= 0 ? keys : "-", nd->m.primary * 100, nd->m.replica * 100, mem, ev,
              ratio, flow);
    }
    if (shown < w->n + w->beyond)
        tline(w, "  ... %zu more members (a taller terminal shows more; --json lists all)",
              w->n + w->beyond - shown);
}

static void tty_stream(struct watch *w, const struct w_node *from, const struct act_stream *s)
{
    const struct w_node *to = cli_watch_find_node(w, s->to);
    char ranges[48], bytes[24], rate[24], eta[24], bar[W_BAR + 1];
    double frac = s->ranges > 0 ? (double)s->ranges_done / (double)s->ranges : 1;
    int fill = (int)(frac * W_BAR), i;

    for (i = 0; i < W_BAR; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[W_BAR] = '\0';
    snprintf(ranges, sizeof(ranges), "%llu/%llu", (unsigned long long)s->ranges_done,
             (unsigned long long)s->ranges);
    fmt_bytes((double)s->bytes, bytes, sizeof(bytes));
    fmt_bytes(s->rate, rate, sizeof(rate));
    fmt_eta(s->eta, eta, sizeof(eta));
    tline(w, "  %-21.21s -> %-21.21s  %11s  %9llu  %10s  %10s/s  %7s  [%s] %3d%%", from->m.addr,
          to != NULL ? to->m.addr : s->to_addr, ranges, (unsigned long long)s->keys, bytes, rate,
          eta, bar, (int)(frac * 100));
    /* A stream that cannot get through says why (the sender retries). */
    if (s->failures > 0)
        tline(w, "    FAILING: %llu attempts in a row failed (%s), retrying",
              (unsigned long long)s->failures, s->last_error[0] ? s->last_error : "?");
}

static void tty_streams(struct watch *w, size_t active)
{
    const struct w_node *nd;
    const struct act_stream *s;
    size_t i, j, shown = 0;

    if (active == 0) {
        tline(w, "STREAMS: none in progress");
        return;
    }
    tline(w, "STREAMS in progress: %zu", active);
    tline(w, "  %-21s    %-21s  %11s  %9s  %10s  %12s  %7s  PROGRESS", "FROM", "TO", "RANGES",
          "KEYS", "BYTES", "RATE", "ETA");
    for (i = 0; i < w->n; i++) {
        nd = &w->nodes[i];
        for (j = 0; j < nd->nstreams && shown < W_SHOW_STREAMS; j++) {
            s = &nd->streams[j];
            if (s->ranges_done >= s->ranges)
                continue;
            tty_stream(w, nd, s);
            shown++;
        }
    }
    if (shown < active)
        tline(w, "  ... %zu more streams", active - shown);
}

static void tty_events(struct watch *w, size_t show)
{
    const struct w_event *e;
    char at[16], seen[24];
    size_t i;

    tline(w, "EVENTS (last %zu, all nodes)", show);
    for (i = w->nev - show; i < w->nev; i++) {
        e = &w->ev[i];
        fmt_clock(e->ms, 1, at, sizeof(at));
        seen[0] = '\0';
        if (e->nodes > 1)
            snprintf(seen, sizeof(seen), "  [%d nodes]", e->nodes);
        tline(w, "  %s  %.8s  %s%s", at, e->src, e->text, seen);
    }
}

/* Redraws the screen in place: home, every line cleared to its end, the
 * rest of the screen cleared, so nothing flickers. Sections below the
 * members table have fixed heights; the table gets what is left. */
void cli_watch_tty_frame(struct watch *w)
{
    struct winsize ws;
    struct totals t;
    size_t show_e = w->nev < W_SHOW_EVENTS ? w->nev : W_SHOW_EVENTS, fixed, rows;

    w->rows = 24;
    w->cols = 80;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
        w->rows = ws.ws_row;
        w->cols = ws.ws_col;
    }
    totals(w, &t);
    fixed = 2 + 1 + 1 + 1 + 1 + 1 + 1 + show_e;
    if (t.active > 0)
        fixed += 1 + (t.active < W_SHOW_STREAMS ? t.active : W_SHOW_STREAMS + 1);
    rows = (size_t)w->rows > fixed + 4 ? (size_t)w->rows - 1 - fixed : 3;
    w->lines = 0;
    fputs(w->frames == 0 ? "\x1b[?25l\x1b[H\x1b[2J" : "\x1b[H", stdout);
    tty_header(w, &t);
    tline(w, "%s", "");
    tty_members(w, rows);
    tline(w, "%s", "");
    tty_streams(w, t.active);
    tline(w, "%s", "");
    tty_events(w, show_e);
    fputs("\x1b[J", stdout);
    w->frames++;
}
