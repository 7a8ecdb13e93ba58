#!/usr/bin/env bash
# ringcache against Redis on the same machine, in the same run; prints one
# table with ratios (ringcache / Redis) and writes it to docs/benchmarks.md.
#
# Usage: scripts/bench-redis.sh [--quick] [--sustained] [--no-write]
#   --quick     ~4-5 minutes: 2 runs per cell, short cells, 200k keys for
#               the large key space, the memory and the restart figures
#               (default: 5 runs, longer cells, 1M keys)
#   --sustained only the sustained run instead: 10 minutes (SUSTAINED_S)
#               of random SET of 100 B at pipeline 16, 50 connections, on
#               1M keys, against Redis AOF everysec and then the disk
#               node, sampling the node's write-behind lag (STATS) every
#               second; prints both rates, the lag's maximum and the RSS
#               at start and end (memory must stay flat)
#   --strings   only redis-benchmark's own test list, restricted to the
#               string commands ringcache serves (-t ping,set,get,incr,mset,
#               P1 and P16), to the end, against Redis, one ringcache node
#               and a 3-node cluster (RF=3 W=2, through node 1): issue 17
#   --no-write  print the table only (default: also replace the section
#               between the bench-redis markers in docs/benchmarks.md)
# Environment: BIN=dir (binaries; default: builds Release into
# build/release), BASE_PORT (18400), KEEP=1 keeps logs in the work dir,
# SUSTAINED_S (600) the length of the --sustained run, MEMKEYS the keys
# of the memory and restart figures (e.g. 1000000 with --quick).
#
# Targets, all on loopback (each started by this script, killed by pid on
# exit):
#   redis      redis-server, persistence off (--save '' --appendonly no)
#   redis-aof  redis-server with an append-only file fsynced every second
#              (--appendonly yes --appendfsync everysec, automatic rewrites
#              off so no forked child works outside the CPU figures): the
#              durable Redis, compared with rc-disk in a table of its own
#   rc-mem     one ringcache node, --data-dir :memory:, RESP port
#   rc-disk    one ringcache node on disk: served from memory, written to
#              SQLite (WAL) behind the acknowledgement (--write-behind on,
#              the default; issue 16)
#   rc-disk-old the same with --write-behind off: SQLite written before
#              the acknowledgement, the engine before issue 16, kept as
#              history
#   native     the rc-mem node's native port, driven by ringcache-bench
# rc-mem runs the native in-memory engine (common/memkv.c), which needs no
# read cache, nor does rc-disk (write-behind serves from memory). The
# rc-disk-old node of the throughput cells runs with --read-cache 512m,
# room for every key the cells use, as Redis holds them all in memory;
# its memory-per-key server keeps the default 64 MiB. The
# 1 KiB cells use keys of their own (kb:...), so no cell reads values
# another cell resized.
# redis-benchmark drives the GET/SET cells against redis and the RESP
# ports; ringcache-bench --resp drives the mixed and single-connection
# cells against redis and the RESP ports (the same load generator for
# both), and ringcache-bench (native protocol) the native column. The
# durable targets (redis-aof, rc-disk, rc-disk-old) also run GET/SET at P1
# and P16 on a large key space (1M keys; --quick 200k) of their own (big:),
# driven by ringcache-bench --resp. The restart figure: the disk nodes and
# Redis AOF, each holding the memory figure's keys, stopped cleanly and
# started again; time from spawn to the first PONG, the keys checked. Each
# cell runs RUNS times, the targets interleaved within every round;
# the table shows the median and the range. With 2+ cores, servers are
# pinned to core 0 and clients to core 1, so neither steals the other's
# core, and server CPU per operation (utime+stime from /proc/PID/stat
# over the cell) stays fair.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

quick=0
write=1
sustained=0
strings=0
for a in "$@"; do
    case $a in
    --quick) quick=1 ;;
    --sustained) sustained=1 ;;
    --strings) strings=1 ;;
    --no-write) write=0 ;;
    -h | --help) sed -n '2,56p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument '$a' (see --help)" >&2; exit 2 ;;
    esac
done

# Cells are sized in requests (redis-benchmark has no duration option):
# about 0.5 s (quick) or 2-3 s (full) at the rates of a 2-core machine.
if [ $quick = 1 ]; then
    runs=2 n_p1=20000 n_p16=120000 secs=0.5 memkeys=200000 keyspace=20000 bigkeys=200000
else
    runs=5 n_p1=100000 n_p16=600000 secs=2.5 memkeys=1000000 keyspace=100000 bigkeys=1000000
fi
memkeys=${MEMKEYS:-$memkeys}
sustained_s=${SUSTAINED_S:-600}
base=${BASE_PORT:-18400}
kb_value=$(head -c 1024 /dev/zero | tr '\0' x) # the 1 KiB cells' value

for t in redis-server redis-benchmark redis-cli; do
    command -v "$t" >/dev/null || { echo "$t not found: scripts/deps.sh bench" >&2; exit 2; }
done
source scripts/bench-lib.sh
bench_binaries ringcache-server ringcache-bench ringcache-cli
bench_pins
bench_workdir redis
declare -A pid=() port=()
say() { echo "bench-redis: $*" >&2; }

