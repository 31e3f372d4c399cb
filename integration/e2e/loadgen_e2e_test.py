#!/usr/bin/env python3
"""End-to-end tests with the load generator replaying testdata/ through prom2gcm into the emulator.
  exact:    a fixed sample count; every sample is acknowledged once, every queued point reaches the
            emulator exactly once (prom2gcm's own count equals the emulator's), none is rejected.
  shutdown: load in flight against a slow emulator, then SIGTERM: prom2gcm exits 0 only after every
            point it accepted reached the emulator.
Usage: loadgen_e2e_test.py --prom2gcm BIN --emulator BIN --loadgen BIN [--mode exact|shutdown]"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, report, stack_arguments  # noqa: E402

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def exit_totals(stack):
    """prom2gcm's last log line: points queued=Q sent=S failed=F undelivered=U."""
    with open(os.path.join(stack.dir, "prom2gcm.log")) as f:
        found = re.findall(r"points queued=(\d+) sent=(\d+) failed=(\d+) undelivered=(\d+)", f.read())
    if not found:
        raise AssertionError("prom2gcm logged no exit totals; see " + stack.dir)
    return dict(zip(("queued", "sent", "failed", "undelivered"), map(int, found[-1])))


def loadgen(args, stack, extra):
    return [args.loadgen, "--corpus", os.path.join(SOURCE_DIR, "testdata", "v1"),
            "--url", stack.prom2gcm_url + "/api/v1/write", *extra]


def result_line(output):
    line = next(l for l in output.splitlines() if l.startswith("loadgen_result "))
    return dict(kv.split("=", 1) for kv in line.split()[1:])


def run_exact(args, stack, problems):
    stack.start_emulator()
    stack.start_prom2gcm(["--export.metadata-wait=2s"])
    samples = 20000
    out = subprocess.run(loadgen(args, stack, ["--samples", str(samples), "--cardinality", "2", "--connections", "4"]),
                         capture_output=True, text=True, timeout=300)
    result = result_line(out.stdout)
    acked = int(result["samples_acked"])  # the request that reaches the count is sent whole
    if acked < samples or int(result["samples_sent"]) != acked:
        problems.append("loadgen sent %s and acknowledged %d samples, wanted %d" % (result["samples_sent"], acked, samples))
    received = int(stack.prom2gcm_metric("prom2gcm_received_samples_total"))
    if received != acked:
        problems.append("prom2gcm received %d samples, loadgen had %d acknowledged" % (received, acked))
    duplicates = int(stack.prom2gcm_metric("prom2gcm_exporter_points_dropped_total", 'reason="duplicate"'))
    if duplicates:
        problems.append("%d samples dropped as duplicates" % duplicates)
    return result


def run_shutdown(args, stack, problems):
    # A slow emulator and few calls in flight (at most about 2000 points/s) against 4000 samples/s of
    # load: a backlog builds up, small enough to flush well within the shutdown timeout.
    stack.start_emulator(["--fault.latency-ms=200"])
    stack.start_prom2gcm(["--export.metadata-wait=2s", "--export.max-in-flight=2", "--shutdown.timeout=60s"])
    gen = subprocess.Popen(loadgen(args, stack, ["--duration", "30s", "--rate", "4000", "--connections", "4",
                                                 "--cardinality", "4"]),
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(6)
    backlog = int(stack.prom2gcm_metric("prom2gcm_exporter_queued_points"))
    if backlog == 0:
        problems.append("no backlog when SIGTERM was sent: the test proves nothing")
    code = stack.stop("prom2gcm", signal.SIGTERM, timeout=90)
    if code != 0:
        problems.append("prom2gcm exited %s on SIGTERM" % code)
    gen.send_signal(signal.SIGINT)
    gen.communicate(timeout=60)
    print("backlog at SIGTERM: %d points" % backlog)


def main():
    parser = stack_arguments()
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--mode", choices=("exact", "shutdown"), default="exact")
    args = parser.parse_args()
    stack = Stack(args.prom2gcm, args.emulator)
    problems = []
    try:
        (run_exact if args.mode == "exact" else run_shutdown)(args, stack, problems)
        if "prom2gcm" in stack.procs:
            code = stack.stop("prom2gcm", signal.SIGTERM, timeout=90)
            if code != 0:
                problems.append("prom2gcm exited %s on SIGTERM" % code)
        totals = exit_totals(stack)
        stats = stack.emulator_stats()
        print("%s: prom2gcm %s; emulator %s" % (args.mode, totals, stats))
        if totals["undelivered"] or totals["failed"]:
            problems.append("points not delivered: %s" % totals)
        if totals["queued"] != totals["sent"] or stats["points_accepted"] != totals["sent"]:
            problems.append("queued %d, sent %d, emulator accepted %d: each point must arrive exactly once"
                            % (totals["queued"], totals["sent"], stats["points_accepted"]))
        if stats["points_rejected_total"]:
            problems.append("the emulator rejected points: %s" % stats["points_rejected"])
        if totals["sent"] < 1000:
            problems.append("only %d points: too few for a meaningful run" % totals["sent"])
    finally:
        stack.stop_all()
    return report(problems)


if __name__ == "__main__":
    sys.exit(main())
