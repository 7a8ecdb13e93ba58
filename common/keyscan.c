/*
 * keyscan.c - KEY_SCAN payloads and the replicas' merge (see keyscan.h).
 */
#include "keyscan.h"
#include "codec.h"
#include "err.h"
#include "ring.h"

#include <stdlib.h>
#include <string.h>

void rc_keyscan_set_init(struct rc_keyscan_set *s, size_t max_entries, size_t max_key_bytes)
{
    memset(s, 0, sizeof(*s));
    s->max = max_entries;
    rc_buf_init(&s->keys, max_key_bytes);
}

void rc_keyscan_set_close(struct rc_keyscan_set *s)
{
    free(s->e);
    rc_buf_close(&s->keys);
    memset(s, 0, sizeof(*s));
}

void rc_keyscan_set_reset(struct rc_keyscan_set *s)
{
    s->n = 0;
    rc_buf_reset(&s->keys);
}

int rc_keyscan_set_add(struct rc_keyscan_set *s, const uint8_t *key, size_t len, uint64_t token,
                       uint64_t hlc, uint64_t node, int tomb)
{
    struct rc_keyscan_ent *e;
    size_t off = rc_buf_used(&s->keys);
    int rv;

    if (s->n >= s->max || len > UINT32_MAX || off > UINT32_MAX)
        return RC_EBUFFER_FULL;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;

        if (cap > s->max)
            cap = s->max;
        e = realloc(s->e, cap * sizeof(*e));
        if (e == NULL)
            return RC_ENOMEM;
        s->e = e;
        s->cap = cap;
    }
    rv = rc_buf_append(&s->keys, key, len);
    if (rv < 0)
        return rv;
    e = &s->e[s->n++];
    e->token = token;
    e->hlc = hlc;
    e->node = node;
    e->off = (uint32_t)off;
    e->len = (uint32_t)len;
    e->tomb = tomb != 0;
    return 0;
}

static int buf_write(void *data, const char *p, size_t n)
{
    return rc_buf_append(data, p, n) < 0 ? -1 : 0;
}

/* msgpack-c's packer reports nothing per call: the encoders check that the
 * buffer grew by as much as was packed by comparing a failure flag. */
struct enc {
    struct rc_buf *b;
    int failed;
};

static int enc_write(void *data, const char *p, size_t n)
{
    struct enc *e = data;

    if (e->failed || buf_write(e->b, p, n) < 0) {
        e->failed = 1;
        return -1;
    }
    return 0;
}

int rc_keyscan_encode_req(struct rc_buf *out, const struct rc_keyscan_req *q)
{
    struct enc e = {out, 0};
    msgpack_packer pk;
    uint32_t i;

    msgpack_packer_init(&pk, &e, enc_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint32(&pk, (uint32_t)q->mode);
    msgpack_pack_uint32(&pk, q->count);
    msgpack_pack_array(&pk, 2 * q->nranges);
    for (i = 0; i < q->nranges; i++) {
        msgpack_pack_uint64(&pk, q->first[i]);
        msgpack_pack_uint64(&pk, q->last[i]);
    }
    return e.failed ? RC_EBUFFER_FULL : 0;
}

int rc_keyscan_encode_keys(struct rc_buf *out, int truncated, uint64_t last,
                           const struct rc_keyscan_set *s)
{
    struct enc en = {out, 0};
    msgpack_packer pk;
    size_t i;

    msgpack_packer_init(&pk, &en, enc_write);
    msgpack_pack_array(&pk, 3);
    if (truncated)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    msgpack_pack_uint64(&pk, last);
    msgpack_pack_array(&pk, (uint32_t)s->n);
    for (i = 0; i < s->n; i++) {
        const struct rc_keyscan_ent *e = &s->e[i];

        msgpack_pack_array(&pk, 4);
        msgpack_pack_bin_with_body(&pk, rc_keyscan_key(s, e), e->len);
        msgpack_pack_uint64(&pk, e->hlc);
        msgpack_pack_uint64(&pk, e->node);
        if (e->tomb)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);
    }
    return en.failed ? RC_EBUFFER_FULL : 0;
}

