/*
 * cli.c - ringcache-cli: one command per run, or a pipelined batch.
 *
 * With a command it runs that one request and reports through its exit
 * status (0 ok, 1 miss, 2 error) so shell scripts need not parse output.
 * Without one it reads commands from stdin, one per line, and keeps up to
 * PIPE_WINDOW of them in flight, which is what makes bulk loads fast; the
 * results come out one line per command, in input order. Both modes share
 * one command parser, working on (pointer, length) tokens so that keys and
 * values stay binary-safe.
 */
#include "ringcache.h"

#include "buf.h"
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define PROG "ringcache-cli"
#define DEFAULT_SERVER "127.0.0.1:7400"

/* Largest value the CLI moves (stdin or a pipe-mode line). Above the
 * server's own ceiling (256 MiB), so the server's configured limit is
 * what users normally meet; the cap only stops a runaway pipe from
 * exhausting memory. Replies are allowed as large, so anything stored
 * through the CLI can be read back through it. */
#define MAX_VALUE (512u << 20)
#define MAX_KEY (64u << 10)
#define REPLY_OVERHEAD (64u << 10)
/* A pipe-mode line holds a command word, a key, a value and "--ttl N". */
#define MAX_LINE ((size_t)MAX_VALUE + MAX_KEY + 64)

/* Requests in flight in pipe mode: enough to hide LAN round trips (1024
 * small requests are ~100 KiB), few enough that output keeps flowing. */
#define PIPE_WINDOW 1024
#define READ_CHUNK (64u << 10)
#define MAX_TOKENS 8
#define SLOT_MSG 120

struct cli {
    const char *server;
    struct rc_client_opts copts;
    int consistency;
};

struct tok {
    const char *p;
    size_t len;
};

struct cmd {
    int op;
    struct tok key;
    struct tok value;
    int value_stdin; /* put KEY - */
    uint64_t ttl_ms;
    int json;
};

/* Pipe mode keeps one slot per command not yet printed. op == 0 marks a
 * result known locally (a bad line), printed when its turn comes. */
struct slot {
    int op;
    int err;
    char msg[SLOT_MSG];
};

struct pipe_run {
    struct rc_client *c;
    const struct cli *cli;
    struct slot q[PIPE_WINDOW];
    size_t head, count, window;
    int any_err;
    int conn_err; /* first connection-level error, for the summary */
};

struct line_reader {
    int fd;
    struct rc_buf buf;
    size_t scan;  /* bytes of buf already searched for '\n' */
    size_t drop;  /* bytes of the line last returned, consumed next call */
    int eof;
    int skipping; /* discarding the rest of an overlong line */
};

static const char usage_text[] =
    "Usage: " PROG " [OPTIONS] COMMAND [ARGS]\n"
    "       " PROG " [OPTIONS] < commands.txt      (pipe mode)\n"
    "\n"
    "Options (before the command):\n"
    "  -s, --server HOST:PORT   server address; HOST may be a name, an IPv4\n"
    "                           address or [IPv6]; default $RINGCACHE_SERVER,\n"
    "                           else " DEFAULT_SERVER "\n"
    "  --timeout MS             connect and per-request timeout (default 2000\n"
    "                           to connect, 5000 per request)\n"
    "  --consistency LEVEL      one, quorum or all (default: the server's)\n"
    "  -h, --help               this text\n"
    "\n"
    "Commands:\n"
    "  get KEY                  print the value: exactly the stored bytes when\n"
    "                           stdout is not a terminal, plus a newline when it\n"
    "                           is; a miss prints nothing (\"(nil)\" on a\n"
    "                           terminal) and exits 1\n"
    "  put KEY VALUE [--ttl S]  store VALUE, expiring after S seconds; prints OK\n"
    "  put KEY - [--ttl S]      store the bytes read from stdin (binary-safe, up\n"
    "                           to 512 MiB; the server's limit is usually lower)\n"
    "  del KEY                  delete; prints OK, or (nil) and exits 1 on a miss\n"
    "  ping                     prints PONG\n"
    "  stats [--json]           server statistics as \"name value\" lines, or as\n"
    "                           one JSON object\n"
    "  help                     this text\n"
    "  Use -- before a key that starts with \"--\" (put -- --k v).\n"
    "\n"
    "Pipe mode (no command): reads one command per line from stdin:\n"
    "  get KEY | put KEY VALUE [--ttl S] | del KEY | ping\n"
    "Tokens are split on spaces and tabs, so keys and values cannot contain\n"
    "whitespace or newlines there (use put KEY - for such values). Blank lines\n"
    "are skipped; a line over 512 MiB + 64 KiB is an ERR. Command names ignore\n"
    "case. Up to 1024 commands are kept in flight (one at a time when stdin is\n"
    "a terminal). One line is printed per command, in input order: the value\n"
    "of a found get (raw, so a value holding a newline spans lines), (nil) for\n"
    "a missing key (get or del), OK for put/del, PONG, or ERR <CODE> <message>\n"
    "for a failure, including a malformed line (ERR INVAL ...), after which\n"
    "the next lines still run.\n"
    "\n"
    "Exit status: 0 ok (pipe mode: every line ok or (nil)), 1 key not found\n"
    "(get/del), 2 usage, connection or server error (pipe mode: any ERR line).\n"
    "Errors are reported on stderr as: " PROG ": error: <CODE>: <message>\n"
    "\n"
    "Environment:\n"
    "  RINGCACHE_SERVER         default server address (HOST:PORT)\n";

