#!/usr/bin/env python3
"""Checks bench/floor_bridge, the bench's prom2gcm without an exporter core, at each --floor.stage: a
loadgen replay is acknowledged in full; at `decode`, `count` and `encode` nothing reaches the emulator
(sink mode), at `calls` and `send` points do, and the bridge's queues and calls drain, as bench/ab.py
waits for.
Usage: floor_bridge_test.py --prom2gcm FLOOR_BRIDGE --emulator BIN --loadgen BIN"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "e2e"))
from stack import Stack, report, stack_arguments, wait_until  # noqa: E402

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SAMPLES = 20000


def check_stage(args, stage, problems):
    stack = Stack(args.prom2gcm, args.emulator)
    try:
        stack.start_emulator(["--sink"])
        stack.start_prom2gcm(["--floor.stage=" + stage])
        out = subprocess.run([args.loadgen, "--corpus", os.path.join(SOURCE_DIR, "testdata", "v1"),
                              "--url", stack.prom2gcm_url + "/api/v1/write", "--samples", str(SAMPLES),
                              "--cardinality", "2", "--connections", "4"], capture_output=True, text=True, timeout=300)
        line = next(l for l in out.stdout.splitlines() if l.startswith("loadgen_result "))
        result = dict(kv.split("=", 1) for kv in line.split()[1:])
        if int(result["samples_acked"]) < SAMPLES or result["samples_acked"] != result["samples_sent"]:
            problems.append("%s: loadgen sent %s samples and had %s acknowledged" %
                            (stage, result["samples_sent"], result["samples_acked"]))
        wait_until("the floor bridge to drain", lambda: (
            stack.prom2gcm_metric("prom2gcm_exporter_queued_points") == 0 and
            stack.prom2gcm_metric("prom2gcm_exporter_calls_in_flight") == 0), timeout=30)
        points = stack.emulator_stats()["points_accepted"]
        series = stack.prom2gcm_metric("prom2gcm_exporter_series_cache_entries")
        print("%s: %d points reached the emulator, %d series" % (stage, points, series))
        sends = stage in ("calls", "send")
        if sends and points < 1000:
            problems.append("%s: only %d points reached the emulator" % (stage, points))
        if not sends and points != 0:
            problems.append("%s: %d points reached the emulator, wanted none" % (stage, points))
        if (stage == "decode") != (series == 0):
            problems.append("%s: %d series in the map" % (stage, series))
    finally:
        stack.stop_all()


def main():
    parser = stack_arguments()
    parser.add_argument("--loadgen", required=True)
    args = parser.parse_args()
    problems = []
    for stage in ("decode", "count", "encode", "calls", "send"):
        check_stage(args, stage, problems)
    return report(problems)


if __name__ == "__main__":
    sys.exit(main())
