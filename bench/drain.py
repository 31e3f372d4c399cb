#!/usr/bin/env python3
"""How fast prom2gcm drains a backlog to a distant endpoint, as BENCHMARKS.md "Session 11".

The emulator (--sink) answers each call after --latency-ms, as Cloud Monitoring does from far away,
and serves at most 100 calls at once per connection, as Google's front ends do. Each configuration
NAME=BINARY[,FLAG...] is fed the same loadgen replay, which queues far faster than it can be sent;
the run ends once prom2gcm's queues and calls in flight are empty. Printed per configuration:
samples per second end to end (from the replay's start until everything reached the emulator), the
rate the sender was answered at, and loadgen's p99.

With many series (the default --cardinality 400: about 380,000 series, 5 samples each), the bound is
how many calls can be in flight, not one point per series per call.

  python3 bench/drain.py --latency-ms 100 old=build/prom2gcm,--export.channels=1,--export.max-in-flight=64 \\
      new=build/prom2gcm
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import (ROOT, Stack, emulator_path, loadgen_path, parse_configs, prom2gcm_drained,  # noqa: E402
                     replay, start_bench_stack, wait_until)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="+", help="NAME=BINARY[,FLAG...]")
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--samples", type=int, default=2_000_000)
    parser.add_argument("--cardinality", type=int, default=400)
    args = parser.parse_args()
    loadgen = loadgen_path(args)
    for name, (binary, flags) in parse_configs(args.configs).items():
        stack = Stack(binary, emulator_path(args))
        try:
            start_bench_stack(stack, flags, emulator_flags=["--fault.latency-ms=%d" % args.latency_ms])
            start = time.time()
            r = replay(loadgen, stack.prom2gcm_url + "/api/v1/write", args.samples, args.cardinality, 8)
            answered = time.time() - start
            wait_until("the queues to drain", lambda: prom2gcm_drained(stack), timeout=600)
            total = time.time() - start
            print("%s: %.0f samples per second end to end (%.1f s), answered at %.0f samples per second, p99 %.1f ms"
                  % (name, r["samples_acked"] / total, total, r["samples_acked"] / answered, r["p99_ms"]), flush=True)
        finally:
            stack.stop_all()


if __name__ == "__main__":
    main()
