"""
netns.py - a ringcache cluster inside a private network namespace, for fault tests.

Each node gets its own loopback address (node i is 127.0.0.i, client port
7400, peer port 7401: the same ports on every node, as in containers), so
iptables rules matched on source and destination address cut exactly the
links a test names. The namespace is private to the test: nothing it does
reaches the host's network, and everything in it goes when it ends.

A test script does:

    import netns
    netns.enter()                      # re-exec under `unshare -n`, or exit 77 (SKIP)
    with netns.Cluster(5, netns.server_bin(), args=["--replica-timeout", "500"]) as c:
        c.start_all()
        c.wait_converged()
        c.partition([1, 2], [4, 5])    # cut every link between the groups; 3 is a bridge
        c.check_connectivity()         # every pair connects exactly when not cut
        cl = c.client(1)               # native-protocol client to node 1
        cl.put(b"k", b"v", netns.QUORUM)
        c.kill(4); c.start(4); c.restart(1); c.pause(2); c.resume(2); c.heal()
        c.start(5, prefix=["faketime", "-f", "+20s"])   # a node with a skewed clock

What is here:
  enter()            root, unshare, ip and iptables are needed; without them the
                     script prints "SKIP: ..." and exits with SKIP (77, the
                     SKIP_RETURN_CODE of the CTest entry). Inside, lo is brought up.
  Cluster            start/stop/kill/pause/resume/restart of node processes (data on
                     disk or :memory:, optional cluster key; files in a temp dir, logs
                     in <dir>/node<i>.log, kept and named when the test fails, or
                     always with RC_FAULTS_KEEP=1); cut/partition/isolate/heal by
                     iptables DROP rules in INPUT, both directions, every protocol
                     (TCP replication and UDP gossip alike); check_connectivity();
                     members()/wait_converged(); placement().
  Client             blocking native-protocol client (docs/protocol.md: 8-byte frame
                     header + msgpack [op, id, {field: value}]), one request at a time;
                     its socket leaves from CLIENT_ADDR, which no rule cuts.
  AsyncClient        the same over asyncio, for open-loop load (a pool of
                     connections, one request in flight on each).
  Placement          which nodes replicate a key, from the ring contract in
                     common/ring.h (XXH3 through libxxhash, which the server links).
  percentile()       nearest-rank percentile of a list.

Servers get PR_SET_PDEATHSIG: if the test dies (CTest timeout), its nodes die with
it. Start and restart nodes from the main thread (the signal follows the thread
that forked). Needs /usr/bin/python3 with python3-msgpack.
"""

import asyncio
import bisect
import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import msgpack

SKIP = 77  # CTest SKIP_RETURN_CODE of the fault tests

CLIENT_PORT = 7400
PEER_PORT = 7401
# Test clients connect from here: an address no partition rule names, so
# a client always reaches the node it talks to, whatever the test cut.
CLIENT_ADDR = "127.0.0.100"

# Ops, fields, consistency levels and statuses (docs/protocol.md 5-7).
OP_PING, OP_GET, OP_PUT, OP_DEL, OP_STATS, OP_MEMBERS, OP_RING = 1, 2, 3, 4, 5, 6, 7
F_KEY, F_VALUE, F_TTL_MS, F_CONSISTENCY, F_MESSAGE, F_STATS, F_VERSION = 1, 2, 3, 4, 5, 6, 7
ONE, QUORUM, ALL = 1, 2, 3
OK, NOTFOUND, UNAVAILABLE, TIMEOUT = 0, 1, 13, 14
STATUS_NAMES = {0: "OK", 1: "NOTFOUND", 8: "INVAL", 10: "FULL", 11: "IO", 13: "UNAVAILABLE",
                14: "TIMEOUT", 15: "SHUTDOWN", 19: "DRIFT", 40: "CLUSTER_KEY"}
# Replies are capped like the server caps frames: no test reply is near it.
MAX_BODY = 16 << 20


def skip(why):
    print(f"SKIP: {why}", flush=True)
    sys.exit(SKIP)


