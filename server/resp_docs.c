/*
 * resp_docs.c - COMMAND DOCS: Redis 7's documentation replies for the
 * commands ringcache serves, which redis-cli 7 asks for at start to show
 * argument hints as one types.
 *
 * Each command's arguments are written in a small notation rather than as
 * nested C initialisers, one string per command (grammar below), and
 * turned into Redis's reply shape (a map per argument: name, type, token,
 * flags, nested arguments) when asked. Summaries, groups and complexities
 * are Redis's own words. Commands without a row here (newer ones) are left
 * out of the reply, as Redis leaves out unknown names; redis-cli then shows
 * no hint for them.
 */
#include "resp_int.h"
#include "err.h"

#include <stdio.h>
#include <string.h>

/*
 * Argument notation: arguments separated by blanks; each is
 *   name ':' type [ '@' TOKEN ] [ '?' ] [ '*' ] [ '(' arg ',' arg ... ')' ]
 * ? = optional, * = multiple, the parenthesised list (separated by
 * commas, no blanks inside, nested as deep as needed) the arguments of a
 * oneof or block, which must have some (redis-cli relies on it).
 */
struct doc {
    const char *name, *summary, *since, *group, *complexity, *args;
};

static const struct doc docs[] = {
    {"ping", "Ping the server", "1.0.0", "connection", "O(1)", "message:string?"},
    {"echo", "Echo the given string", "1.0.0", "connection", "O(1)", "message:string"},
    {"get", "Get the value of a key", "1.0.0", "string", "O(1)", "key:key"},
    {"set", "Set the string value of a key", "1.0.0", "string", "O(1)",
     "key:key value:string condition:oneof?(nx:pure-token@NX,xx:pure-token@XX) "
     "get:pure-token@GET? expiration:oneof?(seconds:integer@EX,milliseconds:integer@PX,"
     "unix-time-seconds:unix-time@EXAT,unix-time-milliseconds:unix-time@PXAT,"
     "keepttl:pure-token@KEEPTTL)"},
    {"del", "Delete a key", "1.0.0", "generic", "O(N) where N is the number of keys that will be removed.",
     "key:key*"},
    {"unlink", "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but "
               "non blocking.", "4.0.0", "generic", "O(1) for each key removed regardless of its size.",
     "key:key*"},
    {"exists", "Determine if a key exists", "1.0.0", "generic",
     "O(N) where N is the number of keys to check.", "key:key*"},
    {"mget", "Get the values of all the given keys", "1.0.0", "string",
     "O(N) where N is the number of keys to retrieve.", "key:key*"},
    {"mset", "Set multiple keys to multiple values", "1.0.1", "string",
     "O(N) where N is the number of keys to set.", "key_value:block*(key:key,value:string)"},
    {"expire", "Set a key's time to live in seconds", "1.0.0", "generic", "O(1)",
     "key:key seconds:integer condition:oneof?(nx:pure-token@NX,xx:pure-token@XX,"
     "gt:pure-token@GT,lt:pure-token@LT)"},
    {"pexpire", "Set a key's time to live in milliseconds", "2.6.0", "generic", "O(1)",
     "key:key milliseconds:integer condition:oneof?(nx:pure-token@NX,xx:pure-token@XX,"
     "gt:pure-token@GT,lt:pure-token@LT)"},
    {"ttl", "Get the time to live for a key in seconds", "1.0.0", "generic", "O(1)", "key:key"},
    {"pttl", "Get the time to live for a key in milliseconds", "2.6.0", "generic", "O(1)",
     "key:key"},
    {"incr", "Increment the integer value of a key by one", "1.0.0", "string", "O(1)", "key:key"},
    {"decr", "Decrement the integer value of a key by one", "1.0.0", "string", "O(1)", "key:key"},
    {"incrby", "Increment the integer value of a key by the given amount", "1.0.0", "string",
     "O(1)", "key:key increment:integer"},
    {"decrby", "Decrement the integer value of a key by the given number", "1.0.0", "string",
     "O(1)", "key:key decrement:integer"},
    {"info", "Get information and statistics about the server", "1.0.0", "server", "O(1)",
     "section:string?*"},
    {"dbsize", "Return the number of keys in the selected database", "1.0.0", "server", "O(1)",
     ""},
    {"scan", "Incrementally iterate the keys space", "2.8.0", "generic",
     "O(1) for every call. O(N) for a complete iteration, including enough command calls for "
     "the cursor to return back to 0. N is the number of elements inside the collection.",
     "cursor:integer pattern:pattern@MATCH? count:integer@COUNT? type:string@TYPE?"},
    {"keys", "Find all keys matching the given pattern", "1.0.0", "generic",
     "O(N) with N being the number of keys in the database, under the assumption that the key "
     "names in the database and the given pattern have limited length.",
     "pattern:pattern"},
    {"randomkey", "Return a random key from the keyspace", "1.0.0", "generic", "O(1)", ""},
    {"flushall", "Remove all keys from all databases", "1.0.0", "server",
     "O(N) where N is the total number of keys in all databases",
     "async:oneof?(async:pure-token@ASYNC,sync:pure-token@SYNC)"},
    {"flushdb", "Remove all keys from the current database", "1.0.0", "server",
     "O(N) where N is the number of keys in the selected database",
     "async:oneof?(async:pure-token@ASYNC,sync:pure-token@SYNC)"},
    {"command", "Get array of Redis command details", "2.8.13", "server",
     "O(N) where N is the total number of Redis commands", ""},
    {"client", "A container for client connection commands", "2.4.0", "connection",
     "Depends on subcommand.", ""},
    {"config", "A container for server configuration commands", "2.0.0", "server",
     "Depends on subcommand.", ""},
    {"select", "Change the selected database for the current connection", "1.0.0", "connection",
     "O(1)", "index:integer"},
    {"hello", "Handshake with Redis", "6.0.0", "connection", "O(1)",
     "arguments:block?(protover:integer,username_password:block@AUTH?(username:string,"
     "password:string),clientname:string@SETNAME?)"},
    {"auth", "Authenticate to the server", "1.0.0", "connection",
     "O(N) where N is the number of passwords defined for the user",
     "username:string? password:string"},
    {"quit", "Close the connection", "1.0.0", "connection", "O(1)", ""},
    {"multi", "Mark the start of a transaction block", "1.2.0", "transactions", "O(1)", ""},
    {"exec", "Execute all commands issued after MULTI", "1.2.0", "transactions",
     "Depends on commands in the transaction", ""},
    {"discard", "Discard all commands issued after MULTI", "2.0.0", "transactions",
     "O(N), when N is the number of queued commands", ""},
    {"watch", "Watch the given keys to determine execution of the MULTI/EXEC block", "2.2.0",
     "transactions", "O(1) for every key.", "key:key*"},
    {"unwatch", "Forget about all watched keys", "2.2.0", "transactions", "O(1)", ""},
};

