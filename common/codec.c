/*
 * codec.c - frames and msgpack messages (see codec.h, docs/protocol.md).
 *
 * Decoding is two passes. A bounded walker first checks the raw bytes:
 * every declared length and count must fit in what is actually present,
 * nesting and the total object count are capped. Only then does msgpack-c
 * build objects, so its allocations are bounded by the frame and fit in the
 * decoder's reused zone (msgpack-c issue 1013: 5 bytes may declare an array
 * of 4 billion items). Encoding packs straight into the caller's rc_buf.
 */
#include "codec.h"
#include "err.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/*
 * Most msgpack objects one body may hold. The largest legal message, a
 * stats reply, has 272 (4 for the envelope, 12 for its other fields, 256
 * for a full stats map); the rest is slack for fields added later. It
 * bounds decode work and memory independently of the frame size.
 */
#define RC_MAX_OBJECTS 512

/* msgpack-c spends one msgpack_object (24 bytes on LP64) per array element
 * and per map key or value, so RC_MAX_OBJECTS of them always fit in the
 * zone's first chunk, which msgpack_zone_clear keeps: no malloc per frame. */
#define RC_ZONE_CHUNK (RC_MAX_OBJECTS * sizeof(msgpack_object) + 1024)

/* Walker classes for the msgpack format bytes 0xc0-0xdf. */
enum walk_kind { W_BAD, W_FIXED, W_BYTES, W_EXT, W_ARRAY, W_MAP };

/* For W_FIXED size is the payload size; for the others it is the size of
 * the big-endian length or count that follows the format byte. */
static const struct {
    uint8_t kind;
    uint8_t size;
} walk_fmt[32] = {
    {W_FIXED, 0},  /* c0 nil */
    {W_BAD, 0},    /* c1 never used */
    {W_FIXED, 0},  /* c2 false */
    {W_FIXED, 0},  /* c3 true */
    {W_BYTES, 1},  /* c4 bin 8 */
    {W_BYTES, 2},  /* c5 bin 16 */
    {W_BYTES, 4},  /* c6 bin 32 */
    {W_EXT, 1},    /* c7 ext 8 */
    {W_EXT, 2},    /* c8 ext 16 */
    {W_EXT, 4},    /* c9 ext 32 */
    {W_FIXED, 4},  /* ca float 32 */
    {W_FIXED, 8},  /* cb float 64 */
    {W_FIXED, 1},  /* cc uint 8 */
    {W_FIXED, 2},  /* cd uint 16 */
    {W_FIXED, 4},  /* ce uint 32 */
    {W_FIXED, 8},  /* cf uint 64 */
    {W_FIXED, 1},  /* d0 int 8 */
    {W_FIXED, 2},  /* d1 int 16 */
    {W_FIXED, 4},  /* d2 int 32 */
    {W_FIXED, 8},  /* d3 int 64 */
    {W_FIXED, 2},  /* d4 fixext 1 (type byte + data) */
    {W_FIXED, 3},  /* d5 fixext 2 */
    {W_FIXED, 5},  /* d6 fixext 4 */
    {W_FIXED, 9},  /* d7 fixext 8 */
    {W_FIXED, 17}, /* d8 fixext 16 */
    {W_BYTES, 1},  /* d9 str 8 */
    {W_BYTES, 2},  /* da str 16 */
    {W_BYTES, 4},  /* db str 32 */
    {W_ARRAY, 2},  /* dc array 16 */
    {W_ARRAY, 4},  /* dd array 32 */
    {W_MAP, 2},    /* de map 16 */
    {W_MAP, 4},    /* df map 32 */
};

int rc_decoder_init(struct rc_decoder *d)
{
    memset(d->stats, 0, sizeof(d->stats));
    d->why[0] = '\0';
    if (!msgpack_zone_init(&d->zone, RC_ZONE_CHUNK))
        return RC_ENOMEM;
    return 0;
}

void rc_decoder_close(struct rc_decoder *d)
{
    msgpack_zone_destroy(&d->zone);
}

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int rc_frame_check(const uint8_t *buf, size_t len, uint32_t max_body, size_t *frame_len)
{
    uint32_t body;

    *frame_len = 0;
    /* Judge the bytes already here, so a stray HTTP request or TLS hello
     * is refused at once instead of after 8 bytes. Version is checked
     * before flags: a later version may define flags. */
    if ((len > 0 && buf[0] != RC_MAGIC0) || (len > 1 && buf[1] != RC_MAGIC1))
        return RC_EPROTO;
    if (len > 2 && buf[2] != RC_PROTO_VERSION)
        return RC_EVERSION;
    if (len > 3 && buf[3] != 0)
        return RC_EPROTO;
    if (len < RC_FRAME_HDR)
        return 0;
    body = load_be32(buf + 4);
    if (body > max_body)
        return RC_EFRAME_TOO_LARGE;
    if (len - RC_FRAME_HDR < body) /* also keeps the sum below from overflowing */
        return 0;
    *frame_len = RC_FRAME_HDR + (size_t)body;
    return 1;
}

