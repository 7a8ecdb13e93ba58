/*
 * buf.h - a growable byte buffer with a hard cap.
 *
 * Every buffer that grows from network or disk input has a cap chosen at
 * init; growing past it fails with RC_EBUFFER_FULL instead of allocating
 * (curl's dynbuf does the same). Data is consumed from the front by moving
 * a read offset, and compacted lazily, so parsing many pipelined frames
 * from one read costs no memmove per frame.
 */
#ifndef RC_BUF_H
#define RC_BUF_H

#include <stddef.h>
#include <stdint.h>

struct rc_buf {
    uint8_t *data; /* owned; NULL until first growth */
    size_t start;  /* offset of the first unread byte */
    size_t len;    /* offset one past the last written byte */
    size_t alloc;  /* bytes allocated */
    size_t cap;    /* hard cap on alloc */
};

/* Empty buffer that may grow to cap bytes. Allocates nothing. */
void rc_buf_init(struct rc_buf *b, size_t cap);

/* Frees the memory; the buffer is empty afterwards and can be reused. */
void rc_buf_close(struct rc_buf *b);

/* Unread bytes. */
static inline const uint8_t *rc_buf_rptr(const struct rc_buf *b) { return b->data + b->start; }
static inline size_t rc_buf_used(const struct rc_buf *b) { return b->len - b->start; }

/* Makes room for n more bytes after the unread ones (compacting first).
 * Returns 0, RC_EBUFFER_FULL past the cap, or RC_ENOMEM. */
int rc_buf_reserve(struct rc_buf *b, size_t n);

/* Pointer to the free space after the data and its size (after reserve). */
static inline uint8_t *rc_buf_wptr(struct rc_buf *b) { return b->data + b->len; }
static inline size_t rc_buf_avail(const struct rc_buf *b) { return b->alloc - b->len; }

/* Space for the next read: reserves up to chunk bytes (less near the cap)
 * and returns the free space, or 0 when the buffer is full or memory ran
 * out (the caller's read then fails and the connection is dropped). */
size_t rc_buf_read_space(struct rc_buf *b, size_t chunk);

/* Appends n bytes. Returns 0, RC_EBUFFER_FULL or RC_ENOMEM (buffer unchanged). */
int rc_buf_append(struct rc_buf *b, const void *p, size_t n);

/* Appends printf-formatted text, cut at RC_BUF_APPENDF_MAX bytes (a line
 * of a text reply: INFO, stats). Returns as rc_buf_append, or
 * RC_EINTERNAL for a format error. */
#define RC_BUF_APPENDF_MAX 511
int rc_buf_appendf(struct rc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Marks n bytes written into the free space (n <= rc_buf_avail). */
void rc_buf_commit(struct rc_buf *b, size_t n);

/* Drops n unread bytes from the front (n <= rc_buf_used). */
void rc_buf_consume(struct rc_buf *b, size_t n);

/* Drops everything; keeps the allocation. */
void rc_buf_reset(struct rc_buf *b);

/* When the buffer is empty and holds more than keep bytes, frees it all
 * (the next use allocates afresh), so one large frame does not pin a large
 * allocation on an idle connection. */
void rc_buf_shrink(struct rc_buf *b, size_t keep);

#endif
