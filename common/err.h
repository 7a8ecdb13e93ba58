/*
 * err.h - ringcache error codes.
 *
 * Functions that can fail return 0 or a negative code. Codes from libuv and
 * the C library (negated errno, as libuv does on Unix) pass through
 * unchanged; ringcache's own codes live at -10000 and below so they never
 * collide. The positive number in the table is the status code sent on the
 * wire (docs/protocol.md), which is why entries are never renumbered.
 */
#ifndef RC_ERR_H
#define RC_ERR_H

#define RC_ERR_BASE 10000

/* XX(NAME, wire status, message) */
#define RC_ERR_MAP(XX)                                                   \
    XX(NOTFOUND, 1, "key not found")                                     \
    XX(PROTO, 2, "malformed frame")                                      \
    XX(VERSION, 3, "unsupported protocol version")                       \
    XX(UNKNOWN_OP, 4, "unknown operation")                               \
    XX(KEY_TOO_LARGE, 5, "key too large")                                \
    XX(VALUE_TOO_LARGE, 6, "value too large")                            \
    XX(FRAME_TOO_LARGE, 7, "frame too large")                            \
    XX(INVAL, 8, "invalid argument")                                     \
    XX(NOMEM, 9, "out of memory")                                        \
    XX(FULL, 10, "storage full")                                         \
    XX(IO, 11, "storage error")                                          \
    XX(TOO_MANY_CONNS, 12, "too many connections")                       \
    XX(UNAVAILABLE, 13, "not enough replicas available")                 \
    XX(TIMEOUT, 14, "timed out")                                         \
    XX(SHUTDOWN, 15, "server shutting down")                             \
    XX(CONNECT, 16, "cannot connect")                                    \
    XX(CLOSED, 17, "connection closed")                                  \
    XX(INTERNAL, 18, "internal error")                                   \
    XX(DRIFT, 19, "clock drift too large")                               \
    XX(BUFFER_FULL, 20, "buffer limit reached")                          \
    XX(NOAUTH, 21, "authentication required")                            \
    XX(WRONGPASS, 22, "invalid password")                                 \
    XX(SUPERSEDED, 23, "a newer write to the key won")                   \
    XX(CLUSTER_KEY, 40, "cluster key check failed")                      \
    XX(REPLAY, 41, "replayed or stale message")                          \
    XX(NOT_INTEGER, 50, "value is not an integer or out of range")       \
    XX(NOT_FLOAT, 51, "value is not a valid float")                      \
    XX(OVERFLOW, 52, "increment or decrement would overflow")            \
    XX(COUNTER_FULL, 53, "counter has too many writers")

enum rc_err {
#define RC_ERR_ENUM(name, code, msg) RC_E##name = -(RC_ERR_BASE + (code)),
    RC_ERR_MAP(RC_ERR_ENUM)
#undef RC_ERR_ENUM
};

/* Human-readable message for any code (ours, or negated errno). Static string. */
const char *rc_strerror(int err);

/* Symbolic name: the table name ("NOTFOUND"), "OK" for 0, "SYSTEM" for a
 * negated errno or libuv code, "UNKNOWN" otherwise. Static string. */
const char *rc_err_name(int err);

/* Wire status for an error: 0 for err >= 0, the table number for ours,
 * RC_EIO's number for anything else (system errors are not sent raw). */
int rc_err_to_status(int err);

/* Inverse of rc_err_to_status: 0 for status 0, RC_E* for known numbers,
 * RC_EPROTO for unknown ones. */
int rc_err_from_status(int status);

#endif
