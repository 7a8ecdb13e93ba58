#!/usr/bin/env bash
# End-to-end test of the Docker image and the Compose cluster (docker/): builds
# the image (after scripts/docker-base.sh, so no registry is needed), starts
# the 5-node cluster of docker/docker-compose.yml under a project of its own,
# and checks what a user relies on: convergence, writes and reads through
# different nodes, a killed node detected and its copies restored, its
# rejoin, a network partition healing without loss, a graceful leave. Each
# step has a deadline; a failure prints the nodes' logs. Everything the test
# creates (containers, network, volumes, image tags, and the base image if
# it had to make it) is removed on exit, failed or not.
#
# Usage: tests/docker/e2e.sh      (run by scripts/test.sh; exits 0 with a
#                                  SKIPPED message where no Docker engine answers)
# Env:   RC_DOCKER_BUILD_ARGS  extra `docker build` arguments, word-split, e.g.
#                              "--network host" or "--build-arg http_proxy=..."
#                              where containers cannot reach Debian's mirror
#        RC_E2E_KEEP=1         leave the cluster running on failure, to inspect it
#        RC_E2E_PARTITION_S    seconds node2 is cut off in step 6 (default 8: past
#                              the ~5 s in which the sides declare each other dead)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

KEYS=5000
RF=3
NODES=5
PARTITION_S=${RC_E2E_PARTITION_S:-8}

say() { printf 'docker e2e: %s\n' "$*"; }

# ---- is there anything to test with? ---------------------------------------------
if ! command -v docker >/dev/null 2>&1; then
    say "SKIPPED: docker is not installed"
    exit 0
fi
if ! timeout 20 docker info >/dev/null 2>&1; then
    say "SKIPPED: no Docker engine answers ('docker info' failed)"
    exit 0
fi
if docker compose version >/dev/null 2>&1; then
    compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    compose_cmd=(docker-compose)
else
    say "SKIPPED: Docker Compose is not installed (the compose plugin, or Debian's docker-compose)"
    exit 0
fi

# ---- what this run creates, and how it goes away ---------------------------------
proj=rce2e$$
img=ringcache:$proj
build_img=ringcache-build:$proj
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rce2e.XXXXXX")
base_made=0
torn_down=0
failed=1
declare -A cid=()

# Published ports: empty means Docker picks free ones, so the test never
# clashes with a cluster already running on this machine.
export RC_IMAGE=$img RC_NODE1_PORT='' RC_NODE2_PORT='' RC_NODE3_PORT='' \
    RC_NODE4_PORT='' RC_NODE5_PORT='' RC_NODE6_PORT=''
export RC_NODE1_METRICS_PORT='' RC_NODE2_METRICS_PORT='' RC_NODE3_METRICS_PORT='' \
    RC_NODE4_METRICS_PORT='' RC_NODE5_METRICS_PORT='' RC_NODE6_METRICS_PORT=''
compose() { "${compose_cmd[@]}" -p "$proj" -f "$root/docker/docker-compose.yml" "$@"; }

teardown() {
    [ $torn_down -eq 1 ] && return 0
    torn_down=1
    compose --profile scale down --volumes --remove-orphans --timeout 0 >"$tmp/down.log" 2>&1 || {
        cat "$tmp/down.log" >&2
        return 1
    }
    docker image rm "$img" "$build_img" >/dev/null 2>&1 || true
    if [ $base_made -eq 1 ]; then
        docker image rm debian:bookworm-slim >/dev/null 2>&1 || true
    fi
    local left
    left=$(docker ps -aq --filter "label=com.docker.compose.project=$proj"
        docker network ls -q --filter "label=com.docker.compose.project=$proj"
        docker volume ls -q --filter "label=com.docker.compose.project=$proj")
    if [ -n "$left" ]; then
        echo "docker e2e: left behind by project $proj: $left" >&2
        return 1
    fi
}

on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    if [ $failed -eq 1 ] && [ "${RC_E2E_KEEP:-0}" = 1 ]; then
        say "RC_E2E_KEEP=1: project $proj left running; remove it with:"
        say "  RC_IMAGE=$img ${compose_cmd[*]} -p $proj -f docker/docker-compose.yml --profile scale down -v"
    else
        teardown || rc=1
    fi
    rm -rf "$tmp"
    [ $rc -eq 0 ] && [ $failed -eq 1 ] && rc=1
    exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---- steps, timing, failure -----------------------------------------------------