const char *rc_frame_error_msg(const uint8_t *buf, size_t len, int err)
{
    if (err != RC_EPROTO)
        return rc_strerror(err);
    if ((len > 0 && buf[0] != RC_MAGIC0) || (len > 1 && buf[1] != RC_MAGIC1))
        return RC_MSG_BAD_FRAME ": bad magic bytes, not a ringcache frame";
    return RC_MSG_BAD_FRAME ": reserved flags byte not zero";
}

/*
 * Steps over the object whose format byte is at p[*pos] (*pos < len).
 * Returns 0 for a scalar, str, bin or ext (*pos moved past it), 1 for an
 * array or map (*pos moved past its header, *items = elements to follow,
 * two per map pair), or RC_EPROTO (*why says why) when it cannot fit in
 * the bytes left.
 */
static int walk_head(const uint8_t *p, size_t len, size_t *pos, uint64_t *items, const char **why)
{
    uint8_t b = p[(*pos)++];
    size_t left = len - *pos;
    uint64_t n = 0;
    unsigned kind, i;

    if (b <= 0x7f || b >= 0xe0) /* positive and negative fixint */
        return 0;
    if (b <= 0x8f) {
        kind = W_MAP;
        n = b & 0x0f;
    } else if (b <= 0x9f) {
        kind = W_ARRAY;
        n = b & 0x0f;
    } else if (b <= 0xbf) {
        kind = W_BYTES;
        n = b & 0x1f;
    } else {
        kind = walk_fmt[b - 0xc0].kind;
        if (kind == W_BAD) {
            *why = "invalid format byte 0xc1";
            return RC_EPROTO;
        }
        if (walk_fmt[b - 0xc0].size > left) {
            *why = "truncated: an object runs past the end of the body";
            return RC_EPROTO;
        }
        if (kind == W_FIXED) {
            *pos += walk_fmt[b - 0xc0].size;
            return 0;
        }
        for (i = 0; i < walk_fmt[b - 0xc0].size; i++)
            n = n << 8 | p[(*pos)++];
        left = len - *pos;
        if (kind == W_EXT)
            n += 1; /* the type byte */
    }
    /* Each element takes at least one byte, so a count larger than the
     * bytes left is a lie, caught before anything is allocated for it. */
    if (kind == W_MAP)
        n *= 2;
    if (n > left) {
        *why = "truncated: a length or count exceeds the bytes present";
        return RC_EPROTO;
    }
    if (kind == W_BYTES || kind == W_EXT) {
        *pos += n;
        return 0;
    }
    *items = n;
    return 1;
}

/*
 * Steps over exactly one object (a container with everything in it)
 * starting at p[*pos]: nesting at most max_depth (<= RC_MSGPACK_MAX_DEPTH),
 * at most *budget objects, which is decremented. 0, or RC_EPROTO with *why.
 */
static int walk_object(const uint8_t *p, size_t len, size_t *pos, unsigned max_depth,
                       unsigned *budget, const char **why)
{
    uint64_t left[RC_MSGPACK_MAX_DEPTH]; /* elements still due in each open container */
    unsigned depth = 0;
    uint64_t items = 0;
    int rv;

    do {
        if (*pos == len) {
            *why = "truncated: the body ends before its last object";
            return RC_EPROTO;
        }
        if (*budget == 0) {
            *why = "too many objects";
            return RC_EPROTO;
        }
        --*budget;
        if (depth > 0)
            left[depth - 1]--;
        rv = walk_head(p, len, pos, &items, why);
        if (rv < 0)
            return rv;
        if (rv == 1) {
            if (depth == max_depth) {
                *why = "nested too deep";
                return RC_EPROTO;
            }
            left[depth++] = items;
        }
        while (depth > 0 && left[depth - 1] == 0)
            depth--;
    } while (depth > 0);
    return 0;
}

/* rc_msgpack_check with the reason for a refusal in *why. */
static int check_why(const uint8_t *p, size_t len, unsigned max_depth, unsigned max_objects,
                     const char **why)
{
    size_t pos = 0;
    int rv;

    if (max_depth > RC_MSGPACK_MAX_DEPTH)
        max_depth = RC_MSGPACK_MAX_DEPTH;
    if (len == 0) {
        *why = "empty body";
        return RC_EPROTO;
    }
    if (!((p[0] & 0xf0) == 0x90 || p[0] == 0xdc || p[0] == 0xdd)) {
        *why = "not a MessagePack array";
        return RC_EPROTO;
    }
    rv = walk_object(p, len, &pos, max_depth, &max_objects, why);
    if (rv == 0 && pos != len) {
        *why = "bytes after the array";
        rv = RC_EPROTO;
    }
    return rv;
}

