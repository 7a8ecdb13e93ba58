/*
 * mcproto.c - memcached text and meta protocol parser (see mcproto.h).
 *
 * One line at a time: find the newline (within RC_MC_LINE_MAX, or the
 * caller's max_line for a get), split on spaces as memcached does, then
 * one small function per command shape checks the tokens and, for the
 * storage commands, waits for the data block. The error lines and what
 * follows them (go on, swallow the block, close) are memcached 1.6.18's,
 * as observed on the real server.
 */
#include "mcproto.h"
#include "err.h"

#include <string.h>

#define E_ERROR "ERROR"
#define E_FORMAT "CLIENT_ERROR bad command line format"
#define E_CHUNK "CLIENT_ERROR bad data chunk"
#define E_TOO_LARGE "SERVER_ERROR object too large for cache"
#define E_DELTA "CLIENT_ERROR invalid numeric delta argument"
#define E_EXPTIME "CLIENT_ERROR invalid exptime argument"
#define E_FLAG "CLIENT_ERROR invalid flag"
#define E_LINE "CLIENT_ERROR line too long"
#define E_TOKENS "CLIENT_ERROR too many tokens"
#define E_DELETE "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"

/* Tokens of one line: the command, then up to max_keys keys or
 * RC_MC_MAX_TOKENS arguments (whichever is larger). */
struct line {
    struct rc_mc_tok *t;
    size_t n, cap;
    int overflow;
};

static int fail(struct rc_mc_error *err, const char *line, int action)
{
    err->line = line;
    err->action = action;
    err->swallow = 0;
    return RC_EPROTO;
}