def server_bin():
    """The server binary: $RC_SERVER_BIN (set by CTest), else SKIP."""
    path = os.environ.get("RC_SERVER_BIN", "")
    if not path or not os.access(path, os.X_OK):
        skip("RC_SERVER_BIN does not name an executable ringcache-server")
    return path


def addr(i):
    return f"127.0.0.{i}"


def enter():
    """Runs the rest of the calling script inside a new network namespace.

    Outside: checks what is needed (or SKIP), then replaces this process by
    `unshare -n` running the same script with the same arguments. Inside
    (RC_NETNS=1): brings lo up and checks iptables works there.
    """
    if os.environ.get("RC_NETNS") == "1":
        _inside()
        return
    if os.geteuid() != 0:
        skip("needs root (network namespace and iptables)")
    for tool in ("unshare", "ip", "iptables"):
        if shutil.which(tool) is None:
            skip(f"{tool} not found")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        skip(f"unshare -n refused: {probe.stderr.strip()}")
    env = dict(os.environ, RC_NETNS="1")
    sys.stdout.flush()
    os.execvpe("unshare", ["unshare", "-n", "--", sys.executable, os.path.abspath(sys.argv[0])]
               + sys.argv[1:], env)


def _inside():
    r = subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True, text=True)
    if r.returncode != 0:
        skip(f"cannot bring lo up in the namespace: {r.stderr.strip()}")
    r = subprocess.run(["iptables", "-w", "-L", "INPUT", "-n"], capture_output=True, text=True)
    if r.returncode != 0:
        skip(f"iptables does not work in the namespace: {r.stderr.strip()}")


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of values; 0.0 when empty."""
    if not values:
        return 0.0
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


# ---- native protocol client ------------------------------------------------------------


class Reply:
    def __init__(self, status, fields):
        self.status = status
        self.fields = fields

    @property
    def name(self):
        return STATUS_NAMES.get(self.status, str(self.status))

    @property
    def message(self):
        return self.fields.get(F_MESSAGE, "")

    @property
    def value(self):
        return self.fields.get(F_VALUE)


def encode_request(op, rid, fields):
    """One request frame: header (magic "RC", version 1, flags 0, body
    length big-endian) and the msgpack body [op, id, {field: value}]."""
    body = msgpack.packb([op, rid, fields or {}], use_bin_type=True)
    return b"RC\x01\x00" + struct.pack(">I", len(body)) + body


def body_length(hdr):
    """Body length from an 8-byte reply header; ValueError if malformed."""
    if hdr[:4] != b"RC\x01\x00":
        raise ValueError(f"bad frame header {hdr!r}")
    (n,) = struct.unpack(">I", hdr[4:])
    if n > MAX_BODY:
        raise ValueError(f"reply body of {n} bytes")
    return n


def decode_reply(body, rid):
    status, got, fields = msgpack.unpackb(body, raw=False, strict_map_key=False)
    if got != rid:
        raise ValueError(f"reply id {got}, expected {rid}")
    return Reply(status, fields)


def key_fields(key, level, value=None, ttl_ms=0):
    f = {F_KEY: key}
    if value is not None:
        f[F_VALUE] = value
    if level:
        f[F_CONSISTENCY] = level
    if ttl_ms:
        f[F_TTL_MS] = ttl_ms
    return f


class Client:
    """One blocking connection, one request at a time (no pipelining)."""

    def __init__(self, host, port=CLIENT_PORT, timeout=5.0, source=CLIENT_ADDR):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        try:
            if source:
                self.sock.bind((source, 0))
            self.sock.connect((host, port))
        except OSError:
            self.sock.close()
            raise
        self.next_id = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
        return bytes(buf)

    def request(self, op, fields=None):
        """Sends one request; returns its Reply. Raises OSError (socket.timeout
        included) on transport trouble, ValueError on a malformed reply."""
        self.next_id = (self.next_id + 1) & 0xFFFFFFFF
        self.sock.sendall(encode_request(op, self.next_id, fields))
        n = body_length(self._recv_exact(8))
        return decode_reply(self._recv_exact(n), self.next_id)

    def put(self, key, value, level=0, ttl_ms=0):
        return self.request(OP_PUT, key_fields(key, level, value, ttl_ms))

    def get(self, key, level=0):
        return self.request(OP_GET, key_fields(key, level))

    def delete(self, key, level=0):
        return self.request(OP_DEL, key_fields(key, level))

    def stats(self):
        r = self.request(OP_STATS)
        if r.status != OK:
            raise ValueError(f"STATS answered {r.name}")
        return r.fields.get(F_STATS, {})

    def members(self):
        """MEMBERS as a list of dicts (docs/protocol.md, MEMBERS)."""
        r = self.request(OP_MEMBERS)
        if r.status != OK:
            raise ValueError(f"MEMBERS answered {r.name}")
        return msgpack.unpackb(r.value, raw=False)


class AsyncClient:
    """asyncio version of Client: one request at a time per connection; for
    open-loop load, keep a pool of them (one per request in flight)."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.next_id = 0

    @classmethod
    async def connect(cls, host, port=CLIENT_PORT, source=CLIENT_ADDR):
        reader, writer = await asyncio.open_connection(
            host, port, local_addr=(source, 0) if source else None)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    def close(self):
        self.writer.close()

    async def request(self, op, fields=None):
        self.next_id = (self.next_id + 1) & 0xFFFFFFFF
        self.writer.write(encode_request(op, self.next_id, fields))
        n = body_length(await self.reader.readexactly(8))
        return decode_reply(await self.reader.readexactly(n), self.next_id)

    async def put(self, key, value, level=0, ttl_ms=0):
        return await self.request(OP_PUT, key_fields(key, level, value, ttl_ms))

    async def get(self, key, level=0):
        return await self.request(OP_GET, key_fields(key, level))

    async def delete(self, key, level=0):
        return await self.request(OP_DEL, key_fields(key, level))


