/*
 * harness_fixture.c - the fixture glue the integration tests share (see
 * harness.h): cmocka fixtures that own a struct rc_harness, the clients a
 * test keeps, files under the temp directory, clusters started and
 * converged, STATS of a server, and the helpers that fail the running
 * test. Built on harness.c, which runs processes and speaks the wire
 * protocol and knows nothing of cmocka.
 */
#include "harness.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

void *rc_h_fixture_new(size_t size, unsigned timeout_s)
{
    struct rc_harness *h;
    if (size < sizeof(*h))
        return NULL;
    h = calloc(1, size);
    if (h == NULL) {
        printf("harness: out of memory for the fixture\n");
        return NULL;
    }
    if (rc_h_init(h) != 0) {
        free(h);
        return NULL;
    }
    h->timeout_s = timeout_s;
    return h;
}

void rc_h_fixture_free(void *fixture)
{
    if (fixture == NULL)
        return;
    rc_h_close(fixture);
    free(fixture);
}

int rc_h_fixture_setup(void **state, size_t size, unsigned timeout_s)
{
    struct rc_harness *h = rc_h_fixture_new(size, timeout_s);
    *state = h;
    if (h == NULL)
        return -1;
    rc_h_test_begin(h, timeout_s);
    return 0;
}

int rc_h_fixture_teardown(void **state)
{
    rc_h_fixture_free(*state);
    *state = NULL;
    return 0;
}

int rc_h_test_setup(void **state)
{
    struct rc_harness *h = *state;
    if (h == NULL)
        return -1;
    rc_h_test_begin(h, h->timeout_s);
    return 0;
}

int rc_h_test_teardown(void **state)
{
    struct rc_harness *h = *state;
    if (h != NULL)
        rc_h_test_end(h);
    return 0;
}

void rc_h_test_filter_from_env(void)
{
    const char *filter = getenv("RC_TEST_FILTER");
    if (filter != NULL)
        cmocka_set_test_filter(filter);
}

struct rc_client *rc_h_test_client(struct rc_harness *h, const struct rc_hserver *s, int io_ms,
                                   int max)
{
    struct rc_client *c;
    if (h->nclients >= max)
        fail_msg("the test keeps %d clients already (its bound)", h->nclients);
    c = rc_h_client_kept(h, s, io_ms);
    if (c == NULL)
        fail_msg("no client connection to %s", s->addr);
    return c;
}

int rc_h_client_keep(struct rc_harness *h, struct rc_client *c)
{
    if (h->nclients >= RC_H_MAX_CLIENTS) {
        printf("harness: already %d clients kept\n", h->nclients);
        rc_client_free(c);
        return -1;
    }
    h->clients[h->nclients++] = c;
    return 0;
}

int rc_h_fixture_stop_clean(void **state, struct rc_hserver *const *s, int n, int timeout_ms)
{
    int rc = rc_h_servers_stop_clean(*state, s, n, timeout_ms);
    rc_h_fixture_teardown(state);
    return rc;
}

struct rc_client *rc_h_client_kept(struct rc_harness *h, const struct rc_hserver *s, int io_ms)
{
    struct rc_client *c;
    if (h->nclients >= RC_H_MAX_CLIENTS) {
        printf("harness: already %d clients kept\n", h->nclients);
        return NULL;
    }
    c = rc_h_client(s, io_ms);
    if (c != NULL)
        h->clients[h->nclients++] = c;
    return c;
}

void rc_h_client_drop(struct rc_harness *h, struct rc_client *c)
{
    int i;
    for (i = 0; i < h->nclients; i++) {
        if (h->clients[i] == c) {
            rc_client_free(c);
            h->clients[i] = h->clients[--h->nclients];
            return;
        }
    }
}

void rc_h_clients_drop(struct rc_harness *h)
{
    int i;
    for (i = 0; i < h->nclients; i++)
        rc_client_free(h->clients[i]);
    h->nclients = 0;
}

int rc_h_write_file(const struct rc_harness *h, const char *name, const char *text,
                    unsigned mode, char *path, size_t cap)
{
    FILE *fp;
    int rc = 0;
    if ((size_t)snprintf(path, cap, "%s/%s", h->root, name) >= cap) {
        printf("harness: path of %s too long\n", name);
        return -1;
    }
    fp = fopen(path, "w");
    if (fp == NULL) {
        printf("harness: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fputs(text, fp) == EOF)
        rc = -1;
    if (fclose(fp) != 0)
        rc = -1;
    if (rc == 0 && mode != 0 && chmod(path, (mode_t)mode) != 0)
        rc = -1;
    if (rc != 0)
        printf("harness: cannot write %s: %s\n", path, strerror(errno));
    return rc;
}

int64_t rc_h_stat_of(const struct rc_hserver *s, const char *name)
{
    int64_t v = -1;
    if (rc_h_server_stat(s, name, 2000, &v) != 0)
        fail_msg("no connection to %s for STATS %s", s->addr, name);
    return v;
}

/* ---- servers and clusters ---- */

struct rc_hserver *rc_h_server_launch(struct rc_harness *h, const char *data_dir,
                                      const char *const *extra)
{
    struct rc_hserver *s = rc_h_server_new(h, data_dir, extra);
    if (s == NULL) {
        printf("harness: no free server slot\n");
        return NULL;
    }
    return rc_h_server_start(h, s) == 0 ? s : NULL;
}

int rc_h_servers_stop_clean(struct rc_harness *h, struct rc_hserver *const *s, int n,
                            int timeout_ms)
{
    int i, status, clean = 1;
    for (i = 0; i < n; i++) {
        status = rc_h_server_stop(s[i], timeout_ms);
        printf("server %s exit status after SIGTERM: %d\n", s[i]->addr, status);
        clean &= status == 0;
    }
    h->passed = clean;
    return clean ? 0 : -1;
}

int rc_h_server_stat(const struct rc_hserver *s, const char *name, int io_ms, int64_t *v)
{
    struct rc_client *c = rc_h_client(s, io_ms);
    if (c == NULL)
        return -1;
    *v = rc_h_stat_num(c, name);
    rc_client_free(c);
    return 0;
}

int rc_h_cluster_ids(struct rc_hserver *const *nodes, int n, char (*ids)[RC_H_ID_CAP])
{
    int i;
    for (i = 0; i < n; i++)
        if (rc_h_node_id(nodes[i], ids[i], RC_H_ID_CAP) != 0)
            return -1;
    return 0;
}

int rc_h_sees_all_alive(const struct rc_hserver *s, const char (*ids)[RC_H_ID_CAP], int n)
{
    struct rc_hmember m[2 * RC_H_MAX_SERVERS];
    int k = rc_h_members(s, m, 2 * RC_H_MAX_SERVERS, 2000), i;
    if (k != n || k > 2 * RC_H_MAX_SERVERS)
        return 0;
    for (i = 0; i < k; i++)
        if (strcmp(m[i].state, "alive") != 0)
            return 0;
    for (i = 0; ids != NULL && i < n; i++)
        if (rc_h_member_find(m, k, ids[i]) == NULL)
            return 0;
    return 1;
}

double rc_h_cluster_wait_converged(struct rc_hserver *const *nodes,
                                   const char (*ids)[RC_H_ID_CAP], int n, int timeout_ms)
{
    double t0 = rc_h_now_ms();
    int i;
    for (;;) {
        for (i = 0; i < n && rc_h_sees_all_alive(nodes[i], ids, n); i++) {
        }
        if (i == n)
            return rc_h_now_ms() - t0;
        if (rc_h_now_ms() - t0 >= timeout_ms)
            return -1;
        rc_h_sleep_ms(100);
    }
}