/* Validates a body before msgpack-c sees it: exactly one array, nothing
 * after it, nesting <= max_depth, at most max_objects objects. */
int rc_msgpack_check(const uint8_t *p, size_t len, unsigned max_depth, unsigned max_objects)
{
    const char *why;

    return check_why(p, len, max_depth, max_objects, &why);
}

/*
 * Reads a MessagePack integer at p[*pos] straight from the bytes: any
 * format, as long as the value is non-negative and at most max (what
 * get_uint accepts of msgpack-c's objects). 0 with *v set and *pos moved
 * past it, or RC_EPROTO.
 */
static int raw_uint(const uint8_t *p, size_t len, size_t *pos, uint64_t max, uint64_t *v)
{
    uint8_t b;
    size_t n, i;
    uint64_t x = 0;
    int is_signed = 0;

    if (*pos >= len)
        return RC_EPROTO;
    b = p[*pos];
    if (b <= 0x7f) {
        n = 0;
        x = b;
    } else if (b >= 0xcc && b <= 0xd3) {
        is_signed = b >= 0xd0;
        n = (size_t)1 << ((b - 0xcc) & 3); /* 1, 2, 4 or 8 bytes follow */
    } else {
        return RC_EPROTO; /* a negative fixint, or not an integer */
    }
    if (len - *pos - 1 < n)
        return RC_EPROTO;
    for (i = 0; i < n; i++)
        x = x << 8 | p[*pos + 1 + i];
    if ((is_signed && (x >> (8 * n - 1)) != 0) || x > max)
        return RC_EPROTO;
    *pos += 1 + n;
    *v = x;
    return 0;
}

/*
 * Reads a body's id straight from its bytes, whatever the full check
 * says later: the body starts with an array header declaring at least 2
 * elements (the count is not checked against the bytes, so a truncated
 * body qualifies), then one well-formed object (the op or status, of any
 * type: the full decoder too reads the id whatever the op), then a
 * non-negative integer below 2^32. So a body refused for anything after
 * its id - an extra element, a truncated or invalid field, a lying count,
 * the limits - is still answered to the right request. 0 with *id set, or
 * RC_EPROTO.
 */
static int read_prefix(const uint8_t *p, size_t len, uint32_t *id)
{
    unsigned budget = RC_MAX_OBJECTS;
    const char *why;
    size_t pos;
    uint64_t n, v;

    if (len >= 1 && (p[0] & 0xf0) == 0x90) {
        n = p[0] & 0x0f;
        pos = 1;
    } else if (len >= 3 && p[0] == 0xdc) {
        n = (uint64_t)p[1] << 8 | p[2];
        pos = 3;
    } else if (len >= 5 && p[0] == 0xdd) {
        n = load_be32(p + 1);
        pos = 5;
    } else {
        return RC_EPROTO;
    }
    if (n < 2 || walk_object(p, len, &pos, RC_MAX_DEPTH - 1, &budget, &why) < 0 ||
        raw_uint(p, len, &pos, UINT32_MAX, &v) < 0)
        return RC_EPROTO;
    *id = (uint32_t)v;
    return 0;
}

static int get_uint(const msgpack_object *o, uint64_t max, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return RC_EPROTO;
    *v = o->via.u64;
    return 0;
}

/* msgpack-c leaves the pointer of an empty str or bin stale or NULL (it
 * reuses the last one it had), and a present-but-empty MESSAGE must still
 * be non-NULL, so every empty string points here instead. */
static const char empty_str[1] = "";

static const char *str_ptr(const char *p, uint32_t size)
{
    return size > 0 ? p : empty_str;
}

/* Keys and values are bin, but str is accepted for easy scripting. */
static int get_bytes(const msgpack_object *o, const uint8_t **p, uint32_t *len)
{
    if (o->type == MSGPACK_OBJECT_BIN) {
        *p = (const uint8_t *)str_ptr(o->via.bin.ptr, o->via.bin.size);
        *len = o->via.bin.size;
    } else if (o->type == MSGPACK_OBJECT_STR) {
        *p = (const uint8_t *)str_ptr(o->via.str.ptr, o->via.str.size);
        *len = o->via.str.size;
    } else {
        return RC_EPROTO;
    }
    return 0;
}

