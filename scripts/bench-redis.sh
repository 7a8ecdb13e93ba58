#!/usr/bin/env bash
# ringcache against Redis on the same machine, in the same run; prints one
# table with ratios (ringcache / Redis) and writes it to docs/benchmarks.md.
#
# Usage: scripts/bench-redis.sh [--quick] [--no-write]
#   --quick     ~2-3 minutes: 2 runs per cell, short cells, 200k keys for
#               the memory figure (default: 5 runs, longer cells, 1M keys)
#   --no-write  print the table only (default: also replace the section
#               between the bench-redis markers in docs/benchmarks.md)
# Environment: BIN=dir (binaries; default: builds Release into
# build/release), BASE_PORT (18400), KEEP=1 keeps logs in the work dir.
#
# Targets, all on loopback (each started by this script, killed by pid on
# exit):
#   redis      redis-server, persistence off (--save '' --appendonly no)
#   redis-aof  redis-server with an append-only file fsynced every second
#              (--appendonly yes --appendfsync everysec, automatic rewrites
#              off so no forked child works outside the CPU figures): the
#              durable Redis, compared with rc-disk in a table of its own
#   rc-mem     one ringcache node, --data-dir :memory:, RESP port
#   rc-disk    one ringcache node, SQLite on disk (WAL), RESP port
#   native     the rc-mem node's native port, driven by ringcache-bench
# rc-mem runs the native in-memory engine (common/memkv.c), which needs no
# read cache. The disk node of the throughput cells runs with --read-cache
# 512m, room for every key the cells use, as Redis holds them all in
# memory; the disk memory-per-key server keeps the default 64 MiB. The
# 1 KiB cells use keys of their own (kb:...), so no cell reads values
# another cell resized.
# redis-benchmark drives the GET/SET cells against redis and the RESP
# ports; ringcache-bench --resp drives the mixed and single-connection
# cells against redis and the RESP ports (the same load generator for
# both), and ringcache-bench (native protocol) the native column. Each
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
for a in "$@"; do
    case $a in
    --quick) quick=1 ;;
    --no-write) write=0 ;;
    -h | --help) sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument '$a' (see --help)" >&2; exit 2 ;;
    esac
done

# Cells are sized in requests (redis-benchmark has no duration option):
# about 0.5 s (quick) or 2-3 s (full) at the rates of a 2-core machine.
if [ $quick = 1 ]; then
    runs=2 n_p1=20000 n_p16=120000 secs=0.5 memkeys=200000 keyspace=20000
else
    runs=5 n_p1=100000 n_p16=600000 secs=2.5 memkeys=1000000 keyspace=100000
fi
base=${BASE_PORT:-18400}
kb_value=$(head -c 1024 /dev/zero | tr '\0' x) # the 1 KiB cells' value

for t in redis-server redis-benchmark redis-cli; do
    command -v "$t" >/dev/null || { echo "$t not found: scripts/deps.sh bench" >&2; exit 2; }
done
source scripts/bench-lib.sh
bench_binaries ringcache-server ringcache-bench
bench_pins
bench_workdir redis
declare -A pid=() port=()
say() { echo "bench-redis: $*" >&2; }

# ---- servers ----

wait_ping() { # port
    local i
    for i in $(seq 200); do
        redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.05
    done
    echo "no answer on port $1" >&2
    return 1
}

