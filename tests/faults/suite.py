"""
suite.py - the fault-injection suite: a 5-node cluster in its own network
namespace, concurrent clients recording every operation, faults injected
one after another, and a checker over the whole history (issue 13).

Each phase runs the load, injects one fault for a while, heals it, and
then measures how long the cluster takes to be whole again: every key's
replicas (read directly on the peer port with REPL_READ, so no client read
repairs anything first) hold the same version, and no node outside a key's
replicas holds it. Phases (short mode; --long runs each longer, twice):

  kill-restart    kill -9 one node, restart it on its data
  pause           SIGSTOP one node past failure detection, SIGCONT
  partition       random halves (2 | 3)
  isolate         one node cut from all others
  bridge          {a, b} | {d, e}, node c sees both sides
  heal-in-steps   {1, 2, 3} | {4, 5}, then node 2's links heal last
  skew-within     one node restarted with its clock 1 s and then 20 s fast
  skew-beyond     one node restarted 90 s fast (beyond --max-drift)
  empty-return    kill -9 one node, wipe its data, start it (a new id)
  whole-cluster   kill -9 every node, restart them all on their data
                  (write-behind's contract: the writes acknowledged in the
                  last LOSS_WINDOW_S before the kill may be lost, so the
                  checker counts them as of unknown outcome; everything
                  older must survive)

The checker, over every operation of the run (outcomes ok / failed /
unknown; a write that did not answer OK may still have been applied):
  lost          a key's final value is older than an acknowledged write that
                started after it completed (must be 0)
  resurrected   the same, where the newer write was an acknowledged DELETE
                (must be 0)
  stale reads   a QUORUM GET returned a value older than a write that was
                acknowledged before the GET began (must be 0)
  phantom       a GET returned a value nobody wrote (must be 0)
  converged     time after the heal until every key has the same version on
                all its RF replicas (bound CONVERGE_BOUND_S)
  strays        keys still held outside their replicas after convergence
  false deaths  members declared dead during a fault that kills, pauses or
                isolates no node (skew, bridge): must be 0
  availability  share of operations that succeeded during the fault

It prints one table row per phase and closes with "N passed, M failed".
Run by CTest (label faults) as root; elsewhere it exits 77 (SKIP).
Usage: RC_SERVER_BIN=... /usr/bin/python3 suite.py [--long] [--only NAME,...]
"""

import bisect
import os
import random
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402

NODES = 5
KEYS = 120
CLIENTS = 6
# Short timeouts keep a phase to seconds: a replica answers within 500 ms
# or counts as failed; cleanup and anti-entropy run every 1 and 2 s, so
# convergence after a heal is a matter of seconds, not the production
# defaults' minute.
# --snapshot-min 64k: write-behind snapshots memory into its journal all
# through the run (the default 64 MiB is never reached by this load), so
# every crash and restart also reads files made of snapshots.
SERVER_ARGS = ["--replica-timeout", "500", "--rebalance-delay", "500",
               "--cleanup-interval", "1000", "--anti-entropy-interval", "2000",
               "--handoff-timeout", "3000", "--max-drift", "30000",
               "--snapshot-min", "64k"]
CONVERGE_BOUND_S = 30.0
# What a kill -9 of every node at once may lose with write-behind (the
# default on disk): the acknowledged writes of the last --max-write-lag
# (1 s by default; README "Durability"). The whole-cluster phase only.
LOSS_WINDOW_S = 1.0
STRAY_BOUND_S = 20.0
OP_TIMEOUT_S = 3.0
OP_REPL_READ = 65
F_TOMBSTONE = 9

FAKETIME_LIB = None
for _p in ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
           "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"):
    if os.path.exists(_p):
        FAKETIME_LIB = _p


class Op:
    __slots__ = ("client", "kind", "key", "value", "t0", "t1", "outcome", "result", "phase")

    def __init__(self, client, kind, key, value, t0, phase):
        self.client, self.kind, self.key, self.value = client, kind, key, value
        self.t0, self.t1, self.phase = t0, None, phase
        self.outcome = None  # "ok", "fail" (an error answer), "unknown" (no answer)
        self.result = None   # GET: the value read, or None for NOTFOUND


