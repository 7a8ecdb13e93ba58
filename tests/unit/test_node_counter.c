/*
 * test_node_counter.c - a replica's increments as its own actor
 * (server/node.c, rc_node_incr; docs/architecture.md "Counters").
 *
 * The process counts on its copy of a counter holding its own latest
 * component. These cases break that the ways a cluster does, and check
 * that no two increments ever get the same seq (the join would keep one):
 * the copy dropped (a cleanup after a ring change) and received again
 * from a replica that lagged, by a stream or by the coordinator's read;
 * a stale state arriving while the copy is held (nothing to renew); a
 * state stored at a version ahead of this node's clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "counter.h"
#include "err.h"
#include "hlc.h"
#include "node.h"
#include "node_fixture.h"
#include "ring.h"

#define KEY "hot"
#define KEY_LEN 3

struct fx {
    uv_loop_t loop;
    char dir[64];
    struct rc_node *node;
    int acks;
};

/* A state as another replica holds it: the bytes and their version. */
struct state {
    uint8_t b[RC_COUNTER_MAX_ENC];
    size_t len;
    struct rc_version ver;
};

static void on_write(void *arg, int err)
{
    struct fx *f = arg;

    assert_int_equal(err, 0);
    f->acks++;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct rc_node_opts o;
    char err[256];

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/rc-nctr-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    rc_t_node_opts(&o, f->dir);
    assert_int_equal(rc_node_new(&f->loop, &o, NULL, &f->node, err, sizeof(err)), 0);
    rc_node_start(f->node);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    rc_node_stop(f->node);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    rc_node_free(f->node);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* One INCR by 1 of key on this replica, optionally after the
 * coordinator's read (seen); the new state into *out when out is not
 * NULL. */
static void incr_key(struct fx *f, const char *key, const struct state *seen, struct state *out)
{
    struct rc_node_incr rq = {.key = (const uint8_t *)key, .key_len = strlen(key), .delta = 1};
    struct rc_node_incr_out o;

    if (seen != NULL) {
        rq.has_seen = 1;
        rq.seen_value = seen->b;
        rq.seen_len = seen->len;
        rq.seen_attr.kind = RC_KIND_COUNTER;
        rq.seen_ver = seen->ver;
    }
    assert_int_equal(rc_node_incr(f->node, &rq, &o, on_write, f), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    if (out != NULL) {
        memcpy(out->b, o.state, o.state_len);
        out->len = o.state_len;
        out->ver = o.ver;
    }
}

static void incr(struct fx *f, const struct state *seen, struct state *out)
{
    incr_key(f, KEY, seen, out);
}

/* A stream batch or a hint (no clock observed: the apply path). */
static void apply_key(struct fx *f, const char *key, const struct state *s)
{
    struct rc_attr attr = {0, RC_KIND_COUNTER};

    assert_int_equal(rc_node_apply_attr(f->node, (const uint8_t *)key, strlen(key), s->b, s->len,
                                        &attr, &s->ver, 0),
                     0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void apply(struct fx *f, const struct state *s)
{
    apply_key(f, KEY, s);
}

/* Only key's copy dropped (its token's range). */
static void drop_key(struct fx *f, const char *key)
{
    uint64_t tok = rc_ring_token(key, strlen(key));
    int deleted = 0;

    assert_int_equal(rc_node_delete_range(f->node, tok, tok, 1000, &deleted), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(deleted, 1);
}

/* The key's copy here dropped, as a cleanup does for a range this node
 * no longer replicates. */
static void drop_copy(struct fx *f)
{
    struct rc_entry e;
    int deleted = 0;

    assert_int_equal(rc_node_delete_range(f->node, 0, UINT64_MAX, 1000, &deleted), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(deleted, 1);
    assert_int_equal(rc_node_get(f->node, (const uint8_t *)KEY, KEY_LEN, &e), RC_ENOTFOUND);
}

/* The total of the join of a and b (what a read at ALL gives). */
static long joined_total(const struct state *a, const struct state *b)
{
    struct rc_counter ca, cb, j;
    char text[RC_COUNTER_TEXT_MAX];
    size_t len;

    assert_int_equal(rc_counter_decode(a->b, a->len, &ca), 0);
    assert_int_equal(rc_counter_decode(b->b, b->len, &cb), 0);
    assert_int_equal(rc_counter_merge(&ca, &cb, &j), 0);
    len = rc_counter_render(&j, text, sizeof(text));
    text[len] = '\0';
    return strtol(text, NULL, 10);
}

static uint64_t renewals(struct fx *f)
{
    struct rc_node_stats st;

    rc_node_stats(f->node, &st);
    return st.actor_renewals;
}

static uint32_t actors(const struct state *s)
{
    struct rc_counter c;

    assert_int_equal(rc_counter_decode(s->b, s->len, &c), 0);
    return c.n;
}

/* The actor of s's one component. */
static uint64_t only_actor(const struct state *s)
{
    struct rc_counter c;

    assert_int_equal(rc_counter_decode(s->b, s->len, &c), 0);
    assert_int_equal(c.n, 1);
    return c.comp[0].actor;
}

/* Five increments here: s[0..4] the states after each. s[4] is on the
 * other replicas that acknowledged it; one that lagged holds s[2]. */
static void five(struct fx *f, struct state s[5])
{
    int i, acks = f->acks;

    for (i = 0; i < 5; i++)
        incr(f, NULL, &s[i]);
    assert_int_equal(actors(&s[4]), 1);
    assert_int_equal(f->acks, acks + 5);
}

/* A cleanup dropped the copy; a stream from the lagging replica brings
 * back s[2]. The sixth increment must count beside the fifth, not over
 * the fourth again. */
static void test_dropped_copy_back_by_stream(void **state)
{
    struct fx *f = *state;
    struct state s[5], t;

    five(f, s);
    drop_copy(f);
    apply(f, &s[2]);
    assert_int_equal(renewals(f), 1);
    incr(f, NULL, &t);
    assert_int_equal(actors(&t), 2);
    assert_int_equal(joined_total(&t, &s[4]), 6);
}

/* The same, the stale state coming with the coordinator's read (a read
 * at ONE, or a quorum across a ring that moved). */
static void test_dropped_copy_back_by_read(void **state)
{
    struct fx *f = *state;
    struct state s[5], t;

    five(f, s);
    drop_copy(f);
    incr(f, &s[2], &t);
    assert_int_equal(renewals(f), 1);
    assert_int_equal(joined_total(&t, &s[4]), 6);
    /* Later increments go on as the new actor: no renewal each time. */
    incr(f, &s[4], &t);
    assert_int_equal(renewals(f), 1);
    assert_int_equal(actors(&t), 2);
    assert_int_equal(joined_total(&t, &s[4]), 7);
}

/* While the copy is held, a stale state is just merged: its own
 * component is behind the copy's, the actor stays. */
static void test_stale_state_while_held(void **state)
{
    struct fx *f = *state;
    struct state s[5], t;

    five(f, s);
    apply(f, &s[2]);
    incr(f, &s[1], &t);
    assert_int_equal(renewals(f), 0);
    assert_int_equal(actors(&t), 1);
    assert_int_equal(joined_total(&t, &s[4]), 6);
}

/* A state at a version ahead of this node's clock (another node's HLC,
 * stored by an apply that does not move the clock): the increment's
 * version must still be newer, or the store keeps the old state and the
 * next increment repeats a seq. */
static void test_copy_version_ahead_of_clock(void **state)
{
    struct fx *f = *state;
    struct rc_counter c;
    struct state other, t1, t2;
    int len;

    rc_counter_init(&c, 0, 0);
    assert_int_equal(rc_counter_incr(&c, 77, 10), 0);
    len = rc_counter_encode(&c, other.b, sizeof(other.b));
    assert_true(len > 0);
    other.len = (size_t)len;
    rc_node_new_version(f->node, &other.ver);
    other.ver.hlc += rc_hlc_make(2000, 0); /* 2 s ahead, inside --max-drift */
    other.ver.node = 99;
    apply(f, &other);
    incr(f, NULL, &t1);
    incr(f, NULL, &t2);
    assert_true(rc_version_cmp(&t1.ver, &other.ver) > 0);
    assert_true(rc_version_cmp(&t2.ver, &t1.ver) > 0);
    assert_int_equal(joined_total(&t2, &other), 12);
    assert_int_equal(joined_total(&t1, &t2), 12);
    assert_int_equal(renewals(f), 0);
}

/* A renewal is the key's: another counter this process increments,
 * whose copy was never dropped, keeps its actor (else every busy counter
 * would gain a component at each renewal). */
static void test_renewal_is_per_key(void **state)
{
    struct fx *f = *state;
    struct state s[5], a1, a2;

    incr_key(f, "other", NULL, &a1);
    five(f, s);
    drop_key(f, KEY);
    apply(f, &s[2]);
    assert_int_equal(renewals(f), 1);
    incr_key(f, "other", NULL, &a2);
    assert_true(only_actor(&a1) == only_actor(&a2));
    assert_int_equal(joined_total(&a1, &a2), 2);
}

/* Past RENEW_MAX renewed keys the process draws a new prefix: every key
 * counts as a new actor, the ones never renewed too. */
static void test_renewals_overflow_to_a_new_prefix(void **state)
{
    struct fx *f = *state;
    struct state a1, a2, t;
    char key[32];
    int i;

    incr_key(f, "other", NULL, &a1);
    for (i = 0; i <= 32768; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        incr_key(f, key, NULL, &t);
        drop_key(f, key);
        apply_key(f, key, &t); /* back with no copy: renewed */
    }
    assert_int_equal(renewals(f), 32769);
    incr_key(f, "other", NULL, &a2);
    assert_int_equal(actors(&a2), 2);
    assert_int_equal(joined_total(&a1, &a2), 2);
    {
        struct rc_counter c;

        assert_int_equal(rc_counter_decode(a2.b, a2.len, &c), 0);
        assert_true(c.comp[0].actor >> 32 != c.comp[1].actor >> 32);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dropped_copy_back_by_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropped_copy_back_by_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_state_while_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_version_ahead_of_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renewal_is_per_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renewals_overflow_to_a_new_prefix, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