start_redis() { # name port [persistence options; default none]
    local name=$1 p=$2
    shift 2
    [ $# -gt 0 ] || set -- --appendonly no
    mkdir -p "$work/$name"
    "${srv_pin[@]}" redis-server --port "$p" --bind 127.0.0.1 --save '' "$@" \
        --dir "$work/$name" --logfile "$work/$name.log" &
    pid[$name]=$! port[$name]=$p
    wait_ping "$p"
}

# name client-port resp-port data-dir [extra args...]
start_rc() {
    local name=$1 cport=$2 rport=$3 dir=$4
    shift 4
    "${srv_pin[@]}" "$bin/ringcache-server" --bind 127.0.0.1 --port "$cport" \
        --peer-port $((cport + 1)) --resp-port "$rport" --data-dir "$dir" --log-level warn \
        "$@" >>"$work/$name.log" 2>&1 &
    pid[$name]=$! port[$name]=$rport port[$name.native]=$cport
    wait_ping "$rport"
}

stop() { # name (SIGKILL: a node must not spend its handoff timeout on data we discard)
    kill -9 "${pid[$1]}" 2>/dev/null || true
    wait "${pid[$1]}" 2>/dev/null || true
    unset "pid[$1]"
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

# The 1 KiB cells: a custom redis-benchmark command on the kb: keys.
run_rb_kb() { # port GET|SET requests
    local cmd=(GET "kb:__rand_int__")
    [ "$2" = SET ] && cmd=(SET "kb:__rand_int__" "$kb_value")
    "${cli_pin[@]}" redis-benchmark -p "$1" -c 50 -P 1 -n "$3" -r "$keyspace" --csv \
        "${cmd[@]}" 2>/dev/null |
        awk -F'"' -v n="$3" 'NR == 2 { printf "%s %s %s - %d\n", $4, $10, $14, n }'
}

run_bench() { # server-addr conns pipeline read-ratio value-size [--resp]
    local out
    out=$("${cli_pin[@]}" "$bin/ringcache-bench" -s "$1" -c "$2" -P "$3" -r "$4" -d "$5" \
        -n "$keyspace" -t "$secs" --json "${@:6}")
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
    get_1k) [ "$t" = native ] && res=$(run_bench "$addr" 50 1 1 1024 --key-prefix kb:) || res=$(run_rb_kb "${port[$t]}" GET "$n_p1") ;;
    set_1k) [ "$t" = native ] && res=$(run_bench "$addr" 50 1 0 1024 --key-prefix kb:) || res=$(run_rb_kb "${port[$t]}" SET "$n_p1") ;;
    mix) [ "$t" = native ] && res=$(run_bench "$addr" 50 1 0.9 100) || res=$(run_bench "$addr" 50 1 0.9 100 --resp) ;;
    lat1) [ "$t" = native ] && res=$(run_bench "$addr" 1 1 0.9 100) || res=$(run_bench "$addr" 1 1 0.9 100 --resp) ;;
    esac
    c1=$(cpu_ticks "${pid[$srv]}")
    ops=$(awk '{ print $5 }' <<<"$res")
    awk -v c="$cell" -v t="$t" -v r="$res" -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v o="$ops" \
        'BEGIN { split(r, f, " "); printf "%s %s %s %s %s %s %.2f\n", c, t, f[1], f[2], f[3], f[4], (o > 0 ? d * 1e6 / hz / o : 0) }' \
        >>"$work/results"
}

# ---- single node ----

say "machine: $(nproc) cores, $(lscpu 2>/dev/null | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), load $(cut -d' ' -f1-3 /proc/loadavg)"
start_redis redis "$base"
start_redis redis-aof $((base + 5)) --appendonly yes --appendfsync everysec \
    --auto-aof-rewrite-percentage 0
start_rc rc-mem $((base + 10)) $((base + 12)) :memory: --rf 1 --r 1 --w 1
mkdir -p "$work/disk"
start_rc rc-disk $((base + 20)) $((base + 22)) "$work/disk" --rf 1 --r 1 --w 1 --read-cache 512m
targets=(redis rc-mem rc-disk native redis-aof)
for t in "${targets[@]}"; do say "loading $keyspace keys into $t"; preload "$t"; done