#define NDOCS (sizeof(docs) / sizeof(docs[0]))

/* One parsed argument of the notation (pointers into the string). */
struct arg {
    const char *name, *type, *token, *kids;
    size_t name_len, type_len, token_len, kids_len;
    int optional, multiple;
};

/* Parses one argument at s[0..n); 0 or RC_EINVAL (a typo in the table). */
static int parse_arg(const char *s, size_t n, struct arg *a)
{
    const char *end = s + n, *p = s, *q;

    memset(a, 0, sizeof(*a));
    q = memchr(p, '(', (size_t)(end - p));
    if (q != NULL) {
        if (end[-1] != ')')
            return RC_EINVAL;
        a->kids = q + 1;
        a->kids_len = (size_t)(end - q - 2);
        end = q;
    }
    while (end > p && (end[-1] == '?' || end[-1] == '*')) {
        a->optional |= end[-1] == '?';
        a->multiple |= end[-1] == '*';
        end--;
    }
    q = memchr(p, ':', (size_t)(end - p));
    if (q == NULL)
        return RC_EINVAL;
    a->name = p;
    a->name_len = (size_t)(q - p);
    a->type = q + 1;
    q = memchr(a->type, '@', (size_t)(end - a->type));
    a->type_len = (size_t)((q ? q : end) - a->type);
    if (q != NULL) {
        a->token = q + 1;
        a->token_len = (size_t)(end - q - 1);
    }
    return 0;
}

/* The next item of a list separated by sep (outside parentheses) from
 * *s up to end: its length, *s moved past it and its separator. */
static size_t next_item(const char **s, const char *end, char sep, const char **item)
{
    const char *p = *s;
    int depth = 0;

    *item = p;
    while (p < end && (*p != sep || depth > 0)) {
        depth += *p == '(';
        depth -= *p == ')';
        p++;
    }
    *s = p < end ? p + 1 : p;
    return (size_t)(p - *item);
}

static size_t count_items(const char *s, size_t n, char sep)
{
    const char *end = s + n, *item;
    size_t k = 0;

    while (s < end)
        k += next_item(&s, end, sep, &item) > 0;
    return k;
}

static int encode_args(struct rc_buf *out, const char *s, size_t n, char sep, int proto);

