/*
 * mpdoc.h - bounded reading of the msgpack documents a node sends in a
 * reply's VALUE (MEMBERS, RING, ACTIVITY) into fixed-size C structs.
 *
 * These bytes come from the network, so rc_mpdoc_unpack first walks them
 * raw: exactly one object, every declared length and count within the
 * bytes present, nesting and object count capped; only then does
 * msgpack-c unpack them. Maps are read through a table of their
 * documented keys: each must appear exactly once with the right type and
 * range (an optional one at most once), unknown keys are skipped (newer
 * servers add keys). No I/O.
 */
#ifndef RC_MPDOC_H
#define RC_MPDOC_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* The deepest documents, RING and ACTIVITY, nest 3 containers (map,
 * array, map): one more is slack for fields added later. 2^18 objects
 * is ~60 per member at 4096 members, and bounds msgpack-c's zone (24
 * bytes per object) to 6 MiB whatever the bytes declare. */
#define RC_MPDOC_MAX_DEPTH 4
#define RC_MPDOC_MAX_OBJECTS (1u << 18)

enum rc_mpdoc_kind {
    RC_MPDOC_ID,     /* str of 16 lowercase hex digits */
    RC_MPDOC_HOST,   /* str of printable ASCII without space, 1 .. max - 1 bytes */
    RC_MPDOC_STATE,  /* str of [a-z_], 1 .. max - 1 bytes */
    RC_MPDOC_TEXT,   /* any str, cut to max - 1 bytes, control bytes made '?' */
    RC_MPDOC_UINT,   /* uint64_t, 0 .. max */
    RC_MPDOC_UFLOAT, /* double, a number 0 .. max (integers accepted) */
    RC_MPDOC_FLOAT,  /* double, any finite number (integers accepted) */
    RC_MPDOC_BOOL,   /* int */
    RC_MPDOC_ARRAY,  /* const msgpack_object *, into the zone */
    RC_MPDOC_MAP,    /* const msgpack_object *, into the zone */
};

/* One documented key of a map, and where in the struct its value goes. */
struct rc_mpdoc_field {
    const char *name;
    enum rc_mpdoc_kind kind;
    size_t off;
    uint64_t max; /* UINT, UFLOAT: largest value; strings: destination size */
    int optional; /* may be absent (older servers lack it): left as it was */
};

#define RC_MPDOC_FIELD(type, name, kind, field, max) \
    {name, kind, offsetof(struct type, field), max, 0}
/* A string field: max is the size of the char array. */
#define RC_MPDOC_STR(type, name, kind, field) \
    RC_MPDOC_FIELD(type, name, kind, field, sizeof(((struct type *)0)->field))
/* The same for keys a reader must do without. */
#define RC_MPDOC_OPT(type, name, kind, field, max) \
    {name, kind, offsetof(struct type, field), max, 1}
#define RC_MPDOC_OPT_STR(type, name, kind, field) \
    RC_MPDOC_OPT(type, name, kind, field, sizeof(((struct type *)0)->field))

/* Checks p (len bytes) within the limits above, then unpacks it into
 * *obj, allocated in zone (the caller's, initialised; it owns the
 * objects). 0, or RC_EPROTO with err saying why. */
int rc_mpdoc_unpack(const uint8_t *p, size_t len, msgpack_zone *zone, msgpack_object *obj,
                    char *err, size_t errlen);

/* Fills base from map o through the nf fields of f (at most 32). 0, or
 * RC_EPROTO with err naming the key that is missing, repeated, of the
 * wrong type or out of range; base may then be partly written. */
int rc_mpdoc_map(const msgpack_object *o, const struct rc_mpdoc_field *f, size_t nf, void *base,
                 char *err, size_t errlen);

/* arr (an array) of at most max maps, each read through f into one
 * element of size bytes: *out (calloc'd, caller frees) and *n. what names
 * an element in errors. 0, RC_EPROTO or RC_ENOMEM; *out NULL on error. */
int rc_mpdoc_array(const msgpack_object *arr, const struct rc_mpdoc_field *f, size_t nf, size_t size,
                   size_t max, const char *what, void **out, size_t *n, char *err, size_t errlen);

#endif