cells=(get_p1 set_p1 get_p16 set_p16 mix get_1k set_1k lat1)
: >"$work/results"
for r in $(seq "$runs"); do
    say "round $r of $runs"
    for c in "${cells[@]}"; do
        # Interleaved: every target once per cell per round, rotating
        # which goes first so none always runs on a warmer machine.
        for i in $(seq 0 $((${#targets[@]} - 1))); do
            measure "$c" "${targets[$(((i + r) % ${#targets[@]}))]}"
        done
    done
done

# ---- memory per key: fresh servers, memkeys keys of 100 B ----

say "memory per key: $memkeys keys of 100 B into fresh servers"
for t in redis redis-aof rc-mem rc-disk; do stop "$t"; done
rm -rf "$work/disk" "$work/redis-aof" && mkdir -p "$work/disk2"
start_redis redis $((base + 30))
start_rc rc-mem $((base + 40)) $((base + 42)) :memory: --rf 1 --r 1 --w 1
start_rc rc-disk $((base + 50)) $((base + 52)) "$work/disk2" --rf 1 --r 1 --w 1
: >"$work/mem"
for t in redis rc-mem rc-disk; do
    before=$(rss_kib "${pid[$t]}")
    # Only the load matters here; the short run after it may see no reply
    # at all while a disk node checkpoints, which ringcache-bench reports
    # as a failure, so its status is ignored and the load checked instead.
    out=$("${cli_pin[@]}" "$bin/ringcache-bench" --resp -s "127.0.0.1:${port[$t]}" -c 50 \
        -P 16 -n "$memkeys" -t 0.5 -r 0 --load --json) || true
    loaded=$(grep -oE '"load": \{"puts": [0-9]+, "errors": 0' <<<"$out" | grep -oE '[0-9]+' | head -n 1)
    if [ "${loaded:-0}" != "$memkeys" ]; then
        echo "loading $memkeys keys into $t failed: $out" >&2
        exit 1
    fi
    sleep 1
    after=$(rss_kib "${pid[$t]}")
    db=0
    [ "$t" = rc-disk ] && db=$(du -sk "$work/disk2" | awk '{ print $1 }')
    echo "$t $before $after $db" >>"$work/mem"
done
for t in redis rc-mem rc-disk; do stop "$t"; done

# ---- cluster: 3 nodes, RF=1 and RF=3 W=2, through one node and all ----

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

table=$(awk -v runs="$runs" -v quick="$quick" -v memkeys="$memkeys" '
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
FILENAME ~ /results$/ { key = $1 SUBSEP $2; cnt[key]++; val[key, cnt[key]] = $3 " " $4 " " $5 " " $6 " " $7; next }
FILENAME ~ /mem$/ { mb[$1] = $2; ma[$1] = $3; mdb[$1] = $4; next }
FILENAME ~ /cluster$/ { ck = $1 SUBSEP $2; cc[ck]++; c1[ck, cc[ck]] = $3; ca[ck, cc[ck]] = $4; next }
END {
    split("get_p1 set_p1 get_p16 set_p16 mix get_1k set_1k lat1", cells, " ")
    split("GET 100 B, 50 conns, P1|SET 100 B, 50 conns, P1|GET 100 B, 50 conns, P16|SET 100 B, 50 conns, P16|90/10 GET/SET, 50 conns, P1|GET 1 KiB, 50 conns, P1|SET 1 KiB, 50 conns, P1|90/10, 1 connection, P1", names, "|")
    split("redis rc-mem rc-disk native", tg, " ")
    printf "Throughput, ops/s: median of %d runs [min–max]; ratio = ringcache ÷ Redis (median ÷ median).\n\n", runs
    printf "| workload | Redis | rc RESP :memory: | ratio | rc RESP disk | ratio | rc native :memory: | ratio |\n|---|---|---|---|---|---|---|---|\n"
    for (c = 1; c <= 8; c++) {
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
    for (c = 1; c <= 8; c++) {
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
    for (c = 1; c <= 8; c++) {
        line = "| " names[c]
        for (t = 1; t <= 4; t++) {
            key = cells[c] SUBSEP tg[t]; m = stat(key, 5)
            if (t == 1) red = m
            line = line sprintf(" | %.2f", m)
            if (t > 1) line = line " | " ratio(m, red)
        }
        print line " |"
    }
    printf "\nDurable writes: ringcache on disk (SQLite WAL, synchronous=NORMAL) against Redis with an append-only file fsynced every second (automatic rewrites off); both answer a write after it reached the operating system, neither after an fsync. Ratio = rc disk ÷ Redis AOF.\n\n"
    printf "| workload | Redis AOF ops/s | rc RESP disk ops/s | ratio | p99 ms, Redis AOF / rc disk | p99 ratio | CPU µs/op, Redis AOF / rc disk | CPU ratio |\n|---|---|---|---|---|---|---|---|\n"
    for (c = 1; c <= 8; c++) {
        ka = cells[c] SUBSEP "redis-aof"; kd = cells[c] SUBSEP "rc-disk"
        ta = stat(ka, 1); td = stat(kd, 1); la = stat(ka, 3); ld = stat(kd, 3); pa = stat(ka, 5); pd = stat(kd, 5)
        printf "| %s | %s | %s | %s | %s / %s | %s | %.2f / %.2f | %s |\n", names[c], k(ta), k(td), ratio(td, ta), la, ld, ratio(ld, la), pa, pd, ratio(pd, pa)
    }
    printf "\nMemory: resident set growth after SET of %d keys of 100 B (key:%%08u) into a fresh server (on disk, ringcache'"'"'s cache of recently read or written values, up to --read-cache = 64 MiB, is included; :memory: has none, its store is the hash table):\n\n", memkeys
    printf "| server | RSS before | RSS after | bytes per key | ratio | database on disk |\n|---|---|---|---|---|---|\n"
    rb = (ma["redis"] - mb["redis"]) * 1024 / memkeys
    split("redis rc-mem rc-disk", mt, " "); split("Redis|ringcache :memory:|ringcache on disk", mn, "|")
    for (i = 1; i <= 3; i++) {
        t = mt[i]; per = (ma[t] - mb[t]) * 1024 / memkeys
        printf "| %s | %.1f MiB | %.1f MiB | %.0f | %s | %s |\n", mn[i], mb[t] / 1024, ma[t] / 1024, per,
            (i == 1 ? "1.00×" : sprintf("%.2f×", per / rb)), (mdb[t] > 0 ? sprintf("%.1f MiB (%.0f B/key)", mdb[t] / 1024, mdb[t] * 1024 / memkeys) : "-")
    }
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
}' "$work/results" "$work/mem" "$work/cluster")

redis_v=$(redis-server --version | awk '{ print $3 }' | sed 's/v=//')
cpu=$(lscpu 2>/dev/null | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }')
mem=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
pin="servers pinned to core 0, clients to core 1"
[ ${#srv_pin[@]} -eq 0 ] && pin="no pinning (fewer than 2 cores or no taskset)"
header="Run $(date -u +%Y-%m-%dT%H:%MZ) ($([ $quick = 1 ] && echo "--quick, " )$runs runs per cell). Machine: $(nproc) vCPU ${cpu:-unknown CPU}, $mem RAM, Linux $(uname -r); $pin; load average at the end $(cut -d' ' -f1-3 /proc/loadavg). Redis $redis_v (persistence off; and with AOF everysec for the durable table), ringcache $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') Release build, single nodes with --rf 1 (throughput cells on disk: --read-cache 512m, room for every key used, as Redis holds them all; :memory: runs the native engine, no read cache). Key space $keyspace keys; the 1 KiB cells use keys of their own."

printf '%s\n\n%s\n' "$header" "$table"
say "done in $SECONDS s"

if [ $write = 1 ]; then
    doc=$root/docs/benchmarks.md
    section=$(printf '<!-- bench-redis:begin -->\n## Redis comparison (scripts/bench-redis.sh)\n\n%s\n\n%s\n<!-- bench-redis:end -->' "$header" "$table")
    if grep -q '<!-- bench-redis:begin -->' "$doc"; then
        awk -v s="$section" '/<!-- bench-redis:begin -->/ { print s; skip = 1; next }
            /<!-- bench-redis:end -->/ { skip = 0; next } !skip' "$doc" >"$work/doc" && cp "$work/doc" "$doc"
    else
        printf '\n%s\n' "$section" >>"$doc"
    fi
    say "table written to docs/benchmarks.md"
fi