int rc_mc_u64(const uint8_t *p, size_t len, uint64_t *v)
{
    uint64_t x = 0;
    size_t i;

    if (len == 0 || len > 20)
        return RC_EINVAL;
    for (i = 0; i < len; i++) {
        unsigned d = (unsigned)p[i] - '0';

        if (d > 9 || x > (UINT64_MAX - d) / 10)
            return RC_EINVAL;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

int rc_mc_i64(const uint8_t *p, size_t len, int64_t *v)
{
    uint64_t x;
    int neg = len > 0 && p[0] == '-';

    if (rc_mc_u64(p + neg, len - (size_t)neg, &x) < 0)
        return RC_EINVAL;
    if (x > (uint64_t)INT64_MAX + (uint64_t)neg)
        return RC_EINVAL;
    *v = neg ? (int64_t)(0 - x) : (int64_t)x;
    return 0;
}

int rc_mc_key_ok(const uint8_t *p, size_t len)
{
    /* The tokenizer already split on spaces and the line ends at '\n':
     * memcached 1.6 takes any other byte, control characters included
     * (protocol.txt forbids them, memaslap sends them), and so do we. */
    (void)p;
    return len > 0 && len <= RC_MC_KEY_MAX;
}

int rc_mc_flag_index(char c)
{
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= 'A' && c <= 'Z')
        return 26 + (c - 'A');
    return -1;
}

int rc_mc_has(const struct rc_mc_meta *m, char c)
{
    int i = rc_mc_flag_index(c);

    return i >= 0 && (m->present >> i) & 1;
}

int rc_mc_flag_u64(const struct rc_mc_meta *m, char c, uint64_t *v)
{
    int i = rc_mc_flag_index(c);

    if (!rc_mc_has(m, c))
        return RC_EINVAL;
    return rc_mc_u64(m->arg[i].p, m->arg[i].len, v);
}

int rc_mc_flag_i64(const struct rc_mc_meta *m, char c, int64_t *v)
{
    int i = rc_mc_flag_index(c);

    if (!rc_mc_has(m, c))
        return RC_EINVAL;
    return rc_mc_i64(m->arg[i].p, m->arg[i].len, v);
}

int rc_mc_exptime(int64_t exptime, int64_t now_s, uint64_t *ttl_ms)
{
    *ttl_ms = 0;
    if (exptime == 0)
        return 0;
    if (exptime < 0)
        return 1;
    if (exptime > RC_MC_REALTIME_MAXDELTA) {
        if (exptime <= now_s)
            return 1;
        exptime -= now_s;
    }
    *ttl_ms = (uint64_t)exptime * 1000;
    return 0;
}

uint64_t rc_mc_cas(uint64_t hlc, uint64_t node)
{
    /* splitmix64's finaliser over both halves: two versions differ in
     * hlc or node, and a collision needs 2^32 versions of one key. */
    uint64_t z = hlc ^ (node * 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return z ? z : 1;
}

int rc_mc_arith(const uint8_t *value, size_t len, int incr, uint64_t delta, uint64_t *out)
{
    uint64_t v;

    /* memcached takes the value's leading digits up to its length; a
     * trailing space (left by a decr that shortened it) counts as the end. */
    while (len > 0 && value[len - 1] == ' ')
        len--;
    if (rc_mc_u64(value, len, &v) < 0)
        return RC_EINVAL;
    if (incr)
        *out = v + delta; /* wraps at 2^64, as memcached */
    else
        *out = delta > v ? 0 : v - delta;
    return 0;
}

/* Splits line[0..len) on spaces (memcached's tokenizer: only ' '). */
static void tokenize(const uint8_t *p, size_t len, struct line *l)
{
    size_t i = 0, s;

    l->n = 0;
    l->overflow = 0;
    while (i < len) {
        while (i < len && p[i] == ' ')
            i++;
        if (i == len)
            break;
        s = i;
        while (i < len && p[i] != ' ')
            i++;
        if (l->n == l->cap) {
            l->overflow = 1;
            return;
        }
        l->t[l->n].p = p + s;
        l->t[l->n].len = i - s;
        l->n++;
    }
}

static int tok_is(const struct rc_mc_tok *t, const char *w)
{
    size_t n = strlen(w);

    return t->len == n && memcmp(t->p, w, n) == 0;
}

struct cmd_name {
    const char *name;
    size_t len;
    int cmd;
};

#define N(s, c) {s, sizeof(s) - 1, c}
/* The most frequent first: the lookup runs for every command. */
static const struct cmd_name names[] = {
    N("get", RC_MC_GET),         N("set", RC_MC_SET),         N("mg", RC_MC_MG),
    N("ms", RC_MC_MS),           N("gets", RC_MC_GETS),       N("delete", RC_MC_DELETE),
    N("md", RC_MC_MD),           N("incr", RC_MC_INCR),       N("decr", RC_MC_DECR),
    N("ma", RC_MC_MA),           N("mn", RC_MC_MN),           N("add", RC_MC_ADD),
    N("replace", RC_MC_REPLACE), N("append", RC_MC_APPEND),   N("prepend", RC_MC_PREPEND),
    N("cas", RC_MC_CAS),         N("touch", RC_MC_TOUCH),     N("gat", RC_MC_GAT),
    N("gats", RC_MC_GATS),       N("me", RC_MC_ME),           N("stats", RC_MC_STATS),
    N("version", RC_MC_VERSION), N("verbosity", RC_MC_VERBOSITY), N("quit", RC_MC_QUIT),
    N("flush_all", RC_MC_FLUSH_ALL),
};
#undef N

static int lookup(const struct rc_mc_tok *t)
{
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (t->len == names[i].len && memcmp(t->p, names[i].name, t->len) == 0)
            return names[i].cmd;
    return 0;
}

/* The data block of a storage command, after the line's *used bytes:
 * 1 when whole (and *used covers it), 0 when more bytes are needed. */
static int data_block(const uint8_t *buf, size_t len, uint64_t vlen,
                      const struct rc_mc_limits *lim, struct rc_mc_req *req, size_t *used,
                      struct rc_mc_error *err)
{
    size_t start = *used;

    if (vlen > lim->max_value) {
        /* memcached answers at once and discards the block as it comes. */
        fail(err, E_TOO_LARGE, RC_MC_SWALLOW);
        err->swallow = vlen + 2;
        return RC_EPROTO;
    }
    if (len - start < vlen + 2)
        return 0;
    *used = start + (size_t)vlen + 2;
    if (buf[start + vlen] != '\r' || buf[start + vlen + 1] != '\n')
        return fail(err, E_CHUNK, RC_MC_CONTINUE);
    req->data = buf + start;
    req->data_len = (size_t)vlen;
    return 1;
}

/* set/add/replace/append/prepend key flags exptime bytes [noreply];
 * cas key flags exptime bytes cas [noreply]. */
static int parse_storage(const uint8_t *buf, size_t len, const struct line *l,
                         const struct rc_mc_limits *lim, struct rc_mc_req *req, size_t *used,
                         struct rc_mc_error *err)
{
    size_t want = req->cmd == RC_MC_CAS ? 6 : 5;
    uint64_t flags, vlen;

    if (l->n != want && l->n != want + 1)
        return fail(err, E_ERROR, RC_MC_CONTINUE);
    req->noreply = l->n == want + 1 && tok_is(&l->t[want], "noreply");
    if (!rc_mc_key_ok(l->t[1].p, l->t[1].len) || rc_mc_u64(l->t[2].p, l->t[2].len, &flags) < 0 ||
        flags > UINT32_MAX || rc_mc_i64(l->t[3].p, l->t[3].len, &req->exptime) < 0 ||
        rc_mc_u64(l->t[4].p, l->t[4].len, &vlen) < 0 || vlen > INT32_MAX - 2 ||
        (req->cmd == RC_MC_CAS && rc_mc_u64(l->t[5].p, l->t[5].len, &req->cas) < 0))
        return fail(err, E_FORMAT, RC_MC_CONTINUE);
    req->flags = (uint32_t)flags;
    req->keys[0] = l->t[1];
    req->nkeys = 1;
    return data_block(buf, len, vlen, lim, req, used, err);
}

/* A meta command's flag tokens, t[first..n). */
static int meta_flags(const struct line *l, size_t first, struct rc_mc_req *req,
                      struct rc_mc_error *err)
{
    struct rc_mc_meta *m = &req->meta;
    size_t i;
    int k;

    for (i = first; i < l->n; i++) {
        k = rc_mc_flag_index((char)l->t[i].p[0]);
        if (k < 0)
            return fail(err, E_FLAG, RC_MC_CONTINUE);
        m->present |= (uint64_t)1 << k;
        m->arg[k].p = l->t[i].p + 1;
        m->arg[k].len = l->t[i].len - 1;
        if (m->n < RC_MC_MAX_TOKENS)
            m->order[m->n++] = (char)l->t[i].p[0];
    }
    return 0;
}

static int parse_meta(const uint8_t *buf, size_t len, const struct line *l,
                      const struct rc_mc_limits *lim, struct rc_mc_req *req, size_t *used,
                      struct rc_mc_error *err)
{
    size_t first = 2;
    uint64_t vlen = 0;
    int rv;

    if (req->cmd == RC_MC_MN)
        return 1;
    if (l->n < 2)
        return fail(err, req->cmd == RC_MC_ME ? E_FORMAT : E_ERROR, RC_MC_CONTINUE);
    if (!rc_mc_key_ok(l->t[1].p, l->t[1].len))
        return fail(err, E_FORMAT, RC_MC_CONTINUE);
    req->keys[0] = l->t[1];
    req->nkeys = 1;
    if (req->cmd == RC_MC_MS) {
        if (l->n < 3 || rc_mc_u64(l->t[2].p, l->t[2].len, &vlen) < 0 || vlen > INT32_MAX - 2)
            return fail(err, E_FORMAT, RC_MC_CONTINUE);
        first = 3;
    }
    /* A bad flag on ms: memcached goes on after the line, as for a bad
     * set line (the block is then read as commands). */
    rv = meta_flags(l, first, req, err);
    if (rv < 0)
        return rv;
    req->noreply = rc_mc_has(&req->meta, 'q');
    if (req->cmd != RC_MC_MS)
        return 1;
    return data_block(buf, len, vlen, lim, req, used, err);
}

/* get/gets key...; gat/gats exptime key... */
static int parse_get(const struct line *l, struct rc_mc_req *req, struct rc_mc_error *err)
{
    size_t first = 1, i;

    if (req->cmd == RC_MC_GAT || req->cmd == RC_MC_GATS) {
        /* "gat 10" (no key) is answered END by memcached. */
        if (l->n < 2)
            return fail(err, E_ERROR, RC_MC_CONTINUE);
        if (rc_mc_i64(l->t[1].p, l->t[1].len, &req->exptime) < 0)
            return fail(err, E_EXPTIME, RC_MC_CONTINUE);
        first = 2;
    }
    if (l->n <= first && first == 1)
        return fail(err, E_ERROR, RC_MC_CONTINUE);
    for (i = first; i < l->n; i++)
        if (!rc_mc_key_ok(l->t[i].p, l->t[i].len))
            return fail(err, E_FORMAT, RC_MC_CONTINUE);
    req->keys = l->t + first; /* the caller's array, past the command */
    req->nkeys = l->n - first;
    return 1;
}

/* delete, incr/decr, touch, verbosity, flush_all, stats, version, quit. */
static int parse_simple(const struct line *l, struct rc_mc_req *req, struct rc_mc_error *err)
{
    int64_t v;

    switch (req->cmd) {
    case RC_MC_DELETE:
        if (l->n < 2 || l->n > 4)
            return fail(err, E_ERROR, RC_MC_CONTINUE);
        req->noreply = tok_is(&l->t[l->n - 1], "noreply");
        /* "delete k 0" is the old form and accepted; other times are not. */
        if ((size_t)l->n > 2u + (size_t)req->noreply &&
            !tok_is(&l->t[2], "0"))
            return fail(err, E_DELETE, RC_MC_CONTINUE);
        if (l->n == 4 && !req->noreply)
            return fail(err, E_DELETE, RC_MC_CONTINUE);
        break;
    case RC_MC_INCR:
    case RC_MC_DECR:
        if (l->n != 3 && l->n != 4)
            return fail(err, E_ERROR, RC_MC_CONTINUE);
        req->noreply = l->n == 4 && tok_is(&l->t[3], "noreply");
        if (!rc_mc_key_ok(l->t[1].p, l->t[1].len))
            return fail(err, E_FORMAT, RC_MC_CONTINUE);
        if (rc_mc_u64(l->t[2].p, l->t[2].len, &req->delta) < 0)
            return fail(err, E_DELTA, RC_MC_CONTINUE);
        break;
    case RC_MC_TOUCH:
        if (l->n != 3 && l->n != 4)
            return fail(err, E_ERROR, RC_MC_CONTINUE);
        req->noreply = l->n == 4 && tok_is(&l->t[3], "noreply");
        if (!rc_mc_key_ok(l->t[1].p, l->t[1].len))
            return fail(err, E_FORMAT, RC_MC_CONTINUE);
        if (rc_mc_i64(l->t[2].p, l->t[2].len, &req->exptime) < 0)
            return fail(err, E_EXPTIME, RC_MC_CONTINUE);
        break;
    case RC_MC_VERBOSITY:
        if (l->n != 2 && l->n != 3)
            return fail(err, E_ERROR, RC_MC_CONTINUE);
        req->noreply = l->n == 3 && tok_is(&l->t[2], "noreply");
        if (rc_mc_i64(l->t[1].p, l->t[1].len, &v) < 0)
            return fail(err, E_FORMAT, RC_MC_CONTINUE);
        req->args = l->t[1];
        return 1;
    case RC_MC_FLUSH_ALL:
        /* memcached 1.6: "flush_all [delay] [noreply]"; noreply is the
         * last token; a third token that is not noreply is ignored. */
        if (l->n > 3)
            return fail(err, E_ERROR, RC_MC_CONTINUE);
        req->noreply = l->n > 1 && tok_is(&l->t[l->n - 1], "noreply");
        req->exptime = 0;
        if ((size_t)l->n > 1u + (size_t)req->noreply &&
            rc_mc_i64(l->t[1].p, l->t[1].len, &req->exptime) < 0)
            return fail(err, E_EXPTIME, RC_MC_CONTINUE);
        return 1;
    case RC_MC_STATS:
        if (l->n > 3)
            return fail(err, E_ERROR, RC_MC_CONTINUE);
        if (l->n >= 2)
            req->args = l->t[1];
        return 1;
    default: /* version, quit: anything after the name is ignored */
        return 1;
    }
    if (!rc_mc_key_ok(l->t[1].p, l->t[1].len))
        return fail(err, E_FORMAT, RC_MC_CONTINUE);
    req->keys[0] = l->t[1];
    req->nkeys = 1;
    return 1;
}

/* A line over the limit without its newline: memcached keeps reading
 * a get (it may carry many keys) and closes on anything else. */
static int long_line(const uint8_t *buf, size_t len, const struct rc_mc_limits *lim,
                     struct rc_mc_error *err)
{
    size_t i = 0;

    while (i < len && buf[i] == ' ')
        i++;
    if (i <= 100 && len - i >= 4 &&
        (memcmp(buf + i, "get ", 4) == 0 || memcmp(buf + i, "gets ", 5) == 0 ||
         memcmp(buf + i, "gat ", 4) == 0 || memcmp(buf + i, "gats ", 5) == 0) &&
        len <= lim->max_line)
        return 0;
    return fail(err, E_LINE, RC_MC_CLOSE);
}

int rc_mc_parse(const uint8_t *buf, size_t len, const struct rc_mc_limits *lim,
                struct rc_mc_req *req, size_t *used, struct rc_mc_error *err)
{
    struct rc_mc_tok toks[RC_MC_MAX_TOKENS + 1], *keys = req->keys;
    struct line l;
    const uint8_t *nl;
    size_t line_len, s = 0, e;

    *used = 0;
    memset(req, 0, offsetof(struct rc_mc_req, meta));
    req->keys = keys;
    req->meta.present = 0;
    req->meta.n = 0;
    if (len > 0 && buf[0] == 0x80) /* the binary protocol's request magic */
        return fail(err, "CLIENT_ERROR the binary protocol is not supported (use the text or "
                         "meta protocol)",
                    RC_MC_CLOSE);
    nl = memchr(buf, '\n', len > lim->max_line ? lim->max_line : len);
    if (nl == NULL)
        return len > RC_MC_LINE_MAX ? long_line(buf, len, lim, err) : 0;
    *used = (size_t)(nl - buf) + 1;
    line_len = (size_t)(nl - buf);
    if (line_len > 0 && buf[line_len - 1] == '\r')
        line_len--;
    while (s < line_len && buf[s] == ' ')
        s++;
    for (e = s; e < line_len && buf[e] != ' ';)
        e++;
    toks[0].p = buf + s;
    toks[0].len = e - s;
    req->cmd = lookup(&toks[0]);
    if (req->cmd == 0)
        return fail(err, E_ERROR, RC_MC_CONTINUE);
    if (req->cmd <= RC_MC_GATS) {
        /* A get's tokens go straight into the caller's key array (the
         * command and gat's exptime first, skipped after). */
        l.t = keys;
        l.cap = lim->max_keys;
        tokenize(buf, line_len, &l);
        if (l.overflow)
            return fail(err, "CLIENT_ERROR too many keys in one command", RC_MC_CONTINUE);
        return parse_get(&l, req, err);
    }
    l.t = toks;
    l.cap = RC_MC_MAX_TOKENS + 1;
    tokenize(buf, line_len, &l);
    if (l.overflow)
        return fail(err, E_TOKENS, RC_MC_CONTINUE);
    if (req->cmd >= RC_MC_SET && req->cmd <= RC_MC_CAS)
        return parse_storage(buf, len, &l, lim, req, used, err);
    if (req->cmd >= RC_MC_MG && req->cmd <= RC_MC_ME)
        return parse_meta(buf, len, &l, lim, req, used, err);
    return parse_simple(&l, req, err);
}
