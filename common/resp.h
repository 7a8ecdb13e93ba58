/*
 * resp.h - the Redis serialization protocol (RESP2, and RESP3's reply
 * types), parsing and encoding.
 *
 * Pure functions over byte buffers, used by the RESP listener
 * (server/resp.c). A command is either a multibulk array of bulk strings
 * ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") or an inline line split on blanks
 * with Redis's quoting rules ("GET k\r\n", as typed in telnet). The parser
 * never allocates: arguments borrow from the input (inline arguments that
 * needed unquoting are copied into a caller's scratch area), and every
 * declared count and length is checked against the caller's limits before
 * anything else, so a hostile length prefix costs nothing.
 */
#ifndef RC_RESP_H
#define RC_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Redis's own limit for an inline command and for the "*<n>" / "$<n>"
 * header lines: a line longer than this without its newline is an error. */
#define RC_RESP_MAX_INLINE (64 * 1024)

struct rc_resp_arg {
    const uint8_t *p;
    size_t len;
};

struct rc_resp_limits {
    size_t max_args;    /* arguments per command (also the argv capacity) */
    size_t max_bulk;    /* bytes in one argument */
    size_t max_command; /* bytes of one whole command as it arrives */
};

/*
 * Parses one command at the start of buf[0..len).
 * Returns 1 with *argc arguments in argv and *used bytes consumed (*argc
 * may be 0: an empty line or "*0", which the caller skips), 0 when more
 * bytes are needed, or RC_EPROTO with *err set to Redis's wording of the
 * problem (static string, without the "ERR Protocol error: " prefix).
 * scratch (RC_RESP_MAX_INLINE bytes) receives unquoted inline arguments;
 * argv arguments may point into it until the next call.
 */
int rc_resp_parse(const uint8_t *buf, size_t len, const struct rc_resp_limits *lim,
                  struct rc_resp_arg *argv, size_t *argc, size_t *used, uint8_t *scratch,
                  const char **err);

/*
 * Client side (load generators): measures one reply at the start of
 * buf[0..len) without copying. Returns 1 with *used and *kind (the type
 * byte: '+', '-', ':', '$', '*'; '$' with *nil set for a null bulk),
 * 0 when more bytes are needed, RC_EPROTO when it is not RESP2. Arrays
 * are walked to depth 8 with at most max_bulk bytes per bulk.
 */
int rc_resp_reply_check(const uint8_t *buf, size_t len, size_t max_bulk, char *kind, int *nil,
                        size_t *used);

/* Case-insensitive comparison of an argument with a NUL-terminated word. */
int rc_resp_is(const struct rc_resp_arg *a, const char *word);

/* Parses a whole argument as a signed 64-bit decimal (Redis's string2ll
 * rules: no blanks, no '+', no leading zeros). 0 or RC_EINVAL. */
int rc_resp_int(const struct rc_resp_arg *a, int64_t *out);

/*
 * Encoders: each appends one RESP2 value to out and returns 0, or
 * RC_EBUFFER_FULL / RC_ENOMEM with out unchanged.
 */
int rc_resp_simple(struct rc_buf *out, const char *s);   /* +s */
int rc_resp_error(struct rc_buf *out, const char *s);    /* -s (s starts with a code: "ERR ..."; CR/LF become spaces) */
int rc_resp_integer(struct rc_buf *out, int64_t v);      /* :v */
int rc_resp_bulk(struct rc_buf *out, const void *p, size_t n); /* $n p */
int rc_resp_bulk_str(struct rc_buf *out, const char *s);
int rc_resp_nil(struct rc_buf *out);                     /* $-1 */
int rc_resp_array(struct rc_buf *out, size_t n);         /* *n (the n elements follow) */

/*
 * Reply types that differ between RESP2 and RESP3 (HELLO 3): proto is the
 * connection's protocol (2 or 3); with 2 each writes what Redis 7 sends a
 * RESP2 client instead.
 */
int rc_resp_null(struct rc_buf *out, int proto);          /* _ | $-1 */
int rc_resp_null_array(struct rc_buf *out, int proto);    /* _ | *-1 */
int rc_resp_map(struct rc_buf *out, size_t n, int proto); /* %n | *2n (n key/value pairs follow) */
int rc_resp_set(struct rc_buf *out, size_t n, int proto); /* ~n | *n */
int rc_resp_bool(struct rc_buf *out, int v, int proto);   /* #t/#f | :1/:0 */
int rc_resp_double(struct rc_buf *out, double v, int proto); /* ,v | $ bulk, "%.17g" */
int rc_resp_verbatim(struct rc_buf *out, const void *p, size_t n, int proto); /* =txt: | $ */

#endif