/* Writes s with control bytes replaced: server text must not be able to
 * break the one-line-per-result layout or drive the terminal. */
static void put_clean(FILE *f, const char *s)
{
    for (; *s != '\0'; s++)
        fputc(((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s, f);
}

__attribute__((format(printf, 2, 3))) static int fail_msg(int err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, PROG ": error: %s: ", rc_client_err_name(err));
    put_clean(stderr, msg);
    fputc('\n', stderr);
    return 2;
}

static int tok_is(const struct tok *t, const char *s)
{
    return t->len == strlen(s) && memcmp(t->p, s, t->len) == 0;
}

/* Decimal without sign or suffix, 1..max. */
static int parse_uint(const char *p, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0 || len > 20)
        return RC_EINVAL;
    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return RC_EINVAL;
        if (v > (UINT64_MAX - (uint64_t)(p[i] - '0')) / 10)
            return RC_EINVAL;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v == 0 || v > max)
        return RC_EINVAL;
    *out = v;
    return 0;
}

static int parse_ttl(const struct tok *t, struct cmd *cmd, char *err, size_t errlen)
{
    uint64_t s;

    if (parse_uint(t->p, t->len, UINT64_MAX / 1000, &s) < 0) {
        snprintf(err, errlen, "--ttl needs a whole number of seconds > 0, got '%.*s'",
                 (int)(t->len < 40 ? t->len : 40), t->p);
        return RC_EINVAL;
    }
    cmd->ttl_ms = s * 1000;
    return 0;
}

static int command_op(const struct tok *t)
{
    static const struct {
        const char *name;
        int op;
    } ops[] = {{"get", RC_CLIENT_GET},   {"put", RC_CLIENT_PUT},     {"del", RC_CLIENT_DEL},
               {"ping", RC_CLIENT_PING}, {"stats", RC_CLIENT_STATS}};
    size_t i;

    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (t->len == strlen(ops[i].name) && strncasecmp(t->p, ops[i].name, t->len) == 0)
            return ops[i].op;
    return 0;
}

/* Options after the command: --ttl for put, --json for stats (not in
 * pipe mode, where a result must fit on one line). */
static int cmd_option(const struct tok *t, int *i, const struct tok *tok, int ntok, int piped,
                      struct cmd *cmd, char *err, size_t errlen)
{
    int ttl_eq = t->len > 6 && memcmp(t->p, "--ttl=", 6) == 0;
    struct tok v;

