/*
 * resp_docs.c - COMMAND and its subcommands (COUNT, INFO, LIST, DOCS):
 * what redis-cli 7 asks at start to show argument hints as one types, and
 * what client libraries read to route keys.
 *
 * The command table (resp_server.c) is the truth for what ringcache
 * enforces: COMMAND's first six fields (name, arity, flags, key positions)
 * come from it. Everything Redis 7 adds (ACL categories, tips, key specs,
 * subcommands) and COMMAND DOCS's text are Redis's own replies, kept as
 * RESP3 bytes in resp_docs_table.inc, generated from redis-server 7.0 by
 * scripts/gen_resp_docs.py: hand-copied docs drift (history, deprecation
 * notes, key spec indexes), the reference server's answers do not. A
 * RESP2 client gets them with maps and sets turned into arrays, the only
 * difference between Redis's two encodings of these replies (the
 * generator checks it on every row).
 *
 * Commands answered with the "not supported data type" error
 * (rc_resp_str_no_type: LPUSH, HSET, ...) have no docs row on purpose:
 * redis-cli would offer argument hints for a command that is refused, as
 * if it worked. Their COMMAND entries keep the table's fields and empty
 * Redis 7 fields. Likewise containers list only the subcommands ringcache
 * answers.
 */
#include "resp_int.h"
#include "err.h"
#include "glob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct doc {
    const char *name; /* "get", or "client|list" for a subcommand */
    const char *docs; /* COMMAND DOCS's value for it, RESP3 */
    /* COMMAND INFO: fields 7 to 10 for a command (1 to 6 from the table),
     * the whole entry for a subcommand; RESP3. */
    const char *info;
};

static const struct doc docs[] = {
#include "resp_docs_table.inc"
};

#define NDOCS (sizeof(docs) / sizeof(docs[0]))

/* ---- Redis's RESP3 bytes, as RESP3 or RESP2 ------------------------ */

/* Copies the element at *p (RESP3 from the generated table) into out
 * (NULL: skips it), maps as arrays of 2n and sets as arrays for RESP2;
 * *p moves past it. */
static int copy_elem(struct rc_buf *out, const char **p, int proto)
{
    const char *s = *p, *eol = strstr(s, "\r\n");
    long n = strtol(s + 1, NULL, 10), i;
    int rv = 0;

    *p = eol + 2;
    if (*s == '$')
        *p += n + 2;
    if (*s != '%' && *s != '~' && *s != '*') /* '$', '+', ':' */
        return out ? rc_buf_append(out, s, (size_t)(*p - s)) : 0;
    if (out != NULL)
        rv = *s == '%' ? rc_resp_map(out, (size_t)n, proto)
             : *s == '~' ? rc_resp_set(out, (size_t)n, proto)
                         : rc_resp_array(out, (size_t)n);
    n *= *s == '%' ? 2 : 1;
    for (i = 0; rv == 0 && i < n; i++)
        rv = copy_elem(out, p, proto);
    return rv;
}

/* Copies every element of the string s. */
static int copy_all(struct rc_buf *out, const char *s, int proto)
{
    int rv = 0;

    while (rv == 0 && *s)
        rv = copy_elem(out, &s, proto);
    return rv;
}

/* ---- lookups ------------------------------------------------------- */

static const struct doc *doc_named(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < NDOCS; i++)
        if (strlen(docs[i].name) == len && strncasecmp(docs[i].name, name, len) == 0)
            return &docs[i];
    return NULL;
}

/* The row for a name ("get", "client|list", any case) ringcache serves,
 * NULL if none: the command (or the container of a subcommand) must be in
 * the table, a row for a newer one waits for it. */
static const struct doc *find_doc(const struct rc_resp_arg *name)
{
    const char *bar = memchr(name->p, '|', name->len);
    struct rc_resp_arg top = {name->p, bar ? (size_t)(bar - (const char *)name->p) : name->len};

    if (rc_resp_server_find(&top) == NULL)
        return NULL;
    return doc_named((const char *)name->p, name->len);
}

static const struct doc *doc_of(const struct rc_resp_cmd_def *d)
{
    return doc_named(d->name, strlen(d->name));
}

/* ---- COMMAND, COMMAND INFO ----------------------------------------- */

/* One COMMAND entry: the table's [name, arity, flags, first, last, step],
 * then Redis's ACL categories, tips, key specs and subcommands. */
