#!/usr/bin/env bash
# Builds ringcache and runs a node on 127.0.0.1 until Ctrl-C.
# Usage: scripts/run.sh            (data kept in .run/node1 across runs)
#        RINGCACHE_PORT=7500 scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/deps.sh build
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DRC_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null

port=${RINGCACHE_PORT:-7400}
data=$root/.run/node1
mkdir -p "$data"
bin=$root/build/release

# Own session: Ctrl-C reaches only this script, which stops the node once.
setsid "$bin/ringcache-server" --bind 127.0.0.1 --port "$port" --data-dir "$data" &
pid=$!
stop() {
    trap - INT TERM
    echo
    echo "stopping node (pid $pid)..."
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    exit 0
}
trap stop INT TERM

for _ in $(seq 50); do
    "$bin/ringcache-cli" -s "127.0.0.1:$port" ping >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { echo "ringcache-server failed to start" >&2; exit 1; }
    sleep 0.1
done

cat <<MSG

ringcache node running on 127.0.0.1:$port (data in $data)

Try it in another terminal:
  export PATH=$bin:\$PATH RINGCACHE_SERVER=127.0.0.1:$port
  ringcache-cli put greeting hello
  ringcache-cli get greeting
  ringcache-cli put session:42 token --ttl 30
  ringcache-cli del greeting
  ringcache-cli stats
  ringcache-bench -c 50 -t 5 --load

Press Ctrl-C to stop.
MSG
wait "$pid"
