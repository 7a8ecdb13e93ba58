/*
 * test_plan.c - the rebalance planner (common/plan.h). A table of ring
 * changes (join, leave, death, rejoin, suspects; RF 1..3; few vnodes, so
 * ranges are wide, wrap and need several chunks) is planned by every node
 * that runs, and every range is checked against the rules restated here:
 * who sends it, to whom, whether it is dropped, and that all nodes agree,
 * so each range is sent by exactly the senders the rules name. Each
 * scenario also says which rule it must exercise, so a table that stops
 * reaching the "dropped-but-alive sends" or "first live old replica" case
 * fails instead of passing vacuously. Handoff, repair and sweep plans,
 * allocation failures, the argument checks and rc_plan_stray follow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "hlc.h"
#include "plan.h"
#include "ring.h"
#include "swim.h"

#define MAXN 8

/*
 * Allocation faults: the test links with --wrap for the allocator, so
 * every allocation of rc_common and of this file comes through here.
 * fail_countdown > 0 fails the allocation it counts down to; live counts
 * blocks allocated and not freed, to find leaks on the error paths.
 */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static int fail_countdown;
static long live;

static int fail_now(void)
{
    return fail_countdown > 0 && --fail_countdown == 0;
}

void *__wrap_malloc(size_t n)
{
    void *p = fail_now() ? NULL : __real_malloc(n);

    live += p != NULL;
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    void *p = fail_now() ? NULL : __real_calloc(n, size);

    live += p != NULL;
    return p;
}

void *__wrap_realloc(void *old, size_t n)
{
    void *p = fail_now() ? NULL : __real_realloc(old, n);

    live += old == NULL && p != NULL;
    return p;
}

void __wrap_free(void *p)
{
    live -= p != NULL;
    __real_free(p);
}

/* Member ids: any nonzero value; the ring hashes them. */
enum { A = 0xa1, B = 0xb2, C = 0xc3, D = 0xd4, E = 0xe5 };

struct state_of {
    uint64_t id;
    enum rc_member_state state;
};

/* Which rule a scenario must reach at least once. */
enum witness {
    W_NONE = 0,
    W_DROPPED_ALIVE = 1,  /* a dropped live node sends (the staying ones do not) */
    W_FIRST_LIVE = 2,     /* the first old replica is dead or suspect: a later one sends */
    W_TWO_SENDERS = 4,    /* a dropped suspect and the first live staying replica both send */
    W_CHUNKED = 8,        /* a range is wider than one task */
    W_WRAP = 16           /* a changed range starts at 0 or ends at UINT64_MAX */
};

struct scenario {
    const char *name;
    int rf, vnodes;
    uint64_t old_ids[MAXN]; /* 0-terminated */
    uint64_t new_ids[MAXN];
    struct state_of states[MAXN]; /* others are alive */
    int heal;
    int expect_repair;
    unsigned witnesses;
};