now_ms() { date +%s%3N; }
step_names=()
step_ms=()
step_no=0
step_t0=0
step_name=setup
step() {
    step_no=$((step_no + 1))
    step_t0=$(now_ms)
    step_name=$*
    step_names+=("$*")
    say "step $step_no: $*"
}
step_ok() {
    local ms=$(($(now_ms) - step_t0))
    step_ms+=("$ms")
    say "step $step_no ok ($(fmt_ms "$ms"))${1:+: $1}"
}
fmt_ms() { printf '%d.%01d s' $(($1 / 1000)) $(($1 % 1000 / 100)); }

fail() {
    echo "docker e2e: FAILED in step $step_no ($step_name): $*" >&2
    if [ ${#cid[@]} -gt 0 ]; then
        echo "---- compose ps" >&2
        compose ps >&2 || true
        echo "---- last 40 log lines of each node" >&2
        compose logs --no-color --tail=40 >&2 || true
    fi
    exit 1
}

# until TIMEOUT_S DESCRIPTION COMMAND...: polls COMMAND every 0.5 s until it
# succeeds; fails the test when TIMEOUT_S pass first.
until_ok() {
    local limit=$1 what=$2 deadline
    shift 2
    deadline=$(($(now_ms) + limit * 1000))
    until "$@"; do
        [ "$(now_ms)" -lt "$deadline" ] || fail "$what: not reached within $limit s"
        sleep 0.5
    done
}

# ---- talking to the nodes ------------------------------------------------------
# The CLI runs inside each node's container (docker exec), so the test needs
# no published port and no local build of the CLI.
cli() {
    local n=$1
    shift
    timeout 60 docker exec -i "${cid[$n]}" ringcache-cli "$@"
}
stat_of() { cli "$1" stats </dev/null | awk -v k="$2" '$1 == k { print $2 }'; }
# state of node T as node N sees it (alive, suspect, dead, left)
state_of() {
    cli "$1" members </dev/null |
        awk -v a="node$2:7400" '{ o = ($1 == "*") } $(2 + o) == a { print $(3 + o) }'
}
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "${cid[$1]}"; }

# all_see STATE TARGET NODES...: every one of NODES sees node TARGET in STATE
all_see() {
    local want=$1 target=$2 n
    shift 2
    for n in "$@"; do
        [ "$(state_of "$n" "$target" 2>/dev/null)" = "$want" ] || return 1
    done
}
# converged NODES...: each of NODES sees exactly these nodes alive, and is healthy
converged() {
    local n
    for n in "$@"; do
        [ "$(stat_of "$n" members_alive 2>/dev/null)" = "$#" ] || return 1
        [ "$(health "$n")" = healthy ] || return 1
    done
}
# node_keys N: "keys primary replica rebalancing" from node N's STATS; keys
# beyond primary + replica are copies of ranges the node does not replicate.
node_keys() {
    cli "$1" stats </dev/null | awk '$1 == "keys" { k = $2 } $1 == "keys_primary" { p = $2 }
        $1 == "keys_replica" { r = $2 } $1 == "rebalance_running" { x = $2 }
        END { if (k != "") print k, p, r, x }'
}
# copies_are WANT NODES...: the nodes hold WANT keys in all and none is
# rebalancing; last_sum and last_detail say what was seen (a node's keys
# beyond primary + replica are copies of ranges it does not replicate, e.g.
# streamed to it during a partition, until its cleanup hands them over).
copies_are() {
    local want=$1 n line k p r x total=0 busy=0
    shift
    last_detail=
    for n in "$@"; do
        line=$(node_keys "$n" 2>/dev/null) || return 1
        [ -n "$line" ] || return 1
        read -r k p r x <<<"$line"
        total=$((total + k))
        busy=$((busy + x))
        last_detail+=" node$n=$k (primary $p, replica $r, other $((k - p - r))"
        [ "$x" = 0 ] || last_detail+=", rebalancing"
        last_detail+=")"
    done
    last_sum=$total
    [ "$total" -eq "$want" ] && [ "$busy" -eq 0 ]
}
# expected values: key e2e:i holds value-i, or value2-i for i <= $updated
updated=0
expected() { seq 1 "$KEYS" | awk -v u="$updated" '{ print ($1 <= u ? "value2-" : "value-") $1 }'; }
# read_all N: every key read back through node N equals what was written
read_all() {
    seq 1 "$KEYS" | sed 's/.*/get e2e:&/' | cli "$1" >"$tmp/got" ||
        fail "reading $KEYS keys through node$1: $(grep -m3 -v '^value' "$tmp/got" | tr '\n' ' ')"
    expected >"$tmp/want"
    cmp -s "$tmp/want" "$tmp/got" ||
        fail "reading through node$1: $(diff "$tmp/want" "$tmp/got" | grep -c '^>') of $KEYS values differ, e.g. $(diff "$tmp/want" "$tmp/got" | sed -n 2p)"
}
# wait_copies WANT NODES...: the per-node key counts add up to WANT (RF
# copies of every key) with no rebalance running, on two polls 1 s apart, so
# that a sum passing through WANT while ranges still move does not count.
wait_copies() {
    local want=$1 deadline streak=0
    shift
    deadline=$(($(now_ms) + 120000))
    last_sum='?'
    last_detail=
    while [ $streak -lt 2 ]; do
        if copies_are "$want" "$@"; then
            streak=$((streak + 1))
        else
            streak=0
            [ "$(now_ms)" -lt "$deadline" ] ||
                fail "keys held by nodes $* add up to $last_sum, not $want, after 120 s:$last_detail"
        fi
        sleep 1
    done
}
last_sum='?'
last_detail=

# ---- 1. images ------------------------------------------------------------------
say "project $proj, compose: ${compose_cmd[*]} ($("${compose_cmd[@]}" version --short 2>/dev/null || echo '?'))"
step "build the images (scripts/docker-base.sh, docker build)"
if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
    base_made=1
fi
timeout 900 scripts/docker-base.sh || fail "scripts/docker-base.sh"
# shellcheck disable=SC2086 # RC_DOCKER_BUILD_ARGS is a list of arguments
timeout 1800 docker build ${RC_DOCKER_BUILD_ARGS:-} -f docker/Dockerfile -t "$img" . \
    >"$tmp/build.log" 2>&1 || {
    tail -40 "$tmp/build.log" >&2
    fail "docker build (last lines above)"
}
# The classic builder keeps the build stage as untagged images. Tag its last
# one (the image made just before the second FROM) so that teardown removes
# the stage with the tag. BuildKit keeps no such images: nothing to find.
stage=$(awk '/^Step [0-9]+\/[0-9]+ : FROM / && ++froms == 2 { print id; exit }
             $1 == "--->" && $2 ~ /^[0-9a-f]+$/ { id = $2 }' "$tmp/build.log")
if [ -n "$stage" ]; then
    docker tag "$stage" "$build_img"
fi
size=$(docker image inspect -f '{{.Size}}' "$img")
step_ok "runtime image $img: $(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }')"

# ---- 2. cluster up --------------------------------------------------------------
step "start $NODES nodes, wait until each sees $NODES alive and is healthy"
compose up -d --no-build >"$tmp/up.log" 2>&1 || { cat "$tmp/up.log" >&2; fail "compose up"; }
for n in $(seq 1 $NODES); do
    cid[$n]=$(compose ps -q "node$n")
    [ -n "${cid[$n]}" ] || fail "no container for node$n"
done
until_ok 90 "$NODES nodes alive on every node, all healthy" converged $(seq 1 $NODES)
# The client ports are published on loopback only, and answer there.
for n in $(seq 1 $NODES); do
    hp=$(docker port "${cid[$n]}" 7400/tcp | head -1)
    case $hp in 127.0.0.1:*) ;; *) fail "node$n's client port is published on '$hp', not 127.0.0.1" ;; esac
    timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/${hp##*:}" || fail "node$n: nothing on $hp"
    # Internode traffic sealed with the compose file's cluster key.
    keyed=$(cli "$n" stats </dev/null | awk '$1 == "cluster_key" { print $2 }')
    [ "$keyed" = 1 ] || fail "node$n runs without the cluster key (STATS cluster_key=$keyed)"
done
step_ok "every node keyed (STATS cluster_key 1)"

# ---- 3. writes and reads --------------------------------------------------------
step "write $KEYS keys through node1 (pipe mode), read them back through node2"
seq 1 "$KEYS" | sed 's/.*/put e2e:& value-&/' | cli 1 >"$tmp/put" || fail "pipe-mode puts through node1"
[ "$(grep -c '^OK$' "$tmp/put")" -eq "$KEYS" ] || fail "not $KEYS OK replies: $(sort "$tmp/put" | uniq -c | head -3)"
read_all 2
wait_copies $((RF * KEYS)) $(seq 1 $NODES)
step_ok "$KEYS values equal, $last_sum copies"

# ---- 4. kill a node -------------------------------------------------------------
step "docker kill node3: the others mark it dead, copies restored on the 4 survivors"
docker kill "${cid[3]}" >/dev/null
t0=$(now_ms)
until_ok 30 "node3 dead on nodes 1 2 4 5" all_see dead 3 1 2 4 5
detect_ms=$(($(now_ms) - t0))
read_all 1
wait_copies $((RF * KEYS)) 1 2 4 5
step_ok "dead everywhere after $(fmt_ms "$detect_ms"), $KEYS keys readable, $last_sum copies on 4 nodes"

# ---- 5. restart it --------------------------------------------------------------
step "docker start node3: it rejoins, copies back to RF over 5 nodes"
docker start "${cid[3]}" >/dev/null
t0=$(now_ms)
until_ok 60 "$NODES nodes alive on every node again, all healthy" converged $(seq 1 $NODES)
rejoin_ms=$(($(now_ms) - t0))
wait_copies $((RF * KEYS)) $(seq 1 $NODES)
read_all 3
step_ok "rejoined and healthy after $(fmt_ms "$rejoin_ms"), $last_sum copies"

# ---- 6. partition ---------------------------------------------------------------
step "partition node2 (docker network disconnect) for $PARTITION_S s, update keys meanwhile, reconnect"
net=$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "${cid[2]}")
net=${net%% *}
[ -n "$net" ] || fail "node2 has no network"
docker network disconnect "$net" "${cid[2]}"
t0=$(now_ms)
until_ok 30 "node2 dead on nodes 1 3 4 5" all_see dead 2 1 3 4 5
updated=500
seq 1 "$updated" | sed 's/.*/put e2e:& value2-&/' | cli 1 >/dev/null || fail "updates during the partition"
while [ $(($(now_ms) - t0)) -lt $((PARTITION_S * 1000)) ]; do sleep 0.2; done
# The alias is the service name: the others know this node as node2.
docker network connect --alias node2 "$net" "${cid[2]}"
apart_ms=$(($(now_ms) - t0))
t0=$(now_ms)
until_ok 90 "$NODES nodes alive on every node after the partition" converged $(seq 1 $NODES)
heal_ms=$(($(now_ms) - t0))
wait_copies $((RF * KEYS)) $(seq 1 $NODES)
read_all 2
read_all 4
step_ok "apart $(fmt_ms "$apart_ms"), healed after $(fmt_ms "$heal_ms"), $updated updates seen, $last_sum copies;$last_detail"

# ---- 7. graceful leave ----------------------------------------------------------
step "docker stop node5 (SIGTERM): hands its data over, leaves, exits 0"
t0=$(now_ms)
docker stop -t 40 "${cid[5]}" >/dev/null
stop_ms=$(($(now_ms) - t0))
code=$(docker inspect -f '{{.State.ExitCode}}' "${cid[5]}")
[ "$code" = 0 ] || fail "node5 exited with $code"
until_ok 10 "node5 left on nodes 1 2 3 4" all_see left 5 1 2 3 4
wait_copies $((RF * KEYS)) 1 2 3 4
read_all 1
step_ok "stopped in $(fmt_ms "$stop_ms"), exit 0, $last_sum copies on 4 nodes"

# ---- 8. teardown ----------------------------------------------------------------
step "tear down (containers, network, volumes, images)"
failed=0
teardown || { failed=1; fail "teardown"; }
step_ok

say "summary (runtime image $(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }'))"
total=0
for i in "${!step_names[@]}"; do
    printf '  %-88s %8s\n' "$((i + 1)). ${step_names[$i]}" "$(fmt_ms "${step_ms[$i]}")"
    total=$((total + step_ms[i]))
done
say "PASSED: $step_no steps in $(fmt_ms "$total")"
