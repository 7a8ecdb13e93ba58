/*
 * keyspace.c - cluster-wide SCAN/KEYS/RANDOMKEY/DBSIZE steps (see
 * keyspace.h) and the KEY_SCAN peer operation that feeds them.
 */
#include "keyspace.h"
#include "container_of.h"
#include "err.h"
#include "ring.h"

#include <stdlib.h>
#include <string.h>

/* Entries of one token beyond COUNT that a member still returns, so a
 * token's keys are never split across steps (64-bit collisions: rare). */
#define TOKEN_TAIL_MAX (RC_KEYSCAN_MAX_ENTRIES - RC_KEYSCAN_MAX_COUNT)

struct rc_keyspace {
    uv_timer_t sync; /* the epoch exchange */
    uv_timer_t later; /* a delayed FLUSHALL (rc_keyspace_flushall_at) */
    int started;
    struct flush *flushes; /* FLUSHALLs waiting for members */
    struct rc_cluster *cluster;
    struct rc_node *node;
    struct rc_peers *peers;
    const struct rc_log *log;
    uint32_t max_key;
    int timeout_ms;
    struct step *steps; /* in flight, for rc_keyspace_free */
};

struct win_range {
    uint64_t first, last;
    int nrep;
    uint64_t reps[RC_RING_MAX_RF];
    int answered;   /* some replica answered for it */
    uint64_t count; /* COUNT mode: the largest replica count */
};

struct member_req {
    struct step *st;
    uint64_t id;
    struct rc_keyscan_req q;
    uint16_t win[RC_KEYSPACE_WINDOW + 1]; /* window index of q's range i */
};

struct step {
    struct rc_keyspace *ks;
    struct step *next, *prev;
    int mode;
    uint32_t count;
    rc_keyspace_cb cb;
    void *arg;
    struct win_range win[RC_KEYSPACE_WINDOW + 1];
    size_t nwin;
    struct member_req *m;
    size_t nm, pending;
    int truncated;     /* some member stopped early ... */
    uint64_t stop;     /* ... at this token (the smallest such) */
    int failed;        /* an error other than a member's absence */
    msgpack_zone zone; /* decoding replies */
    struct rc_keyscan_set set;
};

/* ---- the peer operation: this node's entries ----------------------- */

/* Key bytes one member returns in one step, so that a reply of large
 * keys (up to --max-key-size, 64 KiB) still fits one peer frame. */
#define STEP_KEY_BYTES (256u << 10)

struct collect {
    struct rc_keyscan_set *set;
    size_t max_bytes; /* stop once the set holds this many key bytes */
    uint64_t floor;   /* the flush epoch: older entries are gone */
    int err;
};

static int collect_cb(void *arg, const struct rc_entry *e)
{
    struct collect *c = arg;

    /* Flushed but not deleted yet: sent as a tombstone, which hides this
     * version elsewhere too (skipping it would make the scan's limit,
     * which counts it, look like the end of the range). */
    c->err = rc_keyscan_set_add(c->set, e->key, e->key_len, e->token, e->ver.hlc, e->ver.node,
                                e->tombstone || e->ver.hlc < c->floor);
    return c->err < 0 || rc_buf_used(&c->set->keys) >= c->max_bytes;
}

/* Up to q->count entries of q's ranges, in order, plus the rest of the
 * last token's; *truncated when the count stopped it (at token *last). */
static int scan_local(struct rc_node *n, const struct rc_keyscan_req *q, uint32_t max_key,
                      struct rc_keyscan_set *set, int *truncated, uint64_t *last)
{
    struct collect c = {set, rc_buf_used(&set->keys) + STEP_KEY_BYTES, rc_node_flush_epoch(n), 0};
    int64_t now = rc_node_now_ms();
    size_t start = set->n;
    uint32_t i;
    uint8_t *lastkey;
    int rv;

