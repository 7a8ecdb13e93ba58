#!/usr/bin/env bash
# Hit ratio of ringcache and Redis as caches with the same memory budget,
# on the same generated key sequences, next to the offline limit (Belady).
# Prints one table and writes it to docs/benchmarks.md.
#
# Usage: scripts/bench-hitratio.sh [--quick] [--no-write]
#   --quick     ~12 minutes: 1M requests per trace, six traces (Zipf
#               0.8/0.99/1.2, scan, shift, mixed sizes), each at budgets
#               of 1 % and 10 % (default: 10M requests, all 18 traces:
#               Zipf 0.8/0.99/1.2 x plain/scan/shift x fixed/mixed sizes)
#               Key space: 1M keys of 100 B, or 50k of mixed sizes (about
#               the same 110 MB of data; 2M and 100k by default), so that
#               a 1 % budget is ~1 MiB: far above the tens of KiB by which
#               Redis's own overhead (client buffers, hash table) moves.
#   --no-write  print the table only (default: also replace the section
#               between the bench-hitratio markers in docs/benchmarks.md)
# Environment: BIN=dir (binaries; default: builds Release into
# build/release), BASE_PORT (18600), SEED (1), KEYS and REQUESTS (override
# the mode's sizes; KEYS is the 100 B key space, mixed sizes use KEYS/20),
# KEEP=1 keeps logs,
# RC_POLICIES="p1 p2" overrides the ringcache policies read from --help.
#
# Every (trace, budget, target) replay runs against a fresh server, all on
# loopback, started by this script and killed by pid on exit:
#   redis-lru, redis-lfu  redis-server, persistence off, maxmemory-policy
#               allkeys-lru / allkeys-lfu, maxmemory = the budget plus the
#               used_memory of the freshly started, empty server (Redis
#               counts its own baseline; ringcache's target in issue 15 is
#               "the budget + the empty process's own"). Per-key overhead
#               and client buffers still count against Redis's budget.
#   rc-1, rc-3  one ringcache node (:memory:, RF=1) and 3 nodes RF=3
#               (defaults W=2 R=2), replayed through node 1. When
#               ringcache-server --help lists --maxmemory, each policy it
#               names for --maxmemory-policy is a target of its own (rc-1
#               <policy>, rc-3 <policy>) with the same budget; until then
#               ringcache has NO budget and keeps every key, which the
#               output says.
# ringcache-hitratio generates each trace from SEED, computes Belady etc.
# offline, and replays it (GET, SET on a miss; batches of 16, one
# connection). RSS is VmRSS from /proc/PID/status, empty and after the
# replay (rc-3: the largest of the three nodes). With 2+ cores servers are
# pinned to core 0 and the client to core 1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

quick=0
write=1
for a in "$@"; do
    case $a in
    --quick) quick=1 ;;
    --no-write) write=0 ;;
    -h | --help) sed -n '2,44p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument '$a' (see --help)" >&2; exit 2 ;;
    esac
done

seed=${SEED:-1}
base=${BASE_PORT:-18600}
budgets=(1 10)
if [ $quick = 1 ]; then
    keys=1000000 requests=1000000
    traces=("zipf 0.8 fixed" "zipf 0.99 fixed" "zipf 1.2 fixed" "scan 0.99 fixed"
        "shift 0.99 fixed" "zipf 0.99 mixed")
else
    keys=2000000 requests=10000000
    traces=()
    for s in fixed mixed; do for k in zipf scan shift; do for a in 0.8 0.99 1.2; do
        traces+=("$k $a $s")
    done; done; done
fi
keys=${KEYS:-$keys} requests=${REQUESTS:-$requests}

for t in redis-server redis-cli; do
    command -v "$t" >/dev/null || { echo "$t not found: scripts/deps.sh bench" >&2; exit 2; }
done
source scripts/bench-lib.sh
bench_binaries ringcache-server ringcache-hitratio
bench_pins
bench_workdir hitratio
declare -A pid=()
say() { echo "bench-hitratio: $*" >&2; }

# ---- does ringcache take a budget yet? ----

