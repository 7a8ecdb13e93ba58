#!/usr/bin/env bash
# Measures rebalancing on loopback and prints one table (docs/benchmarks.md):
#   1. join stream rate: 3 nodes with --stream-rate 0, KEYS keys of 100 B
#      loaded, a 4th node joins; keys/s and MB/s of what node 4 receives;
#   2. kill -9 of one of the 4: time until it is dead everywhere, and until
#      every survivor is idle with all KEYS x RF copies again;
#   3. client latency (ringcache-bench -c 20 -P 1 -r 0.9 -t 5) on a fresh
#      3-node cluster at rest, then while a 4th node joins with the default
#      --stream-rate (started 1 s into the run).
#
# Usage: scripts/bench-rebalance.sh          builds Release into build/release
#        BIN=dir scripts/bench-rebalance.sh  uses the binaries in dir
# Environment: KEYS (100000), STORE=disk|memory (disk), BASE_PORT (17400;
# node i uses BASE_PORT+10*(i-1) and the next port), KEEP=1 keeps the
# logs and data in the work directory. Progress goes to stderr, the table
# to stdout. Every node started is killed (by pid) on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

keys=${KEYS:-100000}
store=${STORE:-disk}
base=${BASE_PORT:-17400}
rf=3
# A state must hold this long to count as settled: longer than the
# server's --rebalance-delay (1 s), so a membership change that has not
# started its rebalance yet cannot pass for the end of one.
stable_ms=1500
timeout_ms=300000

case $store in disk | memory) ;; *) echo "STORE must be disk or memory" >&2; exit 2 ;; esac
source scripts/bench-lib.sh
bench_binaries ringcache-server ringcache-cli ringcache-bench
bench_workdir rebalance
declare -A pid=()

say() { echo "[$(date +%T)] $*" >&2; }
die() { say "FAILED: $*"; exit 1; }
now_ms() { date +%s%3N; }
port_of() { echo $((base + 10 * ($1 - 1))); }
addr_of() { echo "127.0.0.1:$(port_of "$1")"; }
cli() { "$bin/ringcache-cli" --timeout 1000 -s "$(addr_of "$1")" "${@:2}"; }

# start_node RUN I [server flags...]: node I of run RUN, logging to RUN/nodeI.log.
start_node() {
    local run=$1 i=$2 port seeds=() dir=:memory:
    shift 2
    port=$(port_of "$i")
    [ "$i" -gt 1 ] && seeds=(--seeds "127.0.0.1:$((base + 1))")
    [ "$store" = disk ] && dir=$work/$run/node$i
    mkdir -p "$work/$run"
    # Own session, so Ctrl-C reaches only this script, which kills each node.
    setsid "$bin/ringcache-server" --bind 127.0.0.1 --port "$port" --peer-port $((port + 1)) \
        --data-dir "$dir" --rf "$rf" "${seeds[@]}" "$@" >"$work/$run/node$i.log" 2>&1 &
    pid[$i]=$!
    for _ in $(seq 100); do
        cli "$i" ping >/dev/null 2>&1 && return 0
        kill -0 "${pid[$i]}" 2>/dev/null || die "node $i did not start; see $work/$run/node$i.log"
        sleep 0.1
    done
    die "node $i does not answer ping"
}

kill_all() {
    local i
    for i in "${!pid[@]}"; do kill -9 "${pid[$i]}" 2>/dev/null || true; done
    for i in "${!pid[@]}"; do wait "${pid[$i]}" 2>/dev/null || true; done
    pid=()
}

# node_stat I NAME: one STATS field of node I (fails if the node does not answer).
node_stat() {
    local out
    out=$(cli "$1" stats 2>/dev/null) || return 1
    awk -v k="$2" '$1 == k { print $2; f = 1 } END { exit !f }' <<<"$out"
}

