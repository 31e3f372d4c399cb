#!/usr/bin/env python3
"""The main job on one machine (scripts/run.sh): the GCM emulator, prom2gcm, node-exporter and a real
Prometheus scraping itself and node-exporter every 5 s, remote-writing through prom2gcm into the
emulator. Prints where to look and a live one-line summary until Ctrl-C. Loopback only.
Ports come from the environment: PROM2GCM_PORT (9201), EMULATOR_GRPC_PORT (9092),
EMULATOR_HTTP_PORT (9093), PROMETHEUS_PORT (19090), NODE_EXPORTER_PORT (19100)."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, http_get, metric_sum, stack_arguments  # noqa: E402


def port(name, default):
    return int(os.environ.get(name, default))


def summary(stack):
    metrics = http_get(stack.prom2gcm_url + "/metrics").decode()
    stats = stack.emulator_stats()
    total = lambda name: int(metric_sum(metrics, name))  # noqa: E731
    return ("series %d | samples in %d | points out %d | emulator stored %d, rejected %d | "
            "decode errors %d | 503s %d" % (
                total("prom2gcm_exporter_series_cache_entries"),
                total("prom2gcm_received_samples_total"),
                total("prom2gcm_exporter_points_sent_total"),
                stats["points_accepted"], stats["points_rejected_total"],
                total("prom2gcm_decode_errors_total"),
                total("prom2gcm_exporter_backpressure_total")))


def main():
    parser = stack_arguments()
    args = parser.parse_args()
    stack = Stack(args.prom2gcm, args.emulator)
    try:
        stack.start_emulator(grpc_port=port("EMULATOR_GRPC_PORT", 9092), http_port=port("EMULATOR_HTTP_PORT", 9093))
        stack.start_prom2gcm(["--export.metadata-wait=70s"], port=port("PROM2GCM_PORT", 9201))
        stack.start_node_exporter(port=port("NODE_EXPORTER_PORT", 19100))
        stack.start_prometheus(metadata_interval="1m", port=port("PROMETHEUS_PORT", 19090))
        print(f"""
prom2gcm        {stack.prom2gcm_url}/metrics     remote-write: {stack.prom2gcm_url}/api/v1/write
GCM emulator    {stack.emulator_http}/v1/timeseries   {stack.emulator_http}/v1/stats   (gRPC {stack.emulator_grpc})
Prometheus      {stack.prometheus_url}
node-exporter   http://127.0.0.1:{stack.node_port}/metrics
logs            {stack.dir}

Prometheus sends a family's metadata once a minute; until it has, prom2gcm answers 503 for that
family's new series and Prometheus retries, so the first points reach the emulator within about a
minute. To write to the real Cloud Monitoring instead of the emulator, run prom2gcm as
  build/prom2gcm --export.label.project-id=PROJECT --export.label.location=REGION \\
                 --export.label.cluster=NAME [--export.credentials-file=KEY.json]
Ctrl-C stops everything.
""", flush=True)
        while True:
            stack.check_running()
            try:
                line = summary(stack)
            except OSError as e:
                line = "waiting: %s" % e
            sys.stdout.write("\r" + line + "   ")
            sys.stdout.flush()
            time.sleep(2)
    except KeyboardInterrupt:
        print()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        stack.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
