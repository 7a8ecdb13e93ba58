#!/usr/bin/env bash
# Builds and runs the whole test suite twice: a normal build with -Werror,
# then an AddressSanitizer + UndefinedBehaviorSanitizer build, then every
# libFuzzer target for 60 s. Exits non-zero if anything fails.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh test
jobs=$(nproc)

run_suite() {
    local dir=$1; shift
    echo "== configure $dir ($*)"
    # `|| return 1`: set -e does not apply inside a function called with ||.
    cmake -S . -B "$dir" -DRC_WERROR=ON "$@" >/dev/null || return 1
    echo "== build $dir"
    cmake --build "$dir" -j"$jobs" >/dev/null || return 1
    echo "== test $dir"
    ctest --test-dir "$dir" --output-on-failure --no-tests=error -j"$jobs"
}

# redis-py 5 or later from PyPI, in a venv of Debian's python3: the client
# that speaks RESP3 by default (issue 17), run by integration_redis_proto
# beside Debian's redis-py 4.3.4. Where PyPI is out of reach, that case says
# so and the rest runs.
if [ -z "${RC_REDIS_PY3:-}" ]; then
    venv=build/pyvenv
    if { [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"; } >/dev/null 2>&1 &&
        "$venv/bin/python" -m pip install -q --disable-pip-version-check --timeout 20 --retries 1 'redis>=5' >/dev/null 2>&1; then
        export RC_REDIS_PY3=$PWD/$venv/bin/python
        echo "== redis-py $("$RC_REDIS_PY3" -c 'import redis; print(redis.__version__)') from PyPI for the RESP3 client tests"
    else
        echo "== redis-py 5+ from PyPI: not installed (no network?): its RESP3 client case skips"
    fi
fi

status=0
run_suite build/test -DCMAKE_BUILD_TYPE=RelWithDebInfo || status=1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run_suite build/asan -DCMAKE_BUILD_TYPE=Debug -DRC_ASAN=ON -DRC_UBSAN=ON || status=1

# The libFuzzer targets, each for RC_FUZZ_SECONDS (default 60); a finding
# fails the run and is kept in the seed corpus as a regression input
# (scripts/fuzz.sh). RC_SKIP_FUZZ=1 skips it.
if [ "${RC_SKIP_FUZZ:-0}" = 1 ]; then
    echo "== fuzz: skipped (RC_SKIP_FUZZ=1)"
else
    RC_FUZZ_SECONDS=${RC_FUZZ_SECONDS:-60} scripts/fuzz.sh || status=1
fi

# Once, after both suites: the Docker image and the Compose cluster end to end
# (a few minutes; it skips itself where no Docker engine answers).
if [ "${RC_SKIP_DOCKER:-0}" = 1 ]; then
    echo "== docker e2e: skipped (RC_SKIP_DOCKER=1)"
else
    echo "== docker e2e"
    tests/docker/e2e.sh || status=1
fi

if [ $status -eq 0 ]; then
    echo "ringcache: all tests passed (normal and sanitizer builds)"
else
    echo "ringcache: TESTS FAILED" >&2
fi
exit $status