help=$("$bin/ringcache-server" --help 2>&1 || true)
rc_budget=0
rc_policies=(none)
if grep -qE -- '^ *--maxmemory( |$)' <<<"$help"; then
    rc_budget=1
    # the policy names in --maxmemory-policy's description (hyphenated
    # names such as allkeys-lru or w-tinylfu, or a bare known name such as
    # s3fifo; plain English words are not taken); volatile-* and noeviction
    # are skipped: the traces set no TTL and must evict
    read -ra rc_policies <<<"${RC_POLICIES:-$(awk '/^ *--maxmemory-policy/ { f = 1; next }
        f && /^ *--/ { exit } f' <<<"$help" |
        grep -oE '[a-z0-9]+(-[a-z0-9]+)*' |
        grep -xE '[a-z0-9]+(-[a-z0-9]+)*-[a-z0-9]*(lru|lfu|fifo|random|clock|arc|sieve)[a-z0-9]*|[a-z0-9]*(lru|lfu|fifo|random|clock|arc|sieve)[a-z0-9]*-[a-z0-9-]+|s3fifo|sieve|tinylfu|wtinylfu|arc|clock|lru|lfu|fifo' |
        grep -vE '^volatile-|^noeviction$' | sort -u | tr '\n' ' ')}"
    [ ${#rc_policies[@]} -gt 0 ] || rc_policies=(default)
    say "ringcache takes --maxmemory; policies: ${rc_policies[*]}"
else
    say "ringcache: no --maxmemory yet (issue 15): its rows run WITHOUT a budget, every key stays (hit ratio near the no-eviction ceiling, RSS growing)"
fi

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

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

stop_all() {
    local p
    for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
    pid=()
}

# Redis counts the replaying client's query and reply buffers in
# used_memory, so a budget of a few KiB would go to them and every SET
# would fail with OOM: the client gets an allowance, on top of the budget,
# of 40 KiB + 2 x the largest value: mem_clients_normal read on the
# replaying connection after its batches was 37 KiB with 100 B values and
# 58 KiB with 10 KiB ones (ringcache-hitratio prints it), and any slack
# here is room Redis's data gets beyond the budget.
start_redis() { # policy budget-bytes
    local p=$((base))
    "${srv_pin[@]}" redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$work" --logfile "$work/redis.log" --maxmemory-policy "$1" &
    pid[redis]=$!
    wait_ping "$p"
    local used
    used=$(redis-cli -p "$p" info memory | awk -F: '/^used_memory:/ { print $2 + 0 }')
    redis-cli -p "$p" config set maxmemory $(($2 + used + client_allowance)) >/dev/null
    tport=$p
}

# name client-port [extra args...]; the RESP port is client-port + 2
start_rc() {
    local name=$1 cport=$2
    shift 2
    "${srv_pin[@]}" "$bin/ringcache-server" --bind 127.0.0.1 --port "$cport" \
        --peer-port $((cport + 1)) --resp-port $((cport + 2)) --data-dir :memory: \
        --log-level warn "$@" >>"$work/$name.log" 2>&1 &
    pid[$name]=$!
    wait_ping $((cport + 2))
}

budget_args() { # policy budget-bytes
    [ $rc_budget = 1 ] || return 0
    # "unbounded": the same node with no budget, the throughput reference
    # (issue 15: with eviction running, >= 0.9 x this)
    [ "$1" = unbounded ] && { echo "--maxmemory 0"; return 0; }
    echo "--maxmemory $2"
    [ "$1" = default ] || echo "--maxmemory-policy $1"
}

# target policy budget; sets tport, the RESP port to replay against (not
# run in $(...): the pids must land in this shell's pid table)
start_target() {
    local i n
    case $1 in
    redis-lru) start_redis allkeys-lru "$3" ;;
    redis-lfu) start_redis allkeys-lfu "$3" ;;
    rc-1)
        # shellcheck disable=SC2046 # budget_args prints words on purpose
        start_rc rc1 $((base + 10)) --rf 1 --r 1 --w 1 $(budget_args "$2" "$3")
        tport=$((base + 12)) ;;
    rc-3)
        for i in 1 2 3; do
            # shellcheck disable=SC2046
            start_rc "rc3n$i" $((base + 20 + 10 * i)) --rf 3 \
                $([ "$i" -gt 1 ] && echo "--seeds 127.0.0.1:$((base + 31))") $(budget_args "$2" "$3")
        done
        for _ in $(seq 200); do
            n=0
            for i in 1 2 3; do
                redis-cli -p $((base + 22 + 10 * i)) info cluster | grep -q '^ring_members:3' && n=$((n + 1))
            done
            [ $n = 3 ] && break
            sleep 0.1
        done
        [ $n = 3 ] || { echo "the 3-node cluster did not form" >&2; return 1; }
        sleep 1.5 # past --rebalance-delay: no streaming during the replay
        tport=$((base + 32)) ;;
    esac
}

