/*
 * redis_side.h - a real redis-server beside ringcache, for the tests that
 * compare replies with Redis's (test_counter, test_evict, test_keyspace,
 * test_redis_proto, test_redis_strings): found on PATH or in Debian's
 * place, started on a loopback port without persistence, killed with the
 * test.
 */
#ifndef RC_TEST_REDIS_SIDE_H
#define RC_TEST_REDIS_SIDE_H

#include <stddef.h>
#include <sys/types.h>

/* redis-server on PATH, else /usr/bin/redis-server: 0 with its path in
 * out, or -1 (the caller skips: scripts/deps.sh test installs it). */
int rc_h_redis_find(char *out, size_t cap);

/*
 * Starts bin on 127.0.0.1:port without persistence (--save "" and
 * --appendonly no), its files and its log (redis.log) in dir, with extra
 * arguments after those (NULL-terminated, or NULL), and waits until it
 * accepts a connection. The child dies with the test process
 * (PR_SET_PDEATHSIG) even when a timeout kills the test. Its pid, or -1:
 * it exited, or did not accept within timeout_ms (then it is killed).
 */
pid_t rc_h_redis_start(const char *bin, int port, const char *dir, const char *const *extra,
                       int timeout_ms);

/* Kills *pid (SIGKILL) and reaps it, then sets it to 0; nothing when
 * *pid <= 0. For teardowns. */
void rc_h_redis_kill(pid_t *pid);

#endif
