#!/usr/bin/env bash
# Sets up a Debian 12 machine (packages via install-deps.sh), builds prom2gcm and runs every test.
# Usage: scripts/test.sh            (from anywhere; builds into build/)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"