# ---- servers ----

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Waits for PONG on port, polling every 10 ms (a Redis loading its AOF
# answers LOADING, not PONG), for up to 300 s: a node loading 1M keys may
# take seconds. Sets ping_ms, the ms from spawn_ms (set by the start_*
# functions just before the spawn) to the PONG: the restart figure.
wait_ping() { # port
    local i
    for i in $(seq 30000); do
        if redis-cli -p "$1" ping 2>/dev/null | grep -q PONG; then
            ping_ms=$(($(now_ms) - spawn_ms))
            return 0
        fi
        sleep 0.01
    done
    echo "no answer on port $1" >&2
    return 1
}

start_redis() { # name port [persistence options; default none]
    local name=$1 p=$2
    shift 2
    [ $# -gt 0 ] || set -- --appendonly no
    mkdir -p "$work/$name"
    spawn_ms=$(now_ms)
    "${srv_pin[@]}" redis-server --port "$p" --bind 127.0.0.1 --save '' "$@" \
        --dir "$work/$name" --logfile "$work/$name.log" &
    pid[$name]=$! port[$name]=$p
    wait_ping "$p"
}

# name client-port resp-port data-dir [extra args...]
start_rc() {
    local name=$1 cport=$2 rport=$3 dir=$4
    shift 4
    spawn_ms=$(now_ms)
    "${srv_pin[@]}" "$bin/ringcache-server" --bind 127.0.0.1 --port "$cport" \
        --peer-port $((cport + 1)) --resp-port "$rport" --data-dir "$dir" --log-level warn \
        "$@" >>"$work/$name.log" 2>&1 &
    pid[$name]=$! port[$name]=$rport port[$name.native]=$cport
    wait_ping "$rport"
}

# STATS names of the write-behind lag (docs/protocol.md).
wb_dirty=wb_dirty wb_lag=wb_lag_ms

stop() { # name (SIGKILL: a node must not spend its handoff timeout on data we discard)
    kill -9 "${pid[$1]}" 2>/dev/null || true
    wait "${pid[$1]}" 2>/dev/null || true
    unset "pid[$1]"
}

# A clean stop whose data is kept: Redis by SHUTDOWN (its AOF fsynced),
# ringcache by SIGTERM (a disk node flushes what it has not written yet).
# Waits up to 120 s, then kills and fails: a stop that hangs is a bug.
stop_clean() { # name
    local p=${pid[$1]} i
    case $1 in
    redis*) redis-cli -p "${port[$1]}" shutdown >/dev/null 2>&1 || true ;;
    *) kill -TERM "$p" ;;
    esac
    for i in $(seq 1200); do # a child that exited stays a zombie until waited
        [ "$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)" = Z ] && break
        [ -e "/proc/$p" ] || break
        sleep 0.1
    done
    if [ "$i" = 1200 ]; then
        stop "$1"
        echo "bench-redis: $1 did not stop within 120 s" >&2
        exit 1
    fi
    wait "$p" 2>/dev/null || true
    unset "pid[$1]"
}

# The write-behind figures of a ringcache node (native port) from STATS:
# "dirty lag_ms" (- when the node has none).
wb_stats() { # name
    "$bin/ringcache-cli" -s "127.0.0.1:${port[$1.native]}" stats 2>/dev/null |
        awk -v d="$wb_dirty" -v l="$wb_lag" '$1 == d { dv = $2 } $1 == l { lv = $2 }
            END { printf "%s %s\n", (dv == "" ? "-" : dv), (lv == "" ? "-" : lv) }'
}

# Waits (up to 30 s) until a write-behind node has nothing left to write
# and no journal fold under way.
wb_drain() { # name
    local i
    for i in $(seq 600); do
        "$bin/ringcache-cli" -s "127.0.0.1:${port[$1.native]}" stats 2>/dev/null |
            awk '$1 == "wb_dirty" { d = $2 } $1 == "wb_snapshotting" { f = $2 } END { exit !(d == "0" && f != "1") }' &&
            return 0
        sleep 0.05
    done
    echo "bench-redis: $1 still had unwritten changes after 30 s" >&2
}

cpu_ticks() { # pid -> utime+stime in clock ticks
    awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

# ---- one measurement: prints "ops_per_sec p50_ms p99_ms p999_ms ops" ----

run_rb() { # port test value-size conns pipeline requests
    "${cli_pin[@]}" redis-benchmark -p "$1" -t "$2" -d "$3" -c "$4" -P "$5" -n "$6" \
        -r "$keyspace" --csv 2>/dev/null |
        awk -F'"' -v n="$6" 'NR == 2 { printf "%s %s %s - %d\n", $4, $10, $14, n }'
}

# A custom redis-benchmark command, 50 connections.
run_rb_cmd() { # port pipeline requests command...
    "${cli_pin[@]}" redis-benchmark -p "$1" -c 50 -P "$2" -n "$3" -r "$keyspace" --csv \
        "${@:4}" 2>/dev/null |
        awk -F'"' -v n="$3" 'NR == 2 { printf "%s %s %s - %d\n", $4, $10, $14, n }'
}

# The 1 KiB cells: a custom redis-benchmark command on the kb: keys.
run_rb_kb() { # port GET|SET requests
    local cmd=(GET "kb:__rand_int__")
    [ "$2" = SET ] && cmd=(SET "kb:__rand_int__" "$kb_value")
    run_rb_cmd "$1" 1 "$3" "${cmd[@]}"
}

run_bench() { # server-addr conns pipeline read-ratio value-size [--resp] (key space: nkeys or keyspace)
    local out
    out=$("${cli_pin[@]}" "$bin/ringcache-bench" -s "$1" -c "$2" -P "$3" -r "$4" -d "$5" \
        -n "${nkeys:-$keyspace}" -t "$secs" --json "${@:6}")
    awk -v j="$out" 'BEGIN {
        n = split("ops_per_sec p50 p99 p99_9 ops", k, " ")
        for (i = 1; i <= n; i++) {
            m = j; sub(".*\"" k[i] "\": ", "", m); sub("[,}].*", "", m); v[i] = m
        }
        printf "%s %.3f %.3f %.3f %s\n", v[1], v[2] / 1000, v[3] / 1000, v[4] / 1000, v[5]
    }'
}

