/*
 * auth.h - client passwords: the --auth-file format, a constant-time check,
 * and the per-connection rules every client listener applies.
 *
 * Kept free of I/O beyond reading the file once at startup, so the native
 * front ends (server/native.c) and the RESP one share one
 * implementation of "is this password right" and "how many wrong tries
 * before we hang up".
 *
 * File format: one password per line (several = rotation: add the new one,
 * move clients over, remove the old). Lines are used byte for byte except
 * for the line ending (\n or \r\n); empty lines and lines starting with '#'
 * are skipped, so a password cannot start with '#'. At most RC_AUTH_MAX_PW
 * passwords of 1..RC_AUTH_PW_MAX bytes each. Never logged.
 */
#ifndef RC_AUTH_H
#define RC_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* Redis bounds its AUTH compare at 512 bytes too; longer secrets add
 * nothing against guessing and would only widen the pre-auth frame. */
#define RC_AUTH_PW_MAX 512
/* Enough for a rotation with room for mistakes. */
#define RC_AUTH_MAX_PW 8
/* Wrong passwords one connection may send before it is closed: a typo
 * gets a retry, a guesser must reconnect for every 3 tries (and each
 * connection is counted in STATS auth_failures). */
#define RC_AUTH_MAX_FAILURES 3
/* A pre-auth connection may send frames of at most this many body bytes:
 * AUTH with the longest password fits; nothing big is buffered for a
 * client that has not proved anything yet. */
#define RC_AUTH_PREAUTH_FRAME 4096

struct rc_auth {
    uint8_t pw[RC_AUTH_MAX_PW][RC_AUTH_PW_MAX];
    size_t pw_len[RC_AUTH_MAX_PW];
    int npw;
    uint64_t ok;       /* successful AUTHs (all listeners) */
    uint64_t failures; /* wrong passwords */
    uint64_t rejected; /* requests refused with NOAUTH */
    uint64_t closed;   /* connections closed after too many failures */
};

/* Per-connection state, zeroed when the connection opens. */
struct rc_auth_conn {
    int authed;
    int failures;
};

/*
 * Parses the file's text (len bytes) into a (zeroed first). 0, or
 * RC_EINVAL with a message in err that never contains a password
 * (line number and reason only).
 */
int rc_auth_parse(struct rc_auth *a, const char *text, size_t len, char *err, size_t errlen);

/* Reads and parses path (at most 64 KiB). 0, or RC_EINVAL / a negated
 * errno with a message in err. */
int rc_auth_load(struct rc_auth *a, const char *path, char *err, size_t errlen);

/*
 * Constant-time check of pw against every configured password: the time
 * taken depends on neither the password's content nor its length (both
 * sides are compared over RC_AUTH_PW_MAX bytes). 1 if it matches one.
 */
int rc_auth_match(const struct rc_auth *a, const uint8_t *pw, size_t len);

/*
 * One AUTH attempt on a connection: updates conn and a's counters.
 * Returns 0 (authenticated) or RC_EWRONGPASS (reply it). *close is set
 * to 1 when this was the connection's RC_AUTH_MAX_FAILURES-th wrong
 * password: reply, then close the connection; else 0.
 */
int rc_auth_attempt(struct rc_auth *a, struct rc_auth_conn *conn, const uint8_t *pw, size_t len,
                    int *close);

/* Whether a connection in this state may run an operation other than
 * AUTH/PING/QUIT: always when a is NULL (auth off). */
static inline int rc_auth_passed(const struct rc_auth *a, const struct rc_auth_conn *conn)
{
    return a == NULL || conn->authed;
}

#endif