/* Records why a body was refused (d->why) and returns RC_EPROTO. */
static int refuse(struct rc_decoder *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int refuse(struct rc_decoder *d, const char *fmt, ...)
{
    static const char prefix[] = RC_MSG_BAD_BODY ": ";
    va_list ap;

    memcpy(d->why, prefix, sizeof(prefix));
    va_start(ap, fmt);
    vsnprintf(d->why + sizeof(prefix) - 1, sizeof(d->why) - (sizeof(prefix) - 1), fmt, ap);
    va_end(ap);
    return RC_EPROTO;
}

/*
 * Checks the body and unpacks the [kind, id, fields] envelope common to
 * requests and replies (kind_name names kind in messages). *id is read
 * from the raw bytes first (read_prefix), so even a body the checks below
 * refuse is answered to the right request.
 */
static int decode_envelope(struct rc_decoder *d, const uint8_t *body, size_t len, uint32_t *kind,
                           uint32_t *id, const msgpack_object_map **fields, const char *kind_name)
{
    msgpack_object obj;
    const msgpack_object *e;
    const char *why = "";
    size_t off = 0;
    uint64_t v;
    int rv;

    d->why[0] = '\0';
    (void)read_prefix(body, len, id);
    rv = check_why(body, len, RC_MAX_DEPTH, RC_MAX_OBJECTS, &why);
    if (rv < 0)
        return refuse(d, "%s", why);
    msgpack_zone_clear(&d->zone);
    rv = msgpack_unpack((const char *)body, len, &off, &d->zone, &obj);
    if (rv == MSGPACK_UNPACK_NOMEM_ERROR)
        return RC_ENOMEM;
    if (rv != MSGPACK_UNPACK_SUCCESS)
        return refuse(d, "not one MessagePack object");
    if (obj.type != MSGPACK_OBJECT_ARRAY || obj.via.array.size != 3)
        return refuse(d, "not an array of 3 elements");
    e = obj.via.array.ptr;
    if (get_uint(&e[1], UINT32_MAX, &v) < 0)
        return refuse(d, "the id is not an unsigned integer below 2^32");
    *id = (uint32_t)v;
    if (get_uint(&e[0], UINT32_MAX, &v) < 0)
        return refuse(d, "the %s is not an unsigned integer below 2^32", kind_name);
    *kind = (uint32_t)v;
    if (e[2].type != MSGPACK_OBJECT_MAP)
        return refuse(d, "the fields are not a map");
    if (e[2].via.map.size > RC_MAX_FIELDS)
        return refuse(d, "more than %d fields", RC_MAX_FIELDS);
    *fields = &e[2].via.map;
    return 0;
}

/* Records why field i of fields was refused (rv from request_field or
 * reply_field) and returns rv. */
static int field_error(struct rc_decoder *d, const msgpack_object_map *fields, uint32_t i, int rv)
{
    const msgpack_object *k = &fields->ptr[i].key;
    uint32_t j;

    if (rv != RC_EPROTO)
        return rv;
    if (k->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return refuse(d, "a field number is not a non-negative integer");
    for (j = 0; j < i; j++)
        if (fields->ptr[j].key.type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
            fields->ptr[j].key.via.u64 == k->via.u64)
            return refuse(d, "field %" PRIu64 " appears twice", k->via.u64);
    return refuse(d, "field %" PRIu64 " has the wrong type or value", k->via.u64);
}

/*
 * Field number of a map key, or 0 for a field to skip (not in known, which
 * has bit n set for field n). RC_EPROTO if the key is not a non-negative
 * int or repeats a known field: a message with two KEYs is ambiguous.
 */
static int field_num(const msgpack_object *k, uint32_t known, uint32_t *seen)
{
    uint32_t bit;

    if (k->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return RC_EPROTO;
    if (k->via.u64 >= 32)
        return 0;
    bit = 1u << k->via.u64;
    if (!(known & bit))
        return 0;
    if (*seen & bit)
        return RC_EPROTO;
    *seen |= bit;
    return (int)k->via.u64;
}

#define FIELD_BIT(f) (1u << (f))

/* [uint64, uint64]: versions, ranges, digests. */
static int get_pair(const msgpack_object *v, uint64_t *a, uint64_t *b)
{
    if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size != 2)
        return RC_EPROTO;
    if (get_uint(&v->via.array.ptr[0], UINT64_MAX, a) < 0)
        return RC_EPROTO;
    return get_uint(&v->via.array.ptr[1], UINT64_MAX, b);
}

static int get_version(const msgpack_object *v, uint64_t *hlc, uint64_t *node)
{
    return get_pair(v, hlc, node);
}

static int get_bool(const msgpack_object *v, int *out)
{
    if (v->type != MSGPACK_OBJECT_BOOLEAN)
        return RC_EPROTO;
    *out = v->via.boolean;
    return 0;
}

/* Any msgpack integer that fits int64. */
static int get_int(const msgpack_object *o, int64_t *v)
{
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > INT64_MAX)
        return RC_EPROTO;
    *v = (int64_t)o->via.u64;
    return 0;
}

/* A float (32 or 64 bits) or an integer, finite. */
static int get_float(const msgpack_object *o, double *v)
{
    if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
        *v = o->via.f64;
    else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        *v = (double)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *v = (double)o->via.i64;
    else
        return RC_EPROTO;
    return isfinite(*v) ? 0 : RC_EPROTO;
}

static int request_field(const msgpack_object_kv *kv, uint32_t *seen, struct rc_request *out)
{
    const uint32_t known = FIELD_BIT(RC_F_KEY) | FIELD_BIT(RC_F_VALUE) |
                           FIELD_BIT(RC_F_TTL_MS) | FIELD_BIT(RC_F_CONSISTENCY) |
                           FIELD_BIT(RC_F_VERSION) | FIELD_BIT(RC_F_EXPIRES) |
                           FIELD_BIT(RC_F_TOMBSTONE) | FIELD_BIT(RC_F_RANGE) |
                           FIELD_BIT(RC_F_PIECES) | FIELD_BIT(RC_F_BEFORE) |
                           FIELD_BIT(RC_F_FLAGS) | FIELD_BIT(RC_F_KIND) |
                           FIELD_BIT(RC_F_DELTA) | FIELD_BIT(RC_F_DELTA_FLOAT);
    uint64_t v = 0;
    int f, rv, b = 0;

    f = field_num(&kv->key, known, seen);
    switch (f) {
    case RC_F_KEY:
        out->has_key = 1;
        return get_bytes(&kv->val, &out->key, &out->key_len);
    case RC_F_VALUE:
        out->has_value = 1;
        return get_bytes(&kv->val, &out->value, &out->value_len);
    case RC_F_TTL_MS:
        return get_uint(&kv->val, UINT64_MAX, &out->ttl_ms);
    case RC_F_CONSISTENCY:
        rv = get_uint(&kv->val, UINT32_MAX, &v);
        out->consistency = (uint32_t)v;
        return rv;
    case RC_F_VERSION:
        out->has_version = 1;
        return get_version(&kv->val, &out->ver_hlc, &out->ver_node);
    case RC_F_EXPIRES:
        return get_uint(&kv->val, INT64_MAX, &out->expires_ms);
    case RC_F_TOMBSTONE:
        rv = get_bool(&kv->val, &b);
        out->tombstone = (unsigned)b;
        return rv;
    case RC_F_PIECES:
        rv = get_uint(&kv->val, RC_MAX_PIECES, &v);
        out->pieces = (uint32_t)v;
        return rv;
    case RC_F_BEFORE:
        return get_uint(&kv->val, UINT64_MAX, &out->before_hlc);
    case RC_F_RANGE:
        out->has_range = 1;
        rv = get_pair(&kv->val, &out->range_first, &out->range_last);
        return rv == 0 && out->range_first > out->range_last ? RC_EPROTO : rv;
    case RC_F_FLAGS:
        rv = get_uint(&kv->val, UINT32_MAX, &v);
        out->flags = (uint32_t)v;
        return rv;
    case RC_F_KIND:
        rv = get_uint(&kv->val, UINT8_MAX, &v);
        out->kind = (uint32_t)v;
        return rv;
    case RC_F_DELTA:
        out->has_delta = 1;
        return get_int(&kv->val, &out->delta);
    case RC_F_DELTA_FLOAT:
        out->has_delta_float = 1;
        return get_float(&kv->val, &out->delta_float);
    default:
        return f < 0 ? f : 0;
    }
}

int rc_decode_request(struct rc_decoder *d, const uint8_t *body, size_t len, struct rc_request *out)
{
    const msgpack_object_map *fields = NULL;
    uint32_t seen = 0, i;
    int rv;

    memset(out, 0, sizeof(*out));
    rv = decode_envelope(d, body, len, &out->op, &out->id, &fields, "op");
    for (i = 0; rv == 0 && i < fields->size; i++) {
        rv = request_field(&fields->ptr[i], &seen, out);
        if (rv < 0)
            rv = field_error(d, fields, i, rv);
    }
    if (rv < 0) {
        /* Keep only the id: half-decoded fields must not be acted on. */
        uint32_t id = out->id;

        memset(out, 0, sizeof(*out));
        out->id = id;
    }
    return rv;
}

/* Stats: map str -> int (fitting int64) | str, into d->stats. */
static int get_stats(struct rc_decoder *d, const msgpack_object *o, struct rc_reply *out)
{
    const msgpack_object_kv *kv;
    struct rc_stat *s;
    uint32_t i;

    if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size > RC_MAX_STATS)
        return RC_EPROTO;
    for (i = 0; i < o->via.map.size; i++) {
        kv = &o->via.map.ptr[i];
        s = &d->stats[i];
        memset(s, 0, sizeof(*s));
        if (kv->key.type != MSGPACK_OBJECT_STR)
            return RC_EPROTO;
        s->name = str_ptr(kv->key.via.str.ptr, kv->key.via.str.size);
        s->name_len = kv->key.via.str.size;
        if (kv->val.type == MSGPACK_OBJECT_STR) {
            s->is_str = 1;
            s->str = str_ptr(kv->val.via.str.ptr, kv->val.via.str.size);
            s->str_len = kv->val.via.str.size;
        } else if (kv->val.type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
            s->num = kv->val.via.i64;
        } else if (kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                   kv->val.via.u64 <= INT64_MAX) {
            s->num = (int64_t)kv->val.via.u64;
        } else {
            return RC_EPROTO;
        }
    }
    out->stats = d->stats;
    out->nstats = o->via.map.size;
    return 0;
}

