#!/usr/bin/python3
"""redis-py against one server (argv[1]: its RESP port; argv[2], with
redis-py 5 or later: the protocol, 3 for RESP3), for
tests/integration/test_redis_proto.c, which runs it against ringcache and
against redis-server and compares the transcripts: pipelines with and
without a transaction, errors queued and at run time, WATCH through
redis-py's transaction helper and a conflicting write, a connection pool,
CLIENT SETNAME/GETNAME. Only what both servers must answer alike is
printed (no ids, versions or timings)."""
import sys

import redis


def main():
    port = int(sys.argv[1])
    kw = {"protocol": int(sys.argv[2])} if len(sys.argv) > 2 else {}
    pool = redis.ConnectionPool(host="127.0.0.1", port=port, db=0, max_connections=8, **kw)
    r = redis.Redis(connection_pool=pool)
    other = redis.Redis(host="127.0.0.1", port=port, **kw)
    out = []

    def show(what, value):
        out.append("%s: %r" % (what, value))

    r.delete("py:a", "py:b", "py:c", "py:d")

    p = r.pipeline()  # transaction=True: MULTI ... EXEC
    p.set("py:a", "1").get("py:a").mget("py:a", "py:nokey").exists("py:a", "py:nokey")
    p.expire("py:a", 100).ttl("py:a").delete("py:a").get("py:a")
    show("pipeline transaction", p.execute())

    p = r.pipeline(transaction=False)
    p.set("py:b", "x").get("py:b").delete("py:b").get("py:b")
    show("pipeline without transaction", p.execute())

    p = r.pipeline()
    p.set("py:b", "queued")
    p.execute_command("NOSUCHCOMMAND", "x")
    try:
        p.execute()
        show("queueing error", "no exception")
    except redis.exceptions.ResponseError as e:
        show("queueing error", (type(e).__name__, str(e)))
    show("nothing ran", r.get("py:b"))

    p = r.pipeline()
    p.set("py:b", "v").execute_command("SET", "py:b", "v", "BADOPT").get("py:b")
    res = p.execute(raise_on_error=False)
    show("runtime error", [x if not isinstance(x, Exception) else ("error", str(x)) for x in res])

    def incr(pipe):
        v = int(pipe.get("py:c") or 0)
        pipe.multi()
        pipe.set("py:c", v + 1)

    for _ in range(10):
        r.transaction(incr, "py:c")
    show("transaction helper", r.get("py:c"))

    with r.pipeline() as pipe:
        pipe.watch("py:c")
        other.set("py:c", "changed")
        pipe.multi()
        pipe.set("py:c", "mine")
        try:
            pipe.execute()
            show("watch conflict", "executed")
        except redis.exceptions.WatchError as e:
            show("watch conflict", type(e).__name__)
    show("after conflict", r.get("py:c"))

    with r.pipeline() as pipe:
        pipe.watch("py:d")
        pipe.multi()
        pipe.set("py:d", "ok")
        show("watch unchanged", pipe.execute())

    for i in range(50):
        r.set("py:pool:%d" % i, i)
    show("pool", [int(x) for x in r.mget(["py:pool:%d" % i for i in range(50)])][:5])
    r.delete(*["py:pool:%d" % i for i in range(50)])

    c = redis.Redis(host="127.0.0.1", port=port, single_connection_client=True, **kw)
    show("setname", c.client_setname("py-conn"))
    show("getname", c.client_getname())
    show("client id is int", isinstance(c.client_id(), int))
    show("client info name", c.client_info()["name"])
    show("info has", sorted(k for k in ("redis_version", "arch_bits", "run_id", "role", "uptime_in_seconds",
                                      "instantaneous_ops_per_sec", "expired_keys")
                            if k in r.info()))
    show("config get", r.config_get("appendonly"))
    r.delete("py:a", "py:b", "py:c", "py:d")
    print("\n".join(out))


if __name__ == "__main__":
    main()
