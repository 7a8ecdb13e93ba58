/*
 * log.c - leveled logging (see log.h).
 */
#include "log.h"
#include "err.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void rc_log_init(struct rc_log *lg, int level, FILE *out)
{
    lg->level = level;
    lg->out = out;
}

int rc_log_parse_level(const char *s)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    int i;

    for (i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    return RC_EINVAL;
}

void rc_log_at(const struct rc_log *lg, int level, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;

    if (lg == NULL || lg->out == NULL || level < lg->level)
        return;
    if (level < RC_LOG_DEBUG || level > RC_LOG_ERROR)
        level = RC_LOG_ERROR;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %s ", ts.tv_nsec / 1000000,
                          level_names[level]);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    /* One fputs per line keeps lines whole even when several processes
     * share a terminal; overlong messages are cut, never wrapped. */
    n = strlen(line);
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n] = '\n';
    line[n + 1] = '\0';
    fputs(line, lg->out);
    fflush(lg->out);
}