    if (cmd->op == RC_CLIENT_PUT && (tok_is(t, "--ttl") || ttl_eq)) {
        if (ttl_eq) {
            v.p = t->p + 6;
            v.len = t->len - 6;
        } else if (*i + 1 < ntok) {
            v = tok[++*i];
        } else {
            snprintf(err, errlen, "--ttl needs a value");
            return RC_EINVAL;
        }
        return parse_ttl(&v, cmd, err, errlen);
    }
    if (cmd->op == RC_CLIENT_STATS && !piped && tok_is(t, "--json")) {
        cmd->json = 1;
        return 0;
    }
    snprintf(err, errlen, "unknown option '%.*s'", (int)(t->len < 40 ? t->len : 40), t->p);
    return RC_EINVAL;
}

/* Parses tok[0] (the command) and its arguments. */
static int parse_cmd(const struct tok *tok, int ntok, int piped, struct cmd *cmd, char *err,
                     size_t errlen)
{
    static const int nargs[] = {0, 0, 1, 2, 1, 0}; /* by op */
    struct tok pos[2];
    int i, npos = 0, dashdash = 0, rv;

    memset(cmd, 0, sizeof(*cmd));
    cmd->op = command_op(&tok[0]);
    if (cmd->op == 0 || (piped && cmd->op == RC_CLIENT_STATS)) {
        snprintf(err, errlen, "unknown command '%.*s'%s", (int)(tok[0].len < 40 ? tok[0].len : 40),
                 tok[0].p, piped ? " (pipe mode: get, put, del, ping)" : " (see --help)");
        return RC_EINVAL;
    }
    for (i = 1; i < ntok; i++) {
        if (!dashdash && tok_is(&tok[i], "--")) {
            dashdash = 1;
        } else if (!dashdash && tok[i].len > 2 && !memcmp(tok[i].p, "--", 2)) {
            rv = cmd_option(&tok[i], &i, tok, ntok, piped, cmd, err, errlen);
            if (rv < 0)
                return rv;
        } else if (npos < nargs[cmd->op]) {
            pos[npos++] = tok[i];
        } else {
            snprintf(err, errlen, "too many arguments for %.*s", (int)tok[0].len, tok[0].p);
            return RC_EINVAL;
        }
    }
    if (npos < nargs[cmd->op]) {
        snprintf(err, errlen, "usage: %s", cmd->op == RC_CLIENT_PUT ? "put KEY VALUE [--ttl S]"
                                           : cmd->op == RC_CLIENT_GET ? "get KEY"
                                                                      : "del KEY");
        return RC_EINVAL;
    }
    if (npos > 0)
        cmd->key = pos[0];
    if (npos > 1) {
        cmd->value = pos[1];
        cmd->value_stdin = !piped && tok_is(&pos[1], "-");
    }
    return 0;
}

/* Reads all of fd into b (capped); RC_EVALUE_TOO_LARGE past MAX_VALUE. */
static int read_all(int fd, struct rc_buf *b)
{
    ssize_t n;
    size_t room;
    int rv;

    for (;;) {
        room = b->cap - rc_buf_used(b);
        if (room == 0)
            return RC_EVALUE_TOO_LARGE;
        rv = rc_buf_reserve(b, room < READ_CHUNK ? room : READ_CHUNK);
        if (rv < 0)
            return rv;
        n = read(fd, rc_buf_wptr(b), rc_buf_avail(b));
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        rc_buf_commit(b, (size_t)n);
    }
}

/* GET and DEL answer a miss with (nil) rather than an error. */
static int miss_is_nil(int op)
{
    return op == RC_CLIENT_GET || op == RC_CLIENT_DEL;
}

/* --consistency applies to the key operations only. */
static int consistency_for(const struct cli *cli, int op)
{
    return op == RC_CLIENT_PING || op == RC_CLIENT_STATS ? RC_CLIENT_CL_DEFAULT : cli->consistency;
}

static int connect_server(const struct cli *cli, struct rc_client **c)
{
    int rv = rc_client_connect(cli->server, &cli->copts, c);

    if (rv == RC_EINVAL)
        return fail_msg(rv, "bad server address '%s' (want HOST:PORT or [IPv6]:PORT)",
                        cli->server);
    if (rv == RC_ECONNECT)
        return fail_msg(rv, "cannot connect to %s", cli->server);
    if (rv < 0)
        return fail_msg(rv, "cannot connect to %s: %s", cli->server, rc_client_strerror(rv));
    return 0;
}

