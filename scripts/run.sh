#!/usr/bin/env bash
# Builds ringcache and runs a local cluster on 127.0.0.1 until Ctrl-C.
#
# Usage: scripts/run.sh                 5 nodes, data kept in .run/ across runs
#        NODES=3 scripts/run.sh         another size (1-9)
#
# Node i listens for clients on port 7400 + 10*(i-1) and for other nodes
# on the next port (gossip over UDP, replication over TCP); Redis clients
# (redis-cli, redis-benchmark) reach node i on port 6380 + (i-1), Prometheus
# on port 9400 + (i-1) (GET /metrics, README "Metrics"). Node 1 is the
# seed the others join through. Logs go to .run/node<i>.log; membership
# changes are echoed here as they happen. The nodes share a cluster key,
# generated once into .run/cluster.key (mode 600): internode traffic is
# encrypted and authenticated, and a node started without it cannot join.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
nodes=${NODES:-5}
case $nodes in [1-9]) ;; *) echo "NODES must be 1-9" >&2; exit 2 ;; esac

scripts/deps.sh build
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DRC_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
bin=$root/build/release
run=$root/.run
mkdir -p "$run"

key=$run/cluster.key
if [ ! -s "$key" ]; then
    (umask 077 && "$bin/ringcache-cli" keygen >"$key.tmp" && mv "$key.tmp" "$key")
fi

pids=()
tailpid=
stop() {
    trap - INT TERM
    echo
    echo "stopping ${#pids[@]} nodes (each hands over and leaves)..."
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -n "$tailpid" ] && kill "$tailpid" 2>/dev/null
    rm -f "$run"/node*.pid
    exit 0
}
trap stop INT TERM

for i in $(seq 1 "$nodes"); do
    port=$((7400 + 10 * (i - 1)))
    seeds=""
    [ "$i" -gt 1 ] && seeds="--seeds 127.0.0.1:7401"
    # Own session: Ctrl-C reaches only this script, which stops each node once.
    # shellcheck disable=SC2086
    setsid "$bin/ringcache-server" --bind 127.0.0.1 --port "$port" --peer-port $((port + 1)) \
        --resp-port $((6380 + i - 1)) --metrics-port $((9400 + i - 1)) \
        --memcache-port $((11211 + i - 1)) --data-dir "$run/node$i" --cluster-key-file "$key" $seeds \
        >>"$run/node$i.log" 2>&1 &
    pids+=($!)
    echo $! >"$run/node$i.pid"
done

for i in $(seq 1 "$nodes"); do
    port=$((7400 + 10 * (i - 1)))
    for _ in $(seq 100); do
        "$bin/ringcache-cli" -s "127.0.0.1:$port" ping >/dev/null 2>&1 && break
        kill -0 "${pids[$((i - 1))]}" 2>/dev/null || {
            echo "node $i failed to start; see $run/node$i.log" >&2
            stop
        }
        sleep 0.1
    done
done

cat <<MSG

ringcache: $nodes nodes running on 127.0.0.1 (client ports 7400, 7410, ...; Redis
protocol on 6380, 6381, ...; data in $run)

In another terminal:
  export PATH=$bin:\$PATH RINGCACHE_SERVER=127.0.0.1:7400
  ringcache-cli members                      # who is in the cluster, ring shares, keys
  ringcache-cli put greeting hello           # through node 1 ...
  ringcache-cli -s 127.0.0.1:7420 get greeting   # ... read through node 3
  ringcache-cli ring                         # ownership per node
  redis-cli -p 6381 get greeting             # any Redis client, any node
  curl -s 127.0.0.1:9400/metrics | grep ringcache_ops_total   # Prometheus metrics
  seq 1 10000 | sed 's/.*/put key:& v&/' | ringcache-cli >/dev/null   # load keys
  kill -9 \$(cat $run/node3.pid)             # kill a node, then watch members
  ringcache-bench -c 50 -t 5 --load          # load test through node 1
  # the nodes share $key; README "Cluster key" shows how to rotate it

Membership changes appear below. Ctrl-C stops the cluster.
MSG
tail -n 0 -F "$run"/node*.log 2>/dev/null | grep --line-buffered -E ' member |shutdown|ERROR' &
tailpid=$!
wait "${pids[@]}" || true
stop