max_rss() { # largest VmRSS (KiB) among the running servers
    local p m=0 r
    for p in "${pid[@]}"; do
        r=$(rss_kib "$p")
        [ "$r" -gt "$m" ] && m=$r
    done
    echo "$m"
}

field() { # name line -> value of name=value
    tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2; exit }'
}

# ---- the runs ----

say "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $keys keys (mixed sizes: $((keys / 20))), $requests requests per trace"
targets=(redis-lru redis-lfu)
# rc-3 replays take twice as long as rc-1's (three nodes on one core):
# --quick runs them for the default policy only (RC3_POLICIES overrides;
# the full run takes every policy), which keeps it near half an hour.
rc3_policies=" ${RC3_POLICIES:-${rc_policies[*]}} "
if [ $quick = 1 ] && [ -z "${RC3_POLICIES:-}" ] && [ $rc_budget = 1 ]; then
    rc3_policies=" $(awk '/^ *--maxmemory-policy/ { f = 1; next } f && /^ *--/ { exit } f' <<<"$help" |
        grep -oE '\(default[^)]*\)|default:? *[a-z0-9-]+' | grep -oE '[a-z0-9]+(-[a-z0-9]+)+' | head -1) "
    [ "$rc3_policies" = "  " ] && rc3_policies=" ${rc_policies[0]} "
fi
for p in "${rc_policies[@]}"; do
    targets+=("rc-1:$p")
    [[ $rc3_policies == *" $p "* ]] && targets+=("rc-3:$p")
