/*
 * hitratio.c - ringcache-hitratio: replays a generated cache trace
 * against a RESP server as an application cache would (GET, and SET on a
 * miss), or computes offline what the best cache could do with it.
 *
 * The replay runs in batches on one blocking connection: a batch is up to
 * --batch consecutive requests with no key twice; its GETs are pipelined,
 * then the SETs of its misses. A key's SET therefore always precedes its
 * next GET, exactly as in a sequential replay; only the order among
 * distinct keys inside one batch differs (all GETs before the SETs), which
 * moves recency by at most one batch. One connection keeps the server's
 * view of the sequence the trace's own; the batch buys throughput.
 * Only loopback addresses are accepted: this is a benchmark tool.
 */
#include "err.h"
#include "evict.h"
#include "hitratio_trace.h"
#include "resp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROG "ringcache-hitratio"
#define MAX_BATCH 256
/* 16 requests per round trip: enough to hide most of the loopback round
 * trip, small against any budget so recency order is barely perturbed. */
#define DEFAULT_BATCH 16
#define MAX_PREFIX 32
#define KEY_DIGITS 10
/* Room for one command or reply around the largest value. */
#define SLOT_BYTES (RC_HR_MAX_SIZE + 128)

struct opts {
    struct rc_hr_trace_cfg cfg;
    const char *server;   /* NULL: offline figures only */
    const char *prefix;
    double budget_pct;
    uint32_t batch;
    const char *trace_name;
    int simulate; /* offline: also run the trace through common/evict.c */
};

struct replay {
    int fd;
    char *out;            /* commands of one phase of a batch */
    size_t out_len;
    char *in;             /* replies, compacted after each phase */
    size_t in_len, in_cap;
    uint64_t hits, misses, sets, set_errors, wrong;
};

static void print_trace(const struct opts *o)
{
    printf("trace=%s alpha=%g sizes=%s seed=%llu ", o->trace_name, o->cfg.alpha,
           o->cfg.mixed ? "mixed" : "fixed", (unsigned long long)o->cfg.seed);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [options]\n"
            "  --trace zipf|scan|shift  popularity shape (default zipf)\n"
            "  --alpha A                Zipf exponent (default 0.99)\n"
            "  --sizes fixed|mixed      100 B values, or log-uniform 100 B-10 KiB per key\n"
            "  --keys N                 hot key space (default 100000)\n"
            "  --requests N             Zipf requests (default 10 x keys; a scan adds keys/5)\n"
            "  --seed S                 generator seed (default 1)\n"
            "  --budget-pct P           offline: cache budget in %% of the data (default 10)\n"
            "  --prefix P               key name prefix (default hr:)\n"
            "  -s HOST:PORT             replay against this RESP server (loopback only);\n"
            "                           without it, print the offline figures\n"
            "  --batch N                requests per pipelined batch (default %d, max %d)\n"
            "  --simulate               offline: also the hit ratio of each eviction policy of\n"
            "                           common/evict.c (sim_<policy>=), each entry charged\n"
            "                           key + value + %u B (sim_overhead)\n"
            "Prints one line of name=value pairs.\n",
            DEFAULT_BATCH, MAX_BATCH, RC_HR_ENTRY_OVERHEAD);
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;

    errno = 0;
    *v = strtoull(s, &end, 0);
    return errno || end == s || *end || *s == '-' ? RC_EINVAL : 0;
}

static int parse_u32(const char *s, uint32_t *v)
{
    uint64_t x;

    if (parse_u64(s, &x) < 0 || x > UINT32_MAX)
        return RC_EINVAL;
    *v = (uint32_t)x;
    return 0;
}

static int parse_double(const char *s, double *v)
{
    char *end;

    errno = 0;
    *v = strtod(s, &end);
    return errno || end == s || *end ? RC_EINVAL : 0;
}

static int parse_kind(const char *s, enum rc_hr_kind *kind)
{
    if (!strcmp(s, "zipf"))
        *kind = RC_HR_ZIPF;
    else if (!strcmp(s, "scan"))
        *kind = RC_HR_SCAN;
    else if (!strcmp(s, "shift"))
        *kind = RC_HR_SHIFT;
    else
        return RC_EINVAL;
    return 0;
}