static const struct scenario scenarios[] = {
    {"join rf1", 1, 8, {A, B, C}, {A, B, C, D}, {{0, 0}}, 0, 0, W_DROPPED_ALIVE | W_CHUNKED},
    {"join rf2", 2, 8, {A, B, C}, {A, B, C, D}, {{0, 0}}, 0, 0, W_DROPPED_ALIVE | W_CHUNKED},
    {"join rf3", 3, 8, {A, B, C, D}, {A, B, C, D, E}, {{0, 0}}, 0, 0,
     W_DROPPED_ALIVE | W_CHUNKED},
    {"second member rf1, one vnode", 1, 1, {A}, {A, B}, {{0, 0}}, 0, 0,
     W_DROPPED_ALIVE | W_WRAP},
    {"second member rf2, one vnode", 2, 1, {A}, {A, B}, {{0, 0}}, 0, 0, W_WRAP},
    {"third member rf2, two vnodes", 2, 2, {A, B}, {A, B, C}, {{0, 0}}, 0, 0,
     W_DROPPED_ALIVE | W_WRAP},
    {"leave rf2", 2, 8, {A, B, C, D}, {A, B, C}, {{D, RC_MEMBER_LEFT}}, 0, 0, W_FIRST_LIVE},
    {"leave rf3", 3, 8, {A, B, C, D, E}, {A, B, C, E}, {{D, RC_MEMBER_LEFT}}, 0, 0,
     W_FIRST_LIVE},
    {"death rf1", 1, 8, {A, B, C, D}, {A, B, C}, {{D, RC_MEMBER_DEAD}}, 0, 1, W_NONE},
    {"death rf2", 2, 8, {A, B, C, D}, {A, B, C}, {{D, RC_MEMBER_DEAD}}, 0, 1, W_FIRST_LIVE},
    {"death rf3", 3, 8, {A, B, C, D, E}, {A, B, C, E}, {{D, RC_MEMBER_DEAD}}, 0, 1,
     W_FIRST_LIVE},
    {"forgotten member rf2", 2, 8, {A, B, C, D}, {A, B, C}, {{0, 0}}, 0, 1, W_FIRST_LIVE},
    {"rejoin rf2 after a heal", 2, 8, {A, B, C}, {A, B, C, D}, {{0, 0}}, 1, 1,
     W_DROPPED_ALIVE},
    {"rejoin rf3 without heal", 3, 8, {A, B, C, D}, {A, B, C, D, E}, {{0, 0}}, 0, 0,
     W_DROPPED_ALIVE},
    {"join, death and a suspect rf3", 3, 8, {A, B, C, D}, {A, B, C, E},
     {{D, RC_MEMBER_DEAD}, {A, RC_MEMBER_SUSPECT}}, 0, 1,
     W_DROPPED_ALIVE | W_FIRST_LIVE},
    {"join with a suspect rf2", 2, 8, {A, B, C, D}, {A, B, C, D, E},
     {{B, RC_MEMBER_SUSPECT}}, 0, 0, W_DROPPED_ALIVE | W_TWO_SENDERS},
};

struct world {
    struct rc_ring *old_ring, *new_ring;
    struct rc_member members[MAXN];
    size_t nmembers;
};

static size_t count_ids(const uint64_t *ids)
{
    size_t n = 0;

    while (n < MAXN && ids[n] != 0)
        n++;
    return n;
}

