/*
 * mpdoc.c - bounded reading of the msgpack documents a node sends (see mpdoc.h).
 *
 * The walker checks the raw bytes before msgpack-c sees them, so msgpack-c
 * only ever allocates for objects that are really present. Field tables
 * then turn maps into fixed-size structs; strings are copied, so nothing
 * decoded points into the zone except RC_MPDOC_ARRAY / RC_MPDOC_MAP.
 */
#include "mpdoc.h"

#include "err.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Steps over the msgpack object whose format byte is p[*pos] (*pos < len).
 * Returns 0 for a scalar, str, bin or ext (skipped whole), 1 for an array
 * or map (*items = elements that follow, two per map entry), or -1 when a
 * declared length or count exceeds the bytes left, each element taking at
 * least one byte. The same rules as common/codec.c's private walker.
 */
static int mp_head(const uint8_t *p, size_t len, size_t *pos, uint64_t *items)
{
    uint8_t b = p[(*pos)++];
    size_t w = 0, fixed = 0, i;
    uint64_t n = 0, per = 0; /* per: objects per counted item, 0 = bytes */

    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0; /* fixint, nil, false, true */
    if (b <= 0x9f) {
        n = b & 0x0f; /* fixmap, fixarray */
        per = b <= 0x8f ? 2 : 1;
    } else if (b <= 0xbf) {
        n = b & 0x1f; /* fixstr */
    } else if (b >= 0xc4 && b <= 0xc6) {
        w = (size_t)1 << (b - 0xc4); /* bin 8/16/32 */
    } else if (b >= 0xc7 && b <= 0xc9) {
        w = (size_t)1 << (b - 0xc7); /* ext 8/16/32, then a type byte */
        n = 1;
    } else if (b == 0xca || b == 0xcb) {
        fixed = b == 0xca ? 4 : 8;
    } else if (b >= 0xcc && b <= 0xcf) {
        fixed = (size_t)1 << (b - 0xcc);
    } else if (b >= 0xd0 && b <= 0xd3) {
        fixed = (size_t)1 << (b - 0xd0);
    } else if (b >= 0xd4 && b <= 0xd8) {
        fixed = 1 + ((size_t)1 << (b - 0xd4)); /* fixext: type byte + data */
    } else if (b >= 0xd9 && b <= 0xdb) {
        w = (size_t)1 << (b - 0xd9); /* str 8/16/32 */
    } else if (b >= 0xdc) {
        w = (b & 1) ? 4 : 2; /* array/map 16/32 */
        per = b >= 0xde ? 2 : 1;
    } else {
        return -1; /* 0xc1, never used */
    }
    if (w + fixed > len - *pos)
        return -1;
    *pos += fixed;
    for (i = 0; i < w; i++)
        n += (uint64_t)p[(*pos)++] << (8 * (w - 1 - i));
    if (per > 0) {
        *items = n * per;
        return *items > len - *pos ? -1 : 1;
    }
    if (n > len - *pos)
        return -1;
    *pos += n;
    return 0;
}

/* Exactly one object, nothing after it, within the VIEW_MAX_* limits. */
static int mp_check(const uint8_t *p, size_t len)
{
    uint64_t left[RC_MPDOC_MAX_DEPTH], items = 0;
    size_t pos = 0, nobj = 0;
    unsigned depth = 0;
    int rv;

    do {
        if (pos == len || ++nobj > RC_MPDOC_MAX_OBJECTS)
            return -1;
        if (depth > 0)
            left[depth - 1]--;
        rv = mp_head(p, len, &pos, &items);
        if (rv < 0)
            return -1;
        if (rv == 1) {
            if (depth == RC_MPDOC_MAX_DEPTH)
                return -1;
            left[depth++] = items;
        }
        while (depth > 0 && left[depth - 1] == 0)
            depth--;
    } while (depth > 0);
    return pos == len ? 0 : -1;
}

int rc_mpdoc_unpack(const uint8_t *p, size_t len, msgpack_zone *zone, msgpack_object *obj,
                    char *err, size_t errlen)
{
    size_t off = 0;

    if (mp_check(p, len) < 0) {
        snprintf(err, errlen, "not one well-formed msgpack document within the limits");
        return RC_EPROTO;
    }
    if (msgpack_unpack((const char *)p, len, &off, zone, obj) != MSGPACK_UNPACK_SUCCESS) {
        snprintf(err, errlen, "msgpack-c could not unpack it");
        return RC_EPROTO;
    }
    return 0;
}

static int key_is(const msgpack_object *k, const char *s)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(s) &&
           memcmp(k->via.str.ptr, s, k->via.str.size) == 0;
}

static int id_char(int ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

/* Printable ASCII without space: needs no escaping in the table. */
static int graph_char(int ch)
{
    return ch > 0x20 && ch < 0x7f;
}

static int state_char(int ch)
{
    return (ch >= 'a' && ch <= 'z') || ch == '_';
}

/* A str of min .. cap - 1 bytes, all accepted by ok, copied with a NUL. */
static int copy_str(const msgpack_object *o, char *dst, size_t cap, size_t min, int (*ok)(int))
{
    uint32_t i;

    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size < min || o->via.str.size >= cap)
        return -1;
    for (i = 0; i < o->via.str.size; i++)
        if (!ok((unsigned char)o->via.str.ptr[i]))
            return -1;
    memcpy(dst, o->via.str.ptr, o->via.str.size);
    dst[o->via.str.size] = '\0';
    return 0;
}

/* Free text (event, cause): any length, cut to cap - 1 bytes at a UTF-8
 * character boundary, control bytes replaced so it cannot drive a
 * terminal or break a line. */
