#!/usr/bin/env bash
# Installs the Debian 12 packages ringcache needs to build and test.
# As root it runs apt-get itself; otherwise it prints the exact command
# and fails, so nothing half-configured is built.
#
# Usage: scripts/deps.sh [build|test|bench]   (test adds what the suite
#        needs; bench adds Redis for scripts/bench-redis.sh)
set -euo pipefail

build_pkgs=(gcc make cmake pkg-config libuv1-dev libmsgpack-dev libsqlite3-dev libxxhash-dev libsodium-dev)
# clang + libclang-rt-14-dev: libFuzzer for the fuzz stage (scripts/fuzz.sh);
# redis-tools: redis-cli and redis-benchmark for the RESP tests;
# redis-server: the real Redis that integration_evict answers side by side with.
# faketime: clock-skew tests; iptables + util-linux (unshare): partition tests
# inside a network namespace; python3-msgpack: the fault suite's clients.
test_pkgs=(libcmocka-dev procps clang libclang-rt-14-dev redis-tools redis-server faketime iptables util-linux iproute2 python3 python3-msgpack prometheus)
# RESP clients for integration_redis_proto (issue 17): redis-py and hiredis.
test_pkgs+=(python3-redis libhiredis-dev)
# A venv for redis-py 5+ from PyPI (scripts/test.sh), which Debian does not ship.
test_pkgs+=(python3-venv)
# memcached, libmemcached-tools, python3-pymemcache, python3-memcache: the
# real memcached and clients integration_memcache answers side by side with.
test_pkgs+=(memcached libmemcached-tools python3-pymemcache python3-memcache)
bench_pkgs=(redis-server redis-tools memcached libmemcached-tools)

want=("${build_pkgs[@]}")
if [ "${1:-build}" = test ]; then
    want+=("${test_pkgs[@]}")
elif [ "${1:-build}" = bench ]; then
    want+=("${bench_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "ringcache: missing Debian packages: ${missing[*]}" >&2
    echo "Install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "ringcache: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