static int contains(const uint64_t *ids, int n, uint64_t id)
{
    int i;

    for (i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

static struct rc_ring *ring_of(const uint64_t *ids, size_t n, int vnodes)
{
    struct rc_ring *r = NULL;

    assert_int_equal(rc_ring_new(ids, n, vnodes, &r), 0);
    return r;
}

static void add_member(struct world *w, uint64_t id, const struct state_of *states)
{
    size_t i;

    for (i = 0; i < w->nmembers; i++)
        if (w->members[i].id == id)
            return;
    memset(&w->members[w->nmembers], 0, sizeof(w->members[0]));
    w->members[w->nmembers].id = id;
    w->members[w->nmembers].state = RC_MEMBER_ALIVE;
    for (i = 0; i < MAXN && states[i].id != 0; i++)
        if (states[i].id == id)
            w->members[w->nmembers].state = states[i].state;
    w->nmembers++;
}

/* Rings and member list of a scenario. A member missing from the new ring
 * with no state given was forgotten: it is not in the list at all. */
static void world_init(struct world *w, const struct scenario *sc)
{
    size_t nold = count_ids(sc->old_ids), nnew = count_ids(sc->new_ids), i, j;

    memset(w, 0, sizeof(*w));
    w->old_ring = ring_of(sc->old_ids, nold, sc->vnodes);
    w->new_ring = ring_of(sc->new_ids, nnew, sc->vnodes);
    for (i = 0; i < nnew; i++)
        add_member(w, sc->new_ids[i], sc->states);
    for (i = 0; i < nold; i++)
        for (j = 0; j < MAXN && sc->states[j].id != 0; j++)
            if (sc->states[j].id == sc->old_ids[i])
                add_member(w, sc->old_ids[i], sc->states);
}

static void world_close(struct world *w)
{
    rc_ring_free(w->old_ring);
    rc_ring_free(w->new_ring);
}

static enum rc_member_state state_of(const struct world *w, uint64_t id, int *known)
{
    size_t i;

    for (i = 0; i < w->nmembers; i++) {
        if (w->members[i].id == id) {
            *known = 1;
            return w->members[i].state;
        }
    }
    *known = 0;
    return RC_MEMBER_DEAD;
}

static int alive(const struct world *w, uint64_t id)
{
    int known;

    return state_of(w, id, &known) == RC_MEMBER_ALIVE && known;
}

/* Nodes that run a planner: alive and suspect members (a suspect does not
 * know it is suspected). */
static int planner(const struct world *w, uint64_t id)
{
    int known;
    enum rc_member_state st = state_of(w, id, &known);

    return known && (st == RC_MEMBER_ALIVE || st == RC_MEMBER_SUSPECT);
}

static struct rc_plan *plan_for(const struct world *w, const struct scenario *sc, uint64_t self,
                                int handoff)
{
    struct rc_plan_input in;
    struct rc_plan *p = NULL;

    memset(&in, 0, sizeof(in));
    in.old_ring = w->old_ring;
    in.new_ring = w->new_ring;
    in.rf = sc->rf;
    in.self = self;
    in.members = w->members;
    in.nmembers = w->nmembers;
    in.handoff = handoff;
    in.heal = sc->heal;
    in.now_ms = 1000000;
    assert_int_equal(rc_plan_new(&in, &p), 0);
    assert_non_null(p);
    return p;
}

/* The rules, restated: every planner dropped from r sends; so does the
 * first live old replica that stays, unless a dropped replica is alive. */
static int is_sender(const struct world *w, const struct rc_ring_range *r, uint64_t id,
                     unsigned *seen)
{
    int i, dropped_alive = 0, dropped_planner = 0;
    uint64_t first_live = 0;

    for (i = 0; i < r->nold; i++) {
        if (contains(r->new_ids, r->nnew, r->old_ids[i])) {
            if (first_live == 0 && alive(w, r->old_ids[i]))
                first_live = r->old_ids[i];
            continue;
        }
        dropped_alive |= alive(w, r->old_ids[i]);
        dropped_planner |= planner(w, r->old_ids[i]);
    }
    if (dropped_alive)
        *seen |= W_DROPPED_ALIVE;
    if (!dropped_alive && first_live != 0 && first_live != r->old_ids[0])
        *seen |= W_FIRST_LIVE;
    if (!dropped_alive && dropped_planner && first_live != 0)
        *seen |= W_TWO_SENDERS;
    if (contains(r->old_ids, r->nold, id) && !contains(r->new_ids, r->nnew, id))
        return 1;
    return !dropped_alive && id == first_live;
}

/* Index of the diff range that holds [first, last]; fails if none does. */
static size_t range_index(const struct rc_ring_range *ranges, size_t n, uint64_t first,
                          uint64_t last)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (ranges[i].first <= first && last <= ranges[i].last)
            return i;
    fail_msg("task [%llx, %llx] outside every changed range", (unsigned long long)first,
             (unsigned long long)last);
    return 0;
}

/* Where the next task of (range, target) must start; done once past last. */
struct cover {
    uint64_t next;
    int started, done;
};

/* The MOVE tasks of p, checked against the rules for every changed range
 * and every node that gained it: a sender covers the range exactly, in
 * ascending chunks of at most RC_PLAN_CHUNK_TOKENS; any other node sends
 * nothing of it. Adds to senders[range * MAXN + target] per sender.
 * Returns the witnesses seen. */
static unsigned check_moves(const struct world *w, const struct rc_plan *p, uint64_t self,
                            int handoff, const struct rc_ring_range *ranges, size_t n,
                            const uint64_t *targets, size_t ntargets, int *senders)
{
    struct cover *cov = calloc(n * ntargets + 1, sizeof(*cov));
    size_t i, j, ri, ti, ndrops = 0;
    unsigned seen = 0;
    int *drop_of = calloc(n + 1, sizeof(*drop_of));

    assert_non_null(cov);
    assert_non_null(drop_of);
    /* Drops: the ranges self loses, in diff order (none on a handoff). */
    for (i = 0; i < n; i++) {
        drop_of[i] = -1;
        if (!handoff && is_sender(w, &ranges[i], self, &seen) &&
            contains(ranges[i].old_ids, ranges[i].nold, self) &&
            !contains(ranges[i].new_ids, ranges[i].nnew, self)) {
            assert_true(ndrops < p->ndrops);
            assert_true(p->drops[ndrops].first == ranges[i].first);
            assert_true(p->drops[ndrops].last == ranges[i].last);
            drop_of[i] = (int)ndrops++;
        }
    }
    assert_int_equal(ndrops, p->ndrops);
    for (i = 0; i < p->ntasks; i++) {
        const struct rc_plan_task *t = &p->tasks[i];

        if (t->kind != RC_PLAN_MOVE)
            continue;
        assert_true(t->first <= t->last);
        assert_true(t->last - t->first < RC_PLAN_CHUNK_TOKENS);
        assert_true(t->before == 0);
        assert_true(t->target != self);
        ri = range_index(ranges, n, t->first, t->last);
        for (ti = 0; ti < ntargets && targets[ti] != t->target; ti++)
            ;
        assert_true(ti < ntargets);
        assert_int_equal(t->drop, drop_of[ri]);
        assert_true(is_sender(w, &ranges[ri], self, &seen));
        assert_true(contains(ranges[ri].new_ids, ranges[ri].nnew, t->target));
        assert_false(contains(ranges[ri].old_ids, ranges[ri].nold, t->target));
        j = ri * ntargets + ti;
        assert_false(cov[j].done);
        assert_true(t->first == (cov[j].started ? cov[j].next : ranges[ri].first));
        if (cov[j].started)
            seen |= W_CHUNKED;
        cov[j].started = 1;
        cov[j].next = t->last + 1;
        cov[j].done = t->last == ranges[ri].last;
    }
    /* A sender covers every range it sends to every new replica. */
    for (ri = 0; ri < n; ri++) {
        for (ti = 0; ti < ntargets; ti++) {
            int gained = contains(ranges[ri].new_ids, ranges[ri].nnew, targets[ti]) &&
                         !contains(ranges[ri].old_ids, ranges[ri].nold, targets[ti]);
            int sends = gained && is_sender(w, &ranges[ri], self, &seen);

            assert_int_equal(cov[ri * ntargets + ti].done, sends);
            assert_int_equal(cov[ri * ntargets + ti].started, sends);
            senders[ri * MAXN + ti] += sends;
        }
        if (ranges[ri].first == 0 || ranges[ri].last == UINT64_MAX)
            seen |= W_WRAP;
    }
    free(cov);
    free(drop_of);
    return seen;
}

static void run_scenario(const struct scenario *sc)
{
    struct world w;
    struct rc_ring_range *ranges = NULL;
    size_t n = 0, i, ri, ti;
    uint64_t targets[MAXN];
    size_t ntargets = 0;
    int *senders, expected, held;
    unsigned seen = 0;

    world_init(&w, sc);
    assert_int_equal(rc_ring_diff(w.old_ring, w.new_ring, sc->rf, &ranges, &n), 0);
    assert_true(n > 0);
    for (i = 0; i < w.nmembers; i++)
        targets[ntargets++] = w.members[i].id;
    senders = calloc(n * MAXN, sizeof(*senders));
    assert_non_null(senders);
    for (i = 0; i < w.nmembers; i++) {
        uint64_t self = w.members[i].id;
        struct rc_plan *p;

        if (!planner(&w, self))
            continue;
        p = plan_for(&w, sc, self, 0);
        assert_int_equal(p->ranges, n);
        assert_int_equal(p->repair, sc->expect_repair);
        seen |= check_moves(&w, p, self, 0, ranges, n, targets, ntargets, senders);
        rc_plan_free(p);
    }
    /* Every node computed the same senders: exactly those the rules name,
     * so a range goes once when no dropped replica is alive. */
    for (ri = 0; ri < n; ri++) {
        for (ti = 0; ti < ntargets; ti++) {
            if (!contains(ranges[ri].new_ids, ranges[ri].nnew, targets[ti]) ||
                contains(ranges[ri].old_ids, ranges[ri].nold, targets[ti]))
                continue;
            for (i = 0, expected = 0; i < w.nmembers; i++)
                expected += planner(&w, w.members[i].id) &&
                            is_sender(&w, &ranges[ri], w.members[i].id, &seen);
            /* Nobody sends only what nobody alive holds (RF 1, a death). */
            for (i = 0, held = 0; i < (size_t)ranges[ri].nold; i++)
                held |= planner(&w, ranges[ri].old_ids[i]);
            assert_int_equal(expected > 0, held);
            assert_int_equal(senders[ri * MAXN + ti], expected);
        }
    }
    if ((seen & sc->witnesses) != sc->witnesses)
        fail_msg("%s: rules not exercised: %#x of %#x", sc->name, seen & sc->witnesses,
                 sc->witnesses);
    free(senders);
    free(ranges);
    world_close(&w);
}

static void test_scenarios(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        print_message("  %s\n", scenarios[i].name);
        run_scenario(&scenarios[i]);
    }
}

