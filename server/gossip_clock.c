/*
 * gossip_clock.c - what the gossip knows of its peers' clocks, kept by
 * common/skew.c: round-trip samples from probes (gossip_clock_sample),
 * one-way samples from stamps (a push-pull request, a datagram refused
 * for its stamp), the cached summary that STATS, MEMBERS and the
 * coordinator read, and the log lines that say whose clock is off. The
 * push-pull reply's sample is taken where the reply is read (gossip_pp.c).
 * All of it works on the shared struct rc_gossip (gossip_int.h).
 */
#include "gossip_int.h"
#include "skew.h"

#include <inttypes.h>
#include <stdio.h>

/* Rate-limited note that a peer's traffic was refused for its stamp; the
 * clock report (gossip_clock_check) says whose clock is off. */
void gossip_skew_log(struct rc_gossip *g, const char *what, uint64_t from, int64_t off)
{
    uint64_t now = uv_now(g->loop);

    if (g->skew_log_ms != 0 && now - g->skew_log_ms < RC_GOSSIP_AUTH_LOG_MS) {
        g->skew_suppressed++;
        return;
    }
    rc_log_warn(g->log,
                "gossip: %s from %016" PRIx64 " refused: stamped %" PRId64 " ms %s this node's "
                "clock, beyond the cluster key's %d ms window (%u more since the last report)",
                what, from, abs64(off), off > 0 ? "ahead of" : "behind", RC_SEAL_WINDOW_MS,
                g->skew_suppressed);
    g->skew_log_ms = now;
    g->skew_suppressed = 0;
}

/* A stamp that only says where the sender's clock was when it sent: the
 * delay on the way counts as offset, hence a low rank (skew.h). 1 when it
 * is beyond the seal window and there is a cluster key. A refused
 * datagram's stamp is only taken then (within the window it was refused
 * as a replay, and says nothing), and with the lowest rank when it is
 * behind our clock, since a replay is. A push-pull request's stamp rides
 * a fresh sealed stream. */
int gossip_oneway_sample(struct rc_gossip *g, uint64_t from, uint64_t stamp, int datagram,
                         int64_t *off)
{
    uint32_t rtt;
    int beyond;

    *off = (int64_t)stamp - (int64_t)wall_ms();
    beyond = keyed(g) && abs64(*off) > RC_SEAL_WINDOW_MS;
    if (from == 0 || from == g->self.id || (datagram && !beyond))
        return 0;
    rtt = datagram && *off < 0 ? RC_SKEW_ONEWAY : RC_SKEW_FRESH_ONEWAY_MS;
    rc_skew_add(&g->skew, from, *off, rtt, uv_now(g->loop));
    return beyond;
}

/* Says in the log whose clock is off: ours when the median of the
 * members' clocks is far from it (every peer off by about the same
 * amount), a peer's when it alone is far from the median. */
static void clock_self_report(struct rc_gossip *g, uint64_t now)
{
    const struct rc_skew_view *v = &g->clock;
    int kind = v->npeers == 0 || abs64(v->ahead_ms) <= RC_SKEW_WARN_MS ? 0
               : v->nclocks <= 2                                         ? 1
                                                                         : 2;

    if (kind == 0) {
        if (g->clock_warn_kind != 0)
            rc_log_info(g->log, "clock: this node's clock agrees with its peers again (%" PRId64
                        " ms from the median of %u peers and itself)",
                        v->ahead_ms, v->npeers);
        g->clock_warn_kind = 0;
        return;
    }
    if (kind == g->clock_warn_kind && now - g->clock_warn_ms < RC_GOSSIP_CLOCK_LOG_MS)
        return;
    g->clock_warn_kind = kind;
    g->clock_warn_ms = now;
    if (kind == 1) {
        rc_log_warn(g->log, "clock: this node and its only peer %016" PRIx64 " differ by %" PRId64
                    " ms; with two nodes it cannot tell whose clock is off",
                    v->worst_id, 2 * abs64(v->ahead_ms));
        return;
    }
    rc_log_warn(g->log,
                "clock: this node's clock is %" PRId64 " ms %s the median of the cluster's "
                "clocks (peers measured: %u, clocks counted: %u): its own clock is off, fix "
                "this host's time sync (NTP)%s",
                abs64(v->ahead_ms), v->ahead_ms > 0 ? "ahead of" : "behind", v->npeers,
                v->nclocks,
                keyed(g) && abs64(v->ahead_ms) > RC_SEAL_WINDOW_MS
                    ? "; beyond the cluster key's window the peers refuse this node and it "
                      "refuses them until its clock is fixed"
                    : "");
}

static void clock_peer_report(struct rc_gossip *g, uint64_t now)
{
    const struct rc_skew_view *v = &g->clock;
    const struct rc_member *m;
    uint32_t n = rc_swim_members(g->swim, &m), i;
    char where[RC_HOST_MAX + 16] = "not a member";

    if (v->npeers < 2 || v->worst_id == 0 || abs64(v->worst_ms) <= RC_SKEW_WARN_MS) {
        if (g->peer_warn_id != 0)
            rc_log_info(g->log, "clock: the clock of peer %016" PRIx64 " agrees again, or it "
                        "is gone", g->peer_warn_id);
        g->peer_warn_id = 0;
        return;
    }
    if (v->worst_id == g->peer_warn_id && now - g->peer_warn_ms < RC_GOSSIP_CLOCK_LOG_MS)
        return;
    g->peer_warn_id = v->worst_id;
    g->peer_warn_ms = now;
    for (i = 1; i < n; i++)
        if (m[i].id == v->worst_id)
            snprintf(where, sizeof(where), "%s:%u", m[i].host, m[i].peer_port);
    rc_log_warn(g->log,
                "clock: the clock of peer %016" PRIx64 " (%s) is %" PRId64 " ms %s the median "
                "of this node's and its peers' clocks: that node's clock is off%s",
                v->worst_id, where, abs64(v->worst_ms), v->worst_ms > 0 ? "ahead of" : "behind",
                keyed(g) && abs64(v->worst_ms) > RC_SEAL_WINDOW_MS
                    ? "; beyond the cluster key's window, it is refused"
                    : "");
}

void gossip_clock_check(struct rc_gossip *g, uint64_t now)
{
    if (now < g->clock_next)
        return;
    g->clock_next = now + RC_GOSSIP_CLOCK_CHECK_MS;
    rc_skew_summary(&g->skew, now, &g->clock);
    clock_self_report(g, now);
    clock_peer_report(g, now);
}

void gossip_clock_sample(void *arg, uint64_t id, int64_t offset_ms, uint32_t rtt_ms)
{
    struct rc_gossip *g = arg;

    rc_skew_add(&g->skew, id, offset_ms, rtt_ms, uv_now(g->loop));
}

int rc_gossip_clock_skew(const struct rc_gossip *g, int64_t *ahead_ms)
{
    *ahead_ms = g->clock.ahead_ms;
    return (int)g->clock.npeers;
}

void rc_gossip_clock_view(const struct rc_gossip *g, struct rc_skew_view *out)
{
    *out = g->clock;
}

int rc_gossip_member_offset(const struct rc_gossip *g, uint64_t id, int64_t *offset_ms)
{
    if (id == g->self.id) {
        *offset_ms = 0;
        return 0;
    }
    return rc_skew_get(&g->skew, id, uv_now(g->loop), offset_ms);
}