static int encode_arg(struct rc_buf *out, const struct arg *a, int proto)
{
    size_t fields = 2 + (a->token != NULL) + (a->optional || a->multiple) + (a->kids != NULL) +
                    (a->type_len == 3 && memcmp(a->type, "key", 3) == 0);
    int rv;

    rv = rc_resp_map(out, fields, proto);
    if (rv == 0) rv = rc_resp_bulk_str(out, "name");
    if (rv == 0) rv = rc_resp_bulk(out, a->name, a->name_len);
    if (rv == 0) rv = rc_resp_bulk_str(out, "type");
    if (rv == 0) rv = rc_resp_bulk(out, a->type, a->type_len);
    if (rv == 0 && a->type_len == 3 && memcmp(a->type, "key", 3) == 0) {
        rv = rc_resp_bulk_str(out, "key_spec_index");
        if (rv == 0)
            rv = rc_resp_integer(out, 0);
    }
    if (rv == 0 && a->token != NULL) {
        rv = rc_resp_bulk_str(out, "token");
        if (rv == 0)
            rv = rc_resp_bulk(out, a->token, a->token_len);
    }
    if (rv == 0 && (a->optional || a->multiple)) {
        rv = rc_resp_bulk_str(out, "flags");
        if (rv == 0)
            rv = rc_resp_set(out, (size_t)(a->optional + a->multiple), proto);
        if (rv == 0 && a->optional)
            rv = rc_resp_simple(out, "optional");
        if (rv == 0 && a->multiple)
            rv = rc_resp_simple(out, "multiple");
    }
    if (rv == 0 && a->kids != NULL) {
        rv = rc_resp_bulk_str(out, "arguments");
        if (rv == 0)
            rv = encode_args(out, a->kids, a->kids_len, ',', proto);
    }
    return rv;
}

static int encode_args(struct rc_buf *out, const char *s, size_t n, char sep, int proto)
{
    const char *end = s + n, *item;
    struct arg a;
    size_t len;
    int rv;

    rv = rc_resp_array(out, count_items(s, n, sep));
    while (rv == 0 && s < end) {
        len = next_item(&s, end, sep, &item);
        if (len == 0)
            continue;
        rv = parse_arg(item, len, &a);
        if (rv == 0)
            rv = encode_arg(out, &a, proto);
    }
    return rv;
}

static int encode_doc(struct rc_buf *out, const struct doc *d, int proto)
{
    int has_args = d->args[0] != 0, rv;

    rv = rc_resp_bulk_str(out, d->name);
    if (rv == 0) rv = rc_resp_map(out, 4 + (size_t)has_args, proto);
    if (rv == 0) rv = rc_resp_bulk_str(out, "summary");
    if (rv == 0) rv = rc_resp_bulk_str(out, d->summary);
    if (rv == 0) rv = rc_resp_bulk_str(out, "since");
    if (rv == 0) rv = rc_resp_bulk_str(out, d->since);
    if (rv == 0) rv = rc_resp_bulk_str(out, "group");
    if (rv == 0) rv = rc_resp_bulk_str(out, d->group);
    if (rv == 0) rv = rc_resp_bulk_str(out, "complexity");
    if (rv == 0) rv = rc_resp_bulk_str(out, d->complexity);
    if (rv == 0 && has_args) {
        rv = rc_resp_bulk_str(out, "arguments");
        if (rv == 0)
            rv = encode_args(out, d->args, strlen(d->args), ' ', proto);
    }
    return rv;
}

/* The row for a served command name, NULL if none (or not served). */
static const struct doc *find_doc(const struct rc_resp_arg *name)
{
    size_t i;

    for (i = 0; i < NDOCS; i++)
        if (rc_resp_is(name, docs[i].name)) {
            struct rc_resp_arg a = {(const uint8_t *)docs[i].name, strlen(docs[i].name)};

            return rc_resp_server_find(&a) ? &docs[i] : NULL;
        }
    return NULL;
}

/* The i-th documented command COMMAND DOCS answers: every served one
 * without names, else the named ones in their order. */
static const struct doc *docs_item(const struct rc_resp_ctx *x, size_t i)
{
    struct rc_resp_arg a;

    if (x->argc > 2)
        return find_doc(&x->argv[2 + i]);
    a.p = (const uint8_t *)docs[i].name;
    a.len = strlen(docs[i].name);
    return find_doc(&a);
}

/* COMMAND DOCS [name ...]: a map of name to its documentation. */
int rc_resp_docs_command(struct rc_resp_ctx *x)
{
    size_t total = x->argc > 2 ? x->argc - 2 : NDOCS, n = 0, i;
    const struct doc *d;
    int rv;

    for (i = 0; i < total; i++)
        n += docs_item(x, i) != NULL;
    rv = rc_resp_map(x->out, n, x->r->cur_proto);
    for (i = 0; rv == 0 && i < total; i++)
        if ((d = docs_item(x, i)) != NULL)
            rv = encode_doc(x->out, d, x->r->cur_proto);
    return rv;
}