/* Who sends each range, by hand, on the ring A, B -> A, B, C with RF 2 and
 * 2 vnodes: the range whose list goes from [x, y] to [C, x] is sent by y,
 * the dropped live replica, never by x, the first old replica that stays;
 * with y dead it is x. */
static void test_sender_by_hand(void **state)
{
    static const struct scenario sc = {"", 2, 2, {A, B}, {A, B, C}, {{0, 0}}, 0, 0, 0};
    static const struct scenario dead = {"", 2, 2, {A, B}, {A, C}, {{B, RC_MEMBER_DEAD}},
                                         0, 1, 0};
    struct world w;
    struct rc_ring_range *ranges = NULL;
    struct rc_plan *px, *py;
    size_t n = 0, i, j, checked = 0;
    int x_sends, y_sends;

    (void)state;
    world_init(&w, &sc);
    assert_int_equal(rc_ring_diff(w.old_ring, w.new_ring, 2, &ranges, &n), 0);
    for (i = 0; i < n; i++) {
        const struct rc_ring_range *r = &ranges[i];

        if (r->nold != 2 || r->nnew != 2 || r->new_ids[0] != C || r->new_ids[1] != r->old_ids[0])
            continue;
        px = plan_for(&w, &sc, r->old_ids[0], 0);
        py = plan_for(&w, &sc, r->old_ids[1], 0);
        x_sends = y_sends = 0;
        for (j = 0; j < px->ntasks; j++)
            x_sends |= px->tasks[j].first >= r->first && px->tasks[j].last <= r->last;
        for (j = 0; j < py->ntasks; j++)
            y_sends |= py->tasks[j].first >= r->first && py->tasks[j].last <= r->last &&
                       py->tasks[j].target == C && py->tasks[j].drop >= 0;
        assert_false(x_sends);
        assert_true(y_sends);
        rc_plan_free(px);
        rc_plan_free(py);
        checked++;
    }
    assert_true(checked > 0);
    free(ranges);
    world_close(&w);

    /* B died: its ranges go from [B, A] to [A, C] or [C, A]: A sends. */
    world_init(&w, &dead);
    assert_int_equal(rc_ring_diff(w.old_ring, w.new_ring, 2, &ranges, &n), 0);
    px = plan_for(&w, &dead, A, 0);
    for (i = 0, checked = 0; i < n; i++) {
        if (ranges[i].old_ids[0] != B || !contains(ranges[i].new_ids, ranges[i].nnew, C))
            continue;
        for (j = 0, x_sends = 0; j < px->ntasks; j++)
            x_sends |= px->tasks[j].kind == RC_PLAN_MOVE && px->tasks[j].target == C &&
                       px->tasks[j].first == ranges[i].first;
        assert_true(x_sends);
        checked++;
    }
    assert_true(checked > 0);
    assert_int_equal(px->ndrops, 0);
    rc_plan_free(px);
    free(ranges);
    world_close(&w);
}

