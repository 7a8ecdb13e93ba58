/*
 * log.h - leveled, one-line-per-event logging.
 *
 * Lines look like "2026-11-26T12:00:00.123Z INFO  listening addr=127.0.0.1:7400":
 * a UTC timestamp, a level, a message, then key=value pairs, so people can
 * read them and grep/awk can cut them. The logger is a value owned by its
 * user (no global state); a NULL logger discards everything.
 */
#ifndef RC_LOG_H
#define RC_LOG_H

#include <stdio.h>

enum rc_log_level { RC_LOG_DEBUG = 0, RC_LOG_INFO = 1, RC_LOG_WARN = 2, RC_LOG_ERROR = 3 };

struct rc_log {
    int level;   /* lines below this level are dropped */
    FILE *out;   /* borrowed; usually stderr */
};

void rc_log_init(struct rc_log *lg, int level, FILE *out);

/* Parses "debug", "info", "warn", "error". Returns the level or RC_EINVAL. */
int rc_log_parse_level(const char *s);

void rc_log_at(const struct rc_log *lg, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define rc_log_debug(lg, ...) rc_log_at((lg), RC_LOG_DEBUG, __VA_ARGS__)
#define rc_log_info(lg, ...) rc_log_at((lg), RC_LOG_INFO, __VA_ARGS__)
#define rc_log_warn(lg, ...) rc_log_at((lg), RC_LOG_WARN, __VA_ARGS__)
#define rc_log_error(lg, ...) rc_log_at((lg), RC_LOG_ERROR, __VA_ARGS__)

#endif