    *truncated = 0;
    *last = 0;
    for (i = 0; i < q->nranges && set->n - start < q->count &&
                rc_buf_used(&set->keys) < c.max_bytes;
         i++) {
        rv = rc_node_scan(n, q->first[i], q->last[i], 0, NULL, 0,
                          (int)(q->count - (set->n - start)), now, collect_cb, &c);
        if (c.err < 0)
            return c.err;
        if (rv < 0)
            return rv;
    }
    if (set->n - start < q->count && rc_buf_used(&set->keys) < c.max_bytes)
        return 0;
    /* COUNT (or the bytes) reached: finish the last token (a copy of the key: the scan
     * borrows it while the set may grow). */
    {
        const struct rc_keyscan_ent *e = &set->e[set->n - 1];
        uint64_t tok = e->token;
        uint32_t len = e->len;

        lastkey = malloc(max_key > len ? max_key : len);
        if (lastkey == NULL)
            return RC_ENOMEM;
        memcpy(lastkey, rc_keyscan_key(set, e), len);
        c.max_bytes = SIZE_MAX;
        rv = rc_node_scan(n, tok, tok, tok, lastkey, len, TOKEN_TAIL_MAX, now, collect_cb, &c);
        free(lastkey);
        if (c.err < 0)
            return c.err;
        if (rv < 0)
            return rv;
        *truncated = 1;
        *last = tok;
    }
    return 0;
}

static int count_local(struct rc_node *n, const struct rc_keyscan_req *q, uint64_t *counts)
{
    int64_t now = rc_node_now_ms();
    uint32_t i;
    int rv;

    for (i = 0; i < q->nranges; i++) {
        rv = rc_node_range_count(n, q->first[i], q->last[i], now, &counts[i]);
        if (rv < 0)
            return rv;
    }
    return 0;
}

int rc_keyspace_serve(struct rc_node *n, const struct rc_request *req, struct rc_buf *out)
{
    struct rc_reply rep = {.id = req->id};
    struct rc_keyscan_req *q = NULL;
    struct rc_keyscan_set set;
    struct rc_buf body;
    msgpack_zone zone;
    uint64_t *counts = NULL, last = 0;
    uint32_t max_key = rc_node_opts(n)->max_key;
    int rv, truncated = 0;

    rc_keyscan_set_init(&set, RC_KEYSCAN_MAX_ENTRIES,
                        (size_t)RC_KEYSCAN_MAX_ENTRIES * (max_key ? max_key : 1));
    /* Keys and per-entry framing (38 bytes at most) of a full reply. */
    rc_buf_init(&body, (size_t)RC_KEYSCAN_MAX_ENTRIES * ((size_t)max_key + 40) + 64);
    if (!msgpack_zone_init(&zone, 4096)) {
        rc_keyscan_set_close(&set);
        rc_buf_close(&body);
        return rc_encode_error(out, req->id, RC_ENOMEM, NULL);
    }
    q = malloc(sizeof(*q));
    counts = malloc(sizeof(*counts) * RC_KEYSCAN_MAX_RANGES);
    if (q == NULL || counts == NULL) {
        rv = RC_ENOMEM;
        goto out;
    }
    rv = req->has_value ? rc_keyscan_decode_req(&zone, req->value, req->value_len, q) : RC_EPROTO;
    if (rv < 0)
        goto out;
    if (q->mode == RC_KEYSCAN_COUNT) {
        rv = count_local(n, q, counts);
        if (rv == 0)
            rv = rc_keyscan_encode_counts(&body, counts, q->nranges);
    } else {
        rv = scan_local(n, q, max_key, &set, &truncated, &last);
        if (rv == 0)
            rv = rc_keyscan_encode_keys(&body, truncated, last, &set);
    }
out:
    if (rv == 0) {
        rep.has_value = 1;
        rep.value = rc_buf_rptr(&body);
        rep.value_len = (uint32_t)rc_buf_used(&body);
        rv = rc_encode_reply(out, &rep);
    } else {
        rv = rc_encode_error(out, req->id, rv, rv == RC_EPROTO ? "malformed body: KEY_SCAN"
                                                               : NULL);
    }
    free(q);
    free(counts);
    msgpack_zone_destroy(&zone);
    rc_keyscan_set_close(&set);
    rc_buf_close(&body);
    return rv;
}

