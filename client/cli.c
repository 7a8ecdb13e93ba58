/*
 * cli.c - ringcache-cli: one command per run, or a pipelined batch.
 *
 * With a command it runs that one request and reports through its exit
 * status (0 ok, 1 miss, 2 error) so shell scripts need not parse output.
 * Without one it reads commands from stdin, one per line, and keeps up to
 * PIPE_WINDOW of them in flight, which is what makes bulk loads fast; the
 * results come out one line per command, in input order. Both modes share
 * one command parser, working on (pointer, length) tokens so that keys and
 * values stay binary-safe. The cluster views (members, ring, watch) live
 * in cli_views.c.
 */
#include "ringcache.h"

#include "buf.h"
#include "cli_views.h"
#include "err.h"
#include "seal.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
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

/* watch is no wire operation: a command number past them. */
#define CMD_WATCH 100
/* watch --interval: 500 ms is live enough to follow a stream; 100 ms
 * keeps a watcher from becoming load, 10 min is a log's cadence. */
#define WATCH_INTERVAL_MS 500
#define WATCH_INTERVAL_MIN 100
#define WATCH_INTERVAL_MAX 600000

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
    int consistency; /* --consistency after the command; 0 = not given */
    int json;
    int interval_ms; /* watch */
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
    "  --consistency LEVEL      replicas that must answer a get or acknowledge a\n"
    "                           put or del: one, quorum (a majority of the key's\n"
    "                           RF replicas, dead ones counted), all, or any (a\n"
    "                           write kept by any live node, fallbacks included:\n"
    "                           available while replicas are down, no read-your-\n"
    "                           write promise); default: the server's --r/--w\n"
    "  -a, --auth PASSWORD      password for servers started with --auth-file\n"
    "                           (visible in ps: prefer $RINGCACHE_AUTH)\n"
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
    "  incr KEY [DELTA]         add DELTA (default 1; negative, or a float like\n"
    "                           0.5) to the key's counter; prints the new total.\n"
    "                           Never loses an increment under concurrency\n"
    "  ping                     prints PONG\n"
    "  stats [--json]           server statistics as \"name value\" lines, or as\n"
    "                           one JSON object\n"
    "  members [--json]         the cluster as this node sees it, by host:port:\n"
    "                           id, address, state, incarnation, share of the\n"
    "                           ring as primary and as any replica, and keys held\n"
    "                           (asked of each alive member at its address, 500 ms\n"
    "                           timeout; - when unreachable); * marks this node\n"
    "  ring [--json]            ring ownership per member (vnodes, primary and\n"
    "                           replica share, a bar), then members, rf, vnodes\n"
    "                           and the busiest primary share against the mean\n"
    "  watch [--interval MS] [--json]\n"
    "                           live view of the cluster until Ctrl-C or SIGTERM\n"
    "                           (exit 0; 2 if this node cannot be asked at the\n"
    "                           start). Every MS (default 500, 100..600000) it\n"
    "                           asks this node for the members (another member\n"
    "                           when this one is gone), then each alive or\n"
    "                           suspect member for its activity, and for its\n"
    "                           stats every 5 s (less often when they are slow)\n"
    "                           with a 300 ms timeout; one that does not answer\n"
    "                           shows as unreachable (connecting is retried after\n"
    "                           1 s, doubling up to 8 s).\n"
    "                           On a terminal it redraws one screen: members,\n"
    "                           alive, rf, keys (each key counted once, at its\n"
    "                           primary; copies include replicas); a table of\n"
    "                           members (* answered the members request) with\n"
    "                           keys, ring shares and streams in and out; the\n"
    "                           streams in progress (ranges done, keys, bytes,\n"
    "                           rate, ETA, a bar); the last 10 events of all\n"
    "                           nodes (one several nodes report is shown once,\n"
    "                           with [N nodes]). Otherwise, or with --json, one\n"
    "                           JSON object per line each time members, states,\n"
    "                           stream progress or events change (README.md)\n"
    "  forget ID                remove a dead member for good (ID: 16 hex digits,\n"
    "                           see members): it stops counting towards quorums\n"
    "                           and the cluster keeps RF copies on the others;\n"
    "                           refused for a member that is alive or suspect\n"
    "  keygen                   print a new random cluster key (64 hex digits\n"
    "                           and a newline) for --cluster-key-file; contacts\n"
    "                           no server: ringcache-cli keygen > cluster.key\n"
    "                           (a file it writes to is made private, mode 600)\n"
    "  help                     this text\n"
    "  get, put and del also take --consistency LEVEL after the key, which wins\n"
    "  over the one given before the command.\n"
    "  Use -- before a key that starts with \"--\" (put -- --k v).\n"
    "\n"
    "Pipe mode (no command): reads one command per line from stdin:\n"
    "  get KEY | put KEY VALUE [--ttl S] | del KEY | ping\n"
    "  (get, put and del also take --consistency LEVEL)\n"
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
    "(get/del), 2 usage, connection or server error, or a malformed members or\n"
    "ring reply (pipe mode: any ERR line); watch: see above.\n"
    "Errors are reported on stderr as: " PROG ": error: <CODE>: <message>\n"
    "\n"
    "Environment:\n"
    "  RINGCACHE_SERVER         default server address (HOST:PORT)\n"
    "  RINGCACHE_AUTH           password (as --auth, which wins)\n";

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

