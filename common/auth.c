/*
 * auth.c - client passwords (see auth.h).
 *
 * The compare copies both sides into fixed RC_AUTH_PW_MAX-byte buffers and
 * ORs the differences of every byte and of the lengths, like Redis's
 * time_independent_strcmp: no early exit, so response time tells a guesser
 * nothing about how close a guess was or how long the password is.
 */
#include "auth.h"
#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A password file is a handful of short lines; anything bigger is a
 * wrong path (a binary, a log), refused rather than read. */
#define AUTH_FILE_MAX (64 * 1024)

static int parse_fail(char *err, size_t errlen, int line, const char *why)
{
    snprintf(err, errlen, "line %d: %s", line, why);
    return RC_EINVAL;
}

int rc_auth_parse(struct rc_auth *a, const char *text, size_t len, char *err, size_t errlen)
{
    size_t pos = 0, end, n;
    int line = 0;

    memset(a, 0, sizeof(*a));
    while (pos < len) {
        line++;
        end = pos;
        while (end < len && text[end] != '\n')
            end++;
        n = end - pos;
        if (n > 0 && text[pos + n - 1] == '\r')
            n--;
        if (n > 0 && text[pos] != '#') {
            if (memchr(text + pos, '\0', n) != NULL)
                return parse_fail(err, errlen, line, "contains a NUL byte");
            if (n > RC_AUTH_PW_MAX)
                return parse_fail(err, errlen, line, "password longer than 512 bytes");
            if (a->npw == RC_AUTH_MAX_PW)
                return parse_fail(err, errlen, line, "more than 8 passwords");
            memcpy(a->pw[a->npw], text + pos, n);
            a->pw_len[a->npw] = n;
            a->npw++;
        }
        pos = end + 1;
    }
    if (a->npw == 0) {
        snprintf(err, errlen, "no password in the file (one per line)");
        return RC_EINVAL;
    }
    return 0;
}

int rc_auth_load(struct rc_auth *a, const char *path, char *err, size_t errlen)
{
    char why[128], *text;
    FILE *f;
    size_t n;
    int rv;

    text = malloc(AUTH_FILE_MAX + 1);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return RC_ENOMEM;
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        rv = -errno;
        snprintf(err, errlen, "cannot open '%s': %s", path, strerror(-rv));
        free(text);
        return rv;
    }
    n = fread(text, 1, AUTH_FILE_MAX + 1, f);
    rv = ferror(f) ? RC_EIO : 0;
    fclose(f);
    if (rv == 0 && n > AUTH_FILE_MAX) {
        snprintf(err, errlen, "'%s' is larger than 64 KiB: not a password file", path);
        rv = RC_EINVAL;
    } else if (rv < 0) {
        snprintf(err, errlen, "cannot read '%s'", path);
    } else {
        rv = rc_auth_parse(a, text, n, why, sizeof(why));
        if (rv < 0)
            snprintf(err, errlen, "'%s' %s", path, why);
    }
    /* The secret stays only in a. */
    memset(text, 0, AUTH_FILE_MAX + 1);
    free(text);
    return rv;
}

static int equal_ct(const uint8_t *stored, size_t stored_len, const uint8_t *pw, size_t len)
{
    uint8_t given[RC_AUTH_PW_MAX];
    volatile uint8_t diff = 0;
    size_t i, n = len > RC_AUTH_PW_MAX ? RC_AUTH_PW_MAX : len, dl = stored_len ^ len;

    memset(given, 0, sizeof(given));
    memcpy(given, pw, n);
    for (i = 0; i < RC_AUTH_PW_MAX; i++)
        diff |= (uint8_t)(stored[i] ^ given[i]);
    /* Lengths compared without a branch on the secret. */
    for (i = 0; i < sizeof(dl); i++)
        diff |= (uint8_t)(dl >> (8 * i));
    return diff == 0;
}

int rc_auth_match(const struct rc_auth *a, const uint8_t *pw, size_t len)
{
    int i, ok = 0;

    /* Every password is compared, so which one matched is not timed. */
    for (i = 0; i < a->npw; i++)
        ok |= equal_ct(a->pw[i], a->pw_len[i], pw, len);
    return ok;
}

int rc_auth_attempt(struct rc_auth *a, struct rc_auth_conn *conn, const uint8_t *pw, size_t len,
                    int *close)
{
    *close = 0;
    if (len <= RC_AUTH_PW_MAX && rc_auth_match(a, pw, len)) {
        conn->authed = 1;
        conn->failures = 0;
        a->ok++;
        return 0;
    }
    a->failures++;
    if (++conn->failures >= RC_AUTH_MAX_FAILURES) {
        a->closed++;
        *close = 1;
    }
    return RC_EWRONGPASS;
}