/* ---- the coordinator's step ---------------------------------------- */

static void on_member(void *arg, const struct rc_cluster_change *ch);

int rc_keyspace_new(uv_loop_t *loop, struct rc_cluster *c, struct rc_node *n,
                    struct rc_peers *p, uint32_t max_key, int timeout_ms,
                    const struct rc_log *log, struct rc_keyspace **out)
{
    struct rc_keyspace *ks = calloc(1, sizeof(*ks));
    int rv;

    *out = NULL;
    if (ks == NULL)
        return RC_ENOMEM;
    rv = rc_cluster_subscribe(c, on_member, ks);
    if (rv < 0) {
        free(ks);
        return rv;
    }
    uv_timer_init(loop, &ks->sync);
    uv_timer_init(loop, &ks->later);
    ks->cluster = c;
    ks->node = n;
    ks->peers = p;
    ks->max_key = max_key;
    ks->timeout_ms = timeout_ms;
    ks->log = log;
    *out = ks;
    return 0;
}

static void step_free(struct step *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else
        st->ks->steps = st->next;
    if (st->next)
        st->next->prev = st->prev;
    free(st->m);
    msgpack_zone_destroy(&st->zone);
    rc_keyscan_set_close(&st->set);
    free(st);
}

static void flush_free(struct flush *fl);

void rc_keyspace_free(struct rc_keyspace *ks)
{
    if (ks == NULL)
        return;
    while (ks->steps != NULL)
        step_free(ks->steps);
    while (ks->flushes != NULL)
        flush_free(ks->flushes);
    free(ks);
}

static int vr_cmp(const void *a, const void *b)
{
    const struct rc_ring_vrange *x = a, *y = b;

    return x->first < y->first ? -1 : x->first > y->first;
}

/* The window: up to RC_KEYSPACE_WINDOW vnode ranges of the placement ring
 * from cursor on, each with its live replicas. */
