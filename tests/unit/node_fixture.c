/*
 * node_fixture.c - node_fixture.h's options of a node under test.
 */
#include "node_fixture.h"

#include "evict.h"

#include <string.h>

void rc_t_node_opts(struct rc_node_opts *o, const char *dir)
{
    memset(o, 0, sizeof(*o));
    o->data_dir = dir;
    o->max_key = 1024;
    o->max_value = 1 << 20;
    o->tombstone_grace_ms = 60000;
    o->cache_kib = 1024;
    o->read_cache_bytes = 1 << 20;
    o->purge_interval_ms = 60000;
    o->purge_batch = 100;
    o->max_drift_ms = 60000;
    o->evict_policy = RC_EVICT_NOEVICTION;
}
