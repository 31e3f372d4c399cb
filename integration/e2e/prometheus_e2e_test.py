#!/usr/bin/env python3
"""End-to-end test: a real Prometheus (Debian's) scrapes itself and node-exporter and remote-writes to
prom2gcm, which writes to the GCM emulator. After a while, every sample Prometheus stored (read back
through its HTTP API) must be in the emulator:
  - exact mode (scrape every 5 s, GCM's sampling period): each gauge sample (and the gauge half of each
    untyped series) once, with the same value and timestamp, except a sample sooner than 5 s after the
    last one written (scrape jitter), which GCM would refuse; each counter point equal to the stored
    value minus the first stored value, starting at the first sample's time (a decrease is a reset,
    starting 1 ms before it); the emulator rejected nothing.
  - thinning mode (scrape every 1 s): each gauge series arrives thinned to one point per 5 s or more,
    every point one Prometheus stored, and the emulator rejected nothing.
Usage: prometheus_e2e_test.py --prom2gcm BIN --emulator BIN [--mode exact|thinning] [--seconds N]"""
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, report, stack_arguments  # noqa: E402

SUFFIXES = ("_total", "_sum", "_count", "_bucket")
# Prometheus' own per-target series, which have no metadata; prom2gcm writes them as gauges.
SYNTHETIC_GAUGES = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
                    "scrape_series_added", "scrape_timeout_seconds", "scrape_sample_limit", "scrape_body_size_bytes"}


def family_type(name, metadata):
    if name in SYNTHETIC_GAUGES:
        return "gauge"
    if name in metadata:
        return metadata[name]
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in metadata:
            return metadata[name[: -len(suffix)]]
    return None


def gcm_kinds(name, prom_type):
    """The GCM metric kinds prom2gcm writes a series to: [(kind suffix, cumulative?)]."""
    if prom_type == "counter":
        return [("counter", True)]
    if prom_type in ("gauge", "info", "stateset"):
        return [("gauge", False)]
    if prom_type == "summary":
        if name.endswith("_sum"):
            return [("summary:counter", True)]
        if name.endswith("_count"):
            return [("summary", True)]
        return [("summary", False)]
    if prom_type in ("histogram", "gaugehistogram"):
        return []  # written as distributions by the histogram issue
    return [("unknown", False)]  # untyped; its unknown:counter half is covered by unit tests


def comparable(value):
    """NaN compares unequal to itself; the emulator writes it as the string "NaN"."""
    if isinstance(value, str) or math.isnan(value):
        return "NaN" if value != "+Inf" and value != "-Inf" else value
    return value


def expected_cumulative(samples):
    points, base, start, last = [], samples[0][1], samples[0][0], samples[0][1]
    for t, v in samples[1:]:
        if v < last:
            base, start = 0.0, t - 1
        last = v
        points.append((start, t, v - base))
    return points


def thinned(points, period_ms=5000):
    """prom2gcm drops a point sooner than GCM's sampling period after the series' last point; Prometheus'
    scrape times jitter by a few ms, so a 5 s scrape interval now and then gives a 4998 ms gap."""
    kept = []
    for p in points:
        if not kept or p[1] - kept[-1][1] >= period_ms:
            kept.append(p)
    return kept


def check_exact(stored, metadata, emulated, horizon_ms):
    problems, checked = [], 0
    for labels, samples in stored.items():
        labels = dict(labels)
        name = labels.pop("__name__")
        for kind, cumulative in gcm_kinds(name, family_type(name, metadata)):
            key = ("prometheus.googleapis.com/%s/%s" % (name, kind), tuple(sorted(labels.items())))
            got = [(p[0], p[1], comparable(p[2])) for p in emulated.get(key, [])]
            want = expected_cumulative(samples) if cumulative else [(t, t, v) for t, v in samples]
            want = [(p[0], p[1], comparable(p[2])) for p in thinned(want)]
            want = [p for p in want if p[1] <= horizon_ms]
            got = [p for p in got if p[1] <= horizon_ms]
            if not cumulative:
                got = [(p[1], p[1], p[2]) for p in got]
            if sorted(got) != sorted(want):
                problems.append("%s: want %d points, got %d; first want %s, first got %s"
                                % (key, len(want), len(got), want[:2], got[:2]))
            checked += len(want)
    return problems, checked


def check_thinning(stored, metadata, emulated, horizon_ms):
    problems, checked = [], 0
    for labels, samples in stored.items():
        labels = dict(labels)
        name = labels.pop("__name__")
        if family_type(name, metadata) != "gauge":
            continue
        key = ("prometheus.googleapis.com/%s/gauge" % name, tuple(sorted(labels.items())))
        got = sorted(p for p in emulated.get(key, []) if p[1] <= horizon_ms)
        stored_points = {(t, v) for t, v in samples}
        span = [t for t, _ in samples if t <= horizon_ms]
        if len(span) < 20:
            continue
        for a, b in zip(got, got[1:]):
            if b[1] - a[1] < 5000:
                problems.append("%s: points %d ms apart" % (key, b[1] - a[1]))
        for p in got:
            if (p[1], p[2]) not in stored_points:
                problems.append("%s: point %s was never stored by Prometheus" % (key, p))
        expected = (span[-1] - span[0]) // 5000
        if len(got) < expected - 2:
            problems.append("%s: %d points for %d ms of 1 s samples" % (key, len(got), span[-1] - span[0]))
        checked += len(got)
    return problems, checked


def main():
    parser = stack_arguments()
    parser.add_argument("--mode", choices=("exact", "thinning"), default="exact")
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()

    stack = Stack(args.prom2gcm, args.emulator)
    try:
        stack.start_emulator()
        stack.start_prom2gcm(["--export.metadata-wait=20s"])
        stack.start_node_exporter()
        stack.start_prometheus(scrape_interval="5s" if args.mode == "exact" else "1s")
        started = time.time()
        while time.time() - started < args.seconds:
            stack.check_running()
            time.sleep(1)
        at = time.time()
        stored = stack.prometheus_samples(args.seconds + 120, at)
        metadata = stack.prometheus_metadata()
        horizon_ms = int((at - 10) * 1000)  # leave remote-write's last seconds in flight out
        check = check_exact if args.mode == "exact" else check_thinning
        deadline = time.time() + 60
        while True:
            problems, checked = check(stored, metadata, stack.emulator_points(), horizon_ms)
            if not problems or time.time() > deadline:
                break
            time.sleep(2)
        stats = stack.emulator_stats()
        if stats["points_rejected_total"]:
            problems.append("the emulator rejected points: %s" % stats["points_rejected"])
        print("%s mode: %d series in Prometheus, %d points checked, emulator stats %s"
              % (args.mode, len(stored), checked, stats))
        if checked < 500:
            problems.append("only %d points checked: too few for a meaningful run" % checked)
        return report(problems[:30])
    finally:
        stack.stop_all()
        print("logs in", stack.dir)


if __name__ == "__main__":
    sys.exit(main())