/* Length of the well-formed UTF-8 sequence at p, or 0 if there is none. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
    size_t n, i;
    unsigned char lo = 0x80, hi = 0xBF;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        n = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        n = 3;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        n = 4;
    else
        return 0;
    /* Second-byte ranges that exclude overlong forms and surrogates. */
    if (p[0] == 0xE0)
        lo = 0xA0;
    else if (p[0] == 0xED)
        hi = 0x9F;
    else if (p[0] == 0xF0)
        lo = 0x90;
    else if (p[0] == 0xF4)
        hi = 0x8F;
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD, so the output is
 * always valid JSON whatever the server sent. */
static void json_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s), n;

    fputc('"', f);
    while (left > 0) {
        n = utf8_len(p, left);
        if (n == 0) {
            fputs("\\ufffd", f);
            n = 1;
        } else if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p);
        } else if (*p < 0x20) {
            fprintf(f, "\\u%04x", *p);
        } else {
            fwrite(p, 1, n, f);
        }
        p += n;
        left -= n;
    }
    fputc('"', f);
}

static void print_stats(const struct rc_result *res, int json)
{
    const struct rc_client_stat *s;
    size_t i;

    if (json)
        fputc('{', stdout);
    for (i = 0; i < res->nstats; i++) {
        s = &res->stats[i];
        if (json) {
            fputs(i > 0 ? ", " : "", stdout);
            json_str(stdout, s->name);
            fputs(": ", stdout);
            if (s->is_str)
                json_str(stdout, s->str);
            else
                printf("%lld", (long long)s->num);
            continue;
        }
        put_clean(stdout, s->name);
        if (s->is_str) {
            fputc(' ', stdout);
            put_clean(stdout, s->str);
            fputc('\n', stdout);
        } else {
            printf(" %lld\n", (long long)s->num);
        }
    }
    if (json)
        fputs("}\n", stdout);
}

/* Prints a single command's result; returns the exit status. */
static int print_single(const struct cmd *cmd, const struct rc_result *res)
{
    int tty = isatty(STDOUT_FILENO);

    if (res->err == RC_CLIENT_NOTFOUND && miss_is_nil(cmd->op)) {
        if (cmd->op == RC_CLIENT_DEL || tty)
            puts("(nil)");
        return 1;
    }
    if (res->err != 0)
        return fail_msg(res->err, "%s",
                        res->message[0] ? res->message : rc_client_strerror(res->err));
    switch (cmd->op) {
    case RC_CLIENT_GET:
        fwrite(res->value, 1, res->value_len, stdout);
        if (tty)
            fputc('\n', stdout);
        break;
    case RC_CLIENT_PING:
        puts("PONG");
        break;
    case RC_CLIENT_STATS:
        print_stats(res, cmd->json);
        break;
    default:
        puts("OK");
        break;
    }
    return 0;
}

static int finish_stdout(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        return fail_msg(RC_EIO, "cannot write to stdout: %s", strerror(errno));
    return status;
}

