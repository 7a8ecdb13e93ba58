/*
 * buf.c - capped growable byte buffer (see buf.h).
 */
#include "buf.h"
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rc_buf_init(struct rc_buf *b, size_t cap)
{
    b->data = NULL;
    b->start = 0;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void rc_buf_close(struct rc_buf *b)
{
    free(b->data);
    rc_buf_init(b, b->cap);
}

int rc_buf_reserve(struct rc_buf *b, size_t n)
{
    size_t used = b->len - b->start;
    size_t want, size;
    uint8_t *p;

    if (b->alloc - b->len >= n)
        return 0;
    if (n > b->cap || used > b->cap - n)
        return RC_EBUFFER_FULL;
    want = used + n;
    if (b->start > 0 && want <= b->alloc) {
        /* Enough room once the consumed prefix is dropped. */
        memmove(b->data, b->data + b->start, used);
        b->start = 0;
        b->len = used;
        return 0;
    }
    size = b->alloc ? b->alloc : 256;
    while (size < want)
        size = size > b->cap / 2 ? b->cap : size * 2;
    if (size > b->cap)
        size = b->cap;
    if (b->start > 0) {
        memmove(b->data, b->data + b->start, used);
        b->start = 0;
        b->len = used;
    }
    p = realloc(b->data, size);
    if (p == NULL)
        return RC_ENOMEM;
    b->data = p;
    b->alloc = size;
    return 0;
}

int rc_buf_append(struct rc_buf *b, const void *p, size_t n)
{
    int rv;

    if (n == 0)
        return 0;
    rv = rc_buf_reserve(b, n);
    if (rv < 0)
        return rv;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int rc_buf_appendf(struct rc_buf *b, const char *fmt, ...)
{
    char line[RC_BUF_APPENDF_MAX + 1];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return RC_EINTERNAL;
    return rc_buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

size_t rc_buf_read_space(struct rc_buf *b, size_t chunk)
{
    size_t room = b->cap - rc_buf_used(b);

    if (chunk > room)
        chunk = room;
    if (chunk == 0 || rc_buf_reserve(b, chunk) < 0)
        return 0;
    return rc_buf_avail(b);
}

void rc_buf_commit(struct rc_buf *b, size_t n)
{
    b->len += n;
}

void rc_buf_consume(struct rc_buf *b, size_t n)
{
    b->start += n;
    if (b->start == b->len)
        b->start = b->len = 0;
}

void rc_buf_reset(struct rc_buf *b)
{
    b->start = b->len = 0;
}

void rc_buf_shrink(struct rc_buf *b, size_t keep)
{
    if (b->start != b->len || b->alloc <= keep)
        return;
    free(b->data);
    b->data = NULL;
    b->alloc = 0;
    b->start = b->len = 0;
}