# pipe_load target prefix value-size: SET prefix%012d (redis-benchmark's
# key form), 0 <= d < keyspace, in one redis-cli --pipe stream, checked.
pipe_load() {
    awk -v n="$keyspace" -v p="$2" -v d="$3" 'BEGIN {
        v = sprintf("%" d "s", ""); gsub(/ /, "x", v)
        for (i = 0; i < n; i++)
            printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s%012d\r\n$%d\r\n%s\r\n", length(p) + 12, p, i, d, v
    }' | "${cli_pin[@]}" redis-cli -p "${port[$1]}" --pipe >"$work/pipe.out" 2>&1 || true
    grep -q "errors: 0, replies: $keyspace" "$work/pipe.out" ||
        { echo "bench-redis: preloading $1 ($2) failed: $(cat "$work/pipe.out")" >&2; exit 1; }
}

preload() { # target
    case $1 in
    native) "${cli_pin[@]}" "$bin/ringcache-bench" -s "127.0.0.1:${port[rc-mem.native]}" \
        -c 50 -P 16 -n "$keyspace" -t 0.1 --load >/dev/null
        "${cli_pin[@]}" "$bin/ringcache-bench" -s "127.0.0.1:${port[rc-mem.native]}" \
        -c 50 -P 16 -n "$keyspace" -d 1024 --key-prefix kb: -t 0.1 -r 1 --load >/dev/null ;;
    *) "${cli_pin[@]}" "$bin/ringcache-bench" --resp -s "127.0.0.1:${port[$1]}" -c 50 -P 16 \
        -n "$keyspace" -t 0.1 --load >/dev/null
       # redis-benchmark's keys (key:000000NNNNNN, N < keyspace) for its GET
       # cells, every one of them: its own random SETs would leave some
       # absent, and a GET miss costs ringcache a store lookup but Redis
       # only a hash probe, so the cells would not compare the same work.
       pipe_load "$1" key: 100
       pipe_load "$1" kb: 1024 ;;
    esac
}

# bench_load target keys prefix: ringcache-bench --resp --load of keys
# keys of 100 B, checked (its short run after the load may see no reply
# while a disk node is busy, so only the load's own figures count).
bench_load() {
    local out loaded
    out=$("${cli_pin[@]}" "$bin/ringcache-bench" --resp -s "127.0.0.1:${port[$1]}" -c 50 \
        -P 16 -n "$2" --key-prefix "$3" -t 0.5 -r 0 --load --json) || true
    loaded=$(grep -oE '"load": \{"puts": [0-9]+, "errors": 0' <<<"$out" | grep -oE '[0-9]+' | head -n 1)
    if [ "${loaded:-0}" != "$2" ]; then
        echo "loading $2 keys into $1 failed: $out" >&2
        exit 1
    fi
}

# cell target: one measurement of a cell on a target, plus server CPU
# per operation in microseconds: appends "cell target ops p50 p99 p999 cpu_us".
measure() { # cell target
    local cell=$1 t=$2 srv=$2 addr res c0 c1 ops
    [ "$t" = native ] && srv=rc-mem
    addr=127.0.0.1:${port[$t]:-${port[rc-mem.native]}}
    c0=$(cpu_ticks "${pid[$srv]}")
    case $cell in
    get_p1) [ "$t" = native ] && res=$(run_bench "$addr" 50 1 1 100) || res=$(run_rb "${port[$t]}" get 100 50 1 "$n_p1") ;;
    set_p1) [ "$t" = native ] && res=$(run_bench "$addr" 50 1 0 100) || res=$(run_rb "${port[$t]}" set 100 50 1 "$n_p1") ;;
    get_p16) [ "$t" = native ] && res=$(run_bench "$addr" 50 16 1 100) || res=$(run_rb "${port[$t]}" get 100 50 16 "$n_p16") ;;
    set_p16) [ "$t" = native ] && res=$(run_bench "$addr" 50 16 0 100) || res=$(run_rb "${port[$t]}" set 100 50 16 "$n_p16") ;;
    get_miss) [ "$t" = native ] && res=$(run_bench "$addr" 50 16 1 100 --key-prefix miss:) || res=$(run_rb_cmd "${port[$t]}" 16 "$n_p16" GET "miss:__rand_int__") ;;
    get_p1_big) res=$(nkeys=$bigkeys run_bench "$addr" 50 1 1 100 --resp --key-prefix big:) ;;
    set_p1_big) res=$(nkeys=$bigkeys run_bench "$addr" 50 1 0 100 --resp --key-prefix big:) ;;
    get_p16_big) res=$(nkeys=$bigkeys run_bench "$addr" 50 16 1 100 --resp --key-prefix big:) ;;
    set_p16_big) res=$(nkeys=$bigkeys run_bench "$addr" 50 16 0 100 --resp --key-prefix big:) ;;
    get_1k) [ "$t" = native ] && res=$(run_bench "$addr" 50 1 1 1024 --key-prefix kb:) || res=$(run_rb_kb "${port[$t]}" GET "$n_p1") ;;
    set_1k) [ "$t" = native ] && res=$(run_bench "$addr" 50 1 0 1024 --key-prefix kb:) || res=$(run_rb_kb "${port[$t]}" SET "$n_p1") ;;
    mix) [ "$t" = native ] && res=$(run_bench "$addr" 50 1 0.9 100) || res=$(run_bench "$addr" 50 1 0.9 100 --resp) ;;
    lat1) [ "$t" = native ] && res=$(run_bench "$addr" 1 1 0.9 100) || res=$(run_bench "$addr" 1 1 0.9 100 --resp) ;;
    esac
    # A write-behind node finishes the cell's writes on disk after the
    # client is done: that work is the cell's (its CPU), not the next
    # cell's, which would otherwise run beside the writer's leftovers.
    case $srv in rc-disk) wb_drain "$srv" ;; esac
    c1=$(cpu_ticks "${pid[$srv]}")
    ops=$(awk '{ print $5 }' <<<"$res")
    awk -v c="$cell" -v t="$t" -v r="$res" -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v o="$ops" \
        'BEGIN { split(r, f, " "); printf "%s %s %s %s %s %s %.2f\n", c, t, f[1], f[2], f[3], f[4], (o > 0 ? d * 1e6 / hz / o : 0) }' \
        >>"$work/results"
}