/* One option; nonzero when its argument is bad. */
static int parse_opt(int c, const char *arg, struct opts *o)
{
    switch (c) {
    case 't':
        o->trace_name = arg;
        return parse_kind(arg, &o->cfg.kind) < 0;
    case 'a':
        return parse_double(arg, &o->cfg.alpha) < 0;
    case 'z':
        o->cfg.mixed = !strcmp(arg, "mixed");
        return !o->cfg.mixed && strcmp(arg, "fixed");
    case 'k':
        return parse_u32(arg, &o->cfg.keys) < 0;
    case 'n':
        return parse_u32(arg, &o->cfg.requests) < 0;
    case 'e':
        return parse_u64(arg, &o->cfg.seed) < 0;
    case 'b':
        return parse_double(arg, &o->budget_pct) < 0;
    case 'p':
        o->prefix = arg;
        return 0;
    case 'B':
        return parse_u32(arg, &o->batch) < 0;
    case 's':
        o->server = arg;
        return 0;
    case 'S':
        o->simulate = 1;
        return 0;
    default:
        return 1;
    }
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longs[] = {
        {"trace", 1, NULL, 't'},      {"alpha", 1, NULL, 'a'},  {"sizes", 1, NULL, 'z'},
        {"keys", 1, NULL, 'k'},       {"requests", 1, NULL, 'n'}, {"seed", 1, NULL, 'e'},
        {"budget-pct", 1, NULL, 'b'}, {"prefix", 1, NULL, 'p'}, {"batch", 1, NULL, 'B'},
        {"simulate", 0, NULL, 'S'},   {"help", 0, NULL, 'h'},   {NULL, 0, NULL, 0}};
    int c, bad = 0;

    while ((c = getopt_long(argc, argv, "s:h", longs, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            exit(0);
        }
        bad |= parse_opt(c, optarg, o);
    }
    if (o->cfg.requests == 0 && o->cfg.keys <= RC_HR_MAX_REQUESTS / 10)
        o->cfg.requests = 10 * o->cfg.keys;
    if (strlen(o->prefix) > MAX_PREFIX || o->batch == 0 || o->batch > MAX_BATCH ||
        !(o->budget_pct > 0 && o->budget_pct <= 100) || optind != argc)
        bad = 1;
    o->cfg.key_bytes = (uint32_t)strlen(o->prefix) + KEY_DIGITS;
    return bad ? RC_EINVAL : 0;
}

/* ---- connection: loopback only ---------------------------------------- */

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}

/* Connects to host:port if every address it names is loopback. */
static int connect_loopback(const char *server)
{
    char host[256];
    const char *colon = strrchr(server, ':');
    struct addrinfo hints = {0}, *res = NULL, *ai;
    int fd = -1, one = 1;
    size_t hl;

    if (colon == NULL || (hl = (size_t)(colon - server)) == 0 || hl >= sizeof(host))
        return RC_EINVAL;
    memcpy(host, server, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return RC_ECONNECT;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        if (!is_loopback(ai->ai_addr)) {
            fprintf(stderr, PROG ": %s is not a loopback address; refused\n", server);
            freeaddrinfo(res);
            return RC_EINVAL;
        }
    }
    for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return RC_ECONNECT;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return RC_ECLOSED;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * Reads the next reply into r->in and measures it: *kind, *nil and, for a
 * bulk, *blen. The reply is consumed. 0 or a negative RC_E* code.
 */
static int next_reply(struct replay *r, char *kind, int *nil, long *blen)
{
    size_t used;
    int rv;

    for (;;) {
        rv = rc_resp_reply_check((uint8_t *)r->in, r->in_len, SLOT_BYTES, kind, nil, &used);
        if (rv < 0)
            return rv;
        if (rv == 1)
            break;
        if (r->in_len == r->in_cap)
            return RC_EPROTO;
        ssize_t n = read(r->fd, r->in + r->in_len, r->in_cap - r->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return RC_ECLOSED;
        r->in_len += (size_t)n;
    }
    *blen = (*kind == '$' && !*nil) ? strtol(r->in + 1, NULL, 10) : -1;
    memmove(r->in, r->in + used, r->in_len - used);
    r->in_len -= used;
    return 0;
}

/* Appends a RESP command GET/SET key [value of size bytes] to r->out. */
static void add_cmd(struct replay *r, const struct opts *o, uint32_t id, uint32_t size)
{
    char key[MAX_PREFIX + KEY_DIGITS + 1];
    int kl = snprintf(key, sizeof(key), "%s%0*u", o->prefix, KEY_DIGITS, id);

    if (size == 0) {
        r->out_len += (size_t)sprintf(r->out + r->out_len, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", kl, key);
        return;
    }
    r->out_len += (size_t)sprintf(r->out + r->out_len, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%u\r\n", kl,
                                  key, size);
    memset(r->out + r->out_len, 'v', size);
    r->out_len += size;
    memcpy(r->out + r->out_len, "\r\n", 2);
    r->out_len += 2;
}

/* One batch: GETs of ids[0..n), then SETs of the misses. */
static int run_batch(struct replay *r, const struct opts *o, const uint32_t *ids, uint32_t n)
{
    uint32_t miss[MAX_BATCH], nm = 0, i;
    char kind;
    int nil, rv;
    long blen;

    r->out_len = 0;
    for (i = 0; i < n; i++)
        add_cmd(r, o, ids[i], 0);
    if ((rv = write_all(r->fd, r->out, r->out_len)) < 0)
        return rv;
    for (i = 0; i < n; i++) {
        if ((rv = next_reply(r, &kind, &nil, &blen)) < 0)
            return rv;
        if (blen >= 0) {
            r->hits++;
            r->wrong += blen != (long)rc_hr_value_size(o->cfg.seed, ids[i], o->cfg.mixed);
        } else {
            r->misses++;
            miss[nm++] = ids[i];
        }
    }
    if (nm == 0)
        return 0;
    r->out_len = 0;
    for (i = 0; i < nm; i++)
        add_cmd(r, o, miss[i], rc_hr_value_size(o->cfg.seed, miss[i], o->cfg.mixed));
    if ((rv = write_all(r->fd, r->out, r->out_len)) < 0)
        return rv;
    for (i = 0; i < nm; i++) {
        if ((rv = next_reply(r, &kind, &nil, &blen)) < 0)
            return rv;
        r->sets++;
        r->set_errors += kind != '+'; /* e.g. Redis's OOM when a value cannot fit */
    }
    return 0;
}

/* The value of "name:" in an INFO text, 0 when absent. */
static unsigned long long info_field(const char *text, size_t len, const char *name)
{
    size_t nl = strlen(name);
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));

        if ((size_t)(end - p) > nl + 1 && !strncmp(p, name, nl) && p[nl] == ':')
            return strtoull(p + nl + 1, NULL, 10);
        p = eol ? eol + 1 : end;
    }
    return 0;
}