int rc_keyscan_encode_counts(struct rc_buf *out, const uint64_t *counts, uint32_t n)
{
    struct enc e = {out, 0};
    msgpack_packer pk;
    uint32_t i;

    msgpack_packer_init(&pk, &e, enc_write);
    msgpack_pack_array(&pk, n);
    for (i = 0; i < n; i++)
        msgpack_pack_uint64(&pk, counts[i]);
    return e.failed ? RC_EBUFFER_FULL : 0;
}

static int unpack(msgpack_zone *zone, const uint8_t *buf, size_t len, unsigned depth,
                  unsigned objects, msgpack_object *obj)
{
    size_t off = 0;

    if (rc_msgpack_check(buf, len, depth, objects) < 0)
        return RC_EPROTO;
    msgpack_zone_clear(zone);
    if (msgpack_unpack((const char *)buf, len, &off, zone, obj) != MSGPACK_UNPACK_SUCCESS ||
        obj->type != MSGPACK_OBJECT_ARRAY)
        return RC_EPROTO;
    return 0;
}

static int is_uint(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
}

int rc_keyscan_decode_req(msgpack_zone *zone, const uint8_t *buf, size_t len,
                          struct rc_keyscan_req *q)
{
    msgpack_object obj;
    const msgpack_object *f, *r;
    uint32_t i, n;

    q->nranges = 0;
    if (unpack(zone, buf, len, 2, 4 + 2 * RC_KEYSCAN_MAX_RANGES, &obj) < 0 ||
        obj.via.array.size != 3)
        return RC_EPROTO;
    f = obj.via.array.ptr;
    if (!is_uint(&f[0]) || f[0].via.u64 > RC_KEYSCAN_COUNT || !is_uint(&f[1]) ||
        f[1].via.u64 == 0 || f[1].via.u64 > RC_KEYSCAN_MAX_COUNT ||
        f[2].type != MSGPACK_OBJECT_ARRAY || f[2].via.array.size % 2 != 0 ||
        f[2].via.array.size / 2 > RC_KEYSCAN_MAX_RANGES)
        return RC_EPROTO;
    q->mode = (int)f[0].via.u64;
    q->count = (uint32_t)f[1].via.u64;
    n = f[2].via.array.size / 2;
    r = f[2].via.array.ptr;
    for (i = 0; i < n; i++) {
        if (!is_uint(&r[2 * i]) || !is_uint(&r[2 * i + 1]))
            return RC_EPROTO;
        q->first[i] = r[2 * i].via.u64;
        q->last[i] = r[2 * i + 1].via.u64;
        if (q->first[i] > q->last[i] || (i > 0 && q->first[i] <= q->last[i - 1]))
            return RC_EPROTO;
    }
    q->nranges = n;
    return 0;
}

/* 1 when token lies in one of q's ranges (ascending: binary search). */
static int in_ranges(const struct rc_keyscan_req *q, uint64_t token)
{
    uint32_t lo = 0, hi = q->nranges;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (q->last[mid] < token)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < q->nranges && q->first[lo] <= token;
}

int rc_keyscan_decode_keys(msgpack_zone *zone, const uint8_t *buf, size_t len, uint32_t max_key,
                           const struct rc_keyscan_req *q, struct rc_keyscan_set *s,
                           int *truncated, uint64_t *last)
{
    msgpack_object obj;
    const msgpack_object *f, *e;
    uint32_t i, n;
    int rv;

    *truncated = 0;
    *last = 0;
    if (unpack(zone, buf, len, 3, 4 + 5 * RC_KEYSCAN_MAX_ENTRIES, &obj) < 0 ||
        obj.via.array.size != 3)
        return RC_EPROTO;
    f = obj.via.array.ptr;
    if (f[0].type != MSGPACK_OBJECT_BOOLEAN || !is_uint(&f[1]) ||
        f[2].type != MSGPACK_OBJECT_ARRAY || f[2].via.array.size > RC_KEYSCAN_MAX_ENTRIES)
        return RC_EPROTO;
    n = f[2].via.array.size;
    for (i = 0; i < n; i++) {
        const msgpack_object *x;
        uint64_t token;

        e = &f[2].via.array.ptr[i];
        if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 4)
            return RC_EPROTO;
        x = e->via.array.ptr;
        if (x[0].type != MSGPACK_OBJECT_BIN || x[0].via.bin.size == 0 ||
            x[0].via.bin.size > max_key || !is_uint(&x[1]) || !is_uint(&x[2]) ||
            x[3].type != MSGPACK_OBJECT_BOOLEAN)
            return RC_EPROTO;
        /* The token is computed here, never taken from the wire. */
        token = rc_ring_token(x[0].via.bin.ptr, x[0].via.bin.size);
        if (!in_ranges(q, token))
            return RC_EPROTO;
        rv = rc_keyscan_set_add(s, (const uint8_t *)x[0].via.bin.ptr, x[0].via.bin.size, token,
                                x[1].via.u64, x[2].via.u64, x[3].via.boolean);
        if (rv < 0)
            return rv;
    }
    *truncated = f[0].via.boolean;
    *last = f[1].via.u64;
    return 0;
}