# ---- --sustained: 10 minutes of random SET at P16, disk node and Redis AOF ----

# One target: loads the key space, runs ringcache-bench --resp for
# sustained_s while sampling (every second) the node's write-behind lag
# (ringcache only) and the RSS; prints one table row. Memory flat: RSS
# after the key space is loaded against RSS at the end, when every SET
# overwrites a key that exists, and the largest sample of each quarter of
# the run (growth shows as a rising series, a bound as a level one).
sustained_one() { # target keys
    local t=$1 keys=$2 bpid dirty lag max_lag=0 max_dirty=0 samples=0 rss0 rss1 rss_max=0 r out quarters
    local -a rss_s=()
    bench_load "$t" "$keys" key:
    sleep 2
    rss0=$(rss_kib "${pid[$t]}")
    "${cli_pin[@]}" "$bin/ringcache-bench" --resp -s "127.0.0.1:${port[$t]}" -c 50 -P 16 \
        -r 0 -d 100 -n "$keys" --key-prefix key: -t "$sustained_s" --json >"$work/sustained-$t.json" &
    bpid=$!
    while kill -0 "$bpid" 2>/dev/null; do
        if [ "$t" = rc-disk ]; then
            read -r dirty lag <<<"$(wb_stats "$t")"
            if [ "$lag" != - ]; then
                [ "$lag" -gt "$max_lag" ] && max_lag=$lag
                [ "$dirty" -gt "$max_dirty" ] && max_dirty=$dirty
            fi
        fi
        r=$(rss_kib "${pid[$t]}")
        [ "$r" -gt "$rss_max" ] && rss_max=$r
        rss_s+=("$r")
        samples=$((samples + 1))
        sleep 1
    done
    wait "$bpid" || { echo "bench-redis: the sustained run failed: $(cat "$work/sustained-$t.json")" >&2; exit 1; }
    rss1=$(rss_kib "${pid[$t]}")
    out=$(cat "$work/sustained-$t.json")
    [ "$t" = rc-disk ] || max_lag=- max_dirty=-
    quarters=$(printf '%s\n' "${rss_s[@]}" | awk '{ v[NR] = $1 } END {
        for (q = 0; q < 4; q++) {
            m = 0
            for (i = int(q * NR / 4) + 1; i <= int((q + 1) * NR / 4); i++) if (v[i] > m) m = v[i]
            printf "%s%.0f", (q ? "," : ""), m / 1024
        } }')
    awk -v j="$out" -v t="$t" -v ml="$max_lag" -v md="$max_dirty" -v n="$samples" \
        -v r0="$rss0" -v r1="$rss1" -v rm="$rss_max" -v rq="$quarters" 'BEGIN {
        split("ops_per_sec p99 errors", k, " ")
        for (i = 1; i <= 3; i++) { m = j; sub(".*\"" k[i] "\": ", "", m); sub("[,}].*", "", m); v[i] = m }
        printf "%s %.0f %.3f %s %s %s %d %.1f %.1f %.1f %s\n", t, v[1], v[2] / 1000, v[3], ml, md, n, r0 / 1024, r1 / 1024, rm / 1024, rq
    }'
}

