/*
 * resp.c - RESP2 parsing and encoding (see resp.h).
 *
 * The parser is restartable by re-parsing: it keeps no state between calls
 * and consumes nothing until a whole command is present, so the caller
 * simply calls again when more bytes arrived. Re-parsing only walks header
 * lines and skips over bulk payloads, so a large command arriving in many
 * reads costs a few header scans, not a copy each time.
 */
#include "resp.h"
#include "err.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static uint8_t upper(uint8_t c)
{
    return c >= 'a' && c <= 'z' ? (uint8_t)(c - 'a' + 'A') : c;
}

int rc_resp_is(const struct rc_resp_arg *a, const char *word)
{
    size_t i, n = strlen(word);

    if (a->len != n)
        return 0;
    for (i = 0; i < n; i++)
        if (upper(a->p[i]) != upper((uint8_t)word[i]))
            return 0;
    return 1;
}

static int parse_ll(const uint8_t *p, size_t n, int64_t *out)
{
    uint64_t v = 0, limit;
    size_t i = 0;
    int neg = 0;

    if (n == 0 || n > 20)
        return RC_EINVAL;
    if (n == 1 && p[0] == '0') {
        *out = 0;
        return 0;
    }
    if (p[0] == '-') {
        neg = 1;
        i = 1;
        if (n == 1)
            return RC_EINVAL;
    }
    if (p[i] < '1' || p[i] > '9')
        return RC_EINVAL;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return RC_EINVAL;
        if (v > (limit - (uint64_t)(p[i] - '0')) / 10)
            return RC_EINVAL;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int rc_resp_int(const struct rc_resp_arg *a, int64_t *out)
{
    return parse_ll(a->p, a->len, out);
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int is_blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* One escaped character inside double quotes at p[i] == '\\'. Returns the
 * bytes consumed and the character in *c. */
static size_t unescape(const uint8_t *p, size_t i, size_t end, uint8_t *c)
{
    if (i + 3 < end && p[i + 1] == 'x' && hexval(p[i + 2]) >= 0 && hexval(p[i + 3]) >= 0) {
        *c = (uint8_t)(hexval(p[i + 2]) * 16 + hexval(p[i + 3]));
        return 4;
    }
    if (i + 1 >= end) {
        *c = '\\';
        return 1;
    }
    switch (p[i + 1]) {
    case 'n': *c = '\n'; break;
    case 'r': *c = '\r'; break;
    case 't': *c = '\t'; break;
    case 'b': *c = '\b'; break;
    case 'a': *c = '\a'; break;
    default: *c = p[i + 1]; break;
    }
    return 2;
}

/* Splits one inline line p[0..end) like Redis's sdssplitargs: blanks
 * separate arguments, "..." takes C-like escapes, '...' takes \' only, and
 * a closing quote must be followed by a blank or the end of the line. */
static int split_inline(const uint8_t *p, size_t end, const struct rc_resp_limits *lim,
                        struct rc_resp_arg *argv, size_t *argc, uint8_t *scratch,
                        const char **err)
{
    size_t i = 0, w = 0, n = 0, start;
    int inq, insq;
    uint8_t c;

    for (;;) {
        while (i < end && is_blank(p[i]))
            i++;
        if (i >= end)
            break;
        if (n >= lim->max_args) {
            *err = "too many arguments";
            return RC_EPROTO;
        }
        start = w;
        inq = insq = 0;
        while (i < end) {
            if (inq && p[i] == '\\') {
                i += unescape(p, i, end, &c);
                scratch[w++] = c;
            } else if (inq && p[i] == '"') {
                if (i + 1 < end && !is_blank(p[i + 1]))
                    goto unbalanced;
                inq = 0;
                i++;
            } else if (insq && p[i] == '\\' && i + 1 < end && p[i + 1] == '\'') {
                scratch[w++] = '\'';
                i += 2;
            } else if (insq && p[i] == '\'') {
                if (i + 1 < end && !is_blank(p[i + 1]))
                    goto unbalanced;
                insq = 0;
                i++;
            } else if (inq || insq) {
                scratch[w++] = p[i++];
            } else if (is_blank(p[i])) {
                break;
            } else if (p[i] == '"') {
                inq = 1;
                i++;
            } else if (p[i] == '\'') {
                insq = 1;
                i++;
            } else {
                scratch[w++] = p[i++];
            }
        }
        if (inq || insq)
            goto unbalanced;
        if (w - start > lim->max_bulk) {
            *err = "invalid bulk length";
            return RC_EPROTO;
        }
        argv[n].p = scratch + start;
        argv[n].len = w - start;
        n++;
    }
    *argc = n;
    return 0;
unbalanced:
    *err = "unbalanced quotes in request";
    return RC_EPROTO;
}

static int parse_inline(const uint8_t *buf, size_t len, const struct rc_resp_limits *lim,
                        struct rc_resp_arg *argv, size_t *argc, size_t *used, uint8_t *scratch,
                        const char **err)
{
    size_t scan = len < RC_RESP_MAX_INLINE ? len : RC_RESP_MAX_INLINE;
    const uint8_t *nl = memchr(buf, '\n', scan);
    size_t end;
    int rv;

    if (nl == NULL) {
        if (len >= RC_RESP_MAX_INLINE) {
            *err = "too big inline request";
            return RC_EPROTO;
        }
        return 0;
    }
    end = (size_t)(nl - buf);
    *used = end + 1;
    if (end > 0 && buf[end - 1] == '\r')
        end--;
    rv = split_inline(buf, end, lim, argv, argc, scratch, err);
    return rv < 0 ? rv : 1;
}

/* Reads a "<c><integer>\r\n" header line at buf[*pos]. 1 with *v and *pos
 * past the line, 0 when incomplete, RC_EPROTO when the number is bad. */
static int header_line(const uint8_t *buf, size_t len, size_t *pos, int64_t *v,
                       const char *what, const char **err)
{
    size_t avail = len - *pos, scan = avail < RC_RESP_MAX_INLINE ? avail : RC_RESP_MAX_INLINE;
    const uint8_t *cr = memchr(buf + *pos, '\r', scan);
    size_t at;

    if (cr == NULL) {
        if (avail >= RC_RESP_MAX_INLINE) {
            *err = what[0] == '*' ? "too big mbulk count string" : "too big bulk count string";
            return RC_EPROTO;
        }
        return 0;
    }
    at = (size_t)(cr - buf);
    if (at + 1 >= len)
        return 0;
    if (buf[at + 1] != '\n' || parse_ll(buf + *pos + 1, at - *pos - 1, v) < 0) {
        *err = what[0] == '*' ? "invalid multibulk length" : "invalid bulk length";
        return RC_EPROTO;
    }
    *pos = at + 2;
    return 1;
}

static int parse_multibulk(const uint8_t *buf, size_t len, const struct rc_resp_limits *lim,
                           struct rc_resp_arg *argv, size_t *argc, size_t *used,
                           const char **err)
{
    size_t pos = 0, i, n;
    int64_t v;
    int rv;

    rv = header_line(buf, len, &pos, &v, "*", err);
    if (rv <= 0)
        goto incomplete;
    if (v > (int64_t)lim->max_args) {
        *err = "invalid multibulk length";
        return RC_EPROTO;
    }
    n = v > 0 ? (size_t)v : 0;
    for (i = 0; i < n; i++) {
        if (pos >= len) {
            rv = 0;
            goto incomplete;
        }
        if (buf[pos] != '$') {
            *err = "expected '$' before a bulk string";
            return RC_EPROTO;
        }
        rv = header_line(buf, len, &pos, &v, "$", err);
        if (rv <= 0)
            goto incomplete;
        if (v < 0 || (uint64_t)v > lim->max_bulk) {
            *err = "invalid bulk length";
            return RC_EPROTO;
        }
        if (pos + (size_t)v + 2 > lim->max_command) {
            *err = "request too big";
            return RC_EPROTO;
        }
        if (pos + (size_t)v + 2 > len) {
            rv = 0;
            goto incomplete;
        }
        if (buf[pos + (size_t)v] != '\r' || buf[pos + (size_t)v + 1] != '\n') {
            *err = "expected CRLF after a bulk string";
            return RC_EPROTO;
        }
        argv[i].p = buf + pos;
        argv[i].len = (size_t)v;
        pos += (size_t)v + 2;
    }
    *argc = n;
    *used = pos;
    return 1;
incomplete:
    if (rv == 0 && len >= lim->max_command) {
        *err = "request too big";
        return RC_EPROTO;
    }
    return rv;
}

int rc_resp_parse(const uint8_t *buf, size_t len, const struct rc_resp_limits *lim,
                  struct rc_resp_arg *argv, size_t *argc, size_t *used, uint8_t *scratch,
                  const char **err)
{
    *argc = 0;
    *used = 0;
    *err = NULL;
    if (len == 0)
        return 0;
    if (buf[0] == '*')
        return parse_multibulk(buf, len, lim, argv, argc, used, err);
    return parse_inline(buf, len, lim, argv, argc, used, scratch, err);
}

/* ---- replies (client side) ------------------------------------------ */

#define REPLY_MAX_DEPTH 8

static int reply_at(const uint8_t *buf, size_t len, size_t max_bulk, unsigned depth, size_t *pos,
                    char *kind, int *nil)
{
    size_t avail = len - *pos, scan = avail < RC_RESP_MAX_INLINE ? avail : RC_RESP_MAX_INLINE;
    const uint8_t *cr;
    size_t at, i;
    int64_t v = 0;
    int rv;
    char k;

    if (avail == 0)
        return 0;
    k = (char)buf[*pos];
    cr = memchr(buf + *pos, '\r', scan);
    if (cr == NULL)
        return avail >= RC_RESP_MAX_INLINE ? RC_EPROTO : 0;
    at = (size_t)(cr - buf);
    if (at + 1 >= len)
        return 0;
    if (buf[at + 1] != '\n')
        return RC_EPROTO;
    if (k == '$' || k == '*' || k == ':') {
        if (parse_ll(buf + *pos + 1, at - *pos - 1, &v) < 0)
            return RC_EPROTO;
    } else if (k != '+' && k != '-') {
        return RC_EPROTO;
    }
    *kind = k;
    *nil = (k == '$' || k == '*') && v < 0;
    *pos = at + 2;
    if (k == '$' && v >= 0) {
        if ((uint64_t)v > max_bulk)
            return RC_EPROTO;
        if (len - *pos < (size_t)v + 2)
            return 0;
        if (buf[*pos + (size_t)v] != '\r' || buf[*pos + (size_t)v + 1] != '\n')
            return RC_EPROTO;
        *pos += (size_t)v + 2;
    }
    if (k == '*' && v > 0) {
        char ek;
        int enil;

        if (depth >= REPLY_MAX_DEPTH)
            return RC_EPROTO;
        for (i = 0; i < (size_t)v; i++) {
            rv = reply_at(buf, len, max_bulk, depth + 1, pos, &ek, &enil);
            if (rv <= 0)
                return rv;
        }
    }
    return 1;
}

int rc_resp_reply_check(const uint8_t *buf, size_t len, size_t max_bulk, char *kind, int *nil,
                        size_t *used)
{
    size_t pos = 0;
    int rv = reply_at(buf, len, max_bulk, 0, &pos, kind, nil);

    *used = rv == 1 ? pos : 0;
    return rv;
}

/* ---- encoding ------------------------------------------------------- */

/* Writes "<c><v>\r\n" into tmp (at least 24 bytes); returns its length. */
static size_t fmt_header(char *tmp, char c, int64_t v)
{
    char digits[20];
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t n = 0, k = 0;

    tmp[k++] = c;
    if (v < 0)
        tmp[k++] = '-';
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n)
        tmp[k++] = digits[--n];
    tmp[k++] = '\r';
    tmp[k++] = '\n';
    return k;
}

static int append2(struct rc_buf *out, const void *a, size_t na, const void *b, size_t nb,
                   int crlf)
{
    size_t total = na + nb + (crlf ? 2 : 0);
    uint8_t *w;
    int rv;

    rv = rc_buf_reserve(out, total);
    if (rv < 0)
        return rv;
    w = rc_buf_wptr(out);
    memcpy(w, a, na);
    if (nb)
        memcpy(w + na, b, nb);
    if (crlf)
        memcpy(w + na + nb, "\r\n", 2);
    rc_buf_commit(out, total);
    return 0;
}

/* A simple string or error is one line: CR and LF in s (an echoed
 * argument, say) become spaces rather than end the reply early. */
static int append_line(struct rc_buf *out, char c, const char *s)
{
    size_t n = strlen(s), i;
    uint8_t *w;
    int rv;

    rv = rc_buf_reserve(out, n + 3);
    if (rv < 0)
        return rv;
    w = rc_buf_wptr(out);
    w[0] = (uint8_t)c;
    for (i = 0; i < n; i++)
        w[1 + i] = s[i] == '\r' || s[i] == '\n' ? ' ' : (uint8_t)s[i];
    memcpy(w + 1 + n, "\r\n", 2);
    rc_buf_commit(out, n + 3);
    return 0;
}

int rc_resp_simple(struct rc_buf *out, const char *s)
{
    return append_line(out, '+', s);
}

int rc_resp_error(struct rc_buf *out, const char *s)
{
    return append_line(out, '-', s);
}

int rc_resp_integer(struct rc_buf *out, int64_t v)
{
    char tmp[32];

    return append2(out, tmp, fmt_header(tmp, ':', v), NULL, 0, 0);
}

int rc_resp_bulk(struct rc_buf *out, const void *p, size_t n)
{
    char tmp[32];

    return append2(out, tmp, fmt_header(tmp, '$', (int64_t)n), p, n, 1);
}

int rc_resp_bulk_str(struct rc_buf *out, const char *s)
{
    return rc_resp_bulk(out, s, strlen(s));
}

int rc_resp_nil(struct rc_buf *out)
{
    return append2(out, "$-1\r\n", 5, NULL, 0, 0);
}

int rc_resp_array(struct rc_buf *out, size_t n)
{
    char tmp[32];

    return append2(out, tmp, fmt_header(tmp, '*', (int64_t)n), NULL, 0, 0);
}

/* ---- RESP3 (HELLO 3): each encoder takes the connection's protocol and
 * falls back to the RESP2 form Redis sends for proto 2. */

int rc_resp_null(struct rc_buf *out, int proto)
{
    return proto == 3 ? append2(out, "_\r\n", 3, NULL, 0, 0) : rc_resp_nil(out);
}

int rc_resp_null_array(struct rc_buf *out, int proto)
{
    return proto == 3 ? append2(out, "_\r\n", 3, NULL, 0, 0)
                      : append2(out, "*-1\r\n", 5, NULL, 0, 0);
}

int rc_resp_map(struct rc_buf *out, size_t n, int proto)
{
    char tmp[32];

    if (proto == 3)
        return append2(out, tmp, fmt_header(tmp, '%', (int64_t)n), NULL, 0, 0);
    return rc_resp_array(out, n * 2);
}

int rc_resp_set(struct rc_buf *out, size_t n, int proto)
{
    char tmp[32];

    if (proto == 3)
        return append2(out, tmp, fmt_header(tmp, '~', (int64_t)n), NULL, 0, 0);
    return rc_resp_array(out, n);
}

int rc_resp_bool(struct rc_buf *out, int v, int proto)
{
    if (proto == 3)
        return append2(out, v ? "#t\r\n" : "#f\r\n", 4, NULL, 0, 0);
    return rc_resp_integer(out, v ? 1 : 0);
}

/* Redis's addReplyDouble: "%.17g" (inf/-inf/nan spelled out), a double
 * in RESP3, a bulk string in RESP2. */
int rc_resp_double(struct rc_buf *out, double v, int proto)
{
    char num[64], tmp[96];
    int n;

    if (isinf(v))
        n = snprintf(num, sizeof(num), "%s", v > 0 ? "inf" : "-inf");
    else if (isnan(v))
        n = snprintf(num, sizeof(num), "nan");
    else
        n = snprintf(num, sizeof(num), "%.17g", v);
    if (proto != 3)
        return rc_resp_bulk(out, num, (size_t)n);
    n = snprintf(tmp, sizeof(tmp), ",%s\r\n", num);
    return append2(out, tmp, (size_t)n, NULL, 0, 0);
}

int rc_resp_verbatim(struct rc_buf *out, const void *p, size_t n, int proto)
{
    char tmp[40];
    size_t h;

    if (proto != 3)
        return rc_resp_bulk(out, p, n);
    h = fmt_header(tmp, '=', (int64_t)n + 4);
    memcpy(tmp + h, "txt:", 4);
    return append2(out, tmp, h + 4, p, n, 1);
}