class Load:
    """CLIENTS threads, each doing QUORUM PUT / GET / DEL on KEYS keys
    through random live nodes, one request at a time, recording each."""

    def __init__(self, cluster, seed):
        self.c = cluster
        self.ops = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.phase = "start"
        self.threads = [threading.Thread(target=self.run, args=(i, seed + i), daemon=True)
                        for i in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def run(self, cid, seed):
        rnd = random.Random(seed)
        conns = {}
        seq = 0
        while not self.stop.is_set():
            node = rnd.choice(self.c.indices)
            key = b"k%03d" % rnd.randrange(KEYS)
            r = rnd.random()
            kind = "put" if r < 0.5 else "get" if r < 0.9 else "del"
            value = None
            if kind == "put":
                seq += 1
                value = b"c%d-%d" % (cid, seq)
            op = Op(cid, kind, key, value, time.monotonic(), self.phase)
            try:
                cl = conns.get(node)
                if cl is None:
                    cl = conns[node] = netns.Client(netns.addr(node), timeout=OP_TIMEOUT_S)
                if kind == "put":
                    rep = cl.put(key, value, netns.QUORUM)
                elif kind == "get":
                    rep = cl.get(key, netns.QUORUM)
                else:
                    rep = cl.delete(key, netns.QUORUM)
                op.t1 = time.monotonic()
                if rep.status == netns.OK:
                    op.outcome = "ok"
                    op.result = rep.value
                elif rep.status == netns.NOTFOUND:
                    # GET: a miss; DEL: nothing live to delete (a tombstone
                    # was written all the same, like an OK delete).
                    op.outcome = "ok"
                else:
                    op.outcome = "fail"
            except (OSError, ValueError, ConnectionError):
                op.t1 = time.monotonic()
                op.outcome = "unknown"
                cl = conns.pop(node, None)
                if cl is not None:
                    cl.close()
                time.sleep(0.05)  # a dead node: do not spin on it
            with self.lock:
                self.ops.append(op)
        for cl in conns.values():
            cl.close()


# ---- direct reads of the replicas ---------------------------------------------------


def repl_read(i, key):
    """(version, value or None for a tombstone) held by node i, or None when
    it holds nothing; raises OSError when it cannot be asked."""
    with netns.Client(netns.addr(i), port=netns.PEER_PORT, timeout=2.0) as c:
        r = c.request(OP_REPL_READ, {netns.F_KEY: key})
    if r.status == netns.NOTFOUND:
        return None
    if r.status != netns.OK:
        raise OSError(f"REPL_READ answered {r.name}")
    ver = tuple(r.fields.get(netns.F_VERSION, (0, 0)))
    return ver, (None if r.fields.get(F_TOMBSTONE) else r.value)


def copies(c, key):
    """{node index: what it holds} over every running node."""
    out = {}
    for i in c.indices:
        if c.node(i).running():
            out[i] = repl_read(i, key)
    return out


def placement(c):
    return netns.Placement([c.node(i).id for i in c.indices], rf=3)


def divergent(c, pl, keys):
    """Keys whose replicas do not all hold the same version."""
    bad = []
    for key in keys:
        reps = [c.index_of(x) for x in pl.replicas(key)]
        held = {repl_read(i, key) for i in reps}
        if len(held) != 1:
            bad.append(key)
    return bad


def strays(c, pl, keys):
    """(key, node) pairs held by a node that is not among the key's replicas."""
    out = []
    for key in keys:
        reps = {c.index_of(x) for x in pl.replicas(key)}
        for i in c.indices:
            if i not in reps and repl_read(i, key) is not None:
                out.append((key, i))
    return out


def wait_whole(c, keys):
    """Seconds until every key's replicas agree (None past the bound), and
    the strays left once STRAY_BOUND_S more have passed without them going."""
    t0 = time.monotonic()
    pl = placement(c)
    converged, bad = None, keys
    while time.monotonic() - t0 < CONVERGE_BOUND_S:
        try:
            bad = divergent(c, pl, bad)
        except OSError:
            pass
        if not bad:
            converged = time.monotonic() - t0
            break
        time.sleep(0.25)
    left = []
    t1 = time.monotonic()
    while time.monotonic() - t1 < STRAY_BOUND_S:
        try:
            left = strays(c, pl, keys)
        except OSError:
            left = ["?"]
        if not left:
            break
        time.sleep(0.5)
    return converged, bad, left


# ---- the checker ------------------------------------------------------------------------


INF = float("inf")


def ends(op):
    """When a write's effect is certain: its answer if it was OK, else never
    (a failed or unanswered write may have been applied, or may still be)."""
    return op.t1 if op.outcome == "ok" else INF


class Later:
    """Acknowledged writes of one key, sorted by start: whether one started
    after a time and was acknowledged before another, in O(log n)."""

    def __init__(self, writes):
        ws = sorted((o.t0, o.t1) for o in writes if o.outcome == "ok")
        self.t0s = [w[0] for w in ws]
        self.sufmin = [INF] * (len(ws) + 1)
        for i in range(len(ws) - 1, -1, -1):
            self.sufmin[i] = min(ws[i][1], self.sufmin[i + 1])

    def exists(self, after, before=INF):
        """An acknowledged write started after `after`, answered before `before`."""
        return self.sufmin[bisect.bisect_right(self.t0s, after)] < before


class Deletes:
    """The deletes of one key, for telling whether an absent value is
    explained: by a delete (or the initial state) that no acknowledged PUT
    followed before a given time."""

    def __init__(self, writes):
        dels = [o for o in writes if o.kind == "del"]
        self.unknown_t0 = min((o.t0 for o in dels if o.outcome != "ok"), default=INF)
        ok = sorted((o.t0, o.t1) for o in dels if o.outcome == "ok")
        self.t0s = [d[0] for d in ok]
        self.premax = []
        best = -INF
        for d in ok:
            best = max(best, d[1])
            self.premax.append(best)

    def explain_absent(self, puts, read_end=INF, before=INF):
        if self.unknown_t0 < read_end:
            return True  # a delete whose effect may land at any time
        i = bisect.bisect_left(self.t0s, read_end)
        latest = self.premax[i - 1] if i > 0 else -INF  # the initial state
        return not puts.exists(latest, before)


def check_history(ops, final):
    """final: {key: value or None (absent or tombstone)} read from the
    converged replicas. Returns (lost, resurrected, stale, phantom) lists.
    A value read or left behind is explained by the write that put it
    there; it is wrong when an acknowledged write started after that write
    was acknowledged and was itself acknowledged before the read began (or
    at all, for the final state)."""
    by_key = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    lost, resurrected, stale, phantom = [], [], [], []
    for key, kops in by_key.items():
        writes = [o for o in kops if o.kind != "get"]
        puts_by_value = {o.value: o for o in writes if o.kind == "put"}
        later_any = Later(writes)
        later_puts = Later([o for o in writes if o.kind == "put"])
        later_dels = Later([o for o in writes if o.kind == "del"])
        dels = Deletes(writes)
        v = final.get(key)
        if v is not None:
            p = puts_by_value.get(v)
            if p is None:
                phantom.append((key, v, "final"))
            elif later_any.exists(ends(p)):
                if later_puts.exists(ends(p)):
                    lost.append((key, v, "a later acknowledged put"))
                else:
                    resurrected.append((key, v, "deleted by a later acknowledged delete"))
        elif not dels.explain_absent(later_puts):
            lost.append((key, None, "a later acknowledged put"))
        for r in kops:
            if r.kind != "get" or r.outcome != "ok":
                continue
            if r.result is None:
                if not dels.explain_absent(later_puts, r.t1, r.t0):
                    stale.append((key, None, r.phase))
                continue
            p = puts_by_value.get(r.result)
            if p is None:
                phantom.append((key, r.result, r.phase))
            elif later_any.exists(ends(p), r.t0):
                stale.append((key, r.result, r.phase))
    return lost, resurrected, stale, phantom


def final_state(c, keys):
    pl = placement(c)
    out = {}
    for key in keys:
        held = repl_read(c.index_of(pl.replicas(key)[0]), key)
        out[key] = held[1] if held is not None else None
    return out


# ---- deaths in the logs ------------------------------------------------------------------


def deaths_logged(c):
    """Lines "... -> dead ..." in every node's log so far."""
    n = 0
    for i in c.indices:
        try:
            with open(c.node(i).log_path, "rb") as f:
                n += sum(1 for line in f if b" -> dead " in line)
        except OSError:
            pass
    return n


# ---- phases -------------------------------------------------------------------------------


def others(c, rnd, k):
    return rnd.sample(c.indices, k)


def ph_kill_restart(c, rnd, hold):
    i = rnd.choice(c.indices)
    c.kill(i)
    time.sleep(hold)
    c.start(i)
    return f"node {i}"


def ph_pause(c, rnd, hold):
    i = rnd.choice(c.indices)
    c.pause(i)
    time.sleep(max(hold, 5.0))  # past failure detection (~2-5 s)
    c.resume(i)
    return f"node {i}"


def ph_partition(c, rnd, hold):
    a = sorted(rnd.sample(c.indices, 2))
    b = [i for i in c.indices if i not in a]
    c.partition(a, b)
    c.check_connectivity()
    time.sleep(hold)
    c.heal()
    return f"{a} / {b}"


def ph_isolate(c, rnd, hold):
    i = rnd.choice(c.indices)
    c.isolate(i)
    c.check_connectivity()
    time.sleep(hold)
    c.heal()
    return f"node {i}"


def ph_bridge(c, rnd, hold):
    order = rnd.sample(c.indices, 5)
    c.partition(order[:2], order[3:])
    c.check_connectivity()
    time.sleep(hold)
    c.heal()
    return f"{sorted(order[:2])} / {sorted(order[3:])}, bridge {order[2]}"


def ph_heal_in_steps(c, rnd, hold):
    c.partition([1, 2, 3], [4, 5])
    c.check_connectivity()
    time.sleep(hold)
    c.heal()
    for j in (4, 5):  # node 2 stays cut from {4, 5} a while longer
        c.cut(2, j)
    c.check_connectivity()
    time.sleep(max(hold / 2, 3.0))
    c.heal()
    return "{1,2,3} / {4,5}, node 2 healed last"


def skewed_start(c, i, offset):
    env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    if "ASAN_OPTIONS" in os.environ:
        env["ASAN_OPTIONS"] = os.environ["ASAN_OPTIONS"] + ":verify_asan_link_order=0"
    c.restart(i, env=env)


def ph_skew_within(c, rnd, hold):
    i = rnd.choice(c.indices)
    for offset in ("+1", "+20"):
        skewed_start(c, i, offset)
        time.sleep(hold / 2)
    c.restart(i)
    return f"node {i} +1 s, then +20 s"


def ph_skew_beyond(c, rnd, hold):
    i = rnd.choice(c.indices)
    skewed_start(c, i, "+90")
    time.sleep(hold)
    c.restart(i)
    return f"node {i} +90 s"


def ph_empty_return(c, rnd, hold):
    i = rnd.choice(c.indices)
    c.kill(i)
    if not c.memory:
        shutil.rmtree(c.node(i).data_dir, ignore_errors=True)
    time.sleep(hold / 2)
    c.start(i)
    return f"node {i}"


def ph_whole_cluster(c, rnd, hold):
    for i in c.indices:
        c.kill(i)
    c.whole_kills.append(time.monotonic())
    time.sleep(1.0)
    for i in c.indices:
        c.node(i).start()
    for i in c.indices:
        c.node(i).wait_ready(20.0)
    return "all 5"


# (name, function, deaths allowed during the fault)
PHASES = [
    ("kill-restart", ph_kill_restart, True),
    ("pause", ph_pause, True),
    ("partition", ph_partition, True),
    ("isolate", ph_isolate, True),
    ("bridge", ph_bridge, False),
    ("heal-in-steps", ph_heal_in_steps, True),
    ("skew-within", ph_skew_within, False),
    ("skew-beyond", ph_skew_beyond, True),
    ("empty-return", ph_empty_return, True),
    ("whole-cluster", ph_whole_cluster, True),
]


def self_test():
    """The checker on hand-made histories: each must find what it was made
    to show, so a clean run of the suite means something."""
    def op(kind, key, value, t0, t1, outcome="ok", result=None):
        o = Op(0, kind, key, value, t0, "self-test")
        o.t1, o.outcome, o.result = t1, outcome, result
        return o

    k = b"k"
    # A later acknowledged PUT lost: the final value is the earlier one.
    h = [op("put", k, b"a", 0, 1), op("put", k, b"b", 2, 3)]
    assert check_history(h, {k: b"a"})[0], "lost write not found"
    assert not any(check_history(h, {k: b"b"})), "false alarm on the right value"
    # Concurrent writes: either may win.
    h = [op("put", k, b"a", 0, 3), op("put", k, b"b", 1, 2)]
    assert not any(check_history(h, {k: b"a"})) and not any(check_history(h, {k: b"b"}))
    # A write that did not answer may win later.
    h = [op("put", k, b"a", 0, 1), op("put", k, b"b", 2, 3, "unknown")]
    assert not any(check_history(h, {k: b"b"})) and not any(check_history(h, {k: b"a"}))
    # An acknowledged delete resurrected.
    h = [op("put", k, b"a", 0, 1), op("del", k, None, 2, 3)]
    assert check_history(h, {k: b"a"})[1], "resurrection not found"
    assert not any(check_history(h, {k: None}))
    # A stale QUORUM read, and a fresh one.
    h = [op("put", k, b"a", 0, 1), op("put", k, b"b", 2, 3),
         op("get", k, None, 4, 5, result=b"a")]
    assert check_history(h, {k: b"b"})[2], "stale read not found"
    h[2].result = b"b"
    assert not any(check_history(h, {k: b"b"}))
    # A miss after an acknowledged PUT is stale; after a delete it is not.
    h = [op("put", k, b"a", 0, 1), op("get", k, None, 2, 3, result=None)]
    assert check_history(h, {k: b"a"})[2], "stale miss not found"
    h = [op("put", k, b"a", 0, 1), op("del", k, None, 2, 3),
         op("get", k, None, 4, 5, result=None)]
    assert not any(check_history(h, {k: None}))
    # A miss explained only by a delete that began after the read ended.
    h = [op("put", k, b"a", 0, 1), op("get", k, None, 2, 3, result=None),
         op("del", k, None, 4, 5)]
    assert check_history(h, {k: None})[2], "miss before the delete not found stale"
    # A delete that did not answer may explain a miss and the final state.
    h = [op("put", k, b"a", 0, 1), op("del", k, None, 1.5, 9, "unknown"),
         op("get", k, None, 2, 3, result=None)]
    assert not any(check_history(h, {k: None}))
    # A value nobody wrote.
    assert check_history([op("get", k, None, 0, 1, result=b"x")], {k: None})[3]
    print("faults: checker self-test: 1 passed, 0 failed")
    return 0


def main():
    if "--self-test" in sys.argv:
        return self_test()
    long_mode = "--long" in sys.argv
    only = None
    if "--only" in sys.argv:
        only = set(sys.argv[sys.argv.index("--only") + 1].split(","))
    netns.enter()
    seed = int(os.environ.get("RC_FAULTS_SEED", "0")) or int(time.time())
    rnd = random.Random(seed)
    hold = 10.0 if long_mode else 6.0
    rounds = 2 if long_mode else 1
    print(f"faults: seed {seed} (RC_FAULTS_SEED), {'long' if long_mode else 'short'} mode",
          flush=True)
    keys = [b"k%03d" % k for k in range(KEYS)]
    rows, failures = [], []
    with netns.Cluster(NODES, netns.server_bin(), args=SERVER_ARGS) as c:
        c.whole_kills = []
        c.start_all()
        c.wait_converged()
        load = Load(c, seed)
        load.start()
        time.sleep(2.0)
        for _ in range(rounds):
            for name, fn, deaths_ok in PHASES:
                if only and name not in only:
                    continue
                if name.startswith("skew") and FAKETIME_LIB is None:
                    print(f"faults: {name}: SKIPPED (libfaketime not installed)", flush=True)
                    continue
                n0 = len(load.ops)
                d0 = deaths_logged(c)
                load.phase = name
                t0 = time.monotonic()
                what = fn(c, rnd, hold)
                load.phase = name + "+heal"
                deaths = deaths_logged(c) - d0
                c.wait_converged(timeout=40.0)
                conv, bad, left = wait_whole(c, keys)
                with load.lock:
                    during = [o for o in load.ops[n0:] if o.t0 < t0 + hold + 6.0]
                okn = sum(1 for o in during if o.outcome == "ok")
                avail = okn / len(during) if during else 0.0
                rows.append((name, what, len(during), avail, conv, len(left),
                             deaths if not deaths_ok else None))
                if conv is None:
                    failures.append(f"{name}: {len(bad)} keys still divergent after "
                                    f"{CONVERGE_BOUND_S:.0f} s, e.g. {bad[:3]}")
                if left:
                    failures.append(f"{name}: {len(left)} copies held outside the replicas, "
                                    f"e.g. {left[:3]}")
                if not deaths_ok and deaths:
                    failures.append(f"{name}: {deaths} false deaths in the logs")
                print(f"faults: {name} ({what}): {len(during)} ops, availability "
                      f"{avail:.1%}, converged in "
                      f"{'%.1f s' % conv if conv is not None else 'NEVER'}, strays {len(left)}"
                      + (f", false deaths {deaths}" if not deaths_ok else ""), flush=True)
        load.finish()
        c.wait_converged(timeout=40.0)
        conv, bad, left = wait_whole(c, keys)
        final = final_state(c, keys)
        ops = load.ops
    window = 0
    for op in ops:
        if op.kind != "get" and op.outcome == "ok" and any(
                k - LOSS_WINDOW_S <= op.t1 <= k for k in c.whole_kills):
            op.outcome = "unknown"  # the contract lets the whole-cluster kill lose it
            window += 1
    lost, resurrected, stale, phantom = check_history(ops, final)
    acked = sum(1 for o in ops if o.kind != "get" and o.outcome == "ok")
    quorum_reads = sum(1 for o in ops if o.kind == "get" and o.outcome == "ok")
    print()
    print("| fault | what | ops | writes acknowledged | stale QUORUM reads | availability | "
          "converged after heal | strays | false deaths |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, what, n, avail, cv, st, fd in rows:
        mine = (name, name + "+heal")
        nacked = sum(1 for o in ops if o.phase in mine and o.kind != "get" and o.outcome == "ok")
        nstale = sum(1 for s in stale if s[2] in mine)
        print(f"| {name} | {what} | {n} | {nacked} | {nstale} | {avail:.1%} | "
              f"{'%.1f s' % cv if cv is not None else 'never'} | {st} | "
              f"{fd if fd is not None else '-'} |")
    print()
    print(f"faults: {len(ops)} operations, {acked} writes acknowledged, {quorum_reads} QUORUM "
          f"reads answered; lost {len(lost)}, resurrected {len(resurrected)}, stale QUORUM reads "
          f"{len(stale)}, phantom values {len(phantom)}; {window} writes acknowledged in the "
          f"last {LOSS_WINDOW_S:.1f} s before a kill of every node counted as unknown")
    for what, lst in (("lost", lost), ("resurrected", resurrected), ("stale", stale),
                      ("phantom", phantom)):
        if lst:
            failures.append(f"{len(lst)} {what}, e.g. {lst[:3]}")
    checks = 4 + 3 * len(rows)
    for f in failures:
        print(f"FAILED: {f}")
    print(f"{checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