static int build_window(struct step *st, uint64_t cursor)
{
    struct rc_keyspace *ks = st->ks;
    const struct rc_ring *ring = rc_cluster_ring(ks->cluster);
    const uint64_t *tokens;
    struct rc_ring_vrange *vr;
    struct rc_ring_iter it;
    size_t nt = ring ? rc_ring_tokens(ring, &tokens) : 0, nv = 0, lo, hi, i;
    int rf = rc_cluster_rf(ks->cluster), k, nr;
    uint64_t ids[RC_RING_MAX_RF];
    size_t window = st->mode == RC_KEYSCAN_COUNT ? RC_KEYSPACE_COUNT_WINDOW : RC_KEYSPACE_WINDOW;

    if (nt == 0)
        return RC_EUNAVAILABLE;
    vr = malloc((nt + 1) * sizeof(*vr));
    if (vr == NULL)
        return RC_ENOMEM;
    rc_ring_iter_init(&it, ring);
    while (nv < nt + 1 && rc_ring_iter_next(&it, &vr[nv]))
        nv++;
    qsort(vr, nv, sizeof(*vr), vr_cmp);
    lo = 0;
    hi = nv;
    while (lo < hi) { /* the first range ending at or after cursor */
        size_t mid = lo + (hi - lo) / 2;

        if (vr[mid].last < cursor)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (i = lo; i < nv && st->nwin < window; i++) {
        struct win_range *w = &st->win[st->nwin++];

        w->first = i == lo && cursor > vr[i].first ? cursor : vr[i].first;
        w->last = vr[i].last;
        nr = rc_ring_replicas(ring, vr[i].token, rf, ids);
        for (k = 0; k < nr; k++)
            if (rc_cluster_live(ks->cluster, ids[k]))
                w->reps[w->nrep++] = ids[k];
    }
    free(vr);
    return st->nwin > 0 ? 0 : RC_EINVAL;
}

/* One request per live member, listing the window ranges it replicates. */
static int build_requests(struct step *st)
{
    const struct rc_member *ms;
    size_t i, j, cap = rc_cluster_members(st->ks->cluster, &ms) + 1;
    int k;

    /* One request per member at most (each ~17 KiB: its range list). */
    st->m = calloc(cap, sizeof(*st->m));
    if (st->m == NULL)
        return RC_ENOMEM;
    for (i = 0; i < st->nwin; i++) {
        for (k = 0; k < st->win[i].nrep; k++) {
            uint64_t id = st->win[i].reps[k];
            struct member_req *m;

            for (j = 0; j < st->nm && st->m[j].id != id; j++)
                ;
            if (j == st->nm) {
                if (st->nm == cap)
                    return RC_EINVAL;
                st->m[st->nm].id = id;
                st->m[st->nm].st = st;
                st->m[st->nm].q.mode = st->mode;
                st->m[st->nm].q.count = st->count;
                st->nm++;
            }
            m = &st->m[j];
            m->win[m->q.nranges] = (uint16_t)i;
            m->q.first[m->q.nranges] = st->win[i].first;
            m->q.last[m->q.nranges] = st->win[i].last;
            m->q.nranges++;
        }
    }
    return 0;
}

static void step_finish(struct step *st)
{
    struct rc_keyspace_result res = {0};
    size_t i;

    res.set = &st->set;
    res.end = st->truncated ? st->stop : st->win[st->nwin - 1].last;
    for (i = 0; i < st->nwin; i++) {
        if (st->win[i].first > res.end)
            break;
        if (!st->win[i].answered)
            res.err = RC_EUNAVAILABLE;
        res.count += st->win[i].count;
    }
    if (st->failed < 0 && res.err == 0)
        res.err = st->failed;
    if (res.err == 0 && st->mode == RC_KEYSCAN_KEYS)
        res.err = rc_keyscan_merge(&st->set, res.end, rc_node_flush_epoch(st->ks->node),
                                   &res.nkeys);
    res.done = res.end == UINT64_MAX;
    res.next = res.done ? 0 : res.end + 1;
    st->cb(st->arg, &res);
    step_free(st);
}

/* A member's answer (decoded or local) is in: note what it covers. */
static void member_answered(struct member_req *m, int truncated, uint64_t last,
                            const uint64_t *counts)
{
    struct step *st = m->st;
    uint32_t i;

    if (truncated && (!st->truncated || last < st->stop)) {
        st->truncated = 1;
        st->stop = last;
    }
    for (i = 0; i < m->q.nranges; i++) {
        struct win_range *w = &st->win[m->win[i]];

        w->answered = 1;
        if (counts != NULL && counts[i] > w->count)
            w->count = counts[i];
    }
}

static void member_done(struct step *st)
{
    if (--st->pending == 0)
        step_finish(st);
}

static void on_reply(void *arg, int err, const struct rc_reply *rep)
{
    struct member_req *m = arg;
    struct step *st = m->st;
    uint64_t counts[RC_KEYSCAN_MAX_RANGES], last = 0;
    int rv, truncated = 0;

    if (err < 0 || rep->status != 0 || !rep->has_value) {
        /* An absent member: its ranges count only if another replica
         * answered for them (step_finish). */
        rc_log_debug(st->ks->log, "KEY_SCAN to %016llx failed: %s", (unsigned long long)m->id,
                     err < 0 ? rc_strerror(err) : "error reply");
        member_done(st);
        return;
    }
    if (st->mode == RC_KEYSCAN_COUNT) {
        rv = rc_keyscan_decode_counts(&st->zone, rep->value, rep->value_len, m->q.nranges,
                                      counts);
        if (rv == 0)
            member_answered(m, 0, 0, counts);
    } else {
        rv = rc_keyscan_decode_keys(&st->zone, rep->value, rep->value_len, st->ks->max_key, &m->q,
                                    &st->set, &truncated, &last);
        if (rv == 0)
            member_answered(m, truncated, last, NULL);
    }
    if (rv == RC_EPROTO)
        rc_log_warn(st->ks->log, "KEY_SCAN reply from %016llx malformed",
                    (unsigned long long)m->id);
    else if (rv < 0)
        st->failed = rv;
    member_done(st);
}

static void ask_local(struct step *st, struct member_req *m)
{
    uint64_t counts[RC_KEYSCAN_MAX_RANGES], last = 0;
    int rv, truncated = 0;

    if (st->mode == RC_KEYSCAN_COUNT) {
        rv = count_local(st->ks->node, &m->q, counts);
        if (rv == 0)
            member_answered(m, 0, 0, counts);
    } else {
        rv = scan_local(st->ks->node, &m->q, st->ks->max_key, &st->set, &truncated, &last);
        if (rv == 0)
            member_answered(m, truncated, last, NULL);
    }
    if (rv < 0)
        st->failed = rv;
}

static void ask_remote(struct step *st, struct member_req *m, struct rc_buf *body)
{
    const struct rc_member *mb = rc_cluster_find(st->ks->cluster, m->id);
    struct rc_request r = {.op = RC_OP_KEY_SCAN};

    rc_buf_reset(body);
    if (mb == NULL || rc_keyscan_encode_req(body, &m->q) < 0)
        return;
    r.value = rc_buf_rptr(body);
    r.value_len = (uint32_t)rc_buf_used(body);
    r.has_value = 1;
    st->pending++;
    if (rc_peers_send(st->ks->peers, m->id, mb->host, mb->peer_port, &r, st->ks->timeout_ms,
                      on_reply, m) < 0)
        st->pending--;
}

void rc_keyspace_step(struct rc_keyspace *ks, int mode, uint64_t cursor, uint32_t count,
                      rc_keyspace_cb cb, void *arg)
{
    struct rc_keyspace_result fail = {0};
    struct rc_buf body;
    struct step *st;
    uint64_t self = rc_cluster_self(ks->cluster);
    size_t i;
    int rv;

    st = calloc(1, sizeof(*st));
    if (st == NULL || !msgpack_zone_init(&st->zone, 4096)) {
        free(st);
        fail.err = RC_ENOMEM;
        cb(arg, &fail);
        return;
    }
    st->ks = ks;
    st->mode = mode;
    st->count = count < 1 ? 1 : count > RC_KEYSCAN_MAX_COUNT ? RC_KEYSCAN_MAX_COUNT : count;
    st->cb = cb;
    st->arg = arg;
    st->next = ks->steps;
    if (ks->steps)
        ks->steps->prev = st;
    ks->steps = st;
    rv = build_window(st, cursor);
    if (rv == 0)
        rv = build_requests(st);
    if (rv < 0) {
        fail.err = rv;
        cb(arg, &fail);
        step_free(st);
        return;
    }
    rc_keyscan_set_init(&st->set, st->nm * RC_KEYSCAN_MAX_ENTRIES,
                        st->nm * RC_KEYSCAN_MAX_ENTRIES * (size_t)ks->max_key);
    /* 18 bytes per range and a few for the header. */
    rc_buf_init(&body, 32 + 20 * (size_t)RC_KEYSCAN_MAX_RANGES);
    st->pending = 1; /* held while sending: no finish from a callback meanwhile */
    for (i = 0; i < st->nm; i++) {
        if (st->m[i].id == self)
            ask_local(st, &st->m[i]);
        else
            ask_remote(st, &st->m[i], &body);
    }
    rc_buf_close(&body);
    member_done(st);
}

/* ---- FLUSHALL and the epoch exchange ------------------------------- */

struct flush {
    struct rc_keyspace *ks;
    struct flush *next, *prev;
    rc_keyspace_flush_cb cb;
    void *arg;
    uint64_t epoch; /* the flush's own: a member acks it holding this or newer */
    int acked, asked, pending;
};

/* One exchange request: ks for the epoch exchange, fl for a FLUSHALL. */
struct epoch_req {
    struct rc_keyspace *ks;
    struct flush *fl;
};

static void flush_free(struct flush *fl)
{
    struct rc_keyspace *ks = fl->ks;

    if (fl->prev)
        fl->prev->next = fl->next;
    else
        ks->flushes = fl->next;
    if (fl->next)
        fl->next->prev = fl->prev;
    free(fl);
}

static void flush_done(struct flush *fl)
{
    if (--fl->pending > 0)
        return;
    fl->cb(fl->arg, fl->acked, fl->asked);
    flush_free(fl);
}

int rc_keyspace_serve_epoch(struct rc_node *n, const struct rc_request *req, struct rc_buf *out)
{
    struct rc_reply rep = {.id = req->id, .has_version = 1};
    int rv;

    if (!req->has_version)
        return rc_encode_error(out, req->id, RC_EINVAL, "FLUSH_EPOCH needs VERSION");
    if (req->ver_hlc > rc_node_flush_epoch(n)) {
        /* A stamp too far ahead of this node's clock is refused like a
         * write's (RC_EDRIFT): it would make every write here older. */
        rv = rc_node_observe(n, req->ver_hlc);
        if (rv == 0)
            rv = rc_node_flush(n, req->ver_hlc);
        if (rv < 0)
            return rc_encode_error(out, req->id, rv, NULL);
    }
    rep.ver_hlc = rc_node_flush_epoch(n);
    rep.ver_node = rc_node_id(n);
    return rc_encode_reply(out, &rep);
}

/* An answer to an epoch we sent: a newer one there is adopted here. */
static void on_epoch_reply(void *arg, int err, const struct rc_reply *rep)
{
    struct epoch_req *er = arg;
    struct rc_keyspace *ks = er->ks;
    int ok = err == 0 && rep->status == 0 && rep->has_version;

    if (ok && rep->ver_hlc > rc_node_flush_epoch(ks->node) &&
        rc_node_observe(ks->node, rep->ver_hlc) == 0) {
        rc_log_info(ks->log, "flush epoch %llu learned from a peer",
                    (unsigned long long)rep->ver_hlc);
        rc_node_flush(ks->node, rep->ver_hlc);
    }
    if (er->fl != NULL) {
        /* Against this flush's epoch, not the node's now: flushes sent
         * back to back must each count their own acks. */
        er->fl->acked += ok && rep->ver_hlc >= er->fl->epoch;
        flush_done(er->fl);
    }
    free(er);
}

/* Sends this node's epoch to member id. 0, or an error (nothing sent). */
static int send_epoch(struct rc_keyspace *ks, uint64_t id, struct flush *fl)
{
    const struct rc_member *m = rc_cluster_find(ks->cluster, id);
    struct rc_request r = {.op = RC_OP_FLUSH_EPOCH, .has_version = 1};
    struct epoch_req *er;
    int rv;

    if (m == NULL)
        return RC_EINVAL;
    er = calloc(1, sizeof(*er));
    if (er == NULL)
        return RC_ENOMEM;
    er->ks = ks;
    er->fl = fl;
    r.ver_hlc = rc_node_flush_epoch(ks->node);
    r.ver_node = rc_node_id(ks->node);
    rv = rc_peers_send(ks->peers, id, m->host, m->peer_port, &r, ks->timeout_ms, on_epoch_reply,
                       er);
    if (rv < 0)
        free(er);
    return rv;
}

void rc_keyspace_flushall(struct rc_keyspace *ks, rc_keyspace_flush_cb cb, void *arg)
{
    const struct rc_member *ms;
    struct rc_version ver;
    struct flush *fl;
    uint64_t self = rc_cluster_self(ks->cluster);
    size_t n, i;
    int rv;

    uv_timer_stop(&ks->later); /* a flush now replaces one delayed (memcached's flush_all) */
    rc_node_new_version(ks->node, &ver);
    rv = rc_node_flush(ks->node, ver.hlc);
    fl = calloc(1, sizeof(*fl));
    if (fl == NULL) {
        cb(arg, 0, 1);
        return;
    }
    fl->ks = ks;
    fl->cb = cb;
    fl->arg = arg;
    fl->epoch = ver.hlc;
    fl->next = ks->flushes;
    if (ks->flushes)
        ks->flushes->prev = fl;
    ks->flushes = fl;
    fl->asked = 1;
    fl->acked = rv == 0;
    fl->pending = 1; /* held while sending */
    n = rc_cluster_members(ks->cluster, &ms);
    for (i = 0; i < n; i++) {
        if (ms[i].id == self || !rc_cluster_live(ks->cluster, ms[i].id))
            continue;
        fl->asked++;
        fl->pending++;
        if (send_epoch(ks, ms[i].id, fl) < 0)
            fl->pending--;
    }
    flush_done(fl);
}

/* A member that comes back alive may have missed a flush: tell it now
 * rather than at the next exchange. */
static void on_member(void *arg, const struct rc_cluster_change *ch)
{
    struct rc_keyspace *ks = arg;

    if (ch->member == NULL || ch->member->id == rc_cluster_self(ks->cluster) ||
        ch->member->state != RC_MEMBER_ALIVE || ch->old == RC_MEMBER_ALIVE ||
        ch->old == RC_MEMBER_SUSPECT || rc_node_flush_epoch(ks->node) == 0)
        return;
    send_epoch(ks, ch->member->id, NULL);
}

/* The exchange: one random live member per period, both ways. */
static void on_sync(uv_timer_t *t)
{
    struct rc_keyspace *ks = container_of(t, struct rc_keyspace, sync);
    const struct rc_member *ms;
    uint64_t self = rc_cluster_self(ks->cluster), pick = 0;
    size_t n = rc_cluster_members(ks->cluster, &ms), i, live = 0;
    uint32_t r;

    for (i = 0; i < n; i++)
        live += ms[i].id != self && rc_cluster_live(ks->cluster, ms[i].id);
    if (live == 0 || uv_random(NULL, NULL, &r, sizeof(r), 0, NULL) < 0)
        return;
    r %= (uint32_t)live;
    for (i = 0; i < n; i++) {
        if (ms[i].id == self || !rc_cluster_live(ks->cluster, ms[i].id))
            continue;
        if (r-- == 0) {
            pick = ms[i].id;
            break;
        }
    }
    if (pick != 0)
        send_epoch(ks, pick, NULL);
}

void rc_keyspace_start(struct rc_keyspace *ks)
{
    ks->started = 1;
    uv_timer_start(&ks->sync, on_sync, RC_KEYSPACE_EPOCH_SYNC_MS, RC_KEYSPACE_EPOCH_SYNC_MS);
    uv_unref((uv_handle_t *)&ks->sync);
}

void rc_keyspace_stop(struct rc_keyspace *ks)
{
    if (ks != NULL && !uv_is_closing((uv_handle_t *)&ks->sync))
        uv_close((uv_handle_t *)&ks->sync, NULL);
    if (ks != NULL && !uv_is_closing((uv_handle_t *)&ks->later))
        uv_close((uv_handle_t *)&ks->later, NULL);
}

static void flushed_later(void *arg, int acked, int asked)
{
    struct rc_keyspace *ks = arg;

    rc_log_info(ks->log, "delayed flush: recorded on %d of %d live members", acked, asked);
}

static void on_later(uv_timer_t *t)
{
    struct rc_keyspace *ks = container_of(t, struct rc_keyspace, later);

    rc_keyspace_flushall(ks, flushed_later, ks);
}

void rc_keyspace_flushall_at(struct rc_keyspace *ks, int64_t delay_ms)
{
    /* One pending at most, as memcached keeps one oldest_live: a later
     * flush_all replaces an earlier delayed one. */
    uv_timer_stop(&ks->later);
    if (delay_ms <= 0) {
        rc_keyspace_flushall(ks, flushed_later, ks);
        return;
    }
    uv_timer_start(&ks->later, on_later, (uint64_t)delay_ms, 0);
}