static int parse_interval(const struct tok *t, struct cmd *cmd, char *err, size_t errlen)
{
    uint64_t ms;

    if (parse_uint(t->p, t->len, WATCH_INTERVAL_MAX, &ms) < 0 || ms < WATCH_INTERVAL_MIN) {
        snprintf(err, errlen, "--interval needs milliseconds (%d..%d), got '%.*s'",
                 WATCH_INTERVAL_MIN, WATCH_INTERVAL_MAX, (int)(t->len < 40 ? t->len : 40), t->p);
        return RC_EINVAL;
    }
    cmd->interval_ms = (int)ms;
    return 0;
}

static int command_op(const struct tok *t)
{
    static const struct {
        const char *name;
        int op;
    } ops[] = {{"get", RC_CLIENT_GET},     {"put", RC_CLIENT_PUT},
               {"del", RC_CLIENT_DEL},     {"ping", RC_CLIENT_PING},
               {"stats", RC_CLIENT_STATS}, {"members", RC_CLIENT_MEMBERS},
               {"ring", RC_CLIENT_RING},   {"watch", CMD_WATCH},
               {"forget", RC_CLIENT_FORGET}, {"incr", RC_CLIENT_INCR}};
    size_t i;

    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (t->len == strlen(ops[i].name) && strncasecmp(t->p, ops[i].name, t->len) == 0)
            return ops[i].op;
    return 0;
}

/* "one", "quorum", "all" or "any" in any case; -1 for anything else. */
static int parse_level(const char *p, size_t len)
{
    static const struct {
        const char *name;
        int level;
    } levels[] = {{"one", RC_CLIENT_CL_ONE}, {"quorum", RC_CLIENT_CL_QUORUM},
                  {"all", RC_CLIENT_CL_ALL}, {"any", RC_CLIENT_CL_ANY}};
    size_t i;

    for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (len == strlen(levels[i].name) && strncasecmp(p, levels[i].name, len) == 0)
            return levels[i].level;
    return -1;
}

static int key_op(int op)
{
    return op == RC_CLIENT_GET || op == RC_CLIENT_PUT || op == RC_CLIENT_DEL ||
           op == RC_CLIENT_INCR;
}

/* Commands that print a report and take --json. */
static int report_op(int op)
{
    return op == RC_CLIENT_STATS || op == RC_CLIENT_MEMBERS || op == RC_CLIENT_RING ||
           op == CMD_WATCH;
}

static int view_op(int op)
{
    return op == RC_CLIENT_MEMBERS || op == RC_CLIENT_RING;
}