static int run_single(const struct cli *cli, char **argv, int argc)
{
    struct tok tok[MAX_TOKENS + 1];
    struct rc_client *c = NULL;
    struct rc_result res;
    struct rc_buf in;
    struct cmd cmd;
    char err[256];
    int i, rv, status;

    if (argc > MAX_TOKENS)
        return fail_msg(RC_EINVAL, "too many arguments (see --help)");
    for (i = 0; i < argc; i++) {
        tok[i].p = argv[i];
        tok[i].len = strlen(argv[i]);
    }
    if (parse_cmd(tok, argc, 0, &cmd, err, sizeof(err)) < 0)
        return fail_msg(RC_EINVAL, "%s", err);
    rc_buf_init(&in, (size_t)MAX_VALUE + 1);
    if (cmd.value_stdin) {
        rv = read_all(STDIN_FILENO, &in);
        if (rv < 0) {
            status = rv == RC_EVALUE_TOO_LARGE
                         ? fail_msg(rv, "value on stdin is larger than %u MiB", MAX_VALUE >> 20)
                         : fail_msg(rv, "cannot read stdin: %s", rc_client_strerror(rv));
            goto out;
        }
        cmd.value.p = in.data != NULL ? (const char *)rc_buf_rptr(&in) : "";
        cmd.value.len = rc_buf_used(&in);
    }
    status = connect_server(cli, &c);
    if (status != 0)
        goto out;
    rv = rc_client_send(c, cmd.op, cmd.key.p, cmd.key.len, cmd.value.p, cmd.value.len, cmd.ttl_ms,
                        consistency_for(cli, cmd.op));
    if (rv == 0)
        rv = rc_client_recv(c, &res);
    if (rv < 0)
        status = fail_msg(rv, "%s (server %s)", rc_client_strerror(rv), cli->server);
    else
        status = finish_stdout(print_single(&cmd, &res));
out:
    rc_client_free(c);
    rc_buf_close(&in);
    return status;
}

/*
 * Next line of input, without its '\n'. Returns 1 (line valid until the
 * next call), 0 at end of input, RC_EBUFFER_FULL once for a line longer
 * than the buffer's cap (the whole line is skipped), or a read error.
 */
static int read_line(struct line_reader *lr, const uint8_t **line, size_t *len)
{
    const uint8_t *p, *nl;
    size_t used, room;
    ssize_t n;

    rc_buf_consume(&lr->buf, lr->drop);
    lr->drop = 0;
    for (;;) {
        p = rc_buf_used(&lr->buf) > 0 ? rc_buf_rptr(&lr->buf) : NULL;
        used = rc_buf_used(&lr->buf);
        nl = used > lr->scan ? memchr(p + lr->scan, '\n', used - lr->scan) : NULL;
        if (nl != NULL || (lr->eof && used > 0)) {
            *line = p;
            *len = nl != NULL ? (size_t)(nl - p) : used;
            lr->drop = nl != NULL ? *len + 1 : used;
            lr->scan = 0;
            if (!lr->skipping)
                return 1;
            lr->skipping = 0;
            return RC_EBUFFER_FULL;
        }
        if (lr->eof)
            return lr->skipping ? (lr->skipping = 0, RC_EBUFFER_FULL) : 0;
        lr->scan = used;
        room = lr->buf.cap - used;
        if (room == 0) { /* overlong: drop what we have, skip to its end */
            rc_buf_reset(&lr->buf);
            lr->scan = 0;
            lr->skipping = 1;
            continue;
        }
        if (rc_buf_reserve(&lr->buf, room < READ_CHUNK ? room : READ_CHUNK) < 0)
            return RC_ENOMEM;
        n = read(lr->fd, rc_buf_wptr(&lr->buf), rc_buf_avail(&lr->buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            lr->eof = 1;
        rc_buf_commit(&lr->buf, (size_t)n);
    }
}

static int tokenize(const uint8_t *line, size_t len, struct tok *tok, int max)
{
    size_t i = 0, start;
    int n = 0;

    for (;;) {
        while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' ||
                           line[i] == '\v' || line[i] == '\f'))
            i++;
        if (i == len)
            return n;
        if (n == max)
            return max + 1;
        start = i;
        while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' &&
               line[i] != '\v' && line[i] != '\f')
            i++;
        tok[n].p = (const char *)line + start;
        tok[n].len = i - start;
        n++;
    }
}

static void print_err_line(struct pipe_run *pr, int err, const char *msg)
{
    pr->any_err = 1;
    printf("ERR %s ", rc_client_err_name(err));
    put_clean(stdout, msg[0] != '\0' ? msg : rc_client_strerror(err));
    fputc('\n', stdout);
}

