"""
test_bridge.py - a bridge partition: coordinators route around replicas they
cannot reach although gossip keeps everyone alive (issue 12, point 3).

Five nodes, RF 3. {1, 2} are cut from {4, 5}; node 3 still sees everybody,
so indirect probes through it keep every member alive and the ring never
changes. An open-loop load (500 ops/s, as in the issue's run) then
drives QUORUM PUTs and GETs over 2000 keys round-robin through every node. Each operation is classified from the key's replicas and the
rules: its quorum (2 of 3) is reachable from the coordinator or it is not.
The test checks, over the operations started once the breakers had time to
open (STEADY_AFTER_S into the load):
  - no node is ever seen dead or left, by any node;
  - every operation whose quorum is reachable succeeds;
  - the others fail fast: 95 % of them UNAVAILABLE within half a replica
    timeout (the rest are the breakers' probes, which wait one out);
  - p99 latency of all operations <= 2 x the replica timeout.
Then the partition heals under load: once the breakers' probes get
through, every operation succeeds again and no breaker stays open.
The placement model (common/ring.h, through libxxhash) is first checked
against the nodes' own key counts. It prints the figures either way. Run by CTest (label `faults`) as root;
otherwise it exits 77 (SKIP). Usage: RC_SERVER_BIN=... test_bridge.py
"""

import asyncio
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402

REPLICA_TIMEOUT_MS = 500  # short, so that a run costs seconds
NODES = 5
KEYS = 2000
# Failure detection: probe interval 300 ms x suspicion 4 x log10(5) is
# about 1 s of suspicion, ~5 s for a death to be known everywhere
# (common/swim.h); wait past it before loading, and keep watching.
DETECTION_WAIT_S = 6.0
LOAD_S = 8.0
# Arrivals per second over all nodes: the rate of the run in issue 12
# (490 ops/s), light enough for a 2-core machine running five nodes and
# this client, so client-side lag stays far below the bounds checked.
RATE = 500
# Breakers open within the first replica timeouts of the load; later
# operations are the steady state the bounds are about.
STEADY_AFTER_S = 2.0
# "Fast": a failed operation that did not wait out a replica (request or
# connect) timeout. Half of it, not a loopback round trip: on a loaded
# 2-core machine the client or a node can stall for 100-200 ms, and that
# is not what is measured here.
FAST_MS = REPLICA_TIMEOUT_MS / 2.0
# Share of unreachable-quorum operations that must fail fast with
# UNAVAILABLE: the rest are half-open probes, which wait out one timeout
# per peer per cool-down.
FAST_FAIL_SHARE = 0.95
# After the heal: the longest cool-down (8 s, server/peer.c) plus one
# replica timeout for the probe, plus slack for the machine.
HEAL_BOUND_S = 8.0 + 2 * REPLICA_TIMEOUT_MS / 1000.0 + 0.5
HEAL_LOAD_S = HEAL_BOUND_S + 2.0
HEAL_RATE = 250
# Operations with a reachable quorum must all succeed; an allowance for
# the odd one caught by a load spike on a 2-core machine shared with the
# five nodes.
OK_SHARE = 0.999


class Op:
    __slots__ = ("t0", "node", "kind", "key", "status", "ms")


def key_of(k):
    return b"k%07d" % k


