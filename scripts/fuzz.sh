#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, AddressSanitizer) and runs each one
# for a bounded time, starting from its committed seed corpus.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS  per target; default $RC_FUZZ_SECONDS, else 600 (the suite's
#            scripts/test.sh runs every target for 60 s)
#   TARGET   fuzz_codec, fuzz_swim, ...; default every fuzz_*.c in tests/fuzz
#
# Each run is bounded: -max_total_time, -rss_limit_mb (a decoder that
# allocates from a length prefix dies here, not on a server), -timeout per
# input (a decoder that loops). New interesting inputs go to a scratch
# corpus under build/fuzz, never into the committed one. A finding
# (crash, sanitizer report, leak, timeout, OOM) is copied into
# tests/fuzz/corpus/<target>/ - where every build's CTest replays it
# (fuzz_corpus_<target>) - and the script exits 1: fix the bug, keep the
# input as the regression test, commit both.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-${RC_FUZZ_SECONDS:-600}}
shift || true
# 2 GiB: far above what any target needs (tens of MiB), far below a
# length prefix turned into an allocation.
rss_mb=${RC_FUZZ_RSS_MB:-2048}
# Seconds for one input: the decoders take microseconds.
timeout_s=${RC_FUZZ_TIMEOUT:-10}
# Big enough for the 16- and 32-bit msgpack length formats.
max_len=${RC_FUZZ_MAX_LEN:-70000}
dir=build/fuzz

if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in tests/fuzz/fuzz_*.c; do
        t=$(basename "$f" .c)
        targets+=("$t")
    done
fi

echo "== fuzz: configure $dir (clang, RC_FUZZ=ON)"
CC=${RC_FUZZ_CC:-clang} cmake -S . -B "$dir" -DRC_FUZZ=ON -DRC_TESTS=OFF -DRC_WERROR=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
echo "== fuzz: build ${targets[*]}"
cmake --build "$dir" -j"$(nproc)" --target "${targets[@]}" >/dev/null

status=0
for t in "${targets[@]}"; do
    name=${t#fuzz_}
    seeds=tests/fuzz/corpus/$name
    work=$dir/corpus-$name
    art=$dir/artifacts-$name
    mkdir -p "$work" "$art"
    rm -f "$art"/*
    echo "== fuzz: $t for ${seconds}s (rss ${rss_mb} MiB, ${timeout_s}s per input)"
    set +e
    "$dir/tests/fuzz/$t" -max_total_time="$seconds" -rss_limit_mb="$rss_mb" \
        -timeout="$timeout_s" -max_len="$max_len" -print_final_stats=1 \
        -artifact_prefix="$art/" "$work" "$seeds" >"$dir/$t.log" 2>&1
    rc=$?
    set -e
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+ *DONE' "$dir/$t.log" |
        sed "s/^/   $t: /" || true
    found=$(find "$art" -type f | wc -l)
    if [ $rc -ne 0 ] || [ "$found" -gt 0 ]; then
        status=1
        echo "== fuzz: $t FOUND A BUG (exit $rc); log: $dir/$t.log" >&2
        grep -E 'ERROR|SUMMARY|Test unit written' "$dir/$t.log" | head -20 >&2 || true
        for f in "$art"/*; do
            [ -f "$f" ] || continue
            cp "$f" "$seeds/regress-$(basename "$f")"
            echo "   kept as regression input: $seeds/regress-$(basename "$f")" >&2
        done
    fi
done
exit $status
