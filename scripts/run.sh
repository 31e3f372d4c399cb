#!/usr/bin/env bash
# The main job, on one machine and without a cloud account: builds prom2gcm and the GCM emulator, then
# starts the emulator, prom2gcm, node-exporter and a real Prometheus (scraping itself and node-exporter
# every 5 s, remote-writing through prom2gcm into the emulator), and shows a live one-line summary
# until Ctrl-C. Everything listens on loopback only. Ports: see integration/e2e/run_stack.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target prom2gcm gcm-emulator >/dev/null
exec python3 integration/e2e/run_stack.py --prom2gcm build/prom2gcm --emulator build/integration/gcm-emulator
