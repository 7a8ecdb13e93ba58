#!/usr/bin/python3
"""Redis string, expiry and single-key keyspace commands: ringcache against
redis-server, side by side (run by itest_redis_strings, which starts both).

  redis_strings.py compare <ringcache resp port> <redis port>
      the same script to both over raw RESP; replies compared byte for
      byte where deterministic, integers within a tolerance for times,
      ringcache's documented differences checked against their own text;
      then a redis-py smoke run against ringcache.
  redis_strings.py cluster <port1> <port2> <port3>
      the multi-key and read-modify-write commands through different
      nodes of a 3-node cluster (RF=3).
  redis_strings.py crash <port of node 1> <port of node 2> <pid of node 1>
      pipelined RENAMEs through node 1, which is killed (SIGKILL) half-way:
      read through node 2, every value is still under its old name or its
      new one (a duplicate at worst, never lost), and every RENAME that
      was acknowledged is complete.
  redis_strings.py reset <port of a node with --auth-file (password reset-pw)>
      RESET drops the connection's AUTH and name.
  redis_strings.py unavailable <live port>
      after the test killed two of the three nodes: RENAME and APPEND
      answer an error (no quorum), nothing half done is acknowledged.

Exit status 0 when everything matched; each mismatch is printed.
"""
import socket
import sys
import time

failures = []


class Conn:
    """A raw RESP connection (RESP2, and RESP3 after HELLO 3): sends a
    command, returns one reply's bytes."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def _line(self, pos):
        while True:
            i = self.buf.find(b"\r\n", pos)
            if i >= 0:
                return i
            self._need(len(self.buf) + 1)

    def _reply_end(self, pos):
        end = self._line(pos)
        kind, head = self.buf[pos:pos + 1], self.buf[pos + 1:end]
        pos = end + 2
        if kind in (b"+", b"-", b":", b"_", b"#", b",", b"("):
            return pos
        n = int(head)
        if kind in (b"$", b"=", b"!"):
            if n < 0:
                return pos
            self._need(pos + n + 2)
            return pos + n + 2
        if kind in (b"*", b"~", b">", b"%"):  # RESP3: a map has 2n elements
            for _ in range(max(n, 0) * (2 if kind == b"%" else 1)):
                pos = self._reply_end(pos)
            return pos
        raise ValueError("bad reply %r" % self.buf[:80])

    def cmd_reply(self):
        """The next reply of a pipeline already sent."""
        end = self._reply_end(0)
        rep, self.buf = self.buf[:end], self.buf[end:]
        return rep

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        end = self._reply_end(0)
        rep, self.buf = self.buf[:end], self.buf[end:]
        return rep


def fail(msg):
    print("FAIL " + msg)
    failures.append(msg)


def as_int(rep):
    return int(rep[1:-2]) if rep.startswith(b":") else None


def same(rc, rd, *args):
    a, b = rc.cmd(*args), rd.cmd(*args)
    shown = " ".join(str(x)[:40] for x in args)
    if a != b:
        fail("%s: ringcache %r, redis %r" % (shown, a[:200], b[:200]))
    return a


def near(rc, rd, tol, *args):
    """Integer replies within tol of each other (TTLs, absolute times)."""
    a, b = rc.cmd(*args), rd.cmd(*args)
    ia, ib = as_int(a), as_int(b)
    if ia is None or ib is None or abs(ia - ib) > tol or (ia < 0) != (ib < 0):
        fail("%s: ringcache %r, redis %r (tolerance %d)" % (" ".join(map(str, args)), a, b, tol))


def rc_only(rc, want, *args):
    """A documented difference: ringcache's own answer."""
    a = rc.cmd(*args)
    ok = a.startswith(want) if isinstance(want, bytes) else want(a)
    if not ok:
        fail("%s: ringcache %r, want %r" % (" ".join(map(str, args)), a[:200], want))