/* Matches "NAME VALUE" or "NAME=VALUE" at *t. Returns 1 with *v set, 0 when
 * *t is another option, or RC_EINVAL when the value is missing. */
static int opt_value(const char *name, const struct tok *t, int *i, const struct tok *tok,
                     int ntok, struct tok *v, char *err, size_t errlen)
{
    size_t n = strlen(name);

    if (t->len > n && memcmp(t->p, name, n) == 0 && t->p[n] == '=') {
        v->p = t->p + n + 1;
        v->len = t->len - n - 1;
        return 1;
    }
    if (!tok_is(t, name))
        return 0;
    if (*i + 1 >= ntok) {
        snprintf(err, errlen, "%s needs a value", name);
        return RC_EINVAL;
    }
    *v = tok[++*i];
    return 1;
}

/* Options after the command: --ttl for put, --consistency for get, put
 * and del, --json for the reports (not in pipe mode, where a result must
 * fit on one line), --interval for watch. */
static int cmd_option(const struct tok *t, int *i, const struct tok *tok, int ntok, int piped,
                      struct cmd *cmd, char *err, size_t errlen)
{
    struct tok v;
    int m;

    if (cmd->op == RC_CLIENT_PUT && (m = opt_value("--ttl", t, i, tok, ntok, &v, err, errlen)))
        return m < 0 ? m : parse_ttl(&v, cmd, err, errlen);
    if (key_op(cmd->op) &&
        (m = opt_value("--consistency", t, i, tok, ntok, &v, err, errlen))) {
        if (m < 0)
            return m;
        cmd->consistency = parse_level(v.p, v.len);
        if (cmd->consistency > 0)
            return 0;
        snprintf(err, errlen, "--consistency must be one, quorum, all or any, got '%.*s'",
                 (int)(v.len < 40 ? v.len : 40), v.p);
        return RC_EINVAL;
    }
    if (report_op(cmd->op) && !piped && tok_is(t, "--json")) {
        cmd->json = 1;
        return 0;
    }
    if (cmd->op == CMD_WATCH && (m = opt_value("--interval", t, i, tok, ntok, &v, err, errlen)))
        return m < 0 ? m : parse_interval(&v, cmd, err, errlen);
    snprintf(err, errlen, "unknown option '%.*s'", (int)(t->len < 40 ? t->len : 40), t->p);
    return RC_EINVAL;
}

/* Positional arguments of a command, at most and at least (incr's
 * DELTA is optional). */
static int nargs(int op)
{
    return op == RC_CLIENT_PUT || op == RC_CLIENT_INCR ? 2
           : key_op(op) || op == RC_CLIENT_FORGET     ? 1
                                                      : 0;
}

static int nargs_min(int op)
{
    return op == RC_CLIENT_INCR ? 1 : nargs(op);
}

