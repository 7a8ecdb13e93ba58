/*
 * cli_views.h - ringcache-cli's cluster views: members, ring and watch.
 *
 * The views read msgpack documents a node sends (MEMBERS, RING, ACTIVITY),
 * bounded and type-checked on the raw bytes before use, and print them as
 * tables or JSON. cli.c parses the command line and calls in here; errors
 * come back as a code and a message for it to report.
 */
#ifndef RC_CLI_VIEWS_H
#define RC_CLI_VIEWS_H

#include <stddef.h>
#include <stdio.h>

#include "ringcache.h"

/* MEMBERS and RING replies are read on a connection whose reply cap is
 * this, not the 512 MiB allowed for values: a server builds them in at
 * most 1 MiB (1024 members), so 4 MiB leaves room to grow while bounding
 * what a broken server can make the CLI hold. */
#define RC_CLI_VIEW_MAX_REPLY (4u << 20)

/* s (NUL-terminated) as a JSON string; bytes that are not UTF-8 become
 * U+FFFD, so the output is valid JSON whatever the server sent. */
void rc_cli_views_json_str(FILE *f, const char *s);

/*
 * Prints the reply res (status OK, borrowed) to MEMBERS or RING (op) as a
 * table, or as JSON. For MEMBERS, c (borrowed) and every other alive
 * member are also asked for their key counts, each within timeout_ms
 * (0: the default 500 ms), authenticating with password when not NULL.
 * Returns 0, or RC_EPROTO / RC_ENOMEM with err
 * saying what was wrong with the reply; nothing is printed then.
 */
int rc_cli_views_print(int op, struct rc_client *c, const struct rc_result *res, int timeout_ms,
                       const char *password, int json, char *err, size_t errlen);

struct rc_cli_watch_opts {
    const char *server;                 /* node asked for MEMBERS, borrowed */
    const struct rc_client_opts *copts; /* its first connection; borrowed */
    int timeout_ms;                     /* cap on the probe timeout, 0 = none */
    int interval_ms;                    /* between polls, >= 100 */
    int json;                           /* JSON lines even on a terminal */
};

/*
 * The live view of the cluster (ringcache-cli watch) until SIGINT or
 * SIGTERM, which it handles while running and restores after. Returns 0
 * when stopped by one of them, the error of the first contact with
 * o->server (err says what failed; nothing printed), or RC_EIO when
 * stdout cannot be written.
 */
int rc_cli_views_watch(const struct rc_cli_watch_opts *o, char *err, size_t errlen);

#endif
