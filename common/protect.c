/*
 * protect.c - protected mode (see protect.h).
 */
#include "protect.h"
#include "err.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int rc_protect_is_loopback(const char *bind)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (strcasecmp(bind, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, bind, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, bind, &a6) != 1)
        return 0; /* a host name: may resolve to anything */
    if (memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0)
        return 1;
    /* ::ffff:127.x.x.x, an IPv4 loopback written as IPv6. */
    return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

int rc_protect_check(const char *bind, bool auth, bool cluster_key, bool insecure, char *msg,
                     size_t msglen)
{
    if (msglen > 0)
        msg[0] = '\0';
    if (rc_protect_is_loopback(bind) || (auth && cluster_key))
        return 0;
    if (insecure) {
        snprintf(msg, msglen,
                 "--insecure: --bind %s is reachable from other machines with %s; anyone who "
                 "can reach the ports can read and write data",
                 bind, auth ? "no cluster key" : cluster_key ? "no client password" :
                 "no client password and no cluster key");
        return 1;
    }
    if (!auth && !cluster_key) {
        snprintf(msg, msglen,
                 "protected mode: --bind %s is reachable from other machines, but clients need "
                 "no password and nodes share no key. Set --auth-file (RINGCACHE_AUTH_FILE) "
                 "and/or --cluster-key-file (RINGCACHE_CLUSTER_KEY_FILE), or bind a loopback "
                 "address such as 127.0.0.1, or start with --insecure (RINGCACHE_INSECURE=1) "
                 "to accept the risk",
                 bind);
        return RC_EINVAL;
    }
    if (!auth)
        snprintf(msg, msglen,
                 "--bind %s without --auth-file: any client that reaches the client port can "
                 "read and write (the cluster key protects only internode traffic)",
                 bind);
    else
        snprintf(msg, msglen,
                 "--bind %s without --cluster-key-file: the peer port accepts replica writes "
                 "from anyone who reaches it, bypassing client passwords",
                 bind);
    return 1;
}