/* Parses tok[0] (the command) and its arguments. */
static int parse_cmd(const struct tok *tok, int ntok, int piped, struct cmd *cmd, char *err,
                     size_t errlen)
{
    struct tok pos[2];
    int i, npos = 0, dashdash = 0, rv;

    memset(cmd, 0, sizeof(*cmd));
    cmd->op = command_op(&tok[0]);
    cmd->interval_ms = WATCH_INTERVAL_MS;
    if (cmd->op == 0 || (piped && (report_op(cmd->op) || cmd->op == RC_CLIENT_FORGET))) {
        snprintf(err, errlen, "unknown command '%.*s'%s", (int)(tok[0].len < 40 ? tok[0].len : 40),
                 tok[0].p, piped ? " (pipe mode: get, put, del, incr, ping)" : " (see --help)");
        return RC_EINVAL;
    }
    for (i = 1; i < ntok; i++) {
        if (!dashdash && tok_is(&tok[i], "--")) {
            dashdash = 1;
        } else if (!dashdash && tok[i].len > 2 && !memcmp(tok[i].p, "--", 2)) {
            rv = cmd_option(&tok[i], &i, tok, ntok, piped, cmd, err, errlen);
            if (rv < 0)
                return rv;
        } else if (npos < nargs(cmd->op)) {
            pos[npos++] = tok[i];
        } else {
            snprintf(err, errlen, "too many arguments for %.*s", (int)tok[0].len, tok[0].p);
            return RC_EINVAL;
        }
    }
    if (npos < nargs_min(cmd->op)) {
        snprintf(err, errlen, "usage: %s", cmd->op == RC_CLIENT_PUT    ? "put KEY VALUE [--ttl S]"
                                           : cmd->op == RC_CLIENT_GET    ? "get KEY"
                                           : cmd->op == RC_CLIENT_FORGET ? "forget ID"
                                           : cmd->op == RC_CLIENT_INCR   ? "incr KEY [DELTA]"
                                                                         : "del KEY");
        return RC_EINVAL;
    }
    if (npos > 0)
        cmd->key = pos[0];
    if (npos > 1) {
        cmd->value = pos[1];
        cmd->value_stdin = cmd->op == RC_CLIENT_PUT && !piped && tok_is(&pos[1], "-");
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

/* --consistency applies to the key operations only; given after the
 * command it overrides the one given before. */
static int consistency_for(const struct cli *cli, const struct cmd *cmd)
{
    if (!key_op(cmd->op))
        return RC_CLIENT_CL_DEFAULT;
    return cmd->consistency > 0 ? cmd->consistency : cli->consistency;
}

static int connect_server(const struct cli *cli, const struct rc_client_opts *opts,
                          struct rc_client **c)
{
    int rv = rc_client_connect(cli->server, opts, c);

    if (rv == RC_EINVAL)
        return fail_msg(rv, "bad server address '%s' (want HOST:PORT or [IPv6]:PORT)",
                        cli->server);
    if (rv == RC_ECONNECT)
        return fail_msg(rv, "cannot connect to %s", cli->server);
    if (rv < 0)
        return fail_msg(rv, "cannot connect to %s: %s", cli->server, rc_client_strerror(rv));
    return 0;
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
            rc_cli_views_json_str(stdout, s->name);
            fputs(": ", stdout);
            if (s->is_str)
                rc_cli_views_json_str(stdout, s->str);
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
    case RC_CLIENT_INCR:
        printf("%.*s\n", (int)res->value_len, (const char *)res->value);
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

/* MEMBERS or RING answered OK: decode, complete, print. Exit status. */
static int print_view(const struct cli *cli, struct rc_client *c, const struct cmd *cmd,
                      const struct rc_result *res)
{
    char err[200];
    int rv;

    rv = rc_cli_views_print(cmd->op, c, res, cli->copts.io_timeout_ms, cli->copts.password, cmd->json, err,
                            sizeof(err));
    if (rv < 0)
        return fail_msg(rv, "bad %s reply from %s: %s",
                        cmd->op == RC_CLIENT_MEMBERS ? "MEMBERS" : "RING", cli->server, err);
    return 0;
}

static int run_watch(const struct cli *cli, const struct cmd *cmd)
{
    struct rc_cli_watch_opts o = {.server = cli->server,
                                  .copts = &cli->copts,
                                  .timeout_ms = cli->copts.io_timeout_ms,
                                  .interval_ms = cmd->interval_ms,
                                  .json = cmd->json};
    char err[400];
    int rv;

    rv = rc_cli_views_watch(&o, err, sizeof(err));
    return rv < 0 ? fail_msg(rv, "%s", err) : 0;
}

static int run_single(const struct cli *cli, char **argv, int argc)
{
    struct tok tok[MAX_TOKENS + 1];
    struct rc_client_opts opts;
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
    if (cmd.op == CMD_WATCH)
        return run_watch(cli, &cmd);
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
    /* The views are decoded into memory: they get a reply cap of their own. */
    opts = cli->copts;
    if (view_op(cmd.op))
        opts.max_reply = RC_CLI_VIEW_MAX_REPLY;
    status = connect_server(cli, &opts, &c);
    if (status != 0)
        goto out;
    rv = rc_client_send(c, cmd.op, cmd.key.p, cmd.key.len, cmd.value.p, cmd.value.len, cmd.ttl_ms,
                        consistency_for(cli, &cmd));
    if (rv == 0)
        rv = rc_client_recv(c, &res);
    if (rv < 0)
        status = fail_msg(rv, "%s (server %s)", rc_client_strerror(rv), cli->server);
    else if (res.err == 0 && view_op(cmd.op))
        status = finish_stdout(print_view(cli, c, &cmd, &res));
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
    } else if (s->op == RC_CLIENT_GET || s->op == RC_CLIENT_INCR) {
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
                            cmd.ttl_ms, consistency_for(pr->cli, &cmd));
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
    status = connect_server(cli, &cli->copts, &pr->c);
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
    } else if ((m = match_opt(argv, argc, i, "-a", "--auth", &v)) != 0) {
        if (m > 0)
            cli->copts.password = v;
    } else if ((m = match_opt(argv, argc, i, NULL, "--timeout", &v)) != 0) {
        if (m > 0 && parse_uint(v, strlen(v), 3600000, &ms) < 0) {
            fail_msg(RC_EINVAL, "--timeout needs milliseconds (1..3600000), got '%s'", v);
            return -1;
        }
        if (m > 0)
            cli->copts.connect_timeout_ms = cli->copts.io_timeout_ms = (int)ms;
    } else if ((m = match_opt(argv, argc, i, NULL, "--consistency", &v)) != 0) {
        if (m > 0 && (cli->consistency = parse_level(v, strlen(v))) < 0) {
            fail_msg(RC_EINVAL, "--consistency must be one, quorum, all or any, got '%s'", v);
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

/* Prints a new cluster key in the key file format (common/seal.h). The
 * file should not be readable by others: create it with umask 077. */
static int keygen(int nargs)
{
    char line[66];
    struct stat st;

    if (nargs != 1) {
        fprintf(stderr, PROG ": error: INVAL: keygen takes no arguments\n");
        return 2;
    }
    if (rc_seal_init() < 0) {
        fprintf(stderr, PROG ": error: INTERNAL: cannot initialise libsodium\n");
        return 2;
    }
    /* `keygen > cluster.key` creates the file with the umask's mode,
     * usually readable by everyone, which the server refuses: make it
     * private before the key is in it. */
    if (fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
        if (fchmod(STDOUT_FILENO, st.st_mode & 0700) == 0)
            fprintf(stderr, PROG ": keygen: output file made private (mode %o)\n",
                    (unsigned)(st.st_mode & 0700));
        else
            fprintf(stderr, PROG ": keygen: warning: cannot make the output file private: %s\n",
                    strerror(errno));
    }
    rc_seal_keygen_line(line);
    fputs(line, stdout);
    memset(line, 0, sizeof(line));
    return finish_stdout(0);
}

int main(int argc, char **argv)
{
    struct cli cli;
    const char *env = getenv("RINGCACHE_SERVER");
    const char *pw = getenv("RINGCACHE_AUTH");
    int i;

    memset(&cli, 0, sizeof(cli));
    cli.copts.password = pw != NULL && pw[0] != '\0' ? pw : NULL;
    cli.server = env != NULL && env[0] != '\0' ? env : DEFAULT_SERVER;
    cli.copts.max_reply = MAX_VALUE + REPLY_OVERHEAD;
    i = parse_global(argc, argv, &cli);
    if (i == -2)
        return 2;
    if (i == -1 || (i < argc && strcmp(argv[i], "help") == 0)) {
        fputs(usage_text, stdout);
        return finish_stdout(0);
    }
    if (i < argc && strcmp(argv[i], "keygen") == 0)
        return keygen(argc - i);
    if (i == argc)
        return run_pipe(&cli);
    return run_single(&cli, argv + i, argc - i);
}