int rc_keyscan_decode_counts(msgpack_zone *zone, const uint8_t *buf, size_t len, uint32_t n,
                             uint64_t *counts)
{
    msgpack_object obj;
    uint32_t i;

    if (n > RC_KEYSCAN_MAX_RANGES || unpack(zone, buf, len, 1, 1 + n, &obj) < 0 ||
        obj.via.array.size != n)
        return RC_EPROTO;
    for (i = 0; i < n; i++) {
        if (!is_uint(&obj.via.array.ptr[i]))
            return RC_EPROTO;
        counts[i] = obj.via.array.ptr[i].via.u64;
    }
    return 0;
}

static int key_cmp(const struct rc_keyscan_set *s, const struct rc_keyscan_ent *a,
                   const struct rc_keyscan_ent *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(rc_keyscan_key(s, a), rc_keyscan_key(s, b), n);

    if (c != 0)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

static int ent_cmp(const struct rc_keyscan_set *s, const struct rc_keyscan_ent *a,
                   const struct rc_keyscan_ent *b)
{
    int c;

    if (a->token != b->token)
        return a->token < b->token ? -1 : 1;
    c = key_cmp(s, a, b);
    if (c != 0)
        return c;
    /* Newest version first. */
    if (a->hlc != b->hlc)
        return a->hlc > b->hlc ? -1 : 1;
    if (a->node != b->node)
        return a->node > b->node ? -1 : 1;
    return b->tomb - a->tomb; /* a tombstone wins a tie, as in the store */
}

/* qsort's comparator gets no context (the key bytes live in the set), so
 * a bottom-up merge sort over a scratch array (n: a few thousand). */
static int sort_entries(struct rc_keyscan_set *s)
{
    struct rc_keyscan_ent *tmp, *src = s->e, *dst;
    size_t width, i;

    if (s->n < 2)
        return 0;
    tmp = malloc(s->n * sizeof(*tmp));
    if (tmp == NULL)
        return RC_ENOMEM;
    dst = tmp;
    for (width = 1; width < s->n; width *= 2) {
        for (i = 0; i < s->n; i += 2 * width) {
            size_t a = i, am = i + width < s->n ? i + width : s->n;
            size_t b = am, bm = i + 2 * width < s->n ? i + 2 * width : s->n, k = i;

            while (a < am && b < bm)
                dst[k++] = ent_cmp(s, &src[a], &src[b]) <= 0 ? src[a++] : src[b++];
            while (a < am)
                dst[k++] = src[a++];
            while (b < bm)
                dst[k++] = src[b++];
        }
        struct rc_keyscan_ent *t = src;
        src = dst;
        dst = t;
    }
    if (src != s->e)
        memcpy(s->e, src, s->n * sizeof(*src));
    free(tmp);
    return 0;
}

int rc_keyscan_merge(struct rc_keyscan_set *s, uint64_t upto, uint64_t floor, size_t *nkept)
{
    size_t i, kept = 0;

    *nkept = 0;
    if (sort_entries(s) < 0)
        return RC_ENOMEM;
    for (i = 0; i < s->n; i++) {
        const struct rc_keyscan_ent *e = &s->e[i];

        if (i > 0 && e->token == s->e[i - 1].token && key_cmp(s, e, &s->e[i - 1]) == 0)
            continue; /* an older copy of the key just seen */
        if (e->tomb || e->token > upto || e->hlc < floor)
            continue;
        s->e[kept++] = *e;
    }
    *nkept = kept;
    return 0;
}
