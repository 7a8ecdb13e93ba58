#!/usr/bin/python3
"""gen_resp_docs.py - writes server/resp_docs_table.inc from a running
redis-server 7.0 (Debian's 7.0.15): for every command ringcache serves,
Redis's COMMAND DOCS entry and the last four fields of its COMMAND INFO
entry (ACL categories, tips, key specs, subcommands), in RESP3 bytes.

Why generated: the docs are Redis's own words and shapes (summaries,
history, key spec indexes, deprecation notes), ~40 KB of them; copying
them by hand drifts, asking the reference server does not. The served
names are read from server/resp_server.c's table (rows not answered by
rc_resp_str_no_type), plus EXTRA below; the subcommands of containers
are cut to the ones ringcache answers (SUBS), so redis-cli offers no
hint for a subcommand that would be refused.

Usage: scripts/gen_resp_docs.py PORT   (from the repository root)
Each reply is also fetched in RESP2 and checked against the RESP3 one
turned to RESP2 the way resp_docs.c does it (map -> array of 2n, set ->
array), so the downgrade rule is proven on every row.
"""
import re
import socket
import sys

# Served but not (yet) in this branch's table: the counter branch adds it.
EXTRA = ["incrbyfloat"]
# Subcommands ringcache answers (resp_client.c, resp_admin.c, resp_strings.c).
SUBS = {
    "client": ["id", "getname", "setname", "info", "list", "kill", "reply", "no-evict"],
    "config": ["get", "set"],
    "command": ["count", "docs", "info", "list"],
    "object": ["help", "encoding", "refcount", "freq", "idletime"],
    "memory": ["help", "usage"],
}


class Conn:
    def __init__(self, port, proto):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")
        if proto == 3:
            self.cmd("HELLO", "3")

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()

    def read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t in b"$":
            n = int(rest)
            if n < 0:
                return ("$", None)
            data = self.f.read(n + 2)[:-2]
            return ("$", data)
        if t in b"*~%":
            n = int(rest) * (2 if t == b"%" else 1)
            return (t.decode(), [self.read() for _ in range(n)])
        if t in b"+:":
            return (t.decode(), rest)
        raise SystemExit("unexpected reply type %r" % line)


def enc(v, proto=3):
    t, x = v
    if t == "$":
        return b"$-1\r\n" if x is None else b"$%d\r\n%s\r\n" % (len(x), x)
    if t in "+:":
        return t.encode() + x + b"\r\n"
    n = len(x)
    if t == "%":
        head = b"%%%d\r\n" % (n // 2) if proto == 3 else b"*%d\r\n" % n
    elif t == "~":
        head = b"~%d\r\n" % n if proto == 3 else b"*%d\r\n" % n
    else:
        head = b"*%d\r\n" % n
    return head + b"".join(enc(e, proto) for e in x)


def served_names(src):
    rows = re.findall(r'\{"([a-z-]+)", -?\d+, "[^"]*", -?\d+, -?\d+, -?\d+, (\w+),\s+\d\}', src)
    names = [n for n, fn in rows if fn != "rc_resp_str_no_type"] + EXTRA
    return list(dict.fromkeys(names))  # EXTRA once its row lands


def cut_docs(name, value):
    """The docs map with its subcommands cut to SUBS[name]."""
    items = value[1]
    for i in range(0, len(items), 2):
        if items[i] == ("$", b"subcommands"):
            keep = [name + "|" + s for s in SUBS[name]]
            sub = items[i + 1][1]
            pairs = [(sub[j], sub[j + 1]) for j in range(0, len(sub), 2)]
            got = [k[1].decode() for k, _ in pairs]
            missing = set(keep) - set(got)
            if missing:
                raise SystemExit("%s: no Redis docs for %s" % (name, missing))
            sub[:] = [e for k, v in pairs if k[1].decode() in keep for e in (k, v)]
    return value


def cut_info(name, entry):
    subs = entry[1][9][1]
    if name in SUBS:
        subs[:] = [e for e in subs if e[1][0][1].decode() in
                   [name + "|" + s for s in SUBS[name]]]
    return entry


def c_lines(data):
    """data as C string literals, one RESP element (header and payload) each."""
    out, i = [], 0
    while i < len(data):
        e = data.index(b"\r\n", i) + 2
        if data[i:i + 1] == b"$":
            e += max(int(data[i + 1:e - 2]), -2) + 2
        line, i = data[i:e], e
        s = line.decode().replace("\\", "\\\\").replace('"', '\\"')
        s = s.replace("\r", "\\r").replace("\n", "\\n")
        out.append('     "%s"' % s)
    return "\n".join(out)


def main():
    port = int(sys.argv[1])
    c3, c2 = Conn(port, 3), Conn(port, 2)
    version = c2.cmd("INFO", "server")[1].split(b"\r\n")[1].decode()
    if not version.startswith("redis_version:7.0."):
        raise SystemExit("want redis-server 7.0, got " + version)
    names = served_names(open("server/resp_server.c").read())
    rows = []
    for name in names:
        fulls = [name] + [name + "|" + s for s in SUBS.get(name, [])]
        for full in fulls:
            d3, d2 = c3.cmd("COMMAND", "DOCS", full), c2.cmd("COMMAND", "DOCS", full)
            i3, i2 = c3.cmd("COMMAND", "INFO", full), c2.cmd("COMMAND", "INFO", full)
            if len(d3[1]) != 2 or i3[1][0][1] is None:
                raise SystemExit("Redis does not know " + full)
            if enc(d3, 2) != enc(d2, 2) or enc(i3, 2) != enc(i2, 2):
                raise SystemExit(full + ": RESP3 -> RESP2 rule does not hold")
            docs = d3[1][1]
            info = i3[1][0]
            if full == name and name in SUBS:
                docs = cut_docs(name, docs)
                info = cut_info(name, info)
            if full == name:
                tail = b"".join(enc(e) for e in info[1][6:])
            else:
                tail = enc(info)
            rows.append((full, enc(docs), tail))
    out = ["/* Generated by scripts/gen_resp_docs.py from " + version +
           ": do not edit. */"]
    for full, docs, tail in rows:
        out.append('{"%s",\n%s,\n%s},' % (full, c_lines(docs), c_lines(tail)))
    open("server/resp_docs_table.inc", "w").write("\n".join(out) + "\n")
    print("%d rows" % len(rows))


main()