/* A leaving node hands every range it held to the nodes that take it
 * over, keeps its data (no drops) and compares nothing, even with a heal
 * pending and a member dead. */
static void test_handoff(void **state)
{
    static const struct scenario sc = {"handoff", 2, 8, {A, B, C, D}, {A, B, C},
                                       {{E, RC_MEMBER_DEAD}}, 1, 0, 0};
    struct world w;
    struct rc_ring_range *ranges = NULL;
    uint64_t targets[MAXN];
    size_t n = 0, i, ri, ntargets = 0;
    int senders[64 * MAXN];
    struct rc_plan *p;

    (void)state;
    world_init(&w, &sc);
    add_member(&w, E, sc.states);
    assert_int_equal(rc_ring_diff(w.old_ring, w.new_ring, 2, &ranges, &n), 0);
    assert_true(n > 0 && n <= 64);
    for (i = 0; i < w.nmembers; i++)
        targets[ntargets++] = w.members[i].id;
    memset(senders, 0, sizeof(senders));
    p = plan_for(&w, &sc, D, 1);
    assert_int_equal(p->ndrops, 0);
    assert_int_equal(p->repair, 0);
    assert_true(p->ntasks >= n);
    for (i = 0; i < p->ntasks; i++)
        assert_int_equal(p->tasks[i].kind, RC_PLAN_MOVE);
    check_moves(&w, p, D, 1, ranges, n, targets, ntargets, senders);
    /* D was in every changed range, so it sends every one of them. */
    for (ri = 0; ri < n; ri++)
        assert_true(contains(ranges[ri].old_ids, ranges[ri].nold, D));
    rc_plan_free(p);
    free(ranges);
    world_close(&w);
}