static int encode_command(struct rc_buf *out, const struct rc_resp_cmd_def *d, int proto)
{
    const struct doc *doc = doc_of(d);
    char flags[96], *save = NULL, *f;
    size_t nf = 0, i;
    int rv;

    for (i = 0; d->flags[i]; i++)
        nf += d->flags[i] == ' ';
    nf += d->flags[0] != 0;
    rv = rc_resp_array(out, 10);
    if (rv == 0) rv = rc_resp_bulk_str(out, d->name);
    if (rv == 0) rv = rc_resp_integer(out, d->arity);
    if (rv == 0) rv = rc_resp_set(out, nf, proto);
    snprintf(flags, sizeof(flags), "%s", d->flags);
    for (f = strtok_r(flags, " ", &save); rv == 0 && f; f = strtok_r(NULL, " ", &save))
        rv = rc_resp_simple(out, f);
    if (rv == 0) rv = rc_resp_integer(out, d->first);
    if (rv == 0) rv = rc_resp_integer(out, d->last);
    if (rv == 0) rv = rc_resp_integer(out, d->step);
    if (rv == 0 && doc != NULL)
        return copy_all(out, doc->info, proto);
    /* A refused data-type command: no categories, tips, specs, subcommands. */
    if (rv == 0) rv = rc_resp_set(out, 0, proto);
    for (i = 0; rv == 0 && i < 3; i++)
        rv = rc_resp_array(out, 0);
    return rv;
}

/* COMMAND INFO's entry for a name: a command, a served subcommand
 * ("client|list"), else a null as Redis answers. */
static int encode_info(struct rc_resp_ctx *x, const struct rc_resp_arg *name)
{
    const struct rc_resp_cmd_def *d = rc_resp_server_find(name);
    const struct doc *doc;

    if (d != NULL)
        return encode_command(x->out, d, x->r->cur_proto);
    doc = memchr(name->p, '|', name->len) ? find_doc(name) : NULL;
    if (doc != NULL)
        return copy_all(x->out, doc->info, x->r->cur_proto);
    return rc_resp_null(x->out, x->r->cur_proto);
}

/* COMMAND [INFO]: every row; COMMAND INFO name ...: those named. */
static int command_info(struct rc_resp_ctx *x, size_t from)
{
    const struct rc_resp_cmd_def *table;
    size_t n, i;
    int rv;

    table = rc_resp_server_commands(&n);
    if (x->argc <= from) {
        rv = rc_resp_array(x->out, n);
        for (i = 0; rv == 0 && i < n; i++)
            rv = encode_command(x->out, &table[i], x->r->cur_proto);
        return rv;
    }
    rv = rc_resp_array(x->out, x->argc - from);
    for (i = from; rv == 0 && i < x->argc; i++)
        rv = encode_info(x, &x->argv[i]);
    return rv;
}

/* ---- COMMAND LIST -------------------------------------------------- */

/* Redis's ACL categories of a row: the set opening a command's tail, the
 * 7th element of a subcommand's entry. */
static const char *categories(const struct doc *doc)
{
    const char *s = doc->info;
    int i;

    if (strchr(doc->name, '|') == NULL)
        return s;
    s = strstr(s, "\r\n") + 2;
    for (i = 0; i < 6; i++)
        copy_elem(NULL, &s, 2);
    return s;
}

/* Whether a row's ACL categories hold "@cat" (any case). */
static int in_category(const struct doc *doc, const struct rc_resp_arg *cat)
{
    const char *s = categories(doc);
    long n = strtol(s + 1, NULL, 10), i;

    s = strstr(s, "\r\n") + 2;
    for (i = 0; i < n; i++, s = strstr(s, "\r\n") + 2)
        if (strncasecmp(s + 2, (const char *)cat->p, cat->len) == 0 && s[2 + cat->len] == '\r')
            return 1;
    return 0;
}

enum { LIST_ALL, LIST_ACLCAT, LIST_PATTERN, LIST_MODULE };

/* The i-th name COMMAND LIST may answer (NULL: none at i): the table's
 * commands, then the subcommands of the containers served. *doc its row. */
static const char *list_name(size_t i, const struct doc **doc)
{
    const struct rc_resp_cmd_def *table;
    struct rc_resp_arg a;
    size_t n;

    table = rc_resp_server_commands(&n);
    if (i < n) {
        *doc = doc_of(&table[i]);
        return table[i].name;
    }
    *doc = &docs[i - n];
    a.p = (const uint8_t *)(*doc)->name;
    a.len = strlen((*doc)->name);
    return memchr(a.p, '|', a.len) && find_doc(&a) ? (*doc)->name : NULL;
}

