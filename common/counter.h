/*
 * counter.h - a convergent counter (a PN-counter CRDT over a base value),
 * the value of an entry of kind RC_KIND_COUNTER.
 *
 * Last-writer-wins loses one of two concurrent increments; this state
 * cannot. It is a base (the value the key held when counting started, a
 * SET's integer or float text, or 0 for a missing key, with that write's
 * version) plus one component per actor: an actor is one process
 * incarnation of a node (the node id mixed with a per-boot random, so a
 * node restarted with an empty memory never reuses a component it had),
 * and its component is the number of increments it applied (seq) with
 * their sums. One actor applies its own increments one after another, so
 * its component with the higher seq contains every increment of the one
 * with the lower: merging two states keeps, per actor, the higher seq.
 * That merge is a join (commutative, associative, idempotent): replicas
 * that exchanged their states in any order, any number of times, hold the
 * same state, in which every increment of every actor counts once.
 *
 * Two states on different bases: the newer base wins whole (a SET or a
 * DEL resets a counter; increments made on an older base are dropped with
 * it). Pure logic: no I/O, no clock.
 */
#ifndef RC_COUNTER_H
#define RC_COUNTER_H

#include <stddef.h>
#include <stdint.h>

/* Actors a counter keeps. Each node process that ever incremented the key
 * is one (restarts included), so a key incremented through every node of
 * a 100-node cluster across a restart of each fits; past it an increment
 * through a new actor fails (RC_ECOUNTER_FULL) until a SET resets the key.
 * 256 x 33 bytes = 8.4 KiB of value at most. */
#define RC_COUNTER_MAX_ACTORS 256

/* Bytes of an encoded state: header, then 33 per actor. */
#define RC_COUNTER_HDR_LEN 36
#define RC_COUNTER_COMP_LEN 33
#define RC_COUNTER_MAX_ENC (RC_COUNTER_HDR_LEN + RC_COUNTER_MAX_ACTORS * RC_COUNTER_COMP_LEN)

/* Longest rendered value: an int64 (20) or a float ("%.17g"-precise
 * digits in positional notation of up to ~310 digits) and a NUL. */
#define RC_COUNTER_TEXT_MAX 400

struct rc_counter_comp {
    uint64_t actor;
    uint64_t seq;  /* increments this actor applied, >= 1 */
    int64_t isum;  /* their integer sum */
    double fsum;   /* their float sum (INCRBYFLOAT) */
    int flt;       /* 1 once this actor applied a float increment */
};

struct rc_counter {
    int64_t base_int;
    double base_flt;
    int base_is_float;             /* the base was float text */
    uint64_t base_hlc, base_node;  /* version of the write the base came from; 0, 0: none */
    uint32_t n;                    /* components, sorted by actor */
    struct rc_counter_comp comp[RC_COUNTER_MAX_ACTORS];
};

/* A counter with base 0 and no component: what a missing key counts from. */
void rc_counter_init(struct rc_counter *c, uint64_t base_hlc, uint64_t base_node);

/*
 * A counter whose base is a stored text value of version (hlc, node).
 * as_float 0: the text must be an integer as Redis reads it (optional
 * '-', no leading zero, no space, fits int64), else RC_ENOT_INTEGER.
 * as_float 1: an integer, or else a float text (strtod, whole text, no
 * leading space, not NaN), else RC_ENOT_FLOAT.
 */
int rc_counter_from_text(struct rc_counter *c, const uint8_t *text, size_t len, int as_float,
                         uint64_t hlc, uint64_t node);

/* Parses an integer as Redis does (string2ll): 0 or RC_ENOT_INTEGER. */
int rc_counter_parse_int(const uint8_t *text, size_t len, int64_t *out);
/* Parses a float as Redis does (no leading space, whole text, not NaN, in
 * range): 0 or RC_ENOT_FLOAT. */
int rc_counter_parse_float(const uint8_t *text, size_t len, double *out);

/*
 * Applies delta as actor's next increment (its seq + 1, a new component
 * if it had none). Integer: RC_ENOT_INTEGER when the value is not an
 * integer (a float counter whose value is not integral), RC_EOVERFLOW when
 * the value or the actor's sum would leave int64. Float: RC_ENOT_FLOAT
 * for a delta that is not finite, RC_EOVERFLOW for a result that would
 * not be (Redis's "increment would produce NaN or Infinity").
 * Both: RC_ECOUNTER_FULL past RC_COUNTER_MAX_ACTORS. On error c is
 * unchanged.
 */
int rc_counter_incr(struct rc_counter *c, uint64_t actor, int64_t delta);
int rc_counter_incr_float(struct rc_counter *c, uint64_t actor, double delta);

/*
 * The join of a and b into *out (may be a or b): the newer base whole if
 * the bases differ, else per actor the component with the higher seq.
 * 0, or RC_ECOUNTER_FULL when the union has more actors than fit (out
 * unchanged).
 */
int rc_counter_merge(const struct rc_counter *a, const struct rc_counter *b,
                     struct rc_counter *out);

/*
 * What a replica holding state `stored` does with state `in` that arrives
 * (a replica write, a repair, a stream, a hint), so that replicas converge
 * on the join and, once their states are equal, on one version too:
 *   RC_COUNTER_KEEP   the join is what is stored: nothing to write;
 *   RC_COUNTER_ADOPT  the join is `in` and in_newer (its version is the
 *                     newer): write `in` at its own version;
 *   RC_COUNTER_JOIN   write *join at a fresh version newer than both.
 * Equal states at different versions: ADOPT when in_newer, else KEEP (the
 * newest version wins, as for any value). Returns one of them, or
 * RC_ECOUNTER_FULL (the union has too many actors; keep what is stored).
 */
#define RC_COUNTER_KEEP 0
#define RC_COUNTER_ADOPT 1
#define RC_COUNTER_JOIN 2
int rc_counter_reconcile(const struct rc_counter *stored, const struct rc_counter *in,
                         int in_newer, struct rc_counter *join);

/* 1 when a and b are the same state. */
int rc_counter_equal(const struct rc_counter *a, const struct rc_counter *b);

/* 1 when the value is a float (a float base or a float increment). */
int rc_counter_is_float(const struct rc_counter *c);

/* The value as an int64: 0, RC_ENOT_INTEGER (a float value that is not
 * integral, or out of range), RC_EOVERFLOW (sums out of int64). */
int rc_counter_value_int(const struct rc_counter *c, int64_t *out);

/* The value as the text a GET answers, NUL-terminated in buf (cap at
 * least RC_COUNTER_TEXT_MAX): an integer, or a float as Redis's
 * INCRBYFLOAT formats it (positional, no exponent, shortest digits that
 * read back the same double, no trailing zeros). Returns its length. */
size_t rc_counter_render(const struct rc_counter *c, char *buf, size_t cap);

/* Encodes into buf (cap >= RC_COUNTER_MAX_ENC is always enough): returns
 * the length, or RC_EINVAL when cap is too small. Format (little-endian):
 * u8 format (1), u8 flags (bit 0: float base), u16 n, i64 base_int,
 * f64 base_flt, u64 base_hlc, u64 base_node, then n times: u64 actor,
 * u64 seq, i64 isum, f64 fsum, u8 flags (bit 0: float). */
int rc_counter_encode(const struct rc_counter *c, uint8_t *buf, size_t cap);

/* Decodes a stored or received state, checking everything (bytes from a
 * disk or a peer): 0 or RC_EPROTO. */
int rc_counter_decode(const uint8_t *buf, size_t len, struct rc_counter *c);

#endif
