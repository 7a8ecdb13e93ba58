/*
 * test_node_flush.c - FLUSHALL's epoch on one node (server/node.c,
 * rc_node_flush): entries older than the epoch are hidden at once and
 * deleted in the background; older versions are refused from every path
 * (a coordinator's write answers SUPERSEDED with the epoch, a stream's or
 * a repair's apply is ignored); newer writes land; the epoch survives a
 * restart and never goes back.
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

#include "err.h"
#include "node.h"
#include "node_fixture.h"

struct fx {
    uv_loop_t loop;
    char dir[64];
    struct rc_node *node;
    int acks;
};

static void on_write(void *arg, int err)
{
    struct fx *f = arg;

    assert_int_equal(err, 0);
    f->acks++;
}

static void open_node(struct fx *f)
{
    struct rc_node_opts o;
    char err[256];

    rc_t_node_opts(&o, f->dir);
    assert_int_equal(rc_node_new(&f->loop, &o, NULL, &f->node, err, sizeof(err)), 0);
    rc_node_start(f->node);
}

static void close_node(struct fx *f)
{
    rc_node_stop(f->node);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    rc_node_free(f->node);
    f->node = NULL;
}

static void put(struct fx *f, const char *key, const struct rc_version *v, int want)
{
    struct rc_version newer = {0, 0};
    int rv = rc_node_write(f->node, (const uint8_t *)key, strlen(key), (const uint8_t *)"v", 1, v,
                           0, on_write, f, NULL, &newer);

    assert_int_equal(rv, want);
    if (want == RC_ESUPERSEDED) {
        /* The epoch, so the coordinator moves its clock past it. */
        assert_true(newer.hlc == rc_node_flush_epoch(f->node));
        assert_true(newer.node == 0);
    }
}

static int found(struct fx *f, const char *key)
{
    struct rc_entry e;

    return rc_node_get(f->node, (const uint8_t *)key, strlen(key), &e) == 0;
}

static uint64_t count(struct fx *f)
{
    uint64_t n = 0;

    assert_int_equal(rc_node_range_count(f->node, 0, UINT64_MAX, rc_node_now_ms(), &n), 0);
    return n;
}

static void settle(struct fx *f)
{
    int i;

    for (i = 0; i < 100 && rc_node_flush_dropping(f->node); i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    uv_run(&f->loop, UV_RUN_NOWAIT); /* the batch end commits the deletes */
    assert_false(rc_node_flush_dropping(f->node));
}

static void test_flush_epoch(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct rc_version old, v;
    uint64_t epoch;
    char key[32];
    int i;

    (void)state;
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/rc-flush-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    uv_loop_init(&f->loop);
    open_node(f);
    assert_true(rc_node_flush_epoch(f->node) == 0);

    /* 1,500 keys: the drop takes several of its 512-entry steps. */
    rc_node_new_version(f->node, &old);
    for (i = 0; i < 1500; i++) {
        snprintf(key, sizeof(key), "old:%d", i);
        put(f, key, &old, 0);
    }
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_true(found(f, "old:1"));
    assert_true(count(f) == 1500);

    rc_node_new_version(f->node, &v);
    epoch = v.hlc;
    assert_int_equal(rc_node_flush(f->node, epoch), 0);
    assert_true(rc_node_flush_epoch(f->node) == epoch);
    /* Hidden at once, before the drop deleted anything. */
    assert_false(found(f, "old:1"));
    /* Older versions refused: a write answers SUPERSEDED, an apply (a
     * stream, a repair) is ignored. */
    put(f, "old:2", &old, RC_ESUPERSEDED);
    assert_int_equal(rc_node_apply(f->node, (const uint8_t *)"old:3", 5, (const uint8_t *)"v", 1,
                                   &old, 0),
                     0);
    assert_false(found(f, "old:3"));
    /* A version at the epoch or newer lands. */
    rc_node_new_version(f->node, &v);
    assert_true(v.hlc > epoch);
    put(f, "new:1", &v, 0);
    assert_true(found(f, "new:1"));

    settle(f);
    assert_true(count(f) == 1);
    assert_true(found(f, "new:1"));
    /* After the drop too: a late stream batch of the old version is not
     * stored again. */
    assert_int_equal(rc_node_apply(f->node, (const uint8_t *)"old:6", 5, (const uint8_t *)"v", 1,
                                   &old, 0),
                     0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_true(count(f) == 1);

    /* An older epoch changes nothing. */
    assert_int_equal(rc_node_flush(f->node, epoch - 1), 0);
    assert_true(rc_node_flush_epoch(f->node) == epoch);

    /* The epoch survives a restart, and the clock starts past it. */
    close_node(f);
    open_node(f);
    assert_true(rc_node_flush_epoch(f->node) == epoch);
    rc_node_new_version(f->node, &v);
    assert_true(v.hlc > epoch);
    put(f, "old:4", &old, RC_ESUPERSEDED);
    assert_true(found(f, "new:1"));
    assert_false(found(f, "old:5"));
    settle(f);
    assert_true(count(f) == 1);
    close_node(f);
    uv_loop_close(&f->loop);
    {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
        assert_int_equal(system(cmd), 0);
    }
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flush_epoch),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
