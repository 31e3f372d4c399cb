#!/usr/bin/env bash
# The main job, on one machine and without a cloud account: builds prom2gcm, then starts it with a
# real Prometheus (scraping itself and node-exporter every 5 s) remote-writing into it, and shows a
# live one-line summary until Ctrl-C. Everything listens on loopback only.
#
# Ports (override by environment): PROM2GCM_PORT=9201 PROMETHEUS_PORT=19090 NODE_EXPORTER_PORT=19100
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target prom2gcm >/dev/null

prom2gcm_port=${PROM2GCM_PORT:-9201}
prometheus_port=${PROMETHEUS_PORT:-19090}
node_port=${NODE_EXPORTER_PORT:-19100}
work=$(mktemp -d /tmp/prom2gcm-run.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

"$root/build/prom2gcm" --web.listen-address="127.0.0.1:$prom2gcm_port" --export.disable 2>"$work/prom2gcm.log" &
pids+=($!)
prometheus-node-exporter --web.listen-address="127.0.0.1:$node_port" 2>"$work/node-exporter.log" &
pids+=($!)
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 5s
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: ["127.0.0.1:$prometheus_port"]}]
  - job_name: node
    static_configs: [{targets: ["127.0.0.1:$node_port"]}]
remote_write:
  - url: http://127.0.0.1:$prom2gcm_port/api/v1/write
    metadata_config: {send: true, send_interval: 30s}
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prometheus_port" 2>"$work/prometheus.log" &
pids+=($!)

cat <<INFO
prom2gcm        http://127.0.0.1:$prom2gcm_port/metrics   (remote-write: /api/v1/write)
Prometheus      http://127.0.0.1:$prometheus_port          (writes to prom2gcm every few seconds)
node-exporter   http://127.0.0.1:$node_port/metrics
logs            $work
Ctrl-C stops everything.
INFO

metric_sum() {  # sums every sample of a metric family in prom2gcm's /metrics text
  awk -v name="$1" '$1 ~ "^"name"({|$)" {s += $NF} END {printf "%d", s}' <<<"$2"
}
while true; do
  sleep 2
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo; echo "a process exited; see $work/*.log"; tail -5 "$work"/*.log; exit 1; }
  done
  metrics=$(curl -sf "http://127.0.0.1:$prom2gcm_port/metrics" || true)
  printf '\rrequests %s  samples in %s  metadata %s  decode errors %s   ' \
    "$(metric_sum prom2gcm_write_requests_total "$metrics")" \
    "$(metric_sum prom2gcm_received_samples_total "$metrics")" \
    "$(metric_sum prom2gcm_received_metadata_total "$metrics")" \
    "$(metric_sum prom2gcm_decode_errors_total "$metrics")"
done
