/*
 * protect.h - protected mode: the startup decision, kept pure so that every
 * case (loopback, wildcard, names, flags) is unit-tested.
 *
 * A node reachable from other machines with neither client passwords nor a
 * cluster key would hand its data to anyone who can reach the port; like
 * Redis's protected mode it refuses to start then, unless the operator
 * says --insecure explicitly.
 */
#ifndef RC_PROTECT_H
#define RC_PROTECT_H

#include <stdbool.h>
#include <stddef.h>

/* 1 for addresses only this machine can reach: 127.0.0.0/8, ::1,
 * ::ffff:127.x.x.x and "localhost"; 0 for everything else, including
 * 0.0.0.0, :: and host names. */
int rc_protect_is_loopback(const char *bind);

/*
 * The node may start: 0 (msg empty), or 1 with a warning in msg to log
 * (non-loopback with only one of auth / cluster key, or --insecure).
 * It must not: RC_EINVAL with a message in msg saying exactly which flag
 * or variable to set (non-loopback, neither configured, no --insecure).
 */
int rc_protect_check(const char *bind, bool auth, bool cluster_key, bool insecure, char *msg,
                     size_t msglen);

#endif