# poll ALIVE SUM NODES...: 0 if every node answers, sees ALIVE members
# alive, is not rebalancing, and the nodes hold SUM keys in all. Sets
# p_sum and p_alive_ok (1 when every node sees exactly ALIVE alive).
poll() {
    local alive=$1 want=$2 i out k a r ok=0
    shift 2
    p_sum=0
    p_alive_ok=1
    for i in "$@"; do
        if ! out=$(cli "$i" stats 2>/dev/null); then
            p_alive_ok=0
            ok=1
            continue
        fi
        read -r k a r < <(awk '$1 == "keys" { k = $2 } $1 == "members_alive" { a = $2 }
            $1 == "rebalance_running" { r = $2 } END { print k + 0, a + 0, r + 0 }' <<<"$out")
        p_sum=$((p_sum + k))
        [ "$a" -eq "$alive" ] || { p_alive_ok=0; ok=1; }
        [ "$r" -eq 0 ] || ok=1
    done
    [ "$ok" -eq 0 ] && [ "$p_sum" -eq "$want" ]
}

# wait_settled ALIVE SUM NODES...: polls every 100 ms until poll holds for
# stable_ms. Sets settled_at (ms, first poll of the streak) and, if given,
# first_alive_at (first poll where every node saw ALIVE alive).
wait_settled() {
    local alive=$1 want=$2 start now streak=0
    shift 2
    start=$(now_ms)
    first_alive_at=0
    while :; do
        now=$(now_ms)
        if poll "$alive" "$want" "$@"; then
            [ "$streak" -eq 0 ] && streak=$now
            if [ $((now - streak)) -ge "$stable_ms" ]; then
                settled_at=$streak
                return 0
            fi
        else
            streak=0
        fi
        [ "$first_alive_at" -eq 0 ] && [ "$p_alive_ok" -eq 1 ] && first_alive_at=$now
        [ $((now - start)) -lt "$timeout_ms" ] || die "not settled after $((timeout_ms / 1000)) s" \
            "(want $alive alive, $want keys; last sum $p_sum); logs in $work"
        sleep 0.1
    done
}

# Log lines after a mark (line counts taken before an event).
declare -A mark=()
mark_logs() {
    local run=$1 f
    for f in "$work/$run"/node*.log; do mark[$f]=$(wc -l <"$f"); done
}
since() { tail -n +$((${mark[$1]:-0} + 1)) "$1"; }
log_ms() { date -u -d "$1" +%s%3N; }

# finished RUN I: "keys bytes duration_ms span_ms starts" of node I's last
# "rebalance finished" since the mark that moved keys (span: first
# "rebalance started" with sends>0 since the mark to that line; starts:
# how many plans were started, i.e. 1 + restarts); "0 0 0 0 0" if none.
finished() {
    local f=$work/$1/node$2.log line first k b d n
    line=$(since "$f" | grep 'rebalance finished' | grep -v ' keys=0 ' | tail -n 1) || true
    first=$(since "$f" | grep 'rebalance started' | grep -v ' sends=0 ' | head -n 1) || true
    if [ -z "$line" ] || [ -z "$first" ]; then
        echo "0 0 0 0 0"
        return
    fi
    k=$(sed -E 's/.* keys=([0-9]+).*/\1/' <<<"$line")
    b=$(sed -E 's/.* bytes=([0-9]+).*/\1/' <<<"$line")
    d=$(sed -E 's/.* duration_ms=([0-9]+).*/\1/' <<<"$line")
    n=$(since "$f" | grep 'rebalance started' | grep -vc ' sends=0 ') || true
    echo "$k $b $d $(($(log_ms "${line%% *}") - $(log_ms "${first%% *}"))) ${n:-0}"
}

# suspicions RUN [ADDR]: "-> suspect" transitions logged since the mark,
# not counting those of ADDR (a node that was really killed).
suspicions() {
    local run=$1 skip=${2:-none} f n=0
    for f in "$work/$run"/node*.log; do
        n=$((n + $(since "$f" | grep -- '-> suspect' | grep -vc -- " $skip " || true)))
    done
    echo "$n"
}

# cpu_ms PID: CPU time (user + system) the process has used so far.
cpu_ms() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' \
        "/proc/$1/stat"
}