/* Prints the oldest pending result, reading its reply if it has one. */
static void pipe_pop(struct pipe_run *pr)
{
    struct slot *s = &pr->q[pr->head];
    struct rc_result res;
    int rv;

    pr->head = (pr->head + 1) % PIPE_WINDOW;
    pr->count--;
    if (s->op == 0) {
        print_err_line(pr, s->err, s->msg);
        return;
    }
    rv = rc_client_recv(pr->c, &res);
    if (rv < 0) {
        if (pr->conn_err == 0)
            pr->conn_err = rv;
        print_err_line(pr, rv, "");
    } else if (res.err == RC_CLIENT_NOTFOUND && miss_is_nil(s->op)) {
        puts("(nil)");
    } else if (res.err != 0) {
        print_err_line(pr, res.err, res.message);
    } else if (s->op == RC_CLIENT_GET) {
        fwrite(res.value, 1, res.value_len, stdout);
        fputc('\n', stdout);
    } else {
        puts(s->op == RC_CLIENT_PING ? "PONG" : "OK");
    }
}

static struct slot *pipe_push(struct pipe_run *pr, int op)
{
    struct slot *s = &pr->q[(pr->head + pr->count) % PIPE_WINDOW];

    pr->count++;
    s->op = op;
    s->err = 0;
    s->msg[0] = '\0';
    return s;
}

static void pipe_local_err(struct pipe_run *pr, int err, const char *msg)
{
    struct slot *s = pipe_push(pr, 0);

    s->err = err;
    snprintf(s->msg, sizeof(s->msg), "%s", msg);
}

/* One input line: queue its request, or its error. */
static void pipe_line(struct pipe_run *pr, const uint8_t *line, size_t len)
{
    struct tok tok[MAX_TOKENS];
    struct cmd cmd;
    char err[SLOT_MSG];
    int ntok, rv;

    ntok = tokenize(line, len, tok, MAX_TOKENS);
    if (ntok == 0)
        return; /* blank line: not a command */
    if (ntok > MAX_TOKENS) {
        pipe_local_err(pr, RC_EINVAL, "too many arguments");
        return;
    }
    if (parse_cmd(tok, ntok, 1, &cmd, err, sizeof(err)) < 0) {
        pipe_local_err(pr, RC_EINVAL, err);
        return;
    }
    for (;;) {
        rv = rc_client_send(pr->c, cmd.op, cmd.key.p, cmd.key.len, cmd.value.p, cmd.value.len,
                            cmd.ttl_ms, consistency_for(pr->cli, cmd.op));
        if (rv != RC_EBUFFER_FULL || rc_client_inflight(pr->c) == 0)
            break;
        pipe_pop(pr); /* buffers full: make room by taking replies */
    }
    if (rv < 0) {
        /* Anything but a problem with this request means the connection
         * is gone: the summary on stderr names it. */
        if (pr->conn_err == 0 && rv != RC_EINVAL && rv != RC_EKEY_TOO_LARGE &&
            rv != RC_EVALUE_TOO_LARGE && rv != RC_EBUFFER_FULL)
            pr->conn_err = rv;
        pipe_local_err(pr, rv, "");
    } else {
        pipe_push(pr, cmd.op);
    }
}

static int run_pipe(const struct cli *cli)
{
    struct pipe_run *pr;
    struct line_reader lr = {.fd = STDIN_FILENO};
    const uint8_t *line = NULL;
    size_t len = 0;
    int rv, status;

    pr = calloc(1, sizeof(*pr));
    if (pr == NULL)
        return fail_msg(RC_ENOMEM, "%s", rc_client_strerror(RC_ENOMEM));
    rc_buf_init(&lr.buf, MAX_LINE);
    status = connect_server(cli, &pr->c);
    if (status != 0)
        goto out;
    pr->cli = cli;
    /* Typed at a terminal, each command is answered before the next. */
    pr->window = isatty(STDIN_FILENO) ? 1 : PIPE_WINDOW;
    while ((rv = read_line(&lr, &line, &len)) != 0) {
        if (rv == RC_EBUFFER_FULL)
            pipe_local_err(pr, RC_EINVAL, "line too long (limit 512 MiB + 64 KiB)");
        else if (rv < 0)
            break;
        else
            pipe_line(pr, line, len);
        while (pr->count >= pr->window)
            pipe_pop(pr);
    }
    while (pr->count > 0)
        pipe_pop(pr);
    status = finish_stdout(pr->any_err ? 2 : 0);
    if (rv < 0)
        status = fail_msg(rv, "cannot read stdin: %s", rc_client_strerror(rv));
    else if (pr->conn_err != 0)
        fail_msg(pr->conn_err, "%s (server %s)", rc_client_strerror(pr->conn_err), cli->server);
out:
    rc_client_free(pr->c);
    rc_buf_close(&lr.buf);
    free(pr);
    return status;
}

