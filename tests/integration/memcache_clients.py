#!/usr/bin/python3
"""Real memcached client libraries against ringcache's --memcache-port.

Run by tests/integration/test_memcache.c as
    memcache_clients.py <what> <port1> <port2> <port3>
with the memcached ports of a 3-node cluster. <what> is one of
pymemcache, hashclient, python-memcache, flags. Exits 0 when every check
holds, 1 with the failed check on stderr otherwise.

"flags" asserts that 32-bit client flags round-trip through the serializers
of both libraries (flags are stored with every item).
"""
import sys

from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient


def check(what, got, want):
    if got != want:
        sys.stderr.write("%s: got %r, want %r\n" % (what, got, want))
        sys.exit(1)


def pymemcache_basic(ports):
    c = Client(("127.0.0.1", ports[0]), default_noreply=False, connect_timeout=5, timeout=10)
    other = Client(("127.0.0.1", ports[1]), default_noreply=False, connect_timeout=5, timeout=10)
    check("set", c.set("py:a", b"1"), True)
    check("get via another node", other.get("py:a"), b"1")
    check("add existing", c.add("py:a", b"2"), False)
    check("replace missing", c.replace("py:none", b"x"), False)
    check("append", c.append("py:a", b"x"), True)
    check("prepend", c.prepend("py:a", b"y"), True)
    check("get", other.get("py:a"), b"y1x")
    value, cas = c.gets("py:a")
    check("gets value", value, b"y1x")
    check("cas ok", other.cas("py:a", b"new", cas), True)
    check("cas stale", c.cas("py:a", b"new2", cas), False)
    check("cas missing", c.cas("py:none", b"x", cas), None)
    check("get after cas", c.get("py:a"), b"new")
    check("set n", c.set("py:n", b"10"), True)
    check("incr", c.incr("py:n", 5), 15)
    check("decr floors at 0", other.decr("py:n", 100), 0)
    check("incr missing", c.incr("py:none", 1), None)
    # memcached pads a number that got shorter with spaces (in place); the
    # cluster's counter stores the number (README, memcached: incr/decr).
    check("get_many", c.get_many(["py:a", "py:n", "py:none"]), {"py:a": b"new", "py:n": b"0"})
    check("touch", c.touch("py:n", 100), True)
    check("touch missing", c.touch("py:none", 100), False)
    check("delete", c.delete("py:a"), True)
    check("delete again", c.delete("py:a"), False)
    check("binary value", c.set("py:bin", b"\x00\xff\r\nEND\r\n"), True)
    check("binary get", other.get("py:bin"), b"\x00\xff\r\nEND\r\n")
    many = {"py:m%d" % i: b"v%d" % i for i in range(500)}
    check("set_many", c.set_many(many), [])
    check("get_many 500", other.get_many(list(many)), {k: v for k, v in many.items()})
    check("expired at once", (c.set("py:e", b"x", expire=-1), c.get("py:e")), (True, None))
    check("version", c.version().startswith(b"1.6."), True)
    stats = c.stats()
    check("stats curr_items", b"curr_items" in stats, True)
    check("stats settings", b"maxbytes" in c.stats("settings"), True)
    # noreply: the default of pymemcache, pipelined with a read.
    c2 = Client(("127.0.0.1", ports[2]))
    for i in range(100):
        c2.set("py:nr%d" % i, b"x%d" % i)
    check("noreply sets", c2.get("py:nr99"), b"x99")


def hashclient(ports):
    """A key set through the HashClient (which spreads keys over the three
    nodes like any memcached cluster) is readable through every node: the
    cluster behind them replicates it."""
    servers = [("127.0.0.1", p) for p in ports]
    h = HashClient(servers, default_noreply=False, connect_timeout=5, timeout=10)
    keys = ["hc:%d" % i for i in range(200)]
    for k in keys:
        check("hash set " + k, h.set(k, k.encode()), True)
    check("hash get_many", h.get_many(keys), {k: k.encode() for k in keys})
    for p in ports:
        single = Client(("127.0.0.1", p), connect_timeout=5, timeout=10)
        got = single.get_many(keys)
        check("node %d has every key" % p, len(got), len(keys))
        check("node %d values" % p, got, {k: k.encode() for k in keys})
    check("hash delete", h.delete("hc:0"), True)
    for p in ports:
        check("deleted everywhere", Client(("127.0.0.1", p)).get("hc:0"), None)


def python_memcache(ports):
    import memcache

    m = memcache.Client(["127.0.0.1:%d" % p for p in ports[:1]])
    check("set", m.set("pm:a", b"hello"), True)
    check("get", m.get("pm:a"), b"hello")
    check("add existing", m.add("pm:a", b"x"), False)
    check("incr", (m.set("pm:n", b"5"), m.incr("pm:n"), m.decr("pm:n", 2)), (True, 6, 4))
    check("get_multi", m.get_multi(["pm:a", "pm:n", "pm:none"]), {"pm:a": b"hello", "pm:n": b"4"})
    check("delete", m.delete("pm:a"), 1)
    check("gone", m.get("pm:a"), None)
    check("stats", len(m.get_stats()), 1)


def flags(ports):
    """Values whose type is kept in the client flags come back as the same
    type (flags are stored with every item)."""
    from pymemcache import serde
    import memcache

    c = Client(("127.0.0.1", ports[0]), serde=serde.pickle_serde, default_noreply=False)
    other = Client(("127.0.0.1", ports[1]), serde=serde.pickle_serde)
    obj = {"a": [1, 2, 3], "b": "text"}
    c.set("fl:obj", obj)
    c.set("fl:int", 42)
    c.set("fl:str", "unicode é")
    check("pymemcache pickled dict", other.get("fl:obj"), obj)
    check("pymemcache int", other.get("fl:int"), 42)
    check("pymemcache str", other.get("fl:str"), "unicode é")
    m = memcache.Client(["127.0.0.1:%d" % ports[2]])
    m.set("fl:pm", 7)
    m.set("fl:pmobj", ["x", 1])
    check("python-memcache int", m.get("fl:pm"), 7)
    check("python-memcache list", m.get("fl:pmobj"), ["x", 1])


def main():
    what = sys.argv[1]
    ports = [int(p) for p in sys.argv[2:5]]
    {"pymemcache": pymemcache_basic, "hashclient": hashclient,
     "python-memcache": python_memcache, "flags": flags}[what](ports)


if __name__ == "__main__":
    main()