ERRS = [  # (command...) that must answer the same error (or value) on both
    ("SETNX", "a"), ("SETNX", "a", "b", "c"), ("SETEX", "a", "1"), ("PSETEX", "a"),
    ("GETSET", "a"), ("GETDEL",), ("GETDEL", "a", "b"), ("GETEX",), ("APPEND", "a"),
    ("STRLEN",), ("GETRANGE", "a", "0"), ("SUBSTR", "a"), ("SETRANGE", "a", "0"),
    ("MSETNX", "a"), ("MSETNX", "a", "1", "b"), ("EXPIREAT", "a"), ("PEXPIREAT", "a"),
    ("EXPIRETIME",), ("PEXPIRETIME", "a", "b"), ("PERSIST",), ("TYPE",), ("TOUCH",),
    ("OBJECT",), ("OBJECT", "ENCODING"), ("OBJECT", "ENCODING", "a", "b"),
    ("OBJECT", "HELP", "x"), ("OBJECT", "FOO", "a"), ("MEMORY",), ("MEMORY", "FOO"),
    ("MEMORY", "USAGE"), ("MEMORY", "USAGE", "a", "SAMPLES"),
    ("MEMORY", "USAGE", "a", "SAMPLES", "x"), ("MEMORY", "USAGE", "a", "FOO", "1"),
    ("TIME", "x"), ("WAIT", "0"), ("WAIT", "a", "0"), ("WAIT", "0", "a"),
    ("WAIT", "0", "-1"), ("RESET", "x"), ("RENAME", "a"), ("RENAMENX", "a", "b", "c"),
    ("COPY", "a"), ("COPY", "a", "a"), ("COPY", "a", "b", "FOO"), ("COPY", "a", "b", "DB"),
    ("COPY", "a", "b", "DB", "x"), ("SETEX", "a", "0", "v"), ("SETEX", "a", "-5", "v"),
    ("SETEX", "a", "x", "v"), ("SETEX", "a", "1.5", "v"), ("PSETEX", "a", "0", "v"),
    ("SETEX", "a", "9223372036854775807", "v"), ("PSETEX", "a", "9223372036854775807", "v"),
    ("SETEX", "a", "99999999999999999999", "v"),
    ("GETEX", "a", "EX"), ("GETEX", "a", "EX", "0"), ("GETEX", "a", "PX", "-1"),
    ("GETEX", "a", "EX", "x"), ("GETEX", "a", "PERSIST", "EX", "10"),
    ("GETEX", "a", "EX", "10", "PX", "10"), ("GETEX", "a", "FOO"),
    ("GETRANGE", "a", "x", "1"), ("GETRANGE", "a", "0", "1.5"),
    ("SETRANGE", "a", "x", "v"), ("SETRANGE", "a", "-1", "v"),
    ("SETRANGE", "a", "536870912", "v"), ("SETRANGE", "a", "536870911", "vv"),
    ("SETRANGE", "a", "9223372036854775807", "v"),
    ("EXPIRE", "a", "10", "NX", "XX"), ("EXPIRE", "a", "10", "NX", "GT"),
    ("EXPIRE", "a", "10", "GT", "LT"), ("EXPIRE", "a", "10", "FOO"),
    ("EXPIRE", "a", "x"), ("EXPIRE", "a", "9223372036854775807"),
    ("PEXPIRE", "a", "9223372036854775807"), ("EXPIREAT", "a", "9223372036854775807"),
    ("PEXPIREAT", "a", "x"), ("EXPIRE", "a", "-9223372036854775808"),
    ("SET", "a", "v", "KEEPTTL", "EX", "10"), ("SET", "a", "v", "EX", "10", "KEEPTTL"),
    ("SET", "a", "v", "NX", "XX"), ("SET", "a", "v", "EX", "0"),
    ("SET", "a", "v", "PXAT", "0"), ("SET", "a", "v", "GET", "FOO"),
    ("SET", "a", "v", "EX", "x"), ("SET", "a", "v", "EX", "x", "NX", "XX"),
    ("SET", "a", "v", "EX", "9223372036854775"), ("SET", "a", "v", "PX", "-1"),
    ("SET", "a", "v", "EX"), ("SET", "a", "v", "XX", "NX"), ("SET", "a", "v", "PX", "1", "EX", "1"),
    ("AUTH", "default", "anything"), ("AUTH", "nobody", "pw"), ("AUTH", "pw"),
    ("AUTH", "a", "b", "c"),
]


