#!/usr/bin/env python3
"""End-to-end test of HA pairs: two real Prometheus replicas (external labels cluster="c1" and
__replica__="a" | "b") scrape the same node-exporter and both write to prom2gcm. The emulator must
hold each series once with no rejected point; after the elected replica stops, the other takes over
within the failover timeout, with no gap in a series longer than the timeout plus one scrape interval.
Usage: ha_e2e_test.py --prom2gcm BIN --emulator BIN"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, report, stack_arguments  # noqa: E402

FAILOVER_SECONDS = 10
SCRAPE_SECONDS = 5


def node_gauge_points(stack):
    return {k: v for k, v in stack.emulator_points().items()
            if k[0].startswith("prometheus.googleapis.com/node_") and k[0].endswith("/gauge")}


def main():
    parser = stack_arguments()
    args = parser.parse_args()
    stack = Stack(args.prom2gcm, args.emulator)
    problems = []
    try:
        stack.start_emulator()
        stack.start_prom2gcm(["--export.metadata-wait=20s", "--ha.failover-timeout=%ds" % FAILOVER_SECONDS])
        stack.start_node_exporter()
        # Only the shared node-exporter is scraped, so both replicas hold the same series.
        node_only = {"scrape_interval": "%ds" % SCRAPE_SECONDS, "scrape_self": False}
        stack.start_prometheus(name="replica-a", external_labels={"cluster": "c1", "__replica__": "a"},
                               **node_only)
        time.sleep(8)  # replica a writes first and is elected
        stack.start_prometheus(name="replica-b", external_labels={"cluster": "c1", "__replica__": "b"},
                               **node_only)
        time.sleep(40)
        stack.check_running()
        if stack.prom2gcm_metric("prom2gcm_ha_samples_not_elected_total") == 0:
            problems.append("replica b's samples were not recognised as a second replica")
        stopped_at_ms = time.time() * 1000
        stack.stop("replica-a")
        time.sleep(FAILOVER_SECONDS + 30)
        stack.check_running()
        failovers = stack.prom2gcm_metric("prom2gcm_ha_failovers_total")
        if failovers != 1:
            problems.append("%d failovers, want 1" % failovers)
        points = node_gauge_points(stack)
        if len(points) < 50:
            problems.append("only %d node_ gauge series in the emulator" % len(points))
        worst = 0
        for key, pts in points.items():
            ends = sorted(p[1] for p in pts)
            after = [e for e in ends if e > stopped_at_ms - 30000]
            gaps = [b - a for a, b in zip(after, after[1:])]
            worst = max([worst] + gaps)
            if not any(e > stopped_at_ms + FAILOVER_SECONDS * 1000 for e in ends):
                problems.append("%s: no point after the failover" % (key,))
                break
        limit_ms = (FAILOVER_SECONDS + SCRAPE_SECONDS) * 1000 + 1500
        if worst > limit_ms:
            problems.append("a gap of %d ms, over the failover timeout plus one scrape interval" % worst)
        stats = stack.emulator_stats()
        if stats["points_rejected_total"]:
            problems.append("the emulator rejected points: %s" % stats["points_rejected"])
        print("ha: %d node_ gauge series, longest gap around the failover %d ms (limit %d), %d failover(s), "
              "emulator %s" % (len(points), worst, limit_ms, failovers, stats))
    finally:
        stack.stop_all()
    return report(problems)


if __name__ == "__main__":
    sys.exit(main())