# ---- placement ---------------------------------------------------------------------------


class Placement:
    """Replica sets per the placement contract of common/ring.h: key token
    XXH3-64(key), vnode token XXH3-64(le64(id), seed = index), ties by
    lowest id, preference list = first rf distinct members clockwise."""

    def __init__(self, ids, rf=3, vnodes=256):
        lib = ctypes.CDLL(ctypes.util.find_library("xxhash") or "libxxhash.so.0")
        self._h = lib.XXH3_64bits
        self._h.restype = ctypes.c_uint64
        self._h.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        hs = lib.XXH3_64bits_withSeed
        hs.restype = ctypes.c_uint64
        hs.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
        self.rf = min(rf, len(ids))
        vn = sorted((hs(struct.pack("<Q", i), 8, v), i) for i in ids for v in range(vnodes))
        self._tokens = [t for t, _ in vn]
        self._owners = [i for _, i in vn]

    def token(self, key):
        return self._h(key, len(key))

    def replicas(self, key):
        """Node ids replicating key, primary first."""
        k = bisect.bisect_left(self._tokens, self.token(key)) % len(self._tokens)
        out = []
        while len(out) < self.rf:
            if self._owners[k] not in out:
                out.append(self._owners[k])
            k = (k + 1) % len(self._tokens)
        return out


# ---- the cluster ----------------------------------------------------------------------------