static int reply_field(struct rc_decoder *d, const msgpack_object_kv *kv, uint32_t *seen,
                       struct rc_reply *out)
{
    const uint32_t known = FIELD_BIT(RC_F_VALUE) | FIELD_BIT(RC_F_TTL_MS) |
                           FIELD_BIT(RC_F_MESSAGE) | FIELD_BIT(RC_F_STATS) |
                           FIELD_BIT(RC_F_VERSION) | FIELD_BIT(RC_F_EXPIRES) |
                           FIELD_BIT(RC_F_TOMBSTONE) | FIELD_BIT(RC_F_EXISTED) |
                           FIELD_BIT(RC_F_DIGEST) | FIELD_BIT(RC_F_EVICTED) |
                           FIELD_BIT(RC_F_FLAGS) | FIELD_BIT(RC_F_KIND);
    const msgpack_object *v = &kv->val;
    uint64_t u = 0;
    int f, b = 0, rv;

    f = field_num(&kv->key, known, seen);
    switch (f) {
    case RC_F_VALUE:
        out->has_value = 1;
        return get_bytes(v, &out->value, &out->value_len);
    case RC_F_TTL_MS:
        return get_uint(v, UINT64_MAX, &out->ttl_ms);
    case RC_F_MESSAGE:
        if (v->type != MSGPACK_OBJECT_STR)
            return RC_EPROTO;
        out->message = str_ptr(v->via.str.ptr, v->via.str.size);
        out->message_len = v->via.str.size;
        return 0;
    case RC_F_STATS:
        return get_stats(d, v, out);
    case RC_F_VERSION:
        out->has_version = 1;
        return get_version(v, &out->ver_hlc, &out->ver_node);
    case RC_F_EXPIRES:
        return get_uint(v, INT64_MAX, &out->expires_ms);
    case RC_F_TOMBSTONE:
        rv = get_bool(v, &b);
        out->tombstone = (unsigned)b;
        return rv;
    case RC_F_EXISTED:
        rv = get_bool(v, &b);
        out->existed = (unsigned)b;
        return rv;
    case RC_F_DIGEST:
        out->has_digest = 1;
        return get_pair(v, &out->digest, &out->digest_count);
    case RC_F_EVICTED:
        rv = get_bool(v, &b);
        out->evicted = (unsigned)b;
        return rv;
    case RC_F_FLAGS:
        rv = get_uint(v, UINT32_MAX, &u);
        out->flags = (uint32_t)u;
        return rv;
    case RC_F_KIND:
        rv = get_uint(v, UINT8_MAX, &u);
        out->kind = (uint32_t)u;
        return rv;
    default:
        return f < 0 ? f : 0;
    }
}

