/*
 * rebal.c - cluster polls shared by the rebalancing tests (see rebal.h).
 */
#include "rebal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringcache.h"

int rr_read(const struct rc_hserver *s, struct rr_stat *st)
{
    struct rc_client *c = rc_h_client(s, 3000);
    struct rc_result res;
    int rv = -1;
    memset(st, 0, sizeof(*st));
    if (c == NULL)
        return -1;
    if (rc_client_stats(c, &res) == 0 && res.err == 0 &&
        rc_h_stat(&res, "keys", &st->keys, NULL) == 0 &&
        rc_h_stat(&res, "tombstones", &st->tombstones, NULL) == 0 &&
        rc_h_stat(&res, "hints_pending", &st->hints, NULL) == 0 &&
        rc_h_stat(&res, "stream_keys_out", &st->out, NULL) == 0 &&
        rc_h_stat(&res, "stream_keys_in", &st->in, NULL) == 0 &&
        rc_h_stat(&res, "stream_ranges_in_place", &st->in_place, NULL) == 0 &&
        rc_h_stat(&res, "keys_dropped", &st->dropped, NULL) == 0 &&
        rc_h_stat(&res, "rebalances", &st->rebalances, NULL) == 0 &&
        rc_h_stat(&res, "rebalance_running", &st->running, NULL) == 0 &&
        rc_h_stat(&res, "members_alive", &st->alive, NULL) == 0)
        rv = 0;
    rc_client_free(c);
    return rv;
}

int rr_snap(const struct rr_nodes *c, unsigned mask, struct rr_stat *st)
{
    int i, rv = 0;
    for (i = 0; i < c->n; i++) {
        if (!(mask & (1u << i))) {
            memset(&st[i], 0, sizeof(st[i]));
            continue;
        }
        if (rr_read(c->nodes[i], &st[i]) != 0)
            rv = -1;
    }
    return rv;
}

void rr_print_snap(const struct rr_nodes *c, unsigned mask, const struct rr_stat *st,
                   const char *what)
{
    int i;
    printf("  %s:\n", what);
    for (i = 0; i < c->n; i++)
        if (mask & (1u << i))
            printf("    node %d: keys=%lld tombstones=%lld stream_keys_out=%lld "
                   "stream_keys_in=%lld ranges_in_place=%lld keys_dropped=%lld rebalances=%lld "
                   "running=%lld alive=%lld hints_pending=%lld\n",
                   i + 1, (long long)st[i].keys, (long long)st[i].tombstones,
                   (long long)st[i].out, (long long)st[i].in, (long long)st[i].in_place,
                   (long long)st[i].dropped, (long long)st[i].rebalances,
                   (long long)st[i].running, (long long)st[i].alive, (long long)st[i].hints);
}

void rr_print_stats(const struct rr_nodes *c, unsigned mask, const char *what)
{
    struct rr_stat st[RC_H_MAX_SERVERS];
    rr_snap(c, mask, st);
    rr_print_snap(c, mask, st, what);
}

void rr_print_log(const struct rr_nodes *c, unsigned mask)
{
    char line[2048];
    int i;
    for (i = 0; i < c->n; i++) {
        FILE *fp;
        if (!(mask & (1u << i)) || (fp = fopen(c->nodes[i]->log_path, "r")) == NULL)
            continue;
        while (fgets(line, sizeof(line), fp) != NULL)
            if (strstr(line, "rebalance started") || strstr(line, "rebalance finished") ||
                strstr(line, "cleanup started") || strstr(line, "cleanup finished") ||
                strstr(line, "stream to ") || strstr(line, "INFO  member "))
                printf("    node %d: %s", i + 1, line);
        fclose(fp);
    }
}

int64_t rr_sum(const struct rr_nodes *c, unsigned mask, const struct rr_stat *st,
               size_t field_off)
{
    int64_t s = 0;
    int i;
    for (i = 0; i < c->n; i++)
        if (mask & (1u << i))
            s += *(const int64_t *)((const char *)&st[i] + field_off);
    return s;
}

double rr_imbalance(const struct rr_nodes *c, unsigned mask, const struct rr_stat *st)
{
    int64_t max = 0, sum = RR_SUM(c, mask, st, keys);
    int i, n = 0;
    for (i = 0; i < c->n; i++) {
        if (!(mask & (1u << i)))
            continue;
        n++;
        if (st[i].keys > max)
            max = st[i].keys;
    }
    return n == 0 || sum == 0 ? -1 : (double)max * n / (double)sum;
}

void rr_settle_init(struct rr_settle *s, unsigned mask, int alive, int64_t sum_want,
                    const struct rr_stat *base, int quiet_ms)
{
    memset(s, 0, sizeof(*s));
    s->mask = mask;
    s->alive = alive;
    s->sum_want = sum_want;
    s->base = base;
    s->quiet_ms = quiet_ms;
    s->first = -1;
}