# bench_json FILE FIELD: a number from ringcache-bench --json output.
bench_json() { grep -oE "\"$2\": [0-9.]+" "$1" | head -n 1 | awk '{ print $2 }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e6 }'; }
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
rate() { awk -v n="$1" -v ms="$2" -v d="$3" 'BEGIN { if (ms > 0) printf "%.*f", d, n * 1000 / ms; else printf "-" }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

for i in 1 2 3 4; do
    if cli "$i" ping >/dev/null 2>&1; then die "port $(port_of "$i") already answers; set BASE_PORT"; fi
done

rows=()
row() { rows+=("| $1 | $2 |"); }
load_start=$(loadavg)

# ---- 1. join stream rate ---------------------------------------------
say "1. three nodes, --stream-rate 0, store $store; loading $keys keys of 100 B"
for i in 1 2 3; do start_node join "$i" --stream-rate 0; done
wait_settled 3 0 1 2 3
"$bin/ringcache-bench" -s "$(addr_of 1)" -c 50 -P 16 -n "$keys" -d 100 --load -t 1 --json \
    >"$work/load.json" || die "load failed"
say "   loaded: $(bench_json "$work/load.json" ops_per_sec) PUT/s; waiting until settled"
wait_settled 3 $((keys * rf)) 1 2 3
declare -A out0=() cpu0=()
for i in 1 2 3; do
    out0[$i]=$(node_stat "$i" stream_keys_out)
    cpu0[$i]=$(cpu_ms "${pid[$i]}")
done
mark_logs join
say "   starting node 4"
t0=$(now_ms)
start_node join 4 --stream-rate 0
mark[$work/join/node4.log]=0
wait_settled 4 $((keys * rf)) 1 2 3 4
join_wall=$((settled_at - t0))
in_keys=$(node_stat 4 stream_keys_in)
in_bytes=$(node_stat 4 stream_bytes_in)
held4=$(node_stat 4 keys)
cpu_recv=$(cpu_ms "${pid[4]}")
cpu_send=0
for i in 1 2 3; do cpu_send=$((cpu_send + $(cpu_ms "${pid[$i]}") - cpu0[$i])); done
max_d=0 max_span=0 starts=0 sent=0 detail=""
for i in 1 2 3; do
    read -r k _ d span n < <(finished join "$i")
    o=$(($(node_stat "$i" stream_keys_out) - out0[$i]))
    sent=$((sent + o))
    starts=$((starts + n))
    [ "$d" -gt "$max_d" ] && max_d=$d
    [ "$span" -gt "$max_span" ] && max_span=$span
    detail+="node $i: $o keys out, last plan $d ms, first start→finish $span ms, $n plans; "
done
join_susp=$(suspicions join)
say "   ${detail%; }"
row "1. join: keys received by node 4 (held afterwards)" "$in_keys keys, $(mb "$in_bytes") MB of keys and values ($held4 held)"
row "1. join: sender duration_ms, max of 3 (last plan only)" "$max_d ms"
row "1. join: sender first \"started\" → \"finished\", max of 3" "$max_span ms"
row "1. join: wall, node 4 start → settled everywhere" "$join_wall ms"
row "1. join rate ÷ sender duration_ms" "$(rate "$in_keys" "$max_d" 0) keys/s, $(mb "$(rate "$in_bytes" "$max_d" 0)") MB/s"
row "1. join rate ÷ first start → finish" "$(rate "$in_keys" "$max_span" 0) keys/s, $(mb "$(rate "$in_bytes" "$max_span" 0)") MB/s"
row "1. join rate ÷ wall" "$(rate "$in_keys" "$join_wall" 0) keys/s (target ≥ 100,000 keys/s)"
row "1. join: plans started on senders / false suspect transitions" "$starts plans (3 = no restart) / $join_susp"
row "1. join: CPU used, 3 senders together / node 4" "$cpu_send ms / $cpu_recv ms ($(rate "$((cpu_send + cpu_recv))" "$join_wall" 2 | awk '{ printf "%.2f", $1 / 1000 }') cores busy over the wall time)"

# ---- 2. kill -9 -> RF restored ---------------------------------------
victim=2
vport=$(($(port_of $victim) + 1))
say "2. kill -9 of node $victim"
declare -A in0=()
for i in 1 3 4; do in0[$i]=$(node_stat "$i" stream_keys_in); done
mark_logs join
tk=$(now_ms)
kill -9 "${pid[$victim]}"
wait "${pid[$victim]}" 2>/dev/null || true
unset "pid[$victim]"
wait_settled 3 $((keys * rf)) 1 3 4
restored=$((settled_at - tk))
alive3=$((first_alive_at - tk))
dead_first=0 dead_last=0 st_first=0 fin_last=0 rein=0 kmax_d=0
for i in 1 3 4; do
    f=$work/join/node$i.log
    line=$(since "$f" | grep "127.0.0.1:$vport suspect -> dead" | head -n 1) || true
    [ -n "$line" ] || line=$(since "$f" | grep "127.0.0.1:$vport .*-> dead" | head -n 1) || true
    if [ -n "$line" ]; then
        t=$(($(log_ms "${line%% *}") - tk))
        { [ "$dead_first" -eq 0 ] || [ "$t" -lt "$dead_first" ]; } && dead_first=$t
        [ "$t" -gt "$dead_last" ] && dead_last=$t
    fi
    line=$(since "$f" | grep 'rebalance started' | grep -v ' sends=0 ' | head -n 1) || true
    if [ -n "$line" ]; then
        t=$(($(log_ms "${line%% *}") - tk))
        { [ "$st_first" -eq 0 ] || [ "$t" -lt "$st_first" ]; } && st_first=$t
    fi
    read -r _ _ d _ _ < <(finished join "$i")
    [ "$d" -gt "$kmax_d" ] && kmax_d=$d
    line=$(since "$f" | grep 'rebalance finished' | grep -v ' keys=0 ' | tail -n 1) || true
    if [ -n "$line" ]; then
        t=$(($(log_ms "${line%% *}") - tk))
        [ "$t" -gt "$fin_last" ] && fin_last=$t
    fi
    rein=$((rein + $(node_stat "$i" stream_keys_in) - in0[$i]))
done
kill_susp=$(suspicions join "127.0.0.1:$vport")
row "2. kill -9 → every survivor sees 3 alive (suspect or dead)" "$alive3 ms"
row "2. kill -9 → declared dead, first / last survivor" "$dead_first / $dead_last ms"
row "2. streaming: first \"started\" → last \"finished\" (max duration_ms)" "$st_first → $fin_last ms after the kill ($((fin_last - st_first)) ms; max duration_ms $kmax_d)"
row "2. kill -9 → RF restored (3 alive, idle, $((keys * rf)) keys)" "$restored ms ($rein keys re-replicated, $kill_susp false suspect transitions)"
kill_all

# ---- 3. client latency at rest and during a join ---------------------
say "3. fresh three nodes, default --stream-rate; loading $keys keys"
for i in 1 2 3; do start_node p99 "$i"; done
wait_settled 3 0 1 2 3
"$bin/ringcache-bench" -s "$(addr_of 1)" -c 50 -P 16 -n "$keys" -d 100 --load -t 1 --json \
    >/dev/null || die "load failed"
wait_settled 3 $((keys * rf)) 1 2 3
bench=("$bin/ringcache-bench" -s "$(addr_of 1)" -c 20 -P 1 -n "$keys" -d 100 -r 0.9 -t 5 --json)
say "   at rest"
"${bench[@]}" >"$work/rest.json" || die "bench at rest failed"
mark_logs p99
say "   during a join (node 4 starts 1 s into the run)"
"${bench[@]}" >"$work/join.json" &
bpid=$!
pid[bench]=$bpid
sleep 1
t0=$(now_ms)
start_node p99 4
mark[$work/p99/node4.log]=0
wait "$bpid" || die "bench during the join failed"
unset "pid[bench]"
wait_settled 4 $((keys * rf)) 1 2 3 4
p99_join=$((settled_at - t0))
p99_susp=$(suspicions p99)
for w in rest join; do
    f=$work/$w.json
    label="at rest"
    [ "$w" = join ] && label="during the join (settled $p99_join ms after node 4 started; $p99_susp false suspect transitions)"
    row "3. client p50 / p99 / p99.9, $label" "$(ms "$(bench_json "$f" p50)") / $(ms "$(bench_json "$f" p99)") / $(ms "$(bench_json "$f" p99_9)") ms, max $(ms "$(bench_json "$f" max)") ms, $(bench_json "$f" ops_per_sec | cut -d. -f1) ops/s, $(bench_json "$f" errors) errors"
done
kill_all

rev=$(git describe --always --dirty 2>/dev/null || echo unknown)
echo "ringcache $rev rebalancing, $keys keys of 100 B, RF $rf, store $store, $(nproc) CPUs," \
    "load average before/after: $load_start / $(loadavg)"
echo
echo "| measurement | result |"
echo "|---|---|"
printf '%s\n' "${rows[@]}"