/*
 * After the replay, on the same connection (so its buffers still count):
 * INFO memory's used_memory and mem_clients_normal, which tell how much
 * of a Redis maxmemory went to the client rather than to data. Servers
 * without those fields print 0s.
 */
static void print_server_memory(struct replay *r)
{
    static const char cmd[] = "*2\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n";
    unsigned long long used = 0, clients = 0;
    size_t n;
    char kind;
    int nil, rv = write_all(r->fd, cmd, sizeof(cmd) - 1);

    while (rv == 0 && (rv = rc_resp_reply_check((uint8_t *)r->in, r->in_len, r->in_cap, &kind,
                                                &nil, &n)) == 0) {
        ssize_t got = r->in_len < r->in_cap ? read(r->fd, r->in + r->in_len, r->in_cap - r->in_len) : 0;

        if (got <= 0)
            rv = RC_ECLOSED;
        else
            r->in_len += (size_t)got;
    }
    if (rv == 1 && kind == '$' && !nil) {
        used = info_field(r->in, n, "used_memory");
        clients = info_field(r->in, n, "mem_clients_normal");
    }
    printf(" server_used_memory=%llu server_clients_memory=%llu", used, clients);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Replays t; cuts a batch at --batch requests or at a key already in it
 * (stamp[id] = batch number + 1 marks membership without clearing). */
static int replay(const struct opts *o, const struct rc_hr_trace *t)
{
    struct replay r = {.fd = -1};
    uint32_t *stamp = calloc(t->ids, sizeof(*stamp)), ids[MAX_BATCH], n = 0, batch = 1, i;
    double t0, secs;
    int rv = RC_ENOMEM;

    r.in_cap = (size_t)o->batch * SLOT_BYTES;
    r.out = malloc((size_t)o->batch * SLOT_BYTES);
    r.in = malloc(r.in_cap);
    if (stamp == NULL || r.out == NULL || r.in == NULL)
        goto out;
    if ((r.fd = connect_loopback(o->server)) < 0) {
        rv = r.fd;
        goto out;
    }
    t0 = now_s();
    for (i = 0; i <= t->len; i++) {
        if (n > 0 && (i == t->len || n == o->batch || stamp[t->key[i]] == batch)) {
            if ((rv = run_batch(&r, o, ids, n)) < 0)
                goto out;
            n = 0;
            batch++;
        }
        if (i < t->len) {
            stamp[t->key[i]] = batch;
            ids[n++] = t->key[i];
        }
    }
    secs = now_s() - t0;
    print_trace(o);
    printf("server=%s requests=%u hits=%llu misses=%llu hit_ratio=%.4f sets=%llu set_errors=%llu "
           "wrong_size=%llu seconds=%.3f ops_per_sec=%.0f",
           o->server, t->len, (unsigned long long)r.hits, (unsigned long long)r.misses,
           (double)r.hits / t->len, (unsigned long long)r.sets, (unsigned long long)r.set_errors,
           (unsigned long long)r.wrong, secs, (double)(t->len + r.sets) / secs);
    print_server_memory(&r);
    printf("\n");
    rv = 0;
out:
    if (r.fd >= 0)
        close(r.fd);
    free(stamp);
    free(r.out);
    free(r.in);
    return rv;
}

/* The policies the simulation compares: the ones that evict any key
 * (volatile-* need expiry times, which the traces do not have). */
static const int sim_policies[] = {RC_EVICT_ALLKEYS_LRU, RC_EVICT_ALLKEYS_LFU,
                                   RC_EVICT_ALLKEYS_RANDOM, RC_EVICT_ALLKEYS_S3FIFO,
                                   RC_EVICT_ALLKEYS_WTINYLFU};

/* " sim_<policy>=ratio" for each policy (name without "allkeys-"). */
static int simulate(const struct opts *o, const struct rc_hr_trace *t, uint64_t budget)
{
    uint64_t hits;
    size_t i;
    int rv;

    printf(" sim_overhead=%u", RC_HR_ENTRY_OVERHEAD);
    for (i = 0; i < sizeof(sim_policies) / sizeof(sim_policies[0]); i++) {
        rv = rc_hr_policy(t, budget, sim_policies[i], RC_HR_ENTRY_OVERHEAD, o->cfg.seed, &hits);
        if (rv < 0)
            return rv;
        printf(" sim_%s=%.4f", rc_evict_policy_name(sim_policies[i]) + strlen("allkeys-"),
               (double)hits / t->len);
    }
    return 0;
}

static int offline(const struct opts *o, const struct rc_hr_trace *t)
{
    uint64_t budget = (uint64_t)((double)t->data_bytes * o->budget_pct / 100.0);
    uint64_t bel, up, lru, distinct = 0;
    uint8_t *seen = calloc(t->ids, 1);
    uint32_t i;
    int rv;

    if (seen == NULL)
        return RC_ENOMEM;
    for (i = 0; i < t->len; i++) {
        distinct += !seen[t->key[i]];
        seen[t->key[i]] = 1;
    }
    free(seen);

    if ((rv = rc_hr_belady(t, budget, &bel)) < 0 || (rv = rc_hr_opt_upper(t, budget, &up)) < 0 ||
        (rv = rc_hr_lru(t, budget, &lru)) < 0)
        return rv;
    /* With one size Belady is the optimum; with mixed sizes the optimum
     * lies between the feasible farthest-next-use count and the bound. */
    /* ceiling: the hit ratio of a cache that never evicts */
    print_trace(o);
    printf("requests=%u keys=%u ids=%u data_bytes=%llu budget_bytes=%llu belady=%.4f "
           "opt_upper=%.4f lru=%.4f ceiling=%.4f belady_exact=%d",
           t->len, o->cfg.keys, t->ids, (unsigned long long)t->data_bytes,
           (unsigned long long)budget, (double)bel / t->len, (double)up / t->len,
           (double)lru / t->len, (double)(t->len - distinct) / t->len, !o->cfg.mixed);
    rv = o->simulate ? simulate(o, t, budget) : 0;
    printf("\n");
    return rv;
}

int main(int argc, char **argv)
{
    struct opts o = {.cfg = {.seed = 1, .alpha = 0.99, .keys = 100000, .kind = RC_HR_ZIPF},
                     .prefix = "hr:", .budget_pct = 10, .batch = DEFAULT_BATCH,
                     .trace_name = "zipf"};
    struct rc_hr_trace t;
    int rv;

    if (parse_opts(argc, argv, &o) < 0) {
        usage(stderr);
        return 2;
    }
    if ((rv = rc_hr_trace_init(&t, &o.cfg)) < 0) {
        fprintf(stderr, PROG ": trace: %s\n", rc_strerror(rv));
        return 2;
    }
    rv = o.server ? replay(&o, &t) : offline(&o, &t);
    rc_hr_trace_close(&t);
    if (rv < 0) {
        fprintf(stderr, PROG ": %s\n", rc_strerror(rv));
        return 1;
    }
    return 0;
}