def compare(rcport, rdport):
    rc, rd = Conn(rcport), Conn(rdport)
    n = 0
    for args in ERRS:
        same(rc, rd, *args)
        n += 1
    script = [
        # APPEND, STRLEN, GETRANGE, SETRANGE
        ("APPEND", "s:app", "abc"), ("APPEND", "s:app", "def"), ("GET", "s:app"),
        ("STRLEN", "s:app"), ("STRLEN", "s:none"), ("APPEND", "s:app", ""),
        ("GETRANGE", "s:app", "0", "-1"), ("GETRANGE", "s:app", "-3", "-1"),
        ("GETRANGE", "s:app", "-100", "100"), ("GETRANGE", "s:app", "4", "1"),
        ("GETRANGE", "s:app", "-1", "-5"), ("GETRANGE", "s:app", "2", "2"),
        ("GETRANGE", "s:app", "10", "20"), ("GETRANGE", "s:none", "0", "-1"),
        ("SUBSTR", "s:app", "1", "3"),
        ("SETRANGE", "s:app", "1", "XY"), ("GET", "s:app"),
        ("SETRANGE", "s:app", "8", "Z"), ("GET", "s:app"), ("STRLEN", "s:app"),
        ("SETRANGE", "s:new", "3", "ab"), ("GET", "s:new"),
        ("SETRANGE", "s:new", "0", ""), ("SETRANGE", "s:none", "5", ""), ("EXISTS", "s:none"),
        # SETNX, SETEX, PSETEX, GETSET, GETDEL
        ("SETNX", "s:nx", "1"), ("SETNX", "s:nx", "2"), ("GET", "s:nx"),
        ("SETEX", "s:ex", "100", "v"), ("GET", "s:ex"), ("PSETEX", "s:pex", "100000", "v"),
        ("GETSET", "s:ex", "w"), ("TTL", "s:ex"), ("GETSET", "s:gs", "x"), ("GET", "s:gs"),
        ("GETDEL", "s:gs"), ("GETDEL", "s:gs"), ("EXISTS", "s:gs"),
        # GETEX
        ("SET", "s:gx", "v"), ("GETEX", "s:gx"), ("TTL", "s:gx"),
        ("GETEX", "s:gx", "PERSIST"), ("TTL", "s:gx"), ("GETEX", "s:none", "EX", "10"),
        ("GETEX", "s:gx", "PXAT", "1"), ("EXISTS", "s:gx"), ("SET", "s:gx2", "v"),
        ("GETEX", "s:gx2", "EX", "0"), ("GETEX", "s:gx2", "EX", "x"),
        ("GETEX", "s:gx2", "PX", "-1"), ("TTL", "s:gx2"),
        # SET GET / KEEPTTL / NX / XX
        ("SET", "s:set", "a", "GET"), ("SET", "s:set", "b", "GET"),
        ("SET", "s:set", "c", "NX", "GET"), ("GET", "s:set"),
        ("SET", "s:set2", "c", "XX", "GET"), ("EXISTS", "s:set2"),
        ("SET", "s:set2", "c", "NX", "GET"), ("SET", "s:set2", "d", "XX"),
        ("SET", "s:set2", "e", "NX"), ("GET", "s:set2"),
        ("SET", "s:kt", "a", "EX", "1000"), ("SET", "s:kt", "b", "KEEPTTL"),
        ("SET", "s:kt2", "a", "KEEPTTL", "GET"), ("TTL", "s:kt2"),
        # MSETNX
        ("MSETNX", "s:m1", "a", "s:m2", "b"), ("MSETNX", "s:m2", "x", "s:m3", "y"),
        ("MGET", "s:m1", "s:m2", "s:m3"),
        ("MSETNX", "s:d", "1", "s:e", "2", "s:d", "3", "s:d", "4"), ("MGET", "s:d", "s:e"),
        # EXPIRE with flags, EXPIREAT, PERSIST, EXPIRETIME
        ("EXPIRE", "s:m1", "100", "XX"), ("EXPIRE", "s:m1", "100", "GT"),
        ("EXPIRE", "s:m1", "100", "LT"), ("EXPIRE", "s:m1", "100", "NX"),
        ("EXPIRE", "s:m1", "100", "NX"), ("EXPIRE", "s:m1", "50", "GT"),
        ("EXPIRE", "s:m1", "200", "GT"), ("EXPIRE", "s:m1", "300", "LT"),
        ("EXPIRE", "s:m1", "30", "LT"), ("EXPIRE", "s:m1", "60", "XX"),
        ("EXPIRE", "s:none", "10"), ("EXPIRE", "s:none", "10", "NX"),
        ("PERSIST", "s:m1"), ("PERSIST", "s:m1"), ("TTL", "s:m1"), ("PERSIST", "s:none"),
        ("EXPIRETIME", "s:m1"), ("PEXPIRETIME", "s:none"),
        ("EXPIREAT", "s:m3", "1"), ("EXPIREAT", "s:m2", "1"), ("EXISTS", "s:m2"),
        ("PEXPIREAT", "s:m1", "1", "GT"), ("EXISTS", "s:m1"), ("EXPIRE", "s:m1", "-1"),
        ("EXISTS", "s:m1"), ("SET", "s:neg", "v"), ("PEXPIRE", "s:neg", "0"),
        ("EXISTS", "s:neg"),
        # TYPE, TOUCH, OBJECT, MEMORY
        ("SET", "s:t", "v"), ("TYPE", "s:t"), ("TYPE", "s:none"),
        ("TOUCH", "s:t", "s:none", "s:t"), ("TOUCH", "s:none"),
        ("SET", "s:i", "123"), ("OBJECT", "ENCODING", "s:i"), ("OBJECT", "REFCOUNT", "s:i"),
        ("SET", "s:i2", "-12345"), ("OBJECT", "ENCODING", "s:i2"),
        ("OBJECT", "REFCOUNT", "s:i2"), ("SET", "s:z", "007"), ("OBJECT", "ENCODING", "s:z"),
        ("OBJECT", "ENCODING", "s:t"), ("SET", "s:raw", "x" * 45),
        ("OBJECT", "ENCODING", "s:raw"), ("OBJECT", "ENCODING", "s:none"),
        ("OBJECT", "REFCOUNT", "s:none"), ("MEMORY", "USAGE", "s:none"),
        # RENAME, RENAMENX, COPY
        ("RENAME", "s:none", "s:x"), ("RENAMENX", "s:none", "s:x"),
        ("RENAME", "s:t", "s:t"), ("RENAMENX", "s:t", "s:t"),
        ("RENAME", "s:t", "s:t2"), ("EXISTS", "s:t"), ("GET", "s:t2"),
        ("RENAMENX", "s:t2", "s:i"), ("RENAMENX", "s:t2", "s:t3"), ("GET", "s:t3"),
        ("SET", "s:ttl", "v", "EX", "500"), ("RENAME", "s:ttl", "s:ttl2"),
        ("COPY", "s:t3", "s:c"), ("COPY", "s:t3", "s:c"), ("COPY", "s:i", "s:c", "REPLACE"),
        ("GET", "s:c"), ("COPY", "s:none", "s:c2"), ("COPY", "s:t3", "s:c3", "DB", "0"),
        ("COPY", "s:ttl2", "s:c4"),
        # edges: extreme numbers
        ("SET", "s:e", "hello"), ("GETRANGE", "s:e", "0", "9223372036854775807"),
        ("GETRANGE", "s:e", "-9223372036854775808", "-1"),
        ("GETRANGE", "s:e", "-9223372036854775808", "-9223372036854775808"),
        ("GETRANGE", "s:e", "9223372036854775807", "-1"), ("SETRANGE", "s:e", "0", ""),
        ("PEXPIRE", "s:e", "-9223372036854775808"), ("EXISTS", "s:e"),
        ("EXPIREAT", "s:none", "-9223372036854775808"),
        ("SET", "s:n1", "12345678901234567890"), ("OBJECT", "ENCODING", "s:n1"),
        ("SET", "s:n2", "-9223372036854775808"), ("OBJECT", "ENCODING", "s:n2"),
        ("SET", "s:n3", "9999"), ("OBJECT", "REFCOUNT", "s:n3"),
        ("SET", "s:n4", "10000"), ("OBJECT", "REFCOUNT", "s:n4"),
        ("SET", "s:n5", "-1"), ("OBJECT", "REFCOUNT", "s:n5"),
        ("SET", "s:n6", "+1"), ("OBJECT", "ENCODING", "s:n6"),
        ("SET", "s:n7", " 1"), ("OBJECT", "ENCODING", "s:n7"),
        ("SET", "s:n8", "x" * 44), ("OBJECT", "ENCODING", "s:n8"),
        ("SET", "s:n9", ""), ("OBJECT", "ENCODING", "s:n9"), ("STRLEN", "s:n9"),
        ("GETRANGE", "s:n9", "0", "-1"), ("APPEND", "s:n9", ""), ("TYPE", "s:n9"),
        # the rest
        ("WAIT", "0", "0"), ("WAIT", "5", "10"), ("RESET",), ("PING",),
    ]
    for args in script:
        same(rc, rd, *args)
        n += 1
    times = [
        (2, "TTL", "s:ex"), (2000, "PTTL", "s:pex"), (2, "TTL", "s:kt"), (2, "TTL", "s:m1"),
        (2, "TTL", "s:ttl2"), (2, "TTL", "s:c4"), (2, "EXPIRETIME", "s:ttl2"),
        (2000, "PEXPIRETIME", "s:c4"),
    ]
    for t in times:
        near(rc, rd, t[0], *t[1:])
        n += 1
    # Inside MULTI/EXEC (queued, then run in order); RESET leaves MULTI.
    for args in (("MULTI",), ("APPEND", "s:tx", "ab"), ("GETRANGE", "s:tx", "0", "-1"),
                 ("SETNX", "s:tx", "zz"), ("SET", "s:tx", "cd", "GET"), ("RENAME", "s:tx", "s:tx2"),
                 ("GETDEL", "s:tx2"), ("EXPIRE", "s:tx2", "10", "NX"), ("STRLEN", "s:tx2"),
                 ("EXEC",), ("MULTI",), ("SET", "s:tx3", "v"), ("RESET",), ("EXEC",),
                 ("EXISTS", "s:tx3")):
        same(rc, rd, *args)
        n += 1
    # RESP3 (HELLO 3): nulls are "_"; RESET goes back to RESP2.
    rc.cmd("HELLO", "3")
    rd.cmd("HELLO", "3")
    for args in (("GETDEL", "s:none"), ("GETEX", "s:none"), ("SET", "s:none", "v", "XX"),
                 ("SET", "s:none", "v", "XX", "GET"), ("OBJECT", "ENCODING", "s:none"),
                 ("MEMORY", "USAGE", "s:none"), ("GETSET", "s:r3", "v"), ("GETRANGE", "s:none", "0", "1"),
                 ("TIME", "x"), ("RESET",), ("GETDEL", "s:none")):
        same(rc, rd, *args)
        n += 1
    # Expiry happens: a 100 ms TTL set through GETEX, SET PX, PSETEX.
    for c in (rc, rd):
        c.cmd("SET", "s:short", "v")
        c.cmd("GETEX", "s:short", "PX", "100")
        c.cmd("PSETEX", "s:short2", "100", "v")
    time.sleep(0.4)
    same(rc, rd, "EXISTS", "s:short", "s:short2")
    # TIME: two bulk strings, within a second of Redis's.
    a, b = rc.cmd("TIME"), rd.cmd("TIME")
    ta, tb = a.split(b"\r\n"), b.split(b"\r\n")
    if ta[0] != b"*2" or abs(int(ta[2]) - int(tb[2])) > 2 or not 0 <= int(ta[4]) < 1000000:
        fail("TIME: ringcache %r, redis %r" % (a, b))
    # MEMORY USAGE: an integer on both (ringcache's is its own store's size).
    a, b = rc.cmd("MEMORY", "USAGE", "s:raw"), rd.cmd("MEMORY", "USAGE", "s:raw")
    if as_int(a) is None or as_int(b) is None or as_int(a) < 45:
        fail("MEMORY USAGE: ringcache %r, redis %r" % (a, b))
    # The documented differences.
    nt = b"-ERR ringcache is a key-value cache: lists, hashes, sets, sorted sets and streams"
    for args in (("LPUSH", "l", "a"), ("RPUSH", "l"), ("LRANGE", "l", "0", "-1"),
                 ("HSET", "h", "f", "v"), ("HGETALL", "h"), ("SADD", "s", "m"),
                 ("SMEMBERS", "s"), ("ZADD", "z", "1", "m"), ("ZRANGE", "z", "0", "-1"),
                 ("XADD", "x", "*", "f", "v"), ("HGET",)):
        rc_only(rc, nt, *args)
    rc_only(rc, b"-ERR DB index is out of range", "COPY", "s:t3", "s:c5", "DB", "1")
    rc_only(rc, b"-ERR ringcache does not track per-key access frequency",
            "OBJECT", "FREQ", "s:t3")
    rc_only(rc, b"-ERR ringcache does not track per-key access time",
            "OBJECT", "IDLETIME", "s:t3")
    rc_only(rc, lambda r: r.startswith(b"-ERR string exceeds maximum allowed size (ringcache"),
            "SETRANGE", "s:big", "2000000", "x")
    rc_only(rc, b"$-1", "GET", "s:big")
    rc.cmd("SET", "s:big", "x" * 1000)
    rc_only(rc, lambda r: r.startswith(b"-ERR string exceeds maximum allowed size (ringcache"),
            "APPEND", "s:big", "y" * 1048000)
    rc_only(rc, b":1000", "STRLEN", "s:big")
    rc_only(rc, b"+PONG", "PING")
    print("%d commands compared with redis-server" % n)
    redis_py(rcport)


