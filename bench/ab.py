#!/usr/bin/env python3
r"""A/B of prom2gcm binaries (or flags) on the same replay, runs alternated, as BENCHMARKS.md "Session 4".

Each configuration NAME=BINARY[,FLAG...] is started against the emulator in --sink mode and fed the
same loadgen replay (testdata/v1, cardinality 20, 8 connections). Per run it prints samples per
CPU-second (CPU time of the prom2gcm process from /proc, counted until its queues have drained, as
bench/compare counts it) and loadgen's p50/p99; then the median per configuration. Alternating the
configurations within each round spreads this shared machine's drift over all of them; compare
medians, and distrust differences smaller than the spread of the runs. A configuration NAME=vmagent
is vmagent forwarding to bench/sink204, run as bench/compare runs it. bench/floor_bridge is prom2gcm
without its exporter core; its --floor.stage=decode|count|encode|calls|send shows what receiving and
decoding, transforming, writing the calls' bytes and making the calls each cost (see its header).

  python3 bench/ab.py --rounds 4 old=/tmp/prom2gcm.old new=build/prom2gcm wide=build/prom2gcm,--export.max-in-flight=256
  F=build/bench/floor_bridge; python3 bench/ab.py --rounds 5 prom2gcm=build/prom2gcm \
      decode=$F,--floor.stage=decode count=$F,--floor.stage=count encode=$F,--floor.stage=encode \
      calls=$F,--floor.stage=calls send=$F vm=vmagent
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ROOT, parse_configs, run_prom2gcm, run_vmagent  # noqa: E402


def run_one(args, binary, flags):
    """One replay into a fresh process of the configuration; bench/compare's measurement of it."""
    load = argparse.Namespace(build=args.build, samples=args.samples, cardinality=20, connections=8)
    return run_vmagent(load, 0) if binary == "vmagent" else run_prom2gcm(load, binary, flags)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="+", help="NAME=BINARY[,FLAG...]")
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=2_000_000)
    args = parser.parse_args()
    configs = parse_configs(args.configs)
    results = {name: [] for name in configs}
    for _ in range(args.rounds):
        for name, (binary, flags) in configs.items():
            r = run_one(args, binary, flags)
            per_cpu_second = r["samples_acked"] / r["cpu"]
            results[name].append((per_cpu_second, r["p99_ms"]))
            print("%s %.0f samples per CPU-second, p50 %.1f ms, p99 %.1f ms, points in emulator per sample %.3f" %
                  (name, per_cpu_second, r["p50_ms"], r["p99_ms"], r["points"] / r["samples_acked"]), flush=True)
    for name, runs in results.items():
        runs.sort()
        print("%s median %.0f (runs: %s)" % (name, runs[len(runs) // 2][0],
                                             ", ".join("%.0f/p99 %.0f ms" % run for run in runs)))


if __name__ == "__main__":
    main()
