/*
 * node_fixture.h - what the unit tests of one rc_node (server/node.c)
 * share: the options of a node on a data directory, with limits and
 * intervals that keep the background work (purge, eviction) out of the
 * way of the case under test.
 */
#ifndef RC_TEST_NODE_FIXTURE_H
#define RC_TEST_NODE_FIXTURE_H

#include "node.h"

/* Fills *o for a node on dir: 1 KiB keys, 1 MiB values, a minute of
 * tombstone grace and drift, a purge every minute, no eviction. */
void rc_t_node_opts(struct rc_node_opts *o, const char *dir);

#endif