/* Tokens worth probing: both ends of the ring, each vnode token and its
 * neighbours, and random ones. */
static size_t probe_tokens(const struct rc_ring *r, uint64_t *out, size_t cap)
{
    const uint64_t *tokens;
    size_t n = rc_ring_tokens(r, &tokens), k = 0, i;
    uint64_t s = 7;

    out[k++] = 0;
    out[k++] = UINT64_MAX;
    for (i = 0; i < n && k + 3 <= cap; i++) {
        out[k++] = tokens[i] - 1;
        out[k++] = tokens[i];
        out[k++] = tokens[i] + 1;
    }
    while (k < cap) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        out[k++] = s ^ (s >> 29);
    }
    return k;
}

/* Tasks of kind to target covering token t. */
static int covering(const struct rc_plan *p, enum rc_plan_kind kind, uint64_t target,
                    uint64_t t)
{
    size_t i;
    int n = 0;

    for (i = 0; i < p->ntasks; i++)
        n += p->tasks[i].kind == kind && p->tasks[i].target == target &&
             p->tasks[i].first <= t && t <= p->tasks[i].last;
    return n;
}

/* Repair: every token this node replicates is compared, once, with each
 * other replica, and nothing else; a periodic (sweep) pass leaves out the
 * last RC_PLAN_REPAIR_QUIET_MS, a repair after a death compares all. */
static int holds_nothing(void *arg, uint64_t first, uint64_t last)
{
    (void)first;
    (void)last;
    ++*(int *)arg;
    return 0;
}

static void check_repair(const struct rc_ring *r, const struct rc_plan *p, int rf, uint64_t self,
                         const uint64_t *others, size_t nothers, uint64_t before)
{
    uint64_t probes[600], ids[RC_RING_MAX_RF];
    size_t np = probe_tokens(r, probes, 600), i, j;
    int k;

    for (i = 0; i < p->ntasks; i++) {
        if (p->tasks[i].kind != RC_PLAN_REPAIR)
            continue;
        assert_true(p->tasks[i].before == before);
        assert_int_equal(p->tasks[i].drop, -1);
        assert_true(p->tasks[i].last - p->tasks[i].first < RC_PLAN_CHUNK_TOKENS);
    }
    for (i = 0; i < np; i++) {
        k = rc_ring_replicas(r, probes[i], rf, ids);
        for (j = 0; j < nothers; j++)
            assert_int_equal(covering(p, RC_PLAN_REPAIR, others[j], probes[i]),
                             k >= 2 && contains(ids, k, self) && contains(ids, k, others[j]));
        assert_int_equal(covering(p, RC_PLAN_REPAIR, self, probes[i]), 0);
    }
}

static void test_repair(void **state)
{
    static const uint64_t ids[] = {A, B, C, D};
    static const uint64_t others[] = {B, C, D};
    struct rc_member members[4];
    struct rc_plan_input in;
    struct rc_plan *p = NULL;
    struct rc_ring *r;
    int rf, vnodes, calls = 0;
    size_t i;

    (void)state;
    memset(members, 0, sizeof(members));
    for (i = 0; i < 4; i++)
        members[i].id = ids[i];
    for (vnodes = 1; vnodes <= 8; vnodes *= 8) {
        r = ring_of(ids, 4, vnodes);
        for (rf = 1; rf <= 3; rf++) {
            memset(&in, 0, sizeof(in));
            in.new_ring = r;
            in.rf = rf;
            in.self = A;
            in.members = members;
            in.nmembers = 4;
            in.sweep = 1;
            in.repair = 1;
            in.now_ms = 1000000;
            in.holds = holds_nothing;
            in.holds_arg = &calls;
            assert_int_equal(rc_plan_new(&in, &p), 0);
            assert_int_equal(p->repair, 1);
            assert_int_equal(p->ndrops, 0);
            assert_int_equal(p->ranges, 0);
            assert_int_equal(p->ntasks > 0, rf > 1);
            check_repair(r, p, rf, A, others, 3,
                         rc_hlc_make(1000000 - RC_PLAN_REPAIR_QUIET_MS, 0));
            rc_plan_free(p);
            /* Without repair a sweep that finds nothing held plans nothing. */
            in.repair = 0;
            assert_int_equal(rc_plan_new(&in, &p), 0);
            assert_int_equal(p->ntasks, 0);
            assert_int_equal(p->repair, 0);
            rc_plan_free(p);
        }
        rc_ring_free(r);
    }
    assert_true(calls > 0);
}

