#!/usr/bin/env bash
# Instruction counts per request, repeatable on a busy machine (unlike
# wall-clock figures): runs one ringcache node (:memory:, --rf 1, RESP port)
# under valgrind's callgrind, drives it with redis-benchmark (40,000 SETs,
# then 20,000 GETs over 10,000 keys, 50 connections, pipeline 16), and
# prints the inclusive counts of the write and read paths.
#
# Usage: scripts/profile-callgrind.sh [BUILD_DIR] [OUT_FILE]
#   BUILD_DIR  holds ringcache-server (default build/release; built if absent)
#   OUT_FILE   callgrind output (default /tmp/ringcache.callgrind)
# Needs valgrind and redis-tools (apt-get install valgrind redis-tools).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/release}
out=${2:-/tmp/ringcache.callgrind}
sets=40000 gets=20000 keys=10000
for tool in valgrind callgrind_annotate redis-benchmark redis-cli; do
    command -v "$tool" >/dev/null ||
        { echo "profile-callgrind: $tool missing (apt-get install valgrind redis-tools)" >&2; exit 1; }
done
if [ ! -x "$build/ringcache-server" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRC_TESTS=OFF >/dev/null
    cmake --build "$build" -j"$(nproc)" --target ringcache-server >/dev/null
fi
port=$((17700 + RANDOM % 200))
valgrind --tool=callgrind --callgrind-out-file="$out" "$build/ringcache-server" \
    --port "$port" --peer-port $((port + 1)) --resp-port $((port + 2)) --data-dir :memory: \
    --rf 1 --r 1 --w 1 --log-level warn >/dev/null 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 150); do
    redis-cli -p $((port + 2)) ping >/dev/null 2>&1 && break
    sleep 0.2
done
redis-benchmark -p $((port + 2)) -t set -n $sets -c 50 -P 16 -d 100 -r $keys -q >/dev/null
redis-benchmark -p $((port + 2)) -t get -n $gets -c 50 -P 16 -d 100 -r $keys -q >/dev/null
kill -TERM "$pid"
wait "$pid" || true
trap - EXIT
callgrind_annotate --inclusive=yes "$out" 2>/dev/null | awk -v sets=$sets -v gets=$gets '
    function num(s) { gsub(/,/, "", s); return s + 0 }
    /PROGRAM TOTALS/ { printf "whole run: %d instructions\n", num($1) }
    /:rc_node_write / && !w++ { printf "per SET (rc_node_write): %d\n", num($1) / sets }
    /:rc_node_get / && !g++ { printf "per GET (rc_node_get): %d\n", num($1) / gets }'
echo "profile: $out (callgrind_annotate --inclusive=yes $out)"
