#!/usr/bin/env bash
# ringcache's memcached port against memcached itself, on the same machine in
# the same run; prints one table of operations per second (memcaslap, the
# load generator of libmemcached-tools: 90% get, 10% set, 100-byte values)
# with the ratio to memcached.
#
# Usage: scripts/bench-memcache.sh [--quick]
#   --quick   1 run per cell of 5 s (default: 3 runs of 15 s, the median)
# Environment: BIN=dir (binaries; default: builds Release into
# build/release), BASE_PORT (19400), CONC (concurrency per client thread,
# default 16), KEEP=1 keeps logs in the work dir.
#
# Targets, all on loopback (started by this script, killed by pid on exit):
#   memcached   memcached -t 1 (one worker thread, as ringcache's one loop)
#   rc-rf1      one ringcache node, --data-dir :memory:, RF=1 (R=W=1)
#   rc-rf3      three ringcache nodes, :memory:, RF=3 (W=2, R=2), driven
#               through node 1 (any node serves any key) and through all
#               three (memcaslap spreads keys over the servers like any
#               memcached client; the cluster replicates behind it)
# Pipeline 1 per connection: memcaslap waits for each reply (its window is
# per concurrency). With 2+ cores servers run on core 0 and the client on
# core 1 (scripts/bench-lib.sh); the 3-node cluster then shares core 0.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=bench-lib.sh
. scripts/bench-lib.sh

runs=3 secs=15
[ "${1:-}" = --quick ] && runs=1 secs=5
base=${BASE_PORT:-19400}
conc=${CONC:-16}
slap=$(command -v memcaslap || command -v memaslap || true)
[ -n "$slap" ] || { echo "memcaslap not found: apt-get install libmemcached-tools" >&2; exit 2; }
command -v memcached >/dev/null || { echo "memcached not found: apt-get install memcached" >&2; exit 2; }

bench_binaries ringcache-server
bench_pins
pid=()
bench_workdir memcache

# wait_port PORT: until something answers "version" there (10 s).
wait_port() {
    local _
    for _ in $(seq 100); do
        if exec 3<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null; then
            printf 'version\r\n' >&3
            if read -r -t 1 line <&3 && [[ $line == VERSION* ]]; then
                exec 3>&-
                return 0
            fi
            exec 3>&-
        fi
        sleep 0.1
    done
    echo "nothing answers on port $1" >&2
    return 1
}

user=()
[ "$(id -u)" -eq 0 ] && user=(-u nobody)
"${srv_pin[@]}" memcached "${user[@]}" -t 1 -m 1024 -p "$base" -l 127.0.0.1 -U 0 \
    >"$work/memcached.log" 2>&1 &
pid+=($!)

# node NAME CLIENT_PORT MC_PORT [ARGS...]: a ringcache node in memory.
node() {
    local name=$1 port=$2 mc=$3
    shift 3
    "${srv_pin[@]}" "$bin/ringcache-server" --bind 127.0.0.1 --port "$port" \
        --peer-port $((port + 1)) --memcache-port "$mc" --data-dir :memory: \
        --log-level warn "$@" >"$work/$name.log" 2>&1 &
    pid+=($!)
}

node rf1 $((base + 10)) $((base + 1)) --rf 1 --r 1 --w 1
node c1 $((base + 20)) $((base + 2))
node c2 $((base + 30)) $((base + 3)) --seeds 127.0.0.1:$((base + 21))
node c3 $((base + 40)) $((base + 4)) --seeds 127.0.0.1:$((base + 21))
for p in "$base" $((base + 1)) $((base + 2)) $((base + 3)) $((base + 4)); do
    wait_port "$p"
done
sleep 3 # the cluster converges (gossip) and adopts its ring

# cell SERVERS THREADS: ops/s of one memcaslap run.
cell() {
    "${cli_pin[@]}" "$slap" -s "$1" -T "$2" -c $((conc * $2)) -t "${secs}s" -X 100 \
        2>&1 | awk '/^Run time:/ { for (i = 1; i <= NF; i++) if ($i == "TPS:") print $(i + 1) }'
}

median() {
    sort -n | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : 0) }'
}

declare -A res
targets=(memcached rc-rf1 rc-rf3-node1 rc-rf3-all)
for _ in $(seq "$runs"); do
    # Interleaved, so drifts of the machine hit every target alike.
    res[memcached]+="$(cell 127.0.0.1:$base 1) "
    res[rc-rf1]+="$(cell 127.0.0.1:$((base + 1)) 1) "
    res[rc-rf3-node1]+="$(cell 127.0.0.1:$((base + 2)) 1) "
    res[rc-rf3-all]+="$(cell "127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3)),127.0.0.1:$((base + 4))" 4) "
done

ref=$(tr ' ' '\n' <<<"${res[memcached]}" | grep . | median)
printf '\nmemcaslap, 90%% get / 10%% set, 100-byte values, %d connections per thread, %d x %d s, median\n\n' \
    "$conc" "$runs" "$secs"
printf '| target | ops/s | vs memcached -t 1 |\n|---|---:|---:|\n'
for t in "${targets[@]}"; do
    m=$(tr ' ' '\n' <<<"${res[$t]}" | grep . | median)
    printf '| %s | %s | %s |\n' "$t" "$m" "$(awk -v a="$m" -v b="$ref" 'BEGIN { printf (b > 0 ? "%.2fx" : "-"), a / b }')"
done