done
[ $rc_budget = 1 ] && targets+=("rc-1:unbounded")
: >"$work/results"
for tr in "${traces[@]}"; do
    read -r kind alpha sizes <<<"$tr"
    client_allowance=$((40960 + 2 * $([ "$sizes" = mixed ] && echo 10240 || echo 100)))
    # mixed values average ~2.2 KB against 113 B: 1/20 of the keys is about the same data
    nkeys=$keys
    [ "$sizes" = mixed ] && nkeys=$((keys / 20))
    args=(--trace "$kind" --alpha "$alpha" --sizes "$sizes" --keys "$nkeys" --requests "$requests" --seed "$seed")
    for b in "${budgets[@]}"; do
        off=$("$bin/ringcache-hitratio" "${args[@]}" --budget-pct "$b")
        budget=$(field budget_bytes "$off")
        for tg in "${targets[@]}"; do
            name=${tg%%:*} pol=${tg#*:}
            [ "$name" = "$tg" ] && pol=-
            say "$kind α=$alpha $sizes, budget $b % ($budget B): $tg"
            start_target "$name" "$pol" "$budget"
            r0=$(max_rss)
            out=$("${cli_pin[@]}" "$bin/ringcache-hitratio" "${args[@]}" -s "127.0.0.1:$tport")
            sleep 0.2
            r1=$(max_rss)
            stop_all
            echo "$kind|$alpha|$sizes|$b|$budget|$tg|$(field hit_ratio "$out")|$(field belady "$off")|$(field opt_upper "$off")|$(field lru "$off")|$(field ceiling "$off")|$(field ops_per_sec "$out")|$r0|$r1|$(field set_errors "$out")|$(field wrong_size "$out")" >>"$work/results"
        done
    done
done

# ---- the table ----

table=$(awk -F'|' -v rcb="$rc_budget" '
BEGIN {
    print "| trace | budget | target | hit ratio | Belady (limit) | LRU (sim) | no-eviction ceiling | ops/s | RSS MiB, empty → after |"
    print "|---|---|---|---|---|---|---|---|---|"
}
{
    tr = $1 (($1 == "zipf") ? "" : "+zipf") " α=" $2 ", " ($3 == "fixed" ? "100 B" : "100 B–10 KiB")
    bud = sprintf("%s %% (%.0f KiB)", $4, $5 / 1024)
    bel = $3 == "fixed" ? sprintf("%.3f", $8) : sprintf("%.3f–%.3f ᵇ", $8, $9)
    tg = $6; sub(/:-$/, "", tg); sub(/:none$/, "", tg)
    if (tg ~ /^rc-/ && !rcb) tg = tg " ᵃ"
    note = ($15 + 0 > 0 ? sprintf(" (%d SET errors)", $15) : "") ($16 + 0 > 0 ? sprintf(" (%d wrong sizes)", $16) : "")
    printf "| %s | %s | %s | %.3f%s | %s | %.3f | %.3f | %.0fk | %.1f → %.1f |\n", tr, bud, tg, $7, note, bel, $10, $11, $12 / 1000, $13 / 1024, $14 / 1024
}' "$work/results")

notes="Belady: the optimal hit ratio for the trace and the budget, computed offline by ringcache-hitratio (farthest next use, with bypass; exact for one value size). ᵇ with mixed sizes the optimum is only bracketed: the lower figure is that same policy (feasible, so a lower bound), the upper one the PFOO-U bound (Berger et al. 2018). LRU (sim): exact LRU with the same byte budget. No-eviction ceiling: 1 − distinct keys ÷ requests. Budgets count key + value bytes; Redis gets maxmemory = budget + its empty used_memory + an allowance for the replaying client's buffers (40 KiB + 2 × the largest value, what such a connection was seen to hold; Redis counts it in used_memory), its per-key overhead counting against it. SET errors (Redis OOM) are shown when any occurred. rc-3: RF=3, W=2, R=2, through node 1; RSS is the largest node's. rc-1 unbounded: the same node with --maxmemory 0 (no budget, nothing evicted), the reference for the throughput with eviction running."
if [ $rc_budget = 0 ]; then
    notes="$notes ᵃ ringcache: no --maxmemory yet (issue 15): its rows run with NO budget (every key stays), so their hit ratio sits near the no-eviction ceiling and their RSS grows with the data; they are not comparable with the Redis rows yet."
fi
redis_v=$(redis-server --version | awk '{ print $3 }' | sed 's/v=//')
cpu=$(lscpu 2>/dev/null | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }')
pin="servers pinned to core 0, the client to core 1"
[ ${#srv_pin[@]} -eq 0 ] && pin="no pinning (fewer than 2 cores or no taskset)"
header="Run $(date -u +%Y-%m-%dT%H:%MZ) ($([ $quick = 1 ] && echo "--quick, ")seed $seed, $requests Zipf requests per trace over $keys keys of 100 B or $((keys / 20)) of mixed sizes; a scan adds a fifth as many new keys). Machine: $(nproc) vCPU ${cpu:-unknown CPU}, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r); $pin; load average at the end $(cut -d' ' -f1-3 /proc/loadavg). Redis $redis_v, ringcache $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') Release build."

printf '%s\n\n%s\n\n%s\n' "$header" "$table" "$notes"
[ $rc_budget = 1 ] || say "ringcache: no --maxmemory yet (issue 15): rc-* rows ran without a budget"
say "done in $SECONDS s"

if [ $write = 1 ]; then
    doc=$root/docs/benchmarks.md
    section=$(printf '<!-- bench-hitratio:begin -->\n### Latest run\n\n%s\n\n%s\n\n%s\n<!-- bench-hitratio:end -->' "$header" "$table" "$notes")
    if grep -q '<!-- bench-hitratio:begin -->' "$doc"; then
        awk -v s="$section" '/<!-- bench-hitratio:begin -->/ { print s; skip = 1; next }
            /<!-- bench-hitratio:end -->/ { skip = 0; next } !skip' "$doc" >"$work/doc" && cp "$work/doc" "$doc"
    else
        printf '\n%s\n' "$section" >>"$doc"
    fi
    say "table written to docs/benchmarks.md"
fi