/* Matches "-s VALUE", "--name VALUE" or "--name=VALUE" at argv[*i].
 * Returns 1 with *val set, 0 when argv[*i] is another option, or -1 when
 * the value is missing (error printed). */
static int match_opt(char **argv, int argc, int *i, const char *shrt, const char *lng,
                     const char **val)
{
    size_t n = strlen(lng);

    if (strncmp(argv[*i], lng, n) == 0 && argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return 1;
    }
    if (strcmp(argv[*i], lng) != 0 && (shrt == NULL || strcmp(argv[*i], shrt) != 0))
        return 0;
    if (*i + 1 >= argc) {
        fail_msg(RC_EINVAL, "%s needs a value", lng);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

static int parse_consistency(const char *s)
{
    if (strcmp(s, "one") == 0)
        return RC_CLIENT_CL_ONE;
    if (strcmp(s, "quorum") == 0)
        return RC_CLIENT_CL_QUORUM;
    if (strcmp(s, "all") == 0)
        return RC_CLIENT_CL_ALL;
    return -1;
}

/* One option before the command: 0, or -1 after a usage error (printed). */
static int global_opt(int argc, char **argv, int *i, struct cli *cli)
{
    const char *v = NULL;
    uint64_t ms;
    int m;

    if ((m = match_opt(argv, argc, i, "-s", "--server", &v)) != 0) {
        if (m > 0 && v[0] == '\0') {
            fail_msg(RC_EINVAL, "--server needs HOST:PORT");
            return -1;
        }
        cli->server = v;
    } else if ((m = match_opt(argv, argc, i, NULL, "--timeout", &v)) != 0) {
        if (m > 0 && parse_uint(v, strlen(v), 3600000, &ms) < 0) {
            fail_msg(RC_EINVAL, "--timeout needs milliseconds (1..3600000), got '%s'", v);
            return -1;
        }
        if (m > 0)
            cli->copts.connect_timeout_ms = cli->copts.io_timeout_ms = (int)ms;
    } else if ((m = match_opt(argv, argc, i, NULL, "--consistency", &v)) != 0) {
        if (m > 0 && (cli->consistency = parse_consistency(v)) < 0) {
            fail_msg(RC_EINVAL, "--consistency must be one, quorum or all, got '%s'", v);
            return -1;
        }
    } else {
        fail_msg(RC_EINVAL, "unknown option '%s' (see --help)", argv[*i]);
        return -1;
    }
    return m < 0 ? -1 : 0;
}

/* Options before the command. Returns the index of the command (argc
 * when none), -1 after --help, or -2 after a usage error (printed). */
static int parse_global(int argc, char **argv, struct cli *cli)
{
    int i;

    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        if (strcmp(argv[i], "--") == 0)
            return i + 1;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return -1;
        if (global_opt(argc, argv, &i, cli) < 0)
            return -2;
    }
    return i;
}

int main(int argc, char **argv)
{
    struct cli cli;
    const char *env = getenv("RINGCACHE_SERVER");
    int i;

    memset(&cli, 0, sizeof(cli));
    cli.server = env != NULL && env[0] != '\0' ? env : DEFAULT_SERVER;
    cli.copts.max_reply = MAX_VALUE + REPLY_OVERHEAD;
    i = parse_global(argc, argv, &cli);
    if (i == -2)
        return 2;
    if (i == -1 || (i < argc && strcmp(argv[i], "help") == 0)) {
        fputs(usage_text, stdout);
        return finish_stdout(0);
    }
    if (i == argc)
        return run_pipe(&cli);
    return run_single(&cli, argv + i, argc - i);
}