int rc_decode_reply(struct rc_decoder *d, const uint8_t *body, size_t len, struct rc_reply *out)
{
    const msgpack_object_map *fields = NULL;
    uint32_t seen = 0, i;
    int rv;

    memset(out, 0, sizeof(*out));
    rv = decode_envelope(d, body, len, &out->status, &out->id, &fields, "status");
    for (i = 0; rv == 0 && i < fields->size; i++) {
        rv = reply_field(d, &fields->ptr[i], &seen, out);
        if (rv < 0)
            rv = field_error(d, fields, i, rv);
    }
    if (rv < 0) {
        uint32_t id = out->id;

        memset(out, 0, sizeof(*out));
        out->id = id;
    }
    return rv;
}

/* Packer sink: appends to the frame's buffer and remembers the first
 * failure; mark is where the frame starts, relative to the unread data,
 * because the buffer may compact (move its data) while growing. */
struct enc {
    struct rc_buf *b;
    size_t mark;
    int err;
};

static int enc_write(void *data, const char *p, size_t n)
{
    struct enc *e = data;
    int rv;

    if (e->err < 0)
        return -1;
    rv = rc_buf_append(e->b, p, n);
    if (rv < 0) {
        e->err = rv;
        return -1;
    }
    return 0;
}

/* Starts a frame: a header with a zero length, patched by frame_end. */
static void frame_begin(struct enc *e, struct rc_buf *b, msgpack_packer *pk, uint32_t kind,
                        uint32_t id, uint32_t nfields)
{
    static const uint8_t hdr[RC_FRAME_HDR] = {RC_MAGIC0, RC_MAGIC1, RC_PROTO_VERSION, 0};

    e->b = b;
    e->mark = rc_buf_used(b);
    e->err = 0;
    msgpack_packer_init(pk, e, enc_write);
    enc_write(e, (const char *)hdr, sizeof(hdr));
    msgpack_pack_array(pk, 3);
    msgpack_pack_uint32(pk, kind);
    msgpack_pack_uint32(pk, id);
    msgpack_pack_map(pk, nfields);
}