def redis_py(port):
    """Debian's redis-py against ringcache: a few of the commands."""
    try:
        import redis
    except ImportError:
        print("python3-redis not installed: redis-py smoke skipped")
        return
    r = redis.Redis(host="127.0.0.1", port=port)
    checks = [
        (lambda: r.set("py:a", "1", get=True), None),
        (lambda: r.set("py:a", "2", get=True), b"1"),
        (lambda: r.setnx("py:a", "3"), False),
        (lambda: r.append("py:a", "xy"), 3),
        (lambda: r.getrange("py:a", 1, -1), b"xy"),
        (lambda: r.setrange("py:a", 0, "Z"), 3),
        (lambda: r.strlen("py:a"), 3),
        (lambda: r.getdel("py:a"), b"Zxy"),
        (lambda: r.setex("py:b", 100, "v"), True),
        (lambda: r.expire("py:b", 50, gt=True), False),
        (lambda: r.expire("py:b", 50, lt=True), True),
        (lambda: r.persist("py:b"), True),
        (lambda: r.getex("py:b", ex=30), b"v"),
        (lambda: 25 <= r.ttl("py:b") <= 30, True),
        (lambda: r.msetnx({"py:c": "1", "py:d": "2"}), True),
        (lambda: r.rename("py:c", "py:e"), True),
        (lambda: r.copy("py:e", "py:f"), True),
        (lambda: r.mget("py:c", "py:e", "py:f"), [None, b"1", b"1"]),
        (lambda: r.type("py:e"), b"string"),
        (lambda: r.touch("py:e", "py:f", "py:none"), 2),
        (lambda: r.object("encoding", "py:e"), b"int"),
        (lambda: len(r.time()), 2),
    ]
    for i, (fn, want) in enumerate(checks):
        try:
            got = fn()
        except Exception as e:  # noqa: BLE001 - any failure is a mismatch
            got = "%s: %s" % (type(e).__name__, e)
        if got != want:
            fail("redis-py check %d: got %r, want %r" % (i, got, want))
    try:
        r.lpush("py:l", "a")
        fail("redis-py lpush: no error")
    except redis.ResponseError as e:
        if "ringcache is a key-value cache" not in str(e):
            fail("redis-py lpush: %s" % e)
    print("redis-py %s: %d checks" % (redis.__version__, len(checks) + 1))


