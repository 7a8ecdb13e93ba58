/*
 * mcproto.h - the memcached text and meta protocol (memcached 1.6),
 * parsing and the small pieces of its semantics that need no I/O.
 *
 * Pure functions over byte buffers for the memcached front end
 * (server/memcache.c). A command is one line ("get a b\r\n") and, for the
 * storage commands, a data block of the length the line declares followed
 * by "\r\n". The parser never allocates: tokens borrow from the input, and
 * every declared length is checked against the caller's limits before it
 * waits for the bytes, so "set k 0 0 4294967295" costs nothing. Errors
 * carry memcached's own reply line and what memcached does next (go on,
 * swallow the data block, close), checked against a real memcached 1.6 by
 * tests/integration/test_memcache.c.
 */
#ifndef RC_MCPROTO_H
#define RC_MCPROTO_H

#include <stddef.h>
#include <stdint.h>

/* memcached's key limit (KEY_MAX_LENGTH). */
#define RC_MC_KEY_MAX 250
/* A line without its newline longer than this closes the connection
 * (memcached: 2048), unless it is a get, which may carry many keys and
 * is bounded by the caller's max_line instead. */
#define RC_MC_LINE_MAX 2048
/* memcached reads exptimes above 30 days as absolute Unix times. */
#define RC_MC_REALTIME_MAXDELTA (60 * 60 * 24 * 30)
/* Tokens of any line but a get's (memcached's MAX_TOKENS is 24; meta
 * commands take one flag per token). A get's keys are bounded by the
 * caller's array instead (rc_mc_limits.max_keys). */
#define RC_MC_MAX_TOKENS 24

enum rc_mc_cmd {
    RC_MC_GET = 1, RC_MC_GETS, RC_MC_GAT, RC_MC_GATS,
    RC_MC_SET, RC_MC_ADD, RC_MC_REPLACE, RC_MC_APPEND, RC_MC_PREPEND, RC_MC_CAS,
    RC_MC_DELETE, RC_MC_INCR, RC_MC_DECR, RC_MC_TOUCH,
    RC_MC_MG, RC_MC_MS, RC_MC_MD, RC_MC_MA, RC_MC_MN, RC_MC_ME,
    RC_MC_STATS, RC_MC_VERSION, RC_MC_VERBOSITY, RC_MC_QUIT, RC_MC_FLUSH_ALL
};

struct rc_mc_tok {
    const uint8_t *p;
    size_t len;
};

/* A meta command's flags: one letter each, with the token's rest as its
 * argument ("T30": 'T' with "30"). Bit i of present is letter i of
 * rc_mc_flag_index. */
struct rc_mc_meta {
    uint64_t present;
    struct rc_mc_tok arg[52];
    char order[RC_MC_MAX_TOKENS]; /* the flags in the order given (for k, O, ... echoes) */
    size_t n;
};

/* One parsed command; pointers borrow from the input. */
struct rc_mc_req {
    int cmd;                 /* enum rc_mc_cmd */
    /* Set by the caller to an array of rc_mc_limits.max_keys tokens
     * before each call; on return the command's keys (a get's point into
     * that array, past the command name). */
    struct rc_mc_tok *keys;
    size_t nkeys;
    struct rc_mc_tok args;   /* stats: its argument (may be empty); verbosity: the level */
    uint32_t flags;          /* storage: client flags */
    int64_t exptime;         /* storage, touch, gat, flush_all (its delay; 0 = now): as sent */
    uint64_t cas;            /* cas */
    uint64_t delta;          /* incr, decr */
    int noreply;
    const uint8_t *data;     /* storage, ms: the data block (without its CRLF) */
    size_t data_len;
    struct rc_mc_meta meta;  /* mg, ms, md, ma, me */
};

struct rc_mc_limits {
    size_t max_keys;  /* capacity of req->keys: tokens of a get line, name included (>= 2) */
    size_t max_value; /* largest data block: over it "SERVER_ERROR object too large" */
    size_t max_line;  /* largest get line (>= RC_MC_LINE_MAX) */
};

/* What to do with a command that failed to parse (rc_mc_parse < 0). */
enum rc_mc_action {
    RC_MC_CONTINUE = 0, /* reply err, go on after *used bytes */
    RC_MC_SWALLOW,      /* reply err, consume *used, then discard swallow more bytes */
    RC_MC_CLOSE         /* reply err (if any), close the connection */
};

struct rc_mc_error {
    const char *line;   /* the reply, without CRLF ("" on a close without one); static */
    int action;         /* enum rc_mc_action */
    uint64_t swallow;   /* RC_MC_SWALLOW: bytes still to discard after *used */
};

/*
 * Parses one command at the start of buf[0..len). Returns 1 with *req and
 * *used set, 0 when more bytes are needed, or RC_EPROTO with *err set
 * (and *used: the bytes the error consumed).
 */
int rc_mc_parse(const uint8_t *buf, size_t len, const struct rc_mc_limits *lim,
                struct rc_mc_req *req, size_t *used, struct rc_mc_error *err);

/* A key as memcached 1.6 takes it: 1..250 bytes without a space (nor a
 * newline, which ends the line); control characters are accepted, as
 * memcached accepts them although protocol.txt forbids them. 1 or 0. */
int rc_mc_key_ok(const uint8_t *p, size_t len);

/* Index of a meta flag letter ('a'..'z' 0..25, 'A'..'Z' 26..51), -1 for others. */
int rc_mc_flag_index(char c);
/* 1 when req->meta holds flag c. */
int rc_mc_has(const struct rc_mc_meta *m, char c);
/* The flag's argument as an unsigned/signed decimal: 0, or RC_EINVAL
 * (absent argument, not a number, overflow). */
int rc_mc_flag_u64(const struct rc_mc_meta *m, char c, uint64_t *v);
int rc_mc_flag_i64(const struct rc_mc_meta *m, char c, int64_t *v);

/* Decimal parsers as memcached's safe_strtoull / safe_strtol: the whole
 * token, no sign for unsigned, no overflow. 0 or RC_EINVAL. */
int rc_mc_u64(const uint8_t *p, size_t len, uint64_t *v);
int rc_mc_i64(const uint8_t *p, size_t len, int64_t *v);

/*
 * An exptime as memcached reads it, at now_s (Unix seconds): 0 = no
 * expiry (*ttl_ms 0, returns 0); negative, or an absolute time (above 30
 * days) not in the future = expired at once (returns 1); else *ttl_ms > 0
 * and 0.
 */
int rc_mc_exptime(int64_t exptime, int64_t now_s, uint64_t *ttl_ms);

/* The 64-bit CAS unique of a version (its clock timestamp and writer
 * node): a mix of both, never 0 (memcached's "no cas"). */
uint64_t rc_mc_cas(uint64_t hlc, uint64_t node);

/*
 * incr/decr on a stored value as memcached does it: the value must be a
 * decimal of at most 20 digits (else RC_EINVAL: "non-numeric"); incr
 * wraps at 2^64, decr stops at 0. The result in *out.
 */
int rc_mc_arith(const uint8_t *value, size_t len, int incr, uint64_t delta, uint64_t *out);

#endif
