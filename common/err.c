/*
 * err.c - messages and names for ringcache error codes (see err.h).
 */
#include "err.h"

#include <string.h>

const char *rc_strerror(int err)
{
    switch (err) {
#define RC_ERR_MSG(name, code, msg) \
    case RC_E##name:                \
        return msg;
        RC_ERR_MAP(RC_ERR_MSG)
#undef RC_ERR_MSG
    default:
        break;
    }
    if (err == 0)
        return "success";
    if (err == -4095) /* UV_EOF: libuv's only non-errno code we pass around */
        return "end of file";
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}

const char *rc_err_name(int err)
{
    switch (err) {
#define RC_ERR_NAME(name, code, msg) \
    case RC_E##name:                 \
        return #name;
        RC_ERR_MAP(RC_ERR_NAME)
#undef RC_ERR_NAME
    default:
        break;
    }
    if (err == 0)
        return "OK";
    if (err < 0 && err > -4096)
        return "SYSTEM";
    return "UNKNOWN";
}

static int is_rc_code(int err)
{
    switch (err) {
#define RC_ERR_CASE(name, code, msg) case RC_E##name:
        RC_ERR_MAP(RC_ERR_CASE)
#undef RC_ERR_CASE
        return 1;
    default:
        return 0;
    }
}

int rc_err_to_status(int err)
{
    if (err >= 0)
        return 0;
    if (is_rc_code(err))
        return -err - RC_ERR_BASE;
    return -RC_EIO - RC_ERR_BASE;
}

int rc_err_from_status(int status)
{
    int err;

    if (status == 0)
        return 0;
    if (status < 0 || status > 1000)
        return RC_EPROTO;
    err = -(RC_ERR_BASE + status);
    return is_rc_code(err) ? err : RC_EPROTO;
}