/* Patches the body length, or drops the partial frame on failure. */
static int frame_end(struct enc *e)
{
    struct rc_buf *b = e->b;
    size_t body;
    uint8_t *h;

    if (e->err == 0 && (uint64_t)(rc_buf_used(b) - e->mark - RC_FRAME_HDR) > UINT32_MAX)
        e->err = RC_EBUFFER_FULL; /* cannot be described by the header */
    if (e->err < 0) {
        b->len = b->start + e->mark;
        return e->err;
    }
    body = rc_buf_used(b) - e->mark - RC_FRAME_HDR;
    h = b->data + b->start + e->mark + 4;
    h[0] = (uint8_t)(body >> 24);
    h[1] = (uint8_t)(body >> 16);
    h[2] = (uint8_t)(body >> 8);
    h[3] = (uint8_t)body;
    return 0;
}

static void pack_bytes_field(msgpack_packer *pk, unsigned f, const uint8_t *p, uint32_t len)
{
    msgpack_pack_uint8(pk, (uint8_t)f);
    msgpack_pack_bin_with_body(pk, p, len);
}

static void pack_uint_field(msgpack_packer *pk, unsigned f, uint64_t v)
{
    msgpack_pack_uint8(pk, (uint8_t)f);
    msgpack_pack_uint64(pk, v);
}

static void pack_pair(msgpack_packer *pk, unsigned f, uint64_t a, uint64_t b)
{
    msgpack_pack_uint8(pk, (uint8_t)f);
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint64(pk, a);
    msgpack_pack_uint64(pk, b);
}

static void pack_version(msgpack_packer *pk, uint64_t hlc, uint64_t node)
{
    pack_pair(pk, RC_F_VERSION, hlc, node);
}

static void pack_true_field(msgpack_packer *pk, unsigned f)
{
    msgpack_pack_uint8(pk, (uint8_t)f);
    msgpack_pack_true(pk);
}

int rc_encode_request(struct rc_buf *out, const struct rc_request *req)
{
    msgpack_packer pk;
    struct enc e;
    uint32_t n;

    n = req->has_key + req->has_value + (req->ttl_ms != 0) + (req->consistency != 0) +
        req->has_version + (req->expires_ms != 0) + req->tombstone + req->has_range +
        (req->pieces != 0) + (req->before_hlc != 0) + (req->flags != 0) + (req->kind != 0) +
        req->has_delta + req->has_delta_float;
    frame_begin(&e, out, &pk, req->op, req->id, n);
    if (req->has_key)
        pack_bytes_field(&pk, RC_F_KEY, req->key, req->key_len);
    if (req->has_value)
        pack_bytes_field(&pk, RC_F_VALUE, req->value, req->value_len);
    if (req->ttl_ms != 0)
        pack_uint_field(&pk, RC_F_TTL_MS, req->ttl_ms);
    if (req->consistency != 0)
        pack_uint_field(&pk, RC_F_CONSISTENCY, req->consistency);
    if (req->has_version)
        pack_version(&pk, req->ver_hlc, req->ver_node);
    if (req->expires_ms != 0)
        pack_uint_field(&pk, RC_F_EXPIRES, req->expires_ms);
    if (req->tombstone)
        pack_true_field(&pk, RC_F_TOMBSTONE);
    if (req->has_range)
        pack_pair(&pk, RC_F_RANGE, req->range_first, req->range_last);
    if (req->pieces != 0)
        pack_uint_field(&pk, RC_F_PIECES, req->pieces);
    if (req->before_hlc != 0)
        pack_uint_field(&pk, RC_F_BEFORE, req->before_hlc);
    if (req->flags != 0)
        pack_uint_field(&pk, RC_F_FLAGS, req->flags);
    if (req->kind != 0)
        pack_uint_field(&pk, RC_F_KIND, req->kind);
    if (req->has_delta) {
        msgpack_pack_uint8(&pk, RC_F_DELTA);
        msgpack_pack_int64(&pk, req->delta);
    }
    if (req->has_delta_float) {
        msgpack_pack_uint8(&pk, RC_F_DELTA_FLOAT);
        msgpack_pack_double(&pk, req->delta_float);
    }
    return frame_end(&e);
}

