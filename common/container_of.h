/*
 * container_of.h - the struct that embeds a member, from the member's
 * address: libuv hands callbacks the handle, and every handle is embedded
 * in the struct that owns it (STYLE.md), so this is how a callback finds
 * its owner. One definition for every module.
 */
#ifndef RC_CONTAINER_OF_H
#define RC_CONTAINER_OF_H

#include <stddef.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#endif