static int copy_text(const msgpack_object *o, char *dst, size_t cap)
{
    size_t n, i;

    if (o->type != MSGPACK_OBJECT_STR)
        return -1;
    n = o->via.str.size < cap - 1 ? o->via.str.size : cap - 1;
    if (n < o->via.str.size)
        while (n > 0 && ((unsigned char)o->via.str.ptr[n] & 0xC0) == 0x80)
            n--;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)o->via.str.ptr[i];

        dst[i] = (char)(ch < 0x20 || ch == 0x7f ? '?' : ch);
    }
    dst[n] = '\0';
    return 0;
}

/* A float, or an integer from a packer that shortens whole numbers;
 * negative ones only when signed. */
static int get_number(const msgpack_object *o, int is_signed, double *d)
{
    if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
        *d = o->via.f64;
    else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        *d = (double)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && is_signed)
        *d = (double)o->via.i64;
    else
        return -1;
    return isfinite(*d) && (is_signed || *d >= 0) ? 0 : -1;
}

static int set_scalar(const struct rc_mpdoc_field *f, const msgpack_object *v, char *dst)
{
    double d;
    int b;

    switch (f->kind) {
    case RC_MPDOC_UINT:
        if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > f->max)
            return -1;
        memcpy(dst, &v->via.u64, sizeof(uint64_t));
        return 0;
    case RC_MPDOC_UFLOAT:
        /* Shares are sums of floats: allow rounding just above the top. */
        if (get_number(v, 0, &d) < 0 || d > (double)f->max + 1e-9)
            return -1;
        memcpy(dst, &d, sizeof(d));
        return 0;
    case RC_MPDOC_FLOAT:
        if (get_number(v, 1, &d) < 0)
            return -1;
        memcpy(dst, &d, sizeof(d));
        return 0;
    case RC_MPDOC_BOOL:
        if (v->type != MSGPACK_OBJECT_BOOLEAN)
            return -1;
        b = v->via.boolean;
        memcpy(dst, &b, sizeof(b));
        return 0;
    default:
        return -1;
    }
}

static int set_field(const struct rc_mpdoc_field *f, const msgpack_object *v, void *base)
{
    char *dst = (char *)base + f->off;

    switch (f->kind) {
    case RC_MPDOC_ID:
        return copy_str(v, dst, f->max, 16, id_char);
    case RC_MPDOC_HOST:
        return copy_str(v, dst, f->max, 1, graph_char);
    case RC_MPDOC_STATE:
        return copy_str(v, dst, f->max, 1, state_char);
    case RC_MPDOC_TEXT:
        return copy_text(v, dst, f->max);
    case RC_MPDOC_ARRAY:
    case RC_MPDOC_MAP:
        if (v->type != (f->kind == RC_MPDOC_ARRAY ? MSGPACK_OBJECT_ARRAY : MSGPACK_OBJECT_MAP))
            return -1;
        memcpy(dst, &v, sizeof(v));
        return 0;
    default:
        return set_scalar(f, v, dst);
    }
}

int rc_mpdoc_map(const msgpack_object *o, const struct rc_mpdoc_field *f, size_t nf, void *base,
                 char *err, size_t errlen)
{
    const msgpack_object_kv *kv;
    uint32_t seen = 0, i;
    size_t j;

    assert(nf <= 32); /* seen is a 32-bit mask */
    if (o->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errlen, "not a map");
        return RC_EPROTO;
    }
    for (i = 0; i < o->via.map.size; i++) {
        kv = &o->via.map.ptr[i];
        j = 0;
        while (j < nf && !key_is(&kv->key, f[j].name))
            j++;
        if (j == nf)
            continue; /* unknown key */
        if (seen & (1u << j)) {
            snprintf(err, errlen, "\"%s\" appears twice", f[j].name);
            return RC_EPROTO;
        }
        seen |= 1u << j;
        if (set_field(&f[j], &kv->val, base) < 0) {
            snprintf(err, errlen, "\"%s\" has the wrong type or is out of range", f[j].name);
            return RC_EPROTO;
        }
    }
    for (j = 0; j < nf; j++) {
        if (!(seen & (1u << j)) && !f[j].optional) {
            snprintf(err, errlen, "\"%s\" is missing", f[j].name);
            return RC_EPROTO;
        }
    }
    return 0;
}

int rc_mpdoc_array(const msgpack_object *arr, const struct rc_mpdoc_field *f, size_t nf, size_t size,
                   size_t max, const char *what, void **out, size_t *n, char *err, size_t errlen)
{
    char detail[96];
    uint32_t i, cnt;
    char *base;
    int rv;

    *out = NULL;
    *n = 0;
    if (arr->type != MSGPACK_OBJECT_ARRAY) {
        snprintf(err, errlen, "the %s list is not an array", what);
        return RC_EPROTO;
    }
    cnt = arr->via.array.size;
    if (cnt > max) {
        snprintf(err, errlen, "%u %ss, more than the %zu accepted", cnt, what, max);
        return RC_EPROTO;
    }
    base = calloc(cnt > 0 ? cnt : 1, size);
    if (base == NULL) {
        snprintf(err, errlen, "%s", rc_strerror(RC_ENOMEM));
        return RC_ENOMEM;
    }
    for (i = 0; i < cnt; i++) {
        rv = rc_mpdoc_map(&arr->via.array.ptr[i], f, nf, base + (size_t)i * size, detail,
                          sizeof(detail));
        if (rv < 0) {
            snprintf(err, errlen, "%s %u: %s", what, i, detail);
            free(base);
            return rv;
        }
    }
    *out = base;
    *n = cnt;
    return 0;
}