static int settled_now(const struct rr_nodes *c, struct rr_settle *s)
{
    int i;
    if (rr_snap(c, s->mask, s->st) != 0)
        return 0;
    for (i = 0; i < c->n; i++) {
        if (!(s->mask & (1u << i)))
            continue;
        if (s->st[i].alive != s->alive || s->st[i].running != 0)
            return 0;
        if (s->base != NULL && s->st[i].rebalances <= s->base[i].rebalances)
            return 0;
    }
    return s->sum_want < 0 || RR_SUM(c, s->mask, s->st, keys) == s->sum_want;
}

int rr_settle_poll(const struct rr_nodes *c, struct rr_settle *s)
{
    int i, same;
    if (!settled_now(c, s)) {
        s->first = -1;
        return 0;
    }
    same = s->first >= 0;
    for (i = 0; same && i < c->n; i++)
        same = s->st[i].rebalances == s->prev[i].rebalances &&
               (s->sum_want < 0 || s->st[i].keys == s->prev[i].keys);
    if (!same) {
        memcpy(s->prev, s->st, sizeof(s->st));
        s->first = rc_h_now_ms();
        return 0;
    }
    return rc_h_now_ms() - s->first >= s->quiet_ms;
}

void rr_print_unsettled(const struct rr_nodes *c, const struct rr_settle *s, int bound_ms)
{
    printf("rebalance: not settled after %d ms (want %d alive, keys sum %lld)\n", bound_ms,
           s->alive, (long long)s->sum_want);
    if (s->base != NULL)
        rr_print_snap(c, s->mask, s->base, "stats before");
    rr_print_snap(c, s->mask, s->st, "stats");
    rr_print_log(c, s->mask);
}

double rr_wait_settled(const struct rr_nodes *c, unsigned mask, int alive, int64_t sum_want,
                       const struct rr_stat *base, int quiet_ms, int bound_ms)
{
    struct rr_settle s;
    double t0 = rc_h_now_ms();
    rr_settle_init(&s, mask, alive, sum_want, base, quiet_ms);
    while (!rr_settle_poll(c, &s)) {
        if (rc_h_now_ms() - t0 > bound_ms) {
            rr_print_unsettled(c, &s, bound_ms);
            return -1;
        }
        rc_h_sleep_ms(RR_POLL_MS);
    }
    return s.first;
}

double rr_wait_alive(const struct rr_nodes *c, unsigned mask, int alive, int bound_ms)
{
    struct rr_stat st[RC_H_MAX_SERVERS];
    double t0 = rc_h_now_ms();
    for (;;) {
        int i, ok = rr_snap(c, mask, st) == 0;
        for (i = 0; ok && i < c->n; i++)
            ok = !(mask & (1u << i)) || st[i].alive == alive;
        if (ok)
            return rc_h_now_ms() - t0;
        if (rc_h_now_ms() - t0 > bound_ms)
            break;
        rc_h_sleep_ms(RR_POLL_MS);
    }
    printf("rebalance: not %d alive everywhere after %d ms\n", alive, bound_ms);
    rr_print_stats(c, mask, "stats");
    return -1;
}

int rr_member_state_everywhere(const struct rr_nodes *c, unsigned mask, const char *id,
                               const char *state)
{
    int i;
    for (i = 0; i < c->n; i++) {
        struct rc_hmember m[RC_H_MAX_SERVERS];
        const struct rc_hmember *t;
        int k;
        if (!(mask & (1u << i)))
            continue;
        k = rc_h_members(c->nodes[i], m, RC_H_MAX_SERVERS, 2000);
        t = k < 0 ? NULL : rc_h_member_find(m, k < RC_H_MAX_SERVERS ? k : RC_H_MAX_SERVERS, id);
        if (t == NULL || strcmp(t->state, state) != 0)
            return 0;
    }
    return 1;
}

double rr_wait_member_state(const struct rr_nodes *c, unsigned mask, const char *id,
                            const char *state, int bound_ms)
{
    double t0 = rc_h_now_ms();
    while (!rr_member_state_everywhere(c, mask, id, state)) {
        if (rc_h_now_ms() - t0 > bound_ms) {
            printf("rebalance: %s not '%s' everywhere after %d ms\n", id, state, bound_ms);
            return -1;
        }
        rc_h_sleep_ms(RR_POLL_MS / 2);
    }
    return rc_h_now_ms() - t0;
}

int64_t rr_log_keys(const struct rc_hserver *s, const char *needle)
{
    char line[2048];
    int64_t keys = -1;
    FILE *fp = fopen(s->log_path, "r");
    if (fp == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp) != NULL) {
        const char *k = strstr(line, needle) ? strstr(line, " keys=") : NULL;
        if (k != NULL)
            keys = strtoll(k + 6, NULL, 10);
    }
    fclose(fp);
    return keys;
}

int rr_log_count(const struct rc_hserver *s, const char *needle)
{
    return rc_h_log_count(s, needle, NULL);
}