def _die_with_parent():
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Node:
    def __init__(self, cluster, i):
        self.cluster = cluster
        self.i = i
        self.host = addr(i)
        self.data_dir = (":memory:" if cluster.memory
                         else os.path.join(cluster.dir, f"node{i}"))
        self.log_path = os.path.join(cluster.dir, f"node{i}.log")
        self.proc = None
        self.paused = False
        self.id = None  # 64-bit node id, known once it answered STATS

    def seeds(self):
        # Node 1 founds the cluster; once it has run it rejoins through the others.
        if self.i == 1 and self.id is None:
            return ""
        return ",".join(f"{addr(j)}:{PEER_PORT}" for j in self.cluster.indices if j != self.i)

    def start(self, prefix=(), env=None, args=()):
        """Starts the node. prefix goes before the server binary (e.g.
        ["faketime", "-f", "+20s"]), env is added to the environment, args
        after the cluster's."""
        assert self.proc is None or self.proc.poll() is not None, f"node {self.i} is running"
        if not self.cluster.memory:
            os.makedirs(self.data_dir, exist_ok=True)
        cmd = [*prefix, self.cluster.bin, "--bind", self.host, "--port", str(CLIENT_PORT),
               "--peer-port", str(PEER_PORT), "--data-dir", self.data_dir]
        if self.seeds():
            cmd += ["--seeds", self.seeds()]
        cmd += self.cluster.args + list(args)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
                                     env=dict(os.environ, **env) if env else None)
        log.close()
        self.paused = False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.running():
            self.proc.send_signal(sig)

    def wait_ready(self, timeout=15.0):
        """Waits until the node answers PING; learns its id."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.running():
                raise RuntimeError(f"node {self.i} exited ({self.proc.returncode}); "
                                   f"see {self.log_path}")
            try:
                with Client(self.host, timeout=1.0) as c:
                    self.id = int(c.stats()["node_id"], 16)
                    return
            except (OSError, ValueError):
                time.sleep(0.05)
        raise TimeoutError(f"node {self.i} not answering after {timeout} s")


class Cluster:
    """N nodes, node i on 127.0.0.i. Use as a context manager: on exit every
    node is killed and rules are flushed; the temp dir is removed unless the
    block raised (then its path is printed with the tail of each log)."""

    def __init__(self, n, bin_path, args=(), memory=False, cluster_key=False):
        """n nodes of bin_path with extra args; memory: --data-dir :memory:
        (else a directory per node, kept across restarts); cluster_key: a
        fresh key in <dir>/cluster.key for every node."""
        assert 1 <= n <= 99
        self.bin = bin_path
        self.args = list(args)
        self.memory = memory
        self.indices = list(range(1, n + 1))
        self.dir = tempfile.mkdtemp(prefix="rc-faults-")
        if cluster_key:
            path = os.path.join(self.dir, "cluster.key")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(os.urandom(32).hex() + "\n")
            self.args += ["--cluster-key-file", path]
        self.nodes = {i: Node(self, i) for i in self.indices}
        self.cuts = set()  # (a, b): packets from node a to node b are dropped

    def __enter__(self):
        return self

    def __exit__(self, etype, exc, tb):
        self.stop_all(sig=signal.SIGKILL)
        self.heal()
        if etype is None and not os.environ.get("RC_FAULTS_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        elif etype is None:
            print(f"cluster files kept in {self.dir} (RC_FAULTS_KEEP)", flush=True)
        else:
            print(f"cluster files kept in {self.dir}", flush=True)
            self.dump_logs()
        return False

    def node(self, i):
        return self.nodes[i]

    # -- processes --

    def start_all(self, timeout=20.0):
        for i in self.indices:
            self.nodes[i].start()
        for i in self.indices:
            self.nodes[i].wait_ready(timeout)

    def stop_all(self, sig=signal.SIGTERM, timeout=10.0):
        for n in self.nodes.values():
            if n.running():
                if n.paused:
                    n.signal(signal.SIGCONT)
                n.signal(sig)
        for n in self.nodes.values():
            if n.proc is not None:
                try:
                    n.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    n.proc.kill()
                    n.proc.wait()

    def kill(self, i, sig=signal.SIGKILL):
        """Kills node i (SIGKILL by default) and waits for it to exit."""
        n = self.nodes[i]
        if n.paused:
            n.signal(signal.SIGCONT)
        n.signal(sig)
        if n.proc is not None:
            n.proc.wait(30)

    def pause(self, i):
        self.nodes[i].signal(signal.SIGSTOP)
        self.nodes[i].paused = True

    def resume(self, i):
        self.nodes[i].signal(signal.SIGCONT)
        self.nodes[i].paused = False

    def start(self, i, timeout=20.0, **kw):
        """Starts node i (Node.start keywords: prefix, env, args) and waits
        until it answers."""
        self.nodes[i].start(**kw)
        self.nodes[i].wait_ready(timeout)

    def restart(self, i, sig=signal.SIGKILL, timeout=20.0, **kw):
        """Kills node i with sig (SIGTERM: a clean leave) and starts it again
        on the same data (lost with memory=True)."""
        self.kill(i, sig)
        self.start(i, timeout, **kw)

    def client(self, i, timeout=5.0):
        return Client(addr(i), timeout=timeout)

    # -- membership --

    def members(self, i):
        """Node i's view: {node index: state} (indices found by host address)."""
        with self.client(i, timeout=2.0) as c:
            ms = c.members()
        by_host = {addr(j): j for j in self.indices}
        return {by_host.get(m["host"], m["host"]): m["state"] for m in ms}

    def wait_converged(self, timeout=30.0, nodes=None):
        """Waits until every node in nodes (default all running) sees exactly
        those nodes alive."""
        nodes = nodes or [i for i in self.indices if self.nodes[i].running()]
        want = {j: "alive" for j in nodes}
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            try:
                views = {i: self.members(i) for i in nodes}
                if all({j: s for j, s in v.items() if s == "alive"} == want
                       for v in views.values()):
                    return
                last = views
            except (OSError, ValueError) as e:
                last = e
            time.sleep(0.2)
        raise TimeoutError(f"membership did not converge in {timeout} s: {last}")

    def placement(self, rf=3, vnodes=256):
        """Placement over every node (ids learnt at start); maps ids back
        to indices with index_of."""
        ids = [self.nodes[i].id for i in self.indices]
        assert None not in ids, "start the nodes first"
        return Placement(ids, rf, vnodes)

    def index_of(self, node_id):
        for i, n in self.nodes.items():
            if n.id == node_id:
                return i
        raise KeyError(hex(node_id))

    # -- network --

    def _iptables(self, *args):
        subprocess.run(["iptables", "-w", *args], check=True, capture_output=True)

    def cut(self, a, b):
        """Drops every packet between nodes a and b, both directions."""
        for s, d in ((a, b), (b, a)):
            if (s, d) not in self.cuts:
                self._iptables("-A", "INPUT", "-s", addr(s), "-d", addr(d), "-j", "DROP")
                self.cuts.add((s, d))

    def partition(self, *groups):
        """Cuts every link between nodes of different groups. Nodes in no
        group keep every link: partition([1, 2], [4, 5]) leaves 3 a bridge."""
        for gi, g in enumerate(groups):
            for h in groups[gi + 1:]:
                for a in g:
                    for b in h:
                        self.cut(a, b)

    def isolate(self, i):
        """Cuts node i from every other node (clients still reach it)."""
        for j in self.indices:
            if j != i:
                self.cut(i, j)

    def heal(self):
        """Removes every rule."""
        if self.cuts:
            self._iptables("-F", "INPUT")
            self.cuts.clear()

    def reachable(self, a, b):
        """Whether node a can talk to node b under the current rules."""
        return a == b or ((a, b) not in self.cuts and (b, a) not in self.cuts)

    def check_connectivity(self, timeout=0.5):
        """Asserts that a TCP connection from each node's address to each
        other's peer port opens exactly when the rules allow it (every
        target must be listening: running, or paused)."""
        pairs = [(a, b) for a in self.indices for b in self.indices if a != b]
        got = {}

        def probe(a, b):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(timeout)
            try:
                s.bind((addr(a), 0))
                s.connect((addr(b), PEER_PORT))
                got[(a, b)] = True
            except OSError:
                got[(a, b)] = False
            finally:
                s.close()

        threads = [threading.Thread(target=probe, args=p) for p in pairs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wrong = [f"{a}->{b} {'connects' if got[(a, b)] else 'blocked'}"
                 for a, b in pairs if got[(a, b)] != self.reachable(a, b)]
        if wrong:
            raise AssertionError("connectivity differs from the rules: " + ", ".join(wrong))

    def dump_logs(self, lines=25):
        for i in self.indices:
            try:
                with open(self.nodes[i].log_path, "rb") as f:
                    tail = f.read().decode("utf-8", "replace").splitlines()[-lines:]
            except OSError:
                continue
            print(f"--- node {i} ({self.nodes[i].log_path}), last {len(tail)} lines", flush=True)
            for line in tail:
                print(f"  {line}")