sustained_run() {
    local keys=1000000 rows table
    say "sustained: $keys keys of 100 B, random SET at P16 for $sustained_s s, Redis AOF then ringcache"
    mkdir -p "$work/disk"
    start_redis redis-aof $((base + 5)) --appendonly yes --appendfsync everysec \
        --auto-aof-rewrite-percentage 0
    rows=$(sustained_one redis-aof "$keys")
    stop redis-aof
    start_rc rc-disk $((base + 20)) $((base + 22)) "$work/disk" --rf 1 --r 1 --w 1
    rows+=$'\n'$(sustained_one rc-disk "$keys")
    table=$(awk -v s="$sustained_s" -v lagname="$wb_lag" '
        { t[NR] = $1; ops[NR] = $2; p99[NR] = $3; err[NR] = $4; ml[NR] = $5; md[NR] = $6; n[NR] = $7; r0[NR] = $8; r1[NR] = $9; rm[NR] = $10; rq[NR] = $11; gsub(",", " / ", rq[NR]) }
        END {
            printf "| %d s, 1M keys of 100 B, 50 conns, P16, random SET (ringcache-bench --resp) | SET ops/s | ratio | p99 ms | p99 ratio | errors | max %s (of %d samples, 1 s apart) | max dirty entries | RSS start / end / max | RSS max in each quarter of the run |\n|---|---|---|---|---|---|---|---|---|---|\n", s, lagname, n[2]
            for (i = 1; i <= NR; i++)
                printf "| %s | %d | %.2f× | %.3f | %.2f× | %s | %s | %s | %.1f / %.1f / %.1f MiB (end %+.1f%%) | %s MiB |\n",
                    (t[i] == "rc-disk" ? "ringcache on disk (write-behind)" : "Redis AOF everysec"), ops[i], ops[i] / ops[1], p99[i], p99[i] / p99[1],
                    err[i], ml[i], md[i], r0[i], r1[i], rm[i], (r1[i] - r0[i]) * 100 / r0[i], rq[i]
        }' <<<"$rows")
    header="Run $(date -u +%Y-%m-%dT%H:%MZ): sustained random SET, Redis with AOF everysec (rewrites off) and then one ringcache disk node (write-behind, its defaults), each alone on the machine, servers pinned to core 0 and the client to core 1; ringcache $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') Release build; the lag sampled from STATS every second; RSS after loading the key space, at the end, the largest sample, and the largest of each quarter of the run. Ratio = ÷ Redis AOF."
    printf '%s\n\n%s\n' "$header" "$table"
    if [ $write = 1 ]; then
        write_section bench-redis-sustained "Sustained write-behind (scripts/bench-redis.sh --sustained)" "$header" "$table"
    fi
}

# write_section marker title header table: replaces the section between
# the marker's begin/end comments in docs/benchmarks.md (or appends it).
write_section() {
    local doc=$root/docs/benchmarks.md section
    section=$(printf '<!-- %s:begin -->\n## %s\n\n%s\n\n%s\n<!-- %s:end -->' "$1" "$2" "$3" "$4" "$1")
    if grep -q "<!-- $1:begin -->" "$doc"; then
        awk -v s="$section" -v b="<!-- $1:begin -->" -v e="<!-- $1:end -->" '$0 == b { print s; skip = 1; next }
            $0 == e { skip = 0; next } !skip' "$doc" >"$work/doc" && cp "$work/doc" "$doc"
    else
        printf '\n%s\n' "$section" >>"$doc"
    fi
    say "table written to docs/benchmarks.md"
}

# A 3-node cluster of :memory: nodes (node1..3), converged, past its
# rebalance delay.
cluster() { # rf w r
    local i cp rp seeds=() n
    for i in 1 2 3; do
        cp=$((base + 100 + 10 * i)) rp=$((base + 102 + 10 * i))
        [ "$i" -gt 1 ] && seeds=(--seeds "127.0.0.1:$((base + 111))")
        start_rc "node$i" "$cp" "$rp" :memory: --rf "$1" --w "$2" --r "$3" "${seeds[@]}"
    done
    for _ in $(seq 200); do
        n=0
        for i in 1 2 3; do
            redis-cli -p "${port[node$i]}" info cluster | grep -q '^ring_members:3' && n=$((n + 1))
        done
        [ $n = 3 ] && break
        sleep 0.1
    done
    sleep 1.5 # past --rebalance-delay: no streaming during the cells
}

# ---- --strings: redis-benchmark's string tests, to the end ----

# One redis-benchmark run of the list against a port: "test rps" lines.
strings_rb() { # port pipeline
    "${cli_pin[@]}" redis-benchmark -p "$1" -c 50 -P "$2" -n "$strings_n" -r "$keyspace" -d 100 \
        -t "$strings_tests" --csv 2>/dev/null |
        awk -F'"' 'NR > 1 { gsub(/ .*/, "", $2); print $2, $4 }'
}

strings_run() {
    local t p out rows="" i
    strings_tests=ping,set,get,incr,mset strings_n=$((quick ? 20000 : 100000))
    say "strings: redis-benchmark -t $strings_tests, $strings_n requests each, P1 and P16"
    start_redis redis $((base + 1))
    start_rc rc-mem $((base + 10)) $((base + 12)) :memory: --rf 1 --r 1 --w 1
    cluster 3 2 2
    for p in 1 16; do
        for t in redis rc-mem node1; do
            out=$(strings_rb "${port[$t]}" "$p")
            [ "$(wc -l <<<"$out")" -ge 6 ] || { echo "bench-redis: redis-benchmark did not finish against $t: $out" >&2; exit 1; }
            rows+=$(awk -v t="$t" -v p="$p" '{ print t, p, $1, $2 }' <<<"$out")$'\n'
        done
    done
    for t in redis rc-mem node1 node2 node3; do stop "$t"; done
    table=$(awk '
        NF == 4 { v[$1, $2, $3] = $4; if (!(($2, $3) in seen)) { seen[$2, $3] = 1; order[++n] = $2 SUBSEP $3 } }
        END {
            printf "| test | P | Redis req/s | ringcache node | ratio | 3 nodes RF=3 W=2 (through node 1) | ratio |\n|---|---|---|---|---|---|---|\n"
            for (i = 1; i <= n; i++) {
                split(order[i], k, SUBSEP); r = v["redis", k[1], k[2]]
                printf "| %s | %s | %.0f | %.0f | %.2f× | %.0f | %.2f× |\n", k[2], k[1], r,
                    v["rc-mem", k[1], k[2]], v["rc-mem", k[1], k[2]] / r, v["node1", k[1], k[2]], v["node1", k[1], k[2]] / r
            }
        }' <<<"$rows")
    header="Run $(date -u +%Y-%m-%dT%H:%MZ): redis-benchmark's own tests, restricted to string commands (-t $strings_tests, -d 100, -r $keyspace, 50 connections, $strings_n requests each), run to the end against Redis $(redis-server --version | grep -oE 'v=[0-9.]+' | cut -c3-) (persistence off), one ringcache node (:memory:, RF 1) and a 3-node ringcache cluster (:memory:, RF 3, W 2, R 2, every request through node 1); ringcache $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') Release build; $pin_desc. PING_INLINE/PING_MBULK answer on the node itself; MSET is 10 keys (redis-benchmark's), each coordinated on its own replicas in the cluster."
    printf '%s\n\n%s\n' "$header" "$table"
    if [ $write = 1 ]; then
        write_section bench-redis-strings "String commands with redis-benchmark (scripts/bench-redis.sh --strings)" "$header" "$table"
    fi
}

if [ $strings = 1 ]; then
    pin_desc="servers pinned to core 0, clients to core 1"
    [ ${#srv_pin[@]} -eq 0 ] && pin_desc="no pinning"
    strings_run
    say "done in $SECONDS s"
    exit 0
fi

if [ $sustained = 1 ]; then
    sustained_run
    say "done in $SECONDS s"
    exit 0
fi

# ---- single node ----

say "machine: $(nproc) cores, $(lscpu 2>/dev/null | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), load $(cut -d' ' -f1-3 /proc/loadavg)"
start_redis redis "$base"
start_redis redis-aof $((base + 5)) --appendonly yes --appendfsync everysec \
    --auto-aof-rewrite-percentage 0
start_rc rc-mem $((base + 10)) $((base + 12)) :memory: --rf 1 --r 1 --w 1
mkdir -p "$work/disk" "$work/disk-old"
start_rc rc-disk $((base + 20)) $((base + 22)) "$work/disk" --rf 1 --r 1 --w 1 --read-cache 512m
start_rc rc-disk-old $((base + 25)) $((base + 27)) "$work/disk-old" --rf 1 --r 1 --w 1 \
    --read-cache 512m --write-behind off
targets=(redis rc-mem rc-disk rc-disk-old native redis-aof)
durable=(redis-aof rc-disk rc-disk-old)
for t in "${targets[@]}"; do say "loading $keyspace keys into $t"; preload "$t"; done
for t in "${durable[@]}"; do say "loading $bigkeys keys (big:) into $t"; bench_load "$t" "$bigkeys" big:; done

cells=(get_p1 set_p1 get_p16 set_p16 get_miss mix get_1k set_1k lat1)
bigcells=(get_p1_big set_p1_big get_p16_big set_p16_big) # the durable targets only
: >"$work/results"
for r in $(seq "$runs"); do
    say "round $r of $runs"
    for c in "${cells[@]}" "${bigcells[@]}"; do
        tl=("${targets[@]}")
        case $c in *_big) tl=("${durable[@]}") ;; esac
        # Interleaved: every target once per cell per round, rotating
        # which goes first so none always runs on a warmer machine.
        for i in $(seq 0 $((${#tl[@]} - 1))); do
            measure "$c" "${tl[$(((i + r) % ${#tl[@]}))]}"
        done
    done
done

# ---- memory per key: fresh servers, memkeys keys of 100 B ----

# The servers of the memory and restart figures, started the same way
# both times (a restart reuses the data directory and ports).
mem_start() { # target
    case $1 in
    redis) start_redis redis $((base + 30)) ;;
    redis-aof) start_redis redis-aof $((base + 35)) --appendonly yes --appendfsync everysec \
        --auto-aof-rewrite-percentage 0 ;;
    rc-mem) start_rc rc-mem $((base + 40)) $((base + 42)) :memory: --rf 1 --r 1 --w 1 ;;
    rc-disk) start_rc rc-disk $((base + 50)) $((base + 52)) "$work/disk2" --rf 1 --r 1 --w 1 ;;
    rc-disk-old) start_rc rc-disk-old $((base + 55)) $((base + 57)) "$work/disk2-old" --rf 1 \
        --r 1 --w 1 --write-behind off ;;
    esac
}

memtargets=(redis redis-aof rc-mem rc-disk rc-disk-old)
say "memory per key: $memkeys keys of 100 B into fresh servers"
for t in redis redis-aof rc-mem rc-disk rc-disk-old; do stop "$t"; done
rm -rf "$work/disk" "$work/disk-old" "$work/redis-aof" && mkdir -p "$work/disk2" "$work/disk2-old"
for t in "${memtargets[@]}"; do mem_start "$t"; done
: >"$work/mem"
for t in "${memtargets[@]}"; do
    before=$(rss_kib "${pid[$t]}")
    bench_load "$t" "$memkeys" key:
    sleep 1
    after=$(rss_kib "${pid[$t]}")
    db=0
    case $t in rc-disk*) db=$(du -sk "$work/disk2${t#rc-disk}" | awk '{ print $1 }') ;; esac
    echo "$t $before $after $db" >>"$work/mem"
done
for t in redis rc-mem; do stop "$t"; done

# ---- restart: the durable servers stopped cleanly, started again ----

say "restart: $memkeys keys of 100 B, clean stop, time from spawn to PONG"
: >"$work/restart"
for t in redis-aof rc-disk rc-disk-old; do
    t0=$(now_ms)
    stop_clean "$t"
    stop_ms=$(($(now_ms) - t0))
    mem_start "$t"
    keys=$(redis-cli -p "${port[$t]}" dbsize)
    echo "$t $ping_ms $keys $stop_ms" >>"$work/restart"
    [ "$keys" = "$memkeys" ] || { echo "bench-redis: $t restarted with $keys keys, not $memkeys" >&2; exit 1; }
    stop "$t"
done

# ---- cluster: 3 nodes, RF=1 and RF=3 W=2, through one node and all ----

cluster_cells() { # label
    local t r one all
    for t in set get; do
        for r in $(seq "$runs"); do
            one=$(run_rb "${port[node1]}" "$t" 100 50 1 "$n_p1" | awk '{ print $1 }')
            all=$(for i in 1 2 3; do run_rb "${port[node$i]}" "$t" 100 17 1 $((n_p1 / 3)) & done |
                awk '{ s += $1 } END { print s }')
            echo "$1 $t $one $all" >>"$work/cluster"
        done
    done
}

: >"$work/cluster"
say "cluster RF=1"
cluster 1 1 1
cluster_cells rf1
for i in 1 2 3; do stop "node$i"; done
say "cluster RF=3 W=2"
cluster 3 2 2
cluster_cells rf3w2
for i in 1 2 3; do stop "node$i"; done

# ---- the table ----

table=$(awk -v runs="$runs" -v quick="$quick" -v memkeys="$memkeys" -v bigkeys="$bigkeys" '
function median(arr, n,    i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && arr[j - 1] > arr[j]; j--) { t = arr[j]; arr[j] = arr[j - 1]; arr[j - 1] = t }
    return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
}
function stat(key, col,    n, i, a, s, lo, hi) {
    n = cnt[key]; lo = ""; hi = ""
    for (i = 1; i <= n; i++) {
        split(val[key, i], s, " "); a[i] = s[col]
        if (lo == "" || a[i] + 0 < lo + 0) lo = a[i]
        if (hi == "" || a[i] + 0 > hi + 0) hi = a[i]
    }
    if (n == 0 || a[1] == "-") return "-"
    med[key, col] = median(a, n); rlo = lo; rhi = hi
    return med[key, col]
}
function k(x) { return x >= 1000 ? sprintf("%.1fk", x / 1000) : sprintf("%.0f", x) }
function ratio(a, b) { return (b > 0 && a != "-") ? sprintf("%.2f×", a / b) : "-" }
function keys(x) { return x >= 1000000 ? sprintf("%gM", x / 1000000) : sprintf("%gk", x / 1000) }
FILENAME ~ /results$/ { key = $1 SUBSEP $2; cnt[key]++; val[key, cnt[key]] = $3 " " $4 " " $5 " " $6 " " $7; next }
FILENAME ~ /mem$/ { mb[$1] = $2; ma[$1] = $3; mdb[$1] = $4; next }
FILENAME ~ /cluster$/ { ck = $1 SUBSEP $2; cc[ck]++; c1[ck, cc[ck]] = $3; ca[ck, cc[ck]] = $4; next }
FILENAME ~ /restart$/ { rs[$1] = $2; rk[$1] = $3; rstop[$1] = $4; next }
END {
    ncells = split("get_p1 set_p1 get_p16 set_p16 get_miss mix get_1k set_1k lat1", cells, " ")
    split("GET 100 B, 50 conns, P1|SET 100 B, 50 conns, P1|GET 100 B, 50 conns, P16|SET 100 B, 50 conns, P16|GET miss (absent keys), 50 conns, P16|90/10 GET/SET, 50 conns, P1|GET 1 KiB, 50 conns, P1|SET 1 KiB, 50 conns, P1|90/10, 1 connection, P1", names, "|")
    split("get_p1_big set_p1_big get_p16_big set_p16_big", big, " ")
    for (i = 1; i <= 4; i++) {
        cells[ncells + i] = big[i]
        names[ncells + i] = sprintf("%s 100 B, %s keys, 50 conns, P%s (ringcache-bench)", (i % 2 ? "GET" : "SET"), keys(bigkeys), (i <= 2 ? 1 : 16))
    }
    split("redis rc-mem rc-disk native", tg, " ")
    printf "Throughput, ops/s: median of %d runs [min–max]; ratio = ringcache ÷ Redis (median ÷ median).\n\n", runs
    printf "| workload | Redis | rc RESP :memory: | ratio | rc RESP disk | ratio | rc native :memory: | ratio |\n|---|---|---|---|---|---|---|---|\n"
    for (c = 1; c <= ncells; c++) {
        line = "| " names[c]
        for (t = 1; t <= 4; t++) {
            key = cells[c] SUBSEP tg[t]; m = stat(key, 1)
            if (t == 1) red = m
            line = line sprintf(" | %s [%s–%s]", k(m), k(rlo), k(rhi))
            if (t > 1) line = line " | " ratio(m, red)
        }
        print line " |"
    }
    printf "\nLatency, ms (medians of p50 / p99 / p99.9 over the runs; redis-benchmark reports no p99.9):\n\n"
    printf "| workload | Redis | rc RESP :memory: | p99 ratio | rc RESP disk | p99 ratio | rc native :memory: | p99 ratio |\n|---|---|---|---|---|---|---|---|\n"
    for (c = 1; c <= ncells; c++) {
        line = "| " names[c]
        for (t = 1; t <= 4; t++) {
            key = cells[c] SUBSEP tg[t]
            p50 = stat(key, 2); p99 = stat(key, 3); p999 = stat(key, 4)
            if (t == 1) red = p99
            line = line sprintf(" | %s / %s / %s", p50, p99, p999)
            if (t > 1) line = line " | " ratio(p99, red)
        }
        print line " |"
    }
    printf "\nServer CPU per operation, µs (utime+stime from /proc/PID/stat over the cell ÷ operations; 10 ms tick resolution):\n\n"
    printf "| workload | Redis | rc RESP :memory: | ratio | rc RESP disk | ratio | rc native :memory: | ratio |\n|---|---|---|---|---|---|---|---|\n"
    for (c = 1; c <= ncells; c++) {
        line = "| " names[c]
        for (t = 1; t <= 4; t++) {
            key = cells[c] SUBSEP tg[t]; m = stat(key, 5)
            if (t == 1) red = m
            line = line sprintf(" | %.2f", m)
            if (t > 1) line = line " | " ratio(m, red)
        }
        print line " |"
    }
    printf "\nDurable writes: ringcache on disk against Redis with an append-only file fsynced every second (automatic rewrites off). rc disk = write-behind (the default: served from memory, SQLite written behind the acknowledgement every --flush-interval; kill -9 of every replica may lose the last --max-write-lag ms, as Redis everysec may lose the last second); rc disk old = --write-behind off (SQLite WAL written before the acknowledgement, synchronous=NORMAL), the engine before issue 16, as history. Neither fsyncs before answering. Ratio = ringcache ÷ Redis AOF. The last four rows use a key space of their own of %s keys, driven by ringcache-bench --resp for both.\n\n", keys(bigkeys)
    printf "| workload | Redis AOF ops/s | rc disk ops/s | ratio | rc disk old ops/s | ratio | p99 ms, Redis AOF / rc disk / old | p99 ratio | CPU µs/op, Redis AOF / rc disk / old | CPU ratio |\n|---|---|---|---|---|---|---|---|---|---|\n"
    for (c = 1; c <= ncells + 4; c++) {
        ka = cells[c] SUBSEP "redis-aof"; kd = cells[c] SUBSEP "rc-disk"; ko = cells[c] SUBSEP "rc-disk-old"
        ta = stat(ka, 1); td = stat(kd, 1); to = stat(ko, 1); la = stat(ka, 3); ld = stat(kd, 3); lo = stat(ko, 3)
        pa = stat(ka, 5); pd = stat(kd, 5); po = stat(ko, 5)
        printf "| %s | %s | %s | %s | %s | %s | %s / %s / %s | %s | %.2f / %.2f / %.2f | %s |\n", names[c], k(ta), k(td), ratio(td, ta), k(to), ratio(to, ta), la, ld, lo, ratio(ld, la), pa, pd, po, ratio(pd, pa)
    }
    printf "\nMemory: resident set growth after SET of %d keys of 100 B (key:%%08u) into a fresh server (on disk with write-behind every key is held in memory as with :memory:; with --write-behind off, the cache of recently read or written values, up to --read-cache = 64 MiB, is included):\n\n", memkeys
    printf "| server | RSS before | RSS after | bytes per key | ratio | database on disk |\n|---|---|---|---|---|---|\n"
    rb = (ma["redis"] - mb["redis"]) * 1024 / memkeys
    nm = split("redis redis-aof rc-mem rc-disk rc-disk-old", mt, " ")
    split("Redis|Redis AOF everysec|ringcache :memory:|ringcache on disk (write-behind)|ringcache on disk, --write-behind off", mn, "|")
    for (i = 1; i <= nm; i++) {
        t = mt[i]; per = (ma[t] - mb[t]) * 1024 / memkeys
        printf "| %s | %.1f MiB | %.1f MiB | %.0f | %s | %s |\n", mn[i], mb[t] / 1024, ma[t] / 1024, per,
            (i == 1 ? "1.00×" : sprintf("%.2f×", per / rb)), (mdb[t] > 0 ? sprintf("%.1f MiB (%.0f B/key)", mdb[t] / 1024, mdb[t] * 1024 / memkeys) : "-")
    }
    printf "\nRestart: the server holding the memory figure'"'"'s %d keys of 100 B stopped cleanly (Redis SHUTDOWN, ringcache SIGTERM) and started again on its files; time from spawn to the first PONG (polled every 10 ms; a Redis loading its AOF answers LOADING), the keys checked with DBSIZE. Ratio = ÷ Redis AOF.\n\n", memkeys
    printf "| server | clean stop, ms | start to PONG, ms | ratio | keys after |\n|---|---|---|---|---|\n"
    split("redis-aof rc-disk rc-disk-old", rt, " "); split("Redis AOF everysec|ringcache on disk (write-behind)|ringcache on disk, --write-behind off", rn, "|")
    for (i = 1; i <= 3; i++)
        printf "| %s | %s | %s | %s | %s |\n", rn[i], rstop[rt[i]], rs[rt[i]], ratio(rs[rt[i]], rs["redis-aof"]), rk[rt[i]]
    printf "\nCluster: 3 ringcache nodes (:memory:), redis-benchmark 100 B, P1; through one node = 50 connections to node 1; through all = 17 connections to each node at once (sum). Ratio to the single-node rc RESP :memory: figure above.\n\n"
    printf "| cluster | op | through one node | ratio | through all nodes | ratio |\n|---|---|---|---|---|---|\n"
    split("rf1 rf3w2", cl, " "); split("RF=1|RF=3, W=2, R=2", cn, "|")
    for (i = 1; i <= 2; i++) for (o = 1; o <= 2; o++) {
        op = o == 1 ? "set" : "get"; ck = cl[i] SUBSEP op; n = cc[ck]
        for (j = 1; j <= n; j++) { x[j] = c1[ck, j]; y[j] = ca[ck, j] }
        m1 = median(x, n); ma2 = median(y, n)
        single = med[(op == "set" ? "set_p1" : "get_p1") SUBSEP "rc-mem", 1]
        printf "| %s | %s | %s | %s | %s | %s |\n", cn[i], toupper(op), k(m1), ratio(m1, single), k(ma2), ratio(ma2, single)
    }
}' "$work/results" "$work/mem" "$work/restart" "$work/cluster")

redis_v=$(redis-server --version | awk '{ print $3 }' | sed 's/v=//')
cpu=$(lscpu 2>/dev/null | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }')
mem=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
pin="servers pinned to core 0, clients to core 1"
[ ${#srv_pin[@]} -eq 0 ] && pin="no pinning (fewer than 2 cores or no taskset)"
header="Run $(date -u +%Y-%m-%dT%H:%MZ) ($([ $quick = 1 ] && echo "--quick, " )$runs runs per cell). Machine: $(nproc) vCPU ${cpu:-unknown CPU}, $mem RAM, Linux $(uname -r); $pin; load average at the end $(cut -d' ' -f1-3 /proc/loadavg). Redis $redis_v (persistence off; and with AOF everysec for the durable table), ringcache $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') Release build, single nodes with --rf 1 (throughput cells on disk: --read-cache 512m, room for every key used, as Redis holds them all, where the engine has a read cache; :memory: runs the native engine, no read cache; disk nodes with the write-behind defaults). Key space $keyspace keys; the 1 KiB cells use keys of their own; the durable table's large key space $bigkeys keys (big:); memory and restart figures $memkeys keys."

printf '%s\n\n%s\n' "$header" "$table"
say "done in $SECONDS s"

if [ $write = 1 ]; then
    write_section bench-redis "Redis comparison (scripts/bench-redis.sh)" "$header" "$table"
fi