/* After a death every range is compared with all it holds (before 0),
 * next to the moves. */
static void test_repair_after_death(void **state)
{
    static const uint64_t others[] = {B, C};
    const struct scenario *sc = NULL;
    struct world w;
    struct rc_plan *p;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        if (strcmp(scenarios[i].name, "death rf2") == 0)
            sc = &scenarios[i];
    assert_non_null(sc);
    world_init(&w, sc);
    p = plan_for(&w, sc, A, 0);
    assert_int_equal(p->repair, 1);
    check_repair(w.new_ring, p, 2, A, others, 2, 0);
    rc_plan_free(p);
    world_close(&w);
}

/* The sweep's holds callback: the node holds entries at these tokens. */
struct held {
    uint64_t tokens[64];
    size_t n;
    int calls;
};

static int holds_tokens(void *arg, uint64_t first, uint64_t last)
{
    struct held *h = arg;
    size_t i;

    h->calls++;
    for (i = 0; i < h->n; i++)
        if (first <= h->tokens[i] && h->tokens[i] <= last)
            return 1;
    return 0;
}

/* A sweep hands each vnode range it does not replicate but holds data in
 * to all of that range's replicas, and drops it; ranges it replicates, or
 * holds nothing in, are left alone. */
static void test_sweep_strays(void **state)
{
    static const uint64_t ids[] = {A, B, C, D};
    struct rc_member members[4];
    struct rc_plan_input in;
    struct rc_ring_iter it;
    struct rc_ring_vrange v;
    struct rc_plan *p = NULL;
    struct rc_ring *r;
    struct held h;
    uint64_t reps[RC_RING_MAX_RF], next;
    size_t i, d = 0, probes;
    int rf = 2, k, j, with_data, mine;

    (void)state;
    memset(members, 0, sizeof(members));
    for (i = 0; i < 4; i++)
        members[i].id = ids[i];
    r = ring_of(ids, 4, 8);
    memset(&h, 0, sizeof(h));
    probes = probe_tokens(r, h.tokens, 64);
    h.n = probes;
    memset(&in, 0, sizeof(in));
    in.new_ring = r;
    in.rf = rf;
    in.self = A;
    in.members = members;
    in.nmembers = 4;
    in.sweep = 1;
    in.holds = holds_tokens;
    in.holds_arg = &h;
    assert_int_equal(rc_plan_new(&in, &p), 0);
    assert_int_equal(p->repair, 0);
    assert_int_equal(p->ranges, p->ndrops);
    assert_true(p->ndrops > 0);
    rc_ring_iter_init(&it, r);
    while (rc_ring_iter_next(&it, &v)) {
        k = rc_ring_replicas(r, v.token, rf, reps);
        mine = contains(reps, k, A);
        h.calls = 0;
        with_data = holds_tokens(&h, v.first, v.last);
        if (mine || !with_data)
            continue;
        assert_true(d < p->ndrops);
        assert_true(p->drops[d].first == v.first && p->drops[d].last == v.last);
        for (j = 0; j < k; j++) {
            next = v.first;
            for (i = 0; i < p->ntasks; i++) {
                if (p->tasks[i].target != reps[j] || p->tasks[i].drop != (int)d)
                    continue;
                assert_int_equal(p->tasks[i].kind, RC_PLAN_STRAY);
                assert_true(p->tasks[i].first == next);
                assert_true(p->tasks[i].before == 0);
                next = p->tasks[i].last + 1;
                if (p->tasks[i].last == v.last)
                    break;
            }
            assert_true(i < p->ntasks);
        }
        d++;
    }
    assert_int_equal(d, p->ndrops);
    rc_plan_free(p);
    rc_ring_free(r);

    /* One member replicates everything: nothing is asked of the store. */
    r = ring_of(ids, 1, 1);
    h.calls = 0;
    in.new_ring = r;
    assert_int_equal(rc_plan_new(&in, &p), 0);
    assert_int_equal(p->ntasks + p->ndrops, 0);
    assert_int_equal(h.calls, 0);
    rc_plan_free(p);
    rc_ring_free(r);
}