def expect(c, want, *args):
    got = c.cmd(*args)
    if got != want:
        fail("%s: got %r, want %r" % (" ".join(map(str, args)), got[:200], want))


def cluster(ports):
    """The multi-key and read-modify-write commands through different
    nodes: what one node writes, the others read."""
    c = [Conn(p) for p in ports]
    expect(c[0], b"+OK\r\n", "SET", "c:src", "value", "EX", "1000")
    expect(c[1], b"+OK\r\n", "RENAME", "c:src", "c:dst")
    expect(c[2], b"$-1\r\n", "GET", "c:src")
    expect(c[2], b"$5\r\nvalue\r\n", "GET", "c:dst")
    ttl = as_int(c[0].cmd("TTL", "c:dst"))
    if ttl is None or not 990 <= ttl <= 1000:
        fail("RENAME kept no TTL: %r" % ttl)
    expect(c[0], b":0\r\n", "RENAMENX", "c:dst", "c:dst")
    expect(c[2], b"+OK\r\n", "SET", "c:other", "x")
    expect(c[1], b":0\r\n", "RENAMENX", "c:dst", "c:other")
    expect(c[0], b":1\r\n", "COPY", "c:dst", "c:copy")
    expect(c[2], b"$5\r\nvalue\r\n", "GET", "c:copy")
    expect(c[1], b":0\r\n", "COPY", "c:dst", "c:other")
    expect(c[0], b":1\r\n", "COPY", "c:dst", "c:other", "REPLACE")
    expect(c[1], b"$5\r\nvalue\r\n", "GET", "c:other")
    expect(c[0], b":1\r\n", "MSETNX", "c:m1", "1", "c:m2", "2", "c:m3", "3")
    expect(c[1], b":0\r\n", "MSETNX", "c:m4", "4", "c:m2", "x")
    expect(c[2], b"*4\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$-1\r\n",
           "MGET", "c:m1", "c:m2", "c:m3", "c:m4")
    # Read-modify-write one after the other through each node in turn.
    for i in range(9):
        expect(c[i % 3], b":%d\r\n" % (i + 1), "APPEND", "c:app", "x")
    expect(c[1], b"$9\r\nxxxxxxxxx\r\n", "GET", "c:app")
    expect(c[0], b":1\r\n", "SETNX", "c:nx", "a")
    expect(c[1], b":0\r\n", "SETNX", "c:nx", "b")
    expect(c[2], b"$1\r\na\r\n", "GETSET", "c:nx", "c")
    expect(c[0], b":1\r\n", "EXPIRE", "c:nx", "100", "NX")
    expect(c[1], b":0\r\n", "EXPIRE", "c:nx", "100", "NX")
    expect(c[2], b":1\r\n", "PERSIST", "c:nx")
    expect(c[0], b":-1\r\n", "TTL", "c:nx")
    expect(c[1], b"$1\r\nc\r\n", "GETDEL", "c:nx")
    expect(c[2], b":0\r\n", "EXISTS", "c:nx")
    expect(c[0], b":1\r\n", "WAIT", "0", "0")  # W=2: one replica besides the first
    # A transaction of them through a node (each waits for replicas).
    for args in (("MULTI",), ("APPEND", "c:tx", "a"), ("APPEND", "c:tx", "b"),
                 ("GETRANGE", "c:tx", "0", "-1"), ("RENAME", "c:tx", "c:tx2")):
        c[2].cmd(*args)
    expect(c[2], b"*4\r\n:1\r\n:2\r\n$2\r\nab\r\n+OK\r\n", "EXEC")
    expect(c[0], b"$2\r\nab\r\n", "GET", "c:tx2")
    same_node_races(ports[1])
    # For the unavailable step: a source on every replica.
    expect(c[0], b"+OK\r\n", "SET", "c:keep", "kept")
    print("cluster: multi-key and read-modify-write commands agree across nodes")