static void pack_stats(msgpack_packer *pk, const struct rc_stat *st, uint32_t n)
{
    uint32_t i;

    msgpack_pack_uint8(pk, RC_F_STATS);
    msgpack_pack_map(pk, n);
    for (i = 0; i < n; i++) {
        msgpack_pack_str_with_body(pk, st[i].name, st[i].name_len);
        if (st[i].is_str)
            msgpack_pack_str_with_body(pk, st[i].str, st[i].str_len);
        else
            msgpack_pack_int64(pk, st[i].num);
    }
}

/* message is sent with message_len bytes (it need not be NUL-terminated). */
int rc_encode_reply(struct rc_buf *out, const struct rc_reply *rep)
{
    msgpack_packer pk;
    struct enc e;
    uint32_t n;

    /* The caller builds the stats array; more than a decoder accepts is a bug. */
    assert(rep->nstats <= RC_MAX_STATS);
    n = rep->has_value + (rep->ttl_ms != 0) + (rep->message != NULL) + (rep->nstats != 0) +
        rep->has_version + (rep->expires_ms != 0) + rep->tombstone + rep->existed +
        rep->has_digest + rep->evicted + (rep->flags != 0) + (rep->kind != 0);
    frame_begin(&e, out, &pk, rep->status, rep->id, n);
    if (rep->has_value)
        pack_bytes_field(&pk, RC_F_VALUE, rep->value, rep->value_len);
    if (rep->ttl_ms != 0)
        pack_uint_field(&pk, RC_F_TTL_MS, rep->ttl_ms);
    if (rep->message != NULL) {
        msgpack_pack_uint8(&pk, RC_F_MESSAGE);
        msgpack_pack_str_with_body(&pk, rep->message, rep->message_len);
    }
    if (rep->nstats != 0)
        pack_stats(&pk, rep->stats, rep->nstats);
    if (rep->has_version)
        pack_version(&pk, rep->ver_hlc, rep->ver_node);
    if (rep->expires_ms != 0)
        pack_uint_field(&pk, RC_F_EXPIRES, rep->expires_ms);
    if (rep->tombstone)
        pack_true_field(&pk, RC_F_TOMBSTONE);
    if (rep->existed)
        pack_true_field(&pk, RC_F_EXISTED);
    if (rep->has_digest)
        pack_pair(&pk, RC_F_DIGEST, rep->digest, rep->digest_count);
    if (rep->evicted)
        pack_true_field(&pk, RC_F_EVICTED);
    if (rep->flags != 0)
        pack_uint_field(&pk, RC_F_FLAGS, rep->flags);
    if (rep->kind != 0)
        pack_uint_field(&pk, RC_F_KIND, rep->kind);
    return frame_end(&e);
}

void rc_request_repl_write(struct rc_request *r, const uint8_t *key, size_t key_len,
                           const uint8_t *value, size_t value_len, int tombstone, uint64_t hlc,
                           uint64_t node, int64_t expires_ms)
{
    memset(r, 0, sizeof(*r));
    r->op = RC_OP_REPL_WRITE;
    r->key = key;
    r->key_len = (uint32_t)key_len;
    r->has_key = 1;
    if (tombstone) {
        r->tombstone = 1;
    } else {
        r->value = value;
        r->value_len = (uint32_t)value_len;
        r->has_value = 1;
    }
    r->has_version = 1;
    r->ver_hlc = hlc;
    r->ver_node = node;
    r->expires_ms = expires_ms > 0 ? (uint64_t)expires_ms : 0;
}

void rc_reply_error(struct rc_reply *rep, uint32_t id, int err, const char *msg)
{
    memset(rep, 0, sizeof(*rep));
    rep->id = id;
    rep->status = (uint32_t)rc_err_to_status(err);
    if (msg == NULL)
        msg = err == RC_EPROTO ? RC_MSG_BAD_BODY ": a field's content is invalid" : rc_strerror(err);
    rep->message = msg;
    rep->message_len = (uint32_t)strlen(rep->message);
}

int rc_encode_error(struct rc_buf *out, uint32_t id, int err, const char *msg)
{
    struct rc_reply rep;

    rc_reply_error(&rep, id, err, msg);
    return rc_encode_reply(out, &rep);
}
