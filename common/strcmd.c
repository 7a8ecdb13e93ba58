/*
 * strcmd.c - Redis 7.0's arithmetic for the string and expiry commands
 * (see strcmd.h), line for line where Redis's own code decides, so the
 * replies match redis-server's byte for byte.
 */
#include "strcmd.h"

#include "resp.h"

/* Redis's embstr limit (OBJ_ENCODING_EMBSTR_SIZE_LIMIT) and its shared
 * integers (OBJ_SHARED_INTEGERS), whose refcount reads as INT_MAX. */
#define EMBSTR_MAX 44
#define SHARED_INTEGERS 10000
#define SHARED_REFCOUNT 2147483647

void rc_strcmd_range(size_t len, int64_t start, int64_t end, size_t *off, size_t *n)
{
    int64_t l = (int64_t)len;

    *off = 0;
    *n = 0;
    if (start < 0 && end < 0 && start > end)
        return;
    if (start < 0)
        start = l + start;
    if (end < 0)
        end = l + end;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= l)
        end = l - 1;
    if (start > end || l == 0)
        return;
    *off = (size_t)start;
    *n = (size_t)(end - start + 1);
}

int rc_strcmd_expire_ok(int flags, int64_t cur, int64_t when)
{
    if ((flags & RC_STRCMD_NX) && cur != -1)
        return 0;
    if ((flags & RC_STRCMD_XX) && cur == -1)
        return 0;
    if ((flags & RC_STRCMD_GT) && (cur == -1 || when <= cur))
        return 0;
    if ((flags & RC_STRCMD_LT) && cur != -1 && when >= cur)
        return 0;
    return 1;
}

const char *rc_strcmd_encoding(const uint8_t *v, size_t len, int64_t *refcount)
{
    struct rc_resp_arg a = {v, len};
    int64_t i;

    *refcount = 1;
    if (len <= 20 && rc_resp_int(&a, &i) == 0) {
        if (i >= 0 && i < SHARED_INTEGERS)
            *refcount = SHARED_REFCOUNT;
        return "int";
    }
    return len <= EMBSTR_MAX ? "embstr" : "raw";
}