static int list_keeps(int filter, const struct rc_resp_arg *arg, const char *name,
                      const struct doc *doc)
{
    switch (filter) {
    case LIST_ALL:
        return 1;
    case LIST_ACLCAT:
        return doc != NULL && in_category(doc, arg);
    case LIST_PATTERN:
        return rc_glob_match((const char *)arg->p, arg->len, name, strlen(name), 1);
    default:
        return 0; /* ringcache has no modules */
    }
}

/* COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]:
 * names of commands and subcommands, as Redis 7 lists them. */
static int command_list(struct rc_resp_ctx *x)
{
    static const char *const filters[] = {"", "ACLCAT", "PATTERN", "MODULE"};
    const struct rc_resp_arg *arg = x->argc == 5 ? &x->argv[4] : NULL;
    size_t ncmds, total, n = 0, i;
    const struct doc *doc;
    const char *name;
    int filter = LIST_ALL, rv;

    if (x->argc != 2 && !(x->argc == 5 && rc_resp_is(&x->argv[2], "FILTERBY")))
        return rc_resp_error(x->out, "ERR syntax error");
    if (arg != NULL) {
        for (filter = LIST_ACLCAT; filter <= LIST_MODULE; filter++)
            if (rc_resp_is(&x->argv[3], filters[filter]))
                break;
        if (filter > LIST_MODULE)
            return rc_resp_error(x->out, "ERR syntax error");
    }
    rc_resp_server_commands(&ncmds);
    total = ncmds + NDOCS;
    for (i = 0; i < total; i++)
        if ((name = list_name(i, &doc)) != NULL)
            n += list_keeps(filter, arg, name, doc);
    rv = rc_resp_array(x->out, n);
    for (i = 0; rv == 0 && i < total; i++)
        if ((name = list_name(i, &doc)) != NULL && list_keeps(filter, arg, name, doc))
            rv = rc_resp_bulk_str(x->out, name);
    return rv;
}

/* ---- COMMAND DOCS -------------------------------------------------- */

/* The i-th row COMMAND DOCS answers: every served one without names
 * (subcommands inside their containers), else the named ones in order. */
static const struct doc *docs_item(const struct rc_resp_ctx *x, size_t i)
{
    struct rc_resp_arg a;

    if (x->argc > 2)
        return find_doc(&x->argv[2 + i]);
    a.p = (const uint8_t *)docs[i].name;
    a.len = strlen(docs[i].name);
    return memchr(a.p, '|', a.len) ? NULL : find_doc(&a);
}

/* COMMAND DOCS [name ...]: a map of name to its documentation; names
 * ringcache does not serve are left out, as Redis leaves out unknown ones. */
static int command_docs(struct rc_resp_ctx *x)
{
    size_t total = x->argc > 2 ? x->argc - 2 : NDOCS, n = 0, i;
    const struct doc *d;
    int rv;

    for (i = 0; i < total; i++)
        n += docs_item(x, i) != NULL;
    rv = rc_resp_map(x->out, n, x->r->cur_proto);
    for (i = 0; rv == 0 && i < total; i++) {
        if ((d = docs_item(x, i)) == NULL)
            continue;
        rv = rc_resp_bulk_str(x->out, d->name);
        if (rv == 0)
            rv = copy_all(x->out, d->docs, x->r->cur_proto);
    }
    return rv;
}

int rc_resp_docs_command(struct rc_resp_ctx *x)
{
    const struct rc_resp_arg *sub = x->argc > 1 ? &x->argv[1] : NULL;
    size_t n;

    if (sub == NULL)
        return command_info(x, 1);
    if (rc_resp_is(sub, "COUNT")) {
        if (x->argc != 2)
            return rc_resp_error(x->out,
                                 "ERR wrong number of arguments for 'command|count' command");
        rc_resp_server_commands(&n);
        return rc_resp_integer(x->out, (int64_t)n);
    }
    if (rc_resp_is(sub, "DOCS"))
        return command_docs(x);
    if (rc_resp_is(sub, "INFO"))
        return command_info(x, 2);
    if (rc_resp_is(sub, "LIST"))
        return command_list(x);
    return rc_resp_server_errorf(x, "ERR unknown subcommand '%.*s'. Try COMMAND HELP.",
                                 (int)(sub->len > 64 ? 64 : sub->len), (const char *)sub->p);
}
