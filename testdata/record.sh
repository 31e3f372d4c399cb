#!/usr/bin/env bash
# Records real Prometheus remote-write 1.0 requests into testdata/v1/.
#
#   testdata/record.sh [seconds]        (default 90)
#
# Starts, on free loopback ports only:
#   - testdata/capture_server.py    (saves each POST body as sent, answers 204)
#   - prometheus-node-exporter      (--web.listen-address=127.0.0.1:PORT)
#   - prometheus                    (temp data dir, scrapes itself and the node
#                                    exporter every 5s, remote_write -> capture
#                                    server with metadata sending on)
# After 2/3 of the run the node exporter is stopped on purpose, so Prometheus
# writes staleness markers for all of its series (and up=0); set
# STOP_NODE_EXPORTER=0 to keep it running.  At the end Prometheus is stopped
# with SIGTERM (its queues flush to the capture server), then everything else;
# a trap makes sure nothing is left running and the temp dir is removed.
#
# The bodies land in testdata/v1/NNNN.pb.snappy (arrival order; gaps mean a
# request was dropped to stay under the size budget, KEEP_BYTES, default
# 4000000), with testdata/v1/requests.tsv (headers of every kept request) and
# testdata/v1/prometheus.yml (the config used).  Old v1 files are replaced.
# Afterwards run:  python3 testdata/gen_v2.py && python3 testdata/manifest.py
set -euo pipefail