def same_node_races(port):
    """Many connections (a pool) through one node: APPEND, SETNX, SET NX
    GET of one key are queued behind each other on that node, so none is
    lost and exactly one SETNX wins, as in Redis."""
    import threading
    conns, per = 8, 100
    wins = []

    def appender(i):
        c = Conn(port)
        out = b"*3\r\n$6\r\nAPPEND\r\n$6\r\nc:race\r\n$1\r\nx\r\n" * per
        c.s.sendall(out)  # pipelined: up to 100 in flight per connection
        for _ in range(per):
            if not c.cmd_reply().startswith(b":"):
                fail("APPEND race: error")

    def setnx(i):
        c = Conn(port)
        got = c.cmd("SETNX", "c:nxrace", "v%d" % i)
        if got == b":1\r\n":
            wins.append(i)
        got = c.cmd("SET", "c:nxrace2", "v%d" % i, "NX", "GET")
        if got == b"$-1\r\n":
            wins.append(100 + i)

    for fn in (appender, setnx):
        ts = [threading.Thread(target=fn, args=(i,)) for i in range(conns)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    c = Conn(port)
    expect(c, b":%d\r\n" % (conns * per), "STRLEN", "c:race")
    if len([w for w in wins if w < 100]) != 1 or len([w for w in wins if w >= 100]) != 1:
        fail("SETNX / SET NX GET races through one node: winners %r" % wins)
    print("one node: %d concurrent APPENDs all kept, one SETNX winner of %d"
          % (conns * per, conns))


def unavailable(port):
    """Two of three nodes down (R=W=2 cannot be met): RENAME fails with an
    error, and the source is still there for a read at ONE."""
    c = Conn(port)
    got = c.cmd("RENAME", "c:keep", "c:moved")
    if not got.startswith(b"-UNAVAILABLE") and not got.startswith(b"-TIMEOUT"):
        fail("RENAME with two nodes down: %r" % got)
    got = c.cmd("APPEND", "c:keep", "x")
    if not got.startswith(b"-"):
        fail("APPEND with two nodes down: %r" % got)
    print("unavailable: RENAME/APPEND refused with %r" % got[:60])


def crash(port0, port1, pid0):
    """RENAME writes the new key, then deletes the old: a coordinator
    killed between the two leaves both, never neither."""
    import os
    import signal
    n = 3000
    c0, c1 = Conn(port0), Conn(port1)
    for i in range(0, n, 500):
        args = ["MSET"]
        for j in range(i, min(n, i + 500)):
            args += ["cr:src:%d" % j, "v%d" % j]
        expect(c1, b"+OK\r\n", *args)
    out = b"".join(b"*3\r\n$6\r\nRENAME\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                   % (len(a), a, len(b), b)
                   for a, b in ((b"cr:src:%d" % i, b"cr:dst:%d" % i) for i in range(n)))
    c0.s.sendall(out)
    # Once the first RENAME is answered, the next ones are in flight in
    # every phase (read, new key written, old key being deleted): kill
    # the node a few ms later, in the middle of them.
    if c0.cmd_reply() != b"+OK\r\n":
        fail("the first RENAME did not answer OK")
    time.sleep(0.01)
    os.kill(pid0, signal.SIGKILL)
    acked = 1
    try:
        while acked < n:
            if c0.cmd_reply() != b"+OK\r\n":
                fail("RENAME %d before the kill did not answer OK" % acked)
            acked += 1
    except (EOFError, OSError):
        pass  # the node is gone; the replies read are the acknowledged ones
    both = neither = moved = 0
    for i in range(n):
        got = c1.cmd("MGET", "cr:src:%d" % i, "cr:dst:%d" % i)
        want = b"v%d" % i
        has_src = got.startswith(b"*2\r\n$%d\r\n%s\r\n" % (len(want), want))
        has_dst = got.endswith(b"$%d\r\n%s\r\n" % (len(want), want))
        if i < acked and (has_src or not has_dst):
            fail("acknowledged RENAME %d not complete: %r" % (i, got))
        both += has_src and has_dst
        moved += has_dst and not has_src
        if not has_src and not has_dst:
            neither += 1
            fail("RENAME %d lost the value: %r" % (i, got))
    print("crash: %d of %d RENAMEs acknowledged before the kill; after it %d moved, %d under "
          "both names, %d under neither" % (acked, n, moved, both, neither))


def reset(port):
    """--auth-file with the password reset-pw: RESET drops the AUTH."""
    c = Conn(port)
    expect(c, b"-NOAUTH Authentication required.\r\n", "GET", "k")
    expect(c, b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
           "AUTH", "nobody", "reset-pw")
    expect(c, b"+OK\r\n", "AUTH", "default", "reset-pw")
    expect(c, b"+OK\r\n", "CLIENT", "SETNAME", "app")
    expect(c, b"$-1\r\n", "GET", "k")
    expect(c, b"+RESET\r\n", "RESET")
    expect(c, b"-NOAUTH Authentication required.\r\n", "GET", "k")
    expect(c, b"+OK\r\n", "AUTH", "reset-pw")
    expect(c, b"$-1\r\n", "CLIENT", "GETNAME")
    print("reset: RESET dropped the authentication and the name")


def main():
    mode = sys.argv[1]
    ports = [int(p) for p in sys.argv[2:]]
    if mode == "compare":
        compare(ports[0], ports[1])
    elif mode == "cluster":
        cluster(ports)
    elif mode == "crash":
        crash(ports[0], ports[1], ports[2])
    elif mode == "reset":
        reset(ports[0])
    elif mode == "unavailable":
        unavailable(ports[0])
    else:
        raise SystemExit("unknown mode " + mode)
    if failures:
        print("%d mismatches" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