async def load(c, keys, seconds, rate, seed):
    """Open loop: rate ops/s, round-robin over the nodes, each op on an idle
    connection to its node (a new one when none is idle), latency counted
    from when the op was due, so waiting clients do not slow the arrivals
    (no coordinated omission: a stalled replica shows in the latencies)."""
    rnd = random.Random(seed)
    loop = asyncio.get_running_loop()
    idle = {i: [] for i in c.indices}
    ops, tasks = [], []

    async def one(op):
        cl = None
        try:
            cl = idle[op.node].pop() if idle[op.node] else \
                await netns.AsyncClient.connect(netns.addr(op.node))
            if op.kind == "put":
                r = await asyncio.wait_for(cl.put(key_of(op.key), b"v", netns.QUORUM), 10)
            else:
                r = await asyncio.wait_for(cl.get(key_of(op.key), netns.QUORUM), 10)
            op.status = r.name
            idle[op.node].append(cl)
        except (OSError, ValueError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            op.status = f"client:{type(e).__name__}"
            if cl is not None:
                cl.close()
        op.ms = (loop.time() - op.t0) * 1000.0

    start = loop.time()
    for n in range(int(seconds * rate)):
        op = Op()
        op.t0 = start + n / rate
        op.node = c.indices[n % len(c.indices)]
        op.key = rnd.randrange(keys)
        op.kind = "put" if rnd.random() < 0.5 else "get"
        delay = op.t0 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        ops.append(op)
        tasks.append(asyncio.ensure_future(one(op)))
    await asyncio.gather(*tasks)
    for pool in idle.values():
        for cl in pool:
            cl.close()
    return ops


def watch_members(cluster, stop, seen):
    """Records every (observer, member, state) other than alive/suspect."""
    while not stop.is_set():
        for i in cluster.indices:
            try:
                for j, st in cluster.members(i).items():
                    if st not in ("alive", "suspect"):
                        seen.add((i, j, st))
            except (OSError, ValueError):
                seen.add((i, None, "no answer"))
        stop.wait(0.25)


def summary(name, ops):
    ms = [o.ms for o in ops]
    ok = sum(o.status in ("OK", "NOTFOUND") for o in ops)
    by = {}
    for o in ops:
        by[o.status] = by.get(o.status, 0) + 1
    print(f"  {name:<28} ops {len(ops):6d}  ok {100.0 * ok / max(1, len(ops)):6.2f} %  "
          f"p50 {netns.percentile(ms, 50):7.1f} ms  p99 {netns.percentile(ms, 99):7.1f} ms  "
          f"max {max(ms, default=0):7.1f} ms  {dict(sorted(by.items()))}", flush=True)
    return ok


def run(c):
    c.start_all()
    c.wait_converged()
    place = c.placement(rf=3)

    # Preload at ALL, and check the placement model against the nodes' own
    # key counts, so that the classification below is the cluster's.
    with c.client(1) as cl:
        for k in range(KEYS):
            r = cl.put(key_of(k), b"init", netns.ALL)
            assert r.status == netns.OK, f"preload {k}: {r.name} {r.message}"
    expect = {i: 0 for i in c.indices}
    reps = {}
    for k in range(KEYS):
        reps[k] = [c.index_of(n) for n in place.replicas(key_of(k))]
        for i in reps[k]:
            expect[i] += 1
    got = {}
    for i in c.indices:
        with c.client(i) as cl:
            got[i] = int(cl.stats()["keys"])
    assert got == expect, f"placement model disagrees: nodes hold {got}, model says {expect}"

    c.partition([1, 2], [4, 5])
    c.check_connectivity()
    print(f"bridge partition: {{1,2}} cut from {{4,5}}, 3 sees all; connectivity checked; "
          f"waiting {DETECTION_WAIT_S:.0f} s past failure detection", flush=True)

    stop = threading.Event()
    seen = set()
    watcher = threading.Thread(target=watch_members, args=(c, stop, seen))
    watcher.start()
    time.sleep(DETECTION_WAIT_S)

    t_load = time.monotonic()
    ops = asyncio.run(load(c, KEYS, LOAD_S, RATE, 12))
    base = ops[0].t0
    for o in ops:  # relative to the start of the load
        o.t0 -= base
    stop.set()
    watcher.join()

    stats = {}
    for i in c.indices:
        with c.client(i) as cl:
            stats[i] = cl.stats()

    def quorum_ok(o):
        return sum(c.reachable(o.node, r) for r in reps[o.key]) >= 2

    steady = [o for o in ops if o.t0 >= STEADY_AFTER_S]
    reach = [o for o in steady if quorum_ok(o)]
    cutoff = [o for o in steady if not quorum_ok(o)]
    print(f"load: {len(ops)} QUORUM ops in {time.monotonic() - t_load:.1f} s through {NODES} "
          f"nodes (open loop, {RATE} ops/s), replica timeout {REPLICA_TIMEOUT_MS} ms", flush=True)
    summary("all ops", ops)
    summary(f"steady (after {STEADY_AFTER_S:.0f} s)", steady)
    n_ok = summary("  quorum reachable", reach)
    summary("  quorum cut off", cutoff)
    slow = [o for o in reach if o.ms > REPLICA_TIMEOUT_MS / 2]
    if os.environ.get("RC_DEBUG") and slow:
        for o in slow[:20]:
            print(f"    slow reachable: t {o.t0:.2f} node {o.node} {o.kind} replicas {reps[o.key]} "
                  f"{o.status} {o.ms:.0f} ms")
    fast_unavail = [o for o in cutoff if o.status == "UNAVAILABLE" and o.ms <= FAST_MS]
    print(f"  fast failures (UNAVAILABLE within {FAST_MS:.0f} ms): {len(fast_unavail)} of "
          f"{len(cutoff)} cut-off ops", flush=True)
    for i in c.indices:
        s = stats[i]
        print(f"  node {i}: peer_breaker_open {s.get('peer_breaker_open', '-')} "
              f"peer_breaker_trips {s.get('peer_breaker_trips', '-')} "
              f"peer_fast_fails {s.get('peer_fast_fails', '-')} "
              f"errors_timeout {s.get('errors_timeout')} "
              f"errors_unavailable {s.get('errors_unavailable')}", flush=True)

    failures = []
    if seen:
        failures.append(f"members seen not alive: {sorted(seen, key=str)}")
    if not reach or not cutoff:
        failures.append("the key mix did not give both kinds of operations")
    elif n_ok < OK_SHARE * len(reach):
        failures.append(f"only {n_ok} of {len(reach)} ops with a reachable quorum succeeded")
    if any(o.status in ("OK", "NOTFOUND") for o in cutoff):
        failures.append("an op whose quorum was cut off succeeded (classification is wrong)")
    if len(fast_unavail) < FAST_FAIL_SHARE * len(cutoff):
        failures.append(f"only {len(fast_unavail)} of {len(cutoff)} ops with a cut-off quorum "
                        f"failed fast with UNAVAILABLE (want {FAST_FAIL_SHARE:.0%})")
    p99 = netns.percentile([o.ms for o in steady], 99)
    if p99 > 2 * REPLICA_TIMEOUT_MS:
        failures.append(f"p99 {p99:.0f} ms > 2 x replica timeout ({2 * REPLICA_TIMEOUT_MS} ms)")
    return failures + heal(c)


def heal(c):
    """Heals the partition under load: the breakers must close (their
    probes get through) within the longest cool-down plus a timeout, after
    which every operation succeeds again."""
    c.heal()
    c.check_connectivity()
    ops = asyncio.run(load(c, KEYS, HEAL_LOAD_S, HEAL_RATE, 34))
    base = ops[0].t0
    bad = [o.t0 - base for o in ops if o.status not in ("OK", "NOTFOUND")]
    late = [t for t in bad if t >= HEAL_BOUND_S]
    opened = {}
    for i in c.indices:
        with c.client(i) as cl:
            opened[i] = int(cl.stats().get("peer_breaker_open", 0))
    print(f"healed: {len(ops)} ops in {HEAL_LOAD_S:.0f} s, {len(bad)} failed, the last "
          f"{max(bad, default=0):.1f} s after the heal; breakers open at the end: {opened}",
          flush=True)
    failures = []
    if late:
        failures.append(f"{len(late)} ops failed more than {HEAL_BOUND_S:.1f} s after the heal")
    if any(opened.values()):
        failures.append(f"breakers still open after the heal: {opened}")
    return failures


def main():
    netns.enter()
    binary = netns.server_bin()
    args = ["--replica-timeout", str(REPLICA_TIMEOUT_MS), "--rf", "3", "--log-level", "info"]
    with netns.Cluster(NODES, binary, args=args, memory=True) as c:
        failures = run(c)
        if failures:
            for f in failures:
                print(f"FAIL: {f}", flush=True)
            raise SystemExit(1)
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
