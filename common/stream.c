/*
 * stream.c - streaming payload decoders (see stream.h). Factored out of
 * server/rebalance.c unchanged in behaviour, so they can be fuzzed.
 */
#include "stream.h"
#include "codec.h"
#include "err.h"
#include "ring.h"

int rc_stream_batch(msgpack_zone *zone, const uint8_t *buf, size_t len,
                    const msgpack_object **entries, uint32_t *n)
{
    msgpack_object obj;
    size_t off = 0;

    *entries = NULL;
    *n = 0;
    /* Depth 2: the batch and its entries; 7 objects per entry at most. */
    if (rc_msgpack_check(buf, len, 2, 1 + 7 * RC_STREAM_MAX_ENTRIES) < 0)
        return RC_EPROTO;
    msgpack_zone_clear(zone);
    if (msgpack_unpack((const char *)buf, len, &off, zone, &obj) != MSGPACK_UNPACK_SUCCESS ||
        obj.type != MSGPACK_OBJECT_ARRAY)
        return RC_EPROTO;
    *entries = obj.via.array.ptr;
    *n = obj.via.array.size;
    return 0;
}

int rc_stream_entry(const msgpack_object *o, uint32_t max_key, uint32_t max_value,
                    uint64_t first, uint64_t last, struct rc_stream_entry *e)
{
    const msgpack_object *f;
    uint64_t token;
    int tomb;

    if (o->type != MSGPACK_OBJECT_ARRAY ||
        (o->via.array.size != 5 && o->via.array.size != 6))
        return RC_EPROTO;
    f = o->via.array.ptr;
    tomb = f[1].type == MSGPACK_OBJECT_NIL;
    if (f[0].type != MSGPACK_OBJECT_BIN || (!tomb && f[1].type != MSGPACK_OBJECT_BIN) ||
        f[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        f[3].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        f[4].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[4].via.u64 > INT64_MAX ||
        (o->via.array.size == 6 && f[5].type != MSGPACK_OBJECT_POSITIVE_INTEGER))
        return RC_EPROTO;
    if (f[0].via.bin.size == 0 || f[0].via.bin.size > max_key ||
        (!tomb && f[1].via.bin.size > max_value))
        return RC_EPROTO;
    /* An entry outside the announced range is a bug or an attack. */
    token = rc_ring_token(f[0].via.bin.ptr, f[0].via.bin.size);
    if (token < first || token > last)
        return RC_EPROTO;
    e->key = (const uint8_t *)f[0].via.bin.ptr;
    e->key_len = f[0].via.bin.size;
    e->value = tomb ? NULL : (const uint8_t *)(f[1].via.bin.size ? f[1].via.bin.ptr : "");
    e->value_len = tomb ? 0 : f[1].via.bin.size;
    e->hlc = f[2].via.u64;
    e->node = f[3].via.u64;
    e->expires_ms = (int64_t)f[4].via.u64;
    e->attr = o->via.array.size == 6 && !tomb ? f[5].via.u64 : 0;
    return 0;
}

int rc_stream_pieces(msgpack_zone *zone, const uint8_t *buf, size_t len, unsigned npieces,
                     uint64_t *digest, uint64_t *count, uint8_t *valid)
{
    msgpack_object obj;
    const msgpack_object *e;
    size_t off = 0;
    unsigned i;

    for (i = 0; i < npieces; i++)
        valid[i] = 0;
    if (npieces == 0 || npieces > RC_STREAM_MAX_PIECES ||
        rc_msgpack_check(buf, len, 2, 1 + 3 * npieces) < 0)
        return RC_EPROTO;
    msgpack_zone_clear(zone);
    if (msgpack_unpack((const char *)buf, len, &off, zone, &obj) != MSGPACK_UNPACK_SUCCESS ||
        obj.type != MSGPACK_OBJECT_ARRAY || obj.via.array.size != npieces)
        return RC_EPROTO;
    for (i = 0; i < npieces; i++) {
        e = &obj.via.array.ptr[i];
        if (e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size == 2 &&
            e->via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
            e->via.array.ptr[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            digest[i] = e->via.array.ptr[0].via.u64;
            count[i] = e->via.array.ptr[1].via.u64;
            valid[i] = 1;
        }
    }
    return 0;
}