SECONDS_TO_RUN="${1:-90}"
KEEP_BYTES="${KEEP_BYTES:-4000000}"
STOP_NODE_EXPORTER="${STOP_NODE_EXPORTER:-1}"
case "$SECONDS_TO_RUN" in ''|*[!0-9]*) echo "usage: $0 [seconds]" >&2; exit 2;; esac
[ "$SECONDS_TO_RUN" -ge 20 ] || { echo "record.sh: run for at least 20 seconds" >&2; exit 2; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/v1"

for bin in prometheus prometheus-node-exporter curl; do
  command -v "$bin" >/dev/null || { echo "record.sh: $bin not found (scripts/install-deps.sh)" >&2; exit 1; }
done

# A python3 that has the Debian python3-protobuf / python3-snappy modules.
PY=""
for cand in python3 /usr/bin/python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import google.protobuf, snappy' 2>/dev/null; then
    PY="$cand"; break
  fi
done
[ -n "$PY" ] || { echo "record.sh: need python3-protobuf and python3-snappy" >&2; exit 1; }

work="$(mktemp -d /tmp/prom2gcm-record.XXXXXX)"
pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() {  # url what
  for _ in $(seq 100); do
    curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "record.sh: $2 did not come up at $1" >&2
  return 1
}

# 1. capture server
"$PY" "$here/capture_server.py" --out "$work/capture" --port 0 --port-file "$work/capture.port" \
  >"$work/capture.log" 2>&1 &
cap_pid=$!; pids+=("$cap_pid")
for _ in $(seq 100); do [ -s "$work/capture.port" ] && break; sleep 0.1; done
[ -s "$work/capture.port" ] || { cat "$work/capture.log" >&2; echo "record.sh: capture server failed" >&2; exit 1; }
cap_port="$(cat "$work/capture.port")"

# 2. node exporter
ne_port="$(free_port)"
prometheus-node-exporter --web.listen-address="127.0.0.1:$ne_port" >"$work/node-exporter.log" 2>&1 &
ne_pid=$!; pids+=("$ne_pid")
wait_http "http://127.0.0.1:$ne_port/metrics" "node exporter"

# 3. prometheus
prom_port="$(free_port)"
cat >"$work/prometheus.yml" <<EOF
# Written by testdata/record.sh (ports are picked at random on each run).
global:
  scrape_interval: 5s
  scrape_timeout: 4s
  evaluation_interval: 5s

scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:$prom_port"]
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:$ne_port"]

remote_write:
  - url: "http://127.0.0.1:$cap_port/api/v1/write"
    remote_timeout: 10s
    queue_config:
      capacity: 2500
      min_shards: 1
      max_shards: 2
      max_samples_per_send: 500
      batch_send_deadline: 1s
    metadata_config:
      send: true
      send_interval: 10s
EOF
prometheus \
  --config.file="$work/prometheus.yml" \
  --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$prom_port" \
  --log.level=warn \
  >"$work/prometheus.log" 2>&1 &
prom_pid=$!; pids+=("$prom_pid")
wait_http "http://127.0.0.1:$prom_port/-/ready" "prometheus"

echo "record.sh: prometheus 127.0.0.1:$prom_port, node exporter 127.0.0.1:$ne_port," \
     "capture 127.0.0.1:$cap_port; recording for ${SECONDS_TO_RUN}s" >&2

stop_at=$(( SECONDS_TO_RUN * 2 / 3 ))
sleep "$stop_at"
if [ "$STOP_NODE_EXPORTER" = 1 ]; then
  echo "record.sh: stopping node exporter at ${stop_at}s (staleness markers follow)" >&2
  kill "$ne_pid" 2>/dev/null || true
  wait "$ne_pid" 2>/dev/null || true
fi
sleep $(( SECONDS_TO_RUN - stop_at ))

# Stop Prometheus first so its remote-write queue flushes to the capture server.
kill "$prom_pid" 2>/dev/null || true
for _ in $(seq 450); do kill -0 "$prom_pid" 2>/dev/null || break; sleep 0.2; done
kill -9 "$prom_pid" 2>/dev/null || true
wait "$prom_pid" 2>/dev/null || true
kill "$cap_pid" 2>/dev/null || true
wait "$cap_pid" 2>/dev/null || true

if grep -qiE 'level=(error)' "$work/prometheus.log"; then
  echo "record.sh: prometheus logged errors:" >&2
  grep -iE 'level=error' "$work/prometheus.log" | tail -5 >&2
fi

n=$(find "$work/capture" -name '*.bin' | wc -l)
[ "$n" -gt 0 ] || { echo "record.sh: nothing was captured" >&2; exit 1; }

# 4. choose what to keep (budget) and copy into testdata/v1
rm -f "$out"/*.pb.snappy "$out/requests.tsv" "$out/prometheus.yml"
mkdir -p "$out"
PYTHONPATH="$here" "$PY" - "$work/capture" "$out" "$KEEP_BYTES" <<'PYEOF'
import os, shutil, struct, sys
import rwproto

src, dst, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
remote, _, _ = rwproto.load()
import snappy

rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(src, "requests.tsv"))]
header, rows = rows[0], rows[1:]
info = []
for r in rows:
    raw = open(os.path.join(src, r[1]), "rb").read()
    req = remote.WriteRequest()
    req.ParseFromString(snappy.uncompress(raw))
    stale = sum(1 for ts in req.timeseries for s in ts.samples
                if struct.unpack("<Q", struct.pack("<d", s.value))[0] == rwproto.STALE_NAN_BITS)
    kind = "metadata" if not req.timeseries else "samples"
    info.append(dict(row=r, size=len(raw), kind=kind, stale=stale))

total = sum(i["size"] for i in info)
keep = set(range(len(info)))
if total > budget:
    # Priority: metadata-only requests (up to a quarter of the budget), requests
    # with staleness markers, then sample requests in arrival order.
    order = [k for k, i in enumerate(info) if i["kind"] == "metadata"]
    order += [k for k, i in enumerate(info) if i["kind"] == "samples" and i["stale"]]
    order += [k for k, i in enumerate(info) if i["kind"] == "samples" and not i["stale"]]
    keep, used, meta_used = set(), 0, 0
    for k in order:
        i = info[k]
        if i["kind"] == "metadata" and meta_used + i["size"] > budget // 4:
            continue
        if used + i["size"] > budget:
            continue
        keep.add(k); used += i["size"]
        if i["kind"] == "metadata":
            meta_used += i["size"]

with open(os.path.join(dst, "requests.tsv"), "w") as f:
    f.write("\t".join(header + ["kind"]) + "\n")
    for k in sorted(keep):
        r = list(info[k]["row"])
        name = "%04d.pb.snappy" % int(r[0])
        shutil.copyfile(os.path.join(src, r[1]), os.path.join(dst, name))
        r[1] = name
        f.write("\t".join(r + [info[k]["kind"]]) + "\n")

kept = [info[k] for k in keep]
print("record.sh: captured %d requests (%d bytes), kept %d (%d bytes): %d metadata-only, "
      "%d with samples, %d with staleness markers" % (
          len(info), total, len(kept), sum(i["size"] for i in kept),
          sum(i["kind"] == "metadata" for i in kept), sum(i["kind"] == "samples" for i in kept),
          sum(bool(i["stale"]) for i in kept)), file=sys.stderr)
PYEOF
sed -e "s/127\.0\.0\.1:$prom_port/127.0.0.1:PROMETHEUS_PORT/; s/127\.0\.0\.1:$ne_port/127.0.0.1:NODE_EXPORTER_PORT/; s/127\.0\.0\.1:$cap_port/127.0.0.1:CAPTURE_PORT/" \
  "$work/prometheus.yml" >"$out/prometheus.yml"
prometheus --version 2>&1 | head -1 | sed 's/^/# /' >>"$out/prometheus.yml"
prometheus-node-exporter --version 2>&1 | head -1 | sed 's/^/# /' >>"$out/prometheus.yml"
echo "record.sh: wrote $out" >&2
