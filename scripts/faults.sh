#!/usr/bin/env bash
# Runs the fault-injection suite (tests/faults/suite.py) against a fresh
# build: a 5-node cluster in its own network namespace, every fault of
# the suite, and the history checker. Needs root (unshare, iptables).
# Usage: scripts/faults.sh [--long] [--only NAME,...]
#   --long: each fault held longer, the whole sequence twice (releases).
#   RC_FAULTS_SEED=N repeats a run's random choices; RC_FAULTS_KEEP=1 keeps
#   the nodes' logs and data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
cmake -S . -B build/faults -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/faults -j"$(nproc)" --target ringcache-server >/dev/null
RC_SERVER_BIN="$PWD/build/faults/ringcache-server" exec /usr/bin/python3 tests/faults/suite.py "$@"