/* Failing the Nth allocation, for every N the planning of a death (a
 * diff, drops and a repair) makes, returns RC_ENOMEM, no plan and no
 * leak. */
static void test_alloc_failure(void **state)
{
    const struct scenario *sc = NULL;
    struct world w;
    struct rc_plan_input in;
    struct rc_plan *p;
    size_t i;
    long before;
    int n, rv;

    (void)state;
    for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        if (strcmp(scenarios[i].name, "death rf3") == 0)
            sc = &scenarios[i];
    assert_non_null(sc);
    world_init(&w, sc);
    memset(&in, 0, sizeof(in));
    in.old_ring = w.old_ring;
    in.new_ring = w.new_ring;
    in.rf = sc->rf;
    in.members = w.members;
    in.nmembers = w.nmembers;
    in.self = A;
    for (n = 1;; n++) {
        before = live;
        fail_countdown = n;
        p = (struct rc_plan *)&in;
        rv = rc_plan_new(&in, &p);
        if (fail_countdown > 0) {
            /* Fewer than n allocations: this one succeeded. */
            fail_countdown = 0;
            assert_int_equal(rv, 0);
            assert_true(p->ntasks > 0 && p->repair);
            rc_plan_free(p);
            assert_int_equal(live, before);
            break;
        }
        assert_int_equal(rv, RC_ENOMEM);
        assert_null(p);
        assert_int_equal(live, before);
    }
    assert_true(n > 3);
    world_close(&w);
}

static void test_invalid(void **state)
{
    static const uint64_t ids[] = {A, B};
    struct rc_plan_input in;
    struct rc_plan *p = (struct rc_plan *)&in;
    struct rc_ring *r = ring_of(ids, 2, 4);
    int calls = 0;

    (void)state;
    memset(&in, 0, sizeof(in));
    in.old_ring = r;
    in.new_ring = r;
    in.rf = 0;
    in.self = A;
    assert_int_equal(rc_plan_new(&in, &p), RC_EINVAL);
    assert_null(p);
    in.rf = 2;
    in.old_ring = NULL;
    assert_int_equal(rc_plan_new(&in, &p), RC_EINVAL);
    in.sweep = 1;
    assert_int_equal(rc_plan_new(&in, &p), RC_EINVAL); /* a sweep needs holds */
    in.holds = holds_nothing;
    in.holds_arg = &calls;
    in.new_ring = NULL;
    assert_int_equal(rc_plan_new(&in, &p), RC_EINVAL);
    /* The same ring twice: nothing changed, nothing to do. */
    in.sweep = 0;
    in.old_ring = in.new_ring = r;
    assert_int_equal(rc_plan_new(&in, &p), 0);
    assert_int_equal(p->ntasks + p->ndrops + p->ranges, 0);
    rc_plan_free(p);
    rc_plan_free(NULL);
    rc_ring_free(r);
}

static void test_stray(void **state)
{
    static const uint64_t ids[] = {A, B, C};
    struct rc_ring *r = ring_of(ids, 3, 8), *empty = ring_of(NULL, 0, 8);
    uint64_t probes[200], reps[RC_RING_MAX_RF];
    size_t n = probe_tokens(r, probes, 200), i;
    int k;

    (void)state;
    for (i = 0; i < n; i++) {
        k = rc_ring_replicas(r, probes[i], 2, reps);
        assert_int_equal(rc_plan_stray(r, 2, A, probes[i]), !contains(reps, k, A));
        assert_int_equal(rc_plan_stray(r, 3, A, probes[i]), 0);
    }
    assert_int_equal(rc_plan_stray(empty, 2, A, 5), 0);
    rc_ring_free(r);
    rc_ring_free(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenarios),
        cmocka_unit_test(test_sender_by_hand),
        cmocka_unit_test(test_handoff),
        cmocka_unit_test(test_repair),
        cmocka_unit_test(test_repair_after_death),
        cmocka_unit_test(test_sweep_strays),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_stray),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
