# bench-lib.sh - what the benchmark scripts share; sourced, not run.
# Each script sets root (the repository) and cds there first.

# bench_binaries NAME...: sets bin to BIN (a directory), or builds Release
# into build/release when BIN is not given; every NAME must be there.
bench_binaries() {
    local b
    if [ -z "${BIN:-}" ]; then
        scripts/deps.sh build
        cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DRC_TESTS=OFF >/dev/null
        cmake --build build/release -j"$(nproc)" >/dev/null
        bin=$root/build/release
    else
        bin=$(cd "$BIN" && pwd)
    fi
    for b in "$@"; do
        [ -x "$bin/$b" ] || { echo "no $bin/$b" >&2; exit 2; }
    done
}

# bench_pins: with 2+ cores, servers on core 0 and clients on core 1, so
# neither steals the other's core (srv_pin, cli_pin: command prefixes).
bench_pins() {
    srv_pin=() cli_pin=()
    if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
        srv_pin=(taskset -c 0) cli_pin=(taskset -c 1)
    fi
}

# bench_workdir NAME: a work directory in work, and an exit trap that kills
# every process in the pid array (declared by the caller) and removes the
# directory, unless KEEP=1 or the script failed.
bench_workdir() {
    work=$(mktemp -d "/tmp/rc-bench-$1.XXXXXX")
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "${KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
        echo "logs and data kept in $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
